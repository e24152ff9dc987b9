/* shards/tab_multi.h — transaction commands' rows of the command table
 * (included by cmdtable.c only). MULTI EXEC DISCARD WATCH are consumed by
 * txn_dispatch() (multi.c) before routing; CMD_NOMULTI sends them there. */
#ifdef TAB_DECL
cmd_fn cmd_multi, cmd_unwatch;
#else
	C("multi", 1, CMD_NOMULTI | CMD_NOSCRIPT | CMD_CONN | F | L | S, K0, cmd_multi, "transactions", "1.2.0",
	  "Starts a transaction.", .merge = MERGE_NONE),
	C("exec", 1, CMD_NOMULTI | CMD_NOSCRIPT | CMD_CONN | L | S, K0, cmd_multi, "transactions", "1.2.0",
	  "Executes all commands in a transaction.", .merge = MERGE_NONE),
	C("discard", 1, CMD_NOMULTI | CMD_NOSCRIPT | CMD_CONN | F | L | S, K0, cmd_multi, "transactions", "2.0.0",
	  "Discards a transaction.", .merge = MERGE_NONE),
	C("watch", -2, CMD_NOMULTI | CMD_NOSCRIPT | CMD_CONN | F | L | S, KEYS(1, -1, 1), cmd_multi, "transactions", "2.2.0",
	  "Monitors changes to keys to determine the execution of a transaction.", .merge = MERGE_NONE),
	C("unwatch", 1, CMD_NOSCRIPT | CMD_CONN | F | L | S, K0, cmd_unwatch, "transactions", "2.2.0",
	  "Forgets about watched keys of a transaction.", .merge = MERGE_NONE),
#endif
