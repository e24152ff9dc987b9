/* shards/lp.c — listpack, Redis 7's byte layout (see lp.h).
 *
 * Entry = <encoding+data> <backlen>. The first byte of an entry decides
 * everything:
 *   0xxxxxxx            7-bit unsigned int              (1 byte)
 *   10xxxxxx            string, 6-bit length            (1 + len)
 *   110xxxxx yyyyyyyy   13-bit signed int, big-endian   (2 bytes)
 *   1110xxxx yyyyyyyy   string, 12-bit length (BE)      (2 + len)
 *   11110000 <u32 LE>   string, 32-bit length           (5 + len)
 *   0xF1/F2/F3/F4       16/24/32/64-bit signed int, LE  (3/4/5/9 bytes)
 *   0xF5..0xFE          unused (invalid), 0xFF          end of listpack
 * backlen holds the size of <encoding+data> in 1..5 bytes, read from right
 * to left, 7 bits per byte, least significant group rightmost; every byte
 * but the leftmost has the 128 bit set. Its width is chosen exactly as
 * Redis does (note the strict '<' bounds: 16383 takes 3 bytes), so the
 * bytes we write match Redis's.
 *
 * Memory: the listpack is always exactly lp_bytes() long (realloc on every
 * change), so small collections cost what they cost in Redis. A listpack
 * can never exceed UINT32_MAX bytes; callers convert to another encoding
 * far below that, so crossing it is a bug and aborts. */
#include "shards/lp.h"

#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"

#define LP_CNT_UNKNOWN 65535u

#define ENC_13INT 0xC0
#define ENC_12STR 0xE0
#define ENC_32STR 0xF0
#define ENC_16INT 0xF1
#define ENC_24INT 0xF2
#define ENC_32INT 0xF3
#define ENC_64INT 0xF4

/* ------------------------------------------------------------ bytes */

static inline uint32_t rd_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void wr_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline unsigned hdr_count(const unsigned char *lp)
{
	return (unsigned)lp[4] | (unsigned)lp[5] << 8;
}

static inline void set_count(unsigned char *lp, unsigned n)
{
	lp[4] = (unsigned char)n;
	lp[5] = (unsigned char)(n >> 8);
}

static inline void set_bytes(unsigned char *lp, size_t n)
{
	if (n > UINT32_MAX)
		abort();
	wr_u32(lp, (uint32_t)n);
}

/* Count adjustments keep 65535 sticky: once saturated the header no longer
 * knows the count and lp_len() walks. */
static inline void count_add(unsigned char *lp, unsigned long d)
{
	unsigned n = hdr_count(lp);
	if (n == LP_CNT_UNKNOWN)
		return;
	set_count(lp, n + d >= LP_CNT_UNKNOWN ? LP_CNT_UNKNOWN : (unsigned)(n + d));
}

static inline void count_sub(unsigned char *lp, unsigned long d)
{
	unsigned n = hdr_count(lp);
	if (n != LP_CNT_UNKNOWN)
		set_count(lp, (unsigned)(n - d));
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		abort();
	return q;
}

/* ------------------------------------------------------------ entries */

/* Width of the backlen of an entry whose encoding+data is l bytes. */
static inline unsigned backlen_width(uint64_t l)
{
	if (l <= 127)
		return 1;
	if (l < 16383)
		return 2;
	if (l < 2097151)
		return 3;
	if (l < 268435455)
		return 4;
	return 5;
}

static inline void backlen_write(unsigned char *buf, uint64_t l, unsigned w)
{
	/* Leftmost byte: highest group, no continuation bit. */
	for (unsigned i = 0; i < w; i++) {
		unsigned shift = 7 * (w - 1 - i);
		unsigned char b = (unsigned char)((l >> shift) & 127);
		buf[i] = i ? (unsigned char)(b | 128) : b;
	}
}

/* Size of <encoding+data> of the (trusted) entry at p. */
static inline uint32_t enc_size(const unsigned char *p)
{
	unsigned b = p[0];
	if (b < 0x80)
		return 1;
	if (b < 0xC0)
		return 1 + (b & 0x3F);
	if (b < 0xE0)
		return 2;
	if (b < 0xF0)
		return 2 + ((b & 0x0F) << 8 | p[1]);
	switch (b) {
	case ENC_32STR: return 5 + rd_u32(p + 1);
	case ENC_16INT: return 3;
	case ENC_24INT: return 4;
	case ENC_32INT: return 5;
	default:        return 9; /* ENC_64INT */
	}
}

/* Full size of the entry at p (encoding, data and backlen). */
static inline size_t entry_size(const unsigned char *p)
{
	uint32_t l = enc_size(p);
	return (size_t)l + backlen_width(l);
}

/* Start of the entry that ends just before q (q > first entry). */
static inline unsigned char *entry_before(unsigned char *q)
{
	const unsigned char *b = q - 1;
	uint64_t v = b[0] & 127;
	unsigned shift = 7;
	while (*b & 128) {
		b--;
		v |= (uint64_t)(*b & 127) << shift;
		shift += 7;
	}
	return q - v - backlen_width(v);
}

/* An element ready to be written: hdr[0..hlen) then data[0..dlen). */
struct lp_enc {
	unsigned char hdr[9];
	unsigned hlen;
	const unsigned char *data;
	size_t dlen;
};

static void enc_int(struct lp_enc *e, long long v)
{
	uint64_t u = (uint64_t)v;
	e->data = NULL;
	e->dlen = 0;
	if (v >= 0 && v <= 127) {
		e->hdr[0] = (unsigned char)v;
		e->hlen = 1;
	} else if (v >= -4096 && v <= 4095) {
		u &= 0x1FFF;
		e->hdr[0] = (unsigned char)(ENC_13INT | u >> 8);
		e->hdr[1] = (unsigned char)u;
		e->hlen = 2;
	} else {
		unsigned nb;
		if (v >= -32768 && v <= 32767) {
			e->hdr[0] = ENC_16INT;
			nb = 2;
		} else if (v >= -8388608 && v <= 8388607) {
			e->hdr[0] = ENC_24INT;
			nb = 3;
		} else if (v >= INT32_MIN && v <= INT32_MAX) {
			e->hdr[0] = ENC_32INT;
			nb = 4;
		} else {
			e->hdr[0] = ENC_64INT;
			nb = 8;
		}
		for (unsigned i = 0; i < nb; i++)
			e->hdr[1 + i] = (unsigned char)(u >> (8 * i));
		e->hlen = 1 + nb;
	}
}

static void enc_elem(struct lp_enc *e, const void *s, size_t len)
{
	long long v;
	if (len <= 20 && ks_str2ll(s, len, &v)) {
		enc_int(e, v);
		return;
	}
	if (len > UINT32_MAX - 16)
		abort();
	e->data = s;
	e->dlen = len;
	if (len < 64) {
		e->hdr[0] = (unsigned char)(0x80 | len);
		e->hlen = 1;
	} else if (len < 4096) {
		e->hdr[0] = (unsigned char)(ENC_12STR | len >> 8);
		e->hdr[1] = (unsigned char)len;
		e->hlen = 2;
	} else {
		e->hdr[0] = ENC_32STR;
		wr_u32(e->hdr + 1, (uint32_t)len);
		e->hlen = 5;
	}
}

static inline size_t enc_total(const struct lp_enc *e)
{
	size_t l = e->hlen + e->dlen;
	return l + backlen_width(l);
}

static void enc_write(unsigned char *dst, const struct lp_enc *e)
{
	size_t l = e->hlen + e->dlen;
	memcpy(dst, e->hdr, e->hlen);
	if (e->dlen)
		memcpy(dst + e->hlen, e->data, e->dlen);
	backlen_write(dst + l, l, backlen_width(l));
}

/* ------------------------------------------------------------ basics */

unsigned char *lp_new(void)
{
	unsigned char *lp = malloc(LP_HDR + 1);
	if (!lp)
		abort();
	wr_u32(lp, LP_HDR + 1);
	set_count(lp, 0);
	lp[LP_HDR] = LP_EOF;
	return lp;
}

void lp_free(unsigned char *lp)
{
	free(lp);
}

size_t lp_bytes(const unsigned char *lp)
{
	return rd_u32(lp);
}

unsigned long lp_len(const unsigned char *lp)
{
	unsigned n = hdr_count(lp);
	if (n != LP_CNT_UNKNOWN)
		return n;
	unsigned long c = 0;
	const unsigned char *p = lp + LP_HDR;
	while (*p != LP_EOF) {
		p += entry_size(p);
		c++;
	}
	return c;
}

/* ------------------------------------------------------------ navigation */

unsigned char *lp_first(unsigned char *lp)
{
	unsigned char *p = lp + LP_HDR;
	return *p == LP_EOF ? NULL : p;
}

unsigned char *lp_last(unsigned char *lp)
{
	unsigned char *eof = lp + rd_u32(lp) - 1;
	return eof == lp + LP_HDR ? NULL : entry_before(eof);
}

unsigned char *lp_next(unsigned char *lp, unsigned char *p)
{
	(void)lp;
	p += entry_size(p);
	return *p == LP_EOF ? NULL : p;
}

unsigned char *lp_prev(unsigned char *lp, unsigned char *p)
{
	return p == lp + LP_HDR ? NULL : entry_before(p);
}

unsigned char *lp_seek(unsigned char *lp, long index)
{
	unsigned n = hdr_count(lp);
	bool forward;
	unsigned long steps;
	if (n != LP_CNT_UNKNOWN) {
		if (index < 0)
			index += (long)n;
		if (index < 0 || index >= (long)n)
			return NULL;
		forward = (unsigned long)index <= n / 2;
		steps = forward ? (unsigned long)index : n - 1 - (unsigned long)index;
	} else {
		/* Count unknown: walk from the end the index is relative to. */
		forward = index >= 0;
		steps = forward ? (unsigned long)index : (unsigned long)(-(index + 1));
	}
	unsigned char *p;
	if (forward) {
		p = lp_first(lp);
		while (p && steps--)
			p = lp_next(lp, p);
	} else {
		p = lp_last(lp);
		while (p && steps--)
			p = lp_prev(lp, p);
	}
	return p;
}

/* ------------------------------------------------------------ reading */

const unsigned char *lp_get(const unsigned char *p, long long *ival, uint32_t *len)
{
	unsigned b = p[0];
	if (b < 0x80) {
		*ival = b;
		return NULL;
	}
	if (b < 0xC0) {
		*len = b & 0x3F;
		return p + 1;
	}
	if (b < 0xE0) {
		/* Sign-extend 13 bits: (u ^ sign) - sign. */
		long long u = (long long)((b & 0x1F) << 8 | p[1]);
		*ival = (u ^ 0x1000) - 0x1000;
		return NULL;
	}
	if (b < 0xF0) {
		*len = (b & 0x0F) << 8 | p[1];
		return p + 2;
	}
	switch (b) {
	case ENC_32STR:
		*len = rd_u32(p + 1);
		return p + 5;
	case ENC_16INT: {
		long long u = (long long)(p[1] | p[2] << 8);
		*ival = (u ^ 0x8000) - 0x8000;
		return NULL;
	}
	case ENC_24INT: {
		long long u = (long long)(p[1] | p[2] << 8 | (uint32_t)p[3] << 16);
		*ival = (u ^ 0x800000) - 0x800000;
		return NULL;
	}
	case ENC_32INT:
		*ival = (int32_t)rd_u32(p + 1);
		return NULL;
	default: { /* ENC_64INT */
		uint64_t u = (uint64_t)rd_u32(p + 1) | (uint64_t)rd_u32(p + 5) << 32;
		int64_t v;
		memcpy(&v, &u, sizeof(v));
		*ival = v;
		return NULL;
	}
	}
}

const unsigned char *lp_get_str(const unsigned char *p, unsigned char *buf, size_t *len)
{
	long long v;
	uint32_t l;
	const unsigned char *s = lp_get(p, &v, &l);
	if (s) {
		*len = l;
		return s;
	}
	*len = ks_ll2str((char *)buf, v);
	return buf;
}

/* Compare the entry at p with s; sint/sv say whether s is a canonical
 * integer and which (an integer entry can only equal such a string). */
static inline bool entry_eq(const unsigned char *p, const void *s, size_t len, bool sint,
			    long long sv)
{
	long long v;
	uint32_t l;
	const unsigned char *e = lp_get(p, &v, &l);
	if (!e)
		return sint && v == sv;
	return l == len && (len == 0 || memcmp(e, s, len) == 0);
}

bool lp_eq(const unsigned char *p, const void *s, size_t len)
{
	long long sv = 0;
	bool sint = len <= 20 && ks_str2ll(s, len, &sv);
	return entry_eq(p, s, len, sint, sv);
}

unsigned char *lp_find(unsigned char *lp, unsigned char *p, const void *s, size_t len,
		       unsigned skip)
{
	(void)lp;
	if (!p)
		return NULL;
	long long sv = 0;
	bool sint = len <= 20 && ks_str2ll(s, len, &sv);
	unsigned left = 0;
	while (*p != LP_EOF) {
		if (left == 0) {
			if (entry_eq(p, s, len, sint, sv))
				return p;
			left = skip;
		} else {
			left--;
		}
		p += entry_size(p);
	}
	return NULL;
}

size_t lp_entry_size(const void *s, size_t len)
{
	struct lp_enc e;
	enc_elem(&e, s, len);
	return enc_total(&e);
}

/* ------------------------------------------------------------ writing */

/* Put the encoded element e at p. Beyond lp.h's contract, p may also be
 * NULL or the EOF byte, meaning the end: BEFORE and AFTER then append
 * (REPLACE there is a caller bug and aborts). The count is incremented
 * unless saturated; a replace leaves it alone. */
static unsigned char *insert_enc(unsigned char *lp, const struct lp_enc *e, unsigned char *p,
				 enum lp_where where, unsigned char **newp)
{
	size_t bytes = rd_u32(lp);
	if (!p)
		p = lp + bytes - 1;
	size_t add = enc_total(e), del = 0;
	if (*p != LP_EOF) {
		if (where == LP_AFTER)
			p += entry_size(p);
		else if (where == LP_REPLACE)
			del = entry_size(p);
	} else if (where == LP_REPLACE) {
		abort(); /* caller bug: nothing to replace */
	}
	size_t off = (size_t)(p - lp);
	size_t tail = bytes - off - del; /* bytes after the replaced span */
	size_t nbytes = bytes - del + add;
	if (nbytes > UINT32_MAX)
		abort();
	if (nbytes > bytes)
		lp = xrealloc(lp, nbytes);
	memmove(lp + off + add, lp + off + del, tail);
	enc_write(lp + off, e);
	if (nbytes < bytes)
		lp = xrealloc(lp, nbytes);
	set_bytes(lp, nbytes);
	if (!del)
		count_add(lp, 1);
	if (newp)
		*newp = lp + off;
	return lp;
}

unsigned char *lp_insert(unsigned char *lp, const void *s, size_t len,
			 unsigned char *p, enum lp_where where, unsigned char **newp)
{
	struct lp_enc e;
	enc_elem(&e, s, len);
	/* s may point into lp itself (moving an element within a listpack):
	 * copy it out before the realloc can free it. */
	uintptr_t a = (uintptr_t)e.data, b = (uintptr_t)lp;
	if (e.dlen && a >= b && a < b + rd_u32(lp)) {
		unsigned char *tmp = malloc(e.dlen);
		if (!tmp)
			abort();
		memcpy(tmp, e.data, e.dlen);
		e.data = tmp;
		lp = insert_enc(lp, &e, p, where, newp);
		free(tmp);
		return lp;
	}
	return insert_enc(lp, &e, p, where, newp);
}

unsigned char *lp_insert_int(unsigned char *lp, long long v,
			     unsigned char *p, enum lp_where where, unsigned char **newp)
{
	struct lp_enc e;
	enc_int(&e, v);
	return insert_enc(lp, &e, p, where, newp);
}

unsigned char *lp_append(unsigned char *lp, const void *s, size_t len)
{
	return lp_insert(lp, s, len, NULL, LP_BEFORE, NULL);
}

unsigned char *lp_prepend(unsigned char *lp, const void *s, size_t len)
{
	return lp_insert(lp, s, len, lp + LP_HDR, LP_BEFORE, NULL);
}

unsigned char *lp_append_int(unsigned char *lp, long long v)
{
	return lp_insert_int(lp, v, NULL, LP_BEFORE, NULL);
}

/* Remove the bytes [p, p + del) holding n entries. */
static unsigned char *cut(unsigned char *lp, unsigned char *p, size_t del, unsigned long n)
{
	size_t bytes = rd_u32(lp), off = (size_t)(p - lp);
	memmove(p, p + del, bytes - off - del);
	lp = xrealloc(lp, bytes - del);
	set_bytes(lp, bytes - del);
	count_sub(lp, n);
	return lp;
}

unsigned char *lp_delete(unsigned char *lp, unsigned char *p, unsigned char **next)
{
	size_t off = (size_t)(p - lp);
	lp = cut(lp, p, entry_size(p), 1);
	if (next)
		*next = lp[off] == LP_EOF ? NULL : lp + off;
	return lp;
}

unsigned char *lp_delete_range_at(unsigned char *lp, unsigned char *p, unsigned long num)
{
	if (!p || num == 0)
		return lp;
	unsigned char *q = p;
	unsigned long n = 0;
	while (n < num && *q != LP_EOF) {
		q += entry_size(q);
		n++;
	}
	return n ? cut(lp, p, (size_t)(q - p), n) : lp;
}

unsigned char *lp_delete_range(unsigned char *lp, long index, unsigned long num)
{
	return lp_delete_range_at(lp, lp_seek(lp, index), num);
}

/* ------------------------------------------------------------ validation */

/* Untrusted input: every read is bounds-checked before it happens (room is
 * what lies before the final 0xFF). Accepted, as Redis accepts them:
 * non-minimal encodings (a short string in the 12/32-bit form, a small int
 * in a wide form, a canonical integer stored as a string) and a saturated
 * count. Rejected: any backlen that is not byte for byte what we (and
 * Redis) would write, so lp_prev() can trust backlens after validation. */

bool lp_validate(const unsigned char *lp, size_t size)
{
	if (!lp || size < LP_HDR + 1 || size > UINT32_MAX)
		return false;
	if (rd_u32(lp) != size || lp[size - 1] != LP_EOF)
		return false;
	const unsigned char *p = lp + LP_HDR, *end = lp + size - 1;
	unsigned long count = 0;
	while (p < end) {
		size_t room = (size_t)(end - p);
		unsigned b = p[0];
		uint64_t h, dlen = 0;
		if (b < 0x80) {
			h = 1;
		} else if (b < 0xC0) {
			h = 1;
			dlen = b & 0x3F;
		} else if (b < 0xE0) {
			h = 2;
		} else if (b < 0xF0) {
			h = 2;
			if (room < h)
				return false;
			dlen = (b & 0x0F) << 8 | p[1];
		} else {
			switch (b) {
			case ENC_32STR:
				h = 5;
				if (room < h)
					return false;
				dlen = rd_u32(p + 1);
				break;
			case ENC_16INT: h = 3; break;
			case ENC_24INT: h = 4; break;
			case ENC_32INT: h = 5; break;
			case ENC_64INT: h = 9; break;
			default: return false; /* 0xF5..0xFE unused, 0xFF too early */
			}
		}
		uint64_t l = h + dlen;
		unsigned w = backlen_width(l);
		if (l + w > room)
			return false;
		unsigned char bl[5];
		backlen_write(bl, l, w);
		if (memcmp(p + l, bl, w) != 0)
			return false;
		p += l + w;
		count++;
	}
	unsigned n = hdr_count(lp);
	return n == LP_CNT_UNKNOWN || n == count;
}
