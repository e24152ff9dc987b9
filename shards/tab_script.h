/* shards/tab_script.h — command-table rows of the scripting family
 * (t_script.c). Included twice by cmdtable.c: with TAB_DECL for the
 * prototypes and the SCRIPT subcommand table, then inside the table for the
 * rows. Arity, flags, group and since as Redis 7's COMMAND INFO/DOCS report
 * them. EVAL's keys are found by script_eval_keys (numkeys form); the
 * legacy key spec is (0, 0, 0) as in Redis. */
#ifdef TAB_DECL
cmd_fn cmd_eval, cmd_evalsha, cmd_eval_ro, cmd_evalsha_ro, cmd_script_load,
	cmd_script_exists, cmd_script_flush, cmd_script_kill, cmd_script_help;
cmd_keys_fn script_eval_keys;

static const struct cmd_def script_subs[] = {
	C("script|load", 3, CMD_NOSCRIPT | CMD_NOKEYS_ANY | S, K0, cmd_script_load, "scripting", "2.6.0",
	  "Loads a server-side Lua script to the script cache.", .merge = MERGE_NONE),
	C("script|exists", -3, CMD_NOSCRIPT | CMD_NOKEYS_ANY, K0, cmd_script_exists, "scripting", "2.6.0",
	  "Determines whether server-side Lua scripts exist in the script cache.", .merge = MERGE_NONE),
	C("script|flush", -2, CMD_NOSCRIPT | CMD_NOKEYS_ANY, K0, cmd_script_flush, "scripting", "2.6.0",
	  "Removes all server-side Lua scripts from the script cache.", .merge = MERGE_NONE),
	C("script|kill", 2, CMD_NOSCRIPT | CMD_NOKEYS_ANY | CMD_ALLOW_BUSY, K0, cmd_script_kill, "scripting", "2.6.0",
	  "Terminates a server-side Lua script during execution.", .merge = MERGE_NONE),
	C("script|help", 2, CMD_NOKEYS_ANY | L | S, K0, cmd_script_help, "scripting", "5.0.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};
#else
	/* scripting */
	C("eval", -3, CMD_NOSCRIPT | CMD_SCRIPT | S, K0, cmd_eval, "scripting", "2.6.0",
	  "Executes a server-side Lua script.", .keys_fn = script_eval_keys, .merge = MERGE_NONE),
	C("evalsha", -3, CMD_NOSCRIPT | CMD_SCRIPT | S, K0, cmd_evalsha, "scripting", "2.6.0",
	  "Executes a server-side Lua script by SHA1 digest.", .keys_fn = script_eval_keys, .merge = MERGE_NONE),
	C("eval_ro", -3, R | CMD_NOSCRIPT | CMD_SCRIPT | S, K0, cmd_eval_ro, "scripting", "7.0.0",
	  "Executes a read-only server-side Lua script.", .keys_fn = script_eval_keys, .merge = MERGE_NONE),
	C("evalsha_ro", -3, R | CMD_NOSCRIPT | CMD_SCRIPT | S, K0, cmd_evalsha_ro, "scripting", "7.0.0",
	  "Executes a read-only server-side Lua script by SHA1 digest.", .keys_fn = script_eval_keys, .merge = MERGE_NONE),
	C("script", -2, 0, K0, NULL, "scripting", "2.6.0",
	  "A container for Lua scripts management commands.", .subs = script_subs),
#endif
