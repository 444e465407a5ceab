/*
 * svg.c - the line chart (see svg.h).
 */
#include "svg.h"

#include <math.h>
#include <stdio.h>

#include "../common/result.h"

#define LG_SVG_WD 900
#define LG_SVG_HT 520
#define LG_SVG_L 80             /* plot area margins */
#define LG_SVG_R 200            /* room for the legend */
#define LG_SVG_T 50
#define LG_SVG_B 60

struct lg_svg_axes {
	double x0, x1;          /* linear */
	double ly0, ly1;        /* log10 of the y range */
};

static void lg_svg_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static double lg_svg_px(const struct lg_svg_axes *a, double x)
{
	return LG_SVG_L + (x - a->x0) / (a->x1 - a->x0) *
	       (LG_SVG_WD - LG_SVG_L - LG_SVG_R);
}

static double lg_svg_py(const struct lg_svg_axes *a, double y)
{
	double ly = y > 0 ? log10(y) : a->ly0;

	if (ly < a->ly0)
		ly = a->ly0;
	return LG_SVG_HT - LG_SVG_B - (ly - a->ly0) / (a->ly1 - a->ly0) *
	       (LG_SVG_HT - LG_SVG_T - LG_SVG_B);
}

/* Ranges from the data: x from its min to max, y to whole decades. */
static void lg_svg_range(const struct lg_svg_chart *c, struct lg_svg_axes *a)
{
	double ymin = INFINITY, ymax = 0;

	a->x0 = INFINITY;
	a->x1 = -INFINITY;
	for (size_t s = 0; s < c->nseries; s++)
		for (size_t i = 0; i < c->series[s].n; i++) {
			double x = c->series[s].x[i], y = c->series[s].y[i];

			a->x0 = fmin(a->x0, x);
			a->x1 = fmax(a->x1, x);
			if (y > 0) {
				ymin = fmin(ymin, y);
				ymax = fmax(ymax, y);
			}
		}
	for (size_t i = 0; i < c->nhlines; i++)
		if (c->hlines[i].v > 0) {
			ymin = fmin(ymin, c->hlines[i].v);
			ymax = fmax(ymax, c->hlines[i].v);
		}
	if (!isfinite(a->x0)) {
		a->x0 = 0;
		a->x1 = 1;
	}
	if (a->x0 > 0 && a->x0 < 0.2 * a->x1)
		a->x0 = 0;
	if (a->x1 - a->x0 < 1e-9)
		a->x1 = a->x0 + 1;
	if (!isfinite(ymin)) {
		ymin = 1;
		ymax = 10;
	}
	a->ly0 = floor(log10(ymin));
	a->ly1 = ceil(log10(ymax));
	if (a->ly1 <= a->ly0)
		a->ly1 = a->ly0 + 1;
}

/* A "nice" tick step (1, 2 or 5 x 10^k) giving about <n> ticks. */
static double lg_svg_step(double span, int n)
{
	double raw = span / n, mag = pow(10, floor(log10(raw))), r = raw / mag;

	return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void lg_svg_axes_draw(FILE *f, const struct lg_svg_chart *c,
			     const struct lg_svg_axes *a)
{
	double step = lg_svg_step(a->x1 - a->x0, 8);
	int xr = LG_SVG_WD - LG_SVG_R, yb = LG_SVG_HT - LG_SVG_B;

	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		"fill=\"none\" stroke=\"#444\"/>\n", LG_SVG_L, LG_SVG_T,
		xr - LG_SVG_L, yb - LG_SVG_T);
	for (double x = ceil(a->x0 / step) * step; x <= a->x1 + step * 1e-6;
	     x += step) {
		double px = lg_svg_px(a, x);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			"stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%d\" "
			"text-anchor=\"middle\">%g</text>\n", px, LG_SVG_T, px,
			yb, px, yb + 18, x);
	}
	for (int d = (int)a->ly0; d <= (int)a->ly1; d++) {
		double py = lg_svg_py(a, pow(10, d));

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
			"stroke=\"#ddd\"/>\n<text x=\"%d\" y=\"%.1f\" "
			"text-anchor=\"end\">%g</text>\n", LG_SVG_L, py, xr, py,
			LG_SVG_L - 6, py + 4, pow(10, d));
	}
	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"16\">", LG_SVG_L);
	lg_svg_text(f, c->title);
	fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
		(LG_SVG_L + xr) / 2, LG_SVG_HT - 18);
	lg_svg_text(f, c->xlabel);
	fprintf(f, "</text>\n<text transform=\"translate(22,%d) rotate(-90)\" "
		"text-anchor=\"middle\">", (LG_SVG_T + yb) / 2);
	lg_svg_text(f, c->ylabel);
	fputs("</text>\n", f);
}

static void lg_svg_series_draw(FILE *f, const struct lg_svg_series *s,
			       const struct lg_svg_axes *a, int k)
{
	int lx = LG_SVG_WD - LG_SVG_R + 14, ly = LG_SVG_T + 10 + 22 * k;

	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		"points=\"", s->color);
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", lg_svg_px(a, s->x[i]),
			lg_svg_py(a, s->y[i]));
	fputs("\"/>\n", f);
	for (size_t i = 0; s->points && i < s->n; i++)
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
			lg_svg_px(a, s->x[i]), lg_svg_py(a, s->y[i]), s->color);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
		"stroke-width=\"3\"/>\n<text x=\"%d\" y=\"%d\">", lx, ly, lx + 24,
		ly, s->color, lx + 30, ly + 4);
	lg_svg_text(f, s->name);
	fputs("</text>\n", f);
}

static void lg_svg_refs(FILE *f, const struct lg_svg_chart *c,
			const struct lg_svg_axes *a)
{
	int xr = LG_SVG_WD - LG_SVG_R;

	for (size_t i = 0; i < c->nhlines; i++) {
		double py = lg_svg_py(a, c->hlines[i].v);

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
			"stroke=\"#c00\" stroke-dasharray=\"8,4\"/>\n"
			"<text x=\"%d\" y=\"%.1f\" fill=\"#c00\" text-anchor=\"end\">",
			LG_SVG_L, py, xr, py, xr - 4, py - 5);
		lg_svg_text(f, c->hlines[i].label);
		fputs("</text>\n", f);
	}
	if (c->vline && c->vline->v >= a->x0 && c->vline->v <= a->x1) {
		double px = lg_svg_px(a, c->vline->v);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			"stroke=\"#080\" stroke-dasharray=\"4,4\"/>\n"
			"<text x=\"%.1f\" y=\"%d\" fill=\"#080\">", px, LG_SVG_T,
			px, LG_SVG_HT - LG_SVG_B, px + 4, LG_SVG_T + 14);
		lg_svg_text(f, c->vline->label);
		fputs("</text>\n", f);
	}
}

int lg_svg_write(const char *path, const struct lg_svg_chart *c)
{
	struct lg_svg_axes a;
	FILE *f = fopen(path, "w");
	int bad;

	if (!f)
		return IG_EINTERNAL;
	lg_svg_range(c, &a);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
		"fill=\"white\"/>\n", LG_SVG_WD, LG_SVG_HT, LG_SVG_WD, LG_SVG_HT);
	lg_svg_axes_draw(f, c, &a);
	lg_svg_refs(f, c, &a);
	for (size_t s = 0; s < c->nseries; s++)
		lg_svg_series_draw(f, &c->series[s], &a, (int)s);
	fputs("</svg>\n", f);
	bad = ferror(f);
	bad |= fclose(f);
	return bad ? IG_EINTERNAL : IG_OK;
}
