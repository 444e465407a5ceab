/*
 * ustack_stack_test.c - the userspace stack's TCP state machine, driven by
 * segments built here and checked by parsing what it sends: the handshake
 * and its options, data both ways, both closes (and TIME_WAIT), SYN
 * cookies, retransmission timeouts and giving up, fast retransmit, the
 * zero-window probe, RFC 5961's challenge ACKs, resets, segments for no
 * connection, out-of-order data with SACK, ARP and ICMP echo, 10,000
 * connections leaving nothing behind, and a lossy, reordering,
 * duplicating link in both directions with byte-exact transfers.
 */
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/ustack/stack.h"
#include "check.h"

#define SRV_IP 0xc6120002u      /* 198.18.0.2 */
#define CLI_IP 0xc6120001u
#define PORT 8443
#define MAXF 512

static const uint8_t srv_mac[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t cli_mac[6] = { 2, 0, 0, 0, 0, 1 };

/* ---- the device: frames the stack sends ---------------------------------- */

static uint8_t fbuf[MAXF][2048];
static size_t flen[MAXF];
static int nf, nofree;

static uint8_t *tx_alloc(void *ctx, size_t *cap, void **h)
{
	if (nf == MAXF || nofree)
		return NULL;
	*cap = sizeof(fbuf[0]);
	*h = (void *)(intptr_t)nf;
	return fbuf[nf];
}

static void tx_send(void *ctx, void *h, size_t len)
{
	if (len)
		flen[nf++] = len;
}

/* ---- the application ------------------------------------------------------- */

struct app {
	struct us_sock *s;
	uint8_t in[1 << 20];
	size_t nin;
	int eof, err, writable, accepts;
	int refuse;
	int echo;               /* write back what arrives */
	int hold;               /* read nothing */
	int abort_on_read;      /* abort the socket when data arrives */
	size_t echoed;
	const uint8_t *out;     /* bytes still to write */
	size_t nout;
};
static struct app apps[4];
static int napp, refuse_all, abort_next_read;

static void app_push(struct app *a)
{
	while (a->echo && a->echoed < a->nin) {
		long n = us_sock_write(a->s, a->in + a->echoed, a->nin - a->echoed);

		if (n <= 0)
			break;
		a->echoed += (size_t)n;
	}
	while (a->nout) {
		long n = us_sock_write(a->s, a->out, a->nout);

		if (n <= 0)
			break;
		a->out += n;
		a->nout -= (size_t)n;
	}
}

static void *on_accept(void *ctx, struct us_sock *s)
{
	struct app *a;

	if (refuse_all)
		return NULL;
	a = &apps[napp++ % 4];
	memset(a, 0, sizeof(*a));
	a->s = s;
	a->accepts = 1;
	return a;
}

static void on_readable(void *user)
{
	struct app *a = user;
	int eof;

	if (a->hold)
		return;
	if (abort_next_read) {
		us_sock_abort(a->s);
		a->s = NULL;
		return;
	}
	for (;;) {
		size_t room = sizeof(a->in) - a->nin;
		size_t n = us_sock_read(a->s, a->in + a->nin, room > 3000 ? 3000 : room, &eof);

		if (!n) {
			a->eof |= eof;
			break;
		}
		a->nin += n;
	}
	app_push(a);    /* echo what the send queue takes; the rest when writable */
}

static void on_writable(void *user)
{
	struct app *a = user;

	a->writable++;
	app_push(a);
}

static void on_error(void *user, enum us_err err)
{
	((struct app *)user)->err = (int)err;
}

static struct us_config base_cfg(void)
{
	struct us_config c;

	memset(&c, 0, sizeof(c));
	c.ip = SRV_IP;
	memcpy(c.mac, srv_mac, 6);
	c.port = PORT;
	c.mtu = 1500;
	c.rcvbuf = 65536;
	c.sndbuf = 65536;
	c.max_socks = 16;
	c.syn_backlog = 8;
	c.time_wait = 8;
	c.time_wait_ms = 60000;
	c.syn_retries = 3;
	c.retries = 5;
	c.fin_wait_ms = 30000;
	c.key.k0 = 0x0123456789abcdefull;
	c.key.k1 = 0xfedcba9876543210ull;
	return c;
}

static struct us_stack *new_stack(const struct us_config *c)
{
	static const struct us_ops ops = { NULL, tx_alloc, tx_send, on_accept, on_readable,
					   on_writable, on_error };
	const char *why;
	struct us_stack *st = us_stack_new(c, &ops, &why);

	CHECK(st != NULL);
	napp = 0;
	nf = 0;
	return st;
}

/* ---- the client: segments in ---------------------------------------------- */

struct cli {
	uint16_t port;
	uint32_t seq;           /* next to send */
	uint32_t ack;           /* next expected */
	uint32_t iss;
	int ts;
};

static uint64_t now = 1000000000ull;
static uint32_t echo_ts;        /* the server's last tsval, echoed */
static uint16_t cli_mss = 1460; /* the MSS the client's SYN offers */

static void cli_send(struct us_stack *st, struct cli *c, uint8_t flags, uint32_t seq,
		     uint32_t ack, const void *data, size_t len, uint16_t win)
{
	struct us_tcp_out o;
	uint8_t frame[2048];
	size_t n;

	memset(&o, 0, sizeof(o));
	memcpy(o.src_mac, cli_mac, 6);
	memcpy(o.dst_mac, srv_mac, 6);
	o.src_ip = CLI_IP;
	o.dst_ip = SRV_IP;
	o.sport = c->port;
	o.dport = PORT;
	o.seq = seq;
	o.ack = ack;
	o.flags = flags;
	o.win = win;
	o.ws = -1;
	if (flags & US_TCP_SYN) {
		o.mss = cli_mss;
		o.ws = 7;
		o.sack_ok = 1;
	}
	if (c->ts) {
		o.has_ts = 1;
		o.tsval = (uint32_t)(now / 1000);
		o.tsecr = echo_ts;
	}
	o.data = data;
	o.data_len = len;
	n = us_build_tcp(frame, sizeof(frame), &o);
	CHECK(n > 0);
	us_stack_input(st, frame, n, 0, now);
}

/* The frames sent since the last call, parsed (they must parse). */
static int take(struct us_pkt *p, int max)
{
	int k = 0;

	for (int i = 0; i < nf && k < max; i++) {
		int r = us_parse(fbuf[i], flen[i], 0, &p[k]);

		CHECK(r == US_KIND_TCP || r == US_KIND_ARP || r == US_KIND_ICMP);
		if (r > 0)
			k++;
	}
	nf = 0;
	return k;
}

/* Handshake as client <port>; the socket's app. */
static struct app *connect_cli(struct us_stack *st, struct cli *c, uint16_t port, int ts)
{
	struct us_pkt p[8];
	int n;

	memset(c, 0, sizeof(*c));
	c->port = port;
	c->iss = 1000u * port + 4000000000u;
	c->ts = ts;
	cli_send(st, c, US_TCP_SYN, c->iss, 0, NULL, 0, 65535);
	n = take(p, 8);
	CHECK_EQ(n, 1);
	if (n != 1)
		return NULL;
	CHECK_EQ(p[0].flags, US_TCP_SYN | US_TCP_ACK);
	CHECK_EQ(p[0].ack, c->iss + 1);
	c->seq = c->iss + 1;
	c->ack = p[0].seq + 1;
	cli_send(st, c, US_TCP_ACK, c->seq, c->ack, NULL, 0, 1024); /* 128 KiB */
	CHECK_EQ(take(p, 8), 0);
	return napp ? &apps[(napp - 1) % 4] : NULL;
}

/* ---- the tests ---------------------------------------------------------------- */

static void test_handshake_data_and_peer_close(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[8];
	struct cli c;
	struct app *a;
	int n;

	memset(&c, 0, sizeof(c));
	c.port = 40000;
	c.ts = 1;
	cli_send(st, &c, US_TCP_SYN, 777, 0, NULL, 0, 65535);
	n = take(p, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(p[0].flags, US_TCP_SYN | US_TCP_ACK);
	CHECK_EQ(p[0].ack, 778);
	CHECK_EQ(p[0].opt.mss, 1460);
	CHECK(p[0].opt.has_ws && p[0].opt.ws == 1);     /* 64 KiB needs a shift of 1 */
	CHECK(p[0].opt.sack_ok && p[0].opt.has_ts);
	CHECK_EQ(p[0].opt.tsecr, (uint32_t)(now / 1000));
	CHECK_EQ(us_stack_socks(st), 1);
	CHECK_EQ(us_stack_buffer_bytes(st), 0);         /* half-open: no buffers */
	c.seq = 778;
	c.ack = p[0].seq + 1;
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 512); /* 512 << 7 */
	CHECK_EQ(napp, 1);
	a = &apps[0];
	CHECK_EQ(us_sock_state(a->s), US_ESTABLISHED);
	CHECK_EQ(us_stack_buffer_bytes(st), 131072);
	{
		uint32_t ip;
		uint16_t port;

		us_sock_peer(a->s, &ip, &port);
		CHECK(ip == CLI_IP && port == 40000);
	}
	/* a request in, its ACK after the batch */
	cli_send(st, &c, US_TCP_ACK | US_TCP_PSH, c.seq, c.ack, "GET / HTTP/1.1\r\n\r\n", 18, 512);
	c.seq += 18;
	CHECK_EQ(a->nin, 18);
	CHECK(!memcmp(a->in, "GET / HTTP/1.1\r\n\r\n", 18));
	CHECK_EQ(take(p, 8), 0);
	us_stack_poll(st, now);
	n = take(p, 8);
	CHECK_EQ(n, 1);
	CHECK(p[0].ack == c.seq && !p[0].data_len);
	/* a response: 3000 bytes in three segments (1448 with timestamps) */
	{
		static uint8_t resp[3000];

		for (int i = 0; i < 3000; i++)
			resp[i] = (uint8_t)i;
		CHECK_EQ(us_sock_write(a->s, resp, 3000), 3000);
		n = take(p, 8);
		CHECK_EQ(n, 3);
		CHECK(p[0].seq == c.ack && p[0].data_len == 1448 && p[0].ack == c.seq);
		CHECK(p[1].seq == c.ack + 1448 && p[2].data_len == 3000 - 2 * 1448);
		CHECK(!memcmp(p[1].data, resp + 1448, 1448));
		c.ack += 3000;
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 512);
	}
	/* the peer closes: EOF, CLOSE_WAIT, our FIN on close, LAST_ACK, gone */
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack, NULL, 0, 512);
	c.seq++;
	CHECK(a->eof);
	CHECK_EQ(us_sock_state(a->s), US_CLOSE_WAIT);
	n = take(p, 8);
	CHECK(n == 1 && p[0].ack == c.seq);
	us_sock_close(a->s);
	n = take(p, 8);
	CHECK(n == 1 && (p[0].flags & US_TCP_FIN) && p[0].seq == c.ack);
	CHECK_EQ(us_stack_socks(st), 1);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 1, NULL, 0, 512);
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_time_waits(st), 0);
	CHECK_EQ(us_stack_buffer_bytes(st), 0);
	CHECK_EQ(us_stack_stats(st)->accepted, 1);
	us_stack_free(st);
}

static void test_our_close_and_time_wait(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[8];
	struct cli c;
	struct app *a;
	int n;

	cfg.time_wait_ms = 5000;
	st = new_stack(&cfg);
	a = connect_cli(st, &c, 40001, 0);
	CHECK(a != NULL);
	CHECK_EQ(us_sock_write(a->s, "bye", 3), 3);
	us_sock_shutdown(a->s);
	CHECK_EQ(us_sock_write(a->s, "more", 4), -1);   /* shut down */
	n = take(p, 8);
	/* the data, then the FIN alone (it was queued after the send) */
	CHECK(n == 2 && p[0].data_len == 3 && (p[1].flags & US_TCP_FIN) &&
	      p[1].seq == c.ack + 3);
	CHECK_EQ(us_sock_state(a->s), US_FIN_WAIT_1);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 4, NULL, 0, 1024);
	CHECK_EQ(us_sock_state(a->s), US_FIN_WAIT_2);
	c.ack += 4;
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack, NULL, 0, 1024);
	c.seq++;
	CHECK(a->eof);
	CHECK_EQ(us_sock_state(a->s), US_TIME_WAIT);
	n = take(p, 8);
	CHECK(n == 1 && p[0].ack == c.seq);
	us_sock_close(a->s);
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_time_waits(st), 1);
	CHECK_EQ(us_stack_buffer_bytes(st), 0);
	/* a retransmitted FIN is answered from the record */
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq - 1, c.ack, NULL, 0, 1024);
	n = take(p, 8);
	CHECK(n == 1 && p[0].flags == US_TCP_ACK && p[0].ack == c.seq && p[0].seq == c.ack);
	/* a reset does not end it (RFC 1337) */
	cli_send(st, &c, US_TCP_RST, c.seq, 0, NULL, 0, 0);
	CHECK_EQ(us_stack_time_waits(st), 1);
	/* a new SYN above the old sequence starts a new connection */
	cli_send(st, &c, US_TCP_SYN, c.seq + 100000, 0, NULL, 0, 65535);
	n = take(p, 8);
	CHECK(n == 1 && p[0].flags == (US_TCP_SYN | US_TCP_ACK));
	CHECK_EQ(us_stack_socks(st), 1);
	/* ... which times out half-open: SYN-ACKs again, then forgotten */
	for (int i = 0; i < 40 && us_stack_socks(st); i++) {
		now += 1000000;
		us_stack_poll(st, now);
	}
	CHECK_EQ(us_stack_socks(st), 0);
	n = take(p, 8);
	CHECK_EQ(n, 3);                 /* syn_retries */
	/* the record expires */
	now += 6000000;
	us_stack_poll(st, now);
	CHECK_EQ(us_stack_time_waits(st), 0);
	us_stack_free(st);
}

static void test_time_wait_bounded(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[8];
	struct cli c;

	/* ten server-closed connections into 8 records: the oldest go */
	for (int i = 0; i < 10; i++) {
		struct app *a = connect_cli(st, &c, (uint16_t)(41000 + i), 0);

		us_sock_close(a->s);
		take(p, 8);
		cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack + 1, NULL, 0, 1024);
		take(p, 8);
	}
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_time_waits(st), 8);
	CHECK_EQ(us_stack_stats(st)->time_wait_recycled, 2);
	us_stack_free(st);
}

static void test_syn_cookies(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[8];
	struct cli c;
	int n;

	cfg.syn_backlog = 0;
	st = new_stack(&cfg);
	memset(&c, 0, sizeof(c));
	c.port = 42000;
	cli_send(st, &c, US_TCP_SYN, 5000, 0, NULL, 0, 65535);
	n = take(p, 8);
	CHECK(n == 1 && p[0].flags == (US_TCP_SYN | US_TCP_ACK));
	CHECK(p[0].opt.mss == 1460 && !p[0].opt.has_ws && !p[0].opt.sack_ok);
	CHECK_EQ(us_stack_socks(st), 0);                /* nothing kept */
	CHECK_EQ(us_stack_stats(st)->syn_cookies_sent, 1);
	/* a forged final ACK: a reset, no socket */
	cli_send(st, &c, US_TCP_ACK, 5001, p[0].seq + 2, NULL, 0, 1024);
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_stats(st)->cookies_bad, 1);
	{
		struct us_pkt r[8];

		CHECK(take(r, 8) == 1 && r[0].flags == US_TCP_RST);
	}
	/* the real one, carrying the request */
	cli_send(st, &c, US_TCP_ACK | US_TCP_PSH, 5001, p[0].seq + 1, "hi", 2, 65535);
	CHECK_EQ(us_stack_socks(st), 1);
	CHECK_EQ(us_stack_stats(st)->cookies_ok, 1);
	CHECK(napp == 1 && apps[0].nin == 2);
	/* the cookie's MSS holds: 1460 without timestamps */
	{
		static uint8_t big[4000];

		CHECK_EQ(us_sock_write(apps[0].s, big, 4000), 4000);
		n = take(p, 8);
		CHECK(n == 3 && p[0].data_len == 1460);
	}
	us_sock_abort(apps[0].s);
	CHECK_EQ(us_stack_socks(st), 0);
	us_stack_free(st);
}

static void test_retransmission_and_giving_up(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 43000, 0);
	static uint8_t data[5000];
	int n, rounds = 0;

	for (int i = 0; i < 5000; i++)
		data[i] = (uint8_t)(i * 7);
	CHECK_EQ(us_sock_write(a->s, data, 5000), 5000);
	CHECK_EQ(take(p, 16), 4);
	/* the first segment is lost; the timer resends it alone */
	now += 1100000;
	us_stack_poll(st, now);
	n = take(p, 16);
	CHECK(n == 1 && p[0].seq == c.ack && p[0].data_len == 1460);
	CHECK(!memcmp(p[0].data, data, 1460));
	CHECK_EQ(us_stack_stats(st)->timeouts, 1);
	/* its ACK brings the rest again (go-back-N, slow start) */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 1460, NULL, 0, 1024);
	n = take(p, 16);
	CHECK(n == 2 && p[0].seq == c.ack + 1460 && p[1].seq == c.ack + 2920);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 5000, NULL, 0, 1024);
	n = take(p, 16);
	CHECK_EQ(n, 0);
	c.ack += 5000;
	/* a peer that never answers: backoff, then a reset and an error */
	CHECK_EQ(us_sock_write(a->s, data, 100), 100);
	take(p, 16);
	while (!a->err && rounds++ < 100) {
		now += 1000000;
		us_stack_poll(st, now);
		take(p, 16);
	}
	CHECK_EQ(a->err, US_ERR_TIMEOUT);
	CHECK(rounds > 10);             /* 0.2 + 0.4 + ... + 6.4 s at least */
	CHECK_EQ(us_stack_stats(st)->sock_timeouts, 1);
	{
		uint8_t b[8];
		int eof;

		CHECK_EQ(us_sock_read(a->s, b, 8, &eof), 0);
		CHECK(eof);
		CHECK_EQ(us_sock_write(a->s, b, 8), -1);
	}
	us_sock_close(a->s);
	CHECK_EQ(us_stack_socks(st), 0);
	us_stack_free(st);
}

static void test_fast_retransmit(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 43001, 0);
	static uint8_t data[8 * 1460];
	int n;

	CHECK_EQ(us_sock_write(a->s, data, sizeof(data)), (long)sizeof(data));
	CHECK_EQ(take(p, 16), 8);
	/* segment 2 lost: ACK of 1, then three duplicates */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 1460, NULL, 0, 1024);
	take(p, 16);
	for (int i = 0; i < 3; i++)
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 1460, NULL, 0, 1024);
	n = take(p, 16);
	CHECK(n >= 1 && p[0].seq == c.ack + 1460 && p[0].data_len == 1460);
	CHECK_EQ(us_stack_stats(st)->fast_retransmits, 1);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + sizeof(data), NULL, 0, 1024);
	take(p, 16);
	us_sock_abort(a->s);
	us_stack_free(st);
}

static void test_zero_window_probe(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 43002, 0);
	int n;

	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 0);     /* window 0 */
	CHECK_EQ(us_sock_write(a->s, "abcdef", 6), 6);
	CHECK_EQ(take(p, 16), 0);
	now += 1100000;
	us_stack_poll(st, now);
	n = take(p, 16);
	CHECK(n == 1 && p[0].seq == c.ack - 1 && !p[0].data_len);
	CHECK_EQ(us_stack_stats(st)->zero_window_probes, 1);
	/* the probe's answer, still zero: probing goes on, no error */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 0);
	for (int i = 0; i < 12; i++) {
		now += 60000000;
		us_stack_poll(st, now);
		take(p, 16);
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 0);
	}
	CHECK(!a->err);
	/* the window opens: the data goes */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 100);
	n = take(p, 16);
	CHECK(n == 1 && p[0].data_len == 6 && !memcmp(p[0].data, "abcdef", 6));
	/* a window smaller than the data, nothing in flight: it is filled
	 * (one unit of window is 128 bytes: scale 7) */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 6, NULL, 0, 0);
	c.ack += 6;
	{
		static uint8_t big[300];

		CHECK_EQ(us_sock_write(a->s, big, 300), 300);
	}
	CHECK_EQ(take(p, 16), 0);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 1);
	n = take(p, 16);
	CHECK(n == 1 && p[0].data_len == 128);
	us_sock_abort(a->s);
	us_stack_free(st);
}

static void test_rfc5961_and_resets(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 44000, 0);
	int n;

	/* data far outside the window: an ACK, nothing taken */
	cli_send(st, &c, US_TCP_ACK, c.seq + 1000000, c.ack, "x", 1, 1024);
	n = take(p, 16);
	CHECK(n == 1 && p[0].ack == c.seq && !p[0].data_len);
	CHECK_EQ(a->nin, 0);
	CHECK_EQ(us_stack_stats(st)->out_of_window, 1);
	/* an ACK of what was never sent: an ACK back, dropped */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 5000, "y", 1, 1024);
	n = take(p, 16);
	CHECK(n == 1 && p[0].ack == c.seq);
	CHECK_EQ(a->nin, 0);
	CHECK_EQ(us_stack_stats(st)->bad_ack, 1);
	/* a reset inside the window but not exact: a challenge ACK */
	cli_send(st, &c, US_TCP_RST, c.seq + 10, 0, NULL, 0, 0);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_ACK && p[0].ack == c.seq);
	CHECK_EQ(us_stack_stats(st)->challenge_acks, 1);
	CHECK(!a->err);
	/* a SYN on the connection: a challenge ACK */
	cli_send(st, &c, US_TCP_SYN, c.seq + 5, 0, NULL, 0, 1024);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_ACK);
	CHECK_EQ(us_stack_stats(st)->challenge_acks, 2);
	CHECK_EQ(us_sock_state(a->s), US_ESTABLISHED);
	/* a reset outside the window: ignored */
	cli_send(st, &c, US_TCP_RST, c.seq - 100000, 0, NULL, 0, 0);
	CHECK_EQ(take(p, 16), 0);
	CHECK(!a->err);
	/* the exact reset: the application hears of it */
	cli_send(st, &c, US_TCP_RST, c.seq, 0, NULL, 0, 0);
	CHECK_EQ(a->err, US_ERR_RESET);
	CHECK_EQ(us_sock_state(a->s), US_CLOSED);
	us_sock_close(a->s);
	CHECK_EQ(us_stack_socks(st), 0);
	/* a reset while half-open frees it silently */
	memset(&c, 0, sizeof(c));
	c.port = 44001;
	cli_send(st, &c, US_TCP_SYN, 9000, 0, NULL, 0, 65535);
	take(p, 16);
	CHECK_EQ(us_stack_socks(st), 1);
	cli_send(st, &c, US_TCP_RST, 9001, 0, NULL, 0, 0);
	CHECK_EQ(us_stack_socks(st), 0);
	/* a wrong final ACK in SYN_RCVD: a reset, the socket stays */
	cli_send(st, &c, US_TCP_SYN, 9100, 0, NULL, 0, 65535);
	take(p, 16);
	cli_send(st, &c, US_TCP_ACK, 9101, 12345, NULL, 0, 1024);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_RST && p[0].seq == 12345);
	CHECK_EQ(us_stack_socks(st), 1);
	/* a retransmitted SYN gets the SYN-ACK again */
	cli_send(st, &c, US_TCP_SYN, 9100, 0, NULL, 0, 65535);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == (US_TCP_SYN | US_TCP_ACK) && p[0].ack == 9101);
	us_stack_free(st);
}

static void test_no_connection(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	int n;

	memset(&c, 0, sizeof(c));
	c.port = 45000;
	/* another port: RST|ACK acknowledging the SYN */
	{
		struct us_tcp_out o;
		uint8_t frame[256];
		size_t len;

		memset(&o, 0, sizeof(o));
		memcpy(o.src_mac, cli_mac, 6);
		memcpy(o.dst_mac, srv_mac, 6);
		o.src_ip = CLI_IP;
		o.dst_ip = SRV_IP;
		o.sport = 45000;
		o.dport = 80;
		o.seq = 100;
		o.flags = US_TCP_SYN;
		o.ws = -1;
		len = us_build_tcp(frame, sizeof(frame), &o);
		us_stack_input(st, frame, len, 0, now);
		n = take(p, 16);
		CHECK(n == 1 && p[0].flags == (US_TCP_RST | US_TCP_ACK) && p[0].ack == 101);
		/* another address: dropped, counted */
		o.dst_ip = SRV_IP + 1;
		len = us_build_tcp(frame, sizeof(frame), &o);
		us_stack_input(st, frame, len, 0, now);
		CHECK_EQ(take(p, 16), 0);
		CHECK_EQ(us_stack_stats(st)->drop_not_ours, 1);
		/* a bad checksum: dropped, counted */
		o.dst_ip = SRV_IP;
		len = us_build_tcp(frame, sizeof(frame), &o);
		frame[len - 1] ^= 1;
		us_stack_input(st, frame, len, 0, now);
		CHECK_EQ(take(p, 16), 0);
		CHECK_EQ(us_stack_stats(st)->drop[US_DROP_TCP_CSUM], 1);
	}
	CHECK_EQ(us_stack_stats(st)->port_closed, 1);
	/* an ACK, a FIN for nothing: reset from its ack number */
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, 1, 777, NULL, 0, 100);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_RST && p[0].seq == 777);
	/* a reset for nothing: nothing */
	cli_send(st, &c, US_TCP_RST, 1, 0, NULL, 0, 0);
	CHECK_EQ(take(p, 16), 0);
	/* a SYN-ACK for nothing: reset */
	cli_send(st, &c, US_TCP_SYN | US_TCP_ACK, 1, 55, NULL, 0, 100);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_RST && p[0].seq == 55);
	CHECK_EQ(us_stack_socks(st), 0);
	us_stack_free(st);
}

static void test_refused_and_full(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[16];
	struct cli c;
	int n;

	cfg.max_socks = 2;
	st = new_stack(&cfg);
	/* the application refuses: a reset after the handshake */
	refuse_all = 1;
	memset(&c, 0, sizeof(c));
	c.port = 46000;
	cli_send(st, &c, US_TCP_SYN, 1, 0, NULL, 0, 65535);
	n = take(p, 16);
	cli_send(st, &c, US_TCP_ACK, 2, p[0].seq + 1, NULL, 0, 100);
	refuse_all = 0;
	n = take(p, 16);
	CHECK(n == 1 && (p[0].flags & US_TCP_RST));
	CHECK_EQ(us_stack_stats(st)->refused, 1);
	CHECK_EQ(us_stack_socks(st), 0);
	/* two sockets, then a SYN gets a cookie; its ACK finds no socket */
	connect_cli(st, &c, 46001, 0);
	connect_cli(st, &c, 46002, 0);
	CHECK_EQ(us_stack_socks(st), 2);
	memset(&c, 0, sizeof(c));
	c.port = 46003;
	cli_send(st, &c, US_TCP_SYN, 1, 0, NULL, 0, 65535);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == (US_TCP_SYN | US_TCP_ACK));
	cli_send(st, &c, US_TCP_ACK, 2, p[0].seq + 1, NULL, 0, 100);
	n = take(p, 16);
	CHECK(n == 1 && p[0].flags == US_TCP_RST);
	CHECK_EQ(us_stack_stats(st)->syn_dropped, 1);
	CHECK_EQ(us_stack_socks(st), 2);
	/* no transmit buffer: nothing sent, counted, the timer resends */
	nofree = 1;
	CHECK_EQ(us_sock_write(apps[1].s, "z", 1), 1);
	nofree = 0;
	CHECK(us_stack_stats(st)->tx_nobuf >= 1);
	now += 1100000;
	us_stack_poll(st, now);
	n = take(p, 16);
	CHECK(n == 1 && p[0].data_len == 1 && p[0].data[0] == 'z');
	us_stack_free(st);
}

static void test_out_of_order_and_sack(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 47000, 0);
	int n;

	/* bytes 10..19 first: a duplicate ACK with a SACK block */
	cli_send(st, &c, US_TCP_ACK, c.seq + 10, c.ack, "KLMNOPQRST", 10, 1024);
	n = take(p, 16);
	CHECK(n == 1 && p[0].ack == c.seq && p[0].opt.nsack == 1);
	CHECK(p[0].opt.sack[0][0] == c.seq + 10 && p[0].opt.sack[0][1] == c.seq + 20);
	CHECK_EQ(a->nin, 0);
	CHECK_EQ(us_stack_stats(st)->ooo_segments, 1);
	/* the FIN early, then the gap: all of it, then EOF */
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq + 20, c.ack, "UV", 2, 1024);
	take(p, 16);
	CHECK(!a->eof);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, "ABCDEFGHIJ", 10, 1024);
	CHECK_EQ(a->nin, 22);
	CHECK(!memcmp(a->in, "ABCDEFGHIJKLMNOPQRSTUV", 22));
	CHECK(a->eof);
	n = take(p, 16);
	CHECK(n >= 1 && p[n - 1].ack == c.seq + 23 && !p[n - 1].opt.nsack);
	/* a duplicate of old data: counted, ACKed */
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, "ABC", 3, 1024);
	CHECK_EQ(take(p, 16), 1);
	CHECK_EQ(a->nin, 22);
	us_sock_close(a->s);
	us_stack_free(st);
}

static void test_arp_and_icmp(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	uint8_t frame[128];
	struct us_pkt p[4];
	size_t len;

	/* an ARP request for us (built as a request from the client) */
	len = us_build_arp_request(frame, sizeof(frame), cli_mac, CLI_IP, SRV_IP);
	us_stack_input(st, frame, len, 0, now);
	CHECK_EQ(take(p, 4), 1);
	CHECK(p[0].arp_op == 2 && p[0].arp_spa == SRV_IP && !memcmp(p[0].arp_sha, srv_mac, 6));
	/* for someone else: no answer */
	len = us_build_arp_request(frame, sizeof(frame), cli_mac, CLI_IP, SRV_IP + 5);
	us_stack_input(st, frame, len, 0, now);
	CHECK_EQ(take(p, 4), 0);
	CHECK_EQ(us_stack_stats(st)->arp_replies, 1);
	/* an echo request */
	{
		static const uint8_t req[] = {
			/* ethernet */
			2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
			/* ipv4: 20 + 12, ttl 64, icmp, checksum below */
			0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 1, 0, 0,
			198, 18, 0, 1, 198, 18, 0, 2,
			/* icmp echo, id 7 seq 1, "ping" */
			8, 0, 0, 0, 0, 7, 0, 1, 'p', 'i', 'n', 'g',
		};
		uint8_t f[sizeof(req)];

		memcpy(f, req, sizeof(req));
		{
			uint16_t s = us_csum_fold(us_csum_add(0, f + 14, 20));

			f[24] = (uint8_t)(s >> 8);
			f[25] = (uint8_t)s;
			s = us_csum_fold(us_csum_add(0, f + 34, 12));
			f[36] = (uint8_t)(s >> 8);
			f[37] = (uint8_t)s;
		}
		us_stack_input(st, f, sizeof(f), 0, now);
		CHECK_EQ(take(p, 4), 1);
		CHECK(p[0].icmp_type == 0 && p[0].icmp_id == 7 && p[0].data_len == 4 &&
		      !memcmp(p[0].data, "ping", 4) && p[0].dst_ip == CLI_IP);
	}
	us_stack_free(st);
}

/* 10,000 connections opened and closed both ways: nothing left. */
static void test_ten_thousand(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[16];
	struct cli c;

	cfg.time_wait = 1024;
	cfg.time_wait_ms = 1000;
	st = new_stack(&cfg);
	for (int i = 0; i < 10000; i++) {
		struct app *a = connect_cli(st, &c, (uint16_t)(10000 + i), i & 1);

		if (!a)
			break;
		cli_send(st, &c, US_TCP_ACK | US_TCP_PSH, c.seq, c.ack, "req", 3, 1024);
		c.seq += 3;
		us_sock_write(a->s, "resp", 4);
		if (i & 2) {
			/* the client closes first */
			cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack + 4, NULL, 0, 1024);
			us_sock_close(a->s);
			cli_send(st, &c, US_TCP_ACK, c.seq + 1, c.ack + 5, NULL, 0, 1024);
		} else {
			us_sock_close(a->s);
			cli_send(st, &c, US_TCP_ACK, c.seq, c.ack + 5, NULL, 0, 1024);
			cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack + 5, NULL, 0, 1024);
		}
		take(p, 16);
		now += 1000;
		us_stack_poll(st, now);
		take(p, 16);
	}
	CHECK_EQ(us_stack_stats(st)->accepted, 10000);
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_buffer_bytes(st), 0);
	CHECK(us_stack_time_waits(st) <= 1024);
	now += 2000000;
	us_stack_poll(st, now);
	CHECK_EQ(us_stack_time_waits(st), 0);
	us_stack_free(st);
}

/* ---- a lossy link ------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/*
 * The client sends a 200 KB stream and the application echoes it; every
 * frame either way may be dropped (10%), duplicated (5%) or held back
 * behind the next one (10%).  The client is a simple sender: it resends
 * from the first unacknowledged byte when nothing moved for a while, and
 * takes the server's data only in order.  Both streams must arrive whole.
 */
static void test_lossy_link(uint64_t seed)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[MAXF];
	struct cli c;
	struct app *a;
	static uint8_t src[200000], back[200000];
	uint32_t c_una, c_iss, s_iss, nback = 0, last_progress = 0;
	uint8_t held[2048];
	size_t held_len = 0;
	int rounds;

	cfg.rcvbuf = cfg.sndbuf = 32768;
	rng = seed;
	st = new_stack(&cfg);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(rnd() >> 24);
	a = connect_cli(st, &c, 48000, 1);
	a->echo = 1;
	c_iss = c.seq;
	c_una = c.seq;
	s_iss = c.ack;
	for (rounds = 0; rounds < 20000 && (c_una - c_iss < sizeof(src) || nback < sizeof(src));
	     rounds++) {
		/* the client sends up to 8 segments from its next byte */
		for (int k = 0; k < 8 && c.seq - c_iss < sizeof(src) &&
				c.seq - c_una < 16384; k++) {
			uint32_t off = c.seq - c_iss, len = sizeof(src) - off;
			struct us_tcp_out o;
			uint8_t frame[2048];
			size_t n;
			uint32_t r = rnd() % 100;

			if (len > 1000)
				len = 1000;
			memset(&o, 0, sizeof(o));
			memcpy(o.src_mac, cli_mac, 6);
			memcpy(o.dst_mac, srv_mac, 6);
			o.src_ip = CLI_IP;
			o.dst_ip = SRV_IP;
			o.sport = c.port;
			o.dport = PORT;
			o.seq = c.seq;
			o.ack = s_iss + nback;
			o.flags = US_TCP_ACK;
			o.win = 65535 >> 7;
			o.ws = -1;
			o.has_ts = 1;
			o.tsval = (uint32_t)(now / 1000);
			o.tsecr = echo_ts;
			o.data = src + off;
			o.data_len = len;
			n = us_build_tcp(frame, sizeof(frame), &o);
			c.seq += len;
			if (r < 10)
				continue;                       /* dropped */
			if (r < 20 && !held_len) {              /* held back */
				memcpy(held, frame, n);
				held_len = n;
				continue;
			}
			us_stack_input(st, frame, n, 0, now);
			if (r < 25)
				us_stack_input(st, frame, n, 0, now); /* twice */
			if (held_len) {
				us_stack_input(st, held, held_len, 0, now);
				held_len = 0;
			}
		}
		if (held_len) {
			us_stack_input(st, held, held_len, 0, now);
			held_len = 0;
		}
		now += 20000;
		us_stack_poll(st, now);
		/* the server's frames reach the client, or not */
		{
			int n = take(p, MAXF);
			int progressed = 0;

			for (int i = 0; i < n; i++) {
				uint32_t r = rnd() % 100;

				if (r < 10)
					continue;
				echo_ts = p[i].opt.tsval;
				if (US_SEQ_LT(c_una, p[i].ack) && US_SEQ_LEQ(p[i].ack, c.seq)) {
					c_una = p[i].ack;
					progressed = 1;
				}
				if (p[i].data_len && p[i].seq == s_iss + nback &&
				    nback + p[i].data_len <= sizeof(back)) {
					memcpy(back + nback, p[i].data, p[i].data_len);
					nback += (uint32_t)p[i].data_len;
					progressed = 1;
				}
			}
			/* the client ACKs what it has (lost 10% of the time) */
			if (n && rnd() % 100 >= 10)
				cli_send(st, &c, US_TCP_ACK, c.seq, s_iss + nback, NULL, 0,
					 65535 >> 7);
			take(p, MAXF);
			if (progressed)
				last_progress = (uint32_t)rounds;
			else if ((uint32_t)rounds - last_progress > 10) {
				c.seq = c_una;  /* client timeout: go back */
				last_progress = (uint32_t)rounds;
			}
		}
	}
	CHECK(c_una - c_iss == sizeof(src));
	CHECK_EQ(nback, sizeof(src));
	CHECK_EQ(a->nin, sizeof(src));
	CHECK(!memcmp(a->in, src, sizeof(src)));
	CHECK(!memcmp(back, src, sizeof(src)));
	CHECK(us_stack_stats(st)->retransmits > 0);
	CHECK(us_stack_stats(st)->ooo_segments > 0);
	CHECK(us_stack_stats(st)->dup_segments > 0);
	CHECK(!a->err);
	us_sock_abort(a->s);
	CHECK_EQ(us_stack_socks(st), 0);
	us_stack_free(st);
}

/* A closed socket facing a peer that answers every probe with a zero
 * window is reset once fin_wait_ms is over. */
static void test_orphan_zero_window(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[16];
	struct cli c;
	struct app *a;

	cfg.fin_wait_ms = 20000;
	st = new_stack(&cfg);
	a = connect_cli(st, &c, 49000, 0);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 0);     /* window 0 */
	CHECK_EQ(us_sock_write(a->s, "never read", 10), 10);
	us_sock_close(a->s);
	for (int i = 0; i < 200 && us_stack_socks(st); i++) {
		now += 500000;
		us_stack_poll(st, now);
		if (take(p, 16))        /* a probe: answered, window still 0 */
			cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 0);
	}
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_buffer_bytes(st), 0);
	CHECK(us_stack_stats(st)->orphan_timeouts + us_stack_stats(st)->sock_timeouts == 1);
	us_stack_free(st);
}

/* Sockets aborted from inside a callback and their slots reused before
 * the next poll: the ACK list stays within its bounds (ASan checks). */
static void test_reuse_before_poll(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct cli c;

	cfg.max_socks = 2;
	st = new_stack(&cfg);
	for (int i = 0; i < 20; i++) {
		struct app *a = connect_cli(st, &c, (uint16_t)(49100 + i), 0);

		CHECK(a != NULL);
		abort_next_read = 1;
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, "x", 1, 1024);
		abort_next_read = 0;
		nf = 0;
	}
	CHECK_EQ(us_stack_socks(st), 0);
	us_stack_poll(st, now);
	us_stack_free(st);
}

/* A fast retransmit when less than a segment is in flight and more is
 * queued behind the peer's window: only what was sent goes again. */
static void test_fast_retransmit_small_window(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 49200, 0);
	static uint8_t data[1000];
	int n;

	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 1);     /* 128 bytes */
	CHECK_EQ(us_sock_write(a->s, data, sizeof(data)), (long)sizeof(data));
	n = take(p, 16);
	CHECK(n == 1 && p[0].data_len == 128);
	for (int i = 0; i < 3; i++)
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, NULL, 0, 1);
	n = take(p, 16);
	CHECK(n == 1 && p[0].seq == c.ack && p[0].data_len == 128 && !(p[0].flags & US_TCP_FIN));
	us_sock_abort(a->s);
	us_stack_free(st);
}

/* Jumbo frames and a small receive buffer: reading reopens the window
 * and says so. */
static void test_window_update_small_buffer(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[16];
	struct cli c;
	struct app *a;
	static uint8_t data[1024], out[8192];
	int eof, n;

	cfg.mtu = 9000;
	cfg.rcvbuf = 8192;
	st = new_stack(&cfg);
	cli_mss = 8960;                 /* jumbo frames at both ends */
	a = connect_cli(st, &c, 49300, 0);
	cli_mss = 1460;
	a->hold = 1;
	for (int i = 0; i < 8; i++) {
		cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, data, 1024, 1024);
		c.seq += 1024;
	}
	us_stack_poll(st, now);
	n = take(p, 16);
	CHECK(n >= 1 && p[n - 1].ack == c.seq && p[n - 1].win == 0);
	CHECK_EQ(us_sock_read(a->s, out, sizeof(out), &eof), 8192);
	us_stack_poll(st, now);
	n = take(p, 16);
	CHECK(n == 1 && p[0].ack == c.seq && p[0].win == 8192);
	us_sock_abort(a->s);
	us_stack_free(st);
}

/* A FIN at a position that data later runs past was not the peer's: the
 * real one still ends the stream. */
static void test_fin_overrun(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st = new_stack(&cfg);
	struct us_pkt p[16];
	struct cli c;
	struct app *a = connect_cli(st, &c, 49400, 0);

	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq + 5, c.ack, NULL, 0, 1024);
	cli_send(st, &c, US_TCP_ACK, c.seq, c.ack, "0123456789", 10, 1024);
	CHECK(a->nin == 10 && !a->eof);
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq + 10, c.ack, NULL, 0, 1024);
	CHECK(a->eof);
	CHECK_EQ(us_sock_state(a->s), US_CLOSE_WAIT);
	take(p, 16);
	us_sock_abort(a->s);
	us_stack_free(st);
}

/* No TIME_WAIT records at all is a valid setting. */
static void test_no_time_wait(void)
{
	struct us_config cfg = base_cfg();
	struct us_stack *st;
	struct us_pkt p[16];
	struct cli c;
	struct app *a;

	cfg.time_wait = 0;
	st = new_stack(&cfg);
	a = connect_cli(st, &c, 49500, 0);
	CHECK(a != NULL);
	us_sock_close(a->s);
	take(p, 16);
	cli_send(st, &c, US_TCP_ACK | US_TCP_FIN, c.seq, c.ack + 1, NULL, 0, 1024);
	CHECK_EQ(us_stack_socks(st), 0);
	CHECK_EQ(us_stack_time_waits(st), 0);
	us_stack_free(st);
}

static void test_bad_config(void)
{
	static const struct us_ops ops = { NULL, tx_alloc, tx_send, on_accept, on_readable,
					   on_writable, on_error };
	struct us_config c = base_cfg();
	const char *why;

	c.rcvbuf = 5000;
	CHECK(!us_stack_new(&c, &ops, &why) && strstr(why, "powers of two"));
	c = base_cfg();
	c.mtu = 100;
	CHECK(!us_stack_new(&c, &ops, &why) && strstr(why, "mtu"));
	c = base_cfg();
	c.ip = 0;
	CHECK(!us_stack_new(&c, &ops, &why) && strstr(why, "address"));
	c = base_cfg();
	c.max_socks = 0;
	CHECK(!us_stack_new(&c, &ops, &why) && strstr(why, "max_socks"));
	c = base_cfg();
	c.retries = 200;
	CHECK(!us_stack_new(&c, &ops, &why) && strstr(why, "retries"));
}

int main(void)
{
	test_handshake_data_and_peer_close();
	test_our_close_and_time_wait();
	test_time_wait_bounded();
	test_syn_cookies();
	test_retransmission_and_giving_up();
	test_fast_retransmit();
	test_zero_window_probe();
	test_rfc5961_and_resets();
	test_no_connection();
	test_refused_and_full();
	test_out_of_order_and_sack();
	test_arp_and_icmp();
	test_ten_thousand();
	for (uint64_t seed = 1; seed <= 8; seed++)
		test_lossy_link(seed * 0x9e3779b97f4a7c15ull);
	test_orphan_zero_window();
	test_reuse_before_poll();
	test_fast_retransmit_small_window();
	test_window_update_small_buffer();
	test_fin_overrun();
	test_no_time_wait();
	test_bad_config();
	return check_done("ustack_stack_test");
}
