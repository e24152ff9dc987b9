/* Bounded stress test of the shard core: many clients at once, each checking
 * every reply against its own model, while other clients vanish with
 * hundreds of cross-shard commands in flight or are killed mid-pipeline.
 *
 * Everything is sized by operation counts, never by time, and seeded, so a
 * failure names its seed and replays. Keys are placed for 3 shards with the
 * documented rule (shard = (CRC16(hashtag(key)) & 16383) % nshards), so with
 * KR_SHARDS=3 every multi-key command below spans shards; with one shard or
 * on redis-server the same expectations hold.
 *
 * Databases: model clients live in db 0 and 1 (COPY ... DB moves values
 * between them), vandals (abrupt disconnects) in db 5, kill victims in db 6,
 * so each final check (MGET of the model keys, DBSIZE = sum of the models,
 * token conservation) has a database to itself.
 *
 * Worker threads never call Criterion asserts (they are not thread-safe):
 * they record the first mismatch in their own err[] and stop; the test
 * thread asserts after joining them. Waits for quiescence (a killed
 * client's commands still finishing on other shards) poll a bounded number
 * of times and assert on state, not on time. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct kr_srv srv;

static void start_server(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void)
{
	if (srv.pid > 0)
		kr_srv_stop(&srv);
}

TestSuite(stress, .init = start_server, .fini = stop_server, .timeout = 240);

/* ------------------------------------------------------------ helpers */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* env KR_STRESS_SEED (default 0) varies every seed of a run; failures
 * print the seeds they used and the base is logged. */
static unsigned seed_base(void)
{
	const char *e = getenv("KR_STRESS_SEED");
	unsigned b = e ? (unsigned)strtoul(e, NULL, 0) : 0;
	if (b)
		cr_log_info("KR_STRESS_SEED=%u", b);
	return b * 2654435761u;
}

static unsigned rnd(unsigned *s)
{
	if (*s == 0)
		*s = 0x9E3779B9u;   /* xorshift never leaves 0 */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static unsigned crc16(const char *p, size_t n)
{
	unsigned crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (unsigned)(unsigned char)p[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
	}
	return crc;
}

static unsigned shard3_of(const char *key)
{
	size_t len = strlen(key);
	const char *open = memchr(key, '{', len);
	if (open) {
		const char *close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close && close > open + 1)
			return (crc16(open + 1, (size_t)(close - open - 1)) & 16383) % 3;
	}
	return (crc16(key, len) & 16383) % 3;
}

/* Fill keys[0..n) with "<prefix><i>" names, key j landing on shard j % 3. */
static void keys_spread(char (*keys)[32], int n, const char *prefix)
{
	int next[3] = { 0, 0, 0 };
	for (int j = 0; j < n; j++) {
		unsigned want = (unsigned)j % 3;
		for (;; next[want]++) {
			snprintf(keys[j], 32, "%s%d", prefix, next[want]);
			if (shard3_of(keys[j]) == want)
				break;
		}
		next[want]++;
	}
}

/* want "~ttl" accepts a live TTL (1..1000 s); otherwise the rendering must
 * match exactly. got receives the rendering. */
static bool reply_matches(const char *want, const redisReply *r, struct kr_sb *got)
{
	kr_sb_reset(got);
	kr_render(got, r);
	if (strcmp(want, "~ttl") == 0)
		return r->type == REDIS_REPLY_INTEGER && r->integer >= 1 && r->integer <= 1000;
	return strcmp(want, got->s) == 0;
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, kr_srv_host(&srv), &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = { 30, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static redisContext *th_connect(char *err, size_t errlen)
{
	struct timeval tv = { 10, 0 };
	redisContext *c = redisConnectWithTimeout(kr_srv_host(&srv), srv.port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "connect: %s", c ? c->errstr : "NULL context");
		if (c)
			redisFree(c);
		return NULL;
	}
	struct timeval cmd_tv = { 60, 0 };
	redisSetTimeout(c, cmd_tv);
	return c;
}

/* Run one command from a worker thread; returns its rendering in got and
 * whether it matched want ("" = anything but a lost connection). */
static bool th_cmd(redisContext *c, const char *want, struct kr_sb *got, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	kr_sb_reset(got);
	if (!r) {
		kr_sb_fmt(got, "<connection error: %s>", c->errstr);
		return false;
	}
	bool ok = reply_matches(want, r, got) || !*want;
	freeReplyObject(r);
	return ok;
}

/* Commands with their expected replies, built before sending. */
struct pcmd {
	int argc;
	char *argv[24];
	size_t lens[24];
	char *want;            /* NULL: the reply is discarded (CLIENT REPLY) */
};

struct pipe {
	struct pcmd *c;
	int n, cap;
};

static struct pcmd *pipe_new_cmd(struct pipe *p)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->c = realloc(p->c, (size_t)p->cap * sizeof(*p->c));
		if (!p->c)
			abort();
	}
	struct pcmd *c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	return c;
}

static void pc_arg(struct pcmd *c, const char *s)
{
	c->argv[c->argc] = strdup(s);
	c->lens[c->argc] = strlen(s);
	c->argc++;
}

static void pipe_clear(struct pipe *p)
{
	for (int i = 0; i < p->n; i++) {
		for (int a = 0; a < p->c[i].argc; a++)
			free(p->c[i].argv[a]);
		free(p->c[i].want);
	}
	p->n = 0;
}

static void pipe_free(struct pipe *p)
{
	pipe_clear(p);
	free(p->c);
	p->c = NULL;
	p->cap = 0;
}

static void pcmd_text(const struct pcmd *c, struct kr_sb *b)
{
	for (int a = 0; a < c->argc && b->len < 300; a++)
		kr_sb_fmt(b, a ? " %.60s" : "%.60s", c->argv[a]);
}

/* Append p in RESP to wire; if ends is not NULL, ends[i] is the offset
 * just past command i. */
static void pipe_append_wire(const struct pipe *p, struct kr_sb *wire, size_t *ends)
{
	for (int i = 0; i < p->n; i++) {
		char *cmd = NULL;
		int len = redisFormatCommandArgv(&cmd, p->c[i].argc, (const char **)p->c[i].argv,
						 p->c[i].lens);
		if (len <= 0)
			abort();
		kr_sb_add(wire, cmd, (size_t)len);
		redisFreeCommand(cmd);
		if (ends)
			ends[i] = wire->len;
	}
}

/* -------------------------------------------------------- the model */

#define MK 18            /* keys per model client, 6 on each of 3 shards */
#define MDB 2            /* model slot 0: home db, 1: the other db */

struct model {
	int dbno[MDB];
	char key[MK][32];
	char *val[MDB][MK];   /* NULL: no such key */
	bool ttl[MDB][MK];
	unsigned vseq;
};

static void model_init(struct model *m, const char *prefix, int home)
{
	memset(m, 0, sizeof(*m));
	m->dbno[0] = home;
	m->dbno[1] = 1 - home;
	keys_spread(m->key, MK, prefix);
}

static void model_free(struct model *m)
{
	for (int d = 0; d < MDB; d++)
		for (int k = 0; k < MK; k++)
			free(m->val[d][k]);
}

static void mset_val(struct model *m, int d, int k, const char *v, bool keep_ttl)
{
	free(m->val[d][k]);
	m->val[d][k] = v ? strdup(v) : NULL;
	if (!v || !keep_ttl)
		m->ttl[d][k] = false;
}

/* Redis's string2ll: optional '-', no leading zeros, no "-0", in range. */
static bool strict_ll(const char *s, long long *out)
{
	const char *p = s;
	bool neg = false;
	if (!*p || strlen(p) > 20)
		return false;
	if (p[0] == '0' && p[1] == '\0') {
		*out = 0;
		return true;
	}
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '1' || *p > '9')
		return false;
	unsigned long long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (v > (ULLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (!neg && v > (unsigned long long)LLONG_MAX)
		return false;
	if (neg && v > (unsigned long long)LLONG_MAX + 1)
		return false;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

static void mk_value(struct model *m, unsigned *s, char *buf, size_t len)
{
	if (rnd(s) % 2)
		snprintf(buf, len, "%d", (int)(rnd(s) % 521) - 20);
	else
		snprintf(buf, len, "v%u", ++m->vseq);
}

static int mkey(unsigned *s) { return (int)(rnd(s) % MK); }

static void want_bulk(struct kr_sb *w, const char *v)
{
	if (v)
		kr_sb_fmt(w, "$%s", v);
	else
		kr_sb_fmt(w, "nil");
}

/* One random command over the model's keys in its home db, with the reply
 * it must get; the model advances as if it ran. */
static void gen_model_cmd(struct model *m, unsigned *s, struct pcmd *c)
{
	struct kr_sb w = { 0 };
	char v[64];
	unsigned op = rnd(s) % 100;
	char **val = m->val[0];
	bool *ttl = m->ttl[0];
	if (op < 12) {                                  /* MGET */
		int n = 1 + (int)(rnd(s) % 5);
		pc_arg(c, "MGET");
		kr_sb_fmt(&w, "*%d[", n);
		for (int i = 0; i < n; i++) {
			int k = mkey(s);
			pc_arg(c, m->key[k]);
			if (i)
				kr_sb_add(&w, ",", 1);
			want_bulk(&w, val[k]);
		}
		kr_sb_add(&w, "]", 1);
	} else if (op < 24) {                           /* MSET: last duplicate wins */
		int n = 1 + (int)(rnd(s) % 4);
		pc_arg(c, "MSET");
		for (int i = 0; i < n; i++) {
			int k = mkey(s);
			mk_value(m, s, v, sizeof(v));
			pc_arg(c, m->key[k]);
			pc_arg(c, v);
			mset_val(m, 0, k, v, false);
		}
		kr_sb_fmt(&w, "+OK");
	} else if (op < 32) {                           /* DEL: distinct existing keys */
		int n = 1 + (int)(rnd(s) % 4), cnt = 0;
		pc_arg(c, "DEL");
		int ks[4];
		for (int i = 0; i < n; i++) {
			ks[i] = mkey(s);
			pc_arg(c, m->key[ks[i]]);
		}
		for (int i = 0; i < n; i++)
			if (val[ks[i]]) {
				cnt++;
				mset_val(m, 0, ks[i], NULL, false);
			}
		kr_sb_fmt(&w, ":%d", cnt);
	} else if (op < 39) {                           /* EXISTS: duplicates count */
		int n = 1 + (int)(rnd(s) % 5), cnt = 0, first = mkey(s);
		pc_arg(c, "EXISTS");
		for (int i = 0; i < n; i++) {
			int k = (i && rnd(s) % 3) ? mkey(s) : first;
			pc_arg(c, m->key[k]);
			cnt += val[k] != NULL;
		}
		kr_sb_fmt(&w, ":%d", cnt);
	} else if (op < 47) {                           /* RENAME a b, a != b */
		int a = mkey(s), b = (a + 1 + (int)(rnd(s) % (MK - 1))) % MK;
		pc_arg(c, "RENAME");
		pc_arg(c, m->key[a]);
		pc_arg(c, m->key[b]);
		if (!val[a]) {
			kr_sb_fmt(&w, "-ERR no such key");
		} else {
			bool t = ttl[a];
			mset_val(m, 0, b, val[a], false);
			ttl[b] = t;
			mset_val(m, 0, a, NULL, false);
			kr_sb_fmt(&w, "+OK");
		}
	} else if (op < 51) {                           /* RENAMENX */
		int a = mkey(s), b = (a + 1 + (int)(rnd(s) % (MK - 1))) % MK;
		pc_arg(c, "RENAMENX");
		pc_arg(c, m->key[a]);
		pc_arg(c, m->key[b]);
		if (!val[a]) {
			kr_sb_fmt(&w, "-ERR no such key");
		} else if (val[b]) {
			kr_sb_fmt(&w, ":0");
		} else {
			bool t = ttl[a];
			mset_val(m, 0, b, val[a], false);
			ttl[b] = t;
			mset_val(m, 0, a, NULL, false);
			kr_sb_fmt(&w, ":1");
		}
	} else if (op < 59) {                           /* COPY a b [DB other] [REPLACE] */
		bool other = rnd(s) % 3 == 0, replace = rnd(s) % 2;
		int a = mkey(s);
		int b = other && rnd(s) % 2 ? a : (a + 1 + (int)(rnd(s) % (MK - 1))) % MK;
		int d = other ? 1 : 0;
		pc_arg(c, "COPY");
		pc_arg(c, m->key[a]);
		pc_arg(c, m->key[b]);
		if (other) {
			snprintf(v, sizeof(v), "%d", m->dbno[1]);
			pc_arg(c, "DB");
			pc_arg(c, v);
		}
		if (replace)
			pc_arg(c, "REPLACE");
		if (!val[a] || (m->val[d][b] && !replace)) {
			kr_sb_fmt(&w, ":0");
		} else {
			bool t = ttl[a];
			mset_val(m, d, b, val[a], false);
			m->ttl[d][b] = t;
			kr_sb_fmt(&w, ":1");
		}
	} else if (op < 64) {                           /* MSETNX */
		int n = 1 + (int)(rnd(s) % 3), ks[3];
		char vs[3][64];
		bool any = false;
		pc_arg(c, "MSETNX");
		for (int i = 0; i < n; i++) {
			ks[i] = mkey(s);
			mk_value(m, s, vs[i], sizeof(vs[i]));
			pc_arg(c, m->key[ks[i]]);
			pc_arg(c, vs[i]);
			any |= val[ks[i]] != NULL;
		}
		if (!any)
			for (int i = 0; i < n; i++)
				mset_val(m, 0, ks[i], vs[i], false);
		kr_sb_fmt(&w, ":%d", any ? 0 : 1);
	} else if (op < 72) {                           /* INCR */
		int k = mkey(s);
		long long x = 0;
		pc_arg(c, "INCR");
		pc_arg(c, m->key[k]);
		if (val[k] && !strict_ll(val[k], &x)) {
			kr_sb_fmt(&w, "-ERR value is not an integer or out of range");
		} else if (x == LLONG_MAX) {
			kr_sb_fmt(&w, "-ERR increment or decrement would overflow");
		} else {
			snprintf(v, sizeof(v), "%lld", x + 1);
			mset_val(m, 0, k, v, true);
			kr_sb_fmt(&w, ":%lld", x + 1);
		}
	} else if (op < 80) {                           /* APPEND keeps the TTL */
		static const char *const tails[] = { "7", "x", "12", "-", "0" };
		int k = mkey(s);
		const char *t = tails[rnd(s) % 5];
		size_t old = val[k] ? strlen(val[k]) : 0;
		if (old + strlen(t) > 40) {
			/* Keep values short (and INCR-able now and then). */
			pc_arg(c, "SET");
			pc_arg(c, m->key[k]);
			pc_arg(c, t);
			mset_val(m, 0, k, t, false);
			kr_sb_fmt(&w, "+OK");
		} else {
			pc_arg(c, "APPEND");
			pc_arg(c, m->key[k]);
			pc_arg(c, t);
			snprintf(v, sizeof(v), "%s%s", val[k] ? val[k] : "", t);
			mset_val(m, 0, k, v, true);
			kr_sb_fmt(&w, ":%zu", strlen(v));
		}
	} else if (op < 86) {                           /* EXPIRE; 0 deletes */
		int k = mkey(s);
		bool zero = rnd(s) % 6 == 0;
		pc_arg(c, "EXPIRE");
		pc_arg(c, m->key[k]);
		pc_arg(c, zero ? "0" : "1000");
		kr_sb_fmt(&w, ":%d", val[k] ? 1 : 0);
		if (val[k]) {
			if (zero)
				mset_val(m, 0, k, NULL, false);
			else
				ttl[k] = true;
		}
	} else if (op < 92) {                           /* TTL */
		int k = mkey(s);
		pc_arg(c, "TTL");
		pc_arg(c, m->key[k]);
		if (!val[k])
			kr_sb_fmt(&w, ":-2");
		else if (!ttl[k])
			kr_sb_fmt(&w, ":-1");
		else
			kr_sb_fmt(&w, "~ttl");
	} else if (op < 97) {                           /* GET */
		int k = mkey(s);
		pc_arg(c, "GET");
		pc_arg(c, m->key[k]);
		want_bulk(&w, val[k]);
	} else {                                        /* SET drops the TTL */
		int k = mkey(s);
		mk_value(m, s, v, sizeof(v));
		pc_arg(c, "SET");
		pc_arg(c, m->key[k]);
		pc_arg(c, v);
		mset_val(m, 0, k, v, false);
		kr_sb_fmt(&w, "+OK");
	}
	c->want = w.s;
}

/* Send p, read one reply per command with a want, compare in order. */
static bool run_pipe(redisContext *ctx, const struct pipe *p, const char *who, char *err, size_t errlen)
{
	struct kr_sb got = { 0 };
	bool ok = true;
	for (int i = 0; i < p->n; i++)
		redisAppendCommandArgv(ctx, p->c[i].argc, (const char **)p->c[i].argv, p->c[i].lens);
	for (int i = 0; i < p->n && ok; i++) {
		if (!p->c[i].want)
			continue;
		redisReply *r = NULL;
		if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
			struct kr_sb t = { 0 };
			pcmd_text(&p->c[i], &t);
			snprintf(err, errlen, "%s: connection lost waiting for the reply to `%s` (cmd %d): %s",
				 who, t.s, i, ctx->errstr);
			free(t.s);
			ok = false;
			break;
		}
		if (!reply_matches(p->c[i].want, r, &got)) {
			struct kr_sb t = { 0 };
			pcmd_text(&p->c[i], &t);
			snprintf(err, errlen, "%s: cmd %d `%s`: expected %.300s, got %.300s", who, i, t.s,
				 p->c[i].want, got.s);
			free(t.s);
			ok = false;
		}
		freeReplyObject(r);
	}
	free(got.s);
	return ok;
}

/* Compare the server's view of m's keys (values and TTL presence in both
 * dbs) with the model; leaves ctx in m's home db. */
static bool model_verify(redisContext *ctx, const struct model *m, const char *who, char *err, size_t errlen)
{
	struct pipe p = { 0 };
	for (int d = 0; d < MDB; d++) {
		char dbs[8];
		snprintf(dbs, sizeof(dbs), "%d", m->dbno[d]);
		struct pcmd *c = pipe_new_cmd(&p);
		pc_arg(c, "SELECT");
		pc_arg(c, dbs);
		c->want = strdup("+OK");
		c = pipe_new_cmd(&p);
		pc_arg(c, "MGET");
		struct kr_sb w = { 0 };
		kr_sb_fmt(&w, "*%d[", MK);
		for (int k = 0; k < MK; k++) {
			pc_arg(c, m->key[k]);
			if (k)
				kr_sb_add(&w, ",", 1);
			want_bulk(&w, m->val[d][k]);
		}
		kr_sb_add(&w, "]", 1);
		c->want = w.s;
		for (int k = 0; k < MK; k++) {
			c = pipe_new_cmd(&p);
			pc_arg(c, "TTL");
			pc_arg(c, m->key[k]);
			c->want = strdup(!m->val[d][k] ? ":-2" : m->ttl[d][k] ? "~ttl" : ":-1");
		}
	}
	char dbs[8];
	snprintf(dbs, sizeof(dbs), "%d", m->dbno[0]);
	struct pcmd *c = pipe_new_cmd(&p);
	pc_arg(c, "SELECT");
	pc_arg(c, dbs);
	c->want = strdup("+OK");
	bool ok = run_pipe(ctx, &p, who, err, errlen);
	pipe_free(&p);
	return ok;
}

static int model_count(const struct model *m, int dbno)
{
	int n = 0;
	for (int d = 0; d < MDB; d++)
		if (m->dbno[d] == dbno)
			for (int k = 0; k < MK; k++)
				n += m->val[d][k] != NULL;
	return n;
}

/* ------------------------------------------------ model client threads */

struct mclient {
	int id;
	unsigned seed;
	int rounds, depth;
	struct model m;
	long replies;
	char err[1024];
};

static void *mclient_main(void *arg)
{
	struct mclient *mc = arg;
	char who[64];
	snprintf(who, sizeof(who), "model client %d (seed %u)", mc->id, mc->seed);
	redisContext *ctx = th_connect(mc->err, sizeof(mc->err));
	if (!ctx)
		return NULL;
	struct pipe p = { 0 };
	struct pcmd *c = pipe_new_cmd(&p);
	char dbs[8];
	snprintf(dbs, sizeof(dbs), "%d", mc->m.dbno[0]);
	pc_arg(c, "SELECT");
	pc_arg(c, dbs);
	c->want = strdup("+OK");
	unsigned s = mc->seed;
	for (int r = 0; r < mc->rounds; r++) {
		int n = mc->depth / 2 + (int)(rnd(&s) % (unsigned)mc->depth);
		for (int i = 0; i < n; i++)
			gen_model_cmd(&mc->m, &s, pipe_new_cmd(&p));
		if (!run_pipe(ctx, &p, who, mc->err, sizeof(mc->err)))
			break;
		mc->replies += p.n;
		pipe_clear(&p);
	}
	if (!mc->err[0])
		model_verify(ctx, &mc->m, who, mc->err, sizeof(mc->err));
	pipe_free(&p);
	redisFree(ctx);
	return NULL;
}

/* -------------------------------------------------------- token sets
 * A token set is NSLOT keys (4 per shard) holding NTOK distinct tokens.
 * RENAMENX between its keys moves a token or does nothing, so at rest the
 * keys hold exactly the tokens, each once, whatever prefix of a pipeline
 * ran: a cross-shard RENAMENX cut short by a disconnect must neither lose
 * nor duplicate the entry it carries. */

#define NSLOT 12
#define NTOK 6

struct tokset {
	char key[NSLOT][32];
	char tok[NTOK][32];
	int8_t at[NSLOT];     /* model: token index in each key, -1 none */
};

static void tokset_init(struct tokset *t, const char *prefix, unsigned *s)
{
	keys_spread(t->key, NSLOT, prefix);
	for (int j = 0; j < NSLOT; j++)
		t->at[j] = -1;
	for (int i = 0; i < NTOK; i++) {
		snprintf(t->tok[i], sizeof(t->tok[i]), "T%s%d", prefix, i);
		int j;
		do
			j = (int)(rnd(s) % NSLOT);
		while (t->at[j] >= 0);
		t->at[j] = (int8_t)i;
	}
}

/* DEL the keys, then MSET the tokens where the model put them. */
static bool tokset_setup(redisContext *ctx, const struct tokset *t, char *err, size_t errlen)
{
	struct pipe p = { 0 };
	struct pcmd *c = pipe_new_cmd(&p);
	pc_arg(c, "DEL");
	for (int j = 0; j < NSLOT; j++)
		pc_arg(c, t->key[j]);
	c->want = strdup("");
	c = pipe_new_cmd(&p);
	pc_arg(c, "MSET");
	for (int j = 0; j < NSLOT; j++)
		if (t->at[j] >= 0) {
			pc_arg(c, t->key[j]);
			pc_arg(c, t->tok[t->at[j]]);
		}
	c->want = strdup("+OK");
	struct kr_sb got = { 0 };
	bool ok = true;
	for (int i = 0; i < p.n && ok; i++) {
		if (!th_cmd(ctx, p.c[i].want, &got, p.c[i].argc, (const char **)p.c[i].argv)) {
			snprintf(err, errlen, "token set up (%s...): got %s", t->key[0], got.s);
			ok = false;
		}
	}
	free(got.s);
	pipe_free(&p);
	return ok;
}

/* Random RENAMENX on t with its expected reply; the model advances. */
static void gen_renamenx(struct tokset *t, unsigned *s, struct pcmd *c)
{
	int a = (int)(rnd(s) % NSLOT), b = (a + 1 + (int)(rnd(s) % (NSLOT - 1))) % NSLOT;
	pc_arg(c, "RENAMENX");
	pc_arg(c, t->key[a]);
	pc_arg(c, t->key[b]);
	if (t->at[a] < 0) {
		c->want = strdup("-ERR no such key");
	} else if (t->at[b] >= 0) {
		c->want = strdup(":0");
	} else {
		t->at[b] = t->at[a];
		t->at[a] = -1;
		c->want = strdup(":1");
	}
}

/* Read the keys of t: 0 and the token index per key in at[] (-1 none, -2 a
 * value that is no token of t), or -1 on a connection error. */
static int tokset_read(redisContext *ctx, const struct tokset *t, int8_t *at, struct kr_sb *desc)
{
	const char *argv[NSLOT + 1];
	argv[0] = "MGET";
	for (int j = 0; j < NSLOT; j++)
		argv[1 + j] = t->key[j];
	redisReply *r = redisCommandArgv(ctx, NSLOT + 1, argv, NULL);
	if (!r)
		return -1;
	kr_sb_reset(desc);
	kr_render(desc, r);
	int rc = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != NSLOT) {
		rc = -1;
	} else {
		for (int j = 0; j < NSLOT; j++) {
			const redisReply *e = r->element[j];
			at[j] = -1;
			if (e->type != REDIS_REPLY_STRING)
				continue;
			at[j] = -2;
			for (int i = 0; i < NTOK; i++)
				if (strcmp(e->str, t->tok[i]) == 0)
					at[j] = (int8_t)i;
		}
	}
	freeReplyObject(r);
	return rc;
}

/* Every token exactly once, nothing else. */
static bool tokens_conserved(const int8_t *at)
{
	int seen[NTOK] = { 0 };
	for (int j = 0; j < NSLOT; j++) {
		if (at[j] == -2)
			return false;
		if (at[j] >= 0 && seen[at[j]]++)
			return false;
	}
	for (int i = 0; i < NTOK; i++)
		if (!seen[i])
			return false;
	return true;
}

/* ------------------------------------------------------------ vandals
 * Write a big pipeline of cross-shard commands and close without reading
 * (FIN, or RST through SO_LINGER 0), sometimes after a moment so hundreds
 * are dispatched and in flight. Each iteration has its own token set, so
 * leftovers of one connection never race the next one's RENAMENX (that
 * race is the documented non-atomicity of cross-shard commands against
 * other clients, not what is tested here). */

#define VDB "5"

struct vandal {
	int id;
	unsigned seed;
	int iters, depth;
	struct tokset *ts;    /* iters of them */
	char err[1024];
};

static void gen_vandal_cmd(struct vandal *v, struct tokset *t, unsigned *s, struct pcmd *c)
{
	char k1[32], k2[32], k3[32], val[32];
	unsigned op = rnd(s) % 100;
	/* Scratch keys outside the token set; their content is not checked. */
	snprintf(k1, sizeof(k1), "w%d:%u", v->id, rnd(s) % 30);
	snprintf(k2, sizeof(k2), "w%d:%u", v->id, rnd(s) % 30);
	snprintf(k3, sizeof(k3), "w%d:x", v->id);
	snprintf(val, sizeof(val), "%u", rnd(s) % 1000);
	if (op < 45) {
		gen_renamenx(t, s, c);
	} else if (op < 60) {
		pc_arg(c, "MGET");
		for (int i = 0; i < 4; i++)
			pc_arg(c, t->key[rnd(s) % NSLOT]);
	} else if (op < 70) {
		pc_arg(c, "MSET");
		pc_arg(c, k1);
		pc_arg(c, val);
		pc_arg(c, k2);
		pc_arg(c, val);
		pc_arg(c, k3);
		pc_arg(c, val);
	} else if (op < 78) {
		pc_arg(c, "COPY");
		pc_arg(c, t->key[rnd(s) % NSLOT]);
		pc_arg(c, k1);
		pc_arg(c, "REPLACE");
	} else if (op < 85) {
		pc_arg(c, "DEL");
		pc_arg(c, k1);
		pc_arg(c, k2);
	} else if (op < 90) {
		pc_arg(c, "RENAME");
		pc_arg(c, k1);
		pc_arg(c, k2);
	} else if (op < 95) {
		pc_arg(c, "MSETNX");
		pc_arg(c, k1);
		pc_arg(c, val);
		pc_arg(c, k2);
		pc_arg(c, val);
	} else {
		pc_arg(c, "EXISTS");
		pc_arg(c, t->key[rnd(s) % NSLOT]);
		pc_arg(c, k1);
		pc_arg(c, k2);
	}
}

static void *vandal_main(void *arg)
{
	struct vandal *v = arg;
	redisContext *ctx = th_connect(v->err, sizeof(v->err));
	if (!ctx)
		return NULL;
	struct kr_sb got = { 0 }, wire = { 0 };
	const char *sel[2] = { "SELECT", VDB };
	if (!th_cmd(ctx, "+OK", &got, 2, sel)) {
		snprintf(v->err, sizeof(v->err), "vandal %d: SELECT: %s", v->id, got.s);
		goto out;
	}
	unsigned s = v->seed;
	for (int it = 0; it < v->iters; it++) {
		struct tokset *t = &v->ts[it];
		char prefix[24];
		snprintf(prefix, sizeof(prefix), "u%di%d:", v->id, it);
		tokset_init(t, prefix, &s);
		if (!tokset_setup(ctx, t, v->err, sizeof(v->err)))
			goto out;
		struct pipe p = { 0 };
		struct pcmd *c = pipe_new_cmd(&p);
		pc_arg(c, "SELECT");
		pc_arg(c, VDB);
		c = pipe_new_cmd(&p);
		pc_arg(c, "CLIENT");
		pc_arg(c, "SETNAME");
		pc_arg(c, "vandal");
		for (int i = 0; i < v->depth; i++)
			gen_vandal_cmd(v, t, &s, pipe_new_cmd(&p));
		kr_sb_reset(&wire);
		pipe_append_wire(&p, &wire, NULL);
		pipe_free(&p);
		int fd = tcp_connect(srv.port);
		if (fd < 0) {
			snprintf(v->err, sizeof(v->err), "vandal %d: connect: %s", v->id, strerror(errno));
			goto out;
		}
		/* Sometimes the last command is cut in half. */
		size_t len = rnd(&s) % 4 == 0 ? wire.len - 5 : wire.len;
		if (send_all(fd, wire.s, len) != 0) {
			/* the server may already have reset us: fine */
		}
		unsigned how = rnd(&s) % 4;
		if (how >= 2)
			sleep_ms(1 + (int)(how - 2) * 3);   /* let it dispatch a lot */
		if (how % 2) {
			struct linger lg = { 1, 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(fd);
	}
out:
	free(got.s);
	free(wire.s);
	redisFree(ctx);
	return NULL;
}

/* ------------------------------------------------------------ victims
 * Pipeline of INCR/RENAMENX/MGET, read while it runs; after a random number
 * of replies another connection kills the victim with CLIENT KILL ID. Every
 * reply received must be the model's, in order; after the disconnect the
 * server must hold the model state after some prefix of at least as many
 * commands as were answered (commands run in order and none is lost or
 * half-applied). */

#define XDB "6"

struct victim {
	int id;
	unsigned seed;
	int runs, depth;
	int answered_total, killed;
	char err[2048];
};

static void *victim_main(void *arg)
{
	struct victim *v = arg;
	redisContext *ctl = th_connect(v->err, sizeof(v->err));
	if (!ctl)
		return NULL;
	struct kr_sb got = { 0 }, wire = { 0 };
	struct pipe p = { 0 };
	int8_t (*states)[NSLOT] = NULL;
	long long *ctr_at = NULL;
	size_t *ends = NULL;
	redisReader *rd = NULL;
	int fd = -1;
	const char *sel[2] = { "SELECT", XDB };
	if (!th_cmd(ctl, "+OK", &got, 2, sel)) {
		snprintf(v->err, sizeof(v->err), "victim %d: SELECT: %s", v->id, got.s);
		goto out;
	}
	states = calloc((size_t)v->depth + 1, sizeof(*states));
	ctr_at = calloc((size_t)v->depth + 1, sizeof(*ctr_at));
	if (!states || !ctr_at)
		abort();
	unsigned s = v->seed;
	for (int run = 0; run < v->runs; run++) {
		char prefix[24], ctr[32];
		snprintf(prefix, sizeof(prefix), "k%dr%d:", v->id, run);
		snprintf(ctr, sizeof(ctr), "ctr%d:%d", v->id, run);
		struct tokset t;
		tokset_init(&t, prefix, &s);
		if (!tokset_setup(ctl, &t, v->err, sizeof(v->err)))
			goto out;
		const char *setc[3] = { "SET", ctr, "0" };
		if (!th_cmd(ctl, "+OK", &got, 3, setc)) {
			snprintf(v->err, sizeof(v->err), "victim %d: SET %s: %s", v->id, ctr, got.s);
			goto out;
		}
		/* Commands 0..1 select the db and name the connection; command
		 * 2 + i is model step i. */
		pipe_clear(&p);
		struct pcmd *c = pipe_new_cmd(&p);
		pc_arg(c, "SELECT");
		pc_arg(c, XDB);
		c->want = strdup("+OK");
		c = pipe_new_cmd(&p);
		pc_arg(c, "CLIENT");
		pc_arg(c, "SETNAME");
		pc_arg(c, "victim");
		c->want = strdup("+OK");
		long long cv = 0;
		memcpy(states[0], t.at, NSLOT);
		ctr_at[0] = 0;
		for (int i = 0; i < v->depth; i++) {
			c = pipe_new_cmd(&p);
			unsigned op = rnd(&s) % 100;
			if (op < 35) {
				pc_arg(c, "INCR");
				pc_arg(c, ctr);
				char w[32];
				snprintf(w, sizeof(w), ":%lld", ++cv);
				c->want = strdup(w);
			} else if (op < 80) {
				gen_renamenx(&t, &s, c);
			} else {
				struct kr_sb w = { 0 };
				pc_arg(c, "MGET");
				kr_sb_fmt(&w, "*3[");
				for (int k = 0; k < 3; k++) {
					int j = (int)(rnd(&s) % NSLOT);
					pc_arg(c, t.key[j]);
					if (k)
						kr_sb_add(&w, ",", 1);
					want_bulk(&w, t.at[j] >= 0 ? t.tok[t.at[j]] : NULL);
				}
				kr_sb_add(&w, "]", 1);
				c->want = w.s;
			}
			memcpy(states[i + 1], t.at, NSLOT);
			ctr_at[i + 1] = cv;
		}
		kr_sb_reset(&wire);
		ends = realloc(ends, (size_t)p.n * sizeof(*ends));
		if (!ends)
			abort();
		pipe_append_wire(&p, &wire, ends);

		fd = tcp_connect(srv.port);
		if (fd < 0) {
			snprintf(v->err, sizeof(v->err), "victim %d: connect: %s", v->id, strerror(errno));
			goto out;
		}
		/* Learn our id first, on the same connection. */
		static const char idreq[] = "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n";
		rd = redisReaderCreate();
		long long myid = -1;
		if (send_all(fd, idreq, sizeof(idreq) - 1) != 0)
			goto io_err;
		while (myid < 0) {
			char buf[256];
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				goto io_err;
			redisReaderFeed(rd, buf, (size_t)n);
			redisReply *r = NULL;
			if (redisReaderGetReply(rd, (void **)&r) != REDIS_OK)
				goto io_err;
			if (r) {
				myid = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
				freeReplyObject(r);
			}
		}
		/* Send in 1 KiB pieces, keeping about 40 commands ahead of the
		 * replies, so the kill lands mid-pipeline even when every
		 * command runs at once (one shard, redis-server). */
		int kill_at = 2 + 5 + (int)(rnd(&s) % 150);
		int got_n = 0, sent_cmds = 0;
		size_t sent = 0;
		bool eof = false, can_send = true;
		while (!eof) {
			while (can_send && sent < wire.len && sent_cmds - got_n < 40) {
				size_t chunk = wire.len - sent < 1024 ? wire.len - sent : 1024;
				if (send_all(fd, wire.s + sent, chunk) != 0) {
					can_send = false;   /* killed: the rest never goes */
					break;
				}
				sent += chunk;
				while (sent_cmds < p.n && ends[sent_cmds] <= sent)
					sent_cmds++;
			}
			redisReply *r = NULL;
			if (redisReaderGetReply(rd, (void **)&r) != REDIS_OK) {
				snprintf(v->err, sizeof(v->err), "victim %d run %d: unparsable reply stream", v->id, run);
				goto out;
			}
			if (!r) {
				char buf[65536];
				ssize_t n = recv(fd, buf, sizeof(buf), 0);
				if (n > 0) {
					redisReaderFeed(rd, buf, (size_t)n);
					continue;
				}
				if (n == 0 || errno == ECONNRESET || errno == EPIPE) {
					eof = true;
					continue;
				}
				snprintf(v->err, sizeof(v->err),
					 "victim %d run %d: no EOF after CLIENT KILL (%d replies read): %s",
					 v->id, run, got_n, strerror(errno));
				goto out;
			}
			if (got_n >= p.n) {
				freeReplyObject(r);
				snprintf(v->err, sizeof(v->err), "victim %d run %d: more replies than commands",
					 v->id, run);
				goto out;
			}
			if (!reply_matches(p.c[got_n].want, r, &got)) {
				struct kr_sb tx = { 0 };
				pcmd_text(&p.c[got_n], &tx);
				snprintf(v->err, sizeof(v->err), "victim %d run %d (seed %u): reply %d to `%s`: expected %s, got %s",
					 v->id, run, v->seed, got_n, tx.s, p.c[got_n].want, got.s);
				free(tx.s);
				freeReplyObject(r);
				goto out;
			}
			freeReplyObject(r);
			got_n++;
			if (got_n == kill_at) {
				char idb[32];
				snprintf(idb, sizeof(idb), "%lld", myid);
				const char *kill[4] = { "CLIENT", "KILL", "ID", idb };
				if (!th_cmd(ctl, ":1", &got, 4, kill)) {
					snprintf(v->err, sizeof(v->err), "victim %d run %d: CLIENT KILL ID %s: %s",
						 v->id, run, idb, got.s);
					goto out;
				}
				v->killed++;
			}
		}
		close(fd);
		fd = -1;
		redisReaderFree(rd);
		rd = NULL;
		if (got_n < kill_at && got_n < p.n) {
			snprintf(v->err, sizeof(v->err), "victim %d run %d: disconnected after %d replies, before the kill at %d",
				 v->id, run, got_n, kill_at);
			goto out;
		}
		int done_min = got_n < 2 ? 0 : got_n - 2;
		v->answered_total += done_min;

		/* At rest the keys must hold the state after some prefix
		 * m >= done_min. Commands of the killed client may still be
		 * finishing on other shards: poll, bounded. */
		bool match = false;
		int8_t at[NSLOT];
		long long cnow = -1;
		char idb[32];
		snprintf(idb, sizeof(idb), "%lld", myid);
		for (int tries = 0; tries < 400 && !match; tries++) {
			if (tries)
				sleep_ms(10);
			const char *cl[4] = { "CLIENT", "LIST", "ID", idb };
			redisReply *r = redisCommandArgv(ctl, 4, cl, NULL);
			if (!r)
				break;
			bool gone = r->type == REDIS_REPLY_STRING && r->len == 0;
			freeReplyObject(r);
			if (!gone)
				continue;
			const char *getc[2] = { "GET", ctr };
			r = redisCommandArgv(ctl, 2, getc, NULL);
			if (!r)
				break;
			cnow = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
			freeReplyObject(r);
			if (tokset_read(ctl, &t, at, &got) != 0)
				break;
			for (int m = done_min; m <= v->depth && !match; m++)
				match = ctr_at[m] == cnow && memcmp(states[m], at, NSLOT) == 0;
		}
		if (!match) {
			snprintf(v->err, sizeof(v->err),
				 "victim %d run %d (seed %u): after %d answered commands the server state "
				 "(counter %lld, keys %.400s) matches no model prefix >= %d (or the client never left)",
				 v->id, run, v->seed, done_min, cnow, got.s ? got.s : "?", done_min);
			goto out;
		}
	}
	goto out;
io_err:
	snprintf(v->err, sizeof(v->err), "victim %d: I/O error before the pipeline ran: %s", v->id, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rd)
		redisReaderFree(rd);
	pipe_free(&p);
	free(states);
	free(ctr_at);
	free(ends);
	free(got.s);
	free(wire.s);
	redisFree(ctl);
	return NULL;
}

/* ------------------------------------------------------ final checks */

static long long dbsize_of(redisContext *c, int db)
{
	redisReply *r = kr_cmd(c, "SELECT %d", db);
	freeReplyObject(r);
	r = kr_cmd(c, "DBSIZE");
	cr_assert(r->type == REDIS_REPLY_INTEGER, "DBSIZE did not answer an integer");
	long long n = r->integer;
	freeReplyObject(r);
	return n;
}

/* SIGTERM: the server must exit by itself with status 0 (under ASan that
 * also means no leak report and no sanitizer error). */
static void stop_and_check_exit(void)
{
	cr_assert(kr_srv_alive(&srv), "server died during the test");
	int st = kr_srv_stop(&srv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "server did not exit cleanly on SIGTERM (status 0x%x: %s %d); see its log above",
		  st, WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* -------------------------------------------------------------- tests */

/* Model clients, vandals and kill victims all at once. */
Test(stress, mixed_load_models_vandals_victims)
{
	enum { NM = 4, NV = 3, NX = 3 };
	struct mclient mc[NM];
	struct vandal va[NV];
	struct victim vi[NX];
	pthread_t th[NM + NV + NX];
	memset(mc, 0, sizeof(mc));
	memset(va, 0, sizeof(va));
	memset(vi, 0, sizeof(vi));
	unsigned base = seed_base();
	for (int i = 0; i < NM; i++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "m%d:", i);
		mc[i].id = i;
		mc[i].seed = (0x5EED0000u + (unsigned)i * 7919u) ^ base;
		mc[i].rounds = 80;
		mc[i].depth = 150;
		model_init(&mc[i].m, prefix, i % 2);
	}
	for (int i = 0; i < NV; i++) {
		va[i].id = i;
		va[i].seed = (0xBADC0DEu + (unsigned)i * 104729u) ^ base;
		va[i].iters = 20;
		va[i].depth = 400;
		va[i].ts = calloc((size_t)va[i].iters, sizeof(struct tokset));
	}
	for (int i = 0; i < NX; i++) {
		vi[i].id = i;
		vi[i].seed = (0x71C7u + (unsigned)i * 31337u) ^ base;
		vi[i].runs = 8;
		vi[i].depth = 600;
	}
	int nt = 0;
	for (int i = 0; i < NM; i++)
		cr_assert(pthread_create(&th[nt++], NULL, mclient_main, &mc[i]) == 0);
	for (int i = 0; i < NV; i++)
		cr_assert(pthread_create(&th[nt++], NULL, vandal_main, &va[i]) == 0);
	for (int i = 0; i < NX; i++)
		cr_assert(pthread_create(&th[nt++], NULL, victim_main, &vi[i]) == 0);
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);

	cr_assert(kr_srv_alive(&srv), "server died under load");
	for (int i = 0; i < NM; i++)
		cr_assert(!mc[i].err[0], "%s", mc[i].err);
	for (int i = 0; i < NV; i++)
		cr_assert(!va[i].err[0], "%s", va[i].err);
	for (int i = 0; i < NX; i++) {
		cr_assert(!vi[i].err[0], "%s", vi[i].err);
		cr_assert_eq(vi[i].killed, vi[i].runs, "victim %d was killed %d times, not %d", i, vi[i].killed,
			     vi[i].runs);
	}

	long model_replies = 0, answered = 0;
	for (int i = 0; i < NM; i++)
		model_replies += mc[i].replies;
	for (int i = 0; i < NX; i++)
		answered += vi[i].answered_total;
	cr_log_info("checked %ld model replies; victims answered %ld commands before their end", model_replies,
		    answered);
	cr_assert_gt(model_replies, (long)NM * 80 * 70, "the model clients ran fewer commands than planned");

	redisContext *c = kr_connect(&srv);
	redisReply *r = kr_cmd(c, "PING");
	cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0, "PING after the load");
	freeReplyObject(r);

	/* Vandals' token sets, once their leftovers have finished: each set
	 * must end with every token exactly once. Bounded poll. */
	r = kr_cmd(c, "SELECT %s", VDB);
	freeReplyObject(r);
	struct kr_sb desc = { 0 };
	for (int i = 0; i < NV; i++) {
		for (int it = 0; it < va[i].iters; it++) {
			int8_t at[NSLOT];
			bool ok = false;
			for (int tries = 0; tries < 300 && !ok; tries++) {
				if (tries)
					sleep_ms(10);
				cr_assert(tokset_read(c, &va[i].ts[it], at, &desc) == 0, "MGET of a token set failed");
				ok = tokens_conserved(at);
			}
			cr_assert(ok, "vandal %d (seed %u) iteration %d: tokens not conserved after abrupt disconnect: "
				  "keys %s hold %s", i, va[i].seed, it, va[i].ts[it].key[0], desc.s);
		}
		free(va[i].ts);
	}
	free(desc.s);

	/* Model clients' state was checked by each client; DBSIZE must be
	 * the sum of the models in their dbs. */
	for (int db = 0; db < 2; db++) {
		long long want = 0;
		for (int i = 0; i < NM; i++)
			want += model_count(&mc[i].m, db);
		cr_assert_eq(dbsize_of(c, db), want, "DBSIZE of db %d is not the sum of the models (%lld)", db, want);
	}
	/* Victims: NTOK tokens and one counter per run. */
	long long want6 = 0;
	for (int i = 0; i < NX; i++)
		want6 += (long long)vi[i].runs * (NTOK + 1);
	cr_assert_eq(dbsize_of(c, 6), want6, "DBSIZE of the victims' db");
	/* Nobody but us is left connected (closes may still be in
	 * progress: bounded poll). */
	int lines = -1;
	struct kr_sb list = { 0 };
	for (int tries = 0; tries < 300 && lines != 1; tries++) {
		if (tries)
			sleep_ms(10);
		r = kr_cmd(c, "CLIENT LIST");
		cr_assert(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
		lines = 0;
		for (const char *p = r->str; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		kr_sb_reset(&list);
		kr_sb_add(&list, r->str, r->len);
		freeReplyObject(r);
	}
	cr_assert_eq(lines, 1, "connections left after the load:\n%s", list.s);
	free(list.s);
	redisFree(c);
	for (int i = 0; i < NM; i++)
		model_free(&mc[i].m);
	stop_and_check_exit();
}

/* One connection: CLIENT REPLY OFF / ON / SKIP interleaved with cross-shard
 * commands, including ones that fail before any round is sent (COPY with a
 * bad option) or finish at once (RENAME of a missing key), and broadcasts
 * (DBSIZE). Exactly the replies due must arrive, in order. */
Test(stress, client_reply_modes_with_cross_shard_commands)
{
	redisContext *c = kr_connect(&srv);
	struct model m;
	model_init(&m, "rm:", 0);
	unsigned seed = 0xA11CEu ^ seed_base(), s = seed;
	struct pipe p = { 0 };
	char err[1024] = "";
	int mode = 0;   /* 0 on, 1 off, 2 skip */
	for (int round = 0; round < 40 && !err[0]; round++) {
		int n = 100 + (int)(rnd(&s) % 100);
		for (int i = 0; i < n; i++) {
			struct pcmd *pc = pipe_new_cmd(&p);
			unsigned op = rnd(&s) % 100;
			bool discard = mode != 0;
			if (mode == 2)
				mode = 0;
			if (op < 6) {
				pc_arg(pc, "CLIENT");
				pc_arg(pc, "REPLY");
				pc_arg(pc, "ON");
				pc->want = strdup("+OK");   /* due even when it was off */
				mode = 0;
				continue;
			} else if (op < 12) {
				pc_arg(pc, "CLIENT");
				pc_arg(pc, "REPLY");
				pc_arg(pc, "OFF");
				mode = 1;
				continue;
			} else if (op < 22) {
				pc_arg(pc, "CLIENT");
				pc_arg(pc, "REPLY");
				pc_arg(pc, "SKIP");
				if (mode != 1)
					mode = 2;
				continue;
			} else if (op < 26) {
				char w[32];
				pc_arg(pc, "DBSIZE");
				snprintf(w, sizeof(w), ":%d", model_count(&m, 0));
				pc->want = strdup(w);
			} else if (op < 30) {
				int a = mkey(&s), b = (a + 1 + (int)(rnd(&s) % (MK - 1))) % MK;
				pc_arg(pc, "COPY");
				pc_arg(pc, m.key[a]);
				pc_arg(pc, m.key[b]);
				pc_arg(pc, rnd(&s) % 2 ? "BADOPT" : "REPLACE");
				if (strcmp(pc->argv[3], "BADOPT") == 0) {
					pc->want = strdup("-ERR syntax error");
				} else if (!m.val[0][a]) {
					pc->want = strdup(":0");
				} else {
					bool t = m.ttl[0][a];
					mset_val(&m, 0, b, m.val[0][a], false);
					m.ttl[0][b] = t;
					pc->want = strdup(":1");
				}
			} else if (op < 33) {
				char w[32];
				snprintf(w, sizeof(w), "p%d.%d", round, i);
				pc_arg(pc, "PING");
				pc_arg(pc, w);
				char ww[40];
				snprintf(ww, sizeof(ww), "$%s", w);
				pc->want = strdup(ww);
			} else {
				gen_model_cmd(&m, &s, pc);
			}
			if (discard) {
				free(pc->want);
				pc->want = NULL;
			}
		}
		/* Turn replies back on and end with a marker: any extra or
		 * missing reply shows up as a mismatch. */
		struct pcmd *pc = pipe_new_cmd(&p);
		pc_arg(pc, "CLIENT");
		pc_arg(pc, "REPLY");
		pc_arg(pc, "ON");
		pc->want = strdup("+OK");
		mode = 0;
		pc = pipe_new_cmd(&p);
		char mark[40];
		snprintf(mark, sizeof(mark), "end-of-round-%d", round);
		pc_arg(pc, "PING");
		pc_arg(pc, mark);
		char wm[48];
		snprintf(wm, sizeof(wm), "$%s", mark);
		pc->want = strdup(wm);
		char who[64];
		snprintf(who, sizeof(who), "reply-mode client round %d (seed %u)", round, seed);
		run_pipe(c, &p, who, err, sizeof(err));
		pipe_clear(&p);
	}
	pipe_free(&p);
	cr_assert(!err[0], "%s", err);
	cr_assert(model_verify(c, &m, "reply-mode client", err, sizeof(err)), "%s", err);
	cr_assert_eq(dbsize_of(c, 0), model_count(&m, 0), "DBSIZE of db 0");
	model_free(&m);
	redisFree(c);
	stop_and_check_exit();
}

/* CLIENT KILL must disconnect a client that does not read its replies
 * (the case it exists for): its pending output is dropped, not awaited. */
Test(stress, client_kill_disconnects_a_client_that_does_not_read)
{
	redisContext *c = kr_connect(&srv);
	enum { VAL = 64 * 1024, GETS = 200 };
	char *big = malloc(VAL);
	cr_assert(big);
	memset(big, 'b', VAL);
	char key[32];
	keys_spread((char (*)[32])key, 1, "bigval");
	const char *set[3] = { "SET", key, big };
	size_t setl[3] = { 3, strlen(key), VAL };
	redisReply *r = kr_cmdv(c, 3, set, setl);
	cr_assert(r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	free(big);

	int fd = tcp_connect(srv.port);
	cr_assert(fd >= 0);
	static const char idreq[] = "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n";
	cr_assert(send_all(fd, idreq, sizeof(idreq) - 1) == 0);
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert(n > 3 && buf[0] == ':', "CLIENT ID reply");
	buf[n] = 0;
	long long id = atoll(buf + 1);
	struct kr_sb wire = { 0 };
	for (int i = 0; i < GETS; i++)
		kr_sb_fmt(&wire, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
	cr_assert(send_all(fd, wire.s, wire.len) == 0);
	free(wire.s);
	/* ~12 MiB of replies, far more than the socket buffers: the server
	 * cannot flush them while we do not read. Wait until it is stuck
	 * (omem/obl grows), then kill. */
	for (int i = 0; i < 200; i++) {
		r = kr_cmd(c, "CLIENT LIST ID %lld", id);
		bool stuck = r->type == REDIS_REPLY_STRING && r->str && !strstr(r->str, "cmd=client|id");
		freeReplyObject(r);
		if (stuck)
			break;
		sleep_ms(10);
	}
	kr_int(c, 1, "CLIENT KILL ID %lld", id);
	bool gone = false;
	for (int i = 0; i < 300 && !gone; i++) {
		if (i)
			sleep_ms(10);
		r = kr_cmd(c, "CLIENT LIST ID %lld", id);
		gone = r->type == REDIS_REPLY_STRING && r->len == 0;
		freeReplyObject(r);
	}
	close(fd);
	redisFree(c);
	cr_assert(gone, "CLIENT KILL ID %lld answered 1 but the client, which does not read, is still connected", id);
	stop_and_check_exit();
}

/* A client that sends its commands and then shuts down its write side (as
 * `nc -N` or a script piping into a socket does) still gets every reply,
 * including the ones coming back from other shards. */
Test(stress, half_closed_client_gets_every_reply)
{
	char k[NSLOT][32];
	keys_spread(k, NSLOT, "hc");
	for (int round = 0; round < 20; round++) {
		struct kr_sb wire = { 0 };
		int ncmd = 0;
		for (int i = 0; i < 20; i++) {
			const char *a = k[(round + i) % NSLOT], *b = k[(round + i + 1) % NSLOT],
				   *d = k[(round + i + 2) % NSLOT];
			kr_sb_fmt(&wire, "*7\r\n$4\r\nMSET\r\n$%zu\r\n%s\r\n$1\r\n1\r\n$%zu\r\n%s\r\n$1\r\n2\r\n$%zu\r\n%s\r\n$1\r\n3\r\n",
			       strlen(a), a, strlen(b), b, strlen(d), d);
			kr_sb_fmt(&wire, "*4\r\n$4\r\nMGET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
			       strlen(a), a, strlen(b), b, strlen(d), d);
			kr_sb_fmt(&wire, "*3\r\n$6\r\nRENAME\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(a), a, strlen(b), b);
			ncmd += 3;
		}
		kr_sb_fmt(&wire, "*2\r\n$4\r\nPING\r\n$3\r\nend\r\n");
		ncmd++;
		int fd = tcp_connect(srv.port);
		cr_assert(fd >= 0);
		cr_assert(send_all(fd, wire.s, wire.len) == 0);
		free(wire.s);
		shutdown(fd, SHUT_WR);
		redisReader *rd = redisReaderCreate();
		int got = 0;
		bool last_ok = false;
		for (;;) {
			redisReply *r = NULL;
			cr_assert(redisReaderGetReply(rd, (void **)&r) == REDIS_OK);
			if (r) {
				last_ok = r->type == REDIS_REPLY_STRING && strcmp(r->str, "end") == 0;
				got++;
				freeReplyObject(r);
				continue;
			}
			char buf[4096];
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			redisReaderFeed(rd, buf, (size_t)n);
		}
		redisReaderFree(rd);
		close(fd);
		cr_assert(got == ncmd && last_ok,
			  "round %d: a half-closed client got %d of %d replies (last was %sthe final PING)",
			  round, got, ncmd, last_ok ? "" : "not ");
	}
	stop_and_check_exit();
}
