/*
 * hdr_test.c - the load generator's latency histogram: percentiles agree
 * with the exact (nearest-rank) percentiles of the recorded values within
 * the stated relative error; index arithmetic round-trips; merge, clamp,
 * reset and bad arguments.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../common/result.h"
#include "../../loadgen/hdr.h"
#include "check.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* xorshift64: reproducible values without libc's rand state. */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_against_exact(void)
{
	enum { N = 200000 };
	static const double ps[] = { 1, 10, 50, 90, 99, 99.9, 99.99, 100 };
	uint64_t *vals = malloc(N * sizeof(*vals)), seed = 0x9e3779b97f4a7c15ull;
	struct hdr h;
	int bad = 0;

	CHECK(vals != NULL);
	CHECK_EQ(hdr_init(&h, 60000000), IG_OK);
	for (size_t i = 0; i < N; i++) {
		/* log-uniform over 1 µs .. 60 s: every bucket gets values */
		double e = (double)(rng(&seed) % 1000000) / 1000000.0 * log(6e7);
		vals[i] = (uint64_t)exp(e);
		hdr_record(&h, vals[i]);
	}
	qsort(vals, N, sizeof(*vals), cmp_u64);
	for (size_t i = 0; i < IG_ARRAY_LEN(ps); i++) {
		uint64_t want = exact_percentile(vals, N, ps[i]);
		uint64_t got = hdr_percentile(&h, ps[i]);

		/* never below, at most 1/1024 above */
		if (got < want || (double)(got - want) > (double)want * HDR_REL_ERROR) {
			fprintf(stderr, "p%g: exact %llu hdr %llu\n", ps[i],
				(unsigned long long)want, (unsigned long long)got);
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(h.total, N);
	CHECK_EQ(h.min, vals[0]);
	CHECK_EQ(h.max, vals[N - 1]);
	CHECK_EQ(hdr_percentile(&h, 100), vals[N - 1]);
	hdr_free(&h);
	free(vals);
}

static void test_small_values_exact(void)
{
	struct hdr h;

	CHECK_EQ(hdr_init(&h, 1000000), IG_OK);
	for (uint64_t v = 1; v <= 100; v++)
		hdr_record(&h, v);
	CHECK_EQ(hdr_percentile(&h, 50), 50);
	CHECK_EQ(hdr_percentile(&h, 99), 99);
	CHECK_EQ(hdr_percentile(&h, 99.9), 100);
	CHECK(fabs(hdr_mean(&h) - 50.5) < 1e-9);
	hdr_free(&h);
}

static void test_index_roundtrip(void)
{
	int bad = 0;

	for (uint64_t v = 0; v < 70000000; v = v < 5000 ? v + 1 : v + v / 333) {
		size_t i = hdr_index_of(v);

		if (hdr_lowest_equiv(i) > v || hdr_highest_equiv(i) < v)
			bad++;
		if (i > 0 && hdr_highest_equiv(i - 1) + 1 != hdr_lowest_equiv(i))
			bad++;
	}
	CHECK_EQ(bad, 0);
}

static void test_merge_clamp_reset(void)
{
	struct hdr a, b, c;

	CHECK_EQ(hdr_init(&a, 100000), IG_OK);
	CHECK_EQ(hdr_init(&b, 100000), IG_OK);
	CHECK_EQ(hdr_init(&c, 1000000), IG_OK);
	hdr_record_n(&a, 10, 3);
	hdr_record(&b, 20);
	hdr_record(&b, 5000000);        /* above highest: clamped */
	CHECK_EQ(b.clamped, 1);
	CHECK_EQ(b.max, 100000);
	CHECK_EQ(hdr_merge(&a, &b), IG_OK);
	CHECK_EQ(a.total, 5);
	CHECK_EQ(a.min, 10);
	CHECK_EQ(hdr_percentile(&a, 60), 10);
	CHECK_EQ(hdr_percentile(&a, 80), 20);
	/* different shapes cannot merge */
	CHECK_EQ(hdr_merge(&c, &a), IG_EUSAGE);
	hdr_reset(&a);
	CHECK_EQ(a.total, 0);
	CHECK_EQ(hdr_percentile(&a, 99), 0);
	CHECK_EQ(hdr_mean(&a), 0);
	hdr_free(&a);
	hdr_free(&b);
	hdr_free(&c);
}

/* Counts below a value: exact under 2048, to the bucket above. */
static void test_count_below(void)
{
	struct hdr h;

	CHECK_EQ(hdr_init(&h, 1000000), IG_OK);
	for (uint64_t v = 1; v <= 100000; v++)
		hdr_record(&h, v);
	CHECK_EQ(hdr_count_below(&h, 1), 0);
	CHECK_EQ(hdr_count_below(&h, 1000), 999);
	CHECK(hdr_count_below(&h, 50000) >= 49950 && hdr_count_below(&h, 50000) < 50000);
	CHECK_EQ(hdr_count_below(&h, 999999), 100000);
	hdr_free(&h);
}

static void test_bad_init(void)
{
	struct hdr h;

	CHECK_EQ(hdr_init(&h, 100), IG_EUSAGE);     /* below one bucket */
	CHECK_EQ(hdr_init(&h, UINT64_MAX), IG_EUSAGE);
}

int main(void)
{
	test_count_below();
	test_against_exact();
	test_small_values_exact();
	test_index_roundtrip();
	test_merge_clamp_reset();
	test_bad_init();
	return check_done("hdr_test");
}
