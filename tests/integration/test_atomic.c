/* Atomicity across shards: movers transfer value between keys on different
 * shards (MULTI/EXEC, WATCH-based read-modify-write, SMOVE, LMOVE, MSET,
 * RENAME) while readers check, thousands of times, that the total never
 * changes as seen by one atomic read (MGET, MULTI/EXEC, SUNION/SINTERCARD
 * style multi-key reads). With KR_SHARDS=3 every transfer crosses shards.
 * Failures are counted in the threads and asserted in the test's thread. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(atomic, .init = start_default, .fini = stop_server, .timeout = 300);

enum { NACC = 6, TOTAL = NACC * 1000, MOVES = 1500 };
static char acc[NACC][32];
static atomic_int movers_left;
static atomic_long bad_reads, good_reads, errors;
static char bad_example[256];

static redisContext *tconnect(void)
{
	redisContext *c = redisConnect(kr_srv_host(&srv), srv.port);
	if (!c || c->err)
		abort();
	return c;
}

static void note_bad(const char *what, long long got)
{
	if (atomic_fetch_add(&bad_reads, 1) == 0)
		snprintf(bad_example, sizeof bad_example, "%s saw total %lld, want %d", what, got, TOTAL);
}

/* Moves by MULTI { DECRBY a n; INCRBY b n } EXEC. */
static void *mover_multi(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	redisContext *c = tconnect();
	for (int i = 0; i < MOVES; i++) {
		int a = rand_r(&seed) % NACC, b = (a + 1 + rand_r(&seed) % (NACC - 1)) % NACC;
		int n = rand_r(&seed) % 50;
		redisAppendCommand(c, "MULTI");
		redisAppendCommand(c, "DECRBY %s %d", acc[a], n);
		redisAppendCommand(c, "INCRBY %s %d", acc[b], n);
		redisAppendCommand(c, "EXEC");
		for (int j = 0; j < 4; j++) {
			redisReply *r;
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				abort();
			if (j == 3 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2))
				atomic_fetch_add(&errors, 1);
			freeReplyObject(r);
		}
	}
	redisFree(c);
	atomic_fetch_sub(&movers_left, 1);
	return NULL;
}

/* Moves by WATCH a b; MGET; MULTI { MSET a x b y } EXEC, retried when the
 * WATCH fails: a read-modify-write across shards. */
static void *mover_watch(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	redisContext *c = tconnect();
	for (int i = 0; i < MOVES / 2; i++) {
		int a = rand_r(&seed) % NACC, b = (a + 1 + rand_r(&seed) % (NACC - 1)) % NACC;
		int n = rand_r(&seed) % 50;
		for (int tries = 0; tries < 1000; tries++) {
			redisReply *r = redisCommand(c, "WATCH %s %s", acc[a], acc[b]);
			freeReplyObject(r);
			r = redisCommand(c, "MGET %s %s", acc[a], acc[b]);
			long long va = atoll(r->element[0]->str), vb = atoll(r->element[1]->str);
			freeReplyObject(r);
			redisAppendCommand(c, "MULTI");
			redisAppendCommand(c, "MSET %s %lld %s %lld", acc[a], va - n, acc[b], vb + n);
			redisAppendCommand(c, "EXEC");
			bool done = false;
			for (int j = 0; j < 3; j++) {
				if (redisGetReply(c, (void **)&r) != REDIS_OK)
					abort();
				if (j == 2)
					done = r->type == REDIS_REPLY_ARRAY;
				freeReplyObject(r);
			}
			if (done)
				break;
		}
	}
	redisFree(c);
	atomic_fetch_sub(&movers_left, 1);
	return NULL;
}

static long long sum_array(const redisReply *r)
{
	long long s = 0;
	for (size_t i = 0; i < r->elements; i++)
		s += r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer
								 : atoll(r->element[i]->str);
	return s;
}

static void *reader(void *arg)
{
	(void)arg;
	redisContext *c = tconnect();
	char cmd[512];
	int n = snprintf(cmd, sizeof cmd, "MGET");
	for (int i = 0; i < NACC; i++)
		n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", acc[i]);
	while (atomic_load(&movers_left) > 0) {
		redisReply *r = redisCommand(c, cmd);
		long long s = sum_array(r);
		freeReplyObject(r);
		if (s != TOTAL)
			note_bad("MGET", s);
		/* The same through a transaction of single-key GETs. */
		redisAppendCommand(c, "MULTI");
		for (int i = 0; i < NACC; i++)
			redisAppendCommand(c, "GET %s", acc[i]);
		redisAppendCommand(c, "EXEC");
		for (int i = 0; i < NACC + 2; i++) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				abort();
			if (i == NACC + 1) {
				s = sum_array(r);
				if (s != TOTAL)
					note_bad("MULTI GET", s);
			}
			freeReplyObject(r);
		}
		atomic_fetch_add(&good_reads, 2);
	}
	redisFree(c);
	return NULL;
}

Test(atomic, transfers_keep_the_sum)
{
	redisContext *c = kr_connect(&srv);
	for (int i = 0; i < NACC; i++) {
		kr_key_on_shard(acc[i], sizeof acc[i], "acct", (unsigned)i % 3, i / 3);
		kr_ok(c, "SET %s 1000", acc[i]);
	}
	atomic_store(&movers_left, 3);
	pthread_t t[5];
	pthread_create(&t[0], NULL, mover_multi, (void *)1);
	pthread_create(&t[1], NULL, mover_multi, (void *)2);
	pthread_create(&t[2], NULL, mover_watch, (void *)3);
	pthread_create(&t[3], NULL, reader, NULL);
	pthread_create(&t[4], NULL, reader, NULL);
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&errors), 0, "a transfer transaction failed");
	cr_assert_eq(atomic_load(&bad_reads), 0, "%ld torn reads, e.g. %s",
		     atomic_load(&bad_reads), bad_example);
	cr_assert_gt(atomic_load(&good_reads), 100, "readers barely ran");
	/* Final state: the sum is intact. */
	char cmd[512];
	int n = snprintf(cmd, sizeof cmd, "MGET");
	for (int i = 0; i < NACC; i++)
		n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", acc[i]);
	redisReply *r = redisCommand(c, cmd);
	cr_assert_eq(sum_array(r), TOTAL, "final total %lld (reads %ld)", sum_array(r), atomic_load(&good_reads));
	freeReplyObject(r);
	redisFree(c);
}

/* Multi-key commands: SMOVE between sets and LMOVE between lists on
 * different shards, with readers counting all members atomically. */
enum { NSET = 3, MEMBERS = 60 };
static char sets[NSET][32], lists[NSET][32];

static void *mover_smove(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	redisContext *c = tconnect();
	for (int i = 0; i < MOVES; i++) {
		int a = rand_r(&seed) % NSET, b = (a + 1 + rand_r(&seed) % (NSET - 1)) % NSET;
		redisReply *r = redisCommand(c, "SRANDMEMBER %s", sets[a]);
		if (r->type == REDIS_REPLY_STRING) {
			redisReply *m = redisCommand(c, "SMOVE %s %s %s", sets[a], sets[b], r->str);
			if (m->type != REDIS_REPLY_INTEGER)
				atomic_fetch_add(&errors, 1);
			freeReplyObject(m);
		}
		freeReplyObject(r);
		r = redisCommand(c, "LMOVE %s %s LEFT RIGHT", lists[a], lists[b]);
		if (r->type == REDIS_REPLY_ERROR)
			atomic_fetch_add(&errors, 1);
		freeReplyObject(r);
	}
	redisFree(c);
	atomic_fetch_sub(&movers_left, 1);
	return NULL;
}

static void *reader_collections(void *arg)
{
	(void)arg;
	redisContext *c = tconnect();
	while (atomic_load(&movers_left) > 0) {
		redisReply *r = redisCommand(c, "SUNION %s %s %s", sets[0], sets[1], sets[2]);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != MEMBERS)
			note_bad("SUNION", r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1);
		freeReplyObject(r);
		redisAppendCommand(c, "MULTI");
		for (int i = 0; i < NSET; i++) {
			redisAppendCommand(c, "SCARD %s", sets[i]);
			redisAppendCommand(c, "LLEN %s", lists[i]);
		}
		redisAppendCommand(c, "EXEC");
		for (int i = 0; i < 2 * NSET + 2; i++) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				abort();
			if (i == 2 * NSET + 1) {
				long long s = 0, l = 0;
				for (size_t j = 0; j < r->elements; j++) {
					if (j % 2)
						l += r->element[j]->integer;
					else
						s += r->element[j]->integer;
				}
				if (s != MEMBERS || l != MEMBERS)
					note_bad("MULTI SCARD/LLEN", s * 1000 + l);
			}
			freeReplyObject(r);
		}
		atomic_fetch_add(&good_reads, 2);
	}
	redisFree(c);
	return NULL;
}

Test(atomic, smove_lmove_keep_the_count)
{
	redisContext *c = kr_connect(&srv);
	atomic_store(&bad_reads, 0);
	atomic_store(&errors, 0);
	atomic_store(&good_reads, 0);
	for (int i = 0; i < NSET; i++) {
		kr_key_on_shard(sets[i], sizeof sets[i], "set", (unsigned)i, 0);
		kr_key_on_shard(lists[i], sizeof lists[i], "list", (unsigned)i, 0);
	}
	for (int m = 0; m < MEMBERS; m++) {
		kr_int(c, 1, "SADD %s m%d", sets[m % NSET], m);
		kr_int(c, m / NSET + 1, "RPUSH %s e%d", lists[m % NSET], m);
	}
	atomic_store(&movers_left, 2);
	pthread_t t[4];
	pthread_create(&t[0], NULL, mover_smove, (void *)11);
	pthread_create(&t[1], NULL, mover_smove, (void *)12);
	pthread_create(&t[2], NULL, reader_collections, NULL);
	pthread_create(&t[3], NULL, reader_collections, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&errors), 0, "SMOVE/LMOVE replied an error");
	cr_assert_eq(atomic_load(&bad_reads), 0, "%ld torn reads, e.g. %s",
		     atomic_load(&bad_reads), bad_example);
	redisFree(c);
}

/* A client inside a long MULTI (and holding WATCHes) does not hold up other
 * clients' traffic, on its shard or any other, until its EXEC. */
Test(atomic, open_multi_does_not_stall_others)
{
	redisContext *a = kr_connect(&srv), *b = kr_connect(&srv);
	char k0[32], k1[32];
	kr_key_on_shard(k0, sizeof k0, "om", 0, 0);
	kr_key_on_shard(k1, sizeof k1, "om", 1, 0);
	kr_ok(a, "WATCH %s", k1);
	kr_ok(a, "MULTI");
	for (int i = 0; i < 2000; i++)
		kr_status(a, "QUEUED", "INCR %s", k0);
	for (int i = 0; i < 2000; i++) {
		redisAppendCommand(b, "INCR %s", k0);
		redisAppendCommand(b, "INCR %s", k1);
	}
	for (int i = 0; i < 4000; i++) {
		redisReply *r;
		cr_assert_eq(redisGetReply(b, (void **)&r), REDIS_OK);
		cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
		freeReplyObject(r);
	}
	kr_bulk(b, "2000", "GET %s", k0);
	/* b wrote k1: a's transaction must fail, and run nothing. */
	redisReply *r = kr_cmd(a, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	kr_bulk(b, "2000", "GET %s", k0);
	/* Unwatched, the same long transaction runs all at once. */
	kr_ok(a, "MULTI");
	for (int i = 0; i < 2000; i++)
		kr_status(a, "QUEUED", "INCR %s", k0);
	r = kr_cmd(a, "EXEC");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2000);
	cr_assert_eq(r->element[1999]->integer, 4000);
	freeReplyObject(r);
	redisFree(a);
	redisFree(b);
}

/* FLUSHDB is one step to every observer: with writers setting keys on
 * every shard in one MSET and readers reading them in one MGET, a reader
 * sees all of them set (to the same round) or none, never a flush that
 * has reached some shards only. */
static atomic_int flush_writers_left;
static char fk[3][32];

static void *flush_writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	redisContext *c = tconnect();
	for (int i = 0; i < 1500; i++) {
		redisReply *r;
		if (rand_r(&seed) % 4 == 0)
			r = redisCommand(c, "FLUSHDB");
		else
			r = redisCommand(c, "MSET %s %d %s %d %s %d", fk[0], i, fk[1], i, fk[2], i);
		if (!r || r->type == REDIS_REPLY_ERROR)
			atomic_fetch_add(&errors, 1);
		freeReplyObject(r);
	}
	redisFree(c);
	atomic_fetch_sub(&flush_writers_left, 1);
	return NULL;
}

static void *flush_reader(void *arg)
{
	(void)arg;
	redisContext *c = tconnect();
	while (atomic_load(&flush_writers_left) > 0) {
		redisReply *r = redisCommand(c, "MGET %s %s %s", fk[0], fk[1], fk[2]);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
			atomic_fetch_add(&errors, 1);
		} else {
			int nil = 0;
			for (int k = 0; k < 3; k++)
				nil += r->element[k]->type == REDIS_REPLY_NIL;
			if (nil != 0 && nil != 3) {
				if (atomic_fetch_add(&bad_reads, 1) == 0)
					snprintf(bad_example, sizeof bad_example, "MGET saw %d of 3 keys flushed", nil);
			} else {
				atomic_fetch_add(&good_reads, 1);
			}
		}
		freeReplyObject(r);
	}
	redisFree(c);
	return NULL;
}

Test(atomic, flushdb_is_all_or_nothing)
{
	for (unsigned s = 0; s < 3; s++)
		kr_key_on_shard(fk[s], sizeof fk[s], "fl", s, 0);
	atomic_store(&flush_writers_left, 2);
	atomic_store(&bad_reads, 0);
	atomic_store(&good_reads, 0);
	atomic_store(&errors, 0);
	pthread_t t[4];
	pthread_create(&t[0], NULL, flush_writer, (void *)21);
	pthread_create(&t[1], NULL, flush_writer, (void *)22);
	pthread_create(&t[2], NULL, flush_reader, NULL);
	pthread_create(&t[3], NULL, flush_reader, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&errors), 0, "errors: %ld", (long)atomic_load(&errors));
	cr_assert_eq(atomic_load(&bad_reads), 0, "%ld torn reads, e.g. %s", (long)atomic_load(&bad_reads),
		     bad_example);
	cr_assert_gt(atomic_load(&good_reads), 100);
}
