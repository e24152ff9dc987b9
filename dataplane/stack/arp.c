/* dataplane/stack/arp.c — ARP and the last step of output: next hop
 * (on-link peer or the gateway), MAC resolution, and the bounded queue of
 * frames that wait for a resolution.
 *
 * The cache is set-associative (NS_ARP_SETS x NS_ARP_WAYS) so a lookup per
 * frame is four compares. An unresolved entry holds up to NS_ARP_QLEN
 * frames and is retried NS_ARP_RETRIES times, NS_ARP_RETRY_US apart; then
 * its frames are dropped (TCP retransmits and eventually times out). A
 * valid entry older than NS_ARP_LIFETIME_US keeps being used while a
 * refresh request goes out. Requests for our address are answered in place
 * with the request's own mbuf; their sender is learnt (RFC 826 merge).
 *
 * An on-link peer is also learnt from the first valid IPv4 frame it sends
 * us when no entry exists (ns_arp_learn): with RSS, an ARP exchange lands
 * on one RX queue only, and the other shards' instances must still be able
 * to answer the flows RSS gives them. Known entries change only by ARP. */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>

#include "dataplane/stack/stack_int.h"

static inline unsigned arp_set(uint32_t ip)
{
	return (unsigned)((ip * 0x9e3779b1u) >> 26) & (NS_ARP_SETS - 1);
}

static struct ns_arp_ent *arp_find(struct ns_stack *s, uint32_t ip)
{
	struct ns_arp_ent *set = &s->arp[arp_set(ip) * NS_ARP_WAYS];
	for (unsigned w = 0; w < NS_ARP_WAYS; w++)
		if (set[w].state != NS_ARP_FREE && set[w].ip == ip)
			return &set[w];
	return NULL;
}

static void drop_pending(struct ns_stack *s, struct ns_arp_ent *e)
{
	for (unsigned i = 0; i < e->npend; i++) {
		rte_pktmbuf_free(e->pend[i]);
		s->xst.arp_queue_drops++;
	}
	e->npend = 0;
}

/* A slot for ip in its set: free first, then the least recently used
 * valid entry, then the oldest pending one (its frames are dropped). */
static struct ns_arp_ent *arp_claim(struct ns_stack *s, uint32_t ip)
{
	struct ns_arp_ent *set = &s->arp[arp_set(ip) * NS_ARP_WAYS];
	struct ns_arp_ent *victim = NULL;
	for (unsigned w = 0; w < NS_ARP_WAYS; w++) {
		struct ns_arp_ent *e = &set[w];
		if (e->state == NS_ARP_FREE) {
			victim = e;
			break;
		}
		if (!victim || (e->state == NS_ARP_VALID && victim->state != NS_ARP_VALID) ||
		    (e->state == victim->state && e->used_us < victim->used_us))
			victim = e;
	}
	if (victim->state == NS_ARP_VALID)
		s->st.arp_entries--;
	drop_pending(s, victim);
	memset(victim, 0, sizeof(*victim));
	s->arp_gen++;                   /* header templates using it go stale */
	victim->ip = ip;
	victim->used_us = s->now_us;
	return victim;
}

static void send_request(struct ns_stack *s, uint32_t target)
{
	struct rte_mbuf *m = ns_alloc(s);
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
	memcpy(eh->src_addr.addr_bytes, s->conf.mac, 6);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	memcpy(ah->arp_data.arp_sha.addr_bytes, s->conf.mac, 6);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(s->conf.ip);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(target);
	s->xst.arp_requests_sent++;
	ns_tx_enqueue(s, m);
}

static void resolved(struct ns_stack *s, struct ns_arp_ent *e, const struct rte_ether_addr *mac)
{
	if (e->state != NS_ARP_VALID)
		s->st.arp_entries++;
	if (e->state != NS_ARP_VALID || !rte_is_same_ether_addr(&e->mac, mac))
		s->arp_gen++;
	e->state = NS_ARP_VALID;
	e->mac = *mac;
	e->updated_us = s->now_us;
	e->retry_us = 0;
	e->tries = 0;
	for (unsigned i = 0; i < e->npend; i++) {
		struct rte_mbuf *m = e->pend[i];
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		eh->dst_addr = *mac;
		ns_tx_enqueue(s, m);
	}
	e->npend = 0;
}

void ns_arp_learn(struct ns_stack *s, uint32_t ip, const struct rte_ether_addr *mac)
{
	if (((ip ^ s->conf.ip) & s->netmask) != 0 || ip == s->conf.ip)
		goto nothing_to_learn;  /* whatever the MAC */
	if (!rte_is_unicast_ether_addr(mac) || rte_is_zero_ether_addr(mac))
		return;                 /* the next frame may carry a good one */
	struct ns_arp_ent *e = arp_find(s, ip);
	if (e && e->state == NS_ARP_VALID)
		goto nothing_to_learn;  /* ARP itself refreshes known entries */
	if (!e)
		e = arp_claim(s, ip);
	s->xst.arp_learnt_ip++;
	resolved(s, e, mac);
nothing_to_learn:
	/* after resolved() too: the entry is valid now, at this arp_gen */
	s->learn_ip = ip;
	s->learn_gen = s->arp_gen;
}

struct ns_arp_ent *ns_arp_valid(struct ns_stack *s, uint32_t dst_ip)
{
	uint32_t nh = ((dst_ip ^ s->conf.ip) & s->netmask) == 0 ? dst_ip : s->conf.gateway;
	if (nh == 0)
		return NULL;
	struct ns_arp_ent *e = arp_find(s, nh);
	return e && e->state == NS_ARP_VALID ? e : NULL;
}

bool ns_route_ok(const struct ns_stack *s, uint32_t dst_ip)
{
	return ((dst_ip ^ s->conf.ip) & s->netmask) == 0 || s->conf.gateway != 0;
}

int ns_eth_output(struct ns_stack *s, struct rte_mbuf *m, uint32_t dst_ip)
{
	uint32_t nh = ((dst_ip ^ s->conf.ip) & s->netmask) == 0 ? dst_ip : s->conf.gateway;
	if (nh == 0) {
		rte_pktmbuf_free(m);
		return -EHOSTUNREACH;
	}
	struct ns_arp_ent *e = arp_find(s, nh);
	if (e && e->state == NS_ARP_VALID) {
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		eh->dst_addr = e->mac;
		e->used_us = s->now_us;
		if (s->now_us - e->updated_us > NS_ARP_LIFETIME_US && s->now_us >= e->retry_us) {
			e->retry_us = s->now_us + NS_ARP_RETRY_US;
			send_request(s, nh);
		}
		return ns_tx_enqueue(s, m);
	}
	if (!e) {
		e = arp_claim(s, nh);
		e->state = NS_ARP_PENDING;
	}
	e->used_us = s->now_us;
	if (e->npend < NS_ARP_QLEN) {
		e->pend[e->npend++] = m;
	} else {
		/* Counted; the frame counts as sent (TCP will retransmit). */
		rte_pktmbuf_free(m);
		s->xst.arp_queue_drops++;
	}
	if (e->tries == 0) {
		e->tries = 1;
		e->retry_us = s->now_us + NS_ARP_RETRY_US;
		if (e->retry_us < s->arp_next_us)
			s->arp_next_us = e->retry_us;
		send_request(s, nh);
	}
	return 0;
}

void ns_arp_input(struct ns_stack *s, struct rte_mbuf *m)
{
	if (m->data_len < sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr)) {
		s->st.drop_malformed++;
		goto drop;
	}
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	if (rte_be_to_cpu_16(ah->arp_hardware) != RTE_ARP_HRD_ETHER ||
	    rte_be_to_cpu_16(ah->arp_protocol) != RTE_ETHER_TYPE_IPV4 ||
	    ah->arp_hlen != 6 || ah->arp_plen != 4) {
		s->st.drop_malformed++;
		goto drop;
	}
	uint16_t op = rte_be_to_cpu_16(ah->arp_opcode);
	uint32_t sip = rte_be_to_cpu_32(ah->arp_data.arp_sip);
	uint32_t tip = rte_be_to_cpu_32(ah->arp_data.arp_tip);
	struct rte_ether_addr sha = ah->arp_data.arp_sha;
	if ((op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) ||
	    !rte_is_unicast_ether_addr(&sha) || rte_is_zero_ether_addr(&sha)) {
		s->st.drop_malformed++;
		goto drop;
	}
	bool for_us = tip == s->conf.ip;
	/* RFC 826 merge: refresh a known sender; learn it if it talks to us. */
	if (sip != 0 && sip != s->conf.ip && ((sip ^ s->conf.ip) & s->netmask) == 0) {
		struct ns_arp_ent *e = arp_find(s, sip);
		if (!e && for_us)
			e = arp_claim(s, sip);
		if (e)
			resolved(s, e, &sha);
	}
	if (!for_us) {
		s->st.drop_not_for_us++;
		goto drop;
	}
	if (op != RTE_ARP_OP_REQUEST)
		goto drop;
	/* Answer in place. */
	eh->dst_addr = sha;
	memcpy(eh->src_addr.addr_bytes, s->conf.mac, 6);
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	ah->arp_data.arp_tha = sha;
	ah->arp_data.arp_tip = rte_cpu_to_be_32(sip);
	memcpy(ah->arp_data.arp_sha.addr_bytes, s->conf.mac, 6);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(s->conf.ip);
	m->ol_flags = 0;
	s->st.arp_requests_answered++;
	ns_tx_enqueue(s, m);
	return;
drop:
	rte_pktmbuf_free(m);
}

void ns_arp_timers(struct ns_stack *s, uint64_t now_us)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < NS_ARP_SETS * NS_ARP_WAYS; i++) {
		struct ns_arp_ent *e = &s->arp[i];
		if (e->state != NS_ARP_PENDING)
			continue;
		if (e->retry_us <= now_us) {
			if (e->tries >= NS_ARP_RETRIES) {
				s->xst.arp_failed++;
				drop_pending(s, e);
				memset(e, 0, sizeof(*e));
				s->arp_gen++;
				continue;
			}
			e->tries++;
			e->retry_us = now_us + NS_ARP_RETRY_US;
			send_request(s, e->ip);
		}
		if (e->retry_us < next)
			next = e->retry_us;
	}
	s->arp_next_us = next;
}

void ns_arp_flush_all(struct ns_stack *s)
{
	for (unsigned i = 0; i < NS_ARP_SETS * NS_ARP_WAYS; i++)
		drop_pending(s, &s->arp[i]);
}
