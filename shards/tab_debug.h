/* DEBUG subcommands beyond t_server.c's own (digest.c): included by
 * cmdtable.c once with TAB_DECL (prototypes) and once inside the DEBUG
 * subcommand table with TAB_DEBUG_ROWS (rows). Redis's DEBUG is one
 * command of arity -2 (admin noscript loading stale); DIGEST checks its
 * own argument count so the error text is Redis's. */
#ifdef TAB_DECL
cmd_fn cmd_debug_digest, cmd_debug_digest_value;
cmd_merge_fn merge_debug_digest;
#elif defined(TAB_DEBUG_ROWS)
	C("debug|digest", -2, A | CMD_PROTECTED | CMD_NOSCRIPT | CMD_BCAST | L | S, K0, cmd_debug_digest,
	  "server", "1.0.0", "Outputs a hex signature representing the current DB content.",
	  .merge = MERGE_CUSTOM, .merge_fn = merge_debug_digest),
	C("debug|digest-value", -2, A | CMD_PROTECTED | CMD_NOSCRIPT | L | S, KEYS(2, -1, 1),
	  cmd_debug_digest_value, "server", "1.0.0",
	  "Outputs a hex signature of the values of the given keys.", .merge = MERGE_BY_KEY),
#endif
