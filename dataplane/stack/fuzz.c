/* dataplane/stack/fuzz.c — ns_fuzz_one(): feed one fuzzer input to a stack
 * instance "A" that has a listener and a live connection from a second
 * instance "B" (their frames are exchanged directly, B answers what A
 * sends, so the fuzzed segment's consequences play out).
 *
 * The first input byte picks how the rest is read:
 *   0  a raw Ethernet frame, as is (mostly dropped early by the parsers);
 *   1  a TCP segment to A's listening port from a fuzzed peer address,
 *      headers built with valid checksums (flags, seq, ack, window,
 *      options and payload from the input);
 *   2  a TCP segment on B's live connection, sequence and ack numbers
 *      near the real ones, so the synchronized-state code runs;
 *   3  an ARP or ICMP packet with fuzzed fields.
 * Before each input B re-announces its MAC (inputs may claim B's address
 * and poison A's ARP cache, which would cut B off and leave nothing but
 * A for the fuzzer to talk to). After each input, A's and B's invariants
 * are checked (abort on failure,
 * which is what a fuzzer wants). The harness state is a process-wide
 * singleton: test and fuzzer code only, never used by a data plane. It
 * needs an initialised EAL (LLVMFuzzerInitialize in the fuzz target, the
 * test's setup in Criterion). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_lcore.h>

#include "dataplane/stack/stack_int.h"

#define FZ_IP_A 0xc6120001u     /* 198.18.0.1 */
#define FZ_IP_B 0xc6120002u     /* 198.18.0.2 */
#define FZ_PORT 6379

struct fz {
	struct rte_mempool *mp;
	struct ns_stack *a, *b;
	ns_conn_t cb;               /* B's connection to A */
	uint64_t now;
	uint8_t mac_a[6], mac_b[6];
};

static struct fz *g_fz;

static void fz_exchange(struct fz *f, int rounds)
{
	struct rte_mbuf *v[64];
	struct dp_event ev[32];
	uint8_t buf[2048];
	for (int r = 0; r < rounds; r++) {
		f->now += 1000;
		ns_timers(f->a, f->now);
		ns_timers(f->b, f->now);
		uint16_t n;
		while ((n = ns_tx_drain(f->a, v, 64)) > 0)
			ns_input(f->b, v, n, f->now);
		while ((n = ns_tx_drain(f->b, v, 64)) > 0)
			ns_input(f->a, v, n, f->now);
		/* A's application: accept, read, echo a little, close on EOF. */
		int ne = ns_poll_events(f->a, ev, 32);
		for (int i = 0; i < ne; i++) {
			ns_conn_t c = ev[i].conn;
			ssize_t k = ns_recv(f->a, c, buf, sizeof(buf));
			if (k > 0)
				ns_send(f->a, c, buf, (size_t)k > 64 ? 64 : (size_t)k);
			else if (k == 0 || (k < 0 && k != -EAGAIN))
				ns_close(f->a, c);
		}
		ne = ns_poll_events(f->b, ev, 32);
		for (int i = 0; i < ne; i++) {
			ssize_t k;
			while ((k = ns_recv(f->b, ev[i].conn, buf, sizeof(buf))) > 0)
				;
		}
	}
}

/* A's owner also takes payload directly (ns_set_deliver), as the DPDK
 * backend does: segments whose first byte is odd, so both paths run. An
 * offer while bytes are queued, or payload outside its mbuf, aborts. */
static bool fz_deliver(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
		       uint32_t len)
{
	struct fz *f = arg;
	const struct ns_tcb *tp = ns_conn_tcb(f->a, c);
	const uint8_t *lo = rte_pktmbuf_mtod(m, const uint8_t *);
	if (!tp || tp->rx_bytes || len == 0 || data < lo || data + len > lo + m->data_len)
		abort();
	if (!(data[0] & 1))
		return false;
	rte_pktmbuf_free(m);
	return true;
}

/* A gratuitous ARP from B: whatever the inputs taught A about B's
 * address (they may claim it), A learns B's real MAC again. */
static void fz_arp_b(struct fz *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(f->mp);
	if (!m)
		return;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, 60);
	if (!p) {
		rte_pktmbuf_free(m);
		return;
	}
	memset(p, 0, 60);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
	memset(eh->dst_addr.addr_bytes, 0xff, 6);
	memcpy(eh->src_addr.addr_bytes, f->mac_b, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	memcpy(ah->arp_data.arp_sha.addr_bytes, f->mac_b, 6);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(FZ_IP_B);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(FZ_IP_A);
	ns_input(f->a, &m, 1, f->now);
}

static int fz_connect(struct fz *f)
{
	if (f->cb >= 0)
		ns_close(f->b, f->cb);
	f->cb = ns_connect(f->b, FZ_IP_A, FZ_PORT);
	if (f->cb < 0)
		return -1;
	fz_exchange(f, 6);
	return ns_conn_state(f->b, f->cb) == NS_ESTABLISHED ? 0 : -1;
}

static struct fz *fz_get(void)
{
	if (g_fz)
		return g_fz;
	struct fz *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	char name[32];
	snprintf(name, sizeof(name), "nsfz%d", (int)getpid());
	f->mp = rte_pktmbuf_pool_create(name, 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!f->mp) {
		fprintf(stderr, "ns_fuzz_one: no mempool (EAL initialised?)\n");
		abort();
	}
	uint8_t ma[6] = { 0x02, 0, 0, 0, 0, 0x0a }, mb[6] = { 0x02, 0, 0, 0, 0, 0x0b };
	memcpy(f->mac_a, ma, 6);
	memcpy(f->mac_b, mb, 6);
	struct ns_conf ca = {
		.ip = FZ_IP_A, .prefix = 24, .mtu = 1500, .listen_port = FZ_PORT, .backlog = 8,
		.max_conns = 16, .keepalive_s = 30, .rcvbuf = 16384, .sndbuf = 16384,
		.isn_secret = 1, .time_wait_ms = 200,
	};
	memcpy(ca.mac, ma, 6);
	struct ns_conf cb = ca;
	cb.ip = FZ_IP_B;
	cb.listen_port = 0;
	memcpy(cb.mac, mb, 6);
	const char *err = NULL;
	f->a = ns_create(&ca, f->mp, &err);
	f->b = ns_create(&cb, f->mp, &err);
	if (!f->a || !f->b) {
		fprintf(stderr, "ns_fuzz_one: ns_create: %s\n", err ? err : "?");
		abort();
	}
	ns_set_deliver(f->a, fz_deliver, f);
	f->cb = -1;
	f->now = 1000000;
	g_fz = f;
	return f;
}

struct rte_mempool *ns_fuzz_mempool(void)
{
	return g_fz ? g_fz->mp : NULL;
}

void ns_fuzz_stats(struct ns_stats *a, struct ns_stats *b)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	if (g_fz) {
		ns_get_stats(g_fz->a, a);
		ns_get_stats(g_fz->b, b);
	}
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Build eth+ip+tcp into m from fields; checksum right unless corrupt. */
static void build_tcp(struct fz *f, struct rte_mbuf *m, uint32_t src, uint16_t sport,
		      uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		      const uint8_t *opt, unsigned optlen, const uint8_t *pay, unsigned paylen,
		      bool corrupt)
{
	unsigned thl = 20 + optlen;
	unsigned tot = 20 + thl + paylen;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + tot));
	if (!p)
		return;
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
	memcpy(eh->dst_addr.addr_bytes, f->mac_a, 6);
	memcpy(eh->src_addr.addr_bytes, f->mac_b, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eh + 1);
	memset(iph, 0, 20);
	iph->version_ihl = 0x45;
	iph->total_length = rte_cpu_to_be_16((uint16_t)tot);
	iph->time_to_live = 64;
	iph->next_proto_id = IPPROTO_TCP;
	iph->src_addr = rte_cpu_to_be_32(src);
	iph->dst_addr = rte_cpu_to_be_32(FZ_IP_A);
	iph->hdr_checksum = (uint16_t)~ns_csum_fold(ns_csum_add(0, iph, 20));
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(iph + 1);
	th->src_port = rte_cpu_to_be_16(sport);
	th->dst_port = rte_cpu_to_be_16(FZ_PORT);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)((thl / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(win);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (optlen)
		memcpy(th + 1, opt, optlen);
	if (paylen)
		memcpy((uint8_t *)(th + 1) + optlen, pay, paylen);
	uint64_t sum = ns_pseudo_sum(src, FZ_IP_A, IPPROTO_TCP, (uint16_t)thl + (uint16_t)paylen);
	sum = ns_csum_add(sum, th, thl + paylen);
	th->cksum = (uint16_t)~ns_csum_fold(sum);
	if (corrupt)
		th->cksum ^= 0x0101;
}

int ns_fuzz_one(const uint8_t *data, size_t n)
{
	struct fz *f = fz_get();
	if (n < 1)
		return 0;
	fz_arp_b(f);
	if (f->cb < 0 || ns_conn_state(f->b, f->cb) != NS_ESTABLISHED)
		fz_connect(f);
	uint8_t mode = data[0] % 4;
	data++;
	n--;
	struct rte_mbuf *m = rte_pktmbuf_alloc(f->mp);
	if (!m)
		abort();
	switch (mode) {
	case 0: {
		size_t k = n > 2000 ? 2000 : n;
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)k);
		if (k && p)
			memcpy(p, data, k);
		break;
	}
	case 1:
	case 2: {
		uint8_t hdr[16] = { 0 };
		memcpy(hdr, data, n < 16 ? n : 16);
		const uint8_t *rest = n > 16 ? data + 16 : NULL;
		size_t rn = n > 16 ? n - 16 : 0;
		unsigned optlen = (hdr[11] % 11) * 4;
		if (optlen > rn)
			optlen = (unsigned)(rn / 4) * 4;
		unsigned paylen = (unsigned)(rn - optlen) > 1400 ? 1400 : (unsigned)(rn - optlen);
		uint8_t flags = hdr[0];
		uint16_t win = (uint16_t)((hdr[9] << 8) | hdr[10]);
		bool corrupt = (hdr[12] & 0x0f) == 0x0f;
		if (mode == 1) {
			uint32_t src = FZ_IP_B + 1 + (hdr[13] % 8);
			uint16_t sport = (uint16_t)(1024 + ((hdr[14] << 8) | hdr[15]) % 60000);
			build_tcp(f, m, src, sport, rd32(hdr + 1), rd32(hdr + 5), flags, win,
				  rest, optlen, rest ? rest + optlen : NULL, paylen, corrupt);
		} else {
			if (f->cb < 0)
				break;
			const struct ns_tcb *bt = ns_conn_tcb(f->b, f->cb);
			int32_t dseq = (int16_t)((hdr[1] << 8) | hdr[2]);
			int32_t dack = (int16_t)((hdr[5] << 8) | hdr[6]);
			/* mostly near the real numbers, sometimes far off */
			if ((hdr[3] & 6) != 0) {
				dseq %= 4;
				dack %= 4;
			} else if (hdr[3] & 1) {
				dseq *= 64;
			}
			/* A's view of the connection: its next expected byte */
			uint32_t seq = bt->snd_nxt, ack = bt->rcv_nxt;
			const struct ns_tcb *at = ns_tcb_lookup(f->a, FZ_IP_B, bt->lport, FZ_PORT);
			if (at) {
				seq = at->rcv_nxt;
				ack = at->snd_nxt;
			}
			build_tcp(f, m, FZ_IP_B, bt->lport, seq + (uint32_t)dseq, ack + (uint32_t)dack,
				  flags, win, rest, optlen, rest ? rest + optlen : NULL, paylen, corrupt);
		}
		break;
	}
	default: {
		uint8_t hdr[64] = { 0 };
		memcpy(hdr, data, n < 64 ? n : 64);
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, 60);
		if (!p)
			break;
		memset(p, 0, 60);
		struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
		memcpy(eh->dst_addr.addr_bytes, (hdr[0] & 1) ? f->mac_a : (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6);
		memcpy(eh->src_addr.addr_bytes, f->mac_b, 6);
		if (hdr[0] & 2) {
			eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
			memcpy(eh + 1, hdr + 2, 28);
			struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
			if (hdr[1] & 1) {
				ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
				ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
				ah->arp_hlen = 6;
				ah->arp_plen = 4;
			}
			if (hdr[1] & 2)
				ah->arp_data.arp_tip = rte_cpu_to_be_32(FZ_IP_A);
		} else {
			eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
			struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eh + 1);
			iph->version_ihl = 0x45;
			iph->total_length = rte_cpu_to_be_16(20 + 8 + (hdr[1] % 18));
			iph->time_to_live = 64;
			iph->next_proto_id = IPPROTO_ICMP;
			iph->src_addr = rte_cpu_to_be_32(FZ_IP_B);
			iph->dst_addr = rte_cpu_to_be_32(FZ_IP_A);
			iph->fragment_offset = (hdr[2] & 0x80) ? rte_cpu_to_be_16(hdr[3]) : 0;
			iph->hdr_checksum = (uint16_t)~ns_csum_fold(ns_csum_add(0, iph, 20));
			uint8_t *ic = (uint8_t *)(iph + 1);
			memcpy(ic, hdr + 4, 26);
			if (!(hdr[2] & 1)) {
				ic[2] = ic[3] = 0;
				uint16_t c = (uint16_t)~ns_csum_fold(ns_csum_add(0, ic, 8 + (hdr[1] % 18)));
				memcpy(ic + 2, &c, 2);
			}
		}
		break;
	}
	}
	if (m->pkt_len == 0) {
		rte_pktmbuf_free(m);
	} else {
		f->now += 100;
		ns_input(f->a, &m, 1, f->now);
	}
	fz_exchange(f, 2);
	int ia = ns_check_invariants(f->a), ib = ns_check_invariants(f->b);
	if (ia || ib) {
		fprintf(stderr, "ns_fuzz_one: invariant broken at stack.c:%d (A) / %d (B)\n", -ia, -ib);
		abort();
	}
	return 0;
}
