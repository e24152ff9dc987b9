/* repl/crc64.c — Redis's CRC64: the Jones polynomial 0xad93d23594c935a9,
 * reflected input and output, initial value 0, no final xor. It checks RDB
 * files and DUMP payloads, so it must be fast enough for multi-GB files:
 * slice-by-8 (eight 256-entry tables, one 64-bit load per 8 bytes), about
 * 1.5-2 GB/s on one core. The tables are built once, on first use. */
#include "repl/rdb.h"

#include <pthread.h>
#include <string.h>

/* The polynomial with its bits reversed, for the reflected algorithm. */
#define CRC64_POLY_REV 0x95ac9329ac4bc9b5ULL

static uint64_t crc64_tab[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC64_POLY_REV : c >> 1;
		crc64_tab[0][i] = c;
	}
	/* tab[k][i]: the crc of byte i followed by k zero bytes. */
	for (unsigned i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++) {
			uint64_t c = crc64_tab[k - 1][i];
			crc64_tab[k][i] = (c >> 8) ^ crc64_tab[0][c & 0xff];
		}
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint64_t rdb_crc64(uint64_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;

	pthread_once(&crc64_once, crc64_init);
	while (n >= 8) {
		crc ^= load_le64(p);
		crc = crc64_tab[7][crc & 0xff] ^
		      crc64_tab[6][(crc >> 8) & 0xff] ^
		      crc64_tab[5][(crc >> 16) & 0xff] ^
		      crc64_tab[4][(crc >> 24) & 0xff] ^
		      crc64_tab[3][(crc >> 32) & 0xff] ^
		      crc64_tab[2][(crc >> 40) & 0xff] ^
		      crc64_tab[1][(crc >> 48) & 0xff] ^
		      crc64_tab[0][crc >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = crc64_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}
