/*
 * pubkey.c - HSM public keys as SPKI, PEM, JWK, thumbprints and PKCS#10
 * requests.  See pubkey.h for the contracts.
 *
 * The DER is written here, not by OpenSSL's ASN.1 templates: the few
 * structures involved are small and fixed, and writing them ourselves lets
 * the tests compare our bytes with what OpenSSL produces and parses.
 * libcrypto checks points (EVP_PKEY_public_check), hashes, and verifies
 * every finished request.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "../common/jose.h"
#include "pubkey.h"
#include "x509.h"

/* ---- DER tags and the OIDs we write (full TLVs) ---- */

enum {
	DER_INTEGER = 0x02,
	DER_BIT_STRING = 0x03,
	DER_SEQUENCE = 0x30,
};

/* 1.2.840.10045.3.1.7 prime256v1 and 1.3.132.0.34 secp384r1 (RFC 5480 §2.1.1.1) */
static const uint8_t OID_P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
				    0x3d, 0x03, 0x01, 0x07 };
static const uint8_t OID_P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
/* 1.2.840.10045.2.1 id-ecPublicKey (RFC 5480 §2.1.1) */
static const uint8_t OID_EC_PUBLIC_KEY[] = { 0x06, 0x07, 0x2a, 0x86, 0x48,
					     0xce, 0x3d, 0x02, 0x01 };
/* 1.2.840.113549.1.1.1 rsaEncryption with its NULL parameters (RFC 8017 A.1) */
static const uint8_t OID_RSA_NULL[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
					0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
/* 1.2.840.113549.1.1.11 sha256WithRSAEncryption, NULL parameters (RFC 8017 A.2.4) */
static const uint8_t OID_RSA_SHA256_NULL[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
					       0x86, 0xf7, 0x0d, 0x01, 0x01,
					       0x0b, 0x05, 0x00 };
/* 1.2.840.10045.4.3.2/3 ecdsa-with-SHA256/384; parameters absent (RFC 5758 §3.2) */
static const uint8_t OID_ECDSA_SHA256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					    0x3d, 0x04, 0x03, 0x02 };
static const uint8_t OID_ECDSA_SHA384[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					    0x3d, 0x04, 0x03, 0x03 };
/* RFC 8017 §9.2 note 1: the DER DigestInfo of SHA-256 up to the hash. */
static const uint8_t DIGESTINFO_SHA256[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

/* ---- a small DER writer ---- */

/*
 * Appends to a caller's buffer.  Constructed elements are opened with
 * der_begin, which leaves one length byte, and closed with der_end, which
 * moves the contents up when the length needs the long form.  Running out
 * of room is sticky: every later call does nothing and <full> stays set.
 */
struct der {
	uint8_t *p;
	size_t cap, len;
	int full;
};

static void der_put(struct der *d, const void *src, size_t n)
{
	if (d->full || n > d->cap - d->len) {
		d->full = 1;
		return;
	}
	memcpy(d->p + d->len, src, n);
	d->len += n;
}

static void der_byte(struct der *d, uint8_t b)
{
	der_put(d, &b, 1);
}

/* Open an element tagged <tag>; returns where its contents begin. */
static size_t der_begin(struct der *d, uint8_t tag)
{
	der_byte(d, tag);
	der_byte(d, 0);
	return d->len;
}

/* Close the element whose contents began at <start> (X.690 §10.1: the
 * definite form with the fewest length octets). */
static void der_end(struct der *d, size_t start)
{
	size_t n, extra;

	if (d->full)
		return;
	n = d->len - start;
	if (n >= 0x10000) { /* nothing here comes near 64 KiB */
		d->full = 1;
		return;
	}
	extra = n < 0x80 ? 0 : n < 0x100 ? 1 : 2;
	if (extra > d->cap - d->len) {
		d->full = 1;
		return;
	}
	memmove(d->p + start + extra, d->p + start, n);
	d->len += extra;
	if (extra == 0) {
		d->p[start - 1] = (uint8_t)n;
	} else if (extra == 1) {
		d->p[start - 1] = 0x81;
		d->p[start] = (uint8_t)n;
	} else {
		d->p[start - 1] = 0x82;
		d->p[start] = (uint8_t)(n >> 8);
		d->p[start + 1] = (uint8_t)n;
	}
}

/* The non-negative INTEGER whose big-endian magnitude is <v> (X.690
 * §8.3.2: minimal octets, a leading 00 when the top bit is set). */
static void der_uint(struct der *d, const uint8_t *v, size_t n)
{
	size_t start;

	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	start = der_begin(d, DER_INTEGER);
	if (n == 0 || v[0] & 0x80)
		der_byte(d, 0);
	der_put(d, v, n);
	der_end(d, start);
}

/* ---- keys ---- */

static int pubkey_ok(const struct pubkey *k)
{
	if (!k)
		return 0;
	switch (k->kind) {
	case PUBKEY_EC_P256:
		return k->clen == 32;
	case PUBKEY_EC_P384:
		return k->clen == 48;
	case PUBKEY_RSA:
		return k->nlen >= 256 && k->nlen <= PUBKEY_RSA_MAX &&
		       k->elen >= 1 && k->elen <= PUBKEY_RSA_E_MAX;
	}
	return 0;
}

/* The uncompressed point 04||X||Y into <pt> (1 + 2 * PUBKEY_EC_MAX bytes);
 * returns its length. */
static size_t pubkey_point(const struct pubkey *k, uint8_t *pt)
{
	pt[0] = 0x04;
	memcpy(pt + 1, k->x, k->clen);
	memcpy(pt + 1 + k->clen, k->y, k->clen);
	return 1 + 2 * k->clen;
}

/* <k> as a libcrypto public key, or NULL. */
static EVP_PKEY *pubkey_evp(const struct pubkey *k)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t pt[1 + 2 * PUBKEY_EC_MAX];
	size_t ptlen;
	int ok = 0;

	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		goto out;
	if (k->kind == PUBKEY_RSA) {
		n = BN_bin2bn(k->n, (int)k->nlen, NULL);
		e = BN_bin2bn(k->e, (int)k->elen, NULL);
		ok = n && e &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
	} else {
		ptlen = pubkey_point(k, pt);
		ok = OSSL_PARAM_BLD_push_utf8_string(
			     bld, OSSL_PKEY_PARAM_GROUP_NAME,
			     k->kind == PUBKEY_EC_P256 ? "prime256v1" : "secp384r1",
			     0) &&
		     OSSL_PARAM_BLD_push_octet_string(
			     bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen);
	}
	if (!ok)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL,
					 k->kind == PUBKEY_RSA ? "RSA" : "EC",
					 NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* SEC 1 §3.2.2.1 partial public-key validation: coordinates in [0, p-1],
 * the point on the curve and not at infinity.  1 valid, 0 not. */
static int pubkey_ec_valid(const struct pubkey *k)
{
	EVP_PKEY *pkey = pubkey_evp(k);
	EVP_PKEY_CTX *ctx;
	int ok = 0;

	if (!pkey)
		return 0;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx)
		ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

static int pubkey_fail(struct pubkey *out, int err, const char **why,
		       const char *msg)
{
	memset(out, 0, sizeof(*out));
	if (why)
		*why = msg;
	return err;
}

int pubkey_from_ec(struct pubkey *out, const uint8_t *ec_params,
		   size_t params_len, const uint8_t *ec_point, size_t point_len,
		   const char **why)
{
	const uint8_t *pt;
	size_t plen;

	IG_ENSURE(out, IG_EUSAGE, why, "no output key");
	memset(out, 0, sizeof(*out));
	if (!ec_params || !ec_point)
		return pubkey_fail(out, IG_EUSAGE, why, "missing EC attribute");
	/* CKA_EC_PARAMS: only the namedCurve choice of X9.62 Parameters, and
	 * only these two curves; explicit parameters are refused (RFC 5480
	 * §2.1.1 forbids them in certificates too). */
	if (params_len == sizeof(OID_P256) &&
	    !memcmp(ec_params, OID_P256, sizeof(OID_P256))) {
		out->kind = PUBKEY_EC_P256;
		out->clen = 32;
		strcpy(out->alg, "EC P-256");
	} else if (params_len == sizeof(OID_P384) &&
		   !memcmp(ec_params, OID_P384, sizeof(OID_P384))) {
		out->kind = PUBKEY_EC_P384;
		out->clen = 48;
		strcpy(out->alg, "EC P-384");
	} else {
		return pubkey_fail(out, IG_EUSAGE, why, "unsupported curve");
	}
	plen = 1 + 2 * out->clen;
	/*
	 * Current Mechanisms v2.40 §2.3.3: CKA_EC_POINT is "DER-encoding of
	 * ANSI X9.62 ECPoint value Q", an OCTET STRING.  Both points are
	 * shorter than 128 bytes, so DER allows only the one-byte length:
	 * 04 <plen> 04 X Y.  Some modules return the bare 04 X Y; its length
	 * differs from the wrapped form by two, so the two cannot be confused.
	 */
	if (point_len == plen + 2 && ec_point[0] == 0x04 &&
	    ec_point[1] == plen) {
		pt = ec_point + 2;
	} else if (point_len == plen) {
		pt = ec_point;
	} else {
		return pubkey_fail(out, IG_EPROTO, why,
				   "CKA_EC_POINT is not an uncompressed point in a DER OCTET STRING");
	}
	if (pt[0] == 0x02 || pt[0] == 0x03)
		return pubkey_fail(out, IG_EPROTO, why,
				   "CKA_EC_POINT is a compressed point");
	if (pt[0] != 0x04)
		return pubkey_fail(out, IG_EPROTO, why,
				   "CKA_EC_POINT is not an uncompressed point");
	memcpy(out->x, pt + 1, out->clen);
	memcpy(out->y, pt + 1 + out->clen, out->clen);
	/* Invalid-curve attacks: nothing may use a point we have not checked. */
	if (!pubkey_ec_valid(out))
		return pubkey_fail(out, IG_EPROTO, why,
				   "CKA_EC_POINT is not a point on the curve");
	return IG_OK;
}

int pubkey_from_rsa(struct pubkey *out, const uint8_t *n, size_t nlen,
		    const uint8_t *e, size_t elen, const char **why)
{
	unsigned bits;

	IG_ENSURE(out, IG_EUSAGE, why, "no output key");
	memset(out, 0, sizeof(*out));
	if ((!n && nlen) || (!e && elen))
		return pubkey_fail(out, IG_EUSAGE, why, "missing RSA attribute");
	/* PKCS#11 big integers are big-endian byte strings (v2.40 §2.1);
	 * tolerate leading zero octets, keep none. */
	while (nlen > 0 && n[0] == 0) {
		n++;
		nlen--;
	}
	while (elen > 0 && e[0] == 0) {
		e++;
		elen--;
	}
	if (nlen == 0)
		return pubkey_fail(out, IG_EPROTO, why, "RSA modulus is zero");
	bits = (unsigned)nlen * 8;
	for (uint8_t top = n[0]; !(top & 0x80); top = (uint8_t)(top << 1))
		bits--;
	if (bits < 2048 || bits > 4096)
		return pubkey_fail(out, IG_EUSAGE, why,
				   "RSA modulus must be 2048 to 4096 bits");
	if (!(n[nlen - 1] & 1))
		return pubkey_fail(out, IG_EPROTO, why, "RSA modulus is even");
	if (elen == 0)
		return pubkey_fail(out, IG_EPROTO, why, "RSA exponent is zero");
	if (elen > PUBKEY_RSA_E_MAX)
		return pubkey_fail(out, IG_EPROTO, why,
				   "RSA exponent is longer than 64 bits");
	if (!(e[elen - 1] & 1))
		return pubkey_fail(out, IG_EPROTO, why, "RSA exponent is even");
	if (elen == 1 && e[0] == 1)
		return pubkey_fail(out, IG_EPROTO, why,
				   "RSA exponent must be greater than 1");
	/* e < n holds: at most 64 bits against at least 2048. */
	out->kind = PUBKEY_RSA;
	memcpy(out->n, n, nlen);
	out->nlen = nlen;
	memcpy(out->e, e, elen);
	out->elen = elen;
	snprintf(out->alg, sizeof(out->alg), "RSA-%u", bits);
	return IG_OK;
}

const char *pubkey_alg_name(const struct pubkey *k)
{
	return pubkey_ok(k) ? k->alg : "";
}

/* ---- SubjectPublicKeyInfo, RFC 5280 §4.1.2.7 ---- */

static void der_spki(struct der *d, const struct pubkey *k)
{
	uint8_t pt[1 + 2 * PUBKEY_EC_MAX];
	size_t spki, alg, bits, rsa;

	spki = der_begin(d, DER_SEQUENCE);
	alg = der_begin(d, DER_SEQUENCE);
	if (k->kind == PUBKEY_RSA) {
		der_put(d, OID_RSA_NULL, sizeof(OID_RSA_NULL));
	} else {
		/* RFC 5480 §2.1.1: ECParameters is the namedCurve OID. */
		der_put(d, OID_EC_PUBLIC_KEY, sizeof(OID_EC_PUBLIC_KEY));
		if (k->kind == PUBKEY_EC_P256)
			der_put(d, OID_P256, sizeof(OID_P256));
		else
			der_put(d, OID_P384, sizeof(OID_P384));
	}
	der_end(d, alg);
	bits = der_begin(d, DER_BIT_STRING);
	der_byte(d, 0); /* no unused bits */
	if (k->kind == PUBKEY_RSA) {
		/* RFC 8017 A.1.1 RSAPublicKey ::= SEQUENCE { n, e } */
		rsa = der_begin(d, DER_SEQUENCE);
		der_uint(d, k->n, k->nlen);
		der_uint(d, k->e, k->elen);
		der_end(d, rsa);
	} else {
		/* RFC 5480 §2.2: the ECPoint itself, uncompressed. */
		der_put(d, pt, pubkey_point(k, pt));
	}
	der_end(d, bits);
	der_end(d, spki);
}

int pubkey_spki_der(const struct pubkey *k, uint8_t *out, size_t cap,
		    size_t *len)
{
	struct der d = { .p = out, .cap = cap };

	if (!pubkey_ok(k) || !out || !len)
		return IG_EUSAGE;
	der_spki(&d, k);
	if (d.full)
		return IG_EUSAGE;
	*len = d.len;
	return IG_OK;
}

/* ---- PEM, RFC 7468 ---- */

/* "-----BEGIN <label>-----\n", the base64 of <der> in lines of 64
 * characters (§2: 48 bytes each, the last shorter), "-----END ...\n". */
static int pem_write(const char *label, const uint8_t *der, size_t n,
		     char *out, size_t cap)
{
	size_t lbl = strlen(label), need, o, i;

	need = 17 + lbl + 4 * ((n + 2) / 3) + (n + 47) / 48 + 15 + lbl;
	if (!out || need >= cap)
		return IG_EUSAGE;
	o = (size_t)sprintf(out, "-----BEGIN %s-----\n", label);
	for (i = 0; i < n; i += 48) {
		size_t chunk = n - i < 48 ? n - i : 48;

		/* Writes 4 * ceil(chunk / 3) characters and a NUL, which
		 * the newline then replaces: within <need>. */
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, der + i,
					     (int)chunk);
		out[o++] = '\n';
	}
	o += (size_t)sprintf(out + o, "-----END %s-----\n", label);
	return (int)o;
}

int pubkey_pem(const struct pubkey *k, char *out, size_t cap)
{
	uint8_t der[PUBKEY_SPKI_MAX];
	size_t len;

	IG_GUARD(pubkey_spki_der(k, der, sizeof(der), &len));
	return pem_write("PUBLIC KEY", der, len, out, cap);
}

/* ---- JWK and thumbprints, RFC 7517, 7518 §6, 7638 ---- */

/* base64url of the <n> bytes at <v> into <out>; a NUL-ended string. */
static const char *b64u(const uint8_t *v, size_t n, char *out)
{
	b64url_encode(v, n, out);
	return out;
}

int pubkey_jwk(const struct pubkey *k, const char *kid_or_null, char *out,
	       size_t cap)
{
	char a[b64url_enc_len(PUBKEY_RSA_MAX) + 1];
	char b[b64url_enc_len(PUBKEY_EC_MAX) + 1];
	json_t *jwk;
	size_t n;
	int ok;

	if (!pubkey_ok(k) || !out)
		return IG_EUSAGE;
	jwk = json_object();
	if (!jwk)
		return IG_ENOMEM;
	/* jansson keeps insertion order: kid first, then the RFC 7518
	 * members in the order the RFC lists them.  json_string refuses a
	 * kid that is not UTF-8. */
	ok = !kid_or_null ||
	     json_object_set_new(jwk, "kid", json_string(kid_or_null)) == 0;
	if (k->kind == PUBKEY_RSA) {
		ok = ok &&
		     json_object_set_new(jwk, "kty", json_string("RSA")) == 0 &&
		     json_object_set_new(jwk, "n", json_string(b64u(k->n, k->nlen, a))) == 0 &&
		     json_object_set_new(jwk, "e", json_string(b64u(k->e, k->elen, b))) == 0;
	} else {
		ok = ok &&
		     json_object_set_new(jwk, "kty", json_string("EC")) == 0 &&
		     json_object_set_new(jwk, "crv",
					 json_string(k->kind == PUBKEY_EC_P256 ? "P-256" : "P-384")) == 0 &&
		     json_object_set_new(jwk, "x", json_string(b64u(k->x, k->clen, a))) == 0 &&
		     json_object_set_new(jwk, "y", json_string(b64u(k->y, k->clen, b))) == 0;
	}
	n = ok ? json_dumpb(jwk, out, cap, JSON_COMPACT) : 0;
	json_decref(jwk);
	/* 0: a failed member (a bad kid) or dump; >= cap: no room for the NUL. */
	if (n == 0 || n >= cap)
		return IG_EUSAGE;
	out[n] = '\0';
	return (int)n;
}

void pubkey_thumbprint(const struct pubkey *k, char out[44])
{
	char a[b64url_enc_len(PUBKEY_RSA_MAX) + 1];
	char b[b64url_enc_len(PUBKEY_EC_MAX) + 1];
	char json[64 + sizeof(a) + sizeof(b)];
	uint8_t hash[32];
	int n;

	out[0] = '\0';
	if (!pubkey_ok(k))
		return;
	/* §3.2: the required members only, sorted by name, no whitespace;
	 * base64url values need no escaping. */
	if (k->kind == PUBKEY_RSA)
		n = snprintf(json, sizeof(json),
			     "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
			     b64u(k->e, k->elen, b), b64u(k->n, k->nlen, a));
	else
		n = snprintf(json, sizeof(json),
			     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			     k->kind == PUBKEY_EC_P256 ? "P-256" : "P-384",
			     b64u(k->x, k->clen, a), b64u(k->y, k->clen, b));
	if (n < 0 || (size_t)n >= sizeof(json) ||
	    !EVP_Digest(json, (size_t)n, hash, NULL, EVP_sha256(), NULL))
		return;
	b64url_encode(hash, sizeof(hash), out);
}

/* ---- the certification request, RFC 2986 §4 ---- */

/* The finished request <der> parses and its signature verifies with <k>:
 * 1, or 0. */
static int csr_verifies(const struct pubkey *k, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	EVP_PKEY *pkey = pubkey_evp(k);
	int ok;

	ok = req && pkey && p == der + len &&
	     X509_REQ_verify(req, pkey) == 1;
	X509_REQ_free(req);
	EVP_PKEY_free(pkey);
	return ok;
}

int pubkey_csr_pem(const struct pubkey *k, const char *subject,
		   pubkey_sign_fn sign, void *ctx, char *out, size_t cap,
		   const char **why)
{
	uint8_t name[X509_NAME_MAX];
	uint8_t cri_buf[4096], csr_buf[4096 + 1024];
	uint8_t hash[64], tbs[sizeof(DIGESTINFO_SHA256) + 32];
	uint8_t sig[PUBKEY_RSA_MAX];
	struct der cri = { .p = cri_buf, .cap = sizeof(cri_buf) };
	struct der csr = { .p = csr_buf, .cap = sizeof(csr_buf) };
	const EVP_MD *md;
	const uint8_t *in;
	size_t sig_len = sizeof(sig), in_len, start, alg, bits, ecsig, name_len;
	unsigned hlen;
	int rc;

	IG_ENSURE(pubkey_ok(k), IG_EUSAGE, why, "not a public key");
	IG_ENSURE(sign && out, IG_EUSAGE, why, "no signer or output buffer");
	/* The DN syntax is x509.h's, shared with certificates. */
	IG_GUARD(x509_name_der(subject, X509_DN_SUBJECT, name, sizeof(name),
			       &name_len, why));

	/* CertificationRequestInfo: version 0, subject, SPKI, and the
	 * attributes [0] that RFC 2986 requires even when empty. */
	start = der_begin(&cri, DER_SEQUENCE);
	der_put(&cri, "\x02\x01\x00", 3);
	der_put(&cri, name, name_len);
	der_spki(&cri, k);
	der_put(&cri, "\xa0\x00", 2);
	der_end(&cri, start);
	IG_ENSURE(!cri.full, IG_EINTERNAL, why, "request too large");

	md = k->kind == PUBKEY_EC_P384 ? EVP_sha384() : EVP_sha256();
	IG_ENSURE(EVP_Digest(cri.p, cri.len, hash, &hlen, md, NULL), IG_EINTERNAL,
		  why, "hashing the request failed");
	if (k->kind == PUBKEY_RSA) {
		/* RFC 8017 §9.2 step 2: CKM_RSA_PKCS pads what it is given,
		 * so it must be given the DigestInfo, not the bare hash. */
		memcpy(tbs, DIGESTINFO_SHA256, sizeof(DIGESTINFO_SHA256));
		memcpy(tbs + sizeof(DIGESTINFO_SHA256), hash, 32);
		in = tbs;
		in_len = sizeof(tbs);
	} else {
		in = hash;
		in_len = hlen;
	}
	rc = sign(ctx, in, in_len, sig, &sig_len);
	if (rc != IG_OK) {
		if (why)
			*why = "the HSM could not sign the request";
		return rc < 0 ? rc : IG_EINTERNAL;
	}
	IG_ENSURE(sig_len == (k->kind == PUBKEY_RSA ? k->nlen : 2 * k->clen),
		  IG_EPROTO, why, "the HSM's signature has the wrong length");

	start = der_begin(&csr, DER_SEQUENCE);
	der_put(&csr, cri.p, cri.len);
	alg = der_begin(&csr, DER_SEQUENCE); /* signatureAlgorithm */
	if (k->kind == PUBKEY_RSA)
		der_put(&csr, OID_RSA_SHA256_NULL, sizeof(OID_RSA_SHA256_NULL));
	else if (k->kind == PUBKEY_EC_P256)
		der_put(&csr, OID_ECDSA_SHA256, sizeof(OID_ECDSA_SHA256));
	else
		der_put(&csr, OID_ECDSA_SHA384, sizeof(OID_ECDSA_SHA384));
	der_end(&csr, alg);
	bits = der_begin(&csr, DER_BIT_STRING);
	der_byte(&csr, 0);
	if (k->kind == PUBKEY_RSA) {
		der_put(&csr, sig, sig_len);
	} else {
		/* CKM_ECDSA gives r||s (Current Mechanisms v2.40 §2.3.1);
		 * X.509 wants Ecdsa-Sig-Value ::= SEQUENCE { r, s }
		 * (RFC 3279 §2.2.3). */
		ecsig = der_begin(&csr, DER_SEQUENCE);
		der_uint(&csr, sig, k->clen);
		der_uint(&csr, sig + k->clen, k->clen);
		der_end(&csr, ecsig);
	}
	der_end(&csr, bits);
	der_end(&csr, start);
	IG_ENSURE(!csr.full, IG_EINTERNAL, why, "request too large");

	/* A module that signed with another key (a wrong handle, a stale
	 * CKA_ID) must not hand out a request nobody can use. */
	IG_ENSURE(csr_verifies(k, csr.p, csr.len), IG_EPROTO, why,
		  "the HSM's signature does not verify");
	rc = pem_write("CERTIFICATE REQUEST", csr.p, csr.len, out, cap);
	IG_ENSURE(rc >= 0, rc, why, "output buffer too small for the request");
	return rc;
}
