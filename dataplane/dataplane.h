/* dataplane/ — everything between the wire and a parsed command:
 *
 *  - rbuf: a growable byte buffer that replies are written into.
 *  - RESP codec: request parser (RESP multibulk and inline) and reply
 *    writers for RESP2/RESP3, plus a small reply reader used to merge the
 *    replies of cross-shard sub-requests.
 *  - backends: the burst-shaped network interface the shard loop drives
 *    (kernel sockets + epoll today; the DPDK TCP stack plugs in behind the
 *    same calls).
 *
 * Nothing here knows about keys, shards or commands. */
#ifndef KR_DATAPLANE_H
#define KR_DATAPLANE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- rbuf */

/* A growable byte buffer. Zero-initialised is a valid empty buffer.
 * Growth failure aborts the process (as Redis's zmalloc does): a reply that
 * cannot be allocated cannot be answered either. */
struct rbuf {
	char *data;
	size_t len;
	size_t cap;
};

void rbuf_reserve(struct rbuf *b, size_t extra);   /* ensure cap >= len + extra */
void rbuf_append(struct rbuf *b, const void *p, size_t n);
void rbuf_free(struct rbuf *b);                    /* frees data, zeroes b */
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void rbuf_consume(struct rbuf *b, size_t n);

/* ---------------------------------------------------- request parsing */

/* One argument of a parsed request. For multibulk requests p points into
 * the caller's input buffer (zero copy); for inline requests it points into
 * req->scratch. Either way it is valid until the next resp_parse_req() call
 * on this req or until the input buffer is changed. Not NUL-terminated. */
struct resp_arg {
	const char *p;
	size_t len;
};

#define RESP_ARGV_INLINE 16

struct resp_req {
	int argc;
	struct resp_arg *argv;          /* argv_inline or heap when argc > 16 */
	struct resp_arg argv_inline[RESP_ARGV_INLINE];
	size_t argv_cap;                /* capacity of a heap argv, 0 if none */
	char *scratch;                  /* inline-command unescaped bytes */
	size_t scratch_cap;
};

struct resp_limits {
	long long max_bulk_len;         /* proto-max-bulk-len (default 512 MiB) */
	long long max_multibulk_len;    /* Redis: 1024*1024 */
	size_t max_inline_len;          /* Redis: 64 KiB (PROTO_INLINE_MAX_SIZE) */
};

enum resp_parse_rc {
	RESP_PARSE_ERR = -1,            /* protocol error; *err says which */
	RESP_PARSE_OK = 0,              /* one full request parsed */
	RESP_PARSE_MORE = 1,            /* incomplete; *need says how much */
};

void resp_req_init(struct resp_req *req);
void resp_req_free(struct resp_req *req);

/* Parse one request from buf[0..len).
 *  OK:   req->argc/argv filled, *consumed = bytes the request used. argc may
 *        be 0 (empty inline line, "*0\r\n", "*-1\r\n"): the caller skips it.
 *  MORE: nothing consumed; *need = the total buffer length known to be
 *        required before another call can succeed (>= len + 1), so a caller
 *        can avoid re-parsing a large bulk until it has fully arrived.
 *  ERR:  *err = Redis's text without the "-ERR " prefix... no: the full
 *        error line body, e.g. "ERR Protocol error: invalid bulk length".
 *        The connection must be answered with it and closed.
 * Requests starting with '*' are multibulk, anything else inline (split on
 * spaces, with "double" and 'single' quotes and \xHH escapes as redis-cli
 * and Redis's sdssplitargs understand them). Errors, as Redis 7 words them:
 *   "ERR Protocol error: invalid multibulk length"
 *   "ERR Protocol error: invalid bulk length"
 *   "ERR Protocol error: expected '$', got 'X'"
 *   "ERR Protocol error: too big mbulk count string"  (no CRLF in 64 KiB)
 *   "ERR Protocol error: too big bulk count string"
 *   "ERR Protocol error: too big inline request"
 *   "ERR Protocol error: unbalanced quotes in request"
 * Never reads outside buf[0..len); never allocates more than O(argc) plus
 * the inline scratch. */
int resp_parse_req(const char *buf, size_t len, const struct resp_limits *lim,
		   struct resp_req *req, size_t *consumed, size_t *need,
		   const char **err);

/* ------------------------------------------------------ reply writing */

/* proto is 2 or 3. In RESP2 the RESP3-only types fall back the way Redis 7
 * does: null -> "$-1", null array -> "*-1", map -> flat array of 2n,
 * set -> array, double -> bulk string, bool -> integer 1/0, verbatim ->
 * bulk string, push -> array, big number -> bulk string. */
void resp_add_raw(struct rbuf *b, const void *p, size_t n);
void resp_add_simple(struct rbuf *b, const char *s);          /* +s\r\n */
void resp_add_ok(struct rbuf *b);                             /* +OK\r\n */
/* Error line: msg is the full text ("ERR ...", "WRONGTYPE ..."); a leading
 * '-' is added; CR/LF inside msg are replaced by spaces. */
void resp_add_error(struct rbuf *b, const char *msg);
void resp_add_errorf(struct rbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Decimal digits of v (lengths and counts are small: compare, don't
 * divide). */
static inline unsigned resp_u64_len(unsigned long long v)
{
	unsigned n = 1;
	for (;;) {
		if (v < 10)
			return n;
		if (v < 100)
			return n + 1;
		if (v < 1000)
			return n + 2;
		if (v < 10000)
			return n + 3;
		v /= 10000;
		n += 4;
	}
}
void resp_add_int(struct rbuf *b, long long v);               /* :v\r\n */
void resp_add_bulk(struct rbuf *b, const void *p, size_t n);
void resp_add_bulk_cstr(struct rbuf *b, const char *s);
void resp_add_bulk_ll(struct rbuf *b, long long v);           /* integer as bulk */
void resp_add_null(struct rbuf *b, int proto);                /* $-1 / _ */
void resp_add_null_array(struct rbuf *b, int proto);          /* *-1 / _ */
void resp_add_array(struct rbuf *b, long long n);             /* *n */
void resp_add_map(struct rbuf *b, int proto, long long n);    /* %n / *2n */
void resp_add_set(struct rbuf *b, int proto, long long n);    /* ~n / *n */
void resp_add_push(struct rbuf *b, int proto, long long n);   /* >n / *n */
/* Double as Redis 7 prints it: RESP3 ",<%.17g>" ("inf", "-inf", "nan");
 * RESP2 the same text as a bulk string. */
void resp_add_double(struct rbuf *b, int proto, double d);
void resp_add_bool(struct rbuf *b, int proto, bool v);        /* #t / :1 */
/* Verbatim string (RESP3 "=len\r\ntxt:..."), bulk in RESP2. fmt is 3 chars. */
void resp_add_verbatim(struct rbuf *b, int proto, const char *fmt,
		       const void *p, size_t n);

/* ------------------------------------------------------ reply reading */

/* Length in bytes of the one complete RESP2/RESP3 reply value at p, or 0
 * if p[0..len) does not hold a complete, well-formed value. Aggregates are
 * measured recursively (depth-limited to 64). Used to split and merge
 * sub-replies produced by this server, so it trusts lengths but never reads
 * outside the buffer. */
size_t resp_reply_len(const char *p, size_t len);

/* If p holds ":<int>\r\n", store the integer and return 0; else -1. */
int resp_reply_int(const char *p, size_t len, long long *v);

/* If p holds an aggregate header ("*n", "%n", "~n", ">n"), store n (for
 * '%' the number of pairs) and the header length and return the type char;
 * return 0 otherwise. For "*-1" n = -1. */
int resp_reply_agg(const char *p, size_t len, long long *n, size_t *hdr_len);

/* ------------------------------------------------------------ backends */

/* A connection handle of a backend (kernel: the socket fd). */
typedef int dp_conn_t;

enum dp_ev_kind {
	DP_EV_READABLE = 1,   /* conn has bytes (or EOF) to read */
	DP_EV_WRITABLE = 2,   /* conn accepts more bytes after a short send */
	DP_EV_ACCEPT = 3,     /* a new connection; .conn is its handle */
	DP_EV_WAKE = 4,       /* another shard asked this one to look at its rings */
	DP_EV_DATA = 5,       /* bytes already read for conn: .data/.len (DPDK) */
};

struct dp_event {
	uint32_t kind;
	dp_conn_t conn;
	void *udata;          /* what dp_conn_set_udata() stored */
	/* DATA only: the next bytes of conn's stream, valid until
	 * dp_release(). They are the shard's from here on: a shard that
	 * cannot run them now must keep a copy. */
	const char *data;
	size_t len;
	/* ACCEPT only: the peer and local addresses, printable. */
	char peer[64];
	char local[64];
	bool peer_is_loopback;
	bool peer_is_unix;
};

struct dp_port;

struct dp_port_conf {
	const char *const *bind;   /* addresses, NULL-terminated; "*"/"::" ok */
	int port;
	int backlog;
	int keepalive_s;           /* tcp-keepalive, 0 = off */
	bool reuseport;            /* one listener per shard on the same port */
};

/* Open a shard's port: its own listeners and poller. Called on the shard's
 * thread. Returns NULL with errno set (and *errmsg a static text) on error. */
struct dp_port *dp_kernel_open(const struct dp_port_conf *conf, const char **errmsg);
void dp_close_port(struct dp_port *p);
/* Check that no other process listens on the configured addresses: with
 * SO_REUSEPORT a second server would silently share the port. Returns 0,
 * or a negative errno with *errmsg set ("Address already in use"). */
int dp_kernel_probe(const struct dp_port_conf *conf, const char **errmsg);

/* Wait up to timeout_ms (0: don't wait, -1: forever) and return up to max
 * events (burst: best-effort count, 0 on timeout, negative errno on error). */
int dp_poll(struct dp_port *p, struct dp_event *ev, int max, int timeout_ms);

/* Best-effort I/O. recv returns bytes read, 0 on EOF, -EAGAIN when there is
 * nothing now, other negative errno on error. send returns bytes taken
 * (possibly fewer than n) or negative errno; -EAGAIN means none taken. */
ssize_t dp_recv(struct dp_port *p, dp_conn_t c, void *buf, size_t n);
/* The events of every dp_poll() since the last call are handled: the
 * bytes their DATA events carried may go (once per loop round, after the
 * events; a dp_poll made while handling events, as a busy script's is,
 * does not end the round). */
void dp_release(struct dp_port *p);
ssize_t dp_send(struct dp_port *p, dp_conn_t c, const void *buf, size_t n);
/* Choose which readiness events c reports: READABLE (off while the shard
 * applies back-pressure to a client) and WRITABLE (on after a short send). */
int dp_set_interest(struct dp_port *p, dp_conn_t c, bool read, bool write);
void dp_conn_set_udata(struct dp_port *p, dp_conn_t c, void *udata);
void dp_conn_close(struct dp_port *p, dp_conn_t c);
/* Stop accepting new connections (maxclients reached is handled by the
 * caller closing; this is for shutdown). */
void dp_stop_listening(struct dp_port *p);

/* A handle another thread can use to wake this port's dp_poll(); -1 for a
 * port that never sleeps (DPDK). */
int dp_wake_fd(struct dp_port *p);
/* Wake a port from any thread (async-signal-safe write to its eventfd).
 * A negative wake_fd is ignored. */
void dp_wake(int wake_fd);

/* -------------------------------------------------------- DPDK backend
 *
 * `dataplane dpdk`: EAL runs once per process (dp_dpdk_global_init, before
 * any shard starts); each shard then opens its port with dp_dpdk_open: its
 * own RX/TX queue pair of one DPDK ethdev port, its own mempool and its own
 * instance of the userspace TCP/IP stack (dataplane/netstack.h), listening
 * on dpdk-ip:port. The dp_* calls above work on such a port unchanged,
 * with these differences:
 *  - dp_poll never waits (timeout_ms is ignored): the shard busy-polls.
 *    Each call sends what the shard wrote since the last call (one TX burst
 *    per loop round), then receives a burst, runs the stack's input and
 *    timers and reports events. Readiness is level-triggered, as epoll's
 *    is for the kernel backend: a READABLE connection is reported on every
 *    call until dp_recv returns -EAGAIN (or read interest is off).
 *  - Run to completion: the payload of an in-order segment, of a
 *    connection with read interest and nothing waiting for dp_recv, is
 *    reported as a DATA event pointing into the received mbuf (no receive
 *    queue, no READABLE, no copy); the mbuf is freed by dp_release.
 *    Anything else (a connection's first bytes, what arrives while bytes
 *    wait, out-of-order repairs, EOF) takes the READABLE/dp_recv path, and
 *    a connection's DATA and READABLE bytes never overtake each other.
 *  - dp_wake_fd returns -1: there is nothing to wake.
 *  - The first dp_poll on a shard's thread registers that thread with EAL
 *    (rte_thread_register) and pins it to the CPU(s) of the shard's EAL
 *    lcore (shard i <-> the i-th lcore of -l/-c), so call it on the
 *    shard's own thread only. */

enum dp_backend { DP_BACKEND_KERNEL = 0, DP_BACKEND_DPDK = 1 };

/* The backend of p. Any thread. */
enum dp_backend dp_port_backend(const struct dp_port *p);

/* Start-up settings of the DPDK backend (the dpdk-* directives). */
struct dp_dpdk_conf {
	const char *eal_args;      /* dpdk-eal-args: EAL words, split at blanks */
	int port_id;               /* dpdk-port: ethdev port id */
	const char *ip;            /* dpdk-ip: "a.b.c.d/prefix" (required) */
	const char *gateway;       /* dpdk-gateway: "a.b.c.d", NULL/"" = none */
	int mtu;                   /* dpdk-mtu: IP MTU (576..9000) */
	int rx_desc, tx_desc;      /* dpdk-rx-desc/-tx-desc: ring size per queue */
	int mbufs;                 /* dpdk-mbufs: mbufs in each shard's mempool */
	unsigned nshards;          /* queues (= EAL lcores) to set up */
	unsigned max_conns;        /* TCP connections per shard */
	const char *fault_inject;  /* dpdk-fault-inject (tests only), NULL = off */
};

/* Start EAL and the port: parse the settings, rte_eal_init, check that
 * nshards equals the EAL lcore count, configure nshards RX/TX queues (RSS
 * on the TCP 4-tuple when the PMD has it), one mempool per shard, set the
 * MTU and start the port. Main thread, once, before the shards start.
 * Returns 0, or -1 with err holding what is wrong and what to do about it.
 * At process exit (atexit, after the shards have stopped) connections still
 * open are closed (FIN), the port is stopped and EAL cleaned up. */
int dp_dpdk_global_init(const struct dp_dpdk_conf *conf, char *err, size_t errlen);
/* Open shard `shard`'s port (queue `shard`) and its TCP/IP stack listening
 * on conf->port with conf->backlog (conf->bind is not used: the stack
 * answers on dpdk-ip only). After dp_dpdk_global_init; any thread (the
 * port is bound to its shard's thread by the first dp_poll). NULL with
 * errno set and *errmsg a static text on error. */
struct dp_port *dp_dpdk_open(unsigned shard, const struct dp_port_conf *conf,
			     const char **errmsg);

/* INFO's "# Dataplane" lines for one shard's port, appended to b: for
 * shard 0 also the port-wide lines (driver, address, ethdev counters). Any
 * thread (reads counters the shard publishes every few milliseconds).
 * Writes nothing for a kernel port. */
void dp_info(struct rbuf *b, const struct dp_port *p, unsigned shard);

#endif
