/* repl/rdb.h — the Redis RDB format: value codec, DUMP/RESTORE payloads,
 * whole-file writer and streaming reader.
 *
 * Everything here is byte-compatible with Redis 7.0 (RDB version 10): what
 * we write for a value is what Redis 7.0 writes for the same encoding, so a
 * Redis can load our DUMP payloads and dump.rdb files, and we load theirs —
 * including the older encodings (ziplist, zipmap, quicklist v1, string
 * doubles) a user's file from an older Redis may hold.
 *
 * Layers, each usable alone:
 *  - CRC64 (Jones polynomial, reflected, as Redis's crc64) and LZF (the
 *    liblzf format, same match search so our compressed bytes equal
 *    Redis's);
 *  - encoders that append to a struct rbuf: lengths, strings (int-encoded,
 *    LZF, raw), doubles, and whole values of keyspace entries;
 *  - a value decoder that builds keyrail objects (struct rdb_obj) from
 *    untrusted bytes, converting to the encodings the configured thresholds
 *    ask for (struct rdb_limits), as Redis does on load. Corrupt input is an
 *    error, never a crash: every length, listpack, ziplist, zipmap and
 *    intset is validated, duplicates included;
 *  - DUMP payloads (value + RDB version + CRC64);
 *  - a file writer that streams to any sink (fd, rbuf) keeping the CRC, fed
 *    whole entries or bytes a shard serialised itself with rdb_enc_key();
 *  - a streaming reader fed bytes in chunks of any size (or reading an fd)
 *    that hands each (db, key, value, expiry) to a callback.
 *
 * Threads: nothing is shared; every function may be called from any
 * thread on its own data (LZF keeps one lazily allocated table per thread).
 * Allocation failure aborts (as rbuf and the object modules do), except
 * where a function says -ENOMEM. */
#ifndef KR_RDB_H
#define KR_RDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/dataplane.h"
#include "shards/ks.h"
#include "shards/obj_hash.h"
#include "shards/obj_set.h"
#include "shards/obj_zset.h"

struct cfg;

#define RDB_VERSION 10          /* what we write; the newest we read */

/* Value types (the byte before a key). */
enum rdb_type {
	RDB_TYPE_STRING = 0,
	RDB_TYPE_LIST = 1,
	RDB_TYPE_SET = 2,
	RDB_TYPE_ZSET = 3,              /* scores as text */
	RDB_TYPE_HASH = 4,
	RDB_TYPE_ZSET_2 = 5,            /* scores as binary doubles */
	RDB_TYPE_MODULE = 6,
	RDB_TYPE_MODULE_2 = 7,
	RDB_TYPE_HASH_ZIPMAP = 9,
	RDB_TYPE_LIST_ZIPLIST = 10,
	RDB_TYPE_SET_INTSET = 11,
	RDB_TYPE_ZSET_ZIPLIST = 12,
	RDB_TYPE_HASH_ZIPLIST = 13,
	RDB_TYPE_LIST_QUICKLIST = 14,   /* nodes are ziplists */
	RDB_TYPE_STREAM_LISTPACKS = 15,
	RDB_TYPE_HASH_LISTPACK = 16,
	RDB_TYPE_ZSET_LISTPACK = 17,
	RDB_TYPE_LIST_QUICKLIST_2 = 18, /* nodes are listpacks or plain */
	RDB_TYPE_STREAM_LISTPACKS_2 = 19,
	RDB_TYPE_SET_LISTPACK = 20,     /* RDB 11 (Redis 7.2) */
	RDB_TYPE_STREAM_LISTPACKS_3 = 21,
};

/* File opcodes. */
enum rdb_opcode {
	RDB_OP_FUNCTION2 = 245,
	RDB_OP_FUNCTION_PRE_GA = 246,
	RDB_OP_MODULE_AUX = 247,
	RDB_OP_IDLE = 248,
	RDB_OP_FREQ = 249,
	RDB_OP_AUX = 250,
	RDB_OP_RESIZEDB = 251,
	RDB_OP_EXPIRETIME_MS = 252,
	RDB_OP_EXPIRETIME = 253,
	RDB_OP_SELECTDB = 254,
	RDB_OP_EOF = 255,
};

/* ------------------------------------------------------------- CRC64 */

/* Redis's crc64 (Jones polynomial, reflected in and out, no final xor):
 * crc of p[0..n) continuing from crc (0 to start). "123456789" gives
 * 0xe9c6d914c4b8d9ca. Table-driven, 8 bytes per step. */
uint64_t rdb_crc64(uint64_t crc, const void *p, size_t n);

/* --------------------------------------------------------------- LZF */

/* Compress in[0..in_len) into out[0..out_len). Returns the compressed
 * length, or 0 if it does not fit in out_len (or in_len is 0 or >= 4 GiB).
 * Same output as liblzf 3.6 as built into Redis (HLOG 16, VERY_FAST). */
size_t rdb_lzf_compress(const void *in, size_t in_len, void *out, size_t out_len);
/* Decompress into out[0..out_len). Returns the decompressed length, or 0
 * when the input is corrupt or does not fit. */
size_t rdb_lzf_decompress(const void *in, size_t in_len, void *out, size_t out_len);

/* ------------------------------------------------ low-level encoders */

/* A length: 6-bit, 14-bit, 32-bit or 64-bit form, the shortest that fits. */
void rdb_enc_len(struct rbuf *b, uint64_t len);
/* A string as Redis's rdbSaveRawString: int-encoded (8/16/32-bit) when it
 * is a canonical integer of at most 11 bytes that fits, else LZF when
 * compress and len > 20 and it saves at least 4 bytes, else raw. */
void rdb_enc_string(struct rbuf *b, const void *s, size_t len, bool compress);
/* An integer string object (Redis's rdbSaveLongLongAsStringObject):
 * int-encoded if it fits 32 bits, else its decimal text, raw. */
void rdb_enc_ll(struct rbuf *b, long long v);
/* Scores: RDB_TYPE_ZSET's text form (1-byte length, 253 nan, 254 +inf,
 * 255 -inf) and the binary forms (little endian IEEE 754). */
void rdb_enc_double_text(struct rbuf *b, double d);
void rdb_enc_double_bin(struct rbuf *b, double d);
void rdb_enc_float_bin(struct rbuf *b, float f);

/* ------------------------------------------------------ value writer */

struct rdb_wopts {
	bool compress;        /* rdbcompression: LZF strings > 20 bytes */
	/* Write listpack sets as RDB_TYPE_SET_LISTPACK (RDB 11). Off for RDB
	 * 10, where they are written as RDB_TYPE_SET (Redis 7.0 has no
	 * listpack sets and refuses type 20). */
	bool set_listpack;
};

/* The RDB type byte e's value is written with, or -ENOTSUP (streams). */
int rdb_value_type(const struct ks_entry *e, const struct rdb_wopts *o);
/* Append e's value (without the type byte). 0, or -ENOTSUP. */
int rdb_enc_value(struct rbuf *b, const struct ks_entry *e, const struct rdb_wopts *o);
/* Append one key record as it appears in a file: [EXPIRETIME_MS ms]
 * type key value. 0, or -ENOTSUP (nothing appended). This is what a
 * shard calls, one key at a time, to serialise its keys into its own
 * buffer for rdb_writer_raw(). */
int rdb_enc_key(struct rbuf *b, const struct ks_entry *e, const struct rdb_wopts *o);

/* ---------------------------------------------------- decoded values */

/* Conversion thresholds applied while loading (the server's config). */
struct rdb_limits {
	int list_fill;                    /* list-max-listpack-size */
	struct obj_hash_lim hash;
	struct obj_set_lim set;
	struct obj_zset_lim zset;
};
/* Redis 7's defaults. */
void rdb_limits_default(struct rdb_limits *l);
/* From a server config (struct cfg in server/server.h). */
void rdb_limits_from_cfg(struct rdb_limits *l, const struct cfg *c);

/* A value built from RDB bytes, owned by whoever holds the struct.
 * Strings: type KS_STRING, str[0..len) malloc'd (NUL-terminated).
 * Collections: type KS_LIST/KS_SET/KS_ZSET/KS_HASH, (enc, ptr) as the
 * obj_<type> modules define them. */
struct rdb_obj {
	uint8_t type;
	uint8_t enc;
	void *ptr;
	char *str;
	size_t len;
};
void rdb_obj_free(struct rdb_obj *o);
/* Store o under key in db (replacing any value, clearing any expiry) and
 * hand ownership to the keyspace; o is emptied. Returns the entry. */
struct ks_entry *rdb_obj_store(struct ks_db *db, const void *key, size_t klen,
			       struct rdb_obj *o);

/* Decode one value of RDB type rtype from p[0..n). On success returns 0,
 * *used bytes were read and *out holds the value. Errors (nothing is
 * allocated then): -EINVAL corrupt or truncated input, -ENODATA a valid
 * but empty collection (Redis refuses such keys), -ENOTSUP a type we do
 * not hold (modules, streams), -ENOMEM. */
int rdb_dec_value(int rtype, const void *p, size_t n, size_t *used,
		  const struct rdb_limits *lim, struct rdb_obj *out);

/* ------------------------------------------------------ DUMP/RESTORE */

/* Append the DUMP payload of e: type, value, RDB_VERSION (u16 LE), CRC64
 * of all that (u64 LE). 0, or -ENOTSUP (nothing appended). */
int rdb_dump_payload(struct rbuf *b, const struct ks_entry *e, bool compress);
/* Check a payload's footer: RDB version <= RDB_VERSION (into *ver if not
 * NULL) and the CRC64 (skipped if !check_crc). 0 or -EINVAL. */
int rdb_dump_verify(const void *p, size_t n, bool check_crc, uint16_t *ver);
/* Decode a verified payload's value (all bytes before the footer must be
 * exactly one value). 0, or rdb_dec_value's errors. */
int rdb_dump_decode(const void *p, size_t n, const struct rdb_limits *lim, struct rdb_obj *out);

/* ------------------------------------------------------- file writer */

/* Where a writer's bytes go: 0 or a negative errno (the writer stops). */
typedef int rdb_sink_fn(void *arg, const void *p, size_t n);
/* Sinks: arg is an int * holding a file descriptor (write(2) loop), or a
 * struct rbuf * (appended). */
int rdb_sink_fd(void *arg, const void *p, size_t n);
int rdb_sink_rbuf(void *arg, const void *p, size_t n);

/* Aux fields written after the magic. */
struct rdb_aux {
	const char *redis_ver;      /* NULL: KR_VERSION */
	int64_t ctime_s;            /* 0: time(NULL) */
	long long used_mem;
	bool aof_base;              /* the RDB preamble of an AOF base */
	/* repl-stream-db, repl-id, repl-offset: only if repl_id != NULL */
	const char *repl_id;
	long long repl_offset;
	int repl_stream_db;
};

/* A file being written: bytes are staged in buf and passed to the sink
 * every RDB_WRITER_CHUNK bytes, the CRC64 kept over everything passed. */
#define RDB_WRITER_CHUNK (64 * 1024)
struct rdb_writer {
	rdb_sink_fn *sink;
	void *arg;
	struct rdb_wopts o;
	bool checksum;              /* rdbchecksum: false writes a zero CRC */
	uint64_t crc;
	uint64_t bytes;             /* passed to the sink so far */
	struct rbuf buf;
	int err;                    /* first sink error, sticky */
};
void rdb_writer_init(struct rdb_writer *w, rdb_sink_fn *sink, void *arg,
		     const struct rdb_wopts *o, bool checksum);
/* "REDIS0010" and the aux fields. */
int rdb_writer_begin(struct rdb_writer *w, const struct rdb_aux *aux);
/* repl-stream-db, repl-id, repl-offset as aux fields at this point of the
 * file (readers take aux fields anywhere; a snapshot learns the offset of
 * its cut only after its keys). */
int rdb_writer_repl_aux(struct rdb_writer *w, int stream_db, const char *id, long long off);
/* SELECTDB db, then RESIZEDB with the db's key and expiry counts. */
int rdb_writer_selectdb(struct rdb_writer *w, int db, uint64_t nkeys, uint64_t nexpires);
/* One key (rdb_enc_key). -ENOTSUP for a value we cannot write (nothing
 * written, the writer goes on). */
int rdb_writer_key(struct rdb_writer *w, const struct ks_entry *e);
/* Bytes serialised elsewhere (rdb_enc_key output), in file order. */
int rdb_writer_raw(struct rdb_writer *w, const void *p, size_t n);
/* EOF, the CRC64, and a final flush. */
int rdb_writer_end(struct rdb_writer *w);
/* Free the staging buffer (after end, or to abandon a file). */
void rdb_writer_destroy(struct rdb_writer *w);
/* Each returns 0 or the sink's first error. */

/* ------------------------------------------------------- file reader */

/* A key read from a file. The callback owns obj afterwards (it stores it
 * with rdb_obj_store or frees it with rdb_obj_free); key is valid during
 * the call only. */
struct rdb_key {
	int db;
	const char *key;
	size_t klen;
	int64_t expire_ms;          /* absolute, or KS_NO_EXPIRE */
	long long idle_s;           /* RDB_OP_IDLE, or -1 */
	int freq;                   /* RDB_OP_FREQ, or -1 */
	struct rdb_obj obj;
};

/* Callbacks return 0 to go on; anything else stops the load, which then
 * fails with that value if negative (an errno), else -ECANCELED. Only key
 * is required. */
struct rdb_load_cbs {
	int (*key)(void *arg, struct rdb_key *k);
	int (*aux)(void *arg, const char *name, size_t nlen, const char *val, size_t vlen);
	int (*resizedb)(void *arg, int db, uint64_t nkeys, uint64_t nexpires);
	/* A FUNCTION2 library's code; NULL: libraries are skipped (counted). */
	int (*function)(void *arg, const char *code, size_t len);
	void *arg;
	/* Asked with each key before its value is decoded: false skips the
	 * value (its bytes are stepped over without building or validating
	 * it; the CRC still covers them). For a loader that keeps only some
	 * keys (a shard, a slot range). NULL: every key is wanted. */
	bool (*want)(void *arg, int db, const char *key, size_t klen);
};

struct rdb_load_opts {
	int ndb;                    /* SELECTDB above this fails; 0 = any */
	bool check_crc;             /* verify the trailing CRC64 (when not 0) */
};

/* What a load saw. */
struct rdb_load_info {
	int version;
	uint64_t keys;              /* passed to the key callback */
	uint64_t empty_skipped;     /* empty collections skipped, as Redis */
	uint64_t functions_skipped;
	uint64_t keys_filtered;     /* refused by the want callback */
	uint64_t bytes;             /* of the file consumed so far */
};

struct rdb_reader;
/* A reader of one file. lim, cbs and opts are copied. Never NULL. */
struct rdb_reader *rdb_reader_new(const struct rdb_limits *lim, const struct rdb_load_cbs *cbs,
				  const struct rdb_load_opts *opts);
void rdb_reader_free(struct rdb_reader *r);
/* Feed the next n bytes (any chunking). Returns 0 when more input is
 * needed, 1 once the EOF opcode and CRC were read (bytes after it are
 * ignored: *used, if not NULL, says how many of these n belonged to the
 * file), or a negative error: -EINVAL corrupt (see rdb_reader_error),
 * -ENOTSUP (modules, streams, newer versions), a callback's code (see
 * struct rdb_load_cbs), -ENOMEM. After an error or 1 the reader takes no more input. */
int rdb_reader_feed(struct rdb_reader *r, const void *p, size_t n, size_t *used);
/* The input ended: 0 if the file was complete, else -EINVAL
 * ("unexpected end of file"). */
int rdb_reader_finish(struct rdb_reader *r);
/* Why the last error happened (never NULL). */
const char *rdb_reader_error(const struct rdb_reader *r);
const struct rdb_load_info *rdb_reader_info(const struct rdb_reader *r);

/* Read a whole file from fd with a reader: 0 or the reader's error; err
 * (if not NULL) gets the message; info (if not NULL) the counts. */
int rdb_load_fd(int fd, const struct rdb_limits *lim, const struct rdb_load_cbs *cbs,
		const struct rdb_load_opts *opts, struct rdb_load_info *info,
		char *err, size_t errlen);

/* ------------------------------------------------------------ fuzzing */

/* libFuzzer-style entry (LLVMFuzzerTestOneInput can just call it): the
 * low bits of the first byte pick a target: 0/1 a value of type p[1] with
 * default / tiny thresholds, 2 a DUMP payload (CRC not checked), 3 a file
 * body after "REDIS0010" fed in growing chunks (bit 2: tiny thresholds,
 * bit 3: every other key skipped). Decoded values are re-encoded and
 * decoded again and must come back equal (asserted). Returns 0. */
int rdb_fuzz_one(const uint8_t *p, size_t n);

#endif
