/* MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis 7 semantics: queued
 * replies, queue-time errors (EXECABORT), run-time errors that do not abort
 * the rest, WATCH failing on writes from other clients, from the client
 * itself and from expiry, and transactions whose keys span shards (keys are
 * picked for 3 shards, so with KR_SHARDS=3 they land on different ones).
 * Also passes against redis-server (KR_SERVER_KIND=redis). */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(multi, .init = start_default, .fini = stop_server, .timeout = 120);

Test(multi, queued_replies_in_order)
{
	redisContext *c = kr_connect(&srv);
	char a[32], b[32], d[32];
	kr_key_on_shard(a, sizeof a, "ma", 0, 0);
	kr_key_on_shard(b, sizeof b, "mb", 1, 0);
	kr_key_on_shard(d, sizeof d, "md", 2, 0);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET %s 1", a);
	kr_status(c, "QUEUED", "INCRBY %s 5", b);
	kr_status(c, "QUEUED", "MSET %s x %s y", d, a);
	kr_status(c, "QUEUED", "MGET %s %s %s", a, b, d);
	kr_status(c, "QUEUED", "PING");
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 5);
	cr_assert_str_eq(r->element[0]->str, "OK");
	cr_assert_eq(r->element[1]->integer, 5);
	cr_assert_str_eq(r->element[2]->str, "OK");
	redisReply *m = r->element[3];
	cr_assert_eq(m->elements, 3);
	cr_assert_str_eq(m->element[0]->str, "y");
	cr_assert_str_eq(m->element[1]->str, "5");
	cr_assert_str_eq(m->element[2]->str, "x");
	cr_assert_str_eq(r->element[4]->str, "PONG");
	freeReplyObject(r);
	/* The connection is usable afterwards, outside a transaction. */
	kr_bulk(c, "5", "GET %s", b);
	kr_err(c, "ERR EXEC without MULTI", "EXEC");
	redisFree(c);
}

Test(multi, errors_and_nesting)
{
	redisContext *c = kr_connect(&srv);
	kr_err(c, "ERR EXEC without MULTI", "EXEC");
	kr_err(c, "ERR DISCARD without MULTI", "DISCARD");
	kr_ok(c, "MULTI");
	kr_err(c, "ERR MULTI calls can not be nested", "MULTI");
	kr_err(c, "ERR WATCH inside MULTI is not allowed", "WATCH x");
	kr_status(c, "QUEUED", "SET e1 1");
	/* Neither error above aborted the transaction. */
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 1);
	freeReplyObject(r);

	/* Queue-time errors: EXECABORT and nothing runs. */
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET e2 1");
	kr_err(c, "ERR unknown command", "NOSUCHCMD a");
	kr_err(c, "EXECABORT Transaction discarded because of previous errors.", "EXEC");
	kr_nil(c, "GET e2");
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET e2 1");
	kr_err(c, "ERR wrong number of arguments for 'get' command", "GET");
	kr_err(c, "EXECABORT", "EXEC");
	kr_nil(c, "GET e2");

	/* Run-time errors do not abort the rest. */
	kr_ok(c, "SET s hello");
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "INCR s");
	kr_status(c, "QUEUED", "SET e3 ok");
	kr_status(c, "QUEUED", "LPUSH s x");
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->elements, 3);
	cr_assert_eq(r->element[0]->type, REDIS_REPLY_ERROR);
	cr_assert(strstr(r->element[0]->str, "not an integer"));
	cr_assert_str_eq(r->element[1]->str, "OK");
	cr_assert_eq(r->element[2]->type, REDIS_REPLY_ERROR);
	cr_assert(strncmp(r->element[2]->str, "WRONGTYPE", 9) == 0);
	freeReplyObject(r);
	kr_bulk(c, "ok", "GET e3");

	/* DISCARD drops the queue. */
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET e4 1");
	kr_ok(c, "DISCARD");
	kr_nil(c, "GET e4");
	/* An empty transaction. */
	kr_ok(c, "MULTI");
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 0);
	freeReplyObject(r);
	redisFree(c);
}

Test(multi, select_inside)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SELECT 3");
	kr_status(c, "QUEUED", "SET sel v3");
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);
	kr_bulk(c, "v3", "GET sel");   /* still db 3 */
	kr_ok(c, "SELECT 0");
	kr_nil(c, "GET sel");
	redisFree(c);
}

/* WATCH on keys of every shard; a write by another client to any of them
 * fails the EXEC (null array), and nothing queued runs. */
Test(multi, watch_other_client)
{
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	for (unsigned s = 0; s < 3; s++) {
		char w[3][32];
		for (unsigned k = 0; k < 3; k++)
			kr_key_on_shard(w[k], sizeof w[k], "w", k, (int)s);
		kr_ok(c, "WATCH %s %s %s", w[0], w[1], w[2]);
		kr_ok(o, "SET %s changed", w[s]);
		kr_ok(c, "MULTI");
		kr_status(c, "QUEUED", "SET %s mine", w[(s + 1) % 3]);
		redisReply *r = kr_cmd(c, "EXEC");
		cr_assert_eq(r->type, REDIS_REPLY_NIL, "EXEC ran although %s changed", w[s]);
		freeReplyObject(r);
		kr_nil(c, "GET %s", w[(s + 1) % 3]);
	}
	/* Without a change, EXEC runs; the WATCH is gone afterwards. */
	char a[32], b[32];
	kr_key_on_shard(a, sizeof a, "wn", 1, 0);
	kr_key_on_shard(b, sizeof b, "wn", 2, 0);
	kr_ok(c, "WATCH %s %s", a, b);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET %s 1", a);
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	kr_ok(o, "SET %s 2", b);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "GET %s", b);
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "a WATCH outlived its EXEC");
	cr_assert_str_eq(r->element[0]->str, "2");
	freeReplyObject(r);
	redisFree(c);
	redisFree(o);
}

Test(multi, watch_own_write_unwatch_discard)
{
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	char a[32];
	kr_key_on_shard(a, sizeof a, "wo", 2, 0);
	/* The client's own write counts too. */
	kr_ok(c, "WATCH %s", a);
	kr_ok(c, "SET %s 1", a);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "GET %s", a);
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	/* UNWATCH forgets. */
	kr_ok(c, "WATCH %s", a);
	kr_ok(c, "UNWATCH");
	kr_ok(o, "SET %s 2", a);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "GET %s", a);
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	/* DISCARD forgets too. */
	kr_ok(c, "WATCH %s", a);
	kr_ok(c, "MULTI");
	kr_ok(c, "DISCARD");
	kr_ok(o, "SET %s 3", a);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "GET %s", a);
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	/* A write that changes nothing (SET NX on an existing key) does
	 * not fail the WATCH. */
	kr_ok(c, "WATCH %s", a);
	kr_nil(o, "SET %s 4 NX", a);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "GET %s", a);
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "a no-op write failed the WATCH");
	freeReplyObject(r);
	/* Deleting, expiring and flushing are changes. */
	kr_ok(c, "WATCH %s", a);
	kr_int(o, 1, "DEL %s", a);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "PING");
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	kr_ok(o, "SET %s v", a);
	kr_ok(c, "WATCH %s", a);
	kr_ok(o, "FLUSHALL");
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "PING");
	r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_NIL, "FLUSHALL did not fail the WATCH");
	freeReplyObject(r);
	redisFree(c);
	redisFree(o);
}

Test(multi, watch_expired_key)
{
	redisContext *c = kr_connect(&srv);
	char a[32];
	kr_key_on_shard(a, sizeof a, "we", 1, 0);
	kr_ok(c, "SET %s v PX 50", a);
	kr_ok(c, "WATCH %s", a);
	kr_sleep_ms(120);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "PING");
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_NIL, "an expired watched key did not fail EXEC");
	freeReplyObject(r);
	redisFree(c);
}

Test(multi, blocking_inside_does_not_block)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "BLPOP nolist 0");
	kr_status(c, "QUEUED", "SET after 1");
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert_eq(r->elements, 2);
	cr_assert_eq(r->element[0]->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	redisFree(c);
}

/* A long pipeline of transactions, each spanning shards, answered in
 * order with the right values. */
Test(multi, pipelined_transactions)
{
	redisContext *c = kr_connect(&srv);
	char k[3][32];
	for (unsigned s = 0; s < 3; s++)
		kr_key_on_shard(k[s], sizeof k[s], "pt", s, 0);
	enum { N = 300 };
	for (int i = 0; i < N; i++) {
		redisAppendCommand(c, "MULTI");
		redisAppendCommand(c, "INCR %s", k[0]);
		redisAppendCommand(c, "INCR %s", k[1]);
		redisAppendCommand(c, "INCR %s", k[2]);
		redisAppendCommand(c, "EXEC");
		redisAppendCommand(c, "GET %s", k[i % 3]);
	}
	for (int i = 0; i < N; i++) {
		redisReply *r;
		for (int j = 0; j < 4; j++) {
			cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
			cr_assert_eq(r->type, REDIS_REPLY_STATUS);
			freeReplyObject(r);
		}
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		for (int j = 0; j < 3; j++)
			cr_assert_eq(r->element[j]->integer, i + 1);
		freeReplyObject(r);
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
		char want[16];
		snprintf(want, sizeof want, "%d", i + 1);
		cr_assert_str_eq(r->str, want);
		freeReplyObject(r);
	}
	redisFree(c);
}

/* A client that disconnects in the middle of MULTI or with a WATCH leaves
 * nothing behind: later transactions by others are unaffected. */
Test(multi, disconnect_cleans_up)
{
	for (int i = 0; i < 50; i++) {
		redisContext *c = kr_connect(&srv);
		kr_ok(c, "WATCH dc%d dd%d", i, i);
		kr_ok(c, "MULTI");
		kr_status(c, "QUEUED", "SET dc%d x", i);
		redisFree(c);
	}
	redisContext *o = kr_connect(&srv);
	for (int i = 0; i < 50; i++)
		kr_nil(o, "GET dc%d", i);
	kr_ok(o, "WATCH dc1");
	kr_ok(o, "MULTI");
	kr_status(o, "QUEUED", "SET dc1 y");
	redisReply *r = kr_cmd(o, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	redisFree(o);
}

/* A write fails the WATCH of the keys it changes only: the sources of a
 * SUNIONSTORE-like command, and the keys a script only reads, keep the
 * WATCH (Redis signals the keys a command modifies). With 3 shards the
 * keys are on different shards, so the gathered path is covered too. */
Test(multi, watch_survives_reads_by_writes)
{
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	char a[32], b[32], d[32];
	kr_key_on_shard(a, sizeof a, "wr", 0, 0);
	kr_key_on_shard(b, sizeof b, "wr", 1, 0);
	kr_key_on_shard(d, sizeof d, "wr", 2, 0);
	kr_int(c, 2, "SADD %s x y", a);
	kr_int(c, 1, "SADD %s z", b);
	struct {
		const char *fmt;
	} reads[] = {
		{ "SUNIONSTORE %3$s %1$s %2$s" },
		{ "SDIFFSTORE %3$s %1$s %2$s" },
		{ "ZUNIONSTORE %3$s 2 %1$s %2$s" },
		{ "SORT %1$s ALPHA STORE %3$s" },
		{ "COPY %1$s %3$s REPLACE" },
		{ "EVAL %4$s 3 %1$s %2$s %3$s" },
	};
	const char *script = "redis.call('sunionstore',KEYS[3],KEYS[1],KEYS[2])";
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		char line[256];
		snprintf(line, sizeof line, reads[i].fmt, a, b, d, script);
		kr_ok(c, "WATCH %s %s", a, b);
		redisReply *w = redisCommand(o, line);
		cr_assert(w && w->type != REDIS_REPLY_ERROR, "%s: %s", line, w ? w->str : "no reply");
		freeReplyObject(w);
		kr_ok(c, "MULTI");
		kr_status(c, "QUEUED", "SCARD %s", a);
		redisReply *r = kr_cmd(c, "EXEC");
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "EXEC failed after %s, which only read the watched keys", line);
		freeReplyObject(r);
		/* ...while the key it writes fails a WATCH on it. */
		kr_ok(c, "WATCH %s", d);
		w = redisCommand(o, line);
		freeReplyObject(w);
		kr_ok(c, "MULTI");
		kr_status(c, "QUEUED", "SCARD %s", a);
		r = kr_cmd(c, "EXEC");
		cr_assert_eq(r->type, REDIS_REPLY_NIL, "EXEC ran although %s wrote the watched %s", line, d);
		freeReplyObject(r);
	}
	redisFree(c);
	redisFree(o);
}

/* SAVE and SHUTDOWN are refused at queue time inside MULTI (Redis's
 * no-multi flag), which aborts the transaction. */
Test(multi, no_multi_commands_abort)
{
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "MULTI");
	kr_err(c, "ERR Command not allowed inside a transaction", "SAVE");
	kr_err(c, "ERR Command not allowed inside a transaction", "SHUTDOWN");
	kr_status(c, "QUEUED", "SET nm 1");
	kr_err(c, "EXECABORT Transaction discarded because of previous errors.", "EXEC");
	kr_nil(c, "GET nm");
	redisFree(c);
}
