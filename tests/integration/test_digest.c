/* Integration tests of DEBUG DIGEST and DEBUG DIGEST-VALUE (shards/digest.c).
 *
 * Suite `digest`: one server. Digests of fixed datasets against values
 * taken from redis-server 7.0.15 (so the file checks the algorithm even
 * without a reference server), and the properties the digest promises:
 * insertion order of set/hash/zset elements does not matter, list order
 * does; one changed element, key name, db or expiry flag changes it; the
 * encoding a value happens to be in does not; DIGEST-VALUE of several keys
 * spread over shards comes back in request order; reply shapes (RESP2 and
 * RESP3), MULTI, error texts.
 *
 * Suite `digest_vs_redis`: the same dataset built in the server under test
 * and in a real redis-server started by the test ($KR_REDIS_SERVER,
 * default Debian's /usr/bin/redis-server) must give the same DEBUG DIGEST
 * and DIGEST-VALUEs: every type, every encoding keyrail has (checked with
 * OBJECT ENCODING on keyrail: Redis 7.0's own encodings differ), integers
 * held as integers, HLL strings, -0/inf scores, empty strings, several
 * dbs, expiries, and a deterministic random workload.
 *
 * The file runs against Redis itself too (KR_SERVER_KIND=redis): then both
 * servers are Redis and only keyrail's encoding checks are skipped. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"
#include "tests/integration/repl_util.h"

#define ZEROS "0000000000000000000000000000000000000000"

static struct kr_srv srv, ref;
static redisContext *c, *rc;

static void setup(void) { kr_srv_start_client(&srv, &c, NULL); }

static void setup_diff(void)
{
	setup();
	kr_srv_start_redis(&ref, NULL);
	rc = kr_connect(&ref);
}

static void teardown(void) { kr_srv_stop_client(&srv, &c); }

static void teardown_diff(void)
{
	redisFree(rc);
	rc = NULL;
	kr_srv_stop(&ref);
	teardown();
}

TestSuite(digest, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(digest_vs_redis, .init = setup_diff, .fini = teardown_diff, .timeout = 180);

/* ------------------------------------------------------------ helpers */

static void assert_hex40(const redisReply *r, const char *what)
{
	cr_assert(r->type == REDIS_REPLY_STATUS, "%s: reply type %d (%.200s)", what, r->type,
		  r->str ? r->str : "");
	cr_assert(r->len == 40, "%s: %zu characters: %s", what, (size_t)r->len, r->str);
	for (size_t i = 0; i < 40; i++)
		cr_assert(strchr("0123456789abcdef", r->str[i]) != NULL, "%s: not hex: %s", what, r->str);
}

/* DEBUG DIGEST-VALUE key (one key) of ctx into out (41 bytes). */
static void vdigest_of(redisContext *ctx, const char *key, char *out)
{
	redisReply *r = kr_cmd(ctx, "DEBUG DIGEST-VALUE %s", key);
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "DIGEST-VALUE %s: type %d",
		  key, r->type);
	assert_hex40(r->element[0], key);
	memcpy(out, r->element[0]->str, 41);
	freeReplyObject(r);
}

static void expect_digest(redisContext *ctx, const char *want)
{
	char d[41];
	ru_digest(ctx, d);
	cr_assert_str_eq(d, want, "DEBUG DIGEST");
}

static void expect_vdigest(redisContext *ctx, const char *key, const char *want)
{
	char d[41];
	vdigest_of(ctx, key, d);
	cr_assert_str_eq(d, want, "DEBUG DIGEST-VALUE %s", key);
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *line = NULL;
	cr_assert(vasprintf(&line, fmt, ap) >= 0);
	return line;
}

/* Run a space-separated command (kr_words) on ctx; assert it did not fail. */
static void run(redisContext *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void run(redisContext *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = vfmt(fmt, ap);
	va_end(ap);
	redisReply *r = kr_words(ctx, line);
	cr_assert(r->type != REDIS_REPLY_ERROR, "%.200s: %s", line, r->str);
	freeReplyObject(r);
	free(line);
}

/* Run one command (argv form) once on each server: the replies must be
 * the same and not an error. */
static void both_argv(int argc, const char **argv, const size_t *lens)
{
	redisReply *ra = kr_cmdv(c, argc, argv, lens), *rb = kr_cmdv(rc, argc, argv, lens);
	struct kr_sb sa = { 0 }, sb = { 0 };
	kr_render(&sa, ra);
	kr_render(&sb, rb);
	cr_assert(ra->type != REDIS_REPLY_ERROR, "%s %.*s ...: %s", argv[0],
		  argc > 1 ? (int)lens[1] : 0, argc > 1 ? argv[1] : "", sa.s);
	cr_assert(strcmp(sa.s, sb.s) == 0, "%s %.*s ...\n  server: %.300s\n  redis:  %.300s",
		  argv[0], argc > 1 ? (int)lens[1] : 0, argc > 1 ? argv[1] : "", sa.s, sb.s);
	freeReplyObject(ra);
	freeReplyObject(rb);
	free(sa.s);
	free(sb.s);
}

/* The same space-separated command (kr_words rules: '' is an empty word)
 * once on each server, as both_argv. */
static void both(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void both(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = vfmt(fmt, ap);
	va_end(ap);
	size_t n = strlen(line), maxw = 1;
	for (size_t i = 0; i < n; i++)
		maxw += line[i] == ' ';
	const char **argv = malloc(maxw * sizeof(*argv));
	size_t *lens = malloc(maxw * sizeof(*lens));
	cr_assert(argv && lens);
	int argc = 0;
	char *save = NULL;
	for (char *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "''") == 0)
			w[0] = '\0';
		argv[argc] = w;
		lens[argc++] = strlen(w);
	}
	both_argv(argc, argv, lens);
	free(argv);
	free(lens);
	free(line);
}

/* Argument i of a generated command (malloc'd, *len set). */
typedef char *arg_fn(int i, size_t *len);

/* "cmd key arg(0) ... arg(n-1)" to both servers. */
static void both_many(const char *cmd, const char *key, int n, arg_fn *arg)
{
	const char **argv = malloc(sizeof(char *) * (size_t)(n + 2));
	size_t *lens = malloc(sizeof(size_t) * (size_t)(n + 2));
	cr_assert(argv && lens);
	argv[0] = cmd;
	lens[0] = strlen(cmd);
	argv[1] = key;
	lens[1] = strlen(key);
	for (int i = 0; i < n; i++)
		argv[i + 2] = arg(i, &lens[i + 2]);
	both_argv(n + 2, argv, lens);
	for (int i = 0; i < n; i++)
		free((char *)argv[i + 2]);
	free(argv);
	free(lens);
}

static char *fmt_arg(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *fmt_arg(size_t *len, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0);
	*len = (size_t)n;
	return s;
}

/* Both servers give the same DEBUG DIGEST (returned in out, 41 bytes). */
static void same_digest(char *out)
{
	char a[41], b[41];
	ru_digest(c, a);
	ru_digest(rc, b);
	cr_assert_str_eq(a, b, "DEBUG DIGEST: server %s, redis %s", a, b);
	if (out)
		memcpy(out, a, 41);
}

/* Both servers give the same DIGEST-VALUE for every key (in the current
 * db), and it is not the missing key's zeros. */
static void same_values(const char *const *keys, int n)
{
	for (int i = 0; i < n; i++) {
		char a[41], b[41];
		vdigest_of(c, keys[i], a);
		vdigest_of(rc, keys[i], b);
		cr_assert_str_eq(a, b, "DIGEST-VALUE %s: server %s, redis %s", keys[i], a, b);
		cr_assert_str_neq(a, ZEROS, "DIGEST-VALUE %s: key missing", keys[i]);
	}
}

/* keyrail only: Redis 7.0 encodes lists and small sets differently. */
static void kr_encoding(const char *key, const char *enc)
{
	if (!srv.is_redis)
		kr_expect_encoding(c, key, enc);
}

/* ------------------------------------------- fixed values from Redis */

/* Digests computed by redis-server 7.0.15 for these commands. */
Test(digest, empty_dataset_is_zeros)
{
	expect_digest(c, ZEROS);
	kr_expect_render(c, "DEBUG DIGEST-VALUE nokey other", "*2[+" ZEROS ",+" ZEROS "]");
	kr_expect_render(c, "DEBUG DIGEST-VALUE", "*0[]");
	/* A db emptied again counts as empty. */
	kr_ok(c, "SELECT 4");
	kr_ok(c, "SET k v");
	kr_int(c, 1, "DEL k");
	expect_digest(c, ZEROS);
}

Test(digest, known_values)
{
	/* The same key and value: the db number is mixed in, and each
	 * non-empty db once. */
	kr_ok(c, "SELECT 3");
	kr_ok(c, "SET a hello");
	expect_digest(c, "53088dfe7c6b00536c55b0493a5a7e370772d954");
	expect_vdigest(c, "a", "36b23a1456b2dce2c3ed252c456761301dba8060");
	kr_ok(c, "SELECT 0");
	kr_ok(c, "SET a hello");
	expect_digest(c, "b39fa6ae2d92071f0a9f0673e0efb1e08d4be490");
	kr_ok(c, "FLUSHALL");
	kr_ok(c, "SET a hello");
	expect_digest(c, "7bba0c6c0ba7cf343554878a513cce31a28c4abb");
	expect_vdigest(c, "a", "36b23a1456b2dce2c3ed252c456761301dba8060");
	kr_ok(c, "FLUSHALL");

	kr_int(c, 3, "RPUSH l a 1 b");
	kr_int(c, 2, "SADD s x 2");
	kr_int(c, 2, "ZADD z 1.5 m -0 n");
	kr_int(c, 2, "HSET h f v n 7");
	kr_ok(c, "SET e v");
	kr_int(c, 1, "EXPIRE e 1000");
	kr_ok(c, "SELECT 3");
	kr_ok(c, "SET a hello");
	kr_ok(c, "SELECT 0");
	expect_vdigest(c, "l", "d5f44352f6226abea9252dad248ef5de0d964396");
	expect_vdigest(c, "s", "7904f640014061fb37c6855115964bd3eaaed924");
	expect_vdigest(c, "z", "ca9c67805ef1be8cad5c9d659ad89015664330a0");
	expect_vdigest(c, "h", "4f27ca621cb2752866d01527a40541bd50df9e80");
	expect_vdigest(c, "e", "311b17018163335616e089f6b951c82c477335ac");
	expect_digest(c, "6de9dce539ecdaa02b68e10415c1abf2fd2854fc");
}

/* ------------------------------------------------------- properties */

Test(digest, element_order)
{
	char a[41], b[41];

	/* Sets, hashes and zsets: insertion order does not matter, in any
	 * encoding. */
	kr_int(c, 5, "SADD s1 a b c 1 2");
	kr_int(c, 5, "SADD s2 2 1 c b a");
	kr_int(c, 3, "SADD i1 1 2 3");
	kr_int(c, 3, "SADD i2 3 1 2");
	kr_int(c, 3, "HSET h1 f1 v1 f2 v2 f3 3");
	kr_int(c, 3, "HSET h2 f3 3 f2 v2 f1 v1");
	kr_int(c, 3, "ZADD z1 1 a 2 b 3 c");
	kr_int(c, 3, "ZADD z2 3 c 1 a 2 b");
	for (int i = 0; i < 300; i++) {
		kr_int(c, 1, "SADD S1 m%d", i);
		kr_int(c, 1, "SADD S2 m%d", 299 - i);
		kr_int(c, 1, "HSET H1 f%d %d", i, i * 7);
		kr_int(c, 1, "HSET H2 f%d %d", 299 - i, (299 - i) * 7);
		kr_int(c, 1, "ZADD Z1 %d.5 m%d", i % 17, i);
		kr_int(c, 1, "ZADD Z2 %d.5 m%d", (299 - i) % 17, 299 - i);
	}
	kr_encoding("S1", "hashtable");
	kr_encoding("H1", "hashtable");
	kr_encoding("Z1", "skiplist");
	const char *pairs[][2] = { { "s1", "s2" }, { "i1", "i2" }, { "h1", "h2" }, { "z1", "z2" },
				   { "S1", "S2" }, { "H1", "H2" }, { "Z1", "Z2" } };
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		vdigest_of(c, pairs[i][0], a);
		vdigest_of(c, pairs[i][1], b);
		cr_assert_str_eq(a, b, "%s vs %s", pairs[i][0], pairs[i][1]);
		cr_assert_str_neq(a, ZEROS);
	}
	/* Lists: order matters. */
	kr_int(c, 3, "RPUSH l1 a b c");
	kr_int(c, 3, "RPUSH l2 c b a");
	kr_int(c, 3, "LPUSH l3 c b a");
	vdigest_of(c, "l1", a);
	vdigest_of(c, "l2", b);
	cr_assert_str_neq(a, b);
	vdigest_of(c, "l3", b);
	cr_assert_str_eq(a, b);
}

/* Changing one element of each type changes the dataset digest; putting it
 * back restores it. */
Test(digest, one_change_changes_digest)
{
	static const struct {
		const char *change, *undo;
	} steps[] = {
		{ "SETRANGE str 3 X", "SETRANGE str 3 d" },
		{ "INCR num", "DECR num" },
		{ "LSET list 1 B", "LSET list 1 b" },
		{ "LSET biglist 500 x", "LSET biglist 500 e500" },
		{ "SREM set b", "SADD set b" },
		{ "SADD set bb", "SREM set bb" },
		{ "SADD iset 4", "SREM iset 4" },
		{ "ZADD zset 2.5 b", "ZADD zset 2 b" },
		{ "ZADD zset 2 bb", "ZREM zset bb" },
		{ "ZADD bigzset 99 m7", "ZADD bigzset 7 m7" },
		{ "HSET hash f2 V2", "HSET hash f2 v2" },
		{ "HSET bighash f7 x", "HSET bighash f7 7" },
		{ "EXPIRE str 100", "PERSIST str" },
		{ "RENAME str str2", "RENAME str2 str" },
	};
	char before[41], after[41], back[41];

	kr_ok(c, "SET str abcdef");
	kr_ok(c, "SET num 41");
	kr_int(c, 3, "RPUSH list a b c");
	kr_int(c, 3, "SADD set a b c");
	kr_int(c, 3, "SADD iset 1 2 3");
	kr_int(c, 3, "ZADD zset 1 a 2 b 3 c");
	kr_int(c, 3, "HSET hash f1 v1 f2 v2 f3 v3");
	for (int i = 0; i < 1000; i++)
		kr_int(c, i + 1, "RPUSH biglist e%d", i);
	for (int i = 0; i < 200; i++) {
		kr_int(c, 1, "ZADD bigzset %d m%d", i, i);
		kr_int(c, 1, "HSET bighash f%d %d", i, i);
	}
	ru_digest(c, before);
	cr_assert_str_neq(before, ZEROS);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run(c, "%s", steps[i].change);
		ru_digest(c, after);
		cr_assert_str_neq(after, before, "%s left the digest unchanged", steps[i].change);
		run(c, "%s", steps[i].undo);
		ru_digest(c, back);
		cr_assert_str_eq(back, before, "%s then %s", steps[i].change, steps[i].undo);
	}
}

/* The expiry is a flag: any TTL gives the same digest, none gives the
 * plain one. */
Test(digest, expiry_flag)
{
	char plain[41], ttl1[41], ttl2[41], d1[41], d2[41];

	kr_int(c, 2, "HSET h a 1 b 2");
	vdigest_of(c, "h", plain);
	ru_digest(c, d1);
	kr_int(c, 1, "EXPIRE h 1000");
	vdigest_of(c, "h", ttl1);
	cr_assert_str_neq(ttl1, plain);
	ru_digest(c, d2);
	cr_assert_str_neq(d2, d1);
	kr_int(c, 1, "PEXPIREAT h 99999999999999");
	vdigest_of(c, "h", ttl2);
	cr_assert_str_eq(ttl2, ttl1);
	kr_int(c, 1, "PERSIST h");
	expect_vdigest(c, "h", plain);
	expect_digest(c, d1);
}

/* A logically expired key that is still stored counts, as in Redis (a
 * replica keeps such keys until its master deletes them). */
Test(digest, expired_but_present_key_counts)
{
	char d[41];

	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 0");
	kr_ok(c, "SET gone v");
	kr_int(c, 1, "PEXPIRE gone 1");
	kr_sleep_ms(20);
	expect_vdigest(c, "gone", "311b17018163335616e089f6b951c82c477335ac");
	ru_digest(c, d);
	cr_assert_str_neq(d, ZEROS);
	kr_nil(c, "GET gone");   /* the lookup removes it */
	expect_vdigest(c, "gone", ZEROS);
	expect_digest(c, ZEROS);
	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 1");
}

/* Key names and dbs count in DEBUG DIGEST, not in DIGEST-VALUE. */
Test(digest, key_name_and_db)
{
	char a[41], b[41], va[41], vb[41];

	kr_int(c, 2, "RPUSH k1 x y");
	ru_digest(c, a);
	vdigest_of(c, "k1", va);
	kr_ok(c, "RENAME k1 k2");
	ru_digest(c, b);
	vdigest_of(c, "k2", vb);
	cr_assert_str_neq(a, b);
	cr_assert_str_eq(va, vb);
	kr_int(c, 1, "DEL k2");
	kr_ok(c, "SELECT 1");
	kr_int(c, 2, "RPUSH k1 x y");
	ru_digest(c, b);
	cr_assert_str_neq(a, b);
	expect_vdigest(c, "k1", va);
	/* Same keys in two dbs: different from either alone. */
	kr_ok(c, "SELECT 0");
	kr_int(c, 2, "RPUSH k1 x y");
	char both_dbs[41];
	ru_digest(c, both_dbs);
	cr_assert_str_neq(both_dbs, a);
	cr_assert_str_neq(both_dbs, b);
	/* The type counts: the same text as a string and as a list. */
	kr_ok(c, "SET s x");
	kr_int(c, 1, "RPUSH l x");
	vdigest_of(c, "s", va);
	vdigest_of(c, "l", vb);
	cr_assert_str_neq(va, vb);
}

/* The same contents in different encodings digest the same. */
Test(digest, encoding_does_not_matter)
{
	char a[41], b[41];

	/* set: intset vs listpack/hashtable with the same members */
	kr_int(c, 3, "SADD s1 1 2 3");
	kr_int(c, 4, "SADD s2 1 2 3 x");
	kr_int(c, 1, "SREM s2 x");
	kr_encoding("s1", "intset");
	kr_encoding("s2", "listpack");
	vdigest_of(c, "s1", a);
	vdigest_of(c, "s2", b);
	cr_assert_str_eq(a, b, "set");
	for (int i = 0; i < 200; i++)
		kr_int(c, 1, "SADD s3 pad%d", i);
	kr_int(c, 3, "SADD s3 1 2 3");
	for (int i = 0; i < 200; i++)
		kr_int(c, 1, "SREM s3 pad%d", i);
	kr_encoding("s3", "hashtable");
	vdigest_of(c, "s3", b);
	cr_assert_str_eq(a, b, "set hashtable");

	/* hash: listpack vs hashtable */
	kr_int(c, 2, "HSET h1 f 1 g two");
	kr_int(c, 3, "HSET h2 f 1 g two long%0100d x", 0);
	kr_int(c, 1, "HDEL h2 long%0100d", 0);
	kr_encoding("h1", "listpack");
	kr_encoding("h2", "hashtable");
	vdigest_of(c, "h1", a);
	vdigest_of(c, "h2", b);
	cr_assert_str_eq(a, b, "hash");

	/* zset: listpack vs skiplist */
	kr_int(c, 3, "ZADD z1 1 a 2.5 b -inf c");
	kr_int(c, 4, "ZADD z2 1 a 2.5 b -inf c 0 m%0100d", 0);
	kr_int(c, 1, "ZREM z2 m%0100d", 0);
	kr_encoding("z1", "listpack");
	kr_encoding("z2", "skiplist");
	vdigest_of(c, "z1", a);
	vdigest_of(c, "z2", b);
	cr_assert_str_eq(a, b, "zset");

	/* list: listpack vs quicklist */
	kr_int(c, 3, "RPUSH l1 a 1 b");
	kr_int(c, 4, "RPUSH l2 a 1 b %09000d", 0);
	kr_encoding("l2", "quicklist");
	run(c, "RPOP l2");
	kr_encoding("l1", "listpack");
	vdigest_of(c, "l1", a);
	vdigest_of(c, "l2", b);
	cr_assert_str_eq(a, b, "list");

	/* string: int vs embstr vs raw holding the same text */
	kr_ok(c, "SET n1 12345");
	kr_ok(c, "SET n2 12");
	kr_int(c, 5, "APPEND n2 345");
	kr_encoding("n1", "int");
	kr_encoding("n2", "raw");
	vdigest_of(c, "n1", a);
	vdigest_of(c, "n2", b);
	cr_assert_str_eq(a, b, "string");
}

/* DIGEST-VALUE replies in request order, whichever shards hold the keys,
 * with zeros for missing keys and repeats answered each time. */
Test(digest, value_order_across_shards)
{
	char k[3][32], want[3][41];
	for (unsigned s = 0; s < 3; s++) {
		kr_key_on_shard(k[s], sizeof(k[s]), "dv", s, 0);
		run(c, "RPUSH %s item%u", k[s], s);
		vdigest_of(c, k[s], want[s]);
	}
	cr_assert_str_neq(want[0], want[1]);
	redisReply *r = kr_cmd(c, "DEBUG DIGEST-VALUE %s %s nokey %s %s %s", k[2], k[0], k[1], k[2], k[0]);
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 6);
	const char *exp[6] = { want[2], want[0], ZEROS, want[1], want[2], want[0] };
	for (int i = 0; i < 6; i++) {
		assert_hex40(r->element[i], "element");
		cr_assert_str_eq(r->element[i]->str, exp[i], "element %d", i);
	}
	freeReplyObject(r);
}

Test(digest, replies_and_errors)
{
	kr_err(c, "ERR unknown subcommand or wrong number of arguments for 'digest'. Try DEBUG HELP.",
	       "DEBUG digest extra");
	kr_err(c, "ERR unknown subcommand or wrong number of arguments for 'DIGEST'. Try DEBUG HELP.",
	       "DEBUG DIGEST a b");
	kr_ok(c, "SET a hello");

	int fd = kr_raw_resp3(&srv);
	kr_raw_expect(fd, "DEBUG DIGEST\r\n", 1, "+7bba0c6c0ba7cf343554878a513cce31a28c4abb\r\n");
	kr_raw_expect(fd, "DEBUG DIGEST-VALUE a nokey\r\n", 1,
		      "*2\r\n+36b23a1456b2dce2c3ed252c456761301dba8060\r\n+" ZEROS "\r\n");
	kr_raw_expect(fd, "DEBUG DIGEST-VALUE\r\n", 1, "*0\r\n");
	close(fd);

	/* Inside MULTI, the same answers. */
	kr_status(c, "OK", "MULTI");
	kr_status(c, "QUEUED", "DEBUG DIGEST");
	kr_status(c, "QUEUED", "DEBUG DIGEST-VALUE a");
	kr_expect_render(c, "EXEC",
			 "*2[+7bba0c6c0ba7cf343554878a513cce31a28c4abb,*1[+36b23a1456b2dce2c3ed252c456761301dba8060]]");

	/* Not from scripts, as every DEBUG subcommand. */
	kr_err(c, "ERR This Redis command is not allowed from script",
	       "EVAL %s 0", "return redis.call('debug','digest')");
}

/* ---------------------------------------------- against redis-server */

/* Texts that look more or less like integers and floats: the digest must
 * see exactly these bytes whether a value stores them as an integer or
 * not (listpacks, intsets and INT strings keep canonical integers only). */
static const char *const tricky[] = {
	"0", "-0", "+1", " 1", "1 ", "00", "007", "-", "", "1e3", "0x10", "3.0", "inf", "nan",
	"127", "128", "-128", "-129", "32767", "32768", "-32769", "65535", "2147483647",
	"2147483648", "-2147483649", "4294967296", "9223372036854775807",
	"-9223372036854775808", "9223372036854775808", "18446744073709551615",
	"12345678901234567890123", "-1", "1", "abc",
};
#define NTRICKY ((int)(sizeof(tricky) / sizeof(tricky[0])))

static char *tricky_arg(int i, size_t *len)
{
	return fmt_arg(len, "%s", tricky[i % NTRICKY]);
}

/* cmd key v... with explicit values (may hold spaces). */
static void both_vals(const char *cmd, const char *key, const char *const *vals, int n)
{
	const char *argv[80];
	size_t lens[80];
	cr_assert(n + 2 <= 80);
	argv[0] = cmd;
	argv[1] = key;
	for (int i = 0; i < n; i++)
		argv[i + 2] = vals[i];
	for (int i = 0; i < n + 2; i++)
		lens[i] = strlen(argv[i]);
	both_argv(n + 2, argv, lens);
}

Test(digest_vs_redis, strings)
{
	static const char *const keys[] = { "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8",
		"t9", "t10", "t11", "t12", "t13", "t14", "t15", "t16", "t17", "t18", "t19", "t20",
		"t21", "t22", "t23", "t24", "t25", "t26", "t27", "t28", "t29", "t30", "t31", "t32",
		"t33", "emb", "raw", "bin", "big", "incr", "float", "app", "rng", "hll", "dense" };
	cr_assert(NTRICKY == 34);
	for (int i = 0; i < NTRICKY; i++) {
		const char *argv[] = { "SET", keys[i], tricky[i] };
		size_t lens[] = { 3, strlen(keys[i]), strlen(tricky[i]) };
		both_argv(3, argv, lens);
	}
	kr_encoding("t0", "int");
	kr_encoding("t1", "embstr");
	both("SET emb %044d", 7);
	both("SET raw %045d", 7);
	kr_encoding("emb", "embstr");
	kr_encoding("raw", "raw");
	char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (char)i;
	const char *argv[] = { "SET", "bin", bin };
	size_t lens[] = { 3, 3, sizeof(bin) };
	both_argv(3, argv, lens);
	both("SET big %0100000d", 1);
	both("INCR incr");
	both("INCRBY incr 41");
	both("INCRBYFLOAT float 1.5");
	both("INCRBYFLOAT float 0.1");
	both("SET app 12");
	both("APPEND app 3");
	both("SETRANGE rng 5 x");   /* zero-padded */
	both("PFADD hll a b c");
	for (int i = 0; i < 40; i++)
		both("PFADD dense %d-a %d-b %d-c %d-d %d-e %d-f %d-g %d-h %d-i %d-j", i, i, i, i, i,
		     i, i, i, i, i);
	both("SET empty %s", "''");
	same_values(keys, (int)(sizeof(keys) / sizeof(keys[0])));
	same_digest(NULL);
}

static char *list_big_arg(int i, size_t *len)
{
	if (i % 3 == 0)
		return fmt_arg(len, "%d", i * 977 - 5000);
	return fmt_arg(len, "element-%d", i);
}

Test(digest_vs_redis, lists)
{
	both_many("RPUSH", "small", NTRICKY, tricky_arg);
	kr_encoding("small", "listpack");
	both_many("RPUSH", "big", 2000, list_big_arg);
	kr_encoding("big", "quicklist");
	/* plain nodes: elements over the 8 KiB node limit */
	both("RPUSH plain a %09000d b", 1);
	both("LPUSH plain %020000d", 2);
	kr_encoding("plain", "quicklist");
	both("LINSERT big BEFORE element-7 inserted");
	both("LSET big 100 -77");
	both("LPUSH small head");
	both("RPOP big");
	both("LREM big 0 3");
	both("LPUSH empties %s %s", "''", "''");
	static const char *const keys[] = { "small", "big", "plain", "empties" };
	same_values(keys, 4);
	same_digest(NULL);
}

static char *int_arg(int i, size_t *len)
{
	return fmt_arg(len, "%d", i * 37 - 4000);
}

static char *member_arg(int i, size_t *len)
{
	return fmt_arg(len, "member:%d", i);
}

Test(digest_vs_redis, sets)
{
	both("SADD i16 1 2 -3 300");
	both("SADD i32 1 70000 -2");
	both("SADD i64 1 9223372036854775807 -9223372036854775808");
	kr_encoding("i16", "intset");
	kr_encoding("i64", "intset");
	both_vals("SADD", "mixed", tricky, NTRICKY);
	kr_encoding("mixed", "listpack");
	both("SADD lp a b 1 2 %s", "''");
	kr_encoding("lp", "listpack");
	both_many("SADD", "manyint", 600, int_arg);
	kr_encoding("manyint", "hashtable");
	both_many("SADD", "manystr", 300, member_arg);
	kr_encoding("manystr", "hashtable");
	both("SREM manystr member:5 member:6");
	both("SADD i16 100000");   /* widens the intset */
	both("SMOVE lp i32 a");
	static const char *const keys[] = { "i16", "i32", "i64", "mixed", "lp", "manyint", "manystr" };
	same_values(keys, 7);
	same_digest(NULL);
}

static const char *const scores[] = {
	"0", "-0", "1", "-1", "0.1", "1e-320", "3.0000000000000004", "9007199254740992",
	"9007199254740993", "-4503599627370496", "4503599627370495", "1e15", "1e16",
	"123456789.123", "inf", "-inf", "+inf", "1.5e300", "-2.5e-10", "7", "0.5", "1e22",
};
#define NSCORES ((int)(sizeof(scores) / sizeof(scores[0])))

static char *zset_arg(int i, size_t *len)
{
	if (i % 2 == 0)
		return fmt_arg(len, "%s", scores[(i / 2) % NSCORES]);
	return fmt_arg(len, "%s", tricky[(i / 2) % NTRICKY]);
}

static char *zset_big_arg(int i, size_t *len)
{
	if (i % 2 == 0)
		return fmt_arg(len, "%s", scores[(i / 2) % NSCORES]);
	return fmt_arg(len, "m%d", i / 2);
}

Test(digest_vs_redis, zsets)
{
	both_many("ZADD", "lp", 2 * NTRICKY, zset_arg);
	kr_encoding("lp", "listpack");
	both_many("ZADD", "sl", 400, zset_big_arg);
	kr_encoding("sl", "skiplist");
	both("ZADD sl -0 negzero 1e-300 tiny");
	both("ZINCRBY sl 0.25 m3");
	both("ZINCRBY lp -1 1");
	both("ZREM sl m4");
	/* -0 in a skiplist stays -0 ("-0"); a listpack stores it as 0. */
	both("ZSCORE sl negzero");
	both("CONFIG SET zset-max-listpack-entries 0");
	both("ZADD direct -0 a inf b -inf c 2.5 d 5 m10 -0 m11");
	both("ZSCORE direct a");
	kr_encoding("direct", "skiplist");
	both("CONFIG SET zset-max-listpack-entries 128");
	both("ZADD small -0 a");
	both("ZSCORE small a");
	kr_encoding("small", "listpack");
	both("ZUNIONSTORE union 2 lp small WEIGHTS 2 3");
	both("ZINTERSTORE inter 2 sl direct");
	static const char *const keys[] = { "lp", "sl", "direct", "small", "union", "inter" };
	same_values(keys, 6);
	same_digest(NULL);
}

static char *hash_arg(int i, size_t *len)
{
	if (i % 2 == 0)
		return fmt_arg(len, "f%d", i / 2);
	return (i / 2) % 2 ? fmt_arg(len, "%d", i * 13) : fmt_arg(len, "value-%d", i);
}

Test(digest_vs_redis, hashes)
{
	const char *tv[2 * NTRICKY];
	for (int i = 0; i < NTRICKY; i++) {
		tv[2 * i] = tricky[i];
		tv[2 * i + 1] = tricky[NTRICKY - 1 - i];
	}
	both_vals("HSET", "lp", tv, 2 * NTRICKY);
	kr_encoding("lp", "listpack");
	both_many("HSET", "ht", 600, hash_arg);
	kr_encoding("ht", "hashtable");
	both("HSET longval f %0100d", 5);
	kr_encoding("longval", "hashtable");
	both("HINCRBY lp counter 5");
	both("HINCRBYFLOAT lp fl 1.25");
	both("HDEL ht f3 f4");
	both("HSET ht f7 changed");
	static const char *const keys[] = { "lp", "ht", "longval" };
	same_values(keys, 3);
	same_digest(NULL);
}

Test(digest_vs_redis, dbs_and_expiry)
{
	char d0[41], d1[41];

	for (int db = 0; db < 16; db += 5) {
		both("SELECT %d", db);
		both("SET s%d v", db);
		both("RPUSH l a %d", db);
		both("SADD s 1 2 %d", db);
		both("HSET h f %d", db);
		both("ZADD z %d m", db);
		both("EXPIRE l %d", 1000 + db);
		both("PEXPIREAT z 99999999999999");
	}
	same_digest(d0);
	both("SELECT 5");
	both("FLUSHDB");
	same_digest(d1);
	cr_assert_str_neq(d0, d1);
	both("SELECT 15");
	static const char *const keys[] = { "s15", "l", "s", "h", "z" };
	same_values(keys, 5);
	both("PERSIST l");
	same_values(keys, 5);
	same_digest(NULL);
	both("FLUSHALL");
	same_digest(d0);
	cr_assert_str_eq(d0, ZEROS);

	/* A stored but logically expired key counts on both. */
	both("DEBUG SET-ACTIVE-EXPIRE 0");
	both("SET gone v PX 1");
	both("SET stays v");
	kr_sleep_ms(20);
	same_digest(d0);
	static const char *const gone[] = { "gone" };
	same_values(gone, 1);
	both("DEBUG SET-ACTIVE-EXPIRE 1");
}

/* A deterministic random workload over three dbs and every type; the
 * digests are compared as it goes. */
Test(digest_vs_redis, random_workload)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
#define RND(n) ((int)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (n))
	char prev[41] = "", d[41];
	for (int step = 0; step < 900; step++) {
		int db = (int[]){ 0, 1, 7 }[RND(3)];
		int k = RND(20);
		const char *v1 = tricky[RND(NTRICKY)], *v2 = tricky[RND(NTRICKY)];
		const char *sc = scores[RND(NSCORES)];
		char key[16];
		snprintf(key, sizeof(key), "k%d", k);
		both("SELECT %d", db);
		const char *argv[8];
		int argc = 0;
		switch (RND(14)) {
		case 0:  argv[argc++] = "SET"; argv[argc++] = key; argv[argc++] = v1; break;
		case 1:  argv[argc++] = "RPUSH"; argv[argc++] = key; argv[argc++] = v1; argv[argc++] = v2; break;
		case 2:  argv[argc++] = "LPUSH"; argv[argc++] = key; argv[argc++] = v1; break;
		case 3:  argv[argc++] = "SADD"; argv[argc++] = key; argv[argc++] = v1; argv[argc++] = v2; break;
		case 4:  argv[argc++] = "SREM"; argv[argc++] = key; argv[argc++] = v1; break;
		case 5:  argv[argc++] = "ZADD"; argv[argc++] = key; argv[argc++] = sc; argv[argc++] = v1; break;
		case 6:  argv[argc++] = "ZINCRBY"; argv[argc++] = key; argv[argc++] = sc; argv[argc++] = v2; break;
		case 7:  argv[argc++] = "HSET"; argv[argc++] = key; argv[argc++] = v1; argv[argc++] = v2; break;
		case 8:  argv[argc++] = "HDEL"; argv[argc++] = key; argv[argc++] = v1; break;
		case 9:  argv[argc++] = "EXPIRE"; argv[argc++] = key; argv[argc++] = "1000"; break;
		case 10: argv[argc++] = "PERSIST"; argv[argc++] = key; break;
		case 11: argv[argc++] = "DEL"; argv[argc++] = key; break;
		case 12: argv[argc++] = "APPEND"; argv[argc++] = key; argv[argc++] = v1; break;
		default: argv[argc++] = "LPOP"; argv[argc++] = key; break;
		}
		size_t lens[8];
		for (int i = 0; i < argc; i++)
			lens[i] = strlen(argv[i]);
		/* Errors (WRONGTYPE, NaN scores) must be the same on both. */
		kr_expect_same(c, rc, argc, argv, lens);
		if (step % 50 == 49) {
			same_digest(d);
			cr_assert_str_neq(d, prev, "step %d: dataset unchanged for 50 steps?", step);
			memcpy(prev, d, sizeof(d));
		}
	}
#undef RND
}
