/* repl/repl_int.h — what wstream.c and aof.c share (private to repl/).
 *
 * wstream.c owns the per-shard rings, the merge into one stream, atomic
 * units, the backlog and the replication thread; aof.c owns the files. The
 * thread calls into aof.c with whole emitted units and once per pass to
 * write (and fsync) what was emitted. */
#ifndef KR_REPL_INT_H
#define KR_REPL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/dataplane.h"

enum wrec_kind { WR_CMD = 0, WR_BEGIN, WR_END, WR_CUT };

/* One item of a shard's ring: one allocation, made by the shard, freed by
 * the replication thread once emitted. */
struct wrec {
	struct wrec *next;        /* overflow list, staging FIFO, unit list */
	uint64_t seq;             /* WR_CMD: the shard's sequence number */
	uint64_t id;              /* BEGIN/END: unit id; CUT: generation */
	uint32_t nparts;          /* BEGIN: participants */
	int32_t db;               /* WR_CMD */
	uint8_t kind;
	uint8_t shard;
	uint8_t epoch;            /* set by the thread: cuts of its shard seen
				   * when it was dequeued (mod 256) */
	uint8_t aof_only;         /* WR_CMD made while relaying (a replica's
				   * applied write): never in the stream */
	size_t len;               /* WR_CMD: bytes of data; CUT: of payload */
	char *payload;            /* CUT: serialised keyspace (malloc'd) */
	char data[];              /* WR_CMD: the command in RESP */
};

/* Append the SELECT / MULTI / EXEC / command framing of n records to a
 * sink with its own notion of the selected db (-1: none yet): SELECT when
 * the db changes, MULTI ... EXEC around a unit of more than one record. */
struct ws_sink {
	struct rbuf buf;
	int db;
};
void ws_sink_put(struct ws_sink *sk, struct wrec *const *recs, unsigned n);

/* aof.c, on the replication thread. */
bool aof_on(void);
/* The records of one emitted unit (n >= 1), in order. */
void aof_emit(struct wrec *const *recs, unsigned n);
/* Write what was emitted; fsync when appendfsync is always. Returns 0, or
 * -1 if the write failed (the bytes are kept and retried). */
int aof_flush(void);
/* Once per pass: everysec fsync, rewrite progress. now_ms: a monotonic
 * clock. Returns the ms until it next wants to run (for the idle wait). */
int aof_tick(int64_t now_ms);
/* A shard's cut arrived (in ring order); aof.c takes the payload. */
void aof_on_cut(unsigned shard, uint64_t gen, char *payload, size_t len);
/* At shutdown, after the last flush. */
void aof_stop(void);

/* wstream.c, for aof.c. */
unsigned ws_nshards(void);
/* Ask every shard to cut for a new generation; returns it. */
uint64_t ws_cut_request(void);
/* Records dequeued with epoch e and not yet emitted. */
uint64_t ws_staged(uint8_t epoch);
/* Size the backlog (before the shards start). */
void ws_backlog_size(size_t size);
/* Wake the replication thread (any thread). */
void ws_kick(void);
/* Turn recording on (loading finished) or off. */
void ws_set_state(int state);
enum { WS_OFF = 0, WS_LOADING = 1, WS_ON = 2 };
int64_t ws_mono_ms(void);
/* appendfsync: AOF_FSYNC_* (server.h). */
int ws_fsync_policy(void);

#endif
