/* shards/t_hll.c — the HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG.
 *
 * An HLL is a string value in Redis's byte format (hll.h), so these
 * handlers only bind a keyspace entry's bytes to the data structure in
 * hll.c and reply. Writing turns the entry RAW first (Redis's
 * dbUnshareStringValue); sparse edits grow the buffer in place and the
 * promotion to dense replaces the value with one of exactly
 * HLL_DENSE_SIZE bytes.
 *
 * Replies, error texts and side effects follow Redis 7: a string that is
 * not an HLL is "WRONGTYPE Key is not a valid HyperLogLog string value.",
 * sparse data that does not decode is "INVALIDOBJ Corrupted HLL object
 * detected", PFADD creates the key even with no elements, single-key
 * PFCOUNT stores the recomputed cardinality in the header (a write, so it
 * counts as dirty), PFMERGE leaves the destination sparse unless an input
 * is dense (Redis 7.0's rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/hll.h"

#define ERR_HLL_TYPE "WRONGTYPE Key is not a valid HyperLogLog string value."
#define ERR_HLL_CORRUPT "INVALIDOBJ Corrupted HLL object detected"

/* An HLL living in a keyspace entry: hll.c edits h, the callbacks below
 * keep the entry's RAW buffer behind it. */
struct hll_ent {
	struct hll h;
	struct ks_db *db;
	const struct resp_arg *key;
	struct ks_entry *e;
};

static int ent_grow(struct hll *h, size_t min_cap)
{
	struct hll_ent *b = h->arg;
	struct ks_str *s = b->e->v.ptr;

	s->len = h->len;
	s = ks_str_make_raw(b->e, min_cap);
	h->p = (uint8_t *)s->buf;
	h->cap = s->cap;
	return 0;
}

/* The dense promotion: store the new image as the whole value, sized
 * exactly (ks reuses or reallocates the RAW buffer; TTL kept). */
static int ent_replace(struct hll *h, const uint8_t *img, size_t len)
{
	struct hll_ent *b = h->arg;
	struct ks_str *s;

	b->e = ks_set_str_noint(b->db, b->key->p, b->key->len, img, len, true);
	s = ks_str_make_raw(b->e, len);
	h->p = (uint8_t *)s->buf;
	h->len = s->len;
	h->cap = s->cap;
	return 0;
}

static const struct hll_mem ent_mem = { ent_grow, ent_replace };

/* Bind b to the HLL in e (already validated), making its value RAW. */
static void ent_bind(struct hll_ent *b, struct cmd_ctx *ctx, const struct resp_arg *key,
		     struct ks_entry *e)
{
	struct ks_str *s = ks_str_make_raw(e, 0);

	b->db = ctx->db;
	b->key = key;
	b->e = e;
	b->h = (struct hll){ (uint8_t *)s->buf, s->len, s->cap, &ent_mem, b };
}

/* Create key as an empty sparse HLL and bind b to it. */
static void ent_create(struct hll_ent *b, struct cmd_ctx *ctx, const struct resp_arg *key)
{
	struct ks_entry *e = ks_set_str_noint(ctx->db, key->p, key->len, "", 0, false);
	/* Room for the first few edits, as Redis's sds grows ahead. */
	struct ks_str *s = ks_str_make_raw(e, HLL_SPARSE_EMPTY_SIZE + 3);

	hll_init_sparse((uint8_t *)s->buf);
	s->len = HLL_SPARSE_EMPTY_SIZE;
	s->buf[s->len] = '\0';
	ent_bind(b, ctx, key, e);
}

/* Write the edited length back into the entry. */
static void ent_sync(struct hll_ent *b)
{
	struct ks_str *s = b->e->v.ptr;

	s->len = b->h.len;
	s->buf[s->len] = '\0';
}

static size_t sparse_max(const struct cmd_ctx *ctx)
{
	long long v = shard_cfg(ctx->sh)->hll_sparse_max_bytes;

	return v < 0 ? 0 : (size_t)v;
}

/* Look key up for an HLL command. Returns the entry, or NULL: *err is
 * false for a missing key, true when the error was replied (not a string,
 * or a string that is not an HLL). *p and *len get the value bytes; buf holds
 * INT values' digits (>= 32 bytes). */
static struct ks_entry *hll_lookup(struct cmd_ctx *ctx, const struct resp_arg *key, bool write,
				   bool *err, const uint8_t **p, size_t *len, char *buf)
{
	struct ks_entry *e = write ? cmd_lookup_write(ctx, key) : cmd_lookup_read(ctx, key);

	*err = false;
	if (!e)
		return NULL;
	if (e->type != KS_STRING) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		*err = true;
		return NULL;
	}
	*p = (const uint8_t *)ks_str_get(e, buf, len);
	if (!hll_valid(*p, *len)) {
		resp_add_error(ctx->out, ERR_HLL_TYPE);
		*err = true;
		return NULL;
	}
	return e;
}

/* PFADD key [element ...]: 1 if any register changed or the key was
 * created, else 0. */
void cmd_pfadd(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct hll_ent b;
	const uint8_t *p;
	size_t len;
	char buf[32];
	bool err;
	long long updated = 0;
	struct ks_entry *e = hll_lookup(ctx, key, true, &err, &p, &len, buf);

	if (err)
		return;
	if (e) {
		ent_bind(&b, ctx, key, e);
	} else {
		ent_create(&b, ctx, key);
		updated++;
	}
	for (int j = 2; j < ctx->argc; j++) {
		int rc = hll_add(&b.h, ctx->argv[j].p, ctx->argv[j].len, sparse_max(ctx));

		if (rc < 0) {
			ent_sync(&b);
			ctx->dirty += updated;
			resp_add_error(ctx->out, ERR_HLL_CORRUPT);
			return;
		}
		updated += rc;
	}
	if (updated)
		hll_cache_invalidate(b.h.p);
	ent_sync(&b);
	ctx->dirty += updated;
	resp_add_int(ctx->out, updated ? 1 : 0);
}

/* PFCOUNT key [key ...]. One key: the cached cardinality, recomputed and
 * stored when stale. Several keys: the cardinality of their union, with
 * nothing modified; missing keys count as empty HLLs. */
void cmd_pfcount(struct cmd_ctx *ctx)
{
	const uint8_t *p;
	size_t len;
	char buf[32];
	bool err;
	uint64_t card;

	if (ctx->argc > 2) {
		uint8_t max[HLL_REGISTERS];

		memset(max, 0, sizeof(max));
		for (int j = 1; j < ctx->argc; j++) {
			if (!hll_lookup(ctx, &ctx->argv[j], false, &err, &p, &len, buf)) {
				if (err)
					return;
				continue;
			}
			if (hll_merge_regs(max, p, len) < 0) {
				resp_add_error(ctx->out, ERR_HLL_CORRUPT);
				return;
			}
		}
		resp_add_int(ctx->out, (long long)hll_count_regs(max));
		return;
	}

	struct ks_entry *e = hll_lookup(ctx, &ctx->argv[1], false, &err, &p, &len, buf);

	if (!e) {
		if (!err)
			resp_add_int(ctx->out, 0);
		return;
	}
	/* RAW even when only read, as Redis unshares it here too (so OBJECT
	 * ENCODING agrees); the cache may be written below. */
	p = (const uint8_t *)ks_str_make_raw(e, 0)->buf;
	if (hll_cache_valid(p)) {
		card = hll_cache_get(p);
	} else {
		if (hll_count(p, len, &card) < 0) {
			resp_add_error(ctx->out, ERR_HLL_CORRUPT);
			return;
		}
		hll_cache_set((uint8_t *)p, card);
		ctx->dirty++;
	}
	resp_add_int(ctx->out, (long long)card);
}

/* PFMERGE destkey [sourcekey ...]: destkey := union of destkey and the
 * sources. The destination is dense if any input is dense, else it stays
 * sparse (promoted only if it outgrows hll-sparse-max-bytes). */
void cmd_pfmerge(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	uint8_t max[HLL_REGISTERS];
	bool use_dense = false, err;
	const uint8_t *p;
	size_t len;
	char buf[32];
	struct hll_ent b;
	struct ks_entry *e;

	memset(max, 0, sizeof(max));
	for (int j = 1; j < ctx->argc; j++) {
		if (!hll_lookup(ctx, &ctx->argv[j], false, &err, &p, &len, buf)) {
			if (err)
				return;
			continue;
		}
		if (p[4] == HLL_DENSE)
			use_dense = true;
		if (hll_merge_regs(max, p, len) < 0) {
			resp_add_error(ctx->out, ERR_HLL_CORRUPT);
			return;
		}
	}

	/* Already validated as an HLL by the loop above (it is argv[1]). */
	e = cmd_lookup_write(ctx, key);
	if (e)
		ent_bind(&b, ctx, key, e);
	else
		ent_create(&b, ctx, key);
	if (use_dense && hll_to_dense(&b.h) < 0) {
		ent_sync(&b);
		resp_add_error(ctx->out, ERR_HLL_CORRUPT);
		return;
	}
	for (unsigned j = 0; j < HLL_REGISTERS; j++) {
		/* The destination's opcodes were validated by the merge, so a
		 * failure cannot happen; Redis ignores it the same way. */
		if (max[j])
			(void)hll_set(&b.h, j, max[j], sparse_max(ctx));
	}
	hll_cache_invalidate(b.h.p);
	ent_sync(&b);
	ctx->dirty++;
	resp_add_ok(ctx->out);
}

/* PFDEBUG GETREG|DECODE|ENCODING|TODENSE key: Redis's debugging aid. */
void cmd_pfdebug(struct cmd_ctx *ctx)
{
	const struct resp_arg *sub = &ctx->argv[1], *key = &ctx->argv[2];
	const uint8_t *p;
	size_t len;
	char buf[32];
	bool err;
	struct hll_ent b;
	struct ks_entry *e = hll_lookup(ctx, key, true, &err, &p, &len, buf);

	if (!e) {
		if (!err)
			resp_add_error(ctx->out, "ERR The specified key does not exist");
		return;
	}
	ent_bind(&b, ctx, key, e);

	if (arg_is(sub, "getreg") || arg_is(sub, "todense")) {
		int rc = hll_to_dense(&b.h);

		ent_sync(&b);
		if (rc < 0) {
			resp_add_error(ctx->out, ERR_HLL_CORRUPT);
			return;
		}
		ctx->dirty += rc;
		if (arg_is(sub, "todense")) {
			resp_add_int(ctx->out, rc);
			return;
		}
		resp_add_array(ctx->out, HLL_REGISTERS);
		for (unsigned j = 0; j < HLL_REGISTERS; j++)
			resp_add_int(ctx->out, hll_dense_get(b.h.p + HLL_HDR_SIZE, j));
	} else if (arg_is(sub, "decode")) {
		const uint8_t *q = b.h.p + HLL_HDR_SIZE, *end = b.h.p + b.h.len;
		struct hll_op op;
		char *txt;
		size_t tlen = 0, tcap;
		int rc;

		if (b.h.p[4] != HLL_SPARSE) {
			resp_add_error(ctx->out, "ERR HLL encoding is not sparse");
			return;
		}
		/* Under 12 bytes of text per opcode byte ("v:32,4 ", "Z:16384 "). */
		tcap = (b.h.len - HLL_HDR_SIZE) * 12 + 1;
		txt = malloc(tcap);
		if (!txt) {
			resp_add_error(ctx->out, "ERR out of memory");
			return;
		}
		while ((rc = hll_sparse_next(&q, end, &op)) == 1) {
			const char *sep = tlen ? " " : "";

			if (op.kind == HLL_OP_VAL)
				tlen += (size_t)snprintf(txt + tlen, tcap - tlen, "%sv:%u,%u", sep,
							 op.value, op.runlen);
			else
				tlen += (size_t)snprintf(txt + tlen, tcap - tlen, "%s%c:%u", sep,
							 op.kind == HLL_OP_ZERO ? 'z' : 'Z', op.runlen);
		}
		if (rc < 0)
			resp_add_error(ctx->out, ERR_HLL_CORRUPT);
		else
			resp_add_bulk(ctx->out, txt, tlen);
		free(txt);
	} else if (arg_is(sub, "encoding")) {
		resp_add_simple(ctx->out, b.h.p[4] == HLL_DENSE ? "dense" : "sparse");
	} else {
		resp_add_errorf(ctx->out, "ERR Unknown PFDEBUG subcommand '%.*s'", (int)sub->len,
				sub->p);
	}
}
