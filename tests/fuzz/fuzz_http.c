/*
 * fuzz_http.c - libFuzzer target for common/http.c: request, response and
 * form parsing of the same bytes.  The input is copied into a malloc'd
 * buffer of its exact size so ASan reports any read past <len>, and the
 * parser's promises are checked: a head length within the buffer and the
 * limit, views inside the buffer, a specific reason with every refusal,
 * the same answer for the head alone and a prefix of it incomplete.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/http.h"
#include "fuzz.h"

static const char *fuzz_lo, *fuzz_hi;

static void fuzz_view(struct http_str s)
{
	if (s.len)
		FUZZ_ASSERT(s.p >= fuzz_lo && s.p + s.len <= fuzz_hi);
	FUZZ_ASSERT(s.p != NULL);
}

static void fuzz_headers(const struct http_header *h, size_t n)
{
	FUZZ_ASSERT(n <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(h[i].name.len > 0);
		fuzz_view(h[i].name);
		fuzz_view(h[i].value);
	}
}

static void fuzz_verdict(int rc, size_t len, size_t max_head, const char *why)
{
	FUZZ_ASSERT(rc == HTTP_INCOMPLETE || rc == HTTP_BAD || rc > 0);
	if (rc == HTTP_BAD)
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
	if (rc > 0)
		FUZZ_ASSERT((size_t)rc <= len && (size_t)rc <= max_head);
	if (rc == HTTP_INCOMPLETE)
		FUZZ_ASSERT(len < max_head);
}

static void fuzz_request(const char *buf, size_t len, size_t max_head)
{
	struct http_request req;
	const char *why = NULL;
	int rc, again;

	rc = http_parse_request(buf, len, max_head, &req, &why);
	fuzz_verdict(rc, len, max_head, why);
	if (rc <= 0)
		return;
	fuzz_view(req.method);
	fuzz_view(req.target);
	fuzz_view(req.path);
	fuzz_view(req.query);
	fuzz_view(req.content_type);
	fuzz_view(req.authorization);
	fuzz_view(req.host);
	fuzz_headers(req.headers, req.num_headers);
	FUZZ_ASSERT(req.minor_version == 0 || req.minor_version == 1);
	FUZZ_ASSERT(req.path.len >= 1 && req.path.p[0] == '/');
	FUZZ_ASSERT(req.keep_alive == 0 || req.keep_alive == 1);
	/* The head alone parses the same; one byte less is incomplete. */
	again = http_parse_request(buf, (size_t)rc, max_head, &req, &why);
	FUZZ_ASSERT(again == rc);
	again = http_parse_request(buf, (size_t)rc - 1, max_head, &req, &why);
	FUZZ_ASSERT(again == HTTP_INCOMPLETE);
}

static void fuzz_response(const char *buf, size_t len, size_t max_head)
{
	struct http_response resp;
	const char *why = NULL;
	int rc;

	rc = http_parse_response(buf, len, max_head, &resp, &why);
	fuzz_verdict(rc, len, max_head, why);
	if (rc <= 0)
		return;
	FUZZ_ASSERT(resp.status >= 100 && resp.status <= 999);
	fuzz_view(resp.reason);
	fuzz_headers(resp.headers, resp.num_headers);
	FUZZ_ASSERT(!(resp.chunked && resp.has_content_length));
	FUZZ_ASSERT(http_parse_response(buf, (size_t)rc - 1, max_head, &resp,
					&why) == HTTP_INCOMPLETE);
}

struct fuzz_form {
	const char *lo, *hi;
	size_t used;
};

static int fuzz_form_cb(void *arg, struct http_str name, struct http_str value,
			const char **why)
{
	struct fuzz_form *f = arg;

	FUZZ_ASSERT(name.p >= f->lo && name.p + name.len <= f->hi);
	FUZZ_ASSERT(value.p >= f->lo && value.p + value.len <= f->hi);
	f->used += name.len + value.len;
	FUZZ_ASSERT(f->used <= (size_t)(f->hi - f->lo));
	/* Exercise the caller-stops path now and then. */
	if (name.len == 4 && memcmp(name.p, "stop", 4) == 0) {
		*why = "stopped";
		return 1;
	}
	return 0;
}

static void fuzz_form(const char *buf, size_t len)
{
	char *scratch = malloc(len ? len : 1);
	struct fuzz_form f = { scratch, scratch + len, 0 };
	const char *why = NULL;
	int rc;

	if (!scratch)
		return;
	rc = http_parse_form(buf, len, scratch, fuzz_form_cb, &f, &why);
	FUZZ_ASSERT(rc == 0 || (rc == HTTP_BAD && why != NULL));
	free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	fuzz_lo = buf;
	fuzz_hi = buf + size;
	fuzz_request(buf, size, 8192);
	/* A small limit, derived from the input, reaches the size checks. */
	fuzz_request(buf, size, size ? (size_t)data[0] + 1 : 1);
	fuzz_response(buf, size, 8192);
	fuzz_form(buf, size);
	free(buf);
	return 0;
}
