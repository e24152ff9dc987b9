/* Unit tests of the RESP codec (dataplane/resp.c) and rbuf (dataplane/rbuf.c).
 *
 * The request parser is checked against a table of valid and invalid frames;
 * every frame is also fed cut at every byte boundary (each prefix must ask
 * for more bytes, with a need past the prefix and not past the frame) and
 * streamed through a caller that honours *need. Inputs are copied into
 * exactly sized heap blocks so ASan catches any read past the end. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"

static const struct resp_limits lim_default = {
	.max_bulk_len = 512LL * 1024 * 1024,
	.max_multibulk_len = 1024 * 1024,
	.max_inline_len = 64 * 1024,
};

/* Small limits so the limit cases stay small enough to split-test. */
static const struct resp_limits lim_small = {
	.max_bulk_len = 10,
	.max_multibulk_len = 3,
	.max_inline_len = 8,
};

/* Limits below what the short-request fast path can see in one frame
 * (counts up to 9, lengths up to 99), so it must check them too. */
static const struct resp_limits lim_tiny = {
	.max_bulk_len = 2,
	.max_multibulk_len = 1,
	.max_inline_len = 8,
};

static const struct resp_limits lim_huge = {
	.max_bulk_len = LLONG_MAX,
	.max_multibulk_len = LLONG_MAX,
	.max_inline_len = 64 * 1024,
};

/* A copy of p[0..n) in a block of exactly n bytes (1 if n == 0, never read). */
static char *dup_exact(const char *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	cr_assert_not_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

/* ------------------------------------------------------------ the table */

struct arg {
	const char *p;
	size_t n;
};

#define A(s) { s, sizeof(s) - 1 }
#define IN(s) .in = s, .in_len = sizeof(s) - 1
#define MAXA 12

enum { OK = RESP_PARSE_OK, ERR = RESP_PARSE_ERR, MORE = RESP_PARSE_MORE };

struct req_case {
	const char *name;
	const char *in;
	size_t in_len;
	const struct resp_limits *lim;    /* NULL: lim_default */
	int rc;                           /* OK or ERR for the whole input */
	size_t consumed;                  /* OK */
	int argc;                         /* OK */
	struct arg argv[MAXA];            /* OK */
	const char *err;                  /* ERR: exact text */
};

#define E_MBULK "ERR Protocol error: invalid multibulk length"
#define E_BULK "ERR Protocol error: invalid bulk length"
#define E_QUOTES "ERR Protocol error: unbalanced quotes in request"
#define E_INLINE_BIG "ERR Protocol error: too big inline request"
#define E_MBULK_BIG "ERR Protocol error: too big mbulk count string"
#define E_BULK_BIG "ERR Protocol error: too big bulk count string"

static const struct req_case req_cases[] = {
	/* ---- multibulk, valid */
	{ "ping", IN("*1\r\n$4\r\nPING\r\n"), NULL, OK, 14, 1, { A("PING") }, NULL },
	{ "set", IN("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"), NULL, OK, 33, 3,
	  { A("SET"), A("key"), A("value") }, NULL },
	{ "binary bulk with CRLF and NULs",
	  IN("*3\r\n$3\r\nSET\r\n$3\r\na\r\n\r\n$6\r\n\0\r\n\0\n\r\r\n"), NULL, OK, 34, 3,
	  { A("SET"), A("a\r\n"), A("\0\r\n\0\n\r") }, NULL },
	{ "bulk that looks like a header", IN("*2\r\n$4\r\n*1\r\n\r\n$4\r\n$1\r\n\r\n"), NULL, OK, 24, 2,
	  { A("*1\r\n"), A("$1\r\n") }, NULL },
	{ "empty bulk", IN("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"), NULL, OK, 19, 2,
	  { A("GET"), A("") }, NULL },
	{ "all empty bulks", IN("*2\r\n$0\r\n\r\n$0\r\n\r\n"), NULL, OK, 16, 2,
	  { A(""), A("") }, NULL },
	{ "*0 is an empty request", IN("*0\r\n"), NULL, OK, 4, 0, { { 0 } }, NULL },
	{ "*-1 is an empty request", IN("*-1\r\n"), NULL, OK, 5, 0, { { 0 } }, NULL },
	{ "*-10 is an empty request", IN("*-10\r\n"), NULL, OK, 6, 0, { { 0 } }, NULL },
	{ "trailing bytes not consumed", IN("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI"), NULL, OK, 14, 1,
	  { A("PING") }, NULL },
	{ "two bytes after bulk are skipped unchecked", IN("*1\r\n$1\r\naXY"), NULL, OK, 11, 1,
	  { A("a") }, NULL },
	{ "byte after header CR is skipped unchecked", IN("*1\rX$1\rYa\r\n"), NULL, OK, 11, 1,
	  { A("a") }, NULL },
	{ "longer bulk length", IN("*1\r\n$12\r\nhello world!\r\n"), NULL, OK, 23, 1,
	  { A("hello world!") }, NULL },
	/* ---- multibulk, invalid */
	{ "mbulk count not a number", IN("*abc\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count empty", IN("*\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count leading zero", IN("*01\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count plus sign", IN("*+1\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count minus zero", IN("*-0\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count lone minus", IN("*-\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count with space", IN("*1 \r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count LF before CR", IN("*1\n$1\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count above default limit", IN("*1048577\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count 99999999999", IN("*99999999999\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count 3000000000", IN("*3000000000\r\n"), &lim_huge, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count overflows", IN("*9223372036854775808\r\n"), &lim_huge, ERR, 0, 0, { { 0 } },
	  E_MBULK },
	{ "mbulk count way overflows", IN("*99999999999999999999999\r\n"), &lim_huge, ERR, 0, 0,
	  { { 0 } }, E_MBULK },
	{ "element not a bulk", IN("*1\r\nfoo\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  "ERR Protocol error: expected '$', got 'f'" },
	{ "second element not a bulk", IN("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"), NULL, ERR, 0, 0,
	  { { 0 } }, "ERR Protocol error: expected '$', got 'f'" },
	{ "element is an integer", IN("*2\r\n$1\r\na\r\n:1\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  "ERR Protocol error: expected '$', got ':'" },
	{ "element starts with CR", IN("*1\r\n\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  "ERR Protocol error: expected '$', got '\r'" },
	{ "negative bulk length", IN("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n"), NULL, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	{ "bulk length -1", IN("*1\r\n$-1\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length not a number", IN("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n"), NULL, ERR, 0,
	  0, { { 0 } }, E_BULK },
	{ "bulk length empty", IN("*1\r\n$\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length leading zero", IN("*1\r\n$01\r\na\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length above 512MiB", IN("*1\r\n$536870913\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 2000000000", IN("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n"), NULL, ERR, 0,
	  0, { { 0 } }, E_BULK },
	{ "bulk length LLONG_MAX", IN("*1\r\n$9223372036854775807\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  E_BULK },
	{ "bulk length overflows", IN("*1\r\n$9223372036854775808\r\n"), &lim_huge, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	{ "bulk length LLONG_MIN", IN("*1\r\n$-9223372036854775808\r\n"), &lim_huge, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	/* ---- limits */
	{ "bulk at max_bulk_len", IN("*1\r\n$10\r\n0123456789\r\n"), &lim_small, OK, 21, 1,
	  { A("0123456789") }, NULL },
	{ "bulk over max_bulk_len", IN("*1\r\n$11\r\n01234567890\r\n"), &lim_small, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	{ "count at max_multibulk_len", IN("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), &lim_small, OK,
	  25, 3, { A("a"), A("b"), A("c") }, NULL },
	{ "count over max_multibulk_len", IN("*4\r\n$1\r\na\r\n"), &lim_small, ERR, 0, 0, { { 0 } },
	  E_MBULK },
	{ "inline line of max_inline_len", IN("1234 678\n"), &lim_small, OK, 9, 2,
	  { A("1234"), A("678") }, NULL },
	{ "inline CRLF line of max_inline_len", IN("1234 67\r\n"), &lim_small, OK, 9, 2,
	  { A("1234"), A("67") }, NULL },
	{ "inline line over max_inline_len", IN("123456789\n"), &lim_small, ERR, 0, 0, { { 0 } },
	  E_INLINE_BIG },
	{ "inline CRLF line over max_inline_len", IN("12345678\r\n"), &lim_small, ERR, 0, 0, { { 0 } },
	  E_INLINE_BIG },
	/* ---- the short-request fast path's edges: counts 1..9 and lengths
	 * 0..99 take it, everything else falls back to the general parser;
	 * each row is also fed cut at every byte */
	{ "fast: GET", IN("*2\r\n$3\r\nGET\r\n$10\r\nkey:000123\r\n"), NULL, OK, 30, 2,
	  { A("GET"), A("key:000123") }, NULL },
	{ "fast: one empty bulk", IN("*1\r\n$0\r\n\r\n"), NULL, OK, 10, 1, { A("") }, NULL },
	{ "fast: $9", IN("*1\r\n$9\r\n123456789\r\n"), NULL, OK, 19, 1, { A("123456789") }, NULL },
	{ "fast: $10", IN("*1\r\n$10\r\n1234567890\r\n"), NULL, OK, 21, 1, { A("1234567890") },
	  NULL },
	{ "fast: $99",
	  IN("*1\r\n$99\r\n"
	     "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
	     "\r\n"), NULL, OK, 110, 1,
	  { A("012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678") },
	  NULL },
	{ "general: $100",
	  IN("*1\r\n$100\r\n"
	     "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	     "\r\n"), NULL, OK, 112, 1,
	  { A("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789") },
	  NULL },
	{ "fast: *9", IN("*9\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"
			"$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n"), NULL, OK, 67, 9,
	  { A("a"), A("b"), A("c"), A("d"), A("e"), A("f"), A("g"), A("h"), A("i") }, NULL },
	{ "general: *10", IN("*10\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
			    "$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n$0\r\n\r\n"), NULL, OK, 74, 10,
	  { A("a"), A("b"), A("c"), A("d"), A("e"), A("f"), A("g"), A("h"), A("i"), A("") }, NULL },
	{ "fast: bytes after header CRs unchecked", IN("*2\rX$1\rYa\r\n$10\rZ0123456789ab"), NULL, OK,
	  28, 2, { A("a"), A("0123456789") }, NULL },
	{ "fast: bulk with CRLF inside", IN("*1\r\n$4\r\n\r\n\r\n\r\n"), NULL, OK, 14, 1,
	  { A("\r\n\r\n") }, NULL },
	{ "fast: $ then 3-digit length", IN("*2\r\n$1\r\na\r\n$123\r\n"
	     "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012"
	     "\r\n"), NULL, OK, 142, 2,
	  { A("a"), A("012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012") },
	  NULL },
	{ "bulk length 00", IN("*1\r\n$00\r\n\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 09", IN("*1\r\n$09\r\n123456789\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 010", IN("*1\r\n$010\r\n0123456789\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length +3", IN("*1\r\n$+3\r\nabc\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length -0", IN("*1\r\n$-0\r\n\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 1 then space", IN("*1\r\n$1 \r\na\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length space then 1", IN("*1\r\n$ 1\r\na\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 2 digits then junk", IN("*1\r\n$12x\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length LF without CR", IN("*1\r\n$3\nabc\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_BULK },
	{ "bulk length 2 digits LF without CR", IN("*1\r\n$10\n0123456789\r\n"), NULL, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	{ "bulk length 18 zeros then 1", IN("*1\r\n$000000000000000001\r\na\r\n"), NULL, ERR, 0, 0,
	  { { 0 } }, E_BULK },
	{ "bulk length 18 digits", IN("*1\r\n$100000000000000000\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  E_BULK },
	{ "bulk length 19 digits", IN("*1\r\n$1000000000000000000\r\n"), NULL, ERR, 0, 0, { { 0 } },
	  E_BULK },
	{ "second bulk length leading zero", IN("*2\r\n$3\r\nGET\r\n$03\r\nkey\r\n"), NULL, ERR,
	  0, 0, { { 0 } }, E_BULK },
	{ "mbulk count 00", IN("*00\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count 09", IN("*09\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count 2 then junk", IN("*2x\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count space then 2", IN("* 2\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "mbulk count 18 digits", IN("*100000000000000000\r\n"), &lim_huge, ERR, 0, 0, { { 0 } },
	  E_MBULK },
	{ "mbulk count INT_MAX + 1", IN("*2147483648\r\n"), &lim_huge, ERR, 0, 0, { { 0 } }, E_MBULK },
	{ "fast: element not a bulk after a good one", IN("*2\r\n$1\r\na\r\n+b\r\n"), NULL, ERR, 0,
	  0, { { 0 } }, "ERR Protocol error: expected '$', got '+'" },
	{ "tiny: bulk at max_bulk_len", IN("*1\r\n$2\r\nab\r\n"), &lim_tiny, OK, 12, 1, { A("ab") },
	  NULL },
	{ "tiny: empty bulk", IN("*1\r\n$0\r\n\r\n"), &lim_tiny, OK, 10, 1, { A("") }, NULL },
	{ "tiny: bulk over max_bulk_len", IN("*1\r\n$3\r\nabc\r\n"), &lim_tiny, ERR, 0, 0, { { 0 } },
	  E_BULK },
	{ "tiny: 2-digit bulk over max_bulk_len", IN("*1\r\n$10\r\n0123456789\r\n"), &lim_tiny, ERR,
	  0, 0, { { 0 } }, E_BULK },
	{ "tiny: count over max_multibulk_len", IN("*2\r\n$1\r\na\r\n$1\r\nb\r\n"), &lim_tiny, ERR,
	  0, 0, { { 0 } }, E_MBULK },
	/* ---- inline, valid */
	{ "inline ping CRLF", IN("PING\r\n"), NULL, OK, 6, 1, { A("PING") }, NULL },
	{ "inline ping LF", IN("PING\n"), NULL, OK, 5, 1, { A("PING") }, NULL },
	{ "inline words", IN("set a b\r\n"), NULL, OK, 9, 3, { A("set"), A("a"), A("b") }, NULL },
	{ "inline extra spaces and tabs", IN("  set \t a\t\tb   \r\n"), NULL, OK, 17, 3,
	  { A("set"), A("a"), A("b") }, NULL },
	{ "inline empty CRLF", IN("\r\n"), NULL, OK, 2, 0, { { 0 } }, NULL },
	{ "inline empty LF", IN("\n"), NULL, OK, 1, 0, { { 0 } }, NULL },
	{ "inline blanks only", IN(" \t \r\r\n"), NULL, OK, 6, 0, { { 0 } }, NULL },
	{ "inline double quotes", IN("set \"hello world\" x\r\n"), NULL, OK, 21, 3,
	  { A("set"), A("hello world"), A("x") }, NULL },
	{ "inline single quotes", IN("set 'a b' 'c\"d'\r\n"), NULL, OK, 17, 3,
	  { A("set"), A("a b"), A("c\"d") }, NULL },
	{ "inline double-quote escapes", IN("\"\\n\\r\\t\\b\\a\\\\\\\"\\z\"\n"), NULL, OK, 19, 1,
	  { A("\n\r\t\b\a\\\"z") }, NULL },
	{ "inline hex escapes", IN("\"\\x41\\x00\\xfF\\x7e\"\n"), NULL, OK, 19, 1,
	  { A("A\0\xff~") }, NULL },
	{ "inline bad hex escape is a plain escape", IN("\"\\xzz\\x4\"\n"), NULL, OK, 10, 1,
	  { A("xzzx4") }, NULL },
	{ "inline single-quote escapes", IN("'it\\'s \\n \"x\"'\n"), NULL, OK, 15, 1,
	  { A("it's \\n \"x\"") }, NULL },
	{ "inline empty quoted args", IN("set \"\" ''\r\n"), NULL, OK, 11, 3,
	  { A("set"), A(""), A("") }, NULL },
	{ "inline quote inside a word", IN("foo\"bar baz\" x\n"), NULL, OK, 15, 2,
	  { A("foobar baz"), A("x") }, NULL },
	{ "inline quote at end of line", IN("echo \"a\"\r\n"), NULL, OK, 10, 2,
	  { A("echo"), A("a") }, NULL },
	{ "inline quote followed by tab", IN("\"a\"\tb\n"), NULL, OK, 6, 2, { A("a"), A("b") }, NULL },
	{ "inline CR inside quotes", IN("\"a\rb\"\r\n"), NULL, OK, 7, 1, { A("a\rb") }, NULL },
	{ "inline CR separates words", IN("a\rb\r\n"), NULL, OK, 5, 2, { A("a"), A("b") }, NULL },
	{ "inline vertical tab inside a word", IN("\va\vb\n"), NULL, OK, 5, 1, { A("a\vb") }, NULL },
	{ "inline line ends at NUL", IN("get a\0b \"c\r\n"), NULL, OK, 12, 2, { A("get"), A("a") },
	  NULL },
	{ "inline pipelined", IN("PING\r\nPING\r\n"), NULL, OK, 6, 1, { A("PING") }, NULL },
	{ "inline with 8 args", IN("a b c d e f g h\n"), NULL, OK, 16, 8,
	  { A("a"), A("b"), A("c"), A("d"), A("e"), A("f"), A("g"), A("h") }, NULL },
	/* ---- inline, invalid */
	{ "unterminated double quote", IN("set \"abc\r\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "unterminated single quote", IN("set 'abc\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "closing double quote then text", IN("set \"a\"b\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "closing single quote then text", IN("set 'a'b\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "redis test: triple quotes", IN("set \"\"\"test-key\"\"\" test-value\r\n"), NULL, ERR, 0, 0,
	  { { 0 } }, E_QUOTES },
	{ "backslash at end of quoted", IN("\"abc\\\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "escaped closing quote", IN("\"abc\\\"\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
	{ "quote cut by NUL", IN("\"ab\0c\"\n"), NULL, ERR, 0, 0, { { 0 } }, E_QUOTES },
};

/* Check one parse result against the table's expectation for the whole. */
static void check_whole(const struct req_case *c, const char *buf, int rc,
			const struct resp_req *req, size_t consumed, const char *err)
{
	cr_assert_eq(rc, c->rc, "%s: rc %d, want %d (err %s)", c->name, rc, c->rc,
		     rc == ERR ? err : "-");
	if (rc == ERR) {
		cr_assert_str_eq(err, c->err, "%s: error text", c->name);
		return;
	}
	cr_assert_eq(consumed, c->consumed, "%s: consumed %zu, want %zu", c->name, consumed,
		     c->consumed);
	cr_assert_eq(req->argc, c->argc, "%s: argc %d, want %d", c->name, req->argc, c->argc);
	for (int i = 0; i < c->argc && i < MAXA; i++) {
		cr_assert_eq(req->argv[i].len, c->argv[i].n, "%s: argv[%d] len %zu, want %zu",
			     c->name, i, req->argv[i].len, c->argv[i].n);
		cr_assert(memcmp(req->argv[i].p, c->argv[i].p, c->argv[i].n) == 0,
			  "%s: argv[%d] bytes", c->name, i);
		if (c->in[0] == '*')   /* multibulk arguments are zero-copy */
			cr_assert(req->argv[i].p >= buf && req->argv[i].p + req->argv[i].len <= buf + consumed,
				  "%s: argv[%d] not in the input", c->name, i);
	}
}

Test(resp_parse, table_whole)
{
	for (size_t k = 0; k < sizeof(req_cases) / sizeof(req_cases[0]); k++) {
		const struct req_case *c = &req_cases[k];
		struct resp_req req;
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		char *buf = dup_exact(c->in, c->in_len);

		resp_req_init(&req);
		int rc = resp_parse_req(buf, c->in_len, c->lim ? c->lim : &lim_default, &req,
					&consumed, &need, &err);
		check_whole(c, buf, rc, &req, consumed, err);
		resp_req_free(&req);
		free(buf);
	}
}

/* Every prefix asks for more bytes with need in (prefix, whole]; then the
 * whole, parsed with the same req, gives the table's answer. */
static void split_check(const struct req_case *c, size_t step_hint)
{
	const struct resp_limits *lim = c->lim ? c->lim : &lim_default;
	/* for OK the request ends at consumed; for ERR the whole input is
	 * what it takes to see the error */
	size_t limit = c->rc == OK ? c->consumed : c->in_len;
	struct resp_req req;

	resp_req_init(&req);
	for (size_t k = 0; k < limit; k++) {
		/* long inputs: every boundary near both ends, a stride between */
		if (step_hint && k > 64 && k + 64 < limit && k % step_hint)
			continue;
		char *buf = dup_exact(c->in, k);
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(buf, k, lim, &req, &consumed, &need, &err);
		free(buf);
		if (rc == ERR && c->rc == ERR) {
			/* the error may show before the whole input is there,
			 * but it must be the same error */
			cr_assert_str_eq(err, c->err, "%s: prefix %zu error", c->name, k);
			continue;
		}
		cr_assert_eq(rc, MORE, "%s: prefix %zu gave rc %d (err %s)", c->name, k, rc,
			     rc == ERR ? err : "-");
		cr_assert_gt(need, k, "%s: prefix %zu need %zu", c->name, k, need);
		cr_assert_leq(need, limit, "%s: prefix %zu need %zu > %zu", c->name, k, need,
			      limit);
		cr_assert_eq(req.argc, 0, "%s: argc set on MORE", c->name);
	}
	/* the exact request (for OK), then the whole input */
	size_t lens[2] = { limit, c->in_len };
	for (int t = 0; t < 2; t++) {
		char *buf = dup_exact(c->in, lens[t]);
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(buf, lens[t], lim, &req, &consumed, &need, &err);
		check_whole(c, buf, rc, &req, consumed, err);
		free(buf);
	}
	resp_req_free(&req);
}

Test(resp_parse, table_split_at_every_byte)
{
	for (size_t k = 0; k < sizeof(req_cases) / sizeof(req_cases[0]); k++)
		split_check(&req_cases[k], 0);
}

/* ----------------------------------------- header variants, generated */

/* Every count/length text below is put in every place a header can be
 * (the count, a first bulk, a later bulk) and the frame is checked whole
 * and cut at every byte: the texts straddle the fast path's edges (one or
 * two digits, counts up to 9) and every way a text can be non-canonical. */
struct hdr_text {
	const char *txt;
	long long v;      /* its value when ok */
	bool ok;          /* a valid Redis number (string2ll) */
};

static const struct hdr_text hdr_texts[] = {
	{ "0", 0, true }, { "1", 1, true }, { "2", 2, true }, { "9", 9, true },
	{ "10", 10, true }, { "11", 11, true }, { "19", 19, true }, { "20", 20, true },
	{ "99", 99, true }, { "100", 100, true }, { "101", 101, true }, { "999", 999, true },
	{ "1000", 1000, true },
	{ "-1", -1, true }, { "-9", -9, true }, { "-10", -10, true },
	{ "", 0, false }, { "00", 0, false }, { "01", 0, false }, { "09", 0, false },
	{ "010", 0, false }, { "099", 0, false }, { "+1", 0, false }, { "+10", 0, false },
	{ "-0", 0, false }, { "-01", 0, false }, { "-", 0, false }, { "--1", 0, false },
	{ " 1", 0, false }, { "1 ", 0, false }, { "1a", 0, false }, { "a1", 0, false },
	{ "1\n", 0, false }, { "10a", 0, false }, { "1-", 0, false }, { "0x1", 0, false },
	{ "\x81", 0, false }, { "1\xb1", 0, false },
};

static void hdr_run(struct req_case *c, const char *name, struct rbuf *in)
{
	c->name = name;
	c->in = in->data;
	c->in_len = in->len;
	split_check(c, 0);
}

Test(resp_parse, header_variants)
{
	static const char filler[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char name[96];

	for (size_t k = 0; k < sizeof(hdr_texts) / sizeof(hdr_texts[0]); k++) {
		const struct hdr_text *h = &hdr_texts[k];
		struct req_case c;
		struct rbuf in = { 0 };

		/* as the count: h->v elements "$1\r\n<letter>\r\n" */
		memset(&c, 0, sizeof(c));
		rbuf_append(&in, "*", 1);
		rbuf_append(&in, h->txt, strlen(h->txt));
		rbuf_append(&in, "\r\n", 2);
		if (!h->ok) {
			c.rc = ERR;
			c.err = E_MBULK;
		} else {
			c.rc = OK;
			c.argc = h->v > 0 ? (int)h->v : 0;
			for (long long j = 0; j < h->v; j++) {
				char el[8] = { '$', '1', '\r', '\n', filler[j % 36], '\r', '\n' };
				rbuf_append(&in, el, 7);
				if (j < MAXA) {
					c.argv[j].p = &filler[j % 36];
					c.argv[j].n = 1;
				}
			}
			c.consumed = in.len;
		}
		snprintf(name, sizeof(name), "count '%s'", h->txt);
		hdr_run(&c, name, &in);
		rbuf_free(&in);

		/* as a length, first and second bulk: data of h->v bytes */
		for (int second = 0; second < 2; second++) {
			memset(&c, 0, sizeof(c));
			memset(&in, 0, sizeof(in));
			rbuf_append(&in, second ? "*2\r\n$3\r\nGET\r\n$" : "*1\r\n$", second ? 14 : 5);
			rbuf_append(&in, h->txt, strlen(h->txt));
			rbuf_append(&in, "\r\n", 2);
			size_t data = in.len;
			if (!h->ok || h->v < 0) {
				c.rc = ERR;
				c.err = E_BULK;
			} else {
				for (long long j = 0; j < h->v; j++)
					rbuf_append(&in, &filler[j % 36], 1);
				rbuf_append(&in, "\r\n", 2);
				c.rc = OK;
				c.argc = second + 1;
				if (second) {
					c.argv[0].p = "GET";
					c.argv[0].n = 3;
				}
				c.consumed = in.len;
			}
			/* argv points into the input: compare against a copy */
			char *want = NULL;
			if (c.rc == OK) {
				want = dup_exact(in.data + data, (size_t)h->v);
				c.argv[second].p = want;
				c.argv[second].n = (size_t)h->v;
			}
			snprintf(name, sizeof(name), "%s bulk length '%s'", second ? "second" : "first",
				 h->txt);
			hdr_run(&c, name, &in);
			free(want);
			rbuf_free(&in);
		}
	}
}

/* ------------------------------------------------ generated large cases */

struct gen {
	char *p;
	size_t n;
};

static struct gen gen_fill(const char *head, char fill, size_t nfill, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	struct gen g = { malloc(h + nfill + t), h + nfill + t };
	cr_assert_not_null(g.p);
	memcpy(g.p, head, h);
	memset(g.p + h, fill, nfill);
	memcpy(g.p + h + nfill, tail, t);
	return g;
}

Test(resp_parse, count_line_window)
{
	/* CR at 65536 bytes after '*' is still looked at; at 65537 it is not. */
	struct gen at = gen_fill("*", 'x', 65535, "\r\n");
	struct gen past = gen_fill("*", 'x', 65536, "\r\n");
	struct gen digits = gen_fill("*", '1', 65536, "\r\n");
	struct gen nocr = gen_fill("*", '7', 70000, "");
	struct gen bulk_at = gen_fill("*1\r\n$", 'x', 65535, "\r\n");
	struct gen bulk_past = gen_fill("*1\r\n$", 'x', 65536, "\r\n");
	struct gen bulk_digits = gen_fill("*1\r\n$", '1', 65536, "\r\n");
	const struct req_case cases[] = {
		{ "count CR at window end", at.p, at.n, NULL, ERR, 0, 0, { { 0 } }, E_MBULK },
		{ "count CR past window", past.p, past.n, NULL, ERR, 0, 0, { { 0 } }, E_MBULK_BIG },
		{ "count digits past window", digits.p, digits.n, NULL, ERR, 0, 0, { { 0 } },
		  E_MBULK_BIG },
		{ "count without CR", nocr.p, nocr.n, NULL, ERR, 0, 0, { { 0 } }, E_MBULK_BIG },
		{ "bulk CR at window end", bulk_at.p, bulk_at.n, NULL, ERR, 0, 0, { { 0 } }, E_BULK },
		{ "bulk CR past window", bulk_past.p, bulk_past.n, NULL, ERR, 0, 0, { { 0 } },
		  E_BULK_BIG },
		{ "bulk digits past window", bulk_digits.p, bulk_digits.n, NULL, ERR, 0, 0, { { 0 } },
		  E_BULK_BIG },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		split_check(&cases[k], 997);
	free(at.p);
	free(past.p);
	free(digits.p);
	free(nocr.p);
	free(bulk_at.p);
	free(bulk_past.p);
	free(bulk_digits.p);
}

Test(resp_parse, inline_default_limit)
{
	struct gen fits = gen_fill("", 'a', 65536, "\n");
	struct gen over = gen_fill("", 'a', 65537, "\n");
	struct gen nolf = gen_fill("", 'a', 70000, "");
	const struct req_case cases[] = {
		{ "inline of 64KiB", fits.p, fits.n, NULL, OK, 65537, 1, { { fits.p, 65536 } }, NULL },
		{ "inline over 64KiB", over.p, over.n, NULL, ERR, 0, 0, { { 0 } }, E_INLINE_BIG },
		{ "inline without LF", nolf.p, nolf.n, NULL, ERR, 0, 0, { { 0 } }, E_INLINE_BIG },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		split_check(&cases[k], 997);
	free(fits.p);
	free(over.p);
	free(nolf.p);
}

Test(resp_parse, big_bulk_need)
{
	/* Once the header is read, need covers the whole bulk plus CRLF. */
	const char *hdr = "*2\r\n$3\r\nSET\r\n$1000000\r\n";
	size_t h = strlen(hdr), total = h + 1000000 + 2;
	char *all = malloc(total);
	struct resp_req req;
	size_t consumed, need;
	const char *err;

	cr_assert_not_null(all);
	memcpy(all, hdr, h);
	memset(all + h, 'v', 1000000);
	memcpy(all + h + 1000000, "\r\n", 2);
	resp_req_init(&req);
	size_t cuts[] = { h, h + 1, h + 4096, total - 2, total - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char *buf = dup_exact(all, cuts[i]);
		cr_assert_eq(resp_parse_req(buf, cuts[i], &lim_default, &req, &consumed, &need, &err),
			     MORE);
		cr_assert_eq(need, total, "cut %zu: need %zu want %zu", cuts[i], need, total);
		free(buf);
	}
	/* the header itself, cut short, needs one more byte at a time */
	char *buf = dup_exact(all, h - 1);
	cr_assert_eq(resp_parse_req(buf, h - 1, &lim_default, &req, &consumed, &need, &err), MORE);
	cr_assert_eq(need, h);
	free(buf);
	cr_assert_eq(resp_parse_req(all, total, &lim_default, &req, &consumed, &need, &err), OK);
	cr_assert_eq(consumed, total);
	cr_assert_eq(req.argc, 2);
	cr_assert_eq(req.argv[1].len, 1000000);
	cr_assert_eq(req.argv[1].p, all + h);
	resp_req_free(&req);
	free(all);
}

Test(resp_parse, huge_declared_lengths)
{
	struct resp_req req;
	size_t consumed, need;
	const char *err;

	resp_req_init(&req);
	/* With no limit, a LLONG_MAX bulk is only waited for: no allocation,
	 * need computed without overflow. */
	const char *in = "*1\r\n$9223372036854775807\r\n";
	size_t n = strlen(in);
	char *buf = dup_exact(in, n);
	cr_assert_eq(resp_parse_req(buf, n, &lim_huge, &req, &consumed, &need, &err), MORE);
	cr_assert_eq(need, n + (size_t)LLONG_MAX + 2);
	cr_assert_eq(req.argv_cap, 0);
	cr_assert_eq(req.scratch_cap, 0);
	free(buf);

	/* A declared 1M-element request with 100 elements present: the
	 * argv holds what arrived, it is not sized from the count. */
	struct rbuf b = { 0 };
	rbuf_append(&b, "*1000000\r\n", 10);
	for (int i = 0; i < 100; i++)
		rbuf_append(&b, "$1\r\na\r\n", 7);
	buf = dup_exact(b.data, b.len);
	cr_assert_eq(resp_parse_req(buf, b.len, &lim_default, &req, &consumed, &need, &err), MORE);
	cr_assert_eq(need, b.len + 1);
	cr_assert_leq(req.argv_cap, 128, "argv_cap %zu", req.argv_cap);
	cr_assert_geq(req.argv_cap, 100);
	free(buf);

	/* Declared counts above any limit fail before any element. */
	const char *bad[] = { "*99999999999\r\n", "*9223372036854775807\r\n",
			      "*18446744073709551616\r\n" };
	for (size_t i = 0; i < 3; i++) {
		buf = dup_exact(bad[i], strlen(bad[i]));
		cr_assert_eq(resp_parse_req(buf, strlen(bad[i]), &lim_huge, &req, &consumed, &need,
					    &err), ERR, "%s", bad[i]);
		cr_assert_str_eq(err, E_MBULK);
		free(buf);
	}
	rbuf_free(&b);
	resp_req_free(&req);
}

/* Build "*n\r\n" + n bulks "a0", "a1", ... */
static struct rbuf build_mbulk(int n)
{
	struct rbuf b = { 0 };
	char tmp[64];

	rbuf_append(&b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "*%d\r\n", n));
	for (int i = 0; i < n; i++) {
		int l = snprintf(tmp + 32, 32, "a%d", i);
		rbuf_append(&b, tmp, (size_t)snprintf(tmp, 32, "$%d\r\n", l));
		rbuf_append(&b, tmp + 32, (size_t)l);
		rbuf_append(&b, "\r\n", 2);
	}
	return b;
}

static void check_many(const struct resp_req *req, int n)
{
	char tmp[32];

	cr_assert_eq(req->argc, n);
	for (int i = 0; i < n; i++) {
		int l = snprintf(tmp, sizeof(tmp), "a%d", i);
		cr_assert_eq(req->argv[i].len, (size_t)l);
		cr_assert(memcmp(req->argv[i].p, tmp, (size_t)l) == 0);
	}
}

Test(resp_parse, many_args_heap_argv)
{
	struct resp_req req;
	size_t consumed, need;
	const char *err;

	resp_req_init(&req);
	/* 16 fit the inline argv: no heap */
	struct rbuf b = build_mbulk(RESP_ARGV_INLINE);
	cr_assert_eq(resp_parse_req(b.data, b.len, &lim_default, &req, &consumed, &need, &err), OK);
	cr_assert_eq(consumed, b.len);
	check_many(&req, RESP_ARGV_INLINE);
	cr_assert_eq(req.argv_cap, 0);
	cr_assert_eq(req.argv, req.argv_inline);
	rbuf_free(&b);

	/* 17 and 300 move to the heap, doubling */
	int counts[] = { 17, 300, 3, 5000, 2 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		b = build_mbulk(counts[i]);
		char *buf = dup_exact(b.data, b.len);
		cr_assert_eq(resp_parse_req(buf, b.len, &lim_default, &req, &consumed, &need, &err),
			     OK);
		cr_assert_eq(consumed, b.len);
		check_many(&req, counts[i]);
		if (counts[i] > RESP_ARGV_INLINE) {
			cr_assert_geq(req.argv_cap, (size_t)counts[i]);
			cr_assert_leq(req.argv_cap, 2 * (size_t)(counts[i] > 16 ? counts[i] : 16),
				      "argv_cap %zu for %d", req.argv_cap, counts[i]);
		}
		if (counts[i] == 3)   /* the heap argv is reused, not reallocated */
			cr_assert_eq(req.argv_cap, 512);
		if (counts[i] == 2)   /* a big argv is released after its request */
			cr_assert_eq(req.argv_cap, 0);
		free(buf);
		rbuf_free(&b);
	}

	/* many inline words go through the same argv */
	struct rbuf line = { 0 };
	for (int i = 0; i < 40; i++) {
		char tmp[16];
		rbuf_append(&line, tmp, (size_t)snprintf(tmp, sizeof(tmp), "a%d ", i));
	}
	rbuf_append(&line, "\r\n", 2);
	cr_assert_eq(resp_parse_req(line.data, line.len, &lim_default, &req, &consumed, &need, &err),
		     OK);
	check_many(&req, 40);
	rbuf_free(&line);
	resp_req_free(&req);
	cr_assert_eq(req.argv_cap, 0);
	cr_assert_eq(req.argv, req.argv_inline);
}

Test(resp_parse, empty_input)
{
	struct resp_req req;
	size_t consumed = 0, need = 0;
	const char *err = NULL;

	resp_req_init(&req);
	cr_assert_eq(resp_parse_req("", 0, &lim_default, &req, &consumed, &need, &err), MORE);
	cr_assert_eq(need, 1);
	resp_req_free(&req);
}

Test(resp_parse, expected_dollar_nul_byte)
{
	/* Redis formats the byte with %c, so a NUL cuts the C string there. */
	struct resp_req req;
	size_t consumed, need;
	const char *err;
	const char in[] = "*1\r\n\0xyz\r\n";

	resp_req_init(&req);
	char *buf = dup_exact(in, sizeof(in) - 1);
	cr_assert_eq(resp_parse_req(buf, sizeof(in) - 1, &lim_default, &req, &consumed, &need, &err),
		     ERR);
	cr_assert_str_eq(err, "ERR Protocol error: expected '$', got '");
	free(buf);
	resp_req_free(&req);
}

/* ------------------------------------------------- pipelining, streaming */

struct pipe_req {
	const char *in;
	size_t in_len;
	int argc;
	struct arg argv[4];
};

#define P(s) s, sizeof(s) - 1

static const struct pipe_req pipe_reqs[] = {
	{ P("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"), 3, { A("SET"), A("key"), A("value") } },
	{ P("PING\r\n"), 1, { A("PING") } },
	{ P("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"), 2, { A("GET"), A("key") } },
	{ P("\r\n"), 0, { { 0 } } },
	{ P("*0\r\n"), 0, { { 0 } } },
	{ P("set 'a b' \"c\\x41\"\n"), 3, { A("set"), A("a b"), A("cA") } },
	{ P("*2\r\n$4\r\nECHO\r\n$8\r\n\r\n\0\0\r\n\r\n\r\n"), 2, { A("ECHO"), A("\r\n\0\0\r\n\r\n") } },
	{ P("*1\r\n$0\r\n\r\n"), 1, { A("") } },
	{ P("*-1\r\n"), 0, { { 0 } } },
	{ P("*1\r\n$20\r\n01234567890123456789\r\n"), 1, { A("01234567890123456789") } },
};
#define NPIPE (sizeof(pipe_reqs) / sizeof(pipe_reqs[0]))

static void check_pipe(size_t idx, const struct resp_req *req)
{
	const struct pipe_req *e = &pipe_reqs[idx];

	cr_assert_eq(req->argc, e->argc, "request %zu: argc %d want %d", idx, req->argc, e->argc);
	for (int i = 0; i < e->argc; i++) {
		cr_assert_eq(req->argv[i].len, e->argv[i].n, "request %zu argv[%d]", idx, i);
		cr_assert(memcmp(req->argv[i].p, e->argv[i].p, e->argv[i].n) == 0,
			  "request %zu argv[%d] bytes", idx, i);
	}
}

static struct rbuf pipe_all(void)
{
	struct rbuf all = { 0 };

	for (size_t i = 0; i < NPIPE; i++)
		rbuf_append(&all, pipe_reqs[i].in, pipe_reqs[i].in_len);
	return all;
}

Test(resp_parse, pipelined_in_one_buffer)
{
	struct rbuf all = pipe_all();
	struct resp_req req;
	size_t off = 0;

	resp_req_init(&req);
	char *buf = dup_exact(all.data, all.len);
	for (size_t i = 0; i < NPIPE; i++) {
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(buf + off, all.len - off, &lim_default, &req, &consumed, &need,
					&err);
		cr_assert_eq(rc, OK, "request %zu rc %d", i, rc);
		cr_assert_eq(consumed, pipe_reqs[i].in_len, "request %zu consumed", i);
		check_pipe(i, &req);
		off += consumed;
	}
	cr_assert_eq(off, all.len);
	free(buf);
	rbuf_free(&all);
	resp_req_free(&req);
}

/* A caller as the shard loop is: append what arrives, parse only when the
 * buffer has reached *need, consume what was parsed. */
Test(resp_parse, streamed_in_chunks_honouring_need)
{
	struct rbuf all = pipe_all();
	size_t chunks[] = { 1, 2, 3, 5, 7, 13, 64, 4096 };

	for (size_t ci = 0; ci < sizeof(chunks) / sizeof(chunks[0]); ci++) {
		struct rbuf in = { 0 };
		struct resp_req req;
		size_t fed = 0, need = 1, got = 0, calls = 0;

		resp_req_init(&req);
		while (fed < all.len || in.len >= need) {
			if (in.len < need) {
				size_t n = all.len - fed < chunks[ci] ? all.len - fed : chunks[ci];
				rbuf_append(&in, all.data + fed, n);
				fed += n;
				continue;
			}
			char *buf = dup_exact(in.data, in.len);
			size_t consumed = 0;
			const char *err = NULL;
			int rc = resp_parse_req(buf, in.len, &lim_default, &req, &consumed, &need, &err);
			calls++;
			cr_assert_neq(rc, ERR, "chunk %zu: error %s", chunks[ci], err);
			if (rc == OK) {
				cr_assert_lt(got, NPIPE);
				check_pipe(got++, &req);
				rbuf_consume(&in, consumed);
				need = 1;
			} else {
				cr_assert_gt(need, in.len);
			}
			free(buf);
		}
		cr_assert_eq(got, NPIPE, "chunk %zu: %zu requests", chunks[ci], got);
		cr_assert_eq(in.len, 0);
		/* need keeps calls to one per arrival at most */
		cr_assert_leq(calls, all.len + NPIPE);
		rbuf_free(&in);
		resp_req_free(&req);
	}
	rbuf_free(&all);
}

/* Random mutations of valid frames: whatever the bytes, the parser stays in
 * bounds (ASan) and prefixes never contradict the whole. */
Test(resp_parse, mutated_frames_are_consistent)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	struct resp_req req;

	resp_req_init(&req);
	for (int iter = 0; iter < 3000; iter++) {
		const struct pipe_req *base = &pipe_reqs[iter % NPIPE];
		char tmp[128];
		size_t n = base->in_len;
		memcpy(tmp, base->in, n);
		for (int m = 0; m < 1 + iter % 3; m++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			static const char alphabet[] = "*$\r\n0123-9\"' \\x\0a";
			tmp[s % n] = alphabet[(s >> 32) % (sizeof(alphabet) - 1)];
		}
		if ((s >> 20) % 4 == 0)
			n = (size_t)(s >> 40) % (n + 1);
		char *whole = dup_exact(tmp, n);
		size_t consumed = 0, need = 0;
		const char *err = NULL;
		int rc = resp_parse_req(whole, n, &lim_small, &req, &consumed, &need, &err);
		char werr[128] = "";
		if (rc == ERR)
			snprintf(werr, sizeof(werr), "%s", err);
		if (rc == OK) {
			cr_assert_leq(consumed, n);
			cr_assert_gt(consumed, 0);
		}
		if (rc == MORE)
			cr_assert_gt(need, n);
		size_t end = rc == OK ? consumed : n;
		for (size_t k = 0; k < end; k++) {
			char *pre = dup_exact(tmp, k);
			size_t pc = 0, pn = 0;
			const char *pe = NULL;
			int prc = resp_parse_req(pre, k, &lim_small, &req, &pc, &pn, &pe);
			cr_assert(prc == MORE || (prc == rc && rc == ERR && strcmp(pe, werr) == 0),
				  "iter %d prefix %zu: rc %d vs whole %d", iter, k, prc, rc);
			if (prc == MORE)
				cr_assert_gt(pn, k);
			free(pre);
		}
		free(whole);
	}
	resp_req_free(&req);
}

/* ---------------------------------------------------------------- rbuf */

Test(rbuf, append_reserve_consume_free)
{
	struct rbuf b = { 0 };

	rbuf_append(&b, "", 0);
	cr_assert_eq(b.len, 0);
	rbuf_reserve(&b, 0);
	for (int i = 0; i < 10000; i++)
		rbuf_append(&b, "0123456789", 10);
	cr_assert_eq(b.len, 100000);
	cr_assert_geq(b.cap, b.len);
	for (int i = 0; i < 10000; i++)
		cr_assert(memcmp(b.data + i * 10, "0123456789", 10) == 0);
	rbuf_consume(&b, 5);
	cr_assert_eq(b.len, 99995);
	cr_assert(memcmp(b.data, "56789012", 8) == 0);
	rbuf_consume(&b, b.len);
	cr_assert_eq(b.len, 0);
	size_t cap = b.cap;
	rbuf_reserve(&b, cap);
	cr_assert_geq(b.cap, cap);
	rbuf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	rbuf_consume(&b, 0);
}

/* -------------------------------------------------------- reply writing */

static void expect(struct rbuf *b, const char *want, size_t n, const char *what)
{
	cr_assert_eq(b->len, n, "%s: len %zu want %zu: '%.*s'", what, b->len, n, (int)b->len,
		     b->data ? b->data : "");
	cr_assert(memcmp(b->data, want, n) == 0, "%s: got '%.*s' want '%.*s'", what, (int)b->len,
		  b->data, (int)n, want);
	/* what the writers produce is one complete value */
	if (n)
		cr_assert_eq(resp_reply_len(b->data, b->len), n, "%s: reply_len", what);
	b->len = 0;
}

#define EXPECT(b, s, what) expect(b, s, sizeof(s) - 1, what)

Test(resp_write, simple_error_raw)
{
	struct rbuf b = { 0 };

	resp_add_ok(&b);
	EXPECT(&b, "+OK\r\n", "ok");
	resp_add_simple(&b, "PONG");
	EXPECT(&b, "+PONG\r\n", "simple");
	resp_add_simple(&b, "a\r\nb");
	EXPECT(&b, "+a  b\r\n", "simple with CRLF");
	resp_add_error(&b, "ERR unknown command 'foo'");
	EXPECT(&b, "-ERR unknown command 'foo'\r\n", "error");
	resp_add_error(&b, "WRONGTYPE Operation against a key holding the wrong kind of value");
	EXPECT(&b, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
	       "wrongtype");
	resp_add_error(&b, "ERR bad\r\nthing\n\r");
	EXPECT(&b, "-ERR bad  thing  \r\n", "error with CR/LF");
	resp_add_error(&b, "-ERR already prefixed");
	EXPECT(&b, "-ERR already prefixed\r\n", "error with dash");
	resp_add_errorf(&b, "ERR unknown command '%s', with args beginning with: %d", "x", 42);
	EXPECT(&b, "-ERR unknown command 'x', with args beginning with: 42\r\n", "errorf");
	resp_add_errorf(&b, "ERR %s", "line\r\nbreak");
	EXPECT(&b, "-ERR line  break\r\n", "errorf CRLF");

	/* a long formatted error takes the heap path */
	char big[1000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	resp_add_errorf(&b, "ERR %s!", big);
	cr_assert_eq(b.len, 1 + 4 + 999 + 1 + 2);
	cr_assert(memcmp(b.data, "-ERR zzz", 8) == 0);
	cr_assert(memcmp(b.data + b.len - 4, "zz!\r\n" + 1, 4) == 0);
	b.len = 0;

	resp_add_raw(&b, "+raw\r\n", 6);
	EXPECT(&b, "+raw\r\n", "raw");
	rbuf_free(&b);
}

Test(resp_write, integers)
{
	struct rbuf b = { 0 };
	static const struct {
		long long v;
		const char *s;
	} ints[] = {
		{ 0, ":0\r\n" }, { 1, ":1\r\n" }, { -1, ":-1\r\n" }, { 9, ":9\r\n" }, { 10, ":10\r\n" },
		{ 99, ":99\r\n" }, { 100, ":100\r\n" }, { 12345, ":12345\r\n" },
		{ -1000000, ":-1000000\r\n" },
		{ 4294967296LL, ":4294967296\r\n" },
		{ LLONG_MAX, ":9223372036854775807\r\n" },
		{ LLONG_MIN, ":-9223372036854775808\r\n" },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		resp_add_int(&b, ints[i].v);
		expect(&b, ints[i].s, strlen(ints[i].s), ints[i].s);
		long long back;
		resp_add_int(&b, ints[i].v);
		cr_assert_eq(resp_reply_int(b.data, b.len, &back), 0);
		cr_assert_eq(back, ints[i].v);
		b.len = 0;
	}
	/* every power of ten boundary, against snprintf */
	for (int k = 0; k < 19; k++) {
		long long p = 1;
		for (int j = 0; j < k; j++)
			p *= 10;
		long long vs[] = { p - 1, p, p + 1, -p, -(p - 1) };
		for (size_t i = 0; i < 5; i++) {
			char want[32];
			int n = snprintf(want, sizeof(want), ":%lld\r\n", vs[i]);
			resp_add_int(&b, vs[i]);
			expect(&b, want, (size_t)n, want);
			n = snprintf(want, sizeof(want), "$%d\r\n%lld\r\n",
				     snprintf(NULL, 0, "%lld", vs[i]), vs[i]);
			resp_add_bulk_ll(&b, vs[i]);
			expect(&b, want, (size_t)n, want);
		}
	}
	resp_add_bulk_ll(&b, LLONG_MIN);
	EXPECT(&b, "$20\r\n-9223372036854775808\r\n", "bulk_ll min");
	resp_add_bulk_ll(&b, 0);
	EXPECT(&b, "$1\r\n0\r\n", "bulk_ll 0");
	rbuf_free(&b);
}

Test(resp_write, bulks)
{
	struct rbuf b = { 0 };

	resp_add_bulk(&b, "foo", 3);
	EXPECT(&b, "$3\r\nfoo\r\n", "bulk");
	resp_add_bulk(&b, "", 0);
	EXPECT(&b, "$0\r\n\r\n", "empty bulk");
	resp_add_bulk(&b, NULL, 0);
	EXPECT(&b, "$0\r\n\r\n", "NULL empty bulk");
	resp_add_bulk(&b, "a\r\n\0b", 5);
	EXPECT(&b, "$5\r\na\r\n\0b\r\n", "binary bulk");
	resp_add_bulk_cstr(&b, "hello");
	EXPECT(&b, "$5\r\nhello\r\n", "bulk_cstr");

	/* large bulk: one value, length header right */
	size_t n = 100000;
	char *big = malloc(n);
	cr_assert_not_null(big);
	memset(big, 'q', n);
	resp_add_bulk(&b, big, n);
	cr_assert_eq(b.len, 9 + n + 2);
	cr_assert(memcmp(b.data, "$100000\r\n", 9) == 0);
	cr_assert(memcmp(b.data + 9, big, n) == 0);
	cr_assert_eq(resp_reply_len(b.data, b.len), b.len);
	b.len = 0;
	free(big);
	rbuf_free(&b);
}

Test(resp_write, resp2_and_resp3_types)
{
	struct rbuf b = { 0 };

	resp_add_null(&b, 2);
	EXPECT(&b, "$-1\r\n", "null 2");
	resp_add_null(&b, 3);
	EXPECT(&b, "_\r\n", "null 3");
	resp_add_null_array(&b, 2);
	EXPECT(&b, "*-1\r\n", "null array 2");
	resp_add_null_array(&b, 3);
	EXPECT(&b, "_\r\n", "null array 3");

	resp_add_array(&b, 0);
	EXPECT(&b, "*0\r\n", "array 0");
	resp_add_array(&b, 2);
	resp_add_int(&b, 1);
	resp_add_bulk(&b, "x", 1);
	EXPECT(&b, "*2\r\n:1\r\n$1\r\nx\r\n", "array 2");

	resp_add_map(&b, 3, 1);
	resp_add_bulk(&b, "k", 1);
	resp_add_bulk(&b, "v", 1);
	EXPECT(&b, "%1\r\n$1\r\nk\r\n$1\r\nv\r\n", "map 3");
	resp_add_map(&b, 2, 1);
	resp_add_bulk(&b, "k", 1);
	resp_add_bulk(&b, "v", 1);
	EXPECT(&b, "*2\r\n$1\r\nk\r\n$1\r\nv\r\n", "map 2");
	resp_add_map(&b, 2, 0);
	EXPECT(&b, "*0\r\n", "empty map 2");

	resp_add_set(&b, 3, 1);
	resp_add_int(&b, 5);
	EXPECT(&b, "~1\r\n:5\r\n", "set 3");
	resp_add_set(&b, 2, 1);
	resp_add_int(&b, 5);
	EXPECT(&b, "*1\r\n:5\r\n", "set 2");

	resp_add_push(&b, 3, 2);
	resp_add_bulk_cstr(&b, "message");
	resp_add_bulk_cstr(&b, "x");
	EXPECT(&b, ">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", "push 3");
	resp_add_push(&b, 2, 2);
	resp_add_bulk_cstr(&b, "message");
	resp_add_bulk_cstr(&b, "x");
	EXPECT(&b, "*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", "push 2");

	resp_add_bool(&b, 3, true);
	EXPECT(&b, "#t\r\n", "bool t 3");
	resp_add_bool(&b, 3, false);
	EXPECT(&b, "#f\r\n", "bool f 3");
	resp_add_bool(&b, 2, true);
	EXPECT(&b, ":1\r\n", "bool t 2");
	resp_add_bool(&b, 2, false);
	EXPECT(&b, ":0\r\n", "bool f 2");

	resp_add_verbatim(&b, 3, "txt", "Some string", 11);
	EXPECT(&b, "=15\r\ntxt:Some string\r\n", "verbatim 3");
	resp_add_verbatim(&b, 3, "mkd", "", 0);
	EXPECT(&b, "=4\r\nmkd:\r\n", "empty verbatim 3");
	resp_add_verbatim(&b, 2, "txt", "Some string", 11);
	EXPECT(&b, "$11\r\nSome string\r\n", "verbatim 2");
	rbuf_free(&b);
}

Test(resp_write, doubles)
{
	struct rbuf b = { 0 };
	static const struct {
		double d;
		const char *r3, *r2;
	} ds[] = {
		{ 1.5, ",1.5\r\n", "$3\r\n1.5\r\n" },
		{ 3.0, ",3\r\n", "$1\r\n3\r\n" },
		{ 0.0, ",0\r\n", "$1\r\n0\r\n" },
		{ -0.0, ",-0\r\n", "$2\r\n-0\r\n" },
		{ 0.1, ",0.10000000000000001\r\n", "$19\r\n0.10000000000000001\r\n" },
		{ -2.5, ",-2.5\r\n", "$4\r\n-2.5\r\n" },
		{ 1e300, ",1.0000000000000001e+300\r\n", "$23\r\n1.0000000000000001e+300\r\n" },
		{ 123456789012345678.0, ",1.2345678901234568e+17\r\n",
		  "$22\r\n1.2345678901234568e+17\r\n" },
		{ INFINITY, ",inf\r\n", "$3\r\ninf\r\n" },
		{ -INFINITY, ",-inf\r\n", "$4\r\n-inf\r\n" },
		{ NAN, ",nan\r\n", "$3\r\nnan\r\n" },
		{ -NAN, ",nan\r\n", "$3\r\nnan\r\n" },
	};
	for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		resp_add_double(&b, 3, ds[i].d);
		expect(&b, ds[i].r3, strlen(ds[i].r3), ds[i].r3);
		resp_add_double(&b, 2, ds[i].d);
		expect(&b, ds[i].r2, strlen(ds[i].r2), ds[i].r2);
	}
	rbuf_free(&b);
}

/* -------------------------------------------------------- reply reading */

static const struct {
	const char *p;
	size_t n;
} good_replies[] = {
	{ P("+OK\r\n") },
	{ P("-ERR x\r\n") },
	{ P(":-12\r\n") },
	{ P("$3\r\nfoo\r\n") },
	{ P("$0\r\n\r\n") },
	{ P("$-1\r\n") },
	{ P("$4\r\n\r\n\r\n\r\n") },
	{ P("*-1\r\n") },
	{ P("*0\r\n") },
	{ P("*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n") },
	{ P("*3\r\n*2\r\n+a\r\n+b\r\n*0\r\n*1\r\n*1\r\n$-1\r\n") },
	{ P("_\r\n") },
	{ P(",1.5\r\n") },
	{ P("#t\r\n") },
	{ P("(3492890328409238509324850943850943825024385\r\n") },
	{ P("=15\r\ntxt:Some string\r\n") },
	{ P("!21\r\nSYNTAX invalid syntax\r\n") },
	{ P("%2\r\n+a\r\n:1\r\n+b\r\n*2\r\n:1\r\n:2\r\n") },
	{ P("~2\r\n#t\r\n_\r\n") },
	{ P(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n") },
	{ P("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n") },
	{ P("*1\r\n|1\r\n+k\r\n+v\r\n%0\r\n") },
};

Test(resp_read, reply_len_complete_and_truncated)
{
	for (size_t i = 0; i < sizeof(good_replies) / sizeof(good_replies[0]); i++) {
		const char *p = good_replies[i].p;
		size_t n = good_replies[i].n;

		char *buf = dup_exact(p, n);
		cr_assert_eq(resp_reply_len(buf, n), n, "%s", p);
		free(buf);
		/* with trailing bytes: still the first value's length */
		char *more = malloc(n + 5);
		memcpy(more, p, n);
		memcpy(more + n, "+X\r\n!", 5);
		cr_assert_eq(resp_reply_len(more, n + 5), n, "%s + trailing", p);
		free(more);
		/* every strict prefix is incomplete */
		for (size_t k = 0; k < n; k++) {
			char *pre = dup_exact(p, k);
			cr_assert_eq(resp_reply_len(pre, k), 0, "%s cut at %zu", p, k);
			free(pre);
		}
	}
}

Test(resp_read, reply_len_malformed)
{
	static const struct {
		const char *p;
		size_t n;
	} bad[] = {
		{ P("?\r\n") },                 /* unknown type */
		{ P("+OK\n") },                 /* no CR */
		{ P("+OK\rX") },                /* CR not followed by LF */
		{ P(":abc\r\n") },              /* integer not a number */
		{ P("$3\r\nfoobar\r\n") },      /* bulk longer than declared */
		{ P("$-2\r\n") },               /* negative length */
		{ P("$x\r\n\r\n") },
		{ P("=-1\r\n") },               /* only $ has a null form */
		{ P("~-1\r\n") },
		{ P("*-2\r\n") },
		{ P("*2\r\n:1\r\n") },          /* too few elements */
		{ P("*99999999999999\r\n:1\r\n") },
		{ P("*9223372036854775807\r\n") },
		{ P("%4611686018427387904\r\n") }, /* 2n overflows */
		{ P("|1\r\n+k\r\n+v\r\n") },    /* attribute without its value */
		{ P("*1\r\n?x\r\n") },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *buf = dup_exact(bad[i].p, bad[i].n);
		cr_assert_eq(resp_reply_len(buf, bad[i].n), 0, "%s", bad[i].p);
		free(buf);
	}
}

static struct rbuf nested(int depth, const char *open)
{
	struct rbuf b = { 0 };

	for (int i = 0; i < depth; i++)
		rbuf_append(&b, open, strlen(open));
	rbuf_append(&b, ":1\r\n", 4);
	return b;
}

Test(resp_read, reply_len_depth_limit)
{
	const char *opens[] = { "*1\r\n", "~1\r\n", ">1\r\n" };
	for (size_t i = 0; i < 3; i++) {
		struct rbuf ok = nested(64, opens[i]);
		struct rbuf deep = nested(65, opens[i]);
		cr_assert_eq(resp_reply_len(ok.data, ok.len), ok.len, "64 x %s", opens[i]);
		cr_assert_eq(resp_reply_len(deep.data, deep.len), 0, "65 x %s", opens[i]);
		rbuf_free(&ok);
		rbuf_free(&deep);
	}
	/* chained attributes count as depth too: no unbounded recursion */
	struct rbuf chain = nested(100000, "|0\r\n");
	cr_assert_eq(resp_reply_len(chain.data, chain.len), 0);
	rbuf_free(&chain);
	/* a very deep array is refused quickly, without recursing 1e5 levels */
	struct rbuf deep = nested(100000, "*1\r\n");
	cr_assert_eq(resp_reply_len(deep.data, deep.len), 0);
	rbuf_free(&deep);
}

Test(resp_read, reply_int)
{
	long long v = 7;

	cr_assert_eq(resp_reply_int(":123\r\n", 6, &v), 0);
	cr_assert_eq(v, 123);
	cr_assert_eq(resp_reply_int(":-5\r\n", 5, &v), 0);
	cr_assert_eq(v, -5);
	cr_assert_eq(resp_reply_int(":0\r\n", 4, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(resp_reply_int(":-9223372036854775808\r\n", 23, &v), 0);
	cr_assert_eq(v, LLONG_MIN);
	v = 7;
	cr_assert_eq(resp_reply_int(":9223372036854775808\r\n", 22, &v), -1);
	cr_assert_eq(resp_reply_int(":abc\r\n", 6, &v), -1);
	cr_assert_eq(resp_reply_int(":\r\n", 3, &v), -1);
	cr_assert_eq(resp_reply_int("+OK\r\n", 5, &v), -1);
	cr_assert_eq(resp_reply_int("$1\r\n1\r\n", 7, &v), -1);
	cr_assert_eq(resp_reply_int(":12\r", 4, &v), -1);
	cr_assert_eq(resp_reply_int(":12", 3, &v), -1);
	cr_assert_eq(resp_reply_int("", 0, &v), -1);
	cr_assert_eq(v, 7, "v written on failure");
}

Test(resp_read, reply_agg)
{
	long long n = 0;
	size_t h = 0;

	cr_assert_eq(resp_reply_agg("*3\r\n:1\r\n", 8, &n, &h), '*');
	cr_assert_eq(n, 3);
	cr_assert_eq(h, 4);
	cr_assert_eq(resp_reply_agg("%2\r\n", 4, &n, &h), '%');
	cr_assert_eq(n, 2);
	cr_assert_eq(resp_reply_agg("~12\r\n", 5, &n, &h), '~');
	cr_assert_eq(n, 12);
	cr_assert_eq(h, 5);
	cr_assert_eq(resp_reply_agg(">0\r\n", 4, &n, &h), '>');
	cr_assert_eq(n, 0);
	cr_assert_eq(resp_reply_agg("*-1\r\n", 5, &n, &h), '*');
	cr_assert_eq(n, -1);
	cr_assert_eq(h, 5);
	n = 99;
	h = 99;
	cr_assert_eq(resp_reply_agg("$3\r\nfoo\r\n", 9, &n, &h), 0);
	cr_assert_eq(resp_reply_agg(":3\r\n", 4, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("*3\r", 3, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("*3", 2, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("*x\r\n", 4, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("%-1\r\n", 5, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("*-2\r\n", 5, &n, &h), 0);
	cr_assert_eq(resp_reply_agg("", 0, &n, &h), 0);
	cr_assert_eq(n, 99);
	cr_assert_eq(h, 99);
}

/* Random bytes and mutated replies: never a read out of bounds (ASan), and
 * a length, when given, is within the buffer and stable under appending. */
Test(resp_read, mutated_replies_stay_in_bounds)
{
	uint64_t s = 0x243f6a8885a308d3ULL;

	for (int iter = 0; iter < 20000; iter++) {
		size_t gi = (size_t)iter % (sizeof(good_replies) / sizeof(good_replies[0]));
		char tmp[128];
		size_t n = good_replies[gi].n;
		memcpy(tmp, good_replies[gi].p, n);
		for (int m = 0; m < 1 + iter % 4; m++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			static const char alphabet[] = "*$%|~>:+-_,#(=!\r\n0123456789-";
			tmp[s % n] = alphabet[(s >> 32) % (sizeof(alphabet) - 1)];
		}
		char *buf = dup_exact(tmp, n);
		size_t l = resp_reply_len(buf, n);
		cr_assert_leq(l, n);
		long long v;
		size_t h;
		(void)resp_reply_int(buf, n, &v);
		(void)resp_reply_agg(buf, n, &v, &h);
		free(buf);
		if (l) {
			char *big = malloc(n + 3);
			memcpy(big, tmp, n);
			memcpy(big + n, "*9\r", 3);
			cr_assert_eq(resp_reply_len(big, n + 3), l);
			free(big);
		}
	}
}
