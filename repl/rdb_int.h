/* repl/rdb_int.h — internals shared by the RDB value codec (rdb.c) and the
 * file layer (rdb_file.c); not part of repl's face.
 *
 * Decoding is written as resumable steps over a cursor: a step reads one
 * bounded item (a length, a string, a field/value pair, a quicklist node)
 * and changes nothing until all of it is there, so when the input runs out
 * mid-item (-EAGAIN) the caller rewinds the cursor to the step's start and
 * feeds more later. The same steps decode a DUMP payload in one go (there,
 * -EAGAIN means truncated) and a file arriving in chunks. */
#ifndef KR_RDB_INT_H
#define KR_RDB_INT_H

#include "repl/rdb.h"

/* Bytes still to read: [p, end). */
struct rdb_cur {
	const uint8_t *p, *end;
};

/* A string read from the input: p[0..len) points into the input, into num
 * (int-encoded strings, as decimal text) or into heap (LZF, malloc'd and
 * owned until rdb_sv_release or taken by setting heap = NULL). */
struct rdb_sv {
	const uint8_t *p;
	size_t len;
	uint8_t *heap;
	char num[24];
};
void rdb_sv_release(struct rdb_sv *s);

/* Readers: 0, -EAGAIN (input ends inside the item; the cursor is then
 * somewhere inside it: rewind), -EINVAL (corrupt), -ENOMEM. */
int rdb_rd_u8(struct rdb_cur *c, uint8_t *v);
int rdb_rd_bytes(struct rdb_cur *c, size_t n, const uint8_t **p);
/* A length; *isenc set (and *len the encoding) for the 11xxxxxx forms. A
 * caller that passes isenc NULL gets -EINVAL for those. */
int rdb_rd_len(struct rdb_cur *c, uint64_t *len, bool *isenc);
int rdb_rd_string(struct rdb_cur *c, struct rdb_sv *s);
/* Step over a string without decoding it (LZF data is not expanded). */
int rdb_skip_string(struct rdb_cur *c);

/* A value being decoded step by step. */
struct rdb_vdec {
	int rtype;
	const struct rdb_limits *lim;
	bool have_count;
	uint64_t left;               /* elements / nodes still to read */
	uint64_t count;              /* as announced */
	struct rdb_obj obj;
	size_t maxlen;               /* longest set member so far */
	bool skip;                   /* step over the value, build nothing */
};
/* Start decoding a value of RDB type rtype: 0, or -ENOTSUP / -EINVAL for
 * a type byte we cannot load. */
int rdb_vdec_begin(struct rdb_vdec *d, int rtype, const struct rdb_limits *lim);
/* Consume as many whole steps as c holds: 1 when the value is complete
 * (d->obj then holds it, unless d->skip was set: take it), -EAGAIN when more input is needed (c
 * is left at the first unread step), or an error (-EINVAL, -ENODATA for
 * an empty collection, -ENOMEM). */
int rdb_vdec_step(struct rdb_vdec *d, struct rdb_cur *c);
/* Free whatever a decoder still holds (after an error, or to abandon). */
void rdb_vdec_abort(struct rdb_vdec *d);

#endif
