/* The command table: every command keyrail answers, in one place.
 *
 * Routing (route.c), COMMAND INFO/DOCS/COUNT/LIST/GETKEYS (t_server.c) and
 * the name index (cmdutil.c) all read this table; nothing else lists
 * commands. Key specs use Redis's legacy (first, last, step) triple. */
#include "shards/shard_int.h"

/* t_server.c */
cmd_fn cmd_ping, cmd_echo, cmd_quit, cmd_reset, cmd_hello, cmd_auth, cmd_select,
	cmd_client_id, cmd_client_setname, cmd_client_getname, cmd_client_list,
	cmd_client_info, cmd_client_kill, cmd_client_unblock, cmd_client_noevict, cmd_client_notouch,
	cmd_client_reply, cmd_client_help, cmd_info, cmd_config_get, cmd_config_set,
	cmd_config_resetstat, cmd_config_help, cmd_command, cmd_command_count,
	cmd_command_info, cmd_command_docs, cmd_command_list, cmd_command_getkeys,
	cmd_command_help, cmd_time, cmd_lastsave, cmd_shutdown, cmd_debug_sleep,
	cmd_debug_segfault, cmd_debug_active_expire, cmd_debug_populate,
	cmd_debug_object, cmd_debug_help, cmd_memory_usage, cmd_memory_help, cmd_monitor, cmd_slowlog_get,
	cmd_slowlog_len, cmd_slowlog_reset, cmd_slowlog_help;
cmd_merge_fn merge_randomkey, merge_client_list, merge_slowlog_get;
cmd_cross_fn xshard_gather;

#define R CMD_READONLY
#define W CMD_WRITE
#define F CMD_FAST
#define A CMD_ADMIN
#define D CMD_DENYOOM
#define L CMD_LOADING
#define S CMD_STALE

/* KEYS(first, last, step): the legacy key spec. */
#define KEYS(a, b, c) (a, b, c)
#define K1 KEYS(1, 1, 1)
#define K0 KEYS(0, 0, 0)
#define KF_(a, b, c) a
#define KL_(a, b, c) b
#define KS_(a, b, c) c
#define C(n, ar, fl, keys, fn_, grp, since_, sum, ...) \
	{ .name = n, .arity = ar, .flags = fl, .first_key = KF_ keys, \
	  .last_key = KL_ keys, .key_step = KS_ keys, .fn = fn_, \
	  .group = grp, .since = since_, .summary = sum, __VA_ARGS__ }


/* Each value-type family keeps its rows in its own fragment, included
 * twice: once with TAB_DECL for handler prototypes and subcommand tables,
 * once inside the table for its rows. */
#define TAB_DECL
#if __has_include("shards/tab_list.h")
#include "shards/tab_list.h"
#endif
#if __has_include("shards/tab_hash.h")
#include "shards/tab_hash.h"
#endif
#if __has_include("shards/tab_set.h")
#include "shards/tab_set.h"
#endif
#if __has_include("shards/tab_zset.h")
#include "shards/tab_zset.h"
#endif
#if __has_include("shards/tab_bits.h")
#include "shards/tab_bits.h"
#endif
#if __has_include("shards/tab_sort.h")
#include "shards/tab_sort.h"
#endif
#if __has_include("shards/tab_pubsub.h")
#include "shards/tab_pubsub.h"
#endif
#if __has_include("shards/tab_script.h")
#include "shards/tab_script.h"
#endif
#if __has_include("shards/tab_multi.h")
#include "shards/tab_multi.h"
#endif
#if __has_include("shards/tab_dump.h")
#include "shards/tab_dump.h"
#endif
#if __has_include("shards/tab_aof.h")
#include "shards/tab_aof.h"
#endif
#if __has_include("shards/tab_snap.h")   /* snapshot */
#include "shards/tab_snap.h"
#endif
#if __has_include("shards/tab_repl.h")   /* replica */
#include "shards/tab_repl.h"
#endif
#if __has_include("shards/tab_replm.h")   /* master */
#include "shards/tab_replm.h"
#endif
#if __has_include("shards/tab_debug.h")
#include "shards/tab_debug.h"
#endif
#undef TAB_DECL

static const struct cmd_def object_subs[] = {
	C("object|encoding", 3, R, KEYS(2, 2, 1), cmd_object_encoding, "generic", "2.2.3",
	  "Returns the internal encoding of a Redis object.", .merge = MERGE_NONE),
	C("object|freq", 3, R, KEYS(2, 2, 1), cmd_object_freq, "generic", "4.0.0",
	  "Returns the logarithmic access frequency counter of a Redis object.", .merge = MERGE_NONE),
	C("object|idletime", 3, R, KEYS(2, 2, 1), cmd_object_idletime, "generic", "2.2.3",
	  "Returns the time since the last access to a Redis object.", .merge = MERGE_NONE),
	C("object|refcount", 3, R, KEYS(2, 2, 1), cmd_object_refcount, "generic", "2.2.3",
	  "Returns the reference count of a value of a key.", .merge = MERGE_NONE),
	C("object|help", 2, CMD_LOADING | S, K0, cmd_object_help, "generic", "6.2.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def client_subs[] = {
	C("client|id", 2, CMD_CONN | L | S, K0, cmd_client_id, "connection", "5.0.0",
	  "Returns the unique client ID of the connection.", .merge = MERGE_NONE),
	C("client|setname", 3, CMD_CONN | L | S, K0, cmd_client_setname, "connection", "2.6.9",
	  "Sets the connection name.", .merge = MERGE_NONE),
	C("client|getname", 2, CMD_CONN | L | S, K0, cmd_client_getname, "connection", "2.6.9",
	  "Returns the name of the connection.", .merge = MERGE_NONE),
	C("client|list", -2, A | CMD_BCAST | L | S, K0, cmd_client_list, "connection", "2.4.0",
	  "Lists open connections.", .merge = MERGE_CUSTOM, .merge_fn = merge_client_list),
	C("client|info", 2, CMD_CONN | L | S, K0, cmd_client_info, "connection", "6.2.0",
	  "Returns information about the connection.", .merge = MERGE_NONE),
	C("client|unblock", -3, A | CMD_BCAST | L | S, K0, cmd_client_unblock, "connection", "5.0.0",
	  "Unblocks a client blocked by a blocking command from a different connection.", .merge = MERGE_SUM),
	C("client|kill", -3, A | CMD_CONN | L | S, K0, cmd_client_kill, "connection", "2.4.0",
	  "Terminates open connections.", .merge = MERGE_NONE),
	C("client|no-evict", 3, A | CMD_CONN | L | S, K0, cmd_client_noevict, "connection", "7.0.0",
	  "Sets the client eviction mode of the connection.", .merge = MERGE_NONE),
	C("client|no-touch", 3, CMD_CONN | L | S, K0, cmd_client_notouch, "connection", "7.2.0",
	  "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", .merge = MERGE_NONE),
	C("client|reply", 3, CMD_CONN | L | S, K0, cmd_client_reply, "connection", "3.2.0",
	  "Instructs the server whether to reply to commands.", .merge = MERGE_NONE),
	C("client|help", 2, CMD_CONN | L | S, K0, cmd_client_help, "connection", "5.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def config_subs[] = {
	C("config|get", -3, A | CMD_NOSCRIPT | CMD_NOKEYS_ANY | L | S, K0, cmd_config_get, "server", "2.0.0",
	  "Returns the effective values of configuration parameters.", .merge = MERGE_NONE),
	C("config|set", -4, A | CMD_NOSCRIPT | CMD_BCAST | L | S, K0, cmd_config_set, "server", "2.0.0",
	  "Sets configuration parameters in-flight.", .merge = MERGE_OK),
	C("config|resetstat", 2, A | CMD_NOSCRIPT | CMD_BCAST | L | S, K0, cmd_config_resetstat, "server", "2.0.0",
	  "Resets the server's statistics.", .merge = MERGE_OK),
	C("config|help", 2, L | S, K0, cmd_config_help, "server", "5.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def command_subs[] = {
	C("command|count", 2, L | S, K0, cmd_command_count, "server", "2.8.13",
	  "Returns a count of commands.", .merge = MERGE_NONE),
	C("command|info", -2, L | S, K0, cmd_command_info, "server", "2.8.13",
	  "Returns information about one, multiple or all commands.", .merge = MERGE_NONE),
	C("command|docs", -2, L | S, K0, cmd_command_docs, "server", "7.0.0",
	  "Returns documentary information about one, multiple or all commands.", .merge = MERGE_NONE),
	C("command|list", -2, L | S, K0, cmd_command_list, "server", "7.0.0",
	  "Returns a list of command names.", .merge = MERGE_NONE),
	C("command|getkeys", -3, L | S, K0, cmd_command_getkeys, "server", "2.8.13",
	  "Extracts the key names from an arbitrary command.", .merge = MERGE_NONE),
	C("command|help", 2, L | S, K0, cmd_command_help, "server", "5.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def debug_subs[] = {
	C("debug|sleep", 3, A | CMD_PROTECTED | CMD_NOKEYS_ANY, K0, cmd_debug_sleep, "server", "1.0.0",
	  "Blocks the server for the given number of seconds.", .merge = MERGE_NONE),
	C("debug|segfault", 2, A | CMD_PROTECTED | CMD_NOKEYS_ANY, K0, cmd_debug_segfault, "server", "1.0.0",
	  "Crashes the server.", .merge = MERGE_NONE),
	C("debug|set-active-expire", 3, A | CMD_PROTECTED | CMD_BCAST, K0, cmd_debug_active_expire, "server", "1.0.0",
	  "Enables or disables the active expiry cycle.", .merge = MERGE_OK),
	C("debug|populate", -3, A | CMD_PROTECTED | CMD_BCAST | W, K0, cmd_debug_populate, "server", "1.0.0",
	  "Creates keys key:0..key:N-1 with string values.", .merge = MERGE_OK),
	C("debug|object", 3, A | CMD_PROTECTED, KEYS(2, 2, 1), cmd_debug_object, "server", "1.0.0",
	  "Shows low-level information about a key.", .merge = MERGE_NONE),
	C("debug|help", 2, A | CMD_PROTECTED | CMD_NOKEYS_ANY, K0, cmd_debug_help, "server", "1.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
/* More DEBUG subcommands (DIGEST, DIGEST-VALUE, ...): their rows come from
 * a fragment included with TAB_DEBUG_ROWS defined. */
#if __has_include("shards/tab_debug.h")
#define TAB_DEBUG_ROWS
#include "shards/tab_debug.h"
#undef TAB_DEBUG_ROWS
#endif
	{ .name = NULL },
};

static const struct cmd_def memory_subs[] = {
	C("memory|usage", -3, R, KEYS(2, 2, 1), cmd_memory_usage, "server", "4.0.0",
	  "Estimates the memory usage of a key.", .merge = MERGE_NONE),
	C("memory|help", 2, L | S, K0, cmd_memory_help, "server", "4.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def slowlog_subs[] = {
	C("slowlog|get", -2, A | CMD_BCAST | L | S, K0, cmd_slowlog_get, "server", "2.2.12",
	  "Returns the slow log's entries.", .merge = MERGE_CUSTOM, .merge_fn = merge_slowlog_get),
	C("slowlog|len", 2, A | CMD_BCAST | L | S, K0, cmd_slowlog_len, "server", "2.2.12",
	  "Returns the number of entries in the slow log.", .merge = MERGE_SUM),
	C("slowlog|reset", 2, A | CMD_BCAST | L | S, K0, cmd_slowlog_reset, "server", "2.2.12",
	  "Clears all entries from the slow log.", .merge = MERGE_OK),
	C("slowlog|help", 2, L | S, K0, cmd_slowlog_help, "server", "6.2.0",
	  "Show helpful text about the different subcommands", .merge = MERGE_NONE),
	{ .name = NULL },
};

static const struct cmd_def table[] = {
	/* strings */
	C("get", 2, R | F, K1, cmd_get, "string", "1.0.0", "Returns the string value of a key.", .merge = MERGE_NONE),
	C("set", -3, W | D, K1, cmd_set, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", .merge = MERGE_NONE),
	C("setnx", 3, W | D | F, K1, cmd_setnx, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", .merge = MERGE_NONE),
	C("setex", 4, W | D, K1, cmd_setex, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("psetex", 4, W | D, K1, cmd_psetex, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", .merge = MERGE_NONE),
	C("mget", -2, R | F, KEYS(1, -1, 1), cmd_mget, "string", "1.0.0", "Atomically returns the string values of one or more keys.", .merge = MERGE_BY_KEY),
	C("mset", -3, W | D, KEYS(1, -1, 2), cmd_mset, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", .merge = MERGE_OK),
	C("msetnx", -3, W | D, KEYS(1, -1, 2), cmd_msetnx, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", .cross_fn = xshard_msetnx),
	C("getset", 3, W | D | F, K1, cmd_getset, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", .merge = MERGE_NONE),
	C("getdel", 2, W | F, K1, cmd_getdel, "string", "6.2.0", "Returns the string value of a key after deleting the key.", .merge = MERGE_NONE),
	C("getex", -2, W | F, K1, cmd_getex, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", .merge = MERGE_NONE),
	C("append", 3, W | D | F, K1, cmd_append, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("strlen", 2, R | F, K1, cmd_strlen, "string", "2.2.0", "Returns the length of a string value.", .merge = MERGE_NONE),
	C("incr", 2, W | D | F, K1, cmd_incr, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", .merge = MERGE_NONE),
	C("decr", 2, W | D | F, K1, cmd_decr, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", .merge = MERGE_NONE),
	C("incrby", 3, W | D | F, K1, cmd_incrby, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", .merge = MERGE_NONE),
	C("decrby", 3, W | D | F, K1, cmd_decrby, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", .merge = MERGE_NONE),
	C("incrbyfloat", 3, W | D | F, K1, cmd_incrbyfloat, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", .merge = MERGE_NONE),
	C("getrange", 4, R, K1, cmd_getrange, "string", "2.4.0", "Returns a substring of the string stored at a key.", .merge = MERGE_NONE),
	C("setrange", 4, W | D, K1, cmd_setrange, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("substr", 4, R, K1, cmd_substr, "string", "1.0.0", "Returns a substring from a string value.", .merge = MERGE_NONE),
	C("lcs", -3, R, KEYS(1, 2, 1), cmd_lcs, "string", "7.0.0", "Finds the longest common substring.", .cross_fn = xshard_gather),

	/* keys */
	C("del", -2, W, KEYS(1, -1, 1), cmd_del, "generic", "1.0.0", "Deletes one or more keys.", .merge = MERGE_SUM),
	C("unlink", -2, W | F, KEYS(1, -1, 1), cmd_unlink, "generic", "4.0.0", "Asynchronously deletes one or more keys.", .merge = MERGE_SUM),
	C("exists", -2, R | F, KEYS(1, -1, 1), cmd_exists, "generic", "1.0.0", "Determines whether one or more keys exist.", .merge = MERGE_SUM),
	C("touch", -2, R | F, KEYS(1, -1, 1), cmd_touch, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", .merge = MERGE_SUM),
	C("type", 2, R | F, K1, cmd_type, "generic", "1.0.0", "Determines the type of value stored at a key.", .merge = MERGE_NONE),
	C("expire", -3, W | F, K1, cmd_expire, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", .merge = MERGE_NONE),
	C("pexpire", -3, W | F, K1, cmd_pexpire, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", .merge = MERGE_NONE),
	C("expireat", -3, W | F, K1, cmd_expireat, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", .merge = MERGE_NONE),
	C("pexpireat", -3, W | F, K1, cmd_pexpireat, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", .merge = MERGE_NONE),
	C("ttl", 2, R | F, K1, cmd_ttl, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", .merge = MERGE_NONE),
	C("pttl", 2, R | F, K1, cmd_pttl, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", .merge = MERGE_NONE),
	C("expiretime", 2, R | F, K1, cmd_expiretime, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", .merge = MERGE_NONE),
	C("pexpiretime", 2, R | F, K1, cmd_pexpiretime, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", .merge = MERGE_NONE),
	C("persist", 2, W | F, K1, cmd_persist, "generic", "2.2.0", "Removes the expiration time of a key.", .merge = MERGE_NONE),
	C("rename", 3, W, KEYS(1, 2, 1), cmd_rename, "generic", "1.0.0", "Renames a key and overwrites the destination.", .cross_fn = xshard_rename),
	C("renamenx", 3, W | F, KEYS(1, 2, 1), cmd_renamenx, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", .cross_fn = xshard_renamenx),
	C("copy", -3, W | D, KEYS(1, 2, 1), cmd_copy, "generic", "6.2.0", "Copies the value of a key to a new key.", .cross_fn = xshard_copy, .wkeys = -1),
	C("keys", 2, R | CMD_BCAST, K0, cmd_keys, "generic", "1.0.0", "Returns all key names that match a pattern.", .merge = MERGE_CONCAT),
	C("scan", -2, R, K0, cmd_scan, "generic", "2.8.0", "Iterates over the key names in the database.", .route_fn = cmd_scan_route),
	C("randomkey", 1, R | CMD_BCAST, K0, cmd_randomkey, "generic", "1.0.0", "Returns a random key name from the database.", .merge = MERGE_CUSTOM, .merge_fn = merge_randomkey),
	C("dbsize", 1, R | F | CMD_BCAST, K0, cmd_dbsize, "server", "1.0.0", "Returns the number of keys in the database.", .merge = MERGE_SUM),
	C("flushdb", -1, W | CMD_BCAST, K0, cmd_flushdb, "server", "1.0.0", "Remove all keys from the current database.", .merge = MERGE_OK),
	C("flushall", -1, W | CMD_BCAST, K0, cmd_flushall, "server", "1.0.0", "Removes all keys from all databases.", .merge = MERGE_OK),
	C("swapdb", 3, W | F | CMD_BCAST, K0, cmd_swapdb, "server", "4.0.0", "Swaps two Redis databases.", .merge = MERGE_OK),
	C("object", -2, R, K0, NULL, "generic", "2.2.3", "A container for object introspection commands.", .subs = object_subs),

	/* connection */
	C("ping", -1, F | CMD_NOKEYS_ANY, K0, cmd_ping, "connection", "1.0.0", "Returns the server's liveliness response.", .merge = MERGE_NONE),
	C("echo", 2, F | CMD_NOKEYS_ANY, K0, cmd_echo, "connection", "1.0.0", "Returns the given string.", .merge = MERGE_NONE),
	C("quit", -1, CMD_CONN | CMD_NOAUTH | F | L | S, K0, cmd_quit, "connection", "1.0.0", "Closes the connection.", .merge = MERGE_NONE),
	C("reset", 1, CMD_CONN | CMD_NOAUTH | F | L | S, K0, cmd_reset, "connection", "6.2.0", "Resets the connection.", .merge = MERGE_NONE),
	C("hello", -1, CMD_CONN | CMD_NOAUTH | F | L | S, K0, cmd_hello, "connection", "6.0.0", "Handshakes with the Redis server.", .merge = MERGE_NONE),
	C("auth", -2, CMD_CONN | CMD_NOAUTH | F | L | S, K0, cmd_auth, "connection", "1.0.0", "Authenticates the connection.", .merge = MERGE_NONE),
	C("select", 2, CMD_CONN | F | L | S, K0, cmd_select, "connection", "1.0.0", "Changes the selected database.", .merge = MERGE_NONE),
	C("client", -2, 0, K0, NULL, "connection", "2.4.0", "A container for client connection commands.", .subs = client_subs),

	/* server */
	C("info", -1, L | S | CMD_BCAST, K0, cmd_info, "server", "1.0.0", "Returns information and statistics about the server.", .merge = MERGE_CUSTOM, .merge_fn = server_info_merge),
	C("config", -2, 0, K0, NULL, "server", "2.0.0", "A container for server configuration commands.", .subs = config_subs),
	C("command", -1, L | S | CMD_NOKEYS_ANY, K0, cmd_command, "server", "2.8.13", "Returns detailed information about all commands.", .subs = command_subs),
	C("time", 1, F | L | S | CMD_NOKEYS_ANY, K0, cmd_time, "server", "2.6.0", "Returns the server time.", .merge = MERGE_NONE),
	C("lastsave", 1, F | L | S | CMD_NOKEYS_ANY, K0, cmd_lastsave, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", .merge = MERGE_NONE),
	C("shutdown", -1, A | L | S | CMD_NOKEYS_ANY | CMD_ALLOW_BUSY | CMD_NOSCRIPT | CMD_NOQUEUE, K0, cmd_shutdown, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", .merge = MERGE_NONE),
	C("debug", -2, A | CMD_PROTECTED | CMD_NOSCRIPT, K0, NULL, "server", "1.0.0", "A container for debugging commands.", .subs = debug_subs),
	C("monitor", 1, A | CMD_NOSCRIPT | CMD_CONN | L | S, K0, cmd_monitor, "server", "1.0.0", "Listens for all requests received by the server in real-time.", .merge = MERGE_NONE),
	C("slowlog", -2, 0, K0, NULL, "server", "2.2.12", "A container for slow log commands.", .subs = slowlog_subs),
	C("memory", -2, 0, K0, NULL, "server", "4.0.0", "A container for memory diagnostics commands.", .subs = memory_subs),

#if __has_include("shards/tab_list.h")
#include "shards/tab_list.h"
#endif
#if __has_include("shards/tab_hash.h")
#include "shards/tab_hash.h"
#endif
#if __has_include("shards/tab_set.h")
#include "shards/tab_set.h"
#endif
#if __has_include("shards/tab_zset.h")
#include "shards/tab_zset.h"
#endif
#if __has_include("shards/tab_bits.h")
#include "shards/tab_bits.h"
#endif
#if __has_include("shards/tab_sort.h")
#include "shards/tab_sort.h"
#endif
#if __has_include("shards/tab_pubsub.h")
#include "shards/tab_pubsub.h"
#endif
#if __has_include("shards/tab_script.h")
#include "shards/tab_script.h"
#endif
#if __has_include("shards/tab_multi.h")
#include "shards/tab_multi.h"
#endif
#if __has_include("shards/tab_dump.h")
#include "shards/tab_dump.h"
#endif
#if __has_include("shards/tab_aof.h")
#include "shards/tab_aof.h"
#endif
#if __has_include("shards/tab_snap.h")   /* snapshot */
#include "shards/tab_snap.h"
#endif
#if __has_include("shards/tab_repl.h")   /* replica */
#include "shards/tab_repl.h"
#endif
#if __has_include("shards/tab_replm.h")   /* master */
#include "shards/tab_replm.h"
#endif
};

const struct cmd_def *cmd_table(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}
