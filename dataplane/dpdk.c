/*
 * dpdk.c - the DPDK backend: frames between a NIC (an ethdev port with one
 * RX and one TX queue per dataplane worker) and each worker's userspace
 * TCP/IP stack (ustack/stack.h), and the stack's sockets to and from the
 * connection layer.  It only moves bytes; everything above is in conn.c.
 *
 * Each worker polls, in one loop: its RX queue (frames into the stack), the
 * worker's completions (worker_reap: no eventfd read, no system call), the
 * stack's timers, the conns' deferred work, its TX batch, and the
 * connection layer's timeouts.  Nothing on the packet path takes a lock or
 * makes a system call; poll = adaptive sleeps only when idle, in poll(2)
 * on the queue's RX interrupt and the HSM's eventfd when the device has
 * RX interrupts (the TAP PMD has), else in short naps.
 *
 * References on a conn (c->refs), with uring.c's meaning:
 *   - recv armed (c->recv_armed): from accept until a pause, the peer's
 *     FIN, an error or the close;
 *   - a send in flight (c->send_inflight): from flush until the deferred
 *     conn_sent (all of c->out is in the stack's send queue) or the close;
 *   - a place on the worker's deferred list (c->io_queued): work that must
 *     not run inside the connection layer's own call (conn_sent after a
 *     flush, a read after a resume, dropping a closed conn's references);
 *   - a stack callback that calls into the connection layer holds one for
 *     its duration: conn_input may close the conn or pause it.
 * Whoever clears recv_armed or send_inflight drops that reference, so
 * none is dropped twice; conn_put frees the conn after the last one.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/rand.h"
#include "server.h"

#ifdef IG_NO_DPDK

/* Built without libdpdk: the backend exists only to say so. */
static const char no_dpdk[] = "idgated was built without DPDK (pkg-config found no "
			      "libdpdk: install dpdk-dev and rebuild); use "
			      "server.backend = io_uring";

int dpdk_global_init(struct server *srv IG_UNUSED, const char **why)
{
	*why = no_dpdk;
	return IG_EUSAGE;
}

void dpdk_global_free(void)
{
}

static int nodpdk_init(struct worker *w IG_UNUSED, const char **why)
{
	*why = no_dpdk;
	return IG_EUSAGE;
}

static void nodpdk_worker(struct worker *w IG_UNUSED)
{
}

static void nodpdk_conn(struct conn *c IG_UNUSED)
{
}

static void nodpdk_pause(struct conn *c IG_UNUSED, int pause IG_UNUSED)
{
}

const struct io_ops dpdk_ops = {
	.name = "dpdk",
	.init = nodpdk_init,
	.run = nodpdk_worker,
	.free = nodpdk_worker,
	.flush = nodpdk_conn,
	.close = nodpdk_conn,
	.release = nodpdk_conn,
	.shutdown_write = nodpdk_conn,
	.pause_recv = nodpdk_pause,
};

#else /* DPDK */

#include <mbedtls/platform_util.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "ustack/stack.h"

#define BURST 32                /* frames per rx_burst and per tx_burst */
#define RX_DESC 1024
#define TX_DESC 1024
#define POOL_CACHE 256          /* mbufs cached per lcore */
#define READ_CHUNK 16384        /* bytes per us_sock_read */
/* An adaptive worker sleeps after this long without work.  Time, not a
 * count of turns: an empty turn costs a system call on some devices (the
 * TAP PMD reads its file descriptor), and 64 of them after every frame
 * and every HSM completion doubled a login's CPU at low rates. */
#define ADAPTIVE_SPIN_NS 20000ull
#define NAP_MAX_NS 1000000ull   /* without RX interrupts a nap is at most 1 ms */
#define SLEEP_MAX_MS 100        /* with them, a sleep notices a stop this soon */
#define STATS_NS 100000000ull   /* the stack's counters are published this often */

/* The stack's limits that are not settings (Linux's defaults, roughly). */
#define SYN_RETRIES 5
#define DATA_RETRIES 10
#define FIN_WAIT_MS 60000

/* Deferred work of a conn (c->io_queued). */
enum {
	DQ_SENT = 1,            /* c->out is all in the stack: conn_sent */
	DQ_SEND_ERR = 2,        /* the stack can no longer send */
	DQ_READ = 4,            /* read what waits in the socket */
	DQ_RELEASE = 8,         /* closed: drop the recv and send references */
};

/* Process-wide, set up by dpdk_global_init before any worker starts and
 * read-only while they run. */
static struct {
	int eal;                /* rte_eal_init done */
	int configured, started;
	uint16_t port;
	int csum;               /* the device verifies IPv4 and TCP checksums */
	int rx_intr;            /* RX queue interrupts are on (poll = adaptive) */
	struct rte_mempool *pool;
	struct rte_ether_addr mac;
} g;

/* The dpdk.fault test hook of one worker. */
struct fault {
	struct config_fault p;
	uint64_t rng;                   /* splitmix64 state */
	struct rte_mbuf *held_rx, *held_tx; /* frames held back (reorder) */
	uint64_t n[FAULT_COUNT];
};

/* One worker's backend state (w->io). */
struct dp {
	struct worker *w;
	struct us_stack *st;
	struct us_ops uops;             /* kept: the stack may hold the pointer */
	uint16_t queue;                 /* RX and TX queue: the worker's index */
	int stopped;                    /* run() returned: the stack is idle */
	uint64_t now_us;                /* the stack's clock, per loop turn */
	uint32_t next_id;               /* numbers conns for the logs */
	struct rte_mbuf *tx[BURST];     /* frames to send at the end of the turn */
	unsigned ntx;
	struct conn *dq_head, *dq_tail; /* conns with deferred work */
	struct fault f;
	uint64_t multi_segment, tx_dropped;
	int intr_fd;                    /* the RX queue's interrupt, or -1 */
	int efd;                        /* the HSM engine's completion eventfd */
	uint64_t pub_ns;                /* counters last published */
	uint8_t rbuf[READ_CHUNK];
};

/* ---- process-wide set-up --------------------------------------------- */

static int port_fail(const char **why, char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int port_fail(const char **why, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	*why = msg;
	return IG_EUSAGE;
}

/* Enough mbufs for every descriptor of every queue, a burst in each
 * direction, held frames and the per-lcore caches (1.5 times their size at
 * most), as 2^n - 1, the size a mempool uses best. */
static unsigned pool_size(unsigned nq, uint16_t nrx, uint16_t ntx)
{
	uint64_t need = (uint64_t)nq * (nrx + ntx + 2 * BURST + 2 + POOL_CACHE * 3 / 2) +
			POOL_CACHE * 3 / 2;
	uint64_t n = 1023;

	while (n < need)
		n = n * 2 + 1;
	return (unsigned)n;
}

/* Configure the port with <nq> queue pairs and start it. */
static int port_init(const struct config *c, unsigned nq, const char **why)
{
	static char msg[300];
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t port = (uint16_t)c->dpdk_port, nrx = RX_DESC, ntx = TX_DESC;
	const uint64_t rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP;
	const uint64_t csum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	int socket, rc, is_tap;
	unsigned room;

	g.port = port;
	if (!rte_eth_dev_is_valid_port(port))
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u: no such ethdev port (%u "
				 "available; devices come from dpdk.eal_args: --vdev=... or -a "
				 "PCI-ADDRESS)", port, rte_eth_dev_count_avail());
	rc = rte_eth_dev_info_get(port, &info);
	if (rc)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u: no device info: %s",
				 port, rte_strerror(-rc));
	if (info.max_rx_queues < nq || info.max_tx_queues < nq)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u (%s) has %u RX and %u TX "
				 "queues, fewer than the %u dataplane workers (server.workers)",
				 port, info.driver_name, info.max_rx_queues, info.max_tx_queues, nq);
	if (c->dpdk_mtu > info.max_mtu || c->dpdk_mtu < info.min_mtu)
		return port_fail(why, msg, sizeof(msg), "dpdk.mtu %u: port %u (%s) takes "
				 "%u..%u", c->dpdk_mtu, port, info.driver_name, info.min_mtu,
				 info.max_mtu);
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = c->dpdk_mtu;
	/*
	 * Each connection must stay on one queue, hence on one worker's
	 * stack: RSS over addresses and ports does that.  The TAP PMD's
	 * queues are the kernel tap's, which spreads flows by their hash
	 * itself.  A device without RSS delivers everything to queue 0,
	 * which is correct but leaves the other workers idle.
	 */
	is_tap = !strcmp(info.driver_name, "net_tap");
	if (nq > 1 && !is_tap && (info.flow_type_rss_offloads & rss)) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & rss;
	} else if (nq > 1 && !is_tap) {
		log_warn("dpdk.port %u (%s) has no RSS: every connection lands on worker 0",
			 port, info.driver_name);
	}
	/* The stack checks checksums in software unless the device did. */
	if ((info.rx_offload_capa & csum) == csum) {
		conf.rxmode.offloads |= csum;
		g.csum = 1;
	}
	/* poll = adaptive sleeps on RX interrupts where the device has them */
	if (c->poll == POLL_ADAPTIVE) {
		conf.intr_conf.rxq = 1;
		rc = rte_eth_dev_configure(port, (uint16_t)nq, (uint16_t)nq, &conf);
		if (rc == 0)
			g.rx_intr = 1;
		else
			conf.intr_conf.rxq = 0;
	}
	if (!g.rx_intr)
		rc = rte_eth_dev_configure(port, (uint16_t)nq, (uint16_t)nq, &conf);
	if (rc < 0)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u (%s): cannot configure "
				 "%u queue pairs: %s", port, info.driver_name, nq, rte_strerror(-rc));
	g.configured = 1;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (rc < 0)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u: descriptor counts: %s",
				 port, rte_strerror(-rc));
	/* Frames up to the MTU plus Ethernet header, VLAN tag and CRC. */
	room = c->dpdk_mtu + RTE_ETHER_HDR_LEN + 4 + RTE_ETHER_CRC_LEN;
	if (room < RTE_MBUF_DEFAULT_DATAROOM)
		room = RTE_MBUF_DEFAULT_DATAROOM;
	socket = rte_eth_dev_socket_id(port); /* SOCKET_ID_ANY for a vdev */
	g.pool = rte_pktmbuf_pool_create("idgate_mbufs", pool_size(nq, nrx, ntx), POOL_CACHE,
					 0, (uint16_t)(room + RTE_PKTMBUF_HEADROOM), socket);
	if (!g.pool)
		return port_fail(why, msg, sizeof(msg), "cannot make the pool of %u mbufs: %s "
				 "(give DPDK more memory: -m in dpdk.eal_args)",
				 pool_size(nq, nrx, ntx), rte_strerror(rte_errno));
	for (unsigned q = 0; q < nq; q++) {
		rc = rte_eth_rx_queue_setup(port, (uint16_t)q, nrx, (unsigned)socket, NULL, g.pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, (uint16_t)q, ntx, (unsigned)socket, NULL);
		if (rc < 0)
			return port_fail(why, msg, sizeof(msg), "dpdk.port %u: cannot set up "
					 "queue %u: %s", port, q, rte_strerror(-rc));
	}
	/* The TAP PMD sets the kernel side's MTU here; 1500 is every
	 * device's default, so only a change has to succeed. */
	rc = rte_eth_dev_set_mtu(port, (uint16_t)c->dpdk_mtu);
	if (rc < 0 && c->dpdk_mtu != RTE_ETHER_MTU)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u (%s): cannot set MTU %u: "
				 "%s", port, info.driver_name, c->dpdk_mtu, rte_strerror(-rc));
	rc = rte_eth_dev_start(port);
	if (rc < 0)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u (%s): cannot start: %s",
				 port, info.driver_name, rte_strerror(-rc));
	g.started = 1;
	rc = rte_eth_macaddr_get(port, &g.mac);
	if (rc < 0)
		return port_fail(why, msg, sizeof(msg), "dpdk.port %u: no MAC address: %s",
				 port, rte_strerror(-rc));
	log_info("DPDK port %u (%s): %u queue pair(s)%s, %u+%u descriptors, MTU %u, MAC "
		 "%02x:%02x:%02x:%02x:%02x:%02x, checksums checked %s", port, info.driver_name,
		 nq, conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? " with RSS" : "", nrx, ntx,
		 c->dpdk_mtu, g.mac.addr_bytes[0], g.mac.addr_bytes[1], g.mac.addr_bytes[2],
		 g.mac.addr_bytes[3], g.mac.addr_bytes[4], g.mac.addr_bytes[5],
		 g.csum ? "by the device" : "in software");
	return IG_OK;
}

int dpdk_global_init(struct server *srv, const char **why)
{
	const struct config *c = &srv->cfg;
	/* EAL may keep pointers into its arguments: static storage. */
	static char args[sizeof(c->dpdk_eal_args)], prog[] = "idgated";
	static char *argv[66];
	static char msg[300];
	char *save = NULL, *t;
	cpu_set_t cpus;
	int argc = 0, have_cpus;

	if (g.eal) {
		*why = "dpdk_global_init called twice";
		return IG_EINTERNAL;
	}
	snprintf(args, sizeof(args), "%s", c->dpdk_eal_args);
	argv[argc++] = prog;
	for (t = strtok_r(args, " \t", &save); t && argc < 65; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	have_cpus = !pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	if (rte_eal_init(argc, argv) < 0)
		return port_fail(why, msg, sizeof(msg), "DPDK's rte_eal_init failed: %s (check "
				 "dpdk.eal_args; DPDK needs root or its devices' capabilities)",
				 rte_strerror(rte_errno));
	g.eal = 1;
	/* It pinned this thread to the main lcore's core, and every thread
	 * started from here (HSM threads, the admin worker) would inherit it;
	 * the dataplane workers pin themselves. */
	if (have_cpus)
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	return port_init(c, srv->nworkers, why);
}

void dpdk_global_free(void)
{
	if (g.started)
		rte_eth_dev_stop(g.port);
	if (g.configured)
		rte_eth_dev_close(g.port); /* frees the RX rings' mbufs */
	rte_mempool_free(g.pool);      /* NULL is a no-op */
	if (g.eal)
		rte_eal_cleanup();
	memset(&g, 0, sizeof(g));
}

/* ---- frames ----------------------------------------------------------- */

/* An IPv4 TCP frame (what dpdk.fault acts on). */
static int is_tcp(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);

	return m->data_len >= US_ETH_HLEN + 20 && f[12] == US_ETHERTYPE_IPV4 >> 8 &&
	       f[13] == (US_ETHERTYPE_IPV4 & 0xff) && f[US_ETH_HLEN + 9] == US_IP_PROTO_TCP;
}

/* splitmix64 (Steele, Lea, Flood): a uniform draw in [0, 1). */
static double fault_draw(struct fault *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* One draw picks at most one action for a frame: FAULT_*, or -1. */
static int fault_pick(struct fault *f)
{
	double r = fault_draw(f);

	if (r < f->p.drop)
		return FAULT_DROP;
	r -= f->p.drop;
	if (r < f->p.dup)
		return FAULT_DUP;
	r -= f->p.dup;
	if (r < f->p.reorder)
		return FAULT_REORDER;
	return -1;
}

static void tx_flush(struct dp *d)
{
	uint16_t sent;

	if (!d->ntx)
		return;
	sent = rte_eth_tx_burst(g.port, d->queue, d->tx, (uint16_t)d->ntx);
	if (sent < d->ntx) {
		/* The TX ring is full: TCP retransmits what mattered. */
		rte_pktmbuf_free_bulk(d->tx + sent, d->ntx - sent);
		d->tx_dropped += d->ntx - sent;
	}
	d->ntx = 0;
}

static void tx_queue(struct dp *d, struct rte_mbuf *m)
{
	d->tx[d->ntx++] = m;
	if (d->ntx == BURST)
		tx_flush(d);
}

/* dpdk.fault's choice for a TCP frame going either way: FAULT_DROP (the
 * frame is freed), FAULT_REORDER (it is now in *held, one frame at a
 * time), FAULT_DUP (the caller passes it twice), or -1: it goes on. */
static int fault_apply(struct fault *f, struct rte_mbuf *m, struct rte_mbuf **held)
{
	int a = fault_pick(f);

	if (a == FAULT_REORDER && *held)
		return -1;
	if (a < 0)
		return a;
	f->n[a]++;
	if (a == FAULT_DROP)
		rte_pktmbuf_free(m);
	else if (a == FAULT_REORDER)
		*held = m;
	return a;
}

/* dpdk.fault on an outgoing frame: 1 when it took the frame (dropped or
 * held back), 0 when the frame goes on (a copy may have gone first). */
static int fault_tx(struct dp *d, struct rte_mbuf *m)
{
	int a = fault_apply(&d->f, m, &d->f.held_tx);

	if (a == FAULT_DUP) {
		struct rte_mbuf *copy = rte_pktmbuf_copy(m, g.pool, 0, UINT32_MAX);

		if (copy)
			tx_queue(d, copy);
	}
	return a == FAULT_DROP || a == FAULT_REORDER;
}

/* A frame held back goes after the next one, or at the end of the turn. */
static void tx_release_held(struct dp *d)
{
	struct rte_mbuf *m = d->f.held_tx;

	if (m) {
		d->f.held_tx = NULL;
		tx_queue(d, m);
	}
}

/* The end of a loop turn: nothing is held back longer, and the batch
 * goes to the device. */
static void tx_end_turn(struct dp *d)
{
	tx_release_held(d);
	tx_flush(d);
}

/* us_ops.tx_alloc: an mbuf's data area, *cap bytes (the stack passes 0;
 * a larger ask than an mbuf holds gets NULL). */
static uint8_t *tx_alloc(void *ctx IG_UNUSED, size_t *cap, void **handle)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g.pool);

	if (!m)
		return NULL;
	if (*cap > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	*cap = rte_pktmbuf_tailroom(m);
	*handle = m;
	return rte_pktmbuf_mtod(m, uint8_t *);
}

/* us_ops.tx_send: into the batch sent at the end of the turn; <len> 0
 * gives the buffer back (the frame could not be built). */
static void tx_send(void *ctx, void *handle, size_t len)
{
	struct dp *d = ctx;
	struct rte_mbuf *m = handle;

	if (!len) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	if (d->f.p.on && is_tcp(m) && fault_tx(d, m))
		return;
	tx_queue(d, m);
	tx_release_held(d);
}

static void rx_input(struct dp *d, struct rte_mbuf *m)
{
	int csum_ok = g.csum &&
		(m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
		(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;

	us_stack_input(d->st, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, csum_ok,
		       d->now_us);
}

/* dpdk.fault on an incoming frame: 1 when it took the frame. */
static int fault_rx(struct dp *d, struct rte_mbuf *m)
{
	int a = fault_apply(&d->f, m, &d->f.held_rx);

	if (a == FAULT_DUP)
		rx_input(d, m); /* and again by the caller */
	return a == FAULT_DROP || a == FAULT_REORDER;
}

static void rx_release_held(struct dp *d)
{
	struct rte_mbuf *m = d->f.held_rx;

	if (m) {
		d->f.held_rx = NULL;
		rx_input(d, m);
		rte_pktmbuf_free(m);
	}
}

/* One burst from the worker's RX queue into its stack: how many frames. */
static unsigned rx(struct dp *d)
{
	struct rte_mbuf *m[BURST];
	uint16_t n = rte_eth_rx_burst(g.port, d->queue, m, BURST);

	for (uint16_t i = 0; i < n; i++) {
		/* Scattered RX is not enabled, so only an oversized frame
		 * comes in pieces: the stack takes contiguous frames. */
		if (m[i]->nb_segs > 1) {
			d->multi_segment++;
			rte_pktmbuf_free(m[i]);
			continue;
		}
		if (d->f.p.on && is_tcp(m[i]) && fault_rx(d, m[i]))
			continue;
		rx_input(d, m[i]);
		rte_pktmbuf_free(m[i]);
		rx_release_held(d);
	}
	rx_release_held(d);
	return n;
}

/* ---- sockets and the connection layer ---------------------------------- */

/* Queue <what> for <c> to run from the worker's loop, outside the
 * connection layer's call; the list holds a reference until then. */
static void defer(struct conn *c, uint8_t what)
{
	struct dp *d = c->w->io;

	if (!c->io_queued) {
		c->refs++;
		c->io_next = NULL;
		if (d->dq_tail)
			d->dq_tail->io_next = c;
		else
			d->dq_head = c;
		d->dq_tail = c;
	}
	c->io_queued |= what;
}

/* Hand c->out to the stack's send queue, as much as fits; the rest goes
 * when the stack calls writable. */
static void sock_write(struct conn *c)
{
	long n = us_sock_write(c->sock, buf_head(&c->out), buf_avail(&c->out));

	if (n < 0) {
		defer(c, DQ_SEND_ERR);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	if (!buf_avail(&c->out))
		defer(c, DQ_SENT);
}

/* Read what the socket holds into the connection layer, while receiving
 * is armed (a lingering conn still reads: conn_input discards it). */
static void sock_read(struct dp *d, struct conn *c)
{
	int eof = 0;

	c->refs++; /* conn_input may close <c> or pause it */
	while (c->recv_armed && c->sock) {
		size_t n = us_sock_read(c->sock, d->rbuf, sizeof(d->rbuf), &eof);

		if (n)
			conn_input(c, d->rbuf, n);
		if (eof) {
			conn_eof(c);
			if (c->recv_armed) {
				c->recv_armed = 0;
				c->refs--;
			}
			break;
		}
		if (!n)
			break;
	}
	c->refs--;
	conn_put(c);
}

/* us_ops.accept: a conn for the new connection, or NULL (refused: the
 * stack resets it). */
static void *on_accept(void *ctx, struct us_sock *s)
{
	struct dp *d = ctx;
	/* Not an fd: a number for the logs; conn.c takes -1 as released. */
	struct conn *c = conn_open(d->w, (int)(d->next_id++ & INT_MAX));
	uint32_t ip;
	uint16_t port;

	if (!c)
		return NULL;
	c->sock = s;
	us_sock_peer(s, &ip, &port);
	c->addr[0] = (uint8_t)(ip >> 24); /* network order, as uring.c keeps it */
	c->addr[1] = (uint8_t)(ip >> 16);
	c->addr[2] = (uint8_t)(ip >> 8);
	c->addr[3] = (uint8_t)ip;
	c->addr_len = 4;
	c->recv_armed = 1;
	c->refs++;
	/* Bytes that came with the handshake's last ACK may wait already. */
	defer(c, DQ_READ);
	return c;
}

/* us_ops.readable; <user> is NULL once the conn closed its socket. */
static void on_readable(void *user)
{
	struct conn *c = user;

	if (c)
		sock_read(c->w->io, c);
}

/* us_ops.writable: go on with a flush that did not fit. */
static void on_writable(void *user)
{
	struct conn *c = user;

	if (c && c->sock && c->send_inflight && buf_avail(&c->out))
		sock_write(c);
}

/* us_ops.error: reset or timed out.  Like a failed receive in uring.c. */
static void on_error(void *user, enum us_err err)
{
	struct conn *c = user;

	if (!c)
		return;
	log_debug("conn %d: %s", c->fd, err == US_ERR_RESET ? "reset by the peer" : "timed out");
	c->refs++;
	conn_close(c); /* ends a lingering conn too; closes the socket */
	if (c->recv_armed) {
		c->recv_armed = 0;
		c->refs--;
	}
	c->refs--;
	conn_put(c);
}

/* One conn's deferred work; ends by dropping the list's reference. */
static void deferred_one(struct dp *d, struct conn *c, uint8_t what)
{
	if (what & DQ_RELEASE) {
		/* Closed: its receive and send are over, as their
		 * completions would say in uring.c. */
		if (c->recv_armed) {
			c->recv_armed = 0;
			c->refs--;
		}
		if (c->send_inflight) {
			c->send_inflight = 0;
			c->refs--;
		}
	}
	if ((what & (DQ_SENT | DQ_SEND_ERR)) && c->send_inflight) {
		/* uring.c's on_send: the send's reference is held until the
		 * end, as what conn_sent does may close the conn. */
		if ((what & DQ_SEND_ERR) || c->closing) {
			c->send_inflight = 0;
			if (!c->closing)
				conn_close(c);
		} else {
			conn_sent(c);
		}
		c->refs--;
	}
	if ((what & DQ_READ) && c->recv_armed && c->sock)
		sock_read(d, c);
	c->refs--;
	conn_put(c);
}

/* Run the deferred work queued so far (work it queues waits for the next
 * call): how many conns. */
static unsigned run_deferred(struct dp *d)
{
	struct conn *c = d->dq_head, *next;
	unsigned n = 0;

	d->dq_head = d->dq_tail = NULL;
	for (; c; c = next, n++) {
		uint8_t what = c->io_queued;

		/* <next> holds its list reference: it outlives <c>'s work. */
		next = c->io_next;
		c->io_queued = 0;
		deferred_one(d, c, what);
	}
	return n;
}

/* ---- io_ops -------------------------------------------------------------- */

static void dpdk_flush(struct conn *c)
{
	c->send_inflight = 1;
	c->refs++;
	if (c->sock)
		sock_write(c);
	else
		defer(c, DQ_SEND_ERR);
}

/*
 * Stop I/O.  A conn whose output is not all in the stack yet (c->out or
 * c->out_next still hold bytes) is reset: its last response is cut short
 * anyway, a reset tells the client so at once, and the stack frees the
 * socket now instead of draining a send queue to a peer that may not read.
 * Otherwise a FIN follows what is queued (a reset if unread bytes remain,
 * as the kernel does at close, which is what io_uring gets).  The
 * references are dropped from the loop: the connection layer is in the
 * middle of a call (conn_close puts after this).
 */
static void dpdk_close(struct conn *c)
{
	struct us_sock *s = c->sock;

	if (s) {
		c->sock = NULL;
		us_sock_set_user(s, NULL);
		if (buf_avail(&c->out) || buf_avail(&c->out_next))
			us_sock_abort(s);
		else
			us_sock_close(s);
	}
	defer(c, DQ_RELEASE);
}

/* FIN after the last response; keep receiving, to see the peer's FIN
 * (the input is discarded). */
static void dpdk_shutdown_write(struct conn *c)
{
	if (!c->sock)
		return;
	us_sock_shutdown(c->sock);
	c->recv_paused = 0;
	if (!c->recv_armed && !c->peer_eof) {
		c->recv_armed = 1;
		c->refs++;
	}
	if (c->recv_armed)
		defer(c, DQ_READ); /* what waits already */
}

/*
 * No reference left.  Only a lingering conn still has its socket here
 * (the peer's FIN ended it, no close came): the stack finishes it.  After
 * run() returned (exit) the whole stack is about to be freed.
 */
static void dpdk_release(struct conn *c)
{
	struct dp *d = c->w->io;

	if (c->sock && !d->stopped) {
		us_sock_set_user(c->sock, NULL);
		us_sock_close(c->sock);
	}
	c->sock = NULL;
	c->fd = -1;
}

/*
 * Pausing leaves the bytes in the stack, whose window then closes: flow
 * control reaches the client.  The connection layer pauses only conns
 * that are not closing, so dropping the receive's reference cannot free
 * this one (conn_close's put does, later).  Resuming reads what waits,
 * from the loop.
 */
static void dpdk_pause_recv(struct conn *c, int pause)
{
	c->recv_paused = (uint8_t)pause;
	if (pause && c->recv_armed) {
		c->recv_armed = 0;
		c->refs--;
	} else if (!pause && !c->recv_armed && !c->closing && !c->peer_eof && c->sock) {
		c->recv_armed = 1;
		c->refs++;
		defer(c, DQ_READ);
	}
}

/* ---- the worker ---------------------------------------------------------- */

static void stack_config(const struct worker *w, struct us_config *uc)
{
	const struct config *c = &w->srv->cfg;
	/* Sockets: open conns, conns closed by us that the stack finishes,
	 * and the half-open. */
	uint64_t socks = 2 * (uint64_t)c->max_conns + c->dpdk_syn_backlog;

	memset(uc, 0, sizeof(*uc));
	uc->ip = c->dpdk_ip;
	memcpy(uc->mac, g.mac.addr_bytes, sizeof(uc->mac));
	uc->port = c->dpdk_tcp_port;
	uc->mtu = (uint16_t)c->dpdk_mtu;
	uc->rcvbuf = c->dpdk_rcvbuf;
	uc->sndbuf = c->dpdk_sndbuf;
	uc->max_socks = socks > UINT32_MAX ? UINT32_MAX : (uint32_t)socks;
	uc->syn_backlog = c->dpdk_syn_backlog;
	uc->time_wait = c->dpdk_time_wait;
	uc->time_wait_ms = c->dpdk_time_wait_ms;
	uc->syn_retries = SYN_RETRIES;
	uc->retries = DATA_RETRIES;
	uc->fin_wait_ms = FIN_WAIT_MS;
}

/* The worker's stack, once it is an lcore. */
static int stack_init(struct worker *w, struct dp *d, const char **why)
{
	static __thread char msg[200]; /* main copies it before the thread ends */
	const struct config *c = &w->srv->cfg;
	struct us_config uc;
	const char *swhy = NULL;

	stack_config(w, &uc);
	if (ig_random(&uc.key, sizeof(uc.key)) != IG_OK) {
		*why = "no random bytes from the kernel";
		return IG_EINTERNAL;
	}
	d->uops = (struct us_ops){
		.ctx = d, .tx_alloc = tx_alloc, .tx_send = tx_send, .accept = on_accept,
		.readable = on_readable, .writable = on_writable, .error = on_error,
	};
	d->st = us_stack_new(&uc, &d->uops, &swhy);
	mbedtls_platform_zeroize(&uc.key, sizeof(uc.key));
	if (!d->st) {
		snprintf(msg, sizeof(msg), "the userspace TCP/IP stack refused its settings: %s",
			 swhy ? swhy : "out of memory");
		*why = msg;
		return IG_EUSAGE;
	}
	if (c->dpdk_fault_spec.on) {
		d->f.p = c->dpdk_fault_spec;
		/* Reproducible, and each worker its own stream. */
		d->f.rng = c->dpdk_fault_spec.seed ^ (0x9e3779b97f4a7c15ull * (w->id + 1));
		log_warn("dpdk.fault is on: TCP frames dropped %g, duplicated %g, reordered %g "
			 "(seed %llu)", d->f.p.drop, d->f.p.dup, d->f.p.reorder,
			 (unsigned long long)d->f.p.seed);
	}
	return IG_OK;
}

static int dpdk_init(struct worker *w, const char **why)
{
	static __thread char msg[200];
	struct dp *d;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d) {
		*why = "out of memory";
		return IG_ENOMEM;
	}
	w->io = d;
	d->w = w;
	d->queue = (uint16_t)w->id;
	if (!g.started) {
		*why = "DPDK is not set up (dpdk_global_init)";
		return IG_EINTERNAL;
	}
	/* The mbuf pool's per-lcore cache, and DPDK's per-thread state,
	 * need the worker to be an lcore. */
	if (rte_thread_register() < 0) {
		snprintf(msg, sizeof(msg), "worker %u cannot become a DPDK lcore: %s", w->id,
			 rte_strerror(rte_errno));
		*why = msg;
		return IG_EINTERNAL;
	}
	rc = stack_init(w, d, why);
	if (rc < 0) {
		rte_thread_unregister(); /* run() will not, and does it in this thread */
		return rc;
	}
	d->intr_fd = -1;
	d->efd = worker_completion_fd(w);
	if (g.rx_intr) {
		d->intr_fd = rte_eth_dev_rx_intr_ctl_q_get_fd(g.port, d->queue);
		if (d->intr_fd < 0)
			log_warn("port %u queue %u: no RX interrupt file descriptor; poll = "
				 "adaptive naps instead", g.port, d->queue);
	}
	log_info("DPDK lcore %u, port %u queue %u%s", rte_lcore_id(), g.port, d->queue,
		 d->intr_fd >= 0 ? ", sleeps on RX interrupts when idle" : "");
	return IG_OK;
}

/* Publish the stack's counters (single-thread data) for the metrics
 * reader, at most every STATS_NS. */
static void publish(struct dp *d)
{
	struct ustack_metrics *m = &d->w->m.us;
	uint64_t v[sizeof(struct us_stats) / sizeof(uint64_t)];

	_Static_assert(sizeof(struct us_stats) <= sizeof(m->us), "ustack_metrics.us is too small");
	if (d->w->now_ns - d->pub_ns < STATS_NS)
		return;
	d->pub_ns = d->w->now_ns;
	memcpy(v, us_stack_stats(d->st), sizeof(v));
	for (size_t i = 0; i < IG_ARRAY_LEN(v); i++)
		M_SET(m->us[i], v[i]);
	M_SET(m->multi_segment, d->multi_segment);
	M_SET(m->tx_dropped, d->tx_dropped);
	for (int a = 0; a < FAULT_COUNT; a++)
		M_SET(m->fault[a], d->f.n[a]);
	M_SET(m->socks, us_stack_socks(d->st));
	M_SET(m->time_waits, us_stack_time_waits(d->st));
	M_SET(m->buffer_bytes, us_stack_buffer_bytes(d->st));
}

/* poll = adaptive, idle: sleep until the stack's or the connection
 * layer's next deadline.  With RX interrupts, in ppoll(2) on the queue's
 * interrupt and the HSM engine's eventfd, so a frame or a completion wakes
 * the worker at once; without, in naps of 1 ms at most (frames arriving
 * meanwhile wait). */
static void nap(struct dp *d)
{
	struct worker *w = d->w;
	uint64_t next_us = us_stack_next_us(d->st), dl = worker_next_deadline(w);
	uint64_t wait = SLEEP_MAX_MS * 1000000ull;
	struct timespec ts;
	int armed = -1;

	if (d->dq_head || d->ntx)
		return; /* work for the next turn */
	if (next_us != UINT64_MAX) {
		if (next_us * 1000 <= w->now_ns)
			return;
		if (next_us * 1000 - w->now_ns < wait)
			wait = next_us * 1000 - w->now_ns;
	}
	if (dl != UINT64_MAX) {
		if (dl <= w->now_ns)
			return;
		if (dl - w->now_ns < wait)
			wait = dl - w->now_ns;
	}
	/* The TAP PMD's interrupt is its queue's file descriptor, readable
	 * while frames wait: nothing to arm (it says -ENOTSUP). */
	if (d->intr_fd >= 0)
		armed = rte_eth_dev_rx_intr_enable(g.port, d->queue);
	if (armed != 0 && armed != -ENOTSUP && wait > NAP_MAX_NS)
		wait = NAP_MAX_NS;
	ts.tv_sec = (time_t)(wait / 1000000000ull);
	ts.tv_nsec = (long)(wait % 1000000000ull);
	if (armed == 0 || armed == -ENOTSUP) {
		struct pollfd p[2] = { { d->intr_fd, POLLIN, 0 }, { d->efd, POLLIN, 0 } };

		/* A frame that came before the interrupt was armed is taken
		 * now: it would not raise one.  The TAP PMD reads its queue
		 * only after its SIGIO handler ran, on whichever thread the
		 * kernel gave the signal: when a frame woke us and the PMD
		 * still reads nothing, yield so that thread can run (on a
		 * shared core it would wait for the end of our time slice). */
		if (!rx(d) && ppoll(p, 2, &ts, NULL) > 0 && (p[0].revents & POLLIN) && !rx(d))
			sched_yield();
		if (armed == 0)
			rte_eth_dev_rx_intr_disable(g.port, d->queue);
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(d->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("completion eventfd: %s", strerror(errno));
		}
		return;
	}
	nanosleep(&ts, NULL);
}

static void dpdk_run(struct worker *w)
{
	struct dp *d = w->io;
	int adaptive = w->srv->cfg.poll == POLL_ADAPTIVE;
	uint64_t busy_ns = 0;   /* when the last turn with work ended */

	while (!w->srv->stopping) {
		unsigned work;

		worker_clock(w);
		d->now_us = w->now_ns / 1000;
		work = rx(d);
		work += worker_reap(w); /* polled; the eventfd is read after a nap */
		us_stack_poll(d->st, d->now_us);
		if (d->dq_head) {
			work += run_deferred(d);
			/* What the connection layer has just written goes out
			 * in this turn if the stack has something due. */
			if (us_stack_next_us(d->st) <= d->now_us) {
				us_stack_poll(d->st, d->now_us);
				run_deferred(d);
			}
		}
		tx_end_turn(d);
		worker_tick(w);
		tx_end_turn(d); /* what its timeouts sent (a 408, FINs, resets) */
		publish(d);
		if (work)
			busy_ns = w->now_ns;
		else if (adaptive && w->now_ns - busy_ns > ADAPTIVE_SPIN_NS)
			nap(d);
	}
	tx_end_turn(d);
	d->stopped = 1;
	rte_thread_unregister();
}

/* At exit, from main's thread, after run() returned (or init failed). */
static void dpdk_free(struct worker *w)
{
	struct dp *d = w->io;

	if (!d)
		return;
	d->stopped = 1;
	if (d->st)
		us_stack_free(d->st);
	if (d->ntx)
		rte_pktmbuf_free_bulk(d->tx, d->ntx);
	rte_pktmbuf_free(d->f.held_tx); /* NULL is a no-op */
	rte_pktmbuf_free(d->f.held_rx);
	free(d);
	w->io = NULL;
}

const struct io_ops dpdk_ops = {
	.name = "dpdk",
	.init = dpdk_init,
	.run = dpdk_run,
	.free = dpdk_free,
	.flush = dpdk_flush,
	.close = dpdk_close,
	.release = dpdk_release,
	.shutdown_write = dpdk_shutdown_write,
	.pause_recv = dpdk_pause_recv,
};

#endif /* DPDK */
