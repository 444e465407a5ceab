/*
 * ratelimit_test.c - token buckets under synthetic time: burst then 429,
 * refill, per-source and per-/64 keys, bounded memory, eviction order.
 */
#include <math.h>
#include <stdint.h>

#include "../../common/result.h"
#include "../../dataplane/ratelimit.h"
#include "check.h"

#define MS UINT64_C(1000000)
#define T0 (UINT64_C(5000) * 1000 * MS)     /* an arbitrary monotonic start */

static const uint8_t A4[4] = { 192, 0, 2, 1 }, B4[4] = { 192, 0, 2, 2 };

/* How many of <n> requests at <now> are allowed. */
static int take_n(struct ratelimit *rl, const void *addr, size_t len, int n,
		  uint64_t now)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += ratelimit_take(rl, addr, len, now) == 1;
	return ok;
}

static void test_args(void)
{
	struct ratelimit *rl;

	CHECK(ratelimit_new(64, 0, 5) == NULL);
	CHECK(ratelimit_new(64, -1, 5) == NULL);
	CHECK(ratelimit_new(64, NAN, 5) == NULL);
	CHECK(ratelimit_new(64, 2e9, 5) == NULL);
	CHECK(ratelimit_new(64, 10, 0.5) == NULL);
	CHECK(ratelimit_new(64, 10, NAN) == NULL);
	CHECK(ratelimit_new(64, 1e-3, 1e7) == NULL);    /* cap overflows */
	CHECK(ratelimit_new(SIZE_MAX, 10, 5) == NULL);
	rl = ratelimit_new(0, 10, 5);                   /* rounded up to one set */
	CHECK(rl != NULL);
	CHECK_EQ(ratelimit_take(rl, A4, 17, T0), IG_EUSAGE);
	CHECK_EQ(ratelimit_take(rl, NULL, 4, T0), IG_EUSAGE);
	CHECK_EQ(ratelimit_take(NULL, A4, 4, T0), IG_EUSAGE);
	CHECK_EQ(ratelimit_tracked(rl), 0);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void test_bucket(void)
{
	struct ratelimit *rl = ratelimit_new(64, 10, 5);

	CHECK(rl != NULL);
	CHECK_EQ(take_n(rl, A4, 4, 5, T0), 5);          /* the burst */
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0), 0);
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 99 * MS), 0);
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 100 * MS), 1); /* 1 per 100 ms */
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 100 * MS), 0);
	/* limited requests do not push the refill back */
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 150 * MS), 0);
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 200 * MS), 1);
	/* a clock stepping back refills nothing */
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0), 0);
	/* a long pause refills up to the burst, no more */
	CHECK_EQ(take_n(rl, A4, 4, 20, T0 + 60000 * MS), 5);
	/* the other source was never touched */
	CHECK_EQ(take_n(rl, B4, 4, 20, T0 + 60000 * MS), 5);
	/* the unknown source (no address) is one source of its own */
	CHECK_EQ(take_n(rl, NULL, 0, 20, T0), 5);
	CHECK_EQ(ratelimit_tracked(rl), 3);
	ratelimit_free(rl);

	/* a fractional rate: one request per 2.5 s */
	rl = ratelimit_new(64, 0.4, 1);
	CHECK_EQ(take_n(rl, A4, 4, 3, T0), 1);
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 2499 * MS), 0);
	CHECK_EQ(ratelimit_take(rl, A4, 4, T0 + 2500 * MS), 1);
	ratelimit_free(rl);
}

static void test_keys(void)
{
	struct ratelimit *rl = ratelimit_new(64, 1, 2);
	uint8_t h1[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t h2[16], other[16], mapped[16] = { 0 };

	memcpy(h2, h1, 16);
	h2[15] = 2;                     /* same /64 */
	memcpy(other, h1, 16);
	other[7] = 2;                   /* another /64 */
	mapped[10] = mapped[11] = 0xff;
	memcpy(mapped + 12, A4, 4);

	CHECK_EQ(take_n(rl, h1, 16, 1, T0), 1);
	CHECK_EQ(take_n(rl, h2, 16, 5, T0), 1);         /* shares h1's bucket */
	CHECK_EQ(take_n(rl, other, 16, 5, T0), 2);
	CHECK_EQ(take_n(rl, A4, 4, 1, T0), 1);
	CHECK_EQ(take_n(rl, mapped, 16, 5, T0), 1);     /* ::ffff:192.0.2.1 */
	CHECK_EQ(ratelimit_tracked(rl), 3);
	ratelimit_free(rl);
}

static void test_bounded(void)
{
	struct ratelimit *rl = ratelimit_new(64, 1, 1);
	uint32_t a;
	int ok = 0;

	for (a = 0; a < 100000; a++)
		ok += ratelimit_take(rl, &a, 4, T0 + a) == 1;
	CHECK_EQ(ok, 100000);           /* every new source has its burst */
	CHECK_EQ(ratelimit_tracked(rl), 64);
	ratelimit_free(rl);
}

/* One set of 8 ways: the least recently seen source is evicted and starts
 * over with a full bucket. */
static void test_eviction(void)
{
	struct ratelimit *rl = ratelimit_new(RATELIMIT_WAYS, 1, 3);
	uint32_t src;
	uint64_t t = T0;

	CHECK_EQ(take_n(rl, A4, 4, 5, t), 3);           /* A drained */
	for (src = 1; src < RATELIMIT_WAYS; src++)
		CHECK_EQ(ratelimit_take(rl, &src, 4, ++t), 1);
	CHECK_EQ(ratelimit_tracked(rl), RATELIMIT_WAYS);
	/* A is seen again (still limited) so source 1 is now the oldest */
	CHECK_EQ(ratelimit_take(rl, A4, 4, ++t), 0);
	CHECK_EQ(ratelimit_take(rl, &src, 4, ++t), 1);  /* source 8 evicts 1 */
	CHECK_EQ(ratelimit_take(rl, A4, 4, ++t), 0);    /* A kept its state */
	/* eight new sources push A out; back, it has its full burst again */
	for (src = 100; src < 100 + RATELIMIT_WAYS; src++)
		CHECK_EQ(ratelimit_take(rl, &src, 4, ++t), 1);
	CHECK_EQ(take_n(rl, A4, 4, 5, ++t), 3);
	CHECK_EQ(ratelimit_tracked(rl), RATELIMIT_WAYS);
	ratelimit_free(rl);
}

int main(void)
{
	test_args();
	test_bucket();
	test_keys();
	test_bounded();
	test_eviction();
	return check_done("ratelimit");
}
