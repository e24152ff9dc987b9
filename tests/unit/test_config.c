/* Unit tests for server/: configuration (file, command line, CONFIG GET/SET),
 * glob matching and the log line format.
 *
 * Directive cases are tables applied twice: written into a temporary
 * redis.conf-style file (errors must name file:line) and passed as
 * --directive words on the command line (errors start "command line: "). */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server.h"

/* glob.c compiled a second time under another name, with a counter on
 * every element test, so the complexity bound is checked by counting. */
static unsigned long long glob_steps;
#define KR_GLOB_STEP() (glob_steps++)
#define srv_glob_match counted_glob_match
#include "server/glob.c"
#undef srv_glob_match
#undef KR_GLOB_STEP

#define NWORDS 20

/* ---- helpers ---- */

static char *tmp_paths[256];
static int ntmp;

static void tmp_cleanup(void)
{
	for (int i = 0; i < ntmp; i++) {
		unlink(tmp_paths[i]);
		free(tmp_paths[i]);
	}
	ntmp = 0;
}

TestSuite(config, .fini = tmp_cleanup);

/* A new temp file holding content; removed when the test ends. */
static const char *tmp_write(const char *content)
{
	char path[] = "/tmp/kr-cfg-test-XXXXXX.conf";
	int fd = mkstemps(path, 5);
	cr_assert(fd >= 0, "mkstemps: %s", strerror(errno));
	size_t len = strlen(content);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	cr_assert(ntmp < 256);
	tmp_paths[ntmp] = strdup(path);
	return tmp_paths[ntmp++];
}

/* A temp path that does not exist yet (removed at the end if created). */
static const char *tmp_name(void)
{
	const char *p = tmp_write("");
	unlink(p);
	return p;
}

static struct cfg *new_cfg(void)
{
	struct cfg *c = malloc(sizeof *c);
	cr_assert(c);
	cfg_defaults(c);
	return c;
}

struct got {
	int n;
	char *names[96];
	char *values[96];
};

static void collect(void *arg, const char *name, const char *value)
{
	struct got *g = arg;
	cr_assert(g->n < 96);
	g->names[g->n] = strdup(name);
	g->values[g->n] = strdup(value);
	g->n++;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++) {
		free(g->names[i]);
		free(g->values[i]);
	}
	g->n = 0;
}

/* CONFIG GET of one exact name: must match exactly one entry. Returns a
 * heap copy of its value. */
static char *get1(const struct cfg *c, const char *name)
{
	struct got g = { 0 };
	cfg_get(c, name, collect, &g);
	cr_assert_eq(g.n, 1, "CONFIG GET %s matched %d entries", name, g.n);
	cr_assert_str_eq(g.names[0], name);
	char *v = strdup(g.values[0]);
	got_free(&g);
	return v;
}

static void expect_get(const struct cfg *c, const char *name, const char *want)
{
	char *v = get1(c, name);
	cr_expect_str_eq(v, want, "CONFIG GET %s: got '%s', want '%s'", name, v, want);
	free(v);
}

static int nwords(const char *const *w)
{
	int n = 0;
	while (n < NWORDS && w[n])
		n++;
	return n;
}

/* Words as one config-file line, quoting only where needed. */
static void words_to_line(const char *const *w, char *out, size_t len)
{
	size_t off = 0;
	for (int i = 0; w[i]; i++) {
		const char *s = w[i];
		bool q = s[0] == '\0' || strpbrk(s, " \t\"'\\#") != NULL;
		if (i)
			out[off++] = ' ';
		if (q)
			out[off++] = '"';
		for (; *s; s++) {
			if (q && (*s == '"' || *s == '\\'))
				out[off++] = '\\';
			out[off++] = *s;
		}
		if (q)
			out[off++] = '"';
		cr_assert(off + 4 < len);
	}
	out[off] = '\0';
}

/* Load content as a config file; returns cfg_load_args's result. */
static int load_text(struct cfg *c, const char *content, const char **pathp, char *err, size_t errlen)
{
	const char *path = tmp_write(content);
	char *argv[] = { "keyrail-server", (char *)path, NULL };
	if (pathp)
		*pathp = path;
	return cfg_load_args(c, 2, argv, err, errlen);
}

/* Run words as `keyrail-server --w0 w1 w2 ...`. */
static int load_cmdline(struct cfg *c, const char *const *w, char *err, size_t errlen)
{
	char *argv[NWORDS + 2];
	char opt[128];
	int n = nwords(w);
	snprintf(opt, sizeof opt, "--%s", w[0]);
	argv[0] = "keyrail-server";
	argv[1] = opt;
	for (int i = 1; i < n; i++)
		argv[i + 1] = (char *)w[i];
	argv[n + 1] = NULL;
	return cfg_load_args(c, n + 1, argv, err, errlen);
}

/* ---- defaults and CONFIG GET ---- */

struct name_value {
	const char *name;
	const char *value;
};

Test(config, defaults_as_redis)
{
	struct cfg *c = new_cfg();
	char *cwd = realpath(".", NULL);
	const struct name_value want[] = {
		{ "bind", "127.0.0.1 -::1" }, { "port", "6379" }, { "shards", "0" },
		{ "server-threads", "0" }, { "requirepass", "" }, { "protected-mode", "yes" },
		{ "maxclients", "10000" }, { "timeout", "0" }, { "tcp-keepalive", "300" },
		{ "tcp-backlog", "511" }, { "databases", "16" }, { "loglevel", "notice" },
		{ "logfile", "" }, { "daemonize", "no" }, { "pidfile", "" }, { "dir", cwd },
		{ "proto-max-bulk-len", "536870912" }, { "client-query-buffer-limit", "1073741824" },
		{ "busy-poll", "no" }, { "enable-debug-command", "local" },
		{ "slowlog-log-slower-than", "10000" }, { "slowlog-max-len", "128" },
		{ "hz", "10" }, { "save", "3600 1 300 100 60 10000" }, { "appendonly", "no" },
		/* persistence and replication */
		{ "dbfilename", "dump.rdb" }, { "stop-writes-on-bgsave-error", "yes" },
		{ "rdbcompression", "yes" }, { "rdbchecksum", "yes" },
		{ "appendfilename", "appendonly.aof" }, { "appenddirname", "appendonlydir" },
		{ "appendfsync", "everysec" }, { "aof-load-truncated", "yes" },
		{ "aof-use-rdb-preamble", "yes" },
		{ "repl-backlog-size", "1048576" }, { "replicaof", "" }, { "slaveof", "" },
		{ "masterauth", "" }, { "masteruser", "" }, { "replica-read-only", "yes" },
		{ "slave-read-only", "yes" }, { "replica-serve-stale-data", "yes" },
		{ "slave-serve-stale-data", "yes" }, { "repl-timeout", "60" },
		{ "min-replicas-to-write", "0" }, { "min-slaves-to-write", "0" },
		{ "min-replicas-max-lag", "10" }, { "min-slaves-max-lag", "10" },
		{ "repl-backlog-ttl", "3600" }, { "repl-diskless-sync", "yes" },
		{ "repl-diskless-sync-delay", "5" }, { "repl-diskless-sync-max-replicas", "0" },
		{ "client-output-buffer-limit",
		  "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60" },
		/* DPDK data plane */
		{ "dataplane", "kernel" }, { "dpdk-eal-args", "" }, { "dpdk-port", "0" },
		{ "dpdk-ip", "" }, { "dpdk-gateway", "" }, { "dpdk-mtu", "1500" },
		{ "dpdk-rx-desc", "1024" }, { "dpdk-tx-desc", "1024" }, { "dpdk-mbufs", "16383" },
		{ "dpdk-fault-inject", "" },
		/* value types: Redis 7's defaults, under both names */
		{ "list-max-listpack-size", "-2" }, { "list-max-ziplist-size", "-2" },
		{ "list-compress-depth", "0" },
		{ "hash-max-listpack-entries", "128" }, { "hash-max-ziplist-entries", "128" },
		{ "hash-max-listpack-value", "64" }, { "hash-max-ziplist-value", "64" },
		{ "set-max-intset-entries", "512" }, { "set-max-listpack-entries", "128" },
		{ "set-max-listpack-value", "64" },
		{ "zset-max-listpack-entries", "128" }, { "zset-max-ziplist-entries", "128" },
		{ "zset-max-listpack-value", "64" }, { "zset-max-ziplist-value", "64" },
		{ "hll-sparse-max-bytes", "3000" },
		{ "busy-reply-threshold", "5000" }, { "lua-time-limit", "5000" },
	};
	size_t nwant = sizeof want / sizeof want[0];

	/* '*' lists every directive (aliases too) exactly once, with these values */
	struct got g = { 0 };
	cfg_get(c, "*", collect, &g);
	cr_assert_eq((size_t)g.n, nwant, "CONFIG GET * gave %d entries", g.n);
	for (size_t i = 0; i < nwant; i++) {
		int found = 0;
		for (int k = 0; k < g.n; k++) {
			if (strcmp(g.names[k], want[i].name) == 0) {
				found++;
				cr_expect_str_eq(g.values[k], want[i].value, "%s", want[i].name);
			}
		}
		cr_expect_eq(found, 1, "%s listed %d times", want[i].name, found);
	}
	got_free(&g);

	cr_expect_eq(c->port, 6379);
	cr_expect_null(c->requirepass);
	cr_expect_null(c->pidfile);
	cr_expect_null(c->config_file);
	cr_expect_eq(c->loglevel, LL_NOTICE);
	cr_expect_eq(c->enable_debug_command, DEBUGCMD_LOCAL);
	cr_expect_str_eq(c->bind[0], "127.0.0.1");
	cr_expect_str_eq(c->bind[1], "-::1");
	cr_expect_null(c->bind[2]);
	free(cwd);
	cfg_free(c);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(config, get_patterns)
{
	static const struct {
		const char *pattern;
		const char *names[8];    /* sorted */
	} cases[] = {
		{ "port", { "port" } },
		{ "PORT", { "port" } },
		{ "Port", { "port" } },
		{ "tcp-*", { "tcp-backlog", "tcp-keepalive" } },
		{ "slowlog*", { "slowlog-log-slower-than", "slowlog-max-len" } },
		{ "*max*b*", { "hll-sparse-max-bytes", "proto-max-bulk-len" } },
		{ "hash-*", { "hash-max-listpack-entries", "hash-max-listpack-value",
			      "hash-max-ziplist-entries", "hash-max-ziplist-value" } },
		{ "se*", { "server-threads", "set-max-intset-entries", "set-max-listpack-entries",
			   "set-max-listpack-value" } },
		{ "shards", { "shards" } },
		{ "server-threads", { "server-threads" } },
		{ "?z", { "hz" } },
		{ "[bd][^p]*", { "bind", "busy-poll", "busy-reply-threshold", "daemonize", "databases",
				 "dataplane", "dbfilename", "dir" } },
		{ "*-mode", { "protected-mode" } },
		{ "appendonly", { "appendonly" } },
		{ "save", { "save" } },
		{ "nomatch", { NULL } },
		{ "", { NULL } },
		{ "dbfilename", { "dbfilename" } },
	};
	struct cfg *c = new_cfg();

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct got g = { 0 };
		int nexp = 0;
		while (nexp < 8 && cases[i].names[nexp])
			nexp++;
		cfg_get(c, cases[i].pattern, collect, &g);
		cr_expect_eq(g.n, nexp, "pattern '%s': %d matches, want %d", cases[i].pattern, g.n, nexp);
		qsort(g.names, (size_t)g.n, sizeof g.names[0], cmp_str);
		for (int k = 0; k < g.n && k < nexp; k++)
			cr_expect_str_eq(g.names[k], cases[i].names[k], "pattern '%s'", cases[i].pattern);
		got_free(&g);
	}
	cfg_free(c);
}

/* ---- every directive, valid values, from a file and the command line ---- */

struct ok_case {
	const char *words[NWORDS];
	const char *get;        /* CONFIG GET name to check */
	const char *want;
};

static const struct ok_case ok_cases[] = {
	{ { "port", "7000" }, "port", "7000" },
	{ { "port", "0" }, "port", "0" },
	{ { "port", "65535" }, "port", "65535" },
	{ { "PORT", "7001" }, "port", "7001" },
	{ { "bind", "0.0.0.0" }, "bind", "0.0.0.0" },
	{ { "bind", "192.168.1.1", "-::1", "10.0.0.1" }, "bind", "192.168.1.1 -::1 10.0.0.1" },
	{ { "bind", "*", "-::*" }, "bind", "* -::*" },
	{ { "shards", "4" }, "shards", "4" },
	{ { "shards", "0" }, "server-threads", "0" },
	{ { "shards", "128" }, "shards", "128" },
	{ { "server-threads", "8" }, "shards", "8" },
	{ { "server-threads", "3" }, "server-threads", "3" },
	{ { "requirepass", "s3cret" }, "requirepass", "s3cret" },
	{ { "requirepass", "with space" }, "requirepass", "with space" },
	{ { "requirepass", "" }, "requirepass", "" },
	{ { "protected-mode", "no" }, "protected-mode", "no" },
	{ { "protected-mode", "YES" }, "protected-mode", "yes" },
	{ { "maxclients", "1" }, "maxclients", "1" },
	{ { "maxclients", "50000" }, "maxclients", "50000" },
	{ { "timeout", "0" }, "timeout", "0" },
	{ { "timeout", "300" }, "timeout", "300" },
	{ { "timeout", "2147483647" }, "timeout", "2147483647" },
	{ { "tcp-keepalive", "0" }, "tcp-keepalive", "0" },
	{ { "tcp-keepalive", "60" }, "tcp-keepalive", "60" },
	{ { "tcp-backlog", "1024" }, "tcp-backlog", "1024" },
	{ { "databases", "1" }, "databases", "1" },
	{ { "databases", "1000000" }, "databases", "1000000" },
	{ { "loglevel", "debug" }, "loglevel", "debug" },
	{ { "loglevel", "verbose" }, "loglevel", "verbose" },
	{ { "loglevel", "notice" }, "loglevel", "notice" },
	{ { "loglevel", "WARNING" }, "loglevel", "warning" },
	{ { "loglevel", "nothing" }, "loglevel", "nothing" },
	{ { "logfile", "" }, "logfile", "" },
	{ { "daemonize", "yes" }, "daemonize", "yes" },
	{ { "daemonize", "no" }, "daemonize", "no" },
	{ { "pidfile", "/var/run/keyrail.pid" }, "pidfile", "/var/run/keyrail.pid" },
	{ { "pidfile", "" }, "pidfile", "" },
	{ { "dir", "/" }, "dir", "/" },
	{ { "proto-max-bulk-len", "1mb" }, "proto-max-bulk-len", "1048576" },
	{ { "proto-max-bulk-len", "2gb" }, "proto-max-bulk-len", "2147483648" },
	{ { "client-query-buffer-limit", "64mb" }, "client-query-buffer-limit", "67108864" },
	{ { "client-query-buffer-limit", "2000000" }, "client-query-buffer-limit", "2000000" },
	{ { "busy-poll", "yes" }, "busy-poll", "yes" },
	{ { "busy-poll", "no" }, "busy-poll", "no" },
	{ { "enable-debug-command", "yes" }, "enable-debug-command", "yes" },
	{ { "enable-debug-command", "no" }, "enable-debug-command", "no" },
	{ { "enable-debug-command", "LOCAL" }, "enable-debug-command", "local" },
	{ { "slowlog-log-slower-than", "-1" }, "slowlog-log-slower-than", "-1" },
	{ { "slowlog-log-slower-than", "0" }, "slowlog-log-slower-than", "0" },
	{ { "slowlog-log-slower-than", "123456" }, "slowlog-log-slower-than", "123456" },
	{ { "slowlog-max-len", "0" }, "slowlog-max-len", "0" },
	{ { "slowlog-max-len", "1024" }, "slowlog-max-len", "1024" },
	{ { "hz", "1" }, "hz", "1" },
	{ { "hz", "100" }, "hz", "100" },
	{ { "hz", "500" }, "hz", "500" },
	{ { "save", "" }, "save", "" },
	{ { "appendonly", "no" }, "appendonly", "no" },
	{ { "appendonly", "NO" }, "appendonly", "no" },
	/* replication, replica side */
	{ { "replicaof", "127.0.0.1", "6380" }, "replicaof", "127.0.0.1 6380" },
	{ { "slaveof", "master.example", "0" }, "replicaof", "master.example 0" },
	{ { "replicaof", "NO", "one" }, "replicaof", "" },
	{ { "masterauth", "pw" }, "masterauth", "pw" },
	{ { "masterauth", "" }, "masterauth", "" },
	{ { "masteruser", "repl" }, "masteruser", "repl" },
	{ { "replica-read-only", "no" }, "replica-read-only", "no" },
	{ { "slave-read-only", "no" }, "replica-read-only", "no" },
	{ { "replica-serve-stale-data", "no" }, "replica-serve-stale-data", "no" },
	{ { "repl-timeout", "5" }, "repl-timeout", "5" },
	{ { "min-slaves-to-write", "2" }, "min-replicas-to-write", "2" },
	{ { "min-replicas-max-lag", "0" }, "min-slaves-max-lag", "0" },
	{ { "repl-backlog-ttl", "0" }, "repl-backlog-ttl", "0" },
	{ { "client-output-buffer-limit", "replica", "1mb", "2mb", "3", "pubsub", "0", "0", "0" },
	  "client-output-buffer-limit", "normal 0 0 0 slave 1048576 2097152 3 pubsub 0 0 0" },
};

Test(config, directives_ok_from_file)
{
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		const struct ok_case *t = &ok_cases[i];
		char line[1024], text[1200], err[512] = "";
		words_to_line(t->words, line, sizeof line);
		snprintf(text, sizeof text, "# test file\n\n%s\n", line);
		struct cfg *c = new_cfg();
		int rc = load_text(c, text, NULL, err, sizeof err);
		cr_expect_eq(rc, 0, "'%s' failed: %s", line, err);
		if (rc == 0)
			expect_get(c, t->get, t->want);
		cfg_free(c);
	}
}

Test(config, directives_ok_from_command_line)
{
	for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		const struct ok_case *t = &ok_cases[i];
		char err[512] = "";
		struct cfg *c = new_cfg();
		int rc = load_cmdline(c, t->words, err, sizeof err);
		cr_expect_eq(rc, 0, "--%s failed: %s", t->words[0], err);
		if (rc == 0)
			expect_get(c, t->get, t->want);
		cfg_free(c);
	}
}

Test(config, fields_are_set)
{
	char err[512] = "";
	struct cfg *c = new_cfg();
	const char *text =
		"bind 10.0.0.1 -::1\nport 7777\nshards 3\nrequirepass pw\nprotected-mode no\n"
		"maxclients 77\ntimeout 5\ntcp-keepalive 6\ntcp-backlog 7\ndatabases 8\n"
		"loglevel warning\ndaemonize yes\npidfile /tmp/x.pid\ndir /\n"
		"proto-max-bulk-len 2mb\nclient-query-buffer-limit 3mb\nbusy-poll yes\n"
		"enable-debug-command no\nslowlog-log-slower-than -1\nslowlog-max-len 9\nhz 11\n";
	const char *path;
	cr_assert_eq(load_text(c, text, &path, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c->bind[0], "10.0.0.1");
	cr_expect_str_eq(c->bind[1], "-::1");
	cr_expect_null(c->bind[2]);
	cr_expect_eq(c->port, 7777);
	cr_expect_eq(c->shards, 3);
	cr_expect_str_eq(c->requirepass, "pw");
	cr_expect_eq(c->protected_mode, false);
	cr_expect_eq(c->maxclients, 77);
	cr_expect_eq(c->timeout_s, 5);
	cr_expect_eq(c->tcp_keepalive_s, 6);
	cr_expect_eq(c->tcp_backlog, 7);
	cr_expect_eq(c->databases, 8);
	cr_expect_eq(c->loglevel, LL_WARNING);
	cr_expect_eq(c->daemonize, true);
	cr_expect_str_eq(c->pidfile, "/tmp/x.pid");
	cr_expect_str_eq(c->dir, "/");
	cr_expect_eq(c->proto_max_bulk_len, 2 * 1024 * 1024);
	cr_expect_eq(c->client_query_buffer_limit, 3 * 1024 * 1024);
	cr_expect_eq(c->busy_poll, true);
	cr_expect_eq(c->enable_debug_command, DEBUGCMD_NO);
	cr_expect_eq(c->slowlog_log_slower_than_us, -1);
	cr_expect_eq(c->slowlog_max_len, 9);
	cr_expect_eq(c->hz, 11);
	char *abs = realpath(path, NULL);
	cr_expect_str_eq(c->config_file, abs);
	free(abs);
	cfg_free(c);
}

/* ---- every directive, invalid values ---- */

struct bad_case {
	const char *words[NWORDS];
	const char *reason;     /* after "file:line: " or "command line: " */
};

#define RANGE(lo, hi) RANGE_(lo, hi)    /* expands LLMAX first */
#define RANGE_(lo, hi) "argument must be between " #lo " and " #hi " inclusive"
#define NOTINT "argument couldn't be parsed into an integer"
#define NOTBOOL "argument must be 'yes' or 'no'"
#define NOTMEM "argument must be a memory value"
#define LLMAX 9223372036854775807

static const struct bad_case bad_cases[] = {
	{ { "port", "65536" }, RANGE(0, 65535) " (port)" },
	{ { "port", "-1" }, RANGE(0, 65535) " (port)" },
	{ { "port", "abc" }, NOTINT " (port)" },
	{ { "port", "80x" }, NOTINT " (port)" },
	{ { "port", "+80" }, NOTINT " (port)" },
	{ { "port", "080" }, NOTINT " (port)" },
	{ { "port", " 80" }, NOTINT " (port)" },
	{ { "port", "" }, NOTINT " (port)" },
	{ { "port", "-0" }, NOTINT " (port)" },
	{ { "port", "99999999999999999999" }, NOTINT " (port)" },
	{ { "port", "1", "2" }, "wrong number of arguments (port)" },
	{ { "port" }, "wrong number of arguments (port)" },
	{ { "bind" }, "wrong number of arguments (bind)" },
	{ { "bind", "" }, "bind address must not be empty (bind)" },
	{ { "bind", "127.0.0.1", "-" }, "bind address must not be empty (bind)" },
	{ { "bind", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12",
	    "a13", "a14", "a15", "a16", "a17" }, "too many bind addresses (at most 16) (bind)" },
	{ { "shards", "129" }, RANGE(0, 128) " (shards)" },
	{ { "server-threads", "-1" }, RANGE(0, 128) " (server-threads)" },
	{ { "shards", "auto" }, NOTINT " (shards)" },
	{ { "requirepass", "a", "b" }, "wrong number of arguments (requirepass)" },
	{ { "protected-mode", "true" }, NOTBOOL " (protected-mode)" },
	{ { "protected-mode", "1" }, NOTBOOL " (protected-mode)" },
	{ { "protected-mode", "" }, NOTBOOL " (protected-mode)" },
	{ { "maxclients", "0" }, RANGE(1, LLMAX) " (maxclients)" },
	{ { "maxclients", "10k" }, NOTINT " (maxclients)" },
	{ { "timeout", "-1" }, RANGE(0, 2147483647) " (timeout)" },
	{ { "timeout", "1.5" }, NOTINT " (timeout)" },
	{ { "timeout", "2147483648" }, RANGE(0, 2147483647) " (timeout)" },
	{ { "tcp-keepalive", "-5" }, RANGE(0, 2147483647) " (tcp-keepalive)" },
	{ { "tcp-backlog", "2147483648" }, RANGE(0, 2147483647) " (tcp-backlog)" },
	{ { "databases", "0" }, RANGE(1, 1000000) " (databases)" },
	{ { "databases", "1000001" }, RANGE(1, 1000000) " (databases)" },
	{ { "loglevel", "loud" },
	  "argument(s) must be one of the following: debug, verbose, notice, warning, nothing (loglevel)" },
	{ { "logfile", "/nonexistent-kr-dir/x.log" },
	  "can't open the log file: No such file or directory (logfile)" },
	{ { "daemonize", "maybe" }, NOTBOOL " (daemonize)" },
	{ { "pidfile", "a", "b" }, "wrong number of arguments (pidfile)" },
	{ { "dir", "/nonexistent-kr-dir" },
	  "can't use directory '/nonexistent-kr-dir': No such file or directory (dir)" },
	{ { "dir", "/etc/passwd" }, "can't use directory '/etc/passwd': Not a directory (dir)" },
	{ { "dir", "" }, "directory must not be empty (dir)" },
	{ { "proto-max-bulk-len", "1000k" }, RANGE(1048576, LLMAX) " (proto-max-bulk-len)" },
	{ { "proto-max-bulk-len", "lots" }, NOTMEM " (proto-max-bulk-len)" },
	{ { "proto-max-bulk-len", "-1mb" }, NOTMEM " (proto-max-bulk-len)" },
	{ { "client-query-buffer-limit", "0" }, RANGE(1048576, LLMAX) " (client-query-buffer-limit)" },
	{ { "client-query-buffer-limit", "1tb" }, NOTMEM " (client-query-buffer-limit)" },
	{ { "busy-poll", "on" }, NOTBOOL " (busy-poll)" },
	{ { "enable-debug-command", "maybe" },
	  "argument(s) must be one of the following: no, yes, local (enable-debug-command)" },
	{ { "slowlog-log-slower-than", "-2" }, RANGE(-1, LLMAX) " (slowlog-log-slower-than)" },
	{ { "slowlog-max-len", "-1" }, RANGE(0, LLMAX) " (slowlog-max-len)" },
	{ { "hz", "0" }, RANGE(1, 500) " (hz)" },
	{ { "hz", "501" }, RANGE(1, 500) " (hz)" },
	{ { "hz", "ten" }, NOTINT " (hz)" },
	/* persistence and replication */
	{ { "appendonly", "maybe" }, NOTBOOL " (appendonly)" },
	{ { "dbfilename", "a/b" }, "dbfilename can't be a path, just a filename (dbfilename)" },
	{ { "appendfilename", "a/b" }, "appendfilename can't be a path, just a filename (appendfilename)" },
	{ { "appendfsync", "sometimes" },
	  "argument(s) must be one of the following: always, everysec, no (appendfsync)" },
	{ { "aof-load-truncated", "maybe" }, NOTBOOL " (aof-load-truncated)" },
	{ { "stop-writes-on-bgsave-error", "maybe" }, NOTBOOL " (stop-writes-on-bgsave-error)" },
	{ { "aof-use-rdb-preamble", "maybe" }, NOTBOOL " (aof-use-rdb-preamble)" },
	{ { "save", "900" }, "Invalid save parameters (save)" },
	{ { "dataplane", "foo" }, "argument(s) must be one of the following: kernel, dpdk (dataplane)" },
	{ { "rdb-del-sync-files", "no" },
	  "rdb-del-sync-files is not supported yet (keyrail does not implement this persistence option)" },
	/* replication, replica side */
	{ { "replicaof", "127.0.0.1" }, "wrong number of arguments (replicaof)" },
	{ { "replicaof", "127.0.0.1", "6380", "x" }, "wrong number of arguments (replicaof)" },
	{ { "replicaof", "127.0.0.1", "port" }, "Invalid master port (replicaof)" },
	{ { "slaveof", "127.0.0.1", "65536" }, "Invalid master port (slaveof)" },
	{ { "replicaof", "127.0.0.1", "-1" }, "Invalid master port (replicaof)" },
	{ { "replicaof", "no", "two" }, "Invalid master port (replicaof)" },
	{ { "replicaof", "", "6380" }, "Invalid master host (replicaof)" },
	{ { "masterauth", "a", "b" }, "wrong number of arguments (masterauth)" },
	{ { "replica-read-only", "maybe" }, NOTBOOL " (replica-read-only)" },
	{ { "replica-serve-stale-data", "1" }, NOTBOOL " (replica-serve-stale-data)" },
	{ { "repl-timeout", "0" }, RANGE(1, 2147483647) " (repl-timeout)" },
	{ { "repl-timeout", "ten" }, NOTINT " (repl-timeout)" },
	{ { "repl-backlog-size", "x" }, NOTMEM " (repl-backlog-size)" },
	/* replication, master side */
	{ { "min-replicas-to-write", "-1" }, RANGE(0, 2147483647) " (min-replicas-to-write)" },
	{ { "min-slaves-max-lag", "x" }, NOTINT " (min-slaves-max-lag)" },
	{ { "repl-backlog-ttl", "-5" }, RANGE(0, 2147483647) " (repl-backlog-ttl)" },
	{ { "client-output-buffer-limit", "replica", "1mb", "0" },
	  "Wrong number of arguments in buffer limit configuration. (client-output-buffer-limit)" },
	{ { "client-output-buffer-limit", "master", "1", "2", "3" },
	  "Invalid client class specified in buffer limit configuration. (client-output-buffer-limit)" },
	{ { "client-output-buffer-limit", "slave", "1x", "0", "0" },
	  "Error in hard, soft or soft_seconds setting in buffer limit configuration. "
	  "(client-output-buffer-limit)" },
	{ { "client-output-buffer-limit", "slave", "1", "0", "-1" },
	  "Error in hard, soft or soft_seconds setting in buffer limit configuration. "
	  "(client-output-buffer-limit)" },
	{ { "repl-diskless-sync", "maybe" }, NOTBOOL " (repl-diskless-sync)" },
	{ { "repl-diskless-load", "disabled" },
	  "repl-diskless-load is not supported yet (keyrail does not implement this replication option)" },
	/* unknown */
	{ { "foo", "bar" }, "Bad directive or wrong number of arguments: 'foo bar'" },
	{ { "maxmemory-policyx", "x" }, "Bad directive or wrong number of arguments: 'maxmemory-policyx x'" },
};

Test(config, directives_bad_from_file)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *t = &bad_cases[i];
		char line[1024], text[1200], err[512] = "", want[1024];
		const char *path;
		words_to_line(t->words, line, sizeof line);
		snprintf(text, sizeof text, "# test file\n\n%s\nport 1234\n", line);
		struct cfg *c = new_cfg();
		int rc = load_text(c, text, &path, err, sizeof err);
		snprintf(want, sizeof want, "%s:3: %s", path, t->reason);
		cr_expect_eq(rc, -1, "'%s' was accepted", line);
		cr_expect_str_eq(err, want, "'%s'", line);
		cr_expect_eq(c->port, 6379, "lines after the error must not be applied");
		cfg_free(c);
	}
}

Test(config, directives_bad_from_command_line)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *t = &bad_cases[i];
		char err[512] = "", want[1024];
		struct cfg *c = new_cfg();
		int rc = load_cmdline(c, t->words, err, sizeof err);
		snprintf(want, sizeof want, "command line: %s", t->reason);
		cr_expect_eq(rc, -1, "--%s was accepted", t->words[0]);
		cr_expect_str_eq(err, want);
		cfg_free(c);
	}
}

Test(config, cfg_apply_words)
{
	char err[256] = "";
	struct cfg *c = new_cfg();
	char *ok[] = { "Port", "7000" };
	char *bad[] = { "foo", "bar", "baz" };
	char *badval[] = { "hz", "0" };
	cr_expect_eq(cfg_apply(c, 2, ok, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c->port, 7000);
	cr_expect_eq(cfg_apply(c, 3, bad, err, sizeof err), -1);
	cr_expect_str_eq(err, "Bad directive or wrong number of arguments: 'foo bar baz'");
	cr_expect_eq(cfg_apply(c, 2, badval, err, sizeof err), -1);
	cr_expect_str_eq(err, RANGE(1, 500) " (hz)");
	cr_expect_eq(c->hz, 10);
	cr_expect_eq(cfg_apply(c, 0, NULL, err, sizeof err), 0);
	cfg_free(c);
}

/* ---- memory units ---- */

Test(config, memory_units)
{
	static const struct {
		const char *in;
		long long want;         /* -1: not a memory value */
	} cases[] = {
		{ "1048576", 1048576 }, { "1048576b", 1048576 }, { "1048576B", 1048576 },
		{ "1mb", 1048576 }, { "1MB", 1048576 }, { "1Mb", 1048576 },
		{ "2m", 2000000 }, { "2M", 2000000 },
		{ "1024kb", 1048576 }, { "2000k", 2000000 }, { "2000K", 2000000 },
		{ "1g", 1000000000 }, { "1gb", 1073741824 }, { "3GB", 3221225472LL },
		{ "8589934592gb", -1 },                 /* overflows */
		{ "99999999999999999999", -1 },         /* overflows */
		{ "9223372036854775807", 9223372036854775807LL },
		{ "1.5mb", -1 }, { "mb", -1 }, { "", -1 }, { "1 mb", -1 }, { "1mbb", -1 },
		{ "1tb", -1 }, { "-5mb", -1 }, { "+5mb", -1 }, { "5mb ", -1 }, { "0x100000", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct cfg *c = new_cfg();
		char *w[] = { "proto-max-bulk-len", (char *)cases[i].in };
		int rc = cfg_apply(c, 2, w, err, sizeof err);
		if (cases[i].want < 0) {
			cr_expect_eq(rc, -1, "'%s' accepted", cases[i].in);
			cr_expect_str_eq(err, NOTMEM " (proto-max-bulk-len)", "'%s'", cases[i].in);
		} else {
			cr_expect_eq(rc, 0, "'%s': %s", cases[i].in, err);
			cr_expect_eq(c->proto_max_bulk_len, cases[i].want, "'%s'", cases[i].in);
		}
		cfg_free(c);
	}
}

/* ---- file syntax ---- */

Test(config, quoting_rules)
{
	static const struct {
		const char *line;
		const char *want;       /* requirepass afterwards */
	} cases[] = {
		{ "requirepass \"a b\"", "a b" },
		{ "requirepass 'a b'", "a b" },
		{ "requirepass \"\\x41\\x7a\\x7A\"", "Azz" },
		{ "requirepass \"tab\\there\"", "tab\there" },
		{ "requirepass \"nl\\nx\\r\"", "nl\nx\r" },
		{ "requirepass \"\\b\\a\"", "\b\a" },
		{ "requirepass \"q\\\"q\"", "q\"q" },
		{ "requirepass \"bs\\\\bs\"", "bs\\bs" },
		{ "requirepass \"\\q\"", "q" },
		{ "requirepass \"\\xZZ\"", "xZZ" },
		{ "requirepass \"it's\"", "it's" },
		{ "requirepass 'it\\'s'", "it's" },
		{ "requirepass 'raw\\n'", "raw\\n" },
		{ "requirepass 'say \"hi\"'", "say \"hi\"" },
		{ "requirepass ab\"cd\"", "abcd" },
		{ "requirepass ab'c d'", "abc d" },
		{ "requirepass back\\slash", "back\\slash" },
		{ "requirepass    spaced   ", "spaced" },
		{ "   requirepass x  ", "x" },
		{ "\trequirepass\tx\t", "x" },
		{ "REQUIREPASS X", "X" },
		{ "requirepass \"#notcomment\"", "#notcomment" },
		{ "requirepass a#b", "a#b" },
		{ "requirepass crlf\r", "crlf" },
		{ "requirepass \"\"", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[512], err[512] = "";
		snprintf(text, sizeof text, "%s\n", cases[i].line);
		struct cfg *c = new_cfg();
		int rc = load_text(c, text, NULL, err, sizeof err);
		cr_expect_eq(rc, 0, "[%s] failed: %s", cases[i].line, err);
		if (rc == 0)
			expect_get(c, "requirepass", cases[i].want);
		cfg_free(c);
	}
}

Test(config, quoting_errors)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
		{ "requirepass \"abc", "Unbalanced quotes in configuration line" },
		{ "requirepass 'abc", "Unbalanced quotes in configuration line" },
		{ "requirepass \"abc\"def", "Unbalanced quotes in configuration line" },
		{ "requirepass 'abc'def", "Unbalanced quotes in configuration line" },
		{ "requirepass \"abc\\\"", "Unbalanced quotes in configuration line" },
		{ "requirepass \"a\\x00b\"", "NUL bytes are not allowed in configuration values" },
		{ "requirepass \"a\" \"b\"", "wrong number of arguments (requirepass)" },
		{ "bind", "wrong number of arguments (bind)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[512], err[512] = "", want[1024];
		const char *path;
		snprintf(text, sizeof text, "port 7000\n# c\n   # indented comment\n\n%s\n", cases[i].line);
		struct cfg *c = new_cfg();
		cr_expect_eq(load_text(c, text, &path, err, sizeof err), -1, "[%s]", cases[i].line);
		snprintf(want, sizeof want, "%s:5: %s", path, cases[i].reason);
		cr_expect_str_eq(err, want);
		cr_expect_eq(c->port, 7000, "lines before the error are applied");
		cfg_free(c);
	}
}

Test(config, bind_quoted_words)
{
	char err[512] = "";
	struct cfg *c = new_cfg();
	cr_assert_eq(load_text(c, "bind \"127.0.0.1\" '-::1'   10.1.2.3\n", NULL, err, sizeof err), 0,
		     "%s", err);
	expect_get(c, "bind", "127.0.0.1 -::1 10.1.2.3");
	cfg_free(c);
}

Test(config, later_lines_and_command_line_win)
{
	char err[512] = "";
	struct cfg *c = new_cfg();
	const char *path = tmp_write("port 7000\nhz 20\nport 7001\nbind 1.1.1.1 2.2.2.2\nbind 3.3.3.3\n");
	char *argv[] = { "keyrail-server", (char *)path, "--port", "7002", "--maxclients", "5",
			 "--bind", "4.4.4.4", "-5.5.5.5", "--save", "--appendonly", "no",
			 "--loglevel", "debug", NULL };
	cr_assert_eq(cfg_load_args(c, 14, argv, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c->port, 7002);
	cr_expect_eq(c->hz, 20);
	cr_expect_eq(c->maxclients, 5);
	cr_expect_eq(c->loglevel, LL_DEBUG);
	expect_get(c, "bind", "4.4.4.4 -5.5.5.5");
	expect_get(c, "save", "");

	/* without the command line the last bind line wins (it replaces) */
	struct cfg *d = new_cfg();
	char *argv2[] = { "keyrail-server", (char *)path, NULL };
	cr_assert_eq(cfg_load_args(d, 2, argv2, err, sizeof err), 0, "%s", err);
	cr_expect_eq(d->port, 7001);
	expect_get(d, "bind", "3.3.3.3");
	cfg_free(d);
	cfg_free(c);
}

Test(config, command_line_only_and_errors)
{
	char err[512] = "";
	struct cfg *c = new_cfg();
	char *a1[] = { "keyrail-server", NULL };
	cr_expect_eq(cfg_load_args(c, 1, a1, err, sizeof err), 0);
	cr_expect_null(c->config_file);

	char *a2[] = { "keyrail-server", "--port", "7000", "stray", NULL };
	cr_expect_eq(cfg_load_args(c, 4, a2, err, sizeof err), -1);
	cr_expect_str_eq(err, "command line: wrong number of arguments (port)");

	const char *path = tmp_write("port 7000\n");
	char *a3[] = { "keyrail-server", (char *)path, "stray", NULL };
	cr_expect_eq(cfg_load_args(c, 3, a3, err, sizeof err), -1);
	cr_expect_str_eq(err, "command line: unexpected argument 'stray' (expected --directive)");

	char *a4[] = { "keyrail-server", "--", "x", NULL };
	cr_expect_eq(cfg_load_args(c, 3, a4, err, sizeof err), -1);
	cr_expect_str_eq(err, "command line: unexpected argument '--' (expected --directive)");

	char *a5[] = { "keyrail-server", "/nonexistent-kr-dir/keyrail.conf", NULL };
	cr_expect_eq(cfg_load_args(c, 2, a5, err, sizeof err), -1);
	cr_expect_str_eq(err, "/nonexistent-kr-dir/keyrail.conf: cannot open: No such file or directory");

	char *a6[] = { "keyrail-server", "--foo", "bar", NULL };
	cr_expect_eq(cfg_load_args(c, 3, a6, err, sizeof err), -1);
	cr_expect_str_eq(err, "command line: Bad directive or wrong number of arguments: 'foo bar'");

	char *a7[] = { "keyrail-server", "--port", NULL };
	cr_expect_eq(cfg_load_args(c, 2, a7, err, sizeof err), -1);
	cr_expect_str_eq(err, "command line: wrong number of arguments (port)");
	cfg_free(c);
}

Test(config, file_errors_name_file_and_line)
{
	char err[512] = "", want[1024];
	const char *path;
	struct cfg *c = new_cfg();
	cr_expect_eq(load_text(c, "port 7000\n\n# x\nprotected-mode maybe\n", &path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:4: " NOTBOOL " (protected-mode)", path);
	cr_expect_str_eq(err, want);
	cfg_free(c);
}

Test(config, config_from_stdin)
{
	char err[512] = "";
	const char *path = tmp_write("port 7123\n");
	cr_assert(freopen(path, "r", stdin));
	struct cfg *c = new_cfg();
	char *argv[] = { "keyrail-server", "-", NULL };
	cr_expect_eq(cfg_load_args(c, 2, argv, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c->port, 7123);
	cr_expect_null(c->config_file);
	cfg_free(c);
}

Test(config, dir_is_made_absolute)
{
	char err[512] = "";
	char *cwd = realpath(".", NULL);
	char *tmp = realpath("/tmp", NULL);
	struct cfg *c = new_cfg();
	cr_assert_eq(load_text(c, "dir .\n", NULL, err, sizeof err), 0, "%s", err);
	expect_get(c, "dir", cwd);
	cr_assert_eq(load_text(c, "dir /tmp/\n", NULL, err, sizeof err), 0, "%s", err);
	expect_get(c, "dir", tmp);
	/* still right after the process changes directory (as main does) */
	cr_assert_eq(chdir("/"), 0);
	expect_get(c, "dir", tmp);
	free(cwd);
	free(tmp);
	cfg_free(c);
}

/* Relative paths are relative to the dir set so far (Redis chdir()s at the
 * dir line): a relative dir, include, and the log file checked where it
 * will be. */
Test(config, relative_paths_follow_dir)
{
	char err[512] = "", text[600], sub[300], logpath[400];
	char tdir[] = "/tmp/kr-cfg-dir-XXXXXX";
	cr_assert(mkdtemp(tdir));
	snprintf(sub, sizeof sub, "%s/sub", tdir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	snprintf(logpath, sizeof logpath, "%s/x.log", sub);
	char incpath[400];
	snprintf(incpath, sizeof incpath, "%s/inc.conf", sub);
	FILE *f = fopen(incpath, "w");
	cr_assert(f);
	fputs("hz 42\n", f);
	fclose(f);

	struct cfg *c = new_cfg();
	snprintf(text, sizeof text, "dir %s\ndir sub\nlogfile x.log\ninclude inc.conf\ndir .\n", tdir);
	int rc = load_text(c, text, NULL, err, sizeof err);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_eq(c->hz, 42, "relative include read from dir");
	char *want = realpath(sub, NULL);
	expect_get(c, "dir", want);
	expect_get(c, "logfile", "x.log");
	cr_expect_eq(access(logpath, W_OK), 0, "log file checked inside dir");

	const char *path;
	snprintf(text, sizeof text, "dir %s\ndir nosuch\n", tdir);
	cr_expect_eq(load_text(c, text, &path, err, sizeof err), -1);
	char msg[800];
	snprintf(msg, sizeof msg, "%s:2: can't use directory 'nosuch': No such file or directory (dir)",
		 path);
	cr_expect_str_eq(err, msg);

	free(want);
	cfg_free(c);
	unlink(logpath);
	unlink(incpath);
	rmdir(sub);
	rmdir(tdir);
}

Test(config, logfile_is_kept)
{
	char err[512] = "", line[600];
	const char *log = tmp_name();
	struct cfg *c = new_cfg();
	snprintf(line, sizeof line, "logfile %s\n", log);
	cr_assert_eq(load_text(c, line, NULL, err, sizeof err), 0, "%s", err);
	expect_get(c, "logfile", log);
	cr_expect_eq(access(log, W_OK), 0, "the log file is created when checked");
	cfg_free(c);
}

/* ---- include ---- */

Test(config, include_applies_in_order)
{
	char err[512] = "", text[600];
	const char *inc = tmp_write("# included\nport 7001\nmaxclients 5\n");
	snprintf(text, sizeof text, "port 7000\nhz 30\ninclude %s\nhz 20\n", inc);
	struct cfg *c = new_cfg();
	cr_assert_eq(load_text(c, text, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_eq(c->port, 7001);
	cr_expect_eq(c->maxclients, 5);
	cr_expect_eq(c->hz, 20);

	snprintf(text, sizeof text, "include %s\nport 7002\n", inc);
	struct cfg *d = new_cfg();
	cr_assert_eq(load_text(d, text, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_eq(d->port, 7002);

	struct cfg *e = new_cfg();
	const char *w[] = { "include", inc, NULL };
	cr_assert_eq(load_cmdline(e, w, err, sizeof err), 0, "%s", err);
	cr_expect_eq(e->port, 7001);
	cfg_free(c);
	cfg_free(d);
	cfg_free(e);
}

Test(config, include_errors)
{
	char err[512] = "", text[600], want[1200];
	const char *path;

	/* an error inside the included file names that file and its line */
	const char *inc = tmp_write("port 7001\n\nhz 9999\n");
	snprintf(text, sizeof text, "port 7000\ninclude %s\n", inc);
	struct cfg *c = new_cfg();
	cr_expect_eq(load_text(c, text, &path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: " RANGE(1, 500) " (hz)", inc);
	cr_expect_str_eq(err, want);
	cfg_free(c);

	/* a missing included file is reported at the include line */
	c = new_cfg();
	cr_expect_eq(load_text(c, "\ninclude /nonexistent-kr-dir/x.conf\n", &path, err, sizeof err), -1);
	snprintf(want, sizeof want,
		 "%s:2: can't open included file '/nonexistent-kr-dir/x.conf': No such file or directory",
		 path);
	cr_expect_str_eq(err, want);
	cfg_free(c);

	c = new_cfg();
	cr_expect_eq(load_text(c, "include\n", &path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: wrong number of arguments (include)", path);
	cr_expect_str_eq(err, want);
	cfg_free(c);

	/* a file including itself stops at the nesting limit */
	const char *self = tmp_name();
	snprintf(text, sizeof text, "include %s\n", self);
	FILE *f = fopen(self, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	c = new_cfg();
	char *argv[] = { "keyrail-server", (char *)self, NULL };
	cr_expect_eq(cfg_load_args(c, 2, argv, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: includes nested deeper than 16 levels (include %s)", self, self);
	cr_expect_str_eq(err, want);
	cfg_free(c);
}

/* ---- CONFIG SET ---- */

Test(config, set_changeable)
{
	static const struct {
		const char *name, *value, *get, *want;
	} cases[] = {
		{ "requirepass", "foo", "requirepass", "foo" },
		{ "requirepass", "", "requirepass", "" },
		{ "protected-mode", "no", "protected-mode", "no" },
		{ "maxclients", "20", "maxclients", "20" },
		{ "timeout", "30", "timeout", "30" },
		{ "tcp-keepalive", "10", "tcp-keepalive", "10" },
		{ "loglevel", "warning", "loglevel", "warning" },
		{ "proto-max-bulk-len", "2mb", "proto-max-bulk-len", "2097152" },
		{ "client-query-buffer-limit", "128mb", "client-query-buffer-limit", "134217728" },
		{ "slowlog-log-slower-than", "-1", "slowlog-log-slower-than", "-1" },
		{ "slowlog-max-len", "10", "slowlog-max-len", "10" },
		{ "hz", "100", "hz", "100" },
		{ "HZ", "50", "hz", "50" },
		{ "save", "", "save", "" },
		{ "appendonly", "no", "appendonly", "no" },
		{ "masterauth", "pw", "masterauth", "pw" },
		{ "masteruser", "u", "masteruser", "u" },
		{ "replica-read-only", "no", "replica-read-only", "no" },
		{ "replica-serve-stale-data", "no", "replica-serve-stale-data", "no" },
		{ "repl-timeout", "120", "repl-timeout", "120" },
		{ "min-slaves-to-write", "1", "min-replicas-to-write", "1" },
		{ "min-replicas-max-lag", "3", "min-replicas-max-lag", "3" },
		{ "repl-backlog-ttl", "7", "repl-backlog-ttl", "7" },
		{ "client-output-buffer-limit", "replica 1mb 0 0", "client-output-buffer-limit",
		  "normal 0 0 0 slave 1048576 0 0 pubsub 33554432 8388608 60" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct cfg *c = new_cfg();
		cr_expect_eq(cfg_set(c, cases[i].name, cases[i].value, err, sizeof err), 0,
			     "CONFIG SET %s %s: %s", cases[i].name, cases[i].value, err);
		expect_get(c, cases[i].get, cases[i].want);
		cfg_free(c);
	}
}

Test(config, set_immutable)
{
	static const char *const names[] = {
		"port", "bind", "shards", "server-threads", "databases", "daemonize", "logfile",
		"pidfile", "dir", "busy-poll", "enable-debug-command", "tcp-backlog",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char err[256] = "", want[256];
		struct cfg *c = new_cfg();
		char *before = get1(c, names[i]);
		cr_expect_eq(cfg_set(c, names[i], "1", err, sizeof err), -1, "%s", names[i]);
		snprintf(want, sizeof want,
			 "ERR CONFIG SET failed (possibly related to argument '%s') - can't set immutable config",
			 names[i]);
		cr_expect_str_eq(err, want);
		expect_get(c, names[i], before);
		free(before);
		cfg_free(c);
	}
}

Test(config, set_bad_values_leave_value)
{
	static const struct {
		const char *name, *value, *reason;
	} cases[] = {
		{ "timeout", "abc", NOTINT },
		{ "timeout", "-1", RANGE(0, 2147483647) },
		{ "hz", "501", RANGE(1, 500) },
		{ "hz", "0", RANGE(1, 500) },
		{ "maxclients", "0", RANGE(1, LLMAX) },
		{ "protected-mode", "maybe", NOTBOOL },
		{ "proto-max-bulk-len", "1x", NOTMEM },
		{ "proto-max-bulk-len", "100", RANGE(1048576, LLMAX) },
		{ "client-query-buffer-limit", "", NOTMEM },
		{ "loglevel", "loud",
		  "argument(s) must be one of the following: debug, verbose, notice, warning, nothing" },
		{ "slowlog-log-slower-than", "-2", RANGE(-1, LLMAX) },
		{ "slowlog-max-len", "many", NOTINT },
		{ "tcp-keepalive", "1.0", NOTINT },
		{ "save", "900", "Invalid save parameters" },
		{ "appendfsync", "sometimes", "argument(s) must be one of the following: always, everysec, no" },
		{ "dbfilename", "x.rdb", "can't set immutable config" },
		{ "replicaof", "no one", "can't set immutable config" },
		{ "repl-timeout", "0", RANGE(1, 2147483647) },
		{ "replica-read-only", "maybe", NOTBOOL },
		{ "min-replicas-max-lag", "-1", RANGE(0, 2147483647) },
		{ "client-output-buffer-limit", "foo 1 2 3",
		  "Invalid client class specified in buffer limit configuration." },
		{ "client-output-buffer-limit", "replica 1 2",
		  "Wrong number of arguments in buffer limit configuration." },
		{ "client-output-buffer-limit", "replica 1 2 x",
		  "Error in hard, soft or soft_seconds setting in buffer limit configuration." },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[512] = "", want[512];
		struct cfg *c = new_cfg();
		struct got before = { 0 }, after = { 0 };
		cfg_get(c, "*", collect, &before);
		cr_expect_eq(cfg_set(c, cases[i].name, cases[i].value, err, sizeof err), -1,
			     "CONFIG SET %s %s accepted", cases[i].name, cases[i].value);
		snprintf(want, sizeof want, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
			 cases[i].name, cases[i].reason);
		cr_expect_str_eq(err, want);
		cfg_get(c, "*", collect, &after);
		cr_assert_eq(before.n, after.n);
		for (int k = 0; k < before.n; k++)
			cr_expect_str_eq(after.values[k], before.values[k], "%s changed", before.names[k]);
		got_free(&before);
		got_free(&after);
		cfg_free(c);
	}
}

Test(config, set_unknown)
{
	char err[256] = "";
	struct cfg *c = new_cfg();
	cr_expect_eq(cfg_set(c, "foo", "1", err, sizeof err), -1);
	cr_expect_str_eq(err, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
	cr_expect_eq(cfg_set(c, "", "1", err, sizeof err), -1);
	cr_expect_str_eq(err, "ERR Unknown option or number of arguments for CONFIG SET - ''");
	cr_expect_eq(cfg_set(c, "include", "/etc/passwd", err, sizeof err), -1);
	cr_expect_str_eq(err, "ERR Unknown option or number of arguments for CONFIG SET - 'include'");
	cfg_free(c);
}

/* ---- cfg_dup / cfg_free ---- */

Test(config, dup_is_deep)
{
	char err[256] = "";
	struct cfg *c = new_cfg();
	const char *path = tmp_write("requirepass pw\npidfile /tmp/p.pid\nbind 1.2.3.4 -::1\nport 7000\n");
	char *argv[] = { "keyrail-server", (char *)path, NULL };
	cr_assert_eq(cfg_load_args(c, 2, argv, err, sizeof err), 0, "%s", err);
	struct cfg *d = cfg_dup(c);
	cr_assert(d);
	cr_expect_neq(d->bind, c->bind);
	cr_expect_neq(d->bind[0], c->bind[0]);
	cr_expect_neq(d->requirepass, c->requirepass);
	cr_expect_neq(d->dir, c->dir);
	cr_expect_str_eq(d->config_file, c->config_file);

	struct got gc = { 0 }, gd = { 0 };
	cfg_get(c, "*", collect, &gc);
	cfg_get(d, "*", collect, &gd);
	cr_assert_eq(gc.n, gd.n);
	for (int k = 0; k < gc.n; k++)
		cr_expect_str_eq(gd.values[k], gc.values[k], "%s", gc.names[k]);
	got_free(&gc);
	got_free(&gd);

	/* changing the original leaves the copy alone */
	char *b[] = { "bind", "9.9.9.9" };
	cr_assert_eq(cfg_apply(c, 2, b, err, sizeof err), 0);
	cr_assert_eq(cfg_set(c, "requirepass", "other", err, sizeof err), 0);
	cfg_free(c);
	expect_get(d, "bind", "1.2.3.4 -::1");
	expect_get(d, "requirepass", "pw");
	expect_get(d, "pidfile", "/tmp/p.pid");
	cfg_free(d);
	cfg_free(NULL);
}

/* ---- glob ---- */

Test(config, glob_cases)
{
	static const struct {
		const char *pat, *s;
		bool nocase, want;
	} cases[] = {
		{ "", "", false, true },
		{ "", "a", false, false },
		{ "*", "", false, false },                     /* "" matches only "" */
		{ "**", "", false, false },
		{ "a*", "", false, false },
		{ "*", "anything", false, true },
		{ "**", "x", false, true },
		{ "a*", "abc", false, true },
		{ "a*", "bac", false, false },
		{ "*c", "abc", false, true },
		{ "*c", "abd", false, false },
		{ "a*c", "ac", false, true },
		{ "a*c", "abbbc", false, true },
		{ "a*c", "abbbcd", false, false },
		{ "a*b*c", "aXbYc", false, true },
		{ "a*b*c", "aXcYb", false, false },
		{ "*ab*", "xxabyy", false, true },
		{ "h?llo", "hello", false, true },
		{ "h?llo", "hllo", false, false },
		{ "h??lo", "hello", false, true },
		{ "?", "", false, false },
		{ "h[ae]llo", "hallo", false, true },
		{ "h[ae]llo", "hillo", false, false },
		{ "h[^e]llo", "hallo", false, true },
		{ "h[^e]llo", "hello", false, false },
		{ "h[a-b]llo", "hbllo", false, true },
		{ "h[a-b]llo", "hcllo", false, false },
		{ "h[b-a]llo", "hallo", false, true },          /* reversed range */
		{ "[a-z]*", "key", false, true },
		{ "[0-9]", "5", false, true },
		{ "[0-9]", "x", false, false },
		{ "[^0-9]", "x", false, true },
		{ "[\\]]", "]", false, true },
		{ "[\\-]", "-", false, true },
		/* '-' with a byte after it is a range, even when that byte is
		 * ']': "[a-]" is ']'..'a' (swapped) and the set stays open */
		{ "[a-]", "-", false, false },
		{ "[a-]", "]", false, true },
		{ "[a-]", "`", false, true },
		{ "[a-]", "a", false, true },
		{ "[a-]", "b", false, false },
		{ "[a-]]", "a", false, true },
		{ "[a-]]", "]", false, true },
		{ "[a-]]", "a]", false, false },
		{ "[ab-]", "-", false, false },
		{ "[ab-]", "_", false, true },
		{ "[--]", "-", false, true },                   /* '-'..']' */
		{ "[--]", "A", false, true },
		{ "[--]", "a", false, false },
		{ "[^a-]", "-", false, true },
		{ "[^a-]", "]", false, false },
		{ "[-]", "-", false, true },
		{ "[-a]", "-", false, true },
		{ "[-a]", "b", false, false },
		{ "[a-", "-", false, true },                    /* too short for a range */
		{ "[a-", "b", false, false },
		{ "[a-\\]", "^", false, true },              /* '\\'..'a' */
		{ "[a-\\]", "[", false, false },
		{ "[\\-a]", "-", false, true },              /* escape before range */
		{ "[\\-a]", "b", false, false },
		{ "[a\\-c]", "b", false, false },
		{ "[]a]", "a", false, false },                  /* "[]" then "a]" */
		{ "[]a]", "a]", false, false },
		{ "[]]", "]", false, false },
		{ "[", "[", false, false },                     /* open, empty set */
		{ "[^", "x", false, true },                     /* open, complement of nothing */
		{ "[\\", "\\", false, true },
		{ "[a-z", "q", false, true },
		{ "*[", "a", false, false },
		{ "[*]", "*", false, true },
		{ "[*]", "a", false, false },
		{ "[?]", "a", false, false },
		{ "[!a]", "!", false, true },                   /* '!' is not a negation */
		/* range ends compare as signed chars: 0x80-0xff sort below 0 */
		{ "[a-\xff]", "\xff", false, true },
		{ "[a-\xff]", "0", false, true },
		{ "[a-\xff]", "b", false, false },
		{ "[a-\xff]", "\xe9", false, false },
		{ "[\x80-\xff]", "\xe9", false, true },
		{ "[\x80-\xff]", "a", false, false },
		{ "[Z-a]", "_", false, true },
		{ "[Z-a]", "b", false, false },
		{ "[]", "a", false, false },                    /* empty set */
		{ "[^]", "a", false, true },
		{ "[abc", "b", false, true },                   /* open set closes at end */
		{ "[abc", "bx", false, false },
		{ "\\*", "*", false, true },
		{ "\\*", "a", false, false },
		{ "\\?", "?", false, true },
		{ "a\\", "a\\", false, true },                  /* trailing lone backslash */
		{ "\\[x]", "[x]", false, true },
		{ "PORT", "port", false, false },
		{ "PORT", "port", true, true },
		{ "P*T", "port", true, true },
		{ "[A-C]x", "bx", true, true },
		{ "[a-c]x", "BX", true, true },
		{ "[a-c]x", "BX", false, false },
		/* nocase: range ends are swapped first and folded after */
		{ "[Z-a]et", "get", true, false },
		{ "[z-A]x", "mx", true, true },
		{ "[F-h]et", "get", true, true },
		{ "[g-F]et", "get", true, true },
		{ "[\\G]et", "get", true, false },            /* escapes in sets are exact */
		{ "[\\g]et", "GET", true, false },
		{ "[\\g]et", "get", true, true },
		{ "\\Get", "get", true, true },               /* outside sets they fold */
		{ "[^G]et", "get", true, false },
		{ "[^G]et", "set", true, true },
		{ "\\\xc9", "\xe9", true, false },          /* ASCII-only folding */
		{ "*\xff", "a\xff", false, true },              /* high bytes */
		{ "user:*:name", "user:1000:name", false, true },
		{ "user:*:name", "user:1000:nam", false, false },
		{ "*a*a*a*", "aaa", false, true },
		{ "*a*a*a*", "aa", false, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool got = srv_glob_match(cases[i].pat, strlen(cases[i].pat), cases[i].s,
					  strlen(cases[i].s), cases[i].nocase);
		cr_expect_eq(got, cases[i].want, "'%s' vs '%s' (nocase %d)", cases[i].pat, cases[i].s,
			     cases[i].nocase);
	}
	/* lengths are honoured: embedded NULs, patterns not NUL-terminated */
	cr_expect(srv_glob_match("a?b", 3, "a\0b", 3, false));
	cr_expect(srv_glob_match("abcdef", 3, "abc", 3, false));
	cr_expect_not(srv_glob_match("a*", 2, "abc", 0, false));
	cr_expect(srv_glob_match("*\0*", 3, "a\0b", 3, false));
	cr_expect(srv_glob_match("[\0-a]", 5, "\0", 1, false));
	cr_expect_not(srv_glob_match("[\0-a]", 5, "b", 1, false));
	cr_expect(srv_glob_match("", 0, "", 0, false));
	cr_expect_not(srv_glob_match("*", 1, "", 0, false));
}

/* Redis gives up at its 1001st '*' group when pattern follows it; a
 * trailing group, or 1000 groups, still match. Checked against
 * redis-server 7.0.15 with KEYS on a key of 1100 a's. */
Test(config, glob_star_group_limit)
{
	static const struct {
		const char *unit, *tail;
		int reps;
		bool want;
	} cases[] = {
		{ "*a", "", 1000, true },
		{ "*a", "*", 1000, true },
		{ "*a", "***", 1000, true },
		{ "*a", "", 1001, false },
		{ "*a", "*", 1001, false },
		{ "*a", "", 999, true },
		{ "?*", "?", 1001, false },            /* 1002 bytes would do otherwise */
		{ "*?", "", 1001, false },
		{ "*?", "", 1000, true },
	};
	char s[1100];
	memset(s, 'a', sizeof s);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t ul = strlen(cases[i].unit), tl = strlen(cases[i].tail);
		size_t plen = ul * (size_t)cases[i].reps + tl;
		char *pat = malloc(plen);
		cr_assert_not_null(pat);
		for (int r = 0; r < cases[i].reps; r++)
			memcpy(pat + (size_t)r * ul, cases[i].unit, ul);
		memcpy(pat + ul * (size_t)cases[i].reps, cases[i].tail, tl);
		cr_expect_eq(srv_glob_match(pat, plen, s, sizeof s, false), cases[i].want,
			     "'%s' x %d + '%s'", cases[i].unit, cases[i].reps, cases[i].tail);
		free(pat);
	}
	/* a '*' inside a set or escaped in one is not a group: one group and
	 * 1001 sets match (1001 a's, the '*' takes the rest) */
	static const char *const units[] = { "[*a]", "[\\*a]" };
	for (size_t u = 0; u < 2; u++) {
		size_t ul = strlen(units[u]), plen = 1 + ul * 1001;
		char *pat = malloc(plen);
		cr_assert_not_null(pat);
		pat[0] = '*';
		for (int r = 0; r < 1001; r++)
			memcpy(pat + 1 + (size_t)r * ul, units[u], ul);
		cr_expect(srv_glob_match(pat, plen, s, sizeof s, false), "%s", units[u]);
		free(pat);
	}
}

Test(config, glob_pathological_is_polynomial)
{
	static const struct {
		const char *pat;
		size_t slen;
		bool want;
	} cases[] = {
		{ "a*a*a*a*a*a*a*a*a*a*a*b", 30, false },
		{ "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", 200, false },
		{ "a*a*a*a*a*a*a*a*a*a*a*a", 30, true },
		{ "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*b", 100, false },
	};
	char s[256];
	memset(s, 'a', sizeof s);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t plen = strlen(cases[i].pat), slen = cases[i].slen;
		glob_steps = 0;
		bool got = counted_glob_match(cases[i].pat, plen, s, slen, false);
		cr_expect_eq(got, cases[i].want, "%s", cases[i].pat);
		/* O(plen * slen) element tests; the naive matcher needs
		 * ~C(30, 11) = 5e7 for the first case */
		cr_expect_leq(glob_steps, (unsigned long long)(plen + 1) * (slen + 1),
			      "'%s' against %zu a's took %llu steps", cases[i].pat, slen, glob_steps);
		cr_expect_eq(srv_glob_match(cases[i].pat, plen, s, slen, false), cases[i].want);
	}
}

/* ---- log ---- */

#define LOG_RE "^[0-9]+:M [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) " \
	"[0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3} "

/* Read the whole log file into a heap string. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	fclose(f);
	return buf;
}

static void expect_line_shape(const char *line, char mark, const char *msg)
{
	char re_src[512];
	regex_t re;
	snprintf(re_src, sizeof re_src, LOG_RE "[%c] %s$", mark, msg);
	cr_assert_eq(regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB), 0, "%s", re_src);
	cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "line '%s' does not match %s", line, re_src);
	regfree(&re);
}

Test(config, log_line_format_and_levels)
{
	const char *path = tmp_name();
	srv_log_init(path, LL_DEBUG);
	srv_log(LL_DEBUG, "dbg %d", 1);
	srv_log(LL_VERBOSE, "verb %s", "two");
	srv_log(LL_NOTICE, "notice %d", 3);
	srv_log(LL_WARNING, "warn %d", 4);
	srv_log(LL_NOTHING, "never");
	srv_log_set_level(LL_WARNING);
	srv_log(LL_NOTICE, "dropped");
	srv_log(LL_WARNING, "kept");
	srv_log_set_level(LL_NOTHING);
	srv_log(LL_WARNING, "silenced");

	char *text = slurp(path);
	const char *want[][2] = {
		{ ".", "dbg 1" }, { "-", "verb two" }, { "*", "notice 3" }, { "#", "warn 4" },
		{ "#", "kept" },
	};
	char *save = NULL;
	int n = 0;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert_lt(n, 5, "extra line: %s", line);
		expect_line_shape(line, want[n][0][0], want[n][1]);
		char pid[32];
		snprintf(pid, sizeof pid, "%d:M ", (int)getpid());
		cr_expect_eq(strncmp(line, pid, strlen(pid)), 0, "pid prefix in '%s'", line);
		n++;
	}
	cr_expect_eq(n, 5);
	free(text);
}

Test(config, log_appends_and_truncates)
{
	const char *path = tmp_write("existing line\n");
	srv_log_init(path, LL_NOTICE);
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	srv_log(LL_NOTICE, "%s", big);
	char *text = slurp(path);
	cr_expect_eq(strncmp(text, "existing line\n", 14), 0, "O_APPEND keeps what was there");
	char *line = text + 14;
	char *nl = strchr(line, '\n');
	cr_assert(nl);
	*nl = '\0';
	cr_expect_str_empty(nl + 1, "one line only");
	cr_expect_lt(strlen(line), 2048 + 64);
	cr_expect_eq(strcmp(line + strlen(line) - 4, "x..."), 0, "truncation marked");
	expect_line_shape(line, '*', "x+\\.\\.\\.");
	free(text);
}

Test(config, set_loglevel_changes_live_level)
{
	char err[256] = "";
	const char *path = tmp_name();
	struct cfg *c = new_cfg();
	srv_log_init(path, c->loglevel);
	cr_assert_eq(cfg_set(c, "loglevel", "warning", err, sizeof err), 0, "%s", err);
	srv_log(LL_NOTICE, "hidden");
	srv_log(LL_WARNING, "shown");
	cr_assert_eq(cfg_set(c, "loglevel", "debug", err, sizeof err), 0, "%s", err);
	srv_log(LL_DEBUG, "debug shown");
	char *text = slurp(path);
	cr_expect_null(strstr(text, "hidden"));
	cr_expect_not_null(strstr(text, "# shown\n"));
	cr_expect_not_null(strstr(text, ". debug shown\n"));
	free(text);
	cfg_free(c);
}

#define LOG_THREADS 4
#define LOG_PER_THREAD 300

static void *log_worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	char pad[301];
	memset(pad, 'a' + id, 300);
	pad[300] = '\0';
	for (int i = 0; i < LOG_PER_THREAD; i++)
		srv_log(LL_NOTICE, "t%d n%d %s end", id, i, pad);
	return NULL;
}

Test(config, log_lines_from_threads_do_not_interleave)
{
	const char *path = tmp_name();
	pthread_t th[LOG_THREADS];
	srv_log_init(path, LL_NOTICE);
	for (int i = 0; i < LOG_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, log_worker, (void *)(intptr_t)i), 0);
	for (int i = 0; i < LOG_THREADS; i++)
		pthread_join(th[i], NULL);

	char *text = slurp(path);
	regex_t re;
	cr_assert_eq(regcomp(&re, LOG_RE "\\* t([0-3]) n[0-9]+ ([a-d]{300}) end$", REG_EXTENDED), 0);
	int count[LOG_THREADS] = { 0 };
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[4];      /* m[1] is LOG_RE's month group */
		cr_assert_eq(regexec(&re, line, 4, m, 0), 0, "mangled line: %.80s...", line);
		int id = line[m[2].rm_so] - '0';
		/* the padding belongs to the same thread as the id */
		for (regoff_t k = m[3].rm_so; k < m[3].rm_eo; k++)
			cr_assert_eq(line[k], 'a' + id);
		count[id]++;
	}
	for (int i = 0; i < LOG_THREADS; i++)
		cr_expect_eq(count[i], LOG_PER_THREAD, "thread %d", i);
	regfree(&re);
	free(text);
}
