/* shards/lp.h — listpack: Redis's compact encoding of a sequence of
 * strings and integers, byte for byte as Redis 7 lays it out (so RDB and
 * DUMP payloads carry our listpacks unchanged, and Redis's load into ours).
 *
 * Layout: <total-bytes u32 LE> <num-elements u16 LE> <entry>... <0xFF>.
 * Each entry is <encoding+data> <backlen>; integers use the 7-bit, 13-bit,
 * 16/24/32/64-bit forms, strings the 6-bit, 12-bit and 32-bit length forms;
 * num-elements saturates at 65535 (then lp_len() walks). A string that is
 * a canonical integer (ks_str2ll rules) is stored as an integer, as Redis
 * does.
 *
 * An element position `p` is a pointer to an entry's first byte; every
 * function that may reallocate returns the new listpack and invalidates
 * positions unless it hands one back. All functions are pure data
 * structure code: no shard, no ctx (unit-tested alone). */
#ifndef KR_LP_H
#define KR_LP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_HDR 6
#define LP_EOF 0xFF
#define LP_INTBUF 21             /* room for any int64 as text */

enum lp_where { LP_BEFORE = 0, LP_AFTER = 1, LP_REPLACE = 2 };

/* An empty listpack (7 bytes). Never NULL (aborts on OOM as xmalloc). */
unsigned char *lp_new(void);
void lp_free(unsigned char *lp);
/* Total bytes (header field). */
size_t lp_bytes(const unsigned char *lp);
/* Number of elements. */
unsigned long lp_len(const unsigned char *lp);

/* Navigation: NULL past either end. */
unsigned char *lp_first(unsigned char *lp);
unsigned char *lp_last(unsigned char *lp);
unsigned char *lp_next(unsigned char *lp, unsigned char *p);
unsigned char *lp_prev(unsigned char *lp, unsigned char *p);
/* Element at index (negative counts from the end: -1 is the last), NULL if
 * out of range. Walks from the nearer end. */
unsigned char *lp_seek(unsigned char *lp, long index);

/* Read the element at p. An integer element returns NULL and sets *ival;
 * a string returns its bytes (pointing into the listpack) and sets *len. */
const unsigned char *lp_get(const unsigned char *p, long long *ival, uint32_t *len);
/* Read as bytes whatever it is: integers are formatted into buf
 * (>= LP_INTBUF bytes). */
const unsigned char *lp_get_str(const unsigned char *p, unsigned char *buf, size_t *len);
/* Does the element at p equal the bytes s[0..len)? (An integer element
 * equals its canonical text.) */
bool lp_eq(const unsigned char *p, const void *s, size_t len);

/* Insert s before/after p, or replace the element at p. *newp (if not NULL)
 * is set to the inserted/replaced element's position in the result. */
unsigned char *lp_insert(unsigned char *lp, const void *s, size_t len,
			 unsigned char *p, enum lp_where where, unsigned char **newp);
unsigned char *lp_insert_int(unsigned char *lp, long long v,
			     unsigned char *p, enum lp_where where, unsigned char **newp);
unsigned char *lp_append(unsigned char *lp, const void *s, size_t len);
unsigned char *lp_prepend(unsigned char *lp, const void *s, size_t len);
unsigned char *lp_append_int(unsigned char *lp, long long v);
/* Delete the element at p; *next (if not NULL) is set to the element that
 * followed it (NULL if it was the last). */
unsigned char *lp_delete(unsigned char *lp, unsigned char *p, unsigned char **next);
/* Delete num elements starting at index (negative from the end). */
unsigned char *lp_delete_range(unsigned char *lp, long index, unsigned long num);
/* Delete num elements starting at position p. */
unsigned char *lp_delete_range_at(unsigned char *lp, unsigned char *p, unsigned long num);

/* First element equal to s at or after p, looking only at every
 * (skip+1)-th element (skip = 1 searches the fields of a field/value
 * listpack). NULL if none. */
unsigned char *lp_find(unsigned char *lp, unsigned char *p, const void *s, size_t len,
		       unsigned skip);

/* Bytes an element would take encoded (for thresholds). */
size_t lp_entry_size(const void *s, size_t len);

/* Full structural validation of untrusted bytes (RDB/RESTORE): header,
 * every entry's encoding, backlen and bounds, the count and the EOF byte.
 * true if lp[0..size) is a well-formed listpack. */
bool lp_validate(const unsigned char *lp, size_t size);

#endif
