/*
 * assertion_test.c - the JWT-bearer assertion checks (RFC 7523 §3) and the
 * RFC 9068 access token builder.
 *
 * Assertions are built here with a fresh device key (p256_keygen +
 * es256_sign), one for each accepted shape and each rejection; every
 * rejection is checked for its stage (parse or verify) and exact reason.
 * Inputs sit flush against a PROT_NONE page so an over-read faults.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "../../dataplane/assertion.h"
#include "check.h"
#include "testutil.h"

#define KID "cred-7f3a9c01"
#define AUD "https://idgate.example/oauth2/token"
#define NOW INT64_C(1700000000)

static struct p256_pub dev_pub, other_pub;
static uint8_t dev_d[32], other_d[32];

static const struct assertion_policy policy = {
	.audience = AUD, .now = NOW, .max_lifetime = 300, .skew = 30,
};

/* ---- helpers ---- */

/* snprintf into one of a few rotating buffers: short-lived test strings. */
__attribute__((format(printf, 1, 2)))
static const char *fmt(const char *f, ...)
{
	static char bufs[16][4096];
	static unsigned next;
	char *b = bufs[next++ % IG_ARRAY_LEN(bufs)];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static const char *num(int64_t v)
{
	return fmt("%" PRId64, v);
}

static const char *repeat(char c, size_t n)
{
	static char bufs[4][1024];
	static unsigned next;
	char *b = bufs[next++ % IG_ARRAY_LEN(bufs)];

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* Header and claims as raw JSON member values; NULL leaves one out. */
struct hdr_spec {
	const char *alg, *kid, *typ, *extra;
};
struct claims_spec {
	const char *iss, *sub, *aud, *iat, *exp, *nbf, *jti, *extra;
};

static struct hdr_spec good_hdr(void)
{
	return (struct hdr_spec){ .alg = "\"ES256\"", .kid = "\"" KID "\"",
				  .typ = "\"JWT\"" };
}

/* iat now - 5 s, exp now + 120 s (the fmt() buffers are reused, so the
 * defaults live in their own). */
static struct claims_spec good_claims(void)
{
	static char iat[24], exp[24];

	snprintf(iat, sizeof(iat), "%" PRId64, NOW - 5);
	snprintf(exp, sizeof(exp), "%" PRId64, NOW + 120);
	return (struct claims_spec){
		.iss = "\"" KID "\"", .sub = "\"" KID "\"",
		.aud = "\"" AUD "\"", .iat = iat, .exp = exp,
		.jti = "\"jti-0001\"",
	};
}

static void add_member(char *json, size_t cap, const char *name,
		       const char *v)
{
	size_t n = strlen(json);

	if (!v)
		return;
	snprintf(json + n, cap - n, "%s\"%s\":%s", n > 1 ? "," : "", name, v);
}

static void hdr_json(const struct hdr_spec *h, char *json, size_t cap)
{
	strcpy(json, "{");
	add_member(json, cap, "alg", h->alg);
	add_member(json, cap, "kid", h->kid);
	add_member(json, cap, "typ", h->typ);
	if (h->extra)
		snprintf(json + strlen(json), cap - strlen(json), ",%s",
			 h->extra);
	strcat(json, "}");
}

static void claims_json(const struct claims_spec *c, char *json, size_t cap)
{
	strcpy(json, "{");
	add_member(json, cap, "iss", c->iss);
	add_member(json, cap, "sub", c->sub);
	add_member(json, cap, "aud", c->aud);
	add_member(json, cap, "iat", c->iat);
	add_member(json, cap, "exp", c->exp);
	add_member(json, cap, "nbf", c->nbf);
	add_member(json, cap, "jti", c->jti);
	if (c->extra)
		snprintf(json + strlen(json), cap - strlen(json), ",%s",
			 c->extra);
	strcat(json, "}");
}

/* "b64(hdr).b64(payload)." and, if <d>, b64 of its ES256 signature. */
static size_t make_jws(char *out, const char *hdr, const char *payload,
		       const uint8_t *d)
{
	size_t n;
	uint8_t sig[64];

	n = b64url_encode((const uint8_t *)hdr, strlen(hdr), out);
	out[n++] = '.';
	n += b64url_encode((const uint8_t *)payload, strlen(payload), out + n);
	if (d && es256_sign(d, (const uint8_t *)out, n, sig) != IG_OK)
		abort();
	out[n++] = '.';
	if (d)
		n += b64url_encode(sig, 64, out + n);
	out[n] = '\0';
	return n;
}

static size_t build(char *out, const struct hdr_spec *h,
		    const struct claims_spec *c, const uint8_t *d)
{
	char hj[2048], cj[8192];

	hdr_json(h, hj, sizeof(hj));
	claims_json(c, cj, sizeof(cj));
	return make_jws(out, hj, cj, d);
}

enum stage { OK, PARSE, VERIFY };

/* Parse and verify <jws> against <pub>; return the stage that refused it
 * and its reason. */
static enum stage run(const char *jws, size_t len, const struct p256_pub *pub,
		      struct assertion *a, const char **why)
{
	struct guarded g;
	enum stage st = OK;

	*why = NULL;
	if (assertion_parse(guard_copy(&g, jws, len), len, a, why) != IG_OK)
		st = PARSE;
	else if (assertion_verify(a, pub, &policy, why) != IG_OK)
		st = VERIFY;
	guard_free(&g);
	return st;
}

/* Check that <jws> ends at <want> with reason <want_why> (NULL for OK). */
static void expect_at(int line, const char *jws, size_t len,
		      const struct p256_pub *pub, enum stage want,
		      const char *want_why)
{
	static const char *const names[] = { "ok", "parse", "verify" };
	struct assertion a;
	const char *why;
	enum stage st = run(jws, len, pub, &a, &why);
	int good = st == want && (want == OK ? why == NULL :
			why && strcmp(why, want_why) == 0);

	CHECK(good);
	if (!good)
		fprintf(stderr, "  line %d: want %s \"%s\", got %s \"%s\"\n",
			line, names[want], want_why ? want_why : "",
			names[st], why ? why : "");
}

#define EXPECT_JWS(jws, want, why)                                             \
	expect_at(__LINE__, (jws), strlen(jws), &dev_pub, (want), (why))

/* Build from specs, signed with the device key, and check. */
static void expect_spec(int line, const struct hdr_spec *h,
			const struct claims_spec *c, enum stage want,
			const char *why)
{
	char jws[8192];
	size_t n = build(jws, h, c, dev_d);

	expect_at(line, jws, n, &dev_pub, want, why);
}

#define EXPECT_CLAIMS(mod, want, why)                                          \
	do {                                                                   \
		struct hdr_spec h_ = good_hdr();                               \
		struct claims_spec c = good_claims();                          \
		mod;                                                           \
		expect_spec(__LINE__, &h_, &c, (want), (why));                 \
	} while (0)
#define EXPECT_HDR(mod, want, why)                                             \
	do {                                                                   \
		struct hdr_spec h = good_hdr();                                \
		struct claims_spec c_ = good_claims();                         \
		mod;                                                           \
		expect_spec(__LINE__, &h, &c_, (want), (why));                 \
	} while (0)

/* ---- accepted assertions ---- */

static void test_accepts(void)
{
	struct hdr_spec hs = good_hdr();
	struct claims_spec cs = good_claims();
	struct assertion a;
	const char *why;
	char jws[4096];
	size_t n;

	n = build(jws, &hs, &cs, dev_d);
	CHECK(run(jws, n, &dev_pub, &a, &why) == OK);
	CHECK_STR(a.kid, KID);
	CHECK_STR(a.iss, KID);
	CHECK_STR(a.sub, KID);
	CHECK_STR(a.jti, "jti-0001");
	CHECK_STR(a.aud, AUD);
	CHECK_EQ(a.aud_is_array, 0);
	CHECK_EQ(a.aud_count, 1);
	CHECK_EQ(a.iat, NOW - 5);
	CHECK_EQ(a.exp, NOW + 120);
	CHECK_EQ(a.nbf, 0);
	CHECK_EQ(a.parts.signing_input_len, (size_t)(strrchr(jws, '.') - jws));

	/* aud as an array holding our audience among others. */
	cs.aud = "[\"https://other.example\",\"" AUD "\",\"x\"]";
	n = build(jws, &hs, &cs, dev_d);
	CHECK(run(jws, n, &dev_pub, &a, &why) == OK);
	CHECK_EQ(a.aud_is_array, 1);
	CHECK_EQ(a.aud_count, 3);
	CHECK(memcmp(a.aud, "https://other.example\0" AUD "\0x\0",
		     sizeof("https://other.example\0" AUD "\0x")) == 0);

	EXPECT_CLAIMS(c.aud = "[\"" AUD "\"]", OK, NULL);
	EXPECT_HDR(h.typ = NULL, OK, NULL);
	EXPECT_HDR(h.typ = "\"jwt\"", OK, NULL);
	/* Members we do not use are ignored, a key in the header included:
	 * the key always comes from the credential store. */
	EXPECT_HDR(h.extra = "\"jwk\":{\"kty\":\"EC\"},\"x5u\":\"https://a\"",
		   OK, NULL);
	EXPECT_CLAIMS(c.extra = "\"scope\":\"openid\",\"n\":[1,2.5,null]", OK,
		      NULL);
	/* The edges of every time window (now 1700000000, lifetime 300,
	 * skew 30). */
	EXPECT_CLAIMS((c.iat = num(NOW - 100), c.exp = num(NOW - 29)), OK, NULL);
	EXPECT_CLAIMS(c.exp = num(NOW + 330), OK, NULL);
	EXPECT_CLAIMS(c.iat = num(NOW + 30), OK, NULL);
	EXPECT_CLAIMS(c.iat = num(NOW - 330), OK, NULL);
	EXPECT_CLAIMS(c.nbf = num(NOW + 30), OK, NULL);
	EXPECT_CLAIMS(c.nbf = num(NOW - 1000), OK, NULL);
	/* Identifiers of exactly ASSERTION_ID_MAX bytes. */
	EXPECT_CLAIMS(c.jti = fmt("\"%s\"", repeat('j', ASSERTION_ID_MAX)), OK,
		      NULL);
	{
		const char *id = fmt("\"%s\"", repeat('k', ASSERTION_ID_MAX));

		EXPECT_CLAIMS((h_.kid = id, c.iss = id, c.sub = id), OK, NULL);
	}
	EXPECT_CLAIMS(c.jti = "\"a b~!\\\"\"", OK, NULL);
}

/* ---- refused while parsing ---- */

static void test_structure(void)
{
	char jws[8192];
	const char *dot;
	size_t n;

	EXPECT_JWS("", PARSE, "assertion is not a compact JWS");
	EXPECT_JWS("abc", PARSE, "assertion is not a compact JWS");
	EXPECT_JWS("eyJhbGciOiJFUzI1NiJ9.e30", PARSE,
		   "assertion is not a compact JWS");
	EXPECT_JWS("a.b.c.d", PARSE, "assertion is not a compact JWS");
	EXPECT_JWS(".e30.", PARSE, "assertion is not a compact JWS");
	EXPECT_JWS("e30..", PARSE, "assertion is not a compact JWS");

	/* A good assertion with a fourth segment appended. */
	{
		struct hdr_spec h = good_hdr();
		struct claims_spec c = good_claims();

		n = build(jws, &h, &c, dev_d);
		strcpy(jws + n, ".e30");
		EXPECT_JWS(jws, PARSE, "assertion is not a compact JWS");
		/* ... and with the signature segment cut off. */
		*strrchr(jws, '.') = '\0';
		*strrchr(jws, '.') = '\0';
		EXPECT_JWS(jws, PARSE, "assertion is not a compact JWS");
	}

	/* Longer than ASSERTION_MAX_LEN, even if otherwise fine. */
	{
		struct hdr_spec h = good_hdr();
		struct claims_spec c = good_claims();

		c.extra = fmt("\"pad\":\"%s\"", repeat('p', 900));
		c.extra = fmt("%s,\"pad2\":\"%s\"", c.extra, repeat('q', 900));
		c.extra = fmt("%s,\"pad3\":\"%s\"", c.extra, repeat('r', 900));
		n = build(jws, &h, &c, dev_d);
		CHECK(n > ASSERTION_MAX_LEN - 900 && n <= ASSERTION_MAX_LEN);
		expect_at(__LINE__, jws, n, &dev_pub, OK, NULL);
		c.extra = fmt("%s,\"pad4\":\"%s\"", c.extra, repeat('s', 300));
		n = build(jws, &h, &c, dev_d);
		CHECK(n > ASSERTION_MAX_LEN);
		expect_at(__LINE__, jws, n, &dev_pub, PARSE,
			  "assertion is too long");
	}

	/* Broken base64url in each segment: "e30" is "{}", "e31" decodes
	 * to it too but has non-zero unused bits. */
	{
		struct hdr_spec h = good_hdr();
		char hj[256], gh[512];

		hdr_json(&h, hj, sizeof(hj));
		b64url_encode((const uint8_t *)hj, strlen(hj), gh);
		EXPECT_JWS(fmt("%s+.e30.", gh), PARSE,
			   "assertion header is not base64url");
		EXPECT_JWS(fmt("%s=.e30.", gh), PARSE,
			   "assertion header is not base64url");
		EXPECT_JWS("e31.e30.", PARSE, "assertion header is not base64url");
		EXPECT_JWS("e3.e30.", PARSE, "assertion header is not base64url");
		EXPECT_JWS(fmt("%s.e30=.", gh), PARSE,
			   "assertion payload is not base64url");
		EXPECT_JWS(fmt("%s.e31.", gh), PARSE,
			   "assertion payload is not base64url");
		EXPECT_JWS(fmt("%s.e3.", gh), PARSE,
			   "assertion payload is not base64url");
		EXPECT_JWS(fmt("%s.e3/0.", gh), PARSE,
			   "assertion payload is not base64url");
		/* ... while the canonical "{}" reaches the claim checks. */
		EXPECT_JWS(fmt("%s.e30.", gh), PARSE, "assertion lacks iss");
	}

	/* Signature segments of the wrong size or alphabet. */
	{
		struct hdr_spec h = good_hdr();
		struct claims_spec c = good_claims();
		/* Empty, 3 bytes, 63, 65 and 66 bytes, 64 bytes spelled
		 * with non-zero unused bits. */
		const char *bad_sigs[] = {
			"", "AAAA", repeat('A', 84), repeat('A', 87),
			repeat('A', 88), fmt("%sB", repeat('A', 85)),
		};

		n = build(jws, &h, &c, dev_d);
		dot = strrchr(jws, '.');
		CHECK_EQ(strlen(dot + 1), 86);
		/* A '+' in place of one character of a good signature. */
		jws[n - 5] = '+';
		EXPECT_JWS(jws, PARSE,
			   "assertion signature is not 64 bytes of base64url");
		/* Padding after a good signature. */
		n = build(jws, &h, &c, dev_d);
		strcpy(jws + n, "==");
		EXPECT_JWS(jws, PARSE,
			   "assertion signature is not 64 bytes of base64url");
		for (size_t i = 0; i < IG_ARRAY_LEN(bad_sigs); i++) {
			strcpy(jws + (dot + 1 - jws), bad_sigs[i]);
			EXPECT_JWS(jws, PARSE,
				   "assertion signature is not 64 bytes of base64url");
		}
	}
}

static void test_json(void)
{
	char jws[4096];
	char cj[2048];
	struct claims_spec cs = good_claims();

	claims_json(&cs, cj, sizeof(cj));
	/* Header: not JSON, not an object, duplicate members (also spelled
	 * with an escape, which the parser decodes before comparing). */
	make_jws(jws, "not json", cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header is not valid JSON");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"", cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header is not valid JSON");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"}x", cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header is not valid JSON");
	make_jws(jws, "[\"ES256\"]", cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header is not a JSON object");
	make_jws(jws, "\"ES256\"", cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header is not valid JSON");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\",\"alg\":\"none\"}",
		 cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header has a duplicate member");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\",\"\\u0061lg\":\"ES256\"}",
		 cj, dev_d);
	EXPECT_JWS(jws, PARSE, "assertion header has a duplicate member");

	/* Payload the same. */
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"}", "nope", dev_d);
	EXPECT_JWS(jws, PARSE, "assertion payload is not valid JSON");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"}", "[]", dev_d);
	EXPECT_JWS(jws, PARSE, "assertion payload is not a JSON object");
	make_jws(jws, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"}", "null", dev_d);
	EXPECT_JWS(jws, PARSE, "assertion payload is not valid JSON");
	EXPECT_CLAIMS(c.extra = fmt("\"exp\":%s", num(NOW + 100)), PARSE,
		      "assertion payload has a duplicate member");
	EXPECT_CLAIMS(c.extra = "\"j\\u0074i\":\"other\"", PARSE,
		      "assertion payload has a duplicate member");
	/* A NUL inside a string would cut C strings short: refused. */
	EXPECT_CLAIMS(c.jti = "\"a\\u0000b\"", PARSE,
		      "assertion payload is not valid JSON");
	/* Beyond int64: refused by the parser, never wrapped. */
	EXPECT_CLAIMS(c.exp = "99999999999999999999", PARSE,
		      "assertion payload is not valid JSON");
}

static void test_header_rejects(void)
{
	/* RFC 7518 §3.6 unsecured JWS, empty signature segment. */
	{
		char jws[4096];
		char hj[256], cj[2048];
		struct claims_spec c = good_claims();

		claims_json(&c, cj, sizeof(cj));
		snprintf(hj, sizeof(hj), "{\"alg\":\"none\",\"kid\":\"%s\"}",
			 KID);
		make_jws(jws, hj, cj, NULL);
		CHECK(jws[strlen(jws) - 1] == '.');
		EXPECT_JWS(jws, PARSE,
			   "assertion alg none is refused: it must be signed with ES256");
	}
	EXPECT_HDR(h.alg = "\"none\"", PARSE,
		   "assertion alg none is refused: it must be signed with ES256");
	EXPECT_HDR(h.alg = "\"HS256\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"ES384\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"RS256\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"es256\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"ES256 \"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"None\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "\"\"", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "[\"ES256\"]", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = "null", PARSE, "assertion alg must be ES256");
	EXPECT_HDR(h.alg = NULL, PARSE, "assertion lacks alg");

	EXPECT_HDR(h.extra = "\"crit\":[\"exp\"]", PARSE,
		   "assertion header crit is not supported");
	EXPECT_HDR(h.extra = "\"crit\":[]", PARSE,
		   "assertion header crit is not supported");
	EXPECT_HDR(h.typ = "\"at+jwt\"", PARSE, "assertion typ must be JWT");
	EXPECT_HDR(h.typ = "\"JWTX\"", PARSE, "assertion typ must be JWT");
	EXPECT_HDR(h.typ = "1", PARSE, "assertion typ must be JWT");

	EXPECT_HDR(h.kid = NULL, PARSE, "assertion lacks kid");
	EXPECT_HDR(h.kid = "42", PARSE, "assertion kid must be a string");
	EXPECT_HDR(h.kid = "\"\"", PARSE, "assertion kid is empty");
	EXPECT_HDR(h.kid = fmt("\"%s\"", repeat('k', ASSERTION_ID_MAX + 1)),
		   PARSE, "assertion kid is too long");
	EXPECT_HDR(h.kid = "\"cred\\t1\"", PARSE,
		   "assertion kid must be printable ASCII");
	EXPECT_HDR(h.kid = "\"cr\\u00e9d\"", PARSE,
		   "assertion kid must be printable ASCII");
	EXPECT_HDR(h.kid = "\"cred\\u007f\"", PARSE,
		   "assertion kid must be printable ASCII");
}

static void test_claims_rejects(void)
{
	char too_long[ASSERTION_ID_MAX + 4];

	snprintf(too_long, sizeof(too_long), "\"%s\"",
		 repeat('i', ASSERTION_ID_MAX + 1));

	EXPECT_CLAIMS(c.iss = NULL, PARSE, "assertion lacks iss");
	EXPECT_CLAIMS(c.iss = "{}", PARSE, "assertion iss must be a string");
	EXPECT_CLAIMS(c.iss = "\"\"", PARSE, "assertion iss is empty");
	EXPECT_CLAIMS(c.iss = too_long, PARSE, "assertion iss is too long");
	EXPECT_CLAIMS(c.iss = "\"\\n\"", PARSE,
		      "assertion iss must be printable ASCII");
	EXPECT_CLAIMS(c.sub = NULL, PARSE, "assertion lacks sub");
	EXPECT_CLAIMS(c.sub = "1", PARSE, "assertion sub must be a string");
	EXPECT_CLAIMS(c.sub = "\"\"", PARSE, "assertion sub is empty");
	EXPECT_CLAIMS(c.sub = too_long, PARSE, "assertion sub is too long");
	EXPECT_CLAIMS(c.sub = "\"\\u0001\"", PARSE,
		      "assertion sub must be printable ASCII");

	EXPECT_CLAIMS(c.aud = NULL, PARSE, "assertion lacks aud");
	EXPECT_CLAIMS(c.aud = "7", PARSE,
		      "assertion aud must be a string or an array of strings");
	EXPECT_CLAIMS(c.aud = "{\"a\":\"" AUD "\"}", PARSE,
		      "assertion aud must be a string or an array of strings");
	EXPECT_CLAIMS(c.aud = "[]", PARSE, "assertion aud array is empty");
	EXPECT_CLAIMS(c.aud = "[\"" AUD "\",7]", PARSE,
		      "assertion aud array must hold only strings");
	EXPECT_CLAIMS(c.aud = "[[\"" AUD "\"]]", PARSE,
		      "assertion aud array must hold only strings");
	EXPECT_CLAIMS(c.aud = fmt("\"%s\"", repeat('a', 512)), PARSE,
		      "assertion aud is too long");
	EXPECT_CLAIMS(c.aud = fmt("\"%s\"", repeat('a', 511)), VERIFY,
		      "assertion audience does not match the token endpoint");
	/* 200 + 1 + 200 + 1 + 110 + 1 = 513 bytes packed. */
	EXPECT_CLAIMS(c.aud = fmt("[\"%s\",\"%s\",\"%s\"]", repeat('a', 200),
				  repeat('b', 200), repeat('c', 110)),
		      PARSE, "assertion aud is too long");

	EXPECT_CLAIMS(c.exp = NULL, PARSE, "assertion lacks exp");
	EXPECT_CLAIMS(c.exp = fmt("\"%s\"", num(NOW + 100)), PARSE,
		      "assertion exp must be an integer");
	EXPECT_CLAIMS(c.exp = fmt("%s.0", num(NOW + 100)), PARSE,
		      "assertion exp must be an integer");
	EXPECT_CLAIMS(c.exp = "1.7000001e9", PARSE,
		      "assertion exp must be an integer");
	EXPECT_CLAIMS(c.exp = "true", PARSE, "assertion exp must be an integer");
	EXPECT_CLAIMS(c.exp = "null", PARSE, "assertion exp must be an integer");
	EXPECT_CLAIMS(c.iat = NULL, PARSE, "assertion lacks iat");
	EXPECT_CLAIMS(c.iat = fmt("%s.5", num(NOW)), PARSE,
		      "assertion iat must be an integer");
	EXPECT_CLAIMS(c.nbf = fmt("%s.5", num(NOW)), PARSE,
		      "assertion nbf must be an integer");
	EXPECT_CLAIMS(c.nbf = "\"0\"", PARSE, "assertion nbf must be an integer");

	EXPECT_CLAIMS(c.jti = NULL, PARSE, "assertion lacks jti");
	EXPECT_CLAIMS(c.jti = "12345", PARSE, "assertion jti must be a string");
	EXPECT_CLAIMS(c.jti = fmt("\"%s\"", repeat('j', ASSERTION_ID_MAX + 1)),
		      PARSE, "assertion jti is too long");
	EXPECT_CLAIMS(c.jti = "\"a\\nb\"", PARSE,
		      "assertion jti must be printable ASCII");
	EXPECT_CLAIMS(c.jti = "\"\\u00e9\"", PARSE,
		      "assertion jti must be printable ASCII");
}

/* ---- refused by verify ---- */

static void test_verify_rejects(void)
{
	struct hdr_spec hs = good_hdr();
	struct claims_spec cs = good_claims();
	char jws[4096], jws2[4096], mix[8192];
	size_t n;

	/* RFC 7523 §3 items 1-2. */
	EXPECT_CLAIMS(c.iss = "\"cred-other\"", VERIFY,
		      "assertion iss and sub must equal the credential id");
	EXPECT_CLAIMS(c.sub = "\"cred-other\"", VERIFY,
		      "assertion iss and sub must equal the credential id");
	EXPECT_CLAIMS((c.iss = "\"x\"", c.sub = "\"x\""), VERIFY,
		      "assertion iss and sub must equal the credential id");
	EXPECT_CLAIMS(h_.kid = "\"cred-7f3a9c0\"", VERIFY,
		      "assertion iss and sub must equal the credential id");
	/* Item 3. */
	EXPECT_CLAIMS(c.aud = "\"https://idgate.example/oauth2/token/\"",
		      VERIFY,
		      "assertion audience does not match the token endpoint");
	EXPECT_CLAIMS(c.aud = "\"HTTPS://idgate.example/oauth2/token\"", VERIFY,
		      "assertion audience does not match the token endpoint");
	EXPECT_CLAIMS(c.aud = "\"\"", VERIFY,
		      "assertion audience does not match the token endpoint");
	EXPECT_CLAIMS(c.aud = "[\"https://a.example\",\"https://idgate.example\"]",
		      VERIFY,
		      "assertion audience does not match the token endpoint");
	EXPECT_CLAIMS(c.aud = "[\"\",\"\"]", VERIFY,
		      "assertion audience does not match the token endpoint");
	/* Item 4 and the lifetime bound. */
	EXPECT_CLAIMS((c.iat = num(NOW - 100), c.exp = num(NOW - 30)), VERIFY,
		      "assertion has expired");
	EXPECT_CLAIMS((c.iat = num(NOW - 100), c.exp = num(INT64_MIN)), VERIFY,
		      "assertion has expired");
	EXPECT_CLAIMS(c.exp = num(NOW + 331), VERIFY,
		      "assertion exp is too far in the future");
	EXPECT_CLAIMS(c.exp = num(INT64_MAX), VERIFY,
		      "assertion exp is too far in the future");
	/* Items 5-6. */
	EXPECT_CLAIMS(c.iat = num(NOW + 31), VERIFY,
		      "assertion iat is in the future");
	EXPECT_CLAIMS(c.iat = num(NOW - 331), VERIFY, "assertion iat is too old");
	EXPECT_CLAIMS(c.iat = num(INT64_MIN), VERIFY, "assertion iat is too old");
	EXPECT_CLAIMS(c.nbf = num(NOW + 31), VERIFY, "assertion is not yet valid");
	EXPECT_CLAIMS(c.nbf = num(INT64_MAX), VERIFY,
		      "assertion is not yet valid");
	/* Item 7. */
	EXPECT_CLAIMS(c.jti = "\"\"", VERIFY, "assertion lacks jti");

	/* Item 9: signed by another key. */
	n = build(jws, &hs, &cs, other_d);
	expect_at(__LINE__, jws, n, &dev_pub, VERIFY,
		  "assertion signature is invalid");
	/* ... good signature, wrong (or invalid) device key. */
	n = build(jws, &hs, &cs, dev_d);
	expect_at(__LINE__, jws, n, &other_pub, VERIFY,
		  "assertion signature is invalid");
	{
		struct p256_pub off = dev_pub;

		off.x[0] ^= 1;
		expect_at(__LINE__, jws, n, &off, VERIFY,
			  "assertion signature is invalid");
	}
	/* ... a flipped signature bit. */
	{
		char *s = strrchr(jws, '.') + 1;

		s[10] = s[10] == 'A' ? 'B' : 'A';
		expect_at(__LINE__, jws, n, &dev_pub, VERIFY,
			  "assertion signature is invalid");
	}
	/* ... the claims of one good assertion with the signature of
	 * another. */
	n = build(jws, &hs, &cs, dev_d);
	cs.jti = "\"jti-0002\"";
	build(jws2, &hs, &cs, dev_d);
	snprintf(mix, sizeof(mix), "%.*s%s", (int)(strrchr(jws2, '.') - jws2),
		 jws2, strrchr(jws, '.'));
	EXPECT_JWS(mix, VERIFY, "assertion signature is invalid");
	/* ... a header changed after signing (typ dropped). */
	hs.typ = NULL;
	build(jws2, &hs, &cs, dev_d);
	cs.jti = "\"jti-0001\"";
	snprintf(mix, sizeof(mix), "%.*s%s", (int)(strchr(jws2, '.') - jws2),
		 jws2, strchr(jws, '.'));
	EXPECT_JWS(mix, VERIFY, "assertion signature is invalid");
	/* ... a signature whose r is zero. */
	{
		uint8_t sig[64] = { 0 };
		char *s = strrchr(jws, '.') + 1;

		CHECK_EQ(b64url_decode(s, strlen(s), sig, 64), 64);
		memset(sig, 0, 32);
		b64url_encode(sig, 64, s);
		EXPECT_JWS(jws, VERIFY, "assertion signature is invalid");
	}
}

static void test_usage(void)
{
	struct assertion a;
	struct assertion_policy pol = policy;
	struct hdr_spec h = good_hdr();
	struct claims_spec c = good_claims();
	const char *why = NULL;
	char jws[4096];
	size_t n = build(jws, &h, &c, dev_d);

	CHECK_EQ(assertion_parse(NULL, 0, &a, &why), IG_EUSAGE);
	CHECK_EQ(assertion_parse(jws, n, NULL, &why), IG_EUSAGE);
	CHECK_EQ(assertion_parse(jws, n, &a, NULL), IG_OK);
	pol.audience = NULL;
	CHECK_EQ(assertion_verify(&a, &dev_pub, &pol, &why), IG_EUSAGE);
	CHECK_EQ(assertion_verify(&a, &dev_pub, &policy, NULL), IG_OK);
	/* Reasons are optional for the caller. */
	CHECK_EQ(assertion_parse("x", 1, &a, NULL), IG_EPROTO);
}

/* ---- the access token ---- */

/* Decode one base64url segment of <tok> and parse it as JSON. */
static json_t *segment_json(const char *seg, size_t n)
{
	uint8_t buf[8192];
	int len = b64url_decode(seg, n, buf, sizeof(buf));

	if (len < 0)
		return NULL;
	return json_loadb((const char *)buf, (size_t)len,
			  JSON_REJECT_DUPLICATES, NULL);
}

static int json_str_eq(json_t *o, const char *name, const char *want)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && json_string_length(v) == strlen(want) &&
	       strcmp(json_string_value(v), want) == 0;
}

static int json_int_eq(json_t *o, const char *name, int64_t want)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) && json_integer_value(v) == want;
}

/* Build, "HSM"-sign and check one token made of <c>. */
static void check_token(const struct access_token_claims *c)
{
	struct jws_parts p;
	const char *why;
	char tok[8192], expect_hdr[512];
	uint8_t sig[64], sig_back[64], hdr[512];
	json_t *j;
	int n, total, hlen;

	n = access_token_begin(c, tok, sizeof(tok));
	CHECK(n > 0);
	if (n <= 0)
		return;
	CHECK_EQ(strlen(tok), n);
	/* The HSM signs SHA-256 of the signing input; es256_sign stands in
	 * (it hashes the message itself). */
	CHECK_EQ(es256_sign(dev_d, (const uint8_t *)tok, (size_t)n, sig), IG_OK);
	total = access_token_finish(tok, (size_t)n, sizeof(tok), sig);
	CHECK_EQ(total, n + 87);
	CHECK_EQ(strlen(tok), total);

	CHECK_EQ(jws_split(tok, (size_t)total, &p, &why), IG_OK);
	CHECK_EQ(p.signing_input_len, n);
	CHECK_EQ(b64url_decode(p.sig, p.sig_len, sig_back, 64), 64);
	CHECK(memcmp(sig, sig_back, 64) == 0);
	CHECK_EQ(es256_verify(&dev_pub, (const uint8_t *)p.hdr,
			      p.signing_input_len, sig_back), IG_OK);

	/* The header, byte for byte (RFC 9068 §2.1). */
	hlen = b64url_decode(p.hdr, p.hdr_len, hdr, sizeof(hdr) - 1);
	CHECK(hlen > 0);
	if (hlen > 0) {
		hdr[hlen] = '\0';
		j = segment_json(p.hdr, p.hdr_len);
		CHECK(j && json_object_size(j) == 3);
		CHECK(json_str_eq(j, "typ", "at+jwt"));
		CHECK(json_str_eq(j, "alg", "ES256"));
		CHECK(json_str_eq(j, "kid", c->kid));
		json_decref(j);
		if (!strpbrk(c->kid, "\"\\")) {
			snprintf(expect_hdr, sizeof(expect_hdr),
				 "{\"typ\":\"at+jwt\",\"alg\":\"ES256\",\"kid\":\"%s\"}",
				 c->kid);
			CHECK_STR((char *)hdr, expect_hdr);
		}
	}

	/* The claims (RFC 9068 §2.2). */
	j = segment_json(p.payload, p.payload_len);
	CHECK(j != NULL);
	if (!j)
		return;
	CHECK_EQ(json_object_size(j), c->client_id ? 7 : 6);
	CHECK(json_str_eq(j, "iss", c->iss));
	CHECK(json_str_eq(j, "sub", c->sub));
	CHECK(json_str_eq(j, "aud", c->aud));
	CHECK(json_str_eq(j, "jti", c->jti));
	CHECK(json_int_eq(j, "exp", c->exp));
	CHECK(json_int_eq(j, "iat", c->iat));
	if (c->client_id)
		CHECK(json_str_eq(j, "client_id", c->client_id));
	else
		CHECK(json_object_get(j, "client_id") == NULL);
	json_decref(j);
}

static void test_access_token(void)
{
	char kid[44];
	struct access_token_claims c = {
		.iss = "https://idgate.example", .sub = KID,
		.aud = "https://api.example", .client_id = "citizen-app",
		.jti = "at-0001", .iat = NOW, .exp = NOW + 600, .kid = kid,
	};
	char big[700];

	jwk_thumbprint_p256(&dev_pub, kid);
	check_token(&c);
	c.client_id = NULL;
	check_token(&c);

	/* Escaping: quote, backslash, control characters, UTF-8. */
	c.client_id = "app \"q\" \\ / \b\f\n\r\t \x01\x1f\x7f end";
	c.sub = "caf\xc3\xa9 \xe2\x82\xac";
	c.kid = "k\"1\\";
	check_token(&c);
	c.kid = kid;

	/* Long values cross the encoder's internal chunk boundaries at every
	 * offset mod 3. */
	for (size_t len = 180; len < 200; len++) {
		memset(big, 'a' + (char)(len % 26), len);
		big[len] = '\0';
		c.aud = big;
		check_token(&c);
	}
	memset(big, '"', 300);
	big[300] = '\0';
	c.jti = big;
	check_token(&c);
	/* Negative and extreme times are written as they are. */
	c.iat = INT64_MIN;
	c.exp = INT64_MAX;
	c.jti = "at-0002";
	check_token(&c);
}

static void test_access_token_bounds(void)
{
	struct access_token_claims c = {
		.iss = "https://idgate.example", .sub = KID,
		.aud = "https://api.example", .client_id = "citizen-app",
		.jti = "at-\n0001", .iat = NOW, .exp = NOW + 600, .kid = "kid1",
	};
	struct guarded g;
	char ref[2048];
	uint8_t sig[64] = { 1 };
	int n, total;

	n = access_token_begin(&c, ref, sizeof(ref));
	CHECK(n > 0);
	/* Every too-small <cap> fails cleanly without writing past it (the
	 * buffer ends at a PROT_NONE page). */
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		char *buf = guard_copy(&g, ref, cap);

		CHECK_EQ(access_token_begin(&c, buf, cap), IG_ENOMEM);
		guard_free(&g);
	}
	{
		char *buf = guard_copy(&g, ref, (size_t)n + 1);

		CHECK_EQ(access_token_begin(&c, buf, (size_t)n + 1), n);
		CHECK_STR(buf, ref);
		guard_free(&g);
	}
	/* finish needs 87 more bytes and the NUL. */
	{
		char *buf = guard_copy(&g, ref, (size_t)n + 87);

		CHECK_EQ(access_token_finish(buf, (size_t)n, (size_t)n + 87, sig),
			 IG_ENOMEM);
		guard_free(&g);
		buf = guard_copy(&g, ref, (size_t)n + 88);
		total = access_token_finish(buf, (size_t)n, (size_t)n + 88, sig);
		CHECK_EQ(total, n + 87);
		CHECK_EQ(strlen(buf), total);
		guard_free(&g);
	}
	/* Required strings. */
	c.iss = NULL;
	CHECK_EQ(access_token_begin(&c, ref, sizeof(ref)), IG_EUSAGE);
	c.iss = "i";
	c.kid = NULL;
	CHECK_EQ(access_token_begin(&c, ref, sizeof(ref)), IG_EUSAGE);
	c.kid = "k";
	c.jti = NULL;
	CHECK_EQ(access_token_begin(&c, ref, sizeof(ref)), IG_EUSAGE);
	CHECK_EQ(access_token_begin(NULL, ref, sizeof(ref)), IG_EUSAGE);
	CHECK_EQ(access_token_finish(NULL, 0, 100, sig), IG_EUSAGE);
}

int main(void)
{
	if (p256_keygen(dev_d, &dev_pub) != IG_OK ||
	    p256_keygen(other_d, &other_pub) != IG_OK) {
		fprintf(stderr, "p256_keygen failed\n");
		return 1;
	}
	test_accepts();
	test_structure();
	test_json();
	test_header_rejects();
	test_claims_rejects();
	test_verify_rejects();
	test_usage();
	test_access_token();
	test_access_token_bounds();
	return check_done("assertion");
}
