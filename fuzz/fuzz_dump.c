/* fuzz/fuzz_dump.c — libFuzzer target for RESTORE's payload handling
 * (repl/rdb.c: rdb_dump_verify + rdb_dump_decode, as shards/t_dump.c
 * calls them).
 *
 * The input is a DUMP payload (type, value, RDB version u16, CRC64 u64);
 * seeds in fuzz/corpus/fuzz_dump/ are real payloads from keyrail and
 * Redis 7.0. A mutated payload's CRC is almost never right, which would
 * stop everything at the checksum, so the harness first checks the input
 * as is (the real RESTORE path, CRC included) and then, when the input
 * is long enough, fixes the CRC in a copy and runs RESTORE's checks and
 * decoder on that, with Redis's default thresholds or tiny ones (picked
 * by the length's low bit).
 *
 * What must hold:
 *  - no crash, leak, hang or sanitizer report on any payload;
 *  - a payload that decodes is stored in a keyspace (rdb_obj_store, as
 *    RESTORE does), DUMPed again, and that payload verifies and decodes
 *    to the same value type; when both DUMPs use the same RDB type (the
 *    encoding may legitimately change: a listpack set of integers from
 *    RDB 11 stays a listpack but loads back from RDB_TYPE_SET as an
 *    intset), they have the same length (no compression): values survive
 *    DUMP/RESTORE. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repl/rdb.h"
#include "shards/obj_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RESTORE of p[0..n) into a fresh keyspace; the DUMP of what it made goes
 * to *redump, its value type (enum ks_type) to *type. 0 restored, -1
 * refused. */
static int fz_restore(const uint8_t *p, size_t n, const struct rdb_limits *lim, struct rbuf *redump,
		      int *type)
{
	if (rdb_dump_verify(p, n, true, NULL) != 0)
		return -1;
	struct rdb_obj obj;
	if (rdb_dump_decode(p, n, lim, &obj) != 0)
		return -1;
	struct ks_space *ks = ks_space_new(1);
	assert(ks);
	struct ks_entry *e = rdb_obj_store(&ks->db[0], "key", 3, &obj);
	assert(e);
	*type = e->type;
	/* Everything RESTORE accepts can be DUMPed (no streams/modules). */
	int rc = rdb_dump_payload(redump, e, false);
	assert(rc == 0);
	ks_space_free(ks);
	return 0;
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
	const struct rdb_limits *lim = (size & 1) ? &tiny : &def;
	struct rbuf a = { 0 }, b = { 0 };

	/* As it came: the CRC must be right for anything to be decoded. */
	int ta, tb;
	(void)fz_restore(data, size, lim, &a, &ta);
	rbuf_free(&a);

	if (size < 10)
		return 0;
	uint8_t *p = malloc(size);
	assert(p);
	memcpy(p, data, size);
	uint64_t crc = rdb_crc64(0, p, size - 8);
	for (int i = 0; i < 8; i++)
		p[size - 8 + i] = (uint8_t)(crc >> (8 * i));
	if (fz_restore(p, size, lim, &a, &ta) == 0) {
		int rc = fz_restore((const uint8_t *)a.data, a.len, lim, &b, &tb);
		assert(rc == 0);
		assert(tb == ta);
		assert(b.data[0] != a.data[0] || b.len == a.len);
	}
	rbuf_free(&a);
	rbuf_free(&b);
	free(p);
	return 0;
}
