/* bench/loadgen/loadgen.c — a kernel-free RESP load generator on DPDK.
 *
 * keyrail-loadgen drives a server over one DPDK ethdev port (typically the
 * client side of a net_memif pair whose server side is keyrail-server's
 * DPDK backend) with keyrail's own userspace TCP/IP stack
 * (dataplane/netstack.h, active open). One lcore busy-polls: RX burst ->
 * ns_input -> ns_timers -> the stack's events (replies parsed and checked,
 * requests issued) -> ns_tx_drain -> TX burst.
 *
 * Every reply is verified: SET must answer +OK, GET must answer exactly the
 * value for its key. Values are derived from the key number (its eight
 * digits, then a letter pattern that depends on the key), so any SET of a
 * key writes the same bytes and a GET can be checked without remembering
 * what was written. A GET may answer nil only if no SET of that key had
 * been acknowledged when the GET was sent. Any other reply is fatal: the
 * run stops at once and exits 1.
 *
 * Nothing is allocated per request: connection buffers, the request rings
 * and the latency histogram are sized at start-up. Latencies (request
 * written to the stack -> reply parsed) go into log-linear buckets
 * (32 sub-buckets per power of two: about 3% resolution).
 *
 * The last line of output is machine-readable ("RESULT key=value ...");
 * bench/memif-bench.sh reads it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/netstack.h"

#define LG_BURST 32
#define LG_TXBUF 1024             /* frames drained from the stack, not yet sent */
#define LG_EV_MAX 64
#define LG_MAX_CONNS 1024
#define LG_MAX_DEPTH 1024
#define LG_MAX_VALUE 65536
#define LG_MAX_KEYS 100000000u    /* "key:%08u" */
#define LG_PREFILL_DEPTH 32
#define LG_MAX_EAL_ARGS 64
#define LG_MBUFS 16383
#define LG_SOCKBUF (256u * 1024)  /* per-connection stack send/receive buffer */
/* Longest request: SET with the value, its header and the key. */
#define LG_REQ_MAX(d) (64u + (d))
/* Latency histogram: values below 2^(SUB+1) exactly, then 2^SUB
 * sub-buckets per power of two. */
#define HIST_SUB 5
#define HIST_N (64 * (1 << HIST_SUB))

enum lg_mode { MODE_GET, MODE_SET, MODE_MIXED };
enum lg_op { OP_GET, OP_SET };
enum lg_phase { PH_CONNECT, PH_PREFILL, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };
enum lg_cstate { CS_CONNECTING, CS_OPEN };

struct lg_opts {
	char *eal;
	uint16_t eth_port;
	uint32_t ip;
	uint8_t prefix;
	uint32_t server;
	uint16_t port;
	unsigned conns;
	unsigned depth;
	enum lg_mode mode;
	unsigned set_pct;         /* mixed: percentage of SETs */
	uint32_t keys;
	uint32_t vsize;
	double duration_s;        /* 0: use requests */
	uint64_t requests;
	double warmup_s;
	bool prefill;
	uint64_t seed;
	double connect_timeout_s;
	const char *exec_start;   /* run (system()) right before measuring */
	const char *exec_end;     /* ... and right after */
	bool quiet;
};

/* One request in flight: what was asked and when. */
struct lg_req {
	uint64_t t_tsc;
	uint32_t key;
	uint8_t op;
	uint8_t must_hit;         /* GET: the key was known set when sent */
};

struct lg_conn {
	ns_conn_t h;
	enum lg_cstate state;
	bool want_wr;             /* write interest is on (short send pending) */
	uint32_t inflight;        /* requests sent, replies not yet parsed */
	uint32_t rq_head;         /* oldest request in flight */
	struct lg_req *rq;        /* ring of rq_cap */
	char *tbuf;               /* requests built, not all taken by ns_send */
	uint32_t tlen, toff;
	char *rbuf;               /* received bytes not yet parsed */
	uint32_t rlen;
	uint32_t pf_next, pf_end; /* prefill: this connection's slice of keys */
};

struct lg_hist {
	uint64_t n[HIST_N];
	uint64_t count, max, sum;
};

static struct {
	struct lg_opts o;
	struct ns_stack *ns;
	struct rte_mempool *mp;
	struct lg_conn *c;
	uint32_t rq_cap;          /* power of two >= depth */
	uint32_t tcap, rcap;
	enum lg_phase phase;
	unsigned open;            /* connections established */
	unsigned pf_done;         /* connections done with their prefill */
	uint64_t issued;          /* requests issued while measuring */
	uint64_t measured;        /* replies received while measuring */
	uint64_t replies, gets, sets, hits, nils;
	uint64_t *setbits;        /* keys whose SET was acknowledged */
	char (*tail)[LG_MAX_VALUE];   /* value bytes after the digits, by key % 26 */
	uint64_t rng;
	uint64_t tsc_hz, tsc0, us_mult;
	struct lg_hist hist;
	volatile sig_atomic_t stop;
} g;

/* ------------------------------------------------------- utilities */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fflush(stdout);
	exit(1);
}

static inline uint64_t xorshift(void)
{
	uint64_t x = g.rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g.rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) without a division. */
static inline uint32_t rand_below(uint32_t n)
{
	return (uint32_t)(((xorshift() >> 32) * (uint64_t)n) >> 32);
}

/* The stack's clock: microseconds since start-up plus one second, from
 * the TSC by a multiply (us_mult = 2^32 * 10^6 / tsc_hz), once a round. */
static inline uint64_t tsc_to_us(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)(t - g.tsc0) * g.us_mult) >> 32) + 1000000u;
}

static double tsc_to_us_f(uint64_t cycles)
{
	return (double)cycles * 1e6 / (double)g.tsc_hz;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_signal(int sig)
{
	(void)sig;
	g.stop = 1;
}

/* ------------------------------------------------------- histogram */

static inline unsigned hist_index(uint64_t v)
{
	if (v < (2u << HIST_SUB))
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* >= SUB + 1 */
	unsigned shift = e - HIST_SUB;
	return (2u << HIST_SUB) + (shift - 1) * (1u << HIST_SUB) +
	       (unsigned)((v >> shift) - (1u << HIST_SUB));
}

/* The largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
	if (i < (2u << HIST_SUB))
		return i;
	unsigned k = i - (2u << HIST_SUB);
	unsigned shift = k / (1u << HIST_SUB) + 1;
	uint64_t mant = (1u << HIST_SUB) + k % (1u << HIST_SUB);
	return ((mant + 1) << shift) - 1;
}

static inline void hist_add(struct lg_hist *h, uint64_t v)
{
	h->n[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The value below which a fraction q of the samples lie (bucket upper
 * bound, capped at the exact maximum). */
static uint64_t hist_quantile(const struct lg_hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)((double)h->count * q);
	if (want >= h->count)
		want = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->n[i];
		if (seen > want) {
			uint64_t u = hist_upper(i);
			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}

/* --------------------------------------------------- keys and values */

static inline void put_key(char *p, uint32_t k)
{
	memcpy(p, "key:", 4);
	for (int i = 11; i >= 4; i--) {
		p[i] = (char)('0' + k % 10);
		k /= 10;
	}
}

/* value(k): the key's eight digits, then 'a' + (k + i) % 26 at byte i.
 * Shorter than 8 bytes: the last vsize digits. */
static inline void put_value(char *p, uint32_t k, uint32_t vsize)
{
	char d[8];
	uint32_t x = k;
	for (int i = 7; i >= 0; i--) {
		d[i] = (char)('0' + x % 10);
		x /= 10;
	}
	if (vsize < 8) {
		memcpy(p, d + 8 - vsize, vsize);
		return;
	}
	memcpy(p, d, 8);
	memcpy(p + 8, g.tail[k % 26] + 8, vsize - 8);
}

static inline bool value_ok(const char *p, uint32_t k, uint32_t vsize)
{
	char want[8];
	uint32_t x = k;
	for (int i = 7; i >= 0; i--) {
		want[i] = (char)('0' + x % 10);
		x /= 10;
	}
	if (vsize < 8)
		return memcmp(p, want + 8 - vsize, vsize) == 0;
	return memcmp(p, want, 8) == 0 && memcmp(p + 8, g.tail[k % 26] + 8, vsize - 8) == 0;
}

static inline bool key_set(uint32_t k)
{
	return (g.setbits[k >> 6] >> (k & 63)) & 1;
}

static inline void mark_set(uint32_t k)
{
	g.setbits[k >> 6] |= 1ull << (k & 63);
}

/* Append one request to c's TX buffer (room checked by the caller). */
static void build_req(struct lg_conn *c, enum lg_op op, uint32_t k, uint64_t now)
{
	char *p = c->tbuf + c->tlen;
	if (op == OP_GET) {
		memcpy(p, "*2\r\n$3\r\nGET\r\n$12\r\n", 18);
		put_key(p + 18, k);
		memcpy(p + 30, "\r\n", 2);
		c->tlen += 32;
	} else {
		memcpy(p, "*3\r\n$3\r\nSET\r\n$12\r\n", 18);
		put_key(p + 18, k);
		int n = 30;
		n += sprintf(p + n, "\r\n$%u\r\n", g.o.vsize);
		put_value(p + n, k, g.o.vsize);
		n += (int)g.o.vsize;
		memcpy(p + n, "\r\n", 2);
		c->tlen += (uint32_t)n + 2;
	}
	struct lg_req *r = &c->rq[(c->rq_head + c->inflight) & (g.rq_cap - 1)];
	r->t_tsc = now;
	r->key = k;
	r->op = (uint8_t)op;
	r->must_hit = op == OP_GET && key_set(k);
	c->inflight++;
}

/* ----------------------------------------------------- connections */

static void conn_flush(struct lg_conn *c)
{
	if (c->toff < c->tlen) {
		ssize_t r = ns_send(g.ns, c->h, c->tbuf + c->toff, c->tlen - c->toff);
		if (r > 0)
			c->toff += (uint32_t)r;
		else if (r != -EAGAIN)
			die("send on connection %d failed: %s", c->h, strerror((int)-r));
	}
	if (c->toff == c->tlen)
		c->toff = c->tlen = 0;
	bool want = c->tlen != 0;
	if (want != c->want_wr) {
		ns_set_interest(g.ns, c->h, true, want);
		c->want_wr = want;
	}
}

/* Issue what the phase allows: prefill SETs of the connection's slice, or
 * measured requests up to the pipeline depth. Only into an empty TX
 * buffer, so its size bounds what is built. */
static void conn_issue(struct lg_conn *c, uint64_t now)
{
	if (c->state != CS_OPEN || c->tlen != 0)
		return;
	if (g.phase == PH_PREFILL) {
		while (c->inflight < LG_PREFILL_DEPTH && c->pf_next < c->pf_end)
			build_req(c, OP_SET, c->pf_next++, now);
	} else if (g.phase == PH_WARMUP || g.phase == PH_MEASURE) {
		while (c->inflight < g.o.depth) {
			if (g.phase == PH_MEASURE && g.o.duration_s == 0) {
				if (g.issued >= g.o.requests)
					break;
				g.issued++;
			}
			enum lg_op op;
			if (g.o.mode == MODE_GET)
				op = OP_GET;
			else if (g.o.mode == MODE_SET)
				op = OP_SET;
			else
				op = rand_below(100) < g.o.set_pct ? OP_SET : OP_GET;
			build_req(c, op, rand_below(g.o.keys), now);
		}
	}
	if (c->tlen)
		conn_flush(c);
}

static void reply_fail(const struct lg_conn *c, const struct lg_req *r, const char *p,
		       uint32_t len, const char *why)
{
	char shown[96];
	uint32_t n = len < sizeof(shown) - 1 ? len : (uint32_t)sizeof(shown) - 1;
	for (uint32_t i = 0; i < n; i++)
		shown[i] = (p[i] >= 32 && p[i] < 127) ? p[i] : '.';
	shown[n] = '\0';
	die("VERIFY FAILED on connection %d: %s key:%08u: %s; reply starts \"%s\" (after %" PRIu64
	    " good replies)", c->h, r->op == OP_GET ? "GET" : "SET", r->key, why, shown, g.replies);
}

/* Parse the complete replies in c->rbuf, check each against the oldest
 * request in flight, and keep any incomplete tail. */
static void conn_parse(struct lg_conn *c, uint64_t now)
{
	const char *b = c->rbuf;
	uint32_t pos = 0, len = c->rlen;
	while (pos < len) {
		if (!c->inflight)
			reply_fail(c, &(struct lg_req){ 0 }, b + pos, len - pos,
				   "a reply with no request in flight");
		struct lg_req *r = &c->rq[c->rq_head];
		const char *p = b + pos;
		uint32_t avail = len - pos, used;
		if (r->op == OP_SET) {
			if (avail < 5) {
				if (memcmp(p, "+OK\r\n", avail) != 0)
					reply_fail(c, r, p, avail, "not +OK");
				break;
			}
			if (memcmp(p, "+OK\r\n", 5) != 0)
				reply_fail(c, r, p, avail, "not +OK");
			used = 5;
			mark_set(r->key);
			g.sets++;
		} else {
			if (p[0] != '$')
				reply_fail(c, r, p, avail, "not a bulk string");
			/* "$<len>\r\n": up to 7 digits here (LG_MAX_VALUE) or -1 */
			const char *crlf = memchr(p, '\r', avail < 16 ? avail : 16);
			if (!crlf) {
				if (avail >= 16)
					reply_fail(c, r, p, avail, "bad bulk header");
				break;
			}
			uint32_t hl = (uint32_t)(crlf - p) + 2;
			if (hl > avail)
				break;
			if (p[hl - 1] != '\n')
				reply_fail(c, r, p, avail, "bad bulk header");
			if (hl == 5 && p[1] == '-' && p[2] == '1') {
				if (r->must_hit)
					reply_fail(c, r, p, avail, "nil for a key that was set");
				used = 5;
				g.nils++;
			} else {
				uint32_t v = 0;
				for (const char *q = p + 1; q < crlf; q++) {
					if (*q < '0' || *q > '9' || v > LG_MAX_VALUE)
						reply_fail(c, r, p, avail, "bad bulk length");
					v = v * 10 + (uint32_t)(*q - '0');
				}
				if (crlf == p + 1 || v != g.o.vsize)
					reply_fail(c, r, p, avail, "wrong value length");
				if (avail < hl + v + 2)
					break;
				if (!value_ok(p + hl, r->key, v) || p[hl + v] != '\r' ||
				    p[hl + v + 1] != '\n')
					reply_fail(c, r, p, avail, "wrong value");
				used = hl + v + 2;
				g.hits++;
			}
			g.gets++;
		}
		pos += used;
		g.replies++;
		if (g.phase == PH_MEASURE) {
			hist_add(&g.hist, now - r->t_tsc);
			g.measured++;
		}
		c->rq_head = (c->rq_head + 1) & (g.rq_cap - 1);
		c->inflight--;
		if (g.phase == PH_PREFILL && c->pf_next == c->pf_end && c->inflight == 0)
			g.pf_done++;
	}
	if (pos) {
		memmove(c->rbuf, b + pos, len - pos);
		c->rlen = len - pos;
	}
}

static void conn_readable(struct lg_conn *c, uint64_t now)
{
	for (;;) {
		ssize_t r = ns_recv(g.ns, c->h, c->rbuf + c->rlen, g.rcap - c->rlen);
		if (r > 0) {
			c->rlen += (uint32_t)r;
			conn_parse(c, now);
			continue;
		}
		if (r == -EAGAIN)
			break;
		if (c->state == CS_CONNECTING)
			die("connecting to the server failed: %s",
			    r == 0 ? "closed" : strerror((int)-r));
		die("connection %d: %s (after %" PRIu64 " replies, %u in flight)", c->h,
		    r == 0 ? "closed by the server" : strerror((int)-r), g.replies, c->inflight);
	}
	conn_issue(c, now);
}

static void conn_writable(struct lg_conn *c, uint64_t now)
{
	if (c->state == CS_CONNECTING) {
		c->state = CS_OPEN;
		g.open++;
		if (g.phase == PH_PREFILL && c->pf_next == c->pf_end)
			g.pf_done++;
	}
	conn_flush(c);
	conn_issue(c, now);
}

/* ----------------------------------------------------------- setup */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: keyrail-loadgen --eal \"EAL ARGS\" --ip A.B.C.D/P --server A.B.C.D [options]\n"
		"  --eal ARGS        EAL words, split at blanks (e.g. \"-l 1 --no-pci --in-memory\n"
		"                    --vdev=net_memif0,role=client,socket=/run/kr-memif.sock\")\n"
		"  --eth-port N      ethdev port id (0)\n"
		"  --ip ADDR/PREFIX  this side's address (198.18.x.y/24)\n"
		"  --server ADDR     the server's address; --port PORT its TCP port (6379)\n"
		"  -c N              connections (64, at most %d)\n"
		"  -P N              pipeline depth per connection (1, at most %d)\n"
		"  -t get|set|mixed  requests (get); --set-pct N: SETs in mixed (10)\n"
		"  --keys N          key space key:00000000.. (100000, at most %u)\n"
		"  -d N              value size in bytes (16, 1..%d)\n"
		"  --duration S      measure S seconds, or -n N: measure N requests (-n 1000000)\n"
		"  --warmup S        run S seconds unmeasured first (0)\n"
		"  --prefill         SET every key once before measuring (GETs then all hit)\n"
		"  --seed N          key sequence seed (1)\n"
		"  --connect-timeout S  (10)\n"
		"  --exec-start CMD  run CMD (system()) just before measuring; --exec-end CMD after\n"
		"  -q                only the RESULT line\n",
		LG_MAX_CONNS, LG_MAX_DEPTH, LG_MAX_KEYS, LG_MAX_VALUE);
}

static bool parse_ip4(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ip = ntohl(a.s_addr);
	return true;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (*end || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_secs(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static void bad(const char *opt, const char *val)
{
	fprintf(stderr, "loadgen: bad value '%s' for %s\n", val ? val : "", opt);
	usage(stderr);
	exit(2);
}

static void parse_opts(int argc, char **argv)
{
	enum { O_EAL = 256, O_ETHPORT, O_IP, O_SERVER, O_PORT, O_KEYS, O_DURATION, O_WARMUP,
	       O_PREFILL, O_SEED, O_SETPCT, O_CTO, O_XSTART, O_XEND };
	static const struct option lo[] = {
		{ "eal", required_argument, NULL, O_EAL },
		{ "eth-port", required_argument, NULL, O_ETHPORT },
		{ "ip", required_argument, NULL, O_IP },
		{ "server", required_argument, NULL, O_SERVER },
		{ "port", required_argument, NULL, O_PORT },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "prefill", no_argument, NULL, O_PREFILL },
		{ "seed", required_argument, NULL, O_SEED },
		{ "set-pct", required_argument, NULL, O_SETPCT },
		{ "connect-timeout", required_argument, NULL, O_CTO },
		{ "exec-start", required_argument, NULL, O_XSTART },
		{ "exec-end", required_argument, NULL, O_XEND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lg_opts *o = &g.o;
	*o = (struct lg_opts){ .port = 6379, .conns = 64, .depth = 1, .mode = MODE_GET,
			       .set_pct = 10, .keys = 100000, .vsize = 16, .requests = 1000000,
			       .seed = 1, .connect_timeout_s = 10 };
	bool have_ip = false, have_server = false;
	uint64_t v;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:P:t:d:n:qh", lo, NULL)) != -1) {
		switch (ch) {
		case O_EAL:
			o->eal = optarg;
			break;
		case O_ETHPORT:
			if (!parse_u64(optarg, 0, RTE_MAX_ETHPORTS - 1, &v))
				bad("--eth-port", optarg);
			o->eth_port = (uint16_t)v;
			break;
		case O_IP: {
			char a[INET_ADDRSTRLEN];
			const char *sl = strchr(optarg, '/');
			if (!sl || (size_t)(sl - optarg) >= sizeof(a) ||
			    !parse_u64(sl + 1, 1, 32, &v))
				bad("--ip", optarg);
			memcpy(a, optarg, (size_t)(sl - optarg));
			a[sl - optarg] = '\0';
			if (!parse_ip4(a, &o->ip))
				bad("--ip", optarg);
			o->prefix = (uint8_t)v;
			have_ip = true;
			break;
		}
		case O_SERVER:
			if (!parse_ip4(optarg, &o->server))
				bad("--server", optarg);
			have_server = true;
			break;
		case O_PORT:
			if (!parse_u64(optarg, 1, 65535, &v))
				bad("--port", optarg);
			o->port = (uint16_t)v;
			break;
		case 'c':
			if (!parse_u64(optarg, 1, LG_MAX_CONNS, &v))
				bad("-c", optarg);
			o->conns = (unsigned)v;
			break;
		case 'P':
			if (!parse_u64(optarg, 1, LG_MAX_DEPTH, &v))
				bad("-P", optarg);
			o->depth = (unsigned)v;
			break;
		case 't':
			if (strcmp(optarg, "get") == 0)
				o->mode = MODE_GET;
			else if (strcmp(optarg, "set") == 0)
				o->mode = MODE_SET;
			else if (strcmp(optarg, "mixed") == 0)
				o->mode = MODE_MIXED;
			else
				bad("-t", optarg);
			break;
		case O_SETPCT:
			if (!parse_u64(optarg, 0, 100, &v))
				bad("--set-pct", optarg);
			o->set_pct = (unsigned)v;
			break;
		case O_KEYS:
			if (!parse_u64(optarg, 1, LG_MAX_KEYS, &v))
				bad("--keys", optarg);
			o->keys = (uint32_t)v;
			break;
		case 'd':
			if (!parse_u64(optarg, 1, LG_MAX_VALUE, &v))
				bad("-d", optarg);
			o->vsize = (uint32_t)v;
			break;
		case O_DURATION:
			if (!parse_secs(optarg, 0.001, 86400, &o->duration_s))
				bad("--duration", optarg);
			break;
		case 'n':
			if (!parse_u64(optarg, 1, UINT64_MAX / 2, &o->requests))
				bad("-n", optarg);
			o->duration_s = 0;
			break;
		case O_WARMUP:
			if (!parse_secs(optarg, 0, 3600, &o->warmup_s))
				bad("--warmup", optarg);
			break;
		case O_PREFILL:
			o->prefill = true;
			break;
		case O_SEED:
			if (!parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				bad("--seed", optarg);
			break;
		case O_CTO:
			if (!parse_secs(optarg, 0.1, 3600, &o->connect_timeout_s))
				bad("--connect-timeout", optarg);
			break;
		case O_XSTART:
			o->exec_start = optarg;
			break;
		case O_XEND:
			o->exec_end = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "loadgen: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	if (!o->eal || !have_ip || !have_server) {
		fprintf(stderr, "loadgen: --eal, --ip and --server are required\n");
		usage(stderr);
		exit(2);
	}
}

/* Split at blanks into argv (argv[0] = "keyrail-loadgen"); words are
 * kept for the life of the process (EAL may hold on to them). */
static int split_eal(char *s, char **argv, int max)
{
	int n = 0;
	argv[n++] = "keyrail-loadgen";
	for (char *p = s; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		if (n >= max - 1)
			return -1;
		argv[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
	}
	argv[n] = NULL;
	return n;
}

static bool ns_csum_flags(const struct rte_eth_dev_info *di, bool *rx, bool *tx,
			  struct rte_eth_conf *conf)
{
	const uint64_t rx_ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	const uint64_t tx_ck = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	*rx = (di->rx_offload_capa & rx_ck) == rx_ck;
	*tx = (di->tx_offload_capa & tx_ck) == tx_ck;
	if (*rx)
		conf->rxmode.offloads |= rx_ck;
	if (*tx)
		conf->txmode.offloads |= tx_ck;
	return true;
}

/* One queue pair on the port, started, link up (waits up to the connect
 * timeout: a memif client is up once the server side accepted it). */
static void port_setup(bool *rx_ck, bool *tx_ck, struct rte_ether_addr *mac)
{
	uint16_t pid = g.o.eth_port;
	if (!rte_eth_dev_is_valid_port(pid))
		die("ethdev port %u does not exist (EAL found %u): give EAL a --vdev", pid,
		    rte_eth_dev_count_avail());
	struct rte_eth_dev_info di;
	int rc = rte_eth_dev_info_get(pid, &di);
	if (rc != 0)
		die("port %u: no device info: %s", pid, rte_strerror(-rc));
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	ns_csum_flags(&di, rx_ck, tx_ck, &conf);
	rc = rte_eth_dev_configure(pid, 1, 1, &conf);
	if (rc != 0)
		die("port %u (%s): configure: %s", pid, di.driver_name, rte_strerror(-rc));
	uint16_t nrx = 1024, ntx = 1024;
	if (rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx) != 0)
		die("port %u: descriptor counts refused", pid);
	int socket = rte_eth_dev_socket_id(pid);
	if (socket < 0)
		socket = (int)rte_socket_id();
	g.mp = rte_pktmbuf_pool_create("lg_mbuf", LG_MBUFS, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       socket);
	if (!g.mp)
		die("cannot allocate %d mbufs: %s (hugepages? or --no-huge -m 512)", LG_MBUFS,
		    rte_strerror(rte_errno));
	struct rte_eth_rxconf rxc = di.default_rxconf;
	rxc.offloads = conf.rxmode.offloads;
	struct rte_eth_txconf txc = di.default_txconf;
	txc.offloads = conf.txmode.offloads;
	rc = rte_eth_rx_queue_setup(pid, 0, nrx, (unsigned)socket, &rxc, g.mp);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(pid, 0, ntx, (unsigned)socket, &txc);
	if (rc != 0)
		die("port %u: queue setup: %s", pid, rte_strerror(-rc));
	rc = rte_eth_dev_start(pid);
	if (rc != 0)
		die("port %u (%s): start: %s", pid, di.driver_name, rte_strerror(-rc));
	rte_eth_macaddr_get(pid, mac);
	double deadline = wall_s() + g.o.connect_timeout_s;
	for (;;) {
		struct rte_eth_link link;
		if (rte_eth_link_get_nowait(pid, &link) == 0 && link.link_status)
			break;
		if (wall_s() > deadline || g.stop)
			die("port %u (%s): link still down after %.1f s (is the server side up?)",
			    pid, di.driver_name, g.o.connect_timeout_s);
		rte_delay_us_sleep(10000);
	}
	if (!g.o.quiet)
		printf("port %u: %s, mac " RTE_ETHER_ADDR_PRT_FMT ", checksum offload rx %s tx %s\n",
		       pid, di.driver_name, RTE_ETHER_ADDR_BYTES(mac), *rx_ck ? "yes" : "no",
		       *tx_ck ? "yes" : "no");
}

static void alloc_state(void)
{
	const struct lg_opts *o = &g.o;
	g.rq_cap = 1;
	while (g.rq_cap < o->depth || g.rq_cap < LG_PREFILL_DEPTH)
		g.rq_cap <<= 1;
	unsigned maxd = o->depth > LG_PREFILL_DEPTH ? o->depth : LG_PREFILL_DEPTH;
	g.tcap = maxd * LG_REQ_MAX(o->vsize);
	g.rcap = 2 * (o->vsize + 32) > 16384 ? 2 * (o->vsize + 32) : 16384;
	g.c = calloc(o->conns, sizeof(*g.c));
	g.setbits = calloc((o->keys + 63) / 64, sizeof(uint64_t));
	g.tail = malloc(26 * sizeof(*g.tail));
	if (!g.c || !g.setbits || !g.tail)
		die("out of memory");
	for (unsigned r = 0; r < 26; r++)
		for (unsigned i = 0; i < LG_MAX_VALUE; i++)
			g.tail[r][i] = (char)('a' + (r + i) % 26);
	for (unsigned i = 0; i < o->conns; i++) {
		struct lg_conn *c = &g.c[i];
		c->rq = calloc(g.rq_cap, sizeof(*c->rq));
		c->tbuf = malloc(g.tcap);
		c->rbuf = malloc(g.rcap);
		if (!c->rq || !c->tbuf || !c->rbuf)
			die("out of memory");
		if (o->prefill) {
			c->pf_next = (uint32_t)((uint64_t)o->keys * i / o->conns);
			c->pf_end = (uint32_t)((uint64_t)o->keys * (i + 1) / o->conns);
		}
	}
}

static void free_state(void)
{
	if (g.c)
		for (unsigned i = 0; i < g.o.conns; i++) {
			free(g.c[i].rq);
			free(g.c[i].tbuf);
			free(g.c[i].rbuf);
		}
	free(g.c);
	free(g.setbits);
	free(g.tail);
}

/* --------------------------------------------------------- the loop */

struct lg_loop {
	uint16_t ntx;
	struct rte_mbuf *tx[LG_TXBUF];
	uint64_t polls, idle_polls;
};

/* One round: TX what the stack queued, RX a burst, timers, events. */
static void loop_once(struct lg_loop *l)
{
	uint64_t now = rte_rdtsc();
	uint64_t now_us = tsc_to_us(now);
	struct rte_mbuf *pk[LG_BURST];
	uint16_t n = rte_eth_rx_burst(g.o.eth_port, 0, pk, LG_BURST);
	l->polls++;
	if (n)
		ns_input(g.ns, pk, n, now_us);
	else
		l->idle_polls++;
	ns_timers(g.ns, now_us);
	struct dp_event ev[LG_EV_MAX];
	int k;
	do {
		k = ns_poll_events(g.ns, ev, LG_EV_MAX);
		for (int i = 0; i < k; i++) {
			struct lg_conn *c = ev[i].udata;
			if (!c)
				continue;
			if (ev[i].kind == DP_EV_READABLE)
				conn_readable(c, now);
			else if (ev[i].kind == DP_EV_WRITABLE)
				conn_writable(c, now);
		}
	} while (k == LG_EV_MAX);
	if (l->ntx < LG_TXBUF)
		l->ntx = (uint16_t)(l->ntx + ns_tx_drain(g.ns, l->tx + l->ntx,
							 (uint16_t)(LG_TXBUF - l->ntx)));
	if (l->ntx) {
		uint16_t sent = rte_eth_tx_burst(g.o.eth_port, 0, l->tx, l->ntx);
		if (sent < l->ntx)
			memmove(l->tx, l->tx + sent, sizeof(l->tx[0]) * (size_t)(l->ntx - sent));
		l->ntx = (uint16_t)(l->ntx - sent);
	}
}

static void run_exec(const char *what, const char *cmd)
{
	if (!cmd)
		return;
	fflush(stdout);
	int rc = system(cmd);
	if (rc != 0)
		die("%s command failed (status %d): %s", what, rc, cmd);
}

static void issue_all(void)
{
	uint64_t now = rte_rdtsc();
	for (unsigned i = 0; i < g.o.conns; i++)
		conn_issue(&g.c[i], now);
}

int main(int argc, char **argv)
{
	parse_opts(argc, argv);
	struct lg_opts *o = &g.o;
	if ((o->server & ~(0xffffffffu >> o->prefix)) != (o->ip & ~(0xffffffffu >> o->prefix)) &&
	    o->prefix < 32)
		die("--server is not in --ip's subnet (no gateway support here)");

	char *eargv[LG_MAX_EAL_ARGS + 1];
	char *ealcopy = strdup(o->eal);
	if (!ealcopy)
		die("out of memory");
	int eargc = split_eal(ealcopy, eargv, LG_MAX_EAL_ARGS + 1);
	if (eargc < 0)
		die("--eal has more than %d words", LG_MAX_EAL_ARGS - 1);
	if (rte_eal_init(eargc, eargv) < 0)
		die("EAL initialisation failed: %s", rte_strerror(rte_errno));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.tsc_hz = rte_get_tsc_hz();
	g.tsc0 = rte_rdtsc();
	g.us_mult = (uint64_t)(((unsigned __int128)1000000u << 32) / g.tsc_hz);
	g.rng = o->seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!g.rng)
		g.rng = 1;

	bool rx_ck, tx_ck;
	struct rte_ether_addr mac;
	port_setup(&rx_ck, &tx_ck, &mac);
	alloc_state();

	struct ns_conf nc = {
		.ip = o->ip, .prefix = o->prefix, .mtu = 1500, .listen_port = 0, .backlog = 16,
		.max_conns = o->conns, .rcvbuf = LG_SOCKBUF, .sndbuf = LG_SOCKBUF,
		.rx_csum_offload = rx_ck, .tx_csum_offload = tx_ck, .time_wait_ms = 1000,
	};
	memcpy(nc.mac, mac.addr_bytes, 6);
	const char *nerr = NULL;
	g.ns = ns_create(&nc, g.mp, &nerr);
	if (!g.ns)
		die("cannot create the TCP/IP stack: %s", nerr ? nerr : "?");

	struct lg_loop *l = calloc(1, sizeof(*l));
	if (!l)
		die("out of memory");

	/* Connect everything first: one connection, then the rest. The stack
	 * holds only a few frames per address while ARP resolves it, so SYNs
	 * sent all at once before that would wait for their retransmission. */
	g.phase = PH_CONNECT;
	double t_conn = wall_s(), deadline = t_conn + o->connect_timeout_s;
	for (unsigned i = 0; i < o->conns; i++) {
		struct lg_conn *c = &g.c[i];
		c->h = ns_connect(g.ns, o->server, o->port);
		if (c->h < 0)
			die("ns_connect #%u: %s", i, strerror(-c->h));
		ns_conn_set_udata(g.ns, c->h, c);
		c->state = CS_CONNECTING;
		unsigned want = i == 0 ? 1 : o->conns;
		if (i != 0 && i != o->conns - 1)
			continue;
		while (g.open < want) {
			loop_once(l);
			if (g.stop)
				die("interrupted");
			if ((l->polls & 1023) == 0 && wall_s() > deadline)
				die("only %u of %u connections established after %.1f s", g.open,
				    o->conns, o->connect_timeout_s);
		}
	}
	if (!o->quiet)
		printf("%u connections to %u.%u.%u.%u:%u in %.3f s\n", o->conns, o->server >> 24,
		       (o->server >> 16) & 255, (o->server >> 8) & 255, o->server & 255, o->port,
		       wall_s() - t_conn);

	if (o->prefill) {
		double t0 = wall_s();
		g.phase = PH_PREFILL;
		g.pf_done = 0;
		for (unsigned i = 0; i < o->conns; i++)
			if (g.c[i].pf_next == g.c[i].pf_end)
				g.pf_done++;
		issue_all();
		while (g.pf_done < o->conns) {
			loop_once(l);
			if (g.stop)
				die("interrupted");
		}
		for (uint32_t k = 0; k < o->keys; k++)
			if (!key_set(k))
				die("prefill left key:%08u unset", k);
		if (!o->quiet)
			printf("prefill: %u keys of %u bytes in %.3f s\n", o->keys, o->vsize,
			       wall_s() - t0);
	}

	if (o->warmup_s > 0) {
		g.phase = PH_WARMUP;
		issue_all();
		double end = wall_s() + o->warmup_s;
		while (wall_s() < end && !g.stop)
			for (int i = 0; i < 256; i++)
				loop_once(l);
		/* Let what is in flight come back, so the window starts clean. */
		g.phase = PH_DRAIN;
		for (;;) {
			unsigned busy = 0;
			for (unsigned i = 0; i < o->conns; i++)
				busy += g.c[i].inflight;
			if (!busy || g.stop)
				break;
			loop_once(l);
		}
	}

	if (o->exec_start) {
		/* Let the stack's delayed ACKs for what came back so far go
		 * out first: the loop stops while CMD runs, and the server
		 * would otherwise retransmit into the window. */
		double end = wall_s() + 0.1;
		while (wall_s() < end)
			for (int i = 0; i < 64; i++)
				loop_once(l);
	}
	run_exec("--exec-start", o->exec_start);
	struct ns_stats st0, st1;
	ns_get_stats(g.ns, &st0);
	uint64_t rep0 = g.replies, polls0 = l->polls, idle0 = l->idle_polls;
	double c0 = cpu_s(), w0 = wall_s();
	uint64_t t0 = rte_rdtsc();
	uint64_t tend = o->duration_s > 0 ? t0 + (uint64_t)(o->duration_s * (double)g.tsc_hz) :
		UINT64_MAX;
	g.phase = PH_MEASURE;
	issue_all();
	uint64_t t1;
	for (;;) {
		loop_once(l);
		if (o->duration_s > 0) {
			if (rte_rdtsc() >= tend) {
				t1 = tend;
				break;
			}
		} else if (g.measured >= o->requests) {
			t1 = rte_rdtsc();
			break;
		}
		if (g.stop)
			die("interrupted while measuring");
	}
	double c1 = cpu_s(), w1 = wall_s();
	uint64_t polls = l->polls - polls0, idle = l->idle_polls - idle0;
	ns_get_stats(g.ns, &st1);
	/* Collect (and verify) what is still in flight. */
	g.phase = PH_DRAIN;
	double dl = wall_s() + 5;
	for (;;) {
		unsigned busy = 0;
		for (unsigned i = 0; i < o->conns; i++)
			busy += g.c[i].inflight;
		if (!busy)
			break;
		if (wall_s() > dl)
			die("%u replies still missing 5 s after the end", busy);
		for (int i = 0; i < 64; i++)
			loop_once(l);
	}
	run_exec("--exec-end", o->exec_end);

	double secs = tsc_to_us_f(t1 - t0) / 1e6;
	double ops = (double)g.measured / secs;
	double cpu = (c1 - c0) / (w1 - w0);
	double p50 = tsc_to_us_f(hist_quantile(&g.hist, 0.50));
	double p99 = tsc_to_us_f(hist_quantile(&g.hist, 0.99));
	double p999 = tsc_to_us_f(hist_quantile(&g.hist, 0.999));
	double pmax = tsc_to_us_f(g.hist.max);
	double mean = g.hist.count ? tsc_to_us_f(g.hist.sum) / (double)g.hist.count : 0;
	static const char *const mname[] = { "get", "set", "mixed" };
	if (!o->quiet) {
		printf("%s -c %u -P %u -d %u --keys %u: %" PRIu64 " requests in %.3f s\n",
		       mname[o->mode], o->conns, o->depth, o->vsize, o->keys, g.measured, secs);
		printf("  throughput  %.0f requests/s\n", ops);
		printf("  latency us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", p50,
		       p99, p999, pmax, mean);
		printf("  loadgen CPU %.0f%% of one core (busy-polls); idle polls %.1f%% "
		       "(near 0: the loadgen, not the server, is the limit)\n", cpu * 100,
		       polls ? 100.0 * (double)idle / (double)polls : 0.0);
		printf("  verified    %" PRIu64 " replies total (%" PRIu64 " GET: %" PRIu64
		       " hits, %" PRIu64 " nil; %" PRIu64 " SET), 0 errors\n", g.replies, g.gets,
		       g.hits, g.nils, g.sets);
		printf("  stack       retransmits %" PRIu64 ", rto %" PRIu64 ", no_mbuf %" PRIu64
		       ", frames rx %" PRIu64 " tx %" PRIu64 " in the window\n",
		       st1.retransmits - st0.retransmits, st1.rto_timeouts - st0.rto_timeouts,
		       st1.drop_no_mbuf - st0.drop_no_mbuf, st1.rx_pkts - st0.rx_pkts,
		       st1.tx_pkts - st0.tx_pkts);
	}
	printf("RESULT mode=%s conns=%u depth=%u vsize=%u keys=%u requests=%" PRIu64
	       " secs=%.3f ops_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
	       " loadgen_cpu=%.2f idle_polls=%.3f retransmits=%" PRIu64 " replies=%" PRIu64
	       " errors=0\n", mname[o->mode], o->conns, o->depth, o->vsize, o->keys, g.measured,
	       secs, ops, p50, p99, p999, pmax, cpu, polls ? (double)idle / (double)polls : 0.0,
	       st1.retransmits - st0.retransmits, g.replies - rep0);
	fflush(stdout);

	/* Close gracefully so the server frees its side, then stop. */
	for (unsigned i = 0; i < o->conns; i++)
		ns_close(g.ns, g.c[i].h);
	double end = wall_s() + 0.3;
	while (wall_s() < end)
		for (int i = 0; i < 64; i++)
			loop_once(l);
	rte_pktmbuf_free_bulk(l->tx, l->ntx);
	free(l);
	ns_destroy(g.ns);
	rte_eth_dev_stop(o->eth_port);
	rte_eth_dev_close(o->eth_port);
	rte_mempool_free(g.mp);
	free_state();
	rte_eal_cleanup();
	free(ealcopy);
	return 0;
}
