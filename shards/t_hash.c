/* shards/t_hash.c — the hash command family.
 *
 * HSET HSETNX HGET HMGET HMSET HDEL HLEN HEXISTS HKEYS HVALS HGETALL
 * HINCRBY HINCRBYFLOAT HSTRLEN HRANDFIELD HSCAN with Redis 7 semantics,
 * replies and error texts. Every command has one key, so each handler runs
 * on the shard owning it (cmd.h). The value itself is obj_hash.h's: this
 * file only parses arguments, looks keys up, applies the thresholds from
 * the shard's config and writes replies. A key is created only when a
 * field is actually stored, and deleted when its last field goes.
 *
 * Write handlers add to ctx->dirty what they changed: HSET/HMSET every
 * pair given (as Redis, updates count), HDEL the fields removed, HSETNX
 * and the HINCRBY pair 1 when they store. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/obj_hash.h"

/* Redis's MAX_LONG_DOUBLE_CHARS: room for "%.17Lf" of any finite long
 * double, and the longest text string2ld accepts. */
#define HASH_LDBL_MAX (5 * 1024)
/* HSCAN's default COUNT and the cap on one call's work (as SCAN's). */
#define HASH_SCAN_DEFAULT_COUNT 10
#define HASH_SCAN_MAX_COUNT (1u << 24)

/* ------------------------------------------------------------ helpers */

static struct obj_hash_lim hash_lim(const struct cmd_ctx *ctx)
{
	const struct cfg *cfg = shard_cfg(ctx->sh);
	struct obj_hash_lim lim = {
		.max_entries = cfg->hash_max_listpack_entries < 0
				       ? 0 : (size_t)cfg->hash_max_listpack_entries,
		.max_value = cfg->hash_max_listpack_value < 0
				     ? 0 : (size_t)cfg->hash_max_listpack_value,
	};
	return lim;
}

/* Look key up for reading. Returns 0 with *e set (NULL if absent), or -1
 * after replying WRONGTYPE. */
static int hash_read(struct cmd_ctx *ctx, struct ks_entry **e)
{
	*e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (*e && (*e)->type != KS_HASH) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return -1;
	}
	return 0;
}

static int hash_write(struct cmd_ctx *ctx, struct ks_entry **e)
{
	*e = cmd_lookup_write(ctx, &ctx->argv[1]);
	if (*e && (*e)->type != KS_HASH) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return -1;
	}
	return 0;
}

/* The hash at argv[1], created empty if e is NULL (the caller is about to
 * store a field in it). */
static struct ks_entry *hash_create(struct cmd_ctx *ctx, struct ks_entry *e)
{
	uint8_t enc;
	void *ptr;

	if (e)
		return e;
	ptr = obj_hash_new(&enc);
	return ks_set_obj(ctx->db, ctx->argv[1].p, ctx->argv[1].len, KS_HASH, enc, ptr, false);
}

static int hash_set(struct ks_entry *e, const struct resp_arg *f, const void *v, size_t vlen,
		    const struct obj_hash_lim *lim)
{
	return obj_hash_set(&e->v.ptr, &e->enc, f->p, f->len, v, vlen, lim);
}

static bool hash_get(const struct ks_entry *e, const struct resp_arg *f,
		     struct obj_hash_str *v, char *buf)
{
	return obj_hash_get(e->v.ptr, e->enc, f->p, f->len, v, buf);
}

static void reply_str(struct cmd_ctx *ctx, const struct obj_hash_str *s)
{
	resp_add_bulk(ctx->out, s->p, s->len);
}

/* ---------------------------------------------------- HSET HMSET HSETNX */

/* HSET/HMSET key field value [field value ...]: replies the number of new
 * fields (HSET) or +OK (HMSET). */
static void hset_generic(struct cmd_ctx *ctx, bool ok_reply)
{
	struct obj_hash_lim lim = hash_lim(ctx);
	struct ks_entry *e;
	long long added = 0;

	if (ctx->argc % 2 != 0) {
		resp_add_errorf(ctx->out, "ERR wrong number of arguments for '%s' command",
				ok_reply ? "hmset" : "hset");
		return;
	}
	if (hash_write(ctx, &e) < 0)
		return;
	e = hash_create(ctx, e);
	for (int j = 2; j < ctx->argc; j += 2)
		added += hash_set(e, &ctx->argv[j], ctx->argv[j + 1].p, ctx->argv[j + 1].len, &lim);
	ctx->dirty += (ctx->argc - 2) / 2;
	if (ok_reply)
		resp_add_ok(ctx->out);
	else
		resp_add_int(ctx->out, added);
}

void cmd_hset(struct cmd_ctx *ctx)
{
	hset_generic(ctx, false);
}

void cmd_hmset(struct cmd_ctx *ctx)
{
	hset_generic(ctx, true);
}

void cmd_hsetnx(struct cmd_ctx *ctx)
{
	struct obj_hash_lim lim = hash_lim(ctx);
	struct ks_entry *e;

	if (hash_write(ctx, &e) < 0)
		return;
	if (e && obj_hash_exists(e->v.ptr, e->enc, ctx->argv[2].p, ctx->argv[2].len)) {
		resp_add_int(ctx->out, 0);
		return;
	}
	e = hash_create(ctx, e);
	hash_set(e, &ctx->argv[2], ctx->argv[3].p, ctx->argv[3].len, &lim);
	ctx->dirty++;
	resp_add_int(ctx->out, 1);
}

/* ------------------------------------------------------- simple reads */

void cmd_hget(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	struct obj_hash_str v;
	char buf[OBJ_HASH_NUMBUF];

	if (hash_read(ctx, &e) < 0)
		return;
	if (e && hash_get(e, &ctx->argv[2], &v, buf))
		reply_str(ctx, &v);
	else
		resp_add_null(ctx->out, ctx->proto);
}

void cmd_hmget(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (hash_read(ctx, &e) < 0)
		return;
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int j = 2; j < ctx->argc; j++) {
		struct obj_hash_str v;
		char buf[OBJ_HASH_NUMBUF];

		if (e && hash_get(e, &ctx->argv[j], &v, buf))
			reply_str(ctx, &v);
		else
			resp_add_null(ctx->out, ctx->proto);
	}
}

void cmd_hlen(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (hash_read(ctx, &e) < 0)
		return;
	resp_add_int(ctx->out, e ? (long long)obj_hash_len(e->v.ptr, e->enc) : 0);
}

void cmd_hexists(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (hash_read(ctx, &e) < 0)
		return;
	resp_add_int(ctx->out,
		     e && obj_hash_exists(e->v.ptr, e->enc, ctx->argv[2].p, ctx->argv[2].len));
}

void cmd_hstrlen(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	struct obj_hash_str v;
	char buf[OBJ_HASH_NUMBUF];

	if (hash_read(ctx, &e) < 0)
		return;
	resp_add_int(ctx->out, e && hash_get(e, &ctx->argv[2], &v, buf) ? (long long)v.len : 0);
}

/* --------------------------------------------------------------- HDEL */

void cmd_hdel(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	long long deleted = 0;

	if (hash_write(ctx, &e) < 0)
		return;
	if (e) {
		for (int j = 2; j < ctx->argc; j++) {
			deleted += obj_hash_del(&e->v.ptr, e->enc, ctx->argv[j].p, ctx->argv[j].len);
			if (obj_hash_len(e->v.ptr, e->enc) == 0) {
				ks_delete(ctx->db, e);
				break;
			}
		}
	}
	ctx->dirty += deleted;
	resp_add_int(ctx->out, deleted);
}

/* ----------------------------------------------- HKEYS HVALS HGETALL */

enum { HGET_KEYS = 1, HGET_VALS = 2 };

static void hgetall_generic(struct cmd_ctx *ctx, unsigned what)
{
	struct ks_entry *e;
	struct obj_hash_iter it;
	struct obj_hash_str f, v;
	unsigned long n;

	if (hash_read(ctx, &e) < 0)
		return;
	n = e ? obj_hash_len(e->v.ptr, e->enc) : 0;
	if (what == (HGET_KEYS | HGET_VALS))
		resp_add_map(ctx->out, ctx->proto, (long long)n);
	else
		resp_add_array(ctx->out, (long long)n);
	if (!e)
		return;
	obj_hash_iter_init(&it, e->v.ptr, e->enc);
	while (obj_hash_iter_next(&it, &f, &v)) {
		if (what & HGET_KEYS)
			reply_str(ctx, &f);
		if (what & HGET_VALS)
			reply_str(ctx, &v);
	}
}

void cmd_hkeys(struct cmd_ctx *ctx)
{
	hgetall_generic(ctx, HGET_KEYS);
}

void cmd_hvals(struct cmd_ctx *ctx)
{
	hgetall_generic(ctx, HGET_VALS);
}

void cmd_hgetall(struct cmd_ctx *ctx)
{
	hgetall_generic(ctx, HGET_KEYS | HGET_VALS);
}

/* ------------------------------------------------- HINCRBY HINCRBYFLOAT */

void cmd_hincrby(struct cmd_ctx *ctx)
{
	struct obj_hash_lim lim = hash_lim(ctx);
	struct ks_entry *e;
	struct obj_hash_str v;
	char buf[OBJ_HASH_NUMBUF], out[24];
	long long incr, old = 0, nv;
	size_t len;

	if (arg_ll(ctx, &ctx->argv[3], &incr) < 0 || hash_write(ctx, &e) < 0)
		return;
	if (e && hash_get(e, &ctx->argv[2], &v, buf) && !ks_str2ll(v.p, v.len, &old)) {
		resp_add_error(ctx->out, "ERR hash value is not an integer");
		return;
	}
	if (__builtin_add_overflow(old, incr, &nv)) {
		resp_add_error(ctx->out, ERR_OVERFLOW);
		return;
	}
	len = ks_ll2str(out, nv);
	e = hash_create(ctx, e);
	hash_set(e, &ctx->argv[2], out, len, &lim);
	ctx->dirty++;
	resp_add_int(ctx->out, nv);
}

/* Redis's string2ld: the whole text is one long double, no leading space,
 * shorter than HASH_LDBL_MAX, no overflow, not NaN. */
static bool hash_str2ld(const char *s, size_t len, long double *out)
{
	char buf[HASH_LDBL_MAX];
	char *end;
	long double v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (isspace((unsigned char)buf[0]))
		return false;
	errno = 0;
	v = strtold(buf, &end);
	if (end != buf + len ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) || isnan(v))
		return false;
	*out = v;
	return true;
}

void cmd_hincrbyfloat(struct cmd_ctx *ctx)
{
	struct obj_hash_lim lim = hash_lim(ctx);
	struct ks_entry *e;
	struct obj_hash_str v;
	char buf[OBJ_HASH_NUMBUF], out[CMD_LDBL_STR_MAX];
	long double incr, cur = 0;
	size_t len;

	if (arg_long_double(ctx, &ctx->argv[3], &incr) < 0)
		return;
	if (isnan(incr) || isinf(incr)) {
		resp_add_error(ctx->out, "ERR value is NaN or Infinity");
		return;
	}
	if (hash_write(ctx, &e) < 0)
		return;
	if (e && hash_get(e, &ctx->argv[2], &v, buf) && !hash_str2ld(v.p, v.len, &cur)) {
		resp_add_error(ctx->out, "ERR hash value is not a float");
		return;
	}
	cur += incr;
	if (isnan(cur) || isinf(cur)) {
		resp_add_error(ctx->out, "ERR increment would produce NaN or Infinity");
		return;
	}
	len = cmd_ld2str(out, cur);
	e = hash_create(ctx, e);
	hash_set(e, &ctx->argv[2], out, len, &lim);
	ctx->dirty++;
	resp_add_bulk(ctx->out, out, len);
}

/* ---------------------------------------------------------- HRANDFIELD */

struct hrand_out {
	struct cmd_ctx *ctx;
	bool withvalues;
};

static void hrand_emit(void *arg, const struct obj_hash_str *f, const struct obj_hash_str *v)
{
	struct hrand_out *o = arg;

	if (o->withvalues && o->ctx->proto == 3)
		resp_add_array(o->ctx->out, 2);
	reply_str(o->ctx, f);
	if (o->withvalues)
		reply_str(o->ctx, v);
}

static uint64_t hash_rnd(void *sh)
{
	return shard_rand(sh);
}

/* HRANDFIELD key [count [WITHVALUES]]
 * Without count: one field, or null. With count: an array; count >= 0
 * gives up to count distinct fields, a negative count exactly -count
 * picks with repeats. WITHVALUES pairs each field with its value (RESP3:
 * one two-element array per pick; RESP2: flat). As Redis 7.0, a count
 * outside +-LONG_MAX/2 with WITHVALUES is out of range (the reply size
 * would overflow). */
void cmd_hrandfield(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	unsigned long count, len;
	bool withvalues, unique;

	if (ctx->argc == 2) {
		struct obj_hash_str f, v;
		char fb[OBJ_HASH_NUMBUF], vb[OBJ_HASH_NUMBUF];

		if (hash_read(ctx, &e) < 0)
			return;
		if (!e) {
			resp_add_null(ctx->out, ctx->proto);
			return;
		}
		obj_hash_random(e->v.ptr, e->enc, shard_rand(ctx->sh), &f, &v, fb, vb);
		reply_str(ctx, &f);
		return;
	}

	if (arg_rand_count(ctx, "withvalues", &count, &unique, &withvalues) < 0)
		return;

	if (hash_read(ctx, &e) < 0)
		return;
	if (!e || count == 0) {
		resp_add_array(ctx->out, 0);
		return;
	}
	len = obj_hash_len(e->v.ptr, e->enc);
	if (unique && count > len)
		count = len;
	resp_add_array(ctx->out, (long long)((withvalues && ctx->proto == 2) ? count * 2 : count));

	struct hrand_out o = { .ctx = ctx, .withvalues = withvalues };

	obj_hash_random_pick(e->v.ptr, e->enc, count, unique, hash_rnd, ctx->sh, hrand_emit, &o);
}

/* --------------------------------------------------------------- HSCAN */

/* Pairs collected by a scan step, filtered by MATCH, then replied. The
 * strings are copied: listpack integers are formatted into a buffer that
 * the next pair reuses. */
struct hscan_acc {
	const struct resp_arg *pat;   /* NULL: all */
	struct rbuf items;            /* the reply's elements, ready RESP */
	long long n;
};

static void hscan_cb(void *arg, const struct obj_hash_str *f, const struct obj_hash_str *v)
{
	struct hscan_acc *a = arg;

	if (a->pat && !srv_glob_match(a->pat->p, a->pat->len, f->p, f->len, false))
		return;
	resp_add_bulk(&a->items, f->p, f->len);
	resp_add_bulk(&a->items, v->p, v->len);
	a->n += 2;
}

/* HSCAN key cursor [MATCH pattern] [COUNT count]
 * A listpack hash is returned whole with cursor 0 (COUNT is a hint). As
 * Redis: the cursor is checked first, a missing key replies an empty scan
 * before the options are looked at. */
void cmd_hscan(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	uint64_t cursor, next;
	long long count = HASH_SCAN_DEFAULT_COUNT;
	struct hscan_acc acc = { .pat = NULL };

	if (cmd_parse_cursor(&ctx->argv[2], &cursor) < 0) {
		resp_add_error(ctx->out, "ERR invalid cursor");
		return;
	}
	if (hash_read(ctx, &e) < 0)
		return;
	if (!e) {
		cmd_reply_scan(ctx, 0, 0, NULL);
		return;
	}
	if (cmd_scan_opts(ctx, 3, &acc.pat, &count, NULL) < 0)
		return;

	next = obj_hash_scan(e->v.ptr, e->enc, cursor,
			     count > HASH_SCAN_MAX_COUNT ? HASH_SCAN_MAX_COUNT : (unsigned)count,
			     hscan_cb, &acc);
	cmd_reply_scan(ctx, next, acc.n, &acc.items);
	rbuf_free(&acc.items);
}
