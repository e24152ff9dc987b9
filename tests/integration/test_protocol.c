/* Integration tests of the wire protocol: inline commands, pipelining,
 * malformed RESP (exact error, connection closed, other clients unharmed),
 * query-buffer limits, big multibulks and values, a bounded garbage fuzz,
 * unknown-command and arity errors, and RESP3 after HELLO 3. Expectations
 * were checked against redis-server 7.0.
 *
 * hiredis 0.14 cannot read RESP3, so exact-byte checks use a raw socket and
 * the small RESP2/RESP3 framer below. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- raw RESP2/RESP3 over a plain socket ---- */

/* Length of the first complete RESP2/RESP3 value in buf, 0 if incomplete,
 * -1 if malformed. */
/* Reads until nreplies complete values arrived; returns them (malloc'd,
 * NUL-terminated). Asserts on EOF/timeout before that. */
/* ---- fixtures ---- */

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(protocol, .init = start_default, .fini = stop_server, .timeout = 180);

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- inline commands ---- */

Test(protocol, inline_commands)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "SET foo bar\r\n", 1, "+OK\r\n");
	kr_raw_expect(fd, "GET foo\n", 1, "$3\r\nbar\r\n");        /* bare LF */
	kr_raw_expect(fd, "  PING   \r\n", 1, "+PONG\r\n");        /* extra blanks */
	kr_raw_expect(fd, "\r\n\r\n\nPING\r\n", 1, "+PONG\r\n");   /* empty lines ignored */
	kr_raw_expect(fd, "SET k \"a b\"\r\nGET k\r\n", 2, "+OK\r\n$3\r\na b\r\n");
	kr_raw_expect(fd, "SET k \"x\\x41\\n\"\r\nGET k\r\n", 2, "+OK\r\n$3\r\nxA\n\r\n");
	kr_raw_expect(fd, "SET k 'it''s'\r\n", 1, "-ERR Protocol error: unbalanced quotes in request\r\n");
	cr_assert(kr_raw_closed(fd));
	close(fd);
	fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "SET k 'single \"q\"'\r\nGET k\r\n", 2, "+OK\r\n$10\r\nsingle \"q\"\r\n");
	kr_raw_expect(fd, "ECHO \"\"\r\n", 1, "$0\r\n\r\n");
	close(fd);
}

Test(protocol, inline_too_big)
{
	redisContext *other = kr_connect(&srv);
	int fd = kr_raw_connect(&srv);
	size_t n = 70 * 1024;
	char *junk = malloc(n);
	memset(junk, 'x', n);
	kr_raw_send(fd, junk, n);
	size_t len;
	char *got = kr_raw_read(fd, 1, &len);
	cr_assert_str_eq(got, "-ERR Protocol error: too big inline request\r\n");
	free(got);
	cr_assert(kr_raw_closed(fd));
	close(fd);
	free(junk);
	kr_status(other, "PONG", "PING");
	redisFree(other);
}

Test(protocol, byte_by_byte)
{
	int fd = kr_raw_connect(&srv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	const char *req = "*3\r\n$3\r\nSET\r\n$2\r\nbb\r\n$5\r\nhello\r\nGET bb\r\n";
	for (size_t i = 0; req[i] != '\0'; i++) {
		kr_raw_send(fd, req + i, 1);
		sleep_ms(1);
	}
	size_t len;
	char *got = kr_raw_read(fd, 2, &len);
	cr_assert_str_eq(got, "+OK\r\n$5\r\nhello\r\n");
	free(got);
	close(fd);
}

/* ---- pipelining ---- */

Test(protocol, pipeline_1000_in_one_write)
{
	/* 1000 INCRs alternating RESP and inline form, an error in the middle,
	 * all in one buffer written at once; replies must come back in order. */
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);
	for (int i = 0; i < 1000; i++) {
		if (i == 500)
			len += (size_t)snprintf(buf + len, cap - len, "NOSUCHCMD x\r\n");
		if (i % 2 == 0)
			len += (size_t)snprintf(buf + len, cap - len, "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n");
		else
			len += (size_t)snprintf(buf + len, cap - len, "INCR ctr\r\n");
	}
	len += (size_t)snprintf(buf + len, cap - len, "GET ctr\r\n");
	int fd = kr_raw_connect(&srv);
	kr_raw_send(fd, buf, len);
	free(buf);

	redisReader *rd = redisReaderCreate();
	int got = 0;
	long long want_incr = 1;
	char chunk[16384];
	while (got < 1002) {
		redisReply *r = NULL;
		cr_assert(redisReaderGetReply(rd, (void **)&r) == REDIS_OK, "reply stream malformed");
		if (r == NULL) {
			ssize_t n = read(fd, chunk, sizeof(chunk));
			cr_assert(n > 0, "connection ended after %d of 1002 replies", got);
			redisReaderFeed(rd, chunk, (size_t)n);
			continue;
		}
		if (got == 500) {
			cr_assert(r->type == REDIS_REPLY_ERROR &&
					  strcmp(r->str, "ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ") == 0,
				  "reply 500: expected the unknown-command error");
		} else if (got == 1001) {
			cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, "1000") == 0, "final GET ctr");
		} else {
			cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == want_incr,
				  "reply %d: expected :%lld, got type %d value %lld", got, want_incr, r->type,
				  r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
			want_incr++;
		}
		freeReplyObject(r);
		got++;
	}
	redisReaderFree(rd);
	close(fd);
}

/* ---- malformed RESP ---- */

static const struct {
	const char *req;
	const char *want;
} malformed[] = {
	{ "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
	{ "*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
	{ "*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n" },
	{ "*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n" }, /* > proto-max-bulk-len */
	{ "*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
	{ "*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
	{ "SET k \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n" },
	{ "SET k \"abc\"def\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n" },
	{ "SET pre 1\r\n*abc\r\n", "+OK\r\n-ERR Protocol error: invalid multibulk length\r\n" },
};

Test(protocol, malformed_resp_closes_only_that_connection)
{
	redisContext *by = kr_connect(&srv);
	kr_ok(by, "SET bystander intact");
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int fd = kr_raw_connect(&srv);
		int nrep = strncmp(malformed[i].want, "+OK", 3) == 0 ? 2 : 1;
		kr_raw_expect(fd, malformed[i].req, nrep, malformed[i].want);
		cr_assert(kr_raw_closed(fd), "case %zu (%s): connection not closed", i, malformed[i].req);
		close(fd);
		/* The bystander connected all along still works, data intact. */
		kr_bulk(by, "intact", "GET bystander");
		kr_int(by, (long long)i + 1, "INCR bycount");
	}
	kr_bulk(by, "1", "GET pre");

	/* Lines longer than 64 KB without a newline. */
	static const char *const longlines[][2] = {
		{ "*", "-ERR Protocol error: too big mbulk count string\r\n" },
		{ "*1\r\n$", "-ERR Protocol error: too big bulk count string\r\n" },
	};
	char *junk = malloc(70 * 1024);
	memset(junk, '9', 70 * 1024);
	for (size_t i = 0; i < 2; i++) {
		int fd = kr_raw_connect(&srv);
		kr_raw_sends(fd, longlines[i][0]);
		kr_raw_send(fd, junk, 70 * 1024);
		size_t len;
		char *got = kr_raw_read(fd, 1, &len);
		cr_assert_str_eq(got, longlines[i][1]);
		free(got);
		cr_assert(kr_raw_closed(fd));
		close(fd);
	}
	free(junk);
	kr_bulk(by, "intact", "GET bystander");
	redisFree(by);
}

Test(protocol, empty_and_null_multibulk_ignored)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "*0\r\n*-1\r\nPING\r\n", 1, "+PONG\r\n");
	close(fd);
}

Test(protocol, query_buffer_limit)
{
	redisContext *by = kr_connect(&srv);
	kr_ok(by, "SET bystander intact");
	kr_ok(by, "CONFIG SET client-query-buffer-limit 1mb");
	int fd = kr_raw_connect(&srv);
	/* A 3 MB bulk announced, 2 MB sent, never finished. */
	kr_raw_sends(fd, "*3\r\n$3\r\nSET\r\n$5\r\nhugek\r\n$3000000\r\n");
	char *chunk = malloc(65536);
	memset(chunk, 'x', 65536);
	size_t sent = 0;
	int write_failed = 0;
	while (sent < 2 * 1024 * 1024 && !write_failed) {
		ssize_t n = write(fd, chunk, 65536);
		if (n <= 0) {
			cr_assert(n < 0 && (errno == EPIPE || errno == ECONNRESET),
				  "write failed neither by close nor reset: %s", strerror(errno));
			write_failed = 1;
		} else {
			sent += (size_t)n;
		}
	}
	free(chunk);
	if (!write_failed)
		cr_assert(kr_raw_closed(fd), "connection over client-query-buffer-limit not closed");
	close(fd);
	kr_status(by, "PONG", "PING");
	kr_bulk(by, "intact", "GET bystander");
	kr_nil(by, "GET hugek");
	redisFree(by);
}

Test(protocol, multibulk_of_1048577_elements)
{
	/* Redis 7 accepts any multibulk up to INT_MAX elements once the client
	 * is authenticated: EXISTS with 1,048,576 copies of one key. */
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "SET k v");
	const size_t nargs = 1048577;
	const char *item = "$1\r\nk\r\n";
	size_t len = 32 + 18 + (nargs - 1) * 7;
	char *buf = malloc(len);
	size_t off = (size_t)snprintf(buf, len, "*%zu\r\n$6\r\nEXISTS\r\n", nargs);
	for (size_t i = 1; i < nargs; i++, off += 7)
		memcpy(buf + off, item, 7);
	int fd = kr_raw_connect(&srv);
	kr_raw_send(fd, buf, off);
	free(buf);
	size_t n;
	char *got = kr_raw_read(fd, 1, &n);
	cr_assert_str_eq(got, ":1048576\r\n");
	free(got);
	kr_raw_expect(fd, "PING\r\n", 1, "+PONG\r\n");
	close(fd);
	redisFree(c);
}

Test(protocol, ten_megabyte_value)
{
	const size_t n = 10 * 1024 * 1024;
	unsigned char *val = malloc(n);
	unsigned seed = 12345;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		val[i] = (unsigned char)(seed >> 16);
	}
	memcpy(val + 1000, "\r\n\0$-1\r\n*", 9); /* protocol bytes inside the value */
	redisContext *c = kr_connect(&srv);
	kr_ok(c, "SET big %b", val, n);
	kr_int(c, (long long)n, "STRLEN big");
	redisReply *r = kr_cmd(c, "GET big");
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == n, "GET big: type %d len %zu", r->type, r->len);
	cr_assert(memcmp(r->str, val, n) == 0, "GET big: value differs from what was SET");
	freeReplyObject(r);
	/* And the connection is still in sync. */
	kr_status(c, "PONG", "PING");
	free(val);
	redisFree(c);
}

/* ---- fuzz ---- */

static unsigned fz_state;
static unsigned fz_rand(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 17;
	fz_state ^= fz_state << 5;
	return fz_state;
}

/* Fills buf with one of: random bytes, a mutated valid command, or random
 * RESP-shaped headers. Returns its length. Commands come from a harmless
 * set so a mutation cannot plausibly form FLUSHALL/SHUTDOWN/DEBUG. */
static size_t fz_make(char *buf, size_t cap)
{
	static const char *const seeds[] = {
		"*3\r\n$3\r\nSET\r\n$3\r\nfzk\r\n$5\r\nvalue\r\n", "*2\r\n$3\r\nGET\r\n$3\r\nfzk\r\n",
		"*2\r\n$4\r\nINCR\r\n$3\r\nfzc\r\n", "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
		"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", "SET fzk \"quoted value\"\r\n", "PING\r\n",
		"*3\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n",
	};
	size_t len = 0;
	switch (fz_rand() % 3) {
	case 0:
		len = 1 + fz_rand() % 256;
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)fz_rand();
		break;
	case 1: {
		const char *s = seeds[fz_rand() % (sizeof(seeds) / sizeof(seeds[0]))];
		int reps = 1 + (int)(fz_rand() % 4);
		for (int r = 0; r < reps && len + strlen(s) < cap; r++) {
			memcpy(buf + len, s, strlen(s));
			len += strlen(s);
		}
		int muts = 1 + (int)(fz_rand() % 3);
		for (int m = 0; m < muts; m++) {
			size_t at = fz_rand() % len;
			switch (fz_rand() % 4) {
			case 0: buf[at] = (char)fz_rand(); break;
			case 1: buf[at] = "0123456789-*$\r\n\""[fz_rand() % 16]; break;
			case 2: len = at + 1; break;            /* truncate */
			default: buf[at] ^= (char)(1u << (fz_rand() % 8)); break;
			}
		}
		break;
	}
	default: {
		static const char *const nums[] = { "0", "1", "-1", "2", "-2147483649", "99999999999999999999",
						    "4294967297", "", "+1", "1a", "536870912", "16" };
		int parts = 1 + (int)(fz_rand() % 6);
		for (int p = 0; p < parts && len + 64 < cap; p++) {
			char t = "*$+:-"[fz_rand() % 5];
			len += (size_t)snprintf(buf + len, cap - len, "%c%s\r\n", t,
						nums[fz_rand() % (sizeof(nums) / sizeof(nums[0]))]);
			if (fz_rand() % 2)
				len += (size_t)snprintf(buf + len, cap - len, "abc\r\n");
		}
		break;
	}
	}
	return len;
}

Test(protocol, garbage_fuzz_never_kills_server)
{
	const char *seed_env = getenv("KR_FUZZ_SEED");
	fz_state = seed_env != NULL ? (unsigned)strtoul(seed_env, NULL, 10) : 0x5eed1234u;
	if (fz_state == 0)
		fz_state = 1;
	unsigned seed = fz_state;
	redisContext *watch = kr_connect(&srv);
	kr_ok(watch, "SET sentinel alive");
	char buf[2048];
	const int rounds = 3000;
	for (int i = 0; i < rounds; i++) {
		size_t len = fz_make(buf, sizeof(buf));
		int fd = kr_raw_connect(&srv);
		struct timeval tv = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ssize_t w = write(fd, buf, len);
		(void)w; /* the server may already have closed: that is allowed */
		if (i % 4 == 0) {
			/* Sometimes read what came back (non-blocking) before closing. */
			char rb[512];
			while (recv(fd, rb, sizeof(rb), MSG_DONTWAIT) > 0)
				;
		}
		close(fd);
		if (i % 500 == 499) {
			cr_assert(kr_srv_alive(&srv), "server died during fuzz round %d (seed %u)", i, seed);
			kr_status(watch, "PONG", "PING");
		}
	}
	cr_assert(kr_srv_alive(&srv), "server died during fuzz (seed %u)", seed);
	kr_status(watch, "PONG", "PING");
	kr_bulk(watch, "alive", "GET sentinel");
	/* Every fuzz connection is eventually gone. */
	long long clients = -1;
	for (int i = 0; i < 250 && clients != 1; i++) {
		redisReply *r = kr_cmd(watch, "INFO clients");
		const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "connected_clients:") : NULL;
		clients = p != NULL ? atoll(p + 18) : -1;
		freeReplyObject(r);
		if (clients != 1)
			sleep_ms(20);
	}
	cr_assert_eq(clients, 1, "connected_clients after fuzz: %lld (seed %u)", clients, seed);
	redisFree(watch);
}

/* ---- error texts ---- */

Test(protocol, unknown_command_and_arity_errors)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "foo a b\r\n", 1, "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
	kr_raw_expect(fd, "foo\r\n", 1, "-ERR unknown command 'foo', with args beginning with: \r\n");
	kr_raw_expect(fd, "*2\r\n$3\r\nfoo\r\n$1\r\na\r\n", 1,
		   "-ERR unknown command 'foo', with args beginning with: 'a' \r\n");
	kr_raw_expect(fd, "GET\r\n", 1, "-ERR wrong number of arguments for 'get' command\r\n");
	kr_raw_expect(fd, "get a b\r\n", 1, "-ERR wrong number of arguments for 'get' command\r\n");
	kr_raw_expect(fd, "SET k\r\n", 1, "-ERR wrong number of arguments for 'set' command\r\n");
	/* Errors do not end the connection. */
	kr_raw_expect(fd, "PING\r\n", 1, "+PONG\r\n");
	close(fd);
}

/* ---- RESP3 ---- */

Test(protocol, resp3_after_hello3)
{
	int fd = kr_raw_connect(&srv);
	kr_raw_expect(fd, "GET nokey\r\n", 1, "$-1\r\n");
	kr_raw_sends(fd, "HELLO 3\r\n");
	size_t n;
	char *h = kr_raw_read(fd, 1, &n);
	cr_assert(strncmp(h, "%7\r\n", 4) == 0, "HELLO 3 is not a map: %s", h);
	free(h);
	kr_raw_expect(fd, "GET nokey\r\n", 1, "_\r\n");
	kr_raw_expect(fd, "CONFIG GET slowlog-max-len\r\n", 1, "%1\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n");
	kr_raw_expect(fd, "MGET nokey nokey2\r\n", 1, "*2\r\n_\r\n_\r\n");
	kr_raw_expect(fd, "SET k v\r\nGET k\r\nINCR n\r\n", 3, "+OK\r\n$1\r\nv\r\n:1\r\n");
	kr_raw_expect(fd, "GET\r\n", 1, "-ERR wrong number of arguments for 'get' command\r\n");
	/* Back to RESP2. */
	kr_raw_sends(fd, "HELLO 2\r\n");
	h = kr_raw_read(fd, 1, &n);
	cr_assert(strncmp(h, "*14\r\n", 5) == 0, "HELLO 2 is not a flat array: %s", h);
	free(h);
	kr_raw_expect(fd, "GET nokey\r\nCONFIG GET slowlog-max-len\r\n", 2,
		   "$-1\r\n*2\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n");
	close(fd);
}
