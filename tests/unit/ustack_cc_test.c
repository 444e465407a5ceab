/*
 * ustack_cc_test.c - RFC 6298's timer (first sample, smoothing, the
 * floor, backoff) and NewReno: the initial window, slow start by byte
 * counting, congestion avoidance of one segment per window, three
 * duplicate ACKs entering fast recovery (and the fourth not again), window
 * inflation, a partial ACK retransmitting, a full ACK ending recovery, a
 * timeout's loss window, and no fast retransmit for losses before recover.
 */
#include "../../dataplane/ustack/cc.h"
#include "check.h"

static void test_rtt(void)
{
	struct us_rtt r;

	us_rtt_init(&r);
	CHECK_EQ(r.rto_ms, 1000);
	us_rtt_sample(&r, 100000);              /* 100 ms */
	CHECK(r.srtt_us == 100000 && r.rttvar_us == 50000);
	CHECK_EQ(r.rto_ms, 300);                /* 100 + 4 x 50 */
	for (int i = 0; i < 100; i++)
		us_rtt_sample(&r, 100000);
	CHECK(r.srtt_us >= 99000 && r.srtt_us <= 101000 && r.rttvar_us < 1000);
	CHECK_EQ(r.rto_ms, 200);                /* the floor */
	us_rtt_sample(&r, 2000000);             /* a 2 s outlier moves it */
	CHECK(r.rto_ms > 500);
	us_rtt_init(&r);
	for (int i = 0; i < 10; i++)
		us_rtt_backoff(&r);
	CHECK_EQ(r.rto_ms, 60000);              /* the ceiling */
}

static void test_slow_start_and_avoidance(void)
{
	struct us_cc c;
	uint32_t una = 1000;

	us_cc_init(&c, 1460);
	CHECK_EQ(c.cwnd, 10 * 1460);            /* 14600 */
	us_cc_init(&c, 9000);
	CHECK_EQ(c.cwnd, 18000);                /* min(10 MSS, max(2 MSS, 14600)) */
	us_cc_init(&c, 1460);
	/* slow start: each ACK of 2 MSS or more adds at most 2 MSS */
	una += 2920;
	CHECK_EQ(us_cc_ack(&c, una, 2920, una + 20000, 14600), US_CC_NONE);
	CHECK_EQ(c.cwnd, 14600 + 2920);
	una += 8000;
	us_cc_ack(&c, una, 8000, una + 20000, 14600);
	CHECK_EQ(c.cwnd, 14600 + 2 * 2920);
	/* congestion avoidance: one MSS per cwnd acked */
	c.ssthresh = c.cwnd;
	{
		uint32_t w = c.cwnd;

		for (uint32_t acked = 0; acked < w; acked += 1460) {
			una += 1460;
			us_cc_ack(&c, una, 1460, una + 20000, w);
		}
		CHECK_EQ(c.cwnd, w + 1460);
	}
}

static void test_fast_recovery(void)
{
	struct us_cc c;
	uint32_t una = 5000, nxt = 5000 + 20 * 1460, flight = nxt - una;

	us_cc_init(&c, 1460);
	c.cwnd = 20 * 1460;
	CHECK_EQ(us_cc_ack(&c, una, 0, nxt, flight), US_CC_NONE);
	CHECK_EQ(us_cc_ack(&c, una, 0, nxt, flight), US_CC_NONE);
	CHECK_EQ(us_cc_ack(&c, una, 0, nxt, flight), US_CC_RETRANSMIT);   /* third */
	CHECK(c.in_recovery && c.ssthresh == 10 * 1460 && c.cwnd == 13 * 1460);
	CHECK_EQ(c.recover, nxt - 1);
	CHECK_EQ(us_cc_ack(&c, una, 0, nxt, flight), US_CC_NONE);        /* inflate */
	CHECK_EQ(c.cwnd, 14 * 1460);
	/* a partial ACK: retransmit the next hole, deflate */
	CHECK_EQ(us_cc_ack(&c, una + 4 * 1460, 4 * 1460, nxt, flight), US_CC_RETRANSMIT);
	CHECK_EQ(c.cwnd, 14 * 1460 - 4 * 1460 + 1460);
	CHECK(c.in_recovery);
	/* the full ACK: out of recovery, cwnd no more than ssthresh */
	CHECK_EQ(us_cc_ack(&c, nxt, nxt - una - 4 * 1460, nxt, nxt - una - 4 * 1460),
		 US_CC_NONE);
	CHECK(!c.in_recovery && c.cwnd <= c.ssthresh);
	/* a later loss past recover enters recovery again */
	una = nxt;
	nxt += 10 * 1460;
	for (int i = 0; i < 2; i++)
		us_cc_ack(&c, una, 0, nxt, nxt - una);
	CHECK_EQ(us_cc_ack(&c, una, 0, nxt, nxt - una), US_CC_RETRANSMIT);
}

static void test_timeout(void)
{
	struct us_cc c;
	uint32_t una = 100, nxt = 100 + 10 * 1460;

	us_cc_init(&c, 1460);
	us_cc_timeout(&c, nxt, nxt - una);
	CHECK(c.cwnd == 1460 && c.ssthresh == 5 * 1460);
	/* duplicate ACKs for data sent before the timeout: no fast retransmit */
	for (int i = 0; i < 5; i++)
		CHECK_EQ(us_cc_ack(&c, una, 0, nxt, nxt - una), US_CC_NONE);
	/* no flight, no duplicate */
	us_cc_init(&c, 1460);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(us_cc_ack(&c, una, 0, una, 0), US_CC_NONE);
}

int main(void)
{
	test_rtt();
	test_slow_start_and_avoidance();
	test_fast_recovery();
	test_timeout();
	return check_done("ustack_cc_test");
}
