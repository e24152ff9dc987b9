/* shards/replclient.h — the replica side of Redis replication (private to
 * shards/; implemented in shards/replclient.c).
 *
 * A link thread owns the TCP connection to the master: it connects, does a
 * Redis 7 replica's handshake (PING, AUTH, REPLCONF listening-port,
 * REPLCONF capa eof capa psync2, PSYNC), receives a full sync's RDB into a
 * file (disk-based `$<len>` or diskless `$EOF:<mark>` framing), asks every
 * shard to flush and load the keys it owns from it, then reads the command
 * stream and hands its bytes to shard 0. There the stream is the input of
 * a client that has no socket (the master client, flag M): its requests are
 * parsed and routed like any client's (MULTI/EXEC, SELECT and cross-shard
 * commands included) and its replies are counted instead of sent, so the
 * replica's offset advances by exactly the bytes of the commands whose
 * effects have been applied. The thread sends REPLCONF ACK with that offset
 * every second and when the master asks (REPLCONF GETACK).
 *
 * The hooks below are what the shard loop, the connection layer, the
 * dispatcher, INFO and scripts call; each is marked "replica" where it is
 * called. Functions run on the calling shard's thread unless said. */
#ifndef KR_REPLCLIENT_H
#define KR_REPLCLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dataplane/dataplane.h"

struct shard;
struct conn;
struct cmd_def;
struct resp_req;
struct cfg;

/* The gate's state, one word read by every dispatch (relaxed): 0 on a
 * master that is not loading, which is all the fast path looks at. */
#define REPL_GATE_REPLICA 1u      /* we are a replica */
#define REPL_GATE_LINK_UP 2u      /* ... and the link to the master is up */
#define REPL_GATE_LOADING 4u      /* a full sync's RDB is being loaded */
extern _Atomic unsigned repl_gate_flags;
/* The master client (on shard 0), NULL if none. */
extern _Atomic(struct conn *) repl_master_conn;

static inline bool replclient_is_master(const struct conn *c)
{
	return c == atomic_load_explicit(&repl_master_conn, memory_order_relaxed);
}

/* main(), after wstream_init and before the shards start: a server
 * configured with replicaof is a replica from its first request. */
void replclient_boot(const struct cfg *cfg);

/* True while this server is a replica (active expiry then waits for the
 * master's DELs, as Redis replicas do). Any thread. */
static inline bool replclient_is_replica(void)
{
	return atomic_load_explicit(&repl_gate_flags, memory_order_relaxed) & REPL_GATE_REPLICA;
}

/* Dispatcher gate, after auth: the error (Redis 7's text, without '-') a
 * command of client c must get instead of running — READONLY on a read-only
 * replica for writes from anyone but the master, MASTERDOWN while the link
 * is down and replica-serve-stale-data is no, LOADING while a full sync
 * loads — or NULL. */
const char *replclient_deny_slow(const struct shard *sh, const struct conn *c,
				 const struct cmd_def *cmd);
static inline const char *replclient_deny(const struct shard *sh, const struct conn *c,
					  const struct cmd_def *cmd)
{
	if (!atomic_load_explicit(&repl_gate_flags, memory_order_relaxed))
		return NULL;
	return replclient_deny_slow(sh, c, cmd);
}
/* Scripts: may a script write now (false on a read-only replica)? */
bool replclient_script_may_write(const struct shard *sh);

/* Shard loop, once per round on every shard: start-up (shard 0's first
 * call starts the link thread), full-sync loading in time slices, and on
 * shard 0 the master client's input. Returns nonzero if it did work (the
 * loop must not sleep). */
unsigned replclient_poll(struct shard *sh);

/* conn.c, for the master client only (replclient_is_master(c)):
 *  - on_request: a request of `bytes` stream bytes was just parsed (argc
 *    may be 0: an empty line), before it is dispatched;
 *  - write: its output is due: count the replies instead of sending them;
 *    returns false if c was closed;
 *  - defer_close: someone closes it (CLIENT KILL, a protocol error); the
 *    close is taken over (returns true): the link is dropped once the
 *    commands in flight have been applied, and c is closed then (maybe
 *    before this returns). The master client has no socket (fd -1). */
void replclient_on_request(struct shard *sh, struct conn *c, const struct resp_req *req,
			   size_t bytes);
bool replclient_write(struct shard *sh, struct conn *c);
bool replclient_defer_close(struct shard *sh, struct conn *c);
/* CLIENT KILL TYPE master: drop the link to the master (it reconnects with
 * PSYNC). 1 if there was a connected link, else 0. */
long long replclient_kill_master(void);

/* INFO: the body of "# Replication" and the loading flag. Any shard. */
void replclient_info(const struct shard *sh, struct rbuf *out);
bool replclient_loading(void);
/* CONFIG SET was applied to sh's copy of the configuration (every shard
 * calls it; shard 0's copy feeds the link thread: masterauth, masteruser,
 * repl-timeout). */
void replclient_cfg_changed(struct shard *sh);

/* replmaster.c, serving a full sync to a replica of ours while we are a
 * replica ourselves (chains): pause the master client (on: it stops
 * being fed once nothing of it is in flight and it is outside MULTI; off:
 * resume). replclient_cut_paused() is true once paused, with the applied
 * offset (the master's) that our data then equals. Any thread. */
void replclient_cut_pause(bool on);
bool replclient_cut_paused(long long *off);

#endif
