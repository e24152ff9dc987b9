/* rbuf: the growable byte buffer replies are written into.
 *
 * A connection's reply bytes and the RESP writers in resp.c sit on top of
 * this. Growth doubles the capacity so a reply built from many small pieces
 * costs amortised O(1) per byte; the writers call rbuf_reserve() once per
 * reply element and then write in place. Allocation failure aborts, the way
 * Redis's zmalloc does: a reply that cannot be stored cannot be sent. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"

/* First allocation: big enough for the common one-line reply plus a short
 * bulk, small enough not to matter per connection. */
#define RBUF_MIN_CAP 64

static void rbuf_oom(size_t want)
{
	fprintf(stderr, "rbuf: out of memory allocating %zu bytes\n", want);
	abort();
}

void rbuf_reserve(struct rbuf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return;
	if (extra > SIZE_MAX - b->len)
		rbuf_oom(SIZE_MAX);
	size_t want = b->len + extra;
	size_t cap = b->cap ? b->cap : RBUF_MIN_CAP;
	while (cap < want) {
		if (cap > SIZE_MAX / 2) {
			cap = want;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		rbuf_oom(cap);
	b->data = p;
	b->cap = cap;
}

void rbuf_append(struct rbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;   /* also keeps memcpy away from a NULL data pointer */
	rbuf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void rbuf_free(struct rbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void rbuf_consume(struct rbuf *b, size_t n)
{
	assert(n <= b->len);
	if (n == b->len) {
		b->len = 0;   /* nothing to move; data may still be NULL */
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
