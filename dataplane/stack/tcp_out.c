/* dataplane/stack/tcp_out.c — everything the stack sends over TCP: segments
 * of a connection (SYN, data, FIN, pure ACKs, window probes) and stateless
 * answers (RST, SYN-ACK carrying a SYN cookie).
 *
 * Output is deferred: input processing and ns_send() only put a connection
 * on the output list; ns_tx_drain()/ns_timers() flush the list, so replies
 * written during one loop iteration leave as full segments carrying the ACK
 * for the request (piggybacking), and nothing is sent twice per iteration.
 *
 * The send queue is a ring of mbufs (struct ns_txb): ns_send() copies the
 * user's bytes once, into mbufs whose headroom can take every header, at
 * most one segment of payload each. A segment that is exactly one queue
 * mbuf nobody else references is sent in place: headers written into the
 * headroom, one more reference handed to the TX queue (the PMD's free
 * drops it), the queue keeps the other for retransmission. Anything else
 * (a part of an mbuf, a run across mbufs, an mbuf the NIC or a peer may
 * still be reading, refcnt > 1) is copied into a fresh frame, one mbuf or
 * a chain when it does not fit (jumbo MTU with 2 KiB mbufs). Headers are
 * never written into an mbuf with refcnt > 1. Fully acknowledged mbufs
 * nobody else holds are kept (s->txr) for the next ns_send().
 *
 * A connection's segments start from its header template (Ethernet, IPv4,
 * TCP without options, and the sums of their constant parts), rebuilt when
 * the ARP cache changed. The common request-response case (whole unsent
 * queue mbufs inside the window, no recovery, no FIN) takes output_fast,
 * which makes the same frames and state changes as send_one without the
 * general path's decisions.
 *
 * Loss recovery's sending half lives here too: the SACK scoreboard and
 * the RFC 6675 pipe/NextSeg loop (sack_output), limited transmit, the
 * post-RTO resend that skips SACKed data, and the tail loss probe. */
#include <errno.h>
#include <string.h>

#include <rte_memcpy.h>

#include "dataplane/stack/stack_int.h"

#define HDRS (14u + 20u)

/* ------------------------------------------------------ frame build */

struct xmit {
	uint32_t rip;
	uint16_t rport, lport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	unsigned optlen;
	struct ns_tcb *dtp;          /* payload source (send queue) or NULL */
	struct ns_tcb *ttp;          /* connection whose header template applies */
	uint32_t dlen;               /* payload bytes from seq */
};

/* ------------------------------------------------------ send queue */

/* Queued payload starts after the default headroom, which every header
 * fits into: the in-place transmission prepends them there. */
_Static_assert(RTE_PKTMBUF_HEADROOM >= NS_HDRS_MAX, "mbuf headroom too small for headers");

static inline struct ns_txb *sndq_at(const struct ns_stack *s, const struct ns_tcb *tp,
				     uint32_t i)
{
	return &tp->buf->sndq[i & (s->sndq_cap - 1)];
}

/* Payload bytes one queue mbuf takes: a full segment with the options
 * every data segment carries (timestamps), so bulk data goes out in
 * place; SACK blocks make segments shorter and those are copied. */
static uint32_t sndq_fill(const struct ns_stack *s, const struct ns_tcb *tp)
{
	uint32_t ol = (tp->flags & NS_TF_TS) ? 12u : 0u;
	uint32_t cap = tp->mss > ol ? tp->mss - ol : 1u;
	return cap < s->data_room ? cap : s->data_room;
}

/* Free-running index of the entry holding seq, which must be queued
 * ([snd_una, snd_una + snd_len)). Sending walks the queue in order, so
 * the entry looked up last or the one after it is the usual answer. */
static uint32_t sndq_find(const struct ns_stack *s, struct ns_tcb *tp, uint32_t seq)
{
	uint32_t h = tp->sndq_hint;
	if (h - tp->sndq_head < tp->sndq_cnt) {
		const struct ns_txb *t = sndq_at(s, tp, h);
		uint32_t o = seq - t->seq;
		if (o < t->len)
			return h;
		if (o == t->len && h + 1 - tp->sndq_head < tp->sndq_cnt)
			return tp->sndq_hint = h + 1;
	}
	/* the last entry starting at or below seq */
	uint32_t target = seq - tp->snd_una, lo = 0, hi = tp->sndq_cnt;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sndq_at(s, tp, tp->sndq_head + mid)->seq - tp->snd_una <= target)
			lo = mid;
		else
			hi = mid;
	}
	return tp->sndq_hint = tp->sndq_head + lo;
}

/* Copy n queued bytes from seq on to dst. */
static void sndq_copy(const struct ns_stack *s, struct ns_tcb *tp, uint32_t seq, uint8_t *dst,
		      uint32_t n)
{
	uint32_t i = sndq_find(s, tp, seq);
	const struct ns_txb *t = sndq_at(s, tp, i);
	uint32_t o = seq - t->seq;
	while (n) {
		uint32_t k = t->len - o < n ? t->len - o : n;
		memcpy(dst, (const uint8_t *)t->m->buf_addr + t->off + o, k);
		dst += k;
		n -= k;
		o = 0;
		t = sndq_at(s, tp, ++i);
	}
}

bool ns_sndq_has_room(const struct ns_stack *s, const struct ns_tcb *tp)
{
	if (!tp->buf || tp->snd_len >= s->conf.sndbuf)
		return false;
	if (tp->sndq_cnt == 0)
		return true;
	const struct ns_txb *t = sndq_at(s, tp, tp->sndq_head + tp->sndq_cnt - 1);
	if (SEQ_GEQ(t->seq, tp->snd_max) && t->len < sndq_fill(s, tp))
		return true;
	return tp->sndq_cnt < s->sndq_cap && s->tx_held < s->tx_held_max;
}

uint32_t ns_sndq_append(struct ns_stack *s, struct ns_tcb *tp, const uint8_t *p, uint32_t n)
{
	uint32_t space = s->conf.sndbuf - tp->snd_len;
	if (n > space)
		n = space;
	uint32_t fill = sndq_fill(s, tp), done = 0;
	if (tp->sndq_cnt && n) {
		/* The tail mbuf grows only while nothing of it was sent:
		 * after that it may be in a NIC's hands. */
		struct ns_txb *t = sndq_at(s, tp, tp->sndq_head + tp->sndq_cnt - 1);
		if (SEQ_GEQ(t->seq, tp->snd_max) && t->len < fill) {
			uint32_t k = fill - t->len < n ? fill - t->len : n;
			memcpy((uint8_t *)t->m->buf_addr + t->off + t->len, p, k);
			t->len = (uint16_t)(t->len + k);
			done = k;
		}
	}
	while (done < n) {
		/* A connection with nothing queued may always take an mbuf,
		 * so the instance bound cannot leave it without a wake-up. */
		if (tp->sndq_cnt == s->sndq_cap || (tp->sndq_cnt && s->tx_held >= s->tx_held_max))
			break;
		struct rte_mbuf *m = s->txr_n ? s->txr[--s->txr_n] : ns_alloc(s);
		if (!m)
			break;
		uint32_t k = n - done < fill ? n - done : fill;
		struct ns_txb *t = sndq_at(s, tp, tp->sndq_head + tp->sndq_cnt);
		t->m = m;
		t->seq = tp->snd_una + tp->snd_len + done;
		t->off = RTE_PKTMBUF_HEADROOM;
		t->len = (uint16_t)k;
		memcpy((uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM, p + done, k);
		tp->sndq_cnt++;
		s->tx_held++;
		done += k;
	}
	tp->snd_len += done;
	return done;
}

/* A queue mbuf leaves the queue: kept for reuse when the queue held the
 * only reference, else the last holder (a NIC) returns it to the pool. */
static inline void sndq_free(struct ns_stack *s, struct rte_mbuf *m)
{
	if (rte_mbuf_refcnt_read(m) == 1 && s->txr_n < NS_TX_RECYCLE)
		s->txr[s->txr_n++] = m;
	else
		rte_pktmbuf_free(m);
}

void ns_sndq_drop(struct ns_stack *s, struct ns_tcb *tp, uint32_t n)
{
	tp->snd_len -= n;
	while (n) {
		struct ns_txb *t = sndq_at(s, tp, tp->sndq_head);
		if (t->len > n) {
			t->seq += n;
			t->off = (uint16_t)(t->off + n);
			t->len = (uint16_t)(t->len - n);
			return;
		}
		n -= t->len;
		sndq_free(s, t->m);
		tp->sndq_head++;
		tp->sndq_cnt--;
		s->tx_held--;
	}
}

void ns_sndq_release(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return;
	for (uint32_t i = 0; i < tp->sndq_cnt; i++)
		sndq_free(s, sndq_at(s, tp, tp->sndq_head + i)->m);
	s->tx_held -= tp->sndq_cnt;
	tp->sndq_head = tp->sndq_cnt = tp->sndq_hint = 0;
	tp->snd_len = 0;
}

/* ------------------------------------------------------ frame build */

/* tp's header template, (re)built when missing or stale; NULL when the
 * next hop is not resolved or its entry is due for a refresh (the
 * regular path, ns_eth_output, takes care of both). */
static __rte_always_inline const struct ns_hdr_tmpl *tmpl_get(struct ns_stack *s,
								 struct ns_tcb *tp)
{
	struct ns_hdr_tmpl *t = &tp->buf->tmpl;
	if (t->gen != s->arp_gen) {
		struct ns_arp_ent *e = ns_arp_valid(s, tp->rip);
		if (!e)
			return NULL;
		uint8_t *p = t->hdr;
		memset(p, 0, sizeof(t->hdr));
		struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
		eh->dst_addr = e->mac;
		memcpy(eh->src_addr.addr_bytes, s->conf.mac, 6);
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eh + 1);
		iph->version_ihl = 0x45;
		iph->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		iph->time_to_live = 64;
		iph->next_proto_id = IPPROTO_TCP;
		iph->src_addr = rte_cpu_to_be_32(s->conf.ip);
		iph->dst_addr = rte_cpu_to_be_32(tp->rip);
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(iph + 1);
		th->src_port = rte_cpu_to_be_16(tp->lport);
		th->dst_port = rte_cpu_to_be_16(tp->rport);
		t->ip_sum = ns_csum_add(0, iph, 20);
		t->ps_sum = ns_pseudo_sum(s->conf.ip, tp->rip, IPPROTO_TCP, 0);
		t->tcp_sum = ns_csum_add(t->ps_sum, th, 4);
		t->arp = e;
		t->gen = s->arp_gen;
	}
	if (s->now_us - t->arp->updated_us > NS_ARP_LIFETIME_US)
		return NULL;
	t->arp->used_us = s->now_us;
	return t;
}

/* Headers of a TCP segment from tp's template into the frame m, whose
 * data starts at p (headers then payload, pkt_len final): copy, patch the
 * variable fields, sum them onto the constant parts' sums. */
static inline void tmpl_fill(struct ns_stack *s, const struct ns_hdr_tmpl *tm,
			     struct rte_mbuf *m, uint8_t *p, uint32_t seq, uint32_t ack,
			     uint8_t flags, uint16_t win, const uint8_t *opt, unsigned optlen)
{
	unsigned thl = 20u + optlen;
	uint16_t tcp_len = (uint16_t)(m->pkt_len - HDRS);
	/* 54 bytes in three 16/32-byte moves (the last overlaps): a plain
	 * memcpy of this size compiles to a byte-wise rep movsb */
	_Static_assert(sizeof(tm->hdr) == 54, "template size");
	rte_mov32(p, tm->hdr);
	rte_mov16(p + 32, tm->hdr + 32);
	rte_mov16(p + 38, tm->hdr + 38);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(p + 14);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(p + HDRS);
	iph->total_length = rte_cpu_to_be_16((uint16_t)(20u + tcp_len));
	iph->packet_id = rte_cpu_to_be_16(s->ip_id++);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)((thl / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(win);
	if (optlen == 12)
		memcpy(p + HDRS + 20, opt, 12);
	else if (optlen)
		memcpy(p + HDRS + 20, opt, optlen);
	uint16_t len_be = rte_cpu_to_be_16(tcp_len);
	if (s->conf.tx_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
		m->l2_len = 14;
		m->l3_len = 20;
		m->l4_len = thl;
		th->cksum = ns_csum_fold(tm->ps_sum + len_be);
	} else {
		iph->hdr_checksum = (uint16_t)~ns_csum_fold(tm->ip_sum + iph->total_length +
							    iph->packet_id);
		/* the ports are in tcp_sum: the rest of the header on */
		uint64_t sum = tm->tcp_sum + len_be;
		if (m->nb_segs == 1)
			sum = ns_csum_add(sum, p + HDRS + 4, tcp_len - 4u);
		else
			ns_csum_mbuf(m, HDRS + 4, tcp_len - 4u, &sum);
		th->cksum = (uint16_t)~ns_csum_fold(sum);
	}
}

/* Whether queue mbuf t can be its own frame with hdr bytes of headers:
 * nobody else holds it (a NIC may still read a frame we sent from it),
 * the headroom takes the headers, and they land 2-byte aligned (an ACK of
 * part of the mbuf, e.g. of a zero-window probe's byte, may have left the
 * payload at an odd offset). */
static inline bool inplace_ok(const struct ns_txb *t, unsigned hdr)
{
	return t->off >= hdr && !((t->off - hdr) & 1) && rte_mbuf_refcnt_read(t->m) == 1;
}

/* Make the queue mbuf t (refcnt 1, exactly the segment) the frame: hdr
 * bytes of headers before its payload, one more reference for the TX
 * queue. Its metadata is ours until handed over. */
static inline struct rte_mbuf *inplace_frame(struct ns_stack *s, const struct ns_txb *t,
					     unsigned hdr)
{
	struct rte_mbuf *m = t->m;
	rte_mbuf_refcnt_update(m, 1);
	m->data_off = (uint16_t)(t->off - hdr);
	m->data_len = (uint16_t)(hdr + t->len);
	m->pkt_len = hdr + t->len;
	m->nb_segs = 1;
	m->ol_flags = 0;
	m->tx_offload = 0;
	m->packet_type = 0;
	s->xst.tx_inplace++;
	return m;
}

static int xmit_frame(struct ns_stack *s, const struct xmit *x)
{
	unsigned thl = 20u + x->optlen;
	unsigned hdr = HDRS + thl;
	struct rte_mbuf *m = NULL;
	uint8_t *p;
	if (x->dlen) {
		struct ns_tcb *tp = x->dtp;
		struct ns_txb *t = sndq_at(s, tp, sndq_find(s, tp, x->seq));
		if (t->seq == x->seq && t->len == x->dlen && inplace_ok(t, hdr))
			m = inplace_frame(s, t, hdr);   /* exactly one queue mbuf */
	}
	if (m) {
		p = rte_pktmbuf_mtod(m, uint8_t *);
	} else {
		m = ns_alloc(s);
		if (!m)
			return -ENOBUFS;
		uint32_t room = rte_pktmbuf_tailroom(m) - hdr;
		uint32_t first = x->dlen < room ? x->dlen : room;
		p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(hdr + first));
		if (x->dlen) {
			s->xst.tx_copied++;
			sndq_copy(s, x->dtp, x->seq, p + hdr, first);
			uint32_t done = first;
			struct rte_mbuf *last = m;
			while (done < x->dlen) {
				struct rte_mbuf *n = ns_alloc(s);
				if (!n) {
					rte_pktmbuf_free(m);
					return -ENOBUFS;
				}
				uint32_t k = x->dlen - done;
				if (k > rte_pktmbuf_tailroom(n))
					k = rte_pktmbuf_tailroom(n);
				uint8_t *d = (uint8_t *)rte_pktmbuf_append(n, (uint16_t)k);
				sndq_copy(s, x->dtp, x->seq + done, d, k);
				last->next = n;
				last = n;
				m->nb_segs++;
				m->pkt_len += k;
				done += k;
			}
		}
	}
	const struct ns_hdr_tmpl *tm = x->ttp ? tmpl_get(s, x->ttp) : NULL;
	if (tm) {
		tmpl_fill(s, tm, m, p, x->seq, x->ack, x->flags, x->win, x->opt, x->optlen);
		return ns_tx_enqueue(s, m);
	}
	uint16_t tcp_len = (uint16_t)(thl + x->dlen);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(p + HDRS);
	th->src_port = rte_cpu_to_be_16(x->lport);
	th->dst_port = rte_cpu_to_be_16(x->rport);
	th->sent_seq = rte_cpu_to_be_32(x->seq);
	th->recv_ack = rte_cpu_to_be_32(x->ack);
	th->data_off = (uint8_t)((thl / 4) << 4);
	th->tcp_flags = x->flags;
	th->rx_win = rte_cpu_to_be_16(x->win);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (x->optlen == 12)
		memcpy(p + HDRS + 20, x->opt, 12);     /* timestamps alone: inlined */
	else if (x->optlen)
		memcpy(p + HDRS + 20, x->opt, x->optlen);
	if (s->conf.tx_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
		m->l2_len = 14;
		m->l3_len = 20;
		m->l4_len = thl;
		th->cksum = ns_csum_fold(ns_pseudo_sum(s->conf.ip, x->rip, IPPROTO_TCP, tcp_len));
	} else {
		uint64_t sum = ns_pseudo_sum(s->conf.ip, x->rip, IPPROTO_TCP, tcp_len);
		ns_csum_mbuf(m, HDRS, tcp_len, &sum);
		th->cksum = (uint16_t)~ns_csum_fold(sum);
	}
	ns_ip_fill(s, m, x->rip, IPPROTO_TCP, tcp_len);
	return ns_eth_output(s, m, x->rip);
}

/* ------------------------------------------------------ options */

uint32_t ns_tcp_tsval(const struct ns_stack *s, const struct ns_tcb *tp)
{
	return (uint32_t)(s->now_us / 1000u) + tp->ts_off;
}

static unsigned put_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = 1;
	p[1] = 1;
	p[2] = 8;
	p[3] = 10;
	uint32_t a = rte_cpu_to_be_32(tsval), b = rte_cpu_to_be_32(tsecr);
	memcpy(p + 4, &a, 4);
	memcpy(p + 8, &b, 4);
	return 12;
}

/* SACK blocks describing the out-of-order queue (adjacent entries merged),
 * the block holding the most recently received segment first (RFC 2018 4),
 * then the lowest ones. */
static unsigned sack_blocks(const struct ns_tcb *tp, uint32_t blk[][2], unsigned max)
{
	const struct ns_seg *v = tp->buf->ooo;
	uint32_t rs = 0, re = 0;
	bool have_recent = false;
	for (uint32_t i = 0; i < tp->ooo_cnt;) {
		uint32_t a = v[i].seq, b = v[i].seq + v[i].len;
		for (i++; i < tp->ooo_cnt && v[i].seq == b; i++)
			b = v[i].seq + v[i].len;
		if (SEQ_GEQ(tp->ooo_recent, a) && SEQ_LT(tp->ooo_recent, b)) {
			rs = a;
			re = b;
			have_recent = true;
			break;
		}
	}
	unsigned out = 0;
	if (have_recent && max) {
		blk[0][0] = rs;
		blk[0][1] = re;
		out = 1;
	}
	for (uint32_t i = 0; i < tp->ooo_cnt && out < max;) {
		uint32_t a = v[i].seq, b = v[i].seq + v[i].len;
		for (i++; i < tp->ooo_cnt && v[i].seq == b; i++)
			b = v[i].seq + v[i].len;
		if (have_recent && a == rs)
			continue;
		blk[out][0] = a;
		blk[out][1] = b;
		out++;
	}
	return out;
}

static unsigned data_options(const struct ns_stack *s, const struct ns_tcb *tp, uint8_t *opt)
{
	unsigned ol = 0;
	if (tp->flags & NS_TF_TS)
		ol += put_ts(opt, ns_tcp_tsval(s, tp), tp->ts_recent);
	if ((tp->flags & NS_TF_SACK) && tp->ooo_cnt > 0 && tp->buf) {
		uint32_t blk[4][2];
		unsigned nb = sack_blocks(tp, blk, (tp->flags & NS_TF_TS) ? 3 : 4);
		opt[ol++] = 1;
		opt[ol++] = 1;
		opt[ol++] = 5;
		opt[ol++] = (uint8_t)(2 + 8 * nb);
		for (unsigned i = 0; i < nb; i++) {
			uint32_t a = rte_cpu_to_be_32(blk[i][0]), b = rte_cpu_to_be_32(blk[i][1]);
			memcpy(opt + ol, &a, 4);
			memcpy(opt + ol + 4, &b, 4);
			ol += 8;
		}
	}
	return ol;
}

static unsigned data_options_len(const struct ns_tcb *tp)
{
	unsigned ol = (tp->flags & NS_TF_TS) ? 12u : 0u;
	if ((tp->flags & NS_TF_SACK) && tp->ooo_cnt > 0) {
		/* upper bound: blocks merge, never split */
		unsigned nb = tp->ooo_cnt < ((tp->flags & NS_TF_TS) ? 3u : 4u) ?
			      tp->ooo_cnt : ((tp->flags & NS_TF_TS) ? 3u : 4u);
		ol += 4u + 8u * nb;
	}
	return ol;
}

static uint16_t our_mss(const struct ns_stack *s)
{
	return (uint16_t)(s->conf.mtu - 40u);
}

/* SYN options: MSS, SACK-permitted, timestamps, window scale (what the
 * flags say we offer or, for a SYN-ACK, what the peer offered). */
static unsigned syn_options(const struct ns_stack *s, const struct ns_tcb *tp, uint8_t *opt)
{
	unsigned ol = 0;
	uint16_t mss = rte_cpu_to_be_16(our_mss(s));
	opt[ol++] = 2;
	opt[ol++] = 4;
	memcpy(opt + ol, &mss, 2);
	ol += 2;
	if ((tp->flags & NS_TF_SACK) && (tp->flags & NS_TF_TS)) {
		opt[ol++] = 4;
		opt[ol++] = 2;
		uint32_t a = rte_cpu_to_be_32(ns_tcp_tsval(s, tp)), b = rte_cpu_to_be_32(tp->ts_recent);
		opt[ol++] = 8;
		opt[ol++] = 10;
		memcpy(opt + ol, &a, 4);
		memcpy(opt + ol + 4, &b, 4);
		ol += 8;
	} else if (tp->flags & NS_TF_TS) {
		ol += put_ts(opt + ol, ns_tcp_tsval(s, tp), tp->ts_recent);
	} else if (tp->flags & NS_TF_SACK) {
		opt[ol++] = 1;
		opt[ol++] = 1;
		opt[ol++] = 4;
		opt[ol++] = 2;
	}
	if (tp->flags & NS_TF_WS) {
		opt[ol++] = 1;
		opt[ol++] = 3;
		opt[ol++] = 3;
		opt[ol++] = tp->rcv_ws;
	}
	return ol;
}

/* ------------------------------------------------------ windows */

uint32_t ns_tcp_rcv_window(struct ns_stack *s, const struct ns_tcb *tp)
{
	uint32_t cap = s->conf.rcvbuf;
	uint32_t w = cap > tp->rx_bytes ? cap - tp->rx_bytes : 0;
	/* Receiver SWS avoidance (RFC 1122 4.2.3.3): offer nothing rather
	 * than a sliver. */
	if (w < cap / 4 && w < tp->rcv_mss)
		w = 0;
	uint32_t maxw = 65535u << tp->rcv_ws;
	if (w > maxw)
		w = maxw;
	/* Never move the right edge left (RFC 793 / 7323 2.4). */
	if (SEQ_GT(tp->rcv_adv, tp->rcv_nxt) && tp->rcv_adv - tp->rcv_nxt > w)
		w = tp->rcv_adv - tp->rcv_nxt;
	return w;
}

static uint16_t window_field(struct ns_stack *s, struct ns_tcb *tp)
{
	uint32_t w = ns_tcp_rcv_window(s, tp);
	uint32_t field = (w + (1u << tp->rcv_ws) - 1) >> tp->rcv_ws;
	if (field > 65535u)
		field = 65535u;
	uint32_t edge = tp->rcv_nxt + (field << tp->rcv_ws);
	if (SEQ_GT(edge, tp->rcv_adv))
		tp->rcv_adv = edge;
	return (uint16_t)field;
}

/* ------------------------------------------------- connection output */

/* Send one segment of tp. Data comes from the send queue at seq. */
static int tcb_xmit(struct ns_stack *s, struct ns_tcb *tp, uint32_t seq, uint32_t len,
		    uint8_t flags)
{
	uint8_t opt[NS_TCP_MAX_OPT];
	struct xmit x = {
		.rip = tp->rip, .rport = tp->rport, .lport = tp->lport,
		.seq = seq, .flags = flags, .opt = opt,
	};
	if (flags & TH_SYN) {
		x.optlen = syn_options(s, tp, opt);
		x.win = (uint16_t)(s->conf.rcvbuf < 65535u ? s->conf.rcvbuf : 65535u);
		if (flags & TH_ACK) {
			x.ack = tp->rcv_nxt;
			tp->rcv_adv = tp->rcv_nxt + x.win;
		}
	} else {
		x.optlen = data_options(s, tp, opt);
		x.ack = tp->rcv_nxt;
		x.win = window_field(s, tp);
		x.flags |= TH_ACK;
	}
	if (len) {
		x.dtp = tp;
		x.dlen = len;
	}
	if (tp->buf && !(flags & TH_SYN))
		x.ttp = tp;
	int rc = xmit_frame(s, &x);
	if (rc < 0)
		return rc;
	if (x.flags & TH_ACK) {
		tp->last_ack_sent = tp->rcv_nxt;
		tp->flags &= ~NS_TF_ACKNOW;
		tp->unacked_segs = 0;
		tp->t_dack = 0;         /* the wheel entry may stay (lazy re-arm) */
	}
	return 0;
}

int ns_tcp_send_ack(struct ns_stack *s, struct ns_tcb *tp)
{
	return tcb_xmit(s, tp, tp->snd_nxt, 0, TH_ACK);
}

/* Keepalive and zero-window probe: a segment one below snd_una, which the
 * peer finds outside its window and answers with an ACK. */
int ns_tcp_send_probe(struct ns_stack *s, struct ns_tcb *tp)
{
	return tcb_xmit(s, tp, tp->snd_una - 1, 0, TH_ACK);
}

int ns_tcp_send_rst_tcb(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->state == NS_SYN_SENT || tp->state == NS_FREE)
		return 0;
	struct xmit x = {
		.rip = tp->rip, .rport = tp->rport, .lport = tp->lport,
		.seq = tp->snd_max, .ack = tp->rcv_nxt, .flags = TH_RST | TH_ACK,
	};
	return xmit_frame(s, &x);
}

void ns_tcp_respond(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
		    uint32_t seq, uint32_t ack, uint8_t flags)
{
	struct xmit x = {
		.rip = rip, .rport = rport, .lport = lport,
		.seq = seq, .ack = ack, .flags = flags,
	};
	xmit_frame(s, &x);
}

int ns_tcp_send_synack_cookie(struct ns_stack *s, uint32_t rip, uint16_t rport,
			      uint16_t lport, uint32_t iss, uint32_t rcv_nxt, uint16_t mss,
			      int ws, bool sack, bool ts, uint32_t tsval, uint32_t tsecr)
{
	uint8_t opt[NS_TCP_MAX_OPT];
	unsigned ol = 0;
	uint16_t m = rte_cpu_to_be_16(mss);
	opt[ol++] = 2;
	opt[ol++] = 4;
	memcpy(opt + ol, &m, 2);
	ol += 2;
	if (ts) {
		if (sack) {
			opt[ol++] = 4;
			opt[ol++] = 2;
			uint32_t a = rte_cpu_to_be_32(tsval), b = rte_cpu_to_be_32(tsecr);
			opt[ol++] = 8;
			opt[ol++] = 10;
			memcpy(opt + ol, &a, 4);
			memcpy(opt + ol + 4, &b, 4);
			ol += 8;
		} else {
			ol += put_ts(opt + ol, tsval, tsecr);
		}
		if (ws >= 0) {
			opt[ol++] = 1;
			opt[ol++] = 3;
			opt[ol++] = 3;
			opt[ol++] = (uint8_t)ws;
		}
	}
	struct xmit x = {
		.rip = rip, .rport = rport, .lport = lport,
		.seq = iss, .ack = rcv_nxt, .flags = TH_SYN | TH_ACK,
		.win = (uint16_t)(s->conf.rcvbuf < 65535u ? s->conf.rcvbuf : 65535u),
		.opt = opt, .optlen = ol,
	};
	return xmit_frame(s, &x);
}

/* Put tp on the output list (flushed by ns_tx_drain / ns_timers). */
void ns_tcp_output_later(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->flags & NS_TF_ONOUT)
		return;
	tp->flags |= NS_TF_ONOUT;
	tp->onext = s->out_head;
	s->out_head = ns_tcb_idx(s, tp);
}

void ns_tcp_flush(struct ns_stack *s)
{
	/* Take the list as it is: a connection that cannot send now (no
	 * mbuf, TX queue full) puts itself back for the next flush. */
	int32_t i = s->out_head;
	s->out_head = -1;
	while (i >= 0) {
		struct ns_tcb *tp = &s->tcb[i];
		i = tp->onext;
		tp->flags &= ~NS_TF_ONOUT;
		if (tp->state == NS_FREE)
			continue;
		ns_tcp_output(s, tp);
		/* A delayed ACK armed by input and not sent with a reply. */
		if (tp->t_dack && tp->state != NS_FREE)
			ns_timer_sched(s, tp);
	}
}

static void send_syn(struct ns_stack *s, struct ns_tcb *tp)
{
	uint8_t flags = TH_SYN | (tp->state == NS_SYN_RCVD ? TH_ACK : 0);
	if (tcb_xmit(s, tp, tp->iss, 0, flags) < 0) {
		ns_tcp_output_later(s, tp);
		return;
	}
	if (tp->rxtshift > 0) {
		s->st.retransmits++;
	} else if (!(tp->flags & NS_TF_RTTING)) {
		tp->rtt_seq = tp->iss;
		tp->rtt_start_us = s->now_us;
		tp->flags |= NS_TF_RTTING;
	}
	tp->snd_nxt = tp->iss + 1;
	if (SEQ_GT(tp->snd_nxt, tp->snd_max))
		tp->snd_max = tp->snd_nxt;
	if (tp->t_rexmt == 0)
		ns_tcp_set_rexmt(s, tp);
}

static uint32_t initial_window(const struct ns_tcb *tp)
{
	uint32_t a = 10u * tp->mss, b = 2u * tp->mss > 14600u ? 2u * tp->mss : 14600u;
	return a < b ? a : b;
}

static void arm_persist(struct ns_stack *s, struct ns_tcb *tp)
{
	uint64_t iv = (uint64_t)tp->rto_us << (tp->persist_n < 16 ? tp->persist_n : 16);
	if (iv < NS_PERSIST_MIN_US)
		iv = NS_PERSIST_MIN_US;
	if (iv > NS_PERSIST_MAX_US)
		iv = NS_PERSIST_MAX_US;
	tp->flags |= NS_TF_PERSIST;
	tp->t_rexmt = s->now_us + iv;
	ns_timer_sched(s, tp);
}

/* cwnd rounded to the nearest whole number of maxseg segments (at least
 * one). cwnd counts bytes acked and MSS-sized steps, segments carry
 * maxseg (MSS minus options): without this a window of 2.99 segments
 * would send 2 and leave the rest to the sender's SWS rule. */
static uint32_t cwnd_segs(const struct ns_tcb *tp, uint32_t maxseg)
{
	uint64_t n = ((uint64_t)tp->cwnd + maxseg / 2) / maxseg;
	n = (n ? n : 1) * maxseg;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Send the next new (or, after an RTO, go-back-N) segment at snd_nxt
 * within wnd bytes from snd_una. force: send a window-limited runt anyway
 * (persist timer expiry). Returns 1 sent, 2 sent with FIN, 0 nothing to
 * send, -1 no frame (tp is back on the output list). */
static int send_one(struct ns_stack *s, struct ns_tcb *tp, uint32_t maxseg, uint32_t wnd,
		    bool force)
{
	uint64_t now = s->now_us;
	uint32_t run = UINT32_MAX;
	if (tp->sb_cnt && SEQ_LT(tp->snd_nxt, tp->snd_max)) {
		/* Going back after an RTO: what the peer SACKed since then
		 * (the scoreboard was cleared by the RTO) need not go again. */
		uint32_t n = ns_sack_skip(tp, tp->snd_nxt, &run);
		if (SEQ_GT(n, tp->snd_max))
			n = tp->snd_max;
		tp->snd_nxt = n;
	}
	uint32_t off = tp->snd_nxt - tp->snd_una;
	if (off > tp->snd_len)
		return 0;               /* FIN already sent */
	uint32_t avail = tp->snd_len - off;
	int64_t usable = (int64_t)wnd - (int64_t)off;
	uint32_t len = avail < maxseg ? avail : maxseg;
	if (len > run)
		len = run;
	if (usable < (int64_t)len)
		len = usable > 0 ? (uint32_t)usable : 0;
	bool fin = (tp->flags & NS_TF_FINQ) && off + len == tp->snd_len;
	if (len == 0 && !fin)
		return 0;
	/* Sender SWS avoidance (RFC 1122 4.2.3.4): a window-limited runt
	 * only if it is at least half the largest window seen. */
	if (len < avail && len < maxseg && len < run && !force && len < tp->max_sndwnd / 2)
		return 0;
	if (len && SEQ_GEQ(tp->snd_nxt, tp->snd_max) && sndq_fill(s, tp) >= maxseg) {
		/* New data stops at the end of the queue mbuf it starts in:
		 * when SACK options made a segment split one, the next
		 * segment realigns and goes out in place again. (Not when
		 * an mbuf holds less than a segment, e.g. jumbo MTU: those
		 * segments are chains of copies anyway.) */
		const struct ns_txb *t = sndq_at(s, tp, sndq_find(s, tp, tp->snd_nxt));
		uint32_t room = t->seq + t->len - tp->snd_nxt;
		if (room < len) {
			len = room;
			fin = false;
		}
	}
	uint8_t flags = TH_ACK | (fin ? TH_FIN : 0);
	if (len > 0 && off + len == tp->snd_len)
		flags |= TH_PSH;
	uint32_t seq = tp->snd_nxt;
	if (tcb_xmit(s, tp, seq, len, flags) < 0) {
		ns_tcp_output_later(s, tp);
		return -1;
	}
	if (SEQ_LT(seq, tp->snd_max))
		s->st.retransmits++;
	tp->snd_nxt = seq + len + (fin ? 1u : 0u);
	bool fresh = SEQ_GT(tp->snd_nxt, tp->snd_max);
	if (fresh) {
		if (!(tp->flags & NS_TF_RTTING) && SEQ_GEQ(seq, tp->snd_max)) {
			tp->rtt_seq = seq;
			tp->rtt_start_us = now;
			tp->flags |= NS_TF_RTTING;
		}
		tp->snd_max = tp->snd_nxt;
	}
	if (tp->t_rexmt == 0 || (tp->flags & NS_TF_PERSIST)) {
		tp->persist_n = 0;
		ns_tcp_set_rexmt(s, tp);
	} else if (fresh) {
		ns_tcp_arm_pto(s, tp);
	}
	tp->last_send_us = now;
	return fin ? 2 : 1;
}

/* Retransmit [seq, seq+len) during SACK recovery. */
static int sack_rexmit(struct ns_stack *s, struct ns_tcb *tp, uint32_t seq, uint32_t len)
{
	uint8_t flags = TH_ACK;
	if (seq + len == tp->snd_una + tp->snd_len)
		flags |= TH_PSH;
	if (tcb_xmit(s, tp, seq, len, flags) < 0) {
		ns_tcp_output_later(s, tp);
		return -1;
	}
	if (SEQ_GT(seq + len, tp->high_rxt))
		tp->high_rxt = seq + len;
	s->st.retransmits++;
	s->xst.sack_retransmits++;
	tp->flags &= ~NS_TF_RTTING;     /* Karn */
	tp->last_send_us = s->now_us;
	return 0;
}

/* RFC 6675 5 (C): while cwnd - pipe >= 1 SMSS, send what NextSeg picks:
 * (1) a lost hole not yet retransmitted, (2) new data, (3) any other hole
 * below the highest SACKed byte. Each turn sends a segment or stops, and
 * pipe grows by what was sent, so the loop is bounded by cwnd. */
static bool sack_output(struct ns_stack *s, struct ns_tcb *tp, uint32_t maxseg)
{
	bool sent = false;
	if (SEQ_LT(tp->snd_nxt, tp->snd_max))
		tp->snd_nxt = tp->snd_max;      /* holes are rules 1 and 3 */
	uint32_t cw = cwnd_segs(tp, maxseg);
	for (;;) {
		uint32_t pipe = ns_sack_pipe(tp);
		if (pipe >= cw || cw - pipe < maxseg)
			break;
		uint32_t seq, len;
		if (ns_sack_next_hole(tp, true, maxseg, &seq, &len)) {
			if (sack_rexmit(s, tp, seq, len) < 0)
				break;
			sent = true;
			continue;
		}
		int r = send_one(s, tp, maxseg, tp->snd_wnd, false);
		if (r > 0)
			sent = true;
		if (r == 1)
			continue;
		if (r < 0 || r == 2)
			break;
		if (ns_sack_next_hole(tp, false, maxseg, &seq, &len)) {
			if (sack_rexmit(s, tp, seq, len) < 0)
				break;
			sent = true;
			continue;
		}
		break;
	}
	if (sent && tp->t_rexmt == 0)
		ns_tcp_set_rexmt(s, tp);
	return sent;
}

/* The request-response case without the general machinery: the unsent
 * data is whole queue mbufs (which hold a full segment) that all fit in the
 * window, nothing to resend (no recovery, snd_nxt at snd_max), no FIN,
 * no SACK blocks to carry, the header template valid. Sends them in
 * place: the segments, fields and state changes send_one would make
 * (the fast-path test drives both and compares). Returns true when all
 * was sent; false: the general path takes over from snd_nxt. */
static bool output_fast(struct ns_stack *s, struct ns_tcb *tp, uint32_t maxseg, unsigned ol)
{
	uint32_t end = tp->snd_una + tp->snd_len;
	if (tp->snd_nxt != tp->snd_max || tp->snd_nxt == end || s->no_fast_path ||
	    (tp->flags & (NS_TF_FINQ | NS_TF_RECOVERY)) || tp->dupacks ||
	    (tp->state != NS_ESTABLISHED && tp->state != NS_CLOSE_WAIT) ||
	    ol != ((tp->flags & NS_TF_TS) ? 12u : 0u) || sndq_fill(s, tp) < maxseg)
		return false;
	uint32_t wnd = cwnd_segs(tp, maxseg);
	if (tp->snd_wnd < wnd)
		wnd = tp->snd_wnd;
	if (tp->snd_len > wnd)
		return false;
	/* the unsent mbufs are the last ones: walk back to snd_nxt's */
	uint32_t last = tp->sndq_head + tp->sndq_cnt - 1, i = last;
	for (;;) {
		const struct ns_txb *t = sndq_at(s, tp, i);
		if (t->len > maxseg || !inplace_ok(t, HDRS + 20u + ol))
			return false;
		if (t->seq == tp->snd_nxt)
			break;
		if (i == tp->sndq_head || SEQ_LT(t->seq, tp->snd_nxt))
			return false;           /* snd_nxt inside an mbuf */
		i--;
	}
	const struct ns_hdr_tmpl *tm = tmpl_get(s, tp);
	if (!tm)
		return false;
	unsigned hdr = HDRS + 20u + ol;
	for (;; i++) {
		const struct ns_txb *t = sndq_at(s, tp, i);
		uint32_t seq = tp->snd_nxt;
		uint8_t flags = TH_ACK | (i == last ? TH_PSH : 0);
		uint16_t win = window_field(s, tp);
		struct rte_mbuf *m = inplace_frame(s, t, hdr);
		uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
		uint8_t opt[12];
		if (ol)
			put_ts(opt, ns_tcp_tsval(s, tp), tp->ts_recent);
		tmpl_fill(s, tm, m, p, seq, tp->rcv_nxt, flags, win, opt, ol);
		if (ns_tx_enqueue(s, m) < 0)
			return false;   /* the general path fails alike and copes */
		/* as tcb_xmit and send_one after a new segment */
		tp->last_ack_sent = tp->rcv_nxt;
		tp->flags &= ~NS_TF_ACKNOW;
		tp->unacked_segs = 0;
		tp->t_dack = 0;
		tp->snd_nxt = tp->snd_max = seq + t->len;
		if (!(tp->flags & NS_TF_RTTING)) {
			tp->rtt_seq = seq;
			tp->rtt_start_us = s->now_us;
			tp->flags |= NS_TF_RTTING;
		}
		if (tp->t_rexmt == 0 || (tp->flags & NS_TF_PERSIST)) {
			tp->persist_n = 0;
			ns_tcp_set_rexmt(s, tp);
		} else {
			ns_tcp_arm_pto(s, tp);
		}
		tp->last_send_us = s->now_us;
		s->xst.tx_fast++;
		if (i == last)
			return true;
	}
}

/* force: send a window-limited runt anyway (persist timer expiry). */
static void output_common(struct ns_stack *s, struct ns_tcb *tp, bool force)
{
	switch (tp->state) {
	case NS_FREE:
	case NS_CLOSED:
		return;
	case NS_SYN_SENT:
	case NS_SYN_RCVD:
		if (tp->snd_nxt == tp->iss)
			send_syn(s, tp);
		return;
	case NS_TIME_WAIT:
		if ((tp->flags & NS_TF_ACKNOW) && ns_tcp_send_ack(s, tp) < 0)
			ns_tcp_output_later(s, tp);
		return;
	default:
		break;
	}
	if (!tp->buf) {
		if ((tp->flags & NS_TF_ACKNOW) && ns_tcp_send_ack(s, tp) < 0)
			ns_tcp_output_later(s, tp);
		return;
	}
	uint64_t now = s->now_us;
	unsigned ol = data_options_len(tp);
	uint32_t maxseg = tp->mss > ol + 1 ? tp->mss - ol : 1;
	/* Restart after idle (RFC 5681 4.1). */
	if (tp->snd_max == tp->snd_una && now - tp->last_send_us > ns_tcp_rto_cur(tp)) {
		uint32_t iw = initial_window(tp);
		if (tp->cwnd > iw)
			tp->cwnd = iw;
	}
	if (!force && output_fast(s, tp, maxseg, ol))
		return;
	bool sent = false;
	if ((tp->flags & (NS_TF_RECOVERY | NS_TF_SACKREC)) == (NS_TF_RECOVERY | NS_TF_SACKREC)) {
		sent = sack_output(s, tp, maxseg);
	} else {
		/* Limited transmit (RFC 3042, RFC 6675 5 (C)): each of the
		 * first two duplicate ACKs lets one more new segment out, so
		 * a small window still produces DupThresh duplicates. */
		uint32_t cw = cwnd_segs(tp, maxseg);
		if (!(tp->flags & NS_TF_RECOVERY) && tp->dupacks)
			cw += (tp->dupacks < 2 ? tp->dupacks : 2u) * maxseg;
		for (;;) {
			uint32_t wnd = tp->snd_wnd < cw ? tp->snd_wnd : cw;
			int r = send_one(s, tp, maxseg, wnd, force);
			if (r <= 0)
				break;
			sent = true;
			force = false;
			/* all data out and no FIN to add: skip the call that
			 * would find nothing */
			if (r == 2 || (tp->snd_nxt - tp->snd_una == tp->snd_len &&
				       !(tp->flags & NS_TF_FINQ)))
				break;
		}
	}
	/* Data waits and nothing in flight will bring an ACK: probe. */
	uint32_t off = tp->snd_nxt - tp->snd_una;
	if (tp->t_rexmt == 0 && off <= tp->snd_len && tp->snd_len > off)
		arm_persist(s, tp);
	if ((tp->flags & NS_TF_ACKNOW) && !sent && ns_tcp_send_ack(s, tp) < 0)
		ns_tcp_output_later(s, tp);
}

void ns_tcp_output(struct ns_stack *s, struct ns_tcb *tp)
{
	output_common(s, tp, false);
}

void ns_tcp_output_force(struct ns_stack *s, struct ns_tcb *tp)
{
	output_common(s, tp, true);
}

uint32_t ns_tcp_rexmit_una(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return 0;
	unsigned ol = data_options_len(tp);
	uint32_t maxseg = tp->mss > ol + 1 ? tp->mss - ol : 1;
	uint32_t len = tp->snd_len < maxseg ? tp->snd_len : maxseg;
	/* not into what the peer SACKed */
	if (tp->sb_cnt && SEQ_GT(tp->buf->sb[0].start, tp->snd_una) &&
	    tp->buf->sb[0].start - tp->snd_una < len)
		len = tp->buf->sb[0].start - tp->snd_una;
	bool fin_sent = SEQ_GT(tp->snd_max, tp->snd_una + tp->snd_len);
	bool fin = (tp->flags & NS_TF_FINQ) && fin_sent && len == tp->snd_len;
	if (len == 0 && !fin)
		return 0;
	uint8_t flags = TH_ACK | (fin ? TH_FIN : 0) | (len == tp->snd_len && len ? TH_PSH : 0);
	if (tcb_xmit(s, tp, tp->snd_una, len, flags) < 0)
		return 0;       /* the RTO will retry */
	s->st.retransmits++;
	tp->flags &= ~NS_TF_RTTING;     /* Karn */
	tp->last_send_us = s->now_us;
	return len;
}

uint32_t ns_tcp_probe_tail(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return 0;
	unsigned ol = data_options_len(tp);
	uint32_t maxseg = tp->mss > ol + 1 ? tp->mss - ol : 1;
	uint32_t sent_data = tp->snd_max - tp->snd_una;
	bool fin = SEQ_GT(tp->snd_max, tp->snd_una + tp->snd_len);
	if (fin)
		sent_data--;
	uint32_t len = sent_data < maxseg ? sent_data : maxseg;
	if (len == 0 && !fin)
		return 0;
	uint32_t seq = tp->snd_una + sent_data - len;
	uint8_t flags = TH_ACK | (fin ? TH_FIN : 0) | (len ? TH_PSH : 0);
	if (tcb_xmit(s, tp, seq, len, flags) < 0)
		return 0;
	s->st.retransmits++;
	tp->flags &= ~NS_TF_RTTING;     /* Karn */
	tp->last_send_us = s->now_us;
	return len ? len : 1;
}

/* ------------------------------------------------- SACK scoreboard */

/* The sender half of SACK (RFC 2018, loss recovery per RFC 6675). The
 * scoreboard is the sorted list of ranges the peer reported holding above
 * snd_una; everything between them and below snd_max is a hole. Holes are
 * the unit of the RFC's per-octet rules: all octets of one hole have the
 * same SACKed data above them, so IsLost is the same for the whole hole
 * and SetPipe and NextSeg cost one pass over at most NS_SACK_SB_MAX
 * ranges, with no per-segment state. */

static bool hole_lost(const struct ns_tcb *tp, uint32_t ranges_above, uint32_t bytes_above)
{
	return ranges_above >= NS_DUPTHRESH ||
	       bytes_above > (NS_DUPTHRESH - 1u) * (uint32_t)tp->mss;
}

static uint32_t sb_bytes(const struct ns_tcb *tp)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < tp->sb_cnt; i++)
		n += tp->buf->sb[i].end - tp->buf->sb[i].start;
	return n;
}

uint32_t ns_sack_update(struct ns_stack *s, struct ns_tcb *tp, const uint32_t blk[][2],
			unsigned n)
{
	if (!tp->buf)
		return 0;
	struct ns_sack_range *v = tp->buf->sb;
	uint32_t data_end = tp->snd_una + tp->snd_len;
	uint32_t newly = 0;
	for (unsigned k = 0; k < n; k++) {
		uint32_t a = blk[k][0], b = blk[k][1];
		if (!SEQ_LT(a, b) || SEQ_GT(b, tp->snd_max)) {
			s->xst.sack_blocks_bad++;   /* reports what we never sent */
			continue;
		}
		if (SEQ_LEQ(b, tp->snd_una))
			continue;                   /* D-SACK or stale: not used */
		if (SEQ_LT(a, tp->snd_una))
			a = tp->snd_una;
		if (SEQ_GT(b, data_end))
			b = data_end;               /* a FIN is never SACKed */
		if (!SEQ_LT(a, b))
			continue;
		/* first range that touches or follows [a, b) */
		uint32_t i = 0;
		while (i < tp->sb_cnt && SEQ_LT(v[i].end, a))
			i++;
		uint32_t j = i, ns = a, ne = b;
		newly += b - a;
		while (j < tp->sb_cnt && SEQ_LEQ(v[j].start, b)) {
			uint32_t lo = SEQ_MAX(a, v[j].start), hi = SEQ_MIN(b, v[j].end);
			if (SEQ_LT(lo, hi))
				newly -= hi - lo;
			ns = SEQ_MIN(ns, v[j].start);
			ne = SEQ_MAX(ne, v[j].end);
			j++;
		}
		if (j > i) {
			v[i].start = ns;
			v[i].end = ne;
			memmove(&v[i + 1], &v[j], (tp->sb_cnt - j) * sizeof(*v));
			tp->sb_cnt -= j - i - 1;
			continue;
		}
		if (tp->sb_cnt == NS_SACK_SB_MAX) {
			/* Full: keep the low ranges, they decide what is lost. */
			if (i == tp->sb_cnt)
				continue;
			tp->sb_cnt--;
		}
		memmove(&v[i + 1], &v[i], (tp->sb_cnt - i) * sizeof(*v));
		v[i].start = ns;
		v[i].end = ne;
		tp->sb_cnt++;
	}
	return newly;
}

void ns_sack_trim(struct ns_tcb *tp)
{
	if (!tp->buf || tp->sb_cnt == 0)
		return;
	struct ns_sack_range *v = tp->buf->sb;
	uint32_t i = 0;
	while (i < tp->sb_cnt && SEQ_LEQ(v[i].end, tp->snd_una))
		i++;
	if (i) {
		memmove(v, v + i, (tp->sb_cnt - i) * sizeof(*v));
		tp->sb_cnt -= i;
	}
	if (tp->sb_cnt && SEQ_LT(v[0].start, tp->snd_una))
		v[0].start = tp->snd_una;
}

void ns_sack_clear(struct ns_tcb *tp)
{
	tp->sb_cnt = 0;
}

bool ns_sack_is_lost(const struct ns_tcb *tp, uint32_t seq)
{
	uint32_t ranges = 0, bytes = 0;
	for (uint32_t i = tp->sb_cnt; i-- > 0;) {
		const struct ns_sack_range *r = &tp->buf->sb[i];
		if (SEQ_LEQ(r->end, seq))
			break;
		if (SEQ_LEQ(r->start, seq))
			return false;               /* seq itself is SACKed */
		ranges++;
		bytes += r->end - r->start;
	}
	return hole_lost(tp, ranges, bytes);
}

uint32_t ns_sack_bytes_above(const struct ns_tcb *tp, uint32_t seq)
{
	uint32_t bytes = 0;
	for (uint32_t i = tp->sb_cnt; i-- > 0;) {
		const struct ns_sack_range *r = &tp->buf->sb[i];
		if (SEQ_LEQ(r->end, seq))
			break;
		bytes += r->end - SEQ_MAX(r->start, seq);
	}
	return bytes;
}

/* The part of the hole [a, b) retransmitted in this recovery round. */
static uint32_t rxt_part(const struct ns_tcb *tp, uint32_t a, uint32_t b)
{
	uint32_t h = SEQ_MAX(tp->high_rxt, tp->snd_una);
	if (!(tp->flags & NS_TF_SACKREC) || SEQ_LEQ(h, a))
		return 0;
	return (SEQ_LT(h, b) ? h : b) - a;
}

uint32_t ns_sack_pipe(const struct ns_tcb *tp)
{
	if (!tp->buf || tp->sb_cnt == 0)
		return tp->snd_max - tp->snd_una;
	const struct ns_sack_range *v = tp->buf->sb;
	uint32_t above = sb_bytes(tp);
	uint32_t cur = tp->snd_una, pipe = 0;
	for (uint32_t i = 0; i < tp->sb_cnt; i++) {
		uint32_t hl = v[i].start - cur;
		if (!hole_lost(tp, tp->sb_cnt - i, above))
			pipe += hl;
		pipe += rxt_part(tp, cur, v[i].start);
		above -= v[i].end - v[i].start;
		cur = v[i].end;
	}
	/* above the highest SACKed byte nothing is lost yet */
	pipe += tp->snd_max - cur + rxt_part(tp, cur, tp->snd_max);
	return pipe;
}

bool ns_sack_next_hole(const struct ns_tcb *tp, bool lost_only, uint32_t max, uint32_t *seq,
		       uint32_t *len)
{
	if (!tp->buf || tp->sb_cnt == 0)
		return false;
	const struct ns_sack_range *v = tp->buf->sb;
	uint32_t above = sb_bytes(tp);
	uint32_t h = SEQ_MAX(tp->high_rxt, tp->snd_una);
	uint32_t cur = tp->snd_una;
	/* Only holes below the highest SACKed byte (NextSeg 1.b / 3). */
	for (uint32_t i = 0; i < tp->sb_cnt; i++) {
		uint32_t a = cur, b = v[i].start;
		bool lost = hole_lost(tp, tp->sb_cnt - i, above);
		above -= v[i].end - v[i].start;
		cur = v[i].end;
		if (lost_only && !lost)
			return false;       /* holes above are even less lost */
		if (SEQ_LEQ(b, h) || a == b)
			continue;
		uint32_t st = SEQ_MAX(a, h);
		*seq = st;
		*len = b - st < max ? b - st : max;
		return true;
	}
	return false;
}

uint32_t ns_sack_skip(const struct ns_tcb *tp, uint32_t seq, uint32_t *run)
{
	*run = UINT32_MAX;
	if (!tp->buf)
		return seq;
	for (uint32_t i = 0; i < tp->sb_cnt; i++) {
		const struct ns_sack_range *r = &tp->buf->sb[i];
		if (SEQ_LEQ(r->end, seq))
			continue;
		if (SEQ_LEQ(r->start, seq)) {
			seq = r->end;
			continue;           /* the next range starts after a hole */
		}
		*run = r->start - seq;
		break;
	}
	return seq;
}
