/* shards/obj_list.c — the list value type (see obj_list.h).
 *
 * A small list is one listpack; a large one a quicklist of listpack nodes.
 * Node decisions follow Redis 7.2's quicklist: an element goes into the
 * end node if the node stays within its limit (bytes + element + 8
 * estimated overhead, count + 1), else into a new node; an oversized
 * element always gets a plain node of its own; inserting into the middle
 * of a full node splits it and then tries to merge the pieces with their
 * neighbours. Deletions never merge (as Redis), they only free emptied
 * nodes. The encoding conversions are Redis's (obj_list.h), applied here
 * after every removal and by obj_list_grow() before additions.
 *
 * Listpacks are plain malloc'd blocks (lp.c allocates them with malloc and
 * lp_free() is free()), so a clone or a split copies one with memcpy. */
#include "shards/obj_list.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define QL_ESTIMATE_OVERHEAD 8    /* bytes per element a node limit reserves */
#define QL_LP_FRAME 7             /* listpack header + EOF byte */

/* Byte limits per node for fill -1..-5. */
static const size_t neg_fill_limits[] = { 4096, 8192, 16384, 32768, 65536 };

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		abort();
	return p;
}

static unsigned char *lp_dup(const unsigned char *lp)
{
	size_t n = lp_bytes(lp);
	unsigned char *c = xmalloc(n);
	memcpy(c, lp, n);
	return c;
}

/* ------------------------------------------------------------ limits */

static size_t neg_fill_limit(int fill)
{
	assert(fill < 0);
	size_t off = (size_t)(-(long)fill) - 1;
	size_t max = sizeof(neg_fill_limits) / sizeof(neg_fill_limits[0]);
	if (off >= max)
		off = max - 1;
	return neg_fill_limits[off];
}

/* The (bytes, entries) limits of one node; the one that does not apply is
 * "unlimited". */
static void node_limit(int fill, size_t *sz, unsigned long *count)
{
	*sz = SIZE_MAX;
	*count = UINT_MAX;
	if (fill >= 0)
		*count = fill == 0 ? 1 : (unsigned long)fill;
	else
		*sz = neg_fill_limit(fill);
}

bool obj_list_exceeds(int fill, size_t new_bytes, unsigned long new_count)
{
	if (fill < 0)
		return new_bytes > neg_fill_limit(fill);
	/* An entry-count limit still keeps a node within the safety limit. */
	if (new_bytes > OBJ_LIST_SAFETY_LIMIT)
		return true;
	return new_count > (fill == 0 ? 1ul : (unsigned long)fill);
}

/* Too large for any node: goes into a plain node of its own. */
static bool is_large(size_t len, int fill)
{
	return fill >= 0 ? len > OBJ_LIST_SAFETY_LIMIT : len > neg_fill_limit(fill);
}

/* ------------------------------------------------------------ elements */

static void elem_at(const unsigned char *p, struct obj_list_elem *el)
{
	uint32_t len = 0;
	el->s = lp_get(p, &el->v, &len);
	el->len = el->s ? len : 0;
}

bool obj_list_elem_eq(const struct obj_list_elem *el, const void *s, size_t len)
{
	if (el->s)
		return el->len == len && memcmp(el->s, s, len) == 0;
	long long v;
	return ks_str2ll(s, len, &v) && v == el->v;
}

const unsigned char *obj_list_elem_str(const struct obj_list_elem *el, unsigned char *buf,
				       size_t *len)
{
	if (el->s) {
		*len = el->len;
		return el->s;
	}
	*len = ks_ll2str((char *)buf, el->v);
	return buf;
}

/* Append a copy of the element at p (of another listpack) to lp, keeping
 * integers integers. */
static unsigned char *lp_copy_elem(unsigned char *lp, const unsigned char *p)
{
	struct obj_list_elem el;
	elem_at(p, &el);
	return el.s ? lp_append(lp, el.s, el.len) : lp_append_int(lp, el.v);
}

/* Normalise index against len: true and *out in [0, len) if in range. */
static bool norm_index(long index, unsigned long len, unsigned long *out)
{
	if (index < 0) {
		unsigned long back = (unsigned long)(-(index + 1)) + 1;   /* no overflow at LONG_MIN */
		if (back > len)
			return false;
		*out = len - back;
		return true;
	}
	if ((unsigned long)index >= len)
		return false;
	*out = (unsigned long)index;
	return true;
}

/* ------------------------------------------------------------ quicklist */

static struct obj_ql *ql_new(int fill)
{
	struct obj_ql *ql = xmalloc(sizeof(*ql));
	ql->head = ql->tail = NULL;
	ql->count = 0;
	ql->len = 0;
	ql->fill = fill;
	return ql;
}

static struct obj_ql_node *node_new(unsigned char *lp, unsigned long count, bool plain)
{
	struct obj_ql_node *n = xmalloc(sizeof(*n));
	n->prev = n->next = NULL;
	n->lp = lp;
	n->count = (uint32_t)count;
	n->plain = plain;
	return n;
}

static struct obj_ql_node *node_one(const void *s, size_t len, int fill)
{
	return node_new(lp_append(lp_new(), s, len), 1, is_large(len, fill));
}

/* Link n after (or before) at; at == NULL only when the list is empty. */
static void ql_link(struct obj_ql *ql, struct obj_ql_node *at, struct obj_ql_node *n, bool after)
{
	if (!at) {
		assert(ql->len == 0);
		ql->head = ql->tail = n;
	} else if (after) {
		n->prev = at;
		n->next = at->next;
		if (at->next)
			at->next->prev = n;
		else
			ql->tail = n;
		at->next = n;
	} else {
		n->next = at;
		n->prev = at->prev;
		if (at->prev)
			at->prev->next = n;
		else
			ql->head = n;
		at->prev = n;
	}
	ql->len++;
}

/* Unlink and free n; its elements must already be uncounted from ql. */
static void ql_drop(struct obj_ql *ql, struct obj_ql_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		ql->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		ql->tail = n->prev;
	ql->len--;
	lp_free(n->lp);
	free(n);
}

static void ql_free(struct obj_ql *ql)
{
	struct obj_ql_node *n = ql->head;
	while (n) {
		struct obj_ql_node *next = n->next;
		lp_free(n->lp);
		free(n);
		n = next;
	}
	free(ql);
}

/* May one more element of len bytes go into n? */
static bool node_allow_insert(const struct obj_ql_node *n, int fill, size_t len)
{
	if (!n || n->plain || is_large(len, fill))
		return false;
	return !obj_list_exceeds(fill, lp_bytes(n->lp) + len + QL_ESTIMATE_OVERHEAD, n->count + 1ul);
}

static bool node_allow_merge(const struct obj_ql_node *a, const struct obj_ql_node *b, int fill)
{
	if (!a || !b || a->plain || b->plain)
		return false;
	return !obj_list_exceeds(fill, lp_bytes(a->lp) + lp_bytes(b->lp) - QL_LP_FRAME,
				 (unsigned long)a->count + b->count);
}

/* Move b's elements to the end of a and drop b. */
static void ql_merge(struct obj_ql *ql, struct obj_ql_node *a, struct obj_ql_node *b)
{
	for (unsigned char *p = lp_first(b->lp); p; p = lp_next(b->lp, p))
		a->lp = lp_copy_elem(a->lp, p);
	a->count += b->count;
	ql_drop(ql, b);
}

static void ql_try_merge(struct obj_ql *ql, struct obj_ql_node *a, struct obj_ql_node *b)
{
	if (node_allow_merge(a, b, ql->fill))
		ql_merge(ql, a, b);
}

static void ql_push(struct obj_ql *ql, const void *s, size_t len, enum obj_list_end where)
{
	bool tail = where == OBJ_LIST_TAIL;
	struct obj_ql_node *at = tail ? ql->tail : ql->head;
	if (node_allow_insert(at, ql->fill, len)) {
		at->lp = tail ? lp_append(at->lp, s, len) : lp_prepend(at->lp, s, len);
		at->count++;
	} else {
		ql_link(ql, at, node_one(s, len, ql->fill), tail);
	}
	ql->count++;
}

/* Node holding element idx (< ql->count) and idx's offset in it; walks
 * from the nearer end. */
static struct obj_ql_node *ql_locate(const struct obj_ql *ql, unsigned long idx,
				     unsigned long *off)
{
	struct obj_ql_node *n;
	if (idx < ql->count / 2) {
		n = ql->head;
		while (idx >= n->count) {
			idx -= n->count;
			n = n->next;
		}
		*off = idx;
	} else {
		unsigned long r = ql->count - 1 - idx;
		n = ql->tail;
		while (r >= n->count) {
			r -= n->count;
			n = n->prev;
		}
		*off = n->count - 1 - r;
	}
	return n;
}

/* Split n so that it keeps its first `at` elements (0 < at < count); the
 * rest go to a new node linked after it, which is returned. */
static struct obj_ql_node *ql_split(struct obj_ql *ql, struct obj_ql_node *n, unsigned long at)
{
	unsigned long rest = n->count - at;
	unsigned char *right = lp_delete_range(lp_dup(n->lp), 0, at);
	n->lp = lp_delete_range(n->lp, (long)at, rest);
	n->count = (uint32_t)at;
	struct obj_ql_node *r = node_new(right, rest, false);
	ql_link(ql, n, r, true);
	return r;
}

/* Insert s next to the element at offset off of node n (before it, or
 * after it when after). */
static void ql_insert(struct obj_ql *ql, struct obj_ql_node *n, unsigned long off, bool after,
		      const void *s, size_t len)
{
	int fill = ql->fill;
	bool at_tail = after && off == n->count - 1;
	bool at_head = !after && off == 0;
	ql->count++;
	if (node_allow_insert(n, fill, len)) {
		unsigned char *p = lp_seek(n->lp, (long)off);
		n->lp = lp_insert(n->lp, s, len, p, after ? LP_AFTER : LP_BEFORE, NULL);
		n->count++;
		return;
	}
	if (at_tail && node_allow_insert(n->next, fill, len)) {
		n->next->lp = lp_prepend(n->next->lp, s, len);
		n->next->count++;
		return;
	}
	if (at_head && node_allow_insert(n->prev, fill, len)) {
		n->prev->lp = lp_append(n->prev->lp, s, len);
		n->prev->count++;
		return;
	}
	if (at_tail || at_head) {
		ql_link(ql, n, node_one(s, len, fill), after);
		return;
	}
	/* Middle of a full (never plain: a plain node has one element) node. */
	struct obj_ql_node *right = ql_split(ql, n, after ? off + 1 : off);
	if (node_allow_insert(n, fill, len)) {
		n->lp = lp_append(n->lp, s, len);
		n->count++;
	} else if (node_allow_insert(right, fill, len)) {
		right->lp = lp_prepend(right->lp, s, len);
		right->count++;
	} else {
		ql_link(ql, n, node_one(s, len, fill), true);
	}
	/* The split left two part-filled nodes: fold them into neighbours. */
	struct obj_ql_node *rn = right->next;
	ql_try_merge(ql, right, rn);
	ql_try_merge(ql, n->prev, n);
}

/* Delete the element at p in n; frees n if it empties. */
static void ql_delete(struct obj_ql *ql, struct obj_ql_node *n, unsigned char *p)
{
	n->lp = lp_delete(n->lp, p, NULL);
	n->count--;
	ql->count--;
	if (n->count == 0)
		ql_drop(ql, n);
}

/* ------------------------------------------------------------ conversions */

static void lp_to_ql(void **ptr, uint8_t *enc, int fill)
{
	unsigned char *lp = *ptr;
	struct obj_ql *ql = ql_new(fill);
	unsigned long n = lp_len(lp);
	if (n) {
		ql_link(ql, NULL, node_new(lp, n, false), true);
		ql->count = n;
	} else {
		lp_free(lp);
	}
	*ptr = ql;
	*enc = KS_ENC_QUICKLIST;
}

/* A quicklist of one non-plain node within the limit (halved when
 * shrinking) becomes that node's listpack. */
static void ql_try_to_lp(void **ptr, uint8_t *enc, int fill, bool shrinking)
{
	struct obj_ql *ql = *ptr;
	if (ql->len != 1 || ql->head->plain)
		return;
	size_t sz_limit;
	unsigned long count_limit;
	node_limit(fill, &sz_limit, &count_limit);
	if (shrinking) {
		sz_limit /= 2;
		count_limit /= 2;
	}
	if (lp_bytes(ql->head->lp) > sz_limit || ql->count > count_limit)
		return;
	*ptr = ql->head->lp;
	*enc = KS_ENC_LISTPACK;
	free(ql->head);
	free(ql);
}

void obj_list_shrink(void **ptr, uint8_t *enc, int fill)
{
	if (*enc == KS_ENC_QUICKLIST)
		ql_try_to_lp(ptr, enc, fill, true);
}

void obj_list_grow(void **ptr, uint8_t *enc, int fill, size_t add_bytes, unsigned long add_count)
{
	if (*enc != KS_ENC_LISTPACK)
		return;
	unsigned char *lp = *ptr;
	if (obj_list_exceeds(fill, lp_bytes(lp) + add_bytes, lp_len(lp) + add_count))
		lp_to_ql(ptr, enc, fill);
}

void obj_list_convert(void **ptr, uint8_t *enc, int fill)
{
	if (*enc == KS_ENC_QUICKLIST)
		ql_try_to_lp(ptr, enc, fill, false);
	else
		obj_list_grow(ptr, enc, fill, 0, 0);
}

/* ------------------------------------------------------------ life cycle */

void *obj_list_new(uint8_t *enc)
{
	*enc = KS_ENC_LISTPACK;
	return lp_new();
}

void obj_list_free(void *ptr, uint8_t enc)
{
	if (!ptr)
		return;
	if (enc == KS_ENC_QUICKLIST)
		ql_free(ptr);
	else
		lp_free(ptr);
}

void *obj_list_clone(const void *ptr, uint8_t enc)
{
	if (enc != KS_ENC_QUICKLIST)
		return lp_dup(ptr);
	const struct obj_ql *ql = ptr;
	struct obj_ql *c = ql_new(ql->fill);
	for (const struct obj_ql_node *n = ql->head; n; n = n->next)
		ql_link(c, c->tail, node_new(lp_dup(n->lp), n->count, n->plain), true);
	c->count = ql->count;
	return c;
}

size_t obj_list_mem(const void *ptr, uint8_t enc)
{
	if (enc != KS_ENC_QUICKLIST)
		return lp_bytes(ptr);
	const struct obj_ql *ql = ptr;
	size_t n = sizeof(*ql);
	for (const struct obj_ql_node *nd = ql->head; nd; nd = nd->next)
		n += sizeof(*nd) + lp_bytes(nd->lp);
	return n;
}

const struct ks_type_ops obj_list_ops = {
	.free = obj_list_free,
	.clone = obj_list_clone,
	.mem = obj_list_mem,
};

/* ------------------------------------------------------------ reading */

unsigned long obj_list_len(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_QUICKLIST)
		return ((const struct obj_ql *)ptr)->count;
	return lp_len(ptr);
}

bool obj_list_index(const void *ptr, uint8_t enc, long index, struct obj_list_elem *el)
{
	unsigned long idx;
	if (!norm_index(index, obj_list_len(ptr, enc), &idx))
		return false;
	unsigned char *p;
	if (enc == KS_ENC_QUICKLIST) {
		unsigned long off;
		struct obj_ql_node *n = ql_locate(ptr, idx, &off);
		p = lp_seek(n->lp, (long)off);
	} else {
		p = lp_seek((unsigned char *)ptr, (long)idx);
	}
	assert(p);
	elem_at(p, el);
	return true;
}

void obj_list_iter_init(struct obj_list_iter *it, const void *ptr, uint8_t enc, long index,
			bool forward)
{
	unsigned long idx;
	it->forward = forward;
	it->node = NULL;
	it->lp = NULL;
	it->p = NULL;
	if (!norm_index(index, obj_list_len(ptr, enc), &idx))
		return;
	if (enc == KS_ENC_QUICKLIST) {
		unsigned long off;
		it->node = ql_locate(ptr, idx, &off);
		it->lp = it->node->lp;
		it->p = lp_seek(it->lp, (long)off);
	} else {
		it->lp = (unsigned char *)ptr;
		it->p = lp_seek(it->lp, (long)idx);
	}
}

bool obj_list_iter_next(struct obj_list_iter *it, struct obj_list_elem *el)
{
	if (!it->p)
		return false;
	elem_at(it->p, el);
	it->p = it->forward ? lp_next(it->lp, it->p) : lp_prev(it->lp, it->p);
	while (!it->p && it->node) {
		it->node = it->forward ? it->node->next : it->node->prev;
		if (!it->node)
			break;
		it->lp = it->node->lp;
		it->p = it->forward ? lp_first(it->lp) : lp_last(it->lp);
	}
	return true;
}

int obj_list_foreach_lp(const void *ptr, uint8_t enc, obj_list_lp_fn *fn, void *arg)
{
	if (enc != KS_ENC_QUICKLIST)
		return fn(arg, ptr, false);
	for (const struct obj_ql_node *n = ((const struct obj_ql *)ptr)->head; n; n = n->next) {
		int rc = fn(arg, n->lp, n->plain);
		if (rc)
			return rc;
	}
	return 0;
}

unsigned long obj_list_nlp(const void *ptr, uint8_t enc)
{
	return enc == KS_ENC_QUICKLIST ? ((const struct obj_ql *)ptr)->len : 1;
}

/* ------------------------------------------------------------ writing */

void obj_list_push(void **ptr, uint8_t *enc, const void *s, size_t len, enum obj_list_end where)
{
	if (*enc == KS_ENC_QUICKLIST) {
		ql_push(*ptr, s, len, where);
		return;
	}
	*ptr = where == OBJ_LIST_TAIL ? lp_append(*ptr, s, len) : lp_prepend(*ptr, s, len);
}

void obj_list_push1(void **ptr, uint8_t *enc, int fill, const void *s, size_t len,
		    enum obj_list_end where)
{
	obj_list_grow(ptr, enc, fill, len, 1);
	obj_list_push(ptr, enc, s, len, where);
}

void obj_list_val_free(struct obj_list_val *v)
{
	free(v->s);
	v->s = NULL;
	v->len = 0;
}

static void val_copy(const unsigned char *p, struct obj_list_val *out)
{
	struct obj_list_elem el;
	elem_at(p, &el);
	out->v = el.v;
	out->len = el.len;
	out->s = NULL;
	if (el.s) {
		/* +1: a zero-length string still gets a non-NULL pointer. */
		out->s = xmalloc(el.len + 1);
		memcpy(out->s, el.s, el.len);
	}
}

bool obj_list_pop(void **ptr, uint8_t *enc, enum obj_list_end where, struct obj_list_val *out)
{
	bool tail = where == OBJ_LIST_TAIL;
	if (*enc == KS_ENC_QUICKLIST) {
		struct obj_ql *ql = *ptr;
		struct obj_ql_node *n = tail ? ql->tail : ql->head;
		if (!n)
			return false;
		unsigned char *p = tail ? lp_last(n->lp) : lp_first(n->lp);
		val_copy(p, out);
		ql_delete(ql, n, p);
		return true;
	}
	unsigned char *lp = *ptr;
	unsigned char *p = tail ? lp_last(lp) : lp_first(lp);
	if (!p)
		return false;
	val_copy(p, out);
	*ptr = lp_delete(lp, p, NULL);
	return true;
}

int obj_list_insert_at(void **ptr, uint8_t *enc, int fill, unsigned long index, const void *s,
		       size_t len)
{
	unsigned long n = obj_list_len(*ptr, *enc);
	if (index > n)
		return -ERANGE;
	obj_list_grow(ptr, enc, fill, len, 1);
	if (index == n) {
		obj_list_push(ptr, enc, s, len, OBJ_LIST_TAIL);
		return 0;
	}
	if (*enc == KS_ENC_QUICKLIST) {
		unsigned long off;
		struct obj_ql_node *nd = ql_locate(*ptr, index, &off);
		ql_insert(*ptr, nd, off, false, s, len);
	} else {
		unsigned char *lp = *ptr;
		*ptr = lp_insert(lp, s, len, lp_seek(lp, (long)index), LP_BEFORE, NULL);
	}
	return 0;
}

int obj_list_set(void **ptr, uint8_t *enc, int fill, long index, const void *s, size_t len)
{
	obj_list_grow(ptr, enc, fill, len, 1);
	unsigned long idx;
	if (!norm_index(index, obj_list_len(*ptr, *enc), &idx))
		return -ERANGE;
	if (*enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;
		*ptr = lp_insert(lp, s, len, lp_seek(lp, (long)idx), LP_REPLACE, NULL);
		return 0;
	}
	struct obj_ql *ql = *ptr;
	unsigned long off;
	struct obj_ql_node *n = ql_locate(ql, idx, &off);
	unsigned char *p = lp_seek(n->lp, (long)off);
	bool large = is_large(len, ql->fill);
	/* In place when the node stays within its limit (a plain node holds
	 * one oversized element and takes another one). */
	bool fits;
	if (n->plain)
		fits = large;
	else
		fits = !large && !obj_list_exceeds(ql->fill, lp_bytes(n->lp) + lp_entry_size(s, len),
						   n->count);
	if (fits) {
		n->lp = lp_insert(n->lp, s, len, p, LP_REPLACE, NULL);
	} else {
		ql_delete(ql, n, p);
		obj_list_insert_at(ptr, enc, fill, idx, s, len);
	}
	obj_list_shrink(ptr, enc, fill);
	return 0;
}

int obj_list_insert(void **ptr, uint8_t *enc, int fill, const void *pivot, size_t plen,
		    const void *s, size_t len, bool after)
{
	obj_list_grow(ptr, enc, fill, len, 1);
	if (*enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;
		unsigned char *p = lp_first(lp);
		if (!p || !(p = lp_find(lp, p, pivot, plen, 0)))
			return 0;
		*ptr = lp_insert(lp, s, len, p, after ? LP_AFTER : LP_BEFORE, NULL);
		return 1;
	}
	struct obj_ql *ql = *ptr;
	for (struct obj_ql_node *n = ql->head; n; n = n->next) {
		unsigned long off = 0;
		for (unsigned char *p = lp_first(n->lp); p; p = lp_next(n->lp, p), off++) {
			if (lp_eq(p, pivot, plen)) {
				ql_insert(ql, n, off, after, s, len);
				return 1;
			}
		}
	}
	return 0;
}

unsigned long obj_list_remove(void **ptr, uint8_t *enc, int fill, const void *s, size_t len,
			      long count)
{
	bool fwd = count >= 0;
	unsigned long limit = count == 0 ? ULONG_MAX
			    : count > 0 ? (unsigned long)count : (unsigned long)(-(count + 1)) + 1;
	unsigned long removed = 0;
	if (*enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;
		unsigned char *p = fwd ? lp_first(lp) : lp_last(lp);
		while (p && removed < limit) {
			if (!lp_eq(p, s, len)) {
				p = fwd ? lp_next(lp, p) : lp_prev(lp, p);
				continue;
			}
			size_t off = (size_t)(p - lp);
			unsigned char *next;
			lp = lp_delete(lp, p, &next);
			removed++;
			/* Going backwards, the element before the deleted one is
			 * where p was, unless p was the first. */
			if (fwd)
				p = next;
			else
				p = off == LP_HDR ? NULL : lp_prev(lp, lp + off);
		}
		*ptr = lp;
		return removed;
	}
	struct obj_ql *ql = *ptr;
	struct obj_ql_node *n = fwd ? ql->head : ql->tail;
	while (n && removed < limit) {
		struct obj_ql_node *after = fwd ? n->next : n->prev;
		unsigned char *p = fwd ? lp_first(n->lp) : lp_last(n->lp);
		while (p && removed < limit) {
			if (!lp_eq(p, s, len)) {
				p = fwd ? lp_next(n->lp, p) : lp_prev(n->lp, p);
				continue;
			}
			size_t off = (size_t)(p - n->lp);
			unsigned char *next;
			n->lp = lp_delete(n->lp, p, &next);
			n->count--;
			ql->count--;
			removed++;
			if (fwd)
				p = next;
			else
				p = off == LP_HDR ? NULL : lp_prev(n->lp, n->lp + off);
		}
		if (n->count == 0)
			ql_drop(ql, n);
		n = after;
	}
	obj_list_shrink(ptr, enc, fill);
	return removed;
}

unsigned long obj_list_del_range(void **ptr, uint8_t *enc, int fill, long index,
				 unsigned long n)
{
	unsigned long len = obj_list_len(*ptr, *enc), start;
	if (n == 0 || !norm_index(index, len, &start))
		return 0;
	if (n > len - start)
		n = len - start;
	if (*enc == KS_ENC_LISTPACK) {
		*ptr = lp_delete_range(*ptr, (long)start, n);
		return n;
	}
	struct obj_ql *ql = *ptr;
	unsigned long off, left = n;
	struct obj_ql_node *nd = ql_locate(ql, start, &off);
	while (left) {
		struct obj_ql_node *next = nd->next;
		unsigned long take = nd->count - off;
		if (take > left)
			take = left;
		if (off == 0 && take == nd->count) {
			ql->count -= take;
			ql_drop(ql, nd);
		} else {
			nd->lp = lp_delete_range(nd->lp, (long)off, take);
			nd->count -= (uint32_t)take;
			ql->count -= take;
		}
		left -= take;
		nd = next;
		off = 0;
	}
	obj_list_shrink(ptr, enc, fill);
	return n;
}

/* ------------------------------------------------------------ building */

void obj_list_append_lp(void **ptr, uint8_t *enc, int fill, unsigned char *lp)
{
	if (*enc != KS_ENC_QUICKLIST)
		lp_to_ql(ptr, enc, fill);
	unsigned long n = lp_len(lp);
	if (n == 0) {
		lp_free(lp);
		return;
	}
	struct obj_ql *ql = *ptr;
	bool plain = false;
	if (n == 1) {
		struct obj_list_elem el;
		elem_at(lp_first(lp), &el);
		plain = el.s && is_large(el.len, ql->fill);
	}
	ql_link(ql, ql->tail, node_new(lp, n, plain), true);
	ql->count += n;
}
