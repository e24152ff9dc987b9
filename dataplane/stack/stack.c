/* dataplane/stack/stack.c — the instance: creation, the per-iteration entry
 * points (ns_input, ns_timers, ns_tx_drain), the TX queue, the event FIFO and
 * the socket-like calls (ns_recv, ns_send, ns_close, ns_connect, ...).
 *
 * Protocol work lives in arp.c, ip.c, icmp.c and tcp_*.c; this file only
 * dispatches Ethernet frames and keeps the user-visible half consistent:
 * a handle (0..max_conns-1) names a slot until ns_close(), after which the
 * slot may linger (FIN_WAIT, TIME_WAIT) as an orphan nobody can reach.
 *
 * Time: every call that takes now_us advances the instance clock; calls
 * that do not (ns_connect, ns_send, ...) use the time of the last one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <rte_cycles.h>

#include "dataplane/stack/stack_int.h"

/* ------------------------------------------------------- checksums */

bool ns_csum_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len, uint64_t *sum)
{
	if ((uint64_t)off + len <= m->data_len) {
		/* one segment holds it all: the common case */
		*sum += ns_csum_add(0, rte_pktmbuf_mtod_offset(m, const uint8_t *, off), len);
		return true;
	}
	uint64_t acc = 0;
	uint32_t done = 0;
	const struct rte_mbuf *seg = m;
	while (seg && off >= seg->data_len) {
		off -= seg->data_len;
		seg = seg->next;
	}
	while (done < len) {
		if (!seg)
			return false;
		uint32_t n = seg->data_len - off;
		if (n > len - done)
			n = len - done;
		uint16_t part = ns_csum_fold(ns_csum_add(0, rte_pktmbuf_mtod_offset(seg, const uint8_t *, off), n));
		/* A run that starts at an odd offset of the whole contributes its
		 * bytes in swapped lanes. */
		if (done & 1)
			part = (uint16_t)((part >> 8) | (part << 8));
		acc += part;
		done += n;
		off = 0;
		seg = seg->next;
	}
	*sum += acc;
	return true;
}

/* ------------------------------------------------------- siphash */

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND do { \
	v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
	v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); \
} while (0)

uint64_t ns_siphash(const uint64_t key[2], const uint64_t *w, unsigned nw)
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	for (unsigned i = 0; i < nw; i++) {
		v3 ^= w[i];
		SIPROUND;
		SIPROUND;
		v0 ^= w[i];
	}
	uint64_t b = (uint64_t)(nw * 8) << 56;
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------- lifecycle */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

struct ns_stack *ns_create(const struct ns_conf *conf, struct rte_mempool *mp,
			   const char **err)
{
	const char *e = NULL;
	struct ns_stack *s = NULL;
	if (!conf || !mp) {
		e = "missing configuration or mempool";
		goto fail;
	}
	if (conf->ip == 0 || conf->ip == 0xffffffffu)
		e = "bad IPv4 address";
	else if (conf->prefix < 1 || conf->prefix > 32)
		e = "prefix must be 1..32";
	else if (conf->mtu < 576 || conf->mtu > 9000)
		e = "mtu must be 576..9000";
	else if (conf->max_conns < 1 || conf->max_conns > (1u << 20))
		e = "max_conns must be 1..1048576";
	else if (conf->rcvbuf < 4096 || conf->rcvbuf > (1u << 30))
		e = "rcvbuf must be 4096..1 GiB";
	else if (conf->sndbuf < 4096 || conf->sndbuf > (1u << 30))
		e = "sndbuf must be 4096..1 GiB";
	else if (conf->keepalive_s < 0)
		e = "keepalive must be >= 0";
	else if (rte_is_zero_ether_addr((const struct rte_ether_addr *)conf->mac) ||
		 rte_is_multicast_ether_addr((const struct rte_ether_addr *)conf->mac))
		e = "MAC must be a unicast address";
	else if (rte_pktmbuf_data_room_size(mp) < RTE_PKTMBUF_HEADROOM + NS_HDRS_MAX + 64)
		e = "mempool mbufs are too small";
	if (e)
		goto fail;

	s = calloc(1, sizeof(*s));
	if (!s) {
		e = "out of memory";
		goto fail;
	}
	s->conf = *conf;
	if (s->conf.backlog <= 0)
		s->conf.backlog = 128;
	s->mp = mp;
	s->netmask = conf->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> conf->prefix);
	s->data_room = (uint16_t)(rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM);
	s->time_wait_us = (uint64_t)(conf->time_wait_ms ? conf->time_wait_ms : NS_TIME_WAIT_DEF_MS) * 1000u;

	uint64_t seed = conf->isn_secret;
	if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = rte_rdtsc() ^ (uint64_t)(uintptr_t)s;
	s->sipkey[0] = splitmix64(&seed);
	s->sipkey[1] = splitmix64(&seed);
	s->ip_id = (uint16_t)splitmix64(&seed);
	s->arp_gen = 1;                      /* 0 marks a template never built */
	s->next_eport = (uint16_t)(32768 + splitmix64(&seed) % 28232);

	s->txq = calloc(NS_TXQ_CAP, sizeof(*s->txq));
	s->max_conn = conf->max_conns;
	s->max_half = (uint32_t)s->conf.backlog;
	if (s->max_half < 16)
		s->max_half = 16;
	if (s->max_half > 4096)
		s->max_half = 4096;
	s->max_tw = conf->max_conns;
	s->nslots = s->max_conn + s->max_half + s->max_tw;
	s->tcb = calloc(s->nslots, sizeof(*s->tcb));
	s->h2t = malloc(s->max_conn * sizeof(*s->h2t));
	s->hfree = malloc(s->max_conn * sizeof(*s->hfree));
	uint32_t nb = pow2_at_least(s->nslots * 2);
	s->hbucket = malloc(nb * sizeof(*s->hbucket));
	if (!s->txq || !s->tcb || !s->hbucket || !s->h2t || !s->hfree) {
		e = "out of memory";
		goto fail;
	}
	s->hmask = nb - 1;
	/* lowest handles first, like file descriptors */
	for (uint32_t i = 0; i < s->max_conn; i++) {
		s->h2t[i] = -1;
		s->hfree[i] = (int32_t)(s->max_conn - 1 - i);
	}
	s->hfree_n = s->max_conn;
	for (uint32_t i = 0; i < nb; i++)
		s->hbucket[i] = -1;
	s->free_head = -1;
	for (uint32_t i = s->nslots; i-- > 0;) {
		s->tcb[i].lnext = s->free_head;
		s->tcb[i].lprev = -1;
		s->free_head = (int32_t)i;
	}
	s->acc_head = s->acc_tail = -1;
	s->tw_head = s->tw_tail = -1;
	s->ev_head = s->ev_tail = -1;
	s->out_head = -1;
	for (uint32_t i = 0; i < NS_WHEEL_SLOTS; i++)
		s->wheel[i] = -1;
	s->wheel_run = -1;
	s->arp_next_us = UINT64_MAX;
	s->listening = conf->listen_port != 0;

	/* In-order payload runs: full segments need rcvbuf/mss entries; small
	 * ones are coalesced into the previous mbuf when they fit, so this
	 * covers all but adversarial mixes (which are dropped, not held). */
	s->rxq_cap = conf->rcvbuf / 512 + 32;
	if (s->rxq_cap > NS_RXQ_CAP_MAX)
		s->rxq_cap = NS_RXQ_CAP_MAX;
	/* Out of order: a full window of full-size segments behind one hole. */
	s->ooo_cap = conf->rcvbuf / 1024 + 16;
	if (s->ooo_cap > NS_OOO_CAP_MAX)
		s->ooo_cap = NS_OOO_CAP_MAX;
	s->rx_held_max = mp->size / 2;
	/* Send queue: a full sndbuf of full segments needs sndbuf/mss
	 * entries; small replies sent one per loop iteration take one mbuf
	 * each, hence the margin. The instance bound leaves the rest of
	 * the pool to receiving and to copied retransmissions. */
	s->sndq_cap = 16;
	while (s->sndq_cap < conf->sndbuf / 256 && s->sndq_cap < (1u << 16))
		s->sndq_cap <<= 1;
	s->tx_held_max = mp->size / 4;
	s->cbuf_bytes = sizeof(struct ns_cbuf) +
			(s->rxq_cap + s->ooo_cap) * sizeof(struct ns_seg) +
			s->sndq_cap * sizeof(struct ns_txb);
	if (err)
		*err = NULL;
	return s;
fail:
	if (s)
		ns_destroy(s);
	if (err)
		*err = e;
	errno = EINVAL;
	return NULL;
}

static void free_seg_runs(struct ns_seg *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		rte_pktmbuf_free(v[i].m);
}

void ns_destroy(struct ns_stack *s)
{
	if (!s)
		return;
	if (s->tcb) {
		for (uint32_t i = 0; i < s->nslots; i++) {
			struct ns_tcb *tp = &s->tcb[i];
			if (tp->state != NS_FREE && tp->buf) {
				ns_rxq_release(s, tp);
				ns_sndq_release(s, tp);
				free_seg_runs(tp->buf->ooo, tp->ooo_cnt);
				tp->ooo_cnt = 0;
				free(tp->buf);
				tp->buf = NULL;
			}
		}
	}
	while (s->cbuf_free) {
		struct ns_cbuf *b = s->cbuf_free;
		s->cbuf_free = b->next_free;
		free(b);
	}
	if (s->txq) {
		while (s->txq_head != s->txq_tail)
			rte_pktmbuf_free(s->txq[s->txq_head++ & (NS_TXQ_CAP - 1)]);
	}
	ns_arp_flush_all(s);
	while (s->txr_n)
		rte_pktmbuf_free(s->txr[--s->txr_n]);
	free(s->txq);
	free(s->tcb);
	free(s->hbucket);
	free(s->h2t);
	free(s->hfree);
	free(s);
}

/* ------------------------------------------------------ TX queue */

struct rte_mbuf *ns_alloc(struct ns_stack *s)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(s->mp);
	if (!m)
		s->st.drop_no_mbuf++;
	return m;
}

int ns_tx_enqueue(struct ns_stack *s, struct rte_mbuf *m)
{
	if (s->txq_tail - s->txq_head >= NS_TXQ_CAP) {
		s->xst.txq_full++;
		s->st.drop_no_mbuf++;
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	s->st.tx_pkts++;
	s->st.tx_bytes += m->pkt_len;
	s->txq[s->txq_tail++ & (NS_TXQ_CAP - 1)] = m;
	return 0;
}

uint16_t ns_tx_drain(struct ns_stack *s, struct rte_mbuf **pkts, uint16_t max)
{
	ns_tcp_flush(s);
	uint16_t n = 0;
	while (n < max && s->txq_head != s->txq_tail)
		pkts[n++] = s->txq[s->txq_head++ & (NS_TXQ_CAP - 1)];
	return n;
}

/* ------------------------------------------------------ input */

static void eth_input(struct ns_stack *s, struct rte_mbuf *m)
{
	if (m->data_len < sizeof(struct rte_ether_hdr) || m->pkt_len < m->data_len) {
		s->st.drop_malformed++;
		goto drop;
	}
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (!rte_is_broadcast_ether_addr(&eh->dst_addr) &&
	    memcmp(eh->dst_addr.addr_bytes, s->conf.mac, 6) != 0) {
		s->st.drop_not_for_us++;
		goto drop;
	}
	switch (rte_be_to_cpu_16(eh->ether_type)) {
	case RTE_ETHER_TYPE_ARP:
		ns_arp_input(s, m);
		return;
	case RTE_ETHER_TYPE_IPV4:
		ns_ip_input(s, m);
		return;
	default:
		s->st.drop_not_for_us++;
		goto drop;
	}
drop:
	rte_pktmbuf_free(m);
}

void ns_input(struct ns_stack *s, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us)
{
	if (now_us > s->now_us)
		s->now_us = now_us;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (!m)
			continue;
		if (i + 1 < n && pkts[i + 1])
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		s->st.rx_pkts++;
		s->st.rx_bytes += m->pkt_len;
		eth_input(s, m);
	}
}

void ns_timers(struct ns_stack *s, uint64_t now_us)
{
	if (now_us > s->now_us)
		s->now_us = now_us;
	ns_wheel_run(s, s->now_us);
	if (s->arp_next_us <= s->now_us)
		ns_arp_timers(s, s->now_us);
	/* No ns_tcp_flush here: the output list is built by ns_tx_drain, so
	 * connections that got input this round are looked at once, after
	 * the owner wrote its replies (which then carry the ACK), not twice. */
}

uint64_t ns_next_timer(const struct ns_stack *s)
{
	if (s->out_head >= 0)
		return s->now_us;
	uint64_t t = ns_wheel_next(s);
	if (s->arp_next_us < t)
		t = s->arp_next_us;
	return t;
}

void ns_get_stats(const struct ns_stack *s, struct ns_stats *out)
{
	*out = s->st;
	out->conns_current = s->n_conn;
	out->sack_retransmits = s->xst.sack_retransmits;
	out->tail_probes = s->xst.tail_probes;
}

void ns_set_deliver(struct ns_stack *s,
		    bool (*fn)(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
			       uint32_t len),
		    void *arg)
{
	s->deliver = fn;
	s->deliver_arg = arg;
}

void ns_get_xstats(const struct ns_stack *s, struct ns_xstats *out)
{
	*out = s->xst;
}

/* -------------------------------------------------------- events */

void ns_ev_post(struct ns_stack *s, struct ns_tcb *tp, uint32_t evflag)
{
	if (tp->flags & NS_TF_ORPHAN)
		return;
	tp->flags |= evflag;
	if (tp->flags & (NS_TF_ONEV | NS_TF_ACCQ))
		return;
	tp->flags |= NS_TF_ONEV;
	int32_t i = ns_tcb_idx(s, tp);
	tp->evnext = -1;
	if (s->ev_tail >= 0)
		s->tcb[s->ev_tail].evnext = i;
	else
		s->ev_head = i;
	s->ev_tail = i;
}

static void fmt_ip_port(char *buf, size_t n, uint32_t ip, uint16_t port)
{
	snprintf(buf, n, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
		 ip & 255, port);
}

int ns_poll_events(struct ns_stack *s, struct dp_event *ev, int max)
{
	int n = 0;
	while (n < max && s->acc_head >= 0) {
		int32_t i = s->acc_head;
		struct ns_tcb *tp = &s->tcb[i];
		s->acc_head = tp->lnext;
		if (s->acc_head < 0)
			s->acc_tail = -1;
		else
			s->tcb[s->acc_head].lprev = -1;
		tp->lnext = tp->lprev = -1;
		s->acc_len--;
		tp->flags &= ~NS_TF_ACCQ;
		struct dp_event *e = &ev[n++];
		memset(e, 0, sizeof(*e));
		e->kind = DP_EV_ACCEPT;
		e->conn = tp->handle;
		e->udata = tp->udata;
		fmt_ip_port(e->peer, sizeof(e->peer), tp->rip, tp->rport);
		fmt_ip_port(e->local, sizeof(e->local), s->conf.ip, tp->lport);
		/* What arrived before the accept was reported is reported now. */
		if (tp->flags & (NS_TF_EVRD | NS_TF_EVWR)) {
			uint32_t f = tp->flags & (NS_TF_EVRD | NS_TF_EVWR);
			tp->flags &= ~f;
			ns_ev_post(s, tp, f);
		}
	}
	while (s->ev_head >= 0) {
		int32_t i = s->ev_head;
		struct ns_tcb *tp = &s->tcb[i];
		bool rd = (tp->flags & NS_TF_EVRD) && (tp->flags & NS_TF_RDINT);
		bool wr = (tp->flags & NS_TF_EVWR) &&
			  (tp->flags & (NS_TF_WRINT | NS_TF_ESTEV));
		if (n + (int)rd + (int)wr > max)
			break;
		s->ev_head = tp->evnext;
		if (s->ev_head < 0)
			s->ev_tail = -1;
		tp->flags &= ~(NS_TF_ONEV | NS_TF_EVRD | NS_TF_EVWR | NS_TF_ESTEV);
		if (tp->flags & NS_TF_ORPHAN || tp->state == NS_FREE)
			continue;
		if (rd) {
			ev[n].kind = DP_EV_READABLE;
			ev[n].conn = tp->handle;
			ev[n].udata = tp->udata;
			n++;
		}
		if (wr) {
			ev[n].kind = DP_EV_WRITABLE;
			ev[n].conn = tp->handle;
			ev[n].udata = tp->udata;
			n++;
		}
	}
	return n;
}

/* ------------------------------------------------------ user calls */

static struct ns_tcb *user_tcb(struct ns_stack *s, ns_conn_t c)
{
	if (c < 0 || (uint32_t)c >= s->max_conn || s->h2t[c] < 0)
		return NULL;
	struct ns_tcb *tp = &s->tcb[s->h2t[c]];
	if (tp->handle != c || tp->state == NS_FREE || (tp->flags & NS_TF_ORPHAN))
		return NULL;
	return tp;
}

struct ns_tcb *ns_conn_tcb(const struct ns_stack *s, ns_conn_t c)
{
	if (c < 0 || (uint32_t)c >= s->max_conn || s->h2t[c] < 0)
		return NULL;
	return &s->tcb[s->h2t[c]];
}

/* May the user still queue data? */
static bool can_send(const struct ns_tcb *tp)
{
	return tp->state == NS_ESTABLISHED || tp->state == NS_CLOSE_WAIT;
}

ssize_t ns_recv(struct ns_stack *s, ns_conn_t c, void *buf, size_t n)
{
	bool drained;
	return ns_recv_ex(s, c, buf, n, &drained);
}

ssize_t ns_recv_ex(struct ns_stack *s, ns_conn_t c, void *buf, size_t n, bool *drained)
{
	*drained = false;
	struct ns_tcb *tp = user_tcb(s, c);
	if (!tp)
		return -EBADF;
	if (tp->err)
		return -tp->err;
	if (tp->rx_bytes == 0) {
		if (tp->flags & NS_TF_EOF)
			return 0;
		*drained = true;
		return -EAGAIN;
	}
	if (n == 0)
		return 0;
	uint8_t *out = buf;
	size_t done = 0;
	struct ns_seg *q = tp->buf->rxq;
	while (done < n && tp->rxq_cnt > 0) {
		struct ns_seg *r = &q[tp->rxq_head];
		while (r->len > 0 && done < n) {
			uint32_t avail = r->seg->data_len - r->off;
			if (avail > r->len)
				avail = r->len;
			if (avail == 0) {
				r->seg = r->seg->next;
				r->off = 0;
				continue;
			}
			uint32_t k = avail < n - done ? avail : (uint32_t)(n - done);
			memcpy(out + done, rte_pktmbuf_mtod_offset(r->seg, const uint8_t *, r->off), k);
			done += k;
			r->off += k;
			r->len -= k;
		}
		if (r->len > 0)
			break;
		rte_pktmbuf_free(r->m);
		r->m = r->seg = NULL;
		tp->rxq_head = (tp->rxq_head + 1) % s->rxq_cap;
		tp->rxq_cnt--;
		s->rx_held--;
	}
	tp->rx_bytes -= (uint32_t)done;

	/* Window update: when what the peer may still send has fallen to half
	 * the largest window or less and reading at least doubled it (the
	 * rule Linux uses; RFC 1122 4.2.3.3 only asks for no tiny updates). */
	if (tp->state >= NS_ESTABLISHED && !(tp->flags & NS_TF_EOF)) {
		uint32_t cur = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
		uint32_t maxw = 65535u << tp->rcv_ws;
		if (maxw > s->conf.rcvbuf)
			maxw = s->conf.rcvbuf;
		if (2ull * cur <= maxw) {
			uint32_t win = ns_tcp_rcv_window(s, tp);
			if (win > 0 && win >= 2ull * cur) {
				tp->flags |= NS_TF_ACKNOW;
				s->xst.window_updates++;
				ns_tcp_output_later(s, tp);
			}
		}
	}
	*drained = tp->rx_bytes == 0 && !(tp->flags & NS_TF_EOF);
	return (ssize_t)done;
}

ssize_t ns_send(struct ns_stack *s, ns_conn_t c, const void *buf, size_t n)
{
	struct ns_tcb *tp = user_tcb(s, c);
	if (!tp)
		return -EBADF;
	if (tp->err)
		return -tp->err;
	if (tp->state == NS_SYN_SENT || tp->state == NS_SYN_RCVD)
		return -EAGAIN;
	if (!can_send(tp))
		return -EPIPE;
	if (tp->snd_len >= s->conf.sndbuf)
		return -EAGAIN;
	if (n == 0)
		return 0;
	uint32_t k = ns_sndq_append(s, tp, buf, n < UINT32_MAX ? (uint32_t)n : UINT32_MAX);
	if (k == 0)
		return -EAGAIN;     /* queue entries or mbufs exhausted */
	ns_tcp_output_later(s, tp);
	return (ssize_t)k;
}

int ns_set_interest(struct ns_stack *s, ns_conn_t c, bool read, bool write)
{
	struct ns_tcb *tp = user_tcb(s, c);
	if (!tp)
		return -EBADF;
	tp->flags &= ~(NS_TF_RDINT | NS_TF_WRINT);
	tp->flags |= (read ? NS_TF_RDINT : 0) | (write ? NS_TF_WRINT : 0);
	/* Turning interest on reports what is already true, as a level
	 * triggered poller would, so back-pressure never loses a wake-up. */
	if (read && (tp->rx_bytes > 0 || (tp->flags & NS_TF_EOF) || tp->err))
		ns_ev_post(s, tp, NS_TF_EVRD);
	if (write && ((can_send(tp) && ns_sndq_has_room(s, tp)) || tp->err))
		ns_ev_post(s, tp, NS_TF_EVWR);
	return 0;
}

void ns_conn_set_udata(struct ns_stack *s, ns_conn_t c, void *udata)
{
	struct ns_tcb *tp = user_tcb(s, c);
	if (tp)
		tp->udata = udata;
}

void ns_close(struct ns_stack *s, ns_conn_t c)
{
	struct ns_tcb *tp = user_tcb(s, c);
	if (!tp)
		return;
	tp->flags |= NS_TF_ORPHAN;
	tp->flags &= ~(NS_TF_RDINT | NS_TF_WRINT | NS_TF_EVRD | NS_TF_EVWR | NS_TF_ESTEV);
	tp->udata = NULL;
	ns_handle_release(s, tp);
	switch (tp->state) {
	case NS_CLOSED:
	case NS_SYN_SENT:
		ns_tcp_drop(s, tp, 0);
		return;
	case NS_SYN_RCVD:
		ns_tcp_send_rst_tcb(s, tp);
		ns_tcp_drop(s, tp, 0);
		return;
	case NS_ESTABLISHED:
	case NS_CLOSE_WAIT:
		if (tp->rx_bytes > 0 || tp->ooo_cnt > 0) {
			/* Unread data: abort, as RFC 2525 2.17 and Linux do. */
			ns_tcp_send_rst_tcb(s, tp);
			s->st.conns_reset++;
			ns_tcp_drop(s, tp, 0);
			return;
		}
		tp->flags |= NS_TF_FINQ;
		tp->state = tp->state == NS_ESTABLISHED ? NS_FIN_WAIT_1 : NS_LAST_ACK;
		ns_tcp_output_later(s, tp);
		return;
	default:
		return;
	}
}

void ns_stop_listening(struct ns_stack *s)
{
	s->listening = false;
	for (uint32_t i = 0; i < s->nslots; i++) {
		struct ns_tcb *tp = &s->tcb[i];
		if (tp->state == NS_FREE || !(tp->flags & NS_TF_PASSIVE))
			continue;
		if (tp->cat == NS_CAT_HALF || (tp->flags & NS_TF_ACCQ)) {
			/* Nobody will ever accept these. */
			tp->flags |= NS_TF_ORPHAN;
			ns_tcp_send_rst_tcb(s, tp);
			ns_tcp_drop(s, tp, 0);
		}
	}
}

static ns_conn_t connect_common(struct ns_stack *s, uint32_t ip, uint16_t port, uint16_t lport)
{
	if (ip == 0 || ip == 0xffffffffu || port == 0 || ip == s->conf.ip ||
	    (ip >> 28) == 0xe)
		return -EINVAL;
	if (!ns_route_ok(s, ip))
		return -EHOSTUNREACH;
	if (s->n_conn >= s->max_conn)
		return -ENOBUFS;
	if (lport == 0) {
		struct ns_tcb *tw = NULL;
		for (uint32_t i = 0; i < 28232u; i++) {
			uint16_t cand = s->next_eport;
			s->next_eport = (uint16_t)(cand >= 60999 ? 32768 : cand + 1);
			if (cand == s->conf.listen_port)
				continue;
			struct ns_tcb *o = ns_tcb_lookup(s, ip, port, cand);
			if (!o) {
				lport = cand;
				break;
			}
			if (o->state == NS_TIME_WAIT && !tw)
				tw = o;
		}
		if (lport == 0) {
			if (!tw)
				return -EADDRNOTAVAIL;
			lport = tw->lport;
		}
	}
	struct ns_tcb *o = ns_tcb_lookup(s, ip, port, lport);
	if (o) {
		if (o->state != NS_TIME_WAIT)
			return -EADDRINUSE;
		/* Our own TIME_WAIT on this tuple: the new ISN is far ahead of the
		 * old connection's (time-based ISNs), so reuse it (RFC 6191). */
		s->xst.tw_reused++;
		ns_tcp_drop(s, o, 0);
	}
	struct ns_tcb *tp = ns_tcb_alloc(s, NS_CAT_CONN, ip, port, lport);
	if (!tp)
		return -ENOBUFS;
	if (ns_tcb_get_buf(s, tp) < 0) {
		ns_tcb_free(s, tp);
		return -ENOMEM;
	}
	ns_tcb_init_common(s, tp);
	ns_handle_bind(s, tp);
	tp->state = NS_SYN_SENT;
	tp->flags |= NS_TF_RDINT | NS_TF_TS | NS_TF_SACK | NS_TF_WS;
	tp->iss = ns_tcp_isn(s, ip, port, lport);
	tp->snd_una = tp->snd_nxt = tp->snd_max = tp->iss;
	tp->recover = tp->iss;
	tp->ts_off = ns_tcp_ts_off(s, ip, port, lport);
	ns_tcp_output_later(s, tp);
	return tp->handle;
}

ns_conn_t ns_connect(struct ns_stack *s, uint32_t ip, uint16_t port)
{
	return connect_common(s, ip, port, 0);
}

ns_conn_t ns_connect_port(struct ns_stack *s, uint32_t ip, uint16_t port, uint16_t lport)
{
	if (lport == 0)
		return -EINVAL;
	return connect_common(s, ip, port, lport);
}

/* ------------------------------------------------- test inspection */

int ns_conn_state(const struct ns_stack *s, ns_conn_t c)
{
	const struct ns_tcb *tp = ns_conn_tcb(s, c);
	return tp ? tp->state : -1;
}

uint32_t ns_conn_unacked(const struct ns_stack *s, ns_conn_t c)
{
	const struct ns_tcb *tp = ns_conn_tcb(s, c);
	return tp ? tp->snd_len : 0;
}

uint32_t ns_tw_count(const struct ns_stack *s)
{
	return s->n_tw;
}

uint32_t ns_halfopen_count(const struct ns_stack *s)
{
	return s->n_half;
}

int ns_conn_opts(const struct ns_stack *s, ns_conn_t c, unsigned *flags,
		 unsigned *snd_ws, unsigned *rcv_ws, unsigned *mss)
{
	const struct ns_tcb *tp = ns_conn_tcb(s, c);
	if (!tp || tp->state == NS_FREE)
		return -EBADF;
	*flags = ((tp->flags & NS_TF_TS) ? 1u : 0) | ((tp->flags & NS_TF_SACK) ? 2u : 0) |
		 ((tp->flags & NS_TF_WS) ? 4u : 0);
	*snd_ws = tp->snd_ws;
	*rcv_ws = tp->rcv_ws;
	*mss = tp->mss;
	return 0;
}

int ns_check_invariants(const struct ns_stack *s)
{
	uint32_t nconn = 0, nhalf = 0, ntw = 0, nfree = 0, held_all = 0, nhandles = 0;
	uint32_t tx_held_all = 0;
	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct ns_tcb *tp = &s->tcb[i];
		if (tp->state == NS_FREE) {
			nfree++;
			continue;
		}
		switch (tp->cat) {
		case NS_CAT_CONN: nconn++; break;
		case NS_CAT_HALF: nhalf++; break;
		case NS_CAT_TW: ntw++; break;
		default: return -__LINE__;
		}
		if (tp->snd_len > s->conf.sndbuf || tp->sndq_cnt > s->sndq_cap)
			return -__LINE__;
		if ((tp->sndq_cnt || tp->snd_len) && !tp->buf)
			return -__LINE__;
		/* Send queue: contiguous from snd_una, non-empty entries, each
		 * inside its mbuf after room for the headers, still referenced. */
		uint32_t qseq = tp->snd_una, qbytes = 0;
		for (uint32_t k = 0; k < tp->sndq_cnt; k++) {
			const struct ns_txb *t =
				&tp->buf->sndq[(tp->sndq_head + k) & (s->sndq_cap - 1)];
			if (t->seq != qseq || t->len == 0 || t->off < NS_HDRS_MAX ||
			    (uint32_t)t->off + t->len > t->m->buf_len ||
			    rte_mbuf_refcnt_read(t->m) == 0 || t->m->pool != s->mp)
				return -__LINE__;
			qseq += t->len;
			qbytes += t->len;
		}
		if (qbytes != tp->snd_len)
			return -__LINE__;
		tx_held_all += tp->sndq_cnt;
		/* Timers: the wheel entry is due at or before every deadline
		 * (lazy re-arm), except a delayed ACK armed by input that waits
		 * for the connection's output (it is on the output list). */
		uint64_t due = ns_timer_earliest(tp);
		if (due && !(tp->wdeadline && tp->wdeadline <= due) &&
		    !((tp->flags & NS_TF_ONOUT) && due == tp->t_dack))
			return -__LINE__;
		if (SEQ_GT(tp->snd_una, tp->snd_max) || SEQ_GT(tp->snd_nxt, tp->snd_max) ||
		    SEQ_LT(tp->snd_nxt, tp->snd_una))
			return -__LINE__;
		if (tp->rxq_cnt > s->rxq_cap || tp->ooo_cnt > s->ooo_cap)
			return -__LINE__;
		held_all += tp->rxq_cnt + tp->ooo_cnt;
		if (tp->handle >= 0) {
			if ((uint32_t)tp->handle >= s->max_conn ||
			    s->h2t[tp->handle] != (int32_t)i || tp->cat != NS_CAT_CONN)
				return -__LINE__;
			nhandles++;
		}
		if ((tp->rxq_cnt || tp->ooo_cnt || tp->snd_len) && !tp->buf)
			return -__LINE__;
		uint64_t held = 0;
		for (uint32_t k = 0; k < tp->rxq_cnt; k++)
			held += tp->buf->rxq[(tp->rxq_head + k) % s->rxq_cap].len;
		if (held != tp->rx_bytes)
			return -__LINE__;
		for (uint32_t k = 0; k + 1 < tp->ooo_cnt; k++) {
			const struct ns_seg *a = &tp->buf->ooo[k], *b = &tp->buf->ooo[k + 1];
			if (SEQ_GT(a->seq + a->len, b->seq))
				return -__LINE__;
		}
		for (uint32_t k = 0; k < tp->ooo_cnt; k++)
			if (SEQ_LT(tp->buf->ooo[k].seq, tp->rcv_nxt) || tp->buf->ooo[k].len == 0)
				return -__LINE__;
		/* SACK scoreboard: sorted, disjoint, not adjacent, inside
		 * (snd_una, snd_una + snd_len]. */
		if (tp->sb_cnt > NS_SACK_SB_MAX || (tp->sb_cnt && !tp->buf))
			return -__LINE__;
		for (uint32_t k = 0; k < tp->sb_cnt; k++) {
			const struct ns_sack_range *r = &tp->buf->sb[k];
			if (!SEQ_LT(r->start, r->end) || SEQ_LT(r->start, tp->snd_una) ||
			    SEQ_GT(r->end, tp->snd_una + tp->snd_len))
				return -__LINE__;
			if (k > 0 && !SEQ_LT(tp->buf->sb[k - 1].end, r->start))
				return -__LINE__;
		}
	}
	if (nconn != s->n_conn || nhalf != s->n_half || ntw != s->n_tw)
		return -__LINE__;
	if (held_all != s->rx_held || tx_held_all != s->tx_held)
		return -__LINE__;
	if (nhandles + s->hfree_n != s->max_conn)
		return -__LINE__;
	if (s->n_conn > s->max_conn || s->n_half > s->max_half || s->n_tw > s->max_tw)
		return -__LINE__;
	if (nfree + nconn + nhalf + ntw != s->nslots)
		return -__LINE__;
	if (s->txq_tail - s->txq_head > NS_TXQ_CAP)
		return -__LINE__;
	if (s->txr_n > NS_TX_RECYCLE)
		return -__LINE__;
	for (uint32_t k = 0; k < s->txr_n; k++)
		if (rte_mbuf_refcnt_read(s->txr[k]) != 1 || s->txr[k]->next != NULL)
			return -__LINE__;
	return 0;
}
