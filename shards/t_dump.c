/* shards/t_dump.c — DUMP and RESTORE.
 *
 * The payload is Redis's: the value in RDB form (repl/rdb.h), the RDB
 * version as u16 little endian, and the CRC64 of all that as u64 little
 * endian, so values move between keyrail and Redis in both directions.
 * DUMP compresses strings when rdbcompression is on (as Redis); RESTORE
 * accepts any version up to ours, checks the CRC, validates the whole
 * value and builds it in the encoding the shard's thresholds ask for.
 * Errors, and the order they are checked in, are Redis 7.0's. */
#include <limits.h>
#include <stdint.h>

#include "repl/rdb.h"
#include "server/server.h"
#include "shards/cmd.h"

void cmd_dump(struct cmd_ctx *ctx)
{
	struct ks_entry *e = cmd_lookup_read(ctx, &ctx->argv[1]);
	struct rbuf b = { 0 };

	if (!e) {
		resp_add_null(ctx->out, ctx->proto);
		return;
	}
	if (rdb_dump_payload(&b, e, shard_cfg(ctx->sh)->rdbcompression) != 0) {
		resp_add_error(ctx->out, "ERR value type can't be serialized");
		return;
	}
	resp_add_bulk(ctx->out, b.data, b.len);
	rbuf_free(&b);
}

/* RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
 * [FREQ frequency] */
void cmd_restore(struct cmd_ctx *ctx)
{
	const struct resp_arg *key = &ctx->argv[1], *payload = &ctx->argv[3];
	long long ttl, idle = -1, freq = -1;
	bool replace = false, absttl = false;

	for (int j = 4; j < ctx->argc; j++) {
		bool more = j + 1 < ctx->argc;
		if (arg_is(&ctx->argv[j], "replace")) {
			replace = true;
		} else if (arg_is(&ctx->argv[j], "absttl")) {
			absttl = true;
		} else if (arg_is(&ctx->argv[j], "idletime") && more && freq == -1) {
			if (arg_ll(ctx, &ctx->argv[j + 1], &idle) != 0)
				return;
			if (idle < 0) {
				resp_add_error(ctx->out, "ERR Invalid IDLETIME value, must be >= 0");
				return;
			}
			j++;
		} else if (arg_is(&ctx->argv[j], "freq") && more && idle == -1) {
			if (arg_ll(ctx, &ctx->argv[j + 1], &freq) != 0)
				return;
			if (freq < 0 || freq > 255) {
				resp_add_error(ctx->out, "ERR Invalid FREQ value, must be >= 0 and <= 255");
				return;
			}
			j++;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return;
		}
	}
	struct ks_entry *old = cmd_lookup_write(ctx, key);
	if (old && !replace) {
		resp_add_error(ctx->out, "BUSYKEY Target key name already exists.");
		return;
	}
	if (arg_ll(ctx, &ctx->argv[2], &ttl) != 0)
		return;
	if (ttl < 0) {
		resp_add_error(ctx->out, "ERR Invalid TTL value, must be >= 0");
		return;
	}
	if (rdb_dump_verify(payload->p, payload->len, true, NULL) != 0) {
		resp_add_error(ctx->out, "ERR DUMP payload version or checksum are wrong");
		return;
	}
	struct rdb_limits lim;
	struct rdb_obj obj;
	rdb_limits_from_cfg(&lim, shard_cfg(ctx->sh));
	if (rdb_dump_decode(payload->p, payload->len, &lim, &obj) != 0) {
		resp_add_error(ctx->out, "ERR Bad data format");
		return;
	}
	if (ttl && !absttl)
		ttl = ttl > LLONG_MAX - ctx->now_ms ? LLONG_MAX : ttl + ctx->now_ms;
	if (ttl && ttl <= ctx->now_ms) {
		/* Already expired: nothing is created, an old value goes. */
		if (old) {
			ks_delete(ctx->db, old);
			ctx->dirty++;
		}
		rdb_obj_free(&obj);
		resp_add_ok(ctx->out);
		return;
	}
	struct ks_entry *e = rdb_obj_store(ctx->db, key->p, key->len, &obj);
	if (ttl)
		ks_set_expire(ctx->db, e, ttl);
	uint32_t now_s = (uint32_t)(ctx->now_ms / 1000);
	/* FREQ is for the LFU policies, which keyrail does not have: as
	 * Redis under an LRU policy, it is accepted and ignored. */
	e->lru_s = idle >= 0 ? now_s - (uint32_t)(idle > UINT32_MAX / 2 ? UINT32_MAX / 2 : idle)
			     : now_s;
	ctx->dirty++;
	resp_add_ok(ctx->out);
}
