/* shards/tab_zset.h — command-table rows of the sorted set family
 * (t_zset.c). Included twice by cmdtable.c: with TAB_DECL for the
 * prototypes, then inside the table for the rows. Arity, flags, legacy key
 * spec, group and since as Redis 7.0's COMMAND INFO/DOCS report them;
 * numkeys-style commands carry a keys_fn. Read-only multi-key commands
 * gather keys from other shards (xshard_gather). */
#ifdef TAB_DECL
cmd_fn cmd_zadd, cmd_zincrby, cmd_zrem, cmd_zcard, cmd_zscore, cmd_zmscore, cmd_zrank,
	cmd_zrevrank, cmd_zrange, cmd_zrangestore, cmd_zrevrange, cmd_zrangebyscore,
	cmd_zrevrangebyscore, cmd_zrangebylex, cmd_zrevrangebylex, cmd_zcount, cmd_zlexcount,
	cmd_zpopmin, cmd_zpopmax, cmd_bzpopmin, cmd_bzpopmax, cmd_zmpop, cmd_bzmpop,
	cmd_zrandmember, cmd_zunion, cmd_zinter, cmd_zdiff, cmd_zunionstore, cmd_zinterstore,
	cmd_zdiffstore, cmd_zintercard, cmd_zremrangebyrank, cmd_zremrangebyscore,
	cmd_zremrangebylex, cmd_zscan;
cmd_keys_fn zset_keys_numkeys1, zset_keys_numkeys2, zset_keys_store;
#else
	/* sorted sets */
	C("zadd", -4, W | D | F, K1, cmd_zadd, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", .merge = MERGE_NONE),
	C("zincrby", 4, W | D | F, K1, cmd_zincrby, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", .merge = MERGE_NONE),
	C("zrem", -3, W | F, K1, cmd_zrem, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", .merge = MERGE_NONE),
	C("zcard", 2, R | F, K1, cmd_zcard, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", .merge = MERGE_NONE),
	C("zscore", 3, R | F, K1, cmd_zscore, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", .merge = MERGE_NONE),
	C("zmscore", -3, R | F, K1, cmd_zmscore, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", .merge = MERGE_NONE),
	C("zrank", 3, R | F, K1, cmd_zrank, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", .merge = MERGE_NONE),
	C("zrevrank", 3, R | F, K1, cmd_zrevrank, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", .merge = MERGE_NONE),
	C("zrange", -4, R, K1, cmd_zrange, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", .merge = MERGE_NONE),
	C("zrangestore", -5, W | D, KEYS(1, 2, 1), cmd_zrangestore, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", .merge = MERGE_NONE, .wkeys = 1),
	C("zrevrange", -4, R, K1, cmd_zrevrange, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", .merge = MERGE_NONE),
	C("zrangebyscore", -4, R, K1, cmd_zrangebyscore, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", .merge = MERGE_NONE),
	C("zrevrangebyscore", -4, R, K1, cmd_zrevrangebyscore, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", .merge = MERGE_NONE),
	C("zrangebylex", -4, R, K1, cmd_zrangebylex, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", .merge = MERGE_NONE),
	C("zrevrangebylex", -4, R, K1, cmd_zrevrangebylex, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", .merge = MERGE_NONE),
	C("zcount", 4, R | F, K1, cmd_zcount, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", .merge = MERGE_NONE),
	C("zlexcount", 4, R | F, K1, cmd_zlexcount, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", .merge = MERGE_NONE),
	C("zpopmin", -2, W | F, K1, cmd_zpopmin, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", .merge = MERGE_NONE),
	C("zpopmax", -2, W | F, K1, cmd_zpopmax, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", .merge = MERGE_NONE),
	C("bzpopmin", -3, W | F | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, -2, 1), cmd_bzpopmin, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", .merge = MERGE_NONE),
	C("bzpopmax", -3, W | F | CMD_NOSCRIPT | CMD_BLOCKING, KEYS(1, -2, 1), cmd_bzpopmax, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", .merge = MERGE_NONE),
	C("zmpop", -4, W, K0, cmd_zmpop, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", .merge = MERGE_NONE, .keys_fn = zset_keys_numkeys1),
	C("bzmpop", -5, W | CMD_BLOCKING, K0, cmd_bzmpop, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", .merge = MERGE_NONE, .keys_fn = zset_keys_numkeys2),
	C("zrandmember", -2, R, K1, cmd_zrandmember, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", .merge = MERGE_NONE),
	C("zunion", -3, R, K0, cmd_zunion, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", .keys_fn = zset_keys_numkeys1, .cross_fn = xshard_gather),
	C("zinter", -3, R, K0, cmd_zinter, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", .keys_fn = zset_keys_numkeys1, .cross_fn = xshard_gather),
	C("zdiff", -3, R, K0, cmd_zdiff, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", .keys_fn = zset_keys_numkeys1, .cross_fn = xshard_gather),
	C("zunionstore", -4, W | D, K1, cmd_zunionstore, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", .merge = MERGE_NONE, .keys_fn = zset_keys_store, .wkeys = 1),
	C("zinterstore", -4, W | D, K1, cmd_zinterstore, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", .merge = MERGE_NONE, .keys_fn = zset_keys_store, .wkeys = 1),
	C("zdiffstore", -4, W | D, K1, cmd_zdiffstore, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", .merge = MERGE_NONE, .keys_fn = zset_keys_store, .wkeys = 1),
	C("zintercard", -3, R, K0, cmd_zintercard, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", .keys_fn = zset_keys_numkeys1, .cross_fn = xshard_gather),
	C("zremrangebyrank", 4, W, K1, cmd_zremrangebyrank, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", .merge = MERGE_NONE),
	C("zremrangebyscore", 4, W, K1, cmd_zremrangebyscore, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", .merge = MERGE_NONE),
	C("zremrangebylex", 4, W, K1, cmd_zremrangebylex, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", .merge = MERGE_NONE),
	C("zscan", -3, R, K1, cmd_zscan, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", .merge = MERGE_NONE),
#endif
