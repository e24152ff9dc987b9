/* shards/t_list.c — the list command family.
 *
 * LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
 * LTRIM LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP BLMOVE
 * BRPOPLPUSH BLMPOP, with Redis 7 semantics, replies, error texts and the
 * order in which Redis validates arguments (which error wins). Values are
 * obj_list.h lists; the encoding thresholds come from the shard's config
 * (list-max-listpack-size) at each write.
 *
 * Each handler runs on the shard owning every key it is given (cmd.h).
 * Blocking commands serve at once when a key has elements (the first
 * non-empty key in argument order) and otherwise call cmd_block(); when a
 * key they wait on is written the same handler runs again, so serving and
 * waiting are one code path. A command that empties a list deletes the key;
 * every write adds the elements it changed to ctx->dirty. */
#include <limits.h>
#include <stdlib.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/obj_list.h"

#define ERR_POSITIVE "ERR value is out of range, must be positive"
#define ERR_INDEX    "ERR index out of range"

/* ------------------------------------------------------------ helpers */

static int list_fill(const struct cmd_ctx *ctx)
{
	return (int)shard_cfg(ctx->sh)->list_max_listpack_size;
}

/* The list at key, NULL if there is none. A key of another type replies
 * WRONGTYPE and sets *err. */
static struct ks_entry *list_lookup(struct cmd_ctx *ctx, const struct resp_arg *key, bool write,
				    bool *err)
{
	struct ks_entry *e = write ? cmd_lookup_write(ctx, key) : cmd_lookup_read(ctx, key);
	*err = false;
	if (e && e->type != KS_LIST) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		*err = true;
		return NULL;
	}
	return e;
}

static struct ks_entry *list_create(struct cmd_ctx *ctx, const struct resp_arg *key)
{
	uint8_t enc;
	void *ptr = obj_list_new(&enc);
	return ks_set_obj(ctx->db, key->p, key->len, KS_LIST, enc, ptr, false);
}

static unsigned long list_len(const struct ks_entry *e)
{
	return obj_list_len(e->v.ptr, e->enc);
}

/* Delete the key if the write emptied it. */
static void list_gc(struct cmd_ctx *ctx, struct ks_entry *e)
{
	if (list_len(e) == 0)
		ks_delete(ctx->db, e);
}

static void reply_elem(struct cmd_ctx *ctx, const struct obj_list_elem *el)
{
	if (el->s)
		resp_add_bulk(ctx->out, el->s, el->len);
	else
		resp_add_bulk_ll(ctx->out, el->v);
}

/* An element copied out of a list, as bytes: its own, or the integer
 * formatted into buf (OBJ_LIST_NUMBUF bytes). */
static const void *val_bytes(const struct obj_list_val *v, char *buf, size_t *len)
{
	if (v->s) {
		*len = v->len;
		return v->s;
	}
	*len = ks_ll2str(buf, v->v);
	return buf;
}

static void reply_arity(struct cmd_ctx *ctx)
{
	resp_add_errorf(ctx->out, "ERR wrong number of arguments for '%s' command", ctx->cmd->name);
}

/* LEFT / RIGHT. Replies a syntax error and returns -1 on anything else. */
static int parse_end(struct cmd_ctx *ctx, const struct resp_arg *a, enum obj_list_end *where)
{
	if (arg_is(a, "left"))
		*where = OBJ_LIST_HEAD;
	else if (arg_is(a, "right"))
		*where = OBJ_LIST_TAIL;
	else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return -1;
	}
	return 0;
}

/* An integer in [min, max]: non-integers reply ERR_NOTINT (or msg), out of
 * range replies msg (Redis's getRangeLongFromObjectOrReply). */
static int parse_range(struct cmd_ctx *ctx, const struct resp_arg *a, long long min,
		       long long max, const char *msg, long long *v)
{
	if (arg_to_ll(a, v) != 0) {
		resp_add_error(ctx->out, msg ? msg : ERR_NOTINT);
		return -1;
	}
	if (*v < min || *v > max) {
		resp_add_error(ctx->out, msg);
		return -1;
	}
	return 0;
}

/* Reply up to count elements from one end of the list in e (as an array),
 * remove them, delete the key if emptied. Returns how many. */
static unsigned long pop_range_reply(struct cmd_ctx *ctx, struct ks_entry *e,
				     enum obj_list_end where, unsigned long count)
{
	unsigned long len = list_len(e);
	unsigned long n = count < len ? count : len;
	struct obj_list_iter it;
	struct obj_list_elem el;
	resp_add_array(ctx->out, (long long)n);
	obj_list_iter_init(&it, e->v.ptr, e->enc, where == OBJ_LIST_HEAD ? 0 : -1,
			   where == OBJ_LIST_HEAD);
	for (unsigned long i = 0; i < n && obj_list_iter_next(&it, &el); i++)
		reply_elem(ctx, &el);
	obj_list_del_range(&e->v.ptr, &e->enc, list_fill(ctx),
			   where == OBJ_LIST_HEAD ? 0 : -(long)n, n);
	ctx->dirty += (long long)n;
	list_gc(ctx, e);
	return n;
}

/* ------------------------------------------------------------ push */

static void push_generic(struct cmd_ctx *ctx, enum obj_list_end where, bool only_existing)
{
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		if (only_existing) {
			resp_add_int(ctx->out, 0);
			return;
		}
		e = list_create(ctx, &ctx->argv[1]);
	}
	/* Redis sizes the batch as the arguments' bytes for the conversion. */
	size_t bytes = 0;
	for (int i = 2; i < ctx->argc; i++)
		bytes += ctx->argv[i].len;
	obj_list_grow(&e->v.ptr, &e->enc, list_fill(ctx), bytes, (unsigned long)(ctx->argc - 2));
	for (int i = 2; i < ctx->argc; i++)
		obj_list_push(&e->v.ptr, &e->enc, ctx->argv[i].p, ctx->argv[i].len, where);
	ctx->dirty += ctx->argc - 2;
	resp_add_int(ctx->out, (long long)list_len(e));
}

void cmd_lpush(struct cmd_ctx *ctx) { push_generic(ctx, OBJ_LIST_HEAD, false); }
void cmd_rpush(struct cmd_ctx *ctx) { push_generic(ctx, OBJ_LIST_TAIL, false); }
void cmd_lpushx(struct cmd_ctx *ctx) { push_generic(ctx, OBJ_LIST_HEAD, true); }
void cmd_rpushx(struct cmd_ctx *ctx) { push_generic(ctx, OBJ_LIST_TAIL, true); }

/* ------------------------------------------------------------ pop */

/* LPOP/RPOP key [count]: no count replies a bulk (null if missing); with a
 * count an array (null array if missing, empty for count 0). The count is
 * validated before the key is looked at. */
static void pop_generic(struct cmd_ctx *ctx, enum obj_list_end where)
{
	bool has_count = ctx->argc == 3;
	long long count = 1;
	if (ctx->argc > 3) {
		reply_arity(ctx);
		return;
	}
	if (has_count && parse_range(ctx, &ctx->argv[2], 0, LLONG_MAX, ERR_POSITIVE, &count) < 0)
		return;
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		if (has_count)
			resp_add_null_array(ctx->out, ctx->proto);
		else
			resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (has_count) {
		pop_range_reply(ctx, e, where, (unsigned long)count);
		return;
	}
	struct obj_list_elem el;
	obj_list_index(e->v.ptr, e->enc, where == OBJ_LIST_HEAD ? 0 : -1, &el);
	reply_elem(ctx, &el);    /* copied into the reply before the delete */
	obj_list_del_range(&e->v.ptr, &e->enc, list_fill(ctx), where == OBJ_LIST_HEAD ? 0 : -1, 1);
	ctx->dirty++;
	list_gc(ctx, e);
}

void cmd_lpop(struct cmd_ctx *ctx) { pop_generic(ctx, OBJ_LIST_HEAD); }
void cmd_rpop(struct cmd_ctx *ctx) { pop_generic(ctx, OBJ_LIST_TAIL); }

/* ------------------------------------------------------------ reading */

void cmd_llen(struct cmd_ctx *ctx)
{
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], false, &err);
	if (err)
		return;
	resp_add_int(ctx->out, e ? (long long)list_len(e) : 0);
}

/* LRANGE key start stop: both indexes are parsed before the key lookup. */
void cmd_lrange(struct cmd_ctx *ctx)
{
	long long start, end;
	if (arg_ll(ctx, &ctx->argv[2], &start) < 0 || arg_ll(ctx, &ctx->argv[3], &end) < 0)
		return;
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], false, &err);
	if (err)
		return;
	if (!e) {
		resp_add_array(ctx->out, 0);
		return;
	}
	long long len = (long long)list_len(e);
	if (start < 0)
		start = len + start;
	if (end < 0)
		end = len + end;
	if (start < 0)
		start = 0;
	if (start > end || start >= len) {
		resp_add_array(ctx->out, 0);
		return;
	}
	if (end >= len)
		end = len - 1;
	long long n = end - start + 1;
	struct obj_list_iter it;
	struct obj_list_elem el;
	resp_add_array(ctx->out, n);
	obj_list_iter_init(&it, e->v.ptr, e->enc, (long)start, true);
	while (n-- > 0 && obj_list_iter_next(&it, &el))
		reply_elem(ctx, &el);
}

/* LINDEX key index: the key is looked up before the index is parsed. */
void cmd_lindex(struct cmd_ctx *ctx)
{
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], false, &err);
	if (err)
		return;
	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	long long index;
	if (arg_ll(ctx, &ctx->argv[2], &index) < 0)
		return;
	struct obj_list_elem el;
	if (index < LONG_MIN || index > LONG_MAX || !obj_list_index(e->v.ptr, e->enc, (long)index, &el))
		resp_add_null(ctx->out, ctx->proto);
	else
		reply_elem(ctx, &el);
}

/* LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] */
void cmd_lpos(struct cmd_ctx *ctx)
{
	long long rank = 1, count = -1, maxlen = 0;
	for (int j = 3; j < ctx->argc; j++) {
		bool more = j + 1 < ctx->argc;
		if (arg_is(&ctx->argv[j], "rank") && more) {
			if (arg_ll(ctx, &ctx->argv[++j], &rank) < 0)
				return;
			if (rank == LLONG_MIN) {
				resp_add_error(ctx->out, "ERR value is out of range, value must between "
					       "-9223372036854775807 and 9223372036854775807");
				return;
			}
			if (rank == 0) {
				resp_add_error(ctx->out, "ERR RANK can't be zero: use 1 to start from the "
					       "first match, 2 from the second ... or use negative to "
					       "start from the end of the list");
				return;
			}
		} else if (arg_is(&ctx->argv[j], "count") && more) {
			if (parse_range(ctx, &ctx->argv[++j], 0, LLONG_MAX, "ERR COUNT can't be negative",
					&count) < 0)
				return;
		} else if (arg_is(&ctx->argv[j], "maxlen") && more) {
			if (parse_range(ctx, &ctx->argv[++j], 0, LLONG_MAX, "ERR MAXLEN can't be negative",
					&maxlen) < 0)
				return;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], false, &err);
	if (err)
		return;
	if (!e) {
		if (count != -1)
			resp_add_array(ctx->out, 0);
		else
			resp_add_null(ctx->out, ctx->proto);
		return;
	}
	bool forward = rank > 0;
	unsigned long long want_rank = forward ? (unsigned long long)rank : (unsigned long long)-rank;
	long long len = (long long)list_len(e);
	const struct resp_arg *ele = &ctx->argv[2];
	struct obj_list_iter it;
	struct obj_list_elem el;
	unsigned long long matches = 0;
	long long scanned = 0;
	long *found = NULL;
	size_t nfound = 0, cap = 0;
	obj_list_iter_init(&it, e->v.ptr, e->enc, forward ? 0 : -1, forward);
	while ((maxlen == 0 || scanned < maxlen) && obj_list_iter_next(&it, &el)) {
		long idx = (long)(forward ? scanned : len - 1 - scanned);
		scanned++;
		if (!obj_list_elem_eq(&el, ele->p, ele->len) || ++matches < want_rank)
			continue;
		if (nfound == cap) {
			cap = cap ? cap * 2 : 16;
			long *nf = realloc(found, cap * sizeof(*found));
			if (!nf)
				abort();
			found = nf;
		}
		found[nfound++] = idx;
		if (count == -1 || (count > 0 && nfound >= (unsigned long long)count))
			break;
	}
	if (count != -1) {
		resp_add_array(ctx->out, (long long)nfound);
		for (size_t i = 0; i < nfound; i++)
			resp_add_int(ctx->out, found[i]);
	} else if (nfound) {
		resp_add_int(ctx->out, found[0]);
	} else {
		resp_add_null(ctx->out, ctx->proto);
	}
	free(found);
}

/* ------------------------------------------------------------ writes */

/* LSET key index element: no such key, then the index, then the range. */
void cmd_lset(struct cmd_ctx *ctx)
{
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		resp_add_error(ctx->out, ERR_NOKEY);
		return;
	}
	long long index;
	if (arg_ll(ctx, &ctx->argv[2], &index) < 0)
		return;
	if (index < LONG_MIN || index > LONG_MAX ||
	    obj_list_set(&e->v.ptr, &e->enc, list_fill(ctx), (long)index, ctx->argv[3].p,
			 ctx->argv[3].len) < 0) {
		resp_add_error(ctx->out, ERR_INDEX);
		return;
	}
	ctx->dirty++;
	resp_add_ok(ctx->out);
}

/* LINSERT key BEFORE|AFTER pivot element: the syntax is checked first; a
 * missing key is 0, a missing pivot -1, else the new length. */
void cmd_linsert(struct cmd_ctx *ctx)
{
	bool after;
	if (arg_is(&ctx->argv[2], "after"))
		after = true;
	else if (arg_is(&ctx->argv[2], "before"))
		after = false;
	else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	const struct resp_arg *pivot = &ctx->argv[3], *val = &ctx->argv[4];
	if (!obj_list_insert(&e->v.ptr, &e->enc, list_fill(ctx), pivot->p, pivot->len, val->p,
			     val->len, after)) {
		resp_add_int(ctx->out, -1);
		return;
	}
	ctx->dirty++;
	resp_add_int(ctx->out, (long long)list_len(e));
}

/* LREM key count element */
void cmd_lrem(struct cmd_ctx *ctx)
{
	long long count;
	if (arg_ll(ctx, &ctx->argv[2], &count) < 0)
		return;
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	unsigned long n = obj_list_remove(&e->v.ptr, &e->enc, list_fill(ctx), ctx->argv[3].p,
					  ctx->argv[3].len, (long)count);
	ctx->dirty += (long long)n;
	list_gc(ctx, e);
	resp_add_int(ctx->out, (long long)n);
}

/* LTRIM key start stop: indexes first; a missing key is +OK. */
void cmd_ltrim(struct cmd_ctx *ctx)
{
	long long start, end;
	if (arg_ll(ctx, &ctx->argv[2], &start) < 0 || arg_ll(ctx, &ctx->argv[3], &end) < 0)
		return;
	bool err;
	struct ks_entry *e = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!e) {
		resp_add_ok(ctx->out);
		return;
	}
	long long len = (long long)list_len(e), ltrim, rtrim;
	if (start < 0)
		start = len + start;
	if (end < 0)
		end = len + end;
	if (start < 0)
		start = 0;
	if (start > end || start >= len) {
		ltrim = len;
		rtrim = 0;
	} else {
		if (end >= len)
			end = len - 1;
		ltrim = start;
		rtrim = len - end - 1;
	}
	int fill = list_fill(ctx);
	obj_list_del_range(&e->v.ptr, &e->enc, fill, 0, (unsigned long)ltrim);
	obj_list_del_range(&e->v.ptr, &e->enc, fill, -(long)rtrim, (unsigned long)rtrim);
	ctx->dirty += ltrim + rtrim;
	list_gc(ctx, e);
	resp_add_ok(ctx->out);
}

/* ------------------------------------------------------------ moves */

/* Move one element from src's `from` end to dst's `to` end (src may be dst:
 * a rotation) and reply it. src is a non-empty list; dst's type is checked
 * first, before anything changes. */
static void move_element(struct cmd_ctx *ctx, struct ks_entry *src, enum obj_list_end from,
			 enum obj_list_end to)
{
	bool err;
	struct ks_entry *dst = list_lookup(ctx, &ctx->argv[2], true, &err);
	if (err)
		return;
	int fill = list_fill(ctx);
	struct obj_list_val v;
	obj_list_pop(&src->v.ptr, &src->enc, from, &v);
	if (!dst)
		dst = list_create(ctx, &ctx->argv[2]);
	char num[OBJ_LIST_NUMBUF];
	size_t len;
	const void *s = val_bytes(&v, num, &len);
	/* Redis counts no bytes for an element it popped as an integer. */
	obj_list_grow(&dst->v.ptr, &dst->enc, fill, v.s ? len : 0, 1);
	obj_list_push(&dst->v.ptr, &dst->enc, s, len, to);
	resp_add_bulk(ctx->out, s, len);
	obj_list_val_free(&v);
	ctx->dirty++;
	/* As Redis: the source converts only after the push (which, for a
	 * rotation on one key, went back into it). */
	if (list_len(src) == 0)
		ks_delete(ctx->db, src);
	else
		obj_list_shrink(&src->v.ptr, &src->enc, fill);
}

/* LMOVE/RPOPLPUSH: a missing source is null (dst is then not checked). */
static void lmove_generic(struct cmd_ctx *ctx, enum obj_list_end from, enum obj_list_end to)
{
	bool err;
	struct ks_entry *src = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!src) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	move_element(ctx, src, from, to);
}

void cmd_lmove(struct cmd_ctx *ctx)
{
	enum obj_list_end from, to;
	if (parse_end(ctx, &ctx->argv[3], &from) < 0 || parse_end(ctx, &ctx->argv[4], &to) < 0)
		return;
	lmove_generic(ctx, from, to);
}

void cmd_rpoplpush(struct cmd_ctx *ctx) { lmove_generic(ctx, OBJ_LIST_TAIL, OBJ_LIST_HEAD); }

/* BLMOVE/BRPOPLPUSH: serve like LMOVE when the source exists, else wait
 * for it. */
static void blmove_generic(struct cmd_ctx *ctx, enum obj_list_end from, enum obj_list_end to,
			   const struct resp_arg *timeout)
{
	int64_t deadline;
	if (arg_timeout(ctx, timeout, &deadline) < 0)
		return;
	bool err;
	struct ks_entry *src = list_lookup(ctx, &ctx->argv[1], true, &err);
	if (err)
		return;
	if (!src) {
		/* As Redis: a client that may not block (MULTI, scripts) gets a
		 * null bulk at once, but a wait that times out gets a null array,
		 * as every list wait does. */
		if (!ctx->may_block)
			resp_add_null(ctx->out, ctx->proto);
		else
			cmd_block(ctx, deadline, true);
		return;
	}
	move_element(ctx, src, from, to);
}

void cmd_blmove(struct cmd_ctx *ctx)
{
	enum obj_list_end from, to;
	if (parse_end(ctx, &ctx->argv[3], &from) < 0 || parse_end(ctx, &ctx->argv[4], &to) < 0)
		return;
	blmove_generic(ctx, from, to, &ctx->argv[5]);
}

void cmd_brpoplpush(struct cmd_ctx *ctx)
{
	blmove_generic(ctx, OBJ_LIST_TAIL, OBJ_LIST_HEAD, &ctx->argv[3]);
}

/* ------------------------------------------------------------ BLPOP */

/* BLPOP/BRPOP key [key ...] timeout: [key, element] from the first
 * non-empty key; a key of another type before it is WRONGTYPE. */
static void bpop_generic(struct cmd_ctx *ctx, enum obj_list_end where)
{
	int64_t deadline;
	if (arg_timeout(ctx, &ctx->argv[ctx->argc - 1], &deadline) < 0)
		return;
	for (int j = 1; j < ctx->argc - 1; j++) {
		bool err;
		struct ks_entry *e = list_lookup(ctx, &ctx->argv[j], true, &err);
		if (err)
			return;
		if (!e || list_len(e) == 0)
			continue;
		struct obj_list_elem el;
		resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, ctx->argv[j].p, ctx->argv[j].len);
		obj_list_index(e->v.ptr, e->enc, where == OBJ_LIST_HEAD ? 0 : -1, &el);
		reply_elem(ctx, &el);
		obj_list_del_range(&e->v.ptr, &e->enc, list_fill(ctx), where == OBJ_LIST_HEAD ? 0 : -1, 1);
		ctx->dirty++;
		list_gc(ctx, e);
		return;
	}
	cmd_block(ctx, deadline, true);
}

void cmd_blpop(struct cmd_ctx *ctx) { bpop_generic(ctx, OBJ_LIST_HEAD); }
void cmd_brpop(struct cmd_ctx *ctx) { bpop_generic(ctx, OBJ_LIST_TAIL); }

/* ------------------------------------------------------------ LMPOP */

/* numkeys at argv[at], then the keys, then LEFT|RIGHT [COUNT count].
 * Shared by the handlers (which reply the errors) and the key finders. */
static int mpop_numkeys(int argc, const struct resp_arg *argv, int at, long long *numkeys)
{
	if (at >= argc || arg_to_ll(&argv[at], numkeys) != 0 || *numkeys < 1)
		return -1;
	return 0;
}

static int mpop_keys(int argc, const struct resp_arg *argv, int *idx, int max, int at)
{
	long long n;
	if (mpop_numkeys(argc, argv, at, &n) < 0 || n > argc - at - 2)
		return -1;
	for (int i = 0; i < (int)n && i < max; i++)
		idx[i] = at + 1 + i;
	return (int)n;
}

int cmd_lmpop_keys(int argc, const struct resp_arg *argv, int *idx, int max)
{
	return mpop_keys(argc, argv, idx, max, 1);
}

int cmd_blmpop_keys(int argc, const struct resp_arg *argv, int *idx, int max)
{
	return mpop_keys(argc, argv, idx, max, 2);
}

/* LMPOP numkeys key... LEFT|RIGHT [COUNT n] / BLMPOP timeout numkeys ...:
 * numkeys at argv[at]. As Redis, BLMPOP validates everything else before
 * its timeout. Replies [key, [elements...]] from the first non-empty list,
 * else (LMPOP) a null array or (BLMPOP) waits. */
static void mpop_generic(struct cmd_ctx *ctx, int at, bool blocking)
{
	long long numkeys, count = -1;
	int64_t deadline = 0;
	if (mpop_numkeys(ctx->argc, ctx->argv, at, &numkeys) < 0) {
		resp_add_error(ctx->out, "ERR numkeys should be greater than 0");
		return;
	}
	if (numkeys > ctx->argc - at - 2) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	int where_at = at + (int)numkeys + 1;
	enum obj_list_end where;
	if (parse_end(ctx, &ctx->argv[where_at], &where) < 0)
		return;
	for (int j = where_at + 1; j < ctx->argc; j++) {
		if (count == -1 && arg_is(&ctx->argv[j], "count") && j + 1 < ctx->argc) {
			if (parse_range(ctx, &ctx->argv[++j], 1, LLONG_MAX,
					"ERR count should be greater than 0", &count) < 0)
				return;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (count == -1)
		count = 1;
	if (blocking && arg_timeout(ctx, &ctx->argv[1], &deadline) < 0)
		return;
	for (int j = at + 1; j < where_at; j++) {
		bool err;
		struct ks_entry *e = list_lookup(ctx, &ctx->argv[j], true, &err);
		if (err)
			return;
		if (!e || list_len(e) == 0)
			continue;
		resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, ctx->argv[j].p, ctx->argv[j].len);
		pop_range_reply(ctx, e, where, (unsigned long)count);
		return;
	}
	if (blocking)
		cmd_block(ctx, deadline, true);
	else
		resp_add_null_array(ctx->out, ctx->proto);
}

void cmd_lmpop(struct cmd_ctx *ctx) { mpop_generic(ctx, 1, false); }
void cmd_blmpop(struct cmd_ctx *ctx) { mpop_generic(ctx, 2, true); }
