/* server/glob.c — Redis-style glob matching, shared by CONFIG GET, COMMAND
 * LIST FILTERBY PATTERN, KEYS, the SCAN family's MATCH and Pub/Sub patterns.
 *
 * The semantics are Redis 7.0's stringmatchlen(), quirks included, because
 * clients see them (a pattern subscription that matches on one server and
 * not the other is a lost message):
 *  - '*' any run of bytes, '?' any one byte, '\x' the byte x (a trailing
 *    lone '\' is a '\').
 *  - An empty subject matches only the empty pattern: "*" does not match
 *    "" (KEYS and SCAN treat the pattern "*" alone as "everything" before
 *    calling the matcher, so they still list the key "").
 *  - '[set]': '^' first complements it; '\x' is x compared exactly (never
 *    case-folded); 'a-z' is a range whenever the '-' has a byte after it,
 *    even ']' ("[a-]" is the range 'a'..']', and that ']' does not close
 *    the set); ends are compared as signed chars (the bytes 0x80-0xff sort
 *    below 0x00), swapped if given high-low, and only then case-folded; a
 *    set left open runs to the pattern's end; "[]" is empty, "[^]" any.
 *  - nocase folds ASCII letters only (Redis runs in the C locale for
 *    LC_CTYPE).
 *  - Redis gives up (no match) on reaching its 1001st '*' group when more
 *    pattern follows it (an abuse guard on its recursion depth);
 *    glob_star_limit() reproduces that so a long pattern answers alike.
 *
 * Cost is bounded: every element other than '*' consumes exactly one byte of
 * the subject, so on a mismatch it is enough to go back to the most recent
 * '*' and let it swallow one more byte; earlier stars never need revisiting.
 * That makes a match O(plen * slen) element tests whatever the pattern (the
 * naive recursive matcher is exponential on "a*a*a*...b"). */
#include "server/server.h"

#include <stdint.h>

/* Test seam: the unit test compiles this file with KR_GLOB_STEP defined to
 * count element tests, so the bound above is checked by counting, not by
 * timing. Production builds compile it to nothing. */
#ifndef KR_GLOB_STEP
#define KR_GLOB_STEP() ((void)0)
#endif

/* Redis's recursion limit, in '*' groups (see the top of the file). */
#define GLOB_MAX_STAR_GROUPS 1000

/* ASCII-only tolower on a char's value (signed, as Redis compares it). */
static inline int glob_fold(int ch, bool nocase)
{
	return nocase && ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Index just past the set that opens at p[i] == '['. Where a set ends
 * depends only on the pattern, never on the subject. */
static size_t glob_set_end(const char *p, size_t plen, size_t i)
{
	i++;
	if (i < plen && p[i] == '^')
		i++;
	while (i < plen) {
		if (p[i] == '\\' && i + 1 < plen)
			i += 2;
		else if (p[i] == ']')
			return i + 1;
		else if (i + 2 < plen && p[i + 1] == '-')
			i += 3;
		else
			i++;
	}
	return plen;
}

/* Test the one pattern element at p[*pi] (never '*') against ch and move
 * *pi past the element. Requires *pi < plen. */
static bool glob_elem(const char *p, size_t plen, size_t *pi, char ch, bool nocase)
{
	size_t i = *pi;
	int c = glob_fold((signed char)ch, nocase);

	KR_GLOB_STEP();
	if (p[i] == '?') {
		*pi = i + 1;
		return true;
	}
	if (p[i] == '\\' && i + 1 < plen) {
		*pi = i + 2;
		return glob_fold((signed char)p[i + 1], nocase) == c;
	}
	if (p[i] != '[') {
		*pi = i + 1;
		return glob_fold((signed char)p[i], nocase) == c;
	}

	/* A set: test every member up to its closing ']' (or the pattern's
	 * end). The order of the tests is what decides "[\]]", "[]a]",
	 * "[a-]" and "[a-\]". */
	bool negate = false, hit = false;
	i++;
	if (i < plen && p[i] == '^') {
		negate = true;
		i++;
	}
	while (i < plen) {
		if (p[i] == '\\' && i + 1 < plen) {
			if (p[i + 1] == ch)     /* exact, even with nocase */
				hit = true;
			i += 2;
		} else if (p[i] == ']') {
			i++;
			break;
		} else if (i + 2 < plen && p[i + 1] == '-') {
			int lo = (signed char)p[i], hi = (signed char)p[i + 2];
			if (lo > hi) {
				int t = lo;
				lo = hi;
				hi = t;
			}
			/* Folded after the swap, and not swapped again: with
			 * nocase "[Z-a]" is 'z'..'a', which holds nothing. */
			lo = glob_fold(lo, nocase);
			hi = glob_fold(hi, nocase);
			if (c >= lo && c <= hi)
				hit = true;
			i += 3;
		} else {
			if (glob_fold((signed char)p[i], nocase) == c)
				hit = true;
			i++;
		}
	}
	*pi = i;
	return hit != negate;
}

/* True if the pattern has a '*' group past Redis's recursion limit with
 * more pattern after it: Redis never matches such a pattern. Only a
 * pattern of more than 2 * GLOB_MAX_STAR_GROUPS bytes can. */
static bool glob_star_limit(const char *p, size_t plen)
{
	unsigned groups = 0;
	size_t i = 0;

	if (plen <= 2 * GLOB_MAX_STAR_GROUPS)
		return false;
	while (i < plen) {
		if (p[i] == '*') {
			while (i < plen && p[i] == '*')
				i++;
			if (++groups > GLOB_MAX_STAR_GROUPS)
				return i < plen;
		} else if (p[i] == '\\') {
			i += i + 1 < plen ? 2 : 1;
		} else if (p[i] == '[') {
			i = glob_set_end(p, plen, i);
		} else {
			i++;
		}
	}
	return false;
}

bool srv_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase)
{
	size_t pi = 0, si = 0;
	size_t star_p = SIZE_MAX;       /* pattern index just after the last '*' */
	size_t star_s = 0;              /* subject index that '*' matched up to */

	if (slen == 0)
		return plen == 0;
	if (glob_star_limit(pat, plen))
		return false;
	while (si < slen) {
		if (pi < plen && pat[pi] == '*') {
			while (pi < plen && pat[pi] == '*')
				pi++;
			if (pi == plen)
				return true;    /* trailing '*' eats the rest */
			star_p = pi;
			star_s = si;
			continue;
		}
		if (pi < plen) {
			size_t next = pi;
			if (glob_elem(pat, plen, &next, s[si], nocase)) {
				pi = next;
				si++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		/* Let the last '*' take one more byte and retry after it. */
		star_s++;
		si = star_s;
		pi = star_p;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}
