/* Unit tests for shards/sdict.c: add/find/del, resizing both ways,
 * random sampling, iteration (with deletion of the current entry, which
 * may shrink the table under the iterator), the SCAN guarantee across
 * resizes between calls, and a randomized model test.
 *
 * check() walks every bucket and asserts the invariants: power-of-two
 * size, entries in their hash's bucket, used count, load bounds, no
 * duplicates, NUL-terminated keys. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/ks.h"
#include "shards/sdict.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define SD_LEAK_CHECK() (__lsan_do_recoverable_leak_check() == 0)
#else
#define SD_LEAK_CHECK() true
#endif

static void setup(void)
{
	ks_set_seed(0xd1c7);
}

TestSuite(sdict, .init = setup);

#define SD_TEST(name)                                                     \
	static void name##_body(void);                                    \
	Test(sdict, name)                                                 \
	{                                                                 \
		name##_body();                                            \
		cr_assert(SD_LEAK_CHECK(), "memory leaked (see the LeakSanitizer report)"); \
	}                                                                 \
	static void name##_body(void)

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t key_of(unsigned i, char *buf)
{
	return (size_t)sprintf(buf, "member:%u", i);
}

static struct sd_entry *add_s(struct sdict *d, const char *k, bool *existed)
{
	return sd_add(d, k, strlen(k), existed);
}

static struct sd_entry *find_s(struct sdict *d, const char *k)
{
	return sd_find(d, k, strlen(k));
}

static void check(const struct sdict *d)
{
	uint64_t nb = d->mask + 1, n = 0;
	cr_assert((nb & d->mask) == 0, "bucket count %lu not a power of two", (unsigned long)nb);
	cr_assert(nb >= 4, "fewer than 4 buckets");
	for (uint64_t i = 0; i < nb; i++) {
		for (struct sd_entry *e = d->b[i]; e; e = e->next) {
			cr_assert(e->hash == (uint32_t)ks_hash(e->key, e->klen), "stale hash");
			cr_assert((e->hash & d->mask) == i, "entry in the wrong bucket");
			cr_assert(e->key[e->klen] == '\0', "key not NUL-terminated");
			cr_assert(sd_find(d, e->key, e->klen) == e, "duplicate or unreachable entry");
			n++;
		}
	}
	cr_assert(n == d->used, "%lu entries, used %lu", (unsigned long)n, (unsigned long)d->used);
	cr_assert(sd_size(d) == n);
	cr_assert(d->used <= nb, "load above 1: %lu in %lu buckets", (unsigned long)d->used, (unsigned long)nb);
	cr_assert(nb == 4 || d->used >= nb / 8, "load below 1/8: %lu in %lu buckets",
		  (unsigned long)d->used, (unsigned long)nb);
}

static unsigned vfree_calls;

static void count_vfree(struct sd_entry *e)
{
	free(e->v.ptr);
	vfree_calls++;
}

/* ------------------------------------------------------------ basic ops */

SD_TEST(add_find_del)
{
	struct sdict *d = sd_new(0);
	bool existed = true;
	cr_assert(sd_size(d) == 0);
	cr_assert_null(find_s(d, "a"));
	cr_assert(sd_del(d, "a", 1, NULL) == 0, "deleting from an empty dict");

	struct sd_entry *a = add_s(d, "a", &existed);
	cr_assert_not_null(a);
	cr_assert(!existed);
	cr_assert(a->v.i == 0, "new entry's value not zeroed");
	cr_assert(a->klen == 1 && memcmp(a->key, "a", 2) == 0);
	a->v.i = 77;
	struct sd_entry *a2 = add_s(d, "a", &existed);
	cr_assert(existed && a2 == a && a2->v.i == 77, "re-adding must return the existing entry");
	cr_assert(sd_size(d) == 1);

	/* Binary-safe keys: NULs inside, the empty key, prefixes. */
	static const char bin[] = { 'a', '\0', 'b' };
	cr_assert_not_null(sd_add(d, bin, 3, &existed));
	cr_assert(!existed);
	cr_assert_not_null(sd_add(d, "", 0, &existed));
	cr_assert(!existed);
	cr_assert_not_null(add_s(d, "ab", &existed));
	cr_assert(!existed);
	cr_assert(sd_size(d) == 4);
	cr_assert_not_null(sd_find(d, bin, 3));
	cr_assert_null(sd_find(d, bin, 2), "a prefix with a NUL is another key");
	cr_assert_not_null(sd_find(d, "", 0));
	cr_assert(sd_find(d, "", 0)->klen == 0);
	check(d);

	cr_assert(sd_del(d, "a", 1, NULL) == 1);
	cr_assert(sd_del(d, "a", 1, NULL) == 0, "second delete of the same key");
	cr_assert_null(find_s(d, "a"));
	cr_assert_not_null(find_s(d, "ab"), "deleting a must not touch ab");
	cr_assert(sd_del(d, "", 0, NULL) == 1);
	cr_assert(sd_size(d) == 2);
	check(d);
	sd_free(d, NULL);
	sd_free(NULL, NULL);   /* allowed, as free(NULL) */
}

SD_TEST(existed_may_be_null_and_hint_presizes)
{
	struct sdict *d = sd_new(1000);
	cr_assert(d->mask + 1 >= 1000, "hint 1000 gave %lu buckets", (unsigned long)(d->mask + 1));
	uint64_t mask = d->mask;
	char k[32];
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = key_of(i, k);
		cr_assert_not_null(sd_add(d, k, n, NULL));
	}
	cr_assert(d->mask == mask, "presized table resized before the hint was reached");
	check(d);
	sd_free(d, NULL);
}

SD_TEST(vfree_called_on_del_and_free)
{
	struct sdict *d = sd_new(0);
	char k[32];
	vfree_calls = 0;
	for (unsigned i = 0; i < 10; i++) {
		struct sd_entry *e = sd_add(d, k, key_of(i, k), NULL);
		e->v.ptr = malloc(16);
	}
	cr_assert(sd_del(d, k, key_of(3, k), count_vfree) == 1);
	cr_assert(vfree_calls == 1);
	cr_assert(sd_del(d, k, key_of(3, k), count_vfree) == 0);
	cr_assert(vfree_calls == 1, "vfree called for a missing key");
	sd_free(d, count_vfree);
	cr_assert(vfree_calls == 10, "vfree called %u times, want 10", vfree_calls);
}

/* -------------------------------------------------------------- resizing */

SD_TEST(grows_and_shrinks)
{
	struct sdict *d = sd_new(0);
	cr_assert(d->mask + 1 == 4, "empty dict has %lu buckets", (unsigned long)(d->mask + 1));
	char k[32];
	const unsigned n = 5000;
	uint64_t prev = d->mask;
	unsigned grows = 0;
	for (unsigned i = 0; i < n; i++) {
		sd_add(d, k, key_of(i, k), NULL);
		cr_assert(d->used <= d->mask + 1, "load above 1 after add");
		if (d->mask != prev)
			grows++;
		prev = d->mask;
	}
	cr_assert(grows >= 10, "only %u grows for %u entries", grows, n);
	check(d);
	for (unsigned i = 0; i < n; i++)
		cr_assert_not_null(sd_find(d, k, key_of(i, k)), "member %u lost by a grow", i);
	uint64_t big = d->mask;
	for (unsigned i = 0; i < n - 3; i++) {
		cr_assert(sd_del(d, k, key_of(i, k), NULL) == 1);
		if (i % 500 == 0)
			check(d);
	}
	cr_assert(d->mask < big, "table never shrank");
	cr_assert(d->mask + 1 <= 3 * 8, "3 entries left in %lu buckets", (unsigned long)(d->mask + 1));
	check(d);
	for (unsigned i = n - 3; i < n; i++)
		cr_assert_not_null(sd_find(d, k, key_of(i, k)), "member %u lost by a shrink", i);
	for (unsigned i = n - 3; i < n; i++)
		cr_assert(sd_del(d, k, key_of(i, k), NULL) == 1);
	cr_assert(sd_size(d) == 0 && d->mask + 1 == 4);
	check(d);
	sd_free(d, NULL);
}

SD_TEST(mem_accounts_for_buckets_and_keys)
{
	struct sdict *d = sd_new(0);
	size_t empty = sd_mem(d);
	cr_assert(empty >= sizeof(*d) + 4 * sizeof(void *));
	sd_add(d, "x", 1, NULL);
	size_t one = sd_mem(d);
	cr_assert(one >= empty + sizeof(struct sd_entry) + 2, "one entry adds %zu bytes", one - empty);
	char big[1000];
	memset(big, 'q', sizeof(big));
	sd_add(d, big, sizeof(big), NULL);
	cr_assert(sd_mem(d) >= one + sizeof(big));
	sd_free(d, NULL);
}

/* ---------------------------------------------------------------- random */

SD_TEST(random_covers_all_and_null_when_empty)
{
	struct sdict *d = sd_new(0);
	cr_assert_null(sd_random(d, 123));
	char k[32];
	const unsigned n = 50;
	for (unsigned i = 0; i < n; i++)
		sd_add(d, k, key_of(i, k), NULL);
	unsigned hits[50] = { 0 };
	for (unsigned t = 0; t < 20000; t++) {
		struct sd_entry *e = sd_random(d, rnd());
		cr_assert_not_null(e);
		unsigned idx;
		cr_assert(sscanf(e->key, "member:%u", &idx) == 1 && idx < n, "bad random entry %s", e->key);
		hits[idx]++;
	}
	for (unsigned i = 0; i < n; i++)
		cr_assert(hits[i] > 50, "member %u drawn only %u times in 20000", i, hits[i]);
	/* A sparse table (just above the shrink threshold) still works. */
	for (unsigned i = 1; i < n; i++)
		sd_del(d, k, key_of(i, k), NULL);
	for (unsigned t = 0; t < 100; t++) {
		struct sd_entry *e = sd_random(d, rnd());
		cr_assert_not_null(e);
		cr_assert_str_eq(e->key, "member:0");
	}
	sd_free(d, NULL);
}

/* ------------------------------------------------------------- iteration */

SD_TEST(iterate_empty_and_full)
{
	struct sdict *d = sd_new(0);
	struct sd_iter it;
	sd_iter_init(&it, d);
	cr_assert_null(sd_iter_next(&it));
	cr_assert_null(sd_iter_next(&it), "an ended iterator must stay ended");

	char k[32];
	const unsigned n = 3000;
	for (unsigned i = 0; i < n; i++)
		sd_add(d, k, key_of(i, k), NULL);
	unsigned char *seen = calloc(n, 1);
	unsigned count = 0;
	struct sd_entry *e;
	sd_iter_init(&it, d);
	while ((e = sd_iter_next(&it))) {
		unsigned idx;
		cr_assert(sscanf(e->key, "member:%u", &idx) == 1 && idx < n);
		cr_assert(!seen[idx], "member %u returned twice", idx);
		seen[idx] = 1;
		count++;
	}
	cr_assert(count == n, "iteration returned %u of %u", count, n);
	free(seen);
	sd_free(d, NULL);
}

/* Deleting the entry just returned is allowed, and it shrinks the table
 * several times while the iterator walks: nothing may be skipped or
 * returned twice. Pattern: delete all, every other, every third. */
SD_TEST(iterate_deleting_current)
{
	static const unsigned every[] = { 1, 2, 3, 7 };
	char k[32];
	const unsigned n = 4000;
	for (size_t p = 0; p < sizeof(every) / sizeof(every[0]); p++) {
		struct sdict *d = sd_new(0);
		for (unsigned i = 0; i < n; i++)
			sd_add(d, k, key_of(i, k), NULL);
		uint64_t mask0 = d->mask;
		unsigned char *seen = calloc(n, 1);
		unsigned count = 0, deleted = 0, pos = 0;
		struct sd_iter it;
		struct sd_entry *e;
		sd_iter_init(&it, d);
		while ((e = sd_iter_next(&it))) {
			unsigned idx;
			cr_assert(sscanf(e->key, "member:%u", &idx) == 1 && idx < n);
			cr_assert(!seen[idx], "pattern %u: member %u returned twice", every[p], idx);
			seen[idx] = 1;
			count++;
			if (pos++ % every[p] == 0) {
				/* e->key is freed by the delete: copy it out first. */
				char tmp[32];
				memcpy(tmp, e->key, e->klen);
				cr_assert(sd_del(d, tmp, e->klen, NULL) == 1);
				deleted++;
			}
		}
		cr_assert(count == n, "pattern %u: returned %u of %u", every[p], count, n);
		cr_assert(sd_size(d) == n - deleted);
		if (every[p] == 1)
			cr_assert(d->mask < mask0 && sd_size(d) == 0, "deleting all must have shrunk the table");
		check(d);
		free(seen);
		sd_free(d, NULL);
	}
}

/* ------------------------------------------------------------------ scan */

struct scan_acc {
	unsigned char *seen;
	unsigned n;
	unsigned calls;
};

static void scan_cb(void *arg, struct sd_entry *e)
{
	struct scan_acc *a = arg;
	unsigned idx;
	if (sscanf(e->key, "member:%u", &idx) == 1 && idx < a->n)
		a->seen[idx] = 1;
	a->calls++;
}

SD_TEST(scan_empty_and_full)
{
	struct sdict *d = sd_new(0);
	struct scan_acc a = { .seen = calloc(1, 1), .n = 0 };
	cr_assert(sd_scan(d, 0, 10, scan_cb, &a) == 0);
	cr_assert(a.calls == 0);
	free(a.seen);

	char k[32];
	const unsigned n = 1000;
	for (unsigned i = 0; i < n; i++)
		sd_add(d, k, key_of(i, k), NULL);
	a = (struct scan_acc){ .seen = calloc(n, 1), .n = n };
	uint64_t cur = 0;
	unsigned rounds = 0;
	do {
		unsigned before = a.calls;
		cur = sd_scan(d, cur, 10, scan_cb, &a);
		cr_assert(cur == 0 || a.calls - before >= 10, "a non-final call returned fewer than count");
		rounds++;
	} while (cur);
	cr_assert(a.calls == n, "a scan without changes returns each entry once (%u calls)", a.calls);
	cr_assert(rounds > 10 && rounds <= n / 10 + 1, "%u rounds", rounds);
	for (unsigned i = 0; i < n; i++)
		cr_assert(a.seen[i], "member %u not scanned", i);
	/* count 0 behaves as 1. */
	cr_assert(sd_scan(d, 0, 0, scan_cb, &a) != 0);
	free(a.seen);
	sd_free(d, NULL);
}

/* Members 0..stable-1 stay for the whole scan; between calls transient
 * members are added (the table grows) or removed (it shrinks). Every
 * stable member must be returned. Repeated with several seeds and phase
 * orders (grow first, shrink first, alternate). */
SD_TEST(scan_survives_resizes_between_calls)
{
	char k[32];
	const unsigned stable = 300;
	for (unsigned mode = 0; mode < 3; mode++) {
		for (unsigned seed = 0; seed < 5; seed++) {
			rng_state = seed * 1000 + mode;
			struct sdict *d = sd_new(0);
			for (unsigned i = 0; i < stable; i++)
				sd_add(d, k, key_of(i, k), NULL);
			unsigned next_tr = 1000000, low_tr = 1000000;
			if (mode == 1) {   /* start big so the first phase shrinks */
				for (; next_tr < 1000000 + 20000; next_tr++)
					sd_add(d, k, key_of(next_tr, k), NULL);
			}
			struct scan_acc a = { .seen = calloc(stable, 1), .n = stable };
			uint64_t cur = 0, masks_seen = 0, last_mask = d->mask;
			unsigned step = 0;
			do {
				cur = sd_scan(d, cur, 1 + (unsigned)(rnd() % 20), scan_cb, &a);
				/* Changes stop after 40 calls so the scan can end. */
				bool grow = mode == 0 ? step < 8 : mode == 1 ? step >= 8 : (step / 2) % 2 == 0;
				unsigned amount = step < 40 ? 1 + (unsigned)(rnd() % 3000) : 0;
				if (grow) {
					for (unsigned j = 0; j < amount; j++, next_tr++)
						sd_add(d, k, key_of(next_tr, k), NULL);
				} else {
					for (unsigned j = 0; j < amount && low_tr < next_tr; j++, low_tr++)
						sd_del(d, k, key_of(low_tr, k), NULL);
				}
				if (d->mask != last_mask)
					masks_seen++;
				last_mask = d->mask;
				step++;
			} while (cur);
			for (unsigned i = 0; i < stable; i++)
				cr_assert(a.seen[i], "mode %u seed %u: stable member %u missed", mode, seed, i);
			cr_assert(masks_seen > 0 || step < 3, "mode %u seed %u: no resize happened", mode, seed);
			check(d);
			free(a.seen);
			sd_free(d, NULL);
		}
	}
}

/* --------------------------------------------------------- model test */

/* Random adds and deletes over a small key universe against a plain
 * presence array; after each batch the dict must hold exactly the model. */
SD_TEST(random_model)
{
	enum { UNIVERSE = 2000 };
	char k[32];
	for (unsigned seed = 1; seed <= 4; seed++) {
		rng_state = seed;
		struct sdict *d = sd_new(0);
		unsigned char *model = calloc(UNIVERSE, 1);
		uint64_t live = 0;
		for (unsigned op = 0; op < 60000; op++) {
			unsigned i = (unsigned)(rnd() % UNIVERSE);
			size_t n = key_of(i, k);
			/* Bias phases towards adding, then deleting, so the table
			 * resizes both ways repeatedly. */
			bool add_bias = (op / 7000) % 2 == 0;
			bool do_add = rnd() % 100 < (add_bias ? 75u : 25u);
			if (do_add) {
				bool existed;
				struct sd_entry *e = sd_add(d, k, n, &existed);
				cr_assert(existed == (model[i] != 0), "op %u: existed mismatch for %u", op, i);
				if (!existed)
					e->v.i = i;
				cr_assert(e->v.i == i, "op %u: value lost for %u", op, i);
				if (!model[i])
					live++;
				model[i] = 1;
			} else {
				int r = sd_del(d, k, n, NULL);
				cr_assert(r == model[i], "op %u: del(%u) = %d, model %d", op, i, r, model[i]);
				if (model[i])
					live--;
				model[i] = 0;
			}
			cr_assert(sd_size(d) == live);
			if (op % 5000 == 0) {
				check(d);
				for (unsigned j = 0; j < UNIVERSE; j++) {
					struct sd_entry *e = sd_find(d, k, key_of(j, k));
					cr_assert((e != NULL) == (model[j] != 0), "op %u: presence of %u", op, j);
				}
			}
		}
		check(d);
		free(model);
		sd_free(d, NULL);
	}
}
