/* shards/obj_hash.c — the hash value type (see obj_hash.h).
 *
 * Listpack hashes are a flat field,value,... sequence searched with
 * lp_find(skip = 1); hashtable hashes are an sdict whose entries own a
 * value blob (varint length + bytes, no terminator: values are only ever
 * handed out with their length). The blob keeps a hashtable field at
 * sd_entry + one allocation, close to Redis's dictEntry + sds + sds. */
#include <stdlib.h>
#include <string.h>

#include "shards/obj_hash.h"

/* Redis's LISTPACK_MAX_SAFETY_SIZE: a listpack never grows past 1 GiB. */
#define HASH_LP_MAX_BYTES (1ul << 30)

static void *hash_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();   /* as lp_new/sd_new: a value we cannot build is fatal */
	return p;
}

/* ------------------------------------------------------- value blobs */

static size_t hv_hdr_len(size_t len)
{
	size_t n = 1;

	while (len >= 0x80) {
		len >>= 7;
		n++;
	}
	return n;
}

static unsigned char *hv_new(const void *v, size_t len)
{
	size_t hl = hv_hdr_len(len);
	unsigned char *b = hash_xmalloc(hl + len), *q = b;
	size_t l = len;

	while (l >= 0x80) {
		*q++ = (unsigned char)(l | 0x80);
		l >>= 7;
	}
	*q++ = (unsigned char)l;
	if (len)
		memcpy(q, v, len);
	return b;
}

/* The bytes of blob b; *len set to their count. */
static const char *hv_get(const unsigned char *b, size_t *len)
{
	size_t l = 0;
	unsigned shift = 0;

	while (*b & 0x80) {
		l |= (size_t)(*b++ & 0x7f) << shift;
		shift += 7;
	}
	l |= (size_t)*b++ << shift;
	*len = l;
	return (const char *)b;
}

static size_t hv_size(const unsigned char *b)
{
	size_t len;
	const char *p = hv_get(b, &len);

	return (size_t)(p - (const char *)b) + len;
}

static void hv_free_entry(struct sd_entry *e)
{
	free(e->v.ptr);
	e->v.ptr = NULL;
}

/* -------------------------------------------------- listpack helpers */

static void lp_read(const unsigned char *p, struct obj_hash_str *s, char *buf)
{
	size_t len;

	s->p = (const char *)lp_get_str(p, (unsigned char *)buf, &len);
	s->len = len;
}

/* Position of field f in a listpack hash, NULL if absent. */
static unsigned char *lp_hash_find(unsigned char *lp, const void *f, size_t flen)
{
	unsigned char *first = lp_first(lp);

	return first ? lp_find(lp, first, f, flen, 1) : NULL;
}

static void ht_read(const struct sd_entry *e, struct obj_hash_str *f, struct obj_hash_str *v)
{
	f->p = e->key;
	f->len = e->klen;
	v->p = hv_get(e->v.ptr, &v->len);
}

/* ------------------------------------------------------- life cycle */

void *obj_hash_new(uint8_t *enc)
{
	*enc = KS_ENC_LISTPACK;
	return lp_new();
}

void *obj_hash_new_sized(size_t nfields, const struct obj_hash_lim *lim, uint8_t *enc)
{
	if (nfields > lim->max_entries) {
		*enc = KS_ENC_HASHTABLE;
		return sd_new(nfields);
	}
	return obj_hash_new(enc);
}

void obj_hash_free(void *ptr, uint8_t enc)
{
	if (!ptr)
		return;
	if (enc == KS_ENC_LISTPACK)
		lp_free(ptr);
	else
		sd_free(ptr, hv_free_entry);
}

void *obj_hash_clone(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK) {
		size_t n = lp_bytes(ptr);
		void *c = hash_xmalloc(n);

		memcpy(c, ptr, n);
		return c;
	}

	const struct sdict *d = ptr;
	struct sdict *c = sd_new(sd_size(d));
	struct sd_iter it;
	struct sd_entry *e;

	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it))) {
		bool existed;
		struct sd_entry *ne = sd_add(c, e->key, e->klen, &existed);
		size_t n = hv_size(e->v.ptr);

		ne->v.ptr = hash_xmalloc(n);
		memcpy(ne->v.ptr, e->v.ptr, n);
	}
	return c;
}

size_t obj_hash_mem(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK)
		return lp_bytes(ptr);

	const struct sdict *d = ptr;
	size_t n = sd_mem(d);
	struct sd_iter it;
	struct sd_entry *e;

	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it)))
		n += hv_size(e->v.ptr);
	return n;
}

static void hash_ops_free(void *ptr, uint8_t enc)
{
	obj_hash_free(ptr, enc);
}

static void *hash_ops_clone(const void *ptr, uint8_t enc)
{
	return obj_hash_clone(ptr, enc);
}

static size_t hash_ops_mem(const void *ptr, uint8_t enc)
{
	return obj_hash_mem(ptr, enc);
}

const struct ks_type_ops obj_hash_ops = {
	.free = hash_ops_free,
	.clone = hash_ops_clone,
	.mem = hash_ops_mem,
};

/* --------------------------------------------------------- reading */

unsigned long obj_hash_len(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK)
		return lp_len(ptr) / 2;
	return (unsigned long)sd_size(ptr);
}

bool obj_hash_get(const void *ptr, uint8_t enc, const void *f, size_t flen,
		  struct obj_hash_str *val, char *buf)
{
	if (enc == KS_ENC_LISTPACK) {
		/* lp_find does not write; the listpack API is just not const. */
		unsigned char *lp = (unsigned char *)ptr;
		unsigned char *p = lp_hash_find(lp, f, flen);

		if (!p)
			return false;
		lp_read(lp_next(lp, p), val, buf);
		return true;
	}

	const struct sd_entry *e = sd_find(ptr, f, flen);

	if (!e)
		return false;
	val->p = hv_get(e->v.ptr, &val->len);
	return true;
}

bool obj_hash_exists(const void *ptr, uint8_t enc, const void *f, size_t flen)
{
	if (enc == KS_ENC_LISTPACK)
		return lp_hash_find((unsigned char *)ptr, f, flen) != NULL;
	return sd_find(ptr, f, flen) != NULL;
}

/* --------------------------------------------------------- writing */

void obj_hash_convert(void **ptr, uint8_t *enc)
{
	if (*enc != KS_ENC_LISTPACK)
		return;

	unsigned char *lp = *ptr;
	struct sdict *d = sd_new(lp_len(lp) / 2);
	char fbuf[OBJ_HASH_NUMBUF], vbuf[OBJ_HASH_NUMBUF];

	for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p))) {
		struct obj_hash_str f, v;
		bool existed;
		struct sd_entry *e;

		lp_read(p, &f, fbuf);
		lp_read(lp_next(lp, p), &v, vbuf);
		e = sd_add(d, f.p, f.len, &existed);
		if (existed)   /* not from a validated listpack: last value wins */
			free(e->v.ptr);
		e->v.ptr = hv_new(v.p, v.len);
	}
	lp_free(lp);
	*ptr = d;
	*enc = KS_ENC_HASHTABLE;
}

static int ht_set(struct sdict *d, const void *f, size_t flen, const void *v, size_t vlen)
{
	bool existed;
	struct sd_entry *e = sd_add(d, f, flen, &existed);

	if (existed) {
		size_t olen;

		hv_get(e->v.ptr, &olen);
		if (olen == vlen) {   /* same size: same header, rewrite in place */
			memcpy((unsigned char *)e->v.ptr + hv_hdr_len(vlen), v, vlen);
			return 0;
		}
		free(e->v.ptr);
	}
	e->v.ptr = hv_new(v, vlen);
	return existed ? 0 : 1;
}

int obj_hash_set(void **ptr, uint8_t *enc, const void *f, size_t flen,
		 const void *v, size_t vlen, const struct obj_hash_lim *lim)
{
	if (*enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;

		if (flen > lim->max_value || vlen > lim->max_value ||
		    lp_bytes(lp) + lp_entry_size(f, flen) + lp_entry_size(v, vlen) >
			    HASH_LP_MAX_BYTES) {
			obj_hash_convert(ptr, enc);
			return ht_set(*ptr, f, flen, v, vlen);
		}

		unsigned char *p = lp_hash_find(lp, f, flen);

		if (p) {
			*ptr = lp_insert(lp, v, vlen, lp_next(lp, p), LP_REPLACE, NULL);
			return 0;
		}
		lp = lp_append(lp, f, flen);
		lp = lp_append(lp, v, vlen);
		*ptr = lp;
		if (lp_len(lp) / 2 > lim->max_entries)
			obj_hash_convert(ptr, enc);
		return 1;
	}
	return ht_set(*ptr, f, flen, v, vlen);
}

int obj_hash_del(void **ptr, uint8_t enc, const void *f, size_t flen)
{
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;
		unsigned char *p = lp_hash_find(lp, f, flen);

		if (!p)
			return 0;
		*ptr = lp_delete_range_at(lp, p, 2);
		return 1;
	}
	return sd_del(*ptr, f, flen, hv_free_entry);
}

/* ------------------------------------------------------- iteration */

void obj_hash_iter_init(struct obj_hash_iter *it, const void *ptr, uint8_t enc)
{
	it->ptr = ptr;
	it->enc = enc;
	it->p = NULL;
	if (enc == KS_ENC_LISTPACK)
		it->p = lp_first((unsigned char *)ptr);
	else
		sd_iter_init(&it->di, ptr);
}

bool obj_hash_iter_next(struct obj_hash_iter *it, struct obj_hash_str *f,
			struct obj_hash_str *v)
{
	if (it->enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)it->ptr, *vp;

		if (!it->p)
			return false;
		vp = lp_next(lp, it->p);
		lp_read(it->p, f, it->fbuf);
		lp_read(vp, v, it->vbuf);
		it->p = lp_next(lp, vp);
		return true;
	}

	struct sd_entry *e = sd_iter_next(&it->di);

	if (!e)
		return false;
	ht_read(e, f, v);
	return true;
}

struct hash_scan_arg {
	obj_hash_pair_fn *fn;
	void *arg;
};

static void hash_scan_cb(void *arg, struct sd_entry *e)
{
	struct hash_scan_arg *a = arg;
	struct obj_hash_str f, v;

	ht_read(e, &f, &v);
	a->fn(a->arg, &f, &v);
}

uint64_t obj_hash_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		       obj_hash_pair_fn *fn, void *arg)
{
	if (enc == KS_ENC_LISTPACK) {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;

		obj_hash_iter_init(&it, ptr, enc);
		while (obj_hash_iter_next(&it, &f, &v))
			fn(arg, &f, &v);
		return 0;
	}

	struct hash_scan_arg a = { .fn = fn, .arg = arg };

	return sd_scan(ptr, cursor, count, hash_scan_cb, &a);
}

/* ---------------------------------------------------------- random */

void obj_hash_random(const void *ptr, uint8_t enc, uint64_t rnd,
		     struct obj_hash_str *f, struct obj_hash_str *v,
		     char *fbuf, char *vbuf)
{
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)ptr;
		unsigned long n = lp_len(lp) / 2;
		unsigned char *p = lp_seek(lp, (long)(rnd % n) * 2);

		lp_read(p, f, fbuf);
		lp_read(lp_next(lp, p), v, vbuf);
		return;
	}
	ht_read(sd_random(ptr, rnd), f, v);
}

static void lp_emit(unsigned char *lp, unsigned char *p, obj_hash_pair_fn *fn, void *arg)
{
	char fbuf[OBJ_HASH_NUMBUF], vbuf[OBJ_HASH_NUMBUF];
	struct obj_hash_str f, v;

	lp_read(p, &f, fbuf);
	lp_read(lp_next(lp, p), &v, vbuf);
	fn(arg, &f, &v);
}

static void ht_emit(const struct sd_entry *e, obj_hash_pair_fn *fn, void *arg)
{
	struct obj_hash_str f, v;

	ht_read(e, &f, &v);
	fn(arg, &f, &v);
}

/* Listpack: index the field positions once, then pick from the index. */
static void lp_random_pick(unsigned char *lp, unsigned long count, bool unique,
			   obj_hash_rnd_fn *rnd, void *rnd_arg, obj_hash_pair_fn *fn, void *arg)
{
	unsigned long n = lp_len(lp) / 2, i = 0;
	unsigned char **pos = hash_xmalloc(n * sizeof(*pos));

	for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p)))
		pos[i++] = p;
	if (unique) {
		/* Selection sampling (Knuth's algorithm S): each field is taken
		 * with probability needed / remaining, so exactly `count`
		 * distinct fields come out, in listpack order. */
		unsigned long need = count;

		for (i = 0; i < n && need; i++) {
			if (rnd(rnd_arg) % (n - i) < need) {
				lp_emit(lp, pos[i], fn, arg);
				need--;
			}
		}
	} else {
		for (i = 0; i < count; i++)
			lp_emit(lp, pos[rnd(rnd_arg) % n], fn, arg);
	}
	free(pos);
}

/* Hashtable, distinct fields, count <= len / 3: draw random entries and
 * drop repeats (a temporary set of entry addresses). Expected draws are
 * under 1.5 * count because at most a third of the table is taken. */
static void ht_pick_sparse(const struct sdict *d, unsigned long count,
			   obj_hash_rnd_fn *rnd, void *rnd_arg, obj_hash_pair_fn *fn, void *arg)
{
	struct sdict *seen = sd_new(count);

	while (sd_size(seen) < count) {
		struct sd_entry *e = sd_random(d, rnd(rnd_arg));
		bool existed;

		sd_add(seen, &e, sizeof(e), &existed);
		if (!existed)
			ht_emit(e, fn, arg);
	}
	sd_free(seen, NULL);
}

/* Hashtable, distinct fields, count > len / 3: partial Fisher-Yates over
 * an array of all entries. */
static void ht_pick_dense(const struct sdict *d, unsigned long count,
			  obj_hash_rnd_fn *rnd, void *rnd_arg, obj_hash_pair_fn *fn, void *arg)
{
	unsigned long n = (unsigned long)sd_size(d), i = 0;
	struct sd_entry **all = hash_xmalloc(n * sizeof(*all));
	struct sd_iter it;
	struct sd_entry *e;

	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it)))
		all[i++] = e;
	for (i = 0; i < count; i++) {
		unsigned long j = i + (unsigned long)(rnd(rnd_arg) % (n - i));

		e = all[j];
		all[j] = all[i];
		all[i] = e;
		ht_emit(e, fn, arg);
	}
	free(all);
}

void obj_hash_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			  obj_hash_rnd_fn *rnd, void *rnd_arg,
			  obj_hash_pair_fn *fn, void *arg)
{
	unsigned long len = obj_hash_len(ptr, enc);

	if (len == 0 || count == 0)
		return;
	if (unique && count >= len) {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;

		obj_hash_iter_init(&it, ptr, enc);
		while (obj_hash_iter_next(&it, &f, &v))
			fn(arg, &f, &v);
		return;
	}
	if (enc == KS_ENC_LISTPACK) {
		lp_random_pick((unsigned char *)ptr, count, unique, rnd, rnd_arg, fn, arg);
		return;
	}
	if (!unique) {
		for (unsigned long i = 0; i < count; i++)
			ht_emit(sd_random(ptr, rnd(rnd_arg)), fn, arg);
	} else if (count * 3 > len) {
		ht_pick_dense(ptr, count, rnd, rnd_arg, fn, arg);
	} else {
		ht_pick_sparse(ptr, count, rnd, rnd_arg, fn, arg);
	}
}

/* -------------------------------------------------------- loading */

bool obj_hash_lp_valid(const unsigned char *lp, size_t size)
{
	unsigned char *l = (unsigned char *)lp;
	struct sdict *seen;
	char buf[OBJ_HASH_NUMBUF];
	bool ok = true;

	if (!lp_validate(lp, size) || lp_len(lp) % 2 != 0)
		return false;
	seen = sd_new(lp_len(lp) / 2);
	for (unsigned char *p = lp_first(l); p; p = lp_next(l, lp_next(l, p))) {
		struct obj_hash_str f;
		bool existed;

		lp_read(p, &f, buf);
		sd_add(seen, f.p, f.len, &existed);
		if (existed) {
			ok = false;
			break;
		}
	}
	sd_free(seen, NULL);
	return ok;
}
