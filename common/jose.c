/*
 * jose.c - base64url, ES256, P-256 JWKs and RFC 7638 thumbprints, compact
 * JWS splitting.  See jose.h for the contracts.
 *
 * State: none.  The P-256 group is loaded on the stack on every call: in
 * mbedTLS 3.6 (ecp_curves.c, ecp_group_load) that only points the group at
 * the library's static constants and static comb table, allocates nothing
 * and costs a few dozen instructions, so a cache (thread-local or shared)
 * would buy nothing and cost a destructor.  Randomness for the client-side
 * operations comes from rand.h (the kernel's CSPRNG): no DRBG state either.
 */
#include "jose.h"
#include "p256.h"
#include "rand.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

/* ---- base64url, RFC 4648 §5 ---- */

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* One plus the value of each alphabet byte; 0 for every other byte (so the
 * table needs no initializer for the 192 bytes outside the alphabet). */
static const uint8_t b64url_value1[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

/* Either alphabet, with base64's '=' padding or without (base64url in
 * JOSE, RFC 7515 §2: "with all trailing '=' characters omitted"). */
static size_t b64_encode_with(const uint8_t *in, size_t n, char *out, const char *alphabet,
			      int pad)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		out[o++] = alphabet[in[i] >> 2];
		out[o++] = alphabet[(in[i] & 3) << 4];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = alphabet[v >> 10];
		out[o++] = alphabet[(v >> 4) & 63];
		out[o++] = alphabet[(v << 2) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
	return b64_encode_with(in, n, out, b64url_alphabet, 0);
}

size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	return b64_encode_with(in, n, out, alphabet, 1);
}

/* Decode <k> alphabet characters of <in> into 6-bit values; -1 if any
 * byte lies outside the alphabet (padding '=' included).  <std>: base64's
 * alphabet (RFC 4648 §4: '+' and '/' for 62 and 63), else base64url's (§5:
 * '-' and '_'). */
static int b64_sextets(const char *in, size_t k, uint8_t v[4], int std)
{
	for (size_t i = 0; i < k; i++) {
		uint8_t c = (uint8_t)in[i], x = b64url_value1[c];

		if (std && (c == '-' || c == '_'))
			x = 0;
		else if (std && (c == '+' || c == '/'))
			x = c == '+' ? 63 : 64;
		if (x == 0)
			return -1;
		v[i] = x - 1;
	}
	return 0;
}

/* Either alphabet without padding: b64url_decode's rules. */
static int b64_decode_bare(const char *in, size_t n, uint8_t *out, size_t cap, int std)
{
	size_t rem = n % 4, full = n - rem, i, o = 0;
	uint8_t v[4];

	/* One leftover character carries only 6 bits: never a whole byte. */
	if (rem == 1)
		return IG_EPROTO;
	/* The decoded length is returned as an int. */
	if (n > (size_t)1 << 30 || b64url_dec_max(n) > cap)
		return IG_EPROTO;
	for (i = 0; i < full; i += 4) {
		if (b64_sextets(in + i, 4, v, std) < 0)
			return IG_EPROTO;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		out[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	if (rem == 0)
		return (int)o;
	if (b64_sextets(in + full, rem, v, std) < 0)
		return IG_EPROTO;
	/*
	 * RFC 4648 §3.5: the pad bits of the last character are zero in a
	 * canonical encoding.  Accepting others would give one byte string
	 * several spellings (a JWS malleability we do not want).
	 */
	if (rem == 2) {
		if (v[1] & 0x0f)
			return IG_EPROTO;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	} else {
		if (v[2] & 0x03)
			return IG_EPROTO;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
	}
	return (int)o;
}

int b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	return b64_decode_bare(in, n, out, cap, 0);
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t pad = n >= 1 && in[n - 1] == '=' ? 1 + (n >= 2 && in[n - 2] == '=') : 0;

	/* RFC 4648 §3.2: padded to a multiple of 4 (so the last group, after
	 * one or two '=', holds three or two characters: one or two bytes);
	 * §3.3: no '=' elsewhere, no character outside the alphabet, no
	 * whitespace or line break (all refused by b64_sextets); §3.5: zero
	 * pad bits. */
	if (n % 4)
		return IG_EPROTO;
	return b64_decode_bare(in, n - pad, out, cap, 1);
}

/* ---- SHA-256 and P-256 ---- */

enum jws_seg jws_segment_json(const char *seg, size_t n, json_t **out)
{
	uint8_t buf[b64url_dec_max(JWS_SEG_MAX)];
	json_error_t err;
	json_t *j;
	int len;

	*out = NULL;
	if (n > JWS_SEG_MAX || (len = b64url_decode(seg, n, buf, sizeof(buf))) < 0)
		return JWS_SEG_B64;
	j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		return json_error_code(&err) == json_error_duplicate_key ? JWS_SEG_DUP
									  : JWS_SEG_JSON;
	if (!json_is_object(j)) {
		json_decref(j);
		return JWS_SEG_NOTOBJ;
	}
	*out = j;
	return JWS_SEG_OK;
}

void sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
	/* Cannot fail for SHA-256 in a software build (no _ALT module). */
	(void)mbedtls_sha256(msg, len, out, 0);
}

void hmac_sha256(const uint8_t *key, size_t key_len, const struct ig_piece *v, size_t n,
		 uint8_t out[32])
{
	mbedtls_md_context_t ctx;

	/* Cannot fail for SHA-256 once set up; a set-up without memory
	 * leaves <out> zero, which no caller mistakes for a key (they fail
	 * the self-tests and the MACs that use it). */
	memset(out, 0, 32);
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) == 0 &&
	    mbedtls_md_hmac_starts(&ctx, key, key_len) == 0) {
		for (size_t i = 0; i < n; i++)
			(void)mbedtls_md_hmac_update(&ctx, v[i].p, v[i].len);
		(void)mbedtls_md_hmac_finish(&ctx, out);
	}
	mbedtls_md_free(&ctx);
}

/* Load <pub> into <q> and check it lies on P-256 (SEC 1 §3.2.2.1: both
 * coordinates below p and y^2 = x^3 - 3x + b).  0 or an mbedTLS error. */
static int jose_load_point(const mbedtls_ecp_group *grp,
			   const struct p256_pub *pub, mbedtls_ecp_point *q)
{
	int rc;

	rc = mbedtls_mpi_read_binary(&q->MBEDTLS_PRIVATE(X), pub->x, 32);
	if (rc == 0)
		rc = mbedtls_mpi_read_binary(&q->MBEDTLS_PRIVATE(Y), pub->y, 32);
	if (rc == 0)
		rc = mbedtls_mpi_lset(&q->MBEDTLS_PRIVATE(Z), 1);
	if (rc == 0)
		rc = mbedtls_ecp_check_pubkey(grp, q);
	return rc;
}

int p256_point_valid(const struct p256_pub *pub)
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	int rc;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
	if (rc == 0)
		rc = jose_load_point(&grp, pub, &q);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return rc == 0;
}

int es256_verify(const struct p256_pub *pub, const uint8_t *msg, size_t len,
		 const uint8_t sig[64])
{
	uint8_t hash[32];

	/* RFC 7518 §3.4: the signature is R || S, each 32 bytes big-endian;
	 * p256_verify checks the point and r, s in [1, n-1]. */
	sha256(msg, len, hash);
	return p256_verify(pub->x, pub->y, hash, sig) == 0 ? IG_OK : IG_EPROTO;
}

int es256_sign(const uint8_t d[32], const uint8_t *msg, size_t len,
	       uint8_t sig[64])
{
	mbedtls_ecp_group grp;
	mbedtls_mpi priv, r, s;
	uint8_t hash[32];
	int rc;

	sha256(msg, len, hash);
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&priv);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
	if (rc == 0)
		rc = mbedtls_mpi_read_binary(&priv, d, 32);
	if (rc == 0)
		rc = mbedtls_ecp_check_privkey(&grp, &priv);
	/* RFC 6979 deterministic nonces: a weak RNG on a client can then
	 * not leak the key; the RNG only blinds the scalar multiplication. */
	if (rc == 0)
		rc = mbedtls_ecdsa_sign_det_ext(&grp, &r, &s, &priv, hash,
						sizeof(hash), MBEDTLS_MD_SHA256,
						ig_rng, NULL);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&r, sig, 32);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&s, sig + 32, 32);
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&priv); /* zeroizes the limbs */
	mbedtls_ecp_group_free(&grp);
	return rc == 0 ? IG_OK : IG_EINTERNAL;
}

int p256_keygen(uint8_t d[32], struct p256_pub *pub)
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi priv;
	int rc;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&priv);
	rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
	if (rc == 0)
		rc = mbedtls_ecp_gen_keypair(&grp, &priv, &q, ig_rng, NULL);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&priv, d, 32);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&q.MBEDTLS_PRIVATE(X), pub->x, 32);
	if (rc == 0)
		rc = mbedtls_mpi_write_binary(&q.MBEDTLS_PRIVATE(Y), pub->y, 32);
	mbedtls_mpi_free(&priv);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	if (rc != 0) {
		mbedtls_platform_zeroize(d, 32);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

/* ---- P-256 JWKs, RFC 7517 and RFC 7518 §6.2 ---- */

/* Decode the coordinate member <name> of <jwk> into <out>.  RFC 7518
 * §6.2.1.2: "MUST be the full size of a coordinate", 32 bytes for P-256. */
static int jwk_coord(json_t *jwk, const char *name, uint8_t out[32])
{
	json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v))
		return IG_EPROTO;
	if (b64url_decode(json_string_value(v), json_string_length(v), out,
			  32) != 32)
		return IG_EPROTO;
	return IG_OK;
}

/* Is member <name> of <obj> the string <want>, byte for byte? */
static int jwk_str_is(json_t *obj, const char *name, const char *want)
{
	json_t *v = json_object_get(obj, name);
	size_t n = strlen(want);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), want, n) == 0;
}

static int jwk_check(json_t *jwk, struct p256_pub *out, const char **why)
{
	IG_ENSURE(json_is_object(jwk), IG_EPROTO, why,
		  "jwk is not a JSON object");
	IG_ENSURE(jwk_str_is(jwk, "kty", "EC"), IG_EPROTO, why,
		  "jwk kty must be EC");
	IG_ENSURE(jwk_str_is(jwk, "crv", "P-256"), IG_EPROTO, why,
		  "jwk crv must be P-256");
	/* A device's private key must never leave it (RFC 7518 §6.2.2.1). */
	IG_ENSURE(!json_object_get(jwk, "d"), IG_EPROTO, why,
		  "jwk must not contain the private key d");
	IG_ENSURE(json_object_get(jwk, "x"), IG_EPROTO, why, "jwk lacks x");
	IG_ENSURE(json_object_get(jwk, "y"), IG_EPROTO, why, "jwk lacks y");
	IG_ENSURE(jwk_coord(jwk, "x", out->x) == IG_OK, IG_EPROTO, why,
		  "jwk x is not a 32-byte base64url coordinate");
	IG_ENSURE(jwk_coord(jwk, "y", out->y) == IG_OK, IG_EPROTO, why,
		  "jwk y is not a 32-byte base64url coordinate");
	/* Invalid-curve attacks: never use a point we have not checked. */
	IG_ENSURE(p256_point_valid(out), IG_EPROTO, why,
		  "jwk point is not on P-256");
	return IG_OK;
}

int jwk_parse_p256(const char *json, size_t len, struct p256_pub *out,
		   const char **why)
{
	json_error_t err;
	json_t *jwk;
	int rc;

	/* RFC 7159 §4 leaves duplicate names to the parser; refuse them so
	 * no two readers of one JWK can disagree on its members. */
	jwk = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!jwk) {
		if (why)
			*why = json_error_code(&err) == json_error_duplicate_key ?
				       "jwk has a duplicate member" :
				       "jwk is not valid JSON";
		return IG_EPROTO;
	}
	rc = jwk_check(jwk, out, why);
	json_decref(jwk);
	if (rc != IG_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

void jwk_thumbprint_p256(const struct p256_pub *pub, char out[44])
{
	/* RFC 7638 §3.2: the required members only, in lexicographic order,
	 * no whitespace. */
	char json[sizeof("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\",\"y\":\"\"}") +
		  2 * 43];
	char x[44], y[44];
	uint8_t hash[32];
	int n;

	b64url_encode(pub->x, 32, x);
	b64url_encode(pub->y, 32, y);
	n = snprintf(json, sizeof(json),
		     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		     x, y);
	sha256((const uint8_t *)json, (size_t)n, hash);
	b64url_encode(hash, sizeof(hash), out);
}

int jwk_format_p256(const struct p256_pub *pub, const char *extra, char *out,
		    size_t cap)
{
	char x[44], y[44];
	int n;

	b64url_encode(pub->x, 32, x);
	b64url_encode(pub->y, 32, y);
	n = snprintf(out, cap,
		     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s%s}",
		     x, y, extra && *extra ? "," : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= cap)
		return IG_ENOMEM;
	return n;
}

/* ---- compact JWS, RFC 7515 §7.1 ---- */

int jws_split(const char *jws, size_t len, struct jws_parts *out,
	      const char **why)
{
	const char *dot1, *dot2;

	IG_ENSURE(jws && len > 0, IG_EPROTO, why, "JWS is empty");
	dot1 = memchr(jws, '.', len);
	IG_ENSURE(dot1, IG_EPROTO, why, "JWS must have three segments");
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jws));
	IG_ENSURE(dot2, IG_EPROTO, why, "JWS must have three segments");
	IG_ENSURE(!memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jws)),
		  IG_EPROTO, why, "JWS must have three segments");
	out->hdr = jws;
	out->hdr_len = (size_t)(dot1 - jws);
	out->payload = dot1 + 1;
	out->payload_len = (size_t)(dot2 - out->payload);
	out->sig = dot2 + 1;
	out->sig_len = len - (size_t)(out->sig - jws);
	out->signing_input_len = out->hdr_len + 1 + out->payload_len;
	IG_ENSURE(out->hdr_len > 0, IG_EPROTO, why, "JWS header is empty");
	IG_ENSURE(out->payload_len > 0, IG_EPROTO, why, "JWS payload is empty");
	return IG_OK;
}
