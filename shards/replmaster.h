/* shards/replmaster.h — the master side of Redis replication (private to
 * shards/; implemented in shards/replmaster.c).
 *
 * A replica connects to the client port like any client, sends REPLCONF
 * (options remembered per connection) and PSYNC/SYNC. The handler takes the
 * socket away from the shard (dup, then the shard's copy is closed) and
 * hands it to the master thread, which serves every replica link: the
 * +FULLRESYNC/+CONTINUE line, the RDB of a snapshot taken for the sync, then
 * the merged write stream read from the backlog, and the replicas' REPLCONF
 * ACKs (WAIT, INFO, ROLE).
 *
 * Full sync and the cut. The sync asks snap.c for a background save and
 * arms a barrier: when that snapshot's cut runs (snap_begin, on every shard
 * inside the snapshot's global transaction) each shard puts one empty unit
 * spanning all shards on its record ring, shard 0 with one record in it
 * (PING <40 random hex chars>). The replication thread emits a shard's
 * records after its END only once every shard's END has arrived, so every
 * record made before the cut precedes the marker in the stream and every
 * record made after it follows it. The offset right after the marker is the
 * +FULLRESYNC offset: found by scanning the backlog for the marker.
 *
 * Diskless (repl-diskless-sync yes and REPLCONF capa eof): the replica gets
 * `$EOF:<mark>` and the snapshot's bytes as snap.c writes them (shard 0
 * opens the file being written inside the cut), then the mark; its stream
 * starts on its first REPLCONF ACK. Replicas without capa eof share the
 * same snapshot as `$<len>` once it is complete. With diskless on, a job
 * waits repl-diskless-sync-delay seconds (or for
 * repl-diskless-sync-max-replicas replicas) so that replicas share it.
 *
 * Hooks, each one line marked "master":
 *   snap.c       replmaster_on_cut() in snap_begin, replmaster_snap_done()
 *                in the writer when the file is complete (or failed);
 *   shard.c      replmaster_poll() every loop round (WAIT, stream PINGs);
 *   replclient.c replmaster_replconf() (REPLCONF options), replmaster_role()
 *                and replmaster_info() for a master's ROLE and INFO;
 *   t_server.c   CLIENT KILL TYPE replica|slave: replmaster_kill_by_type();
 *                CLIENT LIST: replmaster_client_list() on shard 0;
 *                CLIENT KILL ID/ADDR/LADDR: replmaster_kill_match() (__kill
 *                on shard 0);
 *                INFO stats: replmaster_info_stats();
 *   route.c      replmaster_refuse_write() in route_dispatch() (NOREPLICAS).
 *
 * Limits (shard 0's config, published each loop round): min-replicas-
 * to-write / min-replicas-max-lag, repl-backlog-ttl, the replica class
 * of client-output-buffer-limit and the repl-diskless-sync directives. */
#ifndef KR_REPLMASTER_H
#define KR_REPLMASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/dataplane.h"
#include "server/server.h"

struct shard;
struct cmd_ctx;
struct conn;
struct cmd_def;

/* Dispatch: with min-replicas-to-write N (and min-replicas-max-lag M > 0)
 * a master refuses write commands with -NOREPLICAS unless N online
 * replicas acknowledged within M seconds (the error written for c unless
 * discard; inside MULTI the transaction is flagged). True if refused. */
bool replmaster_refuse_write_slow(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
				  bool discard);
static inline bool replmaster_refuse_write(const struct cfg *cfg, struct shard *sh,
					   struct conn *c, const struct cmd_def *cmd, bool discard)
{
	if (__builtin_expect(cfg->min_replicas_to_write == 0, 1))
		return false;
	return replmaster_refuse_write_slow(sh, c, cmd, discard);
}

/* snap.c, on shard sh_id's thread inside snapshot gen's cut. */
void replmaster_on_cut(unsigned sh_id, uint64_t gen);
/* snap.c's writer thread: snapshot gen finished; path is the complete
 * file when ok (NULL for a diskless sync's memfd: the descriptor taken at
 * the cut is the file). */
void replmaster_snap_done(uint64_t gen, bool ok, const char *path);
/* snap.c's writer: the replication id and offset of snapshot gen's cut
 * (id: 41 bytes). 1: known; 0: not yet (it will be); -1: gen is not a
 * full sync's snapshot, or its offset cannot be known. */
int replmaster_cut_info(uint64_t gen, char *id, long long *off);

/* Shard loop, every round: WAIT clients of this shard; on shard 0 the
 * stream's keepalive PING. Returns nonzero if it did work. */
unsigned replmaster_poll(struct shard *sh);

/* REPLCONF from a client (its options are kept for its PSYNC). */
void replmaster_replconf(struct cmd_ctx *ctx);
/* ROLE and INFO replication of a master. */
void replmaster_role(struct cmd_ctx *ctx);
/* INFO replication of a master: replclient.c passes the ids it keeps
 * (replid, replid2, the offset reached as a replica, second offset);
 * they also tell this file when a new history starts. sh_id: the
 * calling shard (its records are flushed so the offset counts them). */
void replmaster_info(struct rbuf *out, unsigned sh_id, const char *replid, const char *replid2,
		     long long off, long long second);
/* INFO stats: sync_full, sync_partial_ok, sync_partial_err lines. */
void replmaster_info_stats(struct rbuf *out);
/* CLIENT LIST (shard 0's part): a line per replica link (flags=S) unless
 * the TYPE is not replica/slave; honours ID. */
void replmaster_client_list(struct cmd_ctx *ctx, struct rbuf *out);
/* CLIENT KILL ... TYPE replica|slave: closes every replica link, returns
 * how many (0 for other types). */
long long replmaster_kill_by_type(struct cmd_ctx *ctx);
/* CLIENT KILL ID/ADDR/LADDR (shard 0's part of __kill; "" = no filter,
 * id 0 = any): closes the matching replica links, returns how many. */
long long replmaster_kill_match(uint64_t id, const struct resp_arg *addr,
				const struct resp_arg *laddr);

/* Chains (replclient.c, under its lock). A replica relays its master's
 * stream into its backlog (repl/wstream.h wstream_relay) and serves its own
 * replicas from it with the master's replid and offsets:
 *  - relay_attach: the master client starts at replication offset off of
 *    history replid (full: after loading a full sync, whose data starts a
 *    new backlog; our replicas are dropped then, and when replid changed);
 *  - relay_stop: REPLICAOF host: no relayed stream until the next attach
 *    (our replicas are dropped; PSYNC gets -NOMASTERLINK meanwhile);
 *  - relay_shift: REPLICAOF NO ONE at offset off: replid is new, replid2
 *    the master's, valid up to second; the backlog goes on from the
 *    relayed bytes, so former siblings resume with PSYNC <replid2>.
 * replmaster_offset: the replication offset our stream has reached, if
 * replid is the history this file knows (false otherwise). */
void replmaster_relay_attach(const char *replid, const char *replid2, long long second,
			     long long off, bool full);
void replmaster_relay_stop(void);
void replmaster_relay_shift(const char *replid, const char *replid2, long long second,
			    long long off);
bool replmaster_offset(const char *replid, long long *off);
/* INFO replication of a replica: its replicas (connected_slaves, slaveN)
 * and the backlog lines. */
void replmaster_info_links(struct rbuf *out);
void replmaster_info_backlog(struct rbuf *out, long long backlog_size);

#endif
