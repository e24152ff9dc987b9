/* repl/wstream.h — the write stream (contract; owned by the lead).
 *
 * Every write a shard makes is recorded in its deterministic form and pushed
 * on that shard's own SPSC ring to the replication thread, which merges the
 * rings into one stream of RESP commands with one global offset
 * (master_repl_offset). The backlog, replica links and the AOF consume that
 * one stream.
 *
 * Shard side (called on the shard's own thread only; never blocks except
 * by bounded back-pressure when its ring and overflow are full):
 *
 *   wstream_record(sh_id, db, argc, argv, lens)
 *       One command in deterministic form, already rewritten (see
 *       wrec_after_exec below). The stream emits SELECT when the db of
 *       consecutive records differs.
 *
 *   wstream_txn_begin(sh_id, txn_id, nparts) / wstream_txn_end(sh_id, txn_id)
 *       Bracket everything shard sh_id records for one atomic unit: a
 *       MULTI/EXEC, a script, or a cross-shard command or transaction
 *       holding the locks of nparts shards. Every participant brackets its
 *       own part: begin when its lock is granted (or when a single-shard
 *       unit starts), end when it is released. Records a shard makes between
 *       its begin and end (including expiry DELs) belong to the unit. The
 *       replication thread emits the unit as one MULTI ... EXEC block, after
 *       all nparts ends have arrived, and does not consume a participant's
 *       ring past its end until then. Units never nest on one shard. A unit
 *       that recorded nothing emits nothing.
 *
 * txn_id is unique per process (e.g. (shard id << 48) | counter of the
 * coordinator). Locks are taken in ascending shard order and held to the
 * end, so on every shard the units appear in the same relative order, and
 * the thread never waits in a cycle. */
#ifndef KR_WSTREAM_H
#define KR_WSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Process-wide start (before shards run) and stop (after they stop). */
int wstream_init(unsigned nshards, const char **err);
void wstream_shutdown(void);
/* True when some consumer (AOF, a replica, the backlog) wants records;
 * shards skip building records when false (one load, no fence). */
bool wstream_enabled(void);

/* Returns the record's sequence number on this shard (1, 2, ...), which
 * wstream_durable() is compared against. */
uint64_t wstream_record(unsigned sh_id, int db, int argc, const char *const *argv,
			const size_t *lens);
void wstream_txn_begin(unsigned sh_id, uint64_t txn_id, unsigned nparts);
void wstream_txn_end(unsigned sh_id, uint64_t txn_id);

/* The highest sequence number of shard sh_id whose record is written (and
 * fsynced when appendfsync is always) by the AOF; shards hold replies of
 * writes above it when appendfsync is always. The replication thread wakes
 * a shard (dp_wake) when its durable mark moves. */
uint64_t wstream_durable(unsigned sh_id);

/* The merged stream's offset: bytes emitted so far (INFO, WAIT). */
uint64_t wstream_offset(void);

#endif
