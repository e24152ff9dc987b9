/* shards/obj_set.h — the set value type: an unordered collection of
 * distinct binary-safe strings, in one of three encodings (Redis 7.2's):
 *
 *  - KS_ENC_INTSET: every member is a canonical integer (ks_str2ll rules)
 *    and there are at most set-max-intset-entries of them. The value is one
 *    allocation in Redis's intset byte layout — encoding u32 LE (2, 4 or 8:
 *    the width of every element), length u32 LE, then the elements as
 *    signed little-endian integers of that width in ascending order — so
 *    RDB and DUMP write it as is (obj_set_intset_bytes()). The width grows
 *    when a wider integer is added and never shrinks.
 *  - KS_ENC_LISTPACK: one listpack (lp.h) of the members, used while the
 *    set has at most set-max-listpack-entries members of at most
 *    set-max-listpack-value bytes each.
 *  - KS_ENC_HASHTABLE: a struct sdict (sdict.h) of the members (values
 *    unused).
 *
 * Conversions happen when a write crosses a threshold and only go
 * forward: intset -> listpack (a non-integer is added to a small intset),
 * intset -> hashtable (too many integers, or a non-integer that does not
 * fit a listpack), listpack -> hashtable. The thresholds are parameters
 * (struct obj_set_lim), never read from a config here.
 *
 * A set is handled as the (ptr, enc) pair a ks_entry stores in v.ptr and
 * enc: readers take (const void *ptr, uint8_t enc); writers that may move
 * the value or change its encoding take (void **ptr, uint8_t *enc) — pass
 * &e->v.ptr, &e->enc.
 *
 * Pure data structure: no shard, no ctx, single-threaded (the owning
 * shard's). Allocation failure aborts (as lp.h and sdict.h do). */
#ifndef KR_OBJ_SET_H
#define KR_OBJ_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/sdict.h"

/* Room for an integer member formatted as text. */
#define OBJ_SET_NUMBUF LP_INTBUF
/* Intset header: encoding u32 LE, length u32 LE. */
#define OBJ_SET_INTSET_HDR 8

/* Conversion thresholds (set-max-intset-entries, set-max-listpack-entries,
 * set-max-listpack-value). */
struct obj_set_lim {
	size_t max_intset;       /* intset while members <= this */
	size_t max_lp_entries;   /* listpack while members <= this */
	size_t max_lp_value;     /* ... and every member <= this many bytes */
};

/* A member read out of a set: p[0..len) always holds its text (for an
 * integer member, formatted into a caller-provided or iterator buffer);
 * is_int says it is stored as the integer ival (intset, listpack
 * integers). Valid until the set is modified or the buffer reused. */
struct obj_set_elem {
	const char *p;
	size_t len;
	bool is_int;
	long long ival;
};

/* ------------------------------------------------------- life cycle */

/* A new empty set: an empty intset (the start of every computed set:
 * SINTERSTORE, SUNION...; adding members converts it as needed). *enc is
 * set to KS_ENC_INTSET. Never NULL. */
void *obj_set_new(uint8_t *enc);
/* A new empty set that will receive about size_hint members, the first
 * of which is first[0..len) (Redis's setTypeCreate): an intset if that is
 * an integer and size_hint <= lim->max_intset, else a listpack if
 * size_hint <= lim->max_lp_entries, else a hashtable presized for
 * size_hint. first may be NULL (no member known: intset ruled out). For
 * SADD, SMOVE and loaders. Never NULL. */
void *obj_set_new_for(const void *first, size_t len, size_t size_hint,
		      const struct obj_set_lim *lim, uint8_t *enc);
void obj_set_free(void *ptr, uint8_t enc);
/* Deep copy, same encoding. Never NULL. */
void *obj_set_clone(const void *ptr, uint8_t enc);
/* Bytes allocated for the value. */
size_t obj_set_mem(const void *ptr, uint8_t enc);
/* ks_type_ops for KS_SET (free/clone/mem above). */
extern const struct ks_type_ops obj_set_ops;

/* --------------------------------------------------------- reading */

/* Number of members. */
unsigned long obj_set_size(const void *ptr, uint8_t enc);
bool obj_set_contains(const void *ptr, uint8_t enc, const void *m, size_t len);

/* --------------------------------------------------------- writing */

/* Add member m: 1 if added, 0 if it was already there. Converts first
 * when the member does not fit the current encoding within lim (Redis
 * 7.2's rules, see the file comment), or after adding when an intset
 * passes lim->max_intset. */
int obj_set_add(void **ptr, uint8_t *enc, const void *m, size_t len,
		const struct obj_set_lim *lim);
/* Remove member m: 1 if it was there. The encoding never changes; the
 * caller deletes the key when the set becomes empty. The value may move
 * (an intset or listpack shrinks), hence ptr by reference. */
int obj_set_remove(void **ptr, uint8_t enc, const void *m, size_t len);
/* Convert to encoding `to` (intset -> listpack/hashtable, listpack ->
 * hashtable; no-op if already `to`), presizing a hashtable for size_hint
 * members (0: the current size). Backward conversions are a bug
 * (asserted). For loaders that know the thresholds are crossed. */
void obj_set_convert(void **ptr, uint8_t *enc, uint8_t to, size_t size_hint);

/* ------------------------------------------------------- iteration */

/* Visits every member once, in storage order (intset: ascending; listpack:
 * insertion order). The set must not be modified during the iteration. */
struct obj_set_iter {
	const void *ptr;
	uint8_t enc;
	uint32_t i;                /* intset: next index */
	unsigned char *p;          /* listpack: next position */
	struct sd_iter di;         /* hashtable */
	char buf[OBJ_SET_NUMBUF];
};
void obj_set_iter_init(struct obj_set_iter *it, const void *ptr, uint8_t enc);
/* Next member into *m (which may point into the iterator); false when
 * done. */
bool obj_set_iter_next(struct obj_set_iter *it, struct obj_set_elem *m);

/* Callback for members handed out by scan, random picks and pops; m is
 * valid only during the call. */
typedef void obj_set_elem_fn(void *arg, const struct obj_set_elem *m);

/* SSCAN step: an intset or listpack hands every member to fn and returns
 * 0; a hashtable visits buckets from cursor until at least `count`
 * members were passed (sd_scan's guarantee: every member present for the
 * whole scan is returned at least once) and returns the next cursor, 0
 * when done. fn must not modify the set. */
uint64_t obj_set_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		      obj_set_elem_fn *fn, void *arg);

/* ---------------------------------------------------------- random */

typedef uint64_t obj_set_rnd_fn(void *arg);

/* One random member of a non-empty set (rnd: any 64-bit random number);
 * buf (OBJ_SET_NUMBUF bytes) holds an integer's text. */
void obj_set_random(const void *ptr, uint8_t enc, uint64_t rnd,
		    struct obj_set_elem *m, char *buf);
/* Hand `count` random members of a non-empty set to fn. unique: distinct
 * members (count is capped at the size; with count >= size every member
 * is passed once, in storage order); otherwise count independent picks,
 * repeats allowed. fn must not modify the set. Work and temporary memory:
 * a hashtable O(count) when count is at most a third of the size, else
 * O(size); an intset a bitmap of size bits and O(count + size / 64); a
 * listpack O(size + count). Distinct picks of an intset or listpack come
 * out in storage order. */
void obj_set_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			 obj_set_rnd_fn *rnd, void *rnd_arg, obj_set_elem_fn *fn, void *arg);
/* Remove `count` distinct random members (count < size; the caller takes
 * the whole set itself otherwise), handing each to fn just before it goes.
 * The encoding does not change. Work is O(count) for a hashtable when
 * count is at most a third of the size, otherwise O(size) (an intset or
 * listpack is rebuilt in one pass); fn must not touch the set. */
void obj_set_pop(void **ptr, uint8_t enc, unsigned long count,
		 obj_set_rnd_fn *rnd, void *rnd_arg, obj_set_elem_fn *fn, void *arg);

/* ------------------------------------------------ intsets on the wire */

/* The bytes of an intset value (ptr itself, in Redis's layout) and their
 * length, for RDB/DUMP. */
size_t obj_set_intset_bytes(const void *ptr);
/* Validate an intset blob from an untrusted source (RDB, RESTORE): a
 * known width, length matching size exactly, elements strictly ascending.
 * true if blob[0..size) is one. */
bool obj_set_intset_valid(const void *blob, size_t size);
/* Copy a valid intset blob into a new set value (KS_ENC_INTSET). NULL
 * with errno EINVAL if it is not valid. */
void *obj_set_intset_load(const void *blob, size_t size);
/* Validate a listpack from an untrusted source as a set: well formed
 * (lp_validate) and no member repeated. */
bool obj_set_lp_valid(const unsigned char *lp, size_t size);

#endif
