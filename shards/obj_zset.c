/* shards/obj_zset.c — the sorted set value type (see obj_zset.h).
 *
 * Listpack zsets are a flat member,score,... sequence kept sorted by
 * (score, member); every operation walks it (they are small by
 * construction). Skiplist zsets are the classic probabilistic skiplist
 * (p = 1/4, at most OBJ_ZSET_MAXLEVEL levels) whose links carry spans —
 * the number of level-0 steps they jump — so rank queries and "element at
 * rank" cost O(log n). Span invariant: a link x -> y has span
 * rank(y) - rank(x); a NULL link at a level in use has span
 * len - rank(x) (the head has rank 0). Every insert/unlink below keeps it,
 * and obj_zset_check() verifies it.
 *
 * The member -> node index is an sdict whose entries hold the member
 * bytes; nodes point at their entry, so a member is stored once. sdict
 * entries never move while they live (its resize relinks them), which is
 * what makes node->ent safe. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/obj_zset.h"

/* Redis's LISTPACK_MAX_SAFETY_SIZE: a listpack never grows past 1 GiB. */
#define ZS_LP_MAX_BYTES (1ul << 30)

enum { BOUND_NONE = 0, BOUND_SCORE = 1, BOUND_LEX = 2 };

static void *zs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();   /* as lp_new/sd_new: a value we cannot build is fatal */
	return p;
}

/* ----------------------------------------------------- comparisons */

/* Byte-wise order, a proper prefix first (Redis's sdscmp). */
static inline int mcmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static inline bool score_gte_min(double s, const struct obj_zset_range *r)
{
	return r->minex ? s > r->min : s >= r->min;
}

static inline bool score_lte_max(double s, const struct obj_zset_range *r)
{
	return r->maxex ? s < r->max : s <= r->max;
}

static inline bool lex_gte_min(const char *m, size_t mlen, const struct obj_zset_lex *r)
{
	if (r->mininf)
		return r->mininf < 0;
	int c = mcmp(m, mlen, r->min, r->minlen);
	return r->minex ? c > 0 : c >= 0;
}

static inline bool lex_lte_max(const char *m, size_t mlen, const struct obj_zset_lex *r)
{
	if (r->maxinf)
		return r->maxinf > 0;
	int c = mcmp(m, mlen, r->max, r->maxlen);
	return r->maxex ? c < 0 : c <= 0;
}

/* A score or lex interval, for the code that treats both alike. */
struct zs_bound {
	uint8_t kind;
	const struct obj_zset_range *r;
	const struct obj_zset_lex *lex;
};

static inline bool b_gte_min(const struct zs_bound *b, double s, const char *m, size_t mlen)
{
	switch (b->kind) {
	case BOUND_SCORE:
		return score_gte_min(s, b->r);
	case BOUND_LEX:
		return lex_gte_min(m, mlen, b->lex);
	default:
		return true;
	}
}

static inline bool b_lte_max(const struct zs_bound *b, double s, const char *m, size_t mlen)
{
	switch (b->kind) {
	case BOUND_SCORE:
		return score_lte_max(s, b->r);
	case BOUND_LEX:
		return lex_lte_max(m, mlen, b->lex);
	default:
		return true;
	}
}

/* ------------------------------------------------ scores as text */

size_t obj_zset_score_fmt(char *buf, double d)
{
	const char *lit = NULL;

	if (isnan(d))
		lit = "nan";
	else if (isinf(d))
		lit = d > 0 ? "inf" : "-inf";
	else if (d == 0)
		lit = "0";   /* -0 too: Redis's integer test stores it as 0 */
	if (lit) {
		size_t n = strlen(lit);
		memcpy(buf, lit, n + 1);
		return n;
	}
	/* Integral and exactly representable: the listpack stores an integer
	 * (the bounds are Redis's d2string ones). */
	if (d > -4503599627370496.0 && d < 4503599627370496.0 && d == (double)(long long)d)
		return ks_ll2str(buf, (long long)d);
	/* The shortest of %.15g/%.16g/%.17g that reads back unchanged
	 * (%.17g always does). */
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, OBJ_ZSET_SCOREBUF, "%.*g", prec, d);
		if (prec == 17 || strtod(buf, NULL) == d)
			break;
	}
	return (size_t)n;
}

int obj_zset_score_parse(const char *s, size_t len, double *d)
{
	char buf[128];
	char *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	double v = strtod(buf, &end);
	if (end != buf + len || isnan(v))
		return -1;
	*d = v;
	return 0;
}

/* One end of a score interval: Redis's zslParseRange accepts whatever
 * strtod consumes entirely (so "" is 0 and leading spaces are fine),
 * except NaN. */
static int parse_range_end(const char *s, size_t len, double *v, bool *ex)
{
	char buf[256];
	char *end;

	*ex = false;
	if (len && s[0] == '(') {
		*ex = true;
		s++;
		len--;
	}
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	*v = strtod(buf, &end);
	if (end != buf + len || isnan(*v))
		return -1;
	return 0;
}

int obj_zset_parse_range(const char *min, size_t minlen, const char *max, size_t maxlen,
			 struct obj_zset_range *r)
{
	if (parse_range_end(min, minlen, &r->min, &r->minex) < 0 ||
	    parse_range_end(max, maxlen, &r->max, &r->maxex) < 0)
		return -1;
	return 0;
}

static int parse_lex_end(const char *s, size_t len, const char **p, size_t *plen,
			 int8_t *inf, bool *ex)
{
	if (len == 0)
		return -1;
	*inf = 0;
	*p = s + 1;
	*plen = len - 1;
	switch (s[0]) {
	case '+':
	case '-':
		if (len != 1)
			return -1;
		/* As Redis: the infinities count as exclusive, so "-" "-" and
		 * "+" "+" are empty intervals. */
		*inf = s[0] == '+' ? 1 : -1;
		*ex = true;
		return 0;
	case '(':
		*ex = true;
		return 0;
	case '[':
		*ex = false;
		return 0;
	default:
		return -1;
	}
}

int obj_zset_parse_lex(const char *min, size_t minlen, const char *max, size_t maxlen,
		       struct obj_zset_lex *r)
{
	if (parse_lex_end(min, minlen, &r->min, &r->minlen, &r->mininf, &r->minex) < 0 ||
	    parse_lex_end(max, maxlen, &r->max, &r->maxlen, &r->maxinf, &r->maxex) < 0)
		return -1;
	return 0;
}

bool obj_zset_range_empty(const struct obj_zset_range *r)
{
	return r->min > r->max || (r->min == r->max && (r->minex || r->maxex));
}

bool obj_zset_lex_empty(const struct obj_zset_lex *r)
{
	int c;

	if (r->mininf || r->maxinf)
		c = r->mininf == r->maxinf ? 0 : (r->mininf < r->maxinf ? -1 : 1);
	else
		c = mcmp(r->min, r->minlen, r->max, r->maxlen);
	return c > 0 || (c == 0 && (r->minex || r->maxex));
}

/* ------------------------------------------------- listpack helpers */

/* Score of the score element at p (trusted: written by us or validated). */
static double zl_score(const unsigned char *p)
{
	long long iv;
	uint32_t len;
	const unsigned char *s = lp_get(p, &iv, &len);
	double d = 0;

	if (!s)
		return (double)iv;
	if (obj_zset_score_parse((const char *)s, len, &d) < 0)
		abort();   /* invariant: stored scores always parse */
	return d;
}

/* Member bytes of the member element at p (integers formatted into buf). */
static inline const char *zl_member(const unsigned char *p, char *buf, size_t *len)
{
	return (const char *)lp_get_str(p, (unsigned char *)buf, len);
}

static void zl_read(unsigned char *lp, unsigned char *p, struct obj_zset_elem *el)
{
	el->m = zl_member(p, el->buf, &el->mlen);
	el->score = zl_score(lp_next(lp, p));
}

/* Find member m: its member position (and *score), or NULL. */
static unsigned char *zl_find(unsigned char *lp, const void *m, size_t mlen, double *score)
{
	unsigned char *p = lp_first(lp);

	if (!p)
		return NULL;
	p = lp_find(lp, p, m, mlen, 1);
	if (p && score)
		*score = zl_score(lp_next(lp, p));
	return p;
}

/* Insert (m, score) at its sorted place; m must be absent. */
static unsigned char *zl_insert(unsigned char *lp, const void *m, size_t mlen, double score)
{
	unsigned char *p = lp_first(lp);
	char buf[LP_INTBUF];
	char sb[OBJ_ZSET_SCOREBUF];
	size_t sl = obj_zset_score_fmt(sb, score);

	while (p) {
		unsigned char *sp = lp_next(lp, p);
		double s = zl_score(sp);
		if (s > score)
			break;
		if (s == score) {
			size_t len;
			const char *pm = zl_member(p, buf, &len);
			if (mcmp(pm, len, m, mlen) > 0)
				break;
		}
		p = lp_next(lp, sp);
	}
	if (!p) {
		lp = lp_append(lp, m, mlen);
		return lp_append(lp, sb, sl);
	}
	unsigned char *np;
	lp = lp_insert(lp, m, mlen, p, LP_BEFORE, &np);
	return lp_insert(lp, sb, sl, np, LP_AFTER, NULL);
}

static inline unsigned long zl_len(const unsigned char *lp)
{
	return lp_len(lp) / 2;
}

/* Member position of the first (rev: last) element inside bound b, or
 * NULL; *rank (if not NULL) gets its 0-based rank from the lowest. */
static unsigned char *zl_first_in(unsigned char *lp, const struct zs_bound *b, bool rev,
				  unsigned long *rank)
{
	char buf[LP_INTBUF];
	size_t mlen = 0;
	const char *m;
	unsigned long i = 0;

	if (!rev) {
		for (unsigned char *p = lp_first(lp); p; i++) {
			unsigned char *sp = lp_next(lp, p);
			double s = zl_score(sp);
			m = b->kind == BOUND_LEX ? zl_member(p, buf, &mlen) : NULL;
			if (b_gte_min(b, s, m, mlen)) {
				if (!b_lte_max(b, s, m, mlen))
					return NULL;
				if (rank)
					*rank = i;
				return p;
			}
			p = lp_next(lp, sp);
		}
		return NULL;
	}
	unsigned long n = zl_len(lp);
	for (unsigned char *p = n ? lp_seek(lp, -2) : NULL; p; i++) {
		double s = zl_score(lp_next(lp, p));
		m = b->kind == BOUND_LEX ? zl_member(p, buf, &mlen) : NULL;
		if (b_lte_max(b, s, m, mlen)) {
			if (!b_gte_min(b, s, m, mlen))
				return NULL;
			if (rank)
				*rank = n - 1 - i;
			return p;
		}
		p = lp_prev(lp, p);
		p = p ? lp_prev(lp, p) : NULL;
	}
	return NULL;
}

/* ------------------------------------------------- skiplist helpers */

static _Thread_local uint64_t zs_rng = 0x9e3779b97f4a7c15ULL;

/* Levels 1..MAXLEVEL with P(level > k) = 4^-k. */
static unsigned sl_random_level(void)
{
	uint64_t x = zs_rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	zs_rng = x;
	unsigned level = 1;
	while ((x & 3) == 0 && level < OBJ_ZSET_MAXLEVEL) {
		level++;
		x >>= 2;
	}
	return level;
}

static struct obj_zset_node *sl_node_new(unsigned nlevel, double score, struct sd_entry *ent)
{
	struct obj_zset_node *n =
		zs_xmalloc(sizeof(*n) + nlevel * sizeof(struct obj_zset_level));
	n->ent = ent;
	n->score = score;
	n->back = NULL;
	n->nlevel = nlevel;
	for (unsigned i = 0; i < nlevel; i++) {
		n->lv[i].fwd = NULL;
		n->lv[i].span = 0;
	}
	return n;
}

static struct obj_zset_sl *sl_new(size_t hint)
{
	struct obj_zset_sl *sl = zs_xmalloc(sizeof(*sl));
	sl->dict = sd_new(hint);
	sl->head = sl_node_new(OBJ_ZSET_MAXLEVEL, 0, NULL);
	sl->tail = NULL;
	sl->len = 0;
	sl->level = 1;
	return sl;
}

static void sl_free(struct obj_zset_sl *sl)
{
	struct obj_zset_node *x = sl->head->lv[0].fwd;
	while (x) {
		struct obj_zset_node *next = x->lv[0].fwd;
		free(x);
		x = next;
	}
	free(sl->head);
	sd_free(sl->dict, NULL);
	free(sl);
}

static inline int node_cmp(const struct obj_zset_node *x, double score, const char *m, size_t mlen)
{
	if (x->score < score)
		return -1;
	if (x->score > score)
		return 1;
	return mcmp(x->ent->key, x->ent->klen, m, mlen);
}

/* Link node n (score, ent and nlevel set; its member absent) in place. */
static void sl_insert_node(struct obj_zset_sl *sl, struct obj_zset_node *n)
{
	struct obj_zset_node *update[OBJ_ZSET_MAXLEVEL], *x = sl->head;
	unsigned long rank[OBJ_ZSET_MAXLEVEL];
	const char *m = n->ent->key;
	size_t mlen = n->ent->klen;

	for (int i = sl->level - 1; i >= 0; i--) {
		rank[i] = i == sl->level - 1 ? 0 : rank[i + 1];
		while (x->lv[i].fwd && node_cmp(x->lv[i].fwd, n->score, m, mlen) < 0) {
			rank[i] += x->lv[i].span;
			x = x->lv[i].fwd;
		}
		update[i] = x;
	}
	int level = (int)n->nlevel;
	if (level > sl->level) {
		for (int i = sl->level; i < level; i++) {
			rank[i] = 0;
			update[i] = sl->head;
			sl->head->lv[i].fwd = NULL;
			sl->head->lv[i].span = sl->len;
		}
		sl->level = level;
	}
	for (int i = 0; i < level; i++) {
		n->lv[i].fwd = update[i]->lv[i].fwd;
		update[i]->lv[i].fwd = n;
		n->lv[i].span = update[i]->lv[i].span - (rank[0] - rank[i]);
		update[i]->lv[i].span = (rank[0] - rank[i]) + 1;
	}
	for (int i = level; i < sl->level; i++)
		update[i]->lv[i].span++;
	n->back = update[0] == sl->head ? NULL : update[0];
	if (n->lv[0].fwd)
		n->lv[0].fwd->back = n;
	else
		sl->tail = n;
	sl->len++;
}

/* Unlink x given update[i] = the last node before x at each level. */
static void sl_unlink(struct obj_zset_sl *sl, struct obj_zset_node *x,
		      struct obj_zset_node **update)
{
	for (int i = 0; i < sl->level; i++) {
		if (update[i]->lv[i].fwd == x) {
			update[i]->lv[i].span += x->lv[i].span - 1;
			update[i]->lv[i].fwd = x->lv[i].fwd;
		} else {
			update[i]->lv[i].span -= 1;
		}
	}
	if (x->lv[0].fwd)
		x->lv[0].fwd->back = x->back;
	else
		sl->tail = x->back;
	while (sl->level > 1 && !sl->head->lv[sl->level - 1].fwd)
		sl->level--;
	sl->len--;
}

/* Fill update[] for the position of (score, m); returns the node after it. */
static struct obj_zset_node *sl_seek(struct obj_zset_sl *sl, double score, const char *m,
				     size_t mlen, struct obj_zset_node **update)
{
	struct obj_zset_node *x = sl->head;

	for (int i = sl->level - 1; i >= 0; i--) {
		while (x->lv[i].fwd && node_cmp(x->lv[i].fwd, score, m, mlen) < 0)
			x = x->lv[i].fwd;
		update[i] = x;
	}
	return x->lv[0].fwd;
}

/* Unlink and free node x (and its dict entry). */
static void sl_delete_node(struct obj_zset_sl *sl, struct obj_zset_node *x)
{
	struct obj_zset_node *update[OBJ_ZSET_MAXLEVEL];
	struct obj_zset_node *y = sl_seek(sl, x->score, x->ent->key, x->ent->klen, update);

	(void)y;
	sl_unlink(sl, x, update);
	sd_del(sl->dict, x->ent->key, x->ent->klen, NULL);
	free(x);
}

/* Free a node already unlinked, with its dict entry. */
static void sl_drop(struct obj_zset_sl *sl, struct obj_zset_node *x)
{
	sd_del(sl->dict, x->ent->key, x->ent->klen, NULL);
	free(x);
}

/* 1-based rank of node n. */
static unsigned long sl_rank_node(const struct obj_zset_sl *sl, const struct obj_zset_node *n)
{
	const struct obj_zset_node *x = sl->head;
	unsigned long rank = 0;

	for (int i = sl->level - 1; i >= 0; i--) {
		while (x->lv[i].fwd && node_cmp(x->lv[i].fwd, n->score, n->ent->key, n->ent->klen) <= 0) {
			rank += x->lv[i].span;
			x = x->lv[i].fwd;
		}
		if (x == n)
			return rank;
	}
	abort();   /* invariant: n is in the list */
}

/* Node of 1-based rank, NULL if out of range. */
static struct obj_zset_node *sl_at(const struct obj_zset_sl *sl, unsigned long rank)
{
	struct obj_zset_node *x = sl->head;
	unsigned long trav = 0;

	if (rank == 0 || rank > sl->len)
		return NULL;
	for (int i = sl->level - 1; i >= 0; i--) {
		while (x->lv[i].fwd && trav + x->lv[i].span <= rank) {
			trav += x->lv[i].span;
			x = x->lv[i].fwd;
		}
		if (trav == rank)
			return x;
	}
	return NULL;
}

/* First (rev: last) node inside b, or NULL; *rank gets its 1-based rank. */
static struct obj_zset_node *sl_first_in(const struct obj_zset_sl *sl, const struct zs_bound *b,
					 bool rev, unsigned long *rank)
{
	struct obj_zset_node *x = sl->head;
	unsigned long r = 0;

	if (!rev) {
		for (int i = sl->level - 1; i >= 0; i--) {
			struct obj_zset_node *f;
			while ((f = x->lv[i].fwd) &&
			       !b_gte_min(b, f->score, f->ent->key, f->ent->klen)) {
				r += x->lv[i].span;
				x = f;
			}
		}
		x = x->lv[0].fwd;
		r++;
		if (!x || !b_lte_max(b, x->score, x->ent->key, x->ent->klen))
			return NULL;
	} else {
		for (int i = sl->level - 1; i >= 0; i--) {
			struct obj_zset_node *f;
			while ((f = x->lv[i].fwd) &&
			       b_lte_max(b, f->score, f->ent->key, f->ent->klen)) {
				r += x->lv[i].span;
				x = f;
			}
		}
		if (x == sl->head || !b_gte_min(b, x->score, x->ent->key, x->ent->klen))
			return NULL;
	}
	if (rank)
		*rank = r;
	return x;
}

static struct obj_zset_sl *lp_to_sl(unsigned char *lp)
{
	unsigned long n = zl_len(lp);
	struct obj_zset_sl *sl = sl_new(n);
	char buf[LP_INTBUF];

	for (unsigned char *p = lp_first(lp); p;) {
		size_t mlen;
		const char *m = zl_member(p, buf, &mlen);
		unsigned char *sp = lp_next(lp, p);
		bool existed;
		struct sd_entry *e = sd_add(sl->dict, m, mlen, &existed);
		struct obj_zset_node *node = sl_node_new(sl_random_level(), zl_score(sp), e);
		e->v.ptr = node;
		sl_insert_node(sl, node);
		p = lp_next(lp, sp);
	}
	return sl;
}

static unsigned char *sl_to_lp(const struct obj_zset_sl *sl)
{
	unsigned char *lp = lp_new();
	char sb[OBJ_ZSET_SCOREBUF];

	for (const struct obj_zset_node *x = sl->head->lv[0].fwd; x; x = x->lv[0].fwd) {
		lp = lp_append(lp, x->ent->key, x->ent->klen);
		lp = lp_append(lp, sb, obj_zset_score_fmt(sb, x->score));
	}
	return lp;
}

/* ------------------------------------------------------- life cycle */

void *obj_zset_new(size_t size_hint, size_t maxlen_hint, const struct obj_zset_lim *lim,
		   uint8_t *enc)
{
	if (lim->max_entries == 0 || size_hint > lim->max_entries || maxlen_hint > lim->max_value) {
		*enc = KS_ENC_SKIPLIST;
		return sl_new(size_hint);
	}
	*enc = KS_ENC_LISTPACK;
	return lp_new();
}

void obj_zset_free(void *ptr, uint8_t enc)
{
	if (!ptr)
		return;
	if (enc == KS_ENC_LISTPACK)
		lp_free(ptr);
	else
		sl_free(ptr);
}

void *obj_zset_clone(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK) {
		size_t n = lp_bytes(ptr);
		void *c = zs_xmalloc(n);
		memcpy(c, ptr, n);
		return c;
	}
	const struct obj_zset_sl *src = ptr;
	struct obj_zset_sl *sl = sl_new(src->len);
	/* Appending in order: each insert finds its place at the tail. Node
	 * heights are copied so the clone has the same shape. */
	for (const struct obj_zset_node *x = src->head->lv[0].fwd; x; x = x->lv[0].fwd) {
		struct sd_entry *e = sd_add(sl->dict, x->ent->key, x->ent->klen, NULL);
		struct obj_zset_node *n = sl_node_new(x->nlevel, x->score, e);
		e->v.ptr = n;
		sl_insert_node(sl, n);
	}
	return sl;
}

size_t obj_zset_mem(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK)
		return lp_bytes(ptr);
	const struct obj_zset_sl *sl = ptr;
	size_t n = sizeof(*sl) + sizeof(*sl->head) +
		   OBJ_ZSET_MAXLEVEL * sizeof(struct obj_zset_level) + sd_mem(sl->dict);
	for (const struct obj_zset_node *x = sl->head->lv[0].fwd; x; x = x->lv[0].fwd)
		n += sizeof(*x) + x->nlevel * sizeof(struct obj_zset_level);
	return n;
}

const struct ks_type_ops obj_zset_ops = {
	.free = obj_zset_free,
	.clone = obj_zset_clone,
	.mem = obj_zset_mem,
};

/* --------------------------------------------------------- reading */

unsigned long obj_zset_len(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK)
		return zl_len(ptr);
	return ((const struct obj_zset_sl *)ptr)->len;
}

int obj_zset_score(const void *ptr, uint8_t enc, const void *m, size_t mlen, double *score)
{
	if (enc == KS_ENC_LISTPACK)
		return zl_find((unsigned char *)ptr, m, mlen, score) ? 0 : -1;
	const struct sd_entry *e = sd_find(((const struct obj_zset_sl *)ptr)->dict, m, mlen);
	if (!e)
		return -1;
	*score = ((const struct obj_zset_node *)e->v.ptr)->score;
	return 0;
}

long obj_zset_rank(const void *ptr, uint8_t enc, const void *m, size_t mlen, bool rev,
		   double *score)
{
	unsigned long len = obj_zset_len(ptr, enc), rank = 0;

	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)ptr;
		unsigned char *p = lp_first(lp);
		for (; p; rank++) {
			unsigned char *sp = lp_next(lp, p);
			if (lp_eq(p, m, mlen)) {
				if (score)
					*score = zl_score(sp);
				break;
			}
			p = lp_next(lp, sp);
		}
		if (!p)
			return -1;
	} else {
		const struct obj_zset_sl *sl = ptr;
		const struct sd_entry *e = sd_find(sl->dict, m, mlen);
		if (!e)
			return -1;
		const struct obj_zset_node *n = e->v.ptr;
		if (score)
			*score = n->score;
		rank = sl_rank_node(sl, n) - 1;
	}
	return (long)(rev ? len - 1 - rank : rank);
}

bool obj_zset_at(const void *ptr, uint8_t enc, unsigned long rank, bool rev,
		 struct obj_zset_elem *el)
{
	unsigned long len = obj_zset_len(ptr, enc);

	if (rank >= len)
		return false;
	if (rev)
		rank = len - 1 - rank;
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)ptr;
		zl_read(lp, lp_seek(lp, (long)(2 * rank)), el);
		return true;
	}
	const struct obj_zset_node *x = sl_at(ptr, rank + 1);
	el->m = x->ent->key;
	el->mlen = x->ent->klen;
	el->score = x->score;
	return true;
}

static unsigned long count_bound(const void *ptr, uint8_t enc, const struct zs_bound *b)
{
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)ptr;
		unsigned long first, last;
		if (!zl_first_in(lp, b, false, &first))
			return 0;
		zl_first_in(lp, b, true, &last);
		return last - first + 1;
	}
	unsigned long first, last;
	if (!sl_first_in(ptr, b, false, &first))
		return 0;
	sl_first_in(ptr, b, true, &last);
	return last - first + 1;
}

unsigned long obj_zset_count_range(const void *ptr, uint8_t enc, const struct obj_zset_range *r)
{
	struct zs_bound b = { .kind = BOUND_SCORE, .r = r };

	if (obj_zset_range_empty(r))
		return 0;
	return count_bound(ptr, enc, &b);
}

unsigned long obj_zset_count_lex(const void *ptr, uint8_t enc, const struct obj_zset_lex *r)
{
	struct zs_bound b = { .kind = BOUND_LEX, .lex = r };

	if (obj_zset_lex_empty(r))
		return 0;
	return count_bound(ptr, enc, &b);
}

size_t obj_zset_max_member_len(const void *ptr, uint8_t enc)
{
	struct obj_zset_iter it;
	struct obj_zset_elem el;
	size_t max = 0;

	obj_zset_iter_rank(&it, ptr, enc, 0, false);
	while (obj_zset_iter_next(&it, &el))
		if (el.mlen > max)
			max = el.mlen;
	return max;
}

/* ------------------------------------------------------- iteration */

static void iter_base(struct obj_zset_iter *it, const void *ptr, uint8_t enc, bool rev)
{
	memset(it, 0, sizeof(*it));
	it->ptr = ptr;
	it->enc = enc;
	it->rev = rev;
}

void obj_zset_iter_rank(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
			unsigned long rank, bool rev)
{
	unsigned long len = obj_zset_len(ptr, enc);

	iter_base(it, ptr, enc, rev);
	if (rank >= len)
		return;
	unsigned long fwd_rank = rev ? len - 1 - rank : rank;
	if (enc == KS_ENC_LISTPACK)
		it->p = lp_seek((unsigned char *)ptr, (long)(2 * fwd_rank));
	else
		it->node = sl_at(ptr, fwd_rank + 1);
}

static void iter_bound(struct obj_zset_iter *it, const struct zs_bound *b)
{
	if (it->enc == KS_ENC_LISTPACK)
		it->p = zl_first_in((unsigned char *)it->ptr, b, it->rev, NULL);
	else
		it->node = sl_first_in(it->ptr, b, it->rev, NULL);
}

void obj_zset_iter_range(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
			 const struct obj_zset_range *r, bool rev)
{
	iter_base(it, ptr, enc, rev);
	it->bound = BOUND_SCORE;
	it->r = *r;
	if (obj_zset_range_empty(r))
		return;
	struct zs_bound b = { .kind = BOUND_SCORE, .r = &it->r };
	iter_bound(it, &b);
}

void obj_zset_iter_lex(struct obj_zset_iter *it, const void *ptr, uint8_t enc,
		       const struct obj_zset_lex *r, bool rev)
{
	iter_base(it, ptr, enc, rev);
	it->bound = BOUND_LEX;
	it->lex = *r;
	if (obj_zset_lex_empty(r))
		return;
	struct zs_bound b = { .kind = BOUND_LEX, .lex = &it->lex };
	iter_bound(it, &b);
}

bool obj_zset_iter_next(struct obj_zset_iter *it, struct obj_zset_elem *el)
{
	struct zs_bound b = { .kind = it->bound, .r = &it->r, .lex = &it->lex };

	if (it->enc == KS_ENC_LISTPACK) {
		unsigned char *lp = (unsigned char *)it->ptr;
		if (!it->p)
			return false;
		zl_read(lp, it->p, el);
		/* The start was inside the interval; only the far end can end it. */
		if (it->rev ? !b_gte_min(&b, el->score, el->m, el->mlen)
			    : !b_lte_max(&b, el->score, el->m, el->mlen)) {
			it->p = NULL;
			return false;
		}
		if (it->rev) {
			unsigned char *q = lp_prev(lp, it->p);
			it->p = q ? lp_prev(lp, q) : NULL;
		} else {
			it->p = lp_next(lp, lp_next(lp, it->p));
		}
		return true;
	}
	struct obj_zset_node *x = it->node;
	if (!x)
		return false;
	if (it->rev ? !b_gte_min(&b, x->score, x->ent->key, x->ent->klen)
		    : !b_lte_max(&b, x->score, x->ent->key, x->ent->klen)) {
		it->node = NULL;
		return false;
	}
	el->m = x->ent->key;
	el->mlen = x->ent->klen;
	el->score = x->score;
	it->node = it->rev ? x->back : x->lv[0].fwd;
	return true;
}

unsigned long obj_zset_iter_skip(struct obj_zset_iter *it, unsigned long n)
{
	struct obj_zset_elem el;
	unsigned long done = 0;

	/* A plain skiplist walk with no bound could jump by spans, but the
	 * callers (LIMIT offsets) always have a bound to honour. */
	while (done < n && obj_zset_iter_next(it, &el))
		done++;
	return done;
}

struct scan_ctx {
	obj_zset_elem_fn *fn;
	void *arg;
};

static void scan_cb(void *arg, struct sd_entry *e)
{
	struct scan_ctx *sc = arg;
	const struct obj_zset_node *n = e->v.ptr;
	struct obj_zset_elem el = { .m = e->key, .mlen = e->klen, .score = n->score };

	sc->fn(sc->arg, &el);
}

uint64_t obj_zset_scan(const void *ptr, uint8_t enc, uint64_t cursor, unsigned count,
		       obj_zset_elem_fn *fn, void *arg)
{
	if (enc == KS_ENC_LISTPACK) {
		struct obj_zset_iter it;
		struct obj_zset_elem el;
		obj_zset_iter_rank(&it, ptr, enc, 0, false);
		while (obj_zset_iter_next(&it, &el))
			fn(arg, &el);
		return 0;
	}
	struct scan_ctx sc = { fn, arg };
	return sd_scan(((const struct obj_zset_sl *)ptr)->dict, cursor, count, scan_cb, &sc);
}

/* --------------------------------------------------------- writing */

void obj_zset_convert(void **ptr, uint8_t *enc, uint8_t to)
{
	if (*enc == to)
		return;
	if (to == KS_ENC_SKIPLIST) {
		struct obj_zset_sl *sl = lp_to_sl(*ptr);
		lp_free(*ptr);
		*ptr = sl;
	} else {
		unsigned char *lp = sl_to_lp(*ptr);
		sl_free(*ptr);
		*ptr = lp;
	}
	*enc = to;
}

void obj_zset_shrink(void **ptr, uint8_t *enc, const struct obj_zset_lim *lim)
{
	if (*enc != KS_ENC_SKIPLIST)
		return;
	const struct obj_zset_sl *sl = *ptr;
	if (sl->len > lim->max_entries)
		return;
	for (const struct obj_zset_node *x = sl->head->lv[0].fwd; x; x = x->lv[0].fwd)
		if (x->ent->klen > lim->max_value)
			return;
	obj_zset_convert(ptr, enc, KS_ENC_LISTPACK);
}

/* ZADD's flags applied to a member already present with score cur: NX
 * leaves it, INCR adds cur to *score (NaN is an error), LT/GT refuse a
 * move the wrong way. Sets *out (and *newscore) as ZADD reports them.
 * Returns 1 when the score must change to *score, 0 when nothing changes,
 * -1 when INCR made NaN. */
static int zs_add_existing(unsigned in, double cur, double *score, unsigned *out, double *newscore)
{
	if (in & OBJ_ZSET_NX) {
		*out |= OBJ_ZSET_OUT_NOP;
		return 0;
	}
	if (in & OBJ_ZSET_INCR) {
		*score += cur;
		if (isnan(*score)) {
			*out |= OBJ_ZSET_OUT_NAN;
			return -1;
		}
	}
	if (((in & OBJ_ZSET_LT) && *score >= cur) || ((in & OBJ_ZSET_GT) && *score <= cur)) {
		*out |= OBJ_ZSET_OUT_NOP;
		return 0;
	}
	if (newscore)
		*newscore = *score;
	return *score == cur ? 0 : 1;
}

static int zl_add(void **ptr, uint8_t *enc, const void *m, size_t mlen, double score,
		  unsigned in, unsigned *out, double *newscore, const struct obj_zset_lim *lim)
{
	unsigned char *lp = *ptr;
	double cur;
	unsigned char *p = zl_find(lp, m, mlen, &cur);

	if (p) {
		int rc = zs_add_existing(in, cur, &score, out, newscore);
		if (rc <= 0)
			return rc;
		/* Same place (strictly between its neighbours' scores): rewrite
		 * the score element only; else delete and re-insert. */
		unsigned char *sp = lp_next(lp, p);
		unsigned char *prev = lp_prev(lp, p);
		unsigned char *next = lp_next(lp, sp);
		if ((!prev || zl_score(prev) < score) && (!next || zl_score(lp_next(lp, next)) > score)) {
			char sb[OBJ_ZSET_SCOREBUF];
			lp = lp_insert(lp, sb, obj_zset_score_fmt(sb, score), sp, LP_REPLACE, NULL);
		} else {
			/* m may point into lp (a member read from it): copy first. */
			char small[256];
			char *mc = mlen <= sizeof(small) ? small : zs_xmalloc(mlen);
			memcpy(mc, m, mlen);
			lp = lp_delete_range_at(lp, p, 2);
			lp = zl_insert(lp, mc, mlen, score);
			if (mc != small)
				free(mc);
		}
		*ptr = lp;
		*out |= OBJ_ZSET_OUT_UPDATED;
		return 0;
	}
	if (in & OBJ_ZSET_XX) {
		*out |= OBJ_ZSET_OUT_NOP;
		return 0;
	}
	if (mlen > lim->max_value || zl_len(lp) + 1 > lim->max_entries ||
	    lp_bytes(lp) + lp_entry_size(m, mlen) + OBJ_ZSET_SCOREBUF > ZS_LP_MAX_BYTES) {
		obj_zset_convert(ptr, enc, KS_ENC_SKIPLIST);
		return 1;   /* caller retries on the skiplist */
	}
	*ptr = zl_insert(lp, m, mlen, score);
	*out |= OBJ_ZSET_OUT_ADDED;
	if (newscore)
		*newscore = score;
	return 0;
}

static int sl_add(struct obj_zset_sl *sl, const void *m, size_t mlen, double score,
		  unsigned in, unsigned *out, double *newscore)
{
	struct sd_entry *e = sd_find(sl->dict, m, mlen);

	if (e) {
		struct obj_zset_node *n = e->v.ptr;
		double cur = n->score;
		int rc = zs_add_existing(in, cur, &score, out, newscore);
		if (rc <= 0)
			return rc;
		if ((!n->back || n->back->score < score) &&
		    (!n->lv[0].fwd || n->lv[0].fwd->score > score)) {
			n->score = score;
		} else {
			struct obj_zset_node *update[OBJ_ZSET_MAXLEVEL];
			sl_seek(sl, n->score, e->key, e->klen, update);
			sl_unlink(sl, n, update);
			n->score = score;
			sl_insert_node(sl, n);
		}
		*out |= OBJ_ZSET_OUT_UPDATED;
		return 0;
	}
	if (in & OBJ_ZSET_XX) {
		*out |= OBJ_ZSET_OUT_NOP;
		return 0;
	}
	e = sd_add(sl->dict, m, mlen, NULL);
	struct obj_zset_node *n = sl_node_new(sl_random_level(), score, e);
	e->v.ptr = n;
	sl_insert_node(sl, n);
	*out |= OBJ_ZSET_OUT_ADDED;
	if (newscore)
		*newscore = score;
	return 0;
}

int obj_zset_add(void **ptr, uint8_t *enc, const void *m, size_t mlen, double score,
		 unsigned in_flags, unsigned *out_flags, double *newscore,
		 const struct obj_zset_lim *lim)
{
	*out_flags = 0;
	if (isnan(score)) {
		*out_flags = OBJ_ZSET_OUT_NAN;
		return -1;
	}
	if (*enc == KS_ENC_LISTPACK) {
		int rc = zl_add(ptr, enc, m, mlen, score, in_flags, out_flags, newscore, lim);
		if (rc <= 0)
			return rc;
		/* Converted: the member is new, add it to the skiplist. */
	}
	return sl_add(*ptr, m, mlen, score, in_flags, out_flags, newscore);
}

int obj_zset_del(void **ptr, uint8_t enc, const void *m, size_t mlen)
{
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *p = zl_find(*ptr, m, mlen, NULL);
		if (!p)
			return 0;
		*ptr = lp_delete_range_at(*ptr, p, 2);
		return 1;
	}
	struct obj_zset_sl *sl = *ptr;
	struct sd_entry *e = sd_find(sl->dict, m, mlen);
	if (!e)
		return 0;
	sl_delete_node(sl, e->v.ptr);
	return 1;
}

unsigned long obj_zset_del_ranks(void **ptr, uint8_t enc, unsigned long start, unsigned long end)
{
	if (start > end)
		return 0;
	if (enc == KS_ENC_LISTPACK) {
		*ptr = lp_delete_range(*ptr, (long)(2 * start), 2 * (end - start + 1));
		return end - start + 1;
	}
	struct obj_zset_sl *sl = *ptr;
	struct obj_zset_node *update[OBJ_ZSET_MAXLEVEL], *x = sl->head;
	unsigned long trav = 0, removed = 0;
	unsigned long s1 = start + 1, e1 = end + 1;

	for (int i = sl->level - 1; i >= 0; i--) {
		while (x->lv[i].fwd && trav + x->lv[i].span < s1) {
			trav += x->lv[i].span;
			x = x->lv[i].fwd;
		}
		update[i] = x;
	}
	trav++;
	x = x->lv[0].fwd;
	while (x && trav <= e1) {
		struct obj_zset_node *next = x->lv[0].fwd;
		sl_unlink(sl, x, update);
		sl_drop(sl, x);
		removed++;
		trav++;
		x = next;
	}
	return removed;
}

static unsigned long del_bound(void **ptr, uint8_t enc, const struct zs_bound *b)
{
	if (enc == KS_ENC_LISTPACK) {
		unsigned char *lp = *ptr;
		unsigned long first, last;
		unsigned char *p = zl_first_in(lp, b, false, &first);
		if (!p)
			return 0;
		zl_first_in(lp, b, true, &last);
		*ptr = lp_delete_range_at(lp, p, 2 * (last - first + 1));
		return last - first + 1;
	}
	struct obj_zset_sl *sl = *ptr;
	struct obj_zset_node *update[OBJ_ZSET_MAXLEVEL], *x = sl->head, *f;
	unsigned long removed = 0;

	for (int i = sl->level - 1; i >= 0; i--) {
		while ((f = x->lv[i].fwd) && !b_gte_min(b, f->score, f->ent->key, f->ent->klen))
			x = f;
		update[i] = x;
	}
	x = x->lv[0].fwd;
	while (x && b_lte_max(b, x->score, x->ent->key, x->ent->klen)) {
		struct obj_zset_node *next = x->lv[0].fwd;
		sl_unlink(sl, x, update);
		sl_drop(sl, x);
		removed++;
		x = next;
	}
	return removed;
}

unsigned long obj_zset_del_range(void **ptr, uint8_t enc, const struct obj_zset_range *r)
{
	struct zs_bound b = { .kind = BOUND_SCORE, .r = r };

	if (obj_zset_range_empty(r))
		return 0;
	return del_bound(ptr, enc, &b);
}

unsigned long obj_zset_del_lex(void **ptr, uint8_t enc, const struct obj_zset_lex *r)
{
	struct zs_bound b = { .kind = BOUND_LEX, .lex = r };

	if (obj_zset_lex_empty(r))
		return 0;
	return del_bound(ptr, enc, &b);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct sd_entry *x = *(const struct sd_entry *const *)a;
	const struct sd_entry *y = *(const struct sd_entry *const *)b;

	if (x->v.d < y->v.d)
		return -1;
	if (x->v.d > y->v.d)
		return 1;
	return mcmp(x->key, x->klen, y->key, y->klen);
}

void *obj_zset_from_dict(struct sdict *d, const struct obj_zset_lim *lim, uint8_t *enc)
{
	uint64_t n = sd_size(d);
	size_t maxlen = 0;
	struct sd_iter it;
	struct sd_entry *e;

	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it)))
		if (e->klen > maxlen)
			maxlen = e->klen;
	if (lim->max_entries > 0 && n <= lim->max_entries && maxlen <= lim->max_value) {
		struct sd_entry **v = zs_xmalloc(n * sizeof(*v));
		size_t i = 0;
		char sb[OBJ_ZSET_SCOREBUF];
		sd_iter_init(&it, d);
		while ((e = sd_iter_next(&it)))
			v[i++] = e;
		qsort(v, n, sizeof(*v), entry_cmp);
		unsigned char *lp = lp_new();
		for (i = 0; i < n; i++) {
			lp = lp_append(lp, v[i]->key, v[i]->klen);
			lp = lp_append(lp, sb, obj_zset_score_fmt(sb, v[i]->v.d));
		}
		free(v);
		sd_free(d, NULL);
		*enc = KS_ENC_LISTPACK;
		return lp;
	}
	struct obj_zset_sl *sl = zs_xmalloc(sizeof(*sl));
	sl->dict = d;
	sl->head = sl_node_new(OBJ_ZSET_MAXLEVEL, 0, NULL);
	sl->tail = NULL;
	sl->len = 0;
	sl->level = 1;
	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it))) {
		struct obj_zset_node *node = sl_node_new(sl_random_level(), e->v.d, e);
		e->v.ptr = node;   /* the score now lives in the node */
		sl_insert_node(sl, node);
	}
	*enc = KS_ENC_SKIPLIST;
	return sl;
}

/* ---------------------------------------------------------- random */

/* Random access to elements: a listpack is indexed once (member positions),
 * a skiplist answers by rank. */
struct zs_ra {
	const void *ptr;
	uint8_t enc;
	unsigned char **pos;
};

static void ra_init(struct zs_ra *ra, const void *ptr, uint8_t enc)
{
	ra->ptr = ptr;
	ra->enc = enc;
	ra->pos = NULL;
	if (enc != KS_ENC_LISTPACK)
		return;
	unsigned char *lp = (unsigned char *)ptr;
	unsigned long n = zl_len(lp), i = 0;
	ra->pos = zs_xmalloc(n * sizeof(*ra->pos));
	for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p)))
		ra->pos[i++] = p;
}

static void ra_get(struct zs_ra *ra, unsigned long rank, struct obj_zset_elem *el)
{
	if (ra->enc == KS_ENC_LISTPACK)
		zl_read((unsigned char *)ra->ptr, ra->pos[rank], el);
	else
		obj_zset_at(ra->ptr, ra->enc, rank, false, el);
}

void obj_zset_random_pick(const void *ptr, uint8_t enc, unsigned long count, bool unique,
			  obj_zset_rnd_fn *rnd, void *rnd_arg, obj_zset_elem_fn *fn, void *arg)
{
	unsigned long len = obj_zset_len(ptr, enc);
	struct obj_zset_elem el;
	struct zs_ra ra;

	if (len == 0 || count == 0)
		return;
	if (unique && count >= len) {
		struct obj_zset_iter it;
		obj_zset_iter_rank(&it, ptr, enc, 0, false);
		while (obj_zset_iter_next(&it, &el))
			fn(arg, &el);
		return;
	}
	ra_init(&ra, ptr, enc);
	if (!unique) {
		for (unsigned long i = 0; i < count; i++) {
			ra_get(&ra, rnd(rnd_arg) % len, &el);
			fn(arg, &el);
		}
	} else if (count * 3 > len) {
		/* Partial Fisher-Yates over all ranks. */
		unsigned long *idx = zs_xmalloc(len * sizeof(*idx));
		for (unsigned long i = 0; i < len; i++)
			idx[i] = i;
		for (unsigned long i = 0; i < count; i++) {
			unsigned long j = i + rnd(rnd_arg) % (len - i);
			unsigned long t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
			ra_get(&ra, idx[i], &el);
			fn(arg, &el);
		}
		free(idx);
	} else {
		/* Few of many: draw ranks, drop repeats with an open-addressing
		 * set (load <= 1/2). */
		size_t cap = 16;
		while (cap < count * 2)
			cap <<= 1;
		unsigned long *set = zs_xmalloc(cap * sizeof(*set));
		for (size_t i = 0; i < cap; i++)
			set[i] = ULONG_MAX;
		for (unsigned long got = 0; got < count;) {
			unsigned long r = rnd(rnd_arg) % len;
			size_t h = (size_t)((r * 0x9e3779b97f4a7c15ULL) >> 7) & (cap - 1);
			while (set[h] != ULONG_MAX && set[h] != r)
				h = (h + 1) & (cap - 1);
			if (set[h] == r)
				continue;
			set[h] = r;
			got++;
			ra_get(&ra, r, &el);
			fn(arg, &el);
		}
		free(set);
	}
	free(ra.pos);
}

/* -------------------------------------------------------- loading */

static bool lp_pairs_valid(unsigned char *lp, bool check_dupes)
{
	unsigned long n = lp_len(lp);
	char buf[LP_INTBUF], pbuf[LP_INTBUF];
	const char *pm = NULL;
	size_t plen = 0;
	double ps = 0;
	bool ok = true;
	struct sdict *seen = NULL;

	if (n % 2)
		return false;
	if (check_dupes)
		seen = sd_new(n / 2);
	for (unsigned char *p = lp_first(lp); p && ok;) {
		unsigned char *sp = lp_next(lp, p);
		long long iv;
		uint32_t slen;
		const unsigned char *s = lp_get(sp, &iv, &slen);
		double d;
		if (!s)
			d = (double)iv;
		else if (obj_zset_score_parse((const char *)s, slen, &d) < 0) {
			ok = false;
			break;
		}
		size_t mlen;
		const char *m = zl_member(p, buf, &mlen);
		if (pm && (d < ps || (d == ps && mcmp(pm, plen, m, mlen) >= 0)))
			ok = false;
		if (seen) {
			bool existed;
			sd_add(seen, m, mlen, &existed);
			if (existed)
				ok = false;
		}
		/* Keep the previous member readable: integers live in buf. */
		if (m == buf) {
			memcpy(pbuf, buf, mlen);
			pm = pbuf;
		} else {
			pm = m;
		}
		plen = mlen;
		ps = d;
		p = lp_next(lp, sp);
	}
	if (seen)
		sd_free(seen, NULL);
	return ok;
}

bool obj_zset_lp_valid(const unsigned char *lp, size_t size)
{
	if (!lp_validate(lp, size))
		return false;
	return lp_pairs_valid((unsigned char *)lp, true);
}

int obj_zset_check(const void *ptr, uint8_t enc)
{
	if (enc == KS_ENC_LISTPACK)
		return lp_pairs_valid((unsigned char *)ptr, true) ? 0 : -1;
	if (enc != KS_ENC_SKIPLIST)
		return -1;
	const struct obj_zset_sl *sl = ptr;
	unsigned long n = 0;
	const struct obj_zset_node *prev = NULL;

	if (sl->len != sd_size(sl->dict) || sl->level < 1 || sl->level > OBJ_ZSET_MAXLEVEL)
		return -1;
	for (int i = sl->level; i < OBJ_ZSET_MAXLEVEL; i++)
		if (sl->head->lv[i].fwd)
			return -1;
	const struct obj_zset_node **nodes = zs_xmalloc((sl->len + 1) * sizeof(*nodes));
	int rc = -1;
	nodes[0] = sl->head;
	for (const struct obj_zset_node *x = sl->head->lv[0].fwd; x; x = x->lv[0].fwd) {
		if (++n > sl->len)
			goto out;
		nodes[n] = x;
		if (x->back != prev || x->ent->v.ptr != x || x->nlevel < 1 ||
		    x->nlevel > OBJ_ZSET_MAXLEVEL ||
		    sd_find(sl->dict, x->ent->key, x->ent->klen) != x->ent)
			goto out;
		if (prev && node_cmp(prev, x->score, x->ent->key, x->ent->klen) >= 0)
			goto out;
		if (isnan(x->score))
			goto out;
		prev = x;
	}
	if (n != sl->len || sl->tail != prev)
		goto out;
	/* Every level: links skip exactly `span` level-0 steps, a NULL link
	 * spans to the end, and every node tall enough is on the level. */
	for (int i = 0; i < sl->level; i++) {
		unsigned long r = 0, seen = 0, tall = 0;
		const struct obj_zset_node *x = sl->head;
		for (unsigned long k = 1; k <= n; k++)
			if (nodes[k]->nlevel > (unsigned)i)
				tall++;
		for (;;) {
			const struct obj_zset_node *f = x->lv[i].fwd;
			if (!f) {
				if (x->lv[i].span != n - r)
					goto out;
				break;
			}
			r += x->lv[i].span;
			if (r > n || nodes[r] != f)
				goto out;
			seen++;
			x = f;
		}
		if (seen != tall)
			goto out;
	}
	rc = 0;
out:
	free(nodes);
	return rc;
}
