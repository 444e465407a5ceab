/*
 * assertion.c - the device-key assertion of the JWT-bearer grant (RFC 7523
 * §2.1, §3) and the RFC 9068 access token idgate issues.  See assertion.h.
 *
 * Every rejection names its cause: the reason goes back to the client as
 * the error_description of an invalid_grant answer (RFC 6749 §5.2,
 * RFC 7523 §3.1), so it must be a static string and say what to fix.
 */
#include "../common/json.h"
#include "assertion.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* ---- parsing ---- */

/* How decoding one JSON segment went; turned into a reason per segment. */
/* The reasons for one identifier-like string member. */
struct as_id_why {
	const char *absent, *type, *empty, *length, *chars;
};

static const struct as_id_why as_kid_why = {
	"assertion lacks kid", "assertion kid must be a string",
	"assertion kid is empty", "assertion kid is too long",
	"assertion kid must be printable ASCII",
};
static const struct as_id_why as_iss_why = {
	"assertion lacks iss", "assertion iss must be a string",
	"assertion iss is empty", "assertion iss is too long",
	"assertion iss must be printable ASCII",
};
static const struct as_id_why as_sub_why = {
	"assertion lacks sub", "assertion sub must be a string",
	"assertion sub is empty", "assertion sub is too long",
	"assertion sub must be printable ASCII",
};
static const struct as_id_why as_jti_why = {
	"assertion lacks jti", "assertion jti must be a string",
	NULL /* an empty jti is assertion_verify's to refuse */,
	"assertion jti is too long", "assertion jti must be printable ASCII",
};

/* Copy the string member <name> of <obj> into <dst> (ASSERTION_ID_MAX + 1
 * bytes): present, a string, non-empty unless w->empty is NULL, at most
 * ASSERTION_ID_MAX bytes, printable ASCII so that it is safe in logs,
 * store keys and the access token's sub. */
static int as_id(json_t *obj, const char *name, char *dst,
		 const struct as_id_why *w, const char **why)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t n;

	IG_ENSURE(v, IG_EPROTO, why, w->absent);
	IG_ENSURE(json_is_string(v), IG_EPROTO, why, w->type);
	s = json_string_value(v);
	n = json_string_length(v);
	IG_ENSURE(n > 0 || !w->empty, IG_EPROTO, why, w->empty);
	IG_ENSURE(n <= ASSERTION_ID_MAX, IG_EPROTO, why, w->length);
	for (size_t i = 0; i < n; i++)
		IG_ENSURE(s[i] >= 0x20 && s[i] <= 0x7e, IG_EPROTO, why,
			  w->chars);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return IG_OK;
}

/* Read the integer member <name> of <obj> into <out>.  NumericDate (RFC 7519
 * §2) allows fractions, but a device has no reason to send them and a real
 * would need rounding rules: integers only.  <absent> is NULL for an
 * optional member (then *out stays as it was). */
static int as_time(json_t *obj, const char *name, int64_t *out,
		   const char *absent, const char *type, const char **why)
{
	json_t *v = json_object_get(obj, name);

	if (!v && !absent)
		return IG_OK;
	IG_ENSURE(v, IG_EPROTO, why, absent);
	IG_ENSURE(json_is_integer(v), IG_EPROTO, why, type);
	*out = (int64_t)json_integer_value(v);
	return IG_OK;
}

/* Append the JSON string <v> to the packed aud list of <a>. */
static int as_aud_add(struct assertion *a, size_t *used, json_t *v,
		      const char **why)
{
	size_t n = json_string_length(v);

	IG_ENSURE(n < sizeof(a->aud) - *used, IG_EPROTO, why,
		  "assertion aud is too long");
	memcpy(a->aud + *used, json_string_value(v), n);
	a->aud[*used + n] = '\0';
	*used += n + 1;
	a->aud_count++;
	return IG_OK;
}

/* RFC 7519 §4.1.3: aud is one string or an array of strings. */
static int as_aud(json_t *claims, struct assertion *a, const char **why)
{
	json_t *aud = json_object_get(claims, "aud"), *v;
	size_t used = 0, i;

	IG_ENSURE(aud, IG_EPROTO, why, "assertion lacks aud");
	if (json_is_string(aud))
		return as_aud_add(a, &used, aud, why);
	IG_ENSURE(json_is_array(aud), IG_EPROTO, why,
		  "assertion aud must be a string or an array of strings");
	IG_ENSURE(json_array_size(aud) > 0, IG_EPROTO, why,
		  "assertion aud array is empty");
	a->aud_is_array = 1;
	json_array_foreach(aud, i, v) {
		IG_ENSURE(json_is_string(v), IG_EPROTO, why,
			  "assertion aud array must hold only strings");
		IG_GUARD(as_aud_add(a, &used, v, why));
	}
	return IG_OK;
}

/* RFC 7515 §4.1.1: alg selects the algorithm, and accepting anything the
 * token names is the classic JWT forgery ("none", or HS256 keyed with
 * the public key).  Only ES256 is ever accepted, byte for byte. */
static int as_alg(json_t *hdr, const char **why)
{
	json_t *alg = json_object_get(hdr, "alg");
	const char *s;
	size_t n;

	IG_ENSURE(alg, IG_EPROTO, why, "assertion lacks alg");
	IG_ENSURE(json_is_string(alg), IG_EPROTO, why,
		  "assertion alg must be ES256");
	s = json_string_value(alg);
	n = json_string_length(alg);
	/* RFC 7518 §3.6: unsecured JWS; RFC 7523 §3 item 9 needs a
	 * signature. */
	IG_ENSURE(!(n == 4 && memcmp(s, "none", 4) == 0), IG_EPROTO, why,
		  "assertion alg none is refused: it must be signed with ES256");
	IG_ENSURE(n == 5 && memcmp(s, "ES256", 5) == 0, IG_EPROTO, why,
		  "assertion alg must be ES256");
	return IG_OK;
}

static int as_header(json_t *hdr, struct assertion *a, const char **why)
{
	json_t *typ = json_object_get(hdr, "typ");

	IG_GUARD(as_alg(hdr, why));
	/* RFC 7515 §4.1.11: a recipient that does not understand every
	 * listed extension must reject the JWS; we understand none. */
	IG_ENSURE(!json_object_get(hdr, "crit"), IG_EPROTO, why,
		  "assertion header crit is not supported");
	/* RFC 7519 §5.1: "JWT" when present; media type names compare
	 * case-insensitively (RFC 7515 §4.1.9). */
	IG_ENSURE(!typ || (json_is_string(typ) &&
			   json_string_length(typ) == 3 &&
			   strcasecmp(json_string_value(typ), "JWT") == 0),
		  IG_EPROTO, why, "assertion typ must be JWT");
	/* The kid names the credential; its key comes from our store, never
	 * from jwk/jku/x5u members, which are therefore ignored. */
	return as_id(hdr, "kid", a->kid, &as_kid_why, why);
}

static int as_claims(json_t *c, struct assertion *a, const char **why)
{
	IG_GUARD(as_id(c, "iss", a->iss, &as_iss_why, why));
	IG_GUARD(as_id(c, "sub", a->sub, &as_sub_why, why));
	IG_GUARD(as_aud(c, a, why));
	IG_GUARD(as_time(c, "exp", &a->exp, "assertion lacks exp",
			 "assertion exp must be an integer", why));
	IG_GUARD(as_time(c, "iat", &a->iat, "assertion lacks iat",
			 "assertion iat must be an integer", why));
	IG_GUARD(as_time(c, "nbf", &a->nbf, NULL,
			 "assertion nbf must be an integer", why));
	return as_id(c, "jti", a->jti, &as_jti_why, why);
}

static const char *const as_hdr_seg_why[] = {
	[JWS_SEG_B64] = "assertion header is not base64url",
	[JWS_SEG_JSON] = "assertion header is not valid JSON",
	[JWS_SEG_DUP] = "assertion header has a duplicate member",
	[JWS_SEG_NOTOBJ] = "assertion header is not a JSON object",
};
static const char *const as_claims_seg_why[] = {
	[JWS_SEG_B64] = "assertion payload is not base64url",
	[JWS_SEG_JSON] = "assertion payload is not valid JSON",
	[JWS_SEG_DUP] = "assertion payload has a duplicate member",
	[JWS_SEG_NOTOBJ] = "assertion payload is not a JSON object",
};

int assertion_parse(const char *jws, size_t len, struct assertion *a,
		    const char **why)
{
	enum jws_seg seg;
	json_t *j;
	int rc;

	if (!jws || !a)
		return IG_EUSAGE;
	memset(a, 0, sizeof(*a));
	IG_ENSURE(len <= ASSERTION_MAX_LEN, IG_EPROTO, why,
		  "assertion is too long");
	/* RFC 7523 §2.1: one JWT; RFC 7515 §7.1 compact serialization. */
	IG_ENSURE(jws_split(jws, len, &a->parts, NULL) == IG_OK, IG_EPROTO,
		  why, "assertion is not a compact JWS");

	seg = jws_segment_json(a->parts.hdr, a->parts.hdr_len, &j);
	IG_ENSURE(seg == JWS_SEG_OK, IG_EPROTO, why, as_hdr_seg_why[seg]);
	rc = as_header(j, a, why);
	json_decref(j);
	IG_GUARD(rc);

	seg = jws_segment_json(a->parts.payload, a->parts.payload_len, &j);
	IG_ENSURE(seg == JWS_SEG_OK, IG_EPROTO, why, as_claims_seg_why[seg]);
	rc = as_claims(j, a, why);
	json_decref(j);
	IG_GUARD(rc);

	/* RFC 7518 §3.4: R || S, 64 bytes for P-256. */
	IG_ENSURE(b64url_decode(a->parts.sig, a->parts.sig_len, a->sig,
				sizeof(a->sig)) == (int)sizeof(a->sig),
		  IG_EPROTO, why,
		  "assertion signature is not 64 bytes of base64url");
	return IG_OK;
}

/* ---- verification, RFC 7523 §3 ---- */

static int as_aud_matches(const struct assertion *a, const char *audience)
{
	const char *p = a->aud;

	for (unsigned i = 0; i < a->aud_count; i++) {
		if (strcmp(p, audience) == 0)
			return 1;
		p += strlen(p) + 1;
	}
	return 0;
}

/* Item 4 and the iat/nbf limits.  Arithmetic is on the policy side only,
 * so no claim value (any int64) can overflow it. */
static int as_times(const struct assertion *a,
		    const struct assertion_policy *pol, const char **why)
{
	int64_t now = pol->now, skew = pol->skew, life = pol->max_lifetime;

	IG_ENSURE(a->exp > now - skew, IG_EPROTO, why,
		  "assertion has expired");
	/* Item 4 lets us bound exp: a long-lived assertion is a bearer
	 * credential anyone who sees it could replay after its jti is
	 * forgotten. */
	IG_ENSURE(a->exp <= now + life + skew, IG_EPROTO, why,
		  "assertion exp is too far in the future");
	/* Items 5-6: iat within the window, nbf reached. */
	IG_ENSURE(a->iat <= now + skew, IG_EPROTO, why,
		  "assertion iat is in the future");
	IG_ENSURE(a->iat >= now - life - skew, IG_EPROTO, why,
		  "assertion iat is too old");
	IG_ENSURE(a->nbf <= now + skew, IG_EPROTO, why,
		  "assertion is not yet valid");
	return IG_OK;
}

int assertion_verify(const struct assertion *a, const struct p256_pub *pub,
		     const struct assertion_policy *pol, const char **why)
{
	if (!a || !pub || !pol || !pol->audience)
		return IG_EUSAGE;
	/* Items 1-2: the device asserts about itself only. */
	IG_ENSURE(strcmp(a->iss, a->kid) == 0 && strcmp(a->sub, a->kid) == 0,
		  IG_EPROTO, why,
		  "assertion iss and sub must equal the credential id");
	/* Item 3: we are an intended audience (RFC 7519 §4.1.3: exact,
	 * case-sensitive comparison). */
	IG_ENSURE(as_aud_matches(a, pol->audience), IG_EPROTO, why,
		  "assertion audience does not match the token endpoint");
	IG_GUARD(as_times(a, pol, why));
	/* Item 7: jti for the caller's replay check. */
	IG_ENSURE(a->jti[0] != '\0', IG_EPROTO, why, "assertion lacks jti");
	/* Item 9, last: the costly step runs only for otherwise valid
	 * assertions.  The signing input is "header.payload" as sent. */
	IG_ENSURE(es256_verify(pub, (const uint8_t *)a->parts.hdr,
			       a->parts.signing_input_len, a->sig) == IG_OK,
		  IG_EPROTO, why, "assertion signature is invalid");
	return IG_OK;
}

/* ---- the access token, RFC 9068 ---- */

/*
 * A writer that base64url-encodes JSON as it is produced: bytes gather in
 * <buf> and are encoded whenever it is full.  Its size is a multiple of 3,
 * so the pieces encode exactly as the whole would.  <err> is sticky.
 */
struct at_writer {
	char *out;
	size_t len, cap;
	uint8_t buf[192];
	size_t n;
	int err;
};

static void at_drain(struct at_writer *w)
{
	size_t need = b64url_enc_len(w->n);

	if (w->err)
		return;
	if (need + 1 > w->cap - w->len) {
		w->err = IG_ENOMEM;
		return;
	}
	w->len += b64url_encode(w->buf, w->n, w->out + w->len);
	w->n = 0;
}

static void at_put(struct at_writer *w, const char *s, size_t n)
{
	while (n > 0 && !w->err) {
		size_t k = sizeof(w->buf) - w->n;

		if (k > n)
			k = n;
		memcpy(w->buf + w->n, s, k);
		w->n += k;
		s += k;
		n -= k;
		if (w->n == sizeof(w->buf))
			at_drain(w);
	}
}

static void at_lit(struct at_writer *w, const char *s)
{
	at_put(w, s, strlen(s));
}

/* A JSON string (RFC 8259 §7): quote, backslash and control characters
 * escaped, everything else copied. */
static void at_str(struct at_writer *w, const char *s)
{
	char esc[64 * JSON_ESC_MAX];
	size_t n = strlen(s);

	at_put(w, "\"", 1);
	for (size_t i = 0; i < n; i += 64)
		at_put(w, esc, json_escape(esc, s + i, n - i < 64 ? n - i : 64));
	at_put(w, "\"", 1);
}

static void at_member_str(struct at_writer *w, const char *sep,
			  const char *name, const char *v)
{
	at_lit(w, sep);
	at_str(w, name);
	at_put(w, ":", 1);
	at_str(w, v);
}

static void at_member_int(struct at_writer *w, const char *name, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	at_put(w, ",", 1);
	at_str(w, name);
	at_put(w, ":", 1);
	at_put(w, num, (size_t)n);
}

int access_token_begin(const struct access_token_claims *c, char *out,
		       size_t cap)
{
	struct at_writer w = { .out = out, .cap = cap };

	if (!c || !out || !c->iss || !c->sub || !c->aud || !c->jti || !c->kid)
		return IG_EUSAGE;
	if (cap > INT32_MAX)
		w.cap = INT32_MAX; /* the length is returned as an int */

	/* RFC 9068 §2.1: typ "at+jwt" tells it apart from other JWTs. */
	at_lit(&w, "{\"typ\":\"at+jwt\",\"alg\":\"ES256\",\"kid\":");
	at_str(&w, c->kid);
	at_put(&w, "}", 1);
	at_drain(&w);
	if (w.err || w.len + 2 > w.cap)
		return IG_ENOMEM;
	w.out[w.len++] = '.';
	w.out[w.len] = '\0';

	/* RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti. */
	at_member_str(&w, "{", "iss", c->iss);
	at_member_str(&w, ",", "sub", c->sub);
	at_member_str(&w, ",", "aud", c->aud);
	at_member_int(&w, "exp", c->exp);
	at_member_int(&w, "iat", c->iat);
	at_member_str(&w, ",", "jti", c->jti);
	if (c->client_id)
		at_member_str(&w, ",", "client_id", c->client_id);
	if (c->cit)
		at_member_str(&w, ",", "cit", c->cit);
	at_put(&w, "}", 1);
	at_drain(&w);
	if (w.err)
		return IG_ENOMEM;
	return (int)w.len;
}

int access_token_finish(char *out, size_t len, size_t cap,
			const uint8_t sig[64])
{
	size_t total = len + 1 + b64url_enc_len(64);

	if (!out || !sig)
		return IG_EUSAGE;
	if (len > INT32_MAX || cap <= total || total > INT32_MAX)
		return IG_ENOMEM;
	out[len] = '.';
	b64url_encode(sig, 64, out + len + 1); /* NUL-terminates */
	return (int)total;
}
