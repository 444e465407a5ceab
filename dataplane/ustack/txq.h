/*
 * txq.h - a TCP connection's send queue: the bytes the application wrote,
 * from the oldest unacknowledged (snd_una) to the last queued, in a ring.
 * The connection sends from it (new data, or a retransmission from any
 * offset) and frees what ACKs cover.  Sans-I/O; sequence numbers wrap.
 */
#ifndef IG_USTACK_TXQ_H
#define IG_USTACK_TXQ_H
#include <stddef.h>
#include <stdint.h>

struct us_txq {
	uint8_t *buf;
	uint32_t cap;           /* a power of two */
	uint32_t una;           /* sequence of buf's first byte (snd_una) */
	uint32_t len;           /* bytes queued from una */
};

void us_txq_init(struct us_txq *q, uint8_t *buf, uint32_t cap, uint32_t iss_plus1);
/* Queue up to <len> bytes: how many fit. */
size_t us_txq_write(struct us_txq *q, const uint8_t *data, size_t len);
/* Room left. */
uint32_t us_txq_room(const struct us_txq *q);
/* Copy up to <max> bytes starting at sequence <seq> (una <= seq <=
 * una + len) into <out>: how many. */
size_t us_txq_peek(const struct us_txq *q, uint32_t seq, uint8_t *out, size_t max);
/* An ACK up to <ack>: the bytes it frees (0 for an old or impossible ack:
 * one past what was queued is refused as -1). */
int us_txq_ack(struct us_txq *q, uint32_t ack);

#endif
