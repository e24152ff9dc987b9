/* Helpers every command handler uses: argument parsing that replies its own
 * errors, key lookups that keep the keyspace statistics, pieces that several
 * type families share (the SCAN family's cursor, options and reply, the
 * count of HRANDFIELD/ZRANDMEMBER, the text of a long double), and the
 * command name index (an open-addressing hash over the one table in
 * cmdtable.c). */
#include "shards/shard_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
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

int cmd_key_indexes(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
		    int *buf, int nbuf, int **idx)
{
	*idx = buf;
	if (cmd->keys_fn) {
		int n = cmd->keys_fn(argc, argv, buf, nbuf);
		if (n > nbuf) {
			*idx = malloc(sizeof(int) * (size_t)n);
			if (!*idx)
				abort();
			n = cmd->keys_fn(argc, argv, *idx, n);
		}
		return n;
	}
	int first, last, step;
	int nk = cmd_key_range(cmd, argc, &first, &last, &step);
	if (nk > nbuf) {
		*idx = malloc(sizeof(int) * (size_t)nk);
		if (!*idx)
			abort();
	}
	for (int k = 0; k < nk; k++)
		(*idx)[k] = first + k * step;
	return nk;
}

int cmd_write_key_indexes(const struct cmd_def *cmd, int argc, const struct resp_arg *argv,
			  int *buf, int nbuf, int **idx)
{
	int n = cmd_key_indexes(cmd, argc, argv, buf, nbuf, idx);
	if (n <= 1 || cmd->wkeys == 0)
		return n;
	if (cmd->wkeys < 0)
		(*idx)[0] = (*idx)[n - 1];
	return 1;
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

/* ------------------------------------------------------- SCAN family */

int cmd_parse_cursor(const struct resp_arg *a, uint64_t *cursor)
{
	char small[64], *s = small, *end;
	unsigned long long v;
	int rc = -1;

	if (a->len >= sizeof(small)) {   /* leading zeros can make it long */
		s = malloc(a->len + 1);
		if (!s)
			return -1;
	}
	memcpy(s, a->p, a->len);
	s[a->len] = '\0';
	/* an embedded NUL would end strtoull early and pass as valid */
	if (strlen(s) != a->len || (a->len > 0 && isspace((unsigned char)s[0])))
		goto out;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		goto out;
	*cursor = v;
	rc = 0;
out:
	if (s != small)
		free(s);
	return rc;
}

int cmd_scan_opts(struct cmd_ctx *ctx, int first, const struct resp_arg **pat, long long *count,
		  const struct resp_arg **type)
{
	for (int j = first; j < ctx->argc; j += 2) {
		const struct resp_arg *opt = &ctx->argv[j], *val;

		if (j + 1 >= ctx->argc) {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return -1;
		}
		val = &ctx->argv[j + 1];
		if (arg_is(opt, "count")) {
			if (arg_ll(ctx, val, count) < 0)
				return -1;
			if (*count < 1) {
				resp_add_error(ctx->out, ERR_SYNTAX);
				return -1;
			}
		} else if (arg_is(opt, "match")) {
			*pat = (val->len == 1 && val->p[0] == '*') ? NULL : val;
		} else if (type && arg_is(opt, "type")) {
			*type = val;
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return -1;
		}
	}
	return 0;
}

void cmd_reply_scan_cursor(struct cmd_ctx *ctx, uint64_t cursor)
{
	char cbuf[24];
	int clen = snprintf(cbuf, sizeof(cbuf), "%llu", (unsigned long long)cursor);

	resp_add_array(ctx->out, 2);
	resp_add_bulk(ctx->out, cbuf, (size_t)clen);
}

void cmd_reply_scan(struct cmd_ctx *ctx, uint64_t cursor, long long n, const struct rbuf *items)
{
	cmd_reply_scan_cursor(ctx, cursor);
	resp_add_array(ctx->out, n);
	if (items && items->len)
		rbuf_append(ctx->out, items->data, items->len);
}

/* ------------------------------------------- HRANDFIELD ZRANDMEMBER */

int arg_rand_count(struct cmd_ctx *ctx, const char *opt, unsigned long *count, bool *unique,
		   bool *with_opt)
{
	long long l;

	if (arg_ll(ctx, &ctx->argv[2], &l) < 0)
		return -1;
	if (l == LLONG_MIN) {
		resp_add_error(ctx->out, "ERR value is out of range, value must between "
			       "-9223372036854775807 and 9223372036854775807");
		return -1;
	}
	if (ctx->argc > 4 || (ctx->argc == 4 && !arg_is(&ctx->argv[3], opt))) {
		resp_add_error(ctx->out, ERR_SYNTAX);
		return -1;
	}
	*with_opt = ctx->argc == 4;
	if (*with_opt && (l < -(LLONG_MAX / 2) || l > LLONG_MAX / 2)) {
		resp_add_error(ctx->out, "ERR value is out of range");
		return -1;
	}
	*unique = l >= 0;
	*count = l < 0 ? (unsigned long)-l : (unsigned long)l;
	return 0;
}

/* ----------------------------------------------------- long doubles */

size_t cmd_ld2str(char *buf, long double v)
{
	int n = snprintf(buf, CMD_LDBL_STR_MAX, "%.17Lf", v);
	size_t len;

	if (n < 0 || n >= CMD_LDBL_STR_MAX)
		return 0;   /* cannot happen for a finite long double */
	len = (size_t)n;
	if (memchr(buf, '.', len)) {
		while (buf[len - 1] == '0')
			len--;
		if (buf[len - 1] == '.')
			len--;
	}
	if (len == 2 && buf[0] == '-' && buf[1] == '0') {
		buf[0] = '0';
		len = 1;
	}
	buf[len] = '\0';
	return len;
}

/* ------------------------------------------------- command name index */

static struct cmd_name_index cmd_index;

__attribute__((constructor)) static void cmd_index_build(void)
{
	size_t n;
	const struct cmd_def *t = cmd_table(&n);
	for (size_t i = 0; i < n; i++) {
		int rc = cmd_name_add(&cmd_index, &t[i]);
		/* a bad or duplicate name in the table, or a full index */
		assert(rc == 0);
		(void)rc;
	}
}

/* Per thread: each shard thread keeps its own last command. */
static _Thread_local struct cmd_name_cache cmd_cache;

const struct cmd_def *cmd_lookup(const char *name, size_t len)
{
	return cmd_name_find_cached(&cmd_index, &cmd_cache, name, len);
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
