/*
 * http_test.c - unit tests for common/http.c.
 *
 * Every input is copied flush against a PROT_NONE page (the picohttpparser
 * way), so a read one byte past <len> faults.  Every prefix of every input
 * is parsed too: a prefix of a good head must be HTTP_INCOMPLETE, and a bad
 * input may only be incomplete until it turns bad, after which it must stay
 * bad for the one expected reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../common/http.h"
#include "check.h"

#define S(lit) lit, sizeof(lit) - 1
#define BIG 8192

/* ---- guard page ---------------------------------------------------- */

static char *guard_base;
static size_t guard_room, guard_page;

static void guard_init(void)
{
	guard_page = (size_t)sysconf(_SC_PAGESIZE);
	guard_room = 16 * guard_page;
	guard_base = mmap(NULL, guard_room + guard_page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED ||
	    mprotect(guard_base + guard_room, guard_page, PROT_NONE)) {
		perror("guard page");
		exit(1);
	}
}

static void guard_fini(void)
{
	munmap(guard_base, guard_room + guard_page);
}

/* Copy <n> bytes so that the last one is the last readable byte. */
static const char *guard_put(const char *s, size_t n)
{
	char *d = guard_base + guard_room - n;

	if (n > guard_room) {
		fprintf(stderr, "test input too large\n");
		exit(1);
	}
	memcpy(d, s, n);
	return d;
}

/* ---- helpers ------------------------------------------------------- */

enum { REQ, RESP };

static struct http_request req;
static struct http_response resp;

static int parse(int kind, const char *s, size_t n, size_t max_head,
		 const char **why)
{
	const char *b = guard_put(s, n);

	*why = NULL;
	if (kind == REQ)
		return http_parse_request(b, n, max_head, &req, why);
	return http_parse_response(b, n, max_head, &resp, why);
}

static void show(const char *what, const char *s, size_t n, size_t k, int rc,
		 const char *why)
{
	fprintf(stderr, "  %s: prefix %zu of %zu: rc %d (%s) input: \"", what,
		k, n, rc, why ? why : "-");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"\n");
}

/*
 * <s>[0..<n>) starts with a good head of <head> bytes: every shorter prefix
 * is incomplete, every longer one (body, pipelined requests) gives <head>.
 * The last parse is of the whole input, so the views stay valid after.
 */
static int good(int kind, const char *s, size_t n, size_t head)
{
	const char *why;
	size_t k;
	int rc;

	for (k = 0; k <= n; k++) {
		rc = parse(kind, s, k, BIG, &why);
		if (rc != (k < head ? HTTP_INCOMPLETE : (int)head)) {
			show("good", s, n, k, rc, why);
			return 0;
		}
	}
	return 1;
}

/* Parse a whole input that must be a good head of its full length. */
#define GOOD(kind, lit) good(kind, S(lit), sizeof(lit) - 1)

/*
 * <s>[0..<n>) is bad for <reason>: no prefix may be good, and once a prefix
 * is bad every longer one is bad for the same reason.
 */
static int bad_max(int kind, const char *s, size_t n, size_t max_head,
		   const char *reason)
{
	const char *why;
	int rc, was_bad = 0;
	size_t k;

	for (k = 0; k <= n; k++) {
		rc = parse(kind, s, k, max_head, &why);
		if (rc == HTTP_BAD && why && strcmp(why, reason) == 0)
			was_bad = 1;
		else if (rc != HTTP_INCOMPLETE || was_bad) {
			show("bad", s, n, k, rc, why);
			fprintf(stderr, "  expected \"%s\"\n", reason);
			return 0;
		}
	}
	if (!was_bad) {
		show("bad", s, n, n, HTTP_INCOMPLETE, NULL);
		fprintf(stderr, "  expected \"%s\"\n", reason);
	}
	return was_bad;
}

#define BAD(kind, lit, reason) bad_max(kind, S(lit), BIG, reason)

static int eq(struct http_str s, const char *lit)
{
	return http_str_eq(s, lit);
}

/* ---- requests: positive -------------------------------------------- */

static void test_simple_get(void)
{
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"));
	CHECK(eq(req.method, "GET"));
	CHECK(eq(req.target, "/"));
	CHECK(eq(req.path, "/"));
	CHECK(eq(req.query, ""));
	CHECK_EQ(req.minor_version, 1);
	CHECK_EQ(req.num_headers, 1);
	CHECK(eq(req.headers[0].name, "Host"));
	CHECK(eq(req.headers[0].value, "a.example"));
	CHECK(eq(req.host, "a.example"));
	CHECK_EQ(req.keep_alive, 1);
	CHECK_EQ(req.has_content_length, 0);
	CHECK_EQ(req.content_length, 0);
	CHECK(eq(req.content_type, ""));
	CHECK(eq(req.authorization, ""));
	CHECK(req.content_type.p != NULL);
}

static void test_query_split(void)
{
	CHECK(GOOD(REQ, "GET /oauth/token?grant_type=x&a=%2Fb HTTP/1.1\r\n"
			"Host: h\r\n\r\n"));
	CHECK(eq(req.target, "/oauth/token?grant_type=x&a=%2Fb"));
	CHECK(eq(req.path, "/oauth/token"));
	CHECK(eq(req.query, "grant_type=x&a=%2Fb"));

	CHECK(GOOD(REQ, "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK(eq(req.path, "/a"));
	CHECK(eq(req.query, ""));

	CHECK(GOOD(REQ, "GET /a?b?c/d HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK(eq(req.path, "/a"));
	CHECK(eq(req.query, "b?c/d"));

	/* Every RFC 3986 pchar is allowed. */
	CHECK(GOOD(REQ, "GET /a/b;c=d@e:f!$&'()*+,=~-._%41%7e HTTP/1.1\r\n"
			"Host: h\r\n\r\n"));
	CHECK(eq(req.path, "/a/b;c=d@e:f!$&'()*+,=~-._%41%7e"));
}

static void test_post_headers(void)
{
	const struct http_str *v;

	CHECK(GOOD(REQ, "POST /sign HTTP/1.1\r\n"
			"host:   h.example:8443 \t\r\n"
			"Content-Type: application/x-www-form-urlencoded ; charset=utf-8\r\n"
			"Authorization: Bearer abc.def.ghi\r\n"
			"Content-Length: 0012\r\n"
			"X-Empty:\r\n"
			"X-Spaces: a  b\t c\r\n"
			"X-Obs: \x80\xff\r\n"
			"\r\n"));
	CHECK(eq(req.method, "POST"));
	CHECK_EQ(req.num_headers, 7);
	CHECK(eq(req.host, "h.example:8443"));
	CHECK(eq(req.content_type, "application/x-www-form-urlencoded"));
	CHECK(eq(req.authorization, "Bearer abc.def.ghi"));
	CHECK_EQ(req.has_content_length, 1);
	CHECK_EQ(req.content_length, 12);

	v = http_find_header(req.headers, req.num_headers, "x-empty");
	CHECK(v && v->len == 0);
	v = http_find_header(req.headers, req.num_headers, "X-SPACES");
	CHECK(v && eq(*v, "a  b\t c"));
	v = http_find_header(req.headers, req.num_headers, "x-obs");
	CHECK(v && eq(*v, "\x80\xff"));
	v = http_find_header(req.headers, req.num_headers, "content-length");
	CHECK(v && eq(*v, "0012"));
	CHECK(http_find_header(req.headers, req.num_headers, "X-Absent") == NULL);
	CHECK(http_find_header(req.headers, req.num_headers, "X-Empt") == NULL);
	CHECK(http_find_header(req.headers, 0, "Host") == NULL);

	CHECK(GOOD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type:text/plain\r\n"
			"Content-Length: 18446744073709551615\r\n\r\n"));
	CHECK(eq(req.content_type, "text/plain"));
	CHECK(req.content_length == UINT64_MAX);
	CHECK(GOOD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: ;x\r\n"
			"Content-Length: 0\r\n\r\n"));
	CHECK(eq(req.content_type, ""));
	CHECK_EQ(req.has_content_length, 1);
	CHECK_EQ(req.content_length, 0);

	/* Tokens beyond the usual methods and header names. */
	CHECK(GOOD(REQ, "M-SEARCH / HTTP/1.1\r\nHost: h\r\n"
			"!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"));
	CHECK(eq(req.method, "M-SEARCH"));
	CHECK(eq(req.headers[1].name, "!#$%&'*+-.^_`|~09azAZ"));

	/* Host may be empty (RFC 9110 §7.2) or an IP literal. */
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost:\r\n\r\n"));
	CHECK(eq(req.host, ""));
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"));
	CHECK(eq(req.host, "[::1]:443"));
}

static void test_pipelined(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
				  "GET /b?x HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char body[] = "POST /p HTTP/1.1\r\nHost: h\r\n"
				   "Content-Length: 5\r\n\r\n"
				   "hello"
				   "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *why, *b;
	size_t first = sizeof("GET /a HTTP/1.1\r\nHost: h\r\n\r\n") - 1;
	size_t head = sizeof("POST /p HTTP/1.1\r\nHost: h\r\n"
			     "Content-Length: 5\r\n\r\n") - 1;
	int rc;

	/* The first head's length lets the caller find the second. */
	CHECK(good(REQ, two, sizeof(two) - 1, first));
	CHECK(eq(req.path, "/a"));
	b = guard_put(two, sizeof(two) - 1);
	rc = http_parse_request(b + first, sizeof(two) - 1 - first, BIG, &req,
				&why);
	CHECK_EQ(rc, sizeof(two) - 1 - first);
	CHECK(eq(req.path, "/b"));
	CHECK(eq(req.query, "x"));

	CHECK(good(REQ, body, sizeof(body) - 1, head));
	CHECK_EQ(req.content_length, 5);
	b = guard_put(body, sizeof(body) - 1);
	CHECK(memcmp(b + head, "hello", 5) == 0);
	rc = http_parse_request(b + head + 5, sizeof(body) - 1 - head - 5, BIG,
				&req, &why);
	CHECK_EQ(rc, sizeof(body) - 1 - head - 5);
	CHECK(eq(req.path, "/next"));
}

static void test_keep_alive(void)
{
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 1);
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 0);
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo ,CLOSE\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 0);
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Upgrade\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 1);
	/* "closed" is not the "close" token. */
	CHECK(GOOD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 1);

	/* HTTP/1.0: no Host needed, keep-alive only when asked for. */
	CHECK(GOOD(REQ, "GET / HTTP/1.0\r\n\r\n"));
	CHECK_EQ(req.minor_version, 0);
	CHECK_EQ(req.keep_alive, 0);
	CHECK(eq(req.host, ""));
	CHECK(GOOD(REQ, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 1);
	CHECK(GOOD(REQ, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
			"Connection: close\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 0);
	CHECK(GOOD(REQ, "GET / HTTP/1.0\r\nConnection: ,, keep-alive,\r\n\r\n"));
	CHECK_EQ(req.keep_alive, 1);
}

static void test_leading_crlf(void)
{
	CHECK(GOOD(REQ, "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK(eq(req.method, "GET"));
	CHECK(GOOD(REQ, "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK(BAD(REQ, "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		  "too many empty lines before request line"));
}

static size_t build_headers(char *buf, size_t size, int n)
{
	size_t len = (size_t)snprintf(buf, size, "GET / HTTP/1.1\r\nHost: h\r\n");

	for (int i = 1; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "X-H%d: %d\r\n",
					i, i);
	len += (size_t)snprintf(buf + len, size - len, "\r\n");
	return len;
}

static void test_limits(void)
{
	static const char h[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	char buf[2048];
	size_t n;

	n = build_headers(buf, sizeof(buf), HTTP_MAX_HEADERS);
	CHECK(good(REQ, buf, n, n));
	CHECK_EQ(req.num_headers, HTTP_MAX_HEADERS);
	CHECK(eq(req.headers[HTTP_MAX_HEADERS - 1].value, "31"));
	n = build_headers(buf, sizeof(buf), HTTP_MAX_HEADERS + 1);
	CHECK(bad_max(REQ, buf, n, BIG, "too many headers"));

	/* A head of exactly max_head bytes fits, one more does not. */
	CHECK(bad_max(REQ, h, sizeof(h) - 1, sizeof(h) - 2,
		      "request head too large"));
	{
		const char *why;
		int rc = parse(REQ, h, sizeof(h) - 1, sizeof(h) - 1, &why);
		CHECK_EQ(rc, sizeof(h) - 1);
		/* Incomplete, yet already past the limit. */
		rc = parse(REQ, h, 20, 20, &why);
		CHECK_EQ(rc, HTTP_BAD);
		CHECK_STR(why, "request head too large");
		rc = parse(REQ, h, 20, 21, &why);
		CHECK_EQ(rc, HTTP_INCOMPLETE);
		/* A huge max_head is clamped, not trusted. */
		rc = parse(REQ, h, sizeof(h) - 1, SIZE_MAX, &why);
		CHECK_EQ(rc, sizeof(h) - 1);
	}
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%0900d", 0);
	CHECK(bad_max(REQ, buf, n, 512, "request head too large"));
}

static void test_str(void)
{
	struct http_str s = { "Content-Length", 14 }, e = { "", 0 };

	CHECK(http_str_eq(s, "Content-Length"));
	CHECK(!http_str_eq(s, "content-length"));
	CHECK(!http_str_eq(s, "Content-Lengt"));
	CHECK(http_str_ieq(s, "content-LENGTH"));
	CHECK(!http_str_ieq(s, "content-length2"));
	CHECK(!http_str_ieq(s, "content_length"));
	CHECK(http_str_eq(e, ""));
	CHECK(http_str_ieq(e, ""));
	CHECK(!http_str_eq(e, "a"));
	/* ASCII case folding only: '@' is not '`', '[' is not '{'. */
	CHECK(!http_str_ieq((struct http_str){ "@[", 2 }, "`{"));
}

/* ---- requests: every rejection ------------------------------------- */

static void test_bad_request_line(void)
{
	CHECK(BAD(REQ, "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "bad method"));
	CHECK(BAD(REQ, " / HTTP/1.1\r\nHost: h\r\n\r\n", "bad method"));
	CHECK(BAD(REQ, "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", "bad method"));
	CHECK(BAD(REQ, "G\0T / HTTP/1.1\r\n", "bad method"));

	CHECK(BAD(REQ, "GET\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET /\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET / http/1.1\r\nHost: h\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET / HTTP/1.10\r\nHost: h\r\n\r\n", "bad request line"));
	CHECK(BAD(REQ, "GET / HTTP/11\r\nHost: h\r\n\r\n", "bad request line"));

	CHECK(BAD(REQ, "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET /{x} HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET index.html HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad request target"));
	CHECK(BAD(REQ, "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad percent-encoding in request target"));
	CHECK(BAD(REQ, "GET /a?b=%zz HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad percent-encoding in request target"));
	CHECK(BAD(REQ, "GET /% HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bad percent-encoding in request target"));

	CHECK(BAD(REQ, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		  "asterisk-form request target not supported"));
	CHECK(BAD(REQ, "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
		  "absolute-form request target not supported"));
	CHECK(BAD(REQ, "GET coap+tcp://h:1/x?y HTTP/1.1\r\nHost: h\r\n\r\n",
		  "absolute-form request target not supported"));
	CHECK(BAD(REQ, "CONNECT h.example:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		  "authority-form request target not supported"));
	CHECK(BAD(REQ, "CONNECT [::1]:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		  "authority-form request target not supported"));

	CHECK(BAD(REQ, "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		  "unsupported HTTP version"));
	CHECK(BAD(REQ, "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
		  "unsupported HTTP version"));
	CHECK(BAD(REQ, "GET / HTTP/0.9\r\n\r\n", "unsupported HTTP version"));
}

static void test_bad_line_ends(void)
{
	CHECK(BAD(REQ, "GET / HTTP/1.1\nHost: h\r\n\r\n", "bare LF in request head"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\n\r\n", "bare LF in request head"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\n\n", "bare LF in request head"));
	CHECK(BAD(REQ, "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bare LF in request head"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\rHost: h\r\n\r\n", "bare CR in request head"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
		  "bare CR in request head"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n",
		  "bare CR in request head"));
	CHECK(BAD(REQ, "\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		  "bare CR in request head"));
}

static void test_bad_fields(void)
{
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHo\"st: h\r\n\r\n", "bad header name"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\n: h\r\n\r\n", "bad header name"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost\r\n\r\n", "bad header name"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", "bad header name"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: 1\r\n\r\n",
		  "bad header name"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		  "whitespace before colon in header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
		  "whitespace before colon in header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		  "obsolete line folding"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
		  "obsolete line folding"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
		  "whitespace before first header field"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
		  "bad character in header value"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n",
		  "bad character in header value"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nX: \x7f\r\n\r\n",
		  "bad character in header value"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\x1b\r\n\r\n",
		  "bad character in header value"));
}

static void test_bad_semantics(void)
{
#define CL(v) "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " v "\r\n\r\n"
	CHECK(BAD(REQ, CL(""), "bad Content-Length"));
	CHECK(BAD(REQ, CL("abc"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("-1"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("+5"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("0x10"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("1 2"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("5, 5"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("18446744073709551616"), "bad Content-Length"));
	CHECK(BAD(REQ, CL("99999999999999999999999"), "bad Content-Length"));
#undef CL
	CHECK(BAD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
		       "content-length: 5\r\n\r\n",
		  "duplicate Content-Length"));
	CHECK(BAD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
		       "Content-Length: 6\r\n\r\n",
		  "duplicate Content-Length"));
	CHECK(BAD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "Transfer-Encoding not supported"));
	CHECK(BAD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
		       "transfer-encoding: identity\r\n\r\n",
		  "Transfer-Encoding not supported"));
	CHECK(BAD(REQ, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "Transfer-Encoding not supported"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\n\r\n", "missing Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", "missing Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n",
		  "duplicate Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
		  "duplicate Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "bad Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", "bad Host header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "bad Host header"));
	CHECK(BAD(REQ, "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\n"
		       "Content-Type: c/d\r\n\r\n",
		  "duplicate Content-Type header"));
	CHECK(BAD(REQ, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic x\r\n"
		       "authorization: Bearer y\r\n\r\n",
		  "duplicate Authorization header"));
}

/* ---- responses ----------------------------------------------------- */

static void test_responses(void)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
				  "HTTP/1.1 404 Not Found\r\n\r\n";
	size_t head = sizeof("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") - 1;

	CHECK(good(RESP, two, sizeof(two) - 1, head));
	CHECK_EQ(resp.minor_version, 1);
	CHECK_EQ(resp.status, 200);
	CHECK(eq(resp.reason, "OK"));
	CHECK_EQ(resp.num_headers, 1);
	CHECK_EQ(resp.has_content_length, 1);
	CHECK_EQ(resp.content_length, 5);
	CHECK_EQ(resp.keep_alive, 1);
	CHECK_EQ(resp.chunked, 0);

	CHECK(GOOD(RESP, "HTTP/1.1 204 \r\n\r\n"));
	CHECK_EQ(resp.status, 204);
	CHECK(eq(resp.reason, ""));
	CHECK_EQ(resp.has_content_length, 0);
	CHECK(GOOD(RESP, "HTTP/1.1 999 A \tlong\x80 reason\r\nServer: x\r\n\r\n"));
	CHECK_EQ(resp.status, 999);
	CHECK(eq(resp.reason, "A \tlong\x80 reason"));
	CHECK(GOOD(RESP, "HTTP/1.1 100 Continue\r\n\r\n"));
	CHECK_EQ(resp.status, 100);

	CHECK(GOOD(RESP, "HTTP/1.0 200 OK\r\n\r\n"));
	CHECK_EQ(resp.minor_version, 0);
	CHECK_EQ(resp.keep_alive, 0);
	CHECK(GOOD(RESP, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
	CHECK_EQ(resp.keep_alive, 1);
	CHECK(GOOD(RESP, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
	CHECK_EQ(resp.keep_alive, 0);

	CHECK(GOOD(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"));
	CHECK_EQ(resp.chunked, 1);
	CHECK_EQ(resp.keep_alive, 1);
	CHECK(GOOD(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked ,\r\n\r\n"));
	CHECK_EQ(resp.chunked, 1);
	CHECK(GOOD(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n"));
	CHECK_EQ(resp.chunked, 1);
	/* chunked not final: the body runs to the close (RFC 9112 §6.3). */
	CHECK(GOOD(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"));
	CHECK_EQ(resp.chunked, 0);
	CHECK_EQ(resp.keep_alive, 0);
	CHECK(GOOD(RESP, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n"));
	CHECK_EQ(resp.chunked, 1);
	CHECK_EQ(resp.keep_alive, 0);
}

static void test_bad_responses(void)
{
	static const char big[] = "HTTP/1.1 200 OK\r\nServer: idgate\r\n\r\n";

	CHECK(BAD(RESP, "HTTP/1.1 20 OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 2000 OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 200OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 200\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 099 Low\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1  200 OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 abc OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/1.1 200 O\x01K\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTX/1.1 200 OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "\r\nHTTP/1.1 200 OK\r\n\r\n", "bad status line"));
	CHECK(BAD(RESP, "HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\n\r\n", "bare LF in response head"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nServer: x\rY\r\n\r\n",
		  "bare CR in response head"));
	CHECK(bad_max(RESP, big, sizeof(big) - 1, sizeof(big) - 2,
		      "response head too large"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
			"Transfer-Encoding: chunked\r\n\r\n",
		  "both Transfer-Encoding and Content-Length"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
			"Content-Length: 1\r\n\r\n",
		  "duplicate Content-Length"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n",
		  "bad Content-Length"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nServer : x\r\n\r\n",
		  "whitespace before colon in header"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
		  "obsolete line folding"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\n[: b\r\n\r\n", "bad header name"));
	CHECK(BAD(RESP, "HTTP/1.1 200 OK\r\nA: \x00\r\n\r\n",
		  "bad character in header value"));
}

/* ---- forms --------------------------------------------------------- */

struct pairs {
	int n;
	char name[8][32], value[8][32];
	size_t nlen[8], vlen[8];
	const char *lo, *hi; /* where the views must point */
};

static int collect(void *arg, struct http_str name, struct http_str value,
		   const char **why)
{
	struct pairs *p = arg;

	if (p->n == 8 || name.len >= 32 || value.len >= 32 ||
	    name.p < p->lo || name.p + name.len > p->hi ||
	    value.p < p->lo || value.p + value.len > p->hi) {
		*why = "test collector overflow";
		return 1;
	}
	memcpy(p->name[p->n], name.p, name.len);
	memcpy(p->value[p->n], value.p, value.len);
	p->nlen[p->n] = name.len;
	p->vlen[p->n] = value.len;
	p->n++;
	return 0;
}

static int stop_at_b(void *arg, struct http_str name, struct http_str value,
		     const char **why)
{
	(*(int *)arg)++;
	if (http_str_eq(name, "b")) {
		*why = "duplicate form parameter";
		return 1;
	}
	return 0;
}

/* Parse a form body flush against the guard page, scratch exact-size. */
static int form(const char *s, size_t n, struct pairs *p, const char **why)
{
	const char *b = guard_put(s, n);
	char *scratch = malloc(n ? n : 1);
	int rc;

	memset(p, 0, sizeof(*p));
	p->lo = scratch;
	p->hi = scratch + n;
	*why = NULL;
	rc = http_parse_form(b, n, scratch, collect, p, why);
	free(scratch);
	return rc;
}

#define PAIR(p, i, nm, v)                                                      \
	CHECK((p).nlen[i] == sizeof(nm) - 1 &&                                 \
	      memcmp((p).name[i], nm, sizeof(nm) - 1) == 0 &&                  \
	      (p).vlen[i] == sizeof(v) - 1 &&                                  \
	      memcmp((p).value[i], v, sizeof(v) - 1) == 0)

static void test_forms(void)
{
	static const char body[] = "grant_type=urn%3Aietf%3Aparams&b=two+words"
				   "&&c=%41%62%e2%82%ac&d&=e&f=&g==h";
	struct pairs p;
	const char *why;
	int rc, calls = 0;

	rc = form(S(body), &p, &why);
	CHECK_EQ(rc, 0);
	CHECK_EQ(p.n, 7);
	PAIR(p, 0, "grant_type", "urn:ietf:params");
	PAIR(p, 1, "b", "two words");
	PAIR(p, 2, "c", "Ab\xe2\x82\xac");
	PAIR(p, 3, "d", "");
	PAIR(p, 4, "", "e");
	PAIR(p, 5, "f", "");
	PAIR(p, 6, "g", "=h");

	CHECK_EQ(form(S(""), &p, &why), 0);
	CHECK_EQ(p.n, 0);
	CHECK_EQ(form(S("&&&"), &p, &why), 0);
	CHECK_EQ(p.n, 0);
	CHECK_EQ(form(S("a%2B%2b=%00"), &p, &why), 0);
	PAIR(p, 0, "a++", "\0");

	/* Every prefix of every bad body: refused or fine, never a fault. */
	static const char *const bad[] = { "a=%", "a=%4", "a=%zz", "%g0=1",
					   "a=1&b=%%41", "x=%4g&y=1", "%" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);
		for (size_t k = 0; k < n; k++)
			rc = form(bad[i], k, &p, &why);
		rc = form(bad[i], n, &p, &why);
		CHECK_EQ(rc, HTTP_BAD);
		CHECK(why && strcmp(why, "bad percent-encoding in form body") == 0);
	}

	/* The callback stops the walk with its own reason. */
	{
		static const char s[] = "a=1&b=2&c=3";
		const char *b = guard_put(s, sizeof(s) - 1);
		char scratch[sizeof(s) - 1];

		why = NULL;
		rc = http_parse_form(b, sizeof(s) - 1, scratch, stop_at_b,
				     &calls, &why);
		CHECK_EQ(rc, HTTP_BAD);
		CHECK_EQ(calls, 2);
		CHECK(why && strcmp(why, "duplicate form parameter") == 0);
	}
}

int main(void)
{
	guard_init();
	test_simple_get();
	test_query_split();
	test_post_headers();
	test_pipelined();
	test_keep_alive();
	test_leading_crlf();
	test_limits();
	test_str();
	test_bad_request_line();
	test_bad_line_ends();
	test_bad_fields();
	test_bad_semantics();
	test_responses();
	test_bad_responses();
	test_forms();
	guard_fini();
	return check_done("http");
}
