/* Blocking commands: clients blocked on keys of every shard are woken by
 * pushes from other clients and by MULTI/EXEC, served oldest first, time
 * out with sub-second timeouts, are released by CLIENT UNBLOCK, and leave
 * nothing behind when they disconnect. Passes against redis-server too. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(blocking, .init = start_default, .fini = stop_server, .timeout = 120);

/* Number of clients blocked (CLIENT LIST cmd=b... is not portable across
 * versions: INFO clients' blocked_clients is). Waits until it reaches n. */
static void wait_blocked(redisContext *c, int n)
{
	for (int i = 0; i < 400; i++) {
		redisReply *r = kr_cmd(c, "INFO clients");
		const char *p = strstr(r->str, "blocked_clients:");
		int v = p ? atoi(p + 16) : -1;
		freeReplyObject(r);
		if (v == n)
			return;
		kr_sleep_ms(5);
	}
	cr_assert_fail("blocked_clients never reached %d", n);
}

static void expect_pair(redisContext *c, const char *key, const char *val)
{
	redisReply *r;
	cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "got type %d", r->type);
	cr_assert_eq(r->elements, 2);
	cr_assert_str_eq(r->element[0]->str, key);
	cr_assert_str_eq(r->element[1]->str, val);
	freeReplyObject(r);
}

Test(blocking, woken_by_push_on_every_shard)
{
	redisContext *o = kr_connect(&srv);
	for (unsigned s = 0; s < 3; s++) {
		char k[32];
		kr_key_on_shard(k, sizeof k, "bw", s, 0);
		redisContext *b = kr_connect(&srv);
		redisAppendCommand(b, "BLPOP %s 0", k);
		redisBufferWrite(b, &(int){0});
		wait_blocked(o, 1);
		kr_int(o, 2, "RPUSH %s v1 v2", k);
		expect_pair(b, k, "v1");
		kr_int(o, 1, "LLEN %s", k);
		/* The client is usable again. */
		kr_status(b, "PONG", "PING");
		redisFree(b);
	}
	redisFree(o);
}

/* Several clients blocked on one key are served in the order they
 * blocked, one element each. */
Test(blocking, fifo_order)
{
	redisContext *o = kr_connect(&srv);
	char k[32];
	kr_key_on_shard(k, sizeof k, "bf", 1, 0);
	redisContext *b[4];
	for (int i = 0; i < 4; i++) {
		b[i] = kr_connect(&srv);
		redisAppendCommand(b[i], "BRPOP %s 5", k);
		redisBufferWrite(b[i], &(int){0});
		wait_blocked(o, i + 1);
	}
	kr_int(o, 4, "LPUSH %s a b c d", k);   /* list: d c b a */
	const char *want[4] = { "a", "b", "c", "d" };
	for (int i = 0; i < 4; i++)
		expect_pair(b[i], k, want[i]);
	for (int i = 0; i < 4; i++)
		redisFree(b[i]);
	redisFree(o);
}

/* BLPOP over keys of different shards... each on its own shard here: one
 * key per shard, so it must work wherever the key lives. Several keys in
 * one call share a hash tag. */
Test(blocking, multi_key_first_ready)
{
	redisContext *o = kr_connect(&srv), *b = kr_connect(&srv);
	redisAppendCommand(b, "BLPOP {t}x {t}y {t}z 0");
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "RPUSH {t}y yy");
	expect_pair(b, "{t}y", "yy");
	/* Served at once when one is non-empty: the first in argument order. */
	kr_int(o, 1, "RPUSH {t}z zz");
	kr_int(o, 1, "RPUSH {t}x xx");
	redisReply *r = kr_cmd(b, "BLPOP {t}y {t}z {t}x 0");
	cr_assert_str_eq(r->element[0]->str, "{t}z");
	freeReplyObject(r);
	redisFree(b);
	redisFree(o);
}

Test(blocking, woken_by_multi_exec)
{
	redisContext *o = kr_connect(&srv), *b = kr_connect(&srv);
	char k[32], other[32];
	kr_key_on_shard(k, sizeof k, "bm", 2, 0);
	kr_key_on_shard(other, sizeof other, "bm", 0, 0);
	redisAppendCommand(b, "BLPOP %s 0", k);
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_ok(o, "MULTI");
	kr_status(o, "QUEUED", "RPUSH %s one", k);
	kr_status(o, "QUEUED", "SET %s x", other);
	kr_status(o, "QUEUED", "RPUSH %s two", k);
	redisReply *r = kr_cmd(o, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	/* Served after the whole transaction: it sees both pushes. */
	expect_pair(b, k, "one");
	kr_int(o, 1, "LLEN %s", k);
	redisFree(b);
	redisFree(o);
}

Test(blocking, subsecond_timeouts)
{
	redisContext *b = kr_connect(&srv);
	double t0 = kr_now_ms();
	redisReply *r = kr_cmd(b, "BLPOP bt_empty 0.15");
	double el = kr_now_ms() - t0;
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	cr_assert_geq(el, 140, "timed out after %.1f ms", el);
	t0 = kr_now_ms();
	r = kr_cmd(b, "BLMOVE {bt}empty {bt}dst LEFT RIGHT 0.05");
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	cr_assert_geq(kr_now_ms() - t0, 45);
	kr_err(b, "ERR timeout is negative", "BLPOP x -1");
	kr_err(b, "ERR timeout is not a float or out of range", "BLPOP x abc");
	redisFree(b);
}

Test(blocking, blmove_and_bzpop)
{
	redisContext *o = kr_connect(&srv), *b = kr_connect(&srv), *z = kr_connect(&srv);
	redisAppendCommand(b, "BLMOVE {m}src {m}dst RIGHT LEFT 0");
	redisBufferWrite(b, &(int){0});
	redisAppendCommand(z, "BZPOPMIN zq 0");
	redisBufferWrite(z, &(int){0});
	wait_blocked(o, 2);
	kr_int(o, 2, "RPUSH {m}src a b");
	redisReply *r;
	cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
	cr_assert_str_eq(r->str, "b");
	freeReplyObject(r);
	kr_bulk(o, "b", "LINDEX {m}dst 0");
	kr_int(o, 2, "ZADD zq 2 two 1 one");
	cr_assert_eq(redisGetReply(z, (void **)&r), REDIS_OK);
	cr_assert_eq(r->elements, 3);
	cr_assert_str_eq(r->element[1]->str, "one");
	freeReplyObject(r);
	redisFree(b);
	redisFree(z);
	redisFree(o);
}

Test(blocking, client_unblock)
{
	redisContext *o = kr_connect(&srv), *b = kr_connect(&srv);
	redisReply *r = kr_cmd(b, "CLIENT ID");
	long long id = r->integer;
	freeReplyObject(r);
	redisAppendCommand(b, "BLPOP bu 0");
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "CLIENT UNBLOCK %lld", id);
	cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	kr_int(o, 0, "CLIENT UNBLOCK %lld", id);
	redisAppendCommand(b, "BLPOP bu 0");
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "CLIENT UNBLOCK %lld ERROR", id);
	cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
	cr_assert_eq(r->type, REDIS_REPLY_ERROR);
	cr_assert(strncmp(r->str, "UNBLOCKED", 9) == 0);
	freeReplyObject(r);
	kr_err(o, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR", "CLIENT UNBLOCK %lld FOO", id);
	redisFree(b);
	redisFree(o);
}

/* A blocked client that disconnects is forgotten: a later push stays in
 * the list instead of going to the dead client. */
Test(blocking, disconnect_cleans_up)
{
	redisContext *o = kr_connect(&srv);
	for (unsigned s = 0; s < 3; s++) {
		char k[32];
		kr_key_on_shard(k, sizeof k, "bd", s, 0);
		redisContext *b = kr_connect(&srv);
		redisAppendCommand(b, "BLPOP %s 0", k);
		redisBufferWrite(b, &(int){0});
		wait_blocked(o, 1);
		redisFree(b);
		wait_blocked(o, 0);
		kr_int(o, 1, "RPUSH %s kept", k);
		kr_int(o, 1, "LLEN %s", k);
	}
	redisFree(o);
}

/* Keys on different shards in one blocking call: BLMOVE from a list on
 * one shard to a list on another, BLPOP over keys of all shards. */
Test(blocking, keys_on_several_shards)
{
	redisContext *o = kr_connect(&srv), *b = kr_connect(&srv);
	char k[3][32];
	for (unsigned s = 0; s < 3; s++)
		kr_key_on_shard(k[s], sizeof k[s], "bx", s, 0);
	redisAppendCommand(b, "BLMOVE %s %s LEFT RIGHT 0", k[0], k[1]);
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "RPUSH %s moved", k[0]);
	redisReply *r;
	cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
	cr_assert_str_eq(r->str, "moved");
	freeReplyObject(r);
	kr_bulk(o, "moved", "LINDEX %s 0", k[1]);
	kr_int(o, 0, "LLEN %s", k[0]);

	redisAppendCommand(b, "BLPOP %s %s %s 0", k[0], k[2], k[0]);
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "RPUSH %s late", k[2]);
	expect_pair(b, k[2], "late");

	/* Timeout, CLIENT UNBLOCK and disconnect work for them too. */
	double t0 = kr_now_ms();
	r = kr_cmd(b, "BLPOP %s %s 0.1", k[0], k[2]);
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	cr_assert_geq(kr_now_ms() - t0, 95);
	r = kr_cmd(b, "CLIENT ID");
	long long id = r->integer;
	freeReplyObject(r);
	redisAppendCommand(b, "BLMOVE %s %s LEFT RIGHT 0", k[2], k[0]);
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	kr_int(o, 1, "CLIENT UNBLOCK %lld", id);
	cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	redisAppendCommand(b, "BLMOVE %s %s LEFT RIGHT 0", k[2], k[0]);
	redisBufferWrite(b, &(int){0});
	wait_blocked(o, 1);
	redisFree(b);
	wait_blocked(o, 0);
	kr_int(o, 1, "RPUSH %s stays", k[2]);
	kr_int(o, 1, "LLEN %s", k[2]);
	kr_int(o, 0, "LLEN %s", k[0]);
	redisFree(o);
}
