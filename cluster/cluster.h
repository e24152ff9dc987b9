/* cluster/ — Redis Cluster compatibility. For now: hash-slot math.
 *
 * slot = crc16(hashtag(key)) & 16383, CRC16-XMODEM (poly 0x1021, init 0),
 * with Redis's hash-tag rule: if the key has a '{' followed later by a '}'
 * with at least one byte between them, only the bytes between the first '{'
 * and the first '}' after it are hashed. */
#ifndef KR_CLUSTER_H
#define KR_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define CLU_SLOTS 16384

/* CRC16-XMODEM of buf[0..len). Pure; any thread. */
uint16_t clu_crc16(const void *buf, size_t len);

/* Hash slot of a key (0..16383), honouring hash tags. Pure; any thread. */
unsigned clu_key_slot(const void *key, size_t len);

#endif
