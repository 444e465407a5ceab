/*
 * txq.c - the send queue (see txq.h).
 */
#include "txq.h"

#include <string.h>

#include "rxq.h"        /* US_SEQ_LT */

void us_txq_init(struct us_txq *q, uint8_t *buf, uint32_t cap, uint32_t iss_plus1)
{
	q->buf = buf;
	q->cap = cap;
	q->una = iss_plus1;
	q->len = 0;
}

uint32_t us_txq_room(const struct us_txq *q)
{
	return q->cap - q->len;
}

size_t us_txq_write(struct us_txq *q, const uint8_t *data, size_t len)
{
	uint32_t room = us_txq_room(q), off, first;

	if (len > room)
		len = room;
	off = (q->una + q->len) & (q->cap - 1);
	first = q->cap - off;
	if (first > len)
		first = (uint32_t)len;
	memcpy(q->buf + off, data, first);
	memcpy(q->buf, data + first, len - first);
	q->len += (uint32_t)len;
	return len;
}

size_t us_txq_peek(const struct us_txq *q, uint32_t seq, uint8_t *out, size_t max)
{
	uint32_t skip = seq - q->una, n, off, first;

	if (US_SEQ_LT(seq, q->una) || skip > q->len)
		return 0;
	n = q->len - skip;
	if (n > max)
		n = (uint32_t)max;
	off = seq & (q->cap - 1);
	first = q->cap - off;
	if (first > n)
		first = n;
	memcpy(out, q->buf + off, first);
	memcpy(out + first, q->buf, n - first);
	return n;
}

int us_txq_ack(struct us_txq *q, uint32_t ack)
{
	uint32_t n = ack - q->una;

	if (US_SEQ_LEQ(ack, q->una))
		return 0;       /* old or duplicate */
	if (n > q->len)
		return -1;      /* acknowledges what was never queued */
	q->una = ack;
	q->len -= n;
	return (int)n;
}
