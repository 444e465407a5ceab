/*
 * ustack_syncookie_test.c - SYN cookies: the MSS comes back, any change of
 * the 4-tuple or the client's ISN, another key or an expired slot is
 * refused, and random cookies are not accepted.
 */
#include <string.h>

#include "../../dataplane/ustack/syncookie.h"
#include "check.h"

static void test_cookies(void)
{
	struct us_cookie_key k = { 0x1234, 0x5678 }, other = { 0x1234, 0x5679 };
	uint32_t sa = 0xc6120002, da = 0xc6120001, cisn = 0xdeadbeef;
	uint64_t t = 1800000000;
	uint32_t c = us_cookie_make(&k, sa, 40000, da, 443, cisn, 1460, t);
	uint32_t accepted = 0, x = 0x9e3779b9;

	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t), 1460);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t + 64), 1460);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t + 128), 0);
	CHECK_EQ(us_cookie_check(&k, sa + 1, 40000, da, 443, cisn, c, t), 0);
	CHECK_EQ(us_cookie_check(&k, sa, 40001, da, 443, cisn, c, t), 0);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 444, cisn, c, t), 0);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn + 1, c, t), 0);
	CHECK_EQ(us_cookie_check(&other, sa, 40000, da, 443, cisn, c, t), 0);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c ^ 0x01000000, t), 0);
	/* the largest table MSS not above the peer's */
	c = us_cookie_make(&k, sa, 40000, da, 443, cisn, 1400, t);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t), 1360);
	c = us_cookie_make(&k, sa, 40000, da, 443, cisn, 100, t);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t), 216);
	c = us_cookie_make(&k, sa, 40000, da, 443, cisn, 9000, t);
	CHECK_EQ(us_cookie_check(&k, sa, 40000, da, 443, cisn, c, t), 8960);
	/* guessing: 200,000 random cookies for a live slot, none accepted
	 * (each passes with probability 2^-24 at most) */
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		accepted += us_cookie_check(&k, sa, 40000, da, 443, cisn, x, t) != 0;
	}
	CHECK(accepted <= 1);
}

int main(void)
{
	test_cookies();
	return check_done("ustack_syncookie_test");
}
