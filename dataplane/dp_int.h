/* dataplane/dp_int.h — what the network backends share (private to
 * dataplane/).
 *
 * Every backend's port struct starts with struct dp_port, whose only field
 * is the backend tag. The public dp_* calls live in kernel.c: each one
 * tests the tag first and hands DPDK ports to the dp_dpdk_* functions
 * below, so the kernel path pays one predictable branch and no indirect
 * call. */
#ifndef KR_DP_INT_H
#define KR_DP_INT_H

#include "dataplane/dataplane.h"

struct dp_port {
	uint8_t backend;                /* enum dp_backend */
};

/* dpdk.c: the DPDK backend behind the dp_* calls (same contracts as in
 * dataplane.h; p is always a DPDK port). */
int dp_dpdk_poll(struct dp_port *p, struct dp_event *ev, int max);
ssize_t dp_dpdk_recv(struct dp_port *p, dp_conn_t c, void *buf, size_t n);
void dp_dpdk_release(struct dp_port *p);
ssize_t dp_dpdk_send(struct dp_port *p, dp_conn_t c, const void *buf, size_t n);
int dp_dpdk_set_interest(struct dp_port *p, dp_conn_t c, bool read, bool write);
void dp_dpdk_conn_set_udata(struct dp_port *p, dp_conn_t c, void *udata);
void dp_dpdk_conn_close(struct dp_port *p, dp_conn_t c);
void dp_dpdk_stop_listening(struct dp_port *p);
void dp_dpdk_close_port(struct dp_port *p);
void dp_dpdk_info(struct rbuf *b, const struct dp_port *p, unsigned shard);

#endif
