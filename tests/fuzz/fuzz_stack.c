/*
 * fuzz_stack.c - the userspace stack's TCP state machine under arbitrary
 * conversations.  The input is a program: each step is a byte choosing an
 * action and the bytes after it as its arguments.  A client (one of four
 * ports) sends segments whose sequence and acknowledgment numbers are
 * offsets from what it has seen the stack send, so the fuzzer gets past
 * the handshake; the application reads, writes, shuts down, closes or
 * aborts; the clock moves; or raw bytes go in as a frame.  Besides memory
 * errors it checks that every frame the stack sends parses, and that when
 * the application has closed everything and the clock has run past every
 * timer, no socket and no buffer is left.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/ustack/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SRV_IP 0xc6120002u
#define CLI_IP 0xc6120001u
#define PORT 443

static const uint8_t srv_mac[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t cli_mac[6] = { 2, 0, 0, 0, 0, 1 };

struct peer {
	uint32_t seq, ack;      /* the client's next seq; the server's last seq seen */
	struct us_sock *s;      /* the application's socket, or NULL */
};
static struct peer peers[4];
static uint8_t frame[2048];

static uint8_t *tx_alloc(void *ctx, size_t *cap, void **h)
{
	*cap = sizeof(frame);
	*h = NULL;
	return frame;
}

static void tx_send(void *ctx, void *h, size_t len)
{
	struct us_pkt p;
	int k;

	if (!len)
		return;
	k = us_parse(frame, len, 0, &p);
	if (k <= 0)
		abort();        /* the stack sent something malformed */
	if (k == US_KIND_TCP && p.dport >= 40000 && p.dport < 40004) {
		struct peer *c = &peers[p.dport - 40000];

		c->ack = p.seq + (uint32_t)p.data_len + !!(p.flags & (US_TCP_SYN | US_TCP_FIN));
	}
}

static void *on_accept(void *ctx, struct us_sock *s)
{
	uint32_t ip;
	uint16_t port;

	us_sock_peer(s, &ip, &port);
	if (port < 40000 || port >= 40004 || peers[port - 40000].s)
		return NULL;
	peers[port - 40000].s = s;
	return &peers[port - 40000];
}

static void on_readable(void *user)
{
	struct peer *c = user;
	uint8_t b[512];
	int eof;

	(void)us_sock_read(c->s, b, sizeof(b), &eof);
}

static void on_writable(void *user)
{
}

static void on_error(void *user, enum us_err err)
{
	struct peer *c = user;

	us_sock_close(c->s);
	c->s = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct us_ops ops = { NULL, tx_alloc, tx_send, on_accept, on_readable,
					   on_writable, on_error };
	static const uint8_t junk[5200];
	struct us_config cfg;
	struct us_stack *st;
	const char *why;
	uint64_t now = 1000000;
	size_t i = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(peers, 0, sizeof(peers));
	cfg.ip = SRV_IP;
	memcpy(cfg.mac, srv_mac, 6);
	cfg.port = PORT;
	cfg.mtu = 1500;
	cfg.rcvbuf = 4096;
	cfg.sndbuf = 4096;
	cfg.max_socks = 6;
	cfg.syn_backlog = 2;
	cfg.time_wait = 2;
	cfg.time_wait_ms = 2000;
	cfg.syn_retries = 2;
	cfg.retries = 3;
	cfg.fin_wait_ms = 3000;
	cfg.key.k0 = 1;
	cfg.key.k1 = 2;
	st = us_stack_new(&cfg, &ops, &why);
	if (!st)
		abort();
	while (i + 1 < size) {
		uint8_t op = data[i++], arg = data[i++];
		struct peer *c = &peers[op & 3];

		switch (op >> 2 & 7) {
		case 0: case 1: case 2: {
			/* a client segment: flags from <arg>, offsets and a
			 * length from the next bytes */
			struct us_tcp_out o;
			uint8_t buf[2048];
			size_t n;
			int8_t dseq = 0, dack = 0;
			uint16_t len = 0;

			if (i + 3 <= size) {
				dseq = (int8_t)data[i];
				dack = (int8_t)data[i + 1];
				len = (uint16_t)(data[i + 2] * 5);
				i += 3;
			}
			memset(&o, 0, sizeof(o));
			memcpy(o.src_mac, cli_mac, 6);
			memcpy(o.dst_mac, srv_mac, 6);
			o.src_ip = CLI_IP;
			o.dst_ip = SRV_IP;
			o.sport = (uint16_t)(40000 + (op & 3));
			o.dport = arg & 0x80 ? 444 : PORT;
			o.flags = arg & 0x3f;
			o.seq = c->seq + (uint32_t)(int32_t)dseq;
			o.ack = c->ack + (uint32_t)(int32_t)dack;
			o.win = (uint16_t)(arg & 0x40 ? 0 : 64 + dack * 7);
			o.ws = arg & 0x40 ? 3 : -1;
			o.mss = (uint16_t)(len ? len : 0);
			o.sack_ok = arg & 0x40 ? 1 : 0;
			o.has_ts = arg & 1;
			o.tsval = (uint32_t)now;
			o.data = junk;
			o.data_len = o.flags & US_TCP_SYN ? 0 : len;
			n = us_build_tcp(buf, sizeof(buf), &o);
			if (n)
				us_stack_input(st, buf, n, 0, now);
			if (o.flags & US_TCP_SYN)
				c->seq = o.seq + 1;
			else
				c->seq = o.seq + (uint32_t)o.data_len + !!(o.flags & US_TCP_FIN);
			break;
		}
		case 3:
			if (c->s) {
				long w = us_sock_write(c->s, junk, (size_t)arg * 20);

				if (w < -1 || w > arg * 20)
					abort();
			}
			break;
		case 4:
			if (c->s) {
				switch (arg & 3) {
				case 0: us_sock_shutdown(c->s); break;
				case 1: us_sock_close(c->s); c->s = NULL; break;
				case 2: us_sock_abort(c->s); c->s = NULL; break;
				default: on_readable(c); break;
				}
			}
			break;
		case 5:
			now += (uint64_t)arg * arg * 1000;
			us_stack_poll(st, now);
			break;
		case 6: {
			/* raw bytes as a frame */
			size_t n = arg < size - i ? arg : size - i;

			us_stack_input(st, data + i, n, arg & 1, now);
			i += n;
			break;
		}
		default:
			us_stack_poll(st, now);
			break;
		}
	}
	/* the application closes what it holds; every timer runs out */
	for (int k = 0; k < 4; k++)
		if (peers[k].s)
			us_sock_close(peers[k].s);
	for (int k = 0; k < 600; k++) {     /* past 60 s backoffs */
		now += 1000000;
		us_stack_poll(st, now);
	}
	if (us_stack_socks(st) || us_stack_buffer_bytes(st) || us_stack_time_waits(st))
		abort();
	us_stack_free(st);
	return 0;
}
