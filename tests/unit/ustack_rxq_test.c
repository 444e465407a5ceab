/*
 * ustack_rxq_test.c - the receive queue: a 1 MiB stream sent as segments
 * in a shuffled order with duplicates and overlaps, through a 64 KiB
 * window, across the 2^32 sequence wrap, comes out byte-exact; the window
 * never lets the peer overrun unread data; SACK blocks lie beyond the next
 * expected byte, are disjoint and put the latest range first.
 */
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/ustack/rxq.h"
#include "check.h"

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void test_basics(void)
{
	static uint8_t buf[16];
	struct us_rxq q;
	uint8_t out[16];
	uint32_t sack[4][2];

	us_rxq_init(&q, buf, 16, 1000);
	CHECK_EQ(us_rxq_window(&q), 16);
	CHECK_EQ(us_rxq_put(&q, 1004, (const uint8_t *)"EFGH", 4), 0);   /* a hole */
	CHECK_EQ(us_rxq_sack(&q, sack, 4), 1);
	CHECK(sack[0][0] == 1004 && sack[0][1] == 1008);
	CHECK_EQ(us_rxq_readable(&q), 0);
	CHECK_EQ(us_rxq_put(&q, 1010, (const uint8_t *)"KL", 2), 0);
	CHECK_EQ(us_rxq_sack(&q, sack, 4), 2);
	CHECK(sack[0][0] == 1010 && sack[1][0] == 1004);                 /* latest first */
	CHECK_EQ(us_rxq_put(&q, 1000, (const uint8_t *)"ABCD", 4), 8);   /* fills to 1008 */
	CHECK_EQ(us_rxq_sack(&q, sack, 4), 1);
	CHECK_EQ(us_rxq_read(&q, out, sizeof(out)), 8);
	CHECK(!memcmp(out, "ABCDEFGH", 8));
	CHECK_EQ(us_rxq_put(&q, 1006, (const uint8_t *)"GHIJ", 4), 4);   /* overlap, joins KL */
	CHECK_EQ(us_rxq_readable(&q), 4);
	CHECK_EQ(us_rxq_put(&q, 1000, (const uint8_t *)"ABCD", 4), 0);   /* old duplicate */
	CHECK_EQ(us_rxq_read(&q, out, 2), 2);
	CHECK(!memcmp(out, "IJ", 2));
	/* the window: 16 - 2 unread; a segment past it is cut */
	CHECK_EQ(us_rxq_window(&q), 14);
	CHECK_EQ(us_rxq_put(&q, 1012, (const uint8_t *)"0123456789abcdefghij", 20), 14);
	CHECK_EQ(us_rxq_window(&q), 0);
	CHECK_EQ(us_rxq_put(&q, 1026, (const uint8_t *)"z", 1), 0);      /* no room */
	CHECK_EQ(us_rxq_read(&q, out, 16), 16);
	CHECK(!memcmp(out, "KL0123456789abcd", 16));
}

static void test_too_many_holes(void)
{
	static uint8_t buf[256];
	struct us_rxq q;

	us_rxq_init(&q, buf, 256, 0);
	for (int i = 0; i < US_RXQ_RANGES; i++)
		CHECK_EQ(us_rxq_put(&q, (uint32_t)(10 * i + 5), (const uint8_t *)"x", 1), 0);
	CHECK_EQ(us_rxq_put(&q, 200, (const uint8_t *)"y", 1), -1);      /* dropped */
	CHECK_EQ(us_rxq_put(&q, 6, (const uint8_t *)"x", 1), 0);         /* merges: fine */
}

/* Segments of a stream, shuffled within a sliding span, some sent twice,
 * some overlapping their neighbours; the reader drains at random. */
static void test_stream(uint32_t isn)
{
	enum { TOTAL = 1 << 20, CAP = 1 << 16 };
	static uint8_t stream[TOTAL], got[TOTAL], buf[CAP];
	struct us_rxq q;
	uint32_t sent = 0, rd = 0;
	int drops = 0;

	for (uint32_t i = 0; i < TOTAL; i++)
		stream[i] = (uint8_t)(rnd() >> 24);
	us_rxq_init(&q, buf, CAP, isn);
	while (rd < TOTAL) {
		/* the sender: a segment somewhere in what the window allows,
		 * biased to the front (retransmissions and reordering) */
		uint32_t win = us_rxq_window(&q), base = q.nxt - isn;
		uint32_t off = win ? base + rnd() % (win < 9000 ? win : 9000) : base;
		uint32_t len = 1 + rnd() % 1460;
		uint32_t blocks[4][2];
		int n, got_n;

		if (off >= TOTAL)
			off = base;
		if (off + len > TOTAL)
			len = TOTAL - off;
		if (rnd() % 4 == 0)
			off = base;     /* the next expected segment */
		if (len) {
			got_n = us_rxq_put(&q, isn + off, stream + off, len);
			if (got_n < 0)
				drops++;
			sent++;
		}
		n = us_rxq_sack(&q, blocks, 4);
		for (int b = 0; b < n; b++) {
			CHECK(US_SEQ_LT(q.nxt, blocks[b][0]) && US_SEQ_LT(blocks[b][0], blocks[b][1]));
			CHECK(US_SEQ_LEQ(blocks[b][1], q.nxt + us_rxq_window(&q)));
		}
		if (rnd() % 3 == 0) {
			size_t r = us_rxq_read(&q, got + rd, rnd() % 8000);

			rd += (uint32_t)r;
		}
	}
	CHECK(!memcmp(got, stream, TOTAL));
	CHECK(sent > 1000);
	CHECK(drops < (int)sent);
}

int main(void)
{
	test_basics();
	test_too_many_holes();
	test_stream(7);
	test_stream(0xfffff000u);       /* wraps past 2^32 */
	return check_done("ustack_rxq_test");
}
