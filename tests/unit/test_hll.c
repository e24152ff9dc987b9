/* Unit tests for shards/hll.c: the HyperLogLog byte format and estimator.
 *
 * The golden values (register index/value of single elements, whole
 * values' bytes, PFCOUNT results) were produced by redis-server 7.0.15
 * (PFADD then PFDEBUG DECODE / GET / PFCOUNT) and are what byte
 * compatibility means. The rest checks the structure against simple
 * models: a bit-by-bit reference for the dense packing, a plain register
 * array for the sparse editor, and random corrupted payloads for
 * robustness (run it under AddressSanitizer to make that meaningful).
 *
 * Values live in an exactly-sized heap buffer (grow() allocates just what
 * is asked for), so any write past what the code reserved is caught by
 * ASan. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/hll.h"

#define SPARSE_MAX_DEFAULT 3000   /* Redis's hll-sparse-max-bytes */

/* ------------------------------------------------------------ helpers */

static int t_grow(struct hll *h, size_t min_cap)
{
	uint8_t *n = realloc(h->p, min_cap);

	if (!n)
		return -ENOMEM;
	h->p = n;
	h->cap = min_cap;
	return 0;
}

static int t_replace(struct hll *h, const uint8_t *img, size_t len)
{
	uint8_t *n = realloc(h->p, len);

	if (!n)
		return -ENOMEM;
	memcpy(n, img, len);
	h->p = n;
	h->len = h->cap = len;
	return 0;
}

static const struct hll_mem t_mem = { t_grow, t_replace };

static struct hll new_sparse(void)
{
	struct hll h = { malloc(HLL_SPARSE_EMPTY_SIZE), HLL_SPARSE_EMPTY_SIZE,
			 HLL_SPARSE_EMPTY_SIZE, &t_mem, NULL };

	cr_assert_not_null(h.p);
	hll_init_sparse(h.p);
	return h;
}

/* A value from raw bytes (copied). */
static struct hll from_bytes(const uint8_t *b, size_t len)
{
	struct hll h = { malloc(len ? len : 1), len, len, &t_mem, NULL };

	cr_assert_not_null(h.p);
	memcpy(h.p, b, len);
	return h;
}

static void add_str(struct hll *h, const char *s, size_t sparse_max)
{
	cr_assert_geq(hll_add(h, s, strlen(s), sparse_max), 0, "hll_add(%s) failed", s);
}

static void add_els(struct hll *h, const char *prefix, unsigned n, size_t sparse_max)
{
	char buf[64];

	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof(buf), "%s%u", prefix, i);

		cr_assert_geq(hll_add(h, buf, (size_t)len, sparse_max), 0);
	}
}

static void regs_of(const struct hll *h, uint8_t regs[HLL_REGISTERS])
{
	memset(regs, 0, HLL_REGISTERS);
	cr_assert_eq(hll_merge_regs(regs, h->p, h->len), 0, "value does not decode");
}

/* Sum of sparse run lengths; -1 if the opcodes do not parse. */
static long sparse_total(const struct hll *h)
{
	const uint8_t *p = h->p + HLL_HDR_SIZE, *end = h->p + h->len;
	struct hll_op op;
	long total = 0;
	int rc;

	while ((rc = hll_sparse_next(&p, end, &op)) == 1)
		total += op.runlen;
	return rc < 0 ? -1 : total;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ----------------------------------------------------- hash and index */

struct pattern_case {
	const char *ele;
	unsigned index, count;
};

/* From redis-server 7.0.15: PFADD t <ele>; PFDEBUG DECODE t gives
 * "Z:<index> v:<count>,1 Z:<rest>". */
static const struct pattern_case patterns[] = {
	{ "a", 12711, 2 },
	{ "b", 15780, 1 },
	{ "hello", 9216, 1 },
	{ "", 5938, 2 },
	{ "foobar", 1910, 4 },
	{ "12345678", 10579, 3 },           /* exactly one 8-byte block */
	{ "123456789", 9293, 2 },           /* block + tail */
	{ "the quick brown fox", 15795, 1 },
};

Test(hll, pattern_matches_redis)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		unsigned index, count = hll_pattern(patterns[i].ele, strlen(patterns[i].ele), &index);

		cr_expect_eq(index, patterns[i].index, "%s: index %u", patterns[i].ele, index);
		cr_expect_eq(count, patterns[i].count, "%s: count %u", patterns[i].ele, count);
	}
}

Test(hll, pattern_bounds)
{
	char buf[32];

	for (unsigned i = 0; i < 200000; i++) {
		unsigned index, count;
		int n = snprintf(buf, sizeof(buf), "x%u", i);

		count = hll_pattern(buf, (size_t)n, &index);
		cr_assert_lt(index, HLL_REGISTERS);
		cr_assert(count >= 1 && count <= HLL_Q + 1, "count %u", count);
	}
}

/* ----------------------------------------------------- dense packing */

/* Reference: register i is bits 6i..6i+5 of the array, bit k of the array
 * being bit (k % 8) of byte k / 8. */
static unsigned ref_get(const uint8_t *regs, unsigned i)
{
	unsigned v = 0;

	for (unsigned b = 0; b < HLL_BITS; b++) {
		unsigned k = i * HLL_BITS + b;

		v |= ((regs[k / 8] >> (k % 8)) & 1u) << b;
	}
	return v;
}

Test(hll, dense_set_get_every_alignment)
{
	uint8_t *regs = calloc(1, HLL_REGS_BYTES);   /* exactly sized: ASan checks the end */

	cr_assert_not_null(regs);
	/* Every register with every value, alone in a zeroed array: only its
	 * six bits change. */
	for (unsigned i = 0; i < HLL_REGISTERS; i++) {
		unsigned v = (i * 7 + 1) % (HLL_REGISTER_MAX + 1);

		if (i % 4 == 0 || i < 8 || i > HLL_REGISTERS - 8)
			v = HLL_REGISTER_MAX;
		hll_dense_set(regs, i, v);
		cr_assert_eq(hll_dense_get(regs, i), v, "register %u", i);
		cr_assert_eq(ref_get(regs, i), v, "register %u packing", i);
		if (i > 0)
			cr_assert_eq(hll_dense_get(regs, i - 1), 0, "register %u clobbered %u", i, i - 1);
		if (i + 1 < HLL_REGISTERS)
			cr_assert_eq(hll_dense_get(regs, i + 1), 0, "register %u clobbered %u", i, i + 1);
		hll_dense_set(regs, i, 0);
	}
	for (unsigned k = 0; k < HLL_REGS_BYTES; k++)
		cr_assert_eq(regs[k], 0);

	/* All registers at once, in a scrambled order, then overwritten. */
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned j = 0; j < HLL_REGISTERS; j++) {
			unsigned i = (j * 4099u) % HLL_REGISTERS;   /* 4099 is odd: a permutation */

			hll_dense_set(regs, i, (i + round * 13) & HLL_REGISTER_MAX);
		}
		for (unsigned i = 0; i < HLL_REGISTERS; i++) {
			cr_assert_eq(hll_dense_get(regs, i), (i + round * 13) & HLL_REGISTER_MAX);
			cr_assert_eq(ref_get(regs, i), (i + round * 13) & HLL_REGISTER_MAX);
		}
	}
	free(regs);
}

Test(hll, dense_merge_and_histogram_agree_with_get)
{
	struct hll h = new_sparse();
	uint8_t regs[HLL_REGISTERS], direct[HLL_REGISTERS];
	uint64_t a, b;

	cr_assert_eq(hll_to_dense(&h), 1);
	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		hll_dense_set(h.p + HLL_HDR_SIZE, i, (unsigned)(rnd() % 20));
	regs_of(&h, regs);
	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		direct[i] = (uint8_t)hll_dense_get(h.p + HLL_HDR_SIZE, i);
	cr_assert_eq(memcmp(regs, direct, sizeof(regs)), 0);
	cr_assert_eq(hll_count(h.p, h.len, &a), 0);
	b = hll_count_regs(regs);
	cr_assert_eq(a, b, "dense histogram %llu vs raw %llu", (unsigned long long)a,
		     (unsigned long long)b);
	free(h.p);
}

/* ------------------------------------------------------------- header */

struct valid_case {
	const char *name;
	const char *bytes;
	size_t len;
	bool valid;
};

Test(hll, valid_table)
{
	static const struct valid_case cases[] = {
		{ "empty sparse", "HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18, true },
		{ "header only sparse", "HYLL\x01\0\0\0\0\0\0\0\0\0\0\0", 16, true },
		{ "short", "HYLL\x01\0\0\0\0\0\0\0\0\0\0", 15, false },
		{ "bad magic", "HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18, false },
		{ "lower-case magic", "hyll\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18, false },
		{ "encoding 2", "HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18, false },
		{ "dense but short", "HYLL\x00\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18, false },
		{ "empty", "", 0, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(hll_valid((const uint8_t *)cases[i].bytes, cases[i].len), cases[i].valid,
			     "%s", cases[i].name);

	uint8_t *dense = calloc(1, HLL_DENSE_SIZE + 1);

	memcpy(dense, "HYLL", 4);
	cr_expect(hll_valid(dense, HLL_DENSE_SIZE));
	cr_expect(!hll_valid(dense, HLL_DENSE_SIZE - 1));
	cr_expect(!hll_valid(dense, HLL_DENSE_SIZE + 1));
	free(dense);
}

Test(hll, cache_bytes)
{
	uint8_t v[HLL_SPARSE_EMPTY_SIZE];

	hll_init_sparse(v);
	cr_assert(hll_cache_valid(v));
	cr_assert_eq(hll_cache_get(v), 0);
	hll_cache_set(v, 0x0102030405060708ULL);
	cr_assert_eq(memcmp(v + 8, "\x08\x07\x06\x05\x04\x03\x02\x01", 8), 0, "little endian");
	cr_assert(hll_cache_valid(v));
	hll_cache_invalidate(v);
	cr_assert(!hll_cache_valid(v));
	/* Invalidation sets only the top bit; the old bytes stay, as in Redis. */
	cr_assert_eq(memcmp(v + 8, "\x08\x07\x06\x05\x04\x03\x02\x81", 8), 0);
	hll_cache_set(v, 5);
	cr_assert(hll_cache_valid(v));
	cr_assert_eq(hll_cache_get(v), 5);
}

/* ------------------------------------------------------ sparse format */

Test(hll, empty_sparse_bytes)
{
	uint8_t v[HLL_SPARSE_EMPTY_SIZE];
	uint64_t card = 99;

	hll_init_sparse(v);
	cr_assert_eq(memcmp(v, "HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff", 18), 0);
	cr_assert_eq(hll_count(v, sizeof(v), &card), 0);
	cr_assert_eq(card, 0);
}

/* One edit on an empty sparse value, and its exact bytes. */
struct edit_case {
	unsigned index, count;
	const char *ops;     /* opcode bytes after the header */
	size_t len;
};

Test(hll, sparse_split_shapes)
{
	static const struct edit_case cases[] = {
		/* XZERO split at the front: VAL XZERO */
		{ 0, 1, "\x80\x7f\xfe", 3 },
		/* at the very end: XZERO VAL */
		{ 16383, 32, "\x7f\xfe\xfc", 3 },
		/* short zero run before: ZERO VAL XZERO */
		{ 64, 3, "\x3f\x88\x7f\xbe", 4 },
		/* long runs on both sides: XZERO VAL XZERO */
		{ 1000, 2, "\x43\xe7\x84\x7c\x16", 5 },
		/* a run of exactly 65 before needs XZERO */
		{ 65, 1, "\x40\x40\x80\x7f\xbd", 5 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hll h = new_sparse();

		cr_assert_eq(hll_set(&h, cases[i].index, cases[i].count, SPARSE_MAX_DEFAULT), 1);
		cr_expect_eq(h.len - HLL_HDR_SIZE, cases[i].len, "case %zu: %zu opcode bytes", i,
			     h.len - HLL_HDR_SIZE);
		cr_expect_eq(memcmp(h.p + HLL_HDR_SIZE, cases[i].ops, cases[i].len), 0,
			     "case %zu: opcode bytes differ", i);
		cr_expect_eq(h.p[15], 0x80, "case %zu: cache not invalidated", i);
		cr_expect_eq(sparse_total(&h), HLL_REGISTERS);
		free(h.p);
	}
}

Test(hll, sparse_val_split_and_merge)
{
	struct hll h = new_sparse();
	static const uint8_t after_merge[] = { 0x8b, 0x7f, 0xfb };  /* v:3,4 Z:16380 */
	static const uint8_t after_split[] = { 0x88, 0x94, 0x89, 0x7f, 0xfb }; /* v:3,1 v:6,1 v:3,2 Z */

	/* Four neighbours with the same value merge into one VAL of length 4. */
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(hll_set(&h, i, 3, SPARSE_MAX_DEFAULT), 1);
	cr_assert_eq(h.len - HLL_HDR_SIZE, sizeof(after_merge));
	cr_assert_eq(memcmp(h.p + HLL_HDR_SIZE, after_merge, sizeof(after_merge)), 0);

	/* Lower or equal values change nothing (case A). */
	cr_assert_eq(hll_set(&h, 2, 3, SPARSE_MAX_DEFAULT), 0);
	cr_assert_eq(hll_set(&h, 2, 1, SPARSE_MAX_DEFAULT), 0);

	/* Raising one register inside the run splits it. */
	cr_assert_eq(hll_set(&h, 1, 6, SPARSE_MAX_DEFAULT), 1);
	cr_assert_eq(h.len - HLL_HDR_SIZE, sizeof(after_split));
	cr_assert_eq(memcmp(h.p + HLL_HDR_SIZE, after_split, sizeof(after_split)), 0);
	cr_assert_eq(sparse_total(&h), HLL_REGISTERS);
	free(h.p);
}

/* Model check: random edits on a sparse value (never promoted), compared
 * with a plain register array after every step; the opcodes always cover
 * exactly 16384 registers and never hold two mergeable neighbours in the
 * places the editor looked at. */
Test(hll, sparse_roundtrip_random)
{
	for (unsigned round = 0; round < 20; round++) {
		struct hll h = new_sparse();
		uint8_t model[HLL_REGISTERS] = {0}, got[HLL_REGISTERS];
		unsigned span = round < 10 ? 64 : HLL_REGISTERS;   /* dense clusters, or spread */

		for (unsigned step = 0; step < 400; step++) {
			unsigned idx = (unsigned)(rnd() % span), v = 1 + (unsigned)(rnd() % 32);
			int want = v > model[idx], rc;

			rc = hll_set(&h, idx, v, 1u << 20);
			cr_assert_eq(rc, want, "round %u step %u: set(%u,%u) = %d", round, step, idx, v, rc);
			if (want)
				model[idx] = (uint8_t)v;
			cr_assert_eq(h.p[4], HLL_SPARSE);
			cr_assert_eq(sparse_total(&h), HLL_REGISTERS);
		}
		regs_of(&h, got);
		cr_assert_eq(memcmp(model, got, sizeof(got)), 0, "round %u: registers differ", round);

		/* The same registers, promoted, count the same. */
		uint64_t c_sparse, c_dense;

		cr_assert_eq(hll_count(h.p, h.len, &c_sparse), 0);
		cr_assert_eq(hll_to_dense(&h), 1);
		cr_assert_eq(h.len, HLL_DENSE_SIZE);
		cr_assert_eq(hll_count(h.p, h.len, &c_dense), 0);
		cr_assert_eq(c_sparse, c_dense);
		cr_assert_eq(c_sparse, hll_count_regs(model));
		regs_of(&h, got);
		cr_assert_eq(memcmp(model, got, sizeof(got)), 0, "round %u: dense registers differ", round);
		free(h.p);
	}
}

Test(hll, promotion_on_large_value)
{
	struct hll h = new_sparse();
	uint8_t regs[HLL_REGISTERS];

	add_str(&h, "a", SPARSE_MAX_DEFAULT);
	hll_cache_set(h.p, 1234);
	h.p[5] = 0x5a;   /* unused header bytes travel with the value */
	cr_assert_eq(hll_set(&h, 77, 32, SPARSE_MAX_DEFAULT), 1);
	cr_assert_eq(h.p[4], HLL_SPARSE, "32 still fits a VAL opcode");
	cr_assert_eq(hll_set(&h, 78, 33, SPARSE_MAX_DEFAULT), 1);
	cr_assert_eq(h.p[4], HLL_DENSE);
	cr_assert_eq(h.len, HLL_DENSE_SIZE);
	cr_assert_eq(h.p[5], 0x5a);
	cr_assert(!hll_cache_valid(h.p));
	cr_assert_eq(hll_cache_get(h.p) & 0x00ffffffffffffffULL, 1234, "cache bytes kept");
	regs_of(&h, regs);
	cr_assert_eq(regs[12711], 2);
	cr_assert_eq(regs[77], 32);
	cr_assert_eq(regs[78], 33);
	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		if (i != 12711 && i != 77 && i != 78)
			cr_assert_eq(regs[i], 0, "register %u", i);
	/* Dense: the update rule still holds. */
	cr_assert_eq(hll_set(&h, 78, 20, SPARSE_MAX_DEFAULT), 0);
	cr_assert_eq(hll_set(&h, 78, 51, SPARSE_MAX_DEFAULT), 1);
	cr_assert_eq(hll_to_dense(&h), 0, "already dense");
	free(h.p);
}

Test(hll, promotion_on_size)
{
	struct hll h = new_sparse();
	uint8_t regs_before[HLL_REGISTERS], regs_after[HLL_REGISTERS];
	unsigned i;

	/* Registers 0, 2, 4 ... each cost a VAL and a ZERO: the value grows
	 * until the next edit would pass 100 bytes. */
	for (i = 0; h.p[4] == HLL_SPARSE; i += 2) {
		regs_of(&h, regs_before);
		cr_assert_eq(hll_set(&h, i, 1, 100), 1);
		if (h.p[4] == HLL_SPARSE)
			cr_assert_leq(h.len, 100);
	}
	regs_of(&h, regs_after);
	regs_before[i - 2] = 1;
	cr_assert_eq(memcmp(regs_before, regs_after, sizeof(regs_after)), 0);
	cr_assert_eq(h.len, HLL_DENSE_SIZE);
	free(h.p);
}

/* --------------------------------------------- golden values from Redis */

Test(hll, golden_small_sparse_bytes)
{
	static const uint8_t want[] =
		"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
		"Gu\x8cO\xba\x84L\xcc\x80M\xa5\x84K\xfb\x80" "BZ";
	struct hll h = new_sparse();
	uint64_t card;
	const char *els[] = { "a", "b", "hello", "foobar", "" };

	for (size_t i = 0; i < 5; i++)
		add_str(&h, els[i], SPARSE_MAX_DEFAULT);
	cr_assert_eq(h.len, sizeof(want) - 1);
	cr_assert_eq(memcmp(h.p, want, h.len), 0, "bytes differ from Redis's");
	cr_assert_eq(hll_count(h.p, h.len, &card), 0);
	cr_assert_eq(card, 5);
	free(h.p);
}

struct golden_case {
	unsigned n;           /* elements "el:0" .. "el:<n-1>" */
	size_t len;
	uint64_t fnv;         /* FNV-1a 64 of the value, 0 = not checked */
	uint64_t card;        /* PFCOUNT */
};

Test(hll, golden_values_and_counts)
{
	static const struct golden_case cases[] = {
		{ 1, 0, 0, 1 },
		{ 10, 0, 0, 10 },
		{ 100, 289, 0x184f75b6da991433ULL, 100 },
		{ 1000, 0, 0, 999 },
		{ 5000, HLL_DENSE_SIZE, 0x6fb8e866361bbd85ULL, 4959 },
		{ 20000, 0, 0, 20030 },
		{ 100000, 0, 0, 98893 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hll h = new_sparse();
		uint64_t card;

		add_els(&h, "el:", cases[i].n, SPARSE_MAX_DEFAULT);
		if (cases[i].len)
			cr_expect_eq(h.len, cases[i].len, "n=%u: %zu bytes", cases[i].n, h.len);
		if (cases[i].fnv)
			cr_expect_eq(fnv1a(h.p, h.len), cases[i].fnv, "n=%u: bytes differ", cases[i].n);
		cr_assert_eq(hll_count(h.p, h.len, &card), 0);
		cr_expect_eq(card, cases[i].card, "n=%u: count %llu", cases[i].n,
			     (unsigned long long)card);
		free(h.p);
	}
}

/* ------------------------------------------------------------ accuracy */

static void accuracy(unsigned n, const char *prefix)
{
	struct hll h = new_sparse();
	uint64_t card;
	double err;

	add_els(&h, prefix, n, SPARSE_MAX_DEFAULT);
	cr_assert_eq(h.p[4], HLL_DENSE);
	cr_assert_eq(hll_count(h.p, h.len, &card), 0);
	err = ((double)card - n) / n;
	cr_expect(err < 0.02 && err > -0.02, "%u elements (%s): estimate %llu, error %.4f", n, prefix,
		  (unsigned long long)card, err);
	free(h.p);
}

Test(hll, accuracy_1e5)
{
	accuracy(100000, "acc:");
	accuracy(100000, "user-");
}

Test(hll, accuracy_1e6, .timeout = 120)
{
	accuracy(1000000, "acc:");
}

Test(hll, estimator_edges)
{
	uint32_t histo[HLL_REGISTER_MAX + 1] = {0};

	histo[0] = HLL_REGISTERS;
	cr_assert_eq(hll_estimate(histo), 0, "all registers zero");
	memset(histo, 0, sizeof(histo));
	histo[HLL_Q + 1] = HLL_REGISTERS;
	cr_assert_gt(hll_estimate(histo), 1ULL << 60, "all registers saturated");
	memset(histo, 0, sizeof(histo));
	histo[0] = HLL_REGISTERS - 1;
	histo[1] = 1;
	cr_assert_eq(hll_estimate(histo), 1);
	/* Values above Q + 1 (only a crafted dense value holds them) are
	 * ignored, as Redis ignores them. */
	uint32_t without[HLL_REGISTER_MAX + 1] = {0};

	memset(histo, 0, sizeof(histo));
	histo[0] = without[0] = HLL_REGISTERS - 1;
	histo[63] = 1;
	cr_assert_eq(hll_estimate(histo), hll_estimate(without));
	histo[52] = 7;
	cr_assert_eq(hll_estimate(histo), hll_estimate(without));
}

/* ---------------------------------------------------------- robustness */

Test(hll, corrupt_sparse_detected)
{
	/* Opcodes covering too few / too many registers, a cut XZERO. */
	static const struct {
		const char *ops;
		size_t len;
	} bad[] = {
		{ "\x7f\xfe", 2 },               /* 16383 registers */
		{ "\x7f\xff\x80", 3 },           /* 16385 */
		{ "\x7f", 1 },                   /* XZERO without its second byte */
		{ "", 0 },                       /* nothing */
		{ "\xff\xff\xff\xff", 4 },       /* 16 registers */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[32];
		uint8_t regs[HLL_REGISTERS] = {0};
		uint64_t card;
		struct hll h;

		hll_init_sparse(buf);
		memcpy(buf + HLL_HDR_SIZE, bad[i].ops, bad[i].len);
		h = from_bytes(buf, HLL_HDR_SIZE + bad[i].len);
		cr_expect_eq(hll_count(h.p, h.len, &card), -EINVAL, "case %zu count", i);
		cr_expect_eq(hll_merge_regs(regs, h.p, h.len), -EINVAL, "case %zu merge", i);
		cr_expect_eq(hll_to_dense(&h), -EINVAL, "case %zu to_dense", i);
		cr_expect_eq(h.p[4], HLL_SPARSE, "case %zu left unchanged", i);
		free(h.p);
	}

	/* An edit beyond the end of short opcodes is refused too. */
	uint8_t buf[HLL_SPARSE_EMPTY_SIZE];
	struct hll h;

	hll_init_sparse(buf);
	buf[HLL_HDR_SIZE] = 0x00;   /* one zero register */
	h = from_bytes(buf, HLL_HDR_SIZE + 1);
	cr_expect_eq(hll_set(&h, 5, 1, SPARSE_MAX_DEFAULT), -EINVAL);
	cr_expect_eq(hll_set(&h, 5, 40, SPARSE_MAX_DEFAULT), -EINVAL, "promotion of a corrupt value");
	free(h.p);
}

/* Random opcode bytes after a valid sparse header: whatever they decode
 * to, nothing reads or writes outside the buffer and the results stay in
 * range. ASan turns any stray access into a failure. */
Test(hll, random_corrupt_payloads, .timeout = 120)
{
	for (unsigned round = 0; round < 20000; round++) {
		size_t n = (size_t)(rnd() % 80);
		uint8_t buf[HLL_HDR_SIZE + 80];
		uint8_t regs[HLL_REGISTERS];
		uint64_t card;
		struct hll h;

		hll_init_sparse(buf);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd();

			/* Bias towards long zero runs, so some payloads are
			 * near-valid and reach the deeper paths. */
			buf[HLL_HDR_SIZE + i] = (r & 0x300) == 0 ? (uint8_t)(0x40 | (r & 0x3f)) : (uint8_t)r;
		}
		h = from_bytes(buf, HLL_HDR_SIZE + n);
		memset(regs, 0, sizeof(regs));
		if (hll_merge_regs(regs, h.p, h.len) == 0)
			for (unsigned i = 0; i < HLL_REGISTERS; i++)
				cr_assert_leq(regs[i], HLL_SPARSE_VAL_MAX);
		(void)hll_count(h.p, h.len, &card);
		for (unsigned k = 0; k < 8; k++) {
			unsigned idx = (unsigned)(rnd() % HLL_REGISTERS);
			unsigned v = 1 + (unsigned)(rnd() % 51);
			int rc = hll_set(&h, idx, v, 1 + rnd() % 200);

			cr_assert(rc == 0 || rc == 1 || rc == -EINVAL, "rc %d", rc);
			cr_assert_leq(h.len, h.cap);
			cr_assert(h.p[4] == HLL_SPARSE || h.len == HLL_DENSE_SIZE);
		}
		(void)hll_to_dense(&h);
		(void)hll_count(h.p, h.len, &card);
		free(h.p);
	}

	/* Dense values: any byte pattern is a valid register array. */
	for (unsigned round = 0; round < 20; round++) {
		uint8_t *d = malloc(HLL_DENSE_SIZE);
		uint64_t card;

		cr_assert_not_null(d);
		hll_init_sparse(d);
		d[4] = HLL_DENSE;
		for (size_t i = HLL_HDR_SIZE; i < HLL_DENSE_SIZE; i++)
			d[i] = (uint8_t)rnd();
		cr_assert(hll_valid(d, HLL_DENSE_SIZE));
		cr_assert_eq(hll_count(d, HLL_DENSE_SIZE, &card), 0);
		free(d);
	}
}

Test(hll, sparse_next_iterates)
{
	static const uint8_t ops[] = { 0x3f, 0x40, 0x00, 0x9f, 0x7f, 0xbf };
	const uint8_t *p = ops, *end = ops + sizeof(ops);
	struct hll_op op;

	cr_assert_eq(hll_sparse_next(&p, end, &op), 1);
	cr_assert(op.kind == HLL_OP_ZERO && op.runlen == 64);
	cr_assert_eq(hll_sparse_next(&p, end, &op), 1);
	cr_assert(op.kind == HLL_OP_XZERO && op.runlen == 1);
	cr_assert_eq(hll_sparse_next(&p, end, &op), 1);
	cr_assert(op.kind == HLL_OP_VAL && op.value == 8 && op.runlen == 4);
	cr_assert_eq(hll_sparse_next(&p, end, &op), 1);
	cr_assert(op.kind == HLL_OP_XZERO && op.runlen == 16384 - 64);
	cr_assert_eq(hll_sparse_next(&p, end, &op), 0);
	cr_assert_eq(hll_sparse_next(&p, end - 1, &op), 0);
	p = ops + 4;
	cr_assert_eq(hll_sparse_next(&p, ops + 5, &op), -EINVAL);
}
