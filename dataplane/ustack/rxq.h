/*
 * rxq.h - a TCP connection's receive queue: segments in any order, with
 * duplicates and overlaps, become the in-order byte stream the
 * application reads; out-of-order data waits in place inside the
 * advertised window, and the received ranges beyond the next expected
 * byte are reported as SACK blocks (RFC 2018, the most recent first).
 * Sans-I/O, no allocation after init.  Sequence numbers wrap (mod 2^32).
 */
#ifndef IG_USTACK_RXQ_H
#define IG_USTACK_RXQ_H
#include <stddef.h>
#include <stdint.h>

#define US_RXQ_RANGES 8         /* out-of-order ranges kept */

#define US_SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define US_SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)

struct us_rxq {
	uint8_t *buf;           /* cap bytes, indexed by seq mod cap */
	uint32_t cap;           /* a power of two */
	uint32_t head;          /* first byte not yet read */
	uint32_t nxt;           /* rcv_nxt: first byte not yet received in order */
	struct { uint32_t l, r; } ooo[US_RXQ_RANGES]; /* [l, r), ascending */
	int nooo;
	int recent;             /* index of the range last added to, or -1 */
};

/* <buf> holds <cap> bytes (a power of two, at most 2^30); the stream
 * starts at <seq> (the peer's ISN + 1). */
void us_rxq_init(struct us_rxq *q, uint8_t *buf, uint32_t cap, uint32_t seq);

/* The receive window from nxt: what the peer may send. */
uint32_t us_rxq_window(const struct us_rxq *q);

/*
 * Take the segment [seq, seq + len): what falls before nxt (a duplicate)
 * or past the window is trimmed.  Returns the bytes by which the in-order
 * stream grew (0 for a duplicate or an out-of-order piece), or -1 when an
 * out-of-order piece had to be dropped (no range left: the peer sends it
 * again).
 */
int us_rxq_put(struct us_rxq *q, uint32_t seq, const uint8_t *data, uint32_t len);

/* In-order bytes waiting to be read, and reading (consuming) them. */
uint32_t us_rxq_readable(const struct us_rxq *q);
size_t us_rxq_read(struct us_rxq *q, uint8_t *out, size_t max);

/* Up to <max> SACK blocks [left, right): the range last added to first,
 * then the others in sequence order.  Returns how many. */
int us_rxq_sack(const struct us_rxq *q, uint32_t blocks[][2], int max);

#endif
