/* Replication commands of the replica side (shards/replclient.c): the rows
 * cmdtable.c includes. REPLICAOF/SLAVEOF run on shard 0, which holds the
 * master client and the shard side of the link. */
#ifdef TAB_DECL
cmd_fn cmd_replicaof, cmd_role, cmd_replconf;
cmd_route_fn replclient_route;
#else
	C("replicaof", 3, A | CMD_NOSCRIPT | S, K0, cmd_replicaof, "server", "5.0.0",
	  "Make the server a replica of another instance, or promote it as master.",
	  .route_fn = replclient_route),
	C("slaveof", 3, A | CMD_NOSCRIPT | S, K0, cmd_replicaof, "server", "1.0.0",
	  "Make the server a replica of another instance, or promote it as master.",
	  .route_fn = replclient_route),
	C("role", 1, CMD_NOSCRIPT | L | S | F | CMD_NOKEYS_ANY, K0, cmd_role, "server", "2.8.12",
	  "Return the role of the instance in the context of replication", .merge = MERGE_NONE),
	C("replconf", -1, A | CMD_NOSCRIPT | L | S | CMD_ALLOW_BUSY | CMD_CONN, K0, cmd_replconf,
	  "server", "3.0.0", "An internal command for configuring the replication stream",
	  .merge = MERGE_NONE),
#endif
