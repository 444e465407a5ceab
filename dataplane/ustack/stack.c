/*
 * stack.c - one worker's userspace TCP/IP stack (see stack.h).
 *
 * Layout: a fixed table of sockets (chained in a hash of the peer's
 * address and port), a timer wheel of 10 ms slots, two work lists (sockets
 * with events for the application, sockets owing an ACK), and a FIFO of
 * TIME_WAIT records with a hash of its own.  Segment processing follows
 * RFC 9293 §3.10.7 ("SEGMENT ARRIVES"), with RFC 5961's checks.
 */
#include "stack.h"

#include "../../common/siphash.h"

#include <stdlib.h>
#include <string.h>

#define WHEEL_SLOTS 4096                /* 10 ms each: a 40.96 s horizon */
#define WHEEL_TICK_US 10000
#define NIL UINT32_MAX
#define MAX_SEG 9000                    /* largest payload of one segment */
#define SYN_RTO_MS 1000

enum { EV_ACCEPT = 1, EV_READ = 2, EV_WRITE = 4, EV_ERR = 8 };

struct us_sock {
	struct us_stack *st;
	uint32_t idx;
	uint8_t state;                  /* enum us_state; US_CLOSED when free */
	uint8_t used;
	uint8_t orphan;                 /* the application closed it */
	uint8_t accepted;               /* the application has it */
	uint8_t err;                    /* enum us_err */
	uint8_t ev;                     /* EV_* waiting for dispatch */
	uint8_t in_evq, in_ackq, ack_pending;
	uint8_t fin_rcvd;               /* the peer's FIN is in rcv_nxt */
	uint8_t fin_seen;               /* a FIN arrived at fin_seq (maybe early) */
	uint8_t fin_queued;             /* we send a FIN after the data */
	uint8_t ts_ok, sack_ok, ws_ok;
	uint8_t snd_ws, rcv_ws;
	uint8_t retries, probes, timing, want_write;
	uint8_t rtx_since_sample;       /* Karn: the SYN-ACK was sent again */
	uint32_t raddr;
	uint16_t rport, mss;            /* mss: payload per segment we send */
	uint8_t rmac[6];
	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_wnd;
	uint32_t fin_seq, ts_recent, last_ack_sent, rtt_seq;
	uint64_t rtt_start_us, synack_us;
	uint64_t orphan_until_us;       /* an orphan is reset after this */
	struct us_rtt rtt;
	struct us_cc cc;
	struct us_rxq rxq;
	struct us_txq txq;
	uint8_t *bufs;                  /* rcvbuf + sndbuf bytes, or NULL */
	/* timer wheel */
	uint64_t tmo_us;                /* 0: no timer */
	uint32_t wprev, wnext, wslot;
	uint32_t hnext;                 /* hash chain, or the free list */
	void *user;
};

struct us_tw {
	uint32_t raddr;
	uint16_t rport, used;
	uint32_t snd_nxt, rcv_nxt;
	uint32_t expire_ms;
	uint32_t hnext;
};

struct us_stack {
	struct us_config cfg;
	struct us_ops ops;
	struct us_stats stats;
	uint64_t now_us;
	uint32_t ts_off;
	uint16_t ip_id;
	struct us_arp arp;
	struct us_sock *socks;
	uint32_t free_head, nsocks, nhalf;
	uint32_t *hash, hmask;
	uint32_t *evq, nev, *ackq, nack;
	uint32_t wheel[WHEEL_SLOTS];
	uint64_t wheel_tick;            /* slots before this one have run */
	uint32_t ntimers;
	struct us_tw *tw;
	uint32_t *tw_hash, tw_hmask, tw_head, tw_len;
	uint64_t buf_bytes;
	uint8_t **buf_cache;            /* freed buffers kept for reuse */
	uint32_t nbuf_cache, buf_cache_max;
	uint8_t seg[MAX_SEG];           /* payload of the segment being built */
};

static uint32_t ms_of(const struct us_stack *st)
{
	return (uint32_t)(st->now_us / 1000);
}

static uint32_t hash2(uint32_t a, uint16_t p, uint32_t mask)
{
	uint64_t h = ((uint64_t)a << 16 | p) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32) & mask;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

/* ---- work lists and events --------------------------------------------- */

static void post(struct us_stack *st, struct us_sock *s, uint8_t ev)
{
	if (s->orphan)
		return;
	s->ev |= ev;
	if (!s->in_evq) {
		s->in_evq = 1;
		st->evq[st->nev++] = s->idx;
	}
}

static void ack_later(struct us_stack *st, struct us_sock *s)
{
	s->ack_pending = 1;
	if (!s->in_ackq) {
		s->in_ackq = 1;
		st->ackq[st->nack++] = s->idx;
	}
}

/* ---- timers ---------------------------------------------------------------- */

static void timer_unlink(struct us_stack *st, struct us_sock *s)
{
	if (!s->tmo_us)
		return;
	if (s->wprev != NIL)
		st->socks[s->wprev].wnext = s->wnext;
	else
		st->wheel[s->wslot] = s->wnext;
	if (s->wnext != NIL)
		st->socks[s->wnext].wprev = s->wprev;
	s->tmo_us = 0;
	st->ntimers--;
}

static void timer_set(struct us_stack *st, struct us_sock *s, uint64_t at_us)
{
	uint64_t tick = at_us / WHEEL_TICK_US;

	timer_unlink(st, s);
	if (tick < st->wheel_tick)
		tick = st->wheel_tick;
	if (tick >= st->wheel_tick + WHEEL_SLOTS)
		tick = st->wheel_tick + WHEEL_SLOTS - 1; /* re-queued when reached */
	s->tmo_us = at_us ? at_us : 1;
	s->wslot = (uint32_t)(tick % WHEEL_SLOTS);
	s->wprev = NIL;
	s->wnext = st->wheel[s->wslot];
	if (s->wnext != NIL)
		st->socks[s->wnext].wprev = s->idx;
	st->wheel[s->wslot] = s->idx;
	st->ntimers++;
}

static void timer_in_ms(struct us_stack *st, struct us_sock *s, uint32_t ms)
{
	timer_set(st, s, st->now_us + (uint64_t)ms * 1000);
}

/* ---- buffers and sockets ---------------------------------------------------- */

static int bufs_get(struct us_stack *st, struct us_sock *s)
{
	size_t n = (size_t)st->cfg.rcvbuf + st->cfg.sndbuf;

	s->bufs = st->nbuf_cache ? st->buf_cache[--st->nbuf_cache] : malloc(n);
	if (!s->bufs)
		return -1;
	st->buf_bytes += n;
	return 0;
}

static void bufs_put(struct us_stack *st, struct us_sock *s)
{
	if (!s->bufs)
		return;
	st->buf_bytes -= (size_t)st->cfg.rcvbuf + st->cfg.sndbuf;
	if (st->nbuf_cache < st->buf_cache_max)
		st->buf_cache[st->nbuf_cache++] = s->bufs;
	else
		free(s->bufs);
	s->bufs = NULL;
	s->rxq.buf = s->txq.buf = NULL;
}

static struct us_sock *sock_find(struct us_stack *st, uint32_t raddr, uint16_t rport)
{
	uint32_t i = st->hash[hash2(raddr, rport, st->hmask)];

	while (i != NIL) {
		struct us_sock *s = &st->socks[i];

		if (s->raddr == raddr && s->rport == rport)
			return s;
		i = s->hnext;
	}
	return NULL;
}

static struct us_sock *sock_new(struct us_stack *st, uint32_t raddr, uint16_t rport)
{
	struct us_sock *s;
	uint32_t h, idx = st->free_head;

	if (idx == NIL)
		return NULL;
	s = &st->socks[idx];
	st->free_head = s->hnext;
	{
		/* a freed socket's index may still sit in a work list, which
		 * then serves the new socket: one entry at most, still */
		uint8_t in_evq = s->in_evq, in_ackq = s->in_ackq;

		memset(s, 0, sizeof(*s));
		s->in_evq = in_evq;
		s->in_ackq = in_ackq;
	}
	s->st = st;
	s->idx = idx;
	s->used = 1;
	s->raddr = raddr;
	s->rport = rport;
	s->wprev = s->wnext = NIL;
	h = hash2(raddr, rport, st->hmask);
	s->hnext = st->hash[h];
	st->hash[h] = idx;
	st->nsocks++;
	us_rtt_init(&s->rtt);
	return s;
}

static void sock_free(struct us_stack *st, struct us_sock *s)
{
	uint32_t *p = &st->hash[hash2(s->raddr, s->rport, st->hmask)];

	while (*p != s->idx)
		p = &st->socks[*p].hnext;
	*p = s->hnext;
	timer_unlink(st, s);
	bufs_put(st, s);
	if (s->state == US_SYN_RCVD)
		st->nhalf--;
	s->used = 0;
	s->state = US_CLOSED;
	s->ev = 0;
	s->ack_pending = 0;
	s->user = NULL;
	s->hnext = st->free_head;
	st->free_head = s->idx;
	st->nsocks--;
	/* in_evq / in_ackq entries are skipped (used == 0) and cleared when
	 * their list runs */
}

/* ---- TIME_WAIT records ----------------------------------------------------- */

static void tw_unhash(struct us_stack *st, uint32_t i)
{
	struct us_tw *t = &st->tw[i];
	uint32_t *p = &st->tw_hash[hash2(t->raddr, t->rport, st->tw_hmask)];

	while (*p != i)
		p = &st->tw[*p].hnext;
	*p = t->hnext;
	t->used = 0;
}

/* Drop the oldest record. */
static void tw_pop(struct us_stack *st)
{
	if (st->tw[st->tw_head].used)
		tw_unhash(st, st->tw_head);
	st->tw_head = (st->tw_head + 1) % st->cfg.time_wait;
	st->tw_len--;
}

static void tw_add(struct us_stack *st, const struct us_sock *s)
{
	uint32_t i, h;
	struct us_tw *t;

	if (!st->cfg.time_wait)
		return;
	if (st->tw_len == st->cfg.time_wait) {
		if (st->tw[st->tw_head].used)
			st->stats.time_wait_recycled++;
		tw_pop(st);
	}
	i = (st->tw_head + st->tw_len++) % st->cfg.time_wait;
	t = &st->tw[i];
	t->raddr = s->raddr;
	t->rport = s->rport;
	t->used = 1;
	t->snd_nxt = s->snd_nxt;
	t->rcv_nxt = s->rxq.nxt + s->fin_rcvd;
	t->expire_ms = ms_of(st) + st->cfg.time_wait_ms;
	h = hash2(t->raddr, t->rport, st->tw_hmask);
	t->hnext = st->tw_hash[h];
	st->tw_hash[h] = i;
}

static struct us_tw *tw_find(struct us_stack *st, uint32_t raddr, uint16_t rport)
{
	uint32_t i;

	if (!st->cfg.time_wait)
		return NULL;
	i = st->tw_hash[hash2(raddr, rport, st->tw_hmask)];

	while (i != NIL) {
		if (st->tw[i].raddr == raddr && st->tw[i].rport == rport)
			return &st->tw[i];
		i = st->tw[i].hnext;
	}
	return NULL;
}

static void tw_expire(struct us_stack *st)
{
	uint32_t now = ms_of(st);

	while (st->tw_len) {
		struct us_tw *t = &st->tw[st->tw_head];

		if (t->used && (int32_t)(now - t->expire_ms) < 0)
			break;
		tw_pop(st);
	}
}

/* ---- output ------------------------------------------------------------- */

static uint32_t rcv_nxt(const struct us_sock *s)
{
	if (!s->bufs)
		return s->irs + 1;
	return s->rxq.nxt + s->fin_rcvd;
}

static uint32_t rcv_wnd(const struct us_stack *st, const struct us_sock *s)
{
	if (!s->bufs)
		return st->cfg.rcvbuf;
	return s->fin_rcvd ? 0 : us_rxq_window(&s->rxq);
}

/* A transmit buffer from the device, or NULL (counted: TCP resends). */
static uint8_t *tx_buf(struct us_stack *st, size_t *cap, void **h)
{
	uint8_t *b;

	*cap = 0;
	b = st->ops.tx_alloc(st->ops.ctx, cap, h);
	if (!b)
		st->stats.tx_nobuf++;
	return b;
}

static void emit(struct us_stack *st, struct us_tcp_out *o)
{
	size_t cap, n;
	void *h;
	uint8_t *b = tx_buf(st, &cap, &h);

	if (!b)
		return;
	memcpy(o->src_mac, st->cfg.mac, 6);
	o->src_ip = st->cfg.ip;
	o->ip_id = st->ip_id++;
	n = us_build_tcp(b, cap, o);
	st->ops.tx_send(st->ops.ctx, h, n); /* n == 0: the buffer goes back */
	if (n)
		st->stats.tx_frames++;
	if (o->flags & US_TCP_RST)
		st->stats.rst_sent++;
}

/* A reset answering <p> (RFC 9293 §3.10.7.1). */
static void send_rst(struct us_stack *st, const struct us_pkt *p)
{
	struct us_tcp_out o;

	if (p->flags & US_TCP_RST)
		return;
	memset(&o, 0, sizeof(o));
	memcpy(o.dst_mac, p->src_mac, 6);
	o.dst_ip = p->src_ip;
	o.sport = p->dport;
	o.dport = p->sport;
	o.ws = -1;
	if (p->flags & US_TCP_ACK) {
		o.seq = p->ack;
		o.flags = US_TCP_RST;
	} else {
		o.ack = p->seq + (uint32_t)p->data_len + !!(p->flags & US_TCP_SYN) +
			!!(p->flags & US_TCP_FIN);
		o.flags = US_TCP_RST | US_TCP_ACK;
	}
	emit(st, &o);
}

/* One segment of <s>: <flags>, sequence <seq>, <len> bytes from the send
 * queue (the FIN flag is added when the segment ends where the FIN goes). */
static void send_seg(struct us_stack *st, struct us_sock *s, uint8_t flags, uint32_t seq,
		     uint32_t len)
{
	struct us_tcp_out o;
	uint32_t wnd = rcv_wnd(st, s);

	memset(&o, 0, sizeof(o));
	memcpy(o.dst_mac, s->rmac, 6);
	o.dst_ip = s->raddr;
	o.sport = st->cfg.port;
	o.dport = s->rport;
	o.seq = seq;
	o.ack = rcv_nxt(s);
	o.flags = flags;
	o.ws = -1;
	if (flags & US_TCP_SYN) {
		o.win = (uint16_t)(wnd > 65535 ? 65535 : wnd);
		o.mss = (uint16_t)(st->cfg.mtu - 40);
		/* only what the SYN offered */
		o.ws = s->ws_ok ? (int8_t)s->rcv_ws : -1;
		o.sack_ok = s->sack_ok;
	} else {
		wnd >>= s->rcv_ws;
		o.win = (uint16_t)(wnd > 65535 ? 65535 : wnd);
	}
	if (s->ts_ok) {
		o.has_ts = 1;
		o.tsval = ms_of(st) + st->ts_off;
		o.tsecr = s->ts_recent;
	}
	if (len) {
		len = (uint32_t)us_txq_peek(&s->txq, seq, st->seg, len);
		o.data = st->seg;
		o.data_len = len;
		o.flags |= US_TCP_PSH;
		/* the FIN goes with the data's last segment */
		if (s->fin_queued && seq + len == s->txq.una + s->txq.len)
			o.flags |= US_TCP_FIN;
	} else if (s->sack_ok && s->bufs && s->rxq.nooo &&
		   !(flags & (US_TCP_SYN | US_TCP_FIN | US_TCP_RST))) {
		/* SACK blocks go on pure ACKs only, so a full segment never
		 * outgrows the MTU */
		o.nsack = (uint8_t)us_rxq_sack(&s->rxq, o.sack, 4);
	}
	emit(st, &o);
	s->ack_pending = 0;
	s->last_ack_sent = o.ack;
}

static void send_ack(struct us_stack *st, struct us_sock *s)
{
	send_seg(st, s, US_TCP_ACK, s->snd_nxt, 0);
}

/* A challenge ACK (RFC 5961 §3-5): tells a peer that is really there
 * where we are; a blind attacker learns nothing. */
static void challenge_ack(struct us_stack *st, struct us_sock *s)
{
	st->stats.challenge_acks++;
	/* without the FIN flag: only the next-expected ack */
	send_seg(st, s, US_TCP_ACK, s->snd_nxt, 0);
}

static uint32_t data_end(const struct us_sock *s)
{
	return s->txq.una + s->txq.len;
}

static void arm_rto(struct us_stack *st, struct us_sock *s)
{
	timer_in_ms(st, s, s->rtt.rto_ms);
}

/* Send what the windows allow: new data, the FIN, or a zero-window probe's
 * timer. */
static void output(struct us_stack *st, struct us_sock *s)
{
	uint32_t end, wnd;

	if (!s->bufs || s->err || s->state == US_SYN_RCVD)
		return;
	end = data_end(s);
	wnd = s->snd_wnd < s->cc.cwnd ? s->snd_wnd : s->cc.cwnd;
	for (;;) {
		uint32_t flight = s->snd_nxt - s->snd_una, len = end - s->snd_nxt, room;

		if (US_SEQ_LT(end, s->snd_nxt))
			break;          /* the FIN is out */
		if (!len) {
			if (!s->fin_queued)
				break;
			/* the FIN alone, at the end of the data */
			if (US_SEQ_LT(s->snd_nxt, s->snd_max))
				st->stats.retransmits++;
			send_seg(st, s, US_TCP_ACK | US_TCP_FIN, s->snd_nxt, 0);
			s->snd_nxt++;
			goto sent;
		}
		room = wnd > flight ? wnd - flight : 0;
		if (len > s->mss)
			len = s->mss;
		if (len > room) {
			/* what the window takes when nothing is in flight
			 * (RFC 1122 §4.2.3.4); with no window at all, a
			 * zero-window probe later */
			if (room && !flight) {
				len = room;
			} else {
				if (!s->snd_wnd && !flight && !s->tmo_us)
					arm_rto(st, s);
				break;
			}
		}
		if (US_SEQ_LT(s->snd_nxt, s->snd_max))
			st->stats.retransmits++;
		else if (!s->timing) {
			s->timing = 1;
			s->rtt_seq = s->snd_nxt;
			s->rtt_start_us = st->now_us;
		}
		send_seg(st, s, US_TCP_ACK, s->snd_nxt, len);
		s->snd_nxt += len;
		if (s->fin_queued && s->snd_nxt == end)
			s->snd_nxt++;   /* the FIN went with it */
sent:
		if (US_SEQ_LT(s->snd_max, s->snd_nxt))
			s->snd_max = s->snd_nxt;
		if (!s->tmo_us)
			arm_rto(st, s);
	}
}

/* Retransmit the first unacknowledged segment (fast retransmit). */
static void resend_first(struct us_stack *st, struct us_sock *s)
{
	uint32_t len = data_end(s) - s->snd_una, out = s->snd_max - s->snd_una;

	if (US_SEQ_LT(data_end(s), s->snd_una))
		return;         /* only the FIN was outstanding, and it is acked */
	if (len > out)
		len = out;      /* never what was not sent yet */
	if (len > s->mss)
		len = s->mss;
	st->stats.retransmits++;
	s->timing = 0;
	send_seg(st, s, len ? US_TCP_ACK : US_TCP_ACK | US_TCP_FIN, s->snd_una, len);
}

/* ---- state changes ----------------------------------------------------------- */

static void sock_fail(struct us_stack *st, struct us_sock *s, enum us_err err)
{
	timer_unlink(st, s);
	if (s->orphan || !s->accepted) {
		sock_free(st, s);
		return;
	}
	s->err = (uint8_t)err;
	s->state = US_CLOSED;
	post(st, s, EV_ERR);
}

/* Both FINs are acknowledged (or ours is, and the peer's arrived). */
static void enter_time_wait(struct us_stack *st, struct us_sock *s)
{
	timer_unlink(st, s);
	s->state = US_TIME_WAIT;
	if (s->orphan) {
		tw_add(st, s);
		sock_free(st, s);
	}
}

/* ---- the handshake ----------------------------------------------------------- */

static uint32_t isn(struct us_stack *st, uint32_t raddr, uint16_t rport)
{
	uint8_t in[12];
	uint32_t a = raddr, b = st->cfg.ip;

	memcpy(in, &a, 4);
	memcpy(in + 4, &b, 4);
	memcpy(in + 8, &rport, 2);
	memcpy(in + 10, &st->cfg.port, 2);
	/* RFC 6528: a 4 us clock plus a keyed hash of the connection */
	return (uint32_t)(st->now_us / 4) + (uint32_t)siphash24(st->cfg.key.k0, st->cfg.key.k1, in, 12);
}

static uint16_t clamp_mss(const struct us_stack *st, uint16_t peer, int ts)
{
	uint32_t m = peer ? peer : 536, ours = st->cfg.mtu - 40u;

	if (m > ours)
		m = ours;
	if (m < 88)
		m = 88;
	return (uint16_t)(m - (ts ? 12 : 0));
}

static void send_synack(struct us_stack *st, struct us_sock *s)
{
	s->synack_us = st->now_us;
	send_seg(st, s, US_TCP_SYN | US_TCP_ACK, s->iss, 0);
}

/* A SYN without a connection: a half-open socket, or a cookie. */
static void on_syn(struct us_stack *st, const struct us_pkt *p)
{
	struct us_sock *s = NULL;

	st->stats.syn_rcvd++;
	if (st->nhalf < st->cfg.syn_backlog)
		s = sock_new(st, p->src_ip, p->sport);
	if (!s) {
		/* RFC 4987 §3.6: state in the sequence number only */
		struct us_tcp_out o;

		memset(&o, 0, sizeof(o));
		memcpy(o.dst_mac, p->src_mac, 6);
		o.dst_ip = p->src_ip;
		o.sport = st->cfg.port;
		o.dport = p->sport;
		o.seq = us_cookie_make(&st->cfg.key, p->src_ip, p->sport, st->cfg.ip,
				       st->cfg.port, p->seq, clamp_mss(st, p->opt.mss, 0),
				       st->now_us / 1000000);
		o.ack = p->seq + 1;
		o.flags = US_TCP_SYN | US_TCP_ACK;
		o.win = (uint16_t)(st->cfg.rcvbuf > 65535 ? 65535 : st->cfg.rcvbuf);
		o.mss = (uint16_t)(st->cfg.mtu - 40);
		o.ws = -1;
		emit(st, &o);
		st->stats.syn_cookies_sent++;
		return;
	}
	st->nhalf++;
	s->state = US_SYN_RCVD;
	memcpy(s->rmac, p->src_mac, 6);
	s->irs = p->seq;
	s->iss = isn(st, p->src_ip, p->sport);
	s->snd_una = s->snd_nxt = s->iss;
	s->snd_max = s->iss + 1;
	if (p->opt.has_ws) {
		s->ws_ok = 1;
		s->snd_ws = p->opt.ws > 14 ? 14 : p->opt.ws;
		while (s->rcv_ws < 14 && (st->cfg.rcvbuf >> s->rcv_ws) > 65535)
			s->rcv_ws++;
	}
	s->sack_ok = p->opt.sack_ok;
	if (p->opt.has_ts) {
		s->ts_ok = 1;
		s->ts_recent = p->opt.tsval;
	}
	s->mss = clamp_mss(st, p->opt.mss, s->ts_ok);
	send_synack(st, s);
	timer_in_ms(st, s, SYN_RTO_MS);
}

/* The handshake completed: buffers, queues, the application's turn. */
static int establish(struct us_stack *st, struct us_sock *s, const struct us_pkt *p)
{
	if (bufs_get(st, s) < 0)
		return -1;
	if (s->state == US_SYN_RCVD)
		st->nhalf--;
	timer_unlink(st, s);
	us_rxq_init(&s->rxq, s->bufs, st->cfg.rcvbuf, s->irs + 1);
	us_txq_init(&s->txq, s->bufs + st->cfg.rcvbuf, st->cfg.sndbuf, s->iss + 1);
	s->state = US_ESTABLISHED;
	s->snd_una = s->snd_nxt = s->snd_max = s->iss + 1;
	s->snd_wnd = (uint32_t)p->win << s->snd_ws;
	s->max_wnd = s->snd_wnd;
	s->snd_wl1 = p->seq;
	s->snd_wl2 = p->ack;
	s->retries = 0;
	us_cc_init(&s->cc, s->mss);
	if (s->synack_us && !s->rtx_since_sample)
		us_rtt_sample(&s->rtt, (uint32_t)(st->now_us - s->synack_us));
	else
		us_rtt_init(&s->rtt);
	st->stats.accepted++;
	post(st, s, EV_ACCEPT);
	return 0;
}

/* The final ACK of a handshake answered with a cookie. */
static struct us_sock *on_cookie_ack(struct us_stack *st, const struct us_pkt *p)
{
	uint16_t mss = us_cookie_check(&st->cfg.key, p->src_ip, p->sport, st->cfg.ip,
				       st->cfg.port, p->seq - 1, p->ack - 1,
				       st->now_us / 1000000);
	struct us_sock *s;

	if (!mss) {
		if (st->stats.syn_cookies_sent)
			st->stats.cookies_bad++;
		return NULL;
	}
	s = sock_new(st, p->src_ip, p->sport);
	if (!s) {
		st->stats.syn_dropped++;
		return NULL;
	}
	memcpy(s->rmac, p->src_mac, 6);
	s->irs = p->seq - 1;
	s->iss = p->ack - 1;
	s->mss = mss;
	if (establish(st, s, p) < 0) {
		sock_free(st, s);
		st->stats.syn_dropped++;
		return NULL;
	}
	st->stats.cookies_ok++;
	return s;
}

/* ---- segments on a connection ------------------------------------------------- */

/* RFC 9293's acceptability test, with the FIN counted. */
static int seq_ok(struct us_stack *st, struct us_sock *s, const struct us_pkt *p)
{
	uint32_t nxt = rcv_nxt(s), wnd = rcv_wnd(st, s);
	uint32_t len = (uint32_t)p->data_len + !!(p->flags & US_TCP_FIN);

	if (!len)
		return wnd ? (US_SEQ_LEQ(nxt, p->seq) && US_SEQ_LT(p->seq, nxt + wnd))
			   : p->seq == nxt;
	if (!wnd)
		return 0;
	return (US_SEQ_LEQ(nxt, p->seq) && US_SEQ_LT(p->seq, nxt + wnd)) ||
	       (US_SEQ_LEQ(nxt, p->seq + len - 1) && US_SEQ_LT(p->seq + len - 1, nxt + wnd));
}

/* An acceptable ACK field: new data acknowledged, a window update, the
 * state changes our FIN's acknowledgment brings.  0 to go on with the
 * segment, -1 when it was dropped or the socket freed. */
static int on_ack(struct us_stack *st, struct us_sock *s, const struct us_pkt *p)
{
	uint32_t ack = p->ack, acked, wnd = (uint32_t)p->win << s->snd_ws;
	uint32_t flight = s->snd_nxt - s->snd_una;
	int fin_acked;

	if (US_SEQ_LT(s->snd_max, ack)) {
		/* acknowledges what was never sent */
		st->stats.bad_ack++;
		send_ack(st, s);
		return -1;
	}
	if (US_SEQ_LT(ack, s->snd_una - s->max_wnd)) {
		st->stats.bad_ack++;    /* RFC 5961 §5.2: too old */
		return -1;
	}
	if (US_SEQ_LT(s->snd_una, ack)) {
		acked = ack - s->snd_una;
		fin_acked = US_SEQ_LT(data_end(s), ack);
		us_txq_ack(&s->txq, fin_acked ? data_end(s) : ack);
		/* an RTT sample: from the echoed timestamp when the peer
		 * echoes one that makes sense, else from the one segment
		 * timed (never a retransmitted one: Karn) */
		uint32_t ts_ms = ms_of(st) + st->ts_off - p->opt.tsecr;

		if (s->ts_ok && p->opt.has_ts && p->opt.tsecr && ts_ms < 60000) {
			us_rtt_sample(&s->rtt, ts_ms ? ts_ms * 1000 : 500);
			s->timing = 0;
		} else if (s->timing && US_SEQ_LT(s->rtt_seq, ack)) {
			us_rtt_sample(&s->rtt, (uint32_t)(st->now_us - s->rtt_start_us));
			s->timing = 0;
		} else {
			us_rtt_restore(&s->rtt);
		}
		if (us_cc_ack(&s->cc, ack, acked, s->snd_max, flight) == US_CC_RETRANSMIT) {
			s->snd_una = ack;
			resend_first(st, s);
		}
		s->snd_una = ack;
		if (US_SEQ_LT(s->snd_nxt, ack))
			s->snd_nxt = ack;
		s->retries = 0;
		if (s->snd_una == s->snd_max)
			timer_unlink(st, s);
		else
			arm_rto(st, s);
		if (s->want_write && !s->fin_queued) {
			s->want_write = 0;
			post(st, s, EV_WRITE);
		}
		if (fin_acked) {
			switch (s->state) {
			case US_FIN_WAIT_1:
				s->state = US_FIN_WAIT_2;
				if (s->orphan)
					timer_in_ms(st, s, st->cfg.fin_wait_ms);
				break;
			case US_CLOSING:
				enter_time_wait(st, s);
				return s->used ? 0 : -1;
			case US_LAST_ACK:
				timer_unlink(st, s);
				s->state = US_CLOSED;
				if (s->orphan) {
					sock_free(st, s);
					return -1;
				}
				return 0;
			default:
				break;
			}
		}
	} else if (ack == s->snd_una && !p->data_len &&
		   !(p->flags & (US_TCP_SYN | US_TCP_FIN)) && wnd == s->snd_wnd && flight) {
		/* a duplicate ACK (RFC 5681 §2) */
		if (us_cc_ack(&s->cc, ack, 0, s->snd_max, flight) == US_CC_RETRANSMIT) {
			st->stats.fast_retransmits++;
			resend_first(st, s);
		}
	}
	if (!s->orphan)
		s->probes = 0;  /* the peer is there (an orphan's probes count on:
				 * a peer that never reads must not keep it) */
	/* the send window (RFC 9293 §3.10.7.4, SND.WL1/WL2) */
	if (US_SEQ_LT(s->snd_wl1, p->seq) ||
	    (s->snd_wl1 == p->seq && US_SEQ_LEQ(s->snd_wl2, ack))) {
		int opened = !s->snd_wnd && wnd;

		s->snd_wnd = wnd;
		if (wnd > s->max_wnd)
			s->max_wnd = wnd;
		s->snd_wl1 = p->seq;
		s->snd_wl2 = ack;
		if (opened && s->snd_nxt == s->snd_una &&
		    US_SEQ_LT(s->snd_nxt, data_end(s) + s->fin_queued))
			timer_unlink(st, s);    /* the probe's timer */
	}
	return 0;
}

/* The peer's FIN, once every byte before it is in. */
static void take_fin(struct us_stack *st, struct us_sock *s)
{
	if (s->fin_seen && US_SEQ_LT(s->fin_seq, s->rxq.nxt))
		s->fin_seen = 0;        /* data went past it */
	if (s->fin_rcvd || !s->fin_seen || s->rxq.nxt != s->fin_seq)
		return;
	s->fin_rcvd = 1;
	send_ack(st, s);
	post(st, s, EV_READ);
	switch (s->state) {
	case US_ESTABLISHED:
		s->state = US_CLOSE_WAIT;
		break;
	case US_FIN_WAIT_1:
		/* our FIN not yet acknowledged */
		s->state = US_CLOSING;
		break;
	case US_FIN_WAIT_2:
		enter_time_wait(st, s);
		break;
	default:
		break;
	}
}

static void on_data(struct us_stack *st, struct us_sock *s, const struct us_pkt *p)
{
	uint32_t nxt = s->rxq.nxt;
	int grew;

	if (p->flags & US_TCP_FIN) {
		/* the latest FIN's position: an earlier one that data has
		 * since overrun was not the peer's (take_fin) */
		s->fin_seen = 1;
		s->fin_seq = p->seq + (uint32_t)p->data_len;
	}
	if (p->data_len) {
		if (s->orphan) {
			/* data for an application that is gone (RFC 9293
			 * §3.10.7.4 "seventh"; as Linux does) */
			send_seg(st, s, US_TCP_RST | US_TCP_ACK, s->snd_nxt, 0);
			sock_free(st, s);
			return;
		}
		if (s->fin_rcvd) {
			st->stats.dup_segments++;
		} else {
			grew = us_rxq_put(&s->rxq, p->seq, p->data,
					  (uint32_t)p->data_len);
			if (grew > 0) {
				post(st, s, EV_READ);
			} else if (p->seq != nxt || grew < 0) {
				if (US_SEQ_LT(p->seq, nxt))
					st->stats.dup_segments++;
				else
					st->stats.ooo_segments++;
			}
			if (grew > 0 && p->seq == nxt && !s->rxq.nooo && grew == (int)p->data_len) {
				if (s->ts_ok && p->opt.has_ts &&
				    US_SEQ_LEQ(p->seq, s->last_ack_sent))
					s->ts_recent = p->opt.tsval;
				ack_later(st, s);
			} else {
				/* out of order, a duplicate or a gap filled:
				 * ACK at once (RFC 5681 §4.2), with SACK */
				send_ack(st, s);
			}
		}
	}
	take_fin(st, s);
}

static void on_segment(struct us_stack *st, struct us_sock *s, const struct us_pkt *p)
{
	if (!seq_ok(st, s, p)) {
		if (p->data_len && US_SEQ_LEQ(p->seq + (uint32_t)p->data_len, rcv_nxt(s)))
			st->stats.dup_segments++;       /* all of it had arrived */
		else
			st->stats.out_of_window++;
		if (s->state == US_SYN_RCVD && (p->flags & US_TCP_SYN) && p->seq == s->irs) {
			send_synack(st, s);     /* the SYN again: our SYN-ACK was lost */
			return;
		}
		if (!(p->flags & US_TCP_RST))
			send_ack(st, s);
		return;
	}
	if (p->flags & US_TCP_RST) {
		if (p->seq != rcv_nxt(s)) {
			challenge_ack(st, s);
			return;
		}
		st->stats.rst_rcvd++;
		sock_fail(st, s, US_ERR_RESET);
		return;
	}
	if (p->flags & US_TCP_SYN) {
		/* RFC 5961 §4: a SYN on a synchronized connection */
		challenge_ack(st, s);
		return;
	}
	if (s->state == US_SYN_RCVD) {
		if (p->ack != s->iss + 1) {
			st->stats.bad_ack++;
			send_rst(st, p);
			return;
		}
		if (establish(st, s, p) < 0) {
			send_rst(st, p);
			sock_free(st, s);
			return;
		}
	} else if (on_ack(st, s, p) < 0) {
		return;
	}
	if (s->state == US_CLOSED || s->state == US_TIME_WAIT) {
		if (p->flags & US_TCP_FIN)
			send_ack(st, s);
		return;
	}
	if (s->ts_ok && p->opt.has_ts && p->seq == rcv_nxt(s) && !p->data_len)
		s->ts_recent = p->opt.tsval;
	if (s->fin_rcvd) {
		/* CLOSE_WAIT, LAST_ACK, CLOSING: a retransmitted FIN */
		if (p->flags & US_TCP_FIN || p->data_len)
			send_ack(st, s);
	} else {
		on_data(st, s, p);
		if (!s->used)
			return;
	}
	output(st, s);
}

static void on_time_wait(struct us_stack *st, struct us_tw *t, const struct us_pkt *p)
{
	struct us_tcp_out o;

	if (p->flags & US_TCP_RST)
		return;         /* RFC 1337: a reset does not end TIME_WAIT early */
	if ((p->flags & US_TCP_SYN) && !(p->flags & US_TCP_ACK) &&
	    US_SEQ_LT(t->rcv_nxt, p->seq)) {
		/* a new incarnation (RFC 6191's rule without timestamps) */
		tw_unhash(st, (uint32_t)(t - st->tw));
		on_syn(st, p);
		return;
	}
	/* a retransmitted FIN (our ACK was lost), or anything else: ACK */
	memset(&o, 0, sizeof(o));
	memcpy(o.dst_mac, p->src_mac, 6);
	o.dst_ip = p->src_ip;
	o.sport = st->cfg.port;
	o.dport = p->sport;
	o.seq = t->snd_nxt;
	o.ack = t->rcv_nxt;
	o.flags = US_TCP_ACK;
	o.ws = -1;
	emit(st, &o);
}

static void tcp_input(struct us_stack *st, const struct us_pkt *p)
{
	struct us_sock *s;
	struct us_tw *t;

	if (p->dport != st->cfg.port) {
		st->stats.port_closed++;
		send_rst(st, p);
		return;
	}
	s = sock_find(st, p->src_ip, p->sport);
	if (s) {
		on_segment(st, s, p);
		return;
	}
	t = tw_find(st, p->src_ip, p->sport);
	if (t) {
		on_time_wait(st, t, p);
		return;
	}
	if (p->flags & US_TCP_RST)
		return;
	if (p->flags & US_TCP_SYN) {
		if (p->flags & US_TCP_ACK) {
			send_rst(st, p);
			return;
		}
		on_syn(st, p);
		return;
	}
	if ((p->flags & (US_TCP_ACK | US_TCP_FIN)) == US_TCP_ACK) {
		s = on_cookie_ack(st, p);
		if (s) {
			on_segment(st, s, p);
			return;
		}
	}
	st->stats.port_closed++;
	send_rst(st, p);
}

/* ---- timers firing ------------------------------------------------------------ */

/* Retransmissions or probes went unanswered: reset, and tell the
 * application. */
static void give_up(struct us_stack *st, struct us_sock *s)
{
	st->stats.sock_timeouts++;
	send_seg(st, s, US_TCP_RST | US_TCP_ACK, s->snd_nxt, 0);
	sock_fail(st, s, US_ERR_TIMEOUT);
}

/* <s>'s timer went off (it is out of the wheel). */
static void on_timer(struct us_stack *st, struct us_sock *s)
{
	if (s->state == US_SYN_RCVD) {
		if (++s->retries > st->cfg.syn_retries) {
			st->stats.sock_timeouts++;
			sock_free(st, s);
			return;
		}
		s->rtx_since_sample = 1;
		st->stats.retransmits++;
		send_synack(st, s);
		timer_in_ms(st, s, SYN_RTO_MS << s->retries);
		return;
	}
	if (s->state == US_FIN_WAIT_2 && s->orphan) {
		st->stats.fin_wait_timeouts++;
		sock_free(st, s);
		return;
	}
	if (s->orphan && st->now_us >= s->orphan_until_us) {
		/* closed long ago and still not finished (a peer that does
		 * not read, or acknowledges a byte at a time): reset */
		st->stats.orphan_timeouts++;
		send_seg(st, s, US_TCP_RST | US_TCP_ACK, s->snd_nxt, 0);
		sock_free(st, s);
		return;
	}
	if (!s->bufs || s->err)
		return;
	if (s->snd_nxt == s->snd_una && !s->snd_wnd) {
		/* nothing in flight and the peer's window is zero: probe it,
		 * and give up only when the probes go unanswered */
		if (US_SEQ_LT(s->snd_nxt, data_end(s) + s->fin_queued)) {
			if (++s->probes > st->cfg.retries) {
				give_up(st, s);
				return;
			}
			st->stats.zero_window_probes++;
			/* an old sequence number makes the peer answer with
			 * its window (as Linux's probe does) */
			send_seg(st, s, US_TCP_ACK, s->snd_una - 1, 0);
			us_rtt_backoff(&s->rtt);
			arm_rto(st, s);
		}
		return;
	}
	if (s->snd_una == s->snd_max)
		return;         /* nothing outstanding any more */
	if (++s->retries > st->cfg.retries) {
		give_up(st, s);
		return;
	}
	st->stats.timeouts++;
	us_cc_timeout(&s->cc, s->snd_max, s->snd_nxt - s->snd_una);
	us_rtt_backoff(&s->rtt);
	s->timing = 0;
	s->snd_nxt = s->snd_una;        /* go back N */
	output(st, s);
	if (!s->tmo_us)
		arm_rto(st, s);
}

/* Fire the timers of every 10 ms slot that has wholly passed (a timer
 * fires up to one slot late). */
static void run_timers(struct us_stack *st)
{
	uint64_t target = st->now_us / WHEEL_TICK_US;

	if (target > st->wheel_tick + WHEEL_SLOTS)
		st->wheel_tick = target - WHEEL_SLOTS; /* a long sleep: each slot once */
	while (st->wheel_tick < target && st->ntimers) {
		uint32_t slot = (uint32_t)(st->wheel_tick % WHEEL_SLOTS), i = st->wheel[slot];

		st->wheel[slot] = NIL;
		st->wheel_tick++;       /* what is queued now goes to later slots */
		while (i != NIL) {
			struct us_sock *s = &st->socks[i];
			uint64_t at = s->tmo_us;

			i = s->wnext;
			s->wprev = s->wnext = NIL;
			s->tmo_us = 0;
			st->ntimers--;
			if (at <= st->now_us)
				on_timer(st, s);
			else
				timer_set(st, s, at);   /* past the horizon */
		}
	}
	if (!st->ntimers)
		st->wheel_tick = target;
}

/* ---- dispatch ------------------------------------------------------------- */

static void dispatch(struct us_stack *st)
{
	for (uint32_t k = 0; k < st->nev; k++) {
		struct us_sock *s = &st->socks[st->evq[k]];

		s->in_evq = 0;
		if (!s->used)
			continue;
		if (s->ev & EV_ACCEPT) {
			s->ev &= (uint8_t)~EV_ACCEPT;
			s->user = st->ops.accept(st->ops.ctx, s);
			if (!s->user) {
				st->stats.refused++;
				us_sock_abort(s);
				continue;
			}
			s->accepted = 1;
		}
		if (!s->accepted)
			continue;
		if (s->used && s->ev & EV_READ) {
			s->ev &= (uint8_t)~EV_READ;
			st->ops.readable(s->user);
		}
		if (s->used && !s->orphan && s->ev & EV_WRITE) {
			s->ev &= (uint8_t)~EV_WRITE;
			st->ops.writable(s->user);
		}
		if (s->used && !s->orphan && s->ev & EV_ERR) {
			s->ev &= (uint8_t)~EV_ERR;
			st->ops.error(s->user, (enum us_err)s->err);
		}
	}
	st->nev = 0;
}

/* ---- the stack's entry points ---------------------------------------------- */

/* The answer to an ARP request for us, or to an echo request. */
static void reply(struct us_stack *st, const struct us_pkt *p)
{
	size_t cap, n;
	void *h;
	uint8_t *b = tx_buf(st, &cap, &h);

	if (!b)
		return;
	if (p->ethertype == US_ETHERTYPE_ARP)
		n = us_build_arp_reply(b, cap, st->cfg.mac, st->cfg.ip, p);
	else
		n = us_build_icmp_echo_reply(b, cap, st->cfg.mac, st->cfg.ip, p);
	st->ops.tx_send(st->ops.ctx, h, n);
	st->stats.tx_frames += n > 0;
}

void us_stack_input(struct us_stack *st, const uint8_t *frame, size_t len, int csum_ok,
		    uint64_t now_us)
{
	struct us_pkt p;
	int k;

	st->now_us = now_us;
	st->stats.rx_frames++;
	k = us_parse(frame, len, csum_ok, &p);
	if (k < 0) {
		st->stats.drop[-k]++;
		return;
	}
	if (k == US_KIND_ARP) {
		if (us_arp_input(&st->arp, &p, now_us / 1000)) {
			st->stats.arp_replies++;
			reply(st, &p);
		} else {
			st->stats.arp_ignored++;
		}
		return;
	}
	if (p.dst_ip != st->cfg.ip) {
		st->stats.drop_not_ours++;
		return;
	}
	if (k == US_KIND_ICMP) {
		if (p.icmp_type == 8) {
			st->stats.icmp_echo++;
			reply(st, &p);
		}
		return;
	}
	tcp_input(st, &p);
	dispatch(st);
}

void us_stack_poll(struct us_stack *st, uint64_t now_us)
{
	st->now_us = now_us;
	if (st->ntimers)
		run_timers(st);
	else
		st->wheel_tick = now_us / WHEEL_TICK_US;
	tw_expire(st);
	dispatch(st);
	for (uint32_t k = 0; k < st->nack; k++) {
		struct us_sock *s = &st->socks[st->ackq[k]];

		s->in_ackq = 0;
		if (s->used && s->ack_pending && s->bufs)
			send_ack(st, s);
	}
	st->nack = 0;
}

uint64_t us_stack_next_us(const struct us_stack *st)
{
	uint64_t next = UINT64_MAX;

	if (st->nack || st->nev)
		return st->now_us;
	if (st->ntimers)
		next = (st->wheel_tick + 1) * WHEEL_TICK_US;
	if (st->tw_len) {
		uint64_t t = st->now_us + 1000ull *
			(uint32_t)(st->tw[st->tw_head].expire_ms - ms_of(st));

		if (t < next)
			next = t;
	}
	return next;
}

const struct us_stats *us_stack_stats(const struct us_stack *st)
{
	return &st->stats;
}

uint32_t us_stack_socks(const struct us_stack *st)
{
	return st->nsocks;
}

uint32_t us_stack_time_waits(const struct us_stack *st)
{
	return st->tw_len;
}

uint64_t us_stack_buffer_bytes(const struct us_stack *st)
{
	return st->buf_bytes;
}

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

struct us_stack *us_stack_new(const struct us_config *cfg, const struct us_ops *ops,
			      const char **why)
{
	struct us_stack *st;
	uint32_t hsize;

	*why = NULL;
	if (!cfg->ip || !cfg->port)
		*why = "the stack needs an IPv4 address and a port";
	else if (cfg->mtu < 576 || cfg->mtu > 9000)
		*why = "mtu must be 576..9000";
	else if (!is_pow2(cfg->rcvbuf) || !is_pow2(cfg->sndbuf) || cfg->rcvbuf < 4096 ||
		 cfg->sndbuf < 4096 || cfg->rcvbuf > (1u << 30) || cfg->sndbuf > (1u << 30))
		*why = "rcvbuf and sndbuf must be powers of two, 4096..2^30";
	else if (!cfg->max_socks || cfg->max_socks > (1u << 24))
		*why = "max_socks must be 1..2^24";
	else if (cfg->time_wait > (1u << 24))
		*why = "time_wait must be at most 2^24";
	else if (cfg->syn_retries > 10 || cfg->retries > 30)
		*why = "syn_retries must be at most 10 and retries at most 30";
	if (*why)
		return NULL;
	*why = "out of memory";
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->cfg = *cfg;
	st->ops = *ops;
	st->ts_off = (uint32_t)cfg->key.k1;
	us_arp_init(&st->arp, cfg->ip);
	hsize = pow2_at_least(cfg->max_socks);
	st->hmask = hsize - 1;
	st->socks = calloc(cfg->max_socks, sizeof(*st->socks));
	st->hash = malloc(hsize * sizeof(*st->hash));
	st->evq = malloc(cfg->max_socks * sizeof(*st->evq));
	st->ackq = malloc(cfg->max_socks * sizeof(*st->ackq));
	st->buf_cache_max = 64;
	st->buf_cache = malloc(st->buf_cache_max * sizeof(*st->buf_cache));
	if (cfg->time_wait) {
		uint32_t tsize = pow2_at_least(cfg->time_wait);

		st->tw_hmask = tsize - 1;
		st->tw = calloc(cfg->time_wait, sizeof(*st->tw));
		st->tw_hash = malloc(tsize * sizeof(*st->tw_hash));
		if (!st->tw || !st->tw_hash)
			goto fail;
		memset(st->tw_hash, 0xff, tsize * sizeof(*st->tw_hash));
	}
	if (!st->socks || !st->hash || !st->evq || !st->ackq || !st->buf_cache)
		goto fail;
	memset(st->hash, 0xff, hsize * sizeof(*st->hash));
	memset(st->wheel, 0xff, sizeof(st->wheel));
	for (uint32_t i = 0; i < cfg->max_socks; i++)
		st->socks[i].hnext = i + 1 < cfg->max_socks ? i + 1 : NIL;
	st->free_head = 0;
	*why = NULL;
	return st;
fail:
	us_stack_free(st);
	return NULL;
}

void us_stack_free(struct us_stack *st)
{
	if (!st)
		return;
	if (st->socks)
		for (uint32_t i = 0; i < st->cfg.max_socks; i++)
			free(st->socks[i].bufs);
	for (uint32_t i = 0; i < st->nbuf_cache; i++)
		free(st->buf_cache[i]);
	free(st->buf_cache);
	free(st->socks);
	free(st->hash);
	free(st->evq);
	free(st->ackq);
	free(st->tw);
	free(st->tw_hash);
	free(st);
}

/* ---- the application's calls ---------------------------------------------- */

void us_sock_set_user(struct us_sock *s, void *user)
{
	s->user = user;
}

enum us_state us_sock_state(const struct us_sock *s)
{
	return (enum us_state)s->state;
}

void us_sock_peer(const struct us_sock *s, uint32_t *ip, uint16_t *port)
{
	*ip = s->raddr;
	*port = s->rport;
}

size_t us_sock_read(struct us_sock *s, uint8_t *out, size_t max, int *eof)
{
	struct us_stack *st = s->st;
	uint32_t before;
	size_t n;

	*eof = 0;
	if (!s->bufs) {
		*eof = 1;
		return 0;
	}
	before = us_rxq_window(&s->rxq);
	n = us_rxq_read(&s->rxq, out, max);
	if (!n) {
		*eof = s->fin_rcvd || s->err || s->state == US_CLOSED;
		return 0;
	}
	/* a window update when the window we advertised had closed below
	 * one segment and reading opened it (receiver SWS avoidance) */
	if (!s->fin_rcvd && before < s->mss &&
	    us_rxq_window(&s->rxq) >= (2u * s->mss < st->cfg.rcvbuf / 2 ? 2u * s->mss
									: st->cfg.rcvbuf / 2))
		ack_later(st, s);
	return n;
}

long us_sock_write(struct us_sock *s, const void *data, size_t len)
{
	struct us_stack *st = s->st;
	size_t n;

	if (!s->bufs || s->err || s->fin_queued ||
	    (s->state != US_ESTABLISHED && s->state != US_CLOSE_WAIT))
		return -1;
	n = us_txq_write(&s->txq, data, len);
	if (n < len)
		s->want_write = 1;
	if (n)
		output(st, s);
	return (long)n;
}

void us_sock_shutdown(struct us_sock *s)
{
	struct us_stack *st = s->st;

	if (s->fin_queued || s->err)
		return;
	if (s->state == US_ESTABLISHED)
		s->state = US_FIN_WAIT_1;
	else if (s->state == US_CLOSE_WAIT)
		s->state = US_LAST_ACK;
	else
		return;
	s->fin_queued = 1;
	output(st, s);
}

void us_sock_close(struct us_sock *s)
{
	struct us_stack *st = s->st;

	s->orphan = 1;
	s->orphan_until_us = st->now_us + (uint64_t)st->cfg.fin_wait_ms * 1000;
	s->ev = 0;
	s->user = NULL;
	if (s->state == US_CLOSED || s->err) {
		sock_free(st, s);
		return;
	}
	if (s->state == US_TIME_WAIT) {
		tw_add(st, s);
		sock_free(st, s);
		return;
	}
	if (s->bufs && us_rxq_readable(&s->rxq)) {
		/* unread input: a reset, as a kernel's close does */
		send_seg(st, s, US_TCP_RST | US_TCP_ACK, s->snd_nxt, 0);
		sock_free(st, s);
		return;
	}
	us_sock_shutdown(s);
	if (s->state == US_FIN_WAIT_2)
		timer_in_ms(st, s, st->cfg.fin_wait_ms);
}

void us_sock_abort(struct us_sock *s)
{
	struct us_stack *st = s->st;

	if (s->state != US_CLOSED && !s->err)
		send_seg(st, s, US_TCP_RST | US_TCP_ACK, s->snd_nxt, 0);
	sock_free(st, s);
}
