/* shards/cmd.h — the command table and what a command handler sees
 * (private to shards/).
 *
 * Every command is one struct cmd_def in the one table (cmdtable.c). The
 * shard loop reads it to check arity and auth, to find the keys, to route
 * the command to the shard(s) owning them, and to merge replies when keys
 * span shards; COMMAND INFO/DOCS/COUNT/LIST/GETKEYS read it too.
 *
 * A handler runs on the shard that owns all the keys it is given (the loop
 * guarantees that: a multi-key command spanning shards is split into one
 * sub-request per shard, each carrying only that shard's keys, in their
 * original order and with their values for MSET). It writes exactly one
 * reply into ctx->out. It must not block and must bound its work. */
#ifndef KR_CMD_H
#define KR_CMD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "shards/ks.h"

struct shard;
struct conn;
struct cmd_def;

struct cmd_ctx {
	struct shard *sh;            /* executing shard */
	struct conn *c;              /* the client; NULL unless CMD_CONN or
				      * executing on the client's own shard */
	struct rbuf *out;            /* where the one reply goes */
	const struct cmd_def *cmd;
	int argc;
	const struct resp_arg *argv; /* argv[0] is the command name */
	struct ks_db *db;            /* the selected db, on this shard */
	int dbid;
	int proto;                   /* 2 or 3 */
	int64_t now_ms;              /* one clock reading per command */
	void *payload;               /* internal cross-shard ops: in/out object */
	/* Changes made to the keyspace (Redis's server.dirty): every write
	 * handler adds the number of keys/elements it changed, 0 if it changed
	 * nothing. WATCH, blocked clients, save rules and the write stream
	 * read it. */
	long long dirty;
	bool may_block;              /* cmd_block() may suspend this command */
	bool blocked;                /* set by cmd_block(): no reply was written */
	bool block_null_array;
	int64_t block_deadline_ms;
	bool in_script;              /* called by a script (redis.call) */
	bool in_multi;               /* part of a MULTI/EXEC block */
	bool from_master;            /* a replica applying its master's stream
				      * (sent by the master client's shard) */
	/* The db is a scratch copy holding only the keys gathered for a
	 * cross-shard atomic command or script (gkeys[0..ngkeys)). */
	bool scratch;
	int ngkeys;
	const struct resp_arg *gkeys;
	bool *gwritten;              /* per gkey: a command of the script wrote it */
};

typedef void cmd_fn(struct cmd_ctx *ctx);

/* flags */
#define CMD_WRITE      (1u << 0)   /* may modify the keyspace */
#define CMD_READONLY   (1u << 1)
#define CMD_FAST       (1u << 2)   /* O(1)/O(log n) */
#define CMD_ADMIN      (1u << 3)
#define CMD_NOAUTH     (1u << 4)   /* allowed before AUTH (AUTH HELLO QUIT RESET) */
#define CMD_CONN       (1u << 5)   /* needs the client: runs on its own shard */
#define CMD_BCAST      (1u << 6)   /* runs on every shard; replies merged */
#define CMD_NOKEYS_ANY (1u << 7)   /* no keys: runs where the client is */
#define CMD_DENYOOM    (1u << 8)
#define CMD_LOADING    (1u << 9)
#define CMD_STALE      (1u << 10)
#define CMD_NOSCRIPT   (1u << 11)
#define CMD_SENTINEL   (1u << 12)
#define CMD_PUBSUB     (1u << 13)
#define CMD_INTERNAL   (1u << 14)  /* never reachable from a client */
#define CMD_PROTECTED  (1u << 15)  /* DEBUG: gated by enable-debug-command */
#define CMD_ALLOW_BUSY (1u << 16)  /* runs while a script is busy (SCRIPT KILL) */
#define CMD_BLOCKING   (1u << 17)  /* may block (BLPOP ...) */
#define CMD_NOMULTI    (1u << 18)  /* not queued by MULTI: runs at once (WATCH ...) */
#define CMD_NOQUEUE    (1u << 20)  /* refused inside MULTI (Redis's no-multi: SAVE ...) */
#define CMD_SCRIPT     (1u << 19)  /* runs other commands (EVAL): their writes are
				    * counted and signalled as they happen, so its
				    * own ctx->dirty (their sum) is not again */

/* How replies of sub-requests combine (multi-key spanning shards, BCAST). */
enum cmd_merge {
	MERGE_NONE = 0,     /* single target only */
	MERGE_SUM,          /* integers added: DEL EXISTS TOUCH UNLINK DBSIZE */
	MERGE_BY_KEY,       /* arrays re-ordered to the original key order: MGET */
	MERGE_OK,           /* +OK if every part said +OK: MSET FLUSHDB SWAPDB */
	MERGE_CONCAT,       /* arrays concatenated: KEYS */
	MERGE_CUSTOM,       /* cmd_def.merge_fn */
};

/* Combine n part replies (each one complete RESP value) into out. An error
 * in any part wins (the first one, in shard order). */
typedef void cmd_merge_fn(struct cmd_ctx *ctx, struct rbuf *parts, int n);
/* Coordinator for commands whose cross-shard form needs several rounds
 * (MSETNX RENAME RENAMENX COPY): called on the client's shard instead of
 * splitting when the keys span shards. Defined in xshard.c. */
typedef void cmd_cross_fn(struct cmd_ctx *ctx);
/* Custom routing: return the shard to run on (SCAN: from the cursor). */
typedef unsigned cmd_route_fn(const struct cmd_ctx *ctx);
/* Key finder for commands whose keys are not a (first, last, step) range
 * (numkeys forms: LMPOP ZUNIONSTORE SINTERCARD EVAL SORT ... STORE ...):
 * write the argument indexes of the keys into idx[0..max) in order and
 * return how many there are (may exceed max: the caller retries with more
 * room), or -1 if the request is malformed (it then runs on the client's
 * shard and the handler replies the error). */
typedef int cmd_keys_fn(int argc, const struct resp_arg *argv, int *idx, int max);

struct cmd_def {
	const char *name;            /* lower case; "client|list" for subs */
	int arity;                   /* Redis convention, counting the name
				      * (and the subcommand for subs) */
	uint32_t flags;
	int first_key, last_key, key_step;  /* legacy key spec; last -1 = last arg,
				      * -2 = all but the last */
	cmd_fn *fn;
	enum cmd_merge merge;
	cmd_merge_fn *merge_fn;
	cmd_cross_fn *cross_fn;
	cmd_route_fn *route_fn;
	cmd_keys_fn *keys_fn;        /* overrides the legacy spec for routing */
	/* Which keys a write changes, as Redis's key specs mark them (RW/OW
	 * versus RO): 0 every key, 1 only the first (SUNIONSTORE dst src...),
	 * -1 only the last (COPY src dst, SORT key ... STORE dst). WATCH and
	 * blocked clients are signalled, and a gather writes back, only those. */
	int8_t wkeys;
	const char *acl;             /* "@write @string @slow" */
	const char *group;           /* COMMAND DOCS group: "string", "generic" ... */
	const char *since;
	const char *summary;
	const struct cmd_def *subs;  /* NULL-name-terminated subcommand table */
};

/* The key arguments of cmd for a request of argc words, per its legacy
 * spec: keys are argv[*first], argv[*first + *step], ... up to *last
 * (inclusive). Returns how many (0 if the command has no keys). */
int cmd_key_range(const struct cmd_def *cmd, int argc, int *first, int *last, int *step);

/* The argument indexes of a request's keys: from cmd->keys_fn, else the
 * legacy range. Returns how many (-1: keys_fn found the request malformed);
 * *idx is buf when they fit in nbuf, else a malloc'd array the caller
 * frees (free it when *idx != buf). */
int cmd_key_indexes(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
		    int *buf, int nbuf, int **idx);
/* The same, narrowed to the keys a write changes (cmd->wkeys). */
int cmd_write_key_indexes(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
			  int *buf, int nbuf, int **idx);

/* Lookup by name (case-insensitive), NULL if unknown. */
const struct cmd_def *cmd_lookup(const char *name, size_t len);
/* Subcommand lookup in parent->subs, NULL if unknown. */
const struct cmd_def *cmd_lookup_sub(const struct cmd_def *parent, const char *name, size_t len);
/* The whole table, for COMMAND. */
const struct cmd_def *cmd_table(size_t *n);

/* ------------------------------------------------- command name index */

/* The index behind cmd_lookup(): exact, case-insensitive (only ASCII A-Z
 * fold, as Redis's command dict compares), one probe for nearly every
 * name. A name of len bytes (1..CMD_NAME_MAX) is read as up to four
 * 64-bit words whose layout depends only on len and whose bytes cover
 * every byte of the name (short names through overlapping loads, so no
 * byte past the name is read); the words are case-folded eight bytes at a
 * time, hashed, and compared whole. Equal words and equal lengths mean
 * equal folded names, so a hit is exact.
 *
 * It lives here, inline, so the unit tests (tests/unit/test_ks.c) can
 * build an index over a table of their own; cmdutil.c holds the one over
 * the command table. Not thread-safe to build; read-only lookups from any
 * thread afterwards. */
#define CMD_NAME_MAX 32
#define CMD_INDEX_BITS 10
#define CMD_INDEX_CAP 512          /* names; < half the slots */

struct cmd_name_key {
	uint64_t w[4];               /* folded words, unused ones 0 */
	uint32_t len;
	const struct cmd_def *cmd;
};

struct cmd_name_index {
	uint16_t slot[1u << CMD_INDEX_BITS];   /* 0 empty, else 1 + index in key */
	uint32_t n;
	struct cmd_name_key key[CMD_INDEX_CAP];
};

/* Bytes 'A'..'Z' of x become 'a'..'z'; every other byte (including
 * 0x80..0xff) is left alone. Per byte, on the low seven bits h: h + 0x3f
 * sets bit 7 iff h >= 'A', h + 0x25 sets it iff h > 'Z', neither carries
 * into the next byte; a byte with bit 7 set is not ASCII. */
static inline __attribute__((always_inline)) uint64_t cmd_name_fold(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t h7 = x & ~high;
	uint64_t ge_a = h7 + ones * (0x80 - 'A');
	uint64_t gt_z = h7 + ones * (0x7f - 'Z');
	return x | ((ge_a & ~gt_z & ~x & high) >> 2);
}

static inline uint64_t cmd_name_rd64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t cmd_name_rd32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The raw words of p[0..len), 1 <= len <= CMD_NAME_MAX (unused ones 0):
 * with len they determine every byte of the name. */
static inline __attribute__((always_inline)) void cmd_name_raw(const char *p, size_t len,
								uint64_t w[4])
{
	w[1] = w[2] = w[3] = 0;
	if (len <= 3) {
		w[0] = (uint64_t)(unsigned char)p[0] |
		       (uint64_t)(unsigned char)p[len >> 1] << 8 |
		       (uint64_t)(unsigned char)p[len - 1] << 16;
	} else if (len <= 8) {
		w[0] = cmd_name_rd32(p) | cmd_name_rd32(p + len - 4) << 32;
	} else {
		w[0] = cmd_name_rd64(p);
		if (len <= 16) {
			w[1] = cmd_name_rd64(p + len - 8);
		} else {
			w[1] = cmd_name_rd64(p + 8);
			if (len <= 24) {
				w[2] = cmd_name_rd64(p + len - 8);
			} else {
				w[2] = cmd_name_rd64(p + 16);
				w[3] = cmd_name_rd64(p + len - 8);
			}
		}
	}
}

/* Fold raw words in place; return their hash. */
static inline __attribute__((always_inline)) uint64_t cmd_name_hash(uint64_t w[4], size_t len)
{
	w[0] = cmd_name_fold(w[0]);
	if (len > 8) {
		w[1] = cmd_name_fold(w[1]);
		w[2] = cmd_name_fold(w[2]);
		w[3] = cmd_name_fold(w[3]);
	}
	uint64_t h = w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL) ^ ((w[2] ^ w[3]) * 0xc2b2ae3d27d4eb4fULL);
	return (h ^ len) * 0xff51afd7ed558ccdULL;
}

static inline unsigned cmd_name_slot(uint64_t h)
{
	return (unsigned)(h >> (64 - CMD_INDEX_BITS));
}

/* Probe for folded words w of a name of len bytes. */
static inline const struct cmd_def *cmd_name_probe(const struct cmd_name_index *ix,
						   const uint64_t w[4], uint64_t h, size_t len)
{
	unsigned i = cmd_name_slot(h);
	for (unsigned s; (s = ix->slot[i]) != 0; i = (i + 1) & ((1u << CMD_INDEX_BITS) - 1)) {
		const struct cmd_name_key *k = &ix->key[s - 1];
		if (k->w[0] == w[0] && k->len == len && k->w[1] == w[1] &&
		    k->w[2] == w[2] && k->w[3] == w[3])
			return k->cmd;
	}
	return NULL;
}

/* The entry named p[0..len) (folded), or NULL. */
static inline const struct cmd_def *cmd_name_find(const struct cmd_name_index *ix,
						  const char *p, size_t len)
{
	uint64_t w[4];

	if (len - 1 >= CMD_NAME_MAX)   /* 0 or too long: no such name */
		return NULL;
	cmd_name_raw(p, len, w);
	uint64_t h = cmd_name_hash(w, len);
	return cmd_name_probe(ix, w, h, len);
}

/* The last name of at most 16 bytes looked up, byte for byte as the client
 * sent it (not folded), and its answer: a client repeating a command in
 * the same spelling skips folding and probing. Exact because len and the
 * two raw words determine all the bytes. Zeroed = empty. */
struct cmd_name_cache {
	uint64_t w0, w1;
	size_t len;
	const struct cmd_def *cmd;
};

/* The miss path of cmd_name_find_cached(): kept out of line so the hit
 * path saves no registers. */
static __attribute__((noinline)) const struct cmd_def *
cmd_name_find_miss(const struct cmd_name_index *ix, struct cmd_name_cache *cache,
		   uint64_t w[4], size_t len)
{
	uint64_t w0 = w[0], w1 = w[1];
	uint64_t h = cmd_name_hash(w, len);
	const struct cmd_def *cmd = cmd_name_probe(ix, w, h, len);
	if (len <= 16) {
		cache->w0 = w0;
		cache->w1 = w1;
		cache->len = len;
		cache->cmd = cmd;
	}
	return cmd;
}

/* cmd_name_find() through cache (answers are the same). */
static inline const struct cmd_def *cmd_name_find_cached(const struct cmd_name_index *ix,
							 struct cmd_name_cache *cache,
							 const char *p, size_t len)
{
	uint64_t w[4];

	if (len - 1 >= CMD_NAME_MAX)
		return NULL;
	cmd_name_raw(p, len, w);
	if (w[0] == cache->w0 && len == cache->len && w[1] == cache->w1)
		return cache->cmd;   /* len <= 16 whenever cache->len is set */
	return cmd_name_find_miss(ix, cache, w, len);
}

/* Add cmd under cmd->name. Returns 0, or -EINVAL for a name that is
 * empty, longer than CMD_NAME_MAX, holds an upper-case letter (it could
 * never be found) or is already there, -ENOSPC when the index is full. */
static inline int cmd_name_add(struct cmd_name_index *ix, const struct cmd_def *cmd)
{
	size_t len = strlen(cmd->name);
	uint64_t w[4];

	if (len == 0 || len > CMD_NAME_MAX)
		return -EINVAL;
	for (size_t j = 0; j < len; j++)
		if (cmd->name[j] >= 'A' && cmd->name[j] <= 'Z')
			return -EINVAL;
	if (cmd_name_find(ix, cmd->name, len))
		return -EINVAL;
	if (ix->n >= CMD_INDEX_CAP)
		return -ENOSPC;
	cmd_name_raw(cmd->name, len, w);
	unsigned i = cmd_name_slot(cmd_name_hash(w, len));
	while (ix->slot[i])
		i = (i + 1) & ((1u << CMD_INDEX_BITS) - 1);
	struct cmd_name_key *k = &ix->key[ix->n];
	memcpy(k->w, w, sizeof(w));
	k->len = (uint32_t)len;
	k->cmd = cmd;
	ix->slot[i] = (uint16_t)++ix->n;
	return 0;
}

/* ------------------------------------------------- handler helpers */

/* Standard errors (Redis 7 texts). */
#define ERR_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_SYNTAX    "ERR syntax error"
#define ERR_NOTINT    "ERR value is not an integer or out of range"
#define ERR_NOTFLOAT  "ERR value is not a valid float"
#define ERR_OVERFLOW  "ERR increment or decrement would overflow"
#define ERR_NOKEY     "ERR no such key"
#define ERR_DBRANGE   "ERR DB index is out of range"

/* Case-insensitive compare of an argument with a literal. */
bool arg_is(const struct resp_arg *a, const char *lit);
/* Parse helpers: on bad input they reply the error themselves and return
 * -1; 0 on success. */
int arg_ll(struct cmd_ctx *ctx, const struct resp_arg *a, long long *v);
int arg_ll_msg(struct cmd_ctx *ctx, const struct resp_arg *a, long long *v, const char *errmsg);
int arg_double(struct cmd_ctx *ctx, const struct resp_arg *a, double *v);
int arg_long_double(struct cmd_ctx *ctx, const struct resp_arg *a, long double *v);
/* Parse without replying: 0 ok, -1 bad. */
int arg_to_ll(const struct resp_arg *a, long long *v);

/* Key lookups in ctx->db at ctx->now_ms (expired keys vanish).
 * _read counts keyspace_hits/misses and refreshes the access time. */
struct ks_entry *cmd_lookup_read(struct cmd_ctx *ctx, const struct resp_arg *key);
struct ks_entry *cmd_lookup_write(struct cmd_ctx *ctx, const struct resp_arg *key);

/* Is key one this command may touch here? On a shard: owned by it; in a
 * scratch db: one of the gathered keys. Scripts check every key they use. */
bool cmd_key_local(const struct cmd_ctx *ctx, const void *key, size_t len);

/* Blocking commands (CMD_BLOCKING): when nothing can be served, the handler
 * calls cmd_block() instead of replying. If ctx->may_block the client is
 * suspended on the command's keys (FIFO per key) until deadline_ms
 * (absolute, 0 = forever); each time one of the keys is written the
 * handler runs again with the same arguments, and on timeout the client
 * gets a null (RESP2 *-1 when null_array, else $-1; RESP3 _). If
 * !ctx->may_block (MULTI, scripts) the null is replied at once. */
void cmd_block(struct cmd_ctx *ctx, int64_t deadline_ms, bool null_array);
/* Parse a blocking timeout in seconds (float) into an absolute deadline in
 * ms (0 = forever); replies Redis's errors and returns -1 on bad input. */
int arg_timeout(struct cmd_ctx *ctx, const struct resp_arg *a, int64_t *deadline_ms);

/* A key / every key of a db was modified outside the dispatcher's view of
 * the command's keys (COPY ... DB n, FLUSHDB, SWAPDB): WATCHes on them fail
 * and clients blocked on them get a try (multi.c). */
void txn_signal_key(struct shard *sh, int dbid, const void *key, size_t len);
/* Call before the db changes: every watched key of dbid that exists in dbid
 * or in other (SWAPDB's other db; other = dbid otherwise) is touched. */
void txn_signal_db(struct shard *sh, int dbid, int other);

/* Reply the value of a string entry as a bulk string. */
void cmd_reply_str(struct cmd_ctx *ctx, const struct ks_entry *e);

/* The SCAN family (SCAN HSCAN SSCAN ZSCAN). cmd_parse_cursor parses a
 * cursor as Redis 7.0 does (strtoul, base 10, the whole argument, no
 * leading space, no overflow; "" is 0): 0 ok, -1 invalid, no reply.
 * cmd_scan_opts parses argv[first..]: [MATCH pattern] [COUNT count], and
 * [TYPE type] when type != NULL, in any order, the last of each winning;
 * *pat becomes NULL for MATCH "*" (everything), *count and *type keep the
 * caller's defaults when absent. Replies the error (syntax, not an
 * integer, COUNT < 1) and returns -1 on bad input. cmd_reply_scan_cursor
 * starts the reply, [cursor, ...]; cmd_reply_scan is the whole reply with
 * n elements already encoded in items (NULL when n is 0). */
int cmd_parse_cursor(const struct resp_arg *a, uint64_t *cursor);
int cmd_scan_opts(struct cmd_ctx *ctx, int first, const struct resp_arg **pat, long long *count,
		  const struct resp_arg **type);
void cmd_reply_scan_cursor(struct cmd_ctx *ctx, uint64_t cursor);
void cmd_reply_scan(struct cmd_ctx *ctx, uint64_t cursor, long long n, const struct rbuf *items);

/* The count form of HRANDFIELD / ZRANDMEMBER: key count [opt]. Checks, in
 * Redis 7.0's order: count an integer; not LLONG_MIN (out of range); no
 * other word than opt, nothing after it (syntax); with opt, |count| at
 * most LLONG_MAX / 2 (the reply's size would overflow). Replies the error
 * and returns -1 on bad input; else 0, *count = |count|, *unique = count
 * >= 0 (distinct picks), *with_opt = opt given. */
int arg_rand_count(struct cmd_ctx *ctx, const char *opt, unsigned long *count, bool *unique,
		   bool *with_opt);

/* Redis's "human" long double text (INCRBYFLOAT, HINCRBYFLOAT): "%.17Lf"
 * without trailing zeros or a bare trailing point, "-0" as "0". buf holds
 * CMD_LDBL_STR_MAX bytes (Redis's MAX_LONG_DOUBLE_CHARS: room for up to
 * 4933 integer digits, sign, point and 17 decimals); v is finite. Returns
 * the length (NUL-terminated). */
#define CMD_LDBL_STR_MAX (5 * 1024)
size_t cmd_ld2str(char *buf, long double v);

/* Shard facts for handlers that need them (SCAN cursors, DEBUG POPULATE). */
unsigned shard_self_id(const struct shard *sh);
unsigned shard_nshards(void);
bool shard_owns_key(const struct shard *sh, const void *key, size_t len);
/* The executing shard's keyspace (all dbs) and its copy of the config. */
struct ks_space *shard_ks(struct shard *sh);
const struct cfg *shard_cfg(const struct shard *sh);
/* Per-shard flag: DEBUG SET-ACTIVE-EXPIRE. */
void shard_set_active_expire(struct shard *sh, bool on);
/* Random 64-bit number from the shard's generator. */
uint64_t shard_rand(struct shard *sh);

/* Handlers, by family (one file each). */
/* t_string.c */
cmd_fn cmd_get, cmd_set, cmd_setnx, cmd_setex, cmd_psetex, cmd_mget, cmd_mset,
	cmd_msetnx, cmd_getset, cmd_getdel, cmd_getex, cmd_append, cmd_strlen,
	cmd_incr, cmd_decr, cmd_incrby, cmd_decrby, cmd_incrbyfloat,
	cmd_getrange, cmd_setrange, cmd_substr, cmd_lcs;
/* t_keys.c */
cmd_fn cmd_del, cmd_unlink, cmd_exists, cmd_type, cmd_expire, cmd_pexpire,
	cmd_expireat, cmd_pexpireat, cmd_ttl, cmd_pttl, cmd_expiretime,
	cmd_pexpiretime, cmd_persist, cmd_rename, cmd_renamenx, cmd_copy,
	cmd_keys, cmd_scan, cmd_randomkey, cmd_dbsize, cmd_flushdb, cmd_flushall,
	cmd_swapdb, cmd_touch, cmd_object_encoding, cmd_object_freq,
	cmd_object_idletime, cmd_object_refcount, cmd_object_help;
/* SCAN cursor layout across shards: cursor = dict_cursor * nshards + shard.
 * Route: shard = cursor % nshards. */
cmd_route_fn cmd_scan_route;

#endif
