/*
 * cc.h - a TCP sender's timing and congestion control, sans-I/O: the
 * retransmission timer of RFC 6298 (smoothed RTT, variance, backoff) and
 * NewReno (RFC 5681 slow start and congestion avoidance with appropriate
 * byte counting, RFC 6582 fast retransmit and recovery, RFC 6928's initial
 * window).  The connection feeds it ACKs and timeouts; it answers with the
 * congestion window and when to retransmit.  Sequence numbers wrap.
 */
#ifndef IG_USTACK_CC_H
#define IG_USTACK_CC_H
#include <stdint.h>

#define US_RTO_MIN_MS 200       /* Linux's floor; RFC 6298 says 1 s "SHOULD" */
#define US_RTO_MAX_MS 60000
#define US_RTO_INIT_MS 1000

struct us_rtt {
	uint32_t srtt_us, rttvar_us;    /* 0: no sample yet */
	uint32_t rto_ms;
};

void us_rtt_init(struct us_rtt *r);
/* A round-trip sample (never from a retransmitted segment: Karn). */
void us_rtt_sample(struct us_rtt *r, uint32_t rtt_us);
/* The timer went off: back off (doubling, at most US_RTO_MAX_MS). */
void us_rtt_backoff(struct us_rtt *r);
/* New data was acknowledged: the backoff ends, RTO is SRTT + 4 RTTVAR
 * again even without a sample (as 4.4BSD does when snd_una advances). */
void us_rtt_restore(struct us_rtt *r);

struct us_cc {
	uint32_t mss;
	uint32_t cwnd, ssthresh;
	uint32_t recover;               /* RFC 6582: the highest byte sent when
					 * recovery (or a timeout) began */
	uint8_t recover_set;
	uint32_t acked_ca;              /* bytes acked in congestion avoidance */
	uint8_t dupacks;
	uint8_t in_recovery;
};

/* What the sender does after an event. */
enum us_cc_action { US_CC_NONE, US_CC_RETRANSMIT };

void us_cc_init(struct us_cc *c, uint32_t mss);
/*
 * An ACK: <acked> new bytes acknowledged (0: a duplicate ACK, which counts
 * only when data is outstanding and the window did not change), <ack> its
 * ack number, <snd_nxt> and <flight> (bytes outstanding before it).
 * Returns US_CC_RETRANSMIT when the first unacknowledged segment must go
 * again now (the third duplicate, or a partial ACK in recovery).
 */
enum us_cc_action us_cc_ack(struct us_cc *c, uint32_t ack, uint32_t acked,
			    uint32_t snd_nxt, uint32_t flight);
/* The retransmission timer expired with <flight> bytes outstanding. */
void us_cc_timeout(struct us_cc *c, uint32_t snd_nxt, uint32_t flight);

#endif
