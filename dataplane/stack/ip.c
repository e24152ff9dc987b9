/* dataplane/stack/ip.c — IPv4 input and the IPv4 header of what we send.
 *
 * Input validates the header (version, IHL, total length against the
 * frame, checksum unless the PMD vouched for it and conf.rx_csum_offload
 * says to trust it), keeps only datagrams for our address, drops fragments
 * (no reassembly: peers are told our MSS, so fragments are exceptional),
 * and hands TCP and ICMP to their modules. Every drop is counted by reason
 * in struct ns_stats. Output sets DF and does no path-MTU discovery. */
#include <string.h>

#include "dataplane/stack/stack_int.h"

#define L3_OFF ((uint16_t)sizeof(struct rte_ether_hdr))

static bool martian_source(const struct ns_stack *s, uint32_t src)
{
	return src == 0 || src == 0xffffffffu || (src >> 28) == 0xe || (src >> 28) == 0xf ||
	       (src >> 24) == 127 || src == s->conf.ip;
}

/* The sum of an option-less 20-byte header as five 32-bit words added in
 * 64 bits (no carry can be lost), in host order like ns_csum_add: the
 * folded sum is 0xffff for a valid header in either byte order. */
static inline uint64_t hdr20_sum(const void *p)
{
	uint64_t w0, w1;
	uint32_t w2;
	memcpy(&w0, p, 8);
	memcpy(&w1, (const uint8_t *)p + 8, 8);
	memcpy(&w2, (const uint8_t *)p + 16, 4);
	return (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + w2;
}

void ns_ip_input(struct ns_stack *s, struct rte_mbuf *m)
{
	if (m->data_len < L3_OFF + sizeof(struct rte_ipv4_hdr)) {
		s->st.drop_malformed++;
		goto drop;
	}
	const struct rte_ipv4_hdr *iph = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, L3_OFF);
	if ((iph->version_ihl >> 4) != 4) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint16_t ihl = (uint16_t)((iph->version_ihl & 0xf) * 4u);
	uint16_t tot = rte_be_to_cpu_16(iph->total_length);
	if (ihl < 20 || m->data_len < L3_OFF + ihl || tot < ihl || tot > m->pkt_len - L3_OFF) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (s->conf.rx_csum_offload && f == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
		s->st.drop_bad_csum++;
		goto drop;
	}
	if (!s->conf.rx_csum_offload || f != RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
		if ((ihl == 20 ? ns_csum_fold(hdr20_sum(iph)) : ns_csum_fold(ns_csum_add(0, iph, ihl))) !=
		    0xffff) {
			s->st.drop_bad_csum++;
			goto drop;
		}
	}
	if (rte_be_to_cpu_32(iph->dst_addr) != s->conf.ip) {
		s->st.drop_not_for_us++;
		goto drop;
	}
	if (martian_source(s, rte_be_to_cpu_32(iph->src_addr))) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint16_t frag = rte_be_to_cpu_16(iph->fragment_offset);
	if (frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		s->st.drop_fragment++;
		goto drop;
	}
	ns_arp_learn_rx(s, rte_be_to_cpu_32(iph->src_addr),
			&rte_pktmbuf_mtod(m, const struct rte_ether_hdr *)->src_addr);
	switch (iph->next_proto_id) {
	case IPPROTO_TCP:
		ns_tcp_input(s, m, L3_OFF, ihl, tot);
		return;
	case IPPROTO_ICMP:
		ns_icmp_input(s, m, L3_OFF, ihl, tot);
		return;
	default:
		s->st.drop_not_for_us++;
		goto drop;
	}
drop:
	rte_pktmbuf_free(m);
}

void ns_ip_fill(struct ns_stack *s, struct rte_mbuf *m, uint32_t dst_ip, uint8_t proto,
		uint16_t l4_len)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memcpy(eh->src_addr.addr_bytes, s->conf.mac, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eh + 1);
	iph->version_ihl = 0x45;
	iph->type_of_service = 0;
	iph->total_length = rte_cpu_to_be_16((uint16_t)(20u + l4_len));
	iph->packet_id = rte_cpu_to_be_16(s->ip_id++);
	iph->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	iph->time_to_live = 64;
	iph->next_proto_id = proto;
	iph->hdr_checksum = 0;
	iph->src_addr = rte_cpu_to_be_32(s->conf.ip);
	iph->dst_addr = rte_cpu_to_be_32(dst_ip);
	if (s->conf.tx_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		m->l2_len = sizeof(*eh);
		m->l3_len = 20;
	} else {
		iph->hdr_checksum = (uint16_t)~ns_csum_fold(ns_csum_add(0, iph, 20));
	}
}
