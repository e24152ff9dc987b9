/* shards/sdict.h — a hash table of binary-safe strings: the "hashtable"
 * encoding of sets (members), hashes (field -> value) and the member index
 * of skiplist zsets (member -> score / node).
 *
 * Chained, power-of-two buckets, seeded hash (ks_hash). Grows at load 1 and
 * shrinks below 1/8 (never under 4 buckets), all at once (collections are
 * bounded by the commands that fill them; incremental rehash can come
 * later without changing this interface). SCAN uses the reverse-binary
 * cursor, so every member present for a whole scan is returned at least
 * once across resizes. Pure data structure: no shard, no ctx. */
#ifndef KR_SDICT_H
#define KR_SDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sd_entry {
	struct sd_entry *next;
	union {
		void *ptr;          /* hashes: malloc'd value (owner's format) */
		double d;           /* zsets: score */
		long long i;
	} v;
	uint32_t hash;
	uint32_t klen;
	char key[];                 /* klen bytes + NUL */
};

struct sdict {
	struct sd_entry **b;
	uint64_t mask;              /* buckets - 1 */
	uint64_t used;
};

/* Called on every entry's value when it is deleted or the dict freed
 * (NULL: values need no freeing). */
typedef void sd_vfree_fn(struct sd_entry *e);

/* Room for about `hint` members without resizing. Never NULL. */
struct sdict *sd_new(size_t hint);
void sd_free(struct sdict *d, sd_vfree_fn *vfree);
uint64_t sd_size(const struct sdict *d);

struct sd_entry *sd_find(const struct sdict *d, const void *k, size_t klen);
/* Add k if absent (its v zeroed). Returns the entry, new or existing;
 * *existed says which. */
struct sd_entry *sd_add(struct sdict *d, const void *k, size_t klen, bool *existed);
/* Delete k: 1 if it was there. */
int sd_del(struct sdict *d, const void *k, size_t klen, sd_vfree_fn *vfree);
/* A random entry (uniform over buckets then chain), NULL if empty. */
struct sd_entry *sd_random(const struct sdict *d, uint64_t rnd);

/* Iteration (no modification of d while iterating, except sd_del of the
 * entry just returned). */
struct sd_iter {
	const struct sdict *d;
	uint64_t idx;
	struct sd_entry *e, *next;
};
void sd_iter_init(struct sd_iter *it, const struct sdict *d);
struct sd_entry *sd_iter_next(struct sd_iter *it);

typedef void sd_scan_fn(void *arg, struct sd_entry *e);
/* Visit the buckets from cursor on until at least `count` entries were
 * passed to fn or the table ends; returns the next cursor, 0 when done. */
uint64_t sd_scan(const struct sdict *d, uint64_t cursor, unsigned count,
		 sd_scan_fn *fn, void *arg);

/* Bytes allocated by the table and its entries (not the values). */
size_t sd_mem(const struct sdict *d);

#endif
