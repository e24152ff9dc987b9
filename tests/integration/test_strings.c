/* Integration tests of the string commands (shards/t_string.c) against a
 * running server: every command with its options, option combinations and
 * exact error texts, expiry, encodings, binary-safe values, multi-key
 * commands over keys that live on different shards, INCR overflow,
 * INCRBYFLOAT formatting, LCS in RESP2 and RESP3.
 *
 * Shards: a key's local shard is crc16-slot % nshards. Every one-byte key
 * ("a".."z") happens to land on shard 0 of 3, so the cross-shard cases use
 * "k0".."k19", which cover all three shards with KR_SHARDS=3 (k0 k2 k9 ->
 * 2, k1 k3 k4 -> 1, k5 k7 k8 -> 0), and "{k0}..." to pin a key to k0's.
 *
 * The same file runs against Debian's redis-server
 * (KR_SERVER=/usr/bin/redis-server KR_SERVER_KIND=redis), which is how the
 * expectations here were checked. Most cases are tables of
 * (command, expected reply) steps run in order on one connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static struct kr_srv srv;
static redisContext *c;

static void setup(void)
{
	kr_srv_start(&srv, NULL);
	c = kr_connect(&srv);
}

/* A server started with a 1 MiB proto-max-bulk-len (Redis's minimum), so
 * size limits can be hit without allocating 512 MiB. */
static void setup_small_bulk(void)
{
	static const char *const args[] = {"--proto-max-bulk-len", "1mb", NULL};

	kr_srv_start(&srv, args);
	c = kr_connect(&srv);
}

static void teardown(void)
{
	redisFree(c);
	cr_expect(kr_srv_alive(&srv), "server died during the test");
	kr_srv_stop(&srv);
}

TestSuite(strings, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(strings_limits, .init = setup_small_bulk, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------- steps */

enum want { WANT_OK, WANT_INT, WANT_BULK, WANT_NIL, WANT_ERR, WANT_STATUS };

/* One command (words separated by single spaces; no value here contains a
 * space) and the reply it must get: WANT_INT compares i; WANT_BULK/WANT_STATUS
 * compare s exactly; WANT_ERR requires the error text to equal s exactly. */
struct step {
	const char *cmd;
	enum want w;
	long long i;
	const char *s;
};

#define OK(cmd)          {cmd, WANT_OK, 0, NULL}
#define INT(cmd, v)      {cmd, WANT_INT, v, NULL}
#define BULK(cmd, v)     {cmd, WANT_BULK, 0, v}
#define NIL(cmd)         {cmd, WANT_NIL, 0, NULL}
#define ERR(cmd, v)      {cmd, WANT_ERR, 0, v}

#define E_SYNTAX   "ERR syntax error"
#define E_NOTINT   "ERR value is not an integer or out of range"
#define E_NOTFLOAT "ERR value is not a valid float"
#define E_WRONG    "WRONGTYPE Operation against a key holding the wrong kind of value"
#define E_OVERFLOW "ERR increment or decrement would overflow"
#define E_BIG      "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

static void check_reply(const char *what, redisReply *r, const struct step *st)
{
	switch (st->w) {
	case WANT_OK:
		cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
			  "%s: want +OK, got type %d '%s'", what, r->type, r->str ? r->str : "");
		break;
	case WANT_STATUS:
		cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, st->s) == 0,
			  "%s: want +%s, got type %d '%s'", what, st->s, r->type, r->str ? r->str : "");
		break;
	case WANT_INT:
		cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == st->i,
			  "%s: want :%lld, got type %d int %lld '%s'", what, st->i, r->type,
			  r->integer, r->str ? r->str : "");
		break;
	case WANT_BULK:
		cr_assert(r->type == REDIS_REPLY_STRING && r->len == strlen(st->s) &&
			  memcmp(r->str, st->s, r->len) == 0,
			  "%s: want \"%s\", got type %d '%s'", what, st->s, r->type,
			  r->str ? r->str : "");
		break;
	case WANT_NIL:
		cr_assert(r->type == REDIS_REPLY_NIL, "%s: want nil, got type %d '%s'", what,
			  r->type, r->str ? r->str : "");
		break;
	case WANT_ERR:
		cr_assert(r->type == REDIS_REPLY_ERROR && strcmp(r->str, st->s) == 0,
			  "%s: want -%s, got type %d '%s'", what, st->s, r->type,
			  r->str ? r->str : "");
		break;
	}
}

static void run_steps(const struct step *st, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		redisReply *r = kr_words(c, st[k].cmd);

		check_reply(st[k].cmd, r, &st[k]);
		freeReplyObject(r);
	}
}

#define RUN(steps) run_steps(steps, sizeof(steps) / sizeof(steps[0]))

static long long int_of(const char *line)
{
	redisReply *r = kr_words(c, line);
	long long v;

	cr_assert(r->type == REDIS_REPLY_INTEGER, "%s: want an integer, got type %d '%s'",
		  line, r->type, r->str ? r->str : "");
	v = r->integer;
	freeReplyObject(r);
	return v;
}


static void expect_encoding(const char *key, const char *enc)
{
	redisReply *r = kr_cmd(c, "OBJECT ENCODING %s", key);

	cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, enc) == 0,
		  "OBJECT ENCODING %s: want %s, got type %d '%s'", key, enc, r->type,
		  r->str ? r->str : "");
	freeReplyObject(r);
}

/* ------------------------------------------------------- RESP3 (raw) */

/* hiredis 0.14 cannot parse RESP3, so RESP3 replies are read as raw bytes
 * from a plain socket and compared exactly. */

/* Length of one complete RESP2/3 value at p, 0 if incomplete. */
static size_t raw_value_len(const char *p, size_t n)
{
	const char *nl;
	long long len;
	size_t hdr, at;

	if (n == 0)
		return 0;
	nl = memchr(p, '\n', n);
	if (!nl)
		return 0;
	hdr = (size_t)(nl - p) + 1;
	switch (p[0]) {
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		return hdr;
	case '$': case '=': case '!':
		len = atoll(p + 1);
		if (len < 0)
			return hdr;
		return n >= hdr + (size_t)len + 2 ? hdr + (size_t)len + 2 : 0;
	case '*': case '%': case '~': case '>': case '|':
		len = atoll(p + 1);
		if (p[0] == '%' || p[0] == '|')
			len *= 2;
		at = hdr;
		for (long long k = 0; k < len; k++) {
			size_t l = raw_value_len(p + at, n - at);

			if (!l)
				return 0;
			at += l;
		}
		return at;
	default:
		cr_assert_fail("unexpected RESP type byte '%c'", p[0]);
	}
	return 0;
}

struct raw_conn {
	int fd;
	char buf[65536];
	size_t len;
};

static void raw_open(struct raw_conn *rc)
{
	struct sockaddr_in sa = {0};

	rc->len = 0;
	rc->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(rc->fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)srv.port);
	cr_assert(inet_pton(AF_INET, kr_srv_host(&srv), &sa.sin_addr) == 1);
	cr_assert(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		  "connect: %s", strerror(errno));
}

/* Send one inline command and return its reply (NUL-terminated, valid
 * until the next call). Waits at most ~10 s for it. */
static const char *raw_cmd(struct raw_conn *rc, const char *line, size_t *out_len)
{
	static char reply[65536];
	size_t want = 0;
	char req[600];
	int n = snprintf(req, sizeof(req), "%s\r\n", line);

	cr_assert(write(rc->fd, req, (size_t)n) == n);
	for (int tries = 0; (want = raw_value_len(rc->buf, rc->len)) == 0; tries++) {
		struct pollfd pfd = {.fd = rc->fd, .events = POLLIN};
		ssize_t got;

		cr_assert(tries < 100 && rc->len < sizeof(rc->buf), "no complete reply to %s", line);
		cr_assert(poll(&pfd, 1, 100) >= 0);
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		got = read(rc->fd, rc->buf + rc->len, sizeof(rc->buf) - rc->len);
		cr_assert(got > 0, "connection closed while waiting for the reply to %s", line);
		rc->len += (size_t)got;
	}
	memcpy(reply, rc->buf, want);
	reply[want] = '\0';
	memmove(rc->buf, rc->buf + want, rc->len - want);
	rc->len -= want;
	if (out_len)
		*out_len = want;
	return reply;
}

static void raw_expect(struct raw_conn *rc, const char *line, const char *want)
{
	const char *got = raw_cmd(rc, line, NULL);

	cr_assert(strcmp(got, want) == 0, "%s: want %s got %s", line, want, got);
}

/* ========================================================= GET / SET */

Test(strings, get_set_basic)
{
	static const struct step st[] = {
		NIL("GET nokey"),
		OK("SET k v"),
		BULK("GET k", "v"),
		OK("SET k v2"),
		BULK("GET k", "v2"),
		OK("set k lower"),
		BULK("get k", "lower"),
		OK("SET n 12345"),
		BULK("GET n", "12345"),
		OK("SET neg -9223372036854775808"),
		BULK("GET neg", "-9223372036854775808"),
		INT("EXISTS k", 1),
	};

	RUN(st);
}

Test(strings, binary_safe_values)
{
	static const char val[] = "a\0b\r\nc\xff$-1\r\n";
	static const char key[] = "k\0ey\n";
	redisReply *r;

	kr_ok(c, "SET %b %b", key, sizeof(key) - 1, val, sizeof(val) - 1);
	r = kr_cmd(c, "GET %b", key, sizeof(key) - 1);
	cr_assert_eq(r->type, REDIS_REPLY_STRING);
	cr_assert_eq(r->len, sizeof(val) - 1);
	cr_assert(memcmp(r->str, val, r->len) == 0);
	freeReplyObject(r);
	kr_int(c, (long long)sizeof(val) - 1, "STRLEN %b", key, sizeof(key) - 1);
	kr_nil(c, "GET k");   /* the NUL is part of the key */

	/* Empty value. */
	kr_ok(c, "SET %s %b", "e", "", (size_t)0);
	kr_bulk(c, "", "GET e");
	kr_int(c, 0, "STRLEN e");
	kr_int(c, 1, "EXISTS e");

	/* APPEND / GETRANGE / SETRANGE keep NULs. */
	kr_int(c, 3, "APPEND b %b", "\0\0\0", (size_t)3);
	kr_int(c, 5, "SETRANGE b 3 %b", "\0x", (size_t)2);
	r = kr_cmd(c, "GETRANGE b 2 4");
	cr_assert_eq(r->len, 3);
	cr_assert(memcmp(r->str, "\0\0x", 3) == 0);
	freeReplyObject(r);

	/* A 200 KB value round-trips. */
	size_t big = 200 * 1024;
	char *bv = malloc(big);
	cr_assert(bv);
	for (size_t i = 0; i < big; i++)
		bv[i] = (char)(i * 7);
	kr_ok(c, "SET big %b", bv, big);
	r = kr_cmd(c, "GET big");
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == big && memcmp(r->str, bv, big) == 0);
	freeReplyObject(r);
	kr_int(c, (long long)big, "STRLEN big");
	free(bv);
}

Test(strings, set_option_grammar)
{
	static const struct step st[] = {
		OK("SET k v NX NX"),
		OK("SET k v XX XX"),
		NIL("SET k v2 nx"),          /* exists: NX aborts */
		ERR("SET k v NX XX", E_SYNTAX),
		ERR("SET nokey v NX XX EX 10", E_SYNTAX),
		ERR("SET k v XX NX", E_SYNTAX),
		ERR("SET k v EX", E_SYNTAX),
		ERR("SET k v PX", E_SYNTAX),
		ERR("SET k v EXAT", E_SYNTAX),
		ERR("SET k v PXAT", E_SYNTAX),
		ERR("SET k v EX 10 PX 100", E_SYNTAX),
		ERR("SET k v PX 100 EX 10", E_SYNTAX),
		ERR("SET k v EX 10 EXAT 100", E_SYNTAX),
		ERR("SET k v PXAT 100 PX 1", E_SYNTAX),
		ERR("SET k v KEEPTTL EX 10", E_SYNTAX),
		ERR("SET k v EX 10 KEEPTTL", E_SYNTAX),
		ERR("SET k v PXAT 1 KEEPTTL", E_SYNTAX),
		ERR("SET k v PERSIST", E_SYNTAX),
		ERR("SET k v foo", E_SYNTAX),
		ERR("SET k v EX abc foo", E_SYNTAX),   /* grammar before the value */
		ERR("SET k v NXX", E_SYNTAX),
		ERR("SET k v E", E_SYNTAX),
		ERR("SET k v EXATT 1", E_SYNTAX),
		ERR("SET k v EX 10 EX", E_SYNTAX),
		INT("EXISTS nokey", 0),
		OK("SET k v3 KEEPTTL KEEPTTL"),
		BULK("SET k v4 GET GET", "v3"),
		ERR("SET k v5 Get nX xX nx GET", E_SYNTAX),
		BULK("SET k v5 Get nX nx GET", "v4"),      /* NX aborts: not set */
		BULK("GET k", "v4"),
	};

	RUN(st);
}

Test(strings, set_nx_xx_get)
{
	static const struct step st[] = {
		NIL("SET k v XX"),
		INT("EXISTS k", 0),
		OK("SET k v NX"),
		NIL("SET k v2 NX"),
		BULK("GET k", "v"),
		OK("SET k v3 XX"),
		BULK("GET k", "v3"),
		/* GET returns the old value and still obeys NX/XX. */
		NIL("SET g 1 GET"),
		BULK("GET g", "1"),
		BULK("SET g 2 GET", "1"),
		BULK("SET g 3 NX GET", "2"),       /* not set */
		BULK("GET g", "2"),
		NIL("SET h 1 NX GET"),             /* set */
		BULK("GET h", "1"),
		NIL("SET i 1 XX GET"),             /* not set */
		INT("EXISTS i", 0),
		BULK("SET h 5 XX GET", "1"),
		BULK("GET h", "5"),
		BULK("GETSET h 6", "5"),
		NIL("GETSET newkey 1"),
		BULK("GET newkey", "1"),
	};

	RUN(st);
}

Test(strings, set_expiry_options)
{
	static const struct step st[] = {
		ERR("SET k v EX 0", "ERR invalid expire time in 'set' command"),
		ERR("SET k v EX -1", "ERR invalid expire time in 'set' command"),
		ERR("SET k v PX 0", "ERR invalid expire time in 'set' command"),
		ERR("SET k v EXAT 0", "ERR invalid expire time in 'set' command"),
		ERR("SET k v PXAT -5", "ERR invalid expire time in 'set' command"),
		ERR("SET k v EX abc", E_NOTINT),
		ERR("SET k v PX 1.5", E_NOTINT),
		ERR("SET k v EX 99999999999999999999", E_NOTINT),
		/* Overflow on the way to absolute milliseconds. */
		ERR("SET k v EX 9223372036854775", "ERR invalid expire time in 'set' command"),
		ERR("SET k v EX 9223372036854776", "ERR invalid expire time in 'set' command"),
		ERR("SET k v PX 9223372036854775807", "ERR invalid expire time in 'set' command"),
		ERR("SET k v EXAT 9223372036854776", "ERR invalid expire time in 'set' command"),
		INT("EXISTS k", 0),                /* nothing was set by the errors */
		OK("SET k v EXAT 9223372036854775"),
		OK("SET k v PXAT 9223372036854775807"),
		/* Absolute times in the past: the key is gone right away. */
		OK("SET past v EXAT 1"),
		INT("EXISTS past", 0),
		OK("SET past v PXAT 1"),
		NIL("GET past"),
		OK("set lc v ex 100"),
	};
	long long t;

	RUN(st);
	t = int_of("PTTL k");
	cr_assert(t > 0, "PXAT LLONG_MAX: pttl %lld", t);

	kr_ok(c, "SET k v EX 100");
	t = int_of("TTL k");
	cr_assert(t > 0 && t <= 100, "ttl %lld", t);
	kr_ok(c, "SET k v PX 100000");
	t = int_of("PTTL k");
	cr_assert(t > 0 && t <= 100000, "pttl %lld", t);
	kr_ok(c, "SET k v EX 10 EX 200");      /* the last one wins */
	t = int_of("TTL k");
	cr_assert(t > 100 && t <= 200, "ttl %lld", t);
	t = int_of("TTL lc");
	cr_assert(t > 0 && t <= 100, "lower-case ex: ttl %lld", t);

	/* KEEPTTL keeps it, a plain SET clears it, XX too. */
	kr_ok(c, "SET k v2 KEEPTTL");
	t = int_of("TTL k");
	cr_assert(t > 100 && t <= 200, "keepttl: ttl %lld", t);
	kr_bulk(c, "v2", "GET k");
	kr_ok(c, "SET k v3 XX");
	kr_int(c, -1, "TTL k");
	kr_ok(c, "SET k v PX 100000");
	kr_ok(c, "SET k v4");
	kr_int(c, -1, "TTL k");
	/* KEEPTTL on a key without TTL or a new key: no TTL. */
	kr_ok(c, "SET fresh v KEEPTTL");
	kr_int(c, -1, "TTL fresh");

	/* EXAT/PXAT land exactly on the given time. */
	kr_ok(c, "SET at v PXAT 32503680000000");    /* year 3000 */
	kr_int(c, 32503680000000LL, "PEXPIRETIME at");
	kr_ok(c, "SET at v EXAT 32503680000");
	kr_int(c, 32503680000LL, "EXPIRETIME at");
}

Test(strings, key_expires)
{
	bool gone = false;

	kr_ok(c, "SET k v PX 30");
	kr_ok(c, "SET keep v PX 1000000");
	/* Wait (bounded) until the short-lived key is gone. */
	for (int i = 0; i < 1000 && !gone; i++) {
		gone = int_of("EXISTS k") == 0;
		if (!gone)
			usleep(5000);
	}
	cr_assert(gone, "a key with PX 30 never expired");
	kr_nil(c, "GET k");
	kr_int(c, -2, "PTTL k");
	kr_bulk(c, "v", "GET keep");

	/* SETEX / PSETEX / GETEX PX keys go the same way. */
	kr_ok(c, "PSETEX p 20 v");
	gone = false;
	for (int i = 0; i < 1000 && !gone; i++) {
		gone = int_of("EXISTS p") == 0;
		if (!gone)
			usleep(5000);
	}
	cr_assert(gone, "a PSETEX 20 key never expired");

	/* A key that is expired but still stored (an absolute time in the
	 * past) is gone for every write: KEEPTTL finds no TTL to keep, APPEND,
	 * SETRANGE, INCR and NX/XX start from nothing. */
	static const struct step st[] = {
		OK("SET x old PXAT 1"),
		OK("SET x new KEEPTTL"),
		INT("PTTL x", -1),
		BULK("GET x", "new"),
		OK("SET x old PXAT 1"),
		INT("APPEND x ab", 2),
		OK("SET x 10 PXAT 1"),
		INT("INCR x", 1),
		OK("SET x 10 PXAT 1"),
		INT("SETRANGE x 1 b", 2),
		OK("SET x 10 PXAT 1"),
		OK("SET x v NX"),
		OK("SET y 10 PXAT 1"),
		NIL("SET y v XX"),
		OK("SET y 10 PXAT 1"),
		NIL("GETSET y v"),
		OK("SET y 10 PXAT 1"),
		INT("SETNX y v", 1),
		OK("SET y 10 PXAT 1"),
		INT("STRLEN y", 0),
		NIL("GETDEL y"),
		INT("MSETNX y 1", 1),
	};
	RUN(st);
}

Test(strings, setnx_setex_psetex)
{
	static const struct step st[] = {
		INT("SETNX k v", 1),
		INT("SETNX k v2", 0),
		BULK("GET k", "v"),
		OK("SETEX s 100 v"),
		BULK("GET s", "v"),
		ERR("SETEX s 0 v", "ERR invalid expire time in 'setex' command"),
		ERR("SETEX s -10 v", "ERR invalid expire time in 'setex' command"),
		ERR("SETEX s 9223372036854775807 v", "ERR invalid expire time in 'setex' command"),
		ERR("SETEX s abc v", E_NOTINT),
		ERR("PSETEX s 0 v", "ERR invalid expire time in 'psetex' command"),
		ERR("PSETEX s -1 v", "ERR invalid expire time in 'psetex' command"),
		ERR("PSETEX s 9223372036854775807 v", "ERR invalid expire time in 'psetex' command"),
		ERR("PSETEX s 1x v", E_NOTINT),
		BULK("GET s", "v"),
		OK("PSETEX p 100000 pv"),
		BULK("GET p", "pv"),
	};
	long long t;

	RUN(st);
	t = int_of("TTL s");
	cr_assert(t > 0 && t <= 100, "setex ttl %lld", t);
	t = int_of("PTTL p");
	cr_assert(t > 0 && t <= 100000, "psetex pttl %lld", t);
}

/* ========================================================= multi-key */

Test(strings, mset_mget_across_shards)
{
	redisReply *r;
	static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7",
					   "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15",
					   "k16", "k17", "k18", "k19", "a", "{k1}x", "{k1}y"};
	const size_t nk = sizeof(keys) / sizeof(keys[0]);
	const char *argv[1 + 2 * 23 + 2];
	size_t lens[1 + 2 * 23 + 2];
	char vals[23][16];
	int argc = 0;

	argv[argc++] = "MSET";
	for (size_t i = 0; i < nk; i++) {
		snprintf(vals[i], sizeof(vals[i]), "v-%s", keys[i]);
		argv[argc++] = keys[i];
		argv[argc++] = vals[i];
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = kr_cmdv(c, argc, argv, lens);
	cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
		  "MSET: type %d '%s'", r->type, r->str ? r->str : "");
	freeReplyObject(r);

	/* MGET: reply in request order, with a missing key and a duplicate in
	 * between. */
	argc = 0;
	argv[argc++] = "MGET";
	for (size_t i = 0; i < nk; i++) {
		argv[argc++] = keys[nk - 1 - i];
		if (i == 5)
			argv[argc++] = "missing";
	}
	argv[argc++] = "k5";
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = kr_cmdv(c, argc, argv, lens);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, (size_t)argc - 1);
	for (int i = 1; i < argc; i++) {
		redisReply *el = r->element[i - 1];

		if (strcmp(argv[i], "missing") == 0) {
			cr_assert_eq(el->type, REDIS_REPLY_NIL, "MGET element %d (%s)", i, argv[i]);
		} else {
			char want[16];

			snprintf(want, sizeof(want), "v-%s", argv[i]);
			cr_assert(el->type == REDIS_REPLY_STRING && strcmp(el->str, want) == 0,
				  "MGET element %d (%s): type %d '%s'", i, argv[i], el->type,
				  el->str ? el->str : "");
		}
	}
	freeReplyObject(r);

	static const struct step st[] = {
		/* Same-shard odd argument counts (a, b, c share a shard). */
		ERR("MSET a 1 b", "ERR wrong number of arguments for 'mset' command"),
		ERR("MSET a 1 b 2 c", "ERR wrong number of arguments for 'mset' command"),
		BULK("GET a", "v-a"),                /* nothing set by the errors */
		/* MSET clears TTLs; the last pair wins. */
		OK("SETEX k0 100 x"),
		OK("SETEX k1 100 x"),
		OK("MSET k0 1 k1 2 k0 3 k5 4"),
		INT("TTL k0", -1),
		INT("TTL k1", -1),
		BULK("GET k0", "3"),
		BULK("GET k1", "2"),
		BULK("GET k5", "4"),
	};
	RUN(st);
	r = kr_cmd(c, "MGET nokey1 nokey2 nokey3");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
}

Test(strings, msetnx_single_slot)
{
	static const struct step st[] = {
		ERR("MSETNX {x}1 1 {x}2", "ERR wrong number of arguments for 'msetnx' command"),
		INT("MSETNX {x}1 1 {x}2 2", 1),
		INT("MSETNX {x}3 3 {x}2 9", 0),     /* one exists: nothing set */
		INT("EXISTS {x}3", 0),
		BULK("GET {x}2", "2"),
		INT("MSETNX {x}4 a {x}4 b", 1),     /* duplicate: the last wins */
		BULK("GET {x}4", "b"),
	};

	RUN(st);
}

/* An odd argument count whose keys span shards is an arity error too,
 * and sets nothing. */
Test(strings, mset_odd_args_across_shards)
{
	static const struct step st[] = {
		ERR("MSET k0 1 k1", "ERR wrong number of arguments for 'mset' command"),
		ERR("MSET k5 1 k0 2 k1", "ERR wrong number of arguments for 'mset' command"),
		ERR("MSET k0 1 k0", "ERR wrong number of arguments for 'mset' command"),
		ERR("MSETNX k0 1 k1", "ERR wrong number of arguments for 'msetnx' command"),
		ERR("MSETNX k5 1 k0 2 k1", "ERR wrong number of arguments for 'msetnx' command"),
		INT("EXISTS k0 k1 k5", 0),
		OK("MSET k0 1 k1 2"),
		BULK("GET k1", "2"),
	};

	RUN(st);
}

Test(strings, msetnx_across_shards)
{
	static const struct step st[] = {
		INT("MSETNX k0 1 k1 2 k5 3 k2 4", 1),
		INT("MSETNX k3 5 k7 6 k0 9", 0),   /* k0 exists: nothing set */
		INT("EXISTS k3 k7", 0),
		BULK("GET k0", "1"),
		BULK("GET k1", "2"),
		BULK("GET k5", "3"),
		INT("MSETNX k3 5 k7 6 k9 7", 1),
		OK("SETEX k4 100 x"),
		INT("MSETNX k8 1 k4 2", 0),        /* a key with a TTL exists too */
		INT("EXISTS k8", 0),
	};

	RUN(st);
	kr_bulk(c, "7", "GET k9");
}

/* ==================================================== GETDEL / GETEX */

Test(strings, getdel)
{
	static const struct step st[] = {
		NIL("GETDEL k"),
		OK("SET k v EX 100"),
		BULK("GETDEL k", "v"),
		INT("EXISTS k", 0),
		NIL("GETDEL k"),
		OK("SET n 42"),
		BULK("GETDEL n", "42"),
		INT("EXISTS n", 0),
	};

	RUN(st);
}

Test(strings, getex)
{
	static const struct step st[] = {
		NIL("GETEX nokey"),
		NIL("GETEX nokey EX 0"),            /* missing key wins over a bad time */
		NIL("GETEX nokey EX abc"),
		ERR("GETEX nokey KEEPTTL", E_SYNTAX),
		OK("SET k v"),
		BULK("GETEX k", "v"),
		INT("TTL k", -1),
		ERR("GETEX k KEEPTTL", E_SYNTAX),
		ERR("GETEX k NX", E_SYNTAX),
		ERR("GETEX k XX", E_SYNTAX),
		ERR("GETEX k GET", E_SYNTAX),
		ERR("GETEX k EX", E_SYNTAX),
		ERR("GETEX k EX 10 PX 10", E_SYNTAX),
		ERR("GETEX k PERSIST EX 10", E_SYNTAX),
		ERR("GETEX k EX 10 PERSIST", E_SYNTAX),
		ERR("GETEX k foo", E_SYNTAX),
		ERR("GETEX k EX 0", "ERR invalid expire time in 'getex' command"),
		ERR("GETEX k PX -1", "ERR invalid expire time in 'getex' command"),
		ERR("GETEX k EX 9223372036854775", "ERR invalid expire time in 'getex' command"),
		ERR("GETEX k EX abc", E_NOTINT),
		INT("TTL k", -1),
		BULK("GETEX k PERSIST PERSIST", "v"),
		BULK("GETEX k PXAT 32503680000000", "v"),
		INT("PEXPIRETIME k", 32503680000000LL),
		BULK("GETEX k EXAT 32503680001", "v"),
		INT("EXPIRETIME k", 32503680001LL),
		BULK("GETEX k PERSIST", "v"),
		INT("TTL k", -1),
		/* An absolute time in the past deletes the key after replying. */
		BULK("GETEX k EXAT 1", "v"),
		INT("EXISTS k", 0),
		OK("SET k 7"),
		BULK("GETEX k PXAT 1", "7"),
		INT("EXISTS k", 0),
	};
	long long t;

	RUN(st);
	kr_ok(c, "SET k v");
	kr_bulk(c, "v", "GETEX k EX 100");
	t = int_of("TTL k");
	cr_assert(t > 0 && t <= 100, "ttl %lld", t);
	kr_bulk(c, "v", "GETEX k px 100000 PX 200000");
	t = int_of("PTTL k");
	cr_assert(t > 100000 && t <= 200000, "pttl %lld", t);
}

/* ===================================================== APPEND / STRLEN */

Test(strings, append_strlen)
{
	static const struct step st[] = {
		INT("STRLEN k", 0),
		INT("APPEND k hello", 5),
		INT("APPEND k _world", 11),
		BULK("GET k", "hello_world"),
		INT("STRLEN k", 11),
		INT("STRLEN n", 0),
		OK("SET n 12345"),
		INT("STRLEN n", 5),
		INT("APPEND n 6", 6),
		BULK("GET n", "123456"),
		OK("SET neg -42"),
		INT("STRLEN neg", 3),
		OK("SETEX t 100 a"),
		INT("APPEND t b", 2),            /* APPEND keeps the TTL */
	};
	long long t;

	RUN(st);
	/* APPEND of an empty value on a missing key creates an empty string. */
	kr_int(c, 0, "APPEND %s %b", "empty", "", (size_t)0);
	kr_int(c, 1, "EXISTS empty");
	kr_bulk(c, "", "GET empty");
	t = int_of("TTL t");
	cr_assert(t > 0 && t <= 100, "ttl %lld", t);

	/* Many appends grow one value (amortised, in place). */
	for (int i = 0; i < 1000; i++)
		kr_int(c, (i + 1) * 10LL, "APPEND grow 0123456789");
	kr_int(c, 10000, "STRLEN grow");
	kr_bulk(c, "9012", "GETRANGE grow 9989 9992");
}

/* ========================================================== encodings */

Test(strings, encodings)
{
	static const char s44[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const char s45[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

	kr_ok(c, "SET k 1234");
	expect_encoding("k", "int");
	kr_ok(c, "SET k -1");
	expect_encoding("k", "int");
	kr_ok(c, "SET k 9223372036854775807");
	expect_encoding("k", "int");
	kr_ok(c, "SET k 12345678901234567890");   /* does not fit a long long */
	expect_encoding("k", "embstr");
	kr_ok(c, "SET k 01");                      /* not canonical */
	expect_encoding("k", "embstr");
	kr_ok(c, "SET k %s", " 1");
	expect_encoding("k", "embstr");
	kr_ok(c, "SET k abc");
	expect_encoding("k", "embstr");
	kr_ok(c, "SET k %s", s44);
	expect_encoding("k", "embstr");
	kr_ok(c, "SET k %s", s45);
	expect_encoding("k", "raw");
	kr_bulk(c, s45, "GET k");

	/* In-place mutation makes a string raw; INCR makes it an int again. */
	kr_ok(c, "SET k abc");
	kr_int(c, 4, "APPEND k d");
	expect_encoding("k", "raw");
	kr_ok(c, "SET k 1");
	kr_int(c, 2, "APPEND k 1");
	expect_encoding("k", "raw");
	kr_int(c, 12, "INCR k");
	expect_encoding("k", "int");
	kr_int(c, 3, "APPEND a3 123");             /* new key via APPEND: as SET */
	expect_encoding("a3", "int");
	kr_ok(c, "SET k abc");
	kr_int(c, 3, "SETRANGE k 1 X");
	expect_encoding("k", "raw");
	kr_bulk(c, "aXc", "GET k");
	kr_int(c, 3, "SETRANGE new 0 abc");
	expect_encoding("new", "raw");
	kr_ok(c, "SET k 99");
	kr_int(c, 2, "SETRANGE k 0 1");
	expect_encoding("k", "raw");
	kr_bulk(c, "19", "GET k");
	kr_int(c, 20, "INCR k");
	expect_encoding("k", "int");
	kr_int(c, 1, "INCR fresh");
	expect_encoding("fresh", "int");
}

/* ========================================================= INCR family */

Test(strings, incr_decr)
{
	static const struct step st[] = {
		INT("INCR n", 1),
		INT("INCR n", 2),
		INT("DECR n", 1),
		INT("DECR n", 0),
		INT("DECR n", -1),
		INT("INCRBY n 100", 99),
		INT("INCRBY n -200", -101),
		INT("DECRBY n -101", 0),
		INT("DECRBY n 5", -5),
		INT("DECRBY fresh 3", -3),
		INT("INCRBY fresh2 -7", -7),
		BULK("GET n", "-5"),
		ERR("INCRBY n abc", E_NOTINT),
		ERR("INCRBY n 1.5", E_NOTINT),
		ERR("INCRBY n 9223372036854775808", E_NOTINT),
		ERR("DECRBY n 9223372036854775808", E_NOTINT),
		ERR("DECRBY n -9223372036854775808", "ERR decrement would overflow"),
		BULK("GET n", "-5"),
		/* Overflow in both directions leaves the value alone. */
		OK("SET max 9223372036854775807"),
		ERR("INCR max", E_OVERFLOW),
		ERR("INCRBY max 1", E_OVERFLOW),
		INT("INCRBY max 0", 9223372036854775807LL),
		INT("DECR max", 9223372036854775806LL),
		INT("INCR max", 9223372036854775807LL),
		BULK("GET max", "9223372036854775807"),
		OK("SET min -9223372036854775808"),
		ERR("DECR min", E_OVERFLOW),
		ERR("DECRBY min 1", E_OVERFLOW),
		ERR("INCRBY min -1", E_OVERFLOW),
		INT("INCRBY min 9223372036854775807", -1),
		OK("SET min -9223372036854775807"),
		INT("DECR min", (-9223372036854775807LL - 1)),
		OK("SET big 1"),
		ERR("INCRBY big 9223372036854775807", E_OVERFLOW),
		INT("INCRBY big 9223372036854775806", 9223372036854775807LL),
		OK("SET neg -1"),
		INT("INCRBY neg -9223372036854775807", (-9223372036854775807LL - 1)),
		/* Strings that are not canonical integers are refused. */
		OK("SET s abc"),
		ERR("INCR s", E_NOTINT),
		OK("SET s 01"),
		ERR("INCR s", E_NOTINT),
		OK("SET s 1.0"),
		ERR("DECR s", E_NOTINT),
		OK("SET s +1"),
		ERR("INCR s", E_NOTINT),
		OK("SET s -0"),
		ERR("INCR s", E_NOTINT),
		OK("SET s 12345678901234567890"),
		ERR("INCR s", E_NOTINT),
		BULK("GET s", "12345678901234567890"),
		/* A raw numeric string (from APPEND) is an integer again. */
		INT("APPEND r 4", 1),
		INT("APPEND r 1", 2),
		INT("INCRBY r 1", 42),
	};

	RUN(st);
	kr_ok(c, "SET %s %s", "sp", " 1");
	kr_err(c, E_NOTINT, "INCR sp");
	kr_ok(c, "SET %s %s", "sp", "1 ");
	kr_err(c, E_NOTINT, "INCR sp");
	kr_ok(c, "SET %s %b", "sp", "", (size_t)0);
	kr_err(c, E_NOTINT, "INCR sp");
}

Test(strings, incr_keeps_ttl)
{
	long long t;

	kr_ok(c, "SET n 10 EX 100");
	kr_int(c, 11, "INCR n");
	kr_int(c, 21, "INCRBY n 10");
	kr_int(c, 20, "DECR n");
	t = int_of("TTL n");
	cr_assert(t > 0 && t <= 100, "ttl after INCR %lld", t);
	kr_ok(c, "SET s 1 EX 100");
	kr_int(c, 2, "APPEND s 0");              /* raw "10" */
	kr_int(c, 11, "INCR s");                 /* raw -> int keeps the TTL */
	t = int_of("TTL s");
	cr_assert(t > 0 && t <= 100, "ttl after INCR of a raw %lld", t);
	kr_bulk(c, "11.5", "INCRBYFLOAT s 0.5");
	t = int_of("TTL s");
	cr_assert(t > 0 && t <= 100, "ttl after INCRBYFLOAT %lld", t);
}

struct fcase {
	const char *init;   /* NULL: key missing */
	const char *by;
	const char *want;   /* reply and new value */
};

Test(strings, incrbyfloat_formatting)
{
	/* Checked against redis-server 7.0 on x86-64 (80-bit long double). */
	static const struct fcase cases[] = {
		{NULL, "1.5", "1.5"},
		{"10", "0.1", "10.1"},
		{"10.1", "-5", "5.1"},
		{"5.1", "1e3", "1005.09999999999999998"},
		{"3.0e3", "200", "3200"},
		{"5.0e3", "2.0e2", "5200"},
		{"1", "0x10", "17"},
		{"17", "1e-20", "17"},
		{"0.1", "0.2", "0.3"},
		{"10.5", "-10.5", "0"},
		{"-0.0", "-0.0", "0"},
		{"0", "-1e-20", "0"},
		{"12345678901234567890", "1", "12345678901234567891"},
		{"1", "1e-300", "1"},
		{"-1.5", "0.25", "-1.25"},
		{"3", "-4.75", "-1.75"},
		{"1.10", "0", "1.1"},
		{"100", "0", "100"},
		{"-9223372036854775808", "-1", "-9223372036854775809"},
		{"1e18", "1", "1000000000000000001"},
		{"0.00001", "0", "0.00001"},
		{"2.5e-6", "0", "0.0000025"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fcase *fc = &cases[i];
		redisReply *r;

		if (fc->init)
			kr_ok(c, "SET f %s", fc->init);
		else
			kr_int(c, 0, "DEL f");
		r = kr_cmd(c, "INCRBYFLOAT f %s", fc->by);
		cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, fc->want) == 0,
			  "INCRBYFLOAT %s by %s: want %s, got type %d '%s'",
			  fc->init ? fc->init : "(nil)", fc->by, fc->want, r->type,
			  r->str ? r->str : "");
		freeReplyObject(r);
		kr_bulk(c, fc->want, "GET f");
	}

	/* No exponent even for huge values: 1e400 fits a long double. */
	redisReply *r;
	kr_ok(c, "SET f 1e400");
	r = kr_cmd(c, "INCRBYFLOAT f 1");
	cr_assert_eq(r->type, REDIS_REPLY_STRING);
	cr_assert_eq(r->len, 401, "len %zu '%s'", r->len, r->str);
	cr_assert(strncmp(r->str, "10000000000000000000", 20) == 0, "%s", r->str);
	cr_assert(strchr(r->str, 'e') == NULL && strchr(r->str, '.') == NULL);
	freeReplyObject(r);
}

Test(strings, incrbyfloat_errors)
{
	static const struct step st[] = {
		OK("SET f 1"),
		ERR("INCRBYFLOAT f abc", E_NOTFLOAT),
		ERR("INCRBYFLOAT f nan", E_NOTFLOAT),
		ERR("INCRBYFLOAT f 1x", E_NOTFLOAT),
		ERR("INCRBYFLOAT f 1e5000", E_NOTFLOAT),
		ERR("INCRBYFLOAT f inf", "ERR increment would produce NaN or Infinity"),
		ERR("INCRBYFLOAT f -inf", "ERR increment would produce NaN or Infinity"),
		BULK("GET f", "1"),
		OK("SET f abc"),
		ERR("INCRBYFLOAT f 1", E_NOTFLOAT),
		OK("SET f 1e5000"),
		ERR("INCRBYFLOAT f 1", E_NOTFLOAT),
		OK("SET f 1.5e4932"),                 /* beyond long double */
		ERR("INCRBYFLOAT f 1", E_NOTFLOAT),
		OK("SET f 1e4932"),                   /* fits; the sum does not */
		ERR("INCRBYFLOAT f 1e4932", "ERR increment would produce NaN or Infinity"),
		BULK("GET f", "1e4932"),
		INT("EXISTS nf", 0),
		ERR("INCRBYFLOAT nf abc", E_NOTFLOAT),
		INT("EXISTS nf", 0),
	};

	RUN(st);
	kr_err(c, E_NOTFLOAT, "INCRBYFLOAT f %s", " 1");
	kr_err(c, E_NOTFLOAT, "INCRBYFLOAT f %s", "1 ");
	kr_err(c, E_NOTFLOAT, "INCRBYFLOAT f %b", "", (size_t)0);
	kr_ok(c, "SET f %s", " 1");
	kr_err(c, E_NOTFLOAT, "INCRBYFLOAT f 1");
	kr_ok(c, "SET f %b", "", (size_t)0);
	kr_err(c, E_NOTFLOAT, "INCRBYFLOAT f 1");
}

/* ================================================ GETRANGE / SETRANGE */

Test(strings, getrange_substr)
{
	static const struct step st[] = {
		OK("SET s hello"),
		BULK("GETRANGE s 0 -1", "hello"),
		BULK("GETRANGE s 0 0", "h"),
		BULK("GETRANGE s 1 3", "ell"),
		BULK("GETRANGE s -3 -1", "llo"),
		BULK("GETRANGE s 0 -100", "h"),
		BULK("GETRANGE s -100 -200", ""),
		BULK("GETRANGE s -1 -2", ""),
		BULK("GETRANGE s 10 20", ""),
		BULK("GETRANGE s 3 1", ""),
		BULK("GETRANGE s -100 100", "hello"),
		BULK("GETRANGE s 4 9223372036854775807", "o"),
		BULK("GETRANGE s -9223372036854775808 1", "he"),
		BULK("GETRANGE missing 0 -1", ""),
		ERR("GETRANGE s a 1", E_NOTINT),
		ERR("GETRANGE s 0 1.5", E_NOTINT),
		ERR("GETRANGE missing x 1", E_NOTINT),
		OK("SET i 12345"),
		BULK("GETRANGE i 1 2", "23"),
		BULK("GETRANGE i -2 -1", "45"),
		OK("SET neg -123"),
		BULK("GETRANGE neg 0 1", "-1"),
		BULK("SUBSTR s 1 3", "ell"),
		BULK("SUBSTR s -2 -1", "lo"),
		BULK("SUBSTR missing 0 1", ""),
		ERR("SUBSTR s x 1", E_NOTINT),
	};

	RUN(st);
	kr_ok(c, "SET e %b", "", (size_t)0);
	kr_bulk(c, "", "GETRANGE e 0 -1");
	kr_bulk(c, "", "GETRANGE e 0 0");
}

Test(strings, setrange)
{
	static const struct step st[] = {
		INT("SETRANGE k 0 hello", 5),
		BULK("GET k", "hello"),
		INT("SETRANGE k 1 EL", 5),
		BULK("GET k", "hELlo"),
		INT("SETRANGE k 4 O_world", 11),
		BULK("GET k", "hELlO_world"),
		ERR("SETRANGE k -1 x", "ERR offset is out of range"),
		ERR("SETRANGE k a x", E_NOTINT),
		ERR("SETRANGE k 1.0 x", E_NOTINT),
		/* Past the proto-max-bulk-len default (512 MiB): refused, nothing
		 * allocated. */
		ERR("SETRANGE k 536870912 x", E_BIG),
		ERR("SETRANGE k 9223372036854775807 x", E_BIG),
		ERR("SETRANGE new 536870912 x", E_BIG),
		INT("EXISTS new", 0),
		OK("SET n 12345"),
		INT("SETRANGE n 5 6", 6),
		BULK("GET n", "123456"),
		INT("INCR n", 123457),
		OK("SETEX t 100 abc"),
		INT("SETRANGE t 0 x", 3),            /* keeps the TTL */
	};
	redisReply *r;
	long long t;

	RUN(st);
	t = int_of("TTL t");
	cr_assert(t > 0 && t <= 100, "ttl %lld", t);

	/* A gap is zero-filled. */
	kr_int(c, 5, "SETRANGE z 3 ab");
	r = kr_cmd(c, "GET z");
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == 5 && memcmp(r->str, "\0\0\0ab", 5) == 0);
	freeReplyObject(r);
	kr_int(c, 10, "SETRANGE z 8 cd");
	r = kr_cmd(c, "GET z");
	cr_assert(r->len == 10 && memcmp(r->str, "\0\0\0ab\0\0\0cd", 10) == 0);
	freeReplyObject(r);

	/* An empty value changes nothing and creates nothing, even with an
	 * offset past the limit; on an existing key it replies its length. */
	kr_int(c, 0, "SETRANGE none 100 %b", "", (size_t)0);
	kr_int(c, 0, "SETRANGE none 536870912 %b", "", (size_t)0);
	kr_int(c, 0, "EXISTS none");
	kr_int(c, 11, "SETRANGE k 100 %b", "", (size_t)0);
	kr_int(c, 11, "SETRANGE k 536870912 %b", "", (size_t)0);
	kr_int(c, 11, "STRLEN k");
}

/* ================================================================ LCS */

Test(strings, lcs_resp2)
{
	redisReply *r;
	static const struct step st[] = {
		OK("MSET {l}1 ohmytext {l}2 mynewtext"),
		BULK("LCS {l}1 {l}2", "mytext"),
		BULK("lcs {l}2 {l}1", "mytext"),
		INT("LCS {l}1 {l}2 LEN", 6),
		INT("LCS {l}1 {l}2 LEN LEN", 6),
		BULK("LCS {l}1 {l}1", "ohmytext"),
		BULK("LCS {l}1 {l}missing", ""),
		BULK("LCS {l}missing {l}missing2", ""),
		INT("LCS {l}1 {l}missing LEN", 0),
		ERR("LCS {l}1 {l}2 LEN IDX",
		    "ERR If you want both the length and indexes, please just use IDX."),
		ERR("LCS {l}1 {l}2 MINMATCHLEN", E_SYNTAX),
		ERR("LCS {l}1 {l}2 foo", E_SYNTAX),
		ERR("LCS {l}1 {l}2 IDX MINMATCHLEN x", E_NOTINT),
		OK("MSET {l}n1 12345 {l}n2 2x4"),
		BULK("LCS {l}n1 {l}n2", "24"),
		OK("MSET {l}a ABCBDAB {l}b BDCABA"),
		BULK("LCS {l}a {l}b", "BDAB"),
		BULK("LCS {l}b {l}a", "BCBA"),
	};

	RUN(st);

	/* IDX: {"matches": [[[4,7],[5,8]], [[2,3],[0,1]]], "len": 6} */
	r = kr_cmd(c, "LCS {l}1 {l}2 IDX");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 4);
	cr_assert_str_eq(r->element[0]->str, "matches");
	cr_assert_str_eq(r->element[2]->str, "len");
	cr_assert_eq(r->element[3]->integer, 6);
	redisReply *m = r->element[1];
	cr_assert_eq(m->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(m->elements, 2);
	static const long long want[2][4] = {{4, 7, 5, 8}, {2, 3, 0, 1}};
	for (size_t i = 0; i < 2; i++) {
		redisReply *mm = m->element[i];

		cr_assert_eq(mm->elements, 2);
		cr_assert_eq(mm->element[0]->element[0]->integer, want[i][0]);
		cr_assert_eq(mm->element[0]->element[1]->integer, want[i][1]);
		cr_assert_eq(mm->element[1]->element[0]->integer, want[i][2]);
		cr_assert_eq(mm->element[1]->element[1]->integer, want[i][3]);
	}
	freeReplyObject(r);

	/* WITHMATCHLEN adds each match's length; MINMATCHLEN filters. */
	r = kr_cmd(c, "LCS {l}1 {l}2 IDX MINMATCHLEN 4 WITHMATCHLEN");
	cr_assert_eq(r->elements, 4);
	m = r->element[1];
	cr_assert_eq(m->elements, 1);
	cr_assert_eq(m->element[0]->elements, 3);
	cr_assert_eq(m->element[0]->element[0]->element[0]->integer, 4);
	cr_assert_eq(m->element[0]->element[1]->element[1]->integer, 8);
	cr_assert_eq(m->element[0]->element[2]->integer, 4);
	cr_assert_eq(r->element[3]->integer, 6);
	freeReplyObject(r);

	r = kr_cmd(c, "LCS {l}1 {l}2 IDX WITHMATCHLEN MINMATCHLEN -5");
	m = r->element[1];
	cr_assert_eq(m->elements, 2);
	cr_assert_eq(m->element[1]->element[2]->integer, 2);
	freeReplyObject(r);

	r = kr_cmd(c, "LCS {l}1 {l}2 IDX MINMATCHLEN 7");
	cr_assert_eq(r->element[1]->elements, 0);
	cr_assert_eq(r->element[3]->integer, 6);
	freeReplyObject(r);

	r = kr_cmd(c, "LCS {l}1 {l}missing IDX");
	cr_assert_eq(r->element[1]->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->element[1]->elements, 0);
	cr_assert_eq(r->element[3]->integer, 0);
	freeReplyObject(r);
}

/* Keys on different shards (with KR_SHARDS=3): the values are gathered to
 * one shard, the answer must be the same. */
Test(strings, lcs_across_shards)
{
	static const struct step st[] = {
		OK("MSET k0 ohmytext k1 mynewtext k5 ABCBDAB k9 BDCABA"),
		BULK("LCS k0 k1", "mytext"),
		INT("LCS k0 k1 LEN", 6),
		BULK("LCS k5 k9", "BDAB"),
		BULK("LCS k9 k5", "BCBA"),
		BULK("LCS k0 k3", ""),             /* k3: missing, other shard */
		BULK("LCS k3 k0", ""),
		INT("LCS k3 k4 LEN", 0),
	};
	redisReply *r;

	RUN(st);
	r = kr_cmd(c, "LCS k0 k1 IDX WITHMATCHLEN");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4, "type %d", r->type);
	cr_assert_eq(r->element[1]->elements, 2);
	cr_assert_eq(r->element[1]->element[0]->element[0]->element[0]->integer, 4);
	cr_assert_eq(r->element[1]->element[1]->element[2]->integer, 2);
	cr_assert_eq(r->element[3]->integer, 6);
	freeReplyObject(r);
}

Test(strings, resp3_replies)
{
	struct raw_conn rc;

	kr_ok(c, "MSET {l}1 ohmytext {l}2 mynewtext");
	raw_open(&rc);
	(void)raw_cmd(&rc, "HELLO 3", NULL);
	raw_expect(&rc, "GET nokey", "_\r\n");
	raw_expect(&rc, "SET {l}1 x NX", "_\r\n");
	raw_expect(&rc, "SET nk x NX GET", "_\r\n");
	raw_expect(&rc, "GETDEL nokey", "_\r\n");
	raw_expect(&rc, "GETEX nokey", "_\r\n");
	raw_expect(&rc, "MGET {l}1 nokey", "*2\r\n$8\r\nohmytext\r\n_\r\n");
	raw_expect(&rc, "INCRBYFLOAT fl 1.5", "$3\r\n1.5\r\n");   /* bulk, not double */
	raw_expect(&rc, "LCS {l}1 {l}2 LEN", ":6\r\n");
	raw_expect(&rc, "LCS {l}1 {l}2 IDX",
		   "%2\r\n$7\r\nmatches\r\n*2\r\n"
		   "*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n"
		   "*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n"
		   "$3\r\nlen\r\n:6\r\n");
	raw_expect(&rc, "LCS {l}1 {l}2 IDX WITHMATCHLEN MINMATCHLEN 3",
		   "%2\r\n$7\r\nmatches\r\n*1\r\n"
		   "*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n"
		   "$3\r\nlen\r\n:6\r\n");
	/* Back to RESP2 on the same connection: nulls are $-1 again. */
	(void)raw_cmd(&rc, "HELLO 2", NULL);
	raw_expect(&rc, "GET nokey", "$-1\r\n");
	raw_expect(&rc, "LCS {l}1 {l}missing IDX",
		   "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n");
	close(rc.fd);
}

/* ========================================================== WRONGTYPE */

#define E_LCSTYPE "ERR The specified keys must contain string values"

/* Every string command against keys of another type ("l", "{x}l" and
 * "{l}l" are lists; RPUSH re-creates one after a command that replaced it).
 * Skipped while the server has no list type. */
Test(strings, wrongtype)
{
	static const struct step st[] = {
		ERR("GET l", E_WRONG),
		ERR("SET l v GET", E_WRONG),
		ERR("SET l v NX GET", E_WRONG),
		ERR("GETSET l v", E_WRONG),
		NIL("SET l v NX"),                 /* any type counts as existing */
		INT("SETNX l v", 0),
		INT("MSETNX {x}5 1 {x}l 2", 0),
		INT("EXISTS {x}5", 0),
		ERR("GETDEL l", E_WRONG),
		ERR("GETEX l", E_WRONG),
		ERR("GETEX l EX 0", E_WRONG),      /* the type before the time */
		ERR("APPEND l x", E_WRONG),
		ERR("STRLEN l", E_WRONG),
		ERR("INCR l", E_WRONG),
		ERR("DECR l", E_WRONG),
		ERR("INCRBY l 1", E_WRONG),
		ERR("DECRBY l 1", E_WRONG),
		ERR("INCRBYFLOAT l 1", E_WRONG),
		ERR("GETRANGE l 0 1", E_WRONG),
		ERR("SUBSTR l 0 1", E_WRONG),
		ERR("SETRANGE l 0 x", E_WRONG),
		ERR("SETRANGE l -1 x", "ERR offset is out of range"),
		OK("SET {l}1 ohmytext"),
		ERR("LCS {l}l {l}1", E_LCSTYPE),
		ERR("LCS {l}1 {l}l", E_LCSTYPE),
		ERR("LCS {l}1 {l}l foo", E_LCSTYPE),   /* the type before the grammar */
		ERR("LCS k1 {l}l", E_LCSTYPE),         /* across shards */
		ERR("LCS {l}l k1", E_LCSTYPE),
		INT("LLEN l", 1),                      /* nothing above changed it */
		/* Commands that replace any type. */
		OK("SET l v XX"),
		BULK("GET l", "v"),
		INT("DEL l", 1),
		INT("RPUSH l x", 1),
		OK("SET l v"),
		BULK("GET l", "v"),
		INT("DEL l", 1),
		INT("RPUSH l x", 1),
		OK("SETEX l 50 v"),
		BULK("GET l", "v"),
		INT("DEL l", 1),
		INT("RPUSH l x", 1),
		OK("MSET l v a 1"),
		BULK("GET l", "v"),
		INT("DEL l", 1),
		INT("RPUSH l x", 1),
		/* MGET answers nil for it. */
		OK("SET a 1"),
	};
	redisReply *r = kr_cmd(c, "RPUSH l x");

	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "unknown command")) {
		freeReplyObject(r);
		cr_skip_test("no list type in this server yet");
	}
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
	kr_int(c, 1, "RPUSH {x}l x");
	kr_int(c, 1, "RPUSH {l}l x");
	RUN(st);
	r = kr_cmd(c, "MGET a l {x}l nokey");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
	cr_assert_str_eq(r->element[0]->str, "1");
	for (size_t i = 1; i < 4; i++)
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_NIL, "element %zu", i);
	freeReplyObject(r);
}

/* ======================================================== size limits */

Test(strings_limits, proto_max_bulk_len)
{
	const size_t mib = 1024 * 1024;
	char *v = malloc(mib);
	redisReply *r;

	cr_assert(v);
	memset(v, 'x', mib);
	/* Exactly at the limit is fine, one byte past it is not. */
	kr_ok(c, "SET k %b", v, mib - 10);
	kr_int(c, (long long)mib, "APPEND k %b", v, (size_t)10);
	kr_err(c, E_BIG, "APPEND k x");
	kr_int(c, (long long)mib, "STRLEN k");
	kr_int(c, (long long)mib, "SETRANGE k %lld x", (long long)mib - 1);
	kr_err(c, E_BIG, "SETRANGE k %lld x", (long long)mib);
	kr_err(c, E_BIG, "SETRANGE k %lld xy", (long long)mib - 1);
	kr_err(c, E_BIG, "SETRANGE fresh %lld x", (long long)mib);
	kr_int(c, 0, "EXISTS fresh");
	kr_int(c, (long long)mib, "SETRANGE fresh %lld x", (long long)mib - 1);

	/* LCS's table (4 bytes a cell) is bounded by the same limit:
	 * 512x511 cells fit in 1 MiB, 601x601 do not. */
	kr_ok(c, "SET {l}a %b", v, (size_t)511);
	kr_ok(c, "SET {l}b %b", v, (size_t)510);
	r = kr_cmd(c, "LCS {l}a {l}b LEN");
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 510,
		  "type %d '%s'", r->type, r->str ? r->str : "");
	freeReplyObject(r);
	kr_ok(c, "SET {l}a %b", v, (size_t)600);
	kr_ok(c, "SET {l}b %b", v, (size_t)600);
	kr_err(c, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
	       "LCS {l}a {l}b");
	free(v);
}
