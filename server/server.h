/* server/ — process lifecycle, configuration, logging, INFO.
 *
 * The configuration is parsed once at start-up into a struct cfg; each shard
 * then works on its own copy (cfg_dup), and CONFIG SET is broadcast to every
 * shard, which applies it to its copy. So no config field is ever written
 * by one core while another reads it. */
#ifndef KR_SERVER_H
#define KR_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define KR_VERSION "7.0.0"          /* the Redis version we speak as */
#define KR_SERVER_VERSION "0.1.0"   /* keyrail's own version */

enum srv_loglevel { LL_DEBUG = 0, LL_VERBOSE, LL_NOTICE, LL_WARNING, LL_NOTHING };
enum { DEBUGCMD_NO = 0, DEBUGCMD_YES = 1, DEBUGCMD_LOCAL = 2 };
enum { AOF_FSYNC_ALWAYS = 0, AOF_FSYNC_EVERYSEC = 1, AOF_FSYNC_NO = 2 };
enum { DATAPLANE_KERNEL = 0, DATAPLANE_DPDK = 1 };
enum { CFG_OBL_NORMAL = 0, CFG_OBL_REPLICA = 1, CFG_OBL_PUBSUB = 2 };   /* client-output-buffer-limit */

struct cfg {
	char **bind;                  /* NULL-terminated list */
	int port;
	int shards;                   /* 0 = number of online CPUs */
	char *requirepass;            /* NULL: no password */
	bool protected_mode;
	long long maxclients;
	long long timeout_s;          /* idle client timeout, 0 = never */
	int tcp_keepalive_s;
	int tcp_backlog;
	int databases;
	int loglevel;
	char *logfile;                /* "" = stdout */
	bool daemonize;
	char *pidfile;                /* NULL or "" = none */
	char *dir;
	long long proto_max_bulk_len;
	long long client_query_buffer_limit;
	bool busy_poll;
	int enable_debug_command;     /* DEBUGCMD_* */
	long long slowlog_log_slower_than_us;
	long long slowlog_max_len;
	int hz;
	/* Value types: compact encodings up to these sizes (redis.conf names). */
	long long list_max_listpack_size;     /* >0 entries per node, <0 -1..-5 = 4..64 KiB */
	long long list_compress_depth;
	long long hash_max_listpack_entries, hash_max_listpack_value;
	long long set_max_intset_entries;
	long long set_max_listpack_entries, set_max_listpack_value;
	long long zset_max_listpack_entries, zset_max_listpack_value;
	long long hll_sparse_max_bytes;
	long long busy_reply_threshold_ms;    /* alias lua-time-limit */
	/* The AOF and the write stream (repl/). */
	bool appendonly;
	char *appendfilename;                 /* a file name, not a path */
	char *appenddirname;                  /* a directory name inside dir */
	int appendfsync;                      /* AOF_FSYNC_* */
	bool aof_load_truncated;
	bool aof_use_rdb_preamble;            /* the AOF base is an RDB file */
	long long repl_backlog_size;
	bool rdbcompression;          /* LZF strings in RDB files and DUMP payloads */
	bool rdbchecksum;             /* CRC64 at the end of RDB files */
	/* RDB snapshots (shards/snap.c): save <seconds> <changes> rules,
	 * the file dir/dbfilename, MISCONF after a failed background save. */
#define CFG_SAVE_MAX 16
	int save_n;                   /* rules in use; 0: no automatic saves */
	struct cfg_save_rule { long long seconds, changes; } save[CFG_SAVE_MAX];
	bool save_from_conf;          /* a save line was read: later lines add rules */
	char *dbfilename;             /* a file name inside dir */
	bool stop_writes_on_bgsave_error;
	/* Replication, replica side (shards/replclient.c). */
	char *replicaof;               /* "host port" of the master, NULL: none */
	char *masterauth;              /* NULL: none */
	char *masteruser;              /* NULL: AUTH with the password only */
	bool replica_read_only;
	bool replica_serve_stale_data;
	int repl_timeout_s;
	/* Replication, master side (shards/replmaster.c). */
	int min_replicas_to_write;     /* 0: writes never refused */
	int min_replicas_max_lag_s;    /* 0: the check is off, as in Redis */
	int repl_backlog_ttl_s;        /* 0: the backlog is never released */
	bool repl_diskless_sync;       /* full syncs stream the snapshot ($EOF:) */
	int repl_diskless_sync_delay_s;      /* wait for more replicas first */
	int repl_diskless_sync_max_replicas; /* ... unless this many wait (0: no cap) */
	struct cfg_obl { long long hard, soft, soft_s; } obl[3];   /* CFG_OBL_*; replica enforced */
	/* Network backend (docs/config.md, "DPDK data plane"). */
	int dataplane;                /* DATAPLANE_KERNEL or DATAPLANE_DPDK */
	char *dpdk_eal_args;          /* NULL: none */
	int dpdk_port;
	char *dpdk_ip;                /* "a.b.c.d/prefix", checked at start-up */
	char *dpdk_gateway;           /* NULL: none */
	int dpdk_mtu, dpdk_rx_desc, dpdk_tx_desc, dpdk_mbufs;
	char *dpdk_fault_inject;      /* test-only fault layer spec, NULL: off */
	char *config_file;            /* absolute path, NULL if none */
};

/* Defaults as Redis 7's (port 6379, bind 127.0.0.1 -::1 ...). */
void cfg_defaults(struct cfg *c);
/* Parse `[config-file] [--directive value ...]` into c (which holds
 * defaults). On error returns -1 with err holding "file:line: reason"
 * (or "command line: reason"). */
int cfg_load_args(struct cfg *c, int argc, char **argv, char *err, size_t errlen);
/* Apply one directive line's words (as from a file). 0 or -1 with err. */
int cfg_apply(struct cfg *c, int argc, char **argv, char *err, size_t errlen);
struct cfg *cfg_dup(const struct cfg *c);
void cfg_free(struct cfg *c);

/* CONFIG GET: call emit for each directive whose name matches the glob
 * pattern (case-insensitive), with its value as Redis prints it. */
typedef void cfg_emit_fn(void *arg, const char *name, const char *value);
void cfg_get(const struct cfg *c, const char *pattern, cfg_emit_fn *emit, void *arg);
/* CONFIG SET of one directive on c. 0 on success; -1 with err holding the
 * Redis 7 error text (without "-"), e.g.
 * "ERR Unknown option or number of arguments for CONFIG SET - 'foo'". */
int cfg_set(struct cfg *c, const char *name, const char *value, char *err, size_t errlen);
/* Redis-style glob match (used by CONFIG GET, KEYS, SCAN MATCH). */
bool srv_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase);

/* Logging in Redis's line format: "pid:M dd Mon yyyy hh:mm:ss.mmm * msg".
 * Thread-safe (one write(2) per line). */
void srv_log_init(const char *logfile, int level);
void srv_log_set_level(int level);
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
