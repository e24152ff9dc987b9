/* shards/snap.h — forkless RDB snapshots and loading (private to shards/).
 *
 * A snapshot is a cut taken as one global transaction (every shard's lock
 * held at once), after which each shard serialises the keys it held at the
 * cut in bounded time slices from its loop, saving a key's old value first
 * whenever a write is about to change it (copy-on-write). The serialised
 * bytes travel in ~1 MiB chunks to one writer thread that streams them into
 * dir/temp-<pid>.rdb behind the header, then EOF, CRC64, fsync and an atomic
 * rename to dir/dbfilename. snap.c explains the details.
 *
 * Hooks other files call, each one line marked "snapshot":
 *   shard.c   snap_shard_init() before the loop (loads the RDB file),
 *             snap_poll() every loop round, snap_cron() from cron();
 *   route.c   snap_cow() at the top of route_exec() while snap_cow_on,
 *             snap_refuse_write() in route_dispatch() (MISCONF);
 *   t_server.c INFO persistence, LASTSAVE, SHUTDOWN.
 * Everything is called on the calling shard's own thread. */
#ifndef KR_SNAP_H
#define KR_SNAP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "shards/shard_int.h"

/* True on a shard's thread while its part of a snapshot is under way:
 * write commands must go through snap_cow() before they execute. */
extern _Thread_local bool snap_cow_on;
/* The last background save failed (until one succeeds); whether writes are
 * refused is each shard's stop-writes-on-bgsave-error and save rules. */
extern _Atomic bool snap_misconf;

/* Shard thread start, before its loop and before any client is served:
 * load dir/dbfilename (the keys this shard owns) unless appendonly is on.
 * Every shard waits for the others; if any failed (corrupt or unreadable
 * file) the error is logged once, naming the file and the offset, and a
 * shutdown with status 1 is requested, so no loop runs. */
void snap_shard_init(struct shard *sh);

/* Each shard's sh->dirty, published by route_exec after every write (read
 * by other shards for rdb_changes_since_last_save and the save rules). */
struct snap_pub {
	_Atomic long long dirty;
} __attribute__((aligned(64)));
extern struct snap_pub snap_pub[SHARD_MAX];
extern _Thread_local bool snap_waiting;   /* this shard has SAVE/SHUTDOWN waiters */

static inline void snap_dirty_publish(const struct shard *sh)
{
	atomic_store_explicit(&snap_pub[sh->id].dirty, sh->dirty, memory_order_relaxed);
}

/* Every loop round: answer SAVE/SHUTDOWN waiters whose snapshot is done,
 * and run one slice while a part is under way. Returns 1 when more slices
 * are due (the loop must not sleep), else 0. Idle rounds cost two loads. */
unsigned snap_poll_slow(struct shard *sh);
static inline unsigned snap_poll(struct shard *sh)
{
	return snap_cow_on || snap_waiting ? snap_poll_slow(sh) : 0;
}

/* From the shard's cron: answers SAVE/SHUTDOWN waiters whose snapshot is
 * done; on shard 0 also runs the save rules and BGSAVE SCHEDULE. */
void snap_cron(struct shard *sh);

/* Before a command executes on a shard whose part is under way: a write
 * first saves every not-yet-saved key it may change (or, for writes whose
 * keys cannot be known — FLUSHDB, FLUSHALL, SWAPDB, DEBUG POPULATE — the
 * whole rest of this shard's part, synchronously). */
void snap_cow(struct shard *sh, const struct cmd_ctx *ctx);

/* Finish this shard's part of the snapshot under way now, if any. Code
 * that changes the keyspace other than through route_exec() (a replica's
 * flush and load of a full sync) calls it first. */
void snap_settle(struct shard *sh);

/* Dispatch: when the last background save failed and
 * stop-writes-on-bgsave-error is on (with save rules), writes and PING are
 * refused with -MISCONF (the error written for c unless discard). Returns
 * true if refused. */
bool snap_refuse_write_slow(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
			    bool discard);
static inline bool snap_refuse_write(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
				     bool discard)
{
	if (__builtin_expect(!atomic_load_explicit(&snap_misconf, memory_order_relaxed), 1))
		return false;
	return snap_refuse_write_slow(sh, c, cmd, discard);
}

/* INFO persistence: "loading:..." up to "rdb_last_load_keys_loaded:...",
 * appended to out (computed on the calling shard). */
void snap_info_persistence(struct shard *sh, struct rbuf *out);
/* LASTSAVE: unix time of the last successful save (start time before). */
long long snap_lastsave(void);
/* Are save rules configured (SHUTDOWN then saves by default)? */
bool snap_rules_configured(const struct shard *sh);
/* SHUTDOWN with a save: hold every shard's lock, save, then exit; if the
 * save fails, reply "-ERR Errors trying to SHUTDOWN. Check logs." and go
 * on serving (force: exit anyway). Takes over ctx's reply. */
void snap_shutdown(struct cmd_ctx *ctx, bool force);
/* SIGTERM/SIGINT (the main thread): shard 0 shuts down as SHUTDOWN without
 * arguments would (saving first if save rules are configured). */
void snap_sigterm(void);

/* Diskless full sync (replmaster.c). snap_request_sync: schedule a
 * snapshot whose file is a memfd, not dir/dbfilename (no LASTSAVE, no
 * bgsave status); false if a snapshot runs or one is scheduled already.
 * snap_sync_fd: inside snapshot gen's cut, a descriptor of that memfd (-1
 * if gen is not such a snapshot). snap_sync_consumed: the bytes every
 * reader has taken (UINT64_MAX: nobody reads), so the writer gives the
 * memory back and keeps within a window of the slowest reader. */
bool snap_request_sync(void);
/* BGREWRITEAOF's base (propagate.c, shard 0, for write-stream cut aof_gen):
 * a snapshot into aof_rewrite_temp_path(), whose cut also cuts the stream
 * on every shard ("S" payloads); aof_base_snapshot_done() when written.
 * The generation, -EBUSY (another snapshot runs: try again) or -EIO. */
long long snap_start_aof(struct shard *sh, uint64_t aof_gen);
int snap_sync_fd(uint64_t gen);
void snap_sync_consumed(uint64_t floor);

#endif
