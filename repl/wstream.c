/* repl/wstream.c — the write stream: per-shard record rings merged into one
 * stream with one offset, by the replication thread.
 *
 * Shard side. wstream_record() encodes a command in RESP into one
 * allocation and puts it on the shard's SPSC rte_ring (no EAL needed, see
 * DPDK-NOTES.md). When the ring is full the record goes to the shard's
 * overflow list (a mutex taken only then); once the overflow holds
 * WS_OVF_MAX bytes the shard waits for the thread (bounded back-pressure).
 * While the overflow is not empty every record goes there, so order holds:
 * the thread empties a ring before taking its overflow, and a shard only
 * goes back to the ring once the thread has taken it. Unit brackets
 * (wstream_txn_begin/end) and cuts travel on the same ring.
 *
 * Thread side. The thread sleeps on an eventfd when idle. A shard kicks it
 * at most once per loop round (wstream_flush(), if it recorded anything and
 * the thread is asleep; both sides fence between their store and their
 * load so no kick is lost), not once per record. A pass: dequeue every ring into a
 * per-shard staging FIFO (tagging each record with its shard's cut epoch),
 * then emit: a record outside a unit goes out at once; records between a
 * BEGIN and END are collected into the unit; a shard that reached the END
 * of a unit others have not finished emits nothing more until the unit is
 * complete, and then the unit goes out as one block (MULTI ... EXEC when it
 * holds more than one record). Staging keeps draining rings meanwhile, so
 * a shard never waits on a unit (it may be the one that has to send the
 * message ending it). Emitted bytes feed the backlog (the stream, with its
 * own SELECTs) and the AOF (aof.c). After the AOF write (and its fsync with
 * appendfsync always: one per pass, group commit) each shard's durable mark
 * becomes the last record of it emitted, and shards that wait for it are
 * woken. */
#include "repl/wstream.h"
#include "repl/repl_int.h"
#include "server/server.h"
#include "dataplane/dataplane.h"   /* resp_u64_len */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#define WS_MAX_SHARDS 64
#define WS_RING_SIZE 16384
#define WS_BURST 256
#define WS_OVF_MAX (64u * 1024 * 1024)   /* overflow bytes before a shard waits */

/* Written by the shard (producer) except where noted. */
struct ws_prod {
	struct rte_ring *ring;
	uint64_t seq;                 /* last WR_CMD sequence number */
	uint64_t txn;                 /* open unit, 0 if none */
	uint64_t txn_ctr;             /* wstream_txn_id() */
	bool need_kick;               /* pushed since the last wstream_flush() */
	_Atomic int wake_fd;          /* -1 until attached */
	_Atomic uint64_t recorded;    /* seq, published after the enqueue */
	_Atomic uint64_t cut_done;    /* last cut generation recorded */
	_Atomic bool want_wake;
	/* overflow: under ovf_lock (shard appends, thread takes) */
	pthread_mutex_t ovf_lock;
	struct wrec *ovf_head, *ovf_tail;
	_Atomic size_t ovf_n, ovf_bytes;
	/* written by the thread */
	_Atomic uint64_t durable __attribute__((aligned(64)));
} __attribute__((aligned(64)));

struct ws_unit {
	struct ws_unit *next;
	uint64_t id;
	unsigned nparts, ended;
	unsigned n;
	struct wrec *head, *tail;
};

/* The thread's view of one shard. */
struct ws_cons {
	struct wrec *head, *tail;     /* staging, in ring order */
	struct ws_unit *in_unit;      /* collecting records for it */
	struct ws_unit *blocked;      /* its part ended: wait for the others */
	uint8_t epoch;                /* cuts dequeued from this shard */
	uint64_t emitted;             /* last seq emitted */
};

static struct {
	unsigned nshards;
	struct ws_prod prod[WS_MAX_SHARDS];
	struct ws_cons cons[WS_MAX_SHARDS];
	_Atomic int fsync_policy;     /* 0 always, 1 everysec, 2 no */
	_Atomic uint64_t cut_gen;     /* latest cut generation requested */
	int efd;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool relay;           /* wstream_set_relay() */
	_Atomic bool stream_reset;    /* relayed bytes: the stream's db is unknown */
	_Atomic int sleeping __attribute__((aligned(64)));
	/* thread only */
	struct ws_unit *units;
	uint64_t staged[2];           /* by epoch & 1 */
	struct ws_sink stream;        /* the merged stream (backlog) */
	/* backlog */
	pthread_mutex_t bl_lock;
	char *bl;
	size_t bl_size, bl_used;
	bool bl_off;                  /* released (repl-backlog-ttl) */
	_Atomic uint64_t offset;      /* stream bytes so far */
} ws = { .efd = -1 };

/* The header's inline readers test the WS_* values by number. */
_Static_assert(WS_LOADING == WSTREAM_ST_LOADING && WS_ON == WSTREAM_ST_ON, "wstream states");
_Atomic int wstream_state;   /* WS_OFF / WS_LOADING / WS_ON */

/* ----------------------------------------------------------- helpers */

int64_t ws_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ws_kick(void)
{
	uint64_t one = 1;
	if (ws.efd >= 0)
		(void)!write(ws.efd, &one, sizeof(one));
}

unsigned ws_nshards(void)
{
	return ws.nshards;
}

uint64_t ws_staged(uint8_t epoch)
{
	return ws.staged[epoch & 1];
}

void ws_set_state(int state)
{
	atomic_store(&wstream_state, state);
}

uint64_t ws_cut_request(void)
{
	uint64_t gen = atomic_fetch_add(&ws.cut_gen, 1) + 1;
	/* Shards cut between commands: wake the idle ones. */
	for (unsigned i = 0; i < ws.nshards; i++)
		if (ws.prod[i].wake_fd >= 0)
			dp_wake(ws.prod[i].wake_fd);
	return gen;
}

static char *ws_put_num(char *p, char lead, unsigned long long v)
{
	size_t n = resp_u64_len(v);
	*p++ = lead;
	for (size_t i = n; i > 0; i--) {
		p[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	p += n;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/* ------------------------------------------------------ shard side */

bool wstream_sync_always(void)
{
	return atomic_load_explicit(&ws.fsync_policy, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&wstream_state, memory_order_relaxed) == WS_ON && aof_on();
}

int ws_fsync_policy(void)
{
	return atomic_load_explicit(&ws.fsync_policy, memory_order_relaxed);
}

void wstream_set_fsync(int policy)
{
	atomic_store(&ws.fsync_policy, policy);
}

void wstream_shard_attach(unsigned sh_id, int wake_fd)
{
	if (sh_id < WS_MAX_SHARDS)
		ws.prod[sh_id].wake_fd = wake_fd;
}

void wstream_want_wake(unsigned sh_id, bool on)
{
	atomic_store(&ws.prod[sh_id].want_wake, on);
	if (on)
		atomic_thread_fence(memory_order_seq_cst);
}

uint64_t wstream_recorded(unsigned sh_id)
{
	return atomic_load_explicit(&ws.prod[sh_id].recorded, memory_order_acquire);
}

uint64_t wstream_durable(unsigned sh_id)
{
	return atomic_load_explicit(&ws.prod[sh_id].durable, memory_order_acquire);
}

bool wstream_in_txn(unsigned sh_id)
{
	return ws.prod[sh_id].txn != 0;
}

uint64_t wstream_txn_id(unsigned sh_id)
{
	/* Bit 47 set: never equal to an id a coordinator makes from its own
	 * counter as long as that counter stays below 2^47. */
	return ((uint64_t)sh_id << 48) | (1ull << 47) | ++ws.prod[sh_id].txn_ctr;
}

static void ws_push(struct ws_prod *p, struct wrec *r)
{
	if (atomic_load_explicit(&p->ovf_n, memory_order_acquire) == 0 &&
	    rte_ring_sp_enqueue(p->ring, r) == 0) {
		p->need_kick = true;   /* the kick waits for wstream_flush() */
		return;
	}
	size_t sz = sizeof(*r) + r->len;
	pthread_mutex_lock(&p->ovf_lock);
	r->next = NULL;
	if (p->ovf_tail)
		p->ovf_tail->next = r;
	else
		p->ovf_head = r;
	p->ovf_tail = r;
	atomic_fetch_add(&p->ovf_n, 1);
	size_t bytes = atomic_fetch_add(&p->ovf_bytes, sz) + sz;
	pthread_mutex_unlock(&p->ovf_lock);
	if (bytes > WS_OVF_MAX) {
		/* Back-pressure: the thread takes the whole overflow at once. */
		while (atomic_load(&p->ovf_bytes) > WS_OVF_MAX && !atomic_load(&ws.stop)) {
			ws_kick();
			struct timespec ts = { 0, 100 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	p->need_kick = false;
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&ws.sleeping, memory_order_relaxed))
		ws_kick();
}

void wstream_flush(unsigned sh_id)
{
	struct ws_prod *p = &ws.prod[sh_id];
	if (!p->need_kick)
		return;
	p->need_kick = false;
	/* The thread sets sleeping, fences, then looks at the rings: one of
	 * the two sides sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&ws.sleeping, memory_order_relaxed))
		ws_kick();
}

static struct wrec *ws_rec_alloc(unsigned sh_id, uint8_t kind, size_t len)
{
	struct wrec *r = malloc(sizeof(*r) + len);
	if (!r)
		abort();
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->shard = (uint8_t)sh_id;
	r->len = len;
	return r;
}

/* Arguments as (pointer, length) pairs: argv[i] and lens[i], or the
 * resp_arg array args. */
static uint64_t ws_record(unsigned sh_id, int db, int argc, const char *const *argv,
			  const size_t *lens, const struct resp_arg *args)
{
	struct ws_prod *p = &ws.prod[sh_id];
	size_t len = 1 + resp_u64_len((unsigned long long)argc) + 2;
	for (int i = 0; i < argc; i++) {
		size_t l = args ? args[i].len : lens[i];
		len += 1 + resp_u64_len(l) + 2 + l + 2;
	}
	struct wrec *r = ws_rec_alloc(sh_id, WR_CMD, len);
	r->db = db;
	r->aof_only = atomic_load_explicit(&ws.relay, memory_order_relaxed);
	char *o = ws_put_num(r->data, '*', (unsigned long long)argc);
	for (int i = 0; i < argc; i++) {
		size_t l = args ? args[i].len : lens[i];
		o = ws_put_num(o, '$', l);
		memcpy(o, args ? args[i].p : argv[i], l);
		o += l;
		*o++ = '\r';
		*o++ = '\n';
	}
	uint64_t seq = r->seq = ++p->seq;
	ws_push(p, r);   /* r belongs to the replication thread from here */
	atomic_store_explicit(&p->recorded, seq, memory_order_release);
	return seq;
}

uint64_t wstream_record(unsigned sh_id, int db, int argc, const char *const *argv,
			const size_t *lens)
{
	return ws_record(sh_id, db, argc, argv, lens, NULL);
}

uint64_t wstream_record_args(unsigned sh_id, int db, int argc, const struct resp_arg *argv)
{
	return ws_record(sh_id, db, argc, NULL, NULL, argv);
}

void wstream_txn_begin(unsigned sh_id, uint64_t txn_id, unsigned nparts)
{
	struct ws_prod *p = &ws.prod[sh_id];
	struct wrec *r = ws_rec_alloc(sh_id, WR_BEGIN, 0);
	r->id = txn_id;
	r->nparts = nparts ? nparts : 1;
	p->txn = txn_id;
	ws_push(p, r);
}

void wstream_txn_end(unsigned sh_id, uint64_t txn_id)
{
	struct ws_prod *p = &ws.prod[sh_id];
	struct wrec *r = ws_rec_alloc(sh_id, WR_END, 0);
	r->id = txn_id;
	p->txn = 0;
	ws_push(p, r);
}

unsigned wstream_round(unsigned sh_id)
{
	unsigned f = 0;
	int st = atomic_load_explicit(&wstream_state, memory_order_relaxed);
	if (st == WS_LOADING)
		f |= WSR_LOADING;
	if (atomic_load_explicit(&ws.cut_gen, memory_order_acquire) >
	    atomic_load_explicit(&ws.prod[sh_id].cut_done, memory_order_relaxed))
		f |= WSR_CUT;
	if (st == WS_ON && atomic_load_explicit(&ws.fsync_policy, memory_order_relaxed) == 0 && aof_on())
		f |= WSR_ALWAYS;
	if (ws.prod[sh_id].need_kick)
		f |= WSR_KICK;
	return f;
}

uint64_t wstream_cut_wanted(unsigned sh_id)
{
	uint64_t gen = atomic_load_explicit(&ws.cut_gen, memory_order_acquire);
	return gen > atomic_load_explicit(&ws.prod[sh_id].cut_done, memory_order_relaxed) ? gen : 0;
}

void wstream_cut(unsigned sh_id, uint64_t gen, char *buf, size_t len)
{
	struct ws_prod *p = &ws.prod[sh_id];
	struct wrec *r = ws_rec_alloc(sh_id, WR_CUT, 0);
	r->id = gen;
	r->payload = buf;
	r->len = len;
	atomic_store(&p->cut_done, gen);
	ws_push(p, r);
}

/* ------------------------------------------------------------ sinks */

static void ws_sink_cmd(struct ws_sink *sk, const char *s)
{
	/* MULTI / EXEC */
	size_t n = strlen(s);
	char hdr[32];
	int h = snprintf(hdr, sizeof(hdr), "*1\r\n$%zu\r\n", n);
	rbuf_append(&sk->buf, hdr, (size_t)h);
	rbuf_append(&sk->buf, s, n);
	rbuf_append(&sk->buf, "\r\n", 2);
}

static void ws_sink_select(struct ws_sink *sk, int db)
{
	char num[24], hdr[64];
	int nl = snprintf(num, sizeof(num), "%d", db);
	int h = snprintf(hdr, sizeof(hdr), "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n", nl, num);
	rbuf_append(&sk->buf, hdr, (size_t)h);
	sk->db = db;
}

void ws_sink_put(struct ws_sink *sk, struct wrec *const *recs, unsigned n)
{
	if (n == 0)
		return;
	/* As Redis: the SELECT for the first command goes before MULTI. */
	if (recs[0]->db != sk->db)
		ws_sink_select(sk, recs[0]->db);
	if (n > 1)
		ws_sink_cmd(sk, "MULTI");
	for (unsigned i = 0; i < n; i++) {
		if (recs[i]->db != sk->db)
			ws_sink_select(sk, recs[i]->db);
		rbuf_append(&sk->buf, recs[i]->data, recs[i]->len);
	}
	if (n > 1)
		ws_sink_cmd(sk, "EXEC");
}

/* ----------------------------------------------------------- backlog */

static void bl_append(const char *p, size_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&ws.bl_lock);
	if (ws.bl_off) {   /* released: the offset moves on, nothing is kept */
		atomic_fetch_add(&ws.offset, n);
		pthread_mutex_unlock(&ws.bl_lock);
		return;
	}
	if (ws.bl_size && !ws.bl) {   /* first use, or again after a release */
		ws.bl = malloc(ws.bl_size);
		if (!ws.bl)
			abort();
		ws.bl_used = 0;
	}
	if (ws.bl_size) {
		const char *src = p;
		size_t len = n;
		if (len > ws.bl_size) {
			src += len - ws.bl_size;
			len = ws.bl_size;
		}
		size_t pos = (size_t)((atomic_load(&ws.offset) + (n - len)) % ws.bl_size);
		size_t first = ws.bl_size - pos < len ? ws.bl_size - pos : len;
		memcpy(ws.bl + pos, src, first);
		memcpy(ws.bl, src + first, len - first);
		ws.bl_used = ws.bl_used + len > ws.bl_size ? ws.bl_size : ws.bl_used + len;
	}
	atomic_fetch_add(&ws.offset, n);
	pthread_mutex_unlock(&ws.bl_lock);
}

void wstream_backlog_range(uint64_t *first, uint64_t *end)
{
	pthread_mutex_lock(&ws.bl_lock);
	*end = atomic_load(&ws.offset);
	*first = *end - ws.bl_used;
	pthread_mutex_unlock(&ws.bl_lock);
}

long wstream_backlog_read(uint64_t off, void *buf, size_t len)
{
	long got = -1;
	pthread_mutex_lock(&ws.bl_lock);
	uint64_t end = atomic_load(&ws.offset), first = end - ws.bl_used;
	if (off >= first && off <= end) {
		size_t avail = (size_t)(end - off);
		size_t n = len < avail ? len : avail;
		size_t pos = ws.bl_size ? (size_t)(off % ws.bl_size) : 0;
		size_t a = ws.bl_size - pos < n ? ws.bl_size - pos : n;
		if (n) {
			memcpy(buf, ws.bl + pos, a);
			memcpy((char *)buf + a, ws.bl, n - a);
		}
		got = (long)n;
	}
	pthread_mutex_unlock(&ws.bl_lock);
	return got;
}

void wstream_set_relay(bool on)
{
	atomic_store(&ws.relay, on);
}

void wstream_relay(const char *p, size_t n)
{
	if (!n)
		return;
	atomic_store(&ws.stream_reset, true);
	bl_append(p, n);
}

uint64_t wstream_offset(void)
{
	return atomic_load(&ws.offset);
}

/* ------------------------------------------------------------ thread */

static void ws_rec_free(struct wrec *r)
{
	if (r->kind == WR_CUT)
		free(r->payload);
	free(r);
}

/* The stream takes a unit's records made outside relay mode, and none
 * while relay mode is on (the backlog then holds the master's bytes). */
static void ws_emit_stream(struct wrec *const *recs, unsigned n)
{
	if (atomic_load_explicit(&ws.relay, memory_order_acquire))
		return;
	unsigned keep = 0;
	for (unsigned i = 0; i < n; i++)
		keep += !recs[i]->aof_only;
	if (!keep)
		return;
	if (atomic_exchange(&ws.stream_reset, false))
		ws.stream.db = -1;
	if (keep == n) {
		ws_sink_put(&ws.stream, recs, n);
		return;
	}
	struct wrec **sub = malloc(sizeof(*sub) * keep);
	if (!sub)
		abort();
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (!recs[i]->aof_only)
			sub[k++] = recs[i];
	ws_sink_put(&ws.stream, sub, k);
	free(sub);
}

static void ws_emit(struct wrec *const *recs, unsigned n)
{
	ws_emit_stream(recs, n);
	if (aof_on())
		aof_emit(recs, n);
	for (unsigned i = 0; i < n; i++) {
		struct ws_cons *c = &ws.cons[recs[i]->shard];
		if (recs[i]->seq > c->emitted)
			c->emitted = recs[i]->seq;
		ws.staged[recs[i]->epoch & 1]--;
	}
}

static struct ws_unit *ws_unit_get(uint64_t id, unsigned nparts)
{
	for (struct ws_unit *u = ws.units; u; u = u->next)
		if (u->id == id)
			return u;
	struct ws_unit *u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->id = id;
	u->nparts = nparts;
	u->next = ws.units;
	ws.units = u;
	return u;
}

static void ws_unit_emit(struct ws_unit *u)
{
	struct wrec *stack[64], **recs = stack;
	if (u->n > 64) {
		recs = malloc(sizeof(*recs) * u->n);
		if (!recs)
			abort();
	}
	unsigned n = 0;
	for (struct wrec *r = u->head; r; r = r->next)
		recs[n++] = r;
	ws_emit(recs, n);
	for (unsigned i = 0; i < n; i++)
		ws_rec_free(recs[i]);
	if (recs != stack)
		free(recs);
	struct ws_unit **pp = &ws.units;
	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	for (unsigned s = 0; s < ws.nshards; s++)
		if (ws.cons[s].blocked == u)
			ws.cons[s].blocked = NULL;
	free(u);
}

static void ws_stage(unsigned s, struct wrec *r)
{
	struct ws_cons *c = &ws.cons[s];
	if (r->kind == WR_CUT) {
		/* Records dequeued after this belong to the new files. */
		c->epoch++;
		aof_on_cut(s, r->id, r->payload, r->len);
		r->payload = NULL;
		free(r);
		return;
	}
	r->epoch = c->epoch;
	r->next = NULL;
	if (r->kind == WR_CMD)
		ws.staged[r->epoch & 1]++;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
}

/* Dequeue everything shard s has put out (ring, then its overflow). */
static unsigned ws_drain(unsigned s)
{
	struct ws_prod *p = &ws.prod[s];
	unsigned total = 0;
	for (;;) {
		void *objs[WS_BURST];
		unsigned n = rte_ring_sc_dequeue_burst(p->ring, objs, WS_BURST, NULL);
		for (unsigned i = 0; i < n; i++)
			ws_stage(s, objs[i]);
		total += n;
		if (n)
			continue;
		if (atomic_load_explicit(&p->ovf_n, memory_order_acquire) == 0)
			break;
		/* The ring is empty and stays so while the overflow is not:
		 * take the whole overflow, in order. */
		pthread_mutex_lock(&p->ovf_lock);
		struct wrec *r = p->ovf_head;
		p->ovf_head = p->ovf_tail = NULL;
		atomic_store(&p->ovf_n, 0);
		atomic_store(&p->ovf_bytes, 0);
		pthread_mutex_unlock(&p->ovf_lock);
		while (r) {
			struct wrec *next = r->next;
			ws_stage(s, r);
			total++;
			r = next;
		}
	}
	return total;
}

/* Emit what shard s's staging allows; true if anything moved. */
static bool ws_process(unsigned s)
{
	struct ws_cons *c = &ws.cons[s];
	bool moved = false;
	while (c->head && !c->blocked) {
		struct wrec *r = c->head;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		r->next = NULL;
		moved = true;
		switch (r->kind) {
		case WR_CMD:
			if (c->in_unit) {
				struct ws_unit *u = c->in_unit;
				if (u->tail)
					u->tail->next = r;
				else
					u->head = r;
				u->tail = r;
				u->n++;
			} else {
				ws_emit(&r, 1);
				ws_rec_free(r);
			}
			break;
		case WR_BEGIN:
			c->in_unit = ws_unit_get(r->id, r->nparts);
			free(r);
			break;
		case WR_END: {
			struct ws_unit *u = c->in_unit;
			c->in_unit = NULL;
			free(r);
			if (!u)
				break;   /* an END without BEGIN: nothing to close */
			if (++u->ended >= u->nparts)
				ws_unit_emit(u);
			else
				c->blocked = u;
			break;
		}
		default:
			ws_rec_free(r);
			break;
		}
	}
	return moved;
}

static bool ws_rings_empty(void)
{
	for (unsigned s = 0; s < ws.nshards; s++) {
		if (!ws.prod[s].ring)
			continue;
		if (rte_ring_count(ws.prod[s].ring) || atomic_load(&ws.prod[s].ovf_n))
			return false;
	}
	return true;
}

/* Publish durable marks after a successful AOF write and wake the shards
 * that wait for them. */
static void ws_publish_durable(void)
{
	bool moved = false;
	for (unsigned s = 0; s < ws.nshards; s++) {
		struct ws_prod *p = &ws.prod[s];
		if (ws.cons[s].emitted != atomic_load_explicit(&p->durable, memory_order_relaxed)) {
			atomic_store_explicit(&p->durable, ws.cons[s].emitted, memory_order_release);
			moved = true;
		}
	}
	if (!moved)
		return;
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned s = 0; s < ws.nshards; s++)
		if (atomic_load_explicit(&ws.prod[s].want_wake, memory_order_relaxed) &&
		    ws.prod[s].wake_fd >= 0)
			dp_wake(ws.prod[s].wake_fd);
}

static unsigned ws_pass(void)
{
	unsigned got = 0;
	for (unsigned s = 0; s < ws.nshards; s++)
		got += ws_drain(s);
	bool again = true;
	while (again) {
		again = false;
		for (unsigned s = 0; s < ws.nshards; s++)
			again |= ws_process(s);
	}
	if (ws.stream.buf.len) {
		bl_append(ws.stream.buf.data, ws.stream.buf.len);
		ws.stream.buf.len = 0;
		if (ws.stream.buf.cap > 4u * 1024 * 1024)
			rbuf_free(&ws.stream.buf);
	}
	if (!aof_on() || aof_flush() == 0)
		ws_publish_durable();
	return got;
}

static void *ws_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "kr-repl");
	for (;;) {
		unsigned got = ws_pass();
		int wait_ms = aof_tick(ws_mono_ms());
		if (atomic_load(&ws.stop) && ws_rings_empty()) {
			ws_pass();
			break;
		}
		if (got && !wstream_sync_always()) {
			/* Busy and nobody waits for the disk: nap 1 ms without
			 * asking for kicks, so a pass takes a batch of records
			 * (one write) and shards make no wake-up syscalls. */
			struct pollfd pfd = { .fd = ws.efd, .events = POLLIN };
			uint64_t v;
			if (poll(&pfd, 1, 1) > 0)
				(void)!read(ws.efd, &v, sizeof(v));
			continue;
		}
		if (got)
			continue;
		atomic_store(&ws.sleeping, 1);
		atomic_thread_fence(memory_order_seq_cst);
		if (ws_rings_empty() && !atomic_load(&ws.stop)) {
			struct pollfd pfd = { .fd = ws.efd, .events = POLLIN };
			poll(&pfd, 1, wait_ms < 0 ? 1000 : wait_ms);
			uint64_t v;
			(void)!read(ws.efd, &v, sizeof(v));
		}
		atomic_store(&ws.sleeping, 0);
	}
	aof_stop();
	return NULL;
}

/* -------------------------------------------------------- lifecycle */

int wstream_init(unsigned nshards, const char **err)
{
	if (nshards == 0 || nshards > WS_MAX_SHARDS) {
		*err = "wstream: bad number of shards";
		return -1;
	}
	ws.nshards = nshards;
	pthread_mutex_init(&ws.bl_lock, NULL);
	ws.stream.db = -1;
	for (unsigned i = 0; i < WS_MAX_SHARDS; i++) {
		ws.prod[i].wake_fd = -1;
		pthread_mutex_init(&ws.prod[i].ovf_lock, NULL);
	}
	for (unsigned i = 0; i < nshards; i++) {
		ssize_t sz = rte_ring_get_memsize(WS_RING_SIZE);
		if (sz < 0) {
			*err = "wstream: bad ring size";
			return -1;
		}
		struct rte_ring *r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63);
		char name[32];
		snprintf(name, sizeof(name), "kr_ws_%u", i);
		if (!r || rte_ring_init(r, name, WS_RING_SIZE, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
			free(r);
			*err = "wstream: cannot create a ring";
			return -1;
		}
		ws.prod[i].ring = r;
	}
	ws.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ws.efd < 0) {
		*err = "wstream: eventfd failed";
		return -1;
	}
	if (pthread_create(&ws.thread, NULL, ws_main, NULL) != 0) {
		*err = "wstream: cannot start the replication thread";
		return -1;
	}
	ws.started = true;
	return 0;
}

/* The backlog is sized once, before the shards start (aof_start). */
void ws_backlog_size(size_t size)
{
	pthread_mutex_lock(&ws.bl_lock);
	free(ws.bl);
	ws.bl = NULL;   /* allocated by the first bytes it takes */
	ws.bl_size = size;
	ws.bl_used = 0;
	pthread_mutex_unlock(&ws.bl_lock);
}

void wstream_backlog_release(bool released)
{
	pthread_mutex_lock(&ws.bl_lock);
	if (released && !ws.bl_off) {
		free(ws.bl);
		ws.bl = NULL;
		ws.bl_used = 0;
	}
	ws.bl_off = released;
	pthread_mutex_unlock(&ws.bl_lock);
}

void wstream_shutdown(void)
{
	if (!ws.started)
		return;
	atomic_store(&ws.stop, true);
	ws_kick();
	pthread_join(ws.thread, NULL);
	ws.started = false;
	for (unsigned s = 0; s < ws.nshards; s++) {
		struct ws_cons *c = &ws.cons[s];
		while (c->head) {
			struct wrec *r = c->head;
			c->head = r->next;
			ws_rec_free(r);
		}
		free(ws.prod[s].ring);
		ws.prod[s].ring = NULL;
	}
	while (ws.units) {
		struct ws_unit *u = ws.units;
		ws.units = u->next;
		while (u->head) {
			struct wrec *r = u->head;
			u->head = r->next;
			ws_rec_free(r);
		}
		free(u);
	}
	rbuf_free(&ws.stream.buf);
	free(ws.bl);
	ws.bl = NULL;
	close(ws.efd);
	ws.efd = -1;
}
