/*
 * pubkey_test.c - HSM public keys to SPKI, PEM, JWK, thumbprints and
 * PKCS#10 requests.
 *
 * Keys are made with libcrypto here and their public halves handed over
 * as the PKCS#11 attributes would carry them; every output is compared
 * with, or parsed back by, OpenSSL (and the `openssl req` command when it
 * is installed).  The known thumbprint is RFC 7638 §3.1's.  The attribute
 * parsers read inputs that sit flush against a PROT_NONE page; outputs go
 * to heap buffers of exactly the stated size, so ASan sees any overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../common/jose.h"
#include "../../hsm/pubkey.h"
#include "check.h"
#include "testutil.h"

static char tmpdir[64];

/* ---- PKCS#11-style attributes of libcrypto keys ---- */

struct ec_attrs {
	uint8_t params[16];
	size_t params_len;
	uint8_t raw[1 + 2 * 48]; /* 04||X||Y */
	size_t raw_len;
	uint8_t der[2 + 1 + 2 * 48]; /* the OCTET STRING around it */
	size_t der_len;
};

static void ec_attrs(EVP_PKEY *pkey, int nid, struct ec_attrs *a)
{
	unsigned char *p = a->params;
	int n = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), NULL);

	if (n <= 0 || (size_t)n > sizeof(a->params))
		abort();
	a->params_len = (size_t)i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &p);
	if (!EVP_PKEY_get_octet_string_param(pkey,
					     OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					     a->raw, sizeof(a->raw), &a->raw_len))
		abort();
	a->der[0] = 0x04;
	a->der[1] = (uint8_t)a->raw_len;
	memcpy(a->der + 2, a->raw, a->raw_len);
	a->der_len = a->raw_len + 2;
}

static size_t bn_param(EVP_PKEY *pkey, const char *name, uint8_t *out)
{
	BIGNUM *bn = NULL;
	size_t n;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		abort();
	n = (size_t)BN_bn2bin(bn, out);
	BN_free(bn);
	return n;
}

/* pubkey_from_ec with both attributes against guard pages. */
static int from_ec_guarded(struct pubkey *k, const uint8_t *params,
			   size_t plen, const uint8_t *pt, size_t len,
			   const char **why)
{
	struct guarded g1, g2;
	int rc;

	rc = pubkey_from_ec(k, (uint8_t *)guard_copy(&g1, params, plen), plen,
			    (uint8_t *)guard_copy(&g2, pt, len), len, why);
	guard_free(&g2);
	guard_free(&g1);
	return rc;
}

/* ---- a signer standing in for the HSM ---- */

struct signer {
	EVP_PKEY *key;
	int calls, fail, short_sig;
	uint8_t last[64];
	size_t last_len;
};

static int test_sign(void *vctx, const uint8_t *digest, size_t digest_len,
		     uint8_t *sig, size_t *sig_len)
{
	struct signer *s = vctx;
	EVP_PKEY_CTX *ctx;
	uint8_t der[600];
	size_t der_len = sizeof(der);
	int ok;

	s->calls++;
	if (digest_len <= sizeof(s->last)) {
		memcpy(s->last, digest, digest_len);
		s->last_len = digest_len;
	}
	if (s->fail)
		return IG_EBLOCKED;
	ctx = EVP_PKEY_CTX_new(s->key, NULL);
	ok = ctx && EVP_PKEY_sign_init(ctx) == 1;
	if (EVP_PKEY_is_a(s->key, "RSA")) {
		/* CKM_RSA_PKCS: pad and exponentiate what we are given, no
		 * hashing: no signature digest is set. */
		ok = ok &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_sign(ctx, sig, sig_len, digest, digest_len) == 1;
	} else {
		/* CKM_ECDSA: r||s, each the size of the curve's order. */
		size_t half = (size_t)(EVP_PKEY_get_bits(s->key) + 7) / 8;
		const unsigned char *p = der;
		ECDSA_SIG *es = NULL;

		ok = ok && EVP_PKEY_sign(ctx, der, &der_len, digest, digest_len) == 1 &&
		     (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
		     *sig_len >= 2 * half &&
		     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half) == (int)half &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half) == (int)half;
		*sig_len = 2 * half;
		ECDSA_SIG_free(es);
	}
	EVP_PKEY_CTX_free(ctx);
	if (s->short_sig)
		(*sig_len)--;
	return ok ? IG_OK : IG_EINTERNAL;
}

/* ---- checks shared by every key kind ---- */

static EVP_PKEY *pem_pubkey(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

	BIO_free(bio);
	return pkey;
}

/* The body lines of <pem> are 64 characters but the last (<= 64). */
static int pem_lines_ok(const char *pem)
{
	const char *p = strchr(pem, '\n') + 1, *nl;
	size_t last = 64;

	while ((nl = strchr(p, '\n')) && strncmp(p, "-----END ", 9)) {
		if (last != 64)
			return 0;
		last = (size_t)(nl - p);
		if (last == 0 || last > 64)
			return 0;
		p = nl + 1;
	}
	return nl && !strncmp(p, "-----END ", 9) && nl[1] == '\0';
}

static void check_spki_pem(const struct pubkey *k, EVP_PKEY *pkey)
{
	uint8_t der[PUBKEY_SPKI_MAX];
	unsigned char *ossl = NULL;
	char pem[PUBKEY_PEM_MAX];
	size_t len = 0;
	int olen, plen;
	EVP_PKEY *back;

	CHECK_EQ(pubkey_spki_der(k, der, sizeof(der), &len), IG_OK);
	olen = i2d_PUBKEY(pkey, &ossl);
	CHECK(olen > 0 && (size_t)olen == len && !memcmp(der, ossl, len));
	OPENSSL_free(ossl);

	plen = pubkey_pem(k, pem, sizeof(pem));
	CHECK(plen > 0 && (size_t)plen == strlen(pem));
	CHECK(!strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27));
	CHECK(plen > 25 && !strcmp(pem + plen - 25, "-----END PUBLIC KEY-----\n"));
	CHECK(pem_lines_ok(pem));
	back = pem_pubkey(pem);
	CHECK(back && EVP_PKEY_eq(back, pkey) == 1);
	EVP_PKEY_free(back);

	/* Every buffer one byte short, exactly sized on the heap. */
	for (size_t cap = 0; cap < len; cap++) {
		uint8_t *b = malloc(cap ? cap : 1);
		size_t got = 12345;

		CHECK_EQ(pubkey_spki_der(k, b, cap, &got), IG_EUSAGE);
		CHECK_EQ(got, 12345);
		free(b);
	}
	for (size_t cap = 0; cap <= (size_t)plen; cap++) {
		char *b = malloc(cap ? cap : 1);

		CHECK_EQ(pubkey_pem(k, b, cap), IG_EUSAGE);
		free(b);
	}
	{
		char *b = malloc((size_t)plen + 1);

		CHECK_EQ(pubkey_pem(k, b, (size_t)plen + 1), plen);
		CHECK_STR(b, pem);
		free(b);
	}
}

/* Decode JWK member <name> of <o>; the length or -1. */
static int jwk_member(json_t *o, const char *name, uint8_t *out, size_t cap)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v))
		return -1;
	return b64url_decode(json_string_value(v), json_string_length(v), out,
			     cap);
}

static void check_jwk_sizes(const struct pubkey *k)
{
	char full[PUBKEY_JWK_MAX + 64];
	int n = pubkey_jwk(k, "kid-1", full, sizeof(full));

	CHECK(n > 0);
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		char *b = malloc(cap ? cap : 1);

		CHECK_EQ(pubkey_jwk(k, "kid-1", b, cap), IG_EUSAGE);
		free(b);
	}
	{
		char *b = malloc((size_t)n + 1);

		CHECK_EQ(pubkey_jwk(k, "kid-1", b, (size_t)n + 1), n);
		CHECK_STR(b, full);
		free(b);
	}
}

/* The CRI of the request <req>, as signed, hashed with <md>. */
static size_t req_tbs_hash(X509_REQ *req, const EVP_MD *md, uint8_t *out)
{
	unsigned char *tbs = NULL;
	unsigned hlen = 0;
	int n = i2d_re_X509_REQ_tbs(req, &tbs);

	if (n <= 0 || !EVP_Digest(tbs, (size_t)n, out, &hlen, md, NULL))
		hlen = 0;
	OPENSSL_free(tbs);
	return hlen;
}

/*
 * Run `openssl req -verify` on <pem>: 1 verified, 0 not, -1 no command.
 * OpenSSL 3.0 exits 0 even when the signature does not verify, so the
 * verdict is read from what it prints.
 */
static int openssl_req_verify(const char *pem)
{
	char path[128], cmd[256], line[256];
	int ok = 0, bad = 0;
	FILE *f;

	if (access("/usr/bin/openssl", X_OK) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/req.pem", tmpdir);
	if (write_file(path, pem) != 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "/usr/bin/openssl req -verify -noout -in %s 2>&1",
		 path);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "verify OK"))
			ok = 1;
		else
			bad = 1; /* "verify failure", a parse error, ... */
	}
	if (pclose(f) != 0)
		bad = 1;
	unlink(path);
	return ok && !bad;
}

static void check_csr(const struct pubkey *k, EVP_PKEY *priv, EVP_PKEY *other,
		      int sig_nid, const EVP_MD *md)
{
	struct signer s = { .key = priv }, wrong = { .key = other };
	char pem[PUBKEY_CSR_MAX], oneline[256];
	const char *why = NULL;
	uint8_t hash[64];
	X509_REQ *req;
	BIO *bio;
	int n, v;

	n = pubkey_csr_pem(k, "CN=idgate.example,O=Example,C=HK", test_sign, &s,
			   pem, sizeof(pem), &why);
	CHECK(n > 0);
	if (n <= 0) {
		fprintf(stderr, "  csr: %s\n", why ? why : "?");
		return;
	}
	CHECK_EQ(s.calls, 1);
	CHECK_EQ((size_t)n, strlen(pem));
	CHECK(!strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36));
	CHECK(pem_lines_ok(pem));

	bio = BIO_new_mem_buf(pem, -1);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CHECK(req != NULL);
	if (!req)
		return;
	CHECK_EQ(X509_REQ_verify(req, priv), 1);
	CHECK_EQ(X509_REQ_get_signature_nid(req), sig_nid);
	CHECK_EQ(X509_REQ_get_version(req), 0);
	CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), priv) == 1);
	/* RFC 4514 order: the last attribute of the string comes first. */
	X509_NAME_oneline(X509_REQ_get_subject_name(req), oneline,
			  sizeof(oneline));
	CHECK_STR(oneline, "/C=HK/O=Example/CN=idgate.example");

	/* What the signer was given: the hash (EC) or the DigestInfo of
	 * the SHA-256 hash (RSA) of the CertificationRequestInfo. */
	if (EVP_PKEY_is_a(priv, "RSA")) {
		static const uint8_t prefix[19] = {
			0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
			0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
		};

		CHECK_EQ(s.last_len, 51);
		CHECK(!memcmp(s.last, prefix, 19));
		CHECK_EQ(req_tbs_hash(req, md, hash), 32);
		CHECK(!memcmp(s.last + 19, hash, 32));
	} else {
		CHECK_EQ(s.last_len, (size_t)EVP_MD_get_size(md));
		CHECK_EQ(req_tbs_hash(req, md, hash), s.last_len);
		CHECK(!memcmp(s.last, hash, s.last_len));
	}
	X509_REQ_free(req);

	v = openssl_req_verify(pem);
	if (v >= 0) {
		char *bad = strdup(pem);
		char *c = bad + n - 40; /* inside the signature's base64 */

		CHECK_EQ(v, 1);
		*c = *c == 'A' ? 'B' : 'A';
		CHECK_EQ(openssl_req_verify(bad), 0);
		free(bad);
	} else {
		printf("pubkey: no /usr/bin/openssl, `openssl req -verify` skipped\n");
	}

	/* A module that signs with the wrong key. */
	why = NULL;
	CHECK_EQ(pubkey_csr_pem(k, "CN=x", test_sign, &wrong, pem, sizeof(pem),
				&why),
		 IG_EPROTO);
	CHECK(why && !strcmp(why, "the HSM's signature does not verify"));
	/* One that fails, one whose signature has the wrong length. */
	s.fail = 1;
	CHECK_EQ(pubkey_csr_pem(k, "CN=x", test_sign, &s, pem, sizeof(pem), &why),
		 IG_EBLOCKED);
	s.fail = 0;
	s.short_sig = 1;
	why = NULL;
	CHECK_EQ(pubkey_csr_pem(k, "CN=x", test_sign, &s, pem, sizeof(pem), &why),
		 IG_EPROTO);
	CHECK(why && strstr(why, "wrong length"));
	s.short_sig = 0;

	/* Output buffers too small.  ECDSA signatures are randomized and
	 * their DER length varies by a byte or two, so for EC keys stay a
	 * few characters below the length just seen; RSA is deterministic. */
	n = pubkey_csr_pem(k, "CN=x", test_sign, &s, pem, sizeof(pem), &why);
	CHECK(n > 8);
	if (n > 8) {
		int rsa = EVP_PKEY_is_a(priv, "RSA");
		size_t caps[] = { 0, 1, 36, (size_t)n / 2,
				  rsa ? (size_t)n : (size_t)n - 8 };
		char *b;

		for (size_t i = 0; i < IG_ARRAY_LEN(caps); i++) {
			b = malloc(caps[i] ? caps[i] : 1);
			why = NULL;
			CHECK_EQ(pubkey_csr_pem(k, "CN=x", test_sign, &s, b,
						caps[i], &why),
				 IG_EUSAGE);
			CHECK(why && strstr(why, "too small"));
			free(b);
		}
		if (rsa) {
			b = malloc((size_t)n + 1);
			CHECK_EQ(pubkey_csr_pem(k, "CN=x", test_sign, &s, b,
						(size_t)n + 1, &why),
				 n);
			CHECK_STR(b, pem);
			free(b);
		}
	}
}

/* ---- EC ---- */

static void test_ec(const char *curve, int nid, int kind, const char *alg,
		    size_t clen, int sig_nid, const EVP_MD *md)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	struct pubkey k, k2;
	struct ec_attrs a;
	const char *why = NULL;
	char jwk[PUBKEY_JWK_MAX + 64], tp[44], tp2[44];
	uint8_t v[64];
	json_t *o;
	int n;

	if (!pkey || !other)
		abort();
	ec_attrs(pkey, nid, &a);
	CHECK_EQ(a.raw_len, 1 + 2 * clen);
	CHECK_EQ(from_ec_guarded(&k, a.params, a.params_len, a.der, a.der_len,
				 &why),
		 IG_OK);
	CHECK_EQ(k.kind, kind);
	CHECK_EQ(k.clen, clen);
	CHECK_STR(pubkey_alg_name(&k), alg);
	CHECK(!memcmp(k.x, a.raw + 1, clen) &&
	      !memcmp(k.y, a.raw + 1 + clen, clen));
	/* The bare point some modules return gives the same key. */
	CHECK_EQ(from_ec_guarded(&k2, a.params, a.params_len, a.raw, a.raw_len,
				 &why),
		 IG_OK);
	CHECK(!memcmp(&k, &k2, sizeof(k)));

	check_spki_pem(&k, pkey);

	n = pubkey_jwk(&k, NULL, jwk, sizeof(jwk));
	CHECK(n > 0 && (size_t)n == strlen(jwk));
	CHECK(!strncmp(jwk, "{\"kty\":\"EC\",\"crv\":\"", 19));
	o = json_loads(jwk, JSON_REJECT_DUPLICATES, NULL);
	CHECK(o && json_object_size(o) == 4);
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "crv")),
			   kind == PUBKEY_EC_P256 ? "P-256" : "P-384"));
	CHECK_EQ(jwk_member(o, "x", v, sizeof(v)), clen);
	CHECK(!memcmp(v, a.raw + 1, clen));
	CHECK_EQ(jwk_member(o, "y", v, sizeof(v)), clen);
	CHECK(!memcmp(v, a.raw + 1 + clen, clen));
	json_decref(o);
	n = pubkey_jwk(&k, "sig \"1\"", jwk, sizeof(jwk));
	CHECK(n > 0 && !strncmp(jwk, "{\"kid\":\"sig \\\"1\\\"\",\"kty\":\"EC\",", 30));
	/* A kid that is not UTF-8 cannot be written as JSON. */
	CHECK_EQ(pubkey_jwk(&k, "\xff", jwk, sizeof(jwk)), IG_EUSAGE);
	check_jwk_sizes(&k);

	pubkey_thumbprint(&k, tp);
	CHECK_EQ(strlen(tp), 43);
	if (kind == PUBKEY_EC_P256) {
		struct p256_pub p;

		memcpy(p.x, k.x, 32);
		memcpy(p.y, k.y, 32);
		jwk_thumbprint_p256(&p, tp2);
		CHECK_STR(tp, tp2);
	} else {
		/* RFC 7638 §3.2 spelled out by hand. */
		char json[300], x[70], y[70];
		uint8_t h[32];

		b64url_encode(k.x, clen, x);
		b64url_encode(k.y, clen, y);
		snprintf(json, sizeof(json),
			 "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			 x, y);
		sha256((const uint8_t *)json, strlen(json), h);
		b64url_encode(h, 32, tp2);
		CHECK_STR(tp, tp2);
	}

	check_csr(&k, pkey, other, sig_nid, md);
	EVP_PKEY_free(other);
	EVP_PKEY_free(pkey);
}

static void expect_ec(const uint8_t *params, size_t plen, const uint8_t *pt,
		      size_t len, int err)
{
	struct pubkey k;
	const char *why = NULL;

	memset(&k, 0xa5, sizeof(k));
	CHECK_EQ(from_ec_guarded(&k, params, plen, pt, len, &why), err);
	CHECK(why != NULL);
	CHECK_EQ(k.kind, 0); /* zeroed on failure */
}

static void test_ec_rejects(void)
{
	/* secp256k1 (1.3.132.0.10), and P-256 as an explicit-parameters stub. */
	static const uint8_t k1[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
	static const uint8_t printable[] = { 0x13, 0x0a, 'p', 'r', 'i', 'm', 'e',
					     '2', '5', '6', 'v', '1' };
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct ec_attrs a, b;
	uint8_t buf[128];
	const char *why = NULL;
	struct pubkey k;

	ec_attrs(pkey, NID_X9_62_prime256v1, &a);
	ec_attrs(p384, NID_secp384r1, &b);

	CHECK_EQ(from_ec_guarded(&k, k1, sizeof(k1), a.der, a.der_len, &why),
		 IG_EUSAGE);
	CHECK(why && !strcmp(why, "unsupported curve"));
	expect_ec(printable, sizeof(printable), a.der, a.der_len, IG_EUSAGE);
	expect_ec(a.params, a.params_len - 1, a.der, a.der_len, IG_EUSAGE);
	expect_ec(a.params, 0, a.der, a.der_len, IG_EUSAGE);
	/* A P-384 point under P-256 parameters and the reverse. */
	expect_ec(a.params, a.params_len, b.der, b.der_len, IG_EPROTO);
	expect_ec(b.params, b.params_len, a.der, a.der_len, IG_EPROTO);

	/* Off the curve: y changed by one bit, in both encodings. */
	memcpy(buf, a.der, a.der_len);
	buf[a.der_len - 1] ^= 1;
	CHECK_EQ(from_ec_guarded(&k, a.params, a.params_len, buf, a.der_len,
				 &why),
		 IG_EPROTO);
	CHECK(why && strstr(why, "not a point on the curve"));
	expect_ec(a.params, a.params_len, buf + 2, a.raw_len, IG_EPROTO);
	memcpy(buf, b.der, b.der_len);
	buf[10] ^= 0x40;
	expect_ec(b.params, b.params_len, buf, b.der_len, IG_EPROTO);
	/* x = p (out of range) with the real y; all zeros; all ones. */
	memcpy(buf, a.der, a.der_len);
	memcpy(buf + 3, "\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x00"
			"\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"
			"\xff\xff\xff\xff\xff\xff\xff\xff", 32);
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);
	memset(buf + 3, 0, 64);
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);
	memset(buf + 3, 0xff, 64);
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);

	/* Every truncation of both forms, and one byte too many. */
	for (size_t n = 0; n < a.der_len; n++)
		if (n != a.raw_len)
			expect_ec(a.params, a.params_len, a.der, n, IG_EPROTO);
	memcpy(buf, a.der, a.der_len);
	buf[a.der_len] = 0;
	expect_ec(a.params, a.params_len, buf, a.der_len + 1, IG_EPROTO);
	/* Long-form length (not DER for 65 bytes), and indefinite. */
	buf[0] = 0x04;
	buf[1] = 0x81;
	buf[2] = 0x41;
	memcpy(buf + 3, a.raw, a.raw_len);
	expect_ec(a.params, a.params_len, buf, a.raw_len + 3, IG_EPROTO);
	buf[1] = 0x80;
	expect_ec(a.params, a.params_len, buf, a.raw_len + 2, IG_EPROTO);
	/* Wrong outer tag (BIT STRING), wrong inner length. */
	memcpy(buf, a.der, a.der_len);
	buf[0] = 0x03;
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);
	memcpy(buf, a.der, a.der_len);
	buf[1] = 0x40;
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);
	/* Compressed and hybrid points, the point at infinity, garbage. */
	memcpy(buf, a.raw, a.raw_len);
	buf[0] = 0x02;
	expect_ec(a.params, a.params_len, buf, 33, IG_EPROTO);
	expect_ec(a.params, a.params_len, buf, a.raw_len, IG_EPROTO);
	buf[0] = 0x06;
	expect_ec(a.params, a.params_len, buf, a.raw_len, IG_EPROTO);
	expect_ec(a.params, a.params_len, (const uint8_t *)"\x04\x01\x00", 3,
		  IG_EPROTO);
	expect_ec(a.params, a.params_len, (const uint8_t *)"\x00", 1, IG_EPROTO);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	expect_ec(a.params, a.params_len, buf, a.der_len, IG_EPROTO);
	expect_ec(a.params, a.params_len, buf, a.raw_len, IG_EPROTO);
	/* NULL attributes and output. */
	CHECK_EQ(pubkey_from_ec(&k, NULL, 0, a.der, a.der_len, &why), IG_EUSAGE);
	CHECK_EQ(pubkey_from_ec(&k, a.params, a.params_len, NULL, 0, &why),
		 IG_EUSAGE);
	CHECK_EQ(pubkey_from_ec(NULL, a.params, a.params_len, a.der, a.der_len,
				&why),
		 IG_EUSAGE);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(pkey);
}

/* ---- RSA ---- */

static void test_rsa(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	uint8_t n[513], e[8], v[600];
	size_t nlen, elen;
	struct pubkey k, k2;
	const char *why = NULL;
	char jwk[PUBKEY_JWK_MAX + 64];
	json_t *o;
	int len;

	if (!pkey || !other)
		abort();
	n[0] = 0;
	nlen = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, n + 1);
	elen = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, e);
	CHECK_EQ(nlen, 256);
	CHECK_EQ(pubkey_from_rsa(&k, n + 1, nlen, e, elen, &why), IG_OK);
	CHECK_EQ(k.kind, PUBKEY_RSA);
	CHECK_STR(pubkey_alg_name(&k), "RSA-2048");
	/* A leading zero octet (some modules keep one) changes nothing. */
	CHECK_EQ(pubkey_from_rsa(&k2, n, nlen + 1, e, elen, &why), IG_OK);
	CHECK(!memcmp(&k, &k2, sizeof(k)));

	check_spki_pem(&k, pkey);

	len = pubkey_jwk(&k, "rsa-1", jwk, sizeof(jwk));
	CHECK(len > 0 && !strncmp(jwk, "{\"kid\":\"rsa-1\",\"kty\":\"RSA\",\"n\":\"", 32));
	o = json_loads(jwk, JSON_REJECT_DUPLICATES, NULL);
	CHECK(o && json_object_size(o) == 4);
	CHECK_EQ(jwk_member(o, "n", v, sizeof(v)), 256);
	CHECK(!memcmp(v, n + 1, 256));
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "e")), "AQAB"));
	CHECK(strstr(jwk, "\"e\":\"AQAB\"}") != NULL);
	json_decref(o);
	check_jwk_sizes(&k);

	check_csr(&k, pkey, other, NID_sha256WithRSAEncryption, EVP_sha256());
	EVP_PKEY_free(other);
	EVP_PKEY_free(pkey);
}

static void test_rfc7638_example(void)
{
	/* RFC 7638 §3.1: the RSA key of RFC 7517 A.1 and its thumbprint. */
	static const char n64[] =
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	uint8_t n[300], e[3];
	struct pubkey k;
	const char *why = NULL;
	char tp[44];
	int nlen, elen;

	nlen = b64url_decode(n64, strlen(n64), n, sizeof(n));
	elen = b64url_decode("AQAB", 4, e, sizeof(e));
	CHECK_EQ(nlen, 256);
	CHECK_EQ(elen, 3);
	CHECK_EQ(pubkey_from_rsa(&k, n, (size_t)nlen, e, (size_t)elen, &why),
		 IG_OK);
	pubkey_thumbprint(&k, tp);
	CHECK_STR(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

static void expect_rsa(const uint8_t *n, size_t nlen, const uint8_t *e,
		       size_t elen, int err, const char *why_part)
{
	struct pubkey k;
	const char *why = NULL;

	memset(&k, 0xa5, sizeof(k));
	CHECK_EQ(pubkey_from_rsa(&k, n, nlen, e, elen, &why), err);
	CHECK(why && strstr(why, why_part));
	CHECK_EQ(k.kind, 0);
}

static void test_rsa_sizes(void)
{
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	uint8_t n[600], e[16];
	struct pubkey k;
	const char *why;

	memset(n, 0xc5, sizeof(n)); /* odd, top bit set */
	/* 1024, 2047 bits: too small; 2048, 3072, 4096: fine; 4097: too big. */
	expect_rsa(n, 128, f4, 3, IG_EUSAGE, "2048 to 4096");
	n[0] = 0x7f;
	expect_rsa(n, 256, f4, 3, IG_EUSAGE, "2048 to 4096");
	n[0] = 0xc5;
	CHECK_EQ(pubkey_from_rsa(&k, n, 256, f4, 3, &why), IG_OK);
	CHECK_STR(pubkey_alg_name(&k), "RSA-2048");
	CHECK_EQ(pubkey_from_rsa(&k, n, 384, f4, 3, &why), IG_OK);
	CHECK_STR(pubkey_alg_name(&k), "RSA-3072");
	CHECK_EQ(pubkey_from_rsa(&k, n, 512, f4, 3, &why), IG_OK);
	CHECK_STR(pubkey_alg_name(&k), "RSA-4096");
	n[0] = 0x01;
	expect_rsa(n, 513, f4, 3, IG_EUSAGE, "2048 to 4096");
	n[0] = 0xc5;
	expect_rsa(n, 0, f4, 3, IG_EPROTO, "zero");
	memset(e, 0, sizeof(e));
	expect_rsa(e, 16, f4, 3, IG_EPROTO, "zero");
	/* An even modulus. */
	n[255] = 0xc4;
	expect_rsa(n, 256, f4, 3, IG_EPROTO, "even");
	n[255] = 0xc5;
	/* Exponents: even, 1, 0, empty, longer than 64 bits. */
	expect_rsa(n, 256, (const uint8_t *)"\x01\x00\x00", 3, IG_EPROTO, "even");
	expect_rsa(n, 256, (const uint8_t *)"\x00\x01", 2, IG_EPROTO,
		   "greater than 1");
	expect_rsa(n, 256, (const uint8_t *)"\x00", 1, IG_EPROTO, "zero");
	expect_rsa(n, 256, f4, 0, IG_EPROTO, "zero");
	memset(e, 0xff, 9);
	expect_rsa(n, 256, e, 9, IG_EPROTO, "64 bits");
	CHECK_EQ(pubkey_from_rsa(&k, n, 256, e, 8, &why), IG_OK);
	CHECK_EQ(pubkey_from_rsa(&k, n, 256, (const uint8_t *)"\x03", 1, &why),
		 IG_OK);
	CHECK_EQ(pubkey_from_rsa(&k, NULL, 256, f4, 3, &why), IG_EUSAGE);
	CHECK_EQ(pubkey_from_rsa(NULL, n, 256, f4, 3, &why), IG_EUSAGE);
}

/* ---- subjects ---- */

static void test_subjects(void)
{
	static const struct {
		const char *subject, *why_part;
	} bad[] = {
		/* The DN syntax is x509.c's (x509_test has every case): here,
		 * that a CSR passes its refusals on. */
		{ "CN=a,XX=b", "unknown attribute" },
		{ "CN", "missing '='" },
		{ "CN=a\\,b", "escaping" },
	};
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct signer s = { .key = pkey };
	char pem[PUBKEY_CSR_MAX], oneline[512];
	struct ec_attrs a;
	struct pubkey k;
	const char *why;
	X509_REQ *req;
	BIO *bio;

	ec_attrs(pkey, NID_X9_62_prime256v1, &a);
	if (pubkey_from_ec(&k, a.params, a.params_len, a.der, a.der_len, &why))
		abort();
	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		why = NULL;
		CHECK_EQ(pubkey_csr_pem(&k, bad[i].subject, test_sign, &s, pem,
					sizeof(pem), &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, bad[i].why_part));
		if (!why || !strstr(why, bad[i].why_part))
			fprintf(stderr, "  subject \"%s\": %s\n", bad[i].subject,
				why ? why : "(none)");
	}
	CHECK_EQ(pubkey_csr_pem(&k, NULL, test_sign, &s, pem, sizeof(pem), &why),
		 IG_EUSAGE);
	CHECK_EQ(s.calls, 0); /* nothing was signed */

	/* Case-insensitive types, spaces, UTF-8, every type, 16 RDNs max,
	 * a 64-character CN. */
	CHECK(pubkey_csr_pem(&k,
			     "cn = Key One , OU=Ops,o=Z\xc3\xbcrich AG, L=Z\xc3\xbcrich,"
			     "ST=ZH,serialNumber=A-1234,C=CH",
			     test_sign, &s, pem, sizeof(pem), &why) > 0);
	bio = BIO_new_mem_buf(pem, -1);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CHECK(req && X509_REQ_verify(req, pkey) == 1);
	if (req) {
		X509_NAME_oneline(X509_REQ_get_subject_name(req), oneline,
				  sizeof(oneline));
		CHECK_STR(oneline, "/C=CH/serialNumber=A-1234/ST=ZH/"
				   "L=Z\\xC3\\xBCrich/O=Z\\xC3\\xBCrich AG/OU=Ops/CN=Key One");
		X509_REQ_free(req);
	}
	CHECK(pubkey_csr_pem(&k,
			     "CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			     test_sign, &s, pem, sizeof(pem), &why) > 0);
	CHECK(pubkey_csr_pem(&k,
			     "OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,"
			     "OU=a,OU=a,OU=a,OU=a,OU=a,CN=Unit #5",
			     test_sign, &s, pem, sizeof(pem), &why) > 0);
	EVP_PKEY_free(pkey);
}

static void test_not_a_key(void)
{
	struct pubkey z;
	uint8_t der[PUBKEY_SPKI_MAX];
	char buf[PUBKEY_CSR_MAX], tp[44] = "x";
	size_t len;
	const char *why;

	memset(&z, 0, sizeof(z));
	CHECK_EQ(pubkey_spki_der(&z, der, sizeof(der), &len), IG_EUSAGE);
	CHECK_EQ(pubkey_pem(&z, buf, sizeof(buf)), IG_EUSAGE);
	CHECK_EQ(pubkey_jwk(&z, NULL, buf, sizeof(buf)), IG_EUSAGE);
	CHECK_EQ(pubkey_csr_pem(&z, "CN=x", test_sign, NULL, buf, sizeof(buf),
				&why),
		 IG_EUSAGE);
	pubkey_thumbprint(&z, tp);
	CHECK_STR(tp, "");
	CHECK_STR(pubkey_alg_name(&z), "");
	CHECK_STR(pubkey_alg_name(NULL), "");
}

int main(void)
{
	strcpy(tmpdir, "/tmp/pubkey_test.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	test_ec("P-256", NID_X9_62_prime256v1, PUBKEY_EC_P256, "EC P-256", 32,
		NID_ecdsa_with_SHA256, EVP_sha256());
	test_ec("P-384", NID_secp384r1, PUBKEY_EC_P384, "EC P-384", 48,
		NID_ecdsa_with_SHA384, EVP_sha384());
	test_ec_rejects();
	test_rsa();
	test_rfc7638_example();
	test_rsa_sizes();
	test_subjects();
	test_not_a_key();
	rm_tree(tmpdir);
	return check_done("pubkey");
}
