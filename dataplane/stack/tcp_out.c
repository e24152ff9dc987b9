/* dataplane/stack/tcp_out.c — everything the stack sends over TCP: segments
 * of a connection (SYN, data, FIN, pure ACKs, window probes) and stateless
 * answers (RST, SYN-ACK carrying a SYN cookie).
 *
 * Output is deferred: input processing and ns_send() only put a connection
 * on the output list; ns_tx_drain()/ns_timers() flush the list, so replies
 * written during one loop iteration leave as full segments carrying the ACK
 * for the request (piggybacking), and nothing is sent twice per iteration.
 *
 * Frames are built in one mbuf (or a chain when a segment does not fit,
 * e.g. jumbo MTU with 2 KiB mbufs). The payload is copied from the send
 * ring into the frame: TX is not zero-copy, which keeps retransmission
 * independent of what the PMD does with the mbufs it was given.
 *
 * Loss recovery's sending half lives here too: the SACK scoreboard and
 * the RFC 6675 pipe/NextSeg loop (sack_output), limited transmit, the
 * post-RTO resend that skips SACKed data, and the tail loss probe. */
#include <errno.h>
#include <string.h>

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
	const struct ns_tcb *dtp;    /* payload source (send ring) or NULL */
	uint32_t doff, dlen;         /* offset from snd_una, length */
};

static void ring_copy(const struct ns_stack *s, const struct ns_tcb *tp, uint32_t off,
		      uint8_t *dst, uint32_t n)
{
	uint32_t cap = s->conf.sndbuf;
	uint32_t pos = tp->snd_head + off;
	if (pos >= cap)
		pos -= cap;
	uint32_t first = cap - pos < n ? cap - pos : n;
	memcpy(dst, tp->buf->snd + pos, first);
	if (n > first)
		memcpy(dst + first, tp->buf->snd, n - first);
}

static int xmit_frame(struct ns_stack *s, const struct xmit *x)
{
	unsigned thl = 20u + x->optlen;
	unsigned hdr = HDRS + thl;
	struct rte_mbuf *m = ns_alloc(s);
	if (!m)
		return -ENOBUFS;
	uint32_t room = rte_pktmbuf_tailroom(m) - hdr;
	uint32_t first = x->dlen < room ? x->dlen : room;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(hdr + first));
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
	if (x->dlen) {
		ring_copy(s, x->dtp, x->doff, p + hdr, first);
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
			ring_copy(s, x->dtp, x->doff + done, d, k);
			last->next = n;
			last = n;
			m->nb_segs++;
			m->pkt_len += k;
			done += k;
		}
	}
	uint16_t tcp_len = (uint16_t)(thl + x->dlen);
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

/* Send one segment of tp. Data comes from the send ring at seq. */
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
		x.doff = seq - tp->snd_una;
		x.dlen = len;
	}
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
