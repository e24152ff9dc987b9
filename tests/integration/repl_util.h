/* Helpers shared by the replication integration tests (test_master.c,
 * test_replica.c, test_replchaos.c, ...): INFO fields, DEBUG DIGEST
 * comparison, waiting for a replica to catch up, a data set of every type
 * and encoding, and a random mixed write workload.
 *
 * Every function asserts (cr_assert) on a broken connection or a reply of
 * the wrong shape, so a test that calls them fails instead of going on with
 * made-up values. Nothing here asserts on time, only on deadlines. */
#ifndef KR_REPL_UTIL_H
#define KR_REPL_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "tests/integration/harness.h"

/* The value of field in INFO section, malloc'd (caller frees), or NULL if
 * the section has no such field. */
/* Run a command that must answer an integer; its value. */
long long ru_reply_ll(redisContext *c, const char *fmt, ...);
char *ru_info_field(redisContext *c, const char *section, const char *field);
/* The same as a number; asserts the field is present. */
long long ru_info_ll(redisContext *c, const char *section, const char *field);
/* true if the field is present and its value is exactly want. */
bool ru_info_is(redisContext *c, const char *section, const char *field, const char *want);

/* DEBUG DIGEST (40 lowercase hex digits and a NUL into out); asserts on
 * its shape. */
void ru_digest(redisContext *c, char out[41]);
/* Assert the two servers hold the same data: equal DEBUG DIGEST, and equal
 * DBSIZE in dbs 0, 1, 2 and 9. a is the reference (the master), b the copy
 * (the replica), as the failure messages say. Leaves both in db 0. */
void ru_expect_same_data(redisContext *a, redisContext *b);

/* Wait (up to timeout_ms) until the replica's link is up, it is not
 * loading, and its slave_repl_offset equals the master's
 * master_repl_offset. If ROLE says master is a master, WAIT 1 <short> is
 * sent to it first (errors and its count ignored): keyrail counts a write
 * in master_repl_offset a moment after its reply, once the record reached
 * the stream, and WAIT returns only after every earlier write did. On
 * timeout, prints both INFO replication to stderr and fails the test. */
void ru_wait_synced(redisContext *master, redisContext *replica, int timeout_ms);

/* Every type and encoding, big values, binary and empty strings, negative
 * and float strings, -0/inf/-inf scores, expiries (relative and absolute),
 * 20000 DEBUG POPULATE keys, in dbs 0, 1 and 9. Leaves c in db 0. */
void ru_populate(redisContext *c);

/* n random mixed writes (strings, counters, floats, lists, hashes, sets,
 * sorted sets, HLL, bitmaps, expiries, MULTI/EXEC, EVAL, cross-key MSET,
 * SMOVE, SUNIONSTORE, ...) on c (its current db, normally 0) and on two more
 * connections to srv in dbs 1 and 2, so the stream switches dbs. Keys
 * collide on purpose. The same seed gives the same sequence of commands. */
void ru_workload(const struct kr_srv *srv, redisContext *c, int n, uint64_t seed);
/* The same commands, pipelined: each connection sends up to batch of them
 * before reading their replies (batch <= 1 is ru_workload). For streams of
 * 100,000 writes that must take seconds. Replies are not checked except
 * that each one arrives. */
void ru_workload_pipelined(const struct kr_srv *srv, redisContext *c, int n, uint64_t seed,
			   int batch);

#endif
