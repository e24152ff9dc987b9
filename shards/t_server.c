/* Connection and server commands: PING ECHO QUIT RESET HELLO AUTH SELECT,
 * CLIENT, INFO, CONFIG, COMMAND, TIME, LASTSAVE, SHUTDOWN, DEBUG, MONITOR,
 * SLOWLOG — plus the merge functions of the broadcast ones.
 *
 * Commands flagged CMD_CONN run on the client's own shard with ctx->c set.
 * Broadcast commands (CMD_BCAST) run their handler on every shard (local
 * part) and the merge function here builds the one reply. */
#include "shards/shard_int.h"
#include "repl/wstream.h"   /* wstream: INFO persistence */
#include "shards/pubsub.h"
#include "shards/snap.h"   /* snapshot */
#include "shards/replclient.h"   /* replica */
#include "shards/replmaster.h"   /* master */

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifdef KR_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

static void add_help(struct cmd_ctx *ctx, const char *const *lines)
{
	long long n = 0;
	while (lines[n])
		n++;
	resp_add_array(ctx->out, n);
	for (long long i = 0; i < n; i++)
		resp_add_simple(ctx->out, lines[i]);
}

/* ------------------------------------------------------- connection */

void cmd_ping(struct cmd_ctx *ctx)
{
	if (ctx->argc > 2) {
		resp_add_error(ctx->out, "ERR wrong number of arguments for 'ping' command");
		return;
	}
	if (ctx->c && ctx->proto == 2 && ctx->c->ps && ps_subscribed(ctx->c)) {
		/* RESP2 subscriber: a pong in the shape of a message. */
		resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, "pong", 4);
		if (ctx->argc == 2)
			resp_add_bulk(ctx->out, ctx->argv[1].p, ctx->argv[1].len);
		else
			resp_add_bulk(ctx->out, "", 0);
		return;
	}
	if (ctx->argc == 2)
		resp_add_bulk(ctx->out, ctx->argv[1].p, ctx->argv[1].len);
	else
		resp_add_simple(ctx->out, "PONG");
}

void cmd_echo(struct cmd_ctx *ctx)
{
	resp_add_bulk(ctx->out, ctx->argv[1].p, ctx->argv[1].len);
}

void cmd_quit(struct cmd_ctx *ctx)
{
	resp_add_ok(ctx->out);
	ctx->c->closing = true;
}

static void monitor_off(struct shard *sh, struct conn *c)
{
	if (!c->monitor)
		return;
	c->monitor = false;
	sh->nmonitors--;
	atomic_fetch_sub(&g_monitors, 1);
}

static bool pass_ok(const struct shard *sh, const struct resp_arg *user, const struct resp_arg *pass)
{
	const char *rp = sh->cfg->requirepass;
	if (user && !arg_is(user, "default"))
		return false;
	if (!rp || !rp[0])
		return true;   /* nopass default user: any password */
	return pass->len == strlen(rp) && memcmp(pass->p, rp, pass->len) == 0;
}

void cmd_reset(struct cmd_ctx *ctx)
{
	struct conn *c = ctx->c;
	monitor_off(ctx->sh, c);
	txn_conn_reset(ctx->sh, c);
	if (c->ps)
		ps_conn_reset(ctx->sh, c);
	c->db = 0;
	c->proto = 2;
	c->reply_mode = REPLY_ON;
	c->no_evict = c->no_touch = false;
	free(c->name);
	c->name = NULL;
	c->authed = !ctx->sh->cfg->requirepass || !ctx->sh->cfg->requirepass[0];
	resp_add_simple(ctx->out, "RESET");
}

void cmd_auth(struct cmd_ctx *ctx)
{
	struct shard *sh = ctx->sh;
	if (ctx->argc > 3) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	const struct resp_arg *user = ctx->argc == 3 ? &ctx->argv[1] : NULL;
	const struct resp_arg *pass = &ctx->argv[ctx->argc - 1];
	if (!user && (!sh->cfg->requirepass || !sh->cfg->requirepass[0])) {
		resp_add_error(ctx->out, "ERR AUTH <password> called without any password configured "
			       "for the default user. Are you sure your configuration is correct?");
		return;
	}
	if (!pass_ok(sh, user, pass)) {
		resp_add_error(ctx->out, "WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	ctx->c->authed = true;
	resp_add_ok(ctx->out);
}

static bool valid_client_name(const struct resp_arg *a)
{
	for (size_t i = 0; i < a->len; i++)
		if (a->p[i] < '!' || a->p[i] > '~')
			return false;
	return true;
}

static void set_name(struct conn *c, const struct resp_arg *a)
{
	free(c->name);
	c->name = NULL;
	if (a->len) {
		c->name = malloc(a->len + 1);
		if (!c->name)
			abort();
		memcpy(c->name, a->p, a->len);
		c->name[a->len] = 0;
	}
}

void cmd_hello(struct cmd_ctx *ctx)
{
	struct conn *c = ctx->c;
	struct shard *sh = ctx->sh;
	long long ver = c->proto;
	int i = 1;
	if (ctx->argc >= 2) {
		if (arg_to_ll(&ctx->argv[1], &ver) != 0) {
			resp_add_error(ctx->out, "ERR Protocol version is not an integer or out of range");
			return;
		}
		i = 2;
		if (ver < 2 || ver > 3) {
			resp_add_error(ctx->out, "NOPROTO unsupported protocol version");
			return;
		}
	}
	const struct resp_arg *user = NULL, *pass = NULL, *name = NULL;
	for (; i < ctx->argc; i++) {
		int more = ctx->argc - i - 1;
		if (arg_is(&ctx->argv[i], "auth") && more >= 2) {
			user = &ctx->argv[i + 1];
			pass = &ctx->argv[i + 2];
			i += 2;
		} else if (arg_is(&ctx->argv[i], "setname") && more >= 1) {
			name = &ctx->argv[i + 1];
			i += 1;
		} else {
			resp_add_errorf(ctx->out, "ERR Syntax error in HELLO option '%.*s'",
					(int)(ctx->argv[i].len > 128 ? 128 : ctx->argv[i].len), ctx->argv[i].p);
			return;
		}
	}
	if (user && !pass_ok(sh, user, pass)) {
		resp_add_error(ctx->out, "WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	if (user)
		c->authed = true;
	if (!c->authed) {
		resp_add_error(ctx->out, "NOAUTH HELLO must be called with the client already "
			       "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can "
			       "be used to authenticate the client and select the RESP protocol version "
			       "at the same time");
		return;
	}
	if (name) {
		if (!valid_client_name(name)) {
			resp_add_error(ctx->out, "ERR Client names cannot contain spaces, newlines or special characters.");
			return;
		}
		set_name(c, name);
	}
	c->proto = (int)ver;
	ctx->proto = (int)ver;
	struct rbuf *o = ctx->out;
	resp_add_map(o, ctx->proto, 7);
	resp_add_bulk_cstr(o, "server");
	resp_add_bulk_cstr(o, "redis");
	resp_add_bulk_cstr(o, "version");
	resp_add_bulk_cstr(o, KR_VERSION);
	resp_add_bulk_cstr(o, "proto");
	resp_add_int(o, ver);
	resp_add_bulk_cstr(o, "id");
	resp_add_int(o, (long long)c->id);
	resp_add_bulk_cstr(o, "mode");
	resp_add_bulk_cstr(o, "standalone");
	resp_add_bulk_cstr(o, "role");
	resp_add_bulk_cstr(o, "master");
	resp_add_bulk_cstr(o, "modules");
	resp_add_array(o, 0);
}

void cmd_select(struct cmd_ctx *ctx)
{
	long long db;
	if (arg_ll(ctx, &ctx->argv[1], &db) != 0)
		return;
	if (db < 0 || db >= ctx->sh->ks->ndb) {
		resp_add_error(ctx->out, ERR_DBRANGE);
		return;
	}
	ctx->c->db = (int)db;
	resp_add_ok(ctx->out);
}

/* ----------------------------------------------------------- CLIENT */

void cmd_client_id(struct cmd_ctx *ctx)
{
	resp_add_int(ctx->out, (long long)ctx->c->id);
}

void cmd_client_setname(struct cmd_ctx *ctx)
{
	if (!valid_client_name(&ctx->argv[2])) {
		resp_add_error(ctx->out, "ERR Client names cannot contain spaces, newlines or special characters.");
		return;
	}
	set_name(ctx->c, &ctx->argv[2]);
	resp_add_ok(ctx->out);
}

void cmd_client_getname(struct cmd_ctx *ctx)
{
	if (ctx->c->name)
		resp_add_bulk_cstr(ctx->out, ctx->c->name);
	else
		resp_add_null(ctx->out, ctx->proto);
}

void cmd_client_info(struct cmd_ctx *ctx)
{
	struct rbuf line = {0};
	conn_client_info(ctx->c, ctx->now_ms, &line);
	resp_add_verbatim(ctx->out, ctx->proto, "txt", line.data, line.len);
	rbuf_free(&line);
}

/* CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]: this shard's
 * part, as one bulk string; merge_client_list joins the parts. */
void cmd_client_list(struct cmd_ctx *ctx)
{
	bool type_none = false;
	int type_master = -1;   /* TYPE master: 1, TYPE normal: 0, none given: -1 */
	int id_from = 0;
	for (int i = 2; i < ctx->argc; i++) {
		if (arg_is(&ctx->argv[i], "type") && i + 1 < ctx->argc) {
			const struct resp_arg *t = &ctx->argv[++i];
			if (arg_is(t, "normal")) {
				type_none = false;
				type_master = 0;
			} else if (arg_is(t, "master")) {
				type_master = 1;
			} else if (arg_is(t, "replica") || arg_is(t, "slave") || arg_is(t, "pubsub")) {
				type_none = true;
			} else {
				resp_add_errorf(ctx->out, "ERR Unknown client type '%.*s'", (int)t->len, t->p);
				return;
			}
		} else if (arg_is(&ctx->argv[i], "id") && i + 1 < ctx->argc) {
			id_from = i + 1;
			for (int j = id_from; j < ctx->argc; j++) {
				long long v;
				if (arg_to_ll(&ctx->argv[j], &v) != 0 || v <= 0) {
					resp_add_error(ctx->out, "ERR Invalid client ID");
					return;
				}
			}
			break;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	struct rbuf text = {0};
	for (struct conn *c = ctx->sh->conns; c && !type_none; c = c->next) {
		if (c->closed)
			continue;
		if (type_master >= 0 && replclient_is_master(c) != (type_master == 1))
			continue;
		if (id_from) {
			bool match = false;
			for (int j = id_from; j < ctx->argc && !match; j++) {
				long long v = 0;
				arg_to_ll(&ctx->argv[j], &v);
				match = (uint64_t)v == c->id;
			}
			if (!match)
				continue;
		}
		conn_client_info(c, ctx->now_ms, &text);
	}
	if (ctx->sh->id == 0 && type_master < 0)
		replmaster_client_list(ctx, &text);   /* master: replica links, flag S */
	resp_add_bulk(ctx->out, text.data ? text.data : "", text.len);
	rbuf_free(&text);
}

void merge_client_list(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	struct rbuf all = {0};
	for (int i = 0; i < n; i++) {
		/* each part is "$len\r\n<text>\r\n" */
		const char *p = memchr(parts[i].data, '\n', parts[i].len);
		if (!p)
			continue;
		size_t hdr = (size_t)(p - parts[i].data) + 1;
		if (parts[i].len >= hdr + 2)
			rbuf_append(&all, parts[i].data + hdr, parts[i].len - hdr - 2);
	}
	resp_add_verbatim(ctx->out, ctx->proto, "txt", all.data ? all.data : "", all.len);
	rbuf_free(&all);
}

/* CLIENT KILL: parsed here, executed on every shard by __kill, summed. */
static void cmd_int_kill(struct cmd_ctx *ctx)
{
	/* argv: __kill skip_id id addr laddr  ("" = no filter) */
	long long skip = 0, id = 0;
	arg_to_ll(&ctx->argv[1], &skip);
	arg_to_ll(&ctx->argv[2], &id);
	const struct resp_arg *addr = &ctx->argv[3], *laddr = &ctx->argv[4];
	long long killed = 0;
	for (struct conn *c = ctx->sh->conns; c; c = c->next) {
		if (c->closed || (skip && c->id == (uint64_t)skip))
			continue;
		if (id && c->id != (uint64_t)id)
			continue;
		if (addr->len && (strlen(c->peer) != addr->len || memcmp(c->peer, addr->p, addr->len)))
			continue;
		if (laddr->len && (strlen(c->local) != laddr->len || memcmp(c->local, laddr->p, laddr->len)))
			continue;
		if (c->parsing) {          /* the caller itself: reply, then close */
			c->closing = true;
			conn_mark_flush(ctx->sh, c);
		} else {
			conn_close(ctx->sh, c);
		}
		killed++;
	}
	if (ctx->sh->id == 0)   /* master: replica links (ID, ADDR, LADDR or every one) */
		killed += replmaster_kill_match((uint64_t)id, addr, laddr);
	resp_add_int(ctx->out, killed);
}

static const struct cmd_def cmd_internal_kill = {
	.name = "__kill", .arity = 5, .flags = CMD_INTERNAL, .fn = cmd_int_kill,
};

static void kill_done(struct shard *sh, struct fanout *fo)
{
	long long sum = 0;
	for (unsigned i = 0; i < fo->nparts; i++) {
		long long v;
		if (resp_reply_int(fo->replies[i].data, fo->replies[i].len, &v) == 0)
			sum += v;
	}
	struct rbuf out = {0};
	if (fo->stage == 1) {   /* old form: CLIENT KILL addr:port */
		if (sum)
			resp_add_ok(&out);
		else
			resp_add_error(&out, "ERR No such client");
	} else {
		resp_add_int(&out, sum);
	}
	fanout_finish(sh, fo, &out);
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR]: every shard looks for the client among
 * those blocked on its keys (a broadcast; the parts are summed). */
void cmd_client_unblock(struct cmd_ctx *ctx)
{
	long long id;
	bool error = false;
	if (arg_ll(ctx, &ctx->argv[2], &id) != 0)
		return;
	if (ctx->argc > 4) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (ctx->argc == 4) {
		if (arg_is(&ctx->argv[3], "error")) {
			error = true;
		} else if (!arg_is(&ctx->argv[3], "timeout")) {
			resp_add_error(ctx->out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
			return;
		}
	}
	int n = block_unblock(ctx->sh, (uint64_t)id, error);
	/* A client waiting on several shards is decided on its own shard. */
	if (id > 0 && (unsigned long long)id % g_nshards == ctx->sh->id)
		for (struct conn *c = ctx->sh->conns; c; c = c->next)
			if (c->id == (uint64_t)id && c->xblk)
				n += xshard_unblock(ctx->sh, c->xblk, error);
	resp_add_int(ctx->out, n);
}

void cmd_client_kill(struct cmd_ctx *ctx)
{
	struct resp_arg id = { "", 0 }, addr = { "", 0 }, laddr = { "", 0 };
	bool skipme = true, old = false, none = false, kill_master = false;
	if (ctx->argc == 3) {
		old = true;
		skipme = false;
		addr = ctx->argv[2];
	} else {
		if ((ctx->argc - 2) % 2) {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
		for (int i = 2; i < ctx->argc; i += 2) {
			const struct resp_arg *k = &ctx->argv[i], *v = &ctx->argv[i + 1];
			if (arg_is(k, "id")) {
				long long x;
				if (arg_to_ll(v, &x) != 0 || x <= 0) {
					resp_add_error(ctx->out, "ERR client-id should be greater than 0");
					return;
				}
				id = *v;
			} else if (arg_is(k, "addr")) {
				addr = *v;
			} else if (arg_is(k, "laddr")) {
				laddr = *v;
			} else if (arg_is(k, "type")) {
				if (arg_is(v, "normal")) {
				} else if (arg_is(v, "master")) {
					kill_master = true;
				} else if (arg_is(v, "replica") || arg_is(v, "slave") ||
					   arg_is(v, "pubsub")) {
					none = true;
				} else {
					resp_add_errorf(ctx->out, "ERR Unknown client type '%.*s'", (int)v->len, v->p);
					return;
				}
			} else if (arg_is(k, "user")) {
				if (!arg_is(v, "default"))
					none = true;
			} else if (arg_is(k, "skipme")) {
				if (arg_is(v, "yes"))
					skipme = true;
				else if (arg_is(v, "no"))
					skipme = false;
				else {
					resp_add_error(ctx->out, ERR_SYNTAX);
					return;
				}
			} else {
				resp_add_error(ctx->out, ERR_SYNTAX);
				return;
			}
		}
	}
	if (kill_master && !none && !id.len && !addr.len && !laddr.len) {
		resp_add_int(ctx->out, replclient_kill_master());   /* replica */
		return;
	}
	if (none || kill_master) {
		resp_add_int(ctx->out, replmaster_kill_by_type(ctx));   /* master */
		return;
	}
	/* Nothing was written to ctx->out: the fan-out's own slot follows. */
	char skipbuf[24];
	size_t skiplen = ks_ll2str(skipbuf, skipme ? (long long)ctx->c->id : 0);
	struct resp_arg av[5] = { { "__kill", 6 }, { skipbuf, skiplen }, id, addr, laddr };
	struct cmd_ctx fctx = *ctx;
	fctx.argc = 5;
	fctx.argv = av;
	struct fanout *fo = fanout_new(ctx->sh, ctx->c, &fctx, g_nshards, kill_done);
	fo->stage = old ? 1 : 0;
	for (unsigned d = 0; d < g_nshards; d++)
		fanout_send(ctx->sh, fo, d, d, &cmd_internal_kill, 5, fo->argv, NULL);
	fanout_arm(ctx->sh, fo);
}

static int on_off(struct cmd_ctx *ctx, bool *v)
{
	if (arg_is(&ctx->argv[2], "on"))
		*v = true;
	else if (arg_is(&ctx->argv[2], "off"))
		*v = false;
	else {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return -1;
	}
	return 0;
}

void cmd_client_noevict(struct cmd_ctx *ctx)
{
	if (on_off(ctx, &ctx->c->no_evict) == 0)
		resp_add_ok(ctx->out);
}

void cmd_client_notouch(struct cmd_ctx *ctx)
{
	if (on_off(ctx, &ctx->c->no_touch) == 0)
		resp_add_ok(ctx->out);
}

void cmd_client_reply(struct cmd_ctx *ctx)
{
	struct conn *c = ctx->c;
	if (arg_is(&ctx->argv[2], "on")) {
		c->reply_mode = REPLY_ON;
		/* This reply is due even though the mode was off when it came. */
		resp_add_ok(conn_reply_buf(c));
	} else if (arg_is(&ctx->argv[2], "off")) {
		c->reply_mode = REPLY_OFF;
	} else if (arg_is(&ctx->argv[2], "skip")) {
		if (c->reply_mode != REPLY_OFF)
			c->reply_mode = REPLY_SKIP;
	} else {
		resp_add_error(ctx->out, ERR_SYNTAX);
	}
}

void cmd_client_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"KILL <ip:port>",
		"    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made from the specified address",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made to specified local address",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Kill connections by type.",
		"    * USER <username>",
		"      Kill connections authenticated by <username>.",
		"    * SKIPME (YES|NO)",
		"      Skip killing current connection (default: yes).",
		"    * ID <client-id>",
		"      Kill connections by client id.",
		"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type.",
		"NO-EVICT (ON|OFF)",
		"    Protect current client connection from eviction.",
		"NO-TOUCH (ON|OFF)",
		"    Will not touch LRU/LFU stats when this mode is on.",
		"REPLY (ON|OFF|SKIP)",
		"    Control the replies sent to the current connection.",
		"SETNAME <name>",
		"    Assign the name <name> to the current connection.",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

/* ------------------------------------------------------------- INFO */

/* Local part of INFO: per-db keys, expires, avg_ttl and the expired count
 * of this shard, as an array of integers (ordered through the rings, so a
 * pipelined write before INFO is counted). */
void cmd_info(struct cmd_ctx *ctx)
{
	struct ks_space *ks = ctx->sh->ks;
	uint64_t expired = 0;
	for (int i = 0; i < ks->ndb; i++)
		expired += ks->db[i].expired;
	resp_add_array(ctx->out, 1 + 3LL * ks->ndb);
	resp_add_int(ctx->out, (long long)expired);
	for (int i = 0; i < ks->ndb; i++) {
		resp_add_int(ctx->out, (long long)ks_size(&ks->db[i]));
		resp_add_int(ctx->out, (long long)ks_nexpires(&ks->db[i]));
		resp_add_int(ctx->out, ks->db[i].avg_ttl_ms);
	}
}

struct info_part {
	long long expired;
	long long *db;   /* 3 per db */
};

static int parse_info_part(const struct rbuf *r, int ndb, struct info_part *ip)
{
	long long n;
	size_t hl;
	if (!resp_reply_agg(r->data, r->len, &n, &hl) || n != 1 + 3LL * ndb)
		return -1;
	const char *p = r->data + hl;
	size_t left = r->len - hl;
	ip->db = calloc((size_t)ndb * 3, sizeof(long long));
	if (!ip->db)
		abort();
	for (long long i = 0; i < n; i++) {
		size_t l = resp_reply_len(p, left);
		long long v = 0;
		if (!l || resp_reply_int(p, l, &v) != 0)
			return -1;
		if (i == 0)
			ip->expired = v;
		else
			ip->db[i - 1] = v;
		p += l;
		left -= l;
	}
	return 0;
}

static bool section_wanted(const struct cmd_ctx *ctx, const char *name, bool is_default)
{
	if (ctx->argc == 1)
		return is_default;
	for (int i = 1; i < ctx->argc; i++) {
		if (arg_is(&ctx->argv[i], name) || arg_is(&ctx->argv[i], "all") ||
		    arg_is(&ctx->argv[i], "everything"))
			return true;
		if (arg_is(&ctx->argv[i], "default") && is_default)
			return true;
	}
	return false;
}

static void infof(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void infof(struct rbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(tmp) - 1)
		n = (int)sizeof(tmp) - 1;
	rbuf_append(b, tmp, (size_t)n);
}

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t used_memory(void)
{
#ifdef KR_JEMALLOC
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	mallctl("epoch", &epoch, &sz, &epoch, sz);
	size_t allocated = 0;
	sz = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
		return allocated;
	return 0;
#else
	/* Without jemalloc (sanitizer builds) the allocator may not report
	 * its usage (ASan's does not): fall back to the resident size. */
	struct mallinfo2 mi = mallinfo2();
	size_t n = mi.uordblks + mi.hblkhd;
	return n ? n : rss_bytes();
#endif
}

static void human_bytes(char *buf, size_t len, double n)
{
	const char *u = "BKMGTP";
	int i = 0;
	while (n >= 1024 && i < 5) {
		n /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0fB", n);
	else
		snprintf(buf, len, "%.2f%c", n, u[i]);
}

static _Atomic size_t peak_memory;

void server_info_merge(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	struct shard *sh = ctx->sh;
	int ndb = sh->ks->ndb;
	struct info_part *ip = calloc((size_t)n, sizeof(*ip));
	if (!ip)
		abort();
	for (int i = 0; i < n; i++)
		if (parse_info_part(&parts[i], ndb, &ip[i]) != 0) {
			resp_add_error(ctx->out, "ERR internal error gathering INFO");
			goto out;
		}
	{
	struct rbuf t = {0};
	int64_t now = shard_clock_ms();
	uint64_t cmds = 0, conns = 0, conns_total = 0, rejected = 0, hits = 0, misses = 0, blocked = 0;
	uint64_t net_in = 0, net_out = 0, ops = 0;
	long long expired = 0;
	for (unsigned i = 0; i < g_nshards; i++) {
		struct shard_stats *st = &g_shards[i]->stats;
		cmds += STAT_GET(st->cmds_dispatched);
		conns += STAT_GET(st->conns);
		blocked += STAT_GET(st->blocked);
		conns_total += STAT_GET(st->conns_total);
		rejected += STAT_GET(st->rejected);
		hits += STAT_GET(st->hits);
		misses += STAT_GET(st->misses);
		net_in += STAT_GET(st->net_in);
		net_out += STAT_GET(st->net_out);
		ops += STAT_GET(st->ops_per_sec);
	}
	for (int i = 0; i < n; i++)
		expired += ip[i].expired;
	bool first = true;
#define SECTION(name) do { if (!first) rbuf_append(&t, "\r\n", 2); first = false; \
		infof(&t, "# %s\r\n", name); } while (0)

	if (section_wanted(ctx, "server", true)) {
		struct utsname un;
		uname(&un);
		SECTION("Server");
		infof(&t, "redis_version:%s\r\n", KR_VERSION);
		infof(&t, "keyrail_version:%s\r\n", KR_SERVER_VERSION);
		infof(&t, "redis_mode:standalone\r\n");
		infof(&t, "os:%s %s %s\r\n", un.sysname, un.release, un.machine);
		infof(&t, "arch_bits:%d\r\n", (int)(sizeof(void *) * 8));
		infof(&t, "multiplexing_api:epoll\r\n");
		infof(&t, "process_id:%ld\r\n", (long)getpid());
		infof(&t, "tcp_port:%d\r\n", sh->cfg->port);
		infof(&t, "server_time_usec:%llu\r\n", (unsigned long long)shard_clock_us());
		infof(&t, "uptime_in_seconds:%lld\r\n", (long long)((now - g_start_ms) / 1000));
		infof(&t, "uptime_in_days:%lld\r\n", (long long)((now - g_start_ms) / 86400000));
		infof(&t, "hz:%d\r\n", sh->cfg->hz);
		infof(&t, "configured_hz:%d\r\n", sh->cfg->hz);
		infof(&t, "shards:%u\r\n", g_nshards);
		infof(&t, "config_file:%s\r\n", sh->cfg->config_file ? sh->cfg->config_file : "");
	}
	if (section_wanted(ctx, "clients", true)) {
		SECTION("Clients");
		infof(&t, "connected_clients:%llu\r\n", (unsigned long long)conns);
		infof(&t, "maxclients:%lld\r\n", sh->cfg->maxclients);
		infof(&t, "blocked_clients:%llu\r\n", (unsigned long long)blocked);
	}
	if (section_wanted(ctx, "memory", true)) {
		char h1[32], h2[32], h3[32];
		size_t used = used_memory(), rss = rss_bytes();
		size_t peak = atomic_load(&peak_memory);
		while (used > peak && !atomic_compare_exchange_weak(&peak_memory, &peak, used))
			;
		if (used > peak)
			peak = used;
		human_bytes(h1, sizeof(h1), (double)used);
		human_bytes(h2, sizeof(h2), (double)rss);
		human_bytes(h3, sizeof(h3), (double)peak);
		SECTION("Memory");
		infof(&t, "used_memory:%zu\r\nused_memory_human:%s\r\n", used, h1);
		infof(&t, "used_memory_rss:%zu\r\nused_memory_rss_human:%s\r\n", rss, h2);
		infof(&t, "used_memory_peak:%zu\r\nused_memory_peak_human:%s\r\n", peak, h3);
#ifdef KR_JEMALLOC
		infof(&t, "mem_allocator:jemalloc\r\n");
#else
		infof(&t, "mem_allocator:libc\r\n");
#endif
	}
	if (section_wanted(ctx, "persistence", true)) {
		SECTION("Persistence");
		infof(&t, "loading:%d\r\n", wstream_loading() || replclient_loading() ? 1 : 0);   /* replica */
		snap_info_persistence(sh, &t);   /* snapshot: the rdb_* lines */
		char aof[1024];   /* wstream: the AOF's lines */
		rbuf_append(&t, aof, aof_info_persistence(aof, sizeof(aof)));
	}
	if (section_wanted(ctx, "stats", true)) {
		SECTION("Stats");
		infof(&t, "total_connections_received:%llu\r\n", (unsigned long long)conns_total);
		infof(&t, "total_commands_processed:%llu\r\n", (unsigned long long)cmds);
		infof(&t, "instantaneous_ops_per_sec:%llu\r\n", (unsigned long long)ops);
		infof(&t, "total_net_input_bytes:%llu\r\n", (unsigned long long)net_in);
		infof(&t, "total_net_output_bytes:%llu\r\n", (unsigned long long)net_out);
		infof(&t, "rejected_connections:%llu\r\n", (unsigned long long)rejected);
		infof(&t, "expired_keys:%lld\r\n", expired);
		infof(&t, "evicted_keys:0\r\n");
		infof(&t, "keyspace_hits:%llu\r\n", (unsigned long long)hits);
		infof(&t, "keyspace_misses:%llu\r\n", (unsigned long long)misses);
		replmaster_info_stats(&t);   /* master */
	}
	if (section_wanted(ctx, "replication", true)) {
		SECTION("Replication");
		replclient_info(sh, &t);   /* replica */
	}
	if (section_wanted(ctx, "cpu", true)) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		SECTION("CPU");
		infof(&t, "used_cpu_sys:%ld.%06ld\r\n", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
		infof(&t, "used_cpu_user:%ld.%06ld\r\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	}
	if (section_wanted(ctx, "keyspace", true)) {
		SECTION("Keyspace");
		for (int d = 0; d < ndb; d++) {
			long long keys = 0, exp = 0, ttl_sum = 0, ttl_n = 0;
			for (int i = 0; i < n; i++) {
				keys += ip[i].db[d * 3];
				exp += ip[i].db[d * 3 + 1];
				if (ip[i].db[d * 3 + 2] > 0) {
					ttl_sum += ip[i].db[d * 3 + 2];
					ttl_n++;
				}
			}
			if (keys)
				infof(&t, "db%d:keys=%lld,expires=%lld,avg_ttl=%lld\r\n", d, keys, exp,
				      ttl_n ? ttl_sum / ttl_n : 0);
		}
	}
	if (section_wanted(ctx, "shards", true)) {
		SECTION("Shards");
		for (int i = 0; i < n; i++) {
			long long keys = 0, exp = 0;
			for (int d = 0; d < ndb; d++) {
				keys += ip[i].db[d * 3];
				exp += ip[i].db[d * 3 + 1];
			}
			struct shard_stats *st = &g_shards[i]->stats;
			infof(&t, "shard%d:keys=%lld,expires=%lld,ops=%llu,commands_executed=%llu,connected_clients=%llu\r\n",
			      i, keys, exp, (unsigned long long)STAT_GET(st->cmds_dispatched),
			      (unsigned long long)STAT_GET(st->cmds), (unsigned long long)STAT_GET(st->conns));
		}
	}
	if (section_wanted(ctx, "dataplane", true) && dp_port_backend(sh->port) == DP_BACKEND_DPDK) {
		SECTION("Dataplane");
		for (unsigned i = 0; i < g_nshards; i++)
			dp_info(&t, g_shards[i]->port, i);
	}
#undef SECTION
	resp_add_verbatim(ctx->out, ctx->proto, "txt", t.data ? t.data : "", t.len);
	rbuf_free(&t);
	}
out:
	for (int i = 0; i < n; i++)
		free(ip[i].db);
	free(ip);
}

/* ----------------------------------------------------------- CONFIG */

struct cfg_get_state {
	const char *exact;   /* a pattern without glob characters: echoed as given */
	struct rbuf items;
	long long n;
	char **seen;
	size_t nseen;
};

static void cfg_emit(void *arg, const char *name, const char *value)
{
	struct cfg_get_state *st = arg;
	for (size_t i = 0; i < st->nseen; i++)
		if (strcmp(st->seen[i], name) == 0)
			return;
	st->seen = realloc(st->seen, sizeof(char *) * (st->nseen + 1));
	if (!st->seen)
		abort();
	st->seen[st->nseen++] = strdup(name);
	resp_add_bulk_cstr(&st->items, st->exact ? st->exact : name);
	resp_add_bulk_cstr(&st->items, value);
	st->n++;
}

void cmd_config_get(struct cmd_ctx *ctx)
{
	struct cfg_get_state st = {0};
	for (int i = 2; i < ctx->argc; i++) {
		char pat[256];
		size_t l = ctx->argv[i].len < sizeof(pat) - 1 ? ctx->argv[i].len : sizeof(pat) - 1;
		memcpy(pat, ctx->argv[i].p, l);
		pat[l] = 0;
		st.exact = strpbrk(pat, "*?[") ? NULL : pat;
		cfg_get(ctx->sh->cfg, pat, cfg_emit, &st);
	}
	resp_add_map(ctx->out, ctx->proto, st.n);
	if (st.items.len)
		rbuf_append(ctx->out, st.items.data, st.items.len);
	rbuf_free(&st.items);
	for (size_t i = 0; i < st.nseen; i++)
		free(st.seen[i]);
	free(st.seen);
}

/* Applied on every shard to its own copy: all pairs or none. */
void cmd_config_set(struct cmd_ctx *ctx)
{
	if ((ctx->argc - 2) % 2) {
		resp_add_error(ctx->out, "ERR wrong number of arguments for 'config|set' command");
		return;
	}
	struct cfg *copy = cfg_dup(ctx->sh->cfg);
	if (!copy)
		abort();
	for (int i = 2; i < ctx->argc; i += 2) {
		char name[128], value[4096], err[512];
		const struct resp_arg *a = &ctx->argv[i], *v = &ctx->argv[i + 1];
		if (a->len >= sizeof(name) || v->len >= sizeof(value)) {
			resp_add_error(ctx->out, ERR_SYNTAX);
			cfg_free(copy);
			return;
		}
		memcpy(name, a->p, a->len);
		name[a->len] = 0;
		memcpy(value, v->p, v->len);
		value[v->len] = 0;
		for (int j = 2; j < i; j += 2)
			if (ctx->argv[j].len == a->len && strncasecmp(ctx->argv[j].p, a->p, a->len) == 0) {
				resp_add_errorf(ctx->out, "ERR CONFIG SET failed (possibly related to argument '%s') - duplicate parameter", name);
				cfg_free(copy);
				return;
			}
		if (cfg_set(copy, name, value, err, sizeof(err)) != 0) {
			resp_add_error(ctx->out, err);
			cfg_free(copy);
			return;
		}
	}
	cfg_free(ctx->sh->cfg);
	ctx->sh->cfg = copy;
	replclient_cfg_changed(ctx->sh);   /* replica: masterauth, masteruser, repl-timeout */
	resp_add_ok(ctx->out);
}

void cmd_config_resetstat(struct cmd_ctx *ctx)
{
	struct shard *sh = ctx->sh;
	struct shard_stats *st = &sh->stats;
	STAT_SET(st->cmds, 0);
	STAT_SET(st->cmds_dispatched, 0);
	STAT_SET(st->conns_total, 0);
	STAT_SET(st->rejected, 0);
	STAT_SET(st->hits, 0);
	STAT_SET(st->misses, 0);
	STAT_SET(st->net_in, 0);
	STAT_SET(st->net_out, 0);
	memset(sh->ops_sample, 0, sizeof(sh->ops_sample));
	memset(sh->ops_sample_ms, 0, sizeof(sh->ops_sample_ms));
	for (int i = 0; i < sh->ks->ndb; i++)
		sh->ks->db[i].expired = 0;
	resp_add_ok(ctx->out);
}

void cmd_config_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

/* ---------------------------------------------------------- COMMAND */

static const char *const flag_names[] = {
	"write", "readonly", "fast", "admin", "no_auth", NULL, NULL, NULL, "denyoom",
	"loading", "stale", "noscript", "sentinel", "pubsub",
};

static void command_flags(struct rbuf *o, const struct cmd_def *c)
{
	const char *names[20];
	int n = 0;
	for (unsigned b = 0; b < sizeof(flag_names) / sizeof(flag_names[0]); b++)
		if ((c->flags & (1u << b)) && flag_names[b])
			names[n++] = flag_names[b];
	resp_add_set(o, 2, n);
	for (int i = 0; i < n; i++)
		resp_add_simple(o, names[i]);
}

static void command_acl(struct rbuf *o, const struct cmd_def *c)
{
	/* Redis's category of each COMMAND DOCS group. */
	static const struct { const char *group, *cat; } groups[] = {
		{ "string", "@string" }, { "connection", "@connection" },
		{ "generic", "@keyspace" }, { "list", "@list" }, { "hash", "@hash" },
		{ "set", "@set" }, { "sorted_set", "@sortedset" }, { "bitmap", "@bitmap" },
		{ "hyperloglog", "@hyperloglog" }, { "pubsub", "@pubsub" },
		{ "transactions", "@transaction" }, { "scripting", "@scripting" },
	};
	const char *cats[8];
	int n = 0;
	if (c->flags & CMD_WRITE)
		cats[n++] = "@write";
	if (c->flags & CMD_READONLY)
		cats[n++] = "@read";
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(c->group, groups[i].group))
			cats[n++] = groups[i].cat;
	if (c->flags & CMD_ADMIN) {
		cats[n++] = "@admin";
		cats[n++] = "@dangerous";
	}
	cats[n++] = (c->flags & CMD_FAST) ? "@fast" : "@slow";
	if (c->flags & CMD_BLOCKING)
		cats[n++] = "@blocking";
	resp_add_array(o, n);
	for (int i = 0; i < n; i++)
		resp_add_simple(o, cats[i]);
}

static void command_info_one(struct cmd_ctx *ctx, const struct cmd_def *c)
{
	struct rbuf *o = ctx->out;
	resp_add_array(o, 10);
	resp_add_bulk_cstr(o, c->name);
	resp_add_int(o, c->arity);
	command_flags(o, c);
	resp_add_int(o, c->first_key);
	resp_add_int(o, c->last_key);
	resp_add_int(o, c->key_step);
	command_acl(o, c);
	resp_add_set(o, ctx->proto, 0);   /* tips */
	resp_add_array(o, 0);             /* key specs */
	long long nsub = 0;
	for (const struct cmd_def *s = c->subs; s && s->name; s++)
		nsub++;
	resp_add_array(o, nsub);
	for (const struct cmd_def *s = c->subs; s && s->name; s++)
		command_info_one(ctx, s);
}

static size_t visible_commands(const struct cmd_def **t)
{
	size_t n;
	*t = cmd_table(&n);
	return n;
}

void cmd_command(struct cmd_ctx *ctx)
{
	const struct cmd_def *t;
	size_t n = visible_commands(&t);
	resp_add_array(ctx->out, (long long)n);
	for (size_t i = 0; i < n; i++)
		command_info_one(ctx, &t[i]);
}

void cmd_command_count(struct cmd_ctx *ctx)
{
	const struct cmd_def *t;
	resp_add_int(ctx->out, (long long)visible_commands(&t));
}

static const struct cmd_def *lookup_full(const struct resp_arg *a)
{
	/* "config|get" style names reach subcommands. */
	const char *bar = memchr(a->p, '|', a->len);
	if (!bar)
		return cmd_lookup(a->p, a->len);
	const struct cmd_def *parent = cmd_lookup(a->p, (size_t)(bar - a->p));
	if (!parent || !parent->subs)
		return NULL;
	return cmd_lookup_sub(parent, bar + 1, a->len - (size_t)(bar - a->p) - 1);
}

void cmd_command_info(struct cmd_ctx *ctx)
{
	if (ctx->argc == 2) {
		cmd_command(ctx);
		return;
	}
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int i = 2; i < ctx->argc; i++) {
		const struct cmd_def *c = lookup_full(&ctx->argv[i]);
		if (c)
			command_info_one(ctx, c);
		else
			resp_add_null_array(ctx->out, ctx->proto);
	}
}

static void command_doc_one(struct cmd_ctx *ctx, const struct cmd_def *c)
{
	struct rbuf *o = ctx->out;
	long long nsub = 0;
	for (const struct cmd_def *s = c->subs; s && s->name; s++)
		nsub++;
	resp_add_bulk_cstr(o, c->name);
	resp_add_map(o, ctx->proto, nsub ? 4 : 3);
	resp_add_bulk_cstr(o, "summary");
	resp_add_bulk_cstr(o, c->summary);
	resp_add_bulk_cstr(o, "since");
	resp_add_bulk_cstr(o, c->since);
	resp_add_bulk_cstr(o, "group");
	resp_add_bulk_cstr(o, c->group);
	if (nsub) {
		resp_add_bulk_cstr(o, "subcommands");
		resp_add_map(o, ctx->proto, nsub);
		for (const struct cmd_def *s = c->subs; s && s->name; s++)
			command_doc_one(ctx, s);
	}
}

void cmd_command_docs(struct cmd_ctx *ctx)
{
	const struct cmd_def *t;
	size_t n = visible_commands(&t);
	if (ctx->argc == 2) {
		resp_add_map(ctx->out, ctx->proto, (long long)n);
		for (size_t i = 0; i < n; i++)
			command_doc_one(ctx, &t[i]);
		return;
	}
	long long found = 0;
	for (int i = 2; i < ctx->argc; i++)
		if (lookup_full(&ctx->argv[i]))
			found++;
	resp_add_map(ctx->out, ctx->proto, found);
	for (int i = 2; i < ctx->argc; i++) {
		const struct cmd_def *c = lookup_full(&ctx->argv[i]);
		if (c)
			command_doc_one(ctx, c);
	}
}

void cmd_command_list(struct cmd_ctx *ctx)
{
	const struct cmd_def *t;
	size_t n = visible_commands(&t);
	const struct resp_arg *pattern = NULL;
	const struct resp_arg *aclcat = NULL;
	if (ctx->argc > 2) {
		if (ctx->argc != 5 || !arg_is(&ctx->argv[2], "filterby")) {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
		if (arg_is(&ctx->argv[3], "pattern")) {
			pattern = &ctx->argv[4];
		} else if (arg_is(&ctx->argv[3], "aclcat")) {
			aclcat = &ctx->argv[4];
		} else if (arg_is(&ctx->argv[3], "module")) {
			resp_add_array(ctx->out, 0);
			return;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	struct rbuf items = {0};
	long long cnt = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cmd_def *group[64];
		int ng = 0;
		group[ng++] = &t[i];
		for (const struct cmd_def *s = t[i].subs; s && s->name && ng < 64; s++)
			group[ng++] = s;
		for (int g = 0; g < ng; g++) {
			const struct cmd_def *c = group[g];
			if (pattern && !srv_glob_match(pattern->p, pattern->len, c->name, strlen(c->name), true))
				continue;
			if (aclcat) {
				struct rbuf tmp = {0};
				command_acl(&tmp, c);
				bool hit = false;
				char want[64];
				snprintf(want, sizeof(want), "+@%.*s\r\n", (int)(aclcat->len > 50 ? 50 : aclcat->len), aclcat->p);
				hit = tmp.len && memmem(tmp.data, tmp.len, want, strlen(want));
				rbuf_free(&tmp);
				if (!hit)
					continue;
			}
			resp_add_bulk_cstr(&items, c->name);
			cnt++;
		}
	}
	resp_add_array(ctx->out, cnt);
	if (items.len)
		rbuf_append(ctx->out, items.data, items.len);
	rbuf_free(&items);
}

void cmd_command_getkeys(struct cmd_ctx *ctx)
{
	const struct cmd_def *c = cmd_lookup(ctx->argv[2].p, ctx->argv[2].len);
	int argc = ctx->argc - 2;
	const struct resp_arg *argv = ctx->argv + 2;
	if (c && c->subs && argc >= 2)
		c = cmd_lookup_sub(c, argv[1].p, argv[1].len);
	if (!c) {
		resp_add_error(ctx->out, "ERR Invalid command specified");
		return;
	}
	if ((c->arity > 0 && argc != c->arity) || (c->arity < 0 && argc < -c->arity)) {
		resp_add_error(ctx->out, "ERR Invalid number of arguments specified for command");
		return;
	}
	if (!c->keys_fn && c->first_key <= 0) {
		resp_add_error(ctx->out, "ERR The command has no key arguments");
		return;
	}
	int buf[64], *idx;
	int n = cmd_key_indexes(c, argc, argv, buf, 64, &idx);
	if (n < 0) {
		resp_add_error(ctx->out, "ERR Invalid arguments specified for command");
	} else if (n == 0 && c->keys_fn) {
		resp_add_error(ctx->out, "ERR The command has no key arguments");
	} else {
		resp_add_array(ctx->out, n);
		for (int k = 0; k < n; k++)
			resp_add_bulk(ctx->out, argv[idx[k]].p, argv[idx[k]].len);
	}
	if (idx != buf)
		free(idx);
}

void cmd_command_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

/* ----------------------------------------------------- server misc */

void cmd_time(struct cmd_ctx *ctx)
{
	uint64_t us = shard_clock_us();
	resp_add_array(ctx->out, 2);
	resp_add_bulk_ll(ctx->out, (long long)(us / 1000000));
	resp_add_bulk_ll(ctx->out, (long long)(us % 1000000));
}

void cmd_lastsave(struct cmd_ctx *ctx)
{
	/* Before the first save: the start time, as Redis. */
	resp_add_int(ctx->out, snap_lastsave());   /* snapshot */
}

void cmd_shutdown(struct cmd_ctx *ctx)
{
	bool save = false, nosave = false, force = false;   /* snapshot */
	for (int i = 1; i < ctx->argc; i++) {
		if (arg_is(&ctx->argv[i], "nosave")) {
			nosave = true;
		} else if (arg_is(&ctx->argv[i], "save")) {
			save = true;
		} else if (arg_is(&ctx->argv[i], "force")) {
			force = true;
		} else if (arg_is(&ctx->argv[i], "now")) {
			continue;
		} else if (arg_is(&ctx->argv[i], "abort")) {
			resp_add_error(ctx->out, "ERR No shutdown in progress.");
			return;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	if (save && nosave) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	srv_log(LL_WARNING, "User requested shutdown...");
	if (save || (!nosave && snap_rules_configured(ctx->sh))) {   /* snapshot */
		snap_shutdown(ctx, force);
		return;
	}
	shard_request_shutdown(0);
	/* Like Redis: no reply; the connection closes as the server exits. */
}

/* ------------------------------------------------------------ DEBUG */

void cmd_debug_sleep(struct cmd_ctx *ctx)
{
	double s;
	if (arg_double(ctx, &ctx->argv[2], &s) != 0)
		return;
	if (s > 0) {
		struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
		nanosleep(&ts, NULL);
	}
	resp_add_ok(ctx->out);
}

void cmd_debug_segfault(struct cmd_ctx *ctx)
{
	(void)ctx;
	srv_log(LL_WARNING, "DEBUG SEGFAULT: crashing the server as requested");
	raise(SIGSEGV);
}

void cmd_debug_active_expire(struct cmd_ctx *ctx)
{
	long long v;
	if (arg_ll(ctx, &ctx->argv[2], &v) != 0)
		return;
	shard_set_active_expire(ctx->sh, v != 0);
	resp_add_ok(ctx->out);
}

/* DEBUG POPULATE count [prefix] [size]: each shard creates the keys of
 * prefix:0..count-1 it owns; existing keys are left alone. */
void cmd_debug_populate(struct cmd_ctx *ctx)
{
	long long count, size = -1;
	if (arg_ll(ctx, &ctx->argv[2], &count) != 0)
		return;
	if (count < 0) {
		resp_add_error(ctx->out, "ERR count must be greater than or equal to 0");
		return;
	}
	const char *prefix = "key";
	size_t plen = 3;
	if (ctx->argc >= 4) {
		prefix = ctx->argv[3].p;
		plen = ctx->argv[3].len;
	}
	if (ctx->argc >= 5 && arg_ll(ctx, &ctx->argv[4], &size) != 0)
		return;
	if (ctx->argc > 5) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	char *key = malloc(plen + 32);
	char *val = malloc((size_t)(size > 64 ? size : 64) + 32);
	if (!key || !val)
		abort();
	memcpy(key, prefix, plen);
	for (long long i = 0; i < count; i++) {
		key[plen] = ':';
		size_t kl = plen + 1 + ks_ll2str(key + plen + 1, i);
		if (!shard_owns_key(ctx->sh, key, kl))
			continue;
		if (ks_find(ctx->db, key, kl, ctx->now_ms))
			continue;
		memcpy(val, "value:", 6);
		size_t vl = 6 + ks_ll2str(val + 6, i);
		if (size >= 0) {
			if ((size_t)size > vl)
				memset(val + vl, 0, (size_t)size - vl);
			vl = (size_t)size;
		}
		ks_set_str(ctx->db, key, kl, val, vl, false);
	}
	free(key);
	free(val);
	resp_add_ok(ctx->out);
}

void cmd_debug_object(struct cmd_ctx *ctx)
{
	struct ks_entry *e = ks_find(ctx->db, ctx->argv[2].p, ctx->argv[2].len, ctx->now_ms);
	if (!e) {
		resp_add_error(ctx->out, ERR_NOKEY);
		return;
	}
	/* serializedlength: the string's bytes; for collections the memory
	 * they use (keyrail has no RDB serialiser yet to measure with). */
	size_t vlen;
	if (e->type == KS_STRING) {
		char buf[32];
		ks_str_get(e, buf, &vlen);
		vlen++;
	} else {
		vlen = ks_entry_mem(e);
	}
	char line[256];
	snprintf(line, sizeof(line), "Value at:%p refcount:1 encoding:%s serializedlength:%zu lru:%u lru_seconds_idle:%lld",
		 (void *)e, ks_enc_name(e->enc), vlen, e->lru_s & 0xffffff,
		 (long long)(ctx->now_ms / 1000 - e->lru_s));
	resp_add_simple(ctx->out, line);
}

/* MEMORY USAGE key [SAMPLES count]: what the key takes (header, key, value
 * and its structures: exact, so SAMPLES only gets validated). */
void cmd_memory_usage(struct cmd_ctx *ctx)
{
	if (ctx->argc != 3 && ctx->argc != 5) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return;
	}
	if (ctx->argc == 5) {
		long long n;
		if (!arg_is(&ctx->argv[3], "samples")) {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
		if (arg_ll(ctx, &ctx->argv[4], &n) != 0)
			return;
		if (n < 0) {
			resp_add_error(ctx->out, "ERR value is out of range, must be positive");
			return;
		}
	}
	struct ks_entry *e = ks_find(ctx->db, ctx->argv[2].p, ctx->argv[2].len, ctx->now_ms);
	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	/* + the bucket slot that points to it */
	resp_add_int(ctx->out, (long long)(ks_entry_mem(e) + sizeof(void *)));
}

void cmd_memory_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"USAGE <key> [SAMPLES <count>]",
		"    Return memory in bytes used by <key> and its value. Nested values are",
		"    sampled up to <count> times (default: 5, 0 means sample all).",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

void cmd_debug_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"DIGEST",
		"    Output a hex signature representing the current DB content.",
		"DIGEST-VALUE <key> [<key> ...]",
		"    Output a hex signature of the values of all the specified keys.",
		"OBJECT <key>",
		"    Show low-level info about `key` and associated value.",
		"POPULATE <count> [<prefix>] [<size>]",
		"    Create <count> string keys named key:<num>. If <prefix> is specified then",
		"    it is used instead of the 'key' prefix. These are not propagated to",
		"    replicas. Cluster slots are not respected so keys not belonging to the",
		"    current node can be created in cluster mode.",
		"SEGFAULT",
		"    Crash the server with sigsegv.",
		"SET-ACTIVE-EXPIRE <0|1>",
		"    Setting it to 0 disables expiring keys in background when they are not",
		"    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
		"    default.",
		"SLEEP <seconds>",
		"    Stop the server for <seconds>. Decimals allowed.",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

/* ---------------------------------------------------------- MONITOR */

void cmd_monitor(struct cmd_ctx *ctx)
{
	struct conn *c = ctx->c;
	if (!c->monitor) {
		c->monitor = true;
		ctx->sh->nmonitors++;
		atomic_fetch_add(&g_monitors, 1);
	}
	resp_add_ok(ctx->out);
}

/* ---------------------------------------------------------- SLOWLOG */

void cmd_slowlog_get(struct cmd_ctx *ctx)
{
	struct shard *sh = ctx->sh;
	long long count = 10;
	if (ctx->argc == 3) {
		if (arg_to_ll(&ctx->argv[2], &count) != 0 || count < -1) {
			resp_add_error(ctx->out, "ERR count should be greater than or equal to -1");
			return;
		}
	} else if (ctx->argc > 3) {
		resp_add_error(ctx->out, "ERR wrong number of arguments for 'slowlog|get' command");
		return;
	}
	long long n = sh->slowlog_len;
	if (count >= 0 && count < n)
		n = count;
	resp_add_array(ctx->out, n);
	for (long long i = 0; i < n; i++) {
		unsigned idx = (sh->slowlog_head + sh->slowlog_cap - 1 - (unsigned)i) % sh->slowlog_cap;
		struct slowlog_entry *e = &sh->slowlog[idx];
		resp_add_array(ctx->out, 6);
		resp_add_int(ctx->out, (long long)e->id);
		resp_add_int(ctx->out, e->time_s);
		resp_add_int(ctx->out, e->duration_us);
		resp_add_array(ctx->out, e->argc);
		for (int a = 0; a < e->argc; a++)
			resp_add_bulk(ctx->out, e->args[a].data ? e->args[a].data : "", e->args[a].len);
		resp_add_bulk_cstr(ctx->out, e->peer);
		resp_add_bulk_cstr(ctx->out, e->name);
	}
}

/* Merge: newest first across shards (by id), at most `count`. */
struct slow_item { long long id; const char *p; size_t len; };

static int slow_cmp(const void *a, const void *b)
{
	const struct slow_item *x = a, *y = b;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

void merge_slowlog_get(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	long long count = 10;
	if (ctx->argc == 3)
		arg_to_ll(&ctx->argv[2], &count);
	size_t cap = 0, len = 0;
	struct slow_item *items = NULL;
	for (int i = 0; i < n; i++) {
		long long cnt;
		size_t hl;
		if (!resp_reply_agg(parts[i].data, parts[i].len, &cnt, &hl))
			continue;
		const char *p = parts[i].data + hl;
		size_t left = parts[i].len - hl;
		for (long long k = 0; k < cnt; k++) {
			size_t l = resp_reply_len(p, left);
			if (!l)
				break;
			long long id = 0;
			size_t ehl;
			long long en;
			if (resp_reply_agg(p, l, &en, &ehl)) {
				size_t il = resp_reply_len(p + ehl, l - ehl);
				resp_reply_int(p + ehl, il, &id);
			}
			if (len == cap) {
				cap = cap ? cap * 2 : 16;
				items = realloc(items, cap * sizeof(*items));
				if (!items)
					abort();
			}
			items[len++] = (struct slow_item){ id, p, l };
			p += l;
			left -= l;
		}
	}
	if (len)
		qsort(items, len, sizeof(*items), slow_cmp);
	size_t out_n = (count >= 0 && (size_t)count < len) ? (size_t)count : len;
	resp_add_array(ctx->out, (long long)out_n);
	for (size_t i = 0; i < out_n; i++)
		rbuf_append(ctx->out, items[i].p, items[i].len);
	free(items);
}

void cmd_slowlog_len(struct cmd_ctx *ctx)
{
	resp_add_int(ctx->out, ctx->sh->slowlog_len);
}

void cmd_slowlog_reset(struct cmd_ctx *ctx)
{
	shard_slowlog_reset(ctx->sh);
	resp_add_ok(ctx->out);
}

void cmd_slowlog_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN",
		"    Return the length of the slowlog.",
		"RESET",
		"    Reset the slowlog.",
		"HELP",
		"    Print this help.",
		NULL,
	};
	add_help(ctx, lines);
}

/* ------------------------------------------------------- RANDOMKEY */

void merge_randomkey(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	int cand[SHARD_MAX];
	int nc = 0;
	for (int i = 0; i < n; i++)
		if (parts[i].len && parts[i].data[0] == '$' && parts[i].data[1] != '-')
			cand[nc++] = i;
	if (!nc) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	int pick = cand[shard_rand(ctx->sh) % (uint64_t)nc];
	rbuf_append(ctx->out, parts[pick].data, parts[pick].len);
}
