/*
 * svg.h - a hand-written SVG line chart (no dependencies): linear x axis,
 * logarithmic y axis (latencies span decades: a 1 ms median and a 1 s
 * stall on one picture), labelled ticks with units, a legend, optional
 * horizontal reference lines (SLO bounds) and one vertical marker (the
 * capacity found).  All text is XML-escaped.
 */
#ifndef LG_SVG_H
#define LG_SVG_H
#include <stddef.h>

struct lg_svg_series {
	const char *name;
	const char *color;
	size_t n;
	const double *x, *y;    /* y <= 0 is drawn at the axis floor */
	int points;             /* also draw a dot at each point */
};

struct lg_svg_line {
	double v;               /* y for hlines, x for the vline */
	const char *label;
};

struct lg_svg_chart {
	const char *title, *xlabel, *ylabel;
	const struct lg_svg_series *series;
	size_t nseries;
	const struct lg_svg_line *hlines;
	size_t nhlines;
	const struct lg_svg_line *vline;        /* NULL: none */
};

/* Write <c> to <path>.  IG_OK or IG_EINTERNAL (cannot write). */
int lg_svg_write(const char *path, const struct lg_svg_chart *c);

#endif
