/* Integration tests of the set commands (shards/t_set.c) against a running
 * server: every command with its edge cases and Redis's exact error texts,
 * SPOP/SRANDMEMBER in all count forms over each encoding, SMOVE's order of
 * checks, the multi-key commands and their *STORE forms (destination of
 * any type overwritten, deleted when the result is empty), SINTERCARD's
 * options, SSCAN over compact and big sets (complete iteration, also while
 * the set changes), OBJECT ENCODING across every conversion driven by
 * CONFIG SET, RESP3 reply types (raw bytes), binary-safe members and
 * WATCH seeing only real changes.
 *
 * Expectations are written as kr_render() text (":1", "$v", "nil",
 * "*2[$a,$b]", "-ERR ..."). Intsets reply in ascending order in Redis and
 * here, so those replies are compared exactly; other replies are compared
 * sorted. Multi-key commands use keys in one hash tag {t}; the tests named
 * *_crossshard use plain keys that land on different shards with
 * KR_SHARDS=3.
 *
 * The same file passes against Debian's redis-server 7.0
 * (KR_SERVER_KIND=redis), which is how the expectations were checked.
 * Redis 7.0 has no listpack sets (a set that is not an intset is a
 * hashtable) and no set-max-listpack-* directives: the asserts that depend
 * on them are guarded with srv.is_redis. */
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

TestSuite(sets, .init = setup, .fini = teardown, .timeout = 120);

#define E_WRONG  "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_SYNTAX "-ERR syntax error"
#define E_NOTINT "-ERR value is not an integer or out of range"
#define E_POS    "-ERR value is out of range, must be positive"

/* ------------------------------------------------------------ helpers */

static void X(const char *line, const char *want) { kr_expect_render(c, line, want); }
static void XS(const char *line, const char *want) { kr_expect_sorted(c, line, want); }
#define RUN(steps) KR_RUN(c, steps)

/* The encoding a small non-integer set has: listpack since Redis 7.2
 * (what keyrail implements), hashtable in Redis 7.0. */
static const char *small_enc(void)
{
	return srv.is_redis ? "hashtable" : "listpack";
}

/* SADD key with members <prefix><from>..<prefix><to-1>, in batches. */
static void sadd_range(const char *key, const char *prefix, int from, int to)
{
	while (from < to) {
		enum { BATCH = 200 };
		const char *argv[2 + BATCH];
		size_t lens[2 + BATCH];
		static char mbuf[BATCH][32];
		int argc = 2, n = 0;
		redisReply *r;

		argv[0] = "SADD";
		argv[1] = key;
		for (; from < to && n < BATCH; from++, n++) {
			snprintf(mbuf[n], sizeof(mbuf[n]), "%s%d", prefix, from);
			argv[argc++] = mbuf[n];
		}
		for (int i = 0; i < argc; i++)
			lens[i] = strlen(argv[i]);
		r = kr_cmdv(c, argc, argv, lens);
		cr_assert(r->type == REDIS_REPLY_INTEGER, "SADD batch: type %d", r->type);
		freeReplyObject(r);
	}
}

/* ------------------------------------------------------- basic commands */

Test(sets, sadd_srem_scard_ismember)
{
	static const struct kr_step st[] = {
		{ "SADD s a b c", ":3" },
		{ "SADD s a d d d", ":1" },            /* repeats in one call count once */
		{ "SCARD s", ":4" },
		{ "SCARD nokey", ":0" },
		{ "SISMEMBER s a", ":1" },
		{ "SISMEMBER s zz", ":0" },
		{ "SISMEMBER nokey a", ":0" },
		{ "SMISMEMBER s a zz d a", "*4[:1,:0,:1,:1]" },
		{ "SMISMEMBER nokey a b", "*2[:0,:0]" },
		{ "SREM s a zz a", ":1" },
		{ "SREM s zz", ":0" },
		{ "SREM nokey a", ":0" },
		{ "SCARD s", ":3" },
		{ "SREM s b c d e", ":3" },           /* emptied: the key goes */
		{ "EXISTS s", ":0" },
		{ "TYPE s", "+none" },
		{ "SADD n 10 -5 10 0", ":3" },
		{ "SISMEMBER n 10", ":1" },
		{ "SISMEMBER n 010", ":0" },          /* not the same string */
		{ "SISMEMBER n +10", ":0" },
		{ "SISMEMBER n -5", ":1" },
		{ "SMEMBERS n", "*3[$-5,$0,$10]" },   /* intset: ascending */
		{ "TYPE n", "+set" },
	};
	RUN(st);
	XS("SMEMBERS nokey", "");
}

Test(sets, arity_and_wrongtype)
{
	static const struct kr_step st[] = {
		{ "SADD s", "-ERR wrong number of arguments for 'sadd' command" },
		{ "SREM s", "-ERR wrong number of arguments for 'srem' command" },
		{ "SCARD", "-ERR wrong number of arguments for 'scard' command" },
		{ "SCARD a b", "-ERR wrong number of arguments for 'scard' command" },
		{ "SISMEMBER s", "-ERR wrong number of arguments for 'sismember' command" },
		{ "SMISMEMBER s", "-ERR wrong number of arguments for 'smismember' command" },
		{ "SMEMBERS", "-ERR wrong number of arguments for 'smembers' command" },
		{ "SPOP", "-ERR wrong number of arguments for 'spop' command" },
		{ "SRANDMEMBER", "-ERR wrong number of arguments for 'srandmember' command" },
		{ "SMOVE a b", "-ERR wrong number of arguments for 'smove' command" },
		{ "SINTER", "-ERR wrong number of arguments for 'sinter' command" },
		{ "SINTERSTORE d", "-ERR wrong number of arguments for 'sinterstore' command" },
		{ "SUNION", "-ERR wrong number of arguments for 'sunion' command" },
		{ "SUNIONSTORE d", "-ERR wrong number of arguments for 'sunionstore' command" },
		{ "SDIFF", "-ERR wrong number of arguments for 'sdiff' command" },
		{ "SDIFFSTORE d", "-ERR wrong number of arguments for 'sdiffstore' command" },
		{ "SINTERCARD 1", "-ERR wrong number of arguments for 'sintercard' command" },
		{ "SSCAN s", "-ERR wrong number of arguments for 'sscan' command" },
		{ "SET str x", "+OK" },
		{ "SADD str a", E_WRONG },
		{ "SREM str a", E_WRONG },
		{ "SCARD str", E_WRONG },
		{ "SISMEMBER str a", E_WRONG },
		{ "SMISMEMBER str a", E_WRONG },
		{ "SMEMBERS str", E_WRONG },
		{ "SPOP str", E_WRONG },
		{ "SPOP str 2", E_WRONG },
		{ "SPOP str 0", E_WRONG },             /* the key is checked before count 0 */
		{ "SRANDMEMBER str", E_WRONG },
		{ "SRANDMEMBER str 2", E_WRONG },
		{ "SRANDMEMBER str 0", E_WRONG },
		{ "SSCAN str 0", E_WRONG },
		{ "SSCAN str 0 COUNT 0", E_WRONG },    /* type before options */
		{ "SSCAN str x", "-ERR invalid cursor" }, /* cursor before type */
		{ "LPUSH list a", ":1" },
		{ "SADD list a", E_WRONG },
		{ "GET str", "$x" },                   /* untouched */
	};
	RUN(st);
}

Test(sets, binary_safe_members)
{
	const char *argv[] = { "SADD", "b", "a\0b", "a", "", "a\0c" };
	size_t lens[] = { 4, 1, 3, 1, 0, 3 };
	redisReply *r = kr_cmdv(c, 6, argv, lens);

	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 4);
	freeReplyObject(r);
	const char *q[] = { "SISMEMBER", "b", "a\0b" };
	size_t ql[] = { 9, 1, 3 };
	r = kr_cmdv(c, 3, q, ql);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
	freeReplyObject(r);
	ql[2] = 2;   /* "a\0" */
	r = kr_cmdv(c, 3, q, ql);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 0);
	freeReplyObject(r);
	ql[2] = 0;   /* the empty member */
	r = kr_cmdv(c, 3, q, ql);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
	freeReplyObject(r);
	r = kr_cmd(c, "SMEMBERS b");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
	size_t total = 0;
	for (size_t i = 0; i < r->elements; i++)
		total += r->element[i]->len;
	cr_assert(total == 7, "member lengths %zu", total);
	freeReplyObject(r);
	/* A member longer than the listpack value limit. */
	char big[3000];
	memset(big, 'x', sizeof(big));
	const char *a2[] = { "SADD", "b", big };
	size_t l2[] = { 4, 1, sizeof(big) };
	r = kr_cmdv(c, 3, a2, l2);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
	freeReplyObject(r);
	kr_expect_encoding(c, "b", "hashtable");
	a2[0] = "SISMEMBER";
	l2[0] = 9;
	r = kr_cmdv(c, 3, a2, l2);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
	freeReplyObject(r);
}

/* ------------------------------------------------------------ encodings */

Test(sets, encodings_intset)
{
	X("SADD i 1 2 3", ":3");
	kr_expect_encoding(c, "i", "intset");
	X("SADD i -9223372036854775808 9223372036854775807", ":2");
	kr_expect_encoding(c, "i", "intset");
	X("SMEMBERS i", "*5[$-9223372036854775808,$1,$2,$3,$9223372036854775807]");
	X("SADD i 9223372036854775808", ":1");   /* out of int64: a string */
	kr_expect_encoding(c, "i", small_enc());
	X("SREM i 9223372036854775808", ":1");
	kr_expect_encoding(c, "i", small_enc());       /* never back to intset */

	/* Too many integers: intset -> hashtable. */
	X("CONFIG SET set-max-intset-entries 4", "+OK");
	X("SADD j 1 2 3 4", ":4");
	kr_expect_encoding(c, "j", "intset");
	X("SADD j 4", ":0");
	kr_expect_encoding(c, "j", "intset");
	X("SADD j 5", ":1");
	kr_expect_encoding(c, "j", "hashtable");
	X("SREM j 1 2 3 4", ":4");
	kr_expect_encoding(c, "j", "hashtable");
	X("SMEMBERS j", "*1[$5]");

	/* An intset that gets a long string goes straight to hashtable. */
	X("CONFIG SET set-max-intset-entries 512", "+OK");
	X("SADD k 1 2", ":2");
	X("SADD k aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ":1");
	kr_expect_encoding(c, "k", "hashtable");

	/* 600 integers: over 512, a hashtable. */
	sadd_range("big", "", 0, 600);
	kr_expect_encoding(c, "big", "hashtable");
	X("SCARD big", ":600");
}

Test(sets, encodings_listpack)
{
	if (srv.is_redis)
		return;   /* Redis 7.0: no listpack sets, no set-max-listpack-* */
	X("SADD l a b", ":2");
	kr_expect_encoding(c, "l", "listpack");
	X("SMEMBERS l", "*2[$a,$b]");            /* insertion order */
	X("SADD l2 3 1 x", ":3");                /* intset, then a string */
	kr_expect_encoding(c, "l2", "listpack");
	X("SMEMBERS l2", "*3[$1,$3,$x]");        /* the intset's order, then x */

	X("CONFIG SET set-max-listpack-entries 3", "+OK");
	X("SADD e a b c", ":3");
	kr_expect_encoding(c, "e", "listpack");
	X("SADD e c", ":0");
	kr_expect_encoding(c, "e", "listpack");
	X("SADD e d", ":1");
	kr_expect_encoding(c, "e", "hashtable");
	X("SREM e a b c", ":3");
	kr_expect_encoding(c, "e", "hashtable");       /* never back */
	/* More members in one SADD than a listpack holds: hashtable at once. */
	X("SADD e2 a b c d", ":4");
	kr_expect_encoding(c, "e2", "hashtable");
	/* An intset at the listpack limit that gets a string: hashtable. */
	X("SADD e3 1 2 3", ":3");
	kr_expect_encoding(c, "e3", "intset");
	X("SADD e3 x", ":1");
	kr_expect_encoding(c, "e3", "hashtable");
	/* Integers past set-max-intset-entries but within the listpack limit
	 * (7.2: SADD picks listpack from the argument count). */
	X("CONFIG SET set-max-listpack-entries 128", "+OK");
	X("CONFIG SET set-max-intset-entries 2", "+OK");
	X("SADD e4 1 2 3", ":3");
	kr_expect_encoding(c, "e4", "listpack");
	X("SADD e5 1 2", ":2");
	kr_expect_encoding(c, "e5", "intset");
	X("SADD e5 3", ":1");
	kr_expect_encoding(c, "e5", "hashtable");

	X("CONFIG SET set-max-listpack-value 5", "+OK");
	X("SADD v abcde", ":1");
	kr_expect_encoding(c, "v", "listpack");
	X("SADD v abcdef", ":1");
	kr_expect_encoding(c, "v", "hashtable");
	X("SADD v2 abcdef", ":1");
	kr_expect_encoding(c, "v2", "hashtable");
	X("CONFIG SET set-max-listpack-entries 0", "+OK");
	X("SADD z a", ":1");
	kr_expect_encoding(c, "z", "hashtable");
	X("SADD z2 1", ":1");
	kr_expect_encoding(c, "z2", "intset");
}

/* The encodings of computed and moved sets. */
Test(sets, encodings_of_results)
{
	X("SADD {t}a 1 2 3 x", ":4");
	X("SADD {t}b 1 2 3", ":3");
	X("SINTERSTORE {t}d {t}a {t}b", ":3");
	kr_expect_encoding(c, "{t}d", "intset");
	X("SUNIONSTORE {t}d {t}a {t}b", ":4");
	kr_expect_encoding(c, "{t}d", small_enc());
	X("SDIFFSTORE {t}d {t}a {t}b", ":1");
	kr_expect_encoding(c, "{t}d", small_enc());
	X("SMOVE {t}b {t}n 2", ":1");
	kr_expect_encoding(c, "{t}n", "intset");
	X("SMOVE {t}a {t}m x", ":1");
	kr_expect_encoding(c, "{t}m", small_enc());
	X("CONFIG SET set-max-intset-entries 3", "+OK");
	X("SADD {t}c 1 2 3 4 5", ":5");
	X("SUNIONSTORE {t}d {t}c", ":5");
	kr_expect_encoding(c, "{t}d", "hashtable");
}

/* --------------------------------------------------------------- SPOP */

Test(sets, spop_errors_and_edges)
{
	static const struct kr_step st[] = {
		{ "SPOP nokey", "nil" },
		{ "SPOP nokey 3", "*0[]" },
		{ "SPOP nokey 0", "*0[]" },
		{ "SPOP nokey -1", E_POS },
		{ "SADD s 1", ":1" },
		{ "SPOP s -1", E_POS },
		{ "SPOP s abc", E_POS },
		{ "SPOP s 1.5", E_POS },
		{ "SPOP s 1 2", E_SYNTAX },
		{ "SPOP s 0", "*0[]" },
		{ "SCARD s", ":1" },
		{ "SPOP s", "$1" },
		{ "EXISTS s", ":0" },
		{ "SADD s 5 6 7", ":3" },
		{ "SPOP s 3", "*3[$5,$6,$7]" },        /* all of it: intset order */
		{ "EXISTS s", ":0" },
		{ "SADD s 5 6 7", ":3" },
		{ "SPOP s 9223372036854775807", "*3[$5,$6,$7]" },
		{ "EXISTS s", ":0" },
		{ "SPOP s 9223372036854775808", E_POS },
	};
	RUN(st);
}

/* Pop every way from sets of each encoding: the members popped are
 * distinct members, and exactly the rest remain. */
static void spop_check(const char *key, int size, const char *prefix, int count)
{
	char line[128];
	redisReply *r;

	freeReplyObject(kr_cmd(c, "DEL %s", key));
	sadd_range(key, prefix, 0, size);
	unsigned char *seen = calloc((size_t)size, 1);
	int popped = 0;
	while (popped < size) {
		int want = count < size - popped ? count : size - popped;
		if (count == 1)
			snprintf(line, sizeof(line), "SPOP %s", key);
		else
			snprintf(line, sizeof(line), "SPOP %s %d", key, count);
		r = kr_words(c, line);
		size_t n = count == 1 ? 1 : r->elements;
		cr_assert(count == 1 ? r->type == REDIS_REPLY_STRING : r->type == REDIS_REPLY_ARRAY,
			  "%s: type %d", line, r->type);
		cr_assert((int)n == want, "%s: %zu popped, want %d", line, n, want);
		for (size_t i = 0; i < n; i++) {
			const redisReply *el = count == 1 ? r : r->element[i];
			int idx;
			cr_assert(strncmp(el->str, prefix, strlen(prefix)) == 0, "popped %s", el->str);
			idx = atoi(el->str + strlen(prefix));
			cr_assert(idx >= 0 && idx < size && !seen[idx], "%s popped twice or unknown", el->str);
			seen[idx] = 1;
			kr_int(c, 0, "SISMEMBER %s %s", key, el->str);
		}
		freeReplyObject(r);
		popped += want;
		kr_int(c, size - popped, "SCARD %s", key);
	}
	kr_int(c, 0, "EXISTS %s", key);
	free(seen);
}

Test(sets, spop_counts_every_encoding)
{
	static const struct {
		int size;
		const char *prefix;
	} sets[] = { { 50, "" }, { 600, "" }, { 20, "m" }, { 300, "m" } };
	static const int counts[] = { 1, 3, 7, 40, 250 };
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
			spop_check("p", sets[s].size, sets[s].prefix, counts[k]);
}


/* Popping most of a set and then a few members keeps its encoding (sets
 * never convert back). */
Test(sets, spop_keeps_encoding)
{
	redisReply *r;

	sadd_range("h", "m", 0, 300);
	kr_expect_encoding(c, "h", "hashtable");
	r = kr_cmd(c, "SPOP h 290");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 290);
	freeReplyObject(r);
	X("SCARD h", ":10");
	kr_expect_encoding(c, "h", "hashtable");
	sadd_range("i", "", 0, 100);
	r = kr_cmd(c, "SPOP i 95");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 95);
	freeReplyObject(r);
	kr_expect_encoding(c, "i", "intset");
	r = kr_cmd(c, "SMEMBERS i");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 5);
	for (size_t k = 1; k < 5; k++)   /* still ascending after the rebuild */
		cr_assert(atoll(r->element[k - 1]->str) < atoll(r->element[k]->str));
	freeReplyObject(r);
}

/* -------------------------------------------------------- SRANDMEMBER */

Test(sets, srandmember_errors_and_edges)
{
	static const struct kr_step st[] = {
		{ "SRANDMEMBER nokey", "nil" },
		{ "SRANDMEMBER nokey 5", "*0[]" },
		{ "SRANDMEMBER nokey -5", "*0[]" },
		{ "SRANDMEMBER nokey abc", E_NOTINT },
		{ "SADD s 7", ":1" },
		{ "SRANDMEMBER s", "$7" },
		{ "SRANDMEMBER s 0", "*0[]" },
		{ "SRANDMEMBER s 1", "*1[$7]" },
		{ "SRANDMEMBER s 10", "*1[$7]" },
		{ "SRANDMEMBER s -3", "*3[$7,$7,$7]" },
		{ "SRANDMEMBER s abc", E_NOTINT },
		{ "SRANDMEMBER s 1.0", E_NOTINT },
		{ "SRANDMEMBER s 1 2", E_SYNTAX },
		{ "SRANDMEMBER s abc 2", E_SYNTAX },       /* arity checked before count */
		{ "SRANDMEMBER s -9223372036854775808",
		  "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807" },
		{ "SRANDMEMBER s 9223372036854775807", "*1[$7]" },
		{ "SCARD s", ":1" },                        /* read-only */
	};
	RUN(st);
}

/* Positive counts: min(count, size) distinct members (around the
 * size/3 strategy switch too); negative: exactly -count members with
 * repeats. For each encoding. */
Test(sets, srandmember_counts_every_encoding)
{
	static const struct {
		const char *key, *prefix;
		int size;
	} sets[] = { { "ri", "", 60 }, { "rl", "m", 30 }, { "rh", "m", 400 } };
	static const int counts[] = { 1, 5, 19, 21, 100, 133, 134, 399, 400, 1000, -1, -7, -1000 };
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		sadd_range(sets[s].key, sets[s].prefix, 0, sets[s].size);
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			int count = counts[k], size = sets[s].size;
			redisReply *r = kr_cmd(c, "SRANDMEMBER %s %d", sets[s].key, count);
			size_t want = count < 0 ? (size_t)-count : (size_t)(count < size ? count : size);
			unsigned *hits = calloc((size_t)size, sizeof(*hits));
			cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == want,
				  "%s %d: %zu elements, want %zu", sets[s].key, count, r->elements, want);
			for (size_t i = 0; i < r->elements; i++) {
				const char *m = r->element[i]->str;
				size_t pl = strlen(sets[s].prefix);
				cr_assert(strncmp(m, sets[s].prefix, pl) == 0);
				int idx = atoi(m + pl);
				cr_assert(idx >= 0 && idx < size, "not a member: %s", m);
				hits[idx]++;
				if (count > 0)
					cr_assert(hits[idx] == 1, "%s %d: %s repeated", sets[s].key, count, m);
			}
			if (count == -1000 && size <= 60) {
				unsigned distinct = 0;
				for (int i = 0; i < size; i++)
					distinct += hits[i] > 0;
				cr_assert(distinct > (unsigned)size / 2, "1000 picks hit only %u of %d", distinct, size);
			}
			free(hits);
			freeReplyObject(r);
		}
		kr_int(c, sets[s].size, "SCARD %s", sets[s].key);
	}
}

/* -------------------------------------------------------------- SMOVE */

Test(sets, smove_cases)
{
	static const struct kr_step st[] = {
		{ "SADD {t}a 1 2 x", ":3" },
		{ "SADD {t}b 3", ":1" },
		{ "SET {t}str v", "+OK" },
		{ "SMOVE {t}none {t}b 1", ":0" },        /* missing source: 0 first */
		{ "SMOVE {t}none {t}str 1", ":0" },      /* ... even to a wrong type */
		{ "SMOVE {t}str {t}b 1", E_WRONG },
		{ "SMOVE {t}a {t}str 1", E_WRONG },
		{ "SMOVE {t}a {t}str zz", E_WRONG },     /* types before membership */
		{ "SMOVE {t}a {t}b zz", ":0" },
		{ "SMOVE {t}a {t}a 1", ":1" },           /* same key: a membership test */
		{ "SMOVE {t}a {t}a zz", ":0" },
		{ "SCARD {t}a", ":3" },
		{ "SMOVE {t}a {t}b 1", ":1" },
		{ "SMEMBERS {t}b", "*2[$1,$3]" },
		{ "SADD {t}b 2", ":1" },
		{ "SMOVE {t}a {t}b 2", ":1" },           /* already in dst: still 1 */
		{ "SMEMBERS {t}b", "*3[$1,$2,$3]" },
		{ "SMOVE {t}a {t}new x", ":1" },         /* last member: src goes, dst created */
		{ "EXISTS {t}a", ":0" },
		{ "SMEMBERS {t}new", "*1[$x]" },
		{ "GET {t}str", "$v" },
	};
	RUN(st);
	/* The destination's TTL is kept; a created one has none. */
	X("EXPIRE {t}b 1000", ":1");
	X("SMOVE {t}new {t}b x", ":1");
	X("TTL {t}b", ":1000");
	X("SMOVE {t}b {t}fresh 1", ":1");
	X("TTL {t}fresh", ":-1");
}

/* ---------------------------------------------- SINTER SUNION SDIFF */

Test(sets, sinter_sunion_sdiff)
{
	static const struct kr_step st[] = {
		{ "SADD {t}a 1 2 3 4", ":4" },
		{ "SADD {t}b 3 4 5", ":3" },
		{ "SADD {t}c 4 5 6", ":3" },
		{ "SINTER {t}a {t}b", "*2[$3,$4]" },
		{ "SINTER {t}a {t}b {t}c", "*1[$4]" },
		{ "SINTER {t}a", "*4[$1,$2,$3,$4]" },
		{ "SINTER {t}a {t}a", "*4[$1,$2,$3,$4]" },
		{ "SINTER {t}a {t}none", "*0[]" },
		{ "SINTER {t}none {t}a", "*0[]" },
		{ "SUNION {t}a {t}b", "*5[$1,$2,$3,$4,$5]" },
		{ "SUNION {t}a {t}b {t}c {t}none", "*6[$1,$2,$3,$4,$5,$6]" },
		{ "SUNION {t}none", "*0[]" },
		{ "SDIFF {t}a {t}b", "*2[$1,$2]" },
		{ "SDIFF {t}a {t}b {t}c", "*2[$1,$2]" },
		{ "SDIFF {t}a {t}none", "*4[$1,$2,$3,$4]" },
		{ "SDIFF {t}none {t}a", "*0[]" },
		{ "SDIFF {t}a {t}a", "*0[]" },
		{ "SDIFF {t}b {t}a {t}c", "*0[]" },
		{ "SET {t}str x", "+OK" },
		/* A wrong type anywhere wins, even after a missing key. */
		{ "SINTER {t}a {t}str", E_WRONG },
		{ "SINTER {t}none {t}str", E_WRONG },
		{ "SINTER {t}str {t}none", E_WRONG },
		{ "SUNION {t}none {t}str", E_WRONG },
		{ "SDIFF {t}none {t}str", E_WRONG },
		{ "SDIFF {t}a {t}str", E_WRONG },
	};
	RUN(st);
	/* Strings and bigger sets: compared sorted. */
	X("SADD {t}s a b c d", ":4");
	X("SADD {t}u c d e 1", ":4");
	XS("SINTER {t}s {t}u", "c,d");
	XS("SUNION {t}s {t}u {t}a", "1,2,3,4,a,b,c,d,e");
	XS("SDIFF {t}u {t}s {t}a", "e");
	sadd_range("{t}h1", "m", 0, 500);
	sadd_range("{t}h2", "m", 250, 600);
	X("SCARD {t}h1", ":500");
	redisReply *r = kr_cmd(c, "SINTER {t}h1 {t}h2");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 250);
	freeReplyObject(r);
	r = kr_cmd(c, "SUNION {t}h1 {t}h2");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 600);
	freeReplyObject(r);
	/* Both SDIFF strategies: a small first set against big others, and
	 * a big first set against a small one. */
	r = kr_cmd(c, "SDIFF {t}h1 {t}h2");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 250);
	for (size_t i = 0; i < r->elements; i++)
		cr_assert(atoi(r->element[i]->str + 1) < 250, "%s", r->element[i]->str);
	freeReplyObject(r);
	X("SADD {t}few m1 m2 zz", ":3");
	XS("SDIFF {t}few {t}h1 {t}h2", "zz");
	r = kr_cmd(c, "SDIFF {t}h1 {t}few");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 498);
	freeReplyObject(r);
}

Test(sets, store_commands)
{
	static const struct kr_step st[] = {
		{ "SADD {t}a 1 2 3 4", ":4" },
		{ "SADD {t}b 3 4 5", ":3" },
		{ "SINTERSTORE {t}d {t}a {t}b", ":2" },
		{ "SMEMBERS {t}d", "*2[$3,$4]" },
		{ "SUNIONSTORE {t}d {t}a {t}b", ":5" },
		{ "SMEMBERS {t}d", "*5[$1,$2,$3,$4,$5]" },
		{ "SDIFFSTORE {t}d {t}a {t}b", ":2" },
		{ "SMEMBERS {t}d", "*2[$1,$2]" },
		/* Empty result: the destination is deleted. */
		{ "SINTERSTORE {t}d {t}a {t}none", ":0" },
		{ "EXISTS {t}d", ":0" },
		{ "SADD {t}d x", ":1" },
		{ "SDIFFSTORE {t}d {t}a {t}a", ":0" },
		{ "EXISTS {t}d", ":0" },
		{ "SADD {t}d x", ":1" },
		{ "SUNIONSTORE {t}d {t}none", ":0" },
		{ "EXISTS {t}d", ":0" },
		{ "SINTERSTORE {t}d {t}none", ":0" },
		{ "EXISTS {t}d", ":0" },
		/* Any type is overwritten, its TTL dropped. */
		{ "SET {t}d str EX 1000", "+OK" },
		{ "SUNIONSTORE {t}d {t}a", ":4" },
		{ "TYPE {t}d", "+set" },
		{ "TTL {t}d", ":-1" },
		{ "LPUSH {t}l a", ":1" },
		{ "SINTERSTORE {t}l {t}a {t}b", ":2" },
		{ "TYPE {t}l", "+set" },
		/* The destination may be a source. */
		{ "SUNIONSTORE {t}a {t}a {t}b", ":5" },
		{ "SMEMBERS {t}a", "*5[$1,$2,$3,$4,$5]" },
		{ "SDIFFSTORE {t}a {t}a {t}b", ":2" },
		{ "SMEMBERS {t}a", "*2[$1,$2]" },
		{ "SINTERSTORE {t}b {t}b {t}b", ":3" },
		/* A wrong-type source: error, destination untouched. */
		{ "SET {t}str x", "+OK" },
		{ "SADD {t}keep k", ":1" },
		{ "SINTERSTORE {t}keep {t}a {t}str", E_WRONG },
		{ "SUNIONSTORE {t}keep {t}str", E_WRONG },
		{ "SDIFFSTORE {t}keep {t}none {t}str", E_WRONG },
		{ "SMEMBERS {t}keep", "*1[$k]" },
	};
	RUN(st);
	sadd_range("{t}h", "m", 0, 300);
	X("SUNIONSTORE {t}hd {t}h {t}a", ":302");
	X("SINTERSTORE {t}hd {t}h {t}h", ":300");
	X("SDIFFSTORE {t}hd {t}h {t}a", ":300");
}

Test(sets, sintercard)
{
	static const struct kr_step st[] = {
		{ "SADD {t}a 1 2 3 4 5", ":5" },
		{ "SADD {t}b 3 4 5 6", ":4" },
		{ "SINTERCARD 2 {t}a {t}b", ":3" },
		{ "SINTERCARD 1 {t}a", ":5" },
		{ "SINTERCARD 2 {t}a {t}none", ":0" },
		{ "SINTERCARD 2 {t}a {t}b LIMIT 2", ":2" },
		{ "SINTERCARD 2 {t}a {t}b LIMIT 0", ":3" },      /* 0: no limit */
		{ "SINTERCARD 2 {t}a {t}b LIMIT 10", ":3" },
		{ "SINTERCARD 2 {t}a {t}b limit 1 LIMIT 0", ":3" }, /* last wins */
		{ "SINTERCARD 0 {t}a", "-ERR numkeys should be greater than 0" },
		{ "SINTERCARD -1 {t}a", "-ERR numkeys should be greater than 0" },
		{ "SINTERCARD abc {t}a", "-ERR numkeys should be greater than 0" },
		{ "SINTERCARD 3 {t}a {t}b", "-ERR Number of keys can't be greater than number of args" },
		{ "SINTERCARD 1 {t}a LIMIT -1", "-ERR LIMIT can't be negative" },
		{ "SINTERCARD 1 {t}a LIMIT abc", "-ERR LIMIT can't be negative" },
		{ "SINTERCARD 1 {t}a LIMIT", E_SYNTAX },
		{ "SINTERCARD 1 {t}a FOO 1", E_SYNTAX },
		{ "SINTERCARD 1 {t}a {t}b", E_SYNTAX },
		{ "SET {t}str x", "+OK" },
		{ "SINTERCARD 2 {t}none {t}str", E_WRONG },
		{ "SINTERCARD 2 {t}str {t}none", E_WRONG },
		{ "SINTERCARD 1 {t}str LIMIT -1", "-ERR LIMIT can't be negative" }, /* options first */
	};
	RUN(st);
	sadd_range("{t}h1", "m", 0, 1000);
	sadd_range("{t}h2", "m", 500, 1200);
	X("SINTERCARD 2 {t}h1 {t}h2", ":500");
	X("SINTERCARD 2 {t}h1 {t}h2 LIMIT 77", ":77");
}

/* --------------------------------------------------------------- SSCAN */

Test(sets, sscan_small_and_errors)
{
	static const struct kr_step st[] = {
		{ "SSCAN nokey 0", "*2[$0,*0[]]" },
		{ "SSCAN nokey 0 COUNT 0", "*2[$0,*0[]]" },   /* options unchecked */
		{ "SADD i 3 1 2", ":3" },
		{ "SSCAN i 0", "*2[$0,*3[$1,$2,$3]]" },
		{ "SSCAN i 0 COUNT 1", "*2[$0,*3[$1,$2,$3]]" }, /* compact: all at once */
		{ "SSCAN i 0 MATCH 2", "*2[$0,*1[$2]]" },
		{ "SSCAN i 0 MATCH [13] COUNT 100", "*2[$0,*2[$1,$3]]" },
		{ "SSCAN i 0 MATCH *", "*2[$0,*3[$1,$2,$3]]" },
		{ "SSCAN i 0 match nope", "*2[$0,*0[]]" },
		{ "SSCAN i 18446744073709551615", "*2[$0,*3[$1,$2,$3]]" },
		{ "SSCAN i -1", "*2[$0,*3[$1,$2,$3]]" },      /* strtoul wraps, as Redis */
		{ "SSCAN i 18446744073709551616", "-ERR invalid cursor" },
		{ "SSCAN i abc", "-ERR invalid cursor" },
		{ "SSCAN i 1x", "-ERR invalid cursor" },
		{ "SSCAN i 0 COUNT 0", E_SYNTAX },
		{ "SSCAN i 0 COUNT -1", E_SYNTAX },
		{ "SSCAN i 0 COUNT abc", E_NOTINT },
		{ "SSCAN i 0 COUNT", E_SYNTAX },
		{ "SSCAN i 0 MATCH", E_SYNTAX },
		{ "SSCAN i 0 TYPE set", E_SYNTAX },
		{ "SSCAN i 0 FOO bar", E_SYNTAX },
	};
	RUN(st);
	X("SADD s a b", ":2");
	if (srv.is_redis)
		return;   /* a hashtable in Redis 7.0: COUNT 1 may page */
	redisReply *r = kr_cmd(c, "SSCAN s 0 COUNT 1");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	cr_assert_str_eq(r->element[0]->str, "0");
	char *got = kr_sorted_elements(r->element[1]);
	cr_assert_str_eq(got, "a,b");
	free(got);
	freeReplyObject(r);
}

/* Full iteration of a big set: every member is returned, the cursor ends
 * at 0, and MATCH filters; then again while members come and go between
 * calls: every member present throughout is still returned. */
Test(sets, sscan_large)
{
	enum { N = 3000 };
	unsigned char *seen = calloc(N, 1);
	char cur[32] = "0";
	unsigned rounds = 0, total = 0;

	sadd_range("big", "m", 0, N);
	do {
		redisReply *r = kr_cmd(c, "SSCAN big %s COUNT 50", cur);
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
		snprintf(cur, sizeof(cur), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			int idx = atoi(r->element[1]->element[i]->str + 1);
			cr_assert(idx >= 0 && idx < N);
			seen[idx] = 1;
			total++;
		}
		freeReplyObject(r);
		rounds++;
		cr_assert(rounds < 10000, "SSCAN does not end");
	} while (strcmp(cur, "0") != 0);
	for (int i = 0; i < N; i++)
		cr_assert(seen[i], "m%d never returned", i);
	cr_assert(rounds > 10, "a %d-member hashtable in %u calls", N, rounds);
	cr_assert(total >= N);

	/* MATCH: only m1, m1x, m1xx, m1xxx. */
	strcpy(cur, "0");
	unsigned matched = 0;
	do {
		redisReply *r = kr_cmd(c, "SSCAN big %s MATCH m1* COUNT 100", cur);
		snprintf(cur, sizeof(cur), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			cr_assert(strncmp(r->element[1]->element[i]->str, "m1", 2) == 0);
			matched++;
		}
		freeReplyObject(r);
	} while (strcmp(cur, "0") != 0);
	cr_assert(matched >= 1111, "MATCH m1* found %u", matched);   /* 1, 10-19, 100-199, 1000-1999 */

	/* Members 0..999 stay; others are removed and added between calls
	 * (the table shrinks and grows). */
	memset(seen, 0, N);
	strcpy(cur, "0");
	int step = 0, next_new = 0;
	do {
		redisReply *r = kr_cmd(c, "SSCAN big %s COUNT 20", cur);
		snprintf(cur, sizeof(cur), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *m = r->element[1]->element[i]->str;
			if (m[0] == 'm') {
				int idx = atoi(m + 1);
				if (idx < N)
					seen[idx] = 1;
			}
		}
		freeReplyObject(r);
		if (step < 10) {
			char line[64];
			for (int k = 0; k < 200; k++) {
				snprintf(line, sizeof(line), "SREM big m%d", 1000 + step * 200 + k);
				freeReplyObject(kr_words(c, line));
			}
		} else if (step < 20) {
			sadd_range("big", "n", next_new, next_new + 500);
			next_new += 500;
		}
		step++;
		cr_assert(step < 100000, "SSCAN does not end");
	} while (strcmp(cur, "0") != 0);
	for (int i = 0; i < 1000; i++)
		cr_assert(seen[i], "stable member m%d missed while the set changed", i);
	free(seen);
}

/* ------------------------------------------------------------- RESP3 */

Test(sets, resp3_reply_types)
{
	int fd;
	size_t len;
	char *got;

	X("SADD {t}r 3 1 2", ":3");
	X("SADD {t}q 2 9", ":2");
	fd = kr_raw_resp3(&srv);
	kr_raw_expect(fd, "SMEMBERS {t}r\r\n", 1, "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
	kr_raw_expect(fd, "SMEMBERS nokey\r\n", 1, "~0\r\n");
	kr_raw_expect(fd, "SINTER {t}r {t}q\r\n", 1, "~1\r\n$1\r\n2\r\n");
	kr_raw_expect(fd, "SINTER {t}r {t}none\r\n", 1, "~0\r\n");
	kr_raw_expect(fd, "SUNION {t}r {t}q\r\n", 1, "~4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n9\r\n");
	kr_raw_expect(fd, "SDIFF {t}r {t}q\r\n", 1, "~2\r\n$1\r\n1\r\n$1\r\n3\r\n");
	kr_raw_expect(fd, "SDIFF {t}none {t}q\r\n", 1, "~0\r\n");
	kr_raw_expect(fd, "SISMEMBER {t}r 1\r\n", 1, ":1\r\n");
	kr_raw_expect(fd, "SMISMEMBER {t}r 1 7\r\n", 1, "*2\r\n:1\r\n:0\r\n");
	kr_raw_expect(fd, "SCARD {t}r\r\n", 1, ":3\r\n");
	kr_raw_expect(fd, "SINTERCARD 2 {t}r {t}q\r\n", 1, ":1\r\n");
	kr_raw_expect(fd, "SSCAN {t}r 0\r\n", 1, "*2\r\n$1\r\n0\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
	kr_raw_expect(fd, "SPOP nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "SPOP nokey 2\r\n", 1, "~0\r\n");
	kr_raw_expect(fd, "SPOP {t}r 0\r\n", 1, "~0\r\n");
	kr_raw_expect(fd, "SRANDMEMBER nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "SRANDMEMBER nokey 3\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "SRANDMEMBER {t}r 0\r\n", 1, "*0\r\n");
	kr_raw_expect(fd, "SRANDMEMBER {t}r 5\r\n", 1, "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
	kr_raw_sends(fd, "SRANDMEMBER {t}r -4\r\n");
	got = kr_raw_read(fd, 1, &len);
	cr_assert(strncmp(got, "*4\r\n", 4) == 0, "SRANDMEMBER -4 in RESP3: %s", got);
	free(got);
	kr_raw_sends(fd, "SPOP {t}q 1\r\n");
	got = kr_raw_read(fd, 1, &len);
	cr_assert(strncmp(got, "~1\r\n$1\r\n", 8) == 0, "SPOP with count in RESP3: %s", got);
	free(got);
	kr_raw_expect(fd, "SPOP {t}r 3\r\n", 1, "~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
	kr_raw_expect(fd, "SINTERSTORE {t}d {t}q\r\n", 1, ":1\r\n");
	close(fd);
}

/* ------------------------------------------------------------- WATCH */

/* Writes that change nothing (SADD of members already there, SREM of
 * absent ones, SMOVE to the same set) do not touch a WATCHed key; real
 * changes do. */
Test(sets, watch_sees_only_real_changes)
{
	redisContext *c2 = kr_connect(&srv);
	static const struct {
		const char *cmd;
		bool touches;
	} cases[] = {
		{ "SADD w a", false },
		{ "SREM w zz", false },
		{ "SMOVE w w a", false },
		{ "SINTERSTORE w2 none", false },
		{ "SADD w b", true },
		{ "SREM w c", true },
		{ "SPOP w 0", false },
		{ "SMOVE w w2 a", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *r;
		freeReplyObject(kr_cmd(c, "DEL w w2"));
		kr_int(c, 2, "SADD w a c");
		kr_ok(c, "WATCH w");
		r = kr_cmd(c2, cases[i].cmd);
		cr_assert(r->type != REDIS_REPLY_ERROR, "%s: %s", cases[i].cmd, r->str);
		freeReplyObject(r);
		kr_ok(c, "MULTI");
		kr_status(c, "QUEUED", "PING");
		r = kr_cmd(c, "EXEC");
		if (cases[i].touches)
			cr_assert(r->type == REDIS_REPLY_NIL, "%s must abort the transaction", cases[i].cmd);
		else
			cr_assert(r->type == REDIS_REPLY_ARRAY, "%s must not abort the transaction", cases[i].cmd);
		freeReplyObject(r);
	}
	redisFree(c2);
}

/* -------------------------------------------------------- cross-shard */

/* Multi-key commands with plain keys (no hash tag): with KR_SHARDS=3,
 * s1 and snone are on shard 2, s3, s7 and sstr on shard 1, s4, s8, s11
 * and s12 on shard 0 (slot % 3), so every command here spans shards. */
Test(sets, multikey_crossshard)
{
	static const struct kr_step st[] = {
		{ "SADD s1 1 2 3 4", ":4" },
		{ "SADD s3 3 4 5", ":3" },
		{ "SADD s4 4 5 6 s", ":4" },
		{ "SINTER s1 s3", "*2[$3,$4]" },
		{ "SINTER s1 s3 snone", "*0[]" },
		{ "SUNION s1 s3", "*5[$1,$2,$3,$4,$5]" },
		{ "SDIFF s1 s3", "*2[$1,$2]" },
		{ "SINTERCARD 3 s1 s3 s4", ":1" },
		{ "SINTERCARD 2 s1 s3 LIMIT 1", ":1" },
		{ "SINTERSTORE s8 s1 s3", ":2" },
		{ "SMEMBERS s8", "*2[$3,$4]" },
		{ "SUNIONSTORE s7 s1 s3", ":5" },
		{ "SCARD s7", ":5" },
		{ "SDIFFSTORE s11 s1 s3 s4", ":2" },
		{ "SMEMBERS s11", "*2[$1,$2]" },
		{ "SINTERSTORE s11 s1 snone", ":0" },
		{ "EXISTS s11", ":0" },
		{ "SMOVE s1 s12 1", ":1" },
		{ "SMEMBERS s12", "*1[$1]" },
		{ "SISMEMBER s1 1", ":0" },
		{ "SMOVE s1 s3 2", ":1" },
		{ "SMEMBERS s3", "*4[$2,$3,$4,$5]" },
		{ "SET sstr v", "+OK" },
		{ "SMOVE s1 sstr 3", E_WRONG },
		{ "SINTER s1 sstr", E_WRONG },
		{ "SUNIONSTORE sstr s1", ":2" },
		{ "TYPE sstr", "+set" },
		/* Moving the last member deletes the source on its shard. */
		{ "SMOVE s12 s3 1", ":1" },
		{ "EXISTS s12", ":0" },
		{ "SISMEMBER s3 1", ":1" },
	};
	RUN(st);
	XS("SUNION s1 s3 s4", "1,2,3,4,5,6,s");
	XS("SDIFF s4 s1", "5,6,s");
}
