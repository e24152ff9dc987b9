/* dataplane/netstack.h — keyrail's userspace TCP/IP stack (contract).
 *
 * One instance per shard (per DPDK RX/TX queue pair). An instance owns its
 * ARP cache, its connections, its timers and its TX batch; it shares no
 * mutable state with any other instance and takes no locks. It never calls
 * the PMD itself: the owner (the DPDK backend, or a unit test joining two
 * instances with rte_eth_from_rings) feeds it received frames and drains the
 * frames it wants sent. That keeps the stack testable in one process and lets
 * a test-only fault layer sit between the PMD and the stack.
 *
 * The socket-like half mirrors dataplane.h's backend calls (dp_poll, dp_recv,
 * dp_send, ...) so the DPDK backend is a thin adapter:
 *   ns_input()/ns_timers()/ns_tx_drain() once per loop iteration, then
 *   ns_poll_events() for the shard's dp_event burst.
 *
 * Times are microseconds on a monotonic clock supplied by the caller (tests
 * drive time by hand). Addresses and ports are in host byte order. */
#ifndef KR_NETSTACK_H
#define KR_NETSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dataplane/dataplane.h"

struct rte_mbuf;
struct rte_mempool;
struct ns_stack;

/* A connection handle: an index into the instance's connection table, >= 0.
 * (dp_conn_t is an int, so handles pass through the dp_* calls unchanged.) */
typedef int ns_conn_t;

struct ns_conf {
	uint8_t mac[6];            /* our MAC (from rte_eth_macaddr_get) */
	uint32_t ip;               /* our IPv4 address */
	uint8_t prefix;            /* netmask length, 1..32 */
	uint32_t gateway;          /* 0: none (on-link peers only) */
	uint16_t mtu;              /* IP MTU, 576..9000; MSS = mtu - 40 */
	uint16_t listen_port;      /* 0: no listener (client-only instance) */
	int backlog;               /* completed connections not yet reported */
	unsigned max_conns;        /* per-instance connection limit */
	int keepalive_s;           /* tcp-keepalive, 0 = off */
	uint32_t rcvbuf;           /* per-connection receive buffer bytes */
	uint32_t sndbuf;           /* per-connection send buffer bytes */
	bool rx_csum_offload;      /* the PMD verified IP/TCP checksums (ol_flags) */
	bool tx_csum_offload;      /* let the PMD fill IP/TCP checksums */
	uint32_t isn_secret;       /* seed for ISNs and SYN cookies; 0 = random */
	uint32_t time_wait_ms;     /* TIME_WAIT length (2*MSL); 0 = 60000 */
};

/* Counters, all monotonic, for INFO's dataplane section and for tests. */
struct ns_stats {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t drop_not_for_us;  /* wrong MAC/IP, other ethertypes */
	uint64_t drop_bad_csum;    /* IP or TCP/ICMP checksum wrong */
	uint64_t drop_malformed;   /* short/inconsistent headers, bad options */
	uint64_t drop_fragment;    /* IPv4 fragments (no reassembly) */
	uint64_t drop_no_conn;     /* segment for no connection (answered RST) */
	uint64_t drop_no_mbuf;     /* TX wanted but the mempool was empty */
	uint64_t drop_ooo_full;    /* out-of-order segment beyond what we hold */
	uint64_t drop_conn_limit;  /* SYN refused: max_conns reached */
	uint64_t syn_cookies_sent, syn_cookies_ok;
	uint64_t retransmits, fast_retransmits, rto_timeouts;
	uint64_t sack_retransmits;     /* holes resent from the SACK scoreboard */
	uint64_t tail_probes;          /* probe timeouts that resent the last segment */
	uint64_t arp_requests_answered, arp_entries;
	uint64_t icmp_echo_replied;
	uint64_t conns_opened, conns_closed, conns_current, conns_reset;
	uint64_t rx_direct;        /* segments handed over by ns_set_deliver's hook */
};

/* Create an instance; its TX frames come from mp. NULL and *err on bad conf. */
struct ns_stack *ns_create(const struct ns_conf *conf, struct rte_mempool *mp,
			   const char **err);
void ns_destroy(struct ns_stack *s);

/* Hand received frames to the stack. It takes ownership of every mbuf
 * (frees or keeps each one). */
void ns_input(struct ns_stack *s, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us);
/* Run due timers (retransmission, delayed ACK, persist, keepalive,
 * TIME_WAIT, ARP retries). Cheap when nothing is due. Output that input,
 * ns_send() and ns_close() made pending is built by ns_tx_drain(), not
 * here, so replies written after this call still carry the ACK. */
void ns_timers(struct ns_stack *s, uint64_t now_us);
/* Take up to max frames to transmit, in order; the caller owns them (sends
 * or frees them). Frames stay queued (bounded) until drained. */
uint16_t ns_tx_drain(struct ns_stack *s, struct rte_mbuf **pkts, uint16_t max);
/* The earliest time a timer is due, or UINT64_MAX (to size a sleep). */
uint64_t ns_next_timer(const struct ns_stack *s);

/* Socket-like half: the same contract as dp_poll/dp_recv/dp_send/... in
 * dataplane.h (events ACCEPT, READABLE, WRITABLE; recv returns 0 on EOF and
 * -EAGAIN when empty; send is best effort and -EAGAIN when full). Events are
 * edge-like: READABLE is reported again only after new data or EOF arrives,
 * WRITABLE only if interest in it was set and space opened. A connection
 * reset by the peer reports READABLE and then recv returns -ECONNRESET. */
int ns_poll_events(struct ns_stack *s, struct dp_event *ev, int max);
ssize_t ns_recv(struct ns_stack *s, ns_conn_t c, void *buf, size_t n);
ssize_t ns_send(struct ns_stack *s, ns_conn_t c, const void *buf, size_t n);
/* ns_recv, and *drained = true when a further ns_recv would return -EAGAIN
 * (no byte held, no EOF or error to report): one call where a reader
 * that wants everything would otherwise call again to learn that. */
ssize_t ns_recv_ex(struct ns_stack *s, ns_conn_t c, void *buf, size_t n, bool *drained);
int ns_set_interest(struct ns_stack *s, ns_conn_t c, bool read, bool write);
void ns_conn_set_udata(struct ns_stack *s, ns_conn_t c, void *udata);
/* Graceful close (FIN after queued data); the handle is invalid after. */
void ns_close(struct ns_stack *s, ns_conn_t c);
void ns_stop_listening(struct ns_stack *s);
/* Active open (replication links, the load generator). Returns a handle
 * whose first WRITABLE event means established; a failure reports READABLE
 * and recv returns -ECONNREFUSED or -ETIMEDOUT. Negative errno at once if
 * no connection slot is free. */
ns_conn_t ns_connect(struct ns_stack *s, uint32_t ip, uint16_t port);

void ns_get_stats(const struct ns_stack *s, struct ns_stats *out);

/* Direct delivery ("run to completion"): the payload of an in-order
 * segment goes to the owner from inside ns_input() instead of through the
 * receive queue, an event and ns_recv(). With fn set, a segment taken by
 * header prediction (established, in sequence, nothing out of order)
 * whose connection holds no received byte, has read interest and has its
 * payload contiguous in its first mbuf is offered first:
 * fn(arg, c, m, data, len). Returning true, fn owns m (data points into
 * it) and the bytes count as read: the window does not shrink by them and
 * ns_recv() never returns them. Returning false, nothing changed: the
 * segment is queued as usual (READABLE, ns_recv). Once a byte is queued,
 * no segment of that connection is offered until ns_recv() has taken
 * every queued byte, so the owner sees the stream in order however it
 * mixes the two. fn must not call back into the stack (it runs in the
 * middle of the segment's processing); NULL turns it off. */
void ns_set_deliver(struct ns_stack *s,
		    bool (*fn)(void *arg, ns_conn_t c, struct rte_mbuf *m, const uint8_t *data,
			       uint32_t len),
		    void *arg);

#endif
