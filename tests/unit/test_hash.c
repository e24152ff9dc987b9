/* Unit tests for shards/obj_hash.c: the hash value type in both encodings
 * (listpack, hashtable), conversion at the thresholds, iteration, scan,
 * random picks, cloning, listpack validation, the ks_type_ops hooks, and a
 * randomized model test comparing every operation with a plain array.
 *
 * check_model() compares a hash with the model completely (length, every
 * field's value through get and through iteration, no extra fields), and
 * the tests call it after the operations they exercise. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"
#include "shards/obj_hash.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HASH_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define HASH_LEAK_CHECK() true
#endif

static void setup(void)
{
	ks_set_seed(0x5eed);
	ks_register_type(KS_HASH, &obj_hash_ops);
}

TestSuite(hash, .init = setup);

/* A test followed, under AddressSanitizer, by a leak check that fails the
 * test (a failure in .fini would only be a warning). */
#define HASH_TEST(name)                                                   \
	static void name##_body(void);                                    \
	Test(hash, name)                                                  \
	{                                                                 \
		name##_body();                                            \
		cr_assert(HASH_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
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

/* A hash under test: the (ptr, enc) pair a ks_entry would hold. */
struct h {
	void *ptr;
	uint8_t enc;
};

static struct h h_new(void)
{
	struct h h;

	h.ptr = obj_hash_new(&h.enc);
	cr_assert_not_null(h.ptr);
	cr_assert_eq(h.enc, KS_ENC_LISTPACK);
	return h;
}

static int h_set(struct h *h, const char *f, const char *v, const struct obj_hash_lim *lim)
{
	return obj_hash_set(&h->ptr, &h->enc, f, strlen(f), v, strlen(v), lim);
}

static int h_del(struct h *h, const char *f)
{
	return obj_hash_del(&h->ptr, h->enc, f, strlen(f));
}

/* Assert field f holds exactly v[0..vlen) (v NULL: absent). */
static void h_expect(const struct h *h, const void *f, size_t flen, const void *v, size_t vlen)
{
	struct obj_hash_str s;
	char buf[OBJ_HASH_NUMBUF];
	bool found = obj_hash_get(h->ptr, h->enc, f, flen, &s, buf);

	cr_assert_eq(found, v != NULL, "field %.*s: found=%d", (int)flen, (const char *)f, found);
	cr_assert_eq(obj_hash_exists(h->ptr, h->enc, f, flen), v != NULL);
	if (v) {
		cr_assert_eq(s.len, vlen, "field %.*s: len %zu want %zu", (int)flen,
			     (const char *)f, s.len, vlen);
		cr_assert(memcmp(s.p, v, vlen) == 0, "field %.*s: wrong value", (int)flen,
			  (const char *)f);
	}
}

static void h_expect_s(const struct h *h, const char *f, const char *v)
{
	h_expect(h, f, strlen(f), v, v ? strlen(v) : 0);
}

static const struct obj_hash_lim lim_default = { .max_entries = 128, .max_value = 64 };

/* ------------------------------------------------------------ the model */

#define MODEL_MAX 512

struct model {
	size_t n;
	char *f[MODEL_MAX], *v[MODEL_MAX];
	size_t flen[MODEL_MAX], vlen[MODEL_MAX];
};

static long model_find(const struct model *m, const char *f, size_t flen)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->flen[i] == flen && memcmp(m->f[i], f, flen) == 0)
			return (long)i;
	return -1;
}

static char *dup_bytes(const void *p, size_t n)
{
	char *c = malloc(n + 1);

	cr_assert_not_null(c);
	memcpy(c, p, n);
	c[n] = 0;
	return c;
}

static int model_set(struct model *m, const char *f, size_t flen, const char *v, size_t vlen)
{
	long i = model_find(m, f, flen);

	if (i >= 0) {
		free(m->v[i]);
		m->v[i] = dup_bytes(v, vlen);
		m->vlen[i] = vlen;
		return 0;
	}
	cr_assert_lt(m->n, MODEL_MAX);
	m->f[m->n] = dup_bytes(f, flen);
	m->flen[m->n] = flen;
	m->v[m->n] = dup_bytes(v, vlen);
	m->vlen[m->n] = vlen;
	m->n++;
	return 1;
}

static int model_del(struct model *m, const char *f, size_t flen)
{
	long i = model_find(m, f, flen);

	if (i < 0)
		return 0;
	free(m->f[i]);
	free(m->v[i]);
	m->n--;
	m->f[i] = m->f[m->n];
	m->flen[i] = m->flen[m->n];
	m->v[i] = m->v[m->n];
	m->vlen[i] = m->vlen[m->n];
	return 1;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i]);
		free(m->v[i]);
	}
	m->n = 0;
}

static void check_model(const struct h *h, const struct model *m)
{
	struct obj_hash_iter it;
	struct obj_hash_str f, v;
	bool seen[MODEL_MAX] = { false };
	size_t n = 0;

	cr_assert_eq(obj_hash_len(h->ptr, h->enc), m->n, "len %lu, model %zu",
		     obj_hash_len(h->ptr, h->enc), m->n);
	for (size_t i = 0; i < m->n; i++)
		h_expect(h, m->f[i], m->flen[i], m->v[i], m->vlen[i]);
	obj_hash_iter_init(&it, h->ptr, h->enc);
	while (obj_hash_iter_next(&it, &f, &v)) {
		long i = model_find(m, f.p, f.len);

		cr_assert_geq(i, 0, "iteration returned unknown field %.*s", (int)f.len, f.p);
		cr_assert(!seen[i], "iteration returned %.*s twice", (int)f.len, f.p);
		seen[i] = true;
		cr_assert_eq(v.len, m->vlen[i]);
		cr_assert(memcmp(v.p, m->v[i], v.len) == 0);
		n++;
	}
	cr_assert_eq(n, m->n);
}

/* ------------------------------------------------------- basic, per enc */

/* Both encodings run the same scenario: the hashtable one starts with
 * max_entries 0 so the first field converts. */
struct enc_case {
	const char *name;
	struct obj_hash_lim lim;
	uint8_t enc_after_first;
};

static const struct enc_case enc_cases[] = {
	{ "listpack", { 128, 64 }, KS_ENC_LISTPACK },
	{ "hashtable", { 0, 64 }, KS_ENC_HASHTABLE },
};

HASH_TEST(basic_ops_both_encodings)
{
	for (size_t c = 0; c < sizeof(enc_cases) / sizeof(enc_cases[0]); c++) {
		const struct enc_case *ec = &enc_cases[c];
		struct h h = h_new();

		cr_assert_eq(obj_hash_len(h.ptr, h.enc), 0);
		h_expect_s(&h, "a", NULL);
		cr_assert_eq(h_del(&h, "a"), 0, "%s: delete from empty", ec->name);

		cr_assert_eq(h_set(&h, "a", "1", &ec->lim), 1, "%s", ec->name);
		cr_assert_eq(h.enc, ec->enc_after_first, "%s: enc %d", ec->name, h.enc);
		cr_assert_eq(h_set(&h, "b", "hello", &ec->lim), 1);
		cr_assert_eq(h_set(&h, "c", "", &ec->lim), 1);
		cr_assert_eq(h_set(&h, "", "empty field", &ec->lim), 1);
		cr_assert_eq(obj_hash_len(h.ptr, h.enc), 4);
		h_expect_s(&h, "a", "1");
		h_expect_s(&h, "b", "hello");
		h_expect_s(&h, "c", "");
		h_expect_s(&h, "", "empty field");
		h_expect_s(&h, "d", NULL);

		/* Overwrite: same length, longer, shorter, int <-> string. */
		cr_assert_eq(h_set(&h, "a", "2", &ec->lim), 0);
		h_expect_s(&h, "a", "2");
		cr_assert_eq(h_set(&h, "a", "a much longer value", &ec->lim), 0);
		h_expect_s(&h, "a", "a much longer value");
		cr_assert_eq(h_set(&h, "a", "-17", &ec->lim), 0);
		h_expect_s(&h, "a", "-17");
		cr_assert_eq(obj_hash_len(h.ptr, h.enc), 4);

		cr_assert_eq(h_del(&h, "b"), 1);
		cr_assert_eq(h_del(&h, "b"), 0);
		h_expect_s(&h, "b", NULL);
		h_expect_s(&h, "a", "-17");
		cr_assert_eq(obj_hash_len(h.ptr, h.enc), 3);
		cr_assert_eq(h_del(&h, "a"), 1);
		cr_assert_eq(h_del(&h, "c"), 1);
		cr_assert_eq(h_del(&h, ""), 1);
		cr_assert_eq(obj_hash_len(h.ptr, h.enc), 0);
		cr_assert_eq(h.enc, ec->enc_after_first, "never converts back");
		obj_hash_free(h.ptr, h.enc);
	}
}

/* Numbers are stored as listpack integers: they must read back as the
 * same text, and non-canonical numbers must stay strings. */
HASH_TEST(numeric_values_round_trip)
{
	static const char *const vals[] = {
		"0", "-1", "127", "128", "-4096", "4095", "32767", "-32768", "8388607",
		"2147483647", "-2147483648", "9223372036854775807", "-9223372036854775808",
		"007", "-0", "+1", " 1", "1 ", "9223372036854775808", "1e3", "0x10",
	};
	struct h h = h_new();
	char f[16];

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(f, sizeof(f), "f%zu", i);
		cr_assert_eq(h_set(&h, f, vals[i], &lim_default), 1);
		/* numeric field names too */
		cr_assert_eq(h_set(&h, vals[i], f, &lim_default), 1);
	}
	cr_assert_eq(h.enc, KS_ENC_LISTPACK);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(f, sizeof(f), "f%zu", i);
		h_expect_s(&h, f, vals[i]);
		h_expect_s(&h, vals[i], f);
	}
	obj_hash_free(h.ptr, h.enc);
}

/* Binary-safe fields and values, including NUL bytes and lengths around
 * the value blob's varint boundaries (127/128, 16383/16384). */
HASH_TEST(binary_and_long_values)
{
	static const size_t lens[] = { 0, 1, 63, 64, 127, 128, 129, 16383, 16384, 70000 };
	struct obj_hash_lim lim = { 1000, 1u << 20 };
	struct h lp = h_new(), ht = h_new();
	struct obj_hash_lim lim_ht = { 0, 0 };
	char *buf = malloc(70001);

	cr_assert_not_null(buf);
	for (size_t i = 0; i < 70001; i++)
		buf[i] = (char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char f[8] = { 'k', '\0', (char)i, 'x' };

		cr_assert_eq(obj_hash_set(&lp.ptr, &lp.enc, f, 4, buf, lens[i], &lim), 1);
		cr_assert_eq(obj_hash_set(&ht.ptr, &ht.enc, f, 4, buf, lens[i], &lim_ht), 1);
	}
	cr_assert_eq(lp.enc, KS_ENC_LISTPACK);
	cr_assert_eq(ht.enc, KS_ENC_HASHTABLE);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char f[8] = { 'k', '\0', (char)i, 'x' };

		h_expect(&lp, f, 4, buf, lens[i]);
		h_expect(&ht, f, 4, buf, lens[i]);
		/* a prefix of the field is another field */
		h_expect(&lp, f, 3, NULL, 0);
		h_expect(&ht, f, 3, NULL, 0);
	}
	/* Rewrite in place (same length) and with a different header size. */
	{
		char f[8] = { 'k', '\0', 5, 'x' };

		cr_assert_eq(obj_hash_set(&ht.ptr, &ht.enc, f, 4, buf + 1, 128, &lim_ht), 0);
		h_expect(&ht, f, 4, buf + 1, 128);
		cr_assert_eq(obj_hash_set(&ht.ptr, &ht.enc, f, 4, buf, 5, &lim_ht), 0);
		h_expect(&ht, f, 4, buf, 5);
	}
	free(buf);
	obj_hash_free(lp.ptr, lp.enc);
	obj_hash_free(ht.ptr, ht.enc);
}

/* ------------------------------------------------------------ conversion */

struct conv_case {
	const char *name;
	struct obj_hash_lim lim;
	/* fields f0..f(n-1) set to value `val` (NULL: "v"); then one more set */
	int n;
	const char *last_f, *last_v;
	uint8_t enc_before, enc_after;
};

static const char long65[] =
	"01234567890123456789012345678901234567890123456789012345678901234";

static const struct conv_case conv_cases[] = {
	{ "entries: at the limit stays", { 4, 64 }, 3, "f3", "v", KS_ENC_LISTPACK, KS_ENC_LISTPACK },
	{ "entries: one over converts", { 4, 64 }, 4, "f4", "v", KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
	{ "entries: overwrite at limit stays", { 4, 64 }, 4, "f0", "w", KS_ENC_LISTPACK, KS_ENC_LISTPACK },
	{ "value: 64 bytes stays", { 128, 64 }, 2, "x", long65 + 1, KS_ENC_LISTPACK, KS_ENC_LISTPACK },
	{ "value: 65 bytes converts", { 128, 64 }, 2, "x", long65, KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
	{ "value: overwrite with long converts", { 128, 64 }, 2, "f1", long65, KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
	{ "field: 65 bytes converts", { 128, 64 }, 2, long65, "v", KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
	{ "value limit 0: empty value stays", { 128, 0 }, 0, "", "", KS_ENC_LISTPACK, KS_ENC_LISTPACK },
	{ "value limit 0: any byte converts", { 128, 0 }, 0, "", "1", KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
	{ "entries 0: first field converts", { 0, 64 }, 0, "a", "b", KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
};

HASH_TEST(conversion_thresholds)
{
	for (size_t c = 0; c < sizeof(conv_cases) / sizeof(conv_cases[0]); c++) {
		const struct conv_case *cc = &conv_cases[c];
		struct h h = h_new();
		struct model m = { 0 };
		char f[16];

		for (int i = 0; i < cc->n; i++) {
			snprintf(f, sizeof(f), "f%d", i);
			h_set(&h, f, "v", &cc->lim);
			model_set(&m, f, strlen(f), "v", 1);
		}
		cr_assert_eq(h.enc, cc->enc_before, "%s: before", cc->name);
		h_set(&h, cc->last_f, cc->last_v, &cc->lim);
		model_set(&m, cc->last_f, strlen(cc->last_f), cc->last_v, strlen(cc->last_v));
		cr_assert_eq(h.enc, cc->enc_after, "%s: enc %d, want %d", cc->name, h.enc,
			     cc->enc_after);
		check_model(&h, &m);
		model_free(&m);
		obj_hash_free(h.ptr, h.enc);
	}
}

HASH_TEST(never_converts_back)
{
	struct obj_hash_lim lim = { 2, 64 };
	struct h h = h_new();

	h_set(&h, "a", "1", &lim);
	h_set(&h, "b", "2", &lim);
	h_set(&h, "c", "3", &lim);
	cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
	h_del(&h, "a");
	h_del(&h, "b");
	cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
	h_expect_s(&h, "c", "3");
	obj_hash_free(h.ptr, h.enc);
}

HASH_TEST(explicit_convert_and_new_sized)
{
	struct obj_hash_lim lim = { 4, 64 };
	struct h h = h_new();
	struct model m = { 0 };
	uint8_t enc;
	void *p;

	for (int i = 0; i < 4; i++) {
		char f[8], v[8];

		snprintf(f, sizeof(f), "f%d", i);
		snprintf(v, sizeof(v), "%d", i * 1000);
		h_set(&h, f, v, &lim);
		model_set(&m, f, strlen(f), v, strlen(v));
	}
	cr_assert_eq(h.enc, KS_ENC_LISTPACK);
	obj_hash_convert(&h.ptr, &h.enc);
	cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
	check_model(&h, &m);
	obj_hash_convert(&h.ptr, &h.enc);   /* no-op on a hashtable */
	cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
	check_model(&h, &m);
	model_free(&m);
	obj_hash_free(h.ptr, h.enc);

	p = obj_hash_new_sized(4, &lim, &enc);
	cr_assert_eq(enc, KS_ENC_LISTPACK);
	obj_hash_free(p, enc);
	p = obj_hash_new_sized(5, &lim, &enc);
	cr_assert_eq(enc, KS_ENC_HASHTABLE);
	cr_assert_eq(obj_hash_len(p, enc), 0);
	obj_hash_free(p, enc);
	obj_hash_free(NULL, KS_ENC_LISTPACK);   /* allowed, as free(NULL) */
}

/* -------------------------------------------------- clone, mem, ks hooks */

HASH_TEST(clone_is_deep_and_mem_counts)
{
	for (size_t c = 0; c < sizeof(enc_cases) / sizeof(enc_cases[0]); c++) {
		struct h h = h_new(), cl;
		struct model m = { 0 };
		size_t mem0, mem1;

		h_set(&h, "seed", "x", &enc_cases[c].lim);
		model_set(&m, "seed", 4, "x", 1);
		mem0 = obj_hash_mem(h.ptr, h.enc);
		cr_assert_gt(mem0, 0);
		for (int i = 0; i < 50; i++) {
			char f[16], v[32];

			snprintf(f, sizeof(f), "field:%d", i);
			snprintf(v, sizeof(v), "value-%d", i);
			h_set(&h, f, v, &(struct obj_hash_lim){ 1000, 64 });
			model_set(&m, f, strlen(f), v, strlen(v));
		}
		mem1 = obj_hash_mem(h.ptr, h.enc);
		cr_assert_gt(mem1, mem0 + 50 * 10, "mem %zu -> %zu", mem0, mem1);

		cl.enc = h.enc;
		cl.ptr = obj_hash_clone(h.ptr, h.enc);
		cr_assert_neq(cl.ptr, h.ptr);
		check_model(&cl, &m);
		cr_assert_eq(obj_hash_mem(cl.ptr, cl.enc), mem1);
		/* changing the copy leaves the original alone */
		h_set(&cl, "seed", "changed", &enc_cases[c].lim);
		h_del(&cl, "field:0");
		check_model(&h, &m);
		obj_hash_free(cl.ptr, cl.enc);
		check_model(&h, &m);
		model_free(&m);
		obj_hash_free(h.ptr, h.enc);
	}
}

HASH_TEST(ks_entry_hooks)
{
	struct ks_space *ks = ks_space_new(1);
	struct ks_db *db = &ks->db[0];
	struct obj_hash_lim lim = { 2, 64 };
	uint8_t enc;
	void *p = obj_hash_new(&enc);
	struct ks_entry *e, *c;

	cr_assert_not_null(ks);
	obj_hash_set(&p, &enc, "a", 1, "1", 1, &lim);
	e = ks_set_obj(db, "h", 1, KS_HASH, enc, p, false);
	cr_assert_eq(e->enc, KS_ENC_LISTPACK);
	cr_assert_gt(ks_entry_mem(e), obj_hash_mem(e->v.ptr, e->enc));
	obj_hash_set(&e->v.ptr, &e->enc, "b", 1, "2", 1, &lim);
	obj_hash_set(&e->v.ptr, &e->enc, "c", 1, "3", 1, &lim);
	cr_assert_eq(e->enc, KS_ENC_HASHTABLE);
	cr_assert_str_eq(ks_enc_name(e->enc), "hashtable");

	c = ks_entry_clone(e, "h2", 2);
	cr_assert_eq(c->enc, KS_ENC_HASHTABLE);
	cr_assert_neq(c->v.ptr, e->v.ptr);
	cr_assert_eq(obj_hash_len(c->v.ptr, c->enc), 3);
	ks_entry_free(c);
	/* replacing the value with a string frees the hash */
	ks_set_str(db, "h", 1, "s", 1, false);
	ks_space_free(ks);
}

/* ------------------------------------------------------ iteration, scan */

struct collect {
	struct model *m;
	bool seen[MODEL_MAX];
	size_t calls;
};

static void collect_cb(void *arg, const struct obj_hash_str *f, const struct obj_hash_str *v)
{
	struct collect *c = arg;
	long i = model_find(c->m, f->p, f->len);

	cr_assert_geq(i, 0, "unknown field %.*s", (int)f->len, f->p);
	cr_assert_eq(v->len, c->m->vlen[i]);
	cr_assert(memcmp(v->p, c->m->v[i], v->len) == 0);
	c->seen[i] = true;
	c->calls++;
}

HASH_TEST(scan_visits_everything)
{
	struct obj_hash_lim lim = { 8, 64 };
	struct h h = h_new();
	struct model m = { 0 };
	struct collect col = { .m = &m };
	uint64_t cur;
	int rounds = 0;

	for (int i = 0; i < 5; i++) {
		char f[16];

		snprintf(f, sizeof(f), "k%d", i);
		h_set(&h, f, f, &lim);
		model_set(&m, f, strlen(f), f, strlen(f));
	}
	/* listpack: everything in one call, cursor 0 */
	cr_assert_eq(obj_hash_scan(h.ptr, h.enc, 0, 1, collect_cb, &col), 0);
	cr_assert_eq(col.calls, 5);

	for (int i = 5; i < 300; i++) {
		char f[16];

		snprintf(f, sizeof(f), "k%d", i);
		h_set(&h, f, f, &lim);
		model_set(&m, f, strlen(f), f, strlen(f));
	}
	cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
	memset(&col, 0, sizeof(col));
	col.m = &m;
	cur = 0;
	do {
		cur = obj_hash_scan(h.ptr, h.enc, cur, 10, collect_cb, &col);
		rounds++;
		cr_assert_lt(rounds, 10000);
	} while (cur != 0);
	cr_assert_gt(rounds, 1, "a 300-field table with COUNT 10 takes several calls");
	for (size_t i = 0; i < m.n; i++)
		cr_assert(col.seen[i], "field %s never returned", m.f[i]);
	model_free(&m);
	obj_hash_free(h.ptr, h.enc);
}

/* --------------------------------------------------------------- random */

struct pick {
	struct model *m;
	unsigned hits[MODEL_MAX];
	size_t calls;
};

static void pick_cb(void *arg, const struct obj_hash_str *f, const struct obj_hash_str *v)
{
	struct pick *p = arg;
	long i = model_find(p->m, f->p, f->len);

	cr_assert_geq(i, 0);
	cr_assert_eq(v->len, p->m->vlen[i]);
	cr_assert(memcmp(v->p, p->m->v[i], v->len) == 0);
	p->hits[i]++;
	p->calls++;
}

/* Sizes chosen to hit every path: listpack; hashtable with count >= len,
 * count > len/3 (dense) and count <= len/3 (sparse). */
HASH_TEST(random_picks)
{
	static const struct {
		int nfields;
		unsigned long count;
	} cases[] = {
		{ 10, 1 }, { 10, 3 }, { 10, 9 }, { 10, 10 }, { 10, 25 },
		{ 300, 1 }, { 300, 50 }, { 300, 100 }, { 300, 101 }, { 300, 299 },
		{ 300, 300 }, { 300, 1000 },
	};
	struct obj_hash_lim lim = { 128, 64 };
	uint64_t seed = 42;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct h h = h_new();
		struct model m = { 0 };

		for (int i = 0; i < cases[c].nfields; i++) {
			char f[16], v[16];

			snprintf(f, sizeof(f), "f%d", i);
			snprintf(v, sizeof(v), "%d", i);
			h_set(&h, f, v, &lim);
			model_set(&m, f, strlen(f), v, strlen(v));
		}
		cr_assert_eq(h.enc, cases[c].nfields > 128 ? KS_ENC_HASHTABLE : KS_ENC_LISTPACK);

		/* unique: min(count, len) distinct fields */
		struct pick p = { .m = &m };
		unsigned long want = cases[c].count < m.n ? cases[c].count : m.n;

		obj_hash_random_pick(h.ptr, h.enc, cases[c].count, true, splitmix, &seed,
				     pick_cb, &p);
		cr_assert_eq(p.calls, want, "case %zu: %zu calls", c, p.calls);
		for (size_t i = 0; i < m.n; i++)
			cr_assert_leq(p.hits[i], 1, "case %zu: repeated field", c);

		/* with repeats: exactly count picks */
		memset(&p, 0, sizeof(p));
		p.m = &m;
		obj_hash_random_pick(h.ptr, h.enc, cases[c].count, false, splitmix, &seed,
				     pick_cb, &p);
		cr_assert_eq(p.calls, cases[c].count);

		/* single pick */
		for (int k = 0; k < 20; k++) {
			struct obj_hash_str f, v;
			char fb[OBJ_HASH_NUMBUF], vb[OBJ_HASH_NUMBUF];
			long i;

			obj_hash_random(h.ptr, h.enc, splitmix(&seed), &f, &v, fb, vb);
			i = model_find(&m, f.p, f.len);
			cr_assert_geq(i, 0);
			cr_assert_eq(v.len, m.vlen[i]);
			cr_assert(memcmp(v.p, m.v[i], v.len) == 0);
		}
		model_free(&m);
		obj_hash_free(h.ptr, h.enc);
	}
}

/* Every field must be reachable by the random picks (a broken sampler
 * that never returns the last field or the first one fails this). */
HASH_TEST(random_covers_all_fields)
{
	struct obj_hash_lim lims[] = { { 128, 64 }, { 0, 64 } };
	uint64_t seed = 7;

	for (size_t c = 0; c < 2; c++) {
		struct h h = h_new();
		struct model m = { 0 };
		struct pick p = { .m = &m };

		for (int i = 0; i < 16; i++) {
			char f[16];

			snprintf(f, sizeof(f), "f%d", i);
			h_set(&h, f, "v", &lims[c]);
			model_set(&m, f, strlen(f), "v", 1);
		}
		obj_hash_random_pick(h.ptr, h.enc, 2000, false, splitmix, &seed, pick_cb, &p);
		for (int k = 0; k < 200; k++)
			obj_hash_random_pick(h.ptr, h.enc, 3, true, splitmix, &seed, pick_cb, &p);
		for (size_t i = 0; i < m.n; i++)
			cr_assert_gt(p.hits[i], 10, "enc %zu: field %s picked %u times", c,
				     m.f[i], p.hits[i]);
		model_free(&m);
		obj_hash_free(h.ptr, h.enc);
	}
}

/* ------------------------------------------------------ lp validation */

HASH_TEST(lp_validation)
{
	unsigned char *lp = lp_new();

	cr_assert(obj_hash_lp_valid(lp, lp_bytes(lp)), "empty listpack is an empty hash");
	lp = lp_append(lp, "a", 1);
	cr_assert_not(obj_hash_lp_valid(lp, lp_bytes(lp)), "odd element count");
	lp = lp_append(lp, "1", 1);
	lp = lp_append(lp, "b", 1);
	lp = lp_append(lp, "a", 1);   /* a value may equal a field */
	cr_assert(obj_hash_lp_valid(lp, lp_bytes(lp)));
	lp = lp_append(lp, "a", 1);   /* field "a" again */
	lp = lp_append(lp, "2", 1);
	cr_assert_not(obj_hash_lp_valid(lp, lp_bytes(lp)), "duplicate field");
	cr_assert_not(obj_hash_lp_valid(lp, lp_bytes(lp) - 1), "truncated");
	lp_free(lp);

	/* integer-encoded fields count as their text */
	lp = lp_new();
	lp = lp_append(lp, "12", 2);
	lp = lp_append(lp, "x", 1);
	lp = lp_append_int(lp, 12);
	lp = lp_append(lp, "y", 1);
	cr_assert_not(obj_hash_lp_valid(lp, lp_bytes(lp)), "12 and int 12 are the same field");
	lp_free(lp);
}

/* ------------------------------------------------- randomized model test */

/* Random sets, overwrites and deletes against the model with small
 * thresholds so hashes cross into hashtable partway; values include
 * numbers, empty strings and over-limit lengths. Checks the whole hash
 * every few steps and the return value of every operation. */
HASH_TEST(random_model)
{
	static const struct obj_hash_lim lims[] = {
		{ 16, 16 }, { 64, 200 }, { 1, 1 }, { 1000, 1000 },
	};
	uint64_t seed = 0xfeedULL;
	char vbuf[300];

	for (size_t li = 0; li < sizeof(lims) / sizeof(lims[0]); li++) {
		for (int round = 0; round < 4; round++) {
			struct h h = h_new();
			struct model m = { 0 };
			bool was_ht = false;

			for (int step = 0; step < 600; step++) {
				uint64_t r = splitmix(&seed);
				char f[24];
				size_t flen, vlen;

				flen = (size_t)snprintf(f, sizeof(f), "%s%u",
							(r & 1) ? "f" : "", (unsigned)((r >> 8) % 80));
				switch ((r >> 4) % 4) {
				case 0:
					vlen = (size_t)snprintf(vbuf, sizeof(vbuf), "%lld",
								(long long)(r >> 20) - (1LL << 40));
					break;
				case 1:
					vlen = 0;
					break;
				default:
					vlen = (r >> 32) % 250;
					for (size_t i = 0; i < vlen; i++)
						vbuf[i] = (char)('a' + (r + i) % 26);
				}
				if ((r >> 40) % 3 == 0) {
					int want = model_del(&m, f, flen);

					cr_assert_eq(obj_hash_del(&h.ptr, h.enc, f, flen), want);
				} else {
					int want = model_set(&m, f, flen, vbuf, vlen);

					cr_assert_eq(obj_hash_set(&h.ptr, &h.enc, f, flen, vbuf, vlen,
								  &lims[li]), want);
				}
				if (was_ht)
					cr_assert_eq(h.enc, KS_ENC_HASHTABLE);
				was_ht = h.enc == KS_ENC_HASHTABLE;
				if (h.enc == KS_ENC_LISTPACK) {
					/* a listpack hash is within every threshold */
					cr_assert_leq(m.n, lims[li].max_entries);
					for (size_t i = 0; i < m.n; i++)
						cr_assert(m.flen[i] <= lims[li].max_value &&
							  m.vlen[i] <= lims[li].max_value);
				}
				if (step % 17 == 0)
					check_model(&h, &m);
			}
			check_model(&h, &m);
			model_free(&m);
			obj_hash_free(h.ptr, h.enc);
		}
	}
}
