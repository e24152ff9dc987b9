/* shards/t_bitmap.c — the bitmap commands: SETBIT GETBIT BITCOUNT BITPOS
 * BITOP BITFIELD BITFIELD_RO.
 *
 * A bitmap is a plain string value; bit 0 is the most significant bit of
 * byte 0. Readers use the value's bytes as they are (INT values read as
 * their decimal digits, as Redis does); writers first make the value RAW
 * and zero-extend it to the highest byte they touch. Offsets are bounded by
 * proto-max-bulk-len (512 MB by default, i.e. bit 2^32 - 1) as in Redis,
 * so a bitmap never grows past what a client could have SET (a BITFIELD
 * field starting at the last offset may add up to 8 bytes more).
 *
 * Replies, argument checks and their order follow Redis 7.0 (the reference
 * server the tests compare against): BITCOUNT looks the key up before it
 * parses its range (a missing key is 0 whatever follows), BITPOS checks the
 * bit argument first. Counting and searching go 8 bytes at a time. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/cmd.h"

#define ERR_BITOFF "ERR bit offset is not an integer or out of range"
#define ERR_BITVAL "ERR bit is not an integer or out of range"
#define ERR_BFTYPE "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

/* ------------------------------------------------------------ helpers */

/* Parse a bit offset the way Redis does for SETBIT/GETBIT/BITFIELD: a
 * canonical non-negative integer whose byte (offset / 8) is below
 * proto-max-bulk-len; with hash_bits > 0, "#n" means n * hash_bits (the
 * BITFIELD form). Replies the error and returns -1 when bad. */
static int parse_bit_offset(struct cmd_ctx *ctx, const struct resp_arg *a, unsigned hash_bits,
			    uint64_t *off)
{
	long long v, lim = shard_cfg(ctx->sh)->proto_max_bulk_len;
	bool hash = hash_bits > 0 && a->len > 0 && a->p[0] == '#';

	if (!ks_str2ll(a->p + hash, a->len - hash, &v) || v < 0)
		goto bad;
	/* Redis multiplies without an overflow check; an overflowing #n is
	 * out of range here. */
	if (hash && __builtin_mul_overflow(v, (long long)hash_bits, &v))
		goto bad;
	if ((v >> 3) >= lim)
		goto bad;
	*off = (uint64_t)v;
	return 0;
bad:
	resp_add_error(ctx->out, ERR_BITOFF);
	return -1;
}

/* Number of set bits in p[0..n), 8 bytes at a time. */
static uint64_t popcount(const uint8_t *p, size_t n)
{
	uint64_t c = 0;

	for (; n >= 32; n -= 32, p += 32) {
		uint64_t w[4];

		memcpy(w, p, sizeof(w));
		c += (uint64_t)__builtin_popcountll(w[0]) + (uint64_t)__builtin_popcountll(w[1]) +
		     (uint64_t)__builtin_popcountll(w[2]) + (uint64_t)__builtin_popcountll(w[3]);
	}
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c += (uint64_t)__builtin_popcountll(w);
	}
	while (n--)
		c += (uint64_t)__builtin_popcount(*p++);
	return c;
}

static inline unsigned getbit(const uint8_t *p, uint64_t i)
{
	return (p[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Position of the first bit equal to `bit` in bits [sb, eb] of p
 * (inclusive, sb <= eb, both inside p), or -1. Whole bytes are skipped
 * 8 at a time. */
static long long find_bit(const uint8_t *p, uint64_t sb, uint64_t eb, unsigned bit)
{
	const uint8_t skip = bit ? 0x00 : 0xff;
	const uint64_t wskip = bit ? 0 : ~0ULL;
	uint64_t i = sb;
	size_t b, bend;

	for (; i <= eb && (i & 7); i++)
		if (getbit(p, i) == bit)
			return (long long)i;
	if (i > eb)
		return -1;
	b = (size_t)(i >> 3);
	bend = (size_t)((eb + 1) >> 3);   /* bytes [b, bend) lie wholly inside */
	for (; b + 8 <= bend; b += 8) {
		uint64_t w;

		memcpy(&w, p + b, sizeof(w));
		if (w != wskip)
			break;
	}
	for (; b < bend; b++) {
		if (p[b] != skip) {
			unsigned v = bit ? p[b] : (uint8_t)~p[b];

			return (long long)b * 8 + (__builtin_clz(v) - 24);
		}
	}
	for (i = (uint64_t)bend << 3; i <= eb; i++)
		if (getbit(p, i) == bit)
			return (long long)i;
	return -1;
}

/* Store bytes as key's new value (TTL cleared), RAW like Redis's
 * createObject(): exact-sized when long, a small RAW buffer when short.
 * Returns the value. */
static struct ks_str *store_raw(struct cmd_ctx *ctx, const struct resp_arg *key,
				const void *bytes, size_t len)
{
	struct ks_entry *e;
	struct ks_str *s;

	if (len > KS_EMBSTR_MAX) {
		e = ks_set_str_noint(ctx->db, key->p, key->len, bytes, len, false);
		return ks_str_make_raw(e, len);   /* already RAW: no change */
	}
	e = ks_set_str_noint(ctx->db, key->p, key->len, "", 0, false);
	s = ks_str_make_raw(e, len);
	memcpy(s->buf, bytes, len);
	s->len = len;
	s->buf[len] = '\0';
	return s;
}

/* Redis's lookupStringForBitCommand: argv[1] as a RAW string of at least
 * maxbit / 8 + 1 bytes, created (zero-filled) or zero-extended as needed;
 * *grown tells whether that happened. NULL after replying WRONGTYPE (or
 * an allocation failure). */
static struct ks_str *bits_lookup_write(struct cmd_ctx *ctx, uint64_t maxbit, bool *grown)
{
	static const uint8_t zeros[4096];
	const struct resp_arg *key = &ctx->argv[1];
	size_t need = (size_t)(maxbit >> 3) + 1;
	struct ks_entry *e = cmd_lookup_write(ctx, key);
	struct ks_str *s;

	*grown = false;
	if (e && e->type != KS_STRING) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return NULL;
	}
	if (!e) {
		/* A new bitmap is sized exactly, as Redis's sdsnewlen(). */
		*grown = true;
		if (need > sizeof(zeros)) {
			uint8_t *z = calloc(need, 1);

			if (!z) {
				resp_add_error(ctx->out, "ERR out of memory");
				return NULL;
			}
			s = store_raw(ctx, key, z, need);
			free(z);
			return s;
		}
		return store_raw(ctx, key, zeros, need);
	}
	s = ks_str_make_raw(e, need);
	if (s->len < need) {
		memset(s->buf + s->len, 0, need - s->len);
		s->len = need;
		s->buf[need] = '\0';
		*grown = true;
	}
	return s;
}

/* Clamp a [start, end] range with negative indexes over totlen units the
 * way BITCOUNT/BITPOS/GETRANGE do. */
static void clamp_range(long long *start, long long *end, long long totlen)
{
	if (*start < 0)
		*start += totlen;
	if (*end < 0)
		*end += totlen;
	if (*start < 0)
		*start = 0;
	if (*end < 0)
		*end = 0;
	if (*end >= totlen)
		*end = totlen - 1;
}

/* BYTE / BIT unit argument; replies a syntax error and returns -1 if
 * neither. */
static int parse_unit(struct cmd_ctx *ctx, const struct resp_arg *a, bool *isbit)
{
	if (arg_is(a, "bit")) {
		*isbit = true;
	} else if (arg_is(a, "byte")) {
		*isbit = false;
	} else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------- SETBIT GETBIT */

/* SETBIT key offset 0|1: the old bit. */
void cmd_setbit(struct cmd_ctx *ctx)
{
	uint64_t off;
	long long on;
	bool grown;
	struct ks_str *s;
	unsigned shift, old;

	if (parse_bit_offset(ctx, &ctx->argv[2], 0, &off) < 0 ||
	    arg_ll_msg(ctx, &ctx->argv[3], &on, ERR_BITVAL) < 0)
		return;
	if (on & ~1LL) {
		resp_add_error(ctx->out, ERR_BITVAL);
		return;
	}
	s = bits_lookup_write(ctx, off, &grown);
	if (!s)
		return;
	shift = 7 - (unsigned)(off & 7);
	old = ((uint8_t)s->buf[off >> 3] >> shift) & 1;
	if (grown || old != on) {
		uint8_t *byte = (uint8_t *)&s->buf[off >> 3];

		*byte = (uint8_t)((*byte & ~(1u << shift)) | ((unsigned)on << shift));
		ctx->dirty++;
	}
	resp_add_int(ctx->out, old);
}

/* GETBIT key offset: bits past the end are 0. */
void cmd_getbit(struct cmd_ctx *ctx)
{
	uint64_t off;
	struct ks_entry *e;
	const uint8_t *p;
	size_t len;
	char buf[32];

	if (parse_bit_offset(ctx, &ctx->argv[2], 0, &off) < 0)
		return;
	e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (e->type != KS_STRING) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return;
	}
	p = (const uint8_t *)ks_str_get(e, buf, &len);
	resp_add_int(ctx->out, (off >> 3) < len ? getbit(p, off) : 0);
}

/* ------------------------------------------------------------ BITCOUNT */

/* BITCOUNT key [start end [BYTE|BIT]] */
void cmd_bitcount(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);
	long long start, end, totlen;
	bool isbit = false;
	const uint8_t *p;
	size_t len;
	char buf[32];
	uint64_t sb, eb, count;

	if (!e) {
		resp_add_int(ctx->out, 0);
		return;
	}
	if (e->type != KS_STRING) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return;
	}
	p = (const uint8_t *)ks_str_get(e, buf, &len);
	totlen = (long long)len;
	if (ctx->argc == 2) {
		resp_add_int(ctx->out, (long long)popcount(p, len));
		return;
	}
	if (ctx->argc > 5 || ctx->argc == 3) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (arg_ll(ctx, &ctx->argv[2], &start) < 0 || arg_ll(ctx, &ctx->argv[3], &end) < 0)
		return;
	if (ctx->argc == 5 && parse_unit(ctx, &ctx->argv[4], &isbit) < 0)
		return;
	if (isbit)
		totlen *= 8;
	if (start < 0 && end < 0 && start > end) {
		resp_add_int(ctx->out, 0);
		return;
	}
	clamp_range(&start, &end, totlen);
	if (start > end) {
		resp_add_int(ctx->out, 0);
		return;
	}
	sb = isbit ? (uint64_t)start : (uint64_t)start * 8;
	eb = isbit ? (uint64_t)end : (uint64_t)end * 8 + 7;
	count = popcount(p + (sb >> 3), (size_t)((eb >> 3) - (sb >> 3) + 1));
	/* Take away the bits of the edge bytes that lie outside the range. */
	if (sb & 7)
		count -= (uint64_t)__builtin_popcount(p[sb >> 3] >> (8 - (sb & 7)));
	if ((eb & 7) != 7)
		count -= (uint64_t)__builtin_popcount(p[eb >> 3] & ((1u << (7 - (eb & 7))) - 1));
	resp_add_int(ctx->out, (long long)count);
}

/* -------------------------------------------------------------- BITPOS */

/* BITPOS key bit [start [end [BYTE|BIT]]]
 * A missing key is an endless run of zeros (0 for bit 0, -1 for bit 1).
 * A clear bit searched without an explicit end is found just past the
 * string when the string has none (its right side counts as zero padded);
 * with an explicit end it is -1, like any search that finds nothing. */
void cmd_bitpos(struct cmd_ctx *ctx)
{
	long long bit, start = 0, end = 0, totlen, pos;
	bool isbit = false, end_given = false;
	struct ks_entry *e;
	const uint8_t *p;
	size_t len;
	char buf[32];
	uint64_t sb, eb;

	if (arg_ll(ctx, &ctx->argv[2], &bit) < 0)
		return;
	if (bit != 0 && bit != 1) {
		resp_add_error(ctx->out, "ERR The bit argument must be 1 or 0.");
		return;
	}
	e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (!e) {
		resp_add_int(ctx->out, bit ? -1 : 0);
		return;
	}
	if (e->type != KS_STRING) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		return;
	}
	p = (const uint8_t *)ks_str_get(e, buf, &len);
	totlen = (long long)len;
	if (ctx->argc > 6) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (ctx->argc >= 4) {
		if (arg_ll(ctx, &ctx->argv[3], &start) < 0)
			return;
		if (ctx->argc == 6 && parse_unit(ctx, &ctx->argv[5], &isbit) < 0)
			return;
		if (ctx->argc >= 5) {
			if (arg_ll(ctx, &ctx->argv[4], &end) < 0)
				return;
			end_given = true;
		} else {
			end = totlen - 1;
		}
		if (isbit)
			totlen *= 8;
		clamp_range(&start, &end, totlen);
	} else {
		end = totlen - 1;
	}
	if (start > end) {
		resp_add_int(ctx->out, -1);
		return;
	}
	sb = isbit ? (uint64_t)start : (uint64_t)start * 8;
	eb = isbit ? (uint64_t)end : (uint64_t)end * 8 + 7;
	pos = find_bit(p, sb, eb, (unsigned)bit);
	if (pos < 0 && bit == 0 && !end_given)
		pos = (long long)eb + 1;
	resp_add_int(ctx->out, pos);
}

/* --------------------------------------------------------------- BITOP */

enum bitop { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

/* One BITOP source: its bytes (INT values as digits, in ibuf). */
struct bitop_src {
	const uint8_t *p;
	size_t len;
	char ibuf[32];
};

/* BITOP AND|OR|XOR|NOT destkey key [key ...]: destkey := the operation
 * over the sources, missing sources (and the tails of shorter ones) being
 * zero bytes; the result is as long as the longest source. An all-empty
 * result deletes destkey. Replies the result's length. */
void cmd_bitop(struct cmd_ctx *ctx)
{
	const struct resp_arg *dest = &ctx->argv[2];
	int nsrc = ctx->argc - 3;
	struct bitop_src one, *src;
	enum bitop op;
	size_t maxlen = 0;
	uint8_t *res;

	if (arg_is(&ctx->argv[1], "and")) {
		op = BITOP_AND;
	} else if (arg_is(&ctx->argv[1], "or")) {
		op = BITOP_OR;
	} else if (arg_is(&ctx->argv[1], "xor")) {
		op = BITOP_XOR;
	} else if (arg_is(&ctx->argv[1], "not")) {
		op = BITOP_NOT;
	} else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (op == BITOP_NOT && nsrc != 1) {
		resp_add_error(ctx->out, "ERR BITOP NOT must be called with a single source key.");
		return;
	}
	src = nsrc == 1 ? &one : malloc(sizeof(*src) * (size_t)nsrc);
	if (!src) {
		resp_add_error(ctx->out, "ERR out of memory");
		return;
	}
	for (int k = 0; k < nsrc; k++) {
		struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[3 + k]);

		src[k].p = NULL;
		src[k].len = 0;
		if (!e)
			continue;
		if (e->type != KS_STRING) {
			resp_add_error(ctx->out, ERR_WRONGTYPE);
			goto out;
		}
		src[k].p = (const uint8_t *)ks_str_get(e, src[k].ibuf, &src[k].len);
		if (src[k].len > maxlen)
			maxlen = src[k].len;
	}

	if (maxlen == 0) {
		struct ks_entry *e = cmd_lookup_write(ctx, dest);

		if (e) {
			ks_delete(ctx->db, e);
			ctx->dirty++;
		}
		resp_add_int(ctx->out, 0);
		goto out;
	}
	/* Computed aside: the destination may be one of the sources. */
	res = malloc(maxlen);
	if (!res) {
		resp_add_error(ctx->out, "ERR out of memory");
		goto out;
	}
	if (op == BITOP_NOT) {
		for (size_t j = 0; j < maxlen; j++)
			res[j] = (uint8_t)~src[0].p[j];
	} else {
		if (src[0].len)
			memcpy(res, src[0].p, src[0].len);
		memset(res + src[0].len, 0, maxlen - src[0].len);
		for (int k = 1; k < nsrc; k++) {
			const uint8_t *q = src[k].p;
			size_t n = src[k].len;

			if (op == BITOP_AND) {
				for (size_t j = 0; j < n; j++)
					res[j] &= q[j];
				memset(res + n, 0, maxlen - n);
			} else if (op == BITOP_OR) {
				for (size_t j = 0; j < n; j++)
					res[j] |= q[j];
			} else {
				for (size_t j = 0; j < n; j++)
					res[j] ^= q[j];
			}
		}
	}
	store_raw(ctx, dest, res, maxlen);
	free(res);
	ctx->dirty++;
	resp_add_int(ctx->out, (long long)maxlen);
out:
	if (src != &one)
		free(src);
}

/* ------------------------------------------------------------ BITFIELD */

enum bf_kind { BF_GET, BF_SET, BF_INCRBY };
enum bf_overflow { BF_WRAP, BF_SAT, BF_FAIL };

struct bf_op {
	uint64_t off;
	long long arg;         /* SET value / INCRBY increment */
	uint8_t kind;          /* enum bf_kind */
	uint8_t ow;            /* enum bf_overflow in force for this op */
	uint8_t bits;          /* 1..64 signed, 1..63 unsigned */
	bool sign;
};

/* "i<bits>" (1..64) or "u<bits>" (1..63), lower case only as in Redis.
 * Replies the error and returns -1 if bad. */
static int parse_bf_type(struct cmd_ctx *ctx, const struct resp_arg *a, bool *sign,
			 unsigned *bits)
{
	long long n;
	size_t len;

	if (a->len == 0 || (a->p[0] != 'i' && a->p[0] != 'u'))
		goto bad;
	*sign = a->p[0] == 'i';
	/* Redis reads the width up to the first NUL. */
	len = a->len - 1;
	if (memchr(a->p + 1, '\0', len))
		len = (size_t)((const char *)memchr(a->p + 1, '\0', len) - (a->p + 1));
	if (!ks_str2ll(a->p + 1, len, &n) || n < 1 || n > (*sign ? 64 : 63))
		goto bad;
	*bits = (unsigned)n;
	return 0;
bad:
	resp_add_error(ctx->out, ERR_BFTYPE);
	return -1;
}

static uint64_t bf_get_u(const uint8_t *p, uint64_t off, unsigned bits)
{
	uint64_t v = 0;

	for (unsigned j = 0; j < bits; j++, off++)
		v = v << 1 | getbit(p, off);
	return v;
}

static int64_t bf_get_s(const uint8_t *p, uint64_t off, unsigned bits)
{
	uint64_t v = bf_get_u(p, off, bits);

	if (bits < 64 && (v >> (bits - 1)) & 1)
		v |= ~0ULL << bits;   /* sign-extend */
	return (int64_t)v;
}

static void bf_set(uint8_t *p, uint64_t off, unsigned bits, uint64_t v)
{
	for (unsigned j = 0; j < bits; j++, off++) {
		unsigned b = (unsigned)(v >> (bits - 1 - j)) & 1, shift = 7 - (unsigned)(off & 7);

		p[off >> 3] = (uint8_t)((p[off >> 3] & ~(1u << shift)) | (b << shift));
	}
}

/* value + incr in a signed field of `bits` bits: *out gets the sum, or on
 * overflow the saturated or wrapped value (per ow). Returns whether it
 * overflowed.
 *
 * Which way an overflow goes (hence SAT's result) is decided by Redis's
 * own test, margins included: for a SET value so negative that
 * max - value does not fit in 64 bits (values within max of INT64_MIN),
 * Redis takes the wrapped margin for an upward overflow and saturates to
 * max, not min. A replica or AOF replayed by Redis must compute the same
 * bits, so that quirk is kept. Everywhere else the test is exact. */
static bool bf_add_signed(int64_t value, long long incr, unsigned bits, int ow, int64_t *out)
{
	int64_t max = bits == 64 ? INT64_MAX : (int64_t)((1ULL << (bits - 1)) - 1), min = -max - 1;
	int64_t maxincr = (int64_t)((uint64_t)max - (uint64_t)value);
	int64_t minincr = (int64_t)((uint64_t)min - (uint64_t)value);
	uint64_t u;
	bool up;

	if (value > max || (bits != 64 && incr > maxincr) ||
	    (value >= 0 && incr > 0 && incr > maxincr))
		up = true;
	else if (value < min || (bits != 64 && incr < minincr) ||
		 (value < 0 && incr < 0 && incr < minincr))
		up = false;
	else {
		*out = value + incr;   /* in range, as the test just showed */
		return false;
	}
	if (ow == BF_SAT) {
		*out = up ? max : min;
		return true;
	}
	u = (uint64_t)value + (uint64_t)incr;   /* two's complement: keep the low bits */
	if (bits < 64)
		u = (u >> (bits - 1)) & 1 ? u | ~0ULL << bits : u & ~(~0ULL << bits);
	*out = (int64_t)u;
	return true;
}

/* Same for an unsigned field; value may exceed the field (a SET value is
 * the argument taken as unsigned 64 bits, as Redis takes it). */
static bool bf_add_unsigned(uint64_t value, long long incr, unsigned bits, int ow, uint64_t *out)
{
	__int128 max = ((__int128)1 << bits) - 1;
	__int128 r = (__int128)value + incr;

	if (r >= 0 && r <= max) {
		*out = (uint64_t)r;
		return false;
	}
	if (ow == BF_SAT)
		*out = r > max ? (uint64_t)max : 0;
	else
		*out = (uint64_t)r & (uint64_t)max;
	return true;
}

/* Parse argv[2..] into ops (room for argc entries). Returns the number of
 * ops, or -1 after replying an error; *readonly is false when some op
 * writes, *maxbit then being the last bit written. */
static int bf_parse(struct cmd_ctx *ctx, struct bf_op *ops, bool *readonly, uint64_t *maxbit)
{
	int n = 0, ow = BF_WRAP;

	*readonly = true;
	*maxbit = 0;
	for (int j = 2; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		int rem = ctx->argc - j - 1;
		struct bf_op *op = &ops[n];
		unsigned bits;
		bool sign;

		if (arg_is(a, "get") && rem >= 2) {
			op->kind = BF_GET;
		} else if (arg_is(a, "set") && rem >= 3) {
			op->kind = BF_SET;
		} else if (arg_is(a, "incrby") && rem >= 3) {
			op->kind = BF_INCRBY;
		} else if (arg_is(a, "overflow") && rem >= 1) {
			const struct resp_arg *t = &ctx->argv[++j];

			if (arg_is(t, "wrap")) {
				ow = BF_WRAP;
			} else if (arg_is(t, "sat")) {
				ow = BF_SAT;
			} else if (arg_is(t, "fail")) {
				ow = BF_FAIL;
			} else {
				resp_add_error(ctx->out, "ERR Invalid OVERFLOW type specified");
				return -1;
			}
			continue;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return -1;
		}
		if (parse_bf_type(ctx, &ctx->argv[j + 1], &sign, &bits) < 0 ||
		    parse_bit_offset(ctx, &ctx->argv[j + 2], bits, &op->off) < 0)
			return -1;
		op->arg = 0;
		if (op->kind != BF_GET) {
			*readonly = false;
			if (op->off + bits - 1 > *maxbit)
				*maxbit = op->off + bits - 1;
			if (arg_ll(ctx, &ctx->argv[j + 3], &op->arg) < 0)
				return -1;
		}
		op->ow = (uint8_t)ow;
		op->bits = (uint8_t)bits;
		op->sign = sign;
		n++;
		j += op->kind == BF_GET ? 2 : 3;
	}
	return n;
}

/* Run one SET/INCRBY on the string p (long enough); replies its result
 * (null when OVERFLOW FAIL refused it). Returns 1 if the bits changed. */
static int bf_write(struct cmd_ctx *ctx, uint8_t *p, const struct bf_op *op)
{
	bool over;

	if (op->sign) {
		int64_t old = bf_get_s(p, op->off, op->bits), nv;

		if (op->kind == BF_INCRBY)
			over = bf_add_signed(old, op->arg, op->bits, op->ow, &nv);
		else
			over = bf_add_signed(op->arg, 0, op->bits, op->ow, &nv);
		if (over && op->ow == BF_FAIL) {
			resp_add_null(ctx->out, ctx->proto);
			return 0;
		}
		resp_add_int(ctx->out, op->kind == BF_INCRBY ? nv : old);
		bf_set(p, op->off, op->bits, (uint64_t)nv);
		return old != nv;
	} else {
		uint64_t old = bf_get_u(p, op->off, op->bits), nv;

		if (op->kind == BF_INCRBY)
			over = bf_add_unsigned(old, op->arg, op->bits, op->ow, &nv);
		else
			over = bf_add_unsigned((uint64_t)op->arg, 0, op->bits, op->ow, &nv);
		if (over && op->ow == BF_FAIL) {
			resp_add_null(ctx->out, ctx->proto);
			return 0;
		}
		resp_add_int(ctx->out, (long long)(op->kind == BF_INCRBY ? nv : old));
		bf_set(p, op->off, op->bits, nv);
		return old != nv;
	}
}

/* GET reads through a 9-byte zero-padded window, so fields that run past
 * the end of the string (or a missing key) read as zeros. */
static void bf_read(struct cmd_ctx *ctx, const uint8_t *p, size_t len, const struct bf_op *op)
{
	uint8_t win[9] = {0};
	uint64_t byte = op->off >> 3;

	for (unsigned i = 0; i < sizeof(win) && byte + i < len; i++)
		win[i] = p[byte + i];
	if (op->sign)
		resp_add_int(ctx->out, bf_get_s(win, op->off & 7, op->bits));
	else
		resp_add_int(ctx->out, (long long)bf_get_u(win, op->off & 7, op->bits));
}

/* BITFIELD / BITFIELD_RO key [GET type offset] [SET type offset value]
 * [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
 * Every argument is checked before anything runs; then the ops run in
 * order, each replying one array element. */
static void bitfield_generic(struct cmd_ctx *ctx, bool ro)
{
	struct bf_op stack_ops[16], *ops = stack_ops;
	const uint8_t *p = NULL;
	uint8_t *wp = NULL;
	size_t len = 0;
	char buf[32];
	bool readonly, grown = false;
	uint64_t maxbit;
	long long changes = 0;
	int n;

	/* An op takes at least 3 words, so argc / 3 + 1 bounds their number. */
	if ((size_t)ctx->argc / 3 + 1 > sizeof(stack_ops) / sizeof(stack_ops[0])) {
		ops = malloc(sizeof(*ops) * ((size_t)ctx->argc / 3 + 1));
		if (!ops) {
			resp_add_error(ctx->out, "ERR out of memory");
			return;
		}
	}
	n = bf_parse(ctx, ops, &readonly, &maxbit);
	if (n < 0)
		goto out;
	if (readonly) {
		struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);

		if (e && e->type != KS_STRING) {
			resp_add_error(ctx->out, ERR_WRONGTYPE);
			goto out;
		}
		if (e)
			p = (const uint8_t *)ks_str_get(e, buf, &len);
	} else {
		struct ks_str *s;

		if (ro) {
			resp_add_error(ctx->out, "ERR BITFIELD_RO only supports the GET subcommand");
			goto out;
		}
		s = bits_lookup_write(ctx, maxbit, &grown);
		if (!s)
			goto out;
		wp = (uint8_t *)s->buf;
		p = wp;
		len = s->len;
	}
	resp_add_array(ctx->out, n);
	for (int j = 0; j < n; j++) {
		if (ops[j].kind == BF_GET)
			bf_read(ctx, p, len, &ops[j]);
		else
			changes += bf_write(ctx, wp, &ops[j]);
	}
	ctx->dirty += changes + (grown && !changes);
out:
	if (ops != stack_ops)
		free(ops);
}

void cmd_bitfield(struct cmd_ctx *ctx)
{
	bitfield_generic(ctx, false);
}

void cmd_bitfield_ro(struct cmd_ctx *ctx)
{
	bitfield_generic(ctx, true);
}
