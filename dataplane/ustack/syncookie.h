/*
 * syncookie.h - SYN cookies (RFC 4987 §3.6) for the userspace stack: when
 * a worker's half-open table is full, the SYN-ACK's initial sequence number
 * carries what the connection needs, and the handshake's final ACK proves
 * the peer saw it, so a SYN flood costs no memory.
 *
 * The cookie (32 bits) is: a 5-bit time slot (64 s each), a 3-bit index
 * into a table of MSS values, and a 24-bit SipHash-2-4 MAC under a secret
 * of the 4-tuple, the client's ISN, the slot and the index.  A cookie is
 * good for the current and the previous slot (64 to 128 s).  Only the MSS
 * survives a cookie handshake: window scaling, SACK and timestamps are off
 * for such a connection.
 */
#ifndef IG_USTACK_SYNCOOKIE_H
#define IG_USTACK_SYNCOOKIE_H
#include <stdint.h>

#define US_COOKIE_SLOT_S 64

struct us_cookie_key {
	uint64_t k0, k1;                /* SipHash key: random per process */
};


/* The ISN for a SYN from <saddr>:<sport> to <daddr>:<dport> with the
 * client's ISN <cisn> and MSS <mss>, at <now_s>. */
uint32_t us_cookie_make(const struct us_cookie_key *k, uint32_t saddr, uint16_t sport,
			uint32_t daddr, uint16_t dport, uint32_t cisn, uint16_t mss,
			uint64_t now_s);

/* Check the final ACK's cookie (its ack number - 1, and its seq - 1 as the
 * client's ISN): the MSS to use, or 0 when the cookie is not ours or
 * expired. */
uint16_t us_cookie_check(const struct us_cookie_key *k, uint32_t saddr, uint16_t sport,
			 uint32_t daddr, uint16_t dport, uint32_t cisn, uint32_t cookie,
			 uint64_t now_s);

#endif
