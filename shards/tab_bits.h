/* shards/tab_bits.h — command-table rows of the bitmap and HyperLogLog
 * families (t_bitmap.c, t_hll.c). Included twice by cmdtable.c: with
 * TAB_DECL for the prototypes, then inside the table for the rows.
 * Arity, flags, key specs and summaries as Redis 7 reports them.
 *
 * Keys on several shards: PFCOUNT, BITOP and PFMERGE are gathered
 * (xshard_gather: the keys are copied to the client's shard under the
 * transaction's locks, the handler runs there, and a write is put back),
 * so the handlers never see a partial key set.
 */
#ifdef TAB_DECL
cmd_fn cmd_setbit, cmd_getbit, cmd_bitcount, cmd_bitpos, cmd_bitop, cmd_bitfield,
	cmd_bitfield_ro, cmd_pfadd, cmd_pfcount, cmd_pfmerge, cmd_pfdebug;
#else
	/* bitmaps */
	C("setbit", 4, W | D, K1, cmd_setbit, "bitmap", "2.2.0",
	  "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
	  .merge = MERGE_NONE),
	C("getbit", 3, R | F, K1, cmd_getbit, "bitmap", "2.2.0",
	  "Returns a bit value by offset.", .merge = MERGE_NONE),
	C("bitcount", -2, R, K1, cmd_bitcount, "bitmap", "2.6.0",
	  "Counts the number of set bits (population counting) in a string.", .merge = MERGE_NONE),
	C("bitpos", -3, R, K1, cmd_bitpos, "bitmap", "2.8.7",
	  "Finds the first set (1) or clear (0) bit in a string.", .merge = MERGE_NONE),
	C("bitop", -4, W | D, KEYS(2, -1, 1), cmd_bitop, "bitmap", "2.6.0",
	  "Performs bitwise operations on multiple strings, and stores the result.",
	  .cross_fn = xshard_gather, .wkeys = 1),
	C("bitfield", -2, W | D, K1, cmd_bitfield, "bitmap", "3.2.0",
	  "Performs arbitrary bitfield integer operations on strings.", .merge = MERGE_NONE),
	C("bitfield_ro", -2, R | F, K1, cmd_bitfield_ro, "bitmap", "6.0.0",
	  "Performs arbitrary read-only bitfield integer operations on strings.",
	  .merge = MERGE_NONE),

	/* hyperloglog */
	C("pfadd", -2, W | D | F, K1, cmd_pfadd, "hyperloglog", "2.8.9",
	  "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
	  .merge = MERGE_NONE),
	C("pfcount", -2, R, KEYS(1, -1, 1), cmd_pfcount, "hyperloglog", "2.8.9",
	  "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
	  .cross_fn = xshard_gather),
	C("pfmerge", -2, W | D, KEYS(1, -1, 1), cmd_pfmerge, "hyperloglog", "2.8.9",
	  "Merges one or more HyperLogLog values into a single key.",
	  .cross_fn = xshard_gather, .wkeys = 1),
	C("pfdebug", 3, W | D | A, KEYS(2, 2, 1), cmd_pfdebug, "hyperloglog", "2.8.9",
	  "Internal commands for debugging HyperLogLog values.", .merge = MERGE_NONE),
#endif
