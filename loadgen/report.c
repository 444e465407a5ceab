/*
 * report.c - statistics merging, the end-of-run summary and --json.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../common/result.h"
#include "loadgen.h"

static const double lg_pcts[] = { 50, 90, 99, 99.9 };
static const char *const lg_pct_names[] = { "p50", "p90", "p99", "p99.9" };

int lg_stats_init(struct lg_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int w = 0; w < LG_WL_COUNT; w++)
		for (int c = 0; c < LG_CLASS_COUNT; c++)
			if (hdr_init(&s->corr[w][c], LG_HIGHEST_US) < 0 ||
			    hdr_init(&s->uncorr[w][c], LG_HIGHEST_US) < 0)
				return IG_ENOMEM;
	return IG_OK;
}

void lg_stats_free(struct lg_stats *s)
{
	for (int w = 0; w < LG_WL_COUNT; w++)
		for (int c = 0; c < LG_CLASS_COUNT; c++) {
			hdr_free(&s->corr[w][c]);
			hdr_free(&s->uncorr[w][c]);
		}
}

void lg_stats_merge(struct lg_stats *d, const struct lg_stats *s)
{
	for (int w = 0; w < LG_WL_COUNT; w++) {
		for (int c = 0; c < LG_CLASS_COUNT; c++) {
			hdr_merge(&d->corr[w][c], &s->corr[w][c]);
			hdr_merge(&d->uncorr[w][c], &s->uncorr[w][c]);
		}
		d->offered[w] += s->offered[w];
		d->answered[w] += s->answered[w];
		for (int k = 0; k < LG_ERR_COUNT; k++)
			d->errors[w][k] += s->errors[w][k];
		for (int k = 0; k < 600; k++)
			d->status[w][k] += s->status[w][k];
	}
	d->conns_opened += s->conns_opened;
	d->handshakes += s->handshakes;
	d->resumed += s->resumed;
	d->tickets += s->tickets;
	d->waited_conn += s->waited_conn;
	d->late += s->late;
	d->starved += s->starved;
	d->unsent += s->unsent;
	if (s->max_lag_us > d->max_lag_us)
		d->max_lag_us = s->max_lag_us;
}

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

static uint64_t lg_err_total(const struct lg_stats *st, int w)
{
	uint64_t n = 0;

	for (int k = 0; k < LG_ERR_COUNT; k++)
		n += st->errors[w][k];
	return n;
}

static json_t *lg_workload_json(const struct lg_config *cfg,
				const struct lg_stats *st, int w, double el)
{
	json_t *o = json_object(), *errs = json_object(), *codes = json_object();
	json_t *classes = json_array();
	char key[16];

	json_object_set_new(o, "workload", json_string(lg_workload_names[w]));
	json_object_set_new(o, "tls", json_string(lg_tls_names[cfg->tls]));
	json_object_set_new(o, "offered", json_integer((json_int_t)st->offered[w]));
	json_object_set_new(o, "answered", json_integer((json_int_t)st->answered[w]));
	json_object_set_new(o, "offered_rate", json_real(st->offered[w] / el));
	json_object_set_new(o, "achieved_rate", json_real(st->answered[w] / el));
	for (int k = 0; k < LG_ERR_COUNT; k++)
		json_object_set_new(errs, lg_err_names[k],
				    json_integer((json_int_t)st->errors[w][k]));
	json_object_set_new(o, "errors", errs);
	json_object_set_new(o, "error_total", json_integer((json_int_t)lg_err_total(st, w)));
	for (int k = 100; k < 600; k++)
		if (st->status[w][k]) {
			snprintf(key, sizeof(key), "%d", k);
			json_object_set_new(codes, key, json_integer((json_int_t)st->status[w][k]));
		}
	json_object_set_new(o, "status", codes);
	/* One latency record per status class (µs). */
	for (int c = 0; c < LG_CLASS_COUNT; c++) {
		json_t *h;

		if (!st->corr[w][c].total)
			continue;
		h = json_object();
		snprintf(key, sizeof(key), "%dxx", c + 1);
		json_object_set_new(h, "class", json_string(key));
		json_object_set_new(h, "count", json_integer((json_int_t)st->corr[w][c].total));
		json_object_set_new(h, "corrected_us", lg_pct_json(&st->corr[w][c]));
		json_object_set_new(h, "uncorrected_us", lg_pct_json(&st->uncorr[w][c]));
		json_array_append_new(classes, h);
	}
	json_object_set_new(o, "latency", classes);
	return o;
}

static int lg_write_json(const struct lg_config *cfg, const struct lg_stats *st,
			 double el)
{
	json_t *root = json_object(), *wls = json_array(), *gen = json_object();
	uint64_t off = 0, ans = 0, err = 0;
	int rc;

	for (int w = 0; w < LG_WL_COUNT; w++) {
		off += st->offered[w];
		ans += st->answered[w];
		err += lg_err_total(st, w);
		if (st->offered[w])
			json_array_append_new(wls, lg_workload_json(cfg, st, w, el));
	}
	json_object_set_new(root, "tls", json_string(lg_tls_names[cfg->tls]));
	json_object_set_new(root, "duration_s", json_real(el));
	json_object_set_new(root, "offered", json_integer((json_int_t)off));
	json_object_set_new(root, "answered", json_integer((json_int_t)ans));
	json_object_set_new(root, "errors", json_integer((json_int_t)err));
	json_object_set_new(root, "offered_rate", json_real(off / el));
	json_object_set_new(root, "achieved_rate", json_real(ans / el));
	json_object_set_new(root, "scenarios", wls);
	json_object_set_new(gen, "connections_opened", json_integer((json_int_t)st->conns_opened));
	json_object_set_new(gen, "handshakes", json_integer((json_int_t)st->handshakes));
	json_object_set_new(gen, "resumed", json_integer((json_int_t)st->resumed));
	json_object_set_new(gen, "tickets", json_integer((json_int_t)st->tickets));
	json_object_set_new(gen, "waited_for_connection", json_integer((json_int_t)st->waited_conn));
	json_object_set_new(gen, "late_sends", json_integer((json_int_t)st->late));
	json_object_set_new(gen, "max_lag_us", json_integer((json_int_t)st->max_lag_us));
	json_object_set_new(gen, "signer_starved", json_integer((json_int_t)st->starved));
	json_object_set_new(gen, "unsent", json_integer((json_int_t)st->unsent));
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

static void lg_print_warnings(const struct lg_stats *st, uint64_t off)
{
	if (st->late > off / 100 || st->max_lag_us > 100000)
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
		printf("warning: the assertion signer ran dry %llu times: the "
		       "generator limited the login rate\n",
		       (unsigned long long)st->starved);
	if (st->unsent)
		printf("warning: %llu requests were still queued at the end\n",
		       (unsigned long long)st->unsent);
}

int lg_report(const struct lg_config *cfg, const struct lg_stats *st,
	      double el)
{
	uint64_t off = 0;

	for (int w = 0; w < LG_WL_COUNT; w++) {
		off += st->offered[w];
		if (!st->offered[w])
			continue;
		printf("%s (tls %s): offered %llu (%.1f/s), answered %llu "
		       "(%.1f/s), errors %llu\n", lg_workload_names[w],
		       lg_tls_names[cfg->tls], (unsigned long long)st->offered[w],
		       st->offered[w] / el, (unsigned long long)st->answered[w],
		       st->answered[w] / el, (unsigned long long)lg_err_total(st, w));
		for (int k = 0; k < LG_ERR_COUNT; k++)
			if (st->errors[w][k])
				printf("  error %s: %llu\n", lg_err_names[k],
				       (unsigned long long)st->errors[w][k]);
		for (int c = 0; c < LG_CLASS_COUNT; c++) {
			if (!st->corr[w][c].total)
				continue;
			printf("  %dxx: %llu answers\n", c + 1,
			       (unsigned long long)st->corr[w][c].total);
			lg_print_hist("corrected", &st->corr[w][c]);
			lg_print_hist("uncorrected", &st->uncorr[w][c]);
		}
	}
	printf("connections opened %llu, handshakes %llu, resumed %llu, "
	       "tickets received %llu\n", (unsigned long long)st->conns_opened,
	       (unsigned long long)st->handshakes,
	       (unsigned long long)st->resumed, (unsigned long long)st->tickets);
	lg_print_warnings(st, off);
	return cfg->json_path ? lg_write_json(cfg, st, el) : IG_OK;
}
