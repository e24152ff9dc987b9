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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stream's state (WS_* in repl_int.h; wstream.c checks the numbers).
 * Read inline: every command asks. */
#define WSTREAM_ST_LOADING 1
#define WSTREAM_ST_ON 2
extern _Atomic int wstream_state;

/* Process-wide start (before shards run) and stop (after they stop). */
int wstream_init(unsigned nshards, const char **err);
void wstream_shutdown(void);
/* True when some consumer (AOF, a replica, the backlog) wants records;
 * shards skip building records when false (one load, no fence). */
static inline bool wstream_enabled(void)
{
	return atomic_load_explicit(&wstream_state, memory_order_relaxed) == WSTREAM_ST_ON;
}

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


/* ------------------------------------------------------------------
 * Additions (aof): everything below is additive to the contract above.
 * ------------------------------------------------------------------ */

struct cfg;
struct resp_arg;

/* wstream_record() with the arguments as the parser gives them
 * (dataplane.h's struct resp_arg: pointer and length). */
uint64_t wstream_record_args(unsigned sh_id, int db, int argc, const struct resp_arg *argv);

/* Persistence start-up, on the main thread after wstream_init() and
 * before the shards start: with appendonly yes, check the AOF directory
 * (create it, or upgrade a Redis 6 single-file AOF), validate every file
 * of the manifest (a truncated last file is cut per aof-load-truncated),
 * open the last incremental file for appending and put the stream in the
 * loading state until shard 0 has replayed the files. Returns 0, or -1 with
 * err holding Redis's message (start-up must stop). */
int aof_start(const struct cfg *cfg, char *err, size_t errlen);

/* The stream's state: off (no consumer), loading (the AOF is being
 * replayed: clients get -LOADING and nothing is recorded), on. */
static inline bool wstream_loading(void)
{
	return atomic_load_explicit(&wstream_state, memory_order_relaxed) == WSTREAM_ST_LOADING;
}

/* Shard side. A shard attaches once, from its own thread, before it
 * records: wake_fd is what the replication thread writes to (dp_wake)
 * when the shard asked for wake-ups (wstream_want_wake) and a durable
 * mark moved, or when it wants the shard to cut (see below). */
void wstream_shard_attach(unsigned sh_id, int wake_fd);
void wstream_want_wake(unsigned sh_id, bool on);
/* Wake the replication thread if this shard put anything on its ring
 * since the last call: records are pushed without a wake-up, and the shard
 * calls this once per loop round (before it may sleep). */
void wstream_flush(unsigned sh_id);
/* The last sequence number shard sh_id has recorded (any thread). */
uint64_t wstream_recorded(unsigned sh_id);
/* Is shard sh_id inside a wstream_txn_begin/_end bracket? (its thread) */
bool wstream_in_txn(unsigned sh_id);
/* A fresh unit id, never reused: (sh_id << 48) | 1 << 47 | counter (for
 * units a shard opens by itself: a script, SPOP with a count; a
 * coordinator may use it for its transactions too). Its thread only. */
uint64_t wstream_txn_id(unsigned sh_id);
/* appendfsync is always: replies wait for wstream_durable(). */
bool wstream_sync_always(void);

/* Cuts (BGREWRITEAOF, and appendonly turned on at run time). The
 * replication thread asks for a cut (and wakes the shards);
 * wstream_cut_wanted() returns its generation, 0 if this shard has cut
 * for it already. The cut is one global point: shard 0 takes every
 * shard's lock and each shard, holding it, serialises its keyspace into buf
 * (malloc'd, ownership passes): a format byte, 'R' then RDB records
 * (SELECTDB and keys; aof-use-rdb-preamble yes, shard 0's choice for all)
 * or 'A' then AOF commands; and calls wstream_cut():
 * records it made before belong to the old files, records after to the
 * new ones (shards/propagate.c). */
uint64_t wstream_cut_wanted(unsigned sh_id);

/* What a shard's loop round has to look at, in one call (the round asks
 * every time, and almost always the answer is nothing). */
enum {
	WSR_LOADING = 1,     /* wstream_loading() */
	WSR_CUT = 2,         /* wstream_cut_wanted(sh_id) != 0 */
	WSR_ALWAYS = 4,      /* wstream_sync_always() */
	WSR_KICK = 8,        /* wstream_flush(sh_id) has a kick to give */
};
unsigned wstream_round(unsigned sh_id);
void wstream_cut(unsigned sh_id, uint64_t gen, char *buf, size_t len);
/* BGREWRITEAOF: 0 started; -1 with err ("ERR Background append only file
 * rewriting already in progress"). Any thread. */
int aof_rewrite_request(char *err, size_t errlen);
/* An RDB base written by a forkless snapshot (shards/snap.c): where it is
 * written, and its end (gen: the rewrite's cut generation). */
void aof_rewrite_temp_path(char *buf, size_t len);
void aof_base_snapshot_done(uint64_t gen, bool ok);

/* Loading, for shard 0's loader. aof_load_next() hands out the next run
 * of whole commands (valid until the next call): 1 with *p and *len set
 * (*file_start true at the start of each file, whose commands run in db
 * 0), 0 when every file was handed out, -1 on a read error (logged).
 * aof_load_done() ends the loading state (ok false: start-up failed). */
int aof_load_next(const char **p, size_t *len, bool *file_start, const char **fname);
void aof_load_done(bool ok, unsigned long long ncmds);

/* Run-time configuration (CONFIG SET, passed on by shard 0): appendfsync
 * (AOF_FSYNC_* of server.h) and appendonly (on: a rewrite creates the
 * AOF from the data; off: the files are closed). */
void wstream_set_fsync(int policy);
void aof_set_appendonly(bool on);

/* INFO persistence lines after loading/rdb_bgsave_in_progress
 * ("aof_enabled:1\r\n..."), NUL-terminated in buf; returns the length. */
size_t aof_info_persistence(char *buf, size_t len);

/* The backlog: the last repl-backlog-size bytes of the merged stream,
 * for replicas that resume with PSYNC. wstream_backlog_range() gives the
 * offsets [*first, *end) it holds (end == wstream_offset()). Bytes from
 * offset off are copied into buf: returns how many (0 at the end), or -1
 * if off is outside the range. Any thread. */
void wstream_backlog_range(uint64_t *first, uint64_t *end);
long wstream_backlog_read(uint64_t off, void *buf, size_t len);
/* repl-backlog-ttl: released, the backlog's memory goes back and keeps
 * nothing until it is taken again (released false: the next bytes
 * allocate it). */
void wstream_backlog_release(bool released);

/* Replica chains (shards/replclient.c). While relay mode is on (the
 * server is a replica), records the shards make are the replica's applied
 * writes: they feed the AOF only, never the stream, and shard 0 puts the
 * master's stream into the backlog instead, byte for byte, as it applies
 * it (wstream_relay), so the backlog holds the master's bytes and
 * sub-replicas are served those. The mode is read when a record is made
 * and when it is emitted (records from either side of a switch never mix
 * into the wrong history). Any thread. */
void wstream_set_relay(bool on);
/* Append n bytes of the master's stream to the stream and backlog (not
 * the AOF); the offset advances by n. The next stream bytes the shards
 * make start with a SELECT. Shard 0 only, while relay mode is on. */
void wstream_relay(const char *p, size_t n);

#endif
