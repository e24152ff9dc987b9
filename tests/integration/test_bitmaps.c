/* Integration tests of the bitmap commands (shards/t_bitmap.c): SETBIT
 * GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO, with their exact error
 * texts, argument-order quirks, size limits and overflow modes, plus a
 * differential test that sends the same random commands to the server
 * under test and to a real redis-server started by the test
 * ($KR_REDIS_SERVER, default Debian's /usr/bin/redis-server, on a port of
 * the same range) and requires identical replies and resulting bytes.
 *
 * The whole file also runs against Redis itself (KR_SERVER_KIND=redis),
 * which is how the expectations were checked; they follow Redis 7.0
 * (e.g. BITCOUNT/BITPOS answer for a missing key before parsing the
 * range). Multi-key writes (BITOP) use keys with one hash tag so they live
 * on one shard with KR_SHARDS=3. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static struct kr_srv srv, ref;
static redisContext *c, *rc;

static void setup(void) { kr_srv_start_client(&srv, &c, NULL); }

/* proto-max-bulk-len at its 1 MiB minimum, so the offset limit can be hit
 * without 512 MiB strings. */
static void setup_small(void)
{
	static const char *const args[] = { "--proto-max-bulk-len", "1mb", NULL };

	kr_srv_start_client(&srv, &c, args);
}

/* With a reference server: Redis whatever KR_SERVER_KIND and KR_SERVER say. */
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
	kr_srv_stop(&ref);
	teardown();
}

TestSuite(bitmaps, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(bitmaps_limits, .init = setup_small, .fini = teardown, .timeout = 60);
TestSuite(bitmaps_vs_redis, .init = setup_diff, .fini = teardown_diff, .timeout = 120);

/* ------------------------------------------------------------- steps */

enum want { WANT_OK, WANT_INT, WANT_BULK, WANT_NIL, WANT_ERR, WANT_ARR, WANT_BYTES };

/* One command (words separated by single spaces) and its reply: WANT_INT
 * compares i, WANT_BULK/WANT_ERR compare s exactly, WANT_ARR compares the
 * kr_render() text of the reply with s, WANT_BYTES compares a bulk string
 * with the i bytes at s (binary values). */
struct step {
	const char *cmd;
	enum want w;
	long long i;
	const char *s;
};

#define OK(cmd)       { cmd, WANT_OK, 0, NULL }
#define INT(cmd, v)   { cmd, WANT_INT, v, NULL }
#define BULK(cmd, v)  { cmd, WANT_BULK, 0, v }
#define NIL(cmd)      { cmd, WANT_NIL, 0, NULL }
#define ERR(cmd, v)   { cmd, WANT_ERR, 0, v }
#define ARR(cmd, v)   { cmd, WANT_ARR, 0, v }
#define BYTES(cmd, v) { cmd, WANT_BYTES, sizeof(v) - 1, v }

#define E_SYNTAX  "ERR syntax error"
#define E_NOTINT  "ERR value is not an integer or out of range"
#define E_WRONG   "WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_BITOFF  "ERR bit offset is not an integer or out of range"
#define E_BITVAL  "ERR bit is not an integer or out of range"
#define E_BFTYPE  "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
#define E_BFOW    "ERR Invalid OVERFLOW type specified"
#define E_BFRO    "ERR BITFIELD_RO only supports the GET subcommand"
#define E_NOT1    "ERR BITOP NOT must be called with a single source key."
#define E_BITARG  "ERR The bit argument must be 1 or 0."

static void check(const char *what, redisReply *r, const struct step *st)
{
	struct kr_sb sb = { 0 };

	kr_render(&sb, r);
	switch (st->w) {
	case WANT_OK:
		cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
			  "%s: want +OK, got %s", what, sb.s);
		break;
	case WANT_INT:
		cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == st->i,
			  "%s: want :%lld, got %s", what, st->i, sb.s);
		break;
	case WANT_BULK:
		cr_assert(r->type == REDIS_REPLY_STRING && r->len == strlen(st->s) &&
			  memcmp(r->str, st->s, r->len) == 0, "%s: want \"%s\", got %s", what,
			  st->s, sb.s);
		break;
	case WANT_NIL:
		cr_assert(r->type == REDIS_REPLY_NIL, "%s: want nil, got %s", what, sb.s);
		break;
	case WANT_ERR:
		cr_assert(r->type == REDIS_REPLY_ERROR && strcmp(r->str, st->s) == 0,
			  "%s: want -%s, got %s", what, st->s, sb.s);
		break;
	case WANT_BYTES:
		cr_assert(r->type == REDIS_REPLY_STRING && r->len == (size_t)st->i &&
			  memcmp(r->str, st->s, r->len) == 0, "%s: want %lld bytes, got %s", what,
			  st->i, sb.s);
		break;
	case WANT_ARR:
		cr_assert(r->type == REDIS_REPLY_ARRAY && strcmp(sb.s, st->s) == 0,
			  "%s: want %s, got %s", what, st->s, sb.s);
		break;
	}
	free(sb.s);
}

static void run_steps(const struct step *st, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		redisReply *r = kr_words(c, st[k].cmd);

		check(st[k].cmd, r, &st[k]);
		freeReplyObject(r);
	}
}

#define RUN(steps) run_steps(steps, sizeof(steps) / sizeof(steps[0]))

/* ------------------------------------------------------ SETBIT GETBIT */

Test(bitmaps, setbit_getbit)
{
	static const struct step steps[] = {
		INT("SETBIT k 7 1", 0),
		INT("GETBIT k 7", 1),
		INT("GETBIT k 6", 0),
		INT("GETBIT k 100", 0),
		BULK("GET k", "\x01"),
		INT("SETBIT k 7 1", 1),
		INT("SETBIT k 7 0", 1),
		INT("SETBIT k 0 1", 0),
		BULK("GET k", "\x80"),
		INT("SETBIT k 23 1", 0),
		INT("STRLEN k", 3),
		INT("SETBIT k 16 1", 0),
		INT("GETBIT k 16", 1),
		INT("GETBIT k 23", 1),
		INT("GETBIT missing 0", 0),
		/* SETBIT 0 on a missing key still creates it, zero-filled */
		INT("SETBIT z 9 0", 0),
		INT("STRLEN z", 2),
		INT("EXISTS z", 1),
		/* integer values are bitmaps of their digits ("255") */
		OK("SET n 255"),
		INT("GETBIT n 2", 1),
		INT("GETBIT n 0", 0),
		INT("SETBIT n 7 1", 0),
		BULK("GET n", "355"),
		/* the largest offset of a 512 MB string is accepted, parsing-wise */
		ERR("SETBIT k 4294967295 2", E_BITVAL),
		ERR("SETBIT k 4294967296 1", E_BITOFF),
		ERR("GETBIT k 4294967296", E_BITOFF),
		INT("GETBIT k 4294967295", 0),
		ERR("SETBIT k -1 1", E_BITOFF),
		ERR("SETBIT k abc 1", E_BITOFF),
		ERR("SETBIT k 01 1", E_BITOFF),
		ERR("SETBIT k 1.5 1", E_BITOFF),
		ERR("GETBIT k -1", E_BITOFF),
		ERR("GETBIT k x", E_BITOFF),
		ERR("SETBIT k 1 2", E_BITVAL),
		ERR("SETBIT k 1 -1", E_BITVAL),
		ERR("SETBIT k 1 a", E_BITVAL),
		ERR("SETBIT k 1 01", E_BITVAL),
		ERR("SETBIT k", "ERR wrong number of arguments for 'setbit' command"),
		ERR("GETBIT k", "ERR wrong number of arguments for 'getbit' command"),
	};

	RUN(steps);
	kr_make_nonstring(c, "l");
	static const struct step wrong[] = {
		ERR("SETBIT l 0 1", E_WRONG),
		ERR("GETBIT l 0", E_WRONG),
		/* the offset is checked before the type */
		ERR("SETBIT l -1 1", E_BITOFF),
	};
	RUN(wrong);
}

Test(bitmaps, setbit_keeps_ttl_and_grows_in_place)
{
	redisReply *r;

	kr_ok(c, "SET k abc EX 1000");
	kr_int(c, 0, "SETBIT k 100 1");
	r = kr_cmd(c, "TTL k");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 1000,
		  "TTL lost: %lld", r->integer);
	freeReplyObject(r);
	kr_int(c, 13, "STRLEN k");
	kr_expect_bytes(c, "k", "abc\0\0\0\0\0\0\0\0\0\x08", 13);
	kr_bulk(c, "raw", "OBJECT ENCODING k");
	/* a new bitmap is a raw string too */
	kr_int(c, 0, "SETBIT new 3 1");
	kr_bulk(c, "raw", "OBJECT ENCODING new");
	kr_int(c, 0, "SETBIT big 80000 1");
	kr_int(c, 10001, "STRLEN big");
	kr_int(c, 1, "BITCOUNT big");
}

Test(bitmaps_limits, offsets_bounded_by_proto_max_bulk_len)
{
	static const struct step steps[] = {
		/* 1 MiB: bytes 0..1048575, bits up to 8388607 */
		INT("SETBIT k 8388607 1", 0),
		INT("STRLEN k", 1048576),
		ERR("SETBIT k 8388608 1", E_BITOFF),
		ERR("GETBIT k 8388608", E_BITOFF),
		INT("GETBIT k 8388607", 1),
		ARR("BITFIELD k GET u8 #1048575", "*1[:1]"),
		ERR("BITFIELD k GET u8 #1048576", E_BITOFF),
		ERR("BITFIELD k SET u8 8388608 1", E_BITOFF),
		ARR("BITFIELD k SET u8 8388600 255", "*1[:1]"),
		INT("BITCOUNT k", 8),
		INT("STRLEN k", 1048576),
	};

	RUN(steps);
}

/* ------------------------------------------------------------ BITCOUNT */

Test(bitmaps, bitcount)
{
	static const struct step steps[] = {
		OK("SET k foobar"),
		INT("BITCOUNT k", 26),
		INT("BITCOUNT k 0 0", 4),
		INT("BITCOUNT k 1 1", 6),
		INT("BITCOUNT k 1 1 BYTE", 6),
		INT("BITCOUNT k 1 1 byte", 6),
		INT("BITCOUNT k 5 30 BIT", 17),
		INT("BITCOUNT k 5 30 bit", 17),
		INT("BITCOUNT k 0 -1", 26),
		INT("BITCOUNT k -2 -1", 7),
		INT("BITCOUNT k -1 -2", 0),
		INT("BITCOUNT k -100 -1", 26),
		INT("BITCOUNT k -100 -200", 0),
		INT("BITCOUNT k 0 100", 26),
		INT("BITCOUNT k 6 10", 0),
		INT("BITCOUNT k 3 1", 0),
		INT("BITCOUNT k 0 0 BIT", 0),
		INT("BITCOUNT k 1 1 BIT", 1),
		INT("BITCOUNT k 0 47 BIT", 26),
		INT("BITCOUNT k 0 1000 BIT", 26),
		INT("BITCOUNT k -8 -1 BIT", 4),
		INT("BITCOUNT k 7 8 BIT", 0),
		INT("BITCOUNT k 46 46 BIT", 1),
		ERR("BITCOUNT k 0", E_SYNTAX),
		ERR("BITCOUNT k 0 1 foo", E_SYNTAX),
		ERR("BITCOUNT k 0 1 BIT x", E_SYNTAX),
		ERR("BITCOUNT k a 1", E_NOTINT),
		ERR("BITCOUNT k 0 b", E_NOTINT),
		ERR("BITCOUNT k a 1 foo", E_NOTINT),
		/* Redis 7.0 answers 0 for a missing key before parsing the rest */
		INT("BITCOUNT missing", 0),
		INT("BITCOUNT missing 0 1", 0),
		INT("BITCOUNT missing 0", 0),
		OK("SET n 12"),
		INT("BITCOUNT n", 6),
	};

	RUN(steps);
	kr_set_bytes(c, "e", "", 0);
	kr_int(c, 0, "BITCOUNT e");
	kr_int(c, 0, "BITCOUNT e 0 -1");
	kr_int(c, 0, "BITCOUNT e 0 -1 BIT");
	kr_make_nonstring(c, "l");
	kr_err(c, E_WRONG, "BITCOUNT l");
	kr_err(c, E_WRONG, "BITCOUNT l 0");

	/* A long value exercises the word-at-a-time count and edge masks. */
	char big[1000];

	for (int i = 0; i < 1000; i++)
		big[i] = (char)(i * 37 + 11);
	kr_set_bytes(c, "big", big, sizeof(big));
	long long total = 0, part = 0;

	for (int i = 0; i < 1000; i++)
		total += __builtin_popcount((unsigned char)big[i]);
	for (int bit = 13; bit <= 7001; bit++)
		part += ((unsigned char)big[bit / 8] >> (7 - bit % 8)) & 1;
	kr_int(c, total, "BITCOUNT big");
	kr_int(c, part, "BITCOUNT big 13 7001 BIT");
}

/* -------------------------------------------------------------- BITPOS */

Test(bitmaps, bitpos)
{
	kr_set_bytes(c, "a", "\xff\xf0\x00", 3);
	kr_set_bytes(c, "b", "\x00\xff\xf0", 3);
	kr_set_bytes(c, "z", "\x00\x00\x00", 3);
	kr_set_bytes(c, "o", "\xff\xff\xff", 3);
	kr_set_bytes(c, "e", "", 0);

	static const struct step steps[] = {
		INT("BITPOS a 0", 12),
		INT("BITPOS b 1 0", 8),
		INT("BITPOS b 1 2", 16),
		INT("BITPOS b 1 2 -1 BYTE", 16),
		INT("BITPOS b 1 7 15 BIT", 8),
		INT("BITPOS b 1 7 -3 BIT", 8),
		INT("BITPOS b 1 17 23 bit", 17),
		INT("BITPOS b 1 20 23 bit", -1),
		INT("BITPOS b 0 8 15 bit", -1),
		INT("BITPOS b 0 8 19 bit", -1),
		INT("BITPOS b 0 8 20 bit", 20),
		INT("BITPOS z 1", -1),
		INT("BITPOS z 0", 0),
		INT("BITPOS z 0 1", 8),
		/* no clear bit: just past the end, unless an end was given */
		INT("BITPOS o 0", 24),
		INT("BITPOS o 0 1", 24),
		INT("BITPOS o 0 0 -1", -1),
		INT("BITPOS o 0 0 2", -1),
		ERR("BITPOS o 0 3 BYTE", E_NOTINT),   /* a unit needs both ends */
		INT("BITPOS o 0 0 23 BIT", -1),
		INT("BITPOS o 1 -1", 16),
		INT("BITPOS o 1 5 3", -1),
		INT("BITPOS o 1 100", -1),
		INT("BITPOS o 0 100", -1),
		INT("BITPOS e 0", -1),
		INT("BITPOS e 1", -1),
		INT("BITPOS missing 0", 0),
		INT("BITPOS missing 1", -1),
		/* Redis 7.0 answers for a missing key before parsing the range */
		INT("BITPOS missing 1 x y z", -1),
		ERR("BITPOS missing 2", E_BITARG),
		ERR("BITPOS o 2", E_BITARG),
		ERR("BITPOS o -1", E_BITARG),
		ERR("BITPOS o x", E_NOTINT),
		ERR("BITPOS o 1 x", E_NOTINT),
		ERR("BITPOS o 1 0 x", E_NOTINT),
		ERR("BITPOS o 1 0 1 foo", E_SYNTAX),
		/* the unit is checked before the end */
		ERR("BITPOS o 1 0 x foo", E_SYNTAX),
		ERR("BITPOS o 1 0 1 BIT x", E_SYNTAX),
		OK("SET n 0"),
		INT("BITPOS n 1", 2),
		INT("BITPOS n 0", 0),
	};

	RUN(steps);
	kr_make_nonstring(c, "l");
	kr_err(c, E_WRONG, "BITPOS l 1");
	kr_err(c, E_BITARG, "BITPOS l 3");

	/* A long run of zeros / ones crosses the 8-byte skipping. */
	char buf[301];

	memset(buf, 0, sizeof(buf));
	buf[299] = 0x04;
	kr_set_bytes(c, "long0", buf, sizeof(buf));
	kr_int(c, 299 * 8 + 5, "BITPOS long0 1");
	kr_int(c, 299 * 8 + 5, "BITPOS long0 1 3");
	kr_int(c, 299 * 8 + 5, "BITPOS long0 1 19 2397 BIT");
	kr_int(c, -1, "BITPOS long0 1 19 2396 BIT");
	memset(buf, 0xff, sizeof(buf));
	buf[250] = (char)0xfe;
	kr_set_bytes(c, "long1", buf, sizeof(buf));
	kr_int(c, 250 * 8 + 7, "BITPOS long1 0");
	kr_int(c, 250 * 8 + 7, "BITPOS long1 0 1 -1");
	kr_int(c, 301 * 8, "BITPOS long1 0 251");
	kr_int(c, -1, "BITPOS long1 0 251 -1");
}

/* --------------------------------------------------------------- BITOP */

Test(bitmaps, bitop)
{
	static const struct step steps[] = {
		OK("SET {b}1 foobar"),
		OK("SET {b}2 abcdef"),
		INT("BITOP AND {b}d {b}1 {b}2", 6),
		BULK("GET {b}d", "`bc`ab"),
		INT("BITOP OR {b}d {b}1 {b}2", 6),
		BULK("GET {b}d", "goofev"),
		INT("BITOP XOR {b}d {b}1 {b}1", 6),
		BYTES("GET {b}d", "\0\0\0\0\0\0"),
		INT("BITOP or {b}d {b}1", 6),
		BULK("GET {b}d", "foobar"),
		/* the destination can be a source */
		INT("BITOP xor {b}d {b}d {b}2", 6),
		INT("BITOP xor {b}d {b}d {b}2", 6),
		BULK("GET {b}d", "foobar"),
		/* different lengths: missing bytes are zeros */
		OK("SET {b}s ab"),
		INT("BITOP OR {b}d {b}s {b}1", 6),
		BULK("GET {b}d", "goobar"),
		INT("BITOP AND {b}d {b}s {b}1", 6),
		/* missing keys are empty strings */
		INT("BITOP OR {b}d {b}nope {b}s", 2),
		BULK("GET {b}d", "ab"),
		INT("BITOP AND {b}d {b}s {b}nope", 2),
		INT("BITCOUNT {b}d", 0),
		INT("STRLEN {b}d", 2),
		/* an empty result deletes the destination */
		INT("BITOP AND {b}d {b}nope {b}nope2", 0),
		INT("EXISTS {b}d", 0),
		INT("BITOP NOT {b}d {b}nope", 0),
		INT("EXISTS {b}d", 0),
		INT("BITOP NOT {b}d {b}s", 2),
		BULK("GET {b}d", "\x9e\x9d"),
		ERR("BITOP NOT {b}d {b}1 {b}2", E_NOT1),
		ERR("BITOP NOT {b}d", "ERR wrong number of arguments for 'bitop' command"),
		ERR("BITOP NAND {b}d {b}1", E_SYNTAX),
		ERR("BITOP ANDX {b}d {b}1", E_SYNTAX),
		/* numbers are their digits */
		OK("SET {b}n 12"),
		INT("BITOP NOT {b}d {b}n", 2),
		BULK("GET {b}d", "\xce\xcd"),
	};

	RUN(steps);
	/* the result is a raw string without a TTL, replacing any type */
	kr_ok(c, "SET {b}t x EX 100");
	kr_int(c, 6, "BITOP AND {b}t {b}1 {b}1");
	kr_int(c, -1, "TTL {b}t");
	kr_bulk(c, "raw", "OBJECT ENCODING {b}t");
	kr_make_nonstring(c, "{b}l");
	kr_int(c, 6, "BITOP AND {b}l {b}1");
	kr_bulk(c, "foobar", "GET {b}l");
	kr_make_nonstring(c, "{b}l2");
	kr_err(c, E_WRONG, "BITOP AND {b}d {b}1 {b}l2");
	kr_err(c, E_WRONG, "BITOP NOT {b}d {b}l2");
	kr_err(c, E_NOT1, "BITOP NOT {b}d {b}l2 {b}l2");
}

/* BITOP over keys on different shards (with 3 shards: k0 k2 k9 on one,
 * k1 k3 k4 on another, k5 k7 k8 on the third). */
Test(bitmaps, bitop_keys_on_several_shards)
{
	static const struct step steps[] = {
		OK("SET k0 foobar"),
		OK("SET k1 abcdef"),
		INT("BITOP AND k5 k0 k1", 6),
		BULK("GET k5", "`bc`ab"),
		INT("BITOP OR k1 k0 k1", 6),
		BULK("GET k1", "goofev"),
		BULK("GET k0", "foobar"),
		INT("BITOP XOR k3 k5 k1 k0 k7", 6),
		BULK("GET k3", "abcdef"),
		/* an empty result deletes the destination on its own shard */
		INT("BITOP AND k5 k8 k9", 0),
		INT("EXISTS k5", 0),
		INT("BITOP NOT k5 k0", 6),
		INT("BITCOUNT k5", 48 - 26),
	};

	RUN(steps);
	kr_make_nonstring(c, "k2");
	kr_err(c, E_WRONG, "BITOP OR k5 k0 k2");
	kr_int(c, 22, "BITCOUNT k5");
}

/* ------------------------------------------------------------ BITFIELD */

Test(bitmaps, bitfield_basic)
{
	static const struct step steps[] = {
		ARR("BITFIELD k INCRBY i5 100 1 GET u4 0", "*2[:1,:0]"),
		ARR("BITFIELD k SET u8 0 255 GET u8 0", "*2[:0,:255]"),
		BYTES("GET k", "\xff\0\0\0\0\0\0\0\0\0\0\0\0\x80"),
		ARR("BITFIELD k SET i8 0 -2 GET i8 0 GET u8 0 GET u4 0 GET i4 4", "*5[:-1,:-2,:254,:15,:-2]"),
		/* #N offsets are multiples of the width */
		ARR("BITFIELD h SET u8 #1 170 GET u8 8 GET u4 #2 GET u4 #3", "*4[:0,:170,:10,:10]"),
		BYTES("GET h", "\0\xaa"),
		/* reads past the end are zeros and do not create the key */
		ARR("BITFIELD nope GET u8 0 GET i64 1000", "*2[:0,:0]"),
		INT("EXISTS nope", 0),
		ARR("BITFIELD_RO nope GET u8 0", "*1[:0]"),
		ARR("BITFIELD nope", "*0[]"),
		ARR("BITFIELD_RO nope", "*0[]"),
		INT("EXISTS nope", 0),
		ARR("BITFIELD h GET u16 4 GET i3 9 GET u1 15", "*3[:2720,:2,:0]"),
		ARR("BITFIELD_RO h GET u16 4 GET i3 9 GET u1 15", "*3[:2720,:2,:0]"),
		/* widths */
		ARR("BITFIELD w SET i64 0 -9223372036854775808 GET i64 0 GET u63 0 GET u63 1",
		    "*4[:0,:-9223372036854775808,:4611686018427387904,:0]"),
		ARR("BITFIELD w SET u63 1 9223372036854775807 GET i64 0 GET u1 0",
		    "*3[:0,:-1,:1]"),
		ARR("BITFIELD w SET i1 0 0 SET i1 1 -1 GET i1 1 GET u1 1", "*4[:-1,:-1,:-1,:1]"),
		/* numbers are their digits */
		OK("SET n 7"),
		ARR("BITFIELD n GET u8 0 INCRBY u8 0 1", "*2[:55,:56]"),
		BULK("GET n", "8"),
	};

	RUN(steps);
}

Test(bitmaps, bitfield_overflow)
{
	static const struct step steps[] = {
		/* the OVERFLOW example of the Redis documentation */
		ARR("BITFIELD k incrby u2 100 1 OVERFLOW SAT incrby u2 102 1", "*2[:1,:1]"),
		ARR("BITFIELD k incrby u2 100 1 OVERFLOW SAT incrby u2 102 1", "*2[:2,:2]"),
		ARR("BITFIELD k incrby u2 100 1 OVERFLOW SAT incrby u2 102 1", "*2[:3,:3]"),
		ARR("BITFIELD k incrby u2 100 1 OVERFLOW SAT incrby u2 102 1", "*2[:0,:3]"),
		/* FAIL: null and nothing written; the mode lasts until changed */
		ARR("BITFIELD f OVERFLOW FAIL INCRBY u2 0 4 INCRBY u2 0 3 INCRBY u2 0 1 OVERFLOW WRAP INCRBY u2 0 1",
		    "*4[nil,:3,nil,:0]"),
		ARR("BITFIELD f overflow fail SET i8 0 128 SET i8 0 -129 SET i8 0 -128 SET u8 0 256 SET u8 0 -1",
		    "*5[nil,nil,:0,nil,nil]"),
		ARR("BITFIELD f GET i8 0", "*1[:-128]"),
		/* WRAP (default) */
		ARR("BITFIELD w SET i8 0 127 INCRBY i8 0 1 INCRBY i8 0 -1 SET i8 0 200 GET i8 0",
		    "*5[:0,:-128,:127,:127,:-56]"),
		ARR("BITFIELD w SET u8 0 -1 GET u8 0 INCRBY u8 0 -256 INCRBY u8 0 -255 INCRBY u8 0 1000",
		    "*5[:200,:255,:255,:0,:232]"),
		ARR("BITFIELD w SET i64 0 9223372036854775807 INCRBY i64 0 1 INCRBY i64 0 -1",
		    "*3[:-1729382256910270464,:-9223372036854775808,:9223372036854775807]"),
		ARR("BITFIELD w SET u63 0 0 INCRBY u63 0 -1 INCRBY u63 0 1", "*3[:4611686018427387903,:9223372036854775807,:0]"),
		/* SAT */
		ARR("BITFIELD s OVERFLOW SAT SET i8 0 1000 SET i8 0 -1000 INCRBY i8 0 -1 INCRBY i8 0 300",
		    "*4[:0,:127,:-128,:127]"),
		ARR("BITFIELD s OVERFLOW SAT SET u8 0 -1 GET u8 0 SET u8 0 -5 INCRBY u8 0 -300",
		    "*4[:127,:255,:255,:0]"),
		ARR("BITFIELD s OVERFLOW SAT SET i64 0 9223372036854775807 INCRBY i64 0 9223372036854775807 INCRBY i64 0 -9223372036854775808 INCRBY i64 0 -9223372036854775808",
		    "*4[:0,:9223372036854775807,:-1,:-9223372036854775808]"),
		ARR("BITFIELD s OVERFLOW SAT INCRBY i64 0 -1", "*1[:-9223372036854775808]"),
		/* Redis's quirk, kept for replicas' sake: a SET value within
		 * max of INT64_MIN saturates to max */
		ARR("BITFIELD q OVERFLOW SAT SET i8 0 -9223372036854775808 GET i8 0 SET i8 0 -9223372036854775681 GET i8 0 SET i8 0 -9223372036854775680 GET i8 0",
		    "*6[:0,:127,:127,:127,:127,:-128]"),
		ARR("BITFIELD q OVERFLOW WRAP SET i8 0 -9223372036854775808 GET i8 0", "*2[:-128,:0]"),
	};

	RUN(steps);
	/* A refused write still creates the key, zero-filled to the field. */
	kr_int(c, 0, "EXISTS g");
	redisReply *r = kr_cmd(c, "BITFIELD g OVERFLOW FAIL SET u8 16 256");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		  r->element[0]->type == REDIS_REPLY_NIL);
	freeReplyObject(r);
	kr_int(c, 3, "STRLEN g");
}

Test(bitmaps, bitfield_errors)
{
	static const struct step steps[] = {
		OK("SET k x"),
		ERR("BITFIELD k GET u64 0", E_BFTYPE),
		ERR("BITFIELD k GET i65 0", E_BFTYPE),
		ERR("BITFIELD k GET i0 0", E_BFTYPE),
		ERR("BITFIELD k GET u0 0", E_BFTYPE),
		ERR("BITFIELD k GET I8 0", E_BFTYPE),
		ERR("BITFIELD k GET U8 0", E_BFTYPE),
		ERR("BITFIELD k GET x8 0", E_BFTYPE),
		ERR("BITFIELD k GET i 0", E_BFTYPE),
		ERR("BITFIELD k GET i08 0", E_BFTYPE),
		ERR("BITFIELD k GET i-8 0", E_BFTYPE),
		ERR("BITFIELD k GET i8 -1", E_BITOFF),
		ERR("BITFIELD k GET i8 x", E_BITOFF),
		ERR("BITFIELD k GET i8 #", E_BITOFF),
		ERR("BITFIELD k GET i8 #-1", E_BITOFF),
		ERR("BITFIELD k GET i8 ##1", E_BITOFF),
		ERR("BITFIELD k GET i8 #99999999999999999", E_BITOFF),
		ERR("BITFIELD k GET i8 4294967296", E_BITOFF),
		ERR("BITFIELD k SET i8 0 x", E_NOTINT),
		ERR("BITFIELD k INCRBY i8 0 1.5", E_NOTINT),
		ERR("BITFIELD k OVERFLOW foo", E_BFOW),
		ERR("BITFIELD k OVERFLOW", E_SYNTAX),
		ERR("BITFIELD k GET", E_SYNTAX),
		ERR("BITFIELD k GET i8", E_SYNTAX),
		ERR("BITFIELD k SET i8 0", E_SYNTAX),
		ERR("BITFIELD k INCRBY i8 0", E_SYNTAX),
		ERR("BITFIELD k FOO i8 0", E_SYNTAX),
		/* everything is checked before anything runs */
		ERR("BITFIELD k SET u8 0 65 GET i8 x", E_BITOFF),
		BULK("GET k", "x"),
		ERR("BITFIELD_RO k SET u8 0 1", E_BFRO),
		ERR("BITFIELD_RO k GET u8 0 INCRBY u8 0 1", E_BFRO),
		/* OVERFLOW alone is no operation */
		ARR("BITFIELD_RO k OVERFLOW SAT", "*0[]"),
		ARR("BITFIELD k OVERFLOW FAIL", "*0[]"),
		ERR("BITFIELD", "ERR wrong number of arguments for 'bitfield' command"),
	};

	RUN(steps);
	kr_make_nonstring(c, "l");
	kr_err(c, E_WRONG, "BITFIELD l GET u8 0");
	kr_err(c, E_WRONG, "BITFIELD l SET u8 0 1");
	kr_err(c, E_WRONG, "BITFIELD_RO l GET u8 0");
	kr_err(c, E_WRONG, "BITFIELD l");
	/* argument errors come before the type check */
	kr_err(c, E_BFTYPE, "BITFIELD l GET u64 0");
}

/* RESP3: a refused write is the RESP3 null. */
Test(bitmaps, bitfield_resp3_null)
{
	int fd = kr_raw_connect(&srv);
	size_t n;
	char *hello;

	kr_raw_sends(fd, "HELLO 3\r\n");
	hello = kr_raw_read(fd, 1, &n);
	free(hello);
	kr_raw_expect(fd, "BITFIELD k OVERFLOW FAIL SET u2 0 9 GET u2 0\r\n", 1, "*2\r\n_\r\n:0\r\n");
	close(fd);
}

/* ------------------------------------------------- differential vs Redis */

/* Run one command on both servers (this one and the Redis reference):
 * the rendered replies must be equal. */
#define both(argc, argv, lens) kr_expect_same(c, rc, argc, argv, lens)
#define bothf(...) kr_expect_samef(c, rc, __VA_ARGS__)

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A small signed index, mostly inside short strings, sometimes outside
 * or negative. */
static long long rnd_index(void)
{
	switch (rnd() % 6) {
	case 0: return -(long long)(rnd() % 40);
	case 1: return (long long)(rnd() % 400);
	default: return (long long)(rnd() % 40);
	}
}

static const char *rnd_type(char *buf)
{
	unsigned bits;

	if (rnd() % 2) {
		bits = 1 + (unsigned)(rnd() % 64);
		sprintf(buf, "i%u", bits);
	} else {
		bits = 1 + (unsigned)(rnd() % 63);
		sprintf(buf, "u%u", bits);
	}
	return buf;
}

static long long rnd_value(void)
{
	static const long long edge[] = { 0, 1, -1, 127, 128, -128, -129, 255, 256,
					  9223372036854775807LL, -9223372036854775807LL - 1,
					  4611686018427387904LL, 65535, -32768 };

	if (rnd() % 3 == 0)
		return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
	return (long long)(rnd() % 2000) - 1000;
}

Test(bitmaps_vs_redis, random_commands_same_replies_and_bytes)
{
	static const char *const keys[] = { "{x}a", "{x}b", "{x}c" };
	static const char *const units[] = { "", " BYTE", " BIT" };
	static const char *const ow[] = { "WRAP", "SAT", "FAIL" };

	for (unsigned step = 0; step < 4000; step++) {
		const char *k = keys[rnd() % 3];
		char t1[8], t2[8];

		switch (rnd() % 9) {
		case 0:
			bothf("SETBIT %s %llu %u", k, (unsigned long long)(rnd() % 300), (unsigned)(rnd() % 2));
			break;
		case 1:
			bothf("GETBIT %s %llu", k, (unsigned long long)(rnd() % 320));
			break;
		case 2:
			if (rnd() % 4 == 0)
				bothf("BITCOUNT %s", k);
			else
				bothf("BITCOUNT %s %lld %lld%s", k, rnd_index(), rnd_index(), units[rnd() % 3]);
			break;
		case 3:
			switch (rnd() % 4) {
			case 0: bothf("BITPOS %s %u", k, (unsigned)(rnd() % 2)); break;
			case 1: bothf("BITPOS %s %u %lld", k, (unsigned)(rnd() % 2), rnd_index()); break;
			default:
				bothf("BITPOS %s %u %lld %lld%s", k, (unsigned)(rnd() % 2), rnd_index(),
				      rnd_index(), units[rnd() % 3]);
			}
			break;
		case 4:
			bothf("BITFIELD %s OVERFLOW %s SET %s %llu %lld INCRBY %s %s%llu %lld GET %s %llu", k,
			      ow[rnd() % 3], rnd_type(t1), (unsigned long long)(rnd() % 200), rnd_value(),
			      rnd_type(t2), rnd() % 3 ? "" : "#", (unsigned long long)(rnd() % 30),
			      rnd_value(), t1, (unsigned long long)(rnd() % 260));
			break;
		case 5:
			bothf("BITFIELD_RO %s GET %s %llu GET %s #%llu", k, rnd_type(t1),
			      (unsigned long long)(rnd() % 300), rnd_type(t2), (unsigned long long)(rnd() % 10));
			break;
		case 6: {
			static const char *const ops[] = { "AND", "OR", "XOR", "NOT" };
			const char *op = ops[rnd() % 4];

			if (op[0] == 'N')
				bothf("BITOP NOT %s %s", k, keys[rnd() % 3]);
			else
				bothf("BITOP %s %s %s %s %s", op, k, keys[rnd() % 3], keys[rnd() % 3],
				      rnd() % 2 ? "{x}missing" : keys[rnd() % 3]);
			break;
		}
		case 7:
			if (rnd() % 8 == 0)
				bothf("DEL %s", k);
			else if (rnd() % 4 == 0)
				bothf("SET %s %lld", k, rnd_value());
			else
				bothf("APPEND %s %c%c", k, 'a' + (int)(rnd() % 26), '0' + (int)(rnd() % 10));
			break;
		default:
			bothf("GET %s", k);
			break;
		}
	}
	for (int i = 0; i < 3; i++)
		bothf("GET %s", keys[i]);
}
