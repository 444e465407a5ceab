/*
 * capacity_test.c - find-capacity's core against model servers: the SLO
 * parser (and its rejections), the trial verdict (latency, errors,
 * achieved rate, generator lag, Ctrl-C), and the search: growth,
 * bisection to the precision, confirmation with step-down, --max-rate,
 * no capacity at all, a generator-limited stop and a runner failure.
 *
 * Like hdrlog_test, it compiles the sources it tests into itself until the
 * Makefile links it against the load generator's archive (LG_UNIT).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../common/result.h"
#include "../../loadgen/capacity.c"
#include "../../loadgen/hdr.c"
#include "check.h"

static void test_slo_parse(void)
{
	static const char *const bad[] = {
		"", "p99", "p99>5ms", "p99<5", "p99<5h", "p100<5ms", "p0<5ms",
		"q99<5ms", "errors<1", "errors<101%", "p99<0.1us", "p99<-1ms",
		"p1<1ms,p2<1ms,p3<1ms,p4<1ms,p5<1ms,p6<1ms,p7<1ms",
	};
	struct lg_slo s;
	const char *why = NULL;

	CHECK_EQ(lg_slo_parse("p99<50ms,errors<0.1%,p99.9<1s,p50<800us", &s, &why),
		 IG_OK);
	CHECK_EQ(s.nlat, 3);
	CHECK(s.pct[0] == 99 && s.below_us[0] == 50000);
	CHECK(s.pct[1] == 99.9 && s.below_us[1] == 1000000);
	CHECK(s.pct[2] == 50 && s.below_us[2] == 800);
	CHECK(fabs(s.max_error - 0.001) < 1e-12);
	CHECK_EQ(lg_slo_parse("errors<1%", &s, &why), IG_OK);
	CHECK(s.nlat == 0 && s.max_error == 0.01);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK_EQ(lg_slo_parse(bad[i], &s, &why), IG_EUSAGE);
		CHECK(why != NULL);
	}
}

static void test_judge(void)
{
	struct lg_slo s;
	struct hdr h;
	struct lg_trial t = { .offered = 1000, .answered = 1000,
			      .offered_rate = 200, .achieved_rate = 200 };
	const char *why;

	CHECK_EQ(lg_slo_parse("p99<10ms,errors<1%", &s, &why), IG_OK);
	CHECK_EQ(hdr_init(&h, 60000000), IG_OK);
	hdr_record_n(&h, 2000, 995);
	hdr_record_n(&h, 9000, 5);
	lg_trial_judge(&s, &h, &t);
	CHECK(t.verdict == LG_PASS && !strcmp(t.why, "ok"));
	CHECK(t.p50 >= 2000 && t.p50 <= 2002 && t.slo_us[0] >= 2000);
	hdr_record_n(&h, 20000, 20);            /* p99 now 20 ms */
	t.errors = 10;                          /* exactly 1%: not below */
	t.achieved_rate = 197;
	lg_trial_judge(&s, &h, &t);
	CHECK(t.verdict == LG_FAIL);
	CHECK(strstr(t.why, "p99 20.0") && strstr(t.why, "errors 1.000%") &&
	      strstr(t.why, "achieved 197.0/s"));
	t.generator_limited = 1;
	snprintf(t.lag_note, sizeof(t.lag_note), "x");
	lg_trial_judge(&s, &h, &t);
	CHECK(t.verdict == LG_GEN_LIMITED && strstr(t.why, "generator"));
	t.interrupted = 1;
	lg_trial_judge(&s, &h, &t);
	CHECK(t.verdict == LG_INTERRUPTED);
	hdr_reset(&h);
	t = (struct lg_trial){ .offered = 10, .offered_rate = 10 };
	lg_trial_judge(&s, &h, &t);
	CHECK(t.verdict == LG_FAIL && strstr(t.why, "no answers"));
	hdr_free(&h);
}

/* A model server: holds the SLO up to <cap>/s in short trials and up to
 * <confirm_cap>/s in long ones; the generator lags above <gen>/s. */
struct model {
	double cap, confirm_cap, gen;
	int calls, fail_at;
};

static int model_trial(void *arg, struct lg_trial *t)
{
	struct model *m = arg;
	double limit = t->confirm ? m->confirm_cap : m->cap;

	if (++m->calls == m->fail_at)
		return IG_EINTERNAL;
	t->offered = (uint64_t)(t->rate * t->duration);
	t->answered = t->offered;
	t->offered_rate = t->achieved_rate = t->rate;
	t->generator_limited = t->rate > m->gen;
	t->verdict = t->generator_limited ? LG_GEN_LIMITED :
		     t->rate <= limit ? LG_PASS : LG_FAIL;
	return IG_OK;
}

static const struct lg_cap_params params = {
	.start_rate = 100, .max_rate = 1e6, .growth = 2, .precision = 0.05,
	.trial_duration = 5, .confirm_duration = 15, .confirm_retries = 3,
	.max_trials = 20,
};

static void test_search(void)
{
	struct model m = { .cap = 1000, .confirm_cap = 1000, .gen = 1e9 };
	struct lg_cap_params p = params;
	struct lg_cap_result r;

	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_FOUND);
	CHECK(r.rate <= 1000 && r.rate >= 950);
	CHECK(r.trials[0].rate == 100 && r.trials[3].rate == 800 &&
	      r.trials[4].rate == 1600 && r.trials[4].verdict == LG_FAIL);
	CHECK(r.trials[r.ntrials - 1].confirm && r.trials[r.ntrials - 1].duration == 15);
	CHECK(!r.trials[0].confirm && r.trials[0].duration == 5);
	lg_cap_result_free(&r);

	/* short trials optimistic: the confirmation steps down */
	m = (struct model){ .cap = 1000, .confirm_cap = 900, .gen = 1e9 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_FOUND);
	CHECK(r.rate <= 900 && r.rate >= 800);
	CHECK(r.ntrials >= 3 && r.trials[r.ntrials - 2].confirm &&
	      r.trials[r.ntrials - 2].verdict == LG_FAIL);
	lg_cap_result_free(&r);

	/* confirmations all fail: bounded, no result */
	m = (struct model){ .cap = 1000, .confirm_cap = 10, .gen = 1e9 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_NONE);
	CHECK(r.trials[r.ntrials - 1].confirm);
	CHECK_EQ(m.calls, (int)r.ntrials);
	lg_cap_result_free(&r);

	/* the generator lags at 1600/s before the server fails */
	m = (struct model){ .cap = 5000, .confirm_cap = 5000, .gen = 1500 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_GEN_LIMITED);
	CHECK(r.rate == 800 && r.ntrials == 5);
	CHECK(strstr(r.why, "not the server") != NULL);
	lg_cap_result_free(&r);

	/* the SLO holds at --max-rate */
	p.max_rate = 500;
	m = (struct model){ .cap = 5000, .confirm_cap = 5000, .gen = 1e9 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK(r.status == LG_CAP_FOUND && r.rate == 500 && r.at_max);
	lg_cap_result_free(&r);

	/* the SLO holds nowhere */
	p = params;
	m = (struct model){ .cap = 0.5, .confirm_cap = 0.5, .gen = 1e9 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_NONE);
	CHECK(r.ntrials <= 20);
	lg_cap_result_free(&r);

	/* a runner failure ends the search */
	m = (struct model){ .cap = 1000, .confirm_cap = 1000, .gen = 1e9, .fail_at = 3 };
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_OK);
	CHECK_EQ(r.status, LG_CAP_ERROR);
	lg_cap_result_free(&r);

	/* bad parameters */
	p.growth = 1;
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_EUSAGE);
	p = params;
	p.precision = 0.9;
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_EUSAGE);
	p = params;
	p.max_rate = 50;
	CHECK_EQ(lg_capacity_search(&p, model_trial, &m, &r), IG_EUSAGE);
}

int main(void)
{
	test_slo_parse();
	test_judge();
	test_search();
	return check_done("capacity");
}
