/* shards/obj_list.h — the list value type: a sequence of binary-safe
 * strings, in one of two encodings (Redis 7.2's rules).
 *
 *  - KS_ENC_LISTPACK: one listpack (lp.h), used while the whole list fits
 *    within one quicklist node's limit.
 *  - KS_ENC_QUICKLIST: a struct obj_ql, a doubly linked list of nodes each
 *    holding one listpack. The node limit comes from list-max-listpack-size
 *    ("fill"): fill > 0 is a maximum number of entries per node (and a node
 *    also stays within an 8 KiB safety limit), fill 0 means one entry per
 *    node, fill -1..-5 is a byte limit of 4/8/16/32/64 KiB per node (values
 *    below -5 count as -5). An element too large for any node (> 8 KiB when
 *    fill >= 0, > the byte limit when fill < 0) gets a node of its own that
 *    is never merged with or inserted into ("plain" node; Redis keeps such
 *    elements outside a listpack, we keep a one-element listpack).
 *
 * Conversions follow Redis 7.2 exactly, so OBJECT ENCODING matches it:
 *  - listpack -> quicklist when a write would make it exceed the node limit
 *    (obj_list_grow(): current bytes + the new elements' string bytes, and
 *    length + their number); the listpack becomes the first node;
 *  - quicklist -> listpack after a removal, when one node is left and it is
 *    within HALF the limit (bytes and entries), and that node is not plain.
 * A quicklist remembers the fill it was created with for its own node
 * decisions (as Redis's quicklist->fill); conversions use the fill passed
 * in (the current config). list-compress-depth is not implemented: nodes
 * are never LZF-compressed.
 *
 * A list is handled as the (ptr, enc) pair a ks_entry stores in v.ptr and
 * enc: readers take (const void *ptr, uint8_t enc); writers take
 * (void **ptr, uint8_t *enc) because the listpack may move and the
 * encoding may change — pass &e->v.ptr, &e->enc.
 *
 * Indexes are 0-based from the head; negative ones count from the tail
 * (-1 is the last element). Element pointers handed out (struct
 * obj_list_elem, iterators) are valid until the list is next modified.
 *
 * Pure data structure: no shard, no ctx, single-threaded (the owning
 * shard's). Allocation failure aborts (as lp.h does). */
#ifndef KR_OBJ_LIST_H
#define KR_OBJ_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/ks.h"
#include "shards/lp.h"

/* Redis's quicklist constants. */
#define OBJ_LIST_SAFETY_LIMIT 8192     /* bytes: node cap when fill >= 0 */
#define OBJ_LIST_NUMBUF LP_INTBUF      /* room for an integer as text */

enum obj_list_end { OBJ_LIST_HEAD = 0, OBJ_LIST_TAIL = 1 };

/* One quicklist node: a listpack of `count` elements. */
struct obj_ql_node {
	struct obj_ql_node *prev, *next;
	unsigned char *lp;
	uint32_t count;          /* lp's elements (lp_len walks past 65535) */
	bool plain;              /* holds one oversized element: never grown */
};

/* A quicklist (KS_ENC_QUICKLIST). Never empty while stored in a key. */
struct obj_ql {
	struct obj_ql_node *head, *tail;
	unsigned long count;     /* elements in all nodes */
	unsigned long len;       /* nodes */
	int fill;                /* node limit, fixed at creation */
};

/* An element read from a list: a string s[0..len), or an integer v when
 * s is NULL (listpacks store canonical integer strings as integers). s
 * points into the list. */
struct obj_list_elem {
	const unsigned char *s;
	size_t len;
	long long v;
};

/* An element copied out of a list (obj_list_pop): s is malloc'd (free it
 * with obj_list_val_free), or NULL for an integer v. */
struct obj_list_val {
	unsigned char *s;
	size_t len;
	long long v;
};

/* ------------------------------------------------------- life cycle */

/* A new empty list: an empty listpack; *enc = KS_ENC_LISTPACK. Never NULL.
 * (An empty list is a transient state: a key never holds one.) */
void *obj_list_new(uint8_t *enc);
void obj_list_free(void *ptr, uint8_t enc);
/* Deep copy, same encoding and node layout. Never NULL. */
void *obj_list_clone(const void *ptr, uint8_t enc);
/* Bytes allocated for the value (listpacks, nodes, quicklist header). */
size_t obj_list_mem(const void *ptr, uint8_t enc);
/* ks_type_ops for KS_LIST (free/clone/mem above). */
extern const struct ks_type_ops obj_list_ops;

/* --------------------------------------------------------- reading */

unsigned long obj_list_len(const void *ptr, uint8_t enc);
/* Element at index (negative from the tail). false if out of range. */
bool obj_list_index(const void *ptr, uint8_t enc, long index, struct obj_list_elem *el);
/* Does el equal the bytes s[0..len)? (An integer equals its canonical
 * text only, as in a listpack.) */
bool obj_list_elem_eq(const struct obj_list_elem *el, const void *s, size_t len);
/* el's bytes: s itself, or the integer formatted into buf
 * (OBJ_LIST_NUMBUF bytes). */
const unsigned char *obj_list_elem_str(const struct obj_list_elem *el, unsigned char *buf,
				       size_t *len);

/* Element iterator, read-only: the list must not change while it is used.
 *   struct obj_list_iter it; struct obj_list_elem el;
 *   obj_list_iter_init(&it, ptr, enc, 0, true);
 *   while (obj_list_iter_next(&it, &el)) ...
 * Each step is O(1). */
struct obj_list_iter {
	unsigned char *lp;            /* current listpack */
	unsigned char *p;             /* next element to return, NULL = done */
	struct obj_ql_node *node;     /* quicklist: node of lp; NULL for a listpack */
	bool forward;                 /* head -> tail */
};
/* Start at index (negative from the tail), going towards the tail
 * (forward) or the head. An out-of-range index gives an empty iteration. */
void obj_list_iter_init(struct obj_list_iter *it, const void *ptr, uint8_t enc, long index,
			bool forward);
/* The next element into *el; false when done. */
bool obj_list_iter_next(struct obj_list_iter *it, struct obj_list_elem *el);

/* The list's listpacks in order, for RDB and DUMP: one for a LISTPACK
 * list, one per node for a quicklist. fn gets each listpack and whether
 * it is a plain node (one oversized element: RDB's "plain" container);
 * a non-zero return stops the walk and is returned. */
typedef int obj_list_lp_fn(void *arg, const unsigned char *lp, bool plain);
int obj_list_foreach_lp(const void *ptr, uint8_t enc, obj_list_lp_fn *fn, void *arg);
/* How many listpacks obj_list_foreach_lp visits (RDB writes it first). */
unsigned long obj_list_nlp(const void *ptr, uint8_t enc);

/* --------------------------------------------------------- writing */

/* Redis's "growing" conversion, to call before pushing a batch: if the
 * list is a listpack whose bytes + add_bytes or whose length + add_count
 * would exceed the node limit for fill, it becomes a quicklist (add_bytes
 * is the total string length of the elements about to be added; Redis
 * counts 0 bytes for an element it holds as an integer object, e.g. the
 * one LMOVE moves out of a listpack). No-op for a quicklist. */
void obj_list_grow(void **ptr, uint8_t *enc, int fill, size_t add_bytes,
		   unsigned long add_count);
/* Push one element at the head or tail. A listpack is pushed into as it
 * is: call obj_list_grow() first with the whole batch (this is what keeps
 * OBJECT ENCODING equal to Redis's at the boundary). */
void obj_list_push(void **ptr, uint8_t *enc, const void *s, size_t len, enum obj_list_end where);
/* obj_list_grow() for one element, then obj_list_push(). */
void obj_list_push1(void **ptr, uint8_t *enc, int fill, const void *s, size_t len,
		    enum obj_list_end where);
/* Remove the head or tail element and copy it into *out (free it with
 * obj_list_val_free). false if the list is empty. Does NOT convert: call
 * obj_list_shrink() once after a run of pops (as Redis converts after the
 * command's pops and, for LMOVE on one key, after the push back). */
bool obj_list_pop(void **ptr, uint8_t *enc, enum obj_list_end where, struct obj_list_val *out);
void obj_list_val_free(struct obj_list_val *v);
/* Redis's "shrinking" conversion (see the top of this file); the other
 * removal functions below apply it themselves. */
void obj_list_shrink(void **ptr, uint8_t *enc, int fill);
/* Replace the element at index with s (LSET: grows first, shrinks after).
 * 0, or -ERANGE if index is out of range (the growing conversion may
 * still have happened, as in Redis). */
int obj_list_set(void **ptr, uint8_t *enc, int fill, long index, const void *s, size_t len);
/* Insert s before or after the first element equal to pivot (LINSERT:
 * grows first, whether or not the pivot is found, as Redis). 1 if
 * inserted, 0 if no element equals pivot. */
int obj_list_insert(void **ptr, uint8_t *enc, int fill, const void *pivot, size_t plen,
		    const void *s, size_t len, bool after);
/* Insert s so that it ends up at index (0..len; len appends). 0, or
 * -ERANGE if index is outside 0..len. Grows first. */
int obj_list_insert_at(void **ptr, uint8_t *enc, int fill, unsigned long index, const void *s,
		       size_t len);
/* LREM: remove elements equal to s: the first count from the head when
 * count > 0, the last -count from the tail when count < 0, all when 0.
 * Returns how many were removed; then shrinks. */
unsigned long obj_list_remove(void **ptr, uint8_t *enc, int fill, const void *s, size_t len,
			      long count);
/* Delete n elements starting at index (negative from the tail); the range
 * is clipped to the list. Returns how many were deleted; then shrinks.
 * LTRIM and the counted pops are built from this. */
unsigned long obj_list_del_range(void **ptr, uint8_t *enc, int fill, long index,
				 unsigned long n);

/* ------------------------------------------------ building (RDB load) */

/* Append a listpack (ownership passes to the list; an empty one is freed)
 * as a new last node: the list becomes a quicklist with fill if it is not
 * one. A one-element listpack whose element is oversized for fill becomes
 * a plain node. Use obj_list_convert() when done. */
void obj_list_append_lp(void **ptr, uint8_t *enc, int fill, unsigned char *lp);
/* Redis's automatic conversion after building a list: a quicklist of one
 * non-plain node within the (full, not halved) limit becomes a listpack; a
 * listpack over the limit becomes a quicklist. */
void obj_list_convert(void **ptr, uint8_t *enc, int fill);

/* ------------------------------------------------------ introspection */

/* Does a node of fill's limit exceed it at new_bytes / new_count? (Redis's
 * quicklistNodeExceedsLimit; exposed for tests and DEBUG.) */
bool obj_list_exceeds(int fill, size_t new_bytes, unsigned long new_count);

#endif
