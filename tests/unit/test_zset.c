/* Unit tests for shards/obj_zset.c: score text, range parsing, both
 * encodings through the same table of operations, conversions at the
 * thresholds, and a randomized model test against a sorted array (every
 * read API compared with the model after every write, and every structural
 * invariant checked with obj_zset_check). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/obj_zset.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ZS_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define ZS_LEAK_CHECK() true
#endif

/* A test followed, under AddressSanitizer, by a leak check that fails it
 * (a report at process exit would not). */
#define ZS_TEST(name)                                                     \
	static void name##_body(void);                                    \
	Test(zset, name)                                                  \
	{                                                                 \
		name##_body();                                            \
		cr_assert(ZS_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
	}                                                                 \
	static void name##_body(void)

static const struct obj_zset_lim lim_lp = { .max_entries = 1u << 20, .max_value = 1u << 20 };
static const struct obj_zset_lim lim_sl = { .max_entries = 0, .max_value = 64 };
static const struct obj_zset_lim lim_small = { .max_entries = 8, .max_value = 6 };
static const struct obj_zset_lim lim_default = { .max_entries = 128, .max_value = 64 };

static uint64_t rng_state = 0x1234567;

static uint64_t rnd64(void *arg)
{
	(void)arg;
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------- score text */

ZS_TEST(score_fmt)
{
	static const struct {
		double d;
		const char *want;
	} cases[] = {
		{ 0.0, "0" },
		{ -0.0, "0" },   /* as Redis: the sign is lost in a listpack */
		{ 1, "1" },
		{ -17, "-17" },
		{ 1.5, "1.5" },
		{ 0.1, "0.1" },
		{ 1.1, "1.1" },
		{ 1e20, "1e+20" },
		{ 4503599627370495.0, "4503599627370495" },
		{ 4503599627370496.0, "4503599627370496" },
		{ -4503599627370496.0, "-4503599627370496" },
		{ 3.14159265358979, "3.14159265358979" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ INFINITY, "inf" },
		{ -INFINITY, "-inf" },
		{ NAN, "nan" },
	};
	char buf[OBJ_ZSET_SCOREBUF];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = obj_zset_score_fmt(buf, cases[i].d);
		cr_assert_eq(n, strlen(buf));
		cr_assert_str_eq(buf, cases[i].want, "case %zu", i);
	}
}

ZS_TEST(score_fmt_round_trips)
{
	char buf[OBJ_ZSET_SCOREBUF];

	for (int i = 0; i < 20000; i++) {
		uint64_t bits = rnd64(NULL);
		double d;
		memcpy(&d, &bits, sizeof(d));
		if (isnan(d))
			continue;
		if (i % 3 == 0)
			d = (double)(int64_t)(bits >> 20) / 1024.0;
		size_t n = obj_zset_score_fmt(buf, d);
		double back;
		cr_assert_eq(obj_zset_score_parse(buf, n, &back), 0, "%s", buf);
		cr_assert(back == d && (d == 0 || signbit(back) == signbit(d)), "%s", buf);
	}
}

ZS_TEST(score_parse)
{
	static const struct {
		const char *s;
		int rc;
		double d;
	} cases[] = {
		{ "1", 0, 1 },        { "-2.5", 0, -2.5 }, { "inf", 0, INFINITY },
		{ "-inf", 0, -INFINITY }, { "+inf", 0, INFINITY }, { "1e3", 0, 1000 },
		{ "", -1, 0 },        { "nan", -1, 0 },    { "1x", -1, 0 },
		{ "abc", -1, 0 },     { "1 ", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double d = 0;
		int rc = obj_zset_score_parse(cases[i].s, strlen(cases[i].s), &d);
		cr_assert_eq(rc, cases[i].rc, "case %s", cases[i].s);
		if (rc == 0)
			cr_assert(d == cases[i].d, "case %s", cases[i].s);
	}
}

ZS_TEST(parse_range)
{
	static const struct {
		const char *min, *max;
		int rc;
		double dmin, dmax;
		bool minex, maxex, empty;
	} cases[] = {
		{ "1", "2", 0, 1, 2, false, false, false },
		{ "(1", "(2", 0, 1, 2, true, true, false },
		{ "-inf", "+inf", 0, -INFINITY, INFINITY, false, false, false },
		{ "(1", "1", 0, 1, 1, true, false, true },
		{ "1", "1", 0, 1, 1, false, false, false },
		{ "2", "1", 0, 2, 1, false, false, true },
		{ "", "", 0, 0, 0, false, false, false },   /* strtod("") as Redis */
		{ "(", "1", 0, 0, 1, true, false, false },
		{ " 1", "2", 0, 1, 2, false, false, false },
		{ "abc", "1", -1, 0, 0, false, false, false },
		{ "1", "nan", -1, 0, 0, false, false, false },
		{ "1", "2x", -1, 0, 0, false, false, false },
		{ "((1", "2", -1, 0, 0, false, false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct obj_zset_range r;
		int rc = obj_zset_parse_range(cases[i].min, strlen(cases[i].min), cases[i].max,
					      strlen(cases[i].max), &r);
		cr_assert_eq(rc, cases[i].rc, "case %zu", i);
		if (rc)
			continue;
		cr_assert(r.min == cases[i].dmin && r.max == cases[i].dmax, "case %zu", i);
		cr_assert_eq(r.minex, cases[i].minex, "case %zu", i);
		cr_assert_eq(r.maxex, cases[i].maxex, "case %zu", i);
		cr_assert_eq(obj_zset_range_empty(&r), cases[i].empty, "case %zu", i);
	}
}

ZS_TEST(parse_lex)
{
	static const struct {
		const char *min, *max;
		int rc;
		bool empty;
	} cases[] = {
		{ "-", "+", 0, false },  { "[a", "[b", 0, false }, { "(a", "(a", 0, true },
		{ "[a", "[a", 0, false }, { "[b", "[a", 0, true },  { "-", "-", 0, true },
		{ "+", "+", 0, true },   { "+", "-", 0, true },    { "[", "+", 0, false },
		{ "a", "+", -1, false }, { "", "+", -1, false },   { "-", "+x", -1, false },
		{ "-x", "+", -1, false }, { "[a", "b", -1, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct obj_zset_lex r;
		int rc = obj_zset_parse_lex(cases[i].min, strlen(cases[i].min), cases[i].max,
					    strlen(cases[i].max), &r);
		cr_assert_eq(rc, cases[i].rc, "case %zu", i);
		if (rc == 0)
			cr_assert_eq(obj_zset_lex_empty(&r), cases[i].empty, "case %zu", i);
	}
}

/* ------------------------------------------------ basic, per encoding */

struct zs {
	void *p;
	uint8_t enc;
	const struct obj_zset_lim *lim;
};

static void zs_init(struct zs *z, const struct obj_zset_lim *lim)
{
	z->lim = lim;
	z->p = obj_zset_new(0, 0, lim, &z->enc);
}

static unsigned zs_add(struct zs *z, const char *m, double score, unsigned flags, double *ns)
{
	unsigned out;
	int rc = obj_zset_add(&z->p, &z->enc, m, strlen(m), score, flags, &out, ns, z->lim);
	cr_assert_eq(rc, (out & OBJ_ZSET_OUT_NAN) ? -1 : 0);
	cr_assert_eq(obj_zset_check(z->p, z->enc), 0);
	return out;
}

static double zs_score(struct zs *z, const char *m)
{
	double d;
	cr_assert_eq(obj_zset_score(z->p, z->enc, m, strlen(m), &d), 0, "member %s", m);
	return d;
}

/* The elements in order as "m:score,..." */
static void zs_dump(struct zs *z, char *out, size_t cap)
{
	struct obj_zset_iter it;
	struct obj_zset_elem el;
	size_t n = 0;

	out[0] = 0;
	obj_zset_iter_rank(&it, z->p, z->enc, 0, false);
	while (obj_zset_iter_next(&it, &el))
		n += (size_t)snprintf(out + n, cap - n, "%s%.*s:%g", n ? "," : "", (int)el.mlen, el.m,
				      el.score);
}

static const struct obj_zset_lim *const all_lims[] = { &lim_lp, &lim_sl };

ZS_TEST(add_flags_both_encodings)
{
	for (size_t li = 0; li < 2; li++) {
		struct zs z;
		double ns;
		zs_init(&z, all_lims[li]);
		cr_assert_eq(z.enc, li == 0 ? KS_ENC_LISTPACK : KS_ENC_SKIPLIST);

		static const struct {
			const char *m;
			double score;
			unsigned flags;
			unsigned out;
			double after;   /* score afterwards (NAN: absent) */
		} steps[] = {
			{ "a", 1, 0, OBJ_ZSET_OUT_ADDED, 1 },
			{ "a", 1, 0, 0, 1 },                                 /* same score */
			{ "a", 2, 0, OBJ_ZSET_OUT_UPDATED, 2 },
			{ "a", 5, OBJ_ZSET_NX, OBJ_ZSET_OUT_NOP, 2 },
			{ "b", 5, OBJ_ZSET_XX, OBJ_ZSET_OUT_NOP, NAN },
			{ "b", 5, OBJ_ZSET_NX, OBJ_ZSET_OUT_ADDED, 5 },
			{ "a", 1, OBJ_ZSET_GT, OBJ_ZSET_OUT_NOP, 2 },
			{ "a", 3, OBJ_ZSET_GT, OBJ_ZSET_OUT_UPDATED, 3 },
			{ "a", 4, OBJ_ZSET_LT, OBJ_ZSET_OUT_NOP, 3 },
			{ "a", 3, OBJ_ZSET_LT, OBJ_ZSET_OUT_NOP, 3 },
			{ "a", -1, OBJ_ZSET_LT | OBJ_ZSET_XX, OBJ_ZSET_OUT_UPDATED, -1 },
			{ "c", 7, OBJ_ZSET_GT, OBJ_ZSET_OUT_ADDED, 7 },      /* GT adds new */
			{ "c", 1.5, OBJ_ZSET_INCR, OBJ_ZSET_OUT_UPDATED, 8.5 },
			{ "d", 2, OBJ_ZSET_INCR, OBJ_ZSET_OUT_ADDED, 2 },
			{ "d", INFINITY, OBJ_ZSET_INCR, OBJ_ZSET_OUT_UPDATED, INFINITY },
			{ "d", -INFINITY, OBJ_ZSET_INCR, OBJ_ZSET_OUT_NAN, INFINITY },
			{ "e", NAN, 0, OBJ_ZSET_OUT_NAN, NAN },
			{ "c", -1, OBJ_ZSET_INCR | OBJ_ZSET_GT, OBJ_ZSET_OUT_NOP, 8.5 },
			{ "c", 0, OBJ_ZSET_INCR | OBJ_ZSET_XX, 0, 8.5 },
		};
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			ns = -12345;
			unsigned out = zs_add(&z, steps[i].m, steps[i].score, steps[i].flags, &ns);
			cr_assert_eq(out, steps[i].out, "enc %zu step %zu: out %u", li, i, out);
			double d;
			int rc = obj_zset_score(z.p, z.enc, steps[i].m, strlen(steps[i].m), &d);
			if (isnan(steps[i].after)) {
				cr_assert_eq(rc, -1, "step %zu", i);
			} else {
				cr_assert_eq(rc, 0, "step %zu", i);
				cr_assert(d == steps[i].after, "enc %zu step %zu: %g", li, i, d);
				if (!(out & (OBJ_ZSET_OUT_NOP | OBJ_ZSET_OUT_NAN)))
					cr_assert(ns == steps[i].after, "step %zu newscore", i);
			}
		}
		char buf[256];
		zs_dump(&z, buf, sizeof(buf));
		cr_assert_str_eq(buf, "a:-1,b:5,c:8.5,d:inf");
		cr_assert_eq(obj_zset_rank(z.p, z.enc, "c", 1, false, NULL), 2);
		cr_assert_eq(obj_zset_rank(z.p, z.enc, "c", 1, true, NULL), 1);
		cr_assert_eq(obj_zset_rank(z.p, z.enc, "zz", 2, false, NULL), -1);
		cr_assert_eq(obj_zset_del(&z.p, z.enc, "b", 1), 1);
		cr_assert_eq(obj_zset_del(&z.p, z.enc, "b", 1), 0);
		cr_assert_eq(obj_zset_len(z.p, z.enc), 3);
		cr_assert_eq(obj_zset_check(z.p, z.enc), 0);
		obj_zset_free(z.p, z.enc);
	}
}

/* Members that look like integers are stored as listpack integers but
 * must order and compare as their text. */
ZS_TEST(integer_like_members_order_as_text)
{
	for (size_t li = 0; li < 2; li++) {
		struct zs z;
		zs_init(&z, all_lims[li]);
		const char *ms[] = { "10", "9", "-1", "100", "007", "a", "" };
		for (size_t i = 0; i < 7; i++)
			zs_add(&z, ms[i], 0, 0, NULL);
		char buf[256];
		zs_dump(&z, buf, sizeof(buf));
		cr_assert_str_eq(buf, ":0,-1:0,007:0,10:0,100:0,9:0,a:0", "enc %zu: %s", li, buf);
		struct obj_zset_lex r;
		cr_assert_eq(obj_zset_parse_lex("[1", 2, "(9", 2, &r), 0);
		cr_assert_eq(obj_zset_count_lex(z.p, z.enc, &r), 2);
		cr_assert_eq(zs_score(&z, "100"), 0);
		obj_zset_free(z.p, z.enc);
	}
}

ZS_TEST(conversions_at_thresholds)
{
	struct zs z;
	char m[32];

	zs_init(&z, &lim_default);
	for (int i = 0; i < 128; i++) {
		snprintf(m, sizeof(m), "m%03d", i);
		zs_add(&z, m, i, 0, NULL);
	}
	cr_assert_eq(z.enc, KS_ENC_LISTPACK);
	zs_add(&z, "m127", 1000, 0, NULL);     /* update: no growth */
	cr_assert_eq(z.enc, KS_ENC_LISTPACK);
	zs_add(&z, "m128", 128, 0, NULL);
	cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
	cr_assert_eq(obj_zset_len(z.p, z.enc), 129);
	cr_assert_eq(zs_score(&z, "m127"), 1000);
	/* Deleting never converts back; shrink does when it fits. */
	obj_zset_del_ranks(&z.p, z.enc, 0, 9);
	cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
	obj_zset_shrink(&z.p, &z.enc, &lim_default);
	cr_assert_eq(z.enc, KS_ENC_LISTPACK);
	cr_assert_eq(obj_zset_check(z.p, z.enc), 0);
	cr_assert_eq(obj_zset_len(z.p, z.enc), 119);
	cr_assert_eq(zs_score(&z, "m127"), 1000);
	obj_zset_free(z.p, z.enc);

	/* A long member converts at once. */
	zs_init(&z, &lim_default);
	zs_add(&z, "short", 1, 0, NULL);
	char longm[66];
	memset(longm, 'x', 65);
	longm[65] = 0;
	zs_add(&z, longm, 2, 0, NULL);
	cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
	obj_zset_shrink(&z.p, &z.enc, &lim_default);   /* still too long */
	cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
	obj_zset_del(&z.p, z.enc, longm, 65);
	obj_zset_shrink(&z.p, &z.enc, &lim_default);
	cr_assert_eq(z.enc, KS_ENC_LISTPACK);
	obj_zset_free(z.p, z.enc);

	/* Hints choose the encoding of a new zset. */
	uint8_t enc;
	void *p = obj_zset_new(129, 1, &lim_default, &enc);
	cr_assert_eq(enc, KS_ENC_SKIPLIST);
	obj_zset_free(p, enc);
	p = obj_zset_new(128, 65, &lim_default, &enc);
	cr_assert_eq(enc, KS_ENC_SKIPLIST);
	obj_zset_free(p, enc);
	p = obj_zset_new(128, 64, &lim_default, &enc);
	cr_assert_eq(enc, KS_ENC_LISTPACK);
	obj_zset_free(p, enc);
}

ZS_TEST(listpack_bytes_match_redis_layout)
{
	/* ZADD z 1 a 2.5 b 3 10 stores a,1,b,"2.5",10(int),3 — integer
	 * scores and integer-looking members as listpack integers. */
	struct zs z;
	zs_init(&z, &lim_default);
	zs_add(&z, "a", 1, 0, NULL);
	zs_add(&z, "b", 2.5, 0, NULL);
	zs_add(&z, "10", 3, 0, NULL);
	unsigned char *lp = z.p;
	cr_assert_eq(lp_len(lp), 6);
	long long iv;
	uint32_t len;
	const unsigned char *s;
	s = lp_get(lp_seek(lp, 1), &iv, &len);
	cr_assert_null(s);
	cr_assert_eq(iv, 1);
	s = lp_get(lp_seek(lp, 3), &iv, &len);
	cr_assert_not_null(s);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(s, "2.5", 3), 0);
	s = lp_get(lp_seek(lp, 4), &iv, &len);
	cr_assert_null(s);
	cr_assert_eq(iv, 10);
	cr_assert(obj_zset_lp_valid(lp, lp_bytes(lp)));
	obj_zset_free(z.p, z.enc);
}

ZS_TEST(lp_valid_rejects)
{
	static const char *const cases[][6] = {
		{ "a", "1", "b", NULL },               /* odd */
		{ "b", "1", "a", "1", NULL },          /* unsorted members */
		{ "a", "2", "b", "1", NULL },          /* unsorted scores */
		{ "a", "1", "a", "2", NULL },          /* repeated member */
		{ "a", "x", NULL },                    /* bad score */
		{ "a", "nan", NULL },                  /* NaN score */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *lp = lp_new();
		for (size_t j = 0; cases[i][j]; j++)
			lp = lp_append(lp, cases[i][j], strlen(cases[i][j]));
		cr_assert_not(obj_zset_lp_valid(lp, lp_bytes(lp)), "case %zu", i);
		lp_free(lp);
	}
	unsigned char *lp = lp_new();
	lp = lp_append(lp, "a", 1);
	lp = lp_append(lp, "1", 1);
	lp = lp_append(lp, "b", 1);
	lp = lp_append(lp, "1", 1);
	cr_assert(obj_zset_lp_valid(lp, lp_bytes(lp)));
	cr_assert_not(obj_zset_lp_valid(lp, lp_bytes(lp) - 1));
	lp_free(lp);
}

ZS_TEST(from_dict_and_clone)
{
	for (int big = 0; big < 2; big++) {
		struct sdict *d = sd_new(0);
		int n = big ? 500 : 20;
		for (int i = 0; i < n; i++) {
			char m[16];
			int len = snprintf(m, sizeof(m), "k%d", i);
			struct sd_entry *e = sd_add(d, m, (size_t)len, NULL);
			e->v.d = (double)(i % 7);
		}
		uint8_t enc;
		void *p = obj_zset_from_dict(d, &lim_default, &enc);
		cr_assert_eq(enc, big ? KS_ENC_SKIPLIST : KS_ENC_LISTPACK);
		cr_assert_eq(obj_zset_len(p, enc), (unsigned long)n);
		cr_assert_eq(obj_zset_check(p, enc), 0);
		void *c = obj_zset_clone(p, enc);
		cr_assert_eq(obj_zset_check(c, enc), 0);
		struct obj_zset_iter a, b;
		struct obj_zset_elem ea, eb;
		obj_zset_iter_rank(&a, p, enc, 0, false);
		obj_zset_iter_rank(&b, c, enc, 0, false);
		double prev = -1;
		while (obj_zset_iter_next(&a, &ea)) {
			cr_assert(obj_zset_iter_next(&b, &eb));
			cr_assert_eq(ea.mlen, eb.mlen);
			cr_assert_eq(memcmp(ea.m, eb.m, ea.mlen), 0);
			cr_assert(ea.score == eb.score && ea.score >= prev);
			prev = ea.score;
		}
		cr_assert_not(obj_zset_iter_next(&b, &eb));
		cr_assert_gt(obj_zset_mem(p, enc), 0);
		obj_zset_ops.free(c, enc);
		obj_zset_free(p, enc);
	}
}

/* --------------------------------------------------------- the model */

struct mel {
	char m[12];
	size_t mlen;
	double score;
};

struct model {
	struct mel *v;
	size_t n;
};

static int mel_cmp(const struct mel *a, const struct mel *b)
{
	if (a->score != b->score)
		return a->score < b->score ? -1 : 1;
	size_t n = a->mlen < b->mlen ? a->mlen : b->mlen;
	int c = memcmp(a->m, b->m, n);
	if (c)
		return c;
	return a->mlen < b->mlen ? -1 : a->mlen > b->mlen;
}

static long model_find(const struct model *md, const char *m, size_t mlen)
{
	for (size_t i = 0; i < md->n; i++)
		if (md->v[i].mlen == mlen && memcmp(md->v[i].m, m, mlen) == 0)
			return (long)i;
	return -1;
}

static void model_del(struct model *md, size_t i)
{
	memmove(&md->v[i], &md->v[i + 1], (md->n - i - 1) * sizeof(md->v[0]));
	md->n--;
}

static void model_set(struct model *md, const char *m, size_t mlen, double score)
{
	long i = model_find(md, m, mlen);
	if (i >= 0)
		model_del(md, (size_t)i);
	struct mel e = { .mlen = mlen, .score = score };
	memcpy(e.m, m, mlen);
	size_t at = 0;
	while (at < md->n && mel_cmp(&md->v[at], &e) < 0)
		at++;
	memmove(&md->v[at + 1], &md->v[at], (md->n - at) * sizeof(md->v[0]));
	md->v[at] = e;
	md->n++;
}

static bool in_range(const struct mel *e, const struct obj_zset_range *r)
{
	return (r->minex ? e->score > r->min : e->score >= r->min) &&
	       (r->maxex ? e->score < r->max : e->score <= r->max);
}

static int lexcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	struct mel x = { .mlen = alen }, y = { .mlen = blen };
	memcpy(x.m, a, alen);
	memcpy(y.m, b, blen);
	return mel_cmp(&x, &y);
}

static bool in_lex(const struct mel *e, const struct obj_zset_lex *r)
{
	bool lo = r->mininf ? r->mininf < 0
			    : (r->minex ? lexcmp(e->m, e->mlen, r->min, r->minlen) > 0
					: lexcmp(e->m, e->mlen, r->min, r->minlen) >= 0);
	bool hi = r->maxinf ? r->maxinf > 0
			    : (r->maxex ? lexcmp(e->m, e->mlen, r->max, r->maxlen) < 0
					: lexcmp(e->m, e->mlen, r->max, r->maxlen) <= 0);
	return lo && hi;
}

static void rand_member(char *m, size_t *mlen)
{
	static const char *const pool[] = { "1", "2", "10", "-3", "007", "a", "b", "ab", "abc",
					    "zz", "", "12345678901", "x9", "99" };
	uint64_t r = rnd64(NULL);
	if (r % 3 == 0) {
		const char *s = pool[(r >> 8) % (sizeof(pool) / sizeof(pool[0]))];
		*mlen = strlen(s);
		memcpy(m, s, *mlen);
	} else {
		*mlen = 1 + (r >> 8) % 3;
		for (size_t i = 0; i < *mlen; i++)
			m[i] = (char)('a' + (r >> (16 + 4 * i)) % 6);
	}
}

static double rand_score(void)
{
	static const double pool[] = { 0, 1, -1, 2.5, 1e9, -INFINITY, INFINITY, 0.1, 3 };
	uint64_t r = rnd64(NULL);
	if (r % 4 == 0)
		return (double)(int)((r >> 8) % 7) - 3;
	return pool[(r >> 8) % (sizeof(pool) / sizeof(pool[0]))];
}

static void rand_range(struct obj_zset_range *r)
{
	r->min = rand_score();
	r->max = rand_score();
	r->minex = rnd64(NULL) & 1;
	r->maxex = rnd64(NULL) & 1;
}

static void rand_lex(struct obj_zset_lex *r, char *a, char *b)
{
	size_t al, bl;
	rand_member(a, &al);
	rand_member(b, &bl);
	uint64_t x = rnd64(NULL);
	r->min = a;
	r->minlen = al;
	r->max = b;
	r->maxlen = bl;
	r->mininf = x % 8 == 0 ? -1 : (x % 8 == 1 ? 1 : 0);
	r->maxinf = (x >> 3) % 8 == 0 ? 1 : ((x >> 3) % 8 == 1 ? -1 : 0);
	r->minex = r->mininf ? true : (x >> 6) & 1;
	r->maxex = r->maxinf ? true : (x >> 7) & 1;
}

static void expect_iter(struct obj_zset_iter *it, const struct model *md, const size_t *idx,
			size_t n, const char *what)
{
	struct obj_zset_elem el;
	for (size_t k = 0; k < n; k++) {
		cr_assert(obj_zset_iter_next(it, &el), "%s: ended at %zu of %zu", what, k, n);
		const struct mel *e = &md->v[idx[k]];
		cr_assert(el.mlen == e->mlen && memcmp(el.m, e->m, e->mlen) == 0 &&
			  el.score == e->score, "%s: element %zu differs", what, k);
	}
	cr_assert_not(obj_zset_iter_next(it, &el), "%s: too many elements", what);
}

/* Every read API against the model. */
static void verify(struct zs *z, const struct model *md, size_t *idx)
{
	struct obj_zset_iter it;
	size_t n = md->n;

	cr_assert_eq(obj_zset_check(z->p, z->enc), 0);
	cr_assert_eq(obj_zset_len(z->p, z->enc), n);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	obj_zset_iter_rank(&it, z->p, z->enc, 0, false);
	expect_iter(&it, md, idx, n, "forward");
	for (size_t i = 0; i < n; i++)
		idx[i] = n - 1 - i;
	obj_zset_iter_rank(&it, z->p, z->enc, 0, true);
	expect_iter(&it, md, idx, n, "reverse");
	for (size_t i = 0; i < n; i++) {
		double d;
		const struct mel *e = &md->v[i];
		cr_assert_eq(obj_zset_score(z->p, z->enc, e->m, e->mlen, &d), 0);
		cr_assert(d == e->score);
		cr_assert_eq(obj_zset_rank(z->p, z->enc, e->m, e->mlen, false, NULL), (long)i);
		cr_assert_eq(obj_zset_rank(z->p, z->enc, e->m, e->mlen, true, &d), (long)(n - 1 - i));
		struct obj_zset_elem el;
		cr_assert(obj_zset_at(z->p, z->enc, i, false, &el));
		cr_assert(el.mlen == e->mlen && memcmp(el.m, e->m, e->mlen) == 0);
		cr_assert(obj_zset_at(z->p, z->enc, n - 1 - i, true, &el));
		cr_assert(el.mlen == e->mlen && memcmp(el.m, e->m, e->mlen) == 0);
	}
	struct obj_zset_elem el;
	cr_assert_not(obj_zset_at(z->p, z->enc, n, false, &el));
	/* A rank start in the middle. */
	if (n) {
		size_t s = rnd64(NULL) % n;
		for (size_t i = s; i < n; i++)
			idx[i - s] = i;
		obj_zset_iter_rank(&it, z->p, z->enc, s, false);
		expect_iter(&it, md, idx, n - s, "rank start");
	}
	/* Score and lex ranges, both ways, and counts. */
	for (int t = 0; t < 4; t++) {
		struct obj_zset_range r;
		rand_range(&r);
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (in_range(&md->v[i], &r))
				idx[k++] = i;
		cr_assert_eq(obj_zset_count_range(z->p, z->enc, &r), k);
		obj_zset_iter_range(&it, z->p, z->enc, &r, false);
		expect_iter(&it, md, idx, k, "score range");
		for (size_t i = 0; i < k / 2; i++) {
			size_t tmp = idx[i];
			idx[i] = idx[k - 1 - i];
			idx[k - 1 - i] = tmp;
		}
		obj_zset_iter_range(&it, z->p, z->enc, &r, true);
		expect_iter(&it, md, idx, k, "score range rev");

		struct obj_zset_lex lx;
		char a[16], b[16];
		rand_lex(&lx, a, b);
		k = 0;
		for (size_t i = 0; i < n; i++)
			if (in_lex(&md->v[i], &lx))
				idx[k++] = i;
		/* Lex ranges assume equal scores; the model and the zset both
		 * walk in (score, member) order, so compare only when they are
		 * contiguous, as Redis would give. */
		bool contiguous = true;
		for (size_t i = 1; i < k; i++)
			if (idx[i] != idx[i - 1] + 1)
				contiguous = false;
		bool all_equal = true;
		for (size_t i = 1; i < n; i++)
			if (md->v[i].score != md->v[0].score)
				all_equal = false;
		if (all_equal) {
			cr_assert(contiguous);
			cr_assert_eq(obj_zset_count_lex(z->p, z->enc, &lx), k);
			obj_zset_iter_lex(&it, z->p, z->enc, &lx, false);
			expect_iter(&it, md, idx, k, "lex range");
			for (size_t i = 0; i < k / 2; i++) {
				size_t tmp = idx[i];
				idx[i] = idx[k - 1 - i];
				idx[k - 1 - i] = tmp;
			}
			obj_zset_iter_lex(&it, z->p, z->enc, &lx, true);
			expect_iter(&it, md, idx, k, "lex range rev");
		}
	}
}

static void model_run(const struct obj_zset_lim *lim, bool equal_scores, int steps)
{
	struct zs z;
	struct model md = { .v = calloc(4096, sizeof(struct mel)) };
	size_t *idx = calloc(4096, sizeof(size_t));

	zs_init(&z, lim);
	for (int step = 0; step < steps; step++) {
		uint64_t op = rnd64(NULL) % 100;
		char m[16];
		size_t mlen;
		rand_member(m, &mlen);
		double score = equal_scores ? 0 : rand_score();
		long at = model_find(&md, m, mlen);
		if (op < 50) {
			unsigned flags = 0;
			uint64_t f = rnd64(NULL) % 8;
			if (f == 1)
				flags = OBJ_ZSET_NX;
			else if (f == 2)
				flags = OBJ_ZSET_XX;
			else if (f == 3)
				flags = OBJ_ZSET_GT;
			else if (f == 4)
				flags = OBJ_ZSET_LT;
			else if (f == 5 && !equal_scores)
				flags = OBJ_ZSET_INCR;
			unsigned out;
			double ns;
			int rc = obj_zset_add(&z.p, &z.enc, m, mlen, score, flags, &out, &ns, lim);
			double cur = at >= 0 ? md.v[at].score : 0;
			double want = (flags & OBJ_ZSET_INCR) && at >= 0 ? cur + score : score;
			if (isnan(want)) {
				cr_assert_eq(rc, -1);
				cr_assert_eq(out, OBJ_ZSET_OUT_NAN);
			} else if (at < 0) {
				cr_assert_eq(rc, 0);
				if (flags & OBJ_ZSET_XX) {
					cr_assert_eq(out, OBJ_ZSET_OUT_NOP);
				} else {
					cr_assert_eq(out, OBJ_ZSET_OUT_ADDED);
					model_set(&md, m, mlen, want);
				}
			} else {
				bool nop = (flags & OBJ_ZSET_NX) || ((flags & OBJ_ZSET_GT) && want <= cur) ||
					   ((flags & OBJ_ZSET_LT) && want >= cur);
				if (nop) {
					cr_assert_eq(out, OBJ_ZSET_OUT_NOP);
				} else {
					cr_assert_eq(out, want != cur ? OBJ_ZSET_OUT_UPDATED : 0u);
					cr_assert(ns == want);
					model_set(&md, m, mlen, want);
				}
			}
		} else if (op < 70) {
			cr_assert_eq(obj_zset_del(&z.p, z.enc, m, mlen), at >= 0 ? 1 : 0);
			if (at >= 0)
				model_del(&md, (size_t)at);
		} else if (op < 75 && md.n) {
			size_t s = rnd64(NULL) % md.n, e = s + rnd64(NULL) % 4;
			if (e >= md.n)
				e = md.n - 1;
			cr_assert_eq(obj_zset_del_ranks(&z.p, z.enc, s, e), e - s + 1);
			for (size_t k = s; k <= e; k++)
				model_del(&md, s);
		} else if (op < 78) {
			struct obj_zset_range r;
			rand_range(&r);
			size_t k = 0;
			for (size_t i = 0; i < md.n;)
				if (in_range(&md.v[i], &r)) {
					model_del(&md, i);
					k++;
				} else {
					i++;
				}
			cr_assert_eq(obj_zset_del_range(&z.p, z.enc, &r), k);
		} else if (op < 80 && equal_scores) {
			struct obj_zset_lex lx;
			char a[16], b[16];
			rand_lex(&lx, a, b);
			size_t k = 0;
			for (size_t i = 0; i < md.n;)
				if (in_lex(&md.v[i], &lx)) {
					model_del(&md, i);
					k++;
				} else {
					i++;
				}
			cr_assert_eq(obj_zset_del_lex(&z.p, z.enc, &lx), k);
		} else if (op < 82) {
			/* Encoding round trip keeps the contents. */
			uint8_t other = z.enc == KS_ENC_LISTPACK ? KS_ENC_SKIPLIST : KS_ENC_LISTPACK;
			obj_zset_convert(&z.p, &z.enc, other);
			cr_assert_eq(z.enc, other);
			if (md.n <= lim->max_entries || rnd64(NULL) % 2)
				obj_zset_shrink(&z.p, &z.enc, lim);
			if (z.enc == KS_ENC_LISTPACK && md.n > lim->max_entries)
				obj_zset_convert(&z.p, &z.enc, KS_ENC_SKIPLIST);
		} else {
			/* Grow: several new members with distinct scores. */
			for (int k = 0; k < 8 && md.n < 4000; k++) {
				char mm[16];
				int len = snprintf(mm, sizeof(mm), "g%llu",
						   (unsigned long long)(rnd64(NULL) % 100000));
				if (model_find(&md, mm, (size_t)len) >= 0)
					continue;
				double sc = equal_scores ? 0 : (double)(rnd64(NULL) % 50);
				unsigned out;
				cr_assert_eq(obj_zset_add(&z.p, &z.enc, mm, (size_t)len, sc, 0, &out, NULL,
							  lim), 0);
				cr_assert_eq(out, OBJ_ZSET_OUT_ADDED);
				model_set(&md, mm, (size_t)len, sc);
			}
		}
		if (lim->max_entries > 0 && md.n > lim->max_entries)
			cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
		verify(&z, &md, idx);
	}
	obj_zset_free(z.p, z.enc);
	free(md.v);
	free(idx);
}

ZS_TEST(model_listpack) { rng_state = 1; model_run(&lim_lp, false, 400); }
ZS_TEST(model_skiplist) { rng_state = 2; model_run(&lim_sl, false, 600); }
ZS_TEST(model_converting) { rng_state = 3; model_run(&lim_small, false, 800); }
ZS_TEST(model_lex_listpack) { rng_state = 4; model_run(&lim_lp, true, 300); }
ZS_TEST(model_lex_skiplist) { rng_state = 5; model_run(&lim_sl, true, 300); }
ZS_TEST(model_lex_converting) { rng_state = 6; model_run(&lim_small, true, 500); }

/* ---------------------------------------------------- random and scan */

struct pick_acc {
	unsigned long n;
	unsigned hits[64];
};

static void pick_cb(void *arg, const struct obj_zset_elem *el)
{
	struct pick_acc *a = arg;
	int i = atoi(el->m + 1);
	cr_assert(i >= 0 && i < 64);
	cr_assert(el->score == (double)i);
	a->hits[i]++;
	a->n++;
}

ZS_TEST(random_pick)
{
	for (size_t li = 0; li < 2; li++) {
		struct zs z;
		zs_init(&z, all_lims[li]);
		for (int i = 0; i < 40; i++) {
			char m[8];
			snprintf(m, sizeof(m), "m%d", i);
			zs_add(&z, m, i, 0, NULL);
		}
		static const struct {
			unsigned long count;
			bool unique;
			unsigned long want;
		} cases[] = { { 5, true, 5 }, { 20, true, 20 }, { 40, true, 40 }, { 100, true, 40 },
			      { 100, false, 100 }, { 0, true, 0 }, { 1, false, 1 } };
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			struct pick_acc acc = { 0 };
			obj_zset_random_pick(z.p, z.enc, cases[c].count, cases[c].unique, rnd64, NULL,
					     pick_cb, &acc);
			cr_assert_eq(acc.n, cases[c].want, "case %zu", c);
			if (cases[c].unique)
				for (int i = 0; i < 40; i++)
					cr_assert_leq(acc.hits[i], 1, "case %zu", c);
		}
		/* Non-unique picks reach every element eventually. */
		struct pick_acc acc = { 0 };
		obj_zset_random_pick(z.p, z.enc, 4000, false, rnd64, NULL, pick_cb, &acc);
		for (int i = 0; i < 40; i++)
			cr_assert_gt(acc.hits[i], 0);
		obj_zset_free(z.p, z.enc);
	}
}

ZS_TEST(scan_returns_every_member)
{
	for (size_t li = 0; li < 2; li++) {
		struct zs z;
		zs_init(&z, all_lims[li]);
		for (int i = 0; i < 64; i++) {
			char m[8];
			snprintf(m, sizeof(m), "m%d", i);
			zs_add(&z, m, i, 0, NULL);
		}
		struct pick_acc acc = { 0 };
		uint64_t cur = 0;
		int rounds = 0;
		do {
			cur = obj_zset_scan(z.p, z.enc, cur, 5, pick_cb, &acc);
			rounds++;
		} while (cur && rounds < 1000);
		cr_assert_eq(cur, 0);
		for (int i = 0; i < 64; i++)
			cr_assert_geq(acc.hits[i], 1);
		if (li == 0)
			cr_assert_eq(rounds, 1);   /* a listpack comes back whole */
		obj_zset_free(z.p, z.enc);
	}
}

ZS_TEST(large_skiplist_ranks)
{
	struct zs z;
	zs_init(&z, &lim_default);
	const int n = 50000;
	for (int i = 0; i < n; i++) {
		char m[16];
		/* Inserted out of order; score i/2 makes pairs of equal scores. */
		int k = (int)(((long long)i * 7919) % n);
		snprintf(m, sizeof(m), "m%06d", k);
		unsigned out;
		cr_assert_eq(obj_zset_add(&z.p, &z.enc, m, strlen(m), (double)(k / 2), 0, &out, NULL,
					  &lim_default), 0);
	}
	cr_assert_eq(z.enc, KS_ENC_SKIPLIST);
	cr_assert_eq(obj_zset_check(z.p, z.enc), 0);
	for (int k = 0; k < n; k += 997) {
		char m[16];
		snprintf(m, sizeof(m), "m%06d", k);
		cr_assert_eq(obj_zset_rank(z.p, z.enc, m, strlen(m), false, NULL), k);
		struct obj_zset_elem el;
		cr_assert(obj_zset_at(z.p, z.enc, (unsigned long)k, false, &el));
		cr_assert_eq(memcmp(el.m, m, el.mlen), 0);
	}
	struct obj_zset_range r = { .min = 100, .max = 200, .minex = true };
	cr_assert_eq(obj_zset_count_range(z.p, z.enc, &r), 200);
	cr_assert_eq(obj_zset_del_range(&z.p, z.enc, &r), 200);
	cr_assert_eq(obj_zset_del_ranks(&z.p, z.enc, 0, 99), 100);
	cr_assert_eq(obj_zset_len(z.p, z.enc), (unsigned long)n - 300);
	cr_assert_eq(obj_zset_check(z.p, z.enc), 0);
	obj_zset_free(z.p, z.enc);
}
