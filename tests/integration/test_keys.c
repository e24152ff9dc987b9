/* Integration tests of the generic key commands (shards/t_keys.c) against a
 * real server: replies, exact error texts, expiry, SCAN/KEYS, and the
 * cross-shard forms (keys chosen so they land on different shards when
 * KR_SHARDS > 1). The same tests run against Debian's redis-server with
 * KR_SERVER=/usr/bin/redis-server KR_SERVER_KIND=redis, which is how the
 * expectations here were checked. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static struct kr_srv srv;
static redisContext *c;

static void keys_setup(void) { kr_srv_start_client(&srv, &c, NULL); }
static void keys_teardown(void) { kr_srv_stop_client(&srv, &c); }

TestSuite(keys, .init = keys_setup, .fini = keys_teardown, .timeout = 120);

/* ------------------------------------------------------------ helpers */

/* Which local shard a key lands on, by the design's rule
 * (slot = crc16-xmodem(hashtag(key)) & 16383, shard = slot % nshards),
 * computed independently of the server's code (kr_key_slot). */
static unsigned t_nshards(void)
{
	const char *s = getenv("KR_SHARDS");
	int n = s ? atoi(s) : 1;
	return n > 0 ? (unsigned)n : 1;
}

static unsigned t_shard(const char *key)
{
	return kr_key_slot(key) % t_nshards();
}

/* First key "<prefix><i>" on shard `shard` (mod nshards). */
static void t_key_on(char *buf, size_t len, const char *prefix, unsigned shard)
{
	kr_key_on_shard_of(buf, len, prefix, shard % t_nshards(), t_nshards(), 0);
}

/* Exact error text. */
static void t_err_exact(redisContext *cx, const char *want, const char *cmd)
{
	redisReply *r = kr_cmd(cx, cmd);
	cr_assert_eq(r->type, REDIS_REPLY_ERROR, "%s: want error '%s', got type %d",
		     cmd, want, r->type);
	cr_assert_str_eq(r->str, want, "%s", cmd);
	freeReplyObject(r);
}

static long long t_intcmd(redisContext *cx, const char *cmd)
{
	redisReply *r = kr_cmd(cx, cmd);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s: type %d (%s)", cmd, r->type,
		     r->type == REDIS_REPLY_ERROR ? r->str : "");
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

/* Assert that an array reply holds exactly the strings in want (any order). */
static void t_assert_set(redisReply *r, const char *const *want, size_t nwant, const char *what)
{
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s: not an array", what);
	cr_assert_eq(r->elements, nwant, "%s: %zu elements, want %zu", what,
		     r->elements, nwant);
	const char **got = calloc(r->elements + 1, sizeof(*got));
	const char **exp = calloc(nwant + 1, sizeof(*exp));
	cr_assert(got && exp);
	for (size_t i = 0; i < r->elements; i++) {
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_STRING);
		got[i] = r->element[i]->str;
	}
	memcpy(exp, want, nwant * sizeof(*exp));
	qsort(got, r->elements, sizeof(*got), kr_cmp_str);
	qsort(exp, nwant, sizeof(*exp), kr_cmp_str);
	for (size_t i = 0; i < nwant; i++)
		cr_assert_str_eq(got[i], exp[i], "%s: element %zu", what, i);
	free(got);
	free(exp);
}

/* Pipelined SET of n keys "<prefix><i>" = "v<i>". */
static void t_populate(redisContext *cx, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(redisAppendCommand(cx, "SET %s%d v%d", prefix, i, i), REDIS_OK);
	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;
		cr_assert_eq(redisGetReply(cx, (void **)&r), REDIS_OK);
		cr_assert_eq(r->type, REDIS_REPLY_STATUS);
		freeReplyObject(r);
	}
}

/* -------------------------------------------- DEL UNLINK EXISTS TOUCH */

Test(keys, del_exists_touch_span_shards)
{
	char k[30][16];
	bool shard_seen[64] = { false };
	for (int i = 0; i < 30; i++) {
		snprintf(k[i], sizeof(k[i]), "k%d", i);
		shard_seen[t_shard(k[i]) % 64] = true;
	}
	for (unsigned s = 0; s < t_nshards() && s < 64; s++)
		cr_assert(shard_seen[s], "test keys must cover shard %u", s);
	t_populate(c, "k", 20);   /* k0..k19 exist, k20..k29 do not */

	kr_int(c, 0, "EXISTS nosuchkey");
	kr_int(c, 1, "EXISTS k0");
	/* repeats count every time; missing keys count 0 */
	kr_int(c, 5, "EXISTS k0 k0 k1 k25 k2 k29 k2");
	kr_int(c, 20, "EXISTS k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 "
		  "k15 k16 k17 k18 k19 k20 k21 k22 k23 k24 k25 k26 k27 k28 k29");
	kr_int(c, 3, "TOUCH k3 k4 k5 k26");
	kr_int(c, 0, "TOUCH k27");
	kr_int(c, 20, "DBSIZE");

	kr_int(c, 3, "DEL k0 k1 k2 k20 k21");
	kr_int(c, 0, "DEL k0 k1 k2");
	kr_int(c, 0, "EXISTS k0 k1 k2");
	/* a repeated key is deleted once */
	kr_int(c, 1, "DEL k3 k3");
	kr_int(c, 4, "UNLINK k4 k5 k6 k7 k28");
	kr_int(c, 0, "UNLINK k4");
	kr_int(c, 12, "DBSIZE");
	kr_nil(c, "GET k5");
	kr_bulk(c, "v8", "GET k8");
	kr_int(c, 12, "DEL k8 k9 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19");
	kr_int(c, 0, "DBSIZE");
}

Test(keys, type)
{
	kr_status(c, "none", "TYPE nosuchkey");
	kr_ok(c, "SET s hello");
	kr_status(c, "string", "TYPE s");
	kr_ok(c, "SET n 42");
	kr_status(c, "string", "TYPE n");
	kr_int(c, 1, "DEL s");
	kr_status(c, "none", "TYPE s");
}

/* ------------------------------------------------------------- EXPIRE */

struct expire_case {
	long long init_ttl_s;   /* 0: no expiry before the command */
	const char *cmd;        /* on key "k" */
	long long want;
	long long ttl_after;    /* -1, or the TTL in seconds (within 1 s) */
};

static const struct expire_case expire_cases[] = {
	{ 0,   "EXPIRE k 100",            1, 100 },
	{ 100, "EXPIRE k 200",            1, 200 },
	{ 0,   "EXPIRE k 100 NX",         1, 100 },
	{ 100, "EXPIRE k 200 NX",         0, 100 },
	{ 0,   "EXPIRE k 100 XX",         0, -1 },
	{ 100, "EXPIRE k 200 XX",         1, 200 },
	{ 0,   "EXPIRE k 100 GT",         0, -1 },   /* no TTL = infinite */
	{ 100, "EXPIRE k 200 GT",         1, 200 },
	{ 100, "EXPIRE k 50 GT",          0, 100 },
	{ 0,   "EXPIRE k 100 LT",         1, 100 },
	{ 100, "EXPIRE k 50 LT",          1, 50 },
	{ 100, "EXPIRE k 200 LT",         0, 100 },
	{ 100, "EXPIRE k 200 XX GT",      1, 200 },
	{ 100, "expire k 200 xx lt",      0, 100 },
	{ 0,   "EXPIRE k 200 XX LT",      0, -1 },
	{ 100, "EXPIRE k 50 lt xx",       1, 50 },
	{ 100, "PEXPIRE k 200000 GT",     1, 200 },
	{ 0,   "PEXPIRE k 300000",        1, 300 },
	{ 100, "PEXPIRE k 5000 NX",       0, 100 },
	{ 0,   "EXPIREAT k 4000000000",   1, -2 },   /* -2: not checked (absolute) */
	{ 100, "EXPIREAT k 4000000000 LT", 0, 100 },
	{ 100, "PEXPIREAT k 4000000000000 GT", 1, -2 },
	{ 0,   "PERSIST k",               0, -1 },
	{ 100, "PERSIST k",               1, -1 },
};

Test(keys, expire_options)
{
	char buf[64];
	for (size_t i = 0; i < sizeof(expire_cases) / sizeof(expire_cases[0]); i++) {
		const struct expire_case *tc = &expire_cases[i];
		kr_ok(c, "SET k v");
		if (tc->init_ttl_s) {
			snprintf(buf, sizeof(buf), "EXPIRE k %lld", tc->init_ttl_s);
			kr_int(c, 1, buf);
		}
		long long got = t_intcmd(c, tc->cmd);
		cr_assert_eq(got, tc->want, "case %zu '%s': got %lld want %lld", i, tc->cmd,
			     got, tc->want);
		long long ttl = t_intcmd(c, "TTL k");
		if (tc->ttl_after == -1)
			cr_assert_eq(ttl, -1, "case %zu '%s': ttl %lld", i, tc->cmd, ttl);
		else if (tc->ttl_after >= 0)
			cr_assert(ttl >= tc->ttl_after - 1 && ttl <= tc->ttl_after,
				  "case %zu '%s': ttl %lld want ~%lld", i, tc->cmd, ttl,
				  tc->ttl_after);
		else
			cr_assert_gt(ttl, 0, "case %zu '%s'", i, tc->cmd);
		kr_int(c, 1, "DEL k");
	}
}

struct err_case {
	const char *cmd;
	const char *err;
};

static const struct err_case expire_errors[] = {
	{ "EXPIRE k 10 NX XX", "ERR NX and XX, GT or LT options at the same time are not compatible" },
	{ "EXPIRE k 10 NX GT", "ERR NX and XX, GT or LT options at the same time are not compatible" },
	{ "EXPIRE k 10 lt nx", "ERR NX and XX, GT or LT options at the same time are not compatible" },
	{ "PEXPIRE k 10 GT LT", "ERR GT and LT options at the same time are not compatible" },
	{ "EXPIRE k 10 FOO", "ERR Unsupported option FOO" },
	{ "EXPIRE k 10 NX foo", "ERR Unsupported option foo" },
	/* options are checked before the number */
	{ "EXPIRE k abc NX XX", "ERR NX and XX, GT or LT options at the same time are not compatible" },
	{ "EXPIRE k abc", "ERR value is not an integer or out of range" },
	{ "EXPIRE k 1.5", "ERR value is not an integer or out of range" },
	{ "PEXPIREAT k 99999999999999999999", "ERR value is not an integer or out of range" },
	{ "EXPIRE k 10000000000000000", "ERR invalid expire time in 'expire' command" },
	{ "EXPIRE k -10000000000000000", "ERR invalid expire time in 'expire' command" },
	{ "PEXPIRE k 9223372036854775807", "ERR invalid expire time in 'pexpire' command" },
	{ "EXPIREAT k 10000000000000000", "ERR invalid expire time in 'expireat' command" },
	{ "EXPIRE nosuchkey 10 XX NX", "ERR NX and XX, GT or LT options at the same time are not compatible" },
	{ "EXPIRE nosuchkey 10000000000000000", "ERR invalid expire time in 'expire' command" },
};

Test(keys, expire_errors)
{
	kr_ok(c, "SET k v");
	for (size_t i = 0; i < sizeof(expire_errors) / sizeof(expire_errors[0]); i++)
		t_err_exact(c, expire_errors[i].err, expire_errors[i].cmd);
	/* nothing changed */
	kr_int(c, -1, "TTL k");
	kr_bulk(c, "v", "GET k");
}

Test(keys, expire_missing_key_and_past_time)
{
	kr_int(c, 0, "EXPIRE nosuchkey 100");
	kr_int(c, 0, "PEXPIRE nosuchkey -1");
	kr_int(c, 0, "PERSIST nosuchkey");

	/* a time not in the future deletes the key and answers 1 */
	static const char *const past[] = {
		"EXPIRE k -1", "EXPIRE k 0", "PEXPIRE k -100", "EXPIREAT k 1",
		"PEXPIREAT k 1", "EXPIREAT k -5", "EXPIRE k -1 LT",
	};
	for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
		kr_ok(c, "SET k v");
		kr_int(c, 1, past[i]);
		kr_int(c, 0, "EXISTS k");
		kr_nil(c, "GET k");
	}
	/* GT on a key without TTL never applies, not even in the past */
	kr_ok(c, "SET k v");
	kr_int(c, 0, "EXPIRE k -1 GT");
	kr_int(c, 1, "EXISTS k");
}

Test(keys, ttl_family)
{
	static const char *const q[] = { "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME" };
	char buf[64];
	for (size_t i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "%s nosuchkey", q[i]);
		kr_int(c, -2, buf);
	}
	kr_ok(c, "SET k v");
	for (size_t i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "%s k", q[i]);
		kr_int(c, -1, buf);
	}
	kr_int(c, 1, "EXPIREAT k 4000000000");
	kr_int(c, 4000000000LL, "EXPIRETIME k");
	kr_int(c, 4000000000000LL, "PEXPIRETIME k");
	/* seconds are rounded to nearest */
	kr_int(c, 1, "PEXPIREAT k 4000000000499");
	kr_int(c, 4000000000LL, "EXPIRETIME k");
	kr_int(c, 4000000000499LL, "PEXPIRETIME k");
	kr_int(c, 1, "PEXPIREAT k 4000000000500");
	kr_int(c, 4000000001LL, "EXPIRETIME k");

	/* GT/LT compare strictly (absolute times, so no clock tick between) */
	kr_int(c, 1, "EXPIREAT k 4000000000");
	kr_int(c, 0, "EXPIREAT k 4000000000 GT");
	kr_int(c, 0, "EXPIREAT k 4000000000 LT");
	kr_int(c, 0, "PEXPIREAT k 4000000000000 XX GT");
	kr_int(c, 1, "EXPIREAT k 4000000001 GT");
	kr_int(c, 0, "PEXPIREAT k 4000000001000 LT");
	kr_int(c, 1, "PEXPIREAT k 4000000000999 LT");
	kr_int(c, 4000000000999LL, "PEXPIRETIME k");

	kr_int(c, 1, "PEXPIRE k 100000");
	long long pttl = t_intcmd(c, "PTTL k");
	cr_assert(pttl > 90000 && pttl <= 100000, "pttl %lld", pttl);
	long long ttl = t_intcmd(c, "TTL k");
	cr_assert(ttl >= 90 && ttl <= 100, "ttl %lld", ttl);
	kr_int(c, 1, "PERSIST k");
	kr_int(c, 0, "PERSIST k");
	kr_int(c, -1, "TTL k");
	kr_int(c, -1, "PEXPIRETIME k");
}

/* Expiry really happens: keys vanish from lookups, KEYS, SCAN and DBSIZE
 * (eventually); keys without TTL stay. Polling is bounded in count. */
Test(keys, expiry_behaviour)
{
	t_populate(c, "tmp:", 10);
	t_populate(c, "keep:", 5);
	for (int i = 0; i < 10; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "PEXPIRE tmp:%d 50", i);
		kr_int(c, 1, buf);
	}
	/* wait, through a lookup, for the last one given a TTL: then every
	 * tmp: key is past its time */
	bool gone = false;
	for (int i = 0; i < 500 && !gone; i++) {
		gone = t_intcmd(c, "EXISTS tmp:9") == 0;
		if (!gone)
			usleep(10000);
	}
	cr_assert(gone, "tmp:9 never expired");
	kr_nil(c, "GET tmp:0");
	kr_int(c, -2, "TTL tmp:0");
	kr_int(c, -2, "PTTL tmp:0");
	kr_status(c, "none", "TYPE tmp:0");
	/* expired keys are not listed, whether or not they were removed yet */
	redisReply *r = kr_cmd(c, "KEYS tmp:*");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 0);
	freeReplyObject(r);
	r = kr_cmd(c, "KEYS *");
	static const char *const keep[] = { "keep:0", "keep:1", "keep:2", "keep:3", "keep:4" };
	t_assert_set(r, keep, 5, "KEYS * after expiry");
	freeReplyObject(r);
	/* a full SCAN sees only the kept keys */
	int seen = 0;
	char cursor[32] = "0";
	for (int iter = 0; iter < 10000; iter++) {
		r = kr_cmd(c, "SCAN %s COUNT 3", cursor);
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		cr_assert_eq(r->elements, 2);
		for (size_t j = 0; j < r->element[1]->elements; j++) {
			cr_assert(strncmp(r->element[1]->element[j]->str, "keep:", 5) == 0,
				  "SCAN returned %s", r->element[1]->element[j]->str);
			seen++;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			break;
	}
	cr_assert_str_eq(cursor, "0", "SCAN did not finish");
	cr_assert_geq(seen, 5);
	/* after touching every expired key by lookup, DBSIZE counts only live ones */
	kr_int(c, 0, "EXISTS tmp:0 tmp:1 tmp:2 tmp:3 tmp:4 tmp:5 tmp:6 tmp:7 tmp:8 tmp:9");
	kr_int(c, 5, "DBSIZE");
	kr_int(c, -1, "TTL keep:3");
}

/* ------------------------------------------------------- RENAME COPY */

Test(keys, rename_basics)
{
	t_err_exact(c, "ERR no such key", "RENAME nosuchkey x");
	t_err_exact(c, "ERR no such key", "RENAMENX nosuchkey x");
	t_err_exact(c, "ERR no such key", "RENAME nosuchkey nosuchkey");
	t_err_exact(c, "ERR no such key", "RENAMENX nosuchkey nosuchkey");

	kr_ok(c, "SET {t}a 1");
	kr_ok(c, "RENAME {t}a {t}a");
	kr_int(c, 0, "RENAMENX {t}a {t}a");
	kr_bulk(c, "1", "GET {t}a");

	kr_int(c, 1, "EXPIRE {t}a 100");
	kr_ok(c, "RENAME {t}a {t}b");
	kr_int(c, 0, "EXISTS {t}a");
	kr_bulk(c, "1", "GET {t}b");
	long long ttl = t_intcmd(c, "TTL {t}b");
	cr_assert(ttl >= 99 && ttl <= 100, "ttl kept: %lld", ttl);

	/* RENAME overwrites, and the destination's own TTL goes away with it */
	kr_ok(c, "SET {t}c 2");
	kr_int(c, 1, "EXPIRE {t}c 500");
	kr_ok(c, "SET {t}d 3");
	kr_ok(c, "RENAME {t}d {t}c");
	kr_bulk(c, "3", "GET {t}c");
	kr_int(c, -1, "TTL {t}c");

	/* RENAMENX refuses an existing destination and changes nothing */
	kr_int(c, 0, "RENAMENX {t}b {t}c");
	kr_bulk(c, "1", "GET {t}b");
	kr_bulk(c, "3", "GET {t}c");
	kr_int(c, 1, "RENAMENX {t}b {t}e");
	kr_int(c, 0, "EXISTS {t}b");
	kr_bulk(c, "1", "GET {t}e");
	ttl = t_intcmd(c, "TTL {t}e");
	cr_assert(ttl >= 98 && ttl <= 100, "ttl kept by RENAMENX: %lld", ttl);

	/* values of every string encoding survive */
	kr_ok(c, "SET {t}int 12345");
	kr_ok(c, "RENAME {t}int {t}int2");
	kr_bulk(c, "12345", "GET {t}int2");
	kr_ok(c, "SET {t}raw %s", "a-string-value-longer-than-forty-four-bytes-so-it-is-raw");
	kr_ok(c, "RENAME {t}raw {t}raw2");
	kr_bulk(c, "a-string-value-longer-than-forty-four-bytes-so-it-is-raw", "GET {t}raw2");
}

Test(keys, rename_copy_across_shards)
{
	char a[32], b[32], d[32];
	t_key_on(a, sizeof(a), "a", 0);
	t_key_on(b, sizeof(b), "b", 1);
	t_key_on(d, sizeof(d), "d", 2);
	if (t_nshards() >= 3) {
		cr_assert_neq(t_shard(a), t_shard(b));
		cr_assert_neq(t_shard(b), t_shard(d));
	}

	kr_ok(c, "SET %s hello", a);
	kr_int(c, 1, "EXPIRE %s 100", a);
	kr_ok(c, "RENAME %s %s", a, b);
	kr_int(c, 0, "EXISTS %s", a);
	kr_bulk(c, "hello", "GET %s", b);
	redisReply *r = kr_cmd(c, "TTL %s", b);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert(r->integer >= 99 && r->integer <= 100, "ttl kept: %lld", r->integer);
	freeReplyObject(r);

	kr_ok(c, "SET %s other", d);
	kr_int(c, 0, "RENAMENX %s %s", b, d);
	kr_bulk(c, "hello", "GET %s", b);
	kr_ok(c, "RENAME %s %s", b, d);
	kr_bulk(c, "hello", "GET %s", d);
	kr_int(c, 0, "EXISTS %s", b);
	kr_int(c, 1, "RENAMENX %s %s", d, a);
	kr_bulk(c, "hello", "GET %s", a);
	r = kr_cmd(c, "PTTL %s", a);
	cr_assert(r->integer > 90000 && r->integer <= 100000, "pttl kept: %lld", r->integer);
	freeReplyObject(r);

	/* COPY across shards, with TTL, then REPLACE */
	kr_int(c, 1, "COPY %s %s", a, b);
	kr_bulk(c, "hello", "GET %s", b);
	kr_bulk(c, "hello", "GET %s", a);
	r = kr_cmd(c, "TTL %s", b);
	cr_assert(r->integer >= 98 && r->integer <= 100, "copy ttl: %lld", r->integer);
	freeReplyObject(r);
	kr_ok(c, "SET %s 7", d);
	kr_int(c, 0, "COPY %s %s", d, b);
	kr_bulk(c, "hello", "GET %s", b);
	kr_int(c, 1, "COPY %s %s REPLACE", d, b);
	kr_bulk(c, "7", "GET %s", b);
	kr_int(c, -1, "TTL %s", b);
	kr_int(c, 0, "COPY nosuchkey %s", b);
	t_err_exact(c, "ERR no such key", "RENAME nosuchkey b0");

	/* COPY to another db across shards */
	kr_int(c, 1, "COPY %s %s DB 1", a, d);
	kr_ok(c, "SELECT 1");
	kr_bulk(c, "hello", "GET %s", d);
	kr_int(c, 1, "DBSIZE");
	kr_ok(c, "SELECT 0");
	kr_bulk(c, "7", "GET %s", d);
}

static const struct err_case copy_errors[] = {
	{ "COPY src src", "ERR source and destination objects are the same" },
	{ "COPY src src DB 0", "ERR source and destination objects are the same" },
	{ "COPY src dst DB 16", "ERR DB index is out of range" },
	{ "COPY src dst DB -1", "ERR DB index is out of range" },
	{ "COPY src dst DB x", "ERR value is not an integer or out of range" },
	{ "COPY src dst DB 99999999999",
	  "ERR value is out of range, value must between -2147483648 and 2147483647" },
	{ "COPY src dst DB -2147483649",
	  "ERR value is out of range, value must between -2147483648 and 2147483647" },
	{ "COPY src dst DB 2147483647", "ERR DB index is out of range" },
	{ "COPY src dst DB 99999999999999999999", "ERR value is not an integer or out of range" },
	{ "COPY src dst DB", "ERR syntax error" },
	{ "COPY src dst FOO", "ERR syntax error" },
	{ "COPY src dst REPLACE BAR", "ERR syntax error" },
};

Test(keys, copy_basics)
{
	kr_ok(c, "SET src v1");
	for (size_t i = 0; i < sizeof(copy_errors) / sizeof(copy_errors[0]); i++)
		t_err_exact(c, copy_errors[i].err, copy_errors[i].cmd);
	kr_int(c, 0, "EXISTS dst");

	kr_int(c, 1, "COPY src dst");
	kr_bulk(c, "v1", "GET dst");
	kr_int(c, -1, "TTL dst");
	kr_int(c, 0, "COPY src dst");
	kr_ok(c, "SET src v2");
	kr_int(c, 1, "COPY src dst replace");
	kr_bulk(c, "v2", "GET dst");
	/* the copy is independent of the source */
	kr_ok(c, "SET dst changed");
	kr_bulk(c, "v2", "GET src");

	/* same key, other db */
	kr_int(c, 1, "COPY src src DB 3");
	kr_int(c, 0, "COPY src src DB 3");
	kr_int(c, 1, "COPY src src DB 3 REPLACE");
	kr_int(c, 1, "PEXPIRE src 100000");
	kr_int(c, 1, "COPY src src REPLACE DB 4");
	kr_ok(c, "SELECT 4");
	kr_bulk(c, "v2", "GET src");
	long long pttl = t_intcmd(c, "PTTL src");
	cr_assert(pttl > 90000 && pttl <= 100000, "pttl %lld", pttl);
	kr_ok(c, "SELECT 3");
	kr_bulk(c, "v2", "GET src");
	kr_int(c, -1, "TTL src");
	kr_int(c, 0, "COPY nosuchkey x");
	kr_ok(c, "SELECT 0");
	kr_int(c, 2, "DBSIZE");   /* src and dst */
}

/* ------------------------------------------------------------- KEYS */

Test(keys, keys_patterns)
{
	static const char *const names[] = {
		"hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other", "{t}x",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		kr_ok(c, "SET %s 1", names[i]);

	static const struct {
		const char *pat;
		const char *want[8];
		size_t n;
	} cases[] = {
		{ "*", { "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other", "{t}x" }, 8 },
		{ "h?llo", { "hello", "hallo", "hxllo", "h*llo" }, 4 },
		{ "h*llo", { "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo" }, 6 },
		{ "h[ae]llo", { "hello", "hallo" }, 2 },
		{ "h[^e]llo", { "hallo", "hxllo", "h*llo" }, 3 },
		{ "h[a-b]llo", { "hallo" }, 1 },
		{ "h\\*llo", { "h*llo" }, 1 },
		{ "hello", { "hello" }, 1 },
		{ "HELLO", { NULL }, 0 },
		{ "nomatch*", { NULL }, 0 },
		{ "{t}*", { "{t}x" }, 1 },
		{ "*o*", { "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other" }, 7 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *r = kr_cmd(c, "KEYS %s", cases[i].pat);
		t_assert_set(r, cases[i].want, cases[i].n, cases[i].pat);
		freeReplyObject(r);
	}
}

/* Redis 7.0's glob (stringmatchlen), checked against redis-server 7.0.15:
 * an empty key matches only the empty pattern, though KEYS and the SCAN
 * family treat the pattern "*" alone as "everything"; in a set, '-' with a
 * byte after it is a range even when that byte is ']'. */
Test(keys, glob_edges)
{
	static const char *const names[] = { "", "a", "b", "-", "]", "`", "A", "\\" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		kr_ok(c, "SET %b 1", names[i], strlen(names[i]));
	static const struct {
		const char *line, *want;
	} cases[] = {
		{ "KEYS *", ",-,A,\\,],`,a,b" },
		{ "KEYS **", "-,A,\\,],`,a,b" },
		{ "KEYS ?*", "-,A,\\,],`,a,b" },
		{ "KEYS *?", "-,A,\\,],`,a,b" },
		{ "KEYS ''", "" },                 /* one key: "" */
		{ "KEYS [a-]", "],`,a" },           /* ']'..'a', set left open */
		{ "KEYS [a-]]", "],`,a" },
		{ "KEYS [--]", "-,A,\\,]" },      /* '-'..']' */
		{ "KEYS [^a-]", "-,A,\\,b" },
		{ "KEYS [-a]", "-,a" },
		{ "KEYS [a-", "-,a" },
		{ "KEYS [\\-a]", "-,a" },         /* escaped '-': no range */
		{ "KEYS [a-\\]", "\\,],`,a" },
		{ "KEYS [Z-a]", "\\,],`,a" },
		{ "KEYS [", "" },
		{ "KEYS [^", "-,A,\\,],`,a,b" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *r = kr_words(c, cases[i].line);
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", cases[i].line);
		char *got = kr_sorted_elements(r);
		/* "KEYS ''" lists one empty name; "KEYS [" none: both render "" */
		if (!strcmp(cases[i].line, "KEYS ''"))
			cr_assert_eq(r->elements, 1);
		if (!strcmp(cases[i].line, "KEYS ["))
			cr_assert_eq(r->elements, 0);
		cr_assert_str_eq(got, cases[i].want, "%s", cases[i].line);
		free(got);
		freeReplyObject(r);
	}

	/* SCAN, HSCAN, SSCAN, ZSCAN: MATCH * lists "", MATCH ** does not */
	kr_int(c, 2, "HSET {t}h %b v a v", "", (size_t)0);
	kr_int(c, 2, "SADD {t}s %b a", "", (size_t)0);
	kr_int(c, 2, "ZADD {t}z 1 %b 2 a", "", (size_t)0);
	static const struct {
		const char *cmd, *key;         /* key NULL: SCAN */
		size_t all, starstar;
	} scans[] = {
		{ "SCAN", NULL, 11, 10 },            /* 8 strings, h, s, z */
		{ "HSCAN", "{t}h", 4, 2 },           /* field/value pairs */
		{ "SSCAN", "{t}s", 2, 1 },
		{ "ZSCAN", "{t}z", 4, 2 },
	};
	for (size_t i = 0; i < sizeof(scans) / sizeof(scans[0]); i++) {
		for (int pass = 0; pass < 2; pass++) {
			const char *pat = pass ? "**" : "*";
			size_t n = 0;
			char cursor[32] = "0";
			do {
				redisReply *r;
				if (scans[i].key)
					r = kr_cmd(c, "%s %s %s MATCH %s COUNT 1000", scans[i].cmd,
						   scans[i].key, cursor, pat);
				else
					r = kr_cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
				cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", scans[i].cmd);
				cr_assert_eq(r->elements, 2);
				n += r->element[1]->elements;
				snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
				freeReplyObject(r);
			} while (strcmp(cursor, "0") != 0);
			cr_assert_eq(n, pass ? scans[i].starstar : scans[i].all, "%s MATCH %s",
				     scans[i].cmd, pat);
		}
	}
}

/* ------------------------------------------------------------- SCAN */

/* Run a full SCAN with extra options; mark seen[i] for "key:<i>", and count
 * replies naming anything else into *foreign. Returns the number of calls. */
static int t_full_scan(const char *opts, bool *seen, int n, int *foreign)
{
	char cursor[32] = "0";
	int calls = 0;
	*foreign = 0;
	do {
		cr_assert_lt(calls, 100000, "SCAN does not terminate");
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "SCAN %s %s", cursor, opts);
		redisReply *r = kr_cmd(c, cmd);
		calls++;
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", cmd);
		cr_assert_eq(r->elements, 2);
		cr_assert_eq(r->element[0]->type, REDIS_REPLY_STRING);
		cr_assert_eq(r->element[1]->type, REDIS_REPLY_ARRAY);
		for (size_t j = 0; j < r->element[1]->elements; j++) {
			const char *k = r->element[1]->element[j]->str;
			char *end;
			if (strncmp(k, "key:", 4) == 0) {
				long v = strtol(k + 4, &end, 10);
				if (*end == '\0' && v >= 0 && v < n) {
					seen[v] = true;
					continue;
				}
			}
			(*foreign)++;
		}
		cr_assert_lt(strlen(r->element[0]->str), sizeof(cursor));
		strcpy(cursor, r->element[0]->str);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return calls;
}

Test(keys, scan_full_iteration)
{
	enum { N = 1000 };
	static bool seen[N];
	int foreign;
	t_populate(c, "key:", N);
	kr_ok(c, "SET other 1");

	static const char *const all_opts[] = { "", "COUNT 1", "COUNT 100", "count 5000",
						"TYPE string", "type STRING COUNT 7" };
	for (size_t o = 0; o < sizeof(all_opts) / sizeof(all_opts[0]); o++) {
		memset(seen, 0, sizeof(seen));
		t_full_scan(all_opts[o], seen, N, &foreign);
		for (int i = 0; i < N; i++)
			cr_assert(seen[i], "SCAN %s missed key:%d", all_opts[o], i);
		cr_assert_eq(foreign, 1, "SCAN %s: 'other' once (got %d)", all_opts[o], foreign);
	}

	/* MATCH key:1* = key:1, key:10..19, key:100..199 */
	static const char *const match_opts[] = { "MATCH key:1*", "MATCH key:1* COUNT 50",
						  "COUNT 3 MATCH key:1* TYPE string" };
	for (size_t o = 0; o < sizeof(match_opts) / sizeof(match_opts[0]); o++) {
		memset(seen, 0, sizeof(seen));
		t_full_scan(match_opts[o], seen, N, &foreign);
		cr_assert_eq(foreign, 0);
		for (int i = 0; i < N; i++) {
			bool want = i == 1 || (i >= 10 && i <= 19) || (i >= 100 && i <= 199);
			cr_assert_eq(seen[i], want, "SCAN %s key:%d", match_opts[o], i);
		}
	}

	/* types that match nothing (an unknown type name is not an error) */
	static const char *const none_opts[] = { "TYPE list", "TYPE hash COUNT 100",
						 "TYPE nosuchtype", "MATCH nomatch*" };
	for (size_t o = 0; o < sizeof(none_opts) / sizeof(none_opts[0]); o++) {
		memset(seen, 0, sizeof(seen));
		t_full_scan(none_opts[o], seen, N, &foreign);
		cr_assert_eq(foreign, 0);
		for (int i = 0; i < N; i++)
			cr_assert(!seen[i], "SCAN %s returned key:%d", none_opts[o], i);
	}
}

Test(keys, scan_empty_and_errors)
{
	redisReply *r = kr_cmd(c, "SCAN 0");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2);
	/* an empty db may take one call per shard; the keys are always none */
	cr_assert_eq(r->element[1]->elements, 0);
	freeReplyObject(r);

	static const struct err_case errs[] = {
		{ "SCAN abc", "ERR invalid cursor" },
		{ "SCAN 1x", "ERR invalid cursor" },
		{ "SCAN 99999999999999999999", "ERR invalid cursor" },
		{ "SCAN 0 COUNT 0", "ERR syntax error" },
		{ "SCAN 0 COUNT -5", "ERR syntax error" },
		{ "SCAN 0 COUNT x", "ERR value is not an integer or out of range" },
		{ "SCAN 0 COUNT", "ERR syntax error" },
		{ "SCAN 0 MATCH", "ERR syntax error" },
		{ "SCAN 0 FOO bar", "ERR syntax error" },
		{ "SCAN 0 COUNT 10 TYPE", "ERR syntax error" },
		/* the cursor is checked before the options */
		{ "SCAN abc COUNT 0", "ERR invalid cursor" },
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		t_err_exact(c, errs[i].err, errs[i].cmd);

	/* Redis parses the cursor with strtoul: an empty one is cursor 0 */
	const char *eargv[] = { "SCAN", "" };
	size_t elens[] = { 4, 0 };
	r = kr_cmdv(c, 2, eargv, elens);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2);
	freeReplyObject(r);

	/* a cursor with leading whitespace is invalid */
	const char *argv[] = { "SCAN", " 1" };
	size_t lens[] = { 4, 2 };
	r = kr_cmdv(c, 2, argv, lens);
	cr_assert_eq(r->type, REDIS_REPLY_ERROR);
	cr_assert_str_eq(r->str, "ERR invalid cursor");
	freeReplyObject(r);
}

/* --------------------------------- RANDOMKEY DBSIZE FLUSH* SWAPDB SELECT */

Test(keys, randomkey)
{
	kr_nil(c, "RANDOMKEY");
	static const char *const names[] = { "r0", "r1", "r2", "r3", "r4", "r5" };
	for (size_t i = 0; i < 6; i++)
		kr_ok(c, "SET %s x", names[i]);
	for (int n = 0; n < 50; n++) {
		redisReply *r = kr_cmd(c, "RANDOMKEY");
		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		bool ok = false;
		for (size_t i = 0; i < 6; i++)
			ok = ok || strcmp(r->str, names[i]) == 0;
		cr_assert(ok, "RANDOMKEY returned %s", r->str);
		freeReplyObject(r);
	}
	kr_int(c, 6, "DEL r0 r1 r2 r3 r4 r5");
	kr_nil(c, "RANDOMKEY");
}

Test(keys, flush_and_dbsize)
{
	kr_int(c, 0, "DBSIZE");
	t_populate(c, "f:", 30);
	kr_int(c, 30, "DBSIZE");
	kr_ok(c, "SELECT 2");
	t_populate(c, "g:", 7);
	kr_int(c, 7, "DBSIZE");

	static const struct err_case errs[] = {
		{ "FLUSHDB foo", "ERR syntax error" },
		{ "FLUSHDB ASYNC SYNC", "ERR syntax error" },
		{ "FLUSHALL bar", "ERR syntax error" },
		{ "FLUSHALL sync async", "ERR syntax error" },
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		t_err_exact(c, errs[i].err, errs[i].cmd);
	kr_int(c, 7, "DBSIZE");

	kr_ok(c, "FLUSHDB");
	kr_int(c, 0, "DBSIZE");
	kr_ok(c, "SELECT 0");
	kr_int(c, 30, "DBSIZE");
	kr_ok(c, "FLUSHDB async");
	kr_int(c, 0, "DBSIZE");

	t_populate(c, "f:", 10);
	kr_ok(c, "SELECT 5");
	t_populate(c, "h:", 10);
	kr_ok(c, "FLUSHALL SYNC");
	kr_int(c, 0, "DBSIZE");
	kr_ok(c, "SELECT 0");
	kr_int(c, 0, "DBSIZE");
	kr_nil(c, "GET f:3");
	t_populate(c, "f:", 3);
	kr_ok(c, "FLUSHALL ASYNC");
	kr_int(c, 0, "DBSIZE");
	kr_ok(c, "FLUSHALL");
}

Test(keys, swapdb)
{
	redisContext *c1 = kr_connect(&srv);
	kr_ok(c1, "SELECT 1");

	t_populate(c, "x:", 12);            /* db 0: 12 keys across shards */
	kr_ok(c1, "SET only1 yes");         /* db 1: 1 key */
	kr_ok(c1, "SET x:0 db1");

	kr_ok(c, "SWAPDB 0 1");
	/* both clients keep their db index and see the other contents */
	kr_int(c, 2, "DBSIZE");
	kr_bulk(c, "db1", "GET x:0");
	kr_bulk(c, "yes", "GET only1");
	kr_int(c1, 12, "DBSIZE");
	kr_bulk(c1, "v0", "GET x:0");
	kr_nil(c1, "GET only1");

	kr_ok(c, "SWAPDB 1 1");
	kr_int(c1, 12, "DBSIZE");
	kr_ok(c, "swapdb 1 0");
	kr_int(c, 12, "DBSIZE");
	kr_int(c1, 2, "DBSIZE");

	/* FLUSHDB in one db leaves the other */
	kr_ok(c1, "FLUSHDB");
	kr_int(c1, 0, "DBSIZE");
	kr_int(c, 12, "DBSIZE");

	/* TTLs move with the db */
	kr_int(c, 1, "EXPIRE x:1 100");
	kr_ok(c, "SWAPDB 0 7");
	kr_ok(c, "SELECT 7");
	long long ttl = t_intcmd(c, "TTL x:1");
	cr_assert(ttl >= 99 && ttl <= 100, "ttl %lld", ttl);

	static const struct err_case errs[] = {
		{ "SWAPDB x 1", "ERR invalid first DB index" },
		{ "SWAPDB 0 y", "ERR invalid second DB index" },
		{ "SWAPDB x y", "ERR invalid first DB index" },
		{ "SWAPDB 0 99999999999", "ERR invalid second DB index" },
		{ "SWAPDB 0 16", "ERR DB index is out of range" },
		{ "SWAPDB -1 0", "ERR DB index is out of range" },
		{ "SWAPDB 16 16", "ERR DB index is out of range" },
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		t_err_exact(c, errs[i].err, errs[i].cmd);
	kr_int(c, 12, "DBSIZE");
	redisFree(c1);
}

/* ------------------------------------------------------------ OBJECT */

Test(keys, object)
{
	static const struct {
		const char *val;
		const char *enc;
		long long refcount;
	} cases[] = {
		{ "0", "int", 2147483647LL },
		{ "9999", "int", 2147483647LL },
		{ "10000", "int", 1 },
		{ "-1", "int", 1 },
		{ "12345678901234", "int", 1 },
		{ "hello", "embstr", 1 },
		{ "01", "embstr", 1 },
		{ "", "embstr", 1 },
		{ "12345678901234567890123456789012345678901234", "embstr", 1 },  /* 44 */
		{ "123456789012345678901234567890123456789012345", "raw", 1 },    /* 45 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kr_ok(c, "SET o %s", cases[i].val);
		kr_bulk(c, cases[i].enc, "OBJECT ENCODING o");
		kr_int(c, cases[i].refcount, "OBJECT REFCOUNT o");
	}
	kr_bulk(c, "raw", "object encoding o");

	kr_nil(c, "OBJECT ENCODING nosuchkey");
	kr_nil(c, "OBJECT REFCOUNT nosuchkey");
	kr_nil(c, "OBJECT IDLETIME nosuchkey");
	kr_nil(c, "OBJECT FREQ nosuchkey");
	t_err_exact(c, "ERR An LFU maxmemory policy is not selected, access frequency not "
		    "tracked. Please note that when switching between policies at runtime "
		    "LRU and LFU data will take some time to adjust.", "OBJECT FREQ o");

	long long idle = t_intcmd(c, "OBJECT IDLETIME o");
	cr_assert(idle >= 0 && idle < 100, "idle %lld", idle);

	redisReply *r = kr_cmd(c, "OBJECT HELP");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 15);
	for (size_t i = 0; i < r->elements; i++)
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_STATUS);
	cr_assert_str_eq(r->element[0]->str,
			 "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
	cr_assert_str_eq(r->element[1]->str, "ENCODING <key>");
	cr_assert_str_eq(r->element[7]->str, "IDLETIME <key>");
	cr_assert_str_eq(r->element[13]->str, "HELP");
	cr_assert_str_eq(r->element[14]->str, "    Prints this help.");
	freeReplyObject(r);

	t_err_exact(c, "ERR unknown subcommand 'foo'. Try OBJECT HELP.", "OBJECT foo");
	t_err_exact(c, "ERR wrong number of arguments for 'object|encoding' command",
		    "OBJECT ENCODING");
}
