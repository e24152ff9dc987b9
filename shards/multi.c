/* Transactions: shard locks taken in a global order, MULTI/EXEC/WATCH, and
 * atomic commands spanning shards. docs/transactions.md explains the design.
 *
 * Locks. Each shard has one lock (sh->lock_owner). A transaction (struct
 * txn, living on its client's shard: the coordinator) locks every shard it
 * will touch in ascending shard order, one at a time; since every
 * transaction orders its requests the same way, no cycle of waits can form
 * (deadlock-free by construction). A locked shard runs only its owner's
 * requests (messages flagged .txn): other shards' requests wait in its
 * deferred FIFO and its own clients stop parsing (gated) until it is
 * unlocked; replies and lock traffic still flow. The owner releases every
 * lock at once when it is done: a remote lock by an MSG_UNLOCK sent after
 * its last request on that ring, so it arrives after them (rings are FIFO).
 * Strict two-phase locking: nobody sees any of a transaction's effects
 * before all its locks are held, or a shard it touches before it is done.
 *
 * Single-shard commands never lock: a shard executes one command at a time,
 * so they are atomic anyway; their only cost is the check of lock_owner.
 *
 * WATCH registers (client id, db, key) on the key's shard. Every write
 * (route_exec sees ctx->dirty) marks the watchers of its keys; EXEC checks
 * each shard's watchers while taking that shard's lock, so the check and
 * the execution are one atomic step. A watched key that existed and is
 * gone at EXEC (expired) counts as modified, as in Redis 7. */
#include "shards/shard_int.h"
#include "repl/wstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct txn {
	struct shard *sh;             /* coordinator */
	struct conn *c;
	uint64_t need, held;          /* shards to lock / locked */
	uint64_t unit;                /* its atomic unit in the write stream */
	unsigned next;                /* next shard to ask */
	uint64_t wid;                 /* client whose WATCHes are checked (0: none) */
	bool watch_dirty;
	void (*on_locked)(struct shard *sh, struct txn *t);
	/* txn_cross: the request, copied while the locks are taken */
	cmd_cross_fn *fn;
	struct cmd_ctx ctx;
	struct resp_arg *argv;
	char *argbuf;
	bool discard;
	/* txn_lock_then */
	void (*then)(struct shard *sh, struct txn *t, void *arg);
	void *arg;
	bool open;                    /* txn_lock_all: no client, no unit */
};

struct mcmd {
	const struct cmd_def *cmd;
	int argc;
	struct resp_arg *argv;        /* one block: argv then the bytes */
};

struct multi_state {
	bool active;                  /* between MULTI and EXEC/DISCARD */
	bool aborted;                 /* a queue-time error: EXEC aborts */
	bool executing;               /* EXEC is taking locks or running */
	bool running;                 /* txn_exec_continue() is on the stack */
	bool discard;                 /* CLIENT REPLY OFF/SKIP covered the EXEC */
	struct mcmd *q;
	int n, cap, next;
	uint64_t watch_mask;          /* shards holding our WATCHes */
};

/* ------------------------------------------------------------- watches */

struct watch {
	struct watch *next;
	uint64_t cid;
	int db;
	bool dirty;
	bool existed;                 /* the key was live when watched */
	uint32_t hash;
	uint32_t klen;
	char key[];
};

struct txn_shard {
	struct watch **b;
	uint64_t mask;
	uint64_t n;
};

static struct txn_shard *ts_get(struct shard *sh)
{
	if (!sh->txn) {
		sh->txn = calloc(1, sizeof(*sh->txn));
		if (!sh->txn)
			abort();
	}
	return sh->txn;
}

static uint32_t watch_hash(int db, const void *key, size_t len)
{
	return (uint32_t)(ks_hash(key, len) ^ ((uint64_t)db * 0x9E3779B97F4A7C15ull));
}

static void watch_grow(struct txn_shard *ts)
{
	uint64_t nsize = ts->b ? (ts->mask + 1) * 2 : 16;
	struct watch **nb = calloc(nsize, sizeof(*nb));
	if (!nb)
		abort();
	for (uint64_t i = 0; ts->b && i <= ts->mask; i++) {
		struct watch *w = ts->b[i];
		while (w) {
			struct watch *nx = w->next;
			w->next = nb[w->hash & (nsize - 1)];
			nb[w->hash & (nsize - 1)] = w;
			w = nx;
		}
	}
	free(ts->b);
	ts->b = nb;
	ts->mask = nsize - 1;
}

static void watch_add(struct shard *sh, uint64_t cid, int db, const struct resp_arg *key)
{
	struct txn_shard *ts = ts_get(sh);
	if (!ts->b || ts->n >= ts->mask + 1)
		watch_grow(ts);
	uint32_t h = watch_hash(db, key->p, key->len);
	for (struct watch *w = ts->b[h & ts->mask]; w; w = w->next)
		if (w->cid == cid && w->db == db && w->klen == key->len &&
		    memcmp(w->key, key->p, key->len) == 0)
			return;   /* already watched: the first WATCH counts */
	struct watch *w = malloc(sizeof(*w) + key->len + 1);
	if (!w)
		abort();
	w->cid = cid;
	w->db = db;
	w->dirty = false;
	w->existed = ks_find(&sh->ks->db[db], key->p, key->len, sh->now_ms) != NULL;
	w->hash = h;
	w->klen = (uint32_t)key->len;
	memcpy(w->key, key->p, key->len);
	w->key[key->len] = 0;
	w->next = ts->b[h & ts->mask];
	ts->b[h & ts->mask] = w;
	ts->n++;
}

static void watch_remove_all(struct shard *sh, uint64_t cid)
{
	struct txn_shard *ts = sh->txn;
	if (!ts || !ts->n)
		return;
	for (uint64_t i = 0; i <= ts->mask; i++) {
		struct watch **pp = &ts->b[i];
		while (*pp) {
			struct watch *w = *pp;
			if (w->cid == cid) {
				*pp = w->next;
				free(w);
				ts->n--;
			} else {
				pp = &w->next;
			}
		}
	}
}

/* Has any key cid watches here changed (or expired) since it was watched? */
static bool watch_check(struct shard *sh, uint64_t cid)
{
	struct txn_shard *ts = sh->txn;
	if (!cid || !ts || !ts->n)
		return false;
	for (uint64_t i = 0; i <= ts->mask; i++) {
		for (struct watch *w = ts->b[i]; w; w = w->next) {
			if (w->cid != cid)
				continue;
			if (w->dirty)
				return true;
			if (w->existed && !ks_find(&sh->ks->db[w->db], w->key, w->klen, sh->now_ms))
				return true;
		}
	}
	return false;
}

void txn_signal_key(struct shard *sh, int dbid, const void *key, size_t len)
{
	struct txn_shard *ts = sh->txn;
	if (ts && ts->n) {
		uint32_t h = watch_hash(dbid, key, len);
		for (struct watch *w = ts->b[h & ts->mask]; w; w = w->next)
			if (w->db == dbid && w->klen == len && memcmp(w->key, key, len) == 0)
				w->dirty = true;
	}
	block_on_key(sh, dbid, key, len);
}

void txn_signal_db(struct shard *sh, int dbid, int other)
{
	block_on_db(sh, dbid);
	struct txn_shard *ts = sh->txn;
	if (!ts || !ts->n)
		return;
	/* As Redis: only watched keys that exist (in either db of a swap)
	 * are touched. */
	for (uint64_t i = 0; i <= ts->mask; i++)
		for (struct watch *w = ts->b[i]; w; w = w->next)
			if (w->db == dbid &&
			    (ks_find(&sh->ks->db[dbid], w->key, w->klen, sh->now_ms) ||
			     ks_find(&sh->ks->db[other], w->key, w->klen, sh->now_ms)))
				w->dirty = true;
}

void txn_post_write(struct shard *sh, const struct cmd_ctx *ctx)
{
	bool watches = sh->txn && sh->txn->n;
	if (ctx->scratch && ctx->gwritten) {
		/* A gathered script's command: note what it wrote, for the
		 * write-back (which then signals the owners). */
		int buf[64], *idx;
		int n = cmd_write_key_indexes(ctx->cmd, ctx->argc, ctx->argv, buf, 64, &idx);
		for (int k = 0; k < n; k++)
			for (int g = 0; g < ctx->ngkeys; g++)
				if (ctx->gkeys[g].len == ctx->argv[idx[k]].len &&
				    memcmp(ctx->gkeys[g].p, ctx->argv[idx[k]].p, ctx->gkeys[g].len) == 0)
					ctx->gwritten[g] = true;
		if (idx != buf)
			free(idx);
		return;
	}
	if (!watches && !block_any(sh))
		return;
	if (ctx->scratch)
		return;   /* gathered copies: the write-back signals the owners */
	int buf[64], *idx;
	int n = cmd_write_key_indexes(ctx->cmd, ctx->argc, ctx->argv, buf, 64, &idx);
	for (int k = 0; k < n; k++)
		txn_signal_key(sh, ctx->dbid, ctx->argv[idx[k]].p, ctx->argv[idx[k]].len);
	if (idx != buf)
		free(idx);
}

/* __watch <client-id> key...: register on this shard. */
static void cmd_int_watch(struct cmd_ctx *ctx)
{
	long long cid;
	if (arg_to_ll(&ctx->argv[1], &cid) != 0)
		abort();   /* built by watch_send(): never bad */
	for (int i = 2; i < ctx->argc; i++)
		watch_add(ctx->sh, (uint64_t)cid, ctx->dbid, &ctx->argv[i]);
	resp_add_ok(ctx->out);
}

/* __unwatch <client-id>: forget every key it watches here. */
static void cmd_int_unwatch(struct cmd_ctx *ctx)
{
	long long cid;
	if (arg_to_ll(&ctx->argv[1], &cid) != 0)
		abort();
	watch_remove_all(ctx->sh, (uint64_t)cid);
	resp_add_ok(ctx->out);
}

static const struct cmd_def cmd_internal_watch = {
	.name = "__watch", .arity = -3, .flags = CMD_INTERNAL, .fn = cmd_int_watch,
};
static const struct cmd_def cmd_internal_unwatch = {
	.name = "__unwatch", .arity = 2, .flags = CMD_INTERNAL, .fn = cmd_int_unwatch,
};

static struct multi_state *ms_get(struct conn *c)
{
	if (!c->mstate) {
		c->mstate = calloc(1, sizeof(*c->mstate));
		if (!c->mstate)
			abort();
	}
	return c->mstate;
}

static void unwatch_all(struct shard *sh, struct conn *c)
{
	struct multi_state *ms = c->mstate;
	if (!ms || !ms->watch_mask)
		return;
	char idbuf[24];
	size_t idlen = ks_ll2str(idbuf, (long long)c->id);
	struct resp_arg av[2] = { { "__unwatch", 9 }, { idbuf, idlen } };
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!(ms->watch_mask & (1ull << d)))
			continue;
		if (d == sh->id) {
			watch_remove_all(sh, c->id);
			continue;
		}
		struct shard_msg *m = shard_msg_new(sh, &cmd_internal_unwatch, 2, av);
		m->noreply = true;
		shard_send(sh, d, m);
	}
	ms->watch_mask = 0;
}

static void queue_free(struct multi_state *ms)
{
	for (int i = 0; i < ms->n; i++)
		free(ms->q[i].argv);
	free(ms->q);
	ms->q = NULL;
	ms->n = ms->cap = ms->next = 0;
	ms->active = ms->aborted = false;
}

void txn_conn_reset(struct shard *sh, struct conn *c)
{
	struct multi_state *ms = c->mstate;
	if (!ms || ms->executing)
		return;   /* a running EXEC cleans up when it ends */
	unwatch_all(sh, c);
	queue_free(ms);
	free(ms);
	c->mstate = NULL;
}

void txn_flag_error(struct conn *c)
{
	if (c->mstate && c->mstate->active)
		c->mstate->aborted = true;
}

/* ---------------------------------------------------------------- locks */

static struct txn *txn_new(struct shard *sh, struct conn *c, uint64_t need)
{
	struct txn *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->sh = sh;
	t->c = c;
	t->need = need;
	t->unit = wstream_txn_id(sh->id);
	return t;
}

static bool lock_free(const struct shard *sh)
{
	return !sh->lock_owner && !sh->unlock_work && !sh->lock_wait_head;
}

static void lock_wait(struct shard *sh, struct shard_msg *m)
{
	m->next = NULL;
	if (sh->lock_wait_tail)
		sh->lock_wait_tail->next = m;
	else
		sh->lock_wait_head = m;
	sh->lock_wait_tail = m;
}

static void txn_acquire(struct shard *sh, struct txn *t);

/* Give this shard's lock to the request m (from any shard, maybe us). */
static void lock_grant(struct shard *sh, struct shard_msg *m)
{
	sh->lock_owner = m->tag;
	sh->lock_open = m->open;
	/* What the locks' holder writes here is one unit of the write
	 * stream (a MULTI/EXEC block), whole or not at all in a replica. */
	if (wstream_enabled() && !m->open)
		wstream_txn_begin(sh->id, m->unit, m->unit_parts);
	bool dirty = watch_check(sh, m->wid);
	if (m->src == sh->id) {
		struct txn *t = m->tag;
		free(m);
		t->held |= 1ull << sh->id;
		t->watch_dirty |= dirty;
		t->next = sh->id + 1;
		txn_acquire(sh, t);
		return;
	}
	m->kind = MSG_LOCKED;
	m->part = dirty;
	m->dbid = (int)sh->id;
	shard_send(sh, m->src, m);
}

static struct shard_msg *lock_msg(struct shard *sh, struct txn *t)
{
	struct shard_msg *m = shard_msg_new(sh, NULL, 0, NULL);
	m->kind = MSG_LOCK;
	m->tag = t;
	m->wid = t->wid;
	m->unit = t->unit;
	m->unit_parts = (unsigned)__builtin_popcountll(t->need);
	m->open = t->open;
	return m;
}

/* Ask for the next lock in ascending shard order; run on_locked once all
 * are held. */
static void txn_acquire(struct shard *sh, struct txn *t)
{
	while (t->next < g_nshards) {
		unsigned d = t->next;
		if (!(t->need & (1ull << d))) {
			t->next++;
			continue;
		}
		if (d == sh->id) {
			if (!lock_free(sh)) {
				lock_wait(sh, lock_msg(sh, t));
				return;
			}
			sh->lock_owner = t;
			sh->lock_open = t->open;
			if (wstream_enabled() && !t->open)
				wstream_txn_begin(sh->id, t->unit,
						  (unsigned)__builtin_popcountll(t->need));
			t->watch_dirty |= watch_check(sh, t->wid);
			t->held |= 1ull << d;
			t->next++;
			continue;
		}
		shard_send(sh, d, lock_msg(sh, t));
		return;
	}
	t->on_locked(sh, t);
}

static void local_unlock(struct shard *sh)
{
	if (wstream_in_txn(sh->id))
		wstream_txn_end(sh->id, 0);
	sh->lock_owner = NULL;
	sh->lock_open = false;
	sh->unlock_work = true;
}

void txn_release(struct shard *sh, struct txn *t)
{
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!(t->held & (1ull << d)))
			continue;
		if (d == sh->id) {
			local_unlock(sh);
			continue;
		}
		struct shard_msg *m = shard_msg_new(sh, NULL, 0, NULL);
		m->kind = MSG_UNLOCK;
		m->tag = t;
		shard_send(sh, d, m);
	}
	free(t->argv);
	free(t->argbuf);
	free(t);
}

void txn_on_msg(struct shard *sh, struct shard_msg *m)
{
	switch (m->kind) {
	case MSG_LOCK:
		if (lock_free(sh))
			lock_grant(sh, m);
		else
			lock_wait(sh, m);
		break;
	case MSG_LOCKED: {
		struct txn *t = m->tag;
		t->held |= 1ull << (unsigned)m->dbid;
		t->watch_dirty |= m->part != 0;
		t->next = (unsigned)m->dbid + 1;
		free(m);
		txn_acquire(sh, t);
		break;
	}
	case MSG_UNLOCK:
		if (sh->lock_owner != m->tag)
			abort();   /* only the owner unlocks */
		free(m);
		local_unlock(sh);
		break;
	default:
		abort();
	}
}

void txn_defer(struct shard *sh, struct shard_msg *m)
{
	m->next = NULL;
	if (sh->def_tail)
		sh->def_tail->next = m;
	else
		sh->def_head = m;
	sh->def_tail = m;
}

void txn_gate(struct shard *sh, struct conn *c)
{
	if (c->gated)
		return;
	c->gated = true;
	c->inflight++;   /* keeps c allocated while listed */
	c->gated_next = sh->gated;
	sh->gated = c;
}

void txn_after_unlock(struct shard *sh)
{
	sh->unlock_work = false;
	while (sh->def_head && !sh->lock_owner) {
		struct shard_msg *m = sh->def_head;
		sh->def_head = m->next;
		if (!sh->def_head)
			sh->def_tail = NULL;
		shard_exec_msg(sh, m);
	}
	if (sh->lock_owner)
		return;
	struct conn *g = sh->gated;
	sh->gated = NULL;
	while (g) {
		struct conn *c = g;
		g = c->gated_next;
		c->gated = false;
		c->inflight--;
		if (sh->lock_owner)
			txn_gate(sh, c);   /* a resumed client locked us again */
		else
			conn_resume(sh, c);
		conn_maybe_free(sh, c);
	}
	if (!sh->lock_owner && sh->lock_wait_head) {
		struct shard_msg *m = sh->lock_wait_head;
		sh->lock_wait_head = m->next;
		if (!sh->lock_wait_head)
			sh->lock_wait_tail = NULL;
		lock_grant(sh, m);
	}
}

/* ----------------------------------------- commands spanning shards */

static void cross_locked(struct shard *sh, struct txn *t)
{
	struct conn *c = t->c;
	c->inflight--;
	c->barrier = false;
	struct cmd_ctx ctx = t->ctx;
	ctx.sh = sh;
	ctx.c = c;
	ctx.argv = t->argv;
	ctx.db = &sh->ks->db[ctx.dbid];
	ctx.now_ms = sh->now_ms;
	ctx.out = NULL;
	c->discard_cur = t->discard;
	/* The request copy is ours now: t may be freed inside fn (a fan-out
	 * that completes at once releases it). */
	struct resp_arg *argv = t->argv;
	char *argbuf = t->argbuf;
	t->argv = NULL;
	t->argbuf = NULL;
	sh->cur_txn = t;   /* the fan-out fn creates takes t over */
	t->fn(&ctx);
	c->discard_cur = false;
	if (sh->cur_txn == t) {
		/* fn answered at once (bad arguments): nothing to protect. */
		sh->cur_txn = NULL;
		txn_release(sh, t);
	}
	free(argv);
	free(argbuf);
	if (!c->barrier)
		conn_resume(sh, c);
	conn_maybe_free(sh, c);
}

void txn_cross(struct shard *sh, struct conn *c, struct cmd_ctx *ctx, uint64_t mask,
	       cmd_cross_fn *fn)
{
	if (c->txn_exec) {   /* inside EXEC: its locks cover us */
		fn(ctx);
		return;
	}
	struct txn *t = txn_new(sh, c, mask);
	t->fn = fn;
	t->ctx = *ctx;
	t->discard = c->discard_cur;
	size_t bytes = 0;
	for (int i = 0; i < ctx->argc; i++)
		bytes += ctx->argv[i].len;
	t->argv = malloc(sizeof(struct resp_arg) * (size_t)ctx->argc);
	t->argbuf = malloc(bytes + 1);
	if (!t->argv || !t->argbuf)
		abort();
	char *p = t->argbuf;
	for (int i = 0; i < ctx->argc; i++) {
		memcpy(p, ctx->argv[i].p, ctx->argv[i].len);
		t->argv[i].p = p;
		t->argv[i].len = ctx->argv[i].len;
		p += ctx->argv[i].len;
	}
	t->on_locked = cross_locked;
	/* Nothing after this command may run before it has locked. */
	c->barrier = true;
	c->inflight++;
	txn_acquire(sh, t);
}

static void then_locked(struct shard *sh, struct txn *t)
{
	struct conn *c = t->c;   /* t may be released inside then() */
	c->inflight--;
	t->then(sh, t, t->arg);
	conn_maybe_free(sh, c);
}

void txn_lock_then(struct shard *sh, struct conn *c, uint64_t mask,
		   void (*fn)(struct shard *sh, struct txn *t, void *arg), void *arg)
{
	struct txn *t = txn_new(sh, c, mask);
	t->then = fn;
	t->arg = arg;
	t->on_locked = then_locked;
	c->inflight++;
	txn_acquire(sh, t);
}

static void open_locked(struct shard *sh, struct txn *t)
{
	t->then(sh, t, t->arg);
}

void txn_lock_all(struct shard *sh, void (*fn)(struct shard *sh, struct txn *t, void *arg),
		  void *arg)
{
	uint64_t all = g_nshards >= 64 ? ~0ull : (1ull << g_nshards) - 1;
	struct txn *t = txn_new(sh, NULL, all);
	t->open = true;
	t->then = fn;
	t->arg = arg;
	t->on_locked = open_locked;
	txn_acquire(sh, t);
}

static void split_fn(struct cmd_ctx *ctx)
{
	xshard_split(ctx->sh, ctx->c, ctx);
}

void txn_split(struct shard *sh, struct conn *c, struct cmd_ctx *ctx, uint64_t mask)
{
	txn_cross(sh, c, ctx, mask, split_fn);
}

/* -------------------------------------------------- MULTI / EXEC / WATCH */

static void reply_err(struct conn *c, bool discard, const char *msg)
{
	if (!discard)
		resp_add_error(conn_reply_buf(c), msg);
}

static void reply_ok(struct conn *c, bool discard, const char *word)
{
	if (!discard)
		resp_add_simple(conn_reply_buf(c), word);
}

static void watch_done(struct shard *sh, struct fanout *fo)
{
	struct rbuf out = {0};
	resp_add_ok(&out);
	fanout_finish(sh, fo, &out);
}

static void do_watch(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
		     int argc, const struct resp_arg *argv, bool discard)
{
	struct multi_state *ms = ms_get(c);
	uint64_t remote = 0;
	for (int i = 1; i < argc; i++) {
		unsigned d = shard_of_key(argv[i].p, argv[i].len);
		if (d == sh->id)
			watch_add(sh, c->id, c->db, &argv[i]);
		else
			remote |= 1ull << d;
		ms->watch_mask |= 1ull << d;
	}
	if (!remote) {
		reply_ok(c, discard, "OK");
		return;
	}
	unsigned nparts = (unsigned)__builtin_popcountll(remote);
	struct cmd_ctx ctx = {
		.sh = sh, .c = c, .cmd = cmd, .argc = argc, .argv = argv,
		.db = &sh->ks->db[c->db], .dbid = c->db, .proto = c->proto,
		.now_ms = sh->now_ms,
	};
	c->discard_cur = discard;
	struct fanout *fo = fanout_new(sh, c, &ctx, nparts, watch_done);
	c->discard_cur = false;
	char idbuf[24];
	size_t idlen = ks_ll2str(idbuf, (long long)c->id);
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)(argc + 1));
	if (!av)
		abort();
	unsigned part = 0;
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!(remote & (1ull << d)))
			continue;
		int n = 0;
		av[n++] = (struct resp_arg){ "__watch", 7 };
		av[n++] = (struct resp_arg){ idbuf, idlen };
		for (int i = 1; i < argc; i++)
			if (shard_of_key(fo->argv[i].p, fo->argv[i].len) == d)
				av[n++] = fo->argv[i];
		fanout_send(sh, fo, part++, d, &cmd_internal_watch, n, av, NULL);
	}
	free(av);
	fanout_arm(sh, fo);
}

static void queue_cmd(struct multi_state *ms, const struct cmd_def *cmd, int argc,
		      const struct resp_arg *argv)
{
	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? ms->cap * 2 : 8;
		ms->q = realloc(ms->q, sizeof(*ms->q) * (size_t)ms->cap);
		if (!ms->q)
			abort();
	}
	size_t bytes = 0;
	for (int i = 0; i < argc; i++)
		bytes += argv[i].len;
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)argc + bytes + 1);
	if (!av)
		abort();
	char *p = (char *)(av + argc);
	for (int i = 0; i < argc; i++) {
		memcpy(p, argv[i].p, argv[i].len);
		av[i].p = p;
		av[i].len = argv[i].len;
		p += argv[i].len;
	}
	ms->q[ms->n++] = (struct mcmd){ .cmd = cmd, .argc = argc, .argv = av };
}

static void exec_end(struct shard *sh, struct conn *c)
{
	struct multi_state *ms = c->mstate;
	ms->executing = false;
	unwatch_all(sh, c);
	queue_free(ms);
	c->barrier = false;
}

bool txn_exec_continue(struct shard *sh, struct conn *c)
{
	struct multi_state *ms = c->mstate;
	if (ms->running)
		return true;   /* a command finishing at once resumed us: the
				* loop below goes on by itself */
	ms->running = true;
	c->inflight++;   /* c stays allocated while the loop runs (a command
			  * finishing at once may drop the last reference) */
	while (ms->next < ms->n) {
		struct mcmd *q = &ms->q[ms->next++];
		c->barrier = false;
		c->last_cmd = q->cmd->name;
		route_run(sh, c, q->cmd, q->argc, q->argv, ms->discard);
		if (c->barrier) {
			ms->running = false;
			c->inflight--;
			return true;   /* a coordinator runs; it resumes us */
		}
	}
	ms->running = false;
	c->inflight--;
	struct txn *t = c->txn_exec;
	c->txn_exec = NULL;
	txn_release(sh, t);
	exec_end(sh, c);
	return false;
}

static void exec_locked(struct shard *sh, struct txn *t)
{
	struct conn *c = t->c;
	struct multi_state *ms = c->mstate;
	c->inflight--;
	if (t->watch_dirty) {
		if (!ms->discard)
			block_reply_null(conn_reply_buf(c), c->proto, true);
		txn_release(sh, t);
		exec_end(sh, c);
		conn_resume(sh, c);
		conn_maybe_free(sh, c);
		return;
	}
	if (!ms->discard)
		resp_add_array(conn_reply_buf(c), ms->n);
	c->txn_exec = t;
	ms->next = 0;
	if (!txn_exec_continue(sh, c))
		conn_resume(sh, c);
	conn_maybe_free(sh, c);
}

static void do_exec(struct shard *sh, struct conn *c, bool discard)
{
	struct multi_state *ms = c->mstate;
	ms->discard = discard;
	uint64_t mask = ms->watch_mask;
	for (int i = 0; i < ms->n; i++) {
		const struct mcmd *q = &ms->q[i];
		const struct cmd_def *cmd = q->cmd;
		if (cmd->flags & CMD_BCAST) {
			mask |= g_nshards >= 64 ? ~0ull : (1ull << g_nshards) - 1;
		} else if (cmd->route_fn) {
			struct cmd_ctx ctx = { .sh = sh, .c = c, .cmd = cmd, .argc = q->argc,
					       .argv = q->argv, .dbid = c->db };
			mask |= 1ull << cmd->route_fn(&ctx);
		} else if (!(cmd->flags & (CMD_CONN | CMD_NOKEYS_ANY))) {
			int nk;
			mask |= route_key_mask(cmd, q->argc, q->argv, &nk);
		}
	}
	struct txn *t = txn_new(sh, c, mask);
	t->wid = ms->watch_mask ? c->id : 0;
	t->on_locked = exec_locked;
	ms->active = false;
	ms->executing = true;
	c->barrier = true;
	c->inflight++;
	txn_acquire(sh, t);
}

bool txn_dispatch(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
		  int argc, const struct resp_arg *argv, bool discard)
{
	struct multi_state *ms = c->mstate;
	bool active = ms && ms->active;
	const char *name = cmd->name;
	if (strcmp(name, "multi") == 0) {
		if (active) {
			reply_err(c, discard, "ERR MULTI calls can not be nested");
			return true;
		}
		ms = ms_get(c);
		ms->active = true;
		ms->aborted = false;
		reply_ok(c, discard, "OK");
		return true;
	}
	if (strcmp(name, "exec") == 0) {
		if (!active) {
			reply_err(c, discard, "ERR EXEC without MULTI");
			return true;
		}
		if (ms->aborted) {
			reply_err(c, discard, "EXECABORT Transaction discarded because of previous errors.");
			unwatch_all(sh, c);
			queue_free(ms);
			return true;
		}
		do_exec(sh, c, discard);
		return true;
	}
	if (strcmp(name, "discard") == 0) {
		if (!active) {
			reply_err(c, discard, "ERR DISCARD without MULTI");
			return true;
		}
		unwatch_all(sh, c);
		queue_free(ms);
		reply_ok(c, discard, "OK");
		return true;
	}
	if (strcmp(name, "watch") == 0) {
		if (active) {
			reply_err(c, discard, "ERR WATCH inside MULTI is not allowed");
			return true;
		}
		do_watch(sh, c, cmd, argc, argv, discard);
		return true;
	}
	if (!active)
		return false;
	/* Inside MULTI: everything else is queued, except what acts on the
	 * connection at once. */
	if (strcmp(name, "quit") == 0 || strcmp(name, "reset") == 0)
		return false;
	if (cmd->flags & CMD_NOQUEUE) {
		txn_flag_error(c);
		reply_err(c, discard, "ERR Command not allowed inside a transaction");
		return true;
	}
	queue_cmd(ms, cmd, argc, argv);
	reply_ok(c, discard, "QUEUED");
	return true;
}

/* Table handlers: MULTI EXEC DISCARD WATCH are consumed by txn_dispatch()
 * before routing; reaching these means a caller that cannot run them (a
 * script). UNWATCH is an ordinary client command. */
void cmd_multi(struct cmd_ctx *ctx)
{
	resp_add_error(ctx->out, "ERR This Redis command is not allowed from script");
}

void cmd_unwatch(struct cmd_ctx *ctx)
{
	if (ctx->c)
		unwatch_all(ctx->sh, ctx->c);
	resp_add_ok(ctx->out);
}

int txn_queued(const struct conn *c)
{
	const struct multi_state *ms = c->mstate;
	return ms && (ms->active || ms->executing) ? ms->n : -1;
}
