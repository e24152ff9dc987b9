/* shards/replmaster.c — the master side of Redis replication: PSYNC/SYNC,
 * full sync from a snapshot, the write stream to replicas, REPLCONF ACK,
 * WAIT, and the master's ROLE/INFO. replmaster.h has the design (the cut
 * and its barrier); the notes here are about threads and buffers.
 *
 * Threads. PSYNC runs on the replica connection's shard: it decides
 * between a partial and a full resync, dups the socket and queues a new
 * link for the master thread ("kr-replm"), then closes the shard's copy.
 * The master thread owns every link: it polls their sockets (a few ms
 * while replicas are online, since the stream has no wake-up of its own),
 * pulls stream bytes from the backlog into each link's buffer, sends, and
 * reads ACKs. Everything it shares with shards (the link list, the sync
 * job) is under rm.mu, held for short, non-blocking steps only.
 *
 * Buffers. A link pulls the stream from its start offset into its own
 * buffer (bounded: RM_PULL_MAX while online, RM_PENDING_MAX while its RDB
 * is on its way, like Redis's replica output buffer), so the backlog only
 * has to hold what arrives between two passes. A link whose next byte has
 * left the backlog is dropped (the replica will resync).
 *
 * Identity. The replid, replid2 and second offset are replclient.c's (it
 * shifts them on REPLICAOF NO ONE, as Redis does); replclient_info() hands
 * them to replmaster_info(). A new replid starts a new history: its
 * replication offset base_off (the offset reached as a replica, 0 at
 * start) is stream offset base_ws. Replicas see replication offsets;
 * inside (backlog, ACKs, WAIT) everything is a stream offset.
 *
 * Chains. On a replica the backlog holds its master's bytes (relayed by
 * replclient.c as they are applied), and replclient.c sets the identity
 * and the base directly (replmaster_relay_attach/_stop/_shift): our
 * replicas get the master's replid and offsets. A promotion keeps the
 * base, so replid2's history up to second_repl_offset resumes too. A
 * replica's full sync pauses the master client for its cut (JOB_PAUSING)
 * instead of putting a marker in the stream.
 *
 * WAIT. The client's shard keeps it; its target is the stream offset
 * once every record made before it has been emitted (each shard's
 * wstream_durable() reached its wstream_recorded() at WAIT time), which
 * covers the client's last write. The thread publishes the online links'
 * ACK offsets (atomics) after every pass and wakes the shards with WAIT
 * clients; a WAIT puts REPLCONF GETACK * in the stream (unless the AOF
 * takes the stream too) so replicas answer at once. */
#include "shards/replmaster.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repl/repl_int.h"
#include "repl/wstream.h"
#include "server/server.h"
#include "shards/cmd.h"
#include "shards/replclient.h"
#include "shards/shard_int.h"
#include "shards/snap.h"

#define RM_REPLID_LEN 40
#define RM_PULL_MAX (64ull * 1024 * 1024)      /* online, no limit set: bytes buffered */
#define RM_PENDING_MAX (256ull * 1024 * 1024)  /* same during the RDB transfer */
#define RM_CHUNK (64 * 1024)
#define RM_PRE_MAX 64                          /* REPLCONF options remembered */
#define RM_PING_MS 10000                       /* repl-ping-replica-period */

cmd_fn cmd_bgsave;

/* A link's states, in order. Disk-based: WAIT_CUT, WAIT_RDB (the file
 * is being written), SEND_RDB, ONLINE. Diskless ($EOF: framing): WAIT_CUT,
 * SEND_EOF (the snapshot's bytes as they are produced, then the mark),
 * WAIT_ACK (the replica loads; the stream starts on its first ACK, as
 * Redis does: bytes after the mark could be read into its RDB), ONLINE. */
enum { LK_WAIT_CUT, LK_WAIT_RDB, LK_SEND_RDB, LK_SEND_EOF, LK_WAIT_ACK, LK_ONLINE };
enum { JOB_IDLE, JOB_ARMED, JOB_CUT, JOB_READY, JOB_FAILED, JOB_PAUSING };

/* REPLCONF options of a connection that has not sent PSYNC yet. */
struct rm_pre {
	uint64_t cid;
	int port;
	char ip[46];
	bool psync2;
	bool capa_eof;
};

struct rm_link {
	struct rm_link *next;
	int fd;
	uint64_t id;                  /* the client id it had (CLIENT LIST) */
	char ip[64];
	int port;
	char peer[64], local[64];     /* addr= and laddr= */
	int64_t ctime_ms;
	int state;
	bool old_sync;                /* SYNC: no +FULLRESYNC line */
	bool psync2;
	bool capa_eof;                /* REPLCONF capa eof: $EOF: framing accepted */
	bool diskless;                /* this link's full sync uses it */
	char eof_mark[RM_REPLID_LEN + 1];
	bool dead;
	uint64_t job;                 /* full sync: the job it belongs to */
	/* output: protocol lines and RDB bytes first (out), then the stream */
	struct rbuf out;
	size_t out_sent;
	long long rdb_sent, rdb_size;
	uint64_t pull_off;            /* next stream offset to pull */
	struct rbuf sbuf;             /* pulled stream bytes not yet sent */
	size_t sbuf_sent;
	bool have_off;
	struct rbuf in;
	_Atomic long long ack_off;    /* stream offset acknowledged */
	_Atomic int64_t ack_ms;
	int64_t last_nl_ms;
	int64_t soft_since_ms;        /* over the soft output limit since; 0: not */
};

/* A WAIT client on its shard. */
struct rm_wait {
	struct rm_wait *next;
	struct conn *c;
	struct pend *pend;
	long long num;
	int64_t deadline_ms;          /* 0: forever */
	uint64_t recorded[SHARD_MAX]; /* each shard's records at WAIT time */
	bool have_target;
	uint64_t target;
};

static struct {
	pthread_once_t once;
	pthread_mutex_t mu;
	int efd;
	char replid[RM_REPLID_LEN + 1];
	struct rm_link *links;        /* under mu; I/O by the thread only */
	struct rm_link *incoming;     /* queued by PSYNC handlers */
	bool kill_all;
	_Atomic unsigned nlinks;      /* links and incoming */
	struct rm_pre pre[RM_PRE_MAX];
	unsigned pre_next;
	/* The full sync job (under mu). */
	int job_state;
	uint64_t job_id;              /* increments per job */
	uint64_t job_gen;             /* snapshot generation of its cut */
	uint64_t job_armed_off;       /* stream offset when armed */
	uint64_t job_scan_off;        /* marker scan position */
	uint64_t job_cut_off;
	bool job_have_off;
	char job_marker[RM_REPLID_LEN + 1];
	int job_fd;                   /* the RDB file (complete: JOB_READY) */
	int job_live_fd;              /* the snapshot's file while it is written */
	bool job_live_failed;         /* ... could not be opened at the cut */
	bool job_diskless;            /* its file is a memfd (snap_request_sync) */
	long long job_size;
	unsigned job_users;
	int64_t job_bgsave_ms;        /* last BGSAVE request */
	/* A replica's job (chains): no marker may enter the relayed
	 * stream, so the snapshot is taken while the master client is
	 * paused (PAUSING until replclient.c reports it), and its offset is
	 * the applied one then (job_relay_off, a replication offset). */
	bool job_relay;
	long long job_relay_off;
	unsigned cut_seen;            /* shards that ran the job's cut */
	/* Cut decisions, per snapshot generation (any shard). */
	uint64_t cut_gen;
	bool cut_use;
	int64_t job_armed_ms;
	/* Shard 0: last keepalive PING. */
	int64_t last_ping_ms;
	_Atomic int timeout_s;        /* repl-timeout, from shard 0's cfg */
	/* repl-diskless-sync, -delay (s), -max-replicas, from shard 0's cfg */
	_Atomic bool diskless;
	_Atomic int diskless_delay_s, diskless_max;
	/* The identity replclient.c keeps (replid, replid2, second offset)
	 * and where this master's history starts: replication offset
	 * base_off is stream offset base_ws (both taken when the replid was
	 * first seen). Replicas see replication offsets; everything inside
	 * (backlog, ACKs, WAIT) uses stream offsets. */
	char replid2[RM_REPLID_LEN + 1];
	long long second_off;
	long long base_off;
	uint64_t base_ws;
	bool have_base;
	/* We are a replica relaying our master's stream (chains): replid is
	 * the master's, the backlog holds its bytes from base_ws on. */
	bool relay;
	/* ACK offsets of online links, published after every pass so WAIT
	 * reads them without the lock (a shard never waits for the thread). */
	_Atomic unsigned pub_n;
	_Atomic long long pub_ack[64];
	_Atomic int64_t pub_ack_ms[64];   /* their last ACK (min-replicas-max-lag) */
	/* Limits from shard 0's cfg (replmaster_poll), Redis's defaults until
	 * its first round. */
	_Atomic int min_write, max_lag_s, backlog_ttl_s;
	_Atomic long long obl_hard, obl_soft, obl_soft_s, backlog_size;
	/* repl-backlog-ttl: no link since no_links_ms (0: some link); the
	 * backlog is released (inactive, no partial resync below floor_ws)
	 * until the next replica. */
	int64_t no_links_ms;
	bool released;
	uint64_t floor_ws;
	/* INFO stats */
	_Atomic long long sync_full, sync_partial_ok, sync_partial_err;
} rm = {
	.once = PTHREAD_ONCE_INIT,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.efd = -1,
	.job_fd = -1,
	.job_live_fd = -1,
	.timeout_s = 60,
	.diskless = true,
	.diskless_delay_s = 5,
	.max_lag_s = 10,
	.backlog_ttl_s = 3600,
	.obl_hard = 256ll * 1024 * 1024,
	.obl_soft = 64ll * 1024 * 1024,
	.obl_soft_s = 60,
};

/* Each shard's WAIT clients (its thread only). */
static struct rm_wait *g_waits[SHARD_MAX];
static _Atomic unsigned g_nwaits;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, b, n) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)n) {
		/* No urandom: time and address entropy is enough for an id. */
		uint64_t x = (uint64_t)mono_ms() ^ (uint64_t)(uintptr_t)out ^ (uint64_t)getpid() << 32;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[i] = (unsigned char)x;
		}
	}
	for (size_t i = 0; i < n; i++)
		out[i] = hex[b[i] & 15];
	out[n] = '\0';
}

static void *rm_main(void *arg);

static void rm_init(void)
{
	rm.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, rm_main, NULL) != 0)
		abort();   /* start-up of a needed thread: nothing sensible to do */
	pthread_attr_destroy(&attr);
}

static void rm_kick(void)
{
	uint64_t one = 1;
	if (rm.efd >= 0)
		(void)!write(rm.efd, &one, sizeof(one));
}

/* replmaster_info() called by replclient_info() only to learn the ids. */
static _Thread_local bool rm_capture;
static _Thread_local bool rm_changed;

/* Under mu: the ids replclient.c reports; a new replid starts a new
 * history here (links of the old one are dropped). */
static bool identity_update(const char *replid, const char *replid2, long long off,
			    long long second)
{
	if (!strcmp(replid, rm.replid))
		return false;
	snprintf(rm.replid, sizeof(rm.replid), "%s", replid);
	snprintf(rm.replid2, sizeof(rm.replid2), "%s", replid2);
	rm.second_off = second;
	rm.base_off = off;
	rm.base_ws = wstream_offset();
	rm.have_base = true;
	rm.kill_all = rm.links || rm.incoming;
	return true;
}

/* Refresh the ids from replclient.c (a master's INFO branch reports
 * them); the first use starts the thread. Returns true if they changed. */
static bool rm_identity(const struct shard *sh)
{
	pthread_once(&rm.once, rm_init);
	struct rbuf scratch = {0};
	rm_capture = true;
	rm_changed = false;
	replclient_info(sh, &scratch);
	rm_capture = false;
	rbuf_free(&scratch);
	return rm_changed;
}

/* Stream offset <-> replication offset (under mu, or racy reads of
 * values that only change while no replica is linked). */
static long long to_repl(uint64_t ws)
{
	return rm.base_off + (long long)(ws - rm.base_ws);
}

static bool to_ws(long long repl, uint64_t *ws)
{
	if (repl < rm.base_off)
		return false;
	*ws = rm.base_ws + (uint64_t)(repl - rm.base_off);
	return true;
}

/* The replid, copied into out (41 bytes). */
static void rm_replid(const struct shard *sh, char *out)
{
	rm_identity(sh);
	pthread_mutex_lock(&rm.mu);
	memcpy(out, rm.replid, RM_REPLID_LEN + 1);
	pthread_mutex_unlock(&rm.mu);
}

/* Records must be built while replicas exist (the AOF may be off). */
static void rm_stream_on(void)
{
	if (!wstream_enabled() && !wstream_loading())
		ws_set_state(WS_ON);
}

/* ------------------------------------------------------------ the cut */

/* Shard 0, inside the cut of the job's snapshot: open the file snap.c is
 * writing (dir/temp-<pid>.rdb, created before the cut; shard 0's part,
 * and so the rename, cannot end before this returns). Diskless links
 * stream from it as it grows, and it is the job's file once complete
 * (the fd follows the rename). */
static void open_live_file(uint64_t gen)
{
	pthread_mutex_lock(&rm.mu);
	bool mem = rm.job_diskless;
	pthread_mutex_unlock(&rm.mu);
	int fd;
	char path[4096];
	if (mem) {
		fd = snap_sync_fd(gen);
		if (fd < 0)
			srv_log(LL_WARNING, "Replication: cannot take the diskless snapshot's file: %s",
				strerror(errno));
	} else {
		const struct cfg *cfg = g_shards[0]->cfg;
		snprintf(path, sizeof(path), "%s/temp-%ld.rdb",
			 cfg->dir && cfg->dir[0] ? cfg->dir : ".", (long)getpid());
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			srv_log(LL_WARNING, "Replication: cannot open the snapshot being written (%s): %s",
				path, strerror(errno));
	}
	pthread_mutex_lock(&rm.mu);
	if (rm.job_live_fd >= 0)
		close(rm.job_live_fd);
	rm.job_live_fd = fd;
	rm.job_live_failed = fd < 0;
	pthread_mutex_unlock(&rm.mu);
}

void replmaster_on_cut(unsigned sh_id, uint64_t gen)
{
	pthread_mutex_lock(&rm.mu);
	if (rm.cut_gen != gen) {
		/* The first shard of this cut decides for all of them: no
		 * other cut can start before every shard has run this one. */
		rm.cut_gen = gen;
		rm.cut_use = rm.job_state == JOB_ARMED;
		rm.cut_seen = 0;
		if (rm.cut_use) {
			rm.job_state = JOB_CUT;
			rm.job_gen = gen;
		}
		if (rm.cut_use && rm.job_relay) {
			/* The master client is paused: the data is the
			 * master's at job_relay_off. */
			uint64_t ws;
			if (rm.relay && to_ws(rm.job_relay_off, &ws)) {
				rm.job_cut_off = ws;
				rm.job_have_off = true;
			} else {
				rm.job_state = JOB_FAILED;
			}
		}
	}
	bool use = rm.cut_use, relay = rm.job_relay;
	unsigned seen = use ? ++rm.cut_seen : 0;
	char marker[RM_REPLID_LEN + 1];
	memcpy(marker, rm.job_marker, sizeof(marker));
	pthread_mutex_unlock(&rm.mu);
	if (!use)
		return;
	if (sh_id == 0)
		open_live_file(gen);
	if (relay) {
		/* Every shard has cut: the master client may go on. */
		if (seen == g_nshards)
			replclient_cut_pause(false);
		return;
	}
	/* An empty unit over every shard: the barrier (see replmaster.h). A
	 * shard already inside a unit (one the cut's own transaction opened
	 * over every shard) is in a barrier already. */
	uint64_t id = (1ull << 63) | gen;
	bool own = !wstream_in_txn(sh_id);
	if (own)
		wstream_txn_begin(sh_id, id, g_nshards);
	if (sh_id == 0) {
		const char *argv[2] = { "PING", marker };
		size_t lens[2] = { 4, RM_REPLID_LEN };
		wstream_record(0, 0, 2, argv, lens);
	}
	if (own)
		wstream_txn_end(sh_id, id);
	wstream_flush(sh_id);
}

int replmaster_cut_info(uint64_t gen, char *id, long long *off)
{
	int k;
	pthread_mutex_lock(&rm.mu);
	if (rm.job_gen != gen || (rm.job_state != JOB_CUT && rm.job_state != JOB_READY)) {
		k = -1;
	} else if (!rm.job_have_off) {
		k = 0;
	} else {
		memcpy(id, rm.replid, RM_REPLID_LEN + 1);
		*off = to_repl(rm.job_cut_off);
		k = 1;
	}
	pthread_mutex_unlock(&rm.mu);
	return k;
}

void replmaster_snap_done(uint64_t gen, bool ok, const char *path)
{
	pthread_mutex_lock(&rm.mu);
	if (rm.job_gen == gen && (rm.job_state == JOB_CUT)) {
		/* The file opened at the cut is this one (renamed since). */
		int fd = rm.job_live_fd;
		rm.job_live_fd = -1;
		if (fd < 0 && ok && path) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
		} else if (fd >= 0 && !ok) {
			close(fd);
			fd = -1;
		}
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0) {
			rm.job_fd = fd;
			rm.job_size = (long long)st.st_size;
			rm.job_state = JOB_READY;
		} else {
			if (fd >= 0)
				close(fd);
			rm.job_state = JOB_FAILED;
			srv_log(LL_WARNING, "Replication: the snapshot for a full sync failed");
		}
	}
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
}

/* Under mu: ask for a snapshot whose cut carries the barrier. BGSAVE
 * flagged as inside MULTI only schedules it (shard 0's cron starts it), so
 * no shard-side state is touched here. Returns true once scheduled. */
static bool job_request_bgsave(void)
{
	struct rbuf out = {0};
	struct resp_arg av[1] = { { "BGSAVE", 6 } };
	struct cmd_ctx ctx = { .argc = 1, .argv = av, .out = &out, .in_multi = true, .proto = 2 };
	cmd_bgsave(&ctx);
	bool ok = out.len && out.data[0] == '+';
	rbuf_free(&out);
	return ok;
}

/* Under mu: start a job if links wait for one and none runs. */
static void job_maybe_start(int64_t now)
{
	/* ARMED: scheduled; shard 0's cron starts it once no other snapshot
	 * runs, and its cut (or any earlier one after arming) is ours. A cut
	 * that never comes (the snapshot could not start: logged by snap.c)
	 * fails the job; its replicas reconnect and try again. */
	if (rm.job_state == JOB_ARMED && now - rm.job_armed_ms > 10000) {
		srv_log(LL_WARNING, "Replication: the snapshot for a full sync did not start");
		rm.job_state = JOB_FAILED;
		if (rm.job_relay)
			replclient_cut_pause(false);
		return;
	}
	long long paused_off = 0;
	if (rm.job_state == JOB_PAUSING) {
		/* Links are not assigned yet: giving up leaves them waiting
		 * for the next attempt. */
		if (!rm.relay || now - rm.job_armed_ms > 10000) {
			if (rm.relay)
				srv_log(LL_WARNING, "Replication: the master client could not be paused "
					"for a full sync; retrying");
			replclient_cut_pause(false);
			rm.job_state = JOB_IDLE;
			return;
		}
		if (!replclient_cut_paused(&paused_off))
			return;
	} else if (rm.job_state != JOB_IDLE) {
		return;
	}
	/* As Redis: with repl-diskless-sync the snapshot waits until the
	 * longest-waiting replica has waited repl-diskless-sync-delay seconds
	 * (or repl-diskless-sync-max-replicas wait), so replicas arriving
	 * together share it. */
	bool diskless = atomic_load(&rm.diskless);
	int64_t max_wait = -1;
	int waiting = 0;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->state == LK_WAIT_CUT && l->job == 0) {
			waiting++;
			if (now - l->ctime_ms > max_wait)
				max_wait = now - l->ctime_ms;
		}
	if (!waiting) {
		if (rm.job_state == JOB_PAUSING) {
			replclient_cut_pause(false);
			rm.job_state = JOB_IDLE;
		}
		return;
	}
	int max_replicas = atomic_load(&rm.diskless_max);
	if (rm.job_state == JOB_IDLE) {
		if (diskless && max_wait < (int64_t)atomic_load(&rm.diskless_delay_s) * 1000 &&
		    !(max_replicas > 0 && waiting >= max_replicas))
			return;
		if (now - rm.job_bgsave_ms < 100)
			return;
		if (rm.relay) {
			/* A replica: first pause the master client. */
			rm.job_state = JOB_PAUSING;
			rm.job_armed_ms = now;
			replclient_cut_pause(true);
			return;
		}
	}
	rm.job_relay = rm.job_state == JOB_PAUSING;
	rm.job_relay_off = paused_off;
	rm.job_bgsave_ms = now;
	if (!rm.job_relay)
		rm_stream_on();
	random_hex(rm.job_marker, RM_REPLID_LEN);
	rm.job_armed_off = wstream_offset();
	rm.job_scan_off = rm.job_armed_off;
	rm.job_have_off = false;
	/* As Redis: the snapshot goes to the replicas' sockets only when every
	 * replica it is for takes the $EOF: form; otherwise it is a BGSAVE to
	 * disk that they all read once complete. */
	bool all_eof = true;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->state == LK_WAIT_CUT && l->job == 0 && !l->capa_eof)
			all_eof = false;
	rm.job_diskless = diskless && all_eof;
	snap_sync_consumed(0);
	/* Armed before the request: its cut cannot come earlier. */
	rm.job_state = JOB_ARMED;
	rm.job_armed_ms = now;
	if (!(rm.job_diskless ? snap_request_sync() : job_request_bgsave())) {
		rm.job_state = JOB_IDLE;   /* a snapshot runs: try again later */
		if (rm.job_relay)
			replclient_cut_pause(false);
		return;
	}
	rm.job_id++;
	bool any_socket = false;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->state == LK_WAIT_CUT && l->job == 0) {
			l->job = rm.job_id;
			/* Replicas without capa eof take the same snapshot once
			 * its file is complete. */
			l->diskless = rm.job_diskless;
			any_socket |= l->diskless;
		}
	srv_log(LL_NOTICE, "Starting BGSAVE for SYNC with target: %s",
		any_socket ? "replicas sockets" : "disk");
	if (rm.job_relay)
		srv_log(LL_NOTICE, "Replica chain: the snapshot is our master's data at offset %lld "
			"(its stream paused until the cut)", rm.job_relay_off);
}

/* Under mu: look for the marker in the backlog; sets job_cut_off. */
static void job_scan(void)
{
	if (rm.job_have_off || (rm.job_state != JOB_CUT && rm.job_state != JOB_READY))
		return;
	char pat[RM_REPLID_LEN + 2];
	memcpy(pat, rm.job_marker, RM_REPLID_LEN);
	pat[RM_REPLID_LEN] = '\r';
	pat[RM_REPLID_LEN + 1] = '\n';
	static char buf[RM_CHUNK + sizeof(pat)];
	for (;;) {
		long n = wstream_backlog_read(rm.job_scan_off, buf, sizeof(buf));
		if (n < 0) {
			srv_log(LL_WARNING, "Replication: the backlog lost the full sync's cut; retrying");
			rm.job_state = JOB_FAILED;
			return;
		}
		if ((size_t)n < sizeof(pat))
			return;
		char *hit = memmem(buf, (size_t)n, pat, sizeof(pat));
		if (hit) {
			rm.job_cut_off = rm.job_scan_off + (uint64_t)(hit - buf) + sizeof(pat);
			rm.job_have_off = true;
			return;
		}
		rm.job_scan_off += (uint64_t)n - (sizeof(pat) - 1);
	}
}

/* --------------------------------------------------------- the links */

static void link_free(struct rm_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	rbuf_free(&l->out);
	rbuf_free(&l->sbuf);
	rbuf_free(&l->in);
	free(l);
}

static void link_drop(struct rm_link *l, const char *why)
{
	if (!l->dead)
		srv_log(LL_NOTICE, "Connection with replica %s:%d lost (%s)", l->ip, l->port, why);
	l->dead = true;
}

/* One command of a replica: REPLCONF ACK <off> [FACK <off>] counts; others
 * are ignored, as Redis ignores a replica's other replies. */
static void link_command(struct rm_link *l, long argc, char args[][32], int64_t now)
{
	if (argc >= 3 && !strcasecmp(args[0], "replconf") && !strcasecmp(args[1], "ack")) {
		uint64_t ws;
		if (to_ws(strtoll(args[2], NULL, 10), &ws) &&
		    (long long)ws > atomic_load(&l->ack_off))
			atomic_store(&l->ack_off, (long long)ws);
		atomic_store(&l->ack_ms, now);
		if (l->state == LK_WAIT_ACK) {
			l->state = LK_ONLINE;
			srv_log(LL_NOTICE, "Synchronization with replica %s:%d succeeded",
				l->ip, l->port);
		}
	}
}

/* An inline command (a line of words; an empty one is a keepalive). */
static void link_inline(struct rm_link *l, const char *p, const char *nl, int64_t now)
{
	char args[16][32];
	long argc = 0;
	while (p < nl && argc < 16) {
		while (p < nl && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		const char *w = p;
		while (p < nl && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (p == w)
			break;
		size_t c = (size_t)(p - w) < sizeof(args[0]) - 1 ? (size_t)(p - w) : sizeof(args[0]) - 1;
		memcpy(args[argc], w, c);
		args[argc++][c] = '\0';
	}
	if (argc)
		link_command(l, argc, args, now);
}

/* Parse what a replica sends, RESP arrays or inline lines. */
static void link_parse(struct rm_link *l, int64_t now)
{
	size_t pos = 0;
	while (pos < l->in.len) {
		const char *p = l->in.data + pos, *end = l->in.data + l->in.len;
		if (*p != '*') {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			link_inline(l, p, nl, now);
			pos += (size_t)(nl - p) + 1;
			continue;
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		long argc = strtol(p + 1, NULL, 10);
		if (argc < 0 || argc > 16) {
			link_drop(l, "protocol error");
			return;
		}
		const char *q = nl + 1;
		char args[16][32];
		bool ok = true;
		for (long i = 0; i < argc; i++) {
			if (q >= end || *q != '$') {
				ok = false;
				break;
			}
			const char *e = memchr(q, '\n', (size_t)(end - q));
			if (!e) {
				ok = false;
				break;
			}
			long len = strtol(q + 1, NULL, 10);
			if (len < 0 || len > 1024) {
				link_drop(l, "protocol error");
				return;
			}
			q = e + 1;
			if (end - q < len + 2) {
				ok = false;
				break;
			}
			size_t c = (size_t)len < sizeof(args[i]) - 1 ? (size_t)len : sizeof(args[i]) - 1;
			memcpy(args[i], q, c);
			args[i][c] = '\0';
			q += len + 2;
		}
		if (!ok)
			break;   /* incomplete */
		pos = (size_t)(q - l->in.data);
		link_command(l, argc, args, now);
	}
	rbuf_consume(&l->in, pos);
}

static void link_read(struct rm_link *l, int64_t now)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(l->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			rbuf_append(&l->in, buf, (size_t)n);
			if (l->in.len > 1024 * 1024) {
				link_drop(l, "input too large");
				return;
			}
			continue;
		}
		if (n == 0) {
			link_drop(l, "closed by the replica");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			link_drop(l, strerror(errno));
		break;
	}
	link_parse(l, now);
}

/* Send from buf[*sent..len); false when the socket is full or failed. */
static bool send_some(struct rm_link *l, struct rbuf *b, size_t *sent)
{
	while (*sent < b->len) {
		ssize_t n = send(l->fd, b->data + *sent, b->len - *sent, MSG_NOSIGNAL);
		if (n > 0) {
			*sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			link_drop(l, strerror(errno));
		return false;
	}
	b->len = 0;
	*sent = 0;
	return true;
}

/* The replica class's hard limit as Redis 7 applies it: never below
 * repl-backlog-size (a smaller one would cut a partial resync that the
 * backlog allows). 0: none. */
static unsigned long long obl_hard(void)
{
	long long hard = atomic_load(&rm.obl_hard), backlog = atomic_load(&rm.backlog_size);
	return (unsigned long long)(hard && hard < backlog ? backlog : hard);
}

/* Pull stream bytes for l from the backlog (under mu). */
static void link_pull(struct rm_link *l)
{
	if (!l->have_off)
		return;
	if (l->sbuf_sent > RM_CHUNK * 16 && l->sbuf_sent > l->sbuf.len / 2) {
		rbuf_consume(&l->sbuf, l->sbuf_sent);   /* a replica always a bit behind */
		l->sbuf_sent = 0;
	}
	/* client-output-buffer-limit replica: the pulled, unsent stream is
	 * this link's output buffer (pulling one byte over the hard limit is
	 * enough to see it). Without a limit the pull stops at a bound and
	 * the rest waits in the backlog. */
	unsigned long long hard = obl_hard();
	unsigned long long soft = (unsigned long long)atomic_load(&rm.obl_soft);
	unsigned long long limit = l->state == LK_ONLINE ? RM_PULL_MAX : RM_PENDING_MAX;
	if (hard)
		limit = hard + 1;
	else if (soft && soft + 1 > limit)
		limit = soft + 1;
	while (l->sbuf.len - l->sbuf_sent < limit) {
		rbuf_reserve(&l->sbuf, RM_CHUNK);
		long n = wstream_backlog_read(l->pull_off, l->sbuf.data + l->sbuf.len, RM_CHUNK);
		if (n < 0) {
			link_drop(l, "its offset left the backlog");
			return;
		}
		if (n == 0)
			return;
		l->sbuf.len += (size_t)n;
		l->pull_off += (uint64_t)n;
	}
}

/* Close l if its output buffer is over the replica class's hard limit, or
 * over the soft one for longer than soft-seconds (as Redis: the first time
 * over only starts the clock). */
static void link_check_limits(struct rm_link *l, int64_t now)
{
	unsigned long long hard = obl_hard();
	unsigned long long soft = (unsigned long long)atomic_load(&rm.obl_soft);
	long long soft_s = atomic_load(&rm.obl_soft_s);
	unsigned long long used = l->sbuf.len - l->sbuf_sent;
	bool over = hard && used > hard;
	if (soft && used > soft) {
		if (!l->soft_since_ms)
			l->soft_since_ms = now ? now : 1;
		else if (now - l->soft_since_ms > soft_s * 1000)
			over = true;
	} else {
		l->soft_since_ms = 0;
	}
	if (!over)
		return;
	srv_log(LL_WARNING, "Client id=%llu addr=%s laddr=%s fd=%d name= flags=S omem=%llu "
		"scheduled to be closed ASAP for overcoming of output buffer limits.",
		(unsigned long long)l->id, l->peer, l->local, l->fd, used);
	link_drop(l, "output buffer limit");
}

/* A diskless link: the snapshot's bytes as snap.c writes them (at most
 * 1 MiB a pass, so the lock is held briefly), then the mark. */
static void link_send_eof(struct rm_link *l, int64_t now)
{
	if (rm.job_state == JOB_FAILED || (rm.job_state == JOB_CUT && rm.job_live_failed)) {
		link_drop(l, "full sync failed");
		return;
	}
	int fd = rm.job_state == JOB_READY ? rm.job_fd : rm.job_live_fd;
	if (fd < 0)
		return;   /* the cut has not opened it yet */
	if (!send_some(l, &l->out, &l->out_sent))
		return;
	for (int chunks = 0; chunks < 16; chunks++) {
		char buf[RM_CHUNK];
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)l->rdb_sent);
		if (n < 0) {
			link_drop(l, "cannot read the snapshot");
			return;
		}
		if (n == 0) {
			/* Everything written so far is sent: done only once the
			 * file is complete (READY reads the same file). */
			if (rm.job_state != JOB_READY || l->rdb_sent < rm.job_size)
				return;
			rbuf_append(&l->out, l->eof_mark, RM_REPLID_LEN);
			l->state = LK_WAIT_ACK;
			l->last_nl_ms = now;
			srv_log(LL_NOTICE, "Streamed RDB transfer with replica %s:%d succeeded "
				"(%lld bytes); waiting for its REPLCONF ACK to start the stream",
				l->ip, l->port, l->rdb_sent);
			send_some(l, &l->out, &l->out_sent);
			return;
		}
		rbuf_append(&l->out, buf, (size_t)n);
		l->rdb_sent += n;
		if (!send_some(l, &l->out, &l->out_sent))
			return;
	}
}

static void link_step_io(struct rm_link *l, int64_t now)
{
	if (l->dead)
		return;
	if (l->state == LK_WAIT_CUT && l->job == rm.job_id && l->job) {
		if (rm.job_state == JOB_FAILED) {
			link_drop(l, "full sync failed");
			return;
		}
		if (rm.job_have_off) {
			char line[128];
			int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %lld\r\n", rm.replid,
					 to_repl(rm.job_cut_off));
			if (!l->old_sync)
				rbuf_append(&l->out, line, (size_t)n);
			l->pull_off = rm.job_cut_off;
			l->have_off = true;
			l->state = LK_WAIT_RDB;
			l->last_nl_ms = now;
			if (l->diskless) {
				random_hex(l->eof_mark, RM_REPLID_LEN);
				n = snprintf(line, sizeof(line), "$EOF:%s\r\n", l->eof_mark);
				rbuf_append(&l->out, line, (size_t)n);
				l->rdb_sent = 0;
				l->state = LK_SEND_EOF;
				srv_log(LL_NOTICE, "Synchronization with replica %s:%d: streaming the "
					"snapshot (diskless)", l->ip, l->port);
			}
		}
	}
	if (l->state == LK_SEND_EOF) {
		link_send_eof(l, now);
		if (l->dead)
			return;
	}
	if (l->state == LK_WAIT_ACK) {
		/* No ACK (the replica never finished loading) within
		 * repl-timeout: as Redis, the link is dropped. */
		if (now - l->last_nl_ms > (int64_t)atomic_load(&rm.timeout_s) * 1000) {
			link_drop(l, "timeout: no ACK after the diskless transfer");
			return;
		}
	}
	if (l->state == LK_WAIT_RDB && rm.job_state == JOB_READY && l->job == rm.job_id) {
		char hdr[64];
		int n = snprintf(hdr, sizeof(hdr), "$%lld\r\n", rm.job_size);
		rbuf_append(&l->out, hdr, (size_t)n);
		l->rdb_size = rm.job_size;
		l->rdb_sent = 0;
		l->state = LK_SEND_RDB;
		srv_log(LL_NOTICE, "Synchronization with replica %s:%d: sending the RDB (%lld bytes)",
			l->ip, l->port, rm.job_size);
	} else if (l->state == LK_WAIT_RDB && rm.job_state == JOB_FAILED) {
		link_drop(l, "full sync failed");
		return;
	}
	if (l->state == LK_WAIT_RDB && now - l->last_nl_ms >= 1000 && !l->old_sync) {
		rbuf_append(&l->out, "\n", 1);   /* keepalive while the RDB is made */
		l->last_nl_ms = now;
	}
	link_pull(l);
	if (l->dead)
		return;
	if (!send_some(l, &l->out, &l->out_sent))
		return;
	/* At most 1 MiB of the file per pass, so the lock is held briefly. */
	for (int chunks = 0; l->state == LK_SEND_RDB && chunks < 16; chunks++) {
		if (l->rdb_sent == l->rdb_size) {
			l->state = LK_ONLINE;
			atomic_store(&l->ack_ms, now);
			srv_log(LL_NOTICE, "Synchronization with replica %s:%d succeeded", l->ip, l->port);
			break;
		}
		char buf[RM_CHUNK];
		long long want = l->rdb_size - l->rdb_sent;
		ssize_t n = pread(rm.job_fd, buf, want < RM_CHUNK ? (size_t)want : RM_CHUNK,
				  (off_t)l->rdb_sent);
		if (n <= 0) {
			link_drop(l, "cannot read the RDB file");
			return;
		}
		rbuf_append(&l->out, buf, (size_t)n);
		l->rdb_sent += n;
		if (!send_some(l, &l->out, &l->out_sent))
			return;
	}
	if (l->state == LK_ONLINE) {
		int64_t limit_ms = (int64_t)atomic_load(&rm.timeout_s) * 1000;
		if (now - atomic_load(&l->ack_ms) > limit_ms) {
			link_drop(l, "timeout: no ACK within repl-timeout");
			return;
		}
		send_some(l, &l->sbuf, &l->sbuf_sent);
		link_pull(l);
		if (!l->dead)
			send_some(l, &l->sbuf, &l->sbuf_sent);
	}
}

/* One pass over l; its output limits are checked after its sends (what
 * the socket took is not buffered here). */
static void link_step(struct rm_link *l, int64_t now)
{
	link_step_io(l, now);
	if (!l->dead)
		link_check_limits(l, now);
}

/* Under mu: the online links' ACK offsets and times, for WAIT and
 * min-replicas-to-write (read without the lock). */
static void publish_acks(void)
{
	unsigned np = 0;
	for (struct rm_link *l = rm.links; l && np < 64; l = l->next)
		if (!l->dead && l->state == LK_ONLINE) {
			atomic_store(&rm.pub_ack_ms[np], atomic_load(&l->ack_ms));
			atomic_store(&rm.pub_ack[np++], atomic_load(&l->ack_off));
		}
	atomic_store(&rm.pub_n, np);
}

/* Under mu: repl-backlog-ttl. As Redis, the backlog is freed once no
 * replica has been connected for that long: its memory goes back
 * (wstream_backlog_release), INFO says repl_backlog_active:0, and no
 * partial resync reaches before it. The next replica starts a new one. */
static void backlog_ttl_check(int64_t now)
{
	if (rm.links || rm.incoming || rm.relay) {
		/* (A replica keeps its backlog, as Redis's do.) */
		rm.no_links_ms = 0;
		return;
	}
	if (!rm.no_links_ms) {
		rm.no_links_ms = now ? now : 1;
		return;
	}
	int ttl = atomic_load(&rm.backlog_ttl_s);
	if (rm.released || !ttl || now - rm.no_links_ms < (int64_t)ttl * 1000 ||
	    !wstream_enabled())
		return;
	rm.released = true;
	rm.floor_ws = wstream_offset();
	wstream_backlog_release(true);
	srv_log(LL_NOTICE, "Replication backlog freed after %d seconds without connected replicas.",
		ttl);
}

/* Under mu: what every replica of a diskless job has taken of its memfd
 * (snap.c frees the memory below it and stays within a window of it). */
static void sync_floor_publish(void)
{
	if (!rm.job_diskless || (rm.job_state != JOB_ARMED && rm.job_state != JOB_CUT &&
				 rm.job_state != JOB_READY))
		return;
	uint64_t floor = UINT64_MAX;
	for (struct rm_link *l = rm.links; l; l = l->next) {
		if (l->dead || l->job != rm.job_id)
			continue;
		uint64_t at = l->state == LK_SEND_EOF ? (uint64_t)l->rdb_sent :
			      l->state == LK_WAIT_CUT || l->state == LK_WAIT_RDB ? 0 : UINT64_MAX;
		if (at < floor)
			floor = at;
	}
	snap_sync_consumed(floor);
}

static bool link_wants_write(const struct rm_link *l)
{
	/* (SEND_EOF: the file grows without an event; the short poll of a
	 * pass with such a link looks at it again.) */
	return l->out.len > l->out_sent || l->state == LK_SEND_RDB ||
	       (l->state == LK_ONLINE && l->sbuf.len > l->sbuf_sent);
}

/* Under mu: the job is over once no link needs its file. */
static void job_maybe_finish(void)
{
	if (rm.job_state != JOB_READY && rm.job_state != JOB_FAILED)
		return;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->job == rm.job_id && l->state <= LK_SEND_EOF)
			return;
	if (rm.job_fd >= 0)
		close(rm.job_fd);
	rm.job_fd = -1;
	if (rm.job_live_fd >= 0)   /* a failed job whose snapshot never ended */
		close(rm.job_live_fd);
	rm.job_live_fd = -1;
	rm.job_state = JOB_IDLE;
	/* Links that came too late for that cut wait for the next job. */
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->state == LK_WAIT_CUT && l->job == rm.job_id)
			l->job = 0;
}

static void *rm_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-replm");
	struct pollfd pfd[65];
	struct rm_link *pl[65];
	int64_t ident_ms = 0;
	for (;;) {
		int64_t now = mono_ms();
		if (now - ident_ms >= 20 && !replclient_is_replica()) {
			ident_ms = now;
			rm_identity(g_shards[0]);   /* a new replid drops the links */
		}
		unsigned n = 0;
		bool online = false;
		pthread_mutex_lock(&rm.mu);
		while (rm.incoming) {
			struct rm_link *l = rm.incoming;
			rm.incoming = l->next;
			l->next = rm.links;
			rm.links = l;
		}
		if (replclient_is_replica() && !rm.relay) {
			/* A replica whose link is not attached has no stream
			 * to serve: our replicas go (they get -NOMASTERLINK
			 * until it is). */
			rm.kill_all = rm.links != NULL;
		}
		if (rm.kill_all) {
			rm.kill_all = false;
			for (struct rm_link *l = rm.links; l; l = l->next)
				link_drop(l, "killed");
		}
		if (rm.links && !rm.relay)
			rm_stream_on();
		job_maybe_start(now);
		job_scan();
		for (struct rm_link *l = rm.links; l; l = l->next)
			link_step(l, now);
		sync_floor_publish();
		job_maybe_finish();
		for (struct rm_link **pp = &rm.links; *pp;) {
			struct rm_link *l = *pp;
			if (l->dead) {
				*pp = l->next;
				atomic_fetch_sub(&rm.nlinks, 1);
				link_free(l);
				continue;
			}
			if (l->state == LK_ONLINE || l->state == LK_WAIT_CUT || l->state == LK_SEND_EOF)
				online = true;
			if (n < 64) {
				pfd[n] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
				if (link_wants_write(l))
					pfd[n].events |= POLLOUT;
				pl[n++] = l;
			}
			pp = &l->next;
		}
		publish_acks();
		backlog_ttl_check(now);
		pthread_mutex_unlock(&rm.mu);
		pfd[n] = (struct pollfd){ .fd = rm.efd, .events = POLLIN };
		int rc = poll(pfd, n + 1, online ? 2 : 50);
		if (rc > 0 && (pfd[n].revents & POLLIN)) {
			uint64_t v;
			(void)!read(rm.efd, &v, sizeof(v));
		}
		if (rc > 0) {
			now = mono_ms();
			pthread_mutex_lock(&rm.mu);
			for (unsigned i = 0; i < n; i++)
				if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
					link_read(pl[i], now);
			publish_acks();
			pthread_mutex_unlock(&rm.mu);
		}
		/* WAIT clients: their shards look at the ACKs. */
		if (atomic_load(&g_nwaits))
			for (unsigned s = 0; s < g_nshards; s++)
				dp_wake(g_shards[s]->wake_fd);
	}
	return NULL;
}

/* ------------------------------------------------------------ commands */

void replmaster_replconf(struct cmd_ctx *ctx)
{
	if (!ctx->c)
		return;
	pthread_mutex_lock(&rm.mu);
	struct rm_pre *p = NULL;
	for (unsigned i = 0; i < RM_PRE_MAX; i++)
		if (rm.pre[i].cid == ctx->c->id)
			p = &rm.pre[i];
	if (!p) {
		p = &rm.pre[rm.pre_next++ % RM_PRE_MAX];
		memset(p, 0, sizeof(*p));
		p->cid = ctx->c->id;
	}
	for (int i = 1; i + 1 < ctx->argc; i += 2) {
		const struct resp_arg *o = &ctx->argv[i], *v = &ctx->argv[i + 1];
		long long x;
		if (arg_is(o, "listening-port") && arg_to_ll(v, &x) == 0 && x >= 0 && x < 65536) {
			p->port = (int)x;
		} else if (arg_is(o, "ip-address") && v->len < sizeof(p->ip)) {
			memcpy(p->ip, v->p, v->len);
			p->ip[v->len] = '\0';
		} else if (arg_is(o, "capa") && arg_is(v, "psync2")) {
			p->psync2 = true;
		} else if (arg_is(o, "capa") && arg_is(v, "eof")) {
			p->capa_eof = true;
		}
	}
	pthread_mutex_unlock(&rm.mu);
}

/* PSYNC <replid> <offset> | SYNC */
static void psync_generic(struct cmd_ctx *ctx, bool old_sync)
{
	struct conn *c = ctx->c;
	struct shard *sh = ctx->sh;
	if (!c || c->fd < 0 || sh->cfg->dataplane != DATAPLANE_KERNEL) {
		resp_add_error(ctx->out, "ERR replication needs a kernel-socket client");
		return;
	}
	if (replclient_is_replica()) {
		/* A replica serves its master's stream (chains) once its
		 * master client is attached. */
		pthread_once(&rm.once, rm_init);
		pthread_mutex_lock(&rm.mu);
		bool relay = rm.relay;
		pthread_mutex_unlock(&rm.mu);
		if (!relay) {
			resp_add_error(ctx->out, "NOMASTERLINK Can't SYNC while not connected with my master");
			return;
		}
	}
	if (c->pend_head) {
		resp_add_error(ctx->out, "ERR PSYNC with replies still pending");
		return;
	}
	char replid[RM_REPLID_LEN + 1];
	rm_replid(sh, replid);
	bool cont = false;
	uint64_t start = 0;
	if (!old_sync) {
		/* The current history, or replid2's up to second_repl_offset
		 * (we were promoted: the backlog goes on from the old
		 * master's relayed bytes, so its other replicas resume). */
		long long off;
		pthread_mutex_lock(&rm.mu);
		bool idok = false;
		if (arg_to_ll(&ctx->argv[2], &off) == 0 && ctx->argv[1].len == RM_REPLID_LEN) {
			idok = !memcmp(ctx->argv[1].p, replid, RM_REPLID_LEN) ||
			       (!memcmp(ctx->argv[1].p, rm.replid2, RM_REPLID_LEN) &&
				rm.second_off > 0 && off <= rm.second_off);
		}
		if (idok && off >= 1 && rm.have_base &&
		    to_ws(off - 1, &start)) {   /* Redis replicas ask for <offset + 1> */
			uint64_t first, end;
			wstream_backlog_range(&first, &end);
			cont = (rm.relay || wstream_enabled()) && start >= first && start <= end &&
			       !rm.released && start >= rm.floor_ws;
		}
		pthread_mutex_unlock(&rm.mu);
	}
	int fd = dup(c->fd);
	if (fd < 0) {
		resp_add_errorf(ctx->out, "ERR cannot take the replica's socket: %s", strerror(errno));
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct rm_link *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->fd = fd;
	l->old_sync = old_sync;
	/* Replies not yet sent go out first, on the same socket. */
	if (c->out.len > c->out_sent)
		rbuf_append(&l->out, c->out.data + c->out_sent, c->out.len - c->out_sent);
	c->out.len = c->out_sent = 0;
	pthread_mutex_lock(&rm.mu);
	l->id = c->id;
	l->ctime_ms = mono_ms();
	snprintf(l->peer, sizeof(l->peer), "%s", c->peer);
	snprintf(l->local, sizeof(l->local), "%s", c->local);
	snprintf(l->ip, sizeof(l->ip), "%s", c->peer);
	char *colon = strrchr(l->ip, ':');
	if (colon)
		*colon = '\0';
	l->port = 0;
	for (unsigned i = 0; i < RM_PRE_MAX; i++)
		if (rm.pre[i].cid == c->id) {
			l->port = rm.pre[i].port;
			l->psync2 = rm.pre[i].psync2;
			l->capa_eof = rm.pre[i].capa_eof;
			if (rm.pre[i].ip[0])
				snprintf(l->ip, sizeof(l->ip), "%s", rm.pre[i].ip);
			rm.pre[i].cid = 0;
		}
	if (!old_sync && !cont && !(ctx->argv[1].len == 1 && ctx->argv[1].p[0] == '?'))
		atomic_fetch_add(&rm.sync_partial_err, 1);
	if (cont)
		atomic_fetch_add(&rm.sync_partial_ok, 1);
	else
		atomic_fetch_add(&rm.sync_full, 1);
	if (cont) {
		char line[128];
		int n = l->psync2 ? snprintf(line, sizeof(line), "+CONTINUE %s\r\n", replid)
				  : snprintf(line, sizeof(line), "+CONTINUE\r\n");
		rbuf_append(&l->out, line, (size_t)n);
		l->state = LK_ONLINE;
		l->pull_off = start;
		l->have_off = true;
		atomic_store(&l->ack_off, (long long)start);
		atomic_store(&l->ack_ms, mono_ms());
		srv_log(LL_NOTICE, "Partial resynchronization request from %s:%d accepted, "
			"sending the stream from offset %llu", l->ip, l->port, (unsigned long long)start);
	} else {
		l->state = LK_WAIT_CUT;
		srv_log(LL_NOTICE, "Full resync requested by replica %s:%d", l->ip, l->port);
	}
	rm.released = false;   /* a new backlog from here (repl-backlog-ttl) */
	wstream_backlog_release(false);
	l->next = rm.incoming;
	rm.incoming = l;
	atomic_fetch_add(&rm.nlinks, 1);
	rm_stream_on();
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
	/* The shard's copy of the socket goes; the link keeps the dup. */
	c->closing = true;
	conn_mark_flush(sh, c);
}

void cmd_psync(struct cmd_ctx *ctx)
{
	psync_generic(ctx, false);
}

void cmd_sync(struct cmd_ctx *ctx)
{
	psync_generic(ctx, true);
}

/* Online replicas acknowledging at least off (as of the thread's last
 * pass; no lock). */
static long long acked(uint64_t off)
{
	long long n = 0;
	unsigned np = atomic_load(&rm.pub_n);
	for (unsigned i = 0; i < np && i < 64; i++)
		if ((uint64_t)atomic_load(&rm.pub_ack[i]) >= off)
			n++;
	return n;
}

/* Online replicas whose last ACK is at most lag_s seconds old, as Redis
 * counts them (whole seconds). */
static long long good_replicas(int lag_s)
{
	int64_t now = mono_ms();
	long long n = 0;
	unsigned np = atomic_load(&rm.pub_n);
	for (unsigned i = 0; i < np && i < 64; i++)
		if ((now - atomic_load(&rm.pub_ack_ms[i])) / 1000 <= lag_s)
			n++;
	return n;
}

bool replmaster_refuse_write_slow(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
				  bool discard)
{
	const struct cfg *cfg = sh->cfg;
	/* Redis: only a master checks, and only with a nonzero max lag. */
	if (!cfg->min_replicas_max_lag_s || !(cmd->flags & CMD_WRITE) ||
	    replclient_is_replica() || replclient_is_master(c))
		return false;
	if (good_replicas(cfg->min_replicas_max_lag_s) >= cfg->min_replicas_to_write)
		return false;
	txn_flag_error(c);
	if (!discard)
		resp_add_error(conn_reply_buf(c), "NOREPLICAS Not enough good replicas to write.");
	return true;
}

static void wait_done(struct shard *sh, struct rm_wait *w, long long n)
{
	struct conn *c = w->c;
	resp_add_int(&w->pend->buf, n);
	conn_pend_done(sh, c, w->pend);
	free(w);
	atomic_fetch_sub(&g_nwaits, 1);
	c->inflight--;
	c->barrier = false;
	conn_resume(sh, c);
	conn_maybe_free(sh, c);
}

/* Has every record a WAIT covers reached the stream? Then its target is
 * the stream's offset (at least the end of the client's last write). */
static bool wait_target(struct rm_wait *w)
{
	if (w->have_target)
		return true;
	for (unsigned s = 0; s < g_nshards; s++)
		if (wstream_durable(s) < w->recorded[s])
			return false;
	w->target = wstream_offset();
	w->have_target = true;
	return true;
}

/* WAIT numreplicas timeout */
void cmd_wait(struct cmd_ctx *ctx)
{
	long long num, timeout;
	if (arg_ll(ctx, &ctx->argv[1], &num) != 0)
		return;
	if (arg_to_ll(&ctx->argv[2], &timeout) != 0) {
		resp_add_error(ctx->out, "ERR timeout is not an integer or out of range");
		return;
	}
	if (timeout < 0) {
		resp_add_error(ctx->out, "ERR timeout is negative");
		return;
	}
	if (replclient_is_replica()) {
		resp_add_error(ctx->out, "ERR WAIT cannot be used with replica instances. Please also "
			       "note that since Redis 4.0 if a replica is configured to be writable "
			       "(which is not the default) writes to replicas are just local and are "
			       "not propagated.");
		return;
	}
	struct rm_wait w0 = { .num = num };
	for (unsigned s = 0; s < g_nshards; s++)
		w0.recorded[s] = wstream_enabled() ? wstream_recorded(s) : 0;
	long long n = 0;
	if (wait_target(&w0))
		n = acked(w0.target);
	/* As Redis: no waiting inside MULTI; with no replica at all WAIT
	 * still waits (one may connect) until its timeout. */
	if (ctx->in_multi || !ctx->c || (w0.have_target && n >= num)) {
		resp_add_int(ctx->out, n);
		return;
	}
	struct rm_wait *w = malloc(sizeof(*w));
	if (!w)
		abort();
	*w = w0;
	struct conn *c = ctx->c;
	w->c = c;
	w->deadline_ms = timeout ? mono_ms() + timeout : 0;
	w->pend = conn_pend_new(c);
	w->pend->discard = c->discard_cur;
	c->barrier = true;
	c->inflight++;
	/* Ask the replicas to acknowledge now rather than at their next
	 * periodic ACK (Redis puts GETACK in the stream the same way). Not
	 * while the AOF takes the stream: it would land in the file. */
	if (wstream_enabled() && !aof_on() && !wstream_in_txn(ctx->sh->id)) {
		const char *av[3] = { "REPLCONF", "GETACK", "*" };
		size_t lens[3] = { 8, 6, 1 };
		wstream_record(ctx->sh->id, c->db, 3, av, lens);
	}
	w->next = g_waits[ctx->sh->id];
	g_waits[ctx->sh->id] = w;
	atomic_fetch_add(&g_nwaits, 1);
	rm_kick();
}

/* Shard 0's settings last mirrored for the replication thread. */
static const struct cfg *rm_cfg_seen;

static __attribute__((noinline)) unsigned replmaster_poll_slow(struct shard *sh);

unsigned replmaster_poll(struct shard *sh)
{
	/* Every round of every shard: nothing to do unless a WAIT is parked
	 * here, or (shard 0) the settings moved or a replica is linked. */
	if (!g_waits[sh->id] &&
	    (sh->id != 0 || (sh->cfg == rm_cfg_seen &&
			     !atomic_load_explicit(&rm.nlinks, memory_order_relaxed))))
		return 0;
	return replmaster_poll_slow(sh);
}

static unsigned replmaster_poll_slow(struct shard *sh)
{
	unsigned work = 0;
	/* Mirror shard 0's settings for the replication thread when they
	 * change: CONFIG SET gives a shard a new copy (allocated while the
	 * old one lives, so the pointer differs), not an edit in place. */
	const struct cfg *cfg_seen = rm_cfg_seen;
	if (sh->id == 0 && sh->cfg != cfg_seen) {
		const struct cfg *cfg = sh->cfg;
		rm_cfg_seen = cfg;
		atomic_store_explicit(&rm.timeout_s, cfg->repl_timeout_s, memory_order_relaxed);
		atomic_store_explicit(&rm.diskless, cfg->repl_diskless_sync, memory_order_relaxed);
		atomic_store_explicit(&rm.diskless_delay_s, cfg->repl_diskless_sync_delay_s,
				      memory_order_relaxed);
		atomic_store_explicit(&rm.diskless_max, cfg->repl_diskless_sync_max_replicas,
				      memory_order_relaxed);
		atomic_store_explicit(&rm.min_write, cfg->min_replicas_to_write, memory_order_relaxed);
		atomic_store_explicit(&rm.max_lag_s, cfg->min_replicas_max_lag_s, memory_order_relaxed);
		atomic_store_explicit(&rm.backlog_ttl_s, cfg->repl_backlog_ttl_s, memory_order_relaxed);
		atomic_store_explicit(&rm.obl_hard, cfg->obl[CFG_OBL_REPLICA].hard, memory_order_relaxed);
		atomic_store_explicit(&rm.obl_soft, cfg->obl[CFG_OBL_REPLICA].soft, memory_order_relaxed);
		atomic_store_explicit(&rm.obl_soft_s, cfg->obl[CFG_OBL_REPLICA].soft_s,
				      memory_order_relaxed);
		atomic_store_explicit(&rm.backlog_size, cfg->repl_backlog_size, memory_order_relaxed);
	}
	if (sh->id == 0 && atomic_load_explicit(&rm.nlinks, memory_order_relaxed) &&
	    wstream_enabled() && !replclient_is_replica()) {   /* (a replica relays its master's) */
		/* Keepalive in the stream, as Redis's repl-ping-replica-period. */
		int64_t now = mono_ms();
		if (now - rm.last_ping_ms >= RM_PING_MS) {
			rm.last_ping_ms = now;
			if (!wstream_in_txn(0)) {
				const char *argv[1] = { "PING" };
				size_t lens[1] = { 4 };
				wstream_record(0, 0, 1, argv, lens);
			}
		}
	}
	struct rm_wait **pp = &g_waits[sh->id];
	if (!*pp)
		return work;
	int64_t now = mono_ms();
	while (*pp) {
		struct rm_wait *w = *pp;
		long long n = 0;
		bool target = wait_target(w);
		if (target)
			n = acked(w->target);
		if ((target && n >= w->num) || (w->deadline_ms && now >= w->deadline_ms) ||
		    w->c->closed) {
			*pp = w->next;
			wait_done(sh, w, n);
			work++;
			continue;
		}
		pp = &w->next;
	}
	return work;
}

/* --------------------------------------------------------- ROLE, INFO */

static const char *state_name(int st)
{
	switch (st) {
	case LK_WAIT_CUT:
	case LK_WAIT_RDB:
		return "wait_bgsave";
	case LK_SEND_RDB:
	case LK_SEND_EOF:
		return "send_bulk";
	default:
		return "online";
	}
}

void replmaster_role(struct cmd_ctx *ctx)
{
	rm_identity(ctx->sh);
	pthread_mutex_lock(&rm.mu);
	long long n = 0;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead && l->state == LK_ONLINE)
			n++;
	resp_add_array(ctx->out, 3);
	resp_add_bulk_cstr(ctx->out, "master");
	resp_add_int(ctx->out, to_repl(wstream_offset()));
	resp_add_array(ctx->out, n);
	for (struct rm_link *l = rm.links; l; l = l->next) {
		if (l->dead || l->state != LK_ONLINE)
			continue;
		resp_add_array(ctx->out, 3);
		resp_add_bulk_cstr(ctx->out, l->ip);
		resp_add_bulk_ll(ctx->out, l->port);
		resp_add_bulk_ll(ctx->out, to_repl((uint64_t)atomic_load(&l->ack_off)));
	}
	pthread_mutex_unlock(&rm.mu);
}

static void infof(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void infof(struct rbuf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		rbuf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Under mu: slaveN lines. */
static void info_slaves_locked(struct rbuf *t, int64_t now)
{
	long long i = 0;
	for (struct rm_link *l = rm.links; l; l = l->next) {
		if (l->dead)
			continue;
		infof(t, "slave%lld:ip=%s,port=%d,state=%s,offset=%lld,lag=%lld\r\n", i++, l->ip,
		      l->port, state_name(l->state), to_repl((uint64_t)atomic_load(&l->ack_off)),
		      (long long)((now - atomic_load(&l->ack_ms)) / 1000));
	}
}

void replmaster_info_links(struct rbuf *t)
{
	pthread_once(&rm.once, rm_init);
	pthread_mutex_lock(&rm.mu);
	long long n = 0;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead)
			n++;
	infof(t, "connected_slaves:%lld\r\n", n);
	info_slaves_locked(t, mono_ms());
	pthread_mutex_unlock(&rm.mu);
}

void replmaster_info_backlog(struct rbuf *t, long long backlog_size)
{
	pthread_mutex_lock(&rm.mu);
	uint64_t first, end;
	wstream_backlog_range(&first, &end);
	bool active = rm.relay && rm.have_base;
	if (first < rm.base_ws)
		first = end < rm.base_ws ? end : rm.base_ws;
	infof(t, "repl_backlog_active:%d\r\nrepl_backlog_size:%lld\r\n"
	      "repl_backlog_first_byte_offset:%lld\r\nrepl_backlog_histlen:%llu\r\n", active ? 1 : 0,
	      backlog_size, active ? to_repl(first) + 1 : 0,
	      (unsigned long long)(active ? end - first : 0));
	pthread_mutex_unlock(&rm.mu);
}

void replmaster_relay_attach(const char *replid, const char *replid2, long long second,
			     long long off, bool full)
{
	pthread_once(&rm.once, rm_init);
	pthread_mutex_lock(&rm.mu);
	uint64_t ws = wstream_offset();
	/* After a partial resync the relayed bytes go on where the
	 * backlog ends (same offsets): the backlog stays usable. */
	bool keep = !full && rm.have_base && to_repl(ws) == off;
	if (!keep) {
		rm.base_off = off;
		rm.base_ws = ws;
	}
	/* Our replicas resync (as Redis's disconnectSlaves()) when the data
	 * was replaced or the history's id changed. */
	if (!keep || strcmp(rm.replid, replid) != 0)
		rm.kill_all = rm.links || rm.incoming;
	snprintf(rm.replid, sizeof(rm.replid), "%s", replid);
	snprintf(rm.replid2, sizeof(rm.replid2), "%s", replid2);
	rm.second_off = second;
	rm.have_base = true;
	rm.relay = true;
	rm.released = false;
	wstream_backlog_release(false);
	rm.floor_ws = 0;
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
}

void replmaster_relay_stop(void)
{
	pthread_mutex_lock(&rm.mu);
	rm.relay = false;
	rm.kill_all = rm.links || rm.incoming;
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
}

void replmaster_relay_shift(const char *replid, const char *replid2, long long second,
			    long long off)
{
	pthread_once(&rm.once, rm_init);
	pthread_mutex_lock(&rm.mu);
	uint64_t ws = wstream_offset();
	if (!rm.have_base || to_repl(ws) != off) {
		/* Nothing relayed matches: a new backlog from here. */
		rm.base_off = off;
		rm.base_ws = ws;
	}
	snprintf(rm.replid, sizeof(rm.replid), "%s", replid);
	snprintf(rm.replid2, sizeof(rm.replid2), "%s", replid2);
	rm.second_off = second;
	rm.have_base = true;
	rm.relay = false;
	rm.released = false;
	wstream_backlog_release(false);
	rm.floor_ws = 0;
	/* Our replicas reconnect and learn the new id (+CONTINUE <id>). */
	rm.kill_all = rm.links || rm.incoming;
	/* From now on our own writes extend the backlog. */
	rm_stream_on();
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
}

bool replmaster_offset(const char *replid, long long *off)
{
	pthread_mutex_lock(&rm.mu);
	bool ok = rm.have_base && !strcmp(rm.replid, replid);
	if (ok)
		*off = to_repl(wstream_offset());
	pthread_mutex_unlock(&rm.mu);
	return ok;
}

/* As Redis, master_repl_offset counts every write already answered: the
 * records of every shard up to now are merged first (briefly: the thread
 * merges within a pass; bounded, so INFO never hangs on a stalled disk). */
static void info_settle(unsigned sh_id)
{
	/* (Inside a unit, MULTI/EXEC or a script, the unit's own records
	 * cannot be merged before it ends: the offset is the one before.) */
	if (!wstream_enabled() || sh_id >= g_nshards || wstream_in_txn(sh_id))
		return;
	wstream_flush(sh_id);
	uint64_t want[SHARD_MAX];
	for (unsigned s = 0; s < g_nshards; s++)
		want[s] = wstream_recorded(s);
	int64_t deadline = mono_ms() + 100;
	for (unsigned s = 0; s < g_nshards; s++)
		while (wstream_durable(s) < want[s] && mono_ms() < deadline) {
			struct timespec ts = { 0, 20 * 1000 };
			nanosleep(&ts, NULL);
		}
}

void replmaster_info(struct rbuf *t, unsigned sh_id, const char *replid, const char *replid2,
		     long long off, long long second)
{
	pthread_once(&rm.once, rm_init);
	if (!rm_capture)
		info_settle(sh_id);
	pthread_mutex_lock(&rm.mu);
	rm_changed = identity_update(replid, replid2, off, second);
	if (rm_capture) {
		pthread_mutex_unlock(&rm.mu);
		return;
	}
	int64_t now = mono_ms();
	long long n = 0;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead)
			n++;
	infof(t, "role:master\r\nconnected_slaves:%lld\r\n", n);
	int lag_s = atomic_load(&rm.max_lag_s);
	if (atomic_load(&rm.min_write) && lag_s)
		infof(t, "min_slaves_good_slaves:%lld\r\n", good_replicas(lag_s));
	info_slaves_locked(t, now);
	uint64_t first, end;
	wstream_backlog_range(&first, &end);
	/* The backlog of this history: bytes from before its start belong
	 * to another replid. */
	if (first < rm.base_ws)
		first = end < rm.base_ws ? end : rm.base_ws;
	if (first < rm.floor_ws)   /* repl-backlog-ttl: released up to there */
		first = end < rm.floor_ws ? end : rm.floor_ws;
	bool active = wstream_enabled() && !rm.released;
	infof(t, "master_failover_state:no-failover\r\n");
	infof(t, "master_replid:%s\r\nmaster_replid2:%s\r\n", replid, replid2);
	infof(t, "master_repl_offset:%lld\r\nsecond_repl_offset:%lld\r\n", to_repl(end), second);
	infof(t, "repl_backlog_active:%d\r\nrepl_backlog_size:%lld\r\n"
	      "repl_backlog_first_byte_offset:%lld\r\nrepl_backlog_histlen:%llu\r\n", active ? 1 : 0,
	      g_shards[0] ? g_shards[0]->cfg->repl_backlog_size : 0,
	      active ? to_repl(first) + 1 : 0, (unsigned long long)(active ? end - first : 0));
	pthread_mutex_unlock(&rm.mu);
}

long long replmaster_kill_by_type(struct cmd_ctx *ctx)
{
	bool replica = false;
	for (int i = 2; i + 1 < ctx->argc; i += 2)
		if (arg_is(&ctx->argv[i], "type") &&
		    (arg_is(&ctx->argv[i + 1], "replica") || arg_is(&ctx->argv[i + 1], "slave")))
			replica = true;
	if (!replica)
		return 0;
	pthread_mutex_lock(&rm.mu);
	long long n = 0;
	for (struct rm_link *l = rm.links; l; l = l->next)
		if (!l->dead)
			n++;
	for (struct rm_link *l = rm.incoming; l; l = l->next)
		n++;
	rm.kill_all = n > 0;
	pthread_mutex_unlock(&rm.mu);
	rm_kick();
	return n;
}

void replmaster_info_stats(struct rbuf *t)
{
	infof(t, "sync_full:%lld\r\nsync_partial_ok:%lld\r\nsync_partial_err:%lld\r\n",
	      atomic_load(&rm.sync_full), atomic_load(&rm.sync_partial_ok),
	      atomic_load(&rm.sync_partial_err));
}

void replmaster_client_list(struct cmd_ctx *ctx, struct rbuf *out)
{
	bool want = true;
	int id_from = 0;
	for (int i = 2; i < ctx->argc; i++) {
		if (arg_is(&ctx->argv[i], "type") && i + 1 < ctx->argc) {
			const struct resp_arg *t = &ctx->argv[++i];
			want = arg_is(t, "replica") || arg_is(t, "slave");
		} else if (arg_is(&ctx->argv[i], "id")) {
			id_from = i + 1;
			break;
		}
	}
	if (!want)
		return;
	int64_t now = mono_ms();
	pthread_mutex_lock(&rm.mu);
	for (struct rm_link *l = rm.links; l; l = l->next) {
		if (l->dead)
			continue;
		bool match = !id_from;
		for (int j = id_from; id_from && j < ctx->argc && !match; j++) {
			long long v = 0;
			match = arg_to_ll(&ctx->argv[j], &v) == 0 && (uint64_t)v == l->id;
		}
		if (!match)
			continue;
		size_t pending = (l->out.len - l->out_sent) + (l->sbuf.len - l->sbuf_sent);
		char line[768];
		int n = snprintf(line, sizeof(line),
			"id=%llu addr=%s laddr=%s fd=%d name= age=%lld idle=%lld flags=S db=0 sub=0 "
			"psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0 rbs=%zu "
			"rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=r cmd=%s user=default "
			"redir=-1 resp=2\n",
			(unsigned long long)l->id, l->peer, l->local, l->fd,
			(long long)((now - l->ctime_ms) / 1000),
			(long long)((now - atomic_load(&l->ack_ms)) / 1000), l->in.len, l->in.cap,
			pending, sizeof(*l) + l->in.cap + l->out.cap + l->sbuf.cap,
			l->old_sync ? "sync" : (l->state == LK_ONLINE ? "replconf" : "psync"));
		if (n > 0)
			rbuf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	pthread_mutex_unlock(&rm.mu);
}

long long replmaster_kill_match(uint64_t id, const struct resp_arg *addr,
				const struct resp_arg *laddr)
{
	long long n = 0;
	pthread_mutex_lock(&rm.mu);
	for (struct rm_link *l = rm.links; l; l = l->next) {
		if (l->dead || (id && l->id != id))
			continue;
		if (addr->len && (strlen(l->peer) != addr->len || memcmp(l->peer, addr->p, addr->len)))
			continue;
		if (laddr->len &&
		    (strlen(l->local) != laddr->len || memcmp(l->local, laddr->p, laddr->len)))
			continue;
		link_drop(l, "killed");
		n++;
	}
	pthread_mutex_unlock(&rm.mu);
	if (n)
		rm_kick();
	return n;
}
