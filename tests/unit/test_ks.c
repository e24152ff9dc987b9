/* Unit tests for shards/ks.c: the keyspace hash table, string encodings,
 * expiry index, SCAN cursor, random sampling and entry moves.
 *
 * check_db() walks every bucket and db->exp and asserts the invariants
 * the rest of the server relies on (hash/bucket placement, used counts,
 * exp[] <-> exp_idx back-pointers, NUL terminators, no duplicate keys);
 * the tests call it after the operations they exercise. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define KS_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define KS_LEAK_CHECK() true
#endif

static struct ks_space *ks;
static struct ks_db *db;

static void setup(void)
{
	ks_set_seed(0x5eed);
	ks = ks_space_new(4);
	cr_assert_not_null(ks);
	db = &ks->db[0];
}

static void teardown(void)
{
	ks_space_free(ks);
	ks = NULL;
}

TestSuite(ks, .init = setup, .fini = teardown);

/* A test whose body is followed by freeing the keyspace and, under
 * AddressSanitizer, a leak check that fails the test (a failure in .fini
 * would only be a warning). */
#define KS_TEST(name)                                                     \
	static void name##_body(void);                                    \
	Test(ks, name)                                                    \
	{                                                                 \
		name##_body();                                            \
		teardown();                                               \
		cr_assert(KS_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
	}                                                                 \
	static void name##_body(void)

/* ---------------------------------------------------------------- helpers */

static uint64_t splitmix(void *arg)
{
	uint64_t *s = arg;
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct ks_entry *set_s(struct ks_db *d, const char *k, const char *v, bool keep_ttl)
{
	return ks_set_str(d, k, strlen(k), v, strlen(v), keep_ttl);
}

static struct ks_entry *find_raw(struct ks_db *d, const char *k)
{
	return ks_find_raw(d, k, strlen(k));
}

static void assert_value(const struct ks_entry *e, const char *want, size_t wlen)
{
	char buf[24];
	size_t len;
	const char *p = ks_str_get(e, buf, &len);
	cr_assert(len == wlen, "key %s: length %zu, want %zu", e->key, len, wlen);
	cr_assert(memcmp(p, want, wlen) == 0, "key %s: value mismatch", e->key);
	cr_assert(p[len] == '\0', "key %s: value not NUL-terminated", e->key);
}

static uint64_t tsize(const struct ks_table *t)
{
	return t->b ? t->mask + 1 : 0;
}

/* Every structural invariant of a db. */
static void check_db(struct ks_db *d)
{
	uint64_t seen_exp = 0;
	for (int ti = 0; ti < 2; ti++) {
		struct ks_table *t = &d->t[ti];
		uint64_t n = 0;
		if (!t->b) {
			cr_assert(t->used == 0, "table %d: used %lu without buckets", ti, (unsigned long)t->used);
			continue;
		}
		cr_assert((t->mask & (t->mask + 1)) == 0, "table %d size not a power of two", ti);
		for (uint64_t i = 0; i <= t->mask; i++) {
			if (ti == 0 && d->rehash_idx >= 0 && i < (uint64_t)d->rehash_idx)
				cr_assert_null(t->b[i], "bucket %lu below rehash_idx not empty", (unsigned long)i);
			for (struct ks_entry *e = t->b[i]; e; e = e->next) {
				cr_assert(e->hash == (uint32_t)ks_hash(e->key, e->klen), "key %s: stale hash", e->key);
				cr_assert((e->hash & t->mask) == i, "key %s: in wrong bucket", e->key);
				cr_assert(e->key[e->klen] == '\0', "key not NUL-terminated");
				cr_assert(e->type == KS_STRING, "key %s: type %d", e->key, e->type);
				switch (e->enc) {
				case KS_ENC_INT:
					break;
				case KS_ENC_EMBSTR:
					cr_assert(e->vlen <= KS_EMBSTR_MAX, "key %s: embstr of %u bytes", e->key, e->vlen);
					cr_assert(e->key[e->klen + 1 + e->vlen] == '\0', "key %s: embstr not terminated", e->key);
					break;
				case KS_ENC_RAW: {
					const struct ks_str *s = e->v.ptr;
					cr_assert_not_null(s);
					cr_assert(s->len <= s->cap, "key %s: len > cap", e->key);
					cr_assert(s->buf[s->len] == '\0', "key %s: raw not terminated", e->key);
					break;
				}
				default:
					cr_assert_fail("key %s: bad encoding %d", e->key, e->enc);
				}
				if (e->expire_ms != KS_NO_EXPIRE) {
					cr_assert(e->exp_idx < d->nexp, "key %s: exp_idx %u >= nexp %u", e->key, e->exp_idx, d->nexp);
					cr_assert(d->exp[e->exp_idx] == e, "key %s: exp[exp_idx] is another entry", e->key);
					seen_exp++;
				}
				cr_assert(ks_find_raw(d, e->key, e->klen) == e, "key %s: duplicate or unreachable", e->key);
				n++;
			}
		}
		cr_assert(n == t->used, "table %d: %lu entries, used %lu", ti, (unsigned long)n, (unsigned long)t->used);
	}
	if (d->rehash_idx < 0) {
		cr_assert_null(d->t[1].b, "t[1] allocated while not rehashing");
	} else {
		cr_assert_not_null(d->t[1].b, "rehashing without t[1]");
		cr_assert((uint64_t)d->rehash_idx <= d->t[0].mask, "rehash_idx out of range");
	}
	cr_assert(seen_exp == d->nexp, "%lu entries with expiry, nexp %u", (unsigned long)seen_exp, d->nexp);
	cr_assert(d->nexp <= d->exp_cap, "nexp > exp_cap");
	for (uint32_t i = 0; i < d->nexp; i++) {
		cr_assert(d->exp[i]->exp_idx == i, "exp[%u]->exp_idx = %u", i, d->exp[i]->exp_idx);
		cr_assert(d->exp[i]->expire_ms != KS_NO_EXPIRE, "exp[%u] has no expiry", i);
	}
}

/* A value for key i: integers, embedded and raw strings in turn. */
static size_t value_for(int i, char *buf)
{
	switch (i % 3) {
	case 0:
		return (size_t)sprintf(buf, "%d", i * 7 - 50000);
	case 1:
		return (size_t)sprintf(buf, "v%d-%.*s", i, i % 30, "abcdefghijklmnopqrstuvwxyz0123456789");
	default: {
		size_t n = 45 + (size_t)(i % 200);
		for (size_t j = 0; j < n; j++)
			buf[j] = (char)('a' + (i + (int)j) % 26);
		buf[n] = '\0';
		return n;
	}
	}
}

static int expected_enc(int i)
{
	return i % 3 == 0 ? KS_ENC_INT : i % 3 == 1 ? KS_ENC_EMBSTR : KS_ENC_RAW;
}

/* ------------------------------------------------------------------ hash */

KS_TEST(hash_is_seeded_and_deterministic)
{
	static const char *keys[] = { "", "a", "foo", "key:000001", "a much longer key of forty-one bytes ....." };
	uint64_t h1[5], h2[5];
	for (int i = 0; i < 5; i++) {
		h1[i] = ks_hash(keys[i], strlen(keys[i]));
		cr_assert(h1[i] == ks_hash(keys[i], strlen(keys[i])), "hash of \"%s\" not deterministic", keys[i]);
	}
	ks_set_seed(0x5eed + 1);
	for (int i = 0; i < 5; i++) {
		h2[i] = ks_hash(keys[i], strlen(keys[i]));
		cr_assert(h1[i] != h2[i], "seed does not change hash of \"%s\"", keys[i]);
	}
	ks_set_seed(0x5eed);
	for (int i = 0; i < 5; i++)
		cr_assert(h1[i] == ks_hash(keys[i], strlen(keys[i])), "same seed, other hash for \"%s\"", keys[i]);
}

/* Keys that naive hashes confuse: zero runs of every length, swapped
 * bytes, trailing NULs, words differing across the 8-byte boundary. */
KS_TEST(hash_distinguishes_trivial_collisions)
{
	enum { NZ = 40 };
	static const char zeros[NZ] = { 0 };
	uint64_t h[NZ + 16];
	size_t n = 0;
	for (size_t len = 0; len < NZ; len++)
		h[n++] = ks_hash(zeros, len);
	static const struct { const char *k; size_t len; } more[] = {
		{ "a", 1 }, { "a\0", 2 }, { "ab", 2 }, { "ba", 2 }, { "abc", 3 }, { "acb", 3 },
		{ "12345678", 8 }, { "12345679", 9 }, { "1234567812345678", 16 },
		{ "1234567812345679", 16 }, { "2234567812345678", 16 }, { "\x01", 1 },
		{ "\x00\x01", 2 }, { "\x01\x00", 2 }, { "aaaaaaaab", 9 }, { "baaaaaaaa", 9 },
	};
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		h[n++] = ks_hash(more[i].k, more[i].len);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			cr_assert(h[i] != h[j], "hash collision between inputs %zu and %zu", i, j);
}

static void avalanche_count(const unsigned char *k0, size_t len, size_t bit, unsigned flips[64])
{
	unsigned char k[24];
	memcpy(k, k0, len);
	uint64_t a = ks_hash(k, len);
	k[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	uint64_t d = a ^ ks_hash(k, len);
	for (int o = 0; o < 64; o++)
		flips[o] += (d >> o) & 1;
}

/* Every input bit must flip every output bit about half the time. Single
 * bytes are tried exhaustively (256 inputs, so a looser bound: 4.8 sigma);
 * longer keys on 2000 random inputs (bound 0.5 +- 0.07, 6 sigma). */
KS_TEST(hash_avalanche)
{
	for (size_t bit = 0; bit < 8; bit++) {
		unsigned flips[64] = { 0 };
		for (unsigned x = 0; x < 256; x++) {
			unsigned char k = (unsigned char)x;
			avalanche_count(&k, 1, bit, flips);
		}
		for (int o = 0; o < 64; o++)
			cr_assert(flips[o] > 256 * 35 / 100 && flips[o] < 256 * 65 / 100,
				  "len 1: input bit %zu flips output bit %d %u/256 times", bit, o, flips[o]);
	}
	static const size_t lens[] = { 2, 3, 5, 8, 9, 13, 16, 24 };
	enum { SAMPLES = 2000 };
	uint64_t rs = 42;
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];
		for (size_t bit = 0; bit < len * 8; bit++) {
			unsigned flips[64] = { 0 };
			for (int s = 0; s < SAMPLES; s++) {
				unsigned char k[24];
				for (size_t j = 0; j < len; j++)
					k[j] = (unsigned char)splitmix(&rs);
				avalanche_count(k, len, bit, flips);
			}
			for (int o = 0; o < 64; o++)
				cr_assert(flips[o] > SAMPLES * 43 / 100 && flips[o] < SAMPLES * 57 / 100,
					  "len %zu: input bit %zu flips output bit %d %u/%d times",
					  len, bit, o, flips[o], SAMPLES);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

KS_TEST(hash_sequential_keys_spread)
{
	enum { N = 1 << 16 };
	uint64_t *h = malloc(N * sizeof(*h));
	unsigned *bucket = calloc(N, sizeof(*bucket));
	cr_assert(h && bucket);
	char k[32];
	for (int i = 0; i < N; i++) {
		int n = sprintf(k, "key:%012d", i);
		h[i] = ks_hash(k, (size_t)n);
		bucket[h[i] & (N - 1)]++;
	}
	unsigned maxc = 0, empty = 0;
	for (int i = 0; i < N; i++) {
		maxc = bucket[i] > maxc ? bucket[i] : maxc;
		empty += bucket[i] == 0;
	}
	/* Poisson(1): ~36.8% empty buckets, longest chain ~8. */
	cr_assert(empty > N * 34 / 100 && empty < N * 40 / 100, "%u empty buckets of %d", empty, N);
	cr_assert(maxc <= 12, "longest chain %u", maxc);
	qsort(h, N, sizeof(*h), cmp_u64);
	for (int i = 1; i < N; i++)
		cr_assert(h[i] != h[i - 1], "64-bit collision among sequential keys");
	free(h);
	free(bucket);
}

/* -------------------------------------------------------- constructor */

KS_TEST(space_new_rejects_bad_ndb)
{
	static const int bad[] = { 0, -1, INT_MIN };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_null(ks_space_new(bad[i]), "ndb %d accepted", bad[i]);
		cr_assert(errno == EINVAL, "ndb %d: errno %d", bad[i], errno);
	}
	cr_assert(ks->ndb == 4);
	for (int i = 0; i < ks->ndb; i++) {
		cr_assert(ks_size(&ks->db[i]) == 0 && ks->db[i].rehash_idx == -1);
		cr_assert_null(ks_find(&ks->db[i], "x", 1, 0));
	}
}

/* ------------------------------------------------------- basic CRUD */

KS_TEST(insert_find_delete_100k)
{
	enum { N = 100000 };
	char k[32], v[300];
	for (int i = 0; i < N; i++) {
		int kl = sprintf(k, "key:%d", i);
		size_t vl = value_for(i, v);
		struct ks_entry *e = ks_set_str(db, k, (size_t)kl, v, vl, false);
		cr_assert_not_null(e);
		cr_assert(e->enc == expected_enc(i), "key %s: enc %d", k, e->enc);
	}
	cr_assert(ks_size(db) == N);
	check_db(db);
	for (int i = 0; i < N; i++) {
		int kl = sprintf(k, "key:%d", i);
		size_t vl = value_for(i, v);
		struct ks_entry *e = ks_find(db, k, (size_t)kl, 0);
		cr_assert_not_null(e, "key %s missing", k);
		cr_assert(e->klen == (uint32_t)kl && memcmp(e->key, k, (size_t)kl) == 0);
		cr_assert(e->enc == expected_enc(i));
		assert_value(e, v, vl);
	}
	/* Absent keys, including prefixes and extensions of present ones. */
	static const char *absent[] = { "key:", "key:100000", "key:1x", "ey:1", "", "key:-1", "KEY:1" };
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		cr_assert_null(ks_find(db, absent[i], strlen(absent[i]), 0), "found absent key \"%s\"", absent[i]);

	for (int i = 0; i < N; i += 2) {
		int kl = sprintf(k, "key:%d", i);
		cr_assert(ks_delete_key(db, k, (size_t)kl, 0) == 1, "delete %s", k);
		cr_assert(ks_delete_key(db, k, (size_t)kl, 0) == 0, "second delete of %s", k);
	}
	cr_assert(ks_size(db) == N / 2);
	check_db(db);
	for (int i = 0; i < N; i++) {
		int kl = sprintf(k, "key:%d", i);
		struct ks_entry *e = ks_find(db, k, (size_t)kl, 0);
		if (i % 2 == 0) {
			cr_assert_null(e, "deleted key %s still found", k);
		} else {
			size_t vl = value_for(i, v);
			cr_assert_not_null(e, "key %s lost", k);
			assert_value(e, v, vl);
		}
	}
	for (int i = 1; i < N; i += 2) {
		int kl = sprintf(k, "key:%d", i);
		struct ks_entry *e = ks_find(db, k, (size_t)kl, 0);
		cr_assert_not_null(e);
		ks_delete(db, e);
	}
	cr_assert(ks_size(db) == 0);
	while (ks_rehash_step(db, 100))
		;
	check_db(db);
	cr_assert(tsize(&db->t[0]) <= 4, "table not shrunk: %lu buckets", (unsigned long)tsize(&db->t[0]));
}

KS_TEST(set_int_and_binary_keys)
{
	static const long long vals[] = { 0, 1, -1, LLONG_MAX, LLONG_MIN, 1000000007 };
	static const char *want[] = { "0", "1", "-1", "9223372036854775807", "-9223372036854775808", "1000000007" };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char k[3] = { 'k', '\0', (char)i };  /* embedded NUL in the key */
		struct ks_entry *e = ks_set_int(db, k, sizeof(k), vals[i], false);
		cr_assert(e->enc == KS_ENC_INT && e->v.i == vals[i]);
		cr_assert(ks_find(db, k, sizeof(k), 0) == e);
		assert_value(e, want[i], strlen(want[i]));
	}
	cr_assert(ks_size(db) == 6);
	cr_assert_null(ks_find(db, "k", 1, 0), "key k matched a longer key");
	/* Empty key and empty value are legal. */
	struct ks_entry *e = ks_set_str(db, "", 0, "", 0, false);
	cr_assert(e->enc == KS_ENC_EMBSTR && e->vlen == 0);
	cr_assert(ks_find(db, "", 0, 0) == e);
	assert_value(e, "", 0);
	check_db(db);
}

/* --------------------------------------------------- overwrite / encodings */

enum { EXP_KEEP = 0, EXP_SET = 1, EXP_CLEAR = 2 };

struct ow_step {
	const char *val;       /* NULL: use ival via ks_set_int; "#N": N 'x' bytes */
	long long ival;
	int before;            /* expiry action before the write */
	int64_t exp_before;    /* for EXP_SET */
	bool keep_ttl;
	int enc;               /* expected encoding */
	int64_t exp_after;     /* expected expire_ms */
};

static size_t ow_value(const struct ow_step *s, char *buf)
{
	if (s->val && s->val[0] == '#') {
		size_t n = (size_t)atoi(s->val + 1);
		memset(buf, 'x', n);
		buf[n] = '\0';
		return n;
	}
	strcpy(buf, s->val);
	return strlen(buf);
}

static const struct ow_step ow_steps[] = {
	{ "123", 0, EXP_KEEP, 0, false, KS_ENC_INT, KS_NO_EXPIRE },
	{ "hello", 0, EXP_SET, 5000, true, KS_ENC_EMBSTR, 5000 },
	{ "#100", 0, EXP_KEEP, 0, true, KS_ENC_RAW, 5000 },
	{ "#60", 0, EXP_KEEP, 0, true, KS_ENC_RAW, 5000 },           /* raw buffer reused */
	{ "#500", 0, EXP_KEEP, 0, false, KS_ENC_RAW, KS_NO_EXPIRE }, /* raw grows, ttl dropped */
	{ "-42", 0, EXP_SET, 7000, true, KS_ENC_INT, 7000 },
	{ "#44", 0, EXP_KEEP, 0, true, KS_ENC_EMBSTR, 7000 },         /* entry grows (moves) */
	{ "", 0, EXP_KEEP, 0, false, KS_ENC_EMBSTR, KS_NO_EXPIRE },
	{ "", 0, EXP_KEEP, 0, true, KS_ENC_EMBSTR, KS_NO_EXPIRE },    /* keep_ttl without ttl */
	{ NULL, LLONG_MIN, EXP_SET, 9000, true, KS_ENC_INT, 9000 },
	{ "007", 0, EXP_KEEP, 0, true, KS_ENC_EMBSTR, 9000 },
	{ "9223372036854775808", 0, EXP_KEEP, 0, true, KS_ENC_EMBSTR, 9000 },
	{ "-9223372036854775808", 0, EXP_KEEP, 0, false, KS_ENC_INT, KS_NO_EXPIRE },
	{ "#45", 0, EXP_SET, 1, true, KS_ENC_RAW, 1 },
	{ "z", 0, EXP_KEEP, 0, true, KS_ENC_EMBSTR, 1 },
	{ "#43", 0, EXP_CLEAR, 0, true, KS_ENC_EMBSTR, KS_NO_EXPIRE },
	{ "#2000", 0, EXP_SET, 3, false, KS_ENC_RAW, KS_NO_EXPIRE },
	{ NULL, 77, EXP_SET, 4, false, KS_ENC_INT, KS_NO_EXPIRE },
	{ "#30", 0, EXP_SET, 5, true, KS_ENC_EMBSTR, 5 },
};

/* The steps run on many keys in lockstep, with unrelated keys holding
 * expiries, so entries that move on realloc have to fix their chain
 * neighbours and db->exp slots. */
KS_TEST(overwrite_across_encodings_keeps_exp_consistent)
{
	enum { NK = 300 };
	char k[32], v[2100];
	for (int i = 0; i < NK; i++) {
		sprintf(k, "other:%d", i);
		struct ks_entry *e = set_s(db, k, i % 2 ? "x" : "123456", false);
		ks_set_expire(db, e, 100000 + i);
	}
	for (size_t si = 0; si < sizeof(ow_steps) / sizeof(ow_steps[0]); si++) {
		const struct ow_step *s = &ow_steps[si];
		for (int i = 0; i < NK; i++) {
			int kl = sprintf(k, "ow:%d", i);
			struct ks_entry *e = ks_find(db, k, (size_t)kl, 0);
			cr_assert(si == 0 || e, "step %zu: key lost", si);
			if (e && s->before == EXP_SET)
				ks_set_expire(db, e, s->exp_before);
			else if (e && s->before == EXP_CLEAR)
				ks_persist(db, e);
			size_t vl = 0;
			if (s->val) {
				vl = ow_value(s, v);
				e = ks_set_str(db, k, (size_t)kl, v, vl, s->keep_ttl);
			} else {
				e = ks_set_int(db, k, (size_t)kl, s->ival, s->keep_ttl);
				vl = ks_ll2str(v, s->ival);
			}
			cr_assert(e->enc == s->enc, "step %zu: enc %d, want %d", si, e->enc, s->enc);
			cr_assert(e->expire_ms == s->exp_after, "step %zu: expire %ld, want %ld",
				  si, (long)e->expire_ms, (long)s->exp_after);
			cr_assert(ks_find_raw(db, k, (size_t)kl) == e, "step %zu: returned entry not linked", si);
			assert_value(e, v, vl);
		}
		check_db(db);
		cr_assert(ks_size(db) == 2 * NK, "step %zu: size %lu", si, (unsigned long)ks_size(db));
		uint32_t want_exp = NK + (s->exp_after != KS_NO_EXPIRE ? NK : 0);
		cr_assert(db->nexp == want_exp, "step %zu: nexp %u want %u", si, db->nexp, want_exp);
	}
}

/* The value may point into the key's own current storage. */
KS_TEST(overwrite_with_own_bytes)
{
	struct ks_entry *e = set_s(db, "k", "hello world", false);
	char nb[24];
	size_t len;
	const char *p = ks_str_get(e, nb, &len);
	e = ks_set_str(db, "k", 1, p + 6, 5, false);
	assert_value(e, "world", 5);

	char big[200];
	for (int i = 0; i < 199; i++)
		big[i] = (char)('A' + i % 26);
	big[199] = '\0';
	e = set_s(db, "k", big, false);
	cr_assert(e->enc == KS_ENC_RAW);
	p = ks_str_get(e, nb, &len);
	e = ks_set_str(db, "k", 1, p + 10, 150, false);       /* raw -> raw */
	assert_value(e, big + 10, 150);
	p = ks_str_get(e, nb, &len);
	e = ks_set_str(db, "k", 1, p + 1, 30, false);         /* raw -> embstr */
	cr_assert(e->enc == KS_ENC_EMBSTR);
	assert_value(e, big + 11, 30);
	p = ks_str_get(e, nb, &len);
	e = ks_set_str(db, "k", 1, p, 2, false);              /* "LM" stays embstr */
	assert_value(e, big + 11, 2);
	check_db(db);
}

struct mkraw_case {
	const char *init;      /* "#N": N bytes */
	size_t min_cap;
	int enc_before;
};

KS_TEST(str_make_raw)
{
	static const struct mkraw_case cases[] = {
		{ "12345", 0, KS_ENC_INT },
		{ "-9223372036854775808", 40, KS_ENC_INT },
		{ "hello", 0, KS_ENC_EMBSTR },
		{ "hello", 5, KS_ENC_EMBSTR },
		{ "hello", 1000, KS_ENC_EMBSTR },
		{ "", 0, KS_ENC_EMBSTR },
		{ "#44", 44, KS_ENC_EMBSTR },
		{ "#100", 0, KS_ENC_RAW },
		{ "#100", 100, KS_ENC_RAW },
		{ "#100", 5000, KS_ENC_RAW },
	};
	char v[200], k[32];
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct mkraw_case *c = &cases[ci];
		struct ow_step s = { .val = c->init };
		size_t vl = ow_value(&s, v);
		int kl = sprintf(k, "mk:%zu", ci);
		struct ks_entry *e = ks_set_str(db, k, (size_t)kl, v, vl, false);
		ks_set_expire(db, e, 1000 + (int64_t)ci);
		cr_assert(e->enc == c->enc_before, "case %zu: enc %d", ci, e->enc);
		struct ks_str *old = e->enc == KS_ENC_RAW ? e->v.ptr : NULL;
		size_t old_cap = old ? old->cap : 0;
		struct ks_str *rs = ks_str_make_raw(e, c->min_cap);
		cr_assert(ks_find_raw(db, k, (size_t)kl) == e, "case %zu: entry moved", ci);
		cr_assert(e->enc == KS_ENC_RAW && e->v.ptr == rs);
		cr_assert(rs->len == vl && rs->cap >= c->min_cap && rs->cap >= vl, "case %zu: len %zu cap %zu",
			  ci, rs->len, rs->cap);
		if (old && c->min_cap <= old_cap)
			cr_assert(rs == old, "case %zu: raw reallocated though it had room", ci);
		assert_value(e, v, vl);
		/* Write through the ks_str, as APPEND does. */
		size_t add = rs->cap - rs->len < 3 ? rs->cap - rs->len : 3;
		memcpy(rs->buf + rs->len, "!!!", add);
		rs->len += add;
		rs->buf[rs->len] = '\0';
		memcpy(v + vl, "!!!", add);
		assert_value(e, v, vl + add);
		check_db(db);
		/* The spare embedded bytes can be reused by a later overwrite. */
		e = set_s(db, k, "ab", true);
		cr_assert(e->enc == KS_ENC_EMBSTR && e->expire_ms == 1000 + (int64_t)ci);
		assert_value(e, "ab", 2);
		check_db(db);
	}
}

/* -------------------------------------------------------------- rehash */

KS_TEST(grow_with_rehash_in_progress)
{
	char k[32];
	int n = 0, mid_rehash_finds = 0, growths = 0;
	while (n < 20000) {
		sprintf(k, "g:%d", n);
		struct ks_entry *e = set_s(db, k, "v", false);
		if (n % 3 == 0)
			ks_set_expire(db, e, 1000000 + n);
		n++;
		if (db->rehash_idx == 0) {
			growths++;
			cr_assert(tsize(&db->t[1]) == 2 * tsize(&db->t[0]), "grow is not x2");
			/* Fresh rehash: everything must be reachable without stepping. */
			for (int i = 0; i < n; i++) {
				int kl = sprintf(k, "g:%d", i);
				cr_assert_not_null(ks_find_raw(db, k, (size_t)kl), "key %s lost at rehash start", k);
			}
			check_db(db);
		}
		if (db->rehash_idx > 0 && n % 7 == 0) {
			/* Part-way: finds both step the rehash and see both tables. */
			for (int i = 0; i < n && db->rehash_idx >= 0; i += 5) {
				int kl = sprintf(k, "g:%d", i);
				cr_assert_not_null(ks_find(db, k, (size_t)kl, 0), "key %s lost mid-rehash", k);
				mid_rehash_finds++;
			}
			check_db(db);
		}
	}
	cr_assert(growths >= 10, "only %d growths", growths);
	cr_assert(mid_rehash_finds > 100, "only %d finds mid-rehash", mid_rehash_finds);
	while (ks_rehash_step(db, 1))
		;
	cr_assert(db->rehash_idx == -1);
	cr_assert(ks_size(db) == 20000 && tsize(&db->t[0]) >= 20000);
	check_db(db);
}

KS_TEST(shrink_with_rehash_in_progress)
{
	char k[32];
	enum { N = 10000 };
	for (int i = 0; i < N; i++) {
		sprintf(k, "s:%d", i);
		set_s(db, k, "value", false);
	}
	while (ks_rehash_step(db, 1000))
		;
	uint64_t big = tsize(&db->t[0]);
	cr_assert(big == 16384);
	int shrinks = 0, checked = 0, i = 0;
	for (; i < N - 10; i++) {
		int kl = sprintf(k, "s:%d", i);
		cr_assert(ks_delete_key(db, k, (size_t)kl, 0) == 1);
		if (db->rehash_idx >= 0 && tsize(&db->t[1]) < tsize(&db->t[0])) {
			if (db->rehash_idx == 0)
				shrinks++;
			if (i % 3 == 0) {
				for (int j = i + 1; j < N; j += 3) {
					kl = sprintf(k, "s:%d", j);
					cr_assert_not_null(ks_find_raw(db, k, (size_t)kl), "key %s lost mid-shrink", k);
					checked++;
				}
				check_db(db);
			}
		}
	}
	cr_assert(shrinks >= 2, "only %d shrinks", shrinks);
	cr_assert(checked > 0);
	while (ks_rehash_step(db, 1000))
		;
	cr_assert(ks_size(db) == 10);
	/* Load is back within [10%, 100%]. */
	cr_assert(tsize(&db->t[0]) >= 16 && tsize(&db->t[0]) <= 100, "%lu buckets for 10 keys",
		  (unsigned long)tsize(&db->t[0]));
	for (; i < N; i++) {
		int kl = sprintf(k, "s:%d", i);
		cr_assert_not_null(ks_find(db, k, (size_t)kl, 0));
	}
	check_db(db);
}

/* The cron path shrinks too, and load stays within [10%, 100%] after. */
KS_TEST(rehash_step_bounded_work)
{
	char k[32];
	for (int i = 0; i < 5000; i++) {
		sprintf(k, "r:%d", i);
		set_s(db, k, "1", false);
	}
	while (ks_rehash_step(db, 1))
		;
	cr_assert(db->rehash_idx == -1);
	/* Force a big rehash and watch it take many bounded steps. */
	for (int i = 5000; i < 8193; i++) {
		sprintf(k, "r:%d", i);
		set_s(db, k, "1", false);
	}
	cr_assert(db->rehash_idx >= 0);
	int steps = 0;
	while (ks_rehash_step(db, 1)) {
		steps++;
		check_db(db);
		if (steps > 20)
			break;
	}
	cr_assert(steps > 20, "a 1-bucket step finished a 8192-bucket rehash in %d steps", steps);
	cr_assert(ks_rehash_step(db, 100000) == 0);
	cr_assert(ks_rehash_step(db, 1) == 0, "idle table reported work");
	check_db(db);
}

/* A step moves at most n buckets and gives up after 10*n empty ones, so
 * a sparse table (the old one of a shrink) cannot make one call long. */
KS_TEST(rehash_step_caps_empty_visits)
{
	char k[32];
	enum { N = 10000 };
	for (int i = 0; i < N; i++) {
		sprintf(k, "e:%d", i);
		set_s(db, k, "v", false);
	}
	while (ks_rehash_step(db, 1000))
		;
	int i = 0;
	while (db->rehash_idx < 0) {
		int kl = sprintf(k, "e:%d", i++);
		cr_assert(ks_delete_key(db, k, (size_t)kl, 0) == 1);
		cr_assert(i < N, "no shrink started");
	}
	cr_assert(tsize(&db->t[0]) == 16384 && tsize(&db->t[1]) == 2048);
	static const unsigned ns[] = { 1, 1, 1, 5, 1, 3, 1 };
	int idle_steps = 0;
	for (int round = 0; db->rehash_idx >= 0; round++) {
		unsigned n = ns[round % (int)(sizeof(ns) / sizeof(ns[0]))];
		int64_t before = db->rehash_idx;
		uint64_t moved_before = db->t[1].used;
		if (!ks_rehash_step(db, n))
			break;
		/* n moved buckets plus fewer than 10*n skipped empty ones. */
		cr_assert(db->rehash_idx - before <= 11 * (int64_t)n - 1, "step of %u advanced %ld buckets",
			  n, (long)(db->rehash_idx - before));
		idle_steps += db->t[1].used == moved_before;
	}
	cr_assert(idle_steps > 0, "no step ever stopped on the empty-bucket cap");
	cr_assert(ks_size(db) == (uint64_t)(N - i) && tsize(&db->t[0]) == 2048);
	check_db(db);
}

/* ---------------------------------------------------------------- SCAN */

struct scan_ctx {
	unsigned char *seen;   /* per stable key: times returned */
	int nstable;
};

static void scan_cb(void *arg, struct ks_entry *e)
{
	struct scan_ctx *c = arg;
	if (e->klen > 2 && e->key[0] == 's' && e->key[1] == ':') {
		int i = atoi(e->key + 2);
		cr_assert(i >= 0 && i < c->nstable);
		if (c->seen[i] < 255)
			c->seen[i]++;
	}
}

KS_TEST(scan_static_table_returns_each_key_once)
{
	enum { N = 3000 };
	char k[32];
	for (int i = 0; i < N; i++) {
		sprintf(k, "s:%d", i);
		set_s(db, k, "v", false);
	}
	while (ks_rehash_step(db, 100))
		;
	static const unsigned counts[] = { 1, 10, 1000, 100000 };
	for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
		unsigned char seen[N] = { 0 };
		struct scan_ctx c = { seen, N };
		uint64_t cur = 0;
		int calls = 0;
		do {
			cur = ks_scan(db, cur, counts[ci], scan_cb, &c);
			calls++;
			cr_assert(calls < 100000, "scan does not terminate");
		} while (cur);
		for (int i = 0; i < N; i++)
			cr_assert(seen[i] == 1, "count %u: key %d returned %d times", counts[ci], i, seen[i]);
	}
	/* Empty db: done at once, nothing returned. */
	unsigned char seen1[1] = { 0 };
	struct scan_ctx c1 = { seen1, 1 };
	cr_assert(ks_scan(&ks->db[1], 0, 10, scan_cb, &c1) == 0);
	cr_assert(ks_scan(&ks->db[1], 12345, 10, scan_cb, &c1) == 0);
}

struct scan_case {
	const char *name;
	int prefill;           /* extra keys before the scan */
	int add_per_call;      /* extra keys added between calls ... */
	int add_cap;           /* ... until this many were added */
	int del_per_call;      /* extra keys deleted between calls ... */
	int del_from_call;     /* ... from this call on */
};

/* Keys present for the whole scan are returned, however the table is
 * resized between calls. The extra keys come and go meanwhile; their
 * number is capped so the scan can catch up and finish. */
KS_TEST(scan_survives_grow_and_shrink)
{
	static const struct scan_case cases[] = {
		{ "grow", 0, 60, 20000, 0, 0 },
		{ "shrink", 40000, 0, 40000, 250, 0 },
		{ "grow_then_shrink", 0, 150, 22500, 300, 150 },
		{ "churn", 0, 100, 20000, 50, 0 },
	};
	enum { NS = 1000 };
	char k[32];
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct scan_case *sc = &cases[ci];
		ks_flush(db);
		for (int i = 0; i < NS; i++) {
			sprintf(k, "s:%d", i);
			set_s(db, k, "stable", false);
		}
		int next_add = 0, next_del = 0;
		for (; next_add < sc->prefill; next_add++) {
			sprintf(k, "x:%d", next_add);
			set_s(db, k, "extra", false);
		}
		unsigned char seen[NS] = { 0 };
		struct scan_ctx c = { seen, NS };
		uint64_t cur = 0;
		int calls = 0, calls_rehashing = 0, resizes = 0;
		uint64_t last_size = tsize(&db->t[0]);
		do {
			if (db->rehash_idx >= 0)
				calls_rehashing++;
			cur = ks_scan(db, cur, 3, scan_cb, &c);
			calls++;
			cr_assert(calls < 1000000, "%s: scan does not terminate", sc->name);
			for (int j = 0; j < sc->add_per_call && next_add < sc->add_cap; j++, next_add++) {
				sprintf(k, "x:%d", next_add);
				set_s(db, k, "extra", false);
			}
			for (int j = 0; calls >= sc->del_from_call && j < sc->del_per_call && next_del < next_add;
			     j++, next_del++) {
				int kl = sprintf(k, "x:%d", next_del);
				cr_assert(ks_delete_key(db, k, (size_t)kl, 0) == 1);
			}
			if (tsize(&db->t[0]) != last_size) {
				resizes++;
				last_size = tsize(&db->t[0]);
			}
		} while (cur);
		for (int i = 0; i < NS; i++)
			cr_assert(seen[i] >= 1, "%s: stable key s:%d never returned (%d calls)", sc->name, i, calls);
		cr_assert(calls_rehashing > 0, "%s: no call ran during a rehash", sc->name);
		cr_assert(resizes >= 2, "%s: table resized only %d times", sc->name, resizes);
		check_db(db);
	}
}

/* -------------------------------------------------------------- expiry */

struct lazy_case {
	int64_t now_off;       /* now - expire_ms */
	bool present;
};

KS_TEST(lazy_expire_at_exact_boundary)
{
	static const struct lazy_case cases[] = {
		{ -1000, true }, { -1, true }, { 0, true }, { 1, false }, { 1000, false },
	};
	const int64_t T = 1700000000000LL;
	set_s(db, "bystander", "1", false);
	uint64_t expired = 0;
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		struct ks_entry *e = set_s(db, "k", "value", false);
		ks_set_expire(db, e, T);
		cr_assert(ks_nexpires(db) == 1);
		struct ks_entry *f = ks_find(db, "k", 1, T + cases[ci].now_off);
		if (cases[ci].present) {
			cr_assert(f == e, "offset %ld: live key not found", (long)cases[ci].now_off);
			cr_assert(ks_size(db) == 2 && ks_nexpires(db) == 1);
		} else {
			expired++;
			cr_assert_null(f, "offset %ld: expired key returned", (long)cases[ci].now_off);
			cr_assert(ks_size(db) == 1 && ks_nexpires(db) == 0, "offset %ld: expired key kept",
				  (long)cases[ci].now_off);
			cr_assert_null(find_raw(db, "k"));
		}
		cr_assert(db->expired == expired, "offset %ld: expired count %lu", (long)cases[ci].now_off,
			  (unsigned long)db->expired);
		check_db(db);
	}
	/* ks_find_raw sees expired keys and leaves them; ks_delete_key
	 * treats them as absent but still removes them. */
	struct ks_entry *e = set_s(db, "k", "value", false);
	ks_set_expire(db, e, T);
	cr_assert(ks_find_raw(db, "k", 1) == e);
	cr_assert(ks_size(db) == 2 && db->expired == expired);
	cr_assert(ks_delete_key(db, "k", 1, T + 1) == 0);
	cr_assert(ks_size(db) == 1 && db->expired == expired + 1);
	/* Keys without expiry never expire. */
	cr_assert_not_null(ks_find(db, "bystander", 9, INT64_MAX));
	check_db(db);
}

KS_TEST(set_expire_and_persist_keep_index)
{
	struct ks_entry *a = set_s(db, "a", "1", false);
	struct ks_entry *b = set_s(db, "b", "2", false);
	struct ks_entry *c = set_s(db, "c", "3", false);
	ks_set_expire(db, a, 10);
	ks_set_expire(db, b, 20);
	ks_set_expire(db, c, 30);
	ks_set_expire(db, b, 25);          /* re-setting does not add twice */
	cr_assert(ks_nexpires(db) == 3 && b->expire_ms == 25);
	ks_persist(db, a);                 /* c moves into a's slot */
	cr_assert(ks_nexpires(db) == 2 && a->expire_ms == KS_NO_EXPIRE);
	check_db(db);
	ks_persist(db, a);                 /* no-op */
	cr_assert(ks_nexpires(db) == 2);
	ks_set_expire(db, c, KS_NO_EXPIRE); /* same as persist */
	cr_assert(ks_nexpires(db) == 1 && c->expire_ms == KS_NO_EXPIRE);
	ks_delete(db, b);
	cr_assert(ks_nexpires(db) == 0 && ks_size(db) == 2);
	check_db(db);
}

/* EXPIREAT far in the future: the TTL average must not overflow (UBSan
 * aborts this test on signed overflow) and must come out near INT64_MAX. */
KS_TEST(active_expire_huge_ttls)
{
	char k[32];
	for (int i = 0; i < 40; i++) {
		sprintf(k, "h:%d", i);
		ks_set_expire(db, set_s(db, k, "v", false), INT64_MAX - i);
	}
	cr_assert(ks_active_expire(db, 1000, 20, 4) == 0);
	cr_assert(db->avg_ttl_ms > INT64_MAX / 2, "avg_ttl %lld", (long long)db->avg_ttl_ms);
	cr_assert(ks_active_expire(db, 1000, 20, 4) == 0);
	cr_assert(db->avg_ttl_ms > INT64_MAX / 2, "avg_ttl %lld", (long long)db->avg_ttl_ms);
	check_db(db);
}

KS_TEST(active_expire_all_expired)
{
	const int64_t T = 5000;
	char k[32];
	for (int i = 0; i < 1000; i++) {
		sprintf(k, "e:%d", i);
		ks_set_expire(db, set_s(db, k, "v", false), T);
	}
	/* One loop samples `samples` keys; every one is expired. */
	cr_assert(ks_active_expire(db, T + 1, 20, 1) == 20);
	cr_assert(ks_size(db) == 980 && ks_nexpires(db) == 980 && db->expired == 20);
	check_db(db);
	/* Keys exactly at their expire time are alive. */
	cr_assert(ks_active_expire(db, T, 20, 1000) == 0);
	cr_assert(ks_size(db) == 980);
	/* With enough loops a fully expired set is emptied. */
	cr_assert(ks_active_expire(db, T + 1, 20, 1000) == 980);
	cr_assert(ks_size(db) == 0 && ks_nexpires(db) == 0 && db->expired == 1000);
	cr_assert(db->avg_ttl_ms == 0);
	check_db(db);
	/* Fewer keys than samples. */
	for (int i = 0; i < 5; i++) {
		sprintf(k, "f:%d", i);
		ks_set_expire(db, set_s(db, k, "v", false), T);
	}
	cr_assert(ks_active_expire(db, T + 1, 20, 1) == 5);
	cr_assert(ks_active_expire(db, T + 1, 20, 1) == 0);
	check_db(db);
}

KS_TEST(active_expire_leaves_live_keys)
{
	const int64_t T = 100000;
	char k[32];
	for (int i = 0; i < 500; i++) {
		sprintf(k, "live:%d", i);
		ks_set_expire(db, set_s(db, k, "v", false), T + 10000);
		sprintf(k, "dead:%d", i);
		ks_set_expire(db, set_s(db, k, "v", false), T - 1 - i);
		sprintf(k, "perm:%d", i);
		set_s(db, k, "v", false);
	}
	unsigned total = 0;
	for (int round = 0; round < 200; round++) {
		unsigned n = ks_active_expire(db, T, 20, 16);
		total += n;
		cr_assert(ks_size(db) == 1500 - total);
	}
	cr_assert(db->expired == total);
	cr_assert(total >= 450 && total <= 500, "removed %u of 500 expired keys", total);
	for (int i = 0; i < 500; i++) {
		sprintf(k, "live:%d", i);
		cr_assert_not_null(find_raw(db, k), "live key %s removed", k);
		sprintf(k, "perm:%d", i);
		cr_assert_not_null(find_raw(db, k), "key %s without expiry removed", k);
	}
	check_db(db);
	/* Only live keys were sampled for the TTL estimate. */
	cr_assert(db->avg_ttl_ms > 9000 && db->avg_ttl_ms <= 10000, "avg_ttl %ld", (long)db->avg_ttl_ms);
}

KS_TEST(active_expire_avg_ttl)
{
	const int64_t T = 1000;
	char k[32];
	struct ks_entry *es[50];
	/* No keys with expiry: nothing done, estimate 0. */
	set_s(db, "perm", "1", false);
	cr_assert(ks_active_expire(db, T, 20, 10) == 0 && db->avg_ttl_ms == 0);
	for (int i = 0; i < 50; i++) {
		sprintf(k, "t:%d", i);
		es[i] = set_s(db, k, "v", false);
		ks_set_expire(db, es[i], T + 10000);
	}
	cr_assert(ks_active_expire(db, T, 20, 10) == 0);
	cr_assert(db->avg_ttl_ms == 10000, "first estimate %ld", (long)db->avg_ttl_ms);
	for (int i = 0; i < 50; i++)
		ks_set_expire(db, es[i], T + 60000);
	cr_assert(ks_active_expire(db, T, 20, 1) == 0);
	/* 49/50 of the old value plus 1/50 of the new sample. */
	cr_assert(db->avg_ttl_ms == 10000 / 50 * 49 + 60000 / 50, "weighted estimate %ld", (long)db->avg_ttl_ms);
	check_db(db);
}

/* --------------------------------------------------------------- random */

KS_TEST(random_on_empty_sparse_and_expired)
{
	uint64_t rs = 7;
	cr_assert_null(ks_random(db, 0, splitmix, &rs), "empty db returned a key");

	struct ks_entry *only = set_s(db, "only", "1", false);
	for (int i = 0; i < 20; i++)
		cr_assert(ks_random(db, 0, splitmix, &rs) == only);

	/* Ten keys: each comes up. */
	char k[32];
	for (int i = 0; i < 10; i++) {
		sprintf(k, "r%d", i);
		set_s(db, k, "1", false);
	}
	int hits[10] = { 0 };
	for (int i = 0; i < 5000; i++) {
		struct ks_entry *e = ks_random(db, 0, splitmix, &rs);
		cr_assert_not_null(e);
		if (e != only)
			hits[atoi(e->key + 1)]++;
	}
	for (int i = 0; i < 10; i++)
		cr_assert(hits[i] >= 100, "key r%d picked %d times of 5000", i, hits[i]);

	/* Sparse: a big table emptied down to three keys, checked as the
	 * table shrinks under it. */
	ks_flush(db);
	for (int i = 0; i < 30000; i++) {
		sprintf(k, "s:%d", i);
		set_s(db, k, "1", false);
	}
	int mid_rehash = 0;
	for (int i = 0; i < 29997; i++) {
		int kl = sprintf(k, "s:%d", i);
		ks_delete_key(db, k, (size_t)kl, 0);
		if (db->rehash_idx >= 0 && i % 50 == 0) {
			mid_rehash++;
			struct ks_entry *e = ks_random(db, 0, splitmix, &rs);
			cr_assert_not_null(e);
			cr_assert(atoi(e->key + 2) > i, "random returned deleted key %s", e->key);
		}
	}
	cr_assert(mid_rehash > 0);
	for (int i = 0; i < 100; i++) {
		struct ks_entry *e = ks_random(db, 0, splitmix, &rs);
		cr_assert_not_null(e);
		cr_assert(atoi(e->key + 2) >= 29997);
	}
	check_db(db);
}

KS_TEST(random_skips_and_removes_expired)
{
	uint64_t rs = 11;
	const int64_t T = 1000;
	char k[32];
	/* Only expired keys: NULL, and they are gone. */
	for (int i = 0; i < 50; i++) {
		sprintf(k, "x:%d", i);
		ks_set_expire(db, set_s(db, k, "1", false), T);
	}
	cr_assert_null(ks_random(db, T + 1, splitmix, &rs));
	cr_assert(ks_size(db) == 0 && db->expired == 50);
	check_db(db);
	/* Expired keys plus one live: the live one, at most 50 removed. */
	for (int i = 0; i < 50; i++) {
		sprintf(k, "x:%d", i);
		ks_set_expire(db, set_s(db, k, "1", false), T);
	}
	struct ks_entry *live = set_s(db, "live", "1", false);
	ks_set_expire(db, live, T + 1);
	cr_assert(ks_random(db, T + 1, splitmix, &rs) == live);
	cr_assert(ks_size(db) >= 1 && db->expired >= 50 && db->expired <= 100);
	check_db(db);
	/* Many expired keys: bounded work, NULL meanwhile, progress made. */
	ks_flush(db);
	uint64_t before = db->expired;
	for (int i = 0; i < 1000; i++) {
		sprintf(k, "y:%d", i);
		ks_set_expire(db, set_s(db, k, "1", false), T);
	}
	cr_assert_null(ks_random(db, T + 1, splitmix, &rs));
	uint64_t removed = db->expired - before;
	cr_assert(removed > 0 && removed <= 100, "one call removed %lu keys", (unsigned long)removed);
	cr_assert(ks_size(db) == 1000 - removed);
	/* At the expire time itself keys are alive. */
	cr_assert_not_null(ks_random(db, T, splitmix, &rs));
	check_db(db);
}

/* ------------------------------------------------ attach/detach/clone */

KS_TEST(detach_attach_across_dbs_and_spaces)
{
	struct ks_space *other = ks_space_new(2);
	cr_assert_not_null(other);
	char big[100];
	memset(big, 'r', 99);
	big[99] = '\0';
	/* Some neighbours so the moved key is mid-chain and mid-exp[]. */
	char k[32];
	for (int i = 0; i < 200; i++) {
		sprintf(k, "n:%d", i);
		ks_set_expire(db, set_s(db, k, "1", false), 500 + i);
	}
	struct ks_entry *e = set_s(db, "k", big, false);
	ks_set_expire(db, e, 12345);
	ks_detach(db, e);
	cr_assert_null(find_raw(db, "k"));
	cr_assert(ks_size(db) == 200 && ks_nexpires(db) == 200);
	cr_assert(e->expire_ms == 12345, "detach dropped the expiry");
	check_db(db);

	struct ks_db *dst = &other->db[1];
	cr_assert(ks_attach(dst, e) == e);
	cr_assert(ks_find(dst, "k", 1, 0) == e);
	cr_assert(ks_nexpires(dst) == 1 && dst->exp[e->exp_idx] == e);
	assert_value(e, big, 99);
	check_db(dst);

	/* Attach over an existing key: the old one is freed (ASan checks). */
	struct ks_entry *old = set_s(dst, "k2", big, false);
	ks_set_expire(dst, old, 1);
	struct ks_entry *c = ks_entry_clone(e, "k2", 2);
	c->expire_ms = KS_NO_EXPIRE;
	cr_assert(ks_attach(dst, c) == c);
	cr_assert(find_raw(dst, "k2") == c && ks_size(dst) == 2);
	cr_assert(ks_nexpires(dst) == 1, "replaced key's expiry left in exp[]");
	check_db(dst);

	/* And back, with an expiry, onto a key without one. */
	set_s(db, "k", "in the way", false);
	ks_detach(dst, e);
	check_db(dst);
	ks_attach(db, e);
	cr_assert(find_raw(db, "k") == e && ks_nexpires(db) == 201 && ks_size(db) == 201);
	check_db(db);
	ks_space_free(other);
}

KS_TEST(detach_during_rehash)
{
	char k[32];
	int n = 0;
	while (db->rehash_idx < 0 || n < 100) {
		sprintf(k, "d:%d", n++);
		set_s(db, k, "v", false);
	}
	cr_assert(db->rehash_idx >= 0);
	for (int i = 0; i < n && db->rehash_idx >= 0; i += 2) {
		int kl = sprintf(k, "d:%d", i);
		struct ks_entry *e = ks_find_raw(db, k, (size_t)kl);
		cr_assert_not_null(e);
		ks_detach(db, e);
		ks_entry_free(e);
	}
	check_db(db);
}

struct clone_case {
	const char *val;
	int enc;
	int64_t expire;
};

KS_TEST(entry_clone_is_deep)
{
	static const struct clone_case cases[] = {
		{ "42", KS_ENC_INT, KS_NO_EXPIRE },
		{ "short string", KS_ENC_EMBSTR, 999 },
		{ "", KS_ENC_EMBSTR, KS_NO_EXPIRE },
		{ "a raw string that is longer than forty-four bytes, for sure", KS_ENC_RAW, 1234 },
	};
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct clone_case *cc = &cases[ci];
		struct ks_entry *e = set_s(db, "src", cc->val, false);
		ks_set_expire(db, e, cc->expire);
		e->lru_s = 77;
		cr_assert(e->enc == cc->enc);
		static const char nk[] = "a new, longer destination key";
		struct ks_entry *c = ks_entry_clone(e, nk, sizeof(nk) - 1);
		cr_assert(c != e && c->next == NULL);
		cr_assert(c->klen == sizeof(nk) - 1 && memcmp(c->key, nk, c->klen) == 0 && c->key[c->klen] == 0);
		cr_assert(c->hash == (uint32_t)ks_hash(nk, sizeof(nk) - 1));
		cr_assert(c->type == KS_STRING && c->enc == cc->enc && c->expire_ms == cc->expire && c->lru_s == 77);
		assert_value(c, cc->val, strlen(cc->val));
		if (cc->enc == KS_ENC_RAW)
			cr_assert(c->v.ptr != e->v.ptr, "raw buffer shared");
		/* Changing the source leaves the clone alone. */
		struct ks_str *s = ks_str_make_raw(e, 100);
		memset(s->buf, 'Z', s->len);
		assert_value(c, cc->val, strlen(cc->val));
		cr_assert_null(find_raw(db, nk), "clone linked into the db");
		ks_entry_free(c);
		check_db(db);
	}
}

/* ------------------------------------------------- whole-db operations */

static void count_cb(void *arg, struct ks_entry *e)
{
	(void)e;
	(*(uint64_t *)arg)++;
}

KS_TEST(foreach_flush_swap)
{
	char k[32];
	struct ks_db *a = &ks->db[0], *b = &ks->db[1];
	for (int i = 0; i < 3000; i++) {
		sprintf(k, "a:%d", i);
		struct ks_entry *e = set_s(a, k, "1", false);
		if (i % 2)
			ks_set_expire(a, e, 100 + i);
		uint64_t n = 0;
		if (i % 97 == 0) {  /* also while rehashing */
			ks_foreach(a, count_cb, &n);
			cr_assert(n == ks_size(a), "foreach saw %lu of %lu", (unsigned long)n, (unsigned long)ks_size(a));
		}
	}
	set_s(b, "b", "1", false);
	a->expired = 5;
	b->expired = 9;
	ks_swap(a, b);
	cr_assert(ks_size(a) == 1 && ks_size(b) == 3000 && ks_nexpires(b) == 1500 && ks_nexpires(a) == 0);
	cr_assert_not_null(find_raw(a, "b"));
	cr_assert_not_null(find_raw(b, "a:2999"));
	cr_assert(a->expired == 5 && b->expired == 9, "swap moved the expired counters");
	check_db(a);
	check_db(b);
	ks_flush(b);
	cr_assert(ks_size(b) == 0 && ks_nexpires(b) == 0 && b->rehash_idx == -1);
	cr_assert_null(find_raw(b, "a:1"));
	uint64_t n = 0;
	ks_foreach(b, count_cb, &n);
	cr_assert(n == 0);
	/* A flushed db is usable again. */
	set_s(b, "again", "1", false);
	cr_assert_not_null(ks_find(b, "again", 5, 0));
	check_db(b);
}

/* Random operations against a shadow model of what each key should hold. */
struct shadow {
	bool present;
	char val[80];
	size_t vlen;
	int64_t expire;
};

KS_TEST(randomized_against_model)
{
	enum { NK = 2000, OPS = 60000 };
	struct shadow *sh = calloc(NK, sizeof(*sh));
	cr_assert_not_null(sh);
	uint64_t rs = 99;
	int64_t now = 1000;
	char k[32];
	for (int op = 0; op < OPS; op++) {
		int i = (int)(splitmix(&rs) % NK);
		int kl = sprintf(k, "m:%d", i);
		struct shadow *s = &sh[i];
		unsigned what = (unsigned)(splitmix(&rs) % 10);
		if (op % 50 == 0)
			now++;
		/* What the key should look like right now, lazily expired. */
		bool live = s->present && !(s->expire != KS_NO_EXPIRE && now > s->expire);
		switch (what) {
		case 0: case 1: case 2: {   /* SET, maybe KEEPTTL */
			unsigned shape = (unsigned)(splitmix(&rs) % 3);
			if (shape == 0)
				s->vlen = (size_t)sprintf(s->val, "%lld", (long long)(splitmix(&rs) % 2000000) - 1000000);
			else {
				s->vlen = shape == 1 ? splitmix(&rs) % 45 : 45 + splitmix(&rs) % 30;
				for (size_t j = 0; j < s->vlen; j++)
					s->val[j] = (char)('a' + splitmix(&rs) % 26);
			}
			bool keep = splitmix(&rs) % 2;
			if (s->present && !live) {
				/* A write sees the key as absent: expire it first, as the
				 * command layer does through ks_find. */
				cr_assert_null(ks_find(db, k, (size_t)kl, now));
			}
			ks_set_str(db, k, (size_t)kl, s->val, s->vlen, keep);
			if (!keep || !live)
				s->expire = KS_NO_EXPIRE;
			s->present = true;
			break;
		}
		case 3: {                    /* SET integer */
			long long v = (long long)(splitmix(&rs) % 1000) - 500;
			if (s->present && !live)
				cr_assert_null(ks_find(db, k, (size_t)kl, now));
			ks_set_int(db, k, (size_t)kl, v, false);
			s->vlen = ks_ll2str(s->val, v);
			s->expire = KS_NO_EXPIRE;
			s->present = true;
			break;
		}
		case 4: {                    /* EXPIRE / PERSIST */
			struct ks_entry *e = ks_find(db, k, (size_t)kl, now);
			cr_assert((e != NULL) == live, "op %d key %s: present %d live %d", op, k, e != NULL, live);
			if (!e) {
				s->present = false;
				break;
			}
			if (splitmix(&rs) % 4 == 0) {
				ks_persist(db, e);
				s->expire = KS_NO_EXPIRE;
			} else {
				s->expire = now + (int64_t)(splitmix(&rs) % 40);
				ks_set_expire(db, e, s->expire);
			}
			break;
		}
		case 5:                      /* DEL */
			cr_assert(ks_delete_key(db, k, (size_t)kl, now) == (live ? 1 : 0), "op %d: DEL %s", op, k);
			s->present = false;
			break;
		case 6: {                    /* APPEND-like through make_raw */
			struct ks_entry *e = ks_find(db, k, (size_t)kl, now);
			cr_assert((e != NULL) == live);
			if (!e) {
				s->present = false;
				break;
			}
			if (s->vlen + 1 < sizeof(s->val)) {
				struct ks_str *str = ks_str_make_raw(e, s->vlen + 1);
				str->buf[str->len++] = '+';
				str->buf[str->len] = '\0';
				s->val[s->vlen++] = '+';
			}
			break;
		}
		case 7:                      /* active expiry tick */
			ks_active_expire(db, now, 20, 4);
			break;
		case 8:
			ks_rehash_step(db, 1);
			break;
		default: {                   /* GET */
			struct ks_entry *e = ks_find(db, k, (size_t)kl, now);
			cr_assert((e != NULL) == live, "op %d key %s: present %d live %d", op, k, e != NULL, live);
			if (e) {
				assert_value(e, s->val, s->vlen);
				cr_assert(e->expire_ms == s->expire);
			} else {
				s->present = false;
			}
		}
		}
		if (op % 5000 == 0)
			check_db(db);
	}
	/* Everything not expired is there; nothing else is. */
	uint64_t live_n = 0;
	for (int i = 0; i < NK; i++) {
		int kl = sprintf(k, "m:%d", i);
		struct shadow *s = &sh[i];
		bool live = s->present && !(s->expire != KS_NO_EXPIRE && now > s->expire);
		struct ks_entry *e = ks_find(db, k, (size_t)kl, now);
		cr_assert((e != NULL) == live, "final: key %s", k);
		if (e) {
			assert_value(e, s->val, s->vlen);
			live_n++;
		}
	}
	cr_assert(ks_size(db) == live_n);
	check_db(db);
	free(sh);
}

/* -------------------------------------------------------------- integers */

struct s2ll_case {
	const char *s;
	size_t len;            /* 0: strlen(s) */
	int ok;
	long long v;
};

KS_TEST(str2ll_canonical_rule)
{
	static const struct s2ll_case cases[] = {
		{ "0", 0, 1, 0 },
		{ "1", 0, 1, 1 },
		{ "-1", 0, 1, -1 },
		{ "123456", 0, 1, 123456 },
		{ "9223372036854775807", 0, 1, LLONG_MAX },
		{ "-9223372036854775808", 0, 1, LLONG_MIN },
		{ "-9223372036854775807", 0, 1, -LLONG_MAX },
		{ "1000000000000000000", 0, 1, 1000000000000000000LL },
		/* not canonical or not a number */
		{ "", 0, 0, 0 },
		{ "-", 0, 0, 0 },
		{ "-0", 0, 0, 0 },
		{ "00", 0, 0, 0 },
		{ "007", 0, 0, 0 },
		{ "-007", 0, 0, 0 },
		{ " 1", 0, 0, 0 },
		{ "1 ", 0, 0, 0 },
		{ "+1", 0, 0, 0 },
		{ "1a", 0, 0, 0 },
		{ "a1", 0, 0, 0 },
		{ "1.0", 0, 0, 0 },
		{ "1e3", 0, 0, 0 },
		{ "0x10", 0, 0, 0 },
		{ "--1", 0, 0, 0 },
		{ "1\0", 2, 0, 0 },
		/* range */
		{ "9223372036854775808", 0, 0, 0 },
		{ "-9223372036854775809", 0, 0, 0 },
		{ "18446744073709551615", 0, 0, 0 },
		{ "18446744073709551616", 0, 0, 0 },
		{ "99999999999999999999", 0, 0, 0 },
		{ "-99999999999999999999", 0, 0, 0 },
		{ "100000000000000000000", 0, 0, 0 },  /* 21 bytes */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct s2ll_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->s);
		long long v = 12345;
		int ok = ks_str2ll(c->s, len, &v);
		cr_assert(ok == c->ok, "\"%s\": ok %d, want %d", c->s, ok, c->ok);
		if (c->ok)
			cr_assert(v == c->v, "\"%s\": %lld, want %lld", c->s, v, c->v);
		else
			cr_assert(v == 12345, "\"%s\": output written on failure", c->s);
	}
	/* A prefix of a longer buffer is parsed on its own. */
	long long v;
	cr_assert(ks_str2ll("12345", 3, &v) == 1 && v == 123);
}

KS_TEST(ll2str_round_trip)
{
	static const long long vals[] = {
		0, 1, -1, 9, 10, 99, 100, -100, 12345, -99999, 1000000000, LLONG_MAX, LLONG_MIN,
		LLONG_MAX - 1, LLONG_MIN + 1, 10000000000000000LL,
	};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char buf[21], want[32];
		size_t n = ks_ll2str(buf, vals[i]);
		int wn = snprintf(want, sizeof(want), "%lld", vals[i]);
		cr_assert(n == (size_t)wn && strcmp(buf, want) == 0, "%lld -> \"%s\"", vals[i], buf);
		long long back;
		cr_assert(ks_str2ll(buf, n, &back) == 1 && back == vals[i]);
	}
	uint64_t rs = 3;
	for (int i = 0; i < 100000; i++) {
		long long x = (long long)splitmix(&rs) >> (splitmix(&rs) % 64);
		char buf[21], want[32];
		size_t n = ks_ll2str(buf, x);
		snprintf(want, sizeof(want), "%lld", x);
		cr_assert(strcmp(buf, want) == 0, "%lld -> \"%s\"", x, buf);
		long long back;
		cr_assert(ks_str2ll(buf, n, &back) == 1 && back == x);
	}
}

/* --------------------------------------------- keys with equal hashes */

struct hkey {
	uint32_t h;
	uint32_t i;
};

static int hkey_cmp(const void *a, const void *b)
{
	const struct hkey *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Key number i of length len: a fixed pattern with the three low bytes
 * of i at [at, at + 3), so keys of one (len, at) differ only there. */
static void collide_key(char *buf, size_t len, size_t at, uint32_t i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (char)('a' + (k * 7 + 3) % 26);
	for (size_t k = 0; k < 3; k++)
		buf[at + k] = (char)(i >> (8 * k));
}

/* Two keys whose 32-bit entry hashes are equal reach the byte compare; it
 * must tell them apart whichever bytes differ and whatever path compares
 * their length: 1..3 and over 16 bytes through memcmp, 4..7 and 8..16
 * through a head and a tail load, so keys are made that differ only in
 * the head's bytes or only in the tail's. The pair is found by the
 * birthday bound among 2^18 keys. Each key is looked up from an exactly
 * sized heap copy so ASan sees any read past it. */
KS_TEST(lookup_tells_equal_hashes_apart)
{
	static const struct { size_t len, at; } cfg[] = {
		{ 3, 0 }, { 4, 0 }, { 4, 1 }, { 7, 0 }, { 7, 4 }, { 8, 0 }, { 8, 5 }, { 11, 8 },
		{ 12, 0 }, { 12, 9 }, { 16, 0 }, { 16, 13 }, { 17, 14 }, { 24, 0 },
	};
	const uint32_t nkeys = 1u << 18;
	struct hkey *hk = malloc(sizeof(*hk) * nkeys);
	cr_assert_not_null(hk);

	for (size_t ci = 0; ci < sizeof(cfg) / sizeof(cfg[0]); ci++) {
		size_t len = cfg[ci].len, at = cfg[ci].at;
		char buf[32];
		for (uint32_t i = 0; i < nkeys; i++) {
			collide_key(buf, len, at, i);
			hk[i].h = (uint32_t)ks_hash(buf, len);
			hk[i].i = i;
		}
		qsort(hk, nkeys, sizeof(*hk), hkey_cmp);
		uint32_t a = 0, b = 0;
		bool found = false;
		for (uint32_t i = 1; i < nkeys && !found; i++) {
			if (hk[i].h == hk[i - 1].h) {
				a = hk[i - 1].i;
				b = hk[i].i;
				found = true;
			}
		}
		cr_assert(found, "no 32-bit hash collision among %u keys of %zu bytes", nkeys, len);

		char *ka = malloc(len), *kb = malloc(len);
		cr_assert(ka && kb);
		collide_key(ka, len, at, a);
		collide_key(kb, len, at, b);
		cr_assert(memcmp(ka, kb, len) != 0);
		cr_assert_eq((uint32_t)ks_hash(ka, len), (uint32_t)ks_hash(kb, len));

		ks_set_str(db, ka, len, "A", 1, false);
		cr_assert_null(ks_find(db, kb, len, 0), "len %zu at %zu: colliding key found", len, at);
		cr_assert_null(ks_find_raw(db, kb, len));
		ks_set_str(db, kb, len, "B", 1, false);
		struct ks_entry *ea = ks_find(db, ka, len, 0), *eb = ks_find(db, kb, len, 0);
		cr_assert(ea && eb && ea != eb, "len %zu at %zu", len, at);
		assert_value(ea, "A", 1);
		assert_value(eb, "B", 1);
		cr_assert_eq(ks_delete_key(db, ka, len, 0), 1);
		cr_assert_null(ks_find(db, ka, len, 0));
		cr_assert_not_null(ks_find(db, kb, len, 0));
		cr_assert_eq(ks_delete_key(db, kb, len, 0), 1);
		check_db(db);
		free(ka);
		free(kb);
	}
	free(hk);
}

/* Keys of every length 0..40 differing from each other in one byte only,
 * at each position: each is found as itself and never as another. */
KS_TEST(lookup_one_byte_apart)
{
	for (size_t len = 1; len <= 40; len++) {
		char base[41];
		for (size_t k = 0; k < len; k++)
			base[k] = (char)('A' + k);
		for (size_t pos = 0; pos < len; pos++) {
			char *key = malloc(len);
			cr_assert_not_null(key);
			memcpy(key, base, len);
			key[pos] = (char)('a' + pos % 26);
			char val[8];
			int vn = snprintf(val, sizeof(val), "%zu", pos);
			ks_set_str(db, key, len, val, (size_t)vn, false);
			free(key);
		}
		for (size_t pos = 0; pos < len; pos++) {
			char *key = malloc(len);
			cr_assert_not_null(key);
			memcpy(key, base, len);
			key[pos] = (char)('a' + pos % 26);
			struct ks_entry *e = ks_find(db, key, len, 0);
			cr_assert_not_null(e, "len %zu pos %zu", len, pos);
			char want[8], vb[24];
			snprintf(want, sizeof(want), "%zu", pos);
			size_t vl;
			const char *v = ks_str_get(e, vb, &vl);
			cr_assert(vl == strlen(want) && memcmp(v, want, vl) == 0, "len %zu pos %zu", len, pos);
			free(key);
		}
		char *bk = malloc(len);
		cr_assert_not_null(bk);
		memcpy(bk, base, len);
		cr_assert_null(ks_find(db, bk, len, 0), "len %zu: base key found", len);
		free(bk);
		ks_flush(db);
	}
	check_db(db);
}

/* ------------------------------------------------- command name index */

#include "shards/cmd.h"

/* The names the index is tested over: real commands, names that are
 * prefixes of others, every length 1..CMD_NAME_MAX, and non-letters next
 * to the letter ranges ('`' and '{' are '@' and '[' with bit 0x20 set:
 * only A-Z may fold, so "x@y" must not find "x`y"). */
static const char *const ix_names[] = {
	"get", "getex", "getdel", "getrange", "getset", "set", "setnx", "setex", "setrange",
	"mget", "mset", "msetnx", "del", "client", "config", "command", "object", "ping",
	"bitfield_ro", "eval_ro", "sort_ro", "zrevrangebyscore", "zremrangebyscore",
	"georadiusbymember_ro", "restore-asking", "x`y", "x{y", "x~", "x_", "a1", "a",
	"ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghij",
	"abcdefghijklmno", "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopqrstuvw",
	"abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwxy", "abcdefghijklmnopqrstuvwxyz012345",
};
#define IX_N (sizeof(ix_names) / sizeof(ix_names[0]))

static struct cmd_def ix_defs[IX_N];

static struct cmd_name_index *ix_build(void)
{
	struct cmd_name_index *ix = calloc(1, sizeof(*ix));
	cr_assert_not_null(ix);
	for (size_t i = 0; i < IX_N; i++) {
		ix_defs[i].name = ix_names[i];
		cr_assert_eq(cmd_name_add(ix, &ix_defs[i]), 0, "add %s", ix_names[i]);
	}
	return ix;
}

/* The reference: Redis's comparison (only ASCII A-Z fold), linear. */
static const struct cmd_def *ix_ref(const char *p, size_t len)
{
	for (size_t i = 0; i < IX_N; i++) {
		const char *n = ix_names[i];
		if (strlen(n) != len)
			continue;
		size_t k = 0;
		for (; k < len; k++) {
			unsigned char c = (unsigned char)p[k];
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			if (c != (unsigned char)n[k])
				break;
		}
		if (k == len)
			return &ix_defs[i];
	}
	return NULL;
}

/* Look p[0..len) up from an exactly sized heap copy, uncached and through
 * cache, and compare both with the reference. */
static void ix_check(const struct cmd_name_index *ix, struct cmd_name_cache *cache,
		     const char *p, size_t len)
{
	char *q = malloc(len ? len : 1);
	cr_assert_not_null(q);
	memcpy(q, p, len);
	const struct cmd_def *want = ix_ref(q, len);
	const struct cmd_def *got = cmd_name_find(ix, q, len);
	cr_assert_eq(got, want, "'%.*s' (%zu): got %s, want %s", (int)len, p, len,
		     got ? got->name : "NULL", want ? want->name : "NULL");
	got = cmd_name_find_cached(ix, cache, q, len);
	cr_assert_eq(got, want, "cached '%.*s' (%zu): got %s, want %s", (int)len, p, len,
		     got ? got->name : "NULL", want ? want->name : "NULL");
	free(q);
}

Test(cmd_index, every_case_spelling_finds_the_name)
{
	struct cmd_name_index *ix = ix_build();
	struct cmd_name_cache cache = { 0 };
	uint64_t rs = 7;

	for (size_t i = 0; i < IX_N; i++) {
		size_t len = strlen(ix_names[i]);
		char buf[CMD_NAME_MAX];
		/* as is, upper, alternating, and random spellings, twice each
		 * so the cache is hit as well as missed */
		for (int form = 0; form < 12; form++) {
			for (size_t k = 0; k < len; k++) {
				char c = ix_names[i][k];
				bool up = form == 1 || (form == 2 && k % 2) ||
					  (form >= 3 && (splitmix(&rs) & 1));
				buf[k] = up && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
			}
			for (int rep = 0; rep < 2; rep++) {
				ix_check(ix, &cache, buf, len);
				cr_assert_eq(cmd_name_find(ix, buf, len), &ix_defs[i]);
			}
		}
	}
	free(ix);
}

Test(cmd_index, near_misses_are_unknown)
{
	struct cmd_name_index *ix = ix_build();
	struct cmd_name_cache cache = { 0 };
	/* bytes that differ from a name's byte by the case bit or the top
	 * bit, and NUL: none may match unless the reference says so */
	for (size_t i = 0; i < IX_N; i++) {
		const char *n = ix_names[i];
		size_t len = strlen(n);
		char buf[CMD_NAME_MAX + 2];
		memcpy(buf, n, len);
		/* prefixes and one-byte extensions */
		for (size_t l = 0; l <= len; l++)
			ix_check(ix, &cache, n, l);
		for (int e = 0; e < 4; e++) {
			static const char ext[] = { 'x', 's', '\0', 'X' };
			buf[len] = ext[e];
			ix_check(ix, &cache, buf, len + 1);
		}
		for (size_t k = 0; k < len; k++) {
			static const unsigned char flips[] = { 0x20, 0x80, 0xa0, 0x01, 0x40 };
			for (size_t f = 0; f < sizeof(flips); f++) {
				memcpy(buf, n, len);
				buf[k] = (char)((unsigned char)buf[k] ^ flips[f]);
				ix_check(ix, &cache, buf, len);
			}
			memcpy(buf, n, len);
			buf[k] = '\0';
			ix_check(ix, &cache, buf, len);
		}
	}
	/* the letter-range edges, spelled out */
	static const char *const unknown[] = { "x@y", "x[y", "X@Y", "X[Y", "x^", "x\x7f", "GET\0",
					       "ge", "gett", "sett", "\xc7" "ET", "g\xc5t" };
	static const size_t unknown_len[] = { 3, 3, 3, 3, 2, 2, 4, 2, 4, 4, 3, 3 };
	for (size_t u = 0; u < sizeof(unknown) / sizeof(unknown[0]); u++) {
		ix_check(ix, &cache, unknown[u], unknown_len[u]);
		cr_assert_null(cmd_name_find(ix, unknown[u], unknown_len[u]), "%s", unknown[u]);
	}
	cr_assert_eq(cmd_name_find(ix, "X`Y", 3), &ix_defs[25]);
	cr_assert_eq(cmd_name_find(ix, "X{Y", 3), &ix_defs[26]);
	cr_assert_null(cmd_name_find(ix, "", 0));
	cr_assert_null(cmd_name_find_cached(ix, &cache, "", 0));
	char long_name[CMD_NAME_MAX + 1];
	memset(long_name, 'a', sizeof(long_name));
	cr_assert_null(cmd_name_find(ix, long_name, sizeof(long_name)));
	free(ix);
}

Test(cmd_index, random_bytes_agree_with_the_reference)
{
	struct cmd_name_index *ix = ix_build();
	struct cmd_name_cache cache = { 0 };
	static const char alpha[] = { 'a', 'A', 'b', 'B', 'c', 'e', 'E', 'g', 'G', 't', 'T', 's',
				      'S', 'z', 'Z', '@', '`', '[', '{', '_', '-', '\0', '\x7f',
				      '\xc7', '\xe7', '1' };
	uint64_t rs = 11;
	for (int r = 0; r < 200000; r++) {
		char buf[CMD_NAME_MAX + 1];
		size_t len = splitmix(&rs) % (CMD_NAME_MAX + 2);
		if (r % 2) {   /* a name with some bytes changed */
			const char *n = ix_names[splitmix(&rs) % IX_N];
			len = strlen(n);
			memcpy(buf, n, len);
			for (int m = (int)(splitmix(&rs) % 3); m > 0; m--)
				buf[splitmix(&rs) % len] = alpha[splitmix(&rs) % sizeof(alpha)];
		} else {
			for (size_t k = 0; k < len; k++)
				buf[k] = alpha[splitmix(&rs) % sizeof(alpha)];
		}
		ix_check(ix, &cache, buf, len);
	}
	free(ix);
}

Test(cmd_index, add_rejects_bad_names_and_overflow)
{
	struct cmd_name_index *ix = calloc(1, sizeof(*ix));
	cr_assert_not_null(ix);
	static struct cmd_def bad[] = {
		{ .name = "" }, { .name = "Get" }, { .name = "abcdefghijklmnopqrstuvwxyz0123456" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cmd_name_add(ix, &bad[i]), -EINVAL, "%s", bad[i].name);
	static struct cmd_def get = { .name = "get" }, get2 = { .name = "get" };
	cr_assert_eq(cmd_name_add(ix, &get), 0);
	cr_assert_eq(cmd_name_add(ix, &get2), -EINVAL);
	cr_assert_eq(cmd_name_find(ix, "GET", 3), &get);

	static char names[CMD_INDEX_CAP][8];
	static struct cmd_def defs[CMD_INDEX_CAP];
	size_t added = 1;
	for (size_t i = 0; added < CMD_INDEX_CAP; i++, added++) {
		snprintf(names[i], sizeof(names[i]), "n%zu", i);
		defs[i].name = names[i];
		cr_assert_eq(cmd_name_add(ix, &defs[i]), 0, "add %s", names[i]);
	}
	static struct cmd_def one_more = { .name = "onemore" };
	cr_assert_eq(cmd_name_add(ix, &one_more), -ENOSPC);
	/* full, every name still found, unknown ones still not */
	for (size_t i = 0; i + 1 < CMD_INDEX_CAP; i++) {
		char up[8];
		size_t l = strlen(names[i]);
		for (size_t k = 0; k < l; k++)
			up[k] = names[i][k] == 'n' ? 'N' : names[i][k];
		cr_assert_eq(cmd_name_find(ix, up, l), &defs[i], "%s", names[i]);
	}
	cr_assert_null(cmd_name_find(ix, "onemore", 7));
	cr_assert_null(cmd_name_find(ix, "n99999", 6));
	free(ix);
}
