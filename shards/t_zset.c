/* shards/t_zset.c — the sorted set command family.
 *
 * ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK, the ZRANGE family
 * (ZRANGE ZRANGESTORE ZREVRANGE Z[REV]RANGEBYSCORE Z[REV]RANGEBYLEX), ZCOUNT
 * ZLEXCOUNT, ZREMRANGEBY{RANK,SCORE,LEX}, the pops (ZPOPMIN ZPOPMAX ZMPOP
 * and the blocking BZPOPMIN BZPOPMAX BZMPOP), ZRANDMEMBER, the set
 * operations (ZUNION ZINTER ZDIFF, their STORE forms and ZINTERCARD) and
 * ZSCAN, with Redis 7.0's semantics, replies and error texts.
 *
 * The value is obj_zset.h's; this file parses arguments (in Redis's order,
 * so the same bad request gets the same error), looks keys up, applies the
 * thresholds from the shard's config and writes replies. Scores go out
 * with resp_add_double(): a bulk string of %.17g in RESP2, a double in
 * RESP3. A key is deleted when its last member goes.
 *
 * Write handlers add to ctx->dirty what they changed: ZADD/ZINCRBY members
 * added or updated, ZREM, the ZREMRANGEBY family and the pops members
 * removed, the STORE forms 1 for the stored key (or 1 when an empty result
 * deleted an old one). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/obj_zset.h"
/* Sets as inputs of ZUNION & co. (score 1 each) are read through
 * obj_set.h (the set type's own module). TODO: switch on when obj_set.h
 * lands; until then a set key is WRONGTYPE here like any non-zset. */
#define ZSET_HAVE_SETS 1
#if ZSET_HAVE_SETS
#include "shards/obj_set.h"
#endif

/* ZSCAN's default COUNT and the cap on one call's work (as SCAN's). */
#define ZSCAN_DEFAULT_COUNT 10
#define ZSCAN_MAX_COUNT (1u << 24)

cmd_keys_fn zset_keys_numkeys1, zset_keys_numkeys2, zset_keys_store;

/* ------------------------------------------------------------ helpers */

static struct obj_zset_lim zset_lim(const struct cmd_ctx *ctx)
{
	const struct cfg *cfg = shard_cfg(ctx->sh);
	struct obj_zset_lim lim = {
		.max_entries = cfg->zset_max_listpack_entries < 0
				       ? 0 : (size_t)cfg->zset_max_listpack_entries,
		.max_value = cfg->zset_max_listpack_value < 0
				     ? 0 : (size_t)cfg->zset_max_listpack_value,
	};
	return lim;
}

/* Look key up (for reading or writing). 0 with *e set (NULL if absent),
 * or -1 after replying WRONGTYPE. */
static int zset_get(struct cmd_ctx *ctx, const struct resp_arg *key, bool write,
		    struct ks_entry **e)
{
	*e = write ? cmd_lookup_write(ctx, key) : cmd_lookup_read(ctx, key);
	if (*e && (*e)->type != KS_ZSET) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return -1;
	}
	return 0;
}

/* Delete e if its last member went. */
static void zset_drop_if_empty(struct cmd_ctx *ctx, struct ks_entry *e)
{
	if (obj_zset_len(e->v.ptr, e->enc) == 0)
		ks_delete(ctx->db, e);
}

/* One element of a reply: [member, score] as a pair in RESP3, flat in
 * RESP2 (Redis keeps arrays, not maps: the order matters). */
static void emit_elem(struct rbuf *b, int proto, const char *m, size_t mlen, double score,
		      bool withscores)
{
	if (withscores && proto >= 3)
		resp_add_array(b, 2);
	resp_add_bulk(b, m, mlen);
	if (withscores)
		resp_add_double(b, proto, score);
}

static void emit_header(struct rbuf *b, int proto, unsigned long n, bool withscores)
{
	resp_add_array(b, (long long)(withscores && proto < 3 ? 2 * n : n));
}

/* Redis's getPositiveLongFromObjectOrReply / getRangeLong...: any failure
 * (not an integer, or outside [min, max]) replies msg. */
static int arg_range_ll(struct cmd_ctx *ctx, const struct resp_arg *a, long long min,
			long long max, long long *v, const char *msg)
{
	if (arg_to_ll(a, v) < 0 || *v < min || *v > max) {
		resp_add_error(ctx->out, msg);
		return -1;
	}
	return 0;
}

/* Store a result dict (member -> score, ownership taken) at dst: an empty
 * result deletes dst. Replies the result's length. */
static void store_result(struct cmd_ctx *ctx, const struct resp_arg *dst, struct sdict *d)
{
	uint64_t n = sd_size(d);

	if (n == 0) {
		sd_free(d, NULL);
		if (ks_delete_key(ctx->db, dst->p, dst->len, ctx->now_ms))
			ctx->dirty++;
		resp_add_int(ctx->out, 0);
		return;
	}
	struct obj_zset_lim lim = zset_lim(ctx);
	uint8_t enc;
	void *ptr = obj_zset_from_dict(d, &lim, &enc);
	ks_set_obj(ctx->db, dst->p, dst->len, KS_ZSET, enc, ptr, false);
	ctx->dirty++;
	resp_add_int(ctx->out, (long long)n);
}

/* --------------------------------------------------- ZADD and ZINCRBY */

static void zadd_generic(struct cmd_ctx *ctx, unsigned flags)
{
	bool ch = false;
	int j = 2;

	/* Options come first; the first word that is not one starts the
	 * score/member pairs (so "ZINCRBY z nx m" parses NX, as Redis). */
	for (; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		if (arg_is(a, "nx"))
			flags |= OBJ_ZSET_NX;
		else if (arg_is(a, "xx"))
			flags |= OBJ_ZSET_XX;
		else if (arg_is(a, "ch"))
			ch = true;
		else if (arg_is(a, "incr"))
			flags |= OBJ_ZSET_INCR;
		else if (arg_is(a, "gt"))
			flags |= OBJ_ZSET_GT;
		else if (arg_is(a, "lt"))
			flags |= OBJ_ZSET_LT;
		else
			break;
	}
	int elements = ctx->argc - j;
	if (elements % 2 || elements == 0) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	elements /= 2;
	bool nx = flags & OBJ_ZSET_NX, xx = flags & OBJ_ZSET_XX;
	bool gt = flags & OBJ_ZSET_GT, lt = flags & OBJ_ZSET_LT;
	bool incr = flags & OBJ_ZSET_INCR;
	if (nx && xx) {
		resp_add_error(ctx->out, "ERR XX and NX options at the same time are not compatible");
		return;
	}
	if ((gt && nx) || (lt && nx) || (gt && lt)) {
		resp_add_error(ctx->out,
			       "ERR GT, LT, and/or NX options at the same time are not compatible");
		return;
	}
	if (incr && elements > 1) {
		resp_add_error(ctx->out, "ERR INCR option supports a single increment-element pair");
		return;
	}

	double one;
	double *scores = elements == 1 ? &one : malloc((size_t)elements * sizeof(*scores));
	if (!scores)
		abort();
	for (int i = 0; i < elements; i++)
		if (arg_double(ctx, &ctx->argv[j + 2 * i], &scores[i]) < 0)
			goto out;

	struct ks_entry *e;
	if (zset_get(ctx, &ctx->argv[1], true, &e) < 0)
		goto out;
	long long added = 0, updated = 0, processed = 0;
	double score = 0;
	struct obj_zset_lim lim = zset_lim(ctx);
	if (!e) {
		if (xx)
			goto reply;
		/* As Redis 7.0: a new key starts as a listpack unless its first
		 * member is already too long; later adds convert as needed. */
		uint8_t enc;
		void *ptr = obj_zset_new(1, ctx->argv[j + 1].len, &lim, &enc);
		e = ks_set_obj(ctx->db, ctx->argv[1].p, ctx->argv[1].len, KS_ZSET, enc, ptr, false);
	}
	for (int i = 0; i < elements; i++) {
		const struct resp_arg *m = &ctx->argv[j + 2 * i + 1];
		unsigned out;
		double ns = 0;
		if (obj_zset_add(&e->v.ptr, &e->enc, m->p, m->len, scores[i], flags, &out, &ns,
				 &lim) < 0) {
			ctx->dirty += added + updated;
			zset_drop_if_empty(ctx, e);
			resp_add_error(ctx->out, "ERR resulting score is not a number (NaN)");
			goto out;
		}
		if (out & OBJ_ZSET_OUT_ADDED)
			added++;
		if (out & OBJ_ZSET_OUT_UPDATED)
			updated++;
		if (!(out & OBJ_ZSET_OUT_NOP)) {
			processed++;
			score = ns;
		}
	}
	ctx->dirty += added + updated;
	zset_drop_if_empty(ctx, e);
reply:
	if (incr) {
		if (processed)
			resp_add_double(ctx->out, ctx->proto, score);
		else
			resp_add_null(ctx->out, ctx->proto);
	} else {
		resp_add_int(ctx->out, ch ? added + updated : added);
	}
out:
	if (scores != &one)
		free(scores);
}

void cmd_zadd(struct cmd_ctx *ctx)
{
	zadd_generic(ctx, 0);
}

void cmd_zincrby(struct cmd_ctx *ctx)
{
	zadd_generic(ctx, OBJ_ZSET_INCR);
}

/* ------------------------------------------------ single-member reads */

void cmd_zrem(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	long long deleted = 0;

	if (zset_get(ctx, &ctx->argv[1], true, &e) < 0)
		return;
	if (e) {
		for (int j = 2; j < ctx->argc; j++) {
			deleted += obj_zset_del(&e->v.ptr, e->enc, ctx->argv[j].p, ctx->argv[j].len);
			if (obj_zset_len(e->v.ptr, e->enc) == 0) {
				ks_delete(ctx->db, e);
				break;
			}
		}
	}
	ctx->dirty += deleted;
	resp_add_int(ctx->out, deleted);
}

void cmd_zcard(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	resp_add_int(ctx->out, e ? (long long)obj_zset_len(e->v.ptr, e->enc) : 0);
}

void cmd_zscore(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	double d;

	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	if (!e || obj_zset_score(e->v.ptr, e->enc, ctx->argv[2].p, ctx->argv[2].len, &d) < 0)
		resp_add_null(ctx->out, ctx->proto);
	else
		resp_add_double(ctx->out, ctx->proto, d);
}

void cmd_zmscore(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	double d;

	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int j = 2; j < ctx->argc; j++) {
		if (!e || obj_zset_score(e->v.ptr, e->enc, ctx->argv[j].p, ctx->argv[j].len, &d) < 0)
			resp_add_null(ctx->out, ctx->proto);
		else
			resp_add_double(ctx->out, ctx->proto, d);
	}
}

static void zrank_generic(struct cmd_ctx *ctx, bool rev)
{
	struct ks_entry *e;

	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	long r = e ? obj_zset_rank(e->v.ptr, e->enc, ctx->argv[2].p, ctx->argv[2].len, rev, NULL)
		   : -1;
	if (r < 0)
		resp_add_null(ctx->out, ctx->proto);
	else
		resp_add_int(ctx->out, r);
}

void cmd_zrank(struct cmd_ctx *ctx) { zrank_generic(ctx, false); }
void cmd_zrevrank(struct cmd_ctx *ctx) { zrank_generic(ctx, true); }

/* ---------------------------------------------------- the ZRANGE family */

enum zr_type { ZR_AUTO = 0, ZR_RANK, ZR_SCORE, ZR_LEX };
enum zr_dir { ZR_DIR_AUTO = 0, ZR_FWD, ZR_REV };

/* Where range results go: the client (with scores or not) or, for
 * ZRANGESTORE, a member -> score dict that becomes the new key. Results
 * are buffered because a LIMITed range's length is known only at the end. */
struct zr_out {
	bool withscores;
	struct sdict *store;
	struct rbuf body;
	unsigned long n;
	int proto;
};

static void zr_add(struct zr_out *o, const struct obj_zset_elem *el)
{
	o->n++;
	if (o->store) {
		struct sd_entry *de = sd_add(o->store, el->m, el->mlen, NULL);
		de->v.d = el->score;
		return;
	}
	emit_elem(&o->body, o->proto, el->m, el->mlen, el->score, o->withscores);
}

/* Ranks start..end as Z[REV]RANGE normalises them (negative from the end,
 * clamped); false if the range is empty. */
static bool norm_ranks(long long start, long long end, unsigned long len, unsigned long *s,
		       unsigned long *e)
{
	long long llen = (long long)len;

	if (start < 0)
		start += llen;
	if (end < 0)
		end += llen;
	if (start < 0)
		start = 0;
	if (start > end || start >= llen)
		return false;
	if (end >= llen)
		end = llen - 1;
	*s = (unsigned long)start;
	*e = (unsigned long)end;
	return true;
}

/* The two bounds of a range command, parsed for its type: ZR_SCORE a score
 * interval, ZR_LEX a lex interval, otherwise (ranks) two integers. */
struct zr_bounds {
	long long start, end;
	struct obj_zset_range r;
	struct obj_zset_lex lex;
};

/* Parse amin/amax into b as type says; replies Redis's error and returns
 * -1 on bad input, 0 ok. */
static int zr_parse_bounds(struct cmd_ctx *ctx, enum zr_type type, const struct resp_arg *amin,
			   const struct resp_arg *amax, struct zr_bounds *b)
{
	switch (type) {
	case ZR_SCORE:
		if (obj_zset_parse_range(amin->p, amin->len, amax->p, amax->len, &b->r) < 0) {
			resp_add_error(ctx->out, "ERR min or max is not a float");
			return -1;
		}
		return 0;
	case ZR_LEX:
		if (obj_zset_parse_lex(amin->p, amin->len, amax->p, amax->len, &b->lex) < 0) {
			resp_add_error(ctx->out, "ERR min or max not valid string range item");
			return -1;
		}
		return 0;
	default:
		b->start = b->end = 0;
		return arg_ll(ctx, amin, &b->start) < 0 || arg_ll(ctx, amax, &b->end) < 0 ? -1 : 0;
	}
}

/* Every ZRANGE-style command. src_idx is the source key's index (min and
 * max follow it); dst is ZRANGESTORE's destination (NULL otherwise); type
 * and dir are fixed by the legacy commands or ZR_AUTO/ZR_DIR_AUTO for
 * ZRANGE/ZRANGESTORE, whose options choose them. */
static void zrange_generic(struct cmd_ctx *ctx, int src_idx, const struct resp_arg *dst,
			   enum zr_type type, enum zr_dir dir)
{
	int minidx = src_idx + 1, maxidx = src_idx + 2;
	bool withscores = false;
	long long offset = 0, limit = -1;

	for (int j = src_idx + 3; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		int left = ctx->argc - j - 1;
		if (!dst && arg_is(a, "withscores")) {
			withscores = true;
		} else if (arg_is(a, "limit") && left >= 2) {
			if (arg_ll(ctx, &ctx->argv[j + 1], &offset) < 0 ||
			    arg_ll(ctx, &ctx->argv[j + 2], &limit) < 0)
				return;
			j += 2;
		} else if (dir == ZR_DIR_AUTO && arg_is(a, "rev")) {
			dir = ZR_REV;
		} else if (type == ZR_AUTO && arg_is(a, "bylex")) {
			type = ZR_LEX;
		} else if (type == ZR_AUTO && arg_is(a, "byscore")) {
			type = ZR_SCORE;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (dir == ZR_DIR_AUTO)
		dir = ZR_FWD;
	if (type == ZR_AUTO)
		type = ZR_RANK;
	/* Redis lets a rank range carry LIMIT as long as its count is -1 (no
	 * limit): the offset is then ignored. The check comes after every
	 * option is read and before min/max are parsed. */
	if (limit != -1 && type == ZR_RANK) {
		resp_add_error(ctx->out, "ERR syntax error, LIMIT is only supported in "
					 "combination with either BYSCORE or BYLEX");
		return;
	}
	if (withscores && type == ZR_LEX) {
		resp_add_error(ctx->out,
			       "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
		return;
	}
	bool rev = dir == ZR_REV;
	if (rev && type != ZR_RANK) {
		/* The interval is given as max, min. */
		int t = minidx;
		minidx = maxidx;
		maxidx = t;
	}
	const struct resp_arg *amin = &ctx->argv[minidx], *amax = &ctx->argv[maxidx];
	struct zr_bounds b;
	if (zr_parse_bounds(ctx, type, amin, amax, &b) < 0)
		return;

	struct ks_entry *e;
	if (zset_get(ctx, &ctx->argv[src_idx], dst != NULL, &e) < 0)
		return;
	struct zr_out o = { .withscores = withscores, .proto = ctx->proto };
	if (dst)
		o.store = sd_new(0);
	if (e) {
		const void *ptr = e->v.ptr;
		uint8_t enc = e->enc;
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		unsigned long s, t, len = obj_zset_len(ptr, enc);
		if (type == ZR_RANK) {
			if (norm_ranks(b.start, b.end, len, &s, &t)) {
				obj_zset_iter_rank(&it, ptr, enc, s, rev);
				for (unsigned long k = s; k <= t && obj_zset_iter_next(&it, &el); k++)
					zr_add(&o, &el);
			}
		} else if (offset >= 0 && (offset == 0 || (unsigned long long)offset < len)) {
			/* A negative offset selects nothing (Redis skips the whole
			 * range); a negative limit means no limit. */
			if (type == ZR_SCORE)
				obj_zset_iter_range(&it, ptr, enc, &b.r, rev);
			else
				obj_zset_iter_lex(&it, ptr, enc, &b.lex, rev);
			obj_zset_iter_skip(&it, (unsigned long)offset);
			while ((limit < 0 || (unsigned long long)limit > 0) &&
			       obj_zset_iter_next(&it, &el)) {
				zr_add(&o, &el);
				if (limit > 0)
					limit--;
			}
		}
	}
	if (dst) {
		store_result(ctx, dst, o.store);
		return;
	}
	emit_header(ctx->out, ctx->proto, o.n, withscores);
	if (o.body.len)
		rbuf_append(ctx->out, o.body.data, o.body.len);
	rbuf_free(&o.body);
}

void cmd_zrange(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_AUTO, ZR_DIR_AUTO); }
void cmd_zrangestore(struct cmd_ctx *ctx)
{
	zrange_generic(ctx, 2, &ctx->argv[1], ZR_AUTO, ZR_DIR_AUTO);
}
void cmd_zrevrange(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_RANK, ZR_REV); }
void cmd_zrangebyscore(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_SCORE, ZR_FWD); }
void cmd_zrevrangebyscore(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_SCORE, ZR_REV); }
void cmd_zrangebylex(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_LEX, ZR_FWD); }
void cmd_zrevrangebylex(struct cmd_ctx *ctx) { zrange_generic(ctx, 1, NULL, ZR_LEX, ZR_REV); }

/* --------------------------------------------------- ZCOUNT ZLEXCOUNT */

void cmd_zcount(struct cmd_ctx *ctx)
{
	struct zr_bounds b;
	struct ks_entry *e;

	if (zr_parse_bounds(ctx, ZR_SCORE, &ctx->argv[2], &ctx->argv[3], &b) < 0)
		return;
	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	resp_add_int(ctx->out, e ? (long long)obj_zset_count_range(e->v.ptr, e->enc, &b.r) : 0);
}

void cmd_zlexcount(struct cmd_ctx *ctx)
{
	struct zr_bounds b;
	struct ks_entry *e;

	if (zr_parse_bounds(ctx, ZR_LEX, &ctx->argv[2], &ctx->argv[3], &b) < 0)
		return;
	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	resp_add_int(ctx->out, e ? (long long)obj_zset_count_lex(e->v.ptr, e->enc, &b.lex) : 0);
}

/* ------------------------------------------------------ ZREMRANGEBY* */

static void zremrange_generic(struct cmd_ctx *ctx, enum zr_type type)
{
	const struct resp_arg *a = &ctx->argv[2], *b = &ctx->argv[3];
	struct zr_bounds bd;
	struct ks_entry *e;

	if (zr_parse_bounds(ctx, type, a, b, &bd) < 0)
		return;
	if (zset_get(ctx, &ctx->argv[1], true, &e) < 0)
		return;
	unsigned long removed = 0;
	if (e) {
		unsigned long s, t;
		switch (type) {
		case ZR_SCORE:
			removed = obj_zset_del_range(&e->v.ptr, e->enc, &bd.r);
			break;
		case ZR_LEX:
			removed = obj_zset_del_lex(&e->v.ptr, e->enc, &bd.lex);
			break;
		default:
			if (norm_ranks(bd.start, bd.end, obj_zset_len(e->v.ptr, e->enc), &s, &t))
				removed = obj_zset_del_ranks(&e->v.ptr, e->enc, s, t);
			break;
		}
		zset_drop_if_empty(ctx, e);
	}
	ctx->dirty += (long long)removed;
	resp_add_int(ctx->out, (long long)removed);
}

void cmd_zremrangebyrank(struct cmd_ctx *ctx) { zremrange_generic(ctx, ZR_RANK); }
void cmd_zremrangebyscore(struct cmd_ctx *ctx) { zremrange_generic(ctx, ZR_SCORE); }
void cmd_zremrangebylex(struct cmd_ctx *ctx) { zremrange_generic(ctx, ZR_LEX); }

/* ---------------------------------------------------------------- pops */

/* How many elements a pop of count (>= 0) takes from e. */
static unsigned long popped_len(const struct ks_entry *e, long long count)
{
	unsigned long len = obj_zset_len(e->v.ptr, e->enc);
	return (unsigned long long)count > len ? len : (unsigned long)count;
}

/* Pop n (<= length) elements of e from the min or max end into the reply,
 * each as a [member, score] pair when nested, else flat (the caller wrote
 * the enclosing headers); counts them as dirty and deletes the key when
 * emptied. */
static void zpop_elems(struct cmd_ctx *ctx, struct ks_entry *e, bool max, unsigned long n,
		       bool nested)
{
	unsigned long len = obj_zset_len(e->v.ptr, e->enc);
	struct obj_zset_iter it;
	struct obj_zset_elem el;

	obj_zset_iter_rank(&it, e->v.ptr, e->enc, 0, max);
	for (unsigned long i = 0; i < n && obj_zset_iter_next(&it, &el); i++) {
		if (nested)
			resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, el.m, el.mlen);
		resp_add_double(ctx->out, ctx->proto, el.score);
	}
	if (n) {
		if (max)
			obj_zset_del_ranks(&e->v.ptr, e->enc, len - n, len - 1);
		else
			obj_zset_del_ranks(&e->v.ptr, e->enc, 0, n - 1);
	}
	ctx->dirty += (long long)n;
	zset_drop_if_empty(ctx, e);
}

/* ZPOPMIN/ZPOPMAX key [count]. */
static void zpop_generic(struct cmd_ctx *ctx, bool max)
{
	long long count = -1;   /* -1: no count given, one element, flat */
	struct ks_entry *e;

	if (ctx->argc > 3) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (ctx->argc == 3 && arg_range_ll(ctx, &ctx->argv[2], 0, LLONG_MAX, &count,
					   "ERR value is out of range, must be positive") < 0)
		return;
	if (zset_get(ctx, &ctx->argv[1], true, &e) < 0)
		return;
	if (!e || count == 0) {
		resp_add_array(ctx->out, 0);
		return;
	}
	bool nested = ctx->proto >= 3 && count != -1;
	unsigned long n = popped_len(e, count < 0 ? 1 : count);
	resp_add_array(ctx->out, (long long)(nested ? n : 2 * n));
	zpop_elems(ctx, e, max, n, nested);
}

void cmd_zpopmin(struct cmd_ctx *ctx) { zpop_generic(ctx, false); }
void cmd_zpopmax(struct cmd_ctx *ctx) { zpop_generic(ctx, true); }

/* BZPOPMIN/BZPOPMAX key [key ...] timeout: [key, member, score] from the
 * first non-empty key, or wait. */
static void bzpop_generic(struct cmd_ctx *ctx, bool max)
{
	int64_t deadline;

	if (arg_timeout(ctx, &ctx->argv[ctx->argc - 1], &deadline) < 0)
		return;
	for (int j = 1; j < ctx->argc - 1; j++) {
		struct ks_entry *e;
		if (zset_get(ctx, &ctx->argv[j], true, &e) < 0)
			return;
		if (!e || obj_zset_len(e->v.ptr, e->enc) == 0)
			continue;
		resp_add_array(ctx->out, 3);
		resp_add_bulk(ctx->out, ctx->argv[j].p, ctx->argv[j].len);
		zpop_elems(ctx, e, max, 1, false);
		return;
	}
	cmd_block(ctx, deadline, true);
}

void cmd_bzpopmin(struct cmd_ctx *ctx) { bzpop_generic(ctx, false); }
void cmd_bzpopmax(struct cmd_ctx *ctx) { bzpop_generic(ctx, true); }

/* ZMPOP numkeys key [key ...] MIN|MAX [COUNT count], and BZMPOP with a
 * timeout before numkeys (numkeys_idx 2). Replies [key, [[m, s] ...]] or
 * a null array. */
static void zmpop_generic(struct cmd_ctx *ctx, int numkeys_idx, bool block)
{
	long long numkeys, count = -1;
	bool max;
	int64_t deadline = 0;

	if (arg_range_ll(ctx, &ctx->argv[numkeys_idx], 1, LLONG_MAX, &numkeys,
			 "ERR numkeys should be greater than 0") < 0)
		return;
	if (numkeys > ctx->argc - numkeys_idx - 1) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	int where_idx = numkeys_idx + (int)numkeys + 1;
	if (where_idx >= ctx->argc) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (arg_is(&ctx->argv[where_idx], "min")) {
		max = false;
	} else if (arg_is(&ctx->argv[where_idx], "max")) {
		max = true;
	} else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	for (int j = where_idx + 1; j < ctx->argc; j++) {
		if (count == -1 && arg_is(&ctx->argv[j], "count") && j + 1 < ctx->argc) {
			j++;
			if (arg_range_ll(ctx, &ctx->argv[j], 1, LLONG_MAX, &count,
					 "ERR count should be greater than 0") < 0)
				return;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (count == -1)
		count = 1;
	if (block && arg_timeout(ctx, &ctx->argv[1], &deadline) < 0)
		return;

	for (int j = numkeys_idx + 1; j < where_idx; j++) {
		struct ks_entry *e;
		if (zset_get(ctx, &ctx->argv[j], true, &e) < 0)
			return;
		if (!e || obj_zset_len(e->v.ptr, e->enc) == 0)
			continue;
		unsigned long n = popped_len(e, count);
		resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, ctx->argv[j].p, ctx->argv[j].len);
		resp_add_array(ctx->out, (long long)n);
		zpop_elems(ctx, e, max, n, true);
		return;
	}
	if (block)
		cmd_block(ctx, deadline, true);
	else
		resp_add_null_array(ctx->out, ctx->proto);
}

void cmd_zmpop(struct cmd_ctx *ctx) { zmpop_generic(ctx, 1, false); }
void cmd_bzmpop(struct cmd_ctx *ctx) { zmpop_generic(ctx, 2, true); }

/* -------------------------------------------------------- ZRANDMEMBER */

struct rand_out {
	struct cmd_ctx *ctx;
	bool withscores;
};

static void rand_cb(void *arg, const struct obj_zset_elem *el)
{
	struct rand_out *ro = arg;
	emit_elem(ro->ctx->out, ro->ctx->proto, el->m, el->mlen, el->score, ro->withscores);
}

static uint64_t zset_rnd(void *arg)
{
	return shard_rand(arg);
}

void cmd_zrandmember(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (ctx->argc >= 3) {
		unsigned long count;
		bool withscores, unique;

		if (arg_rand_count(ctx, "withscores", &count, &unique, &withscores) < 0)
			return;
		if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
			return;
		if (!e || count == 0) {
			resp_add_array(ctx->out, 0);
			return;
		}
		unsigned long len = obj_zset_len(e->v.ptr, e->enc);
		if (unique && count > len)
			count = len;
		emit_header(ctx->out, ctx->proto, count, withscores);
		struct rand_out ro = { ctx, withscores };
		obj_zset_random_pick(e->v.ptr, e->enc, count, unique, zset_rnd, ctx->sh, rand_cb, &ro);
		return;
	}
	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	struct obj_zset_elem el;
	obj_zset_at(e->v.ptr, e->enc, shard_rand(ctx->sh) % obj_zset_len(e->v.ptr, e->enc), false,
		    &el);
	resp_add_bulk(ctx->out, el.m, el.mlen);
}

/* --------------------------------------------- ZUNION ZINTER ZDIFF &c. */

enum setop { SETOP_UNION, SETOP_INTER, SETOP_DIFF };
enum aggr { AGGR_SUM, AGGR_MIN, AGGR_MAX };

/* One input of a set operation: a zset, a set (every member scores 1), or
 * a missing key (empty). */
struct zsrc {
	const struct ks_entry *e;
	double weight;
	unsigned long len;
};

/* Iteration over any input. */
struct zsrc_iter {
	const struct zsrc *s;
	struct obj_zset_iter zi;
#if ZSET_HAVE_SETS
	struct obj_set_iter si;
#endif
};

static unsigned long zsrc_len(const struct ks_entry *e)
{
	if (!e)
		return 0;
	if (e->type == KS_ZSET)
		return obj_zset_len(e->v.ptr, e->enc);
#if ZSET_HAVE_SETS
	return obj_set_size(e->v.ptr, e->enc);
#else
	return 0;
#endif
}

static void zsrc_iter_init(struct zsrc_iter *it, const struct zsrc *s)
{
	it->s = s;
	if (!s->e)
		return;
	if (s->e->type == KS_ZSET)
		obj_zset_iter_rank(&it->zi, s->e->v.ptr, s->e->enc, 0, false);
#if ZSET_HAVE_SETS
	else
		obj_set_iter_init(&it->si, s->e->v.ptr, s->e->enc);
#endif
}

static bool zsrc_next(struct zsrc_iter *it, struct obj_zset_elem *el)
{
	const struct ks_entry *e = it->s->e;

	if (!e)
		return false;
	if (e->type == KS_ZSET)
		return obj_zset_iter_next(&it->zi, el);
#if ZSET_HAVE_SETS
	struct obj_set_elem m;
	if (!obj_set_iter_next(&it->si, &m))
		return false;
	el->m = m.p;
	el->mlen = m.len;
	el->score = 1.0;
	return true;
#else
	return false;
#endif
}

/* Score of member m in s: true and *score set if present. */
static bool zsrc_find(const struct zsrc *s, const char *m, size_t mlen, double *score)
{
	const struct ks_entry *e = s->e;

	if (!e)
		return false;
	if (e->type == KS_ZSET)
		return obj_zset_score(e->v.ptr, e->enc, m, mlen, score) == 0;
#if ZSET_HAVE_SETS
	if (!obj_set_contains(e->v.ptr, e->enc, m, mlen))
		return false;
	*score = 1.0;
	return true;
#else
	return false;
#endif
}

/* A WEIGHTS value, by Redis's getDoubleFromObject rules (as arg_double,
 * which replies its own generic text). 0 or -1. */
static int parse_weight(const struct resp_arg *a, double *v)
{
	char buf[256];
	char *end;

	if (a->len == 0 || a->len >= sizeof(buf) || isspace((unsigned char)a->p[0]))
		return -1;
	memcpy(buf, a->p, a->len);
	buf[a->len] = 0;
	errno = 0;
	double d = strtod(buf, &end);
	if (end != buf + a->len || isnan(d) ||
	    (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || d == 0)))
		return -1;
	*v = d;
	return 0;
}

static void aggregate(double *target, double val, enum aggr a)
{
	switch (a) {
	case AGGR_SUM:
		/* inf + -inf is NaN: Redis makes it 0. */
		*target += val;
		if (isnan(*target))
			*target = 0.0;
		break;
	case AGGR_MIN:
		*target = val < *target ? val : *target;
		break;
	case AGGR_MAX:
		*target = val > *target ? val : *target;
		break;
	}
}

/* The one implementation behind ZUNION ZINTER ZDIFF, ZUNIONSTORE
 * ZINTERSTORE ZDIFFSTORE and ZINTERCARD (card_only). Inputs are read from
 * numkeys_idx + 1 on; dst (NULL unless a STORE form) receives the result.
 * Parsing order and errors are Redis's: numkeys, then every input's type,
 * then the options. */
static void setop_generic(struct cmd_ctx *ctx, const struct resp_arg *dst, int numkeys_idx,
			  enum setop op, bool card_only)
{
	long long setnum;
	enum aggr agg = AGGR_SUM;
	bool withscores = false;
	long long limit = 0;
	struct zsrc *src = NULL;

	if (arg_ll(ctx, &ctx->argv[numkeys_idx], &setnum) < 0)
		return;
	if (setnum < 1) {
		resp_add_errorf(ctx->out, "ERR at least 1 input key is needed for '%s' command",
				ctx->cmd->name);
		return;
	}
	if (setnum > ctx->argc - (numkeys_idx + 1)) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	src = calloc((size_t)setnum, sizeof(*src));
	if (!src)
		abort();
	int j = numkeys_idx + 1;
	for (long long i = 0; i < setnum; i++, j++) {
		struct ks_entry *e = dst ? cmd_lookup_write(ctx, &ctx->argv[j])
					 : cmd_lookup_read(ctx, &ctx->argv[j]);
		if (e && e->type != KS_ZSET && !(ZSET_HAVE_SETS && e->type == KS_SET)) {
			resp_add_error(ctx->out, ERR_WRONGTYPE);
			goto out;
		}
		src[i].e = e;
		src[i].weight = 1.0;
		src[i].len = zsrc_len(e);
	}
	while (j < ctx->argc) {
		int remaining = ctx->argc - j;
		const struct resp_arg *a = &ctx->argv[j];
		if (op != SETOP_DIFF && !card_only && remaining >= setnum + 1 &&
		    arg_is(a, "weights")) {
			j++;
			for (long long i = 0; i < setnum; i++, j++) {
				if (parse_weight(&ctx->argv[j], &src[i].weight) < 0) {
					resp_add_error(ctx->out, "ERR weight value is not a float");
					goto out;
				}
			}
		} else if (op != SETOP_DIFF && !card_only && remaining >= 2 &&
			   arg_is(a, "aggregate")) {
			const struct resp_arg *v = &ctx->argv[j + 1];
			if (arg_is(v, "sum")) {
				agg = AGGR_SUM;
			} else if (arg_is(v, "min")) {
				agg = AGGR_MIN;
			} else if (arg_is(v, "max")) {
				agg = AGGR_MAX;
			} else {
				resp_add_error(ctx->out, ERR_SYNTAX);
				goto out;
			}
			j += 2;
		} else if (remaining >= 1 && !dst && !card_only && arg_is(a, "withscores")) {
			withscores = true;
			j++;
		} else if (card_only && remaining >= 2 && arg_is(a, "limit")) {
			if (arg_range_ll(ctx, &ctx->argv[j + 1], 0, LLONG_MAX, &limit,
					 "ERR LIMIT can't be negative") < 0)
				goto out;
			j += 2;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			goto out;
		}
	}

	/* Smallest inputs first (stable, so equal sizes keep their order):
	 * the intersection walks the smallest, and SUM adds in this order, as
	 * Redis does. DIFF keeps its first input first. */
	if (op != SETOP_DIFF) {
		for (long long i = 1; i < setnum; i++) {
			struct zsrc t = src[i];
			long long k = i - 1;
			while (k >= 0 && src[k].len > t.len) {
				src[k + 1] = src[k];
				k--;
			}
			src[k + 1] = t;
		}
	}

	struct sdict *d = sd_new(0);
	unsigned long long card = 0;
	struct zsrc_iter it;
	struct obj_zset_elem el;
	if (op == SETOP_INTER) {
		if (src[0].len > 0) {
			zsrc_iter_init(&it, &src[0]);
			while (zsrc_next(&it, &el)) {
				double score = src[0].weight * el.score, v;
				if (isnan(score))
					score = 0;
				long long k;
				for (k = 1; k < setnum; k++) {
					if (src[k].e == src[0].e) {
						/* Same key twice: no lookup needed. */
						v = el.score * src[k].weight;
					} else if (!zsrc_find(&src[k], el.m, el.mlen, &v)) {
						break;
					} else {
						v *= src[k].weight;
					}
					aggregate(&score, v, agg);
				}
				if (k < setnum)
					continue;
				if (card_only) {
					card++;
					if (limit && card >= (unsigned long long)limit)
						break;
					continue;
				}
				sd_add(d, el.m, el.mlen, NULL)->v.d = score;
			}
		}
	} else if (op == SETOP_UNION) {
		for (long long i = 0; i < setnum; i++) {
			if (!src[i].len)
				continue;
			zsrc_iter_init(&it, &src[i]);
			while (zsrc_next(&it, &el)) {
				double score = src[i].weight * el.score;
				if (isnan(score))
					score = 0;
				bool existed;
				struct sd_entry *de = sd_add(d, el.m, el.mlen, &existed);
				if (existed)
					aggregate(&de->v.d, score, agg);
				else
					de->v.d = score;
			}
		}
	} else {
		zsrc_iter_init(&it, &src[0]);
		while (zsrc_next(&it, &el)) {
			double v;
			long long k;
			for (k = 1; k < setnum; k++)
				if (src[k].e == src[0].e || zsrc_find(&src[k], el.m, el.mlen, &v))
					break;
			if (k == setnum)
				sd_add(d, el.m, el.mlen, NULL)->v.d = el.score;
		}
	}

	if (card_only) {
		sd_free(d, NULL);
		resp_add_int(ctx->out, (long long)card);
	} else if (dst) {
		store_result(ctx, dst, d);
	} else {
		/* Sorted output: build a skiplist (max_entries 0 forbids a
		 * listpack) and walk it. Redis replies from the skiplist it
		 * computed into, so a score of -0 (say -1 * WEIGHTS 0) keeps
		 * its sign; a listpack would store it as the integer 0. */
		struct obj_zset_lim lim = { .max_entries = 0, .max_value = 0 };
		uint8_t enc;
		void *z = obj_zset_from_dict(d, &lim, &enc);
		unsigned long n = obj_zset_len(z, enc);
		struct obj_zset_iter zi;
		emit_header(ctx->out, ctx->proto, n, withscores);
		obj_zset_iter_rank(&zi, z, enc, 0, false);
		while (obj_zset_iter_next(&zi, &el))
			emit_elem(ctx->out, ctx->proto, el.m, el.mlen, el.score, withscores);
		obj_zset_free(z, enc);
	}
out:
	free(src);
}

void cmd_zunion(struct cmd_ctx *ctx) { setop_generic(ctx, NULL, 1, SETOP_UNION, false); }
void cmd_zinter(struct cmd_ctx *ctx) { setop_generic(ctx, NULL, 1, SETOP_INTER, false); }
void cmd_zdiff(struct cmd_ctx *ctx) { setop_generic(ctx, NULL, 1, SETOP_DIFF, false); }
void cmd_zintercard(struct cmd_ctx *ctx) { setop_generic(ctx, NULL, 1, SETOP_INTER, true); }
void cmd_zunionstore(struct cmd_ctx *ctx)
{
	setop_generic(ctx, &ctx->argv[1], 2, SETOP_UNION, false);
}
void cmd_zinterstore(struct cmd_ctx *ctx)
{
	setop_generic(ctx, &ctx->argv[1], 2, SETOP_INTER, false);
}
void cmd_zdiffstore(struct cmd_ctx *ctx)
{
	setop_generic(ctx, &ctx->argv[1], 2, SETOP_DIFF, false);
}

/* ---------------------------------------------------------------- ZSCAN */

struct zscan_acc {
	const struct resp_arg *pat;   /* NULL: everything */
	struct rbuf body;
	unsigned long n;
};

/* A score as Redis 7.0's ZSCAN prints it, for either encoding: %.17g,
 * "inf", "-inf". */
static size_t zscan_score(char *buf, size_t cap, double d)
{
	if (isinf(d))
		return obj_zset_score_fmt(buf, d);
	int l = snprintf(buf, cap, "%.17g", d);
	return l < 0 ? 0 : (size_t)l;
}

static void zscan_cb(void *arg, const struct obj_zset_elem *el)
{
	struct zscan_acc *acc = arg;
	char buf[OBJ_ZSET_SCOREBUF];

	if (acc->pat && !srv_glob_match(acc->pat->p, acc->pat->len, el->m, el->mlen, false))
		return;
	resp_add_bulk(&acc->body, el->m, el->mlen);
	resp_add_bulk(&acc->body, buf, zscan_score(buf, sizeof(buf), el->score));
	acc->n += 2;
}

void cmd_zscan(struct cmd_ctx *ctx)
{
	uint64_t cursor;
	long long count = ZSCAN_DEFAULT_COUNT;
	struct zscan_acc acc = { 0 };
	struct ks_entry *e;

	if (cmd_parse_cursor(&ctx->argv[2], &cursor) < 0) {
		resp_add_error(ctx->out, "ERR invalid cursor");
		return;
	}
	if (zset_get(ctx, &ctx->argv[1], false, &e) < 0)
		return;
	if (!e) {
		cmd_reply_scan(ctx, 0, 0, NULL);
		return;
	}
	if (cmd_scan_opts(ctx, 3, &acc.pat, &count, NULL) < 0)
		return;
	unsigned want = count > ZSCAN_MAX_COUNT ? ZSCAN_MAX_COUNT : (unsigned)count;
	uint64_t next = obj_zset_scan(e->v.ptr, e->enc, cursor, want, zscan_cb, &acc);
	cmd_reply_scan(ctx, next, (long long)acc.n, &acc.body);
	rbuf_free(&acc.body);
}

/* ------------------------------------------------------------ key finders */

/* Keys of "<numkeys> key ..." starting at argv[nk_idx], plus optional
 * leading keys 1..lead (the STORE destination). -1 when numkeys is not a
 * positive integer that fits the request. */
static int keys_numkeys(int argc, const struct resp_arg *argv, int nk_idx, int lead, int *idx,
			int max)
{
	long long n;
	int k = 0;

	if (nk_idx >= argc || arg_to_ll(&argv[nk_idx], &n) < 0 || n < 1 ||
	    n > argc - nk_idx - 1)
		return -1;
	for (int i = 1; i <= lead; i++, k++)
		if (k < max)
			idx[k] = i;
	for (int i = 0; i < n; i++, k++)
		if (k < max)
			idx[k] = nk_idx + 1 + i;
	return k;
}

/* ZUNION ZINTER ZDIFF ZINTERCARD ZMPOP: numkeys at argv[1]. */
int zset_keys_numkeys1(int argc, const struct resp_arg *argv, int *idx, int max)
{
	return keys_numkeys(argc, argv, 1, 0, idx, max);
}

/* BZMPOP: timeout, then numkeys at argv[2]. */
int zset_keys_numkeys2(int argc, const struct resp_arg *argv, int *idx, int max)
{
	return keys_numkeys(argc, argv, 2, 0, idx, max);
}

/* ZUNIONSTORE ZINTERSTORE ZDIFFSTORE: destination, then numkeys at argv[2]. */
int zset_keys_store(int argc, const struct resp_arg *argv, int *idx, int max)
{
	return keys_numkeys(argc, argv, 2, 1, idx, max);
}
