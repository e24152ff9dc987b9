/* Integration tests of the list commands (shards/t_list.c) against a
 * running server: every command with its options and exact error texts
 * (including which error wins when several apply), RESP2 and RESP3 null
 * forms, OBJECT ENCODING transitions, binary-safe and integer-looking
 * elements, 100k-element lists, and the blocking commands both when they
 * can be served at once and when they time out. Waking blocked clients up
 * is tested with the blocking machinery (test_blocking.c).
 *
 * Most cases are tables of (command, expected reply) steps run in order on
 * one connection; replies are compared in kr_render()'s text form
 * (+status -error :int $bulk nil *N[...]). Commands over several keys use
 * one {hash tag} so the keys share a shard when KR_SHARDS > 1.
 *
 * The same file runs against Debian's redis-server 7.0.15
 * (KR_SERVER=/usr/bin/redis-server KR_SERVER_KIND=redis). Where 7.0 differs
 * from the Redis 7.2 behaviour keyrail implements, the expectation is
 * chosen by srv.is_redis, with the reason next to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static struct kr_srv srv;
static redisContext *c;

static void setup(void) { kr_srv_start_client(&srv, &c, NULL); }
static void teardown(void) { kr_srv_stop_client(&srv, &c); }

TestSuite(lists, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------- steps */

#define RUN(steps) KR_RUN(c, steps)

/* Redis 7.0 reports every list as "quicklist"; 7.2 (and keyrail) says
 * "listpack" for small ones. */
static void expect_small_encoding(const char *key)
{
	kr_expect_encoding(c, key, srv.is_redis ? "quicklist" : "listpack");
}

#define E_WRONG  "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_NOTINT "-ERR value is not an integer or out of range"
#define E_SYNTAX "-ERR syntax error"
#define E_POS    "-ERR value is out of range, must be positive"

/* ------------------------------------------------------- push and pop */

Test(lists, push_pop_len)
{
	static const struct kr_step steps[] = {
		{ "LPUSH k a", ":1" },
		{ "LPUSH k b c", ":3" },               /* pushed one by one: c b a */
		{ "RPUSH k x y", ":5" },
		{ "LRANGE k 0 -1", "*5[$c,$b,$a,$x,$y]" },
		{ "LLEN k", ":5" },
		{ "LLEN nokey", ":0" },
		{ "TYPE k", "+list" },
		{ "LPUSHX nokey a", ":0" },
		{ "RPUSHX nokey a b", ":0" },
		{ "EXISTS nokey", ":0" },
		{ "LPUSHX k h1 h2", ":7" },
		{ "RPUSHX k t1", ":8" },
		{ "LRANGE k 0 -1", "*8[$h2,$h1,$c,$b,$a,$x,$y,$t1]" },
		{ "LPOP k", "$h2" },
		{ "RPOP k", "$t1" },
		{ "LPOP nokey", "nil" },
		{ "RPOP nokey", "nil" },
		{ "DEL k", ":1" },
		{ "RPUSH one v", ":1" },
		{ "RPOP one", "$v" },
		{ "EXISTS one", ":0" },                 /* emptied: deleted */
		{ "RPUSH one v", ":1" },
		{ "LPOP one", "$v" },
		{ "EXISTS one", ":0" },
		{ "LPUSH", "-ERR wrong number of arguments for 'lpush' command" },
		{ "LPUSH k", "-ERR wrong number of arguments for 'lpush' command" },
		{ "RPUSHX k", "-ERR wrong number of arguments for 'rpushx' command" },
		{ "LLEN", "-ERR wrong number of arguments for 'llen' command" },
	};
	RUN(steps);
}

Test(lists, pop_with_count)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c d e", ":5" },
		{ "LPOP k 2", "*2[$a,$b]" },
		{ "RPOP k 2", "*2[$e,$d]" },
		{ "LPOP k 0", "*0[]" },
		{ "RPOP k 0", "*0[]" },
		{ "LPOP k 10", "*1[$c]" },
		{ "EXISTS k", ":0" },
		{ "LPOP k 2", "nil" },                  /* null array (raw test below) */
		{ "LPOP k 0", "nil" },                  /* missing key wins over count 0 */
		{ "LPOP k -1", E_POS },
		{ "RPOP k -5", E_POS },
		{ "LPOP k abc", E_POS },                /* Redis uses the same text */
		{ "LPOP k 1.5", E_POS },
		{ "LPOP k 1 2", "-ERR wrong number of arguments for 'lpop' command" },
		{ "RPOP k 1 2", "-ERR wrong number of arguments for 'rpop' command" },
		{ "SET s v", "+OK" },
		{ "LPOP s -1", E_POS },                 /* count checked before the type */
		{ "LPOP s 0", E_WRONG },
		{ "LPOP s", E_WRONG },
		{ "RPOP s 3", E_WRONG },
		{ "RPUSH k 1 2 3", ":3" },
		{ "RPOP k 9223372036854775807", "*3[$3,$2,$1]" },
		{ "EXISTS k", ":0" },
	};
	RUN(steps);
}

/* ------------------------------------------------------------ reading */

Test(lists, lrange_lindex)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c d e", ":5" },
		{ "LRANGE k 0 0", "*1[$a]" },
		{ "LRANGE k 1 3", "*3[$b,$c,$d]" },
		{ "LRANGE k -2 -1", "*2[$d,$e]" },
		{ "LRANGE k -100 1", "*2[$a,$b]" },
		{ "LRANGE k 3 100", "*2[$d,$e]" },
		{ "LRANGE k 4 3", "*0[]" },
		{ "LRANGE k 5 10", "*0[]" },
		{ "LRANGE k -1 -2", "*0[]" },
		{ "LRANGE k -9223372036854775808 9223372036854775807", "*5[$a,$b,$c,$d,$e]" },
		{ "LRANGE k 9223372036854775807 -9223372036854775808", "*0[]" },
		{ "LRANGE nokey 0 -1", "*0[]" },
		{ "LRANGE k a 1", E_NOTINT },
		{ "LRANGE k 0 1x", E_NOTINT },
		{ "LRANGE nokey 0 b", E_NOTINT },         /* indexes before the lookup */
		{ "LINDEX k 0", "$a" },
		{ "LINDEX k 4", "$e" },
		{ "LINDEX k -1", "$e" },
		{ "LINDEX k -5", "$a" },
		{ "LINDEX k 5", "nil" },
		{ "LINDEX k -6", "nil" },
		{ "LINDEX k 9223372036854775807", "nil" },
		{ "LINDEX k -9223372036854775808", "nil" },
		{ "LINDEX nokey 0", "nil" },
		{ "LINDEX nokey abc", "nil" },           /* key before the index */
		{ "LINDEX k abc", E_NOTINT },
		{ "SET s v", "+OK" },
		{ "LRANGE s 0 -1", E_WRONG },
		{ "LRANGE s a b", E_NOTINT },
		{ "LINDEX s abc", E_WRONG },
		{ "LLEN s", E_WRONG },
	};
	RUN(steps);
}

Test(lists, lpos)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c d 1 2 3 4 3 3 3", ":11" },
		{ "LPOS k 3", ":6" },
		{ "LPOS k 3 COUNT 0 RANK 2", "*3[:8,:9,:10]" },
		{ "LPOS k 3 RANK -1", ":10" },
		{ "LPOS k 3 RANK -1 COUNT 2", "*2[:10,:9]" },
		{ "LPOS k 3 RANK 2", ":8" },
		{ "LPOS k 3 RANK 5", "nil" },
		{ "LPOS k 3 RANK 5 COUNT 0", "*0[]" },
		{ "LPOS k 3 COUNT 0", "*4[:6,:8,:9,:10]" },
		{ "LPOS k 3 COUNT 2", "*2[:6,:8]" },
		{ "LPOS k 3 COUNT 100", "*4[:6,:8,:9,:10]" },
		{ "LPOS k a", ":0" },
		{ "LPOS k a RANK -1", ":0" },
		{ "LPOS k zz", "nil" },
		{ "LPOS k zz COUNT 1", "*0[]" },
		{ "LPOS k 3 MAXLEN 6", "nil" },           /* 3 first appears at 6 */
		{ "LPOS k 3 MAXLEN 7", ":6" },
		{ "LPOS k 3 COUNT 0 MAXLEN 9", "*2[:6,:8]" },
		{ "LPOS k 3 RANK -1 MAXLEN 1", ":10" },
		{ "LPOS k 3 RANK -3 COUNT 0 MAXLEN 3", "*1[:8]" },
		{ "LPOS k 3 MAXLEN 0", ":6" },            /* 0 = no limit */
		{ "lpos k 3 rank 1 count 1 maxlen 0", "*1[:6]" },
		{ "LPOS k 3 RANK 1 RANK 2", ":8" },       /* the last option wins */
		{ "LPOS nokey a", "nil" },
		{ "LPOS nokey a COUNT 0", "*0[]" },
		{ "LPOS k 3 RANK 0", "-ERR RANK can't be zero: use 1 to start from the first "
				     "match, 2 from the second ... or use negative to start from "
				     "the end of the list" },
		{ "LPOS k 3 RANK abc", E_NOTINT },
		{ "LPOS k 3 COUNT -1", "-ERR COUNT can't be negative" },
		{ "LPOS k 3 COUNT abc", "-ERR COUNT can't be negative" },
		{ "LPOS k 3 MAXLEN -1", "-ERR MAXLEN can't be negative" },
		{ "LPOS k 3 MAXLEN x", "-ERR MAXLEN can't be negative" },
		{ "LPOS k 3 RANK", E_SYNTAX },
		{ "LPOS k 3 FOO 1", E_SYNTAX },
		{ "LPOS nokey 3 FOO 1", E_SYNTAX },       /* options before the lookup */
		{ "LPOS nokey 3 RANK 0", "-ERR RANK can't be zero: use 1 to start from the first "
					 "match, 2 from the second ... or use negative to start "
					 "from the end of the list" },
		{ "SET s v", "+OK" },
		{ "LPOS s v", E_WRONG },
		{ "LPOS s v COUNT -1", "-ERR COUNT can't be negative" },
		{ "LPOS k", "-ERR wrong number of arguments for 'lpos' command" },
	};
	RUN(steps);
	if (!srv.is_redis) {
		/* Redis 7.2 bounds RANK to +-LONG_MAX (7.0 negates LONG_MIN and
		 * overflows). */
		static const struct kr_step r72[] = {
			{ "LPOS k 3 RANK -9223372036854775808",
			  "-ERR value is out of range, value must between -9223372036854775807 and "
			  "9223372036854775807" },
			{ "LPOS k 3 RANK -9223372036854775807", "nil" },
		};
		RUN(r72);
	}
}

/* ------------------------------------------------------------ writes */

Test(lists, lset)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c", ":3" },
		{ "LSET k 0 A", "+OK" },
		{ "LSET k -1 C", "+OK" },
		{ "LSET k 1 12345", "+OK" },
		{ "LRANGE k 0 -1", "*3[$A,$12345,$C]" },
		{ "LSET k 3 x", "-ERR index out of range" },
		{ "LSET k -4 x", "-ERR index out of range" },
		{ "LSET k 9223372036854775807 x", "-ERR index out of range" },
		{ "LSET k abc x", E_NOTINT },
		{ "LSET nokey 0 x", "-ERR no such key" },
		{ "LSET nokey abc x", "-ERR no such key" },   /* key before the index */
		{ "EXISTS nokey", ":0" },
		{ "SET s v", "+OK" },
		{ "LSET s 0 x", E_WRONG },
		{ "LSET s abc x", E_WRONG },
		{ "LRANGE k 0 -1", "*3[$A,$12345,$C]" },
	};
	RUN(steps);
}

Test(lists, linsert)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c b", ":4" },
		{ "LINSERT k BEFORE b x", ":5" },        /* first match only */
		{ "LINSERT k after b y", ":6" },
		{ "LRANGE k 0 -1", "*6[$a,$x,$b,$y,$c,$b]" },
		{ "LINSERT k BEFORE a head", ":7" },
		{ "LINSERT k AFTER b z", ":8" },
		{ "LINSERT k AFTER zz q", ":-1" },
		{ "LINSERT k BEFORE c 42", ":9" },
		{ "LINSERT k AFTER 42 43", ":10" },
		{ "LRANGE k 0 -1", "*10[$head,$a,$x,$b,$z,$y,$42,$43,$c,$b]" },
		{ "LINSERT nokey BEFORE a x", ":0" },
		{ "EXISTS nokey", ":0" },
		{ "LINSERT k MIDDLE a x", E_SYNTAX },
		{ "LINSERT nokey MIDDLE a x", E_SYNTAX },
		{ "SET s v", "+OK" },
		{ "LINSERT s BEFORE a x", E_WRONG },
		{ "LINSERT s MIDDLE a x", E_SYNTAX },    /* syntax before the type */
		{ "LINSERT k BEFORE a", "-ERR wrong number of arguments for 'linsert' command" },
	};
	RUN(steps);
}

Test(lists, lrem)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b a c a b a", ":7" },
		{ "LREM k 2 a", ":2" },
		{ "LRANGE k 0 -1", "*5[$b,$c,$a,$b,$a]" },
		{ "LREM k -1 b", ":1" },
		{ "LRANGE k 0 -1", "*4[$b,$c,$a,$a]" },
		{ "LREM k 0 a", ":2" },
		{ "LREM k 0 zz", ":0" },
		{ "LRANGE k 0 -1", "*2[$b,$c]" },
		{ "LREM k -100 c", ":1" },
		{ "LREM k 100 b", ":1" },
		{ "EXISTS k", ":0" },                      /* emptied: deleted */
		{ "LREM nokey 0 a", ":0" },
		{ "LREM k x a", E_NOTINT },
		{ "LREM nokey x a", E_NOTINT },             /* count before the lookup */
		{ "RPUSH n 1 01 1 -0 0", ":5" },
		{ "LREM n 0 1", ":2" },                      /* "01" is not "1" */
		{ "LRANGE n 0 -1", "*3[$01,$-0,$0]" },
		{ "LREM n 0 0", ":1" },
		{ "LREM n -9223372036854775808 01", ":1" },
		{ "LRANGE n 0 -1", "*1[$-0]" },
		{ "SET s v", "+OK" },
		{ "LREM s 0 v", E_WRONG },
	};
	RUN(steps);
}

Test(lists, ltrim)
{
	static const struct kr_step steps[] = {
		{ "RPUSH k a b c d e f", ":6" },
		{ "LTRIM k 1 -2", "+OK" },
		{ "LRANGE k 0 -1", "*4[$b,$c,$d,$e]" },
		{ "LTRIM k -3 100", "+OK" },
		{ "LRANGE k 0 -1", "*3[$c,$d,$e]" },
		{ "LTRIM k -100 1", "+OK" },
		{ "LRANGE k 0 -1", "*2[$c,$d]" },
		{ "LTRIM k 0 -1", "+OK" },
		{ "LLEN k", ":2" },
		{ "LTRIM k 1 0", "+OK" },                  /* start > end: empties */
		{ "EXISTS k", ":0" },
		{ "RPUSH k a b", ":2" },
		{ "LTRIM k 2 5", "+OK" },                  /* start past the end */
		{ "EXISTS k", ":0" },
		{ "RPUSH k a b", ":2" },
		{ "LTRIM k 0 -3", "+OK" },                 /* end before start */
		{ "EXISTS k", ":0" },
		{ "LTRIM nokey 0 1", "+OK" },
		{ "EXISTS nokey", ":0" },
		{ "LTRIM k a 1", E_NOTINT },
		{ "LTRIM nokey 0 b", E_NOTINT },
		{ "SET s v", "+OK" },
		{ "LTRIM s 0 1", E_WRONG },
		{ "LTRIM s x 1", E_NOTINT },
	};
	RUN(steps);
}

/* ------------------------------------------------------------ moves */

Test(lists, lmove_rpoplpush)
{
	static const struct kr_step steps[] = {
		{ "RPUSH {t}a 1 2 3", ":3" },
		{ "LMOVE {t}a {t}b LEFT LEFT", "$1" },
		{ "LMOVE {t}a {t}b RIGHT RIGHT", "$3" },
		{ "LRANGE {t}b 0 -1", "*2[$1,$3]" },
		{ "LMOVE {t}b {t}a left right", "$1" },
		{ "LMOVE {t}b {t}a RIGHT LEFT", "$3" },
		{ "EXISTS {t}b", ":0" },                    /* emptied source deleted */
		{ "LRANGE {t}a 0 -1", "*3[$3,$2,$1]" },
		/* Rotation within one key. */
		{ "LMOVE {t}a {t}a LEFT RIGHT", "$3" },
		{ "LRANGE {t}a 0 -1", "*3[$2,$1,$3]" },
		{ "RPOPLPUSH {t}a {t}a", "$3" },
		{ "LRANGE {t}a 0 -1", "*3[$3,$2,$1]" },
		{ "LMOVE {t}a {t}a RIGHT RIGHT", "$1" },
		{ "LRANGE {t}a 0 -1", "*3[$3,$2,$1]" },
		{ "RPOPLPUSH {t}a {t}c", "$1" },
		{ "LRANGE {t}c 0 -1", "*1[$1]" },
		{ "RPUSH {t}one x", ":1" },
		{ "RPOPLPUSH {t}one {t}one", "$x" },        /* single element onto itself */
		{ "LRANGE {t}one 0 -1", "*1[$x]" },
		{ "LMOVE {t}none {t}d LEFT LEFT", "nil" },
		{ "EXISTS {t}d", ":0" },
		{ "RPOPLPUSH {t}none {t}d", "nil" },
		{ "SET {t}s v", "+OK" },
		{ "LMOVE {t}a {t}s LEFT LEFT", E_WRONG },
		{ "LRANGE {t}a 0 -1", "*2[$3,$2]" },        /* nothing popped */
		{ "RPOPLPUSH {t}a {t}s", E_WRONG },
		{ "LMOVE {t}s {t}a LEFT LEFT", E_WRONG },
		{ "LMOVE {t}none {t}s LEFT LEFT", "nil" },  /* missing source: dst unchecked */
		{ "LMOVE {t}a {t}b UP LEFT", E_SYNTAX },
		{ "LMOVE {t}a {t}b LEFT DOWN", E_SYNTAX },
		{ "LMOVE {t}s {t}b LEFT DOWN", E_SYNTAX },  /* syntax before the type */
		{ "LMOVE {t}a {t}b LEFT", "-ERR wrong number of arguments for 'lmove' command" },
		{ "RPOPLPUSH {t}a", "-ERR wrong number of arguments for 'rpoplpush' command" },
	};
	RUN(steps);
}

Test(lists, lmpop)
{
	static const struct kr_step steps[] = {
		{ "RPUSH {t}b 1 2 3 4", ":4" },
		{ "RPUSH {t}c x", ":1" },
		{ "LMPOP 3 {t}a {t}b {t}c LEFT", "*2[${t}b,*1[$1]]" },
		{ "LMPOP 3 {t}a {t}b {t}c RIGHT COUNT 2", "*2[${t}b,*2[$4,$3]]" },
		{ "LMPOP 2 {t}b {t}c left count 10", "*2[${t}b,*1[$2]]" },
		{ "EXISTS {t}b", ":0" },
		{ "LMPOP 2 {t}b {t}c LEFT", "*2[${t}c,*1[$x]]" },
		{ "EXISTS {t}c", ":0" },
		{ "LMPOP 2 {t}b {t}c LEFT", "nil" },
		{ "LMPOP 1 {t}a LEFT COUNT 5", "nil" },
		{ "LMPOP 0 {t}a LEFT", "-ERR numkeys should be greater than 0" },
		{ "LMPOP -1 {t}a LEFT", "-ERR numkeys should be greater than 0" },
		{ "LMPOP x {t}a LEFT", "-ERR numkeys should be greater than 0" },
		{ "LMPOP 2 {t}a LEFT", E_SYNTAX },          /* no room for the direction */
		{ "LMPOP 1 {t}a MIDDLE", E_SYNTAX },
		{ "LMPOP 1 {t}a LEFT COUNT 0", "-ERR count should be greater than 0" },
		{ "LMPOP 1 {t}a LEFT COUNT -1", "-ERR count should be greater than 0" },
		{ "LMPOP 1 {t}a LEFT COUNT x", "-ERR count should be greater than 0" },
		{ "LMPOP 1 {t}a LEFT COUNT", E_SYNTAX },
		{ "LMPOP 1 {t}a LEFT COUNT 1 COUNT 1", E_SYNTAX },
		{ "LMPOP 1 {t}a LEFT FOO", E_SYNTAX },
		{ "LMPOP 1 {t}a", "-ERR wrong number of arguments for 'lmpop' command" },
		{ "SET {t}s v", "+OK" },
		{ "RPUSH {t}b 1", ":1" },
		{ "LMPOP 2 {t}s {t}b LEFT", E_WRONG },       /* type error before a hit */
		{ "LMPOP 2 {t}a {t}s LEFT", E_WRONG },
		{ "LMPOP 2 {t}b {t}s LEFT", "*2[${t}b,*1[$1]]" },  /* served before it */
	};
	RUN(steps);
}

Test(lists, wrongtype_everywhere)
{
	static const struct kr_step steps[] = {
		{ "SET s v", "+OK" },
		{ "LPUSH s a", E_WRONG },
		{ "RPUSH s a", E_WRONG },
		{ "LPUSHX s a", E_WRONG },
		{ "RPUSHX s a", E_WRONG },
		{ "LPOP s", E_WRONG },
		{ "RPOP s", E_WRONG },
		{ "LLEN s", E_WRONG },
		{ "LRANGE s 0 -1", E_WRONG },
		{ "LINDEX s 0", E_WRONG },
		{ "LSET s 0 a", E_WRONG },
		{ "LINSERT s BEFORE a b", E_WRONG },
		{ "LREM s 0 a", E_WRONG },
		{ "LTRIM s 0 1", E_WRONG },
		{ "LPOS s a", E_WRONG },
		{ "LMOVE s s LEFT LEFT", E_WRONG },
		{ "RPOPLPUSH s s", E_WRONG },
		{ "LMPOP 1 s LEFT", E_WRONG },
		{ "BLPOP s 0", E_WRONG },
		{ "BRPOP s 0", E_WRONG },
		{ "BLMOVE s s LEFT LEFT 0", E_WRONG },
		{ "BRPOPLPUSH s s 0", E_WRONG },
		{ "BLMPOP 0 1 s LEFT", E_WRONG },
		{ "GET s", "$v" },
		/* And a list is not a string. */
		{ "RPUSH l a", ":1" },
		{ "GET l", E_WRONG },
		{ "APPEND l x", E_WRONG },
		{ "SET l x", "+OK" },                     /* SET overwrites any type */
		{ "GET l", "$x" },
	};
	RUN(steps);
}

/* ------------------------------------------------------------ blocking */

Test(lists, blocking_served_at_once)
{
	static const struct kr_step steps[] = {
		{ "RPUSH {t}b 1 2 3", ":3" },
		{ "BLPOP {t}a {t}b 0", "*2[${t}b,$1]" },
		{ "BRPOP {t}a {t}b 1", "*2[${t}b,$3]" },
		{ "RPUSH {t}a x", ":1" },
		{ "BLPOP {t}b {t}a 0", "*2[${t}b,$2]" },   /* first non-empty in order */
		{ "EXISTS {t}b", ":0" },
		{ "BRPOP {t}b {t}a 0.5", "*2[${t}a,$x]" },
		{ "EXISTS {t}a", ":0" },
		{ "RPUSH {t}src a b c", ":3" },
		{ "BLMOVE {t}src {t}dst RIGHT LEFT 0", "$c" },
		{ "BLMOVE {t}src {t}dst LEFT RIGHT 0.01", "$a" },
		{ "BRPOPLPUSH {t}src {t}dst 0", "$b" },
		{ "EXISTS {t}src", ":0" },
		{ "LRANGE {t}dst 0 -1", "*3[$b,$c,$a]" },
		{ "BRPOPLPUSH {t}dst {t}dst 0", "$a" },
		{ "LRANGE {t}dst 0 -1", "*3[$a,$b,$c]" },
		{ "BLMPOP 0 2 {t}none {t}dst RIGHT COUNT 2", "*2[${t}dst,*2[$c,$b]]" },
		{ "BLMPOP 1 1 {t}dst LEFT", "*2[${t}dst,*1[$a]]" },
		{ "EXISTS {t}dst", ":0" },
		/* Errors: the timeout, and the order they are checked in. */
		{ "BLPOP {t}a -1", "-ERR timeout is negative" },
		{ "BLPOP {t}a abc", "-ERR timeout is not a float or out of range" },
		{ "BRPOP {t}a 1x", "-ERR timeout is not a float or out of range" },
		{ "BLMOVE {t}a {t}b UP LEFT abc", E_SYNTAX },
		{ "BLMOVE {t}a {t}b LEFT LEFT abc", "-ERR timeout is not a float or out of range" },
		{ "BRPOPLPUSH {t}a {t}b -1", "-ERR timeout is negative" },
		{ "BLMPOP -1 0 {t}a LEFT", "-ERR numkeys should be greater than 0" },
		{ "BLMPOP abc 1 {t}a MIDDLE", E_SYNTAX },
		{ "BLMPOP -1 1 {t}a LEFT", "-ERR timeout is negative" },
		{ "BLMPOP 0 1 {t}a LEFT COUNT 0", "-ERR count should be greater than 0" },
		{ "BLPOP {t}a", "-ERR wrong number of arguments for 'blpop' command" },
		{ "BLMOVE {t}a {t}b LEFT LEFT", "-ERR wrong number of arguments for 'blmove' command" },
		{ "BLMPOP 0 1 {t}a", "-ERR wrong number of arguments for 'blmpop' command" },
		{ "SET {t}s v", "+OK" },
		{ "RPUSH {t}b 1", ":1" },
		{ "BLPOP {t}s {t}b 0", E_WRONG },
		{ "BLPOP {t}b {t}s 0", "*2[${t}b,$1]" },
		{ "BLMOVE {t}s {t}b LEFT LEFT 0", E_WRONG },
		{ "RPUSH {t}b 1", ":1" },
		{ "BLMOVE {t}b {t}s LEFT LEFT 0", E_WRONG },
		{ "LLEN {t}b", ":1" },
	};
	RUN(steps);
}

/* A blocking command on empty keys with a short timeout: a null after the
 * timeout has passed. */
static void expect_timeout(const char *cmd, const char *raw_null)
{
	int fd = kr_raw_connect(&srv);
	double t0 = kr_now_ms();
	kr_raw_expect(fd, cmd, 1, raw_null);
	double elapsed = kr_now_ms() - t0;
	cr_assert_geq(elapsed, 90.0, "%s returned after %.1f ms, before its 100 ms timeout",
		      cmd, elapsed);
	close(fd);
}

Test(lists, blocking_timeouts)
{
	expect_timeout("BLPOP {t}e1 {t}e2 0.1\r\n", "*-1\r\n");
	expect_timeout("BRPOP {t}e1 0.1\r\n", "*-1\r\n");
	/* Redis replies a null ARRAY when any list wait times out, BLMOVE and
	 * BRPOPLPUSH included (their null bulk is only for a client that may
	 * not block, as in MULTI). */
	expect_timeout("BLMOVE {t}e1 {t}e2 LEFT RIGHT 0.1\r\n", "*-1\r\n");
	expect_timeout("BRPOPLPUSH {t}e1 {t}e2 0.1\r\n", "*-1\r\n");
	expect_timeout("BLMPOP 0.1 2 {t}e1 {t}e2 LEFT COUNT 3\r\n", "*-1\r\n");
	/* Nothing was created by the waits. */
	kr_int(c, 0, "EXISTS {t}e1 {t}e2");
	/* The connection is usable afterwards. */
	kr_int(c, 1, "RPUSH {t}e1 v");
	kr_bulk(c, "v", "LPOP {t}e1");
}

Test(lists, null_forms_resp2)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "LPOP nokey\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "RPOP nokey 2\r\n", 1, "*-1\r\n");
	kr_raw_expect(fd, "LINDEX nokey 0\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "LPOS nokey a\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "LMOVE nokey {nokey}x LEFT LEFT\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "LMPOP 1 nokey LEFT\r\n", 1, "*-1\r\n");
	kr_raw_expect(fd, "RPUSH k a b\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "LPOP k 0\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "LINDEX k 5\r\n", 1, "$-1\r\n");
	kr_raw_expect(fd, "LPOS k zz COUNT 0\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "LPOP k 5\r\n", 1, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
	/* In MULTI nothing blocks: each blocking command gets its own null at
	 * once (BLMOVE's is a null bulk here, unlike its timeout). */
	kr_raw_expect(fd, "MULTI\r\n", 1, "+OK\r\n");
	kr_raw_expect(fd, "BLPOP {t}e 0\r\n", 1, "+QUEUED\r\n");
	kr_raw_expect(fd, "BLMOVE {t}e {t}f LEFT LEFT 0\r\n", 1, "+QUEUED\r\n");
	kr_raw_expect(fd, "BRPOPLPUSH {t}e {t}f 0\r\n", 1, "+QUEUED\r\n");
	kr_raw_expect(fd, "BLMPOP 0 1 {t}e LEFT\r\n", 1, "+QUEUED\r\n");
	kr_raw_expect(fd, "EXEC\r\n", 1, "*4\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n");
	close(fd);
}

Test(lists, replies_resp3)
{
	int fd = kr_raw_resp3(&srv);
	kr_raw_expect(fd, "LPOP nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "RPOP nokey 2\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LINDEX nokey 0\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LPOS nokey a\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LPOS nokey a COUNT 1\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "LMOVE nokey {nokey}x LEFT LEFT\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LMPOP 1 nokey LEFT\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "RPUSH {r}k a 7 c\r\n", 1, ":3\r\n");
	kr_raw_expect(fd, "LRANGE {r}k 0 -1\r\n", 1, "*3\r\n$1\r\na\r\n$1\r\n7\r\n$1\r\nc\r\n");
	kr_raw_expect(fd, "LINDEX {r}k 1\r\n", 1, "$1\r\n7\r\n");
	kr_raw_expect(fd, "LINDEX {r}k 9\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LPOS {r}k c\r\n", 1, ":2\r\n");
	kr_raw_expect(fd, "LPOS {r}k zz\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "LPOS {r}k c COUNT 0\r\n", 1, "*1\r\n:2\r\n");
	kr_raw_expect(fd, "LPOP {r}k 0\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "BLPOP {r}k 0\r\n", 1, "*2\r\n$4\r\n{r}k\r\n$1\r\na\r\n");
	kr_raw_expect(fd, "LMPOP 2 {r}none {r}k RIGHT COUNT 1\r\n", 1,
		      "*2\r\n$4\r\n{r}k\r\n*1\r\n$1\r\nc\r\n");
	kr_raw_expect(fd, "LPOP {r}k 2\r\n", 1, "*1\r\n$1\r\n7\r\n");
	kr_raw_expect(fd, "RPOP {r}k\r\n", 1, "_\r\n");
	/* Timeouts reply RESP3's null whatever the command's null type. */
	double t0 = kr_now_ms();
	kr_raw_expect(fd, "BLPOP {r}k 0.1\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "BLMOVE {r}k {r}j LEFT LEFT 0.1\r\n", 1, "_\r\n");
	cr_assert_geq(kr_now_ms() - t0, 180.0, "two 100 ms timeouts took %.1f ms", kr_now_ms() - t0);
	close(fd);
}

/* ------------------------------------------------------- element forms */

Test(lists, binary_and_integer_elements)
{
	const char *argv[] = { "RPUSH", "k", "", "a\0b", "1", "01", "-1", " 1", "1.0",
			       "9223372036854775807", "9223372036854775808", "-9223372036854775808" };
	size_t lens[] = { 5, 1, 0, 3, 1, 2, 2, 2, 3, 19, 19, 20 };
	redisReply *r = kr_cmdv(c, 12, argv, lens);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert_eq(r->integer, 10);
	freeReplyObject(r);
	r = kr_cmd(c, "LRANGE k 0 -1");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 10);
	for (size_t i = 0; i < 10; i++) {
		cr_assert_eq(r->element[i]->len, lens[i + 2], "element %zu", i);
		cr_assert(memcmp(r->element[i]->str, argv[i + 2], lens[i + 2]) == 0, "element %zu", i);
	}
	freeReplyObject(r);
	kr_int(c, 0, "LPOS k %b", "", (size_t)0);
	kr_int(c, 1, "LPOS k %b", "a\0b", (size_t)3);
	kr_nil(c, "LPOS k %b", "a", (size_t)1);
	kr_int(c, 2, "LPOS k 1");
	kr_int(c, 3, "LPOS k 01");
	kr_int(c, 5, "LPOS k %b", " 1", (size_t)2);
	kr_int(c, 8, "LPOS k 9223372036854775808");
	kr_int(c, 9, "LPOS k -9223372036854775808");
	kr_int(c, 1, "LREM k 0 %b", "", (size_t)0);
	kr_int(c, 10, "LINSERT k AFTER %b %b", "a\0b", (size_t)3, "x\0y", (size_t)3);
	kr_ok(c, "LSET k 0 %b", "\r\n", (size_t)2);
	kr_bulk(c, "\r\n", "LINDEX k 0");
	r = kr_cmd(c, "LINDEX k 1");
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == 3 && memcmp(r->str, "x\0y", 3) == 0);
	freeReplyObject(r);
	kr_bulk(c, "-9223372036854775808", "RPOP k");
	kr_bulk(c, "9223372036854775808", "RPOP k");
	kr_bulk(c, "9223372036854775807", "RPOP k");
	kr_bulk(c, "1.0", "RPOP k");
}

/* ------------------------------------------------------------ encodings */

Test(lists, encoding_by_entry_count)
{
	kr_ok(c, "CONFIG SET list-max-listpack-size 4");
	kr_int(c, 4, "RPUSH k a b c d");
	expect_small_encoding("k");
	kr_int(c, 5, "RPUSH k e");
	kr_expect_encoding(c, "k", "quicklist");
	/* Back to a listpack in one node of <= 4 / 2 entries. */
	kr_bulk(c, "e", "RPOP k");
	kr_expect_encoding(c, "k", "quicklist");      /* 4 in one node: over half */
	kr_bulk(c, "d", "RPOP k");
	kr_bulk(c, "c", "RPOP k");
	expect_small_encoding("k");
	kr_int(c, 2, "LLEN k");
	/* A batch that crosses the limit converts. */
	kr_int(c, 7, "LPUSH k 1 2 3 4 5");
	kr_expect_encoding(c, "k", "quicklist");
	kr_ok(c, "LTRIM k 0 1");
	expect_small_encoding("k");
	/* LINSERT grows, LREM shrinks (down to one element, which is one
	 * node whatever the node layout). */
	kr_int(c, 4, "RPUSH k x y");
	expect_small_encoding("k");
	kr_int(c, 5, "LINSERT k BEFORE x w");
	kr_expect_encoding(c, "k", "quicklist");
	kr_int(c, -1, "LINSERT k BEFORE nothing v");
	kr_int(c, 1, "LREM k 0 x");
	kr_int(c, 0, "LREM k 0 nothing");
	kr_int(c, 1, "LREM k 1 y");
	kr_expect_encoding(c, "k", "quicklist");      /* 3 > 4 / 2 */
	kr_int(c, 1, "LREM k -1 w");
	kr_int(c, 1, "LREM k 1 5");
	kr_int(c, 1, "LLEN k");
	expect_small_encoding("k");
	/* A rotation converts only after pushing back: 3 entries in one node
	 * stay a quicklist even though the pop alone left 2. */
	kr_int(c, 5, "RPUSH r a b c d e");
	kr_bulk(c, "e", "RPOP r");
	kr_bulk(c, "d", "RPOP r");
	kr_expect_encoding(c, "r", "quicklist");
	kr_bulk(c, "c", "RPOPLPUSH r r");
	kr_expect_encoding(c, "r", "quicklist");
	kr_bulk(c, "c", "LMOVE r r LEFT RIGHT");
	kr_expect_encoding(c, "r", "quicklist");
	kr_bulk(c, "c", "RPOP r");
	expect_small_encoding("r");
	kr_ok(c, "CONFIG SET list-max-listpack-size -2");
}

Test(lists, encoding_by_size)
{
	/* Default -2: 8 KiB per node. */
	char *big = malloc(9001);
	memset(big, 'x', 9000);
	big[9000] = 0;
	kr_int(c, 1, "RPUSH k small");
	expect_small_encoding("k");
	kr_int(c, 2, "RPUSH k %s", big);
	kr_expect_encoding(c, "k", "quicklist");
	kr_bulk(c, big, "RPOP k");
	expect_small_encoding("k");
	/* LSET with a big value converts; a small one over it converts back. */
	kr_ok(c, "LSET k 0 %s", big);
	kr_expect_encoding(c, "k", "quicklist");
	kr_ok(c, "LSET k 0 tiny");
	expect_small_encoding("k");
	/* LMOVE into a list grows the destination like a push. */
	kr_int(c, 1, "RPUSH {m}src %s", big);
	kr_int(c, 1, "RPUSH {m}dst x");
	kr_bulk(c, big, "LMOVE {m}src {m}dst LEFT LEFT");
	kr_expect_encoding(c, "{m}dst", "quicklist");
	/* Many small elements: one 8 KiB node holds about 8192 / 12 of these
	 * 10-byte ones; past that a quicklist. */
	for (int i = 0; i < 600; i++)
		kr_int(c, i + 1, "RPUSH many elem%05d", i);
	expect_small_encoding("many");
	for (int i = 600; i < 800; i++)
		kr_int(c, i + 1, "RPUSH many elem%05d", i);
	kr_expect_encoding(c, "many", "quicklist");
	kr_ok(c, "LTRIM many 0 99");
	expect_small_encoding("many");
	/* -5 (64 KiB) makes the 9000-byte element fit a listpack again, but
	 * only for lists written after the change. */
	kr_ok(c, "CONFIG SET list-max-listpack-size -5");
	kr_int(c, 1, "RPUSH fresh %s", big);
	expect_small_encoding("fresh");
	kr_ok(c, "CONFIG SET list-max-listpack-size -2");
	free(big);
}

Test(lists, copy_and_rename_keep_lists)
{
	kr_int(c, 3, "RPUSH {c}a 1 2 3");
	kr_int(c, 1, "COPY {c}a {c}b");
	kr_int(c, 4, "RPUSH {c}b 4");
	kr_int(c, 3, "LLEN {c}a");
	kr_int(c, 4, "LLEN {c}b");
	kr_ok(c, "RENAME {c}a {c}z");
	kr_bulk(c, "3", "LINDEX {c}z -1");
	kr_int(c, 0, "EXISTS {c}a");
	kr_int(c, 2, "DEL {c}z {c}b");
}

/* ------------------------------------------------------------ large lists */

#define BIG_N 100000
#define BIG_BATCH 1000

Test(lists, large_list)
{
	/* RPUSH big e0 .. e99999 in pipelined batches. */
	static char words[BIG_BATCH][16];
	const char *argv[BIG_BATCH + 2];
	size_t lens[BIG_BATCH + 2];
	argv[0] = "RPUSH";
	lens[0] = 5;
	argv[1] = "big";
	lens[1] = 3;
	for (int b = 0; b < BIG_N / BIG_BATCH; b++) {
		for (int i = 0; i < BIG_BATCH; i++) {
			lens[i + 2] = (size_t)snprintf(words[i], sizeof(words[i]), "e%d",
						       b * BIG_BATCH + i);
			argv[i + 2] = words[i];
		}
		cr_assert_eq(redisAppendCommandArgv(c, BIG_BATCH + 2, argv, lens), REDIS_OK);
	}
	for (int b = 0; b < BIG_N / BIG_BATCH; b++) {
		redisReply *r = NULL;
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
		cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == (long long)(b + 1) * BIG_BATCH);
		freeReplyObject(r);
	}
	kr_int(c, BIG_N, "LLEN big");
	kr_expect_encoding(c, "big", "quicklist");
	kr_bulk(c, "e0", "LINDEX big 0");
	kr_bulk(c, "e99999", "LINDEX big -1");
	kr_bulk(c, "e50000", "LINDEX big 50000");
	kr_bulk(c, "e49999", "LINDEX big -50001");
	kr_nil(c, "LINDEX big 100000");
	static const struct kr_step slices[] = {
		{ "LRANGE big 0 2", "*3[$e0,$e1,$e2]" },
		{ "LRANGE big -3 -1", "*3[$e99997,$e99998,$e99999]" },
		{ "LRANGE big 49999 50001", "*3[$e49999,$e50000,$e50001]" },
		{ "LRANGE big 99998 200000", "*2[$e99998,$e99999]" },
		{ "LPOS big e99999", ":99999" },
		{ "LPOS big e99999 MAXLEN 1000", "nil" },
		{ "LPOS big e99000 RANK -1 MAXLEN 1000", ":99000" },
		{ "LSET big 70000 changed", "+OK" },
		{ "LINDEX big 70000", "$changed" },
		{ "LINSERT big AFTER e70001 inserted", ":100001" },
		{ "LINDEX big 70002", "$inserted" },
		{ "LREM big 0 inserted", ":1" },
		{ "LREM big -1 changed", ":1" },
		{ "LINDEX big 70000", "$e70001" },
	};
	RUN(slices);
	/* A full LRANGE, checked element by element. */
	redisReply *r = kr_cmd(c, "LRANGE big 0 -1");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, BIG_N - 1);
	for (size_t i = 0; i < r->elements; i++) {
		char want[16];
		snprintf(want, sizeof(want), "e%zu", i < 70000 ? i : i + 1);
		cr_assert_str_eq(r->element[i]->str, want, "element %zu", i);
	}
	freeReplyObject(r);
	/* Trim to the middle, then pop from both ends with counts. */
	kr_ok(c, "LTRIM big 1000 -1000");
	kr_int(c, BIG_N - 1 - 1999, "LLEN big");
	kr_bulk(c, "e1000", "LINDEX big 0");
	kr_bulk(c, "e99000", "LINDEX big -1");
	r = kr_cmd(c, "LPOP big 5000");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 5000);
	cr_assert_str_eq(r->element[4999]->str, "e5999");
	freeReplyObject(r);
	kr_expect_render(c, "RPOP big 3", "*3[$e99000,$e98999,$e98998]");
	kr_ok(c, "LTRIM big 0 9");
	kr_int(c, 10, "LLEN big");
	expect_small_encoding("big");
	kr_expect_render(c, "LRANGE big 0 -1",
			 "*10[$e6000,$e6001,$e6002,$e6003,$e6004,$e6005,$e6006,$e6007,$e6008,$e6009]");
}
