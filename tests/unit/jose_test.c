/*
 * jose_test.c - base64url, SHA-256, ES256, P-256 JWKs and thumbprints,
 * compact JWS splitting.
 *
 * Known answers come from RFC 4648 §10 (base64url spelling of its base64
 * vectors), FIPS 180-2 (SHA-256 "abc") and RFC 7515 Appendix A.3 (an ES256
 * JWS and its P-256 key); the RFC 7638 thumbprint of that key was computed
 * independently with Python's hashlib when this test was written.  Inputs
 * of the parsers sit flush against a PROT_NONE page so an over-read faults.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../common/jose.h"
#include "check.h"
#include "testutil.h"

/* ---- inputs against a guard page ---- */

static int b64_dec_guarded(const char *s, uint8_t *out, size_t cap)
{
	struct guarded g;
	int rc;

	rc = b64url_decode(guard_copy(&g, s, strlen(s)), strlen(s), out, cap);
	guard_free(&g);
	return rc;
}

static void hex_to_bin(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* ---- base64url ---- */

static void test_b64url_vectors(void)
{
	/* RFC 4648 §10; no padding per RFC 7515 §2. */
	static const char *const vec[][2] = {
		{ "", "" },         { "f", "Zg" },        { "fo", "Zm8" },
		{ "foo", "Zm9v" },  { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	char enc[16];
	uint8_t dec[16];

	for (size_t i = 0; i < IG_ARRAY_LEN(vec); i++) {
		size_t n = strlen(vec[i][0]);

		CHECK_EQ(b64url_encode((const uint8_t *)vec[i][0], n, enc),
			 strlen(vec[i][1]));
		CHECK_STR(enc, vec[i][1]);
		CHECK_EQ(b64url_enc_len(n), strlen(vec[i][1]));
		CHECK_EQ(b64_dec_guarded(vec[i][1], dec, sizeof(dec)), n);
		CHECK(memcmp(dec, vec[i][0], n) == 0);
		/* An exact-size buffer is enough. */
		CHECK_EQ(b64_dec_guarded(vec[i][1], dec, n), n);
	}
	/* The URL-safe alphabet: '-' and '_' where base64 has '+' and '/'. */
	b64url_encode((const uint8_t *)"\xfb\xff", 2, enc);
	CHECK_STR(enc, "-_8");
	b64url_encode((const uint8_t *)"\xff\xfe\xfd", 3, enc);
	CHECK_STR(enc, "__79");
	CHECK_EQ(b64_dec_guarded("__79", dec, sizeof(dec)), 3);
	CHECK(memcmp(dec, "\xff\xfe\xfd", 3) == 0);
	CHECK_EQ(b64_dec_guarded("-_8", dec, sizeof(dec)), 2);
	CHECK(memcmp(dec, "\xfb\xff", 2) == 0);
}

static void test_b64url_rejects(void)
{
	static const char *const bad[] = {
		"Zg==",   /* padding */
		"Zm8=",   /* padding */
		"Z",      /* length % 4 == 1 */
		"Zm9vY",  /* length % 4 == 1 */
		"Zh",     /* non-zero unused bits (canonical is "Zg") */
		"Zm9",    /* non-zero unused bits (canonical is "Zm8") */
		"AB",     /* non-zero unused bits (canonical is "AA") */
		"AAB",    /* non-zero unused bits (canonical is "AAA") */
		"+_8",    /* base64 '+', not base64url */
		"-/8",    /* base64 '/' */
		"Zm 9v",  /* whitespace */
		"Zm9v\n", /* trailing newline */
		"Zm\xc3\xa9", /* non-ASCII */
	};
	uint8_t dec[16];

	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++)
		CHECK_EQ(b64_dec_guarded(bad[i], dec, sizeof(dec)), IG_EPROTO);
	/* An embedded NUL counts, it does not end the input. */
	CHECK_EQ(b64url_decode("Zm9v\0\0\0\0", 8, dec, sizeof(dec)), IG_EPROTO);
	/* Output longer than the caller's buffer. */
	CHECK_EQ(b64_dec_guarded("Zm9vYmFy", dec, 5), IG_EPROTO);
	CHECK_EQ(b64_dec_guarded("Zm9vYg", dec, 3), IG_EPROTO);
}

/* ---- base64 (RFC 4648 §4), padded, strict ---- */

static int b64std_guarded(const char *s, size_t n, uint8_t *out, size_t cap)
{
	struct guarded g;
	int rc;

	rc = b64_decode(guard_copy(&g, s, n), n, out, cap);
	guard_free(&g);
	return rc;
}

static void test_b64_vectors(void)
{
	/* RFC 4648 §10, with padding. */
	static const char *const vec[][2] = {
		{ "", "" },           { "f", "Zg==" },        { "fo", "Zm8=" },
		{ "foo", "Zm9v" },    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "+/8=" },
		{ "\xff\xfe\xfd", "//79" },
	};
	uint8_t dec[16];
	char enc[b64_enc_len(6) + 1];

	for (size_t i = 0; i < IG_ARRAY_LEN(vec); i++) {
		size_t n = strlen(vec[i][0]);

		CHECK_EQ(b64std_guarded(vec[i][1], strlen(vec[i][1]), dec, n), n);
		CHECK(memcmp(dec, vec[i][0], n) == 0);
		/* and back, padded, NUL-ended */
		CHECK_EQ(b64_encode((const uint8_t *)vec[i][0], n, enc), strlen(vec[i][1]));
		CHECK(strcmp(enc, vec[i][1]) == 0);
		CHECK(strlen(enc) <= b64_enc_len(n));
	}
}

static void test_b64_rejects(void)
{
	/* RFC 4648 §3.3: "Implementations MUST reject the encoded data if it
	 * contains characters outside the base alphabet"; §3.2, §3.5. */
	static const char *const bad[] = {
		"Zg",       /* padding missing */
		"Zm8",      /* padding missing */
		"Zg=",      /* padding short */
		"Zg===",    /* padding long */
		"Zm8==",    /* padding where the group is full */
		"Z===",     /* one character: never a byte */
		"Zg=a",     /* '=' inside */
		"Zm=v",     /* '=' inside */
		"=Zm9",     /* '=' first */
		"Zh==",     /* non-zero pad bits (canonical "Zg==") */
		"Zm9=",     /* non-zero pad bits (canonical "Zm8=") */
		"-_8=",     /* base64url's alphabet */
		"Zm9v Zg==", /* a space */
		" Zm9v",    /* leading space */
		"Zm9v\n",   /* trailing newline */
		"Zm9v\r\nZg==", /* a line break */
		"Zm9v\tYg==", /* a tab */
		"Zm9v*g==", /* outside the alphabet */
		"Zm\xc3\xa9", /* non-ASCII */
	};
	uint8_t dec[16];

	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++)
		CHECK_EQ(b64std_guarded(bad[i], strlen(bad[i]), dec, sizeof(dec)), IG_EPROTO);
	/* An embedded NUL counts. */
	CHECK_EQ(b64std_guarded("Zm9v\0\0\0\0", 8, dec, sizeof(dec)), IG_EPROTO);
	CHECK_EQ(b64std_guarded("Zg==\0", 5, dec, sizeof(dec)), IG_EPROTO);
	/* Output longer than the caller's buffer: a 32-byte hash plus one. */
	CHECK_EQ(b64std_guarded("Zm9vYmFy", 8, dec, 5), IG_EPROTO);
	CHECK_EQ(b64std_guarded("Zm9vYg==", 8, dec, 3), IG_EPROTO);
}

/* ---- SHA-256, P-256, ES256 ---- */

/* RFC 7515 Appendix A.3.1: the example ES256 key. */
#define RX "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RY "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
static const char rfc_x[] = RX;
static const char rfc_y[] = RY;
static const char rfc_d[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
/* Appendix A.3: its signing input and signature. */
static const char rfc_input[] =
	"eyJhbGciOiJFUzI1NiJ9"
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char rfc_sig[] =
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
	"xfKTUJqPP3-Kg6NU1Q";
/* The order n of P-256 (SEC 2 §2.4.2). */
static const char p256_n[] =
	"ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

static void rfc_key(struct p256_pub *pub, uint8_t d[32])
{
	CHECK_EQ(b64url_decode(rfc_x, strlen(rfc_x), pub->x, 32), 32);
	CHECK_EQ(b64url_decode(rfc_y, strlen(rfc_y), pub->y, 32), 32);
	if (d)
		CHECK_EQ(b64url_decode(rfc_d, strlen(rfc_d), d, 32), 32);
}

static void test_sha256(void)
{
	uint8_t want[32], got[32];

	/* FIPS 180-2 Appendix B.1. */
	hex_to_bin("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		   want, 32);
	sha256((const uint8_t *)"abc", 3, got);
	CHECK(memcmp(got, want, 32) == 0);
}

static void test_hmac_sha256(void)
{
	static const struct ig_piece whole[] = { { "what do ya want for nothing?", 28 } };
	static const struct ig_piece parts[] = {
		{ "what do ", 8 }, { "", 0 }, { "ya want for nothing?", 20 },
	};
	uint8_t want[32], got[32];

	/* RFC 4231 §4.3, test case 2: whole, and in pieces. */
	hex_to_bin("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		   want, 32);
	hmac_sha256((const uint8_t *)"Jefe", 4, whole, 1, got);
	CHECK(memcmp(got, want, 32) == 0);
	memset(got, 0, sizeof(got));
	hmac_sha256((const uint8_t *)"Jefe", 4, parts, 3, got);
	CHECK(memcmp(got, want, 32) == 0);
}

static void test_segment_json(void)
{
	static const struct { const char *seg; enum jws_seg want; } v[] = {
		{ "eyJhIjoxfQ", JWS_SEG_OK },           /* {"a":1} */
		{ "eyJhIjoxfQ==", JWS_SEG_B64 },        /* padding is not base64url */
		{ "eyJhIjox", JWS_SEG_JSON },           /* {"a":1 */
		{ "eyJhIjoxLCJhIjoyfQ", JWS_SEG_DUP },  /* {"a":1,"a":2} */
		{ "WzFd", JWS_SEG_NOTOBJ },             /* [1] */
		{ "", JWS_SEG_JSON },
	};
	struct json_t *o;
	char big[JWS_SEG_MAX + 2];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_EQ(jws_segment_json(v[i].seg, strlen(v[i].seg), &o), v[i].want);
		CHECK((o != NULL) == (v[i].want == JWS_SEG_OK));
		json_decref(o);
	}
	memset(big, 'A', sizeof(big));
	CHECK_EQ(jws_segment_json(big, sizeof(big), &o), JWS_SEG_B64);
	CHECK(o == NULL);
}

static void test_point_valid(void)
{
	struct p256_pub pub;

	rfc_key(&pub, NULL);
	CHECK_EQ(p256_point_valid(&pub), 1);
	pub.y[31] ^= 1; /* off the curve */
	CHECK_EQ(p256_point_valid(&pub), 0);
	/* y = p: the right residue but not a field element. */
	memset(pub.y, 0, 32);
	hex_to_bin("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
		   pub.y, 32);
	CHECK_EQ(p256_point_valid(&pub), 0);
	memset(&pub, 0, sizeof(pub)); /* (0, 0) is not on P-256 */
	CHECK_EQ(p256_point_valid(&pub), 0);
}

static void test_es256_known_answer(void)
{
	struct p256_pub pub;
	uint8_t sig[64];

	rfc_key(&pub, NULL);
	CHECK_EQ(b64url_decode(rfc_sig, strlen(rfc_sig), sig, 64), 64);
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)rfc_input,
			      strlen(rfc_input), sig), IG_OK);
	/* The same signature over one changed byte of the input. */
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)rfc_input,
			      strlen(rfc_input) - 1, sig), IG_EPROTO);
}

static void test_es256_round_trip(void)
{
	static const uint8_t msg[] = "header.payload";
	struct p256_pub pub, other, rfc;
	uint8_t d[32], d2[32], drfc[32], sig[64], bad[64], n[32];

	CHECK_EQ(p256_keygen(d, &pub), IG_OK);
	CHECK_EQ(p256_point_valid(&pub), 1);
	CHECK_EQ(p256_keygen(d2, &other), IG_OK);
	CHECK(memcmp(d, d2, 32) != 0);
	CHECK_EQ(es256_sign(d, msg, sizeof(msg) - 1, sig), IG_OK);
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, sig), IG_OK);

	/* A flipped bit anywhere in the signature or the message. */
	for (size_t i = 0; i < 64; i += 9) {
		memcpy(bad, sig, 64);
		bad[i] ^= 0x10;
		CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad),
			 IG_EPROTO);
	}
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)"header.paylOad",
			      sizeof(msg) - 1, sig), IG_EPROTO);
	/* The wrong key. */
	CHECK_EQ(es256_verify(&other, msg, sizeof(msg) - 1, sig), IG_EPROTO);

	/* r and s must lie in [1, n-1] (SEC 1 §4.1.4 step 1). */
	hex_to_bin(p256_n, n, 32);
	memcpy(bad, sig, 64);
	memset(bad, 0, 32); /* r = 0 */
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad), IG_EPROTO);
	memcpy(bad, sig, 64);
	memset(bad + 32, 0, 32); /* s = 0 */
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad), IG_EPROTO);
	memcpy(bad, sig, 64);
	memcpy(bad + 32, n, 32); /* s = n */
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad), IG_EPROTO);
	memcpy(bad, n, 32); /* r = n */
	memcpy(bad + 32, sig + 32, 32);
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad), IG_EPROTO);
	memset(bad, 0xff, 64); /* r, s > n */
	CHECK_EQ(es256_verify(&pub, msg, sizeof(msg) - 1, bad), IG_EPROTO);

	/* A point off the curve is refused even with a good signature. */
	other = pub;
	other.y[31] ^= 1;
	CHECK_EQ(es256_verify(&other, msg, sizeof(msg) - 1, sig), IG_EPROTO);

	/* Signing with a known key verifies under its published point. */
	rfc_key(&rfc, drfc);
	CHECK_EQ(es256_sign(drfc, (const uint8_t *)rfc_input,
			    strlen(rfc_input), sig), IG_OK);
	CHECK_EQ(es256_verify(&rfc, (const uint8_t *)rfc_input,
			      strlen(rfc_input), sig), IG_OK);

	/* Private scalars 0 and n are not keys. */
	memset(d2, 0, 32);
	CHECK_EQ(es256_sign(d2, msg, sizeof(msg) - 1, sig), IG_EINTERNAL);
	CHECK_EQ(es256_sign(n, msg, sizeof(msg) - 1, sig), IG_EINTERNAL);
}

/* es256_verify from several threads at once (the sanitizer builds would
 * see shared state; the results must all be right). */
struct verify_job {
	struct p256_pub pub;
	uint8_t sig[64];
	int ok;
};

static void *verify_thread(void *arg)
{
	struct verify_job *j = arg;
	uint8_t bad[64];

	memcpy(bad, j->sig, 64);
	bad[63] ^= 1;
	j->ok = 1;
	for (int i = 0; i < 8; i++) {
		if (es256_verify(&j->pub, (const uint8_t *)"m", 1, j->sig) != IG_OK)
			j->ok = 0;
		if (es256_verify(&j->pub, (const uint8_t *)"m", 1, bad) != IG_EPROTO)
			j->ok = 0;
	}
	return NULL;
}

static void test_es256_threads(void)
{
	struct verify_job jobs[3];
	pthread_t t[3];
	uint8_t d[32];

	for (int i = 0; i < 3; i++) {
		CHECK_EQ(p256_keygen(d, &jobs[i].pub), IG_OK);
		CHECK_EQ(es256_sign(d, (const uint8_t *)"m", 1, jobs[i].sig), IG_OK);
		CHECK_EQ(pthread_create(&t[i], NULL, verify_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(jobs[i].ok, 1);
	}
}

/* ---- JWKs ---- */

static int jwk_guarded(const char *json, struct p256_pub *pub,
		       const char **why)
{
	struct guarded g;
	int rc;

	*why = NULL;
	rc = jwk_parse_p256(guard_copy(&g, json, strlen(json)), strlen(json),
			    pub, why);
	guard_free(&g);
	return rc;
}

static void test_jwk_parse_ok(void)
{
	struct p256_pub pub, rfc;
	const char *why;
	char json[512];

	rfc_key(&rfc, NULL);
	snprintf(json, sizeof(json),
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
		 rfc_x, rfc_y);
	CHECK_EQ(jwk_guarded(json, &pub, &why), IG_OK);
	CHECK(memcmp(&pub, &rfc, sizeof(pub)) == 0);
	/* Other members, order and whitespace do not matter. */
	snprintf(json, sizeof(json),
		 " { \"y\" : \"%s\", \"use\":\"sig\", \"kid\":\"k1\",\n"
		 "\"x\":\"%s\", \"crv\":\"P-256\", \"kty\":\"EC\", \"alg\":\"ES256\" } ",
		 rfc_y, rfc_x);
	CHECK_EQ(jwk_guarded(json, &pub, &why), IG_OK);
	CHECK(memcmp(&pub, &rfc, sizeof(pub)) == 0);
}

#define EC_P256 "\"kty\":\"EC\",\"crv\":\"P-256\","
#define XY "\"x\":\"" RX "\",\"y\":\"" RY "\""

static void test_jwk_parse_rejects(void)
{
	/* Each: a JWK, the expected reason. */
	static const char *const cases[][2] = {
		{ "{" EC_P256 "\"y\":\"" RY "\"}", "jwk lacks x" },
		{ "{" EC_P256 "\"x\":\"" RX "\"}", "jwk lacks y" },
		{ "{\"kty\":\"EC\",\"crv\":\"P-384\"," XY "}",
		  "jwk crv must be P-256" },
		{ "{\"kty\":\"EC\"," XY "}", "jwk crv must be P-256" },
		{ "{\"kty\":\"EC\",\"crv\":\"p-256\"," XY "}",
		  "jwk crv must be P-256" },
		{ "{\"kty\":\"RSA\",\"crv\":\"P-256\"," XY "}",
		  "jwk kty must be EC" },
		{ "{\"crv\":\"P-256\"," XY "}", "jwk kty must be EC" },
		{ "{\"kty\":[\"EC\"],\"crv\":\"P-256\"," XY "}",
		  "jwk kty must be EC" },
		{ "{\"kty\":\"EC\\u0000\",\"crv\":\"P-256\"," XY "}",
		  "jwk is not valid JSON" },
		{ "{" EC_P256 XY ",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}",
		  "jwk must not contain the private key d" },
		{ "{" EC_P256 XY ",\"d\":null}",
		  "jwk must not contain the private key d" },
		/* y + 1: off the curve. */
		{ "{" EC_P256 "\"x\":\"" RX "\","
		  "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}",
		  "jwk point is not on P-256" },
		/* y = p. */
		{ "{" EC_P256 "\"x\":\"" RX "\","
		  "\"y\":\"_____wAAAAEAAAAAAAAAAAAAAAD_______________8\"}",
		  "jwk point is not on P-256" },
		{ "{" EC_P256 "\"x\":\"" RX "=\",\"y\":\"" RY "\"}",
		  "jwk x is not a 32-byte base64url coordinate" },
		{ "{" EC_P256 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVE+\","
		  "\"y\":\"" RY "\"}",
		  "jwk x is not a 32-byte base64url coordinate" },
		/* 33 and 31 bytes. */
		{ "{" EC_P256 "\"x\":\"AAAA" RX "\",\"y\":\"" RY "\"}",
		  "jwk x is not a 32-byte base64url coordinate" },
		{ "{" EC_P256 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA\","
		  "\"y\":\"" RY "\"}",
		  "jwk x is not a 32-byte base64url coordinate" },
		{ "{" EC_P256 "\"x\":7,\"y\":\"" RY "\"}",
		  "jwk x is not a 32-byte base64url coordinate" },
		{ "{" EC_P256 "\"x\":\"" RX "\",\"y\":\"" RY "==\"}",
		  "jwk y is not a 32-byte base64url coordinate" },
		{ "{" EC_P256 "\"x\":\"" RX "\",\"y\":\"" RX "\"}",
		  "jwk point is not on P-256" },
		{ "{" EC_P256 XY ",\"x\":\"" RX "\"}", "jwk has a duplicate member" },
		{ "{" EC_P256 XY ",\"\\u0078\":\"" RX "\"}",
		  "jwk has a duplicate member" },
		{ "{" EC_P256 XY "} {}", "jwk is not valid JSON" },
		{ "{" EC_P256 XY, "jwk is not valid JSON" },
		{ "[\"" RX "\",\"" RY "\"]", "jwk is not a JSON object" },
		{ "", "jwk is not valid JSON" },
	};
	struct p256_pub pub;
	const char *why;

	for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
		CHECK_EQ(jwk_guarded(cases[i][0], &pub, &why), IG_EPROTO);
		CHECK(why && strcmp(why, cases[i][1]) == 0);
		if (!why || strcmp(why, cases[i][1]) != 0)
			fprintf(stderr, "  case %zu: got \"%s\"\n", i,
				why ? why : "(null)");
	}
}

/* RFC 7638 §3.1 shows an RSA key; this is the same computation for the
 * P-256 key of RFC 7515 A.3, the expected value computed independently
 * (Python hashlib over the §3.2 canonical JSON). */
static void test_thumbprint(void)
{
	struct p256_pub pub;
	char tp[44];

	rfc_key(&pub, NULL);
	memset(tp, 'X', sizeof(tp));
	jwk_thumbprint_p256(&pub, tp);
	CHECK_STR(tp, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
}

static void test_jwk_format(void)
{
	struct p256_pub pub, back;
	const char *why;
	char json[256], want[256];
	int n;

	rfc_key(&pub, NULL);
	n = jwk_format_p256(&pub, NULL, json, sizeof(json));
	snprintf(want, sizeof(want),
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
		 rfc_x, rfc_y);
	CHECK_EQ(n, strlen(want));
	CHECK_STR(json, want);
	CHECK_EQ(jwk_format_p256(&pub, "", json, sizeof(json)), n);
	CHECK_STR(json, want);
	/* Exactly enough room, then one byte short. */
	CHECK_EQ(jwk_format_p256(&pub, NULL, json, (size_t)n + 1), n);
	CHECK_EQ(jwk_format_p256(&pub, NULL, json, (size_t)n), IG_ENOMEM);

	n = jwk_format_p256(&pub, "\"kid\":\"k1\",\"use\":\"sig\"", json,
			    sizeof(json));
	CHECK(n > 0);
	CHECK(strstr(json, ",\"kid\":\"k1\",\"use\":\"sig\"}") != NULL);
	CHECK_EQ(jwk_parse_p256(json, (size_t)n, &back, &why), IG_OK);
	CHECK(memcmp(&pub, &back, sizeof(pub)) == 0);
}

/* ---- compact JWS ---- */

static int split_guarded(const char *s, struct jws_parts *p, const char **why)
{
	struct guarded g;
	int rc;

	*why = NULL;
	rc = jws_split(guard_copy(&g, s, strlen(s)), strlen(s), p, why);
	if (rc == IG_OK) { /* make the views relative to <s> again */
		p->hdr = s + (p->hdr - g.p);
		p->payload = s + (p->payload - g.p);
		p->sig = s + (p->sig - g.p);
	}
	guard_free(&g);
	return rc;
}

static void test_jws_split(void)
{
	static const char *const bad[][2] = {
		{ "", "JWS is empty" },
		{ "abc", "JWS must have three segments" },
		{ "a.b", "JWS must have three segments" },
		{ "a.b.c.d", "JWS must have three segments" },
		{ "a.b.c.", "JWS must have three segments" },
		{ "..", "JWS header is empty" },
		{ ".b.c", "JWS header is empty" },
		{ "a..c", "JWS payload is empty" },
	};
	struct jws_parts p;
	const char *why;
	const char *s = "hh.ppp.ssss";

	CHECK_EQ(split_guarded(s, &p, &why), IG_OK);
	CHECK(p.hdr == s && p.hdr_len == 2);
	CHECK(p.payload == s + 3 && p.payload_len == 3);
	CHECK(p.sig == s + 7 && p.sig_len == 4);
	CHECK_EQ(p.signing_input_len, 6);
	/* An empty signature segment splits; alg checks refuse it later. */
	CHECK_EQ(split_guarded("h.p.", &p, &why), IG_OK);
	CHECK_EQ(p.sig_len, 0);
	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		CHECK_EQ(split_guarded(bad[i][0], &p, &why), IG_EPROTO);
		CHECK(why && strcmp(why, bad[i][1]) == 0);
	}
	CHECK_EQ(jws_split(NULL, 0, &p, &why), IG_EPROTO);
	/* The length bounds the input: a third dot after it is not seen. */
	CHECK_EQ(jws_split("a.b.c.d", 5, &p, &why), IG_OK);
	CHECK_EQ(p.sig_len, 1);
}

int main(void)
{
	test_b64url_vectors();
	test_b64url_rejects();
	test_b64_vectors();
	test_b64_rejects();
	test_sha256();
	test_hmac_sha256();
	test_segment_json();
	test_point_valid();
	test_es256_known_answer();
	test_es256_round_trip();
	test_es256_threads();
	test_jwk_parse_ok();
	test_jwk_parse_rejects();
	test_thumbprint();
	test_jwk_format();
	test_jws_split();
	return check_done("jose");
}
