/*
 * fuzz_assertion.c - arbitrary bytes into the parsers of the login path:
 * assertion_parse (+ assertion_verify when it parses), jwk_parse_p256,
 * jws_split and b64url_decode.  Besides memory errors it checks
 * properties, aborting when one fails:
 *   - every refusal gives a reason;
 *   - base64url is canonical: what decodes re-encodes to the same text;
 *   - an accepted JWK is a valid point and survives format -> parse;
 *   - an accepted assertion's ids come back intact from an access token.
 * An input starting with byte 0x01 is also read as "header JSON \n payload
 * JSON \n signature bytes" and base64url-encoded into a JWS first, so that
 * mutations reach the JSON checks instead of dying in base64url.
 *
 * The seeds in corpus/assertion/ are signed with the key of RFC 7515
 * Appendix A.3 for the audience and time below, so valid ones reach the
 * signature check and pass it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../dataplane/assertion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_AUDIENCE "https://idgate.example/oauth2/token"
#define FZ_NOW 1700000000

/* RFC 7515 A.3.1 public key, decoded. */
static const struct p256_pub fz_pub = {
	.x = { 0x7f, 0xcd, 0xce, 0x27, 0x70, 0xf6, 0xc4, 0x5d, 0x41, 0x83, 0xcb,
	       0xee, 0x6f, 0xdb, 0x4b, 0x7b, 0x58, 0x07, 0x33, 0x35, 0x7b, 0xe9,
	       0xef, 0x13, 0xba, 0xcf, 0x6e, 0x3c, 0x7b, 0xd1, 0x54, 0x45 },
	.y = { 0xc7, 0xf1, 0x44, 0xcd, 0x1b, 0xbd, 0x9b, 0x7e, 0x87, 0x2c, 0xdf,
	       0xed, 0xb9, 0xee, 0xb9, 0xf4, 0xb3, 0x69, 0x25, 0x6e, 0xaa, 0xb7,
	       0xca, 0xca, 0xb9, 0x9d, 0x8e, 0xdf, 0xf2, 0x77, 0x67, 0x75 },
};

static void fz_require(int cond)
{
	if (!cond)
		abort();
}

static void fz_reason(int rc, const char *why)
{
	if (rc != IG_OK)
		fz_require(why && *why);
}

/* Canonical base64url: decode then encode gives the input back. */
static void fz_b64(const char *in, size_t n)
{
	uint8_t dec[1024];
	char enc[b64url_enc_len(sizeof(dec)) + 1];
	int len;

	if (n > b64url_enc_len(sizeof(dec)))
		return;
	len = b64url_decode(in, n, dec, sizeof(dec));
	if (len < 0)
		return;
	fz_require(b64url_encode(dec, (size_t)len, enc) == n);
	fz_require(memcmp(enc, in, n) == 0);
}

static void fz_jwk(const char *in, size_t n)
{
	struct p256_pub pub, back;
	const char *why = NULL;
	char json[512], tp[44];
	int rc, len;

	rc = jwk_parse_p256(in, n, &pub, &why);
	fz_reason(rc, why);
	if (rc != IG_OK)
		return;
	fz_require(p256_point_valid(&pub));
	len = jwk_format_p256(&pub, "\"use\":\"sig\"", json, sizeof(json));
	fz_require(len > 0);
	fz_require(jwk_parse_p256(json, (size_t)len, &back, &why) == IG_OK);
	fz_require(memcmp(&pub, &back, sizeof(pub)) == 0);
	jwk_thumbprint_p256(&pub, tp);
	fz_require(strlen(tp) == 43);
}

/* An access token carrying the assertion's ids decodes back to them. */
static void fz_token(const struct assertion *a)
{
	struct access_token_claims c = {
		.iss = "https://idgate.example", .sub = a->sub, .aud = a->aud,
		.client_id = a->kid, .jti = a->jti, .iat = a->iat,
		.exp = a->exp, .kid = "k",
	};
	static const uint8_t sig[64];
	struct jws_parts p;
	uint8_t claims[8192]; /* aud may be 511 control characters, 6x */
	char tok[12288];
	json_t *j;
	int n;

	n = access_token_begin(&c, tok, sizeof(tok));
	fz_require(n > 0);
	fz_require(access_token_finish(tok, (size_t)n, sizeof(tok), sig) > n);
	fz_require(jws_split(tok, strlen(tok), &p, NULL) == IG_OK);
	n = b64url_decode(p.payload, p.payload_len, claims, sizeof(claims));
	fz_require(n > 0);
	j = json_loadb((const char *)claims, (size_t)n, JSON_REJECT_DUPLICATES,
		       NULL);
	fz_require(j != NULL);
	fz_require(strcmp(json_string_value(json_object_get(j, "sub")),
			  a->sub) == 0);
	fz_require(strcmp(json_string_value(json_object_get(j, "jti")),
			  a->jti) == 0);
	json_decref(j);
}

static void fz_assertion(const char *in, size_t n)
{
	static const struct assertion_policy pol = {
		.audience = FZ_AUDIENCE, .now = FZ_NOW, .max_lifetime = 300,
		.skew = 30,
	};
	struct assertion a;
	const char *why = NULL;
	int rc;

	rc = assertion_parse(in, n, &a, &why);
	fz_reason(rc, why);
	if (rc != IG_OK)
		return;
	fz_require(a.kid[0] && a.iss[0] && a.sub[0] && a.aud_count > 0);
	fz_require(a.parts.signing_input_len < n);
	why = NULL;
	rc = assertion_verify(&a, &fz_pub, &pol, &why);
	fz_reason(rc, why);
	fz_token(&a);
}

/* Encode the raw <n> bytes at <p> as one base64url segment at <out>. */
static char *fz_seg(char *out, const uint8_t *p, size_t n, char sep)
{
	out += b64url_encode(p, n, out);
	if (sep)
		*out++ = sep;
	return out;
}

static void fz_structured(const uint8_t *data, size_t size)
{
	const uint8_t *hdr = data, *payload, *sig, *end = data + size;
	char *jws, *w;

	payload = memchr(hdr, '\n', size);
	if (!payload++)
		return;
	sig = memchr(payload, '\n', (size_t)(end - payload));
	if (!sig++)
		return;
	jws = malloc(b64url_enc_len(size) + 4);
	if (!jws)
		return;
	w = fz_seg(jws, hdr, (size_t)(payload - 1 - hdr), '.');
	w = fz_seg(w, payload, (size_t)(sig - 1 - payload), '.');
	w = fz_seg(w, sig, (size_t)(end - sig), 0);
	fz_assertion(jws, (size_t)(w - jws));
	free(jws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jws_parts parts;
	const char *why = NULL;
	char *in;
	int rc;

	/* An exact-size copy, so the sanitizer sees any read past the end
	 * even when the driver hands us a larger buffer. */
	in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	if (size > 0 && data[0] == 0x01)
		fz_structured((const uint8_t *)in + 1, size - 1);
	fz_assertion(in, size);
	fz_jwk(in, size);
	fz_b64(in, size);
	rc = jws_split(in, size, &parts, &why);
	fz_reason(rc, why);
	free(in);
	return 0;
}
