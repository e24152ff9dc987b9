/* Blocking commands: clients suspended on keys until a write serves them
 * (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP).
 *
 * A blocking command runs on the shard owning its keys like any other. If
 * its handler finds nothing to serve it calls cmd_block(); the caller then
 * parks the request here (block_park): a record linked into a FIFO per
 * watched key. The request is either local (the client is on this shard:
 * its reply goes to a pend) or remote (the message stays here and goes back
 * when answered). Writes mark keys ready (block_on_key from the dispatcher's
 * post-write hook); after each top-level command, and once per loop round,
 * block_serve() re-runs the handler of each client blocked on a ready key,
 * oldest first, until one cannot be served. Nothing is served in the middle
 * of a transaction. Timeouts are checked every loop round against the
 * earliest deadline, so they have millisecond precision.
 *
 * On the client's shard a blocking command holds the client (pend.barrier
 * sets c->barrier) so its next commands wait, as Redis does. */
#include "shards/shard_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct bkey;

struct blocked {
	struct blocked *next, *prev;      /* every record of the shard */
	const struct cmd_def *cmd;
	int argc;
	struct resp_arg *argv;            /* one block with the bytes */
	int dbid, proto;
	int64_t deadline;                 /* 0: forever */
	bool null_array;
	uint64_t cid;                     /* client id (CLIENT UNBLOCK) */
	struct conn *c;                   /* local client, or NULL */
	struct pend *p;
	struct shard_msg *m;              /* remote request, or NULL */
	int nkeys;
	struct bkey **keys;
	bool counted;                     /* one client (INFO blocked_clients) */
	/* A cross-shard waiter (__bwait) whose client was woken and is
	 * re-running its command under locks: it keeps its places in the key
	 * FIFOs, and nobody behind it is served, until its client is done
	 * (block_done) or blocks again (its new waiter takes these places). */
	bool hold;
};

struct bwait {
	struct bwait *next;
	struct blocked *b;
};

struct bkey {
	struct bkey *next;                /* hash chain */
	struct bkey *ready_next;
	struct bwait *head, *tail;
	bool ready;
	int db;
	uint32_t hash;
	uint32_t klen;
	char key[];
};

struct block_shard {
	struct bkey **b;
	uint64_t mask, nkeys;
	struct blocked *all;
	uint64_t nblocked, ncounted;
	struct bkey *ready, *ready_tail;  /* FIFO: keys in the order written */
	int64_t next_deadline;            /* 0: none */
};

int arg_timeout(struct cmd_ctx *ctx, const struct resp_arg *a, int64_t *deadline_ms)
{
	char buf[64];
	if (a->len == 0 || a->len >= sizeof(buf)) {
		resp_add_error(ctx->out, "ERR timeout is not a float or out of range");
		return -1;
	}
	memcpy(buf, a->p, a->len);
	buf[a->len] = 0;
	char *end;
	errno = 0;
	long double t = strtold(buf, &end);
	if (*end || errno == ERANGE || isnan((double)t) || isinf((double)t)) {
		resp_add_error(ctx->out, "ERR timeout is not a float or out of range");
		return -1;
	}
	if (t < 0) {
		resp_add_error(ctx->out, "ERR timeout is negative");
		return -1;
	}
	long double ms = t * 1000.0L;
	if (ms > (long double)(INT64_MAX / 4)) {
		resp_add_error(ctx->out, "ERR timeout is out of range");
		return -1;
	}
	int64_t rel = (int64_t)ceill(ms);
	*deadline_ms = rel == 0 ? 0 : ctx->now_ms + rel;
	return 0;
}

void block_reply_null(struct rbuf *out, int proto, bool null_array)
{
	if (proto >= 3)
		rbuf_append(out, "_\r\n", 3);
	else if (null_array)
		rbuf_append(out, "*-1\r\n", 5);
	else
		rbuf_append(out, "$-1\r\n", 5);
}

void cmd_block(struct cmd_ctx *ctx, int64_t deadline_ms, bool null_array)
{
	if (!ctx->may_block) {
		block_reply_null(ctx->out, ctx->proto, null_array);
		return;
	}
	ctx->blocked = true;
	ctx->block_deadline_ms = deadline_ms;
	ctx->block_null_array = null_array;
}

bool cmd_key_local(const struct cmd_ctx *ctx, const void *key, size_t len)
{
	if (!ctx->scratch)
		return shard_owns_key(ctx->sh, key, len);
	for (int i = 0; i < ctx->ngkeys; i++)
		if (ctx->gkeys[i].len == len && memcmp(ctx->gkeys[i].p, key, len) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------ registry */

static struct block_shard *bs_get(struct shard *sh)
{
	if (!sh->blocking) {
		sh->blocking = calloc(1, sizeof(*sh->blocking));
		if (!sh->blocking)
			abort();
	}
	return sh->blocking;
}


static uint32_t bkey_hash(int db, const void *key, size_t len)
{
	return (uint32_t)(ks_hash(key, len) ^ ((uint64_t)(db + 1) * 0x9E3779B97F4A7C15ull));
}

static struct bkey *bkey_find(struct block_shard *bs, int db, const void *key, size_t len,
			      uint32_t h)
{
	if (!bs->b)
		return NULL;
	for (struct bkey *k = bs->b[h & bs->mask]; k; k = k->next)
		if (k->db == db && k->klen == len && memcmp(k->key, key, len) == 0)
			return k;
	return NULL;
}

static void bkey_grow(struct block_shard *bs)
{
	uint64_t n = bs->b ? (bs->mask + 1) * 2 : 16;
	struct bkey **nb = calloc(n, sizeof(*nb));
	if (!nb)
		abort();
	for (uint64_t i = 0; bs->b && i <= bs->mask; i++) {
		struct bkey *k = bs->b[i];
		while (k) {
			struct bkey *nx = k->next;
			k->next = nb[k->hash & (n - 1)];
			nb[k->hash & (n - 1)] = k;
			k = nx;
		}
	}
	free(bs->b);
	bs->b = nb;
	bs->mask = n - 1;
}

static struct bkey *bkey_get(struct block_shard *bs, int db, const struct resp_arg *key)
{
	uint32_t h = bkey_hash(db, key->p, key->len);
	struct bkey *k = bkey_find(bs, db, key->p, key->len, h);
	if (k)
		return k;
	if (!bs->b || bs->nkeys >= bs->mask + 1)
		bkey_grow(bs);
	k = calloc(1, sizeof(*k) + key->len + 1);
	if (!k)
		abort();
	k->db = db;
	k->hash = h;
	k->klen = (uint32_t)key->len;
	memcpy(k->key, key->p, key->len);
	k->next = bs->b[h & bs->mask];
	bs->b[h & bs->mask] = k;
	bs->nkeys++;
	return k;
}

static void bkey_maybe_free(struct block_shard *bs, struct bkey *k)
{
	if (k->head || k->ready)
		return;
	struct bkey **pp = &bs->b[k->hash & bs->mask];
	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	bs->nkeys--;
	free(k);
}

/* Unlink b from every key FIFO and from the shard list, and free it (the
 * caller has answered or dropped its request). */
static void blocked_free(struct shard *sh, struct block_shard *bs, struct blocked *b)
{
	for (int i = 0; i < b->nkeys; i++) {
		struct bkey *k = b->keys[i];
		struct bwait **pp = &k->head, *prev = NULL;
		while (*pp && (*pp)->b != b) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			struct bwait *w = *pp;
			*pp = w->next;
			if (k->tail == w)
				k->tail = prev;
			free(w);
		}
		bkey_maybe_free(bs, k);
	}
	if (b->prev)
		b->prev->next = b->next;
	else
		bs->all = b->next;
	if (b->next)
		b->next->prev = b->prev;
	bs->nblocked--;
	sh->nblocked = bs->nblocked;
	bs->ncounted -= b->counted;
	STAT_SET(sh->stats.blocked, bs->ncounted);
	free(b->keys);
	free(b->argv);
	free(b);
}

/* Deliver b's reply (already in out) to its client. */
static void blocked_answer(struct shard *sh, struct blocked *b, struct rbuf *out)
{
	if (b->m) {
		struct shard_msg *m = b->m;
		rbuf_free(&m->reply);
		m->reply = *out;
		m->kind = MSG_REPLY;
		m->payload = NULL;
		shard_send(sh, m->src, m);
	} else {
		struct conn *c = b->c;
		struct pend *p = b->p;
		rbuf_free(&p->buf);
		p->buf = *out;
		c->inflight--;
		c->barrier = false;
		c->blk_shard = -1;
		conn_pend_done(sh, c, p);
		/* Resume its parsing from the loop, not from inside serving. */
		txn_gate(sh, c);
		sh->unlock_work = true;
	}
	memset(out, 0, sizeof(*out));
}

void block_park(struct shard *sh, struct cmd_ctx *ctx, struct conn *c, struct pend *p,
		struct shard_msg *m)
{
	struct block_shard *bs = bs_get(sh);
	struct blocked *b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	b->cmd = ctx->cmd;
	b->dbid = ctx->dbid;
	b->proto = ctx->proto;
	b->deadline = ctx->block_deadline_ms;
	b->null_array = ctx->block_null_array;
	b->c = c;
	b->p = p;
	b->m = m;
	b->cid = c ? c->id : m->wid;
	size_t bytes = 0;
	for (int i = 0; i < ctx->argc; i++)
		bytes += ctx->argv[i].len;
	b->argc = ctx->argc;
	b->argv = malloc(sizeof(*b->argv) * (size_t)ctx->argc + bytes + 1);
	if (!b->argv)
		abort();
	char *q = (char *)(b->argv + ctx->argc);
	for (int i = 0; i < ctx->argc; i++) {
		memcpy(q, ctx->argv[i].p, ctx->argv[i].len);
		b->argv[i].p = q;
		b->argv[i].len = ctx->argv[i].len;
		q += ctx->argv[i].len;
	}
	/* The keys it waits on. */
	int buf[64], *idx;
	int n = cmd_key_indexes(b->cmd, b->argc, b->argv, buf, 64, &idx);
	if (n < 0)
		n = 0;
	b->keys = calloc((size_t)(n ? n : 1), sizeof(*b->keys));
	if (!b->keys)
		abort();
	bool bwait = xshard_is_bwait(b->cmd);
	for (int k = 0; k < n; k++) {
		struct bkey *key = bkey_get(bs, b->dbid, &b->argv[idx[k]]);
		bool dup = false;
		for (int j = 0; j < b->nkeys && !dup; j++)
			dup = b->keys[j] == key;
		if (dup)
			continue;
		b->keys[b->nkeys++] = key;
		/* A client blocking again after a wake-up that served it
		 * nothing keeps the place its marker held. */
		struct bwait *w = NULL;
		if (bwait)
			for (w = key->head; w && !(w->b->hold && w->b->cid == b->cid); w = w->next)
				;
		if (w) {
			w->b = b;
			continue;
		}
		w = malloc(sizeof(*w));
		if (!w)
			abort();
		w->b = b;
		w->next = NULL;
		if (key->tail)
			key->tail->next = w;
		else
			key->head = w;
		key->tail = w;
	}
	if (idx != buf)
		free(idx);
	if (bwait) {   /* markers whose places were all taken over */
		for (struct blocked *o = bs->all, *nx; o; o = nx) {
			nx = o->next;
			if (o->hold && o->cid == b->cid)
				blocked_free(sh, bs, o);
		}
	}
	b->next = bs->all;
	if (bs->all)
		bs->all->prev = b;
	bs->all = b;
	bs->nblocked++;
	sh->nblocked = bs->nblocked;
	b->counted = block_counted(b->cmd, b->argc, b->argv);
	bs->ncounted += b->counted;
	STAT_SET(sh->stats.blocked, bs->ncounted);
	if (b->deadline && (!bs->next_deadline || b->deadline < bs->next_deadline))
		bs->next_deadline = b->deadline;
}

static void bkey_make_ready(struct block_shard *bs, struct bkey *k)
{
	if (k->ready || !k->head)
		return;
	k->ready = true;
	k->ready_next = NULL;
	if (bs->ready_tail)
		bs->ready_tail->ready_next = k;
	else
		bs->ready = k;
	bs->ready_tail = k;
}

void block_on_key(struct shard *sh, int dbid, const void *key, size_t len)
{
	struct block_shard *bs = sh->blocking;
	if (!bs || !bs->nblocked)
		return;
	struct bkey *k = bkey_find(bs, dbid, key, len, bkey_hash(dbid, key, len));
	if (k)
		bkey_make_ready(bs, k);
}

void block_on_db(struct shard *sh, int dbid)
{
	struct block_shard *bs = sh->blocking;
	if (!bs || !bs->nblocked)
		return;
	for (uint64_t i = 0; i <= bs->mask; i++)
		for (struct bkey *k = bs->b[i]; k; k = k->next)
			if (k->db == dbid)
				bkey_make_ready(bs, k);
}

/* b's request narrowed to the one key k that became ready: as Redis, a
 * client blocked on several keys is served from the key whose write woke
 * it, so an older client blocked on that key alone is not overtaken. The
 * keys of the commands with several sources are one run of arguments
 * (BLMPOP and BZMPOP count them in the argument before). NULL when b is
 * not narrowed (one key, or one source: BLMOVE, BRPOPLPUSH). */
static struct resp_arg *blocked_narrow(const struct blocked *b, const struct bkey *k, int *argc)
{
	static const char *const multi_source[] = { "blpop", "brpop", "bzpopmin", "bzpopmax",
						    "blmpop", "bzmpop" };
	bool narrowable = false;
	for (size_t i = 0; i < sizeof(multi_source) / sizeof(multi_source[0]); i++)
		narrowable |= !strcmp(b->cmd->name, multi_source[i]);
	if (b->nkeys < 2 || !narrowable)
		return NULL;
	int buf[64], *idx;
	int n = cmd_key_indexes(b->cmd, b->argc, b->argv, buf, 64, &idx);
	int first = idx[0], last = idx[n - 1];
	if (idx != buf)
		free(idx);
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)b->argc);
	if (!av)
		abort();
	int m = 0;
	for (int i = 0; i < first; i++)
		av[m++] = b->argv[i];
	av[m++] = (struct resp_arg){ k->key, k->klen };
	for (int i = last + 1; i < b->argc; i++)
		av[m++] = b->argv[i];
	if (!strcmp(b->cmd->name, "blmpop") || !strcmp(b->cmd->name, "bzmpop"))
		av[first - 1] = (struct resp_arg){ "1", 1 };
	*argc = m;
	return av;
}

/* A cross-shard waiter just answered "woke": keep its places as a marker. */
static void blocked_hold(struct shard *sh, struct block_shard *bs, struct blocked *b,
			 struct rbuf *out)
{
	blocked_answer(sh, b, out);
	b->m = NULL;
	b->hold = true;
	b->deadline = 0;
	bs->ncounted -= b->counted;
	b->counted = false;
	STAT_SET(sh->stats.blocked, bs->ncounted);
}

/* Remove a marker; its keys get a try for whoever waits behind it. */
static void marker_free(struct shard *sh, struct block_shard *bs, struct blocked *b)
{
	for (int i = 0; i < b->nkeys; i++)
		bkey_make_ready(bs, b->keys[i]);
	blocked_free(sh, bs, b);
}

/* Try b again for ready key k. true if it was answered (freed, or kept
 * as a marker). */
static bool blocked_try(struct shard *sh, struct block_shard *bs, struct blocked *b,
			const struct bkey *k)
{
	struct rbuf out = {0};
	int argc = b->argc;
	struct resp_arg *narrow = blocked_narrow(b, k, &argc);
	struct cmd_ctx ctx = {
		.sh = sh,
		.c = b->c,
		.out = &out,
		.cmd = b->cmd,
		.argc = argc,
		.argv = narrow ? narrow : b->argv,
		.db = &sh->ks->db[b->dbid],
		.dbid = b->dbid,
		.proto = b->proto,
		.now_ms = sh->now_ms,
		.may_block = true,
	};
	route_exec(sh, &ctx);
	free(narrow);
	if (ctx.blocked || (out.len > 10 && memcmp(out.data, "-WRONGTYPE", 10) == 0)) {
		/* Still nothing for it (or the key holds another type now: as in
		 * Redis, it keeps waiting). */
		rbuf_free(&out);
		return false;
	}
	if (xshard_is_bwait(b->cmd)) {
		blocked_hold(sh, bs, b, &out);
		return true;
	}
	blocked_answer(sh, b, &out);
	blocked_free(sh, bs, b);
	return true;
}

void block_serve(struct shard *sh)
{
	struct block_shard *bs = sh->blocking;
	if (!bs)
		return;
	while (bs->ready && !sh->lock_owner) {
		struct bkey *k = bs->ready;
		bs->ready = k->ready_next;
		if (!bs->ready)
			bs->ready_tail = NULL;
		/* k->ready stays set while we walk it: that keeps k allocated
		 * and stops writes made by the served commands from queueing it
		 * twice. Oldest first; after each one served, start over (the
		 * list changed). Each pass either serves one or ends. */
		struct bwait *w = k->head;
		while (w && !w->b->hold) {   /* nobody overtakes a marker */
			struct bwait *nx = w->next;
			w = blocked_try(sh, bs, w->b, k) ? k->head : nx;
		}
		k->ready = false;
		bkey_maybe_free(bs, k);
	}
}

int64_t block_timeouts(struct shard *sh)
{
	struct block_shard *bs = sh->blocking;
	if (!bs || !bs->next_deadline)
		return 0;
	if (sh->now_ms < bs->next_deadline)
		return bs->next_deadline;
	int64_t next = 0;
	struct blocked *b = bs->all;
	while (b) {
		struct blocked *nx = b->next;
		if (b->deadline && b->deadline <= sh->now_ms) {
			struct rbuf out = {0};
			block_reply_null(&out, b->proto, b->null_array);
			blocked_answer(sh, b, &out);
			blocked_free(sh, bs, b);
		} else if (b->deadline && (!next || b->deadline < next)) {
			next = b->deadline;
		}
		b = nx;
	}
	bs->next_deadline = next;
	return next;
}

void block_conn_gone(struct shard *sh, struct conn *c)
{
	struct block_shard *bs = sh->blocking;
	if (bs) {
		for (struct blocked *b = bs->all; b; b = b->next) {
			if (b->c != c)
				continue;
			c->inflight--;
			blocked_free(sh, bs, b);
			break;
		}
	}
	if (c->xblk) {
		xshard_unblock(sh, c->xblk, false);
	} else if (c->blk_shard >= 0 && (unsigned)c->blk_shard != sh->id) {
		/* Blocked on another shard: have it drop the request (an
		 * answer already on the way is discarded). */
		char idbuf[24];
		size_t idlen = ks_ll2str(idbuf, (long long)c->id);
		struct resp_arg av[3] = { { "client", 6 }, { "unblock", 7 }, { idbuf, idlen } };
		const struct cmd_def *ub = cmd_lookup_sub(cmd_lookup("client", 6), "unblock", 7);
		struct shard_msg *m = shard_msg_new(sh, ub, 3, av);
		m->noreply = true;
		shard_send(sh, (unsigned)c->blk_shard, m);
	}
}

int block_unblock(struct shard *sh, uint64_t cid, bool error)
{
	struct block_shard *bs = sh->blocking;
	if (!bs)
		return 0;
	int counted = 0;
	struct blocked *b = bs->all;
	while (b) {
		struct blocked *nx = b->next;
		/* A client waiting on several shards is unblocked by its own
		 * shard, which alone knows whether it was served. */
		if (b->cid == cid && !b->hold && !xshard_is_bwait(b->cmd)) {
			counted += b->counted;
			struct rbuf out = {0};
			if (error)
				resp_add_error(&out, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
			else
				block_reply_null(&out, b->proto, b->null_array);
			blocked_answer(sh, b, &out);
			blocked_free(sh, bs, b);
		}
		b = nx;
	}
	return counted;
}

void block_hold(struct shard *sh, uint64_t cid)
{
	struct block_shard *bs = sh->blocking;
	for (struct blocked *b = bs ? bs->all : NULL, *nx; b; b = nx) {
		nx = b->next;
		if (b->cid == cid && !b->hold && xshard_is_bwait(b->cmd)) {
			struct rbuf out = {0};
			resp_add_simple(&out, "HELD");
			blocked_hold(sh, bs, b, &out);
		}
	}
}

void block_cancel(struct shard *sh, uint64_t cid)
{
	struct block_shard *bs = sh->blocking;
	for (struct blocked *b = bs ? bs->all : NULL, *nx; b; b = nx) {
		nx = b->next;
		if (b->cid != cid)
			continue;
		if (b->hold) {
			marker_free(sh, bs, b);
		} else if (xshard_is_bwait(b->cmd)) {
			struct rbuf out = {0};
			block_reply_null(&out, b->proto, b->null_array);
			blocked_answer(sh, b, &out);
			blocked_free(sh, bs, b);
		}
	}
}

void block_done(struct shard *sh, uint64_t cid)
{
	struct block_shard *bs = sh->blocking;
	for (struct blocked *b = bs ? bs->all : NULL, *nx; b; b = nx) {
		nx = b->next;
		if (b->cid == cid && b->hold)
			marker_free(sh, bs, b);
	}
}
