/*
 * syncookie.c - SYN cookies and SipHash-2-4 (see syncookie.h).
 */
#include <stddef.h>

#include "syncookie.h"

/* MSS values a cookie can carry: the largest not above the peer's is
 * chosen (the common Ethernet, tunnel and jumbo sizes). */
static const uint16_t us_cookie_mss[8] = { 216, 536, 1024, 1200, 1360, 1440, 1460, 8960 };

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t us_siphash24(const struct us_cookie_key *k, const uint8_t *in, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k->k0, v1 = 0x646f72616e646f6dull ^ k->k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k->k0, v3 = 0x7465646279746573ull ^ k->k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

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
	return (uint32_t)us_siphash24(k, m, sizeof(m)) & 0xffffff;
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
