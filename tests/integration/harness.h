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

#endif
