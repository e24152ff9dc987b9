/* shards/t_string.c — the string command family.
 *
 * Handlers for GET SET SETNX SETEX PSETEX MGET MSET MSETNX GETSET GETDEL
 * GETEX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SETRANGE
 * SUBSTR LCS, with Redis 7 semantics, replies and error texts. Each runs on
 * the shard owning every key it is given (cmd.h); a multi-key command that
 * spans shards reaches here already split, so MGET/MSET/MSETNX just loop
 * over their arguments.
 *
 * Values live in the keyspace as INT, EMBSTR or RAW strings (ks.h).
 * Commands that mutate a string in place (APPEND, SETRANGE) first turn it
 * RAW; the INCR family rewrites an INT value in place so the benchmarked
 * INCR path neither allocates nor re-links the entry. Families share one
 * generic function each (set_generic, incr_generic, getrange_generic). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "shards/cmd.h"

/* SET / GETEX option flags. */
enum {
	STRF_NX = 1u << 0,
	STRF_XX = 1u << 1,
	STRF_GET = 1u << 2,
	STRF_KEEPTTL = 1u << 3,
	STRF_PERSIST = 1u << 4,
	STRF_EX = 1u << 5,
	STRF_PX = 1u << 6,
	STRF_EXAT = 1u << 7,
	STRF_PXAT = 1u << 8,
};
#define STRF_EXPIRE (STRF_EX | STRF_PX | STRF_EXAT | STRF_PXAT)

/* Which command's option grammar parse_str_opts() applies. */
enum str_opts_for { OPTS_SET, OPTS_GETEX };

/* ------------------------------------------------------------ helpers */

static inline bool str_arg_eq(const struct resp_arg *a, const char *lit, size_t litlen)
{
	return a->len == litlen && strncasecmp(a->p, lit, litlen) == 0;
}

static inline void reply_wrongtype(struct cmd_ctx *ctx)
{
	resp_add_error(ctx->out, ERR_WRONGTYPE);
}

static inline bool reject_nonstring(struct cmd_ctx *ctx, const struct ks_entry *e)
{
	if (e->type == KS_STRING)
		return false;
	reply_wrongtype(ctx);
	return true;
}

/* Length of a string entry's value (INT: its decimal digits). */
static size_t str_len(const struct ks_entry *e)
{
	char buf[32];
	size_t len;

	if (e->enc == KS_ENC_RAW)
		return ((const struct ks_str *)e->v.ptr)->len;
	if (e->enc == KS_ENC_EMBSTR)
		return e->vlen;
	ks_str_get(e, buf, &len);
	return len;
}

/* Redis's checkStringLength: a string may not grow past proto-max-bulk-len.
 * Replies the error and returns -1 when cur + add is too big. */
static int check_str_len(struct cmd_ctx *ctx, unsigned long long cur, unsigned long long add)
{
	long long lim = shard_cfg(ctx->sh)->proto_max_bulk_len;
	unsigned long long max = lim < 0 ? 0 : (unsigned long long)lim;

	if (add > max || cur > max - add) {
		resp_add_error(ctx->out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
		return -1;
	}
	return 0;
}

/* Parse the options of SET (from argv[3]) or GETEX (from argv[2]) into
 * *flags and the expiry argument *exp_arg (NULL if none). The grammar is
 * Redis 7's: NX/XX exclude each other; GET and KEEPTTL only for SET,
 * PERSIST only for GETEX; at most one kind of expiry, which excludes
 * KEEPTTL and PERSIST (repeating the same kind is allowed, the last value
 * wins); an expiry keyword needs a following argument. Replies
 * "ERR syntax error" and returns -1 on anything else. */
static int parse_str_opts(struct cmd_ctx *ctx, int first, enum str_opts_for which,
			  unsigned *flags, const struct resp_arg **exp_arg)
{
	unsigned f = 0;
	const struct resp_arg *exp = NULL;

	for (int j = first; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		bool has_next = j + 1 < ctx->argc;
		unsigned kind = 0;

		if (which == OPTS_SET && str_arg_eq(a, "NX", 2) && !(f & STRF_XX)) {
			f |= STRF_NX;
		} else if (which == OPTS_SET && str_arg_eq(a, "XX", 2) && !(f & STRF_NX)) {
			f |= STRF_XX;
		} else if (which == OPTS_SET && str_arg_eq(a, "GET", 3)) {
			f |= STRF_GET;
		} else if (which == OPTS_SET && str_arg_eq(a, "KEEPTTL", 7) &&
			   !(f & (STRF_PERSIST | STRF_EXPIRE))) {
			f |= STRF_KEEPTTL;
		} else if (which == OPTS_GETEX && str_arg_eq(a, "PERSIST", 7) &&
			   !(f & (STRF_KEEPTTL | STRF_EXPIRE))) {
			f |= STRF_PERSIST;
		} else {
			if (str_arg_eq(a, "EX", 2))
				kind = STRF_EX;
			else if (str_arg_eq(a, "PX", 2))
				kind = STRF_PX;
			else if (str_arg_eq(a, "EXAT", 4))
				kind = STRF_EXAT;
			else if (str_arg_eq(a, "PXAT", 4))
				kind = STRF_PXAT;
			if (!kind || !has_next ||
			    (f & (STRF_KEEPTTL | STRF_PERSIST | (STRF_EXPIRE & ~kind)))) {
				resp_add_error(ctx->out, ERR_SYNTAX);
				return -1;
			}
			f |= kind;
			exp = &ctx->argv[++j];
		}
	}
	*flags = f;
	*exp_arg = exp;
	return 0;
}

/* Turn an expiry argument into an absolute unix time in ms. kind is one of
 * STRF_EX/PX/EXAT/PXAT; cmdname goes into the error text. Non-integers get
 * ERR_NOTINT; values <= 0 and anything that overflows on the way to
 * absolute milliseconds get "ERR invalid expire time in '<cmd>' command".
 * Replies the error and returns -1 on failure. */
static int expire_to_abs_ms(struct cmd_ctx *ctx, const struct resp_arg *a, unsigned kind,
			    const char *cmdname, int64_t *when_ms)
{
	long long v;
	bool secs = kind & (STRF_EX | STRF_EXAT);

	if (arg_ll(ctx, a, &v) < 0)
		return -1;
	if (v <= 0 || (secs && v > LLONG_MAX / 1000))
		goto bad;
	if (secs)
		v *= 1000;
	if (kind & (STRF_EX | STRF_PX)) {
		if (v > INT64_MAX - ctx->now_ms)
			goto bad;
		v += ctx->now_ms;
	}
	*when_ms = v;
	return 0;
bad:
	resp_add_errorf(ctx->out, "ERR invalid expire time in '%s' command", cmdname);
	return -1;
}

/* ------------------------------------------------------ GET and SET */

void cmd_get(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);

	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (e->type != KS_STRING) {
		reply_wrongtype(ctx);
		return;
	}
	cmd_reply_str(ctx, e);
}

/* The one implementation behind SET, SETNX, SETEX and PSETEX.
 * exp_arg (may be NULL) is validated before anything else happens. With
 * STRF_GET the old value (or null) is the reply, and a non-string old value
 * aborts with WRONGTYPE. An NX/XX condition that fails replies `abort_int`
 * as an integer when it is >= 0 (SETNX's 0), else null; success replies
 * `ok_int` as an integer when >= 0 (SETNX's 1), else +OK. */
static void set_generic(struct cmd_ctx *ctx, unsigned flags, const struct resp_arg *key,
			const struct resp_arg *val, const struct resp_arg *exp_arg,
			const char *cmdname, int ok_int, int abort_int)
{
	int64_t when_ms = KS_NO_EXPIRE;
	struct ks_entry *e = NULL;

	if (exp_arg &&
	    expire_to_abs_ms(ctx, exp_arg, flags & STRF_EXPIRE, cmdname, &when_ms) < 0)
		return;

	/* A key that is expired but not yet reaped must be gone before KEEPTTL
	 * looks at its TTL, so every conditional form looks it up first; plain
	 * SET overwrites without a separate lookup. With GET the lookup is a
	 * read (it counts a keyspace hit or miss, as in Redis). */
	if (flags & (STRF_NX | STRF_XX | STRF_GET | STRF_KEEPTTL)) {
		e = (flags & STRF_GET) ? cmd_lookup_read(ctx, key) : cmd_lookup_write(ctx, key);
		if (flags & STRF_GET) {
			if (e && reject_nonstring(ctx, e))
				return;
			if (e)
				cmd_reply_str(ctx, e);
			else
				resp_add_null(ctx->out, ctx->proto);
		}
		if ((flags & STRF_NX && e) || (flags & STRF_XX && !e)) {
			if (flags & STRF_GET)
				return;
			if (abort_int >= 0)
				resp_add_int(ctx->out, abort_int);
			else
				resp_add_null(ctx->out, ctx->proto);
			return;
		}
	}

	e = ks_set_str(ctx->db, key->p, key->len, val->p, val->len,
		       (flags & STRF_KEEPTTL) != 0);
	if (when_ms != KS_NO_EXPIRE)
		ks_set_expire(ctx->db, e, when_ms);
	ctx->dirty++;

	if (flags & STRF_GET)
		return;
	if (ok_int >= 0)
		resp_add_int(ctx->out, ok_int);
	else
		resp_add_ok(ctx->out);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] */
void cmd_set(struct cmd_ctx *ctx)
{
	unsigned flags = 0;
	const struct resp_arg *exp = NULL;

	if (ctx->argc > 3 && parse_str_opts(ctx, 3, OPTS_SET, &flags, &exp) < 0)
		return;
	set_generic(ctx, flags, &ctx->argv[1], &ctx->argv[2], exp, "set", -1, -1);
}

void cmd_setnx(struct cmd_ctx *ctx)
{
	set_generic(ctx, STRF_NX, &ctx->argv[1], &ctx->argv[2], NULL, "setnx", 1, 0);
}

/* SETEX key seconds value */
void cmd_setex(struct cmd_ctx *ctx)
{
	set_generic(ctx, STRF_EX, &ctx->argv[1], &ctx->argv[3], &ctx->argv[2], "setex", -1, -1);
}

/* PSETEX key milliseconds value */
void cmd_psetex(struct cmd_ctx *ctx)
{
	set_generic(ctx, STRF_PX, &ctx->argv[1], &ctx->argv[3], &ctx->argv[2], "psetex", -1, -1);
}

/* ------------------------------------------------------ multi-key */

void cmd_mget(struct cmd_ctx *ctx)
{
	resp_add_array(ctx->out, ctx->argc - 1);
	for (int j = 1; j < ctx->argc; j++) {
		struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[j]);

		if (e && e->type == KS_STRING)
			cmd_reply_str(ctx, e);
		else
			resp_add_null(ctx->out, ctx->proto);
	}
}

/* Store every key/value pair of argv[1..]; the TTLs of old keys are
 * cleared as by SET. The pair count was checked by the caller. */
static void mset_pairs(struct cmd_ctx *ctx)
{
	for (int j = 1; j + 1 < ctx->argc; j += 2) {
		const struct resp_arg *k = &ctx->argv[j], *v = &ctx->argv[j + 1];

		ks_set_str(ctx->db, k->p, k->len, v->p, v->len, false);
		ctx->dirty++;
	}
}

void cmd_mset(struct cmd_ctx *ctx)
{
	if (ctx->argc % 2 == 0) {
		resp_add_error(ctx->out, "ERR wrong number of arguments for 'mset' command");
		return;
	}
	mset_pairs(ctx);
	resp_add_ok(ctx->out);
}

/* Single-shard MSETNX: all keys are local (the cross-shard form is the
 * coordinator in xshard.c). Sets nothing if any key exists. */
void cmd_msetnx(struct cmd_ctx *ctx)
{
	if (ctx->argc % 2 == 0) {
		resp_add_error(ctx->out, "ERR wrong number of arguments for 'msetnx' command");
		return;
	}
	for (int j = 1; j < ctx->argc; j += 2) {
		if (cmd_lookup_write(ctx, &ctx->argv[j])) {
			resp_add_int(ctx->out, 0);
			return;
		}
	}
	mset_pairs(ctx);
	resp_add_int(ctx->out, 1);
}

/* ------------------------------------------------- GETSET GETDEL GETEX */

void cmd_getset(struct cmd_ctx *ctx)
{
	set_generic(ctx, STRF_GET, &ctx->argv[1], &ctx->argv[2], NULL, "getset", -1, -1);
}

/* GETDEL and GETEX count keyspace hits/misses like GET (Redis does). */
void cmd_getdel(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);

	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (reject_nonstring(ctx, e))
		return;
	cmd_reply_str(ctx, e);   /* copied into the reply before the free */
	ks_delete(ctx->db, e);
	ctx->dirty++;
}

/* GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
 * As Redis: a missing key is null even when the expiry is invalid; the
 * expiry is validated only once the key is known to be a string. An
 * absolute time already in the past deletes the key (after replying). */
void cmd_getex(struct cmd_ctx *ctx)
{
	unsigned flags = 0;
	const struct resp_arg *exp = NULL;
	int64_t when_ms = KS_NO_EXPIRE;
	struct ks_entry *e;

	if (ctx->argc > 2 && parse_str_opts(ctx, 2, OPTS_GETEX, &flags, &exp) < 0)
		return;
	e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (reject_nonstring(ctx, e))
		return;
	if (exp && expire_to_abs_ms(ctx, exp, flags & STRF_EXPIRE, "getex", &when_ms) < 0)
		return;
	cmd_reply_str(ctx, e);

	if ((flags & (STRF_EXAT | STRF_PXAT)) && when_ms <= ctx->now_ms) {
		ks_delete(ctx->db, e);
		ctx->dirty++;
	} else if (exp) {
		ks_set_expire(ctx->db, e, when_ms);
		ctx->dirty++;
	} else if ((flags & STRF_PERSIST) && e->expire_ms != KS_NO_EXPIRE) {
		ks_persist(ctx->db, e);
		ctx->dirty++;
	}
}

/* ------------------------------------------------- APPEND STRLEN */

void cmd_append(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1], *val = &ctx->argv[2];
	struct ks_entry *e = cmd_lookup_write(ctx, key);
	struct ks_str *s;
	size_t cur;

	if (!e) {
		/* A new key is stored like SET stores it (may become INT). */
		ks_set_str(ctx->db, key->p, key->len, val->p, val->len, false);
		ctx->dirty++;
		resp_add_int(ctx->out, (long long)val->len);
		return;
	}
	if (reject_nonstring(ctx, e))
		return;
	cur = str_len(e);
	if (check_str_len(ctx, cur, val->len) < 0)
		return;
	s = ks_str_make_raw(e, cur + val->len);
	memcpy(s->buf + s->len, val->p, val->len);
	s->len += val->len;
	s->buf[s->len] = '\0';
	ctx->dirty++;
	resp_add_int(ctx->out, (long long)s->len);
}

void cmd_strlen(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);

	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (reject_nonstring(ctx, e))
		return;
	resp_add_int(ctx->out, (long long)str_len(e));
}

/* ------------------------------------------------------- INCR family */

/* Add delta to the integer at key (missing: 0). The TTL is kept. An INT
 * entry is updated in place; any other string must be a canonical integer
 * (Redis's string2ll rules) and is replaced by an INT entry. */
static void incr_generic(struct cmd_ctx *ctx, long long delta)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct ks_entry *e = cmd_lookup_write(ctx, key);
	long long old = 0, nv;

	if (e) {
		if (e->type != KS_STRING) {
			reply_wrongtype(ctx);
			return;
		}
		if (e->enc == KS_ENC_INT) {
			old = e->v.i;
		} else {
			char buf[32];
			size_t len;
			const char *p = ks_str_get(e, buf, &len);

			if (!ks_str2ll(p, len, &old)) {
				resp_add_error(ctx->out, ERR_NOTINT);
				return;
			}
		}
	}
	if (__builtin_add_overflow(old, delta, &nv)) {
		resp_add_error(ctx->out, ERR_OVERFLOW);
		return;
	}
	if (e && e->enc == KS_ENC_INT)
		e->v.i = nv;
	else
		ks_set_int(ctx->db, key->p, key->len, nv, true);
	ctx->dirty++;
	resp_add_int(ctx->out, nv);
}

void cmd_incr(struct cmd_ctx *ctx)
{
	incr_generic(ctx, 1);
}

void cmd_decr(struct cmd_ctx *ctx)
{
	incr_generic(ctx, -1);
}

void cmd_incrby(struct cmd_ctx *ctx)
{
	long long by;

	if (arg_ll(ctx, &ctx->argv[2], &by) < 0)
		return;
	incr_generic(ctx, by);
}

void cmd_decrby(struct cmd_ctx *ctx)
{
	long long by;

	if (arg_ll(ctx, &ctx->argv[2], &by) < 0)
		return;
	if (by == LLONG_MIN) {   /* -by is not representable */
		resp_add_error(ctx->out, "ERR decrement would overflow");
		return;
	}
	incr_generic(ctx, -by);
}

/* INCRBYFLOAT key increment: long double arithmetic; the result is stored
 * (and replied, as a bulk string) in its human decimal form; TTL kept. */
void cmd_incrbyfloat(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct ks_entry *e = cmd_lookup_write(ctx, key);
	long double cur = 0, by;
	char out[CMD_LDBL_STR_MAX];
	size_t len;

	if (e) {
		if (e->type != KS_STRING) {
			reply_wrongtype(ctx);
			return;
		}
		if (e->enc == KS_ENC_INT) {
			cur = (long double)e->v.i;
		} else {
			struct resp_arg va;
			char buf[32];

			va.p = ks_str_get(e, buf, &va.len);
			if (arg_long_double(ctx, &va, &cur) < 0)
				return;
		}
	}
	if (arg_long_double(ctx, &ctx->argv[2], &by) < 0)
		return;
	cur += by;
	if (isnan(cur) || isinf(cur)) {
		resp_add_error(ctx->out, "ERR increment would produce NaN or Infinity");
		return;
	}
	len = cmd_ld2str(out, cur);
	ks_set_str_noint(ctx->db, key->p, key->len, out, len, true);
	ctx->dirty++;
	resp_add_bulk(ctx->out, out, len);
}

/* --------------------------------------------- GETRANGE SETRANGE SUBSTR */

/* GETRANGE/SUBSTR key start end: inclusive, negative indexes count from
 * the end, clamped to the string; an empty range (or a missing key) is an
 * empty bulk string. Indexes are validated before the key is looked at. */
static void getrange_generic(struct cmd_ctx *ctx)
{
	long long start, end, slen;
	struct ks_entry *e;
	char buf[32];
	size_t len;
	const char *p;

	if (arg_ll(ctx, &ctx->argv[2], &start) < 0 || arg_ll(ctx, &ctx->argv[3], &end) < 0)
		return;
	e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_bulk(ctx->out, "", 0);
		return;
	}
	if (reject_nonstring(ctx, e))
		return;
	p = ks_str_get(e, buf, &len);
	slen = (long long)len;

	if (start < 0 && end < 0 && start > end) {
		resp_add_bulk(ctx->out, "", 0);
		return;
	}
	if (start < 0)
		start += slen;
	if (end < 0)
		end += slen;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= slen)
		end = slen - 1;
	if (slen == 0 || start > end)
		resp_add_bulk(ctx->out, "", 0);
	else
		resp_add_bulk(ctx->out, p + start, (size_t)(end - start + 1));
}

void cmd_getrange(struct cmd_ctx *ctx)
{
	getrange_generic(ctx);
}

void cmd_substr(struct cmd_ctx *ctx)
{
	getrange_generic(ctx);
}

/* SETRANGE key offset value: overwrite from offset, zero-padding a gap;
 * replies the new length. An empty value changes nothing (and creates no
 * key); it replies the current length (0 for a missing key) without the
 * size check. */
void cmd_setrange(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1], *val = &ctx->argv[3];
	struct ks_entry *e;
	struct ks_str *s;
	long long off;
	size_t olen, newlen;

	if (arg_ll(ctx, &ctx->argv[2], &off) < 0)
		return;
	if (off < 0) {
		resp_add_error(ctx->out, "ERR offset is out of range");
		return;
	}
	e = cmd_lookup_write(ctx, key);
	if (e && reject_nonstring(ctx, e))
		return;
	olen = e ? str_len(e) : 0;
	if (val->len == 0) {
		resp_add_int(ctx->out, (long long)olen);
		return;
	}
	if (check_str_len(ctx, (unsigned long long)off, val->len) < 0)
		return;
	if (!e)
		e = ks_set_str(ctx->db, key->p, key->len, "", 0, false);

	newlen = (size_t)off + val->len;
	if (newlen < olen)
		newlen = olen;
	s = ks_str_make_raw(e, newlen);
	if ((size_t)off > s->len)
		memset(s->buf + s->len, 0, (size_t)off - s->len);
	memcpy(s->buf + off, val->p, val->len);
	s->len = newlen;
	s->buf[newlen] = '\0';
	ctx->dirty++;
	resp_add_int(ctx->out, (long long)newlen);
}

/* ------------------------------------------------------------------ LCS */

/* One maximal common run found while walking back through the table. */
struct lcs_run {
	uint32_t a0, a1, b0, b1;   /* inclusive ranges in a and b */
};

/* Walk the LCS table back from (alen, blen) and collect the common
 * characters (into res, filled from the end, if res != NULL) and the
 * maximal contiguous runs, newest-first, keeping those at least minlen
 * long (into runs, if not NULL). Returns the number of runs kept.
 * On a mismatch the walk steps back in `a` only when that keeps a strictly
 * longer LCS, else in `b`: that choice fixes which of several equally long
 * answers is reported, and matches Redis. */
static uint32_t lcs_walk(const uint32_t *dp, const char *a, uint32_t alen, const char *b,
			 uint32_t blen, char *res, long long minlen, struct lcs_run *runs)
{
	uint32_t i = alen, j = blen, k = dp[(size_t)alen * (blen + 1) + blen];
	uint32_t nruns = 0;
	bool open = false;
	struct lcs_run cur = {0, 0, 0, 0};

	while (i > 0 && j > 0) {
		if (a[i - 1] == b[j - 1]) {
			if (res)
				res[--k] = a[i - 1];
			if (!open) {
				cur.a1 = i - 1;
				cur.b1 = j - 1;
				open = true;
			}
			cur.a0 = i - 1;   /* consecutive matches extend the run */
			cur.b0 = j - 1;
			i--;
			j--;
			if (i > 0 && j > 0)
				continue;
		} else {
			if (dp[(size_t)(i - 1) * (blen + 1) + j] > dp[(size_t)i * (blen + 1) + j - 1])
				i--;
			else
				j--;
		}
		if (open) {
			if ((long long)(cur.a1 - cur.a0 + 1) >= minlen) {
				if (runs)
					runs[nruns] = cur;
				nruns++;
			}
			open = false;
		}
	}
	return nruns;
}

static void lcs_reply_run(struct cmd_ctx *ctx, const struct lcs_run *r, bool withlen)
{
	resp_add_array(ctx->out, withlen ? 3 : 2);
	resp_add_array(ctx->out, 2);
	resp_add_int(ctx->out, r->a0);
	resp_add_int(ctx->out, r->a1);
	resp_add_array(ctx->out, 2);
	resp_add_int(ctx->out, r->b0);
	resp_add_int(ctx->out, r->b1);
	if (withlen)
		resp_add_int(ctx->out, (long long)(r->a1 - r->a0 + 1));
}

/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]
 * Missing keys are empty strings. The O(alen*blen) table is bounded by
 * proto-max-bulk-len bytes, as in Redis. */
void cmd_lcs(struct cmd_ctx *ctx)
{
	struct ks_entry *ea = cmd_lookup_read(ctx, &ctx->argv[1]);
	struct ks_entry *eb = cmd_lookup_read(ctx, &ctx->argv[2]);
	bool getlen = false, getidx = false, withlen = false;
	long long minlen = 0;
	char abuf[32], bbuf[32];
	const char *a = "", *b = "";
	size_t alen = 0, blen = 0;
	unsigned long long cells, bytes;
	uint32_t *dp = NULL;
	char *res = NULL;
	struct lcs_run *runs = NULL;
	uint32_t lcslen;

	if ((ea && ea->type != KS_STRING) || (eb && eb->type != KS_STRING)) {
		resp_add_error(ctx->out, "ERR The specified keys must contain string values");
		return;
	}
	for (int j = 3; j < ctx->argc; j++) {
		const struct resp_arg *o = &ctx->argv[j];

		if (arg_is(o, "IDX")) {
			getidx = true;
		} else if (arg_is(o, "LEN")) {
			getlen = true;
		} else if (arg_is(o, "WITHMATCHLEN")) {
			withlen = true;
		} else if (arg_is(o, "MINMATCHLEN") && j + 1 < ctx->argc) {
			if (arg_ll(ctx, &ctx->argv[++j], &minlen) < 0)
				return;
			if (minlen < 0)
				minlen = 0;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (getidx && getlen) {
		resp_add_error(ctx->out, "ERR If you want both the length and indexes, please just use IDX.");
		return;
	}
	if (ea)
		a = ks_str_get(ea, abuf, &alen);
	if (eb)
		b = ks_str_get(eb, bbuf, &blen);
	if (alen >= UINT32_MAX - 1 || blen >= UINT32_MAX - 1) {
		resp_add_error(ctx->out, "ERR String too long for LCS");
		return;
	}
	cells = (unsigned long long)(alen + 1) * (blen + 1);
	if (__builtin_mul_overflow(cells, sizeof(uint32_t), &bytes) || bytes >= SIZE_MAX)
		goto oom;
	if (bytes > (unsigned long long)shard_cfg(ctx->sh)->proto_max_bulk_len) {
		resp_add_error(ctx->out, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
		return;
	}
	dp = malloc(bytes);
	if (!dp)
		goto oom;

	/* dp[i][j] = LCS length of a[0..i) and b[0..j). */
	for (size_t j = 0; j <= blen; j++)
		dp[j] = 0;
	for (size_t i = 1; i <= alen; i++) {
		uint32_t *row = dp + i * (blen + 1), *up = row - (blen + 1);

		row[0] = 0;
		for (size_t j = 1; j <= blen; j++) {
			if (a[i - 1] == b[j - 1])
				row[j] = up[j - 1] + 1;
			else
				row[j] = up[j] > row[j - 1] ? up[j] : row[j - 1];
		}
	}
	lcslen = dp[cells - 1];

	if (getlen) {
		resp_add_int(ctx->out, lcslen);
	} else if (!getidx) {
		res = malloc(lcslen ? lcslen : 1);
		if (!res)
			goto oom;
		lcs_walk(dp, a, (uint32_t)alen, b, (uint32_t)blen, res, 0, NULL);
		resp_add_bulk(ctx->out, res, lcslen);
	} else {
		/* Runs are at most one per common character. */
		uint32_t n;

		runs = malloc(sizeof(*runs) * (lcslen ? lcslen : 1));
		if (!runs)
			goto oom;
		n = lcs_walk(dp, a, (uint32_t)alen, b, (uint32_t)blen, NULL, minlen, runs);
		resp_add_map(ctx->out, ctx->proto, 2);
		resp_add_bulk_cstr(ctx->out, "matches");
		resp_add_array(ctx->out, n);
		for (uint32_t r = 0; r < n; r++)
			lcs_reply_run(ctx, &runs[r], withlen);
		resp_add_bulk_cstr(ctx->out, "len");
		resp_add_int(ctx->out, lcslen);
	}
	goto out;
oom:
	resp_add_error(ctx->out, "ERR Insufficient memory, failed allocating transient memory for LCS");
out:
	free(runs);
	free(res);
	free(dp);
}
