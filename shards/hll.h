/* shards/hll.h — HyperLogLog values in Redis's exact byte format (private
 * to shards/).
 *
 * An HLL is an ordinary string value, so its bytes travel unchanged through
 * GET/SET, DUMP/RESTORE, RDB and replication between keyrail and Redis:
 *
 *   0..3   "HYLL"
 *   4      encoding: HLL_DENSE (0) or HLL_SPARSE (1)
 *   5..7   unused, zero (kept as found)
 *   8..15  cached cardinality, little endian; the top bit of byte 15 set
 *          means "stale, recompute"
 *   16..   dense: 16384 registers of 6 bits, register i at bit 6*i counted
 *          from the least significant bit of byte 0 (12288 bytes);
 *          sparse: run-length opcodes covering the 16384 registers:
 *            00xxxxxx           ZERO   1..64 zero registers
 *            01xxxxxx yyyyyyyy  XZERO  1..16384 zero registers (14 bits)
 *            1vvvvvxx           VAL    1..4 registers of value 1..32
 *
 * A sparse value is edited in place and promoted to dense when a register
 * needs a value above 32 or when it would grow past the caller's
 * sparse_max bytes (hll-sparse-max-bytes), exactly where Redis promotes, so
 * the same PFADDs leave byte-identical values in both servers.
 *
 * The element hash is MurmurHash64A (seed 0xadc83b19) over the element's
 * bytes: the low 14 bits pick the register, the position of the lowest set
 * bit of the remaining 50 (1-based, at most 51) is the candidate value. The
 * estimate is Ertl's improved estimator ("New cardinality estimation
 * algorithms for HyperLogLog sketches", 2017), computed in the same order as
 * Redis 7, so PFCOUNT answers the same numbers.
 *
 * This layer knows nothing of keys or shards: a value is a byte buffer that
 * the caller owns and lets the code grow through struct hll_mem. */
#ifndef KR_HLL_H
#define KR_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HLL_P 14                                 /* index bits */
#define HLL_Q (64 - HLL_P)                       /* bits left for the run */
#define HLL_REGISTERS (1u << HLL_P)              /* 16384 */
#define HLL_BITS 6
#define HLL_REGISTER_MAX ((1u << HLL_BITS) - 1)  /* 63 */
#define HLL_HDR_SIZE 16
#define HLL_REGS_BYTES ((HLL_REGISTERS * HLL_BITS + 7) / 8)   /* 12288 */
#define HLL_DENSE_SIZE (HLL_HDR_SIZE + HLL_REGS_BYTES)         /* 12304 */
#define HLL_SPARSE_EMPTY_SIZE (HLL_HDR_SIZE + 2)  /* header + one XZERO */
#define HLL_SPARSE_VAL_MAX 32                    /* largest VAL value */

enum hll_enc { HLL_DENSE = 0, HLL_SPARSE = 1 };

struct hll;

/* How an HLL's buffer grows; provided by whoever owns the bytes. */
struct hll_mem {
	/* Make h->cap >= min_cap keeping h->p[0..h->len); may move h->p.
	 * Used for the few bytes a sparse edit adds. 0 or -ENOMEM. */
	int (*grow)(struct hll *h, size_t min_cap);
	/* Replace the whole value by img[0..len) (the promotion to dense
	 * builds the new value aside); updates p, len and cap. img is not
	 * inside the current buffer. 0 or -ENOMEM. */
	int (*replace)(struct hll *h, const uint8_t *img, size_t len);
};

/* A mutable HLL value. p[0..len) holds a value that passed hll_valid();
 * the functions below keep len and the bytes consistent. */
struct hll {
	uint8_t *p;
	size_t len;
	size_t cap;
	const struct hll_mem *mem;
	void *arg;                   /* the owner's, for mem */
};

/* One sparse opcode as decoded by hll_sparse_next(). */
enum hll_op_kind { HLL_OP_ZERO, HLL_OP_XZERO, HLL_OP_VAL };
struct hll_op {
	enum hll_op_kind kind;
	unsigned runlen;             /* registers covered, >= 1 */
	unsigned value;              /* VAL: 1..32; 0 for the zero runs */
};

/* ------------------------------------------------------------ hashing */

/* MurmurHash64A, endian-neutral (blocks read little endian). */
uint64_t hll_murmur64a(const void *key, size_t len, uint64_t seed);
/* Register index (0..16383) of an element, returned in *index, and its
 * candidate register value (1..HLL_Q+1). */
unsigned hll_pattern(const void *ele, size_t len, unsigned *index);

/* ------------------------------------------------------ value checks */

/* Redis's test for "is this string an HLL": at least the header, magic
 * "HYLL", encoding 0 or 1, and exactly HLL_DENSE_SIZE bytes when dense.
 * Sparse opcodes are not checked here (corruption is found when they are
 * read: the functions below return -EINVAL). */
bool hll_valid(const uint8_t *p, size_t len);
/* Write the empty sparse HLL (HLL_SPARSE_EMPTY_SIZE bytes, cached
 * cardinality 0 and valid) into out. */
void hll_init_sparse(uint8_t out[HLL_SPARSE_EMPTY_SIZE]);

/* Cached cardinality in the header. */
bool hll_cache_valid(const uint8_t *p);
uint64_t hll_cache_get(const uint8_t *p);
void hll_cache_set(uint8_t *p, uint64_t card);    /* also marks it valid */
void hll_cache_invalidate(uint8_t *p);            /* sets the stale bit only */

/* ----------------------------------------------------- dense registers */

/* Register i (< HLL_REGISTERS) of a dense register array (HLL_REGS_BYTES
 * bytes, i.e. p + HLL_HDR_SIZE); v <= HLL_REGISTER_MAX. */
unsigned hll_dense_get(const uint8_t *regs, unsigned i);
void hll_dense_set(uint8_t *regs, unsigned i, unsigned v);

/* ------------------------------------------------------------ updates */

/* Raise register index to count if count is larger (the HLL update rule),
 * in whichever encoding h has, promoting a sparse value to dense when
 * count > 32 or when the edit would make it longer than sparse_max bytes.
 * A change marks the cached cardinality stale.
 * Returns 1 if the value changed, 0 if not, -EINVAL if sparse opcodes are
 * corrupt (nothing changed then), -ENOMEM from h->mem. count must be
 * 1..HLL_REGISTER_MAX and index < HLL_REGISTERS. */
int hll_set(struct hll *h, unsigned index, unsigned count, size_t sparse_max);
/* PFADD of one element: hll_pattern() then hll_set(). Same returns. */
int hll_add(struct hll *h, const void *ele, size_t len, size_t sparse_max);
/* Convert a sparse value to dense (header, including the cached
 * cardinality, kept). 1 converted, 0 already dense, -EINVAL corrupt
 * (unchanged), -ENOMEM. */
int hll_to_dense(struct hll *h);

/* ----------------------------------------------------------- reading */

/* max[i] = MAX(max[i], register i of the value) for every register (the
 * PFMERGE / multi-key PFCOUNT union). 0, or -EINVAL if sparse opcodes do
 * not cover exactly HLL_REGISTERS registers (max may be partly updated). */
int hll_merge_regs(uint8_t max[HLL_REGISTERS], const uint8_t *p, size_t len);
/* Cardinality estimate of a value (ignores and does not touch the cache).
 * 0, or -EINVAL for corrupt sparse opcodes. */
int hll_count(const uint8_t *p, size_t len, uint64_t *card);
/* Estimate of a plain register array (one byte per register). */
uint64_t hll_count_regs(const uint8_t regs[HLL_REGISTERS]);
/* Ertl's estimator over a register histogram: histo[v] = number of
 * registers holding v, v = 0..63 (values above HLL_Q + 1 are ignored, as
 * Redis ignores them). */
uint64_t hll_estimate(const uint32_t histo[HLL_REGISTER_MAX + 1]);

/* Sparse opcode iterator: decode the opcode at *pp (< end) into *op and
 * advance *pp. 1 if an opcode was read, 0 at end, -EINVAL if an XZERO is
 * cut short by end. */
int hll_sparse_next(const uint8_t **pp, const uint8_t *end, struct hll_op *op);

#endif
