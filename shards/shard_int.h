/* shards/shard_int.h — the shard's own structures (private to shards/).
 *
 * A shard is one thread pinned to one core. It owns its connections, its
 * keyspace and its network port. Other shards reach it only through the
 * SPSC rings in shard.in[] (one per producer shard); every object that
 * crosses a ring is a struct shard_msg whose ownership travels with it.
 *
 * Reply ordering: a connection keeps a FIFO of pending replies (struct pend).
 * A command executed on the client's own shard while nothing is pending
 * writes straight into the output buffer; otherwise its reply goes into a
 * pend, and pends are moved to the output buffer strictly in order as they
 * complete. Each shard sees one connection's commands in the order they were
 * sent (rings are FIFO and local commands execute at dispatch), so the
 * effects on any one key are in request order too. */
#ifndef KR_SHARD_INT_H
#define KR_SHARD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/dataplane.h"
#include "server/server.h"
#include "shards/cmd.h"
#include "shards/ks.h"
#include "shards/shard.h"

#define SHARD_MAX 64
#define SHARD_RING_SIZE 4096
#define SHARD_BURST 64
#define CONN_READ_CHUNK (16 * 1024)
/* A client stops being parsed while this many of its requests are out on
 * other shards, and resumes when half have answered: bounds the memory a
 * pipeline of cross-shard requests can hold without ever blocking on the
 * client (replies land in its output buffer whether it reads or not). */
#define CONN_MAX_INFLIGHT 1024

struct shard;
struct fanout;

/* One reply waiting for its turn on a connection. */
struct pend {
	struct pend *next;
	struct rbuf buf;          /* the finished reply bytes (or parts so far) */
	bool done;
	bool discard;             /* CLIENT REPLY OFF/SKIP: drop when done */
	bool barrier;             /* a blocking command: the client waits for it */
};

enum conn_reply_mode { REPLY_ON = 0, REPLY_OFF, REPLY_SKIP };

struct conn {
	struct conn *next, *prev;       /* shard's list of connections */
	struct conn *flush_next;        /* shard's list of conns with output */
	struct conn *parse_next;        /* shard's list of conns with bytes to parse */
	struct shard *sh;
	dp_conn_t fd;
	uint64_t id;
	struct rbuf in;                 /* input; bytes before in_off are parsed */
	size_t in_off;
	size_t in_need;                 /* parser's hint: bytes needed from in_off */
	struct rbuf out;                /* bytes ready to send */
	size_t out_sent;                /* bytes of out already sent */
	struct pend *pend_head, *pend_tail;
	unsigned inflight;              /* messages out that point to this conn */
	int db;
	int proto;
	enum conn_reply_mode reply_mode;
	bool authed;
	bool closing;                   /* close once output is flushed */
	bool closed;                    /* socket closed; freed when inflight == 0 */
	bool in_flush;                  /* on the flush list */
	bool parse_due;                 /* on the parse list */
	bool want_write;
	bool throttled;                 /* parsing waits for in-flight replies */
	bool read_off;                  /* not reading until parsing can go on */
	bool monitor;
	bool no_evict, no_touch;
	bool is_local;                  /* loopback or unix socket peer */
	bool barrier;                   /* a multi-round op runs: parse no more */
	bool eof;                       /* peer shut its write side: finish, then close */
	bool discard_cur;               /* reply of the command being dispatched is dropped */
	bool parsing;
	bool dead;                      /* on the shard's reap list */
	struct conn *dead_next;
	int64_t ctime_ms, last_ms;
	const char *last_cmd;
	char *name;                     /* CLIENT SETNAME, NULL if none */
	struct ps_conn *ps;             /* pubsub.c: subscriptions, NULL if none */
	struct multi_state *mstate;     /* multi.c: MULTI queue and WATCHes */
	struct blocked *blk;            /* block.c: set while blocked */
	struct txn *txn_exec;           /* multi.c: EXEC running: its commands
					 * bypass the locks it holds */
	bool gated;                     /* waits for this shard's lock to go */
	int blk_shard;                  /* blocked: on this shard, -2 on several, -1 not */
	struct fanout *xblk;            /* its blocking command waiting on several
					 * shards (xshard.c), until it finishes */
	struct conn *gated_next;
	char peer[64];                  /* "ip:port" — immutable after accept */
	char local[64];
};

/* Cross-shard message. Allocated by the sending shard as one block (header,
 * argv, argument bytes); ownership passes with the message: the executing
 * shard writes .reply/.payload and sends the same block back; the origin
 * consumes the reply and frees the block. */
enum msg_kind {
	MSG_EXEC = 1,             /* run cmd on the receiving shard */
	MSG_REPLY,                /* .reply holds the answer for .tag */
	MSG_MONITOR,              /* .argv[0] is a line for local monitors */
	MSG_LOCK,                 /* multi.c: lock request of transaction .tag */
	MSG_LOCKED,               /* multi.c: granted (.part = 1: a WATCH failed) */
	MSG_UNLOCK,               /* multi.c: release (FIFO after the txn's parts) */
};

struct shard_msg {
	struct shard_msg *next;   /* outbox chaining on the sending side */
	uint8_t kind;
	uint8_t src;              /* origin shard */
	uint16_t part;            /* index in a fan-out */
	int dbid;
	int proto;
	const struct cmd_def *cmd;
	void *tag;                /* origin's: struct pend * or struct fanout * */
	bool is_fanout;
	bool txn;                 /* sent by the holder of the receiver's lock */
	bool noreply;             /* MSG_EXEC whose reply nobody waits for */
	uint64_t wid;             /* MSG_LOCK: client whose WATCHes to check */
	uint64_t unit;            /* MSG_LOCK: the write stream's atomic unit */
	unsigned unit_parts;      /* MSG_LOCK: shards taking part in it */
	bool open;                /* MSG_LOCK: of an open transaction (no unit) */
	struct conn *conn;        /* origin's client (never dereferenced remotely
				   * except the immutable .peer) */
	void *payload;            /* internal ops (RENAME/COPY): entry moved */
	int64_t exec_us;          /* how long execution took (for SLOWLOG) */
	int argc;
	struct resp_arg *argv;    /* points into this block */
	struct rbuf reply;
};

/* Per-shard statistics. Written only by the owning shard (relaxed stores),
 * read by INFO from any shard. */
struct shard_stats {
	_Atomic uint64_t cmds;            /* commands executed here */
	_Atomic uint64_t cmds_dispatched; /* commands received from clients here */
	_Atomic uint64_t conns;           /* current connections */
	_Atomic uint64_t blocked;         /* clients blocked on keys here */
	_Atomic uint64_t conns_total;
	_Atomic uint64_t rejected;
	_Atomic uint64_t hits, misses;
	_Atomic uint64_t net_in, net_out;
	_Atomic uint64_t ops_per_sec;
};

#define STAT_ADD(f, n) atomic_store_explicit(&(f), \
	atomic_load_explicit(&(f), memory_order_relaxed) + (n), memory_order_relaxed)
#define STAT_GET(f) atomic_load_explicit(&(f), memory_order_relaxed)
#define STAT_SET(f, v) atomic_store_explicit(&(f), (v), memory_order_relaxed)

struct outbox {
	struct shard_msg *head, *tail;
	unsigned n;
};

struct slowlog_entry {
	uint64_t id;
	int64_t time_s;
	int64_t duration_us;
	int argc;                 /* as stored (<= 32, last one may be "... (N more arguments)") */
	struct rbuf *args;        /* argc buffers */
	char peer[64];
	char name[64];
};

struct shard {
	/* read-mostly */
	unsigned id;
	pthread_t thread;
	struct dp_port *port;
	int wake_fd;
	struct rte_ring *in[SHARD_MAX];   /* in[j]: messages from shard j */

	/* owned state */
	struct ks_space *ks;
	struct cfg *cfg;
	struct conn *conns;
	struct conn *flush_list;
	struct conn *parse_list;        /* DATA appended to c->in this round */
	struct conn *dead;                /* closed, to free at the end of the round */
	unsigned nconns;
	unsigned nmonitors;
	uint64_t conn_seq;
	uint64_t rng[2];
	bool active_expire;
	int64_t now_ms;
	int64_t next_cron_ms;
	uint64_t notify_mask;             /* shards to wake after this round */
	struct outbox out[SHARD_MAX];
	struct rbuf discard;              /* replies nobody wants (CLIENT REPLY OFF) */
	uint64_t ops_sample[16];
	int64_t ops_sample_ms[16];
	unsigned ops_sample_idx;
	struct slowlog_entry *slowlog;    /* ring of cfg->slowlog_max_len */
	unsigned slowlog_len, slowlog_head, slowlog_cap;

	struct ps_shard *ps;              /* pubsub.c */
	struct lua_shard *lua;            /* t_script.c: interpreter and cache */
	struct txn_shard *txn;            /* multi.c: locks, deferred work, watches */
	struct block_shard *blocking;     /* block.c: clients blocked on keys here */
	/* Cross-shard transactions (multi.c). While lock_owner is set, only
	 * that transaction runs commands here: other shards' requests wait in
	 * the deferred FIFO and local clients wait (gated) until unlock. */
	const void *lock_owner;
	/* The owner is an open transaction (txn_lock_all): local clients keep
	 * being parsed; other shards' requests still wait. */
	bool lock_open;
	struct shard_msg *lock_wait_head, *lock_wait_tail;
	struct shard_msg *def_head, *def_tail;
	struct conn *gated;
	bool unlock_work;                 /* deferred work to run after unlock */
	struct txn *cur_txn;              /* fan-outs created now belong to it */
	long long dirty;                  /* changes since start (server.dirty) */
	bool busy;                        /* shard_busy_poll() runs: reply -BUSY */
	struct dp_event *ev;              /* the event batch being handled */
	int ev_n, ev_pos;
	uint64_t nblocked;                /* requests blocked on keys here (block.c) */

	struct shard_stats stats __attribute__((aligned(64)));
	/* A script runs on this shard (set by t_script.c, read by SCRIPT KILL
	 * on any shard); script_kill asks it to stop. */
	_Atomic bool script_busy;
	_Atomic bool script_kill;
	_Atomic bool script_wrote;        /* the running script has written */
	_Atomic int sleeping __attribute__((aligned(64)));
};

/* Globals set before shards start and read-only afterwards. */
extern struct shard *g_shards[SHARD_MAX];
extern unsigned g_nshards;
extern _Atomic bool g_shutdown;
extern _Atomic int g_shutdown_status;
extern _Atomic unsigned g_monitors;
extern _Atomic uint64_t g_slowlog_seq;
extern int64_t g_start_ms;

static inline unsigned shard_of_key(const void *k, size_t len);

#include "cluster/cluster.h"
static inline unsigned shard_of_key(const void *k, size_t len)
{
	/* One shard owns every slot: skip the CRC on the hot path. */
	if (g_nshards == 1)
		return 0;
	return clu_key_slot(k, len) % g_nshards;
}

int64_t shard_clock_ms(void);
uint64_t shard_clock_us(void);

/* conn.c */
struct conn *conn_new(struct shard *sh, const struct dp_event *ev);
void conn_on_readable(struct shard *sh, struct conn *c);
/* DATA event: p[0..n) are the next bytes of c's stream, valid only
 * during the call (run in place, or copied to c->in). */
void conn_on_data(struct shard *sh, struct conn *c, const char *p, size_t n);
/* After a batch of events: parse what DATA events appended to c->in. */
void conn_parse_due(struct shard *sh);
void conn_on_writable(struct shard *sh, struct conn *c);
/* Queue c for output flushing at the end of this loop round. */
void conn_mark_flush(struct shard *sh, struct conn *c);
void conn_flush_all(struct shard *sh);
/* Close now (socket shut, state freed once no message points to it). */
void conn_close(struct shard *sh, struct conn *c);
void conn_maybe_free(struct shard *sh, struct conn *c);
void conn_reap(struct shard *sh);
/* Reply plumbing: where does the reply of the command being dispatched go? */
/* The buffer the reply of the command being dispatched goes into (the
 * output buffer, or a pend when replies are pending); c is queued for
 * flushing. */
struct rbuf *conn_reply_buf(struct conn *c);
struct pend *conn_pend_new(struct conn *c);
void conn_pend_done(struct shard *sh, struct conn *c, struct pend *p);
void conn_append_reply(struct conn *c, const void *p, size_t n);
void conn_client_info(const struct conn *c, int64_t now_ms, struct rbuf *out);
/* Out-of-band output (Pub/Sub messages, RESP3 pushes): queued after every
 * reply already due on c, and flushed at the end of the round. */
void conn_push(struct shard *sh, struct conn *c, const void *p, size_t n);
/* Called by a script's Lua hook on the shard running it once the script
 * has run past busy-reply-threshold: serves this shard's clients with
 * -BUSY (except CMD_ALLOW_BUSY commands, which run) and holds every other
 * piece of work (ring messages, timers) until the script ends. Returns
 * true when the script should stop (SCRIPT KILL). */
bool shard_busy_poll(struct shard *sh);

/* route.c */
void route_dispatch(struct shard *sh, struct conn *c, struct resp_req *req);
/* Execute a command on this shard into out. */
void route_exec(struct shard *sh, struct cmd_ctx *ctx);
void route_on_reply(struct shard *sh, struct shard_msg *m);
void route_fanout_part_done(struct shard *sh, struct fanout *fo, unsigned part,
			    struct rbuf *reply, void *payload);

/* shard.c: messaging */
struct shard_msg *shard_msg_new(struct shard *sh, const struct cmd_def *cmd,
				int argc, const struct resp_arg *argv);
void shard_send(struct shard *sh, unsigned dst, struct shard_msg *m);
void shard_monitor_feed(struct shard *sh, struct conn *c, int dbid,
			int argc, const struct resp_arg *argv);
void shard_slowlog_add(struct shard *sh, const struct conn *c,
		       int argc, const struct resp_arg *argv, int64_t dur_us);

/* xshard.c: fan-out machinery shared by route.c and the coordinators */
struct fanout;
typedef void fanout_done_fn(struct shard *sh, struct fanout *fo);
struct fanout {
	struct conn *c;               /* client (origin shard) */
	struct pend *pend;            /* where the final reply goes */
	struct cmd_ctx ctx;           /* origin-side context: argv points to argbuf */
	struct resp_arg *argv;        /* private copy of the request */
	char *argbuf;
	unsigned nparts, pending;
	struct rbuf *replies;         /* one per part */
	void **payloads;              /* one per part */
	uint8_t *key_part;            /* MERGE_BY_KEY: part index of each key */
	unsigned nkeys;
	fanout_done_fn *done;         /* called once every part has answered */
	int stage;                    /* coordinators' kind and flags */
	int round;                    /* coordinators' current round */
	bool holds_barrier;           /* this fan-out set c->barrier */
	struct txn *txn;              /* locks its messages bypass */
	struct rbuf saved;            /* gather: the reply, kept during write-back */
	bool owns_txn;                /* release txn when finished */
	/* Cross-shard blocking: markers may hold places (send __bdone when
	 * finished); 1/2 unblocked (reply null / -UNBLOCKED); this run is a
	 * blocked command's retry (a client gone is not served). */
	bool held;
	uint8_t unblock;
	bool rerun;
	long long aux;                /* coordinators' argument (RENAME/COPY: db) */
};
struct fanout *fanout_new(struct shard *sh, struct conn *c, struct cmd_ctx *ctx,
			  unsigned nparts, fanout_done_fn *done);
/* Issue part i of fo as cmd(argv) on shard dst (local parts run at once). */
void fanout_send(struct shard *sh, struct fanout *fo, unsigned i, unsigned dst,
		 const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
		 void *payload);
/* Release the hold taken by fanout_reset() once every part is sent: the
 * done callback runs when the last part has answered (maybe right now). */
void fanout_arm(struct shard *sh, struct fanout *fo);
/* Start a new round with n parts (previous parts' replies are freed). */
void fanout_reset(struct fanout *fo, unsigned nparts);
/* Finish: move out into the client's pend and free fo. */
void fanout_finish(struct shard *sh, struct fanout *fo, struct rbuf *out);
void fanout_merge(struct shard *sh, struct fanout *fo);
void xshard_split(struct shard *sh, struct conn *c, struct cmd_ctx *ctx);
void xshard_broadcast(struct shard *sh, struct conn *c, struct cmd_ctx *ctx);
/* first error among parts, or NULL */
const struct rbuf *fanout_first_error(const struct fanout *fo);
cmd_cross_fn xshard_rename, xshard_renamenx, xshard_copy, xshard_msetnx, xshard_gather;
/* xshard_broadcast as a cross_fn: a broadcast write under every shard's lock. */
cmd_cross_fn xshard_broadcast_locked;

/* multi.c: transactions. */
struct txn;
/* Handle MULTI/EXEC/DISCARD/WATCH/UNWATCH and queue commands inside MULTI:
 * true if the command was consumed. Called after lookup, arity and auth. */
bool txn_dispatch(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
		  int argc, const struct resp_arg *argv, bool discard);
/* A queue-time error (unknown command, arity) inside MULTI. */
void txn_flag_error(struct conn *c);
/* Run a split (MGET MSET DEL ...) or a coordinator (cross_fn) spanning
 * shards atomically: locks every shard it touches first. */
void txn_split(struct shard *sh, struct conn *c, struct cmd_ctx *ctx, uint64_t mask);
void txn_cross(struct shard *sh, struct conn *c, struct cmd_ctx *ctx, uint64_t mask,
	       cmd_cross_fn *fn);
/* Lock the shards of mask, then call fn(sh, t, arg); fn owns t (release
 * it with txn_release, or hand it to a fan-out as fo->txn / owns_txn). */
void txn_lock_then(struct shard *sh, struct conn *c, uint64_t mask,
		   void (*fn)(struct shard *sh, struct txn *t, void *arg), void *arg);
/* Lock every shard for work that is no client's (a replica loading its
 * full sync), then call fn(sh, t, arg) on sh. The transaction is open:
 * the locked shards keep parsing their own clients (the caller gates what
 * they may run, e.g. -LOADING) while other shards' requests, transactions
 * and blocked clients wait, and it records nothing in the write stream.
 * Release it with txn_release. */
void txn_lock_all(struct shard *sh, void (*fn)(struct shard *sh, struct txn *t, void *arg),
		  void *arg);
/* Release every lock t holds (remote ones by a FIFO sentinel) and free t. */
void txn_release(struct shard *sh, struct txn *t);
void txn_on_msg(struct shard *sh, struct shard_msg *m);
/* Hold a remote request while this shard is locked. */
void txn_defer(struct shard *sh, struct shard_msg *m);
/* After an unlock: run deferred requests, resume gated clients, grant the
 * next waiting lock. */
void txn_after_unlock(struct shard *sh);
/* c must wait until this shard is unlocked. */
void txn_gate(struct shard *sh, struct conn *c);
/* After a command with ctx->dirty > 0: WATCHes on its keys fail, clients
 * blocked on them are served. */
void txn_post_write(struct shard *sh, const struct cmd_ctx *ctx);
/* The client closes or RESETs: forget its MULTI state and WATCHes. */
void txn_conn_reset(struct shard *sh, struct conn *c);
/* Commands queued by MULTI (CLIENT LIST multi=), -1 outside MULTI. */
int txn_queued(const struct conn *c);
/* EXEC continues once a coordinator it started has finished. */
bool txn_exec_continue(struct shard *sh, struct conn *c);
/* Shards owning the keys of a command: bit per shard; *nkeys set. */
uint64_t route_key_mask(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
			int *nkeys);
/* Route and run one validated command for c (the dispatcher's second
 * half, also used by EXEC for its queued commands). */
void route_run(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
	       int argc, const struct resp_arg *argv, bool discard);

/* types.c: register the collection types with ks (once, at start). */
void types_register(void);

/* shard.c: run a request from another shard and send its reply back. */
void shard_exec_msg(struct shard *sh, struct shard_msg *m);
/* block.c: a key was written: clients blocked on it get a try. */
void block_on_key(struct shard *sh, int dbid, const void *key, size_t len);
/* Every key of db dbid with clients blocked on it gets a try (SWAPDB). */
void block_on_db(struct shard *sh, int dbid);
static inline bool block_any(const struct shard *sh);
/* xshard.c: does this blocked request stand for a client in INFO
 * blocked_clients (a cross-shard wait counts on one shard only)? */
bool block_counted(const struct cmd_def *cmd, int argc, const struct resp_arg *argv);
/* ctx->blocked after execution: park the request until served or timed
 * out. Local: the reply goes to pend p of c; remote: into m, sent back. */
void block_park(struct shard *sh, struct cmd_ctx *ctx, struct conn *c, struct pend *p,
		struct shard_msg *m);
/* A timed-out blocking command's reply: RESP3 _, else *-1 (null_array)
 * or $-1. Also EXEC's reply when a WATCH failed. */
void block_reply_null(struct rbuf *out, int proto, bool null_array);
/* Serve blocked clients whose keys were written (not inside a transaction). */
void block_serve(struct shard *sh);
/* Expire timed-out blocked clients; the earliest deadline left (0: none). */
int64_t block_timeouts(struct shard *sh);
/* c is closing: forget it wherever it is blocked. */
void block_conn_gone(struct shard *sh, struct conn *c);
/* CLIENT UNBLOCK on this shard: 1 if client cid was blocked here. */
int block_unblock(struct shard *sh, uint64_t cid, bool error);
/* Cross-shard waits (xshard.c drives them; see the protocol there), for
 * the waiters of client cid on this shard: turn them into markers that
 * keep their places (answering "+HELD"); drop waiters and markers
 * (answering waiters with the null); drop the markers. */
void block_hold(struct shard *sh, uint64_t cid);
void block_cancel(struct shard *sh, uint64_t cid);
void block_done(struct shard *sh, uint64_t cid);
/* xshard.c: is cmd the internal cross-shard waiter (__bwait)? */
bool xshard_is_bwait(const struct cmd_def *cmd);
/* CLIENT UNBLOCK (or a close) of a client whose blocking command waits on
 * several shards, on the client's shard: 1 if it was still waiting (it
 * will get the null, or -UNBLOCKED with error), 0 if already served. */
int xshard_unblock(struct shard *sh, struct fanout *fo, bool error);


/* t_server.c */
void shard_slowlog_reset(struct shard *sh);
/* conn.c: continue parsing a client that waited for a multi-round op. */
void conn_resume(struct shard *sh, struct conn *c);
void server_info_merge(struct cmd_ctx *ctx, struct rbuf *parts, int n);

static inline bool block_any(const struct shard *sh)
{
	return sh->nblocked != 0;
}

#endif
