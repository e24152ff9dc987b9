/* server/log.c — the server log, in Redis's line format:
 *
 *   <pid>:M <dd> <Mon> <yyyy> <hh>:<mm>:<ss>.<mmm> <c> <message>
 *
 * with <c> '.' debug, '-' verbose, '*' notice, '#' warning. Lines go to
 * stdout, or are appended to the log file opened once by srv_log_init.
 *
 * Any thread may log: each line is formatted on the caller's stack and
 * handed to the kernel with a single write(2), and the log fd is opened with
 * O_APPEND, so lines from several shards never interleave. A message below
 * the current level costs one relaxed atomic load. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Longest message kept; longer ones are cut and end in "...". */
#define SRV_LOG_MSG_MAX 2048

static atomic_int srv_log_level = LL_NOTICE;
static atomic_int srv_log_fd = STDOUT_FILENO;

/* Open the log: logfile "" or NULL means stdout. Call at start-up, before
 * other threads log (a previous file fd is closed here). If the file cannot
 * be opened the log falls back to stderr and says why there. */
void srv_log_init(const char *logfile, int level)
{
	int fd = STDOUT_FILENO;

	if (logfile && logfile[0]) {
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			int e = errno;
			atomic_store(&srv_log_fd, STDERR_FILENO);
			srv_log_set_level(level);
			srv_log(LL_WARNING, "Can't open the log file %s: %s; logging to stderr",
				logfile, strerror(e));
			return;
		}
	}
	int old = atomic_exchange(&srv_log_fd, fd);
	if (old > STDERR_FILENO && old != fd)
		close(old);
	srv_log_set_level(level);
}

void srv_log_set_level(int level)
{
	if (level < LL_DEBUG)
		level = LL_DEBUG;
	if (level > LL_NOTHING)
		level = LL_NOTHING;
	atomic_store_explicit(&srv_log_level, level, memory_order_relaxed);
}

void srv_log(int level, const char *fmt, ...)
{
	static const char marks[] = { '.', '-', '*', '#' };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	/* "nothing" silences the log; a message is never logged at it. */
	if (level < LL_DEBUG || level >= LL_NOTHING ||
	    level < atomic_load_explicit(&srv_log_level, memory_order_relaxed))
		return;

	char line[SRV_LOG_MSG_MAX + 64];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%d:M %02d %s %04d %02d:%02d:%02d.%03d %c ",
			 (int)getpid(), tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
			 marks[level]);
	if (n < 0 || n >= 64)
		return;         /* cannot happen: the header is about 40 bytes */

	size_t head = (size_t)n;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + head, SRV_LOG_MSG_MAX + 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = head + (size_t)m;
	if ((size_t)m > SRV_LOG_MSG_MAX) {
		len = head + SRV_LOG_MSG_MAX;
		memcpy(line + len - 3, "...", 3);
	}
	line[len++] = '\n';

	int fd = atomic_load_explicit(&srv_log_fd, memory_order_relaxed);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, line + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;         /* nowhere left to report it */
		}
		off += (size_t)w;
	}
}
