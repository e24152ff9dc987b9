/* dataplane/stack/tcp_in.c — TCP segment arrival: header and option
 * validation, the listener (half-open table, SYN cookies), SYN_SENT, and
 * the synchronized states following RFC 793's "SEGMENT ARRIVES" with the
 * RFC 5961 hardening (exact-sequence RST, challenge ACKs, ACK range check),
 * RFC 7323 timestamps and PAWS, on the ACK side SACK loss recovery (RFC
 * 6675, scoreboard in tcp_out.c) or RFC 5681/6582 NewReno without SACK, and
 * zero-copy receive: accepted payload stays in its mbuf, referenced from
 * the connection's in-order ring or its bounded out-of-order queue.
 *
 * The mbuf travels by pointer-to-pointer: a function that keeps it sets
 * *mp = NULL, and ns_tcp_input() frees whatever is left. */
#include <errno.h>
#include <string.h>

#include "dataplane/stack/stack_int.h"

#define PAWS_IDLE_US (24ull * 24 * 3600 * 1000000u)

struct seginfo {
	uint32_t rip;
	uint16_t rport, lport;
	uint32_t seq, ack;
	uint32_t len;                /* payload bytes */
	uint32_t poff;               /* payload offset in the frame */
	uint16_t wnd;                /* raw window field */
	uint8_t flags;
	bool has_mss, has_ws, has_sackok, has_ts;
	uint16_t mss;
	uint8_t ws;
	uint8_t nsack;               /* SACK blocks in sack[] */
	uint32_t tsval, tsecr;
	uint32_t sack[4][2];         /* [start, end) as received */
};

/* ----------------------------------------------------- parsing */

static int parse_options(const uint8_t *p, unsigned n, struct seginfo *si)
{
	unsigned i = 0;
	while (i < n) {
		uint8_t kind = p[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		uint8_t len = p[i + 1];
		if (len < 2 || i + len > n)
			return -1;
		switch (kind) {
		case 2:
			if (len != 4)
				return -1;
			si->has_mss = true;
			si->mss = (uint16_t)((p[i + 2] << 8) | p[i + 3]);
			break;
		case 3:
			if (len != 3)
				return -1;
			si->has_ws = true;
			si->ws = p[i + 2] > 14 ? 14 : p[i + 2];   /* RFC 7323 2.3 */
			break;
		case 4:
			if (len != 2)
				return -1;
			si->has_sackok = true;
			break;
		case 5:
			/* SACK blocks (RFC 2018): at most 4 fit in 40 bytes. Only
			 * the first option counts; its blocks are checked against
			 * what was sent when the ACK is processed. */
			if (len < 10 || (len - 2) % 8 != 0)
				return -1;
			if (si->nsack == 0) {
				for (unsigned k = 0; k < (len - 2u) / 8u && k < 4; k++) {
					const uint8_t *q = p + i + 2 + 8 * k;
					si->sack[k][0] = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) |
							 ((uint32_t)q[2] << 8) | q[3];
					si->sack[k][1] = ((uint32_t)q[4] << 24) | ((uint32_t)q[5] << 16) |
							 ((uint32_t)q[6] << 8) | q[7];
					si->nsack = (uint8_t)(k + 1);
				}
			}
			break;
		case 8:
			if (len != 10)
				return -1;
			si->has_ts = true;
			si->tsval = ((uint32_t)p[i + 2] << 24) | ((uint32_t)p[i + 3] << 16) |
				    ((uint32_t)p[i + 4] << 8) | p[i + 5];
			si->tsecr = ((uint32_t)p[i + 6] << 24) | ((uint32_t)p[i + 7] << 16) |
				    ((uint32_t)p[i + 8] << 8) | p[i + 9];
			break;
		default:
			break;
		}
		i += len;
	}
	return 0;
}

/* ------------------------------------------------- held payload runs */

static void seg_init(struct ns_seg *r, struct rte_mbuf *m, uint32_t off, uint32_t len,
		     uint32_t seq)
{
	struct rte_mbuf *g = m;
	while (g && off >= g->data_len && g->next) {
		off -= g->data_len;
		g = g->next;
	}
	r->m = m;
	r->seg = g;
	r->off = (uint16_t)off;
	r->len = len;
	r->seq = seq;
}

static void seg_trim_front(struct ns_seg *r, uint32_t k)
{
	r->len -= k;
	r->seq += k;
	uint32_t off = r->off + k;
	while (r->seg && off >= r->seg->data_len && r->seg->next) {
		off -= r->seg->data_len;
		r->seg = r->seg->next;
	}
	r->off = (uint16_t)off;
}

/* Append a run to the in-order ring. Small runs are copied into the tail
 * mbuf when it has room and nobody else references it, which bounds the
 * mbufs a connection holds for a stream of tiny segments. Returns false
 * when the ring is full: the segment is dropped, not acknowledged.
 * In-order data is not held to the instance budget (s->rx_held_max): the
 * window bounds it, and refusing it could wedge a connection whose
 * out-of-order queue used the budget up. */
static bool rxq_append(struct ns_stack *s, struct ns_tcb *tp, struct ns_seg *r)
{
	struct ns_seg *q = tp->buf->rxq;
	if (tp->rxq_cnt > 0 && (r->len <= 512 || tp->rxq_cnt >= s->rxq_cap - 2)) {
		struct ns_seg *t = &q[(tp->rxq_head + tp->rxq_cnt - 1) % s->rxq_cap];
		struct rte_mbuf *tm = t->m;
		if (t->seg == tm && tm->nb_segs == 1 && RTE_MBUF_DIRECT(tm) &&
		    rte_mbuf_refcnt_read(tm) == 1 && r->seg->data_len >= r->off + r->len &&
		    (uint32_t)t->off + t->len + r->len <= (uint32_t)tm->buf_len - tm->data_off) {
			uint8_t *dst = rte_pktmbuf_mtod_offset(tm, uint8_t *, t->off + t->len);
			memcpy(dst, rte_pktmbuf_mtod_offset(r->seg, const uint8_t *, r->off), r->len);
			t->len += r->len;
			tm->data_len = (uint16_t)(t->off + t->len);
			tm->pkt_len = tm->data_len;
			s->xst.rx_coalesced++;
			rte_pktmbuf_free(r->m);
			r->m = NULL;
			return true;
		}
	}
	if (tp->rxq_cnt >= s->rxq_cap)
		return false;
	q[(tp->rxq_head + tp->rxq_cnt) % s->rxq_cap] = *r;
	tp->rxq_cnt++;
	s->rx_held++;
	r->m = NULL;
	return true;
}

static void ooo_remove(struct ns_stack *s, struct ns_tcb *tp, unsigned i)
{
	memmove(&tp->buf->ooo[i], &tp->buf->ooo[i + 1], (tp->ooo_cnt - i - 1) * sizeof(struct ns_seg));
	tp->ooo_cnt--;
	s->rx_held--;
}

/* Hold an out-of-order run (seq > rcv_nxt), keeping the queue sorted and
 * disjoint. Takes r->m (kept or freed). Returns true if any new byte was
 * stored. */
static bool ooo_insert(struct ns_stack *s, struct ns_tcb *tp, struct ns_seg *r)
{
	struct ns_seg *v = tp->buf->ooo;
	uint32_t end = r->seq + r->len;
	unsigned i = 0;
	while (i < tp->ooo_cnt) {
		struct ns_seg *e = &v[i];
		uint32_t eend = e->seq + e->len;
		if (SEQ_LEQ(eend, r->seq)) {
			i++;
			continue;
		}
		if (SEQ_GEQ(e->seq, end))
			break;
		if (SEQ_LEQ(e->seq, r->seq) && SEQ_GEQ(eend, end)) {
			s->xst.dup_segments++;
			rte_pktmbuf_free(r->m);
			r->m = NULL;
			return false;
		}
		if (SEQ_LEQ(e->seq, r->seq)) {
			seg_trim_front(r, eend - r->seq);
			i++;
			continue;
		}
		if (SEQ_LEQ(eend, end)) {
			rte_pktmbuf_free(e->m);
			ooo_remove(s, tp, i);
			continue;
		}
		r->len = e->seq - r->seq;    /* new run stops where e starts */
		end = e->seq;
		break;
	}
	if (tp->ooo_cnt < s->ooo_cap && s->rx_held >= s->rx_held_max) {
		s->st.drop_ooo_full++;
		rte_pktmbuf_free(r->m);
		r->m = NULL;
		return false;
	}
	if (tp->ooo_cnt >= s->ooo_cap) {
		/* Full: keep what is closer to rcv_nxt, it is needed sooner. */
		if (i >= tp->ooo_cnt) {
			s->st.drop_ooo_full++;
			rte_pktmbuf_free(r->m);
			r->m = NULL;
			return false;
		}
		s->st.drop_ooo_full++;
		rte_pktmbuf_free(v[tp->ooo_cnt - 1].m);
		tp->ooo_cnt--;
		s->rx_held--;
	}
	memmove(&v[i + 1], &v[i], (tp->ooo_cnt - i) * sizeof(struct ns_seg));
	v[i] = *r;
	tp->ooo_cnt++;
	s->rx_held++;
	tp->ooo_recent = r->seq;
	r->m = NULL;
	s->xst.ooo_queued++;
	return true;
}

/* Move what the out-of-order queue now continues into the in-order ring
 * (one memmove for all the entries taken). */
static void reassemble(struct ns_stack *s, struct ns_tcb *tp)
{
	struct ns_seg *v = tp->buf->ooo;
	uint32_t i = 0;
	while (i < tp->ooo_cnt) {
		struct ns_seg *e = &v[i];
		if (SEQ_GT(e->seq, tp->rcv_nxt))
			break;
		uint32_t eend = e->seq + e->len;
		if (SEQ_LEQ(eend, tp->rcv_nxt)) {
			rte_pktmbuf_free(e->m);
			i++;
			continue;
		}
		if (e->seq != tp->rcv_nxt)
			seg_trim_front(e, tp->rcv_nxt - e->seq);
		struct ns_seg r = *e;
		if (!rxq_append(s, tp, &r))
			break;
		tp->rcv_nxt = eend;
		tp->rx_bytes += e->len;
		i++;
	}
	if (i) {
		memmove(v, v + i, (tp->ooo_cnt - i) * sizeof(*v));
		tp->ooo_cnt -= i;
		s->rx_held -= i;
	}
}

/* ------------------------------------------------------ helpers */

static void challenge_ack(struct ns_stack *s, struct ns_tcb *tp)
{
	/* RFC 5961 7: a per-instance budget per second. */
	if (s->now_us - s->chal_epoch_us >= 1000000u) {
		s->chal_epoch_us = s->now_us;
		s->chal_count = 0;
	}
	if (s->chal_count >= NS_CHALLENGE_PER_S)
		return;
	s->chal_count++;
	s->xst.challenge_acks++;
	ns_tcp_send_ack(s, tp);
}

static void no_conn_rst(struct ns_stack *s, const struct seginfo *si)
{
	s->st.drop_no_conn++;
	if (si->flags & TH_RST)
		return;
	if (si->flags & TH_ACK)
		ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
	else
		ns_tcp_respond(s, si->rip, si->rport, si->lport, 0,
			       si->seq + si->len + ((si->flags & TH_SYN) ? 1u : 0u) +
			       ((si->flags & TH_FIN) ? 1u : 0u), TH_RST | TH_ACK);
}

static void apply_syn_options(struct ns_stack *s, struct ns_tcb *tp, const struct seginfo *si)
{
	uint16_t ours = (uint16_t)(s->conf.mtu - 40u);
	uint16_t peer = si->has_mss ? si->mss : 536;
	if (peer < 64)
		peer = 64;
	tp->mss = peer < ours ? peer : ours;
	if (!si->has_ts)
		tp->flags &= ~NS_TF_TS;
	if (!si->has_sackok)
		tp->flags &= ~NS_TF_SACK;
	if (si->has_ws && (tp->flags & NS_TF_WS)) {
		tp->snd_ws = si->ws;
	} else {
		tp->flags &= ~NS_TF_WS;
		tp->snd_ws = 0;
		tp->rcv_ws = 0;
	}
	if (si->has_ts) {
		tp->ts_recent = si->tsval;
		tp->ts_recent_us = s->now_us;
	}
	tp->rcv_mss = tp->mss < 536 ? tp->mss : 536;
}

static bool accept_room(const struct ns_stack *s)
{
	return s->acc_len < (uint32_t)s->conf.backlog;
}

/* ------------------------------------------------------ listener */

static void listen_input(struct ns_stack *s, struct seginfo *si, struct rte_mbuf **mp);

static void syn_cookie_reply(struct ns_stack *s, const struct seginfo *si)
{
	uint16_t ours = (uint16_t)(s->conf.mtu - 40u);
	uint16_t peer = si->has_mss ? si->mss : 536;
	uint16_t mss_used;
	uint32_t iss = ns_cookie_make(s, si->rip, si->rport, si->lport, si->seq,
				      peer < ours ? peer : ours, &mss_used);
	int ws = -1;
	bool sack = false;
	uint32_t tsval = 0;
	if (si->has_ts) {
		/* Window scale and SACK ride in the low bits of our TSval and
		 * come back in the peer's TSecr. */
		uint8_t rws = 0;
		while (rws < 14 && (s->conf.rcvbuf >> rws) > 65535u)
			rws++;
		ws = si->has_ws ? rws : -1;
		sack = si->has_sackok;
		uint32_t bits = (si->has_ws ? (uint32_t)si->ws : 0xfu) | (sack ? 0x10u : 0);
		uint32_t now_ts = (uint32_t)(s->now_us / 1000u) +
				  ns_tcp_ts_off(s, si->rip, si->rport, si->lport);
		tsval = (now_ts & ~0x1fu) | bits;
		if (SEQ_GT(tsval, now_ts))
			tsval -= 0x20u;
	}
	s->st.syn_cookies_sent++;
	s->last_cookie_us = s->now_us ? s->now_us : 1;
	ns_tcp_send_synack_cookie(s, si->rip, si->rport, si->lport, iss, si->seq + 1, mss_used,
				  ws, sack, si->has_ts, tsval, si->tsval);
}

/* The largest segment the peer sends (delayed ACKs, silly-window check), at most
 * our MSS (or 536). The slow path and the fast path both note it. */
static inline void rcv_mss_note(struct ns_tcb *tp, uint32_t len)
{
	if (len > tp->rcv_mss) {
		uint16_t cap = tp->mss > 536 ? tp->mss : 536;
		tp->rcv_mss = (uint16_t)(len < cap ? len : cap);
	}
}

static void tcp_segment(struct ns_stack *s, struct ns_tcb *tp, struct seginfo *si,
			struct rte_mbuf **mp);
static bool rcv_in_order(struct ns_stack *s, struct ns_tcb *tp, struct ns_seg *r,
			 struct rte_mbuf **mp);

/* A valid ACK for a cookie we sent: the connection is born established. */
static void cookie_accept(struct ns_stack *s, struct seginfo *si, struct rte_mbuf **mp)
{
	uint16_t mss;
	if (ns_cookie_check(s, si->rip, si->rport, si->lport, si->seq - 1, si->ack - 1, &mss) < 0) {
		no_conn_rst(s, si);
		return;
	}
	if (s->n_conn >= s->max_conn) {
		s->st.drop_conn_limit++;
		ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
		return;
	}
	if (!accept_room(s))
		return;         /* the peer retransmits; maybe there is room then */
	struct ns_tcb *tp = ns_tcb_alloc(s, NS_CAT_CONN, si->rip, si->rport, si->lport);
	if (!tp)
		return;
	if (ns_tcb_get_buf(s, tp) < 0) {
		ns_tcb_free(s, tp);
		return;
	}
	ns_tcb_init_common(s, tp);
	tp->flags |= NS_TF_PASSIVE | NS_TF_COOKIE;
	uint16_t ours = (uint16_t)(s->conf.mtu - 40u);
	tp->mss = mss < ours ? mss : ours;
	tp->rcv_mss = tp->mss < 536 ? tp->mss : 536;
	tp->irs = si->seq - 1;
	tp->rcv_nxt = si->seq;
	/* the window our SYN-ACK offered (unscaled, as in any SYN) */
	tp->rcv_adv = si->seq + (s->conf.rcvbuf < 65535u ? s->conf.rcvbuf : 65535u);
	tp->last_ack_sent = si->seq;
	tp->iss = si->ack - 1;
	tp->snd_una = tp->snd_nxt = tp->snd_max = si->ack;
	tp->recover = tp->iss;
	tp->ts_off = ns_tcp_ts_off(s, si->rip, si->rport, si->lport);
	unsigned bits = si->has_ts ? (si->tsecr & 0x1fu) : 0xfu;
	if (si->has_ts) {
		tp->flags |= NS_TF_TS;
		tp->ts_recent = si->tsval;
		tp->ts_recent_us = s->now_us;
		if (bits & 0x10u)
			tp->flags |= NS_TF_SACK;
	}
	if ((bits & 0xfu) != 0xfu) {
		tp->flags |= NS_TF_WS;
		tp->snd_ws = (uint8_t)((bits & 0xfu) > 14 ? 14 : (bits & 0xfu));
	} else {
		tp->rcv_ws = 0;
		tp->snd_ws = 0;
	}
	tp->snd_wnd = (uint32_t)si->wnd << tp->snd_ws;
	tp->max_sndwnd = tp->snd_wnd;
	tp->snd_wl1 = si->seq;
	tp->snd_wl2 = si->ack;
	s->st.syn_cookies_ok++;
	ns_tcp_established(s, tp);
	tcp_segment(s, tp, si, mp);
}

static void listen_input(struct ns_stack *s, struct seginfo *si, struct rte_mbuf **mp)
{
	uint8_t fl = si->flags;
	if (fl & TH_RST)
		return;
	if (fl & TH_ACK) {
		if (!(fl & TH_SYN) && s->last_cookie_us &&
		    s->now_us - s->last_cookie_us < NS_COOKIE_MAX_AGE * NS_COOKIE_PERIOD_US) {
			cookie_accept(s, si, mp);
			return;
		}
		no_conn_rst(s, si);
		return;
	}
	if (!(fl & TH_SYN))
		return;
	s->xst.syn_received++;
	if (s->n_conn >= s->max_conn) {
		s->st.drop_conn_limit++;
		ns_tcp_respond(s, si->rip, si->rport, si->lport, 0, si->seq + 1, TH_RST | TH_ACK);
		return;
	}
	if (!accept_room(s)) {
		s->st.drop_conn_limit++;
		return;         /* as Linux: drop, the client retries */
	}
	if (s->n_half >= s->max_half) {
		syn_cookie_reply(s, si);
		return;
	}
	struct ns_tcb *tp = ns_tcb_alloc(s, NS_CAT_HALF, si->rip, si->rport, si->lport);
	if (!tp) {
		syn_cookie_reply(s, si);
		return;
	}
	ns_tcb_init_common(s, tp);
	tp->flags |= NS_TF_PASSIVE | NS_TF_TS | NS_TF_SACK | NS_TF_WS;
	apply_syn_options(s, tp, si);
	tp->irs = si->seq;
	tp->rcv_nxt = si->seq + 1;
	tp->rcv_adv = tp->rcv_nxt;
	tp->iss = ns_tcp_isn(s, si->rip, si->rport, si->lport);
	tp->snd_una = tp->snd_nxt = tp->snd_max = tp->iss;
	tp->recover = tp->iss;
	tp->ts_off = ns_tcp_ts_off(s, si->rip, si->rport, si->lport);
	tp->snd_wnd = si->wnd;          /* never scaled in a SYN */
	tp->max_sndwnd = tp->snd_wnd;
	tp->snd_wl1 = si->seq;
	tp->snd_wl2 = tp->iss;
	tp->state = NS_SYN_RCVD;
	ns_tcp_output(s, tp);
}

/* ------------------------------------------------------ SYN_SENT */

static void syn_sent_input(struct ns_stack *s, struct ns_tcb *tp, struct seginfo *si)
{
	uint8_t fl = si->flags;
	bool ack_ok = false;
	if (fl & TH_ACK) {
		if (SEQ_LEQ(si->ack, tp->iss) || SEQ_GT(si->ack, tp->snd_max)) {
			if (!(fl & TH_RST))
				ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
			return;
		}
		ack_ok = true;
	}
	if (fl & TH_RST) {
		if (ack_ok) {
			s->st.conns_reset++;
			ns_tcp_drop(s, tp, ECONNREFUSED);
		}
		return;
	}
	if (!(fl & TH_SYN))
		return;
	apply_syn_options(s, tp, si);
	tp->irs = si->seq;
	tp->rcv_nxt = si->seq + 1;
	tp->rcv_adv = tp->rcv_nxt;
	tp->last_rx_us = s->now_us;
	if (ack_ok) {
		if ((tp->flags & NS_TF_RTTING) && SEQ_GT(si->ack, tp->rtt_seq) && tp->rxtshift == 0)
			ns_tcp_rtt_sample(tp, s->now_us - tp->rtt_start_us);
		tp->flags &= ~NS_TF_RTTING;
		tp->snd_una = si->ack;
		tp->snd_wnd = (uint32_t)si->wnd << tp->snd_ws;
		tp->max_sndwnd = tp->snd_wnd;
		tp->snd_wl1 = si->seq;
		tp->snd_wl2 = si->ack;
		tp->t_rexmt = 0;
		tp->rxtshift = 0;
		ns_timer_sched(s, tp);
		ns_tcp_established(s, tp);
		tp->flags |= NS_TF_ACKNOW;
		ns_tcp_output_later(s, tp);
	} else {
		/* Simultaneous open (RFC 793 fig. 8): answer SYN-ACK. */
		tp->state = NS_SYN_RCVD;
		tp->snd_wnd = si->wnd;
		tp->snd_wl1 = si->seq;
		tp->snd_nxt = tp->iss;
		tp->t_rexmt = 0;
		tp->rxtshift = 0;
		ns_tcp_output(s, tp);
	}
}

/* ------------------------------------------------------ ACK side */

/* New data acknowledged (snd_una < ack <= snd_max). Returns true when the
 * ACK also covers our FIN. */
static bool new_ack(struct ns_stack *s, struct ns_tcb *tp, uint32_t ack)
{
	uint32_t acked = ack - tp->snd_una;
	uint32_t data_end = tp->snd_una + tp->snd_len;
	bool finacked = SEQ_GT(ack, data_end);
	uint32_t data_acked = finacked ? tp->snd_len : acked;
	bool partial = false;

	if ((tp->flags & NS_TF_RTTING) && SEQ_GT(ack, tp->rtt_seq)) {
		ns_tcp_rtt_sample(tp, s->now_us - tp->rtt_start_us);
		tp->flags &= ~NS_TF_RTTING;
	}
	tp->rxtshift = 0;
	tp->flags &= ~NS_TF_PTODONE;
	uint32_t mss = tp->mss;
	if (tp->flags & NS_TF_RECOVERY) {
		if (SEQ_GEQ(ack, tp->recover)) {
			/* Full ACK (RFC 6582 3.2 step 3; RFC 6675 leaves
			 * recovery here too). */
			uint32_t flight = tp->snd_max - ack;
			uint32_t c = (flight > mss ? flight : mss) + mss;
			tp->cwnd = c < tp->ssthresh ? c : tp->ssthresh;
			tp->flags &= ~(NS_TF_RECOVERY | NS_TF_SACKREC);
			tp->dupacks = 0;
		} else if (tp->flags & NS_TF_SACKREC) {
			/* RFC 6675: cwnd stays at ssthresh; pipe decides what
			 * goes next (output, via ns_tcp_output_later below). */
			if (SEQ_LT(tp->high_rxt, ack))
				tp->high_rxt = ack;
		} else {
			/* Partial ACK (step 4): retransmit the next hole, deflate. */
			partial = true;
			tp->cwnd = tp->cwnd > acked ? tp->cwnd - acked : 0;
			if (acked >= mss)
				tp->cwnd += mss;
			if (tp->cwnd < mss)
				tp->cwnd = mss;
		}
	} else {
		tp->dupacks = 0;
		/* Keep recover within 2^30 behind snd_una so "ack > recover"
		 * stays meaningful after gigabytes without loss. */
		if ((int32_t)(ack - tp->recover) > (1 << 30))
			tp->recover = ack - (1u << 30);
		if (tp->cwnd < tp->ssthresh) {
			tp->cwnd += acked < 2u * mss ? acked : 2u * mss;   /* RFC 3465 L=2 */
		} else {
			tp->ca_acc += acked;
			if (tp->ca_acc >= tp->cwnd) {
				tp->ca_acc -= tp->cwnd;
				tp->cwnd += mss;
			}
		}
		if (tp->cwnd > (1u << 30))
			tp->cwnd = 1u << 30;
	}
	tp->snd_una = ack;
	if (tp->buf && data_acked)
		ns_sndq_drop(s, tp, data_acked);
	if (tp->sb_cnt)
		ns_sack_trim(tp);
	if (SEQ_LT(tp->snd_nxt, tp->snd_una))
		tp->snd_nxt = tp->snd_una;
	if (partial)
		ns_tcp_rexmit_una(s, tp);
	if (tp->snd_una == tp->snd_max) {
		if (!(tp->flags & NS_TF_PERSIST))
			tp->t_rexmt = 0;        /* the wheel entry may stay (lazy) */
	} else {
		ns_tcp_set_rexmt(s, tp);
	}
	if (data_acked && (tp->flags & NS_TF_WRINT) &&
	    (tp->state == NS_ESTABLISHED || tp->state == NS_CLOSE_WAIT))
		ns_ev_post(s, tp, NS_TF_EVWR);
	ns_tcp_output_later(s, tp);
	return finacked;
}

/* A retransmission of this SACK recovery round was lost when data sent
 * after the round began is SACKed while holes the round resent are still
 * missing: start a new round over them. (RFC 6675 only notices this by
 * RTO; this is the "lost retransmit" check Linux makes from the same
 * evidence. Reordering can make it fire spuriously, which costs one
 * segment; waiting for an RTO costs 200 ms at least.) */
static void sack_check_round(struct ns_stack *s, struct ns_tcb *tp)
{
	if (SEQ_LEQ(tp->high_rxt, tp->snd_una) || ns_sack_bytes_above(tp, tp->rxt_mark) == 0)
		return;
	s->xst.sack_rounds++;
	tp->high_rxt = tp->snd_una;
	tp->rxt_mark = tp->snd_max;
}

static void dup_ack(struct ns_stack *s, struct ns_tcb *tp, uint32_t ack)
{
	bool sack = (tp->flags & NS_TF_SACK) && tp->sb_cnt > 0;
	if (tp->dupacks < 255)
		tp->dupacks++;
	if (tp->flags & NS_TF_RECOVERY) {
		if (tp->flags & NS_TF_SACKREC) {
			sack_check_round(s, tp);
			ns_tcp_output_later(s, tp);     /* pipe shrank */
		} else if (tp->dupacks > 3) {
			tp->cwnd += tp->mss;    /* inflate: a segment left the network */
			ns_tcp_output_later(s, tp);
		}
		return;
	}
	/* RFC 6675 5: DupThresh duplicates, or IsLost(HighACK + 1). Classic
	 * NewReno only counts exactly the third one. */
	if (sack ? !(tp->dupacks >= NS_DUPTHRESH || ns_sack_is_lost(tp, tp->snd_una)) :
		   tp->dupacks != NS_DUPTHRESH) {
		if (tp->dupacks < NS_DUPTHRESH)
			ns_tcp_output_later(s, tp);     /* limited transmit */
		return;
	}
	/* RFC 6582 3.2 step 1 (and RFC 6675 5.1 after an RTO): only when the
	 * ACK covers recover, so dupacks of segments sent before the last
	 * loss don't count. recover is one past the highest byte sent then. */
	if (!SEQ_GEQ(ack, tp->recover))
		return;
	ns_tcp_enter_recovery(s, tp);
}

void ns_tcp_enter_recovery(struct ns_stack *s, struct ns_tcb *tp)
{
	bool sack = (tp->flags & NS_TF_SACK) && tp->sb_cnt > 0;
	uint32_t flight = tp->snd_max - tp->snd_una;
	uint32_t half = flight / 2;
	tp->ssthresh = half > 2u * tp->mss ? half : 2u * tp->mss;
	tp->recover = tp->snd_max;
	tp->flags |= NS_TF_RECOVERY;
	tp->flags &= ~NS_TF_RTTING;
	s->st.fast_retransmits++;
	if (sack) {
		/* RFC 6675 5 (4): cwnd = ssthresh, resend the first hole, then
		 * pipe-limited output. */
		tp->flags |= NS_TF_SACKREC;
		tp->cwnd = tp->ssthresh;
		tp->rxt_mark = tp->snd_max;
		tp->high_rxt = tp->snd_una + ns_tcp_rexmit_una(s, tp);
	} else {
		ns_tcp_rexmit_una(s, tp);
		tp->cwnd = tp->ssthresh + 3u * tp->mss;
	}
	ns_tcp_set_rexmt(s, tp);
	ns_tcp_output_later(s, tp);
}

/* ------------------------------------------------------ FIN */

static void fin_input(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->rcv_nxt++;
	tp->flags |= NS_TF_EOF | NS_TF_ACKNOW;
	tp->flags &= ~NS_TF_FINOOO;
	ns_ev_post(s, tp, NS_TF_EVRD);
	switch (tp->state) {
	case NS_SYN_RCVD:
	case NS_ESTABLISHED:
		tp->state = NS_CLOSE_WAIT;
		break;
	case NS_FIN_WAIT_1:
		tp->state = NS_CLOSING;   /* our FIN not yet acknowledged */
		break;
	case NS_FIN_WAIT_2:
		ns_tcp_send_ack(s, tp);
		ns_tcp_enter_time_wait(s, tp);
		return;
	default:
		break;
	}
	ns_tcp_output_later(s, tp);
}

/* ------------------------------------------------ synchronized states */

static void tcp_segment(struct ns_stack *s, struct ns_tcb *tp, struct seginfo *si,
			struct rte_mbuf **mp)
{
	uint64_t now = s->now_us;
	uint8_t fl = si->flags;

	if (tp->state == NS_SYN_SENT) {
		syn_sent_input(s, tp, si);
		return;
	}
	if (tp->state == NS_CLOSED) {
		no_conn_rst(s, si);
		return;
	}
	/* A new SYN may take over a TIME_WAIT tuple when it is clearly newer
	 * (RFC 1122 4.2.2.13, RFC 6191). */
	if (tp->state == NS_TIME_WAIT && (fl & TH_SYN) && !(fl & (TH_ACK | TH_RST))) {
		bool ts = si->has_ts && (tp->flags & NS_TF_TS);
		bool paws_ok = !ts || SEQ_GEQ(si->tsval, tp->ts_recent);
		bool newer = SEQ_GT(si->seq, tp->rcv_nxt) || (ts && SEQ_GT(si->tsval, tp->ts_recent));
		if (paws_ok && newer && s->listening && tp->lport == s->conf.listen_port) {
			s->xst.tw_reused++;
			ns_tcb_free(s, tp);
			listen_input(s, si, mp);
			return;
		}
	}

	/* RST (RFC 5961 3.2): exact match resets, in-window gets a challenge. */
	if (fl & TH_RST) {
		uint32_t wnd = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
		if (si->seq == tp->rcv_nxt) {
			if (tp->state == NS_TIME_WAIT)
				return;         /* RFC 1337 */
			if (tp->state == NS_SYN_RCVD && (tp->flags & NS_TF_PASSIVE)) {
				ns_tcb_free(s, tp);
				return;
			}
			s->st.conns_reset++;
			ns_tcp_drop(s, tp, tp->state == NS_SYN_RCVD ? ECONNREFUSED : ECONNRESET);
		} else if (SEQ_GT(si->seq, tp->rcv_nxt) && SEQ_LT(si->seq, tp->rcv_nxt + (wnd ? wnd : 1))) {
			challenge_ack(s, tp);
		}
		return;
	}

	/* PAWS (RFC 7323 5.3). */
	if ((tp->flags & NS_TF_TS) && si->has_ts && SEQ_LT(si->tsval, tp->ts_recent) &&
	    now - tp->ts_recent_us < PAWS_IDLE_US) {
		s->xst.paws_drops++;
		if (si->len || (fl & (TH_SYN | TH_FIN)))
			ns_tcp_send_ack(s, tp);
		return;
	}

	/* SYN on a synchronized connection (RFC 5961 4.2). */
	if (fl & TH_SYN) {
		if (tp->state == NS_SYN_RCVD && si->seq == tp->irs && !(fl & TH_ACK)) {
			tp->snd_nxt = tp->iss;          /* our SYN-ACK was lost */
			s->xst.synack_retransmits++;
			ns_tcp_output(s, tp);
			return;
		}
		challenge_ack(s, tp);
		return;
	}
	if (!(fl & TH_ACK))
		return;

	tp->last_rx_us = now;
	tp->keep_probes = 0;

	/* Trim to the receive window (RFC 793 p. 69, BSD style: keep the ACK
	 * of a segment whose data is old or beyond the window). */
	uint32_t seq = si->seq, len = si->len, poff = si->poff;
	bool fin = fl & TH_FIN;
	uint32_t rwnd = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
	int32_t todrop = (int32_t)(tp->rcv_nxt - seq);
	if (todrop > 0) {
		if ((uint32_t)todrop > len || ((uint32_t)todrop == len && !fin)) {
			/* Entirely old. Data or FIN: the peer missed our ACK. A bare
			 * segment below what we acknowledged (a keepalive or window
			 * probe) is answered too (RFC 793 p. 69). */
			if (len > 0 || fin) {
				s->xst.dup_segments++;
				tp->flags |= NS_TF_ACKNOW;
			} else if (SEQ_LT(seq, tp->last_ack_sent)) {
				tp->flags |= NS_TF_ACKNOW;
			}
			if ((uint32_t)todrop > len)
				fin = false;        /* a FIN before rcv_nxt: old */
			todrop = (int32_t)len;
		}
		seq += (uint32_t)todrop;
		len -= (uint32_t)todrop;
		poff += (uint32_t)todrop;
	}
	int32_t over = (int32_t)((seq + len) - (tp->rcv_nxt + rwnd));
	if (over > 0) {
		tp->flags |= NS_TF_ACKNOW;
		if ((uint32_t)over >= len) {
			/* Nothing inside the window. At a closed window's edge it is
			 * a probe whose ACK still counts; anything else is dropped
			 * after our ACK. */
			if (!(rwnd == 0 && seq == tp->rcv_nxt)) {
				ns_tcp_output_later(s, tp);
				return;
			}
			len = 0;
		} else {
			len -= (uint32_t)over;
		}
		fin = false;
	}

	/* Timestamps: remember the newest TSval that is in sequence. */
	if ((tp->flags & NS_TF_TS) && si->has_ts && SEQ_GEQ(si->tsval, tp->ts_recent) &&
	    SEQ_LEQ(si->seq, tp->last_ack_sent)) {
		tp->ts_recent = si->tsval;
		tp->ts_recent_us = now;
	}

	/* ACK. */
	if (tp->state == NS_SYN_RCVD) {
		if (SEQ_LEQ(si->ack, tp->snd_una) || SEQ_GT(si->ack, tp->snd_max)) {
			ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
			return;
		}
		if (tp->flags & NS_TF_PASSIVE) {
			if (s->n_conn >= s->max_conn) {
				s->st.drop_conn_limit++;
				ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
				ns_tcb_free(s, tp);
				return;
			}
			if (!accept_room(s))
				return;     /* stay half-open; the SYN-ACK timer retries */
		}
		if (ns_tcb_get_buf(s, tp) < 0) {
			ns_tcp_respond(s, si->rip, si->rport, si->lport, si->ack, 0, TH_RST);
			ns_tcp_drop(s, tp, ENOMEM);
			return;
		}
		if ((tp->flags & NS_TF_RTTING) && tp->rxtshift == 0)
			ns_tcp_rtt_sample(tp, now - tp->rtt_start_us);
		tp->flags &= ~NS_TF_RTTING;
		tp->snd_una++;                  /* our SYN */
		tp->snd_wnd = (uint32_t)si->wnd << tp->snd_ws;
		tp->max_sndwnd = tp->snd_wnd;
		tp->snd_wl1 = si->seq;
		tp->snd_wl2 = si->ack;
		tp->t_rexmt = 0;
		tp->rxtshift = 0;
		ns_timer_sched(s, tp);
		ns_tcp_established(s, tp);
	}

	if (SEQ_GT(si->ack, tp->snd_max)) {
		/* Acknowledges what we never sent. */
		tp->flags |= NS_TF_ACKNOW;
		ns_tcp_output_later(s, tp);
		return;
	}
	if (SEQ_LT(si->ack, tp->snd_una - tp->max_sndwnd)) {
		challenge_ack(s, tp);   /* RFC 5961 5.2 */
		return;
	}
	bool finacked = false;
	uint32_t old_wnd = tp->snd_wnd;
	/* SACK blocks first: they tell both kinds of ACK what is missing. */
	uint32_t sacked = 0;
	if ((tp->flags & NS_TF_SACK) && si->nsack && tp->buf)
		sacked = ns_sack_update(s, tp, (const uint32_t (*)[2])si->sack, si->nsack);
	if (SEQ_GT(si->ack, tp->snd_una)) {
		finacked = new_ack(s, tp, si->ack);
		if ((tp->flags & NS_TF_SACKREC) && sacked)
			sack_check_round(s, tp);
	} else if (si->ack == tp->snd_una && tp->snd_max != tp->snd_una &&
		   ((tp->flags & NS_TF_SACK) && si->nsack ? sacked > 0 :
		    si->len == 0 && !(fl & TH_FIN) &&
		    ((uint32_t)si->wnd << tp->snd_ws) == old_wnd)) {
		/* RFC 6675 2: with SACK, a duplicate is an ACK that SACKs
		 * something new, whatever else it carries. */
		dup_ack(s, tp, si->ack);
	} else if (!((tp->flags & NS_TF_SACK) && si->nsack) &&
		   (si->len > 0 || ((uint32_t)si->wnd << tp->snd_ws) != old_wnd)) {
		/* Without SACK, data or a window change make the ACK no
		 * duplicate and break the run. With SACK, an ACK that only
		 * repeats known blocks (the peer's data segments do) says
		 * nothing either way and leaves the count alone. */
		tp->dupacks = 0;
	}

	/* Send window (RFC 793 p. 72). */
	if (SEQ_LT(tp->snd_wl1, si->seq) ||
	    (tp->snd_wl1 == si->seq && SEQ_LEQ(tp->snd_wl2, si->ack))) {
		uint32_t nw = (uint32_t)si->wnd << tp->snd_ws;
		if (nw > tp->max_sndwnd)
			tp->max_sndwnd = nw;
		if (nw > tp->snd_wnd)
			ns_tcp_output_later(s, tp);
		tp->snd_wnd = nw;
		tp->snd_wl1 = si->seq;
		tp->snd_wl2 = si->ack;
		if (nw > 0 && (tp->flags & NS_TF_PERSIST)) {
			tp->flags &= ~NS_TF_PERSIST;
			tp->t_rexmt = 0;
			tp->persist_n = 0;
			ns_timer_sched(s, tp);
			ns_tcp_output_later(s, tp);
		}
	}

	switch (tp->state) {
	case NS_FIN_WAIT_1:
		if (finacked) {
			tp->state = NS_FIN_WAIT_2;
			tp->t_2msl = now + NS_FIN_TIMEOUT_US;
			ns_timer_sched(s, tp);
		}
		break;
	case NS_CLOSING:
		if (finacked) {
			ns_tcp_enter_time_wait(s, tp);
			return;
		}
		break;
	case NS_LAST_ACK:
		if (finacked) {
			ns_tcp_drop(s, tp, 0);
			return;
		}
		break;
	case NS_TIME_WAIT:
		if (fl & TH_FIN) {
			/* The peer did not get our ACK of its FIN. */
			tp->flags |= NS_TF_ACKNOW;
			tp->t_2msl = now + s->time_wait_us;
			ns_timer_sched(s, tp);
			ns_tcp_output_later(s, tp);
		}
		return;
	default:
		break;
	}

	/* Payload. */
	if (len > 0) {
		if (tp->state != NS_ESTABLISHED && tp->state != NS_FIN_WAIT_1 &&
		    tp->state != NS_FIN_WAIT_2) {
			len = 0;                /* past the peer's FIN: ignore */
			fin = false;
		} else if (tp->flags & NS_TF_ORPHAN) {
			/* Nobody will read it (RFC 2525 2.17, as Linux). */
			ns_tcp_send_rst_tcb(s, tp);
			s->st.conns_reset++;
			ns_tcp_drop(s, tp, 0);
			return;
		}
	}
	if (len > 0) {
		struct ns_seg r;
		seg_init(&r, *mp, poff, len, seq);
		rcv_mss_note(tp, len);
		if (seq == tp->rcv_nxt) {
			if (!rcv_in_order(s, tp, &r, mp))
				fin = false;
		} else {
			bool stored = ooo_insert(s, tp, &r);
			*mp = NULL;
			if (fin && stored) {
				tp->flags |= NS_TF_FINOOO;
				tp->fin_seq = seq + len;
			}
			fin = false;
			/* an immediate duplicate ACK per segment (RFC 5681 4.2),
			 * not one per burst: the sender counts them */
			if (ns_tcp_send_ack(s, tp) < 0)
				tp->flags |= NS_TF_ACKNOW;
		}
		ns_tcp_output_later(s, tp);
	}

	if (fin && seq + len == tp->rcv_nxt && tp->state != NS_CLOSED) {
		switch (tp->state) {
		case NS_ESTABLISHED:
		case NS_FIN_WAIT_1:
		case NS_FIN_WAIT_2:
			fin_input(s, tp);
			return;
		default:
			tp->flags |= NS_TF_ACKNOW;      /* retransmitted FIN */
			break;
		}
	} else if ((tp->flags & NS_TF_FINOOO) && tp->fin_seq == tp->rcv_nxt && tp->ooo_cnt == 0 &&
		   (tp->state == NS_ESTABLISHED || tp->state == NS_FIN_WAIT_1 ||
		    tp->state == NS_FIN_WAIT_2)) {
		fin_input(s, tp);
		return;
	}
	if (tp->flags & NS_TF_ACKNOW)
		ns_tcp_output_later(s, tp);
}

/* Payload r starting at rcv_nxt: hold it, advance, decide the ACK (now,
 * or delayed). The caller puts tp on the output list afterwards. Returns
 * false when the in-order ring was full: dropped, an ACK is due. */
static void rcv_ack_due(struct ns_stack *s, struct ns_tcb *tp, uint32_t len, bool had_ooo);

static bool rcv_in_order(struct ns_stack *s, struct ns_tcb *tp, struct ns_seg *r,
			 struct rte_mbuf **mp)
{
	uint32_t len = r->len;
	bool had_ooo = tp->ooo_cnt > 0;
	if (!rxq_append(s, tp, r)) {
		s->st.drop_ooo_full++;
		tp->flags |= NS_TF_ACKNOW;
		return false;
	}
	*mp = NULL;
	tp->rcv_nxt += len;
	tp->rx_bytes += len;
	rcv_ack_due(s, tp, len, had_ooo);
	ns_ev_post(s, tp, NS_TF_EVRD);
	return true;
}

/* The ACK for len new in-order bytes: now, or delayed. */
static void rcv_ack_due(struct ns_stack *s, struct ns_tcb *tp, uint32_t len, bool had_ooo)
{
	if (had_ooo) {
		/* a hole filled: tell the sender now */
		reassemble(s, tp);
		if (ns_tcp_send_ack(s, tp) < 0)
			tp->flags |= NS_TF_ACKNOW;
	} else if (len >= tp->rcv_mss && ++tp->unacked_segs >= 2) {
		/* every second full segment, at once: a burst must not
		 * collapse into one stretch ACK, the sender's cwnd grows
		 * per ACK */
		if (ns_tcp_send_ack(s, tp) < 0)
			tp->flags |= NS_TF_ACKNOW;
	} else if (!tp->t_dack) {
		/* Scheduled by ns_tcp_flush if the reply does not carry
		 * the ACK first (tp goes on the output list). */
		tp->t_dack = s->now_us + NS_DACK_US;
	}
}

/* Offer in-order payload to the owner's hook (ns_set_deliver) instead of
 * queueing it. Only while nothing is queued: once a byte waits for
 * ns_recv, everything after it waits too, so the stream stays in order.
 * True when the hook took the mbuf: the bytes are read, so neither
 * rx_bytes nor the window changes. */
static bool rcv_deliver(struct ns_stack *s, struct ns_tcb *tp, struct rte_mbuf **mp,
			uint32_t off, uint32_t len)
{
	struct rte_mbuf *m = *mp;
	if (!s->deliver || tp->rx_bytes || !(tp->flags & NS_TF_RDINT) ||
	    (tp->flags & NS_TF_ACCQ) || (uint32_t)m->data_len < off + len ||
	    !s->deliver(s->deliver_arg, tp->handle, m,
			rte_pktmbuf_mtod_offset(m, const uint8_t *, off), len))
		return false;
	*mp = NULL;
	s->st.rx_direct++;
	tp->rcv_nxt += len;
	rcv_ack_due(s, tp, len, false);
	return true;
}

/* Header prediction (the common case of RFC 9293 3.10.7.4, as BSD and
 * Linux take it): an established connection, an in-sequence segment with
 * ACK (and maybe PSH) only, no option but a timestamp in the usual
 * NOP,NOP,TS layout, in order with nothing out of order held, inside the
 * window, the send window unchanged, not a duplicate ACK, no recovery or
 * persist in progress. Such a segment needs none of tcp_segment()'s
 * other checks (RST, SYN, trimming, PAWS drop, state changes) and gives
 * the same result through them; the unit tests compare the two paths.
 * Returns false, having changed nothing, when the segment is not of
 * that kind. */
static bool fast_path(struct ns_stack *s, struct ns_tcb *tp, const struct rte_tcp_hdr *th,
		      uint32_t doff, uint32_t poff, uint32_t len, struct rte_mbuf **mp)
{
	if ((th->tcp_flags & (0x3f & ~TH_PSH)) != TH_ACK || tp->state != NS_ESTABLISHED ||
	    !tp->buf || tp->ooo_cnt || tp->dupacks || s->no_fast_path ||
	    (tp->flags & (NS_TF_FINOOO | NS_TF_RECOVERY | NS_TF_PERSIST | NS_TF_ORPHAN)))
		return false;
	bool has_ts = false;
	uint32_t tsval = 0;
	if (doff == 32) {
		const uint8_t *o = (const uint8_t *)(th + 1);
		uint32_t w;
		memcpy(&w, o, 4);
		if (w != rte_cpu_to_be_32(0x0101080au))
			return false;
		memcpy(&w, o + 4, 4);
		tsval = rte_be_to_cpu_32(w);
		has_ts = (tp->flags & NS_TF_TS) != 0;
	} else if (doff != 20) {
		return false;
	}
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq), ack = rte_be_to_cpu_32(th->recv_ack);
	if (seq != tp->rcv_nxt || ((uint32_t)rte_be_to_cpu_16(th->rx_win) << tp->snd_ws) != tp->snd_wnd ||
	    SEQ_LT(ack, tp->snd_una) || SEQ_GT(ack, tp->snd_max) ||
	    (ack == tp->snd_una && len == 0 && tp->snd_max != tp->snd_una) ||
	    (has_ts && SEQ_LT(tsval, tp->ts_recent)))
		return false;
	uint32_t rwnd = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
	if (len > rwnd)
		return false;

	s->xst.fast_path++;
	tp->last_rx_us = s->now_us;
	tp->keep_probes = 0;
	if (has_ts && SEQ_LEQ(seq, tp->last_ack_sent)) {
		tp->ts_recent = tsval;
		tp->ts_recent_us = s->now_us;
	}
	if (SEQ_GT(ack, tp->snd_una))
		new_ack(s, tp, ack);    /* no FIN sent in ESTABLISHED */
	if (SEQ_LT(tp->snd_wl1, seq) || (tp->snd_wl1 == seq && SEQ_LEQ(tp->snd_wl2, ack))) {
		if (tp->snd_wnd > tp->max_sndwnd)
			tp->max_sndwnd = tp->snd_wnd;   /* as tcp_segment does */
		tp->snd_wl1 = seq;      /* the window itself is unchanged */
		tp->snd_wl2 = ack;
	}
	if (len > 0) {
		rcv_mss_note(tp, len);
		if (!rcv_deliver(s, tp, mp, poff, len)) {
			struct ns_seg r;
			seg_init(&r, *mp, poff, len, seq);
			rcv_in_order(s, tp, &r, mp);
		}
		ns_tcp_output_later(s, tp);
	}
	if (tp->flags & NS_TF_ACKNOW)
		ns_tcp_output_later(s, tp);
	return true;
}

/* ------------------------------------------------------ entry */

void ns_tcp_input(struct ns_stack *s, struct rte_mbuf *m, uint16_t l3_off, uint16_t ihl,
		  uint16_t ip_len)
{
	const struct rte_ipv4_hdr *iph = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, l3_off);
	uint32_t l4 = (uint32_t)l3_off + ihl;
	uint32_t tcp_len = (uint32_t)ip_len - ihl;
	if (tcp_len < 20 || m->data_len < l4 + 20) {
		s->st.drop_malformed++;
		goto drop;
	}
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, l4);
	uint32_t doff = (uint32_t)(th->data_off >> 4) * 4u;
	if (doff < 20 || doff > tcp_len || m->data_len < l4 + doff) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint32_t src = rte_be_to_cpu_32(iph->src_addr);
	uint64_t l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (s->conf.rx_csum_offload && l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		s->st.drop_bad_csum++;
		goto drop;
	}
	if (!s->conf.rx_csum_offload || l4f != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		uint64_t sum = ns_pseudo_sum(src, s->conf.ip, IPPROTO_TCP, (uint16_t)tcp_len);
		if (!ns_csum_mbuf(m, l4, tcp_len, &sum) || ns_csum_fold(sum) != 0xffff) {
			s->st.drop_bad_csum++;
			goto drop;
		}
	}
	struct ns_tcb *tp = ns_tcb_lookup(s, src, rte_be_to_cpu_16(th->src_port),
					  rte_be_to_cpu_16(th->dst_port));
	if (tp && fast_path(s, tp, th, doff, l4 + doff, tcp_len - doff, &m))
		goto drop;
	struct seginfo si;
	memset(&si, 0, sizeof(si));
	si.rip = src;
	si.rport = rte_be_to_cpu_16(th->src_port);
	si.lport = rte_be_to_cpu_16(th->dst_port);
	si.seq = rte_be_to_cpu_32(th->sent_seq);
	si.ack = rte_be_to_cpu_32(th->recv_ack);
	si.wnd = rte_be_to_cpu_16(th->rx_win);
	si.flags = th->tcp_flags & 0x3f;
	si.poff = l4 + doff;
	si.len = tcp_len - doff;
	if (si.rport == 0 || si.lport == 0 ||
	    (si.flags & (TH_SYN | TH_RST)) == (TH_SYN | TH_RST) ||
	    (si.flags & (TH_SYN | TH_FIN)) == (TH_SYN | TH_FIN) ||
	    parse_options((const uint8_t *)(th + 1), doff - 20, &si) < 0) {
		s->st.drop_malformed++;
		goto drop;
	}
	if (!(si.flags & TH_ACK))
		si.ack = 0;
	if (tp)
		tcp_segment(s, tp, &si, &m);
	else if (s->listening && si.lport == s->conf.listen_port)
		listen_input(s, &si, &m);
	else
		no_conn_rst(s, &si);
drop:
	if (m)
		rte_pktmbuf_free(m);
}
