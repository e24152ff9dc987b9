/* Integration tests of the sorted set commands (shards/t_zset.c) against a
 * running server: every command with its options, edge cases and exact
 * error texts, WRONGTYPE, key deletion when emptied, encoding transitions
 * under CONFIG SET zset-max-listpack-entries/-value, RESP3 replies (raw
 * bytes: doubles, nested pairs, nulls), a 50k-member zset checked against
 * a model, and blocking pops that are served at once or time out.
 *
 * Keys used together by one command share a {hash tag}, so they live on
 * one shard with KR_SHARDS=3.
 *
 * The same file runs against Debian's redis-server 7.0
 * (KR_SERVER=/usr/bin/redis-server KR_SERVER_KIND=redis), which is how the
 * expectations were checked. Most cases are tables of (command, expected
 * reply rendered by kr_render) run in order on one connection. */
#include <math.h>
#include <poll.h>
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

TestSuite(zsets, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------- steps */

/* A command (words separated by single spaces; '' is an empty argument)
 * and its reply as kr_render() writes it: ":3", "$a", "nil", "-ERR ...",
 * "*2[$a,$1]". */
static void expect(const char *line, const char *want) { kr_expect_render(c, line, want); }
#define RUN(steps) KR_RUN(c, steps)

#define E_SYNTAX   "-ERR syntax error"
#define E_NOTINT   "-ERR value is not an integer or out of range"
#define E_NOTFLOAT "-ERR value is not a valid float"
#define E_WRONG    "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_MINMAX   "-ERR min or max is not a float"
#define E_LEX      "-ERR min or max not valid string range item"

/* Does the server know SADD? (The set type lands separately in keyrail;
 * set inputs to ZUNION & co. are tested when it is there.) */
static bool have_sets(void)
{
	redisReply *r = kr_cmd(c, "SADD {t}probe x");
	bool ok = r->type == REDIS_REPLY_INTEGER;
	freeReplyObject(r);
	r = kr_cmd(c, "DEL {t}probe");
	freeReplyObject(r);
	return ok;
}

/* ------------------------------------------------------------ ZADD */

Test(zsets, zadd_options_and_errors)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a", ":1" },
		{ "ZADD z 1 a 2 b 3 c", ":2" },
		{ "ZADD z 5 a", ":0" },
		{ "ZADD z CH 6 a 2 b 4 d", ":2" },
		{ "ZRANGE z 0 -1 WITHSCORES", "*8[$b,$2,$c,$3,$d,$4,$a,$6]" },
		{ "ZADD z NX 100 a 7 e", ":1" },
		{ "ZSCORE z a", "$6" },
		{ "ZADD z XX 100 a 8 f", ":0" },
		{ "ZSCORE z a", "$100" },
		{ "ZSCORE z f", "nil" },
		{ "ZADD z XX CH 101 a 8 f", ":1" },
		{ "ZADD z GT CH 50 a 200 b", ":1" },
		{ "ZMSCORE z a b", "*2[$101,$200]" },
		{ "ZADD z LT CH 50 a 300 b 1 g", ":2" },
		{ "ZMSCORE z a b g", "*3[$50,$200,$1]" },
		{ "ZADD z GT 5 newgt", ":1" },
		{ "ZADD z INCR 10 a", "$60" },
		{ "ZADD z INCR -0.5 a", "$59.5" },
		{ "ZADD z NX INCR 1 a", "nil" },
		{ "ZADD z XX INCR 1 nosuch", "nil" },
		{ "ZADD z GT INCR -1 a", "nil" },
		{ "ZADD z LT INCR -1 a", "$58.5" },
		{ "ZADD z INCR 1 brandnew", "$1" },
		{ "ZADD z nx ch xx 1 a", "-ERR XX and NX options at the same time are not compatible" },
		{ "ZADD z GT LT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible" },
		{ "ZADD z GT NX 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible" },
		{ "ZADD z LT NX 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible" },
		{ "ZADD z INCR 1 a 2 b", "-ERR INCR option supports a single increment-element pair" },
		{ "ZADD z 1 a 2", E_SYNTAX },
		{ "ZADD z NX 1", E_SYNTAX },
		{ "ZADD z CH CH", E_SYNTAX },
		{ "ZADD z", "-ERR wrong number of arguments for 'zadd' command" },
		{ "ZADD z nan a", E_NOTFLOAT },
		{ "ZADD z 1 a x b", E_NOTFLOAT },
		{ "ZADD z '' a", E_NOTFLOAT },
		{ "ZADD z 1x a", E_NOTFLOAT },
		/* A bad score anywhere means nothing was added. */
		{ "ZSCORE z x", "nil" },
		{ "ZADD z +inf pinf -inf ninf 1e3 sci -0 negzero", ":4" },
		/* -0 becomes 0 in a listpack (Redis stores it as the integer 0). */
		{ "ZMSCORE z pinf ninf sci negzero", "*4[$inf,$-inf,$1000,$0]" },
		{ "ZADD z INCR -inf pinf", "-ERR resulting score is not a number (NaN)" },
		{ "ZSCORE z pinf", "$inf" },
		{ "ZADD z 1.1 frac", ":1" },
		{ "ZSCORE z frac", "$1.1000000000000001" },
		{ "ZADD z 0.1 tenth 3.0000000000000004 three", ":2" },
		{ "ZMSCORE z tenth three", "*2[$0.10000000000000001,$3.0000000000000004]" },
		/* XX on a missing key creates nothing. */
		{ "ZADD nokey XX 1 a", ":0" },
		{ "EXISTS nokey", ":0" },
		{ "ZADD nokey XX INCR 1 a", "nil" },
		{ "EXISTS nokey", ":0" },
		{ "SET str v", "+OK" },
		{ "ZADD str 1 a", E_WRONG },
		/* Options are parsed before the type is checked. */
		{ "ZADD str 1 a 2", E_SYNTAX },
		{ "ZADD str x a", E_NOTFLOAT },
	};
	RUN(st);
}

Test(zsets, zincrby)
{
	static const struct kr_step st[] = {
		{ "ZINCRBY z 5 a", "$5" },
		{ "ZINCRBY z -2.5 a", "$2.5" },
		{ "ZINCRBY z 1 b", "$1" },
		{ "ZRANGE z 0 -1", "*2[$b,$a]" },
		{ "ZINCRBY z x a", E_NOTFLOAT },
		{ "ZINCRBY z nan a", E_NOTFLOAT },
		{ "ZINCRBY z inf a", "$inf" },
		{ "ZINCRBY z -inf a", "-ERR resulting score is not a number (NaN)" },
		{ "ZSCORE z a", "$inf" },
		/* ZINCRBY shares ZADD's option scan: "nx" is taken as an option. */
		{ "ZINCRBY z nx a", E_SYNTAX },
		{ "SET str v", "+OK" },
		{ "ZINCRBY str 1 a", E_WRONG },
		{ "ZINCRBY z 1", "-ERR wrong number of arguments for 'zincrby' command" },
	};
	RUN(st);
}

/* ------------------------------------------- single-member commands */

Test(zsets, zrem_zcard_zscore_zrank)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2 b 3 c 4 d", ":4" },
		{ "ZCARD z", ":4" },
		{ "ZCARD nokey", ":0" },
		{ "ZSCORE z c", "$3" },
		{ "ZSCORE z nosuch", "nil" },
		{ "ZSCORE nokey a", "nil" },
		{ "ZMSCORE z a nosuch d", "*3[$1,nil,$4]" },
		{ "ZMSCORE nokey a b", "*2[nil,nil]" },
		{ "ZRANK z a", ":0" },
		{ "ZRANK z d", ":3" },
		{ "ZREVRANK z a", ":3" },
		{ "ZREVRANK z d", ":0" },
		{ "ZRANK z nosuch", "nil" },
		{ "ZRANK nokey a", "nil" },
		{ "ZREVRANK nokey a", "nil" },
		{ "ZRANK z a withscore", "-ERR wrong number of arguments for 'zrank' command" },
		{ "ZREM z a nosuch b", ":2" },
		{ "ZREM z a", ":0" },
		{ "ZREM nokey a", ":0" },
		{ "ZCARD z", ":2" },
		{ "ZREM z c d x", ":2" },
		{ "EXISTS z", ":0" },
		{ "SET str v", "+OK" },
		{ "ZREM str a", E_WRONG },
		{ "ZCARD str", E_WRONG },
		{ "ZSCORE str a", E_WRONG },
		{ "ZMSCORE str a", E_WRONG },
		{ "ZRANK str a", E_WRONG },
		{ "ZREVRANK str a", E_WRONG },
		{ "ZMSCORE z", "-ERR wrong number of arguments for 'zmscore' command" },
		{ "ZREM z", "-ERR wrong number of arguments for 'zrem' command" },
	};
	RUN(st);
}

/* Members that look like numbers are stored as listpack integers but sort
 * and answer as their text. */
Test(zsets, numeric_members)
{
	static const struct kr_step st[] = {
		{ "ZADD z 0 10 0 9 0 -1 0 100 0 007 0 '' 0 a", ":7" },
		{ "ZRANGE z 0 -1", "*7[$,$-1,$007,$10,$100,$9,$a]" },
		{ "ZRANGEBYLEX z [1 (9", "*2[$10,$100]" },
		{ "ZSCORE z 007", "$0" },
		{ "ZRANK z 100", ":4" },
		{ "ZREM z 10", ":1" },
		{ "ZSCORE z 10", "nil" },
		{ "ZSCORE z ''", "$0" },
	};
	RUN(st);
}

/* ------------------------------------------------------- ZRANGE family */

Test(zsets, zrange_by_rank)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2 b 3 c 4 d 5 e", ":5" },
		{ "ZRANGE z 0 -1", "*5[$a,$b,$c,$d,$e]" },
		{ "ZRANGE z 1 2 WITHSCORES", "*4[$b,$2,$c,$3]" },
		{ "ZRANGE z -2 -1", "*2[$d,$e]" },
		{ "ZRANGE z -100 1", "*2[$a,$b]" },
		{ "ZRANGE z 3 100", "*2[$d,$e]" },
		{ "ZRANGE z 3 2", "*0[]" },
		{ "ZRANGE z 5 10", "*0[]" },
		{ "ZRANGE z -1 -2", "*0[]" },
		{ "ZRANGE z 0 0 REV", "*1[$e]" },
		{ "ZRANGE z 0 1 REV WITHSCORES", "*4[$e,$5,$d,$4]" },
		{ "ZREVRANGE z 0 -1", "*5[$e,$d,$c,$b,$a]" },
		{ "ZREVRANGE z 1 2 WITHSCORES", "*4[$d,$4,$c,$3]" },
		{ "ZREVRANGE z -1 -1", "*1[$a]" },
		{ "ZRANGE nokey 0 -1", "*0[]" },
		{ "ZRANGE z a 1", E_NOTINT },
		{ "ZRANGE z 0 1.5", E_NOTINT },
		{ "ZRANGE z 0 1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZREVRANGE z 0 1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZRANGE z 0 1 LIMIT 0", E_SYNTAX },
		{ "ZRANGE z 0 1 REV REV", E_SYNTAX },
		{ "ZRANGE z 0 1 BYSCORE BYLEX", E_SYNTAX },
		{ "ZRANGE z 0 1 FOO", E_SYNTAX },
		{ "ZREVRANGE z 0 1 REV", E_SYNTAX },
		{ "ZRANGE z 0 1 LIMIT x 1 BYSCORE", E_NOTINT },
		{ "SET str v", "+OK" },
		{ "ZRANGE str 0 -1", E_WRONG },
		/* Syntax is checked before the key's type. */
		{ "ZRANGE str 0 -1 FOO", E_SYNTAX },
	};
	RUN(st);
}

Test(zsets, zrange_by_score)
{
	static const struct kr_step st[] = {
		{ "ZADD z -inf ninf 1 a 2 b 2 bb 3 c 4 d +inf pinf", ":7" },
		{ "ZRANGEBYSCORE z -inf +inf", "*7[$ninf,$a,$b,$bb,$c,$d,$pinf]" },
		{ "ZRANGEBYSCORE z 2 3 WITHSCORES", "*6[$b,$2,$bb,$2,$c,$3]" },
		{ "ZRANGEBYSCORE z (2 3", "*1[$c]" },
		{ "ZRANGEBYSCORE z (1 (3", "*2[$b,$bb]" },
		{ "ZRANGEBYSCORE z 3 2", "*0[]" },
		{ "ZRANGEBYSCORE z (2 2", "*0[]" },
		{ "ZRANGEBYSCORE z 2 2", "*2[$b,$bb]" },
		{ "ZRANGEBYSCORE z -inf -inf WITHSCORES", "*2[$ninf,$-inf]" },
		{ "ZRANGEBYSCORE z (4 +inf WITHSCORES", "*2[$pinf,$inf]" },
		{ "ZRANGEBYSCORE z '' ''", "*0[]" },
		{ "ZRANGEBYSCORE z 1 3 LIMIT 1 2", "*2[$b,$bb]" },
		{ "ZRANGEBYSCORE z 1 3 LIMIT 1 -1", "*3[$b,$bb,$c]" },
		{ "ZRANGEBYSCORE z 1 3 LIMIT 0 0", "*0[]" },
		{ "ZRANGEBYSCORE z 1 3 LIMIT -1 5", "*0[]" },
		{ "ZRANGEBYSCORE z 1 3 LIMIT 10 5", "*0[]" },
		{ "ZRANGEBYSCORE z 1 3 WITHSCORES LIMIT 2 1", "*2[$bb,$2]" },
		{ "ZREVRANGEBYSCORE z 3 1", "*4[$c,$bb,$b,$a]" },
		{ "ZREVRANGEBYSCORE z 3 1 LIMIT 1 2 WITHSCORES", "*4[$bb,$2,$b,$2]" },
		{ "ZREVRANGEBYSCORE z 1 3", "*0[]" },
		{ "ZREVRANGEBYSCORE z (3 (1", "*2[$bb,$b]" },
		{ "ZRANGE z 1 3 BYSCORE", "*4[$a,$b,$bb,$c]" },
		{ "ZRANGE z 3 1 BYSCORE REV LIMIT 0 2", "*2[$c,$bb]" },
		{ "ZRANGE z (1 +inf BYSCORE LIMIT 1 2 WITHSCORES", "*4[$bb,$2,$c,$3]" },
		{ "ZRANGEBYSCORE z a 3", E_MINMAX },
		{ "ZRANGEBYSCORE z 1 nan", E_MINMAX },
		{ "ZRANGEBYSCORE z ((1 3", E_MINMAX },
		{ "ZRANGE z x 1 BYSCORE", E_MINMAX },
		{ "ZRANGEBYSCORE z 1 2 REV", E_SYNTAX },
		{ "ZRANGEBYSCORE z 1 2 BYSCORE", E_SYNTAX },
		{ "ZRANGEBYSCORE z 1 2 LIMIT 1", E_SYNTAX },
		{ "ZRANGEBYSCORE z 1 2 LIMIT 1 x", E_NOTINT },
		{ "ZRANGEBYSCORE nokey 1 2", "*0[]" },
		{ "SET str v", "+OK" },
		{ "ZRANGEBYSCORE str 1 2", E_WRONG },
		{ "ZREVRANGEBYSCORE str 1 2", E_WRONG },
		{ "ZRANGEBYSCORE str x 2", E_MINMAX },
	};
	RUN(st);
}

Test(zsets, zrange_by_lex)
{
	static const struct kr_step st[] = {
		{ "ZADD z 0 a 0 b 0 c 0 d 0 e 0 f 0 g", ":7" },
		{ "ZRANGEBYLEX z - +", "*7[$a,$b,$c,$d,$e,$f,$g]" },
		{ "ZRANGEBYLEX z - [c", "*3[$a,$b,$c]" },
		{ "ZRANGEBYLEX z - (c", "*2[$a,$b]" },
		{ "ZRANGEBYLEX z [aaa (g", "*5[$b,$c,$d,$e,$f]" },
		{ "ZRANGEBYLEX z + -", "*0[]" },
		{ "ZRANGEBYLEX z - -", "*0[]" },
		{ "ZRANGEBYLEX z + +", "*0[]" },
		{ "ZRANGEBYLEX z [c [c", "*1[$c]" },
		{ "ZRANGEBYLEX z (c [c", "*0[]" },
		{ "ZRANGEBYLEX z [ +", "*7[$a,$b,$c,$d,$e,$f,$g]" },
		{ "ZRANGEBYLEX z - + LIMIT 2 3", "*3[$c,$d,$e]" },
		{ "ZRANGEBYLEX z - + LIMIT 5 -1", "*2[$f,$g]" },
		{ "ZRANGEBYLEX z - + LIMIT -1 1", "*0[]" },
		{ "ZREVRANGEBYLEX z + -", "*7[$g,$f,$e,$d,$c,$b,$a]" },
		{ "ZREVRANGEBYLEX z [e (b", "*3[$e,$d,$c]" },
		{ "ZREVRANGEBYLEX z + - LIMIT 1 2", "*2[$f,$e]" },
		{ "ZREVRANGEBYLEX z - +", "*0[]" },
		{ "ZRANGE z [b [d BYLEX", "*3[$b,$c,$d]" },
		{ "ZRANGE z [d [b BYLEX REV LIMIT 0 2", "*2[$d,$c]" },
		{ "ZRANGEBYLEX z a +", E_LEX },
		{ "ZRANGEBYLEX z - b", E_LEX },
		{ "ZRANGEBYLEX z '' +", E_LEX },
		{ "ZRANGEBYLEX z -a +", E_LEX },
		{ "ZRANGEBYLEX z - ++", E_LEX },
		{ "ZRANGEBYLEX z - + WITHSCORES", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX" },
		{ "ZRANGE z - + BYLEX WITHSCORES", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX" },
		{ "ZRANGEBYLEX nokey - +", "*0[]" },
		{ "SET str v", "+OK" },
		{ "ZRANGEBYLEX str - +", E_WRONG },
		{ "ZREVRANGEBYLEX str + -", E_WRONG },
	};
	RUN(st);
}

Test(zsets, zrangestore)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}src 1 a 2 b 3 c 4 d", ":4" },
		{ "ZRANGESTORE {t}dst {t}src 1 2", ":2" },
		{ "ZRANGE {t}dst 0 -1 WITHSCORES", "*4[$b,$2,$c,$3]" },
		{ "ZRANGESTORE {t}dst {t}src 2 4 BYSCORE LIMIT 1 5", ":2" },
		{ "ZRANGE {t}dst 0 -1 WITHSCORES", "*4[$c,$3,$d,$4]" },
		{ "ZRANGESTORE {t}dst {t}src 3 1 BYSCORE REV", ":3" },
		{ "ZRANGE {t}dst 0 -1", "*3[$a,$b,$c]" },
		{ "ZRANGESTORE {t}dst {t}src [b [c BYLEX", ":2" },
		{ "ZRANGE {t}dst 0 -1", "*2[$b,$c]" },
		{ "ZRANGESTORE {t}dst {t}src 0 -1 REV", ":4" },
		{ "ZCARD {t}dst", ":4" },
		/* An empty result deletes the destination. */
		{ "ZRANGESTORE {t}dst {t}src 10 20", ":0" },
		{ "EXISTS {t}dst", ":0" },
		{ "SET {t}dst x", "+OK" },
		{ "ZRANGESTORE {t}dst {t}nokey 0 -1", ":0" },
		{ "EXISTS {t}dst", ":0" },
		/* The destination's old type does not matter; the source's does. */
		{ "SET {t}dst x", "+OK" },
		{ "ZRANGESTORE {t}dst {t}src 0 0", ":1" },
		{ "TYPE {t}dst", "+zset" },
		{ "SET {t}str v", "+OK" },
		{ "ZRANGESTORE {t}dst {t}str 0 -1", E_WRONG },
		{ "ZRANGESTORE {t}dst {t}src 0 -1 WITHSCORES", E_SYNTAX },
		{ "ZRANGESTORE {t}dst {t}src 0 -1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZRANGESTORE {t}dst {t}src", "-ERR wrong number of arguments for 'zrangestore' command" },
		/* The source may be the destination. */
		{ "ZRANGESTORE {t}src {t}src 0 1", ":2" },
		{ "ZRANGE {t}src 0 -1", "*2[$a,$b]" },
	};
	RUN(st);
}

/* -------------------------------------------------- counts and removes */

Test(zsets, zcount_zlexcount)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2 b 3 c 4 d", ":4" },
		{ "ZCOUNT z -inf +inf", ":4" },
		{ "ZCOUNT z (1 3", ":2" },
		{ "ZCOUNT z 3 1", ":0" },
		{ "ZCOUNT z 5 10", ":0" },
		{ "ZCOUNT nokey 0 1", ":0" },
		{ "ZCOUNT z x 1", E_MINMAX },
		{ "ZADD l 0 a 0 b 0 c 0 d", ":4" },
		{ "ZLEXCOUNT l - +", ":4" },
		{ "ZLEXCOUNT l [b (d", ":2" },
		{ "ZLEXCOUNT l + -", ":0" },
		{ "ZLEXCOUNT nokey - +", ":0" },
		{ "ZLEXCOUNT l b d", E_LEX },
		{ "SET str v", "+OK" },
		{ "ZCOUNT str 0 1", E_WRONG },
		{ "ZLEXCOUNT str - +", E_WRONG },
		{ "ZCOUNT str x 1", E_MINMAX },
	};
	RUN(st);
}

Test(zsets, zremrange)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f", ":6" },
		{ "ZREMRANGEBYRANK z 0 1", ":2" },
		{ "ZRANGE z 0 -1", "*4[$c,$d,$e,$f]" },
		{ "ZREMRANGEBYRANK z -1 -1", ":1" },
		{ "ZREMRANGEBYRANK z 5 10", ":0" },
		{ "ZREMRANGEBYRANK z 2 1", ":0" },
		{ "ZREMRANGEBYSCORE z (3 4", ":1" },
		{ "ZRANGE z 0 -1", "*2[$c,$e]" },
		{ "ZREMRANGEBYSCORE z 10 20", ":0" },
		{ "ZREMRANGEBYSCORE z -inf +inf", ":2" },
		{ "EXISTS z", ":0" },
		{ "ZADD l 0 a 0 b 0 c 0 d", ":4" },
		{ "ZREMRANGEBYLEX l (a [c", ":2" },
		{ "ZRANGE l 0 -1", "*2[$a,$d]" },
		{ "ZREMRANGEBYLEX l + -", ":0" },
		{ "ZREMRANGEBYLEX l - +", ":2" },
		{ "EXISTS l", ":0" },
		{ "ZREMRANGEBYRANK nokey 0 -1", ":0" },
		{ "ZREMRANGEBYSCORE nokey 0 1", ":0" },
		{ "ZREMRANGEBYLEX nokey - +", ":0" },
		{ "ZREMRANGEBYRANK nokey a 1", E_NOTINT },
		{ "ZREMRANGEBYSCORE nokey a 1", E_MINMAX },
		{ "ZREMRANGEBYLEX nokey a +", E_LEX },
		{ "SET str v", "+OK" },
		{ "ZREMRANGEBYRANK str 0 1", E_WRONG },
		{ "ZREMRANGEBYSCORE str 0 1", E_WRONG },
		{ "ZREMRANGEBYLEX str - +", E_WRONG },
		{ "ZADD z 1 a 2 b 3 c", ":3" },
		{ "ZREMRANGEBYRANK z -100 100", ":3" },
		{ "EXISTS z", ":0" },
	};
	RUN(st);
}

/* ---------------------------------------------------------------- pops */

Test(zsets, zpopmin_zpopmax)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2 b 3 c 4 d 5 e", ":5" },
		{ "ZPOPMIN z", "*2[$a,$1]" },
		{ "ZPOPMAX z", "*2[$e,$5]" },
		{ "ZPOPMIN z 2", "*4[$b,$2,$c,$3]" },
		{ "ZPOPMIN z 0", "*0[]" },
		{ "ZPOPMAX z 10", "*2[$d,$4]" },
		{ "EXISTS z", ":0" },
		{ "ZPOPMIN z", "*0[]" },
		{ "ZPOPMAX nokey 3", "*0[]" },
		{ "ZPOPMIN z -1", "-ERR value is out of range, must be positive" },
		{ "ZPOPMIN z x", "-ERR value is out of range, must be positive" },
		{ "ZPOPMIN z 1 2", E_SYNTAX },
		{ "SET str v", "+OK" },
		{ "ZPOPMIN str", E_WRONG },
		{ "ZPOPMAX str 2", E_WRONG },
		{ "ZADD z 1 a 1 b 1 c", ":3" },
		{ "ZPOPMAX z 2", "*4[$c,$1,$b,$1]" },
		{ "ZCARD z", ":1" },
	};
	RUN(st);
}

Test(zsets, zmpop)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}b 1 x 2 y 3 z", ":3" },
		{ "ZMPOP 2 {t}a {t}b MIN", "*2[${t}b,*1[*2[$x,$1]]]" },
		{ "ZMPOP 2 {t}a {t}b MAX COUNT 5", "*2[${t}b,*2[*2[$z,$3],*2[$y,$2]]]" },
		{ "EXISTS {t}b", ":0" },
		{ "ZMPOP 2 {t}a {t}b MIN", "nil" },
		{ "ZADD {t}a 7 q", ":1" },
		{ "ZMPOP 2 {t}a {t}b min count 1", "*2[${t}a,*1[*2[$q,$7]]]" },
		{ "ZMPOP 0 {t}a MIN", "-ERR numkeys should be greater than 0" },
		{ "ZMPOP x {t}a MIN", "-ERR numkeys should be greater than 0" },
		{ "ZMPOP 3 {t}a {t}b MIN", E_SYNTAX },
		{ "ZMPOP 1 {t}a LEFT", E_SYNTAX },
		{ "ZMPOP 1 {t}a MIN COUNT 0", "-ERR count should be greater than 0" },
		{ "ZMPOP 1 {t}a MIN COUNT -1", "-ERR count should be greater than 0" },
		{ "ZMPOP 1 {t}a MIN COUNT 1 COUNT 1", E_SYNTAX },
		{ "ZMPOP 1 {t}a MIN COUNT", E_SYNTAX },
		{ "ZMPOP 1 {t}a MIN FOO", E_SYNTAX },
		{ "SET {t}s v", "+OK" },
		{ "ZADD {t}b 1 x", ":1" },
		{ "ZMPOP 2 {t}s {t}b MIN", E_WRONG },
		/* Only keys up to the first existing one are type-checked. */
		{ "ZMPOP 2 {t}b {t}s MIN", "*2[${t}b,*1[*2[$x,$1]]]" },
	};
	RUN(st);
}

Test(zsets, blocking_pops_served_at_once_or_time_out)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}b 1 x 2 y 3 z", ":3" },
		{ "BZPOPMIN {t}a {t}b 0", "*3[${t}b,$x,$1]" },
		{ "BZPOPMAX {t}a {t}b 0", "*3[${t}b,$z,$3]" },
		{ "BZPOPMIN {t}b 0.01", "*3[${t}b,$y,$2]" },
		{ "EXISTS {t}b", ":0" },
		/* Nothing to pop: a null array after the timeout. */
		{ "BZPOPMIN {t}a {t}b 0.05", "nil" },
		{ "BZPOPMAX {t}a 0.01", "nil" },
		{ "BZMPOP 0.05 2 {t}a {t}b MIN", "nil" },
		{ "ZADD {t}b 1 x 2 y 3 z", ":3" },
		{ "BZMPOP 0 2 {t}a {t}b MAX COUNT 2", "*2[${t}b,*2[*2[$z,$3],*2[$y,$2]]]" },
		{ "BZMPOP 0.01 1 {t}b MIN COUNT 10", "*2[${t}b,*1[*2[$x,$1]]]" },
		{ "BZPOPMIN {t}a -1", "-ERR timeout is negative" },
		{ "BZPOPMIN {t}a abc", "-ERR timeout is not a float or out of range" },
		{ "BZMPOP -1 1 {t}a MIN", "-ERR timeout is negative" },
		{ "BZMPOP 0 0 {t}a MIN", "-ERR numkeys should be greater than 0" },
		{ "BZMPOP 0 1 {t}a MIDDLE", E_SYNTAX },
		{ "BZMPOP 0 1 {t}a MIN COUNT 0", "-ERR count should be greater than 0" },
		{ "SET {t}s v", "+OK" },
		{ "BZPOPMIN {t}s 0", E_WRONG },
		{ "BZPOPMAX {t}a {t}s 0", E_WRONG },
		{ "BZMPOP 0 1 {t}s MIN", E_WRONG },
		{ "BZPOPMIN {t}a", "-ERR wrong number of arguments for 'bzpopmin' command" },
	};
	RUN(st);
}

/* A client blocked on an empty key is answered by another client's write.
 * The blocked client's socket must stay silent until the write (checked
 * with a poll after a pause), then carry exactly the pop. */
static void expect_woken(const char *blocking_cmd, const char *write_cmd, const char *want)
{
	int fd = kr_raw_connect(&srv);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	kr_raw_sends(fd, blocking_cmd);
	usleep(150 * 1000);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "%s answered before any write", blocking_cmd);
	expect(write_cmd, ":1");
	size_t n;
	char *got = kr_raw_read(fd, 1, &n);
	cr_assert_str_eq(got, want, "%s", blocking_cmd);
	free(got);
	close(fd);
}

Test(zsets, blocked_pops_are_woken_by_writes)
{
	expect_woken("BZPOPMIN {t}w1 {t}w2 10\r\n", "ZADD {t}w2 5 m",
		     "*3\r\n$5\r\n{t}w2\r\n$1\r\nm\r\n$1\r\n5\r\n");
	expect("EXISTS {t}w2", ":0");
	expect_woken("BZPOPMAX {t}w1 0\r\n", "ZADD {t}w1 2.5 top",
		     "*3\r\n$5\r\n{t}w1\r\n$3\r\ntop\r\n$3\r\n2.5\r\n");
	expect_woken("BZMPOP 10 2 {t}w1 {t}w2 MAX COUNT 3\r\n", "ZADD {t}w2 7 q",
		     "*2\r\n$5\r\n{t}w2\r\n*1\r\n*2\r\n$1\r\nq\r\n$1\r\n7\r\n");
	/* A write of another type does not serve it; the timeout ends it. */
	int fd = kr_raw_connect(&srv);
	kr_raw_sends(fd, "BZPOPMIN {t}w3 0.3\r\n");
	usleep(50 * 1000);
	expect("SET {t}other v", "+OK");
	size_t n;
	char *got = kr_raw_read(fd, 1, &n);
	cr_assert_str_eq(got, "*-1\r\n");
	free(got);
	close(fd);
}

/* ----------------------------------------------------------- ZRANDMEMBER */

static void check_randmember(const char *key, long long count, bool withscores, size_t want_n,
			     bool distinct)
{
	redisReply *r = withscores ? kr_cmd(c, "ZRANDMEMBER %s %lld WITHSCORES", key, count)
				   : kr_cmd(c, "ZRANDMEMBER %s %lld", key, count);
	size_t per = withscores ? 2 : 1;
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, want_n * per, "count %lld: got %zu elements", count, r->elements);
	for (size_t i = 0; i < r->elements; i += per) {
		const char *m = r->element[i]->str;
		cr_assert_eq(m[0], 'm');
		int v = atoi(m + 1);
		if (withscores)
			cr_assert_eq(atoi(r->element[i + 1]->str), v, "score of %s", m);
		if (distinct)
			for (size_t k = 0; k < i; k += per)
				cr_assert_str_neq(r->element[k]->str, m, "repeated %s", m);
	}
	freeReplyObject(r);
}

Test(zsets, zrandmember)
{
	for (int big = 0; big < 2; big++) {
		const char *key = big ? "big" : "small";
		int n = big ? 300 : 20;
		for (int i = 0; i < n; i++)
			kr_int(c, 1, "ZADD %s %d m%d", key, i, i);
		kr_expect_encoding(c, key, big ? "skiplist" : "listpack");
		check_randmember(key, 5, false, 5, true);
		check_randmember(key, 5, true, 5, true);
		check_randmember(key, n / 2, true, (size_t)n / 2, true);
		check_randmember(key, n - 1, false, (size_t)n - 1, true);
		check_randmember(key, n + 10, true, (size_t)n, true);
		check_randmember(key, -(n + 10), true, (size_t)n + 10, false);
		check_randmember(key, -3, false, 3, false);
		redisReply *r = kr_cmd(c, "ZRANDMEMBER %s", key);
		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		cr_assert_eq(r->str[0], 'm');
		freeReplyObject(r);
	}
	static const struct kr_step st[] = {
		{ "ZRANDMEMBER nokey", "nil" },
		{ "ZRANDMEMBER nokey 5", "*0[]" },
		{ "ZRANDMEMBER small 0", "*0[]" },
		{ "ZRANDMEMBER small 0 WITHSCORES", "*0[]" },
		{ "ZRANDMEMBER small x", E_NOTINT },
		{ "ZRANDMEMBER small 1 FOO", E_SYNTAX },
		{ "ZRANDMEMBER small 1 WITHSCORES x", E_SYNTAX },
		{ "ZRANDMEMBER small -9223372036854775808", "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807" },
		{ "ZRANDMEMBER small 9223372036854775807 WITHSCORES", "-ERR value is out of range" },
		{ "SET str v", "+OK" },
		{ "ZRANDMEMBER str", E_WRONG },
		{ "ZRANDMEMBER str 2", E_WRONG },
	};
	RUN(st);
}

/* ----------------------------------------------------- set operations */

Test(zsets, zunion_zinter_zdiff)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}a 1 x 2 y 3 z", ":3" },
		{ "ZADD {t}b 10 y 20 z 30 w", ":3" },
		{ "ZUNION 2 {t}a {t}b", "*4[$x,$y,$z,$w]" },
		{ "ZUNION 2 {t}a {t}b WITHSCORES", "*8[$x,$1,$y,$12,$z,$23,$w,$30]" },
		{ "ZUNION 2 {t}a {t}b WEIGHTS 2 0.5 WITHSCORES", "*8[$x,$2,$y,$9,$w,$15,$z,$16]" },
		{ "ZUNION 2 {t}a {t}b AGGREGATE MIN WITHSCORES", "*8[$x,$1,$y,$2,$z,$3,$w,$30]" },
		{ "ZUNION 2 {t}a {t}b AGGREGATE max WITHSCORES", "*8[$x,$1,$y,$10,$z,$20,$w,$30]" },
		{ "ZUNION 3 {t}a {t}b {t}nokey WITHSCORES", "*8[$x,$1,$y,$12,$z,$23,$w,$30]" },
		{ "ZINTER 2 {t}a {t}b WITHSCORES", "*4[$y,$12,$z,$23]" },
		{ "ZINTER 2 {t}a {t}b WEIGHTS 1 -1 WITHSCORES", "*4[$z,$-17,$y,$-8]" },
		{ "ZINTER 2 {t}a {t}b AGGREGATE MAX", "*2[$y,$z]" },
		{ "ZINTER 2 {t}a {t}nokey", "*0[]" },
		{ "ZINTER 2 {t}a {t}a WITHSCORES", "*6[$x,$2,$y,$4,$z,$6]" },
		{ "ZDIFF 2 {t}a {t}b WITHSCORES", "*2[$x,$1]" },
		{ "ZDIFF 2 {t}b {t}a", "*1[$w]" },
		{ "ZDIFF 1 {t}a", "*3[$x,$y,$z]" },
		{ "ZDIFF 2 {t}a {t}a", "*0[]" },
		{ "ZDIFF 2 {t}nokey {t}a", "*0[]" },
		{ "ZINTERCARD 2 {t}a {t}b", ":2" },
		{ "ZINTERCARD 2 {t}a {t}b LIMIT 1", ":1" },
		{ "ZINTERCARD 2 {t}a {t}b LIMIT 0", ":2" },
		{ "ZINTERCARD 1 {t}nokey", ":0" },
		/* inf * 0 and inf + -inf are 0, as Redis has it. */
		{ "ZADD {t}i +inf p -inf n", ":2" },
		{ "ZADD {t}j -inf p +inf n", ":2" },
		{ "ZUNION 2 {t}i {t}j WITHSCORES", "*4[$n,$0,$p,$0]" },
		{ "ZUNION 1 {t}i WEIGHTS 0 WITHSCORES", "*4[$n,$0,$p,$0]" },
		{ "ZINTER 2 {t}i {t}j AGGREGATE MIN WITHSCORES", "*4[$n,$-inf,$p,$-inf]" },
		/* Errors, in Redis's order: numkeys, types, then options. */
		{ "ZUNION 0 {t}a", "-ERR at least 1 input key is needed for 'zunion' command" },
		{ "ZINTER -1 {t}a", "-ERR at least 1 input key is needed for 'zinter' command" },
		{ "ZDIFF 0 {t}a", "-ERR at least 1 input key is needed for 'zdiff' command" },
		{ "ZINTERCARD 0 {t}a", "-ERR at least 1 input key is needed for 'zintercard' command" },
		{ "ZUNION x {t}a", E_NOTINT },
		{ "ZUNION 3 {t}a {t}b", E_SYNTAX },
		{ "ZUNION 1 {t}a WEIGHTS", E_SYNTAX },
		{ "ZUNION 2 {t}a {t}b WEIGHTS 1", E_SYNTAX },
		{ "ZUNION 1 {t}a WEIGHTS x", "-ERR weight value is not a float" },
		{ "ZUNION 1 {t}a WEIGHTS nan", "-ERR weight value is not a float" },
		{ "ZUNION 1 {t}a AGGREGATE foo", E_SYNTAX },
		{ "ZUNION 1 {t}a AGGREGATE", E_SYNTAX },
		{ "ZUNION 1 {t}a FOO", E_SYNTAX },
		{ "ZDIFF 1 {t}a WEIGHTS 1", E_SYNTAX },
		{ "ZDIFF 1 {t}a AGGREGATE SUM", E_SYNTAX },
		{ "ZINTERCARD 1 {t}a WITHSCORES", E_SYNTAX },
		{ "ZINTERCARD 1 {t}a WEIGHTS 1", E_SYNTAX },
		{ "ZINTERCARD 1 {t}a LIMIT -1", "-ERR LIMIT can't be negative" },
		{ "ZINTERCARD 1 {t}a LIMIT x", "-ERR LIMIT can't be negative" },
		{ "ZINTERCARD 1 {t}a LIMIT", E_SYNTAX },
		{ "SET {t}s v", "+OK" },
		{ "ZUNION 2 {t}a {t}s", E_WRONG },
		{ "ZUNION 2 {t}a {t}s WEIGHTS x y", E_WRONG },
		{ "ZINTER 2 {t}s {t}nokey", E_WRONG },
		{ "ZDIFF 2 {t}a {t}s", E_WRONG },
		{ "ZINTERCARD 2 {t}a {t}s", E_WRONG },
	};
	RUN(st);
}

Test(zsets, store_forms)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}a 1 x 2 y 3 z", ":3" },
		{ "ZADD {t}b 10 y 20 z 30 w", ":3" },
		{ "ZUNIONSTORE {t}d 2 {t}a {t}b WEIGHTS 1 2", ":4" },
		{ "ZRANGE {t}d 0 -1 WITHSCORES", "*8[$x,$1,$y,$22,$z,$43,$w,$60]" },
		{ "ZINTERSTORE {t}d 2 {t}a {t}b AGGREGATE MIN", ":2" },
		{ "ZRANGE {t}d 0 -1 WITHSCORES", "*4[$y,$2,$z,$3]" },
		{ "ZDIFFSTORE {t}d 2 {t}b {t}a", ":1" },
		{ "ZRANGE {t}d 0 -1 WITHSCORES", "*2[$w,$30]" },
		/* An empty result deletes the destination. */
		{ "ZINTERSTORE {t}d 2 {t}a {t}nokey", ":0" },
		{ "EXISTS {t}d", ":0" },
		{ "SET {t}d v", "+OK" },
		{ "ZDIFFSTORE {t}d 2 {t}a {t}a", ":0" },
		{ "EXISTS {t}d", ":0" },
		/* The destination can be an input. */
		{ "ZUNIONSTORE {t}a 2 {t}a {t}b", ":4" },
		{ "ZRANGE {t}a 0 -1 WITHSCORES", "*8[$x,$1,$y,$12,$z,$23,$w,$30]" },
		{ "SET {t}d v", "+OK" },
		{ "ZUNIONSTORE {t}d 1 {t}b", ":3" },
		{ "TYPE {t}d", "+zset" },
		{ "ZUNIONSTORE {t}d 1 {t}a WITHSCORES", E_SYNTAX },
		{ "ZUNIONSTORE {t}d 0 {t}a", "-ERR at least 1 input key is needed for 'zunionstore' command" },
		{ "ZINTERSTORE {t}d 0 {t}a", "-ERR at least 1 input key is needed for 'zinterstore' command" },
		{ "ZDIFFSTORE {t}d 0 {t}a", "-ERR at least 1 input key is needed for 'zdiffstore' command" },
		{ "ZUNIONSTORE {t}d 2 {t}a", E_SYNTAX },
		{ "ZDIFFSTORE {t}d 1 {t}a WEIGHTS 2", E_SYNTAX },
		{ "SET {t}s v", "+OK" },
		{ "ZUNIONSTORE {t}d 2 {t}a {t}s", E_WRONG },
		{ "ZINTERSTORE {t}d 1 {t}s", E_WRONG },
		{ "TYPE {t}d", "+zset" },
		{ "ZUNIONSTORE {t}d", "-ERR wrong number of arguments for 'zunionstore' command" },
	};
	RUN(st);
}

Test(zsets, sets_as_inputs)
{
	if (!have_sets()) {
		cr_log_warn("SADD is not available yet: set inputs not tested");
		return;
	}
	static const struct kr_step st[] = {
		{ "ZADD {t}z 5 a 6 b", ":2" },
		{ "SADD {t}s a c", ":2" },
		{ "SADD {t}i 1 2 3", ":3" },
		{ "ZUNION 2 {t}z {t}s WITHSCORES", "*6[$c,$1,$a,$6,$b,$6]" },
		{ "ZINTER 2 {t}z {t}s WEIGHTS 1 10 WITHSCORES", "*2[$a,$15]" },
		{ "ZDIFF 2 {t}s {t}z WITHSCORES", "*2[$c,$1]" },
		{ "ZINTERCARD 2 {t}s {t}z", ":1" },
		{ "ZUNION 1 {t}i WITHSCORES", "*6[$1,$1,$2,$1,$3,$1]" },
		{ "ZUNIONSTORE {t}d 2 {t}i {t}s", ":5" },
		{ "ZRANGE {t}d 0 -1", "*5[$1,$2,$3,$a,$c]" },
	};
	RUN(st);
}

/* ---------------------------------------------------------------- ZSCAN */

Test(zsets, zscan)
{
	static const struct kr_step st[] = {
		{ "ZADD z 1 a 2.5 b 1.1 c", ":3" },
		{ "ZSCAN z 0", "*2[$0,*6[$a,$1,$c,$1.1000000000000001,$b,$2.5]]" },
		{ "ZSCAN z 0 MATCH b*", "*2[$0,*2[$b,$2.5]]" },
		{ "ZSCAN z 0 MATCH * COUNT 1", "*2[$0,*6[$a,$1,$c,$1.1000000000000001,$b,$2.5]]" },
		{ "ZSCAN nokey 0", "*2[$0,*0[]]" },
		{ "ZSCAN z x", "-ERR invalid cursor" },
		{ "ZSCAN z 1x", "-ERR invalid cursor" },
		{ "ZSCAN z 99999999999999999999", "-ERR invalid cursor" },
		/* strtoul takes "-1" (as ULONG_MAX); a listpack ignores cursors. */
		{ "ZSCAN z -1", "*2[$0,*6[$a,$1,$c,$1.1000000000000001,$b,$2.5]]" },
		{ "ZSCAN z 0 COUNT 0", E_SYNTAX },
		{ "ZSCAN z 0 COUNT x", E_NOTINT },
		{ "ZSCAN z 0 MATCH", E_SYNTAX },
		{ "ZSCAN z 0 FOO bar", E_SYNTAX },
		{ "SET str v", "+OK" },
		{ "ZSCAN str 0", E_WRONG },
	};
	RUN(st);

	/* A skiplist zset scanned in steps returns every member. */
	for (int i = 0; i < 500; i++)
		kr_int(c, 1, "ZADD big %d m%d", i, i);
	kr_expect_encoding(c, "big", "skiplist");
	unsigned char seen[500] = { 0 };
	char cursor[32] = "0";
	int rounds = 0;
	do {
		redisReply *r = kr_cmd(c, "ZSCAN big %s COUNT 20", cursor);
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		cr_assert_eq(r->elements, 2);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		redisReply *items = r->element[1];
		cr_assert_eq(items->elements % 2, 0);
		for (size_t k = 0; k < items->elements; k += 2) {
			int v = atoi(items->element[k]->str + 1);
			cr_assert(v >= 0 && v < 500);
			cr_assert_eq(atoi(items->element[k + 1]->str), v);
			seen[v] = 1;
		}
		freeReplyObject(r);
		rounds++;
	} while (strcmp(cursor, "0") != 0 && rounds < 10000);
	cr_assert_str_eq(cursor, "0");
	cr_assert_gt(rounds, 1);
	for (int i = 0; i < 500; i++)
		cr_assert(seen[i], "m%d never returned", i);
	/* MATCH filters members. */
	redisReply *r = kr_cmd(c, "ZSCAN big 0 MATCH m49? COUNT 1000");
	cr_assert_eq(r->element[1]->elements, 20);   /* m490..m499 with scores */
	freeReplyObject(r);
}

/* ------------------------------------------------------------ encodings */

Test(zsets, encoding_transitions)
{
	kr_ok(c, "CONFIG SET zset-max-listpack-entries 4");
	kr_ok(c, "CONFIG SET zset-max-listpack-value 8");
	kr_int(c, 4, "ZADD z 1 a 2 b 3 c 4 d");
	kr_expect_encoding(c, "z", "listpack");
	kr_int(c, 1, "ZADD z 5 e");
	kr_expect_encoding(c, "z", "skiplist");
	/* Shrinking never converts back. */
	kr_int(c, 4, "ZREMRANGEBYRANK z 0 3");
	kr_expect_encoding(c, "z", "skiplist");
	expect("ZRANGE z 0 -1 WITHSCORES", "*2[$e,$5]");
	/* Long members. */
	kr_int(c, 1, "ZADD s 1 12345678");
	kr_expect_encoding(c, "s", "listpack");
	kr_int(c, 1, "ZADD s 1 123456789");
	kr_expect_encoding(c, "s", "skiplist");
	kr_int(c, 1, "ZADD t 1 123456789");
	kr_expect_encoding(c, "t", "skiplist");
	/* Store results take the encoding their size calls for. */
	kr_int(c, 2, "ZADD {x}src 1 a 2 b");
	kr_int(c, 1, "ZADD {x}long 1 aaaaaaaaaaaaaaa");
	kr_int(c, 2, "ZUNIONSTORE {x}d1 1 {x}src");
	kr_expect_encoding(c, "{x}d1", "listpack");
	kr_int(c, 3, "ZUNIONSTORE {x}d2 2 {x}src {x}long");
	kr_expect_encoding(c, "{x}d2", "skiplist");
	kr_int(c, 5, "ZADD {x}big 1 a 2 b 3 c 4 d 5 e");
	kr_expect_encoding(c, "{x}big", "skiplist");
	kr_int(c, 2, "ZRANGESTORE {x}d3 {x}big 0 1");
	kr_expect_encoding(c, "{x}d3", "listpack");
	kr_int(c, 5, "ZRANGESTORE {x}d4 {x}big 0 -1");
	kr_expect_encoding(c, "{x}d4", "skiplist");
	kr_int(c, 5, "ZINTERSTORE {x}d5 1 {x}big WEIGHTS 2 AGGREGATE SUM");
	expect("ZRANGE {x}d5 -1 -1 WITHSCORES", "*2[$e,$10]");
	/* Everything still reads the same in both encodings. */
	kr_ok(c, "CONFIG SET zset-max-listpack-entries 0");
	kr_int(c, 1, "ZADD zero 1 a");
	kr_expect_encoding(c, "zero", "skiplist");
	kr_ok(c, "CONFIG SET zset-max-listpack-entries 128");
	kr_ok(c, "CONFIG SET zset-max-listpack-value 64");
}

/* The same script of commands gives the same replies whichever encoding
 * the zset has. */
Test(zsets, both_encodings_agree)
{
	static const char *const script[] = {
		"ZADD k 1 a 2 b 2 bb 3 c -1 neg 0 zero 1.5 half 100 h",
		"ZRANGE k 0 -1 WITHSCORES",
		"ZRANGE k 2 5 REV WITHSCORES",
		"ZRANGEBYSCORE k (1 2 WITHSCORES",
		"ZREVRANGEBYSCORE k +inf 1.5 LIMIT 1 2",
		"ZRANGEBYLEX k [b [c",
		"ZCOUNT k 0 2",
		"ZLEXCOUNT k - +",
		"ZRANK k c",
		"ZREVRANK k neg",
		"ZINCRBY k 10 a",
		"ZRANGE k 0 -1 WITHSCORES",
		"ZADD k GT CH 0 h 200 h",
		"ZREM k zero nosuch",
		"ZPOPMIN k 2",
		"ZPOPMAX k",
		"ZREMRANGEBYSCORE k 2 2",
		"ZREMRANGEBYRANK k -1 -1",
		"ZRANGE k 0 -1 WITHSCORES",
		"ZMSCORE k a b c",
		"ZCARD k",
	};
	struct kr_sb out[2] = { { 0 }, { 0 } };

	for (int pass = 0; pass < 2; pass++) {
		kr_ok(c, pass ? "CONFIG SET zset-max-listpack-entries 0"
			      : "CONFIG SET zset-max-listpack-entries 128");
		freeReplyObject(kr_cmd(c, "DEL k"));
		for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
			redisReply *r = kr_words(c, script[i]);
			kr_render(&out[pass], r);
			kr_sb_add(&out[pass], "\n", 1);
			freeReplyObject(r);
			if (i == 0)
				kr_expect_encoding(c, "k", pass ? "skiplist" : "listpack");
		}
	}
	cr_assert_str_eq(out[0].s, out[1].s);
	free(out[0].s);
	free(out[1].s);
	kr_ok(c, "CONFIG SET zset-max-listpack-entries 128");
}

/* ---------------------------------------------------------------- RESP3 */

Test(zsets, resp3_replies)
{
	int fd = kr_raw_resp3(&srv);

	kr_raw_expect(fd, "ZADD z 1 a 2.5 b\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "ZSCORE z b\r\n", 1, ",2.5\r\n");
	kr_raw_expect(fd, "ZSCORE z x\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "ZMSCORE z a x\r\n", 1, "*2\r\n,1\r\n_\r\n");
	kr_raw_expect(fd, "ZINCRBY z 1 a\r\n", 1, ",2\r\n");
	kr_raw_expect(fd, "ZADD z INCR 0.5 a\r\n", 1, ",2.5\r\n");
	kr_raw_expect(fd, "ZADD z NX INCR 1 a\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "ZRANGE z 0 -1 WITHSCORES\r\n", 1,
		      "*2\r\n*2\r\n$1\r\na\r\n,2.5\r\n*2\r\n$1\r\nb\r\n,2.5\r\n");
	kr_raw_expect(fd, "ZRANGE z 0 -1\r\n", 1, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
	kr_raw_expect(fd, "ZRANGEBYSCORE z 0 10 WITHSCORES LIMIT 1 1\r\n", 1,
		      "*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n");
	kr_raw_expect(fd, "ZADD z +inf i -inf j\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "ZMSCORE z i j\r\n", 1, "*2\r\n,inf\r\n,-inf\r\n");
	kr_raw_expect(fd, "ZUNION 1 z WITHSCORES\r\n", 1,
		      "*4\r\n*2\r\n$1\r\nj\r\n,-inf\r\n*2\r\n$1\r\na\r\n,2.5\r\n"
		      "*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\ni\r\n,inf\r\n");
	/* ZPOPMIN without a count is flat, with one nested. */
	kr_raw_expect(fd, "ZPOPMIN z\r\n", 1, "*2\r\n$1\r\nj\r\n,-inf\r\n");
	kr_raw_expect(fd, "ZPOPMAX z 1\r\n", 1, "*1\r\n*2\r\n$1\r\ni\r\n,inf\r\n");
	kr_raw_expect(fd, "ZPOPMIN nokey\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "ZADD one 7 m\r\n", 1, ":1\r\n");
	kr_raw_expect(fd, "ZRANDMEMBER one -2 WITHSCORES\r\n", 1,
		      "*2\r\n*2\r\n$1\r\nm\r\n,7\r\n*2\r\n$1\r\nm\r\n,7\r\n");
	kr_raw_expect(fd, "ZRANDMEMBER one 1\r\n", 1, "*1\r\n$1\r\nm\r\n");
	kr_raw_expect(fd, "ZADD {t}q 1 x\r\n", 1, ":1\r\n");
	kr_raw_expect(fd, "BZPOPMIN {t}q 0\r\n", 1, "*3\r\n$4\r\n{t}q\r\n$1\r\nx\r\n,1\r\n");
	kr_raw_expect(fd, "BZPOPMIN {t}q 0.01\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "ZMPOP 1 {t}q MIN\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "ZADD {t}q 1 x 2 y\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "ZMPOP 1 {t}q MAX COUNT 2\r\n", 1,
		      "*2\r\n$4\r\n{t}q\r\n*2\r\n*2\r\n$1\r\ny\r\n,2\r\n*2\r\n$1\r\nx\r\n,1\r\n");
	kr_raw_expect(fd, "ZSCAN z 0\r\n", 1,
		      "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nb\r\n$3\r\n2.5\r\n");
	close(fd);
}

/* RESP2 scores and nulls, byte for byte. */
Test(zsets, resp2_score_bytes)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "ZADD z 1.5 a -inf b\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "ZSCORE z a\r\n", 1, "$3\r\n1.5\r\n");
	kr_raw_expect(fd, "ZSCORE z b\r\n", 1, "$4\r\n-inf\r\n");
	kr_raw_expect(fd, "ZSCORE z nosuch\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "ZMPOP 1 nokey MIN\r\n", 1, "*-1\r\n");
	kr_raw_expect(fd, "BZPOPMAX nokey 0.01\r\n", 1, "*-1\r\n");
	close(fd);
}

/* ---------------------------------------------------- a large zset */

struct mel {
	int id;
	double score;
};

static int mel_cmp(const void *a, const void *b)
{
	const struct mel *x = a, *y = b;
	char mx[16], my[16];

	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	snprintf(mx, sizeof(mx), "m%d", x->id);
	snprintf(my, sizeof(my), "m%d", y->id);
	return strcmp(mx, my);
}

Test(zsets, large_zset_against_model, .timeout = 300)
{
	const int n = 50000, batch = 500;
	struct mel *v = calloc((size_t)n, sizeof(*v));
	char *buf = malloc(64 * (size_t)batch + 64);
	uint64_t x = 88172645463325252ULL;

	/* ZADD in batches, scores with many ties (id % 997, some halves). */
	for (int b = 0; b < n; b += batch) {
		const char **argv = malloc(sizeof(*argv) * (2 * (size_t)batch + 2));
		size_t *lens = malloc(sizeof(*lens) * (2 * (size_t)batch + 2));
		char *p = buf;
		int argc = 0;
		argv[argc] = "ZADD";
		lens[argc++] = 4;
		argv[argc] = "big";
		lens[argc++] = 3;
		for (int i = b; i < b + batch; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v[i].id = i;
			v[i].score = (double)(x % 997) + ((x >> 20) % 2 ? 0.5 : 0);
			int l = sprintf(p, "%.1f", v[i].score);
			argv[argc] = p;
			lens[argc++] = (size_t)l;
			p += l + 1;
			l = sprintf(p, "m%d", i);
			argv[argc] = p;
			lens[argc++] = (size_t)l;
			p += l + 1;
		}
		redisReply *r = kr_cmdv(c, argc, argv, lens);
		cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
		cr_assert_eq(r->integer, batch);
		freeReplyObject(r);
		free(argv);
		free(lens);
	}
	qsort(v, (size_t)n, sizeof(*v), mel_cmp);
	kr_expect_encoding(c, "big", "skiplist");
	kr_int(c, n, "ZCARD big");

	/* Ranks of sampled members, both ways. */
	for (int k = 0; k < n; k += 613) {
		kr_int(c, k, "ZRANK big m%d", v[k].id);
		kr_int(c, n - 1 - k, "ZREVRANK big m%d", v[k].id);
	}
	/* Rank slices. */
	for (int k = 0; k < n; k += 4999) {
		redisReply *r = kr_cmd(c, "ZRANGE big %d %d WITHSCORES", k, k + 9);
		size_t want = (size_t)(k + 10 <= n ? 10 : n - k);
		cr_assert_eq(r->elements, 2 * want);
		for (size_t i = 0; i < want; i++) {
			char m[16];
			snprintf(m, sizeof(m), "m%d", v[k + (int)i].id);
			cr_assert_str_eq(r->element[2 * i]->str, m, "rank %zu", k + i);
			cr_assert_eq(strtod(r->element[2 * i + 1]->str, NULL), v[k + (int)i].score);
		}
		freeReplyObject(r);
		r = kr_cmd(c, "ZREVRANGE big %d %d", k, k + 4);
		for (size_t i = 0; i < r->elements; i++) {
			char m[16];
			snprintf(m, sizeof(m), "m%d", v[n - 1 - k - (int)i].id);
			cr_assert_str_eq(r->element[i]->str, m);
		}
		freeReplyObject(r);
	}
	/* Score ranges and counts. */
	for (int s = 0; s < 997; s += 97) {
		int lo = -1, hi = -1;
		for (int i = 0; i < n; i++) {
			if (v[i].score >= s && lo < 0)
				lo = i;
			if (v[i].score <= s + 10)
				hi = i;
		}
		kr_int(c, hi - lo + 1, "ZCOUNT big %d %d", s, s + 10);
		redisReply *r = kr_cmd(c, "ZRANGEBYSCORE big %d %d LIMIT 5 3", s, s + 10);
		cr_assert_eq(r->elements, 3);
		for (size_t i = 0; i < 3; i++) {
			char m[16];
			snprintf(m, sizeof(m), "m%d", v[lo + 5 + (int)i].id);
			cr_assert_str_eq(r->element[i]->str, m);
		}
		freeReplyObject(r);
		r = kr_cmd(c, "ZREVRANGEBYSCORE big %d %d LIMIT 0 2", s + 10, s);
		char m[16];
		snprintf(m, sizeof(m), "m%d", v[hi].id);
		cr_assert_str_eq(r->element[0]->str, m);
		freeReplyObject(r);
	}
	/* Remove a rank range and a score range, then re-check ranks. */
	kr_int(c, 1000, "ZREMRANGEBYRANK big 100 1099");
	memmove(&v[100], &v[1100], (size_t)(n - 1100) * sizeof(*v));
	int m = n - 1000;
	int lo = -1, cnt = 0;
	for (int i = 0; i < m; i++)
		if (v[i].score >= 500 && v[i].score <= 510) {
			if (lo < 0)
				lo = i;
			cnt++;
		}
	kr_int(c, cnt, "ZREMRANGEBYSCORE big 500 510");
	memmove(&v[lo], &v[lo + cnt], (size_t)(m - lo - cnt) * sizeof(*v));
	m -= cnt;
	kr_int(c, m, "ZCARD big");
	for (int k = 0; k < m; k += 701)
		kr_int(c, k, "ZRANK big m%d", v[k].id);
	/* Pops come off the ends in model order. */
	redisReply *r = kr_cmd(c, "ZPOPMIN big 3");
	for (int i = 0; i < 3; i++) {
		char mm[16];
		snprintf(mm, sizeof(mm), "m%d", v[i].id);
		cr_assert_str_eq(r->element[2 * i]->str, mm);
	}
	freeReplyObject(r);
	r = kr_cmd(c, "ZPOPMAX big");
	char mm[16];
	snprintf(mm, sizeof(mm), "m%d", v[m - 1].id);
	cr_assert_str_eq(r->element[0]->str, mm);
	freeReplyObject(r);
	kr_int(c, m - 4, "ZCARD big");
	free(v);
	free(buf);
}

/* --------------------------------------------- changes seen by WATCH */

/* WATCH key; run cmd; MULTI PING EXEC: a write that changed nothing must
 * leave the watch intact, one that changed something must abort EXEC. */
static void expect_watch(const char *key, const char *cmd, const char *reply, bool aborts)
{
	kr_ok(c, "WATCH %s", key);
	expect(cmd, reply);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "PING");
	redisReply *r = kr_cmd(c, "EXEC");
	if (aborts)
		cr_assert_eq(r->type, REDIS_REPLY_NIL, "%s should have touched %s", cmd, key);
	else
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1,
			  "%s should not have touched %s", cmd, key);
	freeReplyObject(r);
}

Test(zsets, writes_that_change_nothing_keep_watches)
{
	static const struct {
		const char *key, *cmd, *reply;
		bool aborts;
	} cases[] = {
		{ "{w}z", "ZADD {w}z 1 a 2 b", ":2", true },
		{ "{w}z", "ZADD {w}z 1 a", ":0", false },
		{ "{w}z", "ZADD {w}z NX 5 a", ":0", false },
		{ "{w}z", "ZADD {w}z XX 5 nosuch", ":0", false },
		{ "{w}z", "ZADD {w}z GT 0 a", ":0", false },
		{ "{w}z", "ZINCRBY {w}z 0 a", "$1", false },
		{ "{w}z", "ZADD {w}z 3 a", ":0", true },
		{ "{w}z", "ZREM {w}z nosuch", ":0", false },
		{ "{w}z", "ZREMRANGEBYSCORE {w}z 100 200", ":0", false },
		{ "{w}z", "ZREMRANGEBYLEX {w}z (z +", ":0", false },
		{ "{w}z", "ZREMRANGEBYRANK {w}z 5 6", ":0", false },
		{ "{w}z", "ZPOPMIN {w}z 0", "*0[]", false },
		{ "{w}d", "ZRANGESTORE {w}d {w}nokey 0 -1", ":0", false },
		{ "{w}d", "ZINTERSTORE {w}d 2 {w}z {w}nokey", ":0", false },
		{ "{w}d", "ZUNIONSTORE {w}d 1 {w}z", ":2", true },
		{ "{w}d", "ZDIFFSTORE {w}d 1 {w}nokey", ":0", true },   /* deletes d */
		{ "{w}z", "ZREM {w}z b", ":1", true },
		{ "{w}z", "ZPOPMAX {w}z", "*2[$a,$3]", true },
		{ "{w}z", "ZPOPMIN {w}z", "*0[]", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_watch(cases[i].key, cases[i].cmd, cases[i].reply, cases[i].aborts);
}

/* ---------------------------------------------------- WRONGTYPE sweep */

Test(zsets, wrongtype_everywhere)
{
	static const char *const cmds[] = {
		"ZADD {t}s 1 a", "ZINCRBY {t}s 1 a", "ZREM {t}s a", "ZCARD {t}s", "ZSCORE {t}s a",
		"ZMSCORE {t}s a", "ZRANK {t}s a", "ZREVRANK {t}s a", "ZRANGE {t}s 0 1",
		"ZRANGESTORE {t}d {t}s 0 1", "ZREVRANGE {t}s 0 1", "ZRANGEBYSCORE {t}s 0 1",
		"ZREVRANGEBYSCORE {t}s 1 0", "ZRANGEBYLEX {t}s - +", "ZREVRANGEBYLEX {t}s + -",
		"ZCOUNT {t}s 0 1", "ZLEXCOUNT {t}s - +", "ZPOPMIN {t}s", "ZPOPMAX {t}s",
		"BZPOPMIN {t}s 0", "BZPOPMAX {t}s 0", "ZMPOP 1 {t}s MIN", "BZMPOP 0 1 {t}s MAX",
		"ZRANDMEMBER {t}s", "ZUNION 1 {t}s", "ZINTER 1 {t}s", "ZDIFF 1 {t}s",
		"ZUNIONSTORE {t}d 1 {t}s", "ZINTERSTORE {t}d 1 {t}s", "ZDIFFSTORE {t}d 1 {t}s",
		"ZINTERCARD 1 {t}s", "ZREMRANGEBYRANK {t}s 0 1", "ZREMRANGEBYSCORE {t}s 0 1",
		"ZREMRANGEBYLEX {t}s - +", "ZSCAN {t}s 0",
	};
	kr_ok(c, "SET {t}s x");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		expect(cmds[i], E_WRONG);
	kr_bulk(c, "x", "GET {t}s");
	kr_int(c, 0, "EXISTS {t}d");
}

/* ------------------------------------- regressions found by difftest */

/* Redis replies ZUNION/ZINTER/ZDIFF from the skiplist it computed into,
 * so a score of -0 keeps its sign there; a stored result small enough for
 * a listpack loses it (the listpack stores the integer 0), a skiplist keeps
 * it (ZMPOP then pops a -0). */
Test(zsets, negative_zero_scores)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}m -1 m", ":1" },
		{ "ZUNION 1 {t}m WEIGHTS 0 WITHSCORES", "*2[$m,$-0]" },
		{ "ZINTER 1 {t}m WEIGHTS 0 WITHSCORES", "*2[$m,$-0]" },
		{ "ZUNION 1 {t}m WEIGHTS -0 WITHSCORES", "*2[$m,$0]" },     /* -1 * -0 */
		{ "ZUNION 2 {t}m {t}m WEIGHTS 0 0 AGGREGATE MAX WITHSCORES", "*2[$m,$-0]" },
		{ "ZUNION 2 {t}m {t}m WEIGHTS 0 0 WITHSCORES", "*2[$m,$-0]" }, /* -0 + -0 */
		{ "ZADD {t}p 1 m", ":1" },
		{ "ZUNION 2 {t}m {t}p WEIGHTS 0 0 WITHSCORES", "*2[$m,$0]" },  /* -0 + 0 */
		{ "ZUNIONSTORE {t}d 1 {t}m WEIGHTS 0", ":1" },
		{ "ZSCORE {t}d m", "$0" },
		{ "OBJECT ENCODING {t}d", "$listpack" },
		{ "ZINTERSTORE {t}d 1 {t}m WEIGHTS 0", ":1" },
		{ "ZRANGE {t}d 0 -1 WITHSCORES", "*2[$m,$0]" },
		{ "ZADD {t}l -0 z", ":1" },                                 /* listpack: 0 */
		{ "ZDIFF 1 {t}l WITHSCORES", "*2[$z,$0]" },
	};
	RUN(st);

	/* A skiplist keeps -0: ZDIFF, ZUNION and ZMPOP hand it out as is. */
	struct kr_sb cmd = { 0 };
	kr_sb_fmt(&cmd, "ZADD {t}big");
	for (int i = 1; i <= 130; i++)
		kr_sb_fmt(&cmd, " %d m%d", i, i);
	kr_sb_fmt(&cmd, " -0 zero");
	redisReply *r = kr_words(c, cmd.s);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert_eq(r->integer, 131);
	freeReplyObject(r);
	kr_sb_reset(&cmd);
	kr_sb_fmt(&cmd, "ZADD {t}big2");
	for (int i = 1; i <= 130; i++)
		kr_sb_fmt(&cmd, " %d m%d", i, i);
	r = kr_words(c, cmd.s);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
	free(cmd.s);
	static const struct kr_step st2[] = {
		{ "OBJECT ENCODING {t}big", "$skiplist" },
		{ "ZSCORE {t}big zero", "$-0" },
		{ "ZDIFF 2 {t}big {t}big2 WITHSCORES", "*2[$zero,$-0]" },
		{ "ZINTER 2 {t}big {t}l WITHSCORES", "*0[]" },
		{ "ZADD {t}l 5 zero", ":1" },
		/* the smaller input comes first: 0 * 5 + -0 is 0, -0 * 5 + -0 is -0 */
		{ "ZINTER 2 {t}big {t}l WEIGHTS 1 0 WITHSCORES", "*2[$zero,$0]" },
		{ "ZINTER 2 {t}big {t}l WEIGHTS 1 -0 WITHSCORES", "*2[$zero,$-0]" },
		{ "ZDIFFSTORE {t}d 2 {t}big {t}big2", ":1" },
		{ "ZSCORE {t}d zero", "$0" },                               /* stored as a listpack */
		{ "ZMPOP 1 {t}big MIN", "*2[${t}big,*1[*2[$zero,$-0]]]" },
		{ "ZADD {t}big -0 zero", ":1" },
		{ "BZMPOP 0.01 1 {t}big MIN COUNT 2", "*2[${t}big,*2[*2[$zero,$-0],*2[$m1,$1]]]" },
	};
	RUN(st2);
}

/* Redis accepts LIMIT on a rank range when its count is -1 (no limit; the
 * offset is ignored) and checks that after reading every option and before
 * parsing min and max. */
Test(zsets, rank_range_with_limit_minus_one)
{
	static const struct kr_step st[] = {
		{ "ZADD {t}r 1 a 2 b", ":2" },
		{ "ZRANGE {t}r 0 -1 LIMIT 5 -1", "*2[$a,$b]" },
		{ "ZRANGE {t}r 0 -1 LIMIT -5 -1 WITHSCORES", "*4[$a,$1,$b,$2]" },
		{ "ZRANGE {t}r 0 1 REV LIMIT 1 -1", "*2[$b,$a]" },
		{ "ZREVRANGE {t}r 0 -1 LIMIT 3 -1", "*2[$b,$a]" },
		{ "ZRANGE {t}r 0 -1 LIMIT 0 -2",
		  "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZRANGE {t}r 0 -1 LIMIT 0 0",
		  "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		/* the last LIMIT counts */
		{ "ZRANGE {t}r 0 -1 LIMIT 1 2 LIMIT 0 -1", "*2[$a,$b]" },
		{ "ZRANGE {t}r 0 -1 LIMIT 0 -1 LIMIT 1 2",
		  "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		/* LIMIT's numbers, then the LIMIT/rank conflict, then min/max */
		{ "ZRANGE {t}r 0 -1 LIMIT x -1", E_NOTINT },
		{ "ZRANGE {t}r 0x1 5 LIMIT 5 -1", E_NOTINT },
		{ "ZRANGE {t}r 0x1 5 LIMIT 5 3",
		  "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZRANGE {t}nokey 0 -1 LIMIT 5 2",
		  "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX" },
		{ "ZRANGE {t}nokey 0 -1 LIMIT 5 -1", "*0[]" },
		{ "ZRANGESTORE {t}d {t}r 0 -1 LIMIT 5 -1", ":2" },
		{ "ZRANGE {t}d 0 -1 WITHSCORES", "*4[$a,$1,$b,$2]" },
		{ "SET {t}str x", "+OK" },
		{ "ZRANGE {t}str 0 -1 LIMIT 5 -1", E_WRONG },
	};
	RUN(st);
}
