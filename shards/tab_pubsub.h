/* shards/tab_pubsub.h — command rows of Pub/Sub (pubsub.c); included twice
 * by cmdtable.c. (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE change the client's
 * own state: CMD_CONN. PUBLISH/SPUBLISH and PUBSUB's queries run on every
 * shard (CMD_BCAST) because subscribers live on every shard. SSUBSCRIBE,
 * SUNSUBSCRIBE and SPUBLISH keep Redis 7's key spec (the shard channel is
 * the key, for COMMAND and cluster redirection); routing ignores it here
 * since CMD_CONN/CMD_BCAST decide where they run. */
#ifdef TAB_DECL
cmd_fn cmd_subscribe, cmd_unsubscribe, cmd_psubscribe, cmd_punsubscribe,
	cmd_ssubscribe, cmd_sunsubscribe, cmd_publish, cmd_spublish,
	cmd_pubsub_channels, cmd_pubsub_numsub, cmd_pubsub_numpat,
	cmd_pubsub_shardchannels, cmd_pubsub_shardnumsub, cmd_pubsub_help;
cmd_merge_fn ps_merge_names, ps_merge_numsub, ps_merge_numpat;

static const struct cmd_def pubsub_subs[] = {
	C("pubsub|channels", -2, CMD_PUBSUB | L | S | CMD_BCAST, K0, cmd_pubsub_channels, "pubsub", "2.8.0",
	  "Returns the active channels.", .merge = MERGE_CUSTOM, .merge_fn = ps_merge_names),
	C("pubsub|numpat", 2, CMD_PUBSUB | L | S | CMD_BCAST, K0, cmd_pubsub_numpat, "pubsub", "2.8.0",
	  "Returns a count of unique pattern subscriptions.", .merge = MERGE_CUSTOM, .merge_fn = ps_merge_numpat),
	C("pubsub|numsub", -2, CMD_PUBSUB | L | S | CMD_BCAST, K0, cmd_pubsub_numsub, "pubsub", "2.8.0",
	  "Returns a count of subscribers to channels.", .merge = MERGE_CUSTOM, .merge_fn = ps_merge_numsub),
	C("pubsub|shardchannels", -2, CMD_PUBSUB | L | S | CMD_BCAST, K0, cmd_pubsub_shardchannels, "pubsub", "7.0.0",
	  "Returns the active shard channels.", .merge = MERGE_CUSTOM, .merge_fn = ps_merge_names),
	C("pubsub|shardnumsub", -2, CMD_PUBSUB | L | S | CMD_BCAST, K0, cmd_pubsub_shardnumsub, "pubsub", "7.0.0",
	  "Returns the count of subscribers of shard channels.", .merge = MERGE_CUSTOM, .merge_fn = ps_merge_numsub),
	C("pubsub|help", 2, L | S, K0, cmd_pubsub_help, "pubsub", "6.2.0",
	  "Returns helpful text about the different subcommands.", .merge = MERGE_NONE),
	{ .name = NULL },
};
#else
	/* pub/sub */
	C("subscribe", -2, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, K0, cmd_subscribe, "pubsub", "2.0.0",
	  "Listens for messages published to channels.", .merge = MERGE_NONE),
	C("unsubscribe", -1, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, K0, cmd_unsubscribe, "pubsub", "2.0.0",
	  "Stops listening to messages posted to channels.", .merge = MERGE_NONE),
	C("psubscribe", -2, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, K0, cmd_psubscribe, "pubsub", "2.0.0",
	  "Listens for messages published to channels that match one or more patterns.", .merge = MERGE_NONE),
	C("punsubscribe", -1, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, K0, cmd_punsubscribe, "pubsub", "2.0.0",
	  "Stops listening to messages published to channels that match one or more patterns.", .merge = MERGE_NONE),
	C("publish", 3, CMD_PUBSUB | L | S | F | CMD_BCAST, K0, cmd_publish, "pubsub", "2.0.0",
	  "Posts a message to a channel.", .merge = MERGE_SUM),
	C("pubsub", -2, 0, K0, NULL, "pubsub", "2.8.0", "A container for Pub/Sub commands.", .subs = pubsub_subs),
	C("ssubscribe", -2, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, KEYS(1, -1, 1), cmd_ssubscribe, "pubsub", "7.0.0",
	  "Listens for messages published to shard channels.", .merge = MERGE_NONE),
	C("sunsubscribe", -1, CMD_PUBSUB | CMD_NOSCRIPT | L | S | CMD_CONN, KEYS(1, -1, 1), cmd_sunsubscribe, "pubsub", "7.0.0",
	  "Stops listening to messages posted to shard channels.", .merge = MERGE_NONE),
	C("spublish", 3, CMD_PUBSUB | L | S | F | CMD_BCAST, K1, cmd_spublish, "pubsub", "7.0.0",
	  "Post a message to a shard channel", .merge = MERGE_SUM),
#endif
