/* repl/rdb.c — the RDB value codec: encoders for every keyspace type and
 * encoding, the decoder (current and legacy encodings, with full
 * validation), DUMP payloads and the fuzzing entry.
 *
 * What we write is what Redis 7.0 writes for the same encoding: lists as
 * QUICKLIST_2 (a listpack list as one node), listpack hashes/zsets as their
 * listpack blob, intsets as their blob, hashtables and skiplists element by
 * element (skiplists from the highest score down, binary doubles), every
 * string through rdbSaveRawString's rules (int, LZF, raw). Listpack sets
 * are RDB 11's type: for RDB 10 they go out as plain sets.
 *
 * Loading converts to the encodings the thresholds ask for, following
 * Redis 7.2's rdbLoadObject decisions (keyrail's encodings are 7.2's). */
#include "repl/rdb_int.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/lp.h"
#include "shards/obj_list.h"
#include "shards/sdict.h"

/* Redis's encoding bits of a length byte. */
#define RDB_6BIT 0
#define RDB_14BIT 1
#define RDB_32BIT 0x80
#define RDB_64BIT 0x81
#define RDB_ENCVAL 3
#define RDB_ENC_INT8 0
#define RDB_ENC_INT16 1
#define RDB_ENC_INT32 2
#define RDB_ENC_LZF 3

/* Quicklist node containers. */
#define QL_PLAIN 1
#define QL_PACKED 2
/* Redis 7.0 keeps list elements of at least this size in plain nodes. */
#define QL_PLAIN_MIN (1ULL << 30)

/* Most elements a loader presizes for from a count it cannot trust yet. */
#define LOAD_HINT_MAX 65536

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ============================================================ encoders */

void rdb_enc_len(struct rbuf *b, uint64_t len)
{
	uint8_t buf[9];
	size_t n;

	if (len < (1 << 6)) {
		buf[0] = (uint8_t)len;
		n = 1;
	} else if (len < (1 << 14)) {
		buf[0] = (uint8_t)(RDB_14BIT << 6 | len >> 8);
		buf[1] = (uint8_t)len;
		n = 2;
	} else if (len <= UINT32_MAX) {
		buf[0] = RDB_32BIT;
		for (int i = 0; i < 4; i++)
			buf[1 + i] = (uint8_t)(len >> (24 - 8 * i));
		n = 5;
	} else {
		buf[0] = RDB_64BIT;
		for (int i = 0; i < 8; i++)
			buf[1 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 9;
	}
	rbuf_append(b, buf, n);
}

/* The int-encoded form of v into buf (5 bytes): its length, or 0 if v
 * does not fit 32 bits. */
static size_t enc_int(uint8_t *buf, long long v)
{
	if (v >= INT8_MIN && v <= INT8_MAX) {
		buf[0] = RDB_ENCVAL << 6 | RDB_ENC_INT8;
		buf[1] = (uint8_t)v;
		return 2;
	}
	if (v >= INT16_MIN && v <= INT16_MAX) {
		buf[0] = RDB_ENCVAL << 6 | RDB_ENC_INT16;
		buf[1] = (uint8_t)v;
		buf[2] = (uint8_t)(v >> 8);
		return 3;
	}
	if (v >= INT32_MIN && v <= INT32_MAX) {
		buf[0] = RDB_ENCVAL << 6 | RDB_ENC_INT32;
		for (int i = 0; i < 4; i++)
			buf[1 + i] = (uint8_t)((unsigned long long)v >> (8 * i));
		return 5;
	}
	return 0;
}

/* LZF form of s if it saves at least 4 bytes: true and appended. */
static bool enc_lzf(struct rbuf *b, const void *s, size_t len)
{
	if (len <= 4)
		return false;
	size_t outlen = len - 4;
	uint8_t stack[1024];
	uint8_t *out = outlen <= sizeof stack ? stack : malloc(outlen);
	if (!out)
		return false;
	size_t clen = rdb_lzf_compress(s, len, out, outlen);
	if (clen > 0) {
		uint8_t t = RDB_ENCVAL << 6 | RDB_ENC_LZF;
		rbuf_append(b, &t, 1);
		rdb_enc_len(b, clen);
		rdb_enc_len(b, len);
		rbuf_append(b, out, clen);
	}
	if (out != stack)
		free(out);
	return clen > 0;
}

void rdb_enc_string(struct rbuf *b, const void *s, size_t len, bool compress)
{
	long long v;
	uint8_t ib[5];
	size_t n;

	if (len <= 11 && len > 0 && ks_str2ll(s, len, &v) && (n = enc_int(ib, v)) > 0) {
		rbuf_append(b, ib, n);
		return;
	}
	if (compress && len > 20 && enc_lzf(b, s, len))
		return;
	if (len < 64) {                 /* the common case, in one copy */
		rbuf_reserve(b, len + 1);
		b->data[b->len++] = (char)len;
		if (len)
			memcpy(b->data + b->len, s, len);
		b->len += len;
		return;
	}
	rdb_enc_len(b, len);
	rbuf_append(b, s, len);
}

void rdb_enc_ll(struct rbuf *b, long long v)
{
	uint8_t ib[5];
	size_t n = enc_int(ib, v);
	if (n) {
		rbuf_append(b, ib, n);
		return;
	}
	char buf[24];
	n = ks_ll2str(buf, v);
	rdb_enc_len(b, n);
	rbuf_append(b, buf, n);
}

void rdb_enc_double_text(struct rbuf *b, double d)
{
	char buf[128];
	size_t n;

	if (isnan(d)) {
		buf[0] = (char)253;
		rbuf_append(b, buf, 1);
		return;
	}
	if (isinf(d)) {
		buf[0] = (char)(d < 0 ? 255 : 254);
		rbuf_append(b, buf, 1);
		return;
	}
	/* Integral values within 2^52 as integers, the rest %.17g. */
	if (d > -4503599627370495.0 && d < 4503599627370496.0 && d == (double)(long long)d)
		n = ks_ll2str(buf + 1, (long long)d);
	else
		n = (size_t)snprintf(buf + 1, sizeof buf - 1, "%.17g", d);
	buf[0] = (char)n;
	rbuf_append(b, buf, n + 1);
}

void rdb_enc_double_bin(struct rbuf *b, double d)
{
	uint64_t u;
	uint8_t buf[8];
	memcpy(&u, &d, 8);
	put_le64(buf, u);
	rbuf_append(b, buf, 8);
}

void rdb_enc_float_bin(struct rbuf *b, float f)
{
	uint32_t u;
	uint8_t buf[4];
	memcpy(&u, &f, 4);
	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)(u >> (8 * i));
	rbuf_append(b, buf, 4);
}

/* ======================================================== value writer */

int rdb_value_type(const struct ks_entry *e, const struct rdb_wopts *o)
{
	switch (e->type) {
	case KS_STRING:
		return RDB_TYPE_STRING;
	case KS_LIST:
		return RDB_TYPE_LIST_QUICKLIST_2;
	case KS_SET:
		if (e->enc == KS_ENC_INTSET)
			return RDB_TYPE_SET_INTSET;
		if (e->enc == KS_ENC_LISTPACK && o && o->set_listpack)
			return RDB_TYPE_SET_LISTPACK;
		return RDB_TYPE_SET;
	case KS_ZSET:
		return e->enc == KS_ENC_LISTPACK ? RDB_TYPE_ZSET_LISTPACK : RDB_TYPE_ZSET_2;
	case KS_HASH:
		return e->enc == KS_ENC_LISTPACK ? RDB_TYPE_HASH_LISTPACK : RDB_TYPE_HASH;
	default:
		return -ENOTSUP;
	}
}

struct enc_ctx {
	struct rbuf *b;
	bool compress;
};

static int enc_list_node(void *arg, const unsigned char *lp, bool plain)
{
	struct enc_ctx *x = arg;

	if (plain) {
		/* Redis 7.0 holds only elements of 1 GiB and more outside a
		 * listpack; smaller ones stay packed, as it would write them. */
		long long iv;
		uint32_t len;
		const unsigned char *s = lp_get(lp_first((unsigned char *)lp), &iv, &len);
		if (s && len >= QL_PLAIN_MIN) {
			rdb_enc_len(x->b, QL_PLAIN);
			rdb_enc_string(x->b, s, len, x->compress);
			return 0;
		}
	}
	rdb_enc_len(x->b, QL_PACKED);
	rdb_enc_string(x->b, lp, lp_bytes(lp), x->compress);
	return 0;
}

int rdb_enc_value(struct rbuf *b, const struct ks_entry *e, const struct rdb_wopts *o)
{
	bool cz = o && o->compress;
	int t = rdb_value_type(e, o);

	if (t < 0)
		return t;
	switch (e->type) {
	case KS_STRING: {
		if (e->enc == KS_ENC_INT) {
			rdb_enc_ll(b, e->v.i);
		} else {
			char buf[24];
			size_t len;
			const char *s = ks_str_get(e, buf, &len);
			rdb_enc_string(b, s, len, cz);
		}
		return 0;
	}
	case KS_LIST: {
		struct enc_ctx x = { b, cz };
		rdb_enc_len(b, obj_list_nlp(e->v.ptr, e->enc));
		return obj_list_foreach_lp(e->v.ptr, e->enc, enc_list_node, &x);
	}
	case KS_SET:
		if (t == RDB_TYPE_SET_INTSET) {
			rdb_enc_string(b, e->v.ptr, obj_set_intset_bytes(e->v.ptr), cz);
		} else if (t == RDB_TYPE_SET_LISTPACK) {
			rdb_enc_string(b, e->v.ptr, lp_bytes(e->v.ptr), cz);
		} else {
			struct obj_set_iter it;
			struct obj_set_elem m;
			rdb_enc_len(b, obj_set_size(e->v.ptr, e->enc));
			obj_set_iter_init(&it, e->v.ptr, e->enc);
			while (obj_set_iter_next(&it, &m))
				rdb_enc_string(b, m.p, m.len, cz);
		}
		return 0;
	case KS_ZSET:
		if (t == RDB_TYPE_ZSET_LISTPACK) {
			rdb_enc_string(b, e->v.ptr, lp_bytes(e->v.ptr), cz);
		} else {
			/* Highest first: Redis's loader then inserts at the head. */
			struct obj_zset_iter it;
			struct obj_zset_elem el;
			rdb_enc_len(b, obj_zset_len(e->v.ptr, e->enc));
			obj_zset_iter_rank(&it, e->v.ptr, e->enc, 0, true);
			while (obj_zset_iter_next(&it, &el)) {
				rdb_enc_string(b, el.m, el.mlen, cz);
				rdb_enc_double_bin(b, el.score);
			}
		}
		return 0;
	case KS_HASH:
		if (t == RDB_TYPE_HASH_LISTPACK) {
			rdb_enc_string(b, e->v.ptr, lp_bytes(e->v.ptr), cz);
		} else {
			struct obj_hash_iter it;
			struct obj_hash_str f, v;
			rdb_enc_len(b, obj_hash_len(e->v.ptr, e->enc));
			obj_hash_iter_init(&it, e->v.ptr, e->enc);
			while (obj_hash_iter_next(&it, &f, &v)) {
				rdb_enc_string(b, f.p, f.len, cz);
				rdb_enc_string(b, v.p, v.len, cz);
			}
		}
		return 0;
	default:
		return -ENOTSUP;
	}
}

int rdb_enc_key(struct rbuf *b, const struct ks_entry *e, const struct rdb_wopts *o)
{
	int t = rdb_value_type(e, o);
	if (t < 0)
		return t;
	if (e->expire_ms != KS_NO_EXPIRE) {
		uint8_t buf[9];
		buf[0] = RDB_OP_EXPIRETIME_MS;
		put_le64(buf + 1, (uint64_t)e->expire_ms);
		rbuf_append(b, buf, 9);
	}
	uint8_t tb = (uint8_t)t;
	rbuf_append(b, &tb, 1);
	rdb_enc_string(b, e->key, e->klen, o && o->compress);
	return rdb_enc_value(b, e, o);
}

/* ============================================================== limits */

void rdb_limits_default(struct rdb_limits *l)
{
	l->list_fill = -2;
	l->hash = (struct obj_hash_lim){ .max_entries = 128, .max_value = 64 };
	l->set = (struct obj_set_lim){ .max_intset = 512, .max_lp_entries = 128,
				       .max_lp_value = 64 };
	l->zset = (struct obj_zset_lim){ .max_entries = 128, .max_value = 64 };
}

static size_t lim_sz(long long v)
{
	return v < 0 ? 0 : (unsigned long long)v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

void rdb_limits_from_cfg(struct rdb_limits *l, const struct cfg *c)
{
	long long fill = c->list_max_listpack_size;
	l->list_fill = fill > INT_MAX ? INT_MAX : fill < -5 ? -5 : (int)fill;
	l->hash.max_entries = lim_sz(c->hash_max_listpack_entries);
	l->hash.max_value = lim_sz(c->hash_max_listpack_value);
	l->set.max_intset = lim_sz(c->set_max_intset_entries);
	l->set.max_lp_entries = lim_sz(c->set_max_listpack_entries);
	l->set.max_lp_value = lim_sz(c->set_max_listpack_value);
	l->zset.max_entries = lim_sz(c->zset_max_listpack_entries);
	l->zset.max_value = lim_sz(c->zset_max_listpack_value);
}

/* ===================================================== decoded values */

static void obj_release(struct rdb_obj *o)
{
	switch (o->type) {
	case KS_STRING:
		free(o->str);
		break;
	case KS_LIST:
		if (o->ptr)
			obj_list_free(o->ptr, o->enc);
		break;
	case KS_SET:
		if (o->ptr)
			obj_set_free(o->ptr, o->enc);
		break;
	case KS_ZSET:
		if (o->ptr)
			obj_zset_free(o->ptr, o->enc);
		break;
	case KS_HASH:
		if (o->ptr)
			obj_hash_free(o->ptr, o->enc);
		break;
	default:
		break;
	}
}

void rdb_obj_free(struct rdb_obj *o)
{
	if (!o)
		return;
	obj_release(o);
	memset(o, 0, sizeof *o);
}

struct ks_entry *rdb_obj_store(struct ks_db *db, const void *key, size_t klen, struct rdb_obj *o)
{
	struct ks_entry *e;

	if (o->type == KS_STRING) {
		e = ks_set_str(db, key, klen, o->str, o->len, false);
		free(o->str);
	} else {
		e = ks_set_obj(db, key, klen, o->type, o->enc, o->ptr, false);
	}
	memset(o, 0, sizeof *o);
	return e;
}

/* ============================================================= readers */

void rdb_sv_release(struct rdb_sv *s)
{
	free(s->heap);
	s->heap = NULL;
}

int rdb_rd_u8(struct rdb_cur *c, uint8_t *v)
{
	if (c->p >= c->end)
		return -EAGAIN;
	*v = *c->p++;
	return 0;
}

int rdb_rd_bytes(struct rdb_cur *c, size_t n, const uint8_t **p)
{
	if (n > (size_t)(c->end - c->p))
		return -EAGAIN;
	*p = c->p;
	c->p += n;
	return 0;
}

int rdb_rd_len(struct rdb_cur *c, uint64_t *len, bool *isenc)
{
	uint8_t b;
	const uint8_t *p;
	int rc;

	if ((rc = rdb_rd_u8(c, &b)))
		return rc;
	if (isenc)
		*isenc = false;
	switch (b >> 6) {
	case RDB_6BIT:
		*len = b & 0x3f;
		return 0;
	case RDB_14BIT:
		if ((rc = rdb_rd_bytes(c, 1, &p)))
			return rc;
		*len = (uint64_t)(b & 0x3f) << 8 | p[0];
		return 0;
	case RDB_ENCVAL:
		if (!isenc)
			return -EINVAL;
		*isenc = true;
		*len = b & 0x3f;
		return 0;
	default:
		if (b == RDB_32BIT) {
			if ((rc = rdb_rd_bytes(c, 4, &p)))
				return rc;
			*len = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
			return 0;
		}
		if (b == RDB_64BIT) {
			if ((rc = rdb_rd_bytes(c, 8, &p)))
				return rc;
			uint64_t v = 0;
			for (int i = 0; i < 8; i++)
				v = v << 8 | p[i];
			*len = v;
			return 0;
		}
		return -EINVAL;
	}
}

int rdb_rd_string(struct rdb_cur *c, struct rdb_sv *s)
{
	uint64_t len;
	bool isenc;
	const uint8_t *p;
	int rc;

	s->heap = NULL;
	if ((rc = rdb_rd_len(c, &len, &isenc)))
		return rc;
	if (!isenc) {
		if ((rc = rdb_rd_bytes(c, len > SIZE_MAX ? SIZE_MAX : (size_t)len, &p)))
			return len > SIZE_MAX / 2 ? -EINVAL : rc;
		s->p = p;
		s->len = (size_t)len;
		return 0;
	}
	long long v;
	switch (len) {
	case RDB_ENC_INT8:
		if ((rc = rdb_rd_bytes(c, 1, &p)))
			return rc;
		v = (int8_t)p[0];
		break;
	case RDB_ENC_INT16:
		if ((rc = rdb_rd_bytes(c, 2, &p)))
			return rc;
		v = (int16_t)le16(p);
		break;
	case RDB_ENC_INT32:
		if ((rc = rdb_rd_bytes(c, 4, &p)))
			return rc;
		v = (int32_t)le32(p);
		break;
	case RDB_ENC_LZF: {
		uint64_t clen, ulen;
		if ((rc = rdb_rd_len(c, &clen, NULL)) || (rc = rdb_rd_len(c, &ulen, NULL)))
			return rc;
		if (clen > SIZE_MAX / 2)
			return -EINVAL;
		if ((rc = rdb_rd_bytes(c, (size_t)clen, &p)))
			return rc;
		/* A 3-byte reference expands to at most 264 bytes: anything
		 * claiming more than 88x is corrupt (and must not make us
		 * allocate it). */
		if (ulen == 0 || clen == 0 || ulen > clen * 88)
			return -EINVAL;
		uint8_t *out = malloc((size_t)ulen + 1);
		if (!out)
			return -ENOMEM;
		if (rdb_lzf_decompress(p, (size_t)clen, out, (size_t)ulen) != ulen) {
			free(out);
			return -EINVAL;
		}
		out[ulen] = '\0';
		s->heap = out;
		s->p = out;
		s->len = (size_t)ulen;
		return 0;
	}
	default:
		return -EINVAL;
	}
	s->len = ks_ll2str(s->num, v);
	s->p = (const uint8_t *)s->num;
	return 0;
}

int rdb_skip_string(struct rdb_cur *c)
{
	uint64_t len, clen, ulen;
	bool isenc;
	const uint8_t *p;
	int rc;

	if ((rc = rdb_rd_len(c, &len, &isenc)))
		return rc;
	if (isenc) {
		switch (len) {
		case RDB_ENC_INT8: len = 1; break;
		case RDB_ENC_INT16: len = 2; break;
		case RDB_ENC_INT32: len = 4; break;
		case RDB_ENC_LZF:
			if ((rc = rdb_rd_len(c, &clen, NULL)) || (rc = rdb_rd_len(c, &ulen, NULL)))
				return rc;
			len = clen;
			break;
		default:
			return -EINVAL;
		}
	}
	if (len > SIZE_MAX / 2)
		return -EINVAL;
	return rdb_rd_bytes(c, (size_t)len, &p);
}

/* Step over one element (or node) of a counted type. */
static int skip_elem(int rtype, struct rdb_cur *c)
{
	uint64_t v;
	const uint8_t *p;
	uint8_t n;
	int rc;

	switch (rtype) {
	case RDB_TYPE_HASH:
		if ((rc = rdb_skip_string(c)))
			return rc;
		return rdb_skip_string(c);
	case RDB_TYPE_ZSET:
		if ((rc = rdb_skip_string(c)) || (rc = rdb_rd_u8(c, &n)))
			return rc;
		return n >= 253 ? 0 : rdb_rd_bytes(c, n, &p);
	case RDB_TYPE_ZSET_2:
		if ((rc = rdb_skip_string(c)))
			return rc;
		return rdb_rd_bytes(c, 8, &p);
	case RDB_TYPE_LIST_QUICKLIST_2:
		if ((rc = rdb_rd_len(c, &v, NULL)))
			return rc;
		return rdb_skip_string(c);
	default:                        /* one string each */
		return rdb_skip_string(c);
	}
}

static int rd_double_text(struct rdb_cur *c, double *d)
{
	uint8_t n;
	const uint8_t *p;
	char buf[256];
	int rc;

	if ((rc = rdb_rd_u8(c, &n)))
		return rc;
	switch (n) {
	case 255: *d = -INFINITY; return 0;
	case 254: *d = INFINITY; return 0;
	case 253: *d = NAN; return 0;
	}
	if ((rc = rdb_rd_bytes(c, n, &p)))
		return rc;
	memcpy(buf, p, n);
	buf[n] = '\0';
	char *end;
	*d = strtod(buf, &end);
	return end == buf ? -EINVAL : 0;
}

static int rd_double_bin(struct rdb_cur *c, double *d)
{
	const uint8_t *p;
	int rc = rdb_rd_bytes(c, 8, &p);
	if (rc)
		return rc;
	uint64_t u = le64(p);
	memcpy(d, &u, 8);
	return 0;
}

/* ====================================================== legacy blobs */

/* Called for each element of a ziplist or zipmap: a string s[0..len), or
 * the integer v when s is NULL. */
typedef void zl_elem_fn(void *arg, const uint8_t *s, size_t len, long long v);

#define ZL_HDR 10
#define ZL_END 0xFF
#define ZL_BIGPREV 254

/* Validate a ziplist completely (header byte count, tail offset, every
 * entry's prevlen, encoding and bounds, the count, the end byte) and, if
 * fn, hand it every element. Returns the element count, or -1. */
static long zl_walk(const uint8_t *zl, size_t size, zl_elem_fn *fn, void *arg)
{
	if (size < ZL_HDR + 1 || size > UINT32_MAX || le32(zl) != size || zl[size - 1] != ZL_END)
		return -1;
	size_t tail = le32(zl + 4), hdr_count = le16(zl + 8);
	size_t end = size - 1, pos = ZL_HDR, prevraw = 0, last = ZL_HDR;
	long count = 0;

	while (pos < end) {
		size_t start = pos, prevlen, hlen, dlen = 0;
		uint8_t b = zl[pos];
		long long v = 0;
		bool isstr = true;

		if (b < ZL_BIGPREV) {
			prevlen = b;
			pos++;
		} else if (b == ZL_BIGPREV) {
			if (end - pos < 5)
				return -1;
			prevlen = le32(zl + pos + 1);
			pos += 5;
		} else {
			return -1;          /* the end byte before the end */
		}
		if (prevlen != prevraw || pos >= end)
			return -1;
		uint8_t e = zl[pos];
		switch (e >> 6) {
		case 0:
			hlen = 1;
			dlen = e & 0x3f;
			break;
		case 1:
			hlen = 2;
			if (end - pos < 2)
				return -1;
			dlen = (size_t)(e & 0x3f) << 8 | zl[pos + 1];
			break;
		case 2:
			hlen = 5;
			if (end - pos < 5)
				return -1;
			dlen = (size_t)zl[pos + 1] << 24 | (size_t)zl[pos + 2] << 16 |
			       (size_t)zl[pos + 3] << 8 | zl[pos + 4];
			break;
		default:
			hlen = 1;
			isstr = false;
			switch (e) {
			case 0xC0: dlen = 2; break;
			case 0xD0: dlen = 4; break;
			case 0xE0: dlen = 8; break;
			case 0xF0: dlen = 3; break;
			case 0xFE: dlen = 1; break;
			default:
				if (e >= 0xF1 && e <= 0xFD) {
					dlen = 0;
					v = (e & 0x0f) - 1;
					break;
				}
				return -1;
			}
		}
		if (hlen > end - pos || dlen > end - pos - hlen)
			return -1;
		const uint8_t *d = zl + pos + hlen;
		if (!isstr) {
			switch (dlen) {
			case 1: v = (int8_t)d[0]; break;
			case 2: v = (int16_t)le16(d); break;
			case 3: v = (int32_t)((uint32_t)d[0] << 8 | (uint32_t)d[1] << 16 |
					      (uint32_t)d[2] << 24) >> 8; break;
			case 4: v = (int32_t)le32(d); break;
			case 8: v = (int64_t)le64(d); break;
			default: break;
			}
		}
		if (fn)
			fn(arg, isstr ? d : NULL, isstr ? dlen : 0, v);
		pos += hlen + dlen;
		prevraw = pos - start;
		last = start;
		count++;
	}
	if (hdr_count != UINT16_MAX && hdr_count != (size_t)count)
		return -1;
	if (tail != last)
		return -1;
	return count;
}

/* A zipmap length: < 254 in one byte, 254 + u32 LE. */
static int zm_len(const uint8_t *zm, size_t end, size_t *pos, size_t *len)
{
	if (*pos >= end)
		return -1;
	uint8_t b = zm[*pos];
	if (b < 254) {
		*len = b;
		*pos += 1;
		return 0;
	}
	if (b == 254 && end - *pos >= 5) {
		*len = le32(zm + *pos + 1);
		*pos += 5;
		return 0;
	}
	return -1;
}

/* Validate a zipmap (Redis 2.x small hashes) and hand fn its key and value
 * strings alternately. Returns the pair count, or -1. */
static long zm_walk(const uint8_t *zm, size_t size, zl_elem_fn *fn, void *arg)
{
	if (size < 2 || zm[size - 1] != 0xFF)
		return -1;
	size_t end = size - 1, pos = 1, klen, vlen;
	long count = 0;

	while (pos < end) {
		if (zm_len(zm, end, &pos, &klen) || klen > end - pos)
			return -1;
		const uint8_t *k = zm + pos;
		pos += klen;
		if (zm_len(zm, end, &pos, &vlen) || pos >= end)
			return -1;
		size_t freeb = zm[pos++];
		if (vlen > end - pos)
			return -1;
		const uint8_t *v = zm + pos;
		pos += vlen;
		if (freeb > end - pos)
			return -1;
		pos += freeb;
		if (fn) {
			fn(arg, k, klen, 0);
			fn(arg, v, vlen, 0);
		}
		count++;
	}
	if (zm[0] < 254 && zm[0] != count)
		return -1;
	return count;
}

static void lp_add_elem(void *arg, const uint8_t *s, size_t len, long long v)
{
	unsigned char **lp = arg;
	*lp = s ? lp_append(*lp, s, len) : lp_append_int(*lp, v);
}

/* A listpack with the elements of a ziplist (zipmap: keys and values), or
 * NULL if the blob is not a valid one. */
static unsigned char *legacy_to_lp(const uint8_t *blob, size_t size, bool zipmap)
{
	if ((zipmap ? zm_walk(blob, size, NULL, NULL) : zl_walk(blob, size, NULL, NULL)) < 0)
		return NULL;
	unsigned char *lp = lp_new();
	if (zipmap)
		zm_walk(blob, size, lp_add_elem, &lp);
	else
		zl_walk(blob, size, lp_add_elem, &lp);
	return lp;
}

/* Longest element of a listpack (as text), looking at every step-th one
 * from the first. */
static size_t lp_maxlen(unsigned char *lp, unsigned step)
{
	unsigned char buf[LP_INTBUF];
	size_t max = 0;
	unsigned i = 0;
	for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p), i++) {
		if (i % step)
			continue;
		size_t len;
		lp_get_str(p, buf, &len);
		if (len > max)
			max = len;
	}
	return max;
}

/* ============================================================= decoder */

static uint64_t hint_of(uint64_t n)
{
	return n > LOAD_HINT_MAX ? LOAD_HINT_MAX : n;
}

int rdb_vdec_begin(struct rdb_vdec *d, int rtype, const struct rdb_limits *lim)
{
	memset(d, 0, sizeof *d);
	d->rtype = rtype;
	d->lim = lim;
	switch (rtype) {
	case RDB_TYPE_STRING:
	case RDB_TYPE_LIST:
	case RDB_TYPE_SET:
	case RDB_TYPE_ZSET:
	case RDB_TYPE_HASH:
	case RDB_TYPE_ZSET_2:
	case RDB_TYPE_HASH_ZIPMAP:
	case RDB_TYPE_LIST_ZIPLIST:
	case RDB_TYPE_SET_INTSET:
	case RDB_TYPE_ZSET_ZIPLIST:
	case RDB_TYPE_HASH_ZIPLIST:
	case RDB_TYPE_LIST_QUICKLIST:
	case RDB_TYPE_HASH_LISTPACK:
	case RDB_TYPE_ZSET_LISTPACK:
	case RDB_TYPE_LIST_QUICKLIST_2:
	case RDB_TYPE_SET_LISTPACK:
		return 0;
	case RDB_TYPE_MODULE:
	case RDB_TYPE_MODULE_2:
	case RDB_TYPE_STREAM_LISTPACKS:
	case RDB_TYPE_STREAM_LISTPACKS_2:
	case RDB_TYPE_STREAM_LISTPACKS_3:
		return -ENOTSUP;
	default:
		return -EINVAL;
	}
}

void rdb_vdec_abort(struct rdb_vdec *d)
{
	rdb_obj_free(&d->obj);
}

/* Bytes of sv as a malloc'd buffer the caller owns (taken over when sv
 * already owns a heap copy). */
static uint8_t *sv_take(struct rdb_sv *sv)
{
	if (sv->heap) {
		uint8_t *p = sv->heap;
		sv->heap = NULL;
		return p;
	}
	uint8_t *p = xmalloc(sv->len + 1);
	memcpy(p, sv->p, sv->len);
	p[sv->len] = '\0';
	return p;
}

static void set_obj(struct rdb_vdec *d, uint8_t type, uint8_t enc, void *ptr)
{
	d->obj.type = type;
	d->obj.enc = enc;
	d->obj.ptr = ptr;
}

/* A listpack hash just loaded: to a hashtable past the thresholds. */
static void hash_lp_done(struct rdb_vdec *d, unsigned char *lp)
{
	set_obj(d, KS_HASH, KS_ENC_LISTPACK, lp);
	if (lp_len(lp) / 2 > d->lim->hash.max_entries || lp_maxlen(lp, 1) > d->lim->hash.max_value)
		obj_hash_convert(&d->obj.ptr, &d->obj.enc);
}

static void zset_lp_done(struct rdb_vdec *d, unsigned char *lp)
{
	set_obj(d, KS_ZSET, KS_ENC_LISTPACK, lp);
	if (lp_len(lp) / 2 > d->lim->zset.max_entries || lp_maxlen(lp, 2) > d->lim->zset.max_value)
		obj_zset_convert(&d->obj.ptr, &d->obj.enc, KS_ENC_SKIPLIST);
}

/* The single-string encodings (strings and blob types). */
static int dec_blob(struct rdb_vdec *d, struct rdb_sv *sv)
{
	const uint8_t *p = sv->p;
	size_t n = sv->len;
	unsigned char *lp;

	switch (d->rtype) {
	case RDB_TYPE_STRING:
		d->obj.type = KS_STRING;
		d->obj.enc = KS_ENC_RAW;
		d->obj.len = n;
		d->obj.str = (char *)sv_take(sv);
		return 0;
	case RDB_TYPE_HASH_ZIPMAP:
	case RDB_TYPE_HASH_ZIPLIST:
		lp = legacy_to_lp(p, n, d->rtype == RDB_TYPE_HASH_ZIPMAP);
		if (!lp)
			return -EINVAL;
		if (!obj_hash_lp_valid(lp, lp_bytes(lp))) {
			lp_free(lp);
			return -EINVAL;
		}
		if (lp_len(lp) == 0) {
			lp_free(lp);
			return -ENODATA;
		}
		hash_lp_done(d, lp);
		return 0;
	case RDB_TYPE_HASH_LISTPACK:
		if (!obj_hash_lp_valid(p, n))
			return -EINVAL;
		lp = sv_take(sv);
		if (lp_len(lp) == 0) {
			lp_free(lp);
			return -ENODATA;
		}
		hash_lp_done(d, lp);
		return 0;
	case RDB_TYPE_ZSET_ZIPLIST:
		lp = legacy_to_lp(p, n, false);
		if (!lp)
			return -EINVAL;
		if (!obj_zset_lp_valid(lp, lp_bytes(lp))) {
			lp_free(lp);
			return -EINVAL;
		}
		if (lp_len(lp) == 0) {
			lp_free(lp);
			return -ENODATA;
		}
		zset_lp_done(d, lp);
		return 0;
	case RDB_TYPE_ZSET_LISTPACK:
		if (!obj_zset_lp_valid(p, n))
			return -EINVAL;
		lp = sv_take(sv);
		if (lp_len(lp) == 0) {
			lp_free(lp);
			return -ENODATA;
		}
		zset_lp_done(d, lp);
		return 0;
	case RDB_TYPE_LIST_ZIPLIST:
		lp = legacy_to_lp(p, n, false);
		if (!lp)
			return -EINVAL;
		if (lp_len(lp) == 0) {
			lp_free(lp);
			return -ENODATA;
		}
		set_obj(d, KS_LIST, KS_ENC_LISTPACK, lp);
		obj_list_convert(&d->obj.ptr, &d->obj.enc, d->lim->list_fill);
		return 0;
	case RDB_TYPE_SET_INTSET: {
		void *is = obj_set_intset_load(p, n);
		if (!is)
			return -EINVAL;
		set_obj(d, KS_SET, KS_ENC_INTSET, is);
		unsigned long size = obj_set_size(is, KS_ENC_INTSET);
		if (size == 0)
			return -ENODATA;    /* d->obj is freed by the caller */
		if (size > d->lim->set.max_intset)
			obj_set_convert(&d->obj.ptr, &d->obj.enc, KS_ENC_HASHTABLE, 0);
		return 0;
	}
	case RDB_TYPE_SET_LISTPACK:
		if (!obj_set_lp_valid(p, n))
			return -EINVAL;
		lp = sv_take(sv);
		set_obj(d, KS_SET, KS_ENC_LISTPACK, lp);
		if (lp_len(lp) == 0)
			return -ENODATA;
		if (lp_len(lp) > d->lim->set.max_lp_entries || lp_maxlen(lp, 1) > d->lim->set.max_lp_value)
			obj_set_convert(&d->obj.ptr, &d->obj.enc, KS_ENC_HASHTABLE, 0);
		return 0;
	default:
		return -EINVAL;
	}
}

static bool is_blob_type(int t)
{
	switch (t) {
	case RDB_TYPE_STRING:
	case RDB_TYPE_HASH_ZIPMAP:
	case RDB_TYPE_LIST_ZIPLIST:
	case RDB_TYPE_SET_INTSET:
	case RDB_TYPE_ZSET_ZIPLIST:
	case RDB_TYPE_HASH_ZIPLIST:
	case RDB_TYPE_HASH_LISTPACK:
	case RDB_TYPE_ZSET_LISTPACK:
	case RDB_TYPE_SET_LISTPACK:
		return true;
	default:
		return false;
	}
}

/* The counted types: create the empty value once the count is known. */
static void coll_init(struct rdb_vdec *d)
{
	switch (d->rtype) {
	case RDB_TYPE_LIST:
	case RDB_TYPE_LIST_QUICKLIST:
	case RDB_TYPE_LIST_QUICKLIST_2:
		d->obj.type = KS_LIST;
		d->obj.ptr = obj_list_new(&d->obj.enc);
		break;
	case RDB_TYPE_SET:
		d->obj.type = KS_SET;
		d->obj.ptr = obj_set_new(&d->obj.enc);
		/* Too many for an intset: a hashtable from the start (Redis
		 * 7.2's rule, even when a listpack would hold them). */
		if (d->count > d->lim->set.max_intset)
			obj_set_convert(&d->obj.ptr, &d->obj.enc, KS_ENC_HASHTABLE,
					hint_of(d->count));
		break;
	case RDB_TYPE_ZSET:
	case RDB_TYPE_ZSET_2:
		/* A listpack when the count fits (a long member converts it
		 * on the way), else a skiplist: the same result as Redis's
		 * "skiplist, then a listpack if it fits". We write (and
		 * Redis writes) skiplists highest score first, so each insert
		 * lands at the head. */
		d->obj.type = KS_ZSET;
		d->obj.ptr = obj_zset_new(hint_of(d->count), 0, &d->lim->zset, &d->obj.enc);
		break;
	case RDB_TYPE_HASH:
		d->obj.type = KS_HASH;
		d->obj.ptr = obj_hash_new(&d->obj.enc);
		if (d->count > d->lim->hash.max_entries)
			obj_hash_convert(&d->obj.ptr, &d->obj.enc);
		break;
	default:
		break;
	}
}

/* RDB_TYPE_SET member, with Redis 7.2's load-time conversions. */
static int set_add(struct rdb_vdec *d, const uint8_t *s, size_t len)
{
	const struct obj_set_lim *l = &d->lim->set;
	void **pp = &d->obj.ptr;
	uint8_t *enc = &d->obj.enc;
	long long v;

	if (len > d->maxlen)
		d->maxlen = len;
	if (*enc == KS_ENC_INTSET && !ks_str2ll((const char *)s, len, &v)) {
		if (obj_set_size(*pp, *enc) < l->max_lp_entries && d->maxlen <= l->max_lp_value)
			obj_set_convert(pp, enc, KS_ENC_LISTPACK, 0);
		else
			obj_set_convert(pp, enc, KS_ENC_HASHTABLE, hint_of(d->count));
	}
	if (*enc == KS_ENC_LISTPACK &&
	    !(obj_set_size(*pp, *enc) < l->max_lp_entries && len <= l->max_lp_value))
		obj_set_convert(pp, enc, KS_ENC_HASHTABLE, hint_of(d->count));
	return obj_set_add(pp, enc, s, len, l) == 1 ? 0 : -EINVAL;
}

/* One element (or node) of a counted type. Nothing changes unless it
 * returns 0. */
static int coll_elem(struct rdb_vdec *d, struct rdb_cur *c)
{
	struct rdb_sv a, b;
	int rc;

	switch (d->rtype) {
	case RDB_TYPE_LIST:
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		obj_list_push1(&d->obj.ptr, &d->obj.enc, d->lim->list_fill, a.p, a.len, OBJ_LIST_TAIL);
		rdb_sv_release(&a);
		return 0;
	case RDB_TYPE_SET:
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		rc = set_add(d, a.p, a.len);
		rdb_sv_release(&a);
		return rc;
	case RDB_TYPE_ZSET:
	case RDB_TYPE_ZSET_2: {
		double score;
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		rc = d->rtype == RDB_TYPE_ZSET ? rd_double_text(c, &score) : rd_double_bin(c, &score);
		if (rc == 0 && isnan(score))
			rc = -EINVAL;
		if (rc == 0) {
			unsigned out = 0;
			if (obj_zset_add(&d->obj.ptr, &d->obj.enc, a.p, a.len, score, OBJ_ZSET_NX, &out,
					 NULL, &d->lim->zset) != 0 || !(out & OBJ_ZSET_OUT_ADDED))
				rc = -EINVAL;       /* a member twice */
		}
		rdb_sv_release(&a);
		return rc;
	}
	case RDB_TYPE_HASH:
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		if ((rc = rdb_rd_string(c, &b))) {
			rdb_sv_release(&a);
			return rc;
		}
		if (obj_hash_set(&d->obj.ptr, &d->obj.enc, a.p, a.len, b.p, b.len, &d->lim->hash) != 1)
			rc = -EINVAL;           /* a field twice */
		rdb_sv_release(&a);
		rdb_sv_release(&b);
		return rc;
	case RDB_TYPE_LIST_QUICKLIST: {
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		unsigned char *lp = legacy_to_lp(a.p, a.len, false);
		rdb_sv_release(&a);
		if (!lp)
			return -EINVAL;
		obj_list_append_lp(&d->obj.ptr, &d->obj.enc, d->lim->list_fill, lp);
		return 0;
	}
	case RDB_TYPE_LIST_QUICKLIST_2: {
		uint64_t container;
		unsigned char *lp;
		if ((rc = rdb_rd_len(c, &container, NULL)))
			return rc;
		if ((rc = rdb_rd_string(c, &a)))
			return rc;
		if ((container != QL_PLAIN && container != QL_PACKED) || a.len == 0) {
			rdb_sv_release(&a);
			return -EINVAL;
		}
		if (container == QL_PLAIN) {
			lp = lp_append(lp_new(), a.p, a.len);
		} else {
			if (!lp_validate(a.p, a.len)) {
				rdb_sv_release(&a);
				return -EINVAL;
			}
			lp = sv_take(&a);
		}
		rdb_sv_release(&a);
		obj_list_append_lp(&d->obj.ptr, &d->obj.enc, d->lim->list_fill, lp);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int coll_finish(struct rdb_vdec *d)
{
	switch (d->rtype) {
	case RDB_TYPE_LIST:
	case RDB_TYPE_LIST_QUICKLIST:
	case RDB_TYPE_LIST_QUICKLIST_2:
		/* Nodes may all have been empty listpacks: an empty key. */
		if (obj_list_len(d->obj.ptr, d->obj.enc) == 0)
			return -ENODATA;
		obj_list_convert(&d->obj.ptr, &d->obj.enc, d->lim->list_fill);
		return 1;
	default:
		return 1;
	}
}

/* One step: 0 made progress, 1 value complete, < 0 error / -EAGAIN. */
static int vdec_one(struct rdb_vdec *d, struct rdb_cur *c)
{
	int rc;

	if (d->skip) {
		if (is_blob_type(d->rtype))
			return (rc = rdb_skip_string(c)) ? rc : 1;
		if (!d->have_count) {
			if ((rc = rdb_rd_len(c, &d->left, NULL)))
				return rc;
			d->have_count = true;
			return d->left ? 0 : 1;
		}
		if ((rc = skip_elem(d->rtype, c)))
			return rc;
		return --d->left ? 0 : 1;
	}
	if (is_blob_type(d->rtype)) {
		struct rdb_sv sv;
		if ((rc = rdb_rd_string(c, &sv)))
			return rc;
		rc = dec_blob(d, &sv);
		rdb_sv_release(&sv);
		return rc ? rc : 1;
	}
	if (!d->have_count) {
		uint64_t n;
		if ((rc = rdb_rd_len(c, &n, NULL)))
			return rc;
		if (n == 0)
			return -ENODATA;
		d->count = d->left = n;
		d->have_count = true;
		coll_init(d);
		return 0;
	}
	if ((rc = coll_elem(d, c)))
		return rc;
	if (--d->left == 0)
		return coll_finish(d);
	return 0;
}

int rdb_vdec_step(struct rdb_vdec *d, struct rdb_cur *c)
{
	for (;;) {
		const uint8_t *save = c->p;
		int rc = vdec_one(d, c);
		if (rc == -EAGAIN) {
			c->p = save;
			return rc;
		}
		if (rc != 0)
			return rc;
	}
}

int rdb_dec_value(int rtype, const void *p, size_t n, size_t *used,
		  const struct rdb_limits *lim, struct rdb_obj *out)
{
	struct rdb_vdec d;
	struct rdb_cur c = { p, (const uint8_t *)p + n };
	int rc = rdb_vdec_begin(&d, rtype, lim);

	memset(out, 0, sizeof *out);
	if (rc)
		return rc;
	rc = rdb_vdec_step(&d, &c);
	if (rc != 1) {
		rdb_vdec_abort(&d);
		return rc == -EAGAIN ? -EINVAL : rc;      /* truncated */
	}
	*out = d.obj;
	if (used)
		*used = (size_t)(c.p - (const uint8_t *)p);
	return 0;
}

/* ======================================================== DUMP/RESTORE */

#define DUMP_FOOTER 10    /* u16 version + u64 crc */

int rdb_dump_payload(struct rbuf *b, const struct ks_entry *e, bool compress)
{
	struct rdb_wopts o = { .compress = compress };
	size_t start = b->len;
	int t = rdb_value_type(e, &o);
	if (t < 0)
		return t;
	uint8_t tb = (uint8_t)t;
	rbuf_append(b, &tb, 1);
	int rc = rdb_enc_value(b, e, &o);
	if (rc) {
		b->len = start;
		return rc;
	}
	uint8_t foot[DUMP_FOOTER];
	foot[0] = RDB_VERSION & 0xff;
	foot[1] = RDB_VERSION >> 8;
	rbuf_append(b, foot, 2);
	put_le64(foot, rdb_crc64(0, b->data + start, b->len - start));
	rbuf_append(b, foot, 8);
	return 0;
}

int rdb_dump_verify(const void *p_, size_t n, bool check_crc, uint16_t *ver)
{
	const uint8_t *p = p_;
	if (n < DUMP_FOOTER)
		return -EINVAL;
	const uint8_t *foot = p + n - DUMP_FOOTER;
	uint16_t v = le16(foot);
	if (ver)
		*ver = v;
	if (v > RDB_VERSION)
		return -EINVAL;
	if (check_crc && rdb_crc64(0, p, n - 8) != le64(foot + 2))
		return -EINVAL;
	return 0;
}

int rdb_dump_decode(const void *p_, size_t n, const struct rdb_limits *lim, struct rdb_obj *out)
{
	const uint8_t *p = p_;
	size_t used;
	int rc;

	memset(out, 0, sizeof *out);
	if (n < DUMP_FOOTER + 1)
		return -EINVAL;
	n -= DUMP_FOOTER;
	rc = rdb_dec_value(p[0], p + 1, n - 1, &used, lim, out);
	if (rc)
		return rc;
	if (used != n - 1) {            /* bytes after the value */
		rdb_obj_free(out);
		return -EINVAL;
	}
	return 0;
}

/* ============================================================= fuzzing */

static uint64_t fz_mix(uint64_t h, const void *p, size_t len)
{
	/* FNV-1a, then a finaliser: order-sensitive. */
	const uint8_t *s = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= len;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* A digest of a value's contents, independent of its encoding and of the
 * order of unordered types. */
static uint64_t fz_digest(const struct rdb_obj *o)
{
	uint64_t h = 0xcbf29ce484222325ULL + o->type;

	switch (o->type) {
	case KS_STRING:
		return fz_mix(h, o->str, o->len);
	case KS_LIST: {
		struct obj_list_iter it;
		struct obj_list_elem el;
		unsigned char buf[OBJ_LIST_NUMBUF];
		obj_list_iter_init(&it, o->ptr, o->enc, 0, true);
		while (obj_list_iter_next(&it, &el)) {
			size_t len;
			const unsigned char *s = obj_list_elem_str(&el, buf, &len);
			h = fz_mix(h, s, len);
		}
		return h;
	}
	case KS_SET: {
		struct obj_set_iter it;
		struct obj_set_elem m;
		obj_set_iter_init(&it, o->ptr, o->enc);
		while (obj_set_iter_next(&it, &m))
			h ^= fz_mix(1, m.p, m.len);
		return h;
	}
	case KS_HASH: {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;
		obj_hash_iter_init(&it, o->ptr, o->enc);
		while (obj_hash_iter_next(&it, &f, &v))
			h ^= fz_mix(fz_mix(2, f.p, f.len), v.p, v.len);
		return h;
	}
	case KS_ZSET: {
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		obj_zset_iter_rank(&it, o->ptr, o->enc, 0, false);
		while (obj_zset_iter_next(&it, &el)) {
			double s = el.score == 0 ? 0 : el.score;
			h = fz_mix(fz_mix(h, el.m, el.mlen), &s, sizeof s);
		}
		return h;
	}
	default:
		return h;
	}
}

static int fz_obj_check(const struct rdb_obj *o)
{
	switch (o->type) {
	case KS_ZSET:
		return obj_zset_check(o->ptr, o->enc);
	case KS_LIST:
		return obj_list_len(o->ptr, o->enc) > 0 ? 0 : -1;
	default:
		return 0;
	}
}

/* Decode a value, write it back, decode that: both must hold the same. */
static void fz_value(int rtype, const uint8_t *p, size_t n, const struct rdb_limits *lim)
{
	struct rdb_obj a, b;
	size_t used;
	if (rdb_dec_value(rtype, p, n, &used, lim, &a) != 0)
		return;
	assert(used <= n);
	assert(fz_obj_check(&a) == 0);

	struct ks_space *ks = ks_space_new(1);
	assert(ks);
	struct ks_entry *e = rdb_obj_store(&ks->db[0], "k", 1, &a);
	struct rbuf out = { 0 };
	struct rdb_wopts o = { .compress = (n & 1) != 0, .set_listpack = (n & 2) != 0 };
	int t = rdb_value_type(e, &o);
	assert(t >= 0);
	assert(rdb_enc_value(&out, e, &o) == 0);
	int rc = rdb_dec_value(t, out.data, out.len, &used, lim, &b);
	assert(rc == 0 && used == out.len);

	struct rdb_obj av = { .type = e->type, .enc = e->enc, .ptr = e->v.ptr };
	char buf[24];
	if (e->type == KS_STRING)
		av.str = (char *)ks_str_get(e, buf, &av.len);
	assert(fz_digest(&av) == fz_digest(&b));
	rdb_obj_free(&b);
	rbuf_free(&out);
	ks_space_free(ks);
}

static int fz_key_cb(void *arg, struct rdb_key *k)
{
	(void)arg;
	assert(fz_obj_check(&k->obj) == 0);
	(void)fz_digest(&k->obj);
	rdb_obj_free(&k->obj);
	return 0;
}

/* Keys of odd length are stepped over (the skipping path). */
static bool fz_want(void *arg, int db, const char *key, size_t klen)
{
	(void)arg;
	(void)db;
	(void)key;
	return klen % 2 == 0;
}

/* p as the body of a file after the magic, fed in chunks of varying size. */
static void fz_file(const uint8_t *p, size_t n, const struct rdb_limits *lim, bool filter)
{
	struct rdb_load_cbs cbs = { .key = fz_key_cb, .want = filter ? fz_want : NULL };
	struct rdb_load_opts opts = { .ndb = 16, .check_crc = false };
	struct rdb_reader *r = rdb_reader_new(lim, &cbs, &opts);
	int rc = rdb_reader_feed(r, "REDIS0010", 9, NULL);
	size_t off = 0, chunk = n ? 1 + p[0] % 7 : 1;
	while (rc == 0 && off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		rc = rdb_reader_feed(r, p + off, k, NULL);
		off += k;
		chunk = chunk * 2 + 1;
	}
	if (rc == 0)
		(void)rdb_reader_finish(r);
	rdb_reader_free(r);
}

int rdb_fuzz_one(const uint8_t *p, size_t n)
{
	struct rdb_limits def, tiny;

	if (n < 2)
		return 0;
	/* Values stored in a scratch keyspace are freed through these. */
	ks_register_type(KS_LIST, &obj_list_ops);
	ks_register_type(KS_HASH, &obj_hash_ops);
	ks_register_type(KS_SET, &obj_set_ops);
	ks_register_type(KS_ZSET, &obj_zset_ops);
	rdb_limits_default(&def);
	tiny = (struct rdb_limits){
		.list_fill = 2,
		.hash = { .max_entries = 2, .max_value = 4 },
		.set = { .max_intset = 2, .max_lp_entries = 3, .max_lp_value = 4 },
		.zset = { .max_entries = 2, .max_value = 4 },
	};
	switch (p[0] & 3) {
	case 0:
		fz_value(p[1], p + 2, n - 2, &def);
		break;
	case 1:
		fz_value(p[1], p + 2, n - 2, &tiny);
		break;
	case 2: {
		struct rdb_obj o;
		if (rdb_dump_verify(p + 1, n - 1, false, NULL) == 0 &&
		    rdb_dump_decode(p + 1, n - 1, &def, &o) == 0) {
			assert(fz_obj_check(&o) == 0);
			rdb_obj_free(&o);
		}
		break;
	}
	default:
		fz_file(p + 1, n - 1, (p[0] & 4) ? &tiny : &def, (p[0] & 8) != 0);
		break;
	}
	return 0;
}
