/* shards/tab_snap.h — command rows of RDB snapshots (handlers in snap.c),
 * included twice by cmdtable.c: with TAB_DECL for the prototypes, then for
 * the rows. LASTSAVE and SHUTDOWN stay in cmdtable.c (t_server.c). */
#ifdef TAB_DECL
cmd_fn cmd_save, cmd_bgsave;
#else
	C("save", 1, A | CMD_NOSCRIPT | CMD_NOQUEUE | CMD_NOKEYS_ANY, K0, cmd_save, "server", "1.0.0",
	  "Synchronously saves the database(s) to disk.", .merge = MERGE_NONE),
	C("bgsave", -1, A | CMD_NOSCRIPT | CMD_NOKEYS_ANY, K0, cmd_bgsave, "server", "1.0.0",
	  "Asynchronously saves the database(s) to disk.", .merge = MERGE_NONE),
#endif
