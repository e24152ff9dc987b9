/* server/glob.c — Redis-style glob matching, shared by CONFIG GET, KEYS and
 * SCAN MATCH.
 *
 * Syntax (Redis's): '*' any run of bytes, '?' any one byte, '[abc]' a set,
 * '[^abc]' its complement, '[a-z]' a range (ends may come in either order),
 * '\x' the byte x literally (inside sets too). Like Redis, '[]' is an empty
 * set, a set left open at the end of the pattern closes there, and a
 * trailing lone '\' matches a '\'.
 *
 * Cost is bounded: every element other than '*' consumes exactly one byte of
 * the subject, so on a mismatch it is enough to go back to the most recent
 * '*' and let it swallow one more byte; earlier stars never need revisiting.
 * That makes a match O(plen * slen) element tests whatever the pattern (the
 * naive recursive matcher is exponential on "a*a*a*...b"). */
#include "server/server.h"

#include <ctype.h>
#include <stdint.h>

/* Test seam: the unit test compiles this file with KR_GLOB_STEP defined to
 * count element tests, so the bound above is checked by counting, not by
 * timing. Production builds compile it to nothing. */
#ifndef KR_GLOB_STEP
#define KR_GLOB_STEP() ((void)0)
#endif

static inline unsigned char glob_fold(unsigned char ch, bool nocase)
{
	return nocase ? (unsigned char)tolower(ch) : ch;
}

/* Test the one pattern element at p[*pi] (never '*') against ch and move
 * *pi past the element. Requires *pi < plen. */
static bool glob_elem(const char *p, size_t plen, size_t *pi, unsigned char ch,
		      bool nocase)
{
	size_t i = *pi;
	unsigned char c = glob_fold(ch, nocase);

	KR_GLOB_STEP();
	if (p[i] == '?') {
		*pi = i + 1;
		return true;
	}
	if (p[i] == '\\' && i + 1 < plen) {
		*pi = i + 2;
		return glob_fold((unsigned char)p[i + 1], nocase) == c;
	}
	if (p[i] != '[') {
		*pi = i + 1;
		return glob_fold((unsigned char)p[i], nocase) == c;
	}

	/* A set: scan to its closing ']' (or the pattern's end). */
	bool negate = false, hit = false;
	i++;
	if (i < plen && p[i] == '^') {
		negate = true;
		i++;
	}
	while (i < plen && p[i] != ']') {
		if (p[i] == '\\' && i + 1 < plen) {
			if (glob_fold((unsigned char)p[i + 1], nocase) == c)
				hit = true;
			i += 2;
		} else if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
			unsigned char lo = glob_fold((unsigned char)p[i], nocase);
			unsigned char hi = glob_fold((unsigned char)p[i + 2], nocase);
			if (lo > hi) {
				unsigned char t = lo;
				lo = hi;
				hi = t;
			}
			if (c >= lo && c <= hi)
				hit = true;
			i += 3;
		} else {
			if (glob_fold((unsigned char)p[i], nocase) == c)
				hit = true;
			i++;
		}
	}
	*pi = i < plen ? i + 1 : i;     /* past ']' if there is one */
	return hit != negate;
}

bool srv_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase)
{
	size_t pi = 0, si = 0;
	size_t star_p = SIZE_MAX;       /* pattern index just after the last '*' */
	size_t star_s = 0;              /* subject index that '*' matched up to */

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
			if (glob_elem(pat, plen, &next, (unsigned char)s[si], nocase)) {
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
