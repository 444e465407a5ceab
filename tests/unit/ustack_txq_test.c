/*
 * ustack_txq_test.c - the send queue: what is written comes back from any
 * sequence number for (re)transmission until acknowledged, ACKs free it
 * (old ones change nothing, one past the queue is refused), the ring wraps
 * and so does the sequence space.
 */
#include <string.h>

#include "../../dataplane/ustack/txq.h"
#include "check.h"

int main(void)
{
	static uint8_t buf[16];
	struct us_txq q;
	uint8_t out[32];
	uint32_t s0 = 0xfffffffa;       /* wraps after 6 bytes */

	us_txq_init(&q, buf, 16, s0);
	CHECK_EQ(us_txq_write(&q, (const uint8_t *)"0123456789", 10), 10);
	CHECK_EQ(us_txq_room(&q), 6);
	CHECK_EQ(us_txq_write(&q, (const uint8_t *)"abcdefghij", 10), 6);
	CHECK_EQ(us_txq_peek(&q, s0 + 4, out, 5), 5);
	CHECK(!memcmp(out, "45678", 5));
	CHECK_EQ(us_txq_peek(&q, s0 - 1, out, 5), 0);           /* before una */
	CHECK_EQ(us_txq_peek(&q, s0 + 17, out, 5), 0);          /* past the end */
	CHECK_EQ(us_txq_peek(&q, s0 + 16, out, 5), 0);          /* the end: nothing */
	CHECK_EQ(us_txq_ack(&q, s0 + 8), 8);
	CHECK_EQ(us_txq_ack(&q, s0 + 3), 0);                    /* old */
	CHECK_EQ(us_txq_ack(&q, s0 + 17), -1);                  /* never sent */
	CHECK_EQ(us_txq_room(&q), 8);
	CHECK_EQ(us_txq_write(&q, (const uint8_t *)"ABCDEFGH", 8), 8);  /* the ring wraps */
	CHECK_EQ(us_txq_peek(&q, s0 + 8, out, sizeof(out)), 16);
	CHECK(!memcmp(out, "89abcdefABCDEFGH", 16));
	CHECK_EQ(us_txq_ack(&q, s0 + 24), 16);
	CHECK_EQ(us_txq_room(&q), 16);
	return check_done("ustack_txq_test");
}
