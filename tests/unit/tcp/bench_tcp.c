/* tests/unit/tcp/bench_tcp.c — figures for the userspace stack: two
 * instances in one thread, frames handed from one to the other directly
 * (no PMD, no loss), clock advanced by hand.
 *
 *   bench_tcp [bulk|bulk-offload|pingpong|all] [MB or round trips]
 *
 * bulk: one-way transfer, sender writes from a buffer, receiver reads into
 * one (the two copies of ns_send/ns_recv and the one into the frame are
 * included, pattern checks are not). bulk-offload: the same with TX/RX
 * checksum offload flags (what a NIC would save). pingpong: 32-byte
 * request, 32-byte reply, one connection: the per-segment cost of the
 * whole path (both stacks). Times are process CPU time, cycles are CPU
 * time times the TSC rate (no PMU on the VMs this was written on). Not a
 * test: it asserts nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "dataplane/netstack.h"

#define IP_A 0xc6120001u
#define IP_B 0xc6120002u

static struct rte_mempool *g_mp;
static uint64_t g_now = 1000000;
static uint64_t g_frames;

/* CPU time of this process: on a shared machine, wall time mostly
 * measures the neighbours. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mkconf(struct ns_conf *c, int side, bool offload)
{
	memset(c, 0, sizeof(*c));
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, (uint8_t)(side + 1) };
	memcpy(c->mac, mac, 6);
	c->ip = side ? IP_B : IP_A;
	c->prefix = 24;
	c->mtu = 1500;
	c->listen_port = side ? 0 : 6379;
	c->backlog = 64;
	c->max_conns = 64;
	c->rcvbuf = 1u << 20;
	c->sndbuf = 1u << 20;
	c->isn_secret = 7;
	c->tx_csum_offload = offload;
	c->rx_csum_offload = offload;
}

/* One iteration: A's frames to B, B's to A. */
static void pump(struct ns_stack *a, struct ns_stack *b, bool offload)
{
	struct rte_mbuf *v[64];
	uint16_t n;
	g_now += 5;
	ns_timers(a, g_now);
	ns_timers(b, g_now);
	struct ns_stack *from[2] = { a, b }, *to[2] = { b, a };
	for (int d = 0; d < 2; d++) {
		while ((n = ns_tx_drain(from[d], v, 64)) > 0) {
			if (offload)
				for (uint16_t i = 0; i < n; i++)
					v[i]->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD |
							 RTE_MBUF_F_RX_L4_CKSUM_GOOD;
			g_frames += n;
			ns_input(to[d], v, n, g_now);
		}
	}
}

static int connect_pair(struct ns_stack *a, struct ns_stack *b, bool offload,
			ns_conn_t *ca, ns_conn_t *cb)
{
	*cb = ns_connect(b, IP_A, 6379);
	if (*cb < 0)
		return -1;
	*ca = -1;
	struct dp_event ev[8];
	for (int i = 0; i < 100 && *ca < 0; i++) {
		pump(a, b, offload);
		int n = ns_poll_events(a, ev, 8);
		for (int k = 0; k < n; k++)
			if (ev[k].kind == DP_EV_ACCEPT)
				*ca = ev[k].conn;
		ns_poll_events(b, ev, 8);
	}
	return *ca < 0 ? -1 : 0;
}

static void bench_bulk(uint64_t mb, bool offload)
{
	struct ns_conf c;
	mkconf(&c, 0, offload);
	struct ns_stack *a = ns_create(&c, g_mp, NULL);
	mkconf(&c, 1, offload);
	struct ns_stack *b = ns_create(&c, g_mp, NULL);
	ns_conn_t ca, cb;
	if (!a || !b || connect_pair(a, b, offload, &ca, &cb) < 0) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	static uint8_t buf[256 * 1024];
	memset(buf, 'k', sizeof(buf));
	uint64_t total = mb << 20, sent = 0, rcvd = 0;
	g_frames = 0;
	double t0 = cpu();
	while (rcvd < total) {
		while (sent < total) {
			uint64_t k = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
			ssize_t r = ns_send(b, cb, buf, k);
			if (r <= 0)
				break;
			sent += (uint64_t)r;
		}
		pump(a, b, offload);
		ssize_t r;
		while ((r = ns_recv(a, ca, buf, sizeof(buf))) > 0)
			rcvd += (uint64_t)r;
	}
	double dt = cpu() - t0;
	double cyc = dt * (double)rte_get_tsc_hz();
	struct ns_stats sb;
	ns_get_stats(b, &sb);
	uint64_t segs = sb.tx_pkts;
	printf("bulk%s: %lu MiB in %.3f s CPU = %.0f MB/s (%.2f Gbit/s); %lu data frames, %lu frames in "
	       "all; %.0f cycles per data frame (both stacks, both copies)\n",
	       offload ? " (checksum offload)" : "", (unsigned long)mb, dt, total / dt / 1e6,
	       total * 8 / dt / 1e9, (unsigned long)segs, (unsigned long)g_frames,
	       cyc / (double)segs);
	ns_destroy(a);
	ns_destroy(b);
}

static void bench_pingpong(uint64_t rounds)
{
	struct ns_conf c;
	mkconf(&c, 0, false);
	struct ns_stack *a = ns_create(&c, g_mp, NULL);
	mkconf(&c, 1, false);
	struct ns_stack *b = ns_create(&c, g_mp, NULL);
	ns_conn_t ca, cb;
	if (!a || !b || connect_pair(a, b, false, &ca, &cb) < 0) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	uint8_t req[32], rep[64];
	memset(req, 'q', sizeof(req));
	g_frames = 0;
	double t0 = cpu();
	for (uint64_t i = 0; i < rounds; i++) {
		if (ns_send(b, cb, req, sizeof(req)) != (ssize_t)sizeof(req)) {
			fprintf(stderr, "send failed at %lu\n", (unsigned long)i);
			exit(1);
		}
		pump(a, b, false);          /* request reaches A */
		if (ns_recv(a, ca, rep, sizeof(rep)) != (ssize_t)sizeof(req)) {
			fprintf(stderr, "request lost at %lu\n", (unsigned long)i);
			exit(1);
		}
		ns_send(a, ca, rep, sizeof(req));
		pump(a, b, false);          /* reply reaches B */
		if (ns_recv(b, cb, rep, sizeof(rep)) != (ssize_t)sizeof(req)) {
			fprintf(stderr, "reply lost at %lu\n", (unsigned long)i);
			exit(1);
		}
	}
	double dt = cpu() - t0;
	double cyc = dt * (double)rte_get_tsc_hz();
	printf("pingpong: %lu round trips in %.3f s CPU = %.0f round trips/s; %.2f frames per round trip "
	       "(ACKs ride on the replies); %.0f cycles per frame end to end (send, build, "
	       "checksum, parse, deliver, recv)\n",
	       (unsigned long)rounds, dt, rounds / dt, (double)g_frames / (double)rounds,
	       cyc / (double)g_frames);
	ns_destroy(a);
	ns_destroy(b);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";
	uint64_t arg = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
	char *eal[] = { argv[0], "-l", "0", "--no-pci", "--in-memory", "--log-level=lib.*:error", NULL };
	char *eal_nohuge[] = { argv[0], "-l", "0", "--no-pci", "--no-huge", "-m", "512",
			       "--no-shconf", "--log-level=lib.*:error", NULL };
	long huge = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &huge) == 1)
			break;
	if (f)
		fclose(f);
	if ((huge >= 128 ? rte_eal_init(6, eal) : rte_eal_init(9, eal_nohuge)) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	g_mp = rte_pktmbuf_pool_create("bench", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!g_mp) {
		fprintf(stderr, "mempool failed\n");
		return 1;
	}
	printf("TSC %.2f GHz, %s\n", rte_get_tsc_hz() / 1e9, huge >= 128 ? "hugepages" : "no hugepages");
	if (!strcmp(mode, "bulk") || !strcmp(mode, "all"))
		bench_bulk(arg ? arg : 512, false);
	if (!strcmp(mode, "bulk-offload") || !strcmp(mode, "all"))
		bench_bulk(arg ? arg : 512, true);
	if (!strcmp(mode, "pingpong") || !strcmp(mode, "all"))
		bench_pingpong(arg ? arg : 500000);
	rte_eal_cleanup();
	return 0;
}
