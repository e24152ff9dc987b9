/* dataplane/stack/tcp_conn.c — connection slots and their life cycle: the
 * 4-tuple hash, slot budgets (connections, half-open, TIME_WAIT), the
 * per-connection buffer cache, ISNs, SYN cookies, and the transitions that
 * change what a slot counts against (established, TIME_WAIT, dropped).
 *
 * Budgets: max_conns live connections (whatever the state, TIME_WAIT
 * excluded), max_half half-open passive opens (past it the listener answers
 * with SYN cookies), max_tw TIME_WAIT slots (past it the oldest is
 * recycled). The slot table has room for all three, so allocation within
 * budget never fails. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/stack/stack_int.h"

static inline uint32_t tuple_hash(const struct ns_stack *s, uint32_t rip, uint16_t rport,
				  uint16_t lport)
{
	uint64_t x = (((uint64_t)rip << 32) | ((uint64_t)rport << 16) | lport) ^ s->sipkey[1];
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

struct ns_tcb *ns_tcb_lookup(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport)
{
	int32_t i = s->hbucket[tuple_hash(s, rip, rport, lport) & s->hmask];
	while (i >= 0) {
		struct ns_tcb *tp = &s->tcb[i];
		if (tp->rip == rip && tp->rport == rport && tp->lport == lport)
			return tp;
		i = tp->hnext;
	}
	return NULL;
}

static void hash_remove(struct ns_stack *s, struct ns_tcb *tp)
{
	int32_t *pp = &s->hbucket[tuple_hash(s, tp->rip, tp->rport, tp->lport) & s->hmask];
	int32_t me = ns_tcb_idx(s, tp);
	while (*pp >= 0) {
		if (*pp == me) {
			*pp = tp->hnext;
			tp->hnext = -1;
			return;
		}
		pp = &s->tcb[*pp].hnext;
	}
}

/* Doubly linked lists through lprev/lnext: accept queue and TW FIFO. */
static void list_append(struct ns_stack *s, int32_t *head, int32_t *tail, struct ns_tcb *tp)
{
	int32_t me = ns_tcb_idx(s, tp);
	tp->lnext = -1;
	tp->lprev = *tail;
	if (*tail >= 0)
		s->tcb[*tail].lnext = me;
	else
		*head = me;
	*tail = me;
}

static void list_remove(struct ns_stack *s, int32_t *head, int32_t *tail, struct ns_tcb *tp)
{
	if (tp->lprev >= 0)
		s->tcb[tp->lprev].lnext = tp->lnext;
	else
		*head = tp->lnext;
	if (tp->lnext >= 0)
		s->tcb[tp->lnext].lprev = tp->lprev;
	else
		*tail = tp->lprev;
	tp->lprev = tp->lnext = -1;
}

static uint32_t *cat_counter(struct ns_stack *s, uint8_t cat)
{
	switch (cat) {
	case NS_CAT_CONN: return &s->n_conn;
	case NS_CAT_HALF: return &s->n_half;
	case NS_CAT_TW: return &s->n_tw;
	default: return NULL;
	}
}

void ns_tcb_set_cat(struct ns_stack *s, struct ns_tcb *tp, uint8_t cat)
{
	if (tp->cat == cat)
		return;
	if (cat == NS_CAT_TW && s->n_tw >= s->max_tw && s->tw_head >= 0) {
		/* Full: the oldest TIME_WAIT goes first (its 2*MSL is the most
		 * nearly served). */
		s->xst.tw_recycled++;
		ns_tcb_free(s, &s->tcb[s->tw_head]);
	}
	uint32_t *c = cat_counter(s, tp->cat);
	if (c)
		(*c)--;
	if (tp->cat == NS_CAT_CONN && (tp->flags & NS_TF_OPENED))
		s->st.conns_closed++;
	if (tp->cat == NS_CAT_TW)
		list_remove(s, &s->tw_head, &s->tw_tail, tp);
	tp->cat = cat;
	c = cat_counter(s, cat);
	if (c)
		(*c)++;
	if (cat == NS_CAT_TW)
		list_append(s, &s->tw_head, &s->tw_tail, tp);
}

struct ns_tcb *ns_tcb_alloc(struct ns_stack *s, uint8_t cat, uint32_t rip, uint16_t rport,
			    uint16_t lport)
{
	if ((cat == NS_CAT_CONN && s->n_conn >= s->max_conn) ||
	    (cat == NS_CAT_HALF && s->n_half >= s->max_half) || s->free_head < 0)
		return NULL;
	int32_t i = s->free_head;
	struct ns_tcb *tp = &s->tcb[i];
	s->free_head = tp->lnext;
	/* A slot may still sit on the event or output list from its previous
	 * life: keep those links (the lists skip stale entries, and a reused
	 * slot simply inherits its place). */
	uint32_t keep = tp->flags & (NS_TF_ONEV | NS_TF_ONOUT);
	int32_t evnext = tp->evnext, onext = tp->onext;
	uint32_t gen = tp->gen + 1;
	memset(tp, 0, sizeof(*tp));
	tp->flags = keep;
	tp->evnext = evnext;
	tp->onext = onext;
	tp->gen = gen;
	tp->lprev = tp->lnext = -1;
	tp->wprev = tp->wnext = -1;
	tp->handle = -1;
	tp->rip = rip;
	tp->rport = rport;
	tp->lport = lport;
	tp->state = NS_CLOSED;
	uint32_t b = tuple_hash(s, rip, rport, lport) & s->hmask;
	tp->hnext = s->hbucket[b];
	s->hbucket[b] = i;
	ns_tcb_set_cat(s, tp, cat);
	return tp;
}

void ns_rxq_release(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return;
	s->rx_held -= tp->rxq_cnt + tp->ooo_cnt;
	while (tp->rxq_cnt > 0) {
		rte_pktmbuf_free(tp->buf->rxq[tp->rxq_head].m);
		tp->rxq_head = (tp->rxq_head + 1) % s->rxq_cap;
		tp->rxq_cnt--;
	}
	tp->rxq_head = 0;
	tp->rx_bytes = 0;
	for (uint32_t k = 0; k < tp->ooo_cnt; k++)
		rte_pktmbuf_free(tp->buf->ooo[k].m);
	tp->ooo_cnt = 0;
}

int ns_tcb_get_buf(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->buf)
		return 0;
	struct ns_cbuf *b = s->cbuf_free;
	if (b) {
		s->cbuf_free = b->next_free;
	} else {
		b = malloc(s->cbuf_bytes);
		if (!b)
			return -ENOMEM;
		s->cbuf_count++;
		b->rxq = (struct ns_seg *)(b + 1);
		b->ooo = b->rxq + s->rxq_cap;
		b->sndq = (struct ns_txb *)(b->ooo + s->ooo_cap);
	}
	b->next_free = NULL;
	tp->buf = b;
	tp->rxq_head = tp->rxq_cnt = 0;
	tp->rx_bytes = 0;
	tp->ooo_cnt = 0;
	tp->snd_len = 0;
	tp->sndq_head = tp->sndq_cnt = tp->sndq_hint = 0;
	b->tmpl.gen = 0;
	return 0;
}

void ns_tcb_put_buf(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return;
	ns_rxq_release(s, tp);
	ns_sndq_release(s, tp);
	tp->sb_cnt = 0;                 /* the scoreboard lives in the buffer */
	tp->buf->next_free = s->cbuf_free;
	s->cbuf_free = tp->buf;
	tp->buf = NULL;
}

void ns_handle_bind(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->handle >= 0)
		return;
	/* handles in use <= live connections < max_conn: never empty here */
	RTE_VERIFY(s->hfree_n > 0);
	int32_t h = s->hfree[--s->hfree_n];
	s->h2t[h] = ns_tcb_idx(s, tp);
	tp->handle = h;
}

void ns_handle_release(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->handle < 0)
		return;
	/* h2t keeps pointing at the slot until the handle is reused, so test
	 * hooks can still look at a closed connection's state. */
	s->hfree[s->hfree_n++] = tp->handle;
	tp->handle = -1;
}

void ns_tcb_free(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->state == NS_FREE)
		return;
	ns_handle_release(s, tp);
	hash_remove(s, tp);
	tp->t_rexmt = tp->t_dack = tp->t_keep = tp->t_2msl = 0;
	ns_timer_unlink(s, tp);
	if (tp->flags & NS_TF_ACCQ) {
		list_remove(s, &s->acc_head, &s->acc_tail, tp);
		s->acc_len--;
		tp->flags &= ~NS_TF_ACCQ;
	}
	ns_tcb_put_buf(s, tp);
	ns_tcb_set_cat(s, tp, NS_CAT_NONE);
	tp->state = NS_FREE;
	tp->flags &= NS_TF_ONEV | NS_TF_ONOUT;
	tp->udata = NULL;
	tp->lnext = s->free_head;
	tp->lprev = -1;
	s->free_head = ns_tcb_idx(s, tp);
}

void ns_tcb_init_common(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->rto_us = NS_RTO_INIT_US;
	tp->ssthresh = 0x7fffffffu;
	tp->cwnd = 0;
	tp->mss = 536;
	tp->rcv_mss = 536;
	uint8_t ws = 0;
	while (ws < 14 && (s->conf.rcvbuf >> ws) > 65535u)
		ws++;
	tp->rcv_ws = ws;
	tp->last_rx_us = s->now_us;
	tp->last_send_us = s->now_us;
}

uint32_t ns_tcp_isn(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport)
{
	/* RFC 6528: a 4 us clock plus a keyed hash of the connection id. */
	uint64_t w[2] = { ((uint64_t)rip << 32) | ((uint64_t)rport << 16) | lport,
			  ((uint64_t)s->conf.ip << 32) | 0x15u };
	return (uint32_t)ns_siphash(s->sipkey, w, 2) + (uint32_t)(s->now_us >> 2);
}

uint32_t ns_tcp_ts_off(const struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint64_t w[2] = { ((uint64_t)rip << 32) | ((uint64_t)rport << 16) | lport,
			  ((uint64_t)s->conf.ip << 32) | 0x75u };
	return (uint32_t)ns_siphash(s->sipkey, w, 2);
}

/* ------------------------------------------------------ SYN cookies */

/* MSS values a cookie can carry (3 bits). */
static const uint16_t cookie_mss[] = { 536, 1024, 1220, 1360, 1440, 1460, 4312, 8960 };

static uint32_t cookie_hash(const struct ns_stack *s, uint32_t rip, uint16_t rport,
			    uint16_t lport, uint64_t count)
{
	uint64_t w[3] = { ((uint64_t)rip << 32) | ((uint64_t)rport << 16) | lport,
			  ((uint64_t)s->conf.ip << 32) | 0xc0u, count };
	return (uint32_t)ns_siphash(s->sipkey, w, 3);
}

/* cookie = H(tuple) + peer_seq + count<<24 + ((H(tuple, count) + mss_idx) mod 2^24):
 * the top byte dates it, the low 24 bits authenticate it and carry the MSS. */
uint32_t ns_cookie_make(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
			uint32_t peer_seq, uint16_t mss, uint16_t *mss_used)
{
	unsigned idx = 0;
	for (unsigned i = 0; i < sizeof(cookie_mss) / sizeof(cookie_mss[0]); i++)
		if (cookie_mss[i] <= mss)
			idx = i;
	*mss_used = cookie_mss[idx];
	uint64_t count = s->now_us / NS_COOKIE_PERIOD_US + 1;
	return cookie_hash(s, rip, rport, lport, UINT64_MAX) + peer_seq + ((uint32_t)count << 24) +
	       ((cookie_hash(s, rip, rport, lport, count) + idx) & 0xffffffu);
}

int ns_cookie_check(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
		    uint32_t peer_seq, uint32_t cookie, uint16_t *mss)
{
	uint64_t now_count = s->now_us / NS_COOKIE_PERIOD_US + 1;
	uint32_t diff = cookie - cookie_hash(s, rip, rport, lport, UINT64_MAX) - peer_seq;
	uint32_t age = ((uint32_t)now_count - (diff >> 24)) & 0xffu;
	if (age > NS_COOKIE_MAX_AGE || age >= now_count)
		return -1;
	uint64_t count = now_count - age;
	uint32_t idx = (diff - cookie_hash(s, rip, rport, lport, count)) & 0xffffffu;
	if (idx >= sizeof(cookie_mss) / sizeof(cookie_mss[0]))
		return -1;
	*mss = cookie_mss[idx];
	return 0;
}

/* ------------------------------------------------------ transitions */

void ns_tcp_drop(struct ns_stack *s, struct ns_tcb *tp, int err)
{
	bool user_holds = !(tp->flags & (NS_TF_ORPHAN | NS_TF_ACCQ)) && tp->cat == NS_CAT_CONN;
	if (!user_holds) {
		ns_tcb_free(s, tp);
		return;
	}
	/* The user still owns the handle: keep the slot as CLOSED until
	 * ns_close(), report the error through recv/send. */
	tp->t_rexmt = tp->t_dack = tp->t_keep = tp->t_2msl = 0;
	ns_timer_unlink(s, tp);
	ns_tcb_put_buf(s, tp);
	tp->state = NS_CLOSED;
	tp->err = err ? err : EPIPE;
	tp->flags &= ~(NS_TF_ACKNOW | NS_TF_FINQ);
	ns_ev_post(s, tp, NS_TF_EVRD | ((tp->flags & NS_TF_WRINT) ? NS_TF_EVWR : 0));
	/* READABLE must be seen even by a user who switched read interest off
	 * (a failed connect reports READABLE by contract). */
	tp->flags |= NS_TF_RDINT;
}

void ns_tcp_enter_time_wait(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->state = NS_TIME_WAIT;
	ns_tcb_put_buf(s, tp);
	tp->t_rexmt = tp->t_dack = tp->t_keep = 0;
	tp->flags &= ~NS_TF_PERSIST;
	tp->t_2msl = s->now_us + s->time_wait_us;
	ns_tcb_set_cat(s, tp, NS_CAT_TW);
	ns_timer_sched(s, tp);
}

void ns_tcp_established(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->state = NS_ESTABLISHED;
	tp->flags |= NS_TF_OPENED;
	s->st.conns_opened++;
	/* RFC 6928 initial window, RFC 5681 3.1 otherwise. */
	uint32_t iw = 10u * tp->mss;
	if (iw > 14600u && 4u * tp->mss <= 14600u)
		iw = 14600u > 2u * tp->mss ? 14600u : 2u * tp->mss;
	tp->cwnd = iw;
	tp->rxtshift = 0;
	tp->last_rx_us = s->now_us;
	ns_tcp_keep_reset(s, tp);
	if (tp->flags & NS_TF_PASSIVE) {
		ns_tcb_set_cat(s, tp, NS_CAT_CONN);
		ns_handle_bind(s, tp);
		tp->flags |= NS_TF_ACCQ | NS_TF_RDINT;
		list_append(s, &s->acc_head, &s->acc_tail, tp);
		s->acc_len++;
	} else {
		ns_ev_post(s, tp, NS_TF_ESTEV | NS_TF_EVWR);
	}
}
