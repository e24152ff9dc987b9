/* Blocking commands: clients suspended on keys until a write serves them
 * (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP). */
#include "shards/shard_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int arg_timeout(struct cmd_ctx *ctx, const struct resp_arg *a, int64_t *deadline_ms)
{
	char buf[64];
	if (a->len == 0 || a->len >= sizeof(buf)) {
		resp_add_error(ctx->out, "ERR timeout is not a float or out of range");
		return -1;
	}
	memcpy(buf, a->p, a->len);
	buf[a->len] = 0;
	char *end;
	errno = 0;
	long double t = strtold(buf, &end);
	if (*end || errno == ERANGE || isnan((double)t) || isinf((double)t)) {
		resp_add_error(ctx->out, "ERR timeout is not a float or out of range");
		return -1;
	}
	if (t < 0) {
		resp_add_error(ctx->out, "ERR timeout is negative");
		return -1;
	}
	long double ms = t * 1000.0L;
	if (ms > (long double)(INT64_MAX / 2)) {
		resp_add_error(ctx->out, "ERR timeout is out of range");
		return -1;
	}
	int64_t rel = (int64_t)ms;
	*deadline_ms = rel == 0 ? 0 : ctx->now_ms + rel;
	return 0;
}

static void reply_null(struct cmd_ctx *ctx, bool null_array)
{
	if (ctx->proto >= 3)
		rbuf_append(ctx->out, "_\r\n", 3);
	else if (null_array)
		rbuf_append(ctx->out, "*-1\r\n", 5);
	else
		rbuf_append(ctx->out, "$-1\r\n", 5);
}

void cmd_block(struct cmd_ctx *ctx, int64_t deadline_ms, bool null_array)
{
	(void)deadline_ms;
	/* Interim: suspension lands with the blocking infrastructure. */
	reply_null(ctx, null_array);
}

bool cmd_key_local(const struct cmd_ctx *ctx, const void *key, size_t len)
{
	if (!ctx->scratch)
		return shard_owns_key(ctx->sh, key, len);
	for (int i = 0; i < ctx->ngkeys; i++)
		if (ctx->gkeys[i].len == len && memcmp(ctx->gkeys[i].p, key, len) == 0)
			return true;
	return false;
}
