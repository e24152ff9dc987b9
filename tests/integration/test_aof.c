/* Integration tests of the write stream and the AOF (repl/wstream.c,
 * repl/aof.c, shards/propagate.c).
 *
 * Each test owns a data directory (--dir given after the harness's own, so
 * it wins) and reads the AOF files the server wrote: the manifest, then the
 * base and incremental files in order, parsed as RESP commands.
 *
 *  - rewrites: every deterministic rewrite, checked command by command
 *    after a marker (SET {t}__mark n); absolute times are compared with
 *    PEXPIRETIME read from the server, popped members with the replies;
 *  - blocking commands served later, expired keys (lazy and active) as
 *    DEL, scripts as MULTI/EXEC blocks (one write: no block, as Redis 7.0);
 *  - restart: the whole dataset (every type, several dbs, TTLs as
 *    absolute times) is the same after SIGTERM, after kill -9 and after
 *    BGREWRITEAOF;
 *  - interop: Debian's redis-server 7.0 loads our AOF directory and has
 *    the same data; we load one written by redis-server (aof-use-rdb-preamble
 *    no) and have its data;
 *  - RDB bases (aof-use-rdb-preamble yes, the default): redis-server's RDB
 *    base loads to the same DEBUG DIGEST; ours passes redis-check-rdb,
 *    loads in redis-server and back to the same digest; a damaged one
 *    (byte flipped, cut) stops start-up naming the file; a Redis 6 file
 *    with an RDB preamble and commands loads; CONFIG SET switches formats.
 *    The other tests run with preamble no so they can read the base;
 *  - truncated AOF (aof-load-truncated yes: cut and loaded; no: refused),
 *    corrupt file, bad manifest, unknown command: clear errors, exit 1;
 *  - appendfsync always: kill -9 under load from several clients loses no
 *    acknowledged INCR or SET;
 *  - BGREWRITEAOF: new base and incremental file, old files removed, INFO
 *    persistence fields; CONFIG SET appendonly yes at run time.
 *
 * MULTI/EXEC blocks of transactions and of cross-shard commands come from
 * the unit brackets around every lock a transaction holds (shards/multi.c).
 *
 * Runs with KR_SHARDS=1 and 3, and against Redis itself
 * (KR_SERVER_KIND=redis), which validates the expected AOF contents. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"
#include "tests/integration/repl_util.h"

static bool is_redis(void)
{
	const char *k = getenv("KR_SERVER_KIND");
	return k && !strcmp(k, "redis");
}

static int nshards(void)
{
	const char *s = getenv("KR_SHARDS");
	return is_redis() ? 1 : (s && *s ? atoi(s) : 1);
}

/* ------------------------------------------------------ data dirs */

struct tdir {
	char path[64];
	char aof[96];            /* path/appendonlydir */
};

static void tdir_new(struct tdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/kr-aof-XXXXXX");
	cr_assert(mkdtemp(d->path) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(d->aof, sizeof(d->aof), "%s/appendonlydir", d->path);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void tdir_free(struct tdir *d)
{
	nftw(d->path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Start the server under test on dir d with the AOF on (extra: more
 * directives, NULL-terminated). rdb_base: aof-use-rdb-preamble left at its
 * default (yes); else no, so the base is commands the tests can read. */
static void start_with(struct kr_srv *s, const struct tdir *d, bool rdb_base,
		       const char *const *extra)
{
	const char *args[40];
	int n = 0;
	args[n++] = "--dir";
	args[n++] = d->path;
	args[n++] = "--appendonly";
	args[n++] = "yes";
	args[n++] = "--appendfsync";
	args[n++] = "always";
	if (!rdb_base) {
		args[n++] = "--aof-use-rdb-preamble";
		args[n++] = "no";
	}
	while (extra && *extra && n < 38)
		args[n++] = *extra++;
	args[n] = NULL;
	kr_srv_start(s, args);
}

static void start_on(struct kr_srv *s, const struct tdir *d, const char *const *extra)
{
	start_with(s, d, false, extra);
}

/* ------------------------------------------------- reading the AOF */

struct acmd {
	int argc;
	char **argv;
	size_t *lens;
};

struct alist {
	struct acmd *v;
	size_t n, cap;
};

static void alist_free(struct alist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (int k = 0; k < l->v[i].argc; k++)
			free(l->v[i].argv[k]);
		free(l->v[i].argv);
		free(l->v[i].lens);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f != NULL, "open %s: %s", path, strerror(errno));
	struct kr_sb b = { 0 };
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		kr_sb_add(&b, buf, n);
	fclose(f);
	*len = b.len;
	if (!b.s)
		kr_sb_add(&b, "", 0);
	return b.s;
}

static void parse_file(const char *path, struct alist *out)
{
	size_t len, i = 0;
	char *data = slurp(path, &len);
	while (i < len) {
		cr_assert(data[i] == '*', "%s: '*' expected at %zu", path, i);
		char *e;
		long argc = strtol(data + i + 1, &e, 10);
		cr_assert(e[0] == '\r' && e[1] == '\n' && argc > 0, "%s: bad header at %zu", path, i);
		i = (size_t)(e - data) + 2;
		struct acmd c = { (int)argc, calloc((size_t)argc, sizeof(char *)),
				  calloc((size_t)argc, sizeof(size_t)) };
		for (long k = 0; k < argc; k++) {
			cr_assert(i < len && data[i] == '$', "%s: '$' expected at %zu", path, i);
			long l = strtol(data + i + 1, &e, 10);
			i = (size_t)(e - data) + 2;
			cr_assert(i + (size_t)l + 2 <= len, "%s: short argument", path);
			c.argv[k] = malloc((size_t)l + 1);
			memcpy(c.argv[k], data + i, (size_t)l);
			c.argv[k][l] = 0;
			c.lens[k] = (size_t)l;
			i += (size_t)l + 2;
		}
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = realloc(out->v, sizeof(*out->v) * out->cap);
		}
		out->v[out->n++] = c;
	}
	free(data);
}

struct mfile {
	char name[64];
	long long seq;
	char type;
};

/* The manifest's entries, in file order. */
static int read_manifest(const struct tdir *d, struct mfile *v, int max)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/appendonly.aof.manifest", d->aof);
	FILE *f = fopen(path, "r");
	cr_assert(f != NULL, "no manifest %s", path);
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f) && n < max) {
		char type[8];
		if (sscanf(line, "file %63s seq %lld type %7s", v[n].name, &v[n].seq, type) == 3) {
			v[n].type = type[0];
			n++;
		}
	}
	fclose(f);
	return n;
}

/* Every command the AOF replays: base, then the incremental files. */
static void aof_read(const struct tdir *d, struct alist *out)
{
	struct mfile m[16];
	int n = read_manifest(d, m, 16);
	memset(out, 0, sizeof(*out));
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++)
			if (m[i].type == (pass ? 'i' : 'b')) {
				char path[300];
				snprintf(path, sizeof(path), "%.95s/%.63s", d->aof, m[i].name);
				parse_file(path, out);
			}
}

static char *acmd_str(const struct acmd *c)
{
	struct kr_sb b = { 0 };
	for (int k = 0; k < c->argc; k++) {
		if (k)
			kr_sb_add(&b, " ", 1);
		kr_sb_add(&b, c->argv[k], c->lens[k]);
	}
	return b.s;
}

/* The commands after the last "SET {t}__mark <mark>", SELECTs left out,
 * rendered "a b c" and joined with " | ". */
static char *after_mark(const struct tdir *d, int mark)
{
	struct alist l;
	char want[64];
	snprintf(want, sizeof(want), "SET {t}__mark %d", mark);
	aof_read(d, &l);
	ssize_t at = -1;
	for (size_t i = 0; i < l.n; i++) {
		char *s = acmd_str(&l.v[i]);
		if (!strcasecmp(s, want))
			at = (ssize_t)i;
		free(s);
	}
	cr_assert(at >= 0, "marker %d not in the AOF", mark);
	struct kr_sb b = { 0 };
	kr_sb_add(&b, "", 0);
	for (size_t i = (size_t)at + 1; i < l.n; i++) {
		if (!strcasecmp(l.v[i].argv[0], "select"))
			continue;
		char *s = acmd_str(&l.v[i]);
		if (b.len)
			kr_sb_add(&b, " | ", 3);
		kr_sb_add(&b, s, strlen(s));
		free(s);
	}
	alist_free(&l);
	return b.s;
}

static int g_mark;

static void mark(redisContext *c)
{
	kr_ok(c, "SET {t}__mark %d", ++g_mark);
}

/* Assert what the AOF got since the last mark(). */
static void expect_aof(const struct tdir *d, const char *fmt, ...)
{
	char want[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	char *got = after_mark(d, g_mark);
	cr_assert(!strcmp(got, want), "AOF after mark %d\n  want: %s\n  got:  %s", g_mark, want, got);
	free(got);
}

/* EVAL script with the given keys; asserts an integer reply. */
static void eval_int(redisContext *cc, long long want, const char *script, const char *key)
{
	const char *argv[4] = { "EVAL", script, key ? "1" : "0", key };
	size_t lens[4] = { 4, strlen(script), 1, key ? strlen(key) : 0 };
	redisReply *r = kr_cmdv(cc, key ? 4 : 3, argv, lens);
	cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == want, "EVAL %s: %s", script,
		  r->type == REDIS_REPLY_ERROR ? r->str : "not the integer expected");
	freeReplyObject(r);
}

static long long pexpiretime(redisContext *c, const char *key)
{
	redisReply *r = kr_cmd(c, "PEXPIRETIME %s", key);
	cr_assert(r->type == REDIS_REPLY_INTEGER, "PEXPIRETIME %s", key);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------- the dataset */

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every db's keys, types, values (unordered ones sorted) and absolute
 * expire times, as text. */
static char *dataset(redisContext *c)
{
	struct kr_sb b = { 0 };
	kr_sb_add(&b, "", 0);
	for (int db = 0; db < 16; db++) {
		kr_ok(c, "SELECT %d", db);
		redisReply *keys = kr_cmd(c, "KEYS *");
		cr_assert(keys->type == REDIS_REPLY_ARRAY);
		char **names = malloc(sizeof(char *) * (keys->elements + 1));
		for (size_t i = 0; i < keys->elements; i++)
			names[i] = keys->element[i]->str;
		qsort(names, keys->elements, sizeof(char *), cmp_pair);
		for (size_t i = 0; i < keys->elements; i++) {
			const char *k = names[i];
			redisReply *t = kr_cmd(c, "TYPE %s", k);
			kr_sb_fmt(&b, "%d %s %s exp=%lld: ", db, k, t->str, pexpiretime(c, k));
			redisReply *v = NULL;
			bool sorted = false, pairs = false;
			if (!strcmp(t->str, "string")) {
				v = kr_cmd(c, "GET %s", k);
			} else if (!strcmp(t->str, "list")) {
				v = kr_cmd(c, "LRANGE %s 0 -1", k);
			} else if (!strcmp(t->str, "set")) {
				v = kr_cmd(c, "SMEMBERS %s", k);
				sorted = true;
			} else if (!strcmp(t->str, "zset")) {
				v = kr_cmd(c, "ZRANGE %s 0 -1 WITHSCORES", k);
			} else if (!strcmp(t->str, "hash")) {
				v = kr_cmd(c, "HGETALL %s", k);
				sorted = pairs = true;
			}
			freeReplyObject(t);
			cr_assert(v != NULL, "unknown type of %s", k);
			if (v->type == REDIS_REPLY_ARRAY) {
				size_t step = pairs ? 2 : 1, n = v->elements / step;
				char **items = malloc(sizeof(char *) * (n + 1));
				for (size_t j = 0; j < n; j++) {
					struct kr_sb e = { 0 };
					for (size_t q = 0; q < step; q++)
						kr_sb_fmt(&e, "%s%s", q ? "=" : "", v->element[j * step + q]->str);
					items[j] = e.s;
				}
				if (sorted)
					qsort(items, n, sizeof(char *), cmp_pair);
				for (size_t j = 0; j < n; j++) {
					kr_sb_fmt(&b, "%s,", items[j]);
					free(items[j]);
				}
				free(items);
			} else {
				kr_render(&b, v);
			}
			kr_sb_add(&b, "\n", 1);
			freeReplyObject(v);
		}
		free(names);
		freeReplyObject(keys);
	}
	kr_ok(c, "SELECT 0");
	return b.s;
}

static void expect_same_dataset(const char *before, const char *after, const char *what)
{
	cr_assert(!strcmp(before, after), "%s: dataset differs\n--- before\n%s\n--- after\n%s",
		  what, before, after);
}

/* A bit of everything: each type in both encodings, TTLs, three dbs. */
static void populate(redisContext *c, const char *tag)
{
	kr_ok(c, "SET %s:str hello", tag);
	kr_ok(c, "SET %s:int 12345", tag);
	kr_ok(c, "SET %s:ttl v PX 600000", tag);
	redisReply *r;
	r = kr_cmd(c, "RPUSH %s:list a b c 1 2 3", tag);
	freeReplyObject(r);
	for (int i = 0; i < 300; i++) {
		r = kr_cmd(c, "RPUSH %s:biglist element-%d", tag, i);
		freeReplyObject(r);
		r = kr_cmd(c, "SADD %s:bigset m%d", tag, i);
		freeReplyObject(r);
		r = kr_cmd(c, "ZADD %s:bigzset %d.25 z%d", tag, i, i);
		freeReplyObject(r);
		r = kr_cmd(c, "HSET %s:bighash f%d v%d", tag, i, i);
		freeReplyObject(r);
	}
	r = kr_cmd(c, "SADD %s:intset 1 2 3 -7", tag);
	freeReplyObject(r);
	r = kr_cmd(c, "ZADD %s:zset 1.5 a -2 b inf c", tag);
	freeReplyObject(r);
	r = kr_cmd(c, "HSET %s:hash f 1 g two", tag);
	freeReplyObject(r);
	kr_int(c, 1, "EXPIRE %s:hash 900", tag);
	r = kr_cmd(c, "INCRBYFLOAT %s:float 2.5", tag);
	freeReplyObject(r);
	kr_ok(c, "SELECT 2");
	kr_ok(c, "SET %s:db2 two", tag);
	r = kr_cmd(c, "LPUSH %s:db2list x y", tag);
	freeReplyObject(r);
	kr_ok(c, "SELECT 15");
	kr_ok(c, "SET %s:db15 fifteen EX 1000", tag);
	kr_ok(c, "SELECT 0");
}

/* --------------------------------------- servers that must not start */

static int free_port(void)
{
	const char *lo_s = getenv("KR_PORT_MIN"), *hi_s = getenv("KR_PORT_MAX");
	int lo = lo_s ? atoi(lo_s) : 21000, hi = hi_s ? atoi(hi_s) : 21999;
	for (int i = 0; i <= hi - lo; i++) {
		int port = lo + (int)((getpid() + i * 7) % (hi - lo + 1));
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	cr_assert_fail("no free port");
	return -1;
}

static const char *server_path(void)
{
	const char *s = getenv("KR_SERVER");
	if (is_redis() && (!s || !strstr(s, "redis")))
		s = getenv("KR_REDIS_SERVER") && *getenv("KR_REDIS_SERVER") ? getenv("KR_REDIS_SERVER")
									: "/usr/bin/redis-server";
	cr_assert(s && *s, "KR_SERVER is not set");
	return s;
}

/* Run the server on d and wait (up to 10 s) for it to exit; returns its
 * exit status (-1 if it had to be killed); the log is in d/server.log. */
/* Start the server on d and wait for it to exit; its exit status (128 if
 * a signal ended it, -1 if it served). A parallel test can take the port
 * between free_port() and the server's bind: the server then fails with
 * "Failed listening" before it reads anything, and we try another port. */
static int run_until_exit_once(const struct tdir *d, const char *const *extra)
{
	char port[16], log[200];
	snprintf(port, sizeof(port), "%d", free_port());
	snprintf(log, sizeof(log), "%s/server.log", d->path);
	const char *argv[40];
	int n = 0;
	argv[n++] = server_path();
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--dir";
	argv[n++] = d->path;
	argv[n++] = "--logfile";
	argv[n++] = log;
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	if (is_redis()) {
		argv[n++] = "--save";
		argv[n++] = "";
	} else {
		argv[n++] = "--shards";
		argv[n++] = getenv("KR_SHARDS") && *getenv("KR_SHARDS") ? getenv("KR_SHARDS") : "1";
	}
	while (extra && *extra && n < 38)
		argv[n++] = *extra++;
	argv[n] = NULL;
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		kr_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int run_until_exit(const struct tdir *d, const char *const *extra)
{
	char log[200];
	snprintf(log, sizeof(log), "%s/server.log", d->path);
	for (int attempt = 0;; attempt++) {
		struct stat st;
		off_t before = stat(log, &st) == 0 ? st.st_size : 0;
		int rc = run_until_exit_once(d, extra);
		if (rc != 1 || attempt == 4)
			return rc;
		size_t len;
		char *s = access(log, R_OK) == 0 ? slurp(log, &len) : NULL;
		bool lost_port = s && (size_t)before <= len &&
				 memmem(s + before, len - (size_t)before, "Failed listening", 16) != NULL;
		free(s);
		if (!lost_port)
			return rc;
	}
}

static bool log_has(const struct tdir *d, const char *what)
{
	char path[200];
	size_t len;
	snprintf(path, sizeof(path), "%s/server.log", d->path);
	if (access(path, R_OK) != 0)
		return false;
	char *s = slurp(path, &len);
	bool found = memmem(s, len, what, strlen(what)) != NULL;
	free(s);
	return found;
}

static bool srv_log_has(const struct kr_srv *s, const char *what)
{
	size_t len;
	char *t = slurp(s->logpath, &len);
	bool found = memmem(t, len, what, strlen(what)) != NULL;
	free(t);
	return found;
}

/* The last incremental file of d's manifest. */
static void last_incr(const struct tdir *d, char *out, size_t len)
{
	struct mfile m[16];
	int n = read_manifest(d, m, 16);
	out[0] = 0;
	for (int i = 0; i < n; i++)
		if (m[i].type == 'i')
			snprintf(out, len, "%.95s/%.63s", d->aof, m[i].name);
	cr_assert(out[0], "no incremental file in the manifest");
}

static void append_file(const char *path, const char *bytes)
{
	FILE *f = fopen(path, "ab");
	cr_assert(f != NULL);
	fputs(bytes, f);
	fclose(f);
}

/* Stop a server and expect a clean exit (status 0: no sanitizer report,
 * the last records written). */
static void stop_ok(struct kr_srv *s)
{
	int st = kr_srv_stop(s);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status 0x%x", st);
}

/* ================================================================ tests */

static struct kr_srv srv;
static redisContext *c;
static struct tdir dir;

static void setup(void)
{
	g_mark = 0;
	tdir_new(&dir);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
}

static void teardown(void)
{
	if (c)
		redisFree(c);
	c = NULL;
	if (srv.pid > 0)
		stop_ok(&srv);
	tdir_free(&dir);
}

TestSuite(aof, .init = setup, .fini = teardown, .timeout = 180);

/* Criterion runs no .fini for a skipped test: clean up first. */
#define skip_test(...) do { teardown(); cr_skip_test(__VA_ARGS__); } while (0)

Test(aof, layout_on_first_start)
{
	struct mfile m[4];
	int n = read_manifest(&dir, m, 4);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(m[0].name, "appendonly.aof.1.base.aof");
	cr_assert_eq(m[0].type, 'b');
	cr_assert_eq(m[0].seq, 1);
	cr_assert_str_eq(m[1].name, "appendonly.aof.1.incr.aof");
	cr_assert_eq(m[1].type, 'i');
	cr_assert_eq(m[1].seq, 1);
	redisReply *r = kr_cmd(c, "INFO persistence");
	cr_assert(strstr(r->str, "aof_enabled:1\r\n"));
	cr_assert(strstr(r->str, "aof_rewrite_in_progress:0\r\n"));
	cr_assert(strstr(r->str, "aof_last_write_status:ok\r\n"));
	cr_assert(strstr(r->str, "aof_last_bgrewrite_status:ok\r\n"));
	cr_assert(strstr(r->str, "aof_base_size:0\r\n"));
	freeReplyObject(r);
	kr_ok(c, "SET a 1");
	/* aof_current_size: what the files hold */
	char path[256];
	last_incr(&dir, path, sizeof(path));
	struct stat st;
	cr_assert(stat(path, &st) == 0);
	r = kr_cmd(c, "INFO persistence");
	char want[64];
	snprintf(want, sizeof(want), "aof_current_size:%lld\r\n", (long long)st.st_size);
	cr_assert(strstr(r->str, want), "%s not in %s", want, r->str);
	freeReplyObject(r);
	kr_expect_render(c, "CONFIG GET appendfsync", "*2[$appendfsync,$always]");
	kr_expect_render(c, "CONFIG GET appenddirname", "*2[$appenddirname,$appendonlydir]");
}

Test(aof, expire_family_becomes_absolute)
{
	long long at = now_ms() / 1000 + 1000;
	mark(c);
	kr_ok(c, "SET {t}a v EX 100");
	kr_ok(c, "SET {t}b v PX 100000 NX");
	kr_ok(c, "SET {t}c v EXAT %lld", at);
	kr_ok(c, "SET {t}d v PXAT %lld", at * 1000);
	kr_ok(c, "SETEX {t}e 100 v");
	kr_ok(c, "PSETEX {t}f 100000 v");
	kr_ok(c, "SET {t}a w KEEPTTL");
	expect_aof(&dir, "SET {t}a v PXAT %lld | SET {t}b v PXAT %lld | SET {t}c v PXAT %lld | "
		   "SET {t}d v PXAT %lld | SET {t}e v PXAT %lld | SET {t}f v PXAT %lld | "
		   "SET {t}a w KEEPTTL",
		   pexpiretime(c, "{t}a"), pexpiretime(c, "{t}b"), at * 1000, at * 1000,
		   pexpiretime(c, "{t}e"), pexpiretime(c, "{t}f"));

	mark(c);
	kr_int(c, 1, "EXPIRE {t}a 200");
	long long ta = pexpiretime(c, "{t}a");
	kr_int(c, 1, "PEXPIRE {t}a 300000 GT");
	long long ta2 = pexpiretime(c, "{t}a");
	kr_int(c, 0, "PEXPIRE {t}a 1000 GT");       /* no change: nothing */
	kr_int(c, 1, "EXPIREAT {t}b %lld", at);
	kr_int(c, 1, "PEXPIREAT {t}c %lld", at * 1000 + 7);
	kr_int(c, 1, "EXPIRE {t}d -1");             /* in the past: deleted */
	kr_int(c, 0, "EXPIRE {t}nokey 10");
	expect_aof(&dir, "PEXPIREAT {t}a %lld | PEXPIREAT {t}a %lld GT | PEXPIREAT {t}b %lld | "
		   "PEXPIREAT {t}c %lld | DEL {t}d", ta, ta2, at * 1000, at * 1000 + 7);

	mark(c);
	kr_bulk(c, "v", "GETEX {t}e EX 500");
	long long te = pexpiretime(c, "{t}e");
	kr_bulk(c, "v", "GETEX {t}e PERSIST");
	kr_bulk(c, "v", "GETEX {t}f");             /* no option: not a write */
	kr_bulk(c, "v", "GETEX {t}f EXAT 1");      /* in the past: deleted */
	kr_nil(c, "GET {t}f");
	expect_aof(&dir, "PEXPIREAT {t}e %lld | PERSIST {t}e | DEL {t}f", te);
}

Test(aof, floats_become_values)
{
	mark(c);
	kr_bulk(c, "1.5", "INCRBYFLOAT {t}f 1.5");
	kr_int(c, 1, "EXPIRE {t}f 100");
	long long t = pexpiretime(c, "{t}f");
	kr_bulk(c, "3.75", "INCRBYFLOAT {t}f 2.25");
	kr_bulk(c, "2.5", "HINCRBYFLOAT {t}h f 2.5");
	kr_bulk(c, "-0.5", "HINCRBYFLOAT {t}h f -3");
	expect_aof(&dir, "SET {t}f 1.5 KEEPTTL | PEXPIREAT {t}f %lld | SET {t}f 3.75 KEEPTTL | "
		   "HSET {t}h f 2.5 | HSET {t}h f -0.5", t);
	cr_assert_eq(pexpiretime(c, "{t}f"), t, "KEEPTTL kept the TTL");
}

Test(aof, spop_becomes_srem)
{
	kr_int(c, 6, "SADD {t}s a b c d e f");
	mark(c);
	redisReply *r = kr_cmd(c, "SPOP {t}s");
	cr_assert(r->type == REDIS_REPLY_STRING);
	char one[8];
	snprintf(one, sizeof(one), "%s", r->str);
	freeReplyObject(r);
	r = kr_cmd(c, "SPOP {t}s 3");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
	expect_aof(&dir, "SREM {t}s %s | MULTI | SREM {t}s %s | SREM {t}s %s | SREM {t}s %s | EXEC",
		   one, r->element[0]->str, r->element[1]->str, r->element[2]->str);
	freeReplyObject(r);
	mark(c);
	r = kr_cmd(c, "SPOP {t}s 10");              /* takes the rest: DEL */
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	freeReplyObject(r);
	r = kr_cmd(c, "SPOP {t}s 3");               /* nothing left: nothing */
	freeReplyObject(r);
	kr_int(c, 1, "SADD {t}s2 only");
	r = kr_cmd(c, "SPOP {t}s2");                /* the last one: SREM */
	freeReplyObject(r);
	expect_aof(&dir, "DEL {t}s | SADD {t}s2 only | SREM {t}s2 only");
}

Test(aof, blocking_forms_become_non_blocking)
{
	kr_int(c, 3, "RPUSH {t}l2 a b c");
	kr_int(c, 3, "ZADD {t}z 1 a 2 b 3 c");
	mark(c);
	redisReply *r = kr_cmd(c, "BLPOP {t}l1 {t}l2 0");
	freeReplyObject(r);
	r = kr_cmd(c, "BRPOP {t}l1 {t}l2 0");
	freeReplyObject(r);
	kr_int(c, 3, "RPUSH {t}l2 x y");
	kr_bulk(c, "b", "BLMOVE {t}l2 {t}l3 LEFT RIGHT 0");
	kr_bulk(c, "y", "BRPOPLPUSH {t}l2 {t}l3 0");
	r = kr_cmd(c, "BLMPOP 0 2 {t}l1 {t}l3 RIGHT COUNT 5");
	freeReplyObject(r);
	r = kr_cmd(c, "BZPOPMIN {t}z 0");
	freeReplyObject(r);
	r = kr_cmd(c, "BZPOPMAX {t}none {t}z 0");
	freeReplyObject(r);
	kr_int(c, 3, "ZADD {t}z 5 p 6 q 7 r");
	r = kr_cmd(c, "BZMPOP 0 1 {t}z MAX COUNT 2");
	freeReplyObject(r);
	r = kr_cmd(c, "LMPOP 1 {t}l2 LEFT");
	freeReplyObject(r);
	r = kr_cmd(c, "ZMPOP 2 {t}none {t}z MIN COUNT 9");
	freeReplyObject(r);
	expect_aof(&dir, "LPOP {t}l2 | RPOP {t}l2 | RPUSH {t}l2 x y | LMOVE {t}l2 {t}l3 LEFT RIGHT | "
		   "RPOPLPUSH {t}l2 {t}l3 | RPOP {t}l3 2 | ZPOPMIN {t}z | ZPOPMAX {t}z | "
		   "ZADD {t}z 5 p 6 q 7 r | ZPOPMAX {t}z 2 | LPOP {t}l2 1 | ZPOPMIN {t}z 2");
}

Test(aof, blocked_client_served_later)
{
	redisContext *b = kr_connect(&srv);
	mark(c);
	cr_assert(redisAppendCommand(b, "BLPOP {t}q 0") == REDIS_OK);
	int done = 0;
	cr_assert(redisBufferWrite(b, &done) == REDIS_OK);
	/* The blocked client must be parked before the push. */
	for (int i = 0; i < 200; i++) {
		redisReply *r = kr_cmd(c, "INFO clients");
		bool parked = strstr(r->str, "blocked_clients:1") != NULL;
		freeReplyObject(r);
		if (parked)
			break;
		kr_sleep_ms(10);
	}
	kr_int(c, 2, "RPUSH {t}q a b");
	redisReply *r = NULL;
	cr_assert(redisGetReply(b, (void **)&r) == REDIS_OK);
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	cr_assert_str_eq(r->element[1]->str, "a");
	freeReplyObject(r);
	redisFree(b);
	kr_int(c, 1, "LLEN {t}q");   /* the pop is recorded before this reply */
	expect_aof(&dir, "RPUSH {t}q a b | LPOP {t}q");
}

Test(aof, restore_relative_ttl_becomes_absttl)
{
	kr_ok(c, "SET {t}src hello");
	redisReply *d = kr_cmd(c, "DUMP {t}src");
	cr_assert(d->type == REDIS_REPLY_STRING);
	mark(c);
	const char *argv[4] = { "RESTORE", "{t}dst", "100000", d->str };
	size_t lens[4] = { 7, 6, 6, d->len };
	redisReply *r = kr_cmdv(c, 4, argv, lens);
	cr_assert(r->type == REDIS_REPLY_STATUS, "RESTORE: %s", r->str);
	freeReplyObject(r);
	long long t = pexpiretime(c, "{t}dst");
	struct alist l;
	aof_read(&dir, &l);
	struct acmd *last = &l.v[l.n - 1];
	cr_assert_eq(last->argc, 5);
	cr_assert_str_eq(last->argv[0], "RESTORE");
	cr_assert_str_eq(last->argv[1], "{t}dst");
	cr_assert_eq(atoll(last->argv[2]), t);
	cr_assert(last->lens[3] == d->len && !memcmp(last->argv[3], d->str, d->len));
	cr_assert_str_eq(last->argv[4], "ABSTTL");
	alist_free(&l);
	freeReplyObject(d);
}

Test(aof, expired_keys_become_del)
{
	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 0");
	kr_ok(c, "SET {t}lazy v PX 30");
	kr_ok(c, "SET {t}active v PX 30");
	kr_sleep_ms(80);
	mark(c);
	kr_nil(c, "GET {t}lazy");
	expect_aof(&dir, "DEL {t}lazy");
	kr_ok(c, "DEBUG SET-ACTIVE-EXPIRE 1");
	/* The active cycle finds the other one on its own. */
	char *got = NULL;
	for (int i = 0; i < 300; i++) {
		free(got);
		got = after_mark(&dir, g_mark);
		if (strstr(got, "DEL {t}active"))
			break;
		kr_sleep_ms(20);
	}
	cr_assert_str_eq(got, "DEL {t}lazy | DEL {t}active");
	free(got);
}

Test(aof, scripts_are_units)
{
	mark(c);
	eval_int(c, 1, "redis.call('set',KEYS[1],'1','ex','100'); redis.call('incr',KEYS[1]); "
		       "redis.call('del','{t}none'); return 1", "{t}x");
	long long t = pexpiretime(c, "{t}x");
	eval_int(c, 1, "redis.call('set',KEYS[1],'1'); return 1", "{t}y");
	eval_int(c, 1, "redis.call('get',KEYS[1]); return 1", "{t}y");
	expect_aof(&dir, "MULTI | SET {t}x 1 PXAT %lld | incr {t}x | EXEC | set {t}y 1", t);
}

Test(aof, multi_exec_is_a_block)
{
	mark(c);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET {t}a 1");
	kr_status(c, "QUEUED", "INCR {t}a");
	kr_status(c, "QUEUED", "GET {t}a");
	redisReply *r = kr_cmd(c, "EXEC");
	freeReplyObject(r);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "SET {t}b 1");
	kr_status(c, "QUEUED", "GET {t}b");
	r = kr_cmd(c, "EXEC");
	freeReplyObject(r);
	expect_aof(&dir, "MULTI | SET {t}a 1 | INCR {t}a | EXEC | SET {t}b 1");
}

Test(aof, cross_shard_transaction_is_a_block)
{
	if (nshards() < 3)
		skip_test("keys on several shards need KR_SHARDS=3");
	char k0[32], k1[32];
	kr_key_on_shard(k0, sizeof(k0), "x", 0, 0);
	kr_key_on_shard(k1, sizeof(k1), "x", 1, 0);
	mark(c);
	kr_ok(c, "MSET %s 1 %s 2", k0, k1);
	char *got = after_mark(&dir, g_mark);
	cr_assert(!strncmp(got, "MULTI | ", 8) && strstr(got, " | EXEC"), "%s", got);
	free(got);
	mark(c);
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "INCR %s", k0);
	kr_status(c, "QUEUED", "INCR %s", k1);
	redisReply *r = kr_cmd(c, "EXEC");
	freeReplyObject(r);
	got = after_mark(&dir, g_mark);
	cr_assert(!strncmp(got, "MULTI | ", 8) && strstr(got, "INCR ") && strstr(got, " | EXEC"),
		  "%s", got);
	free(got);
}

Test(aof, restart_keeps_the_data)
{
	populate(c, "p");
	kr_int(c, 3, "DEL p:list p:int p:nokey p:str");
	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "after SIGTERM and restart");
	free(after);
	/* and once more after kill -9 */
	kr_ok(c, "SET after restart");
	free(before);
	before = dataset(c);
	kill(srv.pid, SIGKILL);
	redisFree(c);
	c = NULL;
	kr_srv_stop(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	after = dataset(c);
	expect_same_dataset(before, after, "after kill -9 and restart");
	free(before);
	free(after);
}

Test(aof, cross_shard_commands_survive_restart)
{
	char k[4][32];
	for (int i = 0; i < 4; i++)
		kr_key_on_shard(k[i], sizeof(k[i]), "cs", (unsigned)(i % 3), i / 3);
	kr_ok(c, "MSET %s a %s b %s c", k[0], k[1], k[2]);
	kr_ok(c, "RENAME %s %s", k[0], k[3]);
	kr_int(c, 2, "SADD s1 a b");
	kr_int(c, 2, "SADD s2 b c");
	kr_int(c, 3, "SUNIONSTORE s3 s1 s2");
	kr_int(c, 1, "SMOVE s1 s2 a");
	kr_int(c, 1, "COPY s3 s4");
	kr_int(c, 2, "DEL %s %s", k[1], k[2]);
	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "cross-shard commands");
	free(before);
	free(after);
}

/* Commands every shard runs (SWAPDB, FLUSHDB, FLUSHALL) are written once:
 * an even number of SWAPDBs would undo it. */
Test(aof, swapdb_and_flushes_replay_once)
{
	kr_ok(c, "SET a0 zero");
	kr_ok(c, "MSET b0 x c0 y d0 z");
	kr_ok(c, "SWAPDB 0 1");
	kr_ok(c, "SET a0 new");
	kr_ok(c, "SELECT 1");
	kr_int(c, 4, "DBSIZE");
	kr_ok(c, "SELECT 2");
	kr_ok(c, "MSET gone1 1 gone2 2");
	kr_ok(c, "FLUSHDB");
	kr_ok(c, "SET kept 1");
	kr_ok(c, "SELECT 3");
	kr_ok(c, "SET gone3 1");
	kr_ok(c, "SELECT 0");
	mark(c);
	kr_ok(c, "FLUSHALL");
	char *got = after_mark(&dir, g_mark);
	cr_assert_str_eq(got, "FLUSHALL");
	free(got);
	kr_ok(c, "MSET after1 1 after2 2");
	kr_ok(c, "SWAPDB 0 5");
	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "SWAPDB and flushes");
	cr_assert(strstr(after, "5 after1 string"), "%s", after);
	free(before);
	free(after);
}

static void wait_rewrite_done(redisContext *cc, int rewrites)
{
	char want[64];
	snprintf(want, sizeof(want), "aof_rewrites:%d\r\n", rewrites);
	for (int i = 0; i < 500; i++) {
		redisReply *r = kr_cmd(cc, "INFO persistence");
		bool done = strstr(r->str, "aof_rewrite_in_progress:0") && strstr(r->str, want);
		freeReplyObject(r);
		if (done)
			return;
		kr_sleep_ms(20);
	}
	cr_assert_fail("BGREWRITEAOF did not finish");
}

Test(aof, bgrewriteaof_new_base_and_incr)
{
	populate(c, "rw");
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);
	kr_ok(c, "SET written after");
	kr_int(c, 1, "INCR counter");
	struct mfile m[8];
	int n = read_manifest(&dir, m, 8);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(m[0].name, "appendonly.aof.2.base.aof");
	cr_assert_eq(m[0].type, 'b');
	cr_assert_str_eq(m[1].name, "appendonly.aof.2.incr.aof");
	cr_assert_eq(m[1].type, 'i');
	char path[256];
	snprintf(path, sizeof(path), "%s/appendonly.aof.1.base.aof", dir.aof);
	cr_assert(access(path, F_OK) != 0, "old base removed");
	snprintf(path, sizeof(path), "%s/appendonly.aof.1.incr.aof", dir.aof);
	cr_assert(access(path, F_OK) != 0, "old incr removed");
	/* the base holds the data, the new incr what came after */
	struct alist l = { 0 };
	snprintf(path, sizeof(path), "%s/appendonly.aof.2.incr.aof", dir.aof);
	parse_file(path, &l);
	char *all = NULL;
	{
		struct kr_sb b = { 0 };
		for (size_t i = 0; i < l.n; i++) {
			char *s = acmd_str(&l.v[i]);
			kr_sb_fmt(&b, "%s|", s);
			free(s);
		}
		all = b.s;
	}
	cr_assert(all && strstr(all, "SET written after|") && strstr(all, "INCR counter|"), "%s", all);
	cr_assert(!strstr(all, "rw:"), "data written before the rewrite is in the base: %s", all);
	free(all);
	alist_free(&l);
	redisReply *r = kr_cmd(c, "INFO persistence");
	cr_assert(strstr(r->str, "aof_last_bgrewrite_status:ok\r\n"));
	struct stat st;
	snprintf(path, sizeof(path), "%s/appendonly.aof.2.base.aof", dir.aof);
	cr_assert(stat(path, &st) == 0 && st.st_size > 0);
	char want[64];
	snprintf(want, sizeof(want), "aof_base_size:%lld\r\n", (long long)st.st_size);
	cr_assert(strstr(r->str, want), "%s", r->str);
	freeReplyObject(r);

	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "after BGREWRITEAOF and restart");
	free(after);
	/* A second rewrite on top of the first. */
	kr_int(c, 1, "DEL rw:bigset");
	free(before);
	before = dataset(c);
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);   /* counters start again with the process */
	n = read_manifest(&dir, m, 8);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(m[0].name, "appendonly.aof.3.base.aof");
	cr_assert_str_eq(m[1].name, "appendonly.aof.3.incr.aof");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	after = dataset(c);
	expect_same_dataset(before, after, "after a second BGREWRITEAOF");
	free(before);
	free(after);
}

/* With an RDB base (the default) the base is a forkless snapshot: the
 * shard goes on serving while its keys are saved in slices (a key is saved
 * before a write changes it), and what is written meanwhile goes to the new
 * incremental file. After a restart the data is exactly what it was. */
Test(aof, writes_during_snapshot_rewrite_are_kept)
{
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	kr_ok(c, "DEBUG POPULATE 200000 pre 64");
	for (int round = 0; round < 2; round++) {
		kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
		for (int i = 0; i < 300; i++) {
			kr_int(c, round * 300 + i + 1, "INCR busy");
			kr_ok(c, "SET pre:%d changed-%d", i * 7 + round, round);
			kr_int(c, 1, "DEL pre:%d", 100000 + round * 1000 + i);
		}
		wait_rewrite_done(c, round + 1);
	}
	cr_assert(srv_log_has(&srv, "Background AOF base snapshot started"),
		  "the base was not written by a snapshot (log %s)", srv.logpath);
	kr_int(c, 601, "INCR busy");
	char want[64], got[64];
	ru_digest(c, want);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	ru_digest(c, got);
	cr_expect_str_eq(got, want, "the data changed across the restart");
	kr_bulk(c, "601", "GET busy");
	kr_bulk(c, "changed-1", "GET pre:1");
	kr_int(c, 200000 - 600 + 1, "DBSIZE");   /* + busy */
}

/* While the rewrite's base snapshot runs, a BGSAVE is refused with Redis's
 * "another child" text (not "already in progress": that one is for a
 * BGSAVE under way), and BGSAVE SCHEDULE runs it once the rewrite is done. */
Test(aof, bgsave_during_snapshot_rewrite_is_another_child)
{
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	kr_ok(c, "DEBUG POPULATE 1500000 pre 32");
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	/* The cut comes a few loop rounds after the reply: wait for it. */
	for (int i = 0; i < 2000 && !srv_log_has(&srv, "Background AOF base snapshot started"); i++)
		kr_sleep_ms(1);
	cr_assert(srv_log_has(&srv, "Background AOF base snapshot started"), "log %s", srv.logpath);
	redisReply *r = kr_cmd(c, "BGSAVE");
	cr_assert_eq(r->type, REDIS_REPLY_ERROR,
		     "BGSAVE during the base snapshot: %s (did 1.5M keys take < 1 ms?)", r->str);
	cr_assert_str_eq(r->str, "ERR Another child process is active (AOF?): can't BGSAVE right now. "
			 "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible");
	freeReplyObject(r);
	kr_status(c, "Background saving scheduled", "BGSAVE SCHEDULE");
	kr_ok(c, "SET after-schedule 1");
	cr_assert_geq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 1,
		      "nothing saved yet");
	wait_rewrite_done(c, 1);
	/* Then the scheduled save runs (cron starts it) and completes: a
	 * BGSAVE's end resets the changes (the rewrite's does not). */
	bool saved = false;
	for (int i = 0; i < 1500 && !saved; i++) {
		saved = ru_info_ll(c, "persistence", "rdb_changes_since_last_save") == 0 &&
			ru_info_ll(c, "persistence", "rdb_bgsave_in_progress") == 0;
		if (!saved)
			kr_sleep_ms(20);
	}
	cr_assert(saved, "the scheduled BGSAVE did not run after the rewrite");
	r = kr_cmd(c, "INFO persistence");
	cr_assert(strstr(r->str, "rdb_last_bgsave_status:ok\r\n"), "%s", r->str);
	freeReplyObject(r);
}

Test(aof, writes_during_rewrite_are_kept)
{
	for (int round = 0; round < 3; round++) {
		kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
		for (int i = 0; i < 200; i++)
			kr_int(c, round * 200 + i + 1, "INCR busy");
		wait_rewrite_done(c, round + 1);
	}
	kr_int(c, 601, "INCR busy");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	kr_bulk(c, "601", "GET busy");
}

Test(aof, redis_server_loads_our_aof)
{
	if (is_redis())
		skip_test("redis-server against itself");
	populate(c, "ix");
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);
	kr_ok(c, "SET {t}after-rewrite 1");
	eval_int(c, 1, "redis.call('set',KEYS[1],'1'); redis.call('set','{t}s2','2'); return 1", "{t}s1");
	kr_int(c, 3, "SADD {t}sp a b c");
	redisReply *r = kr_cmd(c, "SPOP {t}sp 2");
	freeReplyObject(r);
	kr_int(c, 1, "EXPIRE ix:str 5000");
	char *ours = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	struct kr_srv ref;
	const char *args[] = { "--dir", dir.path, "--appendonly", "yes", NULL };
	kr_srv_start_redis(&ref, args);
	redisContext *rc = kr_connect(&ref);
	char *theirs = dataset(rc);
	expect_same_dataset(ours, theirs, "redis-server loading our AOF");
	redisFree(rc);
	stop_ok(&ref);
	free(ours);
	free(theirs);
	start_on(&srv, &dir, NULL);   /* for teardown */
	c = kr_connect(&srv);
}

Test(aof, we_load_a_redis_server_aof)
{
	if (is_redis())
		skip_test("redis-server against itself");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	tdir_free(&dir);
	tdir_new(&dir);
	struct kr_srv ref;
	const char *args[] = { "--dir", dir.path, "--appendonly", "yes", "--aof-use-rdb-preamble", "no",
			       "--appendfsync", "always", NULL };
	kr_srv_start_redis(&ref, args);
	redisContext *rc = kr_connect(&ref);
	populate(rc, "before");
	kr_status(rc, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(rc, 1);
	populate(rc, "after");
	kr_ok(rc, "MSET m1 1 m2 2 m3 3 m4 4");
	kr_ok(rc, "RENAME m1 m1renamed");
	kr_int(rc, 2, "SADD u1 a b");
	kr_int(rc, 2, "SADD u2 c d");
	kr_int(rc, 4, "SUNIONSTORE u3 u1 u2");
	kr_ok(rc, "MULTI");
	kr_status(rc, "QUEUED", "INCR m2");
	kr_status(rc, "QUEUED", "SET m5 five EX 10000");
	redisReply *r = kr_cmd(rc, "EXEC");
	freeReplyObject(r);
	char *theirs = dataset(rc);
	redisFree(rc);
	stop_ok(&ref);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *ours = dataset(c);
	expect_same_dataset(theirs, ours, "keyrail loading redis-server's AOF");
	free(ours);
	free(theirs);
}

static void write_then_stop(int nkeys)
{
	for (int i = 0; i < nkeys; i++)
		kr_ok(c, "SET key%d value%d", i, i);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
}

Test(aof, truncated_last_command_loaded_when_allowed)
{
	write_then_stop(10);
	char path[256];
	last_incr(&dir, path, sizeof(path));
	struct stat st;
	cr_assert(stat(path, &st) == 0);
	cr_assert(truncate(path, st.st_size - 5) == 0);
	start_on(&srv, &dir, (const char *[]){ "--aof-load-truncated", "yes", NULL });
	c = kr_connect(&srv);
	kr_bulk(c, "value8", "GET key8");
	kr_nil(c, "GET key9");
	cr_assert(srv_log_has(&srv, "Truncating the AOF"), "the log says it truncated");
	/* The file was cut back to the last whole command, and goes on. */
	kr_ok(c, "SET key9 again");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, (const char *[]){ "--aof-load-truncated", "no", NULL });
	c = kr_connect(&srv);
	kr_bulk(c, "again", "GET key9");
}

Test(aof, truncated_refused_when_not_allowed)
{
	write_then_stop(10);
	char path[256];
	last_incr(&dir, path, sizeof(path));
	struct stat st;
	cr_assert(stat(path, &st) == 0);
	cr_assert(truncate(path, st.st_size - 3) == 0);
	int rc = run_until_exit(&dir, (const char *[]){ "--aof-load-truncated", "no", NULL });
	cr_assert_eq(rc, 1, "exit status %d", rc);
	cr_assert(log_has(&dir, "Unexpected end of file reading the append only file"));
	struct stat st2;
	cr_assert(stat(path, &st2) == 0 && st2.st_size == st.st_size - 3, "file left alone");
	start_on(&srv, &dir, NULL);   /* for teardown (loads, truncating) */
	c = kr_connect(&srv);
}

Test(aof, unfinished_multi_is_reverted)
{
	write_then_stop(3);
	char path[256];
	last_incr(&dir, path, sizeof(path));
	append_file(path, "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\nkey0\r\n$4\r\nlost\r\n");
	int rc = run_until_exit(&dir, (const char *[]){ "--aof-load-truncated", "no", NULL });
	cr_assert_eq(rc, 1, "exit status %d", rc);
	start_on(&srv, &dir, (const char *[]){ "--aof-load-truncated", "yes", NULL });
	c = kr_connect(&srv);
	kr_bulk(c, "value0", "GET key0");
	kr_bulk(c, "value2", "GET key2");
}

Test(aof, corrupt_file_is_a_clear_error)
{
	write_then_stop(5);
	char path[256];
	last_incr(&dir, path, sizeof(path));
	size_t len;
	char *data = slurp(path, &len);
	char *second = strstr(data + 1, "\r\n*");
	cr_assert(second != NULL);
	second[2] = '?';
	FILE *f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	free(data);
	int rc = run_until_exit(&dir, NULL);
	cr_assert_eq(rc, 1, "exit status %d", rc);
	cr_assert(log_has(&dir, "Bad file format reading the append only file"));
	/* A broken argument length is no better. */
	data = slurp(path, &len);
	second = strstr(data + 1, "\r\n?");
	second[2] = '*';
	char *dollar = strchr(second + 3, '$');
	dollar[1] = 'x';
	f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	free(data);
	rc = run_until_exit(&dir, NULL);
	cr_assert_eq(rc, 1, "exit status %d", rc);
}

Test(aof, bad_manifest_is_a_clear_error)
{
	write_then_stop(2);
	char path[256];
	snprintf(path, sizeof(path), "%s/appendonly.aof.manifest", dir.aof);
	append_file(path, "file broken-line-without-seq\n");
	int rc = run_until_exit(&dir, NULL);
	cr_assert_eq(rc, 1, "exit status %d", rc);
	char expect[] = "manifest";
	cr_assert(log_has(&dir, expect));
	FILE *f = fopen(path, "w");
	fputs("file appendonly.aof.1.base.aof seq 1 type b\nfile missing.incr.aof seq 1 type i\n", f);
	fclose(f);
	rc = run_until_exit(&dir, NULL);
	cr_assert_eq(rc, 1, "exit status %d", rc);
	cr_assert(log_has(&dir, "missing.incr.aof"));
	start_on(&srv, &dir, (const char *[]){ "--appenddirname", "fresh", NULL });
	c = kr_connect(&srv);
}

Test(aof, unknown_command_is_a_clear_error)
{
	write_then_stop(2);
	char path[256];
	last_incr(&dir, path, sizeof(path));
	append_file(path, "*2\r\n$7\r\nFOOBARX\r\n$1\r\na\r\n");
	int rc = run_until_exit(&dir, NULL);
	cr_assert_eq(rc, 1, "exit status %d", rc);
	cr_assert(log_has(&dir, "Unknown command 'FOOBARX' reading the append only file"));
	start_on(&srv, &dir, (const char *[]){ "--appenddirname", "fresh", NULL });
	c = kr_connect(&srv);
}

Test(aof, redis6_single_file_is_upgraded)
{
	if (is_redis())
		skip_test("checked against keyrail only");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	tdir_free(&dir);
	tdir_new(&dir);
	char path[256];
	snprintf(path, sizeof(path), "%s/appendonly.aof", dir.path);
	append_file(path, "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$3\r\nold\r\n$5\r\nstyle\r\n");
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	kr_bulk(c, "style", "GET old");
	struct mfile m[4];
	int n = read_manifest(&dir, m, 4);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(m[0].name, "appendonly.aof");
	cr_assert_eq(m[0].type, 'b');
	cr_assert_eq(m[1].type, 'i');
}

Test(aof, config_set_appendonly_and_fsync)
{
	if (is_redis())
		skip_test("checked against keyrail only");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	tdir_free(&dir);
	tdir_new(&dir);
	const char *args[] = { "--dir", dir.path, NULL };
	kr_srv_start(&srv, args);
	c = kr_connect(&srv);
	populate(c, "cfg");
	redisReply *r = kr_cmd(c, "INFO persistence");
	cr_assert(strstr(r->str, "aof_enabled:0\r\n"));
	freeReplyObject(r);
	kr_ok(c, "CONFIG SET appendonly yes");
	kr_ok(c, "CONFIG SET appendfsync always");
	for (int i = 0; i < 500; i++) {
		r = kr_cmd(c, "INFO persistence");
		bool done = strstr(r->str, "aof_enabled:1\r\n") && strstr(r->str, "aof_rewrites:1\r\n") &&
			    strstr(r->str, "aof_rewrite_in_progress:0\r\n");
		freeReplyObject(r);
		if (done)
			break;
		kr_sleep_ms(20);
	}
	kr_ok(c, "SET cfg:later yes");
	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "CONFIG SET appendonly yes, then restart");
	free(before);
	free(after);
	kr_err(c, "ERR CONFIG SET failed", "CONFIG SET appendfsync sometimes");
	kr_err(c, "ERR CONFIG SET failed", "CONFIG SET appenddirname other");
}

Test(aof, bgrewriteaof_with_aof_off_writes_a_base)
{
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	tdir_free(&dir);
	tdir_new(&dir);
	const char *args[] = { "--dir", dir.path, "--aof-use-rdb-preamble", "no", NULL };
	kr_srv_start(&srv, args);
	c = kr_connect(&srv);
	kr_ok(c, "SET k v");
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);
	struct mfile m[4];
	int n = read_manifest(&dir, m, 4);
	cr_assert_eq(n, 1);
	cr_assert_eq(m[0].type, 'b');
	struct alist l;
	aof_read(&dir, &l);
	bool found = false;
	for (size_t i = 0; i < l.n; i++) {
		char *s = acmd_str(&l.v[i]);
		found |= !strcmp(s, "SET k v");
		free(s);
	}
	alist_free(&l);
	cr_assert(found);
}

/* ------------------------------------------ appendfsync always + kill -9 */

#define CHK_THREADS 4

struct chk {
	const struct kr_srv *s;
	int id;
	long long acked_incr;     /* last INCR reply */
	long long acked_sets;     /* SETs k<id>:0 .. k<id>:acked_sets-1 acknowledged */
	volatile bool *stop;
};

static void *chk_main(void *arg)
{
	struct chk *k = arg;
	struct timeval tv = { 5, 0 };
	redisContext *cc = redisConnectWithTimeout("127.0.0.1", k->s->port, tv);
	if (!cc || cc->err)
		return NULL;
	redisSetTimeout(cc, tv);
	while (!*k->stop) {
		redisReply *r = redisCommand(cc, "INCR ctr%d", k->id);
		if (!r || r->type != REDIS_REPLY_INTEGER)
			break;
		k->acked_incr = r->integer;
		freeReplyObject(r);
		r = redisCommand(cc, "SET k%d:%lld %lld", k->id, k->acked_sets, k->acked_sets);
		if (!r || r->type != REDIS_REPLY_STATUS)
			break;
		freeReplyObject(r);
		k->acked_sets++;
	}
	redisFree(cc);
	return NULL;
}

Test(aof, always_kill9_loses_no_acknowledged_write)
{
	volatile bool stop = false;
	struct chk k[CHK_THREADS];
	pthread_t th[CHK_THREADS];
	for (int i = 0; i < CHK_THREADS; i++) {
		k[i] = (struct chk){ .s = &srv, .id = i, .stop = &stop };
		cr_assert(pthread_create(&th[i], NULL, chk_main, &k[i]) == 0);
	}
	kr_sleep_ms(1500);
	kill(srv.pid, SIGKILL);     /* while the clients are writing */
	for (int i = 0; i < CHK_THREADS; i++)
		pthread_join(th[i], NULL);
	stop = true;
	redisFree(c);
	c = NULL;
	kr_srv_stop(&srv);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	long long total = 0;
	for (int i = 0; i < CHK_THREADS; i++) {
		total += k[i].acked_sets;
		redisReply *r = kr_cmd(c, "GET ctr%d", i);
		long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
		freeReplyObject(r);
		/* every acknowledged INCR is there; one more may be (done, not
		 * yet answered when the server died) */
		cr_assert(v >= k[i].acked_incr && v <= k[i].acked_incr + 1,
			  "client %d: counter %lld, acknowledged %lld", i, v, k[i].acked_incr);
		for (long long n = 0; n < k[i].acked_sets; n++) {
			r = kr_cmd(c, "GET k%d:%lld", i, n);
			cr_assert(r->type == REDIS_REPLY_STRING && atoll(r->str) == n,
				  "client %d: acknowledged SET k%d:%lld lost", i, i, n);
			freeReplyObject(r);
		}
	}
	cr_assert(total > 10, "the clients wrote something (%lld)", total);
}

/* ------------------------------------------------------ RDB bases */

/* The manifest's base file: its name into name, its path into path. */
static void base_file(const struct tdir *d, char *name, size_t nlen, char *path, size_t plen)
{
	struct mfile m[16];
	int n = read_manifest(d, m, 16);
	name[0] = 0;
	for (int i = 0; i < n; i++)
		if (m[i].type == 'b')
			snprintf(name, nlen, "%.63s", m[i].name);
	cr_assert(name[0], "no base file in the manifest");
	snprintf(path, plen, "%.95s/%.63s", d->aof, name);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

static void write_bytes(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f != NULL, "open %s: %s", path, strerror(errno));
	cr_assert(n == 0 || fwrite(p, 1, n, f) == n);
	cr_assert(fclose(f) == 0);
}

/* Writes after a rewrite, for the incremental file: counters, a TTL, a
 * delete, other dbs. */
static void writes_after_rewrite(redisContext *cc)
{
	for (int i = 0; i < 50; i++)
		kr_int(cc, i + 1, "INCR after:counter");
	kr_int(cc, 7, "INCRBY after:by 7");
	kr_ok(cc, "SET after:s v EX 9000");
	kr_int(cc, 1, "DEL set:big");
	ru_reply_ll(cc, "RPUSH l:big one-more");
	kr_ok(cc, "SELECT 4");
	kr_int(cc, 1, "INCR four:counter");
	kr_ok(cc, "SELECT 0");
}

/* Stop the default server and start on a fresh directory. */
static void fresh_dir(void)
{
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	tdir_free(&dir);
	tdir_new(&dir);
}

/* redis-server 7 with its defaults (aof-use-rdb-preamble yes) writes an
 * RDB base on BGREWRITEAOF; we load the directory to the same digest. */
Test(aof, we_load_a_redis_server_rdb_base)
{
	if (is_redis())
		skip_test("redis-server against itself");
	fresh_dir();
	struct kr_srv ref;
	const char *args[] = { "--dir", dir.path, "--appendonly", "yes", "--appendfsync", "always", NULL };
	kr_srv_start_redis(&ref, args);
	redisContext *rc = kr_connect(&ref);
	ru_populate(rc);
	kr_status(rc, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(rc, 1);
	writes_after_rewrite(rc);
	char want[41], got[41];
	ru_digest(rc, want);
	redisFree(rc);
	stop_ok(&ref);
	char name[64], path[300];
	base_file(&dir, name, sizeof(name), path, sizeof(path));
	cr_assert(ends_with(name, ".base.rdb"), "redis-server wrote base %s", name);
	start_on(&srv, &dir, NULL);
	c = kr_connect(&srv);
	ru_digest(c, got);
	cr_assert_str_eq(got, want, "keyrail loading redis-server's RDB base");
	kr_bulk(c, "50", "GET after:counter");
	cr_assert(srv_log_has(&srv, "Done loading RDB part of the AOF file"));
}

/* Ours with the defaults: an RDB 10 base that redis-check-rdb accepts,
 * that redis-server loads (with the incremental file) to the same digest,
 * and that we load back. */
Test(aof, redis_server_loads_our_rdb_base)
{
	if (is_redis())
		skip_test("redis-server against itself");
	fresh_dir();
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	kr_expect_render(c, "CONFIG GET aof-use-rdb-preamble", "*2[$aof-use-rdb-preamble,$yes]");
	char name[64], path[300];
	base_file(&dir, name, sizeof(name), path, sizeof(path));
	cr_assert_str_eq(name, "appendonly.aof.1.base.rdb");
	ru_populate(c);
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);
	writes_after_rewrite(c);
	char want[41], got[41];
	ru_digest(c, want);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);

	base_file(&dir, name, sizeof(name), path, sizeof(path));
	cr_assert_str_eq(name, "appendonly.aof.2.base.rdb");
	size_t len;
	char *data = slurp(path, &len);
	cr_assert(len > 9 && !memcmp(data, "REDIS0010", 9), "RDB 10 magic");
	free(data);
	char cmd[400], out[4096];
	snprintf(cmd, sizeof(cmd), "redis-check-rdb %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert(p != NULL);
	size_t got_n = fread(out, 1, sizeof(out) - 1, p);
	out[got_n] = 0;
	int st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-check-rdb failed:\n%s", out);
	cr_assert(strstr(out, "RDB looks OK"), "redis-check-rdb:\n%s", out);
	cr_assert(strstr(out, "Checksum OK"), "redis-check-rdb:\n%s", out);

	struct kr_srv ref;
	const char *args[] = { "--dir", dir.path, "--appendonly", "yes", NULL };
	kr_srv_start_redis(&ref, args);
	redisContext *rc = kr_connect(&ref);
	ru_digest(rc, got);
	cr_assert_str_eq(got, want, "redis-server loading our RDB base");
	redisFree(rc);
	stop_ok(&ref);

	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	ru_digest(c, got);
	cr_assert_str_eq(got, want, "keyrail restarting from its RDB base");
}

/* A damaged RDB base stops start-up with a message naming the file, also
 * with aof-load-truncated yes (which only applies to trailing commands). */
Test(aof, corrupt_rdb_base_is_a_clear_error)
{
	if (is_redis())
		skip_test("checked against keyrail only");
	fresh_dir();
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	populate(c, "cr");
	kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
	wait_rewrite_done(c, 1);
	kr_ok(c, "SET after 1");
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	char name[64], path[300], log[200], want[200];
	base_file(&dir, name, sizeof(name), path, sizeof(path));
	cr_assert(ends_with(name, ".base.rdb"), "%s", name);
	snprintf(log, sizeof(log), "%s/server.log", dir.path);
	snprintf(want, sizeof(want), "Error reading the RDB base file %s, AOF loading aborted", name);
	size_t len;
	char *orig = slurp(path, &len);
	cr_assert(len > 100);
	char *bad = malloc(len);
	static const struct {
		const char *what;
		size_t cut;          /* bytes kept; 0: all, one flipped */
		const char *truncated;
	} cases[] = {
		{ "a byte flipped in the middle", 0, "no" },
		{ "cut in the middle", 1, "yes" },
		{ "cut in the middle", 1, "no" },
		{ "the EOF and CRC cut", 2, "yes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, orig, len);
		size_t n = len;
		if (cases[i].cut == 0)
			bad[len / 2] ^= 0x5a;
		else
			n = cases[i].cut == 1 ? len / 2 : len - 9;
		write_bytes(path, bad, n);
		unlink(log);
		int rc = run_until_exit(&dir, (const char *[]){ "--aof-load-truncated",
								 cases[i].truncated, NULL });
		cr_assert_eq(rc, 1, "%s: exit status %d", cases[i].what, rc);
		cr_assert(log_has(&dir, want), "%s: the log names the base file", cases[i].what);
		if (cases[i].cut)
			cr_assert(log_has(&dir, "unexpected end of file"), "%s", cases[i].what);
		struct stat st;
		cr_assert(stat(path, &st) == 0 && (size_t)st.st_size == n, "%s: file left alone",
			  cases[i].what);
	}
	free(bad);
	write_bytes(path, orig, len);
	free(orig);
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	kr_bulk(c, "1", "GET after");
	kr_bulk(c, "hello", "GET cr:str");
}

/* A Redis 6 appendonly.aof: an RDB preamble (here redis-server's own
 * dump.rdb), then commands, the last one cut. */
Test(aof, redis6_file_with_rdb_preamble_loads)
{
	if (is_redis())
		skip_test("checked against keyrail only");
	fresh_dir();
	struct tdir rd;
	tdir_new(&rd);
	struct kr_srv ref;
	const char *args[] = { "--dir", rd.path, NULL };
	kr_srv_start_redis(&ref, args);
	redisContext *rc = kr_connect(&ref);
	kr_ok(rc, "SET pre:s hello");
	kr_int(rc, 3, "RPUSH pre:l a b c");
	kr_int(rc, 2, "HSET pre:h f v g w");
	kr_int(rc, 2, "ZADD pre:z 1 a 2.5 b");
	kr_int(rc, 2, "SADD pre:set x y");
	kr_ok(rc, "SET pre:ttl v EX 5000");
	kr_ok(rc, "SELECT 3");
	kr_ok(rc, "SET pre:db3 three");
	kr_ok(rc, "SELECT 0");
	kr_ok(rc, "SAVE");
	redisFree(rc);
	stop_ok(&ref);
	char path[300];
	snprintf(path, sizeof(path), "%s/dump.rdb", rd.path);
	size_t len;
	char *rdb = slurp(path, &len);
	tdir_free(&rd);
	cr_assert(len > 9 && !memcmp(rdb, "REDIS", 5));
	/* After the preamble the commands run in db 0 whatever db the RDB
	 * part selected last. */
	static const char cmds[] =
		"*3\r\n$3\r\nSET\r\n$5\r\npost1\r\n$1\r\n1\r\n"
		"*2\r\n$4\r\nINCR\r\n$5\r\npost1\r\n"
		"*3\r\n$3\r\nSET\r\n$4\r\nlost";
	snprintf(path, sizeof(path), "%s/appendonly.aof", dir.path);
	FILE *f = fopen(path, "wb");
	cr_assert(f != NULL);
	cr_assert(fwrite(rdb, 1, len, f) == len);
	cr_assert(fwrite(cmds, 1, sizeof(cmds) - 1, f) == sizeof(cmds) - 1);
	cr_assert(fclose(f) == 0);
	free(rdb);
	start_on(&srv, &dir, (const char *[]){ "--aof-load-truncated", "yes", NULL });
	c = kr_connect(&srv);
	kr_bulk(c, "hello", "GET pre:s");
	kr_expect_render(c, "LRANGE pre:l 0 -1", "*3[$a,$b,$c]");
	kr_expect_render(c, "ZRANGE pre:z 0 -1 WITHSCORES", "*4[$a,$1,$b,$2.5]");
	kr_expect_sorted(c, "SMEMBERS pre:set", "x,y");
	kr_bulk(c, "w", "HGET pre:h g");
	long long ttl = pexpiretime(c, "pre:ttl");
	cr_assert(ttl > now_ms() + 4000 * 1000LL, "pre:ttl keeps its TTL (%lld)", ttl);
	kr_bulk(c, "2", "GET post1");
	kr_nil(c, "GET lost");
	kr_ok(c, "SELECT 3");
	kr_bulk(c, "three", "GET pre:db3");
	kr_nil(c, "GET post1");
	kr_ok(c, "SELECT 0");
	struct mfile m[4];
	int n = read_manifest(&dir, m, 4);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(m[0].name, "appendonly.aof");
	cr_assert_eq(m[0].type, 'b');
}

/* CONFIG SET aof-use-rdb-preamble picks the next base's format. */
Test(aof, config_set_rdb_preamble_picks_the_base_format)
{
	if (is_redis())
		skip_test("checked against keyrail only");
	fresh_dir();
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	populate(c, "fmt");
	static const struct {
		const char *set;     /* CONFIG SET value, NULL: leave */
		const char *base;    /* the base's name after the rewrite */
	} steps[] = {
		{ NULL, "appendonly.aof.2.base.rdb" },
		{ "no", "appendonly.aof.3.base.aof" },
		{ "yes", "appendonly.aof.4.base.rdb" },
	};
	for (int i = 0; i < 3; i++) {
		if (steps[i].set) {
			kr_ok(c, "CONFIG SET aof-use-rdb-preamble %s", steps[i].set);
			char want[80];
			snprintf(want, sizeof(want), "*2[$aof-use-rdb-preamble,$%s]", steps[i].set);
			kr_expect_render(c, "CONFIG GET aof-use-rdb-preamble", want);
		}
		kr_ok(c, "SET fmt:step %d", i);
		kr_status(c, "Background append only file rewriting started", "BGREWRITEAOF");
		wait_rewrite_done(c, i + 1);
		char name[64], path[300];
		base_file(&dir, name, sizeof(name), path, sizeof(path));
		cr_assert_str_eq(name, steps[i].base);
		size_t len;
		char *data = slurp(path, &len);
		bool rdb = len >= 9 && !memcmp(data, "REDIS0010", 9);
		cr_assert(rdb == ends_with(name, ".rdb"), "%s: content matches the name", name);
		if (!rdb)
			cr_assert(memmem(data, len, "fmt:str", 7), "the AOF base holds the data");
		free(data);
	}
	kr_err(c, "ERR CONFIG SET failed", "CONFIG SET aof-use-rdb-preamble maybe");
	char *before = dataset(c);
	redisFree(c);
	c = NULL;
	stop_ok(&srv);
	start_with(&srv, &dir, true, NULL);
	c = kr_connect(&srv);
	char *after = dataset(c);
	expect_same_dataset(before, after, "after rewrites in both formats");
	free(before);
	free(after);
}
