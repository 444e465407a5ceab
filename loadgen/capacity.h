/*
 * capacity.h - `find-capacity`: the SLO, the verdict on one trial and the
 * search for the highest offered rate that keeps it.  Sans-I/O: the search
 * calls back into the caller to run each trial, so the unit test drives it
 * with a model server.
 *
 * A trial passes when every latency term holds on the corrected latency
 * (from the intended send time, every answer), the error ratio (failed
 * requests and non-2xx/3xx answers over offered) holds, and the achieved
 * rate is at least 99% of the offered one.  A trial in which the generator
 * fell behind its own schedule is neither pass nor fail: it is
 * "generator-limited" and ends the search, because above that rate this
 * machine measures itself, not the server.
 *
 * The search: exponential growth from <start_rate> (x <growth>) until a
 * trial fails (or <max_rate> passes), then bisection between the highest
 * pass and the lowest fail until they are within <precision> (relative),
 * all with trials of <trial_duration>; then a confirmation of
 * <confirm_duration> at the highest pass.  A failed confirmation steps the
 * rate down by <precision> and confirms again, at most <confirm_retries>
 * times.
 */
#ifndef LG_CAPACITY_H
#define LG_CAPACITY_H
#include <stddef.h>
#include <stdint.h>

#include "hdr.h"

#define LG_SLO_MAX_TERMS 6
#define LG_ACHIEVED_MIN 0.99    /* achieved / offered for a pass */

struct lg_slo {
	int nlat;
	double pct[LG_SLO_MAX_TERMS];       /* e.g. 99.9 */
	uint64_t below_us[LG_SLO_MAX_TERMS];/* corrected latency must be below */
	double max_error;                   /* ratio; < 0: no error term */
};

/* Parse "p99<50ms,p99.9<200ms,errors<0.1%" (units us, ms, s; errors in %).
 * IG_OK, or IG_EUSAGE with <*why>. */
int lg_slo_parse(const char *s, struct lg_slo *slo, const char **why);

enum lg_verdict { LG_PASS, LG_FAIL, LG_GEN_LIMITED, LG_INTERRUPTED };
extern const char *const lg_verdict_names[];

/* One trial as measured (filled by the caller's runner) and judged. */
struct lg_trial {
	double rate, duration;          /* asked for */
	int confirm;                    /* a confirmation trial */
	double offered_rate, achieved_rate;
	uint64_t offered, answered, errors;
	uint64_t p50, p99, p999;        /* corrected, µs */
	uint64_t slo_us[LG_SLO_MAX_TERMS];
	int generator_limited;          /* the runner saw the generator lag */
	char lag_note[96];              /* how it lagged */
	int interrupted;                /* SIGINT during the trial */
	enum lg_verdict verdict;
	char why[192];                  /* every failed term, or "ok" */
};

/* Judge <t> against <slo> given <h>, the corrected latency of every answer
 * in the trial: fills the percentiles, <verdict> and <why>. */
void lg_trial_judge(const struct lg_slo *slo, const struct hdr *h,
		    struct lg_trial *t);

struct lg_cap_params {
	double start_rate, max_rate;    /* requests/s */
	double growth;                  /* > 1 */
	double precision;               /* relative, (0, 0.5] */
	double trial_duration, confirm_duration;  /* s */
	int confirm_retries;
	int max_trials;                 /* search trials (not confirmations) */
};

enum lg_cap_status {
	LG_CAP_FOUND,         /* <rate> confirmed */
	LG_CAP_NONE,          /* the SLO holds at no rate tried */
	LG_CAP_GEN_LIMITED,   /* stopped: the generator lagged */
	LG_CAP_INTERRUPTED,   /* stopped: SIGINT */
	LG_CAP_ERROR,         /* the runner failed */
};
extern const char *const lg_cap_status_names[];

struct lg_cap_result {
	enum lg_cap_status status;
	double rate;          /* FOUND: the capacity; else best pass so far */
	int at_max;           /* FOUND at --max-rate: the capacity is higher */
	struct lg_trial *trials;
	size_t ntrials;
	char why[256];
};

/* Run one trial at <t->rate> for <t->duration> and fill the rest of <t>
 * (judged).  Return IG_OK, or negative to abort the search. */
typedef int (*lg_trial_fn)(void *arg, struct lg_trial *t);

/* The search.  <r->trials> is malloc'd (free with lg_cap_result_free).
 * IG_OK (see <r->status>), IG_EUSAGE (bad <p>) or IG_ENOMEM. */
int lg_capacity_search(const struct lg_cap_params *p, lg_trial_fn run,
		       void *arg, struct lg_cap_result *r);
void lg_cap_result_free(struct lg_cap_result *r);

#endif
