/*
 * rxq.c - the receive queue (see rxq.h).
 */
#include "rxq.h"

#include <string.h>

void us_rxq_init(struct us_rxq *q, uint8_t *buf, uint32_t cap, uint32_t seq)
{
	memset(q, 0, sizeof(*q));
	q->buf = buf;
	q->cap = cap;
	q->head = q->nxt = seq;
	q->recent = -1;
}

uint32_t us_rxq_window(const struct us_rxq *q)
{
	return q->cap - (q->nxt - q->head);
}

uint32_t us_rxq_readable(const struct us_rxq *q)
{
	return q->nxt - q->head;
}

/* Copy [seq, seq + len) into the ring. */
static void rxq_copy_in(struct us_rxq *q, uint32_t seq, const uint8_t *data, uint32_t len)
{
	uint32_t off = seq & (q->cap - 1), first = q->cap - off;

	if (first > len)
		first = len;
	memcpy(q->buf + off, data, first);
	memcpy(q->buf, data + first, len - first);
}

/* Record [l, r) as received out of order, merging ranges it touches.
 * 0, or -1 when every range is taken. */
static int rxq_add_range(struct us_rxq *q, uint32_t l, uint32_t r)
{
	int i = 0, j;

	while (i < q->nooo && US_SEQ_LT(q->ooo[i].r, l))
		i++;            /* ranges wholly before, not touching */
	j = i;
	while (j < q->nooo && US_SEQ_LEQ(q->ooo[j].l, r)) {
		/* overlaps or touches: absorb it */
		if (US_SEQ_LT(q->ooo[j].l, l))
			l = q->ooo[j].l;
		if (US_SEQ_LT(r, q->ooo[j].r))
			r = q->ooo[j].r;
		j++;
	}
	if (i == j) {           /* a new range at i */
		if (q->nooo == US_RXQ_RANGES)
			return -1;
		memmove(&q->ooo[i + 1], &q->ooo[i], (size_t)(q->nooo - i) * sizeof(q->ooo[0]));
		q->nooo++;
	} else if (j - i > 1) { /* ranges i..j-1 become one */
		memmove(&q->ooo[i + 1], &q->ooo[j], (size_t)(q->nooo - j) * sizeof(q->ooo[0]));
		q->nooo -= j - i - 1;
	}
	q->ooo[i].l = l;
	q->ooo[i].r = r;
	q->recent = i;
	return 0;
}

int us_rxq_put(struct us_rxq *q, uint32_t seq, const uint8_t *data, uint32_t len)
{
	uint32_t end = seq + len, wend = q->nxt + us_rxq_window(q), before;

	/* trim what was already received in order, and what is past the
	 * window */
	if (US_SEQ_LT(seq, q->nxt)) {
		if (US_SEQ_LEQ(end, q->nxt))
			return 0;
		data += q->nxt - seq;
		seq = q->nxt;
	}
	if (US_SEQ_LT(wend, end))
		end = wend;
	if (!US_SEQ_LT(seq, end))
		return 0;       /* nothing left inside the window */
	len = end - seq;
	if (seq != q->nxt) {
		/* out of order: keep it in place if a range is free */
		if (rxq_add_range(q, seq, end) < 0)
			return -1;
		rxq_copy_in(q, seq, data, len);
		return 0;
	}
	rxq_copy_in(q, seq, data, len);
	before = q->nxt;
	q->nxt = end;
	/* ranges now reached (or passed) by nxt join the stream */
	while (q->nooo && US_SEQ_LEQ(q->ooo[0].l, q->nxt)) {
		if (US_SEQ_LT(q->nxt, q->ooo[0].r))
			q->nxt = q->ooo[0].r;
		memmove(&q->ooo[0], &q->ooo[1], (size_t)(q->nooo - 1) * sizeof(q->ooo[0]));
		q->nooo--;
		q->recent = q->recent > 0 ? q->recent - 1 : -1;
	}
	return (int)(q->nxt - before);
}

size_t us_rxq_read(struct us_rxq *q, uint8_t *out, size_t max)
{
	uint32_t n = us_rxq_readable(q), off, first;

	if (n > max)
		n = (uint32_t)max;
	off = q->head & (q->cap - 1);
	first = q->cap - off;
	if (first > n)
		first = n;
	memcpy(out, q->buf + off, first);
	memcpy(out + first, q->buf, n - first);
	q->head += n;
	return n;
}

int us_rxq_sack(const struct us_rxq *q, uint32_t blocks[][2], int max)
{
	int n = 0;

	if (q->recent >= 0 && q->recent < q->nooo && n < max) {
		blocks[n][0] = q->ooo[q->recent].l;
		blocks[n][1] = q->ooo[q->recent].r;
		n++;
	}
	for (int i = 0; i < q->nooo && n < max; i++) {
		if (i == q->recent)
			continue;
		blocks[n][0] = q->ooo[i].l;
		blocks[n][1] = q->ooo[i].r;
		n++;
	}
	return n;
}
