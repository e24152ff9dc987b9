/* Commands whose keys live on several shards.
 *
 * A fan-out (struct fanout) lives on the client's shard and owns a private
 * copy of the request. It sends one part per target shard, collects the
 * replies, and then either merges them (split and broadcast commands) or
 * moves to its next round (coordinators). While a multi-round coordinator
 * runs, the client's next commands wait (conn.barrier), so a pipelined
 * command always sees the effect of the one before it.
 *
 * Coordinators in this file (correct results; atomicity against other
 * clients is the transaction layer's job, see docs/):
 *   MSETNX   round 1 EXISTS on every shard; if none exist, round 2 MSET.
 *   RENAME   round 1 take the source entry out of its shard (detached),
 *            round 2 put it under the new name on the destination shard.
 *   RENAMENX round 0 EXISTS on the source and on the destination; then as
 *            RENAME.
 *   COPY     round 1 clone the source on its shard, round 2 put the clone
 *            (NX unless REPLACE) in the destination db. */
#include "shards/shard_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------- fan-out core */

static void gather_step(struct shard *sh, struct fanout *fo);
static void gather_wait_part(struct shard *sh, struct fanout *fo, unsigned part);
static void gather_unhold(struct shard *sh, struct fanout *fo);
enum { G_GATHER = 1, G_WRITEBACK = 2, G_WAIT = 3 };

struct fanout *fanout_new(struct shard *sh, struct conn *c, struct cmd_ctx *ctx,
			  unsigned nparts, fanout_done_fn *done)
{
	struct fanout *fo = calloc(1, sizeof(*fo));
	if (!fo)
		abort();
	fo->c = c;
	fo->pend = conn_pend_new(c);
	fo->pend->discard = c->discard_cur;
	fo->ctx = *ctx;
	size_t bytes = 0;
	for (int i = 0; i < ctx->argc; i++)
		bytes += ctx->argv[i].len;
	fo->argv = malloc(sizeof(struct resp_arg) * (size_t)ctx->argc);
	fo->argbuf = malloc(bytes + 1);
	if (!fo->argv || !fo->argbuf)
		abort();
	char *p = fo->argbuf;
	for (int i = 0; i < ctx->argc; i++) {
		memcpy(p, ctx->argv[i].p, ctx->argv[i].len);
		fo->argv[i].p = p;
		fo->argv[i].len = ctx->argv[i].len;
		p += ctx->argv[i].len;
	}
	fo->ctx.argv = fo->argv;
	fo->ctx.out = NULL;
	fo->ctx.c = NULL;   /* the client may go away; coordinators never need it */
	fo->done = done;
	fo->txn = sh->cur_txn ? sh->cur_txn : c->txn_exec;
	fo->owns_txn = sh->cur_txn != NULL;
	sh->cur_txn = NULL;
	c->inflight++;
	fanout_reset(fo, nparts);
	return fo;
}

void fanout_reset(struct fanout *fo, unsigned nparts)
{
	for (unsigned i = 0; i < fo->nparts; i++) {
		rbuf_free(&fo->replies[i]);
		/* Unclaimed payloads are owned entries: never leak them. */
		if (fo->payloads[i])
			ks_entry_free(fo->payloads[i]);
	}
	free(fo->replies);
	free(fo->payloads);
	fo->nparts = nparts;
	fo->replies = calloc(nparts ? nparts : 1, sizeof(struct rbuf));
	fo->payloads = calloc(nparts ? nparts : 1, sizeof(void *));
	if (!fo->replies || !fo->payloads)
		abort();
	fo->pending = nparts + 1;   /* +1: held until fanout_arm() */
}

void fanout_arm(struct shard *sh, struct fanout *fo)
{
	if (--fo->pending == 0)
		fo->done(sh, fo);
}

void route_fanout_part_done(struct shard *sh, struct fanout *fo, unsigned part,
			    struct rbuf *reply, void *payload)
{
	rbuf_free(&fo->replies[part]);
	fo->replies[part] = *reply;
	fo->payloads[part] = payload;
	if (fo->done == gather_step && fo->round == G_WAIT)
		gather_wait_part(sh, fo, part);
	if (--fo->pending == 0)
		fo->done(sh, fo);
}

void fanout_send(struct shard *sh, struct fanout *fo, unsigned i, unsigned dst,
		 const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
		 void *payload)
{
	if (dst == sh->id && !(cmd->flags & CMD_BLOCKING)) {
		struct rbuf r = {0};
		struct cmd_ctx ctx = fo->ctx;
		ctx.sh = sh;
		ctx.cmd = cmd;
		ctx.argc = argc;
		ctx.argv = argv;
		ctx.out = &r;
		ctx.payload = payload;
		ctx.now_ms = sh->now_ms;
		ctx.db = &sh->ks->db[ctx.dbid];
		route_exec(sh, &ctx);
		route_fanout_part_done(sh, fo, i, &r, ctx.payload);
		return;
	}
	struct shard_msg *m = shard_msg_new(sh, cmd, argc, argv);
	m->dbid = fo->ctx.dbid;
	m->proto = fo->ctx.proto;
	m->tag = fo;
	m->is_fanout = true;
	m->part = (uint16_t)i;
	m->conn = fo->c;
	m->payload = payload;
	m->txn = fo->txn != NULL;
	m->wid = fo->c->id;
	fo->c->inflight++;
	shard_send(sh, dst, m);
}

void fanout_finish(struct shard *sh, struct fanout *fo, struct rbuf *out)
{
	struct conn *c = fo->c;
	rbuf_free(&fo->pend->buf);
	fo->pend->buf = *out;
	memset(out, 0, sizeof(*out));
	conn_pend_done(sh, c, fo->pend);
	fanout_reset(fo, 0);
	free(fo->replies);
	free(fo->payloads);
	free(fo->key_part);
	free(fo->argv);
	free(fo->argbuf);
	rbuf_free(&fo->saved);
	if (fo->owns_txn)
		txn_release(sh, fo->txn);
	if (fo->held)
		gather_unhold(sh, fo);
	if (c->xblk == fo)
		c->xblk = NULL;
	bool held = fo->holds_barrier;
	free(fo);
	c->inflight--;
	if (held) {
		c->barrier = false;
		conn_resume(sh, c);
	}
	conn_maybe_free(sh, c);
}

const struct rbuf *fanout_first_error(const struct fanout *fo)
{
	for (unsigned i = 0; i < fo->nparts; i++)
		if (fo->replies[i].len && fo->replies[i].data[0] == '-')
			return &fo->replies[i];
	return NULL;
}

/* ------------------------------------------------------------- merges */

static void merge_sum(struct rbuf *out, struct rbuf *parts, int n)
{
	long long sum = 0;
	for (int i = 0; i < n; i++) {
		long long v;
		if (resp_reply_int(parts[i].data, parts[i].len, &v) == 0)
			sum += v;
	}
	resp_add_int(out, sum);
}

static void merge_ok(struct rbuf *out, struct rbuf *parts, int n)
{
	(void)parts;
	(void)n;
	resp_add_ok(out);
}

static void merge_concat(struct rbuf *out, struct rbuf *parts, int n)
{
	long long total = 0;
	for (int i = 0; i < n; i++) {
		long long cnt;
		size_t hl;
		if (resp_reply_agg(parts[i].data, parts[i].len, &cnt, &hl) && cnt > 0)
			total += cnt;
	}
	resp_add_array(out, total);
	for (int i = 0; i < n; i++) {
		long long cnt;
		size_t hl;
		if (resp_reply_agg(parts[i].data, parts[i].len, &cnt, &hl) && cnt > 0)
			rbuf_append(out, parts[i].data + hl, parts[i].len - hl);
	}
}

/* MGET: part p answered its keys in order; put them back in request order. */
static void merge_by_key(struct fanout *fo, struct rbuf *out)
{
	size_t *off = calloc(fo->nparts, sizeof(size_t));
	if (!off)
		abort();
	for (unsigned i = 0; i < fo->nparts; i++) {
		long long cnt;
		size_t hl = 0;
		resp_reply_agg(fo->replies[i].data, fo->replies[i].len, &cnt, &hl);
		off[i] = hl;
	}
	resp_add_array(out, fo->nkeys);
	for (unsigned k = 0; k < fo->nkeys; k++) {
		unsigned p = fo->key_part[k];
		struct rbuf *r = &fo->replies[p];
		size_t len = resp_reply_len(r->data + off[p], r->len - off[p]);
		if (!len) {
			resp_add_null(out, fo->ctx.proto);
			continue;
		}
		rbuf_append(out, r->data + off[p], len);
		off[p] += len;
	}
	free(off);
}

void fanout_merge(struct shard *sh, struct fanout *fo)
{
	struct rbuf out = {0};
	const struct rbuf *err = fanout_first_error(fo);
	if (err) {
		rbuf_append(&out, err->data, err->len);
	} else {
		switch (fo->ctx.cmd->merge) {
		case MERGE_SUM:
			merge_sum(&out, fo->replies, (int)fo->nparts);
			break;
		case MERGE_OK:
			merge_ok(&out, fo->replies, (int)fo->nparts);
			break;
		case MERGE_CONCAT:
			merge_concat(&out, fo->replies, (int)fo->nparts);
			break;
		case MERGE_BY_KEY:
			merge_by_key(fo, &out);
			break;
		case MERGE_CUSTOM: {
			struct cmd_ctx ctx = fo->ctx;
			ctx.sh = sh;
			ctx.out = &out;
			fo->ctx.cmd->merge_fn(&ctx, fo->replies, (int)fo->nparts);
			break;
		}
		case MERGE_NONE:
		default:
			abort();
		}
	}
	fanout_finish(sh, fo, &out);
}

static void merge_done(struct shard *sh, struct fanout *fo)
{
	fanout_merge(sh, fo);
}

/* ---------------------------------------------------- split/broadcast */

void xshard_broadcast(struct shard *sh, struct conn *c, struct cmd_ctx *ctx)
{
	struct fanout *fo = fanout_new(sh, c, ctx, g_nshards, merge_done);
	for (unsigned d = 0; d < g_nshards; d++)
		fanout_send(sh, fo, d, d, fo->ctx.cmd, fo->ctx.argc, fo->ctx.argv, NULL);
	fanout_arm(sh, fo);
}

void xshard_broadcast_locked(struct cmd_ctx *ctx)
{
	xshard_broadcast(ctx->sh, ctx->c, ctx);
}

/* Build, per shard, argv = prefix + that shard's keys (with their step
 * companions, e.g. MSET values) + suffix, and send the parts. */
void xshard_split(struct shard *sh, struct conn *c, struct cmd_ctx *ctx)
{
	const struct cmd_def *cmd = ctx->cmd;
	int argc = ctx->argc;
	int first, last, step;
	int nkeys = cmd_key_range(cmd, argc, &first, &last, &step);

	unsigned *kshard = malloc(sizeof(unsigned) * (size_t)nkeys);
	unsigned part_of_shard[SHARD_MAX];
	unsigned shard_of_part[SHARD_MAX];
	unsigned nparts = 0;
	if (!kshard)
		abort();
	for (unsigned d = 0; d < g_nshards; d++)
		part_of_shard[d] = UINT32_MAX;
	for (int k = 0; k < nkeys; k++) {
		const struct resp_arg *a = &ctx->argv[first + k * step];
		unsigned d = shard_of_key(a->p, a->len);
		kshard[k] = d;
		if (part_of_shard[d] == UINT32_MAX) {
			part_of_shard[d] = nparts;
			shard_of_part[nparts++] = d;
		}
	}
	struct fanout *fo = fanout_new(sh, c, ctx, nparts, merge_done);
	fo->nkeys = (unsigned)nkeys;
	fo->key_part = malloc((size_t)nkeys);
	if (!fo->key_part)
		abort();
	for (int k = 0; k < nkeys; k++)
		fo->key_part[k] = (uint8_t)part_of_shard[kshard[k]];

	struct resp_arg *av = malloc(sizeof(struct resp_arg) * (size_t)argc);
	if (!av)
		abort();
	for (unsigned p = 0; p < nparts; p++) {
		int n = 0;
		for (int i = 0; i < first; i++)
			av[n++] = fo->argv[i];
		for (int k = 0; k < nkeys; k++) {
			if (fo->key_part[k] != p)
				continue;
			for (int j = 0; j < step; j++)
				av[n++] = fo->argv[first + k * step + j];
		}
		for (int i = last + step; i < argc; i++)
			av[n++] = fo->argv[i];
		fanout_send(sh, fo, p, shard_of_part[p], cmd, n, av, NULL);
	}
	free(av);
	free(kshard);
	fanout_arm(sh, fo);
}

/* -------------------------------------------- internal entry transfers */

/* __take key: detach the key (if live) and hand it over as the payload. */
static void cmd_int_take(struct cmd_ctx *ctx)
{
	struct ks_entry *e = ks_find(ctx->db, ctx->argv[1].p, ctx->argv[1].len, ctx->now_ms);
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	ks_detach(ctx->db, e);
	ctx->payload = e;
	ctx->dirty++;
	resp_add_int(ctx->out, 1);
}

/* __clone key: a detached deep copy of the key as the payload. */
static void cmd_int_clone(struct cmd_ctx *ctx)
{
	struct ks_entry *e = ks_find(ctx->db, ctx->argv[1].p, ctx->argv[1].len, ctx->now_ms);
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	ctx->payload = ks_entry_clone(e, e->key, e->klen);
	resp_add_int(ctx->out, 1);
}

/* __put key db nx|replace: store the payload entry under key in db. The
 * payload is always consumed (stored or freed). Replies 1 stored, 0 not. */
static void cmd_int_put(struct cmd_ctx *ctx)
{
	struct ks_entry *e = ctx->payload;
	ctx->payload = NULL;
	long long dbid = -1;
	if (arg_to_ll(&ctx->argv[2], &dbid) != 0 || dbid < 0 || dbid >= ctx->sh->ks->ndb)
		abort();   /* internal message built by xr_send_put: never bad */
	struct ks_db *db = &ctx->sh->ks->db[dbid];
	bool nx = arg_is(&ctx->argv[3], "nx");
	if (nx && ks_find(db, ctx->argv[1].p, ctx->argv[1].len, ctx->now_ms)) {
		ks_entry_free(e);
		resp_add_int(ctx->out, 0);
		return;
	}
	struct ks_entry *ne = ks_entry_clone(e, ctx->argv[1].p, ctx->argv[1].len);
	ks_entry_free(e);
	ks_attach(db, ne);
	if (db != ctx->db)
		txn_signal_key(ctx->sh, (int)dbid, ctx->argv[1].p, ctx->argv[1].len);
	ctx->dirty++;
	resp_add_int(ctx->out, 1);
}

static const struct cmd_def cmd_internal_take = {
	.name = "__take", .arity = 2, .flags = CMD_INTERNAL | CMD_WRITE,
	.first_key = 1, .last_key = 1, .key_step = 1, .fn = cmd_int_take,
};
static const struct cmd_def cmd_internal_clone = {
	.name = "__clone", .arity = 2, .flags = CMD_INTERNAL,
	.first_key = 1, .last_key = 1, .key_step = 1, .fn = cmd_int_clone,
};
static const struct cmd_def cmd_internal_put = {
	.name = "__put", .arity = 4, .flags = CMD_INTERNAL | CMD_WRITE,
	.first_key = 1, .last_key = 1, .key_step = 1, .fn = cmd_int_put,
};

/* ------------------------------------------------------- coordinators */

static void reply_and_finish(struct shard *sh, struct fanout *fo, const struct rbuf *src)
{
	struct rbuf out = {0};
	rbuf_append(&out, src->data, src->len);
	fanout_finish(sh, fo, &out);
}

static void finish_int(struct shard *sh, struct fanout *fo, long long v)
{
	struct rbuf out = {0};
	resp_add_int(&out, v);
	fanout_finish(sh, fo, &out);
}

static void finish_err(struct shard *sh, struct fanout *fo, const char *msg)
{
	struct rbuf out = {0};
	resp_add_error(&out, msg);
	fanout_finish(sh, fo, &out);
}

/* An error decided on the client's shard before any round was sent. */
static void direct_error(struct conn *c, const char *msg)
{
	if (c->discard_cur)
		return;
	resp_add_error(conn_reply_buf(c), msg);
}

static unsigned key_shard(const struct resp_arg *a)
{
	return shard_of_key(a->p, a->len);
}

/* Split argv keys [first..] with step over shards as cmd, copying `take`
 * arguments per key (1: keys only, as for EXISTS; 2: key and value). */
static void send_split(struct shard *sh, struct fanout *fo, const struct cmd_def *cmd,
		       int first, int step, int take)
{
	int nkeys = (fo->ctx.argc - first) / step;
	unsigned cnt[SHARD_MAX] = {0};
	for (int k = 0; k < nkeys; k++)
		cnt[key_shard(&fo->argv[first + k * step])]++;
	unsigned nparts = 0;
	for (unsigned d = 0; d < g_nshards; d++)
		if (cnt[d])
			nparts++;
	fanout_reset(fo, nparts);
	struct resp_arg *av = malloc(sizeof(struct resp_arg) * (size_t)(nkeys * step + 1));
	if (!av)
		abort();
	unsigned p = 0;
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!cnt[d])
			continue;
		int n = 0;
		av[n].p = cmd->name;
		av[n++].len = strlen(cmd->name);
		for (int k = 0; k < nkeys; k++) {
			if (key_shard(&fo->argv[first + k * step]) != d)
				continue;
			for (int j = 0; j < take; j++)
				av[n++] = fo->argv[first + k * step + j];
		}
		fanout_send(sh, fo, p++, d, cmd, n, av, NULL);
	}
	free(av);
	fanout_arm(sh, fo);
}

static void msetnx_step(struct shard *sh, struct fanout *fo)
{
	const struct rbuf *err = fanout_first_error(fo);
	if (err) {
		reply_and_finish(sh, fo, err);
		return;
	}
	if (fo->round == 1) {
		long long sum = 0;
		for (unsigned i = 0; i < fo->nparts; i++) {
			long long v;
			if (resp_reply_int(fo->replies[i].data, fo->replies[i].len, &v) == 0)
				sum += v;
		}
		if (sum > 0) {
			finish_int(sh, fo, 0);
			return;
		}
		fo->round = 2;
		send_split(sh, fo, cmd_lookup("mset", 4), 1, 2, 2);
		return;
	}
	finish_int(sh, fo, 1);
}

static void cross_msetnx(struct cmd_ctx *ctx)
{
	if ((ctx->argc - 1) % 2) {
		direct_error(ctx->c, "ERR wrong number of arguments for 'msetnx' command");
		return;
	}
	struct shard *sh = ctx->sh;
	struct conn *c = ctx->c;
	struct fanout *fo = fanout_new(sh, c, ctx, 0, msetnx_step);
	c->barrier = true;
	fo->holds_barrier = true;
	fo->round = 1;
	send_split(sh, fo, cmd_lookup("exists", 6), 1, 2, 1);
}

/* RENAME / RENAMENX / COPY share the take-or-clone then put rounds. */
enum { XR_RENAME = 1, XR_RENAMENX, XR_COPY };

static void send_one(struct shard *sh, struct fanout *fo, const struct cmd_def *cmd,
		     unsigned dst, int argc, const struct resp_arg *argv, void *payload)
{
	fanout_reset(fo, 1);
	fanout_send(sh, fo, 0, dst, cmd, argc, argv, payload);
	fanout_arm(sh, fo);
}

static void xr_send_put(struct shard *sh, struct fanout *fo, void *entry)
{
	char dbbuf[24];
	size_t dblen = ks_ll2str(dbbuf, fo->aux);
	bool nx = (fo->stage & 0x100) == 0 && fo->ctx.cmd->fn == cmd_copy;
	struct resp_arg av[4] = {
		{ "__put", 5 }, fo->argv[2], { dbbuf, dblen },
		{ nx ? "nx" : "replace", nx ? 2u : 7u },
	};
	send_one(sh, fo, &cmd_internal_put, key_shard(&fo->argv[2]), 4, av, entry);
}

static void xr_step(struct shard *sh, struct fanout *fo)
{
	const struct rbuf *err = fanout_first_error(fo);
	if (err) {
		reply_and_finish(sh, fo, err);
		return;
	}
	long long v = 0;
	resp_reply_int(fo->replies[0].data, fo->replies[0].len, &v);
	if (fo->round == 0) {   /* RENAMENX: part 0 source exists, part 1 destination */
		long long dst_exists = 0;
		resp_reply_int(fo->replies[1].data, fo->replies[1].len, &dst_exists);
		if (v == 0) {
			finish_err(sh, fo, ERR_NOKEY);
			return;
		}
		if (dst_exists > 0) {
			finish_int(sh, fo, 0);
			return;
		}
		fo->round = 1;
		struct resp_arg av[2] = { { "__take", 6 }, fo->argv[1] };
		send_one(sh, fo, &cmd_internal_take, key_shard(&fo->argv[1]), 2, av, NULL);
		return;
	}
	if (fo->round == 1) {   /* got the entry (or not) */
		void *entry = fo->payloads[0];
		fo->payloads[0] = NULL;
		if (!entry) {
			if (fo->ctx.cmd->fn == cmd_copy)
				finish_int(sh, fo, 0);
			else
				finish_err(sh, fo, ERR_NOKEY);
			return;
		}
		fo->round = 2;
		xr_send_put(sh, fo, entry);
		return;
	}
	/* round 2: stored? */
	if (fo->ctx.cmd->fn == cmd_rename) {
		struct rbuf out = {0};
		resp_add_ok(&out);
		fanout_finish(sh, fo, &out);
	} else {
		finish_int(sh, fo, v);
	}
}

static void cross_rename_generic(struct cmd_ctx *ctx, int kind)
{
	struct shard *sh = ctx->sh;
	struct conn *c = ctx->c;
	long long dbid = ctx->dbid;
	bool replace = false;
	if (kind == XR_COPY) {
		const char *errmsg = NULL;
		for (int i = 3; i < ctx->argc && !errmsg; i++) {
			if (arg_is(&ctx->argv[i], "replace")) {
				replace = true;
			} else if (arg_is(&ctx->argv[i], "db") && i + 1 < ctx->argc) {
				if (arg_to_ll(&ctx->argv[++i], &dbid) != 0)
					errmsg = ERR_NOTINT;
				else if (dbid < INT32_MIN || dbid > INT32_MAX)
					errmsg = "ERR value is out of range, value must between -2147483648 and 2147483647";
				else if (dbid < 0 || dbid >= sh->ks->ndb)
					errmsg = ERR_DBRANGE;
			} else {
				errmsg = ERR_SYNTAX;
			}
		}
		if (errmsg) {
			direct_error(c, errmsg);
			return;
		}
	}
	struct fanout *fo = fanout_new(sh, c, ctx, 0, xr_step);
	c->barrier = true;
	fo->holds_barrier = true;
	fo->stage = kind | (replace ? 0x100 : 0);
	fo->aux = dbid;
	if (kind == XR_RENAMENX) {
		const struct cmd_def *ex = cmd_lookup("exists", 6);
		struct resp_arg a0[2] = { { "exists", 6 }, fo->argv[1] };
		struct resp_arg a1[2] = { { "exists", 6 }, fo->argv[2] };
		fanout_reset(fo, 2);
		fanout_send(sh, fo, 0, key_shard(&fo->argv[1]), ex, 2, a0, NULL);
		fanout_send(sh, fo, 1, key_shard(&fo->argv[2]), ex, 2, a1, NULL);
		fanout_arm(sh, fo);
		return;
	}
	fo->round = 1;
	struct resp_arg av[2] = { { kind == XR_COPY ? "__clone" : "__take", kind == XR_COPY ? 7u : 6u },
				  fo->argv[1] };
	send_one(sh, fo, kind == XR_COPY ? &cmd_internal_clone : &cmd_internal_take,
		 key_shard(&fo->argv[1]), 2, av, NULL);
}

void xshard_rename(struct cmd_ctx *ctx) { cross_rename_generic(ctx, XR_RENAME); }
void xshard_renamenx(struct cmd_ctx *ctx) { cross_rename_generic(ctx, XR_RENAMENX); }
void xshard_copy(struct cmd_ctx *ctx) { cross_rename_generic(ctx, XR_COPY); }
void xshard_msetnx(struct cmd_ctx *ctx) { cross_msetnx(ctx); }

/* Any other command whose keys span shards (LCS SMOVE LMOVE SINTERSTORE
 * ZUNIONSTORE BITOP PFMERGE SORT ... STORE, scripts), run under the
 * transaction's locks on every shard involved:
 *   round 1  clone every key from its shard into a scratch db here;
 *   then     run the handler here against the scratch db;
 *   round 2  (writes only, if it changed anything) put every key back on
 *            its shard: present ones replace the original, absent ones are
 *            deleted. */
static int gather_keys(const struct fanout *fo, int **idx)
{
	int buf[64], *out;
	int n = cmd_key_indexes(fo->ctx.cmd, fo->ctx.argc, fo->argv, buf, 64, &out);
	if (n < 0)
		n = 0;
	if (out == buf) {   /* the caller frees what it gets */
		out = malloc(sizeof(int) * (size_t)(n ? n : 1));
		if (!out)
			abort();
		memcpy(out, buf, sizeof(int) * (size_t)n);
	}
	/* Each distinct key once. */
	int m = 0;
	for (int k = 0; k < n; k++) {
		const struct resp_arg *a = &fo->argv[out[k]];
		bool dup = false;
		for (int j = 0; j < m && !dup; j++)
			dup = fo->argv[out[j]].len == a->len && memcmp(fo->argv[out[j]].p, a->p, a->len) == 0;
		if (!dup)
			out[m++] = out[k];
	}
	*idx = out;
	return m;
}

/* Blocking commands whose keys span shards (BLMOVE src dst, BLPOP over
 * keys of several shards). The gathered run found nothing to serve: locks
 * are released and every shard owning a key gets a __bwait waiter, which
 * answers "woke" once one of its keys exists (at once if it already does).
 * Waiters carry the original deadline: when all time out the client gets
 * the null. Keeping Redis's order (oldest blocked client served first):
 *  - a waiter that answers "woke" stays in its key FIFOs as a marker, and
 *    the first "woke" has the client's other waiters turned into markers
 *    too (__bhold): nobody behind a marker is served;
 *  - the command then runs again under fresh locks; if it blocks again,
 *    its new waiters take the markers' places; when it finishes, __bdone
 *    drops the markers and their keys get a try for whoever is next.
 * CLIENT UNBLOCK and a close are decided on the client's shard alone
 * (xshard_unblock): until the retry has written anything the client can
 * still be unblocked; __bcancel drops its waiters and markers. */
static void cmd_int_bwait(struct cmd_ctx *ctx)
{
	/* __bwait <deadline-ms> <null-array 0|1> <counted 0|1> key... */
	for (int i = 4; i < ctx->argc; i++) {
		if (ks_find(ctx->db, ctx->argv[i].p, ctx->argv[i].len, ctx->now_ms)) {
			resp_add_simple(ctx->out, "WOKE");
			return;
		}
	}
	long long deadline = 0, na = 1;
	arg_to_ll(&ctx->argv[1], &deadline);
	arg_to_ll(&ctx->argv[2], &na);
	cmd_block(ctx, deadline, na != 0);
}

static int bwait_keys(int argc, const struct resp_arg *argv, int *idx, int max)
{
	(void)argv;
	for (int i = 4; i < argc; i++)
		if (i - 4 < max)
			idx[i - 4] = i;
	return argc - 4;
}

static const struct cmd_def cmd_internal_bwait = {
	.name = "__bwait", .arity = -5, .flags = CMD_INTERNAL | CMD_BLOCKING,
	.fn = cmd_int_bwait, .keys_fn = bwait_keys,
};

bool xshard_is_bwait(const struct cmd_def *cmd)
{
	return cmd == &cmd_internal_bwait;
}

/* __bhold|__bcancel|__bdone <client-id>: see above. */
static void bwait_ctl(struct cmd_ctx *ctx, void (*fn)(struct shard *, uint64_t))
{
	long long cid;
	if (arg_to_ll(&ctx->argv[1], &cid) != 0)
		abort();   /* built by bwait_send(): never bad */
	fn(ctx->sh, (uint64_t)cid);
	resp_add_ok(ctx->out);
}

static void cmd_int_bhold(struct cmd_ctx *ctx)
{
	bwait_ctl(ctx, block_hold);
}

static void cmd_int_bcancel(struct cmd_ctx *ctx)
{
	bwait_ctl(ctx, block_cancel);
}

static void cmd_int_bdone(struct cmd_ctx *ctx)
{
	bwait_ctl(ctx, block_done);
}

static const struct cmd_def cmd_internal_bhold = {
	.name = "__bhold", .arity = 2, .flags = CMD_INTERNAL, .fn = cmd_int_bhold,
};
static const struct cmd_def cmd_internal_bcancel = {
	.name = "__bcancel", .arity = 2, .flags = CMD_INTERNAL, .fn = cmd_int_bcancel,
};
static const struct cmd_def cmd_internal_bdone = {
	.name = "__bdone", .arity = 2, .flags = CMD_INTERNAL, .fn = cmd_int_bdone,
};

/* Send one of them to every shard, by the ring even to this one: it must
 * follow the waiters this shard sent itself. */
static void bwait_send(struct shard *sh, const struct cmd_def *cmd, uint64_t cid)
{
	char idbuf[24];
	size_t idlen = ks_ll2str(idbuf, (long long)cid);
	struct resp_arg av[2] = { { cmd->name, strlen(cmd->name) }, { idbuf, idlen } };
	for (unsigned d = 0; d < g_nshards; d++) {
		struct shard_msg *m = shard_msg_new(sh, cmd, 2, av);
		m->noreply = true;
		shard_send(sh, d, m);
	}
}

static void gather_unhold(struct shard *sh, struct fanout *fo)
{
	fo->held = false;
	bwait_send(sh, &cmd_internal_bdone, fo->c->id);
}

/* The reply of an unblocked (or abandoned) cross-shard blocking command. */
static void gather_unblocked(struct shard *sh, struct fanout *fo)
{
	struct rbuf out = {0};
	if (fo->unblock == 2)
		resp_add_error(&out, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
	else
		block_reply_null(&out, fo->ctx.proto, fo->stage & 1);
	fo->c->blk_shard = -1;
	fanout_finish(sh, fo, &out);
}

int xshard_unblock(struct shard *sh, struct fanout *fo, bool error)
{
	if (fo->unblock || fo->round == G_WRITEBACK)
		return 0;
	fo->unblock = error ? 2 : 1;
	if (fo->round == G_WAIT && fo->pending > 0)   /* waiters out: recall them */
		bwait_send(sh, &cmd_internal_bcancel, fo->c->id);
	return 1;
}

bool block_counted(const struct cmd_def *cmd, int argc, const struct resp_arg *argv)
{
	return cmd != &cmd_internal_bwait || (argc > 3 && argv[3].len == 1 && argv[3].p[0] == '1');
}

static void gather_begin(struct shard *sh, struct fanout *fo);

static void gather_relocked(struct shard *sh, struct txn *t, void *arg)
{
	struct fanout *fo = arg;
	fo->txn = t;
	fo->owns_txn = true;
	if (fo->unblock || fo->c->closed) {
		gather_unblocked(sh, fo);
		return;
	}
	gather_begin(sh, fo);
}

static uint64_t gather_mask(const struct fanout *fo, const int *idx, int nk)
{
	uint64_t mask = 0;
	for (int k = 0; k < nk; k++)
		mask |= 1ull << key_shard(&fo->argv[idx[k]]);
	return mask;
}

static void gather_wait(struct shard *sh, struct fanout *fo, int64_t deadline, bool null_array)
{
	if (fo->c->closed) {   /* nobody to wait for */
		struct rbuf out = {0};
		resp_add_null(&out, fo->ctx.proto);
		fanout_finish(sh, fo, &out);
		return;
	}
	int *idx;
	int nk = gather_keys(fo, &idx);
	/* Only a source can make the command servable: BLMOVE/BRPOPLPUSH
	 * wait on their first key alone, the others on all of theirs. */
	const char *name = fo->ctx.cmd->name;
	if (nk > 1 && (!strcmp(name, "blmove") || !strcmp(name, "brpoplpush")))
		nk = 1;
	uint64_t mask = gather_mask(fo, idx, nk);
	if (fo->owns_txn) {
		txn_release(sh, fo->txn);
		fo->owns_txn = false;
	}
	fo->txn = NULL;
	fo->round = G_WAIT;
	fo->rerun = true;
	fo->c->xblk = fo;
	fo->aux = deadline ? deadline : -1;   /* kept across retries */
	fo->stage = null_array;
	fanout_reset(fo, (unsigned)__builtin_popcountll(mask));
	char dl[24];
	size_t dllen = ks_ll2str(dl, deadline);
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)(nk + 4));
	if (!av)
		abort();
	unsigned part = 0;
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!(mask & (1ull << d)))
			continue;
		int n = 0;
		av[n++] = (struct resp_arg){ "__bwait", 7 };
		av[n++] = (struct resp_arg){ dl, dllen };
		av[n++] = (struct resp_arg){ null_array ? "1" : "0", 1 };
		av[n++] = (struct resp_arg){ part == 0 ? "1" : "0", 1 };
		for (int k = 0; k < nk; k++)
			if (key_shard(&fo->argv[idx[k]]) == d)
				av[n++] = fo->argv[idx[k]];
		fanout_send(sh, fo, part++, d, &cmd_internal_bwait, n, av, NULL);
	}
	free(av);
	free(idx);
	fo->c->blk_shard = -2;
	if (fo->c->read_off) {   /* blocked: keep reading to see it leave */
		fo->c->read_off = false;
		dp_set_interest(sh->port, fo->c->fd, !fo->c->eof, fo->c->want_write);
	}
	fanout_arm(sh, fo);
}

/* Every waiter has answered: run again if one woke, else time out. */
static void gather_waited(struct shard *sh, struct fanout *fo)
{
	bool woke = false;
	const struct rbuf *err = NULL;
	for (unsigned i = 0; i < fo->nparts; i++) {
		const struct rbuf *r = &fo->replies[i];
		if (r->len >= 5 && memcmp(r->data, "+WOKE", 5) == 0)
			woke = true;
		else if (r->len && r->data[0] == '-' && !err)
			err = r;
	}
	fo->c->blk_shard = -1;
	if (fo->unblock) {
		gather_unblocked(sh, fo);
		return;
	}
	if (err || !woke || fo->c->closed) {
		struct rbuf out = {0};
		if (err)
			rbuf_append(&out, err->data, err->len);
		else
			block_reply_null(&out, fo->ctx.proto, fo->stage & 1);
		fanout_finish(sh, fo, &out);
		return;
	}
	int *idx;
	int nk = gather_keys(fo, &idx);
	uint64_t mask = gather_mask(fo, idx, nk);
	free(idx);
	txn_lock_then(sh, fo->c, mask, gather_relocked, fo);
}

/* One waiter answered: the first "woke" cancels the others. */
static void gather_wait_part(struct shard *sh, struct fanout *fo, unsigned part)
{
	const struct rbuf *r = &fo->replies[part];
	if (r->len >= 5 && memcmp(r->data, "+WOKE", 5) == 0 && !(fo->stage & 2)) {
		fo->stage |= 2;   /* first wake-up of this wait (gather_wait resets it) */
		fo->held = true;
		if (fo->pending > 1 && !fo->unblock)
			bwait_send(sh, &cmd_internal_bhold, fo->c->id);
	}
}

static void gather_step(struct shard *sh, struct fanout *fo)
{
	if (fo->round == G_WAIT) {
		gather_waited(sh, fo);
		return;
	}
	if (fo->round == G_WRITEBACK) {
		struct rbuf out = fo->saved;
		memset(&fo->saved, 0, sizeof(fo->saved));
		fanout_finish(sh, fo, &out);
		return;
	}
	if (fo->rerun && (fo->unblock || fo->c->closed)) {
		gather_unblocked(sh, fo);   /* the clones are dropped unused */
		return;
	}
	int *idx;
	int nk = gather_keys(fo, &idx);
	struct ks_space *tmp = ks_space_new(1);
	if (!tmp)
		abort();
	for (unsigned i = 0; i < fo->nparts; i++) {
		if (fo->payloads[i]) {
			ks_attach(&tmp->db[0], fo->payloads[i]);
			fo->payloads[i] = NULL;
		}
	}
	struct resp_arg *gk = malloc(sizeof(*gk) * (size_t)(nk ? nk : 1));
	if (!gk)
		abort();
	for (int k = 0; k < nk; k++)
		gk[k] = fo->argv[idx[k]];
	struct rbuf out = {0};
	struct cmd_ctx ctx = fo->ctx;
	ctx.sh = sh;
	ctx.out = &out;
	ctx.db = &tmp->db[0];
	ctx.now_ms = sh->now_ms;
	ctx.may_block = fo->ctx.may_block;
	ctx.scratch = true;
	ctx.gkeys = gk;
	ctx.ngkeys = nk;
	ctx.dirty = 0;
	bool *gwritten = NULL;
	if (fo->ctx.cmd->flags & CMD_SCRIPT) {
		gwritten = calloc((size_t)(nk ? nk : 1), sizeof(bool));
		if (!gwritten)
			abort();
		ctx.gwritten = gwritten;
	}
	fo->ctx.cmd->fn(&ctx);
	STAT_ADD(sh->stats.cmds, 1);
	if (ctx.blocked) {
		free(gwritten);
		ks_space_free(tmp);
		free(gk);
		free(idx);
		rbuf_free(&out);
		int64_t deadline = fo->aux ? (fo->aux < 0 ? 0 : fo->aux) : ctx.block_deadline_ms;
		gather_wait(sh, fo, deadline, ctx.block_null_array);
		return;
	}
	if (ctx.dirty == 0) {
		free(gwritten);
		ks_space_free(tmp);
		free(gk);
		free(idx);
		fanout_finish(sh, fo, &out);
		return;
	}
	/* Write back the keys the command may have changed (all of them but
	 * the sources of a SUNIONSTORE-like command: writing those back would
	 * fail the WATCHes of keys it only read). */
	int wbuf[64], *widx;
	int nw = cmd_write_key_indexes(fo->ctx.cmd, fo->ctx.argc, fo->argv, wbuf, 64, &widx);
	int nb = 0;
	for (int k = 0; k < nk; k++) {
		bool written = gwritten ? gwritten[k] : fo->ctx.cmd->wkeys == 0;
		for (int j = 0; j < nw && !written && !gwritten; j++)
			written = fo->argv[widx[j]].len == gk[k].len &&
				  memcmp(fo->argv[widx[j]].p, gk[k].p, gk[k].len) == 0;
		if (written)
			gk[nb++] = gk[k];
	}
	if (widx != wbuf)
		free(widx);
	free(gwritten);
	fo->saved = out;
	fo->round = G_WRITEBACK;
	fanout_reset(fo, (unsigned)nb);
	char dbbuf[24];
	size_t dblen = ks_ll2str(dbbuf, fo->ctx.dbid);
	const struct cmd_def *del = cmd_lookup("del", 3);
	for (int k = 0; k < nb; k++) {
		const struct resp_arg *key = &gk[k];
		struct ks_entry *e = ks_find(&tmp->db[0], key->p, key->len, sh->now_ms);
		if (e) {
			ks_detach(&tmp->db[0], e);
			struct resp_arg av[4] = { { "__put", 5 }, *key, { dbbuf, dblen }, { "replace", 7 } };
			fanout_send(sh, fo, (unsigned)k, key_shard(key), &cmd_internal_put, 4, av, e);
		} else {
			struct resp_arg av[2] = { { "del", 3 }, *key };
			fanout_send(sh, fo, (unsigned)k, key_shard(key), del, 2, av, NULL);
		}
	}
	ks_space_free(tmp);
	free(gk);
	free(idx);
	fanout_arm(sh, fo);
}

static void gather_begin(struct shard *sh, struct fanout *fo)
{
	fo->round = G_GATHER;
	fo->stage &= 1;
	int *idx;
	int nk = gather_keys(fo, &idx);
	fanout_reset(fo, (unsigned)nk);
	for (int k = 0; k < nk; k++) {
		const struct resp_arg *key = &fo->argv[idx[k]];
		struct resp_arg av[2] = { { "__clone", 7 }, *key };
		fanout_send(sh, fo, (unsigned)k, key_shard(key), &cmd_internal_clone, 2, av, NULL);
	}
	free(idx);
	fanout_arm(sh, fo);
}

void xshard_gather(struct cmd_ctx *ctx)
{
	struct shard *sh = ctx->sh;
	struct fanout *fo = fanout_new(sh, ctx->c, ctx, 0, gather_step);
	ctx->c->barrier = true;
	fo->holds_barrier = true;
	gather_begin(sh, fo);
}
