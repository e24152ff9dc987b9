/* shards/tab_hash.h — command-table rows of the hash family (t_hash.c).
 * Included twice by cmdtable.c: with TAB_DECL for the prototypes, then
 * inside the table for the rows. Arity, flags, key spec, group, since and
 * summary as Redis 7's COMMAND INFO/DOCS report them. */
#ifdef TAB_DECL
cmd_fn cmd_hset, cmd_hsetnx, cmd_hget, cmd_hmget, cmd_hmset, cmd_hdel, cmd_hlen,
	cmd_hexists, cmd_hkeys, cmd_hvals, cmd_hgetall, cmd_hincrby, cmd_hincrbyfloat,
	cmd_hstrlen, cmd_hrandfield, cmd_hscan;
#else
	/* hash */
	C("hset", -4, W | D | F, K1, cmd_hset, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", .merge = MERGE_NONE),
	C("hsetnx", 4, W | D | F, K1, cmd_hsetnx, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", .merge = MERGE_NONE),
	C("hget", 3, R | F, K1, cmd_hget, "hash", "2.0.0", "Returns the value of a field in a hash.", .merge = MERGE_NONE),
	C("hmget", -3, R | F, K1, cmd_hmget, "hash", "2.0.0", "Returns the values of all fields in a hash.", .merge = MERGE_NONE),
	C("hmset", -4, W | D | F, K1, cmd_hmset, "hash", "2.0.0", "Sets the values of multiple fields.", .merge = MERGE_NONE),
	C("hdel", -3, W | F, K1, cmd_hdel, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", .merge = MERGE_NONE),
	C("hlen", 2, R | F, K1, cmd_hlen, "hash", "2.0.0", "Returns the number of fields in a hash.", .merge = MERGE_NONE),
	C("hexists", 3, R | F, K1, cmd_hexists, "hash", "2.0.0", "Determines whether a field exists in a hash.", .merge = MERGE_NONE),
	C("hkeys", 2, R, K1, cmd_hkeys, "hash", "2.0.0", "Returns all fields in a hash.", .merge = MERGE_NONE),
	C("hvals", 2, R, K1, cmd_hvals, "hash", "2.0.0", "Returns all values in a hash.", .merge = MERGE_NONE),
	C("hgetall", 2, R, K1, cmd_hgetall, "hash", "2.0.0", "Returns all fields and values in a hash.", .merge = MERGE_NONE),
	C("hincrby", 4, W | D | F, K1, cmd_hincrby, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", .merge = MERGE_NONE),
	C("hincrbyfloat", 4, W | D | F, K1, cmd_hincrbyfloat, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", .merge = MERGE_NONE),
	C("hstrlen", 3, R | F, K1, cmd_hstrlen, "hash", "3.2.0", "Returns the length of the value of a field.", .merge = MERGE_NONE),
	C("hrandfield", -2, R, K1, cmd_hrandfield, "hash", "6.2.0", "Returns one or more random fields from a hash.", .merge = MERGE_NONE),
	C("hscan", -3, R, K1, cmd_hscan, "hash", "2.8.0", "Iterates over fields and values of a hash.", .merge = MERGE_NONE),
#endif
