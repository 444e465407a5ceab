/*
 * hdr.h - a latency histogram with bounded relative error, in the manner of
 * Gil Tene's HdrHistogram (own implementation).
 *
 * Values are integers (the load generator records microseconds) from 0 to
 * <highest>.  Values below 2048 are kept exactly; above, each power-of-two
 * range is split into 1024 equal sub-buckets, so a recorded value v is
 * reported as a value in [v, v + v/1024]: at most 0.1% high, i.e. three
 * significant decimal digits.  Values above <highest> are clamped to it and
 * counted in `clamped`.  Recording is O(1) and never allocates; one
 * histogram belongs to one thread (merge them to combine).
 */
#ifndef LG_HDR_H
#define LG_HDR_H
#include <stddef.h>
#include <stdint.h>

#define HDR_SUB_BITS 11                         /* 2048 sub-buckets */
#define HDR_SUB_COUNT (1u << HDR_SUB_BITS)
#define HDR_HALF_COUNT (HDR_SUB_COUNT / 2)
#define HDR_REL_ERROR (1.0 / HDR_HALF_COUNT)    /* worst relative error */

struct hdr {
	uint64_t highest;     /* largest trackable value */
	uint64_t total;       /* values recorded */
	uint64_t clamped;     /* of which above <highest> */
	uint64_t min, max;    /* exact extremes (min = UINT64_MAX if empty) */
	double sum;           /* for the mean */
	size_t ncounts;
	uint64_t *counts;
};

/* Allocate a histogram tracking 0..<highest> (>= 2048).  Returns 0 or
 * IG_ENOMEM / IG_EUSAGE.  Free with hdr_free. */
int hdr_init(struct hdr *h, uint64_t highest);
void hdr_free(struct hdr *h);
void hdr_reset(struct hdr *h);

/* Record <v> <n> times. */
void hdr_record_n(struct hdr *h, uint64_t v, uint64_t n);
static inline void hdr_record(struct hdr *h, uint64_t v)
{
	hdr_record_n(h, v, 1);
}

/* Add every count of <src> into <dst> (both made with the same highest):
 * IG_OK or IG_EUSAGE. */
int hdr_merge(struct hdr *dst, const struct hdr *src);

/* The value at percentile <p> (0..100]: the smallest recorded value v such
 * that at least p% of the values are <= v, reported as the highest value
 * equivalent to v (so never below the exact answer, and at most
 * v * HDR_REL_ERROR above it).  p >= 100 gives the exact max; 0 on an empty
 * histogram. */
uint64_t hdr_percentile(const struct hdr *h, double p);
double hdr_mean(const struct hdr *h);
/* How many values were recorded below <v> (to the histogram's
 * resolution: values sharing <v>'s bucket are not counted). */
uint64_t hdr_count_below(const struct hdr *h, uint64_t v);

/* Iteration for log writers: index of <v> and the lowest / highest value
 * sharing that index. */
size_t hdr_index_of(uint64_t v);
uint64_t hdr_lowest_equiv(size_t idx);
uint64_t hdr_highest_equiv(size_t idx);

#endif
