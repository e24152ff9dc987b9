/* shards/sha1.h — SHA-1 (FIPS 180-1), one-shot over a whole buffer: script
 * SHAs (EVALSHA, SCRIPT LOAD) and DEBUG DIGEST's Redis-compatible mixing. */
#ifndef KR_SHA1_H
#define KR_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* out may alias p: the input is consumed before out is written. */
void kr_sha1(const void *p, size_t len, uint8_t out[20]);

#endif
