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

#endif
