/* Integration tests of Pub/Sub: SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/
 * PUNSUBSCRIBE, PUBLISH, PUBSUB CHANNELS/NUMSUB/NUMPAT/HELP and the sharded
 * forms (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS/
 * SHARDNUMSUB), in RESP2 (hiredis) and RESP3 (raw sockets: hiredis 0.14
 * cannot read push frames).
 *
 * keyrail keeps each connection's subscriptions on the shard that accepted
 * it and PUBLISH runs on every shard, so the interesting runs are
 * KR_SHARDS=3 with subscribers on every shard. A keyrail client id is
 * seq * nshards + shard, so connect_on() reconnects until CLIENT ID % 3 is
 * the wanted shard: with 3 shards the tests place subscribers exactly; with
 * one shard or on redis-server the same code just picks ids. */
#include "tests/integration/harness.h"

#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct kr_srv srv;

static void start_default(void) { kr_srv_start(&srv, NULL); }
static void stop_server(void) { kr_srv_stop(&srv); }

/* Every test ends here: a clean exit (status 0) also proves, in sanitizer
 * builds, that nothing the test did tripped ASan/UBSan or leaked, even with
 * subscribers still connected. (Criterion 2.4 does not count assertions
 * in .fini, so this runs inside the test; the .fini stop is then a no-op.) */
static void finish(void)
{
	int st = kr_srv_stop(&srv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %#x", st);
}

TestSuite(pubsub, .init = start_default, .fini = stop_server, .timeout = 240);

#define CTX_ERR "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"

/* ---- RESP2 helpers (hiredis) ---- */

static char *render(const redisReply *r)
{
	struct kr_sb b = { 0 };
	kr_render(&b, r);
	if (!b.s)
		kr_sb_add(&b, "", 0);
	return b.s;
}

/* Read the next reply or pushed message and compare its rendering. */
static void expect(redisContext *c, const char *want)
{
	redisReply *r = NULL;
	int rc = redisGetReply(c, (void **)&r);
	cr_assert(rc == REDIS_OK && r, "no reply (expected %s): %s", want, c->errstr);
	char *got = render(r);
	cr_assert_str_eq(got, want, "expected %s, got %s", want, got);
	free(got);
	freeReplyObject(r);
}

static void send_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAppendCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(rc == REDIS_OK);
}

/* Run a command and compare the rendered reply. */
static void run(redisContext *c, const char *want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAppendCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(rc == REDIS_OK);
	expect(c, want);
}

static long long client_id(redisContext *c)
{
	redisReply *r = kr_cmd(c, "CLIENT ID");
	cr_assert(r->type == REDIS_REPLY_INTEGER);
	long long id = r->integer;
	freeReplyObject(r);
	return id;
}

/* A client whose id says it lives on shard `shard` of 3 (see top). */
static redisContext *connect_on(unsigned shard)
{
	for (int tries = 0; tries < 300; tries++) {
		redisContext *c = kr_connect(&srv);
		if ((unsigned long long)client_id(c) % 3 == shard)
			return c;
		redisFree(c);
	}
	cr_assert_fail("no connection landed on shard %u", shard);
	return NULL;
}

static void expect_names(redisContext *c, const char *want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAppendCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(rc == REDIS_OK);
	redisReply *r = NULL;
	cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r);
	cr_assert(r->type == REDIS_REPLY_ARRAY, "not an array");
	char *got = kr_sorted_elements(r);   /* order-free check */
	cr_assert_str_eq(got, want, "expected {%s}, got {%s}", want, got);
	free(got);
	freeReplyObject(r);
}

/* ---- RESP3 helper: a buffered raw reader (kr_raw_read would drop bytes
 * read past the values it was asked for, and pushes arrive unasked). ---- */

struct rd {
	int fd;
	char *buf;
	size_t len, off, cap;
};

static void rd_open(struct rd *r, bool resp3)
{
	memset(r, 0, sizeof(*r));
	r->fd = kr_raw_connect(&srv);
	r->cap = 1 << 16;
	r->buf = malloc(r->cap);
	if (resp3) {
		kr_raw_sends(r->fd, "HELLO 3\r\n");
		size_t n = 0;
		char *hello = NULL;
		/* HELLO's map reply: read it through the same buffer. */
		for (;;) {
			long l = kr_raw_value_len(r->buf + r->off, r->len - r->off);
			cr_assert(l >= 0);
			if (l > 0) {
				hello = r->buf + r->off;
				n = (size_t)l;
				r->off += (size_t)l;
				break;
			}
			ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
			cr_assert(got > 0, "HELLO 3: no reply");
			r->len += (size_t)got;
		}
		cr_assert(n > 0 && hello[0] == '%', "HELLO 3 did not answer a map: %.*s", (int)n, hello);
	}
}

static void rd_close(struct rd *r)
{
	close(r->fd);
	free(r->buf);
}

/* The next complete value as a NUL-terminated string (valid until the
 * next call). */
static const char *rd_next(struct rd *r)
{
	static char *last;
	for (;;) {
		long l = kr_raw_value_len(r->buf + r->off, r->len - r->off);
		cr_assert(l >= 0, "malformed reply: %.*s", (int)(r->len - r->off), r->buf + r->off);
		if (l > 0) {
			free(last);
			last = strndup(r->buf + r->off, (size_t)l);
			r->off += (size_t)l;
			return last;
		}
		if (r->off == r->len)
			r->off = r->len = 0;
		if (r->cap - r->len < 4096) {
			r->cap *= 2;
			r->buf = realloc(r->buf, r->cap);
		}
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		cr_assert(got > 0, "connection gave no more data (timeout or EOF)");
		r->len += (size_t)got;
	}
}

static void rd_expect(struct rd *r, const char *want)
{
	const char *got = rd_next(r);
	cr_assert_str_eq(got, want, "\nexpected: %s\ngot:      %s", want, got);
}

/* ------------------------------------------------------------ tests */

Test(pubsub, publish_reaches_every_subscriber_once)
{
	/* Two subscribers per shard, plus one subscribing twice (no effect). */
	redisContext *sub[6];
	for (int i = 0; i < 6; i++) {
		sub[i] = connect_on((unsigned)i % 3);
		run(sub[i], "*3[$subscribe,$news,:1]", "SUBSCRIBE news");
		run(sub[i], "*3[$subscribe,$other,:2]", "SUBSCRIBE other");
	}
	run(sub[0], "*3[$subscribe,$news,:2]", "SUBSCRIBE news");
	for (unsigned p = 0; p < 3; p++) {
		redisContext *pub = connect_on(p);
		kr_int(pub, 6, "PUBLISH news hello%u", p);
		kr_int(pub, 0, "PUBLISH nobody hello");
		/* A marker after the message: anything delivered twice would
		 * show up before it. */
		kr_int(pub, 6, "PUBLISH other marker%u", p);
		for (int i = 0; i < 6; i++) {
			char want[64];
			snprintf(want, sizeof(want), "*3[$message,$news,$hello%u]", p);
			expect(sub[i], want);
			snprintf(want, sizeof(want), "*3[$message,$other,$marker%u]", p);
			expect(sub[i], want);
		}
		redisFree(pub);
	}
	redisContext *q = kr_connect(&srv);
	run(q, "*4[$news,:6,$other,:6]", "PUBSUB NUMSUB news other");
	for (int i = 0; i < 6; i++)
		redisFree(sub[i]);
	redisFree(q);
	finish();
}

Test(pubsub, pipelined_publisher_order_is_kept)
{
	enum { NA = 10000, NB = 2000, NSUB = 6 };
	/* Per shard: one channel and one pattern subscriber. */
	redisContext *sub[NSUB];
	for (int i = 0; i < NSUB; i++) {
		sub[i] = connect_on((unsigned)i % 3);
		if (i < 3)
			run(sub[i], "*3[$subscribe,$seq,:1]", "SUBSCRIBE seq");
		else
			run(sub[i], "*3[$psubscribe,$s?q,:1]", "PSUBSCRIBE s?q");
	}
	/* Publisher A pipelines NA numbered messages; B, on another shard,
	 * NB at the same time: each one's order must hold at every reader. */
	redisContext *a = connect_on(0), *b = connect_on(1);
	for (int i = 0; i < NA; i++)
		send_cmd(a, "PUBLISH seq A%d", i);
	for (int i = 0; i < NB; i++)
		send_cmd(b, "PUBLISH seq B%d", i);
	int done_a = 0, done_b = 0;
	while (!done_a || !done_b) {
		if (!done_a)
			cr_assert(redisBufferWrite(a, &done_a) == REDIS_OK);
		if (!done_b)
			cr_assert(redisBufferWrite(b, &done_b) == REDIS_OK);
	}
	for (int i = 0; i < NA + NB; i++) {
		redisContext *p = i < NA ? a : b;
		redisReply *r = NULL;
		cr_assert(redisGetReply(p, (void **)&r) == REDIS_OK && r);
		cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == NSUB,
			  "publish %d reached %lld subscribers", i, r->integer);
		freeReplyObject(r);
	}
	for (int s = 0; s < NSUB; s++) {
		int next_a = 0, next_b = 0;
		for (int i = 0; i < NA + NB; i++) {
			redisReply *r = NULL;
			cr_assert(redisGetReply(sub[s], (void **)&r) == REDIS_OK && r,
				  "subscriber %d: message %d missing", s, i);
			bool pat = s >= 3;
			cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == (pat ? 4u : 3u));
			cr_assert_str_eq(r->element[0]->str, pat ? "pmessage" : "message");
			const char *m = r->element[pat ? 3 : 2]->str;
			char want[32];
			if (m[0] == 'A')
				snprintf(want, sizeof(want), "A%d", next_a++);
			else
				snprintf(want, sizeof(want), "B%d", next_b++);
			cr_assert_str_eq(m, want, "subscriber %d: got %s, expected %s", s, m, want);
			freeReplyObject(r);
		}
		cr_assert(next_a == NA && next_b == NB);
	}
	for (int i = 0; i < NSUB; i++)
		redisFree(sub[i]);
	redisFree(a);
	redisFree(b);
	finish();
}

Test(pubsub, pattern_and_channel_both_deliver)
{
	redisContext *s = connect_on(1), *pub = connect_on(2);
	run(s, "*3[$subscribe,$a.b,:1]", "SUBSCRIBE a.b");
	run(s, "*3[$psubscribe,$a.*,:2]", "PSUBSCRIBE a.*");
	run(s, "*3[$psubscribe,$*b,:3]", "PSUBSCRIBE *b");
	run(s, "*3[$psubscribe,$x[yz],:4]", "PSUBSCRIBE x[yz]");
	kr_int(pub, 3, "PUBLISH a.b one");
	/* Channel subscribers first, then each matching pattern (in any order). */
	expect(s, "*3[$message,$a.b,$one]");
	redisReply *r1, *r2;
	cr_assert(redisGetReply(s, (void **)&r1) == REDIS_OK);
	cr_assert(redisGetReply(s, (void **)&r2) == REDIS_OK);
	char *g1 = render(r1), *g2 = render(r2);
	bool ok = (!strcmp(g1, "*4[$pmessage,$a.*,$a.b,$one]") && !strcmp(g2, "*4[$pmessage,$*b,$a.b,$one]")) ||
		  (!strcmp(g2, "*4[$pmessage,$a.*,$a.b,$one]") && !strcmp(g1, "*4[$pmessage,$*b,$a.b,$one]"));
	cr_assert(ok, "pattern deliveries: %s %s", g1, g2);
	free(g1);
	free(g2);
	freeReplyObject(r1);
	freeReplyObject(r2);
	kr_int(pub, 1, "PUBLISH a.c two");
	expect(s, "*4[$pmessage,$a.*,$a.c,$two]");
	kr_int(pub, 1, "PUBLISH xz three");
	expect(s, "*4[$pmessage,$x[yz],$xz,$three]");
	kr_int(pub, 0, "PUBLISH xa four");
	kr_int(pub, 0, "PUBLISH A.B five");   /* matching is case-sensitive */
	kr_int(pub, 1, "PUBLISH zzb six");
	expect(s, "*4[$pmessage,$*b,$zzb,$six]");
	redisFree(s);
	redisFree(pub);
	finish();
}

/* Redis's glob never matches the empty string with a non-empty pattern:
 * "*" and "**" leave the channel "" alone, only the pattern "" matches it
 * (PUBSUB CHANNELS without a pattern still lists it). Checked against
 * redis-server 7.0.15. */
Test(pubsub, star_does_not_match_the_empty_channel)
{
	redisContext *s = connect_on(1), *p = connect_on(2), *p2 = connect_on(0);
	redisContext *pub = connect_on(1), *q = kr_connect(&srv);
	run(s, "*3[$subscribe,$,:1]", "SUBSCRIBE %b", "", (size_t)0);
	run(p, "*3[$psubscribe,$*,:1]", "PSUBSCRIBE *");
	send_cmd(p2, "PSUBSCRIBE %b **", "", (size_t)0);
	expect(p2, "*3[$psubscribe,$,:1]");
	expect(p2, "*3[$psubscribe,$**,:2]");

	run(q, "*1[$]", "PUBSUB CHANNELS");
	run(q, "*0[]", "PUBSUB CHANNELS *");
	run(q, "*0[]", "PUBSUB CHANNELS **");
	run(q, "*0[]", "PUBSUB CHANNELS ?*");
	run(q, "*1[$]", "PUBSUB CHANNELS %b", "", (size_t)0);

	/* "" reaches the channel and the empty pattern, not "*" or "**" ... */
	kr_int(pub, 2, "PUBLISH %b m1", "", (size_t)0);
	expect(s, "*3[$message,$,$m1]");
	expect(p2, "*4[$pmessage,$,$,$m1]");
	/* ... and "a" reaches "*" and "**", not "" */
	kr_int(pub, 2, "PUBLISH a m2");
	expect(p, "*4[$pmessage,$*,$a,$m2]");    /* nothing came before m2 */
	expect(p2, "*4[$pmessage,$**,$a,$m2]");
	run(s, "*2[$pong,$]", "PING");            /* nor after m1 */
	redisFree(s);
	redisFree(p);
	redisFree(p2);
	redisFree(pub);
	redisFree(q);
	finish();
}

Test(pubsub, subscribe_unsubscribe_counts)
{
	redisContext *c = kr_connect(&srv);
	send_cmd(c, "SUBSCRIBE a b a");
	expect(c, "*3[$subscribe,$a,:1]");
	expect(c, "*3[$subscribe,$b,:2]");
	expect(c, "*3[$subscribe,$a,:2]");
	/* Patterns count with channels; shard channels apart. */
	run(c, "*3[$psubscribe,$p*,:3]", "PSUBSCRIBE p*");
	run(c, "*3[$ssubscribe,$s1,:1]", "SSUBSCRIBE s1");
	run(c, "*3[$unsubscribe,$b,:2]", "UNSUBSCRIBE b");
	run(c, "*3[$unsubscribe,$zz,:2]", "UNSUBSCRIBE zz");
	run(c, "*3[$punsubscribe,$q*,:2]", "PUNSUBSCRIBE q*");
	send_cmd(c, "SUBSCRIBE c d");
	expect(c, "*3[$subscribe,$c,:3]");
	expect(c, "*3[$subscribe,$d,:4]");
	/* UNSUBSCRIBE without arguments: one reply per channel held (in the
	 * server's table order), counts going down; patterns stay. */
	send_cmd(c, "UNSUBSCRIBE");
	const char *seen[3];
	for (int i = 0; i < 3; i++) {
		redisReply *r = NULL;
		cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK && r);
		cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
		cr_assert_str_eq(r->element[0]->str, "unsubscribe");
		cr_assert_eq(r->element[2]->integer, 3 - i);
		seen[i] = strdup(r->element[1]->str);
		freeReplyObject(r);
	}
	bool have[3] = { false };
	for (int i = 0; i < 3; i++) {
		int k = !strcmp(seen[i], "a") ? 0 : !strcmp(seen[i], "c") ? 1 : !strcmp(seen[i], "d") ? 2 : -1;
		cr_assert(k >= 0 && !have[k], "unexpected channel %s", seen[i]);
		have[k] = true;
		free((void *)seen[i]);
	}
	run(c, "*3[$unsubscribe,nil,:1]", "UNSUBSCRIBE");
	run(c, "*3[$punsubscribe,$p*,:0]", "PUNSUBSCRIBE");
	run(c, "*3[$punsubscribe,nil,:0]", "PUNSUBSCRIBE");
	run(c, "*3[$sunsubscribe,$s1,:0]", "SUNSUBSCRIBE");
	run(c, "*3[$sunsubscribe,nil,:0]", "SUNSUBSCRIBE");
	run(c, "*3[$unsubscribe,nil,:0]", "UNSUBSCRIBE");
	/* Out of the subscribed state: any command runs. */
	kr_nil(c, "GET nokey");
	kr_int(c, 0, "PUBLISH a x");
	redisFree(c);
	finish();
}

Test(pubsub, bad_arguments)
{
	redisContext *c = kr_connect(&srv);
	kr_err(c, "ERR wrong number of arguments for 'subscribe' command", "SUBSCRIBE");
	kr_err(c, "ERR wrong number of arguments for 'psubscribe' command", "PSUBSCRIBE");
	kr_err(c, "ERR wrong number of arguments for 'ssubscribe' command", "SSUBSCRIBE");
	kr_err(c, "ERR wrong number of arguments for 'publish' command", "PUBLISH a");
	kr_err(c, "ERR wrong number of arguments for 'publish' command", "PUBLISH a b c");
	kr_err(c, "ERR wrong number of arguments for 'spublish' command", "SPUBLISH a");
	kr_err(c, "ERR wrong number of arguments for 'pubsub' command", "PUBSUB");
	kr_err(c, "ERR wrong number of arguments for 'pubsub|numpat' command", "PUBSUB NUMPAT x");
	kr_err(c, "ERR wrong number of arguments for 'pubsub|help' command", "PUBSUB HELP x");
	kr_err(c, "ERR unknown subcommand 'foo'. Try PUBSUB HELP.", "PUBSUB foo");
	kr_err(c, "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
	       "PUBSUB CHANNELS a b");
	kr_err(c, "ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP.",
	       "PUBSUB shardchannels a b");
	/* The connection still works and holds no subscription. */
	kr_status(c, "PONG", "PING");
	redisReply *r = kr_cmd(c, "PUBSUB HELP");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements > 10);
	cr_assert_str_eq(r->element[0]->str,
			 "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
	bool numsub = false;
	for (size_t i = 0; i < r->elements; i++)
		numsub |= !strcmp(r->element[i]->str, "NUMSUB [<channel> ...]");
	cr_assert(numsub);
	freeReplyObject(r);
	redisFree(c);
	finish();
}

Test(pubsub, introspection_across_shards)
{
	redisContext *s0 = connect_on(0), *s1 = connect_on(1), *s2 = connect_on(2);
	redisContext *q = kr_connect(&srv);
	expect_names(q, "", "PUBSUB CHANNELS");
	kr_int(q, 0, "PUBSUB NUMPAT");
	send_cmd(s0, "SUBSCRIBE a b");
	expect(s0, "*3[$subscribe,$a,:1]");
	expect(s0, "*3[$subscribe,$b,:2]");
	send_cmd(s1, "SUBSCRIBE b c");
	expect(s1, "*3[$subscribe,$b,:1]");
	expect(s1, "*3[$subscribe,$c,:2]");
	run(s2, "*3[$subscribe,$c,:1]", "SUBSCRIBE c");
	/* The same pattern on two shards is one pattern for NUMPAT. */
	run(s2, "*3[$psubscribe,$p*,:2]", "PSUBSCRIBE p*");
	send_cmd(s1, "PSUBSCRIBE p* h?llo");
	expect(s1, "*3[$psubscribe,$p*,:3]");
	expect(s1, "*3[$psubscribe,$h?llo,:4]");
	run(s0, "*3[$ssubscribe,$sh1,:1]", "SSUBSCRIBE sh1");
	run(s2, "*3[$ssubscribe,$sh1,:1]", "SSUBSCRIBE sh1");

	expect_names(q, "a,b,c", "PUBSUB CHANNELS");
	expect_names(q, "a,b,c", "PUBSUB CHANNELS *");
	expect_names(q, "b", "PUBSUB CHANNELS b*");
	expect_names(q, "a,c", "PUBSUB CHANNELS [ac]");
	expect_names(q, "", "PUBSUB CHANNELS zz*");
	/* Patterns are not channels. */
	expect_names(q, "", "PUBSUB CHANNELS p*");
	run(q, "*8[$a,:1,$b,:2,$c,:2,$d,:0]", "PUBSUB NUMSUB a b c d");
	run(q, "*4[$c,:2,$c,:2]", "PUBSUB NUMSUB c c");
	run(q, "*0[]", "PUBSUB NUMSUB");
	/* Pattern subscriptions are not counted by NUMSUB. */
	run(q, "*2[$p*,:0]", "PUBSUB NUMSUB p*");
	kr_int(q, 2, "PUBSUB NUMPAT");
	expect_names(q, "sh1", "PUBSUB SHARDCHANNELS");
	expect_names(q, "", "PUBSUB SHARDCHANNELS x*");
	run(q, "*4[$sh1,:2,$a,:0]", "PUBSUB SHARDNUMSUB sh1 a");

	/* Unsubscribing updates every view. */
	run(s1, "*3[$unsubscribe,$b,:3]", "UNSUBSCRIBE b");
	run(s2, "*3[$punsubscribe,$p*,:1]", "PUNSUBSCRIBE p*");
	run(q, "*6[$a,:1,$b,:1,$c,:2]", "PUBSUB NUMSUB a b c");
	kr_int(q, 2, "PUBSUB NUMPAT");
	run(s1, "*3[$punsubscribe,$p*,:2]", "PUNSUBSCRIBE p*");
	kr_int(q, 1, "PUBSUB NUMPAT");
	run(s0, "*3[$unsubscribe,$a,:1]", "UNSUBSCRIBE a");
	expect_names(q, "b,c", "PUBSUB CHANNELS");
	run(s0, "*3[$sunsubscribe,$sh1,:0]", "SUNSUBSCRIBE sh1");
	run(q, "*2[$sh1,:1]", "PUBSUB SHARDNUMSUB sh1");
	redisFree(s0);
	redisFree(s1);
	redisFree(s2);
	redisFree(q);
	finish();
}

Test(pubsub, sharded_channels_are_their_own_namespace)
{
	redisContext *ss = connect_on(0), *cs = connect_on(1), *ps = connect_on(2);
	redisContext *pub = kr_connect(&srv);
	run(ss, "*3[$ssubscribe,$room,:1]", "SSUBSCRIBE room");
	run(cs, "*3[$subscribe,$room,:1]", "SUBSCRIBE room");
	run(ps, "*3[$psubscribe,$r*,:1]", "PSUBSCRIBE r*");
	/* SPUBLISH reaches shard-channel subscribers only (no patterns). */
	kr_int(pub, 1, "SPUBLISH room s-msg");
	expect(ss, "*3[$smessage,$room,$s-msg]");
	/* PUBLISH reaches channel and pattern subscribers, not shard ones. */
	kr_int(pub, 2, "PUBLISH room c-msg");
	expect(cs, "*3[$message,$room,$c-msg]");
	expect(ps, "*4[$pmessage,$r*,$room,$c-msg]");
	kr_int(pub, 1, "SPUBLISH room s-msg2");
	/* ss got nothing from PUBLISH: its next message is the second SPUBLISH. */
	expect(ss, "*3[$smessage,$room,$s-msg2]");
	kr_int(pub, 0, "SPUBLISH nobody x");
	run(ss, "*3[$sunsubscribe,$room,:0]", "SUNSUBSCRIBE room");
	kr_int(pub, 0, "SPUBLISH room s-msg3");
	redisFree(ss);
	redisFree(cs);
	redisFree(ps);
	redisFree(pub);
	finish();
}

Test(pubsub, binary_channel_and_large_message)
{
	redisContext *s = connect_on(2), *pub = connect_on(0);
	const char chan[] = { 'c', '\0', 'h', '\r', '\n' };
	size_t big = 200000;
	char *msg = malloc(big);
	for (size_t i = 0; i < big; i++)
		msg[i] = (char)(i * 7 + 3);
	redisReply *r = redisCommand(s, "SUBSCRIBE %b", chan, sizeof(chan));
	cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
	cr_assert(r->element[1]->len == sizeof(chan) && !memcmp(r->element[1]->str, chan, sizeof(chan)));
	freeReplyObject(r);
	r = redisCommand(s, "PSUBSCRIBE %b", "c?h*", (size_t)4);
	cr_assert(r && r->elements == 3 && r->element[2]->integer == 2);
	freeReplyObject(r);
	r = redisCommand(pub, "PUBLISH %b %b", chan, sizeof(chan), msg, big);
	cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 2);
	freeReplyObject(r);
	for (int k = 0; k < 2; k++) {
		cr_assert(redisGetReply(s, (void **)&r) == REDIS_OK && r);
		size_t last = r->elements - 1;
		cr_assert(r->elements == (k ? 4u : 3u));
		cr_assert(r->element[last - 1]->len == sizeof(chan) &&
			  !memcmp(r->element[last - 1]->str, chan, sizeof(chan)));
		cr_assert(r->element[last]->len == big && !memcmp(r->element[last]->str, msg, big));
		freeReplyObject(r);
	}
	free(msg);
	redisFree(s);
	redisFree(pub);
	finish();
}

Test(pubsub, resp3_push_frames)
{
	struct rd s;
	rd_open(&s, true);
	redisContext *pub = kr_connect(&srv);
	kr_raw_sends(s.fd, "UNSUBSCRIBE\r\n");
	rd_expect(&s, ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
	kr_raw_sends(s.fd, "SUBSCRIBE ch1 ch2\r\n");
	rd_expect(&s, ">3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n");
	rd_expect(&s, ">3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n");
	kr_raw_sends(s.fd, "PSUBSCRIBE c*\r\n");
	rd_expect(&s, ">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n");
	/* RESP3 clients keep running any command while subscribed. */
	kr_raw_sends(s.fd, "SET k1 v1\r\nGET k1\r\nPING\r\n");
	rd_expect(&s, "+OK\r\n");
	rd_expect(&s, "$2\r\nv1\r\n");
	rd_expect(&s, "+PONG\r\n");
	kr_int(pub, 2, "PUBLISH ch1 hi");
	/* The message is queued before PUBLISH answers, so it precedes the
	 * reply to anything the subscriber sends now. */
	kr_raw_sends(s.fd, "GET k1\r\n");
	rd_expect(&s, ">3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$2\r\nhi\r\n");
	rd_expect(&s, ">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$3\r\nch1\r\n$2\r\nhi\r\n");
	rd_expect(&s, "$2\r\nv1\r\n");
	kr_raw_sends(s.fd, "UNSUBSCRIBE ch2\r\nPUNSUBSCRIBE\r\nSSUBSCRIBE sc\r\n");
	rd_expect(&s, ">3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:2\r\n");
	rd_expect(&s, ">3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:1\r\n");
	rd_expect(&s, ">3\r\n$10\r\nssubscribe\r\n$2\r\nsc\r\n:1\r\n");
	kr_int(pub, 1, "SPUBLISH sc yo");
	rd_expect(&s, ">3\r\n$8\r\nsmessage\r\n$2\r\nsc\r\n$2\r\nyo\r\n");
	kr_raw_sends(s.fd, "UNSUBSCRIBE\r\nSUNSUBSCRIBE\r\n");
	rd_expect(&s, ">3\r\n$11\r\nunsubscribe\r\n$3\r\nch1\r\n:0\r\n");
	rd_expect(&s, ">3\r\n$12\r\nsunsubscribe\r\n$2\r\nsc\r\n:0\r\n");
	kr_int(pub, 0, "PUBLISH ch1 gone");
	rd_close(&s);
	redisFree(pub);
	finish();
}

Test(pubsub, resp3_pushes_interleave_whole_with_replies)
{
	enum { N = 300 };
	/* The subscriber pipelines GETs of keys on every shard (their replies
	 * come back from other shards) while a publisher pipelines messages:
	 * every value must arrive whole, replies in request order, messages
	 * in publication order. */
	redisContext *setup = kr_connect(&srv);
	for (int i = 0; i < N; i++)
		send_cmd(setup, "SET ik:%d v%d", i, i);
	for (int i = 0; i < N; i++)
		expect(setup, "+OK");
	redisFree(setup);

	struct rd s;
	rd_open(&s, true);
	kr_raw_sends(s.fd, "SUBSCRIBE mix\r\n");
	rd_expect(&s, ">3\r\n$9\r\nsubscribe\r\n$3\r\nmix\r\n:1\r\n");
	redisContext *pub = kr_connect(&srv);
	struct kr_sb req = { 0 };
	for (int i = 0; i < N; i++)
		kr_sb_fmt(&req, "GET ik:%d\r\n", i);
	for (int i = 0; i < N; i++)
		send_cmd(pub, "PUBLISH mix m%d", i);
	int done = 0;
	kr_raw_send(s.fd, req.s, req.len / 2);
	while (!done)
		cr_assert(redisBufferWrite(pub, &done) == REDIS_OK);
	kr_raw_send(s.fd, req.s + req.len / 2, req.len - req.len / 2);
	free(req.s);
	for (int i = 0; i < N; i++)
		expect(pub, ":1");
	int next_reply = 0, next_msg = 0;
	while (next_reply < N || next_msg < N) {
		const char *v = rd_next(&s);
		char want[128];
		if (v[0] == '>') {
			snprintf(want, sizeof(want), ">3\r\n$7\r\nmessage\r\n$3\r\nmix\r\n$%d\r\nm%d\r\n",
				 1 + snprintf(NULL, 0, "%d", next_msg), next_msg);
			cr_assert_str_eq(v, want);
			next_msg++;
		} else {
			snprintf(want, sizeof(want), "$%d\r\nv%d\r\n",
				 1 + snprintf(NULL, 0, "%d", next_reply), next_reply);
			cr_assert_str_eq(v, want);
			next_reply++;
		}
	}
	rd_close(&s);
	redisFree(pub);
	finish();
}

Test(pubsub, resp3_self_publish_delivers_and_replies)
{
	/* A RESP3 client publishing to a channel it holds gets the message
	 * and the count. Redis queues the push before the reply; keyrail
	 * answers PUBLISH (a broadcast whose reply slot is reserved first)
	 * before the push, so only the pair is checked, not its order. */
	struct rd s;
	rd_open(&s, true);
	kr_raw_sends(s.fd, "SUBSCRIBE me\r\n");
	rd_expect(&s, ">3\r\n$9\r\nsubscribe\r\n$2\r\nme\r\n:1\r\n");
	kr_raw_sends(s.fd, "PUBLISH me hey\r\n");
	const char *push = ">3\r\n$7\r\nmessage\r\n$2\r\nme\r\n$3\r\nhey\r\n";
	char *v1 = strdup(rd_next(&s));
	const char *v2 = rd_next(&s);
	cr_assert((!strcmp(v1, push) && !strcmp(v2, ":1\r\n")) ||
		  (!strcmp(v1, ":1\r\n") && !strcmp(v2, push)), "got %s then %s", v1, v2);
	free(v1);
	rd_close(&s);
	finish();
}

/* ---- these need the lead's wiring: dispatcher check (ps_allowed), PING's
 * RESP2 form, RESET and connection close calling ps_conn_reset() ---- */

Test(pubsub, resp2_subscribed_context_restricts_commands)
{
	redisContext *c = kr_connect(&srv);
	run(c, "*3[$subscribe,$c,:1]", "SUBSCRIBE c");
	run(c, "-ERR Can't execute 'get': " CTX_ERR, "GET k");
	run(c, "-ERR Can't execute 'client|list': " CTX_ERR, "CLIENT LIST");
	run(c, "-ERR Can't execute 'publish': " CTX_ERR, "PUBLISH c x");
	/* PING answers in the subscribed form. */
	run(c, "*2[$pong,$]", "PING");
	run(c, "*2[$pong,$zz]", "PING zz");
	run(c, "*3[$psubscribe,$a*,:2]", "PSUBSCRIBE a*");
	run(c, "*3[$ssubscribe,$s,:1]", "SSUBSCRIBE s");
	run(c, "*3[$unsubscribe,$c,:1]", "UNSUBSCRIBE c");
	run(c, "*3[$punsubscribe,$a*,:0]", "PUNSUBSCRIBE");
	/* Shard channels alone keep the connection in the context. */
	run(c, "-ERR Can't execute 'get': " CTX_ERR, "GET k");
	run(c, "*2[$pong,$]", "PING");
	run(c, "*3[$sunsubscribe,$s,:0]", "SUNSUBSCRIBE");
	run(c, "nil", "GET k");
	run(c, "+PONG", "PING");
	redisFree(c);
	finish();
}

Test(pubsub, reset_drops_subscriptions)
{
	redisContext *c = connect_on(1), *q = connect_on(0);
	run(c, "*3[$subscribe,$r1,:1]", "SUBSCRIBE r1");
	run(c, "*3[$psubscribe,$r*,:2]", "PSUBSCRIBE r*");
	run(q, "*2[$r1,:1]", "PUBSUB NUMSUB r1");
	run(c, "+RESET", "RESET");
	run(q, "*2[$r1,:0]", "PUBSUB NUMSUB r1");
	kr_int(q, 0, "PUBSUB NUMPAT");
	kr_int(q, 0, "PUBLISH r1 x");
	run(c, "nil", "GET k");
	redisFree(c);
	redisFree(q);
	finish();
}

Test(pubsub, disconnect_cleans_up)
{
	redisContext *q = kr_connect(&srv);
	for (int round = 0; round < 2; round++) {
		redisContext *sub[6];
		for (int i = 0; i < 6; i++) {
			sub[i] = connect_on((unsigned)i % 3);
			send_cmd(sub[i], "SUBSCRIBE gone keep%d", i);
			expect(sub[i], "*3[$subscribe,$gone,:1]");
			char want[64];
			snprintf(want, sizeof(want), "*3[$subscribe,$keep%d,:2]", i);
			expect(sub[i], want);
			run(sub[i], "*3[$psubscribe,$go*,:3]", "PSUBSCRIBE go*");
		}
		run(q, "*2[$gone,:6]", "PUBSUB NUMSUB gone");
		kr_int(q, 12, "PUBLISH gone x");
		/* Drop half of them with messages still unread. */
		for (int i = 0; i < 6; i += 2)
			redisFree(sub[i]);
		/* Closing is seen by the server asynchronously: poll (bounded). */
		long long n = -1;
		for (int t = 0; t < 500; t++) {
			redisReply *r = kr_cmd(q, "PUBSUB NUMSUB gone");
			n = r->element[1]->integer;
			freeReplyObject(r);
			if (n == 3)
				break;
			kr_sleep_ms(10);
		}
		cr_assert_eq(n, 3, "NUMSUB after 3 disconnects: %lld", n);
		kr_int(q, 1, "PUBSUB NUMPAT");
		kr_int(q, 6, "PUBLISH gone y");
		for (int i = 1; i < 6; i += 2)
			redisFree(sub[i]);
		for (int t = 0; t < 500; t++) {
			redisReply *r = kr_cmd(q, "PUBSUB NUMSUB gone");
			n = r->element[1]->integer;
			freeReplyObject(r);
			if (n == 0)
				break;
			kr_sleep_ms(10);
		}
		cr_assert_eq(n, 0);
		kr_int(q, 0, "PUBSUB NUMPAT");
		kr_int(q, 0, "PUBLISH gone z");
		expect_names(q, "", "PUBSUB CHANNELS");
	}
	redisFree(q);
	finish();
}

Test(pubsub, client_list_shows_subscription_counts)
{
	redisContext *c = connect_on(2), *q = connect_on(0);
	long long id = client_id(c);
	send_cmd(c, "SUBSCRIBE x y");
	expect(c, "*3[$subscribe,$x,:1]");
	expect(c, "*3[$subscribe,$y,:2]");
	run(c, "*3[$psubscribe,$z*,:3]", "PSUBSCRIBE z*");
	run(c, "*3[$ssubscribe,$w,:1]", "SSUBSCRIBE w");
	redisReply *r = kr_cmd(q, "CLIENT LIST");
	cr_assert(r->type == REDIS_REPLY_STRING);
	char key[64];
	snprintf(key, sizeof(key), "id=%lld ", id);
	const char *line = strstr(r->str, key);
	cr_assert(line, "client %lld not in CLIENT LIST: %s", id, r->str);
	const char *eol = strchr(line, '\n');
	char *l = strndup(line, eol ? (size_t)(eol - line) : strlen(line));
	cr_assert(strstr(l, " flags=P "), "%s", l);
	cr_assert(strstr(l, " sub=2 psub=1 ssub=1 "), "%s", l);
	free(l);
	freeReplyObject(r);
	redisFree(c);
	redisFree(q);
	finish();
}

Test(pubsub, many_subscribers_and_many_channels)
{
	enum { NC = 30, NCH = 5000 };
	/* Many clients on one channel; every third leaves it (from the middle
	 * of each shard's subscriber list); the rest still get each message
	 * once, the leavers only their other channel's marker. */
	redisContext *c[NC];
	for (int i = 0; i < NC; i++) {
		c[i] = kr_connect(&srv);
		send_cmd(c[i], "SUBSCRIBE hot mark");
		expect(c[i], "*3[$subscribe,$hot,:1]");
		expect(c[i], "*3[$subscribe,$mark,:2]");
	}
	for (int i = 1; i < NC; i += 3)
		run(c[i], "*3[$unsubscribe,$hot,:1]", "UNSUBSCRIBE hot");
	redisContext *pub = kr_connect(&srv);
	kr_int(pub, NC - NC / 3, "PUBLISH hot h1");
	kr_int(pub, NC, "PUBLISH mark m1");
	for (int i = 0; i < NC; i++) {
		if (i % 3 != 1)
			expect(c[i], "*3[$message,$hot,$h1]");
		expect(c[i], "*3[$message,$mark,$m1]");
	}
	run(pub, "*4[$hot,:20,$mark,:30]", "PUBSUB NUMSUB hot mark");
	for (int i = 0; i < NC; i++)
		redisFree(c[i]);

	/* One client holding NCH channels, given in one SUBSCRIBE. */
	redisContext *m = kr_connect(&srv);
	const char **argv = calloc(NCH + 1, sizeof(char *));
	char (*names)[16] = calloc(NCH, 16);
	argv[0] = "SUBSCRIBE";
	for (int i = 0; i < NCH; i++) {
		snprintf(names[i], 16, "ch:%d", i);
		argv[i + 1] = names[i];
	}
	cr_assert(redisAppendCommandArgv(m, NCH + 1, argv, NULL) == REDIS_OK);
	for (int i = 0; i < NCH; i++) {
		char want[64];
		snprintf(want, sizeof(want), "*3[$subscribe,$ch:%d,:%d]", i, i + 1);
		expect(m, want);
	}
	run(pub, "*4[$ch:0,:1,$ch:4999,:1]", "PUBSUB NUMSUB ch:0 ch:4999");
	kr_int(pub, 1, "PUBLISH ch:1234 x");
	expect(m, "*3[$message,$ch:1234,$x]");
	send_cmd(m, "UNSUBSCRIBE");
	char *seen = calloc(NCH, 1);
	for (int i = 0; i < NCH; i++) {
		redisReply *r = NULL;
		cr_assert(redisGetReply(m, (void **)&r) == REDIS_OK && r);
		cr_assert(r->elements == 3 && r->element[2]->integer == NCH - 1 - i);
		int k = atoi(r->element[1]->str + 3);
		cr_assert(k >= 0 && k < NCH && !seen[k]);
		seen[k] = 1;
		freeReplyObject(r);
	}
	run(pub, "*4[$ch:0,:0,$ch:4999,:0]", "PUBSUB NUMSUB ch:0 ch:4999");
	expect_names(pub, "", "PUBSUB CHANNELS ch:*");
	kr_nil(m, "GET k");
	free(seen);
	free(names);
	free(argv);
	redisFree(m);
	redisFree(pub);
	finish();
}
