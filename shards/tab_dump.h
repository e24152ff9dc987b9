/* Command rows of DUMP and RESTORE (shards/t_dump.c), included twice by
 * cmdtable.c: with TAB_DECL for the prototypes, then for the rows. */
#ifdef TAB_DECL
cmd_fn cmd_dump, cmd_restore;
#else
	C("dump", 2, R, K1, cmd_dump, "generic", "2.6.0",
	  "Returns a serialized representation of the value stored at a key.", .merge = MERGE_NONE),
	C("restore", -4, W | D, K1, cmd_restore, "generic", "2.6.0",
	  "Creates a key from serialized representation of its value.", .merge = MERGE_NONE),
#endif
