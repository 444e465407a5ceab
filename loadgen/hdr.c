/*
 * hdr.c - the bucketed latency histogram (see hdr.h for the contract).
 *
 * Layout: bucket b (b >= 0) holds values whose highest set bit is
 * HDR_SUB_BITS - 1 + b; inside it, sub-bucket s (HALF..SUB_COUNT-1) holds
 * the values v with v >> b == s.  Bucket 0 also keeps the values below
 * HALF exactly.  Flattened, bucket b's upper half starts at index
 * (b + 1) * HALF, which gives one dense array with no gaps.
 */
#include "hdr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/result.h"

static unsigned hdr_bucket_of(uint64_t v)
{
	/* The OR keeps bucket 0 for every value below SUB_COUNT. */
	unsigned top = 63 - (unsigned)__builtin_clzll(v | (HDR_SUB_COUNT - 1));

	return top - (HDR_SUB_BITS - 1);
}

size_t hdr_index_of(uint64_t v)
{
	unsigned b = hdr_bucket_of(v);
	uint64_t sub = v >> b;

	return ((size_t)b + 1) * HDR_HALF_COUNT + (size_t)(sub - HDR_HALF_COUNT);
}

uint64_t hdr_lowest_equiv(size_t idx)
{
	long b = (long)(idx / HDR_HALF_COUNT) - 1;
	uint64_t sub = idx % HDR_HALF_COUNT + HDR_HALF_COUNT;

	if (b < 0) {    /* the exact range below HALF */
		sub -= HDR_HALF_COUNT;
		b = 0;
	}
	return sub << b;
}

uint64_t hdr_highest_equiv(size_t idx)
{
	long b = (long)(idx / HDR_HALF_COUNT) - 1;

	return hdr_lowest_equiv(idx) + ((uint64_t)1 << (b < 0 ? 0 : b)) - 1;
}

int hdr_init(struct hdr *h, uint64_t highest)
{
	memset(h, 0, sizeof(*h));
	if (highest < HDR_SUB_COUNT || highest > (UINT64_MAX >> 2))
		return IG_EUSAGE;
	h->highest = highest;
	h->ncounts = hdr_index_of(highest) + 1;
	h->counts = calloc(h->ncounts, sizeof(*h->counts));
	if (!h->counts)
		return IG_ENOMEM;
	h->min = UINT64_MAX;
	return IG_OK;
}

void hdr_free(struct hdr *h)
{
	free(h->counts);
	h->counts = NULL;
	h->ncounts = 0;
}

void hdr_reset(struct hdr *h)
{
	memset(h->counts, 0, h->ncounts * sizeof(*h->counts));
	h->total = h->clamped = 0;
	h->min = UINT64_MAX;
	h->max = 0;
	h->sum = 0;
}

void hdr_record_n(struct hdr *h, uint64_t v, uint64_t n)
{
	if (!n)
		return;
	if (v > h->highest) {
		v = h->highest;
		h->clamped += n;
	}
	h->counts[hdr_index_of(v)] += n;
	h->total += n;
	h->sum += (double)v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

int hdr_merge(struct hdr *dst, const struct hdr *src)
{
	if (dst->ncounts != src->ncounts)
		return IG_EUSAGE;
	for (size_t i = 0; i < src->ncounts; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	return IG_OK;
}

uint64_t hdr_percentile(const struct hdr *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->total)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p < 0)
		p = 0;
	/* The rank of the p-th percentile (nearest-rank definition). */
	want = (uint64_t)ceil(p / 100.0 * (double)h->total);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < h->ncounts; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = hdr_highest_equiv(i);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

uint64_t hdr_count_below(const struct hdr *h, uint64_t v)
{
	uint64_t n = 0;
	size_t top = hdr_index_of(v);

	for (size_t i = 0; i < h->ncounts && i < top; i++)
		n += h->counts[i];
	return n;
}

double hdr_mean(const struct hdr *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
