/* shards/tab_replm.h — command rows of the master side of replication
 * (handlers in shards/replmaster.c), included twice by cmdtable.c: with
 * TAB_DECL for the prototypes, then for the rows. REPLCONF and ROLE are in
 * tab_repl.h (replclient.c calls into replmaster.c for a master's part). */
#ifdef TAB_DECL
cmd_fn cmd_psync, cmd_sync, cmd_wait;
#else
	C("psync", -3, A | CMD_NOSCRIPT | CMD_NOQUEUE | CMD_CONN, K0, cmd_psync, "server", "2.8.0",
	  "An internal command used in replication", .merge = MERGE_NONE),
	C("sync", 1, A | CMD_NOSCRIPT | CMD_NOQUEUE | CMD_CONN, K0, cmd_sync, "server", "1.0.0",
	  "An internal command used in replication", .merge = MERGE_NONE),
	C("wait", 3, CMD_NOSCRIPT | CMD_CONN, K0, cmd_wait, "generic", "3.0.0",
	  "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
	  .merge = MERGE_NONE),
#endif
