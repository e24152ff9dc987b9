/* shards/pubsub.h — Pub/Sub (private to shards/; pubsub.c).
 *
 * Each shard keeps the subscriptions of its own connections: channel ->
 * subscribers and pattern -> subscribers tables, and per connection the
 * channels/patterns it holds (struct ps_conn, NULL while it holds none).
 * SUBSCRIBE and friends run on the client's own shard (CMD_CONN). PUBLISH
 * is a broadcast (CMD_BCAST, MERGE_SUM): every shard delivers the message
 * to its local subscribers and answers how many it reached. Rings are FIFO,
 * so subscribers see one publisher connection's messages in order. PUBSUB
 * CHANNELS/NUMSUB/NUMPAT are broadcasts whose parts are merged. */
#ifndef KR_PUBSUB_H
#define KR_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

struct shard;
struct conn;
struct cmd_def;

/* Per-shard state (sh->ps): created before the shard runs, freed after. */
void ps_shard_init(struct shard *sh);
void ps_shard_free(struct shard *sh);
/* The connection is closing or RESET: drop all its subscriptions
 * (no replies are sent). */
void ps_conn_reset(struct shard *sh, struct conn *c);
/* Subscription counts for CLIENT LIST/INFO (sub=, psub=). */
size_t ps_nchannels(const struct conn *c);
size_t ps_npatterns(const struct conn *c);
size_t ps_nshardchannels(const struct conn *c);
/* Holds any subscription (channels, patterns or shard channels). */
bool ps_subscribed(const struct conn *c);
/* A RESP2 connection holding subscriptions may only run (P)SUBSCRIBE,
 * (P)UNSUBSCRIBE, PING, QUIT and RESET: false for any other command
 * (the dispatcher then replies Redis's error for that context). */
bool ps_allowed(const struct conn *c, const struct cmd_def *cmd);

#endif
