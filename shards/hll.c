/* shards/hll.c — the HyperLogLog data structure (see hll.h for the byte
 * format). Pure functions over byte buffers: no keys, no shards, no
 * replies; t_hll.c binds a value to a keyspace entry.
 *
 * Byte identity with Redis is the design constraint here: the sparse editor
 * splits and merges opcodes exactly as Redis's does (same split shapes,
 * same 5-opcode merge window starting at the opcode before the edit, same
 * promotion test), because any other valid encoding of the same registers
 * would make GET/DUMP differ between the two servers. */
#include "shards/hll.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define HLL_SEED 0xadc83b19ULL
/* 1 / (2 ln 2): the estimator's alpha for m -> infinity. */
#define HLL_ALPHA_INF 0.721347520444481703680

#define ZERO_MAX 64u
#define XZERO_MAX 16384u
#define VAL_MAX_LEN 4u

/* ------------------------------------------------------------ hashing */

uint64_t hll_murmur64a(const void *key, size_t len, uint64_t seed)
{
	const uint64_t m = 0xc6a4a7935bd1e995ULL;
	const int r = 47;
	const uint8_t *d = key;
	const uint8_t *blocks_end = d + (len & ~(size_t)7);
	uint64_t h = seed ^ ((uint64_t)len * m);

	for (; d != blocks_end; d += 8) {
		uint64_t k = (uint64_t)d[0] | (uint64_t)d[1] << 8 | (uint64_t)d[2] << 16 |
			     (uint64_t)d[3] << 24 | (uint64_t)d[4] << 32 | (uint64_t)d[5] << 40 |
			     (uint64_t)d[6] << 48 | (uint64_t)d[7] << 56;

		k *= m;
		k ^= k >> r;
		k *= m;
		h ^= k;
		h *= m;
	}
	switch (len & 7) {
	case 7: h ^= (uint64_t)d[6] << 48; /* fallthrough */
	case 6: h ^= (uint64_t)d[5] << 40; /* fallthrough */
	case 5: h ^= (uint64_t)d[4] << 32; /* fallthrough */
	case 4: h ^= (uint64_t)d[3] << 24; /* fallthrough */
	case 3: h ^= (uint64_t)d[2] << 16; /* fallthrough */
	case 2: h ^= (uint64_t)d[1] << 8;  /* fallthrough */
	case 1:
		h ^= (uint64_t)d[0];
		h *= m;
		break;
	default:
		break;
	}
	h ^= h >> r;
	h *= m;
	h ^= h >> r;
	return h;
}

unsigned hll_pattern(const void *ele, size_t len, unsigned *index)
{
	uint64_t hash = hll_murmur64a(ele, len, HLL_SEED);

	*index = (unsigned)(hash & (HLL_REGISTERS - 1));
	/* A sentinel bit at position Q bounds the run at Q + 1. */
	hash = (hash >> HLL_P) | (1ULL << HLL_Q);
	return (unsigned)__builtin_ctzll(hash) + 1;
}

/* ------------------------------------------------------ value checks */

bool hll_valid(const uint8_t *p, size_t len)
{
	if (len < HLL_HDR_SIZE || memcmp(p, "HYLL", 4) != 0)
		return false;
	if (p[4] == HLL_DENSE)
		return len == HLL_DENSE_SIZE;
	return p[4] == HLL_SPARSE;
}

void hll_init_sparse(uint8_t out[HLL_SPARSE_EMPTY_SIZE])
{
	memset(out, 0, HLL_HDR_SIZE);
	memcpy(out, "HYLL", 4);
	out[4] = HLL_SPARSE;
	out[HLL_HDR_SIZE] = 0x40 | ((XZERO_MAX - 1) >> 8);
	out[HLL_HDR_SIZE + 1] = (XZERO_MAX - 1) & 0xff;
}

bool hll_cache_valid(const uint8_t *p)
{
	return (p[15] & 0x80) == 0;
}

uint64_t hll_cache_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[8 + i];
	return v;
}

void hll_cache_set(uint8_t *p, uint64_t card)
{
	for (int i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(card >> (8 * i));
	p[15] &= 0x7f;
}

void hll_cache_invalidate(uint8_t *p)
{
	p[15] |= 0x80;
}

/* ----------------------------------------------------- dense registers */

/* Register i spans bits [6i, 6i + 6) of the array, least significant bit
 * first, so it straddles at most two bytes. The byte after the last one
 * is never touched: the last register ends exactly at the array's end. */
unsigned hll_dense_get(const uint8_t *regs, unsigned i)
{
	unsigned bit = i * HLL_BITS, byte = bit >> 3, shift = bit & 7;
	unsigned v = regs[byte] >> shift;

	if (shift > 8 - HLL_BITS)
		v |= (unsigned)regs[byte + 1] << (8 - shift);
	return v & HLL_REGISTER_MAX;
}

void hll_dense_set(uint8_t *regs, unsigned i, unsigned v)
{
	unsigned bit = i * HLL_BITS, byte = bit >> 3, shift = bit & 7;

	regs[byte] = (uint8_t)((regs[byte] & ~(HLL_REGISTER_MAX << shift)) | (v << shift));
	if (shift > 8 - HLL_BITS) {
		unsigned hi = 8 - shift;   /* bits that went into the first byte */

		regs[byte + 1] = (uint8_t)((regs[byte + 1] & ~(HLL_REGISTER_MAX >> hi)) | (v >> hi));
	}
}

/* Histogram of a dense register array: 3 bytes hold 4 registers. */
static void dense_histo(const uint8_t *regs, uint32_t histo[HLL_REGISTER_MAX + 1])
{
	for (unsigned b = 0; b < HLL_REGS_BYTES; b += 3) {
		unsigned b0 = regs[b], b1 = regs[b + 1], b2 = regs[b + 2];

		histo[b0 & 63]++;
		histo[((b0 >> 6) | (b1 << 2)) & 63]++;
		histo[((b1 >> 4) | (b2 << 4)) & 63]++;
		histo[b2 >> 2]++;
	}
}

/* ------------------------------------------------------ sparse opcodes */

#define SP_IS_ZERO(b) (((b) & 0xc0) == 0)
#define SP_IS_XZERO(b) (((b) & 0xc0) == 0x40)
#define SP_IS_VAL(b) (((b) & 0x80) != 0)

static inline unsigned sp_val_value(uint8_t b)
{
	return ((b >> 2) & 0x1f) + 1;
}

static inline unsigned sp_val_len(uint8_t b)
{
	return (b & 3) + 1;
}

static inline uint8_t sp_val(unsigned value, unsigned len)
{
	return (uint8_t)(0x80 | (value - 1) << 2 | (len - 1));
}

/* Write the shortest zero run of len (1..16384) registers; returns bytes. */
static size_t sp_put_zeros(uint8_t *p, unsigned len)
{
	if (len <= ZERO_MAX) {
		p[0] = (uint8_t)(len - 1);
		return 1;
	}
	p[0] = (uint8_t)(0x40 | (len - 1) >> 8);
	p[1] = (uint8_t)((len - 1) & 0xff);
	return 2;
}

int hll_sparse_next(const uint8_t **pp, const uint8_t *end, struct hll_op *op)
{
	const uint8_t *p = *pp;

	if (p >= end)
		return 0;
	if (SP_IS_VAL(*p)) {
		op->kind = HLL_OP_VAL;
		op->runlen = sp_val_len(*p);
		op->value = sp_val_value(*p);
		*pp = p + 1;
	} else if (SP_IS_ZERO(*p)) {
		op->kind = HLL_OP_ZERO;
		op->runlen = (*p & 0x3f) + 1u;
		op->value = 0;
		*pp = p + 1;
	} else {
		if (p + 1 >= end)
			return -EINVAL;
		op->kind = HLL_OP_XZERO;
		op->runlen = (((unsigned)*p & 0x3f) << 8 | p[1]) + 1;
		op->value = 0;
		*pp = p + 2;
	}
	return 1;
}

/* Histogram of sparse opcodes; -EINVAL unless they cover exactly
 * HLL_REGISTERS registers. */
static int sparse_histo(const uint8_t *p, const uint8_t *end,
			uint32_t histo[HLL_REGISTER_MAX + 1])
{
	struct hll_op op;
	uint32_t idx = 0;
	int rc;

	while ((rc = hll_sparse_next(&p, end, &op)) == 1) {
		idx += op.runlen;
		if (idx > HLL_REGISTERS)
			return -EINVAL;
		histo[op.value] += op.runlen;
	}
	return rc == 0 && idx == HLL_REGISTERS ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ updates */

int hll_to_dense(struct hll *h)
{
	uint8_t img[HLL_DENSE_SIZE];
	const uint8_t *p = h->p + HLL_HDR_SIZE, *end = h->p + h->len;
	struct hll_op op;
	unsigned idx = 0;
	int rc;

	if (h->p[4] == HLL_DENSE)
		return 0;
	memcpy(img, h->p, HLL_HDR_SIZE);   /* magic, unused bytes, cache */
	img[4] = HLL_DENSE;
	memset(img + HLL_HDR_SIZE, 0, HLL_REGS_BYTES);
	while ((rc = hll_sparse_next(&p, end, &op)) == 1) {
		if (op.runlen > HLL_REGISTERS - idx)
			return -EINVAL;
		if (op.kind == HLL_OP_VAL)
			for (unsigned k = 0; k < op.runlen; k++)
				hll_dense_set(img + HLL_HDR_SIZE, idx + k, op.value);
		idx += op.runlen;
	}
	if (rc < 0 || idx != HLL_REGISTERS)
		return -EINVAL;
	rc = h->mem->replace(h, img, sizeof(img));
	return rc < 0 ? rc : 1;
}

/* Promote and then set: after a promotion the register is always below
 * count (the sparse value held at most 32, or the edit was needed), so the
 * value changed either way. */
static int sparse_promote_set(struct hll *h, unsigned index, unsigned count)
{
	int rc = hll_to_dense(h);

	if (rc < 0)
		return rc;
	if (hll_dense_get(h->p + HLL_HDR_SIZE, index) < count)
		hll_dense_set(h->p + HLL_HDR_SIZE, index, count);
	hll_cache_invalidate(h->p);
	return 1;
}

/* The sparse editor. Finds the opcode covering index; if it must change,
 * replaces it by the sequence [zeros|vals before] VAL(count,1) [after]
 * (at most 5 bytes), shifting the tail, then merges adjacent equal VALs in
 * a window of 5 opcodes from the opcode preceding the edit. */
static int sparse_set(struct hll *h, unsigned index, unsigned count, size_t sparse_max)
{
	uint8_t *sparse, *p, *end, *prev = NULL;
	unsigned first = 0, span = 0, oplen = 1;
	uint8_t seq[5];
	size_t seqlen = 0;
	int rc;

	if (count > HLL_SPARSE_VAL_MAX)
		return sparse_promote_set(h, index, count);
	/* The worst split (XZERO -> XZERO VAL XZERO) adds 3 bytes. */
	if (h->cap < h->len + 3 && (rc = h->mem->grow(h, h->len + 3)) < 0)
		return rc;

	sparse = p = h->p + HLL_HDR_SIZE;
	end = h->p + h->len;
	while (p < end) {
		oplen = 1;
		if (SP_IS_ZERO(*p)) {
			span = (*p & 0x3fu) + 1;
		} else if (SP_IS_VAL(*p)) {
			span = sp_val_len(*p);
		} else {
			if (p + 1 >= end)
				return -EINVAL;
			span = ((*p & 0x3fu) << 8 | p[1]) + 1;
			oplen = 2;
		}
		if (index <= first + span - 1)
			break;
		prev = p;
		p += oplen;
		first += span;
	}
	if (p >= end)
		return -EINVAL;   /* the opcodes end before register index */

	if (SP_IS_VAL(*p)) {
		unsigned cur = sp_val_value(*p);

		if (cur >= count)
			return 0;
		if (span == 1) {
			*p = sp_val(count, 1);
			goto updated;
		}
	} else if (oplen == 1 && span == 1) {
		*p = sp_val(count, 1);
		goto updated;
	}

	{
		unsigned last = first + span - 1;
		size_t old_len = oplen;
		ptrdiff_t delta;

		if (SP_IS_VAL(*p)) {
			unsigned cur = sp_val_value(*p);

			if (index != first)
				seq[seqlen++] = sp_val(cur, index - first);
			seq[seqlen++] = sp_val(count, 1);
			if (index != last)
				seq[seqlen++] = sp_val(cur, last - index);
		} else {
			if (index != first)
				seqlen += sp_put_zeros(seq + seqlen, index - first);
			seq[seqlen++] = sp_val(count, 1);
			if (index != last)
				seqlen += sp_put_zeros(seq + seqlen, last - index);
		}
		delta = (ptrdiff_t)seqlen - (ptrdiff_t)old_len;
		if (delta > 0 && h->len + (size_t)delta > sparse_max)
			return sparse_promote_set(h, index, count);
		if (delta != 0)
			memmove(p + old_len + delta, p + old_len, (size_t)(end - (p + old_len)));
		memcpy(p, seq, seqlen);
		h->len = (size_t)((ptrdiff_t)h->len + delta);
		end += delta;
	}

updated:
	p = prev ? prev : sparse;
	for (int scan = 5; p < end && scan-- > 0;) {
		if (SP_IS_XZERO(*p)) {
			p += 2;
			continue;
		}
		if (SP_IS_ZERO(*p)) {
			p++;
			continue;
		}
		if (p + 1 < end && SP_IS_VAL(p[1]) && sp_val_value(p[0]) == sp_val_value(p[1])) {
			unsigned len = sp_val_len(p[0]) + sp_val_len(p[1]);

			if (len <= VAL_MAX_LEN) {
				p[1] = sp_val(sp_val_value(p[0]), len);
				memmove(p, p + 1, (size_t)(end - p - 1));
				h->len--;
				end--;
				continue;   /* the merged opcode may merge again */
			}
		}
		p++;
	}
	hll_cache_invalidate(h->p);
	return 1;
}

int hll_set(struct hll *h, unsigned index, unsigned count, size_t sparse_max)
{
	if (h->p[4] == HLL_SPARSE)
		return sparse_set(h, index, count, sparse_max);
	if (hll_dense_get(h->p + HLL_HDR_SIZE, index) >= count)
		return 0;
	hll_dense_set(h->p + HLL_HDR_SIZE, index, count);
	hll_cache_invalidate(h->p);
	return 1;
}

int hll_add(struct hll *h, const void *ele, size_t len, size_t sparse_max)
{
	unsigned index, count = hll_pattern(ele, len, &index);

	return hll_set(h, index, count, sparse_max);
}

/* ----------------------------------------------------------- reading */

int hll_merge_regs(uint8_t max[HLL_REGISTERS], const uint8_t *p, size_t len)
{
	const uint8_t *q = p + HLL_HDR_SIZE, *end = p + len;
	struct hll_op op;
	unsigned idx = 0;
	int rc;

	if (p[4] == HLL_DENSE) {
		const uint8_t *regs = p + HLL_HDR_SIZE;

		for (unsigned i = 0; i < HLL_REGISTERS; i += 4) {
			/* 4 registers per 3 bytes */
			unsigned b0 = regs[i / 4 * 3], b1 = regs[i / 4 * 3 + 1], b2 = regs[i / 4 * 3 + 2];
			uint8_t v[4] = {
				(uint8_t)(b0 & 63), (uint8_t)(((b0 >> 6) | (b1 << 2)) & 63),
				(uint8_t)(((b1 >> 4) | (b2 << 4)) & 63), (uint8_t)(b2 >> 2),
			};

			for (unsigned k = 0; k < 4; k++)
				if (v[k] > max[i + k])
					max[i + k] = v[k];
		}
		return 0;
	}
	while ((rc = hll_sparse_next(&q, end, &op)) == 1) {
		if (op.runlen > HLL_REGISTERS - idx)
			return -EINVAL;
		if (op.kind == HLL_OP_VAL)
			for (unsigned k = 0; k < op.runlen; k++)
				if (op.value > max[idx + k])
					max[idx + k] = (uint8_t)op.value;
		idx += op.runlen;
	}
	return rc == 0 && idx == HLL_REGISTERS ? 0 : -EINVAL;
}

/* Ertl's sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), summed until it stops
 * changing in double precision. */
static double hll_sigma(double x)
{
	double y = 1, z = x, prev;

	if (x == 1.)
		return INFINITY;
	do {
		x *= x;
		prev = z;
		z += x * y;
		y += y;
	} while (z != prev);
	return z;
}

/* Ertl's tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3. */
static double hll_tau(double x)
{
	double y = 1.0, z = 1 - x, prev;

	if (x == 0. || x == 1.)
		return 0.;
	do {
		x = sqrt(x);
		prev = z;
		y *= 0.5;
		z -= pow(1 - x, 2) * y;
	} while (z != prev);
	return z / 3;
}

uint64_t hll_estimate(const uint32_t histo[HLL_REGISTER_MAX + 1])
{
	double m = HLL_REGISTERS;
	/* The operation order matters: it is what makes the result equal to
	 * Redis's to the last unit. */
	double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);

	for (int j = HLL_Q; j >= 1; j--) {
		z += histo[j];
		z *= 0.5;
	}
	z += m * hll_sigma(histo[0] / m);
	return (uint64_t)llroundl(HLL_ALPHA_INF * m * m / z);
}

int hll_count(const uint8_t *p, size_t len, uint64_t *card)
{
	uint32_t histo[HLL_REGISTER_MAX + 1] = {0};

	if (p[4] == HLL_DENSE) {
		dense_histo(p + HLL_HDR_SIZE, histo);
	} else if (sparse_histo(p + HLL_HDR_SIZE, p + len, histo) < 0) {
		return -EINVAL;
	}
	*card = hll_estimate(histo);
	return 0;
}

uint64_t hll_count_regs(const uint8_t regs[HLL_REGISTERS])
{
	uint32_t histo[HLL_REGISTER_MAX + 1] = {0};

	for (unsigned i = 0; i < HLL_REGISTERS; i++)
		histo[regs[i] & HLL_REGISTER_MAX]++;
	return hll_estimate(histo);
}
