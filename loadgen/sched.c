/*
 * sched.c - profiles and arrivals (see sched.h).
 */
#include "sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/result.h"

/* The integration step where the rate changes under a gap. */
#define LG_MAX_STEP 0.001

struct lg_kv {
	const char *name;
	double *dst;
	int required;
};

/* Parse "k=v,k=v" against <kv>; every key must be known, numbers >= 0. */
static int lg_parse_kv(char *s, struct lg_kv *kv, int n, const char **why)
{
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '='), *end;
		int i;

		IG_ENSURE(eq, IG_EUSAGE, why, "profile option without '='");
		*eq = 0;
		for (i = 0; i < n && strcmp(kv[i].name, tok); i++)
			;
		IG_ENSURE(i < n, IG_EUSAGE, why, "unknown profile option");
		*kv[i].dst = strtod(eq + 1, &end);
		IG_ENSURE(end != eq + 1 && !*end && isfinite(*kv[i].dst) &&
			  *kv[i].dst >= 0, IG_EUSAGE, why,
			  "profile option value is not a number >= 0");
		kv[i].required = 0;
	}
	for (int i = 0; i < n; i++)
		IG_ENSURE(!kv[i].required, IG_EUSAGE, why,
			  "profile option missing (see --help)");
	return IG_OK;
}

static int lg_parse_opts(const char *spec, struct lg_profile *p,
			 const char **why)
{
	struct lg_kv ramp[] = { { "from", &p->from, 1 }, { "to", &p->to, 1 } };
	struct lg_kv step[] = { { "from", &p->from, 1 }, { "step", &p->step, 1 },
				{ "every", &p->every, 1 }, { "max", &p->max, 0 } };
	struct lg_kv launch[] = {
		{ "base", &p->base, 1 }, { "peak", &p->peak, 1 },
		{ "lead", &p->lead, 0 }, { "rise", &p->rise, 0 },
		{ "plateau", &p->plateau, 0 }, { "decay", &p->decay, 0 },
	};
	const char *colon = strchr(spec, ':');
	char buf[256];
	int rc;

	snprintf(buf, sizeof(buf), "%s", colon ? colon + 1 : "");
	switch (p->kind) {
	case LG_PROFILE_RAMP:
		return lg_parse_kv(buf, ramp, IG_ARRAY_LEN(ramp), why);
	case LG_PROFILE_STEP:
		p->max = INFINITY;
		rc = lg_parse_kv(buf, step, IG_ARRAY_LEN(step), why);
		IG_ENSURE(rc < 0 || p->every > 0, IG_EUSAGE, why,
			  "step: every must be > 0");
		return rc;
	case LG_PROFILE_LAUNCH:
		p->lead = 5;
		p->rise = 10;
		p->plateau = 20;
		p->decay = 10;
		return lg_parse_kv(buf, launch, IG_ARRAY_LEN(launch), why);
	default:
		IG_ENSURE(!colon, IG_EUSAGE, why, "constant takes no options");
		return IG_OK;
	}
}

static void lg_profile_phases(struct lg_profile *p);

int lg_profile_parse(const char *spec, double rate, double duration,
		     struct lg_profile *p, const char **why)
{
	static const struct {
		const char *name;
		enum lg_profile_kind kind;
	} kinds[] = {
		{ "constant", LG_PROFILE_CONSTANT }, { "ramp", LG_PROFILE_RAMP },
		{ "step", LG_PROFILE_STEP }, { "launch-day", LG_PROFILE_LAUNCH },
	};
	size_t n = strcspn(spec, ":"), i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < IG_ARRAY_LEN(kinds); i++)
		if (strlen(kinds[i].name) == n && !strncmp(spec, kinds[i].name, n))
			break;
	IG_ENSURE(i < IG_ARRAY_LEN(kinds), IG_EUSAGE, why,
		  "unknown profile (constant, ramp, step, launch-day)");
	p->kind = kinds[i].kind;
	p->rate = rate;
	IG_GUARD(lg_parse_opts(spec, p, why));
	if (p->kind == LG_PROFILE_LAUNCH && duration <= 0)
		duration = 2 * p->lead + p->rise + p->plateau + p->decay;
	IG_ENSURE(duration > 0, IG_EUSAGE, why, "duration must be > 0");
	IG_ENSURE(p->kind != LG_PROFILE_CONSTANT || rate > 0, IG_EUSAGE, why,
		  "a constant profile needs --rate > 0");
	p->duration = duration;
	lg_profile_phases(p);
	return IG_OK;
}

int lg_profile_phase(const struct lg_profile *p, double t)
{
	int i = 0;

	while (i < p->nphases - 1 && t >= p->phase_end[i])
		i++;
	return i;
}

static void lg_phase_add(struct lg_profile *p, const char *name, double end)
{
	double start = p->nphases ? p->phase_end[p->nphases - 1] : 0;

	if (end > p->duration)
		end = p->duration;
	if (end <= start + 1e-9)
		return;         /* empty, or past the end */
	if (p->nphases == LG_PHASE_MAX) {
		p->phase_end[LG_PHASE_MAX - 1] = end;   /* the last absorbs */
		return;
	}
	snprintf(p->phase_name[p->nphases], LG_PHASE_NAME, "%s", name);
	p->phase_end[p->nphases++] = end;
}

static void lg_profile_phases(struct lg_profile *p)
{
	double t;
	char name[LG_PHASE_NAME];
	int k = 0;

	p->nphases = 0;
	switch (p->kind) {
	case LG_PROFILE_RAMP:
		lg_phase_add(p, "ramp", p->duration);
		break;
	case LG_PROFILE_STEP:
		for (t = 0; t < p->duration; t += p->every) {
			snprintf(name, sizeof(name), "step%d", ++k);
			lg_phase_add(p, name, t + p->every);
		}
		break;
	case LG_PROFILE_LAUNCH:
		t = p->lead;
		lg_phase_add(p, "base", t);
		lg_phase_add(p, "rise", t += p->rise);
		lg_phase_add(p, "peak", t += p->plateau);
		lg_phase_add(p, "decay", t += p->decay);
		lg_phase_add(p, "after", p->duration);
		break;
	default:
		lg_phase_add(p, "steady", p->duration);
		break;
	}
	if (!p->nphases)        /* cannot happen with duration > 0 */
		lg_phase_add(p, "steady", p->duration);
}

/* Linear interpolation from <a> to <b> as <x> goes 0 -> <len>. */
static double lg_lerp(double a, double b, double x, double len)
{
	return len > 0 ? a + (b - a) * x / len : b;
}

static double lg_launch_rate(const struct lg_profile *p, double t)
{
	double t1 = p->lead, t2 = t1 + p->rise, t3 = t2 + p->plateau;
	double t4 = t3 + p->decay;

	if (t < t1 || t >= t4)
		return p->base;
	if (t < t2)
		return lg_lerp(p->base, p->peak, t - t1, p->rise);
	if (t < t3)
		return p->peak;
	return lg_lerp(p->peak, p->base, t - t3, p->decay);
}

double lg_profile_rate(const struct lg_profile *p, double t)
{
	double r;

	if (t < 0 || t >= p->duration)
		return 0;
	switch (p->kind) {
	case LG_PROFILE_RAMP:
		return lg_lerp(p->from, p->to, t, p->duration);
	case LG_PROFILE_STEP:
		r = p->from + p->step * floor(t / p->every);
		return r < p->max ? r : p->max;
	case LG_PROFILE_LAUNCH:
		return lg_launch_rate(p, t);
	default:
		return p->rate;
	}
}

double lg_profile_total(const struct lg_profile *p)
{
	/* Midpoint rule on 1 ms steps: exact for the piecewise-linear
	 * profiles up to the step edges. */
	double sum = 0, dt = 0.001;

	for (double t = dt / 2; t < p->duration; t += dt)
		sum += lg_profile_rate(p, t) * dt;
	return sum;
}

void lg_sched_init(struct lg_sched *s, const struct lg_profile *p,
		   double share, int poisson, uint64_t seed)
{
	s->p = p;
	s->share = share;
	s->poisson = poisson;
	s->rng = seed | 1;
	s->next = 0;
}

/* Uniform in (0, 1] from xorshift64*. */
static double lg_uniform(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return ((double)((x * 0x2545f4914f6cdd1dull) >> 11) + 1.0) / 9007199254740992.0;
}

/*
 * The next arrival is where the integral of the rate since the previous one
 * reaches the gap's "work": 1 for even spacing, an Exp(1) sample for
 * Poisson.  Stepping through the integral (not 1/r(t) at the previous
 * arrival) keeps a ramp from 0 from waiting 1/r(0+) seconds; a constant
 * rate takes one step.
 */
double lg_sched_next(struct lg_sched *s)
{
	double t = s->next, need;
	const double end = s->p->duration - 1e-9; /* absorb rounding */

	if (t >= end)
		return -1;
	need = s->poisson ? -log(lg_uniform(&s->rng)) : 1.0;
	for (double u = t; u < end;) {
		double r = lg_profile_rate(s->p, u) * s->share;
		double dt = r > 0 ? need / r : LG_MAX_STEP, rm, area;

		if (dt > LG_MAX_STEP)
			dt = LG_MAX_STEP;
		rm = lg_profile_rate(s->p, u + dt / 2) * s->share;
		area = rm * dt;
		if (area >= need * (1 - 1e-12)) {
			s->next = u + need / rm;
			return t;
		}
		need -= area;
		u += dt;
	}
	s->next = s->p->duration;
	return t;
}
