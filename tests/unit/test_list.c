/* Unit tests for shards/obj_list.c: the list value type in both encodings,
 * Redis 7.2's conversions between them, and a randomized model test.
 *
 * check_list() compares a list element by element with a model array and
 * asserts the quicklist invariants the rest of the server relies on: node
 * counts equal their listpacks' lengths and add up to the list's count,
 * links are consistent both ways, no node is empty, and every non-plain
 * node respects the quicklist's limit (a node may exceed it only when it
 * was adopted whole from a listpack, which itself was within the limit
 * before the push that converted it). The model test runs every operation
 * of the API against an array over several fills. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/obj_list.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define LEAK_CHECK() true
#endif

/* A list under test: what a ks_entry would hold. */
struct tl {
	void *ptr;
	uint8_t enc;
};

static void tl_init(struct tl *l)
{
	l->ptr = obj_list_new(&l->enc);
	cr_assert_eq(l->enc, KS_ENC_LISTPACK);
}

static void tl_free(struct tl *l)
{
	obj_list_free(l->ptr, l->enc);
	l->ptr = NULL;
}

/* A model: an array of NUL-terminated strings. */
struct model {
	char **v;
	size_t n, cap;
};

static void m_insert(struct model *m, size_t at, const char *s, size_t len)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		cr_assert_not_null(m->v);
	}
	memmove(m->v + at + 1, m->v + at, (m->n - at) * sizeof(*m->v));
	m->v[at] = strndup(s, len);
	m->n++;
}

static void m_delete(struct model *m, size_t at, size_t cnt)
{
	for (size_t i = at; i < at + cnt; i++)
		free(m->v[i]);
	memmove(m->v + at, m->v + at + cnt, (m->n - at - cnt) * sizeof(*m->v));
	m->n -= cnt;
}

static void m_free(struct model *m)
{
	m_delete(m, 0, m->n);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Element bytes into buf as a C string (elements here have no NULs). */
static const char *el_text(const struct obj_list_elem *el, char *buf, size_t cap)
{
	unsigned char num[OBJ_LIST_NUMBUF];
	size_t len;
	const unsigned char *s = obj_list_elem_str(el, num, &len);
	cr_assert(len < cap);
	memcpy(buf, s, len);
	buf[len] = 0;
	return buf;
}

static void check_ql(const struct obj_ql *ql)
{
	unsigned long count = 0, len = 0;
	const struct obj_ql_node *prev = NULL;
	for (const struct obj_ql_node *n = ql->head; n; n = n->next) {
		cr_assert_eq(n->prev, prev, "broken prev link");
		cr_assert_gt(n->count, 0, "empty node");
		cr_assert_eq(n->count, lp_len(n->lp), "node count %u != lp_len %lu", n->count,
			     lp_len(n->lp));
		if (n->plain) {
			cr_assert_eq(n->count, 1, "plain node with %u elements", n->count);
		} else {
			/* Within the limit, but for the per-entry header bytes a
			 * listpack adopted whole may carry (the batch rule). */
			size_t bytes = lp_bytes(n->lp), slack = 8ul * n->count;
			cr_assert_not(obj_list_exceeds(ql->fill, bytes > slack ? bytes - slack : 0,
						       n->count),
				      "node of %zu bytes / %u entries over fill %d", bytes, n->count,
				      ql->fill);
		}
		count += n->count;
		len++;
		prev = n;
	}
	cr_assert_eq(ql->tail, prev, "tail is not the last node");
	cr_assert_eq(ql->count, count, "count %lu, nodes hold %lu", ql->count, count);
	cr_assert_eq(ql->len, len, "len %lu, %lu nodes linked", ql->len, len);
}

static void check_list(const struct tl *l, const struct model *m)
{
	char buf[16384];
	cr_assert_eq(obj_list_len(l->ptr, l->enc), m->n, "len %lu, model %zu",
		     obj_list_len(l->ptr, l->enc), m->n);
	if (l->enc == KS_ENC_QUICKLIST)
		check_ql(l->ptr);
	else
		cr_assert_eq(l->enc, KS_ENC_LISTPACK);
	struct obj_list_iter it;
	struct obj_list_elem el;
	size_t i = 0;
	obj_list_iter_init(&it, l->ptr, l->enc, 0, true);
	while (obj_list_iter_next(&it, &el)) {
		cr_assert_lt(i, m->n);
		cr_assert_str_eq(el_text(&el, buf, sizeof(buf)), m->v[i], "element %zu (%s)", i,
				 l->enc == KS_ENC_QUICKLIST ? "quicklist" : "listpack");
		cr_assert(obj_list_elem_eq(&el, m->v[i], strlen(m->v[i])));
		i++;
	}
	cr_assert_eq(i, m->n, "forward iteration gave %zu of %zu", i, m->n);
	obj_list_iter_init(&it, l->ptr, l->enc, -1, false);
	while (obj_list_iter_next(&it, &el)) {
		cr_assert_gt(i, 0);
		i--;
		cr_assert_str_eq(el_text(&el, buf, sizeof(buf)), m->v[i], "reverse element %zu", i);
	}
	cr_assert_eq(i, 0, "backward iteration stopped at %zu", i);
}

static void push_str(struct tl *l, int fill, const char *s, enum obj_list_end where)
{
	obj_list_push1(&l->ptr, &l->enc, fill, s, strlen(s), where);
}

/* A pop followed by the shrinking conversion, as a one-pop command does. */
static bool pop_shrink(struct tl *l, int fill, enum obj_list_end where, struct obj_list_val *v)
{
	bool got = obj_list_pop(&l->ptr, &l->enc, where, v);
	obj_list_shrink(&l->ptr, &l->enc, fill);
	return got;
}

/* ------------------------------------------------------------ limits */

struct exceeds_case {
	int fill;
	size_t bytes;
	unsigned long count;
	bool want;
};

Test(list, exceeds_table)
{
	static const struct exceeds_case cases[] = {
		{ 128, 100, 128, false },  { 128, 100, 129, true },
		{ 128, 8192, 1, false },   { 128, 8193, 1, true },    /* safety limit */
		{ 0, 10, 1, false },       { 0, 10, 2, true },        /* 0 = one per node */
		{ 1, 10, 1, false },       { 1, 10, 2, true },
		{ -1, 4096, 100000, false }, { -1, 4097, 1, true },
		{ -2, 8192, 1, false },    { -2, 8193, 1, true },
		{ -3, 16384, 1, false },   { -3, 16385, 1, true },
		{ -4, 32768, 1, false },   { -4, 32769, 1, true },
		{ -5, 65536, 1, false },   { -5, 65537, 1, true },
		{ -6, 65536, 1, false },   { -100, 65537, 1, true },  /* below -5 = -5 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct exceeds_case *c = &cases[i];
		cr_assert_eq(obj_list_exceeds(c->fill, c->bytes, c->count), c->want,
			     "fill %d bytes %zu count %lu", c->fill, c->bytes, c->count);
	}
}

/* ------------------------------------------- operations per encoding */

/* The same scenario on a listpack list (fill large enough to stay one) and
 * on quicklists with tiny nodes (by count and by bytes). */
static const int scenario_fills[] = { 1000, 2, 3, -1 };

static void force_encoding(struct tl *l, int fill)
{
	/* fill 1000 keeps small lists a listpack; others start a quicklist
	 * at once so every operation runs on the quicklist code. */
	if (fill != 1000 && l->enc == KS_ENC_LISTPACK)
		obj_list_append_lp(&l->ptr, &l->enc, fill, lp_new());
}

Test(list, push_index_iterate)
{
	for (size_t f = 0; f < sizeof(scenario_fills) / sizeof(*scenario_fills); f++) {
		int fill = scenario_fills[f];
		struct tl l;
		struct model m = { 0 };
		tl_init(&l);
		force_encoding(&l, fill);
		char buf[32];
		for (int i = 0; i < 20; i++) {
			snprintf(buf, sizeof(buf), i % 2 ? "s%d" : "%d", i);
			if (i % 3 == 0) {
				push_str(&l, fill, buf, OBJ_LIST_HEAD);
				m_insert(&m, 0, buf, strlen(buf));
			} else {
				push_str(&l, fill, buf, OBJ_LIST_TAIL);
				m_insert(&m, m.n, buf, strlen(buf));
			}
		}
		cr_assert_eq(l.enc, fill == 1000 ? KS_ENC_LISTPACK : KS_ENC_QUICKLIST);
		check_list(&l, &m);
		struct obj_list_elem el;
		char tb[64];
		for (long i = -25; i < 25; i++) {
			bool in = i >= -20 && i < 20;
			cr_assert_eq(obj_list_index(l.ptr, l.enc, i, &el), in, "index %ld", i);
			if (in)
				cr_assert_str_eq(el_text(&el, tb, sizeof(tb)), m.v[i < 0 ? 20 + i : i]);
		}
		cr_assert_not(obj_list_index(l.ptr, l.enc, LONG_MIN, &el));
		cr_assert_not(obj_list_index(l.ptr, l.enc, LONG_MAX, &el));
		/* Iteration from the middle, both ways. */
		struct obj_list_iter it;
		obj_list_iter_init(&it, l.ptr, l.enc, 7, true);
		for (size_t i = 7; i < 20; i++) {
			cr_assert(obj_list_iter_next(&it, &el));
			cr_assert_str_eq(el_text(&el, tb, sizeof(tb)), m.v[i]);
		}
		cr_assert_not(obj_list_iter_next(&it, &el));
		obj_list_iter_init(&it, l.ptr, l.enc, -14, false);
		for (long i = 6; i >= 0; i--) {
			cr_assert(obj_list_iter_next(&it, &el));
			cr_assert_str_eq(el_text(&el, tb, sizeof(tb)), m.v[i]);
		}
		cr_assert_not(obj_list_iter_next(&it, &el));
		obj_list_iter_init(&it, l.ptr, l.enc, 20, true);
		cr_assert_not(obj_list_iter_next(&it, &el), "iteration from past the end");
		obj_list_iter_init(&it, l.ptr, l.enc, -21, false);
		cr_assert_not(obj_list_iter_next(&it, &el));
		tl_free(&l);
		m_free(&m);
	}
}

Test(list, integers_and_strings)
{
	struct tl l;
	tl_init(&l);
	static const char *const vals[] = { "0", "-1", "123456789012", "9223372036854775807",
					    "-9223372036854775808", "9223372036854775808",
					    "007", "+5", " 1", "1.5", "", "abc" };
	size_t n = sizeof(vals) / sizeof(vals[0]);
	for (size_t i = 0; i < n; i++)
		push_str(&l, -2, vals[i], OBJ_LIST_TAIL);
	struct obj_list_elem el;
	char tb[64];
	for (size_t i = 0; i < n; i++) {
		cr_assert(obj_list_index(l.ptr, l.enc, (long)i, &el));
		cr_assert_str_eq(el_text(&el, tb, sizeof(tb)), vals[i]);
		cr_assert(obj_list_elem_eq(&el, vals[i], strlen(vals[i])), "%s", vals[i]);
		/* Canonical integers come back as integers. */
		bool canon = i < 5;
		cr_assert_eq(el.s == NULL, canon, "%s", vals[i]);
	}
	cr_assert(obj_list_index(l.ptr, l.enc, 0, &el));
	cr_assert_not(obj_list_elem_eq(&el, "00", 2));
	cr_assert_not(obj_list_elem_eq(&el, "0 ", 2));
	cr_assert(obj_list_index(l.ptr, l.enc, 6, &el));
	cr_assert_not(obj_list_elem_eq(&el, "7", 1), "\"007\" is a string, not 7");
	tl_free(&l);
}

Test(list, pop_both_ends)
{
	for (size_t f = 0; f < sizeof(scenario_fills) / sizeof(*scenario_fills); f++) {
		int fill = scenario_fills[f];
		struct tl l;
		tl_init(&l);
		force_encoding(&l, fill);
		push_str(&l, fill, "a", OBJ_LIST_TAIL);
		push_str(&l, fill, "42", OBJ_LIST_TAIL);
		push_str(&l, fill, "", OBJ_LIST_TAIL);
		push_str(&l, fill, "z", OBJ_LIST_TAIL);
		struct obj_list_val v;
		cr_assert(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_HEAD, &v));
		cr_assert(v.s && v.len == 1 && v.s[0] == 'a');
		obj_list_val_free(&v);
		cr_assert(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_TAIL, &v));
		cr_assert(v.s && v.len == 1 && v.s[0] == 'z');
		obj_list_val_free(&v);
		cr_assert(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_TAIL, &v));
		cr_assert(v.s != NULL && v.len == 0, "empty string pops as a string");
		obj_list_val_free(&v);
		cr_assert(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_TAIL, &v));
		cr_assert(v.s == NULL && v.v == 42);
		obj_list_val_free(&v);
		cr_assert_eq(obj_list_len(l.ptr, l.enc), 0);
		cr_assert_not(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_HEAD, &v));
		cr_assert_not(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_TAIL, &v));
		/* An emptied list takes pushes again. */
		push_str(&l, fill, "again", OBJ_LIST_HEAD);
		cr_assert_eq(obj_list_len(l.ptr, l.enc), 1);
		tl_free(&l);
	}
}

Test(list, set_insert_remove_range)
{
	for (size_t f = 0; f < sizeof(scenario_fills) / sizeof(*scenario_fills); f++) {
		int fill = scenario_fills[f];
		struct tl l;
		struct model m = { 0 };
		tl_init(&l);
		force_encoding(&l, fill);
		static const char *const init[] = { "a", "b", "c", "b", "d", "b", "e" };
		for (size_t i = 0; i < 7; i++) {
			push_str(&l, fill, init[i], OBJ_LIST_TAIL);
			m_insert(&m, m.n, init[i], 1);
		}
		/* LSET, positive and negative, and out of range. */
		cr_assert_eq(obj_list_set(&l.ptr, &l.enc, fill, 0, "A", 1), 0);
		free(m.v[0]);
		m.v[0] = strdup("A");
		cr_assert_eq(obj_list_set(&l.ptr, &l.enc, fill, -1, "E", 1), 0);
		free(m.v[6]);
		m.v[6] = strdup("E");
		cr_assert_eq(obj_list_set(&l.ptr, &l.enc, fill, 7, "x", 1), -ERANGE);
		cr_assert_eq(obj_list_set(&l.ptr, &l.enc, fill, -8, "x", 1), -ERANGE);
		check_list(&l, &m);
		/* LINSERT: first match only, before and after; missing pivot. */
		cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "b", 1, "B1", 2, false), 1);
		m_insert(&m, 1, "B1", 2);
		cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "b", 1, "B2", 2, true), 1);
		m_insert(&m, 3, "B2", 2);
		cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "E", 1, "F", 1, true), 1);
		m_insert(&m, m.n, "F", 1);
		cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "A", 1, "0", 1, false), 1);
		m_insert(&m, 0, "0", 1);
		cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "nope", 4, "x", 1, true), 0);
		check_list(&l, &m);
		/* ["0","A","B1","b","B2","c","b","d","b","E","F"]: LREM -1 b, then
		 * 1 b, then 0 b. */
		cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, "b", 1, -1), 1);
		m_delete(&m, 8, 1);
		check_list(&l, &m);
		cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, "b", 1, 1), 1);
		m_delete(&m, 3, 1);
		check_list(&l, &m);
		cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, "b", 1, 0), 1);
		m_delete(&m, 5, 1);
		cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, "b", 1, 0), 0);
		cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, "0", 1, -5), 1);
		m_delete(&m, 0, 1);
		check_list(&l, &m);
		/* Ranges: clipped at the end, negative start, out of range. */
		cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 1, 2), 2);
		m_delete(&m, 1, 2);
		check_list(&l, &m);
		cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, -2, 10), 2);
		m_delete(&m, m.n - 2, 2);
		check_list(&l, &m);
		cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 99, 1), 0);
		cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 0, 0), 0);
		cr_assert_eq(obj_list_insert_at(&l.ptr, &l.enc, fill, m.n + 1, "x", 1), -ERANGE);
		cr_assert_eq(obj_list_insert_at(&l.ptr, &l.enc, fill, m.n, "end", 3), 0);
		m_insert(&m, m.n, "end", 3);
		cr_assert_eq(obj_list_insert_at(&l.ptr, &l.enc, fill, 1, "mid", 3), 0);
		m_insert(&m, 1, "mid", 3);
		check_list(&l, &m);
		cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 0, ULONG_MAX), m.n);
		m_delete(&m, 0, m.n);
		check_list(&l, &m);
		tl_free(&l);
		m_free(&m);
	}
}

Test(list, remove_all_matching_across_nodes)
{
	struct tl l;
	tl_init(&l);
	force_encoding(&l, 2);
	for (int i = 0; i < 50; i++)
		push_str(&l, 2, i % 5 ? "x" : "keep", OBJ_LIST_TAIL);
	cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, 2, "x", 1, -7), 7);
	cr_assert_eq(obj_list_len(l.ptr, l.enc), 43);
	cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, 2, "x", 1, 0), 33);
	check_ql(l.ptr);
	cr_assert_eq(obj_list_len(l.ptr, l.enc), 10);
	struct obj_list_iter it;
	struct obj_list_elem el;
	obj_list_iter_init(&it, l.ptr, l.enc, 0, true);
	while (obj_list_iter_next(&it, &el))
		cr_assert(obj_list_elem_eq(&el, "keep", 4));
	tl_free(&l);
}

/* ------------------------------------------------------- conversions */

Test(list, convert_by_count)
{
	int fill = 5;
	struct tl l;
	tl_init(&l);
	for (int i = 0; i < 5; i++)
		push_str(&l, fill, "v", OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_LISTPACK, "5 entries fit fill 5");
	push_str(&l, fill, "v", OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST, "the 6th converts");
	check_ql(l.ptr);
	cr_assert_eq(((struct obj_ql *)l.ptr)->len, 2, "old listpack + new node");
	/* Shrinks back only to half the limit (5 / 2 = 2) in one node. */
	struct obj_list_val v;
	for (int left = 5; left > 2; left--) {
		cr_assert(pop_shrink(&l, fill, OBJ_LIST_TAIL, &v));
		obj_list_val_free(&v);
		cr_assert_eq(l.enc, KS_ENC_QUICKLIST, "%d left", left);
	}
	/* A pop alone never converts (LMOVE on one key pushes back first). */
	cr_assert(obj_list_pop(&l.ptr, &l.enc, OBJ_LIST_TAIL, &v));
	obj_list_val_free(&v);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	obj_list_shrink(&l.ptr, &l.enc, fill);
	cr_assert_eq(l.enc, KS_ENC_LISTPACK, "2 left: back to a listpack");
	cr_assert_eq(obj_list_len(l.ptr, l.enc), 2);
	tl_free(&l);
}

Test(list, convert_by_bytes_batch_rule)
{
	/* fill -2 = 8 KiB. Redis checks a batch as bytes + sum of lengths, so
	 * 100 elements of 80 bytes (7 + 8000 <= 8192) stay a listpack even
	 * though the result is 7 + 100 * 82 bytes. */
	int fill = -2;
	struct tl l;
	tl_init(&l);
	char e[81];
	memset(e, 'x', 80);
	e[80] = 0;
	obj_list_grow(&l.ptr, &l.enc, fill, 100 * 80, 100);
	for (int i = 0; i < 100; i++)
		obj_list_push(&l.ptr, &l.enc, e, 80, OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_LISTPACK);
	cr_assert_gt(lp_bytes(l.ptr), 8192);
	/* Any further write converts. */
	push_str(&l, fill, "y", OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	check_ql(l.ptr);
	/* Back to a listpack at <= 4096 bytes in one node. */
	struct obj_list_val v;
	while (l.enc == KS_ENC_QUICKLIST) {
		cr_assert(pop_shrink(&l, fill, OBJ_LIST_TAIL, &v));
		obj_list_val_free(&v);
	}
	cr_assert_leq(lp_bytes(l.ptr), 4096);
	cr_assert_gt(lp_bytes(l.ptr) + 82, 4096, "converted at the first chance");
	tl_free(&l);
}

Test(list, large_element_plain_node)
{
	int fill = 128;
	struct tl l;
	tl_init(&l);
	push_str(&l, fill, "a", OBJ_LIST_TAIL);
	char *big = malloc(9001);
	memset(big, 'B', 9000);
	big[9000] = 0;
	push_str(&l, fill, big, OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST, "a 9000-byte element exceeds the 8 KiB safety limit");
	push_str(&l, fill, big, OBJ_LIST_TAIL);
	push_str(&l, fill, "z", OBJ_LIST_TAIL);
	struct obj_ql *ql = l.ptr;
	check_ql(ql);
	cr_assert_eq(ql->len, 4, "a | big | big | z");
	cr_assert(ql->head->next->plain && ql->tail->prev->plain);
	/* Inserting next to plain nodes goes into a neighbour or a new node,
	 * never into the plain one. */
	cr_assert_eq(obj_list_insert(&l.ptr, &l.enc, fill, "z", 1, "y", 1, false), 1);
	check_ql(l.ptr);
	/* Shrinking while a plain node remains keeps a quicklist. */
	struct obj_list_val v;
	cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 0, 2), 2);
	cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 1, 2), 2);
	cr_assert_eq(obj_list_len(l.ptr, l.enc), 1);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST, "one plain node: no listpack");
	cr_assert(pop_shrink(&l, fill, OBJ_LIST_TAIL, &v));
	cr_assert_eq(v.len, 9000);
	obj_list_val_free(&v);
	/* LSET of a big value in a small list converts (grow), a small value
	 * over it shrinks back. */
	struct tl s;
	tl_init(&s);
	push_str(&s, fill, "a", OBJ_LIST_TAIL);
	push_str(&s, fill, "b", OBJ_LIST_TAIL);
	cr_assert_eq(obj_list_set(&s.ptr, &s.enc, fill, 1, big, 9000), 0);
	cr_assert_eq(s.enc, KS_ENC_QUICKLIST);
	check_ql(s.ptr);
	cr_assert_eq(obj_list_set(&s.ptr, &s.enc, fill, 1, "c", 1), 0);
	cr_assert_eq(s.enc, KS_ENC_LISTPACK);
	struct obj_list_elem el;
	cr_assert(obj_list_index(s.ptr, s.enc, 1, &el));
	cr_assert(obj_list_elem_eq(&el, "c", 1));
	tl_free(&s);
	tl_free(&l);
	free(big);
}

Test(list, negative_fill_node_sizes)
{
	/* -1 = 4 KiB nodes: 1000 elements of 100 bytes spread over nodes that
	 * each stay within 4096 bytes. */
	struct tl l;
	tl_init(&l);
	char e[101];
	memset(e, 'q', 100);
	e[100] = 0;
	for (int i = 0; i < 1000; i++)
		push_str(&l, -1, e, i % 2 ? OBJ_LIST_HEAD : OBJ_LIST_TAIL);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	const struct obj_ql *ql = l.ptr;
	check_ql(ql);
	for (const struct obj_ql_node *n = ql->head; n; n = n->next)
		cr_assert_leq(lp_bytes(n->lp), 4096);
	cr_assert_geq(ql->len, 1000 / 40, "nodes hold at most ~39 such elements");
	tl_free(&l);
}

Test(list, append_lp_and_convert)
{
	/* What an RDB loader does: append node listpacks, then convert. */
	struct tl l;
	tl_init(&l);
	unsigned char *a = lp_append(lp_append(lp_new(), "x", 1), "y", 1);
	obj_list_append_lp(&l.ptr, &l.enc, -2, a);
	obj_list_append_lp(&l.ptr, &l.enc, -2, lp_new());      /* empty: dropped */
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	cr_assert_eq(obj_list_nlp(l.ptr, l.enc), 1);
	obj_list_convert(&l.ptr, &l.enc, -2);
	cr_assert_eq(l.enc, KS_ENC_LISTPACK, "one small node becomes a listpack");
	cr_assert_eq(obj_list_nlp(l.ptr, l.enc), 1);
	unsigned char *b = lp_append(lp_new(), "z", 1);
	obj_list_append_lp(&l.ptr, &l.enc, -2, b);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	cr_assert_eq(obj_list_nlp(l.ptr, l.enc), 2);
	cr_assert_eq(obj_list_len(l.ptr, l.enc), 3);
	obj_list_convert(&l.ptr, &l.enc, -2);
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST, "two nodes stay a quicklist");
	/* A one-element listpack oversized for the quicklist's fill (-2:
	 * 8 KiB) becomes a plain node. */
	char *big = calloc(1, 9000);
	memset(big, 'b', 8999);
	obj_list_append_lp(&l.ptr, &l.enc, -2, lp_append(lp_new(), big, 8999));
	cr_assert(((struct obj_ql *)l.ptr)->tail->plain);
	check_ql(l.ptr);
	tl_free(&l);
	free(big);
}

static int collect_lp(void *arg, const unsigned char *lp, bool plain)
{
	unsigned long *acc = arg;
	acc[0]++;
	acc[1] += lp_len(lp);
	acc[2] += plain;
	return acc[0] == acc[3] ? 7 : 0;
}

Test(list, foreach_lp_clone_mem)
{
	struct tl l;
	tl_init(&l);
	for (int i = 0; i < 100; i++) {
		char b[16];
		snprintf(b, sizeof(b), "e%d", i);
		push_str(&l, 8, b, OBJ_LIST_TAIL);
	}
	cr_assert_eq(l.enc, KS_ENC_QUICKLIST);
	unsigned long acc[4] = { 0, 0, 0, 1000 };
	cr_assert_eq(obj_list_foreach_lp(l.ptr, l.enc, collect_lp, acc), 0);
	cr_assert_eq(acc[0], obj_list_nlp(l.ptr, l.enc));
	cr_assert_eq(acc[1], 100);
	cr_assert_eq(acc[2], 0);
	unsigned long stop[4] = { 0, 0, 0, 2 };
	cr_assert_eq(obj_list_foreach_lp(l.ptr, l.enc, collect_lp, stop), 7, "stops at non-zero");
	cr_assert_eq(stop[0], 2);

	void *c = obj_list_clone(l.ptr, l.enc);
	struct tl cl = { c, l.enc };
	check_ql(c);
	cr_assert_eq(obj_list_mem(c, cl.enc), obj_list_mem(l.ptr, l.enc));
	cr_assert_gt(obj_list_mem(c, cl.enc), 100 * 3);
	/* Independent copies. */
	cr_assert_eq(obj_list_set(&cl.ptr, &cl.enc, 8, 0, "changed", 7), 0);
	struct obj_list_elem el;
	cr_assert(obj_list_index(l.ptr, l.enc, 0, &el));
	cr_assert(obj_list_elem_eq(&el, "e0", 2));
	tl_free(&cl);

	struct tl s;
	tl_init(&s);
	push_str(&s, -2, "one", OBJ_LIST_TAIL);
	unsigned long one[4] = { 0, 0, 0, 1000 };
	cr_assert_eq(obj_list_foreach_lp(s.ptr, s.enc, collect_lp, one), 0);
	cr_assert_eq(one[0], 1);
	cr_assert_eq(one[1], 1);
	void *sc = obj_list_clone(s.ptr, s.enc);
	cr_assert_eq(obj_list_mem(sc, s.enc), lp_bytes(s.ptr));
	obj_list_free(sc, s.enc);
	tl_free(&s);
	tl_free(&l);
}

Test(list, keyspace_entry_free_and_clone)
{
	ks_register_type(KS_LIST, &obj_list_ops);
	struct ks_space *ks = ks_space_new(1);
	cr_assert_not_null(ks);
	struct tl l;
	tl_init(&l);
	for (int i = 0; i < 300; i++)
		push_str(&l, 4, "value", OBJ_LIST_TAIL);
	struct ks_entry *e = ks_set_obj(&ks->db[0], "k", 1, KS_LIST, l.enc, l.ptr, false);
	cr_assert_eq(e->enc, KS_ENC_QUICKLIST);
	struct ks_entry *c = ks_entry_clone(e, "k2", 2);
	cr_assert_eq(obj_list_len(c->v.ptr, c->enc), 300);
	cr_assert_gt(ks_entry_mem(c), 300 * 6);
	ks_entry_free(c);
	ks_space_free(ks);
	cr_assert(LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)");
}

/* ------------------------------------------------------ model test */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A random element: mostly short strings and integers from a small set
 * (so LREM/LINSERT find matches), sometimes long or oversized. */
static size_t rnd_elem(char *buf, size_t cap)
{
	unsigned k = (unsigned)(rnd() % 100);
	if (k < 40)
		return (size_t)snprintf(buf, cap, "%d", (int)(rnd() % 20) - 5);
	if (k < 85)
		return (size_t)snprintf(buf, cap, "s%u", (unsigned)(rnd() % 10));
	size_t len = k < 97 ? 100 + rnd() % 900 : 4000 + rnd() % 6000;
	if (len >= cap)
		len = cap - 1;
	memset(buf, 'a' + (int)(rnd() % 3), len);
	buf[len] = 0;
	return len;
}

static void model_run(int fill, uint64_t seed, int steps)
{
	rng_state = seed;
	struct tl l;
	struct model m = { 0 };
	tl_init(&l);
	static char buf[12000], piv[12000];
	for (int step = 0; step < steps; step++) {
		unsigned op = (unsigned)(rnd() % 100);
		size_t len = rnd_elem(buf, sizeof(buf));
		if (op < 35) {
			/* A batch push, as LPUSH/RPUSH do it. */
			int n = 1 + (int)(rnd() % 4);
			bool tail = rnd() % 2;
			obj_list_grow(&l.ptr, &l.enc, fill, len * (size_t)n, (unsigned long)n);
			for (int i = 0; i < n; i++) {
				obj_list_push(&l.ptr, &l.enc, buf, len,
					      tail ? OBJ_LIST_TAIL : OBJ_LIST_HEAD);
				m_insert(&m, tail ? m.n : 0, buf, len);
			}
		} else if (op < 50) {
			bool tail = rnd() % 2;
			struct obj_list_val v;
			bool got = obj_list_pop(&l.ptr, &l.enc, tail ? OBJ_LIST_TAIL : OBJ_LIST_HEAD, &v);
			if (rnd() % 2)
				obj_list_shrink(&l.ptr, &l.enc, fill);
			cr_assert_eq(got, m.n > 0);
			if (got) {
				size_t at = tail ? m.n - 1 : 0;
				char num[OBJ_LIST_NUMBUF];
				size_t vl = v.s ? v.len : (size_t)snprintf(num, sizeof(num), "%lld", v.v);
				const char *vs = v.s ? (const char *)v.s : num;
				cr_assert(vl == strlen(m.v[at]) && memcmp(vs, m.v[at], vl) == 0,
					  "step %d: popped the wrong element", step);
				obj_list_val_free(&v);
				m_delete(&m, at, 1);
			}
		} else if (op < 60) {
			long idx = (long)(rnd() % (m.n + 3)) - (long)(rnd() % 2 ? m.n + 1 : 0);
			int rc = obj_list_set(&l.ptr, &l.enc, fill, idx, buf, len);
			long mi = idx < 0 ? (long)m.n + idx : idx;
			bool in = mi >= 0 && mi < (long)m.n;
			cr_assert_eq(rc, in ? 0 : -ERANGE, "step %d: set %ld of %zu", step, idx, m.n);
			if (in) {
				free(m.v[mi]);
				m.v[mi] = strndup(buf, len);
			}
		} else if (op < 70) {
			bool after = rnd() % 2;
			size_t plen = m.n && rnd() % 4 ? strlen(strcpy(piv, m.v[rnd() % m.n]))
				      : rnd_elem(piv, sizeof(piv));
			size_t at = 0;
			while (at < m.n && !(strlen(m.v[at]) == plen && memcmp(m.v[at], piv, plen) == 0))
				at++;
			int rc = obj_list_insert(&l.ptr, &l.enc, fill, piv, plen, buf, len, after);
			cr_assert_eq(rc, at < m.n, "step %d: insert found %d", step, rc);
			if (at < m.n)
				m_insert(&m, after ? at + 1 : at, buf, len);
		} else if (op < 75) {
			unsigned long at = (unsigned long)(rnd() % (m.n + 1));
			cr_assert_eq(obj_list_insert_at(&l.ptr, &l.enc, fill, at, buf, len), 0);
			m_insert(&m, at, buf, len);
		} else if (op < 85) {
			long count = (long)(rnd() % 5) - 2;
			unsigned long want = 0, limit = count == 0 ? ULONG_MAX : (unsigned long)labs(count);
			if (count >= 0) {
				for (size_t i = 0; i < m.n && want < limit;) {
					if (strlen(m.v[i]) == len && memcmp(m.v[i], buf, len) == 0) {
						m_delete(&m, i, 1);
						want++;
					} else {
						i++;
					}
				}
			} else {
				for (size_t i = m.n; i-- > 0 && want < limit;) {
					if (strlen(m.v[i]) == len && memcmp(m.v[i], buf, len) == 0) {
						m_delete(&m, i, 1);
						want++;
					}
				}
			}
			cr_assert_eq(obj_list_remove(&l.ptr, &l.enc, fill, buf, len, count), want,
				     "step %d: remove count %ld", step, count);
		} else if (op < 95) {
			long idx = (long)(rnd() % (m.n + 2)) - (long)(rnd() % 2 ? m.n : 0);
			unsigned long n = (unsigned long)(rnd() % 6);
			long mi = idx < 0 ? (long)m.n + idx : idx;
			unsigned long want = 0;
			if (mi >= 0 && mi < (long)m.n && n) {
				want = n < m.n - (unsigned long)mi ? n : m.n - (unsigned long)mi;
				m_delete(&m, (size_t)mi, want);
			}
			cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, idx, n), want,
				     "step %d: del_range %ld %lu", step, idx, n);
		} else {
			/* Clone and check the copy. */
			struct tl c = { obj_list_clone(l.ptr, l.enc), l.enc };
			check_list(&c, &m);
			tl_free(&c);
		}
		if (l.enc == KS_ENC_LISTPACK && m.n) {
			/* A listpack holds only what fits one node, counted as Redis
			 * counts a batch: frame + the elements' string bytes (the
			 * entries' own header bytes may overshoot). */
			size_t content = 7;
			for (size_t i = 0; i < m.n; i++)
				content += strlen(m.v[i]);
			cr_assert_not(obj_list_exceeds(fill, content, m.n),
				      "step %d: listpack of %zu content bytes / %zu elements for fill %d",
				      step, content, m.n, fill);
		}
		if (step % 8 == 0 || m.n < 10)
			check_list(&l, &m);
		/* Keep the list from growing without bound. */
		if (m.n > 400) {
			cr_assert_eq(obj_list_del_range(&l.ptr, &l.enc, fill, 0, 300), 300);
			m_delete(&m, 0, 300);
		}
	}
	check_list(&l, &m);
	tl_free(&l);
	m_free(&m);
}

Test(list, model_random, .timeout = 120)
{
	static const int fills[] = { 0, 1, 2, 5, 16, 128, -1, -2, -5 };
	for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++)
		for (uint64_t seed = 1; seed <= 3; seed++)
			model_run(fills[f], seed * 7919 + (uint64_t)f, 3000);
	cr_assert(LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)");
}
