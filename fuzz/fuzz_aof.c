/* fuzz/fuzz_aof.c — libFuzzer target for the AOF loader's parsers
 * (repl/aof.c): the manifest parser, the start-up validator (aof_scan and
 * aof_check_file, with truncation of a cut last file) and the replay
 * reader (aof_load_next / cmd_len), whose output shard 0 feeds to the
 * RESP request parser (shards/propagate.c: loader_feed_run).
 *
 * aof.c's parsers are static and the file also holds the writer, which
 * lives on the replication thread next to wstream.c; the harness
 * #includes aof.c and stubs the few wstream/log functions it calls, so
 * the parsers run exactly as compiled into the server. aof_start itself
 * (directory creation, upgrade of a Redis 6 file, opening the file to
 * append, the writer threads) is not fuzzed: it handles file names from
 * the config, not file contents.
 *
 * The first input byte picks the target, the rest is the file:
 *   0     a manifest (appendonly.aof.manifest);
 *   1     an AOF file checked as the last file with aof-load-truncated yes
 *         (a cut tail is truncated away), then replayed;
 *   2     the same with aof-load-truncated no (a cut file is refused).
 * A file may start with an RDB part (the RDB base of Redis 7, the preamble
 * of Redis 6): it is validated by the RDB reader, then replayed as RESTORE
 * commands.
 * What must hold, besides no crash/leak/hang/sanitizer report:
 *  - a manifest that parses is written back by manifest_save and parses
 *    again to the same files, sequence numbers and types;
 *  - a file the validator accepts (after truncation) scans clean again,
 *    and the replay reader hands out exactly the commands the validator
 *    counted, as runs of whole commands (cmd_len never reads past them);
 *    the RESP parser is run over every run as the server does (it may
 *    refuse a command: that is a clean load error, not checked here). */
#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl/aof.c"
#include "shards/obj_list.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------- what aof.c links against */

void srv_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;   /* the loader's warnings are expected here: keep quiet */
}
void ws_sink_put(struct ws_sink *sk, struct wrec *const *recs, unsigned n)
{
	(void)sk;
	(void)recs;
	(void)n;
	abort();   /* the writer is not run by this harness */
}
unsigned ws_nshards(void) { return 1; }
uint64_t ws_cut_request(void) { abort(); }
uint64_t ws_staged(uint8_t epoch) { (void)epoch; return 0; }
void ws_backlog_size(size_t size) { (void)size; }
void ws_kick(void) {}
void ws_set_state(int state) { (void)state; }
int64_t ws_mono_ms(void) { return 0; }
int ws_fsync_policy(void) { return 0; }
_Atomic int wstream_state;   /* off: wstream_loading() and wstream_enabled() are false */
bool wstream_sync_always(void) { return false; }
void wstream_set_fsync(int policy) { (void)policy; }

/* ------------------------------------------------------------ harness */

#define FZ_FILE "fz.aof"

static char fz_dir[64];

static void fz_cleanup(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", fz_dir, FZ_FILE);
	unlink(p);
	snprintf(p, sizeof p, "%s/appendonly.aof.manifest", fz_dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/temp-appendonly.aof.manifest", fz_dir);
	unlink(p);
	rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct stat st;
	/* tmpfs when there is one: every input is written to a file. */
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
	snprintf(fz_dir, sizeof fz_dir, "%s/kr-fuzz-aof-XXXXXX", base);
	if (!mkdtemp(fz_dir))
		abort();
	atexit(fz_cleanup);
	/* An RDB part's values go through a scratch keyspace (load_rdb_key),
	 * freed through these (the server's shards register them at start). */
	ks_register_type(KS_LIST, &obj_list_ops);
	ks_register_type(KS_HASH, &obj_hash_ops);
	ks_register_type(KS_SET, &obj_set_ops);
	ks_register_type(KS_ZSET, &obj_zset_ops);
	A.dirname = xstrdup(fz_dir);
	A.filename = xstrdup("appendonly.aof");
	return 0;
}

static void fz_write(const char *name, const uint8_t *p, size_t n)
{
	char *path = aof_path(name);
	FILE *f = fopen(path, "w");
	assert(f);
	assert(n == 0 || fwrite(p, 1, n, f) == n);
	assert(fclose(f) == 0);
	free(path);
}

static bool fz_info_eq(const struct aof_info *a, const struct aof_info *b)
{
	return strcmp(a->name, b->name) == 0 && a->seq == b->seq && a->type == b->type;
}

static void fz_manifest(const uint8_t *p, size_t n)
{
	struct aof_manifest m, m2;
	char err[256];
	fz_write("appendonly.aof.manifest", p, n);
	int rc = manifest_load(&m, err, sizeof err);
	assert(rc == 1 || rc == -1);
	if (rc < 0) {
		assert(err[0]);
		return;
	}
	assert(manifest_save(&m) == 0);
	rc = manifest_load(&m2, err, sizeof err);
	assert(rc == 1);
	assert(m2.has_base == m.has_base && m2.nincr == m.nincr && m2.nhist == m.nhist);
	if (m.has_base)
		assert(fz_info_eq(&m.base, &m2.base));
	for (size_t i = 0; i < m.nincr; i++)
		assert(fz_info_eq(&m.incr[i], &m2.incr[i]));
	for (size_t i = 0; i < m.nhist; i++)
		assert(fz_info_eq(&m.hist[i], &m2.hist[i]));
	manifest_free(&m);
	manifest_free(&m2);
}

static void fz_aof(const uint8_t *p, size_t n, bool truncated_ok)
{
	char err[512];
	fz_write(FZ_FILE, p, n);
	A.load_truncated = truncated_ok;
	if (aof_check_file(FZ_FILE, truncated_ok, err, sizeof err) != 0) {
		assert(err[0]);
		return;
	}
	/* What is left (maybe cut) must scan clean. */
	char *path = aof_path(FZ_FILE);
	long long valid;
	unsigned long long ncmds;
	int src = aof_scan(path, &valid, &ncmds);
	assert(src == SCAN_OK);
	assert(valid == file_size(path));
	free(path);

	/* Replay as shard 0 does. */
	A.load_files = calloc(1, sizeof(char *));
	assert(A.load_files);
	A.load_files[0] = xstrdup(FZ_FILE);
	A.nload = 1;
	A.load_idx = 0;
	struct resp_limits lim = { .max_bulk_len = INT64_MAX, .max_multibulk_len = INT32_MAX,
				   .max_inline_len = 64 * 1024 };
	struct resp_req req;
	resp_req_init(&req);
	unsigned long long got = 0;
	int rc;
	const char *run, *fname;
	size_t len;
	bool first;
	while ((rc = aof_load_next(&run, &len, &first, &fname)) == 1) {
		assert(len > 0);
		assert(strcmp(fname, FZ_FILE) == 0);
		/* A run is whole commands by cmd_len's reading. Copy it to its own
		 * allocation so ASan sees any read past it. */
		char *c = malloc(len);
		assert(c);
		memcpy(c, run, len);
		size_t off = 0, need;
		while (off < len) {
			size_t k = cmd_len(c + off, len - off, &need);
			assert(k > 0 && k <= len - off);
			off += k;
			got++;
		}
		/* The server's parser over the same run. */
		off = 0;
		while (off < len) {
			size_t used = 0;
			need = 0;
			const char *perr = NULL;
			if (resp_parse_req(c + off, len - off, &lim, &req, &used, &need, &perr) !=
			    RESP_PARSE_OK)
				break;   /* the loader stops with "Bad file format" */
			assert(used > 0 && used <= len - off);
			off += used;
		}
		free(c);
	}
	/* A file with an RDB part: its keys come out as RESTORE commands
	 * (not counted by the validator, which steps over the values), and a
	 * value the CRC did not protect (a zero CRC) may fail to decode. */
	bool rdb = n >= 5 && memcmp(p, "REDIS", 5) == 0;
	assert(rc == 0 || (rdb && rc == -1));
	assert(rdb || got == ncmds);
	resp_req_free(&req);
	aof_load_done(false, 0);
	free(A.load_files);
	A.load_files = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fz_manifest(data + 1, size - 1);
		break;
	case 1:
		fz_aof(data + 1, size - 1, true);
		break;
	default:
		fz_aof(data + 1, size - 1, false);
		break;
	}
	return 0;
}
