/* repl/rdb_file.c — whole RDB files: a writer that streams to a sink while
 * keeping the CRC64, and a reader that takes the file in chunks of any size
 * and hands every key to a callback.
 *
 * File layout (version 10): "REDIS0010", aux fields (AUX name value),
 * optional FUNCTION2 libraries, then per database SELECTDB n and RESIZEDB
 * keys expires, then the keys ([EXPIRETIME_MS t] [IDLE s | FREQ f] type
 * key value), then EOF and the CRC64 of everything before it (0 when
 * rdbchecksum is off).
 *
 * The reader is a state machine over the decoding steps of rdb_int.h:
 * it parses straight out of the caller's chunk when it can and keeps only
 * the unfinished step's bytes between calls, so memory stays at one step
 * (at most one string) whatever the file size, and no byte is parsed
 * twice except a step cut by a chunk boundary. */
#include "repl/rdb_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"

/* ============================================================== writer */

int rdb_sink_fd(void *arg, const void *p, size_t n)
{
	int fd = *(const int *)arg;
	const char *s = p;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int rdb_sink_rbuf(void *arg, const void *p, size_t n)
{
	rbuf_append(arg, p, n);
	return 0;
}

void rdb_writer_init(struct rdb_writer *w, rdb_sink_fn *sink, void *arg,
		     const struct rdb_wopts *o, bool checksum)
{
	memset(w, 0, sizeof *w);
	w->sink = sink;
	w->arg = arg;
	if (o)
		w->o = *o;
	w->checksum = checksum;
}

void rdb_writer_destroy(struct rdb_writer *w)
{
	rbuf_free(&w->buf);
}

static int w_pass(struct rdb_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (n == 0)
		return 0;
	if (w->checksum)
		w->crc = rdb_crc64(w->crc, p, n);
	int rc = w->sink(w->arg, p, n);
	if (rc) {
		w->err = rc;
		return rc;
	}
	w->bytes += n;
	return 0;
}

static int w_flush(struct rdb_writer *w)
{
	int rc = w_pass(w, w->buf.data, w->buf.len);
	w->buf.len = 0;
	return rc;
}

static int w_maybe_flush(struct rdb_writer *w)
{
	if (w->err)
		return w->err;
	return w->buf.len >= RDB_WRITER_CHUNK ? w_flush(w) : 0;
}

static void w_aux(struct rdb_writer *w, const char *name, const char *val, size_t vlen)
{
	uint8_t op = RDB_OP_AUX;
	rbuf_append(&w->buf, &op, 1);
	rdb_enc_string(&w->buf, name, strlen(name), w->o.compress);
	rdb_enc_string(&w->buf, val, vlen, w->o.compress);
}

static void w_aux_ll(struct rdb_writer *w, const char *name, long long v)
{
	char buf[24];
	w_aux(w, name, buf, ks_ll2str(buf, v));
}

int rdb_writer_begin(struct rdb_writer *w, const struct rdb_aux *aux)
{
	struct rdb_aux none = { 0 };
	char magic[16];

	if (!aux)
		aux = &none;
	snprintf(magic, sizeof magic, "REDIS%04d", RDB_VERSION);
	rbuf_append(&w->buf, magic, 9);
	const char *ver = aux->redis_ver ? aux->redis_ver : KR_VERSION;
	w_aux(w, "redis-ver", ver, strlen(ver));
	w_aux_ll(w, "redis-bits", (long long)(sizeof(void *) * 8));
	w_aux_ll(w, "ctime", aux->ctime_s ? aux->ctime_s : (long long)time(NULL));
	w_aux_ll(w, "used-mem", aux->used_mem);
	if (aux->repl_id) {
		w_aux_ll(w, "repl-stream-db", aux->repl_stream_db);
		w_aux(w, "repl-id", aux->repl_id, strlen(aux->repl_id));
		w_aux_ll(w, "repl-offset", aux->repl_offset);
	}
	w_aux_ll(w, "aof-base", aux->aof_base ? 1 : 0);
	return w_maybe_flush(w);
}

int rdb_writer_repl_aux(struct rdb_writer *w, int stream_db, const char *id, long long off)
{
	if (w->err)
		return w->err;
	w_aux_ll(w, "repl-stream-db", stream_db);
	w_aux(w, "repl-id", id, strlen(id));
	w_aux_ll(w, "repl-offset", off);
	return w_maybe_flush(w);
}

int rdb_writer_selectdb(struct rdb_writer *w, int db, uint64_t nkeys, uint64_t nexpires)
{
	uint8_t op = RDB_OP_SELECTDB;
	rbuf_append(&w->buf, &op, 1);
	rdb_enc_len(&w->buf, (uint64_t)db);
	op = RDB_OP_RESIZEDB;
	rbuf_append(&w->buf, &op, 1);
	rdb_enc_len(&w->buf, nkeys);
	rdb_enc_len(&w->buf, nexpires);
	return w_maybe_flush(w);
}

int rdb_writer_key(struct rdb_writer *w, const struct ks_entry *e)
{
	if (w->err)
		return w->err;
	int rc = rdb_enc_key(&w->buf, e, &w->o);
	if (rc)
		return rc;
	return w_maybe_flush(w);
}

int rdb_writer_raw(struct rdb_writer *w, const void *p, size_t n)
{
	if (w->buf.len + n < RDB_WRITER_CHUNK) {
		rbuf_append(&w->buf, p, n);
		return w->err;
	}
	int rc = w_flush(w);
	return rc ? rc : w_pass(w, p, n);
}

int rdb_writer_end(struct rdb_writer *w)
{
	uint8_t op = RDB_OP_EOF, crc[8];
	rbuf_append(&w->buf, &op, 1);
	int rc = w_flush(w);
	if (rc)
		return rc;
	uint64_t v = w->checksum ? w->crc : 0;
	for (int i = 0; i < 8; i++)
		crc[i] = (uint8_t)(v >> (8 * i));
	rc = w->sink(w->arg, crc, 8);
	if (rc)
		return w->err = rc;
	w->bytes += 8;
	return 0;
}

/* ============================================================== reader */

enum rd_state { RS_MAGIC, RS_OP, RS_VALUE, RS_CRC, RS_DONE, RS_ERROR };

struct rdb_reader {
	struct rdb_limits lim;
	struct rdb_load_cbs cbs;
	struct rdb_load_opts opts;
	struct rdb_load_info info;
	enum rd_state st;
	int err;
	char errmsg[256];
	uint64_t crc;
	/* Unconsumed input carried between feeds. */
	uint8_t *buf;
	size_t len, cap;
	/* Where we are in the file. */
	int db;
	int64_t expire_ms;
	long long idle_s;
	int freq;
	char *key;
	size_t klen;
	struct rdb_vdec vd;
	bool vd_active;
};

struct rdb_reader *rdb_reader_new(const struct rdb_limits *lim, const struct rdb_load_cbs *cbs,
				  const struct rdb_load_opts *opts)
{
	struct rdb_reader *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	if (lim)
		r->lim = *lim;
	else
		rdb_limits_default(&r->lim);
	r->cbs = *cbs;
	if (opts)
		r->opts = *opts;
	r->st = RS_MAGIC;
	r->expire_ms = KS_NO_EXPIRE;
	r->idle_s = -1;
	r->freq = -1;
	return r;
}

void rdb_reader_free(struct rdb_reader *r)
{
	if (!r)
		return;
	if (r->vd_active)
		rdb_vdec_abort(&r->vd);
	free(r->key);
	free(r->buf);
	free(r);
}

const char *rdb_reader_error(const struct rdb_reader *r)
{
	return r->errmsg[0] ? r->errmsg : "no error";
}

const struct rdb_load_info *rdb_reader_info(const struct rdb_reader *r)
{
	return &r->info;
}

static int rd_fail(struct rdb_reader *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rd_fail(struct rdb_reader *r, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	if (err > 0)                    /* a callback's own code */
		err = -ECANCELED;
	r->st = RS_ERROR;
	r->err = err;
	return err;
}

static const char *errtxt(int rc)
{
	switch (rc) {
	case -EINVAL: return "corrupt";
	case -ENOTSUP: return "unsupported";
	case -ENOMEM: return "out of memory";
	default: return "failed";
	}
}

static void key_meta_reset(struct rdb_reader *r)
{
	r->expire_ms = KS_NO_EXPIRE;
	r->idle_s = -1;
	r->freq = -1;
}

/* One opcode record (or the type and key that start a value). Nothing
 * changes unless it returns 0; -EAGAIN means rewind and wait. */
static int rd_op(struct rdb_reader *r, struct rdb_cur *c)
{
	uint8_t op;
	const uint8_t *p;
	uint64_t a, b;
	struct rdb_sv s1, s2;
	int rc;

	if ((rc = rdb_rd_u8(c, &op)))
		return rc;
	switch (op) {
	case RDB_OP_EXPIRETIME_MS:
		if ((rc = rdb_rd_bytes(c, 8, &p)))
			return rc;
		a = 0;
		for (int i = 7; i >= 0; i--)
			a = a << 8 | p[i];
		r->expire_ms = (int64_t)a;
		return 0;
	case RDB_OP_EXPIRETIME:
		if ((rc = rdb_rd_bytes(c, 4, &p)))
			return rc;
		r->expire_ms = (int64_t)(int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
						 (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24) * 1000;
		return 0;
	case RDB_OP_FREQ:
		if ((rc = rdb_rd_bytes(c, 1, &p)))
			return rc;
		r->freq = p[0];
		return 0;
	case RDB_OP_IDLE:
		if ((rc = rdb_rd_len(c, &a, NULL)))
			return rc;
		r->idle_s = a > LLONG_MAX ? LLONG_MAX : (long long)a;
		return 0;
	case RDB_OP_SELECTDB:
		if ((rc = rdb_rd_len(c, &a, NULL)))
			return rc == -EINVAL ? rd_fail(r, rc, "bad SELECTDB length") : rc;
		if ((r->opts.ndb > 0 && a >= (uint64_t)r->opts.ndb) || a > INT32_MAX)
			return rd_fail(r, -EINVAL, "database %llu out of range (%d databases)",
				       (unsigned long long)a, r->opts.ndb);
		r->db = (int)a;
		return 0;
	case RDB_OP_RESIZEDB:
		if ((rc = rdb_rd_len(c, &a, NULL)) || (rc = rdb_rd_len(c, &b, NULL)))
			return rc == -EINVAL ? rd_fail(r, rc, "bad RESIZEDB lengths") : rc;
		if (r->cbs.resizedb && (rc = r->cbs.resizedb(r->cbs.arg, r->db, a, b)))
			return rd_fail(r, rc, "resizedb callback stopped the load");
		return 0;
	case RDB_OP_AUX:
		if ((rc = rdb_rd_string(c, &s1)))
			return rc == -EAGAIN ? rc : rd_fail(r, rc, "bad AUX field name");
		if ((rc = rdb_rd_string(c, &s2))) {
			rdb_sv_release(&s1);
			return rc == -EAGAIN ? rc : rd_fail(r, rc, "bad AUX field value");
		}
		rc = r->cbs.aux ? r->cbs.aux(r->cbs.arg, (const char *)s1.p, s1.len,
					      (const char *)s2.p, s2.len) : 0;
		rdb_sv_release(&s1);
		rdb_sv_release(&s2);
		return rc ? rd_fail(r, rc, "aux callback stopped the load") : 0;
	case RDB_OP_FUNCTION2:
		if ((rc = rdb_rd_string(c, &s1)))
			return rc == -EAGAIN ? rc : rd_fail(r, rc, "bad FUNCTION2 payload");
		if (r->cbs.function)
			rc = r->cbs.function(r->cbs.arg, (const char *)s1.p, s1.len);
		else
			r->info.functions_skipped++;
		rdb_sv_release(&s1);
		return rc ? rd_fail(r, rc, "function callback stopped the load") : 0;
	case RDB_OP_FUNCTION_PRE_GA:
		return rd_fail(r, -ENOTSUP, "pre-release FUNCTION opcode is not supported");
	case RDB_OP_MODULE_AUX:
		return rd_fail(r, -ENOTSUP, "module AUX data is not supported (no modules)");
	case RDB_OP_EOF:
		r->st = r->info.version >= 5 ? RS_CRC : RS_DONE;
		return 0;
	default:
		break;
	}
	/* A value: its type byte, then the key. */
	if ((rc = rdb_rd_string(c, &s1)))
		return rc == -EAGAIN ? rc : rd_fail(r, rc, "bad key name");
	rc = rdb_vdec_begin(&r->vd, op, &r->lim);
	if (rc) {
		rdb_sv_release(&s1);
		return rd_fail(r, rc, rc == -ENOTSUP ? "value type %d is not supported" :
			       "unknown value type %d", op);
	}
	free(r->key);
	r->key = (char *)(s1.heap ? s1.heap : NULL);
	if (!r->key) {
		r->key = malloc(s1.len + 1);
		if (!r->key)
			abort();
		memcpy(r->key, s1.p, s1.len);
		r->key[s1.len] = '\0';
	}
	s1.heap = NULL;
	r->klen = s1.len;
	r->vd.skip = r->cbs.want && !r->cbs.want(r->cbs.arg, r->db, r->key, r->klen);
	r->vd_active = true;
	r->st = RS_VALUE;
	return 0;
}

/* The value under way is complete (rc 1) or refused. */
static int rd_value_end(struct rdb_reader *r, int rc)
{
	r->vd_active = false;
	if (rc == 1 && r->vd.skip) {
		r->info.keys_filtered++;
	} else if (rc == 1) {
		struct rdb_key k = {
			.db = r->db, .key = r->key, .klen = r->klen, .expire_ms = r->expire_ms,
			.idle_s = r->idle_s, .freq = r->freq, .obj = r->vd.obj,
		};
		memset(&r->vd.obj, 0, sizeof r->vd.obj);
		r->info.keys++;
		rc = r->cbs.key(r->cbs.arg, &k);
		if (rc)
			return rd_fail(r, rc, "key callback stopped the load");
	} else if (rc == -ENODATA) {
		rdb_vdec_abort(&r->vd);         /* Redis skips empty keys too */
		r->info.empty_skipped++;
	} else {
		rdb_vdec_abort(&r->vd);
		return rd_fail(r, rc, "%s value (RDB type %d) for key '%.*s'", errtxt(rc),
			       r->vd.rtype, (int)(r->klen > 64 ? 64 : r->klen), r->key);
	}
	key_meta_reset(r);
	r->st = RS_OP;
	return 0;
}

/* Parse as far as c goes. 0: needs more input; 1: done; < 0 error. */
static int rd_run(struct rdb_reader *r, struct rdb_cur *c)
{
	for (;;) {
		const uint8_t *start = c->p, *p;
		int rc;

		switch (r->st) {
		case RS_MAGIC:
			if (rdb_rd_bytes(c, 9, &p))
				return 0;
			if (memcmp(p, "REDIS", 5) != 0)
				return rd_fail(r, -EINVAL, "wrong signature trying to load DB from file");
			int ver = 0;
			for (int i = 5; i < 9; i++) {
				if (p[i] < '0' || p[i] > '9')
					return rd_fail(r, -EINVAL, "bad RDB version field");
				ver = ver * 10 + (p[i] - '0');
			}
			if (ver < 1 || ver > RDB_VERSION)
				return rd_fail(r, -ENOTSUP, "can't handle RDB format version %d", ver);
			r->info.version = ver;
			r->st = RS_OP;
			break;
		case RS_OP:
			rc = rd_op(r, c);
			if (rc == -EAGAIN) {
				c->p = start;
				return 0;
			}
			if (rc == -EINVAL && r->st != RS_ERROR)
				return rd_fail(r, rc, "corrupt opcode record");
			if (rc)
				return rc;
			break;
		case RS_VALUE:
			rc = rdb_vdec_step(&r->vd, c);
			r->crc = rdb_crc64(r->crc, start, (size_t)(c->p - start));
			if (rc == -EAGAIN)
				return 0;
			if ((rc = rd_value_end(r, rc)))
				return rc;
			continue;           /* crc already counted */
		case RS_CRC: {
			if (rdb_rd_bytes(c, 8, &p))
				return 0;
			uint64_t want = 0;
			for (int i = 7; i >= 0; i--)
				want = want << 8 | p[i];
			r->st = RS_DONE;
			if (r->opts.check_crc && want != 0 && want != r->crc)
				return rd_fail(r, -EINVAL, "wrong RDB checksum %016llx (computed %016llx)",
					       (unsigned long long)want, (unsigned long long)r->crc);
			return 1;
		}
		case RS_DONE:
			return 1;
		case RS_ERROR:
			return r->err;
		}
		r->crc = rdb_crc64(r->crc, start, (size_t)(c->p - start));
	}
}

static void buf_append(struct rdb_reader *r, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb)
			abort();
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

int rdb_reader_feed(struct rdb_reader *r, const void *p, size_t n, size_t *used)
{
	struct rdb_cur c;
	int rc;

	if (used)
		*used = 0;
	if (r->st == RS_DONE)
		return 1;
	if (r->st == RS_ERROR)
		return r->err;
	if (r->len == 0) {
		/* Nothing carried over: parse in place, keep the rest. */
		c = (struct rdb_cur){ p, (const uint8_t *)p + n };
		rc = rd_run(r, &c);
		size_t took = (size_t)(c.p - (const uint8_t *)p);
		r->info.bytes += took;
		if (rc == 0)
			buf_append(r, c.p, n - took);
		if (used)
			*used = rc == 1 ? took : n;
		return rc;
	}
	size_t old = r->len;
	buf_append(r, p, n);
	c = (struct rdb_cur){ r->buf, r->buf + r->len };
	rc = rd_run(r, &c);
	size_t took = (size_t)(c.p - r->buf);
	r->info.bytes += took;
	if (used)
		*used = rc == 1 ? took - old : n;
	memmove(r->buf, c.p, r->len - took);
	r->len -= took;
	if (r->len == 0 && r->cap > (1u << 20)) {    /* a big step is over */
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
	return rc;
}

int rdb_reader_finish(struct rdb_reader *r)
{
	if (r->st == RS_DONE)
		return 0;
	if (r->st == RS_ERROR)
		return r->err;
	return rd_fail(r, -EINVAL, "unexpected end of file (%llu bytes read)",
		       (unsigned long long)(r->info.bytes + r->len));
}

int rdb_load_fd(int fd, const struct rdb_limits *lim, const struct rdb_load_cbs *cbs,
		const struct rdb_load_opts *opts, struct rdb_load_info *info,
		char *err, size_t errlen)
{
	enum { CHUNK = 256 * 1024 };
	struct rdb_reader *r = rdb_reader_new(lim, cbs, opts);
	uint8_t *chunk = malloc(CHUNK);
	int rc = 0;

	if (!chunk)
		abort();
	for (;;) {
		ssize_t got = read(fd, chunk, CHUNK);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = rd_fail(r, -errno, "read error: %s", strerror(errno));
			break;
		}
		if (got == 0) {
			rc = rdb_reader_finish(r);
			break;
		}
		rc = rdb_reader_feed(r, chunk, (size_t)got, NULL);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
	}
	if (err && errlen)
		snprintf(err, errlen, "%s", rc ? rdb_reader_error(r) : "");
	if (info)
		*info = r->info;
	free(chunk);
	rdb_reader_free(r);
	return rc;
}
