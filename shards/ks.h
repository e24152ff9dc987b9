/* shards/ks.h — one shard's keyspace (private to shards/).
 *
 * Each shard owns `ndb` databases; each db is a chained hash table of
 * entries with Redis-style incremental rehashing (two tables, a bounded
 * number of buckets moved per operation and per cron tick) plus an array of
 * the entries that carry an expiry, for O(1) random sampling by the active
 * expiry cycle. Only the owning shard's thread touches a keyspace.
 *
 * An entry is one allocation: header, key bytes, NUL, and for EMBSTR
 * strings the value bytes and a NUL. Entry pointers are stable until the
 * entry is deleted or replaced by ks_set_str()/ks_set_int(), which
 * return the (possibly moved) entry. */
#ifndef KR_KS_H
#define KR_KS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_NO_EXPIRE (-1LL)
#define KS_EMBSTR_MAX 44          /* as Redis: strings <= 44 bytes are embstr */
/* snapshot: ks_entry.flags bit saying which snapshot parity the entry was
 * last saved in (or created under). Every entry created or attached in a
 * db takes the db's snap_parity; an entry whose bit differs from its db's
 * parity is not yet saved by the snapshot under way (shards/snap.c). */
#define KS_F_SNAP 0x8000

enum ks_type { KS_STRING = 0, KS_LIST, KS_SET, KS_ZSET, KS_HASH, KS_STREAM, KS_NTYPES };
enum ks_enc {
	KS_ENC_INT = 0,     /* v.i holds the number */
	KS_ENC_EMBSTR,      /* value bytes follow the key inside the entry */
	KS_ENC_RAW,         /* v.ptr -> struct ks_str */
	/* Collections: v.ptr is owned by the type's module (obj_*.h). */
	KS_ENC_LISTPACK,    /* lists, hashes, sets, zsets: one listpack (lp.h) */
	KS_ENC_QUICKLIST,   /* lists: linked listpack nodes */
	KS_ENC_HASHTABLE,   /* hashes, sets: struct sdict (sdict.h) */
	KS_ENC_INTSET,      /* sets of integers */
	KS_ENC_SKIPLIST,    /* zsets: skiplist + sdict */
	KS_NENC,
};

/* What ks needs from a collection type's module to free, copy and size a
 * value it cannot interpret itself. Registered once at start-up by
 * types_register() (obj_*.c provide the objects). */
struct ks_type_ops {
	void (*free)(void *ptr, uint8_t enc);
	void *(*clone)(const void *ptr, uint8_t enc);   /* deep copy, never NULL */
	size_t (*mem)(const void *ptr, uint8_t enc);    /* bytes allocated */
};
void ks_register_type(enum ks_type t, const struct ks_type_ops *ops);
/* OBJECT ENCODING's name for an encoding ("int", "embstr", "listpack" ...). */
const char *ks_enc_name(uint8_t enc);

/* A RAW string value: mutable, growable. */
struct ks_str {
	size_t len;
	size_t cap;         /* bytes available in buf, excluding the final NUL */
	char buf[];         /* len bytes + NUL */
};

struct ks_entry {
	struct ks_entry *next;    /* hash chain */
	int64_t expire_ms;        /* absolute unix time in ms, or KS_NO_EXPIRE */
	union {
		long long i;
		void *ptr;
	} v;
	uint32_t hash;            /* low 32 bits of ks_hash(key) */
	uint32_t klen;
	uint32_t vlen;            /* EMBSTR: value length */
	uint32_t exp_idx;         /* index in db->exp when expire_ms != NO_EXPIRE */
	uint32_t lru_s;           /* last access, seconds of the LRU clock */
	uint8_t type;             /* enum ks_type */
	uint8_t enc;              /* enum ks_enc (and later types' encodings) */
	uint16_t flags;
	char key[];               /* klen bytes + NUL [+ embstr value + NUL] */
};

struct ks_table {
	struct ks_entry **b;      /* buckets, size = mask + 1 (power of two) */
	uint64_t mask;
	uint64_t used;
};

struct ks_db {
	struct ks_table t[2];     /* t[1] is non-empty only while rehashing */
	int64_t rehash_idx;       /* -1 when not rehashing */
	struct ks_entry **exp;    /* entries with an expiry */
	uint32_t nexp, exp_cap;
	int64_t avg_ttl_ms;       /* estimate kept by the active expiry cycle */
	uint64_t expired;         /* keys removed because they expired */
	/* Called with on_expire_arg when a key is removed because it expired
	 * (lookup or active cycle), before it is freed: the write stream
	 * records it as DEL. NULL: nobody asked (scratch dbs, unit tests). */
	void (*on_expire)(void *arg, struct ks_db *db, const struct ks_entry *e);
	void *on_expire_arg;
	uint16_t snap_parity;     /* snapshot: KS_F_SNAP or 0 (see KS_F_SNAP) */
};

struct ks_space {
	struct ks_db *db;
	int ndb;
};

/* The calling thread's clock for stamping new entries' lru_s; the shard
 * sets it whenever it reads the time. */
void ks_set_clock(int64_t now_ms);

/* Process-wide hash seed: set once at start-up, before any shard runs. */
void ks_set_seed(uint64_t seed);
uint64_t ks_hash(const void *key, size_t len);

/* Constructor: ndb empty databases. NULL with errno on failure. */
struct ks_space *ks_space_new(int ndb);
void ks_space_free(struct ks_space *ks);

/* Number of keys (including ones expired but not yet removed). */
uint64_t ks_size(const struct ks_db *db);
uint64_t ks_nexpires(const struct ks_db *db);

/* What a lookup does with a key whose time is past (this thread's
 * commands; route_exec sets it): delete it (a master, or a write on a
 * writable replica), hide it but keep it until the master's DEL comes (a
 * replica's readers, as Redis), or keep it live (the master's own stream,
 * which must find what the master found). */
enum { KS_EXP_DELETE = 0, KS_EXP_HIDE = 1, KS_EXP_KEEP = 2 };
extern _Thread_local unsigned char ks_expire_mode;
/* Find a key. If it is logically expired at now_ms it is deleted
 * (db->expired is incremented) and NULL returned, as ks_expire_mode says
 * (hidden: NULL, kept; kept live: returned). Does one rehash step. */
struct ks_entry *ks_find(struct ks_db *db, const void *key, size_t klen, int64_t now_ms);
/* Find without expiring (for code that must see expired keys). */
struct ks_entry *ks_find_raw(struct ks_db *db, const void *key, size_t klen);

/* Set key to a string value, creating or overwriting. Any old value of any
 * type is freed. keep_ttl keeps an existing expiry, else it is cleared.
 * The value is stored as INT when it is a canonical integer of <= 20 bytes
 * (Redis's rule: no leading zeros/spaces/'+', fits a long long), EMBSTR when
 * <= KS_EMBSTR_MAX bytes, RAW otherwise. Returns the entry (never NULL). */
struct ks_entry *ks_set_str(struct ks_db *db, const void *key, size_t klen,
			    const void *val, size_t vlen, bool keep_ttl);
/* Same, but never INT-encoded (INCRBYFLOAT results, as Redis stores them). */
struct ks_entry *ks_set_str_noint(struct ks_db *db, const void *key, size_t klen,
				  const void *val, size_t vlen, bool keep_ttl);
/* Same, storing an integer value (INT encoding). */
struct ks_entry *ks_set_int(struct ks_db *db, const void *key, size_t klen,
			    long long v, bool keep_ttl);
/* Set key to a collection value (type, enc, ptr), creating it or replacing
 * any old value as ks_set_str() does; ptr is owned by the entry afterwards.
 * Collections mutate e->v.ptr / e->enc in place afterwards (the entry does
 * not move); a command that empties one deletes the key. */
struct ks_entry *ks_set_obj(struct ks_db *db, const void *key, size_t klen,
			    uint8_t type, uint8_t enc, void *ptr, bool keep_ttl);
/* Bytes an entry uses: header, key, value (for MEMORY USAGE). */
size_t ks_entry_mem(const struct ks_entry *e);
/* Link a detached entry (from ks_detach(), possibly another shard's) into db
 * under its own key, replacing any existing key; expiry is taken from
 * e->expire_ms. Returns the entry. */
struct ks_entry *ks_attach(struct ks_db *db, struct ks_entry *e);
/* Unlink e from db without freeing it; the caller owns it afterwards. */
void ks_detach(struct ks_db *db, struct ks_entry *e);
/* Deep copy of an entry (key and value), detached, with key newkey. */
struct ks_entry *ks_entry_clone(const struct ks_entry *e, const void *newkey, size_t newklen);
/* Free a detached entry and its value. */
void ks_entry_free(struct ks_entry *e);

/* Delete e from db and free it. */
void ks_delete(struct ks_db *db, struct ks_entry *e);
/* Delete a key if present (expired keys count as absent). 1 if deleted. */
int ks_delete_key(struct ks_db *db, const void *key, size_t klen, int64_t now_ms);

/* String value bytes. INT values are formatted into buf (>= 24 bytes). */
const char *ks_str_get(const struct ks_entry *e, char *buf, size_t *len);
/* Turn a string entry into RAW encoding with capacity for at least
 * min_cap bytes (contents kept, length unchanged) and return its ks_str.
 * The entry itself does not move. */
struct ks_str *ks_str_make_raw(struct ks_entry *e, size_t min_cap);

/* Expiry. when_ms is absolute; setting and clearing keep db->exp in sync. */
/* Remove e, which the caller found logically expired (a SCAN walk): counted
 * and reported to db->on_expire like a lookup's expiry. */
void ks_expire_entry(struct ks_db *db, struct ks_entry *e);
void ks_set_expire(struct ks_db *db, struct ks_entry *e, int64_t when_ms);
void ks_persist(struct ks_db *db, struct ks_entry *e);
/* One bounded active-expiry pass: sample up to `samples` keys with an
 * expiry, delete the expired ones, repeat while more than a quarter of a
 * sample was expired and fewer than max_loops rounds ran. Returns the
 * number deleted. Also refreshes db->avg_ttl_ms. */
unsigned ks_active_expire(struct ks_db *db, int64_t now_ms, unsigned samples, unsigned max_loops);

/* A uniformly-ish random live entry (expired ones are skipped and removed),
 * NULL if the db is empty. rnd is a caller-provided random source. */
struct ks_entry *ks_random(struct ks_db *db, int64_t now_ms, uint64_t (*rnd)(void *), void *rnd_arg);

/* SCAN: call fn for every entry of the buckets visited; return the next
 * cursor (0 when done). Guarantees of Redis's dictScan: every key present
 * for the whole scan is returned at least once, even across rehashes.
 * Visits at least `count` buckets' worth (bounded) per call. */
typedef void ks_scan_fn(void *arg, struct ks_entry *e);
uint64_t ks_scan(struct ks_db *db, uint64_t cursor, unsigned count, ks_scan_fn *fn, void *arg);

/* Iterate every entry (no concurrent modification by fn). */
void ks_foreach(struct ks_db *db, ks_scan_fn *fn, void *arg);

/* Remove every key. */
void ks_flush(struct ks_db *db);
/* Exchange the contents of two dbs. */
void ks_swap(struct ks_db *a, struct ks_db *b);
/* Do up to n_buckets steps of incremental rehash; returns 1 if more to do. */
int ks_rehash_step(struct ks_db *db, unsigned n_buckets);

/* Free a value of any type (dispatch on e->type/e->enc). */
void ks_value_free(struct ks_entry *e);

/* Canonical integer test (Redis string2ll rules). 1 and *v set if s is one. */
int ks_str2ll(const char *s, size_t len, long long *v);
/* Format v into buf (>= 21 bytes), return length. */
size_t ks_ll2str(char *buf, long long v);

#endif
