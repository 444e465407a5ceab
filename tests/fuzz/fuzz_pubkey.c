/*
 * fuzz_pubkey.c - the public keys of hsm/pubkey.c: arbitrary PKCS#11
 * attributes into pubkey_from_ec and pubkey_from_rsa, and arbitrary DN
 * strings into a certification request (pubkey_csr_pem, whose subject goes
 * through x509_name_der).  Besides memory errors it checks the promises of
 * pubkey.h and x509.h, aborting when one fails:
 *   - every refusal gives a reason and leaves the key zeroed;
 *   - an accepted key writes its SPKI, PEM and JWK within PUBKEY_*_MAX
 *     (the buffers are exactly that large, and one byte too few is
 *     refused); the SPKI is the bytes OpenSSL's i2d_PUBKEY gives, the PEM
 *     reads back as that SPKI, and the key OpenSSL reads from it gives the
 *     same struct pubkey again; the JWK's members decode to the key, a
 *     P-256 JWK parses with jwk_parse_p256 and has its thumbprint;
 *   - an accepted DN gives a request OpenSSL reads and verifies, with the
 *     key's SPKI, one RDN per entry holding the value given, and printed
 *     back in RFC 2253 form as the entries given when they are ASCII.
 *
 * Byte 0 picks: 0 EC (byte 1 is the length of CKA_EC_PARAMS, then the
 * params, then CKA_EC_POINT), 1 RSA (bytes 1-2 the length of the modulus,
 * big-endian, then the modulus, then the exponent), 2 a request with the
 * subject in the rest, signed by a P-256 (byte 1 even) or P-384 key made
 * at start.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../common/jose.h"
#include "../../hsm/pubkey.h"
#include "../../hsm/x509.h"
#include "fuzz.h"

static const uint8_t fz_oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
				       0x03, 0x01, 0x07 };
static const uint8_t fz_oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

/* The request signers' keys: libcrypto's and ours. */
static EVP_PKEY *fz_evp[2];
static struct pubkey fz_pub[2];

static EVP_PKEY *fz_read_spki(const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	EVP_PKEY *o = d2i_PUBKEY(NULL, &q, (long)len);

	FUZZ_ASSERT(o != NULL && q == der + len);
	return o;
}

/* <o>, read by OpenSSL, as a struct pubkey again. */
static void fz_from_evp(EVP_PKEY *o, const struct pubkey *k, struct pubkey *back)
{
	const char *why = NULL;

	if (k->kind == PUBKEY_RSA) {
		BIGNUM *n = NULL, *e = NULL;
		uint8_t nb[PUBKEY_RSA_MAX + 1], eb[PUBKEY_RSA_E_MAX + 1];
		int nl, el;

		FUZZ_ASSERT(EVP_PKEY_get_bn_param(o, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
			    EVP_PKEY_get_bn_param(o, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
		nl = BN_bn2bin(n, nb);
		el = BN_bn2bin(e, eb);
		FUZZ_ASSERT(pubkey_from_rsa(back, nb, (size_t)nl, eb, (size_t)el, &why) ==
			    IG_OK);
		BN_free(n);
		BN_free(e);
	} else {
		uint8_t pt[1 + 2 * PUBKEY_EC_MAX];
		size_t plen = 0;
		int p256 = k->kind == PUBKEY_EC_P256;

		FUZZ_ASSERT(EVP_PKEY_get_octet_string_param(o, OSSL_PKEY_PARAM_PUB_KEY, pt,
							    sizeof(pt), &plen) == 1);
		FUZZ_ASSERT(pubkey_from_ec(back, p256 ? fz_oid_p256 : fz_oid_p384,
					   p256 ? sizeof(fz_oid_p256) : sizeof(fz_oid_p384),
					   pt, plen, &why) == IG_OK);
	}
}

/* The base64url member <name> of <o> decodes to the <n> bytes <want>. */
static void fz_member(json_t *o, const char *name, const uint8_t *want, size_t n)
{
	json_t *v = json_object_get(o, name);
	uint8_t buf[PUBKEY_RSA_MAX];

	FUZZ_ASSERT(json_is_string(v));
	FUZZ_ASSERT(b64url_decode(json_string_value(v), json_string_length(v), buf,
				  sizeof(buf)) == (int)n &&
		    !memcmp(buf, want, n));
}

static void fz_jwk(const struct pubkey *k, const char *kid)
{
	char *jwk = malloc(PUBKEY_JWK_MAX + 128);
	char thumb[44];
	json_t *o;
	int n;

	FUZZ_ASSERT(jwk != NULL);
	n = pubkey_jwk(k, NULL, jwk, PUBKEY_JWK_MAX);
	FUZZ_ASSERT(n > 0 && n < PUBKEY_JWK_MAX && strlen(jwk) == (size_t)n);
	o = json_loadb(jwk, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_ASSERT(o != NULL && !json_object_get(o, "kid"));
	if (k->kind == PUBKEY_RSA) {
		FUZZ_ASSERT(!strcmp(json_string_value(json_object_get(o, "kty")), "RSA"));
		fz_member(o, "n", k->n, k->nlen);
		fz_member(o, "e", k->e, k->elen);
	} else {
		FUZZ_ASSERT(!strcmp(json_string_value(json_object_get(o, "kty")), "EC"));
		FUZZ_ASSERT(!strcmp(json_string_value(json_object_get(o, "crv")),
				    k->kind == PUBKEY_EC_P256 ? "P-256" : "P-384"));
		fz_member(o, "x", k->x, k->clen);
		fz_member(o, "y", k->y, k->clen);
	}
	json_decref(o);
	pubkey_thumbprint(k, thumb);
	FUZZ_ASSERT(strlen(thumb) == 43);
	if (k->kind == PUBKEY_EC_P256) {
		struct p256_pub p;
		const char *why = NULL;
		char t2[44];

		FUZZ_ASSERT(jwk_parse_p256(jwk, (size_t)n, &p, &why) == IG_OK &&
			    !memcmp(p.x, k->x, 32) && !memcmp(p.y, k->y, 32));
		jwk_thumbprint_p256(&p, t2);
		FUZZ_ASSERT(!strcmp(thumb, t2));
	}
	/* With a kid: escaped, and read back as given (when it is UTF-8). */
	n = pubkey_jwk(k, kid, jwk, PUBKEY_JWK_MAX + 128);
	if (n >= 0) {
		o = json_loadb(jwk, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
		FUZZ_ASSERT(o != NULL &&
			    !strcmp(json_string_value(json_object_get(o, "kid")), kid));
		json_decref(o);
	}
	free(jwk);
}

/* An accepted key, in every form it writes. */
static void fz_key(const struct pubkey *k, const char *kid)
{
	uint8_t *spki = malloc(PUBKEY_SPKI_MAX), *der2 = NULL;
	char *pem = malloc(PUBKEY_PEM_MAX);
	const char *alg = pubkey_alg_name(k);
	struct pubkey back;
	size_t len = 0;
	EVP_PKEY *o;
	BIO *bio;
	int plen;

	FUZZ_ASSERT(spki && pem);
	FUZZ_ASSERT(!strncmp(alg, "EC P-", 5) || !strncmp(alg, "RSA-", 4));
	FUZZ_ASSERT(pubkey_spki_der(k, spki, PUBKEY_SPKI_MAX, &len) == IG_OK &&
		    len > 0 && len <= PUBKEY_SPKI_MAX);
	FUZZ_ASSERT(pubkey_spki_der(k, spki, len - 1, &len) == IG_EUSAGE);
	FUZZ_ASSERT(pubkey_spki_der(k, spki, PUBKEY_SPKI_MAX, &len) == IG_OK);
	o = fz_read_spki(spki, len);
	FUZZ_ASSERT(i2d_PUBKEY(o, &der2) == (int)len && !memcmp(der2, spki, len));
	OPENSSL_free(der2);
	der2 = NULL;
	fz_from_evp(o, k, &back);
	FUZZ_ASSERT(!memcmp(&back, k, sizeof(back)));
	EVP_PKEY_free(o);

	plen = pubkey_pem(k, pem, PUBKEY_PEM_MAX);
	FUZZ_ASSERT(plen > 0 && plen < PUBKEY_PEM_MAX && strlen(pem) == (size_t)plen);
	FUZZ_ASSERT(pubkey_pem(k, pem, (size_t)plen) == IG_EUSAGE);
	FUZZ_ASSERT(pubkey_pem(k, pem, PUBKEY_PEM_MAX) == plen);
	bio = BIO_new_mem_buf(pem, plen);
	o = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	FUZZ_ASSERT(o != NULL);
	FUZZ_ASSERT(i2d_PUBKEY(o, &der2) == (int)len && !memcmp(der2, spki, len));
	OPENSSL_free(der2);
	EVP_PKEY_free(o);
	BIO_free(bio);

	fz_jwk(k, kid);
	free(spki);
	free(pem);
}

/* What pubkey_from_ec or pubkey_from_rsa answered: <rc>, <k>, <why>. */
static void fz_result(int rc, const struct pubkey *k, const char *why,
		      const char *kid)
{
	static const struct pubkey zero;

	if (rc == IG_OK) {
		fz_key(k, kid);
		return;
	}
	FUZZ_ASSERT((rc == IG_EPROTO || rc == IG_EUSAGE) && why && why[0]);
	FUZZ_ASSERT(!memcmp(k, &zero, sizeof(zero)));
}

/* ---- requests ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const curves[2] = { "P-256", "P-384" };

	for (int i = 0; i < 2; i++) {
		uint8_t pt[1 + 2 * PUBKEY_EC_MAX];
		size_t plen = 0;
		const char *why = NULL;

		fz_evp[i] = EVP_EC_gen(curves[i]);
		FUZZ_ASSERT(fz_evp[i] != NULL);
		FUZZ_ASSERT(EVP_PKEY_get_octet_string_param(fz_evp[i], OSSL_PKEY_PARAM_PUB_KEY,
							    pt, sizeof(pt), &plen) == 1);
		FUZZ_ASSERT(pubkey_from_ec(&fz_pub[i], i ? fz_oid_p384 : fz_oid_p256,
					   i ? sizeof(fz_oid_p384) : sizeof(fz_oid_p256), pt,
					   plen, &why) == IG_OK);
	}
	return 0;
}

/* The HSM's part: raw ECDSA over the digest, r||s as CKM_ECDSA gives. */
static int fz_sign(void *ctx, const uint8_t *digest, size_t digest_len, uint8_t *sig,
		   size_t *sig_len)
{
	EVP_PKEY *k = ctx;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	uint8_t der[160];
	size_t dlen = sizeof(der);
	size_t half = EVP_PKEY_get_bits(k) / 8;
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	int ok;

	ok = c && EVP_PKEY_sign_init(c) == 1 &&
	     EVP_PKEY_sign(c, der, &dlen, digest, digest_len) == 1 &&
	     (es = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) != NULL &&
	     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half) == (int)half &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half) == (int)half;
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(c);
	FUZZ_ASSERT(ok);
	*sig_len = 2 * half;
	return IG_OK;
}

/* The canonical type of a DN entry's type as x509.h names them. */
static const char *fz_dn_type(const char *t, size_t n)
{
	static const char *const types[] = { "CN", "O", "OU", "C", "L", "ST",
					     "serialNumber" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && !strncasecmp(t, types[i], n))
			return types[i];
	return NULL;
}

/* <req>'s subject holds the entries of <dn> in RFC 4514 order. */
static void fz_subject(X509_REQ *req, const char *dn)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	int count = X509_NAME_entry_count(name), i = count, ascii = 1;
	char canon[1024], *printed = NULL;
	size_t cl = 0;
	const char *p = dn;
	BIO *bio;
	long plen;

	canon[0] = '\0';
	for (;;) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p)), *t = p, *v;
		size_t tl, vl;
		X509_NAME_ENTRY *e;
		const ASN1_STRING *d;

		FUZZ_ASSERT(eq != NULL && i > 0);
		while (*t == ' ')
			t++;
		for (tl = (size_t)(eq - t); tl && t[tl - 1] == ' '; tl--)
			;
		for (v = eq + 1; v < end && *v == ' '; v++)
			;
		for (vl = (size_t)(end - v); vl && v[vl - 1] == ' '; vl--)
			;
		FUZZ_ASSERT(fz_dn_type(t, tl) != NULL);
		e = X509_NAME_get_entry(name, --i);
		d = X509_NAME_ENTRY_get_data(e);
		FUZZ_ASSERT(X509_NAME_ENTRY_set(e) == i);
		FUZZ_ASSERT((size_t)ASN1_STRING_length(d) == vl &&
			    !memcmp(ASN1_STRING_get0_data(d), v, vl));
		for (size_t j = 0; j < vl; j++)
			ascii &= (unsigned char)v[j] >= 0x20 && (unsigned char)v[j] < 0x7f;
		cl += (size_t)snprintf(canon + cl, sizeof(canon) > cl ? sizeof(canon) - cl : 0,
				       "%s%s=%.*s", p == dn ? "" : ",", fz_dn_type(t, tl),
				       (int)vl, v);
		if (!comma)
			break;
		p = comma + 1;
	}
	FUZZ_ASSERT(i == 0);
	if (!ascii || cl >= sizeof(canon))
		return;
	bio = BIO_new(BIO_s_mem());
	FUZZ_ASSERT(bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0);
	plen = BIO_get_mem_data(bio, &printed);
	FUZZ_ASSERT(plen == (long)cl && !memcmp(printed, canon, cl));
	BIO_free(bio);
}

static void fz_request(const char *dn, int which)
{
	char *out = malloc(PUBKEY_CSR_MAX);
	const char *why = NULL;
	uint8_t spki[PUBKEY_SPKI_MAX], *der = NULL;
	size_t slen = 0;
	X509_REQ *req;
	EVP_PKEY *rk;
	BIO *bio;
	int n;

	FUZZ_ASSERT(out != NULL);
	n = pubkey_csr_pem(&fz_pub[which], dn, fz_sign, fz_evp[which], out,
			   PUBKEY_CSR_MAX, &why);
	if (n < 0) {
		FUZZ_ASSERT(n == IG_EUSAGE && why && !strncmp(why, "subject", 7));
		free(out);
		return;
	}
	FUZZ_ASSERT(n < PUBKEY_CSR_MAX && strlen(out) == (size_t)n);
	bio = BIO_new_mem_buf(out, n);
	req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	FUZZ_ASSERT(req != NULL && X509_REQ_verify(req, fz_evp[which]) == 1);
	rk = X509_REQ_get0_pubkey(req);
	FUZZ_ASSERT(pubkey_spki_der(&fz_pub[which], spki, sizeof(spki), &slen) == IG_OK);
	FUZZ_ASSERT(rk && i2d_PUBKEY(rk, &der) == (int)slen && !memcmp(der, spki, slen));
	OPENSSL_free(der);
	fz_subject(req, dn);
	X509_REQ_free(req);
	BIO_free(bio);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pubkey k;
	const char *why = NULL;
	char *text;
	size_t a;
	int rc;

	if (size < 2)
		return 0;
	/* The whole input as a C string: the kid, or the DN. */
	text = malloc(size - 1);
	FUZZ_ASSERT(text != NULL);
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	switch (data[0] % 3) {
	case 0:
		a = data[1] < size - 2 ? data[1] : size - 2;
		rc = pubkey_from_ec(&k, data + 2, a, data + 2 + a, size - 2 - a, &why);
		fz_result(rc, &k, why, text);
		break;
	case 1:
		if (size < 3)
			break;
		a = (size_t)data[1] << 8 | data[2];
		if (a > size - 3)
			a = size - 3;
		rc = pubkey_from_rsa(&k, data + 3, a, data + 3 + a, size - 3 - a, &why);
		fz_result(rc, &k, why, text);
		break;
	default:
		fz_request(text, data[1] & 1);
	}
	free(text);
	return 0;
}
