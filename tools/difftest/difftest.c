/* difftest: differential tester for keyrail against a reference server.
 *
 * Runs one seeded random command sequence against two servers at once
 * (A = the server under test, B = the reference, normally Debian's
 * redis-server 7.0) and stops at the first reply that differs, printing the
 * seed, the op number, the command and both replies. Every command goes to
 * both servers in the same order, so their states stay identical as long as
 * their replies do.
 *
 * Commands are table-driven: one row per command in dt_cmds[] names a
 * generator that builds the arguments (valid forms, invalid option combos,
 * bad numbers, wrong arity, missing keys) and runs one or more steps through
 * dt_exec(), which sends to both, compares and fails. A later issue adds a
 * row and a generator; nothing else lists commands.
 *
 * Replies that Redis itself does not define exactly are normalised, never
 * skipped: KEYS is compared sorted; SCAN is iterated to cursor 0 on each
 * server and the key sets are compared; RANDOMKEY must be nil on both or a
 * key on both that then EXISTS on both; TTL-like replies are compared with a
 * tolerance. Short expiries (a few hundred ms) are gated: before a step runs
 * past the earliest possible short deadline, the tester sleeps until every
 * short deadline is surely over on both servers, so no key is ever read in
 * the window where one server has expired it and the other not. DBSIZE (which
 * in Redis counts expired keys not yet reclaimed) is preceded by an EXISTS
 * sweep over the whole keyspace of every used DB when an expiry could have
 * left such a key behind.
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

/* RESP-ish one-line rendering: +status, -error, :int, "bulk", (nil),
 * *N [a, b, ...]. */
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
		sb_puts(sb, "(nil)");
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
		return true;
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
	DT_CMP_SORTED,     /* arrays compared as sorted multisets (KEYS) */
	DT_CMP_TTL_S,      /* negative codes exact, otherwise +-1 */
	DT_CMP_TTL_MS,     /* negative codes exact, otherwise +-slack */
	DT_CMP_RANDOMKEY,  /* nil on both, or a bulk on both */
};

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
	printf("  reproduce: difftest --a %s --b %s --seed %" PRIu64
	       " --ops %ld --keys %d --commands %s%s\n",
	       t->srv[0].addr, t->srv[1].addr, t->seed,
	       t->op_no < 1 ? 1 : (t->op_no > t->ops ? t->ops : t->op_no),
	       t->nkeys, t->commands_arg, t->no_flush ? " --no-flush" : "");
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

/* Send t->args to both servers before reading either reply, so both run the
 * command at nearly the same moment; keep the replies in t->r. */
static void dt_send_both(struct dt *t)
{
	int64_t m0;

	for (int i = 0; i < 2; i++) {
		freeReplyObject(t->r[i]);
		t->r[i] = NULL;
	}
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

static void dt_check(struct dt *t, enum dt_cmp cmp)
{
	const redisReply *a = t->r[0], *b = t->r[1];

	switch (cmp) {
	case DT_CMP_EXACT:
		if (!dt_reply_eq(a, b))
			dt_fail(t, "replies differ");
		return;
	case DT_CMP_SORTED: {
		struct dt_strset sa = {0}, sb = {0};
		bool eq;

		if (!dt_strings_array(a) || !dt_strings_array(b)) {
			if (!dt_reply_eq(a, b))
				dt_fail(t, "replies differ");
			return;
		}
		for (size_t i = 0; i < a->elements; i++)
			ss_add(&sa, a->element[i]->str, a->element[i]->len);
		for (size_t i = 0; i < b->elements; i++)
			ss_add(&sb, b->element[i]->str, b->element[i]->len);
		ss_sort(&sa, false);
		ss_sort(&sb, false);
		eq = ss_eq(&sa, &sb);
		ss_free(&sa);
		ss_free(&sb);
		if (!eq)
			dt_fail(t, "replies differ (compared as sorted sets)");
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

static void gen_get(struct dt *t)
{
	start_cmd(t, "GET");
	add_random_key(t);
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
	add_random_key(t);
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
	add_random_key(t);
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
	add_random_key(t);
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
	add_random_key(t);
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
	int n = (int)rng_range(&t->rng, 1, 5), first = pick_key(t);

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
	add_random_key(t);
	add_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getdel(struct dt *t)
{
	start_cmd(t, "GETDEL");
	add_random_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_getex(struct dt *t)
{
	struct dt_exp e = {DT_EXP_NONE, 0};
	uint64_t c = rng_below(&t->rng, 100);

	start_cmd(t, "GETEX");
	add_random_key(t);
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
	add_random_key(t);
	add_short_value(t);
	dt_exec(t, DT_CMP_EXACT);
}

static void gen_strlen(struct dt *t)
{
	start_cmd(t, "STRLEN");
	add_random_key(t);
	dt_exec(t, DT_CMP_EXACT);
}

/* INCR/DECR; sometimes first park the key at the edge so it overflows. */
static void gen_incr_common(struct dt *t, const char *name, const char *edge)
{
	int k = pick_key(t);

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
	add_random_key(t);
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
	int k = pick_key(t);
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
	add_random_key(t);
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
	add_random_key(t);
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

static void gen_rename_common(struct dt *t, const char *name)
{
	int src = pick_key(t);

	start_cmd(t, name);
	add_key(t, src);
	add_key(t, rng_pct(&t->rng, 8) ? src : pick_related(t, src));
	dt_exec(t, DT_CMP_EXACT);
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
	int src = pick_key(t);
	uint64_t c;

	start_cmd(t, "COPY");
	add_key(t, src);
	add_key(t, rng_pct(&t->rng, 10) ? src : pick_related(t, src));
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

/* A well-formed SCAN page: [cursor, [key...]]. */
static bool scan_page_ok(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	       r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len > 0 &&
	       dt_strings_array(r->element[1]);
}

/* Run SCAN to cursor 0 on server i, starting from the first page already in
 * t->r[i], and collect the keys. t->args holds the first call's arguments
 * (cursor at index 1). Returns NULL or a failure description. */
static const char *scan_collect(struct dt *t, int i, struct dt_strset *set)
{
	struct dt_args page = {0};
	redisReply *r = t->r[i];
	redisReply *own = NULL;
	const char *err = NULL;
	long pages = 0;

	for (;;) {
		if (!scan_page_ok(r)) {
			err = "malformed SCAN page";
			break;
		}
		for (size_t j = 0; j < r->element[1]->elements; j++)
			ss_add(set, r->element[1]->element[j]->str, r->element[1]->element[j]->len);
		if (r->element[0]->len == 1 && r->element[0]->str[0] == '0')
			break;
		if (++pages > DT_SCAN_MAX_PAGES) {
			err = "SCAN did not return to cursor 0";
			break;
		}
		args_reset(&page);
		for (int a = 0; a < t->args.argc; a++) {
			if (a == 1)
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

/* SCAN cursor [MATCH p] [COUNT n] [TYPE t]: both servers iterate the whole
 * scan with the same options; the de-duplicated key sets must match. */
static void gen_scan(struct dt *t)
{
	static const char *const types[] = {"string", "none", "list", "hash", "set", "zset",
					    "stream", "bogus", "STRING"};
	struct dt_strset s[2] = {{0}, {0}};
	const char *err[2];
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

	for (int attempt = 0;; attempt++) {
		dt_gate(t);
		/* Redis' TYPE none lists expired keys that were not reclaimed yet
		 * (the type lookup deletes them, so the expiry filter misses
		 * them): reclaim first, as for DBSIZE. */
		if (type_none && t->expiry_dirty) {
			struct dt_args keep = t->args;

			memset(&t->args, 0, sizeof(t->args));
			dt_sweep(t);
			args_free(&t->args);
			t->args = keep;
		}
		dt_send_both(t);
		if (!scan_page_ok(t->r[0]) || !scan_page_ok(t->r[1])) {
			dt_check(t, DT_CMP_EXACT); /* errors must be the same error */
			if (!scan_page_ok(t->r[0]) && t->r[0]->type != REDIS_REPLY_ERROR)
				dt_fail(t, "SCAN reply is neither a page nor an error");
			return;
		}
		for (int i = 0; i < 2; i++) {
			err[i] = scan_collect(t, i, &s[i]);
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
		dt_fail_text(t, "full SCAN iterations found different key sets", a.p, b.p);
	}
	ss_free(&s[0]);
	ss_free(&s[1]);
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
	dt_exec(t, DT_CMP_EXACT);
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

static void gen_arity(struct dt *t);

/* ----------------------------------------------------------- the table */

struct dt_cmd {
	const char *name;     /* lower case; what --commands lists */
	int arity;            /* Redis arity (N exact, -N at least N); 0: no command */
	int weight;           /* relative frequency */
	void (*gen)(struct dt *t);
};

static const struct dt_cmd dt_cmds[] = {
	/* strings */
	{"get", 2, 8, gen_get},
	{"set", -3, 12, gen_set},
	{"setnx", 3, 2, gen_setnx},
	{"setex", 4, 2, gen_setex},
	{"psetex", 4, 2, gen_psetex},
	{"mget", -2, 3, gen_mget},
	{"mset", -3, 4, gen_mset},
	{"msetnx", -3, 2, gen_msetnx},
	{"getset", 3, 2, gen_getset},
	{"getdel", 2, 2, gen_getdel},
	{"getex", -2, 3, gen_getex},
	{"append", 3, 4, gen_append},
	{"strlen", 2, 2, gen_strlen},
	{"incr", 2, 3, gen_incr},
	{"decr", 2, 2, gen_decr},
	{"incrby", 3, 2, gen_incrby},
	{"decrby", 3, 2, gen_decrby},
	{"incrbyfloat", 3, 3, gen_incrbyfloat},
	{"getrange", 4, 2, gen_getrange},
	{"setrange", 4, 3, gen_setrange},
	{"substr", 4, 1, gen_substr},
	{"lcs", -3, 2, gen_lcs},
	/* keys */
	{"del", -2, 3, gen_del},
	{"unlink", -2, 2, gen_unlink},
	{"exists", -2, 3, gen_exists},
	{"type", 2, 2, gen_type},
	{"expire", -3, 3, gen_expire},
	{"pexpire", -3, 3, gen_pexpire},
	{"expireat", -3, 2, gen_expireat},
	{"pexpireat", -3, 2, gen_pexpireat},
	{"ttl", 2, 3, gen_ttl},
	{"pttl", 2, 3, gen_pttl},
	{"expiretime", 2, 2, gen_expiretime},
	{"pexpiretime", 2, 2, gen_pexpiretime},
	{"persist", 2, 2, gen_persist},
	{"rename", 3, 2, gen_rename},
	{"renamenx", 3, 2, gen_renamenx},
	{"copy", -3, 3, gen_copy},
	{"keys", 2, 2, gen_keys},
	{"scan", -2, 2, gen_scan},
	{"randomkey", 1, 2, gen_randomkey},
	{"dbsize", 1, 1, gen_dbsize},
	{"flushdb", -1, 1, gen_flushdb},
	{"select", 2, 3, gen_select},
	{"swapdb", 3, 1, gen_swapdb},
	{"touch", -2, 2, gen_touch},
	{"object", -2, 4, gen_object},
	/* connection */
	{"ping", -1, 1, gen_ping},
	{"echo", 2, 1, gen_echo},
	/* pseudo rows: error paths across the table */
	{"arity", 0, 3, gen_arity},
	{"unknown", 0, 1, gen_unknown},
};
#define DT_NCMDS (sizeof(dt_cmds) / sizeof(dt_cmds[0]))

static bool dt_enabled[DT_NCMDS];

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

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: difftest --a HOST:PORT --b HOST:PORT [--seed S] [--ops N] [--keys K]\n"
		"                [--commands get,set,...|all] [--verbose] [--no-flush]\n"
		"Runs the same seeded random commands against A (under test) and B\n"
		"(reference) and fails on the first differing reply. Flushes DBs 0, 1, 2\n"
		"and 15 of both servers first, unless --no-flush: then the keyspace in\n"
		"those DBs is compared first and the run goes on from the data there.\n"
		"commands:");
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

/* Compare the keyspace of every used DB (at the start with --no-flush,
 * and at the end). */
static void state_check(struct dt *t)
{
	dt_gate(t);
	for (int d = 0; d < DT_NDBS; d++) {
		exec_select(t, dt_dbs[d]);
		start_plain(t, "MGET");
		for (int k = 0; k < t->nkeys; k++)
			add_key(t, k);
		dt_exec_next(t, DT_CMP_EXACT);
		start_plain(t, "KEYS");
		args_str(&t->args, "*");
		dt_exec_next(t, DT_CMP_SORTED);
	}
	exec_select(t, 0);
}

int main(int argc, char **argv)
{
	struct dt *t = &dt_state;
	const char *a_arg = NULL, *b_arg = NULL;
	bool have_seed = false;
	long long v;
	int total = 0;

	t->ops = 10000;
	t->nkeys = 30;
	t->commands_arg = "all";
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
	if (parse_commands(t->commands_arg) != 0)
		return 2;
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
	for (int i = 0; i < 2; i++)
		if (connect_srv(&t->srv[i]) != 0)
			return 2;
	printf("difftest: seed %" PRIu64 ", %ld ops, %d keys, commands %s, A %s, B %s\n",
	       t->seed, t->ops, t->nkeys, t->commands_arg, t->srv[0].addr, t->srv[1].addr);
	fflush(stdout);

	/* Start both from the same empty DBs, or check they hold the same. */
	if (t->no_flush) {
		t->opname = "initial state check";
		/* Keys the previous run left with short expiries may be due. */
		dt_sleep_ms(DT_SHORT_MAX_MS + DT_GATE_MARGIN_MS);
		t->expiry_dirty = true;
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

	for (t->op_no = 1; t->op_no <= t->ops; t->op_no++) {
		const struct dt_cmd *cmd = pick_cmd(t, total);

		t->opname = cmd->name;
		cmd->gen(t);
		t->passed++;
	}
	t->opname = "final state check";
	t->op_no = t->ops + 1;
	state_check(t);
	dt_summary(t, 0);

	for (int i = 0; i < 2; i++) {
		freeReplyObject(t->r[i]);
		redisFree(t->srv[i].c);
	}
	args_free(&t->args);
	for (int i = 0; i < t->nkeys; i++)
		free(t->keys[i].p);
	free(t->keys);
	return 0;
}
