/* shards/obj_set.c — the set value type (contract in obj_set.h): intsets
 * in Redis's byte layout, listpacks of members, and sdict hashtables, with
 * Redis 7.2's forward-only conversions between them.
 *
 * Intsets are sized exactly to their content (header + n * width), as
 * listpacks are: small sets cost what they cost in Redis. */
#include "shards/obj_set.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A listpack must stay below this many bytes (Redis's lpSafeToAdd). */
#define SET_LP_SAFETY (1ULL << 30)
/* Redis caps set-max-intset-entries at 2^30 (intsetMaxEntries). */
#define SET_INTSET_CAP (1ULL << 30)

static void set_oom(size_t n)
{
	fprintf(stderr, "keyrail: out of memory allocating %zu bytes\n", n);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		set_oom(n);
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		set_oom(n);
	return q;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		set_oom(n * sz);
	return p;
}

/* ================================================================ intset */

/* Little-endian loads and stores of 2/4/8-byte integers. */
static inline uint64_t le_load(const unsigned char *p, unsigned w)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < w; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void le_store(unsigned char *p, unsigned w, uint64_t v)
{
	for (unsigned i = 0; i < w; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t is_width(const unsigned char *is)
{
	return (uint32_t)le_load(is, 4);
}

static inline uint32_t is_len(const unsigned char *is)
{
	return (uint32_t)le_load(is + 4, 4);
}

static inline void is_set_hdr(unsigned char *is, uint32_t width, uint32_t len)
{
	le_store(is, 4, width);
	le_store(is + 4, 4, len);
}

/* Element i read with width w (sign-extended). */
static inline int64_t is_get_w(const unsigned char *is, unsigned w, uint32_t i)
{
	uint64_t u = le_load(is + OBJ_SET_INTSET_HDR + (size_t)i * w, w);
	switch (w) {
	case 2:
		return (int16_t)u;
	case 4:
		return (int32_t)u;
	default:
		return (int64_t)u;
	}
}

static inline int64_t is_get(const unsigned char *is, uint32_t i)
{
	return is_get_w(is, is_width(is), i);
}

static inline void is_put_w(unsigned char *is, unsigned w, uint32_t i, int64_t v)
{
	le_store(is + OBJ_SET_INTSET_HDR + (size_t)i * w, w, (uint64_t)v);
}

static unsigned width_for(int64_t v)
{
	if (v >= INT16_MIN && v <= INT16_MAX)
		return 2;
	if (v >= INT32_MIN && v <= INT32_MAX)
		return 4;
	return 8;
}

static size_t is_bytes(const unsigned char *is)
{
	return OBJ_SET_INTSET_HDR + (size_t)is_len(is) * is_width(is);
}

static unsigned char *is_new(void)
{
	unsigned char *is = xmalloc(OBJ_SET_INTSET_HDR);
	is_set_hdr(is, 2, 0);
	return is;
}

/* Binary search: true if v is present; *pos is its index, or where it
 * would be inserted. */
static bool is_search(const unsigned char *is, int64_t v, uint32_t *pos)
{
	uint32_t w = is_width(is), lo = 0, hi = is_len(is);
	if (width_for(v) > w) {
		*pos = v < 0 ? 0 : hi;
		return false;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int64_t x = is_get_w(is, w, mid);
		if (x == v) {
			*pos = mid;
			return true;
		}
		if (x < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return false;
}

/* Add v; *added says whether it was new. Returns the (moved) intset. A
 * value wider than the current width re-encodes every element; it is
 * then either the smallest or the largest. */
static unsigned char *is_add(unsigned char *is, int64_t v, bool *added)
{
	uint32_t w = is_width(is), n = is_len(is), pos;
	unsigned vw = width_for(v);

	if (vw > w) {
		is = xrealloc(is, OBJ_SET_INTSET_HDR + (size_t)(n + 1) * vw);
		uint32_t shift = v < 0 ? 1 : 0;
		/* Back to front: the wider slots never overlap unread ones. */
		for (uint32_t i = n; i-- > 0;)
			is_put_w(is, vw, i + shift, is_get_w(is, w, i));
		is_put_w(is, vw, shift ? 0 : n, v);
		is_set_hdr(is, vw, n + 1);
		*added = true;
		return is;
	}
	if (is_search(is, v, &pos)) {
		*added = false;
		return is;
	}
	is = xrealloc(is, OBJ_SET_INTSET_HDR + (size_t)(n + 1) * w);
	unsigned char *base = is + OBJ_SET_INTSET_HDR;
	memmove(base + (size_t)(pos + 1) * w, base + (size_t)pos * w, (size_t)(n - pos) * w);
	is_put_w(is, w, pos, v);
	is_set_hdr(is, w, n + 1);
	*added = true;
	return is;
}

static unsigned char *is_remove(unsigned char *is, int64_t v, bool *removed)
{
	uint32_t w = is_width(is), n = is_len(is), pos;
	if (!is_search(is, v, &pos)) {
		*removed = false;
		return is;
	}
	unsigned char *base = is + OBJ_SET_INTSET_HDR;
	memmove(base + (size_t)pos * w, base + (size_t)(pos + 1) * w, (size_t)(n - pos - 1) * w);
	is_set_hdr(is, w, n - 1);
	*removed = true;
	return xrealloc(is, OBJ_SET_INTSET_HDR + (size_t)(n - 1) * w);
}

/* Longest text of any element (the extremes are the longest). */
static size_t is_max_text(const unsigned char *is)
{
	uint32_t n = is_len(is);
	char buf[OBJ_SET_NUMBUF];
	if (n == 0)
		return 0;
	size_t a = ks_ll2str(buf, is_get(is, 0));
	size_t b = ks_ll2str(buf, is_get(is, n - 1));
	return a > b ? a : b;
}

/* ============================================================ elements */

static void elem_int(struct obj_set_elem *m, long long v, char *buf)
{
	m->is_int = true;
	m->ival = v;
	m->len = ks_ll2str(buf, v);
	m->p = buf;
}

static void elem_lp(struct obj_set_elem *m, const unsigned char *p, char *buf)
{
	long long v;
	uint32_t len;
	const unsigned char *s = lp_get(p, &v, &len);
	if (s) {
		m->is_int = false;
		m->ival = 0;
		m->p = (const char *)s;
		m->len = len;
	} else {
		elem_int(m, v, buf);
	}
}

static void elem_sd(struct obj_set_elem *m, const struct sd_entry *e)
{
	m->is_int = false;
	m->ival = 0;
	m->p = e->key;
	m->len = e->klen;
}

/* ========================================================== life cycle */

void *obj_set_new(uint8_t *enc)
{
	*enc = KS_ENC_INTSET;
	return is_new();
}

void *obj_set_new_for(const void *first, size_t len, size_t size_hint,
		      const struct obj_set_lim *lim, uint8_t *enc)
{
	long long v;
	if (first && ks_str2ll(first, len, &v) && size_hint <= lim->max_intset &&
	    size_hint <= SET_INTSET_CAP) {
		*enc = KS_ENC_INTSET;
		return is_new();
	}
	if (size_hint <= lim->max_lp_entries) {
		*enc = KS_ENC_LISTPACK;
		return lp_new();
	}
	*enc = KS_ENC_HASHTABLE;
	return sd_new(size_hint);
}

void obj_set_free(void *ptr, uint8_t enc)
{
	switch (enc) {
	case KS_ENC_INTSET:
		free(ptr);
		break;
	case KS_ENC_LISTPACK:
		lp_free(ptr);
		break;
	case KS_ENC_HASHTABLE:
		sd_free(ptr, NULL);
		break;
	default:
		assert(!"obj_set_free: bad encoding");
	}
}

void *obj_set_clone(const void *ptr, uint8_t enc)
{
	switch (enc) {
	case KS_ENC_INTSET: {
		size_t n = is_bytes(ptr);
		void *c = xmalloc(n);
		memcpy(c, ptr, n);
		return c;
	}
	case KS_ENC_LISTPACK: {
		size_t n = lp_bytes(ptr);
		void *c = xmalloc(n);
		memcpy(c, ptr, n);
		return c;
	}
	case KS_ENC_HASHTABLE: {
		const struct sdict *d = ptr;
		struct sdict *c = sd_new(sd_size(d));
		struct sd_iter it;
		struct sd_entry *e;
		sd_iter_init(&it, d);
		while ((e = sd_iter_next(&it)))
			sd_add(c, e->key, e->klen, NULL);
		return c;
	}
	default:
		assert(!"obj_set_clone: bad encoding");
		return NULL;
	}
}

size_t obj_set_mem(const void *ptr, uint8_t enc)
{
	switch (enc) {
	case KS_ENC_INTSET:
		return is_bytes(ptr);
	case KS_ENC_LISTPACK:
		return lp_bytes(ptr);
	case KS_ENC_HASHTABLE:
		return sd_mem(ptr);
	default:
		assert(!"obj_set_mem: bad encoding");
		return 0;
	}
}

static void ops_free(void *ptr, uint8_t enc)
{
	obj_set_free(ptr, enc);
}

static void *ops_clone(const void *ptr, uint8_t enc)
{
	return obj_set_clone(ptr, enc);
}

static size_t ops_mem(const void *ptr, uint8_t enc)
{
	return obj_set_mem(ptr, enc);
}

const struct ks_type_ops obj_set_ops = {
	.free = ops_free,
	.clone = ops_clone,
	.mem = ops_mem,
};

/* ============================================================= reading */

unsigned long obj_set_size(const void *ptr, uint8_t enc)
{
	switch (enc) {
	case KS_ENC_INTSET:
		return is_len(ptr);
	case KS_ENC_LISTPACK:
		return lp_len(ptr);
	case KS_ENC_HASHTABLE:
		return (unsigned long)sd_size(ptr);
	default:
		assert(!"obj_set_size: bad encoding");
		return 0;
	}
}

bool obj_set_contains(const void *ptr, uint8_t enc, const void *m, size_t len)
{
	switch (enc) {
	case KS_ENC_INTSET: {
		long long v;
		uint32_t pos;
		return ks_str2ll(m, len, &v) && is_search(ptr, v, &pos);
	}
	case KS_ENC_LISTPACK: {
		unsigned char *lp = (unsigned char *)ptr;
		return lp_find(lp, lp_first(lp), m, len, 0) != NULL;
	}
	case KS_ENC_HASHTABLE:
		return sd_find(ptr, m, len) != NULL;
	default:
		assert(!"obj_set_contains: bad encoding");
		return false;
	}
}

/* ========================================================= conversions */

static struct sdict *intset_to_sd(const unsigned char *is, size_t hint)
{
	uint32_t n = is_len(is);
	struct sdict *d = sd_new(hint > n ? hint : n);
	char buf[OBJ_SET_NUMBUF];
	for (uint32_t i = 0; i < n; i++) {
		size_t len = ks_ll2str(buf, is_get(is, i));
		sd_add(d, buf, len, NULL);
	}
	return d;
}

static unsigned char *intset_to_lp(const unsigned char *is)
{
	uint32_t n = is_len(is);
	unsigned char *lp = lp_new();
	for (uint32_t i = 0; i < n; i++)
		lp = lp_append_int(lp, is_get(is, i));
	return lp;
}

static struct sdict *lp_to_sd(unsigned char *lp, size_t hint)
{
	unsigned long n = lp_len(lp);
	struct sdict *d = sd_new(hint > n ? hint : n);
	unsigned char buf[LP_INTBUF];
	for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p)) {
		size_t len;
		const unsigned char *s = lp_get_str(p, buf, &len);
		sd_add(d, s, len, NULL);
	}
	return d;
}

void obj_set_convert(void **ptr, uint8_t *enc, uint8_t to, size_t size_hint)
{
	if (*enc == to)
		return;
	if (*enc == KS_ENC_INTSET && to == KS_ENC_LISTPACK) {
		unsigned char *lp = intset_to_lp(*ptr);
		free(*ptr);
		*ptr = lp;
	} else if (*enc == KS_ENC_INTSET && to == KS_ENC_HASHTABLE) {
		struct sdict *d = intset_to_sd(*ptr, size_hint);
		free(*ptr);
		*ptr = d;
	} else if (*enc == KS_ENC_LISTPACK && to == KS_ENC_HASHTABLE) {
		struct sdict *d = lp_to_sd(*ptr, size_hint);
		lp_free(*ptr);
		*ptr = d;
	} else {
		assert(!"obj_set_convert: backward or unknown conversion");
		return;
	}
	*enc = to;
}

/* ============================================================= writing */

static bool lp_room(const unsigned char *lp, size_t len)
{
	return lp_bytes(lp) + len + 16 < SET_LP_SAFETY;
}

int obj_set_add(void **ptr, uint8_t *enc, const void *m, size_t len,
		const struct obj_set_lim *lim)
{
	bool existed;
	switch (*enc) {
	case KS_ENC_INTSET: {
		long long v;
		if (ks_str2ll(m, len, &v)) {
			bool added;
			*ptr = is_add(*ptr, v, &added);
			if (added) {
				size_t cap = lim->max_intset < SET_INTSET_CAP ? lim->max_intset
									      : SET_INTSET_CAP;
				if (is_len(*ptr) > cap)
					obj_set_convert(ptr, enc, KS_ENC_HASHTABLE, 0);
			}
			return added;
		}
		/* A string joins a small intset as a listpack (7.2), else the
		 * set becomes a hashtable. */
		const unsigned char *is = *ptr;
		size_t n = is_len(is), maxlen = is_max_text(is);
		if (n < lim->max_lp_entries && len <= lim->max_lp_value &&
		    maxlen <= lim->max_lp_value && (n * maxlen + len) < SET_LP_SAFETY) {
			obj_set_convert(ptr, enc, KS_ENC_LISTPACK, 0);
			*ptr = lp_append(*ptr, m, len);
		} else {
			obj_set_convert(ptr, enc, KS_ENC_HASHTABLE, n + 1);
			sd_add(*ptr, m, len, NULL);
		}
		return 1;
	}
	case KS_ENC_LISTPACK: {
		unsigned char *lp = *ptr;
		if (lp_find(lp, lp_first(lp), m, len, 0))
			return 0;
		unsigned long n = lp_len(lp);
		if (n < lim->max_lp_entries && len <= lim->max_lp_value && lp_room(lp, len)) {
			*ptr = lp_append(lp, m, len);
			return 1;
		}
		obj_set_convert(ptr, enc, KS_ENC_HASHTABLE, n + 1);
		sd_add(*ptr, m, len, NULL);
		return 1;
	}
	case KS_ENC_HASHTABLE:
		sd_add(*ptr, m, len, &existed);
		return existed ? 0 : 1;
	default:
		assert(!"obj_set_add: bad encoding");
		return 0;
	}
}

int obj_set_remove(void **ptr, uint8_t enc, const void *m, size_t len)
{
	switch (enc) {
	case KS_ENC_INTSET: {
		long long v;
		bool removed = false;
		if (ks_str2ll(m, len, &v))
			*ptr = is_remove(*ptr, v, &removed);
		return removed;
	}
	case KS_ENC_LISTPACK: {
		unsigned char *lp = *ptr;
		unsigned char *p = lp_find(lp, lp_first(lp), m, len, 0);
		if (!p)
			return 0;
		*ptr = lp_delete(lp, p, NULL);
		return 1;
	}
	case KS_ENC_HASHTABLE:
		return sd_del(*ptr, m, len, NULL);
	default:
		assert(!"obj_set_remove: bad encoding");
		return 0;
	}
}

/* =========================================================== iteration */

void obj_set_iter_init(struct obj_set_iter *it, const void *ptr, uint8_t enc)
{
	it->ptr = ptr;
	it->enc = enc;
	it->i = 0;
	it->p = NULL;
	if (enc == KS_ENC_LISTPACK)
		it->p = lp_first((unsigned char *)ptr);
	else if (enc == KS_ENC_HASHTABLE)
		sd_iter_init(&it->di, ptr);
}

bool obj_set_iter_next(struct obj_set_iter *it, struct obj_set_elem *m)
{
	switch (it->enc) {
	case KS_ENC_INTSET:
		if (it->i >= is_len(it->ptr))
			return false;
		elem_int(m, is_get(it->ptr, it->i), it->buf);
		it->i++;
		return true;
	case KS_ENC_LISTPACK:
		if (!it->p)
			return false;
		elem_lp(m, it->p, it->buf);
		it->p = lp_next((unsigned char *)it->ptr, it->p);
		return true;
	case KS_ENC_HASHTABLE: {
		struct sd_entry *e = sd_iter_next(&it->di);
		if (!e)
			return false;
		elem_sd(m, e);
		return true;
	}
	default:
		assert(!"obj_set_iter_next: bad encoding");
		return false;
	}
}

struct scan_wrap {
	obj_set_elem_fn *fn;
	void *arg;
};

static void scan_sd_cb(void *arg, struct sd_entry *e)
{
	struct scan_wrap *w = arg;
	struct obj_set_elem m;
	elem_sd(&m, e);
	w->fn(w->arg, &m);
}

uint64_t obj_set_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		      obj_set_elem_fn *fn, void *arg)
{
	if (enc == KS_ENC_HASHTABLE) {
		struct scan_wrap w = { fn, arg };
		return sd_scan(ptr, cursor, count, scan_sd_cb, &w);
	}
	struct obj_set_iter it;
	struct obj_set_elem m;
	obj_set_iter_init(&it, ptr, enc);
	while (obj_set_iter_next(&it, &m))
		fn(arg, &m);
	return 0;
}

/* ============================================================== random */

void obj_set_random(const void *ptr, uint8_t enc, uint64_t rnd,
		    struct obj_set_elem *m, char *buf)
{
	unsigned long n = obj_set_size(ptr, enc);
	assert(n > 0);
	switch (enc) {
	case KS_ENC_INTSET:
		elem_int(m, is_get(ptr, (uint32_t)(rnd % n)), buf);
		break;
	case KS_ENC_LISTPACK:
		elem_lp(m, lp_seek((unsigned char *)ptr, (long)(rnd % n)), buf);
		break;
	case KS_ENC_HASHTABLE:
		elem_sd(m, sd_random(ptr, rnd));
		break;
	default:
		assert(!"obj_set_random: bad encoding");
	}
}

/* A bitmap of n bits with exactly k set, chosen uniformly: k random
 * distinct bits, or, when k is over half of n, all but n-k random ones
 * (so each draw hits a free bit with probability >= 1/2). */
static uint64_t *pick_bitmap(unsigned long n, unsigned long k, obj_set_rnd_fn *rnd, void *arg)
{
	size_t words = (n + 63) / 64;
	uint64_t *bm = xcalloc(words, sizeof(*bm));
	bool invert = k > n / 2;
	unsigned long want = invert ? n - k : k;
	if (invert) {
		for (unsigned long i = 0; i < n; i++)
			bm[i / 64] |= 1ULL << (i % 64);
	}
	while (want) {
		unsigned long i = (unsigned long)(rnd(arg) % n);
		uint64_t bit = 1ULL << (i % 64);
		bool set = (bm[i / 64] & bit) != 0;
		if (set == invert) {
			bm[i / 64] ^= bit;
			want--;
		}
	}
	return bm;
}

static inline bool bm_test(const uint64_t *bm, unsigned long i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

/* Small open-addressing set of nonzero 64-bit values (entry pointers),
 * for drawing distinct hashtable members. */
struct ptrset {
	uint64_t *slot;
	uint64_t mask;
};

static void ptrset_init(struct ptrset *s, unsigned long n)
{
	uint64_t cap = 16;
	while (cap < (uint64_t)n * 2)
		cap <<= 1;
	s->slot = xcalloc(cap, sizeof(*s->slot));
	s->mask = cap - 1;
}

/* Insert v: true if it was not there. */
static bool ptrset_add(struct ptrset *s, uint64_t v)
{
	uint64_t h = v * 0x9e3779b97f4a7c15ULL;
	for (uint64_t i = (h >> 20) & s->mask;; i = (i + 1) & s->mask) {
		if (s->slot[i] == v)
			return false;
		if (s->slot[i] == 0) {
			s->slot[i] = v;
			return true;
		}
	}
}

/* Every listpack position, in order (random access for picks). */
static unsigned char **lp_positions(unsigned char *lp, unsigned long n)
{
	unsigned char **pos = xmalloc(n * sizeof(*pos));
	unsigned long i = 0;
	for (unsigned char *p = lp_first(lp); p && i < n; p = lp_next(lp, p))
		pos[i++] = p;
	return pos;
}

/* Every hashtable entry, in iteration order. */
static struct sd_entry **sd_entries(const struct sdict *d)
{
	struct sd_entry **arr = xmalloc((size_t)sd_size(d) * sizeof(*arr));
	struct sd_iter it;
	struct sd_entry *e;
	size_t i = 0;
	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it)))
		arr[i++] = e;
	return arr;
}

void obj_set_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			 obj_set_rnd_fn *rnd, void *rnd_arg, obj_set_elem_fn *fn, void *arg)
{
	unsigned long n = obj_set_size(ptr, enc);
	struct obj_set_elem m;
	char buf[OBJ_SET_NUMBUF];

	if (count == 0 || n == 0)
		return;
	if (unique && count >= n) {
		struct obj_set_iter it;
		obj_set_iter_init(&it, ptr, enc);
		while (obj_set_iter_next(&it, &m))
			fn(arg, &m);
		return;
	}
	if (!unique) {
		unsigned char **pos = NULL;
		if (enc == KS_ENC_LISTPACK)
			pos = lp_positions((unsigned char *)ptr, n);
		for (unsigned long k = 0; k < count; k++) {
			uint64_t r = rnd(rnd_arg);
			if (enc == KS_ENC_INTSET)
				elem_int(&m, is_get(ptr, (uint32_t)(r % n)), buf);
			else if (enc == KS_ENC_LISTPACK)
				elem_lp(&m, pos[r % n], buf);
			else
				elem_sd(&m, sd_random(ptr, r));
			fn(arg, &m);
		}
		free(pos);
		return;
	}
	/* unique, count < n */
	if (enc == KS_ENC_HASHTABLE) {
		if (count * 3 > n) {
			/* Partial Fisher-Yates over all entries. */
			struct sd_entry **arr = sd_entries(ptr);
			for (unsigned long k = 0; k < count; k++) {
				unsigned long j = k + (unsigned long)(rnd(rnd_arg) % (n - k));
				struct sd_entry *t = arr[k];
				arr[k] = arr[j];
				arr[j] = t;
				elem_sd(&m, arr[k]);
				fn(arg, &m);
			}
			free(arr);
		} else {
			struct ptrset seen;
			ptrset_init(&seen, count);
			for (unsigned long k = 0; k < count;) {
				struct sd_entry *e = sd_random(ptr, rnd(rnd_arg));
				if (!ptrset_add(&seen, (uint64_t)(uintptr_t)e))
					continue;
				elem_sd(&m, e);
				fn(arg, &m);
				k++;
			}
			free(seen.slot);
		}
		return;
	}
	uint64_t *bm = pick_bitmap(n, count, rnd, rnd_arg);
	if (enc == KS_ENC_INTSET) {
		for (size_t w = 0; w < (n + 63) / 64; w++) {
			for (uint64_t bits = bm[w]; bits; bits &= bits - 1) {
				uint32_t i = (uint32_t)(w * 64 + (unsigned)__builtin_ctzll(bits));
				elem_int(&m, is_get(ptr, i), buf);
				fn(arg, &m);
			}
		}
	} else {
		unsigned char *lp = (unsigned char *)ptr;
		unsigned long i = 0;
		for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p), i++) {
			if (bm_test(bm, i)) {
				elem_lp(&m, p, buf);
				fn(arg, &m);
			}
		}
	}
	free(bm);
}

void obj_set_pop(void **ptr, uint8_t enc, unsigned long count,
		 obj_set_rnd_fn *rnd, void *rnd_arg, obj_set_elem_fn *fn, void *arg)
{
	unsigned long n = obj_set_size(*ptr, enc);
	struct obj_set_elem m;
	char buf[OBJ_SET_NUMBUF];

	assert(count < n);
	if (count == 0)
		return;
	if (enc == KS_ENC_HASHTABLE) {
		struct sdict *d = *ptr;
		/* Entries never move when the table resizes, so pointers taken
		 * before the deletes stay valid for the ones not yet deleted. */
		if (count * 3 > n) {
			struct sd_entry **arr = sd_entries(d);
			for (unsigned long k = 0; k < count; k++) {
				unsigned long j = k + (unsigned long)(rnd(rnd_arg) % (n - k));
				struct sd_entry *e = arr[j];
				arr[j] = arr[k];
				elem_sd(&m, e);
				fn(arg, &m);
				sd_del(d, e->key, e->klen, NULL);
			}
			free(arr);
		} else {
			for (unsigned long k = 0; k < count; k++) {
				struct sd_entry *e = sd_random(d, rnd(rnd_arg));
				elem_sd(&m, e);
				fn(arg, &m);
				sd_del(d, e->key, e->klen, NULL);
			}
		}
		return;
	}
	uint64_t *bm = pick_bitmap(n, count, rnd, rnd_arg);
	if (enc == KS_ENC_INTSET) {
		unsigned char *is = *ptr;
		uint32_t w = is_width(is), out = 0;
		for (uint32_t i = 0; i < n; i++) {
			int64_t v = is_get_w(is, w, i);
			if (bm_test(bm, i)) {
				elem_int(&m, v, buf);
				fn(arg, &m);
			} else {
				is_put_w(is, w, out++, v);
			}
		}
		is_set_hdr(is, w, out);
		*ptr = xrealloc(is, OBJ_SET_INTSET_HDR + (size_t)out * w);
	} else {
		/* Rebuild with the survivors: one pass instead of a memmove of
		 * the tail per deleted member. */
		unsigned char *lp = *ptr, *nlp = lp_new();
		unsigned long i = 0;
		for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p), i++) {
			elem_lp(&m, p, buf);
			if (bm_test(bm, i))
				fn(arg, &m);
			else if (m.is_int)
				nlp = lp_append_int(nlp, m.ival);
			else
				nlp = lp_append(nlp, m.p, m.len);
		}
		lp_free(lp);
		*ptr = nlp;
	}
	free(bm);
}

/* ================================================== intsets on the wire */

size_t obj_set_intset_bytes(const void *ptr)
{
	return is_bytes(ptr);
}

bool obj_set_intset_valid(const void *blob, size_t size)
{
	const unsigned char *is = blob;
	if (size < OBJ_SET_INTSET_HDR)
		return false;
	uint32_t w = is_width(is), n = is_len(is);
	if (w != 2 && w != 4 && w != 8)
		return false;
	if ((uint64_t)n * w + OBJ_SET_INTSET_HDR != (uint64_t)size)
		return false;
	for (uint32_t i = 1; i < n; i++)
		if (is_get_w(is, w, i - 1) >= is_get_w(is, w, i))
			return false;
	return true;
}

void *obj_set_intset_load(const void *blob, size_t size)
{
	if (!obj_set_intset_valid(blob, size)) {
		errno = EINVAL;
		return NULL;
	}
	void *is = xmalloc(size);
	memcpy(is, blob, size);
	return is;
}

bool obj_set_lp_valid(const unsigned char *lp, size_t size)
{
	if (!lp_validate(lp, size))
		return false;
	unsigned char *l = (unsigned char *)lp;
	struct sdict *seen = sd_new(lp_len(l));
	unsigned char buf[LP_INTBUF];
	bool ok = true;
	for (unsigned char *p = lp_first(l); p; p = lp_next(l, p)) {
		size_t len;
		const unsigned char *s = lp_get_str(p, buf, &len);
		bool existed;
		sd_add(seen, s, len, &existed);
		if (existed) {
			ok = false;
			break;
		}
	}
	sd_free(seen, NULL);
	return ok;
}
