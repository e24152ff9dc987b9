/* Integration-test harness: starts a real server process (keyrail-server, or
 * Debian's redis-server when KR_SERVER_KIND=redis) on a free 127.0.0.1 port in
 * a private temporary directory, waits until it answers, and gives tests
 * hiredis helpers that assert on replies and print the command and the actual
 * reply when they fail.
 *
 * Criterion forks one process per test; a server started by a test belongs to
 * that process (PR_SET_PDEATHSIG kills it if the test process dies without
 * calling kr_srv_stop, so a crashed test never leaves a server behind).
 *
 * Ports: chosen in [KR_PORT_MIN, KR_PORT_MAX] (default 21000-21999), starting
 * at a point derived from the pid, bind-tested, and retried with another port
 * if the server does not come up (two test processes can race for one port).
 * Identity: readiness requires that *our* process owns every socket listening
 * on the port (checked through /proc), so a server of a parallel test that
 * sits on the same port is never mistaken for ours, and two servers sharing a
 * port through SO_REUSEPORT are detected and ours is restarted elsewhere.
 *
 * Environment: KR_SERVER, KR_SERVER_KIND, KR_SHARDS as in harness.h; with
 * KR_SERVER_KIND=redis a KR_SERVER that does not name a Redis binary (meson
 * always sets it to keyrail-server) is replaced by $KR_REDIS_SERVER or
 * /usr/bin/redis-server. KR_PORT_MIN/KR_PORT_MAX move the port range.
 *
 * Extension of the contract: if extra_args[0] does not start with "--" it is
 * a config file and is passed as the server's first argument (both Redis and
 * keyrail take the config file there).
 *
 * Servers not on the kernel's loopback (the DPDK data plane, see
 * tests/dpdk/): KR_HOST is the address clients connect to (default
 * 127.0.0.1; kr_sh exports it as HOST), and the port-ownership check is
 * skipped when it is set, since such a server's sockets are not the
 * kernel's. A reference Redis (kr_srv_start_redis) is on 127.0.0.1
 * whatever KR_HOST says: struct kr_srv keeps each server's own address.
 * KR_DATAPLANE=dpdk tells tests they run over DPDK (kr_over_dpdk), so they
 * can skip what that data plane does not offer. KR_SERVER_ARGS adds words
 * (split at blanks) to every keyrail server's command line, after --shards
 * and before the test's own. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_START_ATTEMPTS 6
#define H_READY_TIMEOUT_MS 10000
#define H_STOP_TIMEOUT_MS 5000
#define H_CMD_TIMEOUT_S 60     /* a hung server fails the test, not the run */
#define H_DESC_MAX 400         /* bytes of a command/reply shown in messages */
#define H_MAX_ARGS 256

/* Exit statuses of servers this test process already reaped (kr_srv_alive
 * may reap a server that exited by itself, e.g. after SHUTDOWN). */
static struct {
	pid_t pid;
	int status;
} h_reaped[16];

/* One watcher process per running server: it blocks reading a pipe whose
 * only writer is this test process, so when the test process dies without
 * kr_srv_stop (Criterion kills a test that times out, and .fini does not
 * run) the read returns EOF and the watcher kills the server and removes
 * its temp dir. kr_srv_stop retires the watcher first. */
static struct {
	pid_t server, watcher;
	int wfd;
} h_watch[16];

static void h_remember(pid_t pid, int status)
{
	for (size_t i = 0; i < sizeof(h_reaped) / sizeof(h_reaped[0]); i++) {
		if (h_reaped[i].pid == 0 || h_reaped[i].pid == pid) {
			h_reaped[i].pid = pid;
			h_reaped[i].status = status;
			return;
		}
	}
}

static int h_recall(pid_t pid, int *status)
{
	for (size_t i = 0; i < sizeof(h_reaped) / sizeof(h_reaped[0]); i++) {
		if (h_reaped[i].pid == pid) {
			*status = h_reaped[i].status;
			return 1;
		}
	}
	return 0;
}

static void h_rmdir(const char *dir);

static void h_watch_start(const struct kr_srv *s)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return; /* without a watcher only the leftover cleanup is lost */
	pid_t w = fork();
	if (w < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (w == 0) {
		/* Hold nothing of the test's: open client sockets kept alive
		 * here would hide disconnects from the server. */
		for (int fd = 3; fd < 4096; fd++)
			if (fd != fds[0])
				close(fd);
		char b;
		while (read(fds[0], &b, 1) < 0 && errno == EINTR)
			;
		kill(s->pid, SIGKILL);
		for (int i = 0; i < 200 && kill(s->pid, 0) == 0; i++)
			usleep(10000);
		h_rmdir(s->dir);
		_exit(0);
	}
	close(fds[0]);
	for (size_t i = 0; i < sizeof(h_watch) / sizeof(h_watch[0]); i++) {
		if (h_watch[i].server == 0) {
			h_watch[i].server = s->pid;
			h_watch[i].watcher = w;
			h_watch[i].wfd = fds[1];
			return;
		}
	}
	kill(w, SIGKILL); /* no slot: run without a watcher */
	waitpid(w, NULL, 0);
	close(fds[1]);
}

static void h_watch_stop(pid_t server)
{
	for (size_t i = 0; i < sizeof(h_watch) / sizeof(h_watch[0]); i++) {
		if (h_watch[i].server == server) {
			kill(h_watch[i].watcher, SIGKILL);
			waitpid(h_watch[i].watcher, NULL, 0);
			close(h_watch[i].wfd);
			h_watch[i].server = 0;
			return;
		}
	}
}

static long long h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void h_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *h_host(void)
{
	const char *h = getenv("KR_HOST");
	return h != NULL && *h != '\0' ? h : "127.0.0.1";
}

/* The address of s: its own once started, KR_HOST before. */
static const char *h_srv_host(const struct kr_srv *s)
{
	return s->host[0] != '\0' ? s->host : h_host();
}

const char *kr_srv_host(const struct kr_srv *s)
{
	return h_srv_host(s);
}

int kr_over_dpdk(void)
{
	const char *d = getenv("KR_DATAPLANE");
	return d != NULL && strcmp(d, "dpdk") == 0;
}

void kr_skip_over_dpdk(const char *why)
{
	if (kr_over_dpdk()) {
		/* Criterion shows skip reasons only when verbose: say it here. */
		fprintf(stderr, "skip over DPDK: %s\n", why);
		cr_skip_test("over DPDK: %s", why);
	}
}

static int h_env_int(const char *name, int def)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return def;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end != '\0' || n <= 0 || n > 65535)
		return def;
	return (int)n;
}

/* 1 if nobody listens on 127.0.0.1:port (SO_REUSEADDR like a server, so a
 * port whose old connections linger in TIME_WAIT still counts as free). */
static int h_port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

static int h_pick_port(int attempt)
{
	int lo = h_env_int("KR_PORT_MIN", 21000);
	int hi = h_env_int("KR_PORT_MAX", 21999);
	if (hi < lo)
		hi = lo;
	int span = hi - lo + 1;
	unsigned seed = (unsigned)getpid() * 2654435761u + (unsigned)attempt * 40503u +
			(unsigned)h_now_ms();
	int start = (int)(seed % (unsigned)span);
	for (int i = 0; i < span; i++) {
		int port = lo + (start + i * 7) % span;
		/* Stride 7 is coprime with any span not a multiple of 7; fall
		 * back to a linear probe when it is. */
		if (span % 7 == 0)
			port = lo + (start + i) % span;
		if (h_port_free(port))
			return port;
	}
	return -1;
}

/* Inodes of the sockets listening on port (up to max); returns how many.
 * keyrail listens with SO_REUSEPORT (one socket per shard), so a port can
 * have several listeners, possibly of different processes. */
static int h_listen_inodes(int port, unsigned long *inodes, int max)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	if (f == NULL)
		return -1;
	char line[512];
	int n = 0;
	if (fgets(line, sizeof(line), f) == NULL) { /* header */
		fclose(f);
		return -1;
	}
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		unsigned addr, lport, st;
		unsigned long inode;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &addr, &lport, &st, &inode) != 4)
			continue;
		if ((int)lport == port && st == 0x0A)
			inodes[n++] = inode;
	}
	fclose(f);
	return n;
}

/* 1 if process pid holds every socket listening on port, 0 if it holds
 * none yet, -1 if another process listens there too (a port race that
 * SO_REUSEPORT lets both servers win). Without procfs, trust the PING. */
static int h_port_owner(pid_t pid, int port)
{
	unsigned long inodes[64];
	int n = h_listen_inodes(port, inodes, 64);
	if (n < 0)
		return 1;
	if (n == 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	int mine = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char fdpath[320], target[128];
		unsigned long ino;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		ssize_t len = readlink(fdpath, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &ino) != 1)
			continue;
		for (int i = 0; i < n; i++)
			if (inodes[i] == ino)
				mine++;
	}
	closedir(d);
	if (mine == 0)
		return 0;
	return mine == n ? 1 : -1;
}

static int h_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void h_rmdir(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, h_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Print the last bytes of the server's log and stdio to stderr. */
static void h_dump_logs(const struct kr_srv *s)
{
	char path[320];
	const char *files[2] = { s->logpath, path };
	snprintf(path, sizeof(path), "%s/stdio.log", s->dir);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");
		if (f == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		fseek(f, sz > 3000 ? sz - 3000 : 0, SEEK_SET);
		char buf[3001];
		size_t n = fread(buf, 1, 3000, f);
		buf[n] = '\0';
		fclose(f);
		fprintf(stderr, "---- %s (tail) ----\n%s\n", files[i], buf);
	}
}

static pid_t h_spawn(struct kr_srv *s, const char *server, const char *const *extra)
{
	const char *argv[H_MAX_ARGS];
	int n = 0;
	char port[16];
	snprintf(port, sizeof(port), "%d", s->port);
	argv[n++] = server;
	if (extra != NULL && extra[0] != NULL && strncmp(extra[0], "--", 2) != 0)
		argv[n++] = *extra++;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	argv[n++] = "--logfile";
	argv[n++] = s->logpath;
	if (s->is_redis) {
		argv[n++] = "--save";
		argv[n++] = "";
		argv[n++] = "--appendonly";
		argv[n++] = "no";
		argv[n++] = "--daemonize";
		argv[n++] = "no";
		/* Redis 7 refuses DEBUG by default; keyrail's tests use it. */
		argv[n++] = "--enable-debug-command";
		argv[n++] = "yes";
	} else {
		/* No save rules unless a test gives them (as for Redis above):
		 * SIGTERM saves first when there are, as Redis does. */
		argv[n++] = "--save";
		argv[n++] = "";
		const char *shards = getenv("KR_SHARDS");
		argv[n++] = "--shards";
		argv[n++] = (shards != NULL && *shards != '\0') ? shards : "1";
		/* KR_SERVER_ARGS, split in a private copy that argv points
		 * into until the exec below (kept in a static: no leak). */
		static char *more;
		const char *env_args = getenv("KR_SERVER_ARGS");
		free(more);
		more = env_args != NULL ? strdup(env_args) : NULL;
		for (char *save = NULL, *w = more ? strtok_r(more, " \t", &save) : NULL;
		     w != NULL && n < H_MAX_ARGS - 1; w = strtok_r(NULL, " \t", &save))
			argv[n++] = w;
	}
	while (extra != NULL && *extra != NULL && n < H_MAX_ARGS - 1)
		argv[n++] = *extra++;
	argv[n] = NULL;

	char stdio_path[320];
	snprintf(stdio_path, sizeof(stdio_path), "%s/stdio.log", s->dir);
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* Child: dies with the test process, output kept in the temp dir. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	int in = open("/dev/null", O_RDONLY);
	int out = open(stdio_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in >= 0)
		dup2(in, 0);
	if (out >= 0) {
		dup2(out, 1);
		dup2(out, 2);
	}
	execv(server, (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", server, strerror(errno));
	_exit(127);
}

/* 0 when the server at s answers PING (+PONG or -NOAUTH) and owns its port,
 * -1 when its process exited (status stored), -2 when another process
 * listens on the same port, 1 when not ready yet. */
static int h_probe(struct kr_srv *s)
{
	int status;
	pid_t r = waitpid(s->pid, &status, WNOHANG);
	if (r == s->pid) {
		h_remember(s->pid, status);
		return -1;
	}
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout(h_srv_host(s), s->port, tv);
	if (c == NULL)
		return 1;
	int ready = 1;
	if (!c->err) {
		redisSetTimeout(c, tv);
		redisReply *rep = redisCommand(c, "PING");
		if (rep != NULL) {
			if ((rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0) ||
			    (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOAUTH", 6) == 0))
				switch (getenv("KR_HOST") != NULL && !s->is_redis ? 1 : h_port_owner(s->pid, s->port)) {
				case 1: ready = 0; break;
				case -1: ready = -2; break;
				default: ready = 1; break;
				}
			freeReplyObject(rep);
		}
	}
	redisFree(c);
	return ready;
}

void kr_srv_start(struct kr_srv *s, const char *const *extra_args)
{
	signal(SIGPIPE, SIG_IGN);
	memset(s, 0, sizeof(*s));
	const char *server = getenv("KR_SERVER");
	const char *kind = getenv("KR_SERVER_KIND");
	s->is_redis = kind != NULL && strcmp(kind, "redis") == 0;
	/* Redis is always bound to loopback (h_spawn); keyrail is where
	 * KR_HOST says (the DPDK data plane's address, say). */
	snprintf(s->host, sizeof(s->host), "%s", s->is_redis ? "127.0.0.1" : h_host());
	/* meson's test env always sets KR_SERVER to keyrail-server, so for
	 * `KR_SERVER_KIND=redis meson test` a KR_SERVER that is not a Redis
	 * binary is replaced by KR_REDIS_SERVER or Debian's redis-server. */
	if (s->is_redis && (server == NULL || strstr(server, "redis") == NULL)) {
		const char *r = getenv("KR_REDIS_SERVER");
		server = (r != NULL && *r != '\0') ? r : "/usr/bin/redis-server";
	}
	cr_assert(server != NULL && *server != '\0',
		  "KR_SERVER is not set (meson sets it; set it by hand to run a test binary)");
	cr_assert(access(server, X_OK) == 0, "KR_SERVER=%s is not executable", server);

	for (int attempt = 0; attempt < H_START_ATTEMPTS; attempt++) {
		snprintf(s->dir, sizeof(s->dir), "/tmp/kr-itest-XXXXXX");
		cr_assert(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
		snprintf(s->logpath, sizeof(s->logpath), "%s/server.log", s->dir);
		s->port = h_pick_port(attempt);
		if (s->port <= 0) {
			h_rmdir(s->dir);
			cr_assert_fail("no free port in the harness port range");
		}
		s->pid = h_spawn(s, server, extra_args);
		cr_assert(s->pid > 0, "fork: %s", strerror(errno));

		long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
		int st = 1;
		while (st == 1 && h_now_ms() < deadline) {
			st = h_probe(s);
			if (st == 1)
				h_sleep_ms(30);
		}
		if (st == 0) {
			h_watch_start(s);
			return;
		}
		if (st == -2) {
			/* Shares the port with a server of another test: retry
			 * elsewhere. */
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			h_rmdir(s->dir);
			continue;
		}
		if (st == -1) {
			/* Exited: most likely lost a race for the port; a bad
			 * directive fails identically every attempt, so give up
			 * early when the log does not mention the port. */
			int status = 0;
			h_recall(s->pid, &status);
			char path[320];
			snprintf(path, sizeof(path), "%s/stdio.log", s->dir);
			int port_clash = 0;
			const char *logs[2] = { s->logpath, path };
			for (int i = 0; i < 2 && !port_clash; i++) {
				FILE *f = fopen(logs[i], "r");
				char line[1024];
				while (f != NULL && fgets(line, sizeof(line), f) != NULL)
					if (strstr(line, "in use") != NULL || strstr(line, "bind") != NULL)
						port_clash = 1;
				if (f != NULL)
					fclose(f);
			}
			if (!port_clash || attempt == H_START_ATTEMPTS - 1) {
				h_dump_logs(s);
				h_rmdir(s->dir);
				cr_assert_fail("server %s exited during start-up (status 0x%x, port %d); log tail above",
					       server, status, s->port);
			}
			h_rmdir(s->dir);
			continue;
		}
		/* Timed out: kill it and report. */
		h_dump_logs(s);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		h_rmdir(s->dir);
		cr_assert_fail("server %s did not answer PING on port %d within %d ms; log tail above",
			       server, s->port, H_READY_TIMEOUT_MS);
	}
	cr_assert_fail("server %s could not be started", server);
}

int kr_srv_alive(struct kr_srv *s)
{
	if (s->pid <= 0)
		return 0;
	int status;
	if (h_recall(s->pid, &status))
		return 0;
	pid_t r = waitpid(s->pid, &status, WNOHANG);
	if (r == s->pid) {
		h_remember(s->pid, status);
		return 0;
	}
	return r == 0;
}

int kr_srv_stop(struct kr_srv *s)
{
	if (s->pid <= 0)
		return -1;
	h_watch_stop(s->pid);
	int status = 0;
	if (!h_recall(s->pid, &status)) {
		kill(s->pid, SIGTERM);
		long long deadline = h_now_ms() + H_STOP_TIMEOUT_MS;
		pid_t r = 0;
		while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && h_now_ms() < deadline)
			h_sleep_ms(10);
		if (r == 0) {
			fprintf(stderr, "harness: server pid %d ignored SIGTERM for %d ms, sending SIGKILL\n",
				(int)s->pid, H_STOP_TIMEOUT_MS);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
		}
		h_remember(s->pid, status);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "harness: server pid %d ended with status 0x%x (%s %d)\n",
			(int)s->pid, status, WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		h_dump_logs(s);
	}
	h_rmdir(s->dir);
	s->pid = 0;
	return status;
}

redisContext *kr_connect(const struct kr_srv *s)
{
	signal(SIGPIPE, SIG_IGN);
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(h_srv_host(s), s->port, tv);
	cr_assert(c != NULL, "redisConnect returned NULL");
	cr_assert(!c->err, "connect to %s:%d: %s", h_srv_host(s), s->port, c->errstr);
	struct timeval cmd_tv = { H_CMD_TIMEOUT_S, 0 };
	redisSetTimeout(c, cmd_tv);
	return c;
}

/* ---- Describing commands and replies for failure messages ---- */

struct h_buf {
	char s[H_DESC_MAX + 8];
	size_t len;
};

static void h_put(struct h_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n && b->len < H_DESC_MAX; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (isprint(ch) && ch != '\\') {
			b->s[b->len++] = (char)ch;
		} else if (b->len + 4 < H_DESC_MAX) {
			b->len += (size_t)snprintf(b->s + b->len, 5, "\\x%02x", ch);
		} else {
			break;
		}
	}
	if (b->len >= H_DESC_MAX)
		memcpy(b->s + H_DESC_MAX - 3, "...", 4), b->len = H_DESC_MAX;
	b->s[b->len] = '\0';
}

static void h_puts(struct h_buf *b, const char *p)
{
	size_t n = strlen(p);
	/* Literal punctuation of the description is never escaped. */
	if (b->len + n < H_DESC_MAX) {
		memcpy(b->s + b->len, p, n + 1);
		b->len += n;
	} else {
		h_put(b, p, n);
	}
}

/* A formatted RESP command ("*2\r\n$3\r\nGET\r\n...") as `GET "k"`. */
static void h_desc_cmd(struct h_buf *b, const char *cmd, size_t len)
{
	b->len = 0;
	b->s[0] = '\0';
	const char *p = cmd, *end = cmd + len;
	if (p >= end || *p != '*') {
		h_put(b, cmd, len);
		return;
	}
	long argc = strtol(p + 1, NULL, 10);
	p = memchr(p, '\n', (size_t)(end - p));
	for (long i = 0; p != NULL && i < argc && p + 1 < end; i++) {
		p++;
		if (*p != '$')
			break;
		long n = strtol(p + 1, NULL, 10);
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL || p + 1 + n > end)
			break;
		if (i > 0)
			h_puts(b, " ");
		h_puts(b, i > 0 ? "\"" : "");
		h_put(b, p + 1, (size_t)n);
		h_puts(b, i > 0 ? "\"" : "");
		p += 1 + n + 1; /* value, \r; the \n is skipped by p++ */
	}
}

static void h_desc_reply(struct h_buf *b, const redisReply *r)
{
	char num[48];
	if (r == NULL) {
		h_puts(b, "(no reply)");
		return;
	}
	switch (r->type) {
	case REDIS_REPLY_STATUS:
		h_puts(b, "+");
		h_put(b, r->str, r->len);
		break;
	case REDIS_REPLY_ERROR:
		h_puts(b, "-");
		h_put(b, r->str, r->len);
		break;
	case REDIS_REPLY_INTEGER:
		snprintf(num, sizeof(num), "(integer) %lld", r->integer);
		h_puts(b, num);
		break;
	case REDIS_REPLY_NIL:
		h_puts(b, "(nil)");
		break;
	case REDIS_REPLY_STRING:
		snprintf(num, sizeof(num), "(bulk %zu) \"", r->len);
		h_puts(b, num);
		h_put(b, r->str, r->len);
		h_puts(b, "\"");
		break;
	case REDIS_REPLY_ARRAY:
		snprintf(num, sizeof(num), "(array %zu) [", r->elements);
		h_puts(b, num);
		for (size_t i = 0; i < r->elements && b->len < H_DESC_MAX; i++) {
			if (i > 0)
				h_puts(b, ", ");
			h_desc_reply(b, r->element[i]);
		}
		h_puts(b, "]");
		break;
	default:
		snprintf(num, sizeof(num), "(type %d)", r->type);
		h_puts(b, num);
	}
}

/* Send an already formatted command and read its reply; asserts that the
 * connection delivered one. desc receives the readable command. */
static redisReply *h_exec(redisContext *c, char *cmd, int len, struct h_buf *desc)
{
	cr_assert(len > 0, "could not format the command");
	h_desc_cmd(desc, cmd, (size_t)len);
	redisReply *r = NULL;
	int rc = redisAppendFormattedCommand(c, cmd, (size_t)len);
	redisFreeCommand(cmd);
	if (rc == REDIS_OK)
		rc = redisGetReply(c, (void **)&r);
	cr_assert(rc == REDIS_OK && r != NULL, "command %s: no reply (connection error %d: %s)",
		  desc->s, c->err, c->errstr);
	return r;
}

static redisReply *h_vexec(redisContext *c, struct h_buf *desc, const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);
	return h_exec(c, cmd, len, desc);
}

redisReply *kr_cmd(redisContext *c, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	return r;
}

redisReply *kr_cmdv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
	struct h_buf desc;
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	return h_exec(c, cmd, len, &desc);
}

/* Shared tail of the kr_* assertions: on mismatch print command and reply. */
static void h_check(int ok, const struct h_buf *desc, redisReply *r, const char *want)
{
	if (!ok) {
		struct h_buf got = { .len = 0 };
		got.s[0] = '\0';
		h_desc_reply(&got, r);
		freeReplyObject(r);
		cr_assert_fail("command %s: expected %s, got %s", desc->s, want, got.s);
	}
	freeReplyObject(r);
}

void kr_ok(redisContext *c, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	h_check(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, &desc, r, "+OK");
}

void kr_status(redisContext *c, const char *want, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	char w[H_DESC_MAX];
	snprintf(w, sizeof(w), "+%s", want);
	h_check(r->type == REDIS_REPLY_STATUS && strcmp(r->str, want) == 0, &desc, r, w);
}

void kr_int(redisContext *c, long long want, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	char w[64];
	snprintf(w, sizeof(w), "(integer) %lld", want);
	h_check(r->type == REDIS_REPLY_INTEGER && r->integer == want, &desc, r, w);
}

void kr_bulk(redisContext *c, const char *want, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	struct h_buf w = { .len = 0 };
	w.s[0] = '\0';
	h_puts(&w, "\"");
	h_put(&w, want, strlen(want));
	h_puts(&w, "\"");
	h_check(r->type == REDIS_REPLY_STRING && r->len == strlen(want) &&
			memcmp(r->str, want, r->len) == 0,
		&desc, r, w.s);
}

void kr_nil(redisContext *c, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	h_check(r->type == REDIS_REPLY_NIL, &desc, r, "(nil)");
}

void kr_err(redisContext *c, const char *want_prefix, const char *fmt, ...)
{
	struct h_buf desc;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = h_vexec(c, &desc, fmt, ap);
	va_end(ap);
	char w[H_DESC_MAX];
	snprintf(w, sizeof(w), "an error starting with \"%s\"", want_prefix);
	h_check(r->type == REDIS_REPLY_ERROR && strncmp(r->str, want_prefix, strlen(want_prefix)) == 0,
		&desc, r, w);
}

/* Runs `sh -c <line>` with PORT set to the server's port. Returns the exit
 * code (0..255), 128+signal if the shell was killed, -1 if it could not run.
 * All output is drained (so the child never blocks on a full pipe); at most
 * outlen-1 bytes are kept, NUL-terminated. */
int kr_sh(const struct kr_srv *s, char *out, size_t outlen, const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	char port[16];
	snprintf(port, sizeof(port), "%d", s->port);
	setenv("PORT", port, 1);
	setenv("HOST", h_srv_host(s), 1);
	fflush(NULL);
	FILE *p = popen(line, "r");
	free(line);
	if (p == NULL)
		return -1;
	size_t have = 0;
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (out != NULL && have + 1 < outlen) {
			size_t take = outlen - 1 - have;
			if (take > got)
				take = got;
			memcpy(out + have, chunk, take);
			have += take;
		}
	}
	if (out != NULL && outlen > 0)
		out[have] = '\0';
	int status = pclose(p);
	if (status == -1)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* ------------------------------------------------ raw socket helpers */

int kr_raw_connect(const struct kr_srv *s)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	cr_assert(inet_pton(AF_INET, h_srv_host(s), &sa.sin_addr) == 1, "KR_HOST=%s is not an IPv4 address",
		  h_srv_host(s));
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	/* A server that neither reads nor closes fails the test, not the run. */
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

void kr_raw_send(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		cr_assert(n > 0, "write to server: %s", n < 0 ? strerror(errno) : "0 bytes");
		buf += n;
		len -= (size_t)n;
	}
}

void kr_raw_sends(int fd, const char *s)
{
	kr_raw_send(fd, s, strlen(s));
}

long kr_raw_value_len(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	if (len == 0 || nl == NULL)
		return 0;
	long head = nl - buf + 1;
	long n = strtol(buf + 1, NULL, 10);
	long elems;
	switch (buf[0]) {
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		return head;
	case '$': case '!': case '=':
		if (n < 0)
			return head;
		return (size_t)(head + n + 2) <= len ? head + n + 2 : 0;
	case '*': case '~': case '>':
		elems = n;
		break;
	case '%': case '|':
		elems = 2 * n;
		break;
	default:
		return -1;
	}
	long off = head;
	for (long i = 0; i < elems; i++) {
		long l = kr_raw_value_len(buf + off, len - (size_t)off);
		if (l <= 0)
			return l;
		off += l;
	}
	if (buf[0] == '|') {
		long l = kr_raw_value_len(buf + off, len - (size_t)off);
		return l <= 0 ? l : off + l;
	}
	return off;
}

char *kr_raw_read(int fd, int nreplies, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		size_t off = 0;
		int have = 0;
		while (have < nreplies) {
			long l = kr_raw_value_len(buf + off, len - off);
			cr_assert(l >= 0, "malformed reply from server: %.*s", (int)len, buf);
			if (l == 0)
				break;
			off += (size_t)l;
			have++;
		}
		if (have == nreplies) {
			buf[off] = '\0';
			if (outlen != NULL)
				*outlen = off;
			return buf;
		}
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		cr_assert(n > 0, "expected %d replies, connection gave %s after %zu bytes: %.*s",
			  nreplies, n == 0 ? "EOF" : strerror(errno), len, (int)(len > 300 ? 300 : len), buf);
		len += (size_t)n;
	}
}

void kr_raw_expect(int fd, const char *req, int nreplies, const char *want)
{
	kr_raw_sends(fd, req);
	size_t len;
	char *got = kr_raw_read(fd, nreplies, &len);
	cr_assert(len == strlen(want) && memcmp(got, want, len) == 0,
		  "request %.200s\nexpected: %s\ngot:      %s", req, want, got);
	free(got);
}

/* 1 if the server closed the connection with no further bytes. */
int kr_raw_closed(int fd)
{
	char b[256];
	ssize_t n = read(fd, b, sizeof(b));
	if (n > 0)
		cr_assert_fail("expected the connection closed, got more bytes: %.*s", (int)n, b);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* ------------------------------------------------------------ key slots */

/* Redis Cluster slot of a key (CRC16-XMODEM of its hash tag, & 16383),
 * written here independently of the server's cluster/slot.c so the tests
 * check the server against the rule, not against itself. */
unsigned kr_key_slot(const char *key)
{
	size_t len = strlen(key);
	const char *open = memchr(key, '{', len);
	if (open != NULL) {
		const char *close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1) {
			key = open + 1;
			len = (size_t)(close - open - 1);
		}
	}
	unsigned crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned)(unsigned char)key[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
	}
	return crc & 16383;
}

/* ------------------------------------------------ text buffers, rendering */

void kr_sb_add(struct kr_sb *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void kr_sb_fmt(struct kr_sb *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	kr_sb_add(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void kr_sb_reset(struct kr_sb *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void kr_render(struct kr_sb *b, const redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STATUS: kr_sb_fmt(b, "+%s", r->str); break;
	case REDIS_REPLY_ERROR: kr_sb_fmt(b, "-%s", r->str); break;
	case REDIS_REPLY_INTEGER: kr_sb_fmt(b, ":%lld", r->integer); break;
	case REDIS_REPLY_NIL: kr_sb_fmt(b, "nil"); break;
	case REDIS_REPLY_STRING:
		kr_sb_add(b, "$", 1);
		kr_sb_add(b, r->str, r->len);
		break;
	case REDIS_REPLY_ARRAY:
		kr_sb_fmt(b, "*%zu[", r->elements);
		for (size_t i = 0; i < r->elements; i++) {
			if (i)
				kr_sb_add(b, ",", 1);
			kr_render(b, r->element[i]);
		}
		kr_sb_add(b, "]", 1);
		break;
	default:
		kr_sb_fmt(b, "?type%d", r->type);
	}
}

/* ------------------------------------------------ shared test fixtures */

void kr_srv_start_client(struct kr_srv *s, redisContext **c, const char *const *extra_args)
{
	kr_srv_start(s, extra_args);
	*c = kr_connect(s);
}

void kr_srv_stop_client(struct kr_srv *s, redisContext **c)
{
	if (*c != NULL)
		redisFree(*c);
	*c = NULL;
	cr_expect(kr_srv_alive(s), "server died during the test");
	kr_srv_stop(s);
}

/* Put back (or remove) an environment variable saved by strdup. */
static void h_restore_env(const char *name, char *saved)
{
	if (saved) {
		setenv(name, saved, 1);
		free(saved);
	} else {
		unsetenv(name);
	}
}

/* kr_srv_start reads the binary from the environment, which belongs to this
 * forked test process alone, so it is switched for the one call. */
void kr_srv_start_redis(struct kr_srv *s, const char *const *extra_args)
{
	const char *kind = getenv("KR_SERVER_KIND"), *server = getenv("KR_SERVER");
	const char *redis = getenv("KR_REDIS_SERVER");
	char *saved_kind = kind ? strdup(kind) : NULL, *saved_server = server ? strdup(server) : NULL;

	setenv("KR_SERVER_KIND", "redis", 1);
	setenv("KR_SERVER", redis && *redis ? redis : "/usr/bin/redis-server", 1);
	kr_srv_start(s, extra_args);
	h_restore_env("KR_SERVER_KIND", saved_kind);
	h_restore_env("KR_SERVER", saved_server);
}

void kr_sleep_ms(int ms)
{
	h_sleep_ms(ms);
}

double kr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void kr_key_on_shard_of(char *out, size_t outlen, const char *prefix, unsigned shard,
			unsigned nshards, int nth)
{
	/* Slots spread evenly, so a shard has a key among the first few
	 * dozen; the bound only turns a bad argument into a failure. */
	for (int i = 0; i < 1000000; i++) {
		snprintf(out, outlen, "%s%d", prefix, i);
		if (kr_key_slot(out) % nshards == shard && nth-- == 0)
			return;
	}
	cr_assert_fail("no key \"%s<i>\" on shard %u of %u", prefix, shard, nshards);
}

void kr_key_on_shard(char *out, size_t outlen, const char *prefix, unsigned shard, int nth)
{
	kr_key_on_shard_of(out, outlen, prefix, shard, 3, nth);
}

redisReply *kr_words(redisContext *c, const char *line)
{
	size_t n = strlen(line), maxw = 1;
	char *buf = malloc(n + 1), *save = NULL;
	const char **argv;
	size_t *lens;
	int argc = 0;
	redisReply *r;

	for (size_t i = 0; i < n; i++)
		maxw += line[i] == ' ';
	argv = malloc(maxw * sizeof(*argv));
	lens = malloc(maxw * sizeof(*lens));
	cr_assert(buf && argv && lens, "out of memory");
	memcpy(buf, line, n + 1);
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "''") == 0)
			w[0] = '\0';
		argv[argc] = w;
		lens[argc] = strlen(w);
		argc++;
	}
	r = kr_cmdv(c, argc, argv, lens);
	free(lens);
	free(argv);
	free(buf);
	return r;
}

void kr_expect_render(redisContext *c, const char *line, const char *want)
{
	struct kr_sb b = { 0 };
	redisReply *r = kr_words(c, line);

	kr_render(&b, r);
	cr_assert(strcmp(b.s, want) == 0, "%s\n  want: %s\n  got:  %s", line, want, b.s);
	free(b.s);
	freeReplyObject(r);
}

void kr_run_steps(redisContext *c, const struct kr_step *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kr_expect_render(c, st[i].cmd, st[i].want);
}

int kr_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *kr_sorted_elements(const redisReply *r)
{
	char **v = calloc(r->elements + 1, sizeof(*v));
	struct kr_sb b = { 0 };

	cr_assert_not_null(v);
	for (size_t i = 0; i < r->elements; i++) {
		cr_assert_eq(r->element[i]->type, REDIS_REPLY_STRING);
		v[i] = r->element[i]->str;
	}
	qsort(v, r->elements, sizeof(*v), kr_cmp_str);
	kr_sb_add(&b, "", 0);
	for (size_t i = 0; i < r->elements; i++) {
		if (i)
			kr_sb_add(&b, ",", 1);
		kr_sb_add(&b, v[i], strlen(v[i]));
	}
	free(v);
	return b.s;
}

void kr_expect_sorted(redisContext *c, const char *line, const char *want)
{
	redisReply *r = kr_words(c, line);
	char *got;

	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s: type %d (%s)", line, r->type,
		     r->type == REDIS_REPLY_ERROR ? r->str : "");
	got = kr_sorted_elements(r);
	cr_assert(strcmp(got, want) == 0, "%s\n  want: %s\n  got:  %s", line, want, got);
	free(got);
	freeReplyObject(r);
}

void kr_expect_encoding(redisContext *c, const char *key, const char *enc)
{
	redisReply *r = kr_cmd(c, "OBJECT ENCODING %s", key);

	cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, enc) == 0,
		  "OBJECT ENCODING %s: want %s, got type %d '%s'", key, enc, r->type,
		  r->str ? r->str : "");
	freeReplyObject(r);
}

void kr_set_bytes(redisContext *c, const char *key, const void *val, size_t len)
{
	redisReply *r = kr_cmd(c, "SET %s %b", key, val, len);

	cr_assert(r->type == REDIS_REPLY_STATUS, "SET %s failed", key);
	freeReplyObject(r);
}

void kr_expect_bytes(redisContext *c, const char *key, const void *want, size_t len)
{
	redisReply *r = kr_cmd(c, "GET %s", key);

	cr_assert(r->type == REDIS_REPLY_STRING, "GET %s: not a string (type %d)", key, r->type);
	cr_assert(r->len == len && memcmp(r->str, want, len) == 0,
		  "GET %s: %zu bytes, want %zu / content differs", key, r->len, len);
	freeReplyObject(r);
}

void kr_make_nonstring(redisContext *c, const char *key)
{
	static const char *const tries[] = { "LPUSH %s x", "SADD %s x", "HSET %s f v",
					     "ZADD %s 1 x" };

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		redisReply *r = kr_cmd(c, tries[i], key);
		int ok = r->type == REDIS_REPLY_INTEGER;

		freeReplyObject(r);
		if (ok)
			return;
	}
	cr_assert_fail("no collection command available to make a non-string key");
}

void kr_expect_same(redisContext *a, redisContext *b, int argc, const char **argv,
		    const size_t *lens)
{
	redisReply *ra = kr_cmdv(a, argc, argv, lens), *rb = kr_cmdv(b, argc, argv, lens);
	struct kr_sb sa = { 0 }, sb = { 0 }, cmd = { 0 };

	kr_render(&sa, ra);
	kr_render(&sb, rb);
	for (int i = 0; i < argc; i++)
		kr_sb_fmt(&cmd, "%s%.*s", i ? " " : "", (int)lens[i], argv[i]);
	cr_assert(sa.len == sb.len && memcmp(sa.s, sb.s, sa.len) == 0,
		  "%.300s\n  server: %.300s\n  redis:  %.300s", cmd.s, sa.s, sb.s);
	freeReplyObject(ra);
	freeReplyObject(rb);
	free(sa.s);
	free(sb.s);
	free(cmd.s);
}

void kr_expect_samef(redisContext *a, redisContext *b, const char *fmt, ...)
{
	char line[512];
	const char *argv[64];
	size_t lens[64];
	int argc = 0;
	char *save = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		cr_assert(argc < 64, "too many words: %s", fmt);
		argv[argc] = w;
		lens[argc++] = strlen(w);
	}
	kr_expect_same(a, b, argc, argv, lens);
}

int kr_raw_resp3(const struct kr_srv *s)
{
	int fd = kr_raw_connect(s);
	size_t len;
	char *hello;

	kr_raw_sends(fd, "HELLO 3\r\n");
	hello = kr_raw_read(fd, 1, &len);
	cr_assert(hello[0] == '%', "HELLO 3: %s", hello);
	free(hello);
	return fd;
}
