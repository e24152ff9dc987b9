/* shards/ks.c — one shard's keyspace: hash tables, string values, expiry.
 *
 * Every db is a chained hash table with two bucket arrays and incremental
 * rehashing: a resize allocates t[1] and then every lookup, insert and
 * delete (and the shard cron through ks_rehash_step) moves one bucket from
 * t[0] to t[1], so no single command ever pays for a whole resize. Tables
 * grow x2 at load factor 1 and shrink to the smallest power of two holding
 * the keys once fewer than 10% of the buckets are used.
 *
 * An entry is one allocation (header, key, NUL, and for EMBSTR strings the
 * value and a NUL), so a GET of a short string touches the bucket array and
 * one entry. Entries with an expiry are also listed in db->exp, an array
 * that gives the active expiry cycle O(1) random sampling; e->exp_idx is the
 * entry's slot there and is fixed up whenever an entry or a slot moves.
 *
 * Only the owning shard's thread calls into a keyspace; the one process-wide
 * state (the hash seed) is written once before shards start. Allocation
 * failure aborts, as in Redis: callers never see a half-applied write. */
#include "shards/ks.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_TABLE_MIN 4            /* smallest bucket array (as Redis) */
#define KS_SHRINK_PCT 10          /* shrink when used < 10% of the buckets */
#define KS_EMPTY_VISITS 10        /* empty buckets a rehash step may skip, per bucket moved */
#define KS_EXP_MIN 16             /* smallest db->exp capacity */
#define KS_SLACK_MAX 16           /* tail bytes an overwrite may leave unused */
#define KS_RANDOM_PROBES 256      /* random bucket probes before a linear walk */
#define KS_RANDOM_TRIES 100       /* expired keys ks_random may drop per call */
#define KS_STR_PREALLOC_MAX (1024 * 1024)  /* greedy RAW growth limit */

/* ---------------------------------------------------------------- memory */

static void ks_oom(size_t n)
{
	fprintf(stderr, "keyrail: out of memory allocating %zu bytes\n", n);
	abort();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		ks_oom(n);
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		ks_oom(n);
	return q;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		ks_oom(n * sz);
	return p;
}

/* ------------------------------------------------------------------ hash */

/* The hash folds each 8-byte word into the state with a 64x64->128
 * multiply whose halves are xored together: one multiply per word, and
 * every output bit depends on every input bit of both operands. The seed
 * enters both operands, so without it an attacker cannot aim at the fixed
 * points (a zero operand) or predict bucket indexes. The length is mixed
 * in first and last so keys differing only in trailing zero bytes differ. */
#define KS_H_P0 0x6edd3a249018775bULL
#define KS_H_P1 0x1ed40c227dab7ad3ULL
#define KS_H_P2 0xbafcaba920f0ac5dULL
#define KS_H_P3 0xe2c532cf9756a037ULL
#define KS_H_P4 0x70db71c4a6d5169fULL
#define KS_H_P5 0xb51d8b61ea81606dULL

static uint64_t ks_seed_a = 0x2545f4914f6cdd1dULL;
static uint64_t ks_seed_b = 0x9e3779b97f4a7c15ULL;

static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* splitmix64 finaliser: spreads a seed (or a counter) over all bits. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void ks_set_seed(uint64_t seed)
{
	ks_seed_a = mix64(seed);
	ks_seed_b = mix64(seed ^ KS_H_P0);
}

static inline uint64_t hash_inline(const void *key, size_t len)
{
	const unsigned char *p = key;
	size_t n = len;
	uint64_t h = ks_seed_a ^ fold_mul((uint64_t)len ^ KS_H_P0, KS_H_P1);
	uint64_t w;

	while (n > 8) {
		h = fold_mul(rd64(p) ^ ks_seed_b, h ^ KS_H_P2);
		p += 8;
		n -= 8;
	}
	/* 0..8 bytes left: read them without going past the end. For 4..8 the
	 * two 4-byte reads overlap; for 1..3 first/middle/last cover all. */
	if (n >= 4)
		w = rd32(p) | (rd32(p + n - 4) << 32);
	else if (n > 0)
		w = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
	else
		w = 0;
	h = fold_mul(w ^ ks_seed_b ^ KS_H_P3, h ^ KS_H_P4);
	return fold_mul(h ^ ks_seed_a, (uint64_t)len ^ KS_H_P5);
}

uint64_t ks_hash(const void *key, size_t len)
{
	return hash_inline(key, len);
}

/* Per-thread PRNG for the active expiry cycle (each shard thread samples
 * its own keyspace; a shared state would be a data race). */
static _Thread_local uint64_t ks_rng_state;

static uint64_t ks_rng(void)
{
	if (ks_rng_state == 0)
		ks_rng_state = mix64(ks_seed_a ^ (uintptr_t)&ks_rng_state) | 1;
	ks_rng_state += 0x9e3779b97f4a7c15ULL;
	return mix64(ks_rng_state);
}

/* --------------------------------------------------------------- entries */

static inline size_t entry_base(size_t klen)
{
	return sizeof(struct ks_entry) + klen + 1;
}

static inline char *emb_ptr(const struct ks_entry *e)
{
	return (char *)e->key + e->klen + 1;
}

/* Bytes known to be allocated after the key's NUL. EMBSTR: its value and
 * NUL. Other string encodings keep in vlen the spare bytes they inherited
 * (from a former EMBSTR, or slack left by an in-place overwrite). Other
 * types report 0. Never more than the allocation really has, so a decision
 * to skip realloc based on it is always safe. */
static inline size_t entry_tail(const struct ks_entry *e)
{
	if (e->type != KS_STRING)
		return 0;
	return e->enc == KS_ENC_EMBSTR ? (size_t)e->vlen + 1 : e->vlen;
}

/* The owning shard's LRU clock (seconds), set once per loop round. */
static _Thread_local uint32_t ks_clock_s;

void ks_set_clock(int64_t now_ms)
{
	ks_clock_s = (uint32_t)(now_ms / 1000);
}

static struct ks_entry *entry_new(const void *key, size_t klen, uint32_t h, size_t tail)
{
	assert(klen < UINT32_MAX);
	struct ks_entry *e = xmalloc(entry_base(klen) + tail);
	e->next = NULL;
	e->expire_ms = KS_NO_EXPIRE;
	e->v.ptr = NULL;
	e->hash = h;
	e->klen = (uint32_t)klen;
	e->vlen = 0;
	e->exp_idx = 0;
	e->lru_s = ks_clock_s;   /* a new value was just accessed */
	e->type = KS_STRING;
	e->enc = KS_ENC_INT;
	e->flags = 0;
	if (klen)
		memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	return e;
}

static struct ks_str *str_alloc(size_t cap)
{
	assert(cap < SIZE_MAX - sizeof(struct ks_str) - 1);
	struct ks_str *s = xmalloc(sizeof(*s) + cap + 1);
	s->cap = cap;
	s->len = 0;
	s->buf[0] = '\0';
	return s;
}

static struct ks_str *str_new(const void *p, size_t len)
{
	struct ks_str *s = str_alloc(len);
	if (len)
		memcpy(s->buf, p, len);
	s->len = len;
	s->buf[len] = '\0';
	return s;
}

/* Collection types' modules, registered once before any shard runs. */
static const struct ks_type_ops *type_ops[KS_NTYPES];

void ks_register_type(enum ks_type t, const struct ks_type_ops *ops)
{
	assert(t > KS_STRING && t < KS_NTYPES);
	type_ops[t] = ops;
}

const char *ks_enc_name(uint8_t enc)
{
	static const char *const names[KS_NENC] = {
		[KS_ENC_INT] = "int", [KS_ENC_EMBSTR] = "embstr", [KS_ENC_RAW] = "raw",
		[KS_ENC_LISTPACK] = "listpack", [KS_ENC_QUICKLIST] = "quicklist",
		[KS_ENC_HASHTABLE] = "hashtable", [KS_ENC_INTSET] = "intset",
		[KS_ENC_SKIPLIST] = "skiplist",
	};
	return enc < KS_NENC ? names[enc] : "unknown";
}

size_t ks_entry_mem(const struct ks_entry *e)
{
	size_t n = entry_base(e->klen) + entry_tail(e);
	if (e->type == KS_STRING) {
		if (e->enc == KS_ENC_RAW)
			n += sizeof(struct ks_str) + ((const struct ks_str *)e->v.ptr)->cap + 1;
	} else if (e->type < KS_NTYPES && type_ops[e->type]) {
		n += type_ops[e->type]->mem(e->v.ptr, e->enc);
	}
	return n;
}

void ks_value_free(struct ks_entry *e)
{
	switch (e->type) {
	case KS_STRING:
		if (e->enc == KS_ENC_RAW) {
			free(e->v.ptr);
			e->v.ptr = NULL;
		} else {
			assert(e->enc == KS_ENC_INT || e->enc == KS_ENC_EMBSTR);
		}
		break;
	default:
		assert(e->type < KS_NTYPES && type_ops[e->type]);
		type_ops[e->type]->free(e->v.ptr, e->enc);
		e->v.ptr = NULL;
		break;
	}
}

void ks_entry_free(struct ks_entry *e)
{
	ks_value_free(e);
	free(e);
}

/* ------------------------------------------------------------- expiry */

static void exp_add(struct ks_db *db, struct ks_entry *e)
{
	if (db->nexp == db->exp_cap) {
		uint32_t cap = db->exp_cap ? db->exp_cap * 2 : KS_EXP_MIN;
		assert(cap > db->exp_cap);
		db->exp = xrealloc(db->exp, (size_t)cap * sizeof(*db->exp));
		db->exp_cap = cap;
	}
	e->exp_idx = db->nexp;
	db->exp[db->nexp++] = e;
}

/* O(1): the last slot fills the hole. The array halves when a quarter
 * full so a mass PERSIST/DEL gives the memory back. */
static void exp_remove(struct ks_db *db, struct ks_entry *e)
{
	uint32_t i = e->exp_idx;
	assert(i < db->nexp && db->exp[i] == e);
	struct ks_entry *last = db->exp[--db->nexp];
	db->exp[i] = last;
	last->exp_idx = i;
	if (db->nexp == 0) {
		free(db->exp);
		db->exp = NULL;
		db->exp_cap = 0;
	} else if (db->exp_cap > KS_EXP_MIN && db->nexp < db->exp_cap / 4) {
		db->exp_cap /= 2;
		db->exp = xrealloc(db->exp, (size_t)db->exp_cap * sizeof(*db->exp));
	}
}

void ks_set_expire(struct ks_db *db, struct ks_entry *e, int64_t when_ms)
{
	if (when_ms == KS_NO_EXPIRE) {
		ks_persist(db, e);
		return;
	}
	if (e->expire_ms == KS_NO_EXPIRE)
		exp_add(db, e);
	e->expire_ms = when_ms;
}

void ks_persist(struct ks_db *db, struct ks_entry *e)
{
	if (e->expire_ms == KS_NO_EXPIRE)
		return;
	exp_remove(db, e);
	e->expire_ms = KS_NO_EXPIRE;
}

/* Redis's rule: a key is still live at exactly its expire time. */
static inline bool entry_expired(const struct ks_entry *e, int64_t now_ms)
{
	return e->expire_ms != KS_NO_EXPIRE && now_ms > e->expire_ms;
}

/* ------------------------------------------------------------- tables */

static inline uint64_t table_size(const struct ks_table *t)
{
	return t->b ? t->mask + 1 : 0;
}

static inline bool rehashing(const struct ks_db *db)
{
	return db->rehash_idx >= 0;
}

/* ks_size() for this file's hot paths: the exported one is not inlined
 * (the library is built position-independent, so calls to exported
 * functions stay calls). */
static inline uint64_t db_size(const struct ks_db *db)
{
	return db->t[0].used + db->t[1].used;
}

uint64_t ks_size(const struct ks_db *db)
{
	return db_size(db);
}

uint64_t ks_nexpires(const struct ks_db *db)
{
	return db->nexp;
}

static uint64_t next_pow2(uint64_t n)
{
	if (n <= KS_TABLE_MIN)
		return KS_TABLE_MIN;
	assert(n <= (1ULL << 62));
	return 1ULL << (64 - __builtin_clzll(n - 1));
}

/* Move up to n non-empty buckets from t[0] to t[1], skipping at most
 * n * KS_EMPTY_VISITS empty ones. Returns 1 while work remains. */
static int rehash(struct ks_db *db, unsigned n)
{
	if (!rehashing(db))
		return 0;
	struct ks_table *t0 = &db->t[0], *t1 = &db->t[1];
	uint64_t empty = (uint64_t)n * KS_EMPTY_VISITS;

	while (n-- && t0->used) {
		assert((uint64_t)db->rehash_idx <= t0->mask);
		while (!t0->b[db->rehash_idx]) {
			db->rehash_idx++;
			if (--empty == 0)
				return 1;
		}
		struct ks_entry *e = t0->b[db->rehash_idx];
		while (e) {
			struct ks_entry *next = e->next;
			uint64_t i = e->hash & t1->mask;
			e->next = t1->b[i];
			t1->b[i] = e;
			t0->used--;
			t1->used++;
			e = next;
		}
		t0->b[db->rehash_idx++] = NULL;
	}
	if (t0->used == 0) {
		free(t0->b);
		*t0 = *t1;
		memset(t1, 0, sizeof(*t1));
		db->rehash_idx = -1;
		return 0;
	}
	return 1;
}

/* Start moving to a table of `size` buckets. An empty t[0] is replaced
 * at once: there is nothing to move. */
static void table_resize(struct ks_db *db, uint64_t size)
{
	assert(!rehashing(db));
	struct ks_table nt = { xcalloc(size, sizeof(*nt.b)), size - 1, 0 };
	if (db->t[0].used == 0) {
		free(db->t[0].b);
		db->t[0] = nt;
		return;
	}
	db->t[1] = nt;
	db->rehash_idx = 0;
}

static void expand_if_needed(struct ks_db *db)
{
	if (rehashing(db))
		return;
	if (!db->t[0].b)
		table_resize(db, KS_TABLE_MIN);
	else if (db->t[0].used >= table_size(&db->t[0]))
		table_resize(db, next_pow2(db->t[0].used + 1));
}

static void shrink_if_needed(struct ks_db *db)
{
	if (rehashing(db) || !db->t[0].b)
		return;
	uint64_t size = table_size(&db->t[0]);
	if (size > KS_TABLE_MIN && db->t[0].used * 100 < size * KS_SHRINK_PCT)
		table_resize(db, next_pow2(db->t[0].used));
}

static inline void rehash_one(struct ks_db *db)
{
	if (rehashing(db))
		rehash(db, 1);
}

/* a[0..n) == b[0..n). Keys of up to 16 bytes (nearly all) are compared
 * with two overlapping loads per side instead of a memcmp call; no byte
 * outside [0, n) is read. */
static inline bool key_eq(const char *a, const void *bv, size_t n)
{
	const unsigned char *b = bv;

	if (n >= 8 && n <= 16)
		return (rd64((const unsigned char *)a) ^ rd64(b)) == 0 &&
		       (rd64((const unsigned char *)a + n - 8) ^ rd64(b + n - 8)) == 0;
	if (n >= 4 && n < 8)
		return rd32((const unsigned char *)a) == rd32(b) &&
		       rd32((const unsigned char *)a + n - 4) == rd32(b + n - 4);
	return memcmp(a, b, n) == 0;
}

/* The link (bucket slot or predecessor's next) that points at the key,
 * or NULL. Pure: no rehash step. */
static inline struct ks_entry **lookup(struct ks_db *db, const void *key, size_t klen, uint32_t h)
{
	for (int ti = 0; ti < 2; ti++) {
		struct ks_table *t = &db->t[ti];
		if (t->b) {
			struct ks_entry **l = &t->b[h & t->mask];
			for (struct ks_entry *e = *l; e; l = &e->next, e = e->next) {
				if (e->hash == h && e->klen == klen && key_eq(e->key, key, klen))
					return l;
			}
		}
		if (!rehashing(db))
			break;
	}
	return NULL;
}

/* The link pointing at a linked entry; *ti gets its table. */
static struct ks_entry **link_of(struct ks_db *db, const struct ks_entry *e, int *ti)
{
	for (int i = 0; i < 2; i++) {
		struct ks_table *t = &db->t[i];
		if (t->b) {
			struct ks_entry **l = &t->b[e->hash & t->mask];
			for (; *l; l = &(*l)->next) {
				if (*l == e) {
					*ti = i;
					return l;
				}
			}
		}
		if (!rehashing(db))
			break;
	}
	return NULL;
}

static void link_new(struct ks_db *db, struct ks_entry *e)
{
	expand_if_needed(db);
	struct ks_table *t = &db->t[rehashing(db) ? 1 : 0];
	uint64_t i = e->hash & t->mask;
	e->next = t->b[i];
	t->b[i] = e;
	t->used++;
}

/* Unlink e from its chain and from db->exp; e keeps its expire_ms. */
static void unlink_entry(struct ks_db *db, struct ks_entry *e)
{
	int ti;
	struct ks_entry **l = link_of(db, e, &ti);
	assert(l && "entry is not in this db");
	*l = e->next;
	e->next = NULL;
	db->t[ti].used--;
	if (e->expire_ms != KS_NO_EXPIRE)
		exp_remove(db, e);
	shrink_if_needed(db);
}

/* Delete an entry that is known expired; counts it. */
static void expire_entry(struct ks_db *db, struct ks_entry *e)
{
	if (db->on_expire)   /* the write stream's DEL */
		db->on_expire(db->on_expire_arg, db, e);
	unlink_entry(db, e);
	ks_entry_free(e);
	db->expired++;
}

void ks_expire_entry(struct ks_db *db, struct ks_entry *e)
{
	expire_entry(db, e);
}

/* --------------------------------------------------------------- lookups */

_Thread_local unsigned char ks_expire_mode;

struct ks_entry *ks_find(struct ks_db *db, const void *key, size_t klen, int64_t now_ms)
{
	rehash_one(db);
	if (db_size(db) == 0)
		return NULL;
	struct ks_entry **l = lookup(db, key, klen, (uint32_t)hash_inline(key, klen));
	if (!l)
		return NULL;
	struct ks_entry *e = *l;
	if (entry_expired(e, now_ms)) {
		if (__builtin_expect(ks_expire_mode == KS_EXP_DELETE, 1)) {
			expire_entry(db, e);
			return NULL;
		}
		return ks_expire_mode == KS_EXP_KEEP ? e : NULL;
	}
	return e;
}

/* Pure read (no rehash step), so it is safe inside scan/foreach callbacks. */
struct ks_entry *ks_find_raw(struct ks_db *db, const void *key, size_t klen)
{
	if (db_size(db) == 0)
		return NULL;
	struct ks_entry **l = lookup(db, key, klen, (uint32_t)hash_inline(key, klen));
	return l ? *l : NULL;
}

/* ---------------------------------------------------------------- writes */

/* Does [p, p+n) overlap memory owned by e (the entry or its RAW buffer)? */
static bool value_aliases(const struct ks_entry *e, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, z = a + n;
	uintptr_t eb = (uintptr_t)e, ez = eb + entry_base(e->klen) + entry_tail(e);
	if (a < ez && z > eb)
		return true;
	if (e->type == KS_STRING && e->enc == KS_ENC_RAW) {
		const struct ks_str *s = e->v.ptr;
		uintptr_t sb = (uintptr_t)s->buf, sz = sb + s->cap + 1;
		if (a < sz && z > sb)
			return true;
	}
	return false;
}

static void put_raw(struct ks_entry *e, struct ks_str *old, const void *val, size_t vlen)
{
	struct ks_str *s;
	/* Reuse the old buffer when it fits without wasting over half. */
	if (old && old->cap >= vlen && vlen >= old->cap / 2)
		s = old;
	else if (old)
		s = xrealloc(old, sizeof(*s) + vlen + 1), s->cap = vlen;
	else
		s = str_alloc(vlen);
	if (vlen)
		memmove(s->buf, val, vlen);
	s->buf[vlen] = '\0';
	s->len = vlen;
	e->v.ptr = s;
}

/* The one write path behind ks_set_str/ks_set_int. The new encoding is
 * decided first; an existing entry is resized only when its tail is too
 * small or would waste KS_SLACK_MAX bytes or more, so same-shape
 * overwrites (the SET benchmark) do no allocation at all. */
static struct ks_entry *set_generic(struct ks_db *db, const void *key, size_t klen,
				    const void *val, size_t vlen, enum ks_enc enc,
				    long long iv, bool keep_ttl)
{
	size_t need = enc == KS_ENC_EMBSTR ? vlen + 1 : 0;
	uint32_t h = (uint32_t)hash_inline(key, klen);
	struct ks_entry *e;

	rehash_one(db);
	struct ks_entry **l = lookup(db, key, klen, h);
	if (!l) {
		e = entry_new(key, klen, h, need);
		e->enc = (uint8_t)enc;
		if (enc == KS_ENC_INT) {
			e->v.i = iv;
		} else if (enc == KS_ENC_EMBSTR) {
			if (vlen)
				memcpy(emb_ptr(e), val, vlen);
			emb_ptr(e)[vlen] = '\0';
			e->vlen = (uint32_t)vlen;
		} else {
			e->v.ptr = str_new(val, vlen);
		}
		e->flags |= db->snap_parity;   /* snapshot */
		link_new(db, e);
		return e;
	}

	e = *l;
	void *tmp = NULL;
	if (enc != KS_ENC_INT && vlen && value_aliases(e, val, vlen)) {
		/* SET k <bytes of k's own value>: copy before the storage moves. */
		tmp = xmalloc(vlen);
		memcpy(tmp, val, vlen);
		val = tmp;
	}
	size_t cur = entry_tail(e);
	struct ks_str *old_raw = NULL;
	if (e->type == KS_STRING && e->enc == KS_ENC_RAW && enc == KS_ENC_RAW) {
		old_raw = e->v.ptr;
		e->v.ptr = NULL;
	} else {
		ks_value_free(e);
	}

	if (need > cur || cur - need >= KS_SLACK_MAX) {
		struct ks_entry *ne = xrealloc(e, entry_base(klen) + need);
		cur = need;
		if (ne != e) {
			*l = ne;  /* the link lives in a bucket or another entry */
			if (ne->expire_ms != KS_NO_EXPIRE)
				db->exp[ne->exp_idx] = ne;
			e = ne;
		}
	}
	e->type = KS_STRING;
	e->enc = (uint8_t)enc;
	switch (enc) {
	case KS_ENC_INT:
		e->v.i = iv;
		e->vlen = (uint32_t)cur;
		break;
	case KS_ENC_EMBSTR:
		if (vlen)
			memmove(emb_ptr(e), val, vlen);
		emb_ptr(e)[vlen] = '\0';
		e->vlen = (uint32_t)vlen;
		e->v.ptr = NULL;
		break;
	default:   /* KS_ENC_RAW: string writes use no other encoding */
		put_raw(e, old_raw, val, vlen);
		e->vlen = (uint32_t)cur;
		break;
	}
	if (!keep_ttl)
		ks_persist(db, e);
	free(tmp);
	return e;
}

struct ks_entry *ks_set_obj(struct ks_db *db, const void *key, size_t klen,
			    uint8_t type, uint8_t enc, void *ptr, bool keep_ttl)
{
	assert(type != KS_STRING && type < KS_NTYPES);
	uint32_t h = (uint32_t)hash_inline(key, klen);
	rehash_one(db);
	struct ks_entry **l = lookup(db, key, klen, h);
	struct ks_entry *e;
	if (!l) {
		e = entry_new(key, klen, h, 0);
		e->flags |= db->snap_parity;   /* snapshot */
		link_new(db, e);
	} else {
		e = *l;
		ks_value_free(e);
		/* A former string's tail bytes stay allocated but unused. */
		e->vlen = 0;
		if (!keep_ttl)
			ks_persist(db, e);
	}
	e->type = type;
	e->enc = enc;
	e->v.ptr = ptr;
	return e;
}

/* The existing entry is overwritten even if logically expired: callers
 * look the key up with ks_find() first (as SET does), which removes it.
 * lru_s and flags survive an overwrite; callers stamp lru_s. */
struct ks_entry *ks_set_str(struct ks_db *db, const void *key, size_t klen,
			    const void *val, size_t vlen, bool keep_ttl)
{
	long long iv = 0;
	enum ks_enc enc;
	if (vlen <= 20 && ks_str2ll(val, vlen, &iv))
		enc = KS_ENC_INT;
	else if (vlen <= KS_EMBSTR_MAX)
		enc = KS_ENC_EMBSTR;
	else
		enc = KS_ENC_RAW;
	return set_generic(db, key, klen, val, vlen, enc, iv, keep_ttl);
}

struct ks_entry *ks_set_str_noint(struct ks_db *db, const void *key, size_t klen,
				  const void *val, size_t vlen, bool keep_ttl)
{
	enum ks_enc enc = vlen <= KS_EMBSTR_MAX ? KS_ENC_EMBSTR : KS_ENC_RAW;
	return set_generic(db, key, klen, val, vlen, enc, 0, keep_ttl);
}

struct ks_entry *ks_set_int(struct ks_db *db, const void *key, size_t klen,
			    long long v, bool keep_ttl)
{
	return set_generic(db, key, klen, NULL, 0, KS_ENC_INT, v, keep_ttl);
}

struct ks_entry *ks_attach(struct ks_db *db, struct ks_entry *e)
{
	e->flags = (uint16_t)((e->flags & ~KS_F_SNAP) | db->snap_parity);   /* snapshot */
	rehash_one(db);
	struct ks_entry **l = lookup(db, e->key, e->klen, e->hash);
	if (l) {
		/* Replace in place: same chain position, used unchanged. */
		struct ks_entry *old = *l;
		e->next = old->next;
		*l = e;
		if (old->expire_ms != KS_NO_EXPIRE)
			exp_remove(db, old);
		ks_entry_free(old);
	} else {
		link_new(db, e);
	}
	if (e->expire_ms != KS_NO_EXPIRE)
		exp_add(db, e);
	return e;
}

void ks_detach(struct ks_db *db, struct ks_entry *e)
{
	unlink_entry(db, e);
}

struct ks_entry *ks_entry_clone(const struct ks_entry *e, const void *newkey, size_t newklen)
{
	uint32_t h = (uint32_t)hash_inline(newkey, newklen);
	size_t tail = e->type == KS_STRING && e->enc == KS_ENC_EMBSTR ? (size_t)e->vlen + 1 : 0;
	struct ks_entry *c = entry_new(newkey, newklen, h, tail);
	c->expire_ms = e->expire_ms;
	c->lru_s = e->lru_s;
	c->flags = e->flags;
	c->type = e->type;
	c->enc = e->enc;
	switch (e->type) {
	case KS_STRING:
		if (e->enc == KS_ENC_INT) {
			c->v.i = e->v.i;
		} else if (e->enc == KS_ENC_EMBSTR) {
			memcpy(emb_ptr(c), emb_ptr(e), (size_t)e->vlen + 1);
			c->vlen = e->vlen;
		} else {
			const struct ks_str *s = e->v.ptr;
			c->v.ptr = str_new(s->buf, s->len);
		}
		break;
	default:
		assert(e->type < KS_NTYPES && type_ops[e->type]);
		c->v.ptr = type_ops[e->type]->clone(e->v.ptr, e->enc);
		break;
	}
	return c;
}

void ks_delete(struct ks_db *db, struct ks_entry *e)
{
	rehash_one(db);
	unlink_entry(db, e);
	ks_entry_free(e);
}

int ks_delete_key(struct ks_db *db, const void *key, size_t klen, int64_t now_ms)
{
	struct ks_entry *e = ks_find(db, key, klen, now_ms);
	if (!e)
		return 0;
	ks_delete(db, e);
	return 1;
}

/* --------------------------------------------------------------- strings */

const char *ks_str_get(const struct ks_entry *e, char *buf, size_t *len)
{
	assert(e->type == KS_STRING);
	switch (e->enc) {
	case KS_ENC_INT:
		*len = ks_ll2str(buf, e->v.i);
		return buf;
	case KS_ENC_EMBSTR:
		*len = e->vlen;
		return emb_ptr(e);
	default: {
		const struct ks_str *s = e->v.ptr;
		*len = s->len;
		return s->buf;
	}
	}
}

/* Growth beyond the current length is greedy (double up to 1 MB, then
 * +1 MB) so APPEND/SETRANGE loops stay amortised O(1) per byte. */
static size_t str_grow_cap(size_t min_cap)
{
	if (min_cap < KS_STR_PREALLOC_MAX)
		return min_cap * 2;
	assert(min_cap < SIZE_MAX - KS_STR_PREALLOC_MAX);
	return min_cap + KS_STR_PREALLOC_MAX;
}

struct ks_str *ks_str_make_raw(struct ks_entry *e, size_t min_cap)
{
	assert(e->type == KS_STRING);
	if (e->enc == KS_ENC_RAW) {
		struct ks_str *s = e->v.ptr;
		if (s->cap < min_cap) {
			size_t cap = str_grow_cap(min_cap);
			s = xrealloc(s, sizeof(*s) + cap + 1);
			s->cap = cap;
			e->v.ptr = s;
		}
		return s;
	}
	char nb[24];
	size_t len;
	const char *p = ks_str_get(e, nb, &len);
	size_t cap = min_cap > len ? str_grow_cap(min_cap) : len;
	struct ks_str *s = str_alloc(cap);
	memcpy(s->buf, p, len);
	s->buf[len] = '\0';
	s->len = len;
	/* The entry stays put; its embedded bytes become spare tail that a
	 * later overwrite can reuse. */
	e->vlen = (uint32_t)entry_tail(e);
	e->enc = KS_ENC_RAW;
	e->v.ptr = s;
	return s;
}

/* ---------------------------------------------------------------- expiry */

unsigned ks_active_expire(struct ks_db *db, int64_t now_ms, unsigned samples, unsigned max_loops)
{
	unsigned deleted = 0, loops = 0;
	if (samples == 0)
		samples = 1;
	for (;;) {
		if (db->nexp == 0) {
			db->avg_ttl_ms = 0;
			break;
		}
		unsigned n = db->nexp < samples ? db->nexp : samples;
		unsigned sampled = 0, expired = 0, ttl_n = 0;
		/* TTLs can be close to INT64_MAX (EXPIREAT far in the future):
		 * sum them without overflow. */
		__int128 ttl_sum = 0;
		for (; n && db->nexp; n--) {
			struct ks_entry *e = db->exp[ks_rng() % db->nexp];
			sampled++;
			if (entry_expired(e, now_ms)) {
				expire_entry(db, e);
				expired++;
			} else if (e->expire_ms - now_ms > 0) {
				ttl_sum += e->expire_ms - now_ms;
				ttl_n++;
			}
		}
		deleted += expired;
		if (ttl_n) {
			/* Redis's estimate: a running average leaning on history
			 * (49/50 old), seeded by the first sample. */
			int64_t avg = (int64_t)(ttl_sum / ttl_n);
			if (db->avg_ttl_ms == 0)
				db->avg_ttl_ms = avg;
			else
				db->avg_ttl_ms = (db->avg_ttl_ms / 50) * 49 + avg / 50;
		}
		loops++;
		if (expired * 4 <= sampled || loops >= max_loops)
			break;
	}
	return deleted;
}

/* ------------------------------------------------------------- random */

static struct ks_entry *random_bucket(struct ks_db *db, uint64_t (*rnd)(void *), void *arg)
{
	struct ks_table *t0 = &db->t[0], *t1 = &db->t[1];
	uint64_t s0 = table_size(t0), s1 = table_size(t1);
	/* While rehashing t0's buckets below rehash_idx are empty: skip them. */
	uint64_t lo = rehashing(db) ? (uint64_t)db->rehash_idx : 0;
	uint64_t span = s0 + s1 - lo;
	for (unsigned i = 0; i < KS_RANDOM_PROBES; i++) {
		uint64_t x = lo + rnd(arg) % span;
		struct ks_entry *e = x < s0 ? t0->b[x] : t1->b[x - s0];
		if (e)
			return e;
	}
	/* Very sparse table: walk from a random point; ks_size() > 0 so this
	 * ends within one lap. */
	uint64_t x = rnd(arg) % span;
	for (uint64_t k = 0; k < span; k++) {
		uint64_t y = lo + (x + k) % span;
		struct ks_entry *e = y < s0 ? t0->b[y] : t1->b[y - s0];
		if (e)
			return e;
	}
	assert(!"ks_random: non-empty db with no entries");
	return NULL;
}

/* Bounded: at most KS_RANDOM_TRIES expired keys are dropped per call, so
 * a db that is almost all expired may yield NULL while live keys remain;
 * each such call still removes that many, and callers retrying converge. */
struct ks_entry *ks_random(struct ks_db *db, int64_t now_ms, uint64_t (*rnd)(void *), void *rnd_arg)
{
	rehash_one(db);
	for (unsigned tries = 0; tries < KS_RANDOM_TRIES && ks_size(db); tries++) {
		struct ks_entry *head = random_bucket(db, rnd, rnd_arg);
		unsigned len = 0;
		for (struct ks_entry *e = head; e; e = e->next)
			len++;
		struct ks_entry *e = head;
		for (uint64_t k = rnd(rnd_arg) % len; k; k--)
			e = e->next;
		if (!entry_expired(e, now_ms) || ks_expire_mode == KS_EXP_KEEP)
			return e;
		if (ks_expire_mode == KS_EXP_DELETE)
			expire_entry(db, e);
	}
	return NULL;
}

/* --------------------------------------------------------------- scan */

static inline uint64_t rev64(uint64_t v)
{
	v = __builtin_bswap64(v);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fULL) | ((v & 0x0f0f0f0f0f0f0f0fULL) << 4);
	v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
	v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
	return v;
}

static unsigned scan_bucket(struct ks_entry *e, ks_scan_fn *fn, void *arg)
{
	unsigned n = 0;
	while (e) {
		struct ks_entry *next = e->next;
		fn(arg, e);
		n++;
		e = next;
	}
	return n;
}

/* One step of the reverse-binary cursor. The cursor's high bits are
 * incremented first, so a bucket index of a small table expands to the
 * run of indexes of a bigger one that hold its keys (and a big table's
 * indexes fold onto one small bucket): growing or shrinking between calls
 * never skips a bucket that was not visited yet. While rehashing, the
 * small table's bucket and every bucket of the big one that it expands to
 * are emitted together. */
static uint64_t scan_step(struct ks_db *db, uint64_t v, ks_scan_fn *fn, void *arg, unsigned *emitted)
{
	if (!rehashing(db)) {
		const struct ks_table *t = &db->t[0];
		*emitted += scan_bucket(t->b[v & t->mask], fn, arg);
		v |= ~t->mask;
		return rev64(rev64(v) + 1);
	}
	const struct ks_table *sm = &db->t[0], *lg = &db->t[1];
	if (sm->mask > lg->mask) {
		const struct ks_table *x = sm;
		sm = lg;
		lg = x;
	}
	uint64_t m0 = sm->mask, m1 = lg->mask;
	*emitted += scan_bucket(sm->b[v & m0], fn, arg);
	do {
		*emitted += scan_bucket(lg->b[v & m1], fn, arg);
		v |= ~m1;
		v = rev64(rev64(v) + 1);
	} while (v & (m0 ^ m1));
	return v;
}

uint64_t ks_scan(struct ks_db *db, uint64_t cursor, unsigned count, ks_scan_fn *fn, void *arg)
{
	if (ks_size(db) == 0)
		return 0;
	if (count == 0)
		count = 1;
	/* As SCAN: stop after `count` entries or 10*count bucket steps. */
	uint64_t budget = (uint64_t)count * 10;
	unsigned emitted = 0;
	do {
		cursor = scan_step(db, cursor, fn, arg, &emitted);
	} while (cursor && emitted < count && --budget);
	return cursor;
}

void ks_foreach(struct ks_db *db, ks_scan_fn *fn, void *arg)
{
	for (int ti = 0; ti < 2; ti++) {
		struct ks_table *t = &db->t[ti];
		for (uint64_t i = 0; i < table_size(t); i++)
			scan_bucket(t->b[i], fn, arg);
	}
}

/* ------------------------------------------------------- whole-db ops */

void ks_flush(struct ks_db *db)
{
	for (int ti = 0; ti < 2; ti++) {
		struct ks_table *t = &db->t[ti];
		for (uint64_t i = 0; i < table_size(t); i++) {
			struct ks_entry *e = t->b[i];
			while (e) {
				struct ks_entry *next = e->next;
				ks_entry_free(e);
				e = next;
			}
		}
		free(t->b);
		memset(t, 0, sizeof(*t));
	}
	free(db->exp);
	db->exp = NULL;
	db->nexp = db->exp_cap = 0;
	db->rehash_idx = -1;
	db->avg_ttl_ms = 0;
}

/* The data moves; the expired counter stays with the db number, like
 * Redis's stats, which SWAPDB does not swap. */
void ks_swap(struct ks_db *a, struct ks_db *b)
{
	struct ks_db x = *a;
	*a = *b;
	*b = x;
	uint64_t ea = a->expired;
	a->expired = b->expired;
	b->expired = ea;
}

int ks_rehash_step(struct ks_db *db, unsigned n_buckets)
{
	shrink_if_needed(db);
	if (!rehashing(db))
		return 0;
	return rehash(db, n_buckets ? n_buckets : 1);
}

struct ks_space *ks_space_new(int ndb)
{
	if (ndb <= 0) {
		errno = EINVAL;
		return NULL;
	}
	struct ks_space *ks = calloc(1, sizeof(*ks));
	if (!ks)
		return NULL;
	ks->db = calloc((size_t)ndb, sizeof(*ks->db));
	if (!ks->db) {
		free(ks);
		errno = ENOMEM;
		return NULL;
	}
	ks->ndb = ndb;
	for (int i = 0; i < ndb; i++)
		ks->db[i].rehash_idx = -1;
	return ks;
}

void ks_space_free(struct ks_space *ks)
{
	if (!ks)
		return;
	for (int i = 0; i < ks->ndb; i++)
		ks_flush(&ks->db[i]);
	free(ks->db);
	free(ks);
}

/* ------------------------------------------------------------ integers */

int ks_str2ll(const char *s, size_t len, long long *v)
{
	/* Canonical only: what ks_ll2str would print back, byte for byte. */
	if (len == 0 || len > 20)
		return 0;
	if (len == 1 && s[0] == '0') {
		*v = 0;
		return 1;
	}
	size_t i = 0;
	bool neg = s[0] == '-';
	if (neg && ++i == len)
		return 0;
	if (s[i] < '1' || s[i] > '9')
		return 0;
	unsigned long long u = (unsigned long long)(s[i++] - '0');
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		unsigned d = (unsigned)(s[i] - '0');
		if (u > (ULLONG_MAX - d) / 10)
			return 0;
		u = u * 10 + d;
	}
	if (neg) {
		if (u > (unsigned long long)LLONG_MAX + 1)
			return 0;
		*v = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
	} else {
		if (u > (unsigned long long)LLONG_MAX)
			return 0;
		*v = (long long)u;
	}
	return 1;
}

static const char ks_digits2[] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

size_t ks_ll2str(char *buf, long long v)
{
	char tmp[20];
	size_t i = sizeof(tmp), n = 0;
	unsigned long long u = (unsigned long long)v;
	if (v < 0) {
		buf[n++] = '-';
		u = 0ULL - u;
	}
	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);
		u /= 100;
		i -= 2;
		memcpy(tmp + i, ks_digits2 + 2 * r, 2);
	}
	if (u >= 10) {
		i -= 2;
		memcpy(tmp + i, ks_digits2 + 2 * u, 2);
	} else {
		tmp[--i] = (char)('0' + u);
	}
	memcpy(buf + n, tmp + i, sizeof(tmp) - i);
	n += sizeof(tmp) - i;
	buf[n] = '\0';
	return n;
}
