/* server/config.c — configuration: defaults, redis.conf-style files, the
 * command line, CONFIG GET and CONFIG SET.
 *
 * Every directive is one row of cfg_defs: its name (and alias), the kind of
 * value, the struct cfg field it lives in, its range, and whether CONFIG SET
 * may change it. Parsing, printing, CONFIG GET and CONFIG SET all read that
 * table, so adding a directive is adding a row (and a field in server.h).
 *
 * Replication is not implemented yet. Its directives are known by name and
 * refused with a "... is not supported yet" reason rather than the generic
 * "Bad directive". The AOF directives are real (repl/aof.c), and so are the
 * snapshot ones (save, dbfilename, stop-writes-on-bgsave-error:
 * shards/snap.c).
 *
 * Nothing here is shared between threads: start-up parses one struct cfg,
 * each shard gets a cfg_dup of it, and CONFIG SET is applied by each shard to
 * its own copy. */
#include "server/server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_INCLUDE_DEPTH_MAX 16  /* bounds include recursion (and cycles) */
#define CFG_BIND_MAX 16           /* as Redis's CONFIG_BINDADDR_MAX */
#define CFG_REASON_MAX 2048

enum cfg_kind {
	CK_BOOL,        /* bool field, yes|no */
	CK_INT,         /* int field, strict integer in [min, max] */
	CK_LL,          /* long long field, strict integer in [min, max] */
	CK_MEM,         /* long long field, memory value in [min, max] */
	CK_ENUM,        /* int field, one of enums[] */
	CK_STR,         /* char * field */
	CK_BIND,        /* char ** field: 1..CFG_BIND_MAX addresses */
	CK_DIR,         /* char * field: stored as an absolute path */
	CK_SAVE,        /* save rules: cfg->save[0..save_n) */
	CK_MASTER,      /* char * field: "host port" (replicaof), NULL for "no one" */
	CK_OBL,         /* client-output-buffer-limit: cfg->obl[CFG_OBL_*] */
};

enum {
	CF_MUTABLE    = 1 << 0,  /* CONFIG SET may change it */
	CF_EMPTY_NULL = 1 << 1,  /* CK_STR: "" is stored as NULL (not set) */
	CF_LOGFILE    = 1 << 2,  /* CK_STR: must be openable for appending */
	CF_LOGLEVEL   = 1 << 3,  /* CONFIG SET also changes the live log level */
	CF_AOFNAME    = 1 << 4,  /* CK_STR: a name inside dir, not a path */
	CF_DBNAME     = 1 << 5,  /* CK_STR: dbfilename, a name inside dir */
};

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_def {
	const char *name;
	const char *alias;              /* second name (KeyDB's), or NULL */
	enum cfg_kind kind;
	unsigned flags;
	size_t off;                     /* offset of the field in struct cfg */
	long long min, max;             /* CK_INT, CK_LL, CK_MEM */
	const struct cfg_enum *enums;   /* CK_ENUM, NULL-name terminated */
};

static const struct cfg_enum cfg_loglevels[] = {
	{ "debug", LL_DEBUG }, { "verbose", LL_VERBOSE }, { "notice", LL_NOTICE },
	{ "warning", LL_WARNING }, { "nothing", LL_NOTHING }, { NULL, 0 },
};

static const struct cfg_enum cfg_debugcmd[] = {
	{ "no", DEBUGCMD_NO }, { "yes", DEBUGCMD_YES }, { "local", DEBUGCMD_LOCAL },
	{ NULL, 0 },
};

static const struct cfg_enum cfg_dataplanes[] = {
	{ "kernel", DATAPLANE_KERNEL }, { "dpdk", DATAPLANE_DPDK }, { NULL, 0 },
};

static const struct cfg_enum cfg_appendfsync[] = {
	{ "always", AOF_FSYNC_ALWAYS }, { "everysec", AOF_FSYNC_EVERYSEC }, { "no", AOF_FSYNC_NO },
	{ NULL, 0 },
};

#define MB (1024LL * 1024)
#define F(field) offsetof(struct cfg, field)

static const struct cfg_def cfg_defs[] = {
	{ "bind", NULL, CK_BIND, 0, F(bind), 0, 0, NULL },
	{ "port", NULL, CK_INT, 0, F(port), 0, 65535, NULL },
	{ "shards", "server-threads", CK_INT, 0, F(shards), 0, 128, NULL },
	{ "requirepass", NULL, CK_STR, CF_MUTABLE | CF_EMPTY_NULL, F(requirepass), 0, 0, NULL },
	{ "protected-mode", NULL, CK_BOOL, CF_MUTABLE, F(protected_mode), 0, 0, NULL },
	{ "maxclients", NULL, CK_LL, CF_MUTABLE, F(maxclients), 1, LLONG_MAX, NULL },
	{ "timeout", NULL, CK_LL, CF_MUTABLE, F(timeout_s), 0, INT_MAX, NULL },
	{ "tcp-keepalive", NULL, CK_INT, CF_MUTABLE, F(tcp_keepalive_s), 0, INT_MAX, NULL },
	{ "tcp-backlog", NULL, CK_INT, 0, F(tcp_backlog), 0, INT_MAX, NULL },
	/* Redis allows up to INT_MAX; every shard allocates a table per
	 * database, so keyrail caps it where that is still cheap. */
	{ "databases", NULL, CK_INT, 0, F(databases), 1, 1000000, NULL },
	{ "loglevel", NULL, CK_ENUM, CF_MUTABLE | CF_LOGLEVEL, F(loglevel), 0, 0, cfg_loglevels },
	{ "logfile", NULL, CK_STR, CF_LOGFILE, F(logfile), 0, 0, NULL },
	{ "daemonize", NULL, CK_BOOL, 0, F(daemonize), 0, 0, NULL },
	{ "pidfile", NULL, CK_STR, CF_EMPTY_NULL, F(pidfile), 0, 0, NULL },
	{ "dir", NULL, CK_DIR, 0, F(dir), 0, 0, NULL },
	{ "proto-max-bulk-len", NULL, CK_MEM, CF_MUTABLE, F(proto_max_bulk_len), MB, LLONG_MAX, NULL },
	{ "client-query-buffer-limit", NULL, CK_MEM, CF_MUTABLE, F(client_query_buffer_limit),
	  MB, LLONG_MAX, NULL },
	{ "busy-poll", NULL, CK_BOOL, 0, F(busy_poll), 0, 0, NULL },
	{ "enable-debug-command", NULL, CK_ENUM, 0, F(enable_debug_command), 0, 0, cfg_debugcmd },
	{ "slowlog-log-slower-than", NULL, CK_LL, CF_MUTABLE, F(slowlog_log_slower_than_us),
	  -1, LLONG_MAX, NULL },
	{ "slowlog-max-len", NULL, CK_LL, CF_MUTABLE, F(slowlog_max_len), 0, LLONG_MAX, NULL },
	{ "hz", NULL, CK_INT, CF_MUTABLE, F(hz), 1, 500, NULL },
	{ "list-max-listpack-size", "list-max-ziplist-size", CK_LL, CF_MUTABLE,
	  F(list_max_listpack_size), -5, INT_MAX, NULL },
	{ "list-compress-depth", NULL, CK_LL, CF_MUTABLE, F(list_compress_depth), 0, INT_MAX, NULL },
	{ "hash-max-listpack-entries", "hash-max-ziplist-entries", CK_LL, CF_MUTABLE,
	  F(hash_max_listpack_entries), 0, LLONG_MAX, NULL },
	{ "hash-max-listpack-value", "hash-max-ziplist-value", CK_LL, CF_MUTABLE,
	  F(hash_max_listpack_value), 0, LLONG_MAX, NULL },
	{ "set-max-intset-entries", NULL, CK_LL, CF_MUTABLE, F(set_max_intset_entries), 0, LLONG_MAX, NULL },
	{ "set-max-listpack-entries", NULL, CK_LL, CF_MUTABLE, F(set_max_listpack_entries), 0, LLONG_MAX, NULL },
	{ "set-max-listpack-value", NULL, CK_LL, CF_MUTABLE, F(set_max_listpack_value), 0, LLONG_MAX, NULL },
	{ "zset-max-listpack-entries", "zset-max-ziplist-entries", CK_LL, CF_MUTABLE,
	  F(zset_max_listpack_entries), 0, LLONG_MAX, NULL },
	{ "zset-max-listpack-value", "zset-max-ziplist-value", CK_LL, CF_MUTABLE,
	  F(zset_max_listpack_value), 0, LLONG_MAX, NULL },
	{ "hll-sparse-max-bytes", NULL, CK_MEM, CF_MUTABLE, F(hll_sparse_max_bytes), 0, LLONG_MAX, NULL },
	{ "busy-reply-threshold", "lua-time-limit", CK_LL, CF_MUTABLE, F(busy_reply_threshold_ms),
	  0, LLONG_MAX, NULL },
	{ "rdbcompression", NULL, CK_BOOL, CF_MUTABLE, F(rdbcompression), 0, 0, NULL },
	{ "rdbchecksum", NULL, CK_BOOL, 0, F(rdbchecksum), 0, 0, NULL },
	/* DPDK data plane: read once at start-up (dataplane/dpdk.c checks them) */
	{ "dataplane", NULL, CK_ENUM, 0, F(dataplane), 0, 0, cfg_dataplanes },
	{ "dpdk-eal-args", NULL, CK_STR, CF_EMPTY_NULL, F(dpdk_eal_args), 0, 0, NULL },
	{ "dpdk-port", NULL, CK_INT, 0, F(dpdk_port), 0, 1023, NULL },
	{ "dpdk-ip", NULL, CK_STR, CF_EMPTY_NULL, F(dpdk_ip), 0, 0, NULL },
	{ "dpdk-gateway", NULL, CK_STR, CF_EMPTY_NULL, F(dpdk_gateway), 0, 0, NULL },
	{ "dpdk-mtu", NULL, CK_INT, 0, F(dpdk_mtu), 576, 9000, NULL },
	{ "dpdk-rx-desc", NULL, CK_INT, 0, F(dpdk_rx_desc), 64, 32768, NULL },
	{ "dpdk-tx-desc", NULL, CK_INT, 0, F(dpdk_tx_desc), 64, 32768, NULL },
	{ "dpdk-mbufs", NULL, CK_INT, 0, F(dpdk_mbufs), 2048, 16777216, NULL },
	/* Test-only: drop/duplicate/reorder/delay frames between the PMD and
	 * the stack (dataplane/dpdk.c parses and checks it at start-up). */
	{ "dpdk-fault-inject", NULL, CK_STR, CF_EMPTY_NULL, F(dpdk_fault_inject), 0, 0, NULL },
	/* RDB snapshots (shards/snap.c) */
	{ "save", NULL, CK_SAVE, CF_MUTABLE, 0, 0, 0, NULL },
	/* (Redis 7 protects it: CONFIG SET could aim it at other files in dir.) */
	{ "dbfilename", NULL, CK_STR, CF_DBNAME, F(dbfilename), 0, 0, NULL },
	{ "stop-writes-on-bgsave-error", NULL, CK_BOOL, CF_MUTABLE, F(stop_writes_on_bgsave_error),
	  0, 0, NULL },
	/* The AOF and the write stream (repl/aof.c, repl/wstream.c). */
	{ "appendonly", NULL, CK_BOOL, CF_MUTABLE, F(appendonly), 0, 0, NULL },
	{ "appendfilename", NULL, CK_STR, CF_AOFNAME, F(appendfilename), 0, 0, NULL },
	{ "appenddirname", NULL, CK_STR, CF_AOFNAME, F(appenddirname), 0, 0, NULL },
	{ "appendfsync", NULL, CK_ENUM, CF_MUTABLE, F(appendfsync), 0, 0, cfg_appendfsync },
	{ "aof-load-truncated", NULL, CK_BOOL, CF_MUTABLE, F(aof_load_truncated), 0, 0, NULL },
	{ "aof-use-rdb-preamble", NULL, CK_BOOL, CF_MUTABLE, F(aof_use_rdb_preamble), 0, 0, NULL },
	{ "repl-backlog-size", NULL, CK_MEM, 0, F(repl_backlog_size), 1, LLONG_MAX, NULL },
	/* Replication, replica side (shards/replclient.c). */
	{ "replicaof", "slaveof", CK_MASTER, 0, F(replicaof), 0, 0, NULL },
	{ "masterauth", NULL, CK_STR, CF_MUTABLE | CF_EMPTY_NULL, F(masterauth), 0, 0, NULL },
	{ "masteruser", NULL, CK_STR, CF_MUTABLE | CF_EMPTY_NULL, F(masteruser), 0, 0, NULL },
	{ "replica-read-only", "slave-read-only", CK_BOOL, CF_MUTABLE, F(replica_read_only),
	  0, 0, NULL },
	{ "replica-serve-stale-data", "slave-serve-stale-data", CK_BOOL, CF_MUTABLE,
	  F(replica_serve_stale_data), 0, 0, NULL },
	{ "repl-timeout", NULL, CK_INT, CF_MUTABLE, F(repl_timeout_s), 1, INT_MAX, NULL },
	{ "min-replicas-to-write", "min-slaves-to-write", CK_INT, CF_MUTABLE,
	  F(min_replicas_to_write), 0, INT_MAX, NULL },
	{ "min-replicas-max-lag", "min-slaves-max-lag", CK_INT, CF_MUTABLE,
	  F(min_replicas_max_lag_s), 0, INT_MAX, NULL },
	{ "repl-backlog-ttl", NULL, CK_INT, CF_MUTABLE, F(repl_backlog_ttl_s), 0, INT_MAX, NULL },
	{ "repl-diskless-sync", NULL, CK_BOOL, CF_MUTABLE, F(repl_diskless_sync), 0, 0, NULL },
	{ "repl-diskless-sync-delay", NULL, CK_INT, CF_MUTABLE, F(repl_diskless_sync_delay_s),
	  0, INT_MAX, NULL },
	{ "repl-diskless-sync-max-replicas", NULL, CK_INT, CF_MUTABLE,
	  F(repl_diskless_sync_max_replicas), 0, INT_MAX, NULL },
	{ "client-output-buffer-limit", NULL, CK_OBL, CF_MUTABLE, 0, 0, 0, NULL },
};

#define CFG_NDEFS (sizeof cfg_defs / sizeof cfg_defs[0])

/* Directives Redis has that need persistence or replication. */
static const char *const cfg_persistence_only[] = {
	"rdb-del-sync-files", NULL,
};
static const char *const cfg_replication_only[] = {
	NULL,
};

/* A parsed save directive. */
struct cfg_save_val {
	int n;
	bool replace;                 /* drop the rules held before */
	struct cfg_save_rule r[CFG_SAVE_MAX];
};

/* A parsed client-output-buffer-limit: the classes it names. */
struct cfg_obl_val {
	bool set[3];
	struct cfg_obl v[3];
};

/* A parsed value, owned until stored. */
union cfg_val {
	bool b;
	long long ll;
	char *s;
	char **list;
	struct cfg_save_val save;     /* CK_SAVE */
	struct cfg_obl_val obl;       /* CK_OBL */
};

static void cfg_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void cfg_list_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* Copy n strings into a new NULL-terminated list; NULL on ENOMEM. */
static char **cfg_list_dup(char *const *v, size_t n)
{
	char **list = calloc(n + 1, sizeof *list);
	if (!list)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		list[i] = strdup(v[i]);
		if (!list[i]) {
			cfg_list_free(list);
			return NULL;
		}
	}
	return list;
}

static size_t cfg_list_len(char *const *list)
{
	size_t n = 0;
	while (list && list[n])
		n++;
	return n;
}

/* ---- value parsers: 0 or -1 with why set; Redis 7's wording ---- */

/* Strict decimal like Redis's string2ll: optional '-', no '+', no spaces,
 * no leading zeros, no trailing bytes, no overflow. */
static bool cfg_parse_ll(const char *s, long long *out)
{
	bool neg = false;
	unsigned long long v = 0;
	unsigned long long lim = (unsigned long long)LLONG_MAX;

	if (*s == '-') {
		neg = true;
		lim += 1;
		s++;
	}
	if (*s < '0' || *s > '9')
		return false;
	if (*s == '0')
		return s[1] == '\0' && !neg ? (*out = 0, true) : false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (lim - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

/* Memory value: digits with an optional unit, case-insensitive:
 * b=1, k=1000, kb=1024, m=1000^2, mb=1024^2, g=1000^3, gb=1024^3. */
static bool cfg_parse_mem(const char *s, long long *out)
{
	static const struct { const char *unit; unsigned long long mul; } units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1000 }, { "kb", 1024 },
		{ "m", 1000 * 1000 }, { "mb", 1024 * 1024 },
		{ "g", 1000ULL * 1000 * 1000 }, { "gb", 1024ULL * 1024 * 1024 },
	};
	unsigned long long v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (v > ((unsigned long long)LLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		p++;
	}
	if (p == s)
		return false;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(p, units[i].unit) == 0) {
			if (v > (unsigned long long)LLONG_MAX / units[i].mul)
				return false;
			*out = (long long)(v * units[i].mul);
			return true;
		}
	}
	return false;
}

static bool cfg_parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "yes") == 0)
		*out = true;
	else if (strcasecmp(s, "no") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* p as seen from the configured working directory: Redis chdir()s at the
 * dir line, so later relative paths (dir, logfile) are relative to the dir
 * set so far. c->dir is always absolute. Heap string or NULL (ENOMEM). */
static char *cfg_path_in_dir(const struct cfg *c, const char *p)
{
	char *out;

	if (p[0] == '/' || !c->dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", c->dir, p) < 0)
		return NULL;
	return out;
}

/* Make dir absolute now, so it means the same after main chdir()s into it
 * and CONFIG GET prints it absolute as Redis does; it must exist. */
static char *cfg_abs_dir(const struct cfg *c, const char *dir, char *why, size_t whylen)
{
	struct stat st;
	char *path, *abs = NULL;

	if (dir[0] == '\0') {
		cfg_seterr(why, whylen, "directory must not be empty");
		return NULL;
	}
	path = cfg_path_in_dir(c, dir);
	if (!path) {
		cfg_seterr(why, whylen, "out of memory");
		return NULL;
	}
	if (stat(path, &st) != 0)
		cfg_seterr(why, whylen, "can't use directory '%s': %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		cfg_seterr(why, whylen, "can't use directory '%s': %s", dir, strerror(ENOTDIR));
	else if (!(abs = realpath(path, NULL)))
		cfg_seterr(why, whylen, "can't use directory '%s': %s", dir, strerror(errno));
	free(path);
	return abs;
}

static void cfg_range_err(const struct cfg_def *d, char *why, size_t whylen)
{
	cfg_seterr(why, whylen, "argument must be between %lld and %lld inclusive", d->min, d->max);
}

/* replicaof <host> <port>, or "no one" (stored as NULL): the host and a
 * port in 0..65535 (Redis's "Invalid master port"), kept as "host port". */
static int cfg_parse_master(int n, char **v, char **out, char *why, size_t whylen)
{
	long long port;

	if (n != 2) {
		cfg_seterr(why, whylen, "wrong number of arguments");
		return -1;
	}
	if (strcasecmp(v[0], "no") == 0 && strcasecmp(v[1], "one") == 0) {
		*out = NULL;
		return 0;
	}
	if (!cfg_parse_ll(v[1], &port) || port < 0 || port > 65535) {
		cfg_seterr(why, whylen, "Invalid master port");
		return -1;
	}
	if (v[0][0] == '\0' || strchr(v[0], ' ')) {
		cfg_seterr(why, whylen, "Invalid master host");
		return -1;
	}
	if (asprintf(out, "%s %lld", v[0], port) < 0) {
		cfg_seterr(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* save: "" (no rules), or <seconds> <changes> pairs, seconds >= 1 and
 * changes >= 0, as words (a config line) or in one word separated by
 * blanks (CONFIG SET). One word (CONFIG SET, or save "") replaces the rules
 * held; a config line of pairs replaces the defaults the first time and
 * adds to the rules read before after that, as Redis does. */
static int cfg_parse_save(int n, char **v, struct cfg_save_val *out, char *why, size_t whylen)
{
	char *words[2 * CFG_SAVE_MAX + 1];
	char *copy = NULL;
	int nw = 0;

	memset(out, 0, sizeof *out);
	out->replace = n == 1;
	if (n == 1) {
		copy = strdup(v[0]);
		if (!copy) {
			cfg_seterr(why, whylen, "out of memory");
			return -1;
		}
		for (char *sp = NULL, *w = strtok_r(copy, " \t", &sp); w; w = strtok_r(NULL, " \t", &sp)) {
			if (nw == 2 * CFG_SAVE_MAX + 1)
				break;
			words[nw++] = w;
		}
	} else {
		for (int i = 0; i < n && nw < 2 * CFG_SAVE_MAX + 1; i++)
			words[nw++] = v[i];
		if (n > 2 * CFG_SAVE_MAX)
			nw = 2 * CFG_SAVE_MAX + 1;
	}
	int rc = 0;
	if (nw > 2 * CFG_SAVE_MAX) {
		cfg_seterr(why, whylen, "too many save points (at most %d)", CFG_SAVE_MAX);
		rc = -1;
	} else if (nw % 2) {
		cfg_seterr(why, whylen, "Invalid save parameters");
		rc = -1;
	}
	for (int i = 0; rc == 0 && i < nw; i += 2) {
		long long secs, changes;
		if (!cfg_parse_ll(words[i], &secs) || !cfg_parse_ll(words[i + 1], &changes) ||
		    secs < 1 || changes < 0) {
			cfg_seterr(why, whylen, "Invalid save parameters");
			rc = -1;
			break;
		}
		out->r[out->n++] = (struct cfg_save_rule){ secs, changes };
	}
	free(copy);
	return rc;
}

/* client-output-buffer-limit <class> <hard> <soft> <soft-seconds> ...: n
 * words from a config line, or one (CONFIG SET) holding them all. Only
 * the classes named change; the error texts are Redis's. */
static int cfg_parse_obl(int n, char **v, struct cfg_obl_val *out, char *why, size_t whylen)
{
	char *w[64];
	int nw = 0, rc = 0;
	char *copy = NULL;

	memset(out, 0, sizeof(*out));
	if (n == 1) {
		copy = strdup(v[0]);
		if (!copy) {
			cfg_seterr(why, whylen, "out of memory");
			return -1;
		}
		char *save = NULL;
		for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			if (nw == (int)(sizeof(w) / sizeof(w[0]))) {
				nw = -1;
				break;
			}
			w[nw++] = t;
		}
	} else if (n <= (int)(sizeof(w) / sizeof(w[0]))) {
		for (int i = 0; i < n; i++)
			w[nw++] = v[i];
	} else {
		nw = -1;
	}
	if (nw <= 0 || nw % 4 != 0) {
		cfg_seterr(why, whylen, "Wrong number of arguments in buffer limit configuration.");
		free(copy);
		return -1;
	}
	for (int i = 0; i < nw && rc == 0; i += 4) {
		int cls;
		if (strcasecmp(w[i], "normal") == 0)
			cls = CFG_OBL_NORMAL;
		else if (strcasecmp(w[i], "replica") == 0 || strcasecmp(w[i], "slave") == 0)
			cls = CFG_OBL_REPLICA;
		else if (strcasecmp(w[i], "pubsub") == 0)
			cls = CFG_OBL_PUBSUB;
		else {
			cfg_seterr(why, whylen, "Invalid client class specified in buffer limit configuration.");
			rc = -1;
			break;
		}
		struct cfg_obl o;
		if (!cfg_parse_mem(w[i + 1], &o.hard) || !cfg_parse_mem(w[i + 2], &o.soft) ||
		    !cfg_parse_ll(w[i + 3], &o.soft_s) || o.hard < 0 || o.soft < 0 || o.soft_s < 0) {
			cfg_seterr(why, whylen,
				   "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
			rc = -1;
			break;
		}
		out->set[cls] = true;
		out->v[cls] = o;
	}
	free(copy);
	return rc;
}

/* Parse the n (>= 1) value words of d into *out. On success the caller owns
 * out's heap parts (for CK_STR/CK_DIR/CK_BIND) and passes them to
 * cfg_store. On failure nothing is allocated and why holds the reason.
 * c is only read, to resolve relative paths. */
static int cfg_parse(const struct cfg *c, const struct cfg_def *d, int n, char **v,
		     union cfg_val *out, char *why, size_t whylen)
{
	long long ll;

	switch (d->kind) {
	case CK_BOOL:
		if (!cfg_parse_bool(v[0], &out->b)) {
			cfg_seterr(why, whylen, "argument must be 'yes' or 'no'");
			return -1;
		}
		return 0;
	case CK_INT:
	case CK_LL:
		if (!cfg_parse_ll(v[0], &ll)) {
			cfg_seterr(why, whylen, "argument couldn't be parsed into an integer");
			return -1;
		}
		if (ll < d->min || ll > d->max) {
			cfg_range_err(d, why, whylen);
			return -1;
		}
		out->ll = ll;
		return 0;
	case CK_MEM:
		if (!cfg_parse_mem(v[0], &ll)) {
			cfg_seterr(why, whylen, "argument must be a memory value");
			return -1;
		}
		if (ll < d->min || ll > d->max) {
			cfg_range_err(d, why, whylen);
			return -1;
		}
		out->ll = ll;
		return 0;
	case CK_ENUM:
		for (const struct cfg_enum *e = d->enums; e->name; e++) {
			if (strcasecmp(v[0], e->name) == 0) {
				out->ll = e->value;
				return 0;
			}
		}
		{
			size_t used = (size_t)snprintf(why, whylen,
					"argument(s) must be one of the following: ");
			for (const struct cfg_enum *e = d->enums; e->name && used < whylen; e++)
				used += (size_t)snprintf(why + used, whylen - used, "%s%s",
							 e->name, e[1].name ? ", " : "");
		}
		return -1;
	case CK_STR:
		if (strlen(v[0]) == 0 && (d->flags & CF_EMPTY_NULL)) {
			out->s = NULL;
			return 0;
		}
		if ((d->flags & CF_DBNAME) && (!v[0][0] || strchr(v[0], '/'))) {
			cfg_seterr(why, whylen, v[0][0] ? "dbfilename can't be a path, just a filename" :
				   "dbfilename can't be empty");
			return -1;
		}
		if ((d->flags & CF_AOFNAME) && (!v[0][0] || strchr(v[0], '/'))) {
			cfg_seterr(why, whylen, "%s can't be a path, just a %s", d->name,
				   strcmp(d->name, "appendfilename") == 0 ? "filename" : "dirname");
			return -1;
		}
		if ((d->flags & CF_LOGFILE) && v[0][0]) {
			/* Fail at the config line, not later when logging starts
			 * (as Redis, this creates the file). */
			char *path = cfg_path_in_dir(c, v[0]);
			int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
			int e = path ? errno : ENOMEM;
			free(path);
			if (fd < 0) {
				cfg_seterr(why, whylen, "can't open the log file: %s", strerror(e));
				return -1;
			}
			close(fd);
		}
		out->s = strdup(v[0]);
		if (!out->s) {
			cfg_seterr(why, whylen, "out of memory");
			return -1;
		}
		return 0;
	case CK_BIND:
		if (n > CFG_BIND_MAX) {
			cfg_seterr(why, whylen, "too many bind addresses (at most %d)", CFG_BIND_MAX);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			const char *a = v[i][0] == '-' ? v[i] + 1 : v[i];
			if (a[0] == '\0') {
				cfg_seterr(why, whylen, "bind address must not be empty");
				return -1;
			}
		}
		out->list = cfg_list_dup(v, (size_t)n);
		if (!out->list) {
			cfg_seterr(why, whylen, "out of memory");
			return -1;
		}
		return 0;
	case CK_DIR:
		out->s = cfg_abs_dir(c, v[0], why, whylen);
		return out->s ? 0 : -1;
	case CK_SAVE:
		return cfg_parse_save(n, v, &out->save, why, whylen);
	case CK_MASTER:
		return cfg_parse_master(n, v, &out->s, why, whylen);
	case CK_OBL:
		return cfg_parse_obl(n, v, &out->obl, why, whylen);
	}
	cfg_seterr(why, whylen, "internal error: unknown directive kind");
	return -1;
}

/* Store a parsed value, taking ownership of its heap parts. */
static void cfg_store(struct cfg *c, const struct cfg_def *d, union cfg_val *val)
{
	char *field = (char *)c + d->off;

	switch (d->kind) {
	case CK_BOOL:
		*(bool *)field = val->b;
		break;
	case CK_INT:
	case CK_ENUM:
		*(int *)field = (int)val->ll;
		break;
	case CK_LL:
	case CK_MEM:
		*(long long *)field = val->ll;
		break;
	case CK_STR:
	case CK_DIR:
	case CK_MASTER:
		free(*(char **)field);
		*(char **)field = val->s;
		break;
	case CK_BIND:
		cfg_list_free(*(char ***)field);
		*(char ***)field = val->list;
		break;
	case CK_SAVE:
		if (val->save.replace || !c->save_from_conf)
			c->save_n = 0;
		if (!val->save.replace)
			c->save_from_conf = true;
		for (int i = 0; i < val->save.n && c->save_n < CFG_SAVE_MAX; i++)
			c->save[c->save_n++] = val->save.r[i];
		break;
	case CK_OBL:
		for (int i = 0; i < 3; i++)
			if (val->obl.set[i])
				c->obl[i] = val->obl.v[i];
		break;
	}
}

static const struct cfg_def *cfg_find(const char *name)
{
	for (size_t i = 0; i < CFG_NDEFS; i++) {
		const struct cfg_def *d = &cfg_defs[i];
		if (strcasecmp(name, d->name) == 0 || (d->alias && strcasecmp(name, d->alias) == 0))
			return d;
	}
	return NULL;
}

/* Why a directive Redis knows is refused here, or NULL if it is unknown. */
static const char *cfg_unsupported(const char *name)
{
	for (const char *const *p = cfg_persistence_only; *p; p++)
		if (strcasecmp(name, *p) == 0)
			return "keyrail does not implement this persistence option";
	for (const char *const *p = cfg_replication_only; *p; p++)
		if (strcasecmp(name, *p) == 0)
			return "keyrail does not implement this replication option";
	if (strncasecmp(name, "repl-", 5) == 0)
		return "keyrail does not implement this replication option";
	return NULL;
}

/* Render d's value as CONFIG GET prints it: into buf, or a pointer into c,
 * or (bind) a heap string handed back in *heap for the caller to free. */
static const char *cfg_render(const struct cfg *c, const struct cfg_def *d, char *buf,
			      size_t len, char **heap)
{
	const char *field = (const char *)c + d->off;

	*heap = NULL;
	switch (d->kind) {
	case CK_BOOL:
		return *(const bool *)field ? "yes" : "no";
	case CK_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		return buf;
	case CK_LL:
	case CK_MEM:
		snprintf(buf, len, "%lld", *(const long long *)field);
		return buf;
	case CK_ENUM:
		for (const struct cfg_enum *e = d->enums; e->name; e++)
			if (e->value == *(const int *)field)
				return e->name;
		snprintf(buf, len, "%d", *(const int *)field);
		return buf;
	case CK_STR:
	case CK_DIR:
	case CK_MASTER: {
		const char *s = *(char *const *)field;
		return s ? s : "";
	}
	case CK_BIND: {
		char *const *list = *(char **const *)field;
		size_t total = 1;
		for (size_t i = 0; list && list[i]; i++)
			total += strlen(list[i]) + 1;
		char *s = malloc(total);
		if (!s)
			return "";
		size_t off = 0;
		for (size_t i = 0; list && list[i]; i++)
			off += (size_t)sprintf(s + off, "%s%s", i ? " " : "", list[i]);
		s[off] = '\0';
		*heap = s;
		return s;
	}
	case CK_SAVE: {
		char *s = malloc((size_t)c->save_n * 42 + 1);
		if (!s)
			return "";
		size_t off = 0;
		for (int i = 0; i < c->save_n; i++)
			off += (size_t)sprintf(s + off, "%s%lld %lld", i ? " " : "",
					       c->save[i].seconds, c->save[i].changes);
		s[off] = '\0';
		*heap = s;
		return s;
	}
	case CK_OBL: {
		/* Redis prints the replica class as "slave". */
		static const char *const names[3] = { "normal", "slave", "pubsub" };
		size_t cap = 3 * (7 + 3 * 21) + 1, off = 0;
		char *s = malloc(cap);
		if (!s)
			return "";
		s[0] = '\0';
		for (int i = 0; i < 3 && off < cap; i++)
			off += (size_t)snprintf(s + off, cap - off, "%s%s %lld %lld %lld", i ? " " : "",
						names[i], c->obl[i].hard, c->obl[i].soft,
						c->obl[i].soft_s);
		*heap = s;
		return s;
	}
	}
	return "";
}

/* ---- words: redis.conf line syntax ---- */

static void cfg_words_free(char **w, int n)
{
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

enum { SPLIT_OK = 0, SPLIT_UNBALANCED = -1, SPLIT_NUL = -2, SPLIT_NOMEM = -3 };

static int cfg_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Split one line into words with redis.conf quoting: words are separated
 * by whitespace; "double quotes" take \n \r \t \b \a \xHH escapes (any
 * other \c is c); 'single quotes' take only \' ; a quote may open inside a
 * word ("foo"bar" is not, but foo"bar" is foobar) and a closing quote must
 * be followed by whitespace or the end. Returns SPLIT_OK with a heap array
 * in *wordsp (free with cfg_words_free), or a SPLIT_* error. */
static int cfg_split(const char *p, size_t len, char ***wordsp, int *nwordsp)
{
	char **words = NULL;
	int n = 0, cap = 0;
	char *buf = malloc(len + 1);    /* no word is longer than the line */
	size_t i = 0;
	int rc = SPLIT_OK;

	if (!buf)
		return SPLIT_NOMEM;
	for (;;) {
		while (i < len && isspace((unsigned char)p[i]))
			i++;
		if (i >= len)
			break;

		enum { PLAIN, DQ, SQ } st = PLAIN;
		size_t w = 0;
		bool done = false;
		while (!done) {
			if (i >= len) {
				if (st != PLAIN) {
					rc = SPLIT_UNBALANCED;
					goto out;
				}
				break;
			}
			char ch = p[i];
			if (st == PLAIN) {
				if (isspace((unsigned char)ch))
					done = true;
				else if (ch == '"')
					st = DQ;
				else if (ch == '\'')
					st = SQ;
				else
					buf[w++] = ch;
				i++;
			} else if (st == DQ) {
				if (ch == '\\' && i + 3 < len && p[i + 1] == 'x' &&
				    cfg_hexval((unsigned char)p[i + 2]) >= 0 &&
				    cfg_hexval((unsigned char)p[i + 3]) >= 0) {
					buf[w++] = (char)(cfg_hexval((unsigned char)p[i + 2]) * 16 +
							  cfg_hexval((unsigned char)p[i + 3]));
					i += 4;
				} else if (ch == '\\' && i + 1 < len) {
					char e = p[i + 1];
					buf[w++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' :
						   e == 'b' ? '\b' : e == 'a' ? '\a' : e;
					i += 2;
				} else if (ch == '"') {
					i++;
					if (i < len && !isspace((unsigned char)p[i])) {
						rc = SPLIT_UNBALANCED;
						goto out;
					}
					done = true;
				} else {
					buf[w++] = ch;
					i++;
				}
			} else {
				if (ch == '\\' && i + 1 < len && p[i + 1] == '\'') {
					buf[w++] = '\'';
					i += 2;
				} else if (ch == '\'') {
					i++;
					if (i < len && !isspace((unsigned char)p[i])) {
						rc = SPLIT_UNBALANCED;
						goto out;
					}
					done = true;
				} else {
					buf[w++] = ch;
					i++;
				}
			}
		}
		if (memchr(buf, '\0', w)) {
			rc = SPLIT_NUL;
			goto out;
		}
		if (n + 1 >= cap) {
			int ncap = cap ? cap * 2 : 8;
			char **nw = realloc(words, (size_t)ncap * sizeof *nw);
			if (!nw) {
				rc = SPLIT_NOMEM;
				goto out;
			}
			words = nw;
			cap = ncap;
		}
		words[n] = malloc(w + 1);
		if (!words[n]) {
			rc = SPLIT_NOMEM;
			goto out;
		}
		memcpy(words[n], buf, w);
		words[n][w] = '\0';
		n++;
	}
out:
	free(buf);
	if (rc != SPLIT_OK) {
		cfg_words_free(words, n);
		return rc;
	}
	*wordsp = words;
	*nwordsp = n;
	return SPLIT_OK;
}

/* ---- applying directives ---- */

/* Return codes of cfg_apply_words and cfg_load_file: 0 ok; CFG_EREASON:
 * err holds a reason the caller prefixes with its "file:line: " or
 * "command line: "; CFG_EFULL: err already names its file and line (an
 * error inside an included file) and is passed up unchanged. */
enum { CFG_EREASON = -1, CFG_EFULL = -2 };

static int cfg_load_file(struct cfg *c, const char *path, int depth, char *err, size_t errlen);

/* Apply one directive: argv[0] the name, then its words. shown is the line
 * as the user wrote it, quoted in "Bad directive" errors. */
static int cfg_apply_words(struct cfg *c, int argc, char **argv, const char *shown, int depth,
			   char *err, size_t errlen)
{
	const char *name = argv[0];
	const struct cfg_def *d;
	const char *why_unsup;
	char why[512];
	union cfg_val val;

	if (strcasecmp(name, "include") == 0) {
		if (argc != 2) {
			cfg_seterr(err, errlen, "wrong number of arguments (%s)", name);
			return CFG_EREASON;
		}
		if (depth >= CFG_INCLUDE_DEPTH_MAX) {
			cfg_seterr(err, errlen, "includes nested deeper than %d levels (include %s)",
				   CFG_INCLUDE_DEPTH_MAX, argv[1]);
			return CFG_EREASON;
		}
		/* "-" (stdin) and absolute paths as given; relative ones from
		 * the dir set so far, as for dir and logfile */
		char *path = strcmp(argv[1], "-") == 0 ? strdup(argv[1]) : cfg_path_in_dir(c, argv[1]);
		if (!path) {
			cfg_seterr(err, errlen, "out of memory");
			return CFG_EREASON;
		}
		int rc = cfg_load_file(c, path, depth + 1, err, errlen);
		free(path);
		return rc;
	}

	d = cfg_find(name);
	if (!d) {
		why_unsup = cfg_unsupported(name);
		if (why_unsup)
			cfg_seterr(err, errlen, "%s is not supported yet (%s)", name, why_unsup);
		else
			cfg_seterr(err, errlen, "Bad directive or wrong number of arguments: '%s'", shown);
		return CFG_EREASON;
	}
	if (argc < 2 || (argc > 2 && d->kind != CK_BIND && d->kind != CK_SAVE && d->kind != CK_MASTER &&
			  d->kind != CK_OBL)) {
		cfg_seterr(err, errlen, "wrong number of arguments (%s)", name);
		return CFG_EREASON;
	}
	if (cfg_parse(c, d, argc - 1, argv + 1, &val, why, sizeof why) != 0) {
		cfg_seterr(err, errlen, "%s (%s)", why, name);
		return CFG_EREASON;
	}
	cfg_store(c, d, &val);
	return 0;
}

static void cfg_trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)(*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* Load a redis.conf-style file ("-" is stdin). depth > 0 means it comes from
 * an include, so failing to open it is a reason for the including line;
 * every other error names this file and line (CFG_EFULL). */
static int cfg_load_file(struct cfg *c, const char *path, int depth, char *err, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	char *line = NULL, *reason = NULL;
	size_t cap = 0;
	ssize_t got;
	long lineno = 0;
	int rc = 0;

	if (!f) {
		if (depth > 0) {
			cfg_seterr(err, errlen, "can't open included file '%s': %s", path, strerror(errno));
			return CFG_EREASON;
		}
		cfg_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return CFG_EFULL;
	}
	reason = malloc(CFG_REASON_MAX);
	if (!reason) {
		cfg_seterr(err, errlen, "%s: out of memory", path);
		rc = CFG_EFULL;
		goto out;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		const char *s = line;
		size_t len = (size_t)got;
		char **words;
		int nwords, r;

		lineno++;
		cfg_trim(&s, &len);
		if (len == 0 || s[0] == '#')
			continue;
		r = cfg_split(s, len, &words, &nwords);
		if (r != SPLIT_OK) {
			cfg_seterr(err, errlen, "%s:%ld: %s", path, lineno,
				   r == SPLIT_UNBALANCED ? "Unbalanced quotes in configuration line" :
				   r == SPLIT_NUL ? "NUL bytes are not allowed in configuration values" :
				   "out of memory");
			rc = CFG_EFULL;
			goto out;
		}
		if (nwords == 0) {      /* e.g. a line that is only "" */
			free(words);
			continue;
		}
		/* shown: the trimmed line, NUL-terminated in place */
		char *shown = strndup(s, len);
		r = shown ? cfg_apply_words(c, nwords, words, shown, depth, reason, CFG_REASON_MAX)
			  : (cfg_seterr(reason, CFG_REASON_MAX, "out of memory"), CFG_EREASON);
		free(shown);
		cfg_words_free(words, nwords);
		if (r == CFG_EREASON) {
			cfg_seterr(err, errlen, "%s:%ld: %s", path, lineno, reason);
			rc = CFG_EFULL;
			goto out;
		}
		if (r == CFG_EFULL) {
			cfg_seterr(err, errlen, "%s", reason);
			rc = CFG_EFULL;
			goto out;
		}
	}
	if (ferror(f)) {
		cfg_seterr(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = CFG_EFULL;
	}
out:
	free(reason);
	free(line);
	if (!is_stdin)
		fclose(f);
	return rc;
}

/* Words joined by single spaces (how a directive given as words is shown
 * in errors). Heap string or NULL (ENOMEM). */
static char *cfg_join(int n, char *const *w)
{
	size_t len = 1, off = 0;
	for (int i = 0; i < n; i++)
		len += strlen(w[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	for (int i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "%s%s", i ? " " : "", w[i]);
	s[off] = '\0';
	return s;
}

/* ---- public ---- */

/* Fills every field of c with Redis 7's defaults, allocating the strings.
 * c's previous contents are overwritten, not freed. Aborts on ENOMEM (it
 * runs once, before the server has anything to lose). */
void cfg_defaults(struct cfg *c)
{
	static const char *const bind_default[] = { "127.0.0.1", "-::1" };

	memset(c, 0, sizeof *c);
	c->bind = cfg_list_dup((char *const *)bind_default, 2);
	c->port = 6379;
	c->shards = 0;
	c->requirepass = NULL;
	c->protected_mode = true;
	c->maxclients = 10000;
	c->timeout_s = 0;
	c->tcp_keepalive_s = 300;
	c->tcp_backlog = 511;
	c->databases = 16;
	c->loglevel = LL_NOTICE;
	c->logfile = strdup("");
	c->daemonize = false;
	c->pidfile = NULL;
	c->dir = getcwd(NULL, 0);
	c->proto_max_bulk_len = 512 * MB;
	c->client_query_buffer_limit = 1024 * MB;
	c->busy_poll = false;
	c->enable_debug_command = DEBUGCMD_LOCAL;
	c->slowlog_log_slower_than_us = 10000;
	c->slowlog_max_len = 128;
	c->hz = 10;
	c->list_max_listpack_size = -2;
	c->list_compress_depth = 0;
	c->hash_max_listpack_entries = 128;
	c->hash_max_listpack_value = 64;
	c->set_max_intset_entries = 512;
	c->set_max_listpack_entries = 128;
	c->set_max_listpack_value = 64;
	c->zset_max_listpack_entries = 128;
	c->zset_max_listpack_value = 64;
	c->hll_sparse_max_bytes = 3000;
	c->busy_reply_threshold_ms = 5000;
	c->appendonly = false;
	c->appendfilename = strdup("appendonly.aof");
	c->appenddirname = strdup("appendonlydir");
	c->appendfsync = AOF_FSYNC_EVERYSEC;
	c->aof_load_truncated = true;
	c->aof_use_rdb_preamble = true;
	c->replicaof = c->masterauth = c->masteruser = NULL;
	c->replica_read_only = true;
	c->replica_serve_stale_data = true;
	c->repl_timeout_s = 60;
	c->min_replicas_to_write = 0;
	c->min_replicas_max_lag_s = 10;
	c->repl_backlog_ttl_s = 3600;
	c->repl_diskless_sync = true;   /* Redis 7's defaults */
	c->repl_diskless_sync_delay_s = 5;
	c->repl_diskless_sync_max_replicas = 0;
	c->obl[CFG_OBL_NORMAL] = (struct cfg_obl){ 0, 0, 0 };
	c->obl[CFG_OBL_REPLICA] = (struct cfg_obl){ 256 * MB, 64 * MB, 60 };
	c->obl[CFG_OBL_PUBSUB] = (struct cfg_obl){ 32 * MB, 8 * MB, 60 };
	c->repl_backlog_size = MB;
	c->rdbcompression = true;
	c->rdbchecksum = true;
	c->save_n = 3;   /* Redis 7: save 3600 1 300 100 60 10000 */
	c->save[0] = (struct cfg_save_rule){ 3600, 1 };
	c->save[1] = (struct cfg_save_rule){ 300, 100 };
	c->save[2] = (struct cfg_save_rule){ 60, 10000 };
	c->dbfilename = strdup("dump.rdb");
	c->stop_writes_on_bgsave_error = true;
	c->dataplane = DATAPLANE_KERNEL;
	c->dpdk_mtu = 1500;
	c->dpdk_rx_desc = c->dpdk_tx_desc = 1024;
	c->dpdk_mbufs = 16383;
	c->config_file = NULL;
	if (!c->dir)            /* cwd removed under us: still a usable value */
		c->dir = strdup("/");
	if (!c->bind || !c->logfile || !c->dir || !c->appendfilename || !c->appenddirname ||
	    !c->dbfilename) {
		/* Start-up only, before anything else can run: no way to go on. */
		fputs("keyrail: out of memory setting configuration defaults\n", stderr);
		abort();
	}
}

/* One directive as words (argv[0] the name); include works here too.
 * On error c is unchanged (an include may have applied lines before its
 * error) and err holds the reason without a file:line prefix, except an
 * error inside an included file, which names that file and line. */
int cfg_apply(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	if (argc <= 0)
		return 0;
	char *shown = cfg_join(argc, argv);
	if (!shown) {
		cfg_seterr(err, errlen, "out of memory");
		return -1;
	}
	int rc = cfg_apply_words(c, argc, argv, shown, 0, err, errlen);
	free(shown);
	return rc == 0 ? 0 : -1;
}

/* keyrail-server [config-file] [--directive word ...] ...
 * Each --name takes every following word up to the next word that starts
 * with "--" (so a value cannot itself start with "--", as in Redis).
 * `--save` with no words means save "". The file is applied first, then the
 * command line in order; the first error stops and c keeps what was
 * applied before it (start-up aborts anyway). */
int cfg_load_args(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	int i = 1;
	char *reason = NULL;
	int rc = 0;

	if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
		if (cfg_load_file(c, argv[1], 0, err, errlen) != 0)
			return -1;
		if (strcmp(argv[1], "-") != 0) {
			char *abs = realpath(argv[1], NULL);
			if (!abs) {
				cfg_seterr(err, errlen, "%s: cannot resolve path: %s", argv[1],
					   strerror(errno));
				return -1;
			}
			free(c->config_file);
			c->config_file = abs;
		}
		i = 2;
	}

	reason = malloc(CFG_REASON_MAX);
	if (!reason) {
		cfg_seterr(err, errlen, "command line: out of memory");
		return -1;
	}
	while (i < argc) {
		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
			cfg_seterr(err, errlen, "command line: unexpected argument '%s' (expected --directive)",
				   argv[i]);
			rc = -1;
			break;
		}
		int j = i + 1;
		while (j < argc && strncmp(argv[j], "--", 2) != 0)
			j++;

		/* words: the name without "--", then its values; one spare
		 * slot for the "" of a bare --save */
		int nw = j - i;
		char **words = malloc((size_t)(nw + 1) * sizeof *words);
		char *shown = NULL;
		int r;
		if (words) {
			words[0] = argv[i] + 2;
			for (int k = 1; k < nw; k++)
				words[k] = argv[i + k];
			if (nw == 1 && strcasecmp(words[0], "save") == 0)
				words[nw++] = (char *)"";
			shown = cfg_join(nw, words);
		}
		if (shown)
			r = cfg_apply_words(c, nw, words, shown, 0, reason, CFG_REASON_MAX);
		else
			r = (cfg_seterr(reason, CFG_REASON_MAX, "out of memory"), CFG_EREASON);
		free(shown);
		free(words);
		if (r == CFG_EREASON) {
			cfg_seterr(err, errlen, "command line: %s", reason);
			rc = -1;
			break;
		}
		if (r == CFG_EFULL) {
			cfg_seterr(err, errlen, "%s", reason);
			rc = -1;
			break;
		}
		i = j;
	}
	free(reason);
	return rc;
}

struct cfg *cfg_dup(const struct cfg *c)
{
	struct cfg *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	*n = *c;
	n->bind = cfg_list_dup(c->bind, cfg_list_len(c->bind));
	n->requirepass = c->requirepass ? strdup(c->requirepass) : NULL;
	n->logfile = c->logfile ? strdup(c->logfile) : NULL;
	n->pidfile = c->pidfile ? strdup(c->pidfile) : NULL;
	n->dir = c->dir ? strdup(c->dir) : NULL;
	n->config_file = c->config_file ? strdup(c->config_file) : NULL;
	n->appendfilename = c->appendfilename ? strdup(c->appendfilename) : NULL;
	n->appenddirname = c->appenddirname ? strdup(c->appenddirname) : NULL;
	n->dpdk_eal_args = c->dpdk_eal_args ? strdup(c->dpdk_eal_args) : NULL;
	n->dpdk_ip = c->dpdk_ip ? strdup(c->dpdk_ip) : NULL;
	n->dpdk_gateway = c->dpdk_gateway ? strdup(c->dpdk_gateway) : NULL;
	n->dpdk_fault_inject = c->dpdk_fault_inject ? strdup(c->dpdk_fault_inject) : NULL;
	n->dbfilename = c->dbfilename ? strdup(c->dbfilename) : NULL;
	n->replicaof = c->replicaof ? strdup(c->replicaof) : NULL;
	n->masterauth = c->masterauth ? strdup(c->masterauth) : NULL;
	n->masteruser = c->masteruser ? strdup(c->masteruser) : NULL;
	bool repl_nomem = (c->replicaof && !n->replicaof) || (c->masterauth && !n->masterauth) ||
			  (c->masteruser && !n->masteruser);
	bool dpdk_nomem = (c->dpdk_eal_args && !n->dpdk_eal_args) || (c->dpdk_ip && !n->dpdk_ip) ||
			  (c->dpdk_gateway && !n->dpdk_gateway) ||
			  (c->dpdk_fault_inject && !n->dpdk_fault_inject);
	if (dpdk_nomem || repl_nomem || !n->bind || (c->requirepass && !n->requirepass) || (c->logfile && !n->logfile) ||
	    (c->pidfile && !n->pidfile) || (c->dir && !n->dir) ||
	    (c->config_file && !n->config_file) || (c->appendfilename && !n->appendfilename) ||
	    (c->appenddirname && !n->appenddirname) || (c->dbfilename && !n->dbfilename)) {
		cfg_free(n);
		errno = ENOMEM;
		return NULL;
	}
	return n;
}

/* Frees a struct cfg obtained from cfg_dup: its strings and the struct. */
void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	cfg_list_free(c->bind);
	free(c->requirepass);
	free(c->logfile);
	free(c->pidfile);
	free(c->dir);
	free(c->config_file);
	free(c->appendfilename);
	free(c->appenddirname);
	free(c->dpdk_eal_args);
	free(c->dpdk_ip);
	free(c->dpdk_gateway);
	free(c->dpdk_fault_inject);
	free(c->dbfilename);
	free(c->replicaof);
	free(c->masterauth);
	free(c->masteruser);
	free(c);
}

/* Emits in table order; an alias is a separate entry (Redis 7 does the
 * same). name and value are valid only during the emit call. */
void cfg_get(const struct cfg *c, const char *pattern, cfg_emit_fn *emit, void *arg)
{
	size_t plen = strlen(pattern);
	char buf[32];
	char *heap;

	for (size_t i = 0; i < CFG_NDEFS; i++) {
		const struct cfg_def *d = &cfg_defs[i];
		const char *names[2] = { d->name, d->alias };
		for (int k = 0; k < 2 && names[k]; k++) {
			if (!srv_glob_match(pattern, plen, names[k], strlen(names[k]), true))
				continue;
			const char *v = cfg_render(c, d, buf, sizeof buf, &heap);
			emit(arg, names[k], v);
			free(heap);
		}
	}
}

/* On error c is unchanged, so a multi-pair CONFIG SET can be made atomic by
 * applying to a cfg_dup and keeping it only if every pair succeeds. */
int cfg_set(struct cfg *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct cfg_def *d = cfg_find(name);
	char why[512];
	union cfg_val val;
	char *v = (char *)value;  /* cfg_parse does not write through it */

	if (!d) {
		const char *u = cfg_unsupported(name);
		if (u)
			cfg_seterr(err, errlen,
				   "ERR CONFIG SET failed (possibly related to argument '%s') - "
				   "%s is not supported yet (%s)", name, name, u);
		else
			cfg_seterr(err, errlen,
				   "ERR Unknown option or number of arguments for CONFIG SET - '%s'", name);
		return -1;
	}
	if (!(d->flags & CF_MUTABLE)) {
		cfg_seterr(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%s') - "
			   "can't set immutable config", name);
		return -1;
	}
	if (cfg_parse(c, d, 1, &v, &val, why, sizeof why) != 0) {
		cfg_seterr(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
			   name, why);
		return -1;
	}
	cfg_store(c, d, &val);
	if (d->flags & CF_LOGLEVEL)
		srv_log_set_level(c->loglevel);
	return 0;
}
