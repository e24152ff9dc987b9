/* Integration-test harness: starts a real server binary on a free port in a
 * temporary directory and talks to it with hiredis.
 *
 * Which server: env KR_SERVER (path; default: the keyrail-server of this
 * build, passed in by meson as KR_SERVER too). env KR_SERVER_KIND=redis makes
 * the harness treat it as Debian's redis-server (so the same tests can be
 * validated against Redis itself); otherwise it is keyrail and env
 * KR_SHARDS (default 1) becomes `--shards N`.
 *
 * Every test asserts on replies and state; nothing here asserts on time. */
#ifndef KR_HARNESS_H
#define KR_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

struct kr_srv {
	pid_t pid;
	int port;
	char dir[256];        /* temp dir, removed by kr_srv_stop */
	char logpath[300];
	bool is_redis;
	char host[64];        /* where clients connect: KR_HOST for keyrail,
				 127.0.0.1 for Redis (always on loopback) */
};

/* Start the server with extra directives (NULL-terminated list of words as
 * on the command line, e.g. {"--requirepass", "x", NULL}); waits until it
 * answers PING (or -NOAUTH). Aborts the test (cr_assert) on failure. */
void kr_srv_start(struct kr_srv *s, const char *const *extra_args);
/* SIGTERM, wait for exit (SIGKILL after 5 s), remove the temp dir.
 * Returns the exit status as from waitpid. */
int kr_srv_stop(struct kr_srv *s);
/* 1 if the server process is still alive. */
int kr_srv_alive(struct kr_srv *s);

/* The address clients of s connect to (see struct kr_srv.host). */
const char *kr_srv_host(const struct kr_srv *s);
/* 1 when the servers under test run the DPDK data plane (env
 * KR_DATAPLANE=dpdk, set by tests/dpdk/dpdk_suite.sh): clients reach them
 * over a tap, not loopback, and only one such server can run at a time. */
int kr_over_dpdk(void);
/* Skip the calling test (Criterion skip, reason printed) when running over
 * DPDK, for checks of things the DPDK data plane does not offer. */
void kr_skip_over_dpdk(const char *why);

/* A connected client (asserts on failure). */
redisContext *kr_connect(const struct kr_srv *s);

/* Run a command (printf-style as redisCommand, or argv-style) and assert a
 * reply came back (the connection did not fail). Caller frees the reply. */
redisReply *kr_cmd(redisContext *c, const char *fmt, ...);
redisReply *kr_cmdv(redisContext *c, int argc, const char **argv, const size_t *lens);

/* Run a command and assert on its reply; the reply is freed. */
void kr_ok(redisContext *c, const char *fmt, ...);                 /* +OK */
void kr_status(redisContext *c, const char *want, const char *fmt, ...);
void kr_int(redisContext *c, long long want, const char *fmt, ...);
void kr_bulk(redisContext *c, const char *want, const char *fmt, ...);
void kr_nil(redisContext *c, const char *fmt, ...);
/* Error whose text starts with want_prefix (e.g. "WRONGTYPE", "ERR syntax"). */
void kr_err(redisContext *c, const char *want_prefix, const char *fmt, ...);

/* Run a shell command line with the server's port in $PORT; return its
 * exit status and, if out != NULL, up to outlen-1 bytes of its stdout. */
int kr_sh(const struct kr_srv *s, char *out, size_t outlen, const char *fmt, ...);

/* Raw-socket helpers, for byte-exact checks and RESP3 (hiredis 0.14 reads
 * RESP2 only). The socket has 10 s send/receive timeouts so a server that
 * neither answers nor closes fails the test instead of hanging it. */
int kr_raw_connect(const struct kr_srv *s);
void kr_raw_send(int fd, const char *buf, size_t len);
void kr_raw_sends(int fd, const char *s);
/* Length of the one complete RESP2/RESP3 value at buf, 0 if incomplete. */
long kr_raw_value_len(const char *buf, size_t len);
/* Read exactly nreplies complete values; returns them NUL-terminated
 * (caller frees), length in *outlen. Asserts on EOF or timeout. */
char *kr_raw_read(int fd, int nreplies, size_t *outlen);
/* Send req, read nreplies values, assert they equal want byte for byte. */
void kr_raw_expect(int fd, const char *req, int nreplies, const char *want);
/* 1 if the server closed fd (EOF); asserts if more bytes arrive. */
int kr_raw_closed(int fd);

/* Redis Cluster hash slot of a NUL-terminated key (0..16383); the server's
 * shard for it is slot % nshards. */
unsigned kr_key_slot(const char *key);

/* A growable NUL-terminated text buffer (zero-initialised = empty). */
struct kr_sb {
	char *s;
	size_t len, cap;
};
void kr_sb_add(struct kr_sb *b, const char *p, size_t n);
void kr_sb_fmt(struct kr_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kr_sb_reset(struct kr_sb *b);
/* A reply as text, the way tests write expectations:
 * +status  -error  :int  $bulk  nil  *N[a,b,...] */
void kr_render(struct kr_sb *b, const redisReply *r);

/* ------------------------------------------------ shared test fixtures */

/* Start a server (as kr_srv_start) and connect one client to it: the
 * .init of a suite with one server and one client. */
void kr_srv_start_client(struct kr_srv *s, redisContext **c, const char *const *extra_args);
/* Free *c (set to NULL), expect (cr_expect) that the server is still alive
 * and stop it: the matching .fini. */
void kr_srv_stop_client(struct kr_srv *s, redisContext **c);
/* Start Redis itself (a reference server) whatever KR_SERVER_KIND and
 * KR_SERVER say: $KR_REDIS_SERVER or /usr/bin/redis-server. The
 * environment is restored afterwards. */
void kr_srv_start_redis(struct kr_srv *s, const char *const *extra_args);

/* Sleep ms milliseconds (resumed after a signal). */
void kr_sleep_ms(int ms);
/* A monotonic clock in milliseconds, for measuring intervals. */
double kr_now_ms(void);

/* Into out, the nth (0, 1, ...) key "<prefix><i>" whose slot lands on
 * shard `shard` of nshards (slot % nshards). Asserts if none is found. */
void kr_key_on_shard_of(char *out, size_t outlen, const char *prefix, unsigned shard,
			unsigned nshards, int nth);
/* The same for 3 shards, the count the cross-shard tests are written for. */
void kr_key_on_shard(char *out, size_t outlen, const char *prefix, unsigned shard, int nth);

/* Run a command given as words separated by spaces (no argument contains
 * a space; the word '' is an empty argument). Caller frees the reply. */
redisReply *kr_words(redisContext *c, const char *line);
/* Run `line` (as kr_words) and assert that its reply, as kr_render() text,
 * is exactly want. */
void kr_expect_render(redisContext *c, const char *line, const char *want);

/* A table of commands and their kr_render() replies, run in order. */
struct kr_step {
	const char *cmd;      /* as kr_words takes it */
	const char *want;     /* kr_render() text of the reply */
};
void kr_run_steps(redisContext *c, const struct kr_step *st, size_t n);
#define KR_RUN(c, steps) kr_run_steps(c, steps, sizeof(steps) / sizeof(steps[0]))

/* qsort comparator of char * elements by strcmp. */
int kr_cmp_str(const void *a, const void *b);
/* The elements of a flat array reply of bulk strings, sorted, rendered
 * "a,b,c" (caller frees). Asserts every element is a bulk string. */
char *kr_sorted_elements(const redisReply *r);
/* Run `line` (as kr_words) and assert an array reply whose elements,
 * sorted, are want ("a,b,c"): for replies in no defined order. */
void kr_expect_sorted(redisContext *c, const char *line, const char *want);

/* Assert OBJECT ENCODING key is enc. */
void kr_expect_encoding(redisContext *c, const char *key, const char *enc);

/* SET key to len bytes at val (binary-safe); asserts +OK-like status. */
void kr_set_bytes(redisContext *c, const char *key, const void *val, size_t len);
/* Assert GET key is a bulk string of exactly the len bytes at want. */
void kr_expect_bytes(redisContext *c, const char *key, const void *want, size_t len);
/* Make key hold a value that is not a string, with whichever collection
 * command the server has (LPUSH, SADD, HSET, ZADD). */
void kr_make_nonstring(redisContext *c, const char *key);

/* Differential check: run one command on server a and on server b and
 * assert their kr_render() replies are equal. */
void kr_expect_same(redisContext *a, redisContext *b, int argc, const char **argv,
		    const size_t *lens);
/* The same with a printf-formatted line split into words at spaces. */
void kr_expect_samef(redisContext *a, redisContext *b, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A raw connection switched to RESP3 (HELLO 3 answered with a map). */
int kr_raw_resp3(const struct kr_srv *s);

#endif
