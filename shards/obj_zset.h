/* shards/obj_zset.h — the sorted set value type: unique binary-safe
 * members, each with a double score, ordered by (score, member bytes), in
 * one of two encodings.
 *
 *  - KS_ENC_LISTPACK: one listpack (lp.h) of member, score, member,
 *    score... sorted by (score, member), used while the set has at most
 *    zset-max-listpack-entries members and every member is at most
 *    zset-max-listpack-value bytes. A score is stored as Redis stores it
 *    (so RDB and DUMP carry the listpack unchanged): an integer when the
 *    double is integral and |x| < 2^52 (-0 too: it reads back as 0, as in
 *    Redis), else "inf", "-inf", or the shortest %.<15..17>g text that
 *    reads back to the same double.
 *  - KS_ENC_SKIPLIST: a struct obj_zset_sl: a skiplist with span counts
 *    (O(log n) rank, insert, delete, range start) plus an sdict (sdict.h)
 *    member -> node. The member bytes are stored once, in the dict entry;
 *    each entry's v.ptr is its node.
 *
 * A zset turns from listpack into skiplist when a write crosses a
 * threshold, and back only when asked (obj_zset_shrink(), which the
 * store-type commands use on their results, as Redis does).
 *
 * A zset is handled as the (ptr, enc) pair a ks_entry stores in v.ptr and
 * enc: readers take (const void *ptr, uint8_t enc); writers take
 * (void **ptr, uint8_t *enc) or (void **ptr, uint8_t enc) because the
 * listpack may move and the encoding may change — pass &e->v.ptr, &e->enc.
 *
 * Ranks are 0-based, counted from the lowest (score, member) unless a
 * function says `rev`. Pure data structure: no shard, no ctx,
 * single-threaded (the owning shard's). Allocation failure aborts (as
 * lp.h and sdict.h do). */
#ifndef KR_OBJ_ZSET_H
#define KR_OBJ_ZSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/ks.h"
#include "shards/lp.h"
#include "shards/sdict.h"

/* Room for a score as listpack text (obj_zset_score_fmt) or as the
 * member text of a listpack integer. */
#define OBJ_ZSET_SCOREBUF 32
#define OBJ_ZSET_MAXLEVEL 32

/* Conversion thresholds (zset-max-listpack-entries / -value). */
struct obj_zset_lim {
	size_t max_entries;   /* listpack while members <= this */
	size_t max_value;     /* ... and every member <= this many bytes */
};

/* The skiplist encoding. A node's member is node->ent->key[0..klen). */
struct obj_zset_node {
	struct sd_entry *ent;              /* dict entry; ent->v.ptr == this node */
	double score;
	struct obj_zset_node *back;        /* previous node on level 0 */
	unsigned nlevel;
	struct obj_zset_level {
		struct obj_zset_node *fwd;
		unsigned long span;        /* level-0 steps to fwd (to the end if NULL) */
	} lv[];
};

struct obj_zset_sl {
	struct sdict *dict;                /* member -> node */
	struct obj_zset_node *head;        /* sentinel with OBJ_ZSET_MAXLEVEL levels */
	struct obj_zset_node *tail;
	unsigned long len;
	int level;                         /* levels in use (>= 1) */
};

/* One element read out of a zset. m[0..mlen) points into the zset or into
 * buf (listpack integer members) and is valid until the zset is modified
 * or the struct reused. */
struct obj_zset_elem {
	const char *m;
	size_t mlen;
	double score;
	char buf[OBJ_ZSET_SCOREBUF];
};

/* Score interval [min, max], each end optionally exclusive. */
struct obj_zset_range {
	double min, max;
	bool minex, maxex;
};

/* Member interval as ZRANGEBYLEX's: each end is a byte string (inclusive
 * or exclusive) or an infinity: inf = -1 is "-" (below every member),
 * +1 is "+" (above every member), 0 means the bytes are used. The bytes
 * are the caller's and must outlive every use of the range. */
struct obj_zset_lex {
	const char *min, *max;
	size_t minlen, maxlen;
	int8_t mininf, maxinf;
	bool minex, maxex;
};

/* ------------------------------------------------------- life cycle */

/* A new empty zset sized for about `size_hint` members of at most
 * `maxlen_hint` bytes: a listpack if both fit lim (and lim->max_entries is
 * not 0), else a skiplist. *enc is set. Never NULL. */
void *obj_zset_new(size_t size_hint, size_t maxlen_hint, const struct obj_zset_lim *lim,
		   uint8_t *enc);
void obj_zset_free(void *ptr, uint8_t enc);
/* Deep copy, same encoding. Never NULL. */
void *obj_zset_clone(const void *ptr, uint8_t enc);
/* Bytes allocated for the value. */
size_t obj_zset_mem(const void *ptr, uint8_t enc);
/* ks_type_ops for KS_ZSET (free/clone/mem above). */
extern const struct ks_type_ops obj_zset_ops;

/* ------------------------------------------------ scores as text */

/* Format d the way a listpack stores it (see the top of this file) into
 * buf (>= OBJ_ZSET_SCOREBUF bytes); returns the length. NaN is never
 * stored (callers reject it) and comes out as "nan". */
size_t obj_zset_score_fmt(char *buf, double d);
/* Parse a score as Redis reads stored and range scores (strtod of the
 * whole text; "inf"/"-inf" accepted, NaN and trailing bytes rejected).
 * 0 and *d set, or -1. */
int obj_zset_score_parse(const char *s, size_t len, double *d);

/* Parse ZRANGEBYSCORE's min/max ("(" prefix = exclusive; "-inf"/"+inf").
 * 0 on success, -1 if either is not a float (Redis's "min or max is not a
 * float"). */
int obj_zset_parse_range(const char *min, size_t minlen, const char *max, size_t maxlen,
			 struct obj_zset_range *r);
/* Parse ZRANGEBYLEX's min/max ("-", "+", "[bytes", "(bytes"); r points
 * into the arguments. 0, or -1 for "min or max not valid string range
 * item". */
int obj_zset_parse_lex(const char *min, size_t minlen, const char *max, size_t maxlen,
		       struct obj_zset_lex *r);
/* Is the interval empty whatever the set holds? (min > max, or min == max
 * with an exclusive end.) */
bool obj_zset_range_empty(const struct obj_zset_range *r);
bool obj_zset_lex_empty(const struct obj_zset_lex *r);

/* --------------------------------------------------------- reading */

/* Number of members. */
unsigned long obj_zset_len(const void *ptr, uint8_t enc);
/* Score of member m: 0 and *score set, or -1 if absent. */
int obj_zset_score(const void *ptr, uint8_t enc, const void *m, size_t mlen, double *score);
/* Rank of member m (rev: counted from the highest), -1 if absent. If
 * score is not NULL it receives the member's score. */
long obj_zset_rank(const void *ptr, uint8_t enc, const void *m, size_t mlen, bool rev,
		   double *score);
/* Element at rank (rev: from the highest); false if rank >= length. */
bool obj_zset_at(const void *ptr, uint8_t enc, unsigned long rank, bool rev,
		 struct obj_zset_elem *el);
/* Members whose score / member bytes fall in the interval (ZCOUNT,
 * ZLEXCOUNT). O(log n) for a skiplist. */
unsigned long obj_zset_count_range(const void *ptr, uint8_t enc, const struct obj_zset_range *r);
unsigned long obj_zset_count_lex(const void *ptr, uint8_t enc, const struct obj_zset_lex *r);
/* Longest member, in bytes (for choosing a result's encoding). */
size_t obj_zset_max_member_len(const void *ptr, uint8_t enc);

/* ------------------------------------------------------- iteration */

/* Walks elements in order (or reverse order), optionally only those of a
 * score or lex interval. The zset must not be modified while an iterator
 * is in use. */
struct obj_zset_iter {
	const void *ptr;
	uint8_t enc;
	bool rev;
	uint8_t bound;                     /* 0 none, 1 score, 2 lex */
	unsigned char *p;                  /* listpack: next member position */
	struct obj_zset_node *node;        /* skiplist: next node */
	struct obj_zset_range r;
	struct obj_zset_lex lex;
};
/* Start at rank `rank` (rev: counted from the highest, walking down). */
void obj_zset_iter_rank(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
			unsigned long rank, bool rev);
/* Elements with scores in r: from the lowest up, or (rev) from the
 * highest down; the iteration ends past the interval. */
void obj_zset_iter_range(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
			 const struct obj_zset_range *r, bool rev);
/* Same for a lex interval (r's bytes must outlive the iterator). */
void obj_zset_iter_lex(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
		       const struct obj_zset_lex *r, bool rev);
/* Next element into *el; false when done. */
bool obj_zset_iter_next(struct obj_zset_iter *it, struct obj_zset_elem *el);
/* Skip up to n elements; returns how many were skipped (fewer at the end
 * of the iteration). */
unsigned long obj_zset_iter_skip(struct obj_zset_iter *it, unsigned long n);

/* ZSCAN step: a listpack hands every element to fn and returns 0; a
 * skiplist visits dict buckets from cursor until at least `count`
 * elements were passed (sd_scan's guarantee: every member present for the
 * whole scan is returned at least once) and returns the next cursor, 0
 * when done. fn must not modify the zset. */
typedef void obj_zset_elem_fn(void *arg, const struct obj_zset_elem *el);
uint64_t obj_zset_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		       obj_zset_elem_fn *fn, void *arg);

/* --------------------------------------------------------- writing */

/* obj_zset_add flags, as ZADD's: in_flags ... */
#define OBJ_ZSET_INCR (1u << 0)   /* score is an increment of the current one */
#define OBJ_ZSET_NX   (1u << 1)   /* only add new members */
#define OBJ_ZSET_XX   (1u << 2)   /* only update existing members */
#define OBJ_ZSET_GT   (1u << 3)   /* only update when the new score is greater */
#define OBJ_ZSET_LT   (1u << 4)   /* only update when the new score is less */
/* ... and *out_flags. */
#define OBJ_ZSET_OUT_NOP     (1u << 0)   /* nothing done because of NX/XX/GT/LT */
#define OBJ_ZSET_OUT_NAN     (1u << 1)   /* the resulting score would be NaN */
#define OBJ_ZSET_OUT_ADDED   (1u << 2)   /* new member */
#define OBJ_ZSET_OUT_UPDATED (1u << 3)   /* existing member's score changed */

/* Add member m with score, or update it, under in_flags (a combination the
 * caller validated: not NX with XX/GT/LT, not GT with LT). *out_flags says
 * what happened; *newscore (if not NULL) receives the member's score
 * afterwards when it was added or kept/updated without NOP (with INCR:
 * the incremented score). A listpack is converted first when mlen exceeds
 * lim->max_value, or after adding when the count exceeds
 * lim->max_entries (or the listpack would pass 1 GiB). Returns 0, or -1
 * (with OBJ_ZSET_OUT_NAN, nothing changed) when the score or the
 * incremented score is NaN. */
int obj_zset_add(void **ptr, uint8_t *enc, const void *m, size_t mlen, double score,
		 unsigned in_flags, unsigned *out_flags, double *newscore,
		 const struct obj_zset_lim *lim);
/* Delete member m: 1 if it was there, 0 if not. The encoding never
 * changes; the caller deletes the key when the zset becomes empty. */
int obj_zset_del(void **ptr, uint8_t enc, const void *m, size_t mlen);
/* Delete the elements of ranks start..end (inclusive, 0-based from the
 * lowest, start <= end < length). Returns how many. */
unsigned long obj_zset_del_ranks(void **ptr, uint8_t enc, unsigned long start, unsigned long end);
/* Delete the elements in a score / lex interval; returns how many. */
unsigned long obj_zset_del_range(void **ptr, uint8_t enc, const struct obj_zset_range *r);
unsigned long obj_zset_del_lex(void **ptr, uint8_t enc, const struct obj_zset_lex *r);

/* Convert to enc `to` (KS_ENC_LISTPACK or KS_ENC_SKIPLIST; no-op if
 * already). Converting to a listpack ignores the thresholds. */
void obj_zset_convert(void **ptr, uint8_t *enc, uint8_t to);
/* Turn a skiplist into a listpack if its length and longest member fit
 * lim (what Redis does to ZUNIONSTORE/ZRANGESTORE results). */
void obj_zset_shrink(void **ptr, uint8_t *enc, const struct obj_zset_lim *lim);

/* Build a zset from a dict of member -> score (entries' v.d), taking
 * ownership of d (it becomes the skiplist's dict, or is freed when the
 * result fits a listpack under lim). Used for ZUNION/ZINTER results and
 * by loaders. Never NULL; *enc is set. An empty d gives an empty zset. */
void *obj_zset_from_dict(struct sdict *d, const struct obj_zset_lim *lim, uint8_t *enc);

/* ---------------------------------------------------------- random */

typedef uint64_t obj_zset_rnd_fn(void *arg);

/* Hand `count` random elements of a non-empty zset to fn. unique:
 * distinct members (count is capped at the length; with count >= length
 * every element is passed once, in order); otherwise count independent
 * picks, repeats allowed. fn must not modify the zset. Work is
 * O(count log n) for a skiplist (plus O(n) when a unique count is over a
 * third of it) and O(n + count) for a listpack. */
void obj_zset_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			  obj_zset_rnd_fn *rnd, void *rnd_arg, obj_zset_elem_fn *fn, void *arg);

/* -------------------------------------------------------- loading */

/* Validate a listpack from an untrusted source (RDB, RESTORE) as a zset
 * value: well-formed (lp_validate), an even number of elements, every
 * score a valid non-NaN number, sorted by (score, member), no member
 * repeated. */
bool obj_zset_lp_valid(const unsigned char *lp, size_t size);

/* Debugging/tests: check every invariant (order, spans, back links,
 * dict <-> nodes, lengths); 0 if all hold, else -1. */
int obj_zset_check(const void *ptr, uint8_t enc);

#endif
