/* shards/t_set.c — the set command family.
 *
 * SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE
 * SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN
 * with Redis 7 semantics, replies and error texts. Multi-key commands run
 * with all their keys in ctx->db (the routing layer gathers keys that live
 * on other shards). The value itself is obj_set.h's: this file parses
 * arguments, looks keys up, applies the thresholds from the shard's config
 * and writes replies. A key is created only when a member is stored, and
 * deleted when its last member goes.
 *
 * Write handlers add to ctx->dirty what they changed: SADD/SREM/SPOP the
 * members added/removed, SMOVE 1 for the removal plus 1 if the member was
 * new in the destination, *STORE 1 when the destination was written or
 * deleted. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/obj_set.h"

/* SSCAN's default COUNT and the cap on one call's work (as SCAN's). */
#define SET_SCAN_DEFAULT_COUNT 10
#define SET_SCAN_MAX_COUNT (1u << 24)

/* ------------------------------------------------------------ helpers */

static size_t lim_of(long long v)
{
	return v < 0 ? 0 : (size_t)v;
}

static struct obj_set_lim set_lim(const struct cmd_ctx *ctx)
{
	const struct cfg *cfg = shard_cfg(ctx->sh);
	struct obj_set_lim lim = {
		.max_intset = lim_of(cfg->set_max_intset_entries),
		.max_lp_entries = lim_of(cfg->set_max_listpack_entries),
		.max_lp_value = lim_of(cfg->set_max_listpack_value),
	};
	return lim;
}

/* Look key up. Returns 0 with *e set (NULL if absent), or -1 after
 * replying WRONGTYPE. */
static int set_read(struct cmd_ctx *ctx, const struct resp_arg *key, struct ks_entry **e)
{
	*e = cmd_lookup_read(ctx, key);
	if (*e && (*e)->type != KS_SET) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return -1;
	}
	return 0;
}

static int set_write(struct cmd_ctx *ctx, const struct resp_arg *key, struct ks_entry **e)
{
	*e = cmd_lookup_write(ctx, key);
	if (*e && (*e)->type != KS_SET) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return -1;
	}
	return 0;
}

static unsigned long set_size(const struct ks_entry *e)
{
	return obj_set_size(e->v.ptr, e->enc);
}

static uint64_t set_rnd(void *sh)
{
	return shard_rand(sh);
}

/* Reply callback: one bulk per member. */
static void emit_bulk(void *arg, const struct obj_set_elem *m)
{
	resp_add_bulk(arg, m->p, m->len);
}

/* Reply every member of a set value as a RESP3 set (RESP2 array). */
static void reply_members(struct cmd_ctx *ctx, const void *ptr, uint8_t enc)
{
	struct obj_set_iter it;
	struct obj_set_elem m;

	resp_add_set(ctx->out, ctx->proto, (long long)obj_set_size(ptr, enc));
	obj_set_iter_init(&it, ptr, enc);
	while (obj_set_iter_next(&it, &m))
		resp_add_bulk(ctx->out, m.p, m.len);
}

/* --------------------------------------------------------- SADD SREM */

void cmd_sadd(struct cmd_ctx *ctx)
{
	struct obj_set_lim lim = set_lim(ctx);
	struct ks_entry *e;
	long long added = 0;

	if (set_write(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e) {
		uint8_t enc;
		void *ptr = obj_set_new_for(ctx->argv[2].p, ctx->argv[2].len,
					    (size_t)(ctx->argc - 2), &lim, &enc);
		e = ks_set_obj(ctx->db, ctx->argv[1].p, ctx->argv[1].len, KS_SET, enc, ptr, false);
	}
	for (int j = 2; j < ctx->argc; j++)
		added += obj_set_add(&e->v.ptr, &e->enc, ctx->argv[j].p, ctx->argv[j].len, &lim);
	ctx->dirty += added;
	resp_add_int(ctx->out, added);
}

void cmd_srem(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	long long removed = 0;

	if (set_write(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (e) {
		for (int j = 2; j < ctx->argc; j++) {
			removed += obj_set_remove(&e->v.ptr, e->enc, ctx->argv[j].p, ctx->argv[j].len);
			if (set_size(e) == 0) {
				ks_delete(ctx->db, e);
				break;
			}
		}
	}
	ctx->dirty += removed;
	resp_add_int(ctx->out, removed);
}

/* ---------------------------------------------------- simple reads */

void cmd_smembers(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e) {
		resp_add_set(ctx->out, ctx->proto, 0);
		return;
	}
	reply_members(ctx, e->v.ptr, e->enc);
}

void cmd_sismember(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	resp_add_int(ctx->out, e && obj_set_contains(e->v.ptr, e->enc, ctx->argv[2].p,
						      ctx->argv[2].len));
}

void cmd_smismember(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int j = 2; j < ctx->argc; j++)
		resp_add_int(ctx->out, e && obj_set_contains(e->v.ptr, e->enc, ctx->argv[j].p,
							      ctx->argv[j].len));
}

void cmd_scard(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	resp_add_int(ctx->out, e ? (long long)set_size(e) : 0);
}

/* --------------------------------------------------------------- SPOP */

/* SPOP key count: count parsed first (as Redis: one error text for
 * non-integers and negatives), then the key; the whole set when count
 * covers it (and the key goes), else count distinct random members. */
static void spop_count(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	long long l;
	unsigned long size;

	if (arg_to_ll(&ctx->argv[2], &l) < 0 || l < 0) {
		resp_add_error(ctx->out, "ERR value is out of range, must be positive");
		return;
	}
	if (set_write(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e || l == 0) {
		resp_add_set(ctx->out, ctx->proto, 0);
		return;
	}
	size = set_size(e);
	if ((unsigned long long)l >= size) {
		reply_members(ctx, e->v.ptr, e->enc);
		ks_delete(ctx->db, e);
		ctx->dirty += (long long)size;
		return;
	}
	resp_add_set(ctx->out, ctx->proto, l);
	obj_set_pop(&e->v.ptr, e->enc, (unsigned long)l, set_rnd, ctx->sh, emit_bulk, ctx->out);
	ctx->dirty += l;
}

void cmd_spop(struct cmd_ctx *ctx)
{
	struct ks_entry *e;

	if (ctx->argc == 3) {
		spop_count(ctx);
		return;
	}
	if (ctx->argc > 3) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (set_write(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (set_size(e) == 1) {
		struct obj_set_iter it;
		struct obj_set_elem m;

		obj_set_iter_init(&it, e->v.ptr, e->enc);
		obj_set_iter_next(&it, &m);
		resp_add_bulk(ctx->out, m.p, m.len);
		ks_delete(ctx->db, e);
	} else {
		obj_set_pop(&e->v.ptr, e->enc, 1, set_rnd, ctx->sh, emit_bulk, ctx->out);
	}
	ctx->dirty++;
}

/* -------------------------------------------------------- SRANDMEMBER */

/* SRANDMEMBER key [count]
 * Without count: one member, or null. With count: an array (RESP3 too:
 * a negative count may repeat members); count >= 0 gives up to count
 * distinct members, a negative count exactly -count picks. The count is
 * checked before the key, a zero count after it (as Redis). */
void cmd_srandmember(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	long long l;
	unsigned long count;
	bool unique = true;

	if (ctx->argc > 3) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (ctx->argc == 2) {
		struct obj_set_elem m;
		char buf[OBJ_SET_NUMBUF];

		if (set_read(ctx, &ctx->argv[1], &e) < 0)
			return;
		if (!e) {
			resp_add_null(ctx->out, ctx->proto);
			return;
		}
		obj_set_random(e->v.ptr, e->enc, shard_rand(ctx->sh), &m, buf);
		resp_add_bulk(ctx->out, m.p, m.len);
		return;
	}
	if (arg_ll(ctx, &ctx->argv[2], &l) < 0)
		return;
	if (l == LLONG_MIN) {
		resp_add_error(ctx->out, "ERR value is out of range, value must between "
			       "-9223372036854775807 and 9223372036854775807");
		return;
	}
	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e || l == 0) {
		resp_add_array(ctx->out, 0);
		return;
	}
	if (l < 0) {
		count = (unsigned long)-l;
		unique = false;
	} else {
		count = (unsigned long)l;
		if (count > set_size(e))
			count = set_size(e);
	}
	resp_add_array(ctx->out, (long long)count);
	obj_set_random_pick(e->v.ptr, e->enc, count, unique, set_rnd, ctx->sh, emit_bulk, ctx->out);
}

/* --------------------------------------------------------------- SMOVE */

/* SMOVE src dst member, in Redis's order of checks: a missing source
 * replies 0 before any type check; then both types; src == dst is a
 * membership test; the member is removed (the source key deleted when
 * emptied) and added to the destination, created if needed. */
void cmd_smove(struct cmd_ctx *ctx)
{
	struct obj_set_lim lim = set_lim(ctx);
	const struct resp_arg *m = &ctx->argv[3];
	struct ks_entry *src = cmd_lookup_write(ctx, &ctx->argv[1]);
	struct ks_entry *dst = cmd_lookup_write(ctx, &ctx->argv[2]);

	if (!src) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (src->type != KS_SET || (dst && dst->type != KS_SET)) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return;
	}
	if (src == dst) {
		resp_add_int(ctx->out, obj_set_contains(src->v.ptr, src->enc, m->p, m->len));
		return;
	}
	if (!obj_set_remove(&src->v.ptr, src->enc, m->p, m->len)) {
		resp_add_int(ctx->out, 0);
		return;
	}
	ctx->dirty++;
	if (set_size(src) == 0)
		ks_delete(ctx->db, src);
	if (!dst) {
		uint8_t enc;
		void *ptr = obj_set_new_for(m->p, m->len, 1, &lim, &enc);
		dst = ks_set_obj(ctx->db, ctx->argv[2].p, ctx->argv[2].len, KS_SET, enc, ptr, false);
	}
	ctx->dirty += obj_set_add(&dst->v.ptr, &dst->enc, m->p, m->len, &lim);
	resp_add_int(ctx->out, 1);
}

/* ------------------------------------------------ intersection, union */

/* Look every key of keys[0..n) up into sets[] (NULL: missing = empty).
 * A key of another type anywhere replies WRONGTYPE (-1), even after a
 * missing one (Redis 7). */
static int set_gather(struct cmd_ctx *ctx, const struct resp_arg *keys, int n,
		      struct ks_entry **sets)
{
	for (int j = 0; j < n; j++)
		if (set_read(ctx, &keys[j], &sets[j]) < 0)
			return -1;
	return 0;
}

/* Where a computed result goes. */
enum set_out { OUT_REPLY, OUT_STORE, OUT_CARD };

/* Store a computed set (ptr, enc) at dst, replacing any value of any type,
 * or delete dst when it is empty; reply the cardinality. Takes ptr. */
static void set_store(struct cmd_ctx *ctx, const struct resp_arg *dst, void *ptr, uint8_t enc)
{
	unsigned long n = obj_set_size(ptr, enc);

	if (n > 0) {
		ks_set_obj(ctx->db, dst->p, dst->len, KS_SET, enc, ptr, false);
		ctx->dirty++;
	} else {
		obj_set_free(ptr, enc);
		if (ks_delete_key(ctx->db, dst->p, dst->len, ctx->now_ms))
			ctx->dirty++;
	}
	resp_add_int(ctx->out, (long long)n);
}

/* Intersection of the sets at keys[0..n): replied (as a set), stored at
 * dst, or counted up to limit (0: no limit). The smallest set is walked
 * and each member tested against the others, smallest first. */
static void sinter_generic(struct cmd_ctx *ctx, const struct resp_arg *keys, int n,
			   const struct resp_arg *dst, enum set_out out, unsigned long limit)
{
	struct ks_entry *stack_sets[16] = { 0 }, **sets = stack_sets;
	struct obj_set_lim lim = set_lim(ctx);
	bool empty = false;

	if (n > 16) {
		sets = malloc(sizeof(*sets) * (size_t)n);
		if (!sets)
			abort();
	}
	if (set_gather(ctx, keys, n, sets) < 0)
		goto out;
	for (int j = 0; j < n; j++)
		empty |= sets[j] == NULL;
	if (!empty) {
		/* Insertion sort by size: n is the number of keys. */
		for (int j = 1; j < n; j++) {
			struct ks_entry *x = sets[j];
			int k = j;
			while (k > 0 && set_size(sets[k - 1]) > set_size(x)) {
				sets[k] = sets[k - 1];
				k--;
			}
			sets[k] = x;
		}
	}

	struct rbuf items = { 0 };
	long long count = 0;
	uint8_t renc;
	void *res = out == OUT_STORE ? obj_set_new(&renc) : NULL;

	if (!empty) {
		struct obj_set_iter it;
		struct obj_set_elem m;

		obj_set_iter_init(&it, sets[0]->v.ptr, sets[0]->enc);
		while (obj_set_iter_next(&it, &m)) {
			int j;
			for (j = 1; j < n; j++) {
				if (sets[j] == sets[0])
					continue;
				if (!obj_set_contains(sets[j]->v.ptr, sets[j]->enc, m.p, m.len))
					break;
			}
			if (j < n)
				continue;
			count++;
			if (out == OUT_REPLY)
				resp_add_bulk(&items, m.p, m.len);
			else if (out == OUT_STORE)
				obj_set_add(&res, &renc, m.p, m.len, &lim);
			else if (limit && (unsigned long)count >= limit)
				break;
		}
	}
	switch (out) {
	case OUT_REPLY:
		resp_add_set(ctx->out, ctx->proto, count);
		if (items.len)
			rbuf_append(ctx->out, items.data, items.len);
		rbuf_free(&items);
		break;
	case OUT_STORE:
		set_store(ctx, dst, res, renc);
		break;
	case OUT_CARD:
		resp_add_int(ctx->out, count);
		break;
	}
out:
	if (sets != stack_sets)
		free(sets);
}

enum set_op { OP_UNION, OP_DIFF };

/* Union or difference of the sets at keys[0..n), built as a new set value
 * (starting as an empty intset, converted as members come) and replied or
 * stored at dst. The difference uses Redis's two algorithms, picking the
 * cheaper by the same estimate: test each member of the first set against
 * the others (about |first| * n / 2), or copy the first set and remove
 * the others' members (the sum of the sizes). */
static void sunion_diff_generic(struct cmd_ctx *ctx, const struct resp_arg *keys, int n,
				const struct resp_arg *dst, enum set_op op)
{
	struct ks_entry *stack_sets[16] = { 0 }, **sets = stack_sets;
	struct obj_set_lim lim = set_lim(ctx);
	struct obj_set_iter it;
	struct obj_set_elem m;
	uint8_t renc;
	void *res;

	if (n > 16) {
		sets = malloc(sizeof(*sets) * (size_t)n);
		if (!sets)
			abort();
	}
	if (set_gather(ctx, keys, n, sets) < 0)
		goto out;
	res = obj_set_new(&renc);
	if (op == OP_UNION) {
		for (int j = 0; j < n; j++) {
			if (!sets[j])
				continue;
			obj_set_iter_init(&it, sets[j]->v.ptr, sets[j]->enc);
			while (obj_set_iter_next(&it, &m))
				obj_set_add(&res, &renc, m.p, m.len, &lim);
		}
	} else if (sets[0]) {
		unsigned long long work1 = 0, work2 = 0;
		for (int j = 0; j < n; j++) {
			if (!sets[j])
				continue;
			work1 += set_size(sets[0]);
			work2 += set_size(sets[j]);
		}
		work1 /= 2;
		if (work1 <= work2) {
			obj_set_iter_init(&it, sets[0]->v.ptr, sets[0]->enc);
			while (obj_set_iter_next(&it, &m)) {
				int j;
				for (j = 1; j < n; j++) {
					if (!sets[j])
						continue;
					if (sets[j] == sets[0] ||
					    obj_set_contains(sets[j]->v.ptr, sets[j]->enc, m.p, m.len))
						break;
				}
				if (j == n)
					obj_set_add(&res, &renc, m.p, m.len, &lim);
			}
		} else {
			obj_set_iter_init(&it, sets[0]->v.ptr, sets[0]->enc);
			while (obj_set_iter_next(&it, &m))
				obj_set_add(&res, &renc, m.p, m.len, &lim);
			for (int j = 1; j < n && obj_set_size(res, renc) > 0; j++) {
				if (!sets[j])
					continue;
				obj_set_iter_init(&it, sets[j]->v.ptr, sets[j]->enc);
				while (obj_set_iter_next(&it, &m))
					obj_set_remove(&res, renc, m.p, m.len);
			}
		}
	}
	if (dst) {
		set_store(ctx, dst, res, renc);
	} else {
		reply_members(ctx, res, renc);
		obj_set_free(res, renc);
	}
out:
	if (sets != stack_sets)
		free(sets);
}

void cmd_sinter(struct cmd_ctx *ctx)
{
	sinter_generic(ctx, &ctx->argv[1], ctx->argc - 1, NULL, OUT_REPLY, 0);
}

void cmd_sinterstore(struct cmd_ctx *ctx)
{
	sinter_generic(ctx, &ctx->argv[2], ctx->argc - 2, &ctx->argv[1], OUT_STORE, 0);
}

void cmd_sunion(struct cmd_ctx *ctx)
{
	sunion_diff_generic(ctx, &ctx->argv[1], ctx->argc - 1, NULL, OP_UNION);
}

void cmd_sunionstore(struct cmd_ctx *ctx)
{
	sunion_diff_generic(ctx, &ctx->argv[2], ctx->argc - 2, &ctx->argv[1], OP_UNION);
}

void cmd_sdiff(struct cmd_ctx *ctx)
{
	sunion_diff_generic(ctx, &ctx->argv[1], ctx->argc - 1, NULL, OP_DIFF);
}

void cmd_sdiffstore(struct cmd_ctx *ctx)
{
	sunion_diff_generic(ctx, &ctx->argv[2], ctx->argc - 2, &ctx->argv[1], OP_DIFF);
}

/* --------------------------------------------------------- SINTERCARD */

/* numkeys as SINTERCARD takes it: 1..LONG_MAX and at most the arguments
 * that follow it. 0 ok, -1 bad (no reply). */
static int sintercard_numkeys(int argc, const struct resp_arg *argv, long long *nk)
{
	if (argc < 3 || arg_to_ll(&argv[1], nk) < 0 || *nk < 1 || *nk > argc - 2)
		return -1;
	return 0;
}

int set_keys_sintercard(int argc, const struct resp_arg *argv, int *idx, int max)
{
	long long nk;

	if (sintercard_numkeys(argc, argv, &nk) < 0)
		return -1;
	for (long long i = 0; i < nk && i < max; i++)
		idx[i] = (int)(2 + i);
	return (int)nk;
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit]: options are checked
 * before any key is looked at; LIMIT 0 means no limit, a repeated LIMIT
 * overrides. */
void cmd_sintercard(struct cmd_ctx *ctx)
{
	long long nk, limit = 0;

	if (arg_to_ll(&ctx->argv[1], &nk) < 0 || nk < 1) {
		resp_add_error(ctx->out, "ERR numkeys should be greater than 0");
		return;
	}
	if (nk > ctx->argc - 2) {
		resp_add_error(ctx->out, "ERR Number of keys can't be greater than number of args");
		return;
	}
	for (int j = 2 + (int)nk; j < ctx->argc; j++) {
		if (arg_is(&ctx->argv[j], "limit") && j + 1 < ctx->argc) {
			j++;
			if (arg_to_ll(&ctx->argv[j], &limit) < 0 || limit < 0) {
				resp_add_error(ctx->out, "ERR LIMIT can't be negative");
				return;
			}
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	sinter_generic(ctx, &ctx->argv[2], (int)nk, NULL, OUT_CARD, (unsigned long)limit);
}

/* --------------------------------------------------------------- SSCAN */

/* Members collected by a scan step, filtered by MATCH (copied into RESP
 * at once: integer members are formatted into a reused buffer). */
struct sscan_acc {
	const struct resp_arg *pat;   /* NULL: all */
	struct rbuf items;
	long long n;
};

static void sscan_cb(void *arg, const struct obj_set_elem *m)
{
	struct sscan_acc *a = arg;

	if (a->pat && !srv_glob_match(a->pat->p, a->pat->len, m->p, m->len, false))
		return;
	resp_add_bulk(&a->items, m->p, m->len);
	a->n++;
}

/* SSCAN key cursor [MATCH pattern] [COUNT count]
 * An intset or listpack set is returned whole with cursor 0. As Redis:
 * the cursor is checked first, a missing key replies an empty scan before
 * the options are looked at. */
void cmd_sscan(struct cmd_ctx *ctx)
{
	struct ks_entry *e;
	uint64_t cursor, next;
	long long count = SET_SCAN_DEFAULT_COUNT;
	struct sscan_acc acc = { .pat = NULL };

	if (cmd_parse_cursor(&ctx->argv[2], &cursor) < 0) {
		resp_add_error(ctx->out, "ERR invalid cursor");
		return;
	}
	if (set_read(ctx, &ctx->argv[1], &e) < 0)
		return;
	if (!e) {
		cmd_reply_scan(ctx, 0, 0, NULL);
		return;
	}
	if (cmd_scan_opts(ctx, 3, &acc.pat, &count, NULL) < 0)
		return;
	next = obj_set_scan(e->v.ptr, e->enc, cursor,
			    count > SET_SCAN_MAX_COUNT ? SET_SCAN_MAX_COUNT : (unsigned)count,
			    sscan_cb, &acc);
	cmd_reply_scan(ctx, next, acc.n, &acc.items);
	rbuf_free(&acc.items);
}
