/*
 * capacity.c - the SLO parser, the trial verdict and the capacity search
 * (see capacity.h for the contract).
 */
#include "capacity.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/result.h"

#define LG_CAP_MIN_RATE 1.0     /* below 1 request/s there is no capacity */

const char *const lg_verdict_names[] = { "pass", "fail", "generator-limited",
					 "interrupted" };
const char *const lg_cap_status_names[] = { "found", "none",
					    "generator-limited", "interrupted",
					    "error" };

static int lg_slo_term(char *tok, struct lg_slo *slo, const char **why)
{
	char *lt = strchr(tok, '<'), *end;
	double v;

	IG_ENSURE(lt, IG_EUSAGE, why, "SLO term needs '<' (e.g. p99<50ms)");
	*lt = 0;
	v = strtod(lt + 1, &end);
	IG_ENSURE(end != lt + 1 && v >= 0 && v < 1e9, IG_EUSAGE, why,
		  "bad SLO bound");
	if (!strcmp(tok, "errors")) {
		IG_ENSURE(!strcmp(end, "%") && v <= 100, IG_EUSAGE, why,
			  "errors bound must be a percentage (errors<0.1%)");
		slo->max_error = v / 100.0;
		return IG_OK;
	}
	IG_ENSURE(tok[0] == 'p' && slo->nlat < LG_SLO_MAX_TERMS, IG_EUSAGE, why,
		  "SLO terms are pNN<T or errors<X%");
	{
		char *pend;
		double p = strtod(tok + 1, &pend);
		double unit = !strcmp(end, "us") ? 1 : !strcmp(end, "ms") ? 1e3 :
			      !strcmp(end, "s") ? 1e6 : 0;

		IG_ENSURE(pend != tok + 1 && !*pend && p > 0 && p < 100,
			  IG_EUSAGE, why, "SLO percentile must be in (0, 100)");
		IG_ENSURE(unit > 0, IG_EUSAGE, why,
			  "SLO latency needs a unit: us, ms or s");
		IG_ENSURE(v * unit >= 1, IG_EUSAGE, why,
			  "SLO latency bound below 1 us");
		slo->pct[slo->nlat] = p;
		slo->below_us[slo->nlat++] = (uint64_t)(v * unit);
	}
	return IG_OK;
}

int lg_slo_parse(const char *s, struct lg_slo *slo, const char **why)
{
	char buf[256], *save = NULL;

	memset(slo, 0, sizeof(*slo));
	slo->max_error = -1;
	IG_ENSURE(strlen(s) < sizeof(buf), IG_EUSAGE, why, "SLO too long");
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int rc = lg_slo_term(tok, slo, why);

		if (rc < 0)
			return rc;
	}
	IG_ENSURE(slo->nlat || slo->max_error >= 0, IG_EUSAGE, why, "empty SLO");
	return IG_OK;
}

/* Append one reason to <t->why> ("; "-separated). */
static void lg_why_add(struct lg_trial *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void lg_why_add(struct lg_trial *t, const char *fmt, ...)
{
	size_t n = strlen(t->why);
	va_list ap;

	if (n && n + 2 < sizeof(t->why)) {
		strcpy(t->why + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(t->why + n, sizeof(t->why) - n, fmt, ap);
	va_end(ap);
}

void lg_trial_judge(const struct lg_slo *slo, const struct hdr *h,
		    struct lg_trial *t)
{
	double err = t->offered ? (double)t->errors / (double)t->offered : 0;

	t->why[0] = 0;
	t->p50 = hdr_percentile(h, 50);
	t->p99 = hdr_percentile(h, 99);
	t->p999 = hdr_percentile(h, 99.9);
	if (t->offered && !h->total)
		lg_why_add(t, "no answers");
	for (int i = 0; i < slo->nlat; i++) {
		t->slo_us[i] = hdr_percentile(h, slo->pct[i]);
		if (h->total && t->slo_us[i] >= slo->below_us[i])
			lg_why_add(t, "p%g %.2fms >= %.2fms", slo->pct[i],
				   t->slo_us[i] / 1e3, slo->below_us[i] / 1e3);
	}
	if (slo->max_error >= 0 && t->errors && err >= slo->max_error)
		lg_why_add(t, "errors %.3f%% >= %.3f%%", 100 * err,
			   100 * slo->max_error);
	if (t->achieved_rate < LG_ACHIEVED_MIN * t->offered_rate)
		lg_why_add(t, "achieved %.1f/s < 99%% of offered %.1f/s",
			   t->achieved_rate, t->offered_rate);
	if (t->interrupted) {
		t->verdict = LG_INTERRUPTED;
		snprintf(t->why, sizeof(t->why), "interrupted (SIGINT)");
	} else if (t->generator_limited) {
		/* Not the server's verdict: the client could not keep up. */
		t->verdict = LG_GEN_LIMITED;
		snprintf(t->why, sizeof(t->why), "the generator fell behind its "
			 "schedule (%s)", t->lag_note);
	} else {
		t->verdict = t->why[0] ? LG_FAIL : LG_PASS;
		if (!t->why[0])
			snprintf(t->why, sizeof(t->why), "ok");
	}
}

/* ---- the search ------------------------------------------------------------- */

struct lg_cap_run {
	const struct lg_cap_params *p;
	lg_trial_fn fn;
	void *arg;
	struct lg_cap_result *r;
	size_t cap;
};

/* Run and record one trial: its verdict, or negative from the runner. */
static int lg_cap_try(struct lg_cap_run *c, double rate, int confirm)
{
	struct lg_cap_result *r = c->r;
	struct lg_trial *t;
	int rc;

	if (r->ntrials == c->cap)
		return IG_ENOMEM;       /* sized for the bound; cannot happen */
	t = &r->trials[r->ntrials];
	memset(t, 0, sizeof(*t));
	t->rate = rate;
	t->confirm = confirm;
	t->duration = confirm ? c->p->confirm_duration : c->p->trial_duration;
	rc = c->fn(c->arg, t);
	if (rc < 0)
		return rc;
	r->ntrials++;
	return (int)t->verdict;
}

/* A verdict that ends the search: set the status.  1 if it ended. */
static int lg_cap_stop(struct lg_cap_result *r, int v, double best)
{
	if (v < 0) {
		r->status = LG_CAP_ERROR;
		snprintf(r->why, sizeof(r->why), "a trial could not be run");
	} else if (v == LG_GEN_LIMITED) {
		r->status = LG_CAP_GEN_LIMITED;
		snprintf(r->why, sizeof(r->why), "the generator could not keep "
			 "its schedule at %.1f/s: this measures the client, not "
			 "the server; the server held the SLO up to %.1f/s at "
			 "least (use more --threads or a bigger client)",
			 r->trials[r->ntrials - 1].rate, best);
	} else if (v == LG_INTERRUPTED) {
		r->status = LG_CAP_INTERRUPTED;
		snprintf(r->why, sizeof(r->why), "interrupted; best passing "
			 "rate so far %.1f/s (unconfirmed)", best);
	} else {
		return 0;
	}
	r->rate = best;
	return 1;
}

/* Growth then bisection: the highest short-trial pass, 0 if none. */
static int lg_cap_bracket(struct lg_cap_run *c, double *best)
{
	const struct lg_cap_params *p = c->p;
	double lo = 0, hi = 0, rate = p->start_rate;
	int v, n = 0;

	for (;;) {
		if (rate > p->max_rate)
			rate = p->max_rate;
		v = lg_cap_try(c, rate, 0);
		n++;
		if (lg_cap_stop(c->r, v, lo))
			return -1;
		if (v == LG_FAIL) {
			hi = rate;
			break;
		}
		lo = rate;
		if (rate >= p->max_rate || n >= p->max_trials) {
			c->r->at_max = rate >= p->max_rate;
			*best = lo;
			return 0;
		}
		rate *= p->growth;
	}
	/* Bisection (in rate) until pass and fail are <precision> apart. */
	while (hi - lo > p->precision * hi && n < p->max_trials &&
	       hi > LG_CAP_MIN_RATE) {
		rate = (lo + hi) / 2;
		v = lg_cap_try(c, rate, 0);
		n++;
		if (lg_cap_stop(c->r, v, lo))
			return -1;
		if (v == LG_PASS)
			lo = rate;
		else
			hi = rate;
	}
	*best = lo;
	return 0;
}

int lg_capacity_search(const struct lg_cap_params *p, lg_trial_fn run,
		       void *arg, struct lg_cap_result *r)
{
	struct lg_cap_run c = { p, run, arg, r, 0 };
	double best = 0;
	int v;

	memset(r, 0, sizeof(*r));
	if (!(p->start_rate >= LG_CAP_MIN_RATE) || p->max_rate < p->start_rate ||
	    !(p->growth > 1) || !(p->precision > 0 && p->precision <= 0.5) ||
	    !(p->trial_duration > 0) || !(p->confirm_duration > 0) ||
	    p->confirm_retries < 0 || p->max_trials < 1)
		return IG_EUSAGE;
	c.cap = (size_t)p->max_trials + (size_t)p->confirm_retries + 1;
	r->trials = calloc(c.cap, sizeof(*r->trials));
	if (!r->trials)
		return IG_ENOMEM;
	if (lg_cap_bracket(&c, &best) < 0)
		return IG_OK;
	if (best < LG_CAP_MIN_RATE) {
		r->status = LG_CAP_NONE;
		snprintf(r->why, sizeof(r->why), "the SLO failed at every rate "
			 "tried, down to %.1f/s", r->trials[r->ntrials - 1].rate);
		return IG_OK;
	}
	/* Each failed confirmation steps down twice as far as the last
	 * (precision, 2x, 4x, ... at most half): near the knee a longer
	 * trial builds queues that small steps do not get out of. */
	double step = p->precision;

	for (int i = 0; i <= p->confirm_retries; i++) {
		v = lg_cap_try(&c, best, 1);
		if (lg_cap_stop(r, v, best))
			return IG_OK;
		if (v == LG_PASS) {
			r->status = LG_CAP_FOUND;
			r->rate = best;
			snprintf(r->why, sizeof(r->why), "%s%.1f/s held the SLO "
				 "for %gs", r->at_max ? "--max-rate " : "", best,
				 p->confirm_duration);
			return IG_OK;
		}
		r->at_max = 0;
		best *= 1 - step;               /* step down, confirm again */
		step = step * 2 > 0.5 ? 0.5 : step * 2;
	}
	r->status = LG_CAP_NONE;
	r->rate = 0;
	snprintf(r->why, sizeof(r->why), "%d confirmations failed (down to "
		 "%.1f/s): the short trials were optimistic; try a longer "
		 "--trial-duration", p->confirm_retries + 1,
		 r->trials[r->ntrials - 1].rate);
	return IG_OK;
}

void lg_cap_result_free(struct lg_cap_result *r)
{
	free(r->trials);
	r->trials = NULL;
	r->ntrials = 0;
}
