/*
 * report.c - statistics (series made on first use, merging), the
 * end-of-run summary and --json.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/result.h"
#include "loadgen.h"

static const double lg_pcts[] = { 50, 90, 99, 99.9 };
static const char *const lg_pct_names[] = { "p50", "p90", "p99", "p99.9" };

int lg_stats_init(struct lg_stats *s)
{
	memset(s, 0, sizeof(*s));
	return IG_OK;
}

static void lg_hist_free(struct hdr **h)
{
	if (*h) {
		hdr_free(*h);
		free(*h);
		*h = NULL;
	}
}

static void lg_series_free(struct lg_series *x)
{
	for (int c = 0; c < LG_CLASS_COUNT; c++) {
		lg_hist_free(&x->corr[c]);
		lg_hist_free(&x->uncorr[c]);
		for (int k = 0; k < LG_STEP_COUNT; k++)
			lg_hist_free(&x->step[k][c]);
	}
	free(x);
}

void lg_stats_free(struct lg_stats *s)
{
	lg_hist_free(&s->drain);
	for (int p = 0; p < LG_PHASE_MAX; p++)
		for (int w = 0; w < LG_WL_COUNT; w++)
			for (int m = 0; m < LG_TLS_COUNT; m++)
				if (s->s[p][w][m]) {
					lg_series_free(s->s[p][w][m]);
					s->s[p][w][m] = NULL;
				}
}

struct lg_series *lg_series(struct lg_stats *st, int ph, int wl, int tls)
{
	struct lg_series **x = &st->s[ph][wl][tls];

	if (!*x)
		*x = calloc(1, sizeof(**x));
	return *x;
}

/* The histogram in <slot>, made on first use (NULL: out of memory). */
static struct hdr *lg_hist(struct hdr **slot)
{
	if (!*slot) {
		struct hdr *h = malloc(sizeof(*h));

		if (!h || hdr_init(h, LG_HIGHEST_US) < 0) {
			free(h);
			return NULL;
		}
		*slot = h;
	}
	return *slot;
}

void lg_hist_record(struct lg_stats *st, struct hdr **slot, uint64_t v)
{
	struct hdr *h = lg_hist(slot);

	if (h)
		hdr_record(h, v);
	else
		st->lost++;
}

static void lg_hist_merge(struct lg_stats *d, struct hdr **dst,
			  const struct hdr *src)
{
	struct hdr *h;

	if (!src || !src->total)
		return;
	if ((h = lg_hist(dst)))
		hdr_merge(h, src);
	else
		d->lost += src->total;
}

static void lg_series_merge(struct lg_stats *d, struct lg_series *x,
			    const struct lg_series *y)
{
	x->offered += y->offered;
	x->answered += y->answered;
	x->completed += y->completed;
	for (int k = 0; k < LG_ERR_COUNT; k++)
		x->errors[k] += y->errors[k];
	for (int k = 0; k < 600; k++)
		x->status[k] += y->status[k];
	for (int c = 0; c < LG_CLASS_COUNT; c++) {
		lg_hist_merge(d, &x->corr[c], y->corr[c]);
		lg_hist_merge(d, &x->uncorr[c], y->uncorr[c]);
		for (int k = 0; k < LG_STEP_COUNT; k++)
			lg_hist_merge(d, &x->step[k][c], y->step[k][c]);
	}
}

void lg_stats_merge(struct lg_stats *d, const struct lg_stats *s)
{
	for (int p = 0; p < LG_PHASE_MAX; p++)
		for (int w = 0; w < LG_WL_COUNT; w++)
			for (int m = 0; m < LG_TLS_COUNT; m++) {
				struct lg_series *x;

				if (!s->s[p][w][m])
					continue;
				if ((x = lg_series(d, p, w, m)))
					lg_series_merge(d, x, s->s[p][w][m]);
				else
					d->lost += s->s[p][w][m]->offered;
			}
	d->conns_opened += s->conns_opened;
	d->handshakes += s->handshakes;
	d->resumed += s->resumed;
	d->tickets += s->tickets;
	d->waited_conn += s->waited_conn;
	d->late += s->late;
	d->starved += s->starved;
	d->unsent += s->unsent;
	d->lost += s->lost;
	d->drained += s->drained;
	lg_hist_merge(d, &d->drain, s->drain);
	if (s->max_lag_us > d->max_lag_us)
		d->max_lag_us = s->max_lag_us;
}

uint64_t lg_series_errors(const struct lg_series *x)
{
	uint64_t n = 0;

	for (int k = 0; k < LG_ERR_COUNT; k++)
		n += x->errors[k];
	return n;
}

/* ---- output ------------------------------------------------------------------ */

static json_t *lg_pct_json(const struct hdr *h)
{
	json_t *o = json_object();

	for (size_t i = 0; i < IG_ARRAY_LEN(lg_pcts); i++)
		json_object_set_new(o, lg_pct_names[i],
				    json_integer((json_int_t)hdr_percentile(h, lg_pcts[i])));
	json_object_set_new(o, "max", json_integer((json_int_t)h->max));
	json_object_set_new(o, "mean", json_real(hdr_mean(h)));
	return o;
}

/* The rate denominators: a phase's own length, or the whole schedule. */
static double lg_phase_len(const struct lg_profile *p, int ph, double el)
{
	double start, end;

	if (ph < 0 || p->nphases <= 1)
		return el;
	start = ph ? p->phase_end[ph - 1] : 0;
	end = p->phase_end[ph];
	if (ph == p->nphases - 1 || end > el)
		end = el > start ? el : end;    /* Ctrl-C cut it short */
	return end > start ? end - start : 1e-9;
}

static json_t *lg_series_json(const struct lg_config *cfg,
			      const struct lg_series *x, const char *phase,
			      int w, int m, double len)
{
	json_t *o = json_object(), *errs = json_object(), *codes = json_object();
	json_t *classes = json_array();
	char key[16];

	json_object_set_new(o, "phase", json_string(phase));
	json_object_set_new(o, "workload", json_string(lg_workload_names[w]));
	json_object_set_new(o, "tls", json_string(lg_tls_names[m]));
	json_object_set_new(o, "duration_s", json_real(len));
	json_object_set_new(o, "offered", json_integer((json_int_t)x->offered));
	json_object_set_new(o, "answered", json_integer((json_int_t)x->answered));
	json_object_set_new(o, "offered_rate", json_real(x->offered / len));
	json_object_set_new(o, "achieved_rate", json_real(x->completed / len));
	for (int k = 0; k < LG_ERR_COUNT; k++)
		json_object_set_new(errs, lg_err_names[k],
				    json_integer((json_int_t)x->errors[k]));
	json_object_set_new(o, "errors", errs);
	json_object_set_new(o, "error_total",
			    json_integer((json_int_t)lg_series_errors(x)));
	for (int k = 100; k < 600; k++)
		if (x->status[k]) {
			snprintf(key, sizeof(key), "%d", k);
			json_object_set_new(codes, key, json_integer((json_int_t)x->status[k]));
		}
	json_object_set_new(o, "status", codes);
	/* One latency record per status class (µs). */
	for (int c = 0; c < LG_CLASS_COUNT; c++) {
		json_t *h;

		if (!x->corr[c] || !x->corr[c]->total)
			continue;
		h = json_object();
		snprintf(key, sizeof(key), "%dxx", c + 1);
		json_object_set_new(h, "class", json_string(key));
		json_object_set_new(h, "count", json_integer((json_int_t)x->corr[c]->total));
		json_object_set_new(h, "corrected_us", lg_pct_json(x->corr[c]));
		json_object_set_new(h, "uncorrected_us", lg_pct_json(x->uncorr[c]));
		json_array_append_new(classes, h);
	}
	json_object_set_new(o, "latency", classes);
	if (w == LG_WL_SIGN) {
		/* Each call's own service time, by endpoint and class. */
		json_t *steps = json_array();

		for (int k = 0; k < LG_STEP_COUNT; k++)
			for (int c = 0; c < LG_CLASS_COUNT; c++) {
				json_t *h;

				if (!x->step[k][c] || !x->step[k][c]->total)
					continue;
				h = json_object();
				snprintf(key, sizeof(key), "%dxx", c + 1);
				json_object_set_new(h, "endpoint", json_string(lg_step_names[k]));
				json_object_set_new(h, "class", json_string(key));
				json_object_set_new(h, "count",
						    json_integer((json_int_t)x->step[k][c]->total));
				json_object_set_new(h, "service_us", lg_pct_json(x->step[k][c]));
				json_array_append_new(steps, h);
			}
		json_object_set_new(o, "calls", steps);
		json_object_set_new(o, "hashes_per_call", json_integer(cfg->sign_hashes));
	}
	return o;
}

/* Visit every scenario: each phase's series, then (with several phases)
 * every workload x TLS mode over the whole run, phase < 0. */
typedef void (*lg_visit_fn)(void *arg, const struct lg_series *x, int ph,
			    int w, int m);

static void lg_visit(const struct lg_config *cfg, const struct lg_stats *st,
		     lg_visit_fn fn, void *arg)
{
	int np = cfg->profile.nphases > 0 ? cfg->profile.nphases : 1;

	for (int w = 0; w < LG_WL_COUNT; w++)
		for (int m = 0; m < LG_TLS_COUNT; m++) {
			struct lg_stats tmp = { 0 };
			struct lg_series *all = NULL;

			for (int p = 0; p < np; p++) {
				const struct lg_series *x = st->s[p][w][m];

				if (!x || !x->offered)
					continue;
				fn(arg, x, np > 1 ? p : -2, w, m);
				if (np > 1 && (all || (all = lg_series(&tmp, 0, w, m))))
					lg_series_merge(&tmp, all, x);
			}
			if (all)
				fn(arg, all, -1, w, m);
			lg_stats_free(&tmp);
		}
}

struct lg_json_ctx {
	const struct lg_config *cfg;
	double el;
	json_t *arr;
};

static void lg_json_one(void *arg, const struct lg_series *x, int ph, int w,
			int m)
{
	struct lg_json_ctx *j = arg;
	const struct lg_profile *p = &j->cfg->profile;
	const char *name = ph == -1 ? "all" :
			   ph == -2 ? (p->nphases ? p->phase_name[0] : "steady") :
				      p->phase_name[ph];

	json_array_append_new(j->arr, lg_series_json(j->cfg, x, name, w, m,
						     lg_phase_len(p, ph, j->el)));
}

void lg_stats_totals(const struct lg_stats *st, struct lg_totals *t,
		     struct hdr *all)
{
	memset(t, 0, sizeof(*t));
	for (int p = 0; p < LG_PHASE_MAX; p++)
		for (int w = 0; w < LG_WL_COUNT; w++)
			for (int m = 0; m < LG_TLS_COUNT; m++) {
				const struct lg_series *x = st->s[p][w][m];

				if (!x)
					continue;
				t->offered += x->offered;
				t->answered += x->answered;
				t->completed += x->completed;
				t->errors += lg_series_errors(x);
				for (int k = 400; k < 600; k++)
					t->refused += x->status[k];
				for (int c = 0; all && c < LG_CLASS_COUNT; c++)
					if (x->corr[c])
						hdr_merge(all, x->corr[c]);
			}
}

static int lg_write_json(const struct lg_config *cfg, const struct lg_stats *st,
			 double el)
{
	json_t *root = json_object(), *gen = json_object(), *phases = json_array();
	struct lg_json_ctx j = { cfg, el, json_array() };
	struct lg_totals tot;
	int rc;

	lg_stats_totals(st, &tot, NULL);
	lg_visit(cfg, st, lg_json_one, &j);
	for (int p = 0; p < cfg->profile.nphases; p++)
		json_array_append_new(phases, json_pack("{s:s,s:f,s:f}", "name",
			cfg->profile.phase_name[p], "start_s",
			p ? cfg->profile.phase_end[p - 1] : 0.0, "end_s",
			cfg->profile.phase_end[p]));
	json_object_set_new(root, "tls", json_string(cfg->tls_spec));
	json_object_set_new(root, "duration_s", json_real(el));
	json_object_set_new(root, "offered", json_integer((json_int_t)tot.offered));
	json_object_set_new(root, "answered", json_integer((json_int_t)tot.answered));
	json_object_set_new(root, "errors", json_integer((json_int_t)tot.errors));
	json_object_set_new(root, "offered_rate", json_real(tot.offered / el));
	json_object_set_new(root, "achieved_rate", json_real(tot.completed / el));
	json_object_set_new(root, "answered_after_schedule",
			    json_integer((json_int_t)st->drained));
	json_object_set_new(root, "phases", phases);
	json_object_set_new(root, "scenarios", j.arr);
	json_object_set_new(gen, "connections_opened", json_integer((json_int_t)st->conns_opened));
	json_object_set_new(gen, "handshakes", json_integer((json_int_t)st->handshakes));
	json_object_set_new(gen, "resumed", json_integer((json_int_t)st->resumed));
	json_object_set_new(gen, "tickets", json_integer((json_int_t)st->tickets));
	json_object_set_new(gen, "waited_for_connection", json_integer((json_int_t)st->waited_conn));
	json_object_set_new(gen, "late_sends", json_integer((json_int_t)st->late));
	json_object_set_new(gen, "max_lag_us", json_integer((json_int_t)st->max_lag_us));
	json_object_set_new(gen, "signer_starved", json_integer((json_int_t)st->starved));
	json_object_set_new(gen, "unsent", json_integer((json_int_t)st->unsent));
	json_object_set_new(gen, "not_recorded", json_integer((json_int_t)st->lost));
	json_object_set_new(gen, "fell_behind", json_boolean(lg_generator_behind(st, tot.offered)));
	json_object_set_new(root, "generator", gen);
	rc = json_dump_file(root, cfg->json_path, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	return rc ? IG_EINTERNAL : IG_OK;
}

static void lg_print_hist(const char *label, const struct hdr *h)
{
	printf("    %-12s", label);
	for (size_t i = 0; i < IG_ARRAY_LEN(lg_pcts); i++)
		printf(" %s %8.2fms", lg_pct_names[i],
		       hdr_percentile(h, lg_pcts[i]) / 1000.0);
	printf(" max %8.2fms\n", h->max / 1000.0);
}

int lg_generator_behind(const struct lg_stats *st, uint64_t off)
{
	/* over 1% of the sends (and more than 10: a few scheduling hiccups
	 * of a short run are noise) late, or one lag over 100 ms */
	return st->late > off / 100 + 10 || st->max_lag_us > 100000;
}

static void lg_print_warnings(const struct lg_stats *st, uint64_t off)
{
	if (lg_generator_behind(st, off))
		printf("WARNING: THE GENERATOR FELL BEHIND ITS OWN SCHEDULE: %llu "
		       "requests left over %d ms late with a free connection "
		       "(max lag %.1f ms).  Its CPU was saturated: these results "
		       "measure the client, not the server.  Use more --threads "
		       "or another machine.\n", (unsigned long long)st->late,
		       LG_LATE_MS, st->max_lag_us / 1000.0);
	if (st->waited_conn)
		printf("warning: %llu due requests (%.2f%%) found every connection "
		       "busy and waited (their latency counts from the intended "
		       "time); raise --connections if the server is not the "
		       "limit\n", (unsigned long long)st->waited_conn,
		       off ? 100.0 * st->waited_conn / off : 0);
	if (st->starved)
		printf("warning: the signer (login assertions, signing approvals) "
		       "ran dry %llu times: the generator limited the rate\n",
		       (unsigned long long)st->starved);
	if (st->unsent)
		printf("warning: %llu requests were still queued at the end\n",
		       (unsigned long long)st->unsent);
	if (st->drained > off / 100)
		printf("warning: %llu answers (%.1f%%) came after the schedule "
		       "had ended: the server fell behind the offered rate\n",
		       (unsigned long long)st->drained,
		       off ? 100.0 * st->drained / off : 0);
	if (st->lost)
		printf("warning: %llu values not recorded (out of memory)\n",
		       (unsigned long long)st->lost);
}

struct lg_print_ctx {
	const struct lg_config *cfg;
	double el;
};

static void lg_print_one(void *arg, const struct lg_series *x, int ph, int w,
			 int m)
{
	struct lg_print_ctx *pc = arg;
	const struct lg_profile *p = &pc->cfg->profile;
	double len = lg_phase_len(p, ph, pc->el);

	printf("%s (tls %s", lg_workload_names[w], lg_tls_names[m]);
	if (ph >= 0)
		printf(", phase %s %.0f-%.0fs", p->phase_name[ph],
		       ph ? p->phase_end[ph - 1] : 0.0, p->phase_end[ph]);
	else if (ph == -1)
		printf(", whole run");
	printf("): offered %llu (%.1f/s), answered %llu, achieved %.1f/s, "
	       "errors %llu\n", (unsigned long long)x->offered, x->offered / len,
	       (unsigned long long)x->answered, x->completed / len,
	       (unsigned long long)lg_series_errors(x));
	for (int k = 0; k < LG_ERR_COUNT; k++)
		if (x->errors[k])
			printf("  error %s: %llu\n", lg_err_names[k],
			       (unsigned long long)x->errors[k]);
	for (int c = 0; c < LG_CLASS_COUNT; c++) {
		if (!x->corr[c] || !x->corr[c]->total)
			continue;
		printf("  %dxx: %llu answers\n", c + 1,
		       (unsigned long long)x->corr[c]->total);
		lg_print_hist("corrected", x->corr[c]);
		lg_print_hist("uncorrected", x->uncorr[c]);
	}
	for (int k = 0; w == LG_WL_SIGN && k < LG_STEP_COUNT; k++)
		for (int c = 0; c < LG_CLASS_COUNT; c++) {
			char label[64];

			if (!x->step[k][c] || !x->step[k][c]->total)
				continue;
			snprintf(label, sizeof(label), "%s %dxx",
				 k == LG_STEP_AUTHORIZE ? "authorize" : "signHash",
				 c + 1);
			lg_print_hist(label, x->step[k][c]);
		}
}

int lg_report(const struct lg_config *cfg, const struct lg_stats *st,
	      double el)
{
	struct lg_print_ctx pc = { cfg, el };
	struct lg_totals tot;

	lg_stats_totals(st, &tot, NULL);
	lg_visit(cfg, st, lg_print_one, &pc);
	printf("connections opened %llu, handshakes %llu, resumed %llu, "
	       "tickets received %llu\n", (unsigned long long)st->conns_opened,
	       (unsigned long long)st->handshakes,
	       (unsigned long long)st->resumed, (unsigned long long)st->tickets);
	lg_print_warnings(st, tot.offered);
	return cfg->json_path ? lg_write_json(cfg, st, el) : IG_OK;
}
