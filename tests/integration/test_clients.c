/* Integration tests with the stock Redis tools: redis-cli (raw and --no-raw
 * output, INFO, --pipe mass insertion) and redis-benchmark, each followed by
 * checks of the state they left behind. Expectations were checked against
 * redis-server 7.0 with Debian's redis-tools 7.0. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct kr_srv srv;

static void start_default(void)
{
	cr_assert(access("/usr/bin/redis-cli", X_OK) == 0, "redis-cli is not installed");
	kr_srv_start(&srv, NULL);
}
static void stop_server(void) { kr_srv_stop(&srv); }

TestSuite(clients, .init = start_default, .fini = stop_server, .timeout = 580);

/* Runs redis-cli with args against the server and compares stdout exactly. */
static void cli_expect(const char *args, const char *want)
{
	char out[4096];
	int rc = kr_sh(&srv, out, sizeof(out), "redis-cli -h $HOST -p $PORT %s", args);
	cr_assert_eq(rc, 0, "redis-cli %s: exit status %d, output: %s", args, rc, out);
	cr_assert(strcmp(out, want) == 0, "redis-cli %s:\nexpected: %s\ngot:      %s", args, want, out);
}

Test(clients, redis_cli_commands)
{
	/* stdout is a pipe, so redis-cli prints raw replies. */
	cli_expect("SET foo bar", "OK\n");
	cli_expect("GET foo", "bar\n");
	cli_expect("GET nokey", "\n");
	cli_expect("INCR n", "1\n");
	cli_expect("INCRBY n 41", "42\n");
	cli_expect("MGET foo nokey n", "bar\n\n42\n");
	cli_expect("DEL foo n nokey", "2\n");
	cli_expect("EXISTS foo", "0\n");
	cli_expect("SET \"with space\" 'v a l'", "OK\n");
	cli_expect("GET \"with space\"", "v a l\n");
	cli_expect("nosuchcommand x", "ERR unknown command 'nosuchcommand', with args beginning with: 'x' \n\n");

	/* --no-raw: the interactive formatting. */
	cli_expect("--no-raw SET foo bar", "OK\n");
	cli_expect("--no-raw GET foo", "\"bar\"\n");
	cli_expect("--no-raw GET nokey", "(nil)\n");
	cli_expect("--no-raw INCR cnt", "(integer) 1\n");
	cli_expect("--no-raw MGET foo nokey", "1) \"bar\"\n2) (nil)\n");
	cli_expect("--no-raw GET", "(error) ERR wrong number of arguments for 'get' command\n");
	cli_expect("--no-raw PING", "PONG\n");

	/* Commands from stdin, one per line. */
	char out[4096];
	int rc = kr_sh(&srv, out, sizeof(out), "printf 'SET a 1\\nINCR a\\nGET a\\n' | redis-cli -h $HOST -p $PORT");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(out, "OK\n2\n2\n");

	redisContext *c = kr_connect(&srv);
	kr_bulk(c, "bar", "GET foo");
	kr_bulk(c, "v a l", "GET %s", "with space");
	kr_int(c, 4, "DBSIZE");
	redisFree(c);
}

Test(clients, redis_cli_info)
{
	cli_expect("SET a 1", "OK\n");
	cli_expect("SET b 2 EX 1000", "OK\n");
	char out[8192];
	int rc = kr_sh(&srv, out, sizeof(out), "redis-cli -h $HOST -p $PORT INFO keyspace");
	cr_assert_eq(rc, 0);
	cr_assert(strstr(out, "# Keyspace") != NULL, "INFO keyspace: %s", out);
	cr_assert(strstr(out, "db0:keys=2,expires=1,avg_ttl=") != NULL, "INFO keyspace: %s", out);
	cr_assert(strstr(out, "# Server") == NULL, "INFO keyspace printed other sections: %s", out);
	rc = kr_sh(&srv, out, sizeof(out), "redis-cli -h $HOST -p $PORT INFO server");
	cr_assert_eq(rc, 0);
	char want[64];
	snprintf(want, sizeof(want), "tcp_port:%d", srv.port);
	cr_assert(strstr(out, want) != NULL, "INFO server lacks %s: %s", want, out);
	/* --stat style one-shot and DBSIZE through the CLI. */
	cli_expect("DBSIZE", "2\n");
}

Test(clients, redis_cli_pipe_10000_sets)
{
	char dir[] = "/tmp/kr-itest-pipe-XXXXXX";
	cr_assert(mkdtemp(dir) != NULL);
	char path[64];
	snprintf(path, sizeof(path), "%s/cmds.resp", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL);
	for (int i = 0; i < 10000; i++) {
		char k[32], v[32];
		int kl = snprintf(k, sizeof(k), "pk:%d", i);
		int vl = snprintf(v, sizeof(v), "val-%d", i * 7);
		fprintf(f, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", kl, k, vl, v);
	}
	/* One command in the stream fails: counted as an error, not fatal. */
	fprintf(f, "*2\r\n$4\r\nINCR\r\n$4\r\npk:1\r\n");
	fclose(f);
	char out[4096];
	int rc = kr_sh(&srv, out, sizeof(out), "redis-cli -h $HOST -p $PORT --pipe < %s 2>&1", path);
	unlink(path);
	rmdir(dir);
	cr_assert(strstr(out, "errors: 1, replies: 10001") != NULL, "redis-cli --pipe output: %s", out);
	cr_assert(rc == 0 || rc == 1, "redis-cli --pipe exit status %d", rc);

	redisContext *c = kr_connect(&srv);
	kr_int(c, 10000, "DBSIZE");
	kr_bulk(c, "val-0", "GET pk:0");
	kr_bulk(c, "val-7", "GET pk:1");
	kr_bulk(c, "val-34993", "GET pk:4999");
	kr_bulk(c, "val-69993", "GET pk:9999");
	kr_nil(c, "GET pk:10000");
	redisFree(c);
}

/* 1 if out (redis-benchmark -q output, progress lines separated by \r)
 * has a final result line "<name>: <n> requests per second". */
static int bench_line(const char *out, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = out; *p != '\0'; p++) {
		if ((p == out || p[-1] == '\r' || p[-1] == '\n') && strncmp(p, name, nl) == 0 &&
		    strncmp(p + nl, ": ", 2) == 0) {
			char *end;
			double rps = strtod(p + nl + 2, &end);
			if (end != p + nl + 2 && rps > 0 && strncmp(end, " requests per second", 20) == 0)
				return 1;
		}
	}
	return 0;
}

Test(clients, redis_benchmark)
{
	static char out[256 * 1024];
	int rc = kr_sh(&srv, out, sizeof(out),
		       "timeout 120 redis-benchmark -h $HOST -p $PORT -t set,get,incr,mset -n 100000 -P 16 -q 2>&1");
	cr_assert_eq(rc, 0, "redis-benchmark exit status %d%s: %s", rc, rc == 124 ? " (hung, killed after 120 s)" : "",
		     out);
	static const char *const tests[] = { "SET", "GET", "INCR", "MSET (10 keys)" };
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		cr_assert(bench_line(out, tests[i]), "no result line for %s in: %s", tests[i], out);
	cr_assert(kr_srv_alive(&srv));

	redisContext *c = kr_connect(&srv);
	/* 100000 INCRs of one key; SET and MSET write key:__rand_int__ with
	 * the 3-byte payload (random letters in redis-benchmark 7). */
	kr_bulk(c, "100000", "GET counter:__rand_int__");
	kr_int(c, 3, "STRLEN key:__rand_int__");
	kr_int(c, 2, "DBSIZE");
	redisReply *r = kr_cmd(c, "KEYS *");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "KEYS *");
	freeReplyObject(r);
	long long total = -1;
	r = kr_cmd(c, "INFO stats");
	const char *p = strstr(r->str, "total_commands_processed:");
	total = p != NULL ? atoll(p + 25) : -1;
	freeReplyObject(r);
	cr_assert_geq(total, 400000, "total_commands_processed %lld after 4 x 100000 requests", total);
	redisFree(c);
}

/* Several benchmark runs back to back on one server, alternating deep
 * pipelines with many unpipelined clients (connections come and go with
 * replies in flight); every INCR must land. */
Test(clients, redis_benchmark_repeated)
{
	static char out[256 * 1024];
	static const char *const modes[] = { "-P 16", "-c 50 -P 1", "-P 16 -c 20", "-c 100 -P 4",
					     "-P 16", "-c 50 -P 1", "-P 32 -c 10", "-c 100 -P 4" };
	const int n = 100000;
	for (size_t round = 0; round < sizeof(modes) / sizeof(modes[0]); round++) {
		int rc = kr_sh(&srv, out, sizeof(out),
			       "timeout 120 redis-benchmark -h $HOST -p $PORT -t set,get,incr,mset -n %d %s -q 2>&1", n,
			       modes[round]);
		cr_assert(kr_srv_alive(&srv), "server died during benchmark round %zu (%s): %s", round, modes[round],
			  out);
		cr_assert_eq(rc, 0, "redis-benchmark round %zu (%s): exit status %d%s: %s", round, modes[round], rc,
			     rc == 124 ? " (hung, killed after 120 s)" : "", out);
		static const char *const tests[] = { "SET", "GET", "INCR", "MSET (10 keys)" };
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
			cr_assert(bench_line(out, tests[i]), "round %zu: no result line for %s in: %s", round, tests[i],
				  out);
		redisContext *c = kr_connect(&srv);
		char want[32];
		snprintf(want, sizeof(want), "%lld", (long long)n * (long long)(round + 1));
		kr_bulk(c, want, "GET counter:__rand_int__");
		kr_int(c, 2, "DBSIZE");
		redisFree(c);
	}
}
