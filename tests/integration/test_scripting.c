/* Integration tests of Lua scripting (shards/t_script.c): EVAL EVALSHA
 * EVAL_RO EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL/HELP against a
 * running server.
 *
 * Covered: every RESP <-> Lua conversion rule in both directions (RESP2 and
 * RESP3 clients, redis.setresp(3)), redis.call/pcall errors with Redis 7's
 * exact texts (" script: <sha>, on @user_script:<line>."), error_reply and
 * status_reply, sha1hex vectors (block-boundary lengths, 1 MB), the script
 * cache across connections on different shards (EVALSHA after EVAL or
 * SCRIPT LOAD elsewhere, SCRIPT FLUSH seen by every shard), read-only
 * variants and shebang flags, cjson, bit, deterministic math.random,
 * read-only globals and library tables, numkeys errors, a script over keys
 * of one hash tag, SELECT inside a script, nesting limits, and SCRIPT KILL
 * of a busy script (and UNKILLABLE after a write).
 *
 * Shards: a key lives on shard slot(key) % nshards and a connection on
 * shard CLIENT ID % nshards. The main connection is opened on the shard of
 * the hash tag {s} that the single-shard cases use, so those cases run
 * where their keys are whatever the routing does; the cases that need the
 * routing layer to move a script to its keys' shard, or that touch an
 * undeclared key on another shard (keyrail only, shards > 1), say so.
 *
 * The same file runs against Debian's redis-server 7.0.15
 * (KR_SERVER_KIND=redis), which is how the expectations were checked. */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"

static struct kr_srv srv;
static redisContext *c;

static unsigned nshards(void)
{
	if (srv.is_redis)
		return 1;
	const char *v = getenv("KR_SHARDS");
	int n = v ? atoi(v) : 1;
	return n > 0 ? (unsigned)n : 1;
}

static unsigned shard_of(const char *key)
{
	return kr_key_slot(key) % nshards();
}

static unsigned conn_shard(redisContext *ctx)
{
	redisReply *r = kr_cmd(ctx, "CLIENT ID");
	cr_assert(r->type == REDIS_REPLY_INTEGER);
	unsigned s = (unsigned)(r->integer % nshards());
	freeReplyObject(r);
	return s;
}

/* A connection served by shard `want` (any connection on Redis). */
static redisContext *connect_on_shard(unsigned want)
{
	redisContext *spare[64];
	int nspare = 0;
	redisContext *ctx = NULL;
	for (int i = 0; i < 64; i++) {
		ctx = kr_connect(&srv);
		if (conn_shard(ctx) == want)
			break;
		spare[nspare++] = ctx;
		ctx = NULL;
	}
	for (int i = 0; i < nspare; i++)
		redisFree(spare[i]);
	cr_assert(ctx != NULL, "no connection landed on shard %u", want);
	return ctx;
}

/* A connection on a shard other than `avoid` when there are several. */
static redisContext *connect_not_on_shard(unsigned avoid)
{
	if (nshards() == 1)
		return kr_connect(&srv);
	return connect_on_shard((avoid + 1) % nshards());
}

static void setup_with(const char *const *args)
{
	kr_srv_start(&srv, args);
	c = connect_on_shard(shard_of("{s}"));
}

static void setup(void) { setup_with(NULL); }

static void setup_busy(void)
{
	static const char *const args[] = { "--busy-reply-threshold", "100", NULL };
	setup_with(args);
}

static void teardown(void) { kr_srv_stop_client(&srv, &c); }

TestSuite(scripting, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(scripting_busy, .init = setup_busy, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ helpers */

/* The sha SCRIPT LOAD gives for body (40 hex digits + NUL into out). */
static void sha_of(redisContext *ctx, const char *body, char out[41])
{
	const char *argv[] = { "SCRIPT", "LOAD", body };
	redisReply *r = kr_cmdv(ctx, 3, argv, NULL);
	cr_assert(r->type == REDIS_REPLY_STRING && r->len == 40, "SCRIPT LOAD %s failed: %s", body,
		  r->type == REDIS_REPLY_ERROR ? r->str : "?");
	memcpy(out, r->str, 41);
	freeReplyObject(r);
}

/* Run argv (up to 16 words, NULL-terminated) and compare the reply as
 * kr_render() shows it with want, where "%S" stands for the sha of the
 * script (argv[1] of an EVAL, or the EVALSHA's own argument). */
static void vexpect(redisContext *ctx, const char *want, const char *first, va_list ap)
{
	const char *argv[17];
	int argc = 0;
	for (const char *a = first; a && argc < 16; a = va_arg(ap, const char *))
		argv[argc++] = a;
	struct kr_sb w = {0};
	const char *pct = strstr(want, "%S");
	if (pct) {
		char sha[41];
		if (strncasecmp(argv[0], "EVALSHA", 7) == 0)
			snprintf(sha, sizeof(sha), "%s", argv[1]);
		else
			sha_of(ctx, argv[1], sha);
		kr_sb_add(&w, want, (size_t)(pct - want));
		kr_sb_add(&w, sha, 40);
		kr_sb_add(&w, pct + 2, strlen(pct + 2));
	} else {
		kr_sb_add(&w, want, strlen(want));
	}
	redisReply *r = kr_cmdv(ctx, argc, argv, NULL);
	struct kr_sb got = {0};
	kr_render(&got, r);
	cr_expect(strcmp(got.s, w.s) == 0, "%s %s ...\n  expected: %s\n  got:      %s",
		  argv[0], argc > 1 ? argv[1] : "", w.s, got.s);
	freeReplyObject(r);
	free(got.s);
	free(w.s);
}

static void expect(redisContext *ctx, const char *want, const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	vexpect(ctx, want, first, ap);
	va_end(ap);
}

/* EVAL script numkeys args... (NULL-terminated after the script). */
#define EVAL(want, ...) expect(c, want, "EVAL", __VA_ARGS__, NULL)

/* One EVAL with no keys and its rendered reply. */
struct case_ {
	const char *script;
	const char *want;
};

static void run_cases(redisContext *ctx, const struct case_ *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect(ctx, t[i].want, "EVAL", t[i].script, "0", NULL);
}

/* RESP-encode argv into b. */
static void raw_req(struct kr_sb *b, int argc, const char *const *argv)
{
	kr_sb_fmt(b, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
		kr_sb_fmt(b, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

/* A raw connection on shard `want` (for byte-exact and RESP3 checks). */
static int raw_on_shard(unsigned want)
{
	int spare[64], nspare = 0, fd = -1;
	for (int i = 0; i < 64; i++) {
		fd = kr_raw_connect(&srv);
		kr_raw_sends(fd, "CLIENT ID\r\n");
		size_t len;
		char *r = kr_raw_read(fd, 1, &len);
		long long id = strtoll(r + 1, NULL, 10);
		free(r);
		if ((unsigned)(id % nshards()) == want)
			break;
		spare[nspare++] = fd;
		fd = -1;
	}
	for (int i = 0; i < nspare; i++)
		close(spare[i]);
	cr_assert(fd >= 0);
	return fd;
}

/* EVAL script 0 on fd; the reply must be exactly want. */
static void raw_eval(int fd, const char *script, const char *want)
{
	const char *argv[] = { "EVAL", script, "0" };
	struct kr_sb b = {0};
	raw_req(&b, 3, argv);
	kr_raw_expect(fd, b.s, 1, want);
	free(b.s);
}

/* ------------------------------------------------ Lua -> RESP (RESP2) */

Test(scripting, lua_to_resp2)
{
	static const struct case_ t[] = {
		{ "return 3.99", ":3" },                    /* numbers truncate */
		{ "return -3.99", ":-3" },
		{ "return {-0.5}", "*1[:0]" },
		{ "return 'x'", "$x" },
		{ "return true", ":1" },
		{ "return false", "nil" },
		{ "return nil", "nil" },
		{ "local x", "nil" },
		{ "return {1,2,3,nil,5}", "*3[:1,:2,:3]" },  /* up to the first nil */
		{ "return {1,{2,'a'},false,true}", "*4[:1,*2[:2,$a],nil,:1]" },
		{ "return {ok='fine'}", "+fine" },
		{ "return {err='bad'}", "-bad" },
		{ "return {err='a\\nb'}", "-a b" },
		{ "return {ok='a\\r\\nb'}", "+a  b" },
		{ "return {err=''}", "-" },
		{ "return {ok=1}", "*0[]" },                 /* ok must be a string */
		{ "return {err=1}", "*0[]" },
		{ "return {err='x', ok='y'}", "-x" },
		{ "return {ok='y', 1, 2}", "+y" },
		{ "return {1,2,err='e'}", "-e" },
		{ "return {1,{err='inner'},3}", "*3[:1,-inner,:3]" },
		{ "return {1,{ok='st'},3}", "*3[:1,+st,:3]" },
		{ "return {a=1}", "*0[]" },
		{ "return {double=3.5}", "$3.5" },
		{ "return {double=0.1}", "$0.10000000000000001" },
		{ "return {double='abc'}", "*0[]" },
		{ "return {big_number='123'}", "$123" },
		{ "return {big_number=123}", "*0[]" },
		{ "return {map={a=1}}", "*2[$a,:1]" },
		{ "return {map={[1]=2}}", "*2[:1,:2]" },
		{ "return {set={a=true}}", "*1[$a]" },
		{ "return {set={a=false}}", "*1[$a]" },
		{ "return {verbatim_string={format='txt',string='hi'}}", "$hi" },
		{ "return {1e20}", "*1[:-9223372036854775808]" },
		{ "return 0/0", ":-9223372036854775808" },
		{ "return 1/0", ":-9223372036854775808" },
		{ "return {double=1/0}", "$inf" },
		{ "redis.setresp(3) return true", ":1" },    /* RESP3 booleans, RESP2 client */
		{ "redis.setresp(3) return false", ":0" },
		{ "redis.setresp(3) return nil", "nil" },
		{ "return redis.setresp(3)", "nil" },
		{ "return redis.status_reply('FINE')", "+FINE" },
		{ "return redis.error_reply('My Error')", "-My Error" },
		{ "return redis.error_reply('ERR My Error')", "-ERR My Error" },
		{ "return redis.error_reply()", "-ERR wrong number or type of arguments" },
		{ "return redis.error_reply(1)", "-ERR wrong number or type of arguments" },
		{ "return redis.status_reply(1, 2)", "-ERR wrong number or type of arguments" },
		{ "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "*0[]" },  /* KEYS[1] is nil */
	};
	run_cases(c, t, sizeof(t) / sizeof(t[0]));
	EVAL("*4[${s}k,$a,:1,:1]", "return {KEYS[1],ARGV[1],#KEYS,#ARGV}", "1", "{s}k", "a");
	EVAL("*3[$x,$y,$z]", "return ARGV", "0", "x", "y", "z");
}

/* Binary-safe strings both ways and byte-exact RESP2 framing. */
Test(scripting, lua_to_resp2_raw)
{
	int fd = raw_on_shard(shard_of("{s}"));
	static const char want[] = "$3\r\na\0b\r\n";
	const char *argv[] = { "EVAL", "return 'a\\0b'", "0" };
	struct kr_sb b = {0};
	raw_req(&b, 3, argv);
	kr_raw_sends(fd, b.s);
	free(b.s);
	size_t len;
	char *got = kr_raw_read(fd, 1, &len);
	cr_expect(len == sizeof(want) - 1 && memcmp(got, want, len) == 0, "got %zu bytes", len);
	free(got);
	/* A NUL inside an argument reaches the script and comes back. */
	const char req[] = "*4\r\n$4\r\nEVAL\r\n$14\r\nreturn ARGV[1]\r\n$1\r\n0\r\n$3\r\nx\0y\r\n";
	kr_raw_send(fd, req, sizeof(req) - 1);
	got = kr_raw_read(fd, 1, &len);
	cr_expect(len == 9 && memcmp(got, "$3\r\nx\0y\r\n", 9) == 0, "got %zu bytes", len);
	free(got);
	close(fd);
}

/* ------------------------------------------------ Lua -> RESP (RESP3) */

Test(scripting, lua_to_resp3)
{
	int fd = raw_on_shard(shard_of("{s}"));
	kr_raw_sends(fd, "HELLO 3\r\n");
	size_t len;
	free(kr_raw_read(fd, 1, &len));
	static const struct case_ t[] = {
		{ "return {double=3.5}", ",3.5\r\n" },
		{ "return {big_number='123'}", "(123\r\n" },
		{ "return {map={a=1}}", "%1\r\n$1\r\na\r\n:1\r\n" },
		{ "return {map={}}", "%0\r\n" },
		{ "return {set={a=true}}", "~1\r\n$1\r\na\r\n" },
		{ "return {1,2,{map={x=true}}}", "*3\r\n:1\r\n:2\r\n%1\r\n$1\r\nx\r\n:1\r\n" },
		{ "return true", ":1\r\n" },
		{ "return false", "_\r\n" },
		{ "return nil", "_\r\n" },
		{ "redis.setresp(3) return true", "#t\r\n" },
		{ "redis.setresp(3) return false", "#f\r\n" },
		{ "redis.setresp(3) return nil", "_\r\n" },
		{ "return {verbatim_string={format='txt',string='hi'}}", "=6\r\ntxt:hi\r\n" },
		{ "return {ok='x'}", "+x\r\n" },
		{ "return 7", ":7\r\n" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		raw_eval(fd, t[i].script, t[i].want);
	close(fd);
}

/* ------------------------------------------------ RESP -> Lua */

Test(scripting, resp2_to_lua)
{
	kr_ok(c, "SET {s}str bar");
	static const struct case_ t[] = {
		{ "local r = redis.call('set', KEYS[1], 'v') return {type(r), r.ok}", "*2[$table,$OK]" },
		{ "local r = redis.call('get', KEYS[2]) return {type(r), tostring(r)}", "*2[$boolean,$false]" },
		{ "local r = redis.call('incr', KEYS[3]) return {type(r), r}", "*2[$number,:1]" },
		{ "local r = redis.call('get', KEYS[1]) return {type(r), r}", "*2[$string,$v]" },
		{ "local r = redis.pcall('incr', KEYS[4]) return {type(r), r.err}",
		  "*2[$table,$ERR value is not an integer or out of range]" },
		{ "local r = redis.call('mget', KEYS[1], KEYS[2]) return {type(r), #r, r[1], type(r[2])}",
		  "*4[$table,:2,$v,$boolean]" },
		{ "local r = redis.call('ping') return r.ok", "$PONG" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect(c, t[i].want, "EVAL", t[i].script, "4", "{s}k", "{s}nokey", "{s}cnt", "{s}str", NULL);
}

static bool have_command(const char *name)
{
	redisReply *r = kr_cmd(c, "COMMAND INFO %s", name);
	bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		  r->element[0]->type == REDIS_REPLY_ARRAY;
	freeReplyObject(r);
	return ok;
}

Test(scripting, resp3_to_lua)
{
	static const struct case_ t[] = {
		{ "redis.setresp(3) local r = redis.call('get', KEYS[1]) return {type(r)}", "*1[$nil]" },
		{ "redis.setresp(3) local r = redis.call('set', KEYS[2], 'x') return r.ok", "$OK" },
		{ "redis.setresp(3) return redis.call('get', KEYS[1])", "nil" },
		{ "redis.setresp(2) local r = redis.call('get', KEYS[1]) return type(r)", "$boolean" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect(c, t[i].want, "EVAL", t[i].script, "2", "{s}nokey", "{s}x", NULL);
	expect(c, "-ERR RESP version must be 2 or 3. script: %S, on @user_script:1.",
	       "EVAL", "redis.setresp(4)", "0", NULL);
	expect(c, "-ERR redis.setresp() requires one argument. script: %S, on @user_script:1.",
	       "EVAL", "redis.setresp()", "0", NULL);

	/* Aggregates: map (HGETALL), set (SMEMBERS), double (ZSCORE) as the
	 * value families are built. */
	if (have_command("hgetall")) {
		kr_int(c, 1, "HSET {s}h a 1");
		expect(c, "*4[$table,$table,$1,$nil]", "EVAL",
		       "redis.setresp(3) local r = redis.call('hgetall', KEYS[1]) "
		       "return {type(r), type(r.map), r.map.a, type(r[1])}", "1", "{s}h", NULL);
		expect(c, "*2[$a,$1]", "EVAL", "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
		       "1", "{s}h", NULL);
		expect(c, "*2[$a,$1]", "EVAL", "return redis.call('hgetall', KEYS[1])", "1", "{s}h", NULL);
		/* A RESP3 client sees the map as a map. */
		int fd = raw_on_shard(shard_of("{s}"));
		kr_raw_sends(fd, "HELLO 3\r\n");
		size_t len;
		free(kr_raw_read(fd, 1, &len));
		const char *argv[] = { "EVAL", "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
				       "1", "{s}h" };
		struct kr_sb b = {0};
		raw_req(&b, 4, argv);
		kr_raw_expect(fd, b.s, 1, "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
		free(b.s);
		close(fd);
	}
	if (have_command("smembers")) {
		kr_int(c, 1, "SADD {s}set x");
		expect(c, "*3[$table,$table,$true]", "EVAL",
		       "redis.setresp(3) local r = redis.call('smembers', KEYS[1]) "
		       "return {type(r), type(r.set), tostring(r.set.x)}", "1", "{s}set", NULL);
	}
	if (have_command("zscore")) {
		kr_int(c, 1, "ZADD {s}z 1.5 m");
		expect(c, "*2[$table,$1.5]", "EVAL",
		       "redis.setresp(3) local r = redis.call('zscore', KEYS[1], 'm') "
		       "return {type(r), tostring(r.double)}", "1", "{s}z", NULL);
	}
}

/* Commands that run on every shard (INFO, DBSIZE, KEYS, FLUSHALL...): one
 * shard holds the whole keyspace, so scripts may call them there (INFO in
 * RESP3 is a verbatim string: {verbatim_string={format=, string=}}); with
 * several shards keyrail refuses them in scripts. */
Test(scripting, whole_keyspace_commands)
{
	if (nshards() == 1) {
		EVAL("*3[$table,$table,$txt]", "redis.setresp(3) local r = redis.call('info', 'server') "
		     "return {type(r), type(r.verbatim_string), r.verbatim_string.format}", "0");
		EVAL("$string", "return type(redis.call('info', 'server'))", "0");
		EVAL(":1", "redis.setresp(3) local r = redis.call('info', 'server') "
		     "return string.find(r.verbatim_string.string, '# Server', 1, true)", "0");
		kr_ok(c, "SET {s}one 1");
		EVAL(":1", "return redis.call('dbsize')", "0");
		EVAL("*1[${s}one]", "return redis.call('keys', '*')", "0");
		int fd = raw_on_shard(0);
		kr_raw_sends(fd, "HELLO 3\r\n");
		size_t len;
		free(kr_raw_read(fd, 1, &len));
		const char *argv[] = { "EVAL", "redis.setresp(3) return redis.call('info', 'server')", "0" };
		struct kr_sb b = {0};
		raw_req(&b, 3, argv);
		kr_raw_sends(fd, b.s);
		free(b.s);
		char *got = kr_raw_read(fd, 1, &len);
		cr_expect(got[0] == '=' && strstr(got, "txt:# Server") != NULL, "got: %.40s", got);
		free(got);
		close(fd);
	} else {
		redisReply *r = kr_cmd(c, "EVAL %s 0", "return redis.call('dbsize')");
		cr_assert(r->type == REDIS_REPLY_ERROR);
		cr_expect(strncmp(r->str, "ERR This command works on every shard and cannot be called from a "
				  "script when keyrail runs more than one shard", 110) == 0, "got: %s", r->str);
		freeReplyObject(r);
	}
}

/* Numbers passed to redis.call are formatted with %.17g. */
Test(scripting, call_number_args)
{
	static const struct { const char *num, *want; } t[] = {
		{ "3.14", "$3.1400000000000001" }, { "0.1", "$0.10000000000000001" },
		{ "100", "$100" }, { "1e20", "$1e+20" }, { "-0.0", "$-0" }, { "1/0", "$inf" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char script[128];
		snprintf(script, sizeof(script),
			 "redis.call('set', KEYS[1], %s) return redis.call('get', KEYS[1])", t[i].num);
		expect(c, t[i].want, "EVAL", script, "1", "{s}n", NULL);
	}
}

/* ------------------------------------------------ errors */

Test(scripting, call_errors)
{
	kr_ok(c, "SET {s}str bar");
	static const struct { const char *script, *want; } t[] = {
		{ "return redis.call('incr', KEYS[1], 'b')",
		  "-ERR Wrong number of args calling Redis command from script script: %S, on @user_script:1." },
		{ "return redis.call('incr', KEYS[2])",
		  "-ERR value is not an integer or out of range script: %S, on @user_script:1." },
		{ "return redis.pcall('incr', KEYS[2])", "-ERR value is not an integer or out of range" },
		{ "return redis.call('nosuch')",
		  "-ERR Unknown Redis command called from script script: %S, on @user_script:1." },
		{ "return redis.pcall('nosuch')", "-ERR Unknown Redis command called from script" },
		{ "return redis.call()",
		  "-ERR Please specify at least one argument for this redis lib call script: %S, on @user_script:1." },
		{ "return redis.pcall()", "-ERR Please specify at least one argument for this redis lib call" },
		{ "return redis.call({})",
		  "-ERR Lua redis lib command arguments must be strings or integers script: %S, on @user_script:1." },
		{ "return redis.call('get', {})",
		  "-ERR Lua redis lib command arguments must be strings or integers script: %S, on @user_script:1." },
		{ "return redis.call('set', KEYS[1], nil)",
		  "-ERR Lua redis lib command arguments must be strings or integers script: %S, on @user_script:1." },
		{ "return redis.call('set', KEYS[1], true)",
		  "-ERR Lua redis lib command arguments must be strings or integers script: %S, on @user_script:1." },
		{ "return redis.pcall('get', {})", "-ERR Lua redis lib command arguments must be strings or integers" },
		{ "return redis.pcall('set', KEYS[1])", "-ERR Wrong number of args calling Redis command from script" },
		{ "return redis.call('eval', 'return 1', '0')",
		  "-ERR This Redis command is not allowed from script script: %S, on @user_script:1." },
		{ "return redis.call('script', 'load', 'return 1')",
		  "-ERR This Redis command is not allowed from script script: %S, on @user_script:1." },
		{ "return redis.call('client', 'id')",
		  "-ERR This Redis command is not allowed from script script: %S, on @user_script:1." },
		{ "return redis.call('config', 'get', 'port')",
		  "-ERR This Redis command is not allowed from script script: %S, on @user_script:1." },
		{ "return redis.call('hello')",
		  "-ERR This Redis command is not allowed from script script: %S, on @user_script:1." },
		/* pcall(redis.call) gives the plain error string. */
		{ "local ok, e = pcall(redis.call, 'incr', KEYS[2]) return {tostring(ok), e}",
		  "*2[$false,$ERR value is not an integer or out of range]" },
		{ "local ok, e = pcall(redis.call, 'nosuch') return e", "$ERR Unknown Redis command called from script" },
		/* Re-raised with error(), it is an ordinary Lua error. */
		{ "local ok, e = pcall(redis.call, 'incr', KEYS[2]) error(e)",
		  "-ERR user_script:1: ERR value is not an integer or out of range script: %S, on @user_script:1." },
		{ "redis.call('incr', KEYS[2])",
		  "-ERR value is not an integer or out of range script: %S, on @user_script:1." },
		{ "\nredis.call('incr', KEYS[2])",
		  "-ERR value is not an integer or out of range script: %S, on @user_script:2." },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect(c, t[i].want, "EVAL", t[i].script, "2", "{s}k", "{s}str", NULL);
	/* Nothing was written by the failed calls. */
	kr_nil(c, "GET {s}k");
}

Test(scripting, lua_errors)
{
	static const struct { const char *script, *want; } t[] = {
		{ "error('boom')", "-ERR user_script:1: boom script: %S, on @user_script:1." },
		{ "error({err='boom2'})", "-boom2 script: %S, on @user_script:1." },
		{ "error({err='ERR boom3'})", "-ERR boom3 script: %S, on @user_script:1." },
		{ "error(123)", "-ERR user_script:1: 123 script: %S, on @user_script:1." },
		{ "error()", "-ERR nil script: %S, on @user_script:1." },
		{ "local x = 1\nlocal y = 2\nerror('l3')", "-ERR user_script:3: l3 script: %S, on @user_script:3." },
		{ "local function f() error('deep') end\nf()",
		  "-ERR user_script:1: deep script: %S, on @user_script:1." },
		{ "return a.b",
		  "-ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: %S, on @user_script:1." },
		{ "return print",
		  "-ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: %S, on @user_script:1." },
		{ "return cjson.decode('{bad')",
		  "-ERR user_script:1: Expected object key string but found invalid token at character 2 script: %S, on @user_script:1." },
		{ "return redis.sha1hex()", "-ERR wrong number of arguments script: %S, on @user_script:1." },
		{ "redis.log(99, 'x')", "-ERR Invalid debug level. script: %S, on @user_script:1." },
		{ "redis.log(1)", "-ERR redis.log() requires two arguments or more. script: %S, on @user_script:1." },
		{ "redis.log('x', 'y')", "-ERR First argument must be a number (log level). script: %S, on @user_script:1." },
		{ "return redis.set_repl(99)",
		  "-ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE. script: %S, on @user_script:1." },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect(c, t[i].want, "EVAL", t[i].script, "0", NULL);
	/* Compile errors: no suffix, and the script is not cached. */
	EVAL("-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'",
	     "return 1 +", "0");
	EVAL("-ERR Error compiling script (new function): user_script:2: unexpected symbol near '<eof>'",
	     "return 1\n+", "0");
	expect(c, "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'",
	       "SCRIPT", "LOAD", "return +", NULL);
	expect(c, "*1[:0]", "SCRIPT", "EXISTS", "e0d8c8b8a9c4fd2c1c1c0a9e9d1c9e8e7f1d2a3b", NULL);
	/* The server lives on, and so does its interpreter. */
	EVAL(":1", "return 1", "0");
	EVAL("$ok", "redis.log(redis.LOG_WARNING, 'from a test script', 3) return 'ok'", "0");
	EVAL("nil", "return redis.log(redis.LOG_DEBUG, {})", "0");
	EVAL(":1", "return redis.replicate_commands()", "0");
	EVAL("nil", "return redis.set_repl(redis.REPL_ALL)", "0");
}

Test(scripting, numkeys_errors)
{
	EVAL("-ERR Number of keys can't be negative", "return 1", "-1");
	EVAL("-ERR Number of keys can't be greater than number of args", "return 1", "2", "a");
	EVAL("-ERR Number of keys can't be greater than number of args", "return 1", "1");
	EVAL("-ERR value is not an integer or out of range", "return 1", "x");
	expect(c, "-ERR Number of keys can't be negative", "EVALSHA",
	       "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "-5", NULL);
	expect(c, "-ERR wrong number of arguments for 'eval' command", "EVAL", "return 1", NULL);
	expect(c, "-ERR wrong number of arguments for 'evalsha' command", "EVALSHA", "x", NULL);
	expect(c, "-ERR wrong number of arguments for 'eval_ro' command", "EVAL_RO", "return 1", NULL);
}

/* EVALSHA answers NOSCRIPT for a SHA that is not 40 characters long
 * before it looks at numkeys; a 40-character SHA has numkeys checked
 * first, then the cache (checked against redis-server 7.0.15). */
Test(scripting, evalsha_order_of_checks)
{
	static const char *const cmds[] = { "EVALSHA", "EVALSHA_RO" };
	const char *nos = "-NOSCRIPT No matching script. Please use EVAL.";
	const char *neg = "-ERR Number of keys can't be negative";
	const char *big = "-ERR Number of keys can't be greater than number of args";
	const char *nint = "-ERR value is not an integer or out of range";
	const char *unknown = "ffffffffffffffffffffffffffffffffffffffff";
	char sha[41], sha39[40], sha41[42];
	sha_of(c, "return 1", sha);
	memcpy(sha39, sha, 39);
	sha39[39] = 0;
	snprintf(sha41, sizeof(sha41), "%sx", sha);
	for (size_t i = 0; i < 2; i++) {
		const char *cmd = cmds[i];
		/* wrong length: NOSCRIPT whatever numkeys says */
		expect(c, nos, cmd, "", "-1", "k", NULL);
		expect(c, nos, cmd, "", "abc", NULL);
		expect(c, nos, cmd, "", "99", NULL);
		expect(c, nos, cmd, sha39, "99", NULL);
		expect(c, nos, cmd, sha41, "-1", NULL);
		/* 40 characters: numkeys first, known or not */
		expect(c, neg, cmd, unknown, "-1", "k", NULL);
		expect(c, nint, cmd, unknown, "abc", NULL);
		expect(c, big, cmd, unknown, "99", NULL);
		expect(c, nos, cmd, unknown, "0", NULL);
		expect(c, neg, cmd, sha, "-1", "k", NULL);
		expect(c, big, cmd, sha, "1", NULL);
		expect(c, ":1", cmd, sha, "0", NULL);
	}
}

/* ------------------------------------------------ sha1 */

Test(scripting, sha1hex_vectors)
{
	static const struct { const char *expr, *hex; } t[] = {
		{ "''", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "'abc'", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
		{ "string.rep('a', 1000000)", "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
		/* Around the padding's block boundaries. */
		{ "string.rep('x', 55)", "cef734ba81a024479e09eb5a75b6ddae62e6abf1" },
		{ "string.rep('x', 56)", "901305367c259952f4e7af8323f480d59f81335b" },
		{ "string.rep('x', 63)", "0ddc4e0cccd9a12850deb5abb0853a4425559fec" },
		{ "string.rep('x', 64)", "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163" },
		{ "string.rep('x', 65)", "78c741ddc482e4cdf8c474a0876347a0905b6233" },
		{ "string.rep('x', 119)", "4300320394f7ee239bcdce7d3b8bcee173a0cd5c" },
		{ "string.rep('x', 120)", "ceb2821639c4b6dcb10bce0e522ca2e608ce056d" },
		{ "1", "356a192b7913b04c54574d18c28d46e6395428ab" },   /* a number is its text */
		{ "{}", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },  /* not a string: empty */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char script[200], want[64];
		snprintf(script, sizeof(script), "return redis.sha1hex(%s)", t[i].expr);
		snprintf(want, sizeof(want), "$%s", t[i].hex);
		EVAL(want, script, "0");
	}
	/* SCRIPT LOAD names a script by the same digest. */
	char sha[41], want[64];
	sha_of(c, "return 'digest me'", sha);
	snprintf(want, sizeof(want), "$%s", sha);
	EVAL(want, "return redis.sha1hex(ARGV[1])", "0", "return 'digest me'");
}

/* ------------------------------------------------ the script cache */

Test(scripting, evalsha_across_shards)
{
	const char *body = "return 'cached ' .. ARGV[1]";
	redisContext *a = connect_on_shard(0);
	redisContext *b = connect_not_on_shard(0);
	char sha[41];
	sha_of(c, "return 'probe'", sha);   /* any script: makes sure the store works */

	/* EVALSHA of a body nobody ran: NOSCRIPT everywhere. */
	expect(b, "-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA",
	       "3b9e4d2d3c2c8a4f0b3c8fe1bff8a5f3d1de1b7a", "0", NULL);
	expect(b, "-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", "abc", "0", NULL);

	/* EVAL on one shard, EVALSHA on another. */
	expect(a, "$cached x", "EVAL", body, "0", "x", NULL);
	const char *argv[] = { "SCRIPT", "LOAD", body };
	redisReply *r = kr_cmdv(a, 3, argv, NULL);
	cr_assert(r->type == REDIS_REPLY_STRING);
	memcpy(sha, r->str, 41);
	freeReplyObject(r);
	expect(b, "$cached y", "EVALSHA", sha, "0", "y", NULL);
	/* Upper-case digests name the same script. */
	char up[41];
	for (int i = 0; i < 41; i++)
		up[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
	expect(b, "$cached z", "EVALSHA", up, "0", "z", NULL);
	expect(b, "*3[:1,:0,:1]", "SCRIPT", "EXISTS", sha, "ffff", up, NULL);

	/* SCRIPT LOAD on one shard, EVALSHA_RO on the other. */
	const char *body2 = "return 'loaded'";
	char sha2[41];
	sha_of(b, body2, sha2);
	expect(a, "$loaded", "EVALSHA_RO", sha2, "0", NULL);
	expect(a, "*2[:1,:1]", "SCRIPT", "EXISTS", sha, sha2, NULL);

	/* SCRIPT FLUSH on one shard empties every shard's cache. */
	expect(b, "+OK", "SCRIPT", "FLUSH", NULL);
	expect(a, "-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", sha, "0", "x", NULL);
	expect(b, "-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", sha2, "0", NULL);
	expect(a, "*2[:0,:0]", "SCRIPT", "EXISTS", sha, sha2, NULL);
	/* ... and EVAL brings the script back. */
	expect(a, "$cached w", "EVAL", body, "0", "w", NULL);
	expect(b, "$cached v", "EVALSHA", sha, "0", "v", NULL);
	redisFree(a);
	redisFree(b);
}

Test(scripting, script_subcommands)
{
	char sha[41];
	sha_of(c, "return 1", sha);
	cr_expect_str_eq(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
	expect(c, "+OK", "SCRIPT", "FLUSH", "ASYNC", NULL);
	expect(c, "+OK", "SCRIPT", "FLUSH", "sync", NULL);
	expect(c, "+OK", "SCRIPT", "FLUSH", NULL);
	expect(c, "-ERR SCRIPT FLUSH only support SYNC|ASYNC option", "SCRIPT", "FLUSH", "foo", NULL);
	expect(c, "-ERR SCRIPT FLUSH only support SYNC|ASYNC option", "SCRIPT", "FLUSH", "async", "sync", NULL);
	expect(c, "*1[:0]", "SCRIPT", "EXISTS", "x", NULL);
	expect(c, "-ERR wrong number of arguments for 'script|exists' command", "SCRIPT", "EXISTS", NULL);
	expect(c, "-ERR wrong number of arguments for 'script|load' command", "SCRIPT", "LOAD", NULL);
	expect(c, "-ERR wrong number of arguments for 'script|kill' command", "SCRIPT", "KILL", "x", NULL);
	expect(c, "-ERR unknown subcommand 'foo'. Try SCRIPT HELP.", "SCRIPT", "foo", NULL);
	expect(c, "-ERR wrong number of arguments for 'script' command", "SCRIPT", NULL);
	expect(c, "-NOTBUSY No scripts in execution right now.", "SCRIPT", "KILL", NULL);
	expect(c, "-ERR Invalid script shebang", "SCRIPT", "LOAD", "#!lua flags=bad", NULL);

	redisReply *r = kr_cmd(c, "SCRIPT HELP");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements > 10);
	cr_expect_str_eq(r->element[0]->str, "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
	bool kill = false, load = false;
	for (size_t i = 0; i < r->elements; i++) {
		kill = kill || strcmp(r->element[i]->str, "KILL") == 0;
		load = load || strcmp(r->element[i]->str, "LOAD <script>") == 0;
	}
	cr_expect(kill && load);
	freeReplyObject(r);
}

/* ------------------------------------------------ read-only scripts */

Test(scripting, read_only)
{
	kr_ok(c, "SET {s}ro val");
	expect(c, "-ERR Write commands are not allowed from read-only scripts. script: %S, on @user_script:1.",
	       "EVAL_RO", "return redis.call('set', KEYS[1], 'x')", "1", "{s}ro", NULL);
	expect(c, "-ERR Write commands are not allowed from read-only scripts.",
	       "EVAL_RO", "return redis.pcall('del', KEYS[1])", "1", "{s}ro", NULL);
	expect(c, "$val", "EVAL_RO", "return redis.call('get', KEYS[1])", "1", "{s}ro", NULL);
	kr_bulk(c, "val", "GET {s}ro");

	char sha[41];
	sha_of(c, "return redis.call('incr', KEYS[1])", sha);
	expect(c, "-ERR Write commands are not allowed from read-only scripts. script: %S, on @user_script:1.",
	       "EVALSHA_RO", sha, "1", "{s}cnt", NULL);
	expect(c, ":1", "EVALSHA", sha, "1", "{s}cnt", NULL);
	sha_of(c, "return redis.call('get', KEYS[1])", sha);
	expect(c, "$1", "EVALSHA_RO", sha, "1", "{s}cnt", NULL);

	/* Shebang flags. */
	expect(c, "-ERR Can not execute a script with write flag using *_ro command.",
	       "EVAL_RO", "#!lua\nreturn 1", "0", NULL);
	expect(c, ":1", "EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0", NULL);
	expect(c, ":2", "EVAL", "#!lua flags=\nreturn 2", "0", NULL);
	expect(c, ":2", "EVAL", "#!lua  flags=no-writes,allow-oom\nreturn 2", "0", NULL);
	expect(c, "-ERR Write commands are not allowed from read-only scripts. script: %S, on @user_script:2.",
	       "EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'y')", "1", "{s}ro", NULL);
	expect(c, "+OK", "EVAL", "#!lua\nreturn redis.call('set', KEYS[1], 'y')", "1", "{s}ro", NULL);
	expect(c, "-ERR user_script:2: Script attempted to access nonexistent global variable 'nosuch' script: %S, on @user_script:2.",
	       "EVAL", "#!lua\nreturn nosuch", "0", NULL);
	expect(c, "-ERR Unexpected flag in script shebang: bad", "EVAL", "#!lua flags=bad\nreturn 1", "0", NULL);
	expect(c, "-ERR Unexpected flag in script shebang: ", "EVAL", "#!lua flags=no-writes,,allow-oom\nreturn 1",
	       "0", NULL);
	expect(c, "-ERR Unexpected engine in script shebang: #!luax", "EVAL", "#!luax\nreturn 1", "0", NULL);
	expect(c, "-ERR Unknown lua shebang option: name=x", "EVAL", "#!lua name=x\nreturn 1", "0", NULL);
	expect(c, "-ERR Invalid script shebang", "EVAL", "#!lua", "0", NULL);
	kr_bulk(c, "y", "GET {s}ro");
}

/* ------------------------------------------------ libraries */

Test(scripting, cjson)
{
	static const struct case_ t[] = {
		{ "return cjson.encode({1,2,{a=1}})", "$[1,2,{\"a\":1}]" },
		{ "return cjson.decode('[1,2,{\"a\":3}]')[3].a", ":3" },
		{ "return cjson.encode(cjson.decode('null'))", "$null" },
		{ "return cjson.decode('{\"x\":[true,false]}').x[1]", ":1" },
		{ "return cjson.encode({})", "${}" },
		{ "return cjson.decode('\"s\"')", "$s" },
		{ "local t = cjson.decode('[\"a\",\"b\"]') return #t", ":2" },
	};
	run_cases(c, t, sizeof(t) / sizeof(t[0]));
}

Test(scripting, bit_library)
{
	static const struct case_ t[] = {
		{ "return {bit.tobit(0xffffffff), bit.bnot(0), bit.lshift(1,31), bit.rshift(-1,28), "
		  "bit.arshift(-256,4), bit.rol(0x12345678,12), bit.ror(0x12345678, 12), "
		  "bit.bswap(0x12345678), bit.bor(1,2,4), bit.bxor(5,3), bit.band(-1, 0xff, 0xf0)}",
		  "*11[:-1,:-1,:-2147483648,:15,:-16,:1164411171,:1736516421,:2018915346,:7,:6,:240]" },
		{ "return {bit.tohex(255), bit.tohex(255, 2), bit.tohex(-1, -4), bit.tohex(1, 9), bit.tohex(1, -9)}",
		  "*5[$000000ff,$ff,$FFFF,$00000001,$00000001]" },
		{ "return bit.tohex(0x12345678, 0)", "$" },
		{ "return {bit.tobit(2^32+5), bit.tobit(1.5), bit.tobit(2.5), bit.band('12', 4)}", "*4[:5,:2,:2,:4]" },
		{ "return bit.band('x', 4)",
		  "-ERR user_script:1: bad argument #1 to 'band' (number expected, got string) script: %S, on @user_script:1." },
		{ "local t = {} for k in pairs(bit) do t[#t+1] = k end table.sort(t) return t",
		  "*12[$arshift,$band,$bnot,$bor,$bswap,$bxor,$lshift,$rol,$ror,$rshift,$tobit,$tohex]" },
	};
	run_cases(c, t, sizeof(t) / sizeof(t[0]));
}

Test(scripting, math_random_deterministic)
{
	/* Redis's lrand48: the same sequence after the same seed. */
	static const struct case_ t[] = {
		{ "math.randomseed(1) return tostring(math.random())", "$0.041630344484761" },
		{ "math.randomseed(7) return {math.random(100), math.random(5, 10), math.random(-5, 4)}",
		  "*3[:27,:9,:-3]" },
		{ "math.randomseed(1) local a = math.random(1000) math.randomseed(1) return a == math.random(1000)",
		  ":1" },
		{ "return math.random(0)",
		  "-ERR user_script:1: bad argument #1 to 'random' (interval is empty) script: %S, on @user_script:1." },
	};
	run_cases(c, t, sizeof(t) / sizeof(t[0]));
}

/* ------------------------------------------------ the sandbox */

Test(scripting, global_protection)
{
	static const struct case_ t[] = {
		{ "x = 1", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "redis = 1", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "ARGV = {}", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "_G.y = 1", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "string.len = nil", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "table.foo = 1", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "redis.call = nil", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "cjson.encode = nil", "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "getmetatable('').__index.upper = nil",
		  "-ERR user_script:1: Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "rawset(_G, 'x', 1)", "-ERR Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "setmetatable(_G, nil)", "-ERR Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "table.insert(math, 1)", "-ERR Attempt to modify a readonly table script: %S, on @user_script:1." },
		{ "return loadstring('x=1')()",
		  "-ERR [string \"x=1\"]:1: Attempt to modify a readonly table script: %S, on x=1:1." },
		{ "return _G.nope",
		  "-ERR user_script:1: Script attempted to access nonexistent global variable 'nope' script: %S, on @user_script:1." },
		{ "return getfenv", "-ERR user_script:1: Script attempted to access nonexistent global variable 'getfenv' script: %S, on @user_script:1." },
		{ "return setfenv", "-ERR user_script:1: Script attempted to access nonexistent global variable 'setfenv' script: %S, on @user_script:1." },
		{ "return loadfile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile' script: %S, on @user_script:1." },
		{ "return dofile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'dofile' script: %S, on @user_script:1." },
		/* Allowed: locals, KEYS/ARGV contents, reading through the views. */
		{ "local t = {} t.x = 1 return t.x", ":1" },
		{ "KEYS[1] = 'x' return KEYS[1]", "$x" },
		{ "return rawget(_G, 'redis') ~= nil", ":1" },
		{ "return rawget(_G, 'nope') == nil", ":1" },
		{ "return type(_G)", "$table" },
		{ "local n = 0 for k, v in pairs(_G) do if k == 'redis' or k == 'cjson' then n = n + 1 end end return n",
		  ":2" },
		{ "local t = {} for k in pairs(math) do if k == 'floor' then t[1] = k end end return t", "*1[$floor]" },
		{ "return table.concat({'a','b'}, '-')", "$a-b" },
		{ "local t = {3,1,2} table.sort(t) return t", "*3[:1,:2,:3]" },
		{ "return ('abc'):upper()", "$ABC" },
		{ "return loadstring('return 1')()", ":1" },
		{ "return tostring(loadstring(string.dump(function() return 1 end)))", "$nil" },
		{ "return coroutine.wrap(function() return 5 end)()", ":5" },
		{ "local ok, e = pcall(function() x = 1 end) return tostring(ok)", "$false" },
	};
	run_cases(c, t, sizeof(t) / sizeof(t[0]));
	/* Nothing leaked into later scripts. */
	EVAL("-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: %S, on @user_script:1.",
	     "return x", "0");
	EVAL(":0", "return #KEYS", "0");
}

/* A script that returns a cycle: nesting stops at the Lua stack limit with
 * an error element, and the server goes on. */
Test(scripting, nesting_limit)
{
	int fd = raw_on_shard(shard_of("{s}"));
	const char *argv[] = { "EVAL", "local t = {} t[1] = t return t", "0" };
	struct kr_sb b = {0};
	raw_req(&b, 3, argv);
	kr_raw_sends(fd, b.s);
	free(b.s);
	struct kr_sb got = {0};
	static const char tail[] = "-ERR reached lua stack limit\r\n";
	char buf[65536];
	while (got.len < sizeof(tail) - 1 || memcmp(got.s + got.len - (sizeof(tail) - 1), tail, sizeof(tail) - 1)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		cr_assert(poll(&p, 1, 10000) == 1, "no end of the nested reply");
		ssize_t n = read(fd, buf, sizeof(buf));
		cr_assert(n > 0);
		kr_sb_add(&got, buf, (size_t)n);
	}
	size_t levels = (got.len - (sizeof(tail) - 1)) / 4;
	cr_expect(levels >= 100, "only %zu levels", levels);
	for (size_t i = 0; i < levels; i++)
		cr_assert(memcmp(got.s + 4 * i, "*1\r\n", 4) == 0);
	free(got.s);
	kr_raw_expect(fd, "PING\r\n", 1, "+PONG\r\n");
	close(fd);
}

/* ------------------------------------------------ keys and shards */

/* Several keys of one hash tag, written and read in one script. */
static void tag_script(redisContext *ctx, const char *want)
{
	expect(ctx, want, "EVAL",
	       "redis.call('incr', KEYS[1]) redis.call('incrby', KEYS[2], 5) "
	       "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2]), redis.call('exists', KEYS[3])}",
	       "3", "{u}a", "{u}b", "{u}c", NULL);
}

Test(scripting, hash_tag_keys)
{
	redisContext *u = connect_on_shard(shard_of("{u}"));
	tag_script(u, "*3[$1,$5,:0]");
	tag_script(u, "*3[$2,$10,:0]");
	kr_bulk(u, "2", "GET {u}a");
	kr_bulk(u, "10", "GET {u}b");
	redisFree(u);
}

/* The routing layer runs a script on its keys' shard, wherever the client
 * is (needs EVAL's keys_fn routing). */
Test(scripting, hash_tag_keys_from_every_shard)
{
	char want[64];
	for (unsigned s = 0; s < nshards(); s++) {
		redisContext *x = connect_on_shard(s);
		snprintf(want, sizeof(want), "*3[$%u,$%u,:0]", s + 1, 5 * (s + 1));
		tag_script(x, want);
		redisFree(x);
	}
}

/* keyrail only: a script touching a key it did not declare, on another
 * shard, is refused with an error that says why. Redis (one node) has
 * every key local. */
Test(scripting, undeclared_key_on_other_shard)
{
	if (srv.is_redis || nshards() < 2)
		return;
	unsigned here = shard_of("{s}");
	char other[32];
	for (int i = 0;; i++) {
		snprintf(other, sizeof(other), "other%d", i);
		if (shard_of(other) != here)
			break;
	}
	redisReply *r = kr_cmd(c, "EVAL %s 0 %s", "return redis.call('get', ARGV[1])", other);
	cr_assert(r->type == REDIS_REPLY_ERROR);
	char want[128];
	snprintf(want, sizeof(want), "ERR Script attempted to access key '%s', which lives on another shard", other);
	cr_expect(strncmp(r->str, want, strlen(want)) == 0, "got: %s", r->str);
	cr_expect(strstr(r->str, "declare every key the script uses in KEYS") != NULL, "got: %s", r->str);
	freeReplyObject(r);
	r = kr_cmd(c, "EVAL %s 0 %s", "return redis.pcall('set', ARGV[1], 'v')", other);
	cr_assert(r->type == REDIS_REPLY_ERROR);
	cr_expect(strncmp(r->str, want, strlen(want)) == 0, "got: %s", r->str);
	freeReplyObject(r);
	/* The key was not written, and a key of this shard still works. */
	redisContext *o = connect_on_shard(shard_of(other));
	kr_nil(o, "GET %s", other);
	redisFree(o);
	EVAL("+OK", "return redis.call('set', ARGV[1], 'v')", "0", "{s}undeclared-but-local");
}

Test(scripting, select_in_script)
{
	EVAL("$x", "redis.call('select', 1) redis.call('set', KEYS[1], 'x') return redis.call('get', KEYS[1])",
	     "1", "{s}dbk");
	kr_nil(c, "GET {s}dbk");            /* the client's db did not change */
	kr_ok(c, "SELECT 1");
	kr_bulk(c, "x", "GET {s}dbk");
	kr_ok(c, "SELECT 0");
	EVAL("-ERR DB index is out of range script: %S, on @user_script:1.", "return redis.call('select', 99)", "0");
	EVAL("+OK", "return redis.call('select', 0)", "0");
}

/* Commands Redis refuses in scripts, and keyless ones it allows. */
Test(scripting, allowed_commands)
{
	EVAL("+PONG", "return redis.call('ping')", "0");
	EVAL("$x", "return redis.call('echo', 'x')", "0");
	EVAL(":2", "return #redis.call('time')", "0");
	EVAL("-ERR This Redis command is not allowed from script script: %S, on @user_script:1.",
	     "return redis.call('blpop', KEYS[1], 0)", "1", "{s}l");
	EVAL("-ERR This Redis command is not allowed from script script: %S, on @user_script:1.",
	     "return redis.call('shutdown')", "0");
	EVAL("-ERR This Redis command is not allowed from script script: %S, on @user_script:1.",
	     "return redis.call('monitor')", "0");
	EVAL("-ERR This Redis command is not allowed from script script: %S, on @user_script:1.",
	     "return redis.call('subscribe', 'ch')", "0");
}

/* ------------------------------------------------ SCRIPT KILL */

/* A client fully set up (accepted and served once) before a script
 * starts. A connection the server accepts in the same event batch as the
 * EVAL is only registered after the command that runs the script: see
 * the report on shard_busy_poll(). */
static redisContext *ready(redisContext *ctx)
{
	kr_status(ctx, "PONG", "PING");
	return ctx;
}

/* Send EVAL script 0 on ctx without waiting for the reply. */
static void send_async(redisContext *ctx, const char *script, const char *key)
{
	if (key)
		redisAppendCommand(ctx, "EVAL %s 1 %s", script, key);
	else
		redisAppendCommand(ctx, "EVAL %s 0", script);
	int done = 0;
	while (!done)
		cr_assert(redisBufferWrite(ctx, &done) == REDIS_OK);
}

/* SCRIPT KILL on ctx until the script is busy (NOTBUSY before); returns
 * the first reply that is not NOTBUSY. */
static redisReply *kill_when_busy(redisContext *ctx)
{
	for (int i = 0; i < 1000; i++) {
		redisReply *r = kr_cmd(ctx, "SCRIPT KILL");
		if (!(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOTBUSY", 7) == 0))
			return r;
		freeReplyObject(r);
		kr_sleep_ms(20);
	}
	cr_assert_fail("the script never became busy");
	return NULL;
}

Test(scripting_busy, kill_busy_script)
{
	const char *body = "local i = 0 while true do i = i + 1 end";
	char sha[41];
	sha_of(c, body, sha);
	redisContext *a = kr_connect(&srv);
	unsigned sa = conn_shard(a);
	/* Another shard's client when there are several; with one shard the
	 * KILL is served by the busy shard's poll loop. */
	redisContext *b = ready(connect_not_on_shard(sa));
	send_async(a, body, NULL);
	redisReply *r = kill_when_busy(b);
	cr_expect(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, "SCRIPT KILL: %s", r->str);
	freeReplyObject(r);

	void *vr = NULL;
	cr_assert(redisGetReply(a, &vr) == REDIS_OK);
	r = vr;
	char want[200];
	snprintf(want, sizeof(want), "ERR Script killed by user with SCRIPT KILL... script: %s, on @user_script:1.", sha);
	cr_expect(r->type == REDIS_REPLY_ERROR && strcmp(r->str, want) == 0, "got: %s", r->str);
	freeReplyObject(r);

	expect(b, "-NOTBUSY No scripts in execution right now.", "SCRIPT", "KILL", NULL);
	kr_status(a, "PONG", "PING");
	/* The interpreter is usable again (hooks back to normal). */
	expect(a, ":3", "EVAL", "local n = 0 for i = 1, 3 do n = n + 1 end return n", "0", NULL);
	redisFree(a);
	redisFree(b);
}

/* A pcall in the script cannot swallow the kill. */
Test(scripting_busy, kill_through_pcall)
{
	const char *body = "while true do pcall(function() while true do end end) end";
	redisContext *a = kr_connect(&srv);
	redisContext *b = ready(connect_not_on_shard(conn_shard(a)));
	send_async(a, body, NULL);
	redisReply *r = kill_when_busy(b);
	cr_expect(r->type == REDIS_REPLY_STATUS, "SCRIPT KILL: %s", r->str);
	freeReplyObject(r);
	void *vr = NULL;
	cr_assert(redisGetReply(a, &vr) == REDIS_OK);
	r = vr;
	cr_expect(r->type == REDIS_REPLY_ERROR &&
		  strncmp(r->str, "ERR Script killed by user with SCRIPT KILL...", 45) == 0, "got: %s", r->str);
	freeReplyObject(r);
	kr_status(a, "PONG", "PING");
	redisFree(a);
	redisFree(b);
}

/* Other clients of the busy shard get -BUSY meanwhile (served by the
 * shard's busy loop). */
Test(scripting_busy, busy_reply)
{
	redisContext *a = kr_connect(&srv);
	redisContext *same = ready(connect_on_shard(conn_shard(a)));
	redisContext *b = ready(connect_not_on_shard(conn_shard(a)));
	send_async(a, "while true do end", NULL);
	redisReply *r;
	for (int i = 0;; i++) {
		cr_assert(i < 500, "never busy");
		r = kr_cmd(same, "PING");
		if (r->type == REDIS_REPLY_ERROR)
			break;
		freeReplyObject(r);
		kr_sleep_ms(20);
	}
	cr_expect_str_eq(r->str, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
	freeReplyObject(r);
	r = kill_when_busy(b);
	freeReplyObject(r);
	void *vr = NULL;
	cr_assert(redisGetReply(a, &vr) == REDIS_OK);
	freeReplyObject(vr);
	kr_status(same, "PONG", "PING");
	redisFree(a);
	redisFree(same);
	redisFree(b);
}

/* A script that wrote cannot be killed; it runs to its end. */
Test(scripting_busy, unkillable_after_write)
{
	const char *body = "redis.call('set', KEYS[1], 'w') local s = tonumber(redis.call('time')[1]) "
			   "while tonumber(redis.call('time')[1]) < s + 2 do end return 'done'";
	redisContext *a = connect_on_shard(shard_of("{s}"));
	redisContext *b = ready(connect_not_on_shard(shard_of("{s}")));
	send_async(a, body, "{s}w");
	redisReply *r = kill_when_busy(b);
	cr_expect(r->type == REDIS_REPLY_ERROR && strcmp(r->str,
		  "UNKILLABLE Sorry the script already executed write commands against the dataset. "
		  "You can either wait the script termination or kill the server in a hard way using "
		  "the SHUTDOWN NOSAVE command.") == 0, "SCRIPT KILL: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	freeReplyObject(r);
	void *vr = NULL;
	cr_assert(redisGetReply(a, &vr) == REDIS_OK);
	r = vr;
	cr_expect(r->type == REDIS_REPLY_STRING && strcmp(r->str, "done") == 0);
	freeReplyObject(r);
	kr_bulk(a, "w", "GET {s}w");
	expect(b, "-NOTBUSY No scripts in execution right now.", "SCRIPT", "KILL", NULL);
	redisFree(a);
	redisFree(b);
}
