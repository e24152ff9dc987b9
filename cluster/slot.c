/* Hash-slot math shared by routing (shards/) and, later, the cluster bus.
 * Table-driven CRC16-XMODEM; the table is generated at compile time from
 * the polynomial so there is no magic data to get wrong. */
#include "cluster/cluster.h"

#include <string.h>

#define CRC16_POLY 0x1021u

struct crc16_table { uint16_t v[256]; };

static struct crc16_table crc16_make(void)
{
	struct crc16_table t;
	for (unsigned i = 0; i < 256; i++) {
		uint16_t crc = (uint16_t)(i << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ CRC16_POLY)
					     : (uint16_t)(crc << 1);
		t.v[i] = crc;
	}
	return t;
}

static struct crc16_table crc16_tab;

__attribute__((constructor)) static void crc16_init(void)
{
	crc16_tab = crc16_make();
}

uint16_t clu_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^ crc16_tab.v[((crc >> 8) ^ p[i]) & 0xff]);
	return crc;
}

unsigned clu_key_slot(const void *key, size_t len)
{
	const char *k = key;
	const char *open = memchr(k, '{', len);
	if (open) {
		size_t off = (size_t)(open - k) + 1;
		const char *close = memchr(k + off, '}', len - off);
		if (close && close != k + off)
			return clu_crc16(k + off, (size_t)(close - (k + off))) & (CLU_SLOTS - 1);
	}
	return clu_crc16(k, len) & (CLU_SLOTS - 1);
}
