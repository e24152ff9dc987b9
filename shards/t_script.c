/* shards/t_script.c — Lua scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO and
 * SCRIPT LOAD/EXISTS/FLUSH/KILL/HELP, with Redis 7.0's semantics, replies
 * and error texts.
 *
 * Interpreters. Each shard owns one Lua 5.1 state (sh->lua), created on the
 * shard's first script and closed by script_shard_free(). A script runs on
 * one shard, start to end, while that shard does nothing else, so it is
 * atomic by construction; redis.call() runs commands on that same shard
 * through route_exec(), on the script's db, and every key a called command
 * names must be one the shard may touch (cmd_key_local: owned here, or one
 * of the gathered keys when the routing layer runs the script on a scratch
 * db for keys spanning shards).
 *
 * Script cache. Bodies live in one process-wide store (sha1 -> body, a
 * mutex-protected hash table) touched only on a shard's cache miss, SCRIPT
 * LOAD/EXISTS/FLUSH and the EVAL of a body new to the shard. Each shard
 * keeps its own table of compiled functions (a Lua table keyed by the hex
 * sha), read without any lock. SCRIPT FLUSH empties the store and bumps a
 * global generation; a shard whose cache is older drops it on next use.
 *
 * Sandbox. As in Redis 7.0: base (without print, dofile, loadfile,
 * getfenv, setfenv, newproxy), table, string, math, cjson, bit, and the
 * `redis` table. Globals and library tables are read-only ("Attempt to
 * modify a readonly table"); reading a global that does not exist raises
 * "Script attempted to access nonexistent global variable". Debian's Lua
 * lacks Redis's read-only-table VM patch, so the globals a script sees are
 * an empty proxy whose metatable forwards reads to the real table and
 * refuses writes, and next/pairs/ipairs/rawget/rawset/setmetatable/unpack
 * and the table library see through (or refuse) proxies. Binary chunks are
 * refused everywhere (Lua 5.1 bytecode is not verified). math.random is
 * Redis's: a 48-bit LCG (lrand48) with the standard seed, per shard, never
 * reseeded except by math.randomseed. Not provided: struct, cmsgpack.
 *
 * Errors. A failing redis.call() raises the command's error text as a Lua
 * string (what pcall(redis.call, ...) returns in Redis 7.0); the shard
 * remembers the last one it raised so that, uncaught, it is replied as is,
 * while any other error gets Redis's "ERR " prefix. Both get the suffix
 * " script: <sha>, on @user_script:<line>." from the error handler.
 *
 * Busy scripts. A count hook runs every SCRIPT_HOOK_COUNT instructions;
 * past busy-reply-threshold the shard flags itself busy and lets
 * shard_busy_poll() serve other clients (-BUSY) and SCRIPT KILL. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "server/server.h"
#include "shards/script.h"
#include "shards/sha1.h"
#include "shards/shard_int.h"
#include "shards/propagate.h"   /* wstream */
#include "shards/replclient.h"  /* replica */

int luaopen_cjson(lua_State *L);   /* liblua5.1-cjson */

#define SCRIPT_HOOK_COUNT 100000      /* instructions between hook calls */
#define SCRIPT_GC_PERIOD 50           /* scripts between GC steps (as Redis) */
#define SCRIPT_MAX_DEPTH 1000         /* nesting of converted replies */
#define SCRIPT_REPLY_KEEP (1u << 20)  /* scratch reply buffer kept between calls */

#define MSG_KILLED "ERR Script killed by user with SCRIPT KILL..."
#define MSG_NOSCRIPT "NOSCRIPT No matching script. Please use EVAL."

/* Shebang flags ("#!lua flags=..."). */
enum {
	SF_SHEBANG = 1u << 0,   /* the script has a shebang: not a legacy script */
	SF_NO_WRITES = 1u << 1,
	SF_ALLOW_OOM = 1u << 2,
	SF_ALLOW_STALE = 1u << 3,
	SF_NO_CLUSTER = 1u << 4,
	SF_CROSS_SLOT = 1u << 5,
};

/* ============================================================== SHA-1 */

void script_sha1_hex(const void *data, size_t len, char out[41])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[20];
	kr_sha1(data, len, h);
	for (int i = 0; i < 20; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[40] = 0;
}

/* ====================================================== global store */

/* sha (40 lowercase hex) -> body. Written under g_store_mu by any shard;
 * g_script_gen is bumped (under the mutex) by every flush. */
struct store_ent {
	struct store_ent *next;
	char sha[40];
	size_t len;
	char body[];
};

static pthread_mutex_t g_store_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store_ent **g_store_tab;
static size_t g_store_nb, g_store_n;
static _Atomic uint64_t g_script_gen = 1;

static size_t store_hash(const char *sha)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 40; i++)
		h = (h ^ (unsigned char)sha[i]) * 1099511628211ull;
	return (size_t)h;
}

static struct store_ent *store_find_locked(const char *sha)
{
	if (!g_store_nb)
		return NULL;
	for (struct store_ent *e = g_store_tab[store_hash(sha) & (g_store_nb - 1)]; e; e = e->next)
		if (memcmp(e->sha, sha, 40) == 0)
			return e;
	return NULL;
}

static void store_grow_locked(void)
{
	size_t nb = g_store_nb ? g_store_nb * 2 : 64;
	struct store_ent **tab = calloc(nb, sizeof(*tab));
	if (!tab)
		abort();
	for (size_t i = 0; i < g_store_nb; i++) {
		struct store_ent *e = g_store_tab[i];
		while (e) {
			struct store_ent *next = e->next;
			size_t b = store_hash(e->sha) & (nb - 1);
			e->next = tab[b];
			tab[b] = e;
			e = next;
		}
	}
	free(g_store_tab);
	g_store_tab = tab;
	g_store_nb = nb;
}

/* Add sha -> body unless present. Allocation failure aborts (as rbuf). */
static void store_put(const char *sha, const char *body, size_t len)
{
	pthread_mutex_lock(&g_store_mu);
	if (!store_find_locked(sha)) {
		if (g_store_n >= g_store_nb)
			store_grow_locked();
		struct store_ent *e = malloc(sizeof(*e) + len + 1);
		if (!e)
			abort();
		memcpy(e->sha, sha, 40);
		e->len = len;
		memcpy(e->body, body, len);
		e->body[len] = 0;
		size_t b = store_hash(sha) & (g_store_nb - 1);
		e->next = g_store_tab[b];
		g_store_tab[b] = e;
		g_store_n++;
	}
	pthread_mutex_unlock(&g_store_mu);
}

/* A malloc'd copy of the body of sha (caller frees), or NULL. */
static char *store_get(const char *sha, size_t *len)
{
	char *copy = NULL;
	pthread_mutex_lock(&g_store_mu);
	struct store_ent *e = store_find_locked(sha);
	if (e) {
		copy = malloc(e->len + 1);
		if (!copy)
			abort();
		memcpy(copy, e->body, e->len + 1);
		*len = e->len;
	}
	pthread_mutex_unlock(&g_store_mu);
	return copy;
}

static void store_clear_locked(void)
{
	for (size_t i = 0; i < g_store_nb; i++) {
		struct store_ent *e = g_store_tab[i];
		while (e) {
			struct store_ent *next = e->next;
			free(e);
			e = next;
		}
		g_store_tab[i] = NULL;
	}
	g_store_n = 0;
}

static void store_flush(void)
{
	pthread_mutex_lock(&g_store_mu);
	store_clear_locked();
	atomic_fetch_add_explicit(&g_script_gen, 1, memory_order_acq_rel);
	pthread_mutex_unlock(&g_store_mu);
}

void script_store_free(void)
{
	pthread_mutex_lock(&g_store_mu);
	store_clear_locked();
	free(g_store_tab);
	g_store_tab = NULL;
	g_store_nb = 0;
	pthread_mutex_unlock(&g_store_mu);
}

/* Normalise a client-given sha (EVALSHA, SCRIPT EXISTS) to lower case.
 * false if it cannot name a script (wrong length). */
static bool sha_arg(const struct resp_arg *a, char sha[41])
{
	if (a->len != 40)
		return false;
	for (int i = 0; i < 40; i++)
		sha[i] = (char)tolower((unsigned char)a->p[i]);
	sha[40] = 0;
	return true;
}

/* ========================================================= the state */

struct lua_shard {
	lua_State *L;
	struct shard *sh;
	uint64_t gen;              /* g_script_gen the cache belongs to */
	/* Registry references. */
	int cache_ref;             /* sha -> compiled function */
	int flags_ref;             /* sha -> shebang flags (only if non-zero) */
	int globals_ref;           /* the real global table */
	int ro_ref;                /* read-only proxy -> the table it guards */
	int lasterr_ref;           /* last error text redis.call() raised */
	int errh_ref;              /* script_errh */
	uint64_t rand48;           /* math.random state (lrand48) */
	unsigned gc_count;
	/* The running script; valid while running. */
	bool running;
	bool ro;                   /* writes refused (EVAL_RO, no-writes) */
	bool busy;                 /* past busy-reply-threshold */
	bool killed;               /* stopping: raise at every line */
	int resp;                  /* redis.setresp(): 2 or 3 */
	struct cmd_ctx *ctx;       /* the EVAL's own context */
	struct ks_db *db;          /* the script's db (SELECT changes it) */
	int dbid;
	int64_t start_ms;
	char sha[41];
	/* Scratch, reused by every redis.call(). */
	struct rbuf reply;
	struct rbuf errbuf;
	struct resp_arg *argv;
	int argv_cap;
	int *idx;
	int idx_cap;
};

static struct lua_shard *owner(lua_State *L)
{
	void *ud;
	lua_getallocf(L, &ud);
	return ud;
}

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, nsize);
}

/* Only reached by an error outside any protected call: an allocation
 * failure while converting values (everything else runs under pcall). */
static int l_panic(lua_State *L)
{
	const char *m = lua_tostring(L, -1);
	srv_log(LL_WARNING, "Lua panic (out of memory?): %s", m ? m : "?");
	abort();
	return 0;
}

/* Push "key = value-string" as a one-field table ({ok=...}, {err=...}). */
static void push_field_table(lua_State *L, const char *field, const char *s, size_t n)
{
	lua_createtable(L, 0, 1);
	lua_pushlstring(L, s, n);
	lua_setfield(L, -2, field);
}

/* Raise msg as a Redis error: replied as is (no "ERR " added) if no Lua
 * code catches it; pcall sees the plain string. */
static int raise_redis_error(lua_State *L, struct lua_shard *ls, const char *msg, size_t n)
{
	lua_pushlstring(L, msg, n);
	lua_pushvalue(L, -1);
	lua_rawseti(L, LUA_REGISTRYINDEX, ls->lasterr_ref);
	return lua_error(L);
}

static int raise_redis_errorz(lua_State *L, struct lua_shard *ls, const char *msg)
{
	return raise_redis_error(L, ls, msg, strlen(msg));
}

/* ==================================================== read-only tables */

static int ro_error_nopos(lua_State *L)
{
	lua_pushliteral(L, "Attempt to modify a readonly table");
	return lua_error(L);
}

/* __newindex of proxies: the position is the assigning Lua code's. */
static int ro_newindex(lua_State *L)
{
	return luaL_error(L, "Attempt to modify a readonly table");
}

/* __index of the real globals: reading an undefined global is an error. */
static int g_missing(lua_State *L)
{
	const char *k = (lua_type(L, 2) == LUA_TSTRING || lua_type(L, 2) == LUA_TNUMBER)
			? lua_tostring(L, 2) : luaL_typename(L, 2);
	return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", k);
}

/* Is the value at (positive) idx a read-only proxy? If so and unwrap, it
 * is replaced in place by the table it guards. */
static bool ro_check(lua_State *L, struct lua_shard *ls, int idx, bool unwrap)
{
	if (lua_type(L, idx) != LUA_TTABLE)
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ro_ref);
	lua_pushvalue(L, idx);
	lua_rawget(L, -2);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 2);
		return false;
	}
	if (unwrap)
		lua_replace(L, idx);
	else
		lua_pop(L, 1);
	lua_pop(L, 1);
	return true;
}

/* Push a read-only proxy of the table at (positive) idx; guard is the
 * value getmetatable() shows for it. */
static void push_readonly(lua_State *L, struct lua_shard *ls, int idx, int guard)
{
	lua_newtable(L);
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, idx);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, guard);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ro_ref);
	lua_pushvalue(L, -2);
	lua_pushvalue(L, idx);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static int l_next(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	ro_check(L, owner(L), 1, true);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int l_pairs(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushvalue(L, lua_upvalueindex(1));   /* l_next */
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static int l_ipairs_aux(lua_State *L)
{
	int i = luaL_checkint(L, 2);
	luaL_checktype(L, 1, LUA_TTABLE);
	ro_check(L, owner(L), 1, true);
	i++;
	lua_pushinteger(L, i);
	lua_rawgeti(L, 1, i);
	return lua_isnil(L, -1) ? 0 : 2;
}

static int l_ipairs(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushvalue(L, lua_upvalueindex(1));   /* l_ipairs_aux */
	lua_pushvalue(L, 1);
	lua_pushinteger(L, 0);
	return 3;
}

static int l_rawget(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	lua_settop(L, 2);
	ro_check(L, owner(L), 1, true);
	lua_rawget(L, 1);
	return 1;
}

static int l_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	lua_settop(L, 3);
	if (ro_check(L, owner(L), 1, false))
		return ro_error_nopos(L);
	lua_rawset(L, 1);
	return 1;
}

/* setmetatable: upvalue 1 is the original. */
static int l_setmetatable(lua_State *L)
{
	if (ro_check(L, owner(L), 1, false))
		return ro_error_nopos(L);
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* Library functions working on a table given first: upvalue 1 is the
 * original, upvalue 2 true if it modifies the table. A proxy is refused
 * (writers) or replaced by the table it guards (readers). */
static int l_tabwrap(lua_State *L)
{
	if (ro_check(L, owner(L), 1, !lua_toboolean(L, lua_upvalueindex(2))) &&
	    lua_toboolean(L, lua_upvalueindex(2)))
		return ro_error_nopos(L);
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

static void wrap_field(lua_State *L, int t, const char *name, bool writes)
{
	lua_getfield(L, t, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	lua_pushboolean(L, writes);
	lua_pushcclosure(L, l_tabwrap, 2);
	lua_setfield(L, t, name);
}

/* loadstring/load refuse binary chunks: Lua 5.1 does not verify bytecode,
 * so a crafted chunk could break out of the sandbox. */
static int load_result(lua_State *L, int rc)
{
	if (rc == 0)
		return 1;
	lua_pushnil(L);
	lua_insert(L, -2);
	return 2;
}

static int l_loadstring(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *name = luaL_optstring(L, 2, s);
	if (n > 0 && s[0] == LUA_SIGNATURE[0]) {
		lua_pushnil(L);
		lua_pushliteral(L, "binary chunks are not allowed in scripts");
		return 2;
	}
	return load_result(L, luaL_loadbuffer(L, s, n, name));
}

static int l_load(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	const char *name = luaL_optstring(L, 2, "=(load)");
	luaL_Buffer b;
	lua_settop(L, 2);
	luaL_buffinit(L, &b);
	for (;;) {
		lua_pushvalue(L, 1);
		lua_call(L, 0, 1);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			break;
		}
		if (!lua_isstring(L, -1))
			return luaL_error(L, "reader function must return a string");
		size_t n;
		lua_tolstring(L, -1, &n);
		if (n == 0) {
			lua_pop(L, 1);
			break;
		}
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	if (n > 0 && s[0] == LUA_SIGNATURE[0]) {
		lua_pushnil(L);
		lua_pushliteral(L, "binary chunks are not allowed in scripts");
		return 2;
	}
	return load_result(L, luaL_loadbuffer(L, s, n, name));
}

/* ========================================================= math.random */

/* Redis's redisLrand48: x = (a*x + c) mod 2^48, 31 bits out. */
static uint32_t rand48_next(struct lua_shard *ls)
{
	ls->rand48 = (ls->rand48 * 0x5DEECE66Dull + 0xB) & ((1ull << 48) - 1);
	return (uint32_t)(ls->rand48 >> 17);
}

static int l_math_random(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	lua_Number r = (lua_Number)(rand48_next(ls) % 2147483647u) / (lua_Number)2147483647;
	switch (lua_gettop(L)) {
	case 0:
		lua_pushnumber(L, r);
		break;
	case 1: {
		int u = luaL_checkint(L, 1);
		luaL_argcheck(L, 1 <= u, 1, "interval is empty");
		lua_pushnumber(L, floor(r * u) + 1);
		break;
	}
	case 2: {
		int l = luaL_checkint(L, 1);
		int u = luaL_checkint(L, 2);
		luaL_argcheck(L, l <= u, 2, "interval is empty");
		lua_pushnumber(L, floor(r * ((lua_Number)u - (lua_Number)l + 1)) + l);
		break;
	}
	default:
		return luaL_error(L, "wrong number of arguments");
	}
	return 1;
}

static int l_math_randomseed(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	ls->rand48 = ((uint64_t)(uint32_t)luaL_checkint(L, 1) << 16) | 0x330E;
	return 0;
}

/* ================================================================ bit */

/* LuaBitOp's semantics: numbers are rounded to an integer and taken
 * modulo 2^32; results are signed 32-bit. */
static uint32_t bit_arg(lua_State *L, int i)
{
	lua_Number n = luaL_checknumber(L, i);
	if (!isfinite(n))
		return 0;
	n = fmod(nearbyint(n), 4294967296.0);
	if (n < 0)
		n += 4294967296.0;
	return (uint32_t)n;
}

static int bit_ret(lua_State *L, uint32_t b)
{
	lua_pushnumber(L, (lua_Number)(int32_t)b);
	return 1;
}

static int bit_tobit(lua_State *L) { return bit_ret(L, bit_arg(L, 1)); }
static int bit_bnot(lua_State *L) { return bit_ret(L, ~bit_arg(L, 1)); }

static int bit_band(lua_State *L)
{
	uint32_t b = bit_arg(L, 1);
	for (int i = lua_gettop(L); i > 1; i--)
		b &= bit_arg(L, i);
	return bit_ret(L, b);
}

static int bit_bor(lua_State *L)
{
	uint32_t b = bit_arg(L, 1);
	for (int i = lua_gettop(L); i > 1; i--)
		b |= bit_arg(L, i);
	return bit_ret(L, b);
}

static int bit_bxor(lua_State *L)
{
	uint32_t b = bit_arg(L, 1);
	for (int i = lua_gettop(L); i > 1; i--)
		b ^= bit_arg(L, i);
	return bit_ret(L, b);
}

static int bit_lshift(lua_State *L)
{
	uint32_t b = bit_arg(L, 1), n = bit_arg(L, 2) & 31;
	return bit_ret(L, b << n);
}

static int bit_rshift(lua_State *L)
{
	uint32_t b = bit_arg(L, 1), n = bit_arg(L, 2) & 31;
	return bit_ret(L, b >> n);
}

static int bit_arshift(lua_State *L)
{
	uint32_t b = bit_arg(L, 1), n = bit_arg(L, 2) & 31;
	/* Arithmetic shift without relying on signed >>. */
	uint32_t r = b >> n;
	if ((b & 0x80000000u) && n)
		r |= ~(0xFFFFFFFFu >> n);
	return bit_ret(L, r);
}

static uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> ((32 - n) & 31));
}

static int bit_rol(lua_State *L)
{
	uint32_t b = bit_arg(L, 1), n = bit_arg(L, 2) & 31;
	return bit_ret(L, rol32(b, n));
}

static int bit_ror(lua_State *L)
{
	uint32_t b = bit_arg(L, 1), n = bit_arg(L, 2) & 31;
	return bit_ret(L, rol32(b, (32 - n) & 31));
}

static int bit_bswap(lua_State *L)
{
	uint32_t b = bit_arg(L, 1);
	b = (b >> 24) | ((b >> 8) & 0xff00u) | ((b & 0xff00u) << 8) | (b << 24);
	return bit_ret(L, b);
}

static int bit_tohex(lua_State *L)
{
	uint32_t b = bit_arg(L, 1);
	int32_t n = lua_isnone(L, 2) ? 8 : (int32_t)bit_arg(L, 2);
	const char *digits = "0123456789abcdef";
	char buf[8];
	if (n < 0) {
		n = n == INT32_MIN ? 8 : -n;
		digits = "0123456789ABCDEF";
	}
	if (n > 8)
		n = 8;
	for (int i = n - 1; i >= 0; i--) {
		buf[i] = digits[b & 15];
		b >>= 4;
	}
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

static const luaL_Reg bit_funcs[] = {
	{ "tobit", bit_tobit }, { "bnot", bit_bnot }, { "band", bit_band },
	{ "bor", bit_bor }, { "bxor", bit_bxor }, { "lshift", bit_lshift },
	{ "rshift", bit_rshift }, { "arshift", bit_arshift }, { "rol", bit_rol },
	{ "ror", bit_ror }, { "bswap", bit_bswap }, { "tohex", bit_tohex },
	{ NULL, NULL },
};

/* ================================================= RESP -> Lua values */

static const char *find_crlf(const char *p, const char *end)
{
	const char *q = p;
	while (q < end) {
		q = memchr(q, '\r', (size_t)(end - q));
		if (!q || q + 1 >= end)
			return NULL;
		if (q[1] == '\n')
			return q;
		q++;
	}
	return NULL;
}

static bool parse_ll(const char *p, size_t n, long long *v)
{
	char buf[32];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = 0;
	char *end;
	*v = strtoll(buf, &end, 10);
	return *end == 0;
}

/* Push the reply value at p as a Lua value, per Redis's conversion rules
 * (RESP2: integer -> number, bulk -> string, null -> false, array ->
 * table, status -> {ok=}, error -> {err=}; RESP3 also: map -> {map=},
 * set -> {set=}, double -> {double=}, null -> nil, boolean, big number ->
 * {big_number=}, verbatim -> {verbatim_string={format=, string=}}).
 * Returns the end of the value, or NULL if it is malformed or too deep
 * (the stack then holds whatever was pushed: the caller raises). */
static const char *push_reply(lua_State *L, const char *p, const char *end, int depth)
{
	if (p >= end || depth > SCRIPT_MAX_DEPTH || !lua_checkstack(L, 8))
		return NULL;
	char t = *p;
	const char *eol = find_crlf(p + 1, end);
	if (!eol)
		return NULL;
	const char *line = p + 1;
	size_t llen = (size_t)(eol - line);
	const char *next = eol + 2;
	long long n;

	switch (t) {
	case '+':
		push_field_table(L, "ok", line, llen);
		return next;
	case '-':
		push_field_table(L, "err", line, llen);
		return next;
	case ':':
		if (!parse_ll(line, llen, &n))
			return NULL;
		lua_pushnumber(L, (lua_Number)n);
		return next;
	case '_':
		lua_pushnil(L);
		return next;
	case '#':
		lua_pushboolean(L, llen > 0 && line[0] == 't');
		return next;
	case ',': {
		char buf[64];
		if (llen >= sizeof(buf))
			return NULL;
		memcpy(buf, line, llen);
		buf[llen] = 0;
		lua_createtable(L, 0, 1);
		lua_pushnumber(L, strtod(buf, NULL));
		lua_setfield(L, -2, "double");
		return next;
	}
	case '(':
		push_field_table(L, "big_number", line, llen);
		return next;
	case '$':
	case '!':
	case '=': {
		if (!parse_ll(line, llen, &n))
			return NULL;
		if (n < 0) {
			if (t != '$')
				return NULL;
			lua_pushboolean(L, 0);
			return next;
		}
		if (end - next < n + 2)
			return NULL;
		if (t == '$') {
			lua_pushlstring(L, next, (size_t)n);
		} else if (t == '!') {
			push_field_table(L, "err", next, (size_t)n);
		} else {
			/* "fmt:text" */
			bool has_fmt = n >= 4 && next[3] == ':';
			lua_createtable(L, 0, 1);
			lua_createtable(L, 0, 2);
			lua_pushlstring(L, has_fmt ? next : "txt", 3);
			lua_setfield(L, -2, "format");
			lua_pushlstring(L, has_fmt ? next + 4 : next, (size_t)(has_fmt ? n - 4 : n));
			lua_setfield(L, -2, "string");
			lua_setfield(L, -2, "verbatim_string");
		}
		return next + n + 2;
	}
	case '*':
	case '>':
	case '~':
	case '%':
	case '|': {
		if (!parse_ll(line, llen, &n))
			return NULL;
		if (n < 0) {
			if (t != '*')
				return NULL;
			lua_pushboolean(L, 0);
			return next;
		}
		if (t == '|') {
			/* Attributes carry no reply data for scripts: skip them. */
			for (long long i = 0; i < 2 * n; i++) {
				if (!(next = push_reply(L, next, end, depth + 1)))
					return NULL;
				lua_pop(L, 1);
			}
			return push_reply(L, next, end, depth + 1);
		}
		if (t == '*' || t == '>') {
			lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
			for (long long i = 1; i <= n; i++) {
				if (!(next = push_reply(L, next, end, depth + 1)))
					return NULL;
				lua_rawseti(L, -2, (int)i);
			}
			return next;
		}
		lua_createtable(L, 0, 1);
		lua_createtable(L, 0, n > INT_MAX ? 0 : (int)n);
		for (long long i = 0; i < n; i++) {
			if (!(next = push_reply(L, next, end, depth + 1)))
				return NULL;
			if (t == '%') {
				if (!(next = push_reply(L, next, end, depth + 1)))
					return NULL;
			} else {
				lua_pushboolean(L, 1);
			}
			if (lua_isnil(L, -2))   /* a null key cannot index a table */
				lua_pop(L, 2);
			else
				lua_rawset(L, -3);
		}
		lua_setfield(L, -2, t == '%' ? "map" : "set");
		return next;
	}
	default:
		return NULL;
	}
}

/* ================================================= Lua values -> RESP */

/* An error or status line: CR/LF become spaces, a leading '-' of an
 * error is not doubled. */
static void add_line(struct rbuf *out, char type, const char *s, size_t n)
{
	if (type == '-' && n > 0 && s[0] == '-') {
		s++;
		n--;
	}
	rbuf_reserve(out, n + 3);
	char *p = out->data + out->len;
	p[0] = type;
	for (size_t i = 0; i < n; i++)
		p[1 + i] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
	p[1 + n] = '\r';
	p[2 + n] = '\n';
	out->len += n + 3;
}

/* Lua number -> integer reply as Redis (a C cast on x86-64): truncated
 * toward zero; NaN and out-of-range values give LLONG_MIN. */
static long long num_to_ll(lua_Number d)
{
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return LLONG_MIN;
	return (long long)d;
}

/* Push t[field] (raw) and return its type; the caller pops it. */
static int rawfield(lua_State *L, int t, const char *field)
{
	lua_pushstring(L, field);
	lua_rawget(L, t);
	return lua_type(L, -1);
}

static void lua_to_resp(struct lua_shard *ls, lua_State *L, int idx, struct rbuf *out,
			int proto, int depth);

static void table_to_resp(struct lua_shard *ls, lua_State *L, int t, struct rbuf *out,
			  int proto, int depth)
{
	size_t n;
	const char *s;

	if (rawfield(L, t, "err") == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &n);
		add_line(out, '-', s, n);
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	if (rawfield(L, t, "ok") == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &n);
		add_line(out, '+', s, n);
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	if (rawfield(L, t, "double") == LUA_TNUMBER) {
		resp_add_double(out, proto, (double)lua_tonumber(L, -1));
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	if (rawfield(L, t, "big_number") == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &n);
		if (proto >= 3)
			add_line(out, '(', s, n);
		else
			resp_add_bulk(out, s, n);
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	int kind = 0;
	if (rawfield(L, t, "map") == LUA_TTABLE)
		kind = 'm';
	else if ((lua_pop(L, 1), rawfield(L, t, "set")) == LUA_TTABLE)
		kind = 's';
	if (kind) {
		int m = lua_gettop(L);
		long long cnt = 0;
		lua_pushnil(L);
		while (lua_next(L, m)) {
			cnt++;
			lua_pop(L, 1);
		}
		if (kind == 'm')
			resp_add_map(out, proto, cnt);
		else
			resp_add_set(out, proto, cnt);
		lua_pushnil(L);
		while (lua_next(L, m)) {
			int top = lua_gettop(L);
			lua_to_resp(ls, L, top - 1, out, proto, depth + 1);
			if (kind == 'm')
				lua_to_resp(ls, L, top, out, proto, depth + 1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	if (rawfield(L, t, "verbatim_string") == LUA_TTABLE) {
		int v = lua_gettop(L);
		size_t fl;
		if (rawfield(L, v, "format") == LUA_TSTRING && rawfield(L, v, "string") == LUA_TSTRING) {
			const char *fmt = lua_tolstring(L, -2, &fl);
			s = lua_tolstring(L, -1, &n);
			resp_add_verbatim(out, proto, fl == 3 ? fmt : "txt", s, n);
			lua_pop(L, 3);
			return;
		}
		lua_settop(L, v);
	}
	lua_pop(L, 1);

	/* An array: elements 1.. up to the first nil. */
	long long cnt = 0;
	for (;;) {
		lua_rawgeti(L, t, (int)(cnt + 1));
		bool nil = lua_isnil(L, -1);
		lua_pop(L, 1);
		if (nil || cnt >= INT_MAX - 1)
			break;
		cnt++;
	}
	resp_add_array(out, cnt);
	for (long long i = 1; i <= cnt; i++) {
		lua_rawgeti(L, t, (int)i);
		lua_to_resp(ls, L, lua_gettop(L), out, proto, depth + 1);
		lua_pop(L, 1);
	}
}

/* Append the Lua value at idx as a reply to a client speaking proto.
 * Booleans follow the script's redis.setresp(): under RESP2 true -> 1 and
 * false -> null; under RESP3 they are RESP3 booleans. */
static void lua_to_resp(struct lua_shard *ls, lua_State *L, int idx, struct rbuf *out,
			int proto, int depth)
{
	if (depth > SCRIPT_MAX_DEPTH || !lua_checkstack(L, 8)) {
		add_line(out, '-', "ERR reached lua stack limit", 27);
		return;
	}
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		resp_add_bulk(out, s, n);
		break;
	}
	case LUA_TBOOLEAN:
		if (ls->resp == 3)
			resp_add_bool(out, proto, lua_toboolean(L, idx));
		else if (lua_toboolean(L, idx))
			resp_add_int(out, 1);
		else
			resp_add_null(out, proto);
		break;
	case LUA_TNUMBER:
		resp_add_int(out, num_to_ll(lua_tonumber(L, idx)));
		break;
	case LUA_TTABLE:
		table_to_resp(ls, L, idx, out, proto, depth);
		break;
	default:
		resp_add_null(out, proto);
		break;
	}
}

/* ========================================================= redis.call */

static int script_stop(lua_State *L, struct lua_shard *ls);
static void script_hook(lua_State *L, lua_Debug *ar);
static int script_errh(lua_State *L);

/* Commands Redis 7 refuses in scripts whose rows (owned elsewhere) do not
 * carry CMD_NOSCRIPT yet. */
static bool denied_by_name(const struct cmd_def *cmd)
{
	static const char *const names[] = { "config", "debug", "shutdown", NULL };
	for (int i = 0; names[i]; i++) {
		size_t n = strlen(names[i]);
		if (strncmp(cmd->name, names[i], n) == 0 && (cmd->name[n] == 0 || cmd->name[n] == '|'))
			return true;
	}
	return false;
}

static int call_fail(lua_State *L, struct lua_shard *ls, bool raise, const char *msg)
{
	if (raise)
		return raise_redis_errorz(L, ls, msg);
	push_field_table(L, "err", msg, strlen(msg));
	return 1;
}

/* A key the called command names that this script may not touch: the
 * error explains keyrail's rule (Redis Cluster's equivalent is "Script
 * attempted to access a non local key in a cluster node script"). */
static int call_nonlocal(lua_State *L, struct lua_shard *ls, bool raise, const struct resp_arg *key)
{
	struct rbuf *b = &ls->errbuf;
	int n = key->len > 128 ? 128 : (int)key->len;
	char head[400];
	b->len = 0;
	if (ls->ctx->scratch)
		snprintf(head, sizeof(head), "ERR Script attempted to access key '%.*s', which is not "
			 "declared in KEYS: a script whose keys span shards can only use the keys "
			 "it declares", n, key->p);
	else
		snprintf(head, sizeof(head), "ERR Script attempted to access key '%.*s', which lives "
			 "on another shard: declare every key the script uses in KEYS, with one hash "
			 "tag (e.g. {user1}:a, {user1}:b) to keep them on one shard", n, key->p);
	rbuf_append(b, head, strlen(head) + 1);
	return call_fail(L, ls, raise, b->data);
}

static void argv_reserve(struct lua_shard *ls, int n)
{
	if (n <= ls->argv_cap)
		return;
	int cap = ls->argv_cap ? ls->argv_cap : 16;
	while (cap < n)
		cap *= 2;
	struct resp_arg *a = realloc(ls->argv, sizeof(*a) * (size_t)cap);
	if (!a)
		abort();
	ls->argv = a;
	ls->argv_cap = cap;
}

/* Index of the first key of the called command this script may not
 * touch, or -1 if all may be touched. */
static int call_check_keys(struct lua_shard *ls, const struct cmd_ctx *sub)
{
	const struct cmd_def *cmd = sub->cmd;
	if (cmd->keys_fn) {
		int n = cmd->keys_fn(sub->argc, sub->argv, ls->idx, ls->idx_cap);
		if (n > ls->idx_cap) {
			int *idx = realloc(ls->idx, sizeof(int) * (size_t)n);
			if (!idx)
				abort();
			ls->idx = idx;
			ls->idx_cap = n;
			n = cmd->keys_fn(sub->argc, sub->argv, ls->idx, ls->idx_cap);
		}
		/* n < 0: malformed; the handler replies the error. */
		for (int i = 0; i < n && i < ls->idx_cap; i++) {
			const struct resp_arg *k = &sub->argv[ls->idx[i]];
			if (!cmd_key_local(sub, k->p, k->len))
				return ls->idx[i];
		}
		return -1;
	}
	int first, last, step;
	if (cmd_key_range(cmd, sub->argc, &first, &last, &step) == 0)
		return -1;
	for (int i = first; i <= last; i += step)
		if (!cmd_key_local(sub, sub->argv[i].p, sub->argv[i].len))
			return i;
	return -1;
}

/* SELECT inside a script: changes the script's db only. */
static void call_select(struct lua_shard *ls, struct cmd_ctx *sub)
{
	long long id;
	if (arg_to_ll(&sub->argv[1], &id) != 0) {
		resp_add_error(sub->out, ERR_NOTINT);
		return;
	}
	if (id < 0 || id >= shard_ks(ls->sh)->ndb) {
		resp_add_error(sub->out, ERR_DBRANGE);
		return;
	}
	if (ls->ctx->scratch && id != ls->dbid) {
		resp_add_error(sub->out, "ERR SELECT of another database is not supported in a script "
			       "whose keys span shards");
		return;
	}
	ls->dbid = (int)id;
	ls->db = &shard_ks(ls->sh)->db[id];
	resp_add_ok(sub->out);
}

/* redis.call (raise) and redis.pcall (!raise). */
static int call_generic(lua_State *L, bool raise)
{
	struct lua_shard *ls = owner(L);
	struct shard *sh = ls->sh;
	int argc = lua_gettop(L);

	if (!ls->running)
		return call_fail(L, ls, raise, "ERR redis.call() can only be used while a script runs");
	if (ls->killed)
		return script_stop(L, ls);
	if (argc == 0)
		return call_fail(L, ls, raise, "ERR Please specify at least one argument for this redis lib call");
	argv_reserve(ls, argc);
	for (int i = 1; i <= argc; i++) {
		int t = lua_type(L, i);
		if (t == LUA_TNUMBER) {
			/* Redis formats numbers with %.17g (3.14 -> "3.1400000000000001"). */
			char buf[64];
			int n = snprintf(buf, sizeof(buf), "%.17g", (double)lua_tonumber(L, i));
			lua_pushlstring(L, buf, (size_t)n);
			lua_replace(L, i);
		} else if (t != LUA_TSTRING) {
			return call_fail(L, ls, raise, "ERR Lua redis lib command arguments must be strings or integers");
		}
		size_t n;
		ls->argv[i - 1].p = lua_tolstring(L, i, &n);
		ls->argv[i - 1].len = n;
	}

	const struct cmd_def *cmd = cmd_lookup(ls->argv[0].p, ls->argv[0].len);
	if (cmd && cmd->subs && !(argc == 1 && cmd->fn)) {
		if (argc < 2)
			return call_fail(L, ls, raise, "ERR Wrong number of args calling Redis command from script");
		cmd = cmd_lookup_sub(cmd, ls->argv[1].p, ls->argv[1].len);
	}
	if (!cmd || !cmd->fn || (cmd->flags & CMD_INTERNAL))
		return call_fail(L, ls, raise, "ERR Unknown Redis command called from script");
	if (cmd->arity > 0 ? argc != cmd->arity : argc < -cmd->arity)
		return call_fail(L, ls, raise, "ERR Wrong number of args calling Redis command from script");
	bool is_select = strcmp(cmd->name, "select") == 0;
	if ((cmd->flags & (CMD_NOSCRIPT | CMD_BLOCKING | CMD_PROTECTED)) ||
	    ((cmd->flags & CMD_CONN) && !is_select) || denied_by_name(cmd))
		return call_fail(L, ls, raise, "ERR This Redis command is not allowed from script");
	if (ls->ro && (cmd->flags & CMD_WRITE))
		return call_fail(L, ls, raise, "ERR Write commands are not allowed from read-only scripts.");
	if ((cmd->flags & CMD_WRITE) && !replclient_script_may_write(sh) &&
	    !(ls->ctx->c && replclient_is_master(ls->ctx->c)))   /* replica */
		return call_fail(L, ls, raise, "READONLY You can't write against a read only replica.");
	/* Whole-keyspace commands would see one shard (or the scratch db). */
	if ((cmd->flags & CMD_BCAST || cmd->route_fn) && (g_nshards > 1 || ls->ctx->scratch))
		return call_fail(L, ls, raise, "ERR This command works on every shard and cannot be "
				 "called from a script when keyrail runs more than one shard");

	struct cmd_ctx sub = {
		.sh = sh,
		.c = NULL,
		.out = &ls->reply,
		.cmd = cmd,
		.argc = argc,
		.argv = ls->argv,
		.db = ls->db,
		.dbid = ls->dbid,
		.proto = ls->resp,
		.now_ms = ls->ctx->now_ms,   /* time stands still during a script */
		.may_block = false,
		.in_script = true,
		.in_multi = ls->ctx->in_multi,
		.scratch = ls->ctx->scratch,
		.ngkeys = ls->ctx->ngkeys,
		.gkeys = ls->ctx->gkeys,
		.gwritten = ls->ctx->gwritten,
	};
	int bad = call_check_keys(ls, &sub);
	if (bad >= 0)
		return call_nonlocal(L, ls, raise, &ls->argv[bad]);

	if (cmd->flags & CMD_WRITE) {
		/* Announce the write before making it: SCRIPT KILL sets
		 * script_kill then reads script_wrote, so at least one side sees
		 * the other; a kill that got in first stops the script before it
		 * writes anything. */
		atomic_store(&sh->script_wrote, true);
		if (atomic_load(&sh->script_kill))
			return script_stop(L, ls);
	}

	ls->reply.len = 0;
	if (is_select) {
		call_select(ls, &sub);
	} else if ((cmd->flags & CMD_BCAST) && cmd->merge == MERGE_CUSTOM && cmd->merge_fn) {
		/* One shard: the merge step still shapes the reply (INFO). */
		struct rbuf part = {0};
		sub.out = &part;
		route_exec(sh, &sub);
		sub.out = &ls->reply;
		cmd->merge_fn(&sub, &part, 1);
		rbuf_free(&part);
	} else {
		route_exec(sh, &sub);
	}
	ls->ctx->dirty += sub.dirty;

	const char *p = ls->reply.data, *end = p + ls->reply.len;
	if (ls->reply.len == 0)
		return call_fail(L, ls, raise, "ERR the command sent no reply");
	if (p[0] == '-' || p[0] == '!') {
		/* The command's error: raised (call) or returned (pcall). */
		lua_settop(L, 0);
		if (!push_reply(L, p, end, 0))
			return call_fail(L, ls, raise, "ERR malformed error reply from the command");
		lua_getfield(L, -1, "err");
		size_t n;
		const char *m = lua_tolstring(L, -1, &n);
		if (raise)
			return raise_redis_error(L, ls, m, n);
		lua_pop(L, 1);
		return 1;
	}
	lua_settop(L, 0);
	if (!push_reply(L, p, end, 0))
		return call_fail(L, ls, raise, "ERR reply of the command too deep or malformed for Lua");
	if (ls->reply.cap > SCRIPT_REPLY_KEEP)
		rbuf_free(&ls->reply);
	return 1;
}

static int l_redis_call(lua_State *L) { return call_generic(L, true); }
static int l_redis_pcall(lua_State *L) { return call_generic(L, false); }

/* ============================================== the rest of `redis` */

static int reply_table(lua_State *L, const char *field)
{
	if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
		push_field_table(L, "err", "ERR wrong number or type of arguments",
				 strlen("ERR wrong number or type of arguments"));
		return 1;
	}
	size_t n;
	const char *s = lua_tolstring(L, 1, &n);
	push_field_table(L, field, s, n);
	return 1;
}

static int l_error_reply(lua_State *L) { return reply_table(L, "err"); }
static int l_status_reply(lua_State *L) { return reply_table(L, "ok"); }

static int l_sha1hex(lua_State *L)
{
	if (lua_gettop(L) != 1)
		return raise_redis_errorz(L, owner(L), "ERR wrong number of arguments");
	size_t n = 0;
	const char *s = lua_tolstring(L, 1, &n);
	char hex[41];
	script_sha1_hex(s ? s : "", s ? n : 0, hex);
	lua_pushlstring(L, hex, 40);
	return 1;
}

static int l_log(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	int argc = lua_gettop(L);
	if (argc < 2)
		return raise_redis_errorz(L, ls, "ERR redis.log() requires two arguments or more.");
	if (!lua_isnumber(L, 1))
		return raise_redis_errorz(L, ls, "ERR First argument must be a number (log level).");
	lua_Number lv = lua_tonumber(L, 1);
	if (!(lv >= LL_DEBUG && lv <= LL_WARNING))
		return raise_redis_errorz(L, ls, "ERR Invalid debug level.");
	struct rbuf *b = &ls->errbuf;
	b->len = 0;
	for (int i = 2; i <= argc; i++) {
		size_t n;
		const char *s = lua_tolstring(L, i, &n);
		if (!s)
			continue;
		if (i != 2)
			rbuf_append(b, " ", 1);
		rbuf_append(b, s, n);
	}
	rbuf_append(b, "", 1);
	srv_log((int)lv, "%s", b->data);
	return 0;
}

static int l_setresp(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	if (lua_gettop(L) != 1)
		return raise_redis_errorz(L, ls, "ERR redis.setresp() requires one argument.");
	lua_Number v = lua_tonumber(L, 1);
	if (v != 2 && v != 3)
		return raise_redis_errorz(L, ls, "ERR RESP version must be 2 or 3.");
	ls->resp = (int)v;
	return 0;
}

/* Replication is effects-based and keyrail has no replicas yet: the call
 * is validated as Redis does and has no effect. */
static int l_set_repl(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	if (lua_gettop(L) != 1)
		return raise_redis_errorz(L, ls, "ERR redis.set_repl() requires two arguments.");
	lua_Number v = lua_tonumber(L, 1);
	if (!(v >= 0 && v <= 3) || v != floor(v))
		return raise_redis_errorz(L, ls, "ERR Invalid replication flags. Use REPL_AOF, "
					  "REPL_REPLICA, REPL_ALL or REPL_NONE.");
	return 0;
}

static int l_replicate_commands(lua_State *L)
{
	lua_pushboolean(L, 1);
	return 1;
}

/* No script debugger: breakpoint() never stops, debug() prints nothing. */
static int l_breakpoint(lua_State *L)
{
	lua_pushboolean(L, 0);
	return 1;
}

static int l_debug(lua_State *L)
{
	(void)L;
	return 0;
}

/* keyrail has no ACL users besides the default one, who may run every
 * command: only the command's existence is checked. */
static int l_acl_check_cmd(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	int argc = lua_gettop(L);
	size_t n = 0, n2 = 0;
	const char *name = argc >= 1 ? lua_tolstring(L, 1, &n) : NULL;
	const struct cmd_def *cmd = name ? cmd_lookup(name, n) : NULL;
	if (cmd && cmd->subs && argc >= 2) {
		const char *sub = lua_tolstring(L, 2, &n2);
		const struct cmd_def *s = sub ? cmd_lookup_sub(cmd, sub, n2) : NULL;
		if (s)
			cmd = s;
	}
	if (!cmd)
		return raise_redis_errorz(L, ls, "ERR Invalid command passed to redis.acl_check_cmd()");
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg redis_funcs[] = {
	{ "call", l_redis_call }, { "pcall", l_redis_pcall },
	{ "error_reply", l_error_reply }, { "status_reply", l_status_reply },
	{ "sha1hex", l_sha1hex }, { "log", l_log }, { "setresp", l_setresp },
	{ "set_repl", l_set_repl }, { "replicate_commands", l_replicate_commands },
	{ "breakpoint", l_breakpoint }, { "debug", l_debug },
	{ "acl_check_cmd", l_acl_check_cmd },
	{ NULL, NULL },
};

/* ========================================================== set-up */

static void set_number(lua_State *L, int t, const char *name, lua_Number v)
{
	lua_pushnumber(L, v);
	lua_setfield(L, t, name);
}

static void open_lib(lua_State *L, lua_CFunction f, const char *name)
{
	lua_pushcfunction(L, f);
	lua_pushstring(L, name);
	lua_call(L, 1, 0);
}

static int registry_slot(lua_State *L)
{
	lua_newtable(L);
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Build the sandboxed interpreter (see the file comment). Runs under
 * lua_cpcall, so allocation failures surface as an error code. */
static int lua_setup(lua_State *L)
{
	struct lua_shard *ls = lua_touserdata(L, 1);
	lua_settop(L, 0);

	open_lib(L, luaopen_base, "");
	open_lib(L, luaopen_table, LUA_TABLIBNAME);
	open_lib(L, luaopen_string, LUA_STRLIBNAME);
	open_lib(L, luaopen_math, LUA_MATHLIBNAME);
	lua_pushcfunction(L, luaopen_cjson);
	lua_call(L, 0, 1);
	lua_setglobal(L, "cjson");

	ls->ro_ref = registry_slot(L);
	ls->cache_ref = registry_slot(L);
	ls->flags_ref = registry_slot(L);
	lua_pushboolean(L, 0);
	ls->lasterr_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcfunction(L, script_errh);
	ls->errh_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_pushvalue(L, LUA_GLOBALSINDEX);
	int G = lua_gettop(L);
	static const char *const removed[] = { "print", "dofile", "loadfile", "getfenv", "setfenv",
					       "newproxy", "module", "require", NULL };
	for (int i = 0; removed[i]; i++) {
		lua_pushnil(L);
		lua_setfield(L, G, removed[i]);
	}
	lua_pushcfunction(L, l_loadstring);
	lua_setfield(L, G, "loadstring");
	lua_pushcfunction(L, l_load);
	lua_setfield(L, G, "load");

	/* Iteration and raw access that see through read-only proxies. */
	lua_pushcfunction(L, l_next);
	lua_pushvalue(L, -1);
	lua_setfield(L, G, "next");
	lua_pushcclosure(L, l_pairs, 1);
	lua_setfield(L, G, "pairs");
	lua_pushcfunction(L, l_ipairs_aux);
	lua_pushcclosure(L, l_ipairs, 1);
	lua_setfield(L, G, "ipairs");
	lua_pushcfunction(L, l_rawget);
	lua_setfield(L, G, "rawget");
	lua_pushcfunction(L, l_rawset);
	lua_setfield(L, G, "rawset");
	lua_getfield(L, G, "setmetatable");
	lua_pushcclosure(L, l_setmetatable, 1);
	lua_setfield(L, G, "setmetatable");
	wrap_field(L, G, "unpack", false);
	lua_getfield(L, G, "table");
	int tab = lua_gettop(L);
	wrap_field(L, tab, "insert", true);
	wrap_field(L, tab, "remove", true);
	wrap_field(L, tab, "sort", true);
	wrap_field(L, tab, "setn", true);
	wrap_field(L, tab, "concat", false);
	wrap_field(L, tab, "foreach", false);
	wrap_field(L, tab, "foreachi", false);
	wrap_field(L, tab, "getn", false);
	wrap_field(L, tab, "maxn", false);
	lua_pop(L, 1);

	lua_getfield(L, G, "math");
	lua_pushcfunction(L, l_math_random);
	lua_setfield(L, -2, "random");
	lua_pushcfunction(L, l_math_randomseed);
	lua_setfield(L, -2, "randomseed");
	lua_pop(L, 1);

	lua_newtable(L);
	luaL_register(L, NULL, bit_funcs);
	lua_setfield(L, G, "bit");

	lua_newtable(L);
	int r = lua_gettop(L);
	luaL_register(L, NULL, redis_funcs);
	set_number(L, r, "LOG_DEBUG", LL_DEBUG);
	set_number(L, r, "LOG_VERBOSE", LL_VERBOSE);
	set_number(L, r, "LOG_NOTICE", LL_NOTICE);
	set_number(L, r, "LOG_WARNING", LL_WARNING);
	set_number(L, r, "REPL_NONE", 0);
	set_number(L, r, "REPL_AOF", 1);
	set_number(L, r, "REPL_SLAVE", 2);
	set_number(L, r, "REPL_REPLICA", 2);
	set_number(L, r, "REPL_ALL", 3);
	lua_pushstring(L, KR_VERSION);
	lua_setfield(L, r, "REDIS_VERSION");
	{
		int maj = 0, min = 0, pat = 0;
		sscanf(KR_VERSION, "%d.%d.%d", &maj, &min, &pat);
		set_number(L, r, "REDIS_VERSION_NUM", (maj << 16) | (min << 8) | pat);
	}
	lua_setfield(L, G, "redis");

	/* What getmetatable() shows for a protected table: itself
	 * unmodifiable. */
	lua_newtable(L);
	int guard = lua_gettop(L);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, guard);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ro_ref);
	lua_pushvalue(L, guard);
	lua_pushvalue(L, guard);
	lua_rawset(L, -3);
	lua_pop(L, 1);

	static const char *const libs[] = { "string", "table", "math", "coroutine", "redis",
					    "cjson", "bit", NULL };
	for (int i = 0; libs[i]; i++) {
		lua_getfield(L, G, libs[i]);
		if (lua_istable(L, -1)) {
			push_readonly(L, ls, lua_gettop(L), guard);
			lua_setfield(L, G, libs[i]);
		}
		lua_pop(L, 1);
	}
	/* Strings' metatable leads to the string library: hide it behind a
	 * read-only view too. */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		int smt = lua_gettop(L);
		lua_createtable(L, 0, 1);
		lua_getfield(L, G, "string");
		lua_setfield(L, -2, "__index");
		push_readonly(L, ls, lua_gettop(L), guard);
		lua_setfield(L, smt, "__metatable");
		lua_pop(L, 2);
	}
	lua_pop(L, 1);

	/* Undefined globals raise; scripts see a read-only proxy of G as the
	 * globals of every function they compile (the thread's globals). */
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, g_missing);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, guard);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, G);
	push_readonly(L, ls, G, guard);
	lua_pushvalue(L, -1);
	lua_setfield(L, G, "_G");
	lua_replace(L, LUA_GLOBALSINDEX);
	lua_pushvalue(L, G);
	ls->globals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_settop(L, 0);
	return 0;
}

/* The shard's interpreter, created on first use; NULL if it cannot be. */
static struct lua_shard *lua_shard_get(struct shard *sh)
{
	if (sh->lua)
		return sh->lua;
	struct lua_shard *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return NULL;
	ls->sh = sh;
	ls->rand48 = 0x1234ABCD330Eull;   /* lrand48's default seed, as Redis */
	ls->resp = 2;
	ls->gen = atomic_load_explicit(&g_script_gen, memory_order_acquire);
	ls->L = lua_newstate(l_alloc, ls);
	if (!ls->L) {
		free(ls);
		return NULL;
	}
	lua_atpanic(ls->L, l_panic);
	if (lua_cpcall(ls->L, lua_setup, ls) != 0) {
		srv_log(LL_WARNING, "Shard %u: cannot set up the Lua interpreter: %s", sh->id,
			lua_tostring(ls->L, -1) ? lua_tostring(ls->L, -1) : "?");
		lua_close(ls->L);
		free(ls);
		return NULL;
	}
	lua_sethook(ls->L, script_hook, LUA_MASKCOUNT, SCRIPT_HOOK_COUNT);
	sh->lua = ls;
	return ls;
}

void script_shard_free(struct shard *sh)
{
	struct lua_shard *ls = sh->lua;
	if (!ls)
		return;
	lua_close(ls->L);
	rbuf_free(&ls->reply);
	rbuf_free(&ls->errbuf);
	free(ls->argv);
	free(ls->idx);
	free(ls);
	sh->lua = NULL;
}

/* ========================================================= the cache */

/* Drop the compiled functions if SCRIPT FLUSH ran since they were
 * compiled. Called before any other cache or store access. */
static void cache_sync(struct lua_shard *ls)
{
	uint64_t g = atomic_load_explicit(&g_script_gen, memory_order_acquire);
	if (g == ls->gen)
		return;
	lua_State *L = ls->L;
	lua_newtable(L);
	lua_rawseti(L, LUA_REGISTRYINDEX, ls->cache_ref);
	lua_newtable(L);
	lua_rawseti(L, LUA_REGISTRYINDEX, ls->flags_ref);
	lua_gc(L, LUA_GCCOLLECT, 0);
	ls->gen = g;
}

/* Push the compiled function of sha and return its flags, or return -1
 * (nothing pushed) if this shard has not compiled it. */
static int cache_get(struct lua_shard *ls, const char *sha)
{
	lua_State *L = ls->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->cache_ref);
	lua_pushlstring(L, sha, 40);
	lua_rawget(L, -2);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 2);
		return -1;
	}
	lua_remove(L, -2);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->flags_ref);
	lua_pushlstring(L, sha, 40);
	lua_rawget(L, -2);
	int flags = lua_isnumber(L, -1) ? (int)lua_tonumber(L, -1) : 0;
	lua_pop(L, 2);
	return flags;
}

/* Cache the function on top of the stack (left there). */
static void cache_put(struct lua_shard *ls, const char *sha, unsigned flags)
{
	lua_State *L = ls->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->cache_ref);
	lua_pushlstring(L, sha, 40);
	lua_pushvalue(L, -3);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	if (flags) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, ls->flags_ref);
		lua_pushlstring(L, sha, 40);
		lua_pushnumber(L, flags);
		lua_rawset(L, -3);
		lua_pop(L, 1);
	}
}

/* Parse a "#!lua [flags=a,b,...]" first line. Sets *flags and *skip (bytes
 * before the line's '\n', which is kept so line numbers stay right).
 * Replies Redis's error into out and returns -1 on a bad shebang. */
static int parse_shebang(struct rbuf *out, const char *body, size_t len, unsigned *flags, size_t *skip)
{
	*flags = 0;
	*skip = 0;
	if (len < 2 || body[0] != '#' || body[1] != '!')
		return 0;
	const char *nl = memchr(body, '\n', len);
	if (!nl) {
		resp_add_error(out, "ERR Invalid script shebang");
		return -1;
	}
	static const struct { const char *name; unsigned flag; } known[] = {
		{ "no-writes", SF_NO_WRITES }, { "allow-oom", SF_ALLOW_OOM },
		{ "allow-stale", SF_ALLOW_STALE }, { "no-cluster", SF_NO_CLUSTER },
		{ "allow-cross-slot-keys", SF_CROSS_SLOT },
	};
	unsigned f = SF_SHEBANG;
	const char *p = body;
	for (int word = 0;; word++) {
		while (p < nl && isspace((unsigned char)*p))
			p++;
		if (p >= nl)
			break;
		const char *w = p;
		while (p < nl && !isspace((unsigned char)*p))
			p++;
		int wl = (int)(p - w);
		if (word == 0) {
			if (wl != 5 || memcmp(w, "#!lua", 5) != 0) {
				resp_add_errorf(out, "ERR Unexpected engine in script shebang: %.*s", wl, w);
				return -1;
			}
			continue;
		}
		if (wl < 6 || memcmp(w, "flags=", 6) != 0) {
			resp_add_errorf(out, "ERR Unknown lua shebang option: %.*s", wl, w);
			return -1;
		}
		const char *q = w + 6;
		if (q == p)
			continue;   /* "flags=": none */
		for (;;) {
			const char *c = memchr(q, ',', (size_t)(p - q));
			const char *fe = c ? c : p;
			size_t fl = (size_t)(fe - q);
			size_t k;
			for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				if (strlen(known[k].name) == fl && memcmp(known[k].name, q, fl) == 0)
					break;
			if (k == sizeof(known) / sizeof(known[0])) {
				resp_add_errorf(out, "ERR Unexpected flag in script shebang: %.*s", (int)fl, q);
				return -1;
			}
			f |= known[k].flag;
			if (!c)
				break;
			q = c + 1;
		}
	}
	*flags = f;
	*skip = (size_t)(nl - body);
	return 0;
}

/* Compile body, push the function and cache it under sha. Replies the
 * error into out and returns -1 (nothing pushed) if it does not compile. */
static int script_compile(struct lua_shard *ls, struct rbuf *out, const char *sha,
			  const char *body, size_t len, unsigned *flags)
{
	size_t skip;
	if (parse_shebang(out, body, len, flags, &skip) != 0)
		return -1;
	const char *code = body + skip;
	size_t clen = len - skip;
	/* Source text only: the lexer stops at ESC just as Redis's does. */
	if (clen > 0 && code[0] == LUA_SIGNATURE[0]) {
		resp_add_error(out, "ERR Error compiling script (new function): user_script:1: "
			       "unexpected symbol near 'char(27)'");
		return -1;
	}
	if (luaL_loadbuffer(ls->L, code, clen, "@user_script") != 0) {
		size_t n;
		const char *m = lua_tolstring(ls->L, -1, &n);
		struct rbuf *b = &ls->errbuf;
		static const char pre[] = "ERR Error compiling script (new function): ";
		b->len = 0;
		rbuf_append(b, pre, sizeof(pre) - 1);
		rbuf_append(b, m ? m : "?", m ? n : 1);
		add_line(out, '-', b->data, b->len);
		lua_pop(ls->L, 1);
		return -1;
	}
	cache_put(ls, sha, *flags);
	return 0;
}

/* ============================================================ running */

/* Error handler of the script's pcall: turns any error value into the
 * final error text, "<message> script: <sha>, on <source>:<line>.". */
static int script_errh(lua_State *L)
{
	struct lua_shard *ls = owner(L);
	struct rbuf *b = &ls->errbuf;
	lua_Debug ar;
	char src[128] = "";
	int line = -1;

	/* The innermost Lua function: skip error(), redis.call() and other
	 * C functions between it and the raise. */
	for (int lv = 1; lua_getstack(L, lv, &ar); lv++) {
		if (!lua_getinfo(L, "Sl", &ar))
			break;
		if (strcmp(ar.what, "C") != 0) {
			snprintf(src, sizeof(src), "%s", ar.source);
			line = ar.currentline;
			break;
		}
	}

	lua_settop(L, 1);
	b->len = 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->lasterr_ref);
	bool redis_err = lua_type(L, 1) == LUA_TSTRING && lua_rawequal(L, 1, 2);
	lua_pop(L, 1);
	size_t n;
	const char *s;
	if (redis_err) {
		s = lua_tolstring(L, 1, &n);
		rbuf_append(b, s, n);
	} else if (lua_type(L, 1) == LUA_TTABLE && rawfield(L, 1, "err") == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &n);
		rbuf_append(b, s, n);
	} else {
		rbuf_append(b, "ERR ", 4);
		switch (lua_type(L, 1)) {
		case LUA_TSTRING:
		case LUA_TNUMBER:
			s = lua_tolstring(L, 1, &n);
			rbuf_append(b, s, n);
			break;
		case LUA_TNIL:
			rbuf_append(b, "nil", 3);
			break;
		case LUA_TBOOLEAN:
			s = lua_toboolean(L, 1) ? "true" : "false";
			rbuf_append(b, s, strlen(s));
			break;
		default: {
			char tmp[64];
			int k = snprintf(tmp, sizeof(tmp), "%s: %p", luaL_typename(L, 1), lua_topointer(L, 1));
			rbuf_append(b, tmp, (size_t)k);
			break;
		}
		}
	}
	if (line >= 0 || src[0]) {
		char tail[256];
		int k = snprintf(tail, sizeof(tail), " script: %s, on %s:%d.", ls->sha, src, line);
		rbuf_append(b, tail, (size_t)k < sizeof(tail) ? (size_t)k : sizeof(tail) - 1);
	}
	lua_pushlstring(L, b->data, b->len);
	return 1;
}

/* Count hook: busy detection, SCRIPT KILL and shutdown. */
static void script_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct lua_shard *ls = owner(L);
	struct shard *sh = ls->sh;
	if (!ls->running)
		return;
	bool stop = ls->killed || atomic_load_explicit(&g_shutdown, memory_order_acquire);
	if (!stop && !ls->busy) {
		long long thr = shard_cfg(sh)->busy_reply_threshold_ms;
		int64_t el = shard_clock_ms() - ls->start_ms;
		if (thr <= 0 || el < thr)
			return;
		ls->busy = true;
		atomic_store(&sh->script_busy, true);
		srv_log(LL_WARNING, "Slow script detected: still in execution after %lld milliseconds. "
			"You can try killing the script using the SCRIPT KILL command. Script SHA1 is: %s",
			(long long)el, ls->sha);
	}
	if (!stop) {
		/* A script that wrote is never killed: its effects would be
		 * half applied (SCRIPT KILL answers UNKILLABLE). */
		bool asked = shard_busy_poll(sh);
		asked = asked || atomic_load(&sh->script_kill);
		stop = (asked && !atomic_load(&sh->script_wrote)) ||
		       atomic_load_explicit(&g_shutdown, memory_order_acquire);
	}
	if (stop)
		script_stop(L, ls);
}

/* Stop the running script: raise the kill error now, and at every line
 * from now on so that a pcall in the script cannot swallow it. */
static int script_stop(lua_State *L, struct lua_shard *ls)
{
	if (!ls->killed) {
		ls->killed = true;
		srv_log(LL_WARNING, "Lua script killed by user with SCRIPT KILL.");
	}
	lua_sethook(L, script_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
	if (L != ls->L)
		lua_sethook(ls->L, script_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
	return raise_redis_errorz(L, ls, MSG_KILLED);
}

static void set_args_table(lua_State *L, int G, const char *name, const struct resp_arg *a, int n)
{
	lua_pushstring(L, name);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushlstring(L, a[i].p, a[i].len);
		lua_rawseti(L, -2, i + 1);
	}
	lua_rawset(L, G);
}

/* Run the function on top of the stack as the script of ctx (KEYS =
 * argv[3..3+nk), ARGV = the rest) and reply its result or error. */
static void script_run(struct lua_shard *ls, struct cmd_ctx *ctx, const char *sha, int nk, bool ro)
{
	lua_State *L = ls->L;
	struct shard *sh = ls->sh;

	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->errh_ref);
	lua_insert(L, -2);
	int base = lua_gettop(L) - 1;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->globals_ref);
	int G = lua_gettop(L);
	set_args_table(L, G, "KEYS", ctx->argv + 3, nk);
	set_args_table(L, G, "ARGV", ctx->argv + 3 + nk, ctx->argc - 3 - nk);
	lua_pop(L, 1);
	lua_pushboolean(L, 0);
	lua_rawseti(L, LUA_REGISTRYINDEX, ls->lasterr_ref);

	memcpy(ls->sha, sha, 41);
	ls->ctx = ctx;
	ls->db = ctx->db;
	ls->dbid = ctx->dbid;
	ls->ro = ro;
	ls->resp = 2;
	ls->busy = false;
	ls->killed = false;
	ls->start_ms = shard_clock_ms();
	atomic_store(&sh->script_kill, false);
	atomic_store(&sh->script_wrote, false);
	ls->running = true;

	uint64_t wunit = wrec_script_begin(sh, ctx);   /* wstream: the script's writes are one unit */
	int rc = lua_pcall(L, 0, 1, base);
	wrec_script_end(sh, wunit);   /* wstream */

	ls->running = false;
	if (rc == 0) {
		lua_to_resp(ls, L, lua_gettop(L), ctx->out, ctx->proto, 0);
	} else {
		size_t n = 0;
		const char *m = lua_tolstring(L, -1, &n);
		if (rc == LUA_ERRMEM)
			add_line(ctx->out, '-', "ERR Lua out of memory", 21);
		else
			add_line(ctx->out, '-', m ? m : "ERR unknown error", m ? n : 17);
	}
	lua_settop(L, base - 1);

	if (ls->killed)
		lua_sethook(L, script_hook, LUA_MASKCOUNT, SCRIPT_HOOK_COUNT);
	/* shard_busy_poll() flushed this shard's clients while the script
	 * ran, the caller included: queue it again so the reply leaves now.
	 * (Workaround until the busy loop keeps the running command's client
	 * queued.) */
	if (ls->busy && ctx->c && !ctx->c->closed)
		conn_mark_flush(sh, ctx->c);
	atomic_store(&sh->script_busy, false);
	atomic_store(&sh->script_kill, false);
	atomic_store(&sh->script_wrote, false);
	ls->busy = false;
	ls->killed = false;
	ls->ctx = NULL;
	/* Drop the per-call tables now rather than at the next GC cycle. */
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->globals_ref);
	lua_pushnil(L);
	lua_setfield(L, -2, "KEYS");
	lua_pushnil(L);
	lua_setfield(L, -2, "ARGV");
	lua_pop(L, 1);
	if (++ls->gc_count >= SCRIPT_GC_PERIOD) {
		lua_gc(L, LUA_GCSTEP, SCRIPT_GC_PERIOD);
		ls->gc_count = 0;
	}
	if (ls->errbuf.cap > SCRIPT_REPLY_KEEP)
		rbuf_free(&ls->errbuf);
}

/* Parse numkeys: replies the error and returns -1 if it is bad. */
static int eval_numkeys(struct cmd_ctx *ctx, int *nk)
{
	long long n;
	if (arg_ll(ctx, &ctx->argv[2], &n) != 0)
		return -1;
	if (n > ctx->argc - 3) {
		resp_add_error(ctx->out, "ERR Number of keys can't be greater than number of args");
		return -1;
	}
	if (n < 0) {
		resp_add_error(ctx->out, "ERR Number of keys can't be negative");
		return -1;
	}
	*nk = (int)n;
	return 0;
}

/* Redis's order of checks: EVALSHA answers NOSCRIPT for a SHA that is not
 * 40 characters long before it looks at numkeys; then numkeys (not an
 * integer, too many, negative); then the script itself (an unknown SHA is
 * NOSCRIPT, a body that does not compile an error). */
static void eval_generic(struct cmd_ctx *ctx, bool by_sha, bool ro_cmd)
{
	const struct resp_arg *a = &ctx->argv[1];
	char sha[41];
	if (by_sha && !sha_arg(a, sha)) {
		resp_add_error(ctx->out, MSG_NOSCRIPT);
		return;
	}
	int nk;
	if (eval_numkeys(ctx, &nk) != 0)
		return;
	struct lua_shard *ls = lua_shard_get(ctx->sh);
	if (!ls) {
		resp_add_error(ctx->out, "ERR cannot initialize the Lua interpreter (out of memory)");
		return;
	}
	cache_sync(ls);

	if (!by_sha)
		script_sha1_hex(a->p, a->len, sha);
	int flags = cache_get(ls, sha);
	if (flags < 0) {
		unsigned f;
		if (by_sha) {
			size_t len;
			char *body = store_get(sha, &len);
			if (!body) {
				resp_add_error(ctx->out, MSG_NOSCRIPT);
				return;
			}
			int rc = script_compile(ls, ctx->out, sha, body, len, &f);
			free(body);
			if (rc != 0)
				return;
		} else {
			if (script_compile(ls, ctx->out, sha, a->p, a->len, &f) != 0)
				return;
			store_put(sha, a->p, a->len);
		}
		flags = (int)f;
	}
	if (ro_cmd && (flags & SF_SHEBANG) && !(flags & SF_NO_WRITES)) {
		lua_pop(ls->L, 1);
		resp_add_error(ctx->out, "ERR Can not execute a script with write flag using *_ro command.");
		return;
	}
	if (!ro_cmd && (flags & SF_SHEBANG) && !(flags & SF_NO_WRITES) &&
	    !replclient_script_may_write(ctx->sh) && !(ctx->c && replclient_is_master(ctx->c))) {   /* replica */
		lua_pop(ls->L, 1);
		resp_add_error(ctx->out, "READONLY You can't write against a read only replica.");
		return;
	}
	script_run(ls, ctx, sha, nk, ro_cmd || (flags & SF_NO_WRITES));
}

void cmd_eval(struct cmd_ctx *ctx) { eval_generic(ctx, false, false); }
void cmd_evalsha(struct cmd_ctx *ctx) { eval_generic(ctx, true, false); }
void cmd_eval_ro(struct cmd_ctx *ctx) { eval_generic(ctx, false, true); }
void cmd_evalsha_ro(struct cmd_ctx *ctx) { eval_generic(ctx, true, true); }

int script_eval_keys(int argc, const struct resp_arg *argv, int *idx, int max)
{
	long long nk;
	if (argc < 3 || arg_to_ll(&argv[2], &nk) != 0 || nk < 0 || nk > argc - 3)
		return -1;
	for (int i = 0; i < (int)nk && i < max; i++)
		idx[i] = 3 + i;
	return (int)nk;
}

/* ============================================================ SCRIPT */

void cmd_script_load(struct cmd_ctx *ctx)
{
	struct lua_shard *ls = lua_shard_get(ctx->sh);
	if (!ls) {
		resp_add_error(ctx->out, "ERR cannot initialize the Lua interpreter (out of memory)");
		return;
	}
	cache_sync(ls);
	const struct resp_arg *a = &ctx->argv[2];
	char sha[41];
	script_sha1_hex(a->p, a->len, sha);
	if (cache_get(ls, sha) < 0) {
		unsigned f;
		if (script_compile(ls, ctx->out, sha, a->p, a->len, &f) != 0)
			return;
	}
	lua_pop(ls->L, 1);
	store_put(sha, a->p, a->len);
	resp_add_bulk(ctx->out, sha, 40);
}

void cmd_script_exists(struct cmd_ctx *ctx)
{
	resp_add_array(ctx->out, ctx->argc - 2);
	pthread_mutex_lock(&g_store_mu);
	for (int i = 2; i < ctx->argc; i++) {
		char sha[41];
		bool found = sha_arg(&ctx->argv[i], sha) && store_find_locked(sha);
		resp_add_int(ctx->out, found);
	}
	pthread_mutex_unlock(&g_store_mu);
}

void cmd_script_flush(struct cmd_ctx *ctx)
{
	if (ctx->argc > 3 || (ctx->argc == 3 && !arg_is(&ctx->argv[2], "sync") &&
			      !arg_is(&ctx->argv[2], "async"))) {
		resp_add_error(ctx->out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
		return;
	}
	/* The store is small; ASYNC is done synchronously too. */
	store_flush();
	if (ctx->sh->lua)
		cache_sync(ctx->sh->lua);
	resp_add_ok(ctx->out);
}

/* Stop every busy script that has not written. The script side announces
 * a write (script_wrote) before making it and then checks script_kill;
 * this side sets script_kill and then checks script_wrote: whichever
 * comes second sees the other. */
void cmd_script_kill(struct cmd_ctx *ctx)
{
	bool busy = false, killed = false;
	for (unsigned i = 0; i < g_nshards; i++) {
		struct shard *s = g_shards[i];
		if (!s || !atomic_load(&s->script_busy))
			continue;
		busy = true;
		if (atomic_load(&s->script_wrote))
			continue;
		atomic_store(&s->script_kill, true);
		if (atomic_load(&s->script_wrote)) {
			/* It wrote meanwhile: withdraw, unless the script already
			 * took the kill (then it cleared the flag or will stop). */
			bool expect = true;
			if (atomic_compare_exchange_strong(&s->script_kill, &expect, false))
				continue;
		}
		killed = true;
	}
	if (killed)
		resp_add_ok(ctx->out);
	else if (busy)
		resp_add_error(ctx->out, "UNKILLABLE Sorry the script already executed write commands "
			       "against the dataset. You can either wait the script termination or "
			       "kill the server in a hard way using the SHUTDOWN NOSAVE command.");
	else
		resp_add_error(ctx->out, "NOTBUSY No scripts in execution right now.");
}

void cmd_script_help(struct cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"EXISTS <sha1> [<sha1> ...]",
		"    Return information about the existence of the scripts in the script cache.",
		"FLUSH [ASYNC|SYNC]",
		"    Flush the Lua scripts cache. Very dangerous on replicas.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the scripts cache.",
		"    * SYNC: Synchronously flush the scripts cache.",
		"KILL",
		"    Kill the currently executing Lua script.",
		"LOAD <script>",
		"    Load a script into the scripts cache without executing it.",
		"HELP",
		"    Prints this help.",
	};
	size_t n = sizeof(lines) / sizeof(lines[0]);
	resp_add_array(ctx->out, (long long)n);
	for (size_t i = 0; i < n; i++)
		resp_add_simple(ctx->out, lines[i]);
}
