/*
 * http.c - the strict, zero-copy HTTP/1.1 head parser (RFC 9112, RFC 9110).
 *
 * One forward pass over the bytes, no allocation, no state kept between
 * calls.  Each step either consumes input, answers HTTP_INCOMPLETE when it
 * runs out of bytes before it can decide, or answers HTTP_BAD with a static
 * reason.  A verdict on a byte depends only on the bytes before it, so every
 * prefix of a good head is incomplete, and once a prefix is bad every longer
 * input is bad for the same reason.  The checks that need the whole head
 * (Host count, Content-Length, Transfer-Encoding, ...) run over the parsed
 * header array once the empty line has been seen.
 *
 * Strictness is the point: a front end and this server must never disagree
 * on where a request ends (RFC 9112 §11.2, request smuggling), so whatever
 * the RFC lets a recipient "choose" to tolerate is refused here.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* RFC 9112 §2.2 asks servers to skip "at least one" empty line before a
 * request-line; a handful covers clients that add CRLF after a body. */
#define HTTP_MAX_EMPTY_LINES 4

/* Character classes, one table lookup per byte on the hot path. */
enum {
	HC_TCHAR = 1,  /* token char, RFC 9110 §5.6.2 */
	HC_TARGET = 2, /* pchar / "/" / "?", RFC 3986 §3.3-3.4 */
	HC_VCHAR = 4,  /* VCHAR / obs-text: field-vchar, RFC 9110 §5.5 */
	HC_OWS = 8,    /* SP / HTAB */
	HC_HOST = 16,  /* reg-name, IP-literal and port chars, RFC 3986 §3.2 */
};

#define T_ HC_TCHAR
#define P_ HC_TARGET
#define V_ HC_VCHAR
#define H_ HC_HOST
/* Each byte is listed once (overlapping designators would override). */
static const unsigned char http_cls[256] = {
	['\t'] = HC_OWS, [' '] = HC_OWS,
	['!'] = T_ | P_ | V_ | H_, ['"'] = V_, ['#'] = T_ | V_,
	['$'] = T_ | P_ | V_ | H_, ['%'] = T_ | P_ | V_ | H_,
	['&'] = T_ | P_ | V_ | H_, ['\''] = T_ | P_ | V_ | H_,
	['('] = P_ | V_ | H_, [')'] = P_ | V_ | H_,
	['*'] = T_ | P_ | V_ | H_, ['+'] = T_ | P_ | V_ | H_,
	[','] = P_ | V_ | H_, ['-'] = T_ | P_ | V_ | H_,
	['.'] = T_ | P_ | V_ | H_, ['/'] = P_ | V_,
	['0' ... '9'] = T_ | P_ | V_ | H_,
	[':'] = P_ | V_ | H_, [';'] = P_ | V_ | H_, ['<'] = V_,
	['='] = P_ | V_ | H_, ['>'] = V_, ['?'] = P_ | V_, ['@'] = P_ | V_,
	['A' ... 'Z'] = T_ | P_ | V_ | H_,
	['['] = V_ | H_, ['\\'] = V_, [']'] = V_ | H_, ['^'] = T_ | V_,
	['_'] = T_ | P_ | V_ | H_, ['`'] = T_ | V_,
	['a' ... 'z'] = T_ | P_ | V_ | H_,
	['{'] = V_, ['|'] = T_ | V_, ['}'] = V_, ['~'] = T_ | P_ | V_ | H_,
	[0x80 ... 0xff] = V_,
};
#undef T_
#undef P_
#undef V_
#undef H_

/* The reasons that name the kind of head, so a 400 body says which. */
struct http_kind {
	const char *bare_lf, *bare_cr, *too_large, *bad_start_line;
};

static const struct http_kind http_kind_req = {
	"bare LF in request head", "bare CR in request head",
	"request head too large", "bad request line",
};

static const struct http_kind http_kind_resp = {
	"bare LF in response head", "bare CR in response head",
	"response head too large", "bad status line",
};

/* A read cursor over buf[pos..end). */
struct http_cur {
	const unsigned char *b;
	size_t pos, end;
	const struct http_kind *kind;
	const char **why;
};

static const char http_empty[] = "";

static int http_fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return HTTP_BAD;
}

static inline int http_is_digit(unsigned char c)
{
	return (unsigned char)(c - '0') < 10;
}

static inline unsigned char http_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int http_hex(unsigned char c)
{
	if (http_is_digit(c))
		return c - '0';
	c = http_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static struct http_str http_view(const unsigned char *b, size_t from, size_t to)
{
	return (struct http_str){ (const char *)b + from, to - from };
}

int http_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

int http_bearer(struct http_str a, struct http_str *token)
{
	struct http_str scheme = { a.p, 7 };

	token->p = a.p;
	token->len = 0;
	if (a.len <= 7 || !http_str_ieq(scheme, "Bearer "))
		return 0;
	token->p = a.p + 7;
	token->len = a.len - 7;
	return 1;
}

int http_str_ieq(struct http_str s, const char *lit)
{
	size_t i;

	if (strlen(lit) != s.len)
		return 0;
	for (i = 0; i < s.len; i++)
		if (http_lower((unsigned char)s.p[i]) !=
		    http_lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

const struct http_str *http_find_header(const struct http_header *h, size_t n,
					const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_str_ieq(h[i].name, name))
			return &h[i].value;
	return NULL;
}

/*
 * At <c->pos> (< end) sits a CR or LF.  RFC 9112 §2.2: lines end in CRLF;
 * a bare CR MUST be refused, and a bare LF, which a recipient MAY accept, is
 * refused too: two parsers disagreeing on line ends is how requests are
 * smuggled.  Steps over the CRLF and returns 0, or INCOMPLETE, or BAD.
 */
static int http_eat_crlf(struct http_cur *c)
{
	if (c->b[c->pos] == '\n')
		return http_fail(c->why, c->kind->bare_lf);
	if (c->pos + 1 == c->end)
		return HTTP_INCOMPLETE;
	if (c->b[c->pos + 1] != '\n')
		return http_fail(c->why, c->kind->bare_cr);
	c->pos += 2;
	return 0;
}

static inline int http_is_eol(unsigned char ch)
{
	return ch == '\r' || ch == '\n';
}

/*
 * HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
 * Anything of that shape other than 1.0 and 1.1 is "unsupported"; anything
 * else is a malformed start line.  Each byte is judged as it arrives.
 */
static int http_version(struct http_cur *c, int *minor)
{
	static const char shape[] = "HTTP/1.1";
	const unsigned char *v = c->b + c->pos;
	size_t i, avail = c->end - c->pos;

	for (i = 0; i < 8 && i < avail; i++) {
		int ok = (i == 5 || i == 7) ? http_is_digit(v[i])
					    : v[i] == (unsigned char)shape[i];
		if (!ok)
			return http_fail(c->why, c->kind->bad_start_line);
	}
	if (avail < 8)
		return HTTP_INCOMPLETE;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return http_fail(c->why, "unsupported HTTP version");
	*minor = v[7] - '0';
	c->pos += 8;
	return 0;
}

/* RFC 9112 §2.2: skip a few empty lines before a request-line. */
static int http_skip_empty_lines(struct http_cur *c)
{
	int i, rc;

	for (i = 0;; i++) {
		if (c->pos == c->end)
			return HTTP_INCOMPLETE;
		if (!http_is_eol(c->b[c->pos]))
			return 0;
		if (i == HTTP_MAX_EMPTY_LINES)
			return http_fail(c->why,
					 "too many empty lines before request line");
		rc = http_eat_crlf(c);
		if (rc)
			return rc;
	}
}

/* Name the form of a refused request-target (RFC 9112 §3.2.2-3.2.4). */
static const char *http_target_form(const unsigned char *t, size_t n)
{
	size_t i = 0;

	if (n == 1 && t[0] == '*')
		return "asterisk-form request target not supported";
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 §3.1 */
	if (n && (http_lower(t[0]) >= 'a' && http_lower(t[0]) <= 'z')) {
		for (i = 1; i < n; i++) {
			unsigned char ch = http_lower(t[i]);
			if (!((ch >= 'a' && ch <= 'z') || http_is_digit(ch) ||
			      ch == '+' || ch == '-' || ch == '.'))
				break;
		}
		if (i + 2 < n && t[i] == ':' && t[i + 1] == '/' &&
		    t[i + 2] == '/')
			return "absolute-form request target not supported";
	}
	if (memchr(t, ':', n))
		return "authority-form request target not supported";
	return "bad request target";
}

/* pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 §2.1). */
static int http_pct_ok(const unsigned char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (t[i] != '%')
			continue;
		if (i + 2 >= n || http_hex(t[i + 1]) < 0 || http_hex(t[i + 2]) < 0)
			return 0;
		i += 2;
	}
	return 1;
}

/*
 * request-line = method SP request-target SP HTTP-version CRLF
 * (RFC 9112 §3).  Only origin-form targets are served (§3.2.1).
 */
static int http_request_line(struct http_cur *c, struct http_request *req)
{
	const unsigned char *b = c->b;
	size_t p = c->pos, end = c->end, start = p, q = 0;
	int has_pct = 0, rc;
	unsigned char mask;

	while (p < end && (http_cls[b[p]] & HC_TCHAR))
		p++;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (http_is_eol(b[p]))
		return http_fail(c->why, "bad request line");
	if (b[p] != ' ' || p == start)
		return http_fail(c->why, "bad method");
	req->method = http_view(b, start, p);

	start = ++p;
	if (p == end)
		return HTTP_INCOMPLETE;
	/* Other forms are read whole, only to name them in the refusal. */
	mask = b[p] == '/' ? HC_TARGET : HC_VCHAR;
	for (; p < end && (http_cls[b[p]] & mask); p++) {
		if (b[p] == '?' && !q)
			q = p;
		has_pct |= b[p] == '%';
	}
	if (p == end)
		return HTTP_INCOMPLETE;
	if (http_is_eol(b[p]) || (b[p] == ' ' && p == start))
		return http_fail(c->why, "bad request line");
	if (b[p] != ' ')
		return http_fail(c->why, "bad request target");
	if (b[start] != '/')
		return http_fail(c->why, http_target_form(b + start, p - start));
	if (has_pct && !http_pct_ok(b + start, p - start))
		return http_fail(c->why,
				 "bad percent-encoding in request target");
	req->target = http_view(b, start, p);
	req->path = http_view(b, start, q ? q : p);
	req->query = q ? http_view(b, q + 1, p) : http_view(b, p, p);

	c->pos = p + 1;
	rc = http_version(c, &req->minor_version);
	if (rc)
		return rc;
	if (c->pos == end)
		return HTTP_INCOMPLETE;
	if (!http_is_eol(b[c->pos]))
		return http_fail(c->why, "bad request line");
	return http_eat_crlf(c);
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
 * status-code = 3DIGIT; reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
 * (RFC 9112 §4).  The SP after the code is required by the grammar.
 */
static int http_status_line(struct http_cur *c, struct http_response *resp)
{
	const unsigned char *b = c->b;
	size_t p, end = c->end, i;
	int rc, status = 0;

	rc = http_version(c, &resp->minor_version);
	if (rc)
		return rc;
	p = c->pos;
	for (i = 0; i < 5; i++, p++) {
		int ok;

		if (p == end)
			return HTTP_INCOMPLETE;
		if (i == 0 || i == 4)
			ok = b[p] == ' ';
		else
			ok = http_is_digit(b[p]) && (i != 1 || b[p] != '0');
		if (!ok)
			return http_fail(c->why, "bad status line");
		if (i >= 1 && i <= 3)
			status = status * 10 + (b[p] - '0');
	}
	resp->status = status;
	i = p;
	while (p < end && (http_cls[b[p]] & (HC_VCHAR | HC_OWS)))
		p++;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (!http_is_eol(b[p]))
		return http_fail(c->why, "bad status line");
	resp->reason = http_view(b, i, p);
	c->pos = p;
	return http_eat_crlf(c);
}

/*
 * field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 §5).
 * No whitespace between name and colon (§5.1, MUST reject); the value is
 * field-vchar / SP / HTAB (RFC 9110 §5.5): CTLs, NUL and DEL are refused.
 */
static int http_field_line(struct http_cur *c, struct http_header *h)
{
	const unsigned char *b = c->b;
	size_t p = c->pos, end = c->end, start = p, vstart, vend;

	while (p < end && (http_cls[b[p]] & HC_TCHAR))
		p++;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (b[p] != ':' || p == start)
		return http_fail(c->why, p > start && (http_cls[b[p]] & HC_OWS) ?
						 "whitespace before colon in header" :
						 "bad header name");
	h->name = http_view(b, start, p);

	p++;
	while (p < end && (http_cls[b[p]] & HC_OWS))
		p++;
	vstart = p;
	while (p < end && (http_cls[b[p]] & (HC_VCHAR | HC_OWS)))
		p++;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (!http_is_eol(b[p]))
		return http_fail(c->why, "bad character in header value");
	vend = p;
	while (vend > vstart && (http_cls[b[vend - 1]] & HC_OWS))
		vend--;
	h->value = http_view(b, vstart, vend);
	c->pos = p;
	return http_eat_crlf(c);
}

/* *( field-line CRLF ) CRLF, into h[0..HTTP_MAX_HEADERS). */
static int http_fields(struct http_cur *c, struct http_header *h, size_t *nump)
{
	size_t n = 0;
	int rc;

	for (;;) {
		unsigned char ch;

		if (c->pos == c->end)
			return HTTP_INCOMPLETE;
		ch = c->b[c->pos];
		if (http_is_eol(ch))
			break;
		/* RFC 9112 §5.2: obs-fold may be refused; §2.2 likewise a
		 * whitespace-preceded line right after the start line. */
		if (http_cls[ch] & HC_OWS)
			return http_fail(c->why,
					 n ? "obsolete line folding" :
					     "whitespace before first header field");
		if (n == HTTP_MAX_HEADERS)
			return http_fail(c->why, "too many headers");
		rc = http_field_line(c, &h[n]);
		if (rc)
			return rc;
		n++;
	}
	rc = http_eat_crlf(c);
	if (rc)
		return rc;
	*nump = n;
	return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6), without overflow. */
static int http_content_length(struct http_str v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v.len == 0)
		return -1;
	for (i = 0; i < v.len; i++) {
		unsigned char d = (unsigned char)v.p[i] - '0';

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/*
 * Walk a #list value (RFC 9110 §5.6.1): *<pos> is where to resume; gives the
 * next element with OWS trimmed (possibly empty).  Returns 0 at the end.
 */
static int http_list_next(struct http_str v, size_t *pos, struct http_str *el)
{
	size_t p = *pos, s, e;

	if (p > v.len)
		return 0;
	while (p < v.len && (v.p[p] == ' ' || v.p[p] == '\t'))
		p++;
	s = p;
	while (p < v.len && v.p[p] != ',')
		p++;
	e = p;
	while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
		e--;
	*el = (struct http_str){ v.p + s, e - s };
	*pos = p + 1;
	return 1;
}

/* The "close" / "keep-alive" connection options (RFC 9112 §9.3, §9.6). */
static void http_connection(struct http_str v, int *close, int *keep)
{
	struct http_str el;
	size_t pos = 0;

	while (http_list_next(v, &pos, &el)) {
		if (http_str_ieq(el, "close"))
			*close = 1;
		else if (http_str_ieq(el, "keep-alive"))
			*keep = 1;
	}
}

/* The header fields whose meaning the parser derives. */
enum {
	HF_OTHER,
	HF_HOST,
	HF_CONNECTION,
	HF_CONTENT_TYPE,
	HF_AUTHORIZATION,
	HF_CONTENT_LENGTH,
	HF_TRANSFER_ENCODING,
};

/* Dispatch on the length first: most names are compared only once. */
static int http_field_id(struct http_str name)
{
	switch (name.len) {
	case 4:
		return http_str_ieq(name, "Host") ? HF_HOST : HF_OTHER;
	case 10:
		return http_str_ieq(name, "Connection") ? HF_CONNECTION : HF_OTHER;
	case 12:
		return http_str_ieq(name, "Content-Type") ? HF_CONTENT_TYPE :
							    HF_OTHER;
	case 13:
		return http_str_ieq(name, "Authorization") ? HF_AUTHORIZATION :
							     HF_OTHER;
	case 14:
		return http_str_ieq(name, "Content-Length") ? HF_CONTENT_LENGTH :
							      HF_OTHER;
	case 17:
		return http_str_ieq(name, "Transfer-Encoding") ?
			       HF_TRANSFER_ENCODING :
			       HF_OTHER;
	}
	return HF_OTHER;
}

/*
 * RFC 9110 §8.6 / RFC 9112 §6.3: a second Content-Length line, even with the
 * same value, is refused rather than merged: nothing downstream can then
 * read the message with another length.
 */
static int http_set_content_length(struct http_str v, uint64_t *len, int *has,
				   const char **why)
{
	if (*has)
		return http_fail(why, "duplicate Content-Length");
	if (http_content_length(v, len))
		return http_fail(why, "bad Content-Length");
	*has = 1;
	return 0;
}

/* media-type = type "/" subtype parameters (RFC 9110 §8.3.1): keep the type. */
static struct http_str http_media_type(struct http_str v)
{
	const char *semi = memchr(v.p, ';', v.len);
	size_t n = semi ? (size_t)(semi - v.p) : v.len;

	while (n && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
		n--;
	return (struct http_str){ v.p, n };
}

static int http_host_ok(struct http_str v)
{
	size_t i;

	for (i = 0; i < v.len; i++)
		if (!(http_cls[(unsigned char)v.p[i]] & HC_HOST))
			return 0;
	return 1;
}

/* Fill the derived fields of a complete request head. */
static int http_request_fields(struct http_request *req, const char **why)
{
	int close = 0, keep = 0, hosts = 0, types = 0, auths = 0, rc;
	size_t i;

	req->content_length = 0;
	req->has_content_length = 0;
	req->content_type = req->authorization = req->host =
		(struct http_str){ http_empty, 0 };
	for (i = 0; i < req->num_headers; i++) {
		struct http_str v = req->headers[i].value;

		switch (http_field_id(req->headers[i].name)) {
		case HF_HOST:
			/* RFC 9112 §3.2: more than one Host or an invalid
			 * value MUST get a 400. */
			if (hosts++)
				return http_fail(why, "duplicate Host header");
			if (!http_host_ok(v))
				return http_fail(why, "bad Host header");
			req->host = v;
			break;
		case HF_CONNECTION:
			http_connection(v, &close, &keep);
			break;
		case HF_CONTENT_TYPE:
			/* Singleton fields (RFC 9110 §5.3): two of them
			 * would let two readers pick different ones. */
			if (types++)
				return http_fail(why,
						 "duplicate Content-Type header");
			req->content_type = http_media_type(v);
			break;
		case HF_AUTHORIZATION:
			if (auths++)
				return http_fail(why,
						 "duplicate Authorization header");
			req->authorization = v;
			break;
		case HF_CONTENT_LENGTH:
			rc = http_set_content_length(v, &req->content_length,
						     &req->has_content_length,
						     why);
			if (rc)
				return rc;
			break;
		case HF_TRANSFER_ENCODING:
			/* Chunked request bodies are not needed by any of
			 * our clients and are the usual smuggling vector
			 * (RFC 9112 §6.1, §11.2): refuse them all. */
			return http_fail(why, "Transfer-Encoding not supported");
		}
	}
	if (!hosts && req->minor_version == 1)
		return http_fail(why, "missing Host header");
	req->keep_alive = !close && (req->minor_version == 1 || keep);
	return 0;
}

/* Fill the derived fields of a complete response head. */
static int http_response_fields(struct http_response *resp, const char **why)
{
	int close = 0, keep = 0, has_te = 0, rc;
	struct http_str last = { http_empty, 0 }, el;
	size_t i, pos;

	resp->content_length = 0;
	resp->has_content_length = 0;
	resp->chunked = 0;
	for (i = 0; i < resp->num_headers; i++) {
		struct http_str v = resp->headers[i].value;

		switch (http_field_id(resp->headers[i].name)) {
		case HF_CONNECTION:
			http_connection(v, &close, &keep);
			break;
		case HF_CONTENT_LENGTH:
			rc = http_set_content_length(v, &resp->content_length,
						     &resp->has_content_length,
						     why);
			if (rc)
				return rc;
			break;
		case HF_TRANSFER_ENCODING:
			has_te = 1;
			pos = 0;
			while (http_list_next(v, &pos, &el))
				if (el.len)
					last = el;
			break;
		}
	}
	/* RFC 9112 §6.3 (3): both "ought to be handled as an error". */
	if (has_te && resp->has_content_length)
		return http_fail(why, "both Transfer-Encoding and Content-Length");
	resp->keep_alive = !close && (resp->minor_version == 1 || keep);
	if (has_te) {
		/* §6.3 (4): chunked must be the final coding, otherwise the
		 * body runs to the close; §6.1: TE in a 1.0 message is
		 * faulty framing, close after it. */
		resp->chunked = http_str_ieq(last, "chunked");
		if (!resp->chunked || resp->minor_version == 0)
			resp->keep_alive = 0;
	}
	return 0;
}

/*
 * Set up a cursor over the first min(len, max_head) bytes: a head that is
 * not complete within max_head bytes is too large whatever follows.
 */
static struct http_cur http_cur_init(const char *buf, size_t len,
				     size_t *max_head,
				     const struct http_kind *kind,
				     const char **why)
{
	if (*max_head > INT_MAX)
		*max_head = INT_MAX;
	return (struct http_cur){ (const unsigned char *)buf, 0,
				  len < *max_head ? len : *max_head, kind, why };
}

static int http_head_done(struct http_cur *c, int rc, size_t len,
			  size_t max_head)
{
	if (rc == HTTP_INCOMPLETE && len >= max_head)
		return http_fail(c->why, c->kind->too_large);
	return rc;
}

int http_parse_request(const char *buf, size_t len, size_t max_head,
		       struct http_request *req, const char **why)
{
	struct http_cur c = http_cur_init(buf, len, &max_head, &http_kind_req,
					  why);
	int rc;

	rc = http_skip_empty_lines(&c);
	if (!rc)
		rc = http_request_line(&c, req);
	if (!rc)
		rc = http_fields(&c, req->headers, &req->num_headers);
	if (rc)
		return http_head_done(&c, rc, len, max_head);
	rc = http_request_fields(req, why);
	return rc ? rc : (int)c.pos;
}

int http_parse_response(const char *buf, size_t len, size_t max_head,
			struct http_response *resp, const char **why)
{
	struct http_cur c = http_cur_init(buf, len, &max_head, &http_kind_resp,
					  why);
	int rc;

	rc = http_status_line(&c, resp);
	if (!rc)
		rc = http_fields(&c, resp->headers, &resp->num_headers);
	if (rc)
		return http_head_done(&c, rc, len, max_head);
	rc = http_response_fields(resp, why);
	return rc ? rc : (int)c.pos;
}

/*
 * Percent-decode <s>[0..<n>) into <out>, '+' as a space (WHATWG URL §5.1
 * step 3.4, "percent-decode" §1.3), but strictly: a '%' not followed by two
 * hex digits is an error, not a literal.  Returns the decoded length or -1.
 */
static long http_form_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+') {
			out[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 3)
			return -1;
		hi = http_hex((unsigned char)s[i + 1]);
		lo = http_hex((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

/*
 * WHATWG URL §5.1 (application/x-www-form-urlencoded parsing): split on
 * '&', skip empty sequences, split each at its first '=' (no '=' means an
 * empty value).  Decoded pairs are laid one after another in <scratch>;
 * decoding never grows, so <len> bytes of it suffice and every view handed
 * to <cb> stays valid afterwards.
 */
int http_parse_form(const char *body, size_t len, char *scratch,
		    http_form_cb cb, void *arg, const char **why)
{
	size_t p = 0, out = 0;

	while (p < len) {
		const char *seq = body + p, *amp, *eq;
		size_t n, nlen;
		long dn, dv;

		amp = memchr(seq, '&', len - p);
		n = amp ? (size_t)(amp - seq) : len - p;
		p += n + 1;
		if (n == 0)
			continue;
		eq = memchr(seq, '=', n);
		nlen = eq ? (size_t)(eq - seq) : n;
		dn = http_form_decode(seq, nlen, scratch + out);
		if (dn < 0)
			return http_fail(why, "bad percent-encoding in form body");
		dv = eq ? http_form_decode(eq + 1, n - nlen - 1,
					   scratch + out + dn) :
			  0;
		if (dv < 0)
			return http_fail(why, "bad percent-encoding in form body");
		if (cb(arg, (struct http_str){ scratch + out, (size_t)dn },
		       (struct http_str){ scratch + out + dn, (size_t)dv }, why))
			return HTTP_BAD;
		out += (size_t)(dn + dv);
	}
	return 0;
}
