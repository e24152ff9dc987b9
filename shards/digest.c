/* shards/digest.c — DEBUG DIGEST and DEBUG DIGEST-VALUE: a 20-byte digest
 * of the dataset / of single values, bit-for-bit Redis 7.0's, so a keyrail
 * and a Redis server (or a replica) holding the same data can be compared.
 *
 * Redis's scheme, checked against redis-server 7.0.15 (see
 * tests/integration/test_digest.c), with SHA1 the only primitive:
 *   xor(d, b)  d ^= SHA1(b)
 *   mix(d, b)  d = SHA1(d ^ SHA1(b))          (xor, then hash d itself)
 * A value's digest, from a starting digest d:
 *   mix(d, type as u32 big-endian)             string 0 list 1 set 2 zset 3 hash 4
 *   string: mix(d, bytes)                      (integers as their decimal text)
 *   list:   mix(d, element) head to tail
 *   set:    xor(d, member)                     (order-free)
 *   zset:   xor(d, e) with e = mix(mix(0, member), "%.17g" of the score)
 *   hash:   xor(d, e) with e = mix(mix(0, field), value)
 *   then, if the key has an expiry (whatever its time), xor(d, "!!expire!!").
 * A key's digest is the value digest started from d = mix(0, key name).
 * The dataset digest starts at 0; for each db in order that holds any key,
 * mix(final, db number as u32 big-endian), then xor(final, key digest) for
 * every key — i.e. final ^= SHA1(key digest), not the key digest itself.
 * DIGEST-VALUE is the value digest started from 0 (40 zeros if no key).
 * Like Redis, both see keys that are logically expired but not yet
 * removed: a replica keeps those until its master deletes them.
 *
 * Integers held as integers (INT strings, intsets, listpack integers) are
 * digested as their decimal text, as Redis decodes them. A zset score is
 * the double as stored: a listpack keeps -0 as the integer 0 (so "0"), a
 * skiplist keeps -0 ("-0"), which is Redis's own difference.
 *
 * Sharding: DEBUG DIGEST is a broadcast. Each shard answers, per db,
 * whether it holds keys there and the XOR of SHA1(key digest) over them
 * (XOR commutes, so the shards' shares combine in any order); the merge
 * applies the non-linear db mixing in db order. DIGEST-VALUE is split by
 * key like MGET and put back in request order.
 *
 * Both walk whole values (DIGEST the whole keyspace) in one go, as Redis
 * does: they are debugging commands, O(N) by definition. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/sha1.h"
#include "dataplane/dataplane.h"
#include "shards/cmd.h"
#include "shards/ks.h"
#include "shards/obj_hash.h"
#include "shards/obj_list.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"

#define DG_LEN 20
/* A shard's part of DEBUG DIGEST: per db, a flag byte (1: the db holds
 * keys on this shard) and the XOR of SHA1(key digest) over them. */
#define DG_PART_DB (1 + DG_LEN)

cmd_fn cmd_debug_digest, cmd_debug_digest_value;
cmd_merge_fn merge_debug_digest;

/* ------------------------------------------------- Redis's primitives */

/* d ^= SHA1(p[0..n)) */
static void dg_xor(uint8_t d[DG_LEN], const void *p, size_t n)
{
	uint8_t h[DG_LEN];
	kr_sha1(p, n, h);
	for (int i = 0; i < DG_LEN; i++)
		d[i] ^= h[i];
}

/* d = SHA1(d ^ SHA1(p[0..n))) */
static void dg_mix(uint8_t d[DG_LEN], const void *p, size_t n)
{
	dg_xor(d, p, n);
	kr_sha1(d, DG_LEN, d);
}

static void dg_mix_u32(uint8_t d[DG_LEN], uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	dg_mix(d, be, sizeof(be));
}

/* Redis's object type numbers (OBJ_STRING ... OBJ_STREAM); -1: a type
 * this digest does not know how to walk. */
static int dg_redis_type(uint8_t t)
{
	switch (t) {
	case KS_STRING: return 0;
	case KS_LIST:   return 1;
	case KS_SET:    return 2;
	case KS_ZSET:   return 3;
	case KS_HASH:   return 4;
	default:        return -1;
	}
}

/* An element digest mix(mix(0, a), b), XORed into d (zset and hash
 * elements). */
static void dg_xor_pair(uint8_t d[DG_LEN], const void *a, size_t alen, const void *b,
			size_t blen)
{
	uint8_t ed[DG_LEN] = { 0 };
	dg_mix(ed, a, alen);
	dg_mix(ed, b, blen);
	dg_xor(d, ed, DG_LEN);
}

/* Mix e's value (type, contents, expiry flag) into d, Redis's
 * xorObjectDigest. Returns 0, or -1 (d unspecified) for a type with no
 * digest. */
static int dg_value(uint8_t d[DG_LEN], const struct ks_entry *e)
{
	int rt = dg_redis_type(e->type);
	if (rt < 0)
		return -1;
	dg_mix_u32(d, (uint32_t)rt);
	switch (e->type) {
	case KS_STRING: {
		char buf[32];
		size_t len;
		const char *s = ks_str_get(e, buf, &len);
		dg_mix(d, s, len);
		break;
	}
	case KS_LIST: {
		struct obj_list_iter it;
		struct obj_list_elem el;
		unsigned char buf[OBJ_LIST_NUMBUF];
		obj_list_iter_init(&it, e->v.ptr, e->enc, 0, true);
		while (obj_list_iter_next(&it, &el)) {
			size_t len;
			const unsigned char *s = obj_list_elem_str(&el, buf, &len);
			dg_mix(d, s, len);
		}
		break;
	}
	case KS_SET: {
		struct obj_set_iter it;
		struct obj_set_elem m;
		obj_set_iter_init(&it, e->v.ptr, e->enc);
		while (obj_set_iter_next(&it, &m))
			dg_xor(d, m.p, m.len);
		break;
	}
	case KS_ZSET: {
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		obj_zset_iter_rank(&it, e->v.ptr, e->enc, 0, false);
		while (obj_zset_iter_next(&it, &el)) {
			char sc[64];
			int n = snprintf(sc, sizeof(sc), "%.17g", el.score);
			dg_xor_pair(d, el.m, el.mlen, sc, (size_t)n);
		}
		break;
	}
	case KS_HASH: {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;
		obj_hash_iter_init(&it, e->v.ptr, e->enc);
		while (obj_hash_iter_next(&it, &f, &v))
			dg_xor_pair(d, f.p, f.len, v.p, v.len);
		break;
	}
	default:
		return -1;
	}
	if (e->expire_ms != KS_NO_EXPIRE)
		dg_xor(d, "!!expire!!", 10);
	return 0;
}

static void dg_hex(char out[2 * DG_LEN + 1], const uint8_t d[DG_LEN])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < DG_LEN; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * DG_LEN] = 0;
}

static void reply_syntax(struct cmd_ctx *ctx)
{
	/* Redis's DEBUG has no real subcommands: a wrong argument count gets
	 * its generic subcommand error, with the word as the client wrote it. */
	resp_add_errorf(ctx->out, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try DEBUG HELP.",
			(int)(ctx->argv[1].len > 128 ? 128 : ctx->argv[1].len), ctx->argv[1].p);
}

/* ------------------------------------------------------ DEBUG DIGEST */

struct dg_db_acc {
	uint8_t x[DG_LEN];   /* XOR of SHA1(key digest) */
	int bad_type;        /* a key of a type with no digest */
};

static void dg_db_key(void *arg, struct ks_entry *e)
{
	struct dg_db_acc *acc = arg;
	uint8_t d[DG_LEN] = { 0 };
	dg_mix(d, e->key, e->klen);
	if (dg_value(d, e) != 0) {
		acc->bad_type = 1;
		return;
	}
	dg_xor(acc->x, d, DG_LEN);
}

/* DEBUG DIGEST, this shard's part (every shard runs it): a bulk string of
 * ndb * DG_PART_DB bytes, merged by merge_debug_digest. */
void cmd_debug_digest(struct cmd_ctx *ctx)
{
	if (ctx->argc != 2) {
		reply_syntax(ctx);
		return;
	}
	struct ks_space *ks = shard_ks(ctx->sh);
	size_t plen = (size_t)ks->ndb * DG_PART_DB;
	uint8_t *part = calloc(1, plen ? plen : 1);
	if (!part)
		abort();
	for (int j = 0; j < ks->ndb; j++) {
		struct ks_db *db = &ks->db[j];
		if (ks_size(db) == 0)
			continue;
		struct dg_db_acc acc = { { 0 }, 0 };
		ks_foreach(db, dg_db_key, &acc);
		if (acc.bad_type) {
			resp_add_error(ctx->out, "ERR DEBUG DIGEST: the dataset holds a value of a type with no digest");
			free(part);
			return;
		}
		part[(size_t)j * DG_PART_DB] = 1;
		memcpy(part + (size_t)j * DG_PART_DB + 1, acc.x, DG_LEN);
	}
	resp_add_bulk(ctx->out, part, plen);
	free(part);
}

/* The payload of a bulk string reply "$<n>\r\n<bytes>\r\n"; NULL if r is
 * not one. */
static const uint8_t *part_bulk(const struct rbuf *r, size_t *n)
{
	if (r->len < 4 || r->data[0] != '$')
		return NULL;
	size_t i = 1, v = 0;
	while (i < r->len && r->data[i] >= '0' && r->data[i] <= '9')
		v = v * 10 + (size_t)(r->data[i++] - '0');
	if (i == 1 || i + 2 > r->len || r->data[i] != '\r' || r->data[i + 1] != '\n')
		return NULL;
	i += 2;
	if (r->len - i < v + 2)
		return NULL;
	*n = v;
	return (const uint8_t *)r->data + i;
}

/* DEBUG DIGEST's merge: db by db in order, mix the db number into the
 * final digest if any shard holds keys there, then XOR in every shard's
 * share. Replies the digest as 40 hex digits (a status, as Redis). */
void merge_debug_digest(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	size_t plen = 0;
	const uint8_t **p = n > 0 ? malloc(sizeof(*p) * (size_t)n) : NULL;
	if (n > 0 && !p)
		abort();
	if (n <= 0)
		goto bad;
	for (int i = 0; i < n; i++) {
		size_t l;
		p[i] = part_bulk(&parts[i], &l);
		if (!p[i] || l % DG_PART_DB != 0 || (i > 0 && l != plen))
			goto bad;
		plen = l;
	}
	uint8_t final[DG_LEN] = { 0 };
	for (size_t j = 0; j < plen / DG_PART_DB; j++) {
		bool used = false;
		uint8_t x[DG_LEN] = { 0 };
		for (int i = 0; i < n; i++) {
			const uint8_t *s = p[i] + j * DG_PART_DB;
			if (!s[0])
				continue;
			used = true;
			for (int k = 0; k < DG_LEN; k++)
				x[k] ^= s[1 + k];
		}
		if (!used)
			continue;
		dg_mix_u32(final, (uint32_t)j);
		for (int k = 0; k < DG_LEN; k++)
			final[k] ^= x[k];
	}
	char hex[2 * DG_LEN + 1];
	dg_hex(hex, final);
	resp_add_simple(ctx->out, hex);
	free(p);
	return;
bad:
	free(p);
	/* Parts come from our own handler: only a bug gets here. */
	resp_add_error(ctx->out, "ERR DEBUG DIGEST: malformed reply from a shard");
}

/* ------------------------------------------------ DEBUG DIGEST-VALUE */

/* DEBUG DIGEST-VALUE key [key ...]: per key, its value digest as 40 hex
 * digits (zeros for a missing key), in an array of statuses. Logically
 * expired keys still count, as in Redis. */
void cmd_debug_digest_value(struct cmd_ctx *ctx)
{
	/* Validate every key first: one reply, error or array. */
	for (int j = 2; j < ctx->argc; j++) {
		struct ks_entry *e = ks_find_raw(ctx->db, ctx->argv[j].p, ctx->argv[j].len);
		if (e && dg_redis_type(e->type) < 0) {
			resp_add_errorf(ctx->out, "ERR DEBUG DIGEST-VALUE: key '%.*s' holds a value of a type with no digest",
					(int)(ctx->argv[j].len > 128 ? 128 : ctx->argv[j].len), ctx->argv[j].p);
			return;
		}
	}
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int j = 2; j < ctx->argc; j++) {
		uint8_t d[DG_LEN] = { 0 };
		struct ks_entry *e = ks_find_raw(ctx->db, ctx->argv[j].p, ctx->argv[j].len);
		if (e)
			dg_value(d, e);
		char hex[2 * DG_LEN + 1];
		dg_hex(hex, d);
		resp_add_simple(ctx->out, hex);
	}
}
