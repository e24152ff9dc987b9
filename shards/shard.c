/* The shard loop and cross-shard messaging.
 *
 * Each shard thread runs: drain its inbound rings -> poll its port -> handle
 * events (which dispatch commands, possibly producing messages for other
 * shards) -> push its outboxes onto the rings -> flush client output ->
 * cron when due. Messages to a shard go through the SPSC ring owned by the
 * (sender, receiver) pair; when a ring is full the message waits in the
 * sender's outbox (never blocking, so two shards can never deadlock on each
 * other's full rings).
 *
 * Sleeping: with busy-poll off a shard sleeps in dp_poll(). Before sleeping
 * it sets .sleeping, then re-checks its rings; a sender enqueues, then reads
 * .sleeping. Both sides put a full fence between their store and load, so
 * at least one of them sees the other and no wake-up is lost. */
#include "shards/shard_int.h"
#include "shards/pubsub.h"
#include "shards/script.h"
#include "shards/snap.h"   /* snapshot */
#include "shards/replclient.h"   /* replica */
#include "shards/replmaster.h"   /* master */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#ifdef KR_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

struct shard *g_shards[SHARD_MAX];
unsigned g_nshards;
_Atomic bool g_shutdown;
_Atomic int g_shutdown_status;
_Atomic unsigned g_monitors;
_Atomic uint64_t g_slowlog_seq;
int64_t g_start_ms;

int64_t shard_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t shard_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ------------------------------------------------ facts for handlers */

unsigned shard_self_id(const struct shard *sh) { return sh->id; }
unsigned shard_nshards(void) { return g_nshards; }
struct ks_space *shard_ks(struct shard *sh) { return sh->ks; }
const struct cfg *shard_cfg(const struct shard *sh) { return sh->cfg; }
void shard_set_active_expire(struct shard *sh, bool on) { sh->active_expire = on; }

bool shard_owns_key(const struct shard *sh, const void *key, size_t len)
{
	return shard_of_key(key, len) == sh->id;
}

/* xorshift128+ */
uint64_t shard_rand(struct shard *sh)
{
	uint64_t s1 = sh->rng[0];
	const uint64_t s0 = sh->rng[1];
	sh->rng[0] = s0;
	s1 ^= s1 << 23;
	sh->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return sh->rng[1] + s0;
}

/* ------------------------------------------------------- messaging */

struct shard_msg *shard_msg_new(struct shard *sh, const struct cmd_def *cmd,
				int argc, const struct resp_arg *argv)
{
	size_t bytes = 0;
	for (int i = 0; i < argc; i++)
		bytes += argv[i].len;
	size_t hdr = (sizeof(struct shard_msg) + 15) & ~(size_t)15;
	struct shard_msg *m = malloc(hdr + (size_t)argc * sizeof(struct resp_arg) + bytes);
	if (!m)
		abort();
	memset(m, 0, sizeof(*m));
	m->kind = MSG_EXEC;
	m->src = (uint8_t)sh->id;
	m->cmd = cmd;
	m->argc = argc;
	m->argv = (struct resp_arg *)((char *)m + hdr);
	char *p = (char *)(m->argv + argc);
	for (int i = 0; i < argc; i++) {
		if (argv[i].len)
			memcpy(p, argv[i].p, argv[i].len);
		m->argv[i].p = p;
		m->argv[i].len = argv[i].len;
		p += argv[i].len;
	}
	return m;
}

/* Messages in shard i's outboxes, all destinations together: the loop
 * checks it twice a round, and it is nearly always 0. */
static struct {
	_Alignas(64) unsigned n;   /* a line each: shards write their own */
} outbox_total[SHARD_MAX];

/* Queue m for dst; it is pushed onto the ring at the end of this round. */
void shard_send(struct shard *sh, unsigned dst, struct shard_msg *m)
{
	struct outbox *ob = &sh->out[dst];
	outbox_total[sh->id].n++;
	m->next = NULL;
	if (ob->tail)
		ob->tail->next = m;
	else
		ob->head = m;
	ob->tail = m;
	ob->n++;
}

static void outbox_flush_slow(struct shard *sh)
{
	for (unsigned d = 0; d < g_nshards; d++) {
		struct outbox *ob = &sh->out[d];
		if (!ob->n)
			continue;
		struct rte_ring *r = g_shards[d]->in[sh->id];
		while (ob->n) {
			/* Once enqueued a message belongs to the receiver, which
			 * may already be re-linking it: read every next pointer
			 * before the hand-off, never after. */
			void *objs[SHARD_BURST];
			unsigned n = 0;
			struct shard_msg *m = ob->head;
			while (m && n < SHARD_BURST) {
				objs[n++] = m;
				m = m->next;
			}
			unsigned done = rte_ring_enqueue_burst(r, objs, n, NULL);
			ob->head = done == n ? m : objs[done];
			ob->n -= done;
			outbox_total[sh->id].n -= done;
			if (!ob->head)
				ob->tail = NULL;
			if (done)
				sh->notify_mask |= 1ull << d;
			if (done < n)
				break;  /* ring full: the rest waits for the next round */
		}
	}
	if (!sh->notify_mask)
		return;
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned d = 0; d < g_nshards; d++) {
		if (!(sh->notify_mask & (1ull << d)))
			continue;
		if (atomic_load_explicit(&g_shards[d]->sleeping, memory_order_relaxed))
			dp_wake(g_shards[d]->wake_fd);
	}
	sh->notify_mask = 0;
}

/* (notify_mask is only set, and always cleared, inside a flush.) */
static inline void outbox_flush(struct shard *sh)
{
	if (outbox_total[sh->id].n)
		outbox_flush_slow(sh);
}

static inline bool outbox_empty(const struct shard *sh)
{
	return !outbox_total[sh->id].n;
}

void shard_exec_msg(struct shard *sh, struct shard_msg *m)
{
	struct cmd_ctx ctx = {
		.sh = sh,
		.c = NULL,
		.out = &m->reply,
		.cmd = m->cmd,
		.argc = m->argc,
		.argv = m->argv,
		.db = &sh->ks->db[m->dbid],
		.dbid = m->dbid,
		.proto = m->proto,
		.now_ms = sh->now_ms,
		.payload = m->payload,
		.may_block = !m->txn,
		.in_multi = m->txn,
		.from_master = replclient_is_master(m->conn),
	};
	uint64_t t0 = shard_clock_us();
	route_exec(sh, &ctx);
	if (ctx.blocked) {
		block_park(sh, &ctx, NULL, NULL, m);
		return;
	}
	if (!m->txn && block_any(sh))
		block_serve(sh);
	if (m->noreply) {
		rbuf_free(&m->reply);
		free(m);
		return;
	}
	/* The client's shard logs it: it knows the client's name. */
	m->exec_us = (int64_t)(shard_clock_us() - t0);
	m->payload = ctx.payload;
	m->kind = MSG_REPLY;
	shard_send(sh, m->src, m);
}

static void monitor_deliver(struct shard *sh, const char *line, size_t len)
{
	for (struct conn *c = sh->conns; c; c = c->next)
		if (c->monitor && !c->closed)
			conn_append_reply(c, line, len);
}

static unsigned rings_drain(struct shard *sh)
{
	unsigned total = 0;
	for (unsigned s = 0; s < g_nshards; s++) {
		void *objs[SHARD_BURST];
		unsigned n = rte_ring_dequeue_burst(sh->in[s], objs, SHARD_BURST, NULL);
		total += n;
		for (unsigned i = 0; i < n; i++) {
			struct shard_msg *m = objs[i];
			switch (m->kind) {
			case MSG_EXEC:
				if ((sh->lock_owner || sh->def_head) && !m->txn)
					txn_defer(sh, m);
				else
					shard_exec_msg(sh, m);
				break;
			case MSG_LOCK:
			case MSG_LOCKED:
			case MSG_UNLOCK:
				txn_on_msg(sh, m);
				break;
			case MSG_REPLY:
				route_on_reply(sh, m);
				break;
			case MSG_MONITOR:
				monitor_deliver(sh, m->argv[0].p, m->argv[0].len);
				free(m);
				break;
			default:
				abort();
			}
		}
	}
	return total;
}

static bool rings_empty(const struct shard *sh)
{
	for (unsigned s = 0; s < g_nshards; s++)
		if (!rte_ring_empty(sh->in[s]))
			return false;
	return true;
}

/* ---------------------------------------------------------- monitor */

static void monitor_quote(struct rbuf *b, const char *p, size_t n)
{
	rbuf_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		char tmp[8];
		switch (ch) {
		case '\\': rbuf_append(b, "\\\\", 2); break;
		case '"': rbuf_append(b, "\\\"", 2); break;
		case '\n': rbuf_append(b, "\\n", 2); break;
		case '\r': rbuf_append(b, "\\r", 2); break;
		case '\t': rbuf_append(b, "\\t", 2); break;
		case '\a': rbuf_append(b, "\\a", 2); break;
		case '\b': rbuf_append(b, "\\b", 2); break;
		default:
			if (ch >= 32 && ch < 127) {
				rbuf_append(b, p + i, 1);
			} else {
				snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
				rbuf_append(b, tmp, 4);
			}
		}
	}
	rbuf_append(b, "\"", 1);
}

void shard_monitor_feed(struct shard *sh, struct conn *c, int dbid,
			int argc, const struct resp_arg *argv)
{
	struct rbuf line = {0};
	char hdr[160];
	uint64_t us = shard_clock_us();
	int n = snprintf(hdr, sizeof(hdr), "+%llu.%06llu [%d %s]",
			 (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000),
			 dbid, c->peer);
	rbuf_append(&line, hdr, (size_t)n);
	for (int i = 0; i < argc; i++) {
		rbuf_append(&line, " ", 1);
		monitor_quote(&line, argv[i].p, argv[i].len);
	}
	rbuf_append(&line, "\r\n", 2);
	struct resp_arg a = { line.data, line.len };
	for (unsigned d = 0; d < g_nshards; d++) {
		if (d == sh->id) {
			if (sh->nmonitors)
				monitor_deliver(sh, line.data, line.len);
			continue;
		}
		struct shard_msg *m = shard_msg_new(sh, NULL, 1, &a);
		m->kind = MSG_MONITOR;
		shard_send(sh, d, m);
	}
	rbuf_free(&line);
}

/* ---------------------------------------------------------- slowlog */

static void slowlog_entry_free(struct slowlog_entry *e)
{
	for (int i = 0; i < e->argc; i++)
		rbuf_free(&e->args[i]);
	free(e->args);
	memset(e, 0, sizeof(*e));
}

void shard_slowlog_add(struct shard *sh, const struct conn *c,
		       int argc, const struct resp_arg *argv, int64_t dur_us)
{
	unsigned cap = (unsigned)sh->cfg->slowlog_max_len;
	if (cap == 0)
		return;
	if (sh->slowlog_cap != cap) {
		for (unsigned i = 0; i < sh->slowlog_cap; i++)
			slowlog_entry_free(&sh->slowlog[i]);
		free(sh->slowlog);
		sh->slowlog = calloc(cap, sizeof(*sh->slowlog));
		if (!sh->slowlog)
			abort();
		sh->slowlog_cap = cap;
		sh->slowlog_len = sh->slowlog_head = 0;
	}
	struct slowlog_entry *e = &sh->slowlog[sh->slowlog_head];
	slowlog_entry_free(e);
	sh->slowlog_head = (sh->slowlog_head + 1) % cap;
	if (sh->slowlog_len < cap)
		sh->slowlog_len++;
	e->id = atomic_fetch_add(&g_slowlog_seq, 1);
	e->time_s = sh->now_ms / 1000;
	e->duration_us = dur_us;
	/* Redis keeps at most 32 arguments, each cut at 128 bytes. */
	int keep = argc > 32 ? 32 : argc;
	e->args = calloc((size_t)keep, sizeof(struct rbuf));
	if (!e->args)
		abort();
	e->argc = keep;
	for (int i = 0; i < keep; i++) {
		char tmp[64];
		if (i == keep - 1 && keep < argc) {
			int n = snprintf(tmp, sizeof(tmp), "... (%d more arguments)", argc - keep + 1);
			rbuf_append(&e->args[i], tmp, (size_t)n);
		} else if (argv[i].len > 128) {
			rbuf_append(&e->args[i], argv[i].p, 128);
			int n = snprintf(tmp, sizeof(tmp), "... (%zu more bytes)", argv[i].len - 128);
			rbuf_append(&e->args[i], tmp, (size_t)n);
		} else {
			rbuf_append(&e->args[i], argv[i].p, argv[i].len);
		}
	}
	snprintf(e->peer, sizeof(e->peer), "%s", c->peer);
	snprintf(e->name, sizeof(e->name), "%s", c->name ? c->name : "");
}

void shard_slowlog_reset(struct shard *sh)
{
	for (unsigned i = 0; i < sh->slowlog_cap; i++)
		slowlog_entry_free(&sh->slowlog[i]);
	sh->slowlog_len = sh->slowlog_head = 0;
}

/* ------------------------------------------------------------- cron */

static void cron(struct shard *sh)
{
	int64_t now = sh->now_ms;
	/* Active expiry: bounded work per db per tick. */
	if (sh->active_expire && !replclient_is_replica())   /* replica: the master DELs */
		for (int i = 0; i < sh->ks->ndb; i++)
			if (ks_nexpires(&sh->ks->db[i]))
				ks_active_expire(&sh->ks->db[i], now, 20, 16);
	for (int i = 0; i < sh->ks->ndb; i++)
		ks_rehash_step(&sh->ks->db[i], 100);
	/* Idle clients. */
	if (sh->cfg->timeout_s > 0) {
		int64_t limit = sh->cfg->timeout_s * 1000;
		struct conn *c = sh->conns;
		while (c) {
			struct conn *next = c->next;
			if (!c->closed && !c->monitor && !c->pend_head && now - c->last_ms > limit &&
			    !replclient_is_master(c)) {   /* replica: the master client stays */
				srv_log(LL_VERBOSE, "Closing idle client");
				conn_close(sh, c);
			}
			c = next;
		}
	}
	/* instantaneous_ops_per_sec: commands over the last 16 samples. */
	unsigned i = sh->ops_sample_idx++ % 16;
	sh->ops_sample[i] = STAT_GET(sh->stats.cmds_dispatched);
	sh->ops_sample_ms[i] = now;
	unsigned oldest = (i + 1) % 16;
	if (sh->ops_sample_ms[oldest] && now > sh->ops_sample_ms[oldest]) {
		uint64_t ops = sh->ops_sample[i] - sh->ops_sample[oldest];
		STAT_SET(sh->stats.ops_per_sec, ops * 1000 / (uint64_t)(now - sh->ops_sample_ms[oldest]));
	}
	snap_cron(sh);   /* snapshot: save rules, SAVE/SHUTDOWN waiters */
	int hz = sh->cfg->hz > 0 ? sh->cfg->hz : 10;
	sh->next_cron_ms = now + 1000 / hz;
}

/* ------------------------------------------------------------- loop */

static void shard_pin(struct shard *sh)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu <= 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sh->id % (unsigned)ncpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		srv_log(LL_VERBOSE, "Shard %u: could not pin to CPU %u", sh->id, sh->id % (unsigned)ncpu);
}

static void shard_arena(struct shard *sh)
{
#ifdef KR_JEMALLOC
	unsigned arena;
	size_t sz = sizeof(arena);
	if (mallctl("arenas.create", &arena, &sz, NULL, 0) == 0)
		mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena));
	else
		srv_log(LL_WARNING, "Shard %u: could not create a jemalloc arena", sh->id);
#else
	(void)sh;
#endif
}

/* Handle a batch of events. The batch is kept in the shard so that a busy
 * script's poll (shard_busy_poll) handles the rest of it too. */
static void shard_events(struct shard *sh, struct dp_event *ev, int n)
{
	struct dp_event *saved_ev = sh->ev;
	int saved_n = sh->ev_n, saved_pos = sh->ev_pos;
	sh->ev = ev;
	sh->ev_n = n;
	sh->ev_pos = 0;
	while (sh->ev_pos < sh->ev_n) {
		struct dp_event *e = &ev[sh->ev_pos++];
		struct conn *c = e->udata;
		switch (e->kind) {
		case DP_EV_ACCEPT:
			conn_new(sh, e);
			break;
		case DP_EV_READABLE:
			if (c && !c->closed)
				conn_on_readable(sh, c);
			break;
		case DP_EV_DATA:
			if (c && !c->closed)
				conn_on_data(sh, c, e->data, e->len);
			break;
		case DP_EV_WRITABLE:
			if (c && !c->closed)
				conn_on_writable(sh, c);
			break;
		default:
			break;
		}
	}
	sh->ev = saved_ev;
	sh->ev_n = saved_n;
	sh->ev_pos = saved_pos;
}

/* A script has run past busy-reply-threshold: keep this shard's clients
 * answered (-BUSY, or SCRIPT KILL / SHUTDOWN NOSAVE run) while nothing else
 * moves: ring messages and timers wait, so the script stays atomic. */
bool shard_busy_poll(struct shard *sh)
{
	struct dp_event ev[SHARD_BURST];
	if (sh->busy)
		return atomic_load(&sh->script_kill);   /* no nesting */
	sh->busy = true;
	sh->now_ms = shard_clock_ms();
	/* First what was left of the batch being handled when the script
	 * started (e.g. the connection that wants to SCRIPT KILL it). */
	if (sh->ev && sh->ev_pos < sh->ev_n) {
		struct dp_event *rest = sh->ev + sh->ev_pos;
		int nrest = sh->ev_n - sh->ev_pos;
		sh->ev_pos = sh->ev_n;
		shard_events(sh, rest, nrest);
	}
	int n = dp_poll(sh->port, ev, SHARD_BURST, 0);
	shard_events(sh, ev, n);
	conn_parse_due(sh);
	conn_flush_all(sh);
	sh->busy = false;
	return atomic_load(&sh->script_kill);
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;
	struct dp_event ev[SHARD_BURST];
	char name[16];
	snprintf(name, sizeof(name), "kr-shard-%u", sh->id);
	pthread_setname_np(pthread_self(), name);
	shard_pin(sh);
	shard_arena(sh);
	ps_shard_init(sh);
	snap_shard_init(sh);   /* snapshot: load the RDB file before serving */

	/* ks_set_clock() divides: only when the millisecond moved (several
	 * rounds a millisecond under load). */
	int64_t clock_set_ms = -1;
	while (!atomic_load_explicit(&g_shutdown, memory_order_acquire)) {
		sh->now_ms = shard_clock_ms();
		if (sh->now_ms != clock_set_ms)
			ks_set_clock(clock_set_ms = sh->now_ms);
		unsigned work = rings_drain(sh);
		work += snap_poll(sh);   /* snapshot: a time slice while one is under way */
		work += replclient_poll(sh);   /* replica: link requests, full-sync loading */
		work += replmaster_poll(sh);   /* master: WAIT, stream keepalive */
		if (block_any(sh))
			block_serve(sh);
		if (sh->unlock_work) {
			txn_after_unlock(sh);
			work++;
		}
		outbox_flush(sh);
		conn_flush_all(sh);

		int timeout = 0;
		/* DPDK shards busy-poll: their dp_poll never waits. */
		if (!work && !sh->cfg->busy_poll && outbox_empty(sh) &&
		    dp_port_backend(sh->port) != DP_BACKEND_DPDK) {
			int64_t next = sh->next_cron_ms;
			int64_t bd = block_any(sh) ? block_timeouts(sh) : 0;
			if (bd && bd < next)
				next = bd;
			int64_t wait = next - shard_clock_ms();
			timeout = wait < 0 ? 0 : (int)wait;
			atomic_store_explicit(&sh->sleeping, 1, memory_order_relaxed);
			atomic_thread_fence(memory_order_seq_cst);
			if (!rings_empty(sh))
				timeout = 0;
		} else if (!outbox_empty(sh)) {
			timeout = 0;  /* a ring was full: retry soon */
		}
		int n = dp_poll(sh->port, ev, SHARD_BURST, timeout);
		atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
		sh->now_ms = shard_clock_ms();
		if (sh->now_ms != clock_set_ms)
			ks_set_clock(clock_set_ms = sh->now_ms);
		shard_events(sh, ev, n);
		conn_parse_due(sh);
		dp_release(sh->port);   /* DATA events' bytes are run or copied */
		if (block_any(sh)) {
			block_serve(sh);
			block_timeouts(sh);
		}
		if (sh->unlock_work)
			txn_after_unlock(sh);
		outbox_flush(sh);
		conn_flush_all(sh);
		if (sh->now_ms >= sh->next_cron_ms)
			cron(sh);
		conn_reap(sh);
	}
	dp_stop_listening(sh->port);
	ps_shard_free(sh);
	script_shard_free(sh);
	return NULL;
}

/* ------------------------------------------------------- lifecycle */

static struct rte_ring *ring_new(unsigned from, unsigned to)
{
	char name[32];
	snprintf(name, sizeof(name), "kr_%u_%u", from, to);
	ssize_t sz = rte_ring_get_memsize(SHARD_RING_SIZE);
	if (sz < 0)
		return NULL;
	struct rte_ring *r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63);
	if (!r)
		return NULL;
	if (rte_ring_init(r, name, SHARD_RING_SIZE, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

int shard_start_all(const struct cfg *cfg, char *err, size_t errlen)
{
	unsigned n = (unsigned)cfg->shards;
	if (n == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (n > SHARD_MAX)
		n = SHARD_MAX;
	g_nshards = n;
	g_start_ms = shard_clock_ms();
	uint64_t seed = (uint64_t)g_start_ms ^ ((uint64_t)getpid() << 32);
	ks_set_seed(seed * 0x9E3779B97F4A7C15ull);
	types_register();

	struct dp_port_conf probe = {
		.bind = (const char *const *)cfg->bind,
		.port = cfg->port,
	};
	const char *perr = NULL;
	bool dpdk = cfg->dataplane == DATAPLANE_DPDK;
	if (dpdk) {
		/* EAL and the port, once; then each shard gets queue i. */
		struct dp_dpdk_conf dc = {
			.eal_args = cfg->dpdk_eal_args, .port_id = cfg->dpdk_port,
			.ip = cfg->dpdk_ip, .gateway = cfg->dpdk_gateway, .mtu = cfg->dpdk_mtu,
			.rx_desc = cfg->dpdk_rx_desc, .tx_desc = cfg->dpdk_tx_desc,
			.mbufs = cfg->dpdk_mbufs, .nshards = n,
			.max_conns = cfg->maxclients < 65536 ? (unsigned)cfg->maxclients + 64 : 65600,
			.fault_inject = cfg->dpdk_fault_inject,
		};
		char derr[1024];
		if (dp_dpdk_global_init(&dc, derr, sizeof(derr)) != 0) {
			snprintf(err, errlen, "dataplane dpdk: %s", derr);
			return -1;
		}
	} else if (dp_kernel_probe(&probe, &perr) != 0) {
		snprintf(err, errlen, "%s", perr);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct shard *sh = aligned_alloc(64, (sizeof(*sh) + 63) & ~(size_t)63);
		if (!sh)
			abort();
		memset(sh, 0, sizeof(*sh));
		sh->id = i;
		sh->cfg = cfg_dup(cfg);
		sh->ks = ks_space_new(cfg->databases);
		if (!sh->cfg || !sh->ks)
			abort();
		sh->active_expire = true;
		sh->rng[0] = seed ^ (0x1234567ull * (i + 1));
		sh->rng[1] = ~seed + i;
		for (unsigned j = 0; j < n; j++) {
			sh->in[j] = ring_new(j, i);
			if (!sh->in[j])
				abort();
		}
		struct dp_port_conf pc = {
			.bind = (const char *const *)cfg->bind,
			.port = cfg->port,
			.backlog = cfg->tcp_backlog,
			.keepalive_s = cfg->tcp_keepalive_s,
			.reuseport = true,
		};
		const char *msg = NULL;
		sh->port = dpdk ? dp_dpdk_open(i, &pc, &msg) : dp_kernel_open(&pc, &msg);
		if (!sh->port) {
			snprintf(err, errlen, "%s", msg ? msg : strerror(errno));
			return -1;
		}
		sh->wake_fd = dp_wake_fd(sh->port);
		g_shards[i] = sh;
	}
	for (unsigned i = 0; i < n; i++) {
		int rc = pthread_create(&g_shards[i]->thread, NULL, shard_main, g_shards[i]);
		if (rc) {
			snprintf(err, errlen, "cannot start shard thread: %s", strerror(rc));
			return -1;
		}
	}
	return 0;
}

void shard_request_shutdown(int status)
{
	atomic_store(&g_shutdown_status, status);
	atomic_store_explicit(&g_shutdown, true, memory_order_release);
	for (unsigned i = 0; i < g_nshards; i++)
		if (g_shards[i])
			dp_wake(g_shards[i]->wake_fd);
}

unsigned shard_count(void)
{
	return g_nshards;
}

bool shard_shutdown_requested(void)
{
	return atomic_load_explicit(&g_shutdown, memory_order_acquire);
}

int shard_wait_all(void)
{
	for (unsigned i = 0; i < g_nshards; i++)
		pthread_join(g_shards[i]->thread, NULL);
	script_store_free();
	return atomic_load(&g_shutdown_status);
}
