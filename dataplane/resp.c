/* RESP codec: request parser, reply writers and a small reply reader.
 *
 * The parser is stateless: every call parses one request from the start of
 * the caller's buffer. That keeps a connection's parse state down to its
 * input bytes (which the DPDK path reads straight out of mbufs), at the
 * price of re-reading a partial request when more bytes arrive; *need lets
 * the caller skip calls that cannot succeed, so a large bulk is parsed once
 * when it is complete, not once per segment. It is the hot path (millions of
 * small pipelined requests per second): a request of at most 9 arguments of
 * at most 99 bytes each, complete in the buffer, is parsed by one straight
 * pass (resp_parse_fast) that hands anything else to the general parser;
 * there, header lines are read with a digit scan that usually finds the CR
 * without memchr, numbers are parsed by hand, and nothing is allocated for
 * requests of up to RESP_ARGV_INLINE arguments.
 *
 * Protocol decisions follow Redis 7 (networking.c processMultibulkBuffer /
 * processInlineBuffer and sds.c sdssplitargs) including their leniencies:
 * the byte after a header's CR and the two bytes after bulk data are skipped
 * without being checked, and an inline line ends at its first NUL byte.
 *
 * The reply writers reserve once per element and format integers by hand;
 * the reply reader measures values produced by this server so sub-replies of
 * cross-shard requests can be split and merged. */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"

/* Redis's PROTO_INLINE_MAX_SIZE: a "*<count>" or "$<len>" line must show
 * its CR within this many bytes of its type byte. */
#define RESP_COUNT_LINE_MAX (64 * 1024)

/* A heap argv larger than this is released once the request that needed it
 * has been handed out, so one huge MSET does not pin memory for the life of
 * the connection. */
#define RESP_ARGV_KEEP 1024

#define RESP_ERR_MBULK_LEN "ERR Protocol error: invalid multibulk length"
#define RESP_ERR_BULK_LEN "ERR Protocol error: invalid bulk length"
#define RESP_ERR_MBULK_BIG "ERR Protocol error: too big mbulk count string"
#define RESP_ERR_BULK_BIG "ERR Protocol error: too big bulk count string"
#define RESP_ERR_INLINE_BIG "ERR Protocol error: too big inline request"
#define RESP_ERR_QUOTES "ERR Protocol error: unbalanced quotes in request"

/* ------------------------------------------------------- number helpers */

/* Strict decimal to long long with Redis's string2ll rules: optional '-',
 * no '+', no spaces, no leading zeros ("0" alone is fine, "-0" is not), no
 * overflow. Returns false on any violation. */
static bool resp_str2ll(const char *s, size_t n, long long *out)
{
	bool neg = false;
	unsigned long long v;
	size_t i = 0;

	if (n == 0)
		return false;
	if (n == 1 && s[0] == '0') {
		*out = 0;
		return true;
	}
	if (s[0] == '-') {
		neg = true;
		if (++i == n)
			return false;
	}
	if (s[i] < '1' || s[i] > '9')
		return false;
	v = (unsigned long long)(s[i++] - '0');
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - (unsigned)'0';
		if (d > 9)
			return false;
		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return false;
		/* -(LLONG_MAX + 1) without signed overflow */
		*out = v == (unsigned long long)LLONG_MAX + 1
		       ? LLONG_MIN : -(long long)v;
	} else {
		if (v > (unsigned long long)LLONG_MAX)
			return false;
		*out = (long long)v;
	}
	return true;
}

static const char resp_digit_pairs[201] =
	"00010203040506070809"
	"10111213141516171819"
	"20212223242526272829"
	"30313233343536373839"
	"40414243444546474849"
	"50515253545556575859"
	"60616263646566676869"
	"70717273747576777879"
	"80818283848586878889"
	"90919293949596979899";

/* Write v in decimal at dst (room for 20 bytes); return the length. */
static inline size_t resp_fmt_u64(char *dst, unsigned long long v)
{
	unsigned n = resp_u64_len(v);
	char *p = dst + n;

	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = resp_digit_pairs[i + 1];
		*--p = resp_digit_pairs[i];
	}
	if (v >= 10) {
		*--p = resp_digit_pairs[v * 2 + 1];
		*--p = resp_digit_pairs[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
	return n;
}

/* Write v in decimal at dst (room for 20 bytes); return the length. */
static inline size_t resp_fmt_ll(char *dst, long long v)
{
	if (v < 0) {
		*dst = '-';
		return 1 + resp_fmt_u64(dst + 1, 0ULL - (unsigned long long)v);
	}
	return resp_fmt_u64(dst, (unsigned long long)v);
}

/* ------------------------------------------------------ request parsing */

/* Outcome of reading one "<type><number>\r\n" header line. */
enum resp_line {
	RESP_LINE_OK,
	RESP_LINE_MORE,     /* no CR+1 byte yet: need len + 1 */
	RESP_LINE_TOO_BIG,  /* no CR within RESP_COUNT_LINE_MAX */
	RESP_LINE_BAD,      /* text between type byte and CR is not a number */
};

/* Read the number on the header line whose type byte is buf[hdr]. On OK,
 * *next is the offset just past the line (CR and the byte after it).
 *
 * The result is a function of buf[hdr .. hdr + RESP_COUNT_LINE_MAX + 1]
 * only, and a prefix of a buffer gives MORE or the same result as the whole
 * buffer: the CR must sit at most RESP_COUNT_LINE_MAX bytes after the type
 * byte (Redis errors once that many bytes are pending without a CR). */
static __attribute__((noinline)) enum resp_line
resp_read_line(const char *buf, size_t len, size_t hdr, long long *v, size_t *next)
{
	size_t i = hdr + 1, cr;

	/* Fast path: the CR right after the digits, no memchr call. */
	if (i < len && buf[i] == '-')
		i++;
	while (i < len && (unsigned char)buf[i] - (unsigned)'0' <= 9)
		i++;
	if (i < len && buf[i] == '\r') {
		cr = i;
		if (cr - hdr > RESP_COUNT_LINE_MAX)
			return RESP_LINE_TOO_BIG;
	} else {
		size_t end = len - hdr > RESP_COUNT_LINE_MAX
			     ? hdr + RESP_COUNT_LINE_MAX + 1 : len;
		const char *c = i < end ? memchr(buf + i, '\r', end - i) : NULL;
		if (!c)
			return len - hdr > RESP_COUNT_LINE_MAX
			       ? RESP_LINE_TOO_BIG : RESP_LINE_MORE;
		cr = (size_t)(c - buf);
	}
	/* Like Redis, wait for the byte after CR (not checked to be LF)
	 * before judging the number. */
	if (cr + 1 >= len)
		return RESP_LINE_MORE;
	if (!resp_str2ll(buf + hdr + 1, cr - hdr - 1, v))
		return RESP_LINE_BAD;
	*next = cr + 2;
	return RESP_LINE_OK;
}

/* The common header line, read in one pass: up to RESP_SMALL_DIGITS digits
 * in canonical form ("0", or no leading zero), no sign, then CR and the
 * byte after it, all within buf[0..len). Returns false for anything else
 * (a sign, a longer or non-canonical number, no CR yet, junk) and the
 * caller asks resp_read_line(), which decides every such case. Whenever
 * this returns true, resp_read_line() would return OK with the same *v
 * and *next: the digit run ends at the same CR, the line is far inside
 * RESP_COUNT_LINE_MAX, and 18 digits cannot overflow a long long. */
#define RESP_SMALL_DIGITS 18
static inline bool resp_read_small(const char *buf, size_t len, size_t hdr,
				   long long *v, size_t *next)
{
	const unsigned char *p = (const unsigned char *)buf + hdr + 1;
	size_t avail = len - hdr - 1;   /* hdr < len */
	unsigned long long n;
	size_t i;

	if (avail < 3)   /* a digit, the CR, the byte after it */
		return false;
	n = (unsigned)p[0] - '0';
	if (p[1] == '\r') {   /* one digit: "0".."9" */
		if (n > 9)
			return false;
		*v = (long long)n;
		*next = hdr + 4;
		return true;
	}
	if (n - 1 > 8)   /* not 1..9: a sign, a leading zero, junk */
		return false;
	size_t end = avail < RESP_SMALL_DIGITS ? avail : RESP_SMALL_DIGITS;
	for (i = 1; i < end; i++) {
		unsigned d = (unsigned)p[i] - '0';
		if (d > 9)
			break;
		n = n * 10 + d;
	}
	if (i + 1 >= avail || p[i] != '\r')
		return false;
	*v = (long long)n;
	*next = hdr + i + 3;
	return true;
}

static void resp_oom(size_t want)
{
	fprintf(stderr, "resp: out of memory allocating %zu bytes\n", want);
	abort();
}

/* argv is full (argc == *cap): move to / grow the heap argv by doubling.
 * Invariant kept: req->argv_cap == 0 <=> req->argv == req->argv_inline. */
static struct resp_arg *resp_argv_grow(struct resp_req *req, size_t argc,
				       size_t *cap)
{
	struct resp_arg *heap;

	if (req->argv_cap == 0) {
		size_t ncap = 2 * RESP_ARGV_INLINE;
		heap = malloc(ncap * sizeof(*heap));
		if (!heap)
			resp_oom(ncap * sizeof(*heap));
		memcpy(heap, req->argv_inline, argc * sizeof(*heap));
		req->argv = heap;
		req->argv_cap = ncap;
	} else {
		size_t ncap = req->argv_cap * 2;
		if (ncap > SIZE_MAX / sizeof(*heap))
			resp_oom(SIZE_MAX);
		heap = realloc(req->argv, ncap * sizeof(*heap));
		if (!heap)
			resp_oom(ncap * sizeof(*heap));
		req->argv = heap;
		req->argv_cap = ncap;
	}
	*cap = req->argv_cap;
	return heap;
}

void resp_req_init(struct resp_req *req)
{
	req->argc = 0;
	req->argv = req->argv_inline;
	req->argv_cap = 0;
	req->scratch = NULL;
	req->scratch_cap = 0;
}

void resp_req_free(struct resp_req *req)
{
	/* free(NULL) is still a call into the allocator, and nearly every
	 * batch of requests has neither to free. */
	if (req->argv_cap)
		free(req->argv);
	if (req->scratch)
		free(req->scratch);
	resp_req_init(req);
}

static inline bool resp_is_space(unsigned char c)
{
	/* isspace() in the C locale, without the locale lookup */
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool resp_is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline unsigned resp_hex_val(unsigned char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Split line[0..n) into words the way sdssplitargs does (n already stops
 * at the first NUL). Words are unescaped into req->scratch, which the
 * caller has sized to at least n bytes: unescaping never grows a word. */
static int resp_split_inline(const char *line, size_t n, struct resp_req *req,
			     const char **err)
{
	struct resp_arg *argv = req->argv;
	size_t cap = req->argv_cap ? req->argv_cap : RESP_ARGV_INLINE;
	size_t argc = 0, i = 0, o = 0;
	char *out = req->scratch;

/* byte at k, or 0 past the end: sdssplitargs sees the terminating NUL */
#define AT(k) ((k) < n ? (unsigned char)line[k] : 0)
	for (;;) {
		while (i < n && resp_is_space((unsigned char)line[i]))
			i++;
		if (i == n)
			break;
		size_t start = o;
		bool inq = false, insq = false, done = false;
		while (!done) {
			unsigned char c = AT(i);
			if (inq) {
				if (c == '\\' && AT(i + 1) == 'x' &&
				    resp_is_hex(AT(i + 2)) && resp_is_hex(AT(i + 3))) {
					out[o++] = (char)(resp_hex_val(AT(i + 2)) * 16 +
							  resp_hex_val(AT(i + 3)));
					i += 4;
				} else if (c == '\\' && AT(i + 1)) {
					unsigned char e = AT(i + 1);
					switch (e) {
					case 'n': e = '\n'; break;
					case 'r': e = '\r'; break;
					case 't': e = '\t'; break;
					case 'b': e = '\b'; break;
					case 'a': e = '\a'; break;
					default: break;
					}
					out[o++] = (char)e;
					i += 2;
				} else if (c == '"') {
					/* closing quote must end the word */
					if (AT(i + 1) && !resp_is_space(AT(i + 1)))
						goto unbalanced;
					done = true;
					i++;
				} else if (c == 0) {
					goto unbalanced;
				} else {
					out[o++] = (char)c;
					i++;
				}
			} else if (insq) {
				if (c == '\\' && AT(i + 1) == '\'') {
					out[o++] = '\'';
					i += 2;
				} else if (c == '\'') {
					if (AT(i + 1) && !resp_is_space(AT(i + 1)))
						goto unbalanced;
					done = true;
					i++;
				} else if (c == 0) {
					goto unbalanced;
				} else {
					out[o++] = (char)c;
					i++;
				}
			} else {
				switch (c) {
				case ' ': case '\n': case '\r': case '\t': case 0:
					done = true;
					break;
				case '"':
					inq = true;
					i++;
					break;
				case '\'':
					insq = true;
					i++;
					break;
				default:
					out[o++] = (char)c;
					i++;
					break;
				}
			}
		}
		if (argc == cap)
			argv = resp_argv_grow(req, argc, &cap);
		argv[argc].p = out + start;
		argv[argc].len = o - start;
		argc++;
	}
#undef AT
	if (argc > INT_MAX)   /* cannot happen with a sane max_inline_len */
		goto unbalanced;
	req->argv = argv;
	req->argc = (int)argc;
	return RESP_PARSE_OK;
unbalanced:
	*err = RESP_ERR_QUOTES;
	return RESP_PARSE_ERR;
}

static int resp_parse_inline(const char *buf, size_t len,
			     const struct resp_limits *lim,
			     struct resp_req *req, size_t *consumed,
			     size_t *need, const char **err)
{
	size_t max = lim->max_inline_len;
	/* The '\n' may sit at most max bytes in: Redis errors as soon as
	 * more than max bytes are pending without one. */
	size_t win = len > max ? max + 1 : len;
	const char *nl = memchr(buf, '\n', win);

	if (!nl) {
		if (len > max) {
			*err = RESP_ERR_INLINE_BIG;
			return RESP_PARSE_ERR;
		}
		*need = len + 1;
		return RESP_PARSE_MORE;
	}
	size_t eol = (size_t)(nl - buf), n = eol;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	const char *z = memchr(buf, '\0', n);
	if (z)
		n = (size_t)(z - buf);
	if (n > req->scratch_cap) {
		size_t ncap = req->scratch_cap ? req->scratch_cap : 64;
		while (ncap < n)
			ncap *= 2;
		char *s = realloc(req->scratch, ncap);
		if (!s)
			resp_oom(ncap);
		req->scratch = s;
		req->scratch_cap = ncap;
	}
	int rc = resp_split_inline(buf, n, req, err);
	if (rc == RESP_PARSE_OK)
		*consumed = eol + 1;
	return rc;
}

/* The shape of nearly every request a client library sends: "*<1..9>\r\n"
 * then bulks of 0..99 bytes, "$<len>\r\n<data>\r\n", all of it in buf.
 * Parsed in one straight pass into the inline argv; returns false as soon
 * as anything differs (more arguments or digits, a sign, a leading zero,
 * a missing byte, a limit reached) and the general parser below starts
 * over and decides. Returning true means the general parser would have
 * returned OK with the same argv and *consumed: the same header and
 * length rules hold (canonical digits, CR then one unchecked byte, two
 * unchecked bytes after data), and every limit it checks was checked. */
static inline bool resp_parse_fast(const char *buf, size_t len,
				   const struct resp_limits *lim,
				   struct resp_req *req, size_t *consumed)
{
	const unsigned char *u = (const unsigned char *)buf;
	/* at least 9 slots: the inline array, or a heap one that is larger */
	struct resp_arg *argv = req->argv;
	size_t pos = 4;
	unsigned n;

	if (len < 4)
		return false;
	n = (unsigned)u[1] - '0';   /* '1'..'9' */
	if (n - 1 > 8 || u[2] != '\r' || (long long)n > lim->max_multibulk_len)
		return false;
	for (unsigned j = 0; j < n; j++) {
		size_t blen, data;
		if (len - pos < 4 || u[pos] != '$')
			return false;
		unsigned d = (unsigned)u[pos + 1] - '0';
		if (u[pos + 2] == '\r' && d <= 9) {            /* "$0".."$9" */
			blen = d;
			data = pos + 4;
		} else if (d - 1 <= 8 && (unsigned)u[pos + 2] - '0' <= 9 &&
			   u[pos + 3] == '\r' && len - pos > 4) {   /* "$10".."$99" */
			blen = d * 10 + ((unsigned)u[pos + 2] - '0');
			data = pos + 5;
		} else {
			return false;
		}
		if ((long long)blen > lim->max_bulk_len || blen + 2 > len - data)
			return false;
		argv[j].p = buf + data;
		argv[j].len = blen;
		pos = data + blen + 2;
	}
	req->argc = (int)n;
	*consumed = pos;
	return true;
}

/* resp_parse_req() for everything: inline requests, any count or length,
 * incomplete input, errors. */
static __attribute__((noinline)) int
resp_parse_req_general(const char *buf, size_t len, const struct resp_limits *lim,
		       struct resp_req *req, size_t *consumed, size_t *need,
		       const char **err)
{
	/* "got 'X'" needs a formatted text; it lives here until the next
	 * error of this thread, long enough to be replied. */
	static _Thread_local char got_err[64];
	struct resp_arg *argv;
	size_t cap, argc = 0, pos;
	long long n, limit;
	int rc;

	/* The previous call handed out a request with a large heap argv
	 * (argc is reset to 0 on MORE/ERR, so a request still arriving keeps
	 * its array). */
	if (req->argv_cap > RESP_ARGV_KEEP && req->argc > 0) {
		free(req->argv);
		req->argv = req->argv_inline;
		req->argv_cap = 0;
	}
	req->argc = 0;
	if (len == 0) {
		*need = 1;
		return RESP_PARSE_MORE;
	}
	if (buf[0] != '*') {
		rc = resp_parse_inline(buf, len, lim, req, consumed, need, err);
		if (rc != RESP_PARSE_OK)
			req->argc = 0;
		return rc;
	}

	if (!resp_read_small(buf, len, 0, &n, &pos)) {
		switch (resp_read_line(buf, len, 0, &n, &pos)) {
		case RESP_LINE_OK:
			break;
		case RESP_LINE_MORE:
			*need = len + 1;
			return RESP_PARSE_MORE;
		case RESP_LINE_TOO_BIG:
			*err = RESP_ERR_MBULK_BIG;
			return RESP_PARSE_ERR;
		case RESP_LINE_BAD:
			*err = RESP_ERR_MBULK_LEN;
			return RESP_PARSE_ERR;
		}
	}
	limit = lim->max_multibulk_len < INT_MAX ? lim->max_multibulk_len : INT_MAX;
	if (n > limit) {
		*err = RESP_ERR_MBULK_LEN;
		return RESP_PARSE_ERR;
	}
	if (n <= 0) {   /* "*0", "*-1", any negative: an empty request */
		*consumed = pos;
		return RESP_PARSE_OK;
	}

	argv = req->argv;
	cap = req->argv_cap ? req->argv_cap : RESP_ARGV_INLINE;
	/* argv grows as elements arrive, never from the declared count. */
	for (long long j = 0; j < n; j++) {
		long long blen;
		size_t data;

		if (pos >= len) {
			*need = len + 1;
			return RESP_PARSE_MORE;
		}
		if (buf[pos] != '$') {
			snprintf(got_err, sizeof(got_err),
				 "ERR Protocol error: expected '$', got '%c'", buf[pos]);
			*err = got_err;
			return RESP_PARSE_ERR;
		}
		if (!resp_read_small(buf, len, pos, &blen, &data)) {
			switch (resp_read_line(buf, len, pos, &blen, &data)) {
			case RESP_LINE_OK:
				break;
			case RESP_LINE_MORE:
				*need = len + 1;
				return RESP_PARSE_MORE;
			case RESP_LINE_TOO_BIG:
				*err = RESP_ERR_BULK_BIG;
				return RESP_PARSE_ERR;
			case RESP_LINE_BAD:
				*err = RESP_ERR_BULK_LEN;
				return RESP_PARSE_ERR;
			}
		}
		if (blen < 0 || blen > lim->max_bulk_len) {
			*err = RESP_ERR_BULK_LEN;
			return RESP_PARSE_ERR;
		}
		/* data + 2 trailing bytes; blen <= LLONG_MAX so +2 fits */
		unsigned long long want = (unsigned long long)blen + 2;
		if (want > len - data) {
			*need = want > SIZE_MAX - data ? SIZE_MAX : data + (size_t)want;
			return RESP_PARSE_MORE;
		}
		if (argc == cap)
			argv = resp_argv_grow(req, argc, &cap);
		argv[argc].p = buf + data;
		argv[argc].len = (size_t)blen;
		argc++;
		pos = data + (size_t)want;
	}
	req->argv = argv;
	req->argc = (int)argc;
	*consumed = pos;
	return RESP_PARSE_OK;
}

int resp_parse_req(const char *buf, size_t len, const struct resp_limits *lim,
		   struct resp_req *req, size_t *consumed, size_t *need,
		   const char **err)
{
	/* The short-request fast path first, in a frame of its own; a heap
	 * argv due for release (see resp_parse_req_general) goes the general
	 * way. */
	if (len && buf[0] == '*' && !(req->argv_cap > RESP_ARGV_KEEP && req->argc > 0) &&
	    resp_parse_fast(buf, len, lim, req, consumed))
		return RESP_PARSE_OK;
	return resp_parse_req_general(buf, len, lim, req, consumed, need, err);
}

/* ------------------------------------------------------- reply writing */

/* Room for n more bytes; returns where to write them. */
static inline char *resp_w(struct rbuf *b, size_t n)
{
	if (b->cap - b->len < n)
		rbuf_reserve(b, n);
	return b->data + b->len;
}

/* "<type><n>\r\n" */
static inline void resp_add_hdr(struct rbuf *b, char type, long long n)
{
	char *p = resp_w(b, 1 + 20 + 2);
	size_t k = 1;

	p[0] = type;
	k += resp_fmt_ll(p + 1, n);
	p[k++] = '\r';
	p[k++] = '\n';
	b->len += k;
}

void resp_add_raw(struct rbuf *b, const void *p, size_t n)
{
	rbuf_append(b, p, n);
}

/* A one-line reply: type byte, text with CR/LF turned into spaces (a CR or
 * LF inside would end the line early and desync the client), CRLF. */
static void resp_add_line(struct rbuf *b, char type, const char *s, size_t n)
{
	char *p = resp_w(b, 1 + n + 2);

	p[0] = type;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		p[1 + i] = (c == '\r' || c == '\n') ? ' ' : c;
	}
	p[1 + n] = '\r';
	p[2 + n] = '\n';
	b->len += n + 3;
}

void resp_add_simple(struct rbuf *b, const char *s)
{
	resp_add_line(b, '+', s, strlen(s));
}

void resp_add_ok(struct rbuf *b)
{
	memcpy(resp_w(b, 5), "+OK\r\n", 5);
	b->len += 5;
}

void resp_add_error(struct rbuf *b, const char *msg)
{
	if (msg[0] == '-')   /* already prefixed: do not double it */
		msg++;
	resp_add_line(b, '-', msg, strlen(msg));
}

void resp_add_errorf(struct rbuf *b, const char *fmt, ...)
{
	char small[256], *msg = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		resp_add_error(b, "ERR error formatting error reply");
		return;
	}
	if ((size_t)n >= sizeof(small)) {
		msg = malloc((size_t)n + 1);
		if (!msg)
			resp_oom((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	resp_add_error(b, msg);
	if (msg != small)
		free(msg);
}

void resp_add_int(struct rbuf *b, long long v)
{
	resp_add_hdr(b, ':', v);
}

/* memcpy(dst, src, n) without a call for n <= 16 (most keys and small
 * values): overlapping loads and stores that stay inside [0, n). */
static inline void resp_copy(char *dst, const void *src, size_t n)
{
	const char *s = src;

	if (n >= 8 && n <= 16) {
		uint64_t a, z;
		memcpy(&a, s, 8);
		memcpy(&z, s + n - 8, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + n - 8, &z, 8);
	} else if (n >= 4 && n < 8) {
		uint32_t a, z;
		memcpy(&a, s, 4);
		memcpy(&z, s + n - 4, 4);
		memcpy(dst, &a, 4);
		memcpy(dst + n - 4, &z, 4);
	} else if (n > 0 && n < 4) {
		dst[0] = s[0];
		dst[n >> 1] = s[n >> 1];
		dst[n - 1] = s[n - 1];
	} else if (n) {
		memcpy(dst, s, n);
	}
}

void resp_add_bulk(struct rbuf *b, const void *data, size_t n)
{
	if (n > SIZE_MAX - 32)
		resp_oom(SIZE_MAX);
	char *p = resp_w(b, 1 + 20 + 2 + n + 2);
	size_t k;

	p[0] = '$';
	if (n < 10) {
		p[1] = (char)('0' + n);
		k = 2;
	} else {
		k = 1 + resp_fmt_u64(p + 1, n);
	}
	p[k++] = '\r';
	p[k++] = '\n';
	resp_copy(p + k, data, n);
	k += n;
	p[k++] = '\r';
	p[k++] = '\n';
	b->len += k;
}

void resp_add_bulk_cstr(struct rbuf *b, const char *s)
{
	resp_add_bulk(b, s, strlen(s));
}

void resp_add_bulk_ll(struct rbuf *b, long long v)
{
	char digits[20];
	size_t n = resp_fmt_ll(digits, v);
	char *p = resp_w(b, 1 + 2 + 2 + 20 + 2);   /* n <= 20: "$NN\r\n" */
	size_t k = 1;

	p[0] = '$';
	k += resp_fmt_u64(p + 1, n);
	p[k++] = '\r';
	p[k++] = '\n';
	memcpy(p + k, digits, n);
	k += n;
	p[k++] = '\r';
	p[k++] = '\n';
	b->len += k;
}

void resp_add_null(struct rbuf *b, int proto)
{
	if (proto >= 3)
		rbuf_append(b, "_\r\n", 3);
	else
		rbuf_append(b, "$-1\r\n", 5);
}

void resp_add_null_array(struct rbuf *b, int proto)
{
	if (proto >= 3)
		rbuf_append(b, "_\r\n", 3);
	else
		rbuf_append(b, "*-1\r\n", 5);
}

void resp_add_array(struct rbuf *b, long long n)
{
	resp_add_hdr(b, '*', n);
}

void resp_add_map(struct rbuf *b, int proto, long long n)
{
	if (proto >= 3)
		resp_add_hdr(b, '%', n);
	else
		resp_add_hdr(b, '*', 2 * n);
}

void resp_add_set(struct rbuf *b, int proto, long long n)
{
	resp_add_hdr(b, proto >= 3 ? '~' : '*', n);
}

void resp_add_push(struct rbuf *b, int proto, long long n)
{
	resp_add_hdr(b, proto >= 3 ? '>' : '*', n);
}

void resp_add_double(struct rbuf *b, int proto, double d)
{
	char txt[64];
	int n;

	/* Spelled out: libc may print NaN as "-nan" and inf differently. */
	if (isnan(d))
		n = (int)strlen(strcpy(txt, "nan"));
	else if (isinf(d))
		n = (int)strlen(strcpy(txt, d > 0 ? "inf" : "-inf"));
	else
		n = snprintf(txt, sizeof(txt), "%.17g", d);
	if (proto >= 3) {
		char *p = resp_w(b, 1 + (size_t)n + 2);
		p[0] = ',';
		memcpy(p + 1, txt, (size_t)n);
		p[1 + n] = '\r';
		p[2 + n] = '\n';
		b->len += (size_t)n + 3;
	} else {
		resp_add_bulk(b, txt, (size_t)n);
	}
}

void resp_add_bool(struct rbuf *b, int proto, bool v)
{
	if (proto >= 3)
		rbuf_append(b, v ? "#t\r\n" : "#f\r\n", 4);
	else
		rbuf_append(b, v ? ":1\r\n" : ":0\r\n", 4);
}

void resp_add_verbatim(struct rbuf *b, int proto, const char *fmt,
		       const void *data, size_t n)
{
	if (proto < 3) {
		resp_add_bulk(b, data, n);
		return;
	}
	if (n > SIZE_MAX - 32)
		resp_oom(SIZE_MAX);
	char *p = resp_w(b, 1 + 20 + 2 + 4 + n + 2);
	size_t k = 1;

	p[0] = '=';
	k += resp_fmt_u64(p + 1, n + 4);
	p[k++] = '\r';
	p[k++] = '\n';
	memcpy(p + k, fmt, 3);
	p[k + 3] = ':';
	k += 4;
	if (n)
		memcpy(p + k, data, n);
	k += n;
	p[k++] = '\r';
	p[k++] = '\n';
	b->len += k;
}

/* ------------------------------------------------------- reply reading */

#define RESP_REPLY_MAX_DEPTH 64

/* Offset just past the CRLF of the line starting at p[0], with *cr the
 * offset of its CR; 0 if there is no complete line. */
static size_t resp_reply_line(const char *p, size_t len, size_t *cr)
{
	const char *c = len > 1 ? memchr(p + 1, '\r', len - 1) : NULL;

	if (!c)
		return 0;
	size_t i = (size_t)(c - p);
	if (i + 1 >= len || p[i + 1] != '\n')
		return 0;
	*cr = i;
	return i + 2;
}

/* Header line "<type><n>\r\n": n and the line length, 0 if incomplete or
 * not a number. */
static size_t resp_reply_hdr(const char *p, size_t len, long long *n)
{
	size_t cr, end = resp_reply_line(p, len, &cr);

	if (!end || !resp_str2ll(p + 1, cr - 1, n))
		return 0;
	return end;
}

static size_t resp_reply_len_depth(const char *p, size_t len, int depth);

/* Measure count values following an aggregate header; 0 if incomplete. */
static size_t resp_reply_elems(const char *p, size_t len, size_t off,
			       long long count, int depth)
{
	/* Each element is at least 3 bytes: a count beyond that cannot fit
	 * and is rejected before the loop runs. */
	if (count < 0 || (unsigned long long)count > (len - off) / 3)
		return 0;
	for (long long i = 0; i < count; i++) {
		size_t e = resp_reply_len_depth(p + off, len - off, depth + 1);
		if (!e)
			return 0;
		off += e;
	}
	return off;
}

static size_t resp_reply_len_depth(const char *p, size_t len, int depth)
{
	size_t end, cr;
	long long n;

	if (len < 3)
		return 0;
	switch (p[0]) {
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		end = resp_reply_line(p, len, &cr);
		if (p[0] == ':' && end && !resp_str2ll(p + 1, cr - 1, &n))
			return 0;
		return end;
	case '$': case '=': case '!':
		end = resp_reply_hdr(p, len, &n);
		if (!end)
			return 0;
		if (n == -1 && p[0] == '$')
			return end;   /* RESP2 null bulk */
		if (n < 0 || (unsigned long long)n + 2 > len - end)
			return 0;
		end += (size_t)n;
		if (p[end] != '\r' || p[end + 1] != '\n')
			return 0;
		return end + 2;
	case '*': case '~': case '>': case '%': case '|':
		if (depth >= RESP_REPLY_MAX_DEPTH)
			return 0;
		end = resp_reply_hdr(p, len, &n);
		if (!end)
			return 0;
		if (n == -1 && p[0] == '*')
			return end;   /* RESP2 null array */
		if (n < 0)
			return 0;
		if (p[0] == '%' || p[0] == '|') {
			if (n > LLONG_MAX / 2)
				return 0;
			n *= 2;
		}
		end = resp_reply_elems(p, len, end, n, depth);
		if (!end || p[0] != '|')
			return end;
		/* An attribute map annotates the value that follows it; that
		 * value counts one level deeper so chained attributes stay
		 * within the depth limit too. */
		{
			size_t v = resp_reply_len_depth(p + end, len - end, depth + 1);
			return v ? end + v : 0;
		}
	default:
		return 0;
	}
}

size_t resp_reply_len(const char *p, size_t len)
{
	return resp_reply_len_depth(p, len, 0);
}

int resp_reply_int(const char *p, size_t len, long long *v)
{
	long long n;

	if (len < 4 || p[0] != ':' || !resp_reply_hdr(p, len, &n))
		return -1;
	*v = n;
	return 0;
}

int resp_reply_agg(const char *p, size_t len, long long *n, size_t *hdr_len)
{
	long long v;
	size_t end;

	if (len < 4)
		return 0;
	switch (p[0]) {
	case '*': case '%': case '~': case '>':
		break;
	default:
		return 0;
	}
	end = resp_reply_hdr(p, len, &v);
	if (!end || v < -1 || (v == -1 && p[0] != '*'))
		return 0;
	*n = v;
	*hdr_len = end;
	return (unsigned char)p[0];
}
