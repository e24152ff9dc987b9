/* dataplane/stack/icmp.c — ICMP: echo requests to our address are answered
 * by turning the request mbuf around in place (no allocation, no ARP
 * lookup: the reply goes back to the MAC it came from). Other ICMP types
 * are consumed silently; in particular "fragmentation needed" is not acted
 * on (no path-MTU discovery). */
#include <string.h>

#include <rte_icmp.h>

#include "dataplane/stack/stack_int.h"

void ns_icmp_input(struct ns_stack *s, struct rte_mbuf *m, uint16_t l3_off, uint16_t ihl,
		   uint16_t ip_len)
{
	uint32_t l4 = (uint32_t)l3_off + ihl;
	uint32_t icmp_len = (uint32_t)ip_len - ihl;
	if (icmp_len < sizeof(struct rte_icmp_hdr) || m->data_len < l4 + sizeof(struct rte_icmp_hdr)) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint64_t sum = 0;
	if (!ns_csum_mbuf(m, l4, icmp_len, &sum) || ns_csum_fold(sum) != 0xffff) {
		s->st.drop_bad_csum++;
		goto drop;
	}
	struct rte_icmp_hdr *ic = rte_pktmbuf_mtod_offset(m, struct rte_icmp_hdr *, l4);
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
		goto drop;
	/* Drop the Ethernet padding so the reply is exactly the request. */
	uint32_t want = (uint32_t)l3_off + ip_len;
	if (m->pkt_len > want && rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - want)) < 0)
		goto drop;
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	eh->dst_addr = eh->src_addr;
	memcpy(eh->src_addr.addr_bytes, s->conf.mac, 6);
	struct rte_ipv4_hdr *iph = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, l3_off);
	iph->dst_addr = iph->src_addr;
	iph->src_addr = rte_cpu_to_be_32(s->conf.ip);
	iph->time_to_live = 64;
	iph->packet_id = rte_cpu_to_be_16(s->ip_id++);
	iph->hdr_checksum = 0;
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	sum = 0;
	ns_csum_mbuf(m, l4, icmp_len, &sum);
	ic->icmp_cksum = (uint16_t)~ns_csum_fold(sum);
	m->ol_flags = 0;
	if (s->conf.tx_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		m->l2_len = sizeof(*eh);
		m->l3_len = ihl;
	} else {
		iph->hdr_checksum = (uint16_t)~ns_csum_fold(ns_csum_add(0, iph, ihl));
	}
	s->st.icmp_echo_replied++;
	ns_tx_enqueue(s, m);
	return;
drop:
	rte_pktmbuf_free(m);
}
