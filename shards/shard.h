/* shards/ — the shard loop, cross-shard messaging, keyspace, commands.
 * This header is what server/ uses to run the shards. */
#ifndef KR_SHARD_H
#define KR_SHARD_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;

/* Create nshards = cfg->shards shards, each with its own copy of cfg, its
 * own keyspace, listener and thread pinned to a core (round-robin over the
 * online CPUs), and start them. Returns 0, or -1 with err filled (e.g. the
 * port is in use). Call once, from the main thread. */
int shard_start_all(const struct cfg *cfg, char *err, size_t errlen);
/* Block until every shard thread has exited (after a shutdown request).
 * Returns the exit status requested (SHUTDOWN/SIGTERM: 0). */
int shard_wait_all(void);
/* Ask every shard to stop (async-signal-safe). */
void shard_request_shutdown(int status);
/* Number of shards started. */
unsigned shard_count(void);
/* True once a shutdown was requested (SHUTDOWN command or signal). */
bool shard_shutdown_requested(void);

#endif
