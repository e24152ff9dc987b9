/* Unit tests for cluster/slot.c: CRC16-XMODEM and Redis Cluster's key ->
 * hash-slot mapping with hash tags. Expected values are the published
 * CRC-16/XMODEM check value and the slots Redis's documentation gives for
 * CLUSTER KEYSLOT; the hash-tag cases follow the rule in the Redis Cluster
 * specification (first '{', first '}' after it, non-empty in between). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"

struct crc_case {
	const char *in;
	size_t len;
	uint16_t crc;
};

Test(slot, crc16_vectors)
{
	static const struct crc_case cases[] = {
		{ "123456789", 9, 0x31c3 },   /* CRC-16/XMODEM check value */
		{ "", 0, 0x0000 },
		{ "A", 1, 0x58e5 },
		{ "\0", 1, 0x0000 },          /* init 0, no xorout: zeros stay zero */
		{ "\0\0\0\0", 4, 0x0000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t got = clu_crc16(cases[i].in, cases[i].len);
		cr_assert(got == cases[i].crc, "crc16(\"%s\", %zu) = 0x%04x, want 0x%04x",
			  cases[i].in, cases[i].len, got, cases[i].crc);
	}
	/* Any single-bit change alters a CRC. */
	unsigned char buf[16] = "keyrail-crc-test";
	uint16_t base = clu_crc16(buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		cr_assert(clu_crc16(buf, sizeof(buf)) != base, "bit %zu flip not detected", bit);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}

struct slot_case {
	const char *key;
	unsigned slot;
};

/* Slots from the Redis docs (CLUSTER KEYSLOT, cluster tutorial). */
Test(slot, known_keys)
{
	static const struct slot_case cases[] = {
		{ "foo", 12182 },
		{ "bar", 5061 },
		{ "somekey", 11058 },
		{ "foo{hash_tag}", 2515 },
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = clu_key_slot(cases[i].key, strlen(cases[i].key));
		cr_assert(got == cases[i].slot, "slot(\"%s\") = %u, want %u", cases[i].key, got, cases[i].slot);
	}
}

struct tag_case {
	const char *key;
	const char *hashed;    /* the bytes whose CRC gives the slot */
	size_t hashed_len;     /* 0: strlen(hashed) */
};

Test(slot, hash_tags)
{
	static const struct tag_case cases[] = {
		{ "{user1000}.following", "user1000", 0 },
		{ "{user1000}.followers", "user1000", 0 },
		{ "foo{}{bar}", "foo{}{bar}", 0 },         /* empty tag: whole key */
		{ "foo{{bar}}zap", "{bar", 0 },            /* first '{', first '}' after it */
		{ "foo{bar}{zap}", "bar", 0 },             /* only the first tag */
		{ "{}", "{}", 0 },
		{ "{", "{", 0 },
		{ "}", "}", 0 },
		{ "}{", "}{", 0 },
		{ "foo{bar", "foo{bar", 0 },               /* unclosed: whole key */
		{ "foo}bar{", "foo}bar{", 0 },             /* '}' before '{' does not close */
		{ "a{b}", "b", 0 },
		{ "{a}b", "a", 0 },
		{ "x{}}y", "x{}}y", 0 },                   /* first '}' right after '{' */
		{ "{{}}", "{", 0 },
		{ "pre{ }post", " ", 0 },                  /* any non-empty bytes count */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tag_case *c = &cases[i];
		size_t hl = c->hashed_len ? c->hashed_len : strlen(c->hashed);
		unsigned want = clu_crc16(c->hashed, hl) & (CLU_SLOTS - 1);
		unsigned got = clu_key_slot(c->key, strlen(c->key));
		cr_assert(got == want, "slot(\"%s\") = %u, want crc16(\"%s\") -> %u", c->key, got, c->hashed, want);
	}
	cr_assert(clu_key_slot("{user1000}.following", 20) == clu_key_slot("{user1000}.followers", 20));
	cr_assert(clu_key_slot("{user1000}.following", 20) == clu_key_slot("user1000", 8));
	cr_assert(clu_key_slot("foo{bar}{zap}", 13) == 5061, "must hash \"bar\"");
}

/* Keys are binary: NUL bytes are data, and the length bounds the search. */
Test(slot, binary_keys_and_length)
{
	static const char k1[] = { 'a', '\0', '{', 'x', '}' };
	cr_assert(clu_key_slot(k1, sizeof(k1)) == (clu_crc16("x", 1) & (CLU_SLOTS - 1)));
	static const char k2[] = { '{', '\0', '}' };
	cr_assert(clu_key_slot(k2, sizeof(k2)) == (clu_crc16("\0", 1) & (CLU_SLOTS - 1)));
	/* A '}' past len is not seen: "{ab" of "{ab}" hashes whole. */
	cr_assert(clu_key_slot("{ab}", 3) == (clu_crc16("{ab", 3) & (CLU_SLOTS - 1)));
	cr_assert(clu_key_slot("{ab}", 4) == (clu_crc16("ab", 2) & (CLU_SLOTS - 1)));
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Random keys land in 0..16383, spread over the whole range, and a tag
 * always pins a key to the tag's slot. */
Test(slot, random_keys_in_range)
{
	enum { N = 200000 };
	static unsigned char hit[CLU_SLOTS];
	uint64_t rs = 1;
	unsigned distinct = 0;
	for (int i = 0; i < N; i++) {
		unsigned char k[40];
		size_t len = splitmix(&rs) % sizeof(k);
		for (size_t j = 0; j < len; j++)
			k[j] = (unsigned char)splitmix(&rs);
		unsigned s = clu_key_slot(k, len);
		cr_assert(s < CLU_SLOTS, "slot %u out of range", s);
		if (!hit[s]) {
			hit[s] = 1;
			distinct++;
		}
	}
	/* 200k keys into 16384 slots leave essentially none empty. */
	cr_assert(distinct > CLU_SLOTS - 10, "only %u distinct slots", distinct);

	for (int i = 0; i < 1000; i++) {
		char tag[16], key[64];
		int tl = snprintf(tag, sizeof(tag), "t%llu", (unsigned long long)(splitmix(&rs) % 100000));
		int kl = snprintf(key, sizeof(key), "p%d{%s}s%llu", i, tag, (unsigned long long)splitmix(&rs));
		cr_assert(clu_key_slot(key, (size_t)kl) == clu_key_slot(tag, (size_t)tl), "tagged key %s", key);
	}
}
