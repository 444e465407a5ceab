/*
 * route.h - a listener's route table: method, path pattern, metric label
 * and handler, one row per endpoint (h2o's path-config and HAProxy's
 * use_backend rules are the models).  A new endpoint is a handler and a
 * row; the connection layer knows the table only through route_request.
 */
#ifndef IG_ROUTE_H
#define IG_ROUTE_H
#include <stddef.h>

#include "metrics.h"

struct conn;
struct request;

/* A pattern matches a path exactly, except that one '*' matches one
 * non-empty path segment (no '/'), handed to the handler as r->param. */
struct route {
	const char *method;
	const char *pattern;
	enum endpoint ep;               /* the metric label */
	void (*handle)(struct conn *c, struct request *r);
	const void *arg;                /* the handler's, as r->arg */
};

/* The rows one module contributes to a listener. */
struct route_table {
	const struct route *rows;
	size_t n;
};
#define ROUTE_TABLE(rows) { rows, sizeof(rows) / sizeof((rows)[0]) }

/*
 * Serve <r> with the first row of <tables> (<ntables> of them, in order)
 * whose pattern matches its path and whose method is its method: r->ep,
 * r->param and r->arg are set, then the row's handler runs.  A path that no
 * pattern matches gets 404; one that rows of other methods match gets 405
 * with their methods in Allow (RFC 9110 §15.5.6).
 */
void route_request(const struct route_table *tables, size_t ntables, struct conn *c,
		   struct request *r);

#endif
