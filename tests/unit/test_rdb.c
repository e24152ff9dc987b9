/* Unit tests for repl/ (rdb.h): CRC64 and LZF vectors; golden DUMP
 * payloads and a dump.rdb captured from redis-server 7.0.15, decoded and
 * re-encoded byte for byte; round trips of every type and encoding under
 * default and small thresholds; the legacy encodings (ziplist, zipmap,
 * quicklist v1, plain collections, text scores) built by hand from their
 * documented layouts; a table of corrupt inputs; truncation at every byte,
 * every single-bit flip and random mutations through rdb_fuzz_one (which
 * asserts that what decodes re-encodes to the same contents); the file
 * writer and the chunked reader.
 *
 * Values are compared through render(): a canonical text of the contents
 * (sets and hashes sorted, zsets in order with %.17g scores). */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repl/rdb.h"
#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/obj_hash.h"
#include "shards/obj_list.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define RDB_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define RDB_LEAK_CHECK() true
#endif

static struct ks_space *ks;
static struct ks_db *db;
static struct rdb_limits DEF, TINY;

static void setup(void)
{
	ks_set_seed(0x4db);
	ks_register_type(KS_LIST, &obj_list_ops);
	ks_register_type(KS_HASH, &obj_hash_ops);
	ks_register_type(KS_SET, &obj_set_ops);
	ks_register_type(KS_ZSET, &obj_zset_ops);
	ks = ks_space_new(4);
	cr_assert(ks);
	db = &ks->db[0];
	rdb_limits_default(&DEF);
	TINY = (struct rdb_limits){
		.list_fill = 3,
		.hash = { .max_entries = 2, .max_value = 4 },
		.set = { .max_intset = 3, .max_lp_entries = 3, .max_lp_value = 4 },
		.zset = { .max_entries = 2, .max_value = 4 },
	};
}

static void teardown(void)
{
	ks_space_free(ks);
	ks = NULL;
}

TestSuite(rdb, .init = setup, .fini = teardown);

#define RDB_TEST(name)                                                    \
	static void name##_body(void);                                    \
	Test(rdb, name)                                                   \
	{                                                                 \
		name##_body();                                            \
		cr_assert(RDB_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
	}                                                                 \
	static void name##_body(void)

/* str_raw: embstr */
static const uint8_t g_str_raw[] = {
	0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x00, 0x63, 0x72, 0xdf,
	0x76, 0x65, 0x34, 0x20, 0x0a,
};
/* str_int: int */
static const uint8_t g_str_int[] = {
	0x00, 0xc1, 0x39, 0x30, 0x0a, 0x00, 0x9d, 0x94, 0xea, 0x27, 0x93, 0xfc,
	0x08, 0xb9,
};
/* str_neg: int */
static const uint8_t g_str_neg[] = {
	0x00, 0xc0, 0xf9, 0x0a, 0x00, 0x5e, 0x26, 0xd1, 0x30, 0xd7, 0xa2, 0x42,
	0xab,
};
/* str_i32: int */
static const uint8_t g_str_i32[] = {
	0x00, 0xc2, 0x00, 0x6c, 0xca, 0x88, 0x0a, 0x00, 0x35, 0xff, 0xae, 0xbd,
	0x7f, 0x1d, 0x7a, 0x67,
};
/* str_bigint: int */
static const uint8_t g_str_bigint[] = {
	0x00, 0x0e, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30,
	0x31, 0x32, 0x33, 0x34, 0x0a, 0x00, 0xaf, 0xcb, 0x8c, 0x7b, 0x76, 0xa0,
	0x8b, 0x6a,
};
/* str_lzf: raw */
static const uint8_t g_str_lzf[] = {
	0x00, 0xc3, 0x09, 0x40, 0x64, 0x01, 0x61, 0x61, 0xe0, 0x57, 0x00, 0x01,
	0x61, 0x61, 0x0a, 0x00, 0xe8, 0xa3, 0xb5, 0x07, 0xb0, 0x6d, 0xf2, 0x71,
};
/* str_emb: embstr */
static const uint8_t g_str_emb[] = {
	0x00, 0x24, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
	0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76,
	0x77, 0x78, 0x79, 0x7a, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
	0x38, 0x39, 0x0a, 0x00, 0xc3, 0xd1, 0x8e, 0x5a, 0xec, 0x8d, 0x8f, 0x0d,
};
/* list_lp: quicklist */
static const uint8_t g_list_lp[] = {
	0x12, 0x01, 0x02, 0x20, 0x20, 0x00, 0x00, 0x00, 0x07, 0x00, 0x81, 0x61,
	0x02, 0x81, 0x62, 0x02, 0x01, 0x01, 0x02, 0x01, 0xde, 0xd4, 0x02, 0x85,
	0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x06, 0xf2, 0x70, 0x11, 0x01, 0x04, 0xff,
	0x0a, 0x00, 0x47, 0x01, 0xf1, 0x78, 0xf1, 0xfd, 0x1f, 0x5f,
};
/* hash_lp: listpack */
static const uint8_t g_hash_lp[] = {
	0x10, 0x1c, 0x1c, 0x00, 0x00, 0x00, 0x06, 0x00, 0x82, 0x66, 0x31, 0x03,
	0x82, 0x76, 0x31, 0x03, 0x82, 0x66, 0x32, 0x03, 0x02, 0x01, 0x82, 0x66,
	0x33, 0x03, 0xdf, 0x9c, 0x02, 0xff, 0x0a, 0x00, 0xf8, 0xb2, 0x5a, 0x5c,
	0xfc, 0xd0, 0x97, 0x67,
};
/* set_intset: intset */
static const uint8_t g_set_intset[] = {
	0x0b, 0x1c, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0xfb, 0xff,
	0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00,
	0x00, 0x00, 0xa0, 0x86, 0x01, 0x00, 0x0a, 0x00, 0xd3, 0x65, 0xf8, 0xd8,
	0xaf, 0x87, 0x52, 0xac,
};
/* set_intset64: intset */
static const uint8_t g_set_intset64[] = {
	0x0b, 0x18, 0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf2, 0x05, 0x2a, 0x01, 0x00,
	0x00, 0x00, 0x0a, 0x00, 0x54, 0xf5, 0xa2, 0x6a, 0xe7, 0x07, 0xb5, 0xfc,
};
/* zset_lp: listpack */
static const uint8_t g_zset_lp[] = {
	0x11, 0x22, 0x22, 0x00, 0x00, 0x00, 0x08, 0x00, 0x81, 0x63, 0x02, 0x84,
	0x2d, 0x69, 0x6e, 0x66, 0x05, 0x81, 0x61, 0x02, 0x01, 0x01, 0x81, 0x62,
	0x02, 0x83, 0x32, 0x2e, 0x35, 0x04, 0xc3, 0xe8, 0x02, 0x03, 0x01, 0xff,
	0x0a, 0x00, 0x2b, 0x41, 0x2a, 0xf4, 0xa9, 0xf1, 0xd3, 0xbf,
};
/* zset_skiplist: skiplist */
static const uint8_t g_zset_skiplist[] = {
	0x05, 0x05, 0xc3, 0x09, 0x40, 0x44, 0x01, 0x78, 0x78, 0xe0, 0x37, 0x00,
	0x01, 0x78, 0x78, 0x9c, 0x75, 0x00, 0x88, 0x3c, 0xe4, 0x37, 0x7e, 0x01,
	0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40, 0x01, 0x61, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x01, 0x64, 0x9a, 0x99, 0x99,
	0x99, 0x99, 0x99, 0xb9, 0x3f, 0x01, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0xf0, 0xff, 0x0a, 0x00, 0xa3, 0xa9, 0xc9, 0x50, 0xa9, 0x3c, 0x5d,
	0xd6,
};
/* hll_sparse: raw */
static const uint8_t g_hll_sparse[] = {
	0x00, 0x21, 0x48, 0x59, 0x4c, 0x4c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x5c, 0x7b, 0x80, 0x44, 0x76, 0x80,
	0x50, 0xb1, 0x84, 0x49, 0x8c, 0x80, 0x42, 0x6d, 0x80, 0x42, 0x5a, 0x0a,
	0x00, 0x47, 0x1e, 0xdb, 0xd9, 0xf0, 0x13, 0xd5, 0x9b,
};
/* set_ht: hashtable */
static const uint8_t g_set_ht[] = {
	0x02, 0x03, 0x01, 0x61, 0x01, 0x63, 0x01, 0x62, 0x0a, 0x00, 0x0d, 0x7e,
	0x8a, 0x01, 0x4c, 0xfe, 0x32, 0x6c,
};
/* hash_ht: hashtable */
static const uint8_t g_hash_ht[] = {
	0x04, 0x02, 0x02, 0x66, 0x31, 0x02, 0x76, 0x31, 0x09, 0x6c, 0x6f, 0x6e,
	0x67, 0x66, 0x69, 0x65, 0x6c, 0x64, 0xc3, 0x09, 0x40, 0x4b, 0x01, 0x78,
	0x78, 0xe0, 0x3e, 0x00, 0x01, 0x78, 0x78, 0x0a, 0x00, 0xf4, 0xf8, 0x74,
	0xde, 0x71, 0x4b, 0x1d, 0x44,
};
/* dump.rdb written by SAVE (keys: str num list hash iset sset zs exp; db 2: db2key) */
static const uint8_t g_file[] = {
	0x52, 0x45, 0x44, 0x49, 0x53, 0x30, 0x30, 0x31, 0x30, 0xfa, 0x09, 0x72,
	0x65, 0x64, 0x69, 0x73, 0x2d, 0x76, 0x65, 0x72, 0x06, 0x37, 0x2e, 0x30,
	0x2e, 0x31, 0x35, 0xfa, 0x0a, 0x72, 0x65, 0x64, 0x69, 0x73, 0x2d, 0x62,
	0x69, 0x74, 0x73, 0xc0, 0x40, 0xfa, 0x05, 0x63, 0x74, 0x69, 0x6d, 0x65,
	0xc2, 0xb3, 0xcd, 0x01, 0x6b, 0xfa, 0x08, 0x75, 0x73, 0x65, 0x64, 0x2d,
	0x6d, 0x65, 0x6d, 0xc2, 0x80, 0xde, 0x12, 0x00, 0xfa, 0x08, 0x61, 0x6f,
	0x66, 0x2d, 0x62, 0x61, 0x73, 0x65, 0xc0, 0x00, 0xfe, 0x00, 0xfb, 0x08,
	0x01, 0x00, 0x03, 0x73, 0x74, 0x72, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
	0xfc, 0x00, 0xd8, 0xc3, 0x2c, 0xbb, 0x03, 0x00, 0x00, 0x00, 0x03, 0x65,
	0x78, 0x70, 0x01, 0x76, 0x10, 0x04, 0x68, 0x61, 0x73, 0x68, 0x12, 0x12,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x81, 0x66, 0x02, 0x81, 0x76, 0x02, 0x81,
	0x6e, 0x02, 0x05, 0x01, 0xff, 0x0b, 0x04, 0x69, 0x73, 0x65, 0x74, 0x0e,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00,
	0x03, 0x00, 0x11, 0x02, 0x7a, 0x73, 0x11, 0x11, 0x00, 0x00, 0x00, 0x04,
	0x00, 0x81, 0x61, 0x02, 0x01, 0x01, 0x81, 0x62, 0x02, 0x02, 0x01, 0xff,
	0x02, 0x04, 0x73, 0x73, 0x65, 0x74, 0x02, 0x01, 0x79, 0x01, 0x78, 0x00,
	0x03, 0x6e, 0x75, 0x6d, 0xc0, 0x2a, 0x12, 0x04, 0x6c, 0x69, 0x73, 0x74,
	0x01, 0x02, 0x12, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, 0x81, 0x61, 0x02,
	0x81, 0x62, 0x02, 0x81, 0x63, 0x02, 0x07, 0x01, 0xff, 0xfe, 0x02, 0xfb,
	0x01, 0x00, 0x00, 0x06, 0x64, 0x62, 0x32, 0x6b, 0x65, 0x79, 0x05, 0x69,
	0x6e, 0x44, 0x62, 0x32, 0xff, 0xdd, 0xbc, 0x6e, 0x3a, 0x66, 0x87, 0x1f,
	0xa0,
};
/* ------------------------------------------------------------ helpers */

struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = realloc(b->s, cap);
		cr_assert(b->s);
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_cstr(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Bytes as text: printable ones as they are, the rest (and the
 * separators) as \xNN. */
static void sb_esc(struct sb *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x21 && s[i] < 0x7f && s[i] != ',' && s[i] != '=' && s[i] != '\\') {
			sb_add(b, s + i, 1);
		} else {
			char x[8];
			snprintf(x, sizeof x, "\\x%02x", s[i]);
			sb_cstr(b, x);
		}
	}
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Items collected, sorted and joined with ','. */
struct items {
	char **v;
	size_t n, cap;
};

static void items_add(struct items *it, struct sb *one)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 16;
		it->v = realloc(it->v, it->cap * sizeof *it->v);
		cr_assert(it->v);
	}
	it->v[it->n++] = one->s ? one->s : strdup("");
	memset(one, 0, sizeof *one);
}

static void items_join(struct items *it, struct sb *out)
{
	qsort(it->v, it->n, sizeof *it->v, cmp_strp);
	for (size_t i = 0; i < it->n; i++) {
		if (i)
			sb_cstr(out, ",");
		sb_cstr(out, it->v[i]);
		free(it->v[i]);
	}
	free(it->v);
}

static char *render(uint8_t type, uint8_t enc, const void *ptr, const char *str, size_t len)
{
	struct sb b = { 0 };
	switch (type) {
	case KS_STRING:
		sb_cstr(&b, "s:");
		sb_esc(&b, str, len);
		break;
	case KS_LIST: {
		struct obj_list_iter it;
		struct obj_list_elem el;
		unsigned char nb[OBJ_LIST_NUMBUF];
		bool first = true;
		sb_cstr(&b, "l:");
		obj_list_iter_init(&it, ptr, enc, 0, true);
		while (obj_list_iter_next(&it, &el)) {
			size_t n;
			const unsigned char *s = obj_list_elem_str(&el, nb, &n);
			if (!first)
				sb_cstr(&b, ",");
			first = false;
			sb_esc(&b, s, n);
		}
		break;
	}
	case KS_SET: {
		struct obj_set_iter it;
		struct obj_set_elem m;
		struct items items = { 0 };
		sb_cstr(&b, "S:");
		obj_set_iter_init(&it, ptr, enc);
		while (obj_set_iter_next(&it, &m)) {
			struct sb one = { 0 };
			sb_esc(&one, m.p, m.len);
			items_add(&items, &one);
		}
		cr_assert_eq(items.n, obj_set_size(ptr, enc));
		items_join(&items, &b);
		break;
	}
	case KS_HASH: {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;
		struct items items = { 0 };
		sb_cstr(&b, "h:");
		obj_hash_iter_init(&it, ptr, enc);
		while (obj_hash_iter_next(&it, &f, &v)) {
			struct sb one = { 0 };
			sb_esc(&one, f.p, f.len);
			sb_cstr(&one, "=");
			sb_esc(&one, v.p, v.len);
			items_add(&items, &one);
		}
		cr_assert_eq(items.n, obj_hash_len(ptr, enc));
		items_join(&items, &b);
		break;
	}
	case KS_ZSET: {
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		bool first = true;
		sb_cstr(&b, "z:");
		cr_assert_eq(obj_zset_check(ptr, enc), 0);
		obj_zset_iter_rank(&it, ptr, enc, 0, false);
		while (obj_zset_iter_next(&it, &el)) {
			char num[64];
			if (!first)
				sb_cstr(&b, ",");
			first = false;
			sb_esc(&b, el.m, el.mlen);
			snprintf(num, sizeof num, "=%.17g", el.score);
			sb_cstr(&b, num);
		}
		break;
	}
	default:
		cr_assert_fail("type %d", type);
	}
	if (!b.s)
		b.s = strdup("");
	return b.s;
}

static char *render_entry(const struct ks_entry *e)
{
	char buf[24];
	size_t len = 0;
	const char *s = e->type == KS_STRING ? ks_str_get(e, buf, &len) : NULL;
	return render(e->type, e->enc, e->v.ptr, s, len);
}

/* Split words at spaces into a NULL-terminated array (static storage,
 * up to 64 words; "''" is the empty word). */
static const char **words(const char *line)
{
	static char buf[4096];
	static const char *w[65];
	size_t n = 0;
	snprintf(buf, sizeof buf, "%s", line);
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 64;
	     t = strtok_r(NULL, " ", &save))
		w[n++] = strcmp(t, "''") == 0 ? "" : t;
	w[n] = NULL;
	return w;
}

static struct ks_entry *mk_str(const char *key, const void *v, size_t n)
{
	return ks_set_str(db, key, strlen(key), v, n, false);
}

static struct ks_entry *mk_list(const char *key, int fill, const char *elems)
{
	uint8_t enc;
	void *ptr = obj_list_new(&enc);
	for (const char **w = words(elems); *w; w++)
		obj_list_push1(&ptr, &enc, fill, *w, strlen(*w), OBJ_LIST_TAIL);
	return ks_set_obj(db, key, strlen(key), KS_LIST, enc, ptr, false);
}

/* n generated elements "<i>-xxxx..." of elen bytes (at least the index). */
static struct ks_entry *mk_list_gen(const char *key, int fill, unsigned long n, size_t elen)
{
	uint8_t enc;
	void *ptr = obj_list_new(&enc);
	char *buf = malloc(elen + 32);
	for (unsigned long i = 0; i < n; i++) {
		int k = snprintf(buf, 32, "%lu-", i);
		size_t len = (size_t)k < elen ? elen : (size_t)k;
		memset(buf + k, 'a' + (char)(i % 26), len - (size_t)k);
		obj_list_push1(&ptr, &enc, fill, buf, len, OBJ_LIST_TAIL);
	}
	free(buf);
	return ks_set_obj(db, key, strlen(key), KS_LIST, enc, ptr, false);
}

static struct ks_entry *mk_hash(const char *key, const struct obj_hash_lim *lim, const char *fv)
{
	uint8_t enc;
	void *ptr = obj_hash_new(&enc);
	for (const char **w = words(fv); w[0] && w[1]; w += 2)
		obj_hash_set(&ptr, &enc, w[0], strlen(w[0]), w[1], strlen(w[1]), lim);
	return ks_set_obj(db, key, strlen(key), KS_HASH, enc, ptr, false);
}

static struct ks_entry *mk_hash_gen(const char *key, const struct obj_hash_lim *lim,
				    unsigned long n, size_t vlen)
{
	uint8_t enc;
	void *ptr = obj_hash_new(&enc);
	char f[32], *v = malloc(vlen + 1);
	memset(v, 'v', vlen);
	for (unsigned long i = 0; i < n; i++) {
		int k = snprintf(f, sizeof f, "field:%lu", i);
		obj_hash_set(&ptr, &enc, f, (size_t)k, v, vlen, lim);
	}
	free(v);
	return ks_set_obj(db, key, strlen(key), KS_HASH, enc, ptr, false);
}

static struct ks_entry *mk_set(const char *key, const struct obj_set_lim *lim, const char *members)
{
	uint8_t enc;
	void *ptr = obj_set_new(&enc);
	for (const char **w = words(members); *w; w++)
		obj_set_add(&ptr, &enc, *w, strlen(*w), lim);
	return ks_set_obj(db, key, strlen(key), KS_SET, enc, ptr, false);
}

/* n members: integers i * step + base when ints, else "m:<i>". */
static struct ks_entry *mk_set_gen(const char *key, const struct obj_set_lim *lim,
				   unsigned long n, bool ints, long long base, long long step)
{
	uint8_t enc;
	void *ptr = obj_set_new(&enc);
	char m[40];
	for (unsigned long i = 0; i < n; i++) {
		int k = ints ? snprintf(m, sizeof m, "%lld", base + (long long)i * step)
			     : snprintf(m, sizeof m, "m:%lu", i);
		obj_set_add(&ptr, &enc, m, (size_t)k, lim);
	}
	return ks_set_obj(db, key, strlen(key), KS_SET, enc, ptr, false);
}

static struct ks_entry *mk_zset(const char *key, const struct obj_zset_lim *lim, const char *ms)
{
	uint8_t enc;
	void *ptr = obj_zset_new(0, 0, lim, &enc);
	for (const char **w = words(ms); w[0] && w[1]; w += 2) {
		unsigned out;
		double sc = strtod(w[1], NULL);
		cr_assert_eq(obj_zset_add(&ptr, &enc, w[0], strlen(w[0]), sc, 0, &out, NULL, lim), 0);
	}
	return ks_set_obj(db, key, strlen(key), KS_ZSET, enc, ptr, false);
}

static struct ks_entry *mk_zset_gen(const char *key, const struct obj_zset_lim *lim,
				    unsigned long n)
{
	uint8_t enc;
	void *ptr = obj_zset_new(n, 10, lim, &enc);
	char m[40];
	for (unsigned long i = 0; i < n; i++) {
		unsigned out;
		int k = snprintf(m, sizeof m, "member:%lu", i);
		double sc = (i % 7 == 0) ? (double)i : (double)i / 3.0 - 100;
		obj_zset_add(&ptr, &enc, m, (size_t)k, sc, 0, &out, NULL, lim);
	}
	return ks_set_obj(db, key, strlen(key), KS_ZSET, enc, ptr, false);
}

/* Decode a DUMP payload into db under "out"; NULL if refused (rc set). */
static struct ks_entry *restore(const void *p, size_t n, const struct rdb_limits *lim, int *rc)
{
	struct rdb_obj o;
	*rc = rdb_dump_verify(p, n, true, NULL);
	if (*rc)
		return NULL;
	*rc = rdb_dump_decode(p, n, lim, &o);
	if (*rc)
		return NULL;
	return rdb_obj_store(db, "out", 3, &o);
}

/* DUMP e, RESTORE it under lim, check the contents came back; returns
 * the restored entry (key "out"). */
static struct ks_entry *roundtrip(const struct ks_entry *e, const struct rdb_limits *lim,
				  bool compress)
{
	struct rbuf b = { 0 };
	int rc;
	cr_assert_eq(rdb_dump_payload(&b, e, compress), 0);
	char *want = render_entry(e);
	struct ks_entry *o = restore(b.data, b.len, lim, &rc);
	cr_assert_eq(rc, 0, "restore of %.40s: %d", want, rc);
	char *got = render_entry(o);
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	rbuf_free(&b);
	return o;
}

static uint64_t rng = 0x1234567;

static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* type byte + body as a DUMP payload of version ver. */
static void mk_payload(struct rbuf *out, uint8_t type, const void *body, size_t n, uint16_t ver)
{
	uint8_t foot[8];
	out->len = 0;
	rbuf_append(out, &type, 1);
	rbuf_append(out, body, n);
	foot[0] = (uint8_t)ver;
	foot[1] = (uint8_t)(ver >> 8);
	rbuf_append(out, foot, 2);
	put_le64(foot, rdb_crc64(0, out->data, out->len));
	rbuf_append(out, foot, 8);
}

/* ------------------------------------------------- legacy blob builders */

/* A ziplist, as Redis 2.6-6.2 wrote them. Words that are canonical
 * integers become integer entries (in the narrowest encoding) unless
 * strings_only; strings take the 6/14/32-bit length forms. */
static void zl_build(struct rbuf *z, const char *const *el, size_t n, bool strings_only)
{
	size_t prev = 0, last = 10;
	z->len = 0;
	rbuf_append(z, "\0\0\0\0\0\0\0\0\0\0", 10);
	for (size_t i = 0; i < n; i++) {
		size_t start = z->len, len = strlen(el[i]);
		uint8_t h[16];
		size_t hl = 0;
		long long v;
		if (prev < 254) {
			h[hl++] = (uint8_t)prev;
		} else {
			h[hl++] = 254;
			for (int k = 0; k < 4; k++)
				h[hl++] = (uint8_t)(prev >> (8 * k));
		}
		if (!strings_only && ks_str2ll(el[i], len, &v)) {
			uint8_t d[8];
			size_t dl;
			if (v >= 0 && v <= 12) {
				h[hl++] = (uint8_t)(0xF1 + v);
				dl = 0;
			} else if (v >= INT8_MIN && v <= INT8_MAX) {
				h[hl++] = 0xFE;
				dl = 1;
			} else if (v >= INT16_MIN && v <= INT16_MAX) {
				h[hl++] = 0xC0;
				dl = 2;
			} else if (v >= -(1 << 23) && v < (1 << 23)) {
				h[hl++] = 0xF0;
				dl = 3;
			} else if (v >= INT32_MIN && v <= INT32_MAX) {
				h[hl++] = 0xD0;
				dl = 4;
			} else {
				h[hl++] = 0xE0;
				dl = 8;
			}
			for (size_t k = 0; k < dl; k++)
				d[k] = (uint8_t)((unsigned long long)v >> (8 * k));
			rbuf_append(z, h, hl);
			rbuf_append(z, d, dl);
		} else {
			if (len < 64) {
				h[hl++] = (uint8_t)len;
			} else if (len < 16384) {
				h[hl++] = (uint8_t)(0x40 | len >> 8);
				h[hl++] = (uint8_t)len;
			} else {
				h[hl++] = 0x80;
				for (int k = 3; k >= 0; k--)
					h[hl++] = (uint8_t)(len >> (8 * k));
			}
			rbuf_append(z, h, hl);
			rbuf_append(z, el[i], len);
		}
		prev = z->len - start;
		last = start;
	}
	uint8_t end = 0xFF;
	rbuf_append(z, &end, 1);
	uint8_t *p = (uint8_t *)z->data;
	for (int k = 0; k < 4; k++) {
		p[k] = (uint8_t)(z->len >> (8 * k));
		p[4 + k] = (uint8_t)(last >> (8 * k));
	}
	size_t cnt = n < 65535 ? n : 65535;
	p[8] = (uint8_t)cnt;
	p[9] = (uint8_t)(cnt >> 8);
}

/* A zipmap (Redis < 2.6 small hashes): key/value words alternate. */
static void zm_build(struct rbuf *z, const char *const *kv, size_t n)
{
	uint8_t b = (uint8_t)(n / 2 < 254 ? n / 2 : 254);
	z->len = 0;
	rbuf_append(z, &b, 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(kv[i]);
		uint8_t h[5];
		size_t hl;
		if (len < 254) {
			h[0] = (uint8_t)len;
			hl = 1;
		} else {
			h[0] = 254;
			for (int k = 0; k < 4; k++)
				h[1 + k] = (uint8_t)(len >> (8 * k));
			hl = 5;
		}
		rbuf_append(z, h, hl);
		if (i % 2) {
			uint8_t freeb = 2;
			rbuf_append(z, &freeb, 1);
			rbuf_append(z, kv[i], len);
			rbuf_append(z, "\0\0", 2);        /* the free bytes */
		} else {
			rbuf_append(z, kv[i], len);
		}
	}
	b = 0xFF;
	rbuf_append(z, &b, 1);
}

/* A counted body: len(n), then each word as an RDB string (scores of
 * zsets: text form for ZSET, binary for ZSET_2). */
static void body_counted(struct rbuf *b, int rtype, const char *line)
{
	const char **w = words(line);
	size_t n = 0;
	while (w[n])
		n++;
	b->len = 0;
	switch (rtype) {
	case RDB_TYPE_LIST:
	case RDB_TYPE_SET:
		rdb_enc_len(b, n);
		for (size_t i = 0; i < n; i++)
			rdb_enc_string(b, w[i], strlen(w[i]), false);
		break;
	case RDB_TYPE_HASH:
		rdb_enc_len(b, n / 2);
		for (size_t i = 0; i < n; i++)
			rdb_enc_string(b, w[i], strlen(w[i]), false);
		break;
	case RDB_TYPE_ZSET:
	case RDB_TYPE_ZSET_2:
		rdb_enc_len(b, n / 2);
		for (size_t i = 0; i + 1 < n; i += 2) {
			rdb_enc_string(b, w[i], strlen(w[i]), false);
			double d = strtod(w[i + 1], NULL);
			if (rtype == RDB_TYPE_ZSET)
				rdb_enc_double_text(b, d);
			else
				rdb_enc_double_bin(b, d);
		}
		break;
	default:
		cr_assert_fail("type %d", rtype);
	}
}

/* Decode body as rtype and return the stored entry (key "out") or NULL
 * with *rc. */
static struct ks_entry *dec(int rtype, const void *p, size_t n, const struct rdb_limits *lim, int *rc)
{
	struct rdb_obj o;
	size_t used;
	*rc = rdb_dec_value(rtype, p, n, &used, lim, &o);
	if (*rc)
		return NULL;
	cr_assert_eq(used, n, "decoded %zu of %zu bytes", used, n);
	return rdb_obj_store(db, "out", 3, &o);
}

static void expect_value(const struct ks_entry *e, const char *want, uint8_t enc)
{
	cr_assert(e);
	char *got = render_entry(e);
	cr_assert_str_eq(got, want);
	cr_assert_eq(e->enc, enc, "%s: encoding %s, want %s", want, ks_enc_name(e->enc),
		     ks_enc_name(enc));
	free(got);
}

/* ============================================================== CRC64 */

/* Bit at a time, straight from the definition: the reference. */
static uint64_t crc64_ref(uint64_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
	}
	return crc;
}

static const struct {
	const uint8_t *p;
	size_t n;
	const char *name;
} goldens[] = {
#define G(x) { g_##x, sizeof g_##x, #x }
	G(str_raw), G(str_int), G(str_neg), G(str_i32), G(str_bigint), G(str_lzf), G(str_emb),
	G(list_lp), G(hash_lp), G(set_intset), G(set_intset64), G(zset_lp), G(zset_skiplist),
	G(hll_sparse), G(set_ht), G(hash_ht),
#undef G
};
#define NGOLDEN (sizeof goldens / sizeof goldens[0])

RDB_TEST(crc64_vectors)
{
	cr_assert_eq(rdb_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);
	cr_assert_eq(rdb_crc64(0, "", 0), 0);
	cr_assert_eq(rdb_crc64(0x1234, "", 0), 0x1234);
	/* Redis's own CRCs: the footer of every payload it dumped. */
	for (size_t i = 0; i < NGOLDEN; i++)
		cr_assert_eq(rdb_dump_verify(goldens[i].p, goldens[i].n, true, NULL), 0, "%s",
			     goldens[i].name);
	/* The file's trailer. */
	uint64_t want = 0;
	for (int k = 7; k >= 0; k--)
		want = want << 8 | g_file[sizeof g_file - 8 + (size_t)k];
	cr_assert_eq(rdb_crc64(0, g_file, sizeof g_file - 8), want);
	/* Slice-by-8 against the bitwise definition, any length, any split. */
	uint8_t buf[1031];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rnd64();
	for (size_t n = 0; n < sizeof buf; n += 1 + n / 8) {
		uint64_t r = crc64_ref(0, buf, n);
		cr_assert_eq(rdb_crc64(0, buf, n), r, "length %zu", n);
		size_t cut = n ? (size_t)(rnd64() % n) : 0;
		cr_assert_eq(rdb_crc64(rdb_crc64(0, buf, cut), buf + cut, n - cut), r);
		cr_assert_eq(rdb_crc64(0, buf + 3, n > 3 ? n - 3 : 0), crc64_ref(0, buf + 3, n > 3 ? n - 3 : 0));
	}
}

/* ================================================================ LZF */

RDB_TEST(lzf_vectors)
{
	/* 100 x 'a' as Redis compressed it (g_str_lzf: c3 09 40 64 ...). */
	char a100[100];
	uint8_t out[256], back[256];
	memset(a100, 'a', sizeof a100);
	size_t n = rdb_lzf_compress(a100, 100, out, 96);
	cr_assert_eq(n, 9);
	cr_assert_arr_eq(out, g_str_lzf + 5, 9);
	cr_assert_eq(rdb_lzf_decompress(out, n, back, 100), 100);
	cr_assert_arr_eq(back, a100, 100);
	/* Too little room: 0, and decompression into too little room: 0. */
	cr_assert_eq(rdb_lzf_compress(a100, 100, out, 8), 0);
	cr_assert_eq(rdb_lzf_decompress(out, n, back, 99), 0);
	cr_assert_eq(rdb_lzf_compress(a100, 0, out, 10), 0);
	/* Incompressible input does not fit in len - 4 bytes. */
	uint8_t rnd[200];
	for (size_t i = 0; i < sizeof rnd; i++)
		rnd[i] = (uint8_t)rnd64();
	cr_assert_eq(rdb_lzf_compress(rnd, sizeof rnd, out, sizeof rnd - 4), 0);
	/* Corrupt streams. */
	static const struct {
		const char *why;
		uint8_t in[8];
		size_t n;
	} bad[] = {
		{ "literal run past the input", { 0x05, 'a', 'b' }, 3 },
		{ "reference before the start", { 0x00, 'a', 0x20, 0x05 }, 4 },
		{ "reference cut short", { 0x00, 'a', 0x20 }, 3 },
		{ "long reference cut short", { 0x00, 'a', 0xe0 }, 3 },
		{ "long reference without offset", { 0x00, 'a', 0xe0, 0x01 }, 4 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(rdb_lzf_decompress(bad[i].in, bad[i].n, back, sizeof back), 0, "%s",
			     bad[i].why);
	/* Round trips of text with every kind of redundancy and size. */
	for (int iter = 0; iter < 300; iter++) {
		size_t len = 1 + rnd64() % 20000;
		char *s = malloc(len), *c = malloc(len + 64), *d = malloc(len);
		unsigned alpha = 1 + (unsigned)(rnd64() % 20);
		for (size_t i = 0; i < len; i++)
			s[i] = (char)('a' + rnd64() % alpha);
		size_t cl = rdb_lzf_compress(s, len, c, len + 64);
		cr_assert(cl > 0);
		cr_assert_eq(rdb_lzf_decompress(c, cl, d, len), len);
		cr_assert_arr_eq(d, s, len);
		free(s);
		free(c);
		free(d);
	}
}

/* ==================================================== golden payloads */

static const struct {
	const uint8_t *p;
	size_t n;
	const char *want;
	uint8_t enc;
	bool exact;          /* our DUMP of the restored value is byte-identical */
} golden_dec[] = {
	{ g_str_raw, sizeof g_str_raw, "s:hello", KS_ENC_EMBSTR, true },
	{ g_str_int, sizeof g_str_int, "s:12345", KS_ENC_INT, true },
	{ g_str_neg, sizeof g_str_neg, "s:-7", KS_ENC_INT, true },
	{ g_str_i32, sizeof g_str_i32, "s:-2000000000", KS_ENC_INT, true },
	{ g_str_bigint, sizeof g_str_bigint, "s:12345678901234", KS_ENC_INT, true },
	{ g_str_lzf, sizeof g_str_lzf,
	  "s:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  KS_ENC_RAW, true },
	{ g_str_emb, sizeof g_str_emb, "s:abcdefghijklmnopqrstuvwxyz0123456789", KS_ENC_EMBSTR, true },
	{ g_list_lp, sizeof g_list_lp, "l:a,b,1,2,-300,hello,70000", KS_ENC_LISTPACK, true },
	{ g_hash_lp, sizeof g_hash_lp, "h:f1=v1,f2=2,f3=-100", KS_ENC_LISTPACK, true },
	{ g_set_intset, sizeof g_set_intset, "S:-5,1,100000,2,3", KS_ENC_INTSET, true },
	{ g_set_intset64, sizeof g_set_intset64, "S:1,5000000000", KS_ENC_INTSET, true },
	{ g_zset_lp, sizeof g_zset_lp, "z:c=-inf,a=1,b=2.5,1000=3", KS_ENC_LISTPACK, true },
	{ g_zset_skiplist, sizeof g_zset_skiplist,
	  "z:c=-inf,d=0.10000000000000001,a=1,b=2.5,"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1.0000000000000001e+300",
	  KS_ENC_SKIPLIST, true },
	{ g_hll_sparse, sizeof g_hll_sparse, NULL, KS_ENC_EMBSTR, true },
	/* Redis 7.0 has no listpack sets: type 2, back to a listpack here. */
	{ g_set_ht, sizeof g_set_ht, "S:a,b,c", KS_ENC_LISTPACK, false },
	{ g_hash_ht, sizeof g_hash_ht,
	  "h:f1=v1,longfield=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	  KS_ENC_HASHTABLE, false },
};

RDB_TEST(golden_decode_and_reencode)
{
	for (size_t i = 0; i < sizeof golden_dec / sizeof golden_dec[0]; i++) {
		int rc;
		struct ks_entry *e = restore(golden_dec[i].p, golden_dec[i].n, &DEF, &rc);
		cr_assert_eq(rc, 0, "golden %zu: %d", i, rc);
		if (golden_dec[i].want) {
			expect_value(e, golden_dec[i].want, golden_dec[i].enc);
		} else {   /* the HLL: the string is the payload's bytes */
			char buf[24];
			size_t len;
			const char *s = ks_str_get(e, buf, &len);
			cr_assert_eq(len, golden_dec[i].p[1]);
			cr_assert_arr_eq(s, golden_dec[i].p + 2, len);
		}
		struct rbuf b = { 0 };
		cr_assert_eq(rdb_dump_payload(&b, e, true), 0);
		if (golden_dec[i].exact) {
			cr_assert_eq(b.len, golden_dec[i].n, "golden %zu: %zu bytes, want %zu", i, b.len,
				     golden_dec[i].n);
			cr_assert_arr_eq(b.data, golden_dec[i].p, b.len, "golden %zu differs", i);
		}
		rbuf_free(&b);
		/* Round trip under tiny thresholds too. */
		roundtrip(e, &TINY, false);
	}
}

/* Values built by our own commands' code paths write what Redis wrote for
 * the same commands. */
RDB_TEST(golden_native_build)
{
	struct obj_hash_lim hl = DEF.hash;
	struct obj_set_lim sl = DEF.set;
	struct obj_zset_lim zl = DEF.zset;
	static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	char zs[256];
	snprintf(zs, sizeof zs, "a 1 b 2.5 c -inf d 0.1 %s 1e300", xs);
	const struct {
		struct ks_entry *e;
		const uint8_t *g;
		size_t n;
	} t[] = {
		{ mk_str("s1", "hello", 5), g_str_raw, sizeof g_str_raw },
		{ mk_str("s2", "12345", 5), g_str_int, sizeof g_str_int },
		{ mk_str("s3", "12345678901234", 14), g_str_bigint, sizeof g_str_bigint },
		{ mk_list("l", DEF.list_fill, "a b 1 2 -300 hello 70000"), g_list_lp, sizeof g_list_lp },
		{ mk_hash("h", &hl, "f1 v1 f2 2 f3 -100"), g_hash_lp, sizeof g_hash_lp },
		{ mk_set("i", &sl, "1 2 3 -5 100000"), g_set_intset, sizeof g_set_intset },
		{ mk_set("i64", &sl, "1 5000000000"), g_set_intset64, sizeof g_set_intset64 },
		{ mk_zset("z", &zl, "a 1 b 2.5 c -inf 1000 3"), g_zset_lp, sizeof g_zset_lp },
		{ mk_zset("zs", &zl, zs), g_zset_skiplist, sizeof g_zset_skiplist },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct rbuf b = { 0 };
		cr_assert_eq(rdb_dump_payload(&b, t[i].e, true), 0);
		cr_assert_eq(b.len, t[i].n, "case %zu: %zu bytes, want %zu", i, b.len, t[i].n);
		cr_assert_arr_eq(b.data, t[i].g, b.len, "case %zu differs", i);
		rbuf_free(&b);
	}
}

RDB_TEST(dump_version_and_checksum)
{
	struct rbuf p = { 0 };
	uint16_t ver;
	/* Older versions are accepted, newer refused, CRC checked. */
	mk_payload(&p, RDB_TYPE_STRING, "\x03" "abc", 4, 9);
	cr_assert_eq(rdb_dump_verify(p.data, p.len, true, &ver), 0);
	cr_assert_eq(ver, 9);
	int rc;
	expect_value(restore(p.data, p.len, &DEF, &rc), "s:abc", KS_ENC_EMBSTR);
	mk_payload(&p, RDB_TYPE_STRING, "\x03" "abc", 4, 11);
	cr_assert_eq(rdb_dump_verify(p.data, p.len, true, &ver), -EINVAL);
	cr_assert_eq(ver, 11);
	mk_payload(&p, RDB_TYPE_STRING, "\x03" "abc", 4, 10);
	p.data[2] ^= 1;
	cr_assert_eq(rdb_dump_verify(p.data, p.len, true, NULL), -EINVAL);
	cr_assert_eq(rdb_dump_verify(p.data, p.len, false, NULL), 0);
	cr_assert_eq(rdb_dump_verify(p.data, 9, false, NULL), -EINVAL);
	/* Trailing bytes after the value. */
	mk_payload(&p, RDB_TYPE_STRING, "\x03" "abcd", 5, 10);
	cr_assert_eq(rdb_dump_verify(p.data, p.len, true, NULL), 0);
	struct rdb_obj o;
	cr_assert_eq(rdb_dump_decode(p.data, p.len, &DEF, &o), -EINVAL);
	/* Nothing but the footer. */
	cr_assert_eq(rdb_dump_decode(p.data + 6, 10, &DEF, &o), -EINVAL);
	rbuf_free(&p);
}

/* ========================================================= round trips */

RDB_TEST(roundtrip_every_type_and_encoding)
{
	struct obj_hash_lim hl = DEF.hash;
	struct obj_set_lim sl = DEF.set;
	struct obj_zset_lim zl = DEF.zset;
	char big[300];
	memset(big, 'q', sizeof big);
	char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (char)i;
	const struct {
		struct ks_entry *e;
		uint8_t def_enc, tiny_enc;
	} t[] = {
		{ mk_str("int", "-42", 3), KS_ENC_INT, KS_ENC_INT },
		{ mk_str("llmax", "9223372036854775807", 19), KS_ENC_INT, KS_ENC_INT },
		{ mk_str("llmin", "-9223372036854775808", 20), KS_ENC_INT, KS_ENC_INT },
		{ mk_str("notcanon", "007", 3), KS_ENC_EMBSTR, KS_ENC_EMBSTR },
		{ mk_str("empty", "", 0), KS_ENC_EMBSTR, KS_ENC_EMBSTR },
		{ mk_str("raw", big, sizeof big), KS_ENC_RAW, KS_ENC_RAW },
		{ mk_str("bin", bin, sizeof bin), KS_ENC_RAW, KS_ENC_RAW },
		{ mk_list("l1", -2, "a"), KS_ENC_LISTPACK, KS_ENC_LISTPACK },
		{ mk_list("l2", -2, "1 -1 128 -129 40000 -40000 8388608 2147483648 x '' yy"),
		  KS_ENC_LISTPACK, KS_ENC_QUICKLIST },
		{ mk_list_gen("lq", -2, 5000, 20), KS_ENC_QUICKLIST, KS_ENC_QUICKLIST },
		{ mk_list_gen("lplain", -2, 3, 9000), KS_ENC_QUICKLIST, KS_ENC_QUICKLIST },
		{ mk_list_gen("lfill", 5, 23, 4), KS_ENC_QUICKLIST, KS_ENC_QUICKLIST },
		{ mk_hash("h1", &hl, "a 1 b 2"), KS_ENC_LISTPACK, KS_ENC_LISTPACK },
		{ mk_hash("h2", &hl, "a 1 b 2 c 3"), KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
		{ mk_hash_gen("hbig", &hl, 1000, 5), KS_ENC_HASHTABLE, KS_ENC_HASHTABLE },
		{ mk_hash_gen("hval", &hl, 3, 100), KS_ENC_HASHTABLE, KS_ENC_HASHTABLE },
		{ mk_hash("hlong", &hl, "x 12345"), KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
		{ mk_set("si", &sl, "1 2 3"), KS_ENC_INTSET, KS_ENC_INTSET },
		{ mk_set("si4", &sl, "1 2 3 4"), KS_ENC_INTSET, KS_ENC_HASHTABLE },
		{ mk_set_gen("sibig", &sl, 500, true, -3000000000LL, 12345678), KS_ENC_INTSET,
		  KS_ENC_HASHTABLE },
		{ mk_set("sl", &sl, "a b c"), KS_ENC_LISTPACK, KS_ENC_LISTPACK },
		{ mk_set("sl4", &sl, "a b c d"), KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
		{ mk_set("slong", &sl, "abcde 1"), KS_ENC_LISTPACK, KS_ENC_HASHTABLE },
		{ mk_set_gen("sh", &sl, 1000, false, 0, 0), KS_ENC_HASHTABLE, KS_ENC_HASHTABLE },
		{ mk_zset("z1", &zl, "a 1 b 2"), KS_ENC_LISTPACK, KS_ENC_LISTPACK },
		{ mk_zset("z2", &zl, "a -inf b inf c 0 d -0 e 1.5e-300 f 3.14159"), KS_ENC_LISTPACK,
		  KS_ENC_SKIPLIST },
		{ mk_zset_gen("zbig", &zl, 1000), KS_ENC_SKIPLIST, KS_ENC_SKIPLIST },
		{ mk_zset("zlong", &zl, "abcde 1"), KS_ENC_LISTPACK, KS_ENC_SKIPLIST },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		cr_assert_eq(t[i].e->enc, t[i].def_enc, "case %zu built as %s", i,
			     ks_enc_name(t[i].e->enc));
		for (int cz = 0; cz < 2; cz++) {
			struct ks_entry *o = roundtrip(t[i].e, &DEF, cz);
			cr_assert_eq(o->enc, t[i].def_enc, "case %zu: %s", i, ks_enc_name(o->enc));
			o = roundtrip(t[i].e, &TINY, cz);
			cr_assert_eq(o->enc, t[i].tiny_enc, "case %zu tiny: %s", i, ks_enc_name(o->enc));
		}
	}
}

/* Listpack sets: RDB 10 has no type for them (type 2, as Redis 7.0 needs),
 * RDB 11's type 20 when asked; both load back as listpacks. */
RDB_TEST(listpack_set_types)
{
	struct obj_set_lim sl = DEF.set;
	struct ks_entry *e = mk_set("s", &sl, "a b c 1");
	struct rdb_wopts o10 = { .compress = false }, o11 = { .set_listpack = true };
	struct rbuf b = { 0 };
	int rc;
	cr_assert_eq(rdb_value_type(e, &o10), RDB_TYPE_SET);
	cr_assert_eq(rdb_value_type(e, &o11), RDB_TYPE_SET_LISTPACK);
	cr_assert_eq(rdb_enc_value(&b, e, &o11), 0);
	cr_assert_eq(b.len, 1 + lp_bytes(e->v.ptr));        /* length, blob */
	cr_assert_arr_eq(b.data + 1, e->v.ptr, b.len - 1);
	expect_value(dec(RDB_TYPE_SET_LISTPACK, b.data, b.len, &DEF, &rc), "S:1,a,b,c",
		     KS_ENC_LISTPACK);
	/* Past the thresholds on load: a hashtable. */
	e = mk_set("s", &sl, "a b c 1");
	b.len = 0;
	cr_assert_eq(rdb_enc_value(&b, e, &o11), 0);
	expect_value(dec(RDB_TYPE_SET_LISTPACK, b.data, b.len, &TINY, &rc), "S:1,a,b,c",
		     KS_ENC_HASHTABLE);
	rbuf_free(&b);
}

/* Big values: a 200k-element quicklist, compressed and not. */
RDB_TEST(roundtrip_big_list)
{
	struct ks_entry *e = mk_list_gen("big", -2, 200000, 12);
	cr_assert_eq(e->enc, KS_ENC_QUICKLIST);
	unsigned long nodes = obj_list_nlp(e->v.ptr, e->enc);
	cr_assert(nodes > 100);
	for (int cz = 0; cz < 2; cz++) {
		struct ks_entry *o = roundtrip(e, &DEF, cz);
		cr_assert_eq(o->enc, KS_ENC_QUICKLIST);
		cr_assert_eq(obj_list_len(o->v.ptr, o->enc), 200000);
		cr_assert_eq(obj_list_nlp(o->v.ptr, o->enc), nodes);
	}
}

/* ===================================================== legacy formats */

RDB_TEST(legacy_ziplist_list_and_quicklist_v1)
{
	static const char *const el[] = {
		"a", "0", "12", "13", "-1", "127", "-128", "300", "-32768", "8388607", "-8388608",
		"2147483647", "-2147483648", "5000000000", "-9223372036854775808", "",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"b",
	};
	const size_t n = sizeof el / sizeof el[0];
	struct sb want = { 0 };
	sb_cstr(&want, "l:");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_cstr(&want, ",");
		sb_cstr(&want, el[i]);
	}
	struct rbuf zl = { 0 }, body = { 0 };
	int rc;
	zl_build(&zl, el, n, false);
	/* type 10: the ziplist as one string */
	rdb_enc_string(&body, zl.data, zl.len, false);
	expect_value(dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_LISTPACK);
	/* compressed, and with every string stored as a string */
	body.len = 0;
	rdb_enc_string(&body, zl.data, zl.len, true);
	expect_value(dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_LISTPACK);
	zl_build(&zl, el, n, true);
	body.len = 0;
	rdb_enc_string(&body, zl.data, zl.len, false);
	expect_value(dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_LISTPACK);
	expect_value(dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &TINY, &rc), want.s,
		     KS_ENC_QUICKLIST);
	/* type 14: two ziplist nodes, and an empty one that is skipped */
	struct rbuf z1 = { 0 }, z2 = { 0 }, z0 = { 0 };
	zl_build(&z1, el, 5, false);
	zl_build(&z2, el + 5, n - 5, false);
	zl_build(&z0, el, 0, false);
	body.len = 0;
	rdb_enc_len(&body, 3);
	rdb_enc_string(&body, z1.data, z1.len, false);
	rdb_enc_string(&body, z0.data, z0.len, false);
	rdb_enc_string(&body, z2.data, z2.len, true);
	expect_value(dec(RDB_TYPE_LIST_QUICKLIST, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_QUICKLIST);      /* two nodes stay two nodes */
	expect_value(dec(RDB_TYPE_LIST_QUICKLIST, body.data, body.len, &TINY, &rc), want.s,
		     KS_ENC_QUICKLIST);
	/* only empty nodes: an empty key */
	body.len = 0;
	rdb_enc_len(&body, 1);
	rdb_enc_string(&body, z0.data, z0.len, false);
	cr_assert_null(dec(RDB_TYPE_LIST_QUICKLIST, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -ENODATA);
	/* an empty ziplist list */
	body.len = 0;
	rdb_enc_string(&body, z0.data, z0.len, false);
	cr_assert_null(dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -ENODATA);
	/* A ziplist with > 254-byte entries (5-byte prevlen) and 65535+
	 * entries (count saturated): built big, read back whole. */
	static const char *many[70000];
	for (size_t i = 0; i < 70000; i++)
		many[i] = (i % 2) ? "v" : "12";
	zl_build(&zl, many, 70000, false);
	body.len = 0;
	rdb_enc_string(&body, zl.data, zl.len, false);
	struct ks_entry *e = dec(RDB_TYPE_LIST_ZIPLIST, body.data, body.len, &DEF, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(obj_list_len(e->v.ptr, e->enc), 70000);
	free(want.s);
	rbuf_free(&zl);
	rbuf_free(&z0);
	rbuf_free(&z1);
	rbuf_free(&z2);
	rbuf_free(&body);
}

RDB_TEST(legacy_zipmap_and_ziplist_hash)
{
	static const char *const kv[] = { "name", "redis", "n", "1", "empty", "", "big",
		"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
		"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
		"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
		"vvvvvvvvvv" };
	const char *want_small = "h:empty=,n=1,name=redis";
	struct sb want = { 0 };
	sb_cstr(&want, "h:big=");
	sb_cstr(&want, kv[7]);
	sb_cstr(&want, ",empty=,n=1,name=redis");
	struct rbuf blob = { 0 }, body = { 0 };
	int rc;

	zm_build(&blob, kv, 6);
	rdb_enc_string(&body, blob.data, blob.len, false);
	expect_value(dec(RDB_TYPE_HASH_ZIPMAP, body.data, body.len, &DEF, &rc), want_small,
		     KS_ENC_LISTPACK);
	expect_value(dec(RDB_TYPE_HASH_ZIPMAP, body.data, body.len, &TINY, &rc), want_small,
		     KS_ENC_HASHTABLE);
	/* a value over hash-max-listpack-value (64): hashtable */
	zm_build(&blob, kv, 8);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, true);
	expect_value(dec(RDB_TYPE_HASH_ZIPMAP, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_HASHTABLE);
	/* ziplist hash (13) */
	zl_build(&blob, kv, 6, false);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	expect_value(dec(RDB_TYPE_HASH_ZIPLIST, body.data, body.len, &DEF, &rc), want_small,
		     KS_ENC_LISTPACK);
	zl_build(&blob, kv, 8, false);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	expect_value(dec(RDB_TYPE_HASH_ZIPLIST, body.data, body.len, &DEF, &rc), want.s,
		     KS_ENC_HASHTABLE);
	/* odd number of entries, a field twice */
	zl_build(&blob, kv, 5, false);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	cr_assert_null(dec(RDB_TYPE_HASH_ZIPLIST, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -EINVAL);
	static const char *const dup[] = { "a", "1", "b", "2", "a", "3" };
	zl_build(&blob, dup, 6, false);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	cr_assert_null(dec(RDB_TYPE_HASH_ZIPLIST, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -EINVAL);
	zm_build(&blob, dup, 6);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	cr_assert_null(dec(RDB_TYPE_HASH_ZIPMAP, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -EINVAL);
	/* an empty zipmap */
	zm_build(&blob, dup, 0);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	cr_assert_null(dec(RDB_TYPE_HASH_ZIPMAP, body.data, body.len, &DEF, &rc));
	cr_assert_eq(rc, -ENODATA);
	/* A version 9 DUMP payload (Redis 6) holding a ziplist hash. */
	struct rbuf p = { 0 };
	zl_build(&blob, kv, 6, false);
	body.len = 0;
	rdb_enc_string(&body, blob.data, blob.len, false);
	mk_payload(&p, RDB_TYPE_HASH_ZIPLIST, body.data, body.len, 9);
	expect_value(restore(p.data, p.len, &DEF, &rc), want_small, KS_ENC_LISTPACK);
	free(want.s);
	rbuf_free(&p);
	rbuf_free(&blob);
	rbuf_free(&body);
}

RDB_TEST(legacy_ziplist_zset)
{
	static const char *const ok[] = { "c", "-inf", "a", "1", "b", "2.5", "1000", "3", "z", "1e300" };
	static const char *const unsorted[] = { "a", "2", "b", "1" };
	static const char *const nan[] = { "a", "nan" };
	static const char *const dup[] = { "a", "1", "a", "2" };
	struct rbuf blob = { 0 }, body = { 0 };
	int rc;
	zl_build(&blob, ok, 10, false);
	rdb_enc_string(&body, blob.data, blob.len, false);
	expect_value(dec(RDB_TYPE_ZSET_ZIPLIST, body.data, body.len, &DEF, &rc),
		     "z:c=-inf,a=1,b=2.5,1000=3,z=1.0000000000000001e+300", KS_ENC_LISTPACK);
	expect_value(dec(RDB_TYPE_ZSET_ZIPLIST, body.data, body.len, &TINY, &rc),
		     "z:c=-inf,a=1,b=2.5,1000=3,z=1.0000000000000001e+300", KS_ENC_SKIPLIST);
	const struct {
		const char *const *el;
		size_t n;
	} bad[] = { { unsorted, 4 }, { nan, 2 }, { dup, 4 }, { ok, 3 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		zl_build(&blob, bad[i].el, bad[i].n, false);
		body.len = 0;
		rdb_enc_string(&body, blob.data, blob.len, false);
		cr_assert_null(dec(RDB_TYPE_ZSET_ZIPLIST, body.data, body.len, &DEF, &rc), "bad %zu", i);
		cr_assert_eq(rc, -EINVAL);
	}
	rbuf_free(&blob);
	rbuf_free(&body);
}

/* The plain collection types, with Redis 7.2's load-time encodings. */
RDB_TEST(plain_types_and_conversions)
{
	static const struct {
		int rtype;
		const char *body;
		const struct rdb_limits *lim;
		const char *want;
		uint8_t enc;
	} t[] = {
		{ RDB_TYPE_LIST, "a b c 1 2", &DEF, "l:a,b,c,1,2", KS_ENC_LISTPACK },
		{ RDB_TYPE_LIST, "a b c 1 2", &TINY, "l:a,b,c,1,2", KS_ENC_QUICKLIST },
		{ RDB_TYPE_SET, "3 1 2", &DEF, "S:1,2,3", KS_ENC_INTSET },
		{ RDB_TYPE_SET, "3 1 x", &DEF, "S:1,3,x", KS_ENC_LISTPACK },
		{ RDB_TYPE_SET, "3 1 2 4", &TINY, "S:1,2,3,4", KS_ENC_HASHTABLE },
		{ RDB_TYPE_SET, "x y", &TINY, "S:x,y", KS_ENC_LISTPACK },
		{ RDB_TYPE_SET, "x y z", &TINY, "S:x,y,z", KS_ENC_LISTPACK },
		{ RDB_TYPE_SET, "w x y z", &TINY, "S:w,x,y,z", KS_ENC_HASHTABLE },
		{ RDB_TYPE_SET, "1 2 toolongmember", &TINY, "S:1,2,toolongmember", KS_ENC_HASHTABLE },
		{ RDB_TYPE_SET, "1 007", &DEF, "S:007,1", KS_ENC_LISTPACK },
		{ RDB_TYPE_HASH, "f v g 1", &DEF, "h:f=v,g=1", KS_ENC_LISTPACK },
		{ RDB_TYPE_HASH, "f v g 1 h 2", &TINY, "h:f=v,g=1,h=2", KS_ENC_HASHTABLE },
		{ RDB_TYPE_HASH, "f longvalue", &TINY, "h:f=longvalue", KS_ENC_HASHTABLE },
		{ RDB_TYPE_ZSET, "b 2 a 1 c inf d -inf", &DEF, "z:d=-inf,a=1,b=2,c=inf",
		  KS_ENC_LISTPACK },
		{ RDB_TYPE_ZSET, "b 2.5 a 1", &TINY, "z:a=1,b=2.5", KS_ENC_LISTPACK },
		{ RDB_TYPE_ZSET, "b 2.5 a 1 c 0", &TINY, "z:c=0,a=1,b=2.5", KS_ENC_SKIPLIST },
		{ RDB_TYPE_ZSET_2, "b 0.1 a 1e-300", &DEF, "z:a=1e-300,b=0.10000000000000001",
		  KS_ENC_LISTPACK },
		{ RDB_TYPE_ZSET_2, "longmember 1", &TINY, "z:longmember=1", KS_ENC_SKIPLIST },
	};
	struct rbuf body = { 0 };
	int rc;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		body_counted(&body, t[i].rtype, t[i].body);
		struct ks_entry *e = dec(t[i].rtype, body.data, body.len, t[i].lim, &rc);
		cr_assert_eq(rc, 0, "case %zu: %d", i, rc);
		expect_value(e, t[i].want, t[i].enc);
	}
	rbuf_free(&body);
}

/* ===================================================== corrupt inputs */

struct bad_case {
	char name[64];
	int rtype;
	struct rbuf body;
	int want;
};

static struct bad_case bads[128];
static size_t nbad;

static struct rbuf *bad_add(const char *name, int rtype, int want)
{
	cr_assert(nbad < sizeof bads / sizeof bads[0]);
	struct bad_case *c = &bads[nbad++];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->rtype = rtype;
	c->want = want;
	memset(&c->body, 0, sizeof c->body);
	return &c->body;
}

static void bad_raw(const char *name, int rtype, int want, const void *p, size_t n)
{
	rbuf_append(bad_add(name, rtype, want), p, n);
}

/* A blob type's body: the blob as one RDB string. */
static void bad_blob(const char *name, int rtype, int want, const void *p, size_t n)
{
	rdb_enc_string(bad_add(name, rtype, want), p, n, false);
}

static unsigned char *lp_of(const char *line)
{
	unsigned char *lp = lp_new();
	for (const char **w = words(line); *w; w++)
		lp = lp_append(lp, *w, strlen(*w));
	return lp;
}

static void bad_lp(const char *name, int rtype, const char *line)
{
	unsigned char *lp = lp_of(line);
	bad_blob(name, rtype, -EINVAL, lp, lp_bytes(lp));
	lp_free(lp);
}

static void bad_intset(const char *name, int want, uint32_t width, uint32_t len,
		       const int64_t *v, size_t nv, size_t extra)
{
	uint8_t buf[64] = { 0 };
	size_t n = 8;
	for (int k = 0; k < 4; k++) {
		buf[k] = (uint8_t)(width >> (8 * k));
		buf[4 + k] = (uint8_t)(len >> (8 * k));
	}
	for (size_t i = 0; i < nv; i++)
		for (uint32_t k = 0; k < width; k++)
			buf[n++] = (uint8_t)((uint64_t)v[i] >> (8 * k));
	bad_blob(name, RDB_TYPE_SET_INTSET, want, buf, n + extra);
}

static void build_bad_cases(void)
{
	static const char *const zl3[] = { "a", "bb", "12" };
	struct rbuf zl = { 0 };
	nbad = 0;

	/* lengths and strings */
	bad_raw("64-bit length marker only", RDB_TYPE_LIST, -EINVAL, "\x81\x00", 2);
	bad_raw("reserved length form 0x82", RDB_TYPE_LIST, -EINVAL, "\x82", 1);
	bad_raw("encoded length as a count", RDB_TYPE_LIST, -EINVAL, "\xc0\x01", 2);
	bad_raw("unknown string encoding", RDB_TYPE_STRING, -EINVAL, "\xc4", 1);
	bad_raw("int8 cut", RDB_TYPE_STRING, -EINVAL, "\xc0", 1);
	bad_raw("string cut", RDB_TYPE_STRING, -EINVAL, "\x05" "abc", 4);
	bad_raw("huge string length", RDB_TYPE_STRING, -EINVAL,
		"\x81\x7f\xff\xff\xff\xff\xff\xff\xff", 9);
	bad_raw("lzf to 0 bytes", RDB_TYPE_STRING, -EINVAL, "\xc3\x01\x00\x00", 4);
	bad_raw("lzf from 0 bytes", RDB_TYPE_STRING, -EINVAL, "\xc3\x00\x05", 3);
	bad_raw("lzf claims 256 MB from 1 byte", RDB_TYPE_STRING, -EINVAL,
		"\xc3\x01\x80\x10\x00\x00\x00\x00", 8);
	bad_raw("lzf reference before start", RDB_TYPE_STRING, -EINVAL, "\xc3\x02\x05\x20\x00", 5);
	bad_raw("lzf short output", RDB_TYPE_STRING, -EINVAL, "\xc3\x02\x05\x00" "a", 5);
	bad_raw("lzf data cut", RDB_TYPE_STRING, -EINVAL, "\xc3\x09\x05\x00" "a", 5);
	/* types */
	bad_raw("type 8", 8, -EINVAL, "\x00", 1);
	bad_raw("type 22", 22, -EINVAL, "\x00", 1);
	bad_raw("type 200", 200, -EINVAL, "\x00", 1);
	bad_raw("module", RDB_TYPE_MODULE, -ENOTSUP, "\x00", 1);
	bad_raw("module 2", RDB_TYPE_MODULE_2, -ENOTSUP, "\x00", 1);
	bad_raw("stream", RDB_TYPE_STREAM_LISTPACKS, -ENOTSUP, "\x00", 1);
	bad_raw("stream 2", RDB_TYPE_STREAM_LISTPACKS_2, -ENOTSUP, "\x00", 1);
	bad_raw("stream 3", RDB_TYPE_STREAM_LISTPACKS_3, -ENOTSUP, "\x00", 1);
	/* empty collections */
	static const int counted[] = { RDB_TYPE_LIST, RDB_TYPE_SET, RDB_TYPE_ZSET, RDB_TYPE_HASH,
		RDB_TYPE_ZSET_2, RDB_TYPE_LIST_QUICKLIST, RDB_TYPE_LIST_QUICKLIST_2 };
	for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++)
		bad_raw("count 0", counted[i], -ENODATA, "\x00", 1);
	bad_raw("count says 2, one element", RDB_TYPE_LIST, -EINVAL, "\x02\x01" "a", 3);
	/* duplicates and scores */
	bad_raw("set member twice", RDB_TYPE_SET, -EINVAL, "\x02\x01" "a\x01" "a", 5);
	bad_raw("intset-candidate member twice", RDB_TYPE_SET, -EINVAL, "\x02\xc0\x05\x01" "5", 5);
	bad_raw("hash field twice", RDB_TYPE_HASH, -EINVAL, "\x02\x01" "f\x01" "1\x01" "f\x01" "2", 9);
	bad_raw("zset member twice", RDB_TYPE_ZSET, -EINVAL, "\x02\x01" "a\x01" "1\x01" "a\x01" "2", 9);
	bad_raw("zset NaN (253)", RDB_TYPE_ZSET, -EINVAL, "\x01\x01" "a\xfd", 4);
	bad_raw("zset score text nan", RDB_TYPE_ZSET, -EINVAL, "\x01\x01" "a\x03" "nan", 7);
	bad_raw("zset score not a number", RDB_TYPE_ZSET, -EINVAL, "\x01\x01" "a\x03" "abc", 7);
	bad_raw("zset score cut", RDB_TYPE_ZSET, -EINVAL, "\x01\x01" "a\x03" "1", 5);
	bad_raw("zset2 NaN", RDB_TYPE_ZSET_2, -EINVAL,
		"\x01\x01" "a\x00\x00\x00\x00\x00\x00\xf8\x7f", 11);
	bad_raw("zset2 score cut", RDB_TYPE_ZSET_2, -EINVAL, "\x01\x01" "a\x00\x00\x00", 6);
	/* quicklist 2 */
	bad_raw("container 3", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL, "\x01\x03\x01" "a", 4);
	bad_raw("container 0", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL, "\x01\x00\x01" "a", 4);
	bad_raw("packed node of 0 bytes", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL, "\x01\x02\x00", 3);
	bad_raw("plain node of 0 bytes", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL, "\x01\x01\x00", 3);
	bad_raw("only an empty listpack", RDB_TYPE_LIST_QUICKLIST_2, -ENODATA,
		"\x01\x02\x07\x07\x00\x00\x00\x00\x00\xff", 10);
	bad_raw("node not a listpack", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL,
		"\x01\x02\x07\x08\x00\x00\x00\x00\x00\xff", 10);
	bad_raw("listpack valid (control)", RDB_TYPE_LIST_QUICKLIST_2, 0,
		"\x01\x02\x0a\x0a\x00\x00\x00\x01\x00\x81" "a" "\x02\xff", 13);
	bad_raw("listpack count wrong", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL,
		"\x01\x02\x0a\x0a\x00\x00\x00\x02\x00\x81" "a" "\x02\xff", 13);
	bad_raw("listpack backlen wrong", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL,
		"\x01\x02\x0a\x0a\x00\x00\x00\x01\x00\x81" "a" "\x03\xff", 13);
	bad_raw("listpack no end byte", RDB_TYPE_LIST_QUICKLIST_2, -EINVAL,
		"\x01\x02\x0a\x0a\x00\x00\x00\x01\x00\x81" "a" "\x02\xfe", 13);
	/* listpack blobs */
	bad_lp("hash listpack, odd count", RDB_TYPE_HASH_LISTPACK, "f v g");
	bad_lp("hash listpack, field twice", RDB_TYPE_HASH_LISTPACK, "f 1 g 2 f 3");
	bad_lp("hash listpack, int field twice", RDB_TYPE_HASH_LISTPACK, "12 1 12 3");
	bad_lp("zset listpack, unsorted", RDB_TYPE_ZSET_LISTPACK, "a 2 b 1");
	bad_lp("zset listpack, same score unsorted", RDB_TYPE_ZSET_LISTPACK, "b 1 a 1");
	bad_lp("zset listpack, member twice", RDB_TYPE_ZSET_LISTPACK, "a 1 a 2");
	bad_lp("zset listpack, score text", RDB_TYPE_ZSET_LISTPACK, "a x");
	bad_lp("zset listpack, NaN", RDB_TYPE_ZSET_LISTPACK, "a nan");
	bad_lp("zset listpack, odd count", RDB_TYPE_ZSET_LISTPACK, "a 1 b");
	bad_lp("set listpack, member twice", RDB_TYPE_SET_LISTPACK, "a b a");
	bad_lp("set listpack, int member twice", RDB_TYPE_SET_LISTPACK, "7 b 7");
	bad_blob("empty hash listpack", RDB_TYPE_HASH_LISTPACK, -ENODATA,
		 "\x07\x00\x00\x00\x00\x00\xff", 7);
	bad_blob("empty zset listpack", RDB_TYPE_ZSET_LISTPACK, -ENODATA,
		 "\x07\x00\x00\x00\x00\x00\xff", 7);
	bad_blob("empty set listpack", RDB_TYPE_SET_LISTPACK, -ENODATA,
		 "\x07\x00\x00\x00\x00\x00\xff", 7);
	bad_blob("short listpack", RDB_TYPE_HASH_LISTPACK, -EINVAL, "\x06\x00\x00\x00\x00\x00", 6);
	/* intsets */
	static const int64_t up[] = { 3, 5 }, down[] = { 5, 3 }, same[] = { 3, 3 };
	bad_intset("intset unsorted", -EINVAL, 2, 2, down, 2, 0);
	bad_intset("intset duplicate", -EINVAL, 4, 2, same, 2, 0);
	bad_intset("intset width 3", -EINVAL, 3, 2, up, 2, 0);
	bad_intset("intset width 0", -EINVAL, 0, 0, up, 0, 0);
	bad_intset("intset longer than said", -EINVAL, 2, 1, up, 2, 0);
	bad_intset("intset shorter than said", -EINVAL, 8, 3, up, 2, 0);
	bad_intset("intset trailing byte", -EINVAL, 2, 2, up, 2, 1);
	bad_intset("intset empty", -ENODATA, 2, 0, up, 0, 0);
	bad_blob("intset header cut", RDB_TYPE_SET_INTSET, -EINVAL, "\x02\x00\x00\x00\x01", 5);
	/* ziplists: a valid one, then one defect each */
	zl_build(&zl, zl3, 3, false);
	bad_blob("ziplist valid (control)", RDB_TYPE_LIST_ZIPLIST, 0, zl.data, zl.len);
	const size_t n = zl.len;
	uint8_t z[64];
	cr_assert(n <= sizeof z);
#define ZL_BAD(what, edit)                                                   \
	do {                                                                 \
		memcpy(z, zl.data, n);                                       \
		size_t zn = n;                                               \
		edit;                                                        \
		bad_blob(what, RDB_TYPE_LIST_ZIPLIST, -EINVAL, z, zn);        \
		bad_blob(what, RDB_TYPE_HASH_ZIPLIST, -EINVAL, z, zn);        \
		rdb_enc_len(bad_add(what, RDB_TYPE_LIST_QUICKLIST, -EINVAL), 1);        \
		rdb_enc_string(&bads[nbad - 1].body, z, zn, false);           \
	} while (0)
	ZL_BAD("zlbytes wrong", z[0]++);
	ZL_BAD("zltail wrong", z[4]++);
	ZL_BAD("zltail past the end", z[4] = 0xff);
	ZL_BAD("zllen wrong", z[8] = 4);
	ZL_BAD("no end byte", z[n - 1] = 0xfe);
	ZL_BAD("first prevlen not 0", z[10] = 1);
	ZL_BAD("second prevlen wrong", z[13]++);
	ZL_BAD("bad encoding 0xc1", z[14] = 0xc1);
	ZL_BAD("string past the end", z[11] = 0x3f);
	ZL_BAD("end byte early", (z[13] = 0xff, (void)0));
	ZL_BAD("14-bit length cut", (z[n - 2] = 0x40, z[n - 3] = 1, (void)0));
	ZL_BAD("cut short", (zn = n - 1, z[0]--, (void)0));
	ZL_BAD("only a header", (zn = 10, z[0] = 10, (void)0));
#undef ZL_BAD
	/* zipmaps */
	static const char *const kv[] = { "k", "v", "key2", "value2" };
	zm_build(&zl, kv, 4);
	bad_blob("zipmap valid (control)", RDB_TYPE_HASH_ZIPMAP, 0, zl.data, zl.len);
	memcpy(z, zl.data, zl.len);
	z[0] = 3;
	bad_blob("zipmap count wrong", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len);
	z[0] = 2;
	bad_blob("zipmap no end byte", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len - 1);
	z[1] = 200;
	bad_blob("zipmap key past the end", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len);
	z[1] = 1;
	z[3] = 250;
	bad_blob("zipmap value past the end", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len);
	z[3] = 1;
	z[4] = 200;
	bad_blob("zipmap free past the end", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len);
	z[4] = 2;
	z[1] = 255;
	bad_blob("zipmap 255 as a length", RDB_TYPE_HASH_ZIPMAP, -EINVAL, z, zl.len);
	bad_blob("zipmap too short", RDB_TYPE_HASH_ZIPMAP, -EINVAL, "\x00", 1);
	rbuf_free(&zl);
}

RDB_TEST(corrupt_inputs_table)
{
	build_bad_cases();
	for (size_t i = 0; i < nbad; i++) {
		int rc;
		struct ks_entry *e = dec(bads[i].rtype, bads[i].body.data, bads[i].body.len, &DEF, &rc);
		cr_assert_eq(rc, bads[i].want, "%s: got %d, want %d", bads[i].name, rc, bads[i].want);
		if (bads[i].want == 0) {        /* a control: the defects' base */
			cr_assert(e);
			rbuf_free(&bads[i].body);
			continue;
		}
		cr_assert_null(e, "%s: decoded", bads[i].name);
		/* The same inside a DUMP payload with a valid CRC. */
		struct rbuf p = { 0 };
		mk_payload(&p, (uint8_t)bads[i].rtype, bads[i].body.data, bads[i].body.len, 10);
		cr_assert_null(restore(p.data, p.len, &DEF, &rc), "%s", bads[i].name);
		cr_assert_neq(rc, 0);
		rbuf_free(&p);
		rbuf_free(&bads[i].body);
	}
}

/* ============================================= truncations, flips, fuzz */

/* Every strict prefix of a value is refused; every single-bit flip of it
 * and of its DUMP payload either is refused or decodes to something that
 * re-encodes to the same contents (rdb_fuzz_one asserts that). */
static void sweep(int rtype, const uint8_t *body, size_t n, bool flips)
{
	uint8_t *buf = malloc(n + 2);
	struct rdb_obj o;
	size_t used;
	for (size_t k = 0; k < n; k++) {
		/* a fresh allocation of exactly k: ASan sees any over-read */
		uint8_t *cut = malloc(k ? k : 1);
		memcpy(cut, body, k);
		int rc = rdb_dec_value(rtype, cut, k, &used, &DEF, &o);
		cr_assert_neq(rc, 0, "type %d: prefix of %zu/%zu bytes decoded", rtype, k, n);
		free(cut);
	}
	if (flips) {
		for (size_t i = 0; i < n; i++)
			for (int bit = 0; bit < 8; bit++) {
				buf[0] = (uint8_t)((bit & 1) ? 1 : 0);
				buf[1] = (uint8_t)rtype;
				memcpy(buf + 2, body, n);
				buf[2 + i] ^= (uint8_t)(1u << bit);
				rdb_fuzz_one(buf, n + 2);
			}
	}
	free(buf);
}

RDB_TEST(truncations_and_bit_flips)
{
	for (size_t i = 0; i < NGOLDEN; i++)
		sweep(goldens[i].p[0], goldens[i].p + 1, goldens[i].n - 11, true);
	/* Our own payloads of every shape, including legacy ones. */
	struct obj_hash_lim hl = DEF.hash;
	struct obj_set_lim sl = DEF.set;
	struct obj_zset_lim zl = DEF.zset;
	struct obj_zset_lim zsmall = { .max_entries = 4, .max_value = 64 };
	(void)zl;
	struct ks_entry *es[] = {
		mk_list_gen("q", 4, 13, 3), mk_hash_gen("h", &hl, 5, 70), mk_set_gen("s", &sl, 9, false, 0, 0),
		mk_zset_gen("z", &zsmall, 12), mk_list_gen("lplain", -1, 2, 5000),
	};
	cr_assert_eq(es[3]->enc, KS_ENC_SKIPLIST);
	for (size_t i = 0; i < sizeof es / sizeof es[0]; i++) {
		struct rbuf b = { 0 };
		struct rdb_wopts o = { .compress = true };
		cr_assert_eq(rdb_enc_value(&b, es[i], &o), 0);
		sweep(rdb_value_type(es[i], &o), (uint8_t *)b.data, b.len, b.len < 1500);
		rbuf_free(&b);
	}
	static const char *const el[] = { "a", "12", "-70000", "bb", "5000000000", "x", "1" };
	struct rbuf z = { 0 }, body = { 0 };
	zl_build(&z, el, 6, false);
	rdb_enc_string(&body, z.data, z.len, false);
	sweep(RDB_TYPE_LIST_ZIPLIST, (uint8_t *)body.data, body.len, true);
	sweep(RDB_TYPE_HASH_ZIPLIST, (uint8_t *)body.data, body.len, true);
	sweep(RDB_TYPE_ZSET_ZIPLIST, (uint8_t *)body.data, body.len, true);
	zm_build(&z, el, 6);
	body.len = 0;
	rdb_enc_string(&body, z.data, z.len, false);
	sweep(RDB_TYPE_HASH_ZIPMAP, (uint8_t *)body.data, body.len, true);
	body_counted(&body, RDB_TYPE_ZSET, "a 1 b 2.5 c inf");
	sweep(RDB_TYPE_ZSET, (uint8_t *)body.data, body.len, true);
	body_counted(&body, RDB_TYPE_HASH, "a 1 b 2.5 c inf");
	sweep(RDB_TYPE_HASH, (uint8_t *)body.data, body.len, true);
	rbuf_free(&z);
	rbuf_free(&body);
}

/* Random mutations (flip, set, insert, delete, splice) of valid inputs
 * through every rdb_fuzz_one target: no crash, no sanitizer report, and
 * whatever decodes must re-encode to the same contents. */
RDB_TEST(fuzz_mutations)
{
	struct rbuf seeds[NGOLDEN + 2];
	memset(seeds, 0, sizeof seeds);
	for (size_t i = 0; i < NGOLDEN; i++)
		rbuf_append(&seeds[i], goldens[i].p, goldens[i].n);
	rbuf_append(&seeds[NGOLDEN], g_file + 9, sizeof g_file - 9);
	static const char *const el[] = { "a", "12", "-70000", "bb", "5000000000", "x" };
	struct rbuf z = { 0 };
	zl_build(&z, el, 6, false);
	uint8_t t = RDB_TYPE_LIST_ZIPLIST;
	rbuf_append(&seeds[NGOLDEN + 1], &t, 1);
	rdb_enc_string(&seeds[NGOLDEN + 1], z.data, z.len, false);
	rbuf_free(&z);

	uint8_t *buf = malloc(8192);
	unsigned long decoded = 0;
	for (int iter = 0; iter < 40000; iter++) {
		const struct rbuf *s = &seeds[rnd64() % (NGOLDEN + 2)];
		size_t n = s->len;
		unsigned target = (unsigned)(rnd64() % 16);
		/* target (rdb_fuzz_one's first byte): 0/1 value (default / tiny
		 * limits, type from the seed's first byte), 2 DUMP payload, 3
		 * file body, with tiny limits (4) and skipped keys (8) */
		buf[0] = (uint8_t)(target < 3 ? target : 3 | (target & 12));
		memcpy(buf + 1, s->data, n);
		n++;
		int muts = 1 + (int)(rnd64() % 4);
		for (int m = 0; m < muts && n > 2; m++) {
			size_t at = 1 + (size_t)(rnd64() % (n - 1));
			switch (rnd64() % 5) {
			case 0: buf[at] ^= (uint8_t)(1u << (rnd64() % 8)); break;
			case 1: buf[at] = (uint8_t)rnd64(); break;
			case 2:
				if (n < 8000) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (uint8_t)rnd64();
					n++;
				}
				break;
			case 3:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default:
				n = at + 1;         /* truncate */
				break;
			}
		}
		if (buf[0] < 2 && n >= 2) {
			struct rdb_obj o;
			size_t used;
			if (rdb_dec_value(buf[1], buf + 2, n - 2, &used, buf[0] ? &TINY : &DEF, &o) == 0) {
				decoded++;
				rdb_obj_free(&o);
			}
		}
		rdb_fuzz_one(buf, n);
	}
	/* The mutations must leave enough valid inputs to test re-encoding. */
	cr_assert_gt(decoded, 1000, "only %lu mutated values decoded", decoded);
	free(buf);
	for (size_t i = 0; i < NGOLDEN + 2; i++)
		rbuf_free(&seeds[i]);
}

/* =============================================================== files */

struct loaded {
	struct ks_space *ks;
	int nkeys;
	int stop_at;                 /* key callback returns stop_rc at this key */
	int stop_rc;
	struct sb aux;
	struct sb funcs;
	uint64_t resize_keys[4], resize_exp[4];
	long long last_idle;
	int last_freq;
};

static int ld_key(void *arg, struct rdb_key *k)
{
	struct loaded *l = arg;
	cr_assert(k->db >= 0 && k->db < l->ks->ndb, "db %d", k->db);
	struct ks_db *d = &l->ks->db[k->db];
	cr_assert_null(ks_find_raw(d, k->key, k->klen), "key twice");
	struct ks_entry *e = rdb_obj_store(d, k->key, k->klen, &k->obj);
	if (k->expire_ms != KS_NO_EXPIRE)
		ks_set_expire(d, e, k->expire_ms);
	l->last_idle = k->idle_s;
	l->last_freq = k->freq;
	if (++l->nkeys == l->stop_at)
		return l->stop_rc;
	return 0;
}

static int ld_aux(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct loaded *l = arg;
	sb_add(&l->aux, n, nl);
	sb_cstr(&l->aux, "=");
	sb_add(&l->aux, v, vl);
	sb_cstr(&l->aux, ";");
	return 0;
}

static int ld_resize(void *arg, int dbi, uint64_t nk, uint64_t ne)
{
	struct loaded *l = arg;
	if (dbi < 4) {
		l->resize_keys[dbi] = nk;
		l->resize_exp[dbi] = ne;
	}
	return 0;
}

static int ld_func(void *arg, const char *code, size_t len)
{
	struct loaded *l = arg;
	sb_add(&l->funcs, code, len);
	return 0;
}

static void ld_init(struct loaded *l)
{
	memset(l, 0, sizeof *l);
	l->ks = ks_space_new(4);
	l->stop_at = -1;
}

static void ld_free(struct loaded *l)
{
	ks_space_free(l->ks);
	free(l->aux.s);
	free(l->funcs.s);
}

static struct rdb_load_cbs ld_cbs(struct loaded *l, bool funcs)
{
	return (struct rdb_load_cbs){ .key = ld_key, .aux = ld_aux, .resizedb = ld_resize,
				      .function = funcs ? ld_func : NULL, .arg = l };
}

/* Feed f in chunks of `chunk` bytes: the return of the last feed. */
static int feed_chunks(struct rdb_reader *r, const void *f, size_t n, size_t chunk)
{
	const uint8_t *p = f;
	int rc = 0;
	for (size_t off = 0; off < n && rc == 0; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk, used;
		rc = rdb_reader_feed(r, p + off, k, &used);
		if (rc == 1)
			cr_assert_eq(off + used, n, "file ends at %zu, not %zu", off + used, n);
	}
	return rc;
}

static void populate(void)
{
	struct obj_hash_lim hl = DEF.hash;
	struct obj_set_lim sl = DEF.set;
	struct obj_zset_lim zl = DEF.zset;
	mk_str("str", "hello-value", 11);
	mk_str("num", "42", 2);
	ks_set_expire(db, mk_str("volatile", "v", 1), 4102444800123LL);
	mk_list("list", -2, "a b c 7");
	mk_list_gen("quick", -2, 3000, 30);
	mk_hash("hash", &hl, "f v n 5");
	mk_hash_gen("hbig", &hl, 300, 8);
	mk_set("iset", &sl, "3 1 2");
	mk_set("lset", &sl, "x y 1");
	mk_set_gen("hset", &sl, 200, false, 0, 0);
	mk_zset("zs", &zl, "a 1 b 2");
	ks_set_expire(db, mk_zset_gen("zbig", &zl, 300), 4102444800000LL);
	struct ks_db *save = db;
	db = &ks->db[3];
	mk_str("in3", "three", 5);
	mk_list("l3", -2, "x");
	db = save;
}

struct wr_ctx {
	struct rdb_writer *w;
	int rc;
};

static void wr_one(void *arg, struct ks_entry *e)
{
	struct wr_ctx *x = arg;
	if (x->rc == 0)
		x->rc = rdb_writer_key(x->w, e);
}

static void write_space(struct rdb_writer *w, struct ks_space *sp, const struct rdb_aux *aux)
{
	cr_assert_eq(rdb_writer_begin(w, aux), 0);
	for (int i = 0; i < sp->ndb; i++) {
		if (ks_size(&sp->db[i]) == 0)
			continue;
		cr_assert_eq(rdb_writer_selectdb(w, i, ks_size(&sp->db[i]), ks_nexpires(&sp->db[i])), 0);
		struct wr_ctx x = { w, 0 };
		ks_foreach(&sp->db[i], wr_one, &x);
		cr_assert_eq(x.rc, 0);
	}
	cr_assert_eq(rdb_writer_end(w), 0);
}

struct cmp_ctx {
	struct ks_db *other;
	size_t n;
};

static void cmp_one(void *arg, struct ks_entry *e)
{
	struct cmp_ctx *x = arg;
	struct ks_entry *o = ks_find_raw(x->other, e->key, e->klen);
	cr_assert(o, "key %s missing", e->key);
	char *a = render_entry(e), *b = render_entry(o);
	cr_assert_str_eq(a, b, "key %s", e->key);
	cr_assert_eq(e->expire_ms, o->expire_ms, "key %s expiry", e->key);
	cr_assert_eq(e->enc, o->enc, "key %s encoding", e->key);
	free(a);
	free(b);
	x->n++;
}

static void expect_same_space(struct ks_space *a, struct ks_space *b)
{
	for (int i = 0; i < a->ndb; i++) {
		struct cmp_ctx x = { &b->db[i], 0 };
		ks_foreach(&a->db[i], cmp_one, &x);
		cr_assert_eq(x.n, ks_size(&b->db[i]), "db %d sizes", i);
	}
}

RDB_TEST(file_roundtrip_in_chunks)
{
	populate();
	for (int cz = 0; cz < 2; cz++) {
		struct rbuf f = { 0 };
		struct rdb_writer w;
		struct rdb_wopts o = { .compress = cz };
		struct rdb_aux aux = { .ctime_s = 1700000000, .used_mem = 123456,
				       .repl_id = "0123456789abcdef0123456789abcdef01234567",
				       .repl_offset = 987654321, .repl_stream_db = 0 };
		rdb_writer_init(&w, rdb_sink_rbuf, &f, &o, true);
		write_space(&w, ks, &aux);
		cr_assert_eq(w.bytes, f.len);
		rdb_writer_destroy(&w);
		cr_assert_arr_eq(f.data, "REDIS0010", 9);
		cr_assert_eq((uint8_t)f.data[f.len - 9], RDB_OP_EOF);

		static const size_t chunks[] = { 1, 2, 7, 100, 4096, 1u << 30 };
		for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			struct loaded l;
			ld_init(&l);
			struct rdb_load_cbs cbs = ld_cbs(&l, false);
			struct rdb_load_opts lo = { .ndb = 4, .check_crc = true };
			struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
			int rc = feed_chunks(r, f.data, f.len, chunks[c]);
			cr_assert_eq(rc, 1, "chunk %zu: %d %s", chunks[c], rc, rdb_reader_error(r));
			cr_assert_eq(rdb_reader_finish(r), 0);
			cr_assert_eq(rdb_reader_feed(r, "x", 1, NULL), 1);
			const struct rdb_load_info *info = rdb_reader_info(r);
			cr_assert_eq(info->version, 10);
			cr_assert_eq(info->keys, 14);
			cr_assert_eq(info->bytes, f.len);
			expect_same_space(ks, l.ks);
			cr_assert_str_eq(l.aux.s,
				"redis-ver=7.0.0;redis-bits=64;ctime=1700000000;used-mem=123456;"
				"repl-stream-db=0;repl-id=0123456789abcdef0123456789abcdef01234567;"
				"repl-offset=987654321;aof-base=0;");
			cr_assert_eq(l.resize_keys[0], 12);
			cr_assert_eq(l.resize_exp[0], 2);
			cr_assert_eq(l.resize_keys[3], 2);
			rdb_reader_free(r);
			ld_free(&l);
		}
		/* The file followed by other bytes (a replication stream):
		 * used says where it ended. */
		struct rdb_load_cbs cbs;
		struct loaded l;
		ld_init(&l);
		cbs = ld_cbs(&l, false);
		struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, NULL);
		size_t used;
		cr_assert_eq(rdb_reader_feed(r, f.data, f.len - 20, &used), 0);
		cr_assert_eq(used, f.len - 20);
		rbuf_append(&f, "*1\r\n$4\r\nPING\r\n", 14);
		cr_assert_eq(rdb_reader_feed(r, f.data + f.len - 34, 34, &used), 1);
		cr_assert_eq(used, 20);
		rdb_reader_free(r);
		ld_free(&l);
		rbuf_free(&f);
	}
}

RDB_TEST(file_checksum)
{
	populate();
	struct rbuf f = { 0 };
	struct rdb_writer w;
	struct rdb_wopts o = { .compress = false };
	rdb_writer_init(&w, rdb_sink_rbuf, &f, &o, true);
	write_space(&w, ks, NULL);
	rdb_writer_destroy(&w);
	char *hit = memmem(f.data, f.len, "hello-value", 11);
	cr_assert(hit);
	hit[3] ^= 0x20;                 /* contents only: structure intact */
	for (int check = 0; check < 2; check++) {
		struct loaded l;
		ld_init(&l);
		struct rdb_load_cbs cbs = ld_cbs(&l, false);
		struct rdb_load_opts lo = { .check_crc = check };
		struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
		int rc = feed_chunks(r, f.data, f.len, 333);
		if (check) {
			cr_assert_eq(rc, -EINVAL);
			cr_assert(strstr(rdb_reader_error(r), "checksum"), "%s", rdb_reader_error(r));
		} else {
			cr_assert_eq(rc, 1);
		}
		rdb_reader_free(r);
		ld_free(&l);
	}
	/* rdbchecksum no: a zero CRC, accepted even when checking. */
	f.len = 0;
	rdb_writer_init(&w, rdb_sink_rbuf, &f, &o, false);
	write_space(&w, ks, NULL);
	rdb_writer_destroy(&w);
	cr_assert_arr_eq(f.data + f.len - 8, "\0\0\0\0\0\0\0\0", 8);
	struct loaded l;
	ld_init(&l);
	struct rdb_load_cbs cbs = ld_cbs(&l, false);
	struct rdb_load_opts lo = { .check_crc = true };
	struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
	cr_assert_eq(feed_chunks(r, f.data, f.len, f.len), 1);
	expect_same_space(ks, l.ks);
	rdb_reader_free(r);
	ld_free(&l);
	rbuf_free(&f);
}

/* dump.rdb as redis-server 7.0.15 wrote it. */
RDB_TEST(file_golden_redis)
{
	static const size_t chunks[] = { 1, 5, 64, sizeof g_file };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct loaded l;
		ld_init(&l);
		struct rdb_load_cbs cbs = ld_cbs(&l, false);
		struct rdb_load_opts lo = { .ndb = 16, .check_crc = true };
		struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
		cr_assert_eq(feed_chunks(r, g_file, sizeof g_file, chunks[c]), 1, "%s",
			     rdb_reader_error(r));
		cr_assert(strstr(l.aux.s, "redis-ver=7.0.15;redis-bits=64;"), "%s", l.aux.s);
		cr_assert(strstr(l.aux.s, "aof-base=0;"), "%s", l.aux.s);
		struct ks_db *d0 = &l.ks->db[0], *d2 = &l.ks->db[2];
		cr_assert_eq(ks_size(d0), 8);
		static const struct {
			const char *key, *want;
			uint8_t enc;
		} want[] = {
			{ "str", "s:hello", KS_ENC_EMBSTR }, { "num", "s:42", KS_ENC_INT },
			{ "list", "l:a,b,c,7", KS_ENC_LISTPACK }, { "hash", "h:f=v,n=5", KS_ENC_LISTPACK },
			{ "iset", "S:1,2,3", KS_ENC_INTSET }, { "sset", "S:x,y", KS_ENC_LISTPACK },
			{ "zs", "z:a=1,b=2", KS_ENC_LISTPACK }, { "exp", "s:v", KS_ENC_EMBSTR },
		};
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			expect_value(ks_find_raw(d0, want[i].key, strlen(want[i].key)), want[i].want,
				     want[i].enc);
		cr_assert_eq(ks_find_raw(d0, "exp", 3)->expire_ms, 4102444800000LL);
		cr_assert_eq(ks_find_raw(d0, "str", 3)->expire_ms, KS_NO_EXPIRE);
		expect_value(ks_find_raw(d2, "db2key", 6), "s:inDb2", KS_ENC_EMBSTR);
		cr_assert_eq(l.resize_keys[0], 8);
		cr_assert_eq(l.resize_exp[0], 1);
		rdb_reader_free(r);
		ld_free(&l);
	}
}

/* A hand-made file: magic, then body, EOF and (version >= 5) the CRC. */
static void mk_file(struct rbuf *f, const char *magic, const void *body, size_t n, bool crc)
{
	f->len = 0;
	rbuf_append(f, magic, 9);
	rbuf_append(f, body, n);
	uint8_t eof = RDB_OP_EOF, c[8];
	rbuf_append(f, &eof, 1);
	if (crc) {
		put_le64(c, rdb_crc64(0, f->data, f->len));
		rbuf_append(f, c, 8);
	}
}

static int load_buf(const void *p, size_t n, struct loaded *l, const struct rdb_load_opts *lo,
		    char *err, size_t errlen, bool funcs)
{
	struct rdb_load_cbs cbs = ld_cbs(l, funcs);
	struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, lo);
	int rc = feed_chunks(r, p, n, 3);
	if (rc == 0)
		rc = rdb_reader_finish(r);
	else if (rc == 1)
		rc = 0;
	snprintf(err, errlen, "%s", rdb_reader_error(r));
	rdb_reader_free(r);
	return rc;
}

RDB_TEST(file_opcodes_and_errors)
{
	struct rbuf f = { 0 }, body = { 0 };
	struct loaded l;
	char err[256];
	struct rdb_load_opts lo = { .ndb = 4, .check_crc = true };
	uint8_t op;

	/* Version 4: no CRC; EXPIRETIME in seconds; IDLE and FREQ. */
	static const uint8_t v4[] = {
		RDB_OP_SELECTDB, 1, RDB_OP_EXPIRETIME, 0x00, 0x00, 0x00, 0x70,   /* 0x70000000 s */
		RDB_OP_IDLE, 0x40, 100, 0, 1, 'k', 1, 'v',
		RDB_OP_FREQ, 7, 0, 1, 'j', 1, 'w',
	};
	mk_file(&f, "REDIS0004", v4, sizeof v4, false);
	ld_init(&l);
	cr_assert_eq(load_buf(f.data, f.len, &l, &lo, err, sizeof err, false), 0, "%s", err);
	struct ks_entry *e = ks_find_raw(&l.ks->db[1], "k", 1);
	expect_value(e, "s:v", KS_ENC_EMBSTR);
	cr_assert_eq(e->expire_ms, 0x70000000LL * 1000);
	cr_assert_eq(ks_find_raw(&l.ks->db[1], "j", 1)->expire_ms, KS_NO_EXPIRE);
	cr_assert_eq(l.last_freq, 7);
	cr_assert_eq(l.last_idle, -1);
	ld_free(&l);

	/* Functions: skipped and counted, or handed over; empty keys
	 * skipped; IDLE passed with its key. */
	body.len = 0;
	op = RDB_OP_FUNCTION2;
	rbuf_append(&body, &op, 1);
	rdb_enc_string(&body, "#!lua name=x\nredis.register_function('f', function() end)", 57, false);
	static const uint8_t rest[] = {
		RDB_OP_SELECTDB, 0, RDB_TYPE_LIST_QUICKLIST_2, 1, 'e', 0,       /* empty list */
		RDB_OP_IDLE, 5, RDB_TYPE_STRING, 1, 'k', 1, 'v',
	};
	rbuf_append(&body, rest, sizeof rest);
	mk_file(&f, "REDIS0010", body.data, body.len, true);
	for (int funcs = 0; funcs < 2; funcs++) {
		struct rdb_load_cbs cbs;
		ld_init(&l);
		cbs = ld_cbs(&l, funcs);
		struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
		cr_assert_eq(feed_chunks(r, f.data, f.len, 4), 1, "%s", rdb_reader_error(r));
		const struct rdb_load_info *info = rdb_reader_info(r);
		cr_assert_eq(info->keys, 1);
		cr_assert_eq(info->empty_skipped, 1);
		cr_assert_eq(info->functions_skipped, funcs ? 0 : 1);
		if (funcs)
			cr_assert(l.funcs.s && strstr(l.funcs.s, "register_function"));
		cr_assert_eq(l.last_idle, 5);
		rdb_reader_free(r);
		ld_free(&l);
	}

	/* Failures: each with its reason. */
	static const struct {
		const char *magic;
		const char *body;
		size_t n;
		int want;
		const char *msg;
	} bad[] = {
		{ "REDIX0010", "", 0, -EINVAL, "signature" },
		{ "REDIS0011", "", 0, -ENOTSUP, "version 11" },
		{ "REDIS0000", "", 0, -ENOTSUP, "version 0" },
		{ "REDIS00x9", "", 0, -EINVAL, "version field" },
		{ "REDIS0010", "\xfe\x04", 2, -EINVAL, "database 4" },
		{ "REDIS0010", "\xfe\xc0", 2, -EINVAL, "SELECTDB" },
		{ "REDIS0010", "\x64\x01k\x01v", 5, -EINVAL, "unknown value type 100" },
		{ "REDIS0010", "\x0f\x01k\x00", 4, -ENOTSUP, "type 15" },
		{ "REDIS0010", "\x07\x01k\x00", 4, -ENOTSUP, "type 7" },
		{ "REDIS0010", "\xf7\x00", 2, -ENOTSUP, "module AUX" },
		{ "REDIS0010", "\xf6\x00", 2, -ENOTSUP, "FUNCTION" },
		{ "REDIS0010", "\x02\x01k\x02\x01" "a\x01" "a", 9, -EINVAL, "key 'k'" },
		{ "REDIS0010", "\xfa\x01" "a\xc4", 4, -EINVAL, "AUX" },
		{ "REDIS0010", "\xf8\x82", 2, -EINVAL, "opcode" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mk_file(&f, bad[i].magic, bad[i].body, bad[i].n, true);
		ld_init(&l);
		int rc = load_buf(f.data, f.len, &l, &lo, err, sizeof err, false);
		cr_assert_eq(rc, bad[i].want, "case %zu: %d (%s)", i, rc, err);
		cr_assert(strstr(err, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
		ld_free(&l);
	}

	/* A callback stops the load: its errno, or -ECANCELED. */
	populate();
	struct rdb_writer w;
	rdb_writer_init(&w, rdb_sink_rbuf, &f, NULL, true);
	f.len = 0;
	write_space(&w, ks, NULL);
	rdb_writer_destroy(&w);
	static const int stops[][2] = { { 3, -EIO }, { 1, 1 }, { 14, 7 } };
	for (size_t i = 0; i < 3; i++) {
		ld_init(&l);
		l.stop_at = stops[i][0];
		l.stop_rc = stops[i][1];
		int rc = load_buf(f.data, f.len, &l, &lo, err, sizeof err, false);
		cr_assert_eq(rc, stops[i][1] < 0 ? stops[i][1] : -ECANCELED);
		cr_assert_eq(l.nkeys, stops[i][0]);
		ld_free(&l);
	}

	/* Every truncation of a whole file fails cleanly at finish. */
	for (size_t k = 0; k < f.len; k += 1 + k / 64) {
		ld_init(&l);
		int rc = load_buf(f.data, k, &l, &lo, err, sizeof err, false);
		cr_assert_neq(rc, 0, "%zu of %zu bytes loaded", k, f.len);
		ld_free(&l);
	}
	rbuf_free(&f);
	rbuf_free(&body);
}

/* The shard-side path: keys serialised one at a time into a buffer of
 * their own and passed on as raw bytes (cut anywhere) make the same file;
 * the file goes through a descriptor both ways, and Redis's own checker
 * accepts it. */
static void enc_one(void *arg, struct ks_entry *e)
{
	struct rdb_wopts o = { .compress = true };
	cr_assert_eq(rdb_enc_key(arg, e, &o), 0);
}

RDB_TEST(file_raw_keys_and_fd)
{
	populate();
	struct rdb_aux aux = { .ctime_s = 1, .used_mem = 2 };
	struct rdb_wopts o = { .compress = true };
	struct rbuf a = { 0 }, b = { 0 }, keys = { 0 };
	struct rdb_writer w;

	rdb_writer_init(&w, rdb_sink_rbuf, &a, &o, true);
	write_space(&w, ks, &aux);
	rdb_writer_destroy(&w);

	rdb_writer_init(&w, rdb_sink_rbuf, &b, &o, true);
	cr_assert_eq(rdb_writer_begin(&w, &aux), 0);
	for (int i = 0; i < ks->ndb; i++) {
		if (ks_size(&ks->db[i]) == 0)
			continue;
		cr_assert_eq(rdb_writer_selectdb(&w, i, ks_size(&ks->db[i]), ks_nexpires(&ks->db[i])), 0);
		keys.len = 0;
		ks_foreach(&ks->db[i], enc_one, &keys);
		size_t cut = keys.len / 3;
		cr_assert_eq(rdb_writer_raw(&w, keys.data, cut), 0);
		cr_assert_eq(rdb_writer_raw(&w, keys.data + cut, keys.len - cut), 0);
	}
	cr_assert_eq(rdb_writer_end(&w), 0);
	rdb_writer_destroy(&w);
	cr_assert_eq(a.len, b.len);
	cr_assert_arr_eq(a.data, b.data, a.len);

	char path[] = "/tmp/test_rdb_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	rdb_writer_init(&w, rdb_sink_fd, &fd, &o, true);
	write_space(&w, ks, &aux);
	rdb_writer_destroy(&w);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	struct loaded l;
	ld_init(&l);
	struct rdb_load_cbs cbs = ld_cbs(&l, false);
	struct rdb_load_opts lo = { .ndb = 4, .check_crc = true };
	struct rdb_load_info info;
	char err[256];
	cr_assert_eq(rdb_load_fd(fd, &DEF, &cbs, &lo, &info, err, sizeof err), 0, "%s", err);
	cr_assert_eq(info.keys, 14);
	cr_assert_eq(info.bytes, a.len);
	expect_same_space(ks, l.ks);
	ld_free(&l);

	if (access("/usr/bin/redis-check-rdb", X_OK) == 0) {
		char cmd[128], out[4096];
		snprintf(cmd, sizeof cmd, "/usr/bin/redis-check-rdb %s 2>&1", path);
		FILE *pf = popen(cmd, "r");
		cr_assert(pf);
		size_t got = fread(out, 1, sizeof out - 1, pf);
		out[got] = '\0';
		int st = pclose(pf);
		cr_assert_eq(st, 0, "redis-check-rdb: %s", out);
		cr_assert(strstr(out, "RDB looks OK"), "%s", out);
		cr_assert(strstr(out, "14 keys read"), "%s", out);
	}

	cr_assert_eq(ftruncate(fd, (off_t)a.len - 3), 0);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	ld_init(&l);
	cbs = ld_cbs(&l, false);
	cr_assert_eq(rdb_load_fd(fd, &DEF, &cbs, &lo, &info, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "unexpected end of file"), "%s", err);
	ld_free(&l);
	close(fd);
	unlink(path);
	rbuf_free(&a);
	rbuf_free(&b);
	rbuf_free(&keys);
}

/* A loader that keeps only some keys: the others are stepped over (their
 * bytes still checked by the CRC) and counted. */
static bool want_h_or_db3(void *arg, int dbi, const char *key, size_t klen)
{
	(void)arg;
	return dbi == 3 || (klen > 0 && key[0] == 'h');
}

static void del_unwanted(void *arg, struct ks_entry *e)
{
	struct ks_entry **v = arg;
	if (e->key[0] != 'h') {
		size_t i = 0;
		while (v[i])
			i++;
		v[i] = e;
	}
}

RDB_TEST(file_want_filter)
{
	populate();
	struct rbuf f = { 0 };
	struct rdb_writer w;
	struct rdb_wopts o = { .compress = true };
	rdb_writer_init(&w, rdb_sink_rbuf, &f, &o, true);
	write_space(&w, ks, NULL);
	rdb_writer_destroy(&w);
	/* What should come through: db 0's keys starting with 'h', all of db 3. */
	struct ks_entry *gone[32] = { 0 };
	ks_foreach(db, del_unwanted, gone);
	for (size_t i = 0; gone[i]; i++)
		ks_delete(db, gone[i]);
	cr_assert_eq(ks_size(db), 3);
	static const size_t chunks[] = { 1, 13, 1u << 30 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct loaded l;
		ld_init(&l);
		struct rdb_load_cbs cbs = ld_cbs(&l, false);
		cbs.want = want_h_or_db3;
		struct rdb_load_opts lo = { .ndb = 4, .check_crc = true };
		struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
		cr_assert_eq(feed_chunks(r, f.data, f.len, chunks[c]), 1, "%s", rdb_reader_error(r));
		const struct rdb_load_info *info = rdb_reader_info(r);
		cr_assert_eq(info->keys, 5);
		cr_assert_eq(info->keys_filtered, 9);
		expect_same_space(ks, l.ks);
		rdb_reader_free(r);
		ld_free(&l);
	}
	/* Skipped values are still covered by the CRC. */
	char *hit = memmem(f.data, f.len, "hello-value", 11);   /* key "str": skipped */
	cr_assert(hit);
	hit[1] ^= 1;
	struct loaded l;
	ld_init(&l);
	struct rdb_load_cbs cbs = ld_cbs(&l, false);
	cbs.want = want_h_or_db3;
	struct rdb_load_opts lo = { .ndb = 4, .check_crc = true };
	struct rdb_reader *r = rdb_reader_new(&DEF, &cbs, &lo);
	cr_assert_eq(feed_chunks(r, f.data, f.len, 4096), -EINVAL);
	cr_assert(strstr(rdb_reader_error(r), "checksum"), "%s", rdb_reader_error(r));
	rdb_reader_free(r);
	ld_free(&l);
	rbuf_free(&f);
}
