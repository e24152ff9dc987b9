/* DPDK backend: the dp_* calls on top of one DPDK ethdev port and keyrail's
 * userspace TCP/IP stack (dataplane/netstack.h).
 *
 * Start-up (dp_dpdk_global_init, main thread, once): EAL from dpdk-eal-args,
 * then port dpdk-port with one RX/TX queue pair and one mempool per shard,
 * RSS on the TCP 4-tuple when the PMD has it, and the MTU. Shard i is tied
 * to the i-th EAL lcore: its thread (created by shards/ with pthreads)
 * registers with EAL and moves to that lcore's CPUs on its first dp_poll.
 *
 * Each shard's port (struct dpdk_port) owns queue i, mempool i and one stack
 * instance; nothing in it is touched by another thread except the counters
 * it publishes for INFO. One dp_poll is one round of the busy-poll loop:
 *
 *   TX burst of what the stack queued since the last round (the shard's
 *   replies, ACKs) -> RX burst -> ns_input -> ns_timers -> events.
 *
 * Readiness is level-triggered, as the kernel backend's epoll is, because
 * the shard loop relies on it (a READABLE connection it did not drain is
 * reported again). The stack reports edges, so this file keeps a "ready"
 * list: a connection joins it when the stack says READABLE (or when it is
 * accepted) and leaves it when dp_recv finds nothing (-EAGAIN) or read
 * interest is turned off. The stack's own read interest stays on, so no
 * edge is ever lost while the shard applies back-pressure.
 *
 * Connections and queues: with RSS every segment of a connection reaches
 * the queue of the shard that accepted it. Without RSS (net_tap has none
 * here: its RSS needs rte_flow, which needs a qdisc this kernel lacks) the
 * shard whose queue got the SYN owns the connection; net_tap's kernel side
 * (the tun driver) then keeps every later packet of that flow on the queue
 * the server last transmitted it from, i.e. the owner's, so flows stay put.
 * A segment that still lands on another queue finds no connection in that
 * shard's stack and is answered with a RST (counted as drop_no_conn in
 * INFO): a NIC with broken steering shows up there, it is not hidden. ARP
 * replies can land on any queue, so with several queues every ARP reply is
 * also copied to every other shard (SPSC rings), whose stack may be waiting
 * for it.
 *
 * Faults (test-only, dpdk-fault-inject; off by default): between the PMD
 * and the stack, in both directions, each frame may be dropped, duplicated,
 * held back until 1..3 later frames have passed (reorder), or held for
 * delay-us (delay), with the given probabilities and one seed. This is how
 * the end-to-end tests get a lossy, reordering wire on a kernel without
 * netem. Off, it costs one predictable branch per burst. */
#include "dataplane/dataplane.h"
#include "dataplane/dp_int.h"
#include "dataplane/netstack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#define DPDK_MAX_Q 64             /* shards/ allows at most 64 shards */
#define DPDK_MAX_EAL_ARGS 64
#define DPDK_RX_BURST 32
#define DPDK_FAN_RING 256         /* ARP copies in flight between two shards */
#define DPDK_TXBUF 512            /* frames taken from the stack, not yet sent */
#define DPDK_EV_MAX 64            /* events per dp_poll (as the kernel backend) */
/* Mbufs whose payload went out in DATA events and waits for dp_release:
 * a round's burst, and what polls made while a busy script runs add.
 * When it is full, payload takes the queue (READABLE) path. */
#define DPDK_HOLD 256
#define DPDK_PUB_US 10000         /* INFO counters are at most this old */
/* Per connection: the receive window (held in mbufs until read) and the
 * send ring (heap, kept in the stack's buffer cache once allocated). */
#define DPDK_RCVBUF (128u * 1024)
#define DPDK_SNDBUF (128u * 1024)
/* Mbufs a shard's pool needs beyond its RX ring: a TX ring, bursts in
 * flight, the per-lcore cache, and room for the stack's held payload and
 * TX frames (checked at start-up so a too small pool fails loudly). */
#define DPDK_MBUF_SLACK 1024
/* faults: frames held back (reorder, delay) per port and direction; a
 * reordered frame goes out after at most this long even if no frame
 * follows it, so a quiet link turns reordering into delay, not loss. */
#define FAULT_HOLD 64
#define FAULT_REORDER_MAX_US 2000
#define FAULT_OUT (4 * DPDK_RX_BURST)     /* RX frames after faults, per poll */

/* ------------------------------------------------------- global state */

/* Set by dp_dpdk_global_init before any shard runs; read-only afterwards
 * (ports[] entries are written by dp_dpdk_open, also before the shards). */
static struct {
	bool eal;                 /* rte_eal_init succeeded */
	bool started;             /* the port is started */
	uint16_t port_id;
	unsigned nq;
	unsigned lcore[DPDK_MAX_Q];           /* EAL lcore id of shard i */
	struct rte_mempool *mp[DPDK_MAX_Q];
	struct dpdk_port *ports[DPDK_MAX_Q];
	struct rte_ring *fan[DPDK_MAX_Q][DPDK_MAX_Q];   /* ARP copies i -> j */
	struct rte_ether_addr mac;
	uint32_t ip, gw;          /* host order; gw 0 = none */
	uint8_t prefix;
	uint16_t mtu;
	bool rss, rx_csum, tx_csum;
	unsigned max_conns;
	char driver[32];
	char **eal_argv;          /* kept: EAL may hold on to its words */
	/* faults: the parsed dpdk-fault-inject (on = some probability > 0);
	 * thresholds are probabilities scaled to 2^32, cumulative in the
	 * order drop, dup, reorder, delay (one draw picks at most one). */
	bool fault_on;
	uint64_t fault_cut[4];
	uint32_t fault_delay_us;
	uint64_t fault_seed;
	char fault_spec[256];
} g;

/* ------------------------------------------------------ per shard */

enum {
	DC_OPEN = 1 << 0,         /* the handle is ours (accepted, not closed) */
	DC_RD_INT = 1 << 1,       /* the shard wants READABLE */
	DC_RD_READY = 1 << 2,     /* bytes or EOF may be waiting */
	DC_ON_LIST = 1 << 3,      /* on the ready list */
};

struct dpdk_conn {
	void *udata;
	int32_t prev, next;       /* ready list, circular */
	uint32_t flags;
};

/* ns_stats as words, for lock-free publication to INFO. */
#define NS_STATS_WORDS (sizeof(struct ns_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct ns_stats) % sizeof(uint64_t) == 0,
	       "struct ns_stats must hold only uint64_t counters");

/* faults: what was done to frames in one direction. */
enum { FK_DROP, FK_DUP, FK_REORDER, FK_DELAY, FK_N };

struct fault_held {
	struct rte_mbuf *m;
	uint64_t due_frame;       /* release once this many frames have passed */
	uint64_t due_us;          /* ... or at this time, whichever comes first */
};

/* One direction of the fault layer (RX: PMD -> stack, TX: stack -> PMD). */
struct fault_dir {
	uint64_t rng;             /* xorshift64* state, never 0 */
	uint64_t frames;          /* frames seen in this direction */
	uint64_t n[FK_N];         /* faults injected */
	unsigned nheld;
	struct fault_held held[FAULT_HOLD];   /* release order = array order */
};

enum { PUB_TX_PENDING, PUB_FAN_OUT, PUB_FAN_IN, PUB_FAN_DROP,
       PUB_FRX, PUB_FTX = PUB_FRX + FK_N, PUB_FHELD = PUB_FTX + FK_N, PUB_NWORDS };

struct dpdk_port {
	struct dp_port base;      /* backend = DP_BACKEND_DPDK */
	unsigned q;               /* queue id = shard id */
	uint16_t port_id;
	bool thread_bound;
	struct ns_stack *ns;
	struct rte_mempool *mp;
	struct dpdk_conn *conns;  /* indexed by handle, g.max_conns */
	int32_t ready_head;       /* -1: empty */
	unsigned nready;
	uint16_t ntx;
	struct rte_mbuf *tx[DPDK_TXBUF];
	uint64_t fan_out, fan_in, fan_drop;
	uint64_t next_pub_us;
	struct fault_dir *frx, *ftx;  /* faults: NULL when the layer is off */
	/* Direct delivery (deliver()): DATA events go into dev[0..dev_cap)
	 * of the dp_poll under way; their mbufs wait in held[]. */
	struct dp_event *dev;
	int dev_n, dev_cap;
	unsigned nheld;
	struct rte_mbuf *held[DPDK_HOLD];
	/* written by the shard, read by INFO on any shard */
	_Atomic uint64_t pub_ns[NS_STATS_WORDS] __attribute__((aligned(64)));
	_Atomic uint64_t pub[PUB_NWORDS];
};

static inline struct dpdk_port *dport(struct dp_port *p)
{
	return (struct dpdk_port *)p;
}

static inline const struct dpdk_port *cdport(const struct dp_port *p)
{
	return (const struct dpdk_port *)p;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------ settings */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "a.b.c.d" into host order; false if it is not a dotted IPv4 address. */
static bool parse_ip4(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ip = ntohl(a.s_addr);
	return true;
}

/* "a.b.c.d/p" with p in 1..32. */
static bool parse_ip_prefix(const char *s, uint32_t *ip, uint8_t *prefix)
{
	const char *slash = strchr(s, '/');
	char addr[INET_ADDRSTRLEN];
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	const char *p = slash + 1;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]))
		return false;
	unsigned v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 32)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < 1 || v > 32 || !parse_ip4(addr, ip))
		return false;
	*prefix = (uint8_t)v;
	return true;
}

static uint32_t prefix_mask(uint8_t prefix)
{
	return prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

static void fmt_ip(uint32_t ip, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(ip) };
	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Split args at blanks into a NULL-terminated argv with argv[0] = name.
 * Returns the word count (>= 1), or -1 (too many words, ENOMEM). */
static int split_args(const char *args, char ***argvp)
{
	char **argv = calloc(DPDK_MAX_EAL_ARGS + 2, sizeof(*argv));
	if (!argv)
		return -1;
	int n = 0;
	argv[n++] = strdup("keyrail");
	const char *p = args;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		if (n > DPDK_MAX_EAL_ARGS)
			goto fail;
		argv[n++] = strndup(w, (size_t)(p - w));
	}
	for (int i = 0; i < n; i++)
		if (!argv[i])
			goto fail;
	*argvp = argv;
	return n;
fail:
	for (int i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return -1;
}

static bool has_word(char **argv, int argc, const char *w)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], w) == 0)
			return true;
	return false;
}

/* HugePages_Free from /proc/meminfo, -1 if unknown. */
static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ----------------------------------------------- faults (test-only) */

/* faults: parse dpdk-fault-inject, "key=value ..." with keys drop, dup,
 * reorder, delay (probabilities 0..1, at most 1 together: one draw per
 * frame picks at most one fault), delay-us (hold time of a delayed frame,
 * 1..10000000, needed when delay > 0) and seed (any 64-bit number; the
 * default is 1). NULL or blank: off. With every probability 0 the layer
 * stays off. Returns 0, or -1 with err saying what is wrong. */
static int fault_parse(const char *spec, char *err, size_t errlen)
{
	static const char *const pname[FK_N] = { "drop", "dup", "reorder", "delay" };
	double prob[FK_N] = { 0 };
	unsigned long long delay_us = 0, seed = 1;
	g.fault_on = false;
	if (!spec)
		return 0;
	size_t len = strlen(spec);
	if (len >= sizeof(g.fault_spec)) {
		seterr(err, errlen, "dpdk-fault-inject is longer than %zu bytes",
		       sizeof(g.fault_spec) - 1);
		return -1;
	}
	memcpy(g.fault_spec, spec, len + 1);
	const char *p = spec;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		int wl = (int)(p - w);
		const char *eq = memchr(w, '=', (size_t)wl);
		if (!eq || eq == w || eq + 1 == p) {
			seterr(err, errlen, "dpdk-fault-inject: '%.*s' is not key=value (keys: drop, "
			       "dup, reorder, delay, delay-us, seed)", wl, w);
			return -1;
		}
		size_t kl = (size_t)(eq - w);
		char val[64];
		size_t vl = (size_t)(p - eq - 1);
		if (vl >= sizeof(val))
			goto badval;
		memcpy(val, eq + 1, vl);
		val[vl] = '\0';
		char *end;
		errno = 0;
		int k;
		for (k = 0; k < FK_N; k++)
			if (strlen(pname[k]) == kl && memcmp(w, pname[k], kl) == 0)
				break;
		if (k < FK_N) {
			double v = strtod(val, &end);
			if (*end || errno || !(v >= 0.0 && v <= 1.0))
				goto badval;
			prob[k] = v;
		} else if (kl == 8 && memcmp(w, "delay-us", 8) == 0) {
			if (val[0] == '-')
				goto badval;
			delay_us = strtoull(val, &end, 10);
			if (*end || errno || delay_us > 10000000)
				goto badval;
		} else if (kl == 4 && memcmp(w, "seed", 4) == 0) {
			if (val[0] == '-')
				goto badval;
			seed = strtoull(val, &end, 0);
			if (*end || errno)
				goto badval;
		} else {
			seterr(err, errlen, "dpdk-fault-inject: unknown key '%.*s' (keys: drop, dup, "
			       "reorder, delay, delay-us, seed)", (int)kl, w);
			return -1;
		}
		continue;
badval:
		seterr(err, errlen, "dpdk-fault-inject: bad value in '%.*s' (probabilities are "
		       "0..1, delay-us 0..10000000, seed a non-negative integer)", wl, w);
		return -1;
	}
	double sum = 0;
	for (int k = 0; k < FK_N; k++) {
		sum += prob[k];
		/* 2^32 * sum: a draw r (32 bits) below it picks fault k. */
		g.fault_cut[k] = (uint64_t)(sum * 4294967296.0);
	}
	if (sum > 1.0 + 1e-9) {
		seterr(err, errlen, "dpdk-fault-inject: drop + dup + reorder + delay is %g, more "
		       "than 1", sum);
		return -1;
	}
	if (prob[FK_DELAY] > 0 && delay_us == 0) {
		seterr(err, errlen, "dpdk-fault-inject: delay=%g needs delay-us > 0",
		       prob[FK_DELAY]);
		return -1;
	}
	g.fault_delay_us = (uint32_t)delay_us;
	g.fault_seed = seed;
	g.fault_on = sum > 0;
	return 0;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint32_t fault_rand(struct fault_dir *d)
{
	uint64_t x = d->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	d->rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* A direction's state for shard q (dir 0 = RX, 1 = TX); its stream of
 * draws depends only on the seed, the shard and the direction. */
static struct fault_dir *fault_dir_new(unsigned q, unsigned dir)
{
	struct fault_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->rng = splitmix64(g.fault_seed ^ ((uint64_t)q << 1 | dir));
	if (!d->rng)
		d->rng = 1;
	return d;
}

static void fault_dir_free(struct fault_dir *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nheld; i++)
		rte_pktmbuf_free(d->held[i].m);
	free(d);
}

/* Move held frames that are due (enough later frames passed, or their
 * time came) to out[k..limit), oldest first. Returns the new k. */
static unsigned fault_release(struct fault_dir *d, struct rte_mbuf **out, unsigned k,
			      unsigned limit, uint64_t now)
{
	unsigned keep = 0;
	for (unsigned i = 0; i < d->nheld; i++) {
		struct fault_held *h = &d->held[i];
		if (k < limit && (d->frames >= h->due_frame || now >= h->due_us))
			out[k++] = h->m;
		else
			d->held[keep++] = *h;
	}
	d->nheld = keep;
	return k;
}

/* The fault layer on one burst: takes every frame of in[0..n) (passes,
 * duplicates, holds or frees it) and writes what goes on, plus held frames
 * now due, to out[0..room). room >= n: every frame that passes finds a
 * slot; a duplicate or a release that does not fit is skipped (the
 * release waits for the next call). Returns the frames in out. */
static unsigned fault_pass(struct fault_dir *d, struct rte_mempool *mp, struct rte_mbuf **in,
			   unsigned n, struct rte_mbuf **out, unsigned room, uint64_t now)
{
	unsigned k = fault_release(d, out, 0, room - n, now);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];
		unsigned left = n - i - 1;       /* frames still to place after m */
		uint64_t r = fault_rand(d);
		d->frames++;
		if (r < g.fault_cut[FK_DROP]) {
			rte_pktmbuf_free(m);
			d->n[FK_DROP]++;
		} else if (r < g.fault_cut[FK_DUP]) {
			out[k++] = m;
			struct rte_mbuf *c = k + left < room ?
					     rte_pktmbuf_copy(m, mp, 0, UINT32_MAX) : NULL;
			if (c) {
				out[k++] = c;
				d->n[FK_DUP]++;
			}
		} else if (r < g.fault_cut[FK_REORDER] && d->nheld < FAULT_HOLD) {
			d->held[d->nheld++] = (struct fault_held){
				.m = m, .due_frame = d->frames + 1 + fault_rand(d) % 3,
				.due_us = now + FAULT_REORDER_MAX_US };
			d->n[FK_REORDER]++;
		} else if (r >= g.fault_cut[FK_REORDER] && r < g.fault_cut[FK_DELAY] &&
			   d->nheld < FAULT_HOLD) {
			d->held[d->nheld++] = (struct fault_held){
				.m = m, .due_frame = UINT64_MAX, .due_us = now + g.fault_delay_us };
			d->n[FK_DELAY]++;
		} else {
			out[k++] = m;
		}
		k = fault_release(d, out, k, room - left, now);
	}
	return k;
}

/* TX side of tx_flush with faults on: drain the stack in bursts through
 * the fault layer into p->tx. */
static void fault_tx_fill(struct dpdk_port *p)
{
	uint64_t now = now_us();
	for (;;) {
		struct rte_mbuf *m[DPDK_RX_BURST];
		unsigned room = DPDK_TXBUF - p->ntx;
		unsigned want = room < DPDK_RX_BURST ? room : DPDK_RX_BURST;
		unsigned got = ns_tx_drain(p->ns, m, (uint16_t)want);
		p->ntx = (uint16_t)(p->ntx + fault_pass(p->ftx, p->mp, m, got, p->tx + p->ntx, room,
							now));
		if (got < want || p->ntx >= DPDK_TXBUF)
			break;
	}
}

/* ------------------------------------------------------- shutdown */

static void tx_flush(struct dpdk_port *p);

/* At process exit (after the shards have stopped): close what is still
 * open so clients see a FIN rather than silence, push it out, stop the
 * port (net_tap removes its interface) and release EAL. */
static void dpdk_atexit(void)
{
	for (unsigned i = 0; i < g.nq; i++) {
		struct dpdk_port *p = g.ports[i];
		if (!p)
			continue;
		for (unsigned c = 0; c < g.max_conns; c++)
			if (p->conns[c].flags & DC_OPEN)
				dp_dpdk_conn_close(&p->base, (dp_conn_t)c);
		ns_timers(p->ns, now_us());
		for (int k = 0; k < 8; k++)
			tx_flush(p);
	}
	if (g.started) {
		rte_eth_dev_stop(g.port_id);
		rte_eth_dev_close(g.port_id);
		g.started = false;
	}
	rte_eal_cleanup();
}

/* ---------------------------------------------------- global init */

static int setup_port(const struct dp_dpdk_conf *c, char *err, size_t errlen)
{
	uint16_t pid = (uint16_t)c->port_id;
	struct rte_eth_dev_info di;
	int rc = rte_eth_dev_info_get(pid, &di);
	if (rc != 0) {
		seterr(err, errlen, "dpdk-port %u: cannot read device info: %s", pid,
		       rte_strerror(-rc));
		return -1;
	}
	snprintf(g.driver, sizeof(g.driver), "%s", di.driver_name ? di.driver_name : "?");
	if (di.max_rx_queues < g.nq || di.max_tx_queues < g.nq) {
		seterr(err, errlen, "dpdk-port %u (%s) has at most %u RX and %u TX queues, but "
		       "shards %u needs one of each per shard: lower shards (and the EAL "
		       "lcores with it)", pid, g.driver, di.max_rx_queues, di.max_tx_queues, g.nq);
		return -1;
	}
	if (c->mtu < (int)di.min_mtu || c->mtu > (int)di.max_mtu) {
		seterr(err, errlen, "dpdk-mtu %d is outside what dpdk-port %u (%s) supports "
		       "(%u..%u)", c->mtu, pid, g.driver, di.min_mtu, di.max_mtu);
		return -1;
	}

	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = (uint32_t)c->mtu;
	uint64_t rss_hf = di.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP;
	g.rss = g.nq > 1 && rss_hf != 0;
	if (g.rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	const uint64_t rx_ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	const uint64_t tx_ck = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	g.rx_csum = (di.rx_offload_capa & rx_ck) == rx_ck;
	g.tx_csum = (di.tx_offload_capa & tx_ck) == tx_ck;
	if (g.rx_csum)
		conf.rxmode.offloads |= rx_ck;
	if (g.tx_csum)
		conf.txmode.offloads |= tx_ck;
	rc = rte_eth_dev_configure(pid, (uint16_t)g.nq, (uint16_t)g.nq, &conf);
	if (rc != 0) {
		seterr(err, errlen, "dpdk-port %u (%s): cannot configure %u queues: %s", pid,
		       g.driver, g.nq, rte_strerror(-rc));
		return -1;
	}
	uint16_t nrx = (uint16_t)c->rx_desc, ntx = (uint16_t)c->tx_desc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
	if (rc != 0) {
		seterr(err, errlen, "dpdk-port %u (%s): bad dpdk-rx-desc/dpdk-tx-desc: %s", pid,
		       g.driver, rte_strerror(-rc));
		return -1;
	}
	if ((long)c->mbufs < (long)nrx + ntx + DPDK_MBUF_SLACK) {
		seterr(err, errlen, "dpdk-mbufs %d is too small for dpdk-rx-desc %u plus "
		       "dpdk-tx-desc %u: each shard's pool needs at least %ld", c->mbufs, nrx, ntx,
		       (long)nrx + ntx + DPDK_MBUF_SLACK);
		return -1;
	}
	int socket = rte_eth_dev_socket_id(pid);
	if (socket < 0)
		socket = (int)rte_socket_id();
	unsigned room = RTE_PKTMBUF_HEADROOM + (unsigned)c->mtu + RTE_ETHER_HDR_LEN +
			RTE_ETHER_CRC_LEN + 4 /* VLAN tag */;
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE)
		room = RTE_MBUF_DEFAULT_BUF_SIZE;
	unsigned cache = (unsigned)c->mbufs / 4;
	if (cache > 256)
		cache = 256;
	for (unsigned q = 0; q < g.nq; q++) {
		char name[RTE_MEMPOOL_NAMESIZE];
		snprintf(name, sizeof(name), "kr_mbuf_%u", q);
		g.mp[q] = rte_pktmbuf_pool_create(name, (unsigned)c->mbufs, cache, 0,
						  (uint16_t)room, socket);
		if (!g.mp[q]) {
			seterr(err, errlen, "cannot allocate %d mbufs of %u bytes for shard %u: %s. "
			       "Lower dpdk-mbufs, or give EAL more memory (more hugepages, or a "
			       "larger -m with --no-huge)", c->mbufs, room, q, rte_strerror(rte_errno));
			return -1;
		}
		struct rte_eth_rxconf rxc = di.default_rxconf;
		rxc.offloads = conf.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(pid, (uint16_t)q, nrx, (unsigned)socket, &rxc, g.mp[q]);
		if (rc == 0) {
			struct rte_eth_txconf txc = di.default_txconf;
			txc.offloads = conf.txmode.offloads;
			rc = rte_eth_tx_queue_setup(pid, (uint16_t)q, ntx, (unsigned)socket, &txc);
		}
		if (rc != 0) {
			seterr(err, errlen, "dpdk-port %u (%s): cannot set up queue %u: %s", pid,
			       g.driver, q, rte_strerror(-rc));
			return -1;
		}
	}
	rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		seterr(err, errlen, "dpdk-port %u (%s): cannot start: %s", pid, g.driver,
		       rte_strerror(-rc));
		return -1;
	}
	g.started = true;
	if (g.rss) {
		/* A PMD may accept the RSS mode and not hash (net_tap without
		 * rte_flow): INFO says RSS only if the PMD reports the hash. */
		struct rte_eth_rss_conf rc = { 0 };
		if (rte_eth_dev_rss_hash_conf_get(pid, &rc) != 0 ||
		    !(rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP))
			g.rss = false;
	}
	rte_eth_macaddr_get(pid, &g.mac);
	/* The MAC may be filtered by the NIC: ours only (the stack drops
	 * what is not for it anyway). */
	rte_eth_promiscuous_disable(pid);
	return 0;
}

int dp_dpdk_global_init(const struct dp_dpdk_conf *c, char *err, size_t errlen)
{
	if (g.eal) {
		seterr(err, errlen, "DPDK is already initialised in this process");
		return -1;
	}
	/* Settings first: they fail fast, without starting EAL. */
	if (!c->ip || !c->ip[0]) {
		seterr(err, errlen, "needs the server's address: dpdk-ip "
		       "<addr>/<prefix> (e.g. dpdk-ip 198.18.0.2/24)");
		return -1;
	}
	if (!parse_ip_prefix(c->ip, &g.ip, &g.prefix)) {
		seterr(err, errlen, "dpdk-ip '%s' is not an IPv4 address with a prefix length "
		       "1..32 (e.g. 198.18.0.2/24)", c->ip);
		return -1;
	}
	uint32_t mask = prefix_mask(g.prefix);
	if (fault_parse(c->fault_inject, err, errlen) != 0)   /* faults */
		return -1;
	if (g.ip == 0 || (g.ip >> 24) == 127 || (g.ip >> 28) >= 14 ||
	    (g.prefix < 31 && ((g.ip & ~mask) == 0 || (g.ip & ~mask) == ~mask))) {
		seterr(err, errlen, "dpdk-ip '%s' cannot be a host's address (network, "
		       "broadcast, loopback, multicast or reserved)", c->ip);
		return -1;
	}
	g.gw = 0;
	if (c->gateway && c->gateway[0]) {
		if (!parse_ip4(c->gateway, &g.gw)) {
			seterr(err, errlen, "dpdk-gateway '%s' is not an IPv4 address", c->gateway);
			return -1;
		}
		if ((g.gw & mask) != (g.ip & mask) || g.gw == g.ip) {
			seterr(err, errlen, "dpdk-gateway %s is not another host of dpdk-ip %s's "
			       "subnet: a gateway must be reachable directly", c->gateway, c->ip);
			return -1;
		}
	}
	if (c->nshards < 1 || c->nshards > DPDK_MAX_Q) {
		seterr(err, errlen, "supports 1..%d shards, not %u", DPDK_MAX_Q,
		       c->nshards);
		return -1;
	}
	if (c->mtu < 576 || c->mtu > 9000) {
		seterr(err, errlen, "dpdk-mtu %d must be between 576 and 9000", c->mtu);
		return -1;
	}
	if (!c->eal_args || !c->eal_args[0]) {
		seterr(err, errlen, "needs dpdk-eal-args, e.g. dpdk-eal-args "
		       "\"-l 0 --no-pci --in-memory --vdev=net_tap0,iface=krtap0\" (one EAL "
		       "lcore per shard)");
		return -1;
	}
	g.nq = c->nshards;
	g.mtu = (uint16_t)c->mtu;
	g.max_conns = c->max_conns ? c->max_conns : 1;
	g.port_id = (uint16_t)c->port_id;

	char **argv;
	int argc = split_args(c->eal_args, &argv);
	if (argc < 0) {
		seterr(err, errlen, "dpdk-eal-args has more than %d words", DPDK_MAX_EAL_ARGS);
		return -1;
	}
	g.eal_argv = argv;
	bool no_huge = has_word(argv, argc, "--no-huge");
	long huge_free = hugepages_free();

	/* EAL pins the calling thread to the main lcore; the main thread is
	 * not a shard, so it gets its CPUs back afterwards. */
	cpu_set_t saved;
	bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	/* EAL permutes argv: hand it a copy of the pointer array. */
	char *eargv[DPDK_MAX_EAL_ARGS + 2];
	memcpy(eargv, argv, sizeof(char *) * (size_t)(argc + 1));
	int rc = rte_eal_init(argc, eargv);
	int eal_errno = rte_errno;
	if (have_saved)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (rc < 0) {
		if (!no_huge && huge_free == 0)
			seterr(err, errlen, "DPDK EAL initialisation failed (%s): there are no free "
			       "hugepages (HugePages_Free is 0). Reserve some: `mkdir -p /dev/hugepages; "
			       "mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages; "
			       "echo 512 > /proc/sys/vm/nr_hugepages`, or run without them by adding "
			       "--no-huge -m 512 --no-shconf to dpdk-eal-args (not with --in-memory)",
			       rte_strerror(eal_errno));
		else
			seterr(err, errlen, "DPDK EAL initialisation failed (%s) with dpdk-eal-args "
			       "\"%s\": see the EAL messages above. DPDK needs root; without hugepages "
			       "use --no-huge -m 512 --no-shconf; without a DPDK NIC add --no-pci and a "
			       "virtual device (--vdev=net_tap0,iface=krtap0)",
			       rte_strerror(eal_errno), c->eal_args);
		return -1;
	}
	g.eal = true;
	atexit(dpdk_atexit);

	unsigned nl = rte_lcore_count();
	if (nl != g.nq) {
		seterr(err, errlen, "shards is %u but dpdk-eal-args gives EAL %u lcore%s: with "
		       "dataplane dpdk each shard runs on its own EAL lcore, so make them equal "
		       "(e.g. shards %u, or -l with %u core%s)", g.nq, nl, nl == 1 ? "" : "s",
		       nl, g.nq, g.nq == 1 ? "" : "s");
		return -1;
	}
	unsigned i = 0, lc;
	RTE_LCORE_FOREACH(lc)
		g.lcore[i++] = lc;

	uint16_t nports = rte_eth_dev_count_avail();
	if (c->port_id < 0 || c->port_id >= RTE_MAX_ETHPORTS ||
	    !rte_eth_dev_is_valid_port((uint16_t)c->port_id)) {
		seterr(err, errlen, "dpdk-port %d does not exist: EAL found %u port%s. Give EAL a "
		       "device: a virtual one in dpdk-eal-args (e.g. --vdev=net_tap0,iface=krtap0) "
		       "or a NIC bound to a DPDK driver (its PCI address with -a, and no --no-pci)",
		       c->port_id, nports, nports == 1 ? "" : "s");
		return -1;
	}
	if (setup_port(c, err, errlen) != 0)
		return -1;

	if (g.nq > 1) {
		for (unsigned a = 0; a < g.nq; a++) {
			for (unsigned b = 0; b < g.nq; b++) {
				if (a == b)
					continue;
				char name[RTE_RING_NAMESIZE];
				snprintf(name, sizeof(name), "kr_arp_%u_%u", a, b);
				g.fan[a][b] = rte_ring_create(name, DPDK_FAN_RING, rte_socket_id(),
							      RING_F_SP_ENQ | RING_F_SC_DEQ);
				if (!g.fan[a][b]) {
					seterr(err, errlen, "cannot create ring %s: %s", name,
					       rte_strerror(rte_errno));
					return -1;
				}
			}
		}
	}
	return 0;
}

/* ----------------------------------------------------- shard ports */

/* The stack's direct delivery hook (ns_set_deliver), called from
 * ns_input: a DATA event for the shard, when the shard reads this
 * connection and nothing of it waits on the queue path (DC_RD_READY: the
 * stack said READABLE and dp_recv has not drained it yet), and there is
 * room for the event and the mbuf. */
static bool deliver(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
		    uint32_t len)
{
	struct dpdk_port *p = arg;
	struct dpdk_conn *dc = &p->conns[c];
	if ((dc->flags & (DC_OPEN | DC_RD_INT | DC_RD_READY)) != (DC_OPEN | DC_RD_INT) ||
	    !dc->udata || p->dev_n >= p->dev_cap || p->nheld >= DPDK_HOLD)
		return false;
	struct dp_event *e = &p->dev[p->dev_n++];
	e->kind = DP_EV_DATA;
	e->conn = c;
	e->udata = dc->udata;
	e->data = (const char *)data;
	e->len = len;
	p->held[p->nheld++] = m;
	return true;
}

struct dp_port *dp_dpdk_open(unsigned shard, const struct dp_port_conf *pc, const char **errmsg)
{
	if (!g.started || shard >= g.nq) {
		*errmsg = "DPDK port not started, or no queue for this shard";
		errno = EINVAL;
		return NULL;
	}
	struct dpdk_port *p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (!p) {
		*errmsg = "out of memory";
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->base.backend = DP_BACKEND_DPDK;
	p->q = shard;
	p->port_id = g.port_id;
	p->mp = g.mp[shard];
	p->ready_head = -1;
	p->conns = calloc(g.max_conns, sizeof(*p->conns));
	if (!p->conns) {
		free(p);
		*errmsg = "out of memory";
		errno = ENOMEM;
		return NULL;
	}
	struct ns_conf nc = {
		.ip = g.ip,
		.prefix = g.prefix,
		.gateway = g.gw,
		.mtu = g.mtu,
		.listen_port = (uint16_t)pc->port,
		.backlog = pc->backlog > 0 ? pc->backlog : 511,
		.max_conns = g.max_conns,
		.keepalive_s = pc->keepalive_s,
		.rcvbuf = DPDK_RCVBUF,
		.sndbuf = DPDK_SNDBUF,
		.rx_csum_offload = g.rx_csum,
		.tx_csum_offload = g.tx_csum,
	};
	memcpy(nc.mac, g.mac.addr_bytes, sizeof(nc.mac));
	const char *nerr = NULL;
	p->ns = ns_create(&nc, p->mp, &nerr);
	if (!p->ns) {
		*errmsg = nerr ? nerr : "cannot create the TCP/IP stack";
		errno = EINVAL;
		free(p->conns);
		free(p);
		return NULL;
	}
	if (g.fault_on) {             /* faults */
		p->frx = fault_dir_new(shard, 0);
		p->ftx = fault_dir_new(shard, 1);
		if (!p->frx || !p->ftx) {
			fault_dir_free(p->frx);
			fault_dir_free(p->ftx);
			ns_destroy(p->ns);
			free(p->conns);
			free(p);
			*errmsg = "out of memory";
			errno = ENOMEM;
			return NULL;
		}
	}
	ns_set_deliver(p->ns, deliver, p);
	g.ports[shard] = p;
	return &p->base;
}

void dp_dpdk_close_port(struct dp_port *port)
{
	struct dpdk_port *p = dport(port);
	for (unsigned c = 0; c < g.max_conns; c++)
		if (p->conns[c].flags & DC_OPEN)
			dp_dpdk_conn_close(port, (dp_conn_t)c);
	tx_flush(p);
	rte_pktmbuf_free_bulk(p->tx, p->ntx);
	p->ntx = 0;
	rte_pktmbuf_free_bulk(p->held, p->nheld);
	p->nheld = 0;
	fault_dir_free(p->frx);       /* faults */
	fault_dir_free(p->ftx);
	ns_destroy(p->ns);
	if (g.ports[p->q] == p)
		g.ports[p->q] = NULL;
	free(p->conns);
	free(p);
}

/* First dp_poll on the shard's thread: take the CPUs of the shard's EAL
 * lcore and an EAL lcore id (per-lcore mempool caches need one). */
static void bind_thread(struct dpdk_port *p)
{
	p->thread_bound = true;
	rte_cpuset_t cs = rte_lcore_cpuset(g.lcore[p->q]);
	if (CPU_COUNT(&cs) > 0 && pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs) != 0)
		RTE_LOG(WARNING, USER1, "keyrail: shard %u could not move to lcore %u's CPUs\n",
			p->q, g.lcore[p->q]);
	if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0)
		RTE_LOG(WARNING, USER1, "keyrail: shard %u could not register with EAL (%s); "
			"its mempool runs without a per-lcore cache\n", p->q,
			rte_strerror(rte_errno));
}

/* -------------------------------------------------- the ready list */

static void ready_add(struct dpdk_port *p, int32_t c)
{
	struct dpdk_conn *dc = &p->conns[c];
	dc->flags |= DC_ON_LIST;
	if (p->ready_head < 0) {
		dc->prev = dc->next = c;
		p->ready_head = c;
	} else {
		/* Before the head: the tail, served last this round. */
		int32_t h = p->ready_head, t = p->conns[h].prev;
		dc->next = h;
		dc->prev = t;
		p->conns[t].next = c;
		p->conns[h].prev = c;
	}
	p->nready++;
}

static void ready_del(struct dpdk_port *p, int32_t c)
{
	struct dpdk_conn *dc = &p->conns[c];
	dc->flags &= ~(uint32_t)DC_ON_LIST;
	if (dc->next == c) {
		p->ready_head = -1;
	} else {
		p->conns[dc->prev].next = dc->next;
		p->conns[dc->next].prev = dc->prev;
		if (p->ready_head == c)
			p->ready_head = dc->next;
	}
	p->nready--;
}

/* Put c on the ready list if it should be there, take it off if not. */
static void ready_update(struct dpdk_port *p, int32_t c)
{
	uint32_t f = p->conns[c].flags;
	bool want = (f & (DC_OPEN | DC_RD_INT | DC_RD_READY)) ==
		    (DC_OPEN | DC_RD_INT | DC_RD_READY);
	if (want && !(f & DC_ON_LIST))
		ready_add(p, c);
	else if (!want && (f & DC_ON_LIST))
		ready_del(p, c);
}

static inline bool conn_ok(const struct dpdk_port *p, dp_conn_t c)
{
	return c >= 0 && (unsigned)c < g.max_conns && (p->conns[c].flags & DC_OPEN);
}

/* -------------------------------------------------------- the loop */

/* Send what the stack has queued; what the PMD does not take now waits in
 * p->tx (and, past that, in the stack's own bounded queue). */
static void tx_flush(struct dpdk_port *p)
{
	if (__builtin_expect(p->ftx != NULL, 0))        /* faults */
		fault_tx_fill(p);
	else if (p->ntx < DPDK_TXBUF)
		p->ntx += ns_tx_drain(p->ns, p->tx + p->ntx, (uint16_t)(DPDK_TXBUF - p->ntx));
	if (!p->ntx)
		return;
	uint16_t sent = rte_eth_tx_burst(p->port_id, (uint16_t)p->q, p->tx, p->ntx);
	if (sent < p->ntx)
		memmove(p->tx, p->tx + sent, sizeof(p->tx[0]) * (size_t)(p->ntx - sent));
	p->ntx = (uint16_t)(p->ntx - sent);
}

static bool is_arp_reply(const struct rte_mbuf *m)
{
	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + 8)
		return false;
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	/* ethertype 0x0806, ARP opcode 2 */
	return d[12] == 0x08 && d[13] == 0x06 && d[20] == 0 && d[21] == 2;
}

/* With several queues: copy ARP replies to every other shard, and take
 * the copies others made for us (appended to pk, which has room for
 * DPDK_RX_BURST more). Returns the new count. */
static uint16_t arp_fan(struct dpdk_port *p, struct rte_mbuf **pk, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		if (!is_arp_reply(pk[i]))
			continue;
		for (unsigned j = 0; j < g.nq; j++) {
			if (j == p->q)
				continue;
			struct rte_mbuf *m = rte_pktmbuf_copy(pk[i], g.mp[j], 0, UINT32_MAX);
			if (m && rte_ring_sp_enqueue(g.fan[p->q][j], m) == 0) {
				p->fan_out++;
			} else {
				rte_pktmbuf_free(m);
				p->fan_drop++;
			}
		}
	}
	for (unsigned j = 0; j < g.nq && n < 2 * DPDK_RX_BURST; j++) {
		if (j == p->q)
			continue;
		unsigned got = rte_ring_sc_dequeue_burst(g.fan[j][p->q], (void **)(pk + n),
							 2u * DPDK_RX_BURST - n, NULL);
		n = (uint16_t)(n + got);
		p->fan_in += got;
	}
	return n;
}

static void publish(struct dpdk_port *p)
{
	struct ns_stats st;
	uint64_t w[NS_STATS_WORDS];
	ns_get_stats(p->ns, &st);
	memcpy(w, &st, sizeof(w));
	for (size_t i = 0; i < NS_STATS_WORDS; i++)
		atomic_store_explicit(&p->pub_ns[i], w[i], memory_order_relaxed);
	atomic_store_explicit(&p->pub[PUB_TX_PENDING], p->ntx, memory_order_relaxed);
	atomic_store_explicit(&p->pub[PUB_FAN_OUT], p->fan_out, memory_order_relaxed);
	atomic_store_explicit(&p->pub[PUB_FAN_IN], p->fan_in, memory_order_relaxed);
	atomic_store_explicit(&p->pub[PUB_FAN_DROP], p->fan_drop, memory_order_relaxed);
	if (p->frx) {                 /* faults */
		for (unsigned k = 0; k < FK_N; k++) {
			atomic_store_explicit(&p->pub[PUB_FRX + k], p->frx->n[k], memory_order_relaxed);
			atomic_store_explicit(&p->pub[PUB_FTX + k], p->ftx->n[k], memory_order_relaxed);
		}
		atomic_store_explicit(&p->pub[PUB_FHELD], p->frx->nheld + p->ftx->nheld,
				      memory_order_relaxed);
	}
}

int dp_dpdk_poll(struct dp_port *port, struct dp_event *ev, int max)
{
	struct dpdk_port *p = dport(port);
	if (__builtin_expect(!p->thread_bound, 0))
		bind_thread(p);
	if (max > DPDK_EV_MAX)
		max = DPDK_EV_MAX;
	uint64_t now = now_us();

	tx_flush(p);

	struct rte_mbuf *pk[2 * DPDK_RX_BURST], *fk[FAULT_OUT], **in = pk;
	uint16_t n = rte_eth_rx_burst(p->port_id, (uint16_t)p->q, pk, DPDK_RX_BURST);
	if (g.nq > 1)
		n = arp_fan(p, pk, n);
	if (__builtin_expect(p->frx != NULL, 0)) {     /* faults */
		n = (uint16_t)fault_pass(p->frx, p->mp, pk, n, fk, FAULT_OUT, now);
		in = fk;
	}
	/* Payload taken by deliver() becomes the first events, in arrival
	 * order; at most half the burst, the rest is for the others. */
	int out = 0;
	if (n) {
		p->dev = ev;
		p->dev_n = 0;
		p->dev_cap = max / 2;
		ns_input(p->ns, in, n, now);
		out = p->dev_n;
		p->dev_cap = 0;
	}
	ns_timers(p->ns, now);

	/* The stack's events: ACCEPT and WRITABLE go straight out; READABLE
	 * only marks the connection ready (reported from the list below). */
	struct dp_event nev[DPDK_EV_MAX];
	int k = max > out ? ns_poll_events(p->ns, nev, max - out) : 0;
	for (int i = 0; i < k; i++) {
		dp_conn_t c = nev[i].conn;
		if (c < 0 || (unsigned)c >= g.max_conns)
			continue;
		struct dpdk_conn *dc = &p->conns[c];
		switch (nev[i].kind) {
		case DP_EV_ACCEPT:
			/* Data may have come with the handshake's last ACK:
			 * start out ready, a recv that finds nothing is cheap.
			 * (The stack reuses a handle only after ns_close, so
			 * the slot is off the list; make sure anyway.) */
			if (dc->flags & DC_ON_LIST)
				ready_del(p, c);
			dc->udata = NULL;
			dc->flags = DC_OPEN | DC_RD_INT | DC_RD_READY;
			ns_set_interest(p->ns, c, true, false);
			ready_update(p, c);
			ev[out] = nev[i];
			ev[out].udata = NULL;
			out++;
			break;
		case DP_EV_READABLE:
			if (dc->flags & DC_OPEN) {
				dc->flags |= DC_RD_READY;
				ready_update(p, c);
			}
			break;
		case DP_EV_WRITABLE:
			if (dc->flags & DC_OPEN) {
				ev[out].kind = DP_EV_WRITABLE;
				ev[out].conn = c;
				ev[out].udata = dc->udata;
				out++;
			}
			break;
		default:
			break;
		}
	}
	/* Every ready connection, round robin from where the last call
	 * stopped, so a burst limit never starves the tail. */
	int32_t c = p->ready_head;
	for (unsigned left = p->nready; left > 0 && out < max; left--) {
		ev[out].kind = DP_EV_READABLE;
		ev[out].conn = c;
		ev[out].udata = p->conns[c].udata;
		out++;
		c = p->conns[c].next;
	}
	if (p->nready)
		p->ready_head = c;

	if (now >= p->next_pub_us) {
		publish(p);
		p->next_pub_us = now + DPDK_PUB_US;
	}
	return out;
}

ssize_t dp_dpdk_recv(struct dp_port *port, dp_conn_t c, void *buf, size_t n)
{
	struct dpdk_port *p = dport(port);
	if (!conn_ok(p, c))
		return -EBADF;
	if (n == 0)
		return -EAGAIN;
	/* One call copies all the stack holds up to n, and says whether
	 * anything (bytes, EOF, an error) is left to report. */
	bool drained;
	ssize_t r = ns_recv_ex(p->ns, c, buf, n, &drained);
	if (drained) {
		/* Off the ready list until the stack says more. */
		p->conns[c].flags &= ~(uint32_t)DC_RD_READY;
		ready_update(p, c);
	}
	/* EOF or an error after bytes: the bytes first; the connection
	 * stays ready, so the next call returns it. */
	return r;
}

void dp_dpdk_release(struct dp_port *port)
{
	struct dpdk_port *p = dport(port);
	if (p->nheld) {
		rte_pktmbuf_free_bulk(p->held, p->nheld);
		p->nheld = 0;
	}
}

ssize_t dp_dpdk_send(struct dp_port *port, dp_conn_t c, const void *buf, size_t n)
{
	struct dpdk_port *p = dport(port);
	if (!conn_ok(p, c))
		return -EBADF;
	return ns_send(p->ns, c, buf, n);
}

int dp_dpdk_set_interest(struct dp_port *port, dp_conn_t c, bool read, bool write)
{
	struct dpdk_port *p = dport(port);
	if (!conn_ok(p, c))
		return -EBADF;
	if (read)
		p->conns[c].flags |= DC_RD_INT;
	else
		p->conns[c].flags &= ~(uint32_t)DC_RD_INT;
	ready_update(p, c);
	/* The stack keeps read interest: its READABLE edges are what sets
	 * DC_RD_READY, and one must not be lost while the shard is not
	 * reading. */
	return ns_set_interest(p->ns, c, true, write);
}

void dp_dpdk_conn_set_udata(struct dp_port *port, dp_conn_t c, void *udata)
{
	struct dpdk_port *p = dport(port);
	if (conn_ok(p, c))
		p->conns[c].udata = udata;
}

void dp_dpdk_conn_close(struct dp_port *port, dp_conn_t c)
{
	struct dpdk_port *p = dport(port);
	if (!conn_ok(p, c))
		return;
	p->conns[c].flags &= ~(uint32_t)DC_OPEN;
	ready_update(p, c);
	p->conns[c].flags = 0;
	p->conns[c].udata = NULL;
	ns_close(p->ns, c);
}

void dp_dpdk_stop_listening(struct dp_port *port)
{
	struct dpdk_port *p = dport(port);
	ns_stop_listening(p->ns);
	tx_flush(p);
	publish(p);
}

/* ------------------------------------------------------------ INFO */

static void infof(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void infof(struct rbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(tmp) - 1)
		n = (int)sizeof(tmp) - 1;
	rbuf_append(b, tmp, (size_t)n);
}

void dp_dpdk_info(struct rbuf *b, const struct dp_port *port, unsigned shard)
{
	const struct dpdk_port *p = cdport(port);
	if (shard == 0) {
		char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN] = "";
		fmt_ip(g.ip, ip, sizeof(ip));
		if (g.gw)
			fmt_ip(g.gw, gw, sizeof(gw));
		infof(b, "dataplane:dpdk\r\n");
		infof(b, "dpdk_port:%u\r\ndpdk_driver:%s\r\ndpdk_queues:%u\r\n", g.port_id, g.driver,
		      g.nq);
		infof(b, "dpdk_rss:%s\r\ndpdk_rx_csum_offload:%s\r\ndpdk_tx_csum_offload:%s\r\n",
		      g.rss ? "tcp" : "none", g.rx_csum ? "yes" : "no", g.tx_csum ? "yes" : "no");
		infof(b, "dpdk_mac:" RTE_ETHER_ADDR_PRT_FMT "\r\n", RTE_ETHER_ADDR_BYTES(&g.mac));
		infof(b, "dpdk_ip:%s/%u\r\ndpdk_gateway:%s\r\ndpdk_mtu:%u\r\n", ip, g.prefix, gw, g.mtu);
		if (g.fault_on)           /* faults */
			infof(b, "dpdk_fault_inject:%s\r\n", g.fault_spec);
		struct rte_eth_stats es;
		if (rte_eth_stats_get(g.port_id, &es) == 0)
			infof(b, "dpdk_port_stats:ipackets=%" PRIu64 ",opackets=%" PRIu64
			      ",ibytes=%" PRIu64 ",obytes=%" PRIu64 ",imissed=%" PRIu64
			      ",ierrors=%" PRIu64 ",oerrors=%" PRIu64 ",rx_nombuf=%" PRIu64 "\r\n",
			      es.ipackets, es.opackets, es.ibytes, es.obytes, es.imissed, es.ierrors,
			      es.oerrors, es.rx_nombuf);
	}
	uint64_t w[NS_STATS_WORDS];
	struct ns_stats st;
	for (size_t i = 0; i < NS_STATS_WORDS; i++)
		w[i] = atomic_load_explicit(&p->pub_ns[i], memory_order_relaxed);
	memcpy(&st, w, sizeof(st));
	uint64_t pub[PUB_NWORDS];
	for (size_t i = 0; i < PUB_NWORDS; i++)
		pub[i] = atomic_load_explicit(&p->pub[i], memory_order_relaxed);
	infof(b, "shard%u_rx:packets=%" PRIu64 ",bytes=%" PRIu64 ",direct=%" PRIu64 "\r\n", shard,
	      st.rx_pkts, st.rx_bytes, st.rx_direct);
	infof(b, "shard%u_tx:packets=%" PRIu64 ",bytes=%" PRIu64 ",pending=%" PRIu64 "\r\n", shard,
	      st.tx_pkts, st.tx_bytes, pub[PUB_TX_PENDING]);
	infof(b, "shard%u_drops:not_for_us=%" PRIu64 ",bad_csum=%" PRIu64 ",malformed=%" PRIu64
	      ",fragment=%" PRIu64 ",no_conn=%" PRIu64 ",no_mbuf=%" PRIu64 ",ooo_full=%" PRIu64
	      ",conn_limit=%" PRIu64 "\r\n", shard, st.drop_not_for_us, st.drop_bad_csum,
	      st.drop_malformed, st.drop_fragment, st.drop_no_conn, st.drop_no_mbuf,
	      st.drop_ooo_full, st.drop_conn_limit);
	infof(b, "shard%u_tcp:retransmits=%" PRIu64 ",fast_retransmits=%" PRIu64
	      ",rto_timeouts=%" PRIu64 ",sack_retransmits=%" PRIu64 ",tail_probes=%" PRIu64
	      ",syn_cookies_sent=%" PRIu64 ",syn_cookies_ok=%" PRIu64 "\r\n", shard, st.retransmits,
	      st.fast_retransmits, st.rto_timeouts, st.sack_retransmits, st.tail_probes,
	      st.syn_cookies_sent, st.syn_cookies_ok);
	infof(b, "shard%u_conns:current=%" PRIu64 ",opened=%" PRIu64 ",closed=%" PRIu64
	      ",reset=%" PRIu64 "\r\n", shard, st.conns_current, st.conns_opened, st.conns_closed,
	      st.conns_reset);
	infof(b, "shard%u_arp:entries=%" PRIu64 ",requests_answered=%" PRIu64 ",fanout_out=%"
	      PRIu64 ",fanout_in=%" PRIu64 ",fanout_drop=%" PRIu64 "\r\n", shard, st.arp_entries,
	      st.arp_requests_answered, pub[PUB_FAN_OUT], pub[PUB_FAN_IN], pub[PUB_FAN_DROP]);
	infof(b, "shard%u_icmp:echo_replied=%" PRIu64 "\r\n", shard, st.icmp_echo_replied);
	if (p->frx)                   /* faults */
		infof(b, "shard%u_faults:rx_drop=%" PRIu64 ",rx_dup=%" PRIu64 ",rx_reorder=%" PRIu64
		      ",rx_delay=%" PRIu64 ",tx_drop=%" PRIu64 ",tx_dup=%" PRIu64 ",tx_reorder=%"
		      PRIu64 ",tx_delay=%" PRIu64 ",held=%" PRIu64 "\r\n", shard,
		      pub[PUB_FRX + FK_DROP], pub[PUB_FRX + FK_DUP], pub[PUB_FRX + FK_REORDER],
		      pub[PUB_FRX + FK_DELAY], pub[PUB_FTX + FK_DROP], pub[PUB_FTX + FK_DUP],
		      pub[PUB_FTX + FK_REORDER], pub[PUB_FTX + FK_DELAY], pub[PUB_FHELD]);
}
