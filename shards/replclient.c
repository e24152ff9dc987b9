/* shards/replclient.c — the replica side of Redis replication: REPLICAOF,
 * the link to the master, full and partial resynchronisation, the master
 * client, ROLE and INFO replication. shards/replclient.h has the overview.
 *
 * Threads and who owns what:
 *  - The link thread ("kr-repl") owns the master's socket. It sleeps in
 *    poll() on the socket and on an eventfd (R.wake_fd) that shards write
 *    when they want its attention. Its work is a sequence of blocking steps
 *    with repl-timeout bounds: connect, handshake, PSYNC, RDB transfer into
 *    a file, waiting for the shards to load it, then the stream loop.
 *  - Shard 0 owns the master client (a struct conn without a socket), its
 *    reply accounting (S) and the applied offset (R.off_applied, written
 *    only by shard 0 while a master client exists, by the thread otherwise).
 *  - Each shard loads its own keys from a full sync's file (L[id]), in time
 *    slices between which it answers its clients (-LOADING).
 *  - Everything the thread and the shards exchange is in R under R.mu
 *    (configuration, requests, the stream bytes queued for shard 0) or
 *    atomic (state, offsets, flags). A shard is told to look by a bit in
 *    R.poll_mask and a dp_wake() of its port; it never blocks on the thread.
 *
 * Offsets. The master's stream is counted in bytes as Redis counts it: the
 * replica's offset (slave_repl_offset = master_repl_offset) covers the
 * commands whose effects are applied. Shard 0 records every request it
 * parses from the stream with its size; each reply of the master client is
 * counted instead of sent, in request order (the connection layer keeps
 * replies in order even when commands ran on other shards), and adds its
 * request's bytes. A MULTI ... EXEC block is added as a whole at EXEC, so a
 * link that drops in the middle resumes at the MULTI, as Redis's does.
 * Requests that get no reply (empty lines, REPLCONF GETACK/ACK) count once
 * every request before them has. When the link drops, the master client
 * stops parsing, waits for what it already dispatched, and the final
 * offset and selected db are kept for PSYNC <replid> <offset + 1>.
 *
 * Chains: every byte of the stream the applied offset passes is relayed
 * into our own backlog (applied_advance -> wstream_relay), so replicas of
 * ours are served the master's stream at the master's offsets
 * (replmaster.c); our shards' records of the applied writes go to the AOF
 * only (relay mode, set with the REPLICA gate).
 *
 * Full sync: the thread receives the RDB into dir/temp-<time>.<pid>.rdb,
 * raises the LOADING gate, and every shard empties its keyspace and feeds
 * the file to its own RDB reader in time slices, keeping the keys it owns
 * (shards/snap.c has only a blocking start-up loader, so the loader is
 * here). Keys are stored with rdb_obj_store(), outside the write stream:
 * with the AOF on, a rewrite follows. */
#include "shards/replclient.h"
#include "shards/snap.h"
#include "shards/replmaster.h"   /* master */
#include "shards/shard_int.h"
#include "repl/rdb.h"
#include "repl/wstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Atomic unsigned repl_gate_flags;
_Atomic(struct conn *) repl_master_conn;

/* Link states, as ROLE and INFO name them. */
enum link_state { LS_NONE = 0, LS_CONNECT, LS_CONNECTING, LS_HANDSHAKE, LS_TRANSFER,
		  LS_CONNECTED };

#define REPLID_LEN 40
/* Stream bytes the thread queues for shard 0 before it stops reading the
 * socket (the master's output buffer and the kernel's then hold the rest). */
#define REPL_QUEUE_MAX (32u << 20)
/* Unparsed stream bytes shard 0 lets the master client hold. */
#define REPL_FEED_MAX (8u << 20)
#define REPL_READ_CHUNK (256 * 1024)
#define REPL_LINE_MAX 4096
/* A loading shard answers its clients at least this often. */
#define REPL_LOAD_SLICE_MS 10
#define REPL_LOAD_CHUNK (1 << 20)
/* Commands in flight when the link drops must finish before the offset is
 * final; one that never does (it blocked) is given up on after this. */
#define REPL_DRAIN_LIMIT_MS 10000

struct chunk {
	struct chunk *next;
	size_t len;
	char data[];
};

static struct {
	pthread_mutex_t mu;
	int wake_fd;                  /* eventfd: wakes the link thread */
	bool started;                 /* thread running (shard 0 only) */
	/* ---- under mu ---- */
	char *host;                   /* the master; NULL: we are a master */
	int port;
	uint64_t gen;                 /* bumped by every REPLICAOF */
	char *auth, *user;            /* masterauth, masteruser */
	int timeout_s;                /* repl-timeout */
	int my_port;                  /* REPLCONF listening-port */
	long long backlog_size;       /* INFO only */
	bool appendonly;              /* rewrite the AOF after a full sync */
	char *dir;
	char replid[REPLID_LEN + 1], replid2[REPLID_LEN + 1];
	long long second_off;
	bool have_cached;             /* replid/off_applied/cached_db may PSYNC */
	int cached_db;
	struct chunk *q_head, *q_tail;
	size_t q_bytes;
	bool reader_paused;           /* the thread waits for the queue to shrink */
	bool attach_req, detach_req, detach_done, kill_link;
	uint64_t attach_gen;
	int attach_db;
	char peer[300];
	char *load_path;
	uint64_t load_gen;            /* bumped by the thread: load load_path */
	uint64_t load_go;             /* shard 0: every shard is locked for it */
	uint64_t load_done_gen;       /* the last shard finished loading it */
	unsigned load_pending, load_failed;
	unsigned long long load_keys;
	/* ---- atomics ---- */
	_Atomic int state;
	_Atomic int64_t last_io_ms, down_since_ms, xfer_io_ms;
	_Atomic long long xfer_size, xfer_read;
	_Atomic long long off_applied, off_read;
	_Atomic bool ack_now;
	_Atomic bool q_nonempty;
	_Atomic uint64_t poll_mask;   /* bit per shard: look at your requests */
} R = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
	.second_off = -1,
};

/* Requests of the master client still waiting for their reply. */
enum { RQ_CMD = 0, RQ_MULTI, RQ_EXEC, RQ_SILENT, RQ_GETACK };
struct rq {
	size_t bytes;
	uint8_t kind;
};

/* Shard 0's side of the link. */
static struct {
	struct conn *c;               /* the master client, NULL if none */
	struct rq *q;                 /* ring of requests awaiting replies */
	size_t qcap, qhead, qn;
	bool in_multi;
	long long multi_bytes;        /* of the MULTI block not yet applied */
	bool detaching;
	int64_t detach_ms;
	bool shift_pending;           /* REPLICAOF NO ONE: shift ids once detached */
	bool inited;
	/* A full sync's load runs under a lock of every shard (txn_lock_all). */
	struct txn *load_txn;         /* held */
	uint64_t load_txn_gen;        /* the load it is (or is being taken) for */
	bool load_locking;            /* asked, not yet granted */
	/* Relay (replica chains): the stream bytes handed to the master
	 * client and not yet applied, [relay_pos, relay.len). When the
	 * applied offset advances by n, the first n go to the backlog. */
	struct rbuf relay;
	size_t relay_pos;
} S;

/* A full sync this replica serves to its own replica (replmaster.c)
 * takes its snapshot while the master client is paused with nothing in
 * flight, so the data is exactly the master's at the applied offset. */
static _Atomic bool cut_pause_req, cut_paused;
static _Atomic long long cut_paused_off;

/* A shard loading a full sync's file. */
struct loader {
	bool active;
	uint64_t gen;                 /* load request served last */
	int fd;
	struct rdb_reader *r;
	char *buf;
	unsigned long long keys;
	int64_t start_ms;
};
static struct loader L[SHARD_MAX];

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void thread_wake(void)
{
	uint64_t one = 1;
	if (R.wake_fd >= 0)
		(void)!write(R.wake_fd, &one, sizeof(one));
}

static void shard_poke(unsigned id)
{
	atomic_fetch_or(&R.poll_mask, 1ull << id);
	dp_wake(g_shards[id]->wake_fd);
}

static void gate_set(unsigned bits, bool on)
{
	if (on)
		atomic_fetch_or(&repl_gate_flags, bits);
	else
		atomic_fetch_and(&repl_gate_flags, ~bits);
}

/* Being a replica: the gate, and the write stream's relay mode (the
 * backlog holds the master's bytes, not our re-recorded writes). */
static void replica_mode(bool on)
{
	if (on) {
		wstream_set_relay(true);
		gate_set(REPL_GATE_REPLICA, true);
	} else {
		gate_set(REPL_GATE_REPLICA, false);
		wstream_set_relay(false);
	}
}

void replclient_boot(const struct cfg *cfg)
{
	/* Before any shard serves a client: a configured replica refuses
	 * writes and PSYNC from its first request, not from shard 0's first
	 * loop round (repl_init). */
	if (cfg->replicaof && strrchr(cfg->replicaof, ' '))
		replica_mode(true);
}

static void new_replid(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[REPLID_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* No entropy source: time and addresses still make it unique
		 * enough for telling two histories apart. */
		uint64_t x = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			rnd[i] = (unsigned char)x;
		}
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[REPLID_LEN] = 0;
}

/* Drop the stream bytes queued for shard 0. Under R.mu. */
static void queue_clear_locked(void)
{
	while (R.q_head) {
		struct chunk *ch = R.q_head;
		R.q_head = ch->next;
		free(ch);
	}
	R.q_tail = NULL;
	R.q_bytes = 0;
	atomic_store(&R.q_nonempty, false);
}

/* REPLICAOF NO ONE: a new history starts here; the old one stays valid up
 * to off (replid2 / second_repl_offset), as Redis's shiftReplicationId. */
static void shift_ids_locked(long long off)
{
	memcpy(R.replid2, R.replid, sizeof(R.replid2));
	R.second_off = off + 1;
	new_replid(R.replid);
	/* The backlog goes on from the relayed bytes: former siblings may
	 * resume with the old id (master_replid2). */
	replmaster_relay_shift(R.replid, R.replid2, R.second_off, off);
}

/* ================================================================ link */

struct lnk {
	int fd;
	uint64_t gen;
	char *buf;                    /* bytes read and not consumed: [pos, len) */
	size_t pos, len, cap;
	int timeout_ms;
	char mark[REPLID_LEN];
};

/* The settings a connection attempt works with. */
struct linkcfg {
	char host[256];
	int port;
	uint64_t gen;
	char *auth, *user;
	int timeout_s;
	int my_port;
	char dir[PATH_MAX];
	bool have_cached;
	char replid[REPLID_LEN + 1];
	long long cached_off;
};

static bool link_aborted(const struct lnk *l)
{
	if (shard_shutdown_requested())
		return true;
	pthread_mutex_lock(&R.mu);
	bool stop = R.gen != l->gen || R.kill_link;
	pthread_mutex_unlock(&R.mu);
	return stop;
}

static void wake_drain(void)
{
	uint64_t v;
	(void)!read(R.wake_fd, &v, sizeof(v));
}

/* Wait for events on the socket: 1 ready, 0 timed out, -1 the link must
 * stop (REPLICAOF changed it, CLIENT KILL, shutdown). */
static int lnk_wait(const struct lnk *l, short events, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		struct pollfd p[2] = { { l->fd, events, 0 }, { R.wake_fd, POLLIN, 0 } };
		int64_t left = deadline - mono_ms();
		int n = poll(p, 2, left > 1000 ? 1000 : left < 0 ? 0 : (int)left);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0 && p[1].revents)
			wake_drain();
		if (link_aborted(l))
			return -1;
		if (n > 0 && p[0].revents)
			return 1;
		if (mono_ms() >= deadline)
			return 0;
	}
}

static int lnk_send(struct lnk *l, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = send(l->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			srv_log(LL_WARNING, "Error writing to MASTER: %s", strerror(errno));
			return -1;
		}
		if (lnk_wait(l, POLLOUT, l->timeout_ms) != 1)
			return -1;
	}
	return 0;
}

/* A command as RESP, sent whole. */
static int lnk_cmd(struct lnk *l, int argc, const char *const *argv)
{
	struct rbuf b = {0};
	resp_add_array(&b, argc);
	for (int i = 0; i < argc; i++)
		resp_add_bulk_cstr(&b, argv[i]);
	int rc = lnk_send(l, b.data, b.len);
	rbuf_free(&b);
	return rc;
}

/* Read more bytes into the buffer: > 0 read, -1 EOF, error, timeout or
 * abort (logged as what it was; what for is the caller's). */
static ssize_t lnk_fill(struct lnk *l, const char *what)
{
	if (l->pos == l->len) {
		l->pos = l->len = 0;
	} else if (l->pos > 0 && l->len == l->cap) {
		memmove(l->buf, l->buf + l->pos, l->len - l->pos);
		l->len -= l->pos;
		l->pos = 0;
	}
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : REPL_READ_CHUNK;
		char *nb = realloc(l->buf, cap);
		if (!nb)
			abort();
		l->buf = nb;
		l->cap = cap;
	}
	for (;;) {
		ssize_t n = recv(l->fd, l->buf + l->len, l->cap - l->len, 0);
		if (n > 0) {
			l->len += (size_t)n;
			atomic_store(&R.last_io_ms, mono_ms());
			return n;
		}
		if (n == 0) {
			srv_log(LL_WARNING, "MASTER closed the connection while %s", what);
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			srv_log(LL_WARNING, "Error reading from MASTER while %s: %s", what, strerror(errno));
			return -1;
		}
		int w = lnk_wait(l, POLLIN, l->timeout_ms);
		if (w == 0)
			srv_log(LL_WARNING, "Timeout connecting to the MASTER (while %s)...", what);
		if (w != 1)
			return -1;
	}
}

/* One line (CRLF or LF stripped) into out. Returns its length, or -1.
 * skip_empty: keep-alive newlines a master sends while it prepares a
 * full sync are skipped. */
static int lnk_line(struct lnk *l, char *out, size_t outlen, bool skip_empty, const char *what)
{
	for (;;) {
		char *nl = l->len > l->pos ? memchr(l->buf + l->pos, '\n', l->len - l->pos) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - (l->buf + l->pos));
			const char *s = l->buf + l->pos;
			l->pos += n + 1;
			if (n && s[n - 1] == '\r')
				n--;
			if (n == 0 && skip_empty)
				continue;
			if (n >= outlen) {
				srv_log(LL_WARNING, "Reply from MASTER too long while %s", what);
				return -1;
			}
			memcpy(out, s, n);
			out[n] = 0;
			return (int)n;
		}
		if (l->len - l->pos > REPL_LINE_MAX) {
			srv_log(LL_WARNING, "Reply from MASTER too long while %s", what);
			return -1;
		}
		if (lnk_fill(l, what) < 0)
			return -1;
	}
}

/* Hand stream bytes to shard 0 (they wait there until it attaches). */
static void stream_push(const char *p, size_t n)
{
	if (!n)
		return;
	struct chunk *ch = malloc(sizeof(*ch) + n);
	if (!ch)
		abort();
	ch->next = NULL;
	ch->len = n;
	memcpy(ch->data, p, n);
	pthread_mutex_lock(&R.mu);
	if (R.q_tail)
		R.q_tail->next = ch;
	else
		R.q_head = ch;
	R.q_tail = ch;
	R.q_bytes += n;
	atomic_store(&R.q_nonempty, true);
	pthread_mutex_unlock(&R.mu);
	atomic_fetch_add(&R.off_read, (long long)n);
	shard_poke(0);
}

/* Stream bytes that came in the same reads as the PSYNC reply or the end
 * of a disk-based payload: they are in the line buffer, not the socket. */
static void stream_leftover(struct lnk *l)
{
	if (l->pos < l->len)
		stream_push(l->buf + l->pos, l->len - l->pos);
	l->pos = l->len = 0;
}

/* Read what the socket has into the stream queue: > 0 bytes, 0 nothing
 * now, -1 the link is gone (logged). */
static ssize_t stream_pump(struct lnk *l)
{
	static char buf[REPL_READ_CHUNK];   /* the link thread's alone */
	ssize_t n = recv(l->fd, buf, sizeof(buf), 0);
	if (n > 0) {
		atomic_store(&R.last_io_ms, mono_ms());
		stream_push(buf, (size_t)n);
		return n;
	}
	if (n == 0) {
		srv_log(LL_WARNING, "Connection with master lost.");
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	srv_log(LL_WARNING, "Error reading from MASTER: %s", strerror(errno));
	return -1;
}

static int send_ack(struct lnk *l)
{
	char off[24];
	snprintf(off, sizeof(off), "%lld", atomic_load(&R.off_applied));
	const char *argv[] = { "REPLCONF", "ACK", off };
	return lnk_cmd(l, 3, argv);
}

static int lnk_connect(struct lnk *l, const struct linkcfg *lc)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", lc->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(lc->host, portstr, &hints, &res);
	if (rc != 0) {
		srv_log(LL_WARNING, "Unable to connect to MASTER: %s", gai_strerror(rc));
		return -1;
	}
	int err = ECONNREFUSED;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		l->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			err = errno;
		} else {
			int w = lnk_wait(l, POLLOUT, l->timeout_ms);
			socklen_t elen = sizeof(err);
			if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				freeaddrinfo(res);
				return 0;
			}
			if (w != 1)
				err = w == 0 ? ETIMEDOUT : ECANCELED;
		}
		close(fd);
		l->fd = -1;
	}
	freeaddrinfo(res);
	if (err != ECANCELED)
		srv_log(LL_WARNING, "Error condition on socket for SYNC: %s", strerror(err));
	return -1;
}

/* PING, AUTH, REPLCONF listening-port, REPLCONF capa: as a Redis 7
 * replica (the last three pipelined). 0, or -1 (logged). */
static int handshake(struct lnk *l, const struct linkcfg *lc)
{
	char line[REPL_LINE_MAX];
	const char *ping[] = { "PING" };
	if (lnk_cmd(l, 1, ping) != 0 || lnk_line(l, line, sizeof(line), false, "waiting for PING reply") < 0)
		return -1;
	/* An authentication error still proves the master is there. */
	if (line[0] != '+' && strncmp(line, "-NOAUTH", 7) != 0 && strncmp(line, "-NOPERM", 7) != 0 &&
	    strncmp(line, "-ERR operation not permitted", 28) != 0) {
		srv_log(LL_WARNING, "Error reply to PING from master: '%s'", line);
		return -1;
	}
	srv_log(LL_NOTICE, "Master replied to PING, replication can continue...");

	struct rbuf b = {0};
	bool auth = lc->auth != NULL;
	if (auth) {
		resp_add_array(&b, lc->user ? 3 : 2);
		resp_add_bulk_cstr(&b, "AUTH");
		if (lc->user)
			resp_add_bulk_cstr(&b, lc->user);
		resp_add_bulk_cstr(&b, lc->auth);
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", lc->my_port);
	const char *lp[] = { "REPLCONF", "listening-port", port };
	const char *capa[] = { "REPLCONF", "capa", "eof", "capa", "psync2" };
	resp_add_array(&b, 3);
	for (int i = 0; i < 3; i++)
		resp_add_bulk_cstr(&b, lp[i]);
	resp_add_array(&b, 5);
	for (int i = 0; i < 5; i++)
		resp_add_bulk_cstr(&b, capa[i]);
	int rc = lnk_send(l, b.data, b.len);
	rbuf_free(&b);
	if (rc != 0)
		return -1;
	if (auth) {
		if (lnk_line(l, line, sizeof(line), false, "waiting for AUTH reply") < 0)
			return -1;
		if (line[0] == '-') {
			srv_log(LL_WARNING, "Unable to AUTH to MASTER: %s", line);
			return -1;
		}
	}
	if (lnk_line(l, line, sizeof(line), false, "waiting for REPLCONF reply") < 0)
		return -1;
	if (line[0] == '-')
		srv_log(LL_NOTICE, "(Non critical) Master does not understand REPLCONF listening-port: %s",
			line);
	if (lnk_line(l, line, sizeof(line), false, "waiting for REPLCONF reply") < 0)
		return -1;
	if (line[0] == '-')
		srv_log(LL_NOTICE, "(Non critical) Master does not understand REPLCONF capa: %s", line);
	return 0;
}

enum { PSYNC_FULL, PSYNC_CONTINUE, PSYNC_LATER, PSYNC_ERROR };

/* Send PSYNC and read its answer. FULL: replid/off set to the master's;
 * CONTINUE: replid set to the master's (may equal lc->replid). */
static int psync(struct lnk *l, const struct linkcfg *lc, char *replid, long long *off)
{
	char offstr[24];
	const char *argv[3] = { "PSYNC", "?", "-1" };
	if (lc->have_cached) {
		snprintf(offstr, sizeof(offstr), "%lld", lc->cached_off + 1);
		argv[1] = lc->replid;
		argv[2] = offstr;
		srv_log(LL_NOTICE, "Trying a partial resynchronization (request %s:%s).", argv[1], offstr);
	} else {
		srv_log(LL_NOTICE, "Partial resynchronization not possible (no cached master)");
	}
	char line[REPL_LINE_MAX];
	if (lnk_cmd(l, 3, argv) != 0 ||
	    lnk_line(l, line, sizeof(line), true, "waiting for PSYNC reply") < 0)
		return PSYNC_ERROR;
	if (strncmp(line, "+FULLRESYNC", 11) == 0) {
		char id[REPLID_LEN + 2];
		long long o;
		if (sscanf(line + 11, " %41s %lld", id, &o) != 2 || strlen(id) != REPLID_LEN) {
			srv_log(LL_WARNING, "Master replied with wrong +FULLRESYNC syntax.");
			return PSYNC_ERROR;
		}
		memcpy(replid, id, REPLID_LEN + 1);
		*off = o;
		srv_log(LL_NOTICE, "Full resync from master: %s:%lld", id, o);
		return PSYNC_FULL;
	}
	if (strncmp(line, "+CONTINUE", 9) == 0) {
		const char *p = line + 9;
		while (*p == ' ')
			p++;
		if (strlen(p) >= REPLID_LEN && lc->have_cached) {
			memcpy(replid, p, REPLID_LEN);
			replid[REPLID_LEN] = 0;
		} else {
			memcpy(replid, lc->replid, REPLID_LEN + 1);
		}
		srv_log(LL_NOTICE, "Successful partial resynchronization with master.");
		return PSYNC_CONTINUE;
	}
	if (strncmp(line, "-NOMASTERLINK", 13) == 0 || strncmp(line, "-LOADING", 8) == 0) {
		srv_log(LL_NOTICE, "Master is currently unable to PSYNC but should be in the future: %s",
			line);
		return PSYNC_LATER;
	}
	srv_log(LL_WARNING, "Unexpected reply to PSYNC from master: %s", line);
	return PSYNC_ERROR;
}

/* Receive a full sync's RDB into path. Bytes after a disk-based payload
 * are the start of the stream (queued for shard 0). 0, or -1 (logged; the
 * file is removed). */
static int transfer(struct lnk *l, const char *path)
{
	char line[REPL_LINE_MAX];
	if (lnk_line(l, line, sizeof(line), true, "receiving the RDB header") < 0)
		return -1;
	if (line[0] == '-') {
		srv_log(LL_WARNING, "MASTER aborted replication with an error: %s", line + 1);
		return -1;
	}
	if (line[0] != '$') {
		srv_log(LL_WARNING, "Bad protocol from MASTER, the first byte is not '$' (we received "
			"'%.64s'), are you sure the host and port are right?", line);
		return -1;
	}
	bool usemark = strncmp(line + 1, "EOF:", 4) == 0;
	long long size = -1;
	if (usemark) {
		if (strlen(line + 5) < REPLID_LEN) {
			srv_log(LL_WARNING, "Bad EOF mark from MASTER: '%s'", line);
			return -1;
		}
		memcpy(l->mark, line + 5, REPLID_LEN);
		srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
	} else {
		char *end;
		errno = 0;
		size = strtoll(line + 1, &end, 10);
		if (errno || *end || end == line + 1 || size < 0) {
			srv_log(LL_WARNING, "Bad bulk length from MASTER: '%s'", line);
			return -1;
		}
		srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: receiving %lld bytes from master to disk", size);
	}
	atomic_store(&R.xfer_size, size);
	atomic_store(&R.xfer_read, 0);
	atomic_store(&R.xfer_io_ms, mono_ms());

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		srv_log(LL_WARNING, "Opening the temp file needed for MASTER <-> REPLICA synchronization: %s",
			strerror(errno));
		return -1;
	}
	long long got = 0;
	char tail[REPLID_LEN];        /* the last bytes received (mark mode) */
	size_t tail_len = 0;
	int rc = -1;
	while (usemark || got < size) {
		if (l->pos == l->len && lnk_fill(l, "receiving the RDB payload") < 0)
			goto out;
		size_t avail = l->len - l->pos;
		size_t take = avail;
		if (!usemark && (long long)take > size - got)
			take = (size_t)(size - got);
		const char *p = l->buf + l->pos;
		for (size_t off = 0; off < take;) {
			ssize_t w = write(fd, p + off, take - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				srv_log(LL_WARNING, "Write error saving the RDB from MASTER: %s", strerror(errno));
				goto out;
			}
			off += (size_t)w;
		}
		if (usemark) {
			if (take >= REPLID_LEN) {
				memcpy(tail, p + take - REPLID_LEN, REPLID_LEN);
				tail_len = REPLID_LEN;
			} else {
				size_t keep = tail_len + take > REPLID_LEN ? REPLID_LEN - take : tail_len;
				memmove(tail, tail + tail_len - keep, keep);
				memcpy(tail + keep, p, take);
				tail_len = keep + take;
			}
		}
		l->pos += take;
		got += (long long)take;
		atomic_store(&R.xfer_read, got);
		atomic_store(&R.xfer_io_ms, mono_ms());
		if (usemark && tail_len == REPLID_LEN && memcmp(tail, l->mark, REPLID_LEN) == 0) {
			if (ftruncate(fd, got - REPLID_LEN) != 0) {
				srv_log(LL_WARNING, "Error truncating the RDB from MASTER: %s", strerror(errno));
				goto out;
			}
			break;
		}
	}
	rc = 0;
out:
	if (close(fd) != 0 && rc == 0) {
		srv_log(LL_WARNING, "Error closing the RDB from MASTER: %s", strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(path);
	return rc;
}

/* Every shard flushes its keyspace and loads the keys it owns from path.
 * While they load, stream bytes that follow a disk-based payload are
 * queued. 0, or -1 (a shard failed, or the link was lost meanwhile: the
 * loaded data is kept and *lost says which). */
static int load_all(struct lnk *l, const char *path, bool *lost)
{
	*lost = false;
	pthread_mutex_lock(&R.mu);
	free(R.load_path);
	R.load_path = strdup(path);
	if (!R.load_path)
		abort();
	R.load_gen++;
	R.load_pending = g_nshards;
	R.load_failed = 0;
	R.load_keys = 0;
	pthread_mutex_unlock(&R.mu);
	gate_set(REPL_GATE_LOADING, true);
	srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: Flushing old data");
	srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: Loading DB in memory");
	int64_t t0 = mono_ms();
	for (unsigned i = 0; i < g_nshards; i++)
		shard_poke(i);
	stream_leftover(l);
	for (;;) {
		pthread_mutex_lock(&R.mu);
		unsigned pending = R.load_pending;
		bool room = R.q_bytes < REPL_QUEUE_MAX;
		pthread_mutex_unlock(&R.mu);
		if (!pending || shard_shutdown_requested())
			break;
		struct pollfd p[2] = { { R.wake_fd, POLLIN, 0 }, { l->fd, room && !*lost ? POLLIN : 0, 0 } };
		int n = poll(p, *lost ? 1 : 2, 1000);
		if (n > 0 && p[0].revents)
			wake_drain();
		if (n > 0 && !*lost && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && stream_pump(l) < 0)
			*lost = true;
	}
	gate_set(REPL_GATE_LOADING, false);
	unlink(path);
	pthread_mutex_lock(&R.mu);
	unsigned failed = R.load_failed;
	unsigned long long keys = R.load_keys;
	pthread_mutex_unlock(&R.mu);
	if (failed) {
		srv_log(LL_WARNING, "Failed trying to load the MASTER synchronization DB from disk, "
			"check server logs.");
		return -1;
	}
	srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: %llu keys loaded by %u shards in %.3f seconds",
		keys, g_nshards, (double)(mono_ms() - t0) / 1000.0);
	return *lost ? -1 : 0;
}

/* The loaded keys never went through the write stream: with the AOF on,
 * a rewrite makes its new base hold them (Redis restarts the AOF after a
 * full sync for the same reason). */
static void aof_after_sync(void)
{
	pthread_mutex_lock(&R.mu);
	bool on = R.appendonly;
	pthread_mutex_unlock(&R.mu);
	char err[128];
	if (on && aof_rewrite_request(err, sizeof(err)) != 0)
		srv_log(LL_WARNING, "Replication: the AOF could not be rewritten after the full sync "
			"(%s): run BGREWRITEAOF", err);
}

/* Ask shard 0 to create the master client at offset off with db selected. */
static void attach(const struct linkcfg *lc, int db)
{
	pthread_mutex_lock(&R.mu);
	R.attach_req = true;
	R.attach_gen = lc->gen;
	R.attach_db = db;
	snprintf(R.peer, sizeof(R.peer), "%s:%d", lc->host, lc->port);
	pthread_mutex_unlock(&R.mu);
	shard_poke(0);
}

/* Ask shard 0 to retire the master client once what it dispatched is
 * applied, and wait: afterwards off_applied and cached_db are final. */
static void detach_wait(void)
{
	pthread_mutex_lock(&R.mu);
	R.detach_req = true;
	R.detach_done = false;
	queue_clear_locked();
	pthread_mutex_unlock(&R.mu);
	shard_poke(0);
	for (;;) {
		pthread_mutex_lock(&R.mu);
		bool done = R.detach_done;
		pthread_mutex_unlock(&R.mu);
		if (done || shard_shutdown_requested())
			return;
		struct pollfd p = { R.wake_fd, POLLIN, 0 };
		if (poll(&p, 1, 1000) > 0)
			wake_drain();
	}
}

/* The connected state: queue the stream for shard 0, ACK every second
 * and when asked, watch for the master's silence. Returns when the link
 * must drop. */
static void stream_loop(struct lnk *l, const struct linkcfg *lc)
{
	int64_t last_ack = 0, quiet_since = mono_ms();
	stream_leftover(l);
	for (;;) {
		pthread_mutex_lock(&R.mu);
		bool room = R.q_bytes < REPL_QUEUE_MAX;
		R.reader_paused = !room;
		bool stop = R.gen != lc->gen || R.kill_link;
		if (R.kill_link)
			srv_log(LL_NOTICE, "Connection with master closed (the master client was killed).");
		pthread_mutex_unlock(&R.mu);
		if (stop || shard_shutdown_requested())
			return;
		int64_t now = mono_ms();
		bool ack = atomic_exchange(&R.ack_now, false);
		if (ack || now - last_ack >= 1000) {
			if (send_ack(l) != 0)
				return;
			last_ack = now;
		}
		if (!room)
			quiet_since = now;   /* we are not reading: the master is not quiet */
		int64_t last = atomic_load(&R.last_io_ms);
		if (last < quiet_since)
			last = quiet_since;
		if (now - last > (int64_t)lc->timeout_s * 1000) {
			srv_log(LL_WARNING, "MASTER timeout: no data nor PING received...");
			return;
		}
		int wait = (int)(1000 - (now - last_ack));
		struct pollfd p[2] = { { l->fd, room ? POLLIN : 0, 0 }, { R.wake_fd, POLLIN, 0 } };
		int n = poll(p, 2, wait < 1 ? 1 : wait);
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && p[1].revents)
			wake_drain();
		if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && stream_pump(l) < 0)
			return;
	}
}

static void lnk_close(struct lnk *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->pos = l->len = 0;
}

/* One connection to the master, from connect to drop. */
static void run_link(struct lnk *l, const struct linkcfg *lc)
{
	l->gen = lc->gen;
	l->timeout_ms = lc->timeout_s * 1000;
	l->pos = l->len = 0;
	pthread_mutex_lock(&R.mu);
	R.kill_link = false;
	pthread_mutex_unlock(&R.mu);
	srv_log(LL_NOTICE, "Connecting to MASTER %s:%d", lc->host, lc->port);
	atomic_store(&R.state, LS_CONNECTING);
	if (lnk_connect(l, lc) != 0)
		goto fail;
	srv_log(LL_NOTICE, "MASTER <-> REPLICA sync started");
	atomic_store(&R.state, LS_HANDSHAKE);
	if (handshake(l, lc) != 0)
		goto fail;
	char replid[REPLID_LEN + 1];
	long long off = 0;
	int ps = psync(l, lc, replid, &off);
	if (ps == PSYNC_LATER || ps == PSYNC_ERROR)
		goto fail;
	int db = 0;
	if (ps == PSYNC_FULL) {
		pthread_mutex_lock(&R.mu);
		R.have_cached = false;       /* the old history is gone */
		pthread_mutex_unlock(&R.mu);
		atomic_store(&R.state, LS_TRANSFER);
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/temp-%lld.%ld.rdb", lc->dir, (long long)time(NULL),
			 (long)getpid());
		if (transfer(l, path) != 0)
			goto fail;
		bool lost;
		int lrc = load_all(l, path, &lost);
		if (lrc != 0 && !lost)
			goto fail;
		/* The loaded data is the master's at off, whatever happens to
		 * the link now. */
		pthread_mutex_lock(&R.mu);
		bool same = R.gen == lc->gen;
		if (same) {
			memcpy(R.replid, replid, sizeof(R.replid));
			memset(R.replid2, '0', REPLID_LEN);
			R.replid2[REPLID_LEN] = 0;
			R.second_off = -1;
			R.have_cached = true;
			R.cached_db = 0;
			atomic_store(&R.off_applied, off);
			atomic_store(&R.off_read, off);
			/* The relayed stream starts here, at the master's off. */
			replmaster_relay_attach(R.replid, R.replid2, R.second_off, off, true);
		}
		pthread_mutex_unlock(&R.mu);
		srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: Finished with success");
		aof_after_sync();
		if (lost || !same)
			goto fail;
	} else {
		pthread_mutex_lock(&R.mu);
		if (R.gen != lc->gen) {
			pthread_mutex_unlock(&R.mu);
			goto fail;
		}
		if (strcmp(replid, R.replid) != 0) {
			/* The master's history continues under a new id (it was
			 * promoted): ours is valid up to where we are. */
			memcpy(R.replid2, R.replid, sizeof(R.replid2));
			R.second_off = atomic_load(&R.off_applied) + 1;
			memcpy(R.replid, replid, sizeof(R.replid));
			srv_log(LL_NOTICE, "Master replication ID changed to %s", replid);
		}
		db = R.cached_db;
		replmaster_relay_attach(R.replid, R.replid2, R.second_off, atomic_load(&R.off_applied),
					false);
		pthread_mutex_unlock(&R.mu);
		atomic_store(&R.off_read, atomic_load(&R.off_applied));
	}
	atomic_store(&R.last_io_ms, mono_ms());
	attach(lc, db);
	atomic_store(&R.state, LS_CONNECTED);
	gate_set(REPL_GATE_LINK_UP, true);
	srv_log(LL_NOTICE, "MASTER <-> REPLICA sync: Master accepted a %s resynchronization.",
		ps == PSYNC_FULL ? "full" : "partial");
	/* The first ACK at once: a diskless master starts the stream on it. */
	if (send_ack(l) == 0)
		stream_loop(l, lc);
	lnk_close(l);
	gate_set(REPL_GATE_LINK_UP, false);
	atomic_store(&R.down_since_ms, mono_ms());
	detach_wait();
	srv_log(LL_NOTICE, "Caching the disconnected master state.");
	atomic_store(&R.state, LS_CONNECT);
	return;
fail:
	lnk_close(l);
	atomic_store(&R.state, LS_CONNECT);
}

static void *link_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-repl");
	struct lnk l = { .fd = -1 };
	struct linkcfg lc;
	int64_t next_try = 0;
	uint64_t last_gen = 0;
	while (!shard_shutdown_requested()) {
		memset(&lc, 0, sizeof(lc));
		pthread_mutex_lock(&R.mu);
		bool have = R.host != NULL;
		if (have) {
			snprintf(lc.host, sizeof(lc.host), "%s", R.host);
			lc.port = R.port;
			lc.gen = R.gen;
			lc.auth = R.auth ? strdup(R.auth) : NULL;
			lc.user = R.user ? strdup(R.user) : NULL;
			lc.timeout_s = R.timeout_s;
			lc.my_port = R.my_port;
			snprintf(lc.dir, sizeof(lc.dir), "%s", R.dir ? R.dir : ".");
			lc.have_cached = R.have_cached;
			memcpy(lc.replid, R.replid, sizeof(lc.replid));
			lc.cached_off = atomic_load(&R.off_applied);
		}
		pthread_mutex_unlock(&R.mu);
		if (!have)
			atomic_store(&R.state, LS_NONE);
		int64_t now = mono_ms();
		if (have && lc.gen != last_gen)
			next_try = now;   /* a new REPLICAOF connects at once */
		if (!have || now < next_try) {
			free(lc.auth);
			free(lc.user);
			struct pollfd p = { R.wake_fd, POLLIN, 0 };
			int64_t wait = have ? next_try - now : 1000;
			if (poll(&p, 1, wait > 1000 ? 1000 : (int)wait) > 0)
				wake_drain();
			continue;
		}
		last_gen = lc.gen;
		run_link(&l, &lc);
		free(lc.auth);
		free(lc.user);
		next_try = mono_ms() + 1000;
	}
	free(l.buf);
	return NULL;
}

/* Start the link thread once (shard 0). */
static void thread_start(void)
{
	if (R.started)
		return;
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, link_main, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		srv_log(LL_WARNING, "Cannot start the replication thread: %s", strerror(rc));
		return;
	}
	R.started = true;
}

/* ================================================= the master client */

static void rq_push(size_t bytes, uint8_t kind)
{
	if (S.qn == S.qcap) {
		size_t ncap = S.qcap ? S.qcap * 2 : 256;
		struct rq *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			abort();
		for (size_t i = 0; i < S.qn; i++)
			nq[i] = S.q[(S.qhead + i) % S.qcap];
		free(S.q);
		S.q = nq;
		S.qcap = ncap;
		S.qhead = 0;
	}
	S.q[(S.qhead + S.qn) % S.qcap] = (struct rq){ bytes, kind };
	S.qn++;
}

static struct rq rq_pop(void)
{
	struct rq r = S.q[S.qhead];
	S.qhead = (S.qhead + 1) % S.qcap;
	S.qn--;
	return r;
}

/* The applied offset advances by n: the n stream bytes that made it go
 * to our backlog, so our replicas get the master's bytes at the master's
 * offsets. */
static void applied_advance(long long n)
{
	if (n <= 0)
		return;
	size_t avail = S.relay.len - S.relay_pos;
	size_t k = (size_t)n <= avail ? (size_t)n : avail;
	if (k != (size_t)n)   /* an invariant: every counted byte was fed */
		srv_log(LL_WARNING, "Replication: %lld applied bytes but %zu to relay", n, avail);
	wstream_relay(S.relay.data + S.relay_pos, k);
	S.relay_pos += k;
	if (S.relay_pos == S.relay.len) {
		S.relay.len = S.relay_pos = 0;
		if (S.relay.cap > 4u * 1024 * 1024)
			rbuf_free(&S.relay);
	} else if (S.relay_pos > 1024 * 1024 && S.relay_pos > S.relay.len / 2) {
		rbuf_consume(&S.relay, S.relay_pos);
		S.relay_pos = 0;
	}
	atomic_fetch_add(&R.off_applied, n);
}

static void applied_add(long long n)
{
	if (S.in_multi)
		S.multi_bytes += n;
	else
		applied_advance(n);
}

/* Requests without a reply at the head count as soon as they get there. */
static void rq_settle(void)
{
	while (S.qn && (S.q[S.qhead].kind == RQ_SILENT || S.q[S.qhead].kind == RQ_GETACK)) {
		struct rq r = rq_pop();
		if (r.kind == RQ_GETACK) {
			/* Everything before it is applied: the ACK the thread
			 * sends now covers at least that. */
			atomic_store(&R.ack_now, true);
			thread_wake();
		}
		applied_add(r.bytes);
	}
}

/* REPLCONF ACK and GETACK get no reply (Redis's rule, which the master
 * relies on: nothing is ever sent back for its stream). */
static bool replconf_silent(int argc, const struct resp_arg *argv)
{
	return argc >= 2 && (arg_is(&argv[1], "getack") || arg_is(&argv[1], "ack"));
}

void replclient_on_request(struct shard *sh, struct conn *c, const struct resp_req *req,
			   size_t bytes)
{
	(void)sh;
	(void)c;
	uint8_t kind = RQ_CMD;
	if (req->argc == 0)
		kind = RQ_SILENT;
	else if (arg_is(&req->argv[0], "multi"))
		kind = RQ_MULTI;
	else if (arg_is(&req->argv[0], "exec") || arg_is(&req->argv[0], "discard"))
		kind = RQ_EXEC;
	else if (arg_is(&req->argv[0], "replconf") && replconf_silent(req->argc, req->argv))
		kind = arg_is(&req->argv[1], "getack") ? RQ_GETACK : RQ_SILENT;
	rq_push(bytes, kind);
	rq_settle();
}

static void reply_seen(const struct conn *c, const char *p, size_t n)
{
	rq_settle();
	if (!S.qn) {
		srv_log(LL_WARNING, "Replication: a reply of the master client with no request (ignored)");
		return;
	}
	struct rq r = rq_pop();
	switch (r.kind) {
	case RQ_MULTI:
		if (p[0] == '+') {
			S.in_multi = true;
			S.multi_bytes = r.bytes;
		} else {
			applied_add(r.bytes);
		}
		break;
	case RQ_EXEC:
		if (S.in_multi) {
			S.in_multi = false;
			applied_advance(S.multi_bytes + r.bytes);
			S.multi_bytes = 0;
		} else {
			applied_add(r.bytes);
		}
		break;
	default:
		applied_add(r.bytes);
		break;
	}
	if (p[0] == '-') {
		/* A command the master ran fails here: the data sets may now
		 * differ, which Redis also only logs. */
		const char *cr = memchr(p, '\r', n);
		int len = (int)((cr ? (size_t)(cr - p) : n) - 1);
		srv_log(LL_WARNING, "== CRITICAL == This replica is sending an error to its master: "
			"'%.*s' (last command dispatched: '%s')", len > 200 ? 200 : len, p + 1,
			c->last_cmd ? c->last_cmd : "?");
	}
	rq_settle();
}

static void detach_check(struct shard *sh);

bool replclient_write(struct shard *sh, struct conn *c)
{
	size_t pos = c->out_sent;
	while (pos < c->out.len) {
		size_t n = resp_reply_len(c->out.data + pos, c->out.len - pos);
		if (!n)
			break;   /* replies land whole: nothing else can be there */
		reply_seen(c, c->out.data + pos, n);
		pos += n;
	}
	if (pos == c->out.len) {
		c->out.len = 0;
		if (c->out.cap > 1024 * 1024)
			rbuf_free(&c->out);
	} else {
		rbuf_consume(&c->out, pos);
	}
	c->out_sent = 0;
	rq_settle();
	if (c->closing && !c->pend_head && !S.detaching) {
		/* A protocol error in the stream: drop the link. */
		srv_log(LL_WARNING, "Protocol error from MASTER: dropping the link");
		pthread_mutex_lock(&R.mu);
		R.kill_link = true;
		pthread_mutex_unlock(&R.mu);
		thread_wake();
		S.detaching = true;
		S.detach_ms = sh->now_ms;
	}
	if (S.detaching) {
		detach_check(sh);
		return repl_master_conn != NULL;
	}
	return true;
}

/* Nothing of the master client is in flight: every reply counted. */
static bool master_quiet(const struct conn *c)
{
	return !S.qn && !c->pend_head && !c->inflight && !c->barrier && !c->gated &&
	       c->out.len == c->out_sent;
}

/* A cut pause is asked for: once the master client is quiet, outside
 * MULTI and has parsed all it was given, the data is the master's at the
 * applied offset: paused. Returns true if feed() must give it one more
 * chunk first (it waits for the rest of a command or of a MULTI block). */
static bool pause_step(void)
{
	if (!atomic_load(&cut_pause_req)) {
		if (atomic_load(&cut_paused))
			atomic_store(&cut_paused, false);
		return false;
	}
	struct conn *c = S.c;
	if (atomic_load(&cut_paused) || !c || S.detaching || !master_quiet(c))
		return false;
	if (c->in_off == c->in.len && !S.in_multi) {
		atomic_store(&cut_paused_off, atomic_load(&R.off_applied));
		atomic_store(&cut_paused, true);
		return false;
	}
	return true;
}

void replclient_cut_pause(bool on)
{
	atomic_store(&cut_pause_req, on);
	if (!on)
		atomic_store(&cut_paused, false);
	shard_poke(0);
}

bool replclient_cut_paused(long long *off)
{
	if (!atomic_load(&cut_pause_req) || !atomic_load(&cut_paused))
		return false;
	*off = atomic_load(&cut_paused_off);
	return true;
}

/* Move queued stream bytes into the master client and let it parse
 * (during a cut pause, one chunk at a time and only when pause_step()
 * asks). Every byte also goes to the relay FIFO. */
static unsigned feed(struct shard *sh)
{
	struct conn *c = S.c;
	bool one = false;
	if (atomic_load_explicit(&cut_pause_req, memory_order_relaxed)) {
		if (!pause_step())
			return 0;
		one = true;
	}
	if (!c || S.detaching || !atomic_load_explicit(&R.q_nonempty, memory_order_relaxed))
		return 0;
	if (c->in.len - c->in_off >= REPL_FEED_MAX)
		return 0;   /* it resumes parsing by itself when it can */
	pthread_mutex_lock(&R.mu);
	struct chunk *ch = R.q_head;
	size_t n;
	if (!ch) {
		pthread_mutex_unlock(&R.mu);
		return 0;
	}
	if (one) {
		R.q_head = ch->next;
		if (!R.q_head)
			R.q_tail = NULL;
		ch->next = NULL;
		n = ch->len;
		R.q_bytes -= n;
	} else {
		R.q_head = R.q_tail = NULL;
		n = R.q_bytes;
		R.q_bytes = 0;
	}
	atomic_store(&R.q_nonempty, R.q_head != NULL);
	bool paused = R.reader_paused;
	pthread_mutex_unlock(&R.mu);
	if (paused)
		thread_wake();
	while (ch) {
		struct chunk *next = ch->next;
		rbuf_append(&c->in, ch->data, ch->len);
		rbuf_append(&S.relay, ch->data, ch->len);
		free(ch);
		ch = next;
	}
	c->last_ms = sh->now_ms;
	conn_resume(sh, c);
	return n ? 1 : 0;
}

static void master_attach(struct shard *sh, int db, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->sh = sh;
	c->fd = -1;                    /* no socket: the link thread reads it */
	c->id = ++sh->conn_seq * g_nshards + sh->id;
	c->proto = 2;
	c->db = db;
	c->blk_shard = -1;
	c->authed = true;
	c->ctime_ms = c->last_ms = sh->now_ms;
	c->last_cmd = "NULL";
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->local, sizeof(c->local), "?:0");
	c->next = sh->conns;
	if (sh->conns)
		sh->conns->prev = c;
	sh->conns = c;
	sh->nconns++;
	STAT_SET(sh->stats.conns, sh->nconns);
	S.c = c;
	S.qhead = S.qn = 0;
	S.in_multi = false;
	S.multi_bytes = 0;
	S.detaching = false;
	S.relay.len = S.relay_pos = 0;
	atomic_store(&repl_master_conn, c);
	srv_log(LL_NOTICE, "Replication: master client id=%llu attached at offset %lld, db %d",
		(unsigned long long)c->id, atomic_load(&R.off_applied), db);
}

/* The master client is done: its offset and db are final. */
static void detach_finish(struct shard *sh)
{
	struct conn *c = S.c;
	long long off = atomic_load(&R.off_applied);
	pthread_mutex_lock(&R.mu);
	R.cached_db = c->db;
	R.have_cached = true;
	R.detach_done = true;
	bool shifted = S.shift_pending;
	if (S.shift_pending) {
		shift_ids_locked(off);
		S.shift_pending = false;
	}
	pthread_mutex_unlock(&R.mu);
	/* Bytes fed and never applied: the master sends them again. */
	S.relay.len = S.relay_pos = 0;
	if (shifted)
		replica_mode(false);   /* REPLICAOF NO ONE kept it until now */
	atomic_store(&R.off_read, off);
	S.c = NULL;
	S.detaching = false;
	S.qn = 0;
	S.in_multi = false;
	S.multi_bytes = 0;
	atomic_store(&repl_master_conn, NULL);
	conn_close(sh, c);             /* an ordinary close from here on */
	thread_wake();
	srv_log(LL_NOTICE, "Replication: master client detached at offset %lld, db %d", off, R.cached_db);
}

static void detach_check(struct shard *sh)
{
	struct conn *c = S.c;
	if (!S.detaching || !c)
		return;
	bool idle = !S.qn && !c->pend_head && !c->inflight && !c->barrier && !c->gated &&
		    c->out.len == c->out_sent;
	if (!idle && sh->now_ms - S.detach_ms < REPL_DRAIN_LIMIT_MS)
		return;
	if (!idle)
		srv_log(LL_WARNING, "Replication: %zu commands of the master are still pending after "
			"%d s: offset %lld may be behind what was applied", S.qn,
			REPL_DRAIN_LIMIT_MS / 1000, atomic_load(&R.off_applied));
	detach_finish(sh);
}

/* Stop parsing the stream; finish once what was dispatched is applied. */
static void detach_begin(struct shard *sh)
{
	struct conn *c = S.c;
	if (!c) {
		pthread_mutex_lock(&R.mu);
		R.detach_done = true;
		pthread_mutex_unlock(&R.mu);
		thread_wake();
		return;
	}
	if (!S.detaching) {
		S.detaching = true;
		S.detach_ms = sh->now_ms;
		/* Unparsed bytes are dropped: the master sends them again. */
		c->in.len = c->in_off;
		c->in_need = 0;
		pthread_mutex_lock(&R.mu);
		queue_clear_locked();
		pthread_mutex_unlock(&R.mu);
	}
	replclient_write(sh, c);       /* count replies already due */
	detach_check(sh);
}

bool replclient_defer_close(struct shard *sh, struct conn *c)
{
	(void)c;
	/* CLIENT KILL of the master (or a protocol error): drop the link as
	 * Redis does, and reconnect with PSYNC from what was applied. The
	 * client is closed by detach_finish(), maybe right now. */
	if (!S.detaching) {
		srv_log(LL_NOTICE, "Replication: the master client is being closed: dropping the link");
		pthread_mutex_lock(&R.mu);
		R.kill_link = true;
		pthread_mutex_unlock(&R.mu);
		thread_wake();
		detach_begin(sh);
	}
	return true;
}

long long replclient_kill_master(void)
{
	/* CLIENT KILL TYPE master: the link drops and the replica resumes
	 * with PSYNC, as when the master client is killed by id. */
	if (atomic_load(&R.state) != LS_CONNECTED)
		return 0;
	pthread_mutex_lock(&R.mu);
	R.kill_link = true;
	pthread_mutex_unlock(&R.mu);
	thread_wake();
	return 1;
}

/* ================================================== full-sync loading */

static int load_key(void *arg, struct rdb_key *k)
{
	struct shard *sh = arg;
	if (!shard_owns_key(sh, k->key, k->klen)) {
		rdb_obj_free(&k->obj);
		return 0;
	}
	struct ks_db *db = &sh->ks->db[k->db];
	struct ks_entry *e = rdb_obj_store(db, k->key, k->klen, &k->obj);
	/* Kept even if already expired: a replica waits for its master's
	 * DEL, as Redis's does. */
	if (k->expire_ms != KS_NO_EXPIRE)
		ks_set_expire(db, e, k->expire_ms);
	L[sh->id].keys++;
	return 0;
}

/* Empty every db of this shard; watchers and blocked clients see it (as
 * FLUSHALL). */
static void flush_all(struct shard *sh)
{
	/* A snapshot under way keeps this shard's part of the data set as of
	 * its cut: finish that part before the keys go. */
	snap_settle(sh);
	for (int d = 0; d < sh->ks->ndb; d++)
		if (ks_size(&sh->ks->db[d])) {
			txn_signal_db(sh, d, d);
			ks_flush(&sh->ks->db[d]);
		}
}

static void load_end(struct shard *sh, bool ok, const char *why)
{
	struct loader *ld = &L[sh->id];
	if (!ok) {
		srv_log(LL_WARNING, "Shard %u: loading the RDB from the MASTER failed: %s", sh->id, why);
		flush_all(sh);   /* no half data set */
	}
	if (ld->r)
		rdb_reader_free(ld->r);
	if (ld->fd >= 0)
		close(ld->fd);
	free(ld->buf);
	ld->r = NULL;
	ld->buf = NULL;
	ld->fd = -1;
	ld->active = false;
	srv_log(LL_VERBOSE, "Shard %u: %llu keys loaded in %lld ms", sh->id, ld->keys,
		(long long)(mono_ms() - ld->start_ms));
	pthread_mutex_lock(&R.mu);
	R.load_pending--;
	R.load_failed += !ok;
	R.load_keys += ld->keys;
	if (R.load_pending == 0)
		R.load_done_gen = ld->gen;
	pthread_mutex_unlock(&R.mu);
	thread_wake();
	shard_poke(0);   /* it releases the shards' locks */
}

static void load_start(struct shard *sh, const char *path)
{
	struct loader *ld = &L[sh->id];
	ld->keys = 0;
	ld->start_ms = mono_ms();
	ld->fd = -1;
	ld->active = true;
	flush_all(sh);
	ld->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ld->fd < 0) {
		load_end(sh, false, strerror(errno));
		return;
	}
	ld->buf = malloc(REPL_LOAD_CHUNK);
	if (!ld->buf)
		abort();
	struct rdb_limits lim;
	rdb_limits_from_cfg(&lim, sh->cfg);
	struct rdb_load_cbs cbs = { .key = load_key, .arg = sh };
	struct rdb_load_opts opts = { .ndb = sh->ks->ndb, .check_crc = sh->cfg->rdbchecksum };
	ld->r = rdb_reader_new(&lim, &cbs, &opts);
}

/* One time slice of loading. */
static void load_step(struct shard *sh)
{
	struct loader *ld = &L[sh->id];
	int64_t t0 = mono_ms();
	do {
		ssize_t n = read(ld->fd, ld->buf, REPL_LOAD_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			load_end(sh, false, strerror(errno));
			return;
		}
		int rc = n == 0 ? rdb_reader_finish(ld->r) : rdb_reader_feed(ld->r, ld->buf, (size_t)n, NULL);
		if (rc < 0) {
			load_end(sh, false, rdb_reader_error(ld->r));
			return;
		}
		if (rc == 1 || n == 0) {
			load_end(sh, true, NULL);
			return;
		}
	} while (mono_ms() - t0 < REPL_LOAD_SLICE_MS);
}

/* ====================================================== shard hooks */

static void repl_init(struct shard *sh)
{
	const struct cfg *cfg = sh->cfg;
	S.inited = true;
	R.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (R.wake_fd < 0)
		srv_log(LL_WARNING, "Replication: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&R.mu);
	new_replid(R.replid);
	memset(R.replid2, '0', REPLID_LEN);
	R.replid2[REPLID_LEN] = 0;
	R.second_off = -1;
	R.dir = strdup(cfg->dir ? cfg->dir : ".");
	R.my_port = cfg->port;
	R.backlog_size = cfg->repl_backlog_size;
	R.appendonly = cfg->appendonly;
	R.auth = cfg->masterauth ? strdup(cfg->masterauth) : NULL;
	R.user = cfg->masteruser ? strdup(cfg->masteruser) : NULL;
	R.timeout_s = cfg->repl_timeout_s;
	bool replica = false;
	if (cfg->replicaof) {
		const char *sp = strrchr(cfg->replicaof, ' ');
		if (sp) {
			R.host = strndup(cfg->replicaof, (size_t)(sp - cfg->replicaof));
			R.port = atoi(sp + 1);
			R.gen++;
			replica = R.host != NULL;
		}
	}
	pthread_mutex_unlock(&R.mu);
	if (replica) {
		atomic_store(&R.state, LS_CONNECT);
		replica_mode(true);
		thread_start();
	}
}

static void shard0_requests(struct shard *sh)
{
	pthread_mutex_lock(&R.mu);
	bool att = R.attach_req, det = R.detach_req;
	R.attach_req = R.detach_req = false;
	bool att_ok = att && R.attach_gen == R.gen && R.host;
	int db = R.attach_db;
	char peer[sizeof(R.peer)];
	memcpy(peer, R.peer, sizeof(peer));
	pthread_mutex_unlock(&R.mu);
	if (att_ok && !S.c)
		master_attach(sh, db, peer);
	if (det)
		detach_begin(sh);
}

/* Shard 0: a full sync's load is one transaction over every shard, so a
 * cross-shard request admitted before the LOADING gate went up (an MGET,
 * a MULTI/EXEC, a read forwarded to the key's shard) either finishes
 * before any shard flushes or runs after every shard has loaded: nobody
 * sees some shards loaded and others not. The load starts once every
 * lock is held and ends by releasing them. */
static void load_locked(struct shard *sh, struct txn *t, void *arg)
{
	(void)arg;
	S.load_locking = false;
	S.load_txn = t;
	pthread_mutex_lock(&R.mu);
	R.load_go = S.load_txn_gen;
	pthread_mutex_unlock(&R.mu);
	for (unsigned i = 0; i < g_nshards; i++)
		shard_poke(i);
	(void)sh;
}

static void load_lock(struct shard *sh)
{
	pthread_mutex_lock(&R.mu);
	uint64_t gen = R.load_gen, done = R.load_done_gen;
	pthread_mutex_unlock(&R.mu);
	if (S.load_txn && done == S.load_txn_gen) {
		txn_release(sh, S.load_txn);
		S.load_txn = NULL;
	}
	if (!S.load_txn && !S.load_locking && gen != S.load_txn_gen) {
		S.load_txn_gen = gen;
		S.load_locking = true;
		txn_lock_all(sh, load_locked, NULL);
	}
}

static void load_requests(struct shard *sh)
{
	struct loader *ld = &L[sh->id];
	pthread_mutex_lock(&R.mu);
	uint64_t gen = R.load_go;
	char *path = gen != ld->gen && R.load_path ? strdup(R.load_path) : NULL;
	pthread_mutex_unlock(&R.mu);
	if (!path)
		return;
	ld->gen = gen;
	srv_log(LL_VERBOSE, "Shard %u: loading %s", sh->id, path);
	load_start(sh, path);
	free(path);
}

static __attribute__((noinline)) unsigned replclient_poll_slow(struct shard *sh);

unsigned replclient_poll(struct shard *sh)
{
	/* Every round of every shard: nothing to do unless a request came,
	 * a load runs here, or (shard 0) set-up, a link or a cut pause is
	 * pending. The same tests as below, cheapest first. */
	if (!(atomic_load_explicit(&R.poll_mask, memory_order_relaxed) & (1ull << sh->id)) &&
	    !L[sh->id].active &&
	    (sh->id != 0 || (S.inited && !S.c &&
			     !atomic_load_explicit(&cut_paused, memory_order_relaxed))))
		return 0;
	return replclient_poll_slow(sh);
}

static unsigned replclient_poll_slow(struct shard *sh)
{
	unsigned work = 0;
	if (sh->id == 0 && !S.inited)
		repl_init(sh);
	uint64_t bit = 1ull << sh->id;
	if (atomic_load_explicit(&R.poll_mask, memory_order_relaxed) & bit) {
		atomic_fetch_and(&R.poll_mask, ~bit);
		work++;
		if (sh->id == 0) {
			shard0_requests(sh);
			load_lock(sh);
		}
		if (!L[sh->id].active)
			load_requests(sh);
	}
	if (L[sh->id].active) {
		load_step(sh);
		work++;
	}
	if (sh->id == 0 && !S.c && atomic_load_explicit(&cut_paused, memory_order_relaxed) &&
	    !atomic_load_explicit(&cut_pause_req, memory_order_relaxed))
		atomic_store(&cut_paused, false);
	if (sh->id == 0 && S.c) {
		if (atomic_load_explicit(&cut_pause_req, memory_order_relaxed))
			pause_step();
		work += feed(sh);
		if (S.detaching)
			detach_check(sh);
	}
	return work;
}

/* ============================================================== gate */

const char *replclient_deny_slow(const struct shard *sh, const struct conn *c,
				 const struct cmd_def *cmd)
{
	unsigned g = atomic_load_explicit(&repl_gate_flags, memory_order_relaxed);
	if (replclient_is_master(c))
		return NULL;
	if ((g & REPL_GATE_REPLICA) && (cmd->flags & CMD_WRITE) && sh->cfg->replica_read_only)
		return "READONLY You can't write against a read only replica.";
	if ((g & REPL_GATE_REPLICA) && !(g & REPL_GATE_LINK_UP) && !sh->cfg->replica_serve_stale_data &&
	    !(cmd->flags & CMD_STALE))
		return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
	if ((g & REPL_GATE_LOADING) && !(cmd->flags & CMD_LOADING))
		return "LOADING Redis is loading the dataset in memory";
	return NULL;
}

bool replclient_script_may_write(const struct shard *sh)
{
	return !replclient_is_replica() || !sh->cfg->replica_read_only;
}

bool replclient_loading(void)
{
	return atomic_load_explicit(&repl_gate_flags, memory_order_relaxed) & REPL_GATE_LOADING;
}

void replclient_cfg_changed(struct shard *sh)
{
	if (sh->id != 0)
		return;
	const struct cfg *cfg = sh->cfg;
	pthread_mutex_lock(&R.mu);
	free(R.auth);
	free(R.user);
	R.auth = cfg->masterauth ? strdup(cfg->masterauth) : NULL;
	R.user = cfg->masteruser ? strdup(cfg->masteruser) : NULL;
	R.timeout_s = cfg->repl_timeout_s;
	R.appendonly = cfg->appendonly;
	pthread_mutex_unlock(&R.mu);
}

/* ========================================================== commands */

/* __replicaof [<host port>]: keep a shard's configuration copy in step
 * with REPLICAOF, for CONFIG GET replicaof. */
static void cmd_int_replicaof(struct cmd_ctx *ctx)
{
	struct cfg *cfg = ctx->sh->cfg;
	free(cfg->replicaof);
	cfg->replicaof = NULL;
	if (ctx->argc > 1) {
		cfg->replicaof = strndup(ctx->argv[1].p, ctx->argv[1].len);
		if (!cfg->replicaof)
			abort();
	}
	resp_add_ok(ctx->out);
}

static const struct cmd_def cmd_internal_replicaof = {
	.name = "__replicaof", .arity = -1, .flags = CMD_INTERNAL, .fn = cmd_int_replicaof,
};

static void cfg_mirror(struct shard *sh, const char *hostport)
{
	struct resp_arg av[2] = { { "__replicaof", 11 }, { hostport, hostport ? strlen(hostport) : 0 } };
	int argc = hostport ? 2 : 1;
	for (unsigned d = 0; d < g_nshards; d++) {
		if (d == sh->id) {
			struct rbuf out = {0};
			struct cmd_ctx ctx = { .sh = sh, .out = &out, .argc = argc, .argv = av };
			cmd_int_replicaof(&ctx);
			rbuf_free(&out);
			continue;
		}
		struct shard_msg *m = shard_msg_new(sh, &cmd_internal_replicaof, argc, av);
		m->noreply = true;
		shard_send(sh, d, m);
	}
}

unsigned replclient_route(const struct cmd_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static void who(const struct cmd_ctx *ctx, char *buf, size_t len)
{
	if (ctx->c)
		snprintf(buf, len, "id=%llu addr=%s", (unsigned long long)ctx->c->id, ctx->c->peer);
	else
		snprintf(buf, len, "a client of another shard");
}

/* REPLICAOF host port | NO ONE (and SLAVEOF). Runs on shard 0. */
void cmd_replicaof(struct cmd_ctx *ctx)
{
	struct shard *sh = ctx->sh;
	const struct resp_arg *h = &ctx->argv[1], *p = &ctx->argv[2];
	char whobuf[128];
	who(ctx, whobuf, sizeof(whobuf));
	if (arg_is(h, "no") && arg_is(p, "one")) {
		pthread_mutex_lock(&R.mu);
		bool was_replica = R.host != NULL;
		if (was_replica) {
			free(R.host);
			R.host = NULL;
			R.gen++;
			/* A new history from here (Redis's shiftReplicationId):
			 * once what the master client dispatched is applied, at
			 * once when nothing is in flight. A sync under way no
			 * longer adopts the master's ids (the gen changed). */
			if (S.c)
				S.shift_pending = true;
			else
				shift_ids_locked(atomic_load(&R.off_applied));
		}
		bool pending = S.shift_pending;
		pthread_mutex_unlock(&R.mu);
		if (was_replica) {
			/* With master commands still in flight we stay a replica
			 * (READONLY, relay mode) until they are applied: their
			 * bytes go to the backlog before any write of ours. */
			gate_set(REPL_GATE_LINK_UP, false);
			if (!pending)
				replica_mode(false);
			atomic_store(&R.state, LS_NONE);
			detach_begin(sh);
			thread_wake();
			cfg_mirror(sh, NULL);
			srv_log(LL_NOTICE, "MASTER MODE enabled (user request from '%s')", whobuf);
		}
		resp_add_ok(ctx->out);
		return;
	}
	long long port;
	if (arg_to_ll(p, &port) != 0 || port < 0 || port > 65535) {
		resp_add_error(ctx->out, "ERR Invalid master port");
		return;
	}
	if (h->len == 0 || h->len > 255 || memchr(h->p, ' ', h->len) || memchr(h->p, 0, h->len)) {
		resp_add_error(ctx->out, "ERR Invalid master host");
		return;
	}
	char host[256];
	memcpy(host, h->p, h->len);
	host[h->len] = 0;
	pthread_mutex_lock(&R.mu);
	if (R.host && strcasecmp(R.host, host) == 0 && R.port == port) {
		pthread_mutex_unlock(&R.mu);
		srv_log(LL_NOTICE, "REPLICAOF would result into synchronization with the master we "
			"are already connected with. No operation performed.");
		resp_add_simple(ctx->out, "OK Already connected to specified master");
		return;
	}
	bool was_master = R.host == NULL;
	free(R.host);
	R.host = strdup(host);
	if (!R.host)
		abort();
	R.port = (int)port;
	R.gen++;
	if (was_master) {
		/* Our own history may continue from the new master's (PSYNC
		 * with our id and offset, as Redis's replicas do): the offset
		 * is where our stream is now, writes made as a master
		 * included. */
		long long mo;
		R.have_cached = true;
		R.cached_db = 0;
		if (replmaster_offset(R.replid, &mo)) {
			atomic_store(&R.off_applied, mo);
			atomic_store(&R.off_read, mo);
		}
	}
	S.shift_pending = false;
	replmaster_relay_stop();
	pthread_mutex_unlock(&R.mu);
	atomic_store(&R.state, LS_CONNECT);
	gate_set(REPL_GATE_LINK_UP, false);
	replica_mode(true);
	if (S.c)
		detach_begin(sh);   /* the thread waits for it, then connects */
	thread_start();
	thread_wake();
	char hp[300];
	snprintf(hp, sizeof(hp), "%s %lld", host, port);
	cfg_mirror(sh, hp);
	srv_log(LL_NOTICE, "REPLICAOF %s:%lld enabled (user request from '%s')", host, port, whobuf);
	resp_add_ok(ctx->out);
}

static const char *state_name(int st)
{
	switch (st) {
	case LS_NONE: return "none";
	case LS_CONNECT: return "connect";
	case LS_CONNECTING: return "connecting";
	case LS_HANDSHAKE: return "handshake";
	case LS_TRANSFER: return "sync";
	case LS_CONNECTED: return "connected";
	default: return "unknown";
	}
}

void cmd_role(struct cmd_ctx *ctx)
{
	char host[256] = "";
	pthread_mutex_lock(&R.mu);
	bool replica = R.host != NULL;
	if (replica)
		snprintf(host, sizeof(host), "%s", R.host);
	int port = R.port;
	pthread_mutex_unlock(&R.mu);
	long long off = atomic_load(&R.off_applied);
	if (!replica) {
		replmaster_role(ctx);   /* master */
		return;
	}
	int st = atomic_load(&R.state);
	resp_add_array(ctx->out, 5);
	resp_add_bulk_cstr(ctx->out, "slave");
	resp_add_bulk_cstr(ctx->out, host);
	resp_add_int(ctx->out, port);
	resp_add_bulk_cstr(ctx->out, state_name(st));
	resp_add_int(ctx->out, st == LS_CONNECTED ? off : -1);
}

/* REPLCONF <option> <value> ...: what a replica's master sends (GETACK:
 * counted in the stream, answered by the link thread) and the options a
 * replica's handshake sends us (accepted; serving replicas comes with the
 * master side). ACK and GETACK are never answered, as in Redis. */
void cmd_replconf(struct cmd_ctx *ctx)
{
	if (ctx->argc % 2 == 0) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (replconf_silent(ctx->argc, ctx->argv))
		return;
	for (int i = 1; i < ctx->argc; i += 2) {
		const struct resp_arg *o = &ctx->argv[i], *v = &ctx->argv[i + 1];
		long long x;
		if (arg_is(o, "listening-port") || arg_is(o, "rdb-only") || arg_is(o, "rdb-filter-only")) {
			if (!arg_is(o, "rdb-filter-only") && arg_ll(ctx, v, &x) != 0)
				return;
		} else if (arg_is(o, "ip-address")) {
			if (v->len >= 46) {   /* NET_HOST_STR_LEN */
				resp_add_errorf(ctx->out, "ERR REPLCONF ip-address provided by replica instance is too long: %zd bytes", v->len);
				return;
			}
		} else if (!arg_is(o, "capa")) {
			resp_add_errorf(ctx->out, "ERR Unrecognized REPLCONF option: %.*s", (int)o->len, o->p);
			return;
		}
	}
	replmaster_replconf(ctx);   /* master */
	resp_add_ok(ctx->out);
}

/* ============================================================== INFO */

static void infof(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void infof(struct rbuf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		rbuf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void replclient_info(const struct shard *sh, struct rbuf *t)
{
	char host[256] = "", replid[REPLID_LEN + 1], replid2[REPLID_LEN + 1];
	pthread_mutex_lock(&R.mu);
	bool replica = R.host != NULL;
	if (replica)
		snprintf(host, sizeof(host), "%s", R.host);
	int port = R.port;
	memcpy(replid, R.replid, sizeof(replid));
	memcpy(replid2, R.replid2, sizeof(replid2));
	long long second = R.second_off, backlog = R.backlog_size;
	pthread_mutex_unlock(&R.mu);
	long long off = atomic_load(&R.off_applied), roff = atomic_load(&R.off_read);
	int64_t now = mono_ms();
	if (replica) {
		int st = atomic_load(&R.state);
		bool attached = st == LS_CONNECTED;
		infof(t, "role:slave\r\nmaster_host:%s\r\nmaster_port:%d\r\n", host, port);
		infof(t, "master_link_status:%s\r\n", attached ? "up" : "down");
		infof(t, "master_last_io_seconds_ago:%d\r\n",
		      attached ? (int)((now - atomic_load(&R.last_io_ms)) / 1000) : -1);
		infof(t, "master_sync_in_progress:%d\r\n", st == LS_TRANSFER);
		infof(t, "slave_read_repl_offset:%lld\r\nslave_repl_offset:%lld\r\n", roff, off);
		if (st == LS_TRANSFER) {
			long long size = atomic_load(&R.xfer_size), got = atomic_load(&R.xfer_read);
			infof(t, "master_sync_total_bytes:%lld\r\nmaster_sync_read_bytes:%lld\r\n"
			      "master_sync_left_bytes:%lld\r\nmaster_sync_perc:%.2f\r\n"
			      "master_sync_last_io_seconds_ago:%d\r\n",
			      size, got, size - got, size > 0 ? (double)got / (double)size * 100 : 0.0,
			      (int)((now - atomic_load(&R.xfer_io_ms)) / 1000));
		}
		if (!attached) {
			int64_t down = atomic_load(&R.down_since_ms);
			infof(t, "master_link_down_since_seconds:%lld\r\n",
			      down ? (long long)((now - down) / 1000) : -1LL);
		}
		infof(t, "slave_priority:100\r\nslave_read_only:%d\r\nreplica_announced:1\r\n",
		      sh->cfg->replica_read_only);
		replmaster_info_links(t);   /* master: our own replicas */
	} else {
		replmaster_info(t, sh->id, replid, replid2, off, second);   /* master */
		return;
	}
	infof(t, "master_failover_state:no-failover\r\n");
	infof(t, "master_replid:%s\r\nmaster_replid2:%s\r\n", replid, replid2);
	infof(t, "master_repl_offset:%lld\r\nsecond_repl_offset:%lld\r\n", off, second);
	replmaster_info_backlog(t, backlog);   /* master: the relayed stream */
}
