/* shards/propagate.c — what a shard puts on the write stream, and the
 * shard-side machinery of the AOF: replay at start-up, cuts for
 * BGREWRITEAOF, and holding replies until their writes are on disk.
 *
 * Records. After a write command changed something, wrec_after_exec()
 * records the command in a form that replays to the same data on another
 * server, the way Redis 7 propagates it:
 *   EXPIRE PEXPIRE EXPIREAT PEXPIREAT  -> PEXPIREAT key <abs ms> [flags], or
 *                                         DEL key when it deleted the key
 *   SET .. EX|PX|EXAT, SETEX, PSETEX    -> SET key value PXAT <abs ms>
 *   GETEX EX|PX|EXAT|PXAT / PERSIST     -> PEXPIREAT key <ms> / PERSIST / DEL
 *   INCRBYFLOAT                         -> SET key <value> KEEPTTL
 *   HINCRBYFLOAT                        -> HSET key field <value>
 *   SPOP key                            -> SREM key member
 *   SPOP key count                      -> SREM key member, one per member
 *                                         (a unit), or DEL key if it emptied it
 *   BLPOP BRPOP                         -> LPOP / RPOP key
 *   BLMOVE BRPOPLPUSH                   -> LMOVE / RPOPLPUSH
 *   LMPOP BLMPOP                        -> LPOP / RPOP key <count popped>
 *   BZPOPMIN BZPOPMAX                   -> ZPOPMIN / ZPOPMAX key
 *   ZMPOP BZMPOP                        -> ZPOPMIN / ZPOPMAX key <count popped>
 *   RESTORE with a relative TTL         -> RESTORE key <abs ms> ... ABSTTL
 *   (internal) __take key               -> DEL key
 *   (internal) __put key db ...         -> DEL key + the commands that build
 *                                         its value (a cross-shard RENAME,
 *                                         COPY or gathered write-back)
 *   FLUSHALL FLUSHDB SWAPDB (run on     -> as sent, once (shard 0's part)
 *   every shard)
 *   anything else                       -> as sent
 * Absolute times and popped values are read back after execution: from
 * the keyspace, or from the reply the command just wrote (which member
 * SPOP took, which key BLPOP served). Keys that expire (lazily or by the
 * active cycle) are recorded as DEL. Commands run on gathered copies
 * (ctx->scratch) are not recorded: their write-back is.
 *
 * AOF replay (shard 0). While the stream is loading, shard 0 feeds the AOF
 * files to an internal client (struct conn without a socket, CLIENT REPLY
 * OFF) through the ordinary parser and dispatcher, so MULTI/EXEC blocks
 * take the shard locks and commands reach the shards owning their keys;
 * blocking commands are given in their non-blocking form. Other clients
 * get -LOADING.
 *
 * Cuts (BGREWRITEAOF). Shard 0 takes every shard's lock (one transaction)
 * and, holding them, asks each shard to serialise its keyspace as AOF
 * commands and mark the point in its ring: one global cut, so no
 * transaction has part of its writes before it and part after.
 *
 * appendfsync always. A reply may leave only once the records made before
 * it (on any shard) are on disk. At the end of each round the shard takes
 * a snapshot of every shard's recorded sequence number; output produced in
 * the round is marked with it and held until every durable mark has
 * reached it. Marks are kept per connection (two: the oldest waiting and
 * the newest, so a stream of writes cannot starve a client's older
 * replies), the held bytes stay in c->out, and the replication thread
 * wakes the shard when the marks move. */
#include "shards/propagate.h"
#include "shards/shard_int.h"
#include "shards/obj_hash.h"
#include "shards/obj_list.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"
#include "shards/snap.h"
#include "repl/rdb.h"
#include "repl/wstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WREC_BATCH 64           /* elements per command when building a value */
#define GATE_SNAPS 256          /* rounds waiting for disk, per shard */
#define LOADER_FEED (1u << 20)  /* AOF bytes handed to the loader per round */

/* ------------------------------------------------------ small helpers */

/* One command being built: owned copies of the arguments. */
struct cbuild {
	struct rbuf bytes;
	size_t off[2 * WREC_BATCH + 8], len[2 * WREC_BATCH + 8];
	int argc;
};

static void cb_add(struct cbuild *b, const void *p, size_t n)
{
	b->off[b->argc] = b->bytes.len;
	b->len[b->argc] = n;
	rbuf_append(&b->bytes, p, n);
	b->argc++;
}

static void cb_add_ll(struct cbuild *b, long long v)
{
	char buf[24];
	cb_add(b, buf, ks_ll2str(buf, v));
}

static void cb_add_str(struct cbuild *b, const char *s)
{
	cb_add(b, s, strlen(s));
}

typedef void emit_fn(void *arg, int argc, const char *const *argv, const size_t *lens);

static void cb_emit(struct cbuild *b, emit_fn *emit, void *arg)
{
	const char *argv[2 * WREC_BATCH + 8];
	for (int i = 0; i < b->argc; i++)
		argv[i] = b->bytes.data + b->off[i];
	emit(arg, b->argc, argv, b->len);
	b->argc = 0;
	b->bytes.len = 0;
}

/* Emitters: a record on the shard's ring, or RESP into a buffer. */
struct rec_target {
	unsigned sh_id;
	int db;
};

static void emit_record(void *arg, int argc, const char *const *argv, const size_t *lens)
{
	const struct rec_target *t = arg;
	wstream_record(t->sh_id, t->db, argc, argv, lens);
}

static void emit_resp(void *arg, int argc, const char *const *argv, const size_t *lens)
{
	struct rbuf *b = arg;
	size_t total = 32;   /* headers: at most 1 + 20 digits (+ NUL) + 2 */
	for (int i = 0; i < argc; i++)
		total += lens[i] + 32;
	rbuf_reserve(b, total);
	char *o = b->data + b->len;
	*o++ = '*';
	o += ks_ll2str(o, argc);
	*o++ = '\r';
	*o++ = '\n';
	for (int i = 0; i < argc; i++) {
		*o++ = '$';
		o += ks_ll2str(o, (long long)lens[i]);
		*o++ = '\r';
		*o++ = '\n';
		memcpy(o, argv[i], lens[i]);
		o += lens[i];
		*o++ = '\r';
		*o++ = '\n';
	}
	b->len = (size_t)(o - b->data);
}

static void rec_args(struct shard *sh, int db, int argc, const struct resp_arg *argv)
{
	wstream_record_args(sh->id, db, argc, argv);
}

/* Record a command given as words and arguments: each entry of w is a
 * literal (a != NULL picks the argument instead). */
struct word {
	const char *lit;
	const struct resp_arg *a;
};

static void rec_words(struct shard *sh, int db, const struct word *w, int n)
{
	const char *v[16];
	size_t l[16];
	for (int i = 0; i < n && i < 16; i++) {
		v[i] = w[i].a ? w[i].a->p : w[i].lit;
		l[i] = w[i].a ? w[i].a->len : strlen(w[i].lit);
	}
	wstream_record(sh->id, db, n, v, l);
}

/* A group of records that must replay together: a unit of its own unless
 * the shard is already inside one. */
static uint64_t group_begin(struct shard *sh)
{
	if (wstream_in_txn(sh->id))
		return 0;
	uint64_t id = wstream_txn_id(sh->id);
	wstream_txn_begin(sh->id, id, 1);
	return id;
}

static void group_end(struct shard *sh, uint64_t id)
{
	if (id)
		wstream_txn_end(sh->id, id);
}

/* --------------------------------------------- a key as commands */

struct ser {
	struct cbuild b;
	emit_fn *emit;
	void *arg;
	const char *cmd;
	const struct ks_entry *e;
	int per;                 /* arguments per element (1, or 2 for pairs) */
};

static void ser_start(struct ser *s, const char *cmd, int per)
{
	s->cmd = cmd;
	s->per = per;
	s->b.argc = 0;
	s->b.bytes.len = 0;
	cb_add_str(&s->b, cmd);
	cb_add(&s->b, s->e->key, s->e->klen);
}

static void ser_more(struct ser *s)
{
	if (s->b.argc >= 2 + WREC_BATCH * s->per) {
		cb_emit(&s->b, s->emit, s->arg);
		ser_start(s, s->cmd, s->per);
	}
}

static void ser_end(struct ser *s)
{
	if (s->b.argc > 2)
		cb_emit(&s->b, s->emit, s->arg);
	s->b.argc = 0;
}

/* The commands that rebuild e's value and expiry (as Redis's AOF rewrite:
 * SET, RPUSH, SADD, ZADD, HMSET in batches of 64, then PEXPIREAT). */
static void ser_key(const struct ks_entry *e, emit_fn *emit, void *arg, struct rbuf *scratch)
{
	struct ser s = { .emit = emit, .arg = arg, .e = e };
	s.b.bytes = *scratch;
	s.b.bytes.len = 0;
	switch (e->type) {
	case KS_STRING: {
		char buf[24];
		size_t len;
		const char *v = ks_str_get(e, buf, &len);
		ser_start(&s, "SET", 1);
		cb_add(&s.b, v, len);
		cb_emit(&s.b, emit, arg);
		break;
	}
	case KS_LIST: {
		struct obj_list_iter it;
		struct obj_list_elem el;
		unsigned char nb[OBJ_LIST_NUMBUF];
		ser_start(&s, "RPUSH", 1);
		obj_list_iter_init(&it, e->v.ptr, e->enc, 0, true);
		while (obj_list_iter_next(&it, &el)) {
			size_t len;
			const unsigned char *p = obj_list_elem_str(&el, nb, &len);
			cb_add(&s.b, p, len);
			ser_more(&s);
		}
		ser_end(&s);
		break;
	}
	case KS_SET: {
		struct obj_set_iter it;
		struct obj_set_elem m;
		ser_start(&s, "SADD", 1);
		obj_set_iter_init(&it, e->v.ptr, e->enc);
		while (obj_set_iter_next(&it, &m)) {
			cb_add(&s.b, m.p, m.len);
			ser_more(&s);
		}
		ser_end(&s);
		break;
	}
	case KS_ZSET: {
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		ser_start(&s, "ZADD", 2);
		obj_zset_iter_rank(&it, e->v.ptr, e->enc, 0, false);
		while (obj_zset_iter_next(&it, &el)) {
			char sc[40];
			int n = snprintf(sc, sizeof(sc), "%.17g", el.score);
			cb_add(&s.b, sc, (size_t)n);
			cb_add(&s.b, el.m, el.mlen);
			ser_more(&s);
		}
		ser_end(&s);
		break;
	}
	case KS_HASH: {
		struct obj_hash_iter it;
		struct obj_hash_str f, v;
		ser_start(&s, "HMSET", 2);
		obj_hash_iter_init(&it, e->v.ptr, e->enc);
		while (obj_hash_iter_next(&it, &f, &v)) {
			cb_add(&s.b, f.p, f.len);
			cb_add(&s.b, v.p, v.len);
			ser_more(&s);
		}
		ser_end(&s);
		break;
	}
	default:
		srv_log(LL_WARNING, "AOF: key of type %d cannot be written as commands (skipped)", e->type);
		break;
	}
	if (e->expire_ms != KS_NO_EXPIRE) {
		s.b.argc = 0;
		s.b.bytes.len = 0;
		cb_add_str(&s.b, "PEXPIREAT");
		cb_add(&s.b, e->key, e->klen);
		cb_add_ll(&s.b, e->expire_ms);
		cb_emit(&s.b, emit, arg);
	}
	*scratch = s.b.bytes;
}

/* Record the current value of key in db (or its absence) as DEL + the
 * commands that rebuild it: the always-right fallback. */
static void rec_rebuild(struct shard *sh, int db, const void *key, size_t klen)
{
	struct rec_target t = { sh->id, db };
	uint64_t g = group_begin(sh);
	const char *dv[2] = { "DEL", key };
	size_t dl[2] = { 3, klen };
	wstream_record(sh->id, db, 2, dv, dl);
	struct ks_entry *e = ks_find_raw(&sh->ks->db[db], key, klen);
	if (e && (e->expire_ms == KS_NO_EXPIRE || e->expire_ms > sh->now_ms)) {
		struct rbuf scratch = {0};
		ser_key(e, emit_record, &t, &scratch);
		rbuf_free(&scratch);
	}
	group_end(sh, g);
}

/* --------------------------------------------- reading the reply */

/* The values completed by the last token of a reply buffer: the last
 * scalar and the aggregates that end with it, innermost first. */
struct rtail {
	size_t scalar_at;        /* start of the last scalar token */
	int nagg;
	size_t agg_at[8];        /* starts of the aggregates ending at the end */
};

/* Walk the RESP values in b[0..len) (a run of complete values, maybe
 * inside an unfinished aggregate, e.g. EXEC's array). false if malformed. */
static bool reply_tail(const char *b, size_t len, struct rtail *t)
{
	struct { size_t at; long long left; } st[64];
	int depth = 0;
	size_t i = 0;
	memset(t, 0, sizeof(*t));
	while (i < len) {
		size_t start = i;
		const char *e = memchr(b + i, '\n', len - i);
		if (!e || e == b + i || e[-1] != '\r')
			return false;
		char type = b[i];
		long long n = 0;
		bool neg = false;
		for (const char *q = b + i + 1; q < e - 1; q++) {
			if (*q == '-')
				neg = true;
			else if (*q >= '0' && *q <= '9')
				n = n * 10 + (*q - '0');
		}
		if (neg)
			n = -n;
		i = (size_t)(e - b) + 1;
		bool agg = false;
		switch (type) {
		case '$': case '=': case '!':
			if (n >= 0)
				i += (size_t)n + 2;
			break;
		case '*': case '~': case '>':
			agg = n > 0;
			break;
		case '%': case '|':
			agg = n > 0;
			n *= 2;
			break;
		default:
			break;
		}
		if (i > len)
			return false;
		t->nagg = 0;
		if (agg) {
			if (depth == 64)
				return false;
			st[depth].at = start;
			st[depth].left = n;
			depth++;
			continue;
		}
		t->scalar_at = start;
		/* the value is complete: it may complete its parents */
		while (depth && --st[depth - 1].left == 0) {
			depth--;
			if (t->nagg < 8)
				t->agg_at[t->nagg++] = st[depth].at;
		}
	}
	return true;
}

/* Element idx of the complete aggregate at b[at..len): its start, or
 * SIZE_MAX. *count gets the aggregate's element count. */
static size_t agg_elem(const char *b, size_t len, size_t at, long long idx, long long *count)
{
	long long n;
	size_t hdr;
	int type = resp_reply_agg(b + at, len - at, &n, &hdr);
	if (!type || n < 0)
		return SIZE_MAX;
	if (type == '%')
		n *= 2;
	if (count)
		*count = n;
	size_t i = at + hdr;
	for (long long k = 0; k < n; k++) {
		if (k == idx)
			return i;
		size_t l = resp_reply_len(b + i, len - i);
		if (!l)
			return SIZE_MAX;
		i += l;
	}
	return SIZE_MAX;
}

/* The bytes of the bulk string at b[at..]. */
static bool bulk_at(const char *b, size_t len, size_t at, struct resp_arg *out)
{
	if (at >= len || (b[at] != '$' && b[at] != '+'))
		return false;
	const char *e = memchr(b + at, '\n', len - at);
	if (!e)
		return false;
	if (b[at] == '+') {
		out->p = b + at + 1;
		out->len = (size_t)(e - 1 - (b + at + 1));
		return true;
	}
	long long n = 0;
	for (const char *q = b + at + 1; q < e - 1; q++) {
		if (*q < '0' || *q > '9')
			return false;
		n = n * 10 + (*q - '0');
	}
	size_t start = (size_t)(e - b) + 1;
	if (start + (size_t)n > len)
		return false;
	out->p = b + start;
	out->len = (size_t)n;
	return true;
}

/* ---------------------------------------------------- the rules */

enum rule {
	R_VERBATIM = 0, R_SET, R_SETEX, R_EXPIRE, R_GETEX, R_INCRBYFLOAT, R_HINCRBYFLOAT,
	R_SPOP, R_BLPOP, R_BRPOP, R_BLMOVE, R_BRPOPLPUSH, R_LMPOP, R_BZPOPMIN, R_BZPOPMAX,
	R_ZMPOP, R_RESTORE, R_TAKE, R_PUT,
	R_UNKNOWN = 255,
};

static const struct { const char *name; uint8_t rule; } rule_names[] = {
	{ "set", R_SET }, { "setex", R_SETEX }, { "psetex", R_SETEX },
	{ "expire", R_EXPIRE }, { "pexpire", R_EXPIRE }, { "expireat", R_EXPIRE },
	{ "pexpireat", R_EXPIRE }, { "getex", R_GETEX }, { "incrbyfloat", R_INCRBYFLOAT },
	{ "hincrbyfloat", R_HINCRBYFLOAT }, { "spop", R_SPOP }, { "blpop", R_BLPOP },
	{ "brpop", R_BRPOP }, { "blmove", R_BLMOVE }, { "brpoplpush", R_BRPOPLPUSH },
	{ "lmpop", R_LMPOP }, { "blmpop", R_LMPOP }, { "bzpopmin", R_BZPOPMIN },
	{ "bzpopmax", R_BZPOPMAX }, { "zmpop", R_ZMPOP }, { "bzmpop", R_ZMPOP },
	{ "restore", R_RESTORE }, { "__take", R_TAKE }, { "__put", R_PUT },
};

/* Rule cache per shard, by command pointer (direct-mapped). */
static struct { const struct cmd_def *cmd; uint8_t rule; } rcache[SHARD_MAX][128];

static enum rule rule_of(const struct shard *sh, const struct cmd_def *cmd)
{
	unsigned h = (unsigned)(((uintptr_t)cmd >> 4) & 127);
	if (rcache[sh->id][h].cmd == cmd)
		return rcache[sh->id][h].rule;
	uint8_t r = R_VERBATIM;
	for (size_t i = 0; i < sizeof(rule_names) / sizeof(rule_names[0]); i++)
		if (!strcmp(cmd->name, rule_names[i].name))
			r = rule_names[i].rule;
	rcache[sh->id][h].cmd = cmd;
	rcache[sh->id][h].rule = r;
	return (enum rule)r;
}

static struct ks_entry *entry_of(struct cmd_ctx *ctx, const struct resp_arg *key)
{
	return ks_find_raw(ctx->db, key->p, key->len);
}

static void rec_del(struct shard *sh, int db, const struct resp_arg *key)
{
	struct word w[2] = { { "DEL", NULL }, { NULL, key } };
	rec_words(sh, db, w, 2);
}

/* SET key value PXAT ms (or DEL if the key is already gone). */
static void rec_set_pxat(struct cmd_ctx *ctx, const struct resp_arg *key, const struct resp_arg *val)
{
	struct ks_entry *e = entry_of(ctx, key);
	if (!e) {
		rec_del(ctx->sh, ctx->dbid, key);
		return;
	}
	if (e->expire_ms == KS_NO_EXPIRE) {
		struct word w[3] = { { "SET", NULL }, { NULL, key }, { NULL, val } };
		rec_words(ctx->sh, ctx->dbid, w, 3);
		return;
	}
	char ms[24];
	size_t n = ks_ll2str(ms, e->expire_ms);
	ms[n] = 0;
	struct word w[5] = { { "SET", NULL }, { NULL, key }, { NULL, val }, { "PXAT", NULL }, { ms, NULL } };
	rec_words(ctx->sh, ctx->dbid, w, 5);
}

static void rule_set(struct cmd_ctx *ctx)
{
	for (int i = 3; i < ctx->argc; i++) {
		const struct resp_arg *a = &ctx->argv[i];
		if (arg_is(a, "ex") || arg_is(a, "px") || arg_is(a, "exat")) {
			rec_set_pxat(ctx, &ctx->argv[1], &ctx->argv[2]);
			return;
		}
	}
	rec_args(ctx->sh, ctx->dbid, ctx->argc, ctx->argv);
}

static void rule_expire(struct cmd_ctx *ctx)
{
	struct ks_entry *e = entry_of(ctx, &ctx->argv[1]);
	if (!e || e->expire_ms == KS_NO_EXPIRE) {
		if (!e)
			rec_del(ctx->sh, ctx->dbid, &ctx->argv[1]);
		else
			rec_args(ctx->sh, ctx->dbid, ctx->argc, ctx->argv);
		return;
	}
	/* PEXPIREAT key ms, keeping NX/XX/GT/LT as Redis does. */
	struct resp_arg av[8];
	char ms[24];
	int n = 0;
	av[n++] = (struct resp_arg){ "PEXPIREAT", 9 };
	av[n++] = ctx->argv[1];
	av[n++] = (struct resp_arg){ ms, ks_ll2str(ms, e->expire_ms) };
	for (int i = 3; i < ctx->argc && n < 8; i++)
		av[n++] = ctx->argv[i];
	rec_args(ctx->sh, ctx->dbid, n, av);
}

static void rule_getex(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct ks_entry *e = entry_of(ctx, key);
	if (!e) {
		rec_del(ctx->sh, ctx->dbid, key);
	} else if (e->expire_ms == KS_NO_EXPIRE) {
		struct word w[2] = { { "PERSIST", NULL }, { NULL, key } };
		rec_words(ctx->sh, ctx->dbid, w, 2);
	} else {
		char ms[24];
		size_t n = ks_ll2str(ms, e->expire_ms);
		ms[n] = 0;
		struct word w[3] = { { "PEXPIREAT", NULL }, { NULL, key }, { ms, NULL } };
		rec_words(ctx->sh, ctx->dbid, w, 3);
	}
}

static void rule_incrbyfloat(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct ks_entry *e = entry_of(ctx, key);
	if (!e || e->type != KS_STRING) {
		rec_rebuild(ctx->sh, ctx->dbid, key->p, key->len);
		return;
	}
	char buf[24];
	struct resp_arg v;
	v.p = ks_str_get(e, buf, &v.len);
	struct word w[4] = { { "SET", NULL }, { NULL, key }, { NULL, &v }, { "KEEPTTL", NULL } };
	rec_words(ctx->sh, ctx->dbid, w, 4);
}

static void rule_hincrbyfloat(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1], *field = &ctx->argv[2];
	struct ks_entry *e = entry_of(ctx, key);
	struct obj_hash_str val;
	char buf[OBJ_HASH_NUMBUF];
	if (!e || e->type != KS_HASH ||
	    !obj_hash_get(e->v.ptr, e->enc, field->p, field->len, &val, buf)) {
		rec_rebuild(ctx->sh, ctx->dbid, key->p, key->len);
		return;
	}
	struct resp_arg v = { val.p, val.len };
	struct word w[4] = { { "HSET", NULL }, { NULL, key }, { NULL, field }, { NULL, &v } };
	rec_words(ctx->sh, ctx->dbid, w, 4);
}

static bool reply_of(const struct cmd_ctx *ctx, struct rtail *t)
{
	return ctx->out && ctx->out->len && reply_tail(ctx->out->data, ctx->out->len, t);
}

static void rule_spop(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	struct rtail t;
	bool count_form = ctx->argc == 3;
	if (count_form && !entry_of(ctx, key)) {
		rec_del(ctx->sh, ctx->dbid, key);   /* it took every member */
		return;
	}
	if (!reply_of(ctx, &t))
		goto fallback;
	const char *b = ctx->out->data;
	size_t len = ctx->out->len;
	if (!count_form) {
		struct resp_arg m;
		if (!bulk_at(b, len, t.scalar_at, &m))
			goto fallback;
		struct word w[3] = { { "SREM", NULL }, { NULL, key }, { NULL, &m } };
		rec_words(ctx->sh, ctx->dbid, w, 3);
		return;
	}
	long long n = 0;
	if (!t.nagg || agg_elem(b, len, t.agg_at[0], -1, &n) != SIZE_MAX || n != ctx->dirty)
		goto fallback;
	uint64_t g = group_begin(ctx->sh);
	for (long long k = 0; k < n; k++) {
		struct resp_arg m;
		size_t at = agg_elem(b, len, t.agg_at[0], k, NULL);
		if (at == SIZE_MAX || !bulk_at(b, len, at, &m))
			break;
		struct word w[3] = { { "SREM", NULL }, { NULL, key }, { NULL, &m } };
		rec_words(ctx->sh, ctx->dbid, w, 3);
	}
	group_end(ctx->sh, g);
	return;
fallback:
	rec_rebuild(ctx->sh, ctx->dbid, key->p, key->len);
}

/* Every key argument of the command, rebuilt (when the reply cannot be
 * read). */
static void rebuild_keys(struct cmd_ctx *ctx)
{
	int buf[16], *idx;
	int n = cmd_key_indexes(ctx->cmd, ctx->argc, ctx->argv, buf, 16, &idx);
	uint64_t g = group_begin(ctx->sh);
	for (int k = 0; k < n; k++)
		rec_rebuild(ctx->sh, ctx->dbid, ctx->argv[idx[k]].p, ctx->argv[idx[k]].len);
	group_end(ctx->sh, g);
	if (idx != buf)
		free(idx);
}

/* BLPOP BRPOP BZPOPMIN BZPOPMAX: [key, ...] -> <pop> key */
static void rule_served_key(struct cmd_ctx *ctx, const char *pop)
{
	struct rtail t;
	struct resp_arg key;
	size_t at;
	if (!reply_of(ctx, &t) || !t.nagg ||
	    (at = agg_elem(ctx->out->data, ctx->out->len, t.agg_at[0], 0, NULL)) == SIZE_MAX ||
	    !bulk_at(ctx->out->data, ctx->out->len, at, &key)) {
		rebuild_keys(ctx);
		return;
	}
	struct word w[2] = { { pop, NULL }, { NULL, &key } };
	rec_words(ctx->sh, ctx->dbid, w, 2);
}

/* LMPOP BLMPOP ZMPOP BZMPOP: [key, [elements]] -> <pop> key <count>. The
 * list's elements are scalars, the zset's are [member, score] pairs. */
static void rule_mpop(struct cmd_ctx *ctx, bool zset)
{
	struct rtail t;
	const char *b = ctx->out ? ctx->out->data : NULL;
	size_t len = ctx->out ? ctx->out->len : 0;
	int inner = zset ? 1 : 0;
	long long n = 0;
	struct resp_arg key;
	size_t at;
	if (!reply_of(ctx, &t) || t.nagg < inner + 2 ||
	    agg_elem(b, len, t.agg_at[inner], -1, &n) != SIZE_MAX ||
	    (at = agg_elem(b, len, t.agg_at[inner + 1], 0, NULL)) == SIZE_MAX ||
	    !bulk_at(b, len, at, &key)) {
		rebuild_keys(ctx);
		return;
	}
	/* The direction: LEFT|RIGHT or MIN|MAX, after the keys. */
	bool first_end = true;
	for (int i = 1; i < ctx->argc; i++) {
		const struct resp_arg *a = &ctx->argv[i];
		if (arg_is(a, "right") || arg_is(a, "max"))
			first_end = false;
		if (arg_is(a, "left") || arg_is(a, "min"))
			first_end = true;
	}
	const char *pop = zset ? (first_end ? "ZPOPMIN" : "ZPOPMAX") : (first_end ? "LPOP" : "RPOP");
	char cnt[24];
	size_t cl = ks_ll2str(cnt, n);
	cnt[cl] = 0;
	struct word w[3] = { { pop, NULL }, { NULL, &key }, { cnt, NULL } };
	rec_words(ctx->sh, ctx->dbid, w, 3);
}

static void rule_restore(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1];
	long long ttl = 0;
	bool abs = false;
	for (int i = 4; i < ctx->argc; i++)
		if (arg_is(&ctx->argv[i], "absttl"))
			abs = true;
	if (arg_to_ll(&ctx->argv[2], &ttl) != 0 || ttl == 0 || abs) {
		rec_args(ctx->sh, ctx->dbid, ctx->argc, ctx->argv);
		return;
	}
	struct ks_entry *e = entry_of(ctx, key);
	if (!e || e->expire_ms == KS_NO_EXPIRE) {
		if (!e)
			rec_del(ctx->sh, ctx->dbid, key);
		else
			rec_args(ctx->sh, ctx->dbid, ctx->argc, ctx->argv);
		return;
	}
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)(ctx->argc + 1));
	if (!av)
		abort();
	char ms[24];
	memcpy(av, ctx->argv, sizeof(*av) * (size_t)ctx->argc);
	av[2] = (struct resp_arg){ ms, ks_ll2str(ms, e->expire_ms) };
	av[ctx->argc] = (struct resp_arg){ "ABSTTL", 6 };
	rec_args(ctx->sh, ctx->dbid, ctx->argc + 1, av);
	free(av);
}

void wrec_after_exec(struct shard *sh, struct cmd_ctx *ctx)
{
	if (ctx->scratch)
		return;   /* gathered copies: the write-back is recorded */
	/* FLUSHALL FLUSHDB SWAPDB run on every shard but replay everywhere:
	 * one copy (shard 0's), which the broadcast's unit places. */
	if ((ctx->cmd->flags & CMD_BCAST) && sh->id != 0)
		return;
	switch (rule_of(sh, ctx->cmd)) {
	case R_SET:
		rule_set(ctx);
		break;
	case R_SETEX:
		rec_set_pxat(ctx, &ctx->argv[1], &ctx->argv[3]);
		break;
	case R_EXPIRE:
		rule_expire(ctx);
		break;
	case R_GETEX:
		rule_getex(ctx);
		break;
	case R_INCRBYFLOAT:
		rule_incrbyfloat(ctx);
		break;
	case R_HINCRBYFLOAT:
		rule_hincrbyfloat(ctx);
		break;
	case R_SPOP:
		rule_spop(ctx);
		break;
	case R_BLPOP:
		rule_served_key(ctx, "LPOP");
		break;
	case R_BRPOP:
		rule_served_key(ctx, "RPOP");
		break;
	case R_BZPOPMIN:
		rule_served_key(ctx, "ZPOPMIN");
		break;
	case R_BZPOPMAX:
		rule_served_key(ctx, "ZPOPMAX");
		break;
	case R_BLMOVE: {
		struct resp_arg av[5] = { { "LMOVE", 5 }, ctx->argv[1], ctx->argv[2], ctx->argv[3],
					  ctx->argv[4] };
		rec_args(sh, ctx->dbid, 5, av);
		break;
	}
	case R_BRPOPLPUSH: {
		struct resp_arg av[3] = { { "RPOPLPUSH", 9 }, ctx->argv[1], ctx->argv[2] };
		rec_args(sh, ctx->dbid, 3, av);
		break;
	}
	case R_LMPOP:
		rule_mpop(ctx, false);
		break;
	case R_ZMPOP:
		rule_mpop(ctx, true);
		break;
	case R_RESTORE:
		rule_restore(ctx);
		break;
	case R_TAKE:
		rec_del(sh, ctx->dbid, &ctx->argv[1]);
		break;
	case R_PUT: {
		long long db = ctx->dbid;
		if (arg_to_ll(&ctx->argv[2], &db) != 0 || db < 0 || db >= sh->ks->ndb)
			db = ctx->dbid;
		rec_rebuild(sh, (int)db, ctx->argv[1].p, ctx->argv[1].len);
		break;
	}
	default:
		rec_args(sh, ctx->dbid, ctx->argc, ctx->argv);
		break;
	}
}

uint64_t wrec_script_begin(struct shard *sh, const struct cmd_ctx *ctx)
{
	if (!wstream_enabled() || ctx->scratch)
		return 0;
	return group_begin(sh);
}

void wrec_script_end(struct shard *sh, uint64_t unit)
{
	group_end(sh, unit);
}

/* A key removed because it expired (ks calls this before freeing it). */
static void on_expire(void *arg, struct ks_db *db, const struct ks_entry *e)
{
	struct shard *sh = arg;
	if (!wstream_enabled() || db < sh->ks->db || db >= sh->ks->db + sh->ks->ndb)
		return;
	const char *v[2] = { "DEL", e->key };
	size_t l[2] = { 3, e->klen };
	wstream_record(sh->id, (int)(db - sh->ks->db), 2, v, l);
}

/* --------------------------------------------- internal clients */

/* A client without a socket (the AOF loader, the cut's transaction):
 * never listed, replies dropped (CLIENT REPLY OFF). */
static struct conn *sysconn_new(struct shard *sh, const char *name, unsigned n)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->sh = sh;
	c->fd = -1;
	/* Ids real clients never get (theirs count up from 1). */
	c->id = (1ull << 62) | ((uint64_t)n << 8) | sh->id;
	c->proto = 2;
	c->blk_shard = -1;
	c->is_local = true;
	c->authed = true;
	c->reply_mode = REPLY_OFF;
	c->ctime_ms = c->last_ms = sh->now_ms;
	c->last_cmd = "NULL";
	snprintf(c->peer, sizeof(c->peer), "%s", name);
	snprintf(c->local, sizeof(c->local), "%s", name);
	return c;
}

static bool sysconn_idle(const struct conn *c)
{
	return !c->inflight && !c->barrier && !c->gated && !c->throttled && !c->in_flush &&
	       !c->pend_head && (!c->mstate || txn_queued(c) < 0);
}

static void sysconn_free(struct shard *sh, struct conn *c)
{
	txn_conn_reset(sh, c);
	rbuf_free(&c->in);
	rbuf_free(&c->out);
	free(c->mstate);
	free(c);
}

/* ------------------------------------------------------- loading */

static struct {
	struct conn *c;
	bool eof, failed;
	unsigned long long ncmds;
	const char *fname;
} loader;

bool wrec_refuse_loading(const struct conn *c, const struct cmd_def *cmd)
{
	return !(cmd->flags & CMD_LOADING) && c != loader.c;
}

static void feed_cmd(struct rbuf *in, int argc, const struct resp_arg *argv)
{
	const char *v[64];
	size_t l[64];
	const char **vp = v;
	size_t *lp = l;
	if (argc > 64) {
		vp = malloc(sizeof(*vp) * (size_t)argc);
		lp = malloc(sizeof(*lp) * (size_t)argc);
		if (!vp || !lp)
			abort();
	}
	for (int i = 0; i < argc; i++) {
		vp[i] = argv[i].p;
		lp[i] = argv[i].len;
	}
	emit_resp(in, argc, vp, lp);
	if (vp != v) {
		free(vp);
		free(lp);
	}
}

/* A blocking command as its non-blocking form (an AOF never blocks).
 * Returns false if cmd is not blocking. */
static bool feed_unblocked(struct rbuf *in, const struct cmd_def *cmd, int argc,
			   const struct resp_arg *argv)
{
	const char *n = cmd->name;
	struct resp_arg *av = malloc(sizeof(*av) * (size_t)(argc + 2));
	char num[24];
	int k = 0;
	bool ok = true;
	if (!av)
		abort();
	if (!strcmp(n, "blpop") || !strcmp(n, "brpop") || !strcmp(n, "bzpopmin") ||
	    !strcmp(n, "bzpopmax")) {
		bool list = n[1] == 'l' || n[1] == 'r';
		bool first = !strcmp(n, "blpop") || !strcmp(n, "bzpopmin");
		int nkeys = argc - 2;
		if (nkeys == 1) {
			av[k++] = (struct resp_arg){ list ? (first ? "LPOP" : "RPOP")
							  : (first ? "ZPOPMIN" : "ZPOPMAX"), list ? 4 : 7 };
			av[k++] = argv[1];
		} else {
			av[k++] = (struct resp_arg){ list ? "LMPOP" : "ZMPOP", 5 };
			av[k++] = (struct resp_arg){ num, ks_ll2str(num, nkeys) };
			for (int i = 1; i <= nkeys; i++)
				av[k++] = argv[i];
			av[k++] = list ? (struct resp_arg){ first ? "LEFT" : "RIGHT", first ? 4u : 5u }
				       : (struct resp_arg){ first ? "MIN" : "MAX", 3 };
		}
	} else if (!strcmp(n, "blmove")) {
		av[k++] = (struct resp_arg){ "LMOVE", 5 };
		for (int i = 1; i <= 4; i++)
			av[k++] = argv[i];
	} else if (!strcmp(n, "brpoplpush")) {
		av[k++] = (struct resp_arg){ "RPOPLPUSH", 9 };
		av[k++] = argv[1];
		av[k++] = argv[2];
	} else if (!strcmp(n, "blmpop") || !strcmp(n, "bzmpop")) {
		av[k++] = (struct resp_arg){ n[1] == 'l' ? "LMPOP" : "ZMPOP", 5 };
		for (int i = 2; i < argc; i++)   /* drop the timeout */
			av[k++] = argv[i];
	} else {
		ok = false;
	}
	if (ok)
		feed_cmd(in, k, av);
	free(av);
	return ok;
}

static void loader_fail(const char *fmt, const char *a, const char *b)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, a, b);
	srv_log(LL_WARNING, "%s", msg);
	loader.failed = true;
	aof_load_done(false, loader.ncmds);
	shard_request_shutdown(1);
}

/* Check the commands of one run and append them to the loader's input. */
static bool loader_feed_run(const char *p, size_t len, struct rbuf *in)
{
	struct resp_req req;
	struct resp_limits lim = { .max_bulk_len = INT64_MAX, .max_multibulk_len = INT32_MAX,
				   .max_inline_len = 64 * 1024 };
	size_t off = 0;
	bool ok = true;
	resp_req_init(&req);
	while (off < len) {
		size_t used = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(p + off, len - off, &lim, &req, &used, &need, &err);
		if (rc != RESP_PARSE_OK) {
			loader_fail("Bad file format reading the append only file %s%s", loader.fname, "");
			ok = false;
			break;
		}
		const char *raw = p + off;
		off += used;
		if (req.argc == 0)
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(req.argv[0].len < 60 ? req.argv[0].len : 60),
			 req.argv[0].p);
		const struct cmd_def *cmd = cmd_lookup(req.argv[0].p, req.argv[0].len);
		if (cmd && cmd->subs && !(req.argc == 1 && cmd->fn))
			cmd = req.argc >= 2 ? cmd_lookup_sub(cmd, req.argv[1].p, req.argv[1].len) : NULL;
		if (!cmd || (cmd->flags & CMD_INTERNAL)) {
			loader_fail("Unknown command '%s' reading the append only file %s", name, loader.fname);
			ok = false;
			break;
		}
		if (cmd->arity > 0 ? req.argc != cmd->arity : req.argc < -cmd->arity) {
			loader_fail("Bad file format reading the append only file %s: wrong number of "
				    "arguments for '%s'", loader.fname, name);
			ok = false;
			break;
		}
		loader.ncmds++;
		if (!(cmd->flags & CMD_BLOCKING) || !feed_unblocked(in, cmd, req.argc, req.argv))
			rbuf_append(in, raw, used);
	}
	resp_req_free(&req);
	return ok;
}

static void loader_step(struct shard *sh)
{
	if (loader.failed)
		return;
	if (!loader.c)
		loader.c = sysconn_new(sh, "aof-loader", 1);
	struct conn *c = loader.c;
	if (c->in_off < c->in.len || !sysconn_idle(c))
		return;   /* still running: the dispatcher resumes it by itself */
	if (loader.eof) {
		sysconn_free(sh, c);
		loader.c = NULL;
		aof_load_done(true, loader.ncmds);
		return;
	}
	c->in.len = c->in_off = 0;
	while (c->in.len < LOADER_FEED) {
		const char *p;
		size_t len;
		bool first;
		int rc = aof_load_next(&p, &len, &first, &loader.fname);
		if (rc == 0) {
			loader.eof = true;
			break;
		}
		if (rc < 0) {
			loader_fail("Error reading the append only file%s%s", "", "");
			return;
		}
		if (first)   /* each file starts in db 0 */
			rbuf_append(&c->in, "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", 23);
		if (!loader_feed_run(p, len, &c->in))
			return;
	}
	if (c->in.len)
		conn_resume(sh, c);
	dp_wake(sh->wake_fd);   /* next round at once, not after a poll timeout */
}

/* ---------------------------------------------------------- cuts */

struct ser_walk {
	struct rbuf *out, *scratch;
	int64_t now_ms;
	const struct rdb_wopts *wo;   /* NULL: commands, else RDB key records */
};

static void ser_walk_cb(void *arg, struct ks_entry *e)
{
	struct ser_walk *w = arg;
	if (e->expire_ms != KS_NO_EXPIRE && e->expire_ms <= w->now_ms)
		return;
	if (!w->wo)
		ser_key(e, emit_resp, w->out, w->scratch);
	else if (rdb_enc_key(w->out, e, w->wo) != 0)
		srv_log(LL_WARNING, "AOF: key of type %d cannot be written to an RDB base (skipped)",
			e->type);
}

/* The keyspace for an AOF base, after one format byte aof.c reads ('A'
 * or 'R'): as AOF commands (SELECT n, then every live key), or as RDB key
 * records (SELECTDB n, then [EXPIRETIME_MS] type key value per live key),
 * which aof.c's rewrite thread frames with the RDB header, EOF and CRC64.
 * Each shard writes SELECTDB for its own dbs; the same db repeated across
 * shards' payloads is valid RDB. */
static char *serialise_shard(struct shard *sh, bool rdb, size_t *len)
{
	struct rbuf out = {0}, scratch = {0};
	struct rdb_wopts wo = { .compress = sh->cfg->rdbcompression, .set_listpack = false };
	struct ser_walk w = { &out, &scratch, sh->now_ms, rdb ? &wo : NULL };
	rbuf_append(&out, rdb ? "R" : "A", 1);
	for (int d = 0; d < sh->ks->ndb; d++) {
		struct ks_db *db = &sh->ks->db[d];
		if (!ks_size(db))
			continue;
		if (rdb) {
			uint8_t op = RDB_OP_SELECTDB;
			rbuf_append(&out, &op, 1);
			rdb_enc_len(&out, (uint64_t)d);
		} else {
			char num[24];
			const char *v[2] = { "SELECT", num };
			size_t l[2] = { 6, ks_ll2str(num, d) };
			emit_resp(&out, 2, v, l);
		}
		ks_foreach(db, ser_walk_cb, &w);
	}
	rbuf_free(&scratch);
	*len = out.len;
	return out.data;
}

static void cut_here(struct shard *sh, uint64_t gen, bool rdb)
{
	size_t len;
	char *buf = serialise_shard(sh, rdb, &len);
	wstream_cut(sh->id, gen, buf, len);
}

/* __aofcut <gen> <rdb 0|1>: sent under the cut transaction's lock. */
static void cmd_int_aofcut(struct cmd_ctx *ctx)
{
	long long gen = 0, rdb = 0;
	if (arg_to_ll(&ctx->argv[1], &gen) == 0 && gen > 0 &&
	    arg_to_ll(&ctx->argv[2], &rdb) == 0)
		cut_here(ctx->sh, (uint64_t)gen, rdb != 0);
	resp_add_ok(ctx->out);
}

static const struct cmd_def cmd_internal_aofcut = {
	.name = "__aofcut", .arity = 3, .flags = CMD_INTERNAL, .fn = cmd_int_aofcut,
};

static struct {
	struct conn *c;
	uint64_t started;        /* generation whose transaction was asked for */
} cutter;

/* Every shard's lock is held: cut everywhere, then let go. The unlock
 * messages follow the cut requests on each ring, so every shard cuts
 * before it is unlocked. */
static void cut_locked(struct shard *sh, struct txn *t, void *arg)
{
	uint64_t gen = (uint64_t)(uintptr_t)arg;
	char num[24];
	/* One format for every shard's part of the base: this shard's
	 * aof-use-rdb-preamble, passed on (the shards' config copies may
	 * differ for a moment while a CONFIG SET travels). */
	bool rdb = sh->cfg->aof_use_rdb_preamble;
	struct resp_arg av[3] = { { "__aofcut", 8 }, { num, ks_ll2str(num, (long long)gen) },
				  { rdb ? "1" : "0", 1 } };
	for (unsigned d = 0; d < g_nshards; d++) {
		if (d == sh->id)
			continue;
		struct shard_msg *m = shard_msg_new(sh, &cmd_internal_aofcut, 3, av);
		m->txn = true;
		m->noreply = true;
		shard_send(sh, d, m);
	}
	cut_here(sh, gen, rdb);
	txn_release(sh, t);
}

static void cut_step(struct shard *sh)
{
	uint64_t gen = wstream_cut_wanted(sh->id);
	if (!gen || cutter.started >= gen)
		return;
	if (!cutter.c)
		cutter.c = sysconn_new(sh, "aof-cut", 2);
	if (cutter.c->inflight)
		return;   /* the previous one is still taking its locks */
	if (sh->cfg->aof_use_rdb_preamble) {
		/* An RDB base: a forkless snapshot writes it, and its cut is
		 * this one (snap.c cuts every shard's stream inside it). */
		long long r = snap_start_aof(sh, gen);
		if (r == -EBUSY)
			return;   /* another snapshot runs: next round */
		if (r >= 0) {
			cutter.started = gen;
			return;
		}
		/* (-EIO, logged: the base is made under the lock instead) */
	}
	cutter.started = gen;
	uint64_t all = g_nshards >= 64 ? ~0ull : (1ull << g_nshards) - 1;
	txn_lock_then(sh, cutter.c, all, cut_locked, (void *)(uintptr_t)gen);
}

/* ------------------------------------------- appendfsync always */

struct gmark {
	size_t len;
	uint64_t round;          /* 0: empty */
};

struct gconn {
	const struct conn *c;    /* NULL: free slot */
	size_t safe;             /* bytes of c->out that may go */
	struct gmark a, b;       /* oldest and newest waiting marks */
};

struct gate {
	bool attached;
	bool want_wake;
	int fsync_seen, aof_seen;
	uint64_t *snap;          /* GATE_SNAPS x nshards, a FIFO of rounds */
	uint64_t snap_round[GATE_SNAPS];
	unsigned head, n;
	uint64_t next_round, durable_round;
	struct gconn *map;       /* open addressing on the conn pointer */
	size_t cap, used;
};

static struct gate gates[SHARD_MAX];

static size_t gmap_slot(const struct gate *g, const struct conn *c)
{
	return (size_t)(((uintptr_t)c >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (g->cap - 1);
}

static struct gconn *gmap_find(struct gate *g, const struct conn *c)
{
	if (!g->used)
		return NULL;
	for (size_t i = gmap_slot(g, c);; i = (i + 1) & (g->cap - 1)) {
		if (g->map[i].c == c)
			return &g->map[i];
		if (!g->map[i].c)
			return NULL;
	}
}

static struct gconn *gmap_add(struct gate *g, const struct conn *c)
{
	if ((g->used + 1) * 2 > g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 64;
		struct gconn *old = g->map;
		size_t ocap = g->cap;
		g->map = calloc(ncap, sizeof(*g->map));
		if (!g->map)
			abort();
		g->cap = ncap;
		g->used = 0;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].c)
				*gmap_add(g, old[i].c) = old[i];
		free(old);
	}
	size_t i = gmap_slot(g, c);
	while (g->map[i].c)
		i = (i + 1) & (g->cap - 1);
	memset(&g->map[i], 0, sizeof(g->map[i]));
	g->map[i].c = c;
	g->used++;
	return &g->map[i];
}

static void gmap_del(struct gate *g, struct gconn *e)
{
	/* Backward-shift deletion keeps probe chains whole. */
	size_t i = (size_t)(e - g->map), j = i;
	g->map[i].c = NULL;
	g->used--;
	for (;;) {
		j = (j + 1) & (g->cap - 1);
		if (!g->map[j].c)
			return;
		size_t k = gmap_slot(g, g->map[j].c);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			g->map[i] = g->map[j];
			g->map[j].c = NULL;
			i = j;
		}
	}
}

static bool snap_durable(const uint64_t *v)
{
	for (unsigned s = 0; s < g_nshards; s++)
		if (wstream_durable(s) < v[s])
			return false;
	return true;
}

/* Pop the rounds that are on disk; release what they held. */
static void gate_advance(struct shard *sh, struct gate *g)
{
	uint64_t before = g->durable_round;
	while (g->n && snap_durable(g->snap + (size_t)g->head * g_nshards)) {
		g->durable_round = g->snap_round[g->head];
		g->head = (g->head + 1) % GATE_SNAPS;
		g->n--;
	}
	if (g->durable_round == before)
		return;
	for (size_t i = 0; i < g->cap; i++) {
		struct gconn *e = &g->map[i];
		if (!e->c)
			continue;
		size_t safe = e->safe;
		while (e->a.round && e->a.round <= g->durable_round) {
			safe = e->a.len;
			e->a = e->b;
			e->b = (struct gmark){ 0, 0 };
		}
		if (safe != e->safe) {
			e->safe = safe;
			conn_mark_flush(sh, (struct conn *)e->c);
		}
	}
}

/* Let everything go (appendfsync is no longer always). */
static void gate_release_all(struct shard *sh, struct gate *g)
{
	for (size_t i = 0; i < g->cap; i++)
		if (g->map[i].c) {
			conn_mark_flush(sh, (struct conn *)g->map[i].c);
			g->map[i].c = NULL;
		}
	g->used = 0;
	g->n = 0;
	if (g->want_wake) {
		wstream_want_wake(sh->id, false);
		g->want_wake = false;
	}
}

static void gate_round(struct shard *sh, struct gate *g)
{
	if (!wstream_sync_always()) {
		if (g->used || g->n)
			gate_release_all(sh, g);
		return;
	}
	gate_advance(sh, g);
	/* This round's snapshot: every shard's last record. */
	uint64_t v[SHARD_MAX];
	for (unsigned s = 0; s < g_nshards; s++)
		v[s] = wstream_recorded(s);
	uint64_t r = 0;
	if (g->n || !snap_durable(v)) {
		unsigned last = (g->head + g->n + GATE_SNAPS - 1) % GATE_SNAPS;
		uint64_t *lv = g->snap + (size_t)last * g_nshards;
		if (g->n && !memcmp(lv, v, sizeof(uint64_t) * g_nshards)) {
			r = g->snap_round[last];
		} else if (g->n == GATE_SNAPS) {
			/* Full: the newest round absorbs this one (it waits a bit
			 * longer, never less). */
			memcpy(lv, v, sizeof(uint64_t) * g_nshards);
			r = g->snap_round[last];
		} else {
			unsigned at = (g->head + g->n) % GATE_SNAPS;
			memcpy(g->snap + (size_t)at * g_nshards, v, sizeof(uint64_t) * g_nshards);
			g->snap_round[at] = r = ++g->next_round;
			g->n++;
		}
	}
	for (struct conn *c = sh->flush_list; c; c = c->flush_next) {
		if (c->closed)
			continue;
		struct gconn *e = gmap_find(g, c);
		if (!r) {
			/* Everything recorded so far is on disk. */
			if (e)
				e->safe = c->out.len, e->a = e->b = (struct gmark){ 0, 0 };
			continue;
		}
		if (!e) {
			e = gmap_add(g, c);
			e->safe = c->out_sent;
		}
		if (c->out.len <= e->safe)
			continue;
		if (!e->a.round || e->a.round == r)
			e->a = (struct gmark){ c->out.len, r };
		else
			e->b = (struct gmark){ c->out.len, r };
	}
	bool want = g->n != 0;
	if (want != g->want_wake) {
		wstream_want_wake(sh->id, want);
		g->want_wake = want;
		if (want)
			gate_advance(sh, g);   /* what moved before we asked */
	}
}

size_t wrec_out_limit(struct shard *sh, const struct conn *c)
{
	struct gate *g = &gates[sh->id];
	struct gconn *e = gmap_find(g, c);
	if (e)
		return e->safe < c->out.len ? e->safe : c->out.len;
	/* Not marked yet: what was added this round waits for the round's
	 * end (only while replies wait for the disk). */
	if (c->in_flush && wstream_sync_always())
		return c->out_sent;
	return c->out.len;
}

void wrec_out_reset(struct shard *sh, const struct conn *c)
{
	struct gate *g = &gates[sh->id];
	struct gconn *e = gmap_find(g, c);
	if (e)
		gmap_del(g, e);
}

void wrec_conn_gone(struct shard *sh, const struct conn *c)
{
	wrec_out_reset(sh, c);
}

/* -------------------------------------------------------- the round */

static __attribute__((noinline, cold)) void gate_attach(struct shard *sh, struct gate *g)
{
	g->attached = true;
	g->snap = calloc((size_t)GATE_SNAPS * g_nshards, sizeof(uint64_t));
	if (!g->snap)
		abort();
	g->fsync_seen = sh->cfg->appendfsync;
	g->aof_seen = sh->cfg->appendonly;
	for (int d = 0; d < sh->ks->ndb; d++) {
		sh->ks->db[d].on_expire = on_expire;
		sh->ks->db[d].on_expire_arg = sh;
	}
	wstream_shard_attach(sh->id, sh->wake_fd);
}

static __attribute__((noinline)) void wrec_round_work(struct shard *sh, struct gate *g, unsigned f)
{
	if (!sh->busy && sh->id == 0) {
		if (f & WSR_LOADING)
			loader_step(sh);
		else if (f & WSR_CUT)
			cut_step(sh);
	}
	if ((f & WSR_ALWAYS) || g->used || g->n)
		gate_round(sh, g);
	if (f & WSR_KICK)
		wstream_flush(sh->id);
}

/* Twice a round on every shard, nearly always with nothing to do: the work
 * is out of line. */
void wrec_round(struct shard *sh)
{
	struct gate *g = &gates[sh->id];
	if (__builtin_expect(!g->attached, 0))
		gate_attach(sh, g);
	if (!sh->busy && sh->id == 0) {
		/* CONFIG SET reaches every shard's copy; shard 0 tells the
		 * replication thread. */
		const struct cfg *cfg = sh->cfg;
		if (cfg->appendfsync != g->fsync_seen) {
			g->fsync_seen = cfg->appendfsync;
			wstream_set_fsync(g->fsync_seen);
		}
		if (cfg->appendonly != g->aof_seen) {
			g->aof_seen = cfg->appendonly;
			aof_set_appendonly(g->aof_seen);
		}
	}
	unsigned f = wstream_round(sh->id);
	if (f || g->used || g->n)
		wrec_round_work(sh, g, f);
}

/* ------------------------------------------------------ BGREWRITEAOF */

void cmd_bgrewriteaof(struct cmd_ctx *ctx)
{
	char err[128];
	if (aof_rewrite_request(err, sizeof(err)) != 0)
		resp_add_error(ctx->out, err);
	else
		resp_add_simple(ctx->out, "Background append only file rewriting started");
}
