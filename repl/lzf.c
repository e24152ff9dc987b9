/* repl/lzf.c — LZF compression in the liblzf format, as Redis uses it for
 * RDB strings longer than 20 bytes.
 *
 * The format: a sequence of
 *   000LLLLL <L+1 literal bytes>                      (1..32 literals)
 *   LLLooooo oooooooo                                 (back-reference)
 *   111ooooo LLLLLLLL oooooooo                        (long back-reference)
 * where a back-reference copies len+2 bytes (len = LLL, or 7 + the extra
 * byte) from `offset + 1` bytes behind the output position.
 *
 * The compressor makes the same choices as liblzf 3.6 built the way Redis
 * builds it (a 2^16-slot hash of the next three bytes, the newest position
 * per slot, greedy matches of 3..264 bytes within 8 KiB, re-hashing the
 * last two positions of each match, position 0 never used as a match
 * source, and the same "does it still fit" tests), so for the same string
 * we write the same bytes as Redis. The table holds positions stamped with
 * a per-call generation instead of being cleared (64K slots per call would
 * cost more than compressing a short string); one table per thread,
 * allocated on first use. */
#include "repl/rdb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LZF_HLOG 16
#define LZF_HSIZE (1u << LZF_HLOG)
#define LZF_MAX_LIT 32
#define LZF_MAX_OFF 8192
#define LZF_MAX_REF 264          /* (1 << 8) + (1 << 3): longest match */

/* A slot: generation << 32 | position. */
struct lzf_tab {
	uint32_t gen;
	uint64_t slot[LZF_HSIZE];
};

static pthread_key_t lzf_key;
static pthread_once_t lzf_once = PTHREAD_ONCE_INIT;

static void lzf_key_init(void)
{
	(void)pthread_key_create(&lzf_key, free);
}

/* This thread's table, or NULL (ENOMEM: the caller stores uncompressed). */
static struct lzf_tab *lzf_tab_get(void)
{
	pthread_once(&lzf_once, lzf_key_init);
	struct lzf_tab *t = pthread_getspecific(lzf_key);
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t || pthread_setspecific(lzf_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	if (++t->gen == 0) {            /* wrapped: old stamps could match */
		memset(t->slot, 0, sizeof t->slot);
		t->gen = 1;
	}
	return t;
}

/* The slot of the three bytes at p (liblzf's VERY_FAST hash: only these
 * three bytes reach the low 16 bits). */
static inline uint32_t lzf_hash(const uint8_t *p)
{
	uint32_t a = (uint32_t)p[0] << 8 | p[1];
	uint32_t b = (uint32_t)p[1] << 8 | p[2];
	return (a - b * 5) & (LZF_HSIZE - 1);
}

size_t rdb_lzf_compress(const void *in_, size_t n, void *out_, size_t out_len)
{
	const uint8_t *in = in_;
	uint8_t *out = out_;
	struct lzf_tab *t;
	uint64_t stamp;
	size_t ip = 0, op, run, lit = 0;

	if (n == 0 || out_len == 0 || n > UINT32_MAX)
		return 0;
	t = lzf_tab_get();
	if (!t)
		return 0;
	stamp = (uint64_t)t->gen << 32;
	run = 0;               /* header byte of the current literal run */
	op = 1;

	while (ip + 2 < n) {
		uint32_t h = lzf_hash(in + ip);
		uint64_t ent = t->slot[h];
		t->slot[h] = stamp | ip;

		size_t ref = (size_t)(ent & 0xffffffffu);
		if ((ent & ~0xffffffffULL) == stamp && ref > 0 && ip - ref - 1 < LZF_MAX_OFF &&
		    in[ref] == in[ip] && in[ref + 1] == in[ip + 1] && in[ref + 2] == in[ip + 2]) {
			size_t off = ip - ref - 1;
			size_t maxlen = n - ip - 2, len = 2, limit;

			if (maxlen > LZF_MAX_REF)
				maxlen = LZF_MAX_REF;
			/* Room for the reference and the next run's header, and
			 * one more byte (liblzf's conservative test). */
			if (op + 4 >= out_len && op - (lit == 0) + 4 >= out_len)
				return 0;
			if (lit)
				out[run] = (uint8_t)(lit - 1);
			else
				op--;              /* drop the empty run's header */
			/* liblzf compares 16 bytes unchecked once maxlen > 16,
			 * so such a match may reach 19 bytes whatever maxlen. */
			limit = (maxlen > 16 && maxlen < 19) ? 19 : maxlen;
			do
				len++;
			while (len < limit && in[ref + len] == in[ip + len]);

			len -= 2;              /* encoded: matched bytes - 2 */
			if (len < 7) {
				out[op++] = (uint8_t)((off >> 8) + (len << 5));
			} else {
				out[op++] = (uint8_t)((off >> 8) + (7 << 5));
				out[op++] = (uint8_t)(len - 7);
			}
			out[op++] = (uint8_t)off;
			lit = 0;
			run = op++;
			ip += len + 2;
			if (ip + 2 >= n)
				break;
			/* Index the match's last two positions. */
			t->slot[lzf_hash(in + ip - 2)] = stamp | (ip - 2);
			t->slot[lzf_hash(in + ip - 1)] = stamp | (ip - 1);
		} else {
			if (op >= out_len)
				return 0;
			lit++;
			out[op++] = in[ip++];
			if (lit == LZF_MAX_LIT) {
				out[run] = LZF_MAX_LIT - 1;
				lit = 0;
				run = op++;
			}
		}
	}
	/* At most two literals and a run header are left to write. */
	if (op + 3 > out_len)
		return 0;
	while (ip < n) {
		lit++;
		out[op++] = in[ip++];
		if (lit == LZF_MAX_LIT) {
			out[run] = LZF_MAX_LIT - 1;
			lit = 0;
			run = op++;
		}
	}
	if (lit)
		out[run] = (uint8_t)(lit - 1);
	else
		op--;
	return op;
}

size_t rdb_lzf_decompress(const void *in_, size_t in_len, void *out_, size_t out_len)
{
	const uint8_t *in = in_;
	uint8_t *out = out_;
	size_t ip = 0, op = 0;

	while (ip < in_len) {
		unsigned ctrl = in[ip++];
		if (ctrl < 32) {
			size_t len = (size_t)ctrl + 1;
			if (len > in_len - ip || len > out_len - op)
				return 0;
			memcpy(out + op, in + ip, len);
			ip += len;
			op += len;
			continue;
		}
		size_t len = ctrl >> 5;
		if (len == 7) {
			if (ip >= in_len)
				return 0;
			len += in[ip++];
		}
		if (ip >= in_len)
			return 0;
		size_t back = ((size_t)(ctrl & 0x1f) << 8) + in[ip++] + 1;
		len += 2;
		if (back > op || len > out_len - op)
			return 0;
		uint8_t *d = out + op;
		const uint8_t *s = d - back;
		if (back >= len) {
			memcpy(d, s, len);
		} else {
			for (size_t i = 0; i < len; i++)   /* overlapping: a repeat */
				d[i] = s[i];
		}
		op += len;
	}
	return op;
}
