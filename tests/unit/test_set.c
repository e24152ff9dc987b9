/* Unit tests for shards/obj_set.c: each encoding (intset byte layout and
 * width upgrades, listpack, hashtable), every conversion at its threshold
 * and that none goes backwards, iteration, scan, random picks and pops,
 * clone/mem/ops, the wire helpers (intset blobs, listpack validation), and
 * a randomized model test over all three encodings.
 *
 * check_set() compares a set with a model (a sorted array of member
 * strings) through size, contains, iteration (each member exactly once)
 * and, for intsets, the exact byte layout invariants. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/obj_set.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define SET_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define SET_LEAK_CHECK() true
#endif

static void setup(void)
{
	ks_set_seed(0x5e7);
}

TestSuite(set, .init = setup);

#define SET_TEST(name)                                                    \
	static void name##_body(void);                                    \
	Test(set, name)                                                   \
	{                                                                 \
		name##_body();                                            \
		cr_assert(SET_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
	}                                                                 \
	static void name##_body(void)

static const struct obj_set_lim LIM = { .max_intset = 16, .max_lp_entries = 8, .max_lp_value = 10 };

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 7;

static uint64_t rnd(void *arg)
{
	(void)arg;
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct set {
	void *ptr;
	uint8_t enc;
};

static struct set mk(void)
{
	struct set s;
	s.ptr = obj_set_new(&s.enc);
	return s;
}

static int add(struct set *s, const char *m, const struct obj_set_lim *lim)
{
	return obj_set_add(&s->ptr, &s->enc, m, strlen(m), lim);
}

static int rem(struct set *s, const char *m)
{
	return obj_set_remove(&s->ptr, s->enc, m, strlen(m));
}

static bool has(const struct set *s, const char *m)
{
	return obj_set_contains(s->ptr, s->enc, m, strlen(m));
}

static void drop(struct set *s)
{
	obj_set_free(s->ptr, s->enc);
	s->ptr = NULL;
}

static const char *enc_name(uint8_t enc)
{
	return enc == KS_ENC_INTSET ? "intset" : enc == KS_ENC_LISTPACK ? "listpack"
	       : enc == KS_ENC_HASHTABLE ? "hashtable" : "?";
}

#define ASSERT_ENC(s, want) \
	cr_assert((s)->enc == (want), "encoding %s, want %s", enc_name((s)->enc), enc_name(want))

/* A model: up to MODEL_MAX distinct member strings. */
#define MODEL_MAX 4096
struct model {
	char *m[MODEL_MAX];
	unsigned n;
};

static int model_find(const struct model *md, const char *m, size_t len)
{
	for (unsigned i = 0; i < md->n; i++)
		if (strlen(md->m[i]) == len && memcmp(md->m[i], m, len) == 0)
			return (int)i;
	return -1;
}

static int model_add(struct model *md, const char *m)
{
	if (model_find(md, m, strlen(m)) >= 0)
		return 0;
	cr_assert(md->n < MODEL_MAX);
	md->m[md->n++] = strdup(m);
	return 1;
}

static int model_del(struct model *md, const char *m)
{
	int i = model_find(md, m, strlen(m));
	if (i < 0)
		return 0;
	free(md->m[i]);
	md->m[i] = md->m[--md->n];
	return 1;
}

static void model_free(struct model *md)
{
	for (unsigned i = 0; i < md->n; i++)
		free(md->m[i]);
	md->n = 0;
}

/* Intset invariants: width 2/4/8, exact byte length, strictly ascending,
 * each element read back from the raw little-endian bytes. */
static void check_intset_bytes(const struct set *s)
{
	const unsigned char *b = s->ptr;
	uint32_t w = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	uint32_t n = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	cr_assert(w == 2 || w == 4 || w == 8, "intset width %u", w);
	cr_assert(obj_set_intset_bytes(s->ptr) == 8 + (size_t)n * w);
	cr_assert(obj_set_mem(s->ptr, s->enc) == 8 + (size_t)n * w, "intset not sized to content");
	cr_assert(obj_set_intset_valid(s->ptr, 8 + (size_t)n * w), "intset fails its own validation");
	cr_assert(n == obj_set_size(s->ptr, s->enc));
}

static void check_set(const struct set *s, const struct model *md)
{
	cr_assert(obj_set_size(s->ptr, s->enc) == md->n, "%s size %lu, model %u", enc_name(s->enc),
		  obj_set_size(s->ptr, s->enc), md->n);
	for (unsigned i = 0; i < md->n; i++)
		cr_assert(has(s, md->m[i]), "%s: member %s missing", enc_name(s->enc), md->m[i]);
	unsigned char *seen = calloc(md->n + 1, 1);
	struct obj_set_iter it;
	struct obj_set_elem m;
	unsigned count = 0;
	long long prev = 0;
	obj_set_iter_init(&it, s->ptr, s->enc);
	while (obj_set_iter_next(&it, &m)) {
		int i = model_find(md, m.p, m.len);
		cr_assert(i >= 0, "iteration returned a non-member %.*s", (int)m.len, m.p);
		cr_assert(!seen[i], "iteration returned %s twice", md->m[i]);
		seen[i] = 1;
		if (m.is_int) {
			char buf[32];
			cr_assert(ks_ll2str(buf, m.ival) == m.len && memcmp(buf, m.p, m.len) == 0,
				  "is_int element's text and value differ");
		}
		if (s->enc == KS_ENC_INTSET) {
			cr_assert(m.is_int);
			cr_assert(count == 0 || m.ival > prev, "intset not ascending");
			prev = m.ival;
		}
		count++;
	}
	cr_assert(count == md->n, "iteration returned %u of %u", count, md->n);
	free(seen);
	if (s->enc == KS_ENC_INTSET)
		check_intset_bytes(s);
	if (s->enc == KS_ENC_LISTPACK)
		cr_assert(obj_set_lp_valid(s->ptr, lp_bytes(s->ptr)), "listpack set invalid");
}

/* ---------------------------------------------------------------- intset */

SET_TEST(intset_basic_and_sorted)
{
	struct set s = mk();
	struct model md = { .n = 0 };
	ASSERT_ENC(&s, KS_ENC_INTSET);
	cr_assert(obj_set_size(s.ptr, s.enc) == 0);
	cr_assert(obj_set_intset_bytes(s.ptr) == 8, "empty intset is 8 bytes");
	static const char *vals[] = { "5", "-3", "100", "0", "7", "-3", "5" };
	static const int want[] = { 1, 1, 1, 1, 1, 0, 0 };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cr_assert(add(&s, vals[i], &LIM) == want[i], "add %s", vals[i]);
		model_add(&md, vals[i]);
	}
	ASSERT_ENC(&s, KS_ENC_INTSET);
	check_set(&s, &md);
	/* Non-canonical integers are other strings: not members. */
	static const char *nonmembers[] = { "05", "+5", " 5", "5 ", "-0", "abc", "" };
	for (size_t i = 0; i < sizeof(nonmembers) / sizeof(nonmembers[0]); i++) {
		cr_assert(!has(&s, nonmembers[i]), "'%s' must not match", nonmembers[i]);
		cr_assert(rem(&s, nonmembers[i]) == 0);
	}
	cr_assert(rem(&s, "100") == 1);
	cr_assert(rem(&s, "100") == 0);
	cr_assert(rem(&s, "99999999999") == 0, "wider than the set: absent");
	model_del(&md, "100");
	check_set(&s, &md);
	/* Exact bytes: width 2, 4 elements -3 0 5 7, little-endian. */
	static const unsigned char bytes[] = { 2, 0, 0, 0, 4, 0, 0, 0, 0xfd, 0xff, 0, 0, 5, 0, 7, 0 };
	cr_assert(obj_set_intset_bytes(s.ptr) == sizeof(bytes));
	cr_assert(memcmp(s.ptr, bytes, sizeof(bytes)) == 0, "intset byte layout differs from Redis's");
	drop(&s);
	model_free(&md);
}

/* Width upgrades 16 -> 32 -> 64, with the new value landing first
 * (negative) or last (positive); every old element keeps its value. */
SET_TEST(intset_width_upgrades)
{
	static const struct {
		const char *v;
		unsigned width;
	} steps[] = {
		{ "1", 2 }, { "-32768", 2 }, { "32767", 2 },
		{ "32768", 4 }, { "-32769", 4 }, { "2147483647", 4 }, { "-2147483648", 4 },
		{ "-2147483649", 8 }, { "9223372036854775807", 8 }, { "-9223372036854775808", 8 },
	};
	struct obj_set_lim big = { .max_intset = 1000, .max_lp_entries = 8, .max_lp_value = 64 };
	struct set s = mk();
	struct model md = { .n = 0 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		cr_assert(add(&s, steps[i].v, &big) == 1);
		model_add(&md, steps[i].v);
		const unsigned char *b = s.ptr;
		cr_assert(b[0] == steps[i].width, "after %s width %u, want %u", steps[i].v, b[0], steps[i].width);
		check_set(&s, &md);
	}
	ASSERT_ENC(&s, KS_ENC_INTSET);
	/* Removing wide values never narrows the width (as Redis). */
	cr_assert(rem(&s, "-9223372036854775808") == 1);
	cr_assert(rem(&s, "9223372036854775807") == 1);
	cr_assert(((const unsigned char *)s.ptr)[0] == 8);
	/* Out of int64 range: a string, converts to listpack? No: 9 members
	 * > max_lp_entries 8, so a hashtable. */
	cr_assert(add(&s, "9223372036854775808", &big) == 1);
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	model_del(&md, "-9223372036854775808");
	model_del(&md, "9223372036854775807");
	model_add(&md, "9223372036854775808");
	check_set(&s, &md);
	drop(&s);
	model_free(&md);
}

/* -------------------------------------------------------------- listpack */

SET_TEST(listpack_basic)
{
	struct set s = mk();
	struct model md = { .n = 0 };
	cr_assert(add(&s, "a", &LIM) == 1);
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	model_add(&md, "a");
	static const char *vals[] = { "b", "12", "a", "-7", "", "b", "0123" };
	static const int want[] = { 1, 1, 0, 1, 1, 0, 1 };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cr_assert(add(&s, vals[i], &LIM) == want[i], "add '%s'", vals[i]);
		model_add(&md, vals[i]);
	}
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	check_set(&s, &md);
	cr_assert(has(&s, "12") && !has(&s, "012") && has(&s, "0123") && !has(&s, "123"));
	/* Insertion order is iteration order. */
	static const char *order[] = { "a", "b", "12", "-7", "", "0123" };
	struct obj_set_iter it;
	struct obj_set_elem m;
	size_t k = 0;
	obj_set_iter_init(&it, s.ptr, s.enc);
	while (obj_set_iter_next(&it, &m)) {
		cr_assert(m.len == strlen(order[k]) && memcmp(m.p, order[k], m.len) == 0,
			  "position %zu: %.*s, want %s", k, (int)m.len, m.p, order[k]);
		k++;
	}
	cr_assert(rem(&s, "12") == 1 && rem(&s, "12") == 0 && rem(&s, "zz") == 0);
	model_del(&md, "12");
	check_set(&s, &md);
	cr_assert(obj_set_mem(s.ptr, s.enc) == lp_bytes(s.ptr));
	drop(&s);
	model_free(&md);
}

/* ------------------------------------------------------------ hashtable */

SET_TEST(hashtable_basic)
{
	struct obj_set_lim lim = { .max_intset = 0, .max_lp_entries = 0, .max_lp_value = 0 };
	uint8_t enc;
	struct set s;
	s.ptr = obj_set_new_for("x", 1, 1, &lim, &enc);
	s.enc = enc;
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	struct model md = { .n = 0 };
	char buf[32];
	for (int i = 0; i < 1000; i++) {
		sprintf(buf, i % 2 ? "m%d" : "%d", i);
		cr_assert(add(&s, buf, &lim) == 1);
		cr_assert(add(&s, buf, &lim) == 0);
		model_add(&md, buf);
	}
	static const char bin[] = { 'a', 0, 'b' };
	cr_assert(obj_set_add(&s.ptr, &s.enc, bin, 3, &lim) == 1);
	cr_assert(obj_set_contains(s.ptr, s.enc, bin, 3) && !obj_set_contains(s.ptr, s.enc, bin, 2));
	cr_assert(obj_set_remove(&s.ptr, s.enc, bin, 3) == 1);
	check_set(&s, &md);
	for (int i = 0; i < 1000; i += 3) {
		sprintf(buf, i % 2 ? "m%d" : "%d", i);
		cr_assert(rem(&s, buf) == 1);
		model_del(&md, buf);
	}
	check_set(&s, &md);
	cr_assert(obj_set_mem(s.ptr, s.enc) > md.n * sizeof(struct sd_entry));
	drop(&s);
	model_free(&md);
}

/* ---------------------------------------------------------- conversions */

/* setTypeCreate's choice for SADD/SMOVE/loaders. */
SET_TEST(new_for_picks_encoding)
{
	static const struct {
		const char *first;
		size_t hint;
		uint8_t want;
	} cases[] = {
		{ "1", 1, KS_ENC_INTSET },
		{ "1", 16, KS_ENC_INTSET },        /* == max_intset */
		{ "1", 17, KS_ENC_HASHTABLE },     /* > max_intset and > max_lp_entries */
		{ "a", 1, KS_ENC_LISTPACK },
		{ "a", 8, KS_ENC_LISTPACK },       /* == max_lp_entries */
		{ "a", 9, KS_ENC_HASHTABLE },
		{ "01", 1, KS_ENC_LISTPACK },      /* not canonical */
		{ NULL, 3, KS_ENC_LISTPACK },
		{ NULL, 100, KS_ENC_HASHTABLE },
	};
	struct obj_set_lim lim2 = { .max_intset = 4, .max_lp_entries = 8, .max_lp_value = 10 };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t enc;
		void *p = obj_set_new_for(cases[i].first, cases[i].first ? strlen(cases[i].first) : 0,
					  cases[i].hint, &LIM, &enc);
		cr_assert(enc == cases[i].want, "case %zu: %s, want %s", i, enc_name(enc), enc_name(cases[i].want));
		cr_assert(obj_set_size(p, enc) == 0);
		obj_set_free(p, enc);
	}
	/* Too many integers for an intset but few enough for a listpack. */
	uint8_t enc;
	void *p = obj_set_new_for("1", 1, 6, &lim2, &enc);
	cr_assert(enc == KS_ENC_LISTPACK, "got %s", enc_name(enc));
	obj_set_free(p, enc);
}

/* intset -> listpack: a short string joins a small intset. */
SET_TEST(convert_intset_to_listpack)
{
	struct set s = mk();
	struct model md = { .n = 0 };
	static const char *ints[] = { "3", "1", "2" };
	for (int i = 0; i < 3; i++) {
		add(&s, ints[i], &LIM);
		model_add(&md, ints[i]);
	}
	cr_assert(add(&s, "abc", &LIM) == 1);
	model_add(&md, "abc");
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	check_set(&s, &md);
	/* The intset's order survives (ascending), the string is last. */
	static const char *order[] = { "1", "2", "3", "abc" };
	struct obj_set_iter it;
	struct obj_set_elem m;
	size_t k = 0;
	obj_set_iter_init(&it, s.ptr, s.enc);
	while (obj_set_iter_next(&it, &m))
		cr_assert(m.len == strlen(order[k]) && memcmp(m.p, order[k++], m.len) == 0);
	/* Removing the string does not go back to intset. */
	rem(&s, "abc");
	model_del(&md, "abc");
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	cr_assert(add(&s, "4", &LIM) == 1);
	model_add(&md, "4");
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	check_set(&s, &md);
	drop(&s);
	model_free(&md);
}

/* intset -> hashtable: more than max_intset integers. */
SET_TEST(convert_intset_to_hashtable_by_count)
{
	struct set s = mk();
	struct model md = { .n = 0 };
	char buf[32];
	for (int i = 0; i < 16; i++) {
		sprintf(buf, "%d", i * 10);
		cr_assert(add(&s, buf, &LIM) == 1);
		model_add(&md, buf);
		ASSERT_ENC(&s, KS_ENC_INTSET);
	}
	cr_assert(add(&s, "0", &LIM) == 0, "an existing member never converts");
	ASSERT_ENC(&s, KS_ENC_INTSET);
	cr_assert(add(&s, "5", &LIM) == 1);
	model_add(&md, "5");
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	check_set(&s, &md);
	for (int i = 0; i < 16; i++) {
		sprintf(buf, "%d", i * 10);
		rem(&s, buf);
		model_del(&md, buf);
	}
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	check_set(&s, &md);
	drop(&s);
	model_free(&md);
}

/* intset -> hashtable directly: a string that does not fit a listpack
 * (too long, or the intset already at max_lp_entries). */
SET_TEST(convert_intset_to_hashtable_by_string)
{
	struct set s = mk();
	add(&s, "1", &LIM);
	cr_assert(add(&s, "a-long-string", &LIM) == 1);   /* 13 > max_lp_value 10 */
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	cr_assert(has(&s, "1") && has(&s, "a-long-string"));
	drop(&s);

	s = mk();
	char buf[32];
	for (int i = 0; i < 8; i++) {
		sprintf(buf, "%d", i);
		add(&s, buf, &LIM);
	}
	cr_assert(add(&s, "x", &LIM) == 1);   /* 8 ints: not < max_lp_entries */
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	cr_assert(obj_set_size(s.ptr, s.enc) == 9);
	drop(&s);

	/* The intset's own integers too long for the listpack value limit. */
	struct obj_set_lim tiny = { .max_intset = 16, .max_lp_entries = 8, .max_lp_value = 3 };
	s = mk();
	add(&s, "123456", &tiny);
	cr_assert(add(&s, "ab", &tiny) == 1);
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	drop(&s);
}

/* listpack -> hashtable: by count and by member length. */
SET_TEST(convert_listpack_to_hashtable)
{
	struct set s = mk();
	struct model md = { .n = 0 };
	char buf[32];
	for (int i = 0; i < 8; i++) {
		sprintf(buf, "s%d", i);
		cr_assert(add(&s, buf, &LIM) == 1);
		model_add(&md, buf);
		ASSERT_ENC(&s, KS_ENC_LISTPACK);
	}
	cr_assert(add(&s, "s3", &LIM) == 0);
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	cr_assert(add(&s, "s8", &LIM) == 1);
	model_add(&md, "s8");
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	check_set(&s, &md);
	drop(&s);
	model_free(&md);

	s = mk();
	add(&s, "a", &LIM);
	cr_assert(add(&s, "0123456789", &LIM) == 1);   /* == max_lp_value: fits */
	ASSERT_ENC(&s, KS_ENC_LISTPACK);
	cr_assert(add(&s, "0123456789a", &LIM) == 1);
	ASSERT_ENC(&s, KS_ENC_HASHTABLE);
	cr_assert(has(&s, "a") && has(&s, "0123456789") && has(&s, "0123456789a"));
	drop(&s);
}

SET_TEST(explicit_convert)
{
	static const uint8_t targets[] = { KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	for (size_t t = 0; t < 2; t++) {
		struct set s = mk();
		struct model md = { .n = 0 };
		add(&s, "-5", &LIM);
		add(&s, "70000", &LIM);
		model_add(&md, "-5");
		model_add(&md, "70000");
		obj_set_convert(&s.ptr, &s.enc, targets[t], 100);
		ASSERT_ENC(&s, targets[t]);
		check_set(&s, &md);
		obj_set_convert(&s.ptr, &s.enc, targets[t], 0);   /* same: no-op */
		ASSERT_ENC(&s, targets[t]);
		if (targets[t] == KS_ENC_LISTPACK) {
			obj_set_convert(&s.ptr, &s.enc, KS_ENC_HASHTABLE, 0);
			ASSERT_ENC(&s, KS_ENC_HASHTABLE);
			check_set(&s, &md);
		}
		drop(&s);
		model_free(&md);
	}
}

/* -------------------------------------------------- clone, mem, ops */

static struct set build(uint8_t enc, int n)
{
	struct obj_set_lim big = { .max_intset = 10000, .max_lp_entries = 10000, .max_lp_value = 64 };
	struct set s = mk();
	char buf[32];
	for (int i = 0; i < n; i++) {
		if (enc == KS_ENC_INTSET)
			sprintf(buf, "%d", i * 3 - n);
		else
			sprintf(buf, i % 3 ? "e%d" : "%d", i);
		obj_set_add(&s.ptr, &s.enc, buf, strlen(buf), &big);
	}
	if (s.enc != enc)
		obj_set_convert(&s.ptr, &s.enc, enc, 0);
	cr_assert(s.enc == enc);
	return s;
}

static void model_of(const struct set *s, struct model *md)
{
	struct obj_set_iter it;
	struct obj_set_elem m;
	obj_set_iter_init(&it, s->ptr, s->enc);
	while (obj_set_iter_next(&it, &m)) {
		char *t = strndup(m.p, m.len);
		model_add(md, t);
		free(t);
	}
}

SET_TEST(clone_mem_and_type_ops)
{
	static const uint8_t encs[] = { KS_ENC_INTSET, KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	for (size_t e = 0; e < 3; e++) {
		struct set s = build(encs[e], 200);
		struct model md = { .n = 0 };
		model_of(&s, &md);
		cr_assert(md.n == 200);
		struct set c = { obj_set_ops.clone(s.ptr, s.enc), s.enc };
		cr_assert(c.ptr != s.ptr);
		check_set(&c, &md);
		cr_assert(obj_set_ops.mem(c.ptr, c.enc) == obj_set_mem(s.ptr, s.enc) ||
			  encs[e] == KS_ENC_HASHTABLE);
		cr_assert(obj_set_ops.mem(c.ptr, c.enc) > 0);
		/* Changing the clone leaves the original alone. */
		obj_set_remove(&c.ptr, c.enc, md.m[0], strlen(md.m[0]));
		cr_assert(has(&s, md.m[0]) && !has(&c, md.m[0]));
		obj_set_ops.free(c.ptr, c.enc);
		drop(&s);
		model_free(&md);
	}
}

/* --------------------------------------------------------------- scan */

struct acc {
	struct model seen;
	unsigned calls;
};

static void acc_cb(void *arg, const struct obj_set_elem *m)
{
	struct acc *a = arg;
	char *t = strndup(m->p, m->len);
	model_add(&a->seen, t);
	free(t);
	a->calls++;
}

SET_TEST(scan_all_encodings)
{
	static const uint8_t encs[] = { KS_ENC_INTSET, KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	for (size_t e = 0; e < 3; e++) {
		struct set s = build(encs[e], 300);
		struct model md = { .n = 0 };
		model_of(&s, &md);
		struct acc a = { .seen = { .n = 0 } };
		uint64_t cur = 0;
		unsigned rounds = 0;
		do {
			cur = obj_set_scan(s.ptr, s.enc, cur, 10, acc_cb, &a);
			rounds++;
		} while (cur);
		cr_assert(a.seen.n == 300, "%s: scan saw %u", enc_name(encs[e]), a.seen.n);
		if (encs[e] == KS_ENC_HASHTABLE)
			cr_assert(rounds > 10, "hashtable scan in %u rounds", rounds);
		else
			cr_assert(rounds == 1 && a.calls == 300, "compact encodings scan in one call");
		model_free(&a.seen);
		model_free(&md);
		drop(&s);
	}
}

/* ------------------------------------------------------------- random */

SET_TEST(random_one_all_encodings)
{
	static const uint8_t encs[] = { KS_ENC_INTSET, KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	for (size_t e = 0; e < 3; e++) {
		struct set s = build(encs[e], 20);
		struct model md = { .n = 0 };
		model_of(&s, &md);
		unsigned hits[20] = { 0 };
		for (int t = 0; t < 4000; t++) {
			struct obj_set_elem m;
			char buf[OBJ_SET_NUMBUF];
			obj_set_random(s.ptr, s.enc, rnd(NULL), &m, buf);
			int i = model_find(&md, m.p, m.len);
			cr_assert(i >= 0, "random returned a non-member");
			hits[i]++;
		}
		for (int i = 0; i < 20; i++)
			cr_assert(hits[i] > 50, "%s: member %d drawn %u times of 4000", enc_name(encs[e]), i, hits[i]);
		model_free(&md);
		drop(&s);
	}
}

struct pick_acc {
	const struct model *md;
	unsigned *hits;
	unsigned calls;
};

static void pick_cb(void *arg, const struct obj_set_elem *m)
{
	struct pick_acc *a = arg;
	int i = model_find(a->md, m->p, m->len);
	cr_assert(i >= 0, "pick returned a non-member %.*s", (int)m->len, m->p);
	a->hits[i]++;
	a->calls++;
}

/* Unique picks: for counts below, around and above size/3 and size,
 * exactly min(count, size) distinct members; repeated picks: exactly
 * count, all members. */
SET_TEST(random_pick_counts)
{
	static const uint8_t encs[] = { KS_ENC_INTSET, KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	static const unsigned long counts[] = { 0, 1, 5, 33, 34, 60, 99, 100, 101, 1000 };
	for (size_t e = 0; e < 3; e++) {
		struct set s = build(encs[e], 100);
		struct model md = { .n = 0 };
		model_of(&s, &md);
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			unsigned hits[100] = { 0 };
			struct pick_acc a = { &md, hits, 0 };
			obj_set_random_pick(s.ptr, s.enc, counts[c], true, rnd, NULL, pick_cb, &a);
			unsigned long want = counts[c] < 100 ? counts[c] : 100;
			cr_assert(a.calls == want, "%s unique %lu: %u calls", enc_name(encs[e]), counts[c], a.calls);
			for (int i = 0; i < 100; i++)
				cr_assert(hits[i] <= 1, "%s unique %lu: member repeated", enc_name(encs[e]), counts[c]);
			memset(hits, 0, sizeof(hits));
			a.calls = 0;
			obj_set_random_pick(s.ptr, s.enc, counts[c], false, rnd, NULL, pick_cb, &a);
			cr_assert(a.calls == counts[c], "%s repeats %lu: %u calls", enc_name(encs[e]), counts[c], a.calls);
			if (counts[c] == 1000) {
				unsigned distinct = 0;
				for (int i = 0; i < 100; i++)
					distinct += hits[i] > 0;
				cr_assert(distinct > 90, "1000 picks of 100 hit only %u", distinct);
			}
		}
		check_set(&s, &md);   /* picks never modify */
		model_free(&md);
		drop(&s);
	}
}

struct pop_acc {
	struct model *md;
	unsigned calls;
	struct set *s;
};

static void pop_cb(void *arg, const struct obj_set_elem *m)
{
	struct pop_acc *a = arg;
	char *t = strndup(m->p, m->len);
	/* Handed over just before removal: still a member. */
	cr_assert(obj_set_contains(a->s->ptr, a->s->enc, m->p, m->len), "popped %s not a member", t);
	cr_assert(model_del(a->md, t) == 1, "popped %s twice or a non-member", t);
	free(t);
	a->calls++;
}

SET_TEST(pop_counts)
{
	static const uint8_t encs[] = { KS_ENC_INTSET, KS_ENC_LISTPACK, KS_ENC_HASHTABLE };
	static const unsigned long counts[] = { 0, 1, 10, 33, 34, 50, 51, 90, 99 };
	for (size_t e = 0; e < 3; e++) {
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			struct set s = build(encs[e], 100);
			struct model md = { .n = 0 };
			model_of(&s, &md);
			struct pop_acc a = { &md, 0, &s };
			obj_set_pop(&s.ptr, s.enc, counts[c], rnd, NULL, pop_cb, &a);
			cr_assert(a.calls == counts[c], "%s pop %lu: %u", enc_name(encs[e]), counts[c], a.calls);
			ASSERT_ENC(&s, encs[e]);
			check_set(&s, &md);   /* exactly the others remain */
			model_free(&md);
			drop(&s);
		}
	}
}

/* ------------------------------------------------------- wire helpers */

SET_TEST(intset_blob_validation)
{
	static const unsigned char good[] = { 4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 };
	static const struct {
		const char *what;
		unsigned char b[24];
		size_t len;
		bool ok;
	} cases[] = {
		{ "good w4", { 4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 }, 16, true },
		{ "empty", { 2, 0, 0, 0, 0, 0, 0, 0 }, 8, true },
		{ "short header", { 2, 0, 0 }, 3, false },
		{ "width 3", { 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0 }, 11, false },
		{ "length too big", { 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0 }, 12, false },
		{ "trailing byte", { 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 9 }, 11, false },
		{ "not ascending", { 2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0 }, 12, false },
		{ "duplicate", { 2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0 }, 12, false },
		{ "huge count", { 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0 }, 10, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert(obj_set_intset_valid(cases[i].b, cases[i].len) == cases[i].ok, "%s", cases[i].what);
	errno = 0;
	cr_assert_null(obj_set_intset_load(cases[6].b, cases[6].len));
	cr_assert(errno == EINVAL);
	struct set s = { obj_set_intset_load(good, sizeof(good)), KS_ENC_INTSET };
	cr_assert_not_null(s.ptr);
	cr_assert(has(&s, "1") && has(&s, "65536") && !has(&s, "0"));
	cr_assert(obj_set_size(s.ptr, s.enc) == 2);
	cr_assert(add(&s, "-1", &LIM) == 1);
	cr_assert(memcmp(s.ptr, "\x04\0\0\0\x03\0\0\0\xff\xff\xff\xff", 12) == 0, "-1 first, width 4");
	drop(&s);
}

SET_TEST(listpack_set_validation)
{
	unsigned char *lp = lp_new();
	lp = lp_append(lp, "a", 1);
	lp = lp_append(lp, "12", 2);
	lp = lp_append(lp, "b", 1);
	cr_assert(obj_set_lp_valid(lp, lp_bytes(lp)));
	cr_assert(!obj_set_lp_valid(lp, lp_bytes(lp) - 1), "truncated listpack accepted");
	lp = lp_append_int(lp, 12);   /* the same member as "12" */
	cr_assert(!obj_set_lp_valid(lp, lp_bytes(lp)), "duplicate member accepted");
	lp_free(lp);
	lp = lp_new();
	cr_assert(obj_set_lp_valid(lp, lp_bytes(lp)));
	lp_free(lp);
}

/* --------------------------------------------------------- model test */

/* Random adds (integers of every width, short and long strings) and
 * removes against a model; thresholds small enough that every conversion
 * path is taken across the seeds. Encodings only ever move forward. */
SET_TEST(random_model)
{
	static const char *strs[] = { "a", "b", "hello", "0x10", "01", "-", "a-long-member-name", "zz" };
	struct obj_set_lim lim = { .max_intset = 40, .max_lp_entries = 24, .max_lp_value = 12 };
	unsigned seen_enc[KS_NENC] = { 0 };
	for (unsigned seed = 1; seed <= 30; seed++) {
		rng_state = seed * 7919;
		struct set s = mk();
		struct model md = { .n = 0 };
		uint8_t prev = s.enc;
		unsigned ops = 50 + (unsigned)(rnd(NULL) % 400);
		bool strings = seed % 3 != 0;
		for (unsigned op = 0; op < ops; op++) {
			char buf[48];
			uint64_t r = rnd(NULL);
			switch (r % 5) {
			case 0:
				sprintf(buf, "%d", (int)(r >> 8) % 50);
				break;
			case 1:
				sprintf(buf, "%lld", (long long)(int32_t)(r >> 16) % 100000);
				break;
			case 2:
				sprintf(buf, "%lld", (long long)(r >> 3) * ((r & 8) ? -1 : 1));
				break;
			default:
				if (strings && (r >> 20) % 4 == 0)
					sprintf(buf, "%s%d", strs[(r >> 8) % 8], (int)(r >> 32) % 5);
				else
					sprintf(buf, "%d", (int)(r >> 8) % 30);
			}
			if ((r >> 40) % 4 == 0) {
				cr_assert(rem(&s, buf) == model_del(&md, buf), "seed %u op %u: remove %s", seed, op, buf);
			} else {
				cr_assert(add(&s, buf, &lim) == model_add(&md, buf), "seed %u op %u: add %s", seed, op, buf);
			}
			cr_assert(s.enc >= prev || (prev == KS_ENC_INTSET),
				  "seed %u: encoding went back from %s to %s", seed, enc_name(prev), enc_name(s.enc));
			if (prev == KS_ENC_HASHTABLE)
				ASSERT_ENC(&s, KS_ENC_HASHTABLE);
			if (prev == KS_ENC_LISTPACK)
				cr_assert(s.enc != KS_ENC_INTSET);
			prev = s.enc;
			seen_enc[s.enc]++;
			if (s.enc == KS_ENC_LISTPACK)
				cr_assert(obj_set_size(s.ptr, s.enc) <= lim.max_lp_entries);
			if (s.enc == KS_ENC_INTSET)
				cr_assert(obj_set_size(s.ptr, s.enc) <= lim.max_intset);
			if (op % 37 == 0)
				check_set(&s, &md);
		}
		check_set(&s, &md);
		model_free(&md);
		drop(&s);
	}
	cr_assert(seen_enc[KS_ENC_INTSET] && seen_enc[KS_ENC_LISTPACK] && seen_enc[KS_ENC_HASHTABLE],
		  "model test did not reach every encoding");
}
