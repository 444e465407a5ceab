/*
 * sched.h - load profiles and the open-loop arrival schedule.
 *
 * A profile is a rate function r(t) (requests/s at t seconds from the
 * start) over a duration.  A schedule walks it and gives the intended send
 * time of each request: evenly spaced (1/r apart) or Poisson (exponential
 * gaps of mean 1/r).  Intended times never depend on when earlier requests
 * finished: that is what keeps the generator open-loop and its latencies
 * free of coordinated omission.  Sans-I/O; no clocks read here.
 */
#ifndef LG_SCHED_H
#define LG_SCHED_H
#include <stdint.h>

enum lg_profile_kind {
	LG_PROFILE_CONSTANT,  /* rate */
	LG_PROFILE_RAMP,      /* from -> to, linearly over the duration */
	LG_PROFILE_STEP,      /* from, + step every <every> s, capped at max */
	LG_PROFILE_LAUNCH,    /* base; lead; rise to peak; plateau; decay; base */
};

#define LG_PHASE_MAX 16
#define LG_PHASE_NAME 16

struct lg_profile {
	enum lg_profile_kind kind;
	double duration;      /* seconds */
	double rate;          /* constant */
	double from, to;      /* ramp, step (from) */
	double step, every, max;
	double base, peak, lead, rise, plateau, decay;
	/* Phases, reported apart: constant "steady", ramp "ramp", step
	 * "step1".."stepN" (the last one absorbs steps past LG_PHASE_MAX),
	 * launch-day "base", "rise", "peak", "decay", "after" (empty ones
	 * left out).  Phase i ends at phase_end[i]. */
	int nphases;
	char phase_name[LG_PHASE_MAX][LG_PHASE_NAME];
	double phase_end[LG_PHASE_MAX];
};

/*
 * Parse <spec>: "constant" (uses <rate>), "ramp:from=R,to=R",
 * "step:from=R,step=R,every=S[,max=R]",
 * "launch-day:base=R,peak=R[,lead=S][,rise=S][,plateau=S][,decay=S]".
 * <rate> and <duration> come from --rate/--duration (<duration> may be 0
 * for launch-day: it becomes lead + rise + plateau + decay + lead).
 * Returns IG_OK or IG_EUSAGE with <*why> naming the problem.
 */
int lg_profile_parse(const char *spec, double rate, double duration,
		     struct lg_profile *p, const char **why);

/* The offered rate at <t> seconds (0 outside [0, duration)). */
double lg_profile_rate(const struct lg_profile *p, double t);

/* The phase holding <t> (0 .. nphases - 1). */
int lg_profile_phase(const struct lg_profile *p, double t);

/* Expected number of requests over the whole profile (its integral). */
double lg_profile_total(const struct lg_profile *p);

struct lg_sched {
	const struct lg_profile *p;
	double share;         /* this thread's fraction of the rate */
	int poisson;
	uint64_t rng;
	double next;          /* intended time of the next request, s */
};

/* Start a schedule for a thread taking <share> of the load; <seed> makes
 * Poisson gaps reproducible and differs per thread. */
void lg_sched_init(struct lg_sched *s, const struct lg_profile *p,
		   double share, int poisson, uint64_t seed);

/* The intended time (s from the start) of the next request, advancing the
 * schedule; a negative value when the profile is over. */
double lg_sched_next(struct lg_sched *s);

#endif
