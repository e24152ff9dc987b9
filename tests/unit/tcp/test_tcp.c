/* tests/unit/tcp/test_tcp.c — the userspace TCP/IP stack (dataplane/stack),
 * two instances back to back in one process with simulated time.
 *
 * Instance A (198.18.0.1, listening on 6379) and B (198.18.0.2, client)
 * exchange frames through a "wire": a priority queue per direction that
 * delivers each frame after a latency, and can drop, duplicate, reorder or
 * delay frames (seeded PRNG, or a per-test filter that picks frames by
 * content). One test uses real rte_eth_from_rings ports instead. Time only
 * moves when the loop jumps to the next delivery or timer, so multi-second
 * timeouts cost nothing. EAL starts in every test process (Criterion forks
 * one per test): hugepages when they can be reserved, else --no-huge. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "dataplane/netstack.h"
#include "dataplane/stack/stack_int.h"

#define IP_A 0xc6120001u         /* 198.18.0.1 */
#define IP_B 0xc6120002u         /* 198.18.0.2 */
#define IP_X 0xc6120003u         /* 198.18.0.3: an attacker / stranger */
#define PORT 6379
#define A 0
#define B 1

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t MAC_X[6] = { 0x02, 0, 0, 0, 0, 0x03 };

/* ------------------------------------------------------------- EAL */

static struct rte_mempool *g_mp;
static bool g_huge;

static void reserve_hugepages(void)
{
	mkdir("/dev/hugepages", 0755);
	struct statfs sf;
	if (statfs("/dev/hugepages", &sf) != 0 || sf.f_type != 0x958458f6 /* HUGETLBFS */)
		mount("nodev", "/dev/hugepages", "hugetlbfs", 0, "pagesize=2M");
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long cur = 0;
	if (f) {
		if (fscanf(f, "%ld", &cur) != 1)
			cur = 0;
		fclose(f);
	}
	if (cur < 512) {
		f = fopen("/proc/sys/vm/nr_hugepages", "w");
		if (f) {
			fprintf(f, "512\n");
			fclose(f);
		}
	}
}

static long free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void eal_up(void)
{
	reserve_hugepages();
	g_huge = free_hugepages() >= 64;
	char *huge[] = { "test_tcp", "-l", "0", "--no-pci", "--in-memory",
			 "--log-level=lib.*:error", NULL };
	char *nohuge[] = { "test_tcp", "-l", "0", "--no-pci", "--no-huge", "-m", "512",
			   "--no-shconf", "--log-level=lib.*:error", NULL };
	int rc = g_huge ? rte_eal_init(6, huge) : -1;
	if (rc < 0) {
		g_huge = false;
		rc = rte_eal_init(9, nohuge);
	}
	cr_assert_geq(rc, 0, "rte_eal_init failed: %s", rte_strerror(rte_errno));
	g_mp = rte_pktmbuf_pool_create("tcpt", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	cr_assert_not_null(g_mp, "mempool: %s", rte_strerror(rte_errno));
}

static void eal_down(void)
{
	rte_eal_cleanup();
}

TestSuite(tcp, .init = eal_up, .fini = eal_down);

/* ------------------------------------------------------------ pattern */

static inline uint8_t pat(uint32_t seed, uint64_t i)
{
	uint64_t h = (i + seed) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return (uint8_t)(h >> 40);
}

static uint64_t rng_next(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------ streams */

/* What a side's application does with one connection: send tx_total
 * pattern bytes, check every received byte against the peer's pattern. */
struct stream {
	bool used;
	ns_conn_t c;
	uint64_t tx_total, tx_done;
	uint64_t rx_done;
	uint32_t tx_seed, rx_seed;
	bool established, eof, closed, no_read, close_after_tx;
	int err;
	uint64_t bad_at;             /* first mismatching offset + 1 */
	char peer[64];
};

#define MAX_STREAMS 64

struct side {
	struct ns_stack *s;
	struct stream st[MAX_STREAMS];
	int accepts;
	int writable_events, readable_events;
	/* defaults for accepted connections */
	uint64_t acc_tx_total;
	uint32_t acc_tx_seed, acc_rx_seed;
	bool acc_no_read;
	bool acc_echo;               /* echo what is read instead of a pattern */
	bool acc_close_on_eof;
	uint32_t max_write;          /* >0: ns_send chunks of 1..max_write bytes */
	uint64_t wrng;
};

/* --------------------------------------------------------------- wire */

struct wframe {
	uint64_t at, order;
	struct rte_mbuf *m;
};

struct wire {
	struct wframe *h;
	size_t n, cap;
	uint64_t order;
	unsigned drop_pm, dup_pm, reorder_pm;   /* per million */
	uint64_t latency_us, reorder_max_us;
	uint64_t frames, dropped, duplicated, reordered;
};

struct pair;
/* Per-frame hook: return 0 to pass, 1 to drop (the harness frees it),
 * 2 when the hook took the frame (and maybe pushed it itself). */
typedef int (*filter_fn)(struct pair *p, int dir, struct rte_mbuf *m);

struct pair {
	struct side sd[2];
	struct wire w[2];            /* w[A]: frames A sent, towards B */
	uint64_t now;
	uint64_t rng;
	bool cut;                    /* drop everything */
	filter_fn filter;
	void *farg;
	int steps;
};

static void wire_push(struct pair *p, int dir, struct rte_mbuf *m, uint64_t at)
{
	struct wire *w = &p->w[dir];
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 1024;
		w->h = realloc(w->h, w->cap * sizeof(*w->h));
		cr_assert_not_null(w->h);
	}
	size_t i = w->n++;
	struct wframe f = { at, w->order++, m };
	while (i > 0) {
		size_t up = (i - 1) / 2;
		struct wframe *u = &w->h[up];
		if (u->at < f.at || (u->at == f.at && u->order < f.order))
			break;
		w->h[i] = *u;
		i = up;
	}
	w->h[i] = f;
}

static struct rte_mbuf *wire_pop_due(struct wire *w, uint64_t now)
{
	if (w->n == 0 || w->h[0].at > now)
		return NULL;
	struct rte_mbuf *m = w->h[0].m;
	struct wframe last = w->h[--w->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, b = i;
		struct wframe *bf = &last;
		if (l < w->n && (w->h[l].at < bf->at || (w->h[l].at == bf->at && w->h[l].order < bf->order))) {
			b = l;
			bf = &w->h[l];
		}
		if (r < w->n && (w->h[r].at < bf->at || (w->h[r].at == bf->at && w->h[r].order < bf->order))) {
			b = r;
			bf = &w->h[r];
		}
		if (b == i)
			break;
		w->h[i] = w->h[b];
		i = b;
	}
	if (w->n)
		w->h[i] = last;
	return m;
}

static uint64_t wire_next(const struct wire *w)
{
	return w->n ? w->h[0].at : UINT64_MAX;
}

/* A frame leaves side dir: faults, then the queue. */
static void wire_send(struct pair *p, int dir, struct rte_mbuf *m)
{
	struct wire *w = &p->w[dir];
	w->frames++;
	if (p->cut) {
		w->dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	if (p->filter) {
		int rc = p->filter(p, dir, m);
		if (rc == 1) {
			w->dropped++;
			rte_pktmbuf_free(m);
		}
		if (rc)
			return;
	}
	uint64_t r = rng_next(&p->rng) % 1000000u;
	if (r < w->drop_pm) {
		w->dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	uint64_t at = p->now + w->latency_us;
	r = rng_next(&p->rng) % 1000000u;
	if (r < w->dup_pm) {
		struct rte_mbuf *d = rte_pktmbuf_copy(m, g_mp, 0, UINT32_MAX);
		if (d) {
			w->duplicated++;
			wire_push(p, dir, d, at + 1 + rng_next(&p->rng) % 100);
		}
	}
	r = rng_next(&p->rng) % 1000000u;
	if (r < w->reorder_pm && w->reorder_max_us) {
		w->reordered++;
		at += 1 + rng_next(&p->rng) % w->reorder_max_us;
	}
	wire_push(p, dir, m, at);
}

static void wire_free(struct wire *w)
{
	for (size_t i = 0; i < w->n; i++)
		rte_pktmbuf_free(w->h[i].m);
	free(w->h);
	memset(w, 0, sizeof(*w));
}

/* ------------------------------------------------------------- pair */

static struct ns_conf conf_for(int side)
{
	struct ns_conf c = {
		.ip = side == A ? IP_A : IP_B,
		.prefix = 24,
		.gateway = 0,
		.mtu = 1500,
		.listen_port = side == A ? PORT : 0,
		.backlog = 64,
		.max_conns = 64,
		.keepalive_s = 0,
		.rcvbuf = 256 * 1024,
		.sndbuf = 256 * 1024,
		.isn_secret = side == A ? 0x1111 : 0x2222,
		.time_wait_ms = 1000,
	};
	memcpy(c.mac, side == A ? MAC_A : MAC_B, 6);
	return c;
}

static void pair_init(struct pair *p, const struct ns_conf *ca, const struct ns_conf *cb)
{
	memset(p, 0, sizeof(*p));
	struct ns_conf c[2] = { ca ? *ca : conf_for(A), cb ? *cb : conf_for(B) };
	for (int i = 0; i < 2; i++) {
		const char *err = NULL;
		p->sd[i].s = ns_create(&c[i], g_mp, &err);
		cr_assert_not_null(p->sd[i].s, "ns_create: %s", err ? err : "?");
		p->w[i].latency_us = 50;
	}
	p->now = 1000000000ull;    /* t = 1000 s: nothing special about 0 */
	p->rng = 42;
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		wire_free(&p->w[i]);
		ns_destroy(p->sd[i].s);
		p->sd[i].s = NULL;
	}
}

/* The live stream of handle c (a closed stream's handle may be reused). */
static struct stream *stream_of(struct side *sd, ns_conn_t c)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (sd->st[i].used && !sd->st[i].closed && sd->st[i].c == c)
			return &sd->st[i];
	return NULL;
}

static struct stream *stream_new(struct side *sd, ns_conn_t c)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (!sd->st[i].used) {
			memset(&sd->st[i], 0, sizeof(sd->st[i]));
			sd->st[i].used = true;
			sd->st[i].c = c;
			return &sd->st[i];
		}
	}
	cr_assert_fail("too many streams");
	return NULL;
}

static void stream_pump_tx(struct side *sd, struct stream *t)
{
	uint8_t buf[16384];
	while (!t->closed && !t->err && t->tx_done < t->tx_total) {
		uint64_t k = t->tx_total - t->tx_done;
		if (k > sizeof(buf))
			k = sizeof(buf);
		if (sd->max_write) {
			uint64_t w = 1 + rng_next(&sd->wrng) % sd->max_write;
			if (k > w)
				k = w;
		}
		for (uint64_t i = 0; i < k; i++)
			buf[i] = pat(t->tx_seed, t->tx_done + i);
		ssize_t n = ns_send(sd->s, t->c, buf, k);
		if (n == -EAGAIN) {
			ns_set_interest(sd->s, t->c, !t->no_read, true);
			return;
		}
		if (n < 0) {
			t->err = (int)-n;
			return;
		}
		t->tx_done += (uint64_t)n;
	}
	if (!t->closed && t->close_after_tx && t->tx_done == t->tx_total) {
		ns_close(sd->s, t->c);
		t->closed = true;
	}
}

static void stream_read(struct side *sd, struct stream *t, bool echo)
{
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = ns_recv(sd->s, t->c, buf, sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			t->eof = true;
			return;
		}
		if (n < 0) {
			t->err = (int)-n;
			return;
		}
		if (echo) {
			ns_send(sd->s, t->c, buf, (size_t)n);
		} else {
			for (ssize_t i = 0; i < n && !t->bad_at; i++)
				if (buf[i] != pat(t->rx_seed, t->rx_done + (uint64_t)i))
					t->bad_at = t->rx_done + (uint64_t)i + 1;
		}
		t->rx_done += (uint64_t)n;
	}
}

static void side_poll(struct side *sd)
{
	struct dp_event ev[64];
	int n;
	while ((n = ns_poll_events(sd->s, ev, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			/* handles are small integers below max_conns, whatever slot
			 * (half-open, TIME_WAIT) the connection lives in */
			cr_assert(ev[i].conn >= 0 && (uint32_t)ev[i].conn < sd->s->max_conn,
				  "handle %d out of range", ev[i].conn);
			struct stream *t = stream_of(sd, ev[i].conn);
			switch (ev[i].kind) {
			case DP_EV_ACCEPT:
				cr_assert_null(t, "ACCEPT for a handle in use");
				t = stream_new(sd, ev[i].conn);
				sd->accepts++;
				t->established = true;
				t->tx_total = sd->acc_tx_total;
				t->tx_seed = sd->acc_tx_seed;
				t->rx_seed = sd->acc_rx_seed;
				t->no_read = sd->acc_no_read;
				snprintf(t->peer, sizeof(t->peer), "%s", ev[i].peer);
				stream_pump_tx(sd, t);
				if (!t->no_read)
					stream_read(sd, t, sd->acc_echo);
				break;
			case DP_EV_WRITABLE:
				sd->writable_events++;
				if (!t)
					break;
				t->established = true;
				stream_pump_tx(sd, t);
				break;
			case DP_EV_READABLE:
				sd->readable_events++;
				if (!t || t->closed)
					break;
				if (!t->no_read)
					stream_read(sd, t, sd->acc_echo);
				else if (ns_recv(sd->s, t->c, NULL, 0) < 0 && ns_recv(sd->s, t->c, NULL, 0) != -EAGAIN)
					t->err = (int)-ns_recv(sd->s, t->c, NULL, 0);
				if (t->eof && sd->acc_close_on_eof && !t->closed) {
					ns_close(sd->s, t->c);
					t->closed = true;
				}
				break;
			default:
				break;
			}
		}
	}
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *t = &sd->st[i];
		if (t->used && t->established && !t->closed && t->tx_done < t->tx_total)
			stream_pump_tx(sd, t);
	}
}

/* One loop iteration of both instances at p->now. */
static void pair_process(struct pair *p)
{
	struct rte_mbuf *v[64];
	for (int d = 0; d < 2; d++) {
		int to = 1 - d;
		uint16_t n = 0;
		struct rte_mbuf *m;
		while ((m = wire_pop_due(&p->w[d], p->now)) != NULL) {
			v[n++] = m;
			if (n == 64) {
				ns_input(p->sd[to].s, v, n, p->now);
				n = 0;
			}
		}
		if (n)
			ns_input(p->sd[to].s, v, n, p->now);
	}
	for (int i = 0; i < 2; i++)
		ns_timers(p->sd[i].s, p->now);
	for (int i = 0; i < 2; i++)
		side_poll(&p->sd[i]);
	for (int i = 0; i < 2; i++) {
		uint16_t n;
		while ((n = ns_tx_drain(p->sd[i].s, v, 64)) > 0)
			for (uint16_t k = 0; k < n; k++)
				wire_send(p, i, v[k]);
	}
	p->steps++;
}

/* When something happens next: a delivery or a timer (UINT64_MAX: never). */
static uint64_t pair_next(const struct pair *p)
{
	uint64_t next = wire_next(&p->w[0]);
	uint64_t t = wire_next(&p->w[1]);
	if (t < next)
		next = t;
	for (int i = 0; i < 2; i++) {
		t = ns_next_timer(p->sd[i].s);
		if (t < next)
			next = t;
	}
	return next;
}

typedef bool (*pred_fn)(struct pair *p);

/* Run until pred holds (true) or for at most max_us simulated (false).
 * The clock stops where pred became true. */
static bool pair_run(struct pair *p, pred_fn pred, uint64_t max_us)
{
	uint64_t end = p->now + max_us;
	for (;;) {
		if (pred(p))
			return true;
		pair_process(p);
		if (pred(p))
			return true;
		uint64_t nx = pair_next(p);
		if (nx > end) {
			p->now = end;
			return pred(p);
		}
		p->now = nx > p->now ? nx : p->now + 1;
	}
}

/* Run for exactly dt of simulated time: events up to now + dt happen,
 * later ones wait. */
static void pair_advance(struct pair *p, uint64_t dt)
{
	uint64_t end = p->now + dt;
	for (;;) {
		pair_process(p);
		uint64_t nx = pair_next(p);
		if (nx > end) {
			p->now = end;
			return;
		}
		p->now = nx > p->now ? nx : p->now + 1;
	}
}

static struct stream *connect_b(struct pair *p, uint16_t port)
{
	ns_conn_t c = ns_connect(p->sd[B].s, IP_A, port);
	cr_assert_geq(c, 0, "ns_connect: %d", c);
	cr_assert_lt((uint32_t)c, p->sd[B].s->max_conn);
	return stream_new(&p->sd[B], c);
}

static bool pred_one_each(struct pair *p)
{
	return p->sd[A].accepts >= 1 && p->sd[B].st[0].established;
}

static struct stream *accepted(struct pair *p, int i)
{
	int k = 0;
	for (int j = 0; j < MAX_STREAMS; j++)
		if (p->sd[A].st[j].used && k++ == i)
			return &p->sd[A].st[j];
	return NULL;
}

static void stats(const struct pair *p, int side, struct ns_stats *st, struct ns_xstats *x)
{
	if (st)
		ns_get_stats(p->sd[side].s, st);
	if (x)
		ns_get_xstats(p->sd[side].s, x);
}

static void assert_invariants(const struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		int rc = ns_check_invariants(p->sd[i].s);
		cr_assert_eq(rc, 0, "invariant of side %c broken at stack.c:%d", i ? 'B' : 'A', -rc);
	}
}

/* ------------------------------------------------------ frame helpers */

struct tcpinfo {
	bool ok;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	unsigned optlen;
	uint8_t opt[40];
	uint32_t paylen;
};

static bool parse_tcp(const struct rte_mbuf *m, struct tcpinfo *ti)
{
	memset(ti, 0, sizeof(*ti));
	uint8_t f[128];
	uint32_t n = m->pkt_len < sizeof(f) ? m->pkt_len : sizeof(f);
	const uint8_t *p = rte_pktmbuf_read(m, 0, n, f);
	if (!p || n < 54 || p[12] != 0x08 || p[13] != 0x00 || p[23] != IPPROTO_TCP)
		return false;
	const struct rte_ipv4_hdr *iph = (const void *)(p + 14);
	unsigned ihl = (iph->version_ihl & 15u) * 4u;
	const struct rte_tcp_hdr *th = (const void *)(p + 14 + ihl);
	ti->src = rte_be_to_cpu_32(iph->src_addr);
	ti->dst = rte_be_to_cpu_32(iph->dst_addr);
	ti->sport = rte_be_to_cpu_16(th->src_port);
	ti->dport = rte_be_to_cpu_16(th->dst_port);
	ti->seq = rte_be_to_cpu_32(th->sent_seq);
	ti->ack = rte_be_to_cpu_32(th->recv_ack);
	ti->flags = th->tcp_flags;
	ti->win = rte_be_to_cpu_16(th->rx_win);
	unsigned doff = (th->data_off >> 4) * 4u;
	ti->optlen = doff - 20;
	if (14 + ihl + doff <= n)
		memcpy(ti->opt, (const uint8_t *)th + 20, ti->optlen);
	ti->paylen = rte_be_to_cpu_16(iph->total_length) - ihl - doff;
	ti->ok = true;
	return true;
}

/* Find option kind in parsed options; returns its offset or -1. */
static int find_opt(const struct tcpinfo *ti, uint8_t kind)
{
	unsigned i = 0;
	while (i < ti->optlen) {
		if (ti->opt[i] == 0)
			return -1;
		if (ti->opt[i] == 1) {
			i++;
			continue;
		}
		if (ti->opt[i] == kind)
			return (int)i;
		if (i + 1 >= ti->optlen || ti->opt[i + 1] < 2)
			return -1;
		i += ti->opt[i + 1];
	}
	return -1;
}

struct seg {
	const uint8_t *dmac, *smac;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	unsigned optlen;
	const uint8_t *pay;
	unsigned paylen;
};

static uint16_t cks(const void *p, size_t n, uint64_t sum)
{
	return (uint16_t)~ns_csum_fold(ns_csum_add(sum, p, n));
}

/* Build a frame with valid checksums; returns its length. */
static size_t mk_tcp(uint8_t *f, const struct seg *g)
{
	unsigned thl = 20 + g->optlen;
	unsigned tot = 20 + thl + g->paylen;
	memcpy(f, g->dmac ? g->dmac : MAC_A, 6);
	memcpy(f + 6, g->smac ? g->smac : MAC_B, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	struct rte_ipv4_hdr *iph = (void *)(f + 14);
	memset(iph, 0, 20);
	iph->version_ihl = 0x45;
	iph->total_length = rte_cpu_to_be_16((uint16_t)tot);
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_TCP;
	iph->src_addr = rte_cpu_to_be_32(g->src ? g->src : IP_B);
	iph->dst_addr = rte_cpu_to_be_32(g->dst ? g->dst : IP_A);
	iph->hdr_checksum = cks(iph, 20, 0);
	struct rte_tcp_hdr *th = (void *)(f + 34);
	th->src_port = rte_cpu_to_be_16(g->sport);
	th->dst_port = rte_cpu_to_be_16(g->dport ? g->dport : PORT);
	th->sent_seq = rte_cpu_to_be_32(g->seq);
	th->recv_ack = rte_cpu_to_be_32(g->ack);
	th->data_off = (uint8_t)((thl / 4) << 4);
	th->tcp_flags = g->flags;
	th->rx_win = rte_cpu_to_be_16(g->win);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (g->optlen)
		memcpy(f + 54, g->opt, g->optlen);
	if (g->paylen)
		memcpy(f + 34 + thl, g->pay, g->paylen);
	uint64_t ps = ns_pseudo_sum(rte_be_to_cpu_32(iph->src_addr), rte_be_to_cpu_32(iph->dst_addr),
				    IPPROTO_TCP, (uint16_t)(thl + g->paylen));
	th->cksum = cks(th, thl + g->paylen, ps);
	return 14 + tot;
}

static void refix_tcp_cksum(uint8_t *f)
{
	struct rte_ipv4_hdr *iph = (void *)(f + 14);
	unsigned ihl = (iph->version_ihl & 15u) * 4u;
	unsigned tot = rte_be_to_cpu_16(iph->total_length);
	struct rte_tcp_hdr *th = (void *)(f + 14 + ihl);
	th->cksum = 0;
	uint64_t ps = ns_pseudo_sum(rte_be_to_cpu_32(iph->src_addr), rte_be_to_cpu_32(iph->dst_addr),
				    IPPROTO_TCP, (uint16_t)(tot - ihl));
	th->cksum = cks(th, tot - ihl, ps);
}

static void refix_ip_cksum(uint8_t *f)
{
	struct rte_ipv4_hdr *iph = (void *)(f + 14);
	iph->hdr_checksum = 0;
	iph->hdr_checksum = cks(iph, (iph->version_ihl & 15u) * 4u, 0);
}

static struct rte_mbuf *mbuf_of(const uint8_t *f, size_t n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g_mp);
	cr_assert_not_null(m);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)n);
	cr_assert_not_null(d);
	memcpy(d, f, n);
	return m;
}

static void inject(struct ns_stack *s, const uint8_t *f, size_t n, uint64_t now)
{
	struct rte_mbuf *m = mbuf_of(f, n);
	ns_input(s, &m, 1, now);
}

/* Drain s and keep up to max frames (others freed); returns the count. */
static int drain(struct ns_stack *s, struct rte_mbuf **out, int max)
{
	struct rte_mbuf *v[64];
	int k = 0;
	uint16_t n;
	while ((n = ns_tx_drain(s, v, 64)) > 0) {
		for (uint16_t i = 0; i < n; i++) {
			if (k < max)
				out[k++] = v[i];
			else
				rte_pktmbuf_free(v[i]);
		}
	}
	return k;
}

static void free_all(struct rte_mbuf **v, int n)
{
	for (int i = 0; i < n; i++)
		rte_pktmbuf_free(v[i]);
}

static size_t mk_arp(uint8_t *f, uint16_t op, const uint8_t *smac, uint32_t sip, uint32_t tip)
{
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	struct rte_arp_hdr *ah = (void *)(f + 14);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	memcpy(ah->arp_data.arp_sha.addr_bytes, smac, 6);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return 60;
}

/* Open one B->A connection through the wire, optionally moving data. */
static void open_one(struct pair *p)
{
	connect_b(p, PORT);
	cr_assert(pair_run(p, pred_one_each, 5000000), "handshake did not complete");
}

/* ================================================================ tests */

/* ------------------------------------------------ configuration */

struct conf_case {
	const char *name;
	void (*mut)(struct ns_conf *c);
	const char *err;             /* substring of the error text */
};

static void m_ip0(struct ns_conf *c) { c->ip = 0; }
static void m_prefix0(struct ns_conf *c) { c->prefix = 0; }
static void m_prefix33(struct ns_conf *c) { c->prefix = 33; }
static void m_mtu_small(struct ns_conf *c) { c->mtu = 575; }
static void m_mtu_big(struct ns_conf *c) { c->mtu = 9001; }
static void m_conns0(struct ns_conf *c) { c->max_conns = 0; }
static void m_rcvbuf(struct ns_conf *c) { c->rcvbuf = 100; }
static void m_sndbuf(struct ns_conf *c) { c->sndbuf = 0; }
static void m_mac0(struct ns_conf *c) { memset(c->mac, 0, 6); }
static void m_macmc(struct ns_conf *c) { c->mac[0] = 0x01; }
static void m_keep(struct ns_conf *c) { c->keepalive_s = -1; }

Test(tcp, create_rejects_bad_conf)
{
	static const struct conf_case cases[] = {
		{ "ip 0", m_ip0, "address" },
		{ "prefix 0", m_prefix0, "prefix" },
		{ "prefix 33", m_prefix33, "prefix" },
		{ "mtu 575", m_mtu_small, "mtu" },
		{ "mtu 9001", m_mtu_big, "mtu" },
		{ "max_conns 0", m_conns0, "max_conns" },
		{ "rcvbuf 100", m_rcvbuf, "rcvbuf" },
		{ "sndbuf 0", m_sndbuf, "sndbuf" },
		{ "zero mac", m_mac0, "MAC" },
		{ "multicast mac", m_macmc, "MAC" },
		{ "keepalive -1", m_keep, "keepalive" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ns_conf c = conf_for(A);
		cases[i].mut(&c);
		const char *err = NULL;
		struct ns_stack *s = ns_create(&c, g_mp, &err);
		cr_expect_null(s, "%s: accepted", cases[i].name);
		cr_expect(err && strstr(err, cases[i].err), "%s: error '%s'", cases[i].name,
			  err ? err : "(null)");
		ns_destroy(s);
	}
	const char *err = NULL;
	struct ns_conf c = conf_for(A);
	cr_expect_null(ns_create(&c, NULL, &err), "no mempool accepted");
	cr_expect_null(ns_create(NULL, g_mp, &err), "no conf accepted");
	struct ns_stack *s = ns_create(&c, g_mp, &err);
	cr_assert_not_null(s, "%s", err);
	ns_destroy(s);
}

/* ------------------------------------------------ handshake */

struct cap {
	struct tcpinfo syn, synack;
	bool have_syn, have_synack;
	int sack_acks;               /* A->B ACKs carrying SACK blocks */
	uint32_t isn[2];             /* ISN seen per direction */
	bool isn_seen[2];
	/* drop/hold rules */
	uint64_t drop_off;           /* stream offset (B->A) to lose once */
	bool drop_armed;
	int dropped;
	bool tail_drop;
	uint64_t total;
	struct rte_mbuf *held[16];
	int nheld, hold_n;
	uint64_t hold_from;
	bool hold_done;
	uint64_t drop_acks_until;
	int acks_dropped;
	/* timing */
	uint64_t first_a_frame_at;
	struct tcpinfo first_a;
	int a_frames;
};

static int cap_filter(struct pair *p, int dir, struct rte_mbuf *m)
{
	struct cap *c = p->farg;
	struct tcpinfo ti;
	if (!parse_tcp(m, &ti))
		return 0;
	if ((ti.flags & TH_SYN) && !c->isn_seen[dir]) {
		c->isn[dir] = ti.seq;
		c->isn_seen[dir] = true;
	}
	if (dir == B && (ti.flags & (TH_SYN | TH_ACK)) == TH_SYN && !c->have_syn) {
		c->syn = ti;
		c->have_syn = true;
	}
	if (dir == A && (ti.flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) && !c->have_synack) {
		c->synack = ti;
		c->have_synack = true;
	}
	if (getenv("TCPDBG"))          /* TCPDBG=1: trace every segment */
		fprintf(stderr, "t=%lu dir=%c seq=%u ack=%u fl=%02x win=%u len=%u\n", (unsigned long)p->now, dir ? 'B' : 'A', ti.seq, ti.ack, ti.flags, ti.win, ti.paylen);
	if (dir == A) {
		if (find_opt(&ti, 5) >= 0)
			c->sack_acks++;
		if (!c->a_frames++) {
			c->first_a_frame_at = p->now;
			c->first_a = ti;
		}
		if (ti.paylen == 0 && !(ti.flags & (TH_SYN | TH_FIN)) && p->now < c->drop_acks_until) {
			c->acks_dropped++;
			return 1;
		}
	}
	if (dir == B && ti.paylen > 0 && c->isn_seen[B]) {
		uint64_t off = ti.seq - c->isn[B] - 1;
		if (c->drop_armed && off <= c->drop_off && c->drop_off < off + ti.paylen) {
			c->drop_armed = false;
			c->dropped++;
			return 1;
		}
		if (c->tail_drop && off + ti.paylen == c->total) {
			c->tail_drop = false;
			c->dropped++;
			return 1;
		}
		if (c->hold_n && !c->hold_done && off >= c->hold_from) {
			c->held[c->nheld++] = m;
			if (c->nheld == c->hold_n + 1) {
				/* reverse order: the last one first (hold_n == 1: a swap) */
				for (int i = c->nheld - 1; i >= 0; i--)
					wire_push(p, dir, c->held[i], p->now + p->w[dir].latency_us);
				c->nheld = 0;
				c->hold_done = true;
			}
			return 2;
		}
	}
	return 0;
}

struct hs_case {
	const char *name;
	uint32_t rcv_a, rcv_b;
	unsigned ws_a, ws_b;
};

Test(tcp, handshake_negotiates_options)
{
	static const struct hs_case cases[] = {
		{ "64k both", 65535, 65535, 0, 0 },
		{ "256k / 1M", 256 * 1024, 1024 * 1024, 3, 5 },
		{ "16k / 256k", 16384, 256 * 1024, 0, 3 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hs_case *hc = &cases[i];
		struct ns_conf ca = conf_for(A), cb = conf_for(B);
		ca.rcvbuf = hc->rcv_a;
		cb.rcvbuf = hc->rcv_b;
		struct pair p;
		pair_init(&p, &ca, &cb);
		struct cap c = { 0 };
		p.farg = &c;
		p.filter = cap_filter;
		open_one(&p);
		ns_conn_t a = accepted(&p, 0)->c, b = p.sd[B].st[0].c;
		unsigned fl, sws, rws, mss;
		cr_assert_eq(ns_conn_opts(p.sd[A].s, a, &fl, &sws, &rws, &mss), 0);
		cr_expect_eq(fl, 7u, "%s: A options %u", hc->name, fl);
		cr_expect_eq(rws, hc->ws_a, "%s: A rcv_ws %u", hc->name, rws);
		cr_expect_eq(sws, hc->ws_b, "%s: A snd_ws %u", hc->name, sws);
		cr_expect_eq(mss, 1460u, "%s: mss %u", hc->name, mss);
		cr_assert_eq(ns_conn_opts(p.sd[B].s, b, &fl, &sws, &rws, &mss), 0);
		cr_expect_eq(fl, 7u);
		cr_expect_eq(rws, hc->ws_b);
		cr_expect_eq(sws, hc->ws_a);
		/* what was on the wire */
		cr_assert(c.have_syn && c.have_synack);
		int o = find_opt(&c.syn, 2);
		cr_assert_geq(o, 0, "SYN without MSS");
		cr_expect_eq((c.syn.opt[o + 2] << 8) | c.syn.opt[o + 3], 1460);
		cr_expect_geq(find_opt(&c.syn, 4), 0, "SYN without SACK-permitted");
		cr_expect_geq(find_opt(&c.syn, 8), 0, "SYN without timestamps");
		o = find_opt(&c.syn, 3);
		cr_assert_geq(o, 0, "SYN without window scale");
		cr_expect_eq(c.syn.opt[o + 2], hc->ws_b);
		o = find_opt(&c.synack, 3);
		cr_assert_geq(o, 0);
		cr_expect_eq(c.synack.opt[o + 2], hc->ws_a);
		o = find_opt(&c.synack, 8);
		cr_assert_geq(o, 0);
		int so = find_opt(&c.syn, 8);
		cr_expect_eq(memcmp(c.synack.opt + o + 6, c.syn.opt + so + 2, 4), 0,
			     "SYN-ACK TSecr must echo the SYN's TSval");
		cr_expect_eq(c.synack.ack, c.syn.seq + 1);
		/* events */
		cr_expect_eq(p.sd[A].accepts, 1);
		char want[64];
		snprintf(want, sizeof(want), "198.18.0.2:%u", c.syn.sport);
		cr_expect_str_eq(accepted(&p, 0)->peer, want);
		cr_expect_eq(p.sd[B].writable_events, 1, "B: one WRITABLE = established");
		struct ns_stats sa, sb;
		stats(&p, A, &sa, NULL);
		stats(&p, B, &sb, NULL);
		cr_expect_eq(sa.conns_opened, 1);
		cr_expect_eq(sb.conns_opened, 1);
		cr_expect_eq(sa.conns_current, 1);
		cr_expect_eq(sa.arp_requests_answered, 1, "B resolved A once");
		assert_invariants(&p);
		pair_free(&p);
	}
}

/* A peer that offers no options gets none back and the RFC 1122 default
 * MSS; our segments then carry no options at all. */
Test(tcp, handshake_without_options)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct ns_stack *a = p.sd[A].s;
	uint8_t f[2048];
	struct rte_mbuf *out[64];
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), p.now);
	free_all(out, drain(a, out, 64));
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 40000,
			 .seq = 1000, .flags = TH_SYN, .win = 8192 };
	inject(a, f, mk_tcp(f, &g), p.now);
	int n = drain(a, out, 64);
	cr_assert_eq(n, 1, "%d frames", n);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	cr_expect_eq(ti.flags, TH_SYN | TH_ACK);
	cr_expect_eq(ti.ack, 1001u);
	cr_expect_eq(ti.dst, IP_X);
	cr_expect_eq(ti.optlen, 4u, "only MSS may be offered back");
	cr_expect_eq(ti.opt[0], 2);
	cr_expect_eq((ti.opt[2] << 8) | ti.opt[3], 1460);
	cr_expect_eq(ti.win, 65535);
	free_all(out, n);
	g.seq = 1001;
	g.ack = ti.seq + 1;
	g.flags = TH_ACK;
	inject(a, f, mk_tcp(f, &g), p.now);
	struct dp_event ev[4];
	cr_assert_eq(ns_poll_events(a, ev, 4), 1);
	cr_expect_eq(ev[0].kind, (uint32_t)DP_EV_ACCEPT);
	cr_expect_str_eq(ev[0].peer, "198.18.0.3:40000");
	unsigned fl, sws, rws, mss;
	cr_assert_eq(ns_conn_opts(a, ev[0].conn, &fl, &sws, &rws, &mss), 0);
	cr_expect_eq(fl, 0u);
	cr_expect_eq(sws, 0u);
	cr_expect_eq(rws, 0u);
	cr_expect_eq(mss, 536u);
	uint8_t data[2000];
	memset(data, 'x', sizeof(data));
	cr_assert_eq(ns_send(a, ev[0].conn, data, sizeof(data)), 2000);
	n = drain(a, out, 64);
	uint32_t total = 0;
	for (int i = 0; i < n; i++) {
		cr_assert(parse_tcp(out[i], &ti));
		cr_expect_leq(ti.paylen, 536u);
		cr_expect_eq(ti.optlen, 0u);
		total += ti.paylen;
	}
	cr_expect_eq(total, 2000u);
	free_all(out, n);
	pair_free(&p);
}

/* ------------------------------------------------ data transfer */

static bool pred_streams_done(struct pair *p)
{
	struct stream *a = accepted(p, 0), *b = &p->sd[B].st[0];
	return a && a->rx_done >= b->tx_total && b->rx_done >= a->tx_total &&
	       b->tx_done == b->tx_total && a->tx_done == a->tx_total;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void setup_bulk(struct pair *p, uint64_t a_bytes, uint64_t b_bytes)
{
	p->sd[A].acc_tx_total = a_bytes;
	p->sd[A].acc_tx_seed = 7;
	p->sd[A].acc_rx_seed = 9;
	struct stream *b = connect_b(p, PORT);
	b->tx_total = b_bytes;
	b->tx_seed = 9;
	b->rx_seed = 7;
}

static void check_bulk(struct pair *p, uint64_t a_bytes, uint64_t b_bytes)
{
	struct stream *a = accepted(p, 0), *b = &p->sd[B].st[0];
	cr_assert_not_null(a);
	cr_expect_eq(a->rx_done, b_bytes, "A received %lu of %lu", (unsigned long)a->rx_done,
		     (unsigned long)b_bytes);
	cr_expect_eq(b->rx_done, a_bytes, "B received %lu of %lu", (unsigned long)b->rx_done,
		     (unsigned long)a_bytes);
	cr_expect_eq(a->bad_at, 0, "A: corrupt byte at %lu", (unsigned long)a->bad_at - 1);
	cr_expect_eq(b->bad_at, 0, "B: corrupt byte at %lu", (unsigned long)b->bad_at - 1);
	cr_expect_eq(a->err, 0);
	cr_expect_eq(b->err, 0);
}

static bool pred_closed_both(struct pair *p)
{
	struct ns_stats sa, sb;
	ns_get_stats(p->sd[A].s, &sa);
	ns_get_stats(p->sd[B].s, &sb);
	return sa.conns_current == 0 && sb.conns_current == 0;
}

Test(tcp, bulk_both_ways)
{
	const uint64_t n = 6u << 20;
	struct pair p;
	pair_init(&p, NULL, NULL);
	p.sd[A].acc_close_on_eof = true;
	setup_bulk(&p, n, n);
	double t0 = wall_now();
	cr_assert(pair_run(&p, pred_streams_done, 60000000), "transfer incomplete");
	double dt = wall_now() - t0;
	check_bulk(&p, n, n);
	struct ns_stats sa, sb;
	stats(&p, A, &sa, NULL);
	stats(&p, B, &sb, NULL);
	cr_expect_eq(sa.retransmits + sb.retransmits, 0, "retransmissions on a clean wire");
	cr_log_info("bulk: %.1f MB both ways in %.3f s wall: %.0f MB/s, %lu frames, %d steps",
		    2.0 * n / 1e6, dt, 2.0 * n / 1e6 / dt,
		    (unsigned long)(sa.tx_pkts + sb.tx_pkts), p.steps);
	/* B closes, A closes on EOF: B ends in TIME_WAIT, A frees the slot. */
	ns_close(p.sd[B].s, p.sd[B].st[0].c);
	p.sd[B].st[0].closed = true;
	cr_assert(pair_run(&p, pred_closed_both, 5000000), "close did not finish");
	cr_expect_eq(ns_tw_count(p.sd[B].s), 1u);
	cr_expect_eq(ns_tw_count(p.sd[A].s), 0u);
	stats(&p, A, &sa, NULL);
	cr_expect_eq(sa.conns_closed, 1);
	cr_expect_eq(sa.conns_reset, 0);
	assert_invariants(&p);
	pair_free(&p);
}

/* The last segment is lost: no dupacks can follow. With SACK the probe
 * timeout (2*SRTT after the last new data) resends the last segment
 * (tail loss probe, RFC 8985 7) long before the RTO would; a dead path
 * (rto_backs_off_then_gives_up) still ends in RTOs. */
Test(tcp, retransmit_on_timeout)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct cap c = { .tail_drop = true, .total = 100000 };
	p.farg = &c;
	p.filter = cap_filter;
	setup_bulk(&p, 0, 100000);
	cr_assert(pair_run(&p, pred_streams_done, 10000000));
	check_bulk(&p, 0, 100000);
	cr_expect_eq(c.dropped, 1);
	struct ns_stats sb;
	struct ns_xstats xb;
	stats(&p, B, &sb, &xb);
	cr_expect_eq(xb.tail_probes, 1);
	cr_expect_eq(sb.rto_timeouts, 0);
	cr_expect_eq(sb.retransmits, 1);
	cr_expect_eq(sb.fast_retransmits, 0);
	assert_invariants(&p);
	pair_free(&p);
}

/* One segment lost mid-stream: three dupacks, fast retransmit, NewReno. */
Test(tcp, fast_retransmit)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct cap c = { .drop_armed = true, .drop_off = 1000000 };
	p.farg = &c;
	p.filter = cap_filter;
	setup_bulk(&p, 0, 2u << 20);
	cr_assert(pair_run(&p, pred_streams_done, 20000000));
	check_bulk(&p, 0, 2u << 20);
	cr_expect_eq(c.dropped, 1);
	struct ns_stats sb;
	struct ns_xstats xa;
	stats(&p, B, &sb, NULL);
	stats(&p, A, NULL, &xa);
	cr_log_info("fast_retransmit: B retransmits %lu fast %lu rto %lu; A ooo %lu dup %lu",
		    (unsigned long)sb.retransmits, (unsigned long)sb.fast_retransmits,
		    (unsigned long)sb.rto_timeouts, (unsigned long)xa.ooo_queued,
		    (unsigned long)xa.dup_segments);
	struct ns_stats sa;
	stats(&p, A, &sa, NULL);
	cr_expect_eq(sb.fast_retransmits, 1);
	cr_expect_eq(sb.rto_timeouts, 0);
	cr_expect_eq(sb.retransmits, 1, "only the lost segment is sent again");
	cr_expect_eq(sa.drop_ooo_full, 0);
	cr_expect_geq(xa.ooo_queued, 3);
	cr_expect_geq(c.sack_acks, 3, "dup ACKs must carry SACK blocks");
	assert_invariants(&p);
	pair_free(&p);
}

struct ooo_case {
	const char *name;
	int hold;                    /* segments held back and reversed */
	uint64_t min_ooo;
};

Test(tcp, out_of_order_reassembled)
{
	static const struct ooo_case cases[] = {
		{ "swap two", 1, 1 },
		{ "reverse nine", 8, 8 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pair p;
		pair_init(&p, NULL, NULL);
		struct cap c = { .hold_n = cases[i].hold, .hold_from = 40000 };
		p.farg = &c;
		p.filter = cap_filter;
		setup_bulk(&p, 0, 300000);
		cr_assert(pair_run(&p, pred_streams_done, 10000000), "%s", cases[i].name);
		check_bulk(&p, 0, 300000);
		cr_expect(c.hold_done, "%s: nothing reordered", cases[i].name);
		struct ns_xstats xa;
		struct ns_stats sb;
		stats(&p, A, NULL, &xa);
		stats(&p, B, &sb, NULL);
		cr_expect_geq(xa.ooo_queued, cases[i].min_ooo, "%s: ooo %lu", cases[i].name,
			      (unsigned long)xa.ooo_queued);
		cr_expect_geq(c.sack_acks, 1, "%s: no SACK", cases[i].name);
		if (cases[i].hold == 1) {
			cr_expect_eq(xa.ooo_queued, 1);
			cr_expect_eq(sb.retransmits, 0, "a one-segment swap is not a loss");
		}
		assert_invariants(&p);
		pair_free(&p);
	}
}

static bool pred_b_sent_all(struct pair *p)
{
	return accepted(p, 0) && p->sd[B].st[0].tx_done == p->sd[B].st[0].tx_total;
}

/* A reader that stops: the window closes, the sender probes it (persist
 * timer); when the reader resumes and its window update is lost, a probe
 * learns the window and the transfer completes. */
Test(tcp, zero_window_and_persist)
{
	struct ns_conf ca = conf_for(A);
	ca.rcvbuf = 16384;
	struct pair p;
	pair_init(&p, &ca, NULL);
	struct cap c = { 0 };
	p.farg = &c;
	p.filter = cap_filter;
	p.sd[A].acc_no_read = true;
	setup_bulk(&p, 0, 100000);
	cr_assert(pair_run(&p, pred_b_sent_all, 1000000));
	pair_advance(&p, 3000000);
	ns_conn_t b = p.sd[B].st[0].c;
	cr_expect_eq(ns_conn_unacked(p.sd[B].s, b), 100000u - 16384u);
	struct ns_xstats xb;
	stats(&p, B, NULL, &xb);
	uint64_t probes = xb.persist_probes;
	cr_expect_geq(probes, 3, "persist probes: %lu", (unsigned long)probes);
	cr_expect_leq(probes, 6, "persist must back off: %lu", (unsigned long)probes);
	cr_expect_eq(ns_conn_state(p.sd[B].s, b), NS_ESTABLISHED);
	/* Resume reading; lose the window update. */
	c.drop_acks_until = p.now + 20000;
	struct stream *a = accepted(&p, 0);
	a->no_read = false;
	stream_read(&p.sd[A], a, false);
	cr_expect_eq(a->rx_done, 16384u);
	cr_assert(pair_run(&p, pred_streams_done, 120000000));
	check_bulk(&p, 0, 100000);
	cr_expect_geq(c.acks_dropped, 1, "the window update was not sent");
	stats(&p, B, NULL, &xb);
	cr_expect_gt(xb.persist_probes, probes, "no probe after the lost update");
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ closing */

struct close_case {
	const char *name;
	bool a_first, b_first;       /* both: simultaneous */
};

static bool pred_b_eof(struct pair *p)
{
	return p->sd[B].st[0].eof;
}

static bool pred_a_eof(struct pair *p)
{
	struct stream *a = accepted(p, 0);
	return a && a->eof;
}

static bool pred_tw_both(struct pair *p)
{
	return ns_tw_count(p->sd[A].s) == 1 && ns_tw_count(p->sd[B].s) == 1;
}

static bool pred_tw_a_only(struct pair *p)
{
	return ns_tw_count(p->sd[A].s) == 1 && pred_closed_both(p);
}

static bool pred_tw_b_only(struct pair *p)
{
	return ns_tw_count(p->sd[B].s) == 1 && pred_closed_both(p);
}

Test(tcp, close_from_either_side_and_simultaneous)
{
	static const struct close_case cases[] = {
		{ "server first", true, false },
		{ "client first", false, true },
		{ "simultaneous", true, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct close_case *cc = &cases[i];
		struct pair p;
		pair_init(&p, NULL, NULL);
		setup_bulk(&p, 5000, 5000);
		cr_assert(pair_run(&p, pred_streams_done, 2000000));
		struct stream *a = accepted(&p, 0), *b = &p.sd[B].st[0];
		if (cc->a_first && cc->b_first) {
			ns_close(p.sd[A].s, a->c);
			ns_close(p.sd[B].s, b->c);
			a->closed = b->closed = true;
			cr_assert(pair_run(&p, pred_tw_both, 5000000), "%s", cc->name);
			cr_expect_eq(ns_conn_state(p.sd[A].s, a->c), NS_TIME_WAIT);
			cr_expect_eq(ns_conn_state(p.sd[B].s, b->c), NS_TIME_WAIT);
		} else if (cc->a_first) {
			ns_close(p.sd[A].s, a->c);
			a->closed = true;
			cr_assert(pair_run(&p, pred_b_eof, 2000000), "%s: no EOF", cc->name);
			pair_advance(&p, 1000);
			cr_expect_eq(ns_conn_state(p.sd[A].s, a->c), NS_FIN_WAIT_2, "%s", cc->name);
			cr_expect_eq(ns_conn_state(p.sd[B].s, b->c), NS_CLOSE_WAIT, "%s", cc->name);
			cr_expect_eq(ns_recv(p.sd[B].s, b->c, (uint8_t[4]){0}, 4), 0, "EOF again");
			ns_close(p.sd[B].s, b->c);
			b->closed = true;
			cr_assert(pair_run(&p, pred_tw_a_only, 2000000), "%s", cc->name);
			cr_expect_eq(ns_conn_state(p.sd[B].s, b->c), NS_FREE);
		} else {
			ns_close(p.sd[B].s, b->c);
			b->closed = true;
			cr_assert(pair_run(&p, pred_a_eof, 2000000), "%s: no EOF", cc->name);
			pair_advance(&p, 1000);
			cr_expect_eq(ns_conn_state(p.sd[B].s, b->c), NS_FIN_WAIT_2, "%s", cc->name);
			cr_expect_eq(ns_conn_state(p.sd[A].s, a->c), NS_CLOSE_WAIT, "%s", cc->name);
			ns_close(p.sd[A].s, a->c);
			a->closed = true;
			cr_assert(pair_run(&p, pred_tw_b_only, 2000000), "%s", cc->name);
		}
		struct ns_stats sa, sb;
		stats(&p, A, &sa, NULL);
		stats(&p, B, &sb, NULL);
		cr_expect_eq(sa.conns_reset + sb.conns_reset, 0, "%s: reset", cc->name);
		cr_expect_eq(sa.conns_current + sb.conns_current, 0, "%s", cc->name);
		/* TIME_WAIT lasts time_wait_ms (1 s here), then the slot is free. */
		pair_advance(&p, 900000);
		cr_expect_eq(ns_tw_count(p.sd[A].s) + ns_tw_count(p.sd[B].s),
			     (cc->a_first && cc->b_first) ? 2u : 1u, "%s: TIME_WAIT too short", cc->name);
		pair_advance(&p, 200000);
		cr_expect_eq(ns_tw_count(p.sd[A].s) + ns_tw_count(p.sd[B].s), 0u, "%s: TIME_WAIT stuck",
			     cc->name);
		assert_invariants(&p);
		pair_free(&p);
	}
}

/* Close right after queueing 1 MB: the FIN follows the data. */
Test(tcp, close_flushes_queued_data)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	p.sd[A].acc_close_on_eof = true;
	setup_bulk(&p, 0, 1u << 20);
	p.sd[B].st[0].close_after_tx = true;
	cr_assert(pair_run(&p, pred_a_eof, 20000000));
	check_bulk(&p, 0, 1u << 20);
	cr_assert(pair_run(&p, pred_closed_both, 2000000));
	cr_expect_eq(ns_tw_count(p.sd[B].s), 1u);
	pair_free(&p);
}

/* ------------------------------------------------ RST */

static bool pred_b_err(struct pair *p)
{
	return p->sd[B].st[0].err != 0;
}

Test(tcp, rst_refused_and_abort)
{
	/* No listener on the port: RST, the connect fails. */
	struct pair p;
	pair_init(&p, NULL, NULL);
	connect_b(&p, 7000);
	cr_assert(pair_run(&p, pred_b_err, 2000000));
	cr_expect_eq(p.sd[B].st[0].err, ECONNREFUSED);
	cr_expect_geq(p.sd[B].readable_events, 1);
	struct ns_stats sa, sb;
	stats(&p, A, &sa, NULL);
	cr_expect_eq(sa.drop_no_conn, 1);
	ns_close(p.sd[B].s, p.sd[B].st[0].c);
	stats(&p, B, &sb, NULL);
	cr_expect_eq(sb.conns_current, 0);
	pair_free(&p);

	/* Closing with unread data aborts (RST); the peer sees ECONNRESET. */
	pair_init(&p, NULL, NULL);
	p.sd[A].acc_no_read = true;
	setup_bulk(&p, 0, 1000);
	cr_assert(pair_run(&p, pred_b_sent_all, 1000000));
	pair_advance(&p, 100000);
	cr_expect_eq(ns_conn_unacked(p.sd[B].s, p.sd[B].st[0].c), 0u);
	ns_close(p.sd[A].s, accepted(&p, 0)->c);
	accepted(&p, 0)->closed = true;
	cr_assert(pair_run(&p, pred_b_err, 1000000));
	cr_expect_eq(p.sd[B].st[0].err, ECONNRESET);
	cr_expect_eq(ns_send(p.sd[B].s, p.sd[B].st[0].c, "x", 1), -ECONNRESET);
	cr_expect_eq(ns_recv(p.sd[B].s, p.sd[B].st[0].c, (uint8_t[4]){0}, 4), -ECONNRESET);
	stats(&p, A, &sa, NULL);
	stats(&p, B, &sb, NULL);
	cr_expect_eq(sa.conns_reset, 1);
	cr_expect_eq(sb.conns_reset, 1);
	cr_expect_eq(sa.conns_current, 0);
	assert_invariants(&p);
	pair_free(&p);
}

/* RFC 5961: only an RST at exactly rcv_nxt resets; one elsewhere in the
 * window and a SYN on a live connection get a challenge ACK. */
Test(tcp, rst_and_syn_challenge_acks)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	open_one(&p);
	pair_advance(&p, 100000);
	struct ns_stack *a = p.sd[A].s;
	ns_conn_t ac = accepted(&p, 0)->c;
	struct ns_tcb *tp = ns_conn_tcb(a, ac);
	uint8_t f[256];
	struct rte_mbuf *out[8];
	struct ns_xstats x;
	struct seg g = { .sport = tp->rport, .seq = tp->rcv_nxt + 1000, .ack = tp->snd_nxt,
			 .flags = TH_RST | TH_ACK };
	inject(a, f, mk_tcp(f, &g), p.now);
	int n = drain(a, out, 8);
	cr_assert_eq(n, 1, "challenge ACK expected, %d frames", n);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	cr_expect_eq(ti.flags, TH_ACK);
	cr_expect_eq(ti.ack, tp->rcv_nxt);
	free_all(out, n);
	ns_get_xstats(a, &x);
	cr_expect_eq(x.challenge_acks, 1);
	cr_expect_eq(ns_conn_state(a, ac), NS_ESTABLISHED);
	/* far outside the window: ignored */
	g.seq = tp->rcv_nxt + 0x40000000u;
	inject(a, f, mk_tcp(f, &g), p.now);
	cr_expect_eq(drain(a, out, 8), 0);
	cr_expect_eq(ns_conn_state(a, ac), NS_ESTABLISHED);
	/* SYN on the live tuple */
	g.seq = tp->rcv_nxt + 5;
	g.flags = TH_SYN;
	g.ack = 0;
	inject(a, f, mk_tcp(f, &g), p.now);
	n = drain(a, out, 8);
	cr_expect_eq(n, 1);
	free_all(out, n);
	ns_get_xstats(a, &x);
	cr_expect_eq(x.challenge_acks, 2);
	cr_expect_eq(ns_conn_state(a, ac), NS_ESTABLISHED);
	/* an ACK for data never sent: ACKed back, dropped */
	g.seq = tp->rcv_nxt;
	g.ack = tp->snd_max + 100000;
	g.flags = TH_ACK;
	inject(a, f, mk_tcp(f, &g), p.now);
	n = drain(a, out, 8);
	cr_expect_eq(n, 1);
	free_all(out, n);
	cr_expect_eq(ns_conn_state(a, ac), NS_ESTABLISHED);
	/* exact RST: reset */
	g.seq = tp->rcv_nxt;
	g.ack = tp->snd_nxt;
	g.flags = TH_RST;
	inject(a, f, mk_tcp(f, &g), p.now);
	cr_expect_eq(drain(a, out, 8), 0);
	cr_expect_eq(ns_conn_state(a, ac), NS_CLOSED);
	cr_expect_eq(ns_recv(a, ac, f, 10), -ECONNRESET);
	struct dp_event ev[4];
	int ne = ns_poll_events(a, ev, 4);
	cr_expect_eq(ne, 1);
	cr_expect_eq(ev[0].kind, (uint32_t)DP_EV_READABLE);
	ns_close(a, ac);
	/* ACK to the listener from nowhere: RST with seq = ack */
	struct ns_stats st0, st1;
	ns_get_stats(a, &st0);
	struct seg h = { .sport = 50000, .seq = 7, .ack = 123456, .flags = TH_ACK };
	inject(a, f, mk_tcp(f, &h), p.now);
	n = drain(a, out, 8);
	cr_assert_eq(n, 1);
	cr_assert(parse_tcp(out[0], &ti));
	cr_expect_eq(ti.flags, TH_RST);
	cr_expect_eq(ti.seq, 123456u);
	free_all(out, n);
	/* RST to the listener: silence */
	h.flags = TH_RST;
	inject(a, f, mk_tcp(f, &h), p.now);
	cr_expect_eq(drain(a, out, 8), 0);
	ns_get_stats(a, &st1);
	cr_expect_eq(st1.drop_no_conn - st0.drop_no_conn, 1);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ TIME_WAIT */

static bool pred_accepts2(struct pair *p)
{
	return p->sd[A].accepts >= 2 && p->sd[B].st[1].established;
}

Test(tcp, time_wait_reuse)
{
	/* Server closes first: its TIME_WAIT is taken over by a new SYN from
	 * the same client port. */
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct cap cp = { 0 };
	p.farg = &cp;
	p.filter = cap_filter;
	setup_bulk(&p, 1000, 1000);
	cr_assert(pair_run(&p, pred_streams_done, 2000000));
	struct stream *a = accepted(&p, 0), *b = &p.sd[B].st[0];
	uint16_t lport = ns_conn_tcb(p.sd[B].s, b->c)->lport;
	ns_close(p.sd[A].s, a->c);
	a->closed = true;
	cr_assert(pair_run(&p, pred_b_eof, 1000000));
	ns_close(p.sd[B].s, b->c);
	b->closed = true;
	cr_assert(pair_run(&p, pred_tw_a_only, 1000000));
	ns_conn_t c2 = ns_connect_port(p.sd[B].s, IP_A, PORT, lport);
	cr_assert_geq(c2, 0);
	struct stream *b2 = stream_new(&p.sd[B], c2);
	(void)b2;
	cr_assert(pair_run(&p, pred_accepts2, 1000000), "no connection over TIME_WAIT");
	struct ns_xstats xa;
	stats(&p, A, NULL, &xa);
	cr_expect_eq(xa.tw_reused, 1);
	cr_expect_eq(ns_tw_count(p.sd[A].s), 0u);
	assert_invariants(&p);
	pair_free(&p);

	/* Client closes first: connecting again from the same port reuses
	 * its own TIME_WAIT. */
	pair_init(&p, NULL, NULL);
	p.sd[A].acc_close_on_eof = true;
	setup_bulk(&p, 1000, 1000);
	cr_assert(pair_run(&p, pred_streams_done, 2000000));
	b = &p.sd[B].st[0];
	lport = ns_conn_tcb(p.sd[B].s, b->c)->lport;
	ns_close(p.sd[B].s, b->c);
	b->closed = true;
	cr_assert(pair_run(&p, pred_tw_b_only, 1000000));
	c2 = ns_connect_port(p.sd[B].s, IP_A, PORT, lport);
	cr_assert_geq(c2, 0);
	stream_new(&p.sd[B], c2);
	cr_assert(pair_run(&p, pred_accepts2, 1000000));
	struct ns_xstats xb;
	stats(&p, B, NULL, &xb);
	cr_expect_eq(xb.tw_reused, 1);
	pair_free(&p);
}

static bool pred_b0_up(struct pair *p)
{
	if (!p->sd[B].st[0].established)
		return false;
	for (int j = 0; j < MAX_STREAMS; j++)
		if (p->sd[A].st[j].used && !p->sd[A].st[j].closed)
			return true;
	return false;
}

static bool pred_last_done(struct pair *p)
{
	for (int i = MAX_STREAMS - 1; i >= 0; i--)
		if (p->sd[B].st[i].used)
			return p->sd[B].st[i].eof;
	return false;
}

/* More server-side closes than TIME_WAIT slots: the oldest are recycled,
 * new connections are never refused for it. */
Test(tcp, time_wait_budget_recycles_oldest)
{
	struct ns_conf ca = conf_for(A);
	ca.max_conns = 4;
	ca.time_wait_ms = 60000;
	struct pair p;
	pair_init(&p, &ca, NULL);
	p.sd[A].acc_tx_total = 100;
	p.sd[A].acc_tx_seed = 1;
	for (int i = 0; i < 7; i++) {
		struct stream *b = connect_b(&p, PORT);
		b->rx_seed = 1;
		cr_assert(pair_run(&p, pred_b0_up, 1000000), "round %d: no connection", i);
		/* wait for A's data, then A closes first */
		struct stream *a = NULL;
		for (int j = 0; j < MAX_STREAMS; j++)
			if (p.sd[A].st[j].used && !p.sd[A].st[j].closed)
				a = &p.sd[A].st[j];
		cr_assert_not_null(a);
		pair_advance(&p, 10000);
		ns_close(p.sd[A].s, a->c);
		a->closed = true;
		cr_assert(pair_run(&p, pred_last_done, 1000000), "round %d", i);
		ns_close(p.sd[B].s, b->c);
		b->closed = true;
		pair_advance(&p, 10000);
		b->used = false;
	}
	cr_expect_eq(ns_tw_count(p.sd[A].s), 4u);
	struct ns_xstats xa;
	struct ns_stats sa;
	stats(&p, A, &sa, &xa);
	cr_expect_eq(xa.tw_recycled, 3);
	cr_expect_eq(sa.drop_conn_limit, 0);
	cr_expect_eq(sa.conns_opened, 7);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ SYN flood */

static bool pred_b0_established(struct pair *p)
{
	return p->sd[B].st[0].established && p->sd[A].accepts >= 1;
}

Test(tcp, syn_flood_listener_survives)
{
	struct ns_conf ca = conf_for(A);
	ca.backlog = 16;
	struct pair p;
	pair_init(&p, &ca, NULL);
	struct ns_stack *a = p.sd[A].s;
	uint8_t f[256];
	struct rte_mbuf *out[256];
	/* The attacker's address resolves (so SYN-ACKs do leave) but it
	 * never answers them. */
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), p.now);
	free_all(out, drain(a, out, 256));
	uint64_t r = 99;
	int synacks = 0;
	const uint8_t opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7 };
	for (int i = 0; i < 5000; i++) {
		uint64_t v = rng_next(&r);
		struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X,
				 .sport = (uint16_t)(1024 + v % 60000), .seq = (uint32_t)(v >> 32),
				 .flags = TH_SYN, .win = 65535,
				 .opt = opts, .optlen = (i & 1) ? 20 : 0 };
		inject(a, f, mk_tcp(f, &g), p.now);
		p.now += 20;
		if (i % 64 == 63 || i == 4999) {
			int n = drain(a, out, 256);
			for (int k = 0; k < n; k++) {
				struct tcpinfo ti;
				if (parse_tcp(out[k], &ti) && ti.flags == (TH_SYN | TH_ACK))
					synacks++;
			}
			free_all(out, n);
			ns_timers(a, p.now);
		}
	}
	struct ns_stats st;
	struct ns_xstats x;
	ns_get_stats(a, &st);
	cr_expect_eq(ns_halfopen_count(a), 16u);
	cr_expect_geq(synacks, 4990, "every SYN answered (%d)", synacks);
	cr_expect_geq(st.syn_cookies_sent, 4000, "cookies sent: %lu", (unsigned long)st.syn_cookies_sent);
	/* A real client connects (through a cookie) and moves data both ways
	 * with window scaling and SACK recovered from the timestamp echo. */
	p.sd[A].acc_tx_total = 300000;
	p.sd[A].acc_tx_seed = 7;
	p.sd[A].acc_rx_seed = 9;
	struct stream *b = connect_b(&p, PORT);
	b->tx_total = 300000;
	b->tx_seed = 9;
	b->rx_seed = 7;
	cr_assert(pair_run(&p, pred_b0_established, 3000000), "client could not connect");
	ns_get_stats(a, &st);
	cr_expect_eq(st.syn_cookies_ok, 1);
	unsigned fl, sws, rws, mss;
	cr_assert_eq(ns_conn_opts(a, accepted(&p, 0)->c, &fl, &sws, &rws, &mss), 0);
	cr_expect_eq(fl, 7u, "options through the cookie: %u", fl);
	cr_expect_eq(sws, 3u);
	cr_expect_eq(rws, 3u);
	cr_expect_eq(mss, 1460u);
	cr_assert(pair_run(&p, pred_streams_done, 10000000));
	check_bulk(&p, 300000, 300000);
	/* A forged ACK (bad cookie) is refused. */
	ns_get_stats(a, &st);
	uint64_t nc = st.drop_no_conn;
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 4242, .seq = 77,
			 .ack = 0x12345678, .flags = TH_ACK, .win = 100 };
	inject(a, f, mk_tcp(f, &g), p.now);
	int n = drain(a, out, 8);
	cr_expect_eq(n, 1);
	free_all(out, n);
	ns_get_stats(a, &st);
	cr_expect_eq(st.drop_no_conn, nc + 1);
	cr_expect_eq(st.syn_cookies_ok, 1);
	/* The half-open entries give up after their SYN-ACK retries. */
	pair_advance(&p, 200000000);
	cr_expect_eq(ns_halfopen_count(a), 0u);
	ns_get_xstats(a, &x);
	cr_expect_eq(x.halfopen_dropped, 16);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ connection limit */

static bool pred_4_up_1_refused(struct pair *p)
{
	int up = 0, refused = 0;
	for (int i = 0; i < 5; i++) {
		up += p->sd[B].st[i].established;
		refused += p->sd[B].st[i].err == ECONNREFUSED;
	}
	return up == 4 && refused == 1;
}

static bool pred_any_b_eof(struct pair *p)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (p->sd[B].st[i].used && p->sd[B].st[i].eof)
			return true;
	return false;
}

static bool pred_a_conns_3(struct pair *p)
{
	struct ns_stats st;
	ns_get_stats(p->sd[A].s, &st);
	return st.conns_current == 3;
}

Test(tcp, connection_limit)
{
	struct ns_conf ca = conf_for(A), cb = conf_for(B);
	ca.max_conns = 4;
	cb.max_conns = 6;
	struct pair p;
	pair_init(&p, &ca, &cb);
	for (int i = 0; i < 5; i++) {
		connect_b(&p, PORT);
		pair_advance(&p, 10000);
	}
	cr_assert(pair_run(&p, pred_4_up_1_refused, 2000000), "want 4 up and 1 refused");
	struct ns_stats sa;
	ns_get_stats(p.sd[A].s, &sa);
	cr_expect_eq(sa.drop_conn_limit, 1);
	cr_expect_eq(sa.conns_current, 4);
	/* B's own limit: 4 live + 1 dead handle + 1 more = 6, then -ENOBUFS */
	cr_expect_geq(ns_connect(p.sd[B].s, IP_A, 9), 0);
	cr_expect_eq(ns_connect(p.sd[B].s, IP_A, 9), -ENOBUFS);
	/* free one slot on A: a new connection gets in */
	struct stream *a0 = accepted(&p, 0);
	a0->closed = true;
	ns_close(p.sd[A].s, a0->c);
	cr_assert(pair_run(&p, pred_any_b_eof, 1000000));
	for (int i = 0; i < 5; i++) {
		struct stream *t = &p.sd[B].st[i];
		if (t->used && (t->err || t->eof)) {
			ns_close(p.sd[B].s, t->c);
			t->used = false;
		}
	}
	cr_assert(pair_run(&p, pred_a_conns_3, 1000000));
	int before = p.sd[A].accepts;
	connect_b(&p, PORT);
	pair_advance(&p, 200000);
	cr_expect_eq(p.sd[A].accepts, before + 1);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ malformed input */

/* The base frame: a valid 5-byte data segment on a live connection, with
 * four NOP option bytes so option mutations have room: TCP header at 34,
 * options at 54, payload at 58. */
struct mal_case {
	const char *name;
	size_t (*mut)(uint8_t *f, size_t n);
	long field;                  /* offsetof(struct ns_stats, drop_x), -1: none */
};

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t mu_none(uint8_t *f, size_t n) { (void)f; return n; }
static size_t mu_runt(uint8_t *f, size_t n) { (void)f; (void)n; return 10; }
static size_t mu_dmac(uint8_t *f, size_t n) { f[5] = 0x77; return n; }
static size_t mu_mcast(uint8_t *f, size_t n) { f[0] = 1; f[1] = 0; f[2] = 0x5e; return n; }
static size_t mu_ipv6(uint8_t *f, size_t n) { f[12] = 0x86; f[13] = 0xdd; return n; }
static size_t mu_ipver(uint8_t *f, size_t n) { f[14] = 0x65; refix_ip_cksum(f); return n; }
static size_t mu_ihl4(uint8_t *f, size_t n) { f[14] = 0x44; return n; }
static size_t mu_totbig(uint8_t *f, size_t n) { set16(f + 16, 1400); refix_ip_cksum(f); return n; }
static size_t mu_totsmall(uint8_t *f, size_t n) { set16(f + 16, 10); refix_ip_cksum(f); return n; }
static size_t mu_ipcsum(uint8_t *f, size_t n) { f[24] ^= 0xff; return n; }
/* a changed byte in each 32-bit word of the IP header, checksum not fixed */
static size_t mu_ipcs_tos(uint8_t *f, size_t n) { f[15] ^= 0x10; return n; }
static size_t mu_ipcs_id(uint8_t *f, size_t n) { f[19] ^= 0x01; return n; }
static size_t mu_ipcs_ttl(uint8_t *f, size_t n) { f[22] ^= 0x80; return n; }
static size_t mu_ipcs_src(uint8_t *f, size_t n) { f[29] ^= 0x40; return n; }
static size_t mu_ipcs_dst(uint8_t *f, size_t n) { f[31] ^= 0x02; return n; }
static size_t mu_dstip(uint8_t *f, size_t n) { f[33] = 9; refix_ip_cksum(f); refix_tcp_cksum(f); return n; }
static size_t mu_mf(uint8_t *f, size_t n) { set16(f + 20, 0x2000); refix_ip_cksum(f); return n; }
static size_t mu_fragoff(uint8_t *f, size_t n) { set16(f + 20, 0x0010); refix_ip_cksum(f); return n; }
static size_t mu_tcpcsum(uint8_t *f, size_t n) { f[50] ^= 0x55; return n; }
static size_t mu_tcpshort(uint8_t *f, size_t n) { set16(f + 16, 32); refix_ip_cksum(f); (void)n; return 46; }
static size_t mu_doff4(uint8_t *f, size_t n) { f[46] = 0x40; refix_tcp_cksum(f); return n; }
static size_t mu_doffbig(uint8_t *f, size_t n) { f[46] = 0xf0; refix_tcp_cksum(f); return n; }
static size_t mu_optlen0(uint8_t *f, size_t n) { f[54] = 2; f[55] = 0; refix_tcp_cksum(f); return n; }
static size_t mu_optover(uint8_t *f, size_t n) { f[54] = 8; f[55] = 10; refix_tcp_cksum(f); return n; }
static size_t mu_msslen(uint8_t *f, size_t n) { f[54] = 2; f[55] = 3; refix_tcp_cksum(f); return n; }
static size_t mu_wslen(uint8_t *f, size_t n) { f[54] = 3; f[55] = 4; refix_tcp_cksum(f); return n; }
static size_t mu_tslen(uint8_t *f, size_t n) { f[54] = 8; f[55] = 4; refix_tcp_cksum(f); return n; }
static size_t mu_synfin(uint8_t *f, size_t n) { f[47] = TH_SYN | TH_FIN | TH_ACK; refix_tcp_cksum(f); return n; }
static size_t mu_synrst(uint8_t *f, size_t n) { f[47] = TH_SYN | TH_RST; refix_tcp_cksum(f); return n; }
static size_t mu_sport0(uint8_t *f, size_t n) { f[34] = 0; f[35] = 0; refix_tcp_cksum(f); return n; }
static size_t mu_martian(uint8_t *f, size_t n) { f[26] = 127; f[27] = 0; f[28] = 0; f[29] = 1; refix_ip_cksum(f); refix_tcp_cksum(f); return n; }
static size_t mu_udp(uint8_t *f, size_t n) { f[23] = 17; refix_ip_cksum(f); return n; }
static size_t mu_trunc(uint8_t *f, size_t n) { (void)f; return n - 8; }

#define DROP(x) ((long)offsetof(struct ns_stats, x))

static const long drop_fields[] = {
	DROP(drop_not_for_us), DROP(drop_bad_csum), DROP(drop_malformed), DROP(drop_fragment),
	DROP(drop_no_conn), DROP(drop_ooo_full), DROP(drop_conn_limit),
};

static uint64_t field_of(const struct ns_stats *st, long off)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)st + off, sizeof(v));
	return v;
}

Test(tcp, malformed_frames_dropped_and_counted)
{
	static const struct mal_case cases[] = {
		{ "valid (control)", mu_none, -1 },
		{ "runt ethernet", mu_runt, DROP(drop_malformed) },
		{ "other MAC", mu_dmac, DROP(drop_not_for_us) },
		{ "multicast MAC", mu_mcast, DROP(drop_not_for_us) },
		{ "IPv6 ethertype", mu_ipv6, DROP(drop_not_for_us) },
		{ "IP version 6", mu_ipver, DROP(drop_malformed) },
		{ "IHL 4", mu_ihl4, DROP(drop_malformed) },
		{ "total length > frame", mu_totbig, DROP(drop_malformed) },
		{ "total length < IHL", mu_totsmall, DROP(drop_malformed) },
		{ "frame shorter than IP length", mu_trunc, DROP(drop_malformed) },
		{ "bad IP checksum", mu_ipcsum, DROP(drop_bad_csum) },
		{ "IP ToS changed", mu_ipcs_tos, DROP(drop_bad_csum) },
		{ "IP id changed", mu_ipcs_id, DROP(drop_bad_csum) },
		{ "IP TTL changed", mu_ipcs_ttl, DROP(drop_bad_csum) },
		{ "IP source changed", mu_ipcs_src, DROP(drop_bad_csum) },
		{ "IP destination changed", mu_ipcs_dst, DROP(drop_bad_csum) },
		{ "other IP", mu_dstip, DROP(drop_not_for_us) },
		{ "fragment (MF)", mu_mf, DROP(drop_fragment) },
		{ "fragment (offset)", mu_fragoff, DROP(drop_fragment) },
		{ "bad TCP checksum", mu_tcpcsum, DROP(drop_bad_csum) },
		{ "TCP header cut short", mu_tcpshort, DROP(drop_malformed) },
		{ "data offset 4", mu_doff4, DROP(drop_malformed) },
		{ "data offset past segment", mu_doffbig, DROP(drop_malformed) },
		{ "option length 0", mu_optlen0, DROP(drop_malformed) },
		{ "option overruns header", mu_optover, DROP(drop_malformed) },
		{ "MSS option length 3", mu_msslen, DROP(drop_malformed) },
		{ "WS option length 4", mu_wslen, DROP(drop_malformed) },
		{ "TS option length 4", mu_tslen, DROP(drop_malformed) },
		{ "SYN+FIN", mu_synfin, DROP(drop_malformed) },
		{ "SYN+RST", mu_synrst, DROP(drop_malformed) },
		{ "source port 0", mu_sport0, DROP(drop_malformed) },
		{ "martian source", mu_martian, DROP(drop_malformed) },
		{ "UDP", mu_udp, DROP(drop_not_for_us) },
	};
	struct pair p;
	pair_init(&p, NULL, NULL);
	p.sd[A].acc_no_read = true;
	open_one(&p);
	pair_advance(&p, 100000);
	struct ns_stack *a = p.sd[A].s;
	ns_conn_t ac = accepted(&p, 0)->c;
	const struct ns_tcb *tp = ns_conn_tcb(a, ac);
	static const uint8_t nops[4] = { 1, 1, 1, 1 };
	struct rte_mbuf *out[8];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mal_case *mc = &cases[i];
		uint8_t f[256];
		struct seg g = { .sport = tp->rport, .seq = tp->rcv_nxt, .ack = tp->snd_nxt,
				 .flags = TH_ACK | TH_PSH, .win = 1000, .opt = nops, .optlen = 4,
				 .pay = (const uint8_t *)"hello", .paylen = 5 };
		size_t n = mk_tcp(f, &g);
		cr_assert_eq(n, 63u);
		n = mc->mut(f, n);
		struct ns_stats s0, s1;
		ns_get_stats(a, &s0);
		inject(a, f, n, p.now);
		ns_get_stats(a, &s1);
		for (size_t k = 0; k < sizeof(drop_fields) / sizeof(drop_fields[0]); k++) {
			uint64_t d = field_of(&s1, drop_fields[k]) - field_of(&s0, drop_fields[k]);
			cr_expect_eq(d, drop_fields[k] == mc->field ? 1u : 0u,
				     "%s: counter at %ld moved by %lu", mc->name, drop_fields[k],
				     (unsigned long)d);
		}
		cr_expect_eq(s1.rx_pkts - s0.rx_pkts, 1u);
		int k = drain(a, out, 8);
		cr_expect_eq(k, 0, "%s: answered with %d frames", mc->name, k);
		free_all(out, k);
	}
	/* Only the control's payload got in; the connection is intact. */
	uint8_t buf[64];
	cr_expect_eq(ns_recv(a, ac, buf, sizeof(buf)), 5);
	cr_expect_eq(memcmp(buf, "hello", 5), 0);
	cr_expect_eq(ns_recv(a, ac, buf, sizeof(buf)), -EAGAIN);
	cr_expect_eq(ns_conn_state(a, ac), NS_ESTABLISHED);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ ARP */

static const struct rte_arp_hdr *arp_of(const struct rte_mbuf *m)
{
	if (m->pkt_len < 42)
		return NULL;
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	if (f[12] != 0x08 || f[13] != 0x06)
		return NULL;
	return (const struct rte_arp_hdr *)(f + 14);
}

Test(tcp, arp_answers_learns_retries)
{
	struct ns_conf ca = conf_for(A);
	const char *err;
	struct ns_stack *a = ns_create(&ca, g_mp, &err);
	cr_assert_not_null(a);
	uint64_t now = 5000000;
	uint8_t f[256];
	struct rte_mbuf *out[64];
	struct ns_stats st;
	struct ns_xstats x;
	/* a request for us: answered in place, sender learnt */
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), now);
	int n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	const uint8_t *e = rte_pktmbuf_mtod(out[0], const uint8_t *);
	cr_expect_eq(memcmp(e, MAC_X, 6), 0);
	cr_expect_eq(memcmp(e + 6, MAC_A, 6), 0);
	const struct rte_arp_hdr *ah = arp_of(out[0]);
	cr_assert_not_null(ah);
	cr_expect_eq(rte_be_to_cpu_16(ah->arp_opcode), RTE_ARP_OP_REPLY);
	cr_expect_eq(memcmp(ah->arp_data.arp_sha.addr_bytes, MAC_A, 6), 0);
	cr_expect_eq(rte_be_to_cpu_32(ah->arp_data.arp_sip), IP_A);
	cr_expect_eq(memcmp(ah->arp_data.arp_tha.addr_bytes, MAC_X, 6), 0);
	cr_expect_eq(rte_be_to_cpu_32(ah->arp_data.arp_tip), IP_X);
	free_all(out, n);
	ns_get_stats(a, &st);
	cr_expect_eq(st.arp_requests_answered, 1);
	cr_expect_eq(st.arp_entries, 1);
	/* for someone else: no answer */
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, 0xc6120063u), now);
	cr_expect_eq(drain(a, out, 64), 0);
	ns_get_stats(a, &st);
	cr_expect_eq(st.drop_not_for_us, 1);
	/* bad hardware length */
	mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A);
	f[18] = 8;
	inject(a, f, 60, now);
	cr_expect_eq(drain(a, out, 64), 0);
	ns_get_stats(a, &st);
	cr_expect_eq(st.drop_malformed, 1);
	/* X moves to a new MAC (gratuitous ARP): traffic follows */
	const uint8_t mac_x2[6] = { 0x02, 0, 0, 0, 0, 0x33 };
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, mac_x2, IP_X, IP_X), now);
	struct seg g = { .dmac = MAC_A, .smac = mac_x2, .src = IP_X, .sport = 1234, .seq = 1,
			 .flags = TH_SYN, .win = 1000 };
	inject(a, f, mk_tcp(f, &g), now);
	n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_x2, 6), 0);
	free_all(out, n);

	/* A peer known only from its IPv4 frames (its ARP went to another
	 * queue): answered straight away, no request. */
	const uint8_t mac_y[6] = { 0x02, 0, 0, 0, 0, 0x44 };
	struct seg gy = { .dmac = MAC_A, .smac = mac_y, .src = 0xc6120044u, .sport = 555,
			  .seq = 9, .flags = TH_SYN, .win = 1000 };
	inject(a, f, mk_tcp(f, &gy), now);
	n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	cr_expect(arp_of(out[0]) == NULL, "ARP request for a peer that just talked to us");
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_y, 6), 0);
	free_all(out, n);
	/* ... but a frame claiming a known address does not move it */
	const uint8_t mac_evil[6] = { 0x02, 0, 0, 0, 0, 0x66 };
	gy.smac = mac_evil;
	gy.sport = 556;
	inject(a, f, mk_tcp(f, &gy), now);
	n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_y, 6), 0);
	free_all(out, n);
	ns_get_xstats(a, &x);
	cr_expect_eq(x.arp_learnt_ip, 1);

	/* An unknown next hop: the SYN waits, requests are retried, then the
	 * queue is dropped; the connection finally times out. */
	ns_conn_t c = ns_connect(a, 0xc6120032u, 80);
	cr_assert_geq(c, 0);
	int requests = 0;
	for (uint64_t t = now; t < now + 3500000; t += 100000) {
		ns_timers(a, t);
		n = drain(a, out, 64);
		for (int i = 0; i < n; i++) {
			struct tcpinfo ti;
			if (parse_tcp(out[i], &ti) && ti.dst != 0xc6120032u)
				continue;       /* SYN-ACK retransmissions to X, Y */
			ah = arp_of(out[i]);
			cr_assert_not_null(ah, "only ARP may leave");
			cr_expect_eq(rte_be_to_cpu_32(ah->arp_data.arp_tip), 0xc6120032u);
			requests++;
		}
		free_all(out, n);
	}
	ns_get_xstats(a, &x);
	cr_expect_geq(requests, 3);
	cr_expect_geq(x.arp_failed, 1);
	cr_expect_geq(x.arp_queue_drops, 1);
	for (uint64_t t = now + 3500000; t < now + 200000000; t += 500000) {
		ns_timers(a, t);
		free_all(out, drain(a, out, 64));
	}
	cr_expect_eq(ns_recv(a, c, f, 10), -ETIMEDOUT);
	ns_close(a, c);
	now += 200000000;

	/* A reply releases what waited. */
	const uint8_t mac_h[6] = { 0x02, 0, 0, 0, 0, 0x3c };
	c = ns_connect(a, 0xc612003cu, 80);
	ns_timers(a, now);
	n = drain(a, out, 64);
	cr_expect_eq(n, 1);
	free_all(out, n);
	inject(a, f, mk_arp(f, RTE_ARP_OP_REPLY, mac_h, 0xc612003cu, IP_A), now);
	n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	cr_expect_eq(ti.flags, TH_SYN);
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_h, 6), 0);
	free_all(out, n);
	ns_close(a, c);

	/* The wait queue is bounded. */
	ns_get_xstats(a, &x);
	uint64_t d0 = x.arp_queue_drops;
	for (int i = 0; i < 12; i++)
		cr_assert_geq(ns_connect(a, 0xc6120046u, (uint16_t)(100 + i)), 0);
	ns_timers(a, now);
	free_all(out, drain(a, out, 64));
	ns_get_xstats(a, &x);
	cr_expect_eq(x.arp_queue_drops - d0, 12u - NS_ARP_QLEN);
	cr_expect_eq(ns_check_invariants(a), 0);
	ns_destroy(a);
}

/* ------------------------------------------------ ICMP */

static size_t mk_echo(uint8_t *f, unsigned paylen, bool bad)
{
	memcpy(f, MAC_A, 6);
	memcpy(f + 6, MAC_B, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	struct rte_ipv4_hdr *iph = (void *)(f + 14);
	memset(iph, 0, 20);
	iph->version_ihl = 0x45;
	iph->total_length = rte_cpu_to_be_16((uint16_t)(28 + paylen));
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_ICMP;
	iph->src_addr = rte_cpu_to_be_32(IP_B);
	iph->dst_addr = rte_cpu_to_be_32(IP_A);
	iph->hdr_checksum = cks(iph, 20, 0);
	uint8_t *ic = f + 34;
	ic[0] = 8;
	ic[1] = 0;
	ic[2] = ic[3] = 0;
	set16(ic + 4, 0x1234);
	set16(ic + 6, 7);
	for (unsigned i = 0; i < paylen; i++)
		ic[8 + i] = (uint8_t)(i * 3);
	uint16_t c = cks(ic, 8 + paylen, 0);
	memcpy(ic + 2, &c, 2);
	if (bad)
		ic[2] ^= 1;
	size_t n = 34 + 8 + paylen;
	if (n < 60) {
		memset(f + n, 0xee, 60 - n);
		n = 60;
	}
	return n;
}

Test(tcp, icmp_echo_answered)
{
	struct ns_conf ca = conf_for(A);
	const char *err;
	struct ns_stack *a = ns_create(&ca, g_mp, &err);
	cr_assert_not_null(a);
	uint8_t f[256], req[256];
	struct rte_mbuf *out[8];
	static const unsigned sizes[] = { 56, 0, 200 };
	for (size_t i = 0; i < 3; i++) {
		size_t n = mk_echo(f, sizes[i], false);
		memcpy(req, f, n);
		inject(a, f, n, 1000);
		int k = drain(a, out, 8);
		cr_assert_eq(k, 1, "size %u: %d frames", sizes[i], k);
		const uint8_t *r = rte_pktmbuf_mtod(out[0], const uint8_t *);
		cr_expect_eq(out[0]->pkt_len, 42u + sizes[i], "reply length (padding trimmed)");
		cr_expect_eq(memcmp(r, MAC_B, 6), 0);
		cr_expect_eq(memcmp(r + 6, MAC_A, 6), 0);
		const struct rte_ipv4_hdr *iph = (const void *)(r + 14);
		cr_expect_eq(rte_be_to_cpu_32(iph->src_addr), IP_A);
		cr_expect_eq(rte_be_to_cpu_32(iph->dst_addr), IP_B);
		cr_expect_eq(ns_csum_fold(ns_csum_add(0, iph, 20)), 0xffff, "IP checksum");
		cr_expect_eq(r[34], 0, "echo reply type");
		cr_expect_eq(ns_csum_fold(ns_csum_add(0, r + 34, 8 + sizes[i])), 0xffff, "ICMP checksum");
		cr_expect_eq(memcmp(r + 38, req + 38, 4 + sizes[i]), 0, "id, seq, data echoed");
		free_all(out, k);
	}
	struct ns_stats st;
	ns_get_stats(a, &st);
	cr_expect_eq(st.icmp_echo_replied, 3);
	inject(a, f, mk_echo(f, 56, true), 1000);
	cr_expect_eq(drain(a, out, 8), 0);
	ns_get_stats(a, &st);
	cr_expect_eq(st.drop_bad_csum, 1);
	/* an echo reply is not answered */
	size_t n = mk_echo(f, 16, false);
	f[34] = 0;
	f[36] = f[37] = 0;
	uint16_t c = cks(f + 34, 24, 0);
	memcpy(f + 36, &c, 2);
	inject(a, f, n, 1000);
	cr_expect_eq(drain(a, out, 8), 0);
	ns_get_stats(a, &st);
	cr_expect_eq(st.icmp_echo_replied, 3);
	ns_destroy(a);
}

/* ------------------------------------------------ faults everywhere */

struct lossy_case {
	uint64_t seed;
	unsigned drop_pm, reorder_pm, dup_pm;
};

Test(tcp, lossy_reordering_duplicating_wire)
{
	static const struct lossy_case cases[] = {
		{ 1, 50000, 50000, 10000 },
		{ 2, 50000, 50000, 10000 },
		{ 3, 50000, 50000, 10000 },
	};
	const uint64_t n = 2u << 20;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lossy_case *lc = &cases[i];
		struct pair p;
		pair_init(&p, NULL, NULL);
		p.rng = lc->seed;
		for (int d = 0; d < 2; d++) {
			p.w[d].drop_pm = lc->drop_pm;
			p.w[d].reorder_pm = lc->reorder_pm;
			p.w[d].dup_pm = lc->dup_pm;
			p.w[d].reorder_max_us = 2000;
		}
		p.sd[A].acc_close_on_eof = true;
		setup_bulk(&p, n, n);
		cr_assert(pair_run(&p, pred_streams_done, 600000000), "seed %lu: incomplete",
			  (unsigned long)lc->seed);
		check_bulk(&p, n, n);
		ns_close(p.sd[B].s, p.sd[B].st[0].c);
		p.sd[B].st[0].closed = true;
		cr_assert(pair_run(&p, pred_closed_both, 120000000), "seed %lu: close",
			  (unsigned long)lc->seed);
		struct ns_stats sa, sb;
		stats(&p, A, &sa, NULL);
		stats(&p, B, &sb, NULL);
		cr_expect_gt(sa.retransmits, 0);
		cr_expect_gt(sb.retransmits, 0);
		cr_expect_gt(sa.fast_retransmits + sb.fast_retransmits, 0);
		cr_expect_eq(sa.conns_reset + sb.conns_reset, 0);
		cr_log_info("lossy seed %lu: wire A->B %lu frames (%lu dropped, %lu dup, %lu reordered); "
			    "retransmits A %lu (fast %lu, rto %lu) B %lu (fast %lu, rto %lu)",
			    (unsigned long)lc->seed, (unsigned long)p.w[A].frames,
			    (unsigned long)p.w[A].dropped, (unsigned long)p.w[A].duplicated,
			    (unsigned long)p.w[A].reordered, (unsigned long)sa.retransmits,
			    (unsigned long)sa.fast_retransmits, (unsigned long)sa.rto_timeouts,
			    (unsigned long)sb.retransmits, (unsigned long)sb.fast_retransmits,
			    (unsigned long)sb.rto_timeouts);
		assert_invariants(&p);
		pair_free(&p);
	}
}

/* ------------------------------------------------ real ethdev ports */

static int ring_port(const char *name, struct rte_ring *rx, struct rte_ring *tx)
{
	int port = rte_eth_from_rings(name, &rx, 1, &tx, 1, SOCKET_ID_ANY);
	cr_assert_geq(port, 0, "rte_eth_from_rings: %s", rte_strerror(rte_errno));
	struct rte_eth_conf pc;
	memset(&pc, 0, sizeof(pc));
	cr_assert_eq(rte_eth_dev_configure((uint16_t)port, 1, 1, &pc), 0);
	cr_assert_eq(rte_eth_rx_queue_setup((uint16_t)port, 0, 1024, SOCKET_ID_ANY, NULL, g_mp), 0);
	cr_assert_eq(rte_eth_tx_queue_setup((uint16_t)port, 0, 1024, SOCKET_ID_ANY, NULL), 0);
	cr_assert_eq(rte_eth_dev_start((uint16_t)port), 0);
	return port;
}

Test(tcp, through_eth_from_rings_ports)
{
	struct rte_ring *ab = rte_ring_create("tcp_ab", 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *ba = rte_ring_create("tcp_ba", 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert(ab && ba);
	uint16_t port[2];
	port[A] = (uint16_t)ring_port("net_ring_tcpa", ba, ab);
	port[B] = (uint16_t)ring_port("net_ring_tcpb", ab, ba);
	struct ns_conf c[2] = { conf_for(A), conf_for(B) };
	for (int i = 0; i < 2; i++) {
		struct rte_ether_addr mac;
		cr_assert_eq(rte_eth_macaddr_get(port[i], &mac), 0);
		if (rte_is_zero_ether_addr(&mac) || !rte_is_unicast_ether_addr(&mac))
			mac.addr_bytes[0] = 0x02, mac.addr_bytes[5] = (uint8_t)(0x10 + i);
		memcpy(c[i].mac, mac.addr_bytes, 6);
	}
	cr_assert_neq(memcmp(c[A].mac, c[B].mac, 6), 0);
	struct pair p;
	pair_init(&p, &c[A], &c[B]);
	p.sd[A].acc_close_on_eof = true;
	const uint64_t n = 1u << 20;
	setup_bulk(&p, n, n);
	struct rte_mbuf *v[64];
	uint64_t frames = 0;
	bool closing = false;
	for (int it = 0; it < 200000; it++) {
		p.now += 20;
		for (int i = 0; i < 2; i++) {
			uint16_t k;
			while ((k = rte_eth_rx_burst(port[i], 0, v, 64)) > 0)
				ns_input(p.sd[i].s, v, k, p.now);
			ns_timers(p.sd[i].s, p.now);
			side_poll(&p.sd[i]);
			while ((k = ns_tx_drain(p.sd[i].s, v, 64)) > 0) {
				uint16_t sent = rte_eth_tx_burst(port[i], 0, v, k);
				frames += sent;
				for (uint16_t j = sent; j < k; j++)
					rte_pktmbuf_free(v[j]);
			}
		}
		if (!closing && pred_streams_done(&p)) {
			check_bulk(&p, n, n);
			ns_close(p.sd[B].s, p.sd[B].st[0].c);
			p.sd[B].st[0].closed = true;
			closing = true;
		}
		if (closing && pred_closed_both(&p))
			break;
	}
	cr_expect(closing, "transfer through the ports did not finish");
	cr_expect(pred_closed_both(&p), "close through the ports did not finish");
	struct rte_eth_stats es;
	cr_assert_eq(rte_eth_stats_get(port[A], &es), 0);
	cr_expect_gt(es.opackets, 700u);
	cr_expect_gt(es.ipackets, 700u);
	cr_log_info("eth_from_rings: %lu frames through the ports", (unsigned long)frames);
	pair_free(&p);
	for (int i = 0; i < 2; i++) {
		rte_eth_dev_stop(port[i]);
		rte_eth_dev_close(port[i]);
	}
	struct rte_mbuf *m;
	while (rte_ring_dequeue(ab, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	while (rte_ring_dequeue(ba, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(ab);
	rte_ring_free(ba);
}

/* ------------------------------------------------ keepalive */

static bool pred_a_err(struct pair *p)
{
	struct stream *a = accepted(p, 0);
	return a && a->err != 0;
}

Test(tcp, keepalive_probes_and_timeout)
{
	struct ns_conf ca = conf_for(A);
	ca.keepalive_s = 3;
	struct pair p;
	pair_init(&p, &ca, NULL);
	open_one(&p);
	pair_advance(&p, 10000000);
	struct ns_xstats x;
	stats(&p, A, NULL, &x);
	cr_expect_geq(x.keepalive_probes, 2, "probes %lu", (unsigned long)x.keepalive_probes);
	cr_expect_leq(x.keepalive_probes, 4);
	cr_expect_eq(ns_conn_state(p.sd[A].s, accepted(&p, 0)->c), NS_ESTABLISHED);
	/* the peer goes silent: idle 3 s + 3 unanswered probes 1 s apart */
	p.cut = true;
	uint64_t t0 = p.now;
	cr_assert(pair_run(&p, pred_a_err, 20000000), "keepalive never gave up");
	cr_expect_eq(accepted(&p, 0)->err, ETIMEDOUT);
	cr_expect_leq(p.now - t0, 7000000u);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ delayed ACK */

static bool pred_a_frame(struct pair *p)
{
	return ((struct cap *)p->farg)->a_frames > 0;
}

Test(tcp, delayed_and_piggybacked_acks)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct cap c = { 0 };
	p.farg = &c;
	p.filter = cap_filter;
	p.sd[A].acc_rx_seed = 9;
	struct stream *b = connect_b(&p, PORT);
	b->tx_seed = 9;
	cr_assert(pair_run(&p, pred_one_each, 1000000));
	/* warm-up: the first read opens the window past the SYN's 64 KiB,
	 * which is announced at once */
	b->tx_total = 1000;
	stream_pump_tx(&p.sd[B], b);
	pair_advance(&p, 200000);
	/* one small segment: the ACK waits 40 ms */
	c.a_frames = 0;
	b->tx_total = 1100;
	stream_pump_tx(&p.sd[B], b);
	uint64_t t0 = p.now;
	cr_assert(pair_run(&p, pred_a_frame, 1000000));
	uint64_t dt = c.first_a_frame_at - t0;
	cr_expect_geq(dt, 40000u, "ACK after %lu us", (unsigned long)dt);
	cr_expect_leq(dt, 42000u, "ACK after %lu us", (unsigned long)dt);
	cr_expect_eq(c.first_a.paylen, 0u);
	cr_expect_eq(c.first_a.ack, c.isn[B] + 1 + 1100);
	cr_expect_eq(c.a_frames, 1);
	pair_advance(&p, 100000);
	/* two full segments: ACKed at once, once */
	c.a_frames = 0;
	b->tx_total = 1100 + 2 * 1448;
	stream_pump_tx(&p.sd[B], b);
	t0 = p.now;
	cr_assert(pair_run(&p, pred_a_frame, 1000000));
	dt = c.first_a_frame_at - t0;
	cr_expect_leq(dt, 1000u, "ACK of two segments after %lu us", (unsigned long)dt);
	cr_expect_eq(c.first_a.ack, c.isn[B] + 1 + 1100 + 2 * 1448);
	pair_advance(&p, 100000);
	cr_expect_eq(c.a_frames, 1, "%d ACKs for two segments", c.a_frames);
	pair_advance(&p, 100000);
	/* a request answered in the same iteration: one frame, data + ACK */
	p.sd[A].acc_echo = true;
	c.a_frames = 0;
	b->tx_total += 50;
	b->no_read = true;
	stream_pump_tx(&p.sd[B], b);
	pair_advance(&p, 50000);
	cr_expect_eq(c.a_frames, 1, "%d frames for one echo", c.a_frames);
	cr_expect_eq(c.first_a.paylen, 50u);
	cr_expect_eq(c.first_a.ack, c.isn[B] + 1 + (uint32_t)b->tx_total);
	pair_free(&p);
}

/* ------------------------------------------------ sequence wrap */

struct wrap_case {
	const char *name;
	int side;                    /* whose ISN sits just below 2^32 */
};

Test(tcp, sequence_numbers_wrap)
{
	static const struct wrap_case cases[] = { { "server ISN", A }, { "client ISN", B } };
	for (size_t i = 0; i < 2; i++) {
		struct pair p;
		pair_init(&p, NULL, NULL);
		struct ns_stack *s = p.sd[cases[i].side].s;
		/* ISN = H(tuple) + now/4: pick the start time that puts it at
		 * 2^32 - 200000, so 1 MB each way crosses zero. */
		uint32_t h = cases[i].side == A ? ns_tcp_isn(s, IP_B, 40000, PORT)
						: ns_tcp_isn(s, IP_A, PORT, 40000);
		uint32_t want = 0u - 200000u;
		p.now = 4ull * (uint32_t)(want - h);
		if (p.now < 1000000)
			p.now += 4ull << 32;        /* same ISN modulo 2^32 */
		ns_timers(p.sd[A].s, p.now);
		ns_timers(p.sd[B].s, p.now);
		p.sd[A].acc_tx_total = 1u << 20;
		p.sd[A].acc_tx_seed = 7;
		p.sd[A].acc_rx_seed = 9;
		ns_conn_t c = ns_connect_port(p.sd[B].s, IP_A, PORT, 40000);
		cr_assert_geq(c, 0);
		struct stream *b = stream_new(&p.sd[B], c);
		b->tx_total = 1u << 20;
		b->tx_seed = 9;
		b->rx_seed = 7;
		cr_assert(pair_run(&p, pred_streams_done, 20000000), "%s", cases[i].name);
		check_bulk(&p, 1u << 20, 1u << 20);
		const struct ns_tcb *tp = cases[i].side == A ? ns_conn_tcb(p.sd[A].s, accepted(&p, 0)->c)
							     : ns_conn_tcb(p.sd[B].s, c);
		cr_expect_gt(tp->iss, 0xfff00000u, "%s: ISN %#x not near the top", cases[i].name, tp->iss);
		cr_expect_lt(tp->snd_una, 0x00200000u, "%s: no wrap (snd_una %#x)", cases[i].name,
			     tp->snd_una);
		assert_invariants(&p);
		pair_free(&p);
	}
}

/* ------------------------------------------------ API misuse */

static bool pred_any_err_b(struct pair *p)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (p->sd[B].st[i].used && p->sd[B].st[i].err)
			return true;
	return false;
}

Test(tcp, handles_and_arguments_checked)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct ns_stack *b = p.sd[B].s;
	uint8_t buf[16];
	cr_expect_eq(ns_recv(b, -1, buf, 16), -EBADF);
	cr_expect_eq(ns_recv(b, 1 << 30, buf, 16), -EBADF);
	cr_expect_eq(ns_send(b, 3, buf, 16), -EBADF);
	cr_expect_eq(ns_set_interest(b, 3, true, true), -EBADF);
	cr_expect_eq(ns_connect(b, 0, 80), -EINVAL);
	cr_expect_eq(ns_connect(b, IP_A, 0), -EINVAL);
	cr_expect_eq(ns_connect(b, IP_B, 80), -EINVAL);
	cr_expect_eq(ns_connect(b, 0xe0000001u, 80), -EINVAL);
	cr_expect_eq(ns_connect(b, 0x0a000001u, 80), -EHOSTUNREACH, "off-link without gateway");
	ns_conn_t c = ns_connect(b, IP_A, PORT);
	cr_assert_geq(c, 0);
	cr_expect_eq(ns_send(b, c, buf, 16), -EAGAIN, "send before established");
	cr_expect_eq(ns_recv(b, c, buf, 16), -EAGAIN);
	struct stream *t = stream_new(&p.sd[B], c);
	cr_assert(pair_run(&p, pred_one_each, 1000000));
	cr_expect_eq(ns_recv(b, c, buf, 16), -EAGAIN);
	cr_expect_eq(ns_send(b, c, buf, 0), 0);
	ns_close(b, c);
	t->closed = true;
	cr_expect_eq(ns_recv(b, c, buf, 16), -EBADF, "handle dead after close");
	cr_expect_eq(ns_send(b, c, buf, 16), -EBADF);
	/* a stopped listener refuses */
	ns_stop_listening(p.sd[A].s);
	struct stream *t2 = connect_b(&p, PORT);
	(void)t2;
	cr_assert(pair_run(&p, pred_any_err_b, 2000000));
	pair_free(&p);
}

/* ------------------------------------------------ fuzzing */

struct corpus {
	uint8_t f[64][1600];
	size_t n[64];
	int count;
};

static int corpus_filter(struct pair *p, int dir, struct rte_mbuf *m)
{
	(void)dir;
	struct corpus *c = p->farg;
	if (c->count < 64 && m->pkt_len <= 1600) {
		const void *d = rte_pktmbuf_read(m, 0, m->pkt_len, c->f[c->count]);
		if (d != c->f[c->count])
			memcpy(c->f[c->count], d, m->pkt_len);
		c->n[c->count++] = m->pkt_len;
	}
	return 0;
}

static bool refixable(const uint8_t *f, size_t n)
{
	if (n < 54 || f[12] != 8 || f[13] != 0 || f[23] != IPPROTO_TCP)
		return false;
	unsigned ihl = (f[14] & 15u) * 4u, tot = ((unsigned)f[16] << 8) | f[17];
	return ihl >= 20 && tot >= ihl + 20 && 14 + tot <= n;
}

/* 100k frames, random and mutated from a real exchange, through
 * ns_fuzz_one (which aborts when an invariant breaks); under ASan this is
 * also the memory-safety check of every parser. */
Test(tcp, fuzz_frames_keep_invariants, .timeout = 120)
{
	static struct corpus c;
	struct pair p;
	pair_init(&p, NULL, NULL);
	p.farg = &c;
	p.filter = corpus_filter;
	p.sd[A].acc_close_on_eof = true;
	setup_bulk(&p, 3000, 3000);
	p.sd[B].st[0].close_after_tx = false;
	cr_assert(pair_run(&p, pred_streams_done, 2000000));
	ns_close(p.sd[B].s, p.sd[B].st[0].c);
	p.sd[B].st[0].closed = true;
	cr_assert(pair_run(&p, pred_closed_both, 2000000));
	pair_free(&p);
	cr_assert_geq(c.count, 10);
	static const uint8_t fz_mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
	static const uint8_t fz_mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
	uint64_t r = 7;
	uint8_t buf[1700];
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rng_next(&r);
		size_t n;
		if (v & 1) {
			n = 1 + (v >> 8) % 160;
			for (size_t k = 0; k < n; k += 8) {
				uint64_t w = rng_next(&r);
				memcpy(buf + k, &w, n - k < 8 ? n - k : 8);
			}
		} else {
			int pick = (int)((v >> 8) % (uint64_t)c.count);
			n = c.n[pick];
			buf[0] = 0;
			memcpy(buf + 1, c.f[pick], n);
			uint8_t *f = buf + 1;
			memcpy(f, fz_mac_a, 6);
			memcpy(f + 6, fz_mac_b, 6);
			int muts = 1 + (int)((v >> 20) % 4);
			for (int k = 0; k < muts; k++) {
				uint64_t w = rng_next(&r);
				size_t at = 12 + w % (n - 12);
				f[at] = (uint8_t)(w >> 32);
			}
			if ((v >> 30) % 8 == 0 && n > 20)
				n -= (v >> 33) % (n - 14);
			if (((v >> 40) & 1) && refixable(f, n)) {
				refix_ip_cksum(f);
				refix_tcp_cksum(f);
			}
			n += 1;
		}
		ns_fuzz_one(buf, n);
	}
	struct rte_mempool *mp = ns_fuzz_mempool();
	cr_assert_not_null(mp);
	unsigned in_use = rte_mempool_in_use_count(mp);
	cr_expect_lt(in_use, 1500u, "mbufs held after fuzzing: %u (leak?)", in_use);
	struct ns_stats fa, fb;
	ns_fuzz_stats(&fa, &fb);
	cr_log_info("fuzz: 100000 inputs, %u mbufs held at the end; A rx %lu tx %lu, B rx %lu tx %lu; "
		    "A drops: not-for-us %lu csum %lu malformed %lu frag %lu no-conn %lu; "
		    "A conns opened %lu reset %lu, cookies %lu/%lu",
		    in_use, (unsigned long)fa.rx_pkts, (unsigned long)fa.tx_pkts,
		    (unsigned long)fb.rx_pkts, (unsigned long)fb.tx_pkts,
		    (unsigned long)fa.drop_not_for_us, (unsigned long)fa.drop_bad_csum,
		    (unsigned long)fa.drop_malformed, (unsigned long)fa.drop_fragment,
		    (unsigned long)fa.drop_no_conn, (unsigned long)fa.conns_opened,
		    (unsigned long)fa.conns_reset, (unsigned long)fa.syn_cookies_sent,
		    (unsigned long)fa.syn_cookies_ok);
}

/* ------------------------------------------------ receive budget */

/* A peer that sends thousands of tiny out-of-order segments cannot make
 * the instance hold more than half its mempool in out-of-order queues: the
 * rest is dropped and counted, and in-order data still gets in. */
Test(tcp, receive_mbuf_budget)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create("tcpsmall", 1023, 0, 0,
							 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	cr_assert_not_null(mp);
	struct ns_conf ca = conf_for(A);
	ca.rcvbuf = 1u << 20;
	const char *err;
	struct ns_stack *a = ns_create(&ca, mp, &err);
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(a->rx_held_max, 511u);
	uint8_t f[256];
	struct rte_mbuf *out[64];
	uint64_t now = 1000000;
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), now);
	free_all(out, drain(a, out, 64));
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 40000,
			 .seq = 5000, .flags = TH_SYN, .win = 65535 };
	inject(a, f, mk_tcp(f, &g), now);
	int n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	free_all(out, n);
	g.seq = 5001;
	g.ack = ti.seq + 1;
	g.flags = TH_ACK;
	inject(a, f, mk_tcp(f, &g), now);
	struct dp_event ev[4];
	cr_assert_eq(ns_poll_events(a, ev, 4), 1);
	ns_conn_t c = ev[0].conn;
	for (int k = 1; k <= 1000; k++) {
		g.seq = 5001 + 2u * (uint32_t)k;
		g.pay = (const uint8_t *)"x";
		g.paylen = 1;
		inject(a, f, mk_tcp(f, &g), now);
		free_all(out, drain(a, out, 64));
	}
	struct ns_stats st;
	ns_get_stats(a, &st);
	cr_expect_leq(a->rx_held, 511u);
	cr_expect_eq(st.drop_ooo_full, 1000u - 511u);
	cr_expect_eq(ns_check_invariants(a), 0);
	/* the hole at 5001..5002 is filled: it and the byte at 5003 come
	 * out, 5004 is the next hole */
	g.seq = 5001;
	g.pay = (const uint8_t *)"yz";
	g.paylen = 2;
	inject(a, f, mk_tcp(f, &g), now);
	free_all(out, drain(a, out, 64));
	uint8_t buf[16];
	cr_expect_eq(ns_recv(a, c, buf, sizeof(buf)), 3);
	cr_expect_eq(memcmp(buf, "yzx", 3), 0, "got %02x %02x %02x", buf[0], buf[1], buf[2]);
	cr_expect_eq(ns_check_invariants(a), 0);
	ns_destroy(a);
	rte_mempool_free(mp);
}

/* ------------------------------------------------ checksum offload */

/* The "NIC" between A and B: it would fill A's checksums on TX and vouch
 * for them on B's RX. It does neither, so only the flags make it work. */
static int offload_nic(struct pair *p, int dir, struct rte_mbuf *m)
{
	struct cap *c = p->farg;
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	if (dir == A && f[12] == 0x08 && f[13] == 0x00) {
		const uint64_t tx = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		if ((m->ol_flags & tx) != tx || m->l2_len != 14 || m->l3_len != 20)
			c->dropped++;           /* counts frames without offload flags */
		m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		c->a_frames++;
	}
	return 0;
}

Test(tcp, checksum_offload_flags)
{
	struct ns_conf ca = conf_for(A), cb = conf_for(B);
	ca.tx_csum_offload = true;
	cb.rx_csum_offload = true;
	struct pair p;
	pair_init(&p, &ca, &cb);
	/* the frames A emits carry the flags, a zero IP checksum and the
	 * pseudo-header sum in the TCP checksum field */
	struct cap c = { 0 };
	p.farg = &c;
	p.filter = offload_nic;
	setup_bulk(&p, 200000, 200000);
	cr_assert(pair_run(&p, pred_streams_done, 5000000));
	check_bulk(&p, 200000, 200000);
	cr_expect_gt(c.a_frames, 100);
	cr_expect_eq(c.dropped, 0, "%d IPv4 frames of A without offload flags", c.dropped);
	/* a frame built with offload, looked at before any "NIC" */
	ns_conn_t ac = accepted(&p, 0)->c;
	cr_assert_eq(ns_send(p.sd[A].s, ac, "abc", 3), 3);
	struct rte_mbuf *out[8];
	int n = drain(p.sd[A].s, out, 8);
	cr_assert_eq(n, 1);
	struct rte_mbuf *m = out[0];
	cr_expect(m->ol_flags & RTE_MBUF_F_TX_TCP_CKSUM);
	cr_expect_eq(m->l4_len, 32u);
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	cr_expect_eq(f[24] | f[25], 0, "IP checksum left to the NIC");
	uint16_t ph = ns_csum_fold(ns_pseudo_sum(IP_A, IP_B, IPPROTO_TCP, (uint16_t)(32 + 3)));
	uint16_t got;
	memcpy(&got, f + 50, 2);
	cr_expect_eq(got, ph, "TCP checksum field must hold the pseudo-header sum");
	free_all(out, n);
	/* B trusts a BAD verdict too */
	struct ns_stats s0, s1;
	ns_get_stats(p.sd[B].s, &s0);
	uint8_t fr[128];
	const struct ns_tcb *bt = ns_conn_tcb(p.sd[B].s, p.sd[B].st[0].c);
	struct seg g = { .dmac = MAC_B, .smac = MAC_A, .src = IP_A, .dst = IP_B, .sport = PORT,
			 .dport = bt->lport, .seq = bt->rcv_nxt, .ack = bt->snd_nxt, .flags = TH_ACK,
			 .win = 100 };
	struct rte_mbuf *bad = mbuf_of(fr, mk_tcp(fr, &g));
	bad->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_BAD;
	ns_input(p.sd[B].s, &bad, 1, p.now);
	ns_get_stats(p.sd[B].s, &s1);
	cr_expect_eq(s1.drop_bad_csum - s0.drop_bad_csum, 1);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ checksum arithmetic */

/* RFC 1071 the slow way: big-endian 16-bit words, odd byte padded. */
static uint16_t ref_sum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += ((uint32_t)p[i] << 8) | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

Test(tcp, checksum_matches_rfc1071)
{
	static uint8_t buf[4096];
	uint64_t r = 5;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next(&r);
	memset(buf + 100, 0xff, 600);            /* carries galore */
	for (int k = 0; k < 20000; k++) {
		size_t off = rng_next(&r) % 64, n = rng_next(&r) % 2000;
		uint16_t want = ref_sum(buf + off, n, 0);
		uint16_t got = rte_be_to_cpu_16(ns_csum_fold(ns_csum_add(0, buf + off, n)));
		cr_assert_eq(got, want, "off %zu len %zu: %#x want %#x", off, n, got, want);
	}
	/* an mbuf chain split at odd and even offsets sums like the flat bytes */
	for (int k = 0; k < 200; k++) {
		size_t n = 100 + rng_next(&r) % 1800, cut1 = 1 + rng_next(&r) % (n / 2);
		size_t cut2 = cut1 + 1 + rng_next(&r) % (n - cut1 - 1);
		struct rte_mbuf *m = mbuf_of(buf, cut1);
		struct rte_mbuf *m2 = mbuf_of(buf + cut1, cut2 - cut1);
		struct rte_mbuf *m3 = mbuf_of(buf + cut2, n - cut2);
		cr_assert_eq(rte_pktmbuf_chain(m, m2), 0);
		cr_assert_eq(rte_pktmbuf_chain(m, m3), 0);
		size_t off = rng_next(&r) % 50;
		uint64_t sum = 0;
		cr_assert(ns_csum_mbuf(m, (uint32_t)off, (uint32_t)(n - off), &sum));
		cr_assert_eq(rte_be_to_cpu_16(ns_csum_fold(sum)), ref_sum(buf + off, n - off, 0),
			     "chain %zu/%zu/%zu from %zu", cut1, cut2, n, off);
		sum = 0;
		cr_assert(!ns_csum_mbuf(m, 0, (uint32_t)n + 1, &sum), "past the end accepted");
		rte_pktmbuf_free(m);
	}
	/* a segment built by the stack verifies with the reference */
	struct ns_conf ca = conf_for(A);
	const char *err;
	struct ns_stack *a = ns_create(&ca, g_mp, &err);
	uint8_t f[256];
	inject(a, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), 1000);
	struct rte_mbuf *out[8];
	free_all(out, drain(a, out, 8));
	static const uint8_t opts[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 2 };
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 999, .seq = 1,
			 .flags = TH_SYN, .win = 100, .opt = opts, .optlen = 8 };
	inject(a, f, mk_tcp(f, &g), 1000);
	int n = drain(a, out, 8);
	cr_assert_eq(n, 1);
	const uint8_t *p = rte_pktmbuf_mtod(out[0], const uint8_t *);
	cr_expect_eq(ref_sum(p + 14, 20, 0), 0xffff, "IP header checksum");
	unsigned tl = out[0]->pkt_len - 34;
	uint32_t ph = (IP_A >> 16) + (IP_A & 0xffff) + (IP_X >> 16) + (IP_X & 0xffff) + 6 + tl;
	cr_expect_eq(ref_sum(p + 34, tl, ph), 0xffff, "TCP checksum");
	free_all(out, n);
	ns_destroy(a);
}

/* ------------------------------------------------ gateway */

Test(tcp, off_link_peers_go_through_the_gateway)
{
	struct ns_conf ca = conf_for(A);
	ca.gateway = 0xc61200feu;                /* 198.18.0.254 */
	const char *err;
	struct ns_stack *a = ns_create(&ca, g_mp, &err);
	cr_assert_not_null(a);
	uint8_t f[256];
	struct rte_mbuf *out[8];
	ns_conn_t c = ns_connect(a, 0x0a010203u, 80);     /* 10.1.2.3 */
	cr_assert_geq(c, 0);
	ns_timers(a, 1000);
	int n = drain(a, out, 8);
	cr_assert_eq(n, 1);
	const struct rte_arp_hdr *ah = arp_of(out[0]);
	cr_assert_not_null(ah, "the gateway must be resolved first");
	cr_expect_eq(rte_be_to_cpu_32(ah->arp_data.arp_tip), 0xc61200feu);
	free_all(out, n);
	const uint8_t mac_gw[6] = { 0x02, 0, 0, 0, 0, 0xfe };
	inject(a, f, mk_arp(f, RTE_ARP_OP_REPLY, mac_gw, 0xc61200feu, IP_A), 1000);
	n = drain(a, out, 8);
	cr_assert_eq(n, 1);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	cr_expect_eq(ti.flags, TH_SYN);
	cr_expect_eq(ti.dst, 0x0a010203u);
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_gw, 6), 0);
	free_all(out, n);
	/* off-link sources are not learnt as neighbours */
	struct seg g = { .dmac = MAC_A, .smac = mac_gw, .src = 0x0a090909u, .sport = 77, .seq = 5,
			 .flags = TH_SYN, .win = 100 };
	inject(a, f, mk_tcp(f, &g), 1000);
	n = drain(a, out, 8);
	cr_assert_eq(n, 1);
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_gw, 6), 0,
		     "SYN-ACK to an off-link peer goes to the gateway");
	free_all(out, n);
	struct ns_xstats x;
	ns_get_xstats(a, &x);
	cr_expect_eq(x.arp_learnt_ip, 0);
	ns_destroy(a);
}

/* The per-frame learn is skipped while the same neighbour keeps sending
 * and no ARP entry changed (a memo keyed by the ARP generation). Once
 * the neighbour's entry is evicted, its next frame must be learnt again:
 * the reply then goes straight to its MAC, with no ARP request. */
static unsigned test_arp_set(uint32_t ip)
{
	/* arp.c's set index; the test checks below that it evicted */
	return (unsigned)((ip * 0x9e3779b1u) >> 26) & 63u;
}

Test(tcp, arp_learn_memo_relearns_after_eviction)
{
	struct ns_conf ca = conf_for(A);
	const char *err;
	struct ns_stack *a = ns_create(&ca, g_mp, &err);
	cr_assert_not_null(a);
	uint64_t now = 5000000;
	uint8_t f[256];
	struct rte_mbuf *out[64];
	struct ns_stats st;
	struct ns_xstats x;
	const uint8_t mac_y[6] = { 0x02, 0, 0, 0, 0, 0x44 };
	/* Y: an on-link host whose set holds four more on-link hosts */
	uint32_t ip_y = 0;
	for (uint32_t h = 4; h < 255 && !ip_y; h++) {
		int same = 0;
		for (uint32_t k = 4; k < 255; k++)
			same += k != h && test_arp_set(0xc6120000u | k) == test_arp_set(0xc6120000u | h);
		if (same >= 4)
			ip_y = 0xc6120000u | h;
	}
	cr_assert_neq(ip_y, 0);
	struct seg gy = { .dmac = MAC_A, .smac = mac_y, .src = ip_y, .sport = 555,
			  .seq = 9, .flags = TH_SYN, .win = 1000 };
	for (int i = 0; i < 3; i++) {   /* learnt once, then memoised */
		gy.sport = (uint16_t)(555 + i);
		inject(a, f, mk_tcp(f, &gy), now);
		int n = drain(a, out, 64);
		cr_assert_eq(n, 1);
		cr_expect(arp_of(out[0]) == NULL);
		cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_y, 6), 0);
		free_all(out, n);
	}
	ns_get_xstats(a, &x);
	cr_expect_eq(x.arp_learnt_ip, 1);
	ns_get_stats(a, &st);
	cr_assert_eq(st.arp_entries, 1);
	/* four other on-link next hops in Y's set push Y out */
	int others = 0;
	for (uint32_t h = 4; h < 255 && others < 4; h++) {
		uint32_t ip = 0xc6120000u | h;
		if (ip == ip_y || test_arp_set(ip) != test_arp_set(ip_y))
			continue;
		cr_assert_geq(ns_connect(a, ip, 80), 0);
		others++;
	}
	cr_assert_eq(others, 4);
	int n = drain(a, out, 64);
	cr_expect_eq(n, 4, "one ARP request per new next hop");
	free_all(out, n);
	ns_get_stats(a, &st);
	cr_assert_eq(st.arp_entries, 0, "Y's entry was evicted");
	/* Y talks again: learnt again, answered without a request */
	gy.sport = 600;
	inject(a, f, mk_tcp(f, &gy), now);
	n = drain(a, out, 64);
	cr_assert_eq(n, 1);
	cr_expect(arp_of(out[0]) == NULL, "ARP request for a peer that just talked to us");
	cr_expect_eq(memcmp(rte_pktmbuf_mtod(out[0], const uint8_t *), mac_y, 6), 0);
	free_all(out, n);
	ns_get_xstats(a, &x);
	cr_expect_eq(x.arp_learnt_ip, 2);
	ns_destroy(a);
}

/* ------------------------------------------------ RTO backoff */

struct rtx_log {
	uint64_t at[32];
	int n;
	uint32_t seq;
};

static int rtx_filter(struct pair *p, int dir, struct rte_mbuf *m)
{
	struct rtx_log *l = p->farg;
	struct tcpinfo ti;
	if (dir == B && parse_tcp(m, &ti) && ti.paylen > 0 && l->n < 32) {
		if (l->n == 0)
			l->seq = ti.seq;
		if (ti.seq == l->seq)
			l->at[l->n++] = p->now;
	}
	return 1;                                  /* the wire is dead */
}

static bool pred_b0_err(struct pair *p)
{
	return p->sd[B].st[0].err != 0;
}

/* A dead path: the RTO doubles each time (RFC 6298 5.5) up to 60 s, and
 * after NS_DATA_RETRIES the connection fails with ETIMEDOUT. */
Test(tcp, rto_backs_off_then_gives_up)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	open_one(&p);
	pair_advance(&p, 100000);
	struct rtx_log l = { 0 };
	p.farg = &l;
	p.filter = rtx_filter;
	struct stream *b = &p.sd[B].st[0];
	b->tx_total = 1000;
	stream_pump_tx(&p.sd[B], b);
	cr_assert(pair_run(&p, pred_b0_err, 2000000000ull), "never gave up");
	cr_expect_eq(b->err, ETIMEDOUT);
	cr_expect_eq(l.n, 1 + (int)NS_DATA_RETRIES, "%d transmissions", l.n);
	for (int i = 2; i < l.n; i++) {
		uint64_t prev = l.at[i - 1] - l.at[i - 2], cur = l.at[i] - l.at[i - 1];
		if (prev * 2 <= NS_RTO_MAX_US)
			cr_expect(cur >= 2 * prev - 2000 && cur <= 2 * prev + 2000,
				  "interval %d: %lu after %lu", i, (unsigned long)cur, (unsigned long)prev);
		else
			cr_expect(cur >= NS_RTO_MAX_US - 2000 && cur <= NS_RTO_MAX_US + 2000,
				  "interval %d: %lu (cap)", i, (unsigned long)cur);
	}
	cr_expect_geq(l.at[1] - l.at[0], NS_RTO_MIN_US, "first RTO below the floor");
	struct ns_stats sb;
	stats(&p, B, &sb, NULL);
	cr_expect_eq(sb.rto_timeouts, NS_DATA_RETRIES);
	cr_expect_eq(sb.conns_current, 1, "the dead handle stays until ns_close");
	ns_close(p.sd[B].s, b->c);
	stats(&p, B, &sb, NULL);
	cr_expect_eq(sb.conns_current, 0);
	assert_invariants(&p);
	pair_free(&p);
}

/* ------------------------------------------------ jumbo frames */

static int chain_filter(struct pair *p, int dir, struct rte_mbuf *m)
{
	(void)dir;
	struct cap *c = p->farg;
	if (m->nb_segs > 1)
		c->dropped++;           /* counts chained frames */
	if (m->pkt_len > 9014)
		c->tail_drop = true;    /* a frame beyond the MTU */
	return 0;
}

/* MTU 9000 with 2 KiB mbufs: segments leave as mbuf chains and are held
 * and read back as chains. */
Test(tcp, jumbo_mtu_chained_mbufs)
{
	struct ns_conf ca = conf_for(A), cb = conf_for(B);
	ca.mtu = cb.mtu = 9000;
	struct pair p;
	pair_init(&p, &ca, &cb);
	struct cap c = { 0 };
	p.farg = &c;
	p.filter = chain_filter;
	setup_bulk(&p, 1u << 20, 1u << 20);
	cr_assert(pair_run(&p, pred_streams_done, 10000000));
	check_bulk(&p, 1u << 20, 1u << 20);
	unsigned fl, sws, rws, mss;
	cr_assert_eq(ns_conn_opts(p.sd[A].s, accepted(&p, 0)->c, &fl, &sws, &rws, &mss), 0);
	cr_expect_eq(mss, 8960u);
	cr_expect_gt(c.dropped, 100, "chained frames: %d", c.dropped);
	cr_expect(!c.tail_drop, "a frame larger than the MTU left");
	assert_invariants(&p);
	pair_free(&p);
}

/* ================================================ SACK (RFC 2018/6675) */

/* A hand-driven peer X talking to instance A: every segment X sends is
 * built here, every frame A sends is inspected, and time stands still
 * unless a test moves it, so no RTO can fire unless asked for. */
struct rawpeer {
	struct ns_stack *s;
	ns_conn_t c;
	bool sack, ts;
	uint32_t x_nxt;              /* X's next sequence number */
	uint32_t a_iss;              /* A's ISS */
	uint32_t tsval, a_tsval;
	uint64_t now;
};

static unsigned rp_opts(struct rawpeer *rp, uint8_t *o, const uint32_t (*blk)[2], unsigned nb)
{
	unsigned n = 0;
	if (rp->ts) {
		uint32_t a = rte_cpu_to_be_32(++rp->tsval), b = rte_cpu_to_be_32(rp->a_tsval);
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 8;
		o[n++] = 10;
		memcpy(o + n, &a, 4);
		memcpy(o + n + 4, &b, 4);
		n += 8;
	}
	if (nb) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 5;
		o[n++] = (uint8_t)(2 + 8 * nb);
		for (unsigned i = 0; i < nb; i++) {
			uint32_t a = rte_cpu_to_be_32(blk[i][0]), b = rte_cpu_to_be_32(blk[i][1]);
			memcpy(o + n, &a, 4);
			memcpy(o + n + 4, &b, 4);
			n += 8;
		}
	}
	return n;
}

/* X sends a segment to A (payload of paylen bytes 'p' at seq). */
static void rp_send(struct rawpeer *rp, uint32_t seq, uint32_t ack, unsigned paylen,
		    const uint32_t (*blk)[2], unsigned nb)
{
	static uint8_t pay[1500];
	memset(pay, 'p', sizeof(pay));
	uint8_t o[40], f[2048];
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 40000,
			 .seq = seq, .ack = ack, .flags = TH_ACK, .win = 65535,
			 .opt = o, .pay = pay, .paylen = paylen };
	g.optlen = rp_opts(rp, o, blk, nb);
	inject(rp->s, f, mk_tcp(f, &g), rp->now);
}

/* A's frames to X since the last call, parsed (frames freed). */
static int rp_frames(struct rawpeer *rp, struct tcpinfo *ti, int max)
{
	struct rte_mbuf *out[256];
	int n = drain(rp->s, out, 256), k = 0;
	for (int i = 0; i < n; i++) {
		struct tcpinfo t;
		if (parse_tcp(out[i], &t) && t.dst == IP_X) {
			int o = find_opt(&t, 8);
			if (o >= 0)
				rp->a_tsval = ((uint32_t)t.opt[o + 2] << 24) | ((uint32_t)t.opt[o + 3] << 16) |
					      ((uint32_t)t.opt[o + 4] << 8) | t.opt[o + 5];
			if (k < max)
				ti[k++] = t;
		}
	}
	free_all(out, n);
	return k;
}

/* Open X -> A with SACK-permitted and/or timestamps offered. */
static void rp_open(struct rawpeer *rp, bool sack, bool ts)
{
	memset(rp, 0, sizeof(*rp));
	struct ns_conf ca = conf_for(A);
	const char *err = NULL;
	rp->s = ns_create(&ca, g_mp, &err);
	cr_assert_not_null(rp->s, "ns_create: %s", err ? err : "?");
	rp->sack = sack;
	rp->ts = ts;
	rp->now = 1000000000ull;
	rp->tsval = 5000;
	uint8_t f[2048];
	struct tcpinfo ti[8];
	inject(rp->s, f, mk_arp(f, RTE_ARP_OP_REQUEST, MAC_X, IP_X, IP_A), rp->now);
	rp_frames(rp, ti, 8);
	uint8_t o[40];
	unsigned n = 0;
	o[n++] = 2;
	o[n++] = 4;
	o[n++] = 0x05;
	o[n++] = 0xb4;           /* MSS 1460 */
	if (sack) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 4;
		o[n++] = 2;
	}
	if (ts) {
		uint32_t a = rte_cpu_to_be_32(rp->tsval), b = 0;
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 8;
		o[n++] = 10;
		memcpy(o + n, &a, 4);
		memcpy(o + n + 4, &b, 4);
		n += 8;
	}
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 40000,
			 .seq = 70000, .flags = TH_SYN, .win = 65535, .opt = o, .optlen = n };
	inject(rp->s, f, mk_tcp(f, &g), rp->now);
	cr_assert_eq(rp_frames(rp, ti, 8), 1, "no SYN-ACK");
	cr_assert_eq(ti[0].flags, TH_SYN | TH_ACK);
	rp->a_iss = ti[0].seq;
	rp->x_nxt = 70001;
	rp_send(rp, rp->x_nxt, rp->a_iss + 1, 0, NULL, 0);
	struct dp_event ev[4];
	cr_assert_eq(ns_poll_events(rp->s, ev, 4), 1);
	cr_assert_eq(ev[0].kind, (uint32_t)DP_EV_ACCEPT);
	rp->c = ev[0].conn;
	unsigned fl, sws, rws, mss;
	cr_assert_eq(ns_conn_opts(rp->s, rp->c, &fl, &sws, &rws, &mss), 0);
	cr_assert_eq(!!(fl & 2u), sack, "SACK negotiated: %u", fl);
	cr_assert_eq(!!(fl & 1u), ts, "timestamps negotiated: %u", fl);
}

static void rp_close(struct rawpeer *rp)
{
	ns_destroy(rp->s);
	rp->s = NULL;
}

/* SACK blocks of an ACK (start, end pairs, as sent); returns their count,
 * or -1 when the ACK carries no SACK option. */
static int sack_of(const struct tcpinfo *ti, uint32_t blk[4][2])
{
	int o = find_opt(ti, 5);
	if (o < 0)
		return -1;
	int nb = (ti->opt[o + 1] - 2) / 8;
	for (int i = 0; i < nb && i < 4; i++) {
		const uint8_t *q = ti->opt + o + 2 + 8 * i;
		blk[i][0] = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
		blk[i][1] = ((uint32_t)q[4] << 24) | ((uint32_t)q[5] << 16) | ((uint32_t)q[6] << 8) | q[7];
	}
	return nb;
}

/* ---------------------------------------------- receiver: SACK blocks */

#define U 100u                   /* receiver cases: 100-byte units */

struct rsack_case {
	const char *name;
	bool sack, ts;
	int arrive[8];               /* units arriving in this order, -1 ends */
	uint32_t ack;                /* expected ACK of the last one, in units */
	int nblk;                    /* expected blocks, -1: no SACK option */
	uint32_t blk[4][2];          /* in units */
};

Test(tcp, sack_blocks_from_out_of_order_queue)
{
	static const struct rsack_case cases[] = {
		{ "one hole", true, true, { 2, -1 }, 0, 1, { { 2, 3 } } },
		{ "newest first", true, true, { 2, 4, -1 }, 0, 2, { { 4, 5 }, { 2, 3 } } },
		{ "newest first, lower", true, true, { 4, 2, -1 }, 0, 2, { { 2, 3 }, { 4, 5 } } },
		{ "adjacent merge", true, true, { 2, 3, -1 }, 0, 1, { { 2, 4 } } },
		{ "merge into newest", true, true, { 2, 4, 3, -1 }, 0, 1, { { 2, 5 } } },
		{ "3 blocks with TS", true, true, { 2, 4, 6, 8, 10, -1 }, 0, 3,
		  { { 10, 11 }, { 2, 3 }, { 4, 5 } } },
		{ "4 blocks without TS", true, false, { 2, 4, 6, 8, 10, -1 }, 0, 4,
		  { { 10, 11 }, { 2, 3 }, { 4, 5 }, { 6, 7 } } },
		/* segment 0 moved the ACK: no block has to come first (RFC 2018
		 * 4); the last reported newest one stays first */
		{ "hole filled partly", true, true, { 2, 4, 0, -1 }, 1, 2, { { 4, 5 }, { 2, 3 } } },
		/* negative: nothing out of order, or SACK not negotiated */
		{ "in order: no SACK", true, true, { 0, 1, -1 }, 2, -1, { { 0 } } },
		{ "holes filled: no SACK", true, true, { 2, 1, 0, -1 }, 3, -1, { { 0 } } },
		{ "duplicate of held data", true, true, { 2, 2, -1 }, 0, 1, { { 2, 3 } } },
		{ "peer without SACK", false, true, { 2, 4, -1 }, 0, -1, { { 0 } } },
		{ "peer without SACK or TS", false, false, { 2, -1 }, 0, -1, { { 0 } } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rsack_case *rc = &cases[i];
		struct rawpeer rp;
		rp_open(&rp, rc->sack, rc->ts);
		uint32_t base = rp.x_nxt;
		struct tcpinfo ti[16], last = { 0 };
		for (int k = 0; rc->arrive[k] >= 0; k++) {
			rp_send(&rp, base + (uint32_t)rc->arrive[k] * U, rp.a_iss + 1, U, NULL, 0);
			int n = rp_frames(&rp, ti, 16);
			if (n > 0)
				last = ti[n - 1];
		}
		/* an in-order arrival may wait for the delayed ACK */
		if (rc->nblk < 0 && last.ack != base + rc->ack * U) {
			rp.now += NS_DACK_US + NS_TICK_US;
			ns_timers(rp.s, rp.now);
			int n = rp_frames(&rp, ti, 16);
			if (n > 0)
				last = ti[n - 1];
		}
		cr_assert(last.ok, "%s: no ACK", rc->name);
		cr_expect_eq(last.ack, base + rc->ack * U, "%s: ack %u, want %u", rc->name,
			     last.ack - base, rc->ack * U);
		uint32_t blk[4][2];
		int nb = sack_of(&last, blk);
		cr_expect_eq(nb, rc->nblk, "%s: %d blocks, want %d", rc->name, nb, rc->nblk);
		for (int b = 0; b < nb && b < rc->nblk; b++) {
			cr_expect_eq(blk[b][0], base + rc->blk[b][0] * U, "%s: block %d starts at %u",
				     rc->name, b, (blk[b][0] - base) / U);
			cr_expect_eq(blk[b][1], base + rc->blk[b][1] * U, "%s: block %d ends at %u",
				     rc->name, b, (blk[b][1] - base) / U);
		}
		cr_expect_eq(ns_check_invariants(rp.s), 0, "%s", rc->name);
		rp_close(&rp);
	}
}

/* ------------------------------------------------- sender: recovery */

#define NSEG 10

/* The peer's view of A's ten segments: which arrived. ACK = first hole,
 * blocks = runs above it, the one holding the newest arrival first. */
struct rpeer_rx {
	bool got[NSEG];
	int newest;
};

static unsigned peer_blocks(const struct rpeer_rx *r, uint32_t s0, uint32_t seg, unsigned max,
			    uint32_t *ack, uint32_t blk[4][2])
{
	int first = 0;
	while (first < NSEG && r->got[first])
		first++;
	*ack = s0 + (uint32_t)first * seg;
	uint32_t runs[NSEG][2];
	unsigned nr = 0, newest_run = NSEG;
	for (int k = first; k < NSEG;) {
		if (!r->got[k]) {
			k++;
			continue;
		}
		int a = k;
		while (k < NSEG && r->got[k])
			k++;
		if (r->newest >= a && r->newest < k)
			newest_run = nr;
		runs[nr][0] = s0 + (uint32_t)a * seg;
		runs[nr][1] = s0 + (uint32_t)k * seg;
		nr++;
	}
	unsigned nb = 0;
	if (newest_run < nr && nb < max) {
		blk[nb][0] = runs[newest_run][0];
		blk[nb][1] = runs[newest_run][1];
		nb++;
	}
	for (unsigned k = 0; k < nr && nb < max; k++) {
		if (k == newest_run)
			continue;
		blk[nb][0] = runs[k][0];
		blk[nb][1] = runs[k][1];
		nb++;
	}
	return nb;
}

/* Segment index of a data frame of A, or -1. */
static int seg_index(const struct tcpinfo *t, uint32_t s0, uint32_t seg)
{
	if (t->paylen == 0 || SEQ_LT(t->seq, s0))
		return -1;
	return (int)((t->seq - s0) / seg);
}

struct srec_case {
	const char *name;
	bool sack, ts;
	int lost[4];                 /* segments lost once, -1 ends */
	/* expected: segments retransmitted before any cumulative ACK moved
	 * past the first hole (SACK: all holes; NewReno: the first only) */
	int early[4];
};

/* The peer gets A's ten segments minus the lost ones and answers each;
 * then A's retransmissions arrive and are answered, until all is ACKed.
 * Time never moves: any repair comes from ACKs, none from the RTO. */
Test(tcp, sack_recovery_retransmits_holes_without_rto)
{
	static const struct srec_case cases[] = {
		{ "SACK one hole", true, true, { 2, -1 }, { 2, -1 } },
		{ "SACK two holes", true, true, { 1, 5, -1 }, { 1, 5, -1 } },
		{ "SACK three holes", true, true, { 0, 3, 6, -1 }, { 0, 3, 6, -1 } },
		{ "SACK two-segment hole", true, true, { 1, 2, -1 }, { 1, 2, -1 } },
		{ "SACK three holes, no TS", true, false, { 0, 3, 6, -1 }, { 0, 3, 6, -1 } },
		/* NewReno: one hole per partial ACK */
		{ "NewReno two holes", false, true, { 1, 5, -1 }, { 1, -1 } },
		{ "NewReno three holes", false, false, { 0, 3, 6, -1 }, { 0, -1 } },
	};
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct srec_case *sc = &cases[ci];
		struct rawpeer rp;
		rp_open(&rp, sc->sack, sc->ts);
		const uint32_t seg = sc->ts ? 1448u : 1460u;
		const uint32_t s0 = rp.a_iss + 1;
		static uint8_t data[NSEG * 1460];
		memset(data, 'd', sizeof(data));
		cr_assert_eq(ns_send(rp.s, rp.c, data, NSEG * seg), (ssize_t)(NSEG * seg));
		struct tcpinfo ti[64];
		int n = rp_frames(&rp, ti, 64);
		cr_assert_eq(n, NSEG, "%s: initial window sent %d segments", sc->name, n);
		bool lost[NSEG] = { false }, want_early[NSEG] = { false };
		int nlost = 0, nearly = 0;
		for (int k = 0; sc->lost[k] >= 0; k++, nlost++)
			lost[sc->lost[k]] = true;
		for (int k = 0; sc->early[k] >= 0; k++, nearly++)
			want_early[sc->early[k]] = true;
		struct rpeer_rx rx = { .newest = -1 };
		int rexmit[NSEG] = { 0 };
		unsigned maxb = sc->ts ? 3 : 4;
		/* originals arrive, minus the lost ones */
		uint32_t ack, blk[4][2];
		for (int k = 0; k < NSEG; k++) {
			cr_assert_eq(ti[k].seq, s0 + (uint32_t)k * seg);
			if (lost[k])
				continue;
			rx.got[k] = true;
			rx.newest = k;
			unsigned nb = sc->sack ? peer_blocks(&rx, s0, seg, maxb, &ack, blk) : 0;
			if (!sc->sack)
				peer_blocks(&rx, s0, seg, 0, &ack, blk);
			rp_send(&rp, rp.x_nxt, ack, 0, (const uint32_t (*)[2])blk, nb);
			int m = rp_frames(&rp, ti, 64);
			for (int j = 0; j < m; j++) {
				int x = seg_index(&ti[j], s0, seg);
				if (x >= 0) {
					cr_expect(!rx.got[x], "%s: segment %d resent after it was %s",
						  sc->name, x, sc->sack ? "SACKed" : "received");
					rexmit[x]++;
				}
			}
		}
		/* before any retransmission arrived: what was resent */
		for (int k = 0; k < NSEG; k++)
			cr_expect_eq(rexmit[k], want_early[k] ? 1 : 0, "%s: segment %d resent %d times "
				     "before the first repair arrived", sc->name, k, rexmit[k]);
		struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
		cr_assert_not_null(tp);
		cr_expect(tp->flags & NS_TF_RECOVERY, "%s: not in recovery", sc->name);
		cr_expect_eq(!!(tp->flags & NS_TF_SACKREC), sc->sack, "%s: recovery kind", sc->name);
		/* retransmissions arrive; answer until everything is ACKed */
		for (int round = 0; round < 8; round++) {
			bool any = false;
			for (int k = 0; k < NSEG; k++) {
				if (rexmit[k] && !rx.got[k]) {
					rx.got[k] = true;
					rx.newest = k;
					any = true;
					unsigned nb = peer_blocks(&rx, s0, seg, sc->sack ? maxb : 0, &ack, blk);
					rp_send(&rp, rp.x_nxt, ack, 0, (const uint32_t (*)[2])blk, nb);
					int m = rp_frames(&rp, ti, 64);
					for (int j = 0; j < m; j++) {
						int x = seg_index(&ti[j], s0, seg);
						if (x >= 0) {
							cr_expect(!rx.got[x], "%s: segment %d resent after "
								  "it arrived", sc->name, x);
							rexmit[x]++;
						}
					}
				}
			}
			if (!any)
				break;
		}
		cr_expect_eq(ack, s0 + NSEG * seg, "%s: all ACKed", sc->name);
		for (int k = 0; k < NSEG; k++)
			cr_expect_eq(rexmit[k], lost[k] ? 1 : 0, "%s: segment %d resent %d times",
				     sc->name, k, rexmit[k]);
		struct ns_stats st;
		struct ns_xstats xs;
		ns_get_stats(rp.s, &st);
		ns_get_xstats(rp.s, &xs);
		cr_expect_eq(st.rto_timeouts, 0, "%s", sc->name);
		cr_expect_eq(st.fast_retransmits, 1, "%s: recoveries %lu", sc->name,
			     (unsigned long)st.fast_retransmits);
		cr_expect_eq(st.retransmits, (uint64_t)nlost, "%s", sc->name);
		/* the first hole is the fast retransmit, the others SACK's */
		cr_expect_eq(xs.sack_retransmits, sc->sack ? (uint64_t)nlost - 1 : 0, "%s: %lu",
			     sc->name, (unsigned long)xs.sack_retransmits);
		/* recovery left at the recovery point, scoreboard empty */
		cr_expect_eq(tp->flags & (NS_TF_RECOVERY | NS_TF_SACKREC), 0u, "%s: still in recovery",
			     sc->name);
		cr_expect_eq(tp->sb_cnt, 0u, "%s", sc->name);
		cr_expect_leq(tp->cwnd, tp->ssthresh, "%s: cwnd %u ssthresh %u", sc->name, tp->cwnd,
			      tp->ssthresh);
		cr_expect_eq(ns_conn_unacked(rp.s, rp.c), 0u, "%s", sc->name);
		cr_expect_eq(ns_check_invariants(rp.s), 0, "%s", sc->name);
		(void)nearly;
		rp_close(&rp);
	}
}

/* RFC 6675 5.1: after an RTO the scoreboard is forgotten (the receiver
 * may have reneged). Here it did: the peer SACKed segments 2-3, then
 * only ACKs segment 1 after the timeout; A must send 2 and 3 again. */
Test(tcp, sack_rto_clears_scoreboard_reneging)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	const uint32_t seg = 1448, s0 = rp.a_iss + 1;
	static uint8_t data[NSEG * 1448];
	memset(data, 'r', sizeof(data));
	cr_assert_eq(ns_send(rp.s, rp.c, data, 4 * seg), (ssize_t)(4 * seg));
	struct tcpinfo ti[64];
	cr_assert_eq(rp_frames(&rp, ti, 64), 4);
	/* segment 0 arrives, 1 is lost, 2 and 3 are SACKed: two duplicate
	 * ACKs, not enough for recovery (2 segments SACKed, not lost yet) */
	uint32_t b1[1][2] = { { s0 + 2 * seg, s0 + 3 * seg } };
	uint32_t b2[1][2] = { { s0 + 2 * seg, s0 + 4 * seg } };
	rp_send(&rp, rp.x_nxt, s0 + seg, 0, NULL, 0);
	rp_send(&rp, rp.x_nxt, s0 + seg, 0, (const uint32_t (*)[2])b1, 1);
	rp_send(&rp, rp.x_nxt, s0 + seg, 0, (const uint32_t (*)[2])b2, 1);
	cr_expect_eq(rp_frames(&rp, ti, 64), 0, "nothing to resend before the RTO");
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	cr_assert_not_null(tp);
	cr_expect_eq(tp->sb_cnt, 1u);
	cr_expect_eq(tp->dupacks, 2);
	cr_expect_eq(tp->flags & NS_TF_RECOVERY, 0u);
	/* first the probe timeout: segments above the hole are SACKed and
	 * nothing moved for 2*SRTT, so segment 1 is lost: SACK recovery */
	rp.now += 1500000;
	ns_timers(rp.s, rp.now);
	int n = rp_frames(&rp, ti, 64);
	cr_assert_eq(n, 1);
	cr_expect_eq(ti[0].seq, s0 + seg, "PTO resends the hole");
	cr_expect(tp->flags & NS_TF_SACKREC);
	cr_expect_eq(tp->sb_cnt, 1u, "a PTO keeps the scoreboard");
	struct ns_stats st;
	struct ns_xstats xs;
	ns_get_stats(rp.s, &st);
	ns_get_xstats(rp.s, &xs);
	cr_expect_eq(st.rto_timeouts, 0);
	cr_expect_eq(xs.pto_recoveries, 1);
	/* then the RTO: segment 1 again, scoreboard gone, recovery over */
	rp.now += 1500000;
	ns_timers(rp.s, rp.now);
	n = rp_frames(&rp, ti, 64);
	cr_assert_geq(n, 1);
	cr_expect_eq(ti[0].seq, s0 + seg, "RTO resends snd_una");
	cr_expect_eq(tp->sb_cnt, 0u, "scoreboard cleared by the RTO");
	cr_expect_eq(tp->flags & (NS_TF_RECOVERY | NS_TF_SACKREC), 0u);
	ns_get_stats(rp.s, &st);
	ns_get_xstats(rp.s, &xs);
	cr_expect_eq(st.rto_timeouts, 1);
	cr_expect_eq(xs.sack_reneged, 1);
	/* the peer reneged: it ACKs 1 and has nothing above */
	rp_send(&rp, rp.x_nxt, s0 + 2 * seg, 0, NULL, 0);
	bool sent[NSEG] = { false };
	for (int round = 0; round < 4; round++) {
		n = rp_frames(&rp, ti, 64);
		uint32_t top = 0;
		for (int j = 0; j < n; j++) {
			int x = seg_index(&ti[j], s0, seg);
			if (x >= 0) {
				sent[x] = true;
				top = ti[j].seq + ti[j].paylen;
			}
		}
		if (!top)
			break;
		rp_send(&rp, rp.x_nxt, top, 0, NULL, 0);
	}
	cr_expect(sent[2] && sent[3], "reneged segments sent again (2: %d, 3: %d)", sent[2], sent[3]);
	cr_expect_eq(ns_conn_unacked(rp.s, rp.c), 0u);
	cr_expect_eq(ns_check_invariants(rp.s), 0);
	rp_close(&rp);
}

/* Fresh SACK information after an RTO steers the go-back-N resend: what
 * the peer reports holding (again) is skipped. */
Test(tcp, sack_after_rto_skips_sacked)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	const uint32_t seg = 1448, s0 = rp.a_iss + 1;
	static uint8_t data[NSEG * 1448];
	memset(data, 's', sizeof(data));
	cr_assert_eq(ns_send(rp.s, rp.c, data, 6 * seg), (ssize_t)(6 * seg));
	struct tcpinfo ti[64];
	cr_assert_eq(rp_frames(&rp, ti, 64), 6);
	/* every ACK is lost: first the probe timeout resends the last
	 * segment (tail loss probe), then the RTO resends segment 0 */
	rp.now += 1500000;
	ns_timers(rp.s, rp.now);
	int n = rp_frames(&rp, ti, 64);
	cr_assert_eq(n, 1);
	cr_expect_eq(ti[0].seq, s0 + 5 * seg, "tail probe: the last segment, not %d", (int)(ti[0].seq - s0) / (int)seg);
	struct ns_xstats xs;
	ns_get_xstats(rp.s, &xs);
	cr_expect_eq(xs.tail_probes, 1);
	rp.now += 1500000;
	ns_timers(rp.s, rp.now);
	n = rp_frames(&rp, ti, 64);
	cr_assert_eq(n, 1);
	cr_expect_eq(ti[0].seq, s0);
	/* the peer had 0, lost 1, holds 2-5 */
	uint32_t b[1][2] = { { s0 + 2 * seg, s0 + 6 * seg } };
	rp_send(&rp, rp.x_nxt, s0 + seg, 0, (const uint32_t (*)[2])b, 1);
	n = rp_frames(&rp, ti, 64);
	cr_assert_geq(n, 1);
	for (int j = 0; j < n; j++)
		cr_expect_eq(ti[j].seq, s0 + seg, "only the hole (1) goes again, not %u",
			     (ti[j].seq - s0) / seg);
	rp_send(&rp, rp.x_nxt, s0 + 6 * seg, 0, NULL, 0);
	cr_expect_eq(rp_frames(&rp, ti, 64), 0);
	cr_expect_eq(ns_conn_unacked(rp.s, rp.c), 0u);
	struct ns_stats st;
	ns_get_stats(rp.s, &st);
	cr_expect_eq(st.retransmits, 3, "probe (5), segments 0 and 1, nothing SACKed");
	cr_expect_eq(st.rto_timeouts, 1);
	cr_expect_eq(ns_check_invariants(rp.s), 0);
	rp_close(&rp);
}

struct badsack_case {
	const char *name;
	int32_t a, b;                /* block, in bytes from s0 */
	bool counted_bad;            /* reported as invalid (vs. merely stale) */
};

/* Blocks that do not describe data in flight are ignored: they neither
 * fill the scoreboard nor count as duplicate ACKs. */
Test(tcp, sack_invalid_blocks_ignored)
{
	static const struct badsack_case cases[] = {
		{ "beyond snd_max", 2 * 1448, 20 * 1448, true },
		{ "empty", 2 * 1448, 2 * 1448, true },
		{ "reversed", 3 * 1448, 2 * 1448, true },
		{ "below snd_una (D-SACK)", -1448, 0, false },
		{ "far away", 0x40000000, 0x40000000 + 1448, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct badsack_case *bc = &cases[i];
		struct rawpeer rp;
		rp_open(&rp, true, true);
		const uint32_t seg = 1448, s0 = rp.a_iss + 1;
		static uint8_t data[NSEG * 1448];
		memset(data, 'b', sizeof(data));
		cr_assert_eq(ns_send(rp.s, rp.c, data, 4 * seg), (ssize_t)(4 * seg));
		struct tcpinfo ti[64];
		cr_assert_eq(rp_frames(&rp, ti, 64), 4);
		uint32_t b[1][2] = { { s0 + (uint32_t)bc->a, s0 + (uint32_t)bc->b } };
		for (int k = 0; k < 4; k++)
			rp_send(&rp, rp.x_nxt, s0, 0, (const uint32_t (*)[2])b, 1);
		cr_expect_eq(rp_frames(&rp, ti, 64), 0, "%s: something was resent", bc->name);
		struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
		cr_expect_eq(tp->sb_cnt, 0u, "%s", bc->name);
		cr_expect_eq(tp->dupacks, 0, "%s: counted as duplicates", bc->name);
		cr_expect_eq(tp->flags & NS_TF_RECOVERY, 0u, "%s", bc->name);
		struct ns_xstats xs;
		ns_get_xstats(rp.s, &xs);
		cr_expect_eq(xs.sack_blocks_bad, bc->counted_bad ? 4u : 0u, "%s: %lu", bc->name,
			     (unsigned long)xs.sack_blocks_bad);
		cr_expect_eq(ns_check_invariants(rp.s), 0, "%s", bc->name);
		rp_close(&rp);
	}
}

/* Random blocks, many more ranges than the scoreboard holds: it stays
 * sorted, disjoint and inside the data in flight (ns_check_invariants),
 * whatever the peer says; a cumulative ACK of everything empties it. */
Test(tcp, sack_scoreboard_random_blocks_bounded)
{
	struct rawpeer rp;
	rp_open(&rp, true, false);
	const uint32_t seg = 1460, s0 = rp.a_iss + 1, total = NSEG * seg;
	static uint8_t data[NSEG * 1460];
	memset(data, 'z', sizeof(data));
	cr_assert_eq(ns_send(rp.s, rp.c, data, total), (ssize_t)total);
	struct tcpinfo ti[64];
	cr_assert_eq(rp_frames(&rp, ti, 64), NSEG);
	uint64_t x = 99;
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	uint32_t max_cnt = 0;
	for (int k = 0; k < 400; k++) {
		uint32_t blk[4][2];
		unsigned nb = 1 + (unsigned)(rng_next(&x) % 4);
		for (unsigned b = 0; b < nb; b++) {
			/* mostly small blocks inside the window, some outside */
			uint32_t a = (uint32_t)(rng_next(&x) % (total + 2000)) - 1000;
			uint32_t len = (uint32_t)(rng_next(&x) % 40) + (k % 7 == 0 ? 0 : 1);
			blk[b][0] = s0 + a;
			blk[b][1] = s0 + a + len;
		}
		rp_send(&rp, rp.x_nxt, s0, 0, (const uint32_t (*)[2])blk, nb);
		int rc = ns_check_invariants(rp.s);
		cr_assert_eq(rc, 0, "after ACK %d: invariant at stack.c:%d", k, -rc);
		cr_assert_leq(tp->sb_cnt, NS_SACK_SB_MAX);
		if (tp->sb_cnt > max_cnt)
			max_cnt = tp->sb_cnt;
		/* RFC 6675 counts a resent octet that is not lost twice */
		cr_assert_leq(ns_sack_pipe(tp), 2 * total, "pipe beyond twice the flight");
		rp_frames(&rp, ti, 64);
	}
	cr_expect_eq(max_cnt, NS_SACK_SB_MAX, "the scoreboard never filled (%u)", max_cnt);
	struct ns_xstats xs;
	ns_get_xstats(rp.s, &xs);
	cr_expect_gt(xs.sack_blocks_bad, 0);
	rp_send(&rp, rp.x_nxt, s0 + total, 0, NULL, 0);
	rp_frames(&rp, ti, 64);
	cr_expect_eq(tp->sb_cnt, 0u);
	cr_expect_eq(tp->flags & (NS_TF_RECOVERY | NS_TF_SACKREC), 0u);
	cr_expect_eq(ns_conn_unacked(rp.s, rp.c), 0u);
	cr_expect_eq(ns_check_invariants(rp.s), 0);
	rp_close(&rp);
}

/* One probe per stall: on a silent path the PTO fires once, then only the
 * backed-off RTO; an ACK that moves snd_una allows the next probe. */
Test(tcp, pto_once_per_stall)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	const uint32_t seg = 1448, s0 = rp.a_iss + 1;
	static uint8_t data[NSEG * 1448];
	memset(data, 'q', sizeof(data));
	cr_assert_eq(ns_send(rp.s, rp.c, data, 6 * seg), (ssize_t)(6 * seg));
	struct tcpinfo ti[64];
	cr_assert_eq(rp_frames(&rp, ti, 64), 6);
	int sent = 0;
	for (int ms = 0; ms < 3000; ms++) {
		rp.now += 1000;
		ns_timers(rp.s, rp.now);
		sent += rp_frames(&rp, ti, 64);
	}
	struct ns_stats st;
	struct ns_xstats xs;
	ns_get_stats(rp.s, &st);
	ns_get_xstats(rp.s, &xs);
	cr_expect_eq(xs.pto_fired, 1, "%lu PTOs in one stall", (unsigned long)xs.pto_fired);
	cr_expect_eq(xs.tail_probes, 1);
	cr_expect_geq(st.rto_timeouts, 3, "%lu RTOs", (unsigned long)st.rto_timeouts);
	cr_expect_eq((uint64_t)sent, 1 + st.rto_timeouts, "one frame per timeout");
	/* the peer wakes up and ACKs everything but the last segment */
	rp_send(&rp, rp.x_nxt, s0 + 5 * seg, 0, NULL, 0);
	rp_frames(&rp, ti, 64);
	cr_expect_eq(ns_conn_unacked(rp.s, rp.c), seg);
	/* a new stall after progress: RTO backoff reset, a new probe first */
	cr_assert_eq(ns_send(rp.s, rp.c, data, 4 * seg), (ssize_t)(4 * seg));
	rp_frames(&rp, ti, 64);
	uint64_t rto0 = st.rto_timeouts;
	for (int ms = 0; ms < 100; ms++) {
		rp.now += 1000;
		ns_timers(rp.s, rp.now);
		rp_frames(&rp, ti, 64);
	}
	ns_get_stats(rp.s, &st);
	ns_get_xstats(rp.s, &xs);
	cr_expect_eq(xs.pto_fired, 2);
	cr_expect_eq(st.rto_timeouts, rto0, "no RTO within 100 ms");
	cr_expect_eq(ns_check_invariants(rp.s), 0);
	rp_close(&rp);
}

/* ================================================ lazy timer re-arm */

/* Step rp's clock by 1 ms until A sends something (at most limit_us);
 * returns the frames' count and leaves the time they left in *at. */
static int rp_wait_frame(struct rawpeer *rp, struct tcpinfo *ti, int max, uint64_t limit_us,
			 uint64_t *at)
{
	uint64_t end = rp->now + limit_us;
	while (rp->now < end) {
		rp->now += 1000;
		ns_timers(rp->s, rp->now);
		cr_assert_eq(ns_check_invariants(rp->s), 0, "invariants at %lu",
			     (unsigned long)rp->now);
		int n = rp_frames(rp, ti, max);
		if (n > 0) {
			*at = rp->now;
			return n;
		}
	}
	*at = rp->now;
	return 0;
}

/* The wheel entry stays at an old, earlier deadline when the RTO is
 * pushed later (lazy re-arm): the early wake-up must send nothing, the
 * retransmission must come at the new deadline, and a deadline that
 * moves earlier (a delayed ACK armed by input, scheduled when output
 * runs) must still be met. */
Test(tcp, lazy_timer_rearm_keeps_deadlines)
{
	struct rawpeer rp;
	rp_open(&rp, false, true);      /* no SACK: no probe timeout, RTO only */
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	cr_assert_not_null(tp);
	const uint32_t s0 = rp.a_iss + 1;
	static uint8_t data[100];
	memset(data, 'z', sizeof(data));
	struct tcpinfo ti[8];
	uint64_t t0 = rp.now, at;

	cr_assert_eq(ns_send(rp.s, rp.c, data, 100), 100);
	cr_assert_eq(rp_frames(&rp, ti, 8), 1);
	uint64_t rto = ns_tcp_rto_cur(tp);
	cr_assert_eq(tp->t_rexmt, t0 + rto);
	cr_assert_geq(rto, 4000u, "test needs an RTO of a few ms at least");

	/* half an RTO later the peer ACKs and A sends again: RTO moves later */
	cr_assert_eq(rp_wait_frame(&rp, ti, 8, rto / 2, &at), 0, "nothing due yet");
	uint64_t t1 = rp.now;
	rp_send(&rp, rp.x_nxt, s0 + 100, 0, NULL, 0);
	cr_assert_eq(ns_send(rp.s, rp.c, data, 100), 100);
	cr_assert_eq(rp_frames(&rp, ti, 8), 1);
	cr_expect_eq(ti[0].seq, s0 + 100);
	rto = ns_tcp_rto_cur(tp);       /* the ACK gave an RTT sample */
	cr_assert_eq(tp->t_rexmt, t1 + rto);
	cr_expect_leq(tp->wdeadline, t0 + rto, "the entry stayed at the old deadline");
	cr_expect_eq(ns_check_invariants(rp.s), 0);

	/* the old deadline passes silently; the new one retransmits */
	int n = rp_wait_frame(&rp, ti, 8, 3 * rto, &at);
	cr_assert_eq(n, 1);
	cr_expect_eq(ti[0].seq, s0 + 100, "retransmits the unacked segment");
	cr_expect_eq(ti[0].paylen, 100u);
	cr_expect_geq(at, t1 + rto, "retransmitted at %lu, due %lu", (unsigned long)at,
		      (unsigned long)(t1 + rto));
	cr_expect_leq(at, t1 + rto + NS_TICK_US, "late: at %lu, due %lu", (unsigned long)at,
		      (unsigned long)(t1 + rto));
	struct ns_stats st;
	ns_get_stats(rp.s, &st);
	cr_expect_eq(st.rto_timeouts, 1);

	/* all acknowledged: the RTO is cleared, the entry may stay (backed
	 * off, far away); data from the peer that A does not answer must
	 * still be ACKed after the delayed-ACK time, not at the old entry */
	rp_send(&rp, rp.x_nxt, s0 + 200, 0, NULL, 0);
	cr_assert_eq(rp_frames(&rp, ti, 8), 0);
	cr_expect_eq(tp->t_rexmt, 0u);
	uint64_t t2 = rp.now;
	rp_send(&rp, rp.x_nxt, s0 + 200, 10, NULL, 0);
	rp.x_nxt += 10;
	cr_assert_eq(rp_frames(&rp, ti, 8), 0, "the ACK is delayed");
	cr_expect_eq(tp->t_dack, t2 + NS_DACK_US);
	cr_expect_leq(tp->wdeadline, tp->t_dack, "scheduled when output ran");
	n = rp_wait_frame(&rp, ti, 8, 10 * NS_DACK_US, &at);
	cr_assert_eq(n, 1);
	cr_expect_eq(ti[0].ack, rp.x_nxt);
	cr_expect_eq(ti[0].paylen, 0u);
	cr_expect_geq(at, t2 + NS_DACK_US);
	cr_expect_leq(at, t2 + NS_DACK_US + NS_TICK_US, "delayed ACK late: %lu after",
		      (unsigned long)(at - t2));

	/* a reply written before the output runs carries the ACK: no
	 * separate one at the delayed-ACK time */
	rp_send(&rp, rp.x_nxt, s0 + 200, 10, NULL, 0);
	rp.x_nxt += 10;
	ns_timers(rp.s, rp.now);
	cr_assert_eq(ns_send(rp.s, rp.c, data, 5), 5);
	cr_assert_eq(rp_frames(&rp, ti, 8), 1);
	cr_expect_eq(ti[0].ack, rp.x_nxt, "the reply carries the ACK");
	cr_expect_eq(ti[0].paylen, 5u);
	rp_send(&rp, rp.x_nxt, s0 + 205, 0, NULL, 0);
	cr_expect_eq(rp_wait_frame(&rp, ti, 8, 3 * NS_DACK_US, &at), 0, "no extra ACK");
	cr_expect_eq(ns_check_invariants(rp.s), 0);
	rp_close(&rp);
}

/* ns_csum_add with a running sum (as callers chain pseudo-header, header
 * and payload sums): the carries of a large incoming sum are kept. */
Test(tcp, checksum_running_sum_carries)
{
	static uint8_t buf[2048];
	uint64_t r = 11;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next(&r);
	memset(buf + 64, 0xff, 512);
	for (int k = 0; k < 20000; k++) {
		size_t off = rng_next(&r) % 64, n = rng_next(&r) % 1500;
		/* the largest running sums callers produce are below 2^34 */
		uint64_t in = rng_next(&r) >> (30 + rng_next(&r) % 34);
		uint16_t in_be = rte_be_to_cpu_16(ns_csum_fold(in));
		uint64_t got_sum = ns_csum_add(in, buf + off, n);
		cr_assert_lt(got_sum, 1ull << 34, "result %#lx too large to chain",
			     (unsigned long)got_sum);
		uint16_t got = rte_be_to_cpu_16(ns_csum_fold(got_sum));
		uint16_t want = ref_sum(buf + off, n, in_be);
		/* 0 and 0xffff are the same one's complement number */
		if (want == 0xffff && got == 0)
			got = 0xffff;
		cr_assert_eq(got, want, "in %#lx off %zu len %zu: %#x want %#x",
			     (unsigned long)in, off, n, got, want);
	}
}

/* ================================================ header prediction */

/* One step of the script below: X sends a segment (seq and ack relative
 * to X's and A's first data byte), optionally after A sent a_send bytes
 * or read all it holds. */
struct hp_step {
	const char *name;
	uint32_t xoff, aoff;
	unsigned paylen;
	uint16_t win;
	uint8_t flags;
	int ts_back;                 /* send a TSval this far in the past */
	unsigned a_send;
	bool a_read;
	bool fast;                   /* expected to take the fast path */
};

static void hp_send(struct rawpeer *rp, const struct hp_step *st)
{
	static uint8_t pay[1500];
	memset(pay, 'h', sizeof(pay));
	uint8_t o[40], f[2048];
	uint32_t saved = rp->tsval;
	if (st->ts_back)
		rp->tsval -= (uint32_t)st->ts_back;
	struct seg g = { .dmac = MAC_A, .smac = MAC_X, .src = IP_X, .sport = 40000,
			 .seq = 70001 + st->xoff, .ack = rp->a_iss + 1 + st->aoff,
			 .flags = st->flags, .win = st->win, .opt = o, .pay = pay,
			 .paylen = st->paylen };
	g.optlen = rp_opts(rp, o, NULL, 0);
	if (st->ts_back)
		rp->tsval = saved;
	inject(rp->s, f, mk_tcp(f, &g), rp->now);
}

/* The same segments through header prediction and through tcp_segment
 * alone (no_fast_path) leave the same connection state and make the same
 * frames and events, for the fast path's cases and for those it must
 * leave to the slow path (duplicate ACK, window change, out of order,
 * old duplicate, PAWS, FIN, CLOSE_WAIT). */
Test(tcp, header_prediction_matches_slow_path)
{
	static const struct hp_step script[] = {
		{ "data, no new ACK", 0, 0, 100, 65535, TH_ACK | TH_PSH, 0, 3000, false, true },
		{ "pure ACK of one segment", 100, 1448, 0, 65535, TH_ACK, 0, 0, false, true },
		{ "duplicate ACK", 100, 1448, 0, 65535, TH_ACK, 0, 0, false, false },
		{ "window shrinks", 100, 1448, 0, 30000, TH_ACK, 0, 0, false, false },
		{ "full ACK", 100, 3000, 0, 30000, TH_ACK, 0, 0, false, true },
		{ "out of order", 300, 3000, 100, 30000, TH_ACK, 0, 0, false, false },
		{ "hole filled", 100, 3000, 200, 30000, TH_ACK, 0, 0, false, false },
		{ "in order again", 400, 3000, 50, 30000, TH_ACK | TH_PSH, 0, 0, false, true },
		{ "old duplicate", 0, 3000, 100, 30000, TH_ACK, 0, 0, false, false },
		{ "PAWS: old TSval", 450, 3000, 10, 30000, TH_ACK, 1000, 0, false, false },
		{ "after PAWS", 450, 3000, 10, 30000, TH_ACK, 0, 0, false, true },
		{ "reply and request", 460, 3010, 20, 30000, TH_ACK, 0, 10, true, true },
		{ "window grows", 480, 3010, 0, 65535, TH_ACK, 0, 0, false, false },
		{ "URG is not predicted", 480, 3010, 5, 65535, TH_ACK | TH_URG, 0, 0, false, false },
		{ "FIN", 485, 3010, 0, 65535, TH_ACK | TH_FIN, 0, 0, true, false },
		{ "ACK in CLOSE_WAIT", 486, 3010, 0, 65535, TH_ACK, 0, 0, false, false },
	};
	struct rawpeer rp[2];
	rp_open(&rp[0], false, true);
	rp_open(&rp[1], false, true);
	rp[1].s->no_fast_path = true;
	cr_assert_eq(rp[0].a_iss, rp[1].a_iss);
	static uint8_t data[4096], sink[8192];
	memset(data, 'a', sizeof(data));
	for (size_t k = 0; k < sizeof(script) / sizeof(script[0]); k++) {
		const struct hp_step *st = &script[k];
		struct tcpinfo ti[2][16];
		int nf[2], nev[2];
		struct dp_event ev[2][8];
		uint64_t fp0 = 0;
		for (int i = 0; i < 2; i++) {
			struct rawpeer *r = &rp[i];
			r->now += 1000;
			ns_timers(r->s, r->now);
			if (st->a_read)
				while (ns_recv(r->s, r->c, sink, sizeof(sink)) > 0)
					;
			if (st->a_send)
				cr_assert_eq(ns_send(r->s, r->c, data, st->a_send), (ssize_t)st->a_send);
			rp_frames(r, ti[i], 16);
			struct ns_xstats x0;
			ns_get_xstats(r->s, &x0);
			fp0 = x0.fast_path;
			hp_send(r, st);
			nf[i] = rp_frames(r, ti[i], 16);
			nev[i] = ns_poll_events(r->s, ev[i], 8);
			struct ns_xstats x1;
			ns_get_xstats(r->s, &x1);
			if (i == 0)
				cr_expect_eq(x1.fast_path - fp0, st->fast ? 1u : 0u, "%s: fast path %s",
					     st->name, st->fast ? "not taken" : "taken");
			else
				cr_expect_eq(x1.fast_path, 0u);
			cr_assert_eq(ns_check_invariants(r->s), 0, "%s", st->name);
		}
		cr_assert_eq(nf[0], nf[1], "%s: %d frames vs %d", st->name, nf[0], nf[1]);
		for (int j = 0; j < nf[0]; j++) {
			const struct tcpinfo *a = &ti[0][j], *b = &ti[1][j];
			cr_expect(a->seq == b->seq && a->ack == b->ack && a->flags == b->flags &&
				  a->win == b->win && a->paylen == b->paylen && a->optlen == b->optlen &&
				  memcmp(a->opt, b->opt, a->optlen) == 0,
				  "%s: frame %d differs (seq %u/%u ack %u/%u)", st->name, j, a->seq,
				  b->seq, a->ack, b->ack);
		}
		cr_assert_eq(nev[0], nev[1], "%s: events", st->name);
		for (int j = 0; j < nev[0]; j++)
			cr_expect_eq(ev[0][j].kind, ev[1][j].kind, "%s: event %d", st->name, j);
		const struct ns_tcb *a = ns_conn_tcb(rp[0].s, rp[0].c), *b = ns_conn_tcb(rp[1].s, rp[1].c);
#define SAME(f) cr_expect_eq(a->f, b->f, "%s: " #f " %lu vs %lu", st->name, \
			     (unsigned long)a->f, (unsigned long)b->f)
		SAME(state); SAME(flags); SAME(rcv_nxt); SAME(rcv_adv); SAME(last_ack_sent);
		SAME(snd_una); SAME(snd_nxt); SAME(snd_max); SAME(snd_wnd); SAME(max_sndwnd);
		SAME(snd_wl1); SAME(snd_wl2); SAME(dupacks); SAME(cwnd); SAME(ssthresh);
		SAME(rx_bytes); SAME(rxq_cnt); SAME(ooo_cnt); SAME(ts_recent); SAME(ts_recent_us);
		SAME(t_rexmt); SAME(t_dack); SAME(unacked_segs); SAME(last_rx_us); SAME(rcv_mss);
		SAME(snd_len); SAME(srtt_us); SAME(rto_us); SAME(rxtshift); SAME(keep_probes);
#undef SAME
	}
	struct ns_stats s0, s1;
	ns_get_stats(rp[0].s, &s0);
	ns_get_stats(rp[1].s, &s1);
	cr_expect_eq(s0.tx_pkts, s1.tx_pkts);
	cr_expect_eq(s0.rx_bytes, s1.rx_bytes);
	rp_close(&rp[0]);
	rp_close(&rp[1]);
}

/* ============================================ send queue of mbufs (TX) */

#define TXSEG 1448u              /* MSS 1460 minus the timestamp option */
#define TXPAY_OFF (14u + 20u + 20u + 12u)

static const struct ns_txb *txb(const struct ns_stack *s, const struct ns_tcb *tp, uint32_t k)
{
	return &tp->buf->sndq[(tp->sndq_head + k) & (s->sndq_cap - 1)];
}

/* X acknowledges everything below ack. */
static void rp_ack(struct rawpeer *rp, uint32_t ack)
{
	rp_send(rp, rp->x_nxt, ack, 0, NULL, 0);
}

/* The frame's payload matches pattern seed from byte off (its seq - base)
 * on and its TCP checksum verifies. */
static void check_frame(const struct rte_mbuf *m, const struct tcpinfo *ti, uint32_t base,
			uint32_t seed)
{
	cr_assert_eq(m->nb_segs, 1);
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned thl = 20 + ti->optlen;
	const uint8_t *pay = f + 34 + thl;
	uint32_t off = ti->seq - base;
	for (uint32_t i = 0; i < ti->paylen; i++)
		cr_assert_eq(pay[i], pat(seed, off + i), "byte %u of seq %u", i, ti->seq);
	uint64_t ps = ns_pseudo_sum(IP_A, IP_X, IPPROTO_TCP, (uint16_t)(thl + ti->paylen));
	cr_assert_eq(cks(f + 34, thl + ti->paylen, ps), 0, "TCP checksum of seq %u", ti->seq);
	cr_assert_eq(cks(f + 14, 20, 0), 0, "IP checksum of seq %u", ti->seq);
}

/* Replies go out in the mbuf ns_send() wrote them into: the frame the TX
 * queue gets is the queue's mbuf (same buffer, payload not moved), with a
 * second reference the PMD's free drops; the queue keeps its own for
 * retransmission. Writes are appended to the last mbuf only until it is
 * sent. */
Test(tcp, tx_queue_mbuf_sent_in_place)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	unsigned avail0 = rte_mempool_avail_count(g_mp);
	const uint32_t n = 3 * TXSEG + 100;
	static uint8_t buf[3 * TXSEG + 200];
	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(11, i);
	/* two writes: the second fills the first mbuf up, then new ones */
	cr_assert_eq(ns_send(rp.s, rp.c, buf, 1000), 1000);
	cr_assert_eq(ns_send(rp.s, rp.c, buf + 1000, n - 1000), (ssize_t)(n - 1000));
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	cr_assert_eq(tp->sndq_cnt, 4);
	cr_assert_eq(rp.s->tx_held, 4);
	struct rte_mbuf *qm[5];
	const uint8_t *qp[5];
	for (uint32_t k = 0; k < 4; k++) {
		const struct ns_txb *t = txb(rp.s, tp, k);
		cr_assert_eq(t->len, k < 3 ? TXSEG : 100u);
		cr_assert_eq(t->seq, rp.a_iss + 1 + k * TXSEG);
		qm[k] = t->m;
		qp[k] = (const uint8_t *)t->m->buf_addr + t->off;
		cr_assert_eq(memcmp(qp[k], buf + k * TXSEG, t->len), 0);
	}
	cr_assert_eq(ns_check_invariants(rp.s), 0);

	struct rte_mbuf *out[8];
	int nf = drain(rp.s, out, 8);
	cr_assert_eq(nf, 4);
	for (int k = 0; k < nf; k++) {
		struct tcpinfo ti;
		cr_assert(parse_tcp(out[k], &ti));
		cr_assert_eq(ti.seq, rp.a_iss + 1 + (uint32_t)k * TXSEG);
		cr_assert_eq(out[k], qm[k], "frame %d is not the queue's mbuf", k);
		cr_assert_eq(rte_pktmbuf_mtod_offset(out[k], const uint8_t *, TXPAY_OFF), qp[k],
			     "payload of frame %d moved", k);
		cr_assert_eq(rte_mbuf_refcnt_read(out[k]), 2);
		check_frame(out[k], &ti, rp.a_iss + 1, 11);
	}
	struct ns_xstats x;
	ns_get_xstats(rp.s, &x);
	cr_assert_eq(x.tx_inplace, 4);
	cr_assert_eq(x.tx_copied, 0);
	free_all(out, nf);                  /* the "NIC" is done with them */
	for (int k = 0; k < 4; k++)
		cr_assert_eq(rte_mbuf_refcnt_read(qm[k]), 1, "queue lost its reference");

	/* The sent tail is not appended to: a new mbuf takes the write. */
	cr_assert_eq(ns_send(rp.s, rp.c, buf + n, 50), 50);
	cr_assert_eq(tp->sndq_cnt, 5);
	cr_assert_eq(txb(rp.s, tp, 3)->len, 100);
	qm[4] = txb(rp.s, tp, 4)->m;
	nf = drain(rp.s, out, 8);
	cr_assert_eq(nf, 1);
	cr_assert_eq(out[0], qm[4]);
	free_all(out, nf);

	/* Everything acknowledged: the queue and every mbuf are gone. */
	rp_ack(&rp, rp.a_iss + 1 + n + 50);
	cr_assert_eq(tp->sndq_cnt, 0);
	cr_assert_eq(tp->snd_len, 0);
	cr_assert_eq(rp.s->tx_held, 0);
	cr_assert_eq(ns_check_invariants(rp.s), 0);
	free_all(out, drain(rp.s, out, 8));
	cr_assert_eq(rte_mempool_avail_count(g_mp) + rp.s->txr_n, avail0, "mbufs leaked");
	rp_close(&rp);
}

/* A slow NIC still holds every frame sent in place: retransmissions (tail
 * probe, RTO) must come in fresh mbufs and leave the held frames' bytes
 * and metadata alone. Once the NIC lets go, a retransmission that is
 * exactly one queue mbuf may reuse it again. */
Test(tcp, retransmission_leaves_frames_held_by_the_nic_alone)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	const uint32_t n = 4 * TXSEG;
	static uint8_t buf[4 * TXSEG];
	for (uint32_t i = 0; i < n; i++)
		buf[i] = pat(21, i);
	cr_assert_eq(ns_send(rp.s, rp.c, buf, n), (ssize_t)n);
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	struct rte_mbuf *held[8];
	int nh = drain(rp.s, held, 8);
	cr_assert_eq(nh, 4);
	static uint8_t snap[4][2048];
	uint16_t snap_off[4], snap_len[4];
	for (int k = 0; k < nh; k++) {
		cr_assert_eq(held[k], txb(rp.s, tp, (uint32_t)k)->m);
		snap_off[k] = held[k]->data_off;
		snap_len[k] = held[k]->data_len;
		memcpy(snap[k], rte_pktmbuf_mtod(held[k], const uint8_t *), held[k]->data_len);
	}
	int rexmits = 0;
	for (int round = 0; round < 4; round++) {
		rp.now += 1500000;
		ns_timers(rp.s, rp.now);
		struct rte_mbuf *out[16];
		int nf = drain(rp.s, out, 16);
		for (int i = 0; i < nf; i++) {
			struct tcpinfo ti;
			cr_assert(parse_tcp(out[i], &ti));
			if (ti.paylen == 0)
				continue;
			rexmits++;
			for (int k = 0; k < nh; k++)
				cr_assert_neq(out[i]->buf_addr, held[k]->buf_addr,
					      "retransmission reused a buffer the NIC holds");
			check_frame(out[i], &ti, rp.a_iss + 1, 21);
		}
		free_all(out, nf);
		for (int k = 0; k < nh; k++) {
			cr_assert_eq(rte_mbuf_refcnt_read(held[k]), 2);
			cr_assert_eq(held[k]->data_off, snap_off[k]);
			cr_assert_eq(held[k]->data_len, snap_len[k]);
			cr_assert_eq(memcmp(rte_pktmbuf_mtod(held[k], const uint8_t *), snap[k],
					    snap_len[k]), 0, "held frame %d modified in round %d", k, round);
		}
		cr_assert_eq(ns_check_invariants(rp.s), 0);
	}
	cr_assert_geq(rexmits, 2, "expected a tail probe and an RTO, got %d", rexmits);
	struct ns_xstats x;
	ns_get_xstats(rp.s, &x);
	cr_assert_eq(x.tx_inplace, 4);
	cr_assert_geq(x.tx_copied, (uint64_t)rexmits);

	/* The NIC is done: the next RTO resends snd_una's mbuf in place. */
	struct rte_mbuf *first = held[0];
	free_all(held, nh);
	uint64_t copied = x.tx_copied;
	struct rte_mbuf *out[16];
	int nf = 0;
	for (int i = 0; i < 20 && nf == 0; i++) {
		rp.now += 5000000;
		ns_timers(rp.s, rp.now);
		nf = drain(rp.s, out, 16);
	}
	cr_assert_geq(nf, 1);
	struct tcpinfo ti;
	cr_assert(parse_tcp(out[0], &ti));
	cr_assert_eq(ti.seq, rp.a_iss + 1);
	cr_assert_eq(ti.paylen, TXSEG);
	cr_assert_eq(out[0], first, "RTO copied an mbuf nobody else holds");
	check_frame(out[0], &ti, rp.a_iss + 1, 21);
	ns_get_xstats(rp.s, &x);
	cr_assert_eq(x.tx_inplace, 5);
	cr_assert_eq(x.tx_copied, copied);
	free_all(out, nf);
	rp_ack(&rp, rp.a_iss + 1 + n);
	cr_assert_eq(rp.s->tx_held, 0);
	free_all(out, drain(rp.s, out, 16));
	rp_close(&rp);
}

/* An ACK in the middle of an mbuf: the mbuf stays, its first byte moves;
 * the retransmission from there spans two mbufs and is copied. */
Test(tcp, partial_ack_inside_an_mbuf)
{
	struct rawpeer rp;
	rp_open(&rp, true, true);
	unsigned avail0 = rte_mempool_avail_count(g_mp);
	const uint32_t n = 3 * TXSEG;
	static uint8_t buf[3 * TXSEG];
	for (uint32_t i = 0; i < n; i++)
		buf[i] = pat(31, i);
	cr_assert_eq(ns_send(rp.s, rp.c, buf, n), (ssize_t)n);
	struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
	struct rte_mbuf *out[16];
	cr_assert_eq(drain(rp.s, out, 16), 3);
	free_all(out, 3);
	struct rte_mbuf *m0 = txb(rp.s, tp, 0)->m;
	uint16_t off0 = txb(rp.s, tp, 0)->off;

	rp_ack(&rp, rp.a_iss + 1 + 700);
	cr_assert_eq(tp->sndq_cnt, 3);
	cr_assert_eq(txb(rp.s, tp, 0)->m, m0);
	cr_assert_eq(txb(rp.s, tp, 0)->seq, rp.a_iss + 1 + 700);
	cr_assert_eq(txb(rp.s, tp, 0)->off, off0 + 700);
	cr_assert_eq(txb(rp.s, tp, 0)->len, TXSEG - 700);
	cr_assert_eq(tp->snd_len, n - 700);
	cr_assert_eq(rp.s->tx_held, 3);
	cr_assert_eq(ns_check_invariants(rp.s), 0);
	free_all(out, drain(rp.s, out, 16));

	/* RTO (after the tail probe): one full segment from snd_una, across
	 * the first two mbufs */
	bool seen = false;
	for (int i = 0; i < 10 && !seen; i++) {
		rp.now += 2000000;
		ns_timers(rp.s, rp.now);
		int nf = drain(rp.s, out, 16);
		for (int f = 0; f < nf; f++) {
			struct tcpinfo ti;
			cr_assert(parse_tcp(out[f], &ti));
			if (ti.paylen)
				check_frame(out[f], &ti, rp.a_iss + 1, 31);
			if (ti.seq != rp.a_iss + 1 + 700)
				continue;
			seen = true;
			cr_assert_eq(ti.paylen, TXSEG);
			for (uint32_t k = 0; k < tp->sndq_cnt; k++)
				cr_assert_neq(out[f], txb(rp.s, tp, k)->m);
		}
		free_all(out, nf);
	}
	cr_assert(seen, "no retransmission from snd_una");

	/* past the first mbuf into the second */
	rp_ack(&rp, rp.a_iss + 1 + TXSEG + 10);
	cr_assert_eq(tp->sndq_cnt, 2);
	cr_assert_eq(txb(rp.s, tp, 0)->len, TXSEG - 10);
	cr_assert_eq(tp->snd_len, n - TXSEG - 10);
	cr_assert_eq(ns_check_invariants(rp.s), 0);
	rp_ack(&rp, rp.a_iss + 1 + n);
	cr_assert_eq(tp->sndq_cnt, 0);
	cr_assert_eq(rp.s->tx_held, 0);
	free_all(out, drain(rp.s, out, 16));
	cr_assert_eq(rte_mempool_avail_count(g_mp) + rp.s->txr_n, avail0, "mbufs leaked");
	rp_close(&rp);
}

/* Payload integrity with the queue under loss, duplication and reordering
 * and writes of every size (appends to an unsent tail, one-byte mbufs,
 * segments spanning mbufs on retransmission), both ways; nothing held
 * once both sides closed. */
Test(tcp, send_queue_small_writes_faulty_wire)
{
	static const struct lossy_case cases[] = {
		{ 5, 30000, 30000, 20000 },
		{ 6, 60000, 10000, 50000 },
	};
	const uint64_t n = 600000;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lossy_case *lc = &cases[i];
		struct pair p;
		pair_init(&p, NULL, NULL);
		p.rng = lc->seed;
		for (int d = 0; d < 2; d++) {
			p.w[d].drop_pm = lc->drop_pm;
			p.w[d].reorder_pm = lc->reorder_pm;
			p.w[d].dup_pm = lc->dup_pm;
			p.w[d].reorder_max_us = 2000;
			p.sd[d].max_write = 3000;
			p.sd[d].wrng = lc->seed * 77 + (uint64_t)d;
		}
		p.sd[A].acc_close_on_eof = true;
		setup_bulk(&p, n, n);
		cr_assert(pair_run(&p, pred_streams_done, 600000000), "seed %lu: incomplete",
			  (unsigned long)lc->seed);
		check_bulk(&p, n, n);
		assert_invariants(&p);
		ns_close(p.sd[B].s, p.sd[B].st[0].c);
		p.sd[B].st[0].closed = true;
		cr_assert(pair_run(&p, pred_closed_both, 120000000), "seed %lu: close",
			  (unsigned long)lc->seed);
		assert_invariants(&p);
		for (int d = 0; d < 2; d++) {
			struct ns_xstats x;
			ns_get_xstats(p.sd[d].s, &x);
			cr_log_info("seed %lu side %d: %lu segments sent in place, %lu copied",
				    (unsigned long)lc->seed, d, (unsigned long)x.tx_inplace,
				    (unsigned long)x.tx_copied);
			cr_expect_gt(x.tx_inplace, 0, "side %d", d);
			cr_expect_gt(x.tx_copied, 0, "side %d", d);
			cr_expect_eq(p.sd[d].s->tx_held, 0, "side %d holds %u mbufs", d,
				     p.sd[d].s->tx_held);
		}
		pair_free(&p);
	}
}

/* Data segments are built from a per-connection header template; it
 * follows the ARP cache: a neighbour that changes its MAC gets the next
 * segment at the new address, and a stale entry still sends its refresh
 * request. Checksums of template-built frames verify. */
Test(tcp, header_template_follows_arp_changes)
{
	static const uint8_t MAC_X2[6] = { 0x02, 0, 0, 0, 0, 0x33 };
	struct rawpeer rp;
	rp_open(&rp, true, true);
	static uint8_t buf[3 * TXSEG];
	for (uint32_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(41, i);
	uint32_t sent = 0;
	struct rte_mbuf *out[16];
	struct tcpinfo ti;
	struct {
		const char *what;
		const uint8_t *mac;          /* announced before the send, or NULL */
		uint64_t dt_us;              /* time moved before the send */
		bool arp_request;            /* a refresh request goes out too */
	} steps[] = {
		{ "first", NULL, 0, false },
		{ "same again", NULL, 1000, false },
		{ "new MAC", MAC_X2, 1000, false },
		{ "back", MAC_X, 1000, false },
		{ "stale entry", NULL, NS_ARP_LIFETIME_US + 1000000, true },
	};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		rp.now += steps[k].dt_us;
		ns_timers(rp.s, rp.now);
		free_all(out, drain(rp.s, out, 16));
		if (steps[k].mac) {
			uint8_t f[64];
			inject(rp.s, f, mk_arp(f, RTE_ARP_OP_REQUEST, steps[k].mac, IP_X, IP_A), rp.now);
			free_all(out, drain(rp.s, out, 16));    /* the ARP reply */
		}
		const uint8_t *want = MAC_X;
		for (size_t j = 0; j <= k; j++)
			if (steps[j].mac)
				want = steps[j].mac;
		cr_assert_eq(ns_send(rp.s, rp.c, buf + sent, 500), 500);
		int nf = drain(rp.s, out, 16), data = 0, arpreq = 0;
		for (int i = 0; i < nf; i++) {
			const uint8_t *f = rte_pktmbuf_mtod(out[i], const uint8_t *);
			if (f[12] == 0x08 && f[13] == 0x06) {
				arpreq++;
				continue;
			}
			cr_assert(parse_tcp(out[i], &ti), "%s", steps[k].what);
			cr_assert_eq(memcmp(f, want, 6), 0, "%s: frame to %02x:..:%02x", steps[k].what,
				     f[0], f[5]);
			cr_assert_eq(memcmp(f + 6, MAC_A, 6), 0);
			cr_assert_eq(ti.seq, rp.a_iss + 1 + sent, "%s", steps[k].what);
			cr_assert_eq(ti.paylen, 500);
			for (uint32_t b = 0; b < 500; b++)
				cr_assert_eq(f[TXPAY_OFF + b], pat(41, sent + b));
			check_frame(out[i], &ti, rp.a_iss + 1, 41);
			data++;
		}
		cr_assert_eq(data, 1, "%s: %d data frames", steps[k].what, data);
		cr_assert_eq(arpreq, steps[k].arp_request ? 1 : 0, "%s: %d ARP requests",
			     steps[k].what, arpreq);
		free_all(out, nf);
		sent += 500;
		rp_ack(&rp, rp.a_iss + 1 + sent);
		free_all(out, drain(rp.s, out, 16));
		cr_assert_eq(ns_check_invariants(rp.s), 0);
	}
	rp_close(&rp);
}

/* The output fast path (whole unsent queue mbufs inside the window) and
 * the general path make byte-identical frames and the same state, over
 * replies of every shape: small, appended before the flush, several
 * segments, more than the window (general path for the rest), after a
 * partial ACK, after idle (cwnd restart). */
Test(tcp, output_fast_path_matches_general_path)
{
	static const struct {
		const char *name;
		uint32_t send[3];            /* writes before the flush */
		uint32_t ack;                /* then X acknowledges this much more
					      * (at most what was sent) */
		uint64_t dt_us;              /* time moved first */
		bool fast;                   /* the fast path sends something */
	} script[] = {
		{ "small reply", { 23 }, 23, 1000, true },
		{ "appended replies", { 10, 200, 5 }, 215, 1000, true },
		{ "two segments", { 2000 }, 0, 1000, true },
		{ "more while in flight", { 100 }, 2100, 1000, true },
		{ "beyond the window", { 16000, 16000 }, 0, 1000, false },
		{ "partial ACK", { 0 }, 5000, 1000, false },
		{ "rest", { 0 }, 27000, 1000, false },
		{ "rest again", { 0 }, 27000, 1000, false },
		{ "after idle", { 6000 }, 6000, 5000000, true },
		{ "one MSS exactly", { TXSEG }, TXSEG, 1000, true },
		{ "MSS plus one", { TXSEG + 1 }, TXSEG + 1, 1000, true },
	};
	struct rawpeer rp[2];
	rp_open(&rp[0], true, true);
	rp_open(&rp[1], true, true);
	rp[1].s->no_fast_path = true;
	static uint8_t data[65536];
	for (uint32_t i = 0; i < sizeof(data); i++)
		data[i] = pat(51, i);
	uint32_t acked = 0, queued = 0;   /* bytes beyond A's ISS + 1 */
	for (size_t k = 0; k < sizeof(script) / sizeof(script[0]); k++) {
		struct rte_mbuf *out[2][64];
		int nf[2];
		uint64_t fast[2];
		for (int i = 0; i < 2; i++) {
			struct rawpeer *r = &rp[i];
			r->now += script[k].dt_us;
			ns_timers(r->s, r->now);
			free_all(out[i], drain(r->s, out[i], 64));
			struct ns_xstats x0, x1;
			ns_get_xstats(r->s, &x0);
			uint32_t q = queued;
			for (int w = 0; w < 3; w++) {
				uint32_t n = script[k].send[w];
				if (n)
					cr_assert_eq(ns_send(r->s, r->c, data + q, n), (ssize_t)n);
				q += n;
			}
			cr_assert_leq(q, sizeof(data));
			nf[i] = drain(r->s, out[i], 64);
			ns_get_xstats(r->s, &x1);
			fast[i] = x1.tx_fast - x0.tx_fast;
			if (i == 1)
				queued = q;
		}
		cr_expect_eq(fast[0] > 0, script[k].fast, "%s: fast path %lu", script[k].name,
			     (unsigned long)fast[0]);
		cr_expect_eq(fast[1], 0);
		cr_assert_eq(nf[0], nf[1], "%s: %d frames vs %d", script[k].name, nf[0], nf[1]);
		for (int j = 0; j < nf[0]; j++) {
			struct rte_mbuf *a = out[0][j], *b = out[1][j];
			cr_assert_eq(a->pkt_len, b->pkt_len, "%s: frame %d length", script[k].name, j);
			uint8_t fa[2048], fb[2048];
			const uint8_t *pa = rte_pktmbuf_read(a, 0, a->pkt_len, fa);
			const uint8_t *pb = rte_pktmbuf_read(b, 0, b->pkt_len, fb);
			cr_assert_eq(memcmp(pa, pb, a->pkt_len), 0, "%s: frame %d differs",
				     script[k].name, j);
			struct tcpinfo ti;
			cr_assert(parse_tcp(a, &ti));
			if (ti.paylen)
				check_frame(a, &ti, rp[0].a_iss + 1, 51);
		}
		uint32_t ack = script[k].ack;
		uint32_t sent = ns_conn_tcb(rp[0].s, rp[0].c)->snd_max - (rp[0].a_iss + 1);
		if (ack > sent - acked)
			ack = sent - acked;
		for (int i = 0; i < 2; i++) {
			free_all(out[i], nf[i]);
			if (ack) {
				rp_ack(&rp[i], rp[i].a_iss + 1 + acked + ack);
				free_all(out[i], drain(rp[i].s, out[i], 64));
			}
			cr_assert_eq(ns_check_invariants(rp[i].s), 0, "%s", script[k].name);
		}
		acked += ack;
		const struct ns_tcb *a = ns_conn_tcb(rp[0].s, rp[0].c), *b = ns_conn_tcb(rp[1].s, rp[1].c);
#define SAME(f) cr_expect_eq(a->f, b->f, "%s: " #f " %lu vs %lu", script[k].name, \
			     (unsigned long)a->f, (unsigned long)b->f)
		SAME(flags); SAME(rcv_adv); SAME(last_ack_sent); SAME(snd_una); SAME(snd_nxt);
		SAME(snd_max); SAME(cwnd); SAME(t_rexmt); SAME(t_dack); SAME(unacked_segs);
		SAME(snd_len); SAME(sndq_cnt); SAME(srtt_us); SAME(rto_us); SAME(rtt_seq);
		SAME(rtt_start_us); SAME(last_send_us); SAME(persist_n);
#undef SAME
	}
	rp_close(&rp[0]);
	rp_close(&rp[1]);
}

/* The send queue's own bounds: its entries (each sent write holds an mbuf
 * until acknowledged) and the instance's tx_held_max. Past them ns_send
 * takes nothing (-EAGAIN) although sndbuf has room, an unsent tail still
 * grows, WRITABLE interest reports nothing, and the ACK that frees an
 * entry brings the WRITABLE event. */
Test(tcp, send_queue_entry_bounds)
{
	static const struct {
		const char *name;
		uint32_t held_max;           /* 0: the default */
	} cases[] = {
		{ "queue entries", 0 },
		{ "instance bound", 5 },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct rawpeer rp;
		rp_open(&rp, true, true);
		if (cases[c].held_max)
			rp.s->tx_held_max = cases[c].held_max;
		struct ns_tcb *tp = ns_conn_tcb(rp.s, rp.c);
		uint32_t limit = cases[c].held_max ? cases[c].held_max : rp.s->sndq_cap;
		struct rte_mbuf *out[64];
		uint8_t byte = 'x';
		for (uint32_t i = 0; i < limit; i++) {
			cr_assert_eq(ns_send(rp.s, rp.c, &byte, 1), 1, "%s: write %u", cases[c].name, i);
			free_all(out, drain(rp.s, out, 64));   /* sent: the next write needs an mbuf */
		}
		cr_assert_eq(tp->sndq_cnt, limit, "%s", cases[c].name);
		cr_assert_eq(ns_send(rp.s, rp.c, &byte, 1), -EAGAIN, "%s", cases[c].name);
		cr_assert_lt(tp->snd_len, rp.s->conf.sndbuf);
		struct dp_event ev[8];
		while (ns_poll_events(rp.s, ev, 8) > 0)
			;
		cr_assert_eq(ns_set_interest(rp.s, rp.c, true, true), 0);
		cr_assert_eq(ns_poll_events(rp.s, ev, 8), 0, "%s: WRITABLE while full", cases[c].name);
		rp_ack(&rp, rp.a_iss + 1 + 1);
		free_all(out, drain(rp.s, out, 64));
		int n = ns_poll_events(rp.s, ev, 8), wr = 0;
		for (int i = 0; i < n; i++)
			wr += ev[i].kind == DP_EV_WRITABLE;
		cr_assert_eq(wr, 1, "%s: no WRITABLE after the ACK", cases[c].name);
		/* an unsent tail grows whatever the bounds */
		cr_assert_eq(ns_send(rp.s, rp.c, &byte, 1), 1);
		cr_assert_eq(ns_send(rp.s, rp.c, &byte, 1), 1);
		cr_assert_eq(tp->sndq_cnt, limit);
		cr_assert_eq(ns_check_invariants(rp.s), 0);
		rp_close(&rp);
	}
}

/* ------------------------------------------ direct delivery (ns_set_deliver) */

/* A's owner takes in-order payload from inside ns_input (the DPDK
 * backend's DATA events). The hook checks what it is given against the
 * sender's pattern, in stream order with what A's ns_recv returns, and
 * refuses a share of offers so both paths interleave. */
struct dhook {
	struct pair *p;
	unsigned refuse_pm;          /* refuse this many offers per million */
	uint64_t rng;
	uint64_t offers, taken, bytes;
	uint64_t offered_while_queued;  /* must stay 0: order would break */
	bool off;                    /* refuse everything */
};

static bool dhook_fn(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
		     uint32_t len)
{
	struct dhook *h = arg;
	struct side *sd = &h->p->sd[A];
	h->offers++;
	struct ns_tcb *tp = ns_conn_tcb(sd->s, c);
	if (tp->rx_bytes || tp->rxq_cnt)
		h->offered_while_queued++;
	struct stream *t = stream_of(sd, c);
	if (h->off || !t || rng_next(&h->rng) % 1000000 < h->refuse_pm)
		return false;
	cr_assert(data >= rte_pktmbuf_mtod(m, const uint8_t *) &&
		  data + len <= rte_pktmbuf_mtod(m, const uint8_t *) + m->data_len,
		  "payload outside its mbuf");
	for (uint32_t i = 0; i < len && !t->bad_at; i++)
		if (data[i] != pat(t->rx_seed, t->rx_done + i))
			t->bad_at = t->rx_done + i + 1;
	t->rx_done += len;
	h->taken++;
	h->bytes += len;
	rte_pktmbuf_free(m);         /* the owner is done with it */
	return true;
}

struct dcase {
	const char *name;
	unsigned refuse_pm, drop_pm, reorder_pm;
	uint64_t seed;
};

/* Whatever mix of hook and queue, loss and reordering: every byte once,
 * in order, and never an offer while bytes wait in the queue. */
Test(tcp, deliver_hook_keeps_stream_order)
{
	static const struct dcase cases[] = {
		{ "clean wire, hook takes all", 0, 0, 0, 1 },
		{ "clean wire, 5% refused", 50000, 0, 0, 2 },
		{ "loss and reordering, 20% refused", 200000, 10000, 20000, 3 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *dc = &cases[i];
		struct pair p;
		pair_init(&p, NULL, NULL);
		p.rng = dc->seed;
		for (int d = 0; d < 2; d++) {
			p.w[d].drop_pm = dc->drop_pm;
			p.w[d].reorder_pm = dc->reorder_pm;
			p.w[d].reorder_max_us = 500;
		}
		struct dhook h = { .p = &p, .refuse_pm = dc->refuse_pm, .rng = dc->seed };
		ns_set_deliver(p.sd[A].s, dhook_fn, &h);
		p.sd[B].max_write = 3000;    /* segments of every size */
		p.sd[B].wrng = dc->seed;
		setup_bulk(&p, 0, 2u << 20);
		cr_assert(pair_run(&p, pred_streams_done, 60000000), "%s: incomplete", dc->name);
		check_bulk(&p, 0, 2u << 20);
		struct ns_stats sa;
		stats(&p, A, &sa, NULL);
		cr_expect_eq(h.offered_while_queued, 0, "%s: offered behind queued bytes",
			     dc->name);
		/* After a refusal the rest of the sender's burst queues too. */
		cr_expect_gt(h.taken, 20, "%s: hook took %lu", dc->name, (unsigned long)h.taken);
		cr_expect_eq(sa.rx_direct, h.taken, "%s", dc->name);
		if (dc->refuse_pm || dc->drop_pm)
			cr_expect_lt(h.bytes, 2u << 20, "%s: the queue path was never used",
				     dc->name);
		else
			cr_expect_gt(h.bytes, (2u << 20) - 20000, "%s: only %lu bytes direct",
				     dc->name, (unsigned long)h.bytes);
		cr_log_info("%s: %lu offers, %lu taken (%lu bytes)", dc->name,
			    (unsigned long)h.offers, (unsigned long)h.taken,
			    (unsigned long)h.bytes);
		assert_invariants(&p);
		pair_free(&p);
	}
}

/* Bytes the hook took count as read: a reader that never calls ns_recv
 * still keeps its window open. Read interest off, or a refusing hook,
 * and the window fills as with no hook; turning the hook back on does
 * not reorder what is queued. */
Test(tcp, deliver_hook_bytes_count_as_read)
{
	struct pair p;
	pair_init(&p, NULL, NULL);
	struct dhook h = { .p = &p };
	ns_set_deliver(p.sd[A].s, dhook_fn, &h);
	setup_bulk(&p, 0, 0);
	cr_assert(pair_run(&p, pred_one_each, 1000000));
	struct stream *a = accepted(&p, 0);
	cr_assert_not_null(a);
	a->no_read = true;                /* from here A never calls ns_recv */
	p.sd[B].st[0].tx_total = 4u << 20;   /* 32 windows of A's 128 KiB */
	cr_assert(pair_run(&p, pred_b_sent_all, 20000000), "window closed with the hook on");
	cr_assert(pair_run(&p, pred_streams_done, 5000000));
	cr_expect_eq(a->rx_done, 4u << 20);
	cr_expect_eq(h.bytes, 4u << 20, "bytes went through the queue");
	cr_expect_eq(a->bad_at, 0);
	cr_expect_eq(ns_conn_tcb(p.sd[A].s, a->c)->rx_bytes, 0u);
	pair_free(&p);

	/* Read interest off: nothing offered, the window fills. */
	pair_init(&p, NULL, NULL);
	h = (struct dhook){ .p = &p };
	ns_set_deliver(p.sd[A].s, dhook_fn, &h);
	p.sd[A].acc_no_read = true;
	setup_bulk(&p, 0, 1u << 20);
	cr_assert(pair_run(&p, pred_one_each, 1000000));
	a = accepted(&p, 0);
	cr_assert_not_null(a);
	cr_assert_eq(ns_set_interest(p.sd[A].s, a->c, false, false), 0);
	uint64_t before = h.taken;
	pair_advance(&p, 2000000);
	cr_expect_eq(h.taken, before, "offered with read interest off");
	struct ns_tcb *tp = ns_conn_tcb(p.sd[A].s, a->c);
	uint32_t held = tp->rx_bytes;
	cr_expect_geq(held, p.sd[A].s->conf.rcvbuf - 2000, "window not full: %u held", held);
	cr_expect_lt(p.sd[B].st[0].tx_done, 1u << 20);
	/* Interest back on with the queue full: the hook is not offered
	 * anything until ns_recv has emptied the queue; then it is. */
	cr_assert_eq(ns_set_interest(p.sd[A].s, a->c, true, false), 0);
	pair_advance(&p, 200000);
	cr_expect_eq(h.offered_while_queued, 0);
	cr_expect_eq(h.taken, before, "offered while bytes were queued");
	a->no_read = false;
	stream_read(&p.sd[A], a, false);
	cr_assert(pair_run(&p, pred_streams_done, 20000000), "transfer did not resume");
	cr_expect_eq(a->rx_done, 1u << 20);
	cr_expect_eq(a->bad_at, 0, "corrupt or reordered byte at %lu", (unsigned long)a->bad_at - 1);
	cr_expect_gt(h.taken, before, "the hook was not used again after the queue emptied");
	cr_expect_eq(h.offered_while_queued, 0);
	assert_invariants(&p);
	pair_free(&p);
}
