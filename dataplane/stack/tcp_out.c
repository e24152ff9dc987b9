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
 * independent of what the PMD does with the mbufs it was given. */
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
	if (x->optlen)
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
		if (tp->t_dack) {
			tp->t_dack = 0;
			ns_timer_sched(s, tp);
		}
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
		if (tp->state != NS_FREE)
			ns_tcp_output(s, tp);
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
	for (;;) {
		uint32_t off = tp->snd_nxt - tp->snd_una;
		if (off > tp->snd_len)
			break;          /* FIN already sent */
		uint32_t avail = tp->snd_len - off;
		uint32_t wnd = tp->snd_wnd < tp->cwnd ? tp->snd_wnd : tp->cwnd;
		int64_t usable = (int64_t)wnd - (int64_t)off;
		uint32_t len = avail < maxseg ? avail : maxseg;
		if (usable < (int64_t)len)
			len = usable > 0 ? (uint32_t)usable : 0;
		bool fin = (tp->flags & NS_TF_FINQ) && off + len == tp->snd_len;
		if (len == 0 && !fin)
			break;
		/* Sender SWS avoidance (RFC 1122 4.2.3.4): a window-limited runt
		 * only if it is at least half the largest window seen. */
		if (len < avail && len < maxseg && !force && len < tp->max_sndwnd / 2)
			break;
		force = false;
		uint8_t flags = TH_ACK | (fin ? TH_FIN : 0);
		if (len > 0 && off + len == tp->snd_len)
			flags |= TH_PSH;
		uint32_t seq = tp->snd_nxt;
		if (tcb_xmit(s, tp, seq, len, flags) < 0) {
			ns_tcp_output_later(s, tp);
			break;
		}
		sent = true;
		if (SEQ_LT(seq, tp->snd_max))
			s->st.retransmits++;
		tp->snd_nxt = seq + len + (fin ? 1u : 0u);
		if (SEQ_GT(tp->snd_nxt, tp->snd_max)) {
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
		}
		tp->last_send_us = now;
		if (fin)
			break;
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

void ns_tcp_rexmit_una(struct ns_stack *s, struct ns_tcb *tp)
{
	if (!tp->buf)
		return;
	unsigned ol = data_options_len(tp);
	uint32_t maxseg = tp->mss > ol + 1 ? tp->mss - ol : 1;
	uint32_t len = tp->snd_len < maxseg ? tp->snd_len : maxseg;
	bool fin_sent = SEQ_GT(tp->snd_max, tp->snd_una + tp->snd_len);
	bool fin = (tp->flags & NS_TF_FINQ) && fin_sent && len == tp->snd_len;
	if (len == 0 && !fin)
		return;
	uint8_t flags = TH_ACK | (fin ? TH_FIN : 0) | (len == tp->snd_len && len ? TH_PSH : 0);
	if (tcb_xmit(s, tp, tp->snd_una, len, flags) < 0)
		return;         /* the RTO will retry */
	s->st.retransmits++;
	tp->flags &= ~NS_TF_RTTING;     /* Karn */
	tp->last_send_us = s->now_us;
}
