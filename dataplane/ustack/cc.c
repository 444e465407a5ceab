/*
 * cc.c - RTO and NewReno (see cc.h).
 */
#include "cc.h"

#include "rxq.h"        /* US_SEQ_LT */

void us_rtt_init(struct us_rtt *r)
{
	r->srtt_us = r->rttvar_us = 0;
	r->rto_ms = US_RTO_INIT_MS;
}

static uint32_t us_clamp_rto(uint64_t ms)
{
	return ms < US_RTO_MIN_MS ? US_RTO_MIN_MS : ms > US_RTO_MAX_MS ? US_RTO_MAX_MS
								     : (uint32_t)ms;
}

void us_rtt_sample(struct us_rtt *r, uint32_t rtt_us)
{
	if (!rtt_us)
		rtt_us = 1;
	if (!r->srtt_us) {
		/* RFC 6298 §2.2 */
		r->srtt_us = rtt_us;
		r->rttvar_us = rtt_us / 2;
	} else {
		/* §2.3, with alpha 1/8 and beta 1/4 */
		uint32_t d = r->srtt_us > rtt_us ? r->srtt_us - rtt_us : rtt_us - r->srtt_us;

		r->rttvar_us = r->rttvar_us - r->rttvar_us / 4 + d / 4;
		r->srtt_us = r->srtt_us - r->srtt_us / 8 + rtt_us / 8;
	}
	us_rtt_restore(r);
}

void us_rtt_restore(struct us_rtt *r)
{
	if (!r->srtt_us) {
		r->rto_ms = US_RTO_INIT_MS;
		return;
	}
	/* RTO = SRTT + max(G, 4 RTTVAR), G a 1 ms clock */
	r->rto_ms = us_clamp_rto(((uint64_t)r->srtt_us +
				  (4ull * r->rttvar_us > 1000 ? 4ull * r->rttvar_us : 1000) +
				  999) / 1000);
}

void us_rtt_backoff(struct us_rtt *r)
{
	r->rto_ms = us_clamp_rto((uint64_t)r->rto_ms * 2);
}

void us_cc_init(struct us_cc *c, uint32_t mss)
{
	uint32_t iw = 2 * mss > 14600 ? 2 * mss : 14600;

	c->mss = mss;
	/* RFC 6928: min(10 MSS, max(2 MSS, 14600)) */
	c->cwnd = 10 * mss < iw ? 10 * mss : iw;
	c->ssthresh = UINT32_MAX;
	c->recover = 0;
	c->recover_set = 0;
	c->acked_ca = 0;
	c->dupacks = 0;
	c->in_recovery = 0;
}

static uint32_t us_cc_half(const struct us_cc *c, uint32_t flight)
{
	/* RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 SMSS) */
	return flight / 2 > 2 * c->mss ? flight / 2 : 2 * c->mss;
}

enum us_cc_action us_cc_ack(struct us_cc *c, uint32_t ack, uint32_t acked,
			    uint32_t snd_nxt, uint32_t flight)
{
	if (!acked) {
		if (!flight)
			return US_CC_NONE;
		if (c->in_recovery) {
			c->cwnd += c->mss;      /* RFC 6582 §3.2 step 3: inflate */
			return US_CC_NONE;
		}
		if (++c->dupacks != 3)
			return US_CC_NONE;
		/* RFC 6582 §3.2 step 2: no fast retransmit when the ACK does
		 * not cover more than recover (losses of a window already
		 * recovered from, or of one a timeout retransmits) */
		if (c->recover_set && US_SEQ_LEQ(ack, c->recover))
			return US_CC_NONE;
		c->ssthresh = us_cc_half(c, flight);
		c->cwnd = c->ssthresh + 3 * c->mss;
		c->recover = snd_nxt - 1;       /* the highest byte sent */
		c->recover_set = 1;
		c->in_recovery = 1;
		return US_CC_RETRANSMIT;
	}
	c->dupacks = 0;
	if (c->in_recovery) {
		if (US_SEQ_LEQ(ack, c->recover)) {
			/* §3.2 step 5: a partial ACK; deflate by what it
			 * acked, add one segment back, retransmit the next */
			c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
			if (acked >= c->mss)
				c->cwnd += c->mss;
			if (c->cwnd < c->mss)
				c->cwnd = c->mss;
			return US_CC_RETRANSMIT;
		}
		/* step 6: a full ACK ends recovery */
		c->in_recovery = 0;
		flight = flight > acked ? flight - acked : 0;
		c->cwnd = flight + c->mss < c->ssthresh ? flight + c->mss : c->ssthresh;
		return US_CC_NONE;
	}
	if (c->cwnd < c->ssthresh) {
		/* slow start, RFC 3465 byte counting with L = 2 SMSS */
		c->cwnd += acked < 2 * c->mss ? acked : 2 * c->mss;
	} else {
		/* congestion avoidance: one SMSS per cwnd of bytes acked */
		c->acked_ca += acked;
		if (c->acked_ca >= c->cwnd) {
			c->acked_ca -= c->cwnd;
			c->cwnd += c->mss;
		}
	}
	return US_CC_NONE;
}

void us_cc_timeout(struct us_cc *c, uint32_t snd_nxt, uint32_t flight)
{
	/* RFC 5681 (4) and §3.1: the loss window is one segment */
	c->ssthresh = us_cc_half(c, flight);
	c->cwnd = c->mss;
	c->acked_ca = 0;
	c->dupacks = 0;
	c->in_recovery = 0;
	c->recover = snd_nxt - 1; /* RFC 6582 §4: no fast retransmit for these */
	c->recover_set = 1;
}
