/* Helpers shared by the replication integration tests: see repl_util.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/integration/repl_util.h"

/* How long ru_wait_synced lets WAIT block: long enough for an ack that is
 * on its way, short enough not to matter when the link is down (the poll
 * after it is what waits). */
#define RU_WAIT_CMD_MS 2000

/* ------------------------------------------------------------ INFO */

char *ru_info_field(redisContext *c, const char *section, const char *field)
{
	redisReply *r = kr_cmd(c, "INFO %s", section);
	cr_assert(r->type == REDIS_REPLY_STRING, "INFO %s: reply type %d", section, r->type);
	char *out = NULL;
	size_t fl = strlen(field);
	for (const char *p = r->str; p && *p;) {
		if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
			const char *v = p + fl + 1;
			out = strndup(v, strcspn(v, "\r\n"));
			break;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	freeReplyObject(r);
	return out;
}

long long ru_info_ll(redisContext *c, const char *section, const char *field)
{
	char *v = ru_info_field(c, section, field);
	cr_assert(v != NULL, "INFO %s has no %s", section, field);
	long long x = strtoll(v, NULL, 10);
	free(v);
	return x;
}

bool ru_info_is(redisContext *c, const char *section, const char *field, const char *want)
{
	char *v = ru_info_field(c, section, field);
	bool eq = v && strcmp(v, want) == 0;
	free(v);
	return eq;
}

/* ------------------------------------------------------------ digests */

void ru_digest(redisContext *c, char out[41])
{
	redisReply *r = kr_cmd(c, "DEBUG DIGEST");
	cr_assert(r->type == REDIS_REPLY_STATUS && r->len == 40, "DEBUG DIGEST: %s",
		  r->str ? r->str : "?");
	for (size_t i = 0; i < 40; i++)
		cr_assert(strchr("0123456789abcdef", r->str[i]) != NULL, "DEBUG DIGEST: not hex: %s",
			  r->str);
	memcpy(out, r->str, 41);
	freeReplyObject(r);
}

void ru_expect_same_data(redisContext *a, redisContext *b)
{
	char da[41], db[41];
	ru_digest(a, da);
	ru_digest(b, db);
	cr_assert_str_eq(db, da, "DEBUG DIGEST differs: replica %s, master %s", db, da);
	static const int dbs[] = { 0, 1, 2, 9 };
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		kr_ok(a, "SELECT %d", dbs[i]);
		kr_ok(b, "SELECT %d", dbs[i]);
		redisReply *x = kr_cmd(a, "DBSIZE"), *y = kr_cmd(b, "DBSIZE");
		cr_expect(x->type == REDIS_REPLY_INTEGER && y->type == REDIS_REPLY_INTEGER,
			  "db %d: DBSIZE reply types %d and %d", dbs[i], x->type, y->type);
		cr_expect_eq(y->integer, x->integer, "db %d: DBSIZE %lld on the replica, %lld on the master",
			     dbs[i], y->integer, x->integer);
		freeReplyObject(x);
		freeReplyObject(y);
	}
	kr_ok(a, "SELECT 0");
	kr_ok(b, "SELECT 0");
}

/* ------------------------------------------------------------ waiting */

static bool ru_role_is_master(redisContext *c)
{
	redisReply *r = kr_cmd(c, "ROLE");
	bool m = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
		 r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
	freeReplyObject(r);
	return m;
}

static void ru_print_info_replication(redisContext *c, const char *who)
{
	redisReply *r = redisCommand(c, "INFO replication");
	fprintf(stderr, "--- %s: INFO replication\n%s\n", who,
		r && r->type == REDIS_REPLY_STRING ? r->str : c->errstr);
	if (r)
		freeReplyObject(r);
}

void ru_wait_synced(redisContext *master, redisContext *replica, int timeout_ms)
{
	if (ru_role_is_master(master)) {
		redisReply *w = redisCommand(master, "WAIT 1 %d", RU_WAIT_CMD_MS);
		cr_assert(w != NULL, "WAIT: connection error: %s", master->errstr);
		freeReplyObject(w);
	}
	double deadline = kr_now_ms() + timeout_ms;
	for (;;) {
		long long mo = ru_info_ll(master, "replication", "master_repl_offset");
		bool up = ru_info_is(replica, "replication", "master_link_status", "up");
		long long ro = up ? ru_info_ll(replica, "replication", "slave_repl_offset") : -1;
		if (up && ro == mo && ru_info_ll(replica, "persistence", "loading") == 0)
			return;
		if (kr_now_ms() >= deadline) {
			ru_print_info_replication(master, "master");
			ru_print_info_replication(replica, "replica");
		}
		cr_assert(kr_now_ms() < deadline, "replica not in sync after %d ms: link %s, offset %lld, "
			  "master %lld", timeout_ms, up ? "up" : "down", ro, mo);
		kr_sleep_ms(20);
	}
}

/* ------------------------------------------------------------ populate */

long long ru_reply_ll(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL, "connection error: %s", c->errstr);
	cr_assert(r->type == REDIS_REPLY_INTEGER, "expected an integer, got type %d (%s)", r->type,
		  r->str ? r->str : "");
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

void ru_populate(redisContext *c)
{
	static char big[100001];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	kr_ok(c, "SET s:int 12345");
	kr_ok(c, "SET s:neg -987654321987");
	kr_ok(c, "SET s:emb hello");
	kr_ok(c, "SET s:raw %s", "0123456789012345678901234567890123456789012345678901234567890123456789");
	kr_ok(c, "SET s:big %s", big);
	kr_ok(c, "SET s:bin %b", "a\0b\r\nc\xff", (size_t)7);
	kr_ok(c, "SET s:float 3.14159");
	kr_ok(c, "SET s:empty %s", "");
	kr_int(c, 1, "PFADD hll a b c d e f");
	for (int i = 0; i < 5; i++) {
		ru_reply_ll(c, "RPUSH l:small e%d", i);
		ru_reply_ll(c, "HSET h:small f%d v%d", i, i);
		ru_reply_ll(c, "SADD set:int %d", i * 7);
		ru_reply_ll(c, "SADD set:str m%d", i);
		ru_reply_ll(c, "ZADD z:small %d.5 m%d", i, i);
	}
	ru_reply_ll(c, "ZADD z:small -0 neg0 inf pinf -inf ninf");
	for (int i = 0; i < 1000; i++)
		ru_reply_ll(c, "RPUSH l:big element-%d", i);
	for (int i = 0; i < 300; i++) {
		ru_reply_ll(c, "HSET h:big field%d value%d", i, i);
		ru_reply_ll(c, "ZADD z:big %d m%d", i * 3 - 200, i);
	}
	/* One value past hash-max-listpack-value (64) makes a small hash a
	 * table. */
	ru_reply_ll(c, "HSET h:longval f %s",
		    "a value longer than sixty-four bytes turns the hash into a table!!");
	for (int i = 0; i < 600; i++) {
		ru_reply_ll(c, "SADD set:big member-%d", i);
		ru_reply_ll(c, "SADD set:bigint %d", i * 1000);
	}
	for (int i = 0; i < 20; i++)
		kr_ok(c, "SET e:%d v%d EX %d", i, i, 3600 + i);
	kr_int(c, 1, "EXPIRE h:small 5000");
	kr_int(c, 1, "PEXPIREAT z:big 4102444800123");
	kr_ok(c, "DEBUG POPULATE 20000 pop 10");
	kr_ok(c, "SELECT 1");
	kr_ok(c, "SET one:s 1");
	ru_reply_ll(c, "LPUSH one:l a b c");
	ru_reply_ll(c, "SADD one:set x y");
	kr_ok(c, "SET one:e v PX 7200000");
	kr_ok(c, "SELECT 9");
	ru_reply_ll(c, "HSET nine:h a 1 b 2");
	ru_reply_ll(c, "ZADD nine:z 1 a 2 b");
	kr_ok(c, "SELECT 0");
}

/* ------------------------------------------------------------ workload */

/* One connection of the workload: commands go out one at a time (batch
 * <= 1) or are appended and their replies read batch at a time. */
struct ru_conn {
	redisContext *c;
	int pending;
	int batch;
};

struct ru_gen {
	uint64_t rng;
};

static unsigned ru_rnd(struct ru_gen *g, unsigned n)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return (unsigned)(g->rng % n);
}

static void ru_drain(struct ru_conn *k)
{
	for (; k->pending > 0; k->pending--) {
		redisReply *r = NULL;
		cr_assert(redisGetReply(k->c, (void **)&r) == REDIS_OK && r != NULL,
			  "connection error: %s", k->c->errstr);
		freeReplyObject(r);
	}
}

static void ru_run(struct ru_conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ru_run(struct ru_conn *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (k->batch <= 1) {
		redisReply *r = redisvCommand(k->c, fmt, ap);
		cr_assert(r != NULL, "connection error: %s", k->c->errstr);
		freeReplyObject(r);
	} else {
		cr_assert(redisvAppendCommand(k->c, fmt, ap) == REDIS_OK, "append: %s", k->c->errstr);
		k->pending++;
	}
	va_end(ap);
}

/* One random write (or a short group) on k; keys collide on purpose. */
static void ru_random_write(struct ru_gen *g, struct ru_conn *k)
{
	unsigned a = ru_rnd(g, 40), b = ru_rnd(g, 40), v = ru_rnd(g, 1000);
	switch (ru_rnd(g, 30)) {
	case 0: ru_run(k, "SET str:%u v%u", a, v); break;
	case 1: ru_run(k, "SET str:%u v%u EX %u", a, v, 4000 + v); break;
	case 2: ru_run(k, "INCR cnt:%u", a); break;
	case 3: ru_run(k, "INCRBYFLOAT flt:%u 1.25", a); break;
	case 4: ru_run(k, "APPEND str:%u x%u", a, v); break;
	case 5: ru_run(k, "DEL str:%u list:%u", a, b); break;
	case 6: ru_run(k, "EXPIRE cnt:%u %u", a, 5000 + v); break;
	case 7: ru_run(k, "PERSIST str:%u", a); break;
	case 8: ru_run(k, "LPUSH list:%u a%u b%u", a, v, v); break;
	case 9: ru_run(k, "RPOP list:%u", a); break;
	case 10: ru_run(k, "HSET hash:%u f%u v%u g x", a, v % 20, v); break;
	case 11: ru_run(k, "HINCRBYFLOAT hash:%u fl 0.25", a); break;
	case 12: ru_run(k, "SADD set:%u m%u m%u", a, v % 30, v % 7); break;
	case 13: ru_run(k, "SPOP set:%u 2", a); break;
	case 14: ru_run(k, "SPOP set:%u", a); break;
	case 15: ru_run(k, "SREM set:%u m%u", a, v % 30); break;
	case 16: ru_run(k, "ZADD zset:%u %u.5 m%u", a, v, v % 25); break;
	case 17: ru_run(k, "ZINCRBY zset:%u 1.5 m%u", a, v % 25); break;
	case 18: ru_run(k, "ZPOPMIN zset:%u", a); break;
	case 19: ru_run(k, "MSET str:%u a%u str:%u b%u cnt:%u 7", a, v, b, v, (a + 7) % 40); break;
	case 20:
		ru_run(k, "MULTI");
		ru_run(k, "INCR cnt:%u", a);
		ru_run(k, "LPUSH list:%u m%u", b, v);
		ru_run(k, "SADD set:%u t%u", a, v % 9);
		ru_run(k, "HINCRBYFLOAT hash:%u fl 0.5", b);
		ru_run(k, "EXEC");
		break;
	case 21:
		ru_run(k, "EVAL %s 3 cnt:%u set:%u str:%u %u",
		       "redis.call('incr', KEYS[1]); redis.call('sadd', KEYS[2], ARGV[1]); "
		       "redis.call('set', KEYS[3], ARGV[1], 'EX', 6000); return 1", a, b, a, v);
		break;
	case 22: ru_run(k, "SETRANGE str:%u 3 zz%u", a, v); break;
	case 23: ru_run(k, "SMOVE set:%u set:%u m%u", a, b, v % 30); break;
	case 24: ru_run(k, "SUNIONSTORE set:%u set:%u set:%u", a, b, (a + 1) % 40); break;
	case 25: ru_run(k, "SETEX str:%u %u x%u", a, 3000 + v, v); break;
	case 26: ru_run(k, "PFADD hll:%u e%u e%u", a % 5, v, v / 2); break;
	case 27: ru_run(k, "SETBIT bits:%u %u 1", a % 5, v); break;
	case 28: ru_run(k, "LTRIM list:%u 0 5", a); break;
	case 29: ru_run(k, "EXPIRE set:%u %u", a, 9000 + v); break;
	}
	if (k->batch > 1 && k->pending >= k->batch)
		ru_drain(k);
}

void ru_workload_pipelined(const struct kr_srv *srv, redisContext *c, int n, uint64_t seed,
			   int batch)
{
	struct ru_conn db[3] = {
		{ c, 0, batch }, { kr_connect(srv), 0, batch }, { kr_connect(srv), 0, batch },
	};
	kr_ok(db[1].c, "SELECT 1");
	kr_ok(db[2].c, "SELECT 2");
	struct ru_gen g = { seed };
	for (int i = 0; i < n; i++)
		ru_random_write(&g, &db[ru_rnd(&g, 3)]);
	for (int i = 0; i < 3; i++)
		ru_drain(&db[i]);
	redisFree(db[1].c);
	redisFree(db[2].c);
}

void ru_workload(const struct kr_srv *srv, redisContext *c, int n, uint64_t seed)
{
	ru_workload_pipelined(srv, c, n, seed, 1);
}
