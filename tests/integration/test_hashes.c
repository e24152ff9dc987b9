/* Integration tests of the hash commands (shards/t_hash.c) against a
 * running server: every command, argument and type errors with Redis's
 * exact texts, HINCRBY/HINCRBYFLOAT arithmetic and formatting, encoding
 * transitions driven by CONFIG SET hash-max-listpack-entries/-value,
 * HRANDFIELD in all its count forms, HSCAN over listpack and big hashtable
 * hashes (complete iteration, also while the hash changes), RESP2/RESP3
 * reply shapes (raw bytes) and binary-safe fields and values.
 *
 * Expectations are written as kr_render() text (":1", "$v", "nil",
 * "*2[$a,$b]", "-ERR ..."). A listpack hash replies in insertion order in
 * Redis and here, so those replies are compared exactly; hashtable replies
 * are compared as sorted sets. Keys "k0".."k9" spread over the shards with
 * KR_SHARDS=3 (every command here has one key, so each runs where its key
 * lives).
 *
 * The same file passes against Debian's redis-server 7.0
 * (KR_SERVER_KIND=redis), which is how the expectations were checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static struct kr_srv srv;
static redisContext *c;

static void setup(void) { kr_srv_start_client(&srv, &c, NULL); }
static void teardown(void) { kr_srv_stop_client(&srv, &c); }

TestSuite(hashes, .init = setup, .fini = teardown, .timeout = 120);

#define E_WRONG    "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_SYNTAX   "-ERR syntax error"
#define E_NOTINT   "-ERR value is not an integer or out of range"
#define E_NOTFLOAT "-ERR value is not a valid float"

/* ------------------------------------------------------------ helpers */

static void X(const char *line, const char *want) { kr_expect_render(c, line, want); }
static void X_sorted(const char *line, const char *want) { kr_expect_sorted(c, line, want); }
#define RUN(steps) KR_RUN(c, steps)

/* HSET key with fields <prefix><from>..<prefix><to-1>, value "v<i>",
 * in batches. */
static void hset_range(const char *key, const char *prefix, int from, int to)
{
	while (from < to) {
		enum { BATCH = 200 };
		const char *argv[2 + 2 * BATCH];
		size_t lens[2 + 2 * BATCH];
		static char fbuf[BATCH][32], vbuf[BATCH][32];
		int argc = 2, n = 0;
		redisReply *r;

		argv[0] = "HSET";
		argv[1] = key;
		for (; from < to && n < BATCH; from++, n++) {
			snprintf(fbuf[n], sizeof(fbuf[n]), "%s%d", prefix, from);
			snprintf(vbuf[n], sizeof(vbuf[n]), "v%d", from);
			argv[argc++] = fbuf[n];
			argv[argc++] = vbuf[n];
		}
		for (int i = 0; i < argc; i++)
			lens[i] = strlen(argv[i]);
		r = kr_cmdv(c, argc, argv, lens);
		cr_assert(r->type == REDIS_REPLY_INTEGER, "HSET batch: type %d", r->type);
		freeReplyObject(r);
	}
}

/* ------------------------------------------------------- basic commands */

Test(hashes, set_get_basics)
{
	static const struct kr_step st[] = {
		{ "HSET k0 a 1 b 2", ":2" },
		{ "HSET k0 a 10 c 3", ":1" },          /* a updated, c new */
		{ "HGET k0 a", "$10" },
		{ "HGET k0 c", "$3" },
		{ "HGET k0 zz", "nil" },
		{ "HGET nokey a", "nil" },
		{ "HLEN k0", ":3" },
		{ "HLEN nokey", ":0" },
		{ "HEXISTS k0 b", ":1" },
		{ "HEXISTS k0 zz", ":0" },
		{ "HEXISTS nokey a", ":0" },
		{ "HMSET k1 x 1 y 2", "+OK" },
		{ "HMSET k1 x 5", "+OK" },
		{ "HGETALL k1", "*4[$x,$5,$y,$2]" },
		{ "HSETNX k1 x 9", ":0" },
		{ "HGET k1 x", "$5" },
		{ "HSETNX k1 z 9", ":1" },
		{ "HSETNX k2 f v", ":1" },             /* creates the key */
		{ "TYPE k2", "+hash" },
		{ "HMGET k0 a zz c", "*3[$10,nil,$3]" },
		{ "HMGET nokey a b", "*2[nil,nil]" },
		{ "HSTRLEN k0 a", ":2" },
		{ "HSTRLEN k0 zz", ":0" },
		{ "HSTRLEN nokey a", ":0" },
		{ "HSET k3 n -123 big 9223372036854775807 s hello", ":3" },
		{ "HSTRLEN k3 n", ":4" },             /* a listpack integer's text */
		{ "HSTRLEN k3 big", ":19" },
		{ "HGET k3 n", "$-123" },
		{ "HGET k3 big", "$9223372036854775807" },
		{ "HSET k3 z 007", ":1" },
		{ "HGET k3 z", "$007" },
		{ "HKEYS k0", "*3[$a,$b,$c]" },
		{ "HVALS k0", "*3[$10,$2,$3]" },
		{ "HGETALL k0", "*6[$a,$10,$b,$2,$c,$3]" },
		{ "HKEYS nokey", "*0[]" },
		{ "HVALS nokey", "*0[]" },
		{ "HGETALL nokey", "*0[]" },
	};

	RUN(st);
	/* empty field and value */
	redisReply *r = kr_cmd(c, "HSET k5 %b %b", "", (size_t)0, "", (size_t)0);
	cr_assert_eq(r->integer, 1);
	freeReplyObject(r);
	r = kr_cmd(c, "HGET k5 %b", "", (size_t)0);
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == 0);
	freeReplyObject(r);
	X("HSTRLEN k5 x", ":0");
	X("HLEN k5", ":1");
}

Test(hashes, hdel_and_key_removal)
{
	static const struct kr_step st[] = {
		{ "HSET k0 a 1 b 2 c 3", ":3" },
		{ "HDEL k0 a zz a", ":1" },           /* a counted once */
		{ "HDEL k0 zz", ":0" },
		{ "HDEL nokey a", ":0" },
		{ "HLEN k0", ":2" },
		{ "HDEL k0 b c", ":2" },
		{ "EXISTS k0", ":0" },                /* the last field took the key */
		{ "HSET k1 a 1", ":1" },
		{ "EXPIRE k1 1000", ":1" },
		{ "HSET k1 b 2", ":1" },
		{ "HDEL k1 a", ":1" },
		{ "TTL k1", ":1000" },                /* writes keep the TTL */
		{ "HDEL k1 b", ":1" },
		{ "TTL k1", ":-2" },
	};

	RUN(st);
}

Test(hashes, arity_and_wrongtype)
{
	static const struct kr_step st[] = {
		{ "HSET k0 a", "-ERR wrong number of arguments for 'hset' command" },
		{ "HSET k0 a 1 b", "-ERR wrong number of arguments for 'hset' command" },
		{ "HMSET k0 a 1 b", "-ERR wrong number of arguments for 'hmset' command" },
		{ "HDEL k0", "-ERR wrong number of arguments for 'hdel' command" },
		{ "HGET k0", "-ERR wrong number of arguments for 'hget' command" },
		{ "HMGET k0", "-ERR wrong number of arguments for 'hmget' command" },
		{ "HSETNX k0 a", "-ERR wrong number of arguments for 'hsetnx' command" },
		{ "HINCRBY k0 a", "-ERR wrong number of arguments for 'hincrby' command" },
		{ "HSCAN k0", "-ERR wrong number of arguments for 'hscan' command" },
		{ "HRANDFIELD", "-ERR wrong number of arguments for 'hrandfield' command" },
		{ "EXISTS k0", ":0" },                /* nothing was created */
		{ "SET s x", "+OK" },
		{ "HSET s a 1", E_WRONG },
		{ "HMSET s a 1", E_WRONG },
		{ "HSETNX s a 1", E_WRONG },
		{ "HGET s a", E_WRONG },
		{ "HMGET s a", E_WRONG },
		{ "HDEL s a", E_WRONG },
		{ "HLEN s", E_WRONG },
		{ "HEXISTS s a", E_WRONG },
		{ "HKEYS s", E_WRONG },
		{ "HVALS s", E_WRONG },
		{ "HGETALL s", E_WRONG },
		{ "HINCRBY s a 1", E_WRONG },
		{ "HINCRBYFLOAT s a 1", E_WRONG },
		{ "HSTRLEN s a", E_WRONG },
		{ "HRANDFIELD s", E_WRONG },
		{ "HRANDFIELD s 0", E_WRONG },
		{ "HRANDFIELD s 2 WITHVALUES", E_WRONG },
		{ "HSCAN s 0", E_WRONG },
		{ "GET s", "$x" },                    /* untouched */
		{ "HSET k1 a 1", ":1" },
		{ "GET k1", E_WRONG },
		{ "INCR k1", E_WRONG },
	};

	RUN(st);
}

/* ------------------------------------------------------------- HINCRBY */

Test(hashes, hincrby)
{
	static const struct kr_step st[] = {
		{ "HINCRBY k0 n 5", ":5" },
		{ "HINCRBY k0 n -7", ":-2" },
		{ "HGET k0 n", "$-2" },
		{ "HINCRBY k0 n 0", ":-2" },
		{ "HSET k0 s abc z 007 m -0 f 1.5 p +1", ":5" },
		{ "HINCRBY k0 s 1", "-ERR hash value is not an integer" },
		{ "HINCRBY k0 z 1", "-ERR hash value is not an integer" },
		{ "HINCRBY k0 m 1", "-ERR hash value is not an integer" },
		{ "HINCRBY k0 f 1", "-ERR hash value is not an integer" },
		{ "HINCRBY k0 p 1", "-ERR hash value is not an integer" },
		{ "HINCRBY k0 n x", E_NOTINT },
		{ "HINCRBY k0 n 1.0", E_NOTINT },
		{ "HINCRBY k0 n 9223372036854775808", E_NOTINT },
		{ "HSET k0 max 9223372036854775807 min -9223372036854775808", ":2" },
		{ "HINCRBY k0 max 1", "-ERR increment or decrement would overflow" },
		{ "HINCRBY k0 min -1", "-ERR increment or decrement would overflow" },
		{ "HINCRBY k0 max -9223372036854775808", ":-1" },
		{ "HINCRBY k0 min 9223372036854775807", ":-1" },
		{ "HINCRBY k0 n -9223372036854775808", "-ERR increment or decrement would overflow" },
		{ "HINCRBY k0 n2 -9223372036854775808", ":-9223372036854775808" },
		{ "HINCRBY k0 n2 -1", "-ERR increment or decrement would overflow" },
		{ "HGET k0 n2", "$-9223372036854775808" },
		{ "HGET k0 n", "$-2" },
		{ "HINCRBY nokey2 f x", E_NOTINT },
		{ "EXISTS nokey2", ":0" },            /* errors create nothing */
	};

	RUN(st);
}

/* ---------------------------------------------------------- HINCRBYFLOAT */

Test(hashes, hincrbyfloat)
{
	static const struct kr_step st[] = {
		{ "HINCRBYFLOAT k0 f 10.5", "$10.5" },
		{ "HINCRBYFLOAT k0 f 0.1", "$10.6" },
		{ "HINCRBYFLOAT k0 f2 -5.0e3", "$-5000" },
		{ "HINCRBYFLOAT k0 f2 0.25", "$-4999.75" },
		{ "HINCRBYFLOAT k0 g 0.1", "$0.1" },
		{ "HINCRBYFLOAT k0 g 0.2", "$0.3" },
		{ "HINCRBYFLOAT k0 h 1.23e5", "$123000" },
		{ "HINCRBYFLOAT k0 h -123000", "$0" },
		{ "HINCRBYFLOAT k0 i -0.0", "$0" },
		{ "HINCRBYFLOAT k0 j 1e-300", "$0" },
		{ "HSET k0 int 3", ":1" },
		{ "HINCRBYFLOAT k0 int 1.5", "$4.5" },
		{ "HINCRBYFLOAT k0 int -0.5", "$4" },
		{ "HINCRBY k0 int 1", ":5" },         /* "4" is an integer again */
		{ "HGET k0 f", "$10.6" },
		{ "HSET k0 s abc big 1e4932 x 0x10", ":3" },
		{ "HINCRBYFLOAT k0 s 1", "-ERR hash value is not a float" },
		{ "HINCRBYFLOAT k0 x 1", "$17" },      /* strtold reads hex, as in Redis */
		{ "HINCRBYFLOAT k0 big 1e4932", "-ERR increment would produce NaN or Infinity" },
		{ "HGET k0 big", "$1e4932" },
		{ "HINCRBYFLOAT k0 f abc", E_NOTFLOAT },
		{ "HINCRBYFLOAT k0 f nan", E_NOTFLOAT },
		{ "HINCRBYFLOAT k0 f inf", "-ERR value is NaN or Infinity" },
		{ "HINCRBYFLOAT k0 f -inf", "-ERR value is NaN or Infinity" },
		{ "HINCRBYFLOAT nokey f inf", "-ERR value is NaN or Infinity" },
		{ "EXISTS nokey", ":0" },
	};

	RUN(st);
	/* " 1" (leading space) is not a float; the word splitter cannot make
	 * it, so send it as a binary argument. */
	kr_int(c, 1, "HSET k1 sp %b", " 1", (size_t)2);
	kr_err(c, "ERR hash value is not a float", "HINCRBYFLOAT k1 sp 1");
	kr_err(c, "ERR hash value is not an integer", "HINCRBY k1 sp 1");
	kr_int(c, 1, "HSET k1 e %b", "", (size_t)0);
	kr_err(c, "ERR hash value is not a float", "HINCRBYFLOAT k1 e 1");
	kr_err(c, "ERR hash value is not an integer", "HINCRBY k1 e 1");
	kr_err(c, "ERR value is not a valid float", "HINCRBYFLOAT k1 e %b", "", (size_t)0);
}

/* ------------------------------------------------------------ encodings */

Test(hashes, encoding_by_entries)
{
	kr_ok(c, "CONFIG SET hash-max-listpack-entries 4");
	X("HSET k0 a 1 b 2 c 3 d 4", ":4");
	kr_expect_encoding(c, "k0", "listpack");
	X("HSET k0 a 5", ":0");                     /* update at the limit */
	kr_expect_encoding(c, "k0", "listpack");
	X("HSET k0 e 5", ":1");
	kr_expect_encoding(c, "k0", "hashtable");
	X_sorted("HKEYS k0", "a,b,c,d,e");
	X_sorted("HVALS k0", "2,3,4,5,5");
	X("HDEL k0 a b c d", ":4");
	kr_expect_encoding(c, "k0", "hashtable");         /* never converts back */
	X("HGETALL k0", "*2[$e,$5]");

	/* one HSET crossing the limit */
	X("HSET k1 a 1 b 2 c 3 d 4 e 5 f 6", ":6");
	kr_expect_encoding(c, "k1", "hashtable");
	X("HGET k1 f", "$6");

	/* HSETNX, HINCRBY and HINCRBYFLOAT convert too */
	X("HSET k2 a 1 b 2 c 3 d 4", ":4");
	X("HSETNX k2 e 1", ":1");
	kr_expect_encoding(c, "k2", "hashtable");
	X("HSET k3 a 1 b 2 c 3 d 4", ":4");
	X("HINCRBY k3 e 1", ":1");
	kr_expect_encoding(c, "k3", "hashtable");
	X("HSET k4 a 1 b 2 c 3 d 4", ":4");
	X("HINCRBYFLOAT k4 e 1.5", "$1.5");
	kr_expect_encoding(c, "k4", "hashtable");

	kr_ok(c, "CONFIG SET hash-max-listpack-entries 0");
	X("HSET k5 a 1", ":1");
	kr_expect_encoding(c, "k5", "hashtable");
}

Test(hashes, encoding_by_value_size)
{
	kr_ok(c, "CONFIG SET hash-max-listpack-value 8");
	X("HSET k0 f 12345678", ":1");
	kr_expect_encoding(c, "k0", "listpack");
	X("HSET k0 f 123456789", ":0");             /* update with a long value */
	kr_expect_encoding(c, "k0", "hashtable");
	X("HGET k0 f", "$123456789");

	X("HSET k1 12345678 v", ":1");
	kr_expect_encoding(c, "k1", "listpack");
	X("HSET k1 123456789 v", ":1");             /* long field name */
	kr_expect_encoding(c, "k1", "hashtable");

	X("HSET k2 n 9999999", ":1");
	X("HINCRBY k2 n 100", ":10000099");         /* 8 digits: stays */
	kr_expect_encoding(c, "k2", "listpack");
	X("HINCRBY k2 n 100000000", ":110000099");  /* 9 digits: converts */
	kr_expect_encoding(c, "k2", "hashtable");

	X("HSETNX k3 f 123456789", ":1");
	kr_expect_encoding(c, "k3", "hashtable");

	/* defaults back: 64 bytes */
	kr_ok(c, "CONFIG SET hash-max-listpack-value 64");
	X("HSET k4 f 0123456789012345678901234567890123456789012345678901234567890123", ":1");
	kr_expect_encoding(c, "k4", "listpack");
	X("HSET k4 g 01234567890123456789012345678901234567890123456789012345678901234", ":1");
	kr_expect_encoding(c, "k4", "hashtable");
}

/* The same commands give the same answers in both encodings. */
Test(hashes, hashtable_commands)
{
	kr_ok(c, "CONFIG SET hash-max-listpack-entries 2");
	static const struct kr_step st[] = {
		{ "HSET k0 a 1 b 2 c 3", ":3" },
		{ "HSET k0 a 10", ":0" },
		{ "HGET k0 a", "$10" },
		{ "HGET k0 zz", "nil" },
		{ "HMGET k0 a zz c", "*3[$10,nil,$3]" },
		{ "HLEN k0", ":3" },
		{ "HEXISTS k0 c", ":1" },
		{ "HEXISTS k0 zz", ":0" },
		{ "HSTRLEN k0 a", ":2" },
		{ "HSETNX k0 a 5", ":0" },
		{ "HINCRBY k0 c 4", ":7" },
		{ "HINCRBYFLOAT k0 c 0.5", "$7.5" },
		{ "HINCRBY k0 c 1", "-ERR hash value is not an integer" },
		{ "HDEL k0 a b zz", ":2" },
		{ "HGETALL k0", "*2[$c,$7.5]" },
		{ "HDEL k0 c", ":1" },
		{ "EXISTS k0", ":0" },
	};

	RUN(st);
}

/* ------------------------------------------------------------- RESP3 */

Test(hashes, resp3_shapes)
{
	int fd;

	X("HSET k0 a 1 b 2", ":2");
	fd = kr_raw_resp3(&srv);
	kr_raw_expect(fd, "HGETALL k0\r\n", 1, "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
	kr_raw_expect(fd, "HGETALL nokey\r\n", 1, "%0\r\n");
	kr_raw_expect(fd, "HKEYS k0\r\n", 1, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
	kr_raw_expect(fd, "HVALS k0\r\n", 1, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
	kr_raw_expect(fd, "HGET k0 zz\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "HMGET k0 a zz\r\n", 1, "*2\r\n$1\r\n1\r\n_\r\n");
	kr_raw_expect(fd, "HRANDFIELD nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "HINCRBYFLOAT k0 a 1.5\r\n", 1, "$3\r\n2.5\r\n");
	kr_raw_expect(fd, "HSCAN k0 0\r\n", 1,
		      "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nb\r\n$1\r\n2\r\n");
	kr_raw_expect(fd, "HDEL k0 b\r\n", 1, ":1\r\n");
	/* WITHVALUES: one [field, value] array per pick in RESP3 */
	kr_raw_expect(fd, "HRANDFIELD k0 5 WITHVALUES\r\n", 1,
		      "*1\r\n*2\r\n$1\r\na\r\n$3\r\n2.5\r\n");
	kr_raw_expect(fd, "HRANDFIELD k0 -2 WITHVALUES\r\n", 1,
		      "*2\r\n*2\r\n$1\r\na\r\n$3\r\n2.5\r\n*2\r\n$1\r\na\r\n$3\r\n2.5\r\n");
	kr_raw_expect(fd, "HRANDFIELD k0 -2\r\n", 1, "*2\r\n$1\r\na\r\n$1\r\na\r\n");
	kr_raw_expect(fd, "HRANDFIELD k0 0 WITHVALUES\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "HRANDFIELD nokey 3 WITHVALUES\r\n", 1, "*0\r\n");
	/* and flat in RESP2, on the same connection */
	{
		size_t len;
		char *hello;

		kr_raw_sends(fd, "HELLO 2\r\n");
		hello = kr_raw_read(fd, 1, &len);
		free(hello);
	}
	kr_raw_expect(fd, "HRANDFIELD k0 -2 WITHVALUES\r\n", 1,
		      "*4\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\na\r\n$3\r\n2.5\r\n");
	kr_raw_expect(fd, "HGETALL k0\r\n", 1, "*2\r\n$1\r\na\r\n$3\r\n2.5\r\n");
	kr_raw_expect(fd, "HGETALL nokey\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "HGET k0 zz\r\n", 1, "$-1\r\n");
	close(fd);
}

/* ----------------------------------------------------------- HRANDFIELD */

Test(hashes, hrandfield_errors)
{
	static const struct kr_step st[] = {
		{ "HSET k0 a 1 b 2", ":2" },
		{ "HRANDFIELD k0 abc", E_NOTINT },
		{ "HRANDFIELD k0 1.5", E_NOTINT },
		{ "HRANDFIELD k0 abc foo", E_NOTINT },      /* the count first */
		{ "HRANDFIELD k0 -9223372036854775808",
		  "-ERR value is out of range, value must between -9223372036854775807 and "
		  "9223372036854775807" },
		{ "HRANDFIELD k0 4611686018427387904 WITHVALUES", "-ERR value is out of range" },
		{ "HRANDFIELD k0 -4611686018427387904 WITHVALUES", "-ERR value is out of range" },
		{ "HRANDFIELD nokey 9223372036854775807 WITHVALUES", "-ERR value is out of range" },
		{ "HRANDFIELD k0 1 foo", E_SYNTAX },
		{ "HRANDFIELD k0 1 WITHVALUES x", E_SYNTAX },
		{ "HRANDFIELD nokey 4611686018427387903 WITHVALUES", "*0[]" },
		{ "HRANDFIELD k0 4611686018427387903 WITHVALUES", "*4[$a,$1,$b,$2]" },
		{ "HRANDFIELD k0 9223372036854775807", "*2[$a,$b]" },
		{ "HRANDFIELD k0 0", "*0[]" },
		{ "HRANDFIELD k0 0 withvalues", "*0[]" },
		{ "HRANDFIELD nokey", "nil" },
		{ "HRANDFIELD nokey 5", "*0[]" },
		{ "HRANDFIELD nokey -5", "*0[]" },
	};

	RUN(st);
}

/* Index of field "f<i>" (or -1), for hashes made by hset_range(.., "f"). */
static int field_index(const char *f, int n)
{
	char *end;
	long i;

	if (f[0] != 'f' || !f[1])
		return -1;
	i = strtol(f + 1, &end, 10);
	return (*end || i < 0 || i >= n) ? -1 : (int)i;
}

/* HRANDFIELD key count [WITHVALUES] against a hash of fields f0..f(n-1)
 * with values v<i>: checks the count, membership, distinctness (count >=
 * 0) and field/value pairing; adds the picks to hits[]. */
static void check_rand(const char *key, int n, long count, bool withvalues, unsigned *hits)
{
	redisReply *r = withvalues ? kr_cmd(c, "HRANDFIELD %s %ld WITHVALUES", key, count)
				   : kr_cmd(c, "HRANDFIELD %s %ld", key, count);
	size_t want = count >= 0 ? (size_t)(count < n ? count : n) : (size_t)-count;
	size_t step = withvalues ? 2 : 1;
	unsigned char *seen = calloc((size_t)n, 1);

	cr_assert_not_null(seen);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d", r->type);
	cr_assert_eq(r->elements, want * step, "HRANDFIELD %s %ld: %zu elements, want %zu", key,
		     count, r->elements, want * step);
	for (size_t i = 0; i < r->elements; i += step) {
		int k = field_index(r->element[i]->str, n);

		cr_assert_geq(k, 0, "unknown field %s", r->element[i]->str);
		if (count >= 0) {
			cr_assert(!seen[k], "field %s returned twice for count %ld",
				  r->element[i]->str, count);
		}
		seen[k] = 1;
		hits[k]++;
		if (withvalues) {
			char v[32];

			snprintf(v, sizeof(v), "v%d", k);
			cr_assert_str_eq(r->element[i + 1]->str, v);
		}
	}
	free(seen);
	freeReplyObject(r);
}

static void hrandfield_scenario(const char *key, int n, const char *enc)
{
	unsigned *hits = calloc((size_t)n, sizeof(*hits));
	const long counts[] = { 1, 3, n / 2, n / 3, n / 3 + 1, n - 1, n, n + 5 };

	cr_assert_not_null(hits);
	hset_range(key, "f", 0, n);
	kr_expect_encoding(c, key, enc);
	for (int i = 0; i < 30; i++) {
		redisReply *r = kr_cmd(c, "HRANDFIELD %s", key);

		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		cr_assert_geq(field_index(r->str, n), 0, "unknown field %s", r->str);
		freeReplyObject(r);
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		check_rand(key, n, counts[i], false, hits);
		check_rand(key, n, counts[i], true, hits);
	}
	/* with repeats: exactly |count| picks, and every field shows up */
	memset(hits, 0, (size_t)n * sizeof(*hits));
	check_rand(key, n, -1, false, hits);
	check_rand(key, n, -(long)n * 20, false, hits);
	check_rand(key, n, -(long)n * 20, true, hits);
	for (int i = 0; i < n; i++)
		cr_assert_gt(hits[i], 0, "%s: field f%d never picked", key, i);
	free(hits);
}

Test(hashes, hrandfield_listpack)
{
	hrandfield_scenario("k0", 10, "listpack");
}

Test(hashes, hrandfield_hashtable)
{
	hrandfield_scenario("k1", 1000, "hashtable");   /* default limit: 512 */
}

/* ---------------------------------------------------------------- HSCAN */

Test(hashes, hscan_small_and_errors)
{
	static const struct kr_step st[] = {
		{ "HSET k0 f1 a f2 b g1 c", ":3" },
		{ "HSCAN k0 0", "*2[$0,*6[$f1,$a,$f2,$b,$g1,$c]]" },
		{ "HSCAN k0 0 COUNT 1", "*2[$0,*6[$f1,$a,$f2,$b,$g1,$c]]" },
		{ "HSCAN k0 0 MATCH f*", "*2[$0,*4[$f1,$a,$f2,$b]]" },
		{ "HSCAN k0 0 MATCH *1 COUNT 100", "*2[$0,*4[$f1,$a,$g1,$c]]" },
		{ "HSCAN k0 0 match x*", "*2[$0,*0[]]" },
		{ "HSCAN k0 0 MATCH a* MATCH g?", "*2[$0,*2[$g1,$c]]" },  /* last wins */
		{ "HSCAN nokey 0", "*2[$0,*0[]]" },
		{ "HSCAN nokey 0 foo", "*2[$0,*0[]]" },  /* no key: options unchecked */
		{ "HSCAN k0 abc", "-ERR invalid cursor" },
		{ "HSCAN k0 1.0", "-ERR invalid cursor" },
		{ "HSCAN k0 18446744073709551616", "-ERR invalid cursor" },
		{ "HSCAN k0 00000000000000000000000000000000000000000000000000000000000000000000",
		  "*2[$0,*6[$f1,$a,$f2,$b,$g1,$c]]" },
		{ "HSCAN nokey abc", "-ERR invalid cursor" },
		{ "HSCAN k0 0 COUNT 0", E_SYNTAX },
		{ "HSCAN k0 0 COUNT -1", E_SYNTAX },
		{ "HSCAN k0 0 COUNT abc", E_NOTINT },
		{ "HSCAN k0 0 COUNT", E_SYNTAX },
		{ "HSCAN k0 0 MATCH", E_SYNTAX },
		{ "HSCAN k0 0 TYPE hash", E_SYNTAX },
		{ "HSCAN k0 0 NOSUCH x", E_SYNTAX },
	};

	RUN(st);
}

/* Scan a hash of fields <prefix><i> (i < n, values v<i>) to the end with
 * the given COUNT (0: default) and MATCH (NULL: none); mark found[i]. Each
 * returned value must be its field's. Returns the number of calls. */
static int scan_all(const char *key, const char *prefix, int n, int count, const char *match,
		    unsigned char *found)
{
	char cursor[32] = "0";
	int calls = 0;
	size_t plen = strlen(prefix);

	do {
		char cmd[256];
		int len = snprintf(cmd, sizeof(cmd), "HSCAN %s %s", key, cursor);
		redisReply *r;

		if (count)
			len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " COUNT %d", count);
		if (match)
			snprintf(cmd + len, sizeof(cmd) - (size_t)len, " MATCH %s", match);
		r = kr_words(c, cmd);
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s: type %d", cmd,
			  r->type);
		cr_assert_eq(r->element[1]->elements % 2, 0);
		for (size_t i = 0; i < r->element[1]->elements; i += 2) {
			const char *f = r->element[1]->element[i]->str;
			const char *v = r->element[1]->element[i + 1]->str;
			char want[32];
			long k;

			if (strncmp(f, prefix, plen) != 0)
				continue;   /* other fields (added by the caller) */
			k = strtol(f + plen, NULL, 10);
			cr_assert(k >= 0 && k < n, "field %s", f);
			snprintf(want, sizeof(want), "v%ld", k);
			cr_assert_str_eq(v, want, "field %s", f);
			found[k] = 1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		freeReplyObject(r);
		calls++;
		cr_assert_lt(calls, 100000, "scan does not end");
	} while (strcmp(cursor, "0") != 0);
	return calls;
}

Test(hashes, hscan_big_hash)
{
	enum { N = 3000 };
	unsigned char found[N];
	int calls, nmatch = 0;

	hset_range("k0", "f", 0, N);
	kr_expect_encoding(c, "k0", "hashtable");
	X("HLEN k0", ":3000");

	memset(found, 0, sizeof(found));
	calls = scan_all("k0", "f", N, 10, NULL, found);
	cr_assert_gt(calls, 10, "COUNT 10 over 3000 fields took %d calls", calls);
	for (int i = 0; i < N; i++)
		cr_assert(found[i], "f%d never returned", i);

	memset(found, 0, sizeof(found));
	scan_all("k0", "f", N, 0, NULL, found);      /* default COUNT */
	for (int i = 0; i < N; i++)
		cr_assert(found[i], "f%d never returned (default COUNT)", i);

	memset(found, 0, sizeof(found));
	scan_all("k0", "f", N, 1000, "f1*", found);
	for (int i = 0; i < N; i++) {
		char f[16];

		snprintf(f, sizeof(f), "f%d", i);
		cr_assert_eq(found[i], f[1] == '1', "%s: found %d", f, found[i]);
		nmatch += found[i];
	}
	cr_assert_eq(nmatch, 1111);   /* f1, f10-19, f100-199, f1000-1999 */

	/* HGETALL agrees with the field count */
	redisReply *r = kr_cmd(c, "HGETALL k0");
	cr_assert_eq(r->elements, 2 * N);
	freeReplyObject(r);
}

/* Fields present for the whole scan come back even while the table grows
 * (new fields) and loses others. */
Test(hashes, hscan_while_changing)
{
	enum { N = 1000 };
	unsigned char found[N];
	char cursor[32] = "0";
	int calls = 0, added = 0;

	memset(found, 0, sizeof(found));
	hset_range("k0", "a", 0, N);
	do {
		redisReply *r = kr_cmd(c, "HSCAN k0 %s COUNT 20", cursor);

		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		for (size_t i = 0; i < r->element[1]->elements; i += 2) {
			const char *f = r->element[1]->element[i]->str;

			if (f[0] == 'a')
				found[atoi(f + 1)] = 1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		freeReplyObject(r);
		/* grow by 100 "b" fields per call (several table doublings),
		 * and drop the a-fields that are multiples of 7 */
		hset_range("k0", "b", added, added + 100);
		added += 100;
		if (calls * 7 < N) {
			r = kr_cmd(c, "HDEL k0 a%d", calls * 7);
			freeReplyObject(r);
		}
		calls++;
		cr_assert_lt(calls, 10000);
	} while (strcmp(cursor, "0") != 0);
	for (int i = 0; i < N; i++)
		if (i % 7 != 0)
			cr_assert(found[i], "a%d (present all along) never returned", i);
}

/* ------------------------------------------------------- binary safety */

Test(hashes, binary_fields_and_values)
{
	const char f1[] = { 'a', '\0', 'b' }, v1[] = { '\r', '\n', '\0', 'x' };
	const char f2[] = { ' ', '\xff' }, v2[] = { '\0' };
	redisReply *r;

	kr_int(c, 2, "HSET k0 %b %b %b %b", f1, sizeof(f1), v1, sizeof(v1), f2, sizeof(f2), v2,
	       sizeof(v2));
	r = kr_cmd(c, "HGET k0 %b", f1, sizeof(f1));
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == sizeof(v1) &&
		  memcmp(r->str, v1, sizeof(v1)) == 0);
	freeReplyObject(r);
	kr_nil(c, "HGET k0 %b", f1, (size_t)1);          /* "a" alone is another field */
	kr_int(c, 4, "HSTRLEN k0 %b", f1, sizeof(f1));
	r = kr_cmd(c, "HGETALL k0");
	cr_assert_eq(r->elements, 4);
	cr_assert(r->element[0]->len == sizeof(f1) && memcmp(r->element[0]->str, f1, 3) == 0);
	cr_assert(r->element[2]->len == sizeof(f2) && memcmp(r->element[2]->str, f2, 2) == 0);
	cr_assert(r->element[3]->len == 1 && r->element[3]->str[0] == '\0');
	freeReplyObject(r);
	kr_int(c, 1, "HDEL k0 %b", f2, sizeof(f2));
	kr_int(c, 1, "HLEN k0");

	/* a long binary value takes the hashtable path */
	{
		size_t n = 100000;
		char *big = malloc(n);

		cr_assert_not_null(big);
		for (size_t i = 0; i < n; i++)
			big[i] = (char)(i * 31);
		kr_int(c, 1, "HSET k1 big %b", big, n);
		kr_expect_encoding(c, "k1", "hashtable");
		r = kr_cmd(c, "HGET k1 big");
		cr_assert(r->type == REDIS_REPLY_STRING && r->len == n &&
			  memcmp(r->str, big, n) == 0);
		freeReplyObject(r);
		kr_int(c, (long long)n, "HSTRLEN k1 big");
		free(big);
	}
}

/* Hashes on every shard (k0..k9 cover the three shards of KR_SHARDS=3)
 * and DEL/EXISTS/TYPE/COPY/RENAME on them. */
Test(hashes, generic_key_commands)
{
	for (int i = 0; i < 10; i++) {
		kr_int(c, 2, "HSET k%d a %d b x", i, i);
		kr_status(c, "hash", "TYPE k%d", i);
	}
	for (int i = 0; i < 10; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%d", i);
		kr_bulk(c, want, "HGET k%d a", i);
	}
	kr_int(c, 1, "COPY k0 {k0}copy");
	kr_int(c, 0, "HSET {k0}copy a changed");
	kr_bulk(c, "0", "HGET k0 a");
	kr_bulk(c, "changed", "HGET {k0}copy a");
	kr_ok(c, "RENAME k1 {k1}renamed");
	kr_bulk(c, "1", "HGET {k1}renamed a");
	kr_int(c, 11, "DEL k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 {k0}copy {k1}renamed");
}

/* ------------------------------------------------------ WATCH / dirty */

/* WATCH k; run `write`; MULTI; HLEN k; EXEC: the transaction must abort
 * exactly when the write changed something (the handler counted it in
 * ctx->dirty; Redis signals the key). Writes that change nothing or fail
 * must not abort it. */
static void watch_case(const char *setup, const char *write, bool aborts)
{
	redisReply *r;

	freeReplyObject(kr_words(c, "DEL {w}k"));
	if (setup)
		freeReplyObject(kr_words(c, setup));
	kr_ok(c, "WATCH {w}k");
	freeReplyObject(kr_words(c, write));
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "HLEN {w}k");
	r = kr_cmd(c, "EXEC");
	if (aborts)
		cr_assert_eq(r->type, REDIS_REPLY_NIL, "%s: EXEC should abort (type %d)", write,
			     r->type);
	else
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s: EXEC should run (type %d)", write,
			     r->type);
	freeReplyObject(r);
}

Test(hashes, watch_sees_changes_only)
{
	static const struct {
		const char *setup, *write;
		bool aborts;
	} cases[] = {
		{ NULL, "HSET {w}k a 1", true },
		{ "HSET {w}k a 1", "HSET {w}k a 1", true },       /* same value: still a write */
		{ NULL, "HMSET {w}k a 1", true },
		{ "HSET {w}k a 1", "HSETNX {w}k a 2", false },
		{ "HSET {w}k a 1", "HSETNX {w}k b 2", true },
		{ "HSET {w}k a 1", "HDEL {w}k zz", false },
		{ NULL, "HDEL {w}k zz", false },
		{ "HSET {w}k a 1 b 2", "HDEL {w}k a", true },
		{ "HSET {w}k a 1", "HDEL {w}k a", true },          /* deletes the key */
		{ "HSET {w}k a 1", "HINCRBY {w}k a 1", true },
		{ "HSET {w}k a x", "HINCRBY {w}k a 1", false },    /* error */
		{ "HSET {w}k a 1", "HINCRBYFLOAT {w}k a 1.5", true },
		{ "HSET {w}k a x", "HINCRBYFLOAT {w}k a 1.5", false },
		{ "HSET {w}k a 1", "HGET {w}k a", false },
		{ "HSET {w}k a 1", "HGETALL {w}k", false },
		{ "HSET {w}k a 1", "HRANDFIELD {w}k -3 WITHVALUES", false },
		{ "HSET {w}k a 1", "HSCAN {w}k 0", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		watch_case(cases[i].setup, cases[i].write, cases[i].aborts);
}
