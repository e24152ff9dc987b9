/* Integration tests of commands whose keys live on different shards (keyrail
 * with KR_SHARDS=3 is the interesting case; the same tests pass with one
 * shard and on redis-server): deep pipelines checked in order against a local
 * model, several such clients at once, multi-key commands, RENAME/COPY across
 * shards, whole-keyspace commands, and clients vanishing with replies in
 * flight.
 *
 * Keys are placed on shards by the documented rule shard = slot % nshards,
 * slot = CRC16(hashtag(key)) & 16383; the tests pick keys for 3 shards even
 * when the server runs fewer, so every run exercises the same keys. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(crossshard, .init = start_default, .fini = stop_server, .timeout = 300);

/* ---- slots ---- */

/* ---- pipelined model check ---- */

#define NKEYS 200

struct pconn {
	const char *name;
	int fd;
	struct kr_sb out;      /* every command, RESP-encoded, sent in one go */
	size_t outoff;
	char **want;          /* expected reply per command, rendered */
	char **text;          /* the command, readable */
	int n, got;
	redisReader *rd;
	int done;
};

struct model {
	char *val[NKEYS];
	char key[NKEYS][48];
};

static unsigned rnd(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void pc_add(struct pconn *pc, int argc, const char **argv, const char *want)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
	cr_assert(len > 0);
	kr_sb_add(&pc->out, cmd, (size_t)len);
	redisFreeCommand(cmd);
	struct kr_sb t = { 0 };
	for (int i = 0; i < argc; i++)
		kr_sb_fmt(&t, i ? " %s" : "%s", argv[i]);
	pc->text[pc->n] = t.s;
	pc->want[pc->n] = strdup(want);
	pc->n++;
}

static int is_int(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void set_val(struct model *m, int k, const char *v)
{
	free(m->val[k]);
	m->val[k] = v != NULL ? strdup(v) : NULL;
}

/* Builds ncmds random SET/GET/INCR/DEL/EXISTS/MGET/MSET commands over the
 * NKEYS keys "<prefix>xs:<i>" with their expected replies. */
static void gen_pipeline(struct pconn *pc, const char *prefix, unsigned seed, int ncmds)
{
	struct model m;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < NKEYS; i++)
		snprintf(m.key[i], sizeof(m.key[i]), "%sxs:%d", prefix, i);
	pc->want = calloc((size_t)ncmds, sizeof(char *));
	pc->text = calloc((size_t)ncmds, sizeof(char *));
	unsigned s = seed ? seed : 1;
	const char *argv[32];
	char vals[16][32];
	struct kr_sb want = { 0 };
	for (int c = 0; c < ncmds; c++) {
		want.len = 0;
		if (want.s)
			want.s[0] = '\0';
		unsigned op = rnd(&s) % 100;
		int k = (int)(rnd(&s) % NKEYS);
		if (op < 20) { /* SET */
			if (rnd(&s) % 2)
				snprintf(vals[0], sizeof(vals[0]), "%d", (int)(rnd(&s) % 2001) - 1000);
			else
				snprintf(vals[0], sizeof(vals[0]), "s%u", rnd(&s) % 100000);
			argv[0] = "SET", argv[1] = m.key[k], argv[2] = vals[0];
			set_val(&m, k, vals[0]);
			pc_add(pc, 3, argv, "+OK");
		} else if (op < 40) { /* GET */
			argv[0] = "GET", argv[1] = m.key[k];
			if (m.val[k])
				kr_sb_fmt(&want, "$%s", m.val[k]);
			else
				kr_sb_fmt(&want, "nil");
			pc_add(pc, 2, argv, want.s);
		} else if (op < 55) { /* INCR */
			argv[0] = "INCR", argv[1] = m.key[k];
			if (m.val[k] == NULL || is_int(m.val[k])) {
				long long v = (m.val[k] ? atoll(m.val[k]) : 0) + 1;
				snprintf(vals[0], sizeof(vals[0]), "%lld", v);
				set_val(&m, k, vals[0]);
				kr_sb_fmt(&want, ":%lld", v);
			} else {
				kr_sb_fmt(&want, "-ERR value is not an integer or out of range");
			}
			pc_add(pc, 2, argv, want.s);
		} else if (op < 65) { /* DEL, duplicates allowed */
			int n = 1 + (int)(rnd(&s) % 4), ks[4], cnt = 0;
			argv[0] = "DEL";
			for (int i = 0; i < n; i++) {
				ks[i] = (int)(rnd(&s) % NKEYS);
				argv[1 + i] = m.key[ks[i]];
			}
			for (int i = 0; i < n; i++)
				if (m.val[ks[i]]) {
					cnt++;
					set_val(&m, ks[i], NULL);
				}
			kr_sb_fmt(&want, ":%d", cnt);
			pc_add(pc, 1 + n, argv, want.s);
		} else if (op < 75) { /* EXISTS counts duplicates */
			int n = 1 + (int)(rnd(&s) % 5), cnt = 0, first = 0;
			argv[0] = "EXISTS";
			for (int i = 0; i < n; i++) {
				int kk = (int)(rnd(&s) % NKEYS);
				if (i == 0)
					first = kk;
				else if (rnd(&s) % 3 == 0)
					kk = first; /* a repeated key counts again */
				argv[1 + i] = m.key[kk];
				cnt += m.val[kk] != NULL;
			}
			kr_sb_fmt(&want, ":%d", cnt);
			pc_add(pc, 1 + n, argv, want.s);
		} else if (op < 88) { /* MGET */
			int n = 1 + (int)(rnd(&s) % 8);
			argv[0] = "MGET";
			kr_sb_fmt(&want, "*%d[", n);
			for (int i = 0; i < n; i++) {
				int kk = (int)(rnd(&s) % NKEYS);
				argv[1 + i] = m.key[kk];
				if (i > 0)
					kr_sb_add(&want, ",", 1);
				if (m.val[kk])
					kr_sb_fmt(&want, "$%s", m.val[kk]);
				else
					kr_sb_fmt(&want, "nil");
			}
			kr_sb_add(&want, "]", 1);
			pc_add(pc, 1 + n, argv, want.s);
		} else { /* MSET, later duplicates win */
			int n = 1 + (int)(rnd(&s) % 6);
			argv[0] = "MSET";
			for (int i = 0; i < n; i++) {
				int kk = (int)(rnd(&s) % NKEYS);
				snprintf(vals[i], sizeof(vals[i]), rnd(&s) % 2 ? "%u" : "m%u", rnd(&s) % 1000);
				argv[1 + 2 * i] = m.key[kk];
				argv[2 + 2 * i] = vals[i];
				set_val(&m, kk, vals[i]);
			}
			pc_add(pc, 1 + 2 * n, argv, "+OK");
		}
	}
	free(want.s);
	for (int i = 0; i < NKEYS; i++)
		free(m.val[i]);
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	cr_assert(inet_pton(AF_INET, kr_srv_host(&srv), &sa.sin_addr) == 1, "bad address %s", kr_srv_host(&srv));
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

static void pc_open(struct pconn *pc, const char *name, const char *prefix, unsigned seed, int ncmds)
{
	memset(pc, 0, sizeof(*pc));
	pc->name = name;
	gen_pipeline(pc, prefix, seed, ncmds);
	pc->fd = tcp_connect(srv.port);
	pc->rd = redisReaderCreate();
}

static void pc_free(struct pconn *pc)
{
	for (int i = 0; i < pc->n; i++) {
		free(pc->want[i]);
		free(pc->text[i]);
	}
	free(pc->want);
	free(pc->text);
	free(pc->out.s);
	redisReaderFree(pc->rd);
	if (pc->fd >= 0)
		close(pc->fd);
}

/* Drives all connections at once: each writes its whole pipeline as fast as
 * the socket takes it while replies are read and compared in order. */
static void pc_run(struct pconn *pcs, int n)
{
	int left = n;
	char chunk[65536];
	while (left > 0) {
		struct pollfd pfd[16];
		for (int i = 0; i < n; i++) {
			pfd[i].fd = pcs[i].done ? -1 : pcs[i].fd;
			pfd[i].events = POLLIN | (pcs[i].outoff < pcs[i].out.len ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		int pr = poll(pfd, (nfds_t)n, 60000);
		cr_assert(pr > 0, "no progress for 60 s (poll %d: %s)", pr, strerror(errno));
		for (int i = 0; i < n; i++) {
			struct pconn *pc = &pcs[i];
			if (pc->done)
				continue;
			if (pfd[i].revents & POLLOUT) {
				ssize_t w = send(pc->fd, pc->out.s + pc->outoff, pc->out.len - pc->outoff,
						 MSG_DONTWAIT | MSG_NOSIGNAL);
				cr_assert(w > 0 || errno == EAGAIN, "%s: write: %s", pc->name, strerror(errno));
				if (w > 0)
					pc->outoff += (size_t)w;
			}
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = recv(pc->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
			if (r < 0 && errno == EAGAIN)
				continue;
			cr_assert(r > 0, "%s: connection ended after %d of %d replies (%s)", pc->name, pc->got,
				  pc->n, r == 0 ? "EOF" : strerror(errno));
			redisReaderFeed(pc->rd, chunk, (size_t)r);
			redisReply *rep;
			while (pc->got < pc->n) {
				rep = NULL;
				cr_assert(redisReaderGetReply(pc->rd, (void **)&rep) == REDIS_OK, "%s: bad reply stream",
					  pc->name);
				if (rep == NULL)
					break;
				struct kr_sb got = { 0 };
				kr_render(&got, rep);
				freeReplyObject(rep);
				if (strcmp(got.s, pc->want[pc->got]) != 0)
					cr_assert_fail("%s: reply %d to `%s`: expected %s, got %s", pc->name, pc->got,
						       pc->text[pc->got], pc->want[pc->got], got.s);
				free(got.s);
				pc->got++;
			}
			if (pc->got == pc->n) {
				rep = NULL;
				redisReaderGetReply(pc->rd, (void **)&rep);
				cr_assert(rep == NULL, "%s: more replies than commands", pc->name);
				pc->done = 1;
				left--;
			}
		}
	}
}

Test(crossshard, pipeline_10000_mixed_against_model)
{
	struct pconn pc;
	pc_open(&pc, "client", "", 0xC0FFEEu, 10000);
	pc_run(&pc, 1);
	pc_free(&pc);
	/* A fresh connection sees the same state the model ended with. */
	redisContext *c = kr_connect(&srv);
	redisReply *r = kr_cmd(c, "DBSIZE");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= NKEYS, "DBSIZE %lld",
		  r->integer);
	freeReplyObject(r);
	redisFree(c);
}

Test(crossshard, concurrent_pipelines_distinct_keys)
{
	enum { N = 4 };
	struct pconn pcs[N];
	static const char *const names[N] = { "client0", "client1", "client2", "client3" };
	static const char *const prefixes[N] = { "c0:", "c1:", "c2:", "c3:" };
	for (int i = 0; i < N; i++)
		pc_open(&pcs[i], names[i], prefixes[i], 1000u + (unsigned)i * 7919u, 6000);
	pc_run(pcs, N);
	for (int i = 0; i < N; i++)
		pc_free(&pcs[i]);
}

/* ---- multi-key commands across shards ---- */

struct xkeys {
	char k[3][32];  /* one key on each of 3 shards */
	char k0b[32];   /* a second key on shard 0 */
};

static void pick_keys(struct xkeys *x, const char *prefix)
{
	for (unsigned i = 0; i < 3; i++)
		kr_key_on_shard(x->k[i], sizeof(x->k[i]), prefix, i, 0);
	kr_key_on_shard(x->k0b, sizeof(x->k0b), prefix, 0, 1);
}

static void expect_render(redisContext *c, const char *want, const char *fmt, ...)
{
	/* Builds "fmt" args via kr_cmd's printf-style formatting. */
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	cr_assert(len > 0);
	cr_assert(redisAppendFormattedCommand(c, cmd, (size_t)len) == REDIS_OK);
	redisFreeCommand(cmd);
	redisReply *r = NULL;
	cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL, "no reply: %s", c->errstr);
	struct kr_sb got = { 0 };
	kr_render(&got, r);
	freeReplyObject(r);
	if (strcmp(got.s, want) != 0)
		cr_assert_fail("command `%s`: expected %s, got %s", fmt, want, got.s);
	free(got.s);
}

Test(crossshard, multikey_commands)
{
	struct xkeys x;
	pick_keys(&x, "mk");
	const char *a = x.k[0], *b = x.k[1], *c3 = x.k[2], *d = x.k0b;
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "MSET %s va %s vb %s vc", a, b, c3);
	expect_render(c, "*5[$va,$vb,$vc,nil,$va]", "MGET %s %s %s nokey %s", a, b, c3, a);
	kr_int(c, 4, "EXISTS %s %s %s nokey %s", a, b, c3, a);
	kr_int(c, 0, "EXISTS nokey1 nokey2");
	kr_int(c, 3, "TOUCH %s %s %s nokey", a, b, c3);
	/* MSET with a repeated key: the last value wins. */
	kr_ok(c, "MSET %s 1 %s 2 %s 3", d, b, d);
	expect_render(c, "*2[$3,$2]", "MGET %s %s", d, b);
	/* MSETNX is all-or-nothing across shards. */
	kr_int(c, 0, "MSETNX newkey1 x %s y", c3);
	kr_nil(c, "GET newkey1");
	kr_bulk(c, "vc", "GET %s", c3);
	kr_int(c, 1, "MSETNX newkey1 x newkey2 y");
	kr_int(c, 2, "DEL %s %s nokey %s", a, b, a);
	kr_int(c, 2, "UNLINK %s %s %s", c3, d, a);
	expect_render(c, "*4[nil,nil,nil,nil]", "MGET %s %s %s %s", a, b, c3, d);
	kr_int(c, 2, "DBSIZE");
	kr_err(c, "ERR wrong number of arguments for 'mset' command", "MSET %s", a);
	kr_err(c, "ERR wrong number of arguments for 'mset' command", "MSET %s 1 %s", a, b);
	kr_err(c, "ERR wrong number of arguments for 'mget' command", "MGET");
	kr_nil(c, "GET %s", a); /* the failed MSET wrote nothing */
	redisFree(c);
}

Test(crossshard, rename_copy_between_shards)
{
	struct xkeys x;
	pick_keys(&x, "rn");
	const char *src = x.k[0], *dst = x.k[1], *other = x.k[2];
	redisContext *c = kr_connect(&srv);

	kr_ok(c, "SET %s hello EX 1000", src);
	kr_ok(c, "RENAME %s %s", src, dst);
	kr_int(c, 0, "EXISTS %s", src);
	kr_bulk(c, "hello", "GET %s", dst);
	redisReply *r = kr_cmd(c, "PTTL %s", dst);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 1000000,
		  "RENAME lost the TTL: PTTL %lld", r->integer);
	freeReplyObject(r);
	/* Overwriting a key with a TTL by one without drops the TTL. */
	kr_ok(c, "SET %s plain", other);
	kr_ok(c, "RENAME %s %s", other, dst);
	kr_bulk(c, "plain", "GET %s", dst);
	kr_int(c, -1, "TTL %s", dst);
	kr_int(c, 1, "DBSIZE");
	kr_err(c, "ERR no such key", "RENAME %s %s", src, other);
	kr_ok(c, "RENAME %s %s", dst, dst);
	kr_bulk(c, "plain", "GET %s", dst);

	kr_ok(c, "SET %s first", src);
	kr_int(c, 0, "RENAMENX %s %s", src, dst);
	kr_bulk(c, "first", "GET %s", src);
	kr_bulk(c, "plain", "GET %s", dst);
	kr_int(c, 1, "RENAMENX %s %s", src, other);
	kr_int(c, 0, "EXISTS %s", src);
	kr_bulk(c, "first", "GET %s", other);
	kr_err(c, "ERR no such key", "RENAMENX %s %s", src, dst);

	/* COPY: other(first) -> src on another shard. */
	kr_int(c, 1, "EXPIRE %s 500", other);
	kr_int(c, 1, "COPY %s %s", other, src);
	kr_bulk(c, "first", "GET %s", src);
	kr_bulk(c, "first", "GET %s", other);
	r = kr_cmd(c, "TTL %s", src);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 500, "COPY lost the TTL");
	freeReplyObject(r);
	kr_int(c, 0, "COPY %s %s", other, dst);      /* dst exists */
	kr_bulk(c, "plain", "GET %s", dst);
	kr_int(c, 1, "COPY %s %s REPLACE", other, dst);
	kr_bulk(c, "first", "GET %s", dst);
	kr_int(c, 0, "COPY nokey %s REPLACE", dst);
	kr_bulk(c, "first", "GET %s", dst);
	kr_int(c, 1, "COPY %s %s DB 1", other, src);
	kr_err(c, "ERR syntax error", "COPY %s %s BOGUS", other, src);
	kr_ok(c, "SELECT 1");
	kr_bulk(c, "first", "GET %s", src);
	kr_int(c, 1, "DBSIZE");
	redisFree(c);
}

/* ---- whole-keyspace commands ---- */

static int in_set(char keys[][16], int n, const char *k)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], k) == 0)
			return i;
	return -1;
}

Test(crossshard, keyspace_wide_commands)
{
	enum { N = 300 };
	static char keys[N][16];
	redisContext *c = kr_connect(&srv);
	kr_nil(c, "RANDOMKEY");
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "ks:%d", i);
		kr_ok(c, "SET %s %d", keys[i], i);
	}
	kr_int(c, N, "DBSIZE");

	redisReply *r = kr_cmd(c, "KEYS *");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == N, "KEYS * gave %zu keys", r->elements);
	static char seen[N];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < r->elements; i++) {
		int at = in_set(keys, N, r->element[i]->str);
		cr_assert(at >= 0 && !seen[at], "KEYS *: unexpected or repeated %s", r->element[i]->str);
		seen[at] = 1;
	}
	freeReplyObject(r);
	int want_1 = 0;
	for (int i = 0; i < N; i++)
		want_1 += fnmatch("ks:1*", keys[i], 0) == 0;
	r = kr_cmd(c, "KEYS ks:1*");
	cr_assert(r->type == REDIS_REPLY_ARRAY && (int)r->elements == want_1, "KEYS ks:1*: %zu, want %d",
		  r->elements, want_1);
	for (size_t i = 0; i < r->elements; i++)
		cr_assert(fnmatch("ks:1*", r->element[i]->str, 0) == 0);
	freeReplyObject(r);

	/* SCAN: a full iteration returns every key at least once. */
	memset(seen, 0, sizeof(seen));
	char cursor[32] = "0";
	int rounds = 0, total = 0;
	do {
		r = kr_cmd(c, "SCAN %s COUNT 10", cursor);
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
				  r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_ARRAY,
			  "SCAN reply shape");
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			int at = in_set(keys, N, r->element[1]->element[i]->str);
			cr_assert(at >= 0, "SCAN returned unknown key %s", r->element[1]->element[i]->str);
			total += !seen[at];
			seen[at] = 1;
		}
		freeReplyObject(r);
		cr_assert(++rounds < 10000, "SCAN did not terminate");
	} while (strcmp(cursor, "0") != 0);
	cr_assert_eq(total, N, "SCAN saw %d of %d keys", total, N);

	/* SCAN MATCH and TYPE. */
	memset(seen, 0, sizeof(seen));
	strcpy(cursor, "0");
	total = 0;
	do {
		r = kr_cmd(c, "SCAN %s MATCH ks:2* COUNT 7 TYPE string", cursor);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *k = r->element[1]->element[i]->str;
			cr_assert(fnmatch("ks:2*", k, 0) == 0, "SCAN MATCH ks:2* returned %s", k);
			int at = in_set(keys, N, k);
			total += !seen[at];
			seen[at] = 1;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	int want_2 = 0;
	for (int i = 0; i < N; i++)
		want_2 += fnmatch("ks:2*", keys[i], 0) == 0;
	cr_assert_eq(total, want_2);
	r = kr_cmd(c, "SCAN 0 TYPE list COUNT 1000");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->element[1]->elements == 0, "SCAN TYPE list found keys");
	freeReplyObject(r);
	kr_err(c, "ERR invalid cursor", "SCAN abc");

	for (int i = 0; i < 20; i++) {
		r = kr_cmd(c, "RANDOMKEY");
		cr_assert(r->type == REDIS_REPLY_STRING && in_set(keys, N, r->str) >= 0, "RANDOMKEY");
		freeReplyObject(r);
	}

	/* SWAPDB moves whole keyspaces, on every shard. */
	kr_ok(c, "SELECT 1");
	kr_ok(c, "SET only1 x");
	kr_ok(c, "SWAPDB 0 1");
	kr_int(c, N, "DBSIZE");             /* now db1 holds the 300 keys */
	kr_bulk(c, "7", "GET ks:7");
	kr_ok(c, "SELECT 0");
	kr_int(c, 1, "DBSIZE");
	kr_bulk(c, "x", "GET only1");
	kr_nil(c, "GET ks:7");
	kr_err(c, "ERR DB index is out of range", "SWAPDB 0 99");
	kr_err(c, "ERR invalid first DB index", "SWAPDB x 1");

	/* FLUSHDB empties one db on every shard. */
	kr_ok(c, "SELECT 1");
	kr_ok(c, "FLUSHDB");
	kr_int(c, 0, "DBSIZE");
	for (int i = 0; i < N; i += 37)
		kr_nil(c, "GET %s", keys[i]);
	r = kr_cmd(c, "KEYS *");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "KEYS * after FLUSHDB");
	freeReplyObject(r);
	kr_nil(c, "RANDOMKEY");
	kr_ok(c, "SELECT 0");
	kr_int(c, 1, "DBSIZE");
	kr_ok(c, "FLUSHALL");
	kr_int(c, 0, "DBSIZE");
	redisFree(c);
}

/* ---- disconnect with replies in flight ---- */

Test(crossshard, disconnect_with_replies_in_flight)
{
	struct xkeys x;
	pick_keys(&x, "df");
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "MSET %s 1 %s 2 %s 3", x.k[0], x.k[1], x.k[2]);

	/* Victims write thousands of cross-shard commands and vanish; the
	 * pipelined bystander must see exact, in-order replies meanwhile. */
	struct kr_sb burst = { 0 };
	for (int i = 0; i < 4000; i++) {
		const char *argv[5] = { "MGET", x.k[0], x.k[1], x.k[2], x.k0b };
		char *cmd = NULL;
		int len = redisFormatCommandArgv(&cmd, i % 3 ? 5 : 4, argv, NULL);
		kr_sb_add(&burst, cmd, (size_t)len);
		redisFreeCommand(cmd);
		if (i % 5 == 0) {
			const char *ex[4] = { "EXISTS", x.k[2], x.k[1], x.k[0] };
			len = redisFormatCommandArgv(&cmd, 4, ex, NULL);
			kr_sb_add(&burst, cmd, (size_t)len);
			redisFreeCommand(cmd);
		}
	}
	for (int round = 0; round < 8; round++) {
		struct pconn by;
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "by%d:", round);
		pc_open(&by, "bystander", prefix, 77u + (unsigned)round, 1500);
		int victims[3];
		for (int v = 0; v < 3; v++) {
			victims[v] = tcp_connect(srv.port);
			size_t part = v == 2 ? burst.len - 3 : burst.len; /* one ends mid-command */
			size_t off = 0;
			while (off < part) {
				ssize_t w = send(victims[v], burst.s + off, part - off, MSG_NOSIGNAL);
				cr_assert(w > 0, "victim write: %s", strerror(errno));
				off += (size_t)w;
			}
			if (v == 1) {
				/* This one reads a little first. */
				char tmp[100];
				cr_assert(recv(victims[v], tmp, sizeof(tmp), 0) > 0);
			}
		}
		for (int v = 0; v < 3; v++) {
			if (round % 2) {
				/* Abortive close: RST instead of FIN. */
				struct linger lg = { 1, 0 };
				setsockopt(victims[v], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			}
			close(victims[v]);
		}
		pc_run(&by, 1);
		pc_free(&by);
		cr_assert(kr_srv_alive(&srv), "server died in round %d", round);
	}
	free(burst.s);
	expect_render(c, "*3[$1,$2,$3]", "MGET %s %s %s", x.k[0], x.k[1], x.k[2]);

	/* All victims are eventually gone. */
	long long clients = -1;
	for (int i = 0; i < 500 && clients != 1; i++) {
		redisReply *r = kr_cmd(c, "INFO clients");
		const char *p = strstr(r->str, "connected_clients:");
		clients = p != NULL ? atoll(p + 18) : -1;
		freeReplyObject(r);
		if (clients != 1)
			kr_sleep_ms(20);
	}
	cr_assert_eq(clients, 1, "connected_clients: %lld after the victims left", clients);
	redisFree(c);
}

/* A client may write its whole pipeline before reading anything (hiredis's
 * synchronous pipelining does): the server must keep reading and buffer the
 * replies, as Redis does, never stop reading and deadlock with a client that
 * is blocked writing. 24,000 requests of ~4 KiB (ECHO of a 4 KiB payload,
 * and GET of 4 KiB values on every shard) are ~100 MB each way: far more
 * than the sockets' buffers hold. The socket has 10 s send/receive
 * timeouts, so a server that stops reading fails the test instead of
 * hanging it. */
Test(crossshard, write_everything_then_read)
{
	enum { VLEN = 4096, N = 24000 };
	redisContext *c = kr_connect(&srv);
	char *val = malloc(VLEN + 1);
	memset(val, 'v', VLEN);
	val[VLEN] = 0;
	const char *keys[] = { "k0", "k1", "k2", "k3", "k4", "k5" };
	for (int i = 0; i < 6; i++)
		kr_ok(c, "SET %s %s", keys[i], val);
	char *req = malloc((size_t)N * (VLEN + 64));
	size_t len = 0;
	for (int i = 0; i < N; i++) {
		if (i % 2) {
			len += (size_t)sprintf(req + len, "*2\r\n$3\r\nGET\r\n$2\r\n%s\r\n", keys[i % 6]);
		} else {
			len += (size_t)sprintf(req + len, "*2\r\n$4\r\nECHO\r\n$%d\r\n", VLEN);
			memcpy(req + len, val, VLEN);
			len += VLEN;
			memcpy(req + len, "\r\n", 2);
			len += 2;
		}
	}
	int fd = kr_raw_connect(&srv);
	kr_raw_send(fd, req, len);
	free(req);
	char hdr[16];
	const size_t hl = (size_t)sprintf(hdr, "$%d\r\n", VLEN);
	const size_t one = hl + VLEN + 2;
	const size_t total = (size_t)N * one;
	char *buf = malloc(one);
	size_t got = 0;
	while (got < total) {
		ssize_t r = read(fd, buf + got % one, one - got % one);
		cr_assert(r > 0, "read after %zu of %zu reply bytes: %s", got, total,
			  r < 0 ? strerror(errno) : "EOF");
		got += (size_t)r;
		if (got % one == 0)
			cr_assert(memcmp(buf, hdr, hl) == 0 && buf[hl] == 'v' && buf[one - 3] == 'v' &&
				  memcmp(buf + one - 2, "\r\n", 2) == 0, "reply %zu is not the value", got / one);
	}
	free(buf);
	free(val);
	kr_raw_expect(fd, "PING\r\n", 1, "+PONG\r\n");
	close(fd);
	redisFree(c);
}
