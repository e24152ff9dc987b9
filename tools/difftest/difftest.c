/* difftest: differential tester for keyrail against a reference server.
 *
 * Runs one seeded random command sequence against two servers at once
 * (A = the server under test, B = the reference, normally Debian's
 * redis-server 7.0) and stops at the first reply that differs, printing the
 * seed, the op number, the command and both replies. Every command goes to
 * both servers in the same order, so their states stay identical as long as
 * their replies do.
 *
 * Commands are table-driven: one row per command in dt_cmds[] (name,
 * arity, weight, family, flags) names a generator that builds the
 * arguments (valid forms, invalid option combos, bad numbers, wrong arity,
 * missing keys, keys of other types) and runs one or more steps through
 * dt_exec(), which sends to both, compares and fails. A new command is a
 * row and a generator; nothing else lists commands. --families/--commands/
 * --skip select rows; rows flagged DT_TXN may also be queued in MULTI.
 *
 * Replies that Redis itself does not define exactly are normalised, never
 * skipped: unordered replies (KEYS, SMEMBERS, HGETALL, SINTER...) are
 * compared as multisets; the SCAN family is iterated to cursor 0 on each
 * server and the sets compared; random picks (SPOP, SRANDMEMBER,
 * HRANDFIELD, ZRANDMEMBER, RANDOMKEY) are checked against the content read
 * just before, and a set SPOP left different is rewritten on both; TTL-like
 * replies are compared with a tolerance; OBJECT ENCODING and a few replies
 * are accepted where Redis 7.0 and 7.2 (which keyrail follows) differ, each
 * case checked for being exactly 7.2's (see docs/difftest.md).
 *
 * Short expiries (a few hundred ms) are gated: before a step runs past the
 * earliest possible short deadline, the tester sleeps until every short
 * deadline is surely over on both servers, so no key is ever read in the
 * window where one server has expired it and the other not. DBSIZE (which
 * in Redis counts expired keys not yet reclaimed) is preceded by an EXISTS
 * sweep over the whole keyspace of every used DB when an expiry could have
 * left such a key behind. Every --check-every ops the whole keyspace (types
 * and full contents) is compared.
 *
 * Exit status: 0 all replies matched, 1 a difference (or a lost connection),
 * 2 bad usage or the servers could not be reached at start. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* Short expiries: deadlines this close to "now" make a step wait. */
#define DT_GATE_MARGIN_MS 150
#define DT_SHORT_MIN_MS 300
#define DT_SHORT_MAX_MS 500
/* Long expiries must outlive any run, however slow. */
#define DT_LONG_MIN_S 1000
#define DT_LONG_MAX_S 1000000
#define DT_TTL_MS_SLACK 50
#define DT_SCAN_MAX_PAGES 100000
#define DT_REPLY_PRINT_MAX 4000
#define DT_MAX_KEYS 10000

/* The DBs the generator uses; the first is where the run starts. 15 is the
 * last valid index with Redis' default of 16 databases. */
static const int dt_dbs[] = {0, 1, 2, 15};
#define DT_NDBS ((int)(sizeof(dt_dbs) / sizeof(dt_dbs[0])))

/* ---------------------------------------------------------------- utils */

static int64_t dt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t dt_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void dt_sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *dt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fprintf(stderr, "difftest: out of memory\n");
		exit(2);
	}
	return q;
}

/* Growable string for messages; never fails (dt_xrealloc exits). */
struct dt_sbuf {
	char *p;
	size_t len, cap;
};

static void sb_putn(struct dt_sbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = (sb->len + n + 1) * 2;
		sb->p = dt_xrealloc(sb->p, sb->cap);
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_puts(struct dt_sbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

static void sb_printf(struct dt_sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct dt_sbuf *sb, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_putn(sb, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void sb_free(struct dt_sbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

/* C-style escapes for anything not printable, so binary keys and values
 * (and errors that echo them) stay readable and unambiguous. */
static void sb_escape(struct dt_sbuf *sb, const char *s, size_t n, bool quotes)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': sb_puts(sb, quotes ? "\\\"" : "\""); break;
		case '\\': sb_puts(sb, "\\\\"); break;
		case '\n': sb_puts(sb, "\\n"); break;
		case '\r': sb_puts(sb, "\\r"); break;
		case '\t': sb_puts(sb, "\\t"); break;
		default:
			if (isprint(c))
				sb_putn(sb, (const char *)&c, 1);
			else
				sb_printf(sb, "\\x%02x", c);
		}
	}
}

static void sb_quote(struct dt_sbuf *sb, const char *s, size_t n)
{
	sb_putn(sb, "\"", 1);
	sb_escape(sb, s, n, true);
	sb_putn(sb, "\"", 1);
}

/* hiredis maps both RESP2 nulls ($-1 and *-1) to REDIS_REPLY_NIL; our own
 * reply constructors remember which one it was in r->integer, so a null
 * array where Redis sends a null bulk (or the reverse) is a difference. The
 * objects are laid out and allocated like hiredis' own, so
 * freeReplyObject() frees them. */
#define DT_NIL_BULK 0
#define DT_NIL_ARRAY 1

static void *dt_reply_link(const redisReadTask *task, redisReply *r)
{
	if (task->parent) {
		redisReply *parent = task->parent->obj;

		parent->element[task->idx] = r;
	}
	return r;
}

static redisReply *dt_reply_new(int type)
{
	redisReply *r = calloc(1, sizeof(*r));

	if (r)
		r->type = type;
	return r;
}

static void *dt_create_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r = dt_reply_new(task->type);

	if (r == NULL)
		return NULL;
	r->str = malloc(len + 1);
	if (r->str == NULL) {
		free(r);
		return NULL;
	}
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return dt_reply_link(task, r);
}

static void *dt_create_array(const redisReadTask *task, int elements)
{
	redisReply *r = dt_reply_new(REDIS_REPLY_ARRAY);

	if (r == NULL)
		return NULL;
	if (elements > 0) {
		r->element = calloc((size_t)elements, sizeof(*r->element));
		if (r->element == NULL) {
			free(r);
			return NULL;
		}
	}
	r->elements = (size_t)elements;
	return dt_reply_link(task, r);
}

static void *dt_create_integer(const redisReadTask *task, long long value)
{
	redisReply *r = dt_reply_new(REDIS_REPLY_INTEGER);

	if (r == NULL)
		return NULL;
	r->integer = value;
	return dt_reply_link(task, r);
}

static void *dt_create_nil(const redisReadTask *task)
{
	redisReply *r = dt_reply_new(REDIS_REPLY_NIL);

	if (r == NULL)
		return NULL;
	r->integer = task->type == REDIS_REPLY_ARRAY ? DT_NIL_ARRAY : DT_NIL_BULK;
	return dt_reply_link(task, r);
}

static void dt_free_object(void *r)
{
	freeReplyObject(r);
}

static redisReplyObjectFunctions dt_reply_fns = {
	dt_create_string, dt_create_array, dt_create_integer, dt_create_nil, dt_free_object,
};

/* RESP-ish one-line rendering: +status, -error, :int, "bulk", (nil) for a
 * null bulk, (nil array) for a null array, *N [a, b, ...]. */
static void sb_reply(struct dt_sbuf *sb, const redisReply *r)
{
	if (sb->len > DT_REPLY_PRINT_MAX) {
		sb_puts(sb, "...");
		return;
	}
	switch (r->type) {
	case REDIS_REPLY_STATUS:
		sb_puts(sb, "+");
		sb_escape(sb, r->str, r->len, false);
		break;
	case REDIS_REPLY_ERROR:
		sb_puts(sb, "-");
		sb_escape(sb, r->str, r->len, false);
		break;
	case REDIS_REPLY_INTEGER:
		sb_printf(sb, ":%lld", r->integer);
		break;
	case REDIS_REPLY_NIL:
		sb_puts(sb, r->integer == DT_NIL_ARRAY ? "(nil array)" : "(nil)");
		break;
	case REDIS_REPLY_STRING:
		sb_quote(sb, r->str, r->len);
		break;
	case REDIS_REPLY_ARRAY:
		sb_printf(sb, "*%zu [", r->elements);
		for (size_t i = 0; i < r->elements; i++) {
			if (i)
				sb_puts(sb, ", ");
			sb_reply(sb, r->element[i]);
			if (sb->len > DT_REPLY_PRINT_MAX) {
				sb_puts(sb, ", ...");
				break;
			}
		}
		sb_puts(sb, "]");
		break;
	default:
		sb_printf(sb, "(reply type %d)", r->type);
	}
}

static bool dt_reply_eq(const redisReply *a, const redisReply *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
	case REDIS_REPLY_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case REDIS_REPLY_INTEGER:
		return a->integer == b->integer;
	case REDIS_REPLY_NIL:
		return a->integer == b->integer;
	case REDIS_REPLY_ARRAY:
		if (a->elements != b->elements)
			return false;
		for (size_t i = 0; i < a->elements; i++)
			if (!dt_reply_eq(a->element[i], b->element[i]))
				return false;
		return true;
	default:
		return false;
	}
}

/* Byte strings (keys collected from SCAN/KEYS), ordered by memcmp then
 * length. */
struct dt_str {
	char *p;
	size_t len;
};

static int dt_str_cmp(const void *x, const void *y)
{
	const struct dt_str *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);

	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

struct dt_strset {
	struct dt_str *v;
	size_t n, cap;
};

static void ss_add(struct dt_strset *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->v = dt_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n].p = dt_xrealloc(NULL, len);
	memcpy(s->v[s->n].p, p, len);
	s->v[s->n].len = len;
	s->n++;
}

static void ss_sort(struct dt_strset *s, bool dedup)
{
	size_t w = 0;

	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), dt_str_cmp);
	if (!dedup)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (w && dt_str_cmp(&s->v[w - 1], &s->v[i]) == 0) {
			free(s->v[i].p);
			continue;
		}
		s->v[w++] = s->v[i];
	}
	s->n = w;
}

static bool ss_eq(const struct dt_strset *a, const struct dt_strset *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (dt_str_cmp(&a->v[i], &b->v[i]) != 0)
			return false;
	return true;
}

static void ss_print(struct dt_sbuf *sb, const struct dt_strset *s)
{
	sb_printf(sb, "{%zu keys: ", s->n);
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			sb_puts(sb, ", ");
		sb_quote(sb, s->v[i].p, s->v[i].len);
		if (sb->len > DT_REPLY_PRINT_MAX) {
			sb_puts(sb, ", ...");
			break;
		}
	}
	sb_puts(sb, "}");
}

static void ss_free(struct dt_strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].p);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ rng */

/* splitmix64: tiny, seedable with any value, good enough for test input. */
struct dt_rng {
	uint64_t s;
};

static uint64_t rng_next(struct dt_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static uint64_t rng_below(struct dt_rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(struct dt_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

static bool rng_pct(struct dt_rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

/* ------------------------------------------------------------ arguments */

struct dt_args {
	int argc, cap;
	char **argv;
	size_t *len;
};

static void args_reset(struct dt_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

static void args_add(struct dt_args *a, const char *s, size_t n)
{
	if (a->argc == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->argv = dt_xrealloc(a->argv, (size_t)a->cap * sizeof(*a->argv));
		a->len = dt_xrealloc(a->len, (size_t)a->cap * sizeof(*a->len));
	}
	a->argv[a->argc] = dt_xrealloc(NULL, n + 1);
	memcpy(a->argv[a->argc], s, n);
	a->argv[a->argc][n] = '\0';
	a->len[a->argc] = n;
	a->argc++;
}

static void args_str(struct dt_args *a, const char *s)
{
	args_add(a, s, strlen(s));
}

static void args_fmt(struct dt_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void args_fmt(struct dt_args *a, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	args_add(a, tmp, n < 0 ? 0 : (size_t)n);
}

static void args_ll(struct dt_args *a, long long v)
{
	args_fmt(a, "%lld", v);
}

static void args_free(struct dt_args *a)
{
	args_reset(a);
	free(a->argv);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

static void sb_args(struct dt_sbuf *sb, const struct dt_args *a)
{
	for (int i = 0; i < a->argc; i++) {
		if (i)
			sb_puts(sb, " ");
		/* Command names and option words print bare when plain. */
		bool plain = a->len[i] > 0;
		for (size_t j = 0; j < a->len[i]; j++)
			if (!isalnum((unsigned char)a->argv[i][j]) && a->argv[i][j] != '-' &&
			    a->argv[i][j] != '.')
				plain = false;
		if (plain && i == 0)
			sb_putn(sb, a->argv[i], a->len[i]);
		else
			sb_quote(sb, a->argv[i], a->len[i]);
	}
}

/* --------------------------------------------------------------- tester */

struct dt_srv {
	char label;            /* 'A' or 'B' */
	char addr[300];        /* as given on the command line */
	char host[256];
	int port;
	redisContext *c;
};

enum dt_cmp {
	DT_CMP_EXACT,
	DT_CMP_SORTED,     /* arrays compared as multisets of elements (KEYS, SINTER) */
	DT_CMP_PAIRS,      /* arrays compared as multisets of consecutive pairs */
	DT_CMP_SORTED_KEY, /* DT_CMP_SORTED, but a reply in another order is a
			    * difference when B holds args[1] in a listpack or an
			    * intset, whose order is defined (SMEMBERS, HKEYS) */
	DT_CMP_PAIRS_KEY,  /* the same for pairs (HGETALL) */
	DT_CMP_GROUPS,     /* arrays compared as multisets of groups of
			    * t->group_stride elements (SORT ... GET) */
	DT_CMP_TTL_S,      /* negative codes exact, otherwise +-1 */
	DT_CMP_TTL_MS,     /* negative codes exact, otherwise +-slack */
	DT_CMP_RANDOMKEY,  /* nil on both, or a bulk on both */
	DT_CMP_EXACT_OR_ENC, /* OBJECT ENCODING args[2]: exact, or a known 7.0 vs
			      * 7.2 difference (dt_check_encoding) */
};

/* Key homes: each key index belongs to one value type's home (see
 * build_keys); the generators of a type pick mostly home keys so that most
 * of their commands meet a value of the right type, and sometimes any key
 * so that every command also meets every other type. */
enum {
	DT_HOME_STR,
	DT_HOME_LIST,
	DT_HOME_HASH,
	DT_HOME_SET,
	DT_HOME_ZSET,
	DT_HOME_HLL,
	DT_NHOMES,
};

#define DT_MAX_PENDING 256

struct dt_cmd;

struct dt {
	struct dt_rng rng;
	uint64_t seed;
	long ops;            /* ops to run */
	long op_no;          /* 1-based number of the op running */
	long passed;
	const char *opname;
	bool verbose;
	bool no_flush;       /* keep the servers' data; compare it first */
	const char *commands_arg;

	int nkeys;
	struct dt_str *keys;
	int *home_keys[DT_NHOMES]; /* key indexes of each home */
	int home_n[DT_NHOMES];
	long check_every;          /* full keyspace comparison every N ops (0: end only) */
	bool stats;
	bool typed;                /* some value-type family is enabled */
	FILE *trace;               /* --trace */
	const char *families_arg;
	const char *skip_arg;      /* --skip: rows disabled after the others */
	int shards;                /* --shards: A's shard count (1 for Redis) */
	/* Keys a SORT ran on while they held a zset: Redis 7.0 converts such a
	 * zset to a skiplist, keyrail (t_sort.c, on purpose) does not. */
	bool *sorted_zset;

	/* The row running, for statistics. */
	const struct dt_cmd *cur_cmd;

	/* Inside MULTI: commands are queued, not run, so the expiries they set
	 * start at EXEC; relative short ones are kept here until then. */
	bool in_multi;
	int npending;
	int64_t pending_short_ms[DT_MAX_PENDING];

	size_t group_stride;       /* for DT_CMP_GROUPS */

	/* Pub/Sub: the subscriber connections and what they hold. */
	struct dt_srv sub[2];
	bool sub_ch[16], sub_pat[16], sub_sch[16];   /* >= DT_NCHANNELS, DT_NCHPATTERNS */

	struct dt_srv srv[2];
	int curdb;

	/* The step being run: its arguments, replies and timing. */
	struct dt_args args;
	redisReply *r[2];
	int64_t step_t0_ms, step_t1_ms; /* wall clock around the step */
	int64_t step_ms;                /* its duration */
	int64_t max_step_ms;            /* longest step so far: bounds A/B skew */

	/* Short expiries not yet surely over: [short_lo_ms, short_hi_ms] bounds
	 * every such deadline on both servers. */
	bool short_active;
	int64_t short_lo_ms, short_hi_ms;
	/* Some key may be expired but not reclaimed (DBSIZE needs a sweep). */
	bool expiry_dirty;
};

static struct dt dt_state;

static void dt_summary(const struct dt *t, int failed)
{
	printf("difftest: %ld passed, %d failed\n", t->passed, failed);
	fflush(stdout);
}

/* Report a difference and exit 1. ra/rb are the rendered replies. */
static void dt_fail_text(struct dt *t, const char *why, const char *ra, const char *rb)
{
	struct dt_sbuf cmd = {0};

	sb_args(&cmd, &t->args);
	printf("difftest: FAIL seed %" PRIu64 " op %ld (%s)\n", t->seed, t->op_no,
	       t->opname ? t->opname : "?");
	printf("  command: %s\n", cmd.p ? cmd.p : "");
	printf("  A %s: %s\n", t->srv[0].addr, ra);
	printf("  B %s: %s\n", t->srv[1].addr, rb);
	printf("  why: %s\n", why);
	printf("  reproduce: difftest --a %s --b %s --seed %" PRIu64 " --ops %ld --keys %d",
	       t->srv[0].addr, t->srv[1].addr, t->seed,
	       t->op_no < 1 ? 1 : (t->op_no > t->ops ? t->ops : t->op_no), t->nkeys);
	if (t->families_arg)
		printf(" --families %s", t->families_arg);
	if (t->commands_arg)
		printf(" --commands %s", t->commands_arg);
	if (t->skip_arg)
		printf(" --skip %s", t->skip_arg);
	printf(" --check-every %ld --shards %d%s\n", t->check_every, t->shards,
	       t->no_flush ? " --no-flush" : "");
	sb_free(&cmd);
	dt_summary(t, 1);
	exit(1);
}

static void dt_fail(struct dt *t, const char *why)
{
	struct dt_sbuf a = {0}, b = {0};

	if (t->r[0])
		sb_reply(&a, t->r[0]);
	else
		sb_puts(&a, "(no reply)");
	if (t->r[1])
		sb_reply(&b, t->r[1]);
	else
		sb_puts(&b, "(no reply)");
	dt_fail_text(t, why, a.p, b.p);
}

static void dt_fail_conn(struct dt *t, int i)
{
	char msg[400];
	struct dt_sbuf a = {0}, b = {0};

	snprintf(msg, sizeof(msg), "connection to %c failed: %s", t->srv[i].label,
		 t->srv[i].c->errstr[0] ? t->srv[i].c->errstr : "unknown error");
	for (int j = 0; j < 2; j++) {
		struct dt_sbuf *sb = j ? &b : &a;

		if (j == i)
			sb_puts(sb, "(connection lost)");
		else if (t->r[j])
			sb_reply(sb, t->r[j]);
		else
			sb_puts(sb, "(not read)");
	}
	dt_fail_text(t, msg, a.p, b.p);
}

/* Sleep, if needed, so that no step runs while a short expiry may be due on
 * one server and not yet on the other: once "now" is within the margin of
 * the earliest possible short deadline, wait until past the latest. */
static void dt_gate(struct dt *t)
{
	int64_t now;

	if (!t->short_active)
		return;
	now = dt_now_ms();
	if (now < t->short_lo_ms - DT_GATE_MARGIN_MS)
		return;
	if (now < t->short_hi_ms + DT_GATE_MARGIN_MS) {
		if (t->verbose)
			printf("  (sleeping %lld ms for short expiries)\n",
			       (long long)(t->short_hi_ms + DT_GATE_MARGIN_MS - now));
		dt_sleep_ms(t->short_hi_ms + DT_GATE_MARGIN_MS - now);
	}
	t->short_active = false;
}

/* Wait until every short expiry set so far is surely over on both. */
static void dt_gate_all(struct dt *t)
{
	if (t->short_active)
		t->short_lo_ms = INT64_MIN / 2;
	dt_gate(t);
}

/* Record that the step just run may have set an expiry at an absolute
 * deadline in [lo_ms, hi_ms] (wall clock). */
static void dt_note_deadline(struct dt *t, int64_t lo_ms, int64_t hi_ms)
{
	t->expiry_dirty = true;
	if (hi_ms + DT_GATE_MARGIN_MS <= dt_now_ms())
		return; /* already surely over on both */
	if (!t->short_active) {
		t->short_active = true;
		t->short_lo_ms = lo_ms;
		t->short_hi_ms = hi_ms;
		return;
	}
	if (lo_ms < t->short_lo_ms)
		t->short_lo_ms = lo_ms;
	if (hi_ms > t->short_hi_ms)
		t->short_hi_ms = hi_ms;
}

/* The step just run may have set a short relative expiry of ttl_ms. Each
 * server computed its deadline from its own clock somewhere inside the step
 * (Redis rounds to the ms). */
static void dt_note_short(struct dt *t, int64_t ttl_ms)
{
	if (t->in_multi) {
		if (t->npending < DT_MAX_PENDING) {
			t->pending_short_ms[t->npending++] = ttl_ms;
			return;
		}
		/* Too many to keep: treat it as starting a whole step later than
		 * any EXEC could (the gate only sleeps longer). */
		ttl_ms += 10000;
	}
	dt_note_deadline(t, t->step_t0_ms + ttl_ms - 2, t->step_t1_ms + ttl_ms + 2);
}

static void dt_verbose_step(struct dt *t)
{
	struct dt_sbuf sb = {0};

	sb_printf(&sb, "[%ld] ", t->op_no);
	sb_args(&sb, &t->args);
	sb_puts(&sb, " -> ");
	sb_reply(&sb, t->r[0]);
	if (!dt_reply_eq(t->r[0], t->r[1])) {
		sb_puts(&sb, " | B: ");
		sb_reply(&sb, t->r[1]);
	}
	printf("%s\n", sb.p);
	sb_free(&sb);
}

static void dt_stat_step(struct dt *t);

/* --trace: every step sent to both servers, as RESP commands (SCAN pages
 * fetched for one server are not steps and not traced), so that
 * tools/difftest/minimize.py can replay and shrink a failing sequence. */
static void dt_trace_step(struct dt *t)
{
	fprintf(t->trace, "*%d\r\n", t->args.argc);
	for (int i = 0; i < t->args.argc; i++) {
		fprintf(t->trace, "$%zu\r\n", t->args.len[i]);
		fwrite(t->args.argv[i], 1, t->args.len[i], t->trace);
		fputs("\r\n", t->trace);
	}
	fflush(t->trace);
}

/* Send t->args to both servers before reading either reply, so both run the
 * command at nearly the same moment; keep the replies in t->r. */
static void dt_send_both(struct dt *t)
{
	int64_t m0;

	for (int i = 0; i < 2; i++) {
		freeReplyObject(t->r[i]);
		t->r[i] = NULL;
	}
	if (t->trace)
		dt_trace_step(t);
	t->step_t0_ms = dt_now_ms();
	m0 = dt_mono_us();
	for (int i = 0; i < 2; i++)
		if (redisAppendCommandArgv(t->srv[i].c, t->args.argc, (const char **)t->args.argv,
					   t->args.len) != REDIS_OK)
			dt_fail_conn(t, i);
	for (int i = 0; i < 2; i++) {
		int done = 0;

		do {
			if (redisBufferWrite(t->srv[i].c, &done) == REDIS_ERR)
				dt_fail_conn(t, i);
		} while (!done);
	}
	for (int i = 0; i < 2; i++) {
		void *rep = NULL;

		if (redisGetReply(t->srv[i].c, &rep) != REDIS_OK || rep == NULL)
			dt_fail_conn(t, i);
		t->r[i] = rep;
	}
	t->step_ms = (dt_mono_us() - m0 + 999) / 1000;
	t->step_t1_ms = dt_now_ms();
	if (t->step_ms > t->max_step_ms)
		t->max_step_ms = t->step_ms;
	dt_stat_step(t);
	if (t->verbose)
		dt_verbose_step(t);
}

static bool dt_strings_array(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

/* Unambiguous, untruncated rendering of a reply, for multiset keys. */
static void sb_raw(struct dt_sbuf *sb, const redisReply *r)
{
	sb_printf(sb, "%d", r->type);
	switch (r->type) {
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
	case REDIS_REPLY_STRING:
		sb_printf(sb, "%zu:", r->len);
		sb_putn(sb, r->str, r->len);
		break;
	case REDIS_REPLY_INTEGER:
	case REDIS_REPLY_NIL:
		sb_printf(sb, "%lld", r->integer);
		break;
	case REDIS_REPLY_ARRAY:
		sb_printf(sb, "%zu[", r->elements);
		for (size_t i = 0; i < r->elements; i++)
			sb_raw(sb, r->element[i]);
		sb_puts(sb, "]");
		break;
	}
}

/* The elements of array r as a sorted multiset of groups of `stride`
 * consecutive elements. */
static void ss_from_groups(struct dt_strset *set, const redisReply *r, size_t stride)
{
	for (size_t i = 0; i + stride <= r->elements; i += stride) {
		struct dt_sbuf sb = {0};

		for (size_t j = 0; j < stride; j++)
			sb_raw(&sb, r->element[i + j]);
		ss_add(set, sb.p, sb.len);
		sb_free(&sb);
	}
	ss_sort(set, false);
}

/* Two arrays holding the same groups of `stride` elements in any order;
 * anything else must be equal exactly. */
static bool dt_unordered_eq(const redisReply *a, const redisReply *b, size_t stride)
{
	struct dt_strset sa = {0}, sb = {0};
	bool eq;

	if (a->type != REDIS_REPLY_ARRAY || b->type != REDIS_REPLY_ARRAY ||
	    a->elements != b->elements || a->elements % stride != 0)
		return dt_reply_eq(a, b);
	ss_from_groups(&sa, a, stride);
	ss_from_groups(&sb, b, stride);
	eq = ss_eq(&sa, &sb);
	ss_free(&sa);
	ss_free(&sb);
	return eq;
}

static void dt_send_both(struct dt *t);

/* A read of key args[1] gave the same elements in another order: fine for
 * hashtables, a difference when B holds a listpack or an intset, whose
 * order Redis defines (insertion order, ascending integers) and keyrail,
 * storing the same bytes, must follow. Asks OBJECT ENCODING on both. */
static void dt_check_order_small(struct dt *t)
{
	struct dt_sbuf why = {0}, ra = {0}, rb = {0};
	struct dt_str key;
	const redisReply *e;

	sb_puts(&why, "same elements in another order, and B holds the value in a ");
	sb_reply(&ra, t->r[0]);
	sb_reply(&rb, t->r[1]);
	sb_puts(&ra, "   [command: ");
	sb_args(&ra, &t->args);
	sb_puts(&ra, "]");
	key.len = t->args.argc > 1 ? t->args.len[1] : 0;
	key.p = dt_xrealloc(NULL, key.len);
	if (key.len)
		memcpy(key.p, t->args.argv[1], key.len);
	args_reset(&t->args);
	args_str(&t->args, "OBJECT");
	args_str(&t->args, "ENCODING");
	args_add(&t->args, key.p, key.len);
	free(key.p);
	dt_send_both(t);
	e = t->r[1];
	if (e->type == REDIS_REPLY_STRING &&
	    ((e->len == 8 && memcmp(e->str, "listpack", 8) == 0) ||
	     (e->len == 6 && memcmp(e->str, "intset", 6) == 0))) {
		sb_putn(&why, e->str, e->len);
		sb_puts(&why, " (ordered encoding)");
		dt_fail_text(t, why.p, ra.p, rb.p);
	}
	sb_free(&why);
	sb_free(&ra);
	sb_free(&rb);
}

static bool reply_is(const redisReply *r, const char *s)
{
	size_t n = strlen(s);

	return (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) && r->len == n &&
	       memcmp(r->str, s, n) == 0;
}

static void dt_check(struct dt *t, enum dt_cmp cmp);

/* Index of the pool key (p, n), or -1. */
static int key_index(const struct dt *t, const char *p, size_t n)
{
	for (int k = 0; k < t->nkeys; k++)
		if (t->keys[k].len == n && memcmp(t->keys[k].p, p, n) == 0)
			return k;
	return -1;
}

static bool arg_is(const struct dt_args *a, int i, const char *s)
{
	return i < a->argc && a->len[i] == strlen(s) && strncasecmp(a->argv[i], s, a->len[i]) == 0;
}

/* Redis's string2ll: an optional '-', digits without leading zeros (a lone
 * "0" aside), no blanks, in range. */
static bool arg_ll(const struct dt_args *a, int i, long long *out)
{
	const char *p = a->argv[i];
	size_t n = a->len[i];
	char *end;

	if (n == 0 || n > 20 || (p[0] == '0' && n > 1) || (p[0] == '-' && (n == 1 || p[1] == '0')))
		return false;
	for (size_t j = p[0] == '-'; j < n; j++)
		if (!isdigit((unsigned char)p[j]))
			return false;
	errno = 0;
	*out = strtoll(p, &end, 10);
	return errno == 0 && end == p + n;
}

/* BITCOUNT key [start end [BIT|BYTE]] / BITPOS key bit [start [end
 * [BIT|BYTE]]]: the error Redis 7.2 gives for these arguments whatever the
 * key holds, or NULL when they are valid. */
static const char *bit_args_error(const struct dt_args *a, bool pos)
{
	int first = pos ? 3 : 2;
	long long v;

	if (pos) {
		if (!arg_ll(a, 2, &v))
			return "ERR value is not an integer or out of range";
		if (v != 0 && v != 1)
			return "ERR The bit argument must be 1 or 0.";
	} else if (a->argc == 3) {
		return "ERR syntax error";
	}
	if (a->argc > first + 3)
		return "ERR syntax error";
	for (int i = first; i < a->argc && i < first + 2; i++)
		if (!arg_ll(a, i, &v))
			return "ERR value is not an integer or out of range";
	if (a->argc == first + 3 && !arg_is(a, first + 2, "BIT") && !arg_is(a, first + 2, "BYTE"))
		return "ERR syntax error";
	return NULL;
}

/* Exact replies that differ only as Redis 7.0 (B) and 7.2 (which keyrail
 * follows there) do; each case checks that A's reply is the 7.2 one:
 * - BITCOUNT/BITPOS: 7.0 looks the key up before validating start, end and
 *   the BIT|BYTE word (a missing key, or a negative start > end, answers 0
 *   or -1 even for invalid arguments); 7.2 validates first (#11734).
 * - LPOS ... RANK -9223372036854775808: 7.0 takes it (and negates it,
 *   overflowing); 7.2 answers "value is out of range".
 * And one consequence of keyrail's SORT not converting a listpack zset to a
 * skiplist (shards/t_sort.c, on purpose): a score of -0 later stored in it
 * reads back "-0" from Redis's skiplist and "0" from keyrail's listpack
 * (Redis's listpacks lose the sign too). Accepted when the replies differ
 * only in such scores and the command names a key a SORT ran on.
 * Returns true when the difference is such a case. */
static bool only_negzero_diff(const redisReply *a, const redisReply *b)
{
	if (a->type == REDIS_REPLY_STRING && b->type == REDIS_REPLY_STRING && a->len == 1 &&
	    b->len == 2 && a->str[0] == '0' && memcmp(b->str, "-0", 2) == 0)
		return true;
	if (a->type != REDIS_REPLY_ARRAY || b->type != REDIS_REPLY_ARRAY || a->elements != b->elements)
		return dt_reply_eq(a, b);
	for (size_t i = 0; i < a->elements; i++)
		if (!only_negzero_diff(a->element[i], b->element[i]))
			return false;
	return true;
}

static bool dt_known_diff(struct dt *t)
{
	const struct dt_args *a = &t->args;
	const redisReply *ra = t->r[0], *rb = t->r[1];
	bool pos = arg_is(a, 0, "BITPOS");

	if (only_negzero_diff(ra, rb))
		for (int i = 1; i < a->argc; i++) {
			int k = key_index(t, a->argv[i], a->len[i]);

			if (k >= 0 && t->sorted_zset[k])
				return true;
		}

	if ((pos || arg_is(a, 0, "BITCOUNT")) && ra->type == REDIS_REPLY_ERROR &&
	    rb->type == REDIS_REPLY_INTEGER) {
		const char *want = bit_args_error(a, pos);

		return want && ra->len == strlen(want) && memcmp(ra->str, want, ra->len) == 0;
	}
	if (arg_is(a, 0, "LPOS") && ra->type == REDIS_REPLY_ERROR) {
		static const char range[] = "ERR value is out of range, value must between "
					    "-9223372036854775807 and 9223372036854775807";

		if (ra->len != sizeof(range) - 1 || memcmp(ra->str, range, ra->len) != 0)
			return false;
		/* RANK -9223372036854775808 must be the first invalid option. */
		for (int i = 3; i + 1 < a->argc; i += 2) {
			long long v;

			if (arg_is(a, i, "RANK") && arg_is(a, i + 1, "-9223372036854775808"))
				return true;
			if (!arg_ll(a, i + 1, &v))
				return false;
			if (arg_is(a, i, "RANK") ? v == 0
			    : (arg_is(a, i, "COUNT") || arg_is(a, i, "MAXLEN")) ? v < 0
			    : true)
				return false;
		}
	}
	return false;
}


/* Redis 7.2's set-max-listpack-entries/value defaults (zset-max-listpack-*
 * too): the largest set or zset keyrail may keep in a listpack. */
#define DT_SET_LP_ENTRIES 128
#define DT_SET_LP_VALUE 64

/* OBJECT ENCODING replies that differ only as Redis 7.0 (B) and 7.2 (whose
 * encodings keyrail follows) differ:
 * - lists: 7.0 always says "quicklist"; 7.2 says "listpack" for small ones;
 * - sets: 7.0 has no listpack sets and says "hashtable" where 7.2 may say
 *   "listpack": accepted when the set is one 7.2 could hold in a listpack
 *   (at most 128 members of at most 64 bytes; a set that was bigger once
 *   and shrank stays a hashtable in 7.2, which this cannot see).
 * And one keyrail difference on purpose (shards/t_sort.c): SORT does not
 * convert a listpack zset to a skiplist as Redis does; A "listpack" vs B
 * "skiplist" is accepted for a zset that a SORT ran on (t->sorted_zset)
 * and that fits a listpack.
 * Anything else fails. Runs TYPE (and SMEMBERS/ZRANGE) on both to tell. */
static void dt_check_encoding(struct dt *t)
{
	struct dt_sbuf ra = {0}, rb = {0};
	struct dt_str key = {NULL, 0};
	const char *why = NULL;
	bool list_pair = reply_is(t->r[0], "listpack") && reply_is(t->r[1], "quicklist");
	bool set_pair = reply_is(t->r[0], "listpack") && reply_is(t->r[1], "hashtable");
	bool zset_pair = reply_is(t->r[0], "listpack") && reply_is(t->r[1], "skiplist");
	int k = t->args.argc >= 3 ? key_index(t, t->args.argv[2], t->args.len[2]) : -1;

	if (zset_pair && (k < 0 || !t->sorted_zset[k]))
		zset_pair = false;
	if ((!list_pair && !set_pair && !zset_pair) || t->args.argc < 3)
		dt_fail(t, "replies differ");
	sb_reply(&ra, t->r[0]);
	sb_reply(&rb, t->r[1]);
	sb_puts(&ra, "   [command: ");
	sb_args(&ra, &t->args);
	sb_puts(&ra, "]");
	key.len = t->args.len[2];
	key.p = dt_xrealloc(NULL, key.len + 1);
	memcpy(key.p, t->args.argv[2], key.len);
	args_reset(&t->args);
	args_str(&t->args, "TYPE");
	args_add(&t->args, key.p, key.len);
	dt_send_both(t);
	dt_check(t, DT_CMP_EXACT);
	if (list_pair) {
		if (!reply_is(t->r[0], "list"))
			why = "A says listpack where B says quicklist, for a value that is no list";
	} else if (zset_pair) {
		const redisReply *m;

		if (!reply_is(t->r[0], "zset")) {
			why = "A says listpack where B says skiplist, for a value that is no zset";
		} else {
			args_reset(&t->args);
			args_str(&t->args, "ZRANGE");
			args_add(&t->args, key.p, key.len);
			args_str(&t->args, "0");
			args_str(&t->args, "-1");
			dt_send_both(t);
			dt_check(t, DT_CMP_EXACT);
			m = t->r[0];
			if (m->type != REDIS_REPLY_ARRAY || m->elements > DT_SET_LP_ENTRIES)
				why = "A says listpack for a zset of more than 128 members";
			for (size_t i = 0; why == NULL && i < m->elements; i++)
				if (m->element[i]->len > DT_SET_LP_VALUE)
					why = "A says listpack for a zset with a member over 64 bytes";
		}
	} else if (!reply_is(t->r[0], "set")) {
		why = "A says listpack where B says hashtable, for a value that is no set";
	} else {
		const redisReply *m;

		args_reset(&t->args);
		args_str(&t->args, "SMEMBERS");
		args_add(&t->args, key.p, key.len);
		dt_send_both(t);
		dt_check(t, DT_CMP_SORTED);
		m = t->r[0];
		if (m->type != REDIS_REPLY_ARRAY || m->elements > DT_SET_LP_ENTRIES)
			why = "A says listpack for a set of more than 128 members";
		for (size_t i = 0; why == NULL && i < m->elements; i++)
			if (m->element[i]->len > DT_SET_LP_VALUE)
				why = "A says listpack for a set with a member over 64 bytes";
	}
	free(key.p);
	if (why)
		dt_fail_text(t, why, ra.p, rb.p);
	sb_free(&ra);
	sb_free(&rb);
}

static void dt_check(struct dt *t, enum dt_cmp cmp)
{
	const redisReply *a = t->r[0], *b = t->r[1];

	switch (cmp) {
	case DT_CMP_EXACT:
		if (!dt_reply_eq(a, b) && !dt_known_diff(t))
			dt_fail(t, "replies differ");
		return;
	case DT_CMP_SORTED:
	case DT_CMP_SORTED_KEY:
	case DT_CMP_PAIRS:
	case DT_CMP_PAIRS_KEY:
	case DT_CMP_GROUPS: {
		size_t stride = cmp == DT_CMP_PAIRS || cmp == DT_CMP_PAIRS_KEY ? 2 : 1;

		if (cmp == DT_CMP_GROUPS)
			stride = t->group_stride ? t->group_stride : 1;

		if (dt_reply_eq(a, b))
			return;
		if (!dt_unordered_eq(a, b, stride))
			dt_fail(t, stride == 1 ? "replies differ (compared as multisets)"
					       : "replies differ (compared as multisets of groups)");
		if (cmp == DT_CMP_SORTED_KEY || cmp == DT_CMP_PAIRS_KEY)
			dt_check_order_small(t);
		return;
	}
	case DT_CMP_TTL_S:
	case DT_CMP_TTL_MS: {
		long long tol, d;
		char why[160];

		if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER ||
		    a->integer < 0 || b->integer < 0) {
			if (!dt_reply_eq(a, b))
				dt_fail(t, "replies differ");
			return;
		}
		tol = cmp == DT_CMP_TTL_S ? 1 : DT_TTL_MS_SLACK + t->step_ms + t->max_step_ms;
		d = a->integer - b->integer;
		if (d < 0)
			d = -d;
		if (d > tol) {
			snprintf(why, sizeof(why), "times differ by %lld, more than the tolerance %lld",
				 d, tol);
			dt_fail(t, why);
		}
		return;
	}
	case DT_CMP_EXACT_OR_ENC:
		if (!dt_reply_eq(a, b))
			dt_check_encoding(t);
		return;
	case DT_CMP_RANDOMKEY:
		if ((a->type == REDIS_REPLY_NIL && b->type == REDIS_REPLY_NIL) ||
		    (a->type == REDIS_REPLY_STRING && b->type == REDIS_REPLY_STRING))
			return;
		dt_fail(t, "one server has a random key, the other not (or not a bulk/nil)");
		return;
	}
}

/* Run one step: t->args to both, compare. On a difference: report, exit 1. */
static void dt_exec(struct dt *t, enum dt_cmp cmp)
{
	/* Inside MULTI nothing runs before EXEC, which passes the gate. */
	if (!t->in_multi)
		dt_gate(t);
	dt_send_both(t);
	dt_check(t, cmp);
}

/* The same without the gate: for a step that follows another of the same op
 * at once and must see the same keys alive (a sleep in between would let
 * short expiries pass). The op's first step passed the gate, and its steps
 * take far less than DT_GATE_MARGIN_MS. */
static void dt_exec_next(struct dt *t, enum dt_cmp cmp)
{
	dt_send_both(t);
	dt_check(t, cmp);
}

/* ---------------------------------------------------- argument builders */

/* Command names and option words: mostly upper case, sometimes lower or
 * mixed, since both are case-insensitive. */
static void add_word(struct dt *t, const char *w)
{
	char buf[64];
	size_t n = strlen(w);
	uint64_t mode = rng_below(&t->rng, 20);

	if (n >= sizeof(buf) || mode >= 2) {
		args_str(&t->args, w);
		return;
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(mode == 0 || rng_pct(&t->rng, 50) ? tolower((unsigned char)w[i])
								   : toupper((unsigned char)w[i]));
	args_add(&t->args, buf, n);
}

static void start_cmd(struct dt *t, const char *name)
{
	args_reset(&t->args);
	add_word(t, name);
}

/* For steps whose presence or count depends on replies (checks, sweeps):
 * they must not draw from the RNG, or the rest of the sequence for a seed
 * would depend on timing. */
static void start_plain(struct dt *t, const char *name)
{
	args_reset(&t->args);
	args_str(&t->args, name);
}

static int pick_key(struct dt *t)
{
	return (int)rng_below(&t->rng, (uint64_t)t->nkeys);
}

/* Keys come in three groups by index mod 3: untagged, "{t}..", "{u}..".
 * Half the time a related key is from the same group as `first` (for the
 * tagged groups: same hash slot, so one shard); otherwise any key. */
static int pick_related(struct dt *t, int first)
{
	int grp = first % 3;
	int count = (t->nkeys - grp + 2) / 3;

	if (count > 0 && rng_pct(&t->rng, 50))
		return grp + 3 * (int)rng_below(&t->rng, (uint64_t)count);
	return pick_key(t);
}

static void add_key(struct dt *t, int idx)
{
	args_add(&t->args, t->keys[idx].p, t->keys[idx].len);
}

static int add_random_key(struct dt *t)
{
	int k = pick_key(t);

	add_key(t, k);
	return k;
}

/* n keys, related to the first. */
static void add_keys(struct dt *t, int n)
{
	int first = pick_key(t);

	add_key(t, first);
	for (int i = 1; i < n; i++)
		add_key(t, pick_related(t, first));
}

static void rand_bytes(struct dt *t, char *buf, size_t n, const char *alphabet)
{
	size_t an = alphabet ? strlen(alphabet) : 0;

	for (size_t i = 0; i < n; i++)
		buf[i] = alphabet ? alphabet[rng_below(&t->rng, an)]
				  : (char)rng_below(&t->rng, 256);
}

/* Dyadic numbers print the same whatever float width a server uses. */
static const char *const dt_dyadic[] = {
	"1.5", "-0.25", "0.125", "3.0", "2.75", ".5", "5.", "-7.5", "100.125",
	"1e3", "-1.5e2", "2.5E1", "0", "-0", "10", "-3",
};
#define DT_NDYADIC (sizeof(dt_dyadic) / sizeof(dt_dyadic[0]))

static const char *const dt_edge_values[] = {
	"9223372036854775807", "-9223372036854775808", "9223372036854775808",
	"-9223372036854775809", "12345678901234567890", "-0", "007", "-01", "+5",
	" 5", "5 ", "0x10", "1e400", "inf", "-inf", "nan", "00", "0000000000000000000001",
};
#define DT_NEDGE (sizeof(dt_edge_values) / sizeof(dt_edge_values[0]))

/* A random value: small/negative/large ints, leading zeros, floats, empty,
 * words, binary bytes, long strings (raw encoding), the 44/45-byte
 * embstr/raw boundary. */
static void add_value(struct dt *t)
{
	char buf[160];
	uint64_t c = rng_below(&t->rng, 100);
	size_t n;

	if (c < 22) {
		args_ll(&t->args, rng_range(&t->rng, -100, 1000));
	} else if (c < 27) {
		args_ll(&t->args, rng_range(&t->rng, -1000000000LL, 1000000000LL));
	} else if (c < 31) {
		args_str(&t->args, dt_edge_values[rng_below(&t->rng, DT_NEDGE)]);
	} else if (c < 38) {
		args_str(&t->args, dt_dyadic[rng_below(&t->rng, DT_NDYADIC)]);
	} else if (c < 42) {
		args_add(&t->args, "", 0);
	} else if (c < 62) {
		n = (size_t)rng_range(&t->rng, 1, 12);
		rand_bytes(t, buf, n, "abcxyz");
		args_add(&t->args, buf, n);
	} else if (c < 70) {
		n = (size_t)rng_range(&t->rng, 1, 16);
		rand_bytes(t, buf, n, NULL);
		args_add(&t->args, buf, n);
	} else if (c < 80) {
		n = (size_t)rng_range(&t->rng, 45, 120);
		rand_bytes(t, buf, n, "abcdefghijklmnopqrstuvwxyz0123456789 ");
		args_add(&t->args, buf, n);
	} else if (c < 86) {
		static const size_t bounds[] = {20, 21, 43, 44, 45, 46};

		n = bounds[rng_below(&t->rng, 6)];
		rand_bytes(t, buf, n, rng_pct(&t->rng, 50) ? "0123456789" : "abcdef");
		if (buf[0] == '0')
			buf[0] = '1';
		args_add(&t->args, buf, n);
	} else {
		/* Small alphabet: common subsequences for LCS, hits for GETRANGE. */
		n = (size_t)rng_range(&t->rng, 0, 20);
		rand_bytes(t, buf, n, "abcd");
		args_add(&t->args, buf, n);
	}
}

/* A short value, mostly non-numeric (APPEND, SETRANGE). */
static void add_short_value(struct dt *t)
{
	char buf[16];
	size_t n;

	if (rng_pct(&t->rng, 25)) {
		add_value(t);
		return;
	}
	n = (size_t)rng_range(&t->rng, 0, 8);
	rand_bytes(t, buf, n, rng_pct(&t->rng, 20) ? NULL : "abcd-xy");
	args_add(&t->args, buf, n);
}

static long long long_s(struct dt *t)
{
	return rng_range(&t->rng, DT_LONG_MIN_S, DT_LONG_MAX_S);
}

static long long long_ms(struct dt *t)
{
	return rng_range(&t->rng, DT_LONG_MIN_S * 1000LL, DT_LONG_MAX_S * 1000LL);
}

static long long short_ms(struct dt *t)
{
	return rng_range(&t->rng, DT_SHORT_MIN_MS, DT_SHORT_MAX_MS);
}

/* Integer argument: in range, at the edges, or not an integer at all. */
static void add_int_arg(struct dt *t, long long lo, long long hi)
{
	static const char *const bad[] = {
		"abc", "", "1.5", "9223372036854775808", "-9223372036854775809", " 1", "1 ", "0x1",
	};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 85)
		args_ll(&t->args, rng_range(&t->rng, lo, hi));
	else if (c < 90)
		args_ll(&t->args, rng_pct(&t->rng, 50) ? LLONG_MAX : LLONG_MIN);
	else if (c < 95)
		args_ll(&t->args, rng_range(&t->rng, -3, 3));
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* ---------------------------------------------------- expiry arguments */

/* What an expiry option group set, for the gate. */
struct dt_exp {
	int kind;            /* DT_EXP_* */
	long long value;     /* ms for SHORT_REL, absolute ms for ABS */
};

enum {
	DT_EXP_NONE,      /* no expiry, long expiry or an error: nothing to track */
	DT_EXP_SHORT_REL, /* relative short expiry of value ms */
	DT_EXP_ABS,       /* short absolute deadline at value ms */
	DT_EXP_PAST,      /* now or in the past: expired at once */
};

static void dt_note_exp(struct dt *t, const struct dt_exp *e)
{
	if (e->kind == DT_EXP_SHORT_REL)
		dt_note_short(t, e->value);
	else if (e->kind == DT_EXP_ABS)
		dt_note_deadline(t, e->value - 2, e->value + 2);
	else if (e->kind == DT_EXP_PAST)
		t->expiry_dirty = true;
}

/* One expiry option for SET or GETEX: EX/PX/EXAT/PXAT, long, short or in
 * the past, or a bad number. Returns what it may set. */
static struct dt_exp add_exp_opt(struct dt *t)
{
	struct dt_exp e = {DT_EXP_NONE, 0};
	int64_t now = dt_now_ms();
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 20) {
		add_word(t, "EX");
		args_ll(&t->args, long_s(t));
	} else if (c < 35) {
		add_word(t, "PX");
		args_ll(&t->args, long_ms(t));
	} else if (c < 45) {
		add_word(t, "EXAT");
		args_ll(&t->args, now / 1000 + long_s(t));
	} else if (c < 55) {
		add_word(t, "PXAT");
		args_ll(&t->args, now + long_ms(t));
	} else if (c < 70) {
		e.kind = DT_EXP_SHORT_REL;
		e.value = short_ms(t);
		add_word(t, "PX");
		args_ll(&t->args, e.value);
	} else if (c < 75) {
		e.kind = DT_EXP_ABS;
		e.value = now + short_ms(t);
		add_word(t, "PXAT");
		args_ll(&t->args, e.value);
	} else if (c < 80) {
		/* In the past: the key is gone (or never readable) at once. */
		e.kind = DT_EXP_PAST;
		if (rng_pct(&t->rng, 50)) {
			add_word(t, "EXAT");
			e.value = rng_range(&t->rng, 1, now / 1000 - 10);
			args_ll(&t->args, e.value);
			e.value *= 1000;
		} else {
			add_word(t, "PXAT");
			e.value = rng_range(&t->rng, 1, now - 10000);
			args_ll(&t->args, e.value);
		}
	} else {
		static const char *const opts[] = {"EX", "PX", "EXAT", "PXAT"};
		static const char *const bad[] = {
			"0", "-5", "abc", "", "1.5", "9223372036854775807", "9223372036854775",
			"-9223372036854775808",
		};

		add_word(t, opts[rng_below(&t->rng, 4)]);
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	}
	return e;
}

/* ----------------------------------------------------------- generators */

static int pick_home(struct dt *t, int home);

/* Keys for the string commands: any key when only strings and keys run;
 * with the value types on, mostly the string home, so the collections'
 * homes are not overwritten by SET all the time. */
static int pick_str_key(struct dt *t)
{
	return t->typed ? pick_home(t, DT_HOME_STR) : pick_key(t);
}

static int add_str_key(struct dt *t)
{
	int k = pick_str_key(t);

	add_key(t, k);
	return k;
}

static void gen_get(struct dt *t)
{
	start_cmd(t, "GET");
	add_str_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL], in random order,
 * plus invalid combinations. */
static void gen_set(struct dt *t)
{
	struct dt_exp e = {DT_EXP_NONE, 0}, e2 = {DT_EXP_NONE, 0};
	int order[4] = {0, 1, 2, 3};
	uint64_t c;

	start_cmd(t, "SET");
	add_str_key(t);
	add_value(t);
	for (int i = 3; i > 0; i--) {
		int j = (int)rng_below(&t->rng, (uint64_t)i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < 4; i++) {
		switch (order[i]) {
		case 0: /* condition */
			c = rng_below(&t->rng, 100);
			if (c < 15)
				add_word(t, "NX");
			else if (c < 30)
				add_word(t, "XX");
			else if (c < 32) {
				add_word(t, "NX");
				add_word(t, "XX");
			}
			break;
		case 1:
			if (rng_pct(&t->rng, 15))
				add_word(t, "GET");
			break;
		case 2: /* expiry */
			c = rng_below(&t->rng, 100);
			if (c < 45)
				break;
			if (c < 55) {
				add_word(t, "KEEPTTL");
				break;
			}
			e = add_exp_opt(t);
			if (c < 57)
				add_word(t, "KEEPTTL");
			else if (c < 59)
				e2 = add_exp_opt(t);
			break;
		case 3: /* junk */
			c = rng_below(&t->rng, 100);
			if (c < 2)
				add_word(t, "FOO");
			else if (c < 3)
				add_word(t, "GET");
			break;
		}
	}
	/* A dangling option word at the end. */
	if (rng_pct(&t->rng, 2))
		add_word(t, rng_pct(&t->rng, 50) ? "EX" : "PXAT");
	dt_exec(t, DT_CMP_EXACT);
	dt_note_exp(t, &e);
	dt_note_exp(t, &e2);
}

static void gen_setnx(struct dt *t)
{
	start_cmd(t, "SETNX");
	add_str_key(t);
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* A time argument no server may accept as a live expiry (zero, negative,
 * not a number, overflowing), so it never needs gating. */
static void add_bad_time(struct dt *t)
{
	static const char *const bad[] = {
		"0", "-1", "-5", "abc", "", "1.5", "9223372036854775807", "-9223372036854775808",
	};

	args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

static void gen_setex(struct dt *t)
{
	start_cmd(t, "SETEX");
	add_str_key(t);
	if (rng_pct(&t->rng, 85))
		args_ll(&t->args, long_s(t));
	else
		add_bad_time(t);
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_psetex(struct dt *t)
{
	long long ms = 0;

	start_cmd(t, "PSETEX");
	add_str_key(t);
	if (rng_pct(&t->rng, 60)) {
		args_ll(&t->args, long_ms(t));
	} else if (rng_pct(&t->rng, 60)) {
		ms = short_ms(t);
		args_ll(&t->args, ms);
	} else {
		add_bad_time(t);
	}
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
	if (ms)
		dt_note_short(t, ms);
}

static void gen_mget(struct dt *t)
{
	start_cmd(t, "MGET");
	add_keys(t, (int)rng_range(&t->rng, 1, 6));
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_mset_common(struct dt *t, const char *name)
{
	int n = (int)rng_range(&t->rng, 1, 5), first = pick_str_key(t);

	start_cmd(t, name);
	for (int i = 0; i < n; i++) {
		add_key(t, i == 0 ? first : pick_related(t, first));
		add_value(t);
	}
	if (rng_pct(&t->rng, 5))
		add_key(t, pick_related(t, first)); /* odd argument count */
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_mset(struct dt *t)
{
	gen_mset_common(t, "MSET");
}

static void gen_msetnx(struct dt *t)
{
	gen_mset_common(t, "MSETNX");
}

static void gen_getset(struct dt *t)
{
	start_cmd(t, "GETSET");
	add_str_key(t);
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getdel(struct dt *t)
{
	start_cmd(t, "GETDEL");
	add_str_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getex(struct dt *t)
{
	struct dt_exp e = {DT_EXP_NONE, 0};
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "GETEX");
	add_str_key(t);
	if (c < 20) {
		/* plain GETEX: a GET */
	} else if (c < 35) {
		add_word(t, "PERSIST");
	} else if (c < 90) {
		e = add_exp_opt(t);
	} else if (c < 93) {
		add_word(t, "PERSIST");
		add_word(t, "EX");
		args_ll(&t->args, long_s(t));
	} else if (c < 96) {
		add_word(t, "EX");
		args_ll(&t->args, long_s(t));
		add_word(t, "PX");
		args_ll(&t->args, long_ms(t));
	} else if (c < 98) {
		add_word(t, "KEEPTTL");
	} else {
		add_word(t, rng_pct(&t->rng, 50) ? "FOO" : "EX");
	}
	dt_exec(t, DT_CMP_EXACT);
	dt_note_exp(t, &e);
}

static void gen_append(struct dt *t)
{
	start_cmd(t, "APPEND");
	add_str_key(t);
	add_short_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_strlen(struct dt *t)
{
	start_cmd(t, "STRLEN");
	add_str_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* INCR/DECR; sometimes first park the key at the edge so it overflows. */
static void gen_incr_common(struct dt *t, const char *name, const char *edge)
{
	int k = pick_str_key(t);

	if (rng_pct(&t->rng, 5)) {
		start_cmd(t, "SET");
		add_key(t, k);
		args_str(&t->args, edge);
		dt_exec(t, DT_CMP_EXACT);
	}
	start_cmd(t, name);
	add_key(t, k);
	dt_exec(t, DT_CMP_EXACT); /* the gate may pass here: no need to stay atomic */
}

static void gen_incr(struct dt *t)
{
	gen_incr_common(t, "INCR", "9223372036854775807");
}

static void gen_decr(struct dt *t)
{
	gen_incr_common(t, "DECR", "-9223372036854775808");
}

static void gen_incrby_common(struct dt *t, const char *name)
{
	start_cmd(t, name);
	add_str_key(t);
	add_int_arg(t, -1000000, 1000000);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_incrby(struct dt *t)
{
	gen_incrby_common(t, "INCRBY");
}

static void gen_decrby(struct dt *t)
{
	gen_incrby_common(t, "DECRBY");
}

/* Whether INCRBYFLOAT on this stored value has one right answer whatever
 * float width the server computes in: either it is no number (both must
 * fail) or it is exactly a double of modest size and short text, so the
 * dyadic increments below give exact sums that print the same. */
static bool float_value_safe(const char *s, size_t n)
{
	char buf[64], *end;
	long double ld;
	double d;

	if (n == 0 || memchr(s, '\0', n) != NULL || isspace((unsigned char)s[0]))
		return true; /* not a float for Redis: an error either way */
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	ld = strtold(buf, &end);
	if (end != buf + n)
		return true; /* not a float */
	if (isnan(ld))
		return true;
	if (isinf(ld))
		return errno == 0; /* literal inf: an error either way; 1e5000: no */
	if (n > 17 || errno != 0)
		return false;
	d = strtod(buf, &end);
	return (long double)d == ld && fabs(d) < 1099511627776.0; /* 2^40 */
}

static void gen_incrbyfloat(struct dt *t)
{
	static const char *const bad[] = {"abc", "", "nan", "inf", "-inf", " 1", "1 ", "1.5.5"};
	const char *park = dt_dyadic[rng_below(&t->rng, DT_NDYADIC)];
	int k = pick_str_key(t);
	const redisReply *a;

	/* Peek at the value (a compared GET like any other) and park a safe
	 * number there first if the stored one is precision-sensitive. */
	start_plain(t, "GET");
	add_key(t, k);
	dt_exec(t, DT_CMP_EXACT);
	a = t->r[0];
	if (a->type == REDIS_REPLY_STRING && !float_value_safe(a->str, a->len)) {
		start_plain(t, "SET");
		add_key(t, k);
		args_str(&t->args, park);
		dt_exec_next(t, DT_CMP_EXACT);
	}
	start_cmd(t, "INCRBYFLOAT");
	add_key(t, k);
	if (rng_pct(&t->rng, 60))
		args_str(&t->args, dt_dyadic[rng_below(&t->rng, DT_NDYADIC)]);
	else if (rng_pct(&t->rng, 80))
		args_fmt(&t->args, "%.3f", (double)rng_range(&t->rng, -8000, 8000) / 8.0);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	dt_exec_next(t, DT_CMP_EXACT);
}

static void gen_range_common(struct dt *t, const char *name)
{
	start_cmd(t, name);
	add_str_key(t);
	add_int_arg(t, -60, 60);
	add_int_arg(t, -60, 60);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getrange(struct dt *t)
{
	gen_range_common(t, "GETRANGE");
}

static void gen_substr(struct dt *t)
{
	gen_range_common(t, "SUBSTR");
}

static void gen_setrange(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "SETRANGE");
	add_str_key(t);
	if (c < 88) {
		args_ll(&t->args, rng_range(&t->rng, 0, 40));
		add_short_value(t);
	} else if (c < 91) {
		/* Past the 512 MB limit: an error, nothing allocated. */
		args_str(&t->args, "536870912");
		args_str(&t->args, "x");
	} else if (c < 94) {
		/* Huge offset with nothing to write: no allocation either. */
		args_str(&t->args, rng_pct(&t->rng, 50) ? "536870911" : "536870912");
		args_str(&t->args, "");
	} else {
		static const char *const bad[] = {"-1", "abc", "", "1.5", "9223372036854775807"};

		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
		args_str(&t->args, "y");
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lcs(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "LCS");
	add_keys(t, 2);
	if (c < 30) {
		/* the string */
	} else if (c < 45) {
		add_word(t, "LEN");
	} else if (c < 60) {
		add_word(t, "IDX");
	} else if (c < 70) {
		add_word(t, "IDX");
		add_word(t, "MINMATCHLEN");
		args_ll(&t->args, rng_range(&t->rng, -1, 5));
	} else if (c < 80) {
		add_word(t, "WITHMATCHLEN");
		add_word(t, "IDX");
	} else if (c < 88) {
		add_word(t, "IDX");
		add_word(t, "MINMATCHLEN");
		args_ll(&t->args, rng_range(&t->rng, 0, 4));
		add_word(t, "WITHMATCHLEN");
	} else if (c < 92) {
		add_word(t, "LEN");
		add_word(t, "IDX");
	} else if (c < 95) {
		add_word(t, "IDX");
		add_word(t, "MINMATCHLEN");
		args_str(&t->args, rng_pct(&t->rng, 50) ? "abc" : "");
	} else if (c < 97) {
		add_word(t, "MINMATCHLEN");
	} else {
		add_word(t, "FOO");
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_multikey(struct dt *t, const char *name)
{
	start_cmd(t, name);
	add_keys(t, (int)rng_range(&t->rng, 1, 5));
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_del(struct dt *t)
{
	gen_multikey(t, "DEL");
}

static void gen_unlink(struct dt *t)
{
	gen_multikey(t, "UNLINK");
}

static void gen_exists(struct dt *t)
{
	gen_multikey(t, "EXISTS");
}

static void gen_touch(struct dt *t)
{
	gen_multikey(t, "TOUCH");
}

static void gen_type(struct dt *t)
{
	start_cmd(t, "TYPE");
	add_random_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* EXPIRE-family flags: none, one, two (some combinations invalid), or an
 * unknown one. GT/LT only with long/absolute times: two short relative
 * deadlines may compare differently on two servers by a millisecond. */
static void add_expire_flags(struct dt *t, bool allow_gt_lt)
{
	static const char *const one[] = {"NX", "XX", "GT", "LT"};
	uint64_t c = rng_below(&t->rng, 100);
	int lim = allow_gt_lt ? 4 : 2;

	if (c < 55)
		return;
	if (c < 85) {
		add_word(t, one[rng_below(&t->rng, (uint64_t)lim)]);
	} else if (c < 97) {
		add_word(t, one[rng_below(&t->rng, (uint64_t)lim)]);
		add_word(t, one[rng_below(&t->rng, (uint64_t)lim)]);
	} else {
		add_word(t, "FOO");
	}
}

static void gen_expire_common(struct dt *t, bool ms, bool at)
{
	static const char *const bad[] = {
		"abc", "", "1.5", "9223372036854775807", "-9223372036854775808", "9223372036854775",
	};
	static const char *const names[2][2] = {{"EXPIRE", "EXPIREAT"}, {"PEXPIRE", "PEXPIREAT"}};
	struct dt_exp e = {DT_EXP_NONE, 0};
	int64_t now = dt_now_ms();
	uint64_t c = rng_below(&t->rng, 100);
	bool long_time = false;

	start_cmd(t, names[ms][at]);
	add_random_key(t);
	if (c < 45) {
		long long v = ms ? long_ms(t) : long_s(t);

		if (at)
			v += ms ? now : now / 1000;
		args_ll(&t->args, v);
		long_time = true;
	} else if (c < 70 && ms) {
		long long v = short_ms(t);

		if (at) {
			e.kind = DT_EXP_ABS;
			e.value = now + v;
			args_ll(&t->args, e.value);
		} else {
			e.kind = DT_EXP_SHORT_REL;
			e.value = v;
			args_ll(&t->args, v);
		}
	} else if (c < 85) {
		/* Now or in the past: deletes the key. */
		long long v = at ? rng_range(&t->rng, 0, ms ? now - 10000 : now / 1000 - 10)
				 : rng_range(&t->rng, -1000, 0);

		e.kind = DT_EXP_PAST;
		args_ll(&t->args, v);
	} else {
		/* Mostly errors; a huge negative one is simply in the past. */
		e.kind = DT_EXP_PAST;
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	}
	add_expire_flags(t, long_time);
	dt_exec(t, DT_CMP_EXACT);
	dt_note_exp(t, &e);
}

static void gen_expire(struct dt *t)
{
	gen_expire_common(t, false, false);
}

static void gen_pexpire(struct dt *t)
{
	gen_expire_common(t, true, false);
}

static void gen_expireat(struct dt *t)
{
	gen_expire_common(t, false, true);
}

static void gen_pexpireat(struct dt *t)
{
	gen_expire_common(t, true, true);
}

static void gen_ttl_common(struct dt *t, const char *name, enum dt_cmp cmp)
{
	start_cmd(t, name);
	add_random_key(t);
	dt_exec(t, cmp);
}

static void gen_ttl(struct dt *t)
{
	gen_ttl_common(t, "TTL", DT_CMP_TTL_S);
}

static void gen_pttl(struct dt *t)
{
	gen_ttl_common(t, "PTTL", DT_CMP_TTL_MS);
}

static void gen_expiretime(struct dt *t)
{
	gen_ttl_common(t, "EXPIRETIME", DT_CMP_TTL_S);
}

static void gen_pexpiretime(struct dt *t)
{
	gen_ttl_common(t, "PEXPIRETIME", DT_CMP_TTL_MS);
}

static void gen_persist(struct dt *t)
{
	start_cmd(t, "PERSIST");
	add_random_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* A zset SORT left as a skiplist on B (see t->sorted_zset) keeps that
 * encoding under its new name. */
static void carry_sorted_mark(struct dt *t, int src, int dst)
{
	if (t->sorted_zset[src])
		t->sorted_zset[dst] = true;
}

static void gen_rename_common(struct dt *t, const char *name)
{
	int src = pick_key(t), dst;

	start_cmd(t, name);
	add_key(t, src);
	dst = rng_pct(&t->rng, 8) ? src : pick_related(t, src);
	add_key(t, dst);
	dt_exec(t, DT_CMP_EXACT);
	carry_sorted_mark(t, src, dst);
}

static void gen_rename(struct dt *t)
{
	gen_rename_common(t, "RENAME");
}

static void gen_renamenx(struct dt *t)
{
	gen_rename_common(t, "RENAMENX");
}

static void gen_copy(struct dt *t)
{
	static const char *const bad_db[] = {"16", "-1", "abc", ""};
	int src = pick_key(t), dst;
	uint64_t c;

	start_cmd(t, "COPY");
	add_key(t, src);
	dst = rng_pct(&t->rng, 10) ? src : pick_related(t, src);
	add_key(t, dst);
	carry_sorted_mark(t, src, dst);
	c = rng_below(&t->rng, 100);
	if (c < 30) {
		add_word(t, "DB");
		args_ll(&t->args, dt_dbs[rng_below(&t->rng, DT_NDBS)]);
	} else if (c < 35) {
		add_word(t, "DB");
		args_str(&t->args, bad_db[rng_below(&t->rng, 4)]);
	} else if (c < 37) {
		add_word(t, "DB");
	}
	if (rng_pct(&t->rng, 35))
		add_word(t, "REPLACE");
	if (rng_pct(&t->rng, 2))
		add_word(t, "FOO");
	dt_exec(t, DT_CMP_EXACT);
}

static const char *const dt_patterns[] = {
	"*", "k*", "{t}*", "{u}*", "*1*", "k?", "[a-k]*", "*[0-9]", "nomatch*", "bin*",
	"[^k]*", "*\\**", "{t}k1", "?", "*{*", "\\{t}*", "k[1-3]", "",
	/* Redis's glob edges: '*' never matches the empty key (except the
	 * pattern "*" alone, which KEYS and SCAN special-case); "[k-]" is the
	 * range ']'..'k' and stays open; "k[1-" an open set of '1' and '-' */
	"**", "?*", "*?", "[k-]*", "[z-a]*", "k[1-", "k[",
};
#define DT_NPATTERNS (sizeof(dt_patterns) / sizeof(dt_patterns[0]))

static void add_pattern(struct dt *t)
{
	if (rng_pct(&t->rng, 10))
		add_random_key(t); /* a literal key name */
	else
		args_str(&t->args, dt_patterns[rng_below(&t->rng, DT_NPATTERNS)]);
}

static void gen_keys(struct dt *t)
{
	start_cmd(t, "KEYS");
	add_pattern(t);
	dt_exec(t, DT_CMP_SORTED);
}

static void dt_sweep(struct dt *t);

/* A well-formed SCAN page: [cursor, [element...]] with a whole number of
 * groups of `stride` bulk strings. */
static bool scan_page_ok(const redisReply *r, size_t stride)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	       r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len > 0 &&
	       dt_strings_array(r->element[1]) && r->element[1]->elements % stride == 0;
}

/* Run a SCAN-family iteration to cursor 0 on server i, starting from the
 * first page already in t->r[i], and collect the elements (groups of
 * `stride`: a field and its value for HSCAN/ZSCAN, rendered quoted). t->args
 * holds the first call's arguments, the cursor at index cidx. Returns NULL
 * or a failure description. */
static const char *scan_collect(struct dt *t, int i, struct dt_strset *set, int cidx,
				size_t stride)
{
	struct dt_args page = {0};
	redisReply *r = t->r[i];
	redisReply *own = NULL;
	const char *err = NULL;
	long pages = 0;

	for (;;) {
		const redisReply *el;

		if (!scan_page_ok(r, stride)) {
			err = "malformed SCAN page";
			break;
		}
		el = r->element[1];
		for (size_t j = 0; j < el->elements; j += stride) {
			if (stride == 1) {
				ss_add(set, el->element[j]->str, el->element[j]->len);
			} else {
				struct dt_sbuf sb = {0};

				for (size_t k = 0; k < stride; k++) {
					if (k)
						sb_puts(&sb, " ");
					sb_quote(&sb, el->element[j + k]->str, el->element[j + k]->len);
				}
				ss_add(set, sb.p, sb.len);
				sb_free(&sb);
			}
		}
		if (r->element[0]->len == 1 && r->element[0]->str[0] == '0')
			break;
		if (++pages > DT_SCAN_MAX_PAGES) {
			err = "SCAN did not return to cursor 0";
			break;
		}
		args_reset(&page);
		for (int a = 0; a < t->args.argc; a++) {
			if (a == cidx)
				args_add(&page, r->element[0]->str, r->element[0]->len);
			else
				args_add(&page, t->args.argv[a], t->args.len[a]);
		}
		freeReplyObject(own);
		own = redisCommandArgv(t->srv[i].c, page.argc, (const char **)page.argv, page.len);
		if (own == NULL) {
			args_free(&page);
			dt_fail_conn(t, i);
		}
		r = own;
	}
	freeReplyObject(own);
	args_free(&page);
	return err;
}

/* Run the SCAN-family command in t->args (cursor at cidx) to completion on
 * both servers; the de-duplicated element sets must match (errors must
 * match exactly). sweep: reclaim expired keys first (SCAN TYPE none). */
static void scan_compare(struct dt *t, int cidx, size_t stride, bool sweep)
{
	struct dt_strset s[2] = {{0}, {0}};
	const char *err[2];

	for (int attempt = 0;; attempt++) {
		if (!t->in_multi)
			dt_gate(t);
		/* Redis' TYPE none lists expired keys that were not reclaimed yet
		 * (the type lookup deletes them, so the expiry filter misses
		 * them): reclaim first, as for DBSIZE. */
		if (sweep && t->expiry_dirty) {
			struct dt_args keep = t->args;

			memset(&t->args, 0, sizeof(t->args));
			dt_sweep(t);
			args_free(&t->args);
			t->args = keep;
		}
		dt_send_both(t);
		if (!scan_page_ok(t->r[0], stride) || !scan_page_ok(t->r[1], stride)) {
			dt_check(t, DT_CMP_EXACT); /* errors must be the same error */
			if (!scan_page_ok(t->r[0], stride) && t->r[0]->type != REDIS_REPLY_ERROR)
				dt_fail(t, "SCAN reply is neither a page nor an error");
			return;
		}
		for (int i = 0; i < 2; i++) {
			err[i] = scan_collect(t, i, &s[i], cidx, stride);
			ss_sort(&s[i], true);
		}
		/* A long iteration (big keyspace, small COUNT, slow machine) that
		 * ran into the gate window may have met a short expiry on one
		 * server only: whatever it found, wait them all out and scan
		 * again. */
		if (attempt == 0 && t->short_active &&
		    dt_now_ms() >= t->short_lo_ms - DT_GATE_MARGIN_MS) {
			ss_free(&s[0]);
			ss_free(&s[1]);
			dt_gate_all(t);
			continue;
		}
		break;
	}
	if (err[0] || err[1] || !ss_eq(&s[0], &s[1])) {
		struct dt_sbuf a = {0}, b = {0};

		if (err[0])
			sb_puts(&a, err[0]);
		else
			ss_print(&a, &s[0]);
		if (err[1])
			sb_puts(&b, err[1]);
		else
			ss_print(&b, &s[1]);
		dt_fail_text(t, "full SCAN iterations found different sets", a.p, b.p);
	}
	ss_free(&s[0]);
	ss_free(&s[1]);
}

/* SCAN cursor [MATCH p] [COUNT n] [TYPE t]: both servers iterate the whole
 * scan with the same options; the de-duplicated key sets must match. */
static void gen_scan(struct dt *t)
{
	static const char *const types[] = {"string", "none", "list", "hash", "set", "zset",
					    "stream", "bogus", "STRING"};
	int order[3] = {0, 1, 2};
	bool bad_cursor = rng_pct(&t->rng, 3);
	bool type_none = false;

	start_cmd(t, "SCAN");
	args_str(&t->args, bad_cursor ? (rng_pct(&t->rng, 50) ? "abc" : "") : "0");
	for (int i = 2; i > 0; i--) {
		int j = (int)rng_below(&t->rng, (uint64_t)i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < 3; i++) {
		switch (order[i]) {
		case 0:
			if (rng_pct(&t->rng, 50)) {
				add_word(t, "MATCH");
				add_pattern(t);
			}
			break;
		case 1:
			if (rng_pct(&t->rng, 40)) {
				add_word(t, "COUNT");
				if (rng_pct(&t->rng, 92))
					args_ll(&t->args, rng_range(&t->rng, 1, 20));
				else
					args_str(&t->args, rng_pct(&t->rng, 50) ? "0" : "abc");
			}
			break;
		case 2:
			if (rng_pct(&t->rng, 25)) {
				const char *ty = types[rng_below(&t->rng, sizeof(types) / sizeof(types[0]))];

				add_word(t, "TYPE");
				args_str(&t->args, ty);
				type_none = strcasecmp(ty, "none") == 0;
			}
			break;
		}
	}
	if (rng_pct(&t->rng, 2))
		add_word(t, rng_pct(&t->rng, 50) ? "MATCH" : "FOO");

	scan_compare(t, 1, 1, type_none);
}

/* RANDOMKEY: nil on both or a key on both; each returned key must then
 * exist on both (EXISTS goes to both, like every step). */
static void gen_randomkey(struct dt *t)
{
	struct dt_strset got = {0};

	start_cmd(t, "RANDOMKEY");
	dt_exec(t, DT_CMP_RANDOMKEY);
	if (t->r[0]->type != REDIS_REPLY_STRING)
		return;
	for (int i = 0; i < 2; i++)
		ss_add(&got, t->r[i]->str, t->r[i]->len);
	ss_sort(&got, true);
	for (size_t i = 0; i < got.n; i++) {
		start_plain(t, "EXISTS");
		args_add(&t->args, got.v[i].p, got.v[i].len);
		dt_exec_next(t, DT_CMP_EXACT);
		if (t->r[0]->type != REDIS_REPLY_INTEGER || t->r[0]->integer != 1) {
			ss_free(&got);
			dt_fail(t, "RANDOMKEY returned a key that does not exist");
		}
	}
	ss_free(&got);
}

/* SELECT as a follow-up step (no gate: see dt_exec_next). */
static void exec_select(struct dt *t, int db)
{
	start_plain(t, "SELECT");
	args_ll(&t->args, db);
	dt_exec_next(t, DT_CMP_EXACT);
}

/* Reclaim every expired key on both servers (EXISTS deletes what it finds
 * expired), so that DBSIZE counts the same set. Runs right after a gate
 * check, with no gate inside: no short expiry can come due until the
 * DBSIZE that follows. */
static void dt_sweep(struct dt *t)
{
	for (int d = 0; d < DT_NDBS; d++) {
		exec_select(t, dt_dbs[d]);
		start_plain(t, "EXISTS");
		for (int k = 0; k < t->nkeys; k++)
			add_key(t, k);
		dt_exec_next(t, DT_CMP_EXACT);
	}
	exec_select(t, t->curdb);
	/* Short expiries still to come will leave expired keys behind again. */
	t->expiry_dirty = t->short_active;
}

static void gen_dbsize(struct dt *t)
{
	char name[8];

	start_cmd(t, "DBSIZE");
	snprintf(name, sizeof(name), "%s", t->args.argv[0]);
	dt_gate(t);
	if (t->expiry_dirty) {
		dt_sweep(t);
		start_plain(t, name);
	}
	dt_exec_next(t, DT_CMP_EXACT);
}

static void gen_flushdb(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "FLUSHDB");
	if (c < 30)
		add_word(t, "ASYNC");
	else if (c < 60)
		add_word(t, "SYNC");
	else if (c < 65)
		add_word(t, "FOO");
	else if (c < 68) {
		add_word(t, "SYNC");
		add_word(t, "ASYNC");
	}
	dt_exec(t, DT_CMP_EXACT);
}

/* SELECT: mostly back to DB 0 so most work shares one keyspace. */
static void gen_select(struct dt *t)
{
	static const char *const bad[] = {"16", "-1", "abc", "", "1.0", "9223372036854775808"};
	uint64_t c = rng_below(&t->rng, 100);
	int db = -1;

	start_cmd(t, "SELECT");
	if (c < 50)
		db = 0;
	else if (c < 90)
		db = dt_dbs[rng_below(&t->rng, DT_NDBS)];
	if (db >= 0)
		args_ll(&t->args, db);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	dt_exec(t, DT_CMP_EXACT);
	if (db >= 0 && t->r[0]->type == REDIS_REPLY_STATUS)
		t->curdb = db;
}

static void gen_swapdb(struct dt *t)
{
	static const char *const bad[] = {"16", "-1", "abc", ""};

	start_cmd(t, "SWAPDB");
	for (int i = 0; i < 2; i++) {
		if (rng_pct(&t->rng, 92))
			args_ll(&t->args, dt_dbs[rng_below(&t->rng, DT_NDBS)]);
		else
			args_str(&t->args, bad[rng_below(&t->rng, 4)]);
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_object(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "OBJECT");
	if (c < 85) {
		add_word(t, "ENCODING");
		add_random_key(t);
	} else if (c < 90) {
		add_word(t, "ENCODING");
	} else if (c < 94) {
		add_word(t, "ENCODING");
		add_random_key(t);
		add_random_key(t);
	} else {
		add_word(t, rng_pct(&t->rng, 50) ? "FOO" : "ENCODINGX");
		add_random_key(t);
	}
	dt_exec(t, DT_CMP_EXACT_OR_ENC);
}

static void gen_ping(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "PING");
	if (c >= 50)
		add_value(t);
	if (c >= 90)
		add_value(t); /* too many arguments */
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_echo(struct dt *t)
{
	start_cmd(t, "ECHO");
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_unknown(struct dt *t)
{
	static const char *const names[] = {"FOOBAR", "GETT", "SETX", "incrbyfloatx", "OBJECTS",
					    "KEY", "SCANX"};
	int n = (int)rng_range(&t->rng, 0, 3);

	start_cmd(t, names[rng_below(&t->rng, sizeof(names) / sizeof(names[0]))]);
	for (int i = 0; i < n; i++)
		add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* ------------------------------------------------- value-type helpers */

/* A key of the given home most of the time, any key otherwise (so every
 * command meets every other type too). */
static int pick_home(struct dt *t, int home)
{
	if (t->home_n[home] > 0 && rng_pct(&t->rng, 85))
		return t->home_keys[home][rng_below(&t->rng, (uint64_t)t->home_n[home])];
	return pick_key(t);
}

/* A further key for a multi-key command whose first key is `first`: often
 * of the same home and group (one hash tag: one keyrail shard), sometimes
 * of the same home in any group (other shards: the cross-shard path), now
 * and then any key. */
static int pick_home_related(struct dt *t, int first, int home)
{
	uint64_t c = rng_below(&t->rng, 100);
	int grp = first % 3, n = 0;

	if (c < 45) {
		for (int i = 0; i < t->home_n[home]; i++)
			if (t->home_keys[home][i] % 3 == grp)
				n++;
		if (n > 0) {
			int want = (int)rng_below(&t->rng, (uint64_t)n);

			for (int i = 0; i < t->home_n[home]; i++)
				if (t->home_keys[home][i] % 3 == grp && want-- == 0)
					return t->home_keys[home][i];
		}
	}
	if (c < 85 && t->home_n[home] > 0)
		return t->home_keys[home][rng_below(&t->rng, (uint64_t)t->home_n[home])];
	return pick_key(t);
}

static int add_home_key(struct dt *t, int home)
{
	int k = pick_home(t, home);

	add_key(t, k);
	return k;
}

/* n keys of a home, related to the first; returns the first. */
static int add_home_keys(struct dt *t, int n, int home)
{
	int first = pick_home(t, home);

	add_key(t, first);
	for (int i = 1; i < n; i++)
		add_key(t, pick_home_related(t, first, home));
	return first;
}

/* Members, list elements and hash fields: mostly from a small pool so that
 * lookups hit; small integers (intsets, SORT patterns "k*" that name pool
 * keys); longer than 64 bytes now and then (listpack -> hashtable/skiplist
 * conversion); integers of every intset width. No NUL bytes: SORT ALPHA
 * compares with strcoll() in Redis, which stops at a NUL. */
static const char *const dt_members[] = {
	"a", "b", "c", "d", "e", "f", "foo", "bar", "x1", "abc", "zz", "A", "aa", "-", "+",
	"[a", "(b", "#", "*",
};
#define DT_NMEMBERS (sizeof(dt_members) / sizeof(dt_members[0]))

static void add_member(struct dt *t)
{
	static const char *const edge[] = {
		"-1", "007", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
		"1.5", "1e3", " 1", "-0", "0x1", "+1", "2147483648", "-32769",
	};
	char buf[96];
	uint64_t c = rng_below(&t->rng, 100);
	size_t n;

	if (c < 35) {
		args_ll(&t->args, rng_range(&t->rng, 0, 20));
	} else if (c < 70) {
		args_str(&t->args, dt_members[rng_below(&t->rng, DT_NMEMBERS)]);
	} else if (c < 76) {
		n = (size_t)rng_range(&t->rng, 1, 5);
		rand_bytes(t, buf, n, "abc");
		args_add(&t->args, buf, n);
	} else if (c < 78) {
		args_add(&t->args, "", 0);
	} else if (c < 82) {
		n = (size_t)rng_range(&t->rng, 1, 8);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rng_range(&t->rng, 1, 255);
		args_add(&t->args, buf, n);
	} else if (c < 84) {
		n = (size_t)rng_range(&t->rng, 65, 90);
		rand_bytes(t, buf, n, "abcdefghijklmnopqrstuvwxyz0123456789");
		args_add(&t->args, buf, n);
	} else if (c < 88) {
		args_str(&t->args, edge[rng_below(&t->rng, sizeof(edge) / sizeof(edge[0]))]);
	} else if (c < 96) {
		args_ll(&t->args, rng_range(&t->rng, -1000, 100000));
	} else {
		args_ll(&t->args, rng_range(&t->rng, -5000000000LL, 5000000000LL));
	}
}

/* A hash field: a member, or (rarely) one with a NUL byte inside. */
static void add_field(struct dt *t)
{
	if (rng_pct(&t->rng, 3)) {
		static const char nul[] = "f\0g";

		args_add(&t->args, nul, sizeof(nul) - 1);
		return;
	}
	add_member(t);
}

/* A hash value: mostly short, sometimes numeric or long. */
static void add_hvalue(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 40)
		args_ll(&t->args, rng_range(&t->rng, -100, 1000));
	else if (c < 85)
		add_short_value(t);
	else
		add_value(t);
}

/* Scores: integers and dyadic fractions (their sums and products stay
 * exact and print alike whatever the server's float code), infinities,
 * and invalid ones. */
static void add_score(struct dt *t)
{
	static const char *const dy[] = {
		"1.5", "-0.25", "0.125", "2.75", ".5", "5.", "1e3", "-1.5e2", "2.5E1", "0", "-0",
		"+3", "1024.0625",
	};
	static const char *const inf[] = {"inf", "-inf", "+inf", "INF", "-Infinity"};
	static const char *const bad[] = {"abc", "", "nan", "1.5.5", " 1", "1 ", "(1", "0x10"};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 60)
		args_ll(&t->args, rng_range(&t->rng, -20, 20));
	else if (c < 82)
		args_str(&t->args, dy[rng_below(&t->rng, sizeof(dy) / sizeof(dy[0]))]);
	else if (c < 87)
		args_str(&t->args, inf[rng_below(&t->rng, sizeof(inf) / sizeof(inf[0]))]);
	else if (c < 93)
		args_ll(&t->args, rng_range(&t->rng, -4000000000LL, 4000000000LL));
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* A valid score only (bulk loads). */
static void add_good_score(struct dt *t)
{
	if (rng_pct(&t->rng, 70))
		args_ll(&t->args, rng_range(&t->rng, -50, 50));
	else
		args_fmt(&t->args, "%.4f", (double)rng_range(&t->rng, -8000, 8000) / 16.0);
}

/* A count for commands where a huge valid count is harmless. */
static void add_count(struct dt *t, long long lo, long long hi)
{
	add_int_arg(t, lo, hi);
}

/* A blocking timeout in seconds: tiny (the sequence is one client, so a
 * blocking command serves at once or times out with a null), 0 only
 * inside MULTI (where nothing blocks), or invalid. */
static void add_timeout(struct dt *t)
{
	static const char *const ok[] = {"0.01", "0.02", "0.005", "0.010"};
	/* Not "1e400": Redis 7.0 converts its milliseconds to long long
	 * without a range check (undefined behaviour) and says "negative". */
	static const char *const bad[] = {"-1", "abc", "-0.5", "", "nan", "0x1"};
	uint64_t c = rng_below(&t->rng, 100);

	if (t->in_multi && c < 30)
		args_str(&t->args, "0");
	else if (c < 92)
		args_str(&t->args, ok[rng_below(&t->rng, sizeof(ok) / sizeof(ok[0]))]);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* numkeys for LMPOP/ZUNION/SINTERCARD/EVAL...: the right number mostly,
 * else zero, negative, too big or not a number. */
static void add_numkeys(struct dt *t, int n)
{
	static const char *const bad[] = {"0", "-1", "abc", "", "99", "1.0"};

	if (rng_pct(&t->rng, 94))
		args_ll(&t->args, n);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* A rare unknown option or a dangling option word at the end. */
static void add_junk(struct dt *t, const char *dangling)
{
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 2)
		add_word(t, "FOO");
	else if (c < 3 && dangling)
		add_word(t, dangling);
}

/* One command on one key of a home and nothing else. */
static void gen_key1(struct dt *t, const char *name, int home, enum dt_cmp cmp)
{
	start_cmd(t, name);
	add_home_key(t, home);
	dt_exec(t, cmp);
}

/* OBJECT ENCODING of key k as a follow-up step (after bulk loads and
 * *STORE commands), normalised like gen_object's. */
static void check_encoding(struct dt *t, int k)
{
	start_plain(t, "OBJECT");
	args_str(&t->args, "ENCODING");
	add_key(t, k);
	dt_exec_next(t, DT_CMP_EXACT_OR_ENC);
}

/* ----------------------------------------------------------------- lists */

static void gen_push_common(struct dt *t, const char *name)
{
	uint64_t c = rng_below(&t->rng, 100);
	int k, n;

	start_cmd(t, name);
	k = add_home_key(t, DT_HOME_LIST);
	if (c < 92) {
		n = (int)rng_range(&t->rng, 1, 5);
		for (int i = 0; i < n; i++)
			add_member(t);
	} else if (c < 97) {
		n = (int)rng_range(&t->rng, 20, 60);
		for (int i = 0; i < n; i++)
			add_member(t);
	} else {
		/* Past list-max-listpack-size (8 kB): a quicklist in 7.2. */
		n = (int)rng_range(&t->rng, 120, 200);
		for (int i = 0; i < n; i++)
			add_value(t);
	}
	dt_exec(t, DT_CMP_EXACT);
	if (c >= 92 && !t->in_multi)
		check_encoding(t, k);
}

static void gen_lpush(struct dt *t)
{
	gen_push_common(t, "LPUSH");
}

static void gen_rpush(struct dt *t)
{
	gen_push_common(t, "RPUSH");
}

static void gen_pushx_common(struct dt *t, const char *name)
{
	int n = (int)rng_range(&t->rng, 1, 3);

	start_cmd(t, name);
	add_home_key(t, DT_HOME_LIST);
	for (int i = 0; i < n; i++)
		add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lpushx(struct dt *t)
{
	gen_pushx_common(t, "LPUSHX");
}

static void gen_rpushx(struct dt *t)
{
	gen_pushx_common(t, "RPUSHX");
}

static void gen_pop_common(struct dt *t, const char *name)
{
	start_cmd(t, name);
	add_home_key(t, DT_HOME_LIST);
	if (rng_pct(&t->rng, 45))
		add_count(t, -2, 6);
	if (rng_pct(&t->rng, 2))
		add_count(t, 0, 3); /* one argument too many */
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lpop(struct dt *t)
{
	gen_pop_common(t, "LPOP");
}

static void gen_rpop(struct dt *t)
{
	gen_pop_common(t, "RPOP");
}

static void gen_llen(struct dt *t)
{
	gen_key1(t, "LLEN", DT_HOME_LIST, DT_CMP_EXACT);
}

static void gen_lrange(struct dt *t)
{
	start_cmd(t, "LRANGE");
	add_home_key(t, DT_HOME_LIST);
	add_int_arg(t, -12, 12);
	add_int_arg(t, -12, 12);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lindex(struct dt *t)
{
	start_cmd(t, "LINDEX");
	add_home_key(t, DT_HOME_LIST);
	add_int_arg(t, -12, 12);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lset(struct dt *t)
{
	start_cmd(t, "LSET");
	add_home_key(t, DT_HOME_LIST);
	add_int_arg(t, -8, 8);
	if (rng_pct(&t->rng, 3))
		add_value(t);
	else
		add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_linsert(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "LINSERT");
	add_home_key(t, DT_HOME_LIST);
	if (c < 48)
		add_word(t, "BEFORE");
	else if (c < 96)
		add_word(t, "AFTER");
	else
		add_word(t, "MIDDLE");
	add_member(t);
	add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_lrem(struct dt *t)
{
	start_cmd(t, "LREM");
	add_home_key(t, DT_HOME_LIST);
	add_int_arg(t, -3, 3);
	add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_ltrim(struct dt *t)
{
	start_cmd(t, "LTRIM");
	add_home_key(t, DT_HOME_LIST);
	add_int_arg(t, -10, 10);
	add_int_arg(t, -10, 20);
	dt_exec(t, DT_CMP_EXACT);
}

/* LPOS key element [RANK r] [COUNT c] [MAXLEN m], options in any order,
 * invalid values included. */
static void gen_lpos(struct dt *t)
{
	int order[3] = {0, 1, 2};

	start_cmd(t, "LPOS");
	add_home_key(t, DT_HOME_LIST);
	add_member(t);
	for (int i = 2; i > 0; i--) {
		int j = (int)rng_below(&t->rng, (uint64_t)i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < 3; i++) {
		switch (order[i]) {
		case 0:
			if (rng_pct(&t->rng, 35)) {
				add_word(t, "RANK");
				add_int_arg(t, -3, 3);
			}
			break;
		case 1:
			if (rng_pct(&t->rng, 40)) {
				add_word(t, "COUNT");
				add_int_arg(t, -1, 4);
			}
			break;
		case 2:
			if (rng_pct(&t->rng, 25)) {
				add_word(t, "MAXLEN");
				add_int_arg(t, -1, 10);
			}
			break;
		}
	}
	add_junk(t, "RANK");
	dt_exec(t, DT_CMP_EXACT);
}

static void add_wherefrom(struct dt *t, const char *a, const char *b)
{
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 49)
		add_word(t, a);
	else if (c < 98)
		add_word(t, b);
	else
		add_word(t, "UP");
}

/* src and dst: the same key now and then (rotation). */
static void add_src_dst(struct dt *t, int home)
{
	int src = pick_home(t, home);

	add_key(t, src);
	add_key(t, rng_pct(&t->rng, 12) ? src : pick_home_related(t, src, home));
}

static void gen_lmove(struct dt *t)
{
	start_cmd(t, "LMOVE");
	add_src_dst(t, DT_HOME_LIST);
	add_wherefrom(t, "LEFT", "RIGHT");
	add_wherefrom(t, "LEFT", "RIGHT");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_rpoplpush(struct dt *t)
{
	start_cmd(t, "RPOPLPUSH");
	add_src_dst(t, DT_HOME_LIST);
	dt_exec(t, DT_CMP_EXACT);
}

/* [numkeys] key... LEFT|RIGHT [COUNT c] for LMPOP/BLMPOP, ZMPOP/BZMPOP. */
static void add_mpop_tail(struct dt *t, int home, const char *a, const char *b)
{
	int n = (int)rng_range(&t->rng, 1, 3);

	add_numkeys(t, n);
	add_home_keys(t, n, home);
	add_wherefrom(t, a, b);
	if (rng_pct(&t->rng, 45)) {
		add_word(t, "COUNT");
		add_int_arg(t, -1, 5);
	}
	add_junk(t, "COUNT");
}

static void gen_lmpop(struct dt *t)
{
	start_cmd(t, "LMPOP");
	add_mpop_tail(t, DT_HOME_LIST, "LEFT", "RIGHT");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_bpop_common(struct dt *t, const char *name, int home)
{
	start_cmd(t, name);
	add_home_keys(t, (int)rng_range(&t->rng, 1, 3), home);
	add_timeout(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_blpop(struct dt *t)
{
	gen_bpop_common(t, "BLPOP", DT_HOME_LIST);
}

static void gen_brpop(struct dt *t)
{
	gen_bpop_common(t, "BRPOP", DT_HOME_LIST);
}

static void gen_blmove(struct dt *t)
{
	start_cmd(t, "BLMOVE");
	add_src_dst(t, DT_HOME_LIST);
	add_wherefrom(t, "LEFT", "RIGHT");
	add_wherefrom(t, "LEFT", "RIGHT");
	add_timeout(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_brpoplpush(struct dt *t)
{
	start_cmd(t, "BRPOPLPUSH");
	add_src_dst(t, DT_HOME_LIST);
	add_timeout(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_blmpop(struct dt *t)
{
	start_cmd(t, "BLMPOP");
	add_timeout(t);
	add_mpop_tail(t, DT_HOME_LIST, "LEFT", "RIGHT");
	dt_exec(t, DT_CMP_EXACT);
}

/* ---------------------------------------------------------------- hashes */

static void gen_hset_common(struct dt *t, const char *name)
{
	uint64_t c = rng_below(&t->rng, 100);
	int k, n;

	start_cmd(t, name);
	k = add_home_key(t, DT_HOME_HASH);
	if (c < 94)
		n = (int)rng_range(&t->rng, 1, 4);
	else if (c < 97)
		n = (int)rng_range(&t->rng, 10, 40);
	else
		n = (int)rng_range(&t->rng, 125, 150); /* past hash-max-listpack-entries */
	for (int i = 0; i < n; i++) {
		add_field(t);
		add_hvalue(t);
	}
	if (rng_pct(&t->rng, 2))
		add_field(t); /* a field without a value */
	dt_exec(t, DT_CMP_EXACT);
	if (c >= 94 && !t->in_multi)
		check_encoding(t, k);
}

static void gen_hset(struct dt *t)
{
	gen_hset_common(t, "HSET");
}

static void gen_hmset(struct dt *t)
{
	gen_hset_common(t, "HMSET");
}

static void gen_hsetnx(struct dt *t)
{
	start_cmd(t, "HSETNX");
	add_home_key(t, DT_HOME_HASH);
	add_field(t);
	add_hvalue(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_hkey_field(struct dt *t, const char *name, int nfields)
{
	start_cmd(t, name);
	add_home_key(t, DT_HOME_HASH);
	for (int i = 0; i < nfields; i++)
		add_field(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_hget(struct dt *t)
{
	gen_hkey_field(t, "HGET", 1);
}

static void gen_hmget(struct dt *t)
{
	gen_hkey_field(t, "HMGET", (int)rng_range(&t->rng, 1, 5));
}

static void gen_hdel(struct dt *t)
{
	gen_hkey_field(t, "HDEL", (int)rng_range(&t->rng, 1, 4));
}

static void gen_hexists(struct dt *t)
{
	gen_hkey_field(t, "HEXISTS", 1);
}

static void gen_hstrlen(struct dt *t)
{
	gen_hkey_field(t, "HSTRLEN", 1);
}

static void gen_hlen(struct dt *t)
{
	gen_key1(t, "HLEN", DT_HOME_HASH, DT_CMP_EXACT);
}

static void gen_hkeys(struct dt *t)
{
	gen_key1(t, "HKEYS", DT_HOME_HASH, DT_CMP_SORTED_KEY);
}

static void gen_hvals(struct dt *t)
{
	gen_key1(t, "HVALS", DT_HOME_HASH, DT_CMP_SORTED_KEY);
}

static void gen_hgetall(struct dt *t)
{
	gen_key1(t, "HGETALL", DT_HOME_HASH, DT_CMP_PAIRS_KEY);
}

/* HINCRBY; sometimes first park the field at an edge so it overflows. */
static void gen_hincrby(struct dt *t)
{
	int k = pick_home(t, DT_HOME_HASH);

	if (rng_pct(&t->rng, 5)) {
		start_cmd(t, "HSET");
		add_key(t, k);
		args_str(&t->args, "n");
		args_str(&t->args, rng_pct(&t->rng, 50) ? "9223372036854775807"
							 : "-9223372036854775808");
		dt_exec(t, DT_CMP_EXACT);
		start_cmd(t, "HINCRBY");
		add_key(t, k);
		args_str(&t->args, "n");
		args_str(&t->args, rng_pct(&t->rng, 50) ? "1" : "-1");
		dt_exec(t, DT_CMP_EXACT);
		return;
	}
	start_cmd(t, "HINCRBY");
	add_key(t, k);
	if (rng_pct(&t->rng, 50))
		args_str(&t->args, rng_pct(&t->rng, 50) ? "n" : "m");
	else
		add_field(t);
	add_int_arg(t, -1000, 1000);
	dt_exec(t, DT_CMP_EXACT);
}

/* HINCRBYFLOAT like INCRBYFLOAT: peek at the field (a compared HGET) and
 * park a dyadic number there first if the stored value is
 * precision-sensitive, so long double vs double cannot show. */
static void gen_hincrbyfloat(struct dt *t)
{
	static const char *const bad[] = {"abc", "", "nan", "inf", "-inf", " 1", "1 ", "1.5.5"};
	const char *park = dt_dyadic[rng_below(&t->rng, DT_NDYADIC)];
	int k = pick_home(t, DT_HOME_HASH);
	struct dt_str f;
	const redisReply *a;

	start_plain(t, "HGET");
	add_key(t, k);
	if (rng_pct(&t->rng, 60))
		args_str(&t->args, rng_pct(&t->rng, 50) ? "n" : "fl");
	else
		add_field(t);
	f.len = t->args.len[2];
	f.p = dt_xrealloc(NULL, f.len + 1);
	memcpy(f.p, t->args.argv[2], f.len);
	dt_exec(t, DT_CMP_EXACT);
	a = t->r[0];
	if (a->type == REDIS_REPLY_STRING && !float_value_safe(a->str, a->len)) {
		start_plain(t, "HSET");
		add_key(t, k);
		args_add(&t->args, f.p, f.len);
		args_str(&t->args, park);
		dt_exec_next(t, DT_CMP_EXACT);
	}
	start_cmd(t, "HINCRBYFLOAT");
	add_key(t, k);
	args_add(&t->args, f.p, f.len);
	free(f.p);
	if (rng_pct(&t->rng, 60))
		args_str(&t->args, dt_dyadic[rng_below(&t->rng, DT_NDYADIC)]);
	else if (rng_pct(&t->rng, 80))
		args_fmt(&t->args, "%.3f", (double)rng_range(&t->rng, -8000, 8000) / 8.0);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	dt_exec_next(t, DT_CMP_EXACT);
}

/* ------------------------------------------- random picks: SPOP & co. */

/* The content of one collection, read by a compared step (so A's copy is
 * B's): members sorted, each with its value (hash value, zset score as
 * printed) when the read returned pairs. */
struct dt_snap {
	bool ok;                /* the read gave an array (the key holds the type) */
	struct dt_strset m;     /* members, sorted by dt_str_cmp */
	struct dt_str *val;     /* val[i] goes with m.v[i]; NULL without values */
};

static void snap_free(struct dt_snap *s)
{
	if (s->val)
		for (size_t i = 0; i < s->m.n; i++)
			free(s->val[i].p);
	free(s->val);
	ss_free(&s->m);
	memset(s, 0, sizeof(*s));
}

struct dt_pair {
	struct dt_str k, v;
};

static int dt_pair_cmp(const void *x, const void *y)
{
	return dt_str_cmp(&((const struct dt_pair *)x)->k, &((const struct dt_pair *)y)->k);
}

/* Fill s from array reply r (stride 2: member, value pairs). */
static void snap_take(struct dt_snap *s, const redisReply *r, size_t stride)
{
	struct dt_pair *pv;
	size_t n;

	memset(s, 0, sizeof(*s));
	if (r->type != REDIS_REPLY_ARRAY || !dt_strings_array(r) || r->elements % stride)
		return;
	s->ok = true;
	n = r->elements / stride;
	pv = dt_xrealloc(NULL, (n ? n : 1) * sizeof(*pv));
	for (size_t i = 0; i < n; i++) {
		const redisReply *k = r->element[i * stride];
		const redisReply *v = stride > 1 ? r->element[i * stride + 1] : k;

		pv[i].k.p = k->str;
		pv[i].k.len = k->len;
		pv[i].v.p = v->str;
		pv[i].v.len = v->len;
	}
	qsort(pv, n, sizeof(*pv), dt_pair_cmp);
	if (stride > 1)
		s->val = dt_xrealloc(NULL, (n ? n : 1) * sizeof(*s->val));
	for (size_t i = 0; i < n; i++) {
		ss_add(&s->m, pv[i].k.p, pv[i].k.len);
		if (s->val) {
			s->val[i].p = dt_xrealloc(NULL, pv[i].v.len + 1);
			memcpy(s->val[i].p, pv[i].v.p, pv[i].v.len);
			s->val[i].len = pv[i].v.len;
		}
	}
	free(pv);
}

/* Index of member (p, n) in the snapshot, or -1. */
static long snap_find(const struct dt_snap *s, const char *p, size_t n)
{
	struct dt_str key = {(char *)p, n};
	const struct dt_str *hit = s->m.n ? bsearch(&key, s->m.v, s->m.n, sizeof(key), dt_str_cmp)
					  : NULL;

	return hit ? (long)(hit - s->m.v) : -1;
}

/* Read the whole collection at key k with a compared plain step: SMEMBERS,
 * HGETALL or ZRANGE 0 -1 WITHSCORES. */
static void snap_read(struct dt *t, int k, int home, struct dt_snap *s)
{
	enum dt_cmp cmp = DT_CMP_EXACT;
	size_t stride = 2;

	if (home == DT_HOME_SET) {
		start_plain(t, "SMEMBERS");
		add_key(t, k);
		cmp = DT_CMP_SORTED_KEY;
		stride = 1;
	} else if (home == DT_HOME_HASH) {
		start_plain(t, "HGETALL");
		add_key(t, k);
		cmp = DT_CMP_PAIRS_KEY;
	} else {
		start_plain(t, "ZRANGE");
		add_key(t, k);
		args_str(&t->args, "0");
		args_str(&t->args, "-1");
		args_str(&t->args, "WITHSCORES");
	}
	dt_gate(t);
	dt_send_both(t);
	/* Before dt_check: its order check may send another step. */
	snap_take(s, t->r[0], stride);
	dt_check(t, cmp);
}

/* Check one server's reply to a random pick (SRANDMEMBER, SPOP, HRANDFIELD,
 * ZRANDMEMBER) against the snapshot. has_count: an array of picks, count
 * of them (negative: |count| picks, repeats allowed); withvals: member,
 * value pairs whose values must match the snapshot's. Returns NULL or what
 * is wrong. */
static const char *check_pick(const struct dt_snap *s, const redisReply *r, bool has_count,
			      long long count, bool withvals)
{
	size_t stride = withvals ? 2 : 1, want;
	struct dt_strset seen = {0};
	const char *why = NULL;

	if (!has_count) {
		if (r->type != REDIS_REPLY_STRING)
			return "expected a bulk member";
		return snap_find(s, r->str, r->len) >= 0 ? NULL : "not a member";
	}
	if (r->type != REDIS_REPLY_ARRAY || !dt_strings_array(r))
		return "expected an array of bulks";
	if (count >= 0)
		want = (unsigned long long)count < s->m.n ? (size_t)count : s->m.n;
	else
		want = (size_t)-count;
	if (r->elements != want * stride)
		return "wrong number of elements";
	for (size_t i = 0; i < r->elements && why == NULL; i += stride) {
		long at = snap_find(s, r->element[i]->str, r->element[i]->len);

		if (at < 0) {
			why = "not a member";
		} else if (withvals) {
			const struct dt_str *v = &s->val[at];
			const redisReply *rv = r->element[i + 1];

			if (rv->len != v->len || memcmp(rv->str, v->p, v->len) != 0)
				why = "a value that is not the member's";
		}
		ss_add(&seen, r->element[i]->str, r->element[i]->len);
	}
	if (why == NULL && count >= 0) {
		size_t n = seen.n;

		ss_sort(&seen, true);
		if (seen.n != n)
			why = "the same member twice (count >= 0 wants distinct ones)";
	}
	ss_free(&seen);
	return why;
}

/* Parse the count argument (if it is one). */
static bool parse_count_arg(const struct dt_args *a, int idx, long long *out)
{
	char *end;

	if (idx >= a->argc || a->len[idx] == 0)
		return false;
	errno = 0;
	*out = strtoll(a->argv[idx], &end, 10);
	return errno == 0 && end == a->argv[idx] + a->len[idx] &&
	       !isspace((unsigned char)a->argv[idx][0]);
}

/* Send the random pick in t->args (run right after the snapshot read, no
 * gate in between) and check it: exactly when either side errs, the key
 * holds another type, the collection is empty or the count is 0 (no choice
 * to make); otherwise each reply against the snapshot. */
static void exec_pick(struct dt *t, const struct dt_snap *s, int count_idx, bool withvals)
{
	long long count = 0;
	bool has_count = t->args.argc > count_idx;
	const char *why[2] = {NULL, NULL};

	dt_send_both(t);
	if (!s->ok || t->r[0]->type == REDIS_REPLY_ERROR || t->r[1]->type == REDIS_REPLY_ERROR ||
	    s->m.n == 0 ||
	    (has_count && (!parse_count_arg(&t->args, count_idx, &count) || count == 0))) {
		dt_check(t, DT_CMP_EXACT);
		return;
	}
	for (int i = 0; i < 2; i++)
		why[i] = check_pick(s, t->r[i], has_count, count, withvals);
	if (why[0] || why[1]) {
		char msg[300];

		snprintf(msg, sizeof(msg), "random pick checked against the content read just before: A %s, B %s",
			 why[0] ? why[0] : "ok", why[1] ? why[1] : "ok");
		dt_fail(t, msg);
	}
}

/* A count for random picks: small either way (a huge negative count asks
 * for that many picks), or invalid. */
static void add_pick_count(struct dt *t, bool allow_negative)
{
	static const char *const bad[] = {"abc", "", "1.5", "-9223372036854775808",
					  "9223372036854775808"};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 80)
		args_ll(&t->args, rng_range(&t->rng, allow_negative ? -8 : 0, 8));
	else if (c < 88)
		args_ll(&t->args, rng_range(&t->rng, 9, 200));
	else if (c < 92)
		args_str(&t->args, "9223372036854775807");
	else if (c < 95)
		args_ll(&t->args, allow_negative ? -rng_range(&t->rng, 9, 300) : -1);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* ------------------------------------------------------------------ sets */

static void gen_sadd(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);
	int k, n;

	start_cmd(t, "SADD");
	k = add_home_key(t, DT_HOME_SET);
	if (c < 90) {
		n = (int)rng_range(&t->rng, 1, 5);
		for (int i = 0; i < n; i++)
			add_member(t);
	} else if (c < 94) {
		/* Integers only: an intset (in 16, 32 or 64 bits). */
		n = (int)rng_range(&t->rng, 10, 100);
		for (int i = 0; i < n; i++)
			args_ll(&t->args, rng_range(&t->rng, -40000, 40000));
	} else if (c < 97) {
		/* Past set-max-listpack-entries (7.2): a hashtable. */
		n = (int)rng_range(&t->rng, 125, 160);
		for (int i = 0; i < n; i++)
			args_fmt(&t->args, "m%lld", (long long)rng_range(&t->rng, 0, 400));
	} else {
		/* Past set-max-intset-entries. */
		n = (int)rng_range(&t->rng, 505, 540);
		for (int i = 0; i < n; i++)
			args_ll(&t->args, i * 3 + rng_range(&t->rng, 0, 2));
	}
	dt_exec(t, DT_CMP_EXACT);
	if (c >= 90 && !t->in_multi)
		check_encoding(t, k);
}

static void gen_skey_members(struct dt *t, const char *name, int nmin, int nmax)
{
	int n = (int)rng_range(&t->rng, nmin, nmax);

	start_cmd(t, name);
	add_home_key(t, DT_HOME_SET);
	for (int i = 0; i < n; i++)
		add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_srem(struct dt *t)
{
	gen_skey_members(t, "SREM", 1, 4);
}

static void gen_sismember(struct dt *t)
{
	gen_skey_members(t, "SISMEMBER", 1, 1);
}

static void gen_smismember(struct dt *t)
{
	gen_skey_members(t, "SMISMEMBER", 1, 5);
}

static void gen_smembers(struct dt *t)
{
	gen_key1(t, "SMEMBERS", DT_HOME_SET, DT_CMP_SORTED_KEY);
}

static void gen_scard(struct dt *t)
{
	gen_key1(t, "SCARD", DT_HOME_SET, DT_CMP_EXACT);
}

static void gen_srandmember(struct dt *t)
{
	int k = pick_home(t, DT_HOME_SET);
	struct dt_snap s;

	snap_read(t, k, DT_HOME_SET, &s);
	start_cmd(t, "SRANDMEMBER");
	add_key(t, k);
	if (rng_pct(&t->rng, 65))
		add_pick_count(t, true);
	exec_pick(t, &s, 2, false);
	snap_free(&s);
}

/* Every bulk in reply r (a bulk or an array of them). */
static void collect_bulks(struct dt_strset *set, const redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING)
		ss_add(set, r->str, r->len);
	else if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			collect_bulks(set, r->element[i]);
}

/* After SPOP (the only random removal): read the set on both, check each lost exactly what it returned, and if
 * the two now differ, rewrite the key on both with A's content (DEL, then
 * SADD), so the sequence goes on from identical data. */
static void spop_resync(struct dt *t, int k, const struct dt_snap *before)
{
	struct dt_strset popped[2] = {{0}, {0}}, after[2] = {{0}, {0}};
	const char *why = NULL;

	for (int i = 0; i < 2; i++) {
		collect_bulks(&popped[i], t->r[i]);
		ss_sort(&popped[i], true);
	}
	start_plain(t, "SMEMBERS");
	add_key(t, k);
	dt_send_both(t);
	for (int i = 0; i < 2 && why == NULL; i++) {
		struct dt_strset want = {0};

		collect_bulks(&after[i], t->r[i]);
		ss_sort(&after[i], false);
		for (size_t j = 0; j < before->m.n; j++) {
			const struct dt_str *m = &before->m.v[j];
			const struct dt_str *hit =
				popped[i].n ? bsearch(m, popped[i].v, popped[i].n, sizeof(*m), dt_str_cmp)
					    : NULL;

			if (hit == NULL)
				ss_add(&want, m->p, m->len);
		}
		if (!ss_eq(&want, &after[i]))
			why = i == 0 ? "after SPOP, A's set is not its old content minus what it returned"
				     : "after SPOP, B's set is not its old content minus what it returned";
		ss_free(&want);
	}
	if (why)
		dt_fail(t, why);
	if (!ss_eq(&after[0], &after[1])) {
		start_plain(t, "DEL");
		add_key(t, k);
		dt_exec_next(t, DT_CMP_EXACT);
		if (after[0].n) {
			start_plain(t, "SADD");
			add_key(t, k);
			for (size_t j = 0; j < after[0].n; j++)
				args_add(&t->args, after[0].v[j].p, after[0].v[j].len);
			dt_exec_next(t, DT_CMP_EXACT);
		}
	}
	for (int i = 0; i < 2; i++) {
		ss_free(&popped[i]);
		ss_free(&after[i]);
	}
}

static void gen_spop(struct dt *t)
{
	int k = pick_home(t, DT_HOME_SET);
	struct dt_snap s;

	snap_read(t, k, DT_HOME_SET, &s);
	start_cmd(t, "SPOP");
	add_key(t, k);
	if (rng_pct(&t->rng, 50))
		add_pick_count(t, false);
	exec_pick(t, &s, 2, false);
	if (s.ok && s.m.n > 0 && t->r[0]->type != REDIS_REPLY_ERROR)
		spop_resync(t, k, &s);
	snap_free(&s);
}

static void gen_smove(struct dt *t)
{
	start_cmd(t, "SMOVE");
	add_src_dst(t, DT_HOME_SET);
	add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* Source keys for set algebra: sets mostly, now and then another type. */
static void gen_setop(struct dt *t, const char *name, bool store, enum dt_cmp cmp)
{
	int n = (int)rng_range(&t->rng, 1, 4), dst = -1;

	start_cmd(t, name);
	if (store) {
		dst = pick_home(t, DT_HOME_SET);
		add_key(t, dst);
		/* the destination is often one of the sources */
		if (rng_pct(&t->rng, 25)) {
			add_key(t, dst);
			n--;
		}
		for (int i = 0; i < n; i++)
			add_key(t, pick_home_related(t, dst, DT_HOME_SET));
		if (n == 0 && rng_pct(&t->rng, 50))
			add_key(t, pick_home_related(t, dst, DT_HOME_SET));
	} else {
		add_home_keys(t, n, DT_HOME_SET);
	}
	dt_exec(t, cmp);
	if (store && !t->in_multi && rng_pct(&t->rng, 30))
		check_encoding(t, dst);
}

static void gen_sinter(struct dt *t)
{
	gen_setop(t, "SINTER", false, DT_CMP_SORTED);
}

static void gen_sunion(struct dt *t)
{
	gen_setop(t, "SUNION", false, DT_CMP_SORTED);
}

static void gen_sdiff(struct dt *t)
{
	gen_setop(t, "SDIFF", false, DT_CMP_SORTED);
}

static void gen_sinterstore(struct dt *t)
{
	gen_setop(t, "SINTERSTORE", true, DT_CMP_EXACT);
}

static void gen_sunionstore(struct dt *t)
{
	gen_setop(t, "SUNIONSTORE", true, DT_CMP_EXACT);
}

static void gen_sdiffstore(struct dt *t)
{
	gen_setop(t, "SDIFFSTORE", true, DT_CMP_EXACT);
}

/* SINTERCARD / ZINTERCARD numkeys key... [LIMIT n] */
static void gen_intercard(struct dt *t, const char *name, int home)
{
	int n = (int)rng_range(&t->rng, 1, 3);

	start_cmd(t, name);
	add_numkeys(t, n);
	add_home_keys(t, n, home);
	if (rng_pct(&t->rng, 40)) {
		add_word(t, "LIMIT");
		add_int_arg(t, -1, 5);
	}
	add_junk(t, "LIMIT");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_sintercard(struct dt *t)
{
	gen_intercard(t, "SINTERCARD", DT_HOME_SET);
}

/* Member patterns for SSCAN/HSCAN/ZSCAN MATCH. */
static const char *const dt_mpatterns[] = {
	"*", "a*", "*a*", "[a-c]*", "?", "??", "1*", "*0", "m1*", "f*", "\\**", "[^a]*", "",
	"**", "[1-]*", "[^",  /* glob edges, as dt_patterns' */
};
#define DT_NMPATTERNS (sizeof(dt_mpatterns) / sizeof(dt_mpatterns[0]))

/* SSCAN/HSCAN/ZSCAN key cursor [MATCH p] [COUNT n]: iterated to cursor 0
 * on both; the de-duplicated sets of elements (field/value or
 * member/score pairs) must match. */
static void gen_xscan(struct dt *t, const char *name, int home, size_t stride)
{
	bool match_first = rng_pct(&t->rng, 50);

	start_cmd(t, name);
	add_home_key(t, home);
	/* Only 0 or invalid: where a non-zero cursor leads in a hashtable is
	 * the implementation's business. */
	if (rng_pct(&t->rng, 3))
		args_str(&t->args, rng_pct(&t->rng, 50) ? "abc" : "");
	else
		args_str(&t->args, "0");
	for (int i = 0; i < 2; i++) {
		if ((i == 0) == match_first) {
			if (rng_pct(&t->rng, 40)) {
				add_word(t, "MATCH");
				args_str(&t->args, dt_mpatterns[rng_below(&t->rng, DT_NMPATTERNS)]);
			}
		} else if (rng_pct(&t->rng, 40)) {
			add_word(t, "COUNT");
			if (rng_pct(&t->rng, 92))
				args_ll(&t->args, rng_range(&t->rng, 1, 30));
			else
				args_str(&t->args, rng_pct(&t->rng, 50) ? "0" : "abc");
		}
	}
	add_junk(t, "MATCH");
	scan_compare(t, 2, stride, false);
}

static void gen_sscan(struct dt *t)
{
	gen_xscan(t, "SSCAN", DT_HOME_SET, 1);
}

static void gen_hscan(struct dt *t)
{
	gen_xscan(t, "HSCAN", DT_HOME_HASH, 2);
}

static void gen_hrandfield(struct dt *t)
{
	int k = pick_home(t, DT_HOME_HASH);
	bool withvals = false;
	struct dt_snap s;

	snap_read(t, k, DT_HOME_HASH, &s);
	start_cmd(t, "HRANDFIELD");
	add_key(t, k);
	if (rng_pct(&t->rng, 65)) {
		add_pick_count(t, true);
		if (rng_pct(&t->rng, 45)) {
			withvals = true;
			add_word(t, rng_pct(&t->rng, 97) ? "WITHVALUES" : "WITHSCORES");
		}
	}
	exec_pick(t, &s, 2, withvals);
	snap_free(&s);
}

/* ----------------------------------------------------------- sorted sets */

static void shuffle(struct dt *t, int *v, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rng_below(&t->rng, (uint64_t)i + 1), tmp = v[i];

		v[i] = v[j];
		v[j] = tmp;
	}
}

/* ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ..., flags in any
 * order, incompatible combinations included. */
static void gen_zadd(struct dt *t)
{
	int order[4] = {0, 1, 2, 3}, k, n;
	bool incr = false;
	uint64_t c;

	start_cmd(t, "ZADD");
	k = add_home_key(t, DT_HOME_ZSET);
	shuffle(t, order, 4);
	for (int i = 0; i < 4; i++) {
		c = rng_below(&t->rng, 100);
		switch (order[i]) {
		case 0:
			if (c < 12)
				add_word(t, "NX");
			else if (c < 24)
				add_word(t, "XX");
			else if (c < 25) {
				add_word(t, "NX");
				add_word(t, "XX");
			}
			break;
		case 1:
			if (c < 9)
				add_word(t, "GT");
			else if (c < 18)
				add_word(t, "LT");
			else if (c < 19) {
				add_word(t, "GT");
				add_word(t, "LT");
			}
			break;
		case 2:
			if (c < 15)
				add_word(t, "CH");
			break;
		case 3:
			if (c < 10) {
				add_word(t, "INCR");
				incr = true;
			}
			break;
		}
	}
	c = rng_below(&t->rng, 100);
	if (incr)
		n = rng_pct(&t->rng, 90) ? 1 : 2;
	else if (c < 96)
		n = (int)rng_range(&t->rng, 1, 4);
	else
		n = -(int)rng_range(&t->rng, 125, 150); /* past zset-max-listpack-entries */
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			add_score(t);
			add_member(t);
		}
	} else {
		for (int i = 0; i < -n; i++) {
			add_good_score(t);
			args_fmt(&t->args, "m%lld", (long long)rng_range(&t->rng, 0, 300));
		}
	}
	if (rng_pct(&t->rng, 2))
		add_score(t); /* a score without a member */
	dt_exec(t, DT_CMP_EXACT);
	if (n < 0 && !t->in_multi)
		check_encoding(t, k);
}

static void gen_zincrby(struct dt *t)
{
	start_cmd(t, "ZINCRBY");
	add_home_key(t, DT_HOME_ZSET);
	add_score(t);
	add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zkey_members(struct dt *t, const char *name, int nmin, int nmax)
{
	int n = (int)rng_range(&t->rng, nmin, nmax);

	start_cmd(t, name);
	add_home_key(t, DT_HOME_ZSET);
	for (int i = 0; i < n; i++)
		add_member(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zrem(struct dt *t)
{
	gen_zkey_members(t, "ZREM", 1, 4);
}

static void gen_zscore(struct dt *t)
{
	gen_zkey_members(t, "ZSCORE", 1, 1);
}

static void gen_zmscore(struct dt *t)
{
	gen_zkey_members(t, "ZMSCORE", 1, 5);
}

static void gen_zrank(struct dt *t)
{
	gen_zkey_members(t, "ZRANK", 1, 1);
}

static void gen_zrevrank(struct dt *t)
{
	gen_zkey_members(t, "ZREVRANK", 1, 1);
}

static void gen_zcard(struct dt *t)
{
	gen_key1(t, "ZCARD", DT_HOME_ZSET, DT_CMP_EXACT);
}

/* A score range bound: inclusive, exclusive "(", infinite, or invalid. */
static void add_score_bound(struct dt *t)
{
	static const char *const fixed[] = {"-inf", "+inf", "inf", "(1.5", "2.5", "(-inf", "-0"};
	static const char *const bad[] = {"abc", "((1", "(", "", "nan", "[1"};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 55)
		args_fmt(&t->args, "%s%lld", rng_pct(&t->rng, 30) ? "(" : "",
			 (long long)rng_range(&t->rng, -20, 20));
	else if (c < 90)
		args_str(&t->args, fixed[rng_below(&t->rng, sizeof(fixed) / sizeof(fixed[0]))]);
	else if (c < 95)
		add_score(t);
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

/* A lex range bound: "-", "+", "[x" or "(x", or invalid. */
static void add_lex_bound(struct dt *t)
{
	static const char *const bad[] = {"a", "", "abc", "1"};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 12) {
		args_str(&t->args, "-");
	} else if (c < 24) {
		args_str(&t->args, "+");
	} else if (c < 95) {
		const char *m = dt_members[rng_below(&t->rng, DT_NMEMBERS)];
		char buf[32];

		if (rng_pct(&t->rng, 30))
			snprintf(buf, sizeof(buf), "%c%lld", rng_pct(&t->rng, 50) ? '[' : '(',
				 (long long)rng_range(&t->rng, 0, 20));
		else
			snprintf(buf, sizeof(buf), "%c%s", rng_pct(&t->rng, 50) ? '[' : '(', m);
		args_str(&t->args, buf);
	} else {
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	}
}

/* Lex ranges are only defined when all scores are equal (else Redis' result
 * depends on its skiplist's random levels): read the zset at key k with a
 * compared step and, if its scores differ, set them all to 0 on both. */
static void level_lex(struct dt *t, int k)
{
	const redisReply *r;
	bool mixed = false;

	start_plain(t, "ZRANGE");
	add_key(t, k);
	args_str(&t->args, "0");
	args_str(&t->args, "-1");
	args_str(&t->args, "WITHSCORES");
	dt_exec(t, DT_CMP_EXACT);
	r = t->r[0];
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 || !dt_strings_array(r))
		return;
	for (size_t i = 3; i < r->elements; i += 2)
		if (r->element[i]->len != r->element[1]->len ||
		    memcmp(r->element[i]->str, r->element[1]->str, r->element[1]->len) != 0)
			mixed = true;
	if (!mixed)
		return;
	{
		struct dt_args zadd = {0};

		args_str(&zadd, "ZADD");
		args_add(&zadd, t->keys[k].p, t->keys[k].len);
		for (size_t i = 0; i < r->elements; i += 2) {
			args_str(&zadd, "0");
			args_add(&zadd, r->element[i]->str, r->element[i]->len);
		}
		args_free(&t->args);
		t->args = zadd;
	}
	dt_exec_next(t, DT_CMP_EXACT);
}

static void add_limit(struct dt *t)
{
	add_word(t, "LIMIT");
	add_int_arg(t, -1, 5);
	add_int_arg(t, -2, 6);
}

/* ZRANGE / ZRANGESTORE: by index, BYSCORE or BYLEX, REV, LIMIT and
 * WITHSCORES in any order, invalid combinations included. */
static void gen_zrange_common(struct dt *t, bool store)
{
	int order[4] = {0, 1, 2, 3}, src, dst = -1;
	uint64_t mode = rng_below(&t->rng, 100);

	src = pick_home(t, DT_HOME_ZSET);
	if (store)
		dst = pick_home_related(t, src, DT_HOME_ZSET);
	if (mode >= 75)
		level_lex(t, src);
	start_cmd(t, store ? "ZRANGESTORE" : "ZRANGE");
	if (store)
		add_key(t, dst);
	add_key(t, src);
	for (int i = 0; i < 2; i++) {
		if (mode < 50)
			add_int_arg(t, -8, 8);
		else if (mode < 75)
			add_score_bound(t);
		else
			add_lex_bound(t);
	}
	shuffle(t, order, 4);
	for (int i = 0; i < 4; i++) {
		switch (order[i]) {
		case 0:
			if (mode >= 50 && mode < 75 && rng_pct(&t->rng, 95))
				add_word(t, "BYSCORE");
			else if (mode >= 75 && rng_pct(&t->rng, 95))
				add_word(t, "BYLEX");
			else if (mode < 50 && rng_pct(&t->rng, 3))
				add_word(t, "BYSCORE");
			break;
		case 1:
			if (rng_pct(&t->rng, 30))
				add_word(t, "REV");
			break;
		case 2:
			if (rng_pct(&t->rng, mode < 50 ? 4 : 30))
				add_limit(t);
			break;
		case 3:
			if (rng_pct(&t->rng, store ? 2 : 40))
				add_word(t, "WITHSCORES");
			break;
		}
	}
	add_junk(t, "LIMIT");
	if (mode >= 75)
		dt_exec_next(t, DT_CMP_EXACT); /* right after level_lex's gated step */
	else
		dt_exec(t, DT_CMP_EXACT);
	if (store && !t->in_multi && rng_pct(&t->rng, 30))
		check_encoding(t, dst);
}

static void gen_zrange(struct dt *t)
{
	gen_zrange_common(t, false);
}

static void gen_zrangestore(struct dt *t)
{
	gen_zrange_common(t, true);
}

static void gen_zrevrange(struct dt *t)
{
	start_cmd(t, "ZREVRANGE");
	add_home_key(t, DT_HOME_ZSET);
	add_int_arg(t, -8, 8);
	add_int_arg(t, -8, 8);
	if (rng_pct(&t->rng, 40))
		add_word(t, "WITHSCORES");
	add_junk(t, NULL);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zrangebyscore_common(struct dt *t, const char *name)
{
	bool limit_first = rng_pct(&t->rng, 30);

	start_cmd(t, name);
	add_home_key(t, DT_HOME_ZSET);
	add_score_bound(t);
	add_score_bound(t);
	for (int i = 0; i < 2; i++) {
		if ((i == 0) == limit_first) {
			if (rng_pct(&t->rng, 30))
				add_limit(t);
		} else if (rng_pct(&t->rng, 40)) {
			add_word(t, "WITHSCORES");
		}
	}
	add_junk(t, "LIMIT");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zrangebyscore(struct dt *t)
{
	gen_zrangebyscore_common(t, "ZRANGEBYSCORE");
}

static void gen_zrevrangebyscore(struct dt *t)
{
	gen_zrangebyscore_common(t, "ZREVRANGEBYSCORE");
}

static void gen_zrangebylex_common(struct dt *t, const char *name)
{
	int k = pick_home(t, DT_HOME_ZSET);

	level_lex(t, k);
	start_cmd(t, name);
	add_key(t, k);
	add_lex_bound(t);
	add_lex_bound(t);
	if (rng_pct(&t->rng, 30))
		add_limit(t);
	add_junk(t, "LIMIT");
	dt_exec_next(t, DT_CMP_EXACT);
}

static void gen_zrangebylex(struct dt *t)
{
	gen_zrangebylex_common(t, "ZRANGEBYLEX");
}

static void gen_zrevrangebylex(struct dt *t)
{
	gen_zrangebylex_common(t, "ZREVRANGEBYLEX");
}

static void gen_zcount(struct dt *t)
{
	start_cmd(t, "ZCOUNT");
	add_home_key(t, DT_HOME_ZSET);
	add_score_bound(t);
	add_score_bound(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zlexcount(struct dt *t)
{
	int k = pick_home(t, DT_HOME_ZSET);

	level_lex(t, k);
	start_cmd(t, "ZLEXCOUNT");
	add_key(t, k);
	add_lex_bound(t);
	add_lex_bound(t);
	dt_exec_next(t, DT_CMP_EXACT);
}

static void gen_zpop_common(struct dt *t, const char *name)
{
	start_cmd(t, name);
	add_home_key(t, DT_HOME_ZSET);
	if (rng_pct(&t->rng, 45))
		add_count(t, -2, 6);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zpopmin(struct dt *t)
{
	gen_zpop_common(t, "ZPOPMIN");
}

static void gen_zpopmax(struct dt *t)
{
	gen_zpop_common(t, "ZPOPMAX");
}

static void gen_zmpop(struct dt *t)
{
	start_cmd(t, "ZMPOP");
	add_mpop_tail(t, DT_HOME_ZSET, "MIN", "MAX");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_bzpopmin(struct dt *t)
{
	gen_bpop_common(t, "BZPOPMIN", DT_HOME_ZSET);
}

static void gen_bzpopmax(struct dt *t)
{
	gen_bpop_common(t, "BZPOPMAX", DT_HOME_ZSET);
}

static void gen_bzmpop(struct dt *t)
{
	start_cmd(t, "BZMPOP");
	add_timeout(t);
	add_mpop_tail(t, DT_HOME_ZSET, "MIN", "MAX");
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zrandmember(struct dt *t)
{
	int k = pick_home(t, DT_HOME_ZSET);
	bool withscores = false;
	struct dt_snap s;

	snap_read(t, k, DT_HOME_ZSET, &s);
	start_cmd(t, "ZRANDMEMBER");
	add_key(t, k);
	if (rng_pct(&t->rng, 65)) {
		add_pick_count(t, true);
		if (rng_pct(&t->rng, 45)) {
			withscores = true;
			add_word(t, rng_pct(&t->rng, 97) ? "WITHSCORES" : "WITHVALUES");
		}
	}
	exec_pick(t, &s, 2, withscores);
	snap_free(&s);
}

/* Source keys for zset algebra: sorted sets, sets now and then (score 1),
 * and whatever pick_home_related brings. */
static int add_zsources(struct dt *t, int n, int first)
{
	if (first < 0)
		first = pick_home(t, DT_HOME_ZSET);
	add_key(t, first);
	for (int i = 1; i < n; i++)
		add_key(t, rng_pct(&t->rng, 80) ? pick_home_related(t, first, DT_HOME_ZSET)
						: pick_home_related(t, first, DT_HOME_SET));
	return first;
}

static void add_weights(struct dt *t, int n)
{
	static const char *const w[] = {"1", "2", "-1", "0.5", "0", "1.5", "-0.25", "3"};
	static const char *const bad[] = {"abc", "", "nan", "inf"};
	int m = n;

	add_word(t, "WEIGHTS");
	if (rng_pct(&t->rng, 5))
		m = n + (rng_pct(&t->rng, 50) ? 1 : -1);
	for (int i = 0; i < m; i++) {
		if (rng_pct(&t->rng, 95))
			args_str(&t->args, w[rng_below(&t->rng, sizeof(w) / sizeof(w[0]))]);
		else
			args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	}
}

static void add_aggregate(struct dt *t)
{
	static const char *const ag[] = {"SUM", "MIN", "MAX", "AVG"};

	add_word(t, "AGGREGATE");
	args_str(&t->args, ag[rng_below(&t->rng, rng_pct(&t->rng, 95) ? 3 : 4)]);
}

/* ZUNION/ZINTER/ZDIFF [STORE dst] numkeys key... [WEIGHTS ...]
 * [AGGREGATE ...] [WITHSCORES]. */
static void gen_zsetop(struct dt *t, const char *name, bool store, bool diff)
{
	int n = (int)rng_range(&t->rng, 1, 4), dst = -1, order[3] = {0, 1, 2};

	start_cmd(t, name);
	if (store) {
		dst = pick_home(t, DT_HOME_ZSET);
		add_key(t, dst);
	}
	add_numkeys(t, n);
	add_zsources(t, n, store && rng_pct(&t->rng, 25) ? dst : -1);
	shuffle(t, order, 3);
	for (int i = 0; i < 3; i++) {
		switch (order[i]) {
		case 0:
			if (rng_pct(&t->rng, diff ? 3 : 35))
				add_weights(t, n);
			break;
		case 1:
			if (rng_pct(&t->rng, diff ? 3 : 35))
				add_aggregate(t);
			break;
		case 2:
			if (rng_pct(&t->rng, store ? 3 : 45))
				add_word(t, "WITHSCORES");
			break;
		}
	}
	add_junk(t, "WEIGHTS");
	dt_exec(t, DT_CMP_EXACT);
	if (store && !t->in_multi && rng_pct(&t->rng, 30))
		check_encoding(t, dst);
}

static void gen_zunion(struct dt *t)
{
	gen_zsetop(t, "ZUNION", false, false);
}

static void gen_zinter(struct dt *t)
{
	gen_zsetop(t, "ZINTER", false, false);
}

static void gen_zdiff(struct dt *t)
{
	gen_zsetop(t, "ZDIFF", false, true);
}

static void gen_zunionstore(struct dt *t)
{
	gen_zsetop(t, "ZUNIONSTORE", true, false);
}

static void gen_zinterstore(struct dt *t)
{
	gen_zsetop(t, "ZINTERSTORE", true, false);
}

static void gen_zdiffstore(struct dt *t)
{
	gen_zsetop(t, "ZDIFFSTORE", true, true);
}

static void gen_zintercard(struct dt *t)
{
	gen_intercard(t, "ZINTERCARD", DT_HOME_ZSET);
}

static void gen_zremrangebyrank(struct dt *t)
{
	start_cmd(t, "ZREMRANGEBYRANK");
	add_home_key(t, DT_HOME_ZSET);
	add_int_arg(t, -8, 8);
	add_int_arg(t, -8, 8);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zremrangebyscore(struct dt *t)
{
	start_cmd(t, "ZREMRANGEBYSCORE");
	add_home_key(t, DT_HOME_ZSET);
	add_score_bound(t);
	add_score_bound(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_zremrangebylex(struct dt *t)
{
	int k = pick_home(t, DT_HOME_ZSET);

	level_lex(t, k);
	start_cmd(t, "ZREMRANGEBYLEX");
	add_key(t, k);
	add_lex_bound(t);
	add_lex_bound(t);
	dt_exec_next(t, DT_CMP_EXACT);
}

static void gen_zscan(struct dt *t)
{
	gen_xscan(t, "ZSCAN", DT_HOME_ZSET, 2);
}

/* --------------------------------------------------------------- bitmaps */

/* A bit offset: small (the string stays small), or invalid; never a large
 * valid one for writes (it would allocate up to 512 MB on both). */
static void add_bit_offset(struct dt *t, bool write)
{
	static const char *const bad[] = {"4294967296", "-1", "abc", "", "1.5"};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 93)
		args_ll(&t->args, rng_range(&t->rng, 0, write ? 300 : 400));
	else if (c < 96 && !write)
		args_str(&t->args, "4294967295");
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

static void gen_setbit(struct dt *t)
{
	static const char *const bad[] = {"2", "-1", "abc", "", "01"};

	start_cmd(t, "SETBIT");
	add_home_key(t, DT_HOME_STR);
	add_bit_offset(t, true);
	if (rng_pct(&t->rng, 96))
		args_ll(&t->args, rng_range(&t->rng, 0, 1));
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getbit(struct dt *t)
{
	start_cmd(t, "GETBIT");
	add_home_key(t, DT_HOME_STR);
	add_bit_offset(t, false);
	dt_exec(t, DT_CMP_EXACT);
}

static void add_bit_unit(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 45)
		add_word(t, "BYTE");
	else if (c < 95)
		add_word(t, "BIT");
	else
		add_word(t, "WORD");
}

static void gen_bitcount(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "BITCOUNT");
	add_home_key(t, DT_HOME_STR);
	if (c >= 30) {
		add_int_arg(t, -12, 12);
		if (c >= 33)
			add_int_arg(t, -12, 40);
		if (c >= 65)
			add_bit_unit(t);
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_bitpos(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "BITPOS");
	add_home_key(t, DT_HOME_STR);
	if (rng_pct(&t->rng, 96))
		args_ll(&t->args, rng_range(&t->rng, 0, 1));
	else
		args_str(&t->args, rng_pct(&t->rng, 50) ? "2" : "x");
	if (c >= 35) {
		add_int_arg(t, -12, 12);
		if (c >= 55)
			add_int_arg(t, -12, 40);
		if (c >= 75)
			add_bit_unit(t);
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_bitop(struct dt *t)
{
	static const char *const ops[] = {"AND", "OR", "XOR", "NOT", "NAND"};
	uint64_t c = rng_below(&t->rng, 100);
	const char *op = ops[c < 25 ? 0 : c < 50 ? 1 : c < 75 ? 2 : c < 97 ? 3 : 4];
	int n = strcmp(op, "NOT") == 0 ? (rng_pct(&t->rng, 95) ? 1 : 2)
				       : (int)rng_range(&t->rng, 1, 4);
	int dst;

	start_cmd(t, "BITOP");
	add_word(t, op);
	dst = add_home_key(t, DT_HOME_STR);
	for (int i = 0; i < n; i++)
		add_key(t, rng_pct(&t->rng, 15) ? dst : pick_home_related(t, dst, DT_HOME_STR));
	dt_exec(t, DT_CMP_EXACT);
}

/* A BITFIELD type: i1..i64, u1..u63, or invalid (u64, i65, i0, I8...). */
static void add_bf_type(struct dt *t)
{
	static const char *const bad[] = {"u64", "i65", "i0", "u0", "x8", "u", "I8", "i-1", ""};

	if (rng_pct(&t->rng, 92)) {
		bool sign = rng_pct(&t->rng, 50);

		args_fmt(&t->args, "%c%lld", sign ? 'i' : 'u',
			 (long long)(rng_pct(&t->rng, 70) ? rng_range(&t->rng, 1, 16)
							  : rng_range(&t->rng, 1, sign ? 64 : 63)));
	} else {
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
	}
}

static void add_bf_offset(struct dt *t)
{
	static const char *const bad[] = {"-1", "abc", "#-1", "4294967296", "#", ""};
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 78)
		args_ll(&t->args, rng_range(&t->rng, 0, 200));
	else if (c < 95)
		args_fmt(&t->args, "#%lld", (long long)rng_range(&t->rng, 0, 20));
	else
		args_str(&t->args, bad[rng_below(&t->rng, sizeof(bad) / sizeof(bad[0]))]);
}

static void add_bf_value(struct dt *t)
{
	static const char *const edge[] = {"9223372036854775807", "-9223372036854775808",
					   "9223372036854775808", "abc", "", "1.5"};

	if (rng_pct(&t->rng, 90))
		args_ll(&t->args, rng_pct(&t->rng, 70) ? rng_range(&t->rng, -300, 300)
						       : rng_range(&t->rng, -5000000000LL, 5000000000LL));
	else
		args_str(&t->args, edge[rng_below(&t->rng, sizeof(edge) / sizeof(edge[0]))]);
}

/* BITFIELD key [GET t o] [SET t o v] [INCRBY t o i] [OVERFLOW WRAP|SAT|FAIL]
 * ...; BITFIELD_RO takes GET only. */
static void gen_bitfield_common(struct dt *t, bool ro)
{
	static const char *const ovf[] = {"WRAP", "SAT", "FAIL", "WRAP", "SAT", "FAIL", "BOGUS"};
	int n = (int)rng_range(&t->rng, ro ? 1 : 0, 4);

	start_cmd(t, ro ? "BITFIELD_RO" : "BITFIELD");
	add_home_key(t, DT_HOME_STR);
	for (int i = 0; i < n; i++) {
		uint64_t c = rng_below(&t->rng, 100);

		if (ro && c >= 4)
			c = 0;
		if (c < 35) {
			add_word(t, "GET");
			add_bf_type(t);
			add_bf_offset(t);
		} else if (c < 60) {
			add_word(t, "SET");
			add_bf_type(t);
			add_bf_offset(t);
			add_bf_value(t);
		} else if (c < 85) {
			add_word(t, "INCRBY");
			add_bf_type(t);
			add_bf_offset(t);
			add_bf_value(t);
		} else if (c < 98) {
			add_word(t, "OVERFLOW");
			add_word(t, ovf[rng_below(&t->rng, sizeof(ovf) / sizeof(ovf[0]))]);
		} else {
			add_word(t, rng_pct(&t->rng, 50) ? "GET" : "FOO");
		}
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_bitfield(struct dt *t)
{
	gen_bitfield_common(t, false);
}

static void gen_bitfield_ro(struct dt *t)
{
	gen_bitfield_common(t, true);
}

/* ----------------------------------------------------------- HyperLogLog */

static void gen_pfadd(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);
	int n;

	start_cmd(t, "PFADD");
	add_home_key(t, DT_HOME_HLL);
	if (c < 97) {
		n = (int)rng_range(&t->rng, 0, 6);
		for (int i = 0; i < n; i++)
			add_member(t);
	} else {
		/* Enough distinct elements to leave the sparse representation. */
		n = (int)rng_range(&t->rng, 300, 2500);
		for (int i = 0; i < n; i++)
			args_fmt(&t->args, "e%lld", (long long)rng_range(&t->rng, 0, 100000));
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_pfcount(struct dt *t)
{
	start_cmd(t, "PFCOUNT");
	add_home_keys(t, (int)rng_range(&t->rng, 1, 3), DT_HOME_HLL);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_pfmerge(struct dt *t)
{
	int n = (int)rng_range(&t->rng, 0, 3), dst;

	start_cmd(t, "PFMERGE");
	dst = add_home_key(t, DT_HOME_HLL);
	for (int i = 0; i < n; i++)
		add_key(t, pick_home_related(t, dst, DT_HOME_HLL));
	dt_exec(t, DT_CMP_EXACT);
}

/* ------------------------------------------------------------------ SORT */

/* Patterns name pool keys ("k*" with element 5 -> k5) and hash fields of
 * them ("k*->a"). */
static const char *const dt_sort_by[] = {
	"k*", "{t}k*", "{u}k*", "k*->a", "{t}k*->b", "k*->f", "nokey*", "k*->", "*", "k?",
};
static const char *const dt_sort_get[] = {
	"#", "k*", "k*->a", "{t}k*", "{u}k*->b", "nokey*", "#", "k*->", "*",
};

/* Redis's hash tag of a key: what is between the first '{' and the next
 * '}' if that is not empty, else the whole key. */
static void hash_tag(const char *p, size_t n, const char **tp, size_t *tn)
{
	const char *open = memchr(p, '{', n), *close;

	*tp = p;
	*tn = n;
	if (open == NULL)
		return;
	close = memchr(open + 1, '}', n - (size_t)(open + 1 - p));
	if (close == NULL || close == open + 1)
		return;
	*tp = open + 1;
	*tn = (size_t)(close - open - 1);
}

static bool same_tag(const char *a, size_t an, const char *b, size_t bn)
{
	const char *ta, *tb;
	size_t na, nb;

	hash_tag(a, an, &ta, &na);
	hash_tag(b, bn, &tb, &nb);
	return na == nb && memcmp(ta, tb, na) == 0;
}

/* With several shards keyrail refuses, on purpose (shards/t_sort.c, like
 * Redis Cluster), SORT patterns that reach another shard's keys. Accept
 * that exact error when some BY/GET pattern or the STORE key does not
 * share the sorted key's hash tag (so it may live elsewhere), whatever
 * Redis answered (it may fail later, on a weight that is no number). */
static bool sort_foreign_ok(struct dt *t, int k)
{
	static const char foreign[] =
		"ERR SORT BY/GET pattern reached a key on another shard: use a hash tag so the "
		"pattern's keys share the sorted key's shard (e.g. {u}:list, {u}:w_*)";
	const struct dt_args *a = &t->args;
	const redisReply *ra = t->r[0];

	if (ra->type != REDIS_REPLY_ERROR || ra->len != sizeof(foreign) - 1 ||
	    memcmp(ra->str, foreign, ra->len) != 0)
		return false;
	for (int i = 2; i + 1 < a->argc; i++) {
		bool pat = (arg_is(a, i, "BY") && !arg_is(a, i + 1, "nosort")) ||
			   (arg_is(a, i, "GET") && !arg_is(a, i + 1, "#")) || arg_is(a, i, "STORE");

		if (pat && !same_tag(a->argv[i + 1], a->len[i + 1], t->keys[k].p, t->keys[k].len))
			return true;
	}
	return false;
}

/* SORT/SORT_RO key [BY pattern|nosort] [LIMIT off count] [GET pattern...]
 * [ASC|DESC] [ALPHA] [STORE dst], options in any order. Where Redis leaves
 * the order open the reply is compared as a multiset of its per-element
 * groups: ALPHA with a BY pattern (ties keep qsort's order; such runs have
 * neither LIMIT nor STORE) and BY nosort on a set without STORE (hash
 * order; with LIMIT only the reply's length is compared). A TYPE step goes
 * first to tell. With several shards, see sort_foreign_ok. */
static void gen_sort_common(struct dt *t, bool ro)
{
	static const int homes[] = {DT_HOME_LIST, DT_HOME_SET, DT_HOME_ZSET};
	int k = pick_home(t, homes[rng_below(&t->rng, 3)]), order[6] = {0, 1, 2, 3, 4, 5};
	uint64_t by = rng_below(&t->rng, 100);
	const char *bypattern = by < 15	 ? "nosort"
				: by < 45 ? dt_sort_by[rng_below(&t->rng, sizeof(dt_sort_by) /
									sizeof(dt_sort_by[0]))]
					  : NULL;
	/* Redis does not sort when the BY pattern has no '*' ("nosort" is
	 * just the usual such pattern). */
	bool nosort = bypattern && strchr(bypattern, '*') == NULL, bypat = bypattern && !nosort;
	bool alpha = rng_pct(&t->rng, 35);
	bool limit = rng_pct(&t->rng, 25), store = !ro && rng_pct(&t->rng, 20);
	int nget = rng_pct(&t->rng, 30) ? (int)rng_range(&t->rng, 1, 3) : 0;
	bool set_nosort_open = false;
	size_t stride = nget ? (size_t)nget : 1;

	if (alpha && bypat)
		limit = store = false;
	/* The type tells whether BY nosort leaves the order open (a set) and
	 * whether Redis converts the value (a zset). */
	start_plain(t, "TYPE");
	add_key(t, k);
	dt_exec(t, DT_CMP_EXACT);
	set_nosort_open = nosort && !store && reply_is(t->r[0], "set");
	if (reply_is(t->r[0], "zset"))
		t->sorted_zset[k] = true;
	start_cmd(t, ro ? "SORT_RO" : "SORT");
	add_key(t, k);
	shuffle(t, order, 6);
	for (int i = 0; i < 6; i++) {
		switch (order[i]) {
		case 0:
			if (bypattern) {
				add_word(t, "BY");
				if (strcmp(bypattern, "nosort") == 0)
					add_word(t, bypattern);
				else
					args_str(&t->args, bypattern);
			}
			break;
		case 1:
			if (limit) {
				add_word(t, "LIMIT");
				add_int_arg(t, -1, 5);
				add_int_arg(t, -1, 8);
			}
			break;
		case 2:
			for (int g = 0; g < nget; g++) {
				add_word(t, "GET");
				args_str(&t->args, dt_sort_get[rng_below(
						       &t->rng, sizeof(dt_sort_get) / sizeof(dt_sort_get[0]))]);
			}
			break;
		case 3:
			if (rng_pct(&t->rng, 40))
				add_word(t, rng_pct(&t->rng, 50) ? "ASC" : "DESC");
			break;
		case 4:
			if (alpha)
				add_word(t, "ALPHA");
			break;
		case 5:
			if (store) {
				add_word(t, "STORE");
				add_key(t, pick_home_related(t, k, DT_HOME_LIST));
			}
			break;
		}
	}
	if (rng_pct(&t->rng, 2))
		add_word(t, rng_pct(&t->rng, 50) ? "FOO" : "LIMIT");
	dt_send_both(t); /* right after the TYPE step: no gate in between */
	if (t->shards > 1 && sort_foreign_ok(t, k)) {
		/* Redis may have stored a result where keyrail refused: drop
		 * the destination on both. */
		for (int i = 2; i + 1 < t->args.argc; i++) {
			if (arg_is(&t->args, i, "STORE")) {
				struct dt_str dst = {t->args.argv[i + 1], t->args.len[i + 1]};
				struct dt_args del = {0};

				args_str(&del, "DEL");
				args_add(&del, dst.p, dst.len);
				args_free(&t->args);
				t->args = del;
				/* Not compared: B's reply tells whether it
				 * stored, A's whether the key was there. */
				dt_send_both(t);
				break;
			}
		}
		return;
	}
	if (set_nosort_open && limit) {
		/* Which members a LIMIT window holds is open: compare the
		 * reply's shape only. */
		if (t->r[0]->type != REDIS_REPLY_ARRAY || t->r[1]->type != REDIS_REPLY_ARRAY)
			dt_check(t, DT_CMP_EXACT);
		else if (t->r[0]->elements != t->r[1]->elements)
			dt_fail(t, "SORT BY nosort LIMIT on a set: replies of different lengths");
		return;
	}
	t->group_stride = stride;
	dt_check(t, set_nosort_open || (alpha && bypat) ? DT_CMP_GROUPS : DT_CMP_EXACT);
}

static void gen_sort(struct dt *t)
{
	gen_sort_common(t, false);
}

static void gen_sort_ro(struct dt *t)
{
	gen_sort_common(t, true);
}

/* ------------------------------------------------------------ scripting */

/* Small scripts: redis.call/pcall on their declared keys, reply
 * conversions both ways, errors raised in Lua and by commands. Arguments
 * by kind: 'm' member, 'v' value, 'i' integer, 's' score. */
struct dt_script {
	const char *src;
	int nkeys;
	const char *argkinds;
	int home;       /* where KEYS[1] comes from */
	bool ro;        /* fine for EVAL_RO */
};

/* The family of the commands a script calls, from its home: a script only
 * runs when that family is enabled (strings and keys always are there). */
static bool script_family_on(const struct dt_script *s);

static const struct dt_script dt_scripts[] = {
	{"return redis.call('GET', KEYS[1])", 1, "", DT_HOME_STR, true},
	{"return redis.call('SET', KEYS[1], ARGV[1])", 1, "v", DT_HOME_STR, false},
	{"return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, "i", DT_HOME_STR, false},
	{"redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2]) return redis.call('LRANGE', KEYS[1], 0, -1)",
	 1, "mm", DT_HOME_LIST, false},
	{"return redis.pcall('LPUSH', KEYS[1], ARGV[1])", 1, "m", DT_HOME_LIST, false},
	{"local r = redis.pcall('INCR', KEYS[1]) if type(r) == 'table' and r.err then "
	 "return 'caught: ' .. r.err end return r",
	 1, "", DT_HOME_STR, false},
	{"return {1, 2, 3.99, -2.5, 'x', {KEYS[1], {ARGV[1]}}, false, true}", 1, "m", DT_HOME_STR, true},
	{"return redis.status_reply('FINE')", 0, "", DT_HOME_STR, true},
	{"return redis.error_reply('MYERR bad thing')", 0, "", DT_HOME_STR, true},
	{"return {err = 'ERR from a table'}", 0, "", DT_HOME_STR, true},
	{"error('boom')", 0, "", DT_HOME_STR, true},
	{"return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1, "mv", DT_HOME_HASH, false},
	{"return #redis.call('HGETALL', KEYS[1])", 1, "", DT_HOME_HASH, true},
	{"return redis.call('HGET', KEYS[1], ARGV[1])", 1, "m", DT_HOME_HASH, true},
	{"return redis.call('SADD', KEYS[1], ARGV[1]) + redis.call('SCARD', KEYS[1])", 1, "m",
	 DT_HOME_SET, false},
	{"local t = redis.call('SMEMBERS', KEYS[1]) table.sort(t) return t", 1, "", DT_HOME_SET,
	 true},
	{"return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])", 1, "sm", DT_HOME_ZSET, false},
	{"return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')", 1, "", DT_HOME_ZSET, true},
	{"return redis.call('ZSCORE', KEYS[1], ARGV[1])", 1, "m", DT_HOME_ZSET, true},
	{"redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[2]) "
	 "return redis.call('MGET', KEYS[1], KEYS[2])",
	 2, "vv", DT_HOME_STR, false},
	{"local v = redis.call('GET', KEYS[1]) if v then redis.call('SET', KEYS[2], v) end return v",
	 2, "", DT_HOME_STR, false},
	{"return redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')", 2, "", DT_HOME_LIST, false},
	{"return redis.call('SINTERSTORE', KEYS[1], KEYS[2], KEYS[3])", 3, "", DT_HOME_SET, false},
	{"return redis.call('DEL', unpack(KEYS))", 3, "", DT_HOME_STR, false},
	{"return redis.call('EXISTS', unpack(KEYS))", 2, "", DT_HOME_STR, true},
	{"return tonumber(ARGV[1]) * 2", 0, "i", DT_HOME_STR, true},
	{"return redis.call('EXPIRE', KEYS[1], 100000)", 1, "", DT_HOME_STR, false},
	{"return redis.call('TYPE', KEYS[1])", 1, "", DT_HOME_LIST, true},
	{"return redis.call('NOSUCHCMD', KEYS[1])", 1, "", DT_HOME_STR, true},
	{"return redis.call('PING')", 0, "", DT_HOME_STR, true},
	{"return redis.sha1hex(ARGV[1])", 0, "v", DT_HOME_STR, true},
	{"return #KEYS + #ARGV * 10", 2, "mm", DT_HOME_STR, true},
	{"return cjson.encode({ARGV[1]})", 0, "m", DT_HOME_STR, true},
	{"return cjson.decode('[1,2,[3,\"x\"]]')", 0, "", DT_HOME_STR, true},
	{"return redis.call('BLPOP', KEYS[1], 0)", 1, "", DT_HOME_LIST, false},
	{"return redis.call('SORT', KEYS[1], 'BY', 'nosort')", 1, "", DT_HOME_SET, true},
	{"return redis.call('SORT', KEYS[1], 'ALPHA', 'DESC')", 1, "", DT_HOME_LIST, true},
	{"return redis.call('INCRBY', KEYS[1], 'notanumber')", 1, "", DT_HOME_STR, false},
	{"return redis.call('GET')", 0, "", DT_HOME_STR, true},
	{"return redis.call('LPUSH', KEYS[1])", 1, "", DT_HOME_LIST, false},
	{"local n = 0 for i = 1, 100 do n = n + i end return n", 0, "", DT_HOME_STR, true},
	{"return 3.7", 0, "", DT_HOME_STR, true},
	{"return nil", 0, "", DT_HOME_STR, true},
	{"return {}", 0, "", DT_HOME_STR, true},
	{"return {1, nil, 3}", 0, "", DT_HOME_STR, true},
	{"return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])", 1, "mi", DT_HOME_HASH, false},
	{"return redis.call('ZINCRBY', KEYS[1], ARGV[1], ARGV[2])", 1, "sm", DT_HOME_ZSET, false},
	{"local x = nosuchvar .. 'a' return x", 0, "", DT_HOME_STR, true},
	{"nosuchglobal = 1 return 1", 0, "", DT_HOME_STR, true},
	{"return redis.call('SET', KEYS[1], 'x', 'PX', 'abc')", 1, "", DT_HOME_STR, false},
};
#define DT_NSCRIPTS (sizeof(dt_scripts) / sizeof(dt_scripts[0]))

static void add_script_arg(struct dt *t, char kind)
{
	switch (kind) {
	case 'm': add_member(t); break;
	case 'v': add_value(t); break;
	case 'i': add_int_arg(t, -100, 100); break;
	case 's': add_score(t); break;
	}
}

/* numkeys key... arg... for script s (numkeys sometimes invalid). */
static void add_script_call(struct dt *t, const struct dt_script *s)
{
	int nargs = (int)strlen(s->argkinds), first;

	if (rng_pct(&t->rng, 95))
		args_ll(&t->args, s->nkeys);
	else
		args_str(&t->args, rng_pct(&t->rng, 40) ? "-1" : rng_pct(&t->rng, 50) ? "abc" : "99");
	if (s->nkeys > 0) {
		first = add_home_key(t, s->home);
		for (int i = 1; i < s->nkeys; i++)
			add_key(t, pick_home_related(t, first, s->home));
	}
	for (int i = 0; i < nargs; i++)
		add_script_arg(t, s->argkinds[i]);
}

static const struct dt_script *pick_script(struct dt *t, bool ro_only)
{
	for (;;) {
		const struct dt_script *s = &dt_scripts[rng_below(&t->rng, DT_NSCRIPTS)];

		if ((!ro_only || s->ro) && script_family_on(s))
			return s;
	}
}

static void gen_eval(struct dt *t)
{
	const struct dt_script *s = pick_script(t, false);

	start_cmd(t, "EVAL");
	args_str(&t->args, s->src);
	add_script_call(t, s);
	dt_exec(t, DT_CMP_EXACT);
}

/* EVAL_RO: read-only scripts, and now and then a writing one (an error). */
static void gen_eval_ro(struct dt *t)
{
	const struct dt_script *s = pick_script(t, rng_pct(&t->rng, 85));

	start_cmd(t, "EVAL_RO");
	args_str(&t->args, s->src);
	add_script_call(t, s);
	dt_exec(t, DT_CMP_EXACT);
}

/* EVALSHA: the SHA of a script (computed by the servers themselves with
 * redis.sha1hex, so no SHA-1 here) that was maybe EVALed or loaded before,
 * or SCRIPT LOADed right now, or a bogus one. */
static void gen_evalsha(struct dt *t)
{
	static const char *const bogus[] = {"ffffffffffffffffffffffffffffffffffffffff", "abc", "",
					    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"};
	const struct dt_script *s = pick_script(t, false);
	uint64_t c = rng_below(&t->rng, 100);
	bool ro = rng_pct(&t->rng, 15);
	struct dt_args call = {0}, keep;
	struct dt_str sha = {NULL, 0};

	/* Draw the call's arguments first: what follows depends on replies. */
	keep = t->args;
	t->args = call;
	add_script_call(t, s);
	call = t->args;
	t->args = keep;
	if (c < 90) {
		if (c < 45) {
			start_cmd(t, "SCRIPT");
			add_word(t, "LOAD");
		} else {
			start_plain(t, "EVAL");
			args_str(&t->args, "return redis.sha1hex(ARGV[1])");
			args_str(&t->args, "0");
		}
		args_str(&t->args, s->src);
		dt_exec(t, DT_CMP_EXACT);
		if (t->r[0]->type == REDIS_REPLY_STRING) {
			sha.len = t->r[0]->len;
			sha.p = dt_xrealloc(NULL, sha.len + 1);
			memcpy(sha.p, t->r[0]->str, sha.len);
		}
	}
	start_plain(t, ro ? "EVALSHA_RO" : "EVALSHA");
	if (sha.p)
		args_add(&t->args, sha.p, sha.len);
	else
		args_str(&t->args, bogus[c % (sizeof(bogus) / sizeof(bogus[0]))]);
	for (int i = 0; i < call.argc; i++)
		args_add(&t->args, call.argv[i], call.len[i]);
	args_free(&call);
	free(sha.p);
	if (c < 90)
		dt_exec_next(t, DT_CMP_EXACT);
	else
		dt_exec(t, DT_CMP_EXACT);
}

/* SCRIPT EXISTS / LOAD / FLUSH, and bad subcommands. */
static void gen_script(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "SCRIPT");
	if (c < 40) {
		int n = (int)rng_range(&t->rng, 1, 3);

		add_word(t, "EXISTS");
		for (int i = 0; i < n; i++)
			args_str(&t->args, rng_pct(&t->rng, 50)
						   ? "ffffffffffffffffffffffffffffffffffffffff"
						   : "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
	} else if (c < 80) {
		add_word(t, "LOAD");
		if (rng_pct(&t->rng, 90))
			args_str(&t->args, pick_script(t, false)->src);
		else
			args_str(&t->args, "return (");
	} else if (c < 88) {
		add_word(t, "FLUSH");
		if (rng_pct(&t->rng, 50))
			add_word(t, rng_pct(&t->rng, 50) ? "SYNC" : "ASYNC");
	} else if (c < 94) {
		add_word(t, "BOGUS");
	} else {
		add_word(t, "EXISTS");
	}
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_multi(struct dt *t);
static void gen_txn_misc(struct dt *t);

/* --------------------------------------------------------------- Pub/Sub */

/* A second connection per server subscribes; the main one publishes. The
 * subscriptions are modelled here (identical on both as long as replies
 * are), so the number of replies each step must read is known. Messages
 * from one PUBLISH are compared as a multiset: Redis delivers pattern
 * matches in its pattern dict's hash order. Only the subscriber and the
 * tester are connected, so PUBLISH's receiver count is the model's. */
static const char *const dt_channels[] = {"ch1", "ch2", "news.a", "news.b", "{t}ch", ""};
#define DT_NCHANNELS (sizeof(dt_channels) / sizeof(dt_channels[0]))
static const char *const dt_chpatterns[] = {"ch*", "news.*", "*", "ch?", "[a-c]*", "nomatch*",
					     "news.[ab]",
					     /* glob edges: "**" and "?*" never match
					      * the channel "", the pattern "" only
					      * does; "[c-]" is ']'..'c' */
					     "**", "?*", "", "[c-]*"};
#define DT_NCHPATTERNS (sizeof(dt_chpatterns) / sizeof(dt_chpatterns[0]))
_Static_assert(DT_NCHPATTERNS <= sizeof(((struct dt *)0)->sub_pat) &&
		       DT_NCHANNELS <= sizeof(((struct dt *)0)->sub_ch),
	       "the subscription model holds every name");

static int connect_srv(struct dt_srv *s);

/* Subscriber connections, made on first use. */
static void sub_connect(struct dt *t)
{
	if (t->sub[0].c)
		return;
	for (int i = 0; i < 2; i++) {
		struct timeval io_to = {5, 0};

		t->sub[i] = t->srv[i];
		t->sub[i].c = NULL;
		if (connect_srv(&t->sub[i]) != 0 || redisSetTimeout(t->sub[i].c, io_to) != REDIS_OK) {
			fprintf(stderr, "difftest: cannot open the subscriber connection to %c\n",
				t->srv[i].label);
			exit(2);
		}
	}
}

enum {
	DT_SUB_EXACT,   /* in order */
	DT_SUB_SET,     /* as a multiset (messages of one PUBLISH) */
	DT_SUB_UNSUB,   /* unsubscribe-all confirmations: Redis walks its dict,
			 * so the names come in hash order while the counts
			 * left still count down: names and counts compared as
			 * multisets separately */
};

/* The multiset of element j of each reply in array r. */
static void ss_column(struct dt_strset *set, const redisReply *r, size_t j)
{
	for (size_t i = 0; i < r->elements; i++) {
		struct dt_sbuf sb = {0};
		const redisReply *e = r->element[i];

		if (e->type == REDIS_REPLY_ARRAY && j < e->elements)
			sb_raw(&sb, e->element[j]);
		else
			sb_raw(&sb, e);
		ss_add(set, sb.p ? sb.p : "", sb.len);
		sb_free(&sb);
	}
	ss_sort(set, false);
}

/* Run t->args on the subscriber connections (send: else only read) and
 * read n replies from each, compared as `mode` says. Both sides' n replies
 * become one array in t->r for reporting. */
static void sub_exec(struct dt *t, int n, int mode, bool send)
{
	struct dt_srv keep[2] = {t->srv[0], t->srv[1]};
	FILE *trace = t->trace;

	/* Not traced: a replay runs on one connection, and the subscriber's
	 * steps do not touch the keyspace. */
	t->trace = NULL;
	sub_connect(t);
	for (int i = 0; i < 2; i++)
		t->srv[i].c = t->sub[i].c;
	if (send) {
		dt_send_both(t);
	} else {
		for (int i = 0; i < 2; i++) {
			freeReplyObject(t->r[i]);
			t->r[i] = NULL;
		}
	}
	for (int i = 0; i < 2; i++) {
		redisReply *arr = calloc(1, sizeof(*arr));
		int first = send ? 1 : 0;

		if (arr == NULL)
			exit(2);
		arr->type = REDIS_REPLY_ARRAY;
		arr->elements = (size_t)n;
		arr->element = dt_xrealloc(NULL, (size_t)(n ? n : 1) * sizeof(*arr->element));
		if (send && n > 0)
			arr->element[0] = t->r[i];
		else
			freeReplyObject(t->r[i]);
		t->r[i] = arr;
		for (int j = first; j < n; j++) {
			void *rep = NULL;

			if (redisGetReply(t->srv[i].c, &rep) != REDIS_OK || rep == NULL) {
				arr->elements = (size_t)j;
				dt_fail_conn(t, i);
			}
			arr->element[j] = rep;
		}
	}
	t->srv[0] = keep[0];
	t->srv[1] = keep[1];
	t->trace = trace;
	if (mode == DT_SUB_UNSUB) {
		for (size_t j = 0; j < 3; j++) {
			struct dt_strset a = {0}, b = {0};
			bool eq;

			ss_column(&a, t->r[0], j);
			ss_column(&b, t->r[1], j);
			eq = ss_eq(&a, &b);
			ss_free(&a);
			ss_free(&b);
			if (!eq)
				dt_fail(t, "unsubscribe confirmations differ (kinds, names and counts "
					   "compared as multisets)");
		}
		return;
	}
	dt_check(t, mode == DT_SUB_SET ? DT_CMP_SORTED : DT_CMP_EXACT);
}

static int count_true(const bool *v, size_t n)
{
	int c = 0;

	for (size_t i = 0; i < n; i++)
		c += v[i];
	return c;
}

/* (UN)SUBSCRIBE, P(UN)SUBSCRIBE, S(UN)SUBSCRIBE on the subscriber
 * connection, PING there, and a command it may not run while subscribed. */
static void gen_subscribe(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);
	bool pat = c >= 30 && c < 55, shard = c >= 55 && c < 70;
	bool *model = pat ? t->sub_pat : shard ? t->sub_sch : t->sub_ch;
	size_t nnames = pat ? DT_NCHPATTERNS : DT_NCHANNELS;
	const char *const *names = pat ? dt_chpatterns : dt_channels;
	int idx[3], n;

	if (c >= 85) {
		if (c < 95) {
			start_cmd(t, "PING");
			if (rng_pct(&t->rng, 40))
				args_str(&t->args, "hello");
		} else {
			start_cmd(t, "GET");
			add_random_key(t);
		}
		sub_exec(t, 1, DT_SUB_EXACT, true);
		return;
	}
	if (rng_pct(&t->rng, 55)) {
		static const char *const sub[3] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

		n = (int)rng_range(&t->rng, 1, shard ? 1 : 3);
		start_cmd(t, sub[pat ? 1 : shard ? 2 : 0]);
		for (int i = 0; i < n; i++) {
			idx[i] = (int)rng_below(&t->rng, nnames);
			args_str(&t->args, names[idx[i]]);
		}
		sub_exec(t, n, DT_SUB_EXACT, true);
		for (int i = 0; i < n; i++)
			model[idx[i]] = true;
		return;
	} else {
		static const char *const unsub[3] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};
		int held = count_true(model, nnames);

		n = (int)rng_range(&t->rng, 0, 2);
		start_cmd(t, unsub[pat ? 1 : shard ? 2 : 0]);
		for (int i = 0; i < n; i++) {
			idx[i] = (int)rng_below(&t->rng, nnames);
			args_str(&t->args, names[idx[i]]);
		}
		/* Without names: one reply per name held, or one saying none. */
		sub_exec(t, n ? n : (held ? held : 1), n ? DT_SUB_EXACT : DT_SUB_UNSUB, true);
		if (n == 0)
			memset(model, 0, nnames * sizeof(*model));
		for (int i = 0; i < n; i++)
			model[idx[i]] = false;
	}
}

/* PUBLISH / SPUBLISH on the main connection, then the messages the
 * subscriber gets (as many as the compared receiver count). */
static void gen_publish(struct dt *t)
{
	bool shard = rng_pct(&t->rng, 20);

	start_cmd(t, shard ? "SPUBLISH" : "PUBLISH");
	args_str(&t->args, dt_channels[rng_below(&t->rng, DT_NCHANNELS)]);
	add_short_value(t);
	dt_exec(t, DT_CMP_EXACT);
	if (t->r[0]->type == REDIS_REPLY_INTEGER && t->r[0]->integer > 0) {
		int n = (int)t->r[0]->integer;

		args_reset(&t->args);
		args_str(&t->args, "(messages read by the subscriber)");
		sub_exec(t, n, DT_SUB_SET, false);
	}
}

/* PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB, bad ones. */
static void gen_pubsub(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);
	enum dt_cmp cmp = DT_CMP_EXACT;

	start_cmd(t, "PUBSUB");
	if (c < 25 || (c >= 60 && c < 75)) {
		add_word(t, c < 25 ? "CHANNELS" : "SHARDCHANNELS");
		if (rng_pct(&t->rng, 50))
			args_str(&t->args, dt_chpatterns[rng_below(&t->rng, DT_NCHPATTERNS)]);
		cmp = DT_CMP_SORTED;
	} else if (c < 50 || (c >= 75 && c < 90)) {
		int n = (int)rng_range(&t->rng, 0, 3);

		add_word(t, c < 50 ? "NUMSUB" : "SHARDNUMSUB");
		for (int i = 0; i < n; i++)
			args_str(&t->args, dt_channels[rng_below(&t->rng, DT_NCHANNELS)]);
	} else if (c < 60) {
		add_word(t, "NUMPAT");
	} else if (c < 95) {
		add_word(t, "BOGUS");
	} else {
		add_word(t, "NUMPAT");
		args_str(&t->args, "extra");
	}
	dt_exec(t, cmp);
}

static void gen_arity(struct dt *t);

/* ----------------------------------------------------------- the table */

/* Families: what --families enables. MISC (PING, ECHO, wrong arity,
 * unknown commands) goes with every selection made by --families. */
enum {
	DT_FAM_STRINGS,
	DT_FAM_KEYS,
	DT_FAM_MISC,
	DT_FAM_LISTS,
	DT_FAM_HASHES,
	DT_FAM_SETS,
	DT_FAM_ZSETS,
	DT_FAM_BITMAPS,
	DT_FAM_HLL,
	DT_FAM_SORT,
	DT_FAM_SCRIPTING,
	DT_FAM_MULTI,
	DT_FAM_PUBSUB,
	DT_NFAMS,
};

static const char *const dt_fam_names[DT_NFAMS] = {
	"strings", "keys", "misc", "lists", "hashes", "sets", "zsets", "bitmaps", "hll", "sort",
	"scripting", "multi", "pubsub",
};

/* What the meson tests run (tools/meson.build passes no --families): every
 * family, minus the rows that still meet an open keyrail bug. Each entry of
 * DT_DEFAULT_SKIP is one known divergence (docs/difftest.md, "Open
 * divergences"); drop it once its bug is fixed and check that both
 * difftest-shards* still pass. DT_DEFAULT_SKIP applies only when neither
 * --families, --commands nor --skip is given.
 *
 * None is open now. */
#define DT_DEFAULT_FAMILIES "all"
#define DT_DEFAULT_SKIP ""

/* Row flags. */
#define DT_TXN 0x1u /* every step is compared exactly and no reply is
		     * inspected: may be queued inside MULTI */

struct dt_cmd {
	const char *name;     /* lower case; what --commands lists */
	int arity;            /* Redis arity (N exact, -N at least N); 0: no command */
	int weight;           /* relative frequency */
	int family;           /* DT_FAM_* */
	unsigned flags;       /* DT_TXN */
	void (*gen)(struct dt *t);
};

static const struct dt_cmd dt_cmds[] = {
	/* strings */
	{"get", 2, 8, DT_FAM_STRINGS, DT_TXN, gen_get},
	{"set", -3, 12, DT_FAM_STRINGS, DT_TXN, gen_set},
	{"setnx", 3, 2, DT_FAM_STRINGS, DT_TXN, gen_setnx},
	{"setex", 4, 2, DT_FAM_STRINGS, DT_TXN, gen_setex},
	{"psetex", 4, 2, DT_FAM_STRINGS, DT_TXN, gen_psetex},
	{"mget", -2, 3, DT_FAM_STRINGS, DT_TXN, gen_mget},
	{"mset", -3, 4, DT_FAM_STRINGS, DT_TXN, gen_mset},
	{"msetnx", -3, 2, DT_FAM_STRINGS, DT_TXN, gen_msetnx},
	{"getset", 3, 2, DT_FAM_STRINGS, DT_TXN, gen_getset},
	{"getdel", 2, 2, DT_FAM_STRINGS, DT_TXN, gen_getdel},
	{"getex", -2, 3, DT_FAM_STRINGS, DT_TXN, gen_getex},
	{"append", 3, 4, DT_FAM_STRINGS, DT_TXN, gen_append},
	{"strlen", 2, 2, DT_FAM_STRINGS, DT_TXN, gen_strlen},
	{"incr", 2, 3, DT_FAM_STRINGS, DT_TXN, gen_incr},
	{"decr", 2, 2, DT_FAM_STRINGS, DT_TXN, gen_decr},
	{"incrby", 3, 2, DT_FAM_STRINGS, DT_TXN, gen_incrby},
	{"decrby", 3, 2, DT_FAM_STRINGS, DT_TXN, gen_decrby},
	{"incrbyfloat", 3, 3, DT_FAM_STRINGS, 0, gen_incrbyfloat},
	{"getrange", 4, 2, DT_FAM_STRINGS, DT_TXN, gen_getrange},
	{"setrange", 4, 3, DT_FAM_STRINGS, DT_TXN, gen_setrange},
	{"substr", 4, 1, DT_FAM_STRINGS, DT_TXN, gen_substr},
	{"lcs", -3, 2, DT_FAM_STRINGS, DT_TXN, gen_lcs},
	/* keys */
	{"del", -2, 3, DT_FAM_KEYS, DT_TXN, gen_del},
	{"unlink", -2, 2, DT_FAM_KEYS, DT_TXN, gen_unlink},
	{"exists", -2, 3, DT_FAM_KEYS, DT_TXN, gen_exists},
	{"type", 2, 2, DT_FAM_KEYS, DT_TXN, gen_type},
	{"expire", -3, 3, DT_FAM_KEYS, DT_TXN, gen_expire},
	{"pexpire", -3, 3, DT_FAM_KEYS, DT_TXN, gen_pexpire},
	{"expireat", -3, 2, DT_FAM_KEYS, DT_TXN, gen_expireat},
	{"pexpireat", -3, 2, DT_FAM_KEYS, DT_TXN, gen_pexpireat},
	{"ttl", 2, 3, DT_FAM_KEYS, 0, gen_ttl},
	{"pttl", 2, 3, DT_FAM_KEYS, 0, gen_pttl},
	{"expiretime", 2, 2, DT_FAM_KEYS, 0, gen_expiretime},
	{"pexpiretime", 2, 2, DT_FAM_KEYS, 0, gen_pexpiretime},
	{"persist", 2, 2, DT_FAM_KEYS, DT_TXN, gen_persist},
	{"rename", 3, 2, DT_FAM_KEYS, DT_TXN, gen_rename},
	{"renamenx", 3, 2, DT_FAM_KEYS, DT_TXN, gen_renamenx},
	{"copy", -3, 3, DT_FAM_KEYS, DT_TXN, gen_copy},
	{"keys", 2, 2, DT_FAM_KEYS, 0, gen_keys},
	{"scan", -2, 2, DT_FAM_KEYS, 0, gen_scan},
	{"randomkey", 1, 2, DT_FAM_KEYS, 0, gen_randomkey},
	{"dbsize", 1, 1, DT_FAM_KEYS, 0, gen_dbsize},
	{"flushdb", -1, 1, DT_FAM_KEYS, DT_TXN, gen_flushdb},
	{"select", 2, 3, DT_FAM_KEYS, 0, gen_select},
	{"swapdb", 3, 1, DT_FAM_KEYS, DT_TXN, gen_swapdb},
	{"touch", -2, 2, DT_FAM_KEYS, DT_TXN, gen_touch},
	{"object", -2, 4, DT_FAM_KEYS, 0, gen_object},
	/* connection */
	{"ping", -1, 1, DT_FAM_MISC, DT_TXN, gen_ping},
	{"echo", 2, 1, DT_FAM_MISC, DT_TXN, gen_echo},
	/* lists */
	{"lpush", -3, 6, DT_FAM_LISTS, DT_TXN, gen_lpush},
	{"rpush", -3, 6, DT_FAM_LISTS, DT_TXN, gen_rpush},
	{"lpushx", -3, 2, DT_FAM_LISTS, DT_TXN, gen_lpushx},
	{"rpushx", -3, 2, DT_FAM_LISTS, DT_TXN, gen_rpushx},
	{"lpop", -2, 3, DT_FAM_LISTS, DT_TXN, gen_lpop},
	{"rpop", -2, 3, DT_FAM_LISTS, DT_TXN, gen_rpop},
	{"llen", 2, 2, DT_FAM_LISTS, DT_TXN, gen_llen},
	{"lrange", 4, 4, DT_FAM_LISTS, DT_TXN, gen_lrange},
	{"lindex", 3, 2, DT_FAM_LISTS, DT_TXN, gen_lindex},
	{"lset", 4, 2, DT_FAM_LISTS, DT_TXN, gen_lset},
	{"linsert", 5, 2, DT_FAM_LISTS, DT_TXN, gen_linsert},
	{"lrem", 4, 2, DT_FAM_LISTS, DT_TXN, gen_lrem},
	{"ltrim", 4, 2, DT_FAM_LISTS, DT_TXN, gen_ltrim},
	{"lpos", -3, 3, DT_FAM_LISTS, DT_TXN, gen_lpos},
	{"lmove", 5, 2, DT_FAM_LISTS, DT_TXN, gen_lmove},
	{"rpoplpush", 3, 1, DT_FAM_LISTS, DT_TXN, gen_rpoplpush},
	{"lmpop", -4, 2, DT_FAM_LISTS, DT_TXN, gen_lmpop},
	{"blpop", -3, 2, DT_FAM_LISTS, DT_TXN, gen_blpop},
	{"brpop", -3, 2, DT_FAM_LISTS, DT_TXN, gen_brpop},
	{"blmove", 6, 1, DT_FAM_LISTS, DT_TXN, gen_blmove},
	{"brpoplpush", 4, 1, DT_FAM_LISTS, DT_TXN, gen_brpoplpush},
	{"blmpop", -5, 1, DT_FAM_LISTS, DT_TXN, gen_blmpop},
	/* hashes */
	{"hset", -4, 7, DT_FAM_HASHES, DT_TXN, gen_hset},
	{"hsetnx", 4, 2, DT_FAM_HASHES, DT_TXN, gen_hsetnx},
	{"hget", 3, 3, DT_FAM_HASHES, DT_TXN, gen_hget},
	{"hmget", -3, 2, DT_FAM_HASHES, DT_TXN, gen_hmget},
	{"hmset", -4, 2, DT_FAM_HASHES, DT_TXN, gen_hmset},
	{"hdel", -3, 3, DT_FAM_HASHES, DT_TXN, gen_hdel},
	{"hlen", 2, 2, DT_FAM_HASHES, DT_TXN, gen_hlen},
	{"hexists", 3, 2, DT_FAM_HASHES, DT_TXN, gen_hexists},
	{"hkeys", 2, 2, DT_FAM_HASHES, 0, gen_hkeys},
	{"hvals", 2, 2, DT_FAM_HASHES, 0, gen_hvals},
	{"hgetall", 2, 3, DT_FAM_HASHES, 0, gen_hgetall},
	{"hincrby", 4, 3, DT_FAM_HASHES, DT_TXN, gen_hincrby},
	{"hincrbyfloat", 4, 2, DT_FAM_HASHES, 0, gen_hincrbyfloat},
	{"hstrlen", 3, 2, DT_FAM_HASHES, DT_TXN, gen_hstrlen},
	{"hrandfield", -2, 3, DT_FAM_HASHES, 0, gen_hrandfield},
	{"hscan", -3, 2, DT_FAM_HASHES, 0, gen_hscan},
	/* sets */
	{"sadd", -3, 7, DT_FAM_SETS, DT_TXN, gen_sadd},
	{"srem", -3, 3, DT_FAM_SETS, DT_TXN, gen_srem},
	{"smembers", 2, 3, DT_FAM_SETS, 0, gen_smembers},
	{"sismember", 3, 2, DT_FAM_SETS, DT_TXN, gen_sismember},
	{"smismember", -3, 2, DT_FAM_SETS, DT_TXN, gen_smismember},
	{"scard", 2, 2, DT_FAM_SETS, DT_TXN, gen_scard},
	{"spop", -2, 3, DT_FAM_SETS, 0, gen_spop},
	{"srandmember", -2, 3, DT_FAM_SETS, 0, gen_srandmember},
	{"smove", 4, 2, DT_FAM_SETS, DT_TXN, gen_smove},
	{"sinter", -2, 2, DT_FAM_SETS, 0, gen_sinter},
	{"sintercard", -3, 2, DT_FAM_SETS, DT_TXN, gen_sintercard},
	{"sinterstore", -3, 2, DT_FAM_SETS, DT_TXN, gen_sinterstore},
	{"sunion", -2, 2, DT_FAM_SETS, 0, gen_sunion},
	{"sunionstore", -3, 2, DT_FAM_SETS, DT_TXN, gen_sunionstore},
	{"sdiff", -2, 2, DT_FAM_SETS, 0, gen_sdiff},
	{"sdiffstore", -3, 2, DT_FAM_SETS, DT_TXN, gen_sdiffstore},
	{"sscan", -3, 2, DT_FAM_SETS, 0, gen_sscan},
	/* zsets */
	{"zadd", -4, 8, DT_FAM_ZSETS, DT_TXN, gen_zadd},
	{"zincrby", 4, 3, DT_FAM_ZSETS, DT_TXN, gen_zincrby},
	{"zrem", -3, 3, DT_FAM_ZSETS, DT_TXN, gen_zrem},
	{"zcard", 2, 2, DT_FAM_ZSETS, DT_TXN, gen_zcard},
	{"zscore", 3, 2, DT_FAM_ZSETS, DT_TXN, gen_zscore},
	{"zmscore", -3, 2, DT_FAM_ZSETS, DT_TXN, gen_zmscore},
	{"zrank", 3, 2, DT_FAM_ZSETS, DT_TXN, gen_zrank},
	{"zrevrank", 3, 1, DT_FAM_ZSETS, DT_TXN, gen_zrevrank},
	{"zrange", -4, 5, DT_FAM_ZSETS, 0, gen_zrange},
	{"zrangestore", -5, 2, DT_FAM_ZSETS, 0, gen_zrangestore},
	{"zrevrange", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zrevrange},
	{"zrangebyscore", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zrangebyscore},
	{"zrevrangebyscore", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zrevrangebyscore},
	{"zrangebylex", -4, 2, DT_FAM_ZSETS, 0, gen_zrangebylex},
	{"zrevrangebylex", -4, 1, DT_FAM_ZSETS, 0, gen_zrevrangebylex},
	{"zcount", 4, 2, DT_FAM_ZSETS, DT_TXN, gen_zcount},
	{"zlexcount", 4, 1, DT_FAM_ZSETS, 0, gen_zlexcount},
	{"zpopmin", -2, 2, DT_FAM_ZSETS, DT_TXN, gen_zpopmin},
	{"zpopmax", -2, 2, DT_FAM_ZSETS, DT_TXN, gen_zpopmax},
	{"zmpop", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zmpop},
	{"zrandmember", -2, 3, DT_FAM_ZSETS, 0, gen_zrandmember},
	{"zunion", -3, 2, DT_FAM_ZSETS, DT_TXN, gen_zunion},
	{"zinter", -3, 2, DT_FAM_ZSETS, DT_TXN, gen_zinter},
	{"zdiff", -3, 2, DT_FAM_ZSETS, DT_TXN, gen_zdiff},
	{"zunionstore", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zunionstore},
	{"zinterstore", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zinterstore},
	{"zdiffstore", -4, 2, DT_FAM_ZSETS, DT_TXN, gen_zdiffstore},
	{"zintercard", -3, 2, DT_FAM_ZSETS, DT_TXN, gen_zintercard},
	{"zremrangebyrank", 4, 1, DT_FAM_ZSETS, DT_TXN, gen_zremrangebyrank},
	{"zremrangebyscore", 4, 1, DT_FAM_ZSETS, DT_TXN, gen_zremrangebyscore},
	{"zremrangebylex", 4, 1, DT_FAM_ZSETS, 0, gen_zremrangebylex},
	{"zscan", -3, 2, DT_FAM_ZSETS, 0, gen_zscan},
	{"bzpopmin", -3, 1, DT_FAM_ZSETS, DT_TXN, gen_bzpopmin},
	{"bzpopmax", -3, 1, DT_FAM_ZSETS, DT_TXN, gen_bzpopmax},
	{"bzmpop", -5, 1, DT_FAM_ZSETS, DT_TXN, gen_bzmpop},
	/* bitmaps */
	{"setbit", 4, 5, DT_FAM_BITMAPS, DT_TXN, gen_setbit},
	{"getbit", 3, 3, DT_FAM_BITMAPS, DT_TXN, gen_getbit},
	{"bitcount", -2, 3, DT_FAM_BITMAPS, DT_TXN, gen_bitcount},
	{"bitpos", -3, 3, DT_FAM_BITMAPS, DT_TXN, gen_bitpos},
	{"bitop", -4, 3, DT_FAM_BITMAPS, DT_TXN, gen_bitop},
	{"bitfield", -2, 4, DT_FAM_BITMAPS, DT_TXN, gen_bitfield},
	{"bitfield_ro", -2, 2, DT_FAM_BITMAPS, DT_TXN, gen_bitfield_ro},
	/* hll */
	{"pfadd", -2, 6, DT_FAM_HLL, DT_TXN, gen_pfadd},
	{"pfcount", -2, 4, DT_FAM_HLL, DT_TXN, gen_pfcount},
	{"pfmerge", -2, 3, DT_FAM_HLL, DT_TXN, gen_pfmerge},
	/* sort */
	{"sort", -2, 6, DT_FAM_SORT, 0, gen_sort},
	{"sort_ro", -2, 3, DT_FAM_SORT, 0, gen_sort_ro},
	/* scripting */
	{"eval", -3, 8, DT_FAM_SCRIPTING, DT_TXN, gen_eval},
	{"eval_ro", -3, 2, DT_FAM_SCRIPTING, DT_TXN, gen_eval_ro},
	{"evalsha", -3, 4, DT_FAM_SCRIPTING, 0, gen_evalsha},
	{"script", -2, 2, DT_FAM_SCRIPTING, DT_TXN, gen_script},
	/* multi */
	{"multi", 1, 10, DT_FAM_MULTI, 0, gen_multi},
	{"watch", -2, 3, DT_FAM_MULTI, 0, gen_txn_misc},
	/* pubsub */
	{"subscribe", -2, 6, DT_FAM_PUBSUB, 0, gen_subscribe},
	{"publish", 3, 6, DT_FAM_PUBSUB, 0, gen_publish},
	{"pubsub", -2, 3, DT_FAM_PUBSUB, 0, gen_pubsub},
	/* pseudo rows: error paths across the table */
	{"arity", 0, 3, DT_FAM_MISC, DT_TXN, gen_arity},
	{"unknown", 0, 1, DT_FAM_MISC, DT_TXN, gen_unknown},
};
#define DT_NCMDS (sizeof(dt_cmds) / sizeof(dt_cmds[0]))

static bool dt_enabled[DT_NCMDS];

/* Per row: ops run, steps sent, steps A answered with an error, steps
 * whose reply was +QUEUED (inside MULTI). */
static long dt_stat_ops[DT_NCMDS], dt_stat_steps[DT_NCMDS], dt_stat_errs[DT_NCMDS];

static void dt_stat_step(struct dt *t)
{
	size_t i;

	if (t->cur_cmd == NULL)
		return;
	i = (size_t)(t->cur_cmd - dt_cmds);
	dt_stat_steps[i]++;
	if (t->r[0]->type == REDIS_REPLY_ERROR)
		dt_stat_errs[i]++;
}

static void dt_print_stats(void)
{
	printf("difftest: per command: ops, steps, steps answered with an error\n");
	for (size_t i = 0; i < DT_NCMDS; i++) {
		if (!dt_enabled[i])
			continue;
		printf("  %-18s %7ld %8ld %7ld (%ld%%)\n", dt_cmds[i].name, dt_stat_ops[i],
		       dt_stat_steps[i], dt_stat_errs[i],
		       dt_stat_steps[i] ? dt_stat_errs[i] * 100 / dt_stat_steps[i] : 0);
	}
}

/* A wrong number of arguments for a random enabled command. */
static void gen_arity(struct dt *t)
{
	const struct dt_cmd *cands[DT_NCMDS];
	const struct dt_cmd *cmd;
	size_t n = 0;
	int argc;

	for (size_t i = 0; i < DT_NCMDS; i++)
		if (dt_enabled[i] && (dt_cmds[i].arity > 0 || dt_cmds[i].arity < -1))
			cands[n++] = &dt_cmds[i];
	if (n == 0)
		for (size_t i = 0; i < DT_NCMDS; i++)
			if (dt_cmds[i].arity > 0 || dt_cmds[i].arity < -1)
				cands[n++] = &dt_cmds[i];
	cmd = cands[rng_below(&t->rng, n)];
	if (cmd->arity < 0)
		argc = -cmd->arity - 1;
	else if (cmd->arity == 1 || rng_pct(&t->rng, 50))
		argc = cmd->arity + 1;
	else
		argc = cmd->arity - 1;
	{
		char upper[32];
		size_t l = strlen(cmd->name);

		for (size_t i = 0; i < l && i < sizeof(upper) - 1; i++)
			upper[i] = (char)toupper((unsigned char)cmd->name[i]);
		upper[l < sizeof(upper) - 1 ? l : sizeof(upper) - 1] = '\0';
		start_cmd(t, upper);
	}
	for (int i = 1; i < argc; i++) {
		if (i == 1 || rng_pct(&t->rng, 50))
			add_random_key(t);
		else
			add_value(t);
	}
	dt_exec(t, DT_CMP_EXACT);
}

/* ------------------------------------------------------- MULTI/EXEC/WATCH */

/* The rows a transaction may queue: enabled, safe to queue, not MULTI's
 * own; with none enabled (--families multi alone), the strings rows. */
static size_t txn_candidates(const struct dt_cmd **cand)
{
	size_t n = 0;

	for (size_t i = 0; i < DT_NCMDS; i++)
		if (dt_enabled[i] && (dt_cmds[i].flags & DT_TXN) && dt_cmds[i].family != DT_FAM_MULTI)
			cand[n++] = &dt_cmds[i];
	if (n == 0)
		for (size_t i = 0; i < DT_NCMDS; i++)
			if ((dt_cmds[i].flags & DT_TXN) && dt_cmds[i].family == DT_FAM_STRINGS)
				cand[n++] = &dt_cmds[i];
	return n;
}

/* Run a random row that may be queued. */
static void run_txn_candidate(struct dt *t)
{
	const struct dt_cmd *cand[DT_NCMDS];
	size_t n = txn_candidates(cand);

	cand[rng_below(&t->rng, n)]->gen(t);
}

/* A transaction: sometimes WATCH first (then maybe a command that may
 * touch a watched key, or UNWATCH), MULTI, 0-6 queued commands (rows safe
 * to queue: exact replies, none inspected; wrong arity and unknown
 * commands make EXEC fail with EXECABORT; WRONGTYPE and the like show up
 * inside EXEC's reply), a nested MULTI or a WATCH inside now and then
 * (errors), then EXEC or DISCARD, compared exactly. Expiries set by queued
 * commands are tracked from EXEC on. */
static void gen_multi(struct dt *t)
{
	int nq = (int)rng_range(&t->rng, 0, 6);

	if (rng_pct(&t->rng, 30)) {
		start_cmd(t, "WATCH");
		add_keys(t, (int)rng_range(&t->rng, 1, 3));
		dt_exec(t, DT_CMP_EXACT);
		if (rng_pct(&t->rng, 50))
			run_txn_candidate(t);
		if (rng_pct(&t->rng, 10)) {
			start_cmd(t, "UNWATCH");
			dt_exec(t, DT_CMP_EXACT);
		}
	}
	start_cmd(t, "MULTI");
	dt_exec(t, DT_CMP_EXACT);
	if (t->r[0]->type != REDIS_REPLY_STATUS) {
		/* Not in a transaction after all (both failed alike). */
		return;
	}
	t->in_multi = true;
	t->npending = 0;
	for (int i = 0; i < nq; i++) {
		uint64_t c = rng_below(&t->rng, 100);

		if (c < 3) {
			start_cmd(t, "MULTI");
			dt_exec(t, DT_CMP_EXACT);
		} else if (c < 6) {
			start_cmd(t, "WATCH");
			add_random_key(t);
			dt_exec(t, DT_CMP_EXACT);
		} else {
			run_txn_candidate(t);
		}
	}
	t->in_multi = false;
	if (rng_pct(&t->rng, 85)) {
		start_cmd(t, "EXEC");
		dt_exec(t, DT_CMP_EXACT);
		for (int i = 0; i < t->npending; i++)
			dt_note_short(t, t->pending_short_ms[i]);
	} else {
		start_cmd(t, "DISCARD");
		dt_exec(t, DT_CMP_EXACT);
	}
	t->npending = 0;
}

/* EXEC/DISCARD without MULTI, WATCH/UNWATCH on their own (a WATCH left
 * behind affects a later transaction, like a client's would). */
static void gen_txn_misc(struct dt *t)
{
	uint64_t c = rng_below(&t->rng, 100);

	if (c < 25) {
		start_cmd(t, "EXEC");
	} else if (c < 45) {
		start_cmd(t, "DISCARD");
	} else if (c < 65) {
		start_cmd(t, "UNWATCH");
	} else if (c < 95) {
		start_cmd(t, "WATCH");
		add_keys(t, (int)rng_range(&t->rng, 1, 3));
	} else {
		start_cmd(t, "WATCH");
	}
	dt_exec(t, DT_CMP_EXACT);
}

static bool dt_fam_on(int fam)
{
	for (size_t i = 0; i < DT_NCMDS; i++)
		if (dt_enabled[i] && dt_cmds[i].family == fam)
			return true;
	return false;
}

static bool script_family_on(const struct dt_script *s)
{
	switch (s->home) {
	case DT_HOME_LIST: return dt_fam_on(DT_FAM_LISTS) || strstr(s->src, "'TYPE'") != NULL;
	case DT_HOME_HASH: return dt_fam_on(DT_FAM_HASHES);
	case DT_HOME_SET: return dt_fam_on(DT_FAM_SETS);
	case DT_HOME_ZSET: return dt_fam_on(DT_FAM_ZSETS);
	default: return true;
	}
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: difftest --a HOST:PORT --b HOST:PORT [--seed S] [--ops N] [--keys K]\n"
		"                [--families F,...|all] [--commands get,set,...|all]\n"
		"                [--skip cmd,...] [--check-every N] [--stats] [--trace FILE]\n"
		"                [--shards N] [--verbose]\n"
		"                [--no-flush]\n"
		"Runs the same seeded random commands against A (under test) and B\n"
		"(reference) and fails on the first differing reply. Flushes DBs 0, 1, 2\n"
		"and 15 of both servers first, unless --no-flush: then the keyspace in\n"
		"those DBs is compared first and the run goes on from the data there.\n"
		"Enabled: the rows of --families plus the rows of --commands, minus\n"
		"those of --skip; with neither: --families " DT_DEFAULT_FAMILIES " minus,\n"
		"unless --skip is given (--skip none: nothing), the rows with open\n"
		"keyrail bugs: " DT_DEFAULT_SKIP ".\n"
		"families:");
	for (int i = 0; i < DT_NFAMS; i++)
		fprintf(f, "%s%s", i ? "," : " ", dt_fam_names[i]);
	fprintf(f, "\ncommands:");
	for (size_t i = 0; i < DT_NCMDS; i++)
		fprintf(f, "%s%s", i ? "," : " ", dt_cmds[i].name);
	fprintf(f, "\n");
}

static int parse_addr(struct dt_srv *s, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	long port;

	if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(s->host) ||
	    strlen(arg) >= sizeof(s->addr))
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -EINVAL;
	memcpy(s->host, arg, (size_t)(colon - arg));
	s->host[colon - arg] = '\0';
	snprintf(s->addr, sizeof(s->addr), "%s", arg);
	s->port = (int)port;
	return 0;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_families(const char *arg)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;
	bool any = false;

	if (strcmp(arg, "all") == 0) {
		for (size_t i = 0; i < DT_NCMDS; i++)
			dt_enabled[i] = true;
		return 0;
	}
	copy = strdup(arg);
	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int f;

		for (f = 0; f < DT_NFAMS; f++)
			if (strcasecmp(tok, dt_fam_names[f]) == 0)
				break;
		if (f == DT_NFAMS) {
			fprintf(stderr, "difftest: unknown family '%s' in --families\n", tok);
			rc = -EINVAL;
			break;
		}
		any = true;
		for (size_t i = 0; i < DT_NCMDS; i++)
			if (dt_cmds[i].family == f)
				dt_enabled[i] = true;
	}
	/* The error-path rows go with any family. */
	if (any)
		for (size_t i = 0; i < DT_NCMDS; i++)
			if (dt_cmds[i].family == DT_FAM_MISC)
				dt_enabled[i] = true;
	free(copy);
	return rc;
}

static int parse_commands(const char *arg)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	if (strcmp(arg, "all") == 0) {
		for (size_t i = 0; i < DT_NCMDS; i++)
			dt_enabled[i] = true;
		return 0;
	}
	copy = strdup(arg);
	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < DT_NCMDS; i++)
			if (strcasecmp(tok, dt_cmds[i].name) == 0)
				break;
		if (i == DT_NCMDS) {
			fprintf(stderr, "difftest: unknown command '%s' in --commands\n", tok);
			rc = -EINVAL;
			break;
		}
		dt_enabled[i] = true;
	}
	free(copy);
	return rc;
}

/* Keys: three groups by index mod 3 (untagged "kN", "{t}kN", "{u}kN"), so
 * multi-key commands sometimes stay in one hash slot and sometimes not; with
 * enough keys, two odd names in the untagged group: binary bytes, and "". */
static void build_keys(struct dt *t)
{
	t->keys = dt_xrealloc(NULL, (size_t)t->nkeys * sizeof(*t->keys));
	for (int i = 0; i < t->nkeys; i++) {
		char buf[64];
		int n;

		if (t->nkeys >= 10 && i == 3) {
			static const char bin[] = "bin\0\xff\r\n key";

			n = (int)sizeof(bin) - 1;
			memcpy(buf, bin, (size_t)n);
		} else if (t->nkeys >= 10 && i == 6) {
			n = 0;
		} else {
			static const char *const fmt[] = {"k%d", "{t}k%d", "{u}k%d"};

			n = snprintf(buf, sizeof(buf), fmt[i % 3], i);
		}
		t->keys[i].p = dt_xrealloc(NULL, (size_t)n);
		memcpy(t->keys[i].p, buf, (size_t)n);
		t->keys[i].len = (size_t)n;
	}
	/* Homes by triples, so each home has keys of all three groups. */
	for (int h = 0; h < DT_NHOMES; h++)
		t->home_keys[h] = dt_xrealloc(NULL, (size_t)t->nkeys * sizeof(int));
	for (int i = 0; i < t->nkeys; i++) {
		int h = (i / 3) % DT_NHOMES;

		t->home_keys[h][t->home_n[h]++] = i;
	}
}

static int connect_srv(struct dt_srv *s)
{
	struct timeval conn_to = {5, 0}, io_to = {30, 0};

	s->c = redisConnectWithTimeout(s->host, s->port, conn_to);
	if (s->c == NULL || s->c->err) {
		fprintf(stderr, "difftest: cannot connect to %c %s: %s\n", s->label, s->addr,
			s->c ? s->c->errstr : "out of memory");
		return -ECONNREFUSED;
	}
	s->c->reader->fn = &dt_reply_fns;
	if (redisSetTimeout(s->c, io_to) != REDIS_OK) {
		fprintf(stderr, "difftest: cannot set timeout on %c\n", s->label);
		return -EIO;
	}
	return 0;
}

/* Weighted choice among enabled rows. */
static const struct dt_cmd *pick_cmd(struct dt *t, int total)
{
	int x = (int)rng_below(&t->rng, (uint64_t)total);

	for (size_t i = 0; i < DT_NCMDS; i++) {
		if (!dt_enabled[i])
			continue;
		if (x < dt_cmds[i].weight)
			return &dt_cmds[i];
		x -= dt_cmds[i].weight;
	}
	return NULL; /* unreachable: x < total */
}


/* Compare the whole content of key k in the current DB: its type, then its
 * value read in full (collections unordered where Redis leaves the order
 * open). No RNG draw: runs at fixed op numbers. */
static void check_key_content(struct dt *t, int k, bool tidy)
{
	static const char *const home_type[DT_NHOMES] = {
		[DT_HOME_STR] = "string", [DT_HOME_LIST] = "list", [DT_HOME_HASH] = "hash",
		[DT_HOME_SET] = "set", [DT_HOME_ZSET] = "zset", [DT_HOME_HLL] = "string",
	};
	bool stray;

	start_plain(t, "TYPE");
	add_key(t, k);
	dt_exec_next(t, DT_CMP_EXACT);
	stray = !reply_is(t->r[0], "none") && !reply_is(t->r[0], home_type[(k / 3) % DT_NHOMES]);
	if (reply_is(t->r[0], "list")) {
		start_plain(t, "LRANGE");
		add_key(t, k);
		args_str(&t->args, "0");
		args_str(&t->args, "-1");
		dt_exec_next(t, DT_CMP_EXACT);
	} else if (reply_is(t->r[0], "hash")) {
		start_plain(t, "HGETALL");
		add_key(t, k);
		dt_exec_next(t, DT_CMP_PAIRS_KEY);
	} else if (reply_is(t->r[0], "set")) {
		start_plain(t, "SMEMBERS");
		add_key(t, k);
		dt_exec_next(t, DT_CMP_SORTED_KEY);
	} else if (reply_is(t->r[0], "zset")) {
		start_plain(t, "ZRANGE");
		add_key(t, k);
		args_str(&t->args, "0");
		args_str(&t->args, "-1");
		args_str(&t->args, "WITHSCORES");
		dt_exec_next(t, DT_CMP_EXACT);
	}
	/* A value of another type in a home key (the 15% of picks that go
	 * anywhere, RENAME, COPY...) makes every later command of the home's
	 * type there a WRONGTYPE: clear it, so that rate stays about 15%. */
	if (tidy && stray) {
		start_plain(t, "DEL");
		add_key(t, k);
		dt_exec_next(t, DT_CMP_EXACT);
	}
}

/* Compare the keyspace of every used DB (at the start with --no-flush,
 * every --check-every ops, and at the end): strings by MGET, the key
 * names, and every key's type and content. Waits out all short expiries
 * first, so nothing expires on one server only during the sweep. With
 * value types on, the periodic checks also delete values that sit in
 * another type's home key (see check_key_content). */
static void state_check(struct dt *t)
{
	bool tidy = t->typed && t->op_no >= 1 && t->op_no <= t->ops;

	dt_gate_all(t);
	for (int d = 0; d < DT_NDBS; d++) {
		exec_select(t, dt_dbs[d]);
		start_plain(t, "MGET");
		for (int k = 0; k < t->nkeys; k++)
			add_key(t, k);
		dt_exec_next(t, DT_CMP_EXACT);
		start_plain(t, "KEYS");
		args_str(&t->args, "*");
		dt_exec_next(t, DT_CMP_SORTED);
		for (int k = 0; k < t->nkeys; k++)
			check_key_content(t, k, tidy);
	}
	exec_select(t, t->curdb);
}

int main(int argc, char **argv)
{
	struct dt *t = &dt_state;
	const char *a_arg = NULL, *b_arg = NULL;
	bool have_seed = false;
	long long v;
	int total = 0;

	t->ops = 10000;
	t->nkeys = 36;
	t->check_every = 1000;
	t->shards = 1;
	t->srv[0].label = 'A';
	t->srv[1].label = 'B';
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(opt, "--verbose") == 0 || strcmp(opt, "-v") == 0) {
			t->verbose = true;
			continue;
		}
		if (strcmp(opt, "--no-flush") == 0) {
			t->no_flush = true;
			continue;
		}
		if (strcmp(opt, "--stats") == 0) {
			t->stats = true;
			continue;
		}
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (val == NULL) {
			fprintf(stderr, "difftest: missing value for %s\n", opt);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(opt, "--a") == 0) {
			a_arg = val;
		} else if (strcmp(opt, "--b") == 0) {
			b_arg = val;
		} else if (strcmp(opt, "--seed") == 0) {
			char *end;

			errno = 0;
			t->seed = strtoull(val, &end, 10);
			if (errno || end == val || *end != '\0' || val[0] == '-') {
				fprintf(stderr, "difftest: bad --seed '%s'\n", val);
				return 2;
			}
			have_seed = true;
		} else if (strcmp(opt, "--ops") == 0) {
			if (parse_long(val, 0, LONG_MAX, &v) != 0) {
				fprintf(stderr, "difftest: bad --ops '%s'\n", val);
				return 2;
			}
			t->ops = (long)v;
		} else if (strcmp(opt, "--keys") == 0) {
			if (parse_long(val, 1, DT_MAX_KEYS, &v) != 0) {
				fprintf(stderr, "difftest: bad --keys '%s' (1..%d)\n", val, DT_MAX_KEYS);
				return 2;
			}
			t->nkeys = (int)v;
		} else if (strcmp(opt, "--commands") == 0) {
			t->commands_arg = val;
		} else if (strcmp(opt, "--trace") == 0) {
			t->trace = fopen(val, "w");
			if (t->trace == NULL) {
				fprintf(stderr, "difftest: cannot write --trace '%s': %s\n", val,
					strerror(errno));
				return 2;
			}
		} else if (strcmp(opt, "--families") == 0) {
			t->families_arg = val;
		} else if (strcmp(opt, "--skip") == 0) {
			t->skip_arg = val;
		} else if (strcmp(opt, "--shards") == 0) {
			if (parse_long(val, 1, 1024, &v) != 0) {
				fprintf(stderr, "difftest: bad --shards '%s'\n", val);
				return 2;
			}
			t->shards = (int)v;
		} else if (strcmp(opt, "--check-every") == 0) {
			if (parse_long(val, 0, LONG_MAX, &v) != 0) {
				fprintf(stderr, "difftest: bad --check-every '%s'\n", val);
				return 2;
			}
			t->check_every = (long)v;
		} else {
			fprintf(stderr, "difftest: unknown option '%s'\n", opt);
			usage(stderr);
			return 2;
		}
	}
	if (a_arg == NULL || b_arg == NULL) {
		fprintf(stderr, "difftest: --a and --b are required\n");
		usage(stderr);
		return 2;
	}
	if (parse_addr(&t->srv[0], a_arg) != 0 || parse_addr(&t->srv[1], b_arg) != 0) {
		fprintf(stderr, "difftest: addresses are HOST:PORT\n");
		return 2;
	}
	if (t->families_arg == NULL && t->commands_arg == NULL) {
		t->families_arg = DT_DEFAULT_FAMILIES;
		if (t->skip_arg == NULL && DT_DEFAULT_SKIP[0])
			t->skip_arg = DT_DEFAULT_SKIP;
	}
	if (t->skip_arg && strcmp(t->skip_arg, "none") == 0)
		t->skip_arg = NULL;
	if (t->families_arg && parse_families(t->families_arg) != 0)
		return 2;
	if (t->commands_arg && parse_commands(t->commands_arg) != 0)
		return 2;
	if (t->skip_arg) {
		bool keep[DT_NCMDS];

		memcpy(keep, dt_enabled, sizeof(keep));
		memset(dt_enabled, 0, sizeof(dt_enabled));
		if (parse_commands(t->skip_arg) != 0)
			return 2;
		for (size_t i = 0; i < DT_NCMDS; i++)
			dt_enabled[i] = keep[i] && !dt_enabled[i];
	}
	for (size_t i = 0; i < DT_NCMDS; i++)
		if (dt_enabled[i] && dt_cmds[i].family != DT_FAM_STRINGS &&
		    dt_cmds[i].family != DT_FAM_KEYS && dt_cmds[i].family != DT_FAM_MISC)
			t->typed = true;
	for (size_t i = 0; i < DT_NCMDS; i++)
		if (dt_enabled[i])
			total += dt_cmds[i].weight;
	if (total == 0) {
		fprintf(stderr, "difftest: no commands selected\n");
		return 2;
	}
	if (!have_seed)
		t->seed = (uint64_t)dt_now_ms() ^ ((uint64_t)getpid() << 32);
	t->rng.s = t->seed;
	build_keys(t);
	t->sorted_zset = dt_xrealloc(NULL, (size_t)t->nkeys * sizeof(bool));
	memset(t->sorted_zset, 0, (size_t)t->nkeys * sizeof(bool));
	for (int i = 0; i < 2; i++)
		if (connect_srv(&t->srv[i]) != 0)
			return 2;
	printf("difftest: seed %" PRIu64 ", %ld ops, %d keys, families %s, commands %s, skip %s, "
	       "A %s, B %s\n",
	       t->seed, t->ops, t->nkeys, t->families_arg ? t->families_arg : "-",
	       t->commands_arg ? t->commands_arg : "-", t->skip_arg ? t->skip_arg : "-",
	       t->srv[0].addr, t->srv[1].addr);
	fflush(stdout);

	/* Start both from the same empty DBs, or check they hold the same. */
	if (t->no_flush) {
		t->opname = "initial state check";
		/* Keys the previous run left with short expiries may be due. */
		dt_sleep_ms(DT_SHORT_MAX_MS + DT_GATE_MARGIN_MS);
		t->expiry_dirty = true;
		t->curdb = 0;
		state_check(t);
	} else {
		t->opname = "setup";
		for (int d = 0; d < DT_NDBS; d++) {
			exec_select(t, dt_dbs[d]);
			start_plain(t, "FLUSHDB");
			dt_exec(t, DT_CMP_EXACT);
		}
		exec_select(t, 0);
	}
	t->curdb = 0;
	/* Script caches outlive FLUSHDB: EVALSHA must start from empty ones. */
	if (dt_fam_on(DT_FAM_SCRIPTING)) {
		start_plain(t, "SCRIPT");
		args_str(&t->args, "FLUSH");
		dt_exec(t, DT_CMP_EXACT);
	}

	for (t->op_no = 1; t->op_no <= t->ops; t->op_no++) {
		const struct dt_cmd *cmd = pick_cmd(t, total);

		t->opname = cmd->name;
		t->cur_cmd = cmd;
		dt_stat_ops[cmd - dt_cmds]++;
		cmd->gen(t);
		t->cur_cmd = NULL;
		t->passed++;
		if (t->check_every > 0 && t->op_no % t->check_every == 0 && t->op_no < t->ops) {
			t->opname = "periodic state check";
			state_check(t);
		}
	}
	t->opname = "final state check";
	t->op_no = t->ops + 1;
	state_check(t);
	if (t->stats)
		dt_print_stats();
	dt_summary(t, 0);

	for (int i = 0; i < 2; i++) {
		freeReplyObject(t->r[i]);
		redisFree(t->srv[i].c);
		if (t->sub[i].c)
			redisFree(t->sub[i].c);
	}
	args_free(&t->args);
	for (int i = 0; i < t->nkeys; i++)
		free(t->keys[i].p);
	free(t->keys);
	for (int h = 0; h < DT_NHOMES; h++)
		free(t->home_keys[h]);
	free(t->sorted_zset);
	return 0;
}
