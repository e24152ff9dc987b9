/* Command dispatch: from a parsed request to the shard(s) that run it.
 *
 * For each request on the client's shard: look the command up in the one
 * table, check arity and auth, find its keys from the table's key spec, and
 * then either
 *   - run it here (no keys, a client command, or all keys owned here),
 *   - forward it to the one shard owning all its keys,
 *   - split it into one sub-request per owning shard and merge the replies
 *     (MGET MSET DEL EXISTS TOUCH UNLINK),
 *   - run a coordinator for commands needing several rounds (xshard.c), or
 *   - broadcast it to every shard and merge (DBSIZE KEYS FLUSHALL ...).
 * The reply slot is reserved at dispatch, so replies leave in order. */
#include "shards/shard_int.h"
#include "shards/pubsub.h"
#include "shards/propagate.h"   /* wstream */
#include "repl/wstream.h"       /* wstream */
#include "shards/snap.h"          /* snapshot */
#include "shards/replclient.h"    /* replica */
#include "shards/replmaster.h"    /* master */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define ROUTE_HAVE_TSC 1
#endif

/* ------------------------------------------- command durations (slowlog)
 *
 * Two clock reads per command: with an invariant TSC they are rdtsc, turned
 * into microseconds by a factor each shard thread measures itself against
 * CLOCK_MONOTONIC over its first DUR_CALIB_NS of commands (until then, and
 * without such a TSC, both ends are clock_gettime). Per thread, so no
 * shared state; a duration is clamped at 0 should two cores' TSCs differ. */

#define DUR_CALIB_NS 200000000ull   /* 200 ms: ~5 ppm with a 1 us clock */

static _Thread_local struct {
	int state;          /* 0 unknown, 1 calibrating, 2 TSC, 3 clock only */
	uint64_t tsc0, ns0; /* calibration start */
	uint64_t mult;      /* us = ticks * mult >> 32 */
} dur_clk;

static uint64_t dur_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A start mark: TSC ticks, or monotonic ns while not calibrated (a
 * command run inside another may finish the calibration in between, so the
 * mark says which). */
struct dur_mark {
	uint64_t t;
	bool tsc;
};

static inline struct dur_mark dur_start(void)
{
#ifdef ROUTE_HAVE_TSC
	if (__builtin_expect(dur_clk.state == 2, 1))
		return (struct dur_mark){ __rdtsc(), true };
#endif
	return (struct dur_mark){ dur_mono_ns(), false };
}

static void dur_calibrate(uint64_t now_ns)
{
#ifdef ROUTE_HAVE_TSC
	if (dur_clk.state == 0) {
		unsigned a, b, c, d;
		/* CPUID 0x80000007 EDX bit 8: the TSC ticks at a constant rate
		 * in every P/C-state. */
		if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8))) {
			dur_clk.state = 1;
			dur_clk.tsc0 = __rdtsc();
			dur_clk.ns0 = dur_mono_ns();
		} else {
			dur_clk.state = 3;
		}
		return;
	}
	uint64_t tsc = __rdtsc();
	if (now_ns - dur_clk.ns0 < DUR_CALIB_NS)
		return;
	uint64_t ticks = tsc - dur_clk.tsc0;
	if (tsc <= dur_clk.tsc0 || ticks < (now_ns - dur_clk.ns0) / 1000) {
		dur_clk.state = 3;   /* not a usable counter here */
		return;
	}
	/* (ns / 1000) << 32 / ticks, in 128 bits: no overflow for any span. */
	dur_clk.mult = (uint64_t)(((unsigned __int128)(now_ns - dur_clk.ns0) << 32) / 1000 / ticks);
	dur_clk.state = dur_clk.mult ? 2 : 3;
#else
	(void)now_ns;
	dur_clk.state = 3;
#endif
}

/* Microseconds since the mark t0 from dur_start(); never negative. */
static inline int64_t dur_since_us(struct dur_mark m)
{
#ifdef ROUTE_HAVE_TSC
	if (__builtin_expect(m.tsc, 1)) {
		uint64_t t1 = __rdtsc();
		if (t1 <= m.t)
			return 0;
		unsigned __int128 us = ((unsigned __int128)(t1 - m.t) * dur_clk.mult) >> 32;
		return us > INT64_MAX ? INT64_MAX : (int64_t)us;
	}
#endif
	uint64_t t1 = dur_mono_ns();
	if (dur_clk.state < 2)
		dur_calibrate(t1);
	return t1 > m.t ? (int64_t)((t1 - m.t) / 1000) : 0;
}

void route_exec(struct shard *sh, struct cmd_ctx *ctx)
{
	long long before = ctx->dirty;
	if (__builtin_expect(replclient_is_replica(), 0))   /* replica: expired keys */
		ks_expire_mode = ctx->from_master || (ctx->c && replclient_is_master(ctx->c)) ?
				 KS_EXP_KEEP : ctx->cmd->flags & CMD_WRITE ? KS_EXP_DELETE :
				 KS_EXP_HIDE;
	else if (__builtin_expect(ks_expire_mode != KS_EXP_DELETE, 0))
		ks_expire_mode = KS_EXP_DELETE;
	if (__builtin_expect(snap_cow_on, 0))   /* snapshot: save old values first */
		snap_cow(sh, ctx);
	ctx->cmd->fn(ctx);
	STAT_ADD(sh->stats.cmds, 1);
	if (ctx->dirty != before && !(ctx->cmd->flags & CMD_SCRIPT)) {
		sh->dirty += ctx->dirty - before;
		snap_dirty_publish(sh);   /* snapshot */
		if (wstream_enabled())   /* wstream */
			wrec_after_exec(sh, ctx);
		txn_post_write(sh, ctx);
	}
}

uint64_t route_key_mask(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
			int *nkeys)
{
	int buf[64], *idx;
	int nk = cmd_key_indexes(cmd, argc, argv, buf, 64, &idx);
	uint64_t mask = 0;
	for (int k = 0; k < nk; k++)
		mask |= 1ull << shard_of_key(argv[idx[k]].p, argv[idx[k]].len);
	if (idx != buf)
		free(idx);
	*nkeys = nk;
	return mask;
}

static void reply_unknown(struct rbuf *out, const struct resp_req *req)
{
	struct rbuf msg = {0};
	char head[200];
	/* Redis formats with %.*s, which also stops at a NUL byte. */
	int n = snprintf(head, sizeof(head), "ERR unknown command '%.*s', with args beginning with: ",
			 (int)strnlen(req->argv[0].p, req->argv[0].len > 128 ? 128 : req->argv[0].len),
			 req->argv[0].p);
	rbuf_append(&msg, head, (size_t)n);
	/* As Redis: arguments are listed while their text stays under 128
	 * bytes, the last one cut to fit. */
	size_t args_len = 0;
	for (int i = 1; i < req->argc && args_len < 128; i++) {
		size_t room = 128 - args_len;
		size_t take = strnlen(req->argv[i].p, req->argv[i].len < room ? req->argv[i].len : room);
		rbuf_append(&msg, "'", 1);
		rbuf_append(&msg, req->argv[i].p, take);
		rbuf_append(&msg, "' ", 2);
		args_len += take + 3;
	}
	rbuf_append(&msg, "", 1);
	resp_add_error(out, msg.data);
	rbuf_free(&msg);
}

static void reply_arity(struct rbuf *out, const struct cmd_def *cmd)
{
	resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", cmd->name);
}

static bool arity_ok(const struct cmd_def *cmd, int argc)
{
	return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

/* Reserve the reply slot for one command of c: returns the buffer to write
 * a synchronous reply into. */
static struct rbuf *reply_slot(struct shard *sh, struct conn *c, bool discard)
{
	if (discard) {
		if (sh->discard.cap > 1024 * 1024)
			rbuf_free(&sh->discard);   /* after a big suppressed reply */
		sh->discard.len = 0;
		return &sh->discard;
	}
	return conn_reply_buf(c);
}

static void send_single(struct shard *sh, struct conn *c, struct cmd_ctx *ctx,
			unsigned dst, bool discard)
{
	struct pend *p = conn_pend_new(c);
	p->discard = discard;
	struct shard_msg *m = shard_msg_new(sh, ctx->cmd, ctx->argc, ctx->argv);
	m->dbid = ctx->dbid;
	m->proto = ctx->proto;
	m->tag = p;
	m->conn = c;
	m->txn = c->txn_exec != NULL;
	m->wid = c->id;
	if ((ctx->cmd->flags & CMD_BLOCKING) && !m->txn) {
		/* The client waits for it, as Redis blocks the client. */
		p->barrier = true;
		c->barrier = true;
		c->blk_shard = (int)dst;
	}
	c->inflight++;
	shard_send(sh, dst, m);
}

void route_on_reply(struct shard *sh, struct shard_msg *m)
{
	if (m->is_fanout) {
		struct fanout *fo = m->tag;
		struct rbuf r = m->reply;
		memset(&m->reply, 0, sizeof(m->reply));
		struct conn *c = m->conn;
		void *payload = m->payload;
		unsigned part = m->part;
		free(m);
		c->inflight--;
		route_fanout_part_done(sh, fo, part, &r, payload);
		if (c->throttled && c->inflight < CONN_MAX_INFLIGHT / 2)
			conn_resume(sh, c);
		conn_maybe_free(sh, c);
		return;
	}
	struct pend *p = m->tag;
	struct conn *c = m->conn;
	if (sh->cfg->slowlog_log_slower_than_us >= 0 &&
	    m->exec_us >= sh->cfg->slowlog_log_slower_than_us && !(m->cmd->flags & CMD_NOAUTH))
		shard_slowlog_add(sh, c, m->argc, m->argv, m->exec_us);
	rbuf_free(&p->buf);
	p->buf = m->reply;
	free(m);
	c->inflight--;
	bool unblock = p->barrier;
	conn_pend_done(sh, c, p);
	if (unblock) {
		c->blk_shard = -1;
		c->barrier = false;
		conn_resume(sh, c);
	}
	if (c->throttled && c->inflight < CONN_MAX_INFLIGHT / 2)
		conn_resume(sh, c);
	conn_maybe_free(sh, c);
}

static bool debug_allowed(const struct shard *sh, const struct conn *c)
{
	switch (sh->cfg->enable_debug_command) {
	case DEBUGCMD_YES:
		return true;
	case DEBUGCMD_LOCAL:
		return c->is_local;
	default:
		return false;
	}
}

/* route_run(), inlined into route_dispatch (every command) and exported
 * for EXEC's queued commands. */
static inline __attribute__((always_inline)) void
route_run_body(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
	       int argc, const struct resp_arg *argv, bool discard)
{
	/* Client-state commands (SELECT) are shown as they leave the client,
	 * like Redis, which feeds monitors after execution; the others before
	 * they are sent away. */
	bool monitored = atomic_load_explicit(&g_monitors, memory_order_relaxed) &&
			 !(cmd->flags & (CMD_ADMIN | CMD_NOAUTH));
	if (monitored && !(cmd->flags & CMD_CONN))
		shard_monitor_feed(sh, c, c->db, argc, argv);

	struct cmd_ctx ctx = {
		.sh = sh,
		.c = c,
		.cmd = cmd,
		.argc = argc,
		.argv = argv,
		.db = &sh->ks->db[c->db],
		.dbid = c->db,
		.proto = c->proto,
		.now_ms = sh->now_ms,
		.may_block = c->txn_exec == NULL,
		.in_multi = c->txn_exec != NULL,
	};

	unsigned target = sh->id;
	bool spans = false;
	uint64_t mask = 0;
	c->discard_cur = discard;
	if (cmd->flags & CMD_BCAST) {
		/* Even with one shard: the merge step may shape the reply (INFO).
		 * A broadcast write (FLUSHALL, FLUSHDB, SWAPDB) holds every
		 * shard's lock: no observer, snapshot cut or replica sees it on
		 * some shards only. */
		if ((cmd->flags & CMD_WRITE) && g_nshards > 1)
			txn_cross(sh, c, &ctx, g_nshards >= 64 ? ~0ull : (1ull << g_nshards) - 1,
				  xshard_broadcast_locked);
		else
			xshard_broadcast(sh, c, &ctx);
		c->discard_cur = false;
		return;
	} else if (cmd->route_fn) {
		target = cmd->route_fn(&ctx);
	} else if (g_nshards > 1 && !(cmd->flags & (CMD_CONN | CMD_NOKEYS_ANY)) &&
		   (cmd->first_key > 0 || cmd->keys_fn)) {
		/* (With one shard every key is here: nothing to find out.) */
		int buf[64], *idx;
		int nk = cmd_key_indexes(cmd, argc, argv, buf, 64, &idx);
		/* A key/value list with a missing value (MSET k1 v1 k2) is not
		 * split: it runs on the first key's shard, which replies the
		 * arity error. */
		bool ragged = !cmd->keys_fn && cmd->key_step > 1 && cmd->last_key < 0 &&
			      (argc - cmd->first_key) % cmd->key_step != 0;
		if (nk > 0) {
			target = shard_of_key(argv[idx[0]].p, argv[idx[0]].len);
			mask = 1ull << target;
			for (int k = 1; k < nk && !ragged; k++) {
				unsigned d = shard_of_key(argv[idx[k]].p, argv[idx[k]].len);
				mask |= 1ull << d;
				if (d != target)
					spans = true;
			}
		}
		if (idx != buf)
			free(idx);
	}

	if (spans) {
		ctx.out = NULL;
		if (cmd->merge != MERGE_NONE && !cmd->cross_fn && !cmd->keys_fn)
			txn_split(sh, c, &ctx, mask);
		else
			txn_cross(sh, c, &ctx, mask, cmd->cross_fn ? cmd->cross_fn : xshard_gather);
		c->discard_cur = false;
		return;
	}
	if (target != sh->id) {
		c->discard_cur = false;
		send_single(sh, c, &ctx, target, discard);
		return;
	}
	struct pend *bp = NULL;
	if ((cmd->flags & CMD_BLOCKING) && ctx.may_block) {
		/* Its reply may come later: it takes a slot of its own. */
		bp = conn_pend_new(c);
		bp->discard = discard;
		ctx.out = &bp->buf;
	} else {
		ctx.out = reply_slot(sh, c, discard);
	}
	struct dur_mark t0 = dur_start();
	route_exec(sh, &ctx);
	c->discard_cur = false;
	if (ctx.out == &c->out && !c->in_flush)
		conn_mark_flush(sh, c);   /* a busy script's poll flushed c meanwhile */
	if (bp) {
		if (ctx.blocked) {
			c->inflight++;
			c->barrier = true;
			c->blk_shard = (int)sh->id;
			block_park(sh, &ctx, c, bp, NULL);
		} else {
			conn_pend_done(sh, c, bp);
		}
	}
	if (!c->txn_exec && block_any(sh))
		block_serve(sh);
	if (monitored && (cmd->flags & CMD_CONN))
		shard_monitor_feed(sh, c, c->db, argc, argv);
	int64_t dur = dur_since_us(t0);
	if (sh->cfg->slowlog_log_slower_than_us >= 0 &&
	    dur >= sh->cfg->slowlog_log_slower_than_us && !(cmd->flags & CMD_NOAUTH))
		shard_slowlog_add(sh, c, argc, argv, dur);
}

void route_dispatch(struct shard *sh, struct conn *c, struct resp_req *req)
{
	const struct cmd_def *cmd = cmd_lookup(req->argv[0].p, req->argv[0].len);
	STAT_ADD(sh->stats.cmds_dispatched, 1);

	/* CLIENT REPLY SKIP sets REPLY_SKIP: this command's reply is dropped. */
	bool discard = c->reply_mode == REPLY_OFF || c->reply_mode == REPLY_SKIP;
	if (c->reply_mode == REPLY_SKIP)
		c->reply_mode = REPLY_ON;

	if (!cmd) {
		txn_flag_error(c);
		reply_unknown(reply_slot(sh, c, discard), req);
		return;
	}
	if (cmd->subs && !(req->argc == 1 && cmd->fn)) {
		if (req->argc < 2) {
			txn_flag_error(c);
			reply_arity(reply_slot(sh, c, discard), cmd);
			return;
		}
		const struct cmd_def *sub = cmd_lookup_sub(cmd, req->argv[1].p, req->argv[1].len);
		if (!sub) {
			txn_flag_error(c);
			char up[32];
			size_t n = strlen(cmd->name);
			for (size_t i = 0; i < n && i < sizeof(up) - 1; i++)
				up[i] = (char)(cmd->name[i] >= 'a' && cmd->name[i] <= 'z' ? cmd->name[i] - 32 : cmd->name[i]);
			up[n < sizeof(up) - 1 ? n : sizeof(up) - 1] = 0;
			resp_add_errorf(reply_slot(sh, c, discard), "ERR unknown subcommand '%.*s'. Try %s HELP.",
					(int)(req->argv[1].len > 128 ? 128 : req->argv[1].len),
					req->argv[1].p, up);
			return;
		}
		cmd = sub;
	}
	c->last_cmd = cmd->name;
	if (!arity_ok(cmd, req->argc)) {
		txn_flag_error(c);
		reply_arity(reply_slot(sh, c, discard), cmd);
		return;
	}
	if (!c->authed && !(cmd->flags & CMD_NOAUTH)) {
		txn_flag_error(c);
		resp_add_error(reply_slot(sh, c, discard), "NOAUTH Authentication required.");
		return;
	}
	const char *rerr = replclient_deny(sh, c, cmd);   /* replica: READONLY MASTERDOWN LOADING */
	if (rerr) {
		txn_flag_error(c);
		resp_add_error(reply_slot(sh, c, discard), rerr);
		return;
	}
	if (wstream_loading() && wrec_refuse_loading(c, cmd)) {   /* wstream */
		txn_flag_error(c);
		resp_add_error(reply_slot(sh, c, discard), "LOADING Redis is loading the dataset in memory");
		return;
	}
	if (sh->busy && !(cmd->flags & CMD_ALLOW_BUSY)) {
		resp_add_error(reply_slot(sh, c, discard),
			"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
		return;
	}
	if (c->ps && !ps_allowed(c, cmd)) {
		resp_add_errorf(reply_slot(sh, c, discard),
			"ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
			cmd->name);
		return;
	}
	if ((cmd->flags & CMD_PROTECTED) && !debug_allowed(sh, c)) {
		txn_flag_error(c);
		resp_add_error(reply_slot(sh, c, discard),
			"ERR DEBUG command not allowed. If the enable-debug-command option is set to "
			"\"local\", you can run it from a local connection, otherwise you need to set "
			"this option in the configuration file, and then restart the server.");
		return;
	}
	if (snap_refuse_write(sh, c, cmd, discard))   /* snapshot: MISCONF */
		return;
	if (replmaster_refuse_write(sh->cfg, sh, c, cmd, discard))   /* master: NOREPLICAS */
		return;
	if ((c->mstate || (cmd->flags & CMD_NOMULTI)) &&
	    txn_dispatch(sh, c, cmd, req->argc, req->argv, discard))
		return;
	route_run_body(sh, c, cmd, req->argc, req->argv, discard);
}

void route_run(struct shard *sh, struct conn *c, const struct cmd_def *cmd,
	       int argc, const struct resp_arg *argv, bool discard)
{
	route_run_body(sh, c, cmd, argc, argv, discard);
}
