/* DPDK backend bring-up (dataplane/dpdk.c) without a network: settings
 * checks, EAL and port errors, and the poll loop on net_null.
 *
 * Criterion runs every test in its own process, so each one may start EAL
 * (once per process) with its own arguments. EAL runs with --no-huge: these
 * tests need no hugepages and no network namespace (net_null and net_ring
 * create nothing outside the process). They need root for EAL; without it
 * they are skipped (the meson test wrapper exits 77). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dataplane/dataplane.h"

#define EAL_BASE "--no-pci --no-huge -m 160 --no-shconf --no-telemetry --log-level=*:error"

static struct dp_dpdk_conf conf_ok(void)
{
	struct dp_dpdk_conf c = {
		.eal_args = "-l 0 " EAL_BASE " --vdev=net_null0",
		.port_id = 0,
		.ip = "198.18.0.2/24",
		.gateway = NULL,
		.mtu = 1500,
		.rx_desc = 512,
		.tx_desc = 512,
		.mbufs = 4095,
		.nshards = 1,
		.max_conns = 128,
	};
	return c;
}

/* Run global init and expect failure with err containing want. */
static void expect_init_error(const struct dp_dpdk_conf *c, const char *want, const char *what)
{
	char err[1024] = "";
	int rc = dp_dpdk_global_init(c, err, sizeof(err));
	cr_assert_eq(rc, -1, "%s: accepted (want an error containing '%s')", what, want);
	cr_assert(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", what, err, want);
}

/* ---- settings refused before EAL starts ---- */

struct bad_setting {
	const char *what;
	const char *ip;
	const char *gateway;
	int mtu;
	unsigned nshards;
	const char *eal_args;   /* NULL: conf_ok's */
	const char *want;
};

Test(dpdk_conf, bad_settings_fail_before_eal)
{
	static const struct bad_setting cases[] = {
		{ "no ip", NULL, NULL, 1500, 1, NULL, "needs the server's address: dpdk-ip" },
		{ "empty ip", "", NULL, 1500, 1, NULL, "needs the server's address: dpdk-ip" },
		{ "no prefix", "198.18.0.2", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "prefix 0", "198.18.0.2/0", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "prefix 33", "198.18.0.2/33", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "prefix 024", "198.18.0.2/024", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "prefix junk", "198.18.0.2/24x", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "empty prefix", "198.18.0.2/", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "octet 256", "198.18.0.256/24", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "name", "localhost/8", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "ipv6", "::1/64", NULL, 1500, 1, NULL, "is not an IPv4 address with a prefix" },
		{ "network", "198.18.0.0/24", NULL, 1500, 1, NULL, "cannot be a host's address" },
		{ "broadcast", "198.18.0.255/24", NULL, 1500, 1, NULL, "cannot be a host's address" },
		{ "loopback", "127.0.0.2/8", NULL, 1500, 1, NULL, "cannot be a host's address" },
		{ "multicast", "224.0.0.1/4", NULL, 1500, 1, NULL, "cannot be a host's address" },
		{ "zero", "0.0.0.0/8", NULL, 1500, 1, NULL, "cannot be a host's address" },
		{ "gateway junk", "198.18.0.2/24", "198.18.0", 1500, 1, NULL, "dpdk-gateway '198.18.0' is not an IPv4" },
		{ "gateway off subnet", "198.18.0.2/24", "198.18.1.1", 1500, 1, NULL, "is not another host of dpdk-ip" },
		{ "gateway is us", "198.18.0.2/24", "198.18.0.2", 1500, 1, NULL, "is not another host of dpdk-ip" },
		{ "mtu small", "198.18.0.2/24", NULL, 575, 1, NULL, "dpdk-mtu 575 must be between 576 and 9000" },
		{ "mtu big", "198.18.0.2/24", NULL, 9001, 1, NULL, "dpdk-mtu 9001 must be between 576 and 9000" },
		{ "no shards", "198.18.0.2/24", NULL, 1500, 0, NULL, "supports 1..64 shards, not 0" },
		{ "too many shards", "198.18.0.2/24", NULL, 1500, 65, NULL, "supports 1..64 shards, not 65" },
		{ "no eal args", "198.18.0.2/24", NULL, 1500, 1, "", "needs dpdk-eal-args" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dp_dpdk_conf c = conf_ok();
		c.ip = cases[i].ip;
		c.gateway = cases[i].gateway;
		c.mtu = cases[i].mtu;
		c.nshards = cases[i].nshards;
		if (cases[i].eal_args)
			c.eal_args = cases[i].eal_args;
		expect_init_error(&c, cases[i].want, cases[i].what);
	}
	/* Nothing above started EAL: a good configuration still can. */
	struct dp_dpdk_conf c = conf_ok();
	char err[1024] = "";
	cr_assert_eq(dp_dpdk_global_init(&c, err, sizeof(err)), 0, "good settings refused: %s", err);
}

/* ---- errors found by EAL or the port ---- */

Test(dpdk_conf, eal_rejects_bad_arguments)
{
	struct dp_dpdk_conf c = conf_ok();
	c.eal_args = "-l 0 " EAL_BASE " --no-such-eal-option";
	expect_init_error(&c, "DPDK EAL initialisation failed", "unknown EAL option");
}

Test(dpdk_conf, shards_must_equal_lcores)
{
	struct dp_dpdk_conf c = conf_ok();
	c.nshards = 2;   /* -l 0: one lcore */
	expect_init_error(&c, "shards is 2 but dpdk-eal-args gives EAL 1 lcore", "2 shards, 1 lcore");
}

Test(dpdk_conf, no_port)
{
	struct dp_dpdk_conf c = conf_ok();
	c.eal_args = "-l 0 " EAL_BASE;
	expect_init_error(&c, "dpdk-port 0 does not exist: EAL found 0 ports", "no device");
}

Test(dpdk_conf, port_id_past_the_devices)
{
	struct dp_dpdk_conf c = conf_ok();
	c.port_id = 1;
	expect_init_error(&c, "dpdk-port 1 does not exist: EAL found 1 port.", "port 1 of 1");
}

Test(dpdk_conf, too_few_queues)
{
	/* net_ring has 16 queue pairs at most: 17 shards on 17 lcores (all
	 * on CPU 0, they only sleep) cannot each have one. */
	struct dp_dpdk_conf c = conf_ok();
	c.eal_args = "--lcores=(0-16)@0 " EAL_BASE " --vdev=net_ring0";
	c.nshards = 17;
	expect_init_error(&c, "has at most 16 RX and 16 TX queues, but shards 17 needs", "17 queues");
}

Test(dpdk_conf, pool_smaller_than_rings)
{
	struct dp_dpdk_conf c = conf_ok();
	c.rx_desc = 1024;
	c.tx_desc = 1024;
	c.mbufs = 2048;
	expect_init_error(&c, "dpdk-mbufs 2048 is too small", "2048 mbufs for 2048 descriptors");
}

Test(dpdk_conf, pool_larger_than_memory)
{
	struct dp_dpdk_conf c = conf_ok();
	c.mbufs = 1 << 20;   /* 2 GiB of mbufs in -m 160 */
	expect_init_error(&c, "cannot allocate 1048576 mbufs", "pool too big");
}

Test(dpdk_conf, init_only_once)
{
	struct dp_dpdk_conf c = conf_ok();
	char err[1024] = "";
	cr_assert_eq(dp_dpdk_global_init(&c, err, sizeof(err)), 0, "%s", err);
	expect_init_error(&c, "already initialised", "second init");
}

/* ---- the poll loop on net_null ---- */

/* Value of "key:" or "key=..." text in INFO lines: the number after
 * "<field>=" within the line starting with line_key. */
static long long info_field(const char *info, const char *line_key, const char *field)
{
	const char *l = strstr(info, line_key);
	cr_assert(l != NULL, "no %s in INFO lines:\n%s", line_key, info);
	const char *eol = strstr(l, "\r\n");
	char pat[64];
	snprintf(pat, sizeof(pat), "%s=", field);
	const char *f = strstr(l, pat);
	cr_assert(f != NULL && (!eol || f < eol), "no %s= in %s line:\n%s", field, line_key, info);
	return atoll(f + strlen(pat));
}

struct poller {
	struct dp_port *port;
	unsigned lcore_after;
	int events;
};

static void *poll_some(void *arg)
{
	struct poller *pl = arg;
	struct dp_event ev[64];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int n = dp_poll(pl->port, ev, 64, 1000);
		cr_assert(n >= 0, "dp_poll: %d", n);
		pl->events += n;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 60);
	pl->lcore_after = rte_lcore_id();
	return NULL;
}

static char *info_text(struct dp_port **ports, unsigned n)
{
	struct rbuf b = { 0 };
	for (unsigned i = 0; i < n; i++)
		dp_info(&b, ports[i], i);
	rbuf_append(&b, "", 1);
	return b.data;
}

static void run_null_port(unsigned nshards)
{
	struct dp_dpdk_conf c = conf_ok();
	if (nshards == 2)
		c.eal_args = "-l 0-1 " EAL_BASE " --vdev=net_null0";
	c.nshards = nshards;
	char err[1024] = "";
	cr_assert_eq(dp_dpdk_global_init(&c, err, sizeof(err)), 0, "init: %s", err);

	struct dp_port *ports[2];
	struct poller pl[2];
	pthread_t th[2];
	static const char *const bind[] = { "*", NULL };
	struct dp_port_conf pc = { .bind = bind, .port = 6379, .backlog = 16 };
	for (unsigned i = 0; i < nshards; i++) {
		const char *msg = NULL;
		ports[i] = dp_dpdk_open(i, &pc, &msg);
		cr_assert(ports[i] != NULL, "dp_dpdk_open(%u): %s", i, msg ? msg : "?");
		cr_assert_eq(dp_port_backend(ports[i]), DP_BACKEND_DPDK);
		cr_assert_eq(dp_wake_fd(ports[i]), -1, "a DPDK port has nothing to wake");
		pl[i] = (struct poller){ .port = ports[i] };
	}
	const char *msg = NULL;
	cr_assert_null(dp_dpdk_open(nshards, &pc, &msg), "a shard past the queues got a port");
	cr_assert(msg != NULL);

	for (unsigned i = 0; i < nshards; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, poll_some, &pl[i]), 0);
	for (unsigned i = 0; i < nshards; i++)
		pthread_join(th[i], NULL);

	char *info = info_text(ports, nshards);
	cr_assert(strstr(info, "dataplane:dpdk\r\n") != NULL, "%s", info);
	cr_assert(strstr(info, "dpdk_driver:net_null\r\n") != NULL, "%s", info);
	cr_assert(strstr(info, "dpdk_ip:198.18.0.2/24\r\n") != NULL, "%s", info);
	char q[32];
	snprintf(q, sizeof(q), "dpdk_queues:%u\r\n", nshards);
	cr_assert(strstr(info, q) != NULL, "%s", info);
	/* net_null's RSS capability is used as soon as there are two queues */
	cr_assert(strstr(info, nshards > 1 ? "dpdk_rss:tcp\r\n" : "dpdk_rss:none\r\n") != NULL,
		  "%s", info);
	for (unsigned i = 0; i < nshards; i++) {
		char key[32];
		/* net_null receives a burst of 64-byte zero frames on every
		 * call: each went through ns_input and was dropped as not
		 * for us, and nothing became an event. */
		snprintf(key, sizeof(key), "shard%u_rx:", i);
		long long rx = info_field(info, key, "packets");
		cr_assert_gt(rx, 0, "shard %u received nothing:\n%s", i, info);
		snprintf(key, sizeof(key), "shard%u_drops:", i);
		long long drops = info_field(info, key, "not_for_us") + info_field(info, key, "malformed");
		cr_assert_eq(drops, rx, "shard %u: %lld frames in, %lld dropped:\n%s", i, rx, drops, info);
		snprintf(key, sizeof(key), "shard%u_conns:", i);
		cr_assert_eq(info_field(info, key, "current"), 0, "%s", info);
		cr_assert_eq(pl[i].events, 0, "shard %u: events from frames of zeros", i);
		/* the poller's thread became an EAL lcore on its first poll */
		cr_assert_neq(pl[i].lcore_after, LCORE_ID_ANY, "shard %u thread not registered", i);
	}
	free(info);
}

Test(dpdk_port, null_port_one_shard)
{
	run_null_port(1);
}

Test(dpdk_port, null_port_two_shards)
{
	run_null_port(2);
}

Test(dpdk_port, kernel_port_has_no_dataplane_info)
{
	static const char *const bind[] = { "127.0.0.1", NULL };
	struct dp_port_conf pc = { .bind = bind, .port = 0, .backlog = 16 };
	const char *msg = NULL;
	struct dp_port *p = dp_kernel_open(&pc, &msg);
	cr_assert(p != NULL, "%s", msg ? msg : "?");
	cr_assert_eq(dp_port_backend(p), DP_BACKEND_KERNEL);
	cr_assert_geq(dp_wake_fd(p), 0);
	struct rbuf b = { 0 };
	dp_info(&b, p, 0);
	cr_assert_eq(b.len, 0, "kernel port wrote INFO lines");
	dp_wake(-1);   /* ignored, does not crash */
	dp_close_port(p);
	rbuf_free(&b);
}
