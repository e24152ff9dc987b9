/* Transactions and blocking under stress: a review suite that tries to break
 * shards/multi.c (shard locks, MULTI/EXEC/WATCH, split and coordinator
 * commands under the locks) and shards/block.c (blocked clients) with many
 * concurrent clients against the real server.
 *
 * Each test starts its own server and ends by stopping it and asserting a
 * clean exit: under the ASan+UBSan build a leak, a memory error or a
 * sanitizer report makes the server's exit status non-zero (and UBSan
 * reports in its stdio are checked too), so "the server kept serving and
 * leaked nothing" is part of every test.
 *
 * Threads never call Criterion asserts (not thread-safe): they record the
 * first failure with failf() and the test's own thread asserts at the end.
 * Every wait is bounded: hiredis and raw sockets carry timeouts, and a
 * reply that does not come within them is reported as a hang with the
 * command that was waiting. Randomness is seeded (rand_r with fixed seeds);
 * only thread interleavings vary between runs, and no assertion depends on
 * them (every check is an invariant or an exact per-client model).
 *
 * KR_SHARDS picks the shard count (1, 2, 3 ...): keys are chosen per shard
 * with the slot rule, so every multi-key command below spans shards when
 * there are several. With KR_SERVER_KIND=redis the deterministic tests run
 * against redis-server 7.0 to validate the expectations. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --------------------------------------------------------------- common */

#define WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define REPLY_TIMEOUT_S 30    /* a reply slower than this is a hang */

static bool is_redis(void)
{
	const char *k = getenv("KR_SERVER_KIND");
	return k && strcmp(k, "redis") == 0;
}

static unsigned nshards(void)
{
	if (is_redis())
		return 1;
	const char *v = getenv("KR_SHARDS");
	int n = v ? atoi(v) : 1;
	return n > 0 ? (unsigned)n : 1;
}

/* The nth key "<prefix><i>" on shard `shard` (mod the shard count). */
static void key_on(char *out, size_t outlen, const char *prefix, unsigned shard, int nth)
{
	unsigned n = nshards();
	kr_key_on_shard_of(out, outlen, prefix, shard % n, n, nth);
}

static long long now_ms(void)
{
	return (long long)kr_now_ms();
}

/* First failure seen by any thread; the test thread asserts on it. */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int nfail;
static char fail_msg[2048];

__attribute__((format(printf, 1, 2)))
static void failf(const char *fmt, ...)
{
	pthread_mutex_lock(&fail_mu);
	if (atomic_fetch_add(&nfail, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof fail_msg, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_mu);
}

static struct kr_srv srv;

/* The tail of the server's log files (crash reports). */
static void srv_log_tail(char *out, size_t outlen)
{
	out[0] = 0;
	const char *names[2] = { "stdio.log", "server.log" };
	for (int i = 0; i < 2; i++) {
		char path[320];
		snprintf(path, sizeof path, "%s/%s", srv.dir, names[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		long take = (long)(outlen / 2) - 64;
		fseek(f, sz > take ? sz - take : 0, SEEK_SET);
		size_t have = strlen(out);
		have += (size_t)snprintf(out + have, outlen - have, "---- %s ----\n", names[i]);
		size_t n = fread(out + have, 1, outlen - have - 1, f);
		out[have + n] = 0;
		fclose(f);
	}
}

static void assert_no_failures(void)
{
	if (atomic_load(&nfail) && !kr_srv_alive(&srv)) {
		static char tail[8192];
		srv_log_tail(tail, sizeof tail);
		cr_assert_fail("the server died; %d failure(s) in client threads, first: %s\n%s",
			       atomic_load(&nfail), fail_msg, tail);
	}
	cr_assert_eq(atomic_load(&nfail), 0, "%d failure(s) in client threads; first: %s",
		     atomic_load(&nfail), fail_msg);
}

/* The server must still run (else fail with its log's tail). */
static void assert_alive(void)
{
	if (kr_srv_alive(&srv))
		return;
	static char tail[8192];
	srv_log_tail(tail, sizeof tail);
	cr_assert_fail("the server died:\n%s", tail);
}

static void srv_up(const char *const *extra)
{
	/* Our port range; sanitizer reports go to the server's stdio log. */
	setenv("KR_PORT_MIN", "23900", 0);
	setenv("KR_PORT_MAX", "23989", 0);
	setenv("UBSAN_OPTIONS", "print_stacktrace=1", 0);
	kr_srv_start(&srv, extra);
}

/* UBSan (without halt_on_error) reports and goes on: look for reports in
 * the server's stdio before the directory goes away. */
static bool srv_log_has(const char *needle, char *line, size_t linelen)
{
	char path[320];
	snprintf(path, sizeof path, "%s/stdio.log", srv.dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && !found && fgets(line, (int)linelen, f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Stop the server; it must exit 0 (no crash, no sanitizer report, no leak
 * at exit). */
static void srv_down(void)
{
	char line[512] = "";
	bool ub = srv_log_has("runtime error", line, sizeof line);
	if (!kr_srv_alive(&srv)) {
		static char tail[8192];
		srv_log_tail(tail, sizeof tail);
		cr_assert_fail("the server died during the test:\n%s", tail);
	}
	int st = kr_srv_stop(&srv);
	cr_assert(!ub, "UBSan report in the server's output: %s", line);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "server exit status 0x%x: crash, sanitizer error or leak (log tail above)", st);
}

/* A client for a worker thread (no Criterion asserts): NULL on failure. */
static redisContext *tconnect(void)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(kr_srv_host(&srv), srv.port, tv);
	if (!c || c->err) {
		failf("connect: %s", c ? c->errstr : "NULL");
		if (c)
			redisFree(c);
		return NULL;
	}
	struct timeval rt = { REPLY_TIMEOUT_S, 0 };
	redisSetTimeout(c, rt);
	return c;
}

/* Split a command line on spaces and append it to c's pipeline. */
static void append_line(redisContext *c, const char *line)
{
	char buf[4096];
	const char *argv[128];
	size_t lens[128];
	int argc = 0;
	snprintf(buf, sizeof buf, "%s", line);
	for (char *p = buf; *p && argc < 128;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		argv[argc] = p;
		while (*p && *p != ' ')
			p++;
		lens[argc] = (size_t)(p - argv[argc]);
		argc++;
		if (*p)
			*p++ = 0;
	}
	redisAppendCommandArgv(c, argc, argv, lens);
}

/* Run one command line in a worker thread; NULL (and a failure recorded)
 * if no reply came. */
static redisReply *tcmd(redisContext *c, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	append_line(c, line);
	redisReply *r = NULL;
	if (redisGetReply(c, (void **)&r) != REDIS_OK) {
		failf("no reply to '%.200s' (hang or disconnect: %s)", line, c->errstr);
		return NULL;
	}
	return r;
}

/* Same, in the test's thread (asserts). */
__attribute__((format(printf, 2, 3)))
static redisReply *mcmd(redisContext *c, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	return kr_words(c, line);
}

/* Run a command line and compare its rendered reply with want. */
__attribute__((format(printf, 3, 4)))
static void mexpect(redisContext *c, const char *want, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	kr_expect_render(c, line, want);
}

/* An integer field of INFO (-1 if absent). */
static long long info_field(redisContext *c, const char *section, const char *field)
{
	redisReply *r = tcmd(c, "INFO %s", section);
	if (!r)
		return -1;
	long long v = -1;
	char pat[80];
	snprintf(pat, sizeof pat, "\n%s:", field);
	const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, pat) : NULL;
	if (!p && r->type == REDIS_REPLY_STRING && strncmp(r->str, pat + 1, strlen(pat + 1)) == 0)
		p = r->str - 1;
	if (p)
		v = atoll(p + strlen(pat));
	freeReplyObject(r);
	return v;
}

/* Poll INFO until field == want; false after timeout_ms. */
static bool wait_info(redisContext *c, const char *section, const char *field, long long want,
		      int timeout_ms, long long *last)
{
	long long deadline = now_ms() + timeout_ms, v = -1;
	for (;;) {
		v = info_field(c, section, field);
		if (v == want || now_ms() > deadline)
			break;
		kr_sleep_ms(5);
	}
	if (last)
		*last = v;
	return v == want;
}

/* ------------------------------------------------------ raw connections */

/* A raw client socket for worker threads: -1 on failure. */
static int raw_open(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port) };
	if (inet_pton(AF_INET, kr_srv_host(&srv), &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = { REPLY_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

static int raw_write(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append a command line (split on spaces) to b in RESP. */
static void resp_line(struct kr_sb *b, const char *line)
{
	const char *w[128];
	size_t l[128];
	int n = 0;
	for (const char *p = line; *p && n < 128;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		w[n] = p;
		while (*p && *p != ' ')
			p++;
		l[n] = (size_t)(p - w[n]);
		n++;
	}
	kr_sb_fmt(b, "*%d\r\n", n);
	for (int i = 0; i < n; i++) {
		kr_sb_fmt(b, "$%zu\r\n", l[i]);
		kr_sb_add(b, w[i], l[i]);
		kr_sb_add(b, "\r\n", 2);
	}
}

__attribute__((format(printf, 2, 3)))
static void resp_fmt(struct kr_sb *b, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	resp_line(b, line);
}

/* Read from fd into b until it holds `want` complete replies (counted from
 * *off) or EOF/timeout. Returns the number of complete replies now held
 * past *off (advancing *off over them); -1 on a malformed reply. */
static int raw_collect(int fd, struct kr_sb *b, size_t *off, int want, bool *eof)
{
	int have = 0;
	*eof = false;
	for (;;) {
		while (have < want) {
			long l = kr_raw_value_len(b->s ? b->s + *off : "", b->len - *off);
			if (l < 0)
				return -1;
			if (l == 0)
				break;
			*off += (size_t)l;
			have++;
		}
		if (have >= want)
			return have;
		char tmp[65536];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n <= 0) {
			*eof = n == 0 || errno == ECONNRESET;
			return have;
		}
		kr_sb_add(b, tmp, (size_t)n);
	}
}

/* After all expected replies: the server must close (EOF) and send
 * nothing more. 1 closed, 0 more bytes came, -1 timeout. */
static int raw_expect_eof(int fd)
{
	char b[256];
	ssize_t n = recv(fd, b, sizeof b, 0);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 1;
	return n > 0 ? 0 : -1;
}

/* Read exactly one reply from a raw socket into a fresh string (NULL on
 * EOF/timeout). */
static char *raw_one(int fd)
{
	struct kr_sb b = {0};
	size_t off = 0;
	bool eof;
	if (raw_collect(fd, &b, &off, 1, &eof) != 1) {
		free(b.s);
		return NULL;
	}
	b.s[off] = 0;
	return b.s;
}

TestSuite(txnstress, .timeout = 240);

/* ------------------------------------------- MULTI edge cases (exact) */

/* k[i] lives on shard i % nshards: consecutive keys are on different
 * shards whenever there are several. */
static char ek[8][32];

static void edge_keys(void)
{
	for (int i = 0; i < 8; i++)
		key_on(ek[i], sizeof ek[i], "ed", (unsigned)i, i / (int)nshards());
}

/* Append every line, then check each reply in order. */
static void pipeline_expect(redisContext *c, int n, const char *const *lines, const char *const *want)
{
	for (int i = 0; i < n; i++)
		append_line(c, lines[i]);
	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK, "no reply to '%s': %s", lines[i], c->errstr);
		struct kr_sb b = {0};
		kr_render(&b, r);
		cr_assert_str_eq(b.s, want[i], "'%s'\n  want %s\n  got  %s", lines[i], want[i], b.s);
		free(b.s);
		freeReplyObject(r);
	}
}

Test(txnstress, multi_errors_discard_nesting)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	char l[16][128];
	/* Queue-time errors abort the whole transaction. */
	snprintf(l[0], 128, "SET %s a", ek[0]);
	snprintf(l[1], 128, "SET %s b", ek[1]);
	const char *q1[] = { "MULTI", l[0], "NOSUCHCMD x", "GET", l[1], "EXEC" };
	const char *w1[] = { "+OK", "+QUEUED",
			     "-ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ",
			     "-ERR wrong number of arguments for 'get' command", "+QUEUED",
			     "-EXECABORT Transaction discarded because of previous errors." };
	pipeline_expect(c, 6, q1, w1);
	mexpect(c, ":0", "EXISTS %s %s", ek[0], ek[1]);

	/* Run-time errors do not stop the others. */
	mexpect(c, ":1", "RPUSH %s x", ek[2]);
	snprintf(l[0], 128, "SET %s 1", ek[0]);
	snprintf(l[1], 128, "INCR %s", ek[2]);
	snprintf(l[2], 128, "LPUSH %s y", ek[0]);
	snprintf(l[3], 128, "INCR %s", ek[0]);
	snprintf(l[4], 128, "MSET %s a %s b", ek[1], ek[3]);
	const char *q2[] = { "MULTI", l[0], l[1], l[2], l[3], l[4], "EXEC" };
	const char *w2[] = { "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "*5[+OK," WRONGTYPE "," WRONGTYPE ",:2,+OK]" };
	pipeline_expect(c, 7, q2, w2);
	mexpect(c, "*3[$2,$a,$b]", "MGET %s %s %s", ek[0], ek[1], ek[3]);

	/* Misplaced EXEC/DISCARD, nested MULTI and WATCH inside MULTI are
	 * errors that leave the open transaction intact. */
	snprintf(l[0], 128, "SET %s q", ek[4]);
	snprintf(l[1], 128, "WATCH %s", ek[4]);
	snprintf(l[2], 128, "SET %s r", ek[5]);
	snprintf(l[3], 128, "DEL %s %s", ek[4], ek[5]);
	snprintf(l[4], 128, "MGET %s %s", ek[4], ek[5]);
	const char *q3[] = { "EXEC", "DISCARD", "MULTI", l[0], "MULTI", l[1], l[2], "EXEC",
			     "MULTI", l[3], "DISCARD", l[4], "DISCARD" };
	const char *w3[] = { "-ERR EXEC without MULTI", "-ERR DISCARD without MULTI", "+OK", "+QUEUED",
			     "-ERR MULTI calls can not be nested", "-ERR WATCH inside MULTI is not allowed",
			     "+QUEUED", "*2[+OK,+OK]", "+OK", "+QUEUED", "+OK", "*2[$q,$r]",
			     "-ERR DISCARD without MULTI" };
	pipeline_expect(c, 13, q3, w3);
	redisFree(c);
	srv_down();
}

/* One EXEC of hundreds of commands over keys of every shard, including
 * split commands and coordinators, checked reply by reply. */
Test(txnstress, exec_hundreds_of_commands_on_every_shard)
{
	srv_up(NULL);
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	enum { NK = 120 };
	char (*k)[32] = calloc(NK, 32);
	for (int i = 0; i < NK; i++)
		key_on(k[i], 32, "big", (unsigned)i, i / (int)nshards());
	struct kr_sb want = {0};
	int nq = 0;
	append_line(c, "MULTI");
	char line[512];
	for (int i = 0; i < NK; i++, nq++) {
		snprintf(line, sizeof line, "SET %s %d", k[i], i);
		append_line(c, line);
		kr_sb_fmt(&want, "%s+OK", nq ? "," : "");
	}
	for (int i = 0; i < NK; i++, nq++) {
		snprintf(line, sizeof line, "INCRBY %s %d", k[i], i);
		append_line(c, line);
		kr_sb_fmt(&want, ",:%d", 2 * i);
	}
	for (int i = 0; i + 3 < NK; i += 4, nq++) {
		snprintf(line, sizeof line, "MGET %s %s %s %s", k[i], k[i + 1], k[i + 2], k[i + 3]);
		append_line(c, line);
		kr_sb_fmt(&want, ",*4[$%d,$%d,$%d,$%d]", 2 * i, 2 * (i + 1), 2 * (i + 2), 2 * (i + 3));
	}
	/* A rotation by RENAME through a spare name: k0 -> t, k1 -> k0, ... */
	char spare[32];
	key_on(spare, sizeof spare, "bigspare", 1, 0);
	snprintf(line, sizeof line, "RENAME %s %s", k[0], spare);
	append_line(c, line);
	kr_sb_fmt(&want, ",+OK");
	nq++;
	for (int i = 1; i < 40; i++, nq++) {
		snprintf(line, sizeof line, "RENAME %s %s", k[i], k[i - 1]);
		append_line(c, line);
		kr_sb_fmt(&want, ",+OK");
	}
	snprintf(line, sizeof line, "RENAME %s %s", spare, k[39]);
	append_line(c, line);
	kr_sb_fmt(&want, ",+OK");
	nq++;
	for (int i = 40; i + 1 < 80; i += 2, nq += 3) {
		snprintf(line, sizeof line, "MSETNX %s x %s y", k[i], k[i + 1]);
		append_line(c, line);
		snprintf(line, sizeof line, "DEL %s %s", k[i], k[i + 1]);
		append_line(c, line);
		snprintf(line, sizeof line, "MSETNX %s x %s y", k[i], k[i + 1]);
		append_line(c, line);
		kr_sb_fmt(&want, ",:0,:2,:1");
	}
	for (int i = 80; i < NK; i++, nq += 2) {
		snprintf(line, sizeof line, "COPY %s %s", k[i], k[i - 80]);
		append_line(c, line);
		snprintf(line, sizeof line, "EXISTS %s %s %s", k[i], k[i - 80], k[i - 1]);
		append_line(c, line);
		kr_sb_fmt(&want, ",:0,:3");
	}
	append_line(c, "EXEC");
	redisReply *r;
	cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
	cr_assert_eq(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	for (int i = 0; i < nq; i++) {
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK, "no reply for queued command %d", i);
		cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "QUEUED") == 0,
			  "queued command %d: got type %d %s", i, r->type, r->str ? r->str : "");
		freeReplyObject(r);
	}
	cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK, "no EXEC reply");
	struct kr_sb got = {0};
	kr_render(&got, r);
	freeReplyObject(r);
	struct kr_sb full = {0};
	kr_sb_fmt(&full, "*%d[", nq);
	kr_sb_add(&full, want.s, want.len);
	kr_sb_add(&full, "]", 1);
	if (strcmp(full.s, got.s) != 0) {
		size_t i = 0;
		while (full.s[i] && full.s[i] == got.s[i])
			i++;
		cr_assert_fail("EXEC reply differs at byte %zu:\n  want ...%.120s\n  got  ...%.120s", i,
			       full.s + (i > 40 ? i - 40 : 0), got.s + (i > 40 ? i - 40 : 0));
	}
	/* The rotation as seen by another client afterwards. */
	for (int i = 0; i < 39; i++) {
		snprintf(line, sizeof line, "$%d", 2 * (i + 1));
		mexpect(o, line, "GET %s", k[i]);
	}
	mexpect(o, "$0", "GET %s", k[39]);
	mexpect(o, "$x", "GET %s", k[40]);
	mexpect(o, ":0", "EXISTS %s", spare);
	free(k);
	free(got.s);
	free(full.s);
	free(want.s);
	redisFree(c);
	redisFree(o);
	srv_down();
}

Test(txnstress, select_flush_swapdb_scan_inside_multi)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	char l[16][256];
	/* SELECT inside MULTI: later commands of the same EXEC, on every
	 * shard, use the new db; the client stays in the last one selected. */
	snprintf(l[0], 256, "SET %s a", ek[0]);
	snprintf(l[1], 256, "SET %s b", ek[1]);
	snprintf(l[2], 256, "MSET %s c %s d", ek[2], ek[3]);
	snprintf(l[3], 256, "RENAME %s %s", ek[0], ek[5]);
	snprintf(l[4], 256, "COPY %s %s DB 4", ek[1], ek[4]);
	snprintf(l[5], 256, "MGET %s %s %s %s %s", ek[0], ek[1], ek[2], ek[3], ek[5]);
	snprintf(l[6], 256, "GET %s", ek[1]);
	snprintf(l[7], 256, "GET %s", ek[4]);
	const char *q1[] = { "FLUSHALL", "MULTI", "SELECT 3", l[0], l[1], l[2], l[3], l[4], "SELECT 5", l[6],
			     "EXEC", l[5], "SELECT 3", l[5], "SELECT 4", l[7], "SELECT 0", "DBSIZE" };
	const char *w1[] = { "+OK", "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "+QUEUED", "+QUEUED", "*8[+OK,+OK,+OK,+OK,+OK,:1,+OK,nil]",
			     "*5[nil,nil,nil,nil,nil]", "+OK", "*5[nil,$b,$c,$d,$a]", "+OK", "$b", "+OK", ":0" };
	pipeline_expect(c, 18, q1, w1);

	/* SWAPDB, FLUSHDB and FLUSHALL inside MULTI. */
	snprintf(l[0], 256, "MSET %s 1 %s 2 %s 3", ek[0], ek[1], ek[2]);
	snprintf(l[1], 256, "MGET %s %s %s", ek[0], ek[1], ek[2]);
	snprintf(l[2], 256, "SET %s x", ek[3]);
	snprintf(l[3], 256, "EXISTS %s", ek[3]);
	const char *q2[] = { "FLUSHALL", l[0], "MULTI", "SWAPDB 0 1", "DBSIZE", "SELECT 1", l[1], "FLUSHDB",
			     "DBSIZE", "SELECT 0", l[2], "FLUSHALL", l[3], "EXEC", "DBSIZE", "SELECT 1", "DBSIZE",
			     "SELECT 0" };
	const char *w2[] = { "+OK", "+OK", "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "*10[+OK,:0,+OK,*3[$1,$2,$3],+OK,:0,+OK,+OK,+OK,:0]", ":0", "+OK", ":0", "+OK" };
	pipeline_expect(c, 18, q2, w2);

	/* SCAN inside MULTI, a cursor walk of EXECs: every key is seen. */
	enum { NS = 40 };
	char sk[NS][32];
	for (int i = 0; i < NS; i++) {
		key_on(sk[i], sizeof sk[i], "scan", (unsigned)i, i / (int)nshards());
		mexpect(c, "+OK", "SET %s %d", sk[i], i);
	}
	bool seen[NS] = { false };
	char cursor[32] = "0";
	int iters = 0;
	do {
		append_line(c, "MULTI");
		char line[96];
		snprintf(line, sizeof line, "SCAN %s COUNT 7", cursor);
		append_line(c, line);
		append_line(c, "DBSIZE");
		append_line(c, "EXEC");
		redisReply *r;
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
			freeReplyObject(r);
		}
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "EXEC of SCAN: type %d", r->type);
		redisReply *s = r->element[0];
		cr_assert(s->type == REDIS_REPLY_ARRAY && s->elements == 2);
		cr_assert_eq(r->element[1]->integer, NS);
		snprintf(cursor, sizeof cursor, "%s", s->element[0]->str);
		for (size_t j = 0; j < s->element[1]->elements; j++) {
			int idx = -1;
			for (int x = 0; x < NS; x++)
				if (strcmp(sk[x], s->element[1]->element[j]->str) == 0)
					idx = x;
			cr_assert(idx >= 0, "SCAN returned an unknown key %s", s->element[1]->element[j]->str);
			seen[idx] = true;
		}
		freeReplyObject(r);
		cr_assert_lt(++iters, 1000, "SCAN inside MULTI never returned cursor 0");
	} while (strcmp(cursor, "0") != 0);
	for (int i = 0; i < NS; i++)
		cr_assert(seen[i], "SCAN inside MULTI never returned %s", sk[i]);

	/* Coordinators chained inside one EXEC. */
	mexpect(c, "+OK", "FLUSHALL");
	snprintf(l[0], 256, "SET %s v", ek[0]);
	snprintf(l[1], 256, "RENAME %s %s", ek[0], ek[1]);
	snprintf(l[2], 256, "RENAME %s %s", ek[1], ek[2]);
	snprintf(l[3], 256, "COPY %s %s", ek[2], ek[3]);
	snprintf(l[4], 256, "GET %s", ek[3]);
	snprintf(l[5], 256, "MSETNX %s 1 %s 2", ek[4], ek[3]);
	snprintf(l[6], 256, "MSETNX %s 1 %s 2", ek[4], ek[5]);
	snprintf(l[7], 256, "RENAMENX %s %s", ek[2], ek[4]);
	snprintf(l[8], 256, "RENAMENX %s %s", ek[2], ek[0]);
	snprintf(l[9], 256, "LPUSH %s a b", ek[1]);
	snprintf(l[10], 256, "LMOVE %s %s LEFT LEFT", ek[1], ek[5]);
	snprintf(l[11], 256, "LMOVE %s %s RIGHT LEFT", ek[1], ek[2]);
	snprintf(l[12], 256, "MGET %s %s %s %s %s %s", ek[0], ek[1], ek[2], ek[3], ek[4], ek[5]);
	const char *q3[] = { "MULTI", l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], l[8], l[9], l[10], l[11],
			     l[12], "EXEC" };
	const char *w3[] = { "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			     "*13[+OK,+OK,+OK,:1,$v,:0,:1,:0,:1,:2," WRONGTYPE ",$a,*6[$v,nil,nil,$v,$1,$2]]" };
	pipeline_expect(c, 15, q3, w3);
	mexpect(o, "*1[$b]", "LRANGE %s 0 -1", ek[1]);
	mexpect(o, "*1[$a]", "LRANGE %s 0 -1", ek[2]);
	redisFree(c);
	redisFree(o);
	srv_down();
}

/* WATCH on keys of every shard, invalidated (or not) by other clients,
 * including a key created and deleted again, and a client killing itself
 * inside EXEC (the transaction still runs whole). */
Test(txnstress, watch_remote_keys_and_self_kill)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	mexpect(c, "+OK", "MSET %s 1 %s 2 %s 3", ek[0], ek[1], ek[2]);
	/* Modified by another client: nil, nothing runs. */
	mexpect(c, "+OK", "WATCH %s %s %s", ek[0], ek[1], ek[2]);
	mexpect(o, "+OK", "SET %s changed", ek[2]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "SET %s fromtx", ek[0]);
	mexpect(c, "nil", "EXEC");
	mexpect(o, "$1", "GET %s", ek[0]);
	/* Only read by another client: runs. */
	mexpect(c, "+OK", "WATCH %s %s %s", ek[0], ek[1], ek[2]);
	mexpect(o, "*3[$1,$2,$changed]", "MGET %s %s %s", ek[0], ek[1], ek[2]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "SET %s fromtx", ek[0]);
	mexpect(c, "*1[+OK]", "EXEC");
	/* Created and deleted again: modified. */
	mexpect(c, "+OK", "WATCH %s %s", ek[3], ek[4]);
	mexpect(o, "+OK", "SET %s tmp", ek[4]);
	mexpect(o, ":1", "DEL %s", ek[4]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "SET %s fromtx", ek[3]);
	mexpect(c, "nil", "EXEC");
	mexpect(o, ":0", "EXISTS %s", ek[3]);
	/* Modified by a cross-shard RENAME (coordinator), as destination. */
	mexpect(c, "+OK", "WATCH %s", ek[5]);
	mexpect(o, "+OK", "RENAME %s %s", ek[1], ek[5]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "GET %s", ek[5]);
	mexpect(c, "nil", "EXEC");
	/* UNWATCH forgets remote watches. */
	mexpect(c, "+OK", "WATCH %s %s", ek[5], ek[6]);
	mexpect(c, "+OK", "UNWATCH");
	mexpect(o, "+OK", "MSET %s a %s b", ek[5], ek[6]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "MGET %s %s", ek[5], ek[6]);
	mexpect(c, "*1[*2[$a,$b]]", "EXEC");

	/* A client that kills itself inside EXEC: the transaction is atomic,
	 * so every command of it runs, and the server goes on. */
	redisContext *k = kr_connect(&srv);
	redisReply *r = mcmd(k, "CLIENT ID");
	long long id = r->integer;
	freeReplyObject(r);
	char l[4][128];
	snprintf(l[0], 128, "SET %s a", ek[0]);
	snprintf(l[1], 128, "CLIENT KILL ID %lld SKIPME no", id);
	snprintf(l[2], 128, "MSET %s b %s c", ek[1], ek[2]);
	append_line(k, "MULTI");
	append_line(k, l[0]);
	append_line(k, l[1]);
	append_line(k, l[2]);
	append_line(k, "EXEC");
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(redisGetReply(k, (void **)&r), REDIS_OK);
		freeReplyObject(r);
	}
	/* Redis sends part of the EXEC reply before closing; keyrail closes
	 * at once. Either way the connection ends. */
	while (redisGetReply(k, (void **)&r) == REDIS_OK)
		freeReplyObject(r);
	redisFree(k);
	mexpect(o, "*3[$a,$b,$c]", "MGET %s %s %s", ek[0], ek[1], ek[2]);
	redisFree(c);
	redisFree(o);
	srv_down();
}

/* ------------------------------------ CLIENT REPLY with transactions */

/* CLIENT REPLY OFF/SKIP suppress the replies of MULTI/EXEC too: nothing
 * of an EXEC (its array, its commands' replies, the null of a failed
 * WATCH) reaches a client that turned replies off. */
Test(txnstress, client_reply_off_covers_exec)
{
	srv_up(NULL);
	edge_keys();
	int fd = kr_raw_connect(&srv);
	struct kr_sb b = {0};
	resp_line(&b, "CLIENT REPLY OFF");
	resp_line(&b, "MULTI");
	resp_fmt(&b, "MSET %s 1 %s 2 %s 3", ek[0], ek[1], ek[2]);
	resp_fmt(&b, "RENAME %s %s", ek[0], ek[5]);
	resp_line(&b, "EXEC");
	resp_fmt(&b, "MGET %s %s", ek[5], ek[1]);
	resp_line(&b, "CLIENT REPLY ON");
	resp_fmt(&b, "MGET %s %s %s", ek[5], ek[1], ek[2]);
	kr_raw_expect(fd, b.s, 2, "+OK\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
	/* SKIP before MULTI drops only MULTI's +OK. */
	kr_sb_reset(&b);
	resp_line(&b, "CLIENT REPLY SKIP");
	resp_line(&b, "MULTI");
	resp_fmt(&b, "SET %s x", ek[3]);
	resp_line(&b, "EXEC");
	kr_raw_expect(fd, b.s, 2, "+QUEUED\r\n*1\r\n+OK\r\n");
	/* A WATCH that fails while replies are off: no null either. */
	kr_raw_expect(fd, "WATCH k\r\n", 1, "+OK\r\n");
	redisContext *o = kr_connect(&srv);
	mexpect(o, "+OK", "SET k changed");
	kr_sb_reset(&b);
	resp_line(&b, "CLIENT REPLY OFF");
	resp_line(&b, "MULTI");
	resp_fmt(&b, "GET %s", ek[1]);
	resp_line(&b, "EXEC");
	resp_line(&b, "CLIENT REPLY ON");
	resp_line(&b, "PING");
	kr_raw_expect(fd, b.s, 2, "+OK\r\n+PONG\r\n");
	free(b.s);
	close(fd);
	redisFree(o);
	srv_down();
}

/* -------------------------------------- keyspace-wide writes vs. waiters */

/* SWAPDB makes keys appear in a db: clients blocked on them there are
 * served, as in Redis (blocked on one key, and on keys of two shards). */
Test(txnstress, swapdb_serves_blocked_clients)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	int b1 = kr_raw_connect(&srv), b2 = kr_raw_connect(&srv);
	struct timeval tv = { 5, 0 };   /* a client not woken fails sooner */
	setsockopt(b1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(b2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct kr_sb b = {0};
	resp_fmt(&b, "BLPOP %s 0", ek[0]);
	kr_raw_sends(b1, b.s);
	kr_sb_reset(&b);
	resp_fmt(&b, "BLPOP %s %s 0", ek[1], ek[2]);
	kr_raw_sends(b2, b.s);
	long long last;
	cr_assert(wait_info(c, "clients", "blocked_clients", 2, 10000, &last), "blocked_clients %lld, want 2", last);
	mexpect(c, "+OK", "SELECT 1");
	mexpect(c, ":1", "RPUSH %s x", ek[0]);
	mexpect(c, ":1", "RPUSH %s y", ek[2]);
	mexpect(c, "+OK", "SWAPDB 0 1");
	char *r1 = raw_one(b1), *r2 = raw_one(b2);
	char w1[128], w2[128];
	snprintf(w1, sizeof w1, "*2\r\n$%zu\r\n%s\r\n$1\r\nx\r\n", strlen(ek[0]), ek[0]);
	snprintf(w2, sizeof w2, "*2\r\n$%zu\r\n%s\r\n$1\r\ny\r\n", strlen(ek[2]), ek[2]);
	cr_assert(r1 && strcmp(r1, w1) == 0, "client blocked on %s after SWAPDB got %s",
		  ek[0], r1 ? r1 : "no reply (still blocked)");
	cr_assert(r2 && strcmp(r2, w2) == 0, "client blocked on %s %s after SWAPDB got %s",
		  ek[1], ek[2], r2 ? r2 : "no reply (still blocked)");
	free(r1);
	free(r2);
	free(b.s);
	close(b1);
	close(b2);
	redisFree(c);
	srv_down();
}

/* WATCH fails only when a watched key is modified: a multi-key write
 * that only reads a watched key (ZUNIONSTORE's sources, here on other
 * shards or the same one) leaves the WATCH intact, as in Redis. */
Test(txnstress, watch_not_failed_by_reading_writes)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	mexpect(c, ":2", "ZADD %s 1 a 2 b", ek[0]);
	mexpect(c, ":2", "ZADD %s 1 b 3 d", ek[1]);
	mexpect(c, "+OK", "WATCH %s %s", ek[0], ek[1]);
	mexpect(o, ":3", "ZUNIONSTORE %s 2 %s %s", ek[2], ek[0], ek[1]);
	mexpect(o, ":1", "ZINTERSTORE %s 2 %s %s", ek[3], ek[0], ek[1]);
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "ZCARD %s", ek[0]);
	mexpect(c, "*1[:2]", "EXEC");
	redisFree(c);
	redisFree(o);
	srv_down();
}

/* FLUSHDB and SWAPDB fail a WATCH only if the watched key exists in a db
 * they empty or replace (Redis 7.0 touchAllWatchedKeysInDb). */
Test(txnstress, watch_not_failed_by_flush_of_other_keys)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv), *o = kr_connect(&srv);
	mexpect(o, "+OK", "SET %s 1", ek[1]);
	mexpect(c, "+OK", "WATCH %s", ek[3]);
	mexpect(o, "+OK", "FLUSHDB");
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "SET %s 1", ek[3]);
	mexpect(c, "*1[+OK]", "EXEC");

	mexpect(c, "+OK", "WATCH %s", ek[4]);
	mexpect(o, "+OK", "SELECT 1");
	mexpect(o, "+OK", "SET %s 1", ek[5]);
	mexpect(o, "+OK", "SWAPDB 0 1");
	mexpect(c, "+OK", "MULTI");
	mexpect(c, "+QUEUED", "SET %s 1", ek[4]);
	mexpect(c, "*1[+OK]", "EXEC");
	redisFree(c);
	redisFree(o);
	srv_down();
}

/* ---------------------------------------------- per-client exact model */

/* Each model client owns MK keys spread over every shard (no other client
 * touches them), so the reply to every command it pipelines is known
 * exactly, whatever the other clients do meanwhile. Values are strings or
 * lists; the generator applies each command to the model as it emits it
 * and records the expected reply in kr_render's text form. */
enum { MK = 9, LMAX = 40, MODEL_OPS = 400 };
enum { T_NONE, T_STR, T_LIST };

struct mkey {
	char name[40];
	int type;
	char s[24];
	int n;
	char l[LMAX][12];
};

struct model {
	struct mkey k[MK];
	unsigned seed;
	int elem;                     /* next list element id */
	int cid;
};

struct mcmd {
	char line[512];
	char want[1024];
};

struct mprog {
	struct mcmd *v;
	int n, cap;
};

static struct mcmd *prog_add(struct mprog *p)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->v = realloc(p->v, sizeof(*p->v) * (size_t)p->cap);
		if (!p->v)
			abort();
	}
	struct mcmd *c = &p->v[p->n++];
	c->line[0] = c->want[0] = 0;
	return c;
}

#define WADD(buf, ...) snprintf((buf) + strlen(buf), sizeof(buf) - strlen(buf), __VA_ARGS__)
#define WADDW(...) snprintf(w + strlen(w), wl - strlen(w), __VA_ARGS__)

static int rnd(struct model *m, int n) { return rand_r(&m->seed) % n; }

static void model_init(struct model *m, int cid, unsigned seed)
{
	memset(m, 0, sizeof *m);
	m->cid = cid;
	m->seed = seed;
	for (int i = 0; i < MK; i++) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "mc%d_%d_", cid, i);
		key_on(m->k[i].name, sizeof m->k[i].name, prefix, (unsigned)i, 0);
	}
}

static void want_str(char *w, size_t wl, const struct mkey *k)
{
	snprintf(w + strlen(w), wl - strlen(w), "$%s", k->s);
}

static void list_push(struct mkey *k, bool left, const char *e)
{
	if (left) {
		memmove(k->l[1], k->l[0], sizeof(k->l[0]) * (size_t)k->n);
		snprintf(k->l[0], sizeof k->l[0], "%s", e);
	} else {
		snprintf(k->l[k->n], sizeof k->l[0], "%s", e);
	}
	k->n++;
	k->type = T_LIST;
}

static void list_pop(struct mkey *k, bool left, char *out)
{
	if (left) {
		snprintf(out, 12, "%s", k->l[0]);
		memmove(k->l[0], k->l[1], sizeof(k->l[0]) * (size_t)(k->n - 1));
	} else {
		snprintf(out, 12, "%s", k->l[k->n - 1]);
	}
	if (--k->n == 0)
		k->type = T_NONE;
}

/* One plain command (no MULTI/WATCH) applied to m; line and expected
 * reply written to c. */
static void gen_simple(struct model *m, struct mcmd *c)
{
	int op = rnd(m, 100);
	struct mkey *a = &m->k[rnd(m, MK)], *b = &m->k[rnd(m, MK)];
	char *w = c->want;
	size_t wl = sizeof c->want;
	if (op < 10) {                                   /* SET */
		struct mkey *k = a;
		if (rnd(m, 2))
			snprintf(k->s, sizeof k->s, "%d", rnd(m, 1000));
		else
			snprintf(k->s, sizeof k->s, "v%d", rnd(m, 100000));
		k->type = T_STR;
		k->n = 0;
		snprintf(c->line, sizeof c->line, "SET %s %s", k->name, k->s);
		snprintf(w, wl, "+OK");
	} else if (op < 18) {                            /* GET */
		snprintf(c->line, sizeof c->line, "GET %s", a->name);
		if (a->type == T_NONE)
			snprintf(w, wl, "nil");
		else if (a->type == T_LIST)
			snprintf(w, wl, WRONGTYPE);
		else
			want_str(w, wl, a);
	} else if (op < 22) {                            /* INCR */
		snprintf(c->line, sizeof c->line, "INCR %s", a->name);
		if (a->type == T_LIST) {
			snprintf(w, wl, WRONGTYPE);
		} else {
			char *end;
			long long v = a->type == T_NONE ? 0 : strtoll(a->s, &end, 10);
			if (a->type == T_STR && (*end || !a->s[0])) {
				snprintf(w, wl, "-ERR value is not an integer or out of range");
			} else {
				snprintf(a->s, sizeof a->s, "%lld", v + 1);
				a->type = T_STR;
				snprintf(w, wl, ":%lld", v + 1);
			}
		}
	} else if (op < 28) {                            /* MSET */
		int n = 2 + rnd(m, 3);
		snprintf(c->line, sizeof c->line, "MSET");
		for (int i = 0; i < n; i++) {
			struct mkey *k = &m->k[rnd(m, MK)];
			snprintf(k->s, sizeof k->s, "m%d", rnd(m, 100000));
			k->type = T_STR;
			k->n = 0;
			WADD(c->line, " %s %s", k->name, k->s);
		}
		snprintf(w, wl, "+OK");
	} else if (op < 34) {                            /* MGET */
		int n = 2 + rnd(m, 3);
		snprintf(c->line, sizeof c->line, "MGET");
		snprintf(w, wl, "*%d[", n);
		for (int i = 0; i < n; i++) {
			struct mkey *k = &m->k[rnd(m, MK)];
			WADD(c->line, " %s", k->name);
			if (i)
				WADDW(",");
			if (k->type == T_STR)
				want_str(w, wl, k);
			else
				WADDW("nil");
		}
		WADDW("]");
	} else if (op < 38) {                            /* DEL */
		int n = 1 + rnd(m, 3), del = 0;
		snprintf(c->line, sizeof c->line, "DEL");
		for (int i = 0; i < n; i++) {
			struct mkey *k = &m->k[rnd(m, MK)];
			WADD(c->line, " %s", k->name);
			if (k->type != T_NONE)
				del++;
			k->type = T_NONE;
			k->n = 0;
		}
		snprintf(w, wl, ":%d", del);
	} else if (op < 41) {                            /* EXISTS */
		int n = 1 + rnd(m, 3), ex = 0;
		snprintf(c->line, sizeof c->line, "EXISTS");
		for (int i = 0; i < n; i++) {
			struct mkey *k = &m->k[rnd(m, MK)];
			WADD(c->line, " %s", k->name);
			ex += k->type != T_NONE;
		}
		snprintf(w, wl, ":%d", ex);
	} else if (op < 47) {                            /* RENAME */
		snprintf(c->line, sizeof c->line, "RENAME %s %s", a->name, b->name);
		if (a->type == T_NONE) {
			snprintf(w, wl, "-ERR no such key");
		} else {
			if (a != b) {
				char name[40];
				memcpy(name, b->name, sizeof name);
				*b = *a;
				memcpy(b->name, name, sizeof name);
				a->type = T_NONE;
				a->n = 0;
			}
			snprintf(w, wl, "+OK");
		}
	} else if (op < 49) {                            /* RENAMENX */
		snprintf(c->line, sizeof c->line, "RENAMENX %s %s", a->name, b->name);
		if (a->type == T_NONE) {
			snprintf(w, wl, "-ERR no such key");
		} else if (a == b || b->type != T_NONE) {
			snprintf(w, wl, ":0");
		} else {
			char name[40];
			memcpy(name, b->name, sizeof name);
			*b = *a;
			memcpy(b->name, name, sizeof name);
			a->type = T_NONE;
			a->n = 0;
			snprintf(w, wl, ":1");
		}
	} else if (op < 52) {                            /* COPY */
		if (a == b)
			b = &m->k[(a - m->k + 1) % MK];
		bool replace = rnd(m, 2);
		snprintf(c->line, sizeof c->line, "COPY %s %s%s", a->name, b->name, replace ? " REPLACE" : "");
		if (a->type == T_NONE || (b->type != T_NONE && !replace)) {
			snprintf(w, wl, ":0");
		} else {
			char name[40];
			memcpy(name, b->name, sizeof name);
			*b = *a;
			memcpy(b->name, name, sizeof name);
			snprintf(w, wl, ":1");
		}
	} else if (op < 55) {                            /* MSETNX */
		int n = 2 + rnd(m, 2);
		struct mkey *ks[4];
		bool any = false;
		snprintf(c->line, sizeof c->line, "MSETNX");
		for (int i = 0; i < n; i++) {
			ks[i] = &m->k[rnd(m, MK)];
			any |= ks[i]->type != T_NONE;
		}
		int v = rnd(m, 100000);
		for (int i = 0; i < n; i++) {
			WADD(c->line, " %s x%d", ks[i]->name, v + i);
			if (!any) {
				snprintf(ks[i]->s, sizeof ks[i]->s, "x%d", v + i);
				ks[i]->type = T_STR;
			}
		}
		snprintf(w, wl, ":%d", any ? 0 : 1);
	} else if (op < 66) {                            /* RPUSH / LPUSH */
		bool left = rnd(m, 3) == 0;
		int n = 1 + rnd(m, 3);
		if (a->type == T_STR) {
			snprintf(c->line, sizeof c->line, "%s %s e", left ? "LPUSH" : "RPUSH", a->name);
			snprintf(w, wl, WRONGTYPE);
			return;
		}
		if (a->n + n > LMAX) {
			char e[12];
			snprintf(c->line, sizeof c->line, "LPOP %s", a->name);
			list_pop(a, true, e);
			snprintf(w, wl, "$%s", e);
			return;
		}
		snprintf(c->line, sizeof c->line, "%s %s", left ? "LPUSH" : "RPUSH", a->name);
		for (int i = 0; i < n; i++) {
			char e[12];
			snprintf(e, sizeof e, "e%d", m->elem++);
			WADD(c->line, " %s", e);
			list_push(a, left, e);
		}
		snprintf(w, wl, ":%d", a->n);
	} else if (op < 71) {                            /* LPOP / RPOP */
		bool left = rnd(m, 2);
		snprintf(c->line, sizeof c->line, "%s %s", left ? "LPOP" : "RPOP", a->name);
		if (a->type == T_NONE) {
			snprintf(w, wl, "nil");
		} else if (a->type == T_STR) {
			snprintf(w, wl, WRONGTYPE);
		} else {
			char e[12];
			list_pop(a, left, e);
			snprintf(w, wl, "$%s", e);
		}
	} else if (op < 80) {                            /* LMOVE / RPOPLPUSH */
		bool from_left = rnd(m, 2), to_left = rnd(m, 2);
		if (rnd(m, 4) == 0) {
			from_left = false;
			to_left = true;
			snprintf(c->line, sizeof c->line, "RPOPLPUSH %s %s", a->name, b->name);
		} else {
			snprintf(c->line, sizeof c->line, "LMOVE %s %s %s %s", a->name, b->name,
				 from_left ? "LEFT" : "RIGHT", to_left ? "LEFT" : "RIGHT");
		}
		if (a->type == T_NONE) {
			snprintf(w, wl, "nil");
		} else if (a->type == T_STR || b->type == T_STR) {
			snprintf(w, wl, WRONGTYPE);
		} else if (a != b && b->n >= LMAX) {
			/* Keep lists bounded: read instead. */
			snprintf(c->line, sizeof c->line, "LLEN %s", b->name);
			snprintf(w, wl, ":%d", b->n);
		} else {
			char e[12];
			list_pop(a, from_left, e);
			list_push(b, to_left, e);
			snprintf(w, wl, "$%s", e);
		}
	} else if (op < 88) {                            /* LRANGE */
		snprintf(c->line, sizeof c->line, "LRANGE %s 0 -1", a->name);
		if (a->type == T_STR) {
			snprintf(w, wl, WRONGTYPE);
		} else {
			snprintf(w, wl, "*%d[", a->type == T_LIST ? a->n : 0);
			for (int i = 0; a->type == T_LIST && i < a->n; i++)
				WADDW("%s$%s", i ? "," : "", a->l[i]);
			WADDW("]");
		}
	} else if (op < 92) {                            /* LLEN */
		snprintf(c->line, sizeof c->line, "LLEN %s", a->name);
		if (a->type == T_STR)
			snprintf(w, wl, WRONGTYPE);
		else
			snprintf(w, wl, ":%d", a->type == T_LIST ? a->n : 0);
	} else if (op < 96) {                            /* TYPE */
		snprintf(c->line, sizeof c->line, "TYPE %s", a->name);
		snprintf(w, wl, "+%s", a->type == T_NONE ? "none" : a->type == T_STR ? "string" : "list");
	} else {                                         /* EXISTS on one, PING */
		snprintf(c->line, sizeof c->line, "PING");
		snprintf(w, wl, "+PONG");
	}
}

/* Queue n simple commands inside MULTI on model m; their replies joined
 * into inner (comma separated). */
static void gen_queued(struct model *m, struct mprog *p, int n, char *inner, size_t innerlen)
{
	inner[0] = 0;
	for (int i = 0; i < n; i++) {
		struct mcmd *c = prog_add(p);
		gen_simple(m, c);
		snprintf(inner + strlen(inner), innerlen - strlen(inner), "%s%s", i ? "," : "", c->want);
		snprintf(c->want, sizeof c->want, "+QUEUED");
	}
}

/* One step of a model client: a plain command or a transaction block. */
static void gen_step(struct model *m, struct mprog *p)
{
	int kind = rnd(m, 100);
	char inner[8192];
	if (kind < 72) {
		gen_simple(m, prog_add(p));
	} else if (kind < 86) {                          /* MULTI ... EXEC */
		struct mcmd *c = prog_add(p);
		snprintf(c->line, sizeof c->line, "MULTI");
		snprintf(c->want, sizeof c->want, "+OK");
		int n = 1 + rnd(m, 6);
		gen_queued(m, p, n, inner, sizeof inner);
		c = prog_add(p);
		snprintf(c->line, sizeof c->line, "EXEC");
		snprintf(c->want, sizeof c->want, "*%d[%s]", n, inner);
	} else if (kind < 95) {                          /* WATCH ... EXEC */
		struct mkey *w1 = &m->k[rnd(m, MK)], *w2 = &m->k[rnd(m, MK)];
		struct mcmd *c = prog_add(p);
		snprintf(c->line, sizeof c->line, "WATCH %s %s", w1->name, w2->name);
		snprintf(c->want, sizeof c->want, "+OK");
		int how = rnd(m, 4);    /* 0 dirty by SET, 1 read only, 2 UNWATCH then SET, 3 nothing */
		if (how == 0 || how == 2) {
			if (how == 2) {
				c = prog_add(p);
				snprintf(c->line, sizeof c->line, "UNWATCH");
				snprintf(c->want, sizeof c->want, "+OK");
			}
			c = prog_add(p);
			snprintf(w2->s, sizeof w2->s, "w%d", rnd(m, 1000));
			w2->type = T_STR;
			w2->n = 0;
			snprintf(c->line, sizeof c->line, "SET %s %s", w2->name, w2->s);
			snprintf(c->want, sizeof c->want, "+OK");
		} else if (how == 1) {
			c = prog_add(p);
			snprintf(c->line, sizeof c->line, "EXISTS %s", w1->name);
			snprintf(c->want, sizeof c->want, ":%d", w1->type != T_NONE);
		}
		c = prog_add(p);
		snprintf(c->line, sizeof c->line, "MULTI");
		snprintf(c->want, sizeof c->want, "+OK");
		int n = 1 + rnd(m, 4);
		struct model copy = *m;
		gen_queued(&copy, p, n, inner, sizeof inner);
		c = prog_add(p);
		snprintf(c->line, sizeof c->line, "EXEC");
		if (how == 0) {
			snprintf(c->want, sizeof c->want, "nil");
			m->seed = copy.seed;
			m->elem = copy.elem;
		} else {
			snprintf(c->want, sizeof c->want, "*%d[%s]", n, inner);
			*m = copy;
		}
	} else if (kind < 97) {                          /* MULTI ... DISCARD */
		struct mcmd *c = prog_add(p);
		snprintf(c->line, sizeof c->line, "MULTI");
		snprintf(c->want, sizeof c->want, "+OK");
		struct model copy = *m;
		gen_queued(&copy, p, 1 + rnd(m, 3), inner, sizeof inner);
		m->seed = copy.seed;
		m->elem = copy.elem;
		c = prog_add(p);
		snprintf(c->line, sizeof c->line, "DISCARD");
		snprintf(c->want, sizeof c->want, "+OK");
	} else {                                         /* queue-time error */
		struct mcmd *c = prog_add(p);
		snprintf(c->line, sizeof c->line, "MULTI");
		snprintf(c->want, sizeof c->want, "+OK");
		struct model copy = *m;
		gen_queued(&copy, p, 1 + rnd(m, 2), inner, sizeof inner);
		c = prog_add(p);
		if (rnd(m, 2)) {
			snprintf(c->line, sizeof c->line, "NOSUCHCMD %s", m->k[0].name);
			snprintf(c->want, sizeof c->want,
				 "-ERR unknown command 'NOSUCHCMD', with args beginning with: '%s' ", m->k[0].name);
		} else {
			snprintf(c->line, sizeof c->line, "RENAME %s", m->k[0].name);
			snprintf(c->want, sizeof c->want, "-ERR wrong number of arguments for 'rename' command");
		}
		gen_queued(&copy, p, 1, inner, sizeof inner);
		m->seed = copy.seed;
		m->elem = copy.elem;
		c = prog_add(p);
		snprintf(c->line, sizeof c->line, "EXEC");
		snprintf(c->want, sizeof c->want, "-EXECABORT Transaction discarded because of previous errors.");
	}
}

/* Send prog as one pipeline on c (optionally half-closing after the
 * last command) and check every reply. Returns false on a mismatch or a
 * missing reply (recorded with failf). */
static bool prog_run(redisContext *c, const struct mprog *p, const char *who, bool half_close)
{
	for (int i = 0; i < p->n; i++)
		append_line(c, p->v[i].line);
	if (half_close) {
		int done = 0;
		while (!done)
			if (redisBufferWrite(c, &done) != REDIS_OK) {
				failf("%s: write failed: %s", who, c->errstr);
				return false;
			}
		shutdown(c->fd, SHUT_WR);
	}
	struct kr_sb got = {0};
	bool ok = true;
	for (int i = 0; i < p->n && ok; i++) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			failf("%s: no reply to command %d/%d '%.200s'%s: %s", who, i, p->n, p->v[i].line,
			      half_close ? " (after half-close)" : "", c->errstr);
			ok = false;
			break;
		}
		kr_sb_reset(&got);
		kr_render(&got, r);
		freeReplyObject(r);
		if (strcmp(got.s, p->v[i].want) != 0) {
			struct kr_sb ctx = {0};
			for (int j = i - 6 < 0 ? 0 : i - 6; j < i; j++)
				kr_sb_fmt(&ctx, "  | %.120s\n", p->v[j].line);
			failf("%s: command %d '%.300s'\n  want %.400s\n  got  %.400s\n  preceded by:\n%s", who, i,
			      p->v[i].line, p->v[i].want, got.s, ctx.s ? ctx.s : "");
			free(ctx.s);
			ok = false;
		}
	}
	if (ok && half_close) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) == REDIS_OK) {
			failf("%s: a reply after the last one (half-closed)", who);
			freeReplyObject(r);
			ok = false;
		} else if (c->err != REDIS_ERR_EOF) {
			failf("%s: half-closed connection not closed by the server: %s", who, c->errstr);
			ok = false;
		}
	}
	free(got.s);
	return ok;
}

/* The final state of the model's keys, read back in one MULTI. */
static bool model_verify(redisContext *c, const struct model *m, const char *who)
{
	struct mprog p = {0};
	struct mcmd *x = prog_add(&p);
	snprintf(x->line, sizeof x->line, "MULTI");
	snprintf(x->want, sizeof x->want, "+OK");
	char inner[8192] = "";
	for (int i = 0; i < MK; i++) {
		const struct mkey *k = &m->k[i];
		x = prog_add(&p);
		snprintf(x->want, sizeof x->want, "+QUEUED");
		if (k->type == T_LIST) {
			snprintf(x->line, sizeof x->line, "LRANGE %s 0 -1", k->name);
			WADD(inner, "%s*%d[", i ? "," : "", k->n);
			for (int j = 0; j < k->n; j++)
				WADD(inner, "%s$%s", j ? "," : "", k->l[j]);
			WADD(inner, "]");
		} else {
			snprintf(x->line, sizeof x->line, "GET %s", k->name);
			if (k->type == T_STR)
				WADD(inner, "%s$%s", i ? "," : "", k->s);
			else
				WADD(inner, "%snil", i ? "," : "");
		}
	}
	x = prog_add(&p);
	snprintf(x->line, sizeof x->line, "EXEC");
	snprintf(x->want, sizeof x->want, "*%d[%s]", MK, inner);
	bool ok = prog_run(c, &p, who, false);
	free(p.v);
	return ok;
}

struct model_arg {
	int cid;
	int rounds;
	int mode;                     /* 0 hiredis, 1 half-close each round, 2 reconnect each round */
	atomic_int *done;
	long long *cmds;
};

static void *model_client(void *arg)
{
	struct model_arg *a = arg;
	struct model m;
	model_init(&m, a->cid, 1000u + (unsigned)a->cid * 7919u);
	char who[64];
	snprintf(who, sizeof who, "model client %d (mode %d)", a->cid, a->mode);
	redisContext *c = NULL;
	for (int r = 0; r < a->rounds && atomic_load(&nfail) == 0; r++) {
		if (!c && !(c = tconnect()))
			break;
		struct mprog p = {0};
		while (p.n < MODEL_OPS)
			gen_step(&m, &p);
		bool ok = prog_run(c, &p, who, a->mode == 1);
		*a->cmds += p.n;
		free(p.v);
		if (!ok)
			break;
		if (a->mode != 0) {
			redisFree(c);
			c = NULL;
		}
	}
	if (atomic_load(&nfail) == 0) {
		if (!c)
			c = tconnect();
		if (c)
			model_verify(c, &m, who);
	}
	if (c)
		redisFree(c);
	if (a->done)
		atomic_fetch_add(a->done, 1);
	return NULL;
}

/* Several clients at once, each a deep pipeline of mixed single-key,
 * split, coordinator, MULTI/EXEC, WATCH, DISCARD and queue-error blocks
 * over its keys on every shard, checked reply by reply against its model;
 * one half-closes after each pipeline and must still get every reply. */
Test(txnstress, deep_pipelines_against_models)
{
	srv_up(NULL);
	enum { NCLI = 8, ROUNDS = 40 };
	pthread_t t[NCLI];
	struct model_arg a[NCLI];
	long long cmds[NCLI] = {0};
	for (int i = 0; i < NCLI; i++) {
		a[i] = (struct model_arg){ .cid = i, .rounds = ROUNDS, .mode = i % 3, .cmds = &cmds[i] };
		pthread_create(&t[i], NULL, model_client, &a[i]);
	}
	for (int i = 0; i < NCLI; i++)
		pthread_join(t[i], NULL);
	assert_no_failures();
	long long total = 0;
	for (int i = 0; i < NCLI; i++)
		total += cmds[i];
	cr_assert_gt(total, NCLI * ROUNDS * MODEL_OPS - 1, "only %lld commands ran", total);
	srv_down();
}

/* ------------------------------------------------- kills and vanishing */

/* Shared keys whose invariants every atomic reader must see hold:
 *   cnt[]  counters moved by MULTI DECRBY/INCRBY: sum 0;
 *   tok[]  lists of NTOK tokens moved by LMOVE, RPOPLPUSH, BLMOVE and
 *          RENAME pairs inside EXEC: the tokens are neither lost nor
 *          duplicated;
 *   rp[]   one key renamed back and forth: exactly one of them exists;
 *   sn[]   written together by MSET / EXEC: always equal;
 *   sets[] NMEM members moved between sets by SMOVE (alone and in EXEC):
 *          their cardinalities always add up to NMEM. */
enum { NCNT = 4, NTOKL = 4, NTOK = 100, NSET = 3, NMEM = 30 };
static char cnt[NCNT][32], tok[NTOKL][32], rp[2][32], sn[3][32], blk[4][32], sets[NSET][32];

static void shared_keys(void)
{
	for (int i = 0; i < NCNT; i++)
		key_on(cnt[i], 32, "cnt", (unsigned)i, i / (int)nshards());
	for (int i = 0; i < NTOKL; i++)
		key_on(tok[i], 32, "tok", (unsigned)i + 1, i / (int)nshards());
	for (int i = 0; i < 2; i++)
		key_on(rp[i], 32, "rp", (unsigned)i, i / (int)nshards());
	for (int i = 0; i < 3; i++)
		key_on(sn[i], 32, "sn", (unsigned)i + 2, i / (int)nshards());
	for (int i = 0; i < 4; i++)
		key_on(blk[i], 32, "blk", (unsigned)i, i / (int)nshards());
	for (int i = 0; i < NSET; i++)
		key_on(sets[i], 32, "set", (unsigned)i + 1, i / (int)nshards());
}

static void shared_init(redisContext *c)
{
	mexpect(c, "+OK", "FLUSHALL");
	for (int i = 0; i < NTOKL; i++) {
		char line[4096];
		int n = snprintf(line, sizeof line, "RPUSH %s", tok[i]);
		for (int j = 0; j < NTOK / NTOKL; j++)
			n += snprintf(line + n, sizeof line - (size_t)n, " t%d_%d", i, j);
		char want[16];
		snprintf(want, sizeof want, ":%d", NTOK / NTOKL);
		mexpect(c, want, "%s", line);
	}
	mexpect(c, "+OK", "SET %s ball", rp[0]);
	mexpect(c, "+OK", "MSET %s 0 %s 0 %s 0", sn[0], sn[1], sn[2]);
	for (int m = 0; m < NMEM; m++)
		mexpect(c, ":1", "SADD %s m%d", sets[m % NSET], m);
}

/* One atomic look at every invariant; false (and failf) if one is off. */
static bool shared_check(redisContext *c, const char *when)
{
	char line[512];
	int n = snprintf(line, sizeof line, "MGET");
	for (int i = 0; i < NCNT; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, " %s", cnt[i]);
	redisReply *r = tcmd(c, "%s", line);
	if (!r)
		return false;
	long long sum = 0;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			sum += atoll(r->element[i]->str);
	bool ok = r->type == REDIS_REPLY_ARRAY && sum == 0;
	freeReplyObject(r);
	if (!ok) {
		failf("%s: counters sum %lld, want 0 (a MULTI transfer seen half done)", when, sum);
		return false;
	}
	r = tcmd(c, "EXISTS %s %s", rp[0], rp[1]);
	if (!r)
		return false;
	ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	if (!ok)
		failf("%s: EXISTS %s %s = %lld, want 1 (a RENAME seen half done)", when, rp[0], rp[1],
		      r->type == REDIS_REPLY_INTEGER ? r->integer : -99);
	freeReplyObject(r);
	if (!ok)
		return false;
	r = tcmd(c, "MGET %s %s %s", sn[0], sn[1], sn[2]);
	if (!r)
		return false;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
	for (int i = 1; ok && i < 3; i++)
		ok = r->element[i]->type == REDIS_REPLY_STRING && r->element[0]->type == REDIS_REPLY_STRING &&
		     strcmp(r->element[i]->str, r->element[0]->str) == 0;
	if (!ok)
		failf("%s: MGET %s %s %s not all equal (%s, %s, %s): an MSET seen half done", when, sn[0], sn[1],
		      sn[2], r->elements > 0 && r->element[0]->str ? r->element[0]->str : "nil",
		      r->elements > 1 && r->element[1]->str ? r->element[1]->str : "nil",
		      r->elements > 2 && r->element[2]->str ? r->element[2]->str : "nil");
	freeReplyObject(r);
	if (!ok)
		return false;
	append_line(c, "MULTI");
	for (int i = 0; i < NTOKL; i++) {
		snprintf(line, sizeof line, "LLEN %s", tok[i]);
		append_line(c, line);
	}
	append_line(c, "EXEC");
	for (int i = 0; i < NTOKL + 1; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			failf("%s: no reply in MULTI LLEN: %s", when, c->errstr);
			return false;
		}
		freeReplyObject(r);
	}
	if (redisGetReply(c, (void **)&r) != REDIS_OK) {
		failf("%s: no EXEC reply: %s", when, c->errstr);
		return false;
	}
	long long tot = 0;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		tot += r->element[i]->integer;
	ok = r->type == REDIS_REPLY_ARRAY && tot == NTOK;
	freeReplyObject(r);
	if (!ok) {
		failf("%s: %lld tokens in the lists, want %d", when, tot, NTOK);
		return false;
	}
	r = tcmd(c, "SUNION %s %s %s", sets[0], sets[1], sets[2]);
	if (!r)
		return false;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements == NMEM;
	if (!ok)
		failf("%s: SUNION of the sets has %zu members, want %d (an SMOVE seen half done)", when,
		      r->type == REDIS_REPLY_ARRAY ? r->elements : 0, NMEM);
	freeReplyObject(r);
	return ok;
}

/* Every token exactly once, and nothing else, in the token lists. */
static void shared_final(redisContext *c)
{
	cr_assert(shared_check(c, "final"), "final invariants: %s", fail_msg);
	char *all[NTOK * 2];
	int n = 0;
	for (int i = 0; i < NTOKL; i++) {
		redisReply *r = mcmd(c, "LRANGE %s 0 -1", tok[i]);
		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		for (size_t j = 0; j < r->elements && n < NTOK * 2; j++)
			all[n++] = strdup(r->element[j]->str);
		freeReplyObject(r);
	}
	cr_assert_eq(n, NTOK, "%d tokens in the lists, want %d", n, NTOK);
	qsort(all, (size_t)n, sizeof all[0], kr_cmp_str);
	for (int i = 1; i < n; i++)
		cr_assert(strcmp(all[i - 1], all[i]) != 0, "token %s is duplicated", all[i]);
	for (int i = 0; i < n; i++) {
		cr_assert(all[i][0] == 't', "stray element %s in a token list", all[i]);
		free(all[i]);
	}
	redisReply *u = mcmd(c, "SUNION %s %s %s", sets[0], sets[1], sets[2]);
	cr_assert_eq(u->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(u->elements, NMEM, "the sets hold %zu members, want %d", u->elements, NMEM);
	freeReplyObject(u);
	long long card = 0;
	for (int i = 0; i < NSET; i++) {
		u = mcmd(c, "SCARD %s", sets[i]);
		card += u->integer;
		freeReplyObject(u);
	}
	cr_assert_eq(card, NMEM, "the sets' cardinalities add up to %lld, want %d", card, NMEM);
	redisReply *r = mcmd(c, "GET %s", rp[0]);
	redisReply *r2 = mcmd(c, "GET %s", rp[1]);
	const char *v = r->type == REDIS_REPLY_STRING ? r->str : r2->type == REDIS_REPLY_STRING ? r2->str : "";
	cr_assert_str_eq(v, "ball", "the renamed key lost its value");
	freeReplyObject(r);
	freeReplyObject(r2);
}

static atomic_int victims_left;

/* After every other client has gone: nobody blocked, `conns` connected
 * (CLIENT LIST shown if not). */
static void expect_no_one_left(redisContext *c, int conns)
{
	long long blocked, connected;
	bool ok1 = wait_info(c, "clients", "blocked_clients", 0, 5000, &blocked);
	bool ok2 = wait_info(c, "clients", "connected_clients", conns, 5000, &connected);
	if (ok1 && ok2)
		return;
	redisReply *r = mcmd(c, "CLIENT LIST");
	cr_assert_fail("after every other client left: blocked_clients %lld (want 0), connected_clients %lld "
		       "(want %d); CLIENT LIST:\n%.3000s", blocked, connected, conns,
		       r->type == REDIS_REPLY_STRING ? r->str : "?");
}

static void *checker(void *arg)
{
	long *checks = arg;
	redisContext *c = tconnect();
	if (!c)
		return NULL;
	while (atomic_load(&victims_left) > 0 && atomic_load(&nfail) == 0) {
		if (!shared_check(c, "checker"))
			break;
		(*checks)++;
	}
	redisFree(c);
	return NULL;
}

/* Victim ids for the killer. */
static pthread_mutex_t kill_mu = PTHREAD_MUTEX_INITIALIZER;
static long long kill_q[256];
static int kill_n;

static void kill_request(long long id)
{
	pthread_mutex_lock(&kill_mu);
	if (kill_n < 256)
		kill_q[kill_n++] = id;
	pthread_mutex_unlock(&kill_mu);
}

static void *killer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	redisContext *c = tconnect();
	if (!c)
		return NULL;
	while (atomic_load(&victims_left) > 0 && atomic_load(&nfail) == 0) {
		long long id = 0;
		pthread_mutex_lock(&kill_mu);
		if (kill_n)
			id = kill_q[--kill_n];
		pthread_mutex_unlock(&kill_mu);
		if (!id) {
			kr_sleep_ms(1);
			continue;
		}
		if (rand_r(&seed) % 2)
			kr_sleep_ms(rand_r(&seed) % 4);
		redisReply *r = tcmd(c, "CLIENT KILL ID %lld", id);
		if (!r)
			break;
		if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
			failf("CLIENT KILL ID %lld: reply type %d value %lld, want :1 (the victim waits to be killed)",
			      id, r->type, r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
		freeReplyObject(r);
	}
	redisFree(c);
	return NULL;
}

/* A random command on the shared keys that keeps every invariant when it
 * runs whole. blocking: may be a blocking command (only as the last one). */
static void chaos_cmd(struct kr_sb *b, unsigned *seed, int vid, bool blocking)
{
	int a = rand_r(seed) % NTOKL, d = (a + 1 + rand_r(seed) % (NTOKL - 1)) % NTOKL;
	int ca = rand_r(seed) % NCNT, cb = (ca + 1 + rand_r(seed) % (NCNT - 1)) % NCNT;
	static const char *const ends[2] = { "LEFT", "RIGHT" };
	int x = rand_r(seed) % 50;
	if (blocking) {
		switch (rand_r(seed) % 5) {
		case 0: resp_fmt(b, "BLPOP %s %s 0", blk[rand_r(seed) % 4], blk[rand_r(seed) % 4]); break;
		case 1: resp_fmt(b, "BZPOPMIN %s 0", blk[rand_r(seed) % 4]); break;
		case 2: resp_fmt(b, "BLMOVE %s %s LEFT RIGHT 0", tok[a], tok[d]); break;
		case 3: resp_fmt(b, "BLMOVE %s %s RIGHT LEFT 0", blk[rand_r(seed) % 4], tok[d]); break;
		default: resp_fmt(b, "BRPOPLPUSH %s %s 0", blk[rand_r(seed) % 4], blk[rand_r(seed) % 4]); break;
		}
		return;
	}
	switch (rand_r(seed) % 16) {
	case 0:
		resp_line(b, "MULTI");
		resp_fmt(b, "DECRBY %s %d", cnt[ca], x);
		resp_fmt(b, "INCRBY %s %d", cnt[cb], x);
		resp_line(b, "EXEC");
		break;
	case 1:
		resp_fmt(b, "LMOVE %s %s %s %s", tok[a], tok[d], ends[rand_r(seed) % 2], ends[rand_r(seed) % 2]);
		break;
	case 2:
		resp_fmt(b, "RPOPLPUSH %s %s", tok[a], tok[d]);
		break;
	case 3:
		resp_line(b, "MULTI");
		resp_fmt(b, "LMOVE %s %s LEFT RIGHT", tok[a], tok[d]);
		resp_fmt(b, "LMOVE %s %s LEFT RIGHT", tok[d], tok[(d + 1) % NTOKL]);
		resp_fmt(b, "MGET %s %s", cnt[ca], cnt[cb]);
		resp_line(b, "EXEC");
		break;
	case 4:
		/* A list parked under a temporary name and back, in one EXEC. */
		resp_line(b, "MULTI");
		resp_fmt(b, "RENAME %s tmpv%d", tok[a], vid);
		resp_fmt(b, "RENAME tmpv%d %s", vid, tok[a]);
		resp_line(b, "EXEC");
		break;
	case 5:
		resp_fmt(b, "RENAME %s %s", rp[rand_r(seed) % 2], rp[rand_r(seed) % 2]);
		break;
	case 6:
		resp_fmt(b, "MSET %s v%d %s v%d %s v%d", sn[0], x, sn[1], x, sn[2], x);
		break;
	case 7:
		resp_line(b, "MULTI");
		resp_fmt(b, "SET %s w%d", sn[2], x);
		resp_fmt(b, "SET %s w%d", sn[0], x);
		resp_fmt(b, "SET %s w%d", sn[1], x);
		resp_line(b, "EXEC");
		break;
	case 8:
		resp_fmt(b, "WATCH %s %s %s", cnt[ca], tok[a], rp[0]);
		break;
	case 9:
		resp_fmt(b, "WATCH %s %s", cnt[ca], cnt[cb]);
		resp_fmt(b, "MGET %s %s", cnt[ca], cnt[cb]);
		resp_line(b, "MULTI");
		resp_fmt(b, "INCRBY %s %d", cnt[ca], x);
		resp_fmt(b, "DECRBY %s %d", cnt[cb], x);
		resp_line(b, "EXEC");
		break;
	case 10:
		resp_fmt(b, "MGET %s %s %s %s", sn[0], cnt[ca], tok[a], rp[1]);
		break;
	case 11:
		resp_fmt(b, "DEL %s %s", blk[rand_r(seed) % 4], blk[rand_r(seed) % 4]);
		break;
	case 12:
		resp_line(b, "MULTI");
		resp_fmt(b, "RENAME %s %s", rp[0], rp[1]);
		resp_fmt(b, "RENAME %s %s", rp[1], rp[0]);
		resp_fmt(b, "EXISTS %s %s", rp[0], rp[1]);
		resp_line(b, "EXEC");
		break;
	case 14:
		resp_fmt(b, "SMOVE %s %s m%d", sets[rand_r(seed) % NSET], sets[rand_r(seed) % NSET],
			 rand_r(seed) % NMEM);
		break;
	case 15:
		resp_line(b, "MULTI");
		resp_fmt(b, "SMOVE %s %s m%d", sets[0], sets[1], rand_r(seed) % NMEM);
		resp_fmt(b, "SMOVE %s %s m%d", sets[1], sets[2], rand_r(seed) % NMEM);
		resp_fmt(b, "SCARD %s", sets[2]);
		resp_line(b, "EXEC");
		break;
	default:
		resp_fmt(b, "EXISTS %s %s %s", tok[a], rp[0], rp[1]);
		break;
	}
}

/* Number of commands in a RESP pipeline (each starts with '*' at a
 * command boundary; our commands have no '*' inside arguments). */
static int count_cmds(const struct kr_sb *b)
{
	int n = 0;
	for (size_t i = 0; i < b->len; i++)
		if (b->s[i] == '*' && (i == 0 || b->s[i - 1] == '\n'))
			n++;
	return n;
}

struct victim_arg {
	int vid;
	int iters;
	long ends[5];
};

static void *victim(void *arg)
{
	struct victim_arg *a = arg;
	unsigned seed = 77u + (unsigned)a->vid * 131u;
	struct kr_sb b = {0}, in = {0};
	for (int it = 0; it < a->iters && atomic_load(&nfail) == 0; it++) {
		int fd = raw_open();
		if (fd < 0) {
			failf("victim %d: connect failed", a->vid);
			break;
		}
		int mode = rand_r(&seed) % 5;
		a->ends[mode]++;
		kr_sb_reset(&b);
		kr_sb_reset(&in);
		long long id = 0;
		if (mode == 3) {
			/* Learn our id first, so the killer can aim. */
			resp_line(&b, "CLIENT ID");
			size_t off = 0;
			bool eof;
			if (raw_write(fd, b.s, b.len) != 0 || raw_collect(fd, &in, &off, 1, &eof) != 1) {
				failf("victim %d: CLIENT ID got no reply", a->vid);
				close(fd);
				break;
			}
			id = atoll(in.s + 1);
			kr_sb_reset(&b);
			kr_sb_reset(&in);
		}
		bool reply_off = mode != 2 && rand_r(&seed) % 6 == 0;
		if (reply_off)
			resp_line(&b, "CLIENT REPLY OFF");
		int n = 1 + rand_r(&seed) % 40;
		for (int i = 0; i < n; i++)
			chaos_cmd(&b, &seed, a->vid, false);
		if (mode != 2 && rand_r(&seed) % 3 == 0)
			chaos_cmd(&b, &seed, a->vid, true);
		int ncmds = count_cmds(&b);
		if (mode == 3)
			kill_request(id);
		if (mode == 0) {
			/* Vanish mid-request: only a prefix of the pipeline. */
			size_t cut = (size_t)rand_r(&seed) % (b.len + 1);
			(void)raw_write(fd, b.s, cut);
			close(fd);
			continue;
		}
		if (raw_write(fd, b.s, b.len) != 0) {
			if (mode != 3)
				failf("victim %d: write failed in mode %d", a->vid, mode);
			close(fd);
			continue;
		}
		size_t off = 0;
		bool eof = false;
		if (mode == 1) {
			/* Read some replies, then vanish. */
			int want = rand_r(&seed) % (ncmds + 1);
			if (want > ncmds - 1)
				want = ncmds - 1;   /* the last may be blocked */
			if (reply_off)
				want = 0;
			if (want > 0 && raw_collect(fd, &in, &off, want, &eof) != want)
				failf("victim %d: fewer than %d of %d replies before closing", a->vid, want, ncmds);
			close(fd);
		} else if (mode == 2) {
			/* Half-close: every reply, then EOF. */
			shutdown(fd, SHUT_WR);
			int got = raw_collect(fd, &in, &off, ncmds, &eof);
			if (got != ncmds)
				failf("victim %d: half-closed after %d commands, got %d replies (%s)", a->vid, ncmds, got,
				      eof ? "EOF" : "timeout");
			else if (raw_expect_eof(fd) != 1)
				failf("victim %d: half-closed connection not closed after its last reply", a->vid);
			close(fd);
		} else if (mode == 3) {
			/* Killed by the killer: read until the server closes us
			 * (waiting longer than the killer waits for its reply). */
			struct timeval tv = { REPLY_TIMEOUT_S * 3, 0 };
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			raw_collect(fd, &in, &off, ncmds + 1, &eof);
			if (!eof)
				failf("victim %d: CLIENT KILL ID %lld did not close the connection (%d commands, "
				      "replies so far %.300s)", a->vid, id, ncmds, in.s ? in.s : "");
			close(fd);
		} else {
			/* Reset: RST instead of FIN, replies unread. */
			struct linger lg = { 1, 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(fd);
		}
	}
	free(b.s);
	free(in.s);
	atomic_fetch_sub(&victims_left, 1);
	return NULL;
}

/* Clients killed (CLIENT KILL), closed abruptly (mid-request, with
 * replies unread, by RST) or half-closed in the middle of pipelines of
 * cross-shard MSET/MGET/DEL, EXECs with coordinators (RENAME, LMOVE),
 * WATCHes on remote shards and blocking commands on other shards' keys.
 * Meanwhile a checker verifies the invariants atomically and two model
 * clients verify their exact replies. Afterwards everything holds, nobody
 * is left blocked or connected, and the server serves on. */
Test(txnstress, kills_and_vanishing_clients)
{
	srv_up(NULL);
	shared_keys();
	redisContext *c = kr_connect(&srv);
	shared_init(c);
	enum { NV = 8 };
	atomic_store(&victims_left, NV);
	pthread_t tv[NV], tk, tc, tm[2];
	struct victim_arg va[NV];
	long checks = 0;
	long long mcmds[2] = {0};
	struct model_arg ma[2] = {
		{ .cid = 100, .rounds = 20, .mode = 0, .cmds = &mcmds[0] },
		{ .cid = 101, .rounds = 20, .mode = 1, .cmds = &mcmds[1] },
	};
	for (int i = 0; i < 2; i++)
		pthread_create(&tm[i], NULL, model_client, &ma[i]);
	for (int i = 0; i < NV; i++) {
		va[i] = (struct victim_arg){ .vid = i, .iters = 300 };
		pthread_create(&tv[i], NULL, victim, &va[i]);
	}
	pthread_create(&tk, NULL, killer, (void *)(uintptr_t)5);
	pthread_create(&tc, NULL, checker, &checks);
	for (int i = 0; i < NV; i++)
		pthread_join(tv[i], NULL);
	pthread_join(tk, NULL);
	pthread_join(tc, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(tm[i], NULL);
	assert_no_failures();
	cr_assert_gt(checks, 0, "the checker never ran");
	long ends[5] = {0};
	for (int i = 0; i < NV; i++)
		for (int m = 0; m < 5; m++)
			ends[m] += va[i].ends[m];
	cr_log_info("victims: %ld vanished mid-request, %ld closed with replies unread, %ld half-closed, "
		    "%ld killed, %ld reset; %ld invariant checks", ends[0], ends[1], ends[2], ends[3], ends[4], checks);
	/* Nobody is left: only c is connected, nobody blocked. */
	expect_no_one_left(c, 1);
	shared_final(c);
	/* Elements pushed to the keys dead clients were blocked on stay. */
	for (int i = 0; i < 4; i++)
		mexpect(c, ":1", "RPUSH %s after", blk[i]);
	for (int i = 0; i < 4; i++)
		mexpect(c, ":1", "LLEN %s", blk[i]);
	redisFree(c);
	srv_down();
}

/* ------------------------------------ cross-shard blocking and leaving */

/* A client connected to shard `shard` (ids are seq * nshards + shard). */
static redisContext *connect_on_shard(unsigned shard, long long *id)
{
	redisContext *keep = NULL;
	for (int tries = 0; tries < 200 && !keep; tries++) {
		redisContext *c = kr_connect(&srv);
		redisReply *r = mcmd(c, "CLIENT ID");
		if ((unsigned)(r->integer % (long long)nshards()) == shard) {
			*id = r->integer;
			keep = c;
		} else {
			redisFree(c);
		}
		freeReplyObject(r);
	}
	cr_assert(keep != NULL, "no connection landed on shard %u in 200 tries", shard);
	return keep;
}

/* A client that sends a blocking command over keys of two shards and
 * closes at once must be forgotten like any blocked client that leaves:
 * not left connected and blocked, and not served later (which would pop
 * an element for nobody). */
Test(txnstress, close_right_after_cross_shard_blocking_command)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	enum { N = 24 };
	for (int i = 0; i < N; i++) {
		int fd = raw_open();
		cr_assert(fd >= 0);
		struct kr_sb b = {0};
		if (i % 3 == 0)
			resp_fmt(&b, "BLPOP %s %s 0", ek[1], ek[2]);
		else if (i % 3 == 1)
			resp_fmt(&b, "BLMOVE %s %s LEFT RIGHT 0", ek[2], ek[4]);
		else
			resp_fmt(&b, "BZPOPMIN %s %s 0", ek[3], ek[5]);
		cr_assert_eq(raw_write(fd, b.s, b.len), 0);
		free(b.s);
		close(fd);
	}
	expect_no_one_left(c, 1);
	mexpect(c, ":3", "RPUSH %s a b c", ek[2]);
	mexpect(c, ":1", "ZADD %s 1 m", ek[5]);
	mexpect(c, ":3", "LLEN %s", ek[2]);
	mexpect(c, ":0", "LLEN %s", ek[4]);
	mexpect(c, ":1", "ZCARD %s", ek[5]);
	redisFree(c);
	srv_down();
}

/* A client killed while its cross-shard blocking command waits for the
 * shard locks (another client's EXEC holds one, sleeping) must not leave
 * waiters behind: INFO blocked_clients must go back to 0 and nothing of
 * it may linger. Needs 3 shards: the EXEC's client on shard 0 locks shard
 * 1; the victim on shard 2 blocks on keys of shards 1 and 2. */
Test(txnstress, killed_while_cross_shard_blocking_command_waits_for_locks)
{
	if (nshards() < 3)
		cr_skip_test("needs 3 shards");
	srv_up(NULL);
	char ka[32], kb[32], kx[32];
	key_on(ka, sizeof ka, "wla", 1, 0);
	key_on(kb, sizeof kb, "wlb", 2, 0);
	key_on(kx, sizeof kx, "wlx", 1, 0);
	redisContext *o = kr_connect(&srv);
	for (int round = 0; round < 3; round++) {
		long long lid, vid;
		redisContext *l = connect_on_shard(0, &lid), *v = connect_on_shard(2, &vid);
		/* l's EXEC holds shard 1's lock while its own shard sleeps. */
		append_line(l, "MULTI");
		char line[128];
		snprintf(line, sizeof line, "SET %s 1", kx);
		append_line(l, line);
		append_line(l, "DEBUG SLEEP 0.6");
		snprintf(line, sizeof line, "DEL %s", kx);
		append_line(l, line);
		append_line(l, "EXEC");
		int done = 0;
		while (!done)
			cr_assert_eq(redisBufferWrite(l, &done), REDIS_OK);
		kr_sleep_ms(150);
		snprintf(line, sizeof line, "BLPOP %s %s 0", ka, kb);
		append_line(v, line);
		done = 0;
		while (!done)
			cr_assert_eq(redisBufferWrite(v, &done), REDIS_OK);
		kr_sleep_ms(100);
		mexpect(o, ":1", "CLIENT KILL ID %lld", vid);
		for (int i = 0; i < 5; i++) {
			redisReply *r;
			cr_assert_eq(redisGetReply(l, (void **)&r), REDIS_OK);
			freeReplyObject(r);
		}
		redisFree(l);
		redisFree(v);
	}
	expect_no_one_left(o, 1);
	redisFree(o);
	srv_down();
}

/* ------------------------------------------------ blocked exactly once */

/* Collect the bulk strings of one RESP value (nested arrays flattened).
 * Returns the value's length, 0 if incomplete, -1 if malformed; *nulls
 * counts null replies, *err is set for an error reply. */
static long resp_strings(const char *p, size_t len, char out[][48], int *n, int max, int *nulls, bool *err)
{
	long l = kr_raw_value_len(p, len);
	if (l <= 0)
		return l;
	const char *nl = memchr(p, '\n', len);
	long head = nl - p + 1;
	long v = strtol(p + 1, NULL, 10);
	switch (p[0]) {
	case '$':
		if (v < 0) {
			(*nulls)++;
		} else if (*n < max) {
			snprintf(out[*n], 48, "%.*s", (int)v, p + head);
			(*n)++;
		}
		break;
	case '*': {
		if (v < 0) {
			(*nulls)++;
			break;
		}
		long off = head;
		for (long i = 0; i < v; i++) {
			long e = resp_strings(p + off, len - (size_t)off, out, n, max, nulls, err);
			if (e <= 0)
				return -1;
			off += e;
		}
		break;
	}
	case '_':
		(*nulls)++;
		break;
	case '-':
		*err = true;
		break;
	default:
		break;
	}
	return l;
}

enum { BK = 20, BSINK = 4, NCONS = 200, NPROD = 5, PER_PROD = 1500 };
static char bkey[BK][32], bsink[BSINK][32], bstage[NPROD][32];

struct bconn {
	int fd;
	long long id;
	int kind;                     /* command in flight: 0 none */
	bool kicked;                  /* CLIENT UNBLOCKed by the test: a null is fine */
	int sink;
	struct kr_sb in;
	size_t off;
};

enum { BK_LPOP = 1, BK_RPOP, BK_LMOVE, BK_MPOP, BK_TPOP, BK_RPOPLPUSH };

static void bconn_issue(struct bconn *b, unsigned *seed)
{
	struct kr_sb cmd = {0};
	int k[3];
	int nk = 1 + rand_r(seed) % 3;
	for (int i = 0; i < nk; i++) {
		k[i] = rand_r(seed) % BK;
		for (int j = 0; j < i; j++)
			if (k[j] == k[i])
				k[i] = (k[i] + 1 + i) % BK;
	}
	int r = rand_r(seed) % 100;
	if (r < 35) {
		b->kind = BK_LPOP;
		kr_sb_fmt(&cmd, "BLPOP");
	} else if (r < 50) {
		b->kind = BK_RPOP;
		kr_sb_fmt(&cmd, "BRPOP");
	} else if (r < 62) {
		b->kind = BK_LMOVE;
		b->sink = rand_r(seed) % BSINK;
		kr_sb_fmt(&cmd, "BLMOVE %s %s %s RIGHT 0", bkey[k[0]], bsink[b->sink], rand_r(seed) % 2 ? "LEFT" : "RIGHT");
	} else if (r < 72) {
		b->kind = BK_RPOPLPUSH;
		b->sink = rand_r(seed) % BSINK;
		kr_sb_fmt(&cmd, "BRPOPLPUSH %s %s 0", bkey[k[0]], bsink[b->sink]);
	} else if (r < 84) {
		b->kind = BK_MPOP;
		kr_sb_fmt(&cmd, "BLMPOP 0 %d", nk);
	} else {
		b->kind = BK_TPOP;
		kr_sb_fmt(&cmd, "BLPOP");
	}
	if (b->kind == BK_LPOP || b->kind == BK_RPOP || b->kind == BK_MPOP || b->kind == BK_TPOP) {
		for (int i = 0; i < nk; i++)
			kr_sb_fmt(&cmd, " %s", bkey[k[i]]);
		if (b->kind == BK_MPOP)
			kr_sb_fmt(&cmd, " %s COUNT %d", rand_r(seed) % 2 ? "LEFT" : "RIGHT", 1 + rand_r(seed) % 3);
		else
			kr_sb_fmt(&cmd, b->kind == BK_TPOP ? " 0.05" : " 0");
	}
	struct kr_sb wire = {0};
	resp_line(&wire, cmd.s);
	if (raw_write(b->fd, wire.s, wire.len) != 0)
		failf("consumer %lld: write failed", b->id);
	free(cmd.s);
	free(wire.s);
}

struct prod_arg {
	int t;
	atomic_int *done;
};

/* Producer t pushes PER_PROD elements "p<t>_<n>" in several ways; the
 * "junk" pushed and popped inside one EXEC must never reach anybody. */
static void *producer(void *arg)
{
	struct prod_arg *a = arg;
	unsigned seed = 900u + (unsigned)a->t;
	redisContext *c = tconnect();
	for (int n = 0; c && n < PER_PROD && atomic_load(&nfail) == 0;) {
		int k = rand_r(&seed) % BK, k2 = (k + 1 + rand_r(&seed) % (BK - 1)) % BK;
		int how = rand_r(&seed) % 6;
		redisReply *r = NULL;
		if (how == 0 || n + 1 >= PER_PROD) {
			r = tcmd(c, "RPUSH %s p%d_%d", bkey[k], a->t, n);
			n += 1;
		} else if (how == 1) {
			r = tcmd(c, "LPUSH %s p%d_%d p%d_%d", bkey[k], a->t, n, a->t, n + 1);
			n += 2;
		} else if (how == 2) {
			append_line(c, "MULTI");
			char line[200];
			snprintf(line, sizeof line, "RPUSH %s p%d_%d junk%d", bkey[k], a->t, n, a->t);
			append_line(c, line);
			snprintf(line, sizeof line, "RPUSH %s p%d_%d", bkey[k2], a->t, n + 1);
			append_line(c, line);
			snprintf(line, sizeof line, "RPOP %s", bkey[k]);
			append_line(c, line);
			append_line(c, "EXEC");
			for (int i = 0; i < 5 && c; i++) {
				if (redisGetReply(c, (void **)&r) != REDIS_OK) {
					failf("producer %d: no reply in MULTI", a->t);
					r = NULL;
					break;
				}
				if (i == 4 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
					       r->element[2]->type != REDIS_REPLY_STRING ||
					       strncmp(r->element[2]->str, "junk", 4) != 0))
					failf("producer %d: the EXEC's RPOP did not get its own junk back", a->t);
				if (i < 4)
					freeReplyObject(r);
			}
			n += 2;
		} else if (how == 3) {
			r = tcmd(c, "RPUSH %s p%d_%d", bstage[a->t], a->t, n);
			if (r)
				freeReplyObject(r);
			r = tcmd(c, "LMOVE %s %s RIGHT LEFT", bstage[a->t], bkey[k]);
			n += 1;
		} else if (how == 4) {
			r = tcmd(c, "RPUSH %s p%d_%d", bstage[a->t], a->t, n);
			if (r)
				freeReplyObject(r);
			r = tcmd(c, "RPOPLPUSH %s %s", bstage[a->t], bkey[k]);
			n += 1;
		} else {
			/* A transaction that pushes and moves across shards. */
			r = tcmd(c, "RPUSH %s p%d_%d", bstage[a->t], a->t, n);
			if (r)
				freeReplyObject(r);
			append_line(c, "MULTI");
			char line[200];
			snprintf(line, sizeof line, "LMOVE %s %s LEFT RIGHT", bstage[a->t], bkey[k2]);
			append_line(c, line);
			snprintf(line, sizeof line, "LLEN %s", bstage[a->t]);
			append_line(c, line);
			append_line(c, "EXEC");
			for (int i = 0; i < 4; i++) {
				if (redisGetReply(c, (void **)&r) != REDIS_OK) {
					failf("producer %d: no reply in MULTI", a->t);
					r = NULL;
					break;
				}
				if (i < 3)
					freeReplyObject(r);
			}
			n += 1;
		}
		if (!r)
			break;
		if (r->type == REDIS_REPLY_ERROR)
			failf("producer %d: error %s", a->t, r->str);
		freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	atomic_fetch_add(a->done, 1);
	return NULL;
}

/* 200 clients blocked (BLPOP BRPOP BLMPOP over up to 3 keys of different
 * shards, BLMOVE/BRPOPLPUSH to sinks on other shards, short timeouts) on
 * 20 keys while 5 producers push by RPUSH, LPUSH, LMOVE, RPOPLPUSH and
 * EXECs spanning shards: every element is delivered exactly once, junk
 * pushed and popped inside one EXEC never is, nothing stays in the lists,
 * and at the end every client can be unblocked and leaves nothing. */
Test(txnstress, two_hundred_blocked_clients_exactly_once)
{
	srv_up(NULL);
	for (int i = 0; i < BK; i++)
		key_on(bkey[i], 32, "bq", (unsigned)i, i / (int)nshards());
	for (int i = 0; i < BSINK; i++)
		key_on(bsink[i], 32, "bsink", (unsigned)i + 1, i / (int)nshards());
	for (int i = 0; i < NPROD; i++)
		key_on(bstage[i], 32, "bstage", (unsigned)i + 2, i / (int)nshards());
	redisContext *c = kr_connect(&srv);
	struct bconn *bc = calloc(NCONS, sizeof *bc);
	struct pollfd *pf = calloc(NCONS, sizeof *pf);
	unsigned seed = 4242;
	for (int i = 0; i < NCONS; i++) {
		bc[i].fd = raw_open();
		cr_assert(bc[i].fd >= 0, "consumer %d: connect failed", i);
		kr_raw_sends(bc[i].fd, "CLIENT ID\r\n");
		char *r = raw_one(bc[i].fd);
		cr_assert(r && r[0] == ':', "CLIENT ID");
		bc[i].id = atoll(r + 1);
		free(r);
		bconn_issue(&bc[i], &seed);
	}
	atomic_int pdone = 0;
	pthread_t tp[NPROD];
	struct prod_arg pa[NPROD];
	for (int i = 0; i < NPROD; i++) {
		pa[i] = (struct prod_arg){ .t = i, .done = &pdone };
		pthread_create(&tp[i], NULL, producer, &pa[i]);
	}
	enum { TOTAL = NPROD * PER_PROD };
	unsigned char *seen = calloc(TOTAL, 1);
	char (*moved)[48] = calloc(TOTAL, 48);
	int nmoved = 0, received = 0, dups = 0, nils = 0;
	char bad[256] = "";
	long long last_progress = now_ms(), last_kick = 0;
	while ((received < TOTAL || atomic_load(&pdone) < NPROD) && atomic_load(&nfail) == 0) {
		for (int i = 0; i < NCONS; i++)
			pf[i] = (struct pollfd){ .fd = bc[i].fd, .events = POLLIN };
		int pr = poll(pf, NCONS, 200);
		cr_assert(pr >= 0, "poll: %s", strerror(errno));
		for (int i = 0; i < NCONS; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char tmp[16384];
			ssize_t n = recv(bc[i].fd, tmp, sizeof tmp, 0);
			cr_assert(n > 0, "consumer %d (id %lld) disconnected", i, bc[i].id);
			kr_sb_add(&bc[i].in, tmp, (size_t)n);
			for (;;) {
				char strs[8][48];
				int ns = 0, nulls = 0;
				bool err = false;
				struct bconn *b = &bc[i];
				long l = resp_strings(b->in.s + b->off, b->in.len - b->off, strs, &ns, 8, &nulls, &err);
				cr_assert(l >= 0, "malformed reply to consumer %d", i);
				if (l == 0)
					break;
				b->off += (size_t)l;
				cr_assert(b->kind != 0, "consumer %d got a reply it did not ask for", i);
				cr_assert(!err, "consumer %d (kind %d) got an error: %.100s", i, b->kind, b->in.s + b->off - l);
				if (nulls) {
					cr_assert(b->kind == BK_TPOP || b->kicked,
						  "consumer %d (kind %d) got a null without a timeout", i, b->kind);
					nils++;
				}
				b->kicked = false;
				int first = (b->kind == BK_LMOVE || b->kind == BK_RPOPLPUSH) ? 0 : 1;
				for (int s = first; s < ns; s++) {
					int t, e;
					if (sscanf(strs[s], "p%d_%d", &t, &e) != 2 || t < 0 || t >= NPROD || e < 0 ||
					    e >= PER_PROD) {
						snprintf(bad, sizeof bad, "consumer %d (kind %d) got element '%s'", i, b->kind,
							 strs[s]);
						continue;
					}
					if (seen[t * PER_PROD + e]++)
						dups++;
					received++;
					if (first == 0)
						snprintf(moved[nmoved++], 48, "%s", strs[s]);
				}
				last_progress = now_ms();
				b->kind = 0;
				bconn_issue(b, &seed);
			}
		}
		cr_assert(bad[0] == 0, "%s", bad);
		cr_assert_eq(dups, 0, "%d elements delivered twice", dups);
		/* Once the producers are done, the last elements may sit in keys
		 * that no consumer waits on any more (all of them blocked on
		 * empty keys, as can happen on a slow machine): move a few
		 * consumers on to new random keys with CLIENT UNBLOCK. Losing an
		 * element to an unblocked client would still show as a hole. */
		if (atomic_load(&pdone) == NPROD && now_ms() - last_progress > 300 &&
		    now_ms() - last_kick > 300) {
			last_kick = now_ms();
			for (int i = 0, n = 0; i < NCONS && n < 20; i++) {
				int j = (int)(rand_r(&seed) % NCONS);
				if (bc[j].kind == 0 || bc[j].kicked)
					continue;
				redisReply *r = mcmd(c, "CLIENT UNBLOCK %lld", bc[j].id);
				bc[j].kicked = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
				freeReplyObject(r);
				n++;
			}
		}
		if (now_ms() - last_progress > 20000) {
			struct kr_sb diag = {0};
			for (int k = 0; k < BK; k++) {
				redisReply *r = mcmd(c, "LLEN %s", bkey[k]);
				kr_sb_fmt(&diag, " %s:%lld", bkey[k], r->integer);
				freeReplyObject(r);
			}
			long long blocked = info_field(c, "clients", "blocked_clients");
			cr_assert_fail("no element delivered for 20 s: %d of %d received, producers done %d, "
				       "blocked_clients %lld, list lengths:%s", received, TOTAL, atomic_load(&pdone),
				       blocked, diag.s);
		}
	}
	for (int i = 0; i < NPROD; i++)
		pthread_join(tp[i], NULL);
	assert_no_failures();
	cr_assert_eq(received, TOTAL);
	for (int i = 0; i < TOTAL; i++)
		cr_assert_eq(seen[i], 1, "element p%d_%d delivered %d times", i / PER_PROD, i % PER_PROD, seen[i]);
	/* Nothing left behind in the lists; the sinks hold exactly what the
	 * BLMOVE/BRPOPLPUSH clients were told they moved. */
	for (int k = 0; k < BK; k++)
		mexpect(c, ":0", "LLEN %s", bkey[k]);
	for (int k = 0; k < NPROD; k++)
		mexpect(c, ":0", "LLEN %s", bstage[k]);
	int insinks = 0;
	for (int k = 0; k < BSINK; k++) {
		redisReply *r = mcmd(c, "LRANGE %s 0 -1", bsink[k]);
		for (size_t j = 0; j < r->elements; j++) {
			bool found = false;
			for (int m = 0; m < nmoved && !found; m++)
				if (moved[m][0] && strcmp(moved[m], r->element[j]->str) == 0) {
					moved[m][0] = 0;
					found = true;
				}
			cr_assert(found, "sink %s holds %s, which no BLMOVE reported", bsink[k], r->element[j]->str);
			insinks++;
		}
		freeReplyObject(r);
	}
	cr_assert_eq(insinks, nmoved, "sinks hold %d elements, BLMOVE/BRPOPLPUSH reported %d", insinks, nmoved);
	/* Unblock everybody; each gets exactly one answer. */
	for (int i = 0; i < NCONS; i++) {
		struct timeval tv = { 5, 0 };
		setsockopt(bc[i].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	for (int i = 0; i < NCONS; i++) {
		redisReply *r = mcmd(c, "CLIENT UNBLOCK %lld %s", bc[i].id, i % 2 ? "ERROR" : "TIMEOUT");
		cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
		freeReplyObject(r);
		char *a = raw_one(bc[i].fd);
		cr_assert(a != NULL, "consumer %d (kind %d) got no answer after CLIENT UNBLOCK", i, bc[i].kind);
		cr_assert(a[0] == '-' || strcmp(a, "*-1\r\n") == 0 || strcmp(a, "$-1\r\n") == 0,
			  "consumer %d (kind %d) unblocked with %s", i, bc[i].kind, a);
		free(a);
	}
	long long v;
	cr_assert(wait_info(c, "clients", "blocked_clients", 0, 10000, &v), "%lld still blocked after unblocking all", v);
	for (int i = 0; i < NCONS; i++) {
		close(bc[i].fd);
		free(bc[i].in.s);
	}
	expect_no_one_left(c, 1);
	free(seen);
	free(moved);
	free(bc);
	free(pf);
	redisFree(c);
	srv_down();
}

/* BLMOVE/BRPOPLPUSH into a destination that already holds elements, the
 * source on another shard: the client waits like any blocked client
 * (INFO counts it, CLIENT UNBLOCK releases it with a null) and is served
 * by the next push to the source. */
Test(txnstress, blmove_into_nonempty_destination_on_other_shard)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	mexpect(c, ":1", "RPUSH %s d", ek[2]);
	const char *forms[2] = { "BLMOVE %s %s LEFT RIGHT 0", "BRPOPLPUSH %s %s 0" };
	for (int f = 0; f < 2; f++) {
		int fd = kr_raw_connect(&srv);
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		kr_raw_sends(fd, "CLIENT ID\r\n");
		char *r = raw_one(fd);
		long long id = atoll(r + 1);
		free(r);
		struct kr_sb b = {0};
		resp_fmt(&b, forms[f], ek[1], ek[2]);
		kr_raw_sends(fd, b.s);
		long long v;
		cr_assert(wait_info(c, "clients", "blocked_clients", 1, 5000, &v),
			  "%s: blocked_clients %lld, want 1", b.s, v);
		mexpect(c, ":1", "CLIENT UNBLOCK %lld", id);
		r = raw_one(fd);
		cr_assert(r && strcmp(r, "*-1\r\n") == 0, "unblocked client got %s", r ? r : "nothing");
		free(r);
		/* Blocked again, then served by a push. */
		kr_raw_sends(fd, b.s);
		cr_assert(wait_info(c, "clients", "blocked_clients", 1, 5000, &v),
			  "%s: blocked_clients %lld, want 1", b.s, v);
		mexpect(c, ":1", "RPUSH %s x%d", ek[1], f);
		r = raw_one(fd);
		char want[32];
		snprintf(want, sizeof want, "$2\r\nx%d\r\n", f);
		cr_assert(r && strcmp(r, want) == 0, "served client got %s", r ? r : "nothing");
		free(r);
		free(b.s);
		close(fd);
	}
	mexpect(c, "*3[$x1,$d,$x0]", "LRANGE %s 0 -1", ek[2]);
	expect_no_one_left(c, 1);
	redisFree(c);
	srv_down();
}

/* ----------------------------------------- CLIENT UNBLOCK races a push */

/* A blocked client is hit at the same moment by a push to its key and by
 * CLIENT UNBLOCK. Either the unblock wins (it replies 1, the client gets
 * a null or the UNBLOCKED error, the element stays) or the push does (it
 * replies 0, the client gets the element, which left the list): never
 * both, never neither. Forms: BLPOP on one key, BLPOP on keys of two
 * shards, BLMOVE to another shard, BZPOPMIN. */
Test(txnstress, client_unblock_races_push)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv), *p = kr_connect(&srv), *u = kr_connect(&srv);
	int fd = kr_raw_connect(&srv);
	kr_raw_sends(fd, "CLIENT ID\r\n");
	char *r0 = raw_one(fd);
	long long id = atoll(r0 + 1);
	free(r0);
	int wins[2] = { 0, 0 };
	for (int round = 0; round < 400; round++) {
		int form = round % 4;
		bool unblock_first = (round / 4) % 2;
		bool as_error = (round / 8) % 2;
		/* With several shards k2 is on the shard after k's: BLPOP k2 k spans. */
		const char *k = ek[round % 3], *k2 = ek[round % 3 + 1], *d = ek[4 + round % 2];
		struct kr_sb b = {0};
		char desc[160];
		switch (form) {
		case 0: snprintf(desc, sizeof desc, "BLPOP %s 0", k); break;
		case 1: snprintf(desc, sizeof desc, "BLPOP %s %s 0", k2, k); break;
		case 2: snprintf(desc, sizeof desc, "BLMOVE %s %s LEFT RIGHT 0", k, d); break;
		default: snprintf(desc, sizeof desc, "BZPOPMIN %s 0", k); break;
		}
		resp_line(&b, desc);
		kr_raw_sends(fd, b.s);
		long long v;
		cr_assert(wait_info(c, "clients", "blocked_clients", 1, 10000, &v),
			  "round %d: %s not blocked (blocked_clients %lld)", round, desc, v);
		char line[128];
		if (form == 3)
			snprintf(line, sizeof line, "ZADD %s 1 x", k);
		else
			snprintf(line, sizeof line, "RPUSH %s x", k);
		append_line(p, line);
		snprintf(line, sizeof line, "CLIENT UNBLOCK %lld%s", id, as_error ? " ERROR" : "");
		append_line(u, line);
		int done = 0;
		redisContext *first = unblock_first ? u : p, *second = unblock_first ? p : u;
		while (!done)
			cr_assert_eq(redisBufferWrite(first, &done), REDIS_OK);
		done = 0;
		while (!done)
			cr_assert_eq(redisBufferWrite(second, &done), REDIS_OK);
		redisReply *pr, *ur;
		cr_assert_eq(redisGetReply(p, (void **)&pr), REDIS_OK);
		cr_assert_eq(redisGetReply(u, (void **)&ur), REDIS_OK);
		cr_assert_eq(ur->type, REDIS_REPLY_INTEGER);
		long long unblocked = ur->integer;
		freeReplyObject(pr);
		freeReplyObject(ur);
		char *got = raw_one(fd);
		cr_assert(got != NULL, "round %d (%s): the client got no reply (CLIENT UNBLOCK said %lld)", round, desc,
			  unblocked);
		bool got_null = strcmp(got, "*-1\r\n") == 0 || strcmp(got, "$-1\r\n") == 0;
		bool got_err = strncmp(got, "-UNBLOCKED", 10) == 0;
		bool got_elem = strstr(got, "\r\nx\r\n") != NULL;
		redisReply *len = mcmd(c, form == 3 ? "ZCARD %s" : "LLEN %s", k);
		long long left = len->integer;
		freeReplyObject(len);
		const char *order = unblock_first ? "CLIENT UNBLOCK sent first" : "push sent first";
		if (unblocked == 1) {
			cr_assert(as_error ? got_err : got_null,
				  "round %d (%s, %s): CLIENT UNBLOCK%s replied 1 but the client got %s", round, desc,
				  order, as_error ? " ERROR" : "", got);
			cr_assert_eq(left, 1, "round %d (%s): unblocked, yet the element left the key", round, desc);
		} else {
			cr_assert_eq(unblocked, 0);
			cr_assert(got_elem, "round %d (%s, %s): CLIENT UNBLOCK replied 0 but the client got %s (%lld left in the key)",
				  round, desc, order, got, left);
			cr_assert_eq(left, 0, "round %d (%s): served, yet the element is still there", round, desc);
		}
		if (form == 2)
			mexpect(c, unblocked ? ":0" : ":1", "LLEN %s", d);
		wins[unblocked]++;
		free(got);
		free(b.s);
		mexpect(c, unblocked ? ":1" : ":0", "DEL %s", k);
		redisReply *x = mcmd(c, "DEL %s", d);
		freeReplyObject(x);
	}
	cr_log_info("CLIENT UNBLOCK won %d races, the push %d", wins[1], wins[0]);
	close(fd);
	expect_no_one_left(c, 3);
	redisFree(c);
	redisFree(p);
	redisFree(u);
	srv_down();
}

/* ----------------------------------------------- fairness and liveness */

enum { FT_TXN = 6, FT_SINGLE = 3, FT_ITERS = 1500, FT_CAS = 400, FT_QUEUE = 1000 };
static char ft_ctr[3][32], ft_q[32];

struct ft_arg {
	int t;
	long retries;
};

/* Cross-shard transactions: MULTI INCR on a counter of every shard, MSET
 * pairs, a RENAME there and back, and LMOVE round trips. */
static void *ft_txn(void *arg)
{
	struct ft_arg *a = arg;
	redisContext *c = tconnect();
	char own[2][40];
	for (int i = 0; i < 2; i++) {
		char prefix[24];
		snprintf(prefix, sizeof prefix, "ftown%d_%d_", a->t, i);
		key_on(own[i], sizeof own[i], prefix, (unsigned)i, 0);
	}
	redisReply *r = c ? tcmd(c, "SET %s 0", own[0]) : NULL;
	if (r)
		freeReplyObject(r);
	for (int i = 0; c && i < FT_ITERS && atomic_load(&nfail) == 0; i++) {
		char l[4][160];
		snprintf(l[0], sizeof l[0], "INCR %s", ft_ctr[0]);
		snprintf(l[1], sizeof l[1], "INCR %s", ft_ctr[1]);
		snprintf(l[2], sizeof l[2], "INCR %s", ft_ctr[2]);
		append_line(c, "MULTI");
		for (int j = 0; j < 3; j++)
			append_line(c, l[j]);
		snprintf(l[3], sizeof l[3], "RENAME %s %s", own[i % 2], own[(i + 1) % 2]);
		append_line(c, l[3]);
		append_line(c, "EXEC");
		snprintf(l[0], sizeof l[0], "MSET %s %d %s %d", own[0], i, ft_q, 0);
		bool ok = true;
		for (int j = 0; j < 6 && ok; j++) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK) {
				failf("txn client %d: no reply at iteration %d (hang): %s", a->t, i, c->errstr);
				ok = false;
				break;
			}
			if (j == 5 && (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
				       r->element[3]->type != REDIS_REPLY_STATUS))
				failf("txn client %d: EXEC at iteration %d did not run whole", a->t, i);
			freeReplyObject(r);
		}
		if (!ok)
			break;
	}
	if (c)
		redisFree(c);
	return NULL;
}

/* Optimistic read-modify-write of a counter on another shard than the
 * watch key: it must eventually win against the transaction traffic. */
static void *ft_cas(void *arg)
{
	struct ft_arg *a = arg;
	redisContext *c = tconnect();
	for (int i = 0; c && i < FT_CAS && atomic_load(&nfail) == 0; i++) {
		bool won = false;
		for (int tries = 0; tries < 5000 && !won && atomic_load(&nfail) == 0; tries++) {
			redisReply *r = tcmd(c, "WATCH %s %s", ft_ctr[0], ft_ctr[2]);
			if (!r)
				goto out;
			freeReplyObject(r);
			r = tcmd(c, "GET %s", ft_ctr[0]);
			if (!r)
				goto out;
			long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
			freeReplyObject(r);
			char l[2][128];
			snprintf(l[0], sizeof l[0], "SET %s %lld", ft_ctr[0], v + 1);
			snprintf(l[1], sizeof l[1], "INCR %s", ft_ctr[2]);
			append_line(c, "MULTI");
			append_line(c, l[0]);
			append_line(c, l[1]);
			append_line(c, "EXEC");
			for (int j = 0; j < 4; j++) {
				if (redisGetReply(c, (void **)&r) != REDIS_OK) {
					failf("CAS client: no reply (hang): %s", c->errstr);
					goto out;
				}
				if (j == 3)
					won = r->type == REDIS_REPLY_ARRAY;
				freeReplyObject(r);
			}
			if (!won)
				a->retries++;
		}
		if (!won)
			failf("CAS client starved: 5000 WATCH/EXEC attempts failed for update %d", i);
	}
out:
	if (c)
		redisFree(c);
	return NULL;
}

/* Single-key traffic on a key of every shard. */
static void *ft_single(void *arg)
{
	struct ft_arg *a = arg;
	redisContext *c = tconnect();
	char k[8][40];
	unsigned n = nshards();
	for (unsigned s = 0; s < n && s < 8; s++) {
		char prefix[24];
		snprintf(prefix, sizeof prefix, "ftsingle%d_", a->t);
		key_on(k[s], sizeof k[s], prefix, s, 0);
	}
	for (int i = 0; c && i < FT_ITERS * 4 && atomic_load(&nfail) == 0; i++) {
		redisReply *r = tcmd(c, "INCR %s", k[(unsigned)i % (n < 8 ? n : 8)]);
		if (!r)
			break;
		freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return NULL;
}

/* A queue across the lock traffic: one side pushes, the other pops with
 * BRPOP (blocking while the shard is locked by others). */
static void *ft_push(void *arg)
{
	(void)arg;
	redisContext *c = tconnect();
	for (int i = 0; c && i < FT_QUEUE && atomic_load(&nfail) == 0; i++) {
		redisReply *r = tcmd(c, "LPUSH %s q%d", ft_q, i);
		if (!r)
			break;
		freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return NULL;
}

static void *ft_pop(void *arg)
{
	long *got = arg;
	redisContext *c = tconnect();
	for (int i = 0; c && i < FT_QUEUE && atomic_load(&nfail) == 0; i++) {
		redisReply *r = tcmd(c, "BRPOP %s 0", ft_q);
		if (!r)
			break;
		char want[16];
		snprintf(want, sizeof want, "q%d", i);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || strcmp(r->element[1]->str, want) != 0)
			failf("BRPOP %d: want %s", i, want);
		else
			(*got)++;
		freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return NULL;
}

/* Many clients hammer transactions spanning every shard while others do
 * single-key traffic on every shard, an optimistic WATCH loop competes,
 * and a queue is pushed and BRPOPped through it all: everybody finishes
 * (a reply missing for 30 s is a hang) and every count is exact. */
Test(txnstress, lock_fairness_and_liveness)
{
	srv_up(NULL);
	for (int i = 0; i < 3; i++)
		key_on(ft_ctr[i], sizeof ft_ctr[i], "ftctr", (unsigned)i, i / (int)nshards());
	key_on(ft_q, sizeof ft_q, "ftq", 1, 0);
	pthread_t t[FT_TXN + FT_SINGLE + 3];
	struct ft_arg a[FT_TXN + FT_SINGLE + 3];
	long popped = 0;
	int n = 0;
	for (int i = 0; i < FT_TXN; i++, n++) {
		a[n] = (struct ft_arg){ .t = i };
		pthread_create(&t[n], NULL, ft_txn, &a[n]);
	}
	for (int i = 0; i < FT_SINGLE; i++, n++) {
		a[n] = (struct ft_arg){ .t = i };
		pthread_create(&t[n], NULL, ft_single, &a[n]);
	}
	int cas = n;
	a[n] = (struct ft_arg){ .t = 0 };
	pthread_create(&t[n], NULL, ft_cas, &a[n]);
	n++;
	pthread_create(&t[n++], NULL, ft_pop, &popped);
	pthread_create(&t[n++], NULL, ft_push, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	assert_no_failures();
	redisContext *c = kr_connect(&srv);
	char want[3][32];
	snprintf(want[0], 32, "$%d", FT_TXN * FT_ITERS + FT_CAS);
	snprintf(want[1], 32, "$%d", FT_TXN * FT_ITERS);
	snprintf(want[2], 32, "$%d", FT_TXN * FT_ITERS + FT_CAS);
	for (int i = 0; i < 3; i++)
		mexpect(c, want[i], "GET %s", ft_ctr[i]);
	cr_assert_eq(popped, FT_QUEUE);
	unsigned ns = nshards();
	for (int th = 0; th < FT_SINGLE; th++)
		for (unsigned s = 0; s < ns && s < 8; s++) {
			char k[40], prefix[24], w[32];
			snprintf(prefix, sizeof prefix, "ftsingle%d_", th);
			key_on(k, sizeof k, prefix, s, 0);
			int per = FT_ITERS * 4 / (int)(ns < 8 ? ns : 8) +
				  ((int)s < FT_ITERS * 4 % (int)(ns < 8 ? ns : 8) ? 1 : 0);
			snprintf(w, sizeof w, "$%d", per);
			mexpect(c, w, "GET %s", k);
		}
	cr_log_info("CAS retries: %ld", a[cas].retries);
	expect_no_one_left(c, 1);
	redisFree(c);
	srv_down();
}

/* A coordinator inside EXEC that finishes at once (RENAME/COPY of a
 * missing source that lives on the client's own shard, destination on
 * another) must let the EXEC go on normally. */
Test(txnstress, exec_with_coordinator_finishing_at_once)
{
	if (!is_redis() && nshards() < 2)
		cr_skip_test("needs 2 shards");
	srv_up(NULL);
	char a[32], b[32], x[32];
	key_on(a, sizeof a, "r9a", 0, 0);
	key_on(b, sizeof b, "r9b", 1, 0);
	key_on(x, sizeof x, "r9x", 2, 0);
	long long id;
	redisContext *c = connect_on_shard(0, &id);
	char l[3][128];
	snprintf(l[0], 128, "RENAME %s %s", a, b);
	snprintf(l[1], 128, "COPY %s %s", a, b);
	snprintf(l[2], 128, "SET %s 1", x);
	const char *q[] = { "MULTI", l[0], l[1], l[2], "EXEC", "PING" };
	const char *w[] = { "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3[-ERR no such key,:0,+OK]", "+PONG" };
	pipeline_expect(c, 6, q, w);
	redisFree(c);
	srv_down();
}

/* ------------------------------------------ blocked clients and EXEC */

/* Clients blocked on keys written inside an EXEC spanning shards see only
 * the state after the EXEC (never an element pushed and popped inside
 * it), oldest first; blocking commands queued inside MULTI never block,
 * even across shards. */
Test(txnstress, blocked_clients_see_exec_whole)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	const char *k = ek[1], *k2 = ek[2];
	int b1 = kr_raw_connect(&srv), b2 = kr_raw_connect(&srv), b3 = kr_raw_connect(&srv);
	struct timeval tv = { 5, 0 };
	setsockopt(b1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(b2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(b3, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct kr_sb b = {0};
	resp_fmt(&b, "BLPOP %s 0", k);
	kr_raw_sends(b1, b.s);
	long long v;
	cr_assert(wait_info(c, "clients", "blocked_clients", 1, 10000, &v), "blocked_clients %lld", v);
	kr_sb_reset(&b);
	resp_fmt(&b, "BLPOP %s %s 0", k2, k);
	kr_raw_sends(b2, b.s);
	cr_assert(wait_info(c, "clients", "blocked_clients", 2, 10000, &v), "blocked_clients %lld", v);
	kr_sb_reset(&b);
	resp_fmt(&b, "BLMOVE %s %s LEFT RIGHT 0", k2, ek[3]);
	kr_raw_sends(b3, b.s);
	cr_assert(wait_info(c, "clients", "blocked_clients", 3, 10000, &v), "blocked_clients %lld", v);
	char l[8][128];
	snprintf(l[0], 128, "RPUSH %s a b", k);
	snprintf(l[1], 128, "LPOP %s", k);
	snprintf(l[2], 128, "RPUSH %s c", k2);
	snprintf(l[3], 128, "LPOP %s", k2);
	snprintf(l[4], 128, "BLPOP %s %s 0", ek[4], ek[5]);
	snprintf(l[5], 128, "BLMOVE %s %s LEFT RIGHT 0", ek[4], ek[5]);
	snprintf(l[6], 128, "BZPOPMIN %s 0", ek[6]);
	const char *q[] = { "MULTI", l[0], l[1], l[2], l[3], l[4], l[5], l[6], "EXEC" };
	const char *w[] = { "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED",
			    "*7[:2,$a,:1,$c,nil,nil,nil]" };
	pipeline_expect(c, 9, q, w);
	char want[128];
	snprintf(want, sizeof want, "*2\r\n$%zu\r\n%s\r\n$1\r\nb\r\n", strlen(k), k);
	char *r = raw_one(b1);
	if (!r) {
		char *r2 = raw_one(b2);
		cr_assert_fail("oldest client blocked on %s got nothing; the younger one blocked on %s %s got %s",
			       k, k2, k, r2 ? r2 : "nothing");
	}
	cr_assert(strcmp(r, want) == 0, "oldest client blocked on %s got %s", k, r);
	free(r);
	/* b2 and b3 wait on: nothing for them yet. */
	cr_assert(wait_info(c, "clients", "blocked_clients", 2, 10000, &v), "blocked_clients %lld, want 2", v);
	mexpect(c, ":1", "RPUSH %s d", k2);
	snprintf(want, sizeof want, "*2\r\n$%zu\r\n%s\r\n$1\r\nd\r\n", strlen(k2), k2);
	r = raw_one(b2);
	if (!r) {
		char *r3 = raw_one(b3);
		cr_assert_fail("client blocked on %s %s got nothing; the younger BLMOVE client blocked on %s got %s",
			       k2, k, k2, r3 ? r3 : "nothing");
	}
	cr_assert(strcmp(r, want) == 0, "client blocked on %s %s got %s", k2, k, r);
	free(r);
	mexpect(c, ":1", "RPUSH %s e", k2);
	r = raw_one(b3);
	cr_assert(r && strcmp(r, "$1\r\ne\r\n") == 0, "BLMOVE client got %s", r ? r : "nothing");
	free(r);
	mexpect(c, "*1[$e]", "LRANGE %s 0 -1", ek[3]);
	free(b.s);
	close(b1);
	close(b2);
	close(b3);
	expect_no_one_left(c, 1);
	redisFree(c);
	srv_down();
}

/* Keys made ready by one EXEC serve their waiters oldest first, in the
 * order the keys were written: a client blocked on k2 and k must not take
 * k's element ahead of an older client blocked on k alone (Redis 7.0
 * serves each ready key's waiters from that key). */
Test(txnstress, ready_keys_served_in_order)
{
	srv_up(NULL);
	edge_keys();
	redisContext *c = kr_connect(&srv);
	int b1 = kr_raw_connect(&srv), b2 = kr_raw_connect(&srv);
	struct timeval tv = { 5, 0 };
	setsockopt(b1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(b2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* ek[n] is the second key of shard 0: k and k2 share a shard, so
	 * this is the plain one-shard wake-up path. */
	const char *k = ek[0], *k2 = ek[nshards() < 8 ? nshards() : 0];
	struct kr_sb b = {0};
	resp_fmt(&b, "BLPOP %s 0", k);
	kr_raw_sends(b1, b.s);
	long long v;
	cr_assert(wait_info(c, "clients", "blocked_clients", 1, 10000, &v), "blocked_clients %lld", v);
	kr_sb_reset(&b);
	resp_fmt(&b, "BLPOP %s %s 0", k2, k);
	kr_raw_sends(b2, b.s);
	cr_assert(wait_info(c, "clients", "blocked_clients", 2, 10000, &v), "blocked_clients %lld", v);
	char l[3][320];
	snprintf(l[0], 320, "RPUSH %s a", k);
	snprintf(l[1], 320, "RPUSH %s c", k2);
	snprintf(l[2], 320, "LPOP %s", k2);
	const char *q[] = { "MULTI", l[0], l[1], l[2], "EXEC" };
	const char *w[] = { "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3[:1,:1,$c]" };
	pipeline_expect(c, 5, q, w);
	char want[320];
	snprintf(want, sizeof want, "*2\r\n$%zu\r\n%s\r\n$1\r\na\r\n", strlen(k), k);
	char *r = raw_one(b1);
	if (!r) {
		char *r2 = raw_one(b2);
		cr_assert_fail("the client blocked on %s first got nothing; the one blocked on %s %s after it got %s",
			       k, k2, k, r2 ? r2 : "nothing");
	}
	cr_assert(strcmp(r, want) == 0, "oldest client got %s", r);
	free(r);
	free(b.s);
	close(b1);
	close(b2);
	expect_no_one_left(c, 1);
	redisFree(c);
	srv_down();
}

/* A client killed while its EXEC waits for a lock: the EXEC still runs
 * whole once the lock comes (its locks must be released), including a
 * coordinator that finishes at once (RENAME of a missing key of the
 * client's shard) followed by commands sent to other shards, and nothing
 * of the departed client may be used after it is freed. Needs 3 shards:
 * the sleeping EXEC's client on shard 0 holds shard 1's lock; the victim
 * on shard 2 takes its own shard's lock last (ascending order), so CLIENT
 * KILL reaches it while it waits. */
Test(txnstress, exec_of_killed_client_waiting_for_locks)
{
	if (nshards() < 3)
		cr_skip_test("needs 3 shards");
	srv_up(NULL);
	char a[32], b[32], x[32], y[32];
	key_on(a, sizeof a, "kxa", 2, 0);
	key_on(b, sizeof b, "kxb", 1, 0);
	key_on(x, sizeof x, "kxx", 1, 1);
	key_on(y, sizeof y, "kxy", 2, 1);
	redisContext *o = kr_connect(&srv);
	for (int round = 0; round < 3; round++) {
		long long lid, vid;
		redisContext *l = connect_on_shard(0, &lid), *v = connect_on_shard(2, &vid);
		char line[4][128];
		snprintf(line[0], sizeof line[0], "SET %s 1", x);
		append_line(l, "MULTI");
		append_line(l, line[0]);
		append_line(l, "DEBUG SLEEP 0.6");
		append_line(l, "EXEC");
		int done = 0;
		while (!done)
			cr_assert_eq(redisBufferWrite(l, &done), REDIS_OK);
		kr_sleep_ms(150);
		snprintf(line[0], sizeof line[0], "RENAME %s %s", a, b);
		snprintf(line[1], sizeof line[1], "GET %s", x);
		snprintf(line[2], sizeof line[2], "SET %s %d", y, round);
		snprintf(line[3], sizeof line[3], "MGET %s %s", x, y);
		append_line(v, "MULTI");
		for (int i = 0; i < 4; i++)
			append_line(v, line[i]);
		append_line(v, "EXEC");
		done = 0;
		while (!done)
			cr_assert_eq(redisBufferWrite(v, &done), REDIS_OK);
		kr_sleep_ms(100);
		mexpect(o, ":1", "CLIENT KILL ID %lld", vid);
		for (int i = 0; i < 4; i++) {
			redisReply *r;
			cr_assert_eq(redisGetReply(l, (void **)&r), REDIS_OK);
			freeReplyObject(r);
		}
		redisFree(l);
		redisFree(v);
		/* The killed client's EXEC ran whole. */
		redisReply *r = redisCommand(o, "GET %s", y);
		if (!r) {
			kr_sleep_ms(300);   /* let a dying server finish its report */
			assert_alive();
		}
		cr_assert(r && r->type == REDIS_REPLY_STRING && atoi(r->str) == round,
			  "round %d: the killed client's EXEC did not run whole", round);
		freeReplyObject(r);
	}
	expect_no_one_left(o, 1);
	redisFree(o);
	srv_down();
}
