/* fuzz/fuzz_rdb.c — libFuzzer target for the RDB file loader
 * (repl/rdb_file.c's streaming reader and every value decoder behind it).
 *
 * The input is a whole file, magic included, exactly as the server would
 * read it from dump.rdb or a replication stream: seeds in
 * fuzz/corpus/fuzz_rdb/ are real files written by keyrail and by Redis 7.0.
 * It is fed to a reader in chunks whose sizes come from the input length
 * (so cut-step handling is exercised), with the server's options (CRC
 * checked, 16 databases). Loaded keys are stored in a keyspace as the
 * server does (rdb_obj_store, expiries); thresholds are Redis's defaults
 * or tiny ones (every conversion path), and every other key may be
 * refused through the want callback (the skipping path).
 *
 * What must hold, whatever the bytes:
 *  - no crash, leak, hang or sanitizer report;
 *  - the reader ends in a definite state: 1 (complete file) or a negative
 *    error with a non-empty message; finish() after 0 is an error unless
 *    the file was complete;
 *  - a file that loaded completely is written back with rdb_writer and
 *    loads again with the same number of keys (what we accept, we can
 *    save and read back). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repl/rdb.h"
#include "shards/obj_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NDB 16

static volatile unsigned fz_sink;   /* keeps fz_aux's reads */

struct fz_load {
	struct ks_space *ks;
	uint64_t stored;
	bool filter;
};

static int fz_key(void *arg, struct rdb_key *k)
{
	struct fz_load *l = arg;
	assert(k->db >= 0 && k->db < FZ_NDB);
	struct ks_db *db = &l->ks->db[k->db];
	struct ks_entry *e = rdb_obj_store(db, k->key, k->klen, &k->obj);
	assert(e);
	if (k->expire_ms != KS_NO_EXPIRE)
		ks_set_expire(db, e, k->expire_ms);
	l->stored++;
	return 0;
}

static int fz_aux(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	(void)arg;
	/* The reader hands out whole strings: touch every byte (ASan). */
	unsigned x = 0;
	for (size_t i = 0; i < nlen; i++)
		x += (unsigned char)name[i];
	for (size_t i = 0; i < vlen; i++)
		x += (unsigned char)val[i];
	fz_sink = x;
	return 0;
}

static bool fz_want(void *arg, int db, const char *key, size_t klen)
{
	struct fz_load *l = arg;
	(void)db;
	(void)key;
	return !l->filter || klen % 2 == 0;
}

/* Feed p[0..n) in chunks growing from first_chunk. Returns the reader's
 * final code: 1 complete, or a negative error. */
static int fz_load(const uint8_t *p, size_t n, size_t first_chunk, const struct rdb_limits *lim,
		   struct fz_load *l, struct rdb_load_info *info)
{
	struct rdb_load_cbs cbs = { .key = fz_key, .aux = fz_aux, .want = fz_want, .arg = l };
	struct rdb_load_opts opts = { .ndb = FZ_NDB, .check_crc = true };
	struct rdb_reader *r = rdb_reader_new(lim, &cbs, &opts);
	size_t off = 0, chunk = first_chunk;
	int rc = 0;
	while (rc == 0 && off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		size_t used = 0;
		rc = rdb_reader_feed(r, p + off, k, &used);
		assert(rc != 1 || used <= k);
		off += k;
		chunk = chunk * 2 + 1;
	}
	if (rc == 0) {
		rc = rdb_reader_finish(r);
		/* Input ran out before EOF: must be an error. */
		assert(rc < 0);
	}
	if (rc < 0) {
		const char *msg = rdb_reader_error(r);
		assert(msg);
		(void)msg;
	}
	*info = *rdb_reader_info(r);
	rdb_reader_free(r);
	return rc;
}

struct fz_save {
	struct rdb_writer *w;
	uint64_t written;
};

static void fz_save_cb(void *arg, struct ks_entry *e)
{
	struct fz_save *s = arg;
	if (rdb_writer_key(s->w, e) == 0)
		s->written++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool types;
	if (!types) {
		ks_register_type(KS_LIST, &obj_list_ops);
		ks_register_type(KS_HASH, &obj_hash_ops);
		ks_register_type(KS_SET, &obj_set_ops);
		ks_register_type(KS_ZSET, &obj_zset_ops);
		types = true;
	}
	struct rdb_limits def, tiny;
	rdb_limits_default(&def);
	tiny = (struct rdb_limits){
		.list_fill = 2,
		.hash = { .max_entries = 2, .max_value = 4 },
		.set = { .max_intset = 2, .max_lp_entries = 3, .max_lp_value = 4 },
		.zset = { .max_entries = 2, .max_value = 4 },
	};
	/* Options from the length, so the input stays a plain file. */
	const struct rdb_limits *lim = (size & 1) ? &tiny : &def;
	struct fz_load l = { .ks = ks_space_new(FZ_NDB), .filter = (size & 2) != 0 };
	assert(l.ks);
	struct rdb_load_info info;
	int rc = fz_load(data, size, 1 + size % 61, lim, &l, &info);
	assert(rc == 1 || rc < 0);
	assert(l.stored == info.keys);

	if (rc == 1) {
		/* Save what loaded (expired keys included: no clock here) and
		 * load it back in one chunk with the same thresholds. */
		struct rbuf out = { 0 };
		struct rdb_writer w;
		struct rdb_wopts o = { .compress = (size & 4) != 0, .set_listpack = false };
		struct rdb_aux aux = { .redis_ver = "7.0.0", .ctime_s = 1 };
		struct fz_save s = { .w = &w };
		rdb_writer_init(&w, rdb_sink_rbuf, &out, &o, true);
		assert(rdb_writer_begin(&w, &aux) == 0);
		uint64_t live = 0;
		for (int d = 0; d < FZ_NDB; d++) {
			uint64_t nk = ks_size(&l.ks->db[d]);
			if (!nk)
				continue;
			live += nk;
			assert(rdb_writer_selectdb(&w, d, nk, ks_nexpires(&l.ks->db[d])) == 0);
			ks_foreach(&l.ks->db[d], fz_save_cb, &s);
		}
		assert(rdb_writer_end(&w) == 0);
		rdb_writer_destroy(&w);
		/* Every value we built is one we can write (no streams/modules). */
		assert(s.written == live);

		struct fz_load l2 = { .ks = ks_space_new(FZ_NDB) };
		struct rdb_load_info info2;
		int rc2 = fz_load((const uint8_t *)out.data, out.len, out.len ? out.len : 1, lim, &l2,
				  &info2);
		assert(rc2 == 1);
		assert(info2.keys == live);
		ks_space_free(l2.ks);
		rbuf_free(&out);
	}
	ks_space_free(l.ks);
	return 0;
}
