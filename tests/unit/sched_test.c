/*
 * sched_test.c - the load generator's profiles and arrival schedule:
 * counts over a profile match its integral, shares add up, Poisson gaps
 * have the right mean, and every malformed profile is refused.
 */
#include <math.h>
#include <stdlib.h>

#include "../../common/result.h"
#include "../../loadgen/sched.h"
#include "check.h"

static long count_arrivals(const struct lg_profile *p, double share,
			   int poisson, uint64_t seed)
{
	struct lg_sched s;
	long n = 0;
	double last = -1, t;

	lg_sched_init(&s, p, share, poisson, seed);
	while ((t = lg_sched_next(&s)) >= 0) {
		CHECK(t >= last);    /* monotonic */
		last = t;
		n++;
	}
	return n;
}

static void test_constant(void)
{
	struct lg_profile p;
	const char *why = NULL;

	CHECK_EQ(lg_profile_parse("constant", 1000, 2, &p, &why), IG_OK);
	CHECK_EQ(count_arrivals(&p, 1.0, 0, 1), 2000);
	/* two threads with half each offer the same total */
	CHECK_EQ(count_arrivals(&p, 0.5, 0, 1) * 2, 2000);
	/* Poisson: 20000 expected, sd ~141 */
	CHECK_EQ(lg_profile_parse("constant", 10000, 2, &p, &why), IG_OK);
	CHECK(labs(count_arrivals(&p, 1.0, 1, 7) - 20000) < 700);
}

static void test_shapes(void)
{
	struct lg_profile p;
	const char *why = NULL;

	CHECK_EQ(lg_profile_parse("ramp:from=0,to=100", 0, 10, &p, &why), IG_OK);
	CHECK(fabs(lg_profile_rate(&p, 5) - 50) < 1e-9);
	CHECK(labs(count_arrivals(&p, 1.0, 0, 1) - 500) <= 3);
	CHECK_EQ(lg_profile_parse("step:from=10,step=10,every=2,max=30", 0, 10,
				  &p, &why), IG_OK);
	CHECK_EQ(lg_profile_rate(&p, 1), 10);
	CHECK_EQ(lg_profile_rate(&p, 3), 20);
	CHECK_EQ(lg_profile_rate(&p, 9), 30);
	CHECK(fabs(lg_profile_total(&p) - (20 + 40 + 60 + 60 + 60)) < 0.5);
	CHECK_EQ(lg_profile_parse("launch-day:base=10,peak=110,lead=1,rise=2,"
				  "plateau=3,decay=2", 0, 0, &p, &why), IG_OK);
	CHECK_EQ(p.duration, 9);
	CHECK_EQ(lg_profile_rate(&p, 0.5), 10);
	CHECK(fabs(lg_profile_rate(&p, 2) - 60) < 1e-9);
	CHECK_EQ(lg_profile_rate(&p, 4), 110);
	CHECK(fabs(lg_profile_rate(&p, 7) - 60) < 1e-9);
	CHECK_EQ(lg_profile_rate(&p, 8.5), 10);
	CHECK_EQ(lg_profile_rate(&p, 9), 0);
	/* 10*2 (leads) + 60*2 (rise) + 110*3 + 60*2 (decay) = 590 */
	CHECK(labs(count_arrivals(&p, 1.0, 0, 1) - 590) <= 3);
}

static void test_refused(void)
{
	static const char *bad[] = {
		"sine", "ramp:from=1", "ramp:from=1,to=x", "ramp:from=-1,to=2",
		"ramp:from=1,to=2,speed=3", "step:from=1,step=1,every=0",
		"launch-day:peak=100", "constant:rate=3", "ramp:from",
	};
	struct lg_profile p;

	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		const char *why = NULL;

		CHECK_EQ(lg_profile_parse(bad[i], 10, 10, &p, &why), IG_EUSAGE);
		CHECK(why != NULL);
	}
	const char *why = NULL;
	CHECK_EQ(lg_profile_parse("constant", 0, 10, &p, &why), IG_EUSAGE);
	CHECK_EQ(lg_profile_parse("constant", 10, 0, &p, &why), IG_EUSAGE);
}

/* Phases: one for constant and ramp; launch-day's five with their ends
 * (empty ones left out); steps past LG_PHASE_MAX go into the last. */
static void test_phases(void)
{
	struct lg_profile p;
	const char *why = NULL;

	CHECK_EQ(lg_profile_parse("constant", 10, 3, &p, &why), IG_OK);
	CHECK_EQ(p.nphases, 1);
	CHECK_STR(p.phase_name[0], "steady");
	CHECK_EQ(lg_profile_phase(&p, 2.9), 0);
	CHECK_EQ(lg_profile_parse("launch-day:base=1,peak=9,lead=2,rise=3,plateau=4,decay=5",
				  0, 0, &p, &why), IG_OK);
	CHECK_EQ(p.nphases, 5);
	CHECK_STR(p.phase_name[2], "peak");
	CHECK(p.phase_end[0] == 2 && p.phase_end[2] == 9 && p.phase_end[4] == 16);
	CHECK_EQ(lg_profile_phase(&p, 1.99), 0);
	CHECK_EQ(lg_profile_phase(&p, 2), 1);
	CHECK_EQ(lg_profile_phase(&p, 13.5), 3);
	CHECK_EQ(lg_profile_phase(&p, 15.9), 4);
	CHECK_EQ(lg_profile_parse("launch-day:base=1,peak=9,lead=2,rise=0", 0, 0, &p,
				  &why), IG_OK);
	CHECK_EQ(p.nphases, 4);
	CHECK_STR(p.phase_name[1], "peak");
	CHECK_EQ(lg_profile_parse("step:from=1,step=1,every=1", 0, 40, &p, &why), IG_OK);
	CHECK_EQ(p.nphases, LG_PHASE_MAX);
	CHECK_STR(p.phase_name[1], "step2");
	CHECK(p.phase_end[LG_PHASE_MAX - 1] == 40);
	CHECK_EQ(lg_profile_phase(&p, 39), LG_PHASE_MAX - 1);
}

int main(void)
{
	test_constant();
	test_shapes();
	test_refused();
	test_phases();
	return check_done("sched_test");
}
