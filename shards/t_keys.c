/* shards/t_keys.c — the generic key commands (DEL EXISTS TYPE EXPIRE* TTL*
 * PERSIST RENAME* COPY KEYS SCAN RANDOMKEY DBSIZE FLUSH* SWAPDB TOUCH OBJECT).
 *
 * Every handler here is the per-shard part of its command: the loop gives
 * it only keys this shard owns. Multi-key counters (DEL UNLINK EXISTS TOUCH)
 * count over their own argv and the loop sums the parts; broadcast commands
 * (KEYS DBSIZE FLUSHDB FLUSHALL SWAPDB RANDOMKEY) do the local share and the
 * loop merges; RENAME/RENAMENX/COPY run here only when both keys live on
 * this shard (xshard.c coordinates the other case). SCAN walks the shards
 * one after another: the cursor carries the shard in its low "digit"
 * (cursor = dict_cursor * nshards + shard, see cmd.h).
 *
 * Replies and error texts are Redis 7.0's, byte for byte. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "server/server.h"
#include "shards/cmd.h"
#include "shards/ks.h"

#define ERR_SAMEOBJ "ERR source and destination objects are the same"
#define ERR_NOLFU "ERR An LFU maxmemory policy is not selected, access frequency " \
	"not tracked. Please note that when switching between policies at runtime " \
	"LRU and LFU data will take some time to adjust."

/* Redis shares the integer objects 0..9999 and reports their refcount as
 * OBJ_SHARED_REFCOUNT (INT_MAX); clients see that through OBJECT REFCOUNT. */
#define KEYS_SHARED_INTEGERS 10000
#define KEYS_SHARED_REFCOUNT 2147483647LL

/* SCAN's default COUNT and the cap on what one call may ask ks_scan for,
 * so a silly COUNT cannot turn one call into an unbounded walk. */
#define KEYS_SCAN_DEFAULT_COUNT 10
#define KEYS_SCAN_MAX_COUNT (1u << 24)

static const char *const keys_type_names[KS_NTYPES] = {
	[KS_STRING] = "string", [KS_LIST] = "list", [KS_SET] = "set",
	[KS_ZSET] = "zset", [KS_HASH] = "hash", [KS_STREAM] = "stream",
};

static const char *keys_type_name(const struct ks_entry *e)
{
	return e->type < KS_NTYPES ? keys_type_names[e->type] : "unknown";
}

static bool keys_is_expired(const struct ks_entry *e, int64_t now_ms)
{
	return e->expire_ms != KS_NO_EXPIRE && e->expire_ms <= now_ms;
}

/* A growable array of entry pointers, on the stack while small. Used by the
 * commands that must collect before they can write the array header. */
#define KEYS_VEC_INLINE 64

struct keys_vec {
	struct ks_entry **v;
	size_t n, cap;
	struct ks_entry *inl[KEYS_VEC_INLINE];
};

static void keys_vec_init(struct keys_vec *kv)
{
	kv->v = kv->inl;
	kv->n = 0;
	kv->cap = KEYS_VEC_INLINE;
}

static void keys_vec_push(struct keys_vec *kv, struct ks_entry *e)
{
	if (kv->n == kv->cap) {
		size_t ncap = kv->cap * 2;
		struct ks_entry **nv;
		if (kv->v == kv->inl) {
			nv = malloc(ncap * sizeof(*nv));
			if (nv)
				memcpy(nv, kv->inl, kv->n * sizeof(*nv));
		} else {
			nv = realloc(kv->v, ncap * sizeof(*nv));
		}
		/* As rbuf growth: a reply we cannot build cannot be sent. */
		if (!nv)
			abort();
		kv->v = nv;
		kv->cap = ncap;
	}
	kv->v[kv->n++] = e;
}

static void keys_vec_free(struct keys_vec *kv)
{
	if (kv->v != kv->inl)
		free(kv->v);
	keys_vec_init(kv);
}

/* Parse a non-negative "int" DB index as Redis's getIntFromObject does:
 * strict integer syntax, within int range. 0 ok, -1 bad syntax/range. */
static int keys_parse_int(const struct resp_arg *a, int *v)
{
	long long ll;
	if (arg_to_ll(a, &ll) != 0 || ll < INT_MIN || ll > INT_MAX)
		return -1;
	*v = (int)ll;
	return 0;
}

/* ------------------------------------------------ DEL UNLINK EXISTS TOUCH */

static void keys_del_generic(struct cmd_ctx *ctx)
{
	long long deleted = 0;
	for (int j = 1; j < ctx->argc; j++)
		deleted += ks_delete_key(ctx->db, ctx->argv[j].p, ctx->argv[j].len,
					 ctx->now_ms);
	ctx->dirty += deleted;
	resp_add_int(ctx->out, deleted);
}

void cmd_del(struct cmd_ctx *ctx)
{
	keys_del_generic(ctx);
}

/* Values are freed on the spot: there is no lazy-free thread, and the
 * work per key is the same as DEL's. */
void cmd_unlink(struct cmd_ctx *ctx)
{
	keys_del_generic(ctx);
}

/* EXISTS does not refresh the access time (Redis: LOOKUP_NOTOUCH); a key
 * named twice counts twice. */
void cmd_exists(struct cmd_ctx *ctx)
{
	long long n = 0;
	for (int j = 1; j < ctx->argc; j++)
		if (ks_find(ctx->db, ctx->argv[j].p, ctx->argv[j].len, ctx->now_ms))
			n++;
	resp_add_int(ctx->out, n);
}

void cmd_touch(struct cmd_ctx *ctx)
{
	long long n = 0;
	for (int j = 1; j < ctx->argc; j++)
		if (cmd_lookup_read(ctx, &ctx->argv[j]))
			n++;
	resp_add_int(ctx->out, n);
}

void cmd_type(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = ks_find(ctx->db, ctx->argv[1].p, ctx->argv[1].len,
					   ctx->now_ms);
	resp_add_simple(ctx->out, e ? keys_type_name(e) : "none");
}

/* ------------------------------------------------------------- EXPIRE* */

#define EXP_NX (1u << 0)
#define EXP_XX (1u << 1)
#define EXP_GT (1u << 2)
#define EXP_LT (1u << 3)

/* EXPIRE/PEXPIRE (basetime = now) and EXPIREAT/PEXPIREAT (basetime = 0).
 * Checks in Redis's order: options, then the number, then overflow of the
 * unit conversion and of the addition, then the key. A time not in the
 * future deletes the key and still answers 1. */
static void keys_expire_generic(struct cmd_ctx *ctx, long long basetime_ms, bool seconds)
{
	unsigned flags = 0;
	long long when;

	for (int j = 3; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		if (arg_is(a, "nx")) {
			flags |= EXP_NX;
		} else if (arg_is(a, "xx")) {
			flags |= EXP_XX;
		} else if (arg_is(a, "gt")) {
			flags |= EXP_GT;
		} else if (arg_is(a, "lt")) {
			flags |= EXP_LT;
		} else {
			resp_add_errorf(ctx->out, "ERR Unsupported option %.*s",
					(int)a->len, a->p);
			return;
		}
	}
	if ((flags & EXP_NX) && (flags & (EXP_XX | EXP_GT | EXP_LT))) {
		resp_add_error(ctx->out, "ERR NX and XX, GT or LT options at the same "
			       "time are not compatible");
		return;
	}
	if ((flags & EXP_GT) && (flags & EXP_LT)) {
		resp_add_error(ctx->out, "ERR GT and LT options at the same time are "
			       "not compatible");
		return;
	}
	if (arg_ll(ctx, &ctx->argv[2], &when) != 0)
		return;
	if (seconds) {
		if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)
			goto bad_time;
		when *= 1000;
	}
	if (when > LLONG_MAX - basetime_ms)
		goto bad_time;
	when += basetime_ms;

	struct ks_entry *e = cmd_lookup_write(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (flags) {
		long long cur = e->expire_ms;   /* KS_NO_EXPIRE (-1): never */
		if ((flags & EXP_NX) && cur != KS_NO_EXPIRE)
			goto no;
		if ((flags & EXP_XX) && cur == KS_NO_EXPIRE)
			goto no;
		/* No expiry counts as an infinite TTL for GT and LT. */
		if ((flags & EXP_GT) && (cur == KS_NO_EXPIRE || when <= cur))
			goto no;
		if ((flags & EXP_LT) && cur != KS_NO_EXPIRE && when >= cur)
			goto no;
	}
	if (when <= ctx->now_ms)
		ks_delete(ctx->db, e);
	else
		ks_set_expire(ctx->db, e, when);
	ctx->dirty++;
	resp_add_int(ctx->out, 1);
	return;
no:
	resp_add_int(ctx->out, 0);
	return;
bad_time:
	/* Redis names the command as typed in its table (lower case). */
	resp_add_errorf(ctx->out, "ERR invalid expire time in '%s' command",
			ctx->cmd ? ctx->cmd->name : "expire");
}

void cmd_expire(struct cmd_ctx *ctx)
{
	keys_expire_generic(ctx, ctx->now_ms, true);
}

void cmd_pexpire(struct cmd_ctx *ctx)
{
	keys_expire_generic(ctx, ctx->now_ms, false);
}

void cmd_expireat(struct cmd_ctx *ctx)
{
	keys_expire_generic(ctx, 0, true);
}

void cmd_pexpireat(struct cmd_ctx *ctx)
{
	keys_expire_generic(ctx, 0, false);
}

/* TTL PTTL EXPIRETIME PEXPIRETIME: -2 missing, -1 no expiry; seconds are
 * rounded to nearest as Redis does ((ms + 500) / 1000). */
static void keys_ttl_generic(struct cmd_ctx *ctx, bool output_ms, bool output_abs)
{
	const struct ks_entry *e = ks_find(ctx->db, ctx->argv[1].p, ctx->argv[1].len,
					   ctx->now_ms);
	if (!e) {
		resp_add_int(ctx->out, -2);
		return;
	}
	if (e->expire_ms == KS_NO_EXPIRE) {
		resp_add_int(ctx->out, -1);
		return;
	}
	long long t = output_abs ? e->expire_ms : e->expire_ms - ctx->now_ms;
	if (t < 0)
		t = 0;
	/* (t + 500) / 1000 rounded as Redis answers it, without overflowing
	 * for expiries near INT64_MAX (t >= 0 here). */
	resp_add_int(ctx->out, output_ms ? t : t / 1000 + (t % 1000 + 500) / 1000);
}

void cmd_ttl(struct cmd_ctx *ctx)
{
	keys_ttl_generic(ctx, false, false);
}

void cmd_pttl(struct cmd_ctx *ctx)
{
	keys_ttl_generic(ctx, true, false);
}

void cmd_expiretime(struct cmd_ctx *ctx)
{
	keys_ttl_generic(ctx, false, true);
}

void cmd_pexpiretime(struct cmd_ctx *ctx)
{
	keys_ttl_generic(ctx, true, true);
}

void cmd_persist(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_write(ctx, &ctx->argv[1]);
	if (!e || e->expire_ms == KS_NO_EXPIRE) {
		resp_add_int(ctx->out, 0);
		return;
	}
	ks_persist(ctx->db, e);
	ctx->dirty++;
	resp_add_int(ctx->out, 1);
}

/* ------------------------------------------------------ RENAME COPY */

static bool keys_same_name(const struct resp_arg *a, const struct resp_arg *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Put a copy of e under key newkey in db dst (replacing whatever is there),
 * with e's expiry. Returns the new entry or NULL (errno) if the copy could
 * not be allocated; nothing changed then. */
static struct ks_entry *keys_clone_into(struct ks_db *dst, const struct ks_entry *e,
					const struct resp_arg *newkey)
{
	struct ks_entry *ne = ks_entry_clone(e, newkey->p, newkey->len);
	if (!ne)
		return NULL;
	ne->expire_ms = e->expire_ms;
	return ks_attach(dst, ne);
}

/* RENAME (nx = false) and RENAMENX (nx = true), both keys on this shard.
 * The value moves to a new entry (the key bytes live inside the entry), so
 * it is cloned under the new name and the old entry deleted; the TTL goes
 * with it. */
static void keys_rename_generic(struct cmd_ctx *ctx, bool nx)
{
	const struct resp_arg *src = &ctx->argv[1], *dst = &ctx->argv[2];
	struct ks_entry *e = cmd_lookup_write(ctx, src);
	if (!e) {
		resp_add_error(ctx->out, ERR_NOKEY);
		return;
	}
	if (keys_same_name(src, dst)) {
		if (nx)
			resp_add_int(ctx->out, 0);
		else
			resp_add_ok(ctx->out);
		return;
	}
	/* The lookup also removes an expired dst; e is another entry and
	 * stays valid. */
	if (cmd_lookup_write(ctx, dst) && nx) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (!keys_clone_into(ctx->db, e, dst)) {
		resp_add_error(ctx->out, "ERR out of memory");
		return;
	}
	ks_delete(ctx->db, e);
	ctx->dirty++;
	if (nx)
		resp_add_int(ctx->out, 1);
	else
		resp_add_ok(ctx->out);
}

void cmd_rename(struct cmd_ctx *ctx)
{
	keys_rename_generic(ctx, false);
}

void cmd_renamenx(struct cmd_ctx *ctx)
{
	keys_rename_generic(ctx, true);
}

/* COPY source destination [DB destination-db] [REPLACE]. The same key is
 * on the same shard in every db, so DB n is this shard's db n. */
void cmd_copy(struct cmd_ctx *ctx)
{
	struct ks_space *ks = shard_ks(ctx->sh);
	struct ks_db *dst = ctx->db;
	bool replace = false;

	for (int j = 3; j < ctx->argc; j++) {
		if (arg_is(&ctx->argv[j], "replace")) {
			replace = true;
		} else if (arg_is(&ctx->argv[j], "db") && j + 1 < ctx->argc) {
			long long id;
			/* Redis's getIntFromObjectOrReply: two different texts
			 * for "not a number" and "not an int". */
			if (arg_ll(ctx, &ctx->argv[j + 1], &id) != 0)
				return;
			if (id < INT_MIN || id > INT_MAX) {
				resp_add_error(ctx->out, "ERR value is out of range, value "
					       "must between -2147483648 and 2147483647");
				return;
			}
			if (id < 0 || id >= ks->ndb) {
				resp_add_error(ctx->out, ERR_DBRANGE);
				return;
			}
			dst = &ks->db[id];
			j++;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (dst == ctx->db && keys_same_name(&ctx->argv[1], &ctx->argv[2])) {
		resp_add_error(ctx->out, ERR_SAMEOBJ);
		return;
	}
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (ks_find(dst, ctx->argv[2].p, ctx->argv[2].len, ctx->now_ms) && !replace) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (!keys_clone_into(dst, e, &ctx->argv[2])) {
		resp_add_error(ctx->out, "ERR out of memory");
		return;
	}
	ctx->dirty++;
	if (dst != ctx->db)   /* the dispatcher signals keys of ctx->db only */
		txn_signal_key(ctx->sh, (int)(dst - shard_ks(ctx->sh)->db), ctx->argv[2].p,
			       ctx->argv[2].len);
	resp_add_int(ctx->out, 1);
}

/* ------------------------------------------------------------- KEYS */

struct keys_match {
	const struct resp_arg *pat;   /* NULL: everything */
	int type;                     /* SCAN TYPE: -1 any, KS_NTYPES none */
	int64_t now_ms;
	struct keys_vec hits;
	struct keys_vec expired;      /* SCAN: removed once the walk is over */
};

static bool keys_match_one(const struct keys_match *m, const struct ks_entry *e)
{
	if (m->pat && !srv_glob_match(m->pat->p, m->pat->len, e->key, e->klen, false))
		return false;
	if (m->type >= 0 && e->type != m->type)
		return false;
	return true;
}

/* KEYS skips expired keys but does not delete them while iterating. */
static void keys_keys_cb(void *arg, struct ks_entry *e)
{
	struct keys_match *m = arg;
	if (!keys_is_expired(e, m->now_ms) && keys_match_one(m, e))
		keys_vec_push(&m->hits, e);
}

static void keys_reply_entries(struct cmd_ctx *ctx, const struct keys_vec *kv)
{
	resp_add_array(ctx->out, (long long)kv->n);
	for (size_t i = 0; i < kv->n; i++)
		resp_add_bulk(ctx->out, kv->v[i]->key, kv->v[i]->klen);
}

static bool keys_pat_is_all(const struct resp_arg *p)
{
	return p->len == 1 && p->p[0] == '*';
}

void cmd_keys(struct cmd_ctx *ctx)
{
	struct keys_match m = {
		.pat = keys_pat_is_all(&ctx->argv[1]) ? NULL : &ctx->argv[1],
		.type = -1,
		.now_ms = ctx->now_ms,
	};
	keys_vec_init(&m.hits);
	ks_foreach(ctx->db, keys_keys_cb, &m);
	keys_reply_entries(ctx, &m.hits);
	keys_vec_free(&m.hits);
}

/* ------------------------------------------------------------- SCAN */

unsigned cmd_scan_route(const struct cmd_ctx *ctx)
{
	uint64_t cursor;
	unsigned n = shard_nshards();
	if (ctx->argc < 2 || n == 0 || cmd_parse_cursor(&ctx->argv[1], &cursor) != 0)
		return 0;
	return (unsigned)(cursor % n);
}

static void keys_scan_cb(void *arg, struct ks_entry *e)
{
	struct keys_match *m = arg;
	if (keys_is_expired(e, m->now_ms)) {
		keys_vec_push(&m->expired, e);
		return;
	}
	if (keys_match_one(m, e))
		keys_vec_push(&m->hits, e);
}

/* SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. An unknown TYPE
 * name is no error in Redis 7.0: it simply matches nothing. */
void cmd_scan(struct cmd_ctx *ctx)
{
	uint64_t cursor;
	long long count = KEYS_SCAN_DEFAULT_COUNT;
	struct keys_match m = { .pat = NULL, .type = -1, .now_ms = ctx->now_ms };

	if (cmd_parse_cursor(&ctx->argv[1], &cursor) != 0) {
		resp_add_error(ctx->out, "ERR invalid cursor");
		return;
	}
	const struct resp_arg *type = NULL;
	if (cmd_scan_opts(ctx, 2, &m.pat, &count, &type) != 0)
		return;
	if (type) {
		m.type = KS_NTYPES;
		for (int t = 0; t < KS_NTYPES; t++)
			if (arg_is(type, keys_type_names[t]))
				m.type = t;
	}

	unsigned nshards = shard_nshards(), self = shard_self_id(ctx->sh);
	assert(nshards > 0 && self < nshards);
	uint64_t dict_cursor = cursor / nshards;
	unsigned want = count > KEYS_SCAN_MAX_COUNT ? KEYS_SCAN_MAX_COUNT : (unsigned)count;

	keys_vec_init(&m.hits);
	keys_vec_init(&m.expired);
	uint64_t next = ks_scan(ctx->db, dict_cursor, want, keys_scan_cb, &m);
	uint64_t out_cursor;
	if (next != 0)
		out_cursor = next * nshards + self;
	else if (self + 1 < nshards)
		out_cursor = self + 1;
	else
		out_cursor = 0;

	cmd_reply_scan_cursor(ctx, out_cursor);
	keys_reply_entries(ctx, &m.hits);

	/* Expired keys met on the way are removed now that the walk is over,
	 * and counted as expired as a lookup would. */
	for (size_t i = 0; i < m.expired.n; i++)
		ks_expire_entry(ctx->db, m.expired.v[i]);
	keys_vec_free(&m.hits);
	keys_vec_free(&m.expired);
}

/* ------------------------------------ RANDOMKEY DBSIZE FLUSH* SWAPDB */

static uint64_t keys_rand(void *arg)
{
	return shard_rand(arg);
}

void cmd_randomkey(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = ks_random(ctx->db, ctx->now_ms, keys_rand, ctx->sh);
	if (e)
		resp_add_bulk(ctx->out, e->key, e->klen);
	else
		resp_add_null(ctx->out, ctx->proto);
}

void cmd_dbsize(struct cmd_ctx *ctx)
{
	resp_add_int(ctx->out, (long long)ks_size(ctx->db));
}

/* FLUSHDB/FLUSHALL [ASYNC|SYNC]: both modes free synchronously here (no
 * lazy-free thread); the observable result is the same. */
static int keys_flush_args_ok(struct cmd_ctx *ctx)
{
	if (ctx->argc > 2 ||
	    (ctx->argc == 2 && !arg_is(&ctx->argv[1], "sync") &&
	     !arg_is(&ctx->argv[1], "async"))) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return -1;
	}
	return 0;
}

void cmd_flushdb(struct cmd_ctx *ctx)
{
	if (keys_flush_args_ok(ctx) != 0)
		return;
	ctx->dirty += (long long)ks_size(ctx->db);
	txn_signal_db(ctx->sh, ctx->dbid, ctx->dbid);
	ks_flush(ctx->db);
	resp_add_ok(ctx->out);
}

void cmd_flushall(struct cmd_ctx *ctx)
{
	if (keys_flush_args_ok(ctx) != 0)
		return;
	struct ks_space *ks = shard_ks(ctx->sh);
	for (int i = 0; i < ks->ndb; i++) {
		ctx->dirty += (long long)ks_size(&ks->db[i]);
		txn_signal_db(ctx->sh, i, i);
		ks_flush(&ks->db[i]);
	}
	resp_add_ok(ctx->out);
}

void cmd_swapdb(struct cmd_ctx *ctx)
{
	struct ks_space *ks = shard_ks(ctx->sh);
	int a, b;
	if (keys_parse_int(&ctx->argv[1], &a) != 0) {
		resp_add_error(ctx->out, "ERR invalid first DB index");
		return;
	}
	if (keys_parse_int(&ctx->argv[2], &b) != 0) {
		resp_add_error(ctx->out, "ERR invalid second DB index");
		return;
	}
	if (a < 0 || a >= ks->ndb || b < 0 || b >= ks->ndb) {
		resp_add_error(ctx->out, ERR_DBRANGE);
		return;
	}
	if (a != b) {
		txn_signal_db(ctx->sh, a, b);
		txn_signal_db(ctx->sh, b, a);
		ks_swap(&ks->db[a], &ks->db[b]);
		ctx->dirty++;
	}
	resp_add_ok(ctx->out);
}

/* ------------------------------------------------------------ OBJECT */

/* OBJECT looks keys up without touching their access time (Redis:
 * LOOKUP_NOTOUCH), and answers null for a missing key. */
static const struct ks_entry *keys_object_lookup(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = ks_find(ctx->db, ctx->argv[2].p, ctx->argv[2].len,
					   ctx->now_ms);
	if (!e)
		resp_add_null(ctx->out, ctx->proto);
	return e;
}

static const char *keys_encoding_name(const struct ks_entry *e)
{
	return ks_enc_name(e->enc);
}

void cmd_object_encoding(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = keys_object_lookup(ctx);
	if (e)
		resp_add_bulk_cstr(ctx->out, keys_encoding_name(e));
}

/* keyrail has no maxmemory policy (always noeviction), so access
 * frequency is never tracked: Redis's answer for a non-LFU policy. */
void cmd_object_freq(struct cmd_ctx *ctx)
{
	if (keys_object_lookup(ctx))
		resp_add_error(ctx->out, ERR_NOLFU);
}

/* e->lru_s holds the low 32 bits of the unix time in seconds at the last
 * access; unsigned subtraction copes with the wrap. */
void cmd_object_idletime(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = keys_object_lookup(ctx);
	if (!e)
		return;
	uint32_t now_s = (uint32_t)(ctx->now_ms / 1000);
	uint32_t idle = now_s - e->lru_s;
	/* An access stamped a moment "after" now (clock step) is idle 0. */
	if (idle > UINT32_MAX / 2)
		idle = 0;
	resp_add_int(ctx->out, (long long)idle);
}

void cmd_object_refcount(struct cmd_ctx *ctx)
{
	const struct ks_entry *e = keys_object_lookup(ctx);
	if (!e)
		return;
	if (e->type == KS_STRING && e->enc == KS_ENC_INT && e->v.i >= 0 &&
	    e->v.i < KEYS_SHARED_INTEGERS)
		resp_add_int(ctx->out, KEYS_SHARED_REFCOUNT);
	else
		resp_add_int(ctx->out, 1);
}

void cmd_object_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"ENCODING <key>",
		"    Return the kind of internal representation used in order to store the value",
		"    associated with a <key>.",
		"FREQ <key>",
		"    Return the access frequency index of the <key>. The returned integer is",
		"    proportional to the logarithm of the recent access frequency of the key.",
		"IDLETIME <key>",
		"    Return the idle time of the <key>, that is the approximated number of",
		"    seconds elapsed since the last access to the key.",
		"REFCOUNT <key>",
		"    Return the number of references of the value associated with the specified",
		"    <key>.",
		"HELP",
		"    Prints this help.",
	};
	size_t n = sizeof(lines) / sizeof(lines[0]);
	resp_add_array(ctx->out, (long long)n);
	for (size_t i = 0; i < n; i++)
		resp_add_simple(ctx->out, lines[i]);
}
