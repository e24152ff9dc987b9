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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void route_exec(struct shard *sh, struct cmd_ctx *ctx)
{
	ctx->cmd->fn(ctx);
	STAT_ADD(sh->stats.cmds, 1);
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
	conn_pend_done(sh, c, p);
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

void route_dispatch(struct shard *sh, struct conn *c, struct resp_req *req)
{
	const struct cmd_def *cmd = cmd_lookup(req->argv[0].p, req->argv[0].len);
	STAT_ADD(sh->stats.cmds_dispatched, 1);

	/* CLIENT REPLY SKIP sets REPLY_SKIP: this command's reply is dropped. */
	bool discard = c->reply_mode == REPLY_OFF || c->reply_mode == REPLY_SKIP;
	if (c->reply_mode == REPLY_SKIP)
		c->reply_mode = REPLY_ON;

	if (!cmd) {
		reply_unknown(reply_slot(sh, c, discard), req);
		return;
	}
	if (cmd->subs && !(req->argc == 1 && cmd->fn)) {
		if (req->argc < 2) {
			reply_arity(reply_slot(sh, c, discard), cmd);
			return;
		}
		const struct cmd_def *sub = cmd_lookup_sub(cmd, req->argv[1].p, req->argv[1].len);
		if (!sub) {
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
		reply_arity(reply_slot(sh, c, discard), cmd);
		return;
	}
	if (!c->authed && !(cmd->flags & CMD_NOAUTH)) {
		resp_add_error(reply_slot(sh, c, discard), "NOAUTH Authentication required.");
		return;
	}
	if ((cmd->flags & CMD_PROTECTED) && !debug_allowed(sh, c)) {
		resp_add_error(reply_slot(sh, c, discard),
			"ERR DEBUG command not allowed. If the enable-debug-command option is set to "
			"\"local\", you can run it from a local connection, otherwise you need to set "
			"this option in the configuration file, and then restart the server.");
		return;
	}
	/* Client-state commands (SELECT) are shown as they leave the client,
	 * like Redis, which feeds monitors after execution; the others before
	 * they are sent away. */
	bool monitored = atomic_load_explicit(&g_monitors, memory_order_relaxed) &&
			 !(cmd->flags & (CMD_ADMIN | CMD_NOAUTH));
	if (monitored && !(cmd->flags & CMD_CONN))
		shard_monitor_feed(sh, c, c->db, req->argc, req->argv);

	struct cmd_ctx ctx = {
		.sh = sh,
		.c = c,
		.cmd = cmd,
		.argc = req->argc,
		.argv = req->argv,
		.db = &sh->ks->db[c->db],
		.dbid = c->db,
		.proto = c->proto,
		.now_ms = sh->now_ms,
	};

	unsigned target = sh->id;
	bool spans = false;
	c->discard_cur = discard;
	if (cmd->flags & CMD_BCAST) {
		/* Even with one shard: the merge step may shape the reply (INFO). */
		xshard_broadcast(sh, c, &ctx);
		c->discard_cur = false;
		return;
	} else if (cmd->route_fn) {
		target = cmd->route_fn(&ctx);
	} else if (!(cmd->flags & (CMD_CONN | CMD_NOKEYS_ANY)) && cmd->first_key > 0) {
		int first, last, step;
		int nk = cmd_key_range(cmd, req->argc, &first, &last, &step);
		/* A key/value list with a missing value (MSET k1 v1 k2) is not
		 * split: it runs on the first key's shard, which replies the
		 * arity error. */
		bool ragged = cmd->key_step > 1 && cmd->last_key < 0 &&
			      (req->argc - cmd->first_key) % cmd->key_step != 0;
		if (nk > 0) {
			target = shard_of_key(req->argv[first].p, req->argv[first].len);
			for (int i = first + step; i <= last && !spans && !ragged; i += step)
				if (shard_of_key(req->argv[i].p, req->argv[i].len) != target)
					spans = true;
		}
	}

	if (spans) {
		ctx.out = NULL;
		if (cmd->cross_fn) {
			cmd->cross_fn(&ctx);
		} else {
			xshard_split(sh, c, &ctx);
		}
		c->discard_cur = false;
		return;
	}
	if (target != sh->id) {
		c->discard_cur = false;
		send_single(sh, c, &ctx, target, discard);
		return;
	}
	ctx.out = reply_slot(sh, c, discard);
	uint64_t t0 = shard_clock_us();
	route_exec(sh, &ctx);
	c->discard_cur = false;
	if (monitored && (cmd->flags & CMD_CONN))
		shard_monitor_feed(sh, c, c->db, req->argc, req->argv);
	int64_t dur = (int64_t)(shard_clock_us() - t0);
	if (sh->cfg->slowlog_log_slower_than_us >= 0 &&
	    dur >= sh->cfg->slowlog_log_slower_than_us && !(cmd->flags & CMD_NOAUTH))
		shard_slowlog_add(sh, c, req->argc, req->argv, dur);
}
