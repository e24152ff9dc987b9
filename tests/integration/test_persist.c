/* Integration tests of RDB snapshots and loading (shards/snap.c).
 *
 * Suite `persist`:
 *  - SAVE, restart with the file: every type and encoding, several dbs,
 *    expiries (a key expired by load time is skipped), compared key by key
 *    (type, encoding on keyrail, value, TTL) and by DEBUG DIGEST;
 *  - interchange with Debian's redis-server 7.0.15 both ways (Redis loads
 *    our dump.rdb; we load Redis's), same comparison;
 *  - redis-check-rdb says OK on every file a test writes;
 *  - point in time: a BGSAVE while threads run cross-shard MULTI/EXEC
 *    transfers (sum invariant), plain INCRs (each counter's saved value
 *    lies between what was acknowledged before BGSAVE was sent and after
 *    it finished) and overwrites of big values; the loaded file must be
 *    consistent, and copy-on-write must have happened (INFO);
 *  - BGSAVE while one runs, BGSAVE SCHEDULE, SAVE while one runs; save
 *    rules trigger a save (and CONFIG SET save ""); SHUTDOWN saves (and
 *    NOSAVE does not, SAVE does without rules, a failed save keeps the
 *    server up); MISCONF after a failed background save;
 *  - start-up with a truncated or corrupted file (a loop over lengths and
 *    byte flips of a real file): exit status 1 with an error naming the
 *    file and offset, never a crash (run it with the ASan build too).
 *
 * Against Redis itself (KR_SERVER_KIND=redis) everything runs except the
 * keyrail-only checks (encodings after reload, the COW counter, the start-up
 * error text), which are guarded with is_redis. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"
#include "tests/integration/repl_util.h"

TestSuite(persist, .timeout = 600);

/* ------------------------------------------------------ files and dirs */

static void mk_tmpdir(char *out, size_t len)
{
	snprintf(out, len, "/tmp/kr-persist-XXXXXX");
	cr_assert(mkdtemp(out) != NULL, "mkdtemp: %s", strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f != NULL, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	cr_assert(p != NULL);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

static void write_all(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f != NULL, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(p, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void copy_file(const char *src, const char *dst)
{
	size_t n;
	char *p = read_all(src, &n);
	write_all(dst, p, n);
	free(p);
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Run a shell command; its exit status, stdout+stderr in out. */
static int run(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	cr_assert(f != NULL);
	size_t n = 0;
	while (n + 1 < outlen) {
		size_t got = fread(out + n, 1, outlen - 1 - n, f);
		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	char sink[4096];
	while (fread(sink, 1, sizeof(sink), f) > 0)
		;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* redis-check-rdb (Debian's redis-tools) must accept the file. */
static void check_rdb(const char *path)
{
	static char out[1 << 16];
	int rc = run(out, sizeof(out), "redis-check-rdb '%s' 2>&1", path);
	cr_assert(rc == 0 && strstr(out, "RDB looks OK") != NULL,
		  "redis-check-rdb %s failed (status %d):\n%s", path, rc, out);
}

/* ---------------------------------------------------------------- INFO */

/* The value of field in an INFO text (asserts it is there). */
static void text_field(const char *info, const char *field, char *out, size_t outlen)
{
	char key[128];
	snprintf(key, sizeof(key), "\n%s:", field);
	const char *p = strstr(info, key);
	cr_assert(p != NULL, "INFO persistence has no %s:\n%s", field, info);
	p += strlen(key);
	size_t n = strcspn(p, "\r\n");
	snprintf(out, outlen, "%.*s", (int)n, p);
}

/* Wait until rdb_saves >= want and no save is in progress, both seen in
 * one INFO (rdb_saves counts saves started, as Redis); 60 s at most,
 * generous for the ASan build on a busy machine. */
static void wait_saves(redisContext *c, long long want)
{
	for (int i = 0; i < 6000; i++) {
		redisReply *r = kr_cmd(c, "INFO persistence");
		cr_assert(r->type == REDIS_REPLY_STRING);
		char a[32], b[32];
		text_field(r->str, "rdb_bgsave_in_progress", a, sizeof(a));
		text_field(r->str, "rdb_saves", b, sizeof(b));
		freeReplyObject(r);
		if (atoll(a) == 0 && atoll(b) >= want)
			return;
		kr_sleep_ms(10);
	}
	cr_assert_fail("rdb_saves did not reach %lld", want);
}

static void wait_not_in_progress(redisContext *c)
{
	for (int i = 0; i < 6000; i++) {
		if (ru_info_ll(c, "persistence", "rdb_bgsave_in_progress") == 0)
			return;
		kr_sleep_ms(10);
	}
	cr_assert_fail("a background save is still in progress");
}

/* ------------------------------------------------------------- dataset */

static const int dbs[] = { 0, 1, 5, 15 };
#define NDBS (int)(sizeof(dbs) / sizeof(dbs[0]))

static void fill(char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (char)(seed >> 16);   /* binary, NULs included */
	}
}

static void cmdv_ok(redisContext *c, int argc, const char **argv, const size_t *lens)
{
	redisReply *r = kr_cmdv(c, argc, argv, lens);
	cr_assert(r->type != REDIS_REPLY_ERROR, "%s: %s", argv[0], r->str);
	freeReplyObject(r);
}

/* Every type and every encoding keyrail has (and the values Redis 7.0
 * holds in its own), over several dbs, with expiries. */
static void populate(redisContext *c)
{
	static char big[200000];
	char k[64], v[128];
	for (int d = 0; d < NDBS; d++) {
		kr_ok(c, "SELECT %d", dbs[d]);
		/* strings: int, negative int, embstr, raw, big binary, empty */
		kr_ok(c, "SET s:int:%d %d", d, 12345 + d);
		kr_ok(c, "SET s:neg:%d -9223372036854775808", d);
		kr_ok(c, "SET s:emb:%d hello-%d", d, d);
		memset(v, 'r', 100);
		v[100] = '\0';
		kr_ok(c, "SET s:raw:%d %s", d, v);
		fill(big, sizeof(big), (unsigned)d + 1);
		kr_set_bytes(c, "s:big", big, sizeof(big));
		kr_ok(c, "SET s:empty \"\"");
		kr_ok(c, "SET s:float 3.14159");
		kr_int(c, 0, "SETBIT s:bits 1000 1");
		kr_int(c, 1, "PFADD s:hll a b c d e");
		/* lists: listpack, quicklist, one with an element too big for a
		 * node (plain), integers */
		kr_int(c, 3, "RPUSH l:small:%d a b %d", d, d);
		for (int i = 0; i < 1000; i++) {
			snprintf(v, sizeof(v), "element-%04d-padding-padding", i);
			redisReply *r = kr_cmd(c, "RPUSH l:quick %s", v);
			freeReplyObject(r);
		}
		{
			const char *av[] = { "RPUSH", "l:plain", "x", big, "y" };
			size_t lens[] = { 5, 7, 1, 20000, 1 };
			cmdv_ok(c, 5, av, lens);
		}
		kr_int(c, 4, "RPUSH l:ints 1 -2 300000 -4000000000");
		/* hashes: listpack, hashtable (many fields), hashtable (long value) */
		kr_int(c, 2, "HSET h:small f1 v1 f2 %d", d);
		for (int i = 0; i < 200; i++) {
			redisReply *r = kr_cmd(c, "HSET h:big field:%d value:%d", i, i * 7);
			freeReplyObject(r);
		}
		memset(v, 'h', 100);
		v[100] = '\0';
		kr_int(c, 1, "HSET h:longval f %s", v);
		/* sets: intset, listpack (keyrail, Redis 7.2 rules), hashtable */
		kr_int(c, 4, "SADD set:ints 1 2 3 %d", 100 + d);
		kr_int(c, 3, "SADD set:small a b c");
		for (int i = 0; i < 300; i++) {
			redisReply *r = kr_cmd(c, "SADD set:big member-%d", i);
			freeReplyObject(r);
		}
		for (int i = 0; i < 600; i++) {
			redisReply *r = kr_cmd(c, "SADD set:manyints %d", i * 3);
			freeReplyObject(r);
		}
		/* sorted sets: listpack, skiplist, special scores */
		kr_int(c, 5, "ZADD z:small 1 a 2.5 b -3 c inf d -inf e");
		for (int i = 0; i < 200; i++) {
			redisReply *r = kr_cmd(c, "ZADD z:big %d.25 m%d", i - 100, i);
			freeReplyObject(r);
		}
		memset(v, 'z', 100);
		v[100] = '\0';
		kr_int(c, 1, "ZADD z:longmember 1 %s", v);
		/* expiries far away: kept, with the TTL */
		kr_ok(c, "SET ttl:str:%d x PX 3600000", d);
		kr_int(c, 2, "RPUSH ttl:list a b");
		kr_int(c, 1, "PEXPIRE ttl:list 7200000");
		snprintf(k, sizeof(k), "bin\\x00key:%d", d);
		{
			char kb[16] = { 'b', 'i', 'n', 0, 'k', (char)0xff, (char)('0' + d) };
			const char *av[] = { "SET", kb, "v" };
			size_t lens[] = { 3, 7, 1 };
			cmdv_ok(c, 3, av, lens);
		}
	}
	kr_ok(c, "SELECT 0");
}

/* FNV-1a, so binary values render short and comparable. */
static unsigned long long fnv(const char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An array reply's elements, each as "len/hash" (pairs joined when pair),
 * sorted unless ordered. */
static void render_elems(struct kr_sb *out, const redisReply *r, bool ordered, bool pairs)
{
	cr_assert(r->type == REDIS_REPLY_ARRAY, "expected an array, got %d", r->type);
	size_t step = pairs ? 2 : 1;
	size_t n = r->elements / step;
	char **items = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct kr_sb e = { 0 };
		for (size_t j = 0; j < step; j++) {
			const redisReply *x = r->element[i * step + j];
			kr_sb_fmt(&e, "%s%zu/%llx", j ? "=" : "", x->len, fnv(x->str, x->len));
		}
		items[i] = e.s;
	}
	if (!ordered)
		qsort(items, n, sizeof(char *), cmp_cstr);
	kr_sb_fmt(out, "[%zu:", n);
	for (size_t i = 0; i < n; i++) {
		kr_sb_fmt(out, "%s,", items[i]);
		free(items[i]);
	}
	kr_sb_fmt(out, "]");
	free(items);
}

/* The whole content of dbs[] as text: per key (sorted) its type, encoding
 * (if asked), whether it has a TTL, and its value. */
static void state(redisContext *c, struct kr_sb *out, bool encodings)
{
	for (int d = 0; d < NDBS; d++) {
		kr_ok(c, "SELECT %d", dbs[d]);
		redisReply *keys = kr_cmd(c, "KEYS *");
		cr_assert_eq(keys->type, REDIS_REPLY_ARRAY);
		char **names = calloc(keys->elements + 1, sizeof(char *));
		size_t *lens = calloc(keys->elements + 1, sizeof(size_t));
		for (size_t i = 0; i < keys->elements; i++) {
			/* hex names: binary-safe and sortable */
			const redisReply *kr = keys->element[i];
			names[i] = malloc(kr->len * 2 + 1);
			for (size_t j = 0; j < kr->len; j++)
				sprintf(names[i] + 2 * j, "%02x", (unsigned char)kr->str[j]);
			names[i][kr->len * 2] = '\0';
		}
		qsort(names, keys->elements, sizeof(char *), cmp_cstr);
		for (size_t i = 0; i < keys->elements; i++) {
			size_t hl = strlen(names[i]);
			char *raw = malloc(hl / 2 + 1);
			for (size_t j = 0; j < hl / 2; j++) {
				unsigned x;
				sscanf(names[i] + 2 * j, "%2x", &x);
				raw[j] = (char)x;
			}
			lens[i] = hl / 2;
			const char *av[4];
			size_t al[4];
			av[0] = "TYPE"; al[0] = 4;
			av[1] = raw; al[1] = lens[i];
			redisReply *t = kr_cmdv(c, 2, av, al);
			kr_sb_fmt(out, "db%d %s %s", dbs[d], names[i], t->str);
			/* (Strings are left out: Redis too loads a 33-byte HLL
			 * made raw by PFADD as embstr.) */
			if (encodings && strcmp(t->str, "string") != 0) {
				av[0] = "OBJECT"; al[0] = 6;
				av[1] = "ENCODING"; al[1] = 8;
				av[2] = raw; al[2] = lens[i];
				redisReply *e = kr_cmdv(c, 3, av, al);
				kr_sb_fmt(out, " %s", e->type == REDIS_REPLY_STRING ? e->str : "?");
				freeReplyObject(e);
			}
			av[0] = "PTTL"; al[0] = 4;
			av[1] = raw; al[1] = lens[i];
			redisReply *ttl = kr_cmdv(c, 2, av, al);
			kr_sb_fmt(out, " ttl:%s ", ttl->integer > 0 ? "yes" : ttl->integer == -1 ? "no" : "?");
			freeReplyObject(ttl);
			redisReply *v = NULL;
			if (strcmp(t->str, "string") == 0) {
				av[0] = "GET"; al[0] = 3;
				v = kr_cmdv(c, 2, av, al);
				kr_sb_fmt(out, "%zu/%llx", v->len, fnv(v->str, v->len));
			} else if (strcmp(t->str, "list") == 0) {
				av[0] = "LRANGE"; al[0] = 6;
				av[2] = "0"; al[2] = 1;
				av[3] = "-1"; al[3] = 2;
				v = kr_cmdv(c, 4, av, al);
				render_elems(out, v, true, false);
			} else if (strcmp(t->str, "set") == 0) {
				av[0] = "SMEMBERS"; al[0] = 8;
				v = kr_cmdv(c, 2, av, al);
				render_elems(out, v, false, false);
			} else if (strcmp(t->str, "hash") == 0) {
				av[0] = "HGETALL"; al[0] = 7;
				v = kr_cmdv(c, 2, av, al);
				render_elems(out, v, false, true);
			} else if (strcmp(t->str, "zset") == 0) {
				const char *zv[] = { "ZRANGE", raw, "0", "-1", "WITHSCORES" };
				size_t zl[] = { 6, lens[i], 1, 2, 10 };
				v = kr_cmdv(c, 5, zv, zl);
				render_elems(out, v, true, true);
			} else {
				cr_assert_fail("unexpected type %s", t->str);
			}
			kr_sb_fmt(out, "\n");
			freeReplyObject(v);
			freeReplyObject(t);
			free(raw);
			free(names[i]);
		}
		free(names);
		free(lens);
		freeReplyObject(keys);
	}
	kr_ok(c, "SELECT 0");
}

/* DEBUG DIGEST into out (40 hex digits); false if the server has none. */
static bool digest(redisContext *c, char *out, size_t outlen)
{
	redisReply *r = kr_cmd(c, "DEBUG DIGEST");
	bool ok = r->type == REDIS_REPLY_STRING && r->len == 40;
	if (ok)
		snprintf(out, outlen, "%s", r->str);
	freeReplyObject(r);
	return ok;
}

static void expect_same_state(const struct kr_sb *a, const struct kr_sb *b)
{
	if (strcmp(a->s, b->s) == 0)
		return;
	/* Show the first differing line. */
	const char *p = a->s, *q = b->s;
	while (*p && *p == *q) {
		p++;
		q++;
	}
	while (p > a->s && p[-1] != '\n') {
		p--;
		q--;
	}
	cr_assert_fail("state differs after reload:\nbefore: %.300s\nafter:  %.300s", p, q);
}

/* Start a server (keyrail, or Redis when redis) holding dir/dump.rdb. */
static void start_with(struct kr_srv *s, const char *dir, bool redis)
{
	const char *args[] = { "--dir", dir, "--dbfilename", "dump.rdb", NULL };
	if (redis)
		kr_srv_start_redis(s, args);
	else
		kr_srv_start(s, args);
}

/* Stop a server and expect a clean exit (status 0: no sanitizer report,
 * no crash), also after it exited by itself (SHUTDOWN). */
static void stop_ok(struct kr_srv *s, redisContext **c)
{
	if (*c)
		redisFree(*c);
	*c = NULL;
	cr_expect_eq(kr_srv_stop(s), 0, "server exit status");
}

/* The server under test is Redis itself (KR_SERVER_KIND=redis)? */
static bool under_redis(void)
{
	const char *k = getenv("KR_SERVER_KIND");
	return k && strcmp(k, "redis") == 0;
}

/* --------------------------------------------------- save and reload */

Test(persist, save_then_restart_keeps_everything)
{
	struct kr_srv a, b;
	redisContext *c;
	char dir[64], path[300], d1[64] = "", d2[64] = "";
	mk_tmpdir(dir, sizeof(dir));
	kr_srv_start_client(&a, &c, NULL);
	populate(c);
	struct kr_sb s1 = { 0 }, s2 = { 0 };
	state(c, &s1, !a.is_redis);
	bool have_digest = digest(c, d1, sizeof(d1));
	/* Expired by the time the file is loaded: skipped (db 2 is not in
	 * the state above, and is empty afterwards). */
	kr_ok(c, "SELECT 2");
	kr_ok(c, "SET ttl:short x PX 300");
	kr_ok(c, "SELECT 0");
	kr_ok(c, "SAVE");
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 0);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_bgsave_in_progress"), 0);
	cr_expect(ru_info_is(c, "persistence", "rdb_last_bgsave_status", "ok"),
		  "rdb_last_bgsave_status is not ok");
	snprintf(path, sizeof(path), "%s/dump.rdb", a.dir);
	check_rdb(path);
	char dst[300];
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	stop_ok(&a, &c);
	kr_sleep_ms(400);   /* ttl:short is expired now */

	start_with(&b, dir, under_redis());
	c = kr_connect(&b);
	state(c, &s2, !b.is_redis);
	expect_same_state(&s1, &s2);
	if (have_digest) {
		cr_assert(digest(c, d2, sizeof(d2)));
		cr_expect_str_eq(d1, d2, "DEBUG DIGEST differs after reload");
	}
	kr_ok(c, "SELECT 2");
	kr_int(c, 0, "DBSIZE");
	kr_ok(c, "SELECT 0");
	cr_expect_geq(ru_info_ll(c, "persistence", "rdb_last_load_keys_expired"), 1);
	cr_expect_gt(ru_info_ll(c, "persistence", "rdb_last_load_keys_loaded"), 50);
	/* TTLs survive, never longer than they were. */
	redisReply *r = kr_cmd(c, "PTTL ttl:str:0");
	cr_expect(r->integer > 0 && r->integer <= 3600000, "PTTL %lld", r->integer);
	freeReplyObject(r);
	redisContext *tmp = c;
	stop_ok(&b, &tmp);
	free(s1.s);
	free(s2.s);
	rm_tree(dir);
}

Test(persist, redis_loads_our_dump)
{
	struct kr_srv a, r;
	redisContext *c;
	char dir[64], path[300], dst[300], d1[64] = "", d2[64] = "";
	mk_tmpdir(dir, sizeof(dir));
	kr_srv_start_client(&a, &c, NULL);
	populate(c);
	struct kr_sb s1 = { 0 }, s2 = { 0 };
	state(c, &s1, false);
	bool have_digest = digest(c, d1, sizeof(d1));
	kr_ok(c, "SAVE");
	snprintf(path, sizeof(path), "%s/dump.rdb", a.dir);
	check_rdb(path);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	stop_ok(&a, &c);

	start_with(&r, dir, true);
	c = kr_connect(&r);
	state(c, &s2, false);
	expect_same_state(&s1, &s2);
	if (have_digest) {
		cr_assert(digest(c, d2, sizeof(d2)));
		cr_expect_str_eq(d1, d2, "redis-server's DEBUG DIGEST of our file differs");
	}
	stop_ok(&r, &c);
	free(s1.s);
	free(s2.s);
	rm_tree(dir);
}

Test(persist, we_load_a_redis_dump)
{
	struct kr_srv r, a;
	redisContext *c;
	char dir[64], path[300], dst[300], d1[64] = "", d2[64] = "";
	mk_tmpdir(dir, sizeof(dir));
	kr_srv_start_redis(&r, NULL);
	c = kr_connect(&r);
	populate(c);
	struct kr_sb s1 = { 0 }, s2 = { 0 };
	state(c, &s1, false);
	bool have_digest = digest(c, d1, sizeof(d1));
	kr_ok(c, "SAVE");
	snprintf(path, sizeof(path), "%s/dump.rdb", r.dir);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	stop_ok(&r, &c);

	start_with(&a, dir, under_redis());
	c = kr_connect(&a);
	state(c, &s2, false);
	expect_same_state(&s1, &s2);
	if (have_digest && digest(c, d2, sizeof(d2)))
		cr_expect_str_eq(d1, d2, "DEBUG DIGEST of a Redis dump differs after loading");
	if (!a.is_redis) {
		/* Loaded values take the encodings our thresholds ask for. */
		kr_expect_encoding(c, "s:int:0", "int");
		kr_expect_encoding(c, "l:small:0", "listpack");
		kr_expect_encoding(c, "l:quick", "quicklist");
		kr_expect_encoding(c, "h:small", "listpack");
		kr_expect_encoding(c, "h:big", "hashtable");
		kr_expect_encoding(c, "set:ints", "intset");
		kr_expect_encoding(c, "set:small", "listpack");
		kr_expect_encoding(c, "set:big", "hashtable");
		kr_expect_encoding(c, "z:small", "listpack");
		kr_expect_encoding(c, "z:big", "skiplist");
	}
	stop_ok(&a, &c);
	free(s1.s);
	free(s2.s);
	rm_tree(dir);
}

/* -------------------------------------------------------- point in time */

#define NACCT 8
#define NCTR 2
#define ACCT_START 1000

struct pit {
	const struct kr_srv *srv;
	char acct[NACCT][32];
	_Atomic bool stop;
	_Atomic long long acked[NCTR];      /* last INCR reply per counter */
	_Atomic long long transfers;
	_Atomic long long big_writes;
	_Atomic int failures;
};

struct pit_arg {
	struct pit *p;
	int id;
};

/* MULTI/EXEC transfers between accounts on different shards. */
static void *pit_transfer(void *arg)
{
	struct pit_arg *a = arg;
	struct pit *p = a->p;
	redisContext *c = redisConnect("127.0.0.1", p->srv->port);
	if (!c || c->err) {
		atomic_fetch_add(&p->failures, 1);
		return NULL;
	}
	unsigned seed = 77u + (unsigned)a->id;
	while (!atomic_load(&p->stop)) {
		seed = seed * 1103515245u + 12345u;
		int from = (int)((seed >> 16) % NACCT), to = (from + 1 + (int)((seed >> 8) % (NACCT - 1))) % NACCT;
		int amount = 1 + (int)(seed % 50);
		redisAppendCommand(c, "MULTI");
		redisAppendCommand(c, "DECRBY %s %d", p->acct[from], amount);
		redisAppendCommand(c, "INCRBY %s %d", p->acct[to], amount);
		redisAppendCommand(c, "EXEC");
		bool ok = true;
		for (int i = 0; i < 4; i++) {
			redisReply *r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
				ok = false;
				break;
			}
			if (r->type == REDIS_REPLY_ERROR || (i == 3 && r->type != REDIS_REPLY_ARRAY))
				ok = false;
			freeReplyObject(r);
		}
		if (!ok) {
			atomic_fetch_add(&p->failures, 1);
			break;
		}
		atomic_fetch_add(&p->transfers, 1);
	}
	redisFree(c);
	return NULL;
}

/* INCR of one counter; acked[] holds the last value replied. */
static void *pit_counter(void *arg)
{
	struct pit_arg *a = arg;
	struct pit *p = a->p;
	redisContext *c = redisConnect("127.0.0.1", p->srv->port);
	if (!c || c->err) {
		atomic_fetch_add(&p->failures, 1);
		return NULL;
	}
	while (!atomic_load(&p->stop)) {
		redisReply *r = redisCommand(c, "INCR ctr:%d", a->id);
		if (!r || r->type != REDIS_REPLY_INTEGER) {
			atomic_fetch_add(&p->failures, 1);
			if (r)
				freeReplyObject(r);
			break;
		}
		atomic_store(&p->acked[a->id], r->integer);
		freeReplyObject(r);
	}
	redisFree(c);
	return NULL;
}

/* Overwrites of big values all over the keyspace: copy-on-write. */
static void *pit_big(void *arg)
{
	struct pit_arg *a = arg;
	struct pit *p = a->p;
	redisContext *c = redisConnect("127.0.0.1", p->srv->port);
	if (!c || c->err) {
		atomic_fetch_add(&p->failures, 1);
		return NULL;
	}
	static char val[4096];
	memset(val, 'w', sizeof(val) - 1);
	unsigned seed = 999;
	while (!atomic_load(&p->stop)) {
		seed = seed * 1103515245u + 12345u;
		redisReply *r = redisCommand(c, "SET big:%u %s", (seed >> 8) % 60000, val);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			atomic_fetch_add(&p->failures, 1);
			if (r)
				freeReplyObject(r);
			break;
		}
		freeReplyObject(r);
		atomic_fetch_add(&p->big_writes, 1);
	}
	redisFree(c);
	return NULL;
}

Test(persist, bgsave_is_a_consistent_point_in_time)
{
	struct kr_srv s, b;
	redisContext *c;
	char dir[64], path[300], dst[300];
	mk_tmpdir(dir, sizeof(dir));
	const char *args[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, args);
	struct pit *p = calloc(1, sizeof(*p));
	p->srv = &s;
	/* Accounts spread over the shards (3 shards: every shard holds some). */
	for (int i = 0; i < NACCT; i++) {
		kr_key_on_shard(p->acct[i], sizeof(p->acct[i]), "acct:", (unsigned)(i % 3), i / 3);
		kr_ok(c, "SET %s %d", p->acct[i], ACCT_START);
	}
	for (int i = 0; i < NCTR; i++)
		kr_ok(c, "SET ctr:%d 0", i);
	/* Enough data that the snapshot takes many slices (~120 MB). */
	kr_ok(c, "DEBUG POPULATE 60000 big 2000");

	pthread_t th[8];
	struct pit_arg args_t[8];
	int nth = 0;
	for (int i = 0; i < 2; i++, nth++) {
		args_t[nth] = (struct pit_arg){ p, i };
		pthread_create(&th[nth], NULL, pit_transfer, &args_t[nth]);
	}
	for (int i = 0; i < NCTR; i++, nth++) {
		args_t[nth] = (struct pit_arg){ p, i };
		pthread_create(&th[nth], NULL, pit_counter, &args_t[nth]);
	}
	args_t[nth] = (struct pit_arg){ p, 0 };
	pthread_create(&th[nth], NULL, pit_big, &args_t[nth]);
	nth++;
	/* Let every writer get going. */
	while (atomic_load(&p->transfers) < 20 || atomic_load(&p->big_writes) < 20 ||
	       atomic_load(&p->acked[0]) < 20 || atomic_load(&p->acked[NCTR - 1]) < 20) {
		cr_assert_eq(atomic_load(&p->failures), 0);
		kr_sleep_ms(5);
	}
	long long before[NCTR], after[NCTR];
	for (int i = 0; i < NCTR; i++)
		before[i] = atomic_load(&p->acked[i]);
	long long big_before = atomic_load(&p->big_writes);
	kr_status(c, "Background saving started", "BGSAVE");
	wait_saves(c, 1);
	/* Every INCR sent before the save ended is acknowledged once a later
	 * one is: wait for two more per counter. */
	long long seen[NCTR];
	for (int i = 0; i < NCTR; i++)
		seen[i] = atomic_load(&p->acked[i]);
	for (int i = 0; i < NCTR; i++)
		while (atomic_load(&p->acked[i]) < seen[i] + 2 && !atomic_load(&p->failures))
			kr_sleep_ms(1);
	for (int i = 0; i < NCTR; i++)
		after[i] = atomic_load(&p->acked[i]);
	long long big_during = atomic_load(&p->big_writes) - big_before;
	atomic_store(&p->stop, true);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&p->failures), 0, "a writer failed");
	cr_assert(ru_info_is(c, "persistence", "rdb_last_bgsave_status", "ok"),
		  "rdb_last_bgsave_status is not ok");
	if (!s.is_redis) {
		/* Copy-on-write really happened: keys were saved by writes. */
		cr_expect_gt(ru_info_ll(c, "persistence", "rdb_last_cow_keys"), 0,
			     "no copy-on-write save (%lld big writes during the save)", big_during);
	}
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	check_rdb(path);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	stop_ok(&s, &c);

	start_with(&b, dir, under_redis());
	c = kr_connect(&b);
	long long sum = 0;
	for (int i = 0; i < NACCT; i++) {
		redisReply *r = kr_cmd(c, "GET %s", p->acct[i]);
		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		sum += atoll(r->str);
		freeReplyObject(r);
	}
	cr_expect_eq(sum, (long long)NACCT * ACCT_START, "sum invariant broken: half a transaction saved");
	for (int i = 0; i < NCTR; i++) {
		redisReply *r = kr_cmd(c, "GET ctr:%d", i);
		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		long long v = atoll(r->str);
		freeReplyObject(r);
		cr_expect(v >= before[i] && v <= after[i],
			  "ctr:%d saved %lld, acknowledged %lld before BGSAVE and %lld after it", i, v,
			  before[i], after[i]);
	}
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_last_load_keys_loaded"), 60000 + NACCT + NCTR);
	stop_ok(&b, &c);
	free(p);
	rm_tree(dir);
}

/* ------------------------------------------- exactly once, under churn */

struct churn {
	const struct kr_srv *srv;
	_Atomic bool stop;
	_Atomic long long ops;
	_Atomic int failures;
};

struct churn_arg {
	struct churn *ch;
	int id;
};

/* Every kind of write on a small set of keys spread over the shards:
 * overwrites, deletes, renames and copies across shards and dbs, all
 * types, expiries, transactions, scripts, SWAPDB and FLUSHDB. Errors that
 * the random choices cause (no such key, wrong type) are fine; a lost
 * connection is not. */
static void *churn_main(void *arg)
{
	struct churn_arg *a = arg;
	struct churn *ch = a->ch;
	redisContext *c = redisConnect("127.0.0.1", ch->srv->port);
	if (!c || c->err) {
		atomic_fetch_add(&ch->failures, 1);
		return NULL;
	}
	char *pad = malloc(5000);
	memset(pad, 'p', 5000);
	unsigned seed = 4242u + (unsigned)a->id * 77u;
	while (!atomic_load(&ch->stop)) {
		seed = seed * 1103515245u + 12345u;
		unsigned r1 = (seed >> 8) % 300, r2 = (seed >> 4) % 300, op = (seed >> 20) % 17;
		int len = (int)((seed >> 12) % 5000);
		redisReply *r = NULL;
		switch (op) {
		case 0: case 1: r = redisCommand(c, "SET k:%u %b", r1, pad, (size_t)len); break;
		case 2: r = redisCommand(c, "DEL k:%u l:%u", r1, r1); break;
		case 3: r = redisCommand(c, "RENAME k:%u k:%u", r1, r2); break;
		case 4: r = redisCommand(c, "COPY k:%u k:%u DB 3 REPLACE", r1, r2); break;
		case 5: r = redisCommand(c, "INCRBY n:%u %u", r1, r2); break;
		case 6: r = redisCommand(c, "RPUSH l:%u %b", r1, pad, (size_t)(len % 100)); break;
		case 7: r = redisCommand(c, "HSET h:%u f%u %b", r1, r2, pad, (size_t)(len % 80)); break;
		case 8: r = redisCommand(c, "SADD s:%u %u m%u", r1, r2, r2); break;
		case 9: r = redisCommand(c, "ZADD z:%u %u m%u", r1, r2, r2); break;
		case 10: r = redisCommand(c, "EXPIRE k:%u %u", r1, 1 + r2 % 3); break;
		case 11: r = redisCommand(c, "LPOP l:%u", r1); break;
		case 12:
			redisAppendCommand(c, "MULTI");
			redisAppendCommand(c, "SET k:%u %u", r1, r2);
			redisAppendCommand(c, "INCR n:%u", r2);
			redisAppendCommand(c, "DEL k:%u", r2);
			redisAppendCommand(c, "EXEC");
			for (int i = 0; i < 4 && !c->err; i++) {
				redisReply *x = NULL;
				if (redisGetReply(c, (void **)&x) == REDIS_OK && x)
					freeReplyObject(x);
			}
			r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				r = NULL;
			break;
		case 13:
			r = redisCommand(c, "EVAL %s 1 k:%u %u", "return redis.call('SET', KEYS[1], ARGV[1])",
					 r1, r2);
			break;
		case 14: r = redisCommand(c, "SWAPDB 3 4"); break;
		case 15:
			if (r1 % 8 == 0) {
				redisReply *x = redisCommand(c, "SELECT 4");
				if (x)
					freeReplyObject(x);
				r = redisCommand(c, "FLUSHDB");
				x = redisCommand(c, "SELECT 0");
				if (x)
					freeReplyObject(x);
			} else {
				r = redisCommand(c, "SMOVE s:%u s:%u m%u", r1, r2, r2);
			}
			break;
		default: r = redisCommand(c, "SET k:%u %u PX %u", r1, r2, 50 + r2); break;
		}
		if (!r || c->err) {
			atomic_fetch_add(&ch->failures, 1);
			break;
		}
		freeReplyObject(r);
		atomic_fetch_add(&ch->ops, 1);
	}
	free(pad);
	redisFree(c);
	return NULL;
}

Test(persist, every_key_saved_exactly_once_under_churn)
{
	struct kr_srv s, r;
	redisContext *c;
	char dir[64], path[300], dst[300], d1[64], d2[64];
	mk_tmpdir(dir, sizeof(dir));
	const char *args[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, args);
	kr_ok(c, "DEBUG POPULATE 30000 bulk 300");
	struct churn ch = { .srv = &s };
	pthread_t th[3];
	struct churn_arg ca[3];
	for (int i = 0; i < 3; i++) {
		ca[i] = (struct churn_arg){ &ch, i };
		pthread_create(&th[i], NULL, churn_main, &ca[i]);
	}
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	for (int round = 1; round <= 4; round++) {
		long long ops0 = atomic_load(&ch.ops);
		while (atomic_load(&ch.ops) < ops0 + 200 && !atomic_load(&ch.failures))
			kr_sleep_ms(2);
		kr_status(c, "Background saving started", "BGSAVE");
		wait_saves(c, round);
		cr_assert(ru_info_is(c, "persistence", "rdb_last_bgsave_status", "ok"),
			  "rdb_last_bgsave_status is not ok");
		check_rdb(path);
		/* Redis refuses a file with a key twice ("Duplicated key found
		 * in RDB file"): every key was saved exactly once. */
		copy_file(path, dst);
		start_with(&r, dir, true);
		redisContext *rc = kr_connect(&r);
		redisReply *x = kr_cmd(rc, "DBSIZE");
		cr_expect_gt(x->integer, 29000);
		freeReplyObject(x);
		stop_ok(&r, &rc);
	}
	atomic_store(&ch.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&ch.failures), 0, "a writer lost its connection");
	/* Quiet now: a save holds exactly the live data set. */
	bool have_digest = digest(c, d1, sizeof(d1));
	kr_ok(c, "SAVE");
	check_rdb(path);
	copy_file(path, dst);
	stop_ok(&s, &c);
	start_with(&r, dir, under_redis());
	c = kr_connect(&r);
	if (have_digest) {
		cr_assert(digest(c, d2, sizeof(d2)));
		cr_expect_str_eq(d1, d2, "the quiet SAVE differs from the live data");
	}
	stop_ok(&r, &c);
	rm_tree(dir);
}

/* ----------------------------------------------- commands and statuses */

Test(persist, bgsave_while_one_runs)
{
	struct kr_srv s;
	redisContext *c;
	const char *args[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, args);
	kr_ok(c, "DEBUG POPULATE 20000 k 100");
	kr_err(c, "ERR syntax error", "BGSAVE NOW");
	/* Pipelined: the others arrive while the first one runs. (SCHEDULE
	 * only waits for other kinds of work, as in Redis.) */
	redisAppendCommand(c, "BGSAVE");
	redisAppendCommand(c, "BGSAVE");
	redisAppendCommand(c, "SAVE");
	redisAppendCommand(c, "BGSAVE SCHEDULE");
	const char *want[] = { "+Background saving started", "-ERR Background save already in progress",
			       "-ERR Background save already in progress",
			       "-ERR Background save already in progress" };
	for (int i = 0; i < 4; i++) {
		redisReply *r = NULL;
		cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
		struct kr_sb b = { 0 };
		kr_render(&b, r);
		cr_expect_str_eq(b.s, want[i], "reply %d", i);
		free(b.s);
		freeReplyObject(r);
	}
	wait_saves(c, 1);
	/* Inside EXEC it is scheduled, and runs after the transaction. */
	kr_ok(c, "MULTI");
	kr_status(c, "QUEUED", "BGSAVE");
	redisReply *r = kr_cmd(c, "EXEC");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
	cr_expect_str_eq(r->element[0]->str, "Background saving scheduled");
	freeReplyObject(r);
	wait_saves(c, 2);
	char path[300];
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	check_rdb(path);
	stop_ok(&s, &c);
}

Test(persist, info_lastsave_and_changes)
{
	struct kr_srv s;
	redisContext *c;
	const char *args[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, args);
	redisReply *r = kr_cmd(c, "LASTSAVE");
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	long long t0 = r->integer;
	freeReplyObject(r);
	cr_expect_gt(t0, 1600000000);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_saves"), 0);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_current_bgsave_time_sec"), -1);
	kr_ok(c, "SET a 1");
	kr_ok(c, "SET b 2");
	kr_int(c, 3, "RPUSH l x y z");
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 5);
	kr_ok(c, "SAVE");
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 0);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_saves"), 1);
	r = kr_cmd(c, "LASTSAVE");
	cr_expect_geq(r->integer, t0);
	freeReplyObject(r);
	kr_int(c, 2, "INCRBY a 1");
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 1);
	stop_ok(&s, &c);
}

Test(persist, save_rules_trigger_a_save)
{
	struct kr_srv s;
	redisContext *c;
	const char *args[] = { "--save", "1", "1", NULL };
	kr_srv_start_client(&s, &c, args);
	redisReply *r = kr_cmd(c, "CONFIG GET save");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2);
	cr_expect_str_eq(r->element[1]->str, "1 1");
	freeReplyObject(r);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_saves"), 0);
	kr_ok(c, "SET k v");
	wait_saves(c, 1);   /* one change, more than a second since start */
	char path[300];
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	check_rdb(path);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_changes_since_last_save"), 0);

	/* No rules: no more saves. */
	redisReply *x = kr_cmd(c, "CONFIG SET save %s", "");
	cr_expect_eq(x->type, REDIS_REPLY_STATUS);
	freeReplyObject(x);
	r = kr_cmd(c, "CONFIG GET save");
	cr_expect_str_eq(r->element[1]->str, "");
	freeReplyObject(r);
	kr_ok(c, "SET k2 v");
	kr_sleep_ms(2500);
	cr_expect_eq(ru_info_ll(c, "persistence", "rdb_saves"), 1);

	/* Rules set at run time, in Redis's form. */
	kr_ok(c, "CONFIG SET save %s", "3600 1 300 100 60 10000");
	r = kr_cmd(c, "CONFIG GET save");
	cr_expect_str_eq(r->element[1]->str, "3600 1 300 100 60 10000");
	freeReplyObject(r);
	const char *bad[] = { "100", "0 1", "10 -1", "10 x", "1 2 3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		kr_err(c, "ERR CONFIG SET failed", "CONFIG SET save %s", bad[i]);
	r = kr_cmd(c, "CONFIG GET save");
	cr_expect_str_eq(r->element[1]->str, "3600 1 300 100 60 10000");
	freeReplyObject(r);
	stop_ok(&s, &c);
}

/* Wait for the server process to exit (after SHUTDOWN). */
static void wait_exit(struct kr_srv *s)
{
	for (int i = 0; i < 3000 && kr_srv_alive(s); i++)
		kr_sleep_ms(10);
	cr_assert(!kr_srv_alive(s), "the server did not exit after SHUTDOWN");
}

/* SHUTDOWN has no reply: the connection just closes. */
static void send_shutdown(redisContext *c, const char *cmd)
{
	redisReply *r = redisCommand(c, cmd);
	cr_assert(r == NULL || r->type != REDIS_REPLY_ERROR, "%s: %s", cmd, r ? r->str : "");
	if (r)
		freeReplyObject(r);
}

Test(persist, shutdown_saves_when_rules_exist)
{
	struct kr_srv s, b;
	redisContext *c;
	char dir[64], path[300], dst[300];
	mk_tmpdir(dir, sizeof(dir));
	const char *args[] = { "--save", "3600", "1", NULL };
	kr_srv_start_client(&s, &c, args);
	kr_ok(c, "SET last words");
	kr_int(c, 3, "SADD set a b c");
	send_shutdown(c, "SHUTDOWN");
	wait_exit(&s);
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	cr_assert(file_exists(path), "SHUTDOWN did not save");
	check_rdb(path);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	redisFree(c);
	cr_expect_eq(kr_srv_stop(&s), 0, "exit status");

	start_with(&b, dir, under_redis());
	c = kr_connect(&b);
	kr_bulk(c, "words", "GET last");
	kr_int(c, 3, "SCARD set");
	stop_ok(&b, &c);
	rm_tree(dir);
}

/* Does the server's log contain needle? */
static bool log_has(const struct kr_srv *s, const char *needle)
{
	size_t len;
	char *log = read_all(s->logpath, &len);
	bool hit = log && strstr(log, needle) != NULL;
	free(log);
	return hit;
}

/* SIGTERM, as Redis: with save rules the server saves, then exits 0; a
 * save that fails keeps it serving (a later SIGTERM tries again); without
 * rules it exits at once and writes nothing. */
Test(persist, sigterm_saves_when_rules_exist)
{
	struct kr_srv s, b;
	redisContext *c;
	char dir[64], path[300], dst[300];
	mk_tmpdir(dir, sizeof(dir));
	const char *args[] = { "--save", "3600", "1", NULL };
	kr_srv_start_client(&s, &c, args);
	kr_ok(c, "SET last words");
	kr_int(c, 3, "SADD set a b c");
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	/* The rename cannot replace a directory: the save fails. */
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(kill(s.pid, SIGTERM), 0);
	double end = kr_now_ms() + 20000;
	while (!log_has(&s, "SIGTERM received but errors trying to shut down") && kr_now_ms() < end)
		kr_sleep_ms(20);
	cr_assert(log_has(&s, "SIGTERM received but errors trying to shut down"),
		  "no failed save logged (log %s)", s.logpath);
	cr_assert(kr_srv_alive(&s), "the server exited although its save failed");
	kr_bulk(c, "words", "GET last");
	kr_ok(c, "SET after failure");
	cr_assert_eq(rmdir(path), 0);
	cr_assert_eq(kill(s.pid, SIGTERM), 0);
	wait_exit(&s);
	cr_assert(file_exists(path), "SIGTERM did not save");
	check_rdb(path);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);
	copy_file(path, dst);
	redisFree(c);
	c = NULL;
	cr_expect_eq(kr_srv_stop(&s), 0, "exit status after SIGTERM");

	start_with(&b, dir, false);
	c = kr_connect(&b);
	kr_bulk(c, "words", "GET last");
	kr_bulk(c, "failure", "GET after");
	kr_int(c, 3, "SCARD set");
	stop_ok(&b, &c);
	rm_tree(dir);

	/* No rules: no file. */
	const char *norules[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, norules);
	kr_ok(c, "SET k v");
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	cr_assert_eq(kill(s.pid, SIGTERM), 0);
	wait_exit(&s);
	cr_expect(!file_exists(path), "SIGTERM without save rules saved");
	redisFree(c);
	cr_expect_eq(kr_srv_stop(&s), 0, "exit status");
}

Test(persist, shutdown_nosave_and_save)
{
	struct kr_srv s;
	redisContext *c;
	char path[300];
	/* NOSAVE: no file even with rules. */
	const char *rules[] = { "--save", "3600", "1", NULL };
	kr_srv_start_client(&s, &c, rules);
	kr_ok(c, "SET k v");
	kr_err(c, "ERR syntax error", "SHUTDOWN SAVE NOSAVE");
	send_shutdown(c, "SHUTDOWN NOSAVE");
	wait_exit(&s);
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	cr_expect(!file_exists(path), "SHUTDOWN NOSAVE saved");
	redisFree(c);
	cr_expect_eq(kr_srv_stop(&s), 0, "exit status");

	/* SAVE: a file even without rules. */
	const char *norules[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, norules);
	kr_ok(c, "SET k v");
	send_shutdown(c, "SHUTDOWN SAVE");
	wait_exit(&s);
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	cr_assert(file_exists(path), "SHUTDOWN SAVE did not save");
	check_rdb(path);
	redisFree(c);
	cr_expect_eq(kr_srv_stop(&s), 0, "exit status");
}

Test(persist, failed_save_keeps_the_server_up_and_misconf)
{
	struct kr_srv s;
	redisContext *c;
	char path[300];
	const char *rules[] = { "--save", "3600", "1", NULL };
	kr_srv_start_client(&s, &c, rules);
	/* The final rename cannot replace a directory. */
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	kr_ok(c, "SET k v");
	kr_err(c, "ERR Errors trying to SHUTDOWN. Check logs.", "SHUTDOWN");
	cr_assert(kr_srv_alive(&s));
	kr_status(c, "PONG", "PING");
	kr_err(c, "ERR", "SAVE");
	kr_status(c, "Background saving started", "BGSAVE");
	wait_not_in_progress(c);
	cr_expect(ru_info_is(c, "persistence", "rdb_last_bgsave_status", "err"),
		  "rdb_last_bgsave_status is not err");
	/* stop-writes-on-bgsave-error (default yes) with save rules. */
	kr_err(c, "MISCONF", "SET k2 v");
	kr_err(c, "MISCONF", "PING");
	kr_bulk(c, "v", "GET k");
	kr_ok(c, "CONFIG SET stop-writes-on-bgsave-error no");
	kr_ok(c, "SET k2 v");
	kr_ok(c, "CONFIG SET stop-writes-on-bgsave-error yes");
	kr_err(c, "MISCONF", "SET k3 v");
	/* A good save ends it. */
	cr_assert_eq(rmdir(path), 0);
	kr_ok(c, "CONFIG SET stop-writes-on-bgsave-error no");
	kr_ok(c, "SAVE");
	kr_ok(c, "CONFIG SET stop-writes-on-bgsave-error yes");
	kr_ok(c, "SET k3 v");
	stop_ok(&s, &c);
}

/* -------------------------------------------------- corrupt at start-up */

/* Can we bind 127.0.0.1:port (nobody listens there now)? */
static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Start keyrail on dir (whose dump.rdb is bad); returns 1 if it exited
 * with status 1 logging the load error, 0 if it started and served (then
 * it is stopped). Asserts it never crashed or tripped a sanitizer. */
static int start_bad(const char *server, const char *dir, bool checksum, const char *what)
{
	int pmin = getenv("KR_PORT_MIN") ? atoi(getenv("KR_PORT_MIN")) : 21000;
	int pmax = getenv("KR_PORT_MAX") ? atoi(getenv("KR_PORT_MAX")) : 21999;
	for (int attempt = 0; attempt < 20; attempt++) {
		int port = pmin + (int)((unsigned)(getpid() * 31 + attempt * 7919 + rand()) %
					(unsigned)(pmax - pmin + 1));
		if (!port_free(port))
			continue;
		char portbuf[16], logpath[300];
		snprintf(portbuf, sizeof(portbuf), "%d", port);
		snprintf(logpath, sizeof(logpath), "%s/out.log", dir);
		const char *shards = getenv("KR_SHARDS") ? getenv("KR_SHARDS") : "1";
		pid_t pid = fork();
		if (pid == 0) {
			int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dup2(fd, 1);
			dup2(fd, 2);
			execl(server, server, "--port", portbuf, "--bind", "127.0.0.1", "--dir", dir,
			      "--shards", shards, "--save", "", "--rdbchecksum", checksum ? "yes" : "no",
			      (char *)NULL);
			_exit(127);
		}
		int status = 0;
		bool exited = false, served = false;
		for (int i = 0; i < 3000; i++) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			struct timeval tv = { 0, 200000 };
			redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
			if (c && !c->err) {
				/* Ours, not a server of a test running in parallel. */
				redisSetTimeout(c, tv);
				redisReply *r = redisCommand(c, "INFO server");
				char want[64];
				snprintf(want, sizeof(want), "process_id:%d\r", (int)pid);
				if (r && r->type == REDIS_REPLY_STRING && strstr(r->str, want))
					served = true;
				if (r)
					freeReplyObject(r);
			}
			if (c)
				redisFree(c);
			if (served)
				break;
			kr_sleep_ms(10);
		}
		size_t n;
		char *log = read_all(logpath, &n);
		if (served) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
		} else if (!exited) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("%s: the server neither failed nor served:\n%s", what, log);
		}
		cr_assert(strstr(log, "AddressSanitizer") == NULL && strstr(log, "runtime error") == NULL,
			  "%s: sanitizer report:\n%s", what, log);
		cr_assert(!WIFSIGNALED(status), "%s: killed by signal %d:\n%s", what, WTERMSIG(status), log);
		if (!served && strstr(log, "Failed listening") != NULL) {
			free(log);
			continue;   /* lost the port: another one */
		}
		int rc = 0;
		if (!served) {
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
				  "%s: exit status 0x%x:\n%s", what, status, log);
			cr_assert(strstr(log, "Error loading the RDB file") != NULL &&
				  strstr(log, "dump.rdb at offset") != NULL,
				  "%s: no clear error in the log:\n%s", what, log);
			rc = 1;
		}
		free(log);
		return rc;
	}
	cr_assert_fail("no free port for the server");
	return -1;
}

Test(persist, corrupt_or_truncated_file_stops_startup)
{
	if (under_redis())
		cr_skip_test("keyrail's start-up error; Redis words (and sometimes crashes) differently");
	struct kr_srv s;
	redisContext *c;
	char dir[64], path[300], dst[300];
	const char *server = getenv("KR_SERVER");
	cr_assert(server != NULL);
	mk_tmpdir(dir, sizeof(dir));
	const char *args[] = { "--save", "", NULL };
	kr_srv_start_client(&s, &c, args);
	/* A file with a bit of everything (smaller than populate()). */
	kr_ok(c, "SET s:int 42");
	kr_ok(c, "SET s:str hello-world-hello-world-hello-world-hello-world");
	kr_int(c, 3, "RPUSH l a b c");
	kr_int(c, 2, "HSET h f1 v1 f2 v2");
	kr_int(c, 3, "SADD si 1 2 3");
	kr_int(c, 2, "SADD ss x y");
	kr_int(c, 2, "ZADD z 1 a 2 b");
	kr_ok(c, "SET e v PX 3600000");
	for (int i = 0; i < 200; i++) {
		redisReply *r = kr_cmd(c, "HSET hbig f%d value-%d", i, i);
		freeReplyObject(r);
	}
	kr_ok(c, "SAVE");
	snprintf(path, sizeof(path), "%s/dump.rdb", s.dir);
	size_t len;
	char *good = read_all(path, &len);
	stop_ok(&s, &c);
	cr_assert_gt(len, 100);
	snprintf(dst, sizeof(dst), "%s/dump.rdb", dir);

	/* The good file loads (the harness of this test itself works). */
	write_all(dst, good, len);
	cr_assert_eq(start_bad(server, dir, true, "good file"), 0);

	/* Every truncation fails with a clear error. */
	size_t cuts[] = { 0, 1, 5, 8, 9, 10, 20, 40, len / 4, len / 3, len / 2, 2 * len / 3,
			  len - 10, len - 9, len - 8, len - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "truncated at %zu of %zu", cuts[i], len);
		write_all(dst, good, cuts[i]);
		cr_expect_eq(start_bad(server, dir, true, what), 1, "%s loaded", what);
	}
	/* Byte flips: with the checksum every one is refused; without it,
	 * each one is refused or loads, and never crashes. */
	char *bad = malloc(len);
	int refused_nocrc = 0, nflips = 0;
	for (size_t off = 0; off < len; off += len / 23 + 1) {
		memcpy(bad, good, len);
		bad[off] ^= (char)(0x5a + off);
		write_all(dst, bad, len);
		char what[64];
		snprintf(what, sizeof(what), "byte %zu of %zu flipped", off, len);
		cr_expect_eq(start_bad(server, dir, true, what), 1, "%s loaded", what);
		refused_nocrc += start_bad(server, dir, false, what);
		nflips++;
	}
	cr_expect_gt(refused_nocrc, 0, "no flip was refused without the checksum either");
	cr_expect_leq(refused_nocrc, nflips);
	/* A directory where the file should be. */
	unlink(dst);
	cr_assert_eq(mkdir(dst, 0755), 0);
	cr_expect_eq(start_bad(server, dir, true, "a directory"), 1);
	rmdir(dst);
	free(bad);
	free(good);
	rm_tree(dir);
}
