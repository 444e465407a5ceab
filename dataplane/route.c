/*
 * route.c - matching a request to its route (see route.h).
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include "server.h"

/* 1 if <path> matches <pattern>; the segment '*' matched in <param>. */
static int route_match(const char *pattern, struct http_str path, struct http_str *param)
{
	const char *star = strchr(pattern, '*');
	size_t pre, post, seg;

	param->p = NULL;
	param->len = 0;
	if (!star)
		return http_str_eq(path, pattern);
	pre = (size_t)(star - pattern);
	post = strlen(star + 1);
	if (path.len <= pre + post || memcmp(path.p, pattern, pre) ||
	    memcmp(path.p + path.len - post, star + 1, post))
		return 0;
	seg = path.len - pre - post;
	if (memchr(path.p + pre, '/', seg))
		return 0;
	param->p = path.p + pre;
	param->len = seg;
	return 1;
}

void route_request(const struct route_table *tables, size_t ntables, struct conn *c,
		   struct request *r)
{
	char allow[64] = "Allow: ";
	size_t alen = 7;
	enum endpoint ep = EP_OTHER;
	struct http_str param;
	int path_known = 0;

	for (size_t t = 0; t < ntables; t++) {
		for (size_t i = 0; i < tables[t].n; i++) {
			const struct route *rt = &tables[t].rows[i];

			if (!route_match(rt->pattern, r->h.path, &param))
				continue;
			if (http_str_eq(r->h.method, rt->method)) {
				r->ep = rt->ep;
				r->param = param;
				r->arg = rt->arg;
				rt->handle(c, r);
				return;
			}
			/* The path exists with other methods: list them. */
			path_known = 1;
			ep = rt->ep;
			alen += (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s",
						 alen > 7 ? ", " : "", rt->method);
			if (alen > sizeof(allow) - 3)
				alen = sizeof(allow) - 3;
		}
	}
	if (!path_known) {
		resp_error(c, EP_OTHER, r->start_ns, 404, "not_found", "no such resource", NULL,
			   r->h.keep_alive);
		return;
	}
	memcpy(allow + alen, "\r\n", 3);
	resp_error(c, ep, r->start_ns, 405, "invalid_request", "method not allowed", allow,
		   r->h.keep_alive);
}
