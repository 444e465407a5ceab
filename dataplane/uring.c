/*
 * uring.c - the io_uring backend: one ring per worker thread
 * (SINGLE_ISSUER | DEFER_TASKRUN), a SO_REUSEPORT listener with multishot
 * accept, multishot receive into a provided-buffer ring, one send in flight
 * per connection, and a multishot poll on the HSM engine's completion
 * eventfd.  It only moves bytes; everything above is in conn.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <liburing.h>

#include "../common/log.h"
#include "server.h"

enum { TAG_IGNORE, TAG_ACCEPT, TAG_RECV, TAG_SEND, TAG_HSM, TAG_MASK = 7 };

#define RING_ENTRIES 4096
#define BUF_SIZE 16384
#define ADAPTIVE_SPINS 64 /* empty loop turns before an adaptive worker sleeps */

struct uring {
	struct io_uring ring;
	int lfd, efd;
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned nbufs;
	int accept_armed;
	uint64_t accept_retry_ns;  /* out of fds: re-arm accept no sooner */
	uint64_t accept_warned_ns;
};

static struct io_uring_sqe *sqe_get(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ is full: hand it to the kernel and take a slot. */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe; /* never NULL right after a submit */
}

static void set_data(struct io_uring_sqe *sqe, void *p, unsigned tag)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | tag);
}

static int listen_on(const char *hostport, int reuseport, const char **why)
{
	char host[64];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (config_parse_hostport(hostport, host, sizeof(host), &port)) {
		*why = "bad listen address";
		return -1;
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		*why = "listen host must be a numeric IPv4 or IPv6 address";
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = "socket() failed";
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Accepted sockets inherit it: responses go out in one segment train
	 * without waiting for the peer's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 4096)) {
		*why = errno == EADDRINUSE ? "listen address already in use"
					   : "cannot bind or listen";
		close(fd);
		return -1;
	}
	return fd;
}

static void arm_accept(struct uring *u)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	io_uring_prep_multishot_accept(sqe, u->lfd, NULL, NULL, SOCK_CLOEXEC);
	set_data(sqe, u, TAG_ACCEPT);
	u->accept_armed = 1;
}

static void arm_hsm(struct uring *u)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	io_uring_prep_poll_multishot(sqe, u->efd, POLLIN);
	set_data(sqe, u, TAG_HSM);
}

static void arm_recv(struct conn *c)
{
	struct uring *u = c->w->io;
	struct io_uring_sqe *sqe = sqe_get(u);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	set_data(sqe, c, TAG_RECV);
	c->recv_armed = 1;
	c->refs++;
}

static int uring_init(struct worker *w, const char **why)
{
	struct io_uring_params p;
	struct uring *u = calloc(1, sizeof(*u));
	int rc;

	if (!u) {
		*why = "out of memory";
		return IG_ENOMEM;
	}
	w->io = u;
	u->lfd = u->efd = -1;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = RING_ENTRIES * 4;
	rc = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
	if (rc < 0) {
		*why = "io_uring_queue_init failed (kernel 6.1 or later needed)";
		return IG_EINTERNAL;
	}
	u->nbufs = w->admin ? 64 : 512;
	u->bufs = aligned_alloc(4096, (size_t)u->nbufs * BUF_SIZE);
	u->br = io_uring_setup_buf_ring(&u->ring, u->nbufs, 0, 0, &rc);
	if (!u->bufs || !u->br) {
		*why = "cannot set up the provided-buffer ring";
		return IG_EINTERNAL;
	}
	for (unsigned i = 0; i < u->nbufs; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, i,
				      io_uring_buf_ring_mask(u->nbufs), (int)i);
	io_uring_buf_ring_advance(u->br, (int)u->nbufs);

	u->lfd = listen_on(w->admin ? w->srv->cfg.admin_listen : w->srv->cfg.listen,
			   !w->admin, why);
	if (u->lfd < 0)
		return IG_EUSAGE;
	arm_accept(u);
	/* The admin worker submits HSM jobs too (credential creation). */
	u->efd = worker_completion_fd(w);
	arm_hsm(u);
	return IG_OK;
}

static void recycle(struct uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
			      io_uring_buf_ring_mask(u->nbufs), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static void on_accept(struct worker *w, struct uring *u, struct io_uring_cqe *cqe)
{
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		u->accept_armed = 0;
	if (cqe->res < 0) {
		if (cqe->res == -ECANCELED)
			return;
		/* Out of fds or memory: pause accepting for a moment rather
		 * than spin on a failing accept; warn once a second. */
		u->accept_retry_ns = w->now_ns + 100000000ull;
		if (w->now_ns - u->accept_warned_ns > 1000000000ull) {
			u->accept_warned_ns = w->now_ns;
			log_warn("accept: %s; pausing accepts for 100 ms", strerror(-cqe->res));
		}
		return;
	}
	c = conn_open(w, cqe->res);
	if (!c) {
		close(cqe->res);
		return;
	}
	if (w->rl) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
				c->addr_len = 4;
			} else if (ss.ss_family == AF_INET6) {
				memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
				c->addr_len = 16;
			}
		}
	}
	arm_recv(c);
}

static void on_recv(struct uring *u, struct conn *c, struct io_uring_cqe *cqe)
{
	int more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (res > 0)
			conn_input(c, (uint8_t *)u->bufs + (size_t)bid * BUF_SIZE, (size_t)res);
		recycle(u, bid);
	}
	if (res == 0)
		conn_eof(c);
	else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && !c->closing)
		conn_close(c); /* reset by peer and the like */
	if (more)
		return;
	c->recv_armed = 0;
	c->refs--;
	if ((!c->closing || c->lingering) && !c->recv_paused && !c->peer_eof && res != 0)
		arm_recv(c);
	conn_put(c);
}

/* The send's reference is held until the end: what conn_sent does may
 * close the connection, and only the last reference may release it. */
static void on_send(struct conn *c, struct io_uring_cqe *cqe)
{
	struct uring *u = c->w->io;

	if (cqe->res < 0 || c->closing) {
		c->send_inflight = 0;
		if (!c->closing)
			conn_close(c);
	} else {
		buf_consume(&c->out, (size_t)cqe->res);
		if (buf_avail(&c->out)) {
			/* A short send: the rest goes next, same reference. */
			struct io_uring_sqe *sqe = sqe_get(u);

			io_uring_prep_send(sqe, c->fd, buf_head(&c->out), buf_avail(&c->out),
					   MSG_NOSIGNAL);
			set_data(sqe, c, TAG_SEND);
			return;
		}
		conn_sent(c);
	}
	c->refs--;
	conn_put(c);
}

static void on_hsm(struct worker *w, struct uring *u, struct io_uring_cqe *cqe)
{
	uint64_t v;

	if (read(u->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("completion eventfd: %s", strerror(errno));
	(void)worker_reap(w);
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_hsm(u);
}

static void uring_run(struct worker *w)
{
	struct uring *u = w->io;
	int adaptive = w->admin || w->srv->cfg.poll == POLL_ADAPTIVE;
	unsigned idle = 0;

	while (!w->srv->stopping) {
		struct io_uring_cqe *cqe;
		unsigned head, count = 0;

		if (adaptive && idle >= ADAPTIVE_SPINS) {
			uint64_t d = worker_next_deadline(w), wait = 100000000ull;
			struct __kernel_timespec ts;

			if (d != UINT64_MAX)
				wait = d > w->now_ns ? d - w->now_ns : 0;
			if (wait > 100000000ull)
				wait = 100000000ull; /* notice a stop request */
			ts.tv_sec = 0;
			ts.tv_nsec = (long long)wait;
			io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		} else {
			io_uring_submit_and_get_events(&u->ring);
		}
		worker_clock(w);
		io_uring_for_each_cqe(&u->ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			void *p = (void *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);

			switch (ud & TAG_MASK) {
			case TAG_ACCEPT: on_accept(w, u, cqe); break;
			case TAG_RECV: on_recv(u, p, cqe); break;
			case TAG_SEND: on_send(p, cqe); break;
			case TAG_HSM: on_hsm(w, u, cqe); break;
			default: break;
			}
			count++;
		}
		io_uring_cq_advance(&u->ring, count);
		if (!u->accept_armed && !w->srv->stopping && w->now_ns >= u->accept_retry_ns)
			arm_accept(u);
		worker_tick(w);
		idle = count ? 0 : idle + 1;
	}
}

static void uring_flush(struct conn *c)
{
	struct uring *u = c->w->io;
	struct io_uring_sqe *sqe = sqe_get(u);

	io_uring_prep_send(sqe, c->fd, buf_head(&c->out), buf_avail(&c->out), MSG_NOSIGNAL);
	set_data(sqe, c, TAG_SEND);
	c->send_inflight = 1;
	c->refs++;
}

static void uring_close(struct conn *c)
{
	/* Ends the multishot receive (it completes with 0) and any send. */
	shutdown(c->fd, SHUT_RDWR);
}

static void uring_shutdown_write(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	/* Keep receiving, to see the peer's FIN (the input is discarded). */
	c->recv_paused = 0;
	if (!c->recv_armed)
		arm_recv(c);
}

static void uring_release(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}

static void uring_pause_recv(struct conn *c, int pause)
{
	struct uring *u = c->w->io;

	c->recv_paused = (uint8_t)pause;
	if (pause && c->recv_armed) {
		struct io_uring_sqe *sqe = sqe_get(u);

		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | TAG_RECV, 0);
		set_data(sqe, NULL, TAG_IGNORE);
	} else if (!pause && !c->recv_armed && !c->closing && !c->peer_eof) {
		arm_recv(c);
	}
}

static void uring_free(struct worker *w)
{
	struct uring *u = w->io;

	if (!u)
		return;
	if (u->lfd >= 0)
		close(u->lfd);
	if (u->br)
		io_uring_free_buf_ring(&u->ring, u->br, u->nbufs, 0);
	if (u->ring.ring_fd > 0)
		io_uring_queue_exit(&u->ring);
	free(u->bufs);
	free(u);
	w->io = NULL;
}

const struct io_ops io_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.run = uring_run,
	.free = uring_free,
	.flush = uring_flush,
	.close = uring_close,
	.release = uring_release,
	.shutdown_write = uring_shutdown_write,
	.pause_recv = uring_pause_recv,
};
