/* shards/snap.c — forkless, point-in-time RDB snapshots (SAVE, BGSAVE,
 * save rules, SHUTDOWN) and loading the RDB file at start-up.
 *
 * The cut. A snapshot starts as a global transaction: the starting shard
 * takes every shard's lock (txn_lock_then with all shards in the mask),
 * sends each shard a __snapbegin message flagged as the transaction's
 * (it bypasses the lock; the unlock follows it on the same FIFO ring) and
 * releases. While every lock is held no command runs anywhere, so the cut
 * is one instant of the whole keyspace: a transaction is either entirely
 * before it or entirely after it, and every write acknowledged before the
 * BGSAVE arrived is in it. BGSAVE answers once the cut is taken, so the
 * client's next command comes after it, as after Redis's fork.
 *
 * Writes that are not transactions are single-shard and atomic anyway;
 * the one exception is a broadcast (FLUSHALL, SWAPDB, FLUSHDB without
 * MULTI), whose parts are not locked together, so a cut may fall between
 * them (as it may for any other observer).
 *
 * Exactly once per key. Each db has a parity (ks_db.snap_parity) and each
 * entry a bit (KS_F_SNAP in ks_entry.flags); entries created or attached
 * take their db's parity. __snapbegin flips the parity of every db of the
 * shard, so every entry present at the cut becomes "not yet saved"; saving
 * one sets its bit. Entries created after the cut carry the new parity and
 * are never saved. Invariant between snapshots: every entry's bit equals
 * its db's parity, which is why a shard always finishes its pass over all
 * keys, even when the file write has already failed.
 *
 * Slices. From its loop (snap_poll), a shard with a part under way saves
 * the unsaved entries its keyspace's rehash-safe SCAN returns, skipping
 * saved ones, for as long as the rest of the loop round took (so clients
 * keep about half of a busy shard), between SNAP_SLICE_MIN_US and
 * SNAP_SLICE_US (the whole budget when the shard is idle; short, so a
 * request never waits long behind a slice; a round costs a few µs). SCAN
 * returns every key present for the whole scan at least once; a key
 * deleted meanwhile was saved before the write that deleted it (below) or
 * had expired. A single value is serialised whole (a 100 MB list is one
 * long step, as RESTORE of it would be).
 *
 * Copy-on-write. Before a write command executes on a shard with a part
 * under way, snap_cow saves every unsaved key among its keys (the hook at
 * the top of route_exec). Writes whose keys are in another db (__put and
 * COPY ... DB save precisely the key they write there) or that have no
 * keys (FLUSHDB, FLUSHALL, SWAPDB, DEBUG POPULATE) first finish the shard's
 * part synchronously. Keys that expire before they are saved are dropped:
 * they would be expired at load time anyway. A new command that writes
 * keys of a db other than the client's (as MOVE would) must be listed in
 * snap_cow. Code that changes a keyspace outside route_exec calls
 * snap_settle first.
 *
 * The file. Saved keys are appended to the shard's chunk buffer (an RDB
 * SELECTDB opcode first, and again whenever the db changes); a chunk of
 * about SNAP_CHUNK bytes goes to the writer thread's queue. RDB allows
 * SELECTDB to repeat (and RESIZEDB is optional), so chunks of different
 * shards may interleave in any order: the writer streams them straight
 * into dir/temp-<pid>.rdb behind "REDIS0010" and the aux fields, as they
 * arrive (no part files, no second copy), with an fdatasync every 32 MiB.
 * When every shard has sent its last chunk it writes EOF and the CRC64,
 * fsyncs, renames the file to dir/dbfilename and fsyncs the dir. The
 * queue is bounded: a shard whose slice finds it over SNAP_QUEUE_MAX
 * pauses its slices (copy-on-write saves never wait) and the writer wakes
 * it once the queue is below SNAP_QUEUE_LOW.
 *
 * Completion: the writer publishes the result of its generation and wakes
 * every shard; SAVE and SHUTDOWN clients (their connection holds a
 * barrier) are answered from their shard's loop. The save rules and a
 * BGSAVE scheduled inside MULTI run from shard 0's cron.
 *
 * Loading. At start-up every shard reads dir/dbfilename before its loop
 * runs and keeps the keys it owns (slot % nshards); keys already expired
 * are skipped. A file that cannot be read or is corrupt stops start-up:
 * the error names the file and the byte offset where reading stopped.
 *
 * Threads: g_ss[i] is owned by shard i's thread except its _Atomic fields;
 * the queue is under snap.mu; the writer thread owns the file. */
#include "shards/snap.h"
#include "shards/replclient.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repl/rdb.h"
#include "repl/wstream.h"
#include "shards/replmaster.h"   /* master */

#ifdef KR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define SNAP_SLICE_US 250                 /* a slice's budget on an idle shard */
#define SNAP_SLICE_MIN_US 50              /* ... and at least, on a busy one */
#define SNAP_IDLE_US 50                   /* less other work than this: idle */
#define SNAP_SCAN_COUNT 16                /* entries per ks_scan call */
#define SNAP_CHUNK (1024 * 1024)          /* chunk handed to the writer */
#define SNAP_QUEUE_MAX (64 * 1024 * 1024) /* slices pause above this */
#define SNAP_QUEUE_LOW (16 * 1024 * 1024) /* and resume below this */
#define SNAP_SYNC_EVERY (32 * 1024 * 1024) /* incremental fdatasync */
#define SNAP_RETRY_S 5                    /* save rules after a failure */
#define SNAP_RESULTS 16                   /* remembered results */
#define SNAP_SYNC_WINDOW (64u << 20)      /* diskless: ahead of the slowest reader */
#define SNAP_SYNC_HOLE (1u << 20)         /* ... memory given back in these */

_Thread_local bool snap_cow_on;
_Thread_local bool snap_waiting;
_Atomic bool snap_misconf;
struct snap_pub snap_pub[SHARD_MAX];

/* ------------------------------------------------------------ state */

/* snap.state: idle, or the kind of the snapshot under way. The kind is in
 * the state itself so that a shard asking "what is running?" (BGSAVE's
 * error text) reads it in the same atomic load as "is one running?". */
enum { SNAP_IDLE = 0, SNAP_SAVE = 1, SNAP_SYNC = 2, SNAP_AOF = 3 };
enum { W_SAVE = 1, W_SHUTDOWN = 2, W_BGSAVE = 3 };

/* A client waiting for its snapshot's cut (BGSAVE: "Background saving
 * started" means the cut is taken, so the client's next command is after
 * it, as after Redis's fork), for its end (SAVE), or to save and exit
 * (SHUTDOWN). Lives on the client's shard; SAVE and SHUTDOWN waiters are
 * listed in its waiters; gen 0: not started yet (a SHUTDOWN while another
 * snapshot runs). */
struct snap_waiter {
	struct snap_waiter *next;
	struct conn *c;
	struct pend *pend;
	uint64_t gen;
	int kind;
	bool force;
	struct txn *txn;              /* SHUTDOWN: every lock, held to the end */
};

/* A piece of the file on its way to the writer. */
struct snap_chunk {
	struct snap_chunk *next;
	char *data;                   /* malloc'd, owned by the chunk */
	size_t len;
};

struct snap_shard {
	/* Owned by the shard's thread. */
	bool active;                  /* this shard's part is under way */
	uint64_t gen;
	int db;                       /* db being scanned */
	uint64_t cursor;
	struct rbuf buf;              /* the chunk being filled */
	int buf_db;                   /* db of buf's last SELECTDB, -1 none */
	int64_t slice_end_us;         /* when the last slice ended */
	struct rdb_wopts wo;
	bool notsup_logged;
	struct snap_waiter *waiters;
	struct conn *lock_conn;       /* stands for no client in txn_lock_then */
	/* Read by other threads. */
	_Atomic long long cut_dirty;      /* sh->dirty at the last cut */
	_Atomic long long saved_dirty;    /* ... at the cut of the last good save */
	_Atomic uint64_t keys_done;       /* saved in the snapshot under way */
	_Atomic uint64_t keys_total;      /* held at its cut */
	_Atomic uint64_t cow_keys;        /* of keys_done: saved by copy-on-write */
	_Atomic uint64_t load_loaded, load_expired;
	_Atomic int load_rc;              /* 0, or the load's error */
	char load_err[PATH_MAX + 1024];   /* its message (read after the barrier) */
} __attribute__((aligned(64)));

static struct snap_shard g_ss[SHARD_MAX];

static struct {
	_Atomic int state;
	_Atomic uint64_t gen;             /* last started */
	_Atomic bool scheduled;           /* BGSAVE SCHEDULE waits for idle */
	_Atomic bool sched_sync;          /* a diskless full sync waits too */
	_Atomic bool sigterm;             /* SIGTERM: shut down (shard 0's cron) */
	_Atomic uint64_t sync_floor;      /* diskless: bytes every reader took */
	_Atomic int64_t lastsave_s;
	_Atomic int64_t last_try_s;
	_Atomic bool last_ok;
	_Atomic int64_t last_time_s;      /* duration of the last one, -1 none */
	_Atomic int64_t start_ms;         /* of the one running */
	_Atomic uint64_t saves;
	_Atomic uint64_t last_cow_keys;
	_Atomic uint64_t last_load_loaded, last_load_expired;
	struct {                          /* results by generation */
		_Atomic uint64_t gen;
		_Atomic bool ok;
	} res[SNAP_RESULTS];
	/* The writer's queue. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct snap_chunk *head, *tail;
	size_t queued;
	unsigned parts_left;
	bool paused[SHARD_MAX];
	/* The job (written by the starter before the writer runs). */
	int fd;
	uint64_t job_gen;
	bool checksum, compress;
	bool background;                  /* BGSAVE or a rule (not SAVE, SHUTDOWN) */
	bool sync;                        /* for replicas' sockets: a memfd */
	uint64_t aof_gen;                 /* an AOF base: the rewrite's cut, else 0 */
	char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	/* Start-up loading. */
	pthread_barrier_t load_barrier;
} snap = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.last_ok = true,
	.last_time_s = -1,
	.fd = -1,
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t used_memory(void)
{
#ifdef KR_JEMALLOC
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch), allocated = 0;
	mallctl("epoch", &epoch, &sz, &epoch, sz);
	sz = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
		return allocated;
	return 0;
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

static uint64_t all_shards_mask(void)
{
	return g_nshards >= 64 ? ~0ull : (1ull << g_nshards) - 1;
}

/* rdb_changes_since_last_save: this shard's own count is read directly
 * (its last command may not be published yet), the others' as published. */
static long long changes_since_save(const struct shard *sh)
{
	long long n = 0;
	for (unsigned i = 0; i < g_nshards; i++) {
		long long d = i == sh->id ? sh->dirty :
			      atomic_load_explicit(&snap_pub[i].dirty, memory_order_relaxed);
		long long s = atomic_load_explicit(&g_ss[i].saved_dirty, memory_order_relaxed);
		if (d > s)
			n += d - s;
	}
	return n;
}

/* ---------------------------------------------------------- writing */

/* Hand the filled buffer to the writer; it is queued whatever the queue
 * holds (copy-on-write and the last chunk never wait). Returns false when
 * the queue is over SNAP_QUEUE_MAX: this shard's slices should pause. */
static bool chunk_push(struct shard *sh, struct snap_shard *ss)
{
	struct snap_chunk *ch = NULL;
	if (ss->buf.len) {
		ch = malloc(sizeof(*ch));
		if (!ch)
			abort();
		ch->next = NULL;
		ch->data = ss->buf.data;
		ch->len = ss->buf.len;
		memset(&ss->buf, 0, sizeof(ss->buf));
		ss->buf_db = -1;   /* chunks may interleave: each starts with SELECTDB */
	}
	pthread_mutex_lock(&snap.mu);
	if (ch) {
		if (snap.tail)
			snap.tail->next = ch;
		else
			snap.head = ch;
		snap.tail = ch;
		snap.queued += ch->len;
		pthread_cond_signal(&snap.cv);
	}
	bool ok = snap.queued <= SNAP_QUEUE_MAX;
	if (!ok)
		snap.paused[sh->id] = true;
	pthread_mutex_unlock(&snap.mu);
	return ok;
}

/* Append entry e of db dbi to the shard's buffer and mark it saved. */
static void save_entry(struct snap_shard *ss, struct ks_db *db, int dbi, struct ks_entry *e,
		       int64_t now_ms)
{
	e->flags = (uint16_t)((e->flags & ~KS_F_SNAP) | db->snap_parity);
	if (e->expire_ms != KS_NO_EXPIRE && e->expire_ms < now_ms)
		return;   /* expired: dropped (it would be at load time too) */
	if (ss->buf_db != dbi) {
		uint8_t op = RDB_OP_SELECTDB;
		rbuf_append(&ss->buf, &op, 1);
		rdb_enc_len(&ss->buf, (uint64_t)dbi);
		ss->buf_db = dbi;
	}
	if (rdb_enc_key(&ss->buf, e, &ss->wo) != 0) {
		if (!ss->notsup_logged)
			srv_log(LL_WARNING, "Snapshot: a key of type %d cannot be written in RDB "
				"(skipped: '%.*s')", e->type, (int)(e->klen > 64 ? 64 : e->klen), e->key);
		ss->notsup_logged = true;
		return;
	}
	atomic_fetch_add_explicit(&ss->keys_done, 1, memory_order_relaxed);
}

static inline bool entry_unsaved(const struct ks_db *db, const struct ks_entry *e)
{
	return (e->flags & KS_F_SNAP) != db->snap_parity;
}

struct scan_arg {
	struct snap_shard *ss;
	struct ks_db *db;
	int dbi;
	int64_t now_ms;
};

static void scan_fn(void *arg, struct ks_entry *e)
{
	struct scan_arg *a = arg;
	if (entry_unsaved(a->db, e))
		save_entry(a->ss, a->db, a->dbi, e, a->now_ms);
}

/* This shard's part is complete: its last chunk goes out and the writer
 * learns that one more part is in. */
static void part_done(struct shard *sh, struct snap_shard *ss)
{
	chunk_push(sh, ss);
	rbuf_free(&ss->buf);
	ss->active = false;
	snap_cow_on = false;
	pthread_mutex_lock(&snap.mu);
	snap.paused[sh->id] = false;
	snap.parts_left--;
	pthread_cond_signal(&snap.cv);
	pthread_mutex_unlock(&snap.mu);
}

/* Scan for up to budget_us (0: to the end). Returns 1 if work remains. */
static unsigned scan_run(struct shard *sh, struct snap_shard *ss, int64_t budget_us)
{
	struct ks_space *ks = sh->ks;
	int64_t t0 = budget_us ? mono_us() : 0;
	struct scan_arg a = { .ss = ss, .now_ms = shard_clock_ms() };
	while (ss->db < ks->ndb) {
		struct ks_db *db = &ks->db[ss->db];
		if (ks_size(db) == 0) {
			ss->db++;
			ss->cursor = 0;
			continue;
		}
		a.db = db;
		a.dbi = ss->db;
		ss->cursor = ks_scan(db, ss->cursor, SNAP_SCAN_COUNT, scan_fn, &a);
		if (ss->cursor == 0)
			ss->db++;
		if (ss->buf.len >= SNAP_CHUNK && !chunk_push(sh, ss) && budget_us)
			return 1;   /* queue full: paused until the writer wakes us */
		if (budget_us && mono_us() - t0 >= budget_us)
			break;
	}
	if (ss->db < ks->ndb)
		return 1;
	part_done(sh, ss);
	return 0;
}

static unsigned snap_slice(struct shard *sh)
{
	struct snap_shard *ss = &g_ss[sh->id];
	if (!ss->active)
		return 0;
	pthread_mutex_lock(&snap.mu);
	bool paused = snap.paused[sh->id] && snap.queued > SNAP_QUEUE_LOW;
	if (!paused)
		snap.paused[sh->id] = false;
	pthread_mutex_unlock(&snap.mu);
	if (paused)
		return 0;   /* the writer wakes us when the queue drains */
	/* Share the shard about evenly with its clients: a slice takes as
	 * long as the other work of the round before it did (within bounds),
	 * or the full budget when there was next to none. */
	int64_t now = mono_us();
	int64_t other = now - ss->slice_end_us;
	int64_t budget = other < SNAP_IDLE_US ? SNAP_SLICE_US :
			 other < SNAP_SLICE_MIN_US ? SNAP_SLICE_MIN_US :
			 other > SNAP_SLICE_US ? SNAP_SLICE_US : other;
	unsigned more = scan_run(sh, ss, budget);
	ss->slice_end_us = mono_us();
	return more;
}

/* Save one key of db dbi before a write changes it. */
static void cow_key(struct shard *sh, struct snap_shard *ss, long long dbi, const struct resp_arg *key,
		    int64_t now_ms)
{
	if (dbi < 0 || dbi >= sh->ks->ndb)
		return;
	struct ks_db *db = &sh->ks->db[dbi];
	struct ks_entry *e = ks_find_raw(db, key->p, key->len);
	if (!e || !entry_unsaved(db, e))
		return;
	save_entry(ss, db, (int)dbi, e, now_ms);
	atomic_fetch_add_explicit(&ss->cow_keys, 1, memory_order_relaxed);
}

void snap_cow(struct shard *sh, const struct cmd_ctx *ctx)
{
	struct snap_shard *ss = &g_ss[sh->id];
	const struct cmd_def *cmd = ctx->cmd;
	struct ks_space *ks = sh->ks;

	if (!ss->active || !(cmd->flags & CMD_WRITE) || ctx->scratch ||
	    ctx->db < ks->db || ctx->db >= ks->db + ks->ndb)
		return;   /* reads, and scratch copies of a gather: nothing to save */
	int dbi = (int)(ctx->db - ks->db);
	long long other = -1;
	if ((cmd->flags & CMD_INTERNAL) && strcmp(cmd->name, "__put") == 0) {
		/* __put key db nx|replace writes key in db, not in ctx->db. */
		if (ctx->argc >= 3 && arg_to_ll(&ctx->argv[2], &other) == 0)
			cow_key(sh, ss, other, &ctx->argv[1], ctx->now_ms);
		goto out;
	}
	if (strcmp(cmd->name, "copy") == 0 && ctx->argc >= 3) {
		/* COPY src dst ... DB n: dst is written in db n. */
		for (int j = 3; j + 1 < ctx->argc; j++)
			if (arg_is(&ctx->argv[j], "db") && arg_to_ll(&ctx->argv[j + 1], &other) == 0)
				cow_key(sh, ss, other, &ctx->argv[2], ctx->now_ms);
	}
	int buf[64], *idx;
	int nk = cmd_key_indexes(cmd, ctx->argc, ctx->argv, buf, 64, &idx);
	for (int k = 0; k < nk; k++)
		cow_key(sh, ss, dbi, &ctx->argv[idx[k]], ctx->now_ms);
	if (idx != buf)
		free(idx);
	if (nk == 0) {
		/* No keys to save precisely (FLUSHDB FLUSHALL SWAPDB DEBUG
		 * POPULATE ...): finish this shard's part first. (nk < 0: a
		 * malformed request, which the handler refuses.) */
		scan_run(sh, ss, 0);
		return;
	}
out:
	if (ss->buf.len >= SNAP_CHUNK)
		chunk_push(sh, ss);
}

void snap_settle(struct shard *sh)
{
	struct snap_shard *ss = &g_ss[sh->id];
	if (ss->active)
		scan_run(sh, ss, 0);
}

/* ------------------------------------------------------------ the cut */

static void snap_begin(struct shard *sh, uint64_t gen)
{
	struct snap_shard *ss = &g_ss[sh->id];
	/* Invariant: the previous part finished before the next cut. */
	if (ss->active)
		abort();
	uint64_t total = 0;
	for (int i = 0; i < sh->ks->ndb; i++) {
		struct ks_db *db = &sh->ks->db[i];
		db->snap_parity ^= KS_F_SNAP;
		total += ks_size(db);
	}
	ss->active = true;
	snap_cow_on = true;
	ss->gen = gen;
	ss->db = 0;
	ss->cursor = 0;
	ss->buf_db = -1;
	ss->slice_end_us = 0;
	ss->notsup_logged = false;
	ss->wo = (struct rdb_wopts){ .compress = sh->cfg->rdbcompression, .set_listpack = false };
	atomic_store(&ss->cut_dirty, sh->dirty);
	atomic_store(&ss->keys_done, 0);
	atomic_store(&ss->cow_keys, 0);
	atomic_store(&ss->keys_total, total);
	if (snap.aof_gen) {   /* records before this belong to the old AOF files */
		char *s = malloc(1);
		if (!s)
			abort();
		*s = 'S';
		wstream_cut(sh->id, snap.aof_gen, s, 1);
	} else {
		replmaster_on_cut(sh->id, gen);   /* master: the full sync's barrier */
	}
}

/* __snapbegin <gen>: sent by the snapshot's starter inside its global
 * transaction. */
static void cmd_int_snapbegin(struct cmd_ctx *ctx)
{
	long long gen;
	if (arg_to_ll(&ctx->argv[1], &gen) != 0)
		abort();   /* built by cut_locked(): never bad */
	snap_begin(ctx->sh, (uint64_t)gen);
	resp_add_ok(ctx->out);
}

static const struct cmd_def cmd_internal_snapbegin = {
	.name = "__snapbegin", .arity = 2, .flags = CMD_INTERNAL, .fn = cmd_int_snapbegin,
};

static void waiter_done(struct shard *sh, struct snap_waiter *w, const char *status,
			const char *err);

/* Every lock is held: flip every shard (the messages run before the
 * unlocks, which follow them on the same rings, and before anything the
 * starting shard sends them later). A SHUTDOWN keeps the locks until its
 * save is done; a BGSAVE client gets its reply now. */
static void cut_locked(struct shard *sh, struct txn *t, void *arg)
{
	struct snap_waiter *w = arg;
	uint64_t gen = atomic_load(&snap.gen);
	char genbuf[24];
	size_t genlen = ks_ll2str(genbuf, (long long)gen);
	struct resp_arg av[2] = { { "__snapbegin", 11 }, { genbuf, genlen } };
	for (unsigned d = 0; d < g_nshards; d++) {
		if (d == sh->id) {
			snap_begin(sh, gen);
			continue;
		}
		struct shard_msg *m = shard_msg_new(sh, &cmd_internal_snapbegin, 2, av);
		m->txn = true;
		m->noreply = true;
		shard_send(sh, d, m);
	}
	if (w && w->kind == W_SHUTDOWN) {
		w->txn = t;
		return;
	}
	txn_release(sh, t);
	if (w && w->kind == W_BGSAVE)
		waiter_done(sh, w, "Background saving started", NULL);
}

static void *writer_main(void *arg);

/* Start a snapshot from this shard. w: the client's waiter, if any (see
 * cut_locked). Returns the generation, -EBUSY if one is under way, or -EIO
 * if the temp file cannot be created (logged). As in Redis, only a failed
 * background save (BGSAVE, a rule: !w or a W_BGSAVE waiter) sets
 * rdb_last_bgsave_status to err (and MISCONF); any good save sets it ok. */
/* sync: a diskless full sync's memfd; aof_gen: an AOF rewrite's base
 * (aof.c's temp file; every shard cuts the write stream for generation
 * aof_gen inside the snapshot's cut). Neither touches dbfilename,
 * LASTSAVE, the bgsave status or the changes since the last save. */
static long long snap_start_to(struct shard *sh, struct snap_waiter *w, bool sync,
			       uint64_t aof_gen)
{
	bool background = !w || w->kind == W_BGSAVE;
	int idle = SNAP_IDLE;
	int kind = aof_gen ? SNAP_AOF : sync ? SNAP_SYNC : SNAP_SAVE;
	if (!atomic_compare_exchange_strong(&snap.state, &idle, kind))
		return -EBUSY;
	int64_t now = wall_ms();
	const char *dir = sh->cfg->dir && sh->cfg->dir[0] ? sh->cfg->dir : ".";
	snap.sync = sync;
	snap.aof_gen = aof_gen;
	if (aof_gen) {
		aof_rewrite_temp_path(snap.tmp, sizeof(snap.tmp));
		snap.path[0] = '\0';
		snap.fd = open(snap.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else if (sync) {
		/* Diskless: the file lives in memory only (replmaster.c reads
		 * it through its own descriptor, taken at the cut), and what
		 * every replica has taken is given back as it goes. Nothing
		 * else is touched: no dbfilename, no LASTSAVE, no status. */
		snap.path[0] = snap.tmp[0] = '\0';
		atomic_store(&snap.sync_floor, 0);
		snap.fd = memfd_create("keyrail-sync-rdb", MFD_CLOEXEC);
		if (snap.fd < 0) {
			srv_log(LL_WARNING, "Can't create the in-memory file of a diskless sync: %s",
				strerror(errno));
			atomic_store(&snap.state, SNAP_IDLE);
			return -EIO;
		}
	} else {
		atomic_store(&snap.last_try_s, now / 1000);
		snprintf(snap.dir, sizeof(snap.dir), "%s", dir);
		snprintf(snap.path, sizeof(snap.path), "%s/%s", dir, sh->cfg->dbfilename);
		snprintf(snap.tmp, sizeof(snap.tmp), "%s/temp-%ld.rdb", dir, (long)getpid());
		snap.fd = open(snap.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (snap.fd < 0) {
		int e = errno;
		srv_log(LL_WARNING, "Failed opening the temp RDB file %s (in server root dir %s) for "
			"saving: %s", snap.tmp, dir, strerror(e));
		if (background && !aof_gen) {
			atomic_store(&snap.last_ok, false);
			atomic_store(&snap_misconf, true);
		}
		atomic_store(&snap.state, SNAP_IDLE);
		return -EIO;
	}
	uint64_t gen = atomic_fetch_add(&snap.gen, 1) + 1;
	atomic_fetch_add(&snap.saves, 1);   /* saves started, as Redis counts */
	snap.job_gen = gen;
	snap.checksum = sh->cfg->rdbchecksum;
	snap.compress = sh->cfg->rdbcompression;
	snap.background = background;
	snap.parts_left = g_nshards;
	snap.head = snap.tail = NULL;
	snap.queued = 0;
	memset(snap.paused, 0, sizeof(snap.paused));
	atomic_store(&snap.start_ms, now);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&th, &attr, writer_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		srv_log(LL_WARNING, "Can't save in background: cannot start the writer thread: %s",
			strerror(rc));
		close(snap.fd);
		if (!sync)
			unlink(snap.tmp);
		snap.fd = -1;
		if (background && !sync && !aof_gen)
			atomic_store(&snap.last_ok, false);
		atomic_store(&snap.state, SNAP_IDLE);
		return -EIO;
	}
	srv_log(LL_NOTICE, "Background %s started (snapshot %llu, %u shards)",
		sync ? "RDB transfer to replicas' sockets" :
		aof_gen ? "AOF base snapshot" : "saving", (unsigned long long)gen, g_nshards);
	struct snap_shard *ss = &g_ss[sh->id];
	if (!ss->lock_conn) {
		/* txn_lock_then keeps a client alive through the wait; the cut
		 * belongs to no client, so it gets a never-closed stand-in. */
		ss->lock_conn = calloc(1, sizeof(*ss->lock_conn));
		if (!ss->lock_conn)
			abort();
		ss->lock_conn->sh = sh;
	}
	txn_lock_then(sh, ss->lock_conn, all_shards_mask(), cut_locked, w);
	return (long long)gen;
}

static long long snap_start(struct shard *sh, struct snap_waiter *w)
{
	return snap_start_to(sh, w, false, 0);
}

/* --------------------------------------------------------- the writer */

static bool result_of(uint64_t gen, bool *ok)
{
	for (int i = 0; i < SNAP_RESULTS; i++)
		if (atomic_load(&snap.res[i].gen) == gen) {
			*ok = atomic_load(&snap.res[i].ok);
			return true;
		}
	return false;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* The sink of a diskless sync's memfd: bytes go in at the end; the ones
 * every replica has taken (snap.sync_floor, from replmaster.c; UINT64_MAX
 * when none reads any more) are punched out, and the writer waits while
 * it is more than SNAP_SYNC_WINDOW ahead of the slowest replica, as a
 * snapshot written to sockets goes at the pace of the slowest one. */
struct sync_sink {
	int fd;
	uint64_t written, punched;
};

static int sink_sync(void *arg, const void *p, size_t n)
{
	struct sync_sink *ss = arg;
	int rc = rdb_sink_fd(&ss->fd, p, n);
	if (rc)
		return rc;
	ss->written += n;
	for (;;) {
		uint64_t floor = atomic_load(&snap.sync_floor);
		uint64_t done = floor > ss->written ? ss->written : floor;
		done -= done % SNAP_SYNC_HOLE;
		if (done > ss->punched &&
		    fallocate(ss->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)ss->punched,
			      (off_t)(done - ss->punched)) == 0)
			ss->punched = done;
		if (floor == UINT64_MAX || ss->written - floor <= SNAP_SYNC_WINDOW)
			return 0;
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* A full sync's snapshot carries the replication id and offset of its cut
 * (known once the master has found the cut in its stream), as aux fields
 * after the keys (RDB readers take aux fields anywhere): a replica that
 * saves it and restarts knows where it stands. Other snapshots have none. */
static int repl_aux(struct rdb_writer *w, uint64_t gen)
{
	char id[64];
	long long off;
	int64_t deadline = mono_us() + 10 * 1000 * 1000;
	for (;;) {
		int k = replmaster_cut_info(gen, id, &off);
		if (k < 0)
			return 0;
		if (k > 0)
			return rdb_writer_repl_aux(w, 0, id, off);
		if (mono_us() > deadline) {
			srv_log(LL_WARNING, "Snapshot: the replication offset of the cut is not known; "
				"the file goes without it");
			return 0;
		}
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* The writer's last step: publish gen's result, go idle, and wake every
 * shard (waiters, SAVE and SHUTDOWN, are answered from their shard's loop). */
static void writer_finish(uint64_t gen, bool ok)
{
	unsigned slot = (unsigned)(gen % SNAP_RESULTS);
	atomic_store(&snap.res[slot].ok, ok);
	atomic_store(&snap.res[slot].gen, gen);
	atomic_store(&snap.state, SNAP_IDLE);
	for (unsigned i = 0; i < g_nshards; i++)
		dp_wake(g_shards[i]->wake_fd);
}

/* Streams the chunks into the temp file (or a diskless sync's memfd),
 * then finishes it. Owns snap.fd.
 * The last thing it does is set the state back to idle. */
static void *writer_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-rdb-writer");
	int fd = snap.fd;
	bool sync = snap.sync;
	uint64_t aof_gen = snap.aof_gen;
	struct sync_sink sk = { .fd = fd };
	uint64_t gen = snap.job_gen;
	int64_t t0 = mono_us();
	struct rdb_wopts wo = { .compress = snap.compress, .set_listpack = false };
	struct rdb_writer w;
	if (sync)
		rdb_writer_init(&w, sink_sync, &sk, &wo, snap.checksum);
	else
		rdb_writer_init(&w, rdb_sink_fd, &fd, &wo, snap.checksum);
	struct rdb_aux aux = { .used_mem = (long long)used_memory(), .aof_base = aof_gen != 0 };
	int rc = rdb_writer_begin(&w, &aux);
	uint64_t synced = 0;

	for (;;) {
		pthread_mutex_lock(&snap.mu);
		while (!snap.head && snap.parts_left)
			pthread_cond_wait(&snap.cv, &snap.mu);
		struct snap_chunk *ch = snap.head;
		if (ch) {
			snap.head = ch->next;
			if (!snap.head)
				snap.tail = NULL;
			snap.queued -= ch->len;
		}
		unsigned wake[SHARD_MAX];
		unsigned nwake = 0;
		if (snap.queued <= SNAP_QUEUE_LOW)
			for (unsigned i = 0; i < g_nshards; i++)
				if (snap.paused[i]) {
					snap.paused[i] = false;
					wake[nwake++] = i;
				}
		pthread_mutex_unlock(&snap.mu);
		for (unsigned i = 0; i < nwake; i++)
			dp_wake(g_shards[wake[i]]->wake_fd);
		if (!ch)
			break;   /* every part is in */
		if (rc == 0)
			rc = rdb_writer_raw(&w, ch->data, ch->len);
		free(ch->data);
		free(ch);
		if (rc == 0 && !sync && w.bytes - synced >= SNAP_SYNC_EVERY) {
			/* Keep the dirty page cache small, so the final fsync is
			 * short (Redis's rdb-save-incremental-fsync). */
			if (fdatasync(fd) != 0)
				rc = -errno;
			synced = w.bytes;
		}
	}
	if (rc == 0 && !aof_gen)
		rc = repl_aux(&w, gen);
	if (rc == 0)
		rc = rdb_writer_end(&w);
	uint64_t bytes = w.bytes;
	rdb_writer_destroy(&w);
	if (sync) {
		/* replmaster.c has its own descriptor: the memory goes with
		 * the last of them. */
		close(fd);
		snap.fd = -1;
		if (rc)
			srv_log(LL_WARNING, "Diskless sync: writing the snapshot failed: %s",
				strerror(-rc));
		else
			srv_log(LL_NOTICE, "Diskless sync: snapshot %llu complete (%llu bytes)",
				(unsigned long long)gen, (unsigned long long)bytes);
		replmaster_snap_done(gen, rc == 0, NULL);
		writer_finish(gen, rc == 0);
		return NULL;
	}
	if (aof_gen) {
		/* aof.c renames it and takes it into the manifest. */
		if (rc == 0 && fsync(fd) != 0)
			rc = -errno;
		if (close(fd) != 0 && rc == 0)
			rc = -errno;
		snap.fd = -1;
		if (rc) {
			srv_log(LL_WARNING, "Write error writing the AOF base %s: %s", snap.tmp,
				strerror(-rc));
			unlink(snap.tmp);
		} else {
			srv_log(LL_NOTICE, "AOF base snapshot %llu written (%llu bytes)",
				(unsigned long long)gen, (unsigned long long)bytes);
		}
		aof_base_snapshot_done(aof_gen, rc == 0);
		writer_finish(gen, rc == 0);
		return NULL;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	snap.fd = -1;
	if (rc == 0 && rename(snap.tmp, snap.path) != 0) {
		rc = -errno;
		srv_log(LL_WARNING, "Error moving temp DB file %s on the final destination %s: %s",
			snap.tmp, snap.path, strerror(-rc));
	} else if (rc == 0) {
		int drc = sync_dir(snap.dir);
		if (drc)
			srv_log(LL_WARNING, "Snapshot: fsync of dir %s failed: %s", snap.dir, strerror(-drc));
	} else {
		srv_log(LL_WARNING, "Write error saving DB on disk: %s", strerror(-rc));
	}
	if (rc)
		unlink(snap.tmp);

	bool ok = rc == 0;
	int64_t secs = (mono_us() - t0) / 1000000;
	uint64_t cow = 0;
	for (unsigned i = 0; i < g_nshards; i++) {
		cow += atomic_load(&g_ss[i].cow_keys);
		if (ok)
			atomic_store(&g_ss[i].saved_dirty, atomic_load(&g_ss[i].cut_dirty));
	}
	atomic_store(&snap.last_cow_keys, cow);
	if (ok || snap.background)
		atomic_store(&snap.last_ok, ok);
	if (snap.background)   /* as Redis: SAVE and SHUTDOWN leave it */
		atomic_store(&snap.last_time_s, secs);
	if (ok) {
		atomic_store(&snap.lastsave_s, wall_ms() / 1000);
		atomic_store(&snap_misconf, false);
		srv_log(LL_NOTICE, "DB saved on disk (%llu bytes, %llu keys saved by copy-on-write)",
			(unsigned long long)bytes, (unsigned long long)cow);
		srv_log(LL_NOTICE, "Background saving terminated with success");
	} else if (snap.background) {
		atomic_store(&snap_misconf, true);
		srv_log(LL_WARNING, "Background saving error");
	} else {
		srv_log(LL_WARNING, "Error saving the DB on disk");
	}
	replmaster_snap_done(gen, ok, snap.path);   /* master: a full sync's file */
	writer_finish(gen, ok);
	return NULL;
}

/* ------------------------------------------------------------ clients */

static struct snap_waiter *waiter_add(struct shard *sh, struct conn *c, int kind)
{
	struct snap_shard *ss = &g_ss[sh->id];
	struct snap_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->c = c;
	w->kind = kind;
	if (c) {   /* (none: SIGTERM's shutdown) */
		w->pend = conn_pend_new(c);
		w->pend->discard = c->discard_cur;
		c->barrier = true;   /* nothing after it runs before it answers */
		c->inflight++;
	}
	if (kind != W_BGSAVE) {
		w->next = ss->waiters;
		ss->waiters = w;
		snap_waiting = true;
	}
	return w;
}

/* Drop a waiter that never waited (its snapshot did not start). */
static void waiter_cancel(struct shard *sh, struct snap_waiter *w)
{
	waiter_done(sh, w, NULL, NULL);
}

/* Answer w (reply NULL: no reply, the connection just goes on) and free it. */
static void waiter_done(struct shard *sh, struct snap_waiter *w, const char *status,
			const char *err)
{
	struct snap_shard *ss = &g_ss[sh->id];
	for (struct snap_waiter **pp = &ss->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	snap_waiting = ss->waiters != NULL;
	struct conn *c = w->c;
	if (!c) {
		free(w);
		return;
	}
	if (status)
		resp_add_simple(&w->pend->buf, status);
	else if (err)
		resp_add_error(&w->pend->buf, err);
	conn_pend_done(sh, c, w->pend);
	free(w);
	c->inflight--;
	c->barrier = false;
	conn_resume(sh, c);
	conn_maybe_free(sh, c);
}

static void shutdown_now(struct shard *sh)
{
	(void)sh;
	srv_log(LL_WARNING, "keyrail is now ready to exit after saving the DB");
	shard_request_shutdown(0);
}

static void waiters_check(struct shard *sh)
{
	struct snap_shard *ss = &g_ss[sh->id];
	struct snap_waiter *w = ss->waiters, *next;
	for (; w; w = next) {
		next = w->next;
		if (w->gen == 0) {
			/* A SHUTDOWN waiting for another snapshot to end. */
			long long gen = snap_start(sh, w);
			if (gen == -EBUSY)
				continue;
			if (gen < 0) {
				if (w->force) {
					shutdown_now(sh);
					return;
				}
				waiter_done(sh, w, NULL, "ERR Errors trying to SHUTDOWN. Check logs.");
				continue;
			}
			w->gen = (uint64_t)gen;
			continue;
		}
		bool ok;
		if (!result_of(w->gen, &ok))
			continue;
		if (w->kind == W_SAVE) {
			waiter_done(sh, w, ok ? "OK" : NULL, ok ? NULL : "ERR");
			continue;
		}
		if (ok || w->force) {
			shutdown_now(sh);
			return;   /* the locks stay held until the process exits */
		}
		srv_log(LL_WARNING, "Error trying to save the DB, can't exit.");
		if (!w->c)
			srv_log(LL_WARNING, "SIGTERM received but errors trying to shut down the "
				"server, check the logs for more information");
		struct txn *t = w->txn;
		waiter_done(sh, w, NULL, "ERR Errors trying to SHUTDOWN. Check logs.");
		if (t)
			txn_release(sh, t);
	}
}

void cmd_save(struct cmd_ctx *ctx)
{
	if (ctx->in_multi || !ctx->c) {
		resp_add_error(ctx->out, "ERR Command not allowed inside a transaction");
		return;
	}
	long long gen = snap_start(ctx->sh, NULL);
	if (gen == -EBUSY) {
		resp_add_error(ctx->out, "ERR Background save already in progress");
		return;
	}
	if (gen < 0) {
		resp_add_error(ctx->out, "ERR");
		return;
	}
	struct snap_waiter *w = waiter_add(ctx->sh, ctx->c, W_SAVE);
	w->gen = (uint64_t)gen;
}

void cmd_bgsave(struct cmd_ctx *ctx)
{
	bool schedule = false;
	if (ctx->argc == 2 && arg_is(&ctx->argv[1], "schedule")) {
		schedule = true;
	} else if (ctx->argc > 1) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	int running = atomic_load(&snap.state);
	if (running != SNAP_IDLE) {
		/* As Redis: a snapshot for an AOF rewrite or a diskless sync
		 * is "another child"; SCHEDULE runs the save after it. */
		bool other = running != SNAP_SAVE;
		if (other && schedule) {
			atomic_store(&snap.scheduled, true);
			resp_add_simple(ctx->out, "Background saving scheduled");
		} else if (other) {
			resp_add_error(ctx->out, "ERR Another child process is active (AOF?): can't "
				       "BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a "
				       "BGSAVE whenever possible");
		} else {
			resp_add_error(ctx->out, "ERR Background save already in progress");
		}
		return;
	}
	if (ctx->in_multi || !ctx->c) {
		/* Inside EXEC the cut would wait for the transaction's own
		 * locks: as Redis, it starts from cron once EXEC is over. */
		atomic_store(&snap.scheduled, true);
		resp_add_simple(ctx->out, "Background saving scheduled");
		return;
	}
	struct snap_waiter *w = waiter_add(ctx->sh, ctx->c, W_BGSAVE);
	long long gen = snap_start(ctx->sh, w);
	if (gen >= 0)
		return;   /* answered at the cut */
	waiter_cancel(ctx->sh, w);
	if (gen == -EBUSY) {
		resp_add_error(ctx->out, "ERR Background save already in progress");
	} else {
		/* The temp file cannot be created: the "background" save fails
		 * at once and the status says so, as when Redis's child fails. */
		resp_add_simple(ctx->out, "Background saving started");
	}
}

void snap_shutdown(struct cmd_ctx *ctx, bool force)
{
	struct shard *sh = ctx->sh;
	if (!ctx->c || ctx->in_multi) {
		resp_add_error(ctx->out, "ERR Command not allowed inside a transaction");
		return;
	}
	srv_log(LL_WARNING, "Saving the final RDB snapshot before exiting.");
	struct snap_waiter *w = waiter_add(sh, ctx->c, W_SHUTDOWN);
	w->force = force;
	long long gen = snap_start(sh, w);
	if (gen == -EBUSY)
		return;   /* after the one under way (snap_cron) */
	if (gen < 0) {
		if (force) {
			shutdown_now(sh);
			return;
		}
		waiter_done(sh, w, NULL, "ERR Errors trying to SHUTDOWN. Check logs.");
		return;
	}
	w->gen = (uint64_t)gen;
}

/* SIGTERM (and SIGINT), on shard 0: as Redis, save first when save rules
 * are configured; if that save fails, log it and go on serving. */
static void sigterm_shutdown(struct shard *sh)
{
	if (!snap_rules_configured(sh)) {
		shard_request_shutdown(0);
		return;
	}
	srv_log(LL_WARNING, "Saving the final RDB snapshot before exiting.");
	struct snap_waiter *w = waiter_add(sh, NULL, W_SHUTDOWN);
	long long gen = snap_start(sh, w);
	if (gen == -EBUSY)
		return;   /* after the one under way (waiters_check) */
	if (gen < 0) {
		srv_log(LL_WARNING, "Error trying to save the DB, can't exit.");
		srv_log(LL_WARNING, "SIGTERM received but errors trying to shut down the server, "
			"check the logs for more information");
		waiter_done(sh, w, NULL, NULL);
		return;
	}
	w->gen = (uint64_t)gen;
}

void snap_sigterm(void)
{
	if (atomic_exchange(&snap.sigterm, true) || !g_nshards)
		return;
	dp_wake(g_shards[0]->wake_fd);
}

bool snap_request_sync(void)
{
	if (atomic_load(&snap.state) != SNAP_IDLE || atomic_load(&snap.sched_sync))
		return false;
	atomic_store(&snap.sched_sync, true);
	return true;
}

int snap_sync_fd(uint64_t gen)
{
	/* (Called inside gen's cut: the writer cannot have closed it.) */
	if (!snap.sync || snap.job_gen != gen || snap.fd < 0)
		return -1;
	return fcntl(snap.fd, F_DUPFD_CLOEXEC, 0);
}

long long snap_start_aof(struct shard *sh, uint64_t aof_gen)
{
	return snap_start_to(sh, NULL, false, aof_gen);
}

void snap_sync_consumed(uint64_t floor)
{
	atomic_store(&snap.sync_floor, floor);
}

bool snap_rules_configured(const struct shard *sh)
{
	return sh->cfg->save_n > 0;
}

long long snap_lastsave(void)
{
	return atomic_load(&snap.lastsave_s);
}

bool snap_refuse_write_slow(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
			    bool discard)
{
	if (!sh->cfg->stop_writes_on_bgsave_error || sh->cfg->save_n == 0 ||
	    atomic_load(&snap.last_ok) || replclient_is_master(c))
		return false;   /* a replica applies its master's writes regardless */
	if (!(cmd->flags & CMD_WRITE) && strcmp(cmd->name, "ping") != 0)
		return false;
	txn_flag_error(c);
	if (!discard)
		resp_add_error(conn_reply_buf(c),
			"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
			"persist to disk. Commands that may modify the data set are disabled, because this "
			"instance is configured to report errors during writes if RDB snapshotting fails "
			"(stop-writes-on-bgsave-error option). Please check the Redis logs for details "
			"about the RDB error.");
	return true;
}

/* -------------------------------------------------------------- cron */

static void rules_check(struct shard *sh)
{
	if (atomic_load(&snap.state) != SNAP_IDLE)
		return;
	if (atomic_exchange(&snap.sched_sync, false)) {
		snap_start_to(sh, NULL, true, 0);   /* (a failure: replmaster.c retries) */
		return;
	}
	if (atomic_exchange(&snap.scheduled, false)) {
		srv_log(LL_NOTICE, "Background saving scheduled earlier: starting it");
		snap_start(sh, NULL);
		return;
	}
	const struct cfg *c = sh->cfg;
	if (c->save_n == 0)
		return;
	int64_t now_s = sh->now_ms / 1000;
	long long changes = changes_since_save(sh);
	int64_t since = now_s - atomic_load(&snap.lastsave_s);
	bool may_retry = atomic_load(&snap.last_ok) ||
			 now_s - atomic_load(&snap.last_try_s) > SNAP_RETRY_S;
	for (int i = 0; i < c->save_n; i++) {
		if (changes >= c->save[i].changes && since > c->save[i].seconds && may_retry) {
			srv_log(LL_NOTICE, "%lld changes in %lld seconds. Saving...", c->save[i].changes,
				c->save[i].seconds);
			snap_start(sh, NULL);
			return;
		}
	}
}

unsigned snap_poll_slow(struct shard *sh)
{
	if (g_ss[sh->id].waiters)
		waiters_check(sh);
	return snap_cow_on ? snap_slice(sh) : 0;
}

void snap_cron(struct shard *sh)
{
	atomic_store_explicit(&snap_pub[sh->id].dirty, sh->dirty, memory_order_relaxed);
	if (g_ss[sh->id].waiters)
		waiters_check(sh);
	if (sh->id == 0 && atomic_exchange(&snap.sigterm, false))
		sigterm_shutdown(sh);
	if (sh->id == 0)
		rules_check(sh);
	/* (MISCONF: snap_misconf says the last background save failed, until
	 * one succeeds; whether it refuses writes is the shard's own config,
	 * read in snap_refuse_write_slow, as Redis decides it per command.) */
}

/* -------------------------------------------------------------- INFO */

void snap_info_persistence(struct shard *sh, struct rbuf *out)
{
	char buf[1024];
	bool running = atomic_load(&snap.state) != SNAP_IDLE;
	uint64_t done = 0, total = 0;
	if (running)
		for (unsigned i = 0; i < g_nshards; i++) {
			done += atomic_load(&g_ss[i].keys_done);
			total += atomic_load(&g_ss[i].keys_total);
		}
	int64_t cur = running ? (wall_ms() - atomic_load(&snap.start_ms)) / 1000 : -1;
	int n = snprintf(buf, sizeof(buf),
		"async_loading:0\r\n"
		"current_save_keys_processed:%llu\r\n"
		"current_save_keys_total:%llu\r\n"
		"rdb_changes_since_last_save:%lld\r\n"
		"rdb_bgsave_in_progress:%d\r\n"
		"rdb_last_save_time:%lld\r\n"
		"rdb_last_bgsave_status:%s\r\n"
		"rdb_last_bgsave_time_sec:%lld\r\n"
		"rdb_current_bgsave_time_sec:%lld\r\n"
		"rdb_saves:%llu\r\n"
		"rdb_last_cow_keys:%llu\r\n"
		"rdb_last_load_keys_expired:%llu\r\n"
		"rdb_last_load_keys_loaded:%llu\r\n",
		(unsigned long long)done, (unsigned long long)total, changes_since_save(sh),
		running ? 1 : 0, (long long)atomic_load(&snap.lastsave_s),
		atomic_load(&snap.last_ok) ? "ok" : "err", (long long)atomic_load(&snap.last_time_s),
		(long long)cur, (unsigned long long)atomic_load(&snap.saves),
		(unsigned long long)atomic_load(&snap.last_cow_keys),
		(unsigned long long)atomic_load(&snap.last_load_expired),
		(unsigned long long)atomic_load(&snap.last_load_loaded));
	rbuf_append(out, buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1));
}

/* ----------------------------------------------------------- loading */

struct load_ctx {
	struct shard *sh;
	int64_t now_ms;
	uint64_t loaded, expired;
};

static int load_key(void *arg, struct rdb_key *k)
{
	struct load_ctx *lc = arg;
	struct shard *sh = lc->sh;
	if (!shard_owns_key(sh, k->key, k->klen)) {
		rdb_obj_free(&k->obj);
		return 0;
	}
	if (k->expire_ms != KS_NO_EXPIRE && k->expire_ms < lc->now_ms) {
		rdb_obj_free(&k->obj);
		lc->expired++;
		return 0;
	}
	struct ks_db *db = &sh->ks->db[k->db];
	struct ks_entry *e = rdb_obj_store(db, k->key, k->klen, &k->obj);
	if (k->expire_ms != KS_NO_EXPIRE)
		ks_set_expire(db, e, k->expire_ms);
	lc->loaded++;
	return 0;
}

static int load_aux(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	struct load_ctx *lc = arg;
	if (lc->sh->id != 0)
		return 0;
	if (nlen == 9 && memcmp(name, "redis-ver", 9) == 0)
		srv_log(LL_NOTICE, "Loading RDB produced by version %.*s", (int)vlen, val);
	else if (nlen == 5 && memcmp(name, "ctime", 5) == 0) {
		char tmp[24];
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(vlen < 23 ? vlen : 23), val);
		long long t = atoll(tmp);
		srv_log(LL_NOTICE, "RDB age %lld seconds", (long long)(lc->now_ms / 1000 - t));
	}
	return 0;
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_once_init(void)
{
	pthread_barrier_init(&snap.load_barrier, NULL, g_nshards);
	atomic_store(&snap.lastsave_s, g_start_ms / 1000);
}

/* 0, or -1 with the error logged (shard 0 logs for everyone). */
static int load_file(struct shard *sh)
{
	const struct cfg *c = sh->cfg;
	char path[PATH_MAX];
	const char *dir = c->dir && c->dir[0] ? c->dir : ".";
	snprintf(path, sizeof(path), "%s/%s", dir, c->dbfilename);
	struct snap_shard *ss = &g_ss[sh->id];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(ss->load_err, sizeof(ss->load_err), "Fatal error loading the DB %s: %s. Exiting.",
			 path, strerror(errno));
		return -1;
	}
	if (sh->id == 0)
		srv_log(LL_NOTICE, "Loading RDB file %s", path);
	int64_t t0 = mono_us();
	struct load_ctx lc = { .sh = sh, .now_ms = wall_ms() };
	struct rdb_limits lim;
	rdb_limits_from_cfg(&lim, c);
	struct rdb_load_cbs cbs = { .key = load_key, .aux = load_aux, .arg = &lc };
	struct rdb_load_opts opts = { .ndb = c->databases, .check_crc = c->rdbchecksum };
	struct rdb_load_info info;
	char err[512];
	int rc = rdb_load_fd(fd, &lim, &cbs, &opts, &info, err, sizeof(err));
	close(fd);
	atomic_store(&g_ss[sh->id].load_loaded, lc.loaded);
	atomic_store(&g_ss[sh->id].load_expired, lc.expired);
	if (rc != 0) {
		snprintf(ss->load_err, sizeof(ss->load_err),
			 "Error loading the RDB file %s at offset %llu: %s. Exiting.", path,
			 (unsigned long long)info.bytes, err);
		return -1;
	}
	if (sh->id == 0)
		srv_log(LL_NOTICE, "DB loaded from disk by shard 0: %.3f seconds",
			(double)(mono_us() - t0) / 1e6);
	return 0;
}

/* A save that was under way when the process exits leaves no temp file. */
static void snap_atexit(void)
{
	if (atomic_load(&snap.state) != SNAP_IDLE && snap.tmp[0])
		unlink(snap.tmp);
}

void snap_shard_init(struct shard *sh)
{
	pthread_once(&load_once, load_once_init);
	int rc = 0;
	if (!sh->cfg->appendonly)   /* with the AOF on, the AOF is the data set */
		rc = load_file(sh);
	atomic_store(&g_ss[sh->id].load_rc, rc);
	atomic_store(&g_ss[sh->id].saved_dirty, sh->dirty);
	atomic_store(&snap_pub[sh->id].dirty, sh->dirty);
	pthread_barrier_wait(&snap.load_barrier);
	int failed = -1;
	uint64_t loaded = 0, expired = 0;
	for (unsigned i = 0; i < g_nshards; i++) {
		if (failed < 0 && atomic_load(&g_ss[i].load_rc) != 0)
			failed = (int)i;
		loaded += atomic_load(&g_ss[i].load_loaded);
		expired += atomic_load(&g_ss[i].load_expired);
	}
	if (failed >= 0) {
		/* Every shard stops before its loop serves anyone. */
		if (sh->id == 0)
			srv_log(LL_WARNING, "%s", g_ss[failed].load_err);
		shard_request_shutdown(1);
		return;
	}
	if (sh->id != 0)
		return;
	atomic_store(&snap.last_load_loaded, loaded);
	atomic_store(&snap.last_load_expired, expired);
	atexit(snap_atexit);
	if (loaded || expired)
		srv_log(LL_NOTICE, "Done loading RDB, keys loaded: %llu, keys expired: %llu.",
			(unsigned long long)loaded, (unsigned long long)expired);
}
