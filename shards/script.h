/* shards/script.h — Lua scripting (t_script.c): what the rest of shards/
 * needs from it besides the command rows in tab_script.h.
 *
 * Each shard owns one Lua interpreter (sh->lua, created on first use) and
 * its cache of compiled scripts; the script bodies themselves live in one
 * process-wide store so EVALSHA works on any shard after EVAL or SCRIPT
 * LOAD on any shard. */
#ifndef KR_SCRIPT_H
#define KR_SCRIPT_H

#include <stddef.h>

struct shard;

/* Close the shard's interpreter and free its cache (no-op if the shard
 * never ran a script). Call once per shard after its thread has left the
 * loop (from that thread or after joining it); never while a script runs. */
void script_shard_free(struct shard *sh);

/* Free the process-wide script store. Call once, after every shard has
 * stopped (after script_shard_free on all of them). */
void script_store_free(void);

/* SHA-1 (FIPS 180-4) of data[0..len) as 40 lowercase hex digits plus NUL. */
void script_sha1_hex(const void *data, size_t len, char out[41]);

#endif
