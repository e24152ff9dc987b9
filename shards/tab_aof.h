/* shards/tab_aof.h — command rows of the AOF (handlers in propagate.c). */
#ifdef TAB_DECL
cmd_fn cmd_bgrewriteaof;
#else
	C("bgrewriteaof", 1, A | CMD_NOSCRIPT | CMD_NOKEYS_ANY, K0, cmd_bgrewriteaof, "server", "1.0.0",
	  "Asynchronously rewrites the append-only file to disk.", .merge = MERGE_NONE),
#endif
