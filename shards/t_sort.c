/* shards/t_sort.c — SORT and SORT_RO.
 *
 * SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
 *      [ALPHA] [STORE destination]
 * sorts the elements of a list, set or sorted set — numerically (every
 * element, or its BY weight, read as a double) or, with ALPHA, by bytes —
 * and replies them, the values GET patterns point to, or stores the result
 * as a list. SORT_RO is the same without STORE. Semantics and error texts
 * are Redis 7's:
 *
 *  - A pattern's first '*' is replaced by the element; "key->field" after
 *    the '*' reads a hash field instead of a string key. "#" in GET is the
 *    element itself. A pattern without '*' finds nothing; BY such a pattern
 *    ("BY nosort") means no sorting: lists and sorted sets keep their order
 *    (DESC reverses it, LIMIT takes a range of it), sets their iteration
 *    order — except when storing or inside a script, where a set is sorted
 *    ALPHA so the result is deterministic.
 *  - Missing BY weights count as 0 (ALPHA: they sort first); missing GET
 *    values reply nil (stored as empty strings).
 *  - Numeric ties are broken by the elements' bytes, so the order is
 *    deterministic. ALPHA compares bytes (Redis uses strcoll; the server
 *    runs in the C locale, where that is the same order except for bytes
 *    after an embedded NUL).
 *  - STORE replaces the destination with a list (TTL cleared) or deletes it
 *    when the result is empty, and replies the number of elements.
 *
 * Patterns resolve keys on the executing shard only: a BY/GET pattern that
 * reaches a key another shard owns (or, when SORT runs on a gathered copy
 * because STORE names another shard, any key not gathered) makes the
 * command fail with an error saying so, rather than read it as missing.
 * Hash tags keep pattern keys on the sorted key's shard ({u}:* and
 * {u}:weight_*). (Redis Cluster refuses such patterns in the same way.)
 *
 * Unlike Redis, SORT does not turn a listpack sorted set into a skiplist
 * (Redis 7.0 does, even for SORT_RO): the order is read through the zset
 * iterator either way. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "shards/cmd.h"
#include "shards/obj_hash.h"
#include "shards/obj_list.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"

/* One element being sorted. Bytes live in the sort's arena; offsets are
 * kept while the arena grows and turned into pointers before sorting. */
struct sort_item {
	union {
		size_t off;
		const char *p;
	} el;
	size_t len;
	union {
		size_t off;
		const char *p;
	} cmp;                 /* ALPHA + BY: the weight's bytes */
	size_t cmplen;
	bool has_cmp;          /* ALPHA + BY: weight found */
	double score;          /* numeric: the weight (0 if missing) */
};

struct sort_opts {
	bool desc, alpha, dontsort;
	const struct resp_arg *by;       /* NULL: the elements themselves */
	const struct resp_arg *store;    /* NULL: reply */
	long long limit_start, limit_count;
	const struct resp_arg **gets;    /* GET patterns, in order */
	int ngets;
};

/* A growable byte arena (aborts on OOM as rbuf does). */
struct sort_arena {
	char *buf;
	size_t len, cap;
};

/* The buffer is allocated on the first call even for 0 bytes, so that
 * buf + off is never arithmetic on NULL (a list of empty strings). */
static size_t arena_add(struct sort_arena *a, const void *p, size_t n)
{
	size_t off = a->len;

	if (a->len + n > a->cap || !a->buf) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		char *nb;

		while (ncap < a->len + n)
			ncap *= 2;
		nb = realloc(a->buf, ncap);
		if (!nb)
			abort();
		a->buf = nb;
		a->cap = ncap;
	}
	if (n)
		memcpy(a->buf + a->len, p, n);
	a->len += n;
	return off;
}

struct sort_vec {
	struct sort_item *v;
	size_t n, cap;
	struct sort_arena arena;
};

static void vec_push(struct sort_vec *sv, const void *p, size_t len)
{
	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? sv->cap * 2 : 16;
		struct sort_item *nv = realloc(sv->v, ncap * sizeof(*nv));

		if (!nv)
			abort();
		sv->v = nv;
		sv->cap = ncap;
	}
	memset(&sv->v[sv->n], 0, sizeof(sv->v[0]));
	sv->v[sv->n].el.off = arena_add(&sv->arena, p, len);
	sv->v[sv->n].len = len;
	sv->n++;
}

static void vec_free(struct sort_vec *sv)
{
	free(sv->v);
	free(sv->arena.buf);
}

/* ------------------------------------------------------------ patterns */

/* A value found through a pattern: bytes valid until the next lookup
 * (buf holds integers formatted as text). */
struct sort_val {
	const char *p;
	size_t len;
	char buf[32];
	bool is_int;           /* a string key stored as an integer */
	long long ival;
};

/* Set when a pattern reached a key this shard cannot read. */
static _Thread_local bool sort_foreign;

#define ERR_SORT_FOREIGN "ERR SORT BY/GET pattern reached a key on another shard: " \
	"use a hash tag so the pattern's keys share the sorted key's shard (e.g. {u}:list, {u}:w_*)"

/* Redis's lookupKeyByPattern: "#" is the element itself; otherwise the
 * first '*' is replaced by the element, and "->field" (non-empty, after
 * the '*') reads that field of a hash. Returns false when nothing is
 * found (no '*', missing key, wrong type, missing field, key not local).
 * keybuf is scratch space the caller frees. */
static bool sort_lookup(struct cmd_ctx *ctx, const struct resp_arg *pat, const char *el,
			size_t elen, struct sort_val *out, char **keybuf, size_t *keycap)
{
	const char *star, *arrow = NULL, *end = pat->p + pat->len;
	size_t prefix, postfix, fieldlen = 0, klen;
	struct resp_arg key;
	struct ks_entry *e;

	out->is_int = false;
	if (pat->len == 1 && pat->p[0] == '#') {
		out->p = el;
		out->len = elen;
		return true;
	}
	star = memchr(pat->p, '*', pat->len);
	if (!star)
		return false;
	for (const char *q = star + 1; q + 1 < end; q++) {
		if (q[0] == '-' && q[1] == '>') {
			arrow = q;
			break;
		}
	}
	if (arrow && arrow + 2 < end)
		fieldlen = (size_t)(end - arrow - 2);
	else
		arrow = NULL;

	prefix = (size_t)(star - pat->p);
	postfix = pat->len - prefix - 1 - (arrow ? fieldlen + 2 : 0);
	klen = prefix + elen + postfix;
	/* Allocated even for an empty key (pattern "*", element ""): the
	 * key's pointer goes to the keyspace and the slot hash, whose
	 * memcmp/memchr must not see NULL even for 0 bytes. */
	if (klen > *keycap || !*keybuf) {
		char *nb = realloc(*keybuf, klen ? klen : 1);

		if (!nb)
			abort();
		*keybuf = nb;
		*keycap = klen;
	}
	/* Zero lengths are skipped, not passed on: el may be NULL for an
	 * empty element, and memcpy's pointers must be valid even for 0
	 * bytes (UBSan stops the server otherwise). */
	if (prefix)
		memcpy(*keybuf, pat->p, prefix);
	if (elen)
		memcpy(*keybuf + prefix, el, elen);
	if (postfix)
		memcpy(*keybuf + prefix + elen, star + 1, postfix);
	key.p = *keybuf;
	key.len = klen;

	if (!cmd_key_local(ctx, key.p, key.len)) {
		sort_foreign = true;
		return false;
	}
	e = cmd_lookup_read(ctx, &key);
	if (!e)
		return false;
	if (arrow) {
		struct obj_hash_str v;

		if (e->type != KS_HASH ||
		    !obj_hash_get(e->v.ptr, e->enc, arrow + 2, fieldlen, &v, out->buf))
			return false;
		out->p = v.p;
		out->len = v.len;
		return true;
	}
	if (e->type != KS_STRING)
		return false;
	if (e->enc == KS_ENC_INT) {
		out->is_int = true;
		out->ival = e->v.i;
	}
	out->p = ks_str_get(e, out->buf, &out->len);
	return true;
}

/* Redis's numeric weight: strtod of the bytes up to the first NUL; bad if
 * anything is left, on ERANGE (overflow or underflow) or NaN. An empty
 * string reads as 0. */
static bool sort_score(const struct sort_val *v, double *score)
{
	char small[128], *s = small, *end;
	bool ok;

	if (v->is_int) {
		*score = (double)v->ival;
		return true;
	}
	if (v->len >= sizeof(small)) {
		s = malloc(v->len + 1);
		if (!s)
			abort();
	}
	if (v->len)   /* an empty value's p may be NULL */
		memcpy(s, v->p, v->len);
	s[v->len] = '\0';
	errno = 0;
	*score = strtod(s, &end);
	ok = *end == '\0' && errno != ERANGE && !isnan(*score);
	if (s != small)
		free(s);
	return ok;
}

/* ------------------------------------------------------------- compare */

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	/* Empty elements may point nowhere (an arena that never grew). */
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* qsort_r comparator; arg is the struct sort_opts. */
static int sort_compare(const void *pa, const void *pb, void *arg)
{
	const struct sort_opts *o = arg;
	const struct sort_item *a = pa, *b = pb;
	int c;

	if (!o->alpha) {
		if (a->score > b->score)
			c = 1;
		else if (a->score < b->score)
			c = -1;
		else
			c = bytes_cmp(a->el.p, a->len, b->el.p, b->len);
	} else if (o->by) {
		if (!a->has_cmp || !b->has_cmp)
			c = a->has_cmp == b->has_cmp ? 0 : (a->has_cmp ? 1 : -1);
		else
			c = bytes_cmp(a->cmp.p, a->cmplen, b->cmp.p, b->cmplen);
	} else {
		c = bytes_cmp(a->el.p, a->len, b->el.p, b->len);
	}
	return o->desc ? -c : c;
}

/* ------------------------------------------------------------- parsing */

/* Parse argv[2..] into *o. Replies the error and returns -1 on bad input.
 * o->gets must have room for argc entries. */
static int sort_parse(struct cmd_ctx *ctx, bool readonly, struct sort_opts *o)
{
	for (int j = 2; j < ctx->argc; j++) {
		const struct resp_arg *a = &ctx->argv[j];
		int left = ctx->argc - j - 1;

		if (arg_is(a, "asc")) {
			o->desc = false;
		} else if (arg_is(a, "desc")) {
			o->desc = true;
		} else if (arg_is(a, "alpha")) {
			o->alpha = true;
		} else if (arg_is(a, "limit") && left >= 2) {
			if (arg_ll(ctx, &ctx->argv[j + 1], &o->limit_start) < 0 ||
			    arg_ll(ctx, &ctx->argv[j + 2], &o->limit_count) < 0)
				return -1;
			j += 2;
		} else if (!readonly && arg_is(a, "store") && left >= 1) {
			o->store = &ctx->argv[++j];
		} else if (arg_is(a, "by") && left >= 1) {
			o->by = &ctx->argv[++j];
			/* No '*': nothing to look up, so nothing to sort by. As
			 * in Redis this sticks even if a later BY has a '*'. */
			if (!memchr(o->by->p, '*', o->by->len))
				o->dontsort = true;
		} else if (arg_is(a, "get") && left >= 1) {
			o->gets[o->ngets++] = &ctx->argv[++j];
		} else {
			resp_add_error(ctx->out, ERR_SYNTAX);
			return -1;
		}
	}
	return 0;
}

/* SORT's key finder: the sorted key, then the last STORE destination
 * (Redis's sortGetKeys: LIMIT/GET/BY arguments are skipped, so "STORE"
 * as a GET pattern is not a destination). */
int cmd_sort_keys(int argc, const struct resp_arg *argv, int *idx, int max)
{
	int n = 0, store = -1;

	if (argc < 2)
		return -1;
	for (int i = 2; i < argc; i++) {
		if (arg_is(&argv[i], "limit"))
			i += 2;
		else if (arg_is(&argv[i], "get") || arg_is(&argv[i], "by"))
			i += 1;
		else if (arg_is(&argv[i], "store") && i + 1 < argc)
			store = i + 1;
	}
	if (n < max)
		idx[n] = 1;
	n++;
	if (store > 0) {
		if (n < max)
			idx[n] = store;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------- loading */

static void load_list(struct sort_vec *sv, const struct ks_entry *e, long start, long n,
		      bool forward)
{
	struct obj_list_iter it;
	struct obj_list_elem el;
	unsigned char buf[OBJ_LIST_NUMBUF];

	obj_list_iter_init(&it, e->v.ptr, e->enc, start, forward);
	while (n-- > 0 && obj_list_iter_next(&it, &el)) {
		size_t len;
		const unsigned char *s = obj_list_elem_str(&el, buf, &len);

		vec_push(sv, s, len);
	}
}

static void load_zset(struct sort_vec *sv, const struct ks_entry *e, unsigned long rank,
		      unsigned long n, bool rev)
{
	struct obj_zset_iter it;
	struct obj_zset_elem el;

	obj_zset_iter_rank(&it, e->v.ptr, e->enc, rank, rev);
	while (n-- > 0 && obj_zset_iter_next(&it, &el))
		vec_push(sv, el.m, el.mlen);
}

static void load_set(struct sort_vec *sv, const struct ks_entry *e)
{
	struct obj_set_iter it;
	struct obj_set_elem m;

	obj_set_iter_init(&it, e->v.ptr, e->enc);
	while (obj_set_iter_next(&it, &m))
		vec_push(sv, m.p, m.len);
}

static unsigned long sort_len(const struct ks_entry *e)
{
	if (!e)
		return 0;
	switch (e->type) {
	case KS_LIST:
		return obj_list_len(e->v.ptr, e->enc);
	case KS_ZSET:
		return obj_zset_len(e->v.ptr, e->enc);
	default:
		return obj_set_size(e->v.ptr, e->enc);
	}
}

/* -------------------------------------------------------------- output */

/* Store the output range as a list at o->store (or delete it when the
 * range is empty) and reply the count. */
static void sort_store(struct cmd_ctx *ctx, const struct sort_opts *o, struct sort_vec *sv,
		       long long start, long long end, long long outlen)
{
	int fill = (int)shard_cfg(ctx->sh)->list_max_listpack_size;
	char *keybuf = NULL;
	size_t keycap = 0;
	uint8_t enc;
	void *list;

	if (sort_foreign) {
		resp_add_error(ctx->out, ERR_SORT_FOREIGN);
		return;
	}
	if (outlen == 0) {
		if (ks_delete_key(ctx->db, o->store->p, o->store->len, ctx->now_ms))
			ctx->dirty++;
		resp_add_int(ctx->out, 0);
		return;
	}
	list = obj_list_new(&enc);
	for (long long j = start; j <= end; j++) {
		const struct sort_item *it = &sv->v[j];

		if (!o->ngets) {
			obj_list_push1(&list, &enc, fill, it->el.p, it->len, OBJ_LIST_TAIL);
			continue;
		}
		for (int g = 0; g < o->ngets; g++) {
			struct sort_val v;

			if (!sort_lookup(ctx, o->gets[g], it->el.p, it->len, &v, &keybuf, &keycap)) {
				v.p = "";
				v.len = 0;
			}
			obj_list_push1(&list, &enc, fill, v.p, v.len, OBJ_LIST_TAIL);
		}
	}
	free(keybuf);
	if (sort_foreign) {
		obj_list_free(list, enc);
		resp_add_error(ctx->out, ERR_SORT_FOREIGN);
		return;
	}
	obj_list_convert(&list, &enc, fill);
	/* The source may be the destination: every element was copied into
	 * the new list before the old value is freed here. */
	ks_set_obj(ctx->db, o->store->p, o->store->len, KS_LIST, enc, list, false);
	ctx->dirty += outlen;
	resp_add_int(ctx->out, outlen);
}

static void sort_reply(struct cmd_ctx *ctx, const struct sort_opts *o, struct sort_vec *sv,
		       long long start, long long end, long long outlen)
{
	char *keybuf = NULL;
	size_t keycap = 0;

	resp_add_array(ctx->out, outlen);
	for (long long j = start; j <= end; j++) {
		const struct sort_item *it = &sv->v[j];

		if (!o->ngets)
			resp_add_bulk(ctx->out, it->el.p, it->len);
		for (int g = 0; g < o->ngets; g++) {
			struct sort_val v;

			if (sort_lookup(ctx, o->gets[g], it->el.p, it->len, &v, &keybuf, &keycap))
				resp_add_bulk(ctx->out, v.p, v.len);
			else
				resp_add_null(ctx->out, ctx->proto);
		}
	}
	free(keybuf);
}

/* ------------------------------------------------------------- command */

static void sort_generic(struct cmd_ctx *ctx, bool readonly)
{
	struct sort_opts o = { .limit_start = 0, .limit_count = -1 };
	struct sort_vec sv = { 0 };
	struct ks_entry *e;
	long long vlen, start, count, end, outlen;
	bool err = false;
	char *keybuf = NULL;
	size_t keycap = 0;

	sort_foreign = false;

	o.gets = malloc(sizeof(*o.gets) * (size_t)ctx->argc);
	if (!o.gets)
		abort();
	if (sort_parse(ctx, readonly, &o) < 0)
		goto out;

	e = cmd_lookup_read(ctx, &ctx->argv[1]);
	if (e && e->type != KS_LIST && e->type != KS_SET && e->type != KS_ZSET) {
		resp_add_error(ctx->out, ERR_WRONGTYPE);
		goto out;
	}
	/* An unsorted set has no defined order: when the result is stored or
	 * seen by a script, sort it by bytes so it is deterministic. */
	if (o.dontsort && e && e->type == KS_SET && (o.store || ctx->in_script)) {
		o.dontsort = false;
		o.alpha = true;
		o.by = NULL;
	}

	/* LIMIT clamped to the length, as Redis: start in [0, len], count
	 * -1 (all) or up to len; an empty range is start > end. */
	vlen = (long long)sort_len(e);
	start = o.limit_start < 0 ? 0 : (o.limit_start > vlen ? vlen : o.limit_start);
	count = o.limit_count < -1 ? -1 : (o.limit_count > vlen ? vlen : o.limit_count);
	end = count < 0 ? vlen - 1 : start + count - 1;
	if (start >= vlen) {
		start = vlen - 1;
		end = vlen - 2;
	}
	if (end >= vlen)
		end = vlen - 1;

	/* Lists and sorted sets that need no sorting load just the range, in
	 * the requested direction; the output then starts at 0. */
	if (e && o.dontsort && e->type != KS_SET) {
		if (end >= start) {
			if (e->type == KS_LIST)
				load_list(&sv, e, o.desc ? -(long)start - 1 : (long)start,
					  (long)(end - start + 1), !o.desc);
			else
				load_zset(&sv, e, (unsigned long)start,
					  (unsigned long)(end - start + 1), o.desc);
			end -= start;
			start = 0;
		}
	} else if (e) {
		if (e->type == KS_LIST)
			load_list(&sv, e, 0, LONG_MAX, true);
		else if (e->type == KS_ZSET)
			load_zset(&sv, e, 0, ULONG_MAX, false);
		else
			load_set(&sv, e);
	}

	/* Weights. Pointers into the arena are fixed up only after this,
	 * because ALPHA+BY appends the weights' bytes to it. */
	if (!o.dontsort) {
		for (size_t j = 0; j < sv.n; j++) {
			struct sort_item *it = &sv.v[j];
			struct sort_val v;

			if (o.by) {
				/* the element's bytes may move while the arena grows:
				 * look it up through its offset each time */
				if (!sort_lookup(ctx, o.by, sv.arena.buf + it->el.off, it->len, &v,
						 &keybuf, &keycap))
					continue;
			} else {
				v.p = sv.arena.buf + it->el.off;
				v.len = it->len;
				v.is_int = false;
			}
			if (o.alpha) {
				if (o.by) {
					it->cmp.off = arena_add(&sv.arena, v.p, v.len);
					it->cmplen = v.len;
					it->has_cmp = true;
				}
			} else if (!sort_score(&v, &it->score)) {
				err = true;
			}
		}
	}
	for (size_t j = 0; j < sv.n; j++) {
		sv.v[j].el.p = sv.arena.buf + sv.v[j].el.off;
		if (sv.v[j].has_cmp)
			sv.v[j].cmp.p = sv.arena.buf + sv.v[j].cmp.off;
	}
	if (err) {
		resp_add_error(ctx->out, "ERR One or more scores can't be converted into double");
		goto out;
	}
	if (!o.dontsort && sv.n > 1) {
		qsort_r(sv.v, sv.n, sizeof(sv.v[0]), sort_compare, &o);
	}

	outlen = end - start + 1;
	if (outlen < 0)
		outlen = 0;
	outlen *= o.ngets ? o.ngets : 1;
	if (o.store) {
		sort_store(ctx, &o, &sv, start, end, outlen);
	} else {
		size_t mark = ctx->out->len;
		sort_reply(ctx, &o, &sv, start, end, outlen);
		if (sort_foreign) {
			ctx->out->len = mark;   /* take the partial reply back */
			resp_add_error(ctx->out, ERR_SORT_FOREIGN);
		}
	}
out:
	free(keybuf);
	free(o.gets);
	vec_free(&sv);
}

void cmd_sort(struct cmd_ctx *ctx)
{
	sort_generic(ctx, false);
}

void cmd_sort_ro(struct cmd_ctx *ctx)
{
	sort_generic(ctx, true);
}
