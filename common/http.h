/*
 * http.h - a strict, zero-copy HTTP/1.1 message parser (RFC 9112).
 *
 * Sans-I/O: the parser reads a caller's buffer and fills views (pointer +
 * length) into it; it never copies, allocates or keeps state between calls.
 * Call it again with the grown buffer when it answers HTTP_INCOMPLETE.
 * Strict: anything RFC 9112 does not allow is refused (no obs-fold, no bare
 * LF, no whitespace before the colon, no control characters, one
 * Content-Length, no Transfer-Encoding on requests).  Used by the server for
 * requests and by the load generator for responses.
 */
#ifndef IG_HTTP_H
#define IG_HTTP_H
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define HTTP_MAX_HEADERS 32

/* The parser's answers, in the project's vocabulary (result.h). */
enum {
	HTTP_INCOMPLETE = IG_EBLOCKED, /* need more bytes */
	HTTP_BAD = IG_EPROTO,          /* malformed: answer 400 (see `why`) */
};

struct http_str {
	const char *p;
	size_t len;
};

struct http_header {
	struct http_str name, value; /* value has surrounding OWS trimmed */
};

struct http_request {
	struct http_str method;  /* token, e.g. "POST" */
	struct http_str target;  /* origin-form: "/path?query" */
	struct http_str path;    /* target up to '?' */
	struct http_str query;   /* after '?', empty if none */
	int minor_version;       /* HTTP/1.<minor_version>: 0 or 1 */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t num_headers;
	/* Derived from the headers while parsing. */
	uint64_t content_length;     /* 0 when absent */
	int has_content_length;
	int keep_alive;              /* 1.1 default yes, 1.0 default no, Connection: close/keep-alive */
	struct http_str content_type; /* media type only, parameters cut; empty if absent */
	struct http_str authorization;
	struct http_str host;
};

struct http_response {
	int minor_version;
	int status;              /* 100..999 */
	struct http_str reason;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t num_headers;
	uint64_t content_length;
	int has_content_length;
	int keep_alive;
	int chunked;             /* Transfer-Encoding: chunked */
};

/*
 * Parse the request head (request line + header fields + empty line) at the
 * start of <buf>[0..<len>).  Returns the head's length in bytes (> 0) on
 * success, HTTP_INCOMPLETE when the head is not complete yet, or HTTP_BAD
 * with <*why> set to a static, specific reason ("bad request line",
 * "whitespace before colon in header", "duplicate Content-Length",
 * "too many headers", ...).  The views in <req> point into <buf> and live as
 * long as it does; absent content_type/authorization/host are empty (never
 * NULL).  <req> is only meaningful after a success.  A head longer than
 * <max_head> bytes is HTTP_BAD ("request head too large") even while
 * incomplete.  Every prefix of a good head is HTTP_INCOMPLETE; the parser
 * never reads past <len>.  Up to 4 empty lines before the request line are
 * skipped (RFC 9112 §2.2) and counted in the returned length.
 * Beyond syntax, these are refused: a target not in origin-form or with bad
 * percent-encoding; any Transfer-Encoding; HTTP/1.1 without a Host line;
 * two Host, Content-Length, Content-Type or Authorization lines; a Host
 * value with characters outside RFC 3986's host and port.
 */
int http_parse_request(const char *buf, size_t len, size_t max_head,
		       struct http_request *req, const char **why);

/*
 * Same for a response head (status line + header fields + empty line).
 * Transfer-Encoding is allowed: chunked is set when chunked is the final
 * coding; a response with Transfer-Encoding and Content-Length is refused
 * (RFC 9112 §6.3); keep_alive is cleared when the body runs to the close.
 */
int http_parse_response(const char *buf, size_t len, size_t max_head,
			struct http_response *resp, const char **why);

/* Case-insensitive lookup of a header field; NULL if absent. */
const struct http_str *http_find_header(const struct http_header *h, size_t n,
					const char *name);

/* 1 if <s> equals the NUL-terminated <lit> ignoring ASCII case. */
int http_str_ieq(struct http_str s, const char *lit);
/* 1 if <s> equals <lit> exactly. */
int http_str_eq(struct http_str s, const char *lit);
/* RFC 6750 §2.1: the token of an Authorization value "Bearer <token>"
 * (the scheme in any case, RFC 9110 §11.1) in <token>: 1, or 0 when
 * <authorization> is not a Bearer credential with a token. */
IG_MUST_CHECK int http_bearer(struct http_str authorization, struct http_str *token);

/*
 * Decode application/x-www-form-urlencoded <body> (WHATWG URL §5.1):
 * calls <cb> for each name=value pair with both percent-decoded ('+' is a
 * space) into <scratch> (at least <len> bytes).  Returns 0, or HTTP_BAD
 * with <*why> ("bad percent-encoding in form body", "duplicate form
 * parameter" is the caller's business).  <cb> returns nonzero to stop
 * with HTTP_BAD and its own reason already stored in <*why>.
 */
typedef int (*http_form_cb)(void *arg, struct http_str name,
			    struct http_str value, const char **why);
int http_parse_form(const char *body, size_t len, char *scratch,
		    http_form_cb cb, void *arg, const char **why);

#endif
