/* Kernel-socket backend: one instance per shard, each with its own
 * SO_REUSEPORT listeners (the kernel spreads new connections over the
 * shards), its own level-triggered epoll set and an eventfd other shards
 * write to wake it. A connection handle is the socket fd.
 *
 * The public dp_* calls are defined here and hand DPDK ports to dpdk.c
 * (a test of the port's backend tag: the kernel path stays a direct call). */
#include "dataplane/dataplane.h"
#include "dataplane/dp_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define DP_MAX_LISTENERS 16
#define TAG_LISTEN (1ull << 62)
#define TAG_WAKE (1ull << 61)

struct dp_kport {
	struct dp_port base;   /* backend = DP_BACKEND_KERNEL */
	int epfd;
	int wakefd;
	int lfd[DP_MAX_LISTENERS];
	int nlfd;
	int keepalive_s;
	void **udata;          /* per fd */
	size_t nudata;
};

static int set_udata(struct dp_kport *p, int fd, void *u)
{
	if ((size_t)fd >= p->nudata) {
		size_t n = p->nudata ? p->nudata : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		void **nu = realloc(p->udata, n * sizeof(void *));
		if (!nu)
			return -ENOMEM;
		memset(nu + p->nudata, 0, (n - p->nudata) * sizeof(void *));
		p->udata = nu;
		p->nudata = n;
	}
	p->udata[fd] = u;
	return 0;
}

/* Resolve one bind address ("*", an IPv4/IPv6 literal; a leading '-' marks
 * it optional, as in Redis 7). Returns 0 with *res set, or -EINVAL. */
static int resolve_bind(const char *addr, int port, bool *optional, struct addrinfo **res)
{
	*optional = addr[0] == '-';
	if (*optional)
		addr++;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	return getaddrinfo(strcmp(addr, "*") ? addr : "0.0.0.0", portstr, &hints, res) ? -EINVAL : 0;
}

/* Bind (without SO_REUSEPORT) and close, to find a port someone holds. */
static int probe_one(const char *addr, int port, const char **errmsg)
{
	bool optional;
	struct addrinfo *res = NULL;
	if (resolve_bind(addr, port, &optional, &res) != 0)
		return 0;   /* listen_one reports bad addresses */
	int rc = 0;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (res->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 && errno == EADDRINUSE) {
			*errmsg = "Address already in use";
			rc = -EADDRINUSE;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

int dp_kernel_probe(const struct dp_port_conf *conf, const char **errmsg)
{
	for (const char *const *b = conf->bind; b && *b; b++) {
		int rc = probe_one(*b, conf->port, errmsg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int listen_one(struct dp_kport *p, const char *addr, int port, int backlog,
		      bool reuseport, const char **errmsg)
{
	bool optional;
	struct addrinfo *res = NULL;
	if (resolve_bind(addr, port, &optional, &res) != 0) {
		*errmsg = "invalid bind address";
		return optional ? 0 : -EINVAL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		freeaddrinfo(res);
		if (optional && (e == EAFNOSUPPORT || e == EPROTONOSUPPORT))
			return 0;
		*errmsg = "socket() failed";
		return -e;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		close(fd);
		freeaddrinfo(res);
		if (optional && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
			return 0;
		*errmsg = e == EADDRINUSE ? "Address already in use" : strerror(e);
		return -e;
	}
	freeaddrinfo(res);
	if (p->nlfd >= DP_MAX_LISTENERS) {
		close(fd);
		*errmsg = "too many bind addresses";
		return -E2BIG;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_LISTEN | (uint64_t)fd };
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return -errno;
	}
	p->lfd[p->nlfd++] = fd;
	return 0;
}

static void kport_close(struct dp_kport *p);

static inline struct dp_kport *kport(struct dp_port *p)
{
	return (struct dp_kport *)p;
}

struct dp_port *dp_kernel_open(const struct dp_port_conf *conf, const char **errmsg)
{
	struct dp_kport *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base.backend = DP_BACKEND_KERNEL;
	p->keepalive_s = conf->keepalive_s;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->epfd < 0 || p->wakefd < 0) {
		*errmsg = "epoll/eventfd failed";
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_WAKE };
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) < 0)
		goto fail;
	for (const char *const *b = conf->bind; b && *b; b++) {
		int rc = listen_one(p, *b, conf->port, conf->backlog, conf->reuseport, errmsg);
		if (rc < 0) {
			errno = -rc;
			goto fail;
		}
	}
	if (p->nlfd == 0) {
		*errmsg = "no address to listen on";
		errno = EADDRNOTAVAIL;
		goto fail;
	}
	return &p->base;
fail:
	kport_close(p);
	return NULL;
}

static void kport_stop_listening(struct dp_kport *p)
{
	for (int i = 0; i < p->nlfd; i++)
		close(p->lfd[i]);
	p->nlfd = 0;
}

void dp_stop_listening(struct dp_port *p)
{
	if (p->backend == DP_BACKEND_DPDK) {
		dp_dpdk_stop_listening(p);
		return;
	}
	kport_stop_listening(kport(p));
}

static void kport_close(struct dp_kport *p)
{
	kport_stop_listening(p);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
	free(p->udata);
	free(p);
}

void dp_close_port(struct dp_port *p)
{
	if (!p)
		return;
	if (p->backend == DP_BACKEND_DPDK) {
		dp_dpdk_close_port(p);
		return;
	}
	kport_close(kport(p));
}

enum dp_backend dp_port_backend(const struct dp_port *p)
{
	return (enum dp_backend)p->backend;
}

void dp_info(struct rbuf *b, const struct dp_port *p, unsigned shard)
{
	if (p->backend == DP_BACKEND_DPDK)
		dp_dpdk_info(b, p, shard);
}

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len, bool *loopback)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	*loopback = false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		port = ntohs(s->sin_port);
		*loopback = (ntohl(s->sin_addr.s_addr) >> 24) == 127;
		snprintf(buf, len, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		port = ntohs(s->sin6_port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ||
			    (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && s->sin6_addr.s6_addr[12] == 127);
		snprintf(buf, len, "%s:%d", ip, port);
	} else {
		snprintf(buf, len, "?:0");
	}
}

/* Accept up to max connections from listener lfd into ev. */
static int accept_some(struct dp_kport *p, int lfd, struct dp_event *ev, int max)
{
	int n = 0;
	while (n < max) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (p->keepalive_s > 0) {
			int idle = p->keepalive_s, intvl = p->keepalive_s / 3 ? p->keepalive_s / 3 : 1, cnt = 3;
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		}
		struct epoll_event ee = { .events = EPOLLIN, .data.u64 = (uint64_t)fd };
		if (set_udata(p, fd, NULL) < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			close(fd);
			continue;
		}
		struct dp_event *e = &ev[n++];
		memset(e, 0, sizeof(*e));
		e->kind = DP_EV_ACCEPT;
		e->conn = fd;
		fmt_addr(&ss, e->peer, sizeof(e->peer), &e->peer_is_loopback);
		struct sockaddr_storage ls;
		socklen_t ll = sizeof(ls);
		bool dummy;
		if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
			fmt_addr(&ls, e->local, sizeof(e->local), &dummy);
	}
	return n;
}

int dp_poll(struct dp_port *port, struct dp_event *ev, int max, int timeout_ms)
{
	if (port->backend == DP_BACKEND_DPDK)
		return dp_dpdk_poll(port, ev, max);
	struct dp_kport *p = kport(port);
	struct epoll_event ee[64];
	if (max > 64)
		max = 64;
	int n = epoll_wait(p->epfd, ee, max, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int out = 0;
	for (int i = 0; i < n && out < max; i++) {
		uint64_t tag = ee[i].data.u64;
		if (tag == TAG_WAKE) {
			uint64_t v;
			while (read(p->wakefd, &v, sizeof(v)) > 0)
				;
			ev[out].kind = DP_EV_WAKE;
			ev[out].conn = -1;
			ev[out].udata = NULL;
			out++;
			continue;
		}
		if (tag & TAG_LISTEN) {
			/* Level-triggered: what is not accepted now is reported again. */
			out += accept_some(p, (int)(tag & 0xffffffff), ev + out, max - out);
			continue;
		}
		int fd = (int)tag;
		void *u = (size_t)fd < p->nudata ? p->udata[fd] : NULL;
		if (ee[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
			ev[out].kind = DP_EV_READABLE;
			ev[out].conn = fd;
			ev[out].udata = u;
			out++;
		}
		if ((ee[i].events & EPOLLOUT) && out < max) {
			ev[out].kind = DP_EV_WRITABLE;
			ev[out].conn = fd;
			ev[out].udata = u;
			out++;
		}
	}
	return out;
}

ssize_t dp_recv(struct dp_port *p, dp_conn_t c, void *buf, size_t n)
{
	if (p->backend == DP_BACKEND_DPDK)
		return dp_dpdk_recv(p, c, buf, n);
	ssize_t r = read(c, buf, n);
	if (r < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -errno;
	return r;
}

void dp_release(struct dp_port *p)
{
	if (p->backend == DP_BACKEND_DPDK)
		dp_dpdk_release(p);
}

ssize_t dp_send(struct dp_port *p, dp_conn_t c, const void *buf, size_t n)
{
	if (p->backend == DP_BACKEND_DPDK)
		return dp_dpdk_send(p, c, buf, n);
	ssize_t r = send(c, buf, n, MSG_NOSIGNAL);
	if (r < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -errno;
	return r;
}

int dp_set_interest(struct dp_port *p, dp_conn_t c, bool read, bool write)
{
	if (p->backend == DP_BACKEND_DPDK)
		return dp_dpdk_set_interest(p, c, read, write);
	struct epoll_event ee = { .events = (read ? EPOLLIN : 0) | (write ? EPOLLOUT : 0),
				  .data.u64 = (uint64_t)c };
	return epoll_ctl(kport(p)->epfd, EPOLL_CTL_MOD, c, &ee) < 0 ? -errno : 0;
}

void dp_conn_set_udata(struct dp_port *p, dp_conn_t c, void *udata)
{
	if (p->backend == DP_BACKEND_DPDK) {
		dp_dpdk_conn_set_udata(p, c, udata);
		return;
	}
	(void)set_udata(kport(p), c, udata);
}

void dp_conn_close(struct dp_port *port, dp_conn_t c)
{
	if (port->backend == DP_BACKEND_DPDK) {
		dp_dpdk_conn_close(port, c);
		return;
	}
	struct dp_kport *p = kport(port);
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, c, NULL);
	if ((size_t)c < p->nudata)
		p->udata[c] = NULL;
	close(c);
}

int dp_wake_fd(struct dp_port *p)
{
	return p->backend == DP_BACKEND_DPDK ? -1 : kport(p)->wakefd;
}

void dp_wake(int wake_fd)
{
	if (wake_fd < 0)
		return;
	uint64_t one = 1;
	ssize_t r = write(wake_fd, &one, sizeof(one));
	(void)r;
}
