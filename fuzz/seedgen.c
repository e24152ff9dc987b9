/* fuzz/seedgen.c — writes keyrail-made seeds for the fuzz corpora
 * (fuzz/mkcorpus.py runs it): loads an RDB file (Redis's), then writes it
 * back with keyrail's writer (compressed and not) into RDB_DIR and the
 * DUMP payload of every key into DUMP_DIR.
 *     seedgen FILE.rdb RDB_DIR DUMP_DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repl/rdb.h"
#include "shards/obj_list.h"

#define SG_NDB 16

static int sg_key(void *arg, struct rdb_key *k)
{
	struct ks_space *ks = arg;
	struct ks_entry *e = rdb_obj_store(&ks->db[k->db], k->key, k->klen, &k->obj);
	if (k->expire_ms != KS_NO_EXPIRE)
		ks_set_expire(&ks->db[k->db], e, k->expire_ms);
	return 0;
}

static int sg_put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "seedgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct sg_walk {
	struct rdb_writer *w;
	const char *dump_dir;
	int rc;
};

static void sg_save(void *arg, struct ks_entry *e)
{
	struct sg_walk *s = arg;
	if (rdb_writer_key(s->w, e) != 0)
		s->rc = -1;
}

static void sg_dump(void *arg, struct ks_entry *e)
{
	struct sg_walk *s = arg;
	struct rbuf b = { 0 };
	char name[128];
	snprintf(name, sizeof name, "keyrail-%.*s", (int)(e->klen < 64 ? e->klen : 64), e->key);
	for (char *c = name; *c; c++)
		if (*c == ':' || *c == '/')
			*c = '-';
	if (rdb_dump_payload(&b, e, true) != 0 || sg_put(s->dump_dir, name, b.data, b.len) != 0)
		s->rc = -1;
	rbuf_free(&b);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: seedgen FILE.rdb RDB_DIR DUMP_DIR\n");
		return 2;
	}
	ks_register_type(KS_LIST, &obj_list_ops);
	ks_register_type(KS_HASH, &obj_hash_ops);
	ks_register_type(KS_SET, &obj_set_ops);
	ks_register_type(KS_ZSET, &obj_zset_ops);
	struct ks_space *ks = ks_space_new(SG_NDB);
	struct rdb_limits lim;
	rdb_limits_default(&lim);
	/* Small thresholds, as the Redis file was written with. */
	lim.list_fill = 4;
	lim.hash.max_entries = 4;
	lim.zset.max_entries = 4;
	lim.set.max_intset = 4;
	struct rdb_load_cbs cbs = { .key = sg_key, .arg = ks };
	struct rdb_load_opts opts = { .ndb = SG_NDB, .check_crc = true };
	char err[256];
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0 || rdb_load_fd(fd, &lim, &cbs, &opts, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "seedgen: cannot load %s: %s\n", argv[1], fd < 0 ? strerror(errno) : err);
		return 1;
	}
	close(fd);
	int rc = 0;
	for (int compress = 0; compress < 2; compress++) {
		struct rbuf out = { 0 };
		struct rdb_writer w;
		struct rdb_wopts o = { .compress = compress };
		struct rdb_aux aux = { .ctime_s = 1700000000 };
		struct sg_walk s = { .w = &w };
		rdb_writer_init(&w, rdb_sink_rbuf, &out, &o, true);
		rdb_writer_begin(&w, &aux);
		for (int d = 0; d < SG_NDB; d++) {
			if (!ks_size(&ks->db[d]))
				continue;
			rdb_writer_selectdb(&w, d, ks_size(&ks->db[d]), ks_nexpires(&ks->db[d]));
			ks_foreach(&ks->db[d], sg_save, &s);
		}
		if (rdb_writer_end(&w) != 0 || s.rc != 0 ||
		    sg_put(argv[2], compress ? "keyrail-all-types.rdb" : "keyrail-nocompress.rdb",
			   out.data, out.len) != 0)
			rc = 1;
		rdb_writer_destroy(&w);
		rbuf_free(&out);
	}
	struct sg_walk s = { .dump_dir = argv[3] };
	for (int d = 0; d < SG_NDB; d++)
		ks_foreach(&ks->db[d], sg_dump, &s);
	if (s.rc != 0)
		rc = 1;
	ks_space_free(ks);
	return rc;
}
