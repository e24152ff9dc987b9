/* shards/obj_hash.h — the hash value type: a map of binary-safe field
 * names to binary-safe values, in one of two encodings.
 *
 *  - KS_ENC_LISTPACK: one listpack (lp.h) of field, value, field, value...
 *    used while the hash has at most hash-max-listpack-entries fields and
 *    every field and value is at most hash-max-listpack-value bytes. Lookups
 *    walk it; it is sized to its content (the memory bar is Redis 7's).
 *  - KS_ENC_HASHTABLE: a struct sdict (sdict.h) keyed by field; each
 *    entry's v.ptr is the value as a blob: a LEB128 varint length followed
 *    by the bytes (one byte of overhead for values under 128 bytes).
 *
 * A hash turns from listpack into hashtable when a write crosses a
 * threshold, and never back (as Redis). The thresholds are parameters
 * (struct obj_hash_lim), not read from any config here.
 *
 * A hash is handled as the (ptr, enc) pair a ks_entry stores in v.ptr and
 * enc: readers take (const void *ptr, uint8_t enc); writers take
 * (void **ptr, uint8_t *enc) because the listpack may move and the
 * encoding may change — pass &e->v.ptr, &e->enc.
 *
 * Pure data structure: no shard, no ctx, single-threaded (the owning
 * shard's). Allocation failure aborts (as lp.h and sdict.h do). */
#ifndef KR_OBJ_HASH_H
#define KR_OBJ_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/sdict.h"

/* Room a caller provides for a number stored as an integer in a listpack,
 * formatted back to text by the read functions below. */
#define OBJ_HASH_NUMBUF LP_INTBUF

/* Conversion thresholds (hash-max-listpack-entries / -value). */
struct obj_hash_lim {
	size_t max_entries;   /* listpack while fields <= this */
	size_t max_value;     /* ... and every field and value <= this many bytes */
};

/* A field or value read out of a hash: p[0..len). It points into the hash
 * or into a caller-provided / iterator buffer (listpack integers), and is
 * valid until the hash is modified or the buffer reused. */
struct obj_hash_str {
	const char *p;
	size_t len;
};

/* ------------------------------------------------------- life cycle */

/* A new empty hash: a listpack; *enc is set to KS_ENC_LISTPACK. Never
 * NULL. */
void *obj_hash_new(uint8_t *enc);
/* A new empty hash that will receive about nfields fields: a hashtable
 * presized for them when nfields exceeds lim->max_entries (RDB load,
 * SORT ... STORE-like builders), else a listpack. Never NULL. */
void *obj_hash_new_sized(size_t nfields, const struct obj_hash_lim *lim, uint8_t *enc);
void obj_hash_free(void *ptr, uint8_t enc);
/* Deep copy, same encoding. Never NULL. */
void *obj_hash_clone(const void *ptr, uint8_t enc);
/* Bytes allocated for the value (listpack bytes; or table, entries and
 * value blobs as requested from the allocator). */
size_t obj_hash_mem(const void *ptr, uint8_t enc);
/* ks_type_ops for KS_HASH (free/clone/mem above). */
extern const struct ks_type_ops obj_hash_ops;

/* --------------------------------------------------------- reading */

/* Number of fields. */
unsigned long obj_hash_len(const void *ptr, uint8_t enc);
/* Look field f up. true and *val set if present (buf, OBJ_HASH_NUMBUF
 * bytes, holds the text of a listpack integer); false if absent. */
bool obj_hash_get(const void *ptr, uint8_t enc, const void *f, size_t flen,
		  struct obj_hash_str *val, char *buf);
bool obj_hash_exists(const void *ptr, uint8_t enc, const void *f, size_t flen);

/* --------------------------------------------------------- writing */

/* Set field f to value v, creating the field if needed. Converts the
 * hash to a hashtable first when flen or vlen exceeds lim->max_value, or
 * after adding when the count exceeds lim->max_entries (or the listpack
 * would pass 1 GiB). Returns 1 if the field is new, 0 if it was
 * overwritten. */
int obj_hash_set(void **ptr, uint8_t *enc, const void *f, size_t flen,
		 const void *v, size_t vlen, const struct obj_hash_lim *lim);
/* Delete field f: 1 if it was there, 0 if not. The encoding never
 * changes; the caller deletes the key when the hash becomes empty. */
int obj_hash_del(void **ptr, uint8_t enc, const void *f, size_t flen);
/* Convert a listpack hash into a hashtable (no-op if it already is one).
 * For loaders that know the thresholds are crossed. */
void obj_hash_convert(void **ptr, uint8_t *enc);

/* ------------------------------------------------------- iteration */

/* Visits every (field, value) pair once, in storage order. The hash must
 * not be modified during the iteration. */
struct obj_hash_iter {
	const void *ptr;
	uint8_t enc;
	unsigned char *p;          /* listpack: next field position */
	struct sd_iter di;         /* hashtable */
	char fbuf[OBJ_HASH_NUMBUF], vbuf[OBJ_HASH_NUMBUF];
};
void obj_hash_iter_init(struct obj_hash_iter *it, const void *ptr, uint8_t enc);
/* Next pair into *f and *v (which point into the hash or the iterator);
 * false when done. */
bool obj_hash_iter_next(struct obj_hash_iter *it, struct obj_hash_str *f,
			struct obj_hash_str *v);

/* Callback for pairs handed out by scan and random picks. */
typedef void obj_hash_pair_fn(void *arg, const struct obj_hash_str *f,
			      const struct obj_hash_str *v);

/* HSCAN step: a listpack hash hands every pair to fn and returns 0; a
 * hashtable visits buckets from cursor until at least `count` pairs were
 * passed (sd_scan's guarantees: every field present for the whole scan is
 * returned at least once) and returns the next cursor, 0 when done. fn
 * must not modify the hash. */
uint64_t obj_hash_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		       obj_hash_pair_fn *fn, void *arg);

/* ---------------------------------------------------------- random */

typedef uint64_t obj_hash_rnd_fn(void *arg);

/* One random pair of a non-empty hash (rnd: any 64-bit random number). */
void obj_hash_random(const void *ptr, uint8_t enc, uint64_t rnd,
		     struct obj_hash_str *f, struct obj_hash_str *v,
		     char *fbuf, char *vbuf);
/* Hand `count` random pairs to fn. unique: distinct fields (count is
 * capped at the hash's length; with count >= length every pair is passed
 * once, in storage order); otherwise count independent picks, repeats
 * allowed. The hash must be non-empty and not modified by fn. Work and
 * temporary memory are O(count) for a hashtable (plus O(length) when
 * count is over a third of it) and O(length + count) for a listpack. */
void obj_hash_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			  obj_hash_rnd_fn *rnd, void *rnd_arg,
			  obj_hash_pair_fn *fn, void *arg);

/* -------------------------------------------------------- loading */

/* Validate a listpack from an untrusted source (RDB, RESTORE) as a hash
 * value: a well-formed listpack (lp_validate) with an even number of
 * elements and no field repeated. */
bool obj_hash_lp_valid(const unsigned char *lp, size_t size);

#endif
