/* keyrail-server: parse the configuration, start the shards, wait for a
 * shutdown request (SIGTERM, SIGINT or SHUTDOWN), exit cleanly.
 *
 * Usage, as redis-server: keyrail-server [config-file] [--directive value ...] */
#include "server/server.h"
#include "shards/shard.h"
#include "shards/snap.h"
#include "shards/replclient.h"
#include "repl/wstream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ./keyrail-server [/path/to/keyrail.conf] [options] [-]\n"
		"       ./keyrail-server - (read config from stdin)\n"
		"       ./keyrail-server -v or --version\n"
		"       ./keyrail-server -h or --help\n\n"
		"Examples:\n"
		"       ./keyrail-server (run the server with default config)\n"
		"       ./keyrail-server /etc/keyrail/6379.conf\n"
		"       ./keyrail-server --port 7777 --shards 2\n"
		"       ./keyrail-server /etc/mykeyrail.conf --loglevel verbose\n");
}

static void daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid > 0)
		exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		printf("keyrail server v=%s redis_compat=%s bits=%d\n", KR_SERVER_VERSION, KR_VERSION,
		       (int)(sizeof(void *) * 8));
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}

	/* Heap-allocated: cfg_free() releases the struct with its fields. */
	struct cfg *cfgp = calloc(1, sizeof(*cfgp));
	char err[1024];
	if (!cfgp)
		return 1;
	cfg_defaults(cfgp);
	if (cfg_load_args(cfgp, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR (keyrail %s) ***\n%s\n",
			KR_SERVER_VERSION, err);
		cfg_free(cfgp);
		return 1;
	}
	struct cfg cfg = *cfgp;   /* read-only view for the rest of main */
	if (cfg.daemonize)
		daemonize();
	if (cfg.dir && cfg.dir[0] && chdir(cfg.dir) != 0) {
		fprintf(stderr, "Can't chdir to '%s': %s\n", cfg.dir, strerror(errno));
		cfg_free(cfgp);
		return 1;
	}
	srv_log_init(cfg.logfile, cfg.loglevel);
	srv_log(LL_WARNING, "oO0OoO0OoO0Oo keyrail is starting oO0OoO0OoO0Oo");
	srv_log(LL_WARNING, "keyrail version=%s (Redis %s compatible), bits=%d, pid=%ld, just started",
		KR_SERVER_VERSION, KR_VERSION, (int)(sizeof(void *) * 8), (long)getpid());
	if (cfg.config_file)
		srv_log(LL_WARNING, "Configuration loaded");
	else
		srv_log(LL_WARNING, "Warning: no config file specified, using the default config. "
			"In order to specify a config file use %s /path/to/keyrail.conf", argv[0]);

	/* Signals are taken synchronously by this thread; shard threads
	 * inherit the blocked mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The write stream and the AOF start before the shards: no write goes
	 * unrecorded, and clients get -LOADING until the AOF is replayed.
	 * (The shard count as shard_start_all() works it out.) */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nshards = cfg.shards > 0 ? (unsigned)cfg.shards : ncpu > 0 ? (unsigned)ncpu : 1;
	const char *werr = NULL;
	if (nshards > 64)
		nshards = 64;
	if (wstream_init(nshards, &werr) != 0) {
		srv_log(LL_WARNING, "%s", werr);
		cfg_free(cfgp);
		return 1;
	}
	replclient_boot(&cfg);
	if (aof_start(&cfg, err, sizeof(err)) != 0) {
		srv_log(LL_WARNING, "%s", err);
		wstream_shutdown();
		cfg_free(cfgp);
		return 1;
	}
	if (shard_start_all(&cfg, err, sizeof(err)) != 0) {
		srv_log(LL_WARNING, "Failed listening on port %d (tcp), aborting: %s", cfg.port, err);
		cfg_free(cfgp);
		return 1;
	}
	srv_log(LL_NOTICE, "keyrail %s, standalone mode, port %d, shards %u, PID: %ld",
		KR_SERVER_VERSION, cfg.port, shard_count(), (long)getpid());
	srv_log(LL_NOTICE, "Running mode=standalone, port=%d.", cfg.port);
	if (cfg.pidfile && cfg.pidfile[0] && write_pidfile(cfg.pidfile) != 0)
		srv_log(LL_WARNING, "Failed to write PID file: %s", strerror(errno));
	srv_log(LL_NOTICE, "Server initialized");
	srv_log(LL_NOTICE, "Ready to accept connections tcp");

	bool signalled = false;
	while (!shard_shutdown_requested()) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT && signalled) {
			/* As Redis: a second SIGINT does not wait for the save. */
			srv_log(LL_WARNING, "You insist... exiting now.");
			shard_request_shutdown(1);
		} else if (sig == SIGTERM || sig == SIGINT) {
			srv_log(LL_WARNING, "Received %s scheduling shutdown...",
				sig == SIGTERM ? "SIGTERM" : "SIGINT");
			signalled = true;
			snap_sigterm();   /* saves first if save rules are set */
		}
	}
	int status = shard_wait_all();
	wstream_shutdown();   /* the last records are written (and fsynced) */
	if (cfg.pidfile && cfg.pidfile[0])
		unlink(cfg.pidfile);
	srv_log(LL_WARNING, "keyrail is now ready to exit, bye bye...");
	cfg_free(cfgp);
	return status;
}
