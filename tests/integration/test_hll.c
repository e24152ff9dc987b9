/* Integration tests of the HyperLogLog commands (shards/t_hll.c): PFADD
 * PFCOUNT PFMERGE PFDEBUG with their replies, side effects (key creation,
 * the cached cardinality in the header, TTLs kept) and error texts; and
 * byte identity with Redis: the same PFADDs / PFMERGEs sent to the server
 * under test and to a real redis-server started by the test
 * ($KR_REDIS_SERVER, default Debian's /usr/bin/redis-server, on a port of
 * the same range) must leave the very same bytes (GET), sparse and dense,
 * at the default and at smaller hll-sparse-max-bytes, and give the same
 * PFCOUNT numbers. Values
 * are also carried across: bytes read from Redis are SET into the server
 * and both go on in step, and the other way round.
 *
 * The file runs against Redis itself too (KR_SERVER_KIND=redis). Keys of
 * multi-key writes share a hash tag (one shard with KR_SHARDS=3); the
 * multi-key PFCOUNT test deliberately spreads its keys over shards. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

#define E_HLLTYPE "WRONGTYPE Key is not a valid HyperLogLog string value."
#define E_CORRUPT "INVALIDOBJ Corrupted HLL object detected"
#define E_WRONG   "WRONGTYPE Operation against a key holding the wrong kind of value"

#define HDR 16
#define DENSE_SIZE (HDR + 12288)

static struct kr_srv srv, ref;
static redisContext *c, *rc;

static void setup(void) { kr_srv_start_client(&srv, &c, NULL); }

/* With a reference server: Redis whatever KR_SERVER_KIND and KR_SERVER say. */
static void setup_diff(void)
{
	setup();
	kr_srv_start_redis(&ref, NULL);
	rc = kr_connect(&ref);
}

static void teardown(void) { kr_srv_stop_client(&srv, &c); }

static void teardown_diff(void)
{
	redisFree(rc);
	kr_srv_stop(&ref);
	teardown();
}

TestSuite(hll, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(hll_vs_redis, .init = setup_diff, .fini = teardown_diff, .timeout = 180);

/* ------------------------------------------------------------ helpers */

/* GET key's bytes (caller frees); *len gets the length. Asserts a string. */
static char *get_bytes(redisContext *ctx, const char *key, size_t *len)
{
	redisReply *r = kr_cmd(ctx, "GET %s", key);
	char *out;

	cr_assert(r->type == REDIS_REPLY_STRING, "GET %s: type %d", key, r->type);
	out = malloc(r->len + 1);
	memcpy(out, r->str, r->len);
	*len = r->len;
	freeReplyObject(r);
	return out;
}

static long long int_reply(redisContext *ctx, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(ctx, fmt, ap);
	va_end(ap);
	cr_assert(r && r->type == REDIS_REPLY_INTEGER, "want an integer reply (%s)",
		  r && r->str ? r->str : "");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* The empty sparse HLL: header, then XZERO covering 16384 registers. */
static void empty_hll(unsigned char out[18], bool stale)
{
	memset(out, 0, 18);
	memcpy(out, "HYLL\x01", 5);
	out[15] = stale ? 0x80 : 0;
	out[16] = 0x7f;
	out[17] = 0xff;
}

/* ------------------------------------------------------ PFADD / PFCOUNT */

Test(hll, pfadd_pfcount_basics)
{
	kr_int(c, 1, "PFADD h a b c");
	kr_int(c, 0, "PFADD h a");
	kr_int(c, 0, "PFADD h c b a");
	kr_int(c, 1, "PFADD h a b c d");
	kr_int(c, 4, "PFCOUNT h");
	kr_int(c, 0, "PFADD h");
	kr_status(c, "string", "TYPE h");
	kr_bulk(c, "raw", "OBJECT ENCODING h");
	kr_int(c, 0, "PFCOUNT nope");
	kr_int(c, 0, "PFCOUNT nope nope2");
	kr_int(c, 4, "PFCOUNT h nope");
	kr_int(c, 4, "PFCOUNT h h");
	kr_err(c, "ERR wrong number of arguments for 'pfadd' command", "PFADD");
	kr_err(c, "ERR wrong number of arguments for 'pfcount' command", "PFCOUNT");
	kr_err(c, "ERR wrong number of arguments for 'pfmerge' command", "PFMERGE");
	kr_err(c, "ERR wrong number of arguments for 'pfdebug' command", "PFDEBUG ENCODING");

	/* Binary-safe elements: these differ only after a NUL. */
	redisReply *r = kr_cmd(c, "PFADD bin %b %b %b", "x\0a", (size_t)3, "x\0b", (size_t)3, "", (size_t)0);
	cr_assert_eq(r->integer, 1);
	freeReplyObject(r);
	kr_int(c, 3, "PFCOUNT bin");
}

Test(hll, pfadd_creates_key_and_caches_count)
{
	unsigned char want[18];

	/* No elements: the key is still created (stale cache, as Redis). */
	kr_int(c, 1, "PFADD e");
	empty_hll(want, true);
	kr_expect_bytes(c, "e", want, 18);
	kr_int(c, 0, "PFCOUNT e");
	empty_hll(want, false);
	kr_expect_bytes(c, "e", want, 18);

	/* A change marks the cache stale; PFCOUNT stores the count. */
	kr_int(c, 1, "PFADD h a b c");
	size_t n;
	unsigned char *v = (unsigned char *)get_bytes(c, "h", &n);

	cr_assert_eq(v[15], 0x80, "cache not marked stale");
	free(v);
	kr_int(c, 3, "PFCOUNT h");
	v = (unsigned char *)get_bytes(c, "h", &n);
	cr_assert(memcmp(v + 8, "\x03\0\0\0\0\0\0\0", 8) == 0, "cached count not stored");
	free(v);
	kr_int(c, 0, "PFADD h a");
	v = (unsigned char *)get_bytes(c, "h", &n);
	cr_assert_eq(v[15], 0, "a no-op PFADD must not touch the cache");
	free(v);
	kr_int(c, 1, "PFADD h zz");
	v = (unsigned char *)get_bytes(c, "h", &n);
	cr_assert(memcmp(v + 8, "\x03\0\0\0\0\0\0\x80", 8) == 0, "stale bit only");
	free(v);
	kr_int(c, 4, "PFCOUNT h");

	/* A short HLL stored by SET is embstr; PFCOUNT makes it raw, as in
	 * Redis (the count may be cached in it). */
	empty_hll(want, false);
	kr_set_bytes(c, "short", want, 18);
	kr_bulk(c, "embstr", "OBJECT ENCODING short");
	kr_int(c, 0, "PFCOUNT short");
	kr_bulk(c, "raw", "OBJECT ENCODING short");

	/* A stale cache with a wrong number is recomputed; a valid one is
	 * trusted as it is (that is what the cache is). */
	v = (unsigned char *)get_bytes(c, "h", &n);
	v[8] = 77;
	kr_set_bytes(c, "h2", v, n);
	kr_int(c, 77, "PFCOUNT h2");
	v[15] = 0x80;
	kr_set_bytes(c, "h2", v, n);
	kr_int(c, 4, "PFCOUNT h2");
	free(v);
}

Test(hll, pfadd_keeps_ttl)
{
	redisReply *r;

	kr_int(c, 1, "PFADD h a");
	kr_int(c, 1, "EXPIRE h 1000");
	kr_int(c, 1, "PFADD h b");
	kr_int(c, 2, "PFCOUNT h");
	kr_ok(c, "PFMERGE h");
	r = kr_cmd(c, "TTL h");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0, "TTL lost: %lld", r->integer);
	freeReplyObject(r);
	/* promotion to dense keeps it too */
	kr_ok(c, "CONFIG SET hll-sparse-max-bytes 100");
	for (int i = 0; i < 40; i++) {
		r = kr_cmd(c, "PFADD h e%d-1 e%d-2 e%d-3 e%d-4 e%d-5 e%d-6 e%d-7 e%d-8 e%d-9 e%d-10",
			   i, i, i, i, i, i, i, i, i, i);
		freeReplyObject(r);
	}
	kr_status(c, "dense", "PFDEBUG ENCODING h");
	r = kr_cmd(c, "TTL h");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0, "TTL lost on promotion");
	freeReplyObject(r);
}

/* ------------------------------------------------------------- errors */

Test(hll, not_an_hll)
{
	unsigned char bad[DENSE_SIZE + 1];

	kr_make_nonstring(c, "l");
	kr_err(c, E_WRONG, "PFADD l a");
	kr_err(c, E_WRONG, "PFCOUNT l");
	kr_err(c, E_WRONG, "PFCOUNT l l");
	kr_err(c, E_WRONG, "PFMERGE {x}d l");

	/* strings that are not HLLs: short, bad magic, encoding 2, dense of
	 * the wrong size (short, one byte long) */
	static const size_t lens[] = { 10, 18, 18, HDR + 100, DENSE_SIZE + 1 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		empty_hll(bad, false);
		memset(bad + 18, 0, sizeof(bad) - 18);
		if (i == 1)
			bad[1] = 'X';
		if (i == 2)
			bad[4] = 2;
		if (i >= 3)
			bad[4] = 0;
		kr_set_bytes(c, "{x}s", bad, lens[i]);
		kr_err(c, E_HLLTYPE, "PFADD {x}s a");
		kr_err(c, E_HLLTYPE, "PFCOUNT {x}s");
		kr_err(c, E_HLLTYPE, "PFCOUNT {x}ok {x}s");
		kr_err(c, E_HLLTYPE, "PFMERGE {x}d {x}s");
		kr_err(c, E_HLLTYPE, "PFMERGE {x}s");
		kr_err(c, E_HLLTYPE, "PFDEBUG ENCODING {x}s");
	}
	kr_ok(c, "SET {x}n 1234567890123456789");
	kr_err(c, E_HLLTYPE, "PFADD {x}n a");
	kr_ok(c, "SET {x}t foo");
	kr_err(c, E_HLLTYPE, "PFCOUNT {x}t");
	/* nothing was created or changed by the failed commands */
	kr_int(c, 0, "EXISTS {x}d");
	kr_bulk(c, "foo", "GET {x}t");
	/* a valid dense value is accepted */
	empty_hll(bad, false);
	bad[4] = 0;
	memset(bad + HDR, 0, DENSE_SIZE - HDR);
	kr_set_bytes(c, "{x}dense", bad, DENSE_SIZE);
	kr_int(c, 0, "PFCOUNT {x}dense");
	kr_int(c, 1, "PFADD {x}dense a");
	kr_int(c, 1, "PFCOUNT {x}dense");
}

Test(hll, corrupt_sparse)
{
	/* Opcodes covering 100 registers only. */
	unsigned char v[18];

	empty_hll(v, true);
	v[16] = 0x40;
	v[17] = 0x63;
	kr_set_bytes(c, "{c}c", v, 18);
	kr_err(c, E_CORRUPT, "PFCOUNT {c}c");
	kr_err(c, E_CORRUPT, "PFCOUNT {c}c {c}nope");
	kr_err(c, E_CORRUPT, "PFMERGE {c}d {c}c");
	kr_int(c, 0, "EXISTS {c}d");
	kr_err(c, E_CORRUPT, "PFADD {c}c a");   /* "a" is register 12711 */
	kr_err(c, E_CORRUPT, "PFDEBUG GETREG {c}c");
	kr_err(c, E_CORRUPT, "PFDEBUG TODENSE {c}c");
	kr_status(c, "sparse", "PFDEBUG ENCODING {c}c");
	kr_bulk(c, "Z:100", "PFDEBUG DECODE {c}c");
	/* an edit inside the covered registers works, as in Redis ("e70" is
	 * register 55, value 2) */
	kr_int(c, 1, "PFADD {c}c e70");
	kr_bulk(c, "z:55 v:2,1 z:44", "PFDEBUG DECODE {c}c");
	kr_err(c, E_CORRUPT, "PFCOUNT {c}c");
}

/* Random bytes after a valid header: replies are integers or the two HLL
 * errors, and the server stays up. */
Test(hll, random_corrupt_values_are_harmless)
{
	uint64_t x = 0x853c49e6748fea9bULL;

	for (int round = 0; round < 300; round++) {
		unsigned char v[HDR + 64];
		size_t n = HDR + (size_t)(round % 64);

		empty_hll(v, round & 1);
		for (size_t i = HDR; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v[i] = (x & 0x700) == 0 ? (unsigned char)(0x40 | (x & 0x3f)) : (unsigned char)x;
		}
		kr_set_bytes(c, "{r}v", v, n);
		const char *cmds[] = { "PFCOUNT {r}v", "PFCOUNT {r}v {r}w", "PFADD {r}v a b c d e f g",
				       "PFMERGE {r}w {r}v", "PFDEBUG DECODE {r}v", "PFDEBUG GETREG {r}v",
				       "PFCOUNT {r}v" };

		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
			redisReply *r = kr_cmd(c, cmds[k]);

			cr_assert(r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_STATUS ||
				  r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ARRAY ||
				  (r->type == REDIS_REPLY_ERROR && (strcmp(r->str, E_CORRUPT) == 0 ||
								    strcmp(r->str, E_HLLTYPE) == 0)),
				  "%s: unexpected reply type %d %s", cmds[k], r->type, r->str ? r->str : "");
			freeReplyObject(r);
		}
		freeReplyObject(kr_cmd(c, "DEL {r}w"));
	}
	kr_status(c, "PONG", "PING");
}

/* ------------------------------------------------------------- PFMERGE */

Test(hll, pfmerge)
{
	kr_int(c, 1, "PFADD {m}a a b c");
	kr_int(c, 1, "PFADD {m}b c d e");
	kr_ok(c, "PFMERGE {m}d {m}a {m}b");
	kr_int(c, 5, "PFCOUNT {m}d");
	kr_int(c, 5, "PFCOUNT {m}a {m}b");
	kr_status(c, "sparse", "PFDEBUG ENCODING {m}d");
	/* the destination is one of the inputs */
	kr_int(c, 1, "PFADD {m}d f");
	kr_ok(c, "PFMERGE {m}d {m}a");
	kr_int(c, 6, "PFCOUNT {m}d");
	kr_ok(c, "PFMERGE {m}a {m}b");
	kr_int(c, 5, "PFCOUNT {m}a");
	/* no sources / missing sources: an empty HLL */
	kr_ok(c, "PFMERGE {m}e");
	kr_int(c, 1, "EXISTS {m}e");
	kr_int(c, 0, "PFCOUNT {m}e");
	kr_ok(c, "PFMERGE {m}e2 {m}nope {m}nope2");
	kr_int(c, 0, "PFCOUNT {m}e2");
	/* a dense input makes a dense destination */
	kr_ok(c, "CONFIG SET hll-sparse-max-bytes 100");
	for (int i = 0; i < 30; i++) {
		redisReply *r = kr_cmd(c, "PFADD {m}big %d-a %d-b %d-c %d-d %d-e %d-f %d-g %d-h %d-i %d-j",
				       i, i, i, i, i, i, i, i, i, i);
		freeReplyObject(r);
	}
	kr_status(c, "dense", "PFDEBUG ENCODING {m}big");
	kr_ok(c, "CONFIG SET hll-sparse-max-bytes 3000");
	long long big = int_reply(c, "PFCOUNT {m}big");

	cr_assert(big > 290 && big < 310, "PFCOUNT of 300: %lld", big);
	kr_ok(c, "PFMERGE {m}d3 {m}a {m}big");
	kr_status(c, "dense", "PFDEBUG ENCODING {m}d3");
	kr_int(c, big + 5, "PFCOUNT {m}d3");
	kr_ok(c, "PFMERGE {m}a {m}big");
	kr_status(c, "dense", "PFDEBUG ENCODING {m}a");
	kr_int(c, big + 5, "PFCOUNT {m}a");
	/* PFMERGE replaces nothing but HLLs: a wrong-typed destination */
	kr_make_nonstring(c, "{m}l");
	kr_err(c, E_WRONG, "PFMERGE {m}l {m}b");
}

/* PFCOUNT over keys living on different shards (k0 k1 k5 are on three
 * different shards when there are 3). */
Test(hll, pfcount_keys_on_several_shards)
{
	kr_int(c, 1, "PFADD k0 a b");
	kr_int(c, 1, "PFADD k1 b c");
	kr_int(c, 1, "PFADD k5 d");
	kr_int(c, 4, "PFCOUNT k0 k1 k5");
	kr_int(c, 4, "PFCOUNT k5 nope k1 k0");
	kr_int(c, 2, "PFCOUNT k0");
	kr_ok(c, "SET k7 notanhll");
	kr_err(c, E_HLLTYPE, "PFCOUNT k0 k1 k7");
	/* PFMERGE gathers its keys too, and writes the destination back on
	 * its own shard, TTL and all */
	kr_ok(c, "PFMERGE k3 k0 k1 k5");
	kr_int(c, 4, "PFCOUNT k3");
	kr_int(c, 1, "EXPIRE k1 1000");
	kr_ok(c, "PFMERGE k1 k0 k5");
	kr_int(c, 4, "PFCOUNT k1");
	redisReply *r = kr_cmd(c, "TTL k1");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0, "TTL lost: %lld", r->integer);
	freeReplyObject(r);
	kr_int(c, 2, "PFCOUNT k0");
	kr_err(c, E_HLLTYPE, "PFMERGE k2 k0 k7");
	kr_int(c, 0, "EXISTS k2");
}

/* ------------------------------------------------------------- PFDEBUG */

Test(hll, pfdebug)
{
	redisReply *r;

	kr_int(c, 1, "PFADD h a");
	kr_status(c, "sparse", "PFDEBUG ENCODING h");
	kr_bulk(c, "Z:12711 v:2,1 Z:3672", "PFDEBUG DECODE h");
	kr_int(c, 1, "PFADD h hello");
	kr_bulk(c, "Z:9216 v:1,1 Z:3494 v:2,1 Z:3672", "PFDEBUG decode h");
	r = kr_cmd(c, "PFDEBUG GETREG h");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 16384);
	for (size_t i = 0; i < r->elements; i++)
		cr_assert_eq(r->element[i]->integer, i == 12711 ? 2 : i == 9216 ? 1 : 0, "register %zu", i);
	freeReplyObject(r);
	/* GETREG converted it */
	kr_status(c, "dense", "PFDEBUG ENCODING h");
	kr_int(c, 2, "PFCOUNT h");
	kr_int(c, DENSE_SIZE, "STRLEN h");
	kr_err(c, "ERR HLL encoding is not sparse", "PFDEBUG DECODE h");
	kr_int(c, 0, "PFDEBUG TODENSE h");
	kr_int(c, 1, "PFADD s x");
	kr_int(c, 1, "PFDEBUG TODENSE s");
	kr_status(c, "dense", "PFDEBUG ENCODING s");
	kr_int(c, 1, "PFCOUNT s");
	kr_err(c, "ERR Unknown PFDEBUG subcommand 'foo'", "PFDEBUG foo h");
	kr_err(c, "ERR The specified key does not exist", "PFDEBUG ENCODING nope");
	kr_err(c, "ERR The specified key does not exist", "PFDEBUG foo nope");
}

/* ---------------------------------------------------- identity with Redis */

/* Run one command on both servers (this one and the Redis reference):
 * the rendered replies must be equal. */
#define both(argc, argv, lens) kr_expect_same(c, rc, argc, argv, lens)
#define bothf(...) kr_expect_samef(c, rc, __VA_ARGS__)

/* The two servers hold the same bytes at key. */
static void same_bytes(const char *key)
{
	size_t na, nb;
	char *a = get_bytes(c, key, &na), *b = get_bytes(rc, key, &nb);

	cr_assert(na == nb, "%s: %zu bytes here, %zu in Redis (encoding %d vs %d)", key, na, nb,
		  na > 4 ? a[4] : -1, nb > 4 ? b[4] : -1);
	for (size_t i = 0; i < na; i++)
		cr_assert(a[i] == b[i], "%s: first difference at byte %zu of %zu", key, i, na);
	free(a);
	free(b);
}

static uint64_t rng = 0xda3e39cb94b95bdbULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* PFADD to both a batch of up to maxn elements drawn from a universe of
 * `universe` names (so some repeat), some binary and of assorted lengths. */
static void pfadd_batch(const char *key, unsigned maxn, unsigned universe)
{
	static char store[64][48];
	const char *argv[66];
	size_t lens[66];
	unsigned n = 1 + (unsigned)(rnd() % maxn);

	if (n > 64)
		n = 64;
	argv[0] = "PFADD";
	lens[0] = 5;
	argv[1] = key;
	lens[1] = strlen(key);
	for (unsigned i = 0; i < n; i++) {
		uint64_t id = rnd() % universe;

		if (id % 7 == 0) {
			/* binary element: NULs and high bytes, 0..40 bytes */
			size_t len = (size_t)(id % 41);

			for (size_t j = 0; j < len; j++)
				store[i][j] = (char)(id * 31 + j * 17);
			lens[2 + i] = len;
		} else {
			lens[2 + i] = (size_t)snprintf(store[i], sizeof(store[i]), "element:%llu",
						       (unsigned long long)id);
		}
		argv[2 + i] = store[i];
	}
	both(2 + (int)n, argv, lens);
}

/* Grow one key batch by batch from empty to dense, comparing the bytes and
 * the count after every batch (PFCOUNT rewrites the cache: compared too). */
static void grow_and_compare(const char *key, unsigned batches, unsigned maxn, unsigned universe)
{
	for (unsigned b = 0; b < batches; b++) {
		pfadd_batch(key, maxn, universe);
		same_bytes(key);
		if (b % 3 == 0) {
			bothf("PFCOUNT %s", key);
			same_bytes(key);
		}
	}
	bothf("PFCOUNT %s", key);
	same_bytes(key);
	bothf("PFDEBUG ENCODING %s", key);
}

Test(hll_vs_redis, pfadd_sparse_to_dense_identical)
{
	grow_and_compare("{i}a", 40, 4, 100000);      /* stays sparse */
	bothf("PFDEBUG ENCODING {i}a");
	bothf("PFDEBUG DECODE {i}a");
	grow_and_compare("{i}b", 300, 30, 1000000);   /* crosses into dense */
	bothf("PFDEBUG ENCODING {i}b");
	grow_and_compare("{i}c", 200, 10, 300);       /* small universe: many repeats */
}

Test(hll_vs_redis, pfcount_numbers_identical)
{
	/* Counts of large sets, from both servers. */
	for (unsigned k = 0; k < 3; k++) {
		char key[16];

		snprintf(key, sizeof(key), "{n}%u", k);
		for (unsigned b = 0; b < (k + 1) * 150; b++)
			pfadd_batch(key, 64, 1u << 30);
		bothf("PFCOUNT %s", key);
		same_bytes(key);
	}
	bothf("PFCOUNT {n}0 {n}1");
	bothf("PFCOUNT {n}0 {n}1 {n}2 {n}missing");
}

Test(hll_vs_redis, small_sparse_max_identical)
{
	static const unsigned limits[] = { 30, 100, 500 };

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		char key[16];

		bothf("CONFIG SET hll-sparse-max-bytes %u", limits[i]);
		snprintf(key, sizeof(key), "{s}%zu", i);
		grow_and_compare(key, 60, 6, 100000);
	}
}

Test(hll_vs_redis, pfmerge_identical)
{
	/* sparse sources, new and existing destinations */
	for (unsigned b = 0; b < 8; b++) {
		pfadd_batch("{g}a", 20, 100000);
		pfadd_batch("{g}b", 20, 100000);
	}
	pfadd_batch("{g}c", 3, 100000);
	bothf("PFMERGE {g}d {g}a {g}b");
	same_bytes("{g}d");
	bothf("PFMERGE {g}c {g}a");
	same_bytes("{g}c");
	bothf("PFMERGE {g}c {g}b {g}missing");
	same_bytes("{g}c");
	bothf("PFMERGE {g}e");
	same_bytes("{g}e");
	bothf("PFMERGE {g}f {g}missing");
	same_bytes("{g}f");
	bothf("PFCOUNT {g}c");
	same_bytes("{g}c");
	/* a sparse merge that outgrows hll-sparse-max-bytes on the way */
	bothf("CONFIG SET hll-sparse-max-bytes 200");
	bothf("PFMERGE {g}p {g}a {g}b");
	same_bytes("{g}p");
	bothf("PFDEBUG ENCODING {g}p");
	bothf("CONFIG SET hll-sparse-max-bytes 3000");
	/* a dense source */
	for (unsigned b = 0; b < 200; b++)
		pfadd_batch("{g}big", 40, 1u << 30);
	same_bytes("{g}big");
	bothf("PFMERGE {g}d2 {g}a {g}big");
	same_bytes("{g}d2");
	bothf("PFMERGE {g}a {g}big {g}b");
	same_bytes("{g}a");
	bothf("PFCOUNT {g}a {g}b {g}c {g}big");
	bothf("PFCOUNT {g}a");
	same_bytes("{g}a");
	/* across shards (k0 k1 k5 are on three shards when there are 3) */
	pfadd_batch("k0", 30, 100000);
	pfadd_batch("k1", 30, 100000);
	bothf("PFMERGE k5 k0 k1 {g}a");
	same_bytes("k5");
	bothf("PFMERGE k1 k0");
	same_bytes("k1");
	bothf("PFCOUNT k0 k1 k5");
}

/* A random valid sparse value that PFADD would never build: short XZEROs,
 * ZERO runs next to each other, unmerged neighbouring VALs of one value.
 * The editor's every choice (split shapes, how far it merges, when it
 * promotes) shows on such inputs. Values are kept small so that equal
 * neighbours are common. Returns the length. */
static size_t random_sparse(unsigned char *out, size_t cap)
{
	size_t n = HDR;
	unsigned left = 16384;

	empty_hll(out, rnd() % 2);
	while (left > 0) {
		unsigned kind = (unsigned)(rnd() % 10), len;

		/* Every opcode takes at most 2 bytes: once fewer than 4 are
		 * left, one XZERO ends the value. */
		if (n + 4 > cap || kind == 0) {   /* a long zero run */
			len = 1 + (unsigned)(rnd() % left);
			if (n + 4 > cap)
				len = left;
			out[n++] = (unsigned char)(0x40 | (len - 1) >> 8);
			out[n++] = (unsigned char)((len - 1) & 0xff);
		} else if (kind < 4) {
			len = 1 + (unsigned)(rnd() % 64);
			if (len > left)
				len = left;
			out[n++] = (unsigned char)(len - 1);
		} else if (kind == 4 && left > 1) {
			len = 1 + (unsigned)(rnd() % 3);   /* a short XZERO */
			out[n++] = 0x40;
			out[n++] = (unsigned char)(len - 1);
		} else {
			unsigned v = 1 + (unsigned)(rnd() % (rnd() % 4 ? 3 : 32));

			len = 1 + (unsigned)(rnd() % 4);
			if (len > left)
				len = left;
			out[n++] = (unsigned char)(0x80 | (v - 1) << 2 | (len - 1));
		}
		left -= len;
	}
	return n;
}

Test(hll_vs_redis, edits_of_unusual_sparse_values_identical)
{
	unsigned char a[HDR + 400], b[HDR + 400];

	for (unsigned round = 0; round < 150; round++) {
		size_t na = random_sparse(a, sizeof(a)), nb = random_sparse(b, sizeof(b));

		kr_set_bytes(c, "{u}a", a, na);
		kr_set_bytes(rc, "{u}a", a, na);
		kr_set_bytes(c, "{u}b", b, nb);
		kr_set_bytes(rc, "{u}b", b, nb);
		if (round % 3 == 0)
			bothf("CONFIG SET hll-sparse-max-bytes %u", (unsigned)(HDR + 20 + rnd() % 300));
		/* PFMERGE sets every register of b in a, in index order */
		bothf("PFMERGE {u}a {u}b");
		same_bytes("{u}a");
		bothf("PFCOUNT {u}a");
		/* and random single edits */
		kr_set_bytes(c, "{u}b", b, nb);
		kr_set_bytes(rc, "{u}b", b, nb);
		for (unsigned k = 0; k < 4; k++) {
			pfadd_batch("{u}b", 3, 1u << 20);
			same_bytes("{u}b");
		}
		bothf("PFCOUNT {u}b");
	}
	bothf("CONFIG SET hll-sparse-max-bytes 3000");
}

/* Values move between the servers as bytes (what DUMP/RESTORE, RDB and
 * replication do) and both carry on identically. */
Test(hll_vs_redis, values_carried_across)
{
	size_t n;
	char *v;

	for (unsigned b = 0; b < 20; b++)
		pfadd_batch("{t}a", 10, 100000);
	/* from Redis to the server */
	v = get_bytes(rc, "{t}a", &n);
	kr_set_bytes(c, "{t}r", v, n);
	kr_set_bytes(rc, "{t}r", v, n);
	free(v);
	for (unsigned b = 0; b < 150; b++) {
		pfadd_batch("{t}r", 30, 1000000);
		same_bytes("{t}r");
	}
	bothf("PFCOUNT {t}r");
	same_bytes("{t}r");
	/* from the server to Redis, dense */
	v = get_bytes(c, "{t}r", &n);
	kr_set_bytes(rc, "{t}s", v, n);
	kr_set_bytes(c, "{t}s", v, n);
	free(v);
	pfadd_batch("{t}s", 30, 1000000);
	same_bytes("{t}s");
	bothf("PFCOUNT {t}s {t}a");
	/* an embedded-size value (SET of a short sparse HLL) */
	pfadd_batch("{t}e", 1, 100);
	v = get_bytes(rc, "{t}e", &n);
	cr_assert_leq(n, 44);
	kr_set_bytes(c, "{t}e2", v, n);
	kr_set_bytes(rc, "{t}e2", v, n);
	free(v);
	pfadd_batch("{t}e2", 5, 100000);
	same_bytes("{t}e2");
}
