/*
 * stack.h - one worker's userspace TCP/IP stack, sans-I/O: frames in
 * (us_stack_input), frames out (through the tx callbacks), socket events
 * out (through the event callbacks), and a clock the caller passes in.
 * Nothing here makes a system call or takes a lock; one stack belongs to
 * one thread.
 *
 * It is a server's stack: it owns one IPv4 address and listens on one TCP
 * port.  It answers ARP for its address and ICMP echo, and runs TCP with
 * MSS, window scaling, timestamps, receive-side SACK, RFC 6298 timers,
 * NewReno, flow control with zero-window probes, RFC 5961 checks of RSTs,
 * SYNs and ACKs, and SYN cookies once the half-open table is full.
 *
 * Memory: a socket's buffers are allocated when its handshake completes
 * and freed when it leaves ESTABLISHED's successors; a half-open socket
 * holds no buffers, a SYN answered with a cookie holds nothing, and
 * TIME_WAIT is a 24-byte record in a bounded FIFO (when it is full the
 * oldest record is dropped early, counted).
 *
 * Ownership: us_sock pointers given to the application stay valid until
 * the application calls us_sock_close (or us_sock_abort); the stack then
 * finishes the connection alone and frees it.  Callbacks never run inside
 * another call from the application; an application may call any us_sock_*
 * function, including close, from inside a callback.
 */
#ifndef IG_USTACK_STACK_H
#define IG_USTACK_STACK_H
#include <stddef.h>
#include <stdint.h>

#include "arp.h"
#include "cc.h"
#include "pkt.h"
#include "rxq.h"
#include "syncookie.h"
#include "txq.h"

struct us_sock;

/* Why a socket's connection ended without the application closing it. */
enum us_err { US_ERR_NONE = 0, US_ERR_RESET, US_ERR_TIMEOUT };

struct us_ops {
	void *ctx;
	/* A buffer of at least <*cap> bytes to build a frame in, with
	 * *handle for tx_send; NULL when none is free (the frame is not
	 * sent: TCP retransmits). */
	uint8_t *(*tx_alloc)(void *ctx, size_t *cap, void **handle);
	void (*tx_send)(void *ctx, void *handle, size_t len);
	/* A connection completed its handshake: the application's pointer
	 * for it, or NULL to refuse it (the peer gets a reset). */
	void *(*accept)(void *ctx, struct us_sock *s);
	/* New in-order bytes, or the peer's FIN, can be read. */
	void (*readable)(void *user);
	/* Room appeared in the send queue. */
	void (*writable)(void *user);
	/* The connection was reset or timed out: reads return what was
	 * already received and then 0, writes fail. */
	void (*error)(void *user, enum us_err err);
};

struct us_config {
	uint32_t ip;                    /* host order */
	uint8_t mac[6];
	uint16_t port;                  /* the listening port */
	uint16_t mtu;                   /* IPv4 MTU, 576..9000; MSS = mtu - 40 */
	uint32_t rcvbuf, sndbuf;        /* per socket, powers of two, 4 KiB..1 GiB */
	uint32_t max_socks;             /* sockets, half-open included */
	uint32_t syn_backlog;           /* half-open sockets before SYN cookies */
	uint32_t time_wait;             /* TIME_WAIT records kept */
	uint32_t time_wait_ms;          /* how long one is kept (2 MSL) */
	uint32_t syn_retries;           /* SYN-ACKs sent before giving up, <= 10 */
	uint32_t retries;               /* data retransmissions before giving up, <= 30 */
	uint32_t fin_wait_ms;           /* how long a socket the application closed
					 * may take to finish (FIN_WAIT_2 or not) */
	struct us_cookie_key key;       /* random: SYN cookies and ISNs */
};

/* Counters (never reset). */
struct us_stats {
	uint64_t rx_frames, tx_frames, tx_nobuf;
	uint64_t drop[US_DROP_COUNT];   /* us_parse's refusals */
	uint64_t drop_not_ours;         /* for another address */
	uint64_t arp_replies, arp_ignored, icmp_echo; /* arp_ignored: ARP needing no answer */
	uint64_t syn_rcvd, syn_cookies_sent, cookies_ok, cookies_bad;
	uint64_t syn_dropped;           /* no socket free */
	uint64_t accepted, refused;
	uint64_t rst_sent, rst_rcvd, challenge_acks;
	uint64_t out_of_window, bad_ack, port_closed;
	uint64_t retransmits, fast_retransmits, timeouts, zero_window_probes;
	uint64_t ooo_segments, dup_segments;
	uint64_t time_wait_recycled;    /* records dropped early: table full */
	uint64_t sock_timeouts, fin_wait_timeouts;
	uint64_t orphan_timeouts;       /* closed sockets reset at fin_wait_ms */
};

enum us_state {
	US_CLOSED = 0, US_SYN_RCVD, US_ESTABLISHED, US_CLOSE_WAIT, US_LAST_ACK,
	US_FIN_WAIT_1, US_FIN_WAIT_2, US_CLOSING, US_TIME_WAIT
};

struct us_stack;

/* A stack for <cfg>: NULL when <cfg> is out of range (*why says what) or
 * memory runs out. */
struct us_stack *us_stack_new(const struct us_config *cfg, const struct us_ops *ops,
			      const char **why);
void us_stack_free(struct us_stack *st);

/* One received frame, at <now_us> (a monotonic clock in microseconds).
 * <csum_ok>: the device verified the checksums. */
void us_stack_input(struct us_stack *st, const uint8_t *frame, size_t len, int csum_ok,
		    uint64_t now_us);
/* Run the timers due by <now_us> and send the ACKs that input left
 * pending (call after each batch of input, and when idle). */
void us_stack_poll(struct us_stack *st, uint64_t now_us);
/* When us_stack_poll next has something to do (UINT64_MAX: nothing). */
uint64_t us_stack_next_us(const struct us_stack *st);

const struct us_stats *us_stack_stats(const struct us_stack *st);
/* Sockets in use (half-open and orphans included), and TIME_WAIT records. */
uint32_t us_stack_socks(const struct us_stack *st);
uint32_t us_stack_time_waits(const struct us_stack *st);
/* Bytes of socket buffers allocated now. */
uint64_t us_stack_buffer_bytes(const struct us_stack *st);

/* The application's side of a socket. */
void us_sock_set_user(struct us_sock *s, void *user);
enum us_state us_sock_state(const struct us_sock *s);
void us_sock_peer(const struct us_sock *s, uint32_t *ip, uint16_t *port);
/* Read in-order bytes: how many; 0 with *eof set once the peer's FIN has
 * been read past (or the connection failed). */
size_t us_sock_read(struct us_sock *s, uint8_t *out, size_t max, int *eof);
/* Queue bytes to send: how many fit (0 when full; -1 when the connection
 * can no longer send: shut down, reset or timed out). */
long us_sock_write(struct us_sock *s, const void *data, size_t len);
/* Send a FIN after what is queued. */
void us_sock_shutdown(struct us_sock *s);
/* The application is done with <s>: a FIN after what is queued (a reset
 * if unread bytes remain, as a kernel does), then the stack finishes the
 * connection on its own.  <s> must not be used again. */
void us_sock_close(struct us_sock *s);
/* Reset the connection now; <s> must not be used again. */
void us_sock_abort(struct us_sock *s);

#endif
