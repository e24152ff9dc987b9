/* shards/tab_set.h — command-table rows of the set family (t_set.c).
 * Included twice by cmdtable.c: with TAB_DECL for the prototypes, then
 * inside the table for the rows. Arity, flags, legacy key spec, group,
 * since and summary as Redis 7's COMMAND INFO/DOCS report them. Multi-key
 * commands whose keys span shards are gathered by the routing layer
 * (route.c: xshard_gather, the default cross-shard path). */
#ifdef TAB_DECL
cmd_fn cmd_sadd, cmd_srem, cmd_smembers, cmd_sismember, cmd_smismember, cmd_scard,
	cmd_spop, cmd_srandmember, cmd_smove, cmd_sinter, cmd_sintercard, cmd_sinterstore,
	cmd_sunion, cmd_sunionstore, cmd_sdiff, cmd_sdiffstore, cmd_sscan;
cmd_keys_fn set_keys_sintercard;
#else
	/* sets */
	C("sadd", -3, W | D | F, K1, cmd_sadd, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("srem", -3, W | F, K1, cmd_srem, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", .merge = MERGE_NONE),
	C("smembers", 2, R, K1, cmd_smembers, "set", "1.0.0", "Returns all members of a set.", .merge = MERGE_NONE),
	C("sismember", 3, R | F, K1, cmd_sismember, "set", "1.0.0", "Determines whether a member belongs to a set.", .merge = MERGE_NONE),
	C("smismember", -3, R | F, K1, cmd_smismember, "set", "6.2.0", "Determines whether multiple members belong to a set.", .merge = MERGE_NONE),
	C("scard", 2, R | F, K1, cmd_scard, "set", "1.0.0", "Returns the number of members in a set.", .merge = MERGE_NONE),
	C("spop", -2, W | F, K1, cmd_spop, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", .merge = MERGE_NONE),
	C("srandmember", -2, R, K1, cmd_srandmember, "set", "1.0.0", "Get one or multiple random members from a set", .merge = MERGE_NONE),
	C("smove", 4, W | F, KEYS(1, 2, 1), cmd_smove, "set", "1.0.0", "Moves a member from one set to another.", .merge = MERGE_NONE),
	C("sinter", -2, R, KEYS(1, -1, 1), cmd_sinter, "set", "1.0.0", "Returns the intersect of multiple sets.", .merge = MERGE_NONE),
	C("sintercard", -3, R, K0, cmd_sintercard, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", .merge = MERGE_NONE, .keys_fn = set_keys_sintercard),
	C("sinterstore", -3, W | D, KEYS(1, -1, 1), cmd_sinterstore, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", .merge = MERGE_NONE, .wkeys = 1),
	C("sunion", -2, R, KEYS(1, -1, 1), cmd_sunion, "set", "1.0.0", "Returns the union of multiple sets.", .merge = MERGE_NONE),
	C("sunionstore", -3, W | D, KEYS(1, -1, 1), cmd_sunionstore, "set", "1.0.0", "Stores the union of multiple sets in a key.", .merge = MERGE_NONE, .wkeys = 1),
	C("sdiff", -2, R, KEYS(1, -1, 1), cmd_sdiff, "set", "1.0.0", "Returns the difference of multiple sets.", .merge = MERGE_NONE),
	C("sdiffstore", -3, W | D, KEYS(1, -1, 1), cmd_sdiffstore, "set", "1.0.0", "Stores the difference of multiple sets in a key.", .merge = MERGE_NONE, .wkeys = 1),
	C("sscan", -3, R, K1, cmd_sscan, "set", "2.8.0", "Iterates over members of a set.", .merge = MERGE_NONE),
#endif
