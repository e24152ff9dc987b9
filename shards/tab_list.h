/* shards/tab_list.h — the list family's rows of the command table
 * (included twice by cmdtable.c: prototypes with TAB_DECL, rows without).
 * Arity, flags, key specs, since and summaries as Redis 7's COMMAND INFO
 * and COMMAND DOCS report them. LMPOP/BLMPOP have movable keys: their
 * legacy spec is (0, 0, 0) and keys_fn finds the keys. */
#ifdef TAB_DECL
cmd_fn cmd_lpush, cmd_rpush, cmd_lpushx, cmd_rpushx, cmd_lpop, cmd_rpop, cmd_llen,
	cmd_lrange, cmd_lindex, cmd_lset, cmd_linsert, cmd_lrem, cmd_ltrim, cmd_lpos,
	cmd_lmove, cmd_rpoplpush, cmd_lmpop, cmd_blpop, cmd_brpop, cmd_blmove,
	cmd_brpoplpush, cmd_blmpop;
cmd_keys_fn cmd_lmpop_keys, cmd_blmpop_keys;
#else
	/* lists */
	C("lpush", -3, W | D | F, K1, cmd_lpush, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("rpush", -3, W | D | F, K1, cmd_rpush, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("lpushx", -3, W | D | F, K1, cmd_lpushx, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", .merge = MERGE_NONE),
	C("rpushx", -3, W | D | F, K1, cmd_rpushx, "list", "2.2.0", "Appends an element to a list only when the list exists.", .merge = MERGE_NONE),
	C("lpop", -2, W | F, K1, cmd_lpop, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("rpop", -2, W | F, K1, cmd_rpop, "list", "1.0.0", "Returns and removes the last elements of the list. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("llen", 2, R | F, K1, cmd_llen, "list", "1.0.0", "Returns the length of a list.", .merge = MERGE_NONE),
	C("lrange", 4, R, K1, cmd_lrange, "list", "1.0.0", "Returns a range of elements from a list.", .merge = MERGE_NONE),
	C("lindex", 3, R, K1, cmd_lindex, "list", "1.0.0", "Returns an element from a list by its index.", .merge = MERGE_NONE),
	C("lset", 4, W | D, K1, cmd_lset, "list", "1.0.0", "Sets the value of an element in a list by its index.", .merge = MERGE_NONE),
	C("linsert", 5, W | D, K1, cmd_linsert, "list", "2.2.0", "Inserts an element before or after another element in a list.", .merge = MERGE_NONE),
	C("lrem", 4, W, K1, cmd_lrem, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", .merge = MERGE_NONE),
	C("ltrim", 4, W, K1, cmd_ltrim, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", .merge = MERGE_NONE),
	C("lpos", -3, R, K1, cmd_lpos, "list", "6.0.6", "Returns the index of matching elements in a list.", .merge = MERGE_NONE),
	C("lmove", 5, W | D, KEYS(1, 2, 1), cmd_lmove, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", .merge = MERGE_NONE),
	C("rpoplpush", 3, W | D, KEYS(1, 2, 1), cmd_rpoplpush, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("lmpop", -4, W, K0, cmd_lmpop, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", .merge = MERGE_NONE, .keys_fn = cmd_lmpop_keys),
	C("blpop", -3, W | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, -2, 1), cmd_blpop, "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("brpop", -3, W | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, -2, 1), cmd_brpop, "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("blmove", 6, W | D | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, 2, 1), cmd_blmove, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", .merge = MERGE_NONE),
	C("brpoplpush", 4, W | D | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, 2, 1), cmd_brpoplpush, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", .merge = MERGE_NONE),
	C("blmpop", -5, W | CMD_BLOCKING, K0, cmd_blmpop, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", .merge = MERGE_NONE, .keys_fn = cmd_blmpop_keys),
#endif
