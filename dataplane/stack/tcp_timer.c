/* dataplane/stack/tcp_timer.c — the instance's timer wheel and the TCP
 * timers it drives: retransmission (RFC 6298, with exponential backoff;
 * it also ends SACK/NewReno recovery and clears the SACK scoreboard),
 * SYN and SYN-ACK retries, persist (zero-window probes), delayed ACK,
 * keepalive, TIME_WAIT and the orphan FIN_WAIT_2 timeout.
 *
 * A connection is on the wheel once, at or before the earliest of its
 * deadlines (t_rexmt, t_dack, t_keep, t_2msl); when that slot comes round,
 * every due timer of the connection runs and it is put back at its next
 * deadline. Deadlines that move later or go away leave the entry where it
 * is (see ns_timer_sched), so wdeadline <= every deadline, not equal to
 * the earliest; the one exception is a delayed ACK armed during input,
 * which is scheduled when the connection's output runs (ns_tcp_flush) and
 * usually never is, because the reply carries the ACK.
 * The wheel has NS_WHEEL_SLOTS slots of NS_TICK_US; a deadline past one
 * revolution simply waits in its slot and is skipped until it is due.
 * Time only comes from the caller (now_us), so tests drive it. */
#include <errno.h>
#include <string.h>

#include "dataplane/stack/stack_int.h"

#define WHEEL_MASK (NS_WHEEL_SLOTS - 1u)
/* wslot value of an entry parked on the run list while its slot fires. */
#define WSLOT_RUN NS_WHEEL_SLOTS

static inline uint64_t tick_ceil(uint64_t us)
{
	return (us + NS_TICK_US - 1) / NS_TICK_US;
}

/* The list head an entry with this wslot hangs from. */
static int32_t *slot_head(struct ns_stack *s, uint32_t wslot)
{
	return wslot == WSLOT_RUN ? &s->wheel_run : &s->wheel[wslot];
}

void ns_timer_unlink(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->wdeadline == 0)
		return;
	int32_t *head = slot_head(s, tp->wslot);
	if (tp->wprev >= 0)
		s->tcb[tp->wprev].wnext = tp->wnext;
	else
		*head = tp->wnext;
	if (tp->wnext >= 0)
		s->tcb[tp->wnext].wprev = tp->wprev;
	if (tp->wslot != WSLOT_RUN && s->wheel[tp->wslot] < 0)
		s->wheel_bits[tp->wslot / 64] &= ~(1ull << (tp->wslot % 64));
	tp->wprev = tp->wnext = -1;
	tp->wdeadline = 0;
}

void ns_timer_sched(struct ns_stack *s, struct ns_tcb *tp)
{
	uint64_t d = ns_timer_earliest(tp);
	/* Lazy re-arm: an entry due no later than every deadline stays put.
	 * Most re-arms push a deadline later (the RTO restarted by each ACK
	 * and each send, keepalive) or clear it; leaving the entry costs one
	 * early wake-up, where fire() finds nothing due and puts it at the
	 * real earliest deadline, instead of an unlink and insert per
	 * segment. Only a deadline moving earlier touches the wheel. */
	if (tp->wdeadline && tp->wslot != WSLOT_RUN && (d == 0 || d >= tp->wdeadline))
		return;
	ns_timer_unlink(s, tp);
	if (d == 0)
		return;
	uint64_t tick = tick_ceil(d);
	if (tick <= s->wheel_tick)
		tick = s->wheel_tick + 1;
	uint32_t slot = (uint32_t)(tick & WHEEL_MASK);
	int32_t me = ns_tcb_idx(s, tp);
	tp->wslot = slot;
	tp->wprev = -1;
	tp->wnext = s->wheel[slot];
	if (tp->wnext >= 0)
		s->tcb[tp->wnext].wprev = me;
	s->wheel[slot] = me;
	s->wheel_bits[slot / 64] |= 1ull << (slot % 64);
	tp->wdeadline = d;
}

uint64_t ns_wheel_next(const struct ns_stack *s)
{
	/* First non-empty slot after the last processed tick: an entry in it
	 * may be due a revolution later, so this is a lower bound. */
	uint32_t start = (uint32_t)((s->wheel_tick + 1) & WHEEL_MASK);
	uint32_t w0 = start / 64;
	for (uint32_t i = 0; i <= NS_WHEEL_SLOTS / 64; i++) {
		uint32_t w = (w0 + i) % (NS_WHEEL_SLOTS / 64);
		uint64_t bits = s->wheel_bits[w];
		if (i == 0)
			bits &= ~0ull << (start % 64);
		if (bits) {
			uint32_t pos = w * 64 + (uint32_t)__builtin_ctzll(bits);
			uint32_t dist = (pos - start) & WHEEL_MASK;
			return (s->wheel_tick + 1 + dist) * NS_TICK_US;
		}
	}
	return UINT64_MAX;
}

/* ------------------------------------------------------ RTO helpers */

/* The probe timeout (RFC 8985 7.2): 2*SRTT, plus the worst-case delayed
 * ACK (WCDelAckT, 200 ms as the RFC and Linux take it) when a single
 * segment is out, never below two ticks. 0 when none applies:
 * without SACK (nothing to learn from the probe's answer), without an
 * RTT sample, during RTO backoff, or when a PTO already fired and no
 * ACK has moved snd_una since (one probe per stall: the RTO, with its
 * backoff, stays the last resort). */
static uint64_t pto_us(const struct ns_tcb *tp)
{
	if (!(tp->flags & NS_TF_SACK) || (tp->flags & NS_TF_PTODONE) || tp->srtt_us == 0 ||
	    tp->rxtshift > 0)
		return 0;
	uint64_t pto = 2ull * tp->srtt_us;
	if (tp->snd_max - tp->snd_una <= tp->mss)
		pto += NS_RTO_MIN_US;
	if (pto < 2u * NS_TICK_US)
		pto = 2u * NS_TICK_US;
	return pto;
}

static void arm_rto(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->flags &= ~(NS_TF_PERSIST | NS_TF_EARLY);
	tp->t_rexmt = s->now_us + ns_tcp_rto_cur(tp);
	ns_timer_note(s, tp, tp->t_rexmt);
}

void ns_tcp_arm_pto(struct ns_stack *s, struct ns_tcb *tp)
{
	uint64_t pto = pto_us(tp);
	if (!pto || (tp->flags & NS_TF_PERSIST))
		return;
	if (tp->t_rexmt && !(tp->flags & NS_TF_EARLY) && s->now_us + pto >= tp->t_rexmt)
		return;         /* the RTO comes first anyway */
	tp->flags |= NS_TF_EARLY;
	tp->t_rexmt = s->now_us + pto;
	ns_timer_note(s, tp, tp->t_rexmt);
}

void ns_tcp_set_rexmt(struct ns_stack *s, struct ns_tcb *tp)
{
	uint64_t rto = ns_tcp_rto_cur(tp), pto = pto_us(tp);
	tp->flags &= ~(NS_TF_PERSIST | NS_TF_EARLY);
	if (pto && pto < rto) {
		tp->flags |= NS_TF_EARLY;
		rto = pto;
	}
	tp->t_rexmt = s->now_us + rto;
	ns_timer_note(s, tp, tp->t_rexmt);
}

void ns_tcp_keep_reset(struct ns_stack *s, struct ns_tcb *tp)
{
	if (s->conf.keepalive_s > 0) {
		tp->keep_probes = 0;
		tp->t_keep = s->now_us + (uint64_t)s->conf.keepalive_s * 1000000u;
		ns_timer_note(s, tp, tp->t_keep);
	}
}

/* ------------------------------------------------------ handlers */

/* The probe timeout: no ACK moved snd_una for a PTO (RACK-TLP, RFC 8985,
 * in the small). With SACK information it means the first hole is lost
 * (start recovery) or, in recovery, that retransmissions were (resend
 * them); with none, resend the last segment so that its ACK reveals the
 * holes. Either way the real RTO is armed behind it. */
static void early_fire(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->flags &= ~NS_TF_EARLY;
	tp->flags |= NS_TF_PTODONE;
	if (tp->snd_una == tp->snd_max || !tp->buf)
		return;
	s->xst.pto_fired++;
	if (tp->flags & NS_TF_SACKREC) {
		s->xst.sack_rounds++;
		tp->high_rxt = tp->snd_una;
		tp->rxt_mark = tp->snd_max;
		ns_tcp_output(s, tp);
	} else if (!(tp->flags & NS_TF_RECOVERY) && tp->sb_cnt > 0 &&
		   SEQ_GEQ(tp->snd_una, tp->recover)) {
		s->xst.pto_recoveries++;
		ns_tcp_enter_recovery(s, tp);
		ns_tcp_output(s, tp);
	} else if (!(tp->flags & NS_TF_RECOVERY) && tp->snd_nxt == tp->snd_max) {
		if (ns_tcp_probe_tail(s, tp))
			s->xst.tail_probes++;
	}
	if (tp->state != NS_FREE && tp->snd_una != tp->snd_max)
		arm_rto(s, tp);
}

static void rexmt_fire(struct ns_stack *s, struct ns_tcb *tp)
{
	if (tp->flags & NS_TF_EARLY) {
		switch (tp->state) {
		case NS_ESTABLISHED:
		case NS_FIN_WAIT_1:
		case NS_CLOSE_WAIT:
		case NS_CLOSING:
		case NS_LAST_ACK:
			early_fire(s, tp);
			return;
		default:
			tp->flags &= ~NS_TF_EARLY;
			break;
		}
	}
	switch (tp->state) {
	case NS_SYN_SENT:
		if (++tp->rxtshift > NS_SYN_RETRIES) {
			ns_tcp_drop(s, tp, ETIMEDOUT);
			return;
		}
		s->st.rto_timeouts++;
		tp->snd_nxt = tp->iss;
		tp->flags &= ~NS_TF_RTTING;
		ns_tcp_output(s, tp);
		return;
	case NS_SYN_RCVD:
		if (++tp->rxtshift > NS_SYNACK_RETRIES) {
			s->xst.halfopen_dropped++;
			ns_tcp_drop(s, tp, ETIMEDOUT);
			return;
		}
		s->st.rto_timeouts++;
		s->xst.synack_retransmits++;
		tp->snd_nxt = tp->iss;
		tp->flags &= ~NS_TF_RTTING;
		ns_tcp_output(s, tp);
		return;
	case NS_ESTABLISHED:
	case NS_FIN_WAIT_1:
	case NS_CLOSE_WAIT:
	case NS_CLOSING:
	case NS_LAST_ACK:
		break;
	default:
		return;
	}
	if (tp->snd_una == tp->snd_max)
		return;                 /* everything was acknowledged meanwhile */
	if (++tp->rxtshift > NS_DATA_RETRIES) {
		ns_tcp_send_rst_tcb(s, tp);
		ns_tcp_drop(s, tp, ETIMEDOUT);
		return;
	}
	s->st.rto_timeouts++;
	/* RFC 5681 3.1 eq. 4 and RFC 6582: one segment of loss window, and
	 * dupacks from before the timeout must not start a fast retransmit. */
	uint32_t flight = tp->snd_max - tp->snd_una;
	uint32_t half = flight / 2;
	tp->ssthresh = half > 2u * tp->mss ? half : 2u * tp->mss;
	tp->cwnd = tp->mss;
	tp->ca_acc = 0;
	tp->recover = tp->snd_max;
	tp->dupacks = 0;
	tp->flags &= ~(NS_TF_RECOVERY | NS_TF_SACKREC | NS_TF_RTTING);
	/* RFC 6675 5.1 / RFC 2018 8: the receiver may have reneged on what
	 * it SACKed; without a reneging test, forget it all. SACKs that
	 * arrive after this are fresh and steer the go-back-N resend. */
	if (tp->sb_cnt) {
		ns_sack_clear(tp);
		s->xst.sack_reneged++;
	}
	tp->high_rxt = tp->snd_una;
	/* After a few backoffs the RTT estimate is suspect (RFC 6298 5.7
	 * leaves this open; BSD does the same): restart it from the next
	 * sample, keeping the backed-off RTO meanwhile. */
	if (tp->rxtshift > 3) {
		tp->rttvar_us += tp->srtt_us / 4;
		tp->srtt_us = 0;
	}
	tp->snd_nxt = tp->snd_una;
	tp->t_rexmt = 0;
	ns_tcp_output(s, tp);
	if (tp->state != NS_FREE && tp->t_rexmt == 0 && tp->snd_una != tp->snd_max)
		ns_tcp_set_rexmt(s, tp);
}

static void persist_fire(struct ns_stack *s, struct ns_tcb *tp)
{
	tp->flags &= ~NS_TF_PERSIST;
	uint32_t off = tp->snd_nxt - tp->snd_una;
	bool pending = tp->snd_len > off || (tp->flags & NS_TF_FINQ);
	if (!pending)
		return;
	if (tp->snd_wnd > 0) {
		/* The window opened (the update may have been small): send. */
		ns_tcp_output_force(s, tp);
		if (tp->state == NS_FREE || tp->t_rexmt)
			return;
	}
	if ((tp->flags & NS_TF_ORPHAN) && tp->persist_n >= NS_ORPHAN_PROBES) {
		ns_tcp_send_rst_tcb(s, tp);
		ns_tcp_drop(s, tp, ETIMEDOUT);
		return;
	}
	/* A zero-length segment one below snd_una is outside the receiver's
	 * window, which makes it answer with an ACK carrying its window. */
	s->xst.persist_probes++;
	ns_tcp_send_probe(s, tp);
	tp->persist_n++;
	uint64_t base = tp->rto_us;
	uint64_t iv = base << (tp->persist_n < 16 ? tp->persist_n : 16);
	if (iv < NS_PERSIST_MIN_US)
		iv = NS_PERSIST_MIN_US;
	if (iv > NS_PERSIST_MAX_US)
		iv = NS_PERSIST_MAX_US;
	tp->flags |= NS_TF_PERSIST;
	tp->t_rexmt = s->now_us + iv;
}

static void keep_fire(struct ns_stack *s, struct ns_tcb *tp)
{
	if (s->conf.keepalive_s <= 0 ||
	    (tp->state != NS_ESTABLISHED && tp->state != NS_CLOSE_WAIT))
		return;
	uint64_t idle_us = (uint64_t)s->conf.keepalive_s * 1000000u;
	uint64_t intvl_us = idle_us / 3 ? idle_us / 3 : 1000000u;
	if (s->now_us - tp->last_rx_us < idle_us) {
		tp->keep_probes = 0;
		tp->t_keep = tp->last_rx_us + idle_us;
		return;
	}
	if (tp->keep_probes >= 3) {
		ns_tcp_send_rst_tcb(s, tp);
		ns_tcp_drop(s, tp, ETIMEDOUT);
		return;
	}
	s->xst.keepalive_probes++;
	ns_tcp_send_probe(s, tp);
	tp->keep_probes++;
	tp->t_keep = s->now_us + intvl_us;
}

static void fire(struct ns_stack *s, struct ns_tcb *tp, uint64_t now)
{
	uint32_t gen = tp->gen;
#define GONE() (tp->state == NS_FREE || tp->gen != gen)
	if (tp->t_2msl && tp->t_2msl <= now) {
		tp->t_2msl = 0;
		if (tp->state == NS_TIME_WAIT || tp->state == NS_FIN_WAIT_2) {
			ns_tcp_drop(s, tp, ETIMEDOUT);
			return;
		}
	}
	if (tp->t_dack && tp->t_dack <= now) {
		tp->t_dack = 0;
		tp->flags |= NS_TF_ACKNOW;
		ns_tcp_output(s, tp);
		if (GONE())
			return;
	}
	if (tp->t_rexmt && tp->t_rexmt <= now) {
		tp->t_rexmt = 0;
		if (tp->flags & NS_TF_PERSIST)
			persist_fire(s, tp);
		else
			rexmt_fire(s, tp);
		if (GONE())
			return;
	}
	if (tp->t_keep && tp->t_keep <= now) {
		tp->t_keep = 0;
		keep_fire(s, tp);
		if (GONE())
			return;
	}
#undef GONE
	ns_timer_sched(s, tp);
}

void ns_wheel_run(struct ns_stack *s, uint64_t now_us)
{
	uint64_t cur = now_us / NS_TICK_US;
	if (cur <= s->wheel_tick)
		return;
	uint64_t n = cur - s->wheel_tick;
	if (n > NS_WHEEL_SLOTS)
		n = NS_WHEEL_SLOTS;
	for (uint64_t t = cur - n + 1; t <= cur; t++) {
		uint32_t slot = (uint32_t)(t & WHEEL_MASK);
		if (!(s->wheel_bits[slot / 64] & (1ull << (slot % 64))))
			continue;
		/* Park the slot's entries on the run list, then take them one
		 * by one: a callback may unlink or free any of them. Entries
		 * scheduled meanwhile land in later ticks, never on this list. */
		s->wheel_run = s->wheel[slot];
		s->wheel[slot] = -1;
		s->wheel_bits[slot / 64] &= ~(1ull << (slot % 64));
		for (int32_t i = s->wheel_run; i >= 0; i = s->tcb[i].wnext)
			s->tcb[i].wslot = WSLOT_RUN;
		s->wheel_tick = t;
		while (s->wheel_run >= 0) {
			struct ns_tcb *tp = &s->tcb[s->wheel_run];
			uint64_t d = tp->wdeadline;
			ns_timer_unlink(s, tp);
			if (d <= now_us)
				fire(s, tp, now_us);
			else
				ns_timer_sched(s, tp);
		}
	}
	s->wheel_tick = cur;
}
