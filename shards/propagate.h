/* shards/propagate.h — the shard side of the write stream (propagate.c):
 * what the dispatcher, the connection layer and the scripting engine call
 * (private to shards/).
 *
 * Each call is a one-line hook in its caller; all of them are cheap no-ops
 * while the stream is off (appendonly no). */
#ifndef KR_PROPAGATE_H
#define KR_PROPAGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shards/cmd.h"

struct shard;
struct conn;

/* route_exec(): a write command changed something (ctx->dirty moved and it
 * is not a script): record it in the form that replays to the same data
 * (relative times made absolute, random picks made explicit, blocking
 * forms made non-blocking; see the top of propagate.c). Call only when
 * wstream_enabled(). */
void wrec_after_exec(struct shard *sh, struct cmd_ctx *ctx);

/* A script's writes are one unit: call begin before it runs and end
 * (with begin's result) after. No unit inside another one (MULTI/EXEC,
 * a cross-shard transaction) or for a script on gathered copies. */
uint64_t wrec_script_begin(struct shard *sh, const struct cmd_ctx *ctx);
void wrec_script_end(struct shard *sh, uint64_t unit);

/* route_dispatch(): while the AOF loads, is cmd refused with -LOADING
 * for c? (Everything but CMD_LOADING commands, except for the loader.) */
bool wrec_refuse_loading(const struct conn *c, const struct cmd_def *cmd);

/* conn.c. wrec_round() runs at the start of every conn_flush_all(): it
 * attaches the shard to the stream, drives the AOF loader and the cuts
 * (shard 0), and with appendfsync always marks the output produced this
 * round as waiting for the records made so far to be on disk.
 * wrec_out_limit(): how many bytes of c->out may be sent now.
 * wrec_out_reset(): c->out was emptied; wrec_conn_gone(): c is freed. */
void wrec_round(struct shard *sh);
size_t wrec_out_limit(struct shard *sh, const struct conn *c);
void wrec_out_reset(struct shard *sh, const struct conn *c);
void wrec_conn_gone(struct shard *sh, const struct conn *c);

#endif
