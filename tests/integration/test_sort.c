/* Integration tests of SORT and SORT_RO (shards/t_sort.c) against a
 * running server: numeric and ALPHA sorting of lists, sets and sorted
 * sets, ASC/DESC, LIMIT clamping, BY patterns (string keys, hash fields,
 * missing weights, "nosort"), GET patterns ("#", strings, hash fields,
 * missing values), STORE (replace, delete on empty, TTL, source as
 * destination), SORT_RO, the exact errors, and RESP3 nulls.
 *
 * Every key of a test shares the hash tag {s}, so the sorted key, the
 * keys its BY/GET patterns name and the STORE destination live on one
 * shard with KR_SHARDS=3 (patterns resolve on the sorted key's shard
 * only).
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

TestSuite(sort, .init = setup, .fini = teardown, .timeout = 120);

#define E_WRONG  "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_SYNTAX "-ERR syntax error"
#define E_NOTINT "-ERR value is not an integer or out of range"
#define E_SCORE  "-ERR One or more scores can't be converted into double"

/* ------------------------------------------------------------ helpers */

static void X(const char *line, const char *want) { kr_expect_render(c, line, want); }
#define RUN(steps) KR_RUN(c, steps)

/* ------------------------------------------------------------- lists */

Test(sort, list_numeric)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}l 3 1 2 10 -5 1.5", ":6" },
		{ "SORT {s}l", "*6[$-5,$1,$1.5,$2,$3,$10]" },
		{ "SORT {s}l ASC", "*6[$-5,$1,$1.5,$2,$3,$10]" },
		{ "SORT {s}l DESC", "*6[$10,$3,$2,$1.5,$1,$-5]" },
		{ "SORT {s}l desc asc", "*6[$-5,$1,$1.5,$2,$3,$10]" },   /* last wins */
		{ "SORT_RO {s}l DESC", "*6[$10,$3,$2,$1.5,$1,$-5]" },
		{ "SORT {s}l LIMIT 1 2", "*2[$1,$1.5]" },
		{ "SORT {s}l LIMIT 1 2 DESC", "*2[$3,$2]" },
		{ "SORT {s}l LIMIT 0 -1", "*6[$-5,$1,$1.5,$2,$3,$10]" },
		{ "SORT {s}l LIMIT 4 -7", "*2[$3,$10]" },              /* count < 0: to the end */
		{ "SORT {s}l LIMIT -5 2", "*2[$-5,$1]" },              /* start clamped to 0 */
		{ "SORT {s}l LIMIT 5 100", "*1[$10]" },
		{ "SORT {s}l LIMIT 6 1", "*0[]" },
		{ "SORT {s}l LIMIT 100 1", "*0[]" },
		{ "SORT {s}l LIMIT 2 0", "*0[]" },
		{ "SORT {s}l LIMIT 0 1 LIMIT 5 1", "*1[$10]" },       /* last wins */
		{ "SORT {s}l LIMIT 9223372036854775807 9223372036854775807", "*0[]" },
		{ "SORT {s}l LIMIT -9223372036854775808 2", "*2[$-5,$1]" },
		{ "SORT {s}l LIMIT 3 -9223372036854775808", "*3[$2,$3,$10]" },
		{ "SORT {s}l BY nosort LIMIT 9223372036854775807 1", "*0[]" },
		{ "SORT {s}l BY nosort LIMIT 5 9223372036854775807 DESC", "*1[$3]" },
		{ "LRANGE {s}l 0 -1", "*6[$3,$1,$2,$10,$-5,$1.5]" },  /* source untouched */
		/* numeric forms strtod accepts; ties broken by the bytes */
		{ "RPUSH {s}n 1e1 0x10 1.0 1 01 -inf inf", ":7" },
		{ "SORT {s}n", "*7[$-inf,$01,$1,$1.0,$1e1,$0x10,$inf]" },
		{ "SORT {s}n DESC", "*7[$inf,$0x10,$1e1,$1.0,$1,$01,$-inf]" },
	};

	RUN(st);
}

Test(sort, list_alpha_and_errors)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}a b a c B 10 9 ab", ":7" },
		{ "SORT {s}a ALPHA", "*7[$10,$9,$B,$a,$ab,$b,$c]" },
		{ "SORT {s}a ALPHA DESC", "*7[$c,$b,$ab,$a,$B,$9,$10]" },
		{ "SORT {s}a alpha limit 2 3", "*3[$B,$a,$ab]" },
		{ "SORT {s}a", E_SCORE },
		{ "SORT_RO {s}a", E_SCORE },
		{ "SORT {s}a STORE {s}d", E_SCORE },
		{ "EXISTS {s}d", ":0" },                 /* nothing stored on error */
		{ "SORT {s}a BY nosort", "*7[$b,$a,$c,$B,$10,$9,$ab]" },   /* no parsing */
		{ "RPUSH {s}big 1 1e400", ":2" },
		{ "SORT {s}big", E_SCORE },              /* out of range */
		{ "RPUSH {s}nan 1 nan", ":2" },
		{ "SORT {s}nan", E_SCORE },
		/* options */
		{ "SORT {s}a LIMIT 1", E_SYNTAX },
		{ "SORT {s}a LIMIT a 1", E_NOTINT },
		{ "SORT {s}a LIMIT 1 b", E_NOTINT },
		{ "SORT {s}a LIMIT 1.5 1", E_NOTINT },
		{ "SORT {s}a BY", E_SYNTAX },
		{ "SORT {s}a GET", E_SYNTAX },
		{ "SORT {s}a STORE", E_SYNTAX },
		{ "SORT {s}a ALPHA NOSUCH", E_SYNTAX },
		{ "SORT_RO {s}a STORE {s}d", E_SYNTAX },
		{ "SORT_RO {s}a ALPHA STORE", E_SYNTAX },
		{ "SORT", "-ERR wrong number of arguments for 'sort' command" },
		{ "SORT_RO", "-ERR wrong number of arguments for 'sort_ro' command" },
		/* types */
		{ "SET {s}str x", "+OK" },
		{ "SORT {s}str", E_WRONG },
		{ "SORT_RO {s}str", E_WRONG },
		{ "HSET {s}hash a 1", ":1" },
		{ "SORT {s}hash", E_WRONG },
		{ "SORT {s}str LIMIT x 1", E_NOTINT },   /* options before the type */
		{ "SORT {s}missing", "*0[]" },
		{ "SORT {s}missing ALPHA DESC LIMIT 0 10", "*0[]" },
		{ "SORT_RO {s}missing", "*0[]" },
	};

	RUN(st);
}

/* Lenient numbers, in a fresh server: Redis does not clear errno before
 * strtod, so an ERANGE left by an earlier out-of-range weight would make
 * it reject these too (keyrail clears it). */
Test(sort, list_lenient_numbers)
{
	redisReply *r;

	/* leading space: strtod skips it, so it is a number */
	kr_int(c, 2, "RPUSH {s}sp2 2 %b", " 1", (size_t)2);
	r = kr_cmd(c, "SORT {s}sp2");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "type %d %s", r->type,
		  r->str ? r->str : "");
	cr_assert_str_eq(r->element[0]->str, " 1");
	freeReplyObject(r);
	/* an empty element reads as 0 */
	kr_int(c, 3, "RPUSH {s}e 1 %b -1", "", (size_t)0);
	X("SORT {s}e", "*3[$-1,$,$1]");
	/* bytes after a NUL are not looked at */
	kr_int(c, 2, "RPUSH {s}z 2 %b", "1\0x", (size_t)3);
	r = kr_cmd(c, "SORT {s}z");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "type %d %s", r->type,
		  r->str ? r->str : "");
	cr_assert_eq(r->element[0]->len, 3);
	freeReplyObject(r);
}

Test(sort, list_nosort)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}l c a d b", ":4" },
		{ "SORT {s}l BY nosort", "*4[$c,$a,$d,$b]" },
		{ "SORT {s}l BY nosort DESC", "*4[$b,$d,$a,$c]" },
		{ "SORT {s}l BY nosort LIMIT 1 2", "*2[$a,$d]" },
		{ "SORT {s}l BY nosort LIMIT 1 2 DESC", "*2[$d,$a]" },
		{ "SORT {s}l BY nosort LIMIT 3 10 DESC", "*1[$c]" },
		{ "SORT {s}l BY nosort LIMIT 4 10", "*0[]" },
		{ "SORT {s}l BY nosort LIMIT -1 1", "*1[$c]" },
		{ "SORT {s}l BY {s}fixed", "*4[$c,$a,$d,$b]" },   /* any pattern without * */
		{ "SORT {s}l BY nosort BY {s}w_* ALPHA", "*4[$c,$a,$d,$b]" },   /* sticks */
		{ "SORT {s}l BY {s}w_* BY nosort ALPHA", "*4[$c,$a,$d,$b]" },
		{ "SORT {s}l BY nosort ALPHA", "*4[$c,$a,$d,$b]" },
		{ "SORT {s}l BY nosort GET #", "*4[$c,$a,$d,$b]" },
		{ "SORT {s}l BY nosort STORE {s}d", ":4" },
		{ "LRANGE {s}d 0 -1", "*4[$c,$a,$d,$b]" },
	};

	RUN(st);
}

/* ------------------------------------------------------- BY and GET */

Test(sort, by_and_get_patterns)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}l a b c d", ":4" },
		{ "MSET {s}w_a 3 {s}w_b 1 {s}w_c 2 {s}v_a A {s}v_b B {s}v_d D", "+OK" },
		/* d has no weight: 0, first */
		{ "SORT {s}l BY {s}w_*", "*4[$d,$b,$c,$a]" },
		{ "SORT {s}l BY {s}w_* DESC", "*4[$a,$c,$b,$d]" },
		{ "SORT {s}l BY {s}w_* LIMIT 1 2", "*2[$b,$c]" },
		{ "SORT {s}l BY {s}w_* GET {s}v_*", "*4[$D,$B,nil,$A]" },
		{ "SORT {s}l BY {s}w_* GET # GET {s}v_*",
		  "*8[$d,$D,$b,$B,$c,nil,$a,$A]" },
		{ "SORT {s}l BY {s}w_* GET {s}nostar", "*4[nil,nil,nil,nil]" },
		{ "SORT {s}l BY {s}w_* GET ## ", "*4[nil,nil,nil,nil]" },
		{ "SORT {s}l GET {s}w_*", "-ERR One or more scores can't be converted into double" },
		{ "SORT {s}l ALPHA GET {s}w_*", "*4[$3,$1,$2,nil]" },
		/* weights in hash fields */
		{ "HSET {s}h_a f 30 g x", ":2" },
		{ "HSET {s}h_b f 10", ":1" },
		{ "HSET {s}h_c f 20", ":1" },
		{ "HSET {s}h_d g 1", ":1" },              /* no field f: weight 0 */
		{ "SORT {s}l BY {s}h_*->f", "*4[$d,$b,$c,$a]" },
		{ "SORT {s}l BY {s}h_*->f GET {s}h_*->f GET {s}h_*->g",
		  "*8[nil,$1,$10,nil,$20,nil,$30,$x]" },
		{ "SORT {s}l BY {s}h_*->f GET {s}w_*->f", "*4[nil,nil,nil,nil]" },  /* not hashes */
		{ "SORT {s}l BY {s}h_*->f GET {s}h_*", "*4[nil,nil,nil,nil]" },     /* not strings */
		/* "->" with nothing after it is part of the key name */
		{ "SET {s}k_a-> arrow", "+OK" },
		{ "SORT {s}l ALPHA GET {s}k_*->", "*4[$arrow,nil,nil,nil]" },
		/* only the first * is replaced */
		{ "SET {s}x_a_* star", "+OK" },
		{ "SORT {s}l ALPHA GET {s}x_*_*", "*4[$star,nil,nil,nil]" },
		/* a bad weight is an error, an absent one is not */
		{ "SET {s}w_d oops", "+OK" },
		{ "SORT {s}l BY {s}w_*", E_SCORE },
		{ "SORT {s}l BY {s}w_* ALPHA", "*4[$b,$c,$a,$d]" },   /* 1 2 3 oops */
		{ "DEL {s}w_d", ":1" },
		{ "SORT {s}l BY {s}w_* ALPHA", "*4[$d,$b,$c,$a]" },   /* missing first */
		{ "SORT {s}l BY {s}w_* ALPHA DESC", "*4[$a,$c,$b,$d]" },
		/* an integer-encoded weight */
		{ "SET {s}w_d -7", "+OK" },
		{ "SORT {s}l BY {s}w_*", "*4[$d,$b,$c,$a]" },
		{ "SET {s}w_d 7", "+OK" },
		{ "SORT {s}l BY {s}w_*", "*4[$b,$c,$a,$d]" },
		/* weights can be a hash or list key of the wrong type: missing */
		{ "DEL {s}w_d", ":1" },
		{ "RPUSH {s}w_d 100", ":1" },
		{ "SORT {s}l BY {s}w_*", "*4[$d,$b,$c,$a]" },
	};

	RUN(st);
}

/* ------------------------------------------------------------- STORE */

Test(sort, store)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}l 3 1 2", ":3" },
		{ "SORT {s}l STORE {s}d", ":3" },
		{ "TYPE {s}d", "+list" },
		{ "LRANGE {s}d 0 -1", "*3[$1,$2,$3]" },
		{ "SORT {s}l DESC LIMIT 0 2 STORE {s}d", ":2" },    /* replaces */
		{ "LRANGE {s}d 0 -1", "*2[$3,$2]" },
		{ "SET {s}str x EX 1000", "+OK" },
		{ "SORT {s}l STORE {s}str", ":3" },                 /* any type replaced */
		{ "TYPE {s}str", "+list" },
		{ "TTL {s}str", ":-1" },                            /* TTL cleared */
		{ "SORT {s}l STORE {s}a STORE {s}b", ":3" },        /* last STORE wins */
		{ "EXISTS {s}a", ":0" },
		{ "LRANGE {s}b 0 -1", "*3[$1,$2,$3]" },
		/* empty result: the destination is deleted */
		{ "SORT {s}l LIMIT 5 5 STORE {s}d", ":0" },
		{ "EXISTS {s}d", ":0" },
		{ "SORT {s}missing STORE {s}b", ":0" },
		{ "EXISTS {s}b", ":0" },
		{ "SORT {s}missing STORE {s}b", ":0" },
		/* GET values stored; a missing one becomes an empty string */
		{ "MSET {s}v_1 one {s}v_3 three", "+OK" },
		{ "SORT {s}l GET # GET {s}v_* STORE {s}d", ":6" },
		{ "LRANGE {s}d 0 -1", "*6[$1,$one,$2,$,$3,$three]" },
		/* the source as its own destination */
		{ "SORT {s}l DESC STORE {s}l", ":3" },
		{ "LRANGE {s}l 0 -1", "*3[$3,$2,$1]" },
		{ "SORT {s}l LIMIT 0 0 STORE {s}l", ":0" },
		{ "EXISTS {s}l", ":0" },
	};

	RUN(st);
}

/* A stored result bigger than a listpack node is still a correct list. */
Test(sort, store_big)
{
	enum { N = 2000 };
	char cmd[64];

	for (int i = 0; i < N; i += 100) {
		struct kr_sb b = { 0 };
		redisReply *r;

		kr_sb_fmt(&b, "RPUSH {s}l");
		for (int k = i; k < i + 100; k++)
			kr_sb_fmt(&b, " %d", (k * 7919) % N);   /* a permutation of 0..N-1 */
		r = kr_words(c, b.s);
		cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
		freeReplyObject(r);
		free(b.s);
	}
	kr_int(c, N, "SORT {s}l STORE {s}d");
	kr_int(c, N, "LLEN {s}d");
	for (int i = 0; i < N; i += 97) {
		snprintf(cmd, sizeof(cmd), "%d", i);
		kr_bulk(c, cmd, "LINDEX {s}d %d", i);
	}
	{
		redisReply *r = kr_cmd(c, "SORT {s}l DESC LIMIT 10 5");

		cr_assert_eq(r->elements, 5);
		for (int i = 0; i < 5; i++)
			cr_assert_eq(atoi(r->element[i]->str), N - 11 - i);
		freeReplyObject(r);
	}
	/* numeric order of the whole list */
	{
		redisReply *r = kr_cmd(c, "SORT_RO {s}l");

		cr_assert_eq(r->elements, N);
		for (int i = 0; i < N; i++)
			cr_assert_eq(atoi(r->element[i]->str), i);
		freeReplyObject(r);
	}
}

/* ------------------------------------------------------ sets and zsets */

Test(sort, sets)
{
	static const struct kr_step st[] = {
		{ "SADD {s}i 30 1 20 -4", ":4" },                  /* intset */
		{ "SORT {s}i", "*4[$-4,$1,$20,$30]" },
		{ "SORT {s}i DESC LIMIT 0 2", "*2[$30,$20]" },
		{ "SORT {s}i ALPHA", "*4[$-4,$1,$20,$30]" },
		{ "SADD {s}p b c a 10", ":4" },                    /* strings */
		{ "SORT {s}p ALPHA", "*4[$10,$a,$b,$c]" },
		{ "SORT {s}p", E_SCORE },
		/* BY nosort on a set with STORE: sorted ALPHA anyway */
		{ "SORT {s}i BY nosort STORE {s}d", ":4" },
		{ "LRANGE {s}d 0 -1", "*4[$-4,$1,$20,$30]" },
		{ "SORT {s}p BY nosort STORE {s}d", ":4" },
		{ "LRANGE {s}d 0 -1", "*4[$10,$a,$b,$c]" },
		{ "SORT {s}p BY nosort DESC STORE {s}d", ":4" },
		{ "LRANGE {s}d 0 -1", "*4[$c,$b,$a,$10]" },
		{ "SORT {s}p BY nosort LIMIT 1 2 STORE {s}d", ":2" },
		{ "LRANGE {s}d 0 -1", "*2[$a,$b]" },
		{ "MSET {s}w_a 2 {s}w_b 1 {s}w_c 3 {s}w_10 0", "+OK" },
		{ "SORT {s}p BY {s}w_*", "*4[$10,$b,$a,$c]" },
		{ "SORT {s}p BY {s}w_* GET {s}w_*", "*4[$0,$1,$2,$3]" },
	};
	redisReply *r;

	RUN(st);
	/* BY nosort without STORE: every member, in some order */
	r = kr_cmd(c, "SORT {s}p BY nosort");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
	freeReplyObject(r);
}

Test(sort, big_set)
{
	enum { N = 600 };   /* past the intset / listpack limits: a hashtable */
	struct kr_sb b = { 0 };
	redisReply *r;

	kr_sb_fmt(&b, "SADD {s}s");
	for (int i = 0; i < N; i++)
		kr_sb_fmt(&b, " m%03d", (i * 367) % N);
	for (int i = 0; i < 10; i++)
		kr_sb_fmt(&b, " %d", i * 3);
	r = kr_words(c, b.s);
	cr_assert_eq(r->integer, N + 10);
	freeReplyObject(r);
	free(b.s);
	r = kr_cmd(c, "SORT {s}s ALPHA LIMIT 8 4");
	cr_assert_eq(r->elements, 4);
	cr_assert_str_eq(r->element[0]->str, "6");    /* 0 12 15 18 21 24 27 3 6 9 m000 */
	cr_assert_str_eq(r->element[1]->str, "9");
	cr_assert_str_eq(r->element[2]->str, "m000");
	cr_assert_str_eq(r->element[3]->str, "m001");
	freeReplyObject(r);
	kr_int(c, N + 10, "SORT {s}s BY nosort STORE {s}d");
	kr_bulk(c, "m599", "LINDEX {s}d -1");
	kr_bulk(c, "0", "LINDEX {s}d 0");
	kr_err(c, "ERR One or more scores", "SORT {s}s");
}

Test(sort, zsets)
{
	static const struct kr_step st[] = {
		{ "ZADD {s}z 1 30 2 10 3 20 4 -1", ":4" },
		{ "SORT {s}z", "*4[$-1,$10,$20,$30]" },
		{ "SORT {s}z DESC", "*4[$30,$20,$10,$-1]" },
		{ "SORT {s}z ALPHA", "*4[$-1,$10,$20,$30]" },
		{ "SORT {s}z BY nosort", "*4[$30,$10,$20,$-1]" },      /* score order */
		{ "SORT {s}z BY nosort DESC", "*4[$-1,$20,$10,$30]" },
		{ "SORT {s}z BY nosort LIMIT 1 2", "*2[$10,$20]" },
		{ "SORT {s}z BY nosort LIMIT 1 2 DESC", "*2[$20,$10]" },
		{ "SORT {s}z BY nosort LIMIT 3 5", "*1[$-1]" },
		{ "SORT {s}z BY nosort LIMIT 4 5", "*0[]" },
		{ "SORT_RO {s}z BY nosort LIMIT 0 1 DESC", "*1[$-1]" },
		{ "SORT {s}z BY nosort STORE {s}d", ":4" },
		{ "LRANGE {s}d 0 -1", "*4[$30,$10,$20,$-1]" },
		{ "ZADD {s}m 1 b 2 a", ":2" },
		{ "SORT {s}m", E_SCORE },
		{ "SORT {s}m ALPHA", "*2[$a,$b]" },
		{ "MSET {s}w_a 5 {s}w_b 6", "+OK" },
		{ "SORT {s}m BY {s}w_* DESC GET # GET {s}w_*", "*4[$b,$6,$a,$5]" },
	};

	RUN(st);
	/* a skiplist-encoded zset answers the same */
	kr_ok(c, "CONFIG SET zset-max-listpack-entries 1");
	X("ZADD {s}z2 1 30 2 10 3 20 4 -1", ":4");
	X("SORT {s}z2", "*4[$-1,$10,$20,$30]");
	X("SORT {s}z2 BY nosort DESC LIMIT 1 2", "*2[$20,$10]");
	X("SORT {s}z2 BY nosort", "*4[$30,$10,$20,$-1]");
}

/* ------------------------------------------------------------- RESP3 */

Test(sort, resp3)
{
	int fd;
	size_t len;
	char *hello;

	X("RPUSH {s}l 2 1", ":2");
	X("SET {s}v_1 one", "+OK");
	fd = kr_raw_connect(&srv);
	kr_raw_sends(fd, "HELLO 3\r\n");
	hello = kr_raw_read(fd, 1, &len);
	free(hello);
	kr_raw_expect(fd, "SORT {s}l GET {s}v_*\r\n", 1, "*2\r\n$3\r\none\r\n_\r\n");
	kr_raw_expect(fd, "SORT {s}l\r\n", 1, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
	kr_raw_expect(fd, "SORT {s}l STORE {s}d\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "SORT {s}nokey\r\n", 1, "*0\r\n");
	close(fd);
}

/* COMMAND GETKEYS: the sorted key and the STORE destination only. */
Test(sort, getkeys)
{
	X("COMMAND GETKEYS SORT {s}l BY {s}w_* GET {s}v_* STORE {s}d", "*2[${s}l,${s}d]");
	X("COMMAND GETKEYS SORT {s}l", "*1[${s}l]");
	X("COMMAND GETKEYS SORT {s}l GET store STORE {s}d", "*2[${s}l,${s}d]");
	X("COMMAND GETKEYS SORT_RO {s}l BY {s}w_*", "*1[${s}l]");
}

/* STORE into keys of every shard (k0, k1, k5 are on three different
 * shards with KR_SHARDS=3): the routing layer brings the destination to
 * the sort, whatever shard owns it. */
Test(sort, store_on_other_shards)
{
	static const struct kr_step st[] = {
		{ "RPUSH {s}l 3 1 2", ":3" },
		{ "SET k0 x", "+OK" },
		{ "SORT {s}l STORE k0", ":3" },
		{ "LRANGE k0 0 -1", "*3[$1,$2,$3]" },
		{ "SORT {s}l DESC STORE k1", ":3" },
		{ "LRANGE k1 0 -1", "*3[$3,$2,$1]" },
		{ "SORT {s}l LIMIT 0 1 STORE k5", ":1" },
		{ "LRANGE k5 0 -1", "*1[$1]" },
		{ "SORT {s}l LIMIT 9 1 STORE k5", ":0" },
		{ "EXISTS k5", ":0" },
		{ "SORT {s}l STORE k9", ":3" },
		{ "SORT k9 DESC STORE {s}l", ":3" },
		{ "LRANGE {s}l 0 -1", "*3[$3,$2,$1]" },
	};

	RUN(st);
}

/* Pattern keys on the sorted key's shard (one hash tag) work with any
 * number of shards; a pattern reaching a key on another shard is an error
 * on keyrail with several shards, never a silent miss. */
Test(sort, patterns_and_shards)
{
	redisContext *c = kr_connect(&srv);
	kr_int(c, 3, "RPUSH {u}:l a b c");
	kr_ok(c, "MSET {u}:w_a 3 {u}:w_b 1 {u}:w_c 2 {u}:n_a A {u}:n_b B {u}:n_c C");
	redisReply *r = kr_cmd(c, "SORT {u}:l BY {u}:w_* GET {u}:n_*");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 3);
	cr_assert_str_eq(r->element[0]->str, "B");
	cr_assert_str_eq(r->element[1]->str, "C");
	cr_assert_str_eq(r->element[2]->str, "A");
	freeReplyObject(r);
	const char *ns = getenv("KR_SHARDS");
	if (srv.is_redis || !ns || atoi(ns) < 2) {
		redisFree(c);
		return;
	}
	/* w_a w_b w_c without a tag: at least one lands on another shard
	 * than {u}:l for 2+ shards (checked below by the slot rule). */
	kr_ok(c, "MSET w_a 3 w_b 1 w_c 2");
	unsigned n = (unsigned)atoi(ns), home = kr_key_slot("{u}:l") % n;
	bool foreign = kr_key_slot("w_a") % n != home || kr_key_slot("w_b") % n != home ||
		       kr_key_slot("w_c") % n != home;
	cr_assert(foreign, "test keys all on one shard: pick others");
	kr_err(c, "ERR SORT BY/GET pattern reached a key on another shard", "SORT {u}:l BY w_*");
	kr_err(c, "ERR SORT BY/GET pattern reached a key on another shard", "SORT {u}:l BY nosort GET w_*");
	kr_err(c, "ERR SORT BY/GET pattern reached a key on another shard", "SORT {u}:l BY w_* STORE {u}:out");
	kr_int(c, 0, "EXISTS {u}:out");
	redisFree(c);
}

/* Empty elements and patterns that expand to empty key names (regression:
 * UBSan stopped the server on zero-length copies from NULL buffers). */
Test(sort, empty_elements_and_patterns)
{
	kr_int(c, 2, "RPUSH %s %s %s", "sl", "", "");
	redisReply *r = kr_cmd(c, "SORT sl ALPHA");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2);
	cr_assert_eq(r->element[0]->len, 0);
	freeReplyObject(r);
	/* The patterns expand to "" and "k": with several shards those keys
	 * may be elsewhere, which is refused with a clear error. */
	const char *pats[] = { "SORT sl BY * ALPHA", "SORT sl BY k*->a" };
	for (int i = 0; i < 2; i++) {
		r = kr_cmd(c, pats[i]);
		cr_assert(r->type == REDIS_REPLY_ARRAY ||
			  (r->type == REDIS_REPLY_ERROR && strstr(r->str, "another shard")),
			  "%s: %s", pats[i], r->type == REDIS_REPLY_ERROR ? r->str : "?");
		if (r->type == REDIS_REPLY_ARRAY)
			cr_assert_eq(r->elements, 2);
		freeReplyObject(r);
	}
	kr_status(c, "PONG", "PING");
}
