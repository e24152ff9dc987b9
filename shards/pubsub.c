/* shards/pubsub.c — Pub/Sub: SUBSCRIBE and friends, PUBLISH, PUBSUB, and
 * the sharded forms (SSUBSCRIBE SUNSUBSCRIBE SPUBLISH) of Redis 7.
 *
 * Each shard keeps the subscriptions of its own connections in three
 * namespaces (channels, patterns, shard channels). Per namespace, a table
 * maps a name to a struct ps_chan holding the array of subscribed
 * connections; per connection (struct ps_conn, NULL while it holds nothing)
 * a set maps each ps_chan it holds to its index in that array, so a
 * subscription is added or dropped in O(1) however many clients share the
 * channel (drop = swap with the array's last element and fix that
 * connection's index).
 *
 * SUBSCRIBE and friends run on the client's own shard (CMD_CONN). PUBLISH
 * and SPUBLISH are broadcasts: every shard delivers to its own subscribers
 * with conn_push() (queued behind replies the subscriber is still owed) and
 * answers how many it reached; the parts are summed. Rings are FIFO and a
 * client's commands leave its shard in order, so every subscriber sees one
 * publisher's messages in publication order. PUBSUB CHANNELS/NUMSUB/NUMPAT
 * (and SHARDCHANNELS/SHARDNUMSUB) are broadcasts merged by the merge
 * functions at the end of this file.
 *
 * Everything here runs on the shard that owns the state; nothing is shared
 * between shards. Every connection in a table is alive: the connection
 * layer calls ps_conn_reset() when it closes one. */
#include "shards/pubsub.h"
#include "shards/shard_int.h"

#include <stdlib.h>
#include <string.h>

enum ps_kind { PS_CHAN = 0, PS_PAT, PS_SCHAN, PS_NKINDS };

/* One channel (or pattern, or shard channel) with at least one subscriber
 * on this shard; freed when its last subscriber leaves. */
struct ps_chan {
	struct conn **subs;
	size_t nsubs, cap;
	uint64_t hash;
	size_t len;
	char name[];
};

/* name -> ps_chan: open addressing, linear probing, backward-shift delete
 * (no tombstones). cap is 0 or a power of two; load stays <= 3/4 and the
 * table shrinks as it empties, so its size follows its content. */
struct ps_tab {
	struct ps_chan **slot;
	size_t cap, n;
};

/* A connection's subscriptions of one kind: ps_chan -> index in its subs. */
struct ps_ref {
	struct ps_chan *ch;       /* NULL: empty slot */
	size_t idx;
};

struct ps_set {
	struct ps_ref *slot;
	size_t cap, n;
};

struct ps_conn {
	struct ps_conn *next, *prev;      /* shard's list, for ps_shard_free */
	struct conn *c;
	struct ps_set sets[PS_NKINDS];
};

struct ps_shard {
	struct ps_tab tabs[PS_NKINDS];
	struct ps_conn *conns;
};

static const char *const kind_sub[PS_NKINDS] = { "subscribe", "psubscribe", "ssubscribe" };
static const char *const kind_unsub[PS_NKINDS] = { "unsubscribe", "punsubscribe", "sunsubscribe" };

#define PS_MIN_CAP 4

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		abort();    /* as rbuf: what cannot be allocated cannot be answered */
	return p;
}

static uint64_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* ------------------------------------------------------ name -> chan */

static struct ps_chan *tab_find(const struct ps_tab *t, const void *name, size_t len, uint64_t h)
{
	if (!t->n)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct ps_chan *ch = t->slot[i];
		if (!ch)
			return NULL;
		if (ch->hash == h && ch->len == len && memcmp(ch->name, name, len) == 0)
			return ch;
	}
}

static void tab_place(struct ps_chan **slot, size_t cap, struct ps_chan *ch)
{
	size_t mask = cap - 1;
	size_t i = ch->hash & mask;
	while (slot[i])
		i = (i + 1) & mask;
	slot[i] = ch;
}

static void tab_resize(struct ps_tab *t, size_t cap)
{
	struct ps_chan **ns = NULL;
	if (cap) {
		ns = xcalloc(cap, sizeof(*ns));
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i])
				tab_place(ns, cap, t->slot[i]);
	}
	free(t->slot);
	t->slot = ns;
	t->cap = cap;
}

static void tab_add(struct ps_tab *t, struct ps_chan *ch)
{
	if ((t->n + 1) * 4 > t->cap * 3)
		tab_resize(t, t->cap ? t->cap * 2 : PS_MIN_CAP);
	tab_place(t->slot, t->cap, ch);
	t->n++;
}

/* Remove the slot at i and close the gap: entries after it that are out
 * of their home slot move back, so lookups never meet a false hole. */
static void slots_shift_delete_chan(struct ps_chan **slot, size_t cap, size_t i)
{
	size_t mask = cap - 1;
	size_t j = i;
	for (;;) {
		slot[i] = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (!slot[j])
				return;
			size_t home = slot[j]->hash & mask;
			/* Movable if home is not cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		slot[i] = slot[j];
		i = j;
	}
}

static void tab_del(struct ps_tab *t, struct ps_chan *ch)
{
	size_t mask = t->cap - 1;
	size_t i = ch->hash & mask;
	while (t->slot[i] != ch)
		i = (i + 1) & mask;
	slots_shift_delete_chan(t->slot, t->cap, i);
	t->n--;
	if (t->n == 0)
		tab_resize(t, 0);
	else if (t->cap > PS_MIN_CAP && t->n * 8 < t->cap)
		tab_resize(t, t->cap / 2);
}

/* -------------------------------------------------- chan -> index set */

static struct ps_ref *set_find(const struct ps_set *s, const struct ps_chan *ch)
{
	if (!s->n)
		return NULL;
	size_t mask = s->cap - 1;
	for (size_t i = ptr_hash(ch) & mask;; i = (i + 1) & mask) {
		if (!s->slot[i].ch)
			return NULL;
		if (s->slot[i].ch == ch)
			return &s->slot[i];
	}
}

static void set_place(struct ps_ref *slot, size_t cap, struct ps_ref r)
{
	size_t mask = cap - 1;
	size_t i = ptr_hash(r.ch) & mask;
	while (slot[i].ch)
		i = (i + 1) & mask;
	slot[i] = r;
}

static void set_resize(struct ps_set *s, size_t cap)
{
	struct ps_ref *ns = NULL;
	if (cap) {
		ns = xcalloc(cap, sizeof(*ns));
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i].ch)
				set_place(ns, cap, s->slot[i]);
	}
	free(s->slot);
	s->slot = ns;
	s->cap = cap;
}

static void set_add(struct ps_set *s, struct ps_chan *ch, size_t idx)
{
	if ((s->n + 1) * 4 > s->cap * 3)
		set_resize(s, s->cap ? s->cap * 2 : PS_MIN_CAP);
	set_place(s->slot, s->cap, (struct ps_ref){ ch, idx });
	s->n++;
}

static void set_del(struct ps_set *s, struct ps_ref *r)
{
	size_t mask = s->cap - 1;
	size_t i = (size_t)(r - s->slot);
	size_t j = i;
	for (;;) {
		s->slot[i].ch = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (!s->slot[j].ch)
				goto out;
			size_t home = ptr_hash(s->slot[j].ch) & mask;
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		s->slot[i] = s->slot[j];
		i = j;
	}
out:
	s->n--;
	if (s->n == 0)
		set_resize(s, 0);
	else if (s->cap > PS_MIN_CAP && s->n * 8 < s->cap)
		set_resize(s, s->cap / 2);
}

/* The set's channels, in slot order (the caller frees the array): a
 * stable list to drop them one by one in O(1) each while the set shrinks. */
static struct ps_chan **set_snapshot(const struct ps_set *s, size_t *n)
{
	struct ps_chan **all = xcalloc(s->n ? s->n : 1, sizeof(*all));
	size_t k = 0;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i].ch)
			all[k++] = s->slot[i].ch;
	*n = k;
	return all;
}

/* -------------------------------------------------------- shard state */

void ps_shard_init(struct shard *sh)
{
	if (!sh->ps)
		sh->ps = xcalloc(1, sizeof(*sh->ps));
}

static struct ps_shard *ps_of(struct shard *sh)
{
	ps_shard_init(sh);   /* tolerate a shard started without the hook */
	return sh->ps;
}

static void chan_free(struct ps_chan *ch)
{
	free(ch->subs);
	free(ch);
}

static size_t pc_total(const struct ps_conn *pc)
{
	return pc->sets[PS_CHAN].n + pc->sets[PS_PAT].n + pc->sets[PS_SCHAN].n;
}

static void pc_free(struct ps_shard *ps, struct ps_conn *pc)
{
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		ps->conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	for (int k = 0; k < PS_NKINDS; k++)
		free(pc->sets[k].slot);
	pc->c->ps = NULL;
	free(pc);
}

/* Add c to ch's subscribers. false if it was one already. */
static bool sub_add(struct ps_shard *ps, struct conn *c, int kind, const void *name, size_t len)
{
	struct ps_tab *t = &ps->tabs[kind];
	uint64_t h = ks_hash(name, len);
	struct ps_chan *ch = tab_find(t, name, len, h);
	if (!ch) {
		ch = xcalloc(1, sizeof(*ch) + len + 1);
		ch->hash = h;
		ch->len = len;
		memcpy(ch->name, name, len);
		tab_add(t, ch);
	}
	if (!c->ps) {
		struct ps_conn *pc = xcalloc(1, sizeof(*pc));
		pc->c = c;
		pc->next = ps->conns;
		if (ps->conns)
			ps->conns->prev = pc;
		ps->conns = pc;
		c->ps = pc;
	}
	struct ps_set *s = &c->ps->sets[kind];
	if (set_find(s, ch))
		return false;
	if (ch->nsubs == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 1;
		struct conn **n = realloc(ch->subs, cap * sizeof(*n));
		if (!n)
			abort();
		ch->subs = n;
		ch->cap = cap;
	}
	ch->subs[ch->nsubs] = c;
	set_add(s, ch, ch->nsubs);
	ch->nsubs++;
	return true;
}

/* Drop c's subscription r (of kind) and free the channel if it was the
 * last subscriber. Does not free c->ps even if it becomes empty. */
static void sub_drop(struct ps_shard *ps, struct conn *c, int kind, struct ps_ref *r)
{
	struct ps_chan *ch = r->ch;
	size_t idx = r->idx;
	set_del(&c->ps->sets[kind], r);
	size_t last = ch->nsubs - 1;
	if (idx != last) {
		struct conn *moved = ch->subs[last];
		ch->subs[idx] = moved;
		struct ps_ref *mr = set_find(&moved->ps->sets[kind], ch);
		mr->idx = idx;
	}
	ch->nsubs = last;
	if (ch->nsubs == 0) {
		tab_del(&ps->tabs[kind], ch);
		chan_free(ch);
	} else if (ch->cap > 4 && ch->nsubs * 4 < ch->cap) {
		struct conn **n = realloc(ch->subs, ch->cap / 2 * sizeof(*n));
		if (n) {
			ch->subs = n;
			ch->cap /= 2;
		}
	}
}

static void pc_maybe_free(struct ps_shard *ps, struct conn *c)
{
	if (c->ps && pc_total(c->ps) == 0)
		pc_free(ps, c->ps);
}

void ps_conn_reset(struct shard *sh, struct conn *c)
{
	if (!c->ps || !sh->ps)
		return;
	struct ps_shard *ps = sh->ps;
	for (int k = 0; k < PS_NKINDS; k++) {
		size_t n;
		struct ps_chan **all = set_snapshot(&c->ps->sets[k], &n);
		for (size_t i = 0; i < n; i++)
			sub_drop(ps, c, k, set_find(&c->ps->sets[k], all[i]));
		free(all);
	}
	pc_free(ps, c->ps);
}

void ps_shard_free(struct shard *sh)
{
	struct ps_shard *ps = sh->ps;
	if (!ps)
		return;
	/* Every connection still subscribed is alive (closing resets it). */
	while (ps->conns)
		ps_conn_reset(sh, ps->conns->c);
	for (int k = 0; k < PS_NKINDS; k++)
		free(ps->tabs[k].slot);
	free(ps);
	sh->ps = NULL;
}

size_t ps_nchannels(const struct conn *c)
{
	return c->ps ? c->ps->sets[PS_CHAN].n : 0;
}

size_t ps_npatterns(const struct conn *c)
{
	return c->ps ? c->ps->sets[PS_PAT].n : 0;
}

size_t ps_nshardchannels(const struct conn *c)
{
	return c->ps ? c->ps->sets[PS_SCHAN].n : 0;
}

bool ps_subscribed(const struct conn *c)
{
	return c->ps != NULL;   /* NULL exactly while it holds nothing */
}

bool ps_allowed(const struct conn *c, const struct cmd_def *cmd)
{
	static const char *const ok[] = {
		"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
		"sunsubscribe", "ping", "quit", "reset",
	};
	if (!c->ps || c->proto != 2)
		return true;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(cmd->name, ok[i]) == 0)
			return true;
	return false;
}

/* --------------------------------------------- (un)subscribe commands */

/* Redis counts channels and patterns together; shard channels apart. */
static size_t sub_count(const struct conn *c, int kind)
{
	if (!c->ps)
		return 0;
	if (kind == PS_SCHAN)
		return c->ps->sets[PS_SCHAN].n;
	return c->ps->sets[PS_CHAN].n + c->ps->sets[PS_PAT].n;
}

static void reply_confirm(struct cmd_ctx *ctx, const char *what, const void *name,
			  size_t len, bool null_name, size_t count)
{
	resp_add_push(ctx->out, ctx->proto, 3);
	resp_add_bulk_cstr(ctx->out, what);
	if (null_name)
		resp_add_null(ctx->out, ctx->proto);
	else
		resp_add_bulk(ctx->out, name, len);
	resp_add_int(ctx->out, (long long)count);
}

/* CMD_CONN commands always run with the client; anything else (a caller
 * that lost it) gets an error rather than a subscription nobody owns. */
static bool need_client(struct cmd_ctx *ctx)
{
	if (ctx->c)
		return true;
	resp_add_errorf(ctx->out, "ERR '%s' is not allowed in this context", ctx->cmd->name);
	return false;
}

static void subscribe_generic(struct cmd_ctx *ctx, int kind)
{
	if (!need_client(ctx))
		return;
	struct ps_shard *ps = ps_of(ctx->sh);
	for (int i = 1; i < ctx->argc; i++) {
		sub_add(ps, ctx->c, kind, ctx->argv[i].p, ctx->argv[i].len);
		reply_confirm(ctx, kind_sub[kind], ctx->argv[i].p, ctx->argv[i].len, false,
			      sub_count(ctx->c, kind));
	}
}

static void unsubscribe_generic(struct cmd_ctx *ctx, int kind)
{
	if (!need_client(ctx))
		return;
	struct ps_shard *ps = ps_of(ctx->sh);
	struct conn *c = ctx->c;
	if (ctx->argc > 1) {
		for (int i = 1; i < ctx->argc; i++) {
			const struct resp_arg *a = &ctx->argv[i];
			struct ps_chan *ch = tab_find(&ps->tabs[kind], a->p, a->len,
						      ks_hash(a->p, a->len));
			struct ps_ref *r = ch && c->ps ? set_find(&c->ps->sets[kind], ch) : NULL;
			if (r)
				sub_drop(ps, c, kind, r);
			reply_confirm(ctx, kind_unsub[kind], a->p, a->len, false, sub_count(c, kind));
		}
	} else if (!c->ps || !c->ps->sets[kind].n) {
		reply_confirm(ctx, kind_unsub[kind], NULL, 0, true, sub_count(c, kind));
	} else {
		size_t n;
		struct ps_chan **all = set_snapshot(&c->ps->sets[kind], &n);
		for (size_t i = 0; i < n; i++) {
			/* The reply is written before the drop may free the name;
			 * its count is the one after this drop. */
			size_t after = sub_count(c, kind) - 1;
			reply_confirm(ctx, kind_unsub[kind], all[i]->name, all[i]->len, false, after);
			sub_drop(ps, c, kind, set_find(&c->ps->sets[kind], all[i]));
		}
		free(all);
	}
	pc_maybe_free(ps, c);
}

void cmd_subscribe(struct cmd_ctx *ctx) { subscribe_generic(ctx, PS_CHAN); }
void cmd_psubscribe(struct cmd_ctx *ctx) { subscribe_generic(ctx, PS_PAT); }
void cmd_ssubscribe(struct cmd_ctx *ctx) { subscribe_generic(ctx, PS_SCHAN); }
void cmd_unsubscribe(struct cmd_ctx *ctx) { unsubscribe_generic(ctx, PS_CHAN); }
void cmd_punsubscribe(struct cmd_ctx *ctx) { unsubscribe_generic(ctx, PS_PAT); }
void cmd_sunsubscribe(struct cmd_ctx *ctx) { unsubscribe_generic(ctx, PS_SCHAN); }

/* ------------------------------------------------------------ publish */

/* One message frame in both protocols, built on first use. */
struct ps_frame {
	struct rbuf b[2];          /* [0] RESP2 array, [1] RESP3 push */
};

static const struct rbuf *frame_get(struct ps_frame *f, int proto, const char *what,
				    const struct ps_chan *pat, const struct resp_arg *ch,
				    const struct resp_arg *msg)
{
	struct rbuf *b = &f->b[proto == 3];
	if (!b->len) {
		resp_add_push(b, proto, pat ? 4 : 3);
		resp_add_bulk_cstr(b, what);
		if (pat)
			resp_add_bulk(b, pat->name, pat->len);
		resp_add_bulk(b, ch->p, ch->len);
		resp_add_bulk(b, msg->p, msg->len);
	}
	return b;
}

static void frame_free(struct ps_frame *f)
{
	rbuf_free(&f->b[0]);
	rbuf_free(&f->b[1]);
}

static long long deliver(struct shard *sh, const struct ps_chan *ch, const char *what,
			 const struct ps_chan *pat, const struct resp_arg *chan,
			 const struct resp_arg *msg)
{
	struct ps_frame f = {0};
	for (size_t i = 0; i < ch->nsubs; i++) {
		struct conn *c = ch->subs[i];
		const struct rbuf *b = frame_get(&f, c->proto, what, pat, chan, msg);
		conn_push(sh, c, b->data, b->len);
	}
	frame_free(&f);
	return (long long)ch->nsubs;
}

/* Deliver to this shard's subscribers; returns how many deliveries. */
static long long publish_local(struct shard *sh, int kind, const struct resp_arg *chan,
			       const struct resp_arg *msg)
{
	struct ps_shard *ps = sh->ps;
	if (!ps)
		return 0;
	long long n = 0;
	struct ps_chan *ch = tab_find(&ps->tabs[kind], chan->p, chan->len,
				      ks_hash(chan->p, chan->len));
	if (ch)
		n += deliver(sh, ch, kind == PS_SCHAN ? "smessage" : "message", NULL, chan, msg);
	if (kind == PS_CHAN) {
		const struct ps_tab *t = &ps->tabs[PS_PAT];
		for (size_t i = 0; i < t->cap; i++) {
			const struct ps_chan *pat = t->slot[i];
			if (pat && srv_glob_match(pat->name, pat->len, chan->p, chan->len, false))
				n += deliver(sh, pat, "pmessage", pat, chan, msg);
		}
	}
	return n;
}

/* Broadcast part: ctx->c is NULL when it runs for a client of another
 * shard, and the handler never needs it. */
void cmd_publish(struct cmd_ctx *ctx)
{
	resp_add_int(ctx->out, publish_local(ctx->sh, PS_CHAN, &ctx->argv[1], &ctx->argv[2]));
}

void cmd_spublish(struct cmd_ctx *ctx)
{
	resp_add_int(ctx->out, publish_local(ctx->sh, PS_SCHAN, &ctx->argv[1], &ctx->argv[2]));
}

/* ------------------------------------------------------------- PUBSUB */

static void reply_subcmd_syntax(struct cmd_ctx *ctx)
{
	resp_add_errorf(ctx->out,
		"ERR unknown subcommand or wrong number of arguments for '%.*s'. Try PUBSUB HELP.",
		(int)strnlen(ctx->argv[1].p, ctx->argv[1].len > 128 ? 128 : ctx->argv[1].len),
		ctx->argv[1].p);
}

/* Part reply: this shard's names of kind matching argv[2] (all if absent),
 * as an array; the merge makes the union. */
static void names_part(struct cmd_ctx *ctx, int kind)
{
	if (ctx->argc > 3) {
		reply_subcmd_syntax(ctx);
		return;
	}
	const struct resp_arg *pat = ctx->argc == 3 ? &ctx->argv[2] : NULL;
	const struct ps_tab *t = ctx->sh->ps ? &ctx->sh->ps->tabs[kind] : NULL;
	long long n = 0;
	size_t cap = t ? t->cap : 0;
	for (size_t i = 0; i < cap; i++) {
		const struct ps_chan *ch = t->slot[i];
		if (ch && (!pat || srv_glob_match(pat->p, pat->len, ch->name, ch->len, false)))
			n++;
	}
	resp_add_array(ctx->out, n);
	for (size_t i = 0; i < cap; i++) {
		const struct ps_chan *ch = t->slot[i];
		if (ch && (!pat || srv_glob_match(pat->p, pat->len, ch->name, ch->len, false)))
			resp_add_bulk(ctx->out, ch->name, ch->len);
	}
}

/* Part reply: [name, local subscribers, ...] in argument order; the merge
 * sums per position. */
static void numsub_part(struct cmd_ctx *ctx, int kind)
{
	const struct ps_tab *t = ctx->sh->ps ? &ctx->sh->ps->tabs[kind] : NULL;
	resp_add_array(ctx->out, (long long)(ctx->argc - 2) * 2);
	for (int i = 2; i < ctx->argc; i++) {
		const struct resp_arg *a = &ctx->argv[i];
		const struct ps_chan *ch = t ? tab_find(t, a->p, a->len, ks_hash(a->p, a->len)) : NULL;
		resp_add_bulk(ctx->out, a->p, a->len);
		resp_add_int(ctx->out, ch ? (long long)ch->nsubs : 0);
	}
}

void cmd_pubsub_channels(struct cmd_ctx *ctx) { names_part(ctx, PS_CHAN); }
void cmd_pubsub_shardchannels(struct cmd_ctx *ctx) { names_part(ctx, PS_SCHAN); }
void cmd_pubsub_numsub(struct cmd_ctx *ctx) { numsub_part(ctx, PS_CHAN); }
void cmd_pubsub_shardnumsub(struct cmd_ctx *ctx) { numsub_part(ctx, PS_SCHAN); }

/* Part reply: this shard's patterns (the same pattern may be held on
 * several shards; NUMPAT counts it once, so the merge counts the union). */
void cmd_pubsub_numpat(struct cmd_ctx *ctx)
{
	const struct ps_tab *t = ctx->sh->ps ? &ctx->sh->ps->tabs[PS_PAT] : NULL;
	resp_add_array(ctx->out, t ? (long long)t->n : 0);
	for (size_t i = 0; t && i < t->cap; i++)
		if (t->slot[i])
			resp_add_bulk(ctx->out, t->slot[i]->name, t->slot[i]->len);
}

void cmd_pubsub_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"CHANNELS [<pattern>]",
		"    Return the currently active channels matching a <pattern> (default: '*').",
		"NUMPAT",
		"    Return number of subscriptions to patterns.",
		"NUMSUB [<channel> ...]",
		"    Return the number of subscribers for the specified channels, excluding",
		"    pattern subscriptions(default: no channels).",
		"SHARDCHANNELS [<pattern>]",
		"    Return the currently active shard level channels matching a <pattern> (default: '*').",
		"SHARDNUMSUB [<shardchannel> ...]",
		"    Return the number of subscribers for the specified shard level channel(s)",
		"HELP",
		"    Prints this help.",
	};
	size_t n = sizeof(lines) / sizeof(lines[0]);
	resp_add_array(ctx->out, (long long)n);
	for (size_t i = 0; i < n; i++)
		resp_add_simple(ctx->out, lines[i]);
}

/* -------------------------------------------------------------- merges */

/* Read the bulk string at p (one complete value of len bytes). */
static bool bulk_at(const char *p, size_t len, const char **s, size_t *slen)
{
	if (len < 4 || p[0] != '$')
		return false;
	long long n = 0;
	size_t i = 1;
	while (i < len && p[i] >= '0' && p[i] <= '9')
		n = n * 10 + (p[i++] - '0');
	if (i + 2 > len || p[i] != '\r' || (size_t)n > len - i - 2)
		return false;
	*s = p + i + 2;
	*slen = (size_t)n;
	return true;
}

/* Walk part reply r's array elements: *off starts at the header's end. */
static size_t next_elem(const struct rbuf *r, size_t *off)
{
	size_t l = resp_reply_len(r->data + *off, r->len - *off);
	size_t at = *off;
	*off += l;
	return l ? at : SIZE_MAX;
}

/* The distinct bulk strings of every part's array, in first-seen order.
 * Returns how many; with out set also writes the array. */
static long long union_of_parts(struct rbuf *parts, int n, struct rbuf *out)
{
	struct ps_tab seen = {0};
	struct rbuf body = {0};
	long long count = 0;
	for (int p = 0; p < n; p++) {
		long long cnt;
		size_t off;
		if (!resp_reply_agg(parts[p].data, parts[p].len, &cnt, &off))
			continue;
		for (long long e = 0; e < cnt; e++) {
			size_t at = next_elem(&parts[p], &off);
			const char *s;
			size_t sl;
			if (at == SIZE_MAX || !bulk_at(parts[p].data + at, off - at, &s, &sl))
				break;
			uint64_t h = ks_hash(s, sl);
			if (tab_find(&seen, s, sl, h))
				continue;
			struct ps_chan *ch = xcalloc(1, sizeof(*ch) + sl + 1);
			ch->hash = h;
			ch->len = sl;
			memcpy(ch->name, s, sl);
			tab_add(&seen, ch);
			if (out)
				resp_add_bulk(&body, s, sl);
			count++;
		}
	}
	for (size_t i = 0; i < seen.cap; i++)
		if (seen.slot[i])
			chan_free(seen.slot[i]);
	free(seen.slot);
	if (out) {
		resp_add_array(out, count);
		rbuf_append(out, body.data, body.len);
	}
	rbuf_free(&body);
	return count;
}

void ps_merge_names(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	union_of_parts(parts, n, ctx->out);
}

void ps_merge_numpat(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	resp_add_int(ctx->out, union_of_parts(parts, n, NULL));
}

/* Every part answered [name, count, ...] for the same names in the same
 * order: the names from part 0, the counts summed. */
void ps_merge_numsub(struct cmd_ctx *ctx, struct rbuf *parts, int n)
{
	size_t *off = xcalloc(n ? (size_t)n : 1, sizeof(*off));
	long long total = -1;
	for (int p = 0; p < n; p++) {
		long long cnt;
		if (!resp_reply_agg(parts[p].data, parts[p].len, &cnt, &off[p]) ||
		    (total >= 0 && cnt != total)) {
			resp_add_error(ctx->out, "ERR internal error: PUBSUB parts disagree");
			goto out;
		}
		total = cnt;
	}
	resp_add_array(ctx->out, total < 0 ? 0 : total);
	for (long long e = 0; e + 1 < total; e += 2) {
		long long sum = 0;
		for (int p = 0; p < n; p++) {
			size_t at = next_elem(&parts[p], &off[p]);
			if (p == 0 && at != SIZE_MAX)
				rbuf_append(ctx->out, parts[p].data + at, off[p] - at);
			at = next_elem(&parts[p], &off[p]);
			long long v;
			if (at != SIZE_MAX && resp_reply_int(parts[p].data + at, off[p] - at, &v) == 0)
				sum += v;
		}
		resp_add_int(ctx->out, sum);
	}
out:
	free(off);
}
