/* Helpers every command handler uses: argument parsing that replies its own
 * errors, key lookups that keep the keyspace statistics, and the command
 * name index (an open-addressing hash over the one table in cmdtable.c). */
#include "shards/shard_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool arg_is(const struct resp_arg *a, const char *lit)
{
	size_t n = strlen(lit);
	return a->len == n && strncasecmp(a->p, lit, n) == 0;
}

int arg_to_ll(const struct resp_arg *a, long long *v)
{
	return ks_str2ll(a->p, a->len, v) ? 0 : -1;
}

int arg_ll_msg(struct cmd_ctx *ctx, const struct resp_arg *a, long long *v, const char *errmsg)
{
	if (arg_to_ll(a, v) == 0)
		return 0;
	resp_add_error(ctx->out, errmsg ? errmsg : ERR_NOTINT);
	return -1;
}

int arg_ll(struct cmd_ctx *ctx, const struct resp_arg *a, long long *v)
{
	return arg_ll_msg(ctx, a, v, ERR_NOTINT);
}

/* Copy a numeric argument into buf as a C string; false for what Redis
 * rejects before parsing (empty, leading space, too long). */
static bool arg_cstr(const struct resp_arg *a, char *buf, size_t size)
{
	if (a->len == 0 || a->len >= size || isspace((unsigned char)a->p[0]))
		return false;
	memcpy(buf, a->p, a->len);
	buf[a->len] = 0;
	return true;
}

/* Redis's rules: no empty string, no leading space, the whole argument
 * consumed, no overflow to +-HUGE_VAL, not NaN. */
int arg_double(struct cmd_ctx *ctx, const struct resp_arg *a, double *v)
{
	char buf[256];
	if (!arg_cstr(a, buf, sizeof(buf)))
		goto bad;
	char *end;
	errno = 0;
	double d = strtod(buf, &end);
	if (end != buf + a->len || (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || d == 0)) ||
	    isnan(d))
		goto bad;
	*v = d;
	return 0;
bad:
	resp_add_error(ctx->out, ERR_NOTFLOAT);
	return -1;
}

int arg_long_double(struct cmd_ctx *ctx, const struct resp_arg *a, long double *v)
{
	char buf[5200];
	if (!arg_cstr(a, buf, sizeof(buf)))
		goto bad;
	char *end;
	errno = 0;
	long double d = strtold(buf, &end);
	if (end != buf + a->len || (errno == ERANGE && (d == HUGE_VALL || d == -HUGE_VALL || d == 0)) ||
	    isnan(d))
		goto bad;
	*v = d;
	return 0;
bad:
	resp_add_error(ctx->out, ERR_NOTFLOAT);
	return -1;
}

int cmd_key_range(const struct cmd_def *cmd, int argc, int *first, int *last, int *step)
{
	*first = cmd->first_key;
	*step = cmd->key_step > 0 ? cmd->key_step : 1;
	*last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
	if (*last >= argc)
		*last = argc - 1;
	if (*first <= 0 || *last < *first)
		return 0;
	return (*last - *first) / *step + 1;
}

struct ks_entry *cmd_lookup_read(struct cmd_ctx *ctx, const struct resp_arg *key)
{
	struct ks_entry *e = ks_find(ctx->db, key->p, key->len, ctx->now_ms);
	if (e) {
		STAT_ADD(ctx->sh->stats.hits, 1);
		if (!ctx->c || !ctx->c->no_touch)
			e->lru_s = (uint32_t)(ctx->now_ms / 1000);
	} else {
		STAT_ADD(ctx->sh->stats.misses, 1);
	}
	return e;
}

struct ks_entry *cmd_lookup_write(struct cmd_ctx *ctx, const struct resp_arg *key)
{
	struct ks_entry *e = ks_find(ctx->db, key->p, key->len, ctx->now_ms);
	if (e)
		e->lru_s = (uint32_t)(ctx->now_ms / 1000);
	return e;
}

void cmd_reply_str(struct cmd_ctx *ctx, const struct ks_entry *e)
{
	switch (e->enc) {
	case KS_ENC_INT:
		resp_add_bulk_ll(ctx->out, e->v.i);
		break;
	case KS_ENC_EMBSTR:
		resp_add_bulk(ctx->out, e->key + e->klen + 1, e->vlen);
		break;
	default: {
		const struct ks_str *s = e->v.ptr;
		resp_add_bulk(ctx->out, s->buf, s->len);
		break;
	}
	}
}

/* ------------------------------------------------- command name index */

#define CMD_INDEX_SIZE 1024   /* power of two, > 4x the number of commands */

static const struct cmd_def *cmd_index[CMD_INDEX_SIZE];

static uint32_t name_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint32_t)(unsigned char)(p[i] | 0x20)) * 16777619u;
	return h;
}

__attribute__((constructor)) static void cmd_index_build(void)
{
	size_t n;
	const struct cmd_def *t = cmd_table(&n);
	for (size_t i = 0; i < n; i++) {
		uint32_t h = name_hash(t[i].name, strlen(t[i].name)) & (CMD_INDEX_SIZE - 1);
		while (cmd_index[h])
			h = (h + 1) & (CMD_INDEX_SIZE - 1);
		cmd_index[h] = &t[i];
	}
}

/* Table names are lower case; only ASCII letters fold. */
static bool name_eq(const char *lower, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		if (lower[i] != ch)
			return false;
	}
	return lower[len] == 0;
}

const struct cmd_def *cmd_lookup(const char *name, size_t len)
{
	if (len == 0 || len > 32)
		return NULL;
	uint32_t h = name_hash(name, len) & (CMD_INDEX_SIZE - 1);
	while (cmd_index[h]) {
		const struct cmd_def *c = cmd_index[h];
		if (name_eq(c->name, name, len))
			return c;
		h = (h + 1) & (CMD_INDEX_SIZE - 1);
	}
	return NULL;
}

const struct cmd_def *cmd_lookup_sub(const struct cmd_def *parent, const char *name, size_t len)
{
	size_t plen = strlen(parent->name);
	for (const struct cmd_def *s = parent->subs; s && s->name; s++) {
		const char *sn = s->name + plen + 1;   /* "client|list" -> "list" */
		if (strlen(sn) == len && strncasecmp(sn, name, len) == 0)
			return s;
	}
	return NULL;
}
