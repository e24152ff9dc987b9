/* repl/aof.c — the append-only file: Redis 7's multi-part layout fed by the
 * write stream.
 *
 * Layout (as Redis 7): appenddirname/ inside dir holds a manifest
 * (<appendfilename>.manifest) listing one base file (type b), the
 * incremental files (type i) in order and history files (type h) waiting
 * to be deleted:
 *     file appendonly.aof.1.base.rdb seq 1 type b
 *     file appendonly.aof.1.incr.aof seq 1 type i
 * The base is an RDB file (.base.rdb, aof-use-rdb-preamble yes, Redis 7's
 * default) or commands (.base.aof); the last incremental file is the one
 * the replication thread appends to.
 * The manifest is replaced atomically (temp file, fsync, rename, fsync of
 * the directory).
 *
 * Start-up (aof_start, main thread): create the layout, or upgrade a Redis
 * 6 single file, or validate every file of the manifest: RESP framing only
 * (commands are checked when they run); a file that starts with "REDIS"
 * has an RDB part first (an RDB base, or a Redis 6 preamble), checked by
 * the RDB reader (framing and CRC64) and fatal if damaged. A last file
 * that ends inside a command or inside MULTI is cut at the last whole
 * command before it when aof-load-truncated is yes, as Redis does;
 * anything else is an error that stops start-up. Shard 0 then replays the
 * files through the normal command path (aof_load_next) while clients get
 * -LOADING; an RDB part's keys are handed out as RESTORE commands.
 *
 * Writing (replication thread): each emitted unit is framed (SELECT,
 * MULTI/EXEC) into the buffer of the file its records belong to; once per
 * pass the buffers are written, and with appendfsync always fdatasync'ed
 * before the durable marks move (group commit). everysec hands an fsync to
 * a background thread once a second.
 *
 * BGREWRITEAOF: a new incremental file is opened and added to the manifest
 * at once, then every shard cuts at one global point (a transaction
 * holding every shard's lock, see shards/propagate.c): it serialises its
 * keyspace as RDB key records or commands (shard 0 picks the format for
 * all from aof-use-rdb-preamble and each payload starts with a format
 * byte) and marks the point in its ring. Records before the cut go to the
 * old files, records after it to the new one. A writer thread writes the
 * shards' serialisations as the new base (temp file, fsync, rename; an RDB
 * base gets its header, EOF opcode and CRC64 here); then the manifest
 * becomes base + new incremental file and
 * the old files are deleted. Until then the manifest lists old base, old
 * and new incremental files, which replay to the same data. */
#include "repl/wstream.h"
#include "repl/repl_int.h"
#include "repl/rdb.h"
#include "server/server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AOF_WRITE_CHUNK (1u << 20)
#define AOF_LOAD_CHUNK (1u << 20)
#define AOF_ARG_MAX (4ULL * 1024 * 1024 * 1024)   /* sanity bound on a $len */

struct aof_info {
	char *name;
	long long seq;
	char type;                 /* 'b' 'i' 'h' */
};

struct aof_manifest {
	bool has_base;
	struct aof_info base;
	struct aof_info *incr, *hist;
	size_t nincr, nhist;
	long long base_seq, incr_seq;  /* highest used */
};

struct aof_out {
	int fd;                    /* -1: none */
	char *name;
	struct ws_sink sink;
	bool written;              /* bytes written since its last fsync */
};

enum { RW_IDLE = 0, RW_CUTTING, RW_WRITING };

static struct {
	char *dirname, *filename;
	bool load_truncated;
	_Atomic bool configured;   /* appendonly (as the shards last told us) */
	_Atomic bool on;           /* records are written to files */
	struct aof_manifest m;
	struct aof_out cur, next;
	uint8_t cur_epoch;
	/* sizes and status, read by INFO on any thread */
	_Atomic long long base_size, total_size;
	_Atomic bool write_ok, rw_ok;
	_Atomic int rw_in_progress;
	_Atomic long long rewrites, rw_failures, last_rw_sec;
	_Atomic int64_t rw_start_ms;
	_Atomic bool rw_requested;
	_Atomic int enable_req;    /* 1 on, -1 off, 0 nothing */
	/* rewrite (replication thread) */
	int rw_phase;
	uint64_t rw_gen;
	unsigned rw_cuts;
	char **rw_buf;
	size_t *rw_len;
	pthread_t rw_thread;
	_Atomic int rw_done;       /* 0 running, 1 ok, -1 failed */
	char *rw_base_name;
	long long rw_base_seq;
	bool rw_enabling;          /* appendonly turned on: no old files */
	/* everysec */
	int64_t last_fsync_ms;
	pthread_t bio;
	bool bio_started;
	pthread_mutex_t bio_lock;
	pthread_cond_t bio_cond;
	int bio_fd;                /* job: fd to fsync and close, -1 none */
	bool bio_stop;
	_Atomic int bio_pending;
	/* loading (shard 0) */
	char **load_files;
	size_t nload, load_idx;
	int load_fd;
	char *lbuf;
	size_t lcap, llen, lpos;
	bool leof, lfirst;
	int64_t load_start_ms;
	/* an RDB part being loaded (the RDB base, a Redis 6 preamble) */
	struct rdb_reader *lrdb;   /* NULL: the file is read as commands */
	struct ks_space *lks;      /* scratch keyspace (load_rdb_key) */
	struct rbuf lout, lscratch;
	int ldb;                   /* db of the last RESTORE */
	int64_t lnow_ms;           /* keys expired before this are skipped */
	int ndb;                   /* databases (SELECTDB above fails) */
	bool rdb_checksum;         /* rdbchecksum: the base's CRC64 */
	bool use_preamble;         /* aof-use-rdb-preamble at start-up */
	bool rw_rdb;               /* the rewrite writes an RDB base */
	bool rw_snap;              /* ... by a forkless snapshot (shards/snap.c) */
	_Atomic int snap_done;     /* its end: 0 not yet, 1 ok, -1 failed */
} A = { .cur = { .fd = -1 }, .next = { .fd = -1 }, .load_fd = -1, .bio_fd = -1,
	.write_ok = true, .rw_ok = true };

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* dirname/name: heap string. */
static char *aof_path(const char *name)
{
	return xasprintf("%s/%s", A.dirname, name);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* ----------------------------------------------------------- manifest */

static void manifest_free(struct aof_manifest *m)
{
	if (m->has_base)
		free(m->base.name);
	for (size_t i = 0; i < m->nincr; i++)
		free(m->incr[i].name);
	for (size_t i = 0; i < m->nhist; i++)
		free(m->hist[i].name);
	free(m->incr);
	free(m->hist);
	memset(m, 0, sizeof(*m));
}

static void manifest_add(struct aof_info **v, size_t *n, const char *name, long long seq, char type)
{
	struct aof_info *nv = realloc(*v, sizeof(**v) * (*n + 1));
	if (!nv)
		abort();
	*v = nv;
	nv[*n] = (struct aof_info){ .name = xstrdup(name), .seq = seq, .type = type };
	(*n)++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Split a manifest line into words (double quotes allowed, as Redis's
 * sdssplitargs writes names with spaces). Returns the count, -1 if bad. */
static int split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		if (*p == '"') {
			char *o = ++p;
			w[n++] = o;
			while (*p && *p != '"') {
				/* Escapes as Redis's sdssplitargs reads them (Redis
				 * writes names with spaces or odd bytes via
				 * sdscatrepr): \n \r \t \b \a \xHH, else the next
				 * byte as is. Names with such bytes did not survive a
				 * save and reload (manifest_name below). */
				if (*p == '\\' && p[1]) {
					p++;
					int hi, lo;
					if (*p == 'x' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
						*o++ = (char)(hi * 16 + lo);
						p += 3;
						continue;
					}
					switch (*p) {
					case 'n': *o++ = '\n'; break;
					case 'r': *o++ = '\r'; break;
					case 't': *o++ = '\t'; break;
					case 'b': *o++ = '\b'; break;
					case 'a': *o++ = '\a'; break;
					default: *o++ = *p; break;
					}
					p++;
					continue;
				}
				*o++ = *p++;
			}
			if (*p != '"')
				return -1;
			p++;
			*o = 0;
			if (*p && !isspace((unsigned char)*p))
				return -1;
			if (*p)
				p++;
		} else {
			w[n++] = p;
			while (*p && !isspace((unsigned char)*p))
				p++;
			if (*p)
				*p++ = 0;
		}
	}
}

static bool name_ok(const char *s)
{
	return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Parse dirname/<filename>.manifest. 1 parsed, 0 absent, -1 bad (err set). */
static int manifest_load(struct aof_manifest *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	char *mname = xasprintf("%s.manifest", A.filename);
	char *path = aof_path(mname);
	free(mname);
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		free(path);
		if (e == ENOENT)
			return 0;
		snprintf(err, errlen, "Can't open the AOF manifest file: %s", strerror(e));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int rc = 1;
	long lineno = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (got > 0 && line[got - 1] == '\n')
			line[--got] = 0;
		if (got > 0 && line[got - 1] == '\r')
			line[--got] = 0;
		char *p = line;
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		char *w[16];
		int n = split_words(p, w, 16);
		const char *name = NULL, *seq = NULL, *type = NULL;
		if (n < 0 || n % 2) {
			rc = -1;
			break;
		}
		for (int i = 0; i < n; i += 2) {
			if (!strcmp(w[i], "file"))
				name = w[i + 1];
			else if (!strcmp(w[i], "seq"))
				seq = w[i + 1];
			else if (!strcmp(w[i], "type"))
				type = w[i + 1];
			/* other keys (later Redis versions add some): ignored */
		}
		char *end = NULL;
		long long sq = seq ? strtoll(seq, &end, 10) : 0;
		if (!name || !seq || !type || !*seq || *end || sq <= 0 || strlen(type) != 1 ||
		    !name_ok(name)) {
			rc = -1;
			break;
		}
		if (type[0] == 'b') {
			if (m->has_base) {
				rc = -1;
				break;
			}
			m->has_base = true;
			m->base = (struct aof_info){ .name = xstrdup(name), .seq = sq, .type = 'b' };
			if (sq > m->base_seq)
				m->base_seq = sq;
		} else if (type[0] == 'i') {
			if (m->nincr && m->incr[m->nincr - 1].seq >= sq) {
				rc = -1;   /* incremental files are listed in order */
				break;
			}
			manifest_add(&m->incr, &m->nincr, name, sq, 'i');
			if (sq > m->incr_seq)
				m->incr_seq = sq;
		} else if (type[0] == 'h') {
			manifest_add(&m->hist, &m->nhist, name, sq, 'h');
		} else {
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	free(path);
	if (rc < 0) {
		snprintf(err, errlen, "Invalid AOF manifest file format (line %ld)", lineno);
		manifest_free(m);
	}
	return rc;
}

/* A file name as Redis writes it: as is, or quoted and escaped (its
 * sdscatrepr) when it holds spaces, quotes, backslashes or unprintable
 * bytes. Written bare, such a name (appendfilename "my file.aof") split
 * into several words and the manifest no longer loaded (caught by the
 * save/reload check in fuzz/fuzz_aof.c). */
static void manifest_name(FILE *f, const char *s)
{
	bool plain = true;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (!isprint(*c) || isspace(*c) || *c == '"' || *c == '\\')
			plain = false;
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '\\': fputs("\\\\", f); break;
		case '"': fputs("\\\"", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\a': fputs("\\a", f); break;
		case '\b': fputs("\\b", f); break;
		default:
			if (isprint(*c))
				fputc(*c, f);
			else
				fprintf(f, "\\x%02x", *c);
			break;
		}
	}
	fputc('"', f);
}

static void manifest_line(FILE *f, const struct aof_info *i)
{
	fputs("file ", f);
	manifest_name(f, i->name);
	fprintf(f, " seq %lld type %c\n", i->seq, i->type);
}

/* Write m as the manifest, atomically. 0, or -1 (logged). */
static int manifest_save(const struct aof_manifest *m)
{
	char *mname = xasprintf("%s.manifest", A.filename);
	char *path = aof_path(mname);
	char *tmp = xasprintf("%s/temp-%s", A.dirname, mname);
	free(mname);
	int rc = -1;
	FILE *f = fopen(tmp, "w");
	if (!f) {
		srv_log(LL_WARNING, "Can't open the AOF manifest file %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (m->has_base)
		manifest_line(f, &m->base);
	for (size_t i = 0; i < m->nhist; i++)
		manifest_line(f, &m->hist[i]);
	for (size_t i = 0; i < m->nincr; i++)
		manifest_line(f, &m->incr[i]);
	if (fflush(f) != 0 || fdatasync(fileno(f)) != 0) {
		srv_log(LL_WARNING, "Can't write the AOF manifest file %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		srv_log(LL_WARNING, "Can't rename the AOF manifest file %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsync_dir(A.dirname);
	rc = 0;
out:
	free(tmp);
	free(path);
	return rc;
}

static void sizes_recompute(void)
{
	long long total = 0, base = 0;
	if (A.m.has_base) {
		char *p = aof_path(A.m.base.name);
		base = file_size(p);
		free(p);
		if (base < 0)
			base = 0;
	}
	total = base;
	for (size_t i = 0; i < A.m.nincr; i++) {
		char *p = aof_path(A.m.incr[i].name);
		long long sz = file_size(p);
		free(p);
		if (sz > 0)
			total += sz;
	}
	atomic_store(&A.base_size, base);
	atomic_store(&A.total_size, total);
}

/* ------------------------------------------------------- validation */

enum { SCAN_OK = 0, SCAN_TRUNC, SCAN_FMT, SCAN_IOERR, SCAN_RDB };

struct rd {
	int fd;
	char *buf;
	size_t cap, len, pos;
	long long off;             /* file offset of buf[0] */
	bool eof;
};

/* Make at least need bytes available from pos; false at EOF or error
 * (r->eof says which). */
static bool rd_need(struct rd *r, size_t need)
{
	while (r->len - r->pos < need) {
		if (r->eof)
			return false;
		if (r->pos) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->off += (long long)r->pos;
			r->len -= r->pos;
			r->pos = 0;
		}
		if (r->cap - r->len < 65536) {
			size_t ncap = r->cap ? r->cap * 2 : 1 << 16;
			while (ncap - r->len < need)
				ncap *= 2;
			char *nb = realloc(r->buf, ncap);
			if (!nb)
				abort();
			r->buf = nb;
			r->cap = ncap;
		}
		ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (n == 0)
			r->eof = true;
		r->len += (size_t)n;
	}
	return true;
}

/* Skip n bytes (streaming: never holds them all). */
static bool rd_skip(struct rd *r, unsigned long long n)
{
	while (n) {
		size_t have = r->len - r->pos;
		if (!have && !rd_need(r, 1))
			return false;
		have = r->len - r->pos;
		size_t k = have < n ? have : (size_t)n;
		r->pos += k;
		n -= k;
	}
	return true;
}

/* A "<c><digits>\r\n" line: returns 1 ok (*v), 0 EOF, -1 format. */
static int rd_header(struct rd *r, char c, unsigned long long *v)
{
	size_t i = 0;
	for (;;) {
		if (!rd_need(r, i + 1))
			return 0;
		if (r->buf[r->pos + i] == '\n')
			break;
		if (++i > 64)
			return -1;
	}
	const char *p = r->buf + r->pos;
	if (p[0] != c || i < 3 || p[i - 1] != '\r')
		return -1;
	unsigned long long x = 0;
	for (size_t k = 1; k < i - 1; k++) {
		if (p[k] < '0' || p[k] > '9' || x > AOF_ARG_MAX)
			return -1;
		x = x * 10 + (unsigned)(p[k] - '0');
	}
	r->pos += i + 1;
	*v = x;
	return 1;
}

/* Why the last scan_rdb failed (the file's name is added by the caller). */
static char scan_rdb_err[256];

static bool scan_want_none(void *arg, int db, const char *key, size_t klen)
{
	(void)arg;
	(void)db;
	(void)key;
	(void)klen;
	return false;
}

static int scan_key_none(void *arg, struct rdb_key *k)
{
	(void)arg;
	rdb_obj_free(&k->obj);
	return 0;
}

/* Check the RDB part at r's position: its framing, opcodes, db numbers
 * and CRC64 (values are stepped over, not built: the CRC covers them, and
 * the loader reports a bad value when it decodes it). Leaves r just after
 * the part. 0, or -1 with scan_rdb_err set. */
static int scan_rdb(struct rd *r)
{
	struct rdb_limits lim;
	rdb_limits_default(&lim);
	struct rdb_load_cbs cbs = { .key = scan_key_none, .want = scan_want_none };
	struct rdb_load_opts opts = { .ndb = A.ndb, .check_crc = true };
	struct rdb_reader *rr = rdb_reader_new(&lim, &cbs, &opts);
	int rc = -1;
	for (;;) {
		if (r->pos == r->len && !rd_need(r, 1)) {
			if (!r->eof)
				snprintf(scan_rdb_err, sizeof(scan_rdb_err), "%s", strerror(errno ? errno : EIO));
			else if (rdb_reader_finish(rr) != 0)
				snprintf(scan_rdb_err, sizeof(scan_rdb_err), "%s", rdb_reader_error(rr));
			else
				snprintf(scan_rdb_err, sizeof(scan_rdb_err), "unexpected end of file");
			break;
		}
		size_t used = 0;
		int frc = rdb_reader_feed(rr, r->buf + r->pos, r->len - r->pos, &used);
		r->pos += used;
		if (frc == 1) {
			rc = 0;
			break;
		}
		if (frc < 0) {
			snprintf(scan_rdb_err, sizeof(scan_rdb_err), "%s",
				 frc == -EINVAL ? rdb_reader_error(rr) : strerror(-frc));
			break;
		}
	}
	rdb_reader_free(rr);
	return rc;
}

/* Walk a whole AOF file (an RDB part first, if it starts with one). *valid:
 * the offset after the last command that is complete and not inside an
 * unfinished MULTI. */
static int aof_scan(const char *path, long long *valid, unsigned long long *ncmds)
{
	struct rd r = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	*valid = 0;
	*ncmds = 0;
	if (r.fd < 0)
		return SCAN_IOERR;
	int rc = SCAN_OK;
	bool in_multi = false;
	scan_rdb_err[0] = 0;
	if (rd_need(&r, 5) && memcmp(r.buf, "REDIS", 5) == 0) {
		/* An RDB part first (a .base.rdb, or a Redis 6 preamble): it must
		 * be whole; commands may follow it. */
		if (scan_rdb(&r) != 0) {
			rc = SCAN_RDB;
			goto out;
		}
		*valid = r.off + (long long)r.pos;
	}
	for (;;) {
		if (!rd_need(&r, 1)) {
			if (!r.eof)
				rc = SCAN_IOERR;
			else if (in_multi)
				rc = SCAN_TRUNC;   /* an unfinished MULTI at the end */
			break;
		}
		char c = r.buf[r.pos];
		if (c == '#') {            /* annotation line (Redis 7 writes some) */
			size_t i = 0;
			bool nl = false;
			while (rd_need(&r, i + 1)) {
				if (r.buf[r.pos + i++] == '\n') {
					nl = true;
					break;
				}
			}
			if (!nl) {
				rc = r.eof ? SCAN_TRUNC : SCAN_IOERR;
				break;
			}
			r.pos += i;
			if (!in_multi)
				*valid = r.off + (long long)r.pos;
			continue;
		}
		unsigned long long argc, len;
		int h = rd_header(&r, '*', &argc);
		if (h <= 0 || argc < 1) {
			rc = h == 0 ? (r.eof ? SCAN_TRUNC : SCAN_IOERR) : SCAN_FMT;
			break;
		}
		char name[8] = "";
		bool bad = false, eof = false;
		for (unsigned long long i = 0; i < argc && !bad && !eof; i++) {
			h = rd_header(&r, '$', &len);
			if (h <= 0) {
				bad = h < 0;
				eof = h == 0;
				break;
			}
			if (i == 0 && len < sizeof(name)) {
				if (!rd_need(&r, (size_t)len)) {
					eof = true;
					break;
				}
				memcpy(name, r.buf + r.pos, (size_t)len);
				name[len] = 0;
			}
			if (!rd_skip(&r, len) || !rd_need(&r, 2)) {
				eof = true;
				break;
			}
			if (r.buf[r.pos] != '\r' || r.buf[r.pos + 1] != '\n')
				bad = true;
			r.pos += 2;
		}
		if (bad) {
			rc = SCAN_FMT;
			break;
		}
		if (eof) {
			rc = r.eof ? SCAN_TRUNC : SCAN_IOERR;
			break;
		}
		(*ncmds)++;
		if (!strcasecmp(name, "multi"))
			in_multi = true;
		else if (!strcasecmp(name, "exec"))
			in_multi = false;
		if (!in_multi)
			*valid = r.off + (long long)r.pos;
	}
out:
	close(r.fd);
	free(r.buf);
	return rc;
}

/* Check one file of the manifest; cut a truncated last file when allowed.
 * 0 ok, -1 with err. */
static int aof_check_file(const char *name, bool last, char *err, size_t errlen)
{
	char *path = aof_path(name);
	long long valid;
	unsigned long long ncmds;
	int rc = -1;
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "The AOF file %s doesn't exist", name);
		goto out;
	}
	switch (aof_scan(path, &valid, &ncmds)) {
	case SCAN_OK:
		rc = 0;
		break;
	case SCAN_RDB:
		/* Fatal whatever aof-load-truncated says, as in Redis: only the
		 * commands after the RDB part may be cut. */
		snprintf(err, errlen, "Error reading the RDB %s %s, AOF loading aborted: %s",
			 A.m.has_base && !strcmp(name, A.m.base.name) ? "base file"
			 : "preamble of the AOF file", name, scan_rdb_err);
		break;
	case SCAN_IOERR:
		snprintf(err, errlen, "Unrecoverable error reading the append only file %s: %s", name,
			 strerror(errno ? errno : EIO));
		break;
	case SCAN_FMT:
		snprintf(err, errlen, "Bad file format reading the append only file %s: make a backup of "
			 "your AOF file, then use ./redis-check-aof --fix <filename.manifest>", name);
		break;
	case SCAN_TRUNC:
		if (!last) {
			snprintf(err, errlen, "Fatal error: the truncated file is not the last file (%s)", name);
			break;
		}
		if (!A.load_truncated) {
			snprintf(err, errlen, "Unexpected end of file reading the append only file %s. You "
				 "can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
				 "<filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' "
				 "configuration option to yes and restart the server.", name);
			break;
		}
		srv_log(LL_WARNING, "!!! Warning: short read while loading the AOF file %s!!!", name);
		srv_log(LL_WARNING, "!!! Truncating the AOF %s at offset %lld !!!", name, valid);
		if (truncate(path, valid) != 0) {
			snprintf(err, errlen, "Error truncating the AOF file %s: %s", name, strerror(errno));
			break;
		}
		srv_log(LL_WARNING, "AOF %s loaded anyway because aof-load-truncated is enabled", name);
		rc = 0;
		break;
	}
out:
	free(path);
	return rc;
}

/* -------------------------------------------------------- files */

static int aof_create_empty(const char *name)
{
	char *path = aof_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -1;
	int rc = fdatasync(fd);
	close(fd);
	return rc;
}

static int aof_open_append(struct aof_out *o, const char *name)
{
	char *path = aof_path(name);
	o->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	free(path);
	if (o->fd < 0)
		return -1;
	o->name = xstrdup(name);
	o->sink.db = -1;
	o->sink.buf.len = 0;
	o->written = false;
	return 0;
}

static void aof_out_close(struct aof_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->name);
	o->name = NULL;
	rbuf_free(&o->sink.buf);
	o->sink.db = -1;
}

/* A new incremental file (seq = highest + 1) appended to the manifest. */
static int aof_new_incr(struct aof_out *o)
{
	long long seq = A.m.incr_seq + 1;
	char *name = xasprintf("%s.%lld.incr.aof", A.filename, seq);
	int rc = aof_open_append(o, name);
	if (rc == 0) {
		A.m.incr_seq = seq;
		manifest_add(&A.m.incr, &A.m.nincr, name, seq, 'i');
		fsync_dir(A.dirname);
	}
	free(name);
	return rc;
}

static int aof_mkdir(void)
{
	if (mkdir(A.dirname, 0755) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(A.dirname, &st) != 0 || !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------- start-up */

int aof_start(const struct cfg *cfg, char *err, size_t errlen)
{
	A.dirname = xstrdup(cfg->appenddirname);
	A.filename = xstrdup(cfg->appendfilename);
	A.load_truncated = cfg->aof_load_truncated;
	A.ndb = cfg->databases;
	A.rdb_checksum = cfg->rdbchecksum;
	A.use_preamble = cfg->aof_use_rdb_preamble;
	wstream_set_fsync(cfg->appendfsync);
	ws_backlog_size((size_t)cfg->repl_backlog_size);
	pthread_mutex_init(&A.bio_lock, NULL);
	pthread_cond_init(&A.bio_cond, NULL);
	atomic_store(&A.configured, cfg->appendonly);

	int mrc = manifest_load(&A.m, err, errlen);
	if (mrc < 0)
		return -1;
	if (!cfg->appendonly) {
		ws_set_state(WS_OFF);
		return 0;
	}
	if (mrc == 0) {
		struct stat st;
		if (aof_mkdir() != 0) {
			snprintf(err, errlen, "Can't create the AOF directory %s: %s", A.dirname,
				 strerror(errno));
			return -1;
		}
		if (stat(A.filename, &st) == 0 && S_ISREG(st.st_mode)) {
			/* A Redis 6 AOF: it becomes the base of the new layout. */
			char *to = aof_path(A.filename);
			if (rename(A.filename, to) != 0) {
				snprintf(err, errlen, "Error moving the old AOF file %s into %s: %s",
					 A.filename, A.dirname, strerror(errno));
				free(to);
				return -1;
			}
			free(to);
			A.m.has_base = true;
			A.m.base = (struct aof_info){ .name = xstrdup(A.filename), .seq = 1, .type = 'b' };
			A.m.base_seq = 1;
			srv_log(LL_NOTICE, "Successfully migrated an old-style AOF into the AOF directory");
		} else {
			/* Empty, named for the format the next rewrite writes (as
			 * Redis 7; an empty file loads as an empty data set). */
			char *base = xasprintf("%s.1.base.%s", A.filename, A.use_preamble ? "rdb" : "aof");
			if (aof_create_empty(base) != 0) {
				snprintf(err, errlen, "Can't create the AOF base file %s: %s", base,
					 strerror(errno));
				free(base);
				return -1;
			}
			srv_log(LL_NOTICE, "Creating AOF base file %s on server start", base);
			A.m.has_base = true;
			A.m.base = (struct aof_info){ .name = base, .seq = 1, .type = 'b' };
			A.m.base_seq = 1;
		}
	}
	/* Validate what will be replayed. */
	size_t nfiles = (A.m.has_base ? 1 : 0) + A.m.nincr;
	A.load_files = calloc(nfiles ? nfiles : 1, sizeof(char *));
	if (!A.load_files)
		abort();
	long long bytes = 0;
	for (size_t i = 0; i < nfiles; i++) {
		const char *name = (A.m.has_base && i == 0) ? A.m.base.name
				   : A.m.incr[i - (A.m.has_base ? 1 : 0)].name;
		if (aof_check_file(name, i + 1 == nfiles, err, errlen) != 0)
			return -1;
		A.load_files[A.nload++] = xstrdup(name);
		char *p = aof_path(name);
		long long sz = file_size(p);
		free(p);
		bytes += sz > 0 ? sz : 0;
	}
	/* The file writes go to: the last incremental one, or a new one. */
	int orc;
	if (A.m.nincr) {
		orc = aof_open_append(&A.cur, A.m.incr[A.m.nincr - 1].name);
	} else {
		orc = aof_new_incr(&A.cur);
		if (orc == 0)
			srv_log(LL_NOTICE, "Creating AOF incr file %s on server start", A.cur.name);
	}
	if (orc != 0) {
		snprintf(err, errlen, "Can't open the append-only file: %s", strerror(errno));
		return -1;
	}
	if (manifest_save(&A.m) != 0) {
		snprintf(err, errlen, "Can't write the AOF manifest file: %s", strerror(errno));
		return -1;
	}
	sizes_recompute();
	atomic_store(&A.on, true);
	A.load_start_ms = ws_mono_ms();
	ws_set_state(bytes > 0 ? WS_LOADING : WS_ON);
	if (bytes == 0)
		aof_load_done(false, 0);   /* nothing to replay */
	return 0;
}

/* ----------------------------------------------------------- loading */

/* The length of the complete command at p[0..n), 0 if incomplete; *need
 * gets the bytes it needs when its header says so. Framing was checked
 * at start-up. */
static size_t cmd_len(const char *p, size_t n, size_t *need)
{
	size_t i = 0;
	*need = 0;
	unsigned long long argc = 0, len;
	const char *e = memchr(p, '\n', n);
	if (!e)
		return 0;
	for (const char *q = p + 1; *q >= '0' && *q <= '9'; q++)
		argc = argc * 10 + (unsigned)(*q - '0');
	i = (size_t)(e - p) + 1;
	for (unsigned long long a = 0; a < argc; a++) {
		e = i < n ? memchr(p + i, '\n', n - i) : NULL;
		if (!e)
			return 0;
		len = 0;
		for (const char *q = p + i + 1; *q >= '0' && *q <= '9'; q++)
			len = len * 10 + (unsigned)(*q - '0');
		i = (size_t)(e - p) + 1;
		if (i + len + 2 > n) {
			*need = i + (size_t)len + 2;
			return 0;
		}
		i += (size_t)len + 2;
	}
	return i;
}

/* Read more of the current file into lbuf, keeping lbuf[lpos..llen) and
 * room for at least need bytes. 0, or -1 on a read error (logged). */
static int load_fill(size_t need)
{
	if (A.lpos) {
		memmove(A.lbuf, A.lbuf + A.lpos, A.llen - A.lpos);
		A.llen -= A.lpos;
		A.lpos = 0;
	}
	size_t want = AOF_LOAD_CHUNK;
	if (need > want)
		want = need;
	if (A.lcap < A.llen + want) {
		A.lcap = A.llen + want + 65536;
		A.lbuf = realloc(A.lbuf, A.lcap);
		if (!A.lbuf)
			abort();
	}
	for (;;) {
		ssize_t n = read(A.load_fd, A.lbuf + A.llen, A.lcap - A.llen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			srv_log(LL_WARNING, "Unrecoverable error reading the append only file %s: %s",
				A.load_files[A.load_idx], strerror(errno));
			return -1;
		}
		if (n == 0)
			A.leof = true;
		A.llen += (size_t)n;
		return 0;
	}
}

/* Append one command (RESP multibulk) to b. */
static void resp_cmd(struct rbuf *b, int argc, const char *const *argv, const size_t *lens)
{
	char hdr[32];
	rbuf_append(b, hdr, (size_t)snprintf(hdr, sizeof(hdr), "*%d\r\n", argc));
	for (int i = 0; i < argc; i++) {
		rbuf_append(b, hdr, (size_t)snprintf(hdr, sizeof(hdr), "$%zu\r\n", lens[i]));
		rbuf_append(b, argv[i], lens[i]);
		rbuf_append(b, "\r\n", 2);
	}
}

static void resp_select(struct rbuf *b, int db)
{
	char num[24];
	const char *v[2] = { "SELECT", num };
	size_t l[2] = { 6, (size_t)snprintf(num, sizeof(num), "%d", db) };
	resp_cmd(b, 2, v, l);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key of an RDB part becomes RESTORE key <abs-ms|0> <payload> ABSTTL
 * REPLACE, run through the same command path as the rest of the AOF (it
 * routes the key to its shard and converts the encoding per the config).
 * The value is stored in a scratch keyspace only to be DUMPed again: the
 * reader hands out decoded objects, and the payload is what RESTORE
 * takes. Keys already expired are skipped, as Redis does on load. */
static int load_rdb_key(void *arg, struct rdb_key *k)
{
	(void)arg;
	if (k->expire_ms != KS_NO_EXPIRE && k->expire_ms <= A.lnow_ms) {
		rdb_obj_free(&k->obj);
		return 0;
	}
	if (k->db != A.ldb) {
		resp_select(&A.lout, k->db);
		A.ldb = k->db;
	}
	struct ks_db *db = &A.lks->db[0];
	struct ks_entry *e = rdb_obj_store(db, k->key, k->klen, &k->obj);
	A.lscratch.len = 0;
	int rc = rdb_dump_payload(&A.lscratch, e, false);
	ks_delete(db, e);
	if (rc != 0)
		return rc;
	char ttl[24];
	const char *v[6] = { "RESTORE", k->key, ttl, A.lscratch.data, "ABSTTL", "REPLACE" };
	size_t l[6] = { 7, k->klen, 0, A.lscratch.len, 6, 7 };
	l[2] = (size_t)snprintf(ttl, sizeof(ttl), "%lld",
				k->expire_ms == KS_NO_EXPIRE ? 0LL : (long long)k->expire_ms);
	resp_cmd(&A.lout, 6, v, l);
	return 0;
}

static void load_rdb_end(void)
{
	if (A.lrdb)
		rdb_reader_free(A.lrdb);
	A.lrdb = NULL;
	if (A.lks)
		ks_space_free(A.lks);
	A.lks = NULL;
	rbuf_free(&A.lscratch);
}

static void load_rdb_begin(void)
{
	struct rdb_limits lim;
	rdb_limits_default(&lim);
	struct rdb_load_cbs cbs = { .key = load_rdb_key };
	struct rdb_load_opts opts = { .ndb = A.ndb, .check_crc = true };
	A.lrdb = rdb_reader_new(&lim, &cbs, &opts);
	A.lks = ks_space_new(1);
	if (!A.lks)
		abort();
	A.ldb = 0;
	A.lnow_ms = wall_ms();
}

/* The RDB part of the current file as commands into lout (at most about
 * AOF_LOAD_CHUNK per call). 0, or -1 (logged). When the part ends, the
 * reader is freed and the commands after it run in db 0 again. */
static int load_rdb_step(void)
{
	const char *fname = A.load_files[A.load_idx];
	while (A.lrdb && A.lout.len < AOF_LOAD_CHUNK) {
		if (A.lpos == A.llen) {
			if (A.leof) {
				int rc = rdb_reader_finish(A.lrdb);
				srv_log(LL_WARNING, "Error reading the RDB part of the AOF file %s, AOF "
					"loading aborted: %s", fname,
					rc ? rdb_reader_error(A.lrdb) : "unexpected end of file");
				return -1;
			}
			A.llen = A.lpos = 0;
			if (load_fill(0) != 0)
				return -1;
			continue;
		}
		size_t used = 0;
		int rc = rdb_reader_feed(A.lrdb, A.lbuf + A.lpos, A.llen - A.lpos, &used);
		A.lpos += used;
		if (rc < 0) {
			srv_log(LL_WARNING, "Error reading the RDB part of the AOF file %s, AOF loading "
				"aborted: %s", fname, rc == -EINVAL ? rdb_reader_error(A.lrdb) : strerror(-rc));
			return -1;
		}
		if (rc == 1) {
			srv_log(LL_NOTICE, "Done loading RDB part of the AOF file %s: %llu keys", fname,
				(unsigned long long)rdb_reader_info(A.lrdb)->keys);
			load_rdb_end();
			if (A.ldb != 0)
				resp_select(&A.lout, 0);
		}
	}
	return 0;
}

int aof_load_next(const char **p, size_t *len, bool *file_start, const char **fname)
{
	A.lout.len = 0;   /* the previous run handed out is done with */
	for (;;) {
		if (A.load_fd < 0) {
			if (A.load_idx >= A.nload)
				return 0;
			char *path = aof_path(A.load_files[A.load_idx]);
			A.load_fd = open(path, O_RDONLY | O_CLOEXEC);
			free(path);
			if (A.load_fd < 0) {
				srv_log(LL_WARNING, "Can't open the append-only file %s: %s",
					A.load_files[A.load_idx], strerror(errno));
				return -1;
			}
			srv_log(LL_NOTICE, A.load_idx == 0 && A.m.has_base
				? "Reading the base file %s on AOF loading..."
				: "Reading the AOF file %s...", A.load_files[A.load_idx]);
			A.llen = A.lpos = 0;
			A.leof = false;
			A.lfirst = true;
			/* A file may start with an RDB part (a .base.rdb, or the
			 * preamble of a Redis 6 AOF): sniff its magic. */
			while (A.llen < 5 && !A.leof)
				if (load_fill(0) != 0)
					return -1;
			if (A.llen >= 5 && memcmp(A.lbuf, "REDIS", 5) == 0) {
				srv_log(LL_NOTICE, "Reading RDB part of the AOF file %s", A.load_files[A.load_idx]);
				load_rdb_begin();
			}
		}
		if (A.lrdb) {
			if (load_rdb_step() != 0)
				return -1;
			if (A.lout.len) {
				*p = A.lout.data;
				*len = A.lout.len;
				*file_start = A.lfirst;
				*fname = A.load_files[A.load_idx];
				A.lfirst = false;
				return 1;
			}
			continue;
		}
		/* Hand out the run of whole commands at lpos. */
		size_t i = A.lpos, need = 0;
		while (i < A.llen) {
			if (A.lbuf[i] == '#') {
				const char *e = memchr(A.lbuf + i, '\n', A.llen - i);
				if (!e || i > A.lpos)
					break;   /* an annotation: skipped, alone */
				i = (size_t)(e - A.lbuf) + 1;
				A.lpos = i;
				continue;
			}
			size_t n = cmd_len(A.lbuf + i, A.llen - i, &need);
			if (!n)
				break;
			i += n;
			if (i - A.lpos >= AOF_LOAD_CHUNK)
				break;
		}
		if (i > A.lpos) {
			*p = A.lbuf + A.lpos;
			*len = i - A.lpos;
			*file_start = A.lfirst;
			*fname = A.load_files[A.load_idx];
			A.lfirst = false;
			A.lpos = i;
			return 1;
		}
		if (A.leof) {
			close(A.load_fd);
			A.load_fd = -1;
			A.load_idx++;
			continue;
		}
		/* Read more: keep the partial command, make room for it. */
		if (load_fill(need) != 0)
			return -1;
	}
}

void aof_load_done(bool ok, unsigned long long ncmds)
{
	if (A.load_fd >= 0)
		close(A.load_fd);
	A.load_fd = -1;
	free(A.lbuf);
	A.lbuf = NULL;
	A.lcap = A.llen = A.lpos = 0;
	load_rdb_end();
	rbuf_free(&A.lout);
	for (size_t i = 0; i < A.nload; i++)
		free(A.load_files[i]);
	A.nload = A.load_idx = 0;
	if (!ok)
		return;
	srv_log(LL_NOTICE, "DB loaded from append only file: %.3f seconds (%llu commands)",
		(double)(ws_mono_ms() - A.load_start_ms) / 1000.0, ncmds);
	ws_set_state(WS_ON);
	ws_kick();
}

/* ----------------------------------------------------- thread: writes */

bool aof_on(void)
{
	return atomic_load_explicit(&A.on, memory_order_relaxed);
}

void aof_emit(struct wrec *const *recs, unsigned n)
{
	if (A.next.fd < 0 && !A.rw_enabling) {
		ws_sink_put(&A.cur.sink, recs, n);
		return;
	}
	/* A cut is under way: records after their shard's cut go to the new
	 * file (a cut is one global point, so a unit is never split; the
	 * split below is by record all the same). */
	struct wrec *stack[64], **v = stack;
	if (n > 64) {
		v = malloc(sizeof(*v) * n);
		if (!v)
			abort();
	}
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (recs[i]->epoch == A.cur_epoch)
			v[k++] = recs[i];
	if (k && A.cur.fd >= 0)
		ws_sink_put(&A.cur.sink, v, k);
	k = 0;
	for (unsigned i = 0; i < n; i++)
		if (recs[i]->epoch != A.cur_epoch)
			v[k++] = recs[i];
	if (k && A.next.fd >= 0)
		ws_sink_put(&A.next.sink, v, k);
	if (v != stack)
		free(v);
}

static int out_write(struct aof_out *o)
{
	size_t off = 0;
	while (off < o->sink.buf.len) {
		ssize_t n = write(o->fd, o->sink.buf.data + off, o->sink.buf.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (atomic_load(&A.write_ok))
				srv_log(LL_WARNING, "Error writing to the AOF file %s: %s", o->name,
					strerror(errno));
			atomic_store(&A.write_ok, false);
			/* Keep what was not written; retried next pass. */
			rbuf_consume(&o->sink.buf, off);
			return -1;
		}
		off += (size_t)n;
		atomic_fetch_add(&A.total_size, n);
	}
	o->sink.buf.len = 0;
	if (o->sink.buf.cap > 4 * AOF_WRITE_CHUNK)
		rbuf_free(&o->sink.buf);
	o->written = true;
	return 0;
}

int aof_flush(void)
{
	struct aof_out *outs[2] = { &A.cur, &A.next };
	bool always = wstream_sync_always();
	int rc = 0;
	for (int i = 0; i < 2; i++) {
		struct aof_out *o = outs[i];
		if (o->fd < 0 || !o->sink.buf.len)
			continue;
		if (out_write(o) != 0) {
			rc = -1;
			continue;
		}
		if (always) {
			if (fdatasync(o->fd) != 0) {
				if (atomic_load(&A.write_ok))
					srv_log(LL_WARNING, "Can't fsync the AOF file %s: %s", o->name,
						strerror(errno));
				atomic_store(&A.write_ok, false);
				rc = -1;
				continue;
			}
			o->written = false;
		}
	}
	if (rc == 0 && !atomic_load(&A.write_ok)) {
		srv_log(LL_WARNING, "AOF write error looks solved, Redis can write again.");
		atomic_store(&A.write_ok, true);
	}
	return rc;
}

/* ---------------------------------------------------- everysec fsync */

static void *bio_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-aof-fsync");
	pthread_mutex_lock(&A.bio_lock);
	for (;;) {
		while (A.bio_fd < 0 && !A.bio_stop)
			pthread_cond_wait(&A.bio_cond, &A.bio_lock);
		if (A.bio_fd < 0 && A.bio_stop)
			break;
		int fd = A.bio_fd;
		A.bio_fd = -1;
		pthread_mutex_unlock(&A.bio_lock);
		fdatasync(fd);
		close(fd);
		atomic_fetch_sub(&A.bio_pending, 1);
		pthread_mutex_lock(&A.bio_lock);
	}
	pthread_mutex_unlock(&A.bio_lock);
	return NULL;
}

static void bio_fsync(struct aof_out *o)
{
	if (o->fd < 0 || !o->written)
		return;
	if (!A.bio_started) {
		if (pthread_create(&A.bio, NULL, bio_main, NULL) != 0) {
			fdatasync(o->fd);
			o->written = false;
			return;
		}
		A.bio_started = true;
	}
	pthread_mutex_lock(&A.bio_lock);
	if (A.bio_fd < 0) {
		int fd = dup(o->fd);
		if (fd >= 0) {
			A.bio_fd = fd;
			atomic_fetch_add(&A.bio_pending, 1);
			o->written = false;
			pthread_cond_signal(&A.bio_cond);
		}
	}
	pthread_mutex_unlock(&A.bio_lock);
}

/* ----------------------------------------------------------- rewrite */

int aof_rewrite_request(char *err, size_t errlen)
{
	bool expected = false;
	if (!atomic_compare_exchange_strong(&A.rw_requested, &expected, true) ||
	    atomic_load(&A.rw_in_progress)) {
		if (!expected)
			atomic_store(&A.rw_requested, false);
		snprintf(err, errlen, "ERR Background append only file rewriting already in progress");
		return -1;
	}
	ws_kick();
	return 0;
}

void aof_on_cut(unsigned shard, uint64_t gen, char *payload, size_t len)
{
	if (A.rw_phase != RW_CUTTING || gen != A.rw_gen || shard >= ws_nshards() ||
	    A.rw_buf[shard]) {
		free(payload);
		return;
	}
	A.rw_buf[shard] = payload ? payload : xstrdup("");
	A.rw_len[shard] = payload ? len : 0;   /* 0: refused by rw_pick_format */
	A.rw_cuts++;
}

/* Write all of p[0..n) to fd. 0 or -1 (errno). */
static int write_all(int fd, const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t k = write(fd, p + off, n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* The shards' serialisations (each after its format byte, see
 * propagate.c's cut_here) into fd: as they are (commands), or between an
 * RDB header with the aof-base aux field and the EOF opcode and CRC64
 * (key records, each shard's payload starting with its own SELECTDB). */
static int rw_write_base(int fd)
{
	if (!A.rw_rdb) {
		for (unsigned s = 0; s < ws_nshards(); s++) {
			if (write_all(fd, A.rw_buf[s] + 1, A.rw_len[s] - 1) != 0)
				return -1;
			free(A.rw_buf[s]);
			A.rw_buf[s] = NULL;
		}
		return 0;
	}
	struct rdb_writer w;
	struct rdb_wopts wo = { .compress = false, .set_listpack = false };
	struct rdb_aux aux = { .aof_base = true };
	int rc;
	rdb_writer_init(&w, rdb_sink_fd, &fd, &wo, A.rdb_checksum);
	rc = rdb_writer_begin(&w, &aux);
	for (unsigned s = 0; rc == 0 && s < ws_nshards(); s++) {
		rc = rdb_writer_raw(&w, A.rw_buf[s] + 1, A.rw_len[s] - 1);
		free(A.rw_buf[s]);
		A.rw_buf[s] = NULL;
	}
	if (rc == 0)
		rc = rdb_writer_end(&w);
	rdb_writer_destroy(&w);
	if (rc != 0)
		errno = -rc;
	return rc == 0 ? 0 : -1;
}

static void *rw_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-aof-rewrite");
	char *tmp = xasprintf("%s/temp-rewriteaof-bg-%ld.aof", A.dirname, (long)getpid());
	char *dst = aof_path(A.rw_base_name);
	int ok = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		srv_log(LL_WARNING, "Opening the temp file for AOF rewrite failed: %s", strerror(errno));
		goto out;
	}
	if (rw_write_base(fd) != 0) {
		srv_log(LL_WARNING, "Write error writing append only file on disk: %s", strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (fdatasync(fd) != 0 || close(fd) != 0) {
		srv_log(LL_WARNING, "Error fsyncing the temp AOF base file: %s", strerror(errno));
		unlink(tmp);
		goto out;
	}
	srv_log(LL_NOTICE, "Successfully created the temporary AOF base file %s", tmp);
	if (rename(tmp, dst) != 0) {
		srv_log(LL_WARNING, "Error trying to rename the temporary AOF base file %s into %s: %s",
			tmp, dst, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsync_dir(A.dirname);
	srv_log(LL_NOTICE, "Successfully renamed the temporary AOF base file %s into %s", tmp,
		A.rw_base_name);
	ok = 1;
out:
	free(tmp);
	free(dst);
	atomic_store(&A.rw_done, ok);
	ws_kick();
	return NULL;
}

/* ------------------------------------------ a base from a snapshot */

/* With aof-use-rdb-preamble yes the base is written by a forkless
 * snapshot (shards/snap.c: keys saved in slices while the shards serve,
 * copy-on-write before a write) into this temp file; its cut puts an "S"
 * cut record in every shard's stream, so the old and new incremental
 * files split exactly there. The snapshot's writer reports the end;
 * the rename and the manifest follow here, as for rw_main's file. */
void aof_rewrite_temp_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/temp-rewriteaof-bg-%ld.rdb", A.dirname, (long)getpid());
}

void aof_base_snapshot_done(uint64_t gen, bool ok)
{
	(void)gen;
	atomic_store(&A.snap_done, ok ? 1 : -1);
	ws_kick();
}

static void rw_snap_step(void)
{
	int sd = atomic_load(&A.snap_done);
	if (!sd)
		return;
	char tmp[4096];
	aof_rewrite_temp_path(tmp, sizeof(tmp));
	char *dst = aof_path(A.rw_base_name);
	int ok = -1;
	if (sd < 0) {
		srv_log(LL_WARNING, "AOF rewrite: the base snapshot failed");
	} else if (rename(tmp, dst) != 0) {
		srv_log(LL_WARNING, "Error trying to rename the temporary AOF base file %s into %s: %s",
			tmp, dst, strerror(errno));
		unlink(tmp);
	} else {
		fsync_dir(A.dirname);
		srv_log(LL_NOTICE, "Successfully renamed the temporary AOF base file %s into %s", tmp,
			A.rw_base_name);
		ok = 1;
	}
	free(dst);
	atomic_store(&A.rw_done, ok);
}

/* Every shard has cut: the payloads' format bytes (all the same: shard 0
 * picked the format for all, see propagate.c's cut_locked) name the base
 * file. 0, or -1 if a payload is malformed (the rewrite fails). */
static int rw_pick_format(void)
{
	int fmt = 0;
	for (unsigned s = 0; s < ws_nshards(); s++) {
		if (A.rw_len[s] < 1 ||
		    (A.rw_buf[s][0] != 'R' && A.rw_buf[s][0] != 'A' && A.rw_buf[s][0] != 'S') ||
		    (fmt && fmt != A.rw_buf[s][0])) {
			srv_log(LL_WARNING, "AOF rewrite: shard %u sent a malformed serialisation", s);
			return -1;
		}
		fmt = A.rw_buf[s][0];
	}
	A.rw_rdb = fmt == 'R' || fmt == 'S';
	A.rw_snap = fmt == 'S';
	free(A.rw_base_name);
	A.rw_base_name = xasprintf("%s.%lld.base.%s", A.filename, A.rw_base_seq,
				   A.rw_rdb ? "rdb" : "aof");
	return 0;
}

static void rw_free_bufs(void)
{
	for (unsigned s = 0; A.rw_buf && s < ws_nshards(); s++)
		free(A.rw_buf[s]);
	free(A.rw_buf);
	free(A.rw_len);
	A.rw_buf = NULL;
	A.rw_len = NULL;
}

static void rw_start(void)
{
	atomic_store(&A.rw_in_progress, 1);
	atomic_store(&A.rw_start_ms, ws_mono_ms());
	atomic_store(&A.rw_requested, false);
	if (aof_mkdir() != 0) {
		srv_log(LL_WARNING, "Can't create the AOF directory %s: %s", A.dirname, strerror(errno));
		goto fail;
	}
	if (aof_on() && !A.rw_enabling) {
		if (aof_new_incr(&A.next) != 0 || manifest_save(&A.m) != 0) {
			srv_log(LL_WARNING, "Can't open a new AOF incr file for the rewrite: %s",
				strerror(errno));
			goto fail;
		}
		srv_log(LL_NOTICE, "Creating AOF incr file %s on background rewrite", A.next.name);
	}
	A.rw_base_seq = A.m.base_seq + 1;
	/* The base's name (.rdb or .aof) is known once the shards have cut. */
	free(A.rw_base_name);
	A.rw_base_name = NULL;
	A.rw_buf = calloc(ws_nshards(), sizeof(char *));
	A.rw_len = calloc(ws_nshards(), sizeof(size_t));
	if (!A.rw_buf || !A.rw_len)
		abort();
	A.rw_cuts = 0;
	A.rw_snap = false;
	atomic_store(&A.snap_done, 0);
	A.rw_phase = RW_CUTTING;
	A.rw_gen = ws_cut_request();
	srv_log(LL_NOTICE, "Background append only file rewriting started");
	return;
fail:
	atomic_store(&A.rw_in_progress, 0);
	atomic_store(&A.rw_ok, false);
	atomic_fetch_add(&A.rw_failures, 1);
}

static void rw_remove(const char *name)
{
	char *p = aof_path(name);
	srv_log(LL_NOTICE, "Removing the history file %s", name);
	unlink(p);
	free(p);
}

/* The base is written and no record of the old epoch is left to emit. */
static void rw_finish(bool ok)
{
	struct aof_manifest old = A.m;
	if (ok) {
		memset(&A.m, 0, sizeof(A.m));
		A.m.base_seq = old.base_seq > A.rw_base_seq ? old.base_seq : A.rw_base_seq;
		A.m.incr_seq = old.incr_seq;
		A.m.has_base = true;
		A.m.base = (struct aof_info){ .name = A.rw_base_name, .seq = A.rw_base_seq, .type = 'b' };
		A.rw_base_name = NULL;
		if (A.next.fd >= 0)
			manifest_add(&A.m.incr, &A.m.nincr, A.next.name, A.m.incr_seq, 'i');
		if (manifest_save(&A.m) != 0) {
			/* The old manifest stands (old files, then the new incr). */
			manifest_free(&A.m);
			A.m = old;
			ok = false;
		} else {
			if (old.has_base)
				rw_remove(old.base.name);
			for (size_t i = 0; i < old.nincr; i++)
				if (!A.next.name || strcmp(old.incr[i].name, A.next.name) != 0)
					rw_remove(old.incr[i].name);
			for (size_t i = 0; i < old.nhist; i++)
				rw_remove(old.hist[i].name);
			manifest_free(&old);
		}
	}
	if (!ok) {
		if (A.rw_base_name) {
			char *p = aof_path(A.rw_base_name);
			unlink(p);
			free(p);
		}
		free(A.rw_base_name);
		A.rw_base_name = NULL;
	}
	/* The new incremental file (if any) is the one appended to now. */
	if (A.next.fd >= 0) {
		if (A.cur.fd >= 0 && A.cur.written)
			fdatasync(A.cur.fd);
		aof_out_close(&A.cur);
		A.cur = A.next;
		memset(&A.next, 0, sizeof(A.next));
		A.next.fd = -1;
	}
	if (A.rw_enabling) {
		A.rw_enabling = false;
		if (!ok) {
			/* appendonly could not be turned on: stay off. */
			atomic_store(&A.on, false);
			ws_set_state(WS_OFF);
			aof_out_close(&A.cur);
		}
	}
	A.cur_epoch++;
	rw_free_bufs();
	A.rw_phase = RW_IDLE;
	long long secs = (ws_mono_ms() - atomic_load(&A.rw_start_ms)) / 1000;
	atomic_store(&A.last_rw_sec, secs);
	atomic_store(&A.rw_ok, ok);
	if (ok) {
		atomic_fetch_add(&A.rewrites, 1);
		atomic_store(&A.rw_failures, 0);
		srv_log(LL_NOTICE, "Background AOF rewrite finished successfully");
	} else {
		atomic_fetch_add(&A.rw_failures, 1);
		srv_log(LL_WARNING, "Background AOF rewrite failed");
	}
	sizes_recompute();
	atomic_store(&A.rw_in_progress, 0);
}

/* appendonly changed at run time (the shards' CONFIG SET). */
static void aof_switch(bool on)
{
	if (on == aof_on() || A.rw_phase != RW_IDLE)
		return;
	if (!on) {
		ws_set_state(WS_OFF);
		atomic_store(&A.on, false);
		aof_flush();
		if (A.cur.fd >= 0 && A.cur.written)
			fdatasync(A.cur.fd);
		aof_out_close(&A.cur);
		srv_log(LL_NOTICE, "AOF turned off (appendonly no): the files are closed");
		return;
	}
	/* On: a new incremental file receives the records after the cut, the
	 * cut's serialisation becomes the base; nothing is listed in the
	 * manifest before the base exists. */
	if (aof_mkdir() != 0) {
		srv_log(LL_WARNING, "Can't create the AOF directory %s: %s", A.dirname, strerror(errno));
		return;
	}
	long long seq = A.m.incr_seq + 1;
	char *name = xasprintf("%s.%lld.incr.aof", A.filename, seq);
	char *path = aof_path(name);
	unlink(path);   /* a leftover of a failed attempt */
	free(path);
	if (aof_open_append(&A.next, name) != 0) {
		srv_log(LL_WARNING, "Can't open the append-only file %s: %s", name, strerror(errno));
		free(name);
		return;
	}
	free(name);
	A.m.incr_seq = seq;
	A.rw_enabling = true;
	atomic_store(&A.on, true);
	ws_set_state(WS_ON);
	rw_start();
}

int aof_tick(int64_t now_ms)
{
	int wait = 1000;
	int want = atomic_exchange(&A.enable_req, 0);
	if (want)
		aof_switch(want > 0);
	if (A.rw_phase == RW_IDLE && atomic_load(&A.rw_requested) && !wstream_loading())
		rw_start();
	if (A.rw_phase == RW_CUTTING && A.rw_cuts == ws_nshards()) {
		A.rw_phase = RW_WRITING;
		atomic_store(&A.rw_done, 0);
		if (rw_pick_format() != 0) {
			atomic_store(&A.rw_done, -1);
		} else if (A.rw_snap) {
			/* the snapshot writes it: rw_snap_step */
		} else if (pthread_create(&A.rw_thread, NULL, rw_main, NULL) != 0) {
			atomic_store(&A.rw_done, -1);
		} else {
			pthread_detach(A.rw_thread);
		}
	}
	if (A.rw_phase == RW_WRITING && A.rw_snap && !atomic_load(&A.rw_done))
		rw_snap_step();
	if (A.rw_phase == RW_WRITING) {
		int done = atomic_load(&A.rw_done);
		if (done && ws_staged(A.cur_epoch) == 0 && !A.cur.sink.buf.len)
			rw_finish(done > 0);
		else if (done)
			wait = 10;   /* records of the old epoch still to go out */
	}
	/* everysec: the fsync runs on a background thread. */
	if (aof_on() && ws_fsync_policy() == AOF_FSYNC_EVERYSEC) {
		if (now_ms - A.last_fsync_ms >= 1000) {
			bio_fsync(&A.cur);
			bio_fsync(&A.next);
			A.last_fsync_ms = now_ms;
		}
		int left = (int)(1000 - (now_ms - A.last_fsync_ms));
		if (left < wait)
			wait = left < 1 ? 1 : left;
	}
	return wait;
}

void aof_stop(void)
{
	if (A.cur.fd >= 0 && A.cur.written)
		fdatasync(A.cur.fd);
	if (A.next.fd >= 0 && A.next.written)
		fdatasync(A.next.fd);
	if (A.bio_started) {
		pthread_mutex_lock(&A.bio_lock);
		A.bio_stop = true;
		pthread_cond_signal(&A.bio_cond);
		pthread_mutex_unlock(&A.bio_lock);
		pthread_join(A.bio, NULL);
		A.bio_started = false;
	}
	if (A.rw_phase == RW_WRITING && !A.rw_snap) {
		/* The writer owns the buffers until it is done. (A snapshot's
		 * writer owns none, and stops with the shards.) */
		while (atomic_load(&A.rw_done) == 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	rw_free_bufs();
	free(A.rw_base_name);
	A.rw_base_name = NULL;
	aof_out_close(&A.cur);
	aof_out_close(&A.next);
	manifest_free(&A.m);
	for (size_t i = 0; i < A.nload; i++)
		free(A.load_files[i]);
	free(A.load_files);
	A.load_files = NULL;
	A.nload = 0;
	free(A.dirname);
	free(A.filename);
	A.dirname = A.filename = NULL;
}

/* ----------------------------------------------------------- config */

void aof_set_appendonly(bool on)
{
	if (atomic_exchange(&A.configured, on) == on)
		return;
	atomic_store(&A.enable_req, on ? 1 : -1);
	ws_kick();
}

/* -------------------------------------------------------------- INFO */

size_t aof_info_persistence(char *buf, size_t len)
{
	bool on = aof_on();
	int64_t start = atomic_load(&A.rw_start_ms);
	int inprog = atomic_load(&A.rw_in_progress);
	int n = snprintf(buf, len,
		"aof_enabled:%d\r\n"
		"aof_rewrite_in_progress:%d\r\n"
		"aof_rewrite_scheduled:%d\r\n"
		"aof_last_rewrite_time_sec:%lld\r\n"
		"aof_current_rewrite_time_sec:%lld\r\n"
		"aof_last_bgrewrite_status:%s\r\n"
		"aof_rewrites:%lld\r\n"
		"aof_rewrites_consecutive_failures:%lld\r\n"
		"aof_last_write_status:%s\r\n",
		on ? 1 : 0, inprog, atomic_load(&A.rw_requested) && !inprog ? 1 : 0,
		atomic_load(&A.rewrites) || atomic_load(&A.rw_failures) ? atomic_load(&A.last_rw_sec) : -1LL,
		inprog ? (long long)((ws_mono_ms() - start) / 1000) : -1LL,
		atomic_load(&A.rw_ok) ? "ok" : "err",
		atomic_load(&A.rewrites), atomic_load(&A.rw_failures),
		atomic_load(&A.write_ok) ? "ok" : "err");
	if (n < 0 || (size_t)n >= len)
		return n < 0 ? 0 : len - 1;
	if (on) {
		int m = snprintf(buf + n, len - (size_t)n,
			"aof_current_size:%lld\r\n"
			"aof_base_size:%lld\r\n"
			"aof_pending_rewrite:0\r\n"
			"aof_buffer_length:0\r\n"
			"aof_pending_bio_fsync:%d\r\n"
			"aof_delayed_fsync:0\r\n",
			atomic_load(&A.total_size), atomic_load(&A.base_size),
			atomic_load(&A.bio_pending));
		if (m > 0)
			n = (size_t)(n + m) < len ? n + m : (int)len - 1;
	}
	return (size_t)n;
}
