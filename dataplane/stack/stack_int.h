/* dataplane/stack/stack_int.h — private structures of the userspace TCP/IP
 * stack (dataplane/netstack.h is its public face).
 *
 * One struct ns_stack per shard holds everything the instance touches: its
 * connection table (fixed slots allocated at ns_create), a hash of 4-tuples,
 * an ARP cache, a timer wheel and the queue of frames waiting for
 * ns_tx_drain(). Nothing here is shared between instances and nothing is
 * allocated from the heap per packet: frames come from the mempool given to
 * ns_create(), per-connection buffers come from a cache that only grows when
 * a connection is established and no buffer is free.
 *
 * Conventions: sequence numbers are compared with the SEQ_* macros (modulo
 * 2^32); addresses and ports in host byte order; times in microseconds
 * (now_us from the caller); connection slots are int32_t indices, -1 = none.
 * User handles (ns_conn_t) are not slots: they run 0..max_conns-1 (so the
 * owner can index a table by them) and are bound to a slot from accept or
 * connect until ns_close(); slots also hold half-open and TIME_WAIT state.
 * Only unit tests (tests/unit/tcp) include this header besides the stack. */
#ifndef KR_NS_STACK_INT_H
#define KR_NS_STACK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>

#include "dataplane/netstack.h"

/* ------------------------------------------------------------- limits */

#define NS_TICK_US          1000u        /* timer wheel granularity */
#define NS_WHEEL_SLOTS      4096u        /* 4.096 s per revolution */
#define NS_TXQ_CAP          8192u        /* frames waiting for ns_tx_drain */
#define NS_ARP_SETS         64u
#define NS_ARP_WAYS         4u
#define NS_ARP_QLEN         8u           /* frames held per unresolved entry */
#define NS_ARP_RETRIES      3u
#define NS_ARP_RETRY_US     1000000u
#define NS_ARP_LIFETIME_US  (300ull * 1000000u)
#define NS_RXQ_CAP_MAX      65536u       /* in-order runs held per conn */
#define NS_OOO_CAP_MAX      4096u        /* out-of-order segments held per conn */
#define NS_SACK_SB_MAX      32u          /* SACKed ranges a sender remembers */
#define NS_DUPTHRESH        3u           /* RFC 6675 DupThresh */

#define NS_DACK_US          40000u       /* delayed ACK */
#define NS_RTO_INIT_US      1000000u     /* RFC 6298 2.1 */
#define NS_RTO_MIN_US       200000u      /* Linux's floor; RFC 6298 allows it */
#define NS_RTO_MAX_US       60000000u
#define NS_PERSIST_MIN_US   200000u
#define NS_PERSIST_MAX_US   60000000u
#define NS_SYN_RETRIES      6u
#define NS_SYNACK_RETRIES   5u
#define NS_DATA_RETRIES     12u
#define NS_ORPHAN_PROBES    8u           /* persist probes an orphan gets */
#define NS_FIN_TIMEOUT_US   (60ull * 1000000u)
#define NS_TIME_WAIT_DEF_MS 60000u       /* 2*MSL with MSL = 30 s */
#define NS_COOKIE_PERIOD_US (64ull * 1000000u)
#define NS_COOKIE_MAX_AGE   2u           /* periods a cookie stays valid */
#define NS_CHALLENGE_PER_S  100u         /* RFC 5961 7: challenge ACK budget */
#define NS_TCP_MAX_OPT      40u
#define NS_HDRS_MAX         (14u + 20u + 60u)
#define NS_TX_RECYCLE       64u          /* acked queue mbufs kept for ns_send */

/* ------------------------------------------------- sequence arithmetic */

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

/* TCP header flag bits (the byte at offset 13). */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

/* ------------------------------------------------------ held payload */

/* A run of received payload bytes that stays in its mbuf (chain) until
 * ns_recv() copies it out: [seg+off, +len) possibly continuing in seg->next.
 * m is the chain head, freed once every byte has been consumed. */
struct ns_seg {
	struct rte_mbuf *m;
	struct rte_mbuf *seg;
	uint32_t seq;                /* first byte's sequence number (ooo queue) */
	uint32_t len;
	uint16_t off;
};

/* One mbuf of a connection's send queue: payload bytes [seq, seq+len) at
 * m->buf_addr + off. The queue never looks at m's data_off/data_len: once
 * the mbuf has been handed to the TX queue in place they belong to whoever
 * holds the other reference (the PMD, or in tests the peer stack). The
 * RTE_PKTMBUF_HEADROOM bytes before the first payload byte take the
 * Ethernet, IPv4 and TCP headers when the mbuf is sent in place. */
struct ns_txb {
	struct rte_mbuf *m;
	uint32_t seq;
	uint16_t off;
	uint16_t len;
};

/* A range of our sent data the peer reported holding (SACK), [start, end). */
struct ns_sack_range {
	uint32_t start, end;
};

struct ns_arp_ent;

/* A connection's Ethernet + IPv4 + TCP header (no options), built once
 * the next hop's MAC is known: a segment copies it and patches seq, ack,
 * flags, window, lengths and the IP id. The sums of its constant parts
 * make both checksums a sum over the variable words only (plus payload).
 * Valid while gen equals the instance's arp_gen (bumped whenever any ARP
 * entry changes or is reused) and the entry needs no refresh. */
struct ns_hdr_tmpl {
	uint8_t hdr[14 + 20 + 20];
	uint32_t gen;                /* 0: not built */
	struct ns_arp_ent *arp;      /* the next hop's entry */
	uint64_t ip_sum;             /* IP header with length, id, sum zero */
	uint64_t ps_sum;             /* pseudo header with length 0 */
	uint64_t tcp_sum;            /* ps_sum and the ports */
};

/* Per-connection buffers, taken from the instance's cache on establishment
 * and returned when the connection no longer needs them (TIME_WAIT, close).
 * One allocation: this header, rxq[rxq_cap], ooo[ooo_cap], sndq[sndq_cap].
 * The sender's SACK scoreboard (RFC 6675) lives here too: tcb.sb_cnt
 * ranges, sorted, disjoint, non-adjacent, all inside (snd_una, snd_max].
 * It is bounded; when full, the highest range is forgotten, which only
 * makes the sender believe less was received (never more). */
struct ns_cbuf {
	struct ns_cbuf *next_free;
	struct ns_seg *rxq;          /* ring of in-order payload runs */
	struct ns_txb *sndq;         /* ring of sndq_cap queued mbufs from snd_una */
	struct ns_seg *ooo;          /* ooo_cap entries, sorted by seq, disjoint */
	struct ns_sack_range sb[NS_SACK_SB_MAX];
	struct ns_hdr_tmpl tmpl;
};

/* ------------------------------------------------------------ TCB */

enum ns_tcp_state {
	NS_FREE = 0,
	NS_CLOSED,          /* dead, handle still owned by the user (error set) */
	NS_SYN_SENT,
	NS_SYN_RCVD,
	NS_ESTABLISHED,
	NS_FIN_WAIT_1,
	NS_FIN_WAIT_2,
	NS_CLOSE_WAIT,
	NS_CLOSING,
	NS_LAST_ACK,
	NS_TIME_WAIT,
};

/* Budget class of a slot (what it counts against). */
enum ns_cat { NS_CAT_NONE = 0, NS_CAT_HALF, NS_CAT_CONN, NS_CAT_TW };

enum ns_tcb_flags {
	NS_TF_TS        = 1u << 0,   /* timestamps negotiated */
	NS_TF_SACK      = 1u << 1,   /* SACK-permitted negotiated (blocks both ways) */
	NS_TF_WS        = 1u << 2,   /* window scaling negotiated */
	NS_TF_ACKNOW    = 1u << 3,   /* send an ACK at the next output */
	NS_TF_FINQ      = 1u << 4,   /* user closed: FIN after the queued data */
	NS_TF_ORPHAN    = 1u << 5,   /* handle closed; nobody reads or writes */
	NS_TF_EOF       = 1u << 6,   /* peer's FIN consumed */
	NS_TF_PASSIVE   = 1u << 7,   /* came from the listener */
	NS_TF_RDINT     = 1u << 8,   /* READABLE interest */
	NS_TF_WRINT     = 1u << 9,   /* WRITABLE interest */
	NS_TF_EVRD      = 1u << 10,  /* READABLE pending */
	NS_TF_EVWR      = 1u << 11,  /* WRITABLE pending */
	NS_TF_ONEV      = 1u << 12,  /* on the event FIFO */
	NS_TF_ONOUT     = 1u << 13,  /* on the output list */
	NS_TF_RECOVERY  = 1u << 14,  /* fast recovery (NewReno or SACK) */
	NS_TF_RTTING    = 1u << 15,  /* timing rtt_seq */
	NS_TF_ACCQ      = 1u << 16,  /* on the accept queue */
	NS_TF_FINOOO    = 1u << 17,  /* a FIN at fin_seq waits for reassembly */
	NS_TF_PERSIST   = 1u << 18,  /* t_rexmt is the persist timer */
	NS_TF_ESTEV     = 1u << 19,  /* active open: report WRITABLE once */
	NS_TF_COOKIE    = 1u << 20,  /* established from a SYN cookie */
	NS_TF_OPENED    = 1u << 21,  /* reached ESTABLISHED (for conns_closed) */
	NS_TF_SACKREC   = 1u << 22,  /* the recovery is SACK-based (RFC 6675) */
	NS_TF_EARLY     = 1u << 23,  /* t_rexmt is the probe timeout (PTO) */
	NS_TF_PTODONE   = 1u << 24,  /* a PTO fired; none again until snd_una moves */
};

struct ns_tcb {
	/* identity, lookup, lists */
	uint32_t rip;
	uint16_t rport, lport;
	int32_t hnext;               /* hash chain */
	int32_t handle;              /* user handle (ns_conn_t) or -1 */
	int32_t lprev, lnext;        /* free list / accept queue / TIME_WAIT FIFO */
	int32_t evnext;              /* event FIFO */
	int32_t onext;               /* output list */
	int32_t wprev, wnext;        /* timer wheel slot list */
	uint32_t wslot;
	uint8_t state;
	uint8_t cat;
	uint8_t rxtshift;            /* RTO backoff / retransmissions of snd_una */
	uint8_t dupacks;
	uint8_t keep_probes;
	uint8_t snd_ws, rcv_ws;
	uint32_t flags;
	uint32_t gen;                /* bumped on each reuse of the slot */

	/* timers: absolute deadlines in us, 0 = off */
	uint64_t wdeadline;          /* what the wheel entry is scheduled for */
	uint64_t t_rexmt;            /* RTO, SYN/SYN-ACK retransmit or persist */
	uint64_t t_dack;
	uint64_t t_keep;
	uint64_t t_2msl;             /* TIME_WAIT, orphan FIN_WAIT_2 */

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wl1, snd_wl2, snd_wnd, max_sndwnd;
	uint32_t cwnd, ssthresh, recover, ca_acc;
	uint32_t snd_len;            /* bytes queued from snd_una (sum of sndq lens) */
	/* SACK loss recovery (RFC 6675); recover is its RecoveryPoint */
	uint32_t high_rxt;           /* first byte not retransmitted this round */
	uint32_t rxt_mark;           /* snd_max when the round began */
	uint32_t sb_cnt;             /* ranges in buf->sb */
	/* send queue: buf->sndq[i & (sndq_cap - 1)] for i in [sndq_head,
	 * sndq_head + sndq_cnt), free-running; the head entry holds snd_una */
	uint32_t sndq_head, sndq_cnt;
	uint32_t sndq_hint;          /* free-running index of the last entry looked up */
	uint16_t mss;                /* max payload per segment before options */
	uint16_t persist_n;          /* probes sent in this zero-window episode */

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv, last_ack_sent;
	uint32_t rx_bytes;           /* in-order bytes held in rxq */
	uint32_t rxq_head, rxq_cnt;
	uint32_t ooo_cnt;
	uint32_t fin_seq;            /* with NS_TF_FINOOO */
	uint32_t ooo_recent;         /* seq of the newest out-of-order segment */
	uint16_t rcv_mss;            /* largest segment seen from the peer */
	uint16_t unacked_segs;       /* full segments received since our last ACK */

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_off;
	uint64_t ts_recent_us;

	/* RTT (RFC 6298) */
	uint32_t rtt_seq;
	uint64_t rtt_start_us;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint64_t last_send_us, last_rx_us;

	/* user side */
	void *udata;
	int err;                     /* positive errno reported by recv/send */
	struct ns_cbuf *buf;
};

/* ------------------------------------------------------------ ARP */

enum ns_arp_state { NS_ARP_FREE = 0, NS_ARP_PENDING, NS_ARP_VALID };

struct ns_arp_ent {
	uint32_t ip;
	uint8_t state;
	uint8_t tries;
	uint8_t npend;
	struct rte_ether_addr mac;
	uint64_t updated_us;         /* last confirmation */
	uint64_t used_us;            /* last lookup, for replacement */
	uint64_t retry_us;           /* next request (PENDING), or refresh floor */
	struct rte_mbuf *pend[NS_ARP_QLEN];
};

/* ------------------------------------------------- extra counters */

/* Counters beyond struct ns_stats, for tests and debugging. */
struct ns_xstats {
	uint64_t persist_probes;
	uint64_t keepalive_probes;
	uint64_t ooo_queued;         /* out-of-order segments stored */
	uint64_t dup_segments;       /* segments entirely already received */
	uint64_t challenge_acks;
	uint64_t tw_reused;          /* TIME_WAIT slots taken over by a new SYN */
	uint64_t tw_recycled;        /* TIME_WAIT slots evicted for room */
	uint64_t arp_requests_sent;
	uint64_t arp_queue_drops;
	uint64_t arp_failed;
	uint64_t arp_learnt_ip;      /* neighbours learnt from IPv4 frames */
	uint64_t syn_received;
	uint64_t synack_retransmits;
	uint64_t rx_coalesced;       /* small segments copied into a held mbuf */
	uint64_t paws_drops;
	uint64_t txq_full;
	uint64_t window_updates;
	uint64_t halfopen_dropped;   /* half-open entries that timed out */
	uint64_t sack_retransmits;   /* holes retransmitted from the scoreboard */
	uint64_t sack_rounds;        /* lost retransmissions detected (new round) */
	uint64_t sack_reneged;       /* scoreboards cleared by an RTO */
	uint64_t sack_blocks_bad;    /* received SACK blocks ignored as invalid */
	uint64_t pto_fired;          /* probe timeouts (before the RTO) */
	uint64_t pto_recoveries;     /* ...that started SACK recovery */
	uint64_t tail_probes;        /* ...that resent the last segment */
	uint64_t fast_path;          /* segments taken by header prediction */
	uint64_t tx_inplace;         /* data segments sent in their queue mbuf */
	uint64_t tx_copied;          /* data segments copied into a fresh mbuf */
	uint64_t tx_fast;            /* segments sent by the output fast path */
};

/* ------------------------------------------------------- instance */

struct ns_stack {
	struct ns_conf conf;
	struct rte_mempool *mp;
	uint32_t netmask;
	uint16_t data_room;          /* bytes an mbuf of mp holds */
	uint16_t ip_id;
	uint64_t now_us;
	uint64_t sipkey[2];
	uint64_t time_wait_us;

	struct ns_stats st;
	struct ns_xstats xst;

	/* frames for ns_tx_drain(): a ring of NS_TXQ_CAP */
	struct rte_mbuf **txq;
	uint32_t txq_head, txq_tail;         /* free-running */

	/* ARP */
	struct ns_arp_ent arp[NS_ARP_SETS * NS_ARP_WAYS];
	uint32_t arp_gen;                    /* bumped when any entry changes */
	uint64_t arp_next_us;                /* earliest pending retry */
	/* ns_arp_learn() memo: a frame from learn_ip needs no learning while
	 * arp_gen equals learn_gen (set when learn_ip was off-link or had a
	 * valid entry; a valid entry only changes with a bump of arp_gen).
	 * learn_ip 0 matches nothing (a martian source, dropped earlier). */
	uint32_t learn_ip, learn_gen;

	/* user handles: 0..max_conn-1, each bound to a slot while the user
	 * holds it (the slots outnumber them: half-open and TIME_WAIT) */
	int32_t *h2t;                        /* handle -> slot; kept after release */
	int32_t *hfree;                      /* stack of free handles */
	uint32_t hfree_n;

	/* connection slots */
	struct ns_tcb *tcb;
	uint32_t nslots;
	int32_t free_head;
	int32_t *hbucket;
	uint32_t hmask;
	uint32_t n_conn, n_half, n_tw;
	uint32_t max_conn, max_half, max_tw;
	int32_t acc_head, acc_tail;
	uint32_t acc_len;
	int32_t tw_head, tw_tail;
	int32_t ev_head, ev_tail;
	int32_t out_head;
	bool listening;
	bool no_fast_path;                   /* tests: header prediction and output_fast off */
	/* Direct delivery (ns_set_deliver): in-order payload handed to the
	 * owner from ns_input, not queued; NULL = off. */
	bool (*deliver)(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
			uint32_t len);
	void *deliver_arg;
	uint64_t last_cookie_us;             /* 0: no cookie ever sent */
	uint16_t next_eport;

	/* per-connection buffers */
	struct ns_cbuf *cbuf_free;
	uint32_t rxq_cap, ooo_cap;
	/* mbufs held for receive by all connections, and the bound that
	 * keeps the mempool usable for RX and TX whatever peers send */
	uint32_t rx_held, rx_held_max;
	/* mbufs held by all send queues; past tx_held_max a connection that
	 * already has data queued gets -EAGAIN (its ACKs will wake it) */
	uint32_t tx_held, tx_held_max;
	uint32_t sndq_cap;                   /* power of two */
	/* Fully acknowledged queue mbufs nobody else references, reused by
	 * the next ns_send without a trip through the mempool (no reset
	 * needed: a transmission sets every field it relies on). */
	struct rte_mbuf *txr[NS_TX_RECYCLE];
	uint32_t txr_n;
	size_t cbuf_bytes;
	uint32_t cbuf_count;

	/* RFC 5961 challenge ACK budget */
	uint64_t chal_epoch_us;
	uint32_t chal_count;

	/* timer wheel of connection slots */
	uint64_t wheel_tick;                 /* last tick processed */
	int32_t wheel_run;                   /* entries of the slot being run */
	int32_t wheel[NS_WHEEL_SLOTS];
	uint64_t wheel_bits[NS_WHEEL_SLOTS / 64];
};

/* --------------------------------------------------- shared helpers */

/* One's complement sum of len bytes plus sum (not folded, not complemented).
 * 64-bit words are added with their carries counted apart (add, compare,
 * add: no vector prologue for the short segments that dominate, and
 * fewer instructions than a 128-bit accumulator compiles to), the tail in
 * 4/2/1-byte steps at offsets that keep their lanes; the carries go back
 * in at the end (2^64 and 2^32 are 1 modulo 2^16 - 1). The result is below
 * 2^33, so callers may add a few of them before folding. Folded, it equals
 * the RFC 1071 sum of 16-bit words in memory order, whatever the host
 * byte order. */
static inline uint64_t ns_csum_add(uint64_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t acc = sum, carry = 0;
	while (len >= 16) {
		uint64_t w0, w1;
		memcpy(&w0, b, 8);
		memcpy(&w1, b + 8, 8);
		acc += w0;
		carry += acc < w0;
		acc += w1;
		carry += acc < w1;
		b += 16;
		len -= 16;
	}
	if (len >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		acc += w;
		carry += acc < w;
		b += 8;
		len -= 8;
	}
	uint64_t t = 0;
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, b, 4);
		t += w;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, b, 2);
		t += w;
		b += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;
		memcpy(&w, b, 1);
		t += w;
	}
	acc += t;
	carry += acc < t;
	acc += carry;
	acc += acc < carry;
	return (acc & 0xffffffffu) + (acc >> 32);
}

static inline uint16_t ns_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

/* Sum of bytes [off, off+len) of an mbuf chain, as if contiguous. Returns
 * false when the chain is shorter than off+len. */
bool ns_csum_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len, uint64_t *sum);

/* IPv4 pseudo-header sum for an L4 segment of l4_len bytes (the three
 * 32-bit words in network order, as ns_csum_add would sum them). */
static inline uint64_t ns_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	return (uint64_t)rte_cpu_to_be_32(src) + rte_cpu_to_be_32(dst) +
	       rte_cpu_to_be_32(((uint32_t)proto << 16) | l4_len);
}

/* Keyed hash (SipHash-2-4) of up to three 64-bit words. */
uint64_t ns_siphash(const uint64_t key[2], const uint64_t *w, unsigned nw);

/* The earliest of a connection's timer deadlines, 0 when none is set. */
static inline uint64_t ns_timer_earliest(const struct ns_tcb *tp)
{
	uint64_t d = UINT64_MAX;
	if (tp->t_rexmt && tp->t_rexmt < d)
		d = tp->t_rexmt;
	if (tp->t_dack && tp->t_dack < d)
		d = tp->t_dack;
	if (tp->t_keep && tp->t_keep < d)
		d = tp->t_keep;
	if (tp->t_2msl && tp->t_2msl < d)
		d = tp->t_2msl;
	return d == UINT64_MAX ? 0 : d;
}

static inline int32_t ns_tcb_idx(const struct ns_stack *s, const struct ns_tcb *tp)
{
	return (int32_t)(tp - s->tcb);
}

/* ------------------------------------------------ module functions */

/* stack.c */
int ns_tx_enqueue(struct ns_stack *s, struct rte_mbuf *m);
void ns_ev_post(struct ns_stack *s, struct ns_tcb *tp, uint32_t evflag);
struct rte_mbuf *ns_alloc(struct ns_stack *s);

/* arp.c */
void ns_arp_input(struct ns_stack *s, struct rte_mbuf *m);
/* Send an IPv4 frame whose Ethernet header is filled except the
 * destination MAC; resolves the next hop (queueing the frame if needed).
 * Takes m in every case. 0, or -ENOBUFS / -EHOSTUNREACH (m freed). */
int ns_eth_output(struct ns_stack *s, struct rte_mbuf *m, uint32_t dst_ip);
void ns_arp_timers(struct ns_stack *s, uint64_t now_us);
void ns_arp_flush_all(struct ns_stack *s);
/* The valid entry of dst_ip's next hop, or NULL (unresolved, no route). */
struct ns_arp_ent *ns_arp_valid(struct ns_stack *s, uint32_t dst_ip);
/* Learn an on-link neighbour from a received IPv4 frame (only when it has
 * no valid entry). */
void ns_arp_learn(struct ns_stack *s, uint32_t ip, const struct rte_ether_addr *mac);
/* ns_arp_learn() unless the memo shows it would change nothing: the
 * per-frame call, two compares when the same neighbour keeps sending. */
static inline void ns_arp_learn_rx(struct ns_stack *s, uint32_t ip,
				   const struct rte_ether_addr *mac)
{
	if (ip != s->learn_ip || s->arp_gen != s->learn_gen)
		ns_arp_learn(s, ip, mac);
}
bool ns_route_ok(const struct ns_stack *s, uint32_t dst_ip);

/* ip.c */
void ns_ip_input(struct ns_stack *s, struct rte_mbuf *m);
/* Fill the Ethernet (minus dst MAC) and IPv4 headers at the front of m,
 * whose pkt_len already covers them; computes or offloads the IP checksum. */
void ns_ip_fill(struct ns_stack *s, struct rte_mbuf *m, uint32_t dst_ip,
		uint8_t proto, uint16_t l4_len);

/* icmp.c */
void ns_icmp_input(struct ns_stack *s, struct rte_mbuf *m, uint16_t l3_off,
		   uint16_t ihl, uint16_t ip_len);

/* tcp_in.c */
void ns_tcp_input(struct ns_stack *s, struct rte_mbuf *m, uint16_t l3_off,
		  uint16_t ihl, uint16_t ip_len);

/* tcp_out.c */
/* Append up to n bytes to tp's send queue (bounded by sndbuf, the queue's
 * entries and the instance's tx_held_max). Bytes taken; 0 when none fit. */
uint32_t ns_sndq_append(struct ns_stack *s, struct ns_tcb *tp, const uint8_t *p, uint32_t n);
/* Drop the first n queued bytes (acknowledged), freeing emptied mbufs. */
void ns_sndq_drop(struct ns_stack *s, struct ns_tcb *tp, uint32_t n);
/* Free every queued mbuf (teardown). */
void ns_sndq_release(struct ns_stack *s, struct ns_tcb *tp);
/* Whether ns_send could take at least one byte now. */
bool ns_sndq_has_room(const struct ns_stack *s, const struct ns_tcb *tp);
void ns_tcp_output(struct ns_stack *s, struct ns_tcb *tp);
/* Like ns_tcp_output, but sends one window-limited runt (persist expiry). */
void ns_tcp_output_force(struct ns_stack *s, struct ns_tcb *tp);
/* Zero-length ACK at snd_una - 1 (keepalive, zero-window probe). */
int ns_tcp_send_probe(struct ns_stack *s, struct ns_tcb *tp);
void ns_tcp_output_later(struct ns_stack *s, struct ns_tcb *tp);
void ns_tcp_flush(struct ns_stack *s);
int ns_tcp_send_ack(struct ns_stack *s, struct ns_tcb *tp);
int ns_tcp_send_rst_tcb(struct ns_stack *s, struct ns_tcb *tp);
/* RST/ACK to an address with no TCB behind it. */
void ns_tcp_respond(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
		    uint32_t seq, uint32_t ack, uint8_t flags);
int ns_tcp_send_synack_cookie(struct ns_stack *s, uint32_t rip, uint16_t rport,
			      uint16_t lport, uint32_t iss, uint32_t rcv_nxt, uint16_t mss,
			      int ws, bool sack, bool ts, uint32_t tsval, uint32_t tsecr);
/* Retransmit one segment at snd_una (fast retransmit, partial ACK).
 * Returns the payload bytes sent (0: nothing sent, the RTO retries). */
uint32_t ns_tcp_rexmit_una(struct ns_stack *s, struct ns_tcb *tp);

/* Resend the highest segment sent (tail loss probe). Bytes sent or 0. */
uint32_t ns_tcp_probe_tail(struct ns_stack *s, struct ns_tcb *tp);

/* tcp_in.c: fast retransmit and entry into NewReno or SACK recovery. */
void ns_tcp_enter_recovery(struct ns_stack *s, struct ns_tcb *tp);

/* tcp_out.c: the sender's SACK scoreboard and RFC 6675 arithmetic. */
/* Merge received blocks ([i][0], [i][1]) into the scoreboard; blocks not
 * inside (snd_una, snd_max] are ignored (D-SACK, stale or forged).
 * Returns the number of bytes newly marked SACKed. */
uint32_t ns_sack_update(struct ns_stack *s, struct ns_tcb *tp, const uint32_t blk[][2],
			unsigned n);
/* Drop what snd_una now covers (call after snd_una moved). */
void ns_sack_trim(struct ns_tcb *tp);
/* Forget everything (RTO: the receiver may have reneged, RFC 6675 5.1). */
void ns_sack_clear(struct ns_tcb *tp);
/* IsLost(seq): DupThresh SACKed ranges or more than (DupThresh-1)*MSS
 * SACKed bytes above seq. */
bool ns_sack_is_lost(const struct ns_tcb *tp, uint32_t seq);
/* SetPipe: bytes presumed in the network. */
uint32_t ns_sack_pipe(const struct ns_tcb *tp);
/* NextSeg rules 1 and 3 for retransmission: the first byte to resend and
 * the length of its unSACKed run (capped at max), or false. */
bool ns_sack_next_hole(const struct ns_tcb *tp, bool lost_only, uint32_t max, uint32_t *seq,
		       uint32_t *len);
/* Bytes SACKed at or above seq. */
uint32_t ns_sack_bytes_above(const struct ns_tcb *tp, uint32_t seq);
/* Where sending from seq should really start: past the SACKed range
 * holding seq, if any. *run gets the bytes from there to the next SACKed
 * range (UINT32_MAX when none is above). */
uint32_t ns_sack_skip(const struct ns_tcb *tp, uint32_t seq, uint32_t *run);
uint32_t ns_tcp_rcv_window(struct ns_stack *s, const struct ns_tcb *tp);
uint32_t ns_tcp_tsval(const struct ns_stack *s, const struct ns_tcb *tp);

/* tcp_timer.c */
void ns_timer_sched(struct ns_stack *s, struct ns_tcb *tp);
void ns_timer_unlink(struct ns_stack *s, struct ns_tcb *tp);
/* One deadline of tp was just set to d (0: cleared), the others are
 * unchanged: the wheel needs touching only when d is earlier than the
 * entry (lazy re-arm, see ns_timer_sched). */
static inline void ns_timer_note(struct ns_stack *s, struct ns_tcb *tp, uint64_t d)
{
	if (d == 0 || (tp->wdeadline && d >= tp->wdeadline))
		return;
	ns_timer_sched(s, tp);
}
void ns_wheel_run(struct ns_stack *s, uint64_t now_us);
uint64_t ns_wheel_next(const struct ns_stack *s);
/* (Re)start the retransmission timer: the RTO, or the earlier probe
 * timeout (PTO, NS_TF_EARLY) when SACK lets a probe help. */
void ns_tcp_set_rexmt(struct ns_stack *s, struct ns_tcb *tp);
/* New data went out: bring the PTO forward to 2*SRTT from now (RFC 8985
 * 7.2), unless the RTO is due earlier. */
void ns_tcp_arm_pto(struct ns_stack *s, struct ns_tcb *tp);
/* (inline: one call per ACK that ends an RTT measurement) */
static inline void ns_tcp_rtt_sample(struct ns_tcb *tp, uint64_t rtt_us)
{
	uint32_t r = rtt_us > 0x7fffffffu ? 0x7fffffffu : (uint32_t)rtt_us;
	if (r == 0)
		r = 1;
	if (tp->srtt_us == 0) {
		tp->srtt_us = r;
		tp->rttvar_us = r / 2;
	} else {
		uint32_t d = tp->srtt_us > r ? tp->srtt_us - r : r - tp->srtt_us;
		tp->rttvar_us = (3u * tp->rttvar_us + d) / 4u;
		tp->srtt_us = (7u * tp->srtt_us + r) / 8u;
	}
	uint64_t var = 4ull * tp->rttvar_us;
	if (var < NS_TICK_US)
		var = NS_TICK_US;
	uint64_t rto = tp->srtt_us + var;
	if (rto < NS_RTO_MIN_US)
		rto = NS_RTO_MIN_US;
	if (rto > NS_RTO_MAX_US)
		rto = NS_RTO_MAX_US;
	tp->rto_us = (uint32_t)rto;
}
/* The RTO with the current backoff (inline: every output asks). */
static inline uint64_t ns_tcp_rto_cur(const struct ns_tcb *tp)
{
	uint64_t rto = (uint64_t)tp->rto_us << (tp->rxtshift < 16 ? tp->rxtshift : 16);
	return rto > NS_RTO_MAX_US ? NS_RTO_MAX_US : rto;
}
void ns_tcp_keep_reset(struct ns_stack *s, struct ns_tcb *tp);

/* tcp_conn.c: slots, hash, buffers, state changes */
struct ns_tcb *ns_tcb_lookup(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport);
struct ns_tcb *ns_tcb_alloc(struct ns_stack *s, uint8_t cat, uint32_t rip,
			    uint16_t rport, uint16_t lport);
void ns_tcb_set_cat(struct ns_stack *s, struct ns_tcb *tp, uint8_t cat);
void ns_tcb_free(struct ns_stack *s, struct ns_tcb *tp);
int ns_tcb_get_buf(struct ns_stack *s, struct ns_tcb *tp);
void ns_tcb_put_buf(struct ns_stack *s, struct ns_tcb *tp);
void ns_tcb_init_common(struct ns_stack *s, struct ns_tcb *tp);
/* Bind a user handle to tp (always succeeds within the CONN budget). */
void ns_handle_bind(struct ns_stack *s, struct ns_tcb *tp);
void ns_handle_release(struct ns_stack *s, struct ns_tcb *tp);
uint32_t ns_tcp_isn(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport);
uint32_t ns_tcp_ts_off(const struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport);
/* The connection is over for the protocol: report err (0 = quietly) to the
 * user if they still hold the handle, else free the slot. */
void ns_tcp_drop(struct ns_stack *s, struct ns_tcb *tp, int err);
void ns_tcp_enter_time_wait(struct ns_stack *s, struct ns_tcb *tp);
void ns_tcp_established(struct ns_stack *s, struct ns_tcb *tp);
void ns_rxq_release(struct ns_stack *s, struct ns_tcb *tp);
/* SYN cookies */
uint32_t ns_cookie_make(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
			uint32_t peer_seq, uint16_t mss, uint16_t *mss_used);
int ns_cookie_check(struct ns_stack *s, uint32_t rip, uint16_t rport, uint16_t lport,
		    uint32_t peer_seq, uint32_t cookie, uint16_t *mss);

/* ------------------------------------------------ test-only hooks */

/* The slot last bound to handle c (even after ns_close), or NULL. */
struct ns_tcb *ns_conn_tcb(const struct ns_stack *s, ns_conn_t c);

/* Active open from a chosen local port (TIME_WAIT reuse tests). */
ns_conn_t ns_connect_port(struct ns_stack *s, uint32_t ip, uint16_t port, uint16_t lport);
void ns_get_xstats(const struct ns_stack *s, struct ns_xstats *out);
/* State of a handle (enum ns_tcp_state), or -1. */
int ns_conn_state(const struct ns_stack *s, ns_conn_t c);
/* Bytes queued for sending and not yet acknowledged. */
uint32_t ns_conn_unacked(const struct ns_stack *s, ns_conn_t c);
/* Number of TIME_WAIT / half-open slots in use. */
uint32_t ns_tw_count(const struct ns_stack *s);
uint32_t ns_halfopen_count(const struct ns_stack *s);
/* Options negotiated on c: bit 0 TS, 1 SACK, 2 WS; snd_ws, rcv_ws, mss. */
int ns_conn_opts(const struct ns_stack *s, ns_conn_t c, unsigned *flags,
		 unsigned *snd_ws, unsigned *rcv_ws, unsigned *mss);

/* libFuzzer-style entry: feed one arbitrary frame (or a structured TCP
 * segment, see fuzz.c) into a private instance; returns 0. */
int ns_fuzz_one(const uint8_t *data, size_t n);
/* The fuzz harness's mempool (NULL before the first input), for leak checks. */
struct rte_mempool *ns_fuzz_mempool(void);
/* Counters of the harness's instances A (fuzzed) and B (its peer). */
void ns_fuzz_stats(struct ns_stats *a, struct ns_stats *b);
/* Check an instance's internal invariants; 0 or a negative line number. */
int ns_check_invariants(const struct ns_stack *s);

#endif
