/* shards/sdict.c — the string hash table behind the "hashtable" encoding of
 * sets, hashes and skiplist zsets (contract in sdict.h).
 *
 * Chained buckets, a power-of-two count, entries hold their key inline.
 * Resizes are done all at once. Iteration and SCAN walk the buckets in
 * reverse-binary order: a bucket of a small table then corresponds to a
 * contiguous run of buckets of a bigger one, which is what makes SCAN
 * survive resizes and lets an iterator survive the shrink that deleting
 * the entry it just returned may cause (see shrink_to()). */
#include "shards/sdict.h"

#include "shards/ks.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SD_MIN_BUCKETS 4
#define SD_SHRINK_RATIO 8       /* shrink when used < buckets / 8 */

static void sd_oom(size_t n)
{
	fprintf(stderr, "keyrail: out of memory allocating %zu bytes\n", n);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		sd_oom(n);
	return p;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		sd_oom(n * sz);
	return p;
}

static inline uint64_t rev64(uint64_t v)
{
	v = __builtin_bswap64(v);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fULL) | ((v & 0x0f0f0f0f0f0f0f0fULL) << 4);
	v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
	v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
	return v;
}

/* The bucket after v in reverse-binary order for a table of mask+1
 * buckets; 0 after the last one. */
static inline uint64_t rev_next(uint64_t v, uint64_t mask)
{
	v |= ~mask;
	return rev64(rev64(v) + 1);
}

static inline uint32_t sd_hash(const void *k, size_t klen)
{
	return (uint32_t)ks_hash(k, klen);
}

/* Smallest power of two >= n, at least SD_MIN_BUCKETS. */
static uint64_t buckets_for(uint64_t n)
{
	uint64_t b = SD_MIN_BUCKETS;
	while (b < n)
		b <<= 1;
	return b;
}

struct sdict *sd_new(size_t hint)
{
	struct sdict *d = xmalloc(sizeof(*d));
	uint64_t nb = buckets_for(hint);
	d->b = xcalloc(nb, sizeof(*d->b));
	d->mask = nb - 1;
	d->used = 0;
	return d;
}

void sd_free(struct sdict *d, sd_vfree_fn *vfree)
{
	if (!d)
		return;
	for (uint64_t i = 0; i <= d->mask; i++) {
		struct sd_entry *e = d->b[i];
		while (e) {
			struct sd_entry *next = e->next;
			if (vfree)
				vfree(e);
			free(e);
			e = next;
		}
	}
	free(d->b);
	free(d);
}

uint64_t sd_size(const struct sdict *d)
{
	return d->used;
}

/* Rebuild the table with nb buckets. Old buckets are taken in
 * reverse-binary order and each chain is appended, in order, to the tail
 * of its new bucket. When shrinking, the old buckets that fold into one new
 * bucket are contiguous in that order, so the new table's iteration order
 * (new buckets in reverse-binary order, chains front to back) is exactly
 * the old one's: an iterator positioned on an entry keeps its place. */
static void rebuild(struct sdict *d, uint64_t nb)
{
	struct sd_entry **nbk = xcalloc(nb, sizeof(*nbk));
	struct sd_entry **tail = xcalloc(nb, sizeof(*tail));
	uint64_t nmask = nb - 1, v = 0;
	do {
		struct sd_entry *e = d->b[v & d->mask];
		while (e) {
			struct sd_entry *next = e->next;
			uint64_t i = e->hash & nmask;
			e->next = NULL;
			if (tail[i])
				tail[i]->next = e;
			else
				nbk[i] = e;
			tail[i] = e;
			e = next;
		}
		v = rev_next(v, d->mask);
	} while (v);
	free(tail);
	free(d->b);
	d->b = nbk;
	d->mask = nmask;
}

struct sd_entry *sd_find(const struct sdict *d, const void *k, size_t klen)
{
	uint32_t h = sd_hash(k, klen);
	for (struct sd_entry *e = d->b[h & d->mask]; e; e = e->next)
		if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0)
			return e;
	return NULL;
}

struct sd_entry *sd_add(struct sdict *d, const void *k, size_t klen, bool *existed)
{
	uint32_t h = sd_hash(k, klen);
	struct sd_entry **slot = &d->b[h & d->mask];
	for (struct sd_entry *e = *slot; e; e = e->next) {
		if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0) {
			if (existed)
				*existed = true;
			return e;
		}
	}
	assert(klen <= UINT32_MAX);
	struct sd_entry *e = xmalloc(sizeof(*e) + klen + 1);
	e->v.i = 0;
	e->hash = h;
	e->klen = (uint32_t)klen;
	if (klen)
		memcpy(e->key, k, klen);
	e->key[klen] = '\0';
	e->next = *slot;
	*slot = e;
	d->used++;
	if (d->used > d->mask + 1)
		rebuild(d, (d->mask + 1) * 2);
	if (existed)
		*existed = false;
	return e;
}

int sd_del(struct sdict *d, const void *k, size_t klen, sd_vfree_fn *vfree)
{
	uint32_t h = sd_hash(k, klen);
	struct sd_entry **pp = &d->b[h & d->mask];
	for (struct sd_entry *e = *pp; e; pp = &e->next, e = e->next) {
		if (e->hash != h || e->klen != klen || memcmp(e->key, k, klen) != 0)
			continue;
		*pp = e->next;
		if (vfree)
			vfree(e);
		free(e);
		d->used--;
		uint64_t nb = d->mask + 1;
		if (nb > SD_MIN_BUCKETS && d->used < nb / SD_SHRINK_RATIO)
			rebuild(d, buckets_for(d->used));
		return 1;
	}
	return 0;
}

static inline uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct sd_entry *sd_random(const struct sdict *d, uint64_t rnd)
{
	if (d->used == 0)
		return NULL;
	/* Load is >= 1/8 (or the table is minimal), so a few probes find a
	 * non-empty bucket; each probe draws fresh bits from rnd. */
	struct sd_entry *e;
	uint64_t r = rnd;
	for (;;) {
		e = d->b[r & d->mask];
		if (e)
			break;
		r = mix64(r);
	}
	unsigned len = 0;
	for (struct sd_entry *x = e; x; x = x->next)
		len++;
	for (uint64_t i = mix64(r ^ 0x5bd1e995) % len; i; i--)
		e = e->next;
	return e;
}

/* First entry of the first non-empty bucket at or after v (reverse-binary
 * order), NULL if there is none. */
static struct sd_entry *first_from(const struct sdict *d, uint64_t v)
{
	do {
		struct sd_entry *e = d->b[v & d->mask];
		if (e)
			return e;
		v = rev_next(v, d->mask);
	} while (v);
	return NULL;
}

/* The iterator always holds the entry it will return next (it->next), so
 * deleting the entry just returned never touches anything it depends on;
 * a shrink caused by that delete keeps the order (see rebuild()), and
 * it->next's bucket is recomputed from its hash against the current mask. */
void sd_iter_init(struct sd_iter *it, const struct sdict *d)
{
	it->d = d;
	it->idx = 0;
	it->e = NULL;
	it->next = first_from(d, 0);
}

struct sd_entry *sd_iter_next(struct sd_iter *it)
{
	struct sd_entry *e = it->next;
	if (!e) {
		it->e = NULL;
		return NULL;
	}
	const struct sdict *d = it->d;
	if (e->next) {
		it->next = e->next;
	} else {
		uint64_t v = rev_next(e->hash & d->mask, d->mask);
		it->next = v ? first_from(d, v) : NULL;
	}
	it->idx = e->hash & d->mask;
	it->e = e;
	return e;
}

uint64_t sd_scan(const struct sdict *d, uint64_t cursor, unsigned count,
		 sd_scan_fn *fn, void *arg)
{
	if (d->used == 0)
		return 0;
	if (count == 0)
		count = 1;
	unsigned emitted = 0;
	do {
		struct sd_entry *e = d->b[cursor & d->mask];
		while (e) {
			struct sd_entry *next = e->next;   /* fn may delete e */
			fn(arg, e);
			emitted++;
			e = next;
		}
		cursor = rev_next(cursor, d->mask);
	} while (cursor && emitted < count);
	return cursor;
}

size_t sd_mem(const struct sdict *d)
{
	size_t n = sizeof(*d) + (d->mask + 1) * sizeof(*d->b);
	for (uint64_t i = 0; i <= d->mask; i++)
		for (const struct sd_entry *e = d->b[i]; e; e = e->next)
			n += sizeof(*e) + e->klen + 1;
	return n;
}
