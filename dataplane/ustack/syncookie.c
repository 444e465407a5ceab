/*
 * syncookie.c - SYN cookies (see syncookie.h).
 */
#include <stddef.h>

#include "../../common/siphash.h"
#include "syncookie.h"

/* MSS values a cookie can carry: the largest not above the peer's is
 * chosen (the common Ethernet, tunnel and jumbo sizes). */
static const uint16_t us_cookie_mss[8] = { 216, 536, 1024, 1200, 1360, 1440, 1460, 8960 };

static uint32_t us_cookie_mac(const struct us_cookie_key *k, uint32_t saddr,
			      uint16_t sport, uint32_t daddr, uint16_t dport,
			      uint32_t cisn, uint32_t slot, uint32_t idx)
{
	uint8_t m[20];
	uint32_t w[5] = { saddr, daddr, (uint32_t)sport << 16 | dport, cisn,
			  slot << 3 | idx };

	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			m[4 * i + j] = (uint8_t)(w[i] >> (24 - 8 * j));
	return (uint32_t)siphash24(k->k0, k->k1, m, sizeof(m)) & 0xffffff;
}

uint32_t us_cookie_make(const struct us_cookie_key *k, uint32_t saddr, uint16_t sport,
			uint32_t daddr, uint16_t dport, uint32_t cisn, uint16_t mss,
			uint64_t now_s)
{
	uint32_t slot = (uint32_t)(now_s / US_COOKIE_SLOT_S) & 31, idx = 0;

	for (uint32_t i = 0; i < 8; i++)
		if (us_cookie_mss[i] <= mss)
			idx = i;
	return slot << 27 | idx << 24 |
	       us_cookie_mac(k, saddr, sport, daddr, dport, cisn, slot, idx);
}

uint16_t us_cookie_check(const struct us_cookie_key *k, uint32_t saddr, uint16_t sport,
			 uint32_t daddr, uint16_t dport, uint32_t cisn, uint32_t cookie,
			 uint64_t now_s)
{
	uint32_t slot = cookie >> 27, idx = cookie >> 24 & 7;
	uint32_t now = (uint32_t)(now_s / US_COOKIE_SLOT_S) & 31;

	if (slot != now && slot != ((now + 31) & 31))
		return 0;       /* older than the previous slot */
	if (us_cookie_mac(k, saddr, sport, daddr, dport, cisn, slot, idx) !=
	    (cookie & 0xffffff))
		return 0;
	return us_cookie_mss[idx];
}
