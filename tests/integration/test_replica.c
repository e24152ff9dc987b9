/* Integration tests of the replica side of replication (shards/replclient.c).
 *
 * Every test starts a real redis-server 7.0.15 as the master (kr_srv_start_
 * redis: $KR_REDIS_SERVER or Debian's) and the server under test as its
 * replica, and talks to both with hiredis:
 *  - full sync, disk-based ($<len>) and diskless ($EOF:<mark>), of every
 *    type and encoding in several dbs with expiries, compared with DEBUG
 *    DIGEST (Redis 7.0's algorithm on both sides) plus EXPIRETIME and
 *    DBSIZE per db;
 *  - the command stream: thousands of mixed writes on three connections
 *    (so the stream switches dbs), MULTI/EXEC, EVAL (effects wrapped in
 *    MULTI/EXEC by the master), expiries, SPOP, INCRBYFLOAT, cross-shard
 *    MSET/LMOVE/SMOVE/COPY, blocking pops served on the master, FLUSHDB and
 *    SWAPDB; then the replica's offset must equal the master's exactly
 *    (it counts applied bytes) and the digests must match;
 *  - WAIT on the master (REPLCONF GETACK in the stream, ACK back); the
 *    master's PINGs counted in the offset;
 *  - writes arriving while the master saves/sends and the replica loads
 *    (disk-based: stream bytes right behind the payload; diskless: the
 *    stream starts on the first ACK); clients of the replica during a big
 *    full sync get old data, nothing or -LOADING, never anything else;
 *  - the link killed on the master (CLIENT KILL TYPE replica) and on the
 *    replica (CLIENT KILL ID of the master client): partial resync
 *    (+CONTINUE, the master's sync_partial_ok goes up, sync_full does not);
 *    also at scale, 100,000 pipelined mixed writes with the link dropped
 *    halfway; CLIENT KILL TYPE master is a known bug (skipped test);
 *  - the master restarted on the same port with a new replid: full resync;
 *  - keys expiring on the master: the replica keeps them (no active expiry
 *    of its own) until the master's DEL arrives;
 *  - REPLICAOF NO ONE keeps the data, shifts the replication ids and
 *    accepts writes; REPLICAOF errors and "+OK Already connected ...";
 *  - READONLY for writes, scripts (legacy and shebang) and MULTI;
 *    replica-read-only no; MASTERDOWN with replica-serve-stale-data no;
 *  - masterauth (right, wrong then fixed by CONFIG SET) and masteruser
 *    with an ACL user on the master;
 *  - INFO replication fields and ROLE, link up and link down; CLIENT
 *    LIST flag M;
 *  - replicaof / masterauth / repl-timeout from a configuration file.
 *
 * The file runs against Redis itself as the replica too (KR_SERVER_KIND=
 * redis): every expectation here is Redis 7.0's behaviour. Waiting for a
 * state uses deadlines (a test fails if it never comes); nothing asserts
 * on how long anything took. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"
#include "tests/integration/repl_util.h"

#define WAIT_MS 30000

static struct kr_srv master, replica;
static redisContext *mc, *rc;
static char mport[16];

static void teardown(void)
{
	if (rc)
		redisFree(rc);
	if (mc)
		redisFree(mc);
	rc = mc = NULL;
	if (replica.pid) {
		cr_expect(kr_srv_alive(&replica), "the replica died (log: %s)", replica.logpath);
		/* A clean exit: sanitizer builds report leaks and errors at exit
		 * through the status. */
		int st = kr_srv_stop(&replica);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the replica exited with status 0x%x", st);
	}
	if (master.pid)
		kr_srv_stop(&master);
	memset(&replica, 0, sizeof(replica));
	memset(&master, 0, sizeof(master));
}

TestSuite(replica, .fini = teardown, .timeout = 240);

/* ------------------------------------------------------------ helpers */

/* The master: Redis with a diskless or disk-based full sync and no delay
 * before it starts; no PINGs in the stream unless extra asks (offsets
 * read one after the other must not move under a test). extra: more
 * words (NULL-terminated, later ones win), or NULL. */
static void start_master(bool diskless, const char *const *extra)
{
	const char *args[32] = { "--repl-diskless-sync", diskless ? "yes" : "no",
				 "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "3600" };
	int n = 6;
	while (extra && *extra && n < 31)
		args[n++] = *extra++;
	args[n] = NULL;
	kr_srv_start_redis(&master, args);
	mc = kr_connect(&master);
	snprintf(mport, sizeof(mport), "%d", master.port);
}

/* The server under test as a replica of the master (--replicaof), with
 * extra words. */
static void start_replica(const char *const *extra)
{
	const char *args[32] = { "--replicaof", "127.0.0.1", mport };
	int n = 3;
	while (extra && *extra && n < 31)
		args[n++] = *extra++;
	args[n] = NULL;
	kr_srv_start(&replica, args);
	rc = kr_connect(&replica);
}

static void expect_info(redisContext *c, const char *field, const char *want)
{
	char *v = ru_info_field(c, "replication", field);
	cr_expect(v && strcmp(v, want) == 0, "INFO replication %s: got %s, want %s", field,
		  v ? v : "(absent)", want);
	free(v);
}

/* ------------------------------------------------------------ full sync */

static void full_sync(bool diskless)
{
	start_master(diskless, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	ru_expect_same_data(mc, rc);
	/* Expiry times are carried exactly (absolute milliseconds). */
	static const char *const keys[] = { "e:0", "e:19", "h:small", "z:big" };
	for (size_t i = 0; i < 4; i++) {
		long long a = ru_reply_ll(mc, "PEXPIRETIME %s", keys[i]);
		long long b = ru_reply_ll(rc, "PEXPIRETIME %s", keys[i]);
		cr_expect_eq(b, a, "PEXPIRETIME %s: %lld on the replica, %lld on the master", keys[i], b, a);
		cr_expect(a > 0, "PEXPIRETIME %s: %lld", keys[i], a);
	}
	kr_ok(mc, "SELECT 1");
	kr_ok(rc, "SELECT 1");
	long long a = ru_reply_ll(mc, "PEXPIRETIME one:e"), b = ru_reply_ll(rc, "PEXPIRETIME one:e");
	cr_expect(a > 0 && b == a, "db 1: PEXPIRETIME %lld on the replica, %lld on the master", b, a);
	kr_ok(mc, "SELECT 0");
	kr_ok(rc, "SELECT 0");
	kr_bulk(rc, "hello", "GET s:emb");
	redisReply *r = kr_cmd(rc, "GET s:bin");
	cr_expect(r->type == REDIS_REPLY_STRING && r->len == 7 && memcmp(r->str, "a\0b\r\nc\xff", 7) == 0,
		  "binary string");
	freeReplyObject(r);
	kr_int(rc, 1000, "LLEN l:big");
	kr_int(rc, 600, "SCARD set:bigint");
	/* One full sync, no partial one. */
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_partial_ok"), 0);
}

Test(replica, full_sync_disk_based)
{
	full_sync(false);
}

Test(replica, full_sync_diskless)
{
	full_sync(true);
}

/* ------------------------------------------------------- the stream */

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static void run(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL, "connection error: %s", c->errstr);
	freeReplyObject(r);
}

/* One random write (or a short group of them) on c. Keys come from small
 * pools per type so they collide; TTLs are long (the master must not
 * expire them while the test compares). */
static void random_write(redisContext *c)
{
	unsigned k = rnd(40), k2 = rnd(40), v = rnd(1000);
	switch (rnd(36)) {
	case 0: run(c, "SET str:%u v%u", k, v); break;
	case 1: run(c, "SET str:%u v%u EX %u", k, v, 4000 + v); break;
	case 2: run(c, "INCR cnt:%u", k); break;
	case 3: run(c, "INCRBYFLOAT flt:%u 1.25", k); break;
	case 4: run(c, "APPEND str:%u x%u", k, v); break;
	case 5: run(c, "DEL str:%u list:%u", k, k2); break;
	case 6: run(c, "EXPIRE cnt:%u %u", k, 5000 + v); break;
	case 7: run(c, "PERSIST str:%u", k); break;
	case 8: run(c, "LPUSH list:%u a%u b%u", k, v, v); break;
	case 9: run(c, "RPOP list:%u", k); break;
	case 10: run(c, "LMOVE list:%u list:%u LEFT RIGHT", k, k2); break;
	case 11: run(c, "HSET hash:%u f%u v%u g x", k, v % 20, v); break;
	case 12: run(c, "HINCRBY hash:%u n 3", k); break;
	case 13: run(c, "HDEL hash:%u f%u", k, v % 20); break;
	case 14: run(c, "SADD set:%u m%u m%u", k, v % 30, v % 7); break;
	case 15: run(c, "SPOP set:%u 2", k); break;
	case 16: run(c, "SPOP set:%u", k); break;
	case 17: run(c, "SREM set:%u m%u", k, v % 30); break;
	case 18: run(c, "ZADD zset:%u %u.5 m%u", k, v, v % 25); break;
	case 19: run(c, "ZINCRBY zset:%u 1.5 m%u", k, v % 25); break;
	case 20: run(c, "ZPOPMIN zset:%u", k); break;
	case 21: run(c, "MSET str:%u a%u str:%u b%u cnt:%u 7", k, v, k2, v, (k + 7) % 40); break;
	case 22:
		run(c, "MULTI");
		run(c, "INCR cnt:%u", k);
		run(c, "LPUSH list:%u m%u", k2, v);
		run(c, "SADD set:%u t%u", k, v % 9);
		run(c, "HINCRBYFLOAT hash:%u fl 0.5", k2);
		run(c, "EXEC");
		break;
	case 23:
		run(c, "EVAL %s 3 cnt:%u set:%u str:%u %u",
		    "redis.call('incr', KEYS[1]); redis.call('sadd', KEYS[2], ARGV[1]); "
		    "redis.call('set', KEYS[3], ARGV[1], 'EX', 6000); return 1", k, k2, k, v);
		break;
	case 24: run(c, "SETRANGE str:%u 3 zz%u", k, v); break;
	case 25: run(c, "GETEX str:%u EX %u", k, 7000 + v); break;
	case 26: run(c, "SMOVE set:%u set:%u m%u", k, k2, v % 30); break;
	case 27: run(c, "HINCRBYFLOAT hash:%u fl 0.25", k); break;
	case 28: run(c, "SUNIONSTORE set:%u set:%u set:%u", k, k2, (k + 1) % 40); break;
	case 29: run(c, "COPY str:%u str:%u REPLACE", k, k2); break;
	case 30: run(c, "SETEX str:%u %u x%u", k, 3000 + v, v); break;
	case 31: run(c, "PFADD hll:%u e%u e%u", k % 5, v, v / 2); break;
	case 32: run(c, "SETBIT bits:%u %u 1", k % 5, v); break;
	case 33: run(c, "ZREMRANGEBYSCORE zset:%u 0 %u", k, v / 3); break;
	case 34: run(c, "LTRIM list:%u 0 5", k); break;
	case 35: run(c, "PUBLISH news m%u", v); break;
	}
}

/* A client blocked on the master and served by a push: the master sends
 * the push and the pop it served (not the BLPOP). */
static void blocking_pop(const char *bcmd, const char *key, const char *push)
{
	redisContext *b = kr_connect(&master);
	cr_assert(redisAppendCommand(b, "%s %s 10", bcmd, key) == REDIS_OK);
	int done = 0;
	while (!done)
		cr_assert(redisBufferWrite(b, &done) == REDIS_OK);
	double deadline = kr_now_ms() + WAIT_MS;
	while (ru_info_ll(mc, "clients", "blocked_clients") < 1) {
		cr_assert(kr_now_ms() < deadline, "%s did not block", bcmd);
		kr_sleep_ms(5);
	}
	run(mc, push, key);
	redisReply *r = NULL;
	cr_assert(redisGetReply(b, (void **)&r) == REDIS_OK && r, "no reply to %s", bcmd);
	cr_expect(r->type == REDIS_REPLY_ARRAY, "%s served: type %d", bcmd, r->type);
	freeReplyObject(r);
	redisFree(b);
}

/* Thousands of writes on three connections (dbs 0, 1, 2), with blocking
 * pops, and (whole_db) FLUSHDB and SWAPDB along the way. */
static void workload_dbs(int n, uint64_t seed, bool whole_db)
{
	redisContext *db[3] = { mc, kr_connect(&master), kr_connect(&master) };
	kr_ok(db[1], "SELECT 1");
	kr_ok(db[2], "SELECT 2");
	rng_state = seed;
	for (int i = 0; i < n; i++) {
		random_write(db[rnd(3)]);
		if (whole_db && i == n / 3)
			run(db[2], "FLUSHDB");
		if (whole_db && i == n / 2)
			run(db[1], "SWAPDB 1 2");
		if (i % 1000 == 500) {
			char key[64];
			snprintf(key, sizeof(key), "bl:list:%llu:%d", (unsigned long long)seed, i);
			blocking_pop("BLPOP", key, "RPUSH %s x y z");
			snprintf(key, sizeof(key), "bl:zset:%llu:%d", (unsigned long long)seed, i);
			blocking_pop("BZPOPMIN", key, "ZADD %s 1 a 2 b");
		}
	}
	redisFree(db[1]);
	redisFree(db[2]);
}

static void workload(int n, uint64_t seed)
{
	workload_dbs(n, seed, true);
}

Test(replica, stream_of_writes)
{
	start_master(false, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	workload(6000, 0x9e3779b97f4a7c15ull);
	/* WAIT: the master asks for ACKs (REPLCONF GETACK in the stream). */
	kr_int(mc, 1, "WAIT 1 10000");
	ru_wait_synced(mc, rc, WAIT_MS);
	ru_expect_same_data(mc, rc);
	/* More after a check: the stream goes on from the same point. */
	workload(2000, 12345);
	ru_wait_synced(mc, rc, WAIT_MS);
	ru_expect_same_data(mc, rc);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1);
}

/* Keys expiring on the master: the replica keeps them until the master's
 * DEL (lazy expiry here, on an access), as Redis replicas do. */
Test(replica, expiry_follows_the_master)
{
	start_master(true, NULL);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_ok(mc, "DEBUG SET-ACTIVE-EXPIRE 0");
	for (int i = 0; i < 10; i++)
		kr_ok(mc, "SET short:%d v PX 200", i);
	kr_ok(mc, "SET long v EX 5000");
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_sleep_ms(400);
	/* Logically expired on both sides, still there on both. */
	cr_expect_eq(ru_reply_ll(rc, "DBSIZE"), 11);
	cr_expect_eq(ru_reply_ll(mc, "DBSIZE"), 11);
	ru_expect_same_data(mc, rc);
	for (int i = 0; i < 10; i++)
		kr_int(mc, 0, "EXISTS short:%d", i);   /* the master deletes: DEL goes out */
	ru_wait_synced(mc, rc, WAIT_MS);
	cr_expect_eq(ru_reply_ll(rc, "DBSIZE"), 1);
	ru_expect_same_data(mc, rc);
	kr_ok(mc, "DEBUG SET-ACTIVE-EXPIRE 1");
}

/* ------------------------------------------------------- partial resync */

/* The stream at scale: a full sync of every type, then 100,000 mixed
 * writes on three connections of the master, pipelined 200 at a time so
 * the replica lags behind; halfway the replica drops its master link
 * (CLIENT KILL ID of its master client: TYPE master is a known bug, see
 * client_kill_type_master) and the second half is written while it is
 * away. It must resume with a partial resync (the master's backlog holds
 * what was written meanwhile) and hold the same data. */
/* The id of the replica's master client (flags=M in CLIENT LIST). */
static long long master_client_id(void)
{
	redisReply *r = kr_cmd(rc, "CLIENT LIST");
	cr_assert(r->type == REDIS_REPLY_STRING, "CLIENT LIST: type %d", r->type);
	const char *line = strstr(r->str, "flags=M");
	cr_assert(line != NULL, "no master client (flags=M) in CLIENT LIST:\n%s", r->str);
	while (line > r->str && line[-1] != '\n')
		line--;
	cr_assert(strncmp(line, "id=", 3) == 0, "CLIENT LIST line: %.40s", line);
	long long id = strtoll(line + 3, NULL, 10);
	freeReplyObject(r);
	return id;
}

#define STREAM_WRITES 100000
#define STREAM_BATCH 200

Test(replica, stream_100k_writes_link_drop_partial_resync)
{
	static const char *const big_backlog[] = { "--repl-backlog-size", "64mb", NULL };
	start_master(false, big_backlog);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, 2 * WAIT_MS);
	ru_expect_same_data(mc, rc);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1);

	ru_workload_pipelined(&master, mc, STREAM_WRITES / 2, 0x5eed0003ull, STREAM_BATCH);
	kr_int(rc, 1, "CLIENT KILL ID %lld", master_client_id());
	ru_workload_pipelined(&master, mc, STREAM_WRITES / 2, 0x5eed0004ull, STREAM_BATCH);
	double deadline = kr_now_ms() + 2 * WAIT_MS;
	while (ru_info_ll(mc, "stats", "sync_partial_ok") < 1) {
		cr_assert(kr_now_ms() < deadline, "no partial resync (replica log %s)", replica.logpath);
		kr_sleep_ms(20);
	}
	ru_wait_synced(mc, rc, 2 * WAIT_MS);
	ru_expect_same_data(mc, rc);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_partial_ok"), 1);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1, "a full sync happened instead");
}

/* CLIENT KILL TYPE master on a replica drops the link to the master
 * (answering :1), and the replica resumes with a partial resync, as in
 * Redis 7.0; CLIENT LIST TYPE master lists the master client alone. */
Test(replica, client_kill_type_master)
{
	start_master(false, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	redisReply *l = kr_cmd(rc, "CLIENT LIST TYPE master");
	cr_assert(l->type == REDIS_REPLY_STRING && strstr(l->str, "flags=M") &&
		  !strchr(strchr(l->str, '\n') + 1, '\n'),
		  "CLIENT LIST TYPE master: %s", l->str ? l->str : "?");
	freeReplyObject(l);
	l = kr_cmd(rc, "CLIENT LIST TYPE normal");
	cr_assert(l->type == REDIS_REPLY_STRING && !strstr(l->str, "flags=M"),
		  "CLIENT LIST TYPE normal: %s", l->str ? l->str : "?");
	freeReplyObject(l);
	kr_int(rc, 1, "CLIENT KILL TYPE master");
	kr_ok(mc, "SET after:kill 1");
	double deadline = kr_now_ms() + WAIT_MS;
	while (ru_info_ll(mc, "stats", "sync_partial_ok") < 1) {
		cr_assert(kr_now_ms() < deadline, "no partial resync (replica log %s)", replica.logpath);
		kr_sleep_ms(20);
	}
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "1", "GET after:kill");
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1, "a full sync happened instead");
	ru_expect_same_data(mc, rc);
}


Test(replica, partial_resync_after_link_killed)
{
	start_master(false, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	workload(1000, 7);
	ru_wait_synced(mc, rc, WAIT_MS);
	long long full = ru_info_ll(mc, "stats", "sync_full");
	long long ok = ru_info_ll(mc, "stats", "sync_partial_ok");
	char id_before[64];
	char *id = ru_info_field(rc, "replication", "master_replid");
	snprintf(id_before, sizeof(id_before), "%s", id);
	free(id);

	/* Killed on the master while the stream is in db 2; writes go on
	 * in db 2 only, so the resumed stream has no SELECT: the replica
	 * must keep the db its master client had selected. */
	redisContext *m3 = kr_connect(&master);
	kr_ok(m3, "SELECT 2");
	run(m3, "RPUSH during:list start");
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_int(mc, 1, "CLIENT KILL TYPE replica");
	for (int i = 0; i < 200; i++)
		run(m3, "RPUSH during:list %d", i);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_ok(rc, "SELECT 2");
	kr_int(rc, 201, "LLEN during:list");
	kr_ok(rc, "SELECT 0");
	for (int i = 0; i < 200; i++) {
		run(mc, "INCR during:%d", i % 17);
		run(m3, "RPUSH during:list %d", i);
	}
	redisFree(m3);
	ru_wait_synced(mc, rc, WAIT_MS);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_partial_ok"), ok + 1, "no partial resync (+CONTINUE)");
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), full, "a full sync happened instead");
	expect_info(rc, "master_replid", id_before);
	ru_expect_same_data(mc, rc);

	/* Killed on the replica (its master client): partial resync too. */
	redisReply *r = kr_cmd(rc, "CLIENT LIST");
	cr_assert(r->type == REDIS_REPLY_STRING);
	const char *line = strstr(r->str, "flags=M");
	cr_assert(line != NULL, "no master client (flags=M) in CLIENT LIST:\n%s", r->str);
	while (line > r->str && line[-1] != '\n')
		line--;
	long long mid = strtoll(line + 3, NULL, 10);
	freeReplyObject(r);
	kr_int(rc, 1, "CLIENT KILL ID %lld", mid);
	workload(500, 99);
	ru_wait_synced(mc, rc, WAIT_MS);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_partial_ok"), ok + 2, "no partial resync after the "
		     "replica dropped the link");
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), full);
	ru_expect_same_data(mc, rc);
}

/* The master restarts empty on the same port: a new replid, a full sync,
 * and the replica's data follows (old keys gone). */
Test(replica, master_restart_full_resync)
{
	start_master(true, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	char *old = ru_info_field(mc, "replication", "master_replid");
	int port = master.port;
	redisFree(mc);
	mc = NULL;
	kr_srv_stop(&master);
	/* The replica notices and keeps trying. */
	double deadline = kr_now_ms() + WAIT_MS;
	while (ru_info_is(rc, "replication", "master_link_status", "up")) {
		cr_assert(kr_now_ms() < deadline, "the link stays up with the master gone");
		kr_sleep_ms(20);
	}
	kr_bulk(rc, "hello", "GET s:emb");   /* stale data is served (the default) */
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	setenv("KR_PORT_MIN", p, 1);
	setenv("KR_PORT_MAX", p, 1);
	start_master(false, NULL);
	unsetenv("KR_PORT_MIN");
	unsetenv("KR_PORT_MAX");
	cr_assert_eq(master.port, port);
	kr_ok(mc, "SET fresh 1");
	ru_reply_ll(mc, "SADD fresh:set a b c");
	ru_wait_synced(mc, rc, WAIT_MS);
	char *now = ru_info_field(mc, "replication", "master_replid");
	cr_expect(strcmp(now, old) != 0);
	expect_info(rc, "master_replid", now);
	cr_expect_eq(ru_info_ll(mc, "stats", "sync_full"), 1);
	kr_nil(rc, "GET s:emb");
	kr_bulk(rc, "1", "GET fresh");
	ru_expect_same_data(mc, rc);
	free(old);
	free(now);
}

/* ------------------------------------------------------ REPLICAOF, ROLE */

Test(replica, replicaof_no_one_keeps_data)
{
	start_master(true, NULL);
	ru_populate(mc);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	workload(500, 3);
	ru_wait_synced(mc, rc, WAIT_MS);
	char mdig[41], rdig[41];
	ru_digest(mc, mdig);
	char *id = ru_info_field(rc, "replication", "master_replid");
	long long off = ru_info_ll(rc, "replication", "master_repl_offset");
	kr_ok(rc, "REPLICAOF NO ONE");
	expect_info(rc, "role", "master");
	expect_info(rc, "master_replid2", id);
	/* The old history is valid up to the offset reached. */
	char want[32];
	snprintf(want, sizeof(want), "%lld", off + 1);
	expect_info(rc, "second_repl_offset", want);
	snprintf(want, sizeof(want), "%lld", off);
	expect_info(rc, "master_repl_offset", want);
	char *nid = ru_info_field(rc, "replication", "master_replid");
	cr_expect(nid && strlen(nid) == 40 && strcmp(nid, id) != 0, "new replid %s", nid);
	free(nid);
	free(id);
	ru_digest(rc, rdig);
	cr_expect_str_eq(rdig, mdig, "REPLICAOF NO ONE lost data");
	kr_ok(rc, "SET mine 1");
	kr_bulk(rc, "1", "GET mine");
	kr_int(rc, 2, "INCR mine");
	redisReply *r = kr_cmd(rc, "ROLE");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
	cr_expect_str_eq(r->element[0]->str, "master");
	cr_expect(r->element[1]->type == REDIS_REPLY_INTEGER);
	cr_expect(r->element[2]->type == REDIS_REPLY_ARRAY && r->element[2]->elements == 0);
	freeReplyObject(r);
	/* Writes on the master no longer arrive. */
	kr_ok(mc, "SET after-promotion 1");
	kr_sleep_ms(300);
	kr_nil(rc, "GET after-promotion");
	kr_ok(rc, "REPLICAOF NO ONE");   /* already a master: OK */
}

Test(replica, replicaof_replies_and_role)
{
	start_master(true, NULL);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_status(rc, "OK Already connected to specified master", "REPLICAOF 127.0.0.1 %s", mport);
	kr_status(rc, "OK Already connected to specified master", "SLAVEOF 127.0.0.1 %s", mport);
	kr_err(rc, "ERR Invalid master port", "REPLICAOF 127.0.0.1 notaport");
	kr_err(rc, "ERR Invalid master port", "REPLICAOF 127.0.0.1 70000");
	kr_err(rc, "ERR Invalid master port", "REPLICAOF 127.0.0.1 -1");
	kr_err(rc, "ERR Invalid master port", "REPLICAOF no two");
	kr_err(rc, "ERR wrong number of arguments for 'replicaof' command", "REPLICAOF a");
	kr_err(rc, "ERR wrong number of arguments for 'slaveof' command", "SLAVEOF a b c");

	/* Connected: INFO and ROLE. */
	kr_ok(mc, "SET k v");
	ru_wait_synced(mc, rc, WAIT_MS);
	expect_info(rc, "role", "slave");
	expect_info(rc, "master_host", "127.0.0.1");
	expect_info(rc, "master_port", mport);
	expect_info(rc, "master_link_status", "up");
	expect_info(rc, "master_sync_in_progress", "0");
	expect_info(rc, "slave_priority", "100");
	expect_info(rc, "slave_read_only", "1");
	expect_info(rc, "replica_announced", "1");
	expect_info(rc, "connected_slaves", "0");
	expect_info(rc, "master_replid2", "0000000000000000000000000000000000000000");
	expect_info(rc, "second_repl_offset", "-1");
	char *mid = ru_info_field(mc, "replication", "master_replid");
	expect_info(rc, "master_replid", mid);
	free(mid);
	long long io = ru_info_ll(rc, "replication", "master_last_io_seconds_ago");
	cr_expect(io >= 0 && io <= 60, "master_last_io_seconds_ago:%lld", io);
	long long off = ru_info_ll(rc, "replication", "slave_repl_offset");
	cr_expect_eq(ru_info_ll(rc, "replication", "slave_read_repl_offset"), off);
	cr_expect_eq(ru_info_ll(rc, "replication", "master_repl_offset"), off);
	char *down = ru_info_field(rc, "replication", "master_link_down_since_seconds");
	cr_expect(down == NULL, "master_link_down_since_seconds shown with the link up");
	free(down);
	redisReply *r = kr_cmd(rc, "ROLE");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 5, "ROLE shape");
	cr_expect_str_eq(r->element[0]->str, "slave");
	cr_expect_str_eq(r->element[1]->str, "127.0.0.1");
	cr_expect(r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == master.port);
	cr_expect_str_eq(r->element[3]->str, "connected");
	cr_expect(r->element[4]->type == REDIS_REPLY_INTEGER && r->element[4]->integer == off,
		  "ROLE offset %lld, INFO %lld", r->element[4]->integer, off);
	freeReplyObject(r);
	r = kr_cmd(rc, "CONFIG GET replicaof");
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1 %s", mport);
	cr_expect(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[1]->str, want) == 0,
		  "CONFIG GET replicaof");
	freeReplyObject(r);

	/* A master that is not there: the link is down, ROLE says so. */
	struct kr_srv gone;
	kr_srv_start_redis(&gone, NULL);
	int gport = gone.port;
	kr_srv_stop(&gone);
	kr_ok(rc, "REPLICAOF 127.0.0.1 %d", gport);
	kr_sleep_ms(200);
	expect_info(rc, "master_link_status", "down");
	expect_info(rc, "master_sync_in_progress", "0");
	expect_info(rc, "master_last_io_seconds_ago", "-1");
	cr_expect_eq(ru_info_ll(rc, "replication", "slave_repl_offset"), off);
	down = ru_info_field(rc, "replication", "master_link_down_since_seconds");
	cr_expect(down != NULL, "no master_link_down_since_seconds with the link down");
	free(down);
	r = kr_cmd(rc, "ROLE");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 5);
	cr_expect(r->element[2]->integer == gport);
	cr_expect(strcmp(r->element[3]->str, "connect") == 0 || strcmp(r->element[3]->str, "connecting") == 0,
		  "ROLE state %s", r->element[3]->str);
	cr_expect_eq(r->element[4]->integer, -1);
	freeReplyObject(r);
	kr_bulk(rc, "v", "GET k");   /* stale data served by default */
	kr_ok(rc, "CONFIG SET replica-serve-stale-data no");
	kr_err(rc, "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
	       "GET k");
	kr_err(rc, "MASTERDOWN", "PING");
	kr_err(rc, "MASTERDOWN", "DBSIZE");
	char *role = ru_info_field(rc, "replication", "role");   /* INFO is allowed */
	cr_expect_str_eq(role, "slave");
	free(role);
	kr_ok(rc, "CONFIG SET replica-serve-stale-data yes");
	/* Back to the live master: the link comes up again. */
	kr_ok(rc, "REPLICAOF 127.0.0.1 %s", mport);
	kr_ok(mc, "SET k2 v2");
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "v2", "GET k2");
}

/* ----------------------------------------------------------- READONLY */

Test(replica, read_only_replica)
{
	start_master(true, NULL);
	start_replica(NULL);
	kr_ok(mc, "SET k v");
	ru_reply_ll(mc, "RPUSH l a b");
	ru_wait_synced(mc, rc, WAIT_MS);
	const char *ro = "READONLY You can't write against a read only replica.";
	kr_err(rc, ro, "SET k x");
	kr_err(rc, ro, "DEL k");
	kr_err(rc, ro, "LPUSH l c");
	kr_err(rc, ro, "FLUSHALL");
	kr_err(rc, ro, "EXPIRE k 10");
	kr_bulk(rc, "v", "GET k");
	kr_int(rc, 2, "LLEN l");
	/* Scripts: a legacy script fails at its write (with the script's
	 * name), a shebang script that may write is refused at once, reads
	 * and no-writes scripts run. */
	redisReply *r = kr_cmd(rc, "EVAL %s 1 x", "return redis.call('set',KEYS[1],'1')");
	cr_assert(r->type == REDIS_REPLY_ERROR, "legacy script write: type %d", r->type);
	cr_expect(strncmp(r->str, ro, strlen(ro)) == 0 && strstr(r->str, "script: ") != NULL,
		  "legacy script write: %s", r->str);
	freeReplyObject(r);
	kr_err(rc, ro, "EVAL %s 1 x", "#!lua\nreturn redis.call('set',KEYS[1],'1')");
	kr_bulk(rc, "v", "EVAL %s 1 k", "return redis.call('get',KEYS[1])");
	kr_bulk(rc, "v", "EVAL %s 1 k", "#!lua flags=no-writes\nreturn redis.call('get',KEYS[1])");
	kr_err(rc, "ERR Write commands are not allowed from read-only scripts",
	       "EVAL_RO %s 1 x", "return redis.call('set',KEYS[1],'1')");
	/* MULTI: the write is refused when queued, EXEC aborts. */
	kr_ok(rc, "MULTI");
	kr_err(rc, ro, "SET k y");
	kr_status(rc, "QUEUED", "GET k");
	kr_err(rc, "EXECABORT", "EXEC");
	kr_bulk(rc, "v", "GET k");
	/* replica-read-only no: writes are accepted (and kept until the
	 * master overwrites them). */
	kr_ok(rc, "CONFIG SET replica-read-only no");
	expect_info(rc, "slave_read_only", "0");
	kr_ok(rc, "SET local 1");
	kr_bulk(rc, "1", "GET local");
	kr_ok(rc, "CONFIG SET replica-read-only yes");
	kr_err(rc, ro, "SET local 2");
	kr_ok(mc, "SET k from-master");
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "from-master", "GET k");
}

/* --------------------------------------------------- authentication */

Test(replica, masterauth)
{
	const char *const margs[] = { "--requirepass", "s3cret", NULL };
	start_master(true, margs);
	kr_ok(mc, "AUTH s3cret");
	kr_ok(mc, "SET k v");
	const char *const rargs[] = { "--masterauth", "s3cret", NULL };
	start_replica(rargs);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "v", "GET k");
	ru_expect_same_data(mc, rc);
}

Test(replica, masterauth_wrong_then_fixed)
{
	const char *const margs[] = { "--requirepass", "s3cret", NULL };
	start_master(true, margs);
	kr_ok(mc, "AUTH s3cret");
	kr_ok(mc, "SET k v");
	const char *const rargs[] = { "--masterauth", "wrong", NULL };
	start_replica(rargs);
	kr_sleep_ms(1500);
	expect_info(rc, "master_link_status", "down");
	cr_expect_eq(ru_info_ll(mc, "replication", "connected_slaves"), 0);
	kr_nil(rc, "GET k");
	kr_ok(rc, "CONFIG SET masterauth s3cret");
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "v", "GET k");
}

Test(replica, masteruser)
{
	start_master(true, NULL);
	kr_ok(mc, "ACL SETUSER repl on >replpw +@all ~* &*");
	kr_ok(mc, "SET k v");
	const char *const rargs[] = { "--masteruser", "repl", "--masterauth", "replpw", NULL };
	start_replica(rargs);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "v", "GET k");
	redisReply *r = kr_cmd(mc, "CLIENT LIST TYPE replica");
	cr_assert(r->type == REDIS_REPLY_STRING);
	cr_expect(strstr(r->str, "user=repl ") != NULL, "the replica is not logged in as repl:\n%s", r->str);
	freeReplyObject(r);
}

/* --------------------------------------------------- configuration file */

Test(replica, config_file)
{
	start_master(false, NULL);
	kr_ok(mc, "SET k v");
	char path[] = "/tmp/kr-replica-conf-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	char conf[512];
	int n = snprintf(conf, sizeof(conf),
			 "# keyrail as a replica\nreplicaof 127.0.0.1 %s\nmasterauth \"\"\n"
			 "replica-read-only yes\nreplica-serve-stale-data yes\nrepl-timeout 30\n", mport);
	cr_assert(write(fd, conf, (size_t)n) == n);
	close(fd);
	const char *const args[] = { path, NULL };
	kr_srv_start(&replica, args);
	rc = kr_connect(&replica);
	unlink(path);
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "v", "GET k");
	redisReply *r = kr_cmd(rc, "CONFIG GET repl-timeout");
	cr_expect(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[1]->str, "30") == 0);
	freeReplyObject(r);
	kr_err(rc, "ERR CONFIG SET failed", "CONFIG SET replicaof %s", "127.0.0.1 1");
	kr_err(rc, "ERR CONFIG SET failed", "CONFIG SET repl-timeout 0");
}

/* ---------------------------------------------------------- loading */

/* While a big full sync loads, clients get the old data, nothing, or
 * -LOADING (INFO still answers); never anything else. Afterwards all of
 * it is there. */
Test(replica, clients_during_full_sync)
{
	start_master(false, NULL);
	kr_ok(mc, "DEBUG POPULATE 200000 key");
	kr_srv_start(&replica, NULL);
	rc = kr_connect(&replica);
	kr_ok(rc, "SET key:1 old");
	kr_ok(rc, "REPLICAOF 127.0.0.1 %s", mport);
	double deadline = kr_now_ms() + WAIT_MS;
	int loading = 0, served = 0;
	for (;;) {
		redisReply *r = kr_cmd(rc, "GET key:1");
		if (r->type == REDIS_REPLY_ERROR) {
			cr_assert_str_eq(r->str, "LOADING Redis is loading the dataset in memory");
			loading++;
		} else {
			cr_assert(r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_STRING,
				  "GET during the sync: type %d", r->type);
			served++;
		}
		bool done = r->type == REDIS_REPLY_STRING && strcmp(r->str, "old") != 0;
		freeReplyObject(r);
		char *role = ru_info_field(rc, "replication", "role");   /* always answers */
		cr_assert(role && strcmp(role, "slave") == 0);
		free(role);
		if (done)
			break;
		cr_assert(kr_now_ms() < deadline, "the new data never arrived");
	}
	ru_wait_synced(mc, rc, WAIT_MS);
	kr_bulk(rc, "value:1", "GET key:1");
	cr_expect_eq(ru_reply_ll(rc, "DBSIZE"), 200000);
	cr_expect(served > 0);
	cr_log_info("during the sync: %d -LOADING, %d served", loading, served);
	ru_expect_same_data(mc, rc);
}

/* The master's PINGs (every repl-ping-replica-period) are part of the
 * stream: the replica's offset follows them with no write at all. */
Test(replica, pings_are_counted)
{
	const char *const margs[] = { "--repl-ping-replica-period", "1", NULL };
	start_master(true, margs);
	start_replica(NULL);
	ru_wait_synced(mc, rc, WAIT_MS);
	long long before = ru_info_ll(mc, "replication", "master_repl_offset");
	double deadline = kr_now_ms() + WAIT_MS;
	while (ru_info_ll(mc, "replication", "master_repl_offset") < before + 2 * 14) {
		cr_assert(kr_now_ms() < deadline, "the master sent no PING");
		kr_sleep_ms(100);
	}
	ru_wait_synced(mc, rc, WAIT_MS);
	cr_expect(ru_info_ll(rc, "replication", "slave_repl_offset") >= before + 2 * 14);
}

/* Writes keep coming while the master saves, sends and the replica loads:
 * they reach the replica after the payload (disk-based: right behind it on
 * the socket; diskless: once the replica's first ACK starts the stream). */
static void writes_during_sync(bool diskless)
{
	start_master(diskless, NULL);
	kr_ok(mc, "DEBUG POPULATE 50000 key");
	kr_srv_start(&replica, NULL);
	rc = kr_connect(&replica);
	kr_ok(rc, "REPLICAOF 127.0.0.1 %s", mport);
	rng_state = 42;
	int n = 0;
	double deadline = kr_now_ms() + WAIT_MS;
	while (!ru_info_is(rc, "replication", "master_link_status", "up") || n < 300) {
		random_write(mc);
		run(mc, "INCR during-sync");
		n++;
		cr_assert(kr_now_ms() < deadline, "the sync never finished");
	}
	ru_wait_synced(mc, rc, WAIT_MS);
	char want[24];
	snprintf(want, sizeof(want), "%d", n);
	kr_bulk(rc, want, "GET during-sync");
	ru_expect_same_data(mc, rc);
}

Test(replica, writes_during_disk_based_sync)
{
	writes_during_sync(false);
}

Test(replica, writes_during_diskless_sync)
{
	writes_during_sync(true);
}

/* A replica with the AOF on: the full sync's data (which never went
 * through the write stream) and the stream after it survive a restart,
 * which loads the AOF alone (no master any more). */
Test(replica, appendonly_replica_restarts_with_the_data)
{
	start_master(true, NULL);
	ru_populate(mc);
	char dir[] = "/tmp/kr-replica-aof-XXXXXX";
	cr_assert(mkdtemp(dir) != NULL);
	const char *const rargs[] = { "--appendonly", "yes", "--dir", dir, NULL };
	start_replica(rargs);
	ru_wait_synced(mc, rc, WAIT_MS);
	/* No FLUSHDB/SWAPDB here: the AOF's own handling of those with
	 * pipelined writes behind them is not what this test is about. */
	workload_dbs(300, 5, false);
	ru_wait_synced(mc, rc, WAIT_MS);
	/* The AOF is rewritten after the full sync: wait until it is done. */
	double deadline = kr_now_ms() + WAIT_MS;
	while (ru_info_ll(rc, "persistence", "aof_rewrites") < 1 ||
	       ru_info_ll(rc, "persistence", "aof_rewrite_in_progress") != 0 ||
	       ru_info_ll(rc, "persistence", "aof_rewrite_scheduled") != 0) {
		cr_assert(kr_now_ms() < deadline, "no AOF rewrite after the full sync");
		kr_sleep_ms(20);
	}
	char want[41], got[41];
	ru_digest(mc, want);
	redisFree(rc);
	rc = NULL;
	int st = kr_srv_stop(&replica);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the replica exited with status 0x%x", st);
	const char *const again[] = { "--appendonly", "yes", "--dir", dir, NULL };
	kr_srv_start(&replica, again);
	rc = kr_connect(&replica);
	expect_info(rc, "role", "master");
	ru_digest(rc, got);
	cr_expect_str_eq(got, want, "the restarted replica lost data");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect(system(cmd) == 0);
}
