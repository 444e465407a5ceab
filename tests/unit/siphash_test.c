/*
 * siphash_test.c - SipHash-2-4 against the reference vectors of its paper's
 * code (key 00..0f, message 00..len-1), with the key as two words and as
 * bytes, at every length around the 8-byte word boundary.
 */
#include <stdint.h>

#include "../../common/siphash.h"
#include "check.h"

int main(void)
{
	static const struct { size_t len; uint64_t h; } v[] = {
		{ 0, UINT64_C(0x726fdb47dd0e0e31) },
		{ 7, UINT64_C(0xab0200f58b01d137) },
		{ 8, UINT64_C(0x93f5f5799a932462) },
		{ 15, UINT64_C(0xa129ca6149be45e5) },
	};
	uint8_t key[16], msg[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_EQ(siphash24_key(key, msg, v[i].len), v[i].h);
		CHECK_EQ(siphash24(UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908),
				   msg, v[i].len), v[i].h);
	}
	/* a different key, a different hash */
	key[0] ^= 1;
	CHECK(siphash24_key(key, msg, 15) != v[3].h);
	return check_done("siphash");
}
