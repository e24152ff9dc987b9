/* Client connections of one shard: input parsing, ordered replies, output.
 *
 * Input: bytes are read into c->in; complete requests are parsed out of it
 * (zero copy: argv points into c->in) and dispatched one by one. A request
 * that is still arriving is not re-parsed until at least the number of
 * bytes the parser asked for is there.
 *
 * Output: see shard_int.h for the pend queue that keeps replies in request
 * order when some commands ran on other shards. */
#include "shards/shard_int.h"
#include "shards/pubsub.h"
#include "shards/propagate.h"   /* wstream */
#include "shards/replclient.h"  /* replica */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char protected_mode_msg[] =
	"-DENIED Redis is running in protected mode because protected mode is enabled "
	"and no password is set for the default user. In this mode connections are only "
	"accepted from the loopback interface. If you want to connect from external "
	"computers to Redis you may adopt one of the following solutions: 1) Just disable "
	"protected mode sending the command 'CONFIG SET protected-mode no' from the "
	"loopback interface by connecting to Redis from the same host the server is "
	"running, however MAKE SURE Redis is not publicly accessible from internet if you "
	"do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can "
	"just disable the protected mode by editing the Redis configuration file, and "
	"setting the protected mode option to 'no', and then restarting the server. 3) If "
	"you started the server manually just for testing, restart it with the "
	"'--protected-mode no' option. 4) Set up an authentication password for the "
	"default user. NOTE: You only need to do one of the above things in order for the "
	"server to start accepting connections from the outside.\r\n";

static uint64_t total_clients(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < g_nshards; i++)
		n += STAT_GET(g_shards[i]->stats.conns);
	return n;
}

struct conn *conn_new(struct shard *sh, const struct dp_event *ev)
{
	if (total_clients() >= (uint64_t)sh->cfg->maxclients) {
		static const char msg[] = "-ERR max number of clients reached\r\n";
		(void)dp_send(sh->port, ev->conn, msg, sizeof(msg) - 1);
		dp_conn_close(sh->port, ev->conn);
		STAT_ADD(sh->stats.rejected, 1);
		return NULL;
	}
	if (sh->cfg->protected_mode && (!sh->cfg->requirepass || !sh->cfg->requirepass[0]) &&
	    !ev->peer_is_loopback && !ev->peer_is_unix) {
		(void)dp_send(sh->port, ev->conn, protected_mode_msg, sizeof(protected_mode_msg) - 1);
		dp_conn_close(sh->port, ev->conn);
		STAT_ADD(sh->stats.rejected, 1);
		return NULL;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->sh = sh;
	c->fd = ev->conn;
	c->id = ++sh->conn_seq * g_nshards + sh->id;
	c->proto = 2;
	c->blk_shard = -1;
	c->is_local = ev->peer_is_loopback || ev->peer_is_unix;
	c->authed = !sh->cfg->requirepass || !sh->cfg->requirepass[0];
	c->ctime_ms = c->last_ms = sh->now_ms;
	c->last_cmd = "NULL";
	snprintf(c->peer, sizeof(c->peer), "%s", ev->peer);
	snprintf(c->local, sizeof(c->local), "%s", ev->local);
	c->next = sh->conns;
	if (sh->conns)
		sh->conns->prev = c;
	sh->conns = c;
	sh->nconns++;
	STAT_SET(sh->stats.conns, sh->nconns);
	STAT_ADD(sh->stats.conns_total, 1);
	dp_conn_set_udata(sh->port, c->fd, c);
	return c;
}

static void pend_free_all(struct conn *c)
{
	struct pend *p = c->pend_head;
	while (p) {
		struct pend *n = p->next;
		rbuf_free(&p->buf);
		free(p);
		p = n;
	}
	c->pend_head = c->pend_tail = NULL;
}

/* Frees are deferred to the end of the loop round (conn_reap), so code
 * deep in a call chain may close a connection and keep using the pointer. */
void conn_maybe_free(struct shard *sh, struct conn *c)
{
	if (!c->closed || c->inflight || c->dead)
		return;
	c->dead = true;
	c->dead_next = sh->dead;
	sh->dead = c;
}

void conn_reap(struct shard *sh)
{
	while (sh->dead) {
		struct conn *c = sh->dead;
		sh->dead = c->dead_next;
		if (c->prev)
			c->prev->next = c->next;
		else
			sh->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pend_free_all(c);
		wrec_conn_gone(sh, c);   /* wstream */
		rbuf_free(&c->in);
		rbuf_free(&c->out);
		free(c->name);
		free(c->mstate);
		free(c);
	}
}

void conn_close(struct shard *sh, struct conn *c)
{
	if (c->closed)
		return;
	if (replclient_is_master(c) && replclient_defer_close(sh, c))   /* replica */
		return;
	c->closed = true;
	block_conn_gone(sh, c);
	txn_conn_reset(sh, c);
	if (c->ps)
		ps_conn_reset(sh, c);
	if (c->monitor) {
		c->monitor = false;
		sh->nmonitors--;
		atomic_fetch_sub(&g_monitors, 1);
	}
	if (c->fd >= 0) {   /* replica: the master client has no socket */
		dp_conn_set_udata(sh->port, c->fd, NULL);
		dp_conn_close(sh->port, c->fd);
	}
	sh->nconns--;
	STAT_SET(sh->stats.conns, sh->nconns);
	conn_maybe_free(sh, c);
}

void conn_mark_flush(struct shard *sh, struct conn *c)
{
	if (c->in_flush)
		return;
	c->in_flush = true;
	c->flush_next = sh->flush_list;
	sh->flush_list = c;
}

/* Send what we can. Returns false if the connection was closed. */
static bool conn_write(struct shard *sh, struct conn *c)
{
	if (replclient_is_master(c))   /* replica: its replies are counted, not sent */
		return replclient_write(sh, c);
	size_t lim = wrec_out_limit(sh, c);   /* wstream: replies wait for the disk */
	while (c->out_sent < lim) {
		ssize_t n = dp_send(sh->port, c->fd, c->out.data + c->out_sent,
				    lim - c->out_sent);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			conn_close(sh, c);
			return false;
		}
		c->out_sent += (size_t)n;
		STAT_ADD(sh->stats.net_out, (uint64_t)n);
	}
	if (c->out_sent == c->out.len) {
		wrec_out_reset(sh, c);   /* wstream */
		c->out.len = 0;
		c->out_sent = 0;
		/* Give back large buffers once a big reply has gone. */
		if (c->out.cap > 1024 * 1024)
			rbuf_free(&c->out);
		/* Close after the last reply, including ones still coming back
		 * from other shards (they precede the error that closes us). */
		if (c->closing && !c->pend_head) {
			conn_close(sh, c);
			return false;
		}
	}
	bool want_write = c->out.len > 0 && c->out_sent < lim;   /* wstream: not for held bytes */
	if (want_write != c->want_write) {
		c->want_write = want_write;
		dp_set_interest(sh->port, c->fd, !c->eof && !c->read_off, want_write);
	}
	return true;
}

void conn_flush_all(struct shard *sh)
{
	wrec_round(sh);   /* wstream */
	while (sh->flush_list) {
		struct conn *c = sh->flush_list;
		sh->flush_list = c->flush_next;
		c->in_flush = false;
		if (!c->closed)
			conn_write(sh, c);
	}
}

void conn_on_writable(struct shard *sh, struct conn *c)
{
	conn_write(sh, c);
}

/* Out-of-band output (MONITOR lines): behind any reply still pending. */
void conn_append_reply(struct conn *c, const void *p, size_t n)
{
	if (c->closed)
		return;
	rbuf_append(conn_reply_buf(c), p, n);
}

/* Where the reply of the command now being dispatched goes: straight into
 * the output buffer when nothing is pending, else a (new or reused) pend. */
struct rbuf *conn_reply_buf(struct conn *c)
{
	if (!c->pend_head) {
		conn_mark_flush(c->sh, c);
		return &c->out;
	}
	struct pend *t = c->pend_tail;
	if (t->done && !t->discard)
		return &t->buf;    /* consecutive local replies share one pend */
	struct pend *p = conn_pend_new(c);
	p->done = true;
	return &p->buf;
}

struct pend *conn_pend_new(struct conn *c)
{
	struct pend *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	if (c->pend_tail)
		c->pend_tail->next = p;
	else
		c->pend_head = p;
	c->pend_tail = p;
	return p;
}

/* p has its reply: move every finished pend at the head to the output. */
void conn_pend_done(struct shard *sh, struct conn *c, struct pend *p)
{
	p->done = true;
	bool moved = false;
	while (c->pend_head && c->pend_head->done) {
		struct pend *h = c->pend_head;
		if (!h->discard && !c->closed && h->buf.len) {
			if (!c->out.len) {
				/* Adopt the buffer instead of copying it. */
				rbuf_free(&c->out);
				c->out = h->buf;
				c->out_sent = 0;
				memset(&h->buf, 0, sizeof(h->buf));
			} else {
				rbuf_append(&c->out, h->buf.data, h->buf.len);
			}
			moved = true;
		}
		c->pend_head = h->next;
		if (!c->pend_head)
			c->pend_tail = NULL;
		rbuf_free(&h->buf);
		free(h);
	}
	if (moved || (c->closing && !c->pend_head && !c->closed))
		conn_mark_flush(sh, c);
}

static void conn_protocol_error(struct shard *sh, struct conn *c, const char *err)
{
	resp_add_error(conn_reply_buf(c), err);
	srv_log(LL_VERBOSE, "Protocol error (%s) from client: id=%llu addr=%s",
		err, (unsigned long long)c->id, c->peer);
	c->closing = true;
	conn_mark_flush(sh, c);
}

/* Redis 7: up to INT_MAX elements once authenticated; a client that still
 * has to authenticate may send at most 10 elements of 16 KiB each. */
static struct resp_limits conn_limits(const struct shard *sh, const struct conn *c)
{
	struct resp_limits l = {
		.max_bulk_len = sh->cfg->proto_max_bulk_len,
		.max_multibulk_len = INT32_MAX,
		.max_inline_len = 64 * 1024,
	};
	if (!c->authed) {
		l.max_multibulk_len = 10;
		l.max_bulk_len = 16384;
	}
	return l;
}

static const char *unauth_error(const char *err)
{
	if (strstr(err, "invalid multibulk length"))
		return "ERR Protocol error: unauthenticated multibulk length";
	if (strstr(err, "invalid bulk length"))
		return "ERR Protocol error: unauthenticated bulk length";
	return err;
}

/* Parse and dispatch requests from buf[*off..len): buf is ext[0..ext_len)
 * (the bytes of a DATA event, parsed where they lie) or, for ext NULL,
 * c->in (looked up again every round: a busy script's poll may grow it).
 * Stops at a barrier (a multi-round command runs), at the in-flight cap,
 * at a protocol error, or at an incomplete request (c->in_need then says
 * how many bytes from *off on it needs). */
static void parse_run(struct shard *sh, struct conn *c, const char *ext, size_t ext_len,
		      size_t *off)
{
	struct resp_limits lim = conn_limits(sh, c);
	bool was_authed = c->authed;
	struct resp_req req;
	resp_req_init(&req);
	for (;;) {
		const char *buf = ext ? ext : c->in.data;
		size_t len = ext ? ext_len : c->in.len;
		if (*off >= len || c->closing || c->closed || c->barrier)
			break;
		if (sh->lock_owner && !sh->lock_open) {
			txn_gate(sh, c);   /* a transaction holds this shard */
			break;
		}
		if (c->inflight >= CONN_MAX_INFLIGHT) {
			c->throttled = true;   /* route_on_reply resumes us */
			break;
		}
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(buf + *off, len - *off, &lim, &req, &consumed, &need, &err);
		if (rc == RESP_PARSE_MORE) {
			c->in_need = need;
			break;
		}
		if (rc == RESP_PARSE_ERR) {
			conn_protocol_error(sh, c, c->authed ? err : unauth_error(err));
			break;
		}
		*off += consumed;
		c->in_need = 0;
		if (replclient_is_master(c))   /* replica: the stream's offset */
			replclient_on_request(sh, c, &req, consumed);
		if (req.argc == 0)
			continue;
		c->last_ms = sh->now_ms;
		route_dispatch(sh, c, &req);
		if (c->authed != was_authed) {   /* AUTH/HELLO lifted the limits */
			lim = conn_limits(sh, c);
			was_authed = c->authed;
		}
	}
	resp_req_free(&req);
}

static size_t conn_unparsed(const struct conn *c)
{
	return c->in.len - c->in_off;
}

/* Parse and dispatch the buffered requests from c->in_off on. */
static void conn_parse(struct shard *sh, struct conn *c)
{
	if (c->parsing)
		return;
	c->parsing = true;
	parse_run(sh, c, NULL, 0, &c->in_off);
	c->parsing = false;
	if (c->closed)
		return;
	/* Compact lazily: each byte is moved O(1) times overall, however many
	 * times parsing stops (barriers, the in-flight cap). */
	if (c->in_off == c->in.len) {
		c->in.len = c->in_off = 0;
		if (c->in.cap > 1024 * 1024)
			rbuf_free(&c->in);
	} else if (c->in_off > CONN_READ_CHUNK && c->in_off > c->in.len / 2) {
		rbuf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
	if (c->eof && !c->barrier && !c->throttled && !c->closing && !c->gated) {
		/* Everything the peer sent has run: close once replies are out. */
		c->closing = true;
		conn_mark_flush(sh, c);
	}
	if (c->in_need > (size_t)sh->cfg->client_query_buffer_limit) {
		srv_log(LL_WARNING, "Closing client that reached max query buffer length: id=%llu addr=%s",
			(unsigned long long)c->id, c->peer);
		conn_close(sh, c);
	}
}

void conn_resume(struct shard *sh, struct conn *c)
{
	/* An EXEC whose coordinator finished goes on first, even if the
	 * client has gone: its locks must be released. */
	if (c->txn_exec && !c->barrier && txn_exec_continue(sh, c))
		return;
	if (c->gated)
		return;
	c->throttled = false;
	if (c->read_off && !c->barrier && !c->closed) {
		c->read_off = false;
		dp_set_interest(sh->port, c->fd, !c->eof, c->want_write);
	}
	if (!c->closed && !c->barrier &&
	    (c->eof || (conn_unparsed(c) && (!c->in_need || c->in_need <= conn_unparsed(c)))))
		conn_parse(sh, c);
}

/* Nothing can be parsed now (a blocking command, the in-flight cap, a
 * transaction's gate)? */
static bool conn_stalled(const struct conn *c)
{
	return (c->barrier && c->blk_shard == -1) || c->throttled || c->gated;
}

/* New bytes were added to c->in: enforce the query buffer limit and parse
 * once the request the parser waits for is complete. */
static void conn_after_read(struct shard *sh, struct conn *c)
{
	if ((long long)conn_unparsed(c) > sh->cfg->client_query_buffer_limit) {
		srv_log(LL_WARNING, "Closing client that reached max query buffer length: id=%llu addr=%s",
			(unsigned long long)c->id, c->peer);
		conn_close(sh, c);
		return;
	}
	if (c->in_need && conn_unparsed(c) < c->in_need)
		return;
	if (c->barrier)
		return;   /* blocked: keep reading (to see it close), parse later */
	conn_parse(sh, c);
}

void conn_on_readable(struct shard *sh, struct conn *c)
{
	if (c->eof)
		return;
	if (conn_stalled(c)) {
		/* Leave the rest in the socket (the client's own flow control)
		 * until conn_resume(). */
		if (!c->read_off) {
			c->read_off = true;
			dp_set_interest(sh->port, c->fd, false, c->want_write);
		}
		return;
	}
	/* Read at least as much as is buffered: a huge request arriving in
	 * pieces is then re-parsed O(log n) times, not O(n). */
	size_t pending = conn_unparsed(c);
	size_t want = pending > CONN_READ_CHUNK ? pending : CONN_READ_CHUNK;
	if (c->in_need > pending && c->in_need - pending > want)
		want = c->in_need - pending;
	if (want > 64u * 1024 * 1024)
		want = 64u * 1024 * 1024;
	rbuf_reserve(&c->in, want);
	ssize_t n = dp_recv(sh->port, c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
	if (n == -EAGAIN) {
		if (pending && (!c->in_need || c->in_need <= pending))
			conn_parse(sh, c);
		return;
	}
	if (n == 0 && c->blk_shard != -1) {
		/* A blocked client went away: forget it (as Redis does). */
		conn_close(sh, c);
		return;
	}
	if (n == 0) {
		/* The peer shut its write side: run what it sent, then close. */
		c->eof = true;
		dp_set_interest(sh->port, c->fd, false, c->want_write);
		conn_parse(sh, c);
		return;
	}
	if (n < 0) {
		conn_close(sh, c);
		return;
	}
	c->in.len += (size_t)n;
	STAT_ADD(sh->stats.net_in, (uint64_t)n);
	conn_after_read(sh, c);
}

/* Keep p[0..k) of c's stream in c->in, ahead of any bytes a busy
 * script's poll appended while p was being parsed (they came later). */
static void conn_keep(struct conn *c, const char *p, size_t k)
{
	size_t rest = conn_unparsed(c);
	if (!rest)
		c->in.len = c->in_off = 0;
	rbuf_reserve(&c->in, k);
	char *at = c->in.data + c->in_off;
	memmove(at + k, at, rest);
	memcpy(at, p, k);
	c->in.len += k;
}

/* Parse c->in once the batch of events is handled, not per segment: a
 * request too big for a segment, whose length the parser cannot know
 * ahead (a multibulk of a million small arguments), is then re-parsed
 * once per round with everything that came in it, as a read of the queue
 * would, not once per segment. */
static void conn_parse_later(struct shard *sh, struct conn *c)
{
	if (c->parse_due)
		return;
	c->parse_due = true;
	c->parse_next = sh->parse_list;
	sh->parse_list = c;
}

void conn_on_data(struct shard *sh, struct conn *c, const char *p, size_t n)
{
	STAT_ADD(sh->stats.net_in, (uint64_t)n);
	if (c->eof || c->closing)
		return;   /* nothing after QUIT or a protocol error runs */
	if (c->parsing || conn_unparsed(c) || c->barrier || conn_stalled(c)) {
		/* Behind bytes not run yet, or nothing can run now: queue
		 * them, and while stalled let the stack hold what follows
		 * (no more DATA once read interest is off). */
		if (conn_stalled(c) && !c->read_off) {
			c->read_off = true;
			dp_set_interest(sh->port, c->fd, false, c->want_write);
		}
		rbuf_append(&c->in, p, n);
		conn_parse_later(sh, c);
		return;
	}
	/* The common case: requests parsed and run where they lie. */
	c->parsing = true;
	size_t off = 0;
	parse_run(sh, c, p, n, &off);
	c->parsing = false;
	if (c->closed)
		return;
	if (off == n && !conn_unparsed(c))
		return;
	/* A request cut at the segment's end, or requests a barrier or the
	 * in-flight cap stopped: the rest goes to c->in, where the next
	 * bytes join it. */
	if (off < n)
		conn_keep(c, p + off, n - off);
	conn_parse_later(sh, c);
}

void conn_parse_due(struct shard *sh)
{
	while (sh->parse_list) {
		struct conn *c = sh->parse_list;
		sh->parse_list = c->parse_next;
		c->parse_due = false;
		if (!c->closed && !c->parsing)
			conn_after_read(sh, c);
	}
}

void conn_client_info(const struct conn *c, int64_t now_ms, struct rbuf *out)
{
	char line[768];
	char flags[12];
	int nf = 0;
	if (c->monitor)
		flags[nf++] = 'O';
	if (replclient_is_master(c))   /* replica */
		flags[nf++] = 'M';
	if (c->no_evict)
		flags[nf++] = 'e';
	if (c->no_touch)
		flags[nf++] = 'T';
	if (c->ps)
		flags[nf++] = 'P';
	if (txn_queued(c) >= 0)
		flags[nf++] = 'x';
	if (c->blk_shard != -1)
		flags[nf++] = 'b';
	if (!nf)
		flags[nf++] = 'N';
	flags[nf] = 0;
	int n = snprintf(line, sizeof(line),
		"id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s "
		"db=%d sub=%zu psub=%zu ssub=%zu multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 "
		"multi-mem=0 rbs=%zu rbp=0 obl=%zu oll=0 omem=0 tot-mem=%zu events=r "
		"cmd=%s user=default redir=-1 resp=%d\n",
		(unsigned long long)c->id, c->peer, c->local, c->fd,
		c->name ? c->name : "",
		(long long)((now_ms - c->ctime_ms) / 1000), (long long)((now_ms - c->last_ms) / 1000),
		flags, c->db, c->ps ? ps_nchannels(c) : 0, c->ps ? ps_npatterns(c) : 0,
		c->ps ? ps_nshardchannels(c) : 0, txn_queued(c), c->in.len - c->in_off, c->in.cap - c->in.len, c->in.cap,
		c->out.len - c->out_sent, sizeof(*c) + c->in.cap + c->out.cap,
		c->last_cmd, c->proto);
	rbuf_append(out, line, (size_t)n);
}

void conn_push(struct shard *sh, struct conn *c, const void *p, size_t n)
{
	(void)sh;
	conn_append_reply(c, p, n);
}
