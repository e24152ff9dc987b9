/* shards/tab_sort.h — command-table rows of SORT and SORT_RO (t_sort.c).
 * Included twice by cmdtable.c: with TAB_DECL for the prototypes, then
 * inside the table for the rows. SORT's keys are the sorted key and the
 * STORE destination (cmd_sort_keys); BY/GET patterns are not keys. */
#ifdef TAB_DECL
cmd_fn cmd_sort, cmd_sort_ro;
cmd_keys_fn cmd_sort_keys;
#else
	/* sort */
	C("sort", -2, W | D, K1, cmd_sort, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", .keys_fn = cmd_sort_keys, .wkeys = -1),
	C("sort_ro", -2, R, K1, cmd_sort_ro, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", .merge = MERGE_NONE),
#endif
