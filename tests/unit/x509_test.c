/*
 * x509_test.c - certificates from the HSM-held CA: building, signing
 * through a stand-in HSM, reading back, and every refusal.
 *
 * Keys are made with libcrypto and handed over as pubkey would take them
 * from PKCS#11 attributes; a signer callback plays the HSM (CKM_ECDSA
 * giving r||s, CKM_RSA_PKCS over the DigestInfo).  CA certificates go
 * through x509_issue, leaves through x509_tbs, a signature made here, and
 * x509_assemble, as a worker loop would do it.  Every certificate is
 * checked by OpenSSL in this process (a strict chain verification, the
 * extensions as it decodes them) and, when /usr/bin/openssl exists, by
 * `openssl verify -x509_strict` and `openssl x509 -text`.  Outputs go to
 * heap buffers of exactly the stated size, and the parser reads inputs
 * that sit flush against a PROT_NONE page, so ASan or a fault catches any
 * overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../hsm/pubkey.h"
#include "../../hsm/x509.h"
#include "check.h"
#include "testutil.h"

static char tmpdir[64];
static int have_openssl;
static time_t now;

/* ---- keys ---- */

struct key {
	EVP_PKEY *pkey;
	struct pubkey pub;
	const char *name; /* "P-256", "P-384", "RSA" */
};

/* The public half of <pkey> as the PKCS#11 attributes carry it. */
static void to_pubkey(EVP_PKEY *pkey, struct pubkey *out)
{
	const char *why = NULL;
	int rc;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		BIGNUM *n = NULL, *e = NULL;
		uint8_t nb[600], eb[16];
		int nlen, elen;

		if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
		    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e))
			abort();
		nlen = BN_bn2bin(n, nb);
		elen = BN_bn2bin(e, eb);
		BN_free(n);
		BN_free(e);
		rc = pubkey_from_rsa(out, nb, (size_t)nlen, eb, (size_t)elen, &why);
	} else {
		char group[64];
		uint8_t params[16], pt[1 + 2 * 48];
		unsigned char *p = params;
		size_t ptlen;
		int plen;

		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
						    group, sizeof(group), NULL) ||
		    !EVP_PKEY_get_octet_string_param(pkey,
						     OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						     pt, sizeof(pt), &ptlen))
			abort();
		plen = i2d_ASN1_OBJECT(OBJ_nid2obj(OBJ_sn2nid(group)), &p);
		if (plen <= 0)
			abort();
		rc = pubkey_from_ec(out, params, (size_t)plen, pt, ptlen, &why);
	}
	if (rc != IG_OK) {
		fprintf(stderr, "to_pubkey: %s\n", why);
		abort();
	}
}

static void key_new(struct key *k, const char *name)
{
	k->name = name;
	if (!strcmp(name, "RSA"))
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", name);
	if (!k->pkey)
		abort();
	to_pubkey(k->pkey, &k->pub);
}

/* ---- the stand-in HSM ---- */

/*
 * Sign <in> as PKCS#11 would: CKM_ECDSA over a digest, giving r||s with
 * each half as long as the order; CKM_RSA_PKCS, padding and exponentiating
 * the DigestInfo it is given without hashing it.  0, or -1.
 */
static int fake_hsm_sign(EVP_PKEY *key, const uint8_t *in, size_t n, uint8_t *sig,
		    size_t *sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	uint8_t der[160];
	size_t der_len = sizeof(der);
	int ok = ctx && EVP_PKEY_sign_init(ctx) == 1;

	if (EVP_PKEY_is_a(key, "RSA")) {
		ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_sign(ctx, sig, sig_len, in, n) == 1;
	} else {
		int half = (EVP_PKEY_get_bits(key) + 7) / 8;
		const unsigned char *p = der;
		ECDSA_SIG *es = NULL;

		ok = ok && *sig_len >= 2 * (size_t)half &&
		     EVP_PKEY_sign(ctx, der, &der_len, in, n) == 1 &&
		     (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
		     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half) == half &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half) == half;
		*sig_len = 2 * (size_t)half;
		ECDSA_SIG_free(es);
	}
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

struct signer {
	EVP_PKEY *key;
	int calls;
	int fail;      /* return this instead of signing */
	long len_adj;  /* add this to the reported signature length */
	uint8_t last[64];
	size_t last_len;
};

static int test_sign(void *vctx, const uint8_t *digest, size_t digest_len,
		     uint8_t *sig, size_t *sig_len)
{
	struct signer *s = vctx;

	s->calls++;
	if (digest_len <= sizeof(s->last)) {
		memcpy(s->last, digest, digest_len);
		s->last_len = digest_len;
	}
	if (s->fail)
		return s->fail;
	if (*sig_len != PUBKEY_RSA_MAX || fake_hsm_sign(s->key, digest, digest_len,
						   sig, sig_len))
		return IG_EINTERNAL;
	*sig_len = (size_t)((long)*sig_len + s->len_adj);
	return IG_OK;
}

/* ---- helpers ---- */

static X509 *cert_of(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* What the issuer must sign for <issuer>: the TBSCertificate's hash, or
 * for RSA its DigestInfo. */
static size_t expected_digest(const struct pubkey *issuer, const uint8_t *tbs,
			      size_t tbs_len, uint8_t out[64])
{
	static const uint8_t prefix[19] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
	};
	unsigned n = 0;

	if (issuer->kind == PUBKEY_EC_P384) {
		EVP_Digest(tbs, tbs_len, out, &n, EVP_sha384(), NULL);
		return n;
	}
	if (issuer->kind == PUBKEY_EC_P256) {
		EVP_Digest(tbs, tbs_len, out, &n, EVP_sha256(), NULL);
		return n;
	}
	memcpy(out, prefix, sizeof(prefix));
	EVP_Digest(tbs, tbs_len, out + 19, &n, EVP_sha256(), NULL);
	return 19 + n;
}

/* The TBSCertificate OpenSSL re-encodes from <x>. */
static size_t ossl_tbs(X509 *x, uint8_t *out, size_t cap)
{
	unsigned char *tbs = NULL;
	int n = i2d_re_X509_tbs(x, &tbs);
	size_t len = 0;

	if (n > 0 && (size_t)n <= cap) {
		memcpy(out, tbs, (size_t)n);
		len = (size_t)n;
	}
	OPENSSL_free(tbs);
	return len;
}

static void upper_hex(const uint8_t *v, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02X%s", v[i], i + 1 < n ? ":" : "");
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Run <cmd>, its output into <out>; the exit status, or -1. */
static int run(const char *cmd, char *out, size_t cap)
{
	size_t n = 0;
	FILE *f = popen(cmd, "r");
	int st;

	if (!f)
		return -1;
	while (n + 1 < cap) {
		size_t got = fread(out + n, 1, cap - 1 - n, f);

		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	st = pclose(f);
	return st;
}

static int write_pem(const char *name, const uint8_t *der, size_t len,
		     char *path, size_t path_cap)
{
	char pem[X509_PEM_MAX];

	snprintf(path, path_cap, "%s/%s", tmpdir, name);
	if (x509_pem(der, len, pem, sizeof(pem)) <= 0)
		return -1;
	return write_file(path, pem);
}

/* `openssl verify -x509_strict -CAfile <ca> <leaf>`: 1 OK, 0 not; what
 * it said is shown when that is not <expect>. */
static int openssl_verify(const char *ca, const char *leaf, int expect)
{
	char cmd[512], out[4096], want[300];
	int st;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/openssl verify -x509_strict -CAfile %s %s 2>&1", ca,
		 leaf);
	st = run(cmd, out, sizeof(out));
	snprintf(want, sizeof(want), "%s: OK\n", leaf);
	if (st != 0 || strcmp(out, want) != 0) {
		if (expect)
			fprintf(stderr, "  %s\n  -> %s", cmd, out);
		return 0;
	}
	return 1;
}

/* `openssl x509 -noout -text` of the PEM at <path> into <out>. */
static int openssl_text(const char *path, char *out, size_t cap)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/openssl x509 -noout -text -in %s 2>&1", path);
	return run(cmd, out, cap);
}

/* A strict chain check in this process: <leaf> up to the trust anchor
 * <ca>, at the current time.  1, or 0. */
static int chain_ok(X509 *ca, X509 *leaf)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	ok = st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	     X509_STORE_CTX_init(ctx, st, leaf, NULL) == 1;
	if (ok) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT |
						      X509_V_FLAG_CHECK_SS_SIGNATURE);
		ok = X509_verify_cert(ctx) == 1;
		if (!ok)
			fprintf(stderr, "  chain: %s\n",
				X509_verify_cert_error_string(
					X509_STORE_CTX_get_error(ctx)));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

/* The critical flag of extension <nid> in <x>: 1, 0, or -1 when absent. */
static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	if (i < 0 || X509_get_ext_by_NID(x, nid, i) >= 0)
		return -1;
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* The subjectKeyIdentifier by RFC 5280 §4.2.1.2 (1), computed by OpenSSL's
 * own view of the key. */
static void key_id_of(X509 *x, uint8_t id[20])
{
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);

	EVP_Digest(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits),
		   id, NULL, EVP_sha1(), NULL);
}

static void time_text(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y%m%d%H%M%SZ", &tm);
}

static void serial_hex(const uint8_t *v, size_t n, char *out)
{
	size_t o = 0;

	while (n > 0 && *v == 0) {
		v++;
		n--;
	}
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(out + o, "%02x", v[i]);
	out[o] = '\0';
	if (out[0] == '0')
		memmove(out, out + 1, o);
}

/* x509_parse_info with <der> flush against a PROT_NONE page. */
static int parse_guarded(const uint8_t *der, size_t len, struct x509_info *info,
			 const char **why)
{
	struct guarded g;
	int rc;

	rc = x509_parse_info((const uint8_t *)guard_copy(&g, der, len ? len : 1),
			     len, info, why);
	guard_free(&g);
	return rc;
}

/* ---- a CA and its leaves ---- */

struct ca {
	struct key k;
	char subject[128];
	uint8_t der[X509_DER_MAX];
	size_t len;
	X509 *x;
	char pem_path[128];
};

static int sig_nid_of(const struct pubkey *k)
{
	return k->kind == PUBKEY_RSA      ? NID_sha256WithRSAEncryption
	       : k->kind == PUBKEY_EC_P256 ? NID_ecdsa_with_SHA256
					   : NID_ecdsa_with_SHA384;
}

/* The checks every certificate we issue must pass. */
static void check_common(X509 *x, const struct x509_spec *s, X509 *issuer)
{
	uint8_t ski[20], aki[20];
	const ASN1_OCTET_STRING *id;
	const EVP_PKEY *pk = X509_get0_pubkey(x);
	struct pubkey back;

	CHECK_EQ(X509_get_version(x), X509_VERSION_3);
	CHECK_EQ(X509_get_signature_nid(x), sig_nid_of(s->issuer_key));
	CHECK_EQ(X509_verify(x, X509_get0_pubkey(issuer)), 1);
	CHECK_EQ(X509_check_issued(issuer, x), X509_V_OK);
	/* The subject key is the one in the spec. */
	CHECK(pk != NULL);
	if (pk) {
		to_pubkey((EVP_PKEY *)pk, &back);
		CHECK(!memcmp(&back, s->subject_key, sizeof(back)));
	}
	/* SKI by method 1, AKI equal to the issuer's SKI. */
	key_id_of(x, ski);
	key_id_of(issuer, aki);
	id = X509_get0_subject_key_id(x);
	CHECK(id && ASN1_STRING_length(id) == 20 &&
	      !memcmp(ASN1_STRING_get0_data(id), ski, 20));
	id = X509_get0_authority_key_id(x);
	CHECK(id && ASN1_STRING_length(id) == 20 &&
	      !memcmp(ASN1_STRING_get0_data(id), aki, 20));
	CHECK(X509_get0_authority_issuer(x) == NULL);
	CHECK(X509_get0_authority_serial(x) == NULL);
	/* Exactly the four extensions, critical where RFC 5280 wants. */
	CHECK_EQ(X509_get_ext_count(x), 4);
	CHECK_EQ(ext_critical(x, NID_basic_constraints), 1);
	CHECK_EQ(ext_critical(x, NID_key_usage), 1);
	CHECK_EQ(ext_critical(x, NID_subject_key_identifier), 0);
	CHECK_EQ(ext_critical(x, NID_authority_key_identifier), 0);
	if (s->is_ca) {
		CHECK(X509_get_extension_flags(x) & EXFLAG_CA);
		CHECK_EQ(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
		CHECK_EQ(X509_get_pathlen(x), 0);
		CHECK_EQ(X509_check_ca(x), 1);
	} else {
		CHECK(!(X509_get_extension_flags(x) & EXFLAG_CA));
		CHECK(X509_get_extension_flags(x) & EXFLAG_BCONS);
		CHECK_EQ(X509_get_key_usage(x),
			 KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
		CHECK_EQ(X509_check_ca(x), 0);
	}
	CHECK(!(X509_get_extension_flags(x) & EXFLAG_INVALID));
}

/* parse_info gives back what went in. */
static void check_info(const uint8_t *der, size_t len,
		       const struct x509_spec *s, const char *subject_text,
		       const char *issuer_text)
{
	struct x509_info info;
	const char *why = NULL;
	char want[64];
	int rc;

	memset(&info, 0xa5, sizeof(info));
	rc = parse_guarded(der, len, &info, &why);
	CHECK_EQ(rc, IG_OK);
	if (rc != IG_OK) {
		fprintf(stderr, "  parse_info: %s\n", why ? why : "?");
		return;
	}
	CHECK_STR(info.subject, subject_text);
	CHECK_STR(info.issuer, issuer_text);
	serial_hex(s->serial, s->serial_len, want);
	CHECK_STR(info.serial_hex, want);
	time_text(s->not_before, want);
	CHECK_STR(info.not_before, want);
	time_text(s->not_after, want);
	CHECK_STR(info.not_after, want);
	CHECK(!memcmp(&info.key, s->subject_key, sizeof(info.key)));
}

static void make_ca(struct ca *ca, const char *kind, const uint8_t serial[16])
{
	struct signer sg;
	struct x509_spec s = { 0 };
	uint8_t tbs[4096], want[64];
	size_t tbs_len, dlen;
	const char *why = NULL;
	int rc;

	memset(ca, 0, sizeof(*ca));
	key_new(&ca->k, kind);
	memset(&sg, 0, sizeof(sg));
	sg.key = ca->k.pkey;
	snprintf(ca->subject, sizeof(ca->subject), "CN=idgate CA %s,O=idgate,C=HK",
		 kind);
	s.subject = s.issuer = ca->subject;
	memcpy(s.serial, serial, 16);
	s.serial_len = 16;
	s.not_before = (int64_t)now - 3600;
	s.not_after = (int64_t)now + 10 * 366 * 86400LL;
	s.subject_key = s.issuer_key = &ca->k.pub;
	s.is_ca = 1;

	rc = x509_issue(&s, test_sign, &sg, ca->der, sizeof(ca->der), &ca->len,
			&why);
	CHECK_EQ(rc, IG_OK);
	if (rc != IG_OK) {
		fprintf(stderr, "  CA %s: %s\n", kind, why ? why : "?");
		abort();
	}
	CHECK_EQ(sg.calls, 1);
	ca->x = cert_of(ca->der, ca->len);
	CHECK(ca->x != NULL);
	if (!ca->x)
		abort();
	/* The signer was handed the digest of the TBSCertificate in the
	 * certificate: OpenSSL's re-encoding is the same bytes. */
	tbs_len = ossl_tbs(ca->x, tbs, sizeof(tbs));
	dlen = expected_digest(&ca->k.pub, tbs, tbs_len, want);
	CHECK_EQ(sg.last_len, dlen);
	CHECK(!memcmp(sg.last, want, dlen));
	CHECK(ca->len > tbs_len + 4 && !memcmp(ca->der + 4, tbs, tbs_len));
	CHECK_EQ(X509_self_signed(ca->x, 1), 1);
	check_common(ca->x, &s, ca->x);
	check_info(ca->der, ca->len, &s, ca->subject, ca->subject);
	/* Self-signed: the AKI is the SKI. */
	CHECK(!ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(ca->x),
				     X509_get0_authority_key_id(ca->x)));
	if (write_pem(kind, ca->der, ca->len, ca->pem_path, sizeof(ca->pem_path)))
		abort();
	if (have_openssl) {
		char text[16384], ski[80];
		uint8_t id[20];

		CHECK_EQ(openssl_text(ca->pem_path, text, sizeof(text)), 0);
		CHECK(strstr(text, "Version: 3 (0x2)") != NULL);
		CHECK(strstr(text, "X509v3 Basic Constraints: critical\n"
				   "                CA:TRUE, pathlen:0\n") != NULL);
		CHECK(strstr(text, "X509v3 Key Usage: critical\n"
				   "                Certificate Sign, CRL Sign\n") != NULL);
		CHECK(strstr(text, "CA:FALSE") == NULL);
		/* The SKI's hex twice: as SKI and as AKI. */
		key_id_of(ca->x, id);
		upper_hex(id, 20, ski);
		CHECK_EQ(count_of(text, ski), 2);
	}
}

/* A leaf issued the way a worker loop does it: x509_tbs, the HSM signs
 * the digest, x509_assemble. */
static void issue_leaf(struct ca *ca, struct key *leaf, const char *subject)
{
	static const uint8_t serial[16] = { 0x3f, 0x9a, 0x01, 0x02, 0x03, 0x04,
					    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
					    0x0b, 0x0c, 0x0d, 0x0e };
	struct x509_spec s = { 0 };
	uint8_t tbs[X509_TBS_MAX], cert[X509_DER_MAX], digest[64], want[64];
	uint8_t sig[PUBKEY_RSA_MAX];
	size_t tbs_len = 0, cert_len = 0, dlen = 0, sig_len = sizeof(sig), wlen;
	const char *why = NULL;
	char path[128], name[64];
	X509 *x;
	int rc;

	s.subject = subject;
	s.issuer = ca->subject;
	memcpy(s.serial, serial, sizeof(serial));
	s.serial_len = sizeof(serial);
	s.not_before = (int64_t)now - 60;
	s.not_after = (int64_t)now + 365 * 86400LL;
	s.subject_key = &leaf->pub;
	s.issuer_key = &ca->k.pub;
	s.is_ca = 0;

	rc = x509_tbs(&s, tbs, sizeof(tbs), &tbs_len, digest, &dlen, &why);
	CHECK_EQ(rc, IG_OK);
	if (rc != IG_OK) {
		fprintf(stderr, "  tbs: %s\n", why ? why : "?");
		return;
	}
	wlen = expected_digest(&ca->k.pub, tbs, tbs_len, want);
	CHECK_EQ(dlen, wlen);
	CHECK(!memcmp(digest, want, wlen));
	CHECK_EQ(fake_hsm_sign(ca->k.pkey, digest, dlen, sig, &sig_len), 0);
	rc = x509_assemble(tbs, tbs_len, &ca->k.pub, sig, sig_len, cert,
			   sizeof(cert), &cert_len, &why);
	CHECK_EQ(rc, IG_OK);
	if (rc != IG_OK) {
		fprintf(stderr, "  assemble: %s\n", why ? why : "?");
		return;
	}
	CHECK(!memcmp(cert + 4, tbs, tbs_len));
	x = cert_of(cert, cert_len);
	CHECK(x != NULL);
	if (!x)
		return;
	check_common(x, &s, ca->x);
	CHECK(chain_ok(ca->x, x));
	check_info(cert, cert_len, &s, subject, ca->subject);

	snprintf(name, sizeof(name), "leaf-%s-%s.pem", ca->k.name, leaf->name);
	if (write_pem(name, cert, cert_len, path, sizeof(path)))
		abort();
	if (have_openssl) {
		char text[16384];

		CHECK(openssl_verify(ca->pem_path, path, 1));
		/* The leaf does not verify as its own anchor. */
		CHECK(!openssl_verify(path, path, 0));
		CHECK_EQ(openssl_text(path, text, sizeof(text)), 0);
		CHECK(strstr(text, "Digital Signature, Non Repudiation") != NULL);
		CHECK(strstr(text, "X509v3 Basic Constraints: critical\n"
				   "                CA:FALSE\n") != NULL);
		CHECK(strstr(text, "CA:TRUE") == NULL);
		CHECK(strstr(text, "Serial Number:\n"
				   "            3f:9a:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e\n") != NULL);
		CHECK(strstr(text, "Subject: C = HK, O = idgate, CN = idgate citizen 3f9a\n") != NULL);
		CHECK(strstr(text, ca->k.pub.kind == PUBKEY_RSA
					   ? "Signature Algorithm: sha256WithRSAEncryption"
				   : ca->k.pub.kind == PUBKEY_EC_P256
					   ? "Signature Algorithm: ecdsa-with-SHA256"
					   : "Signature Algorithm: ecdsa-with-SHA384") != NULL);
	}
	X509_free(x);
}

static void test_chains(void)
{
	static const char *kinds[] = { "P-256", "P-384", "RSA" };
	static const uint8_t serial[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
					    0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98,
					    0x76, 0x54, 0x32, 0x10 };
	struct key leaf_ec, leaf_rsa;
	struct ca *ca = malloc(sizeof(*ca));

	key_new(&leaf_ec, "P-256");
	key_new(&leaf_rsa, "RSA");
	for (size_t i = 0; i < IG_ARRAY_LEN(kinds); i++) {
		make_ca(ca, kinds[i], serial);
		issue_leaf(ca, &leaf_ec, "CN=idgate citizen 3f9a,O=idgate,C=HK");
		issue_leaf(ca, &leaf_rsa, "CN=idgate citizen 3f9a,O=idgate,C=HK");
		X509_free(ca->x);
		EVP_PKEY_free(ca->k.pkey);
	}
	EVP_PKEY_free(leaf_ec.pkey);
	EVP_PKEY_free(leaf_rsa.pkey);
	free(ca);
}

/* ---- fixtures for the narrower tests ---- */

static struct key ca_ec, leaf_ec, other_ec, ca_384, ca_rsa;

/* A valid leaf spec under ca_ec. */
static struct x509_spec leaf_spec(void)
{
	struct x509_spec s = {
		.subject = "CN=idgate citizen 3f9a,O=idgate,C=HK",
		.issuer = "CN=idgate CA,O=idgate,C=HK",
		.serial = { 0x3f, 0x9a },
		.serial_len = 2,
		.not_before = (int64_t)now - 60,
		.not_after = (int64_t)now + 86400,
		.subject_key = &leaf_ec.pub,
		.issuer_key = &ca_ec.pub,
		.is_ca = 0,
	};
	return s;
}

/* Issue <s> through x509_issue signed by <key>; the DER length or 0. */
static size_t issue(const struct x509_spec *s, EVP_PKEY *key, uint8_t *out,
		    size_t cap, const char **why)
{
	struct signer sg = { .key = key };
	size_t len = 0;

	if (x509_issue(s, test_sign, &sg, out, cap, &len, why) != IG_OK)
		return 0;
	return len;
}

/* The INTEGER serial in the TBSCertificate of <cert>: after the outer
 * header, the TBS header and [0] v3. */
static const uint8_t *serial_in(const uint8_t *cert)
{
	const uint8_t *tbs = cert + 4;
	size_t h = tbs[1] < 0x80 ? 2 : 2 + (tbs[1] & 0x7f);

	return tbs + h + 5;
}

/* ---- serial numbers ---- */

static void test_serials(void)
{
	static const struct {
		uint8_t v[20];
		size_t n;
		const uint8_t *der; /* the whole INTEGER */
		size_t der_len;
	} ok[] = {
		{ { 0x12 }, 1, (const uint8_t *)"\x02\x01\x12", 3 },
		{ { 0x00, 0x00, 0x12 }, 3, (const uint8_t *)"\x02\x01\x12", 3 },
		{ { 0x0a }, 1, (const uint8_t *)"\x02\x01\x0a", 3 },
		{ { 0x80 }, 1, (const uint8_t *)"\x02\x02\x00\x80", 4 },
		{ { 0x00, 0xff, 0x01 }, 3, (const uint8_t *)"\x02\x03\x00\xff\x01", 5 },
		{ { 0x7f, 0xff }, 2, (const uint8_t *)"\x02\x02\x7f\xff", 4 },
		{ { 0x01, 0x00 }, 2, (const uint8_t *)"\x02\x02\x01\x00", 4 },
	};
	uint8_t cert[X509_DER_MAX];
	struct x509_spec s = leaf_spec();
	struct x509_info info;
	const char *why = NULL;
	char want[64], path[128], text[16384];
	size_t len;

	for (size_t i = 0; i < IG_ARRAY_LEN(ok); i++) {
		memset(s.serial, 0, sizeof(s.serial));
		memcpy(s.serial, ok[i].v, ok[i].n);
		s.serial_len = ok[i].n;
		len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
		CHECK(len > 0);
		if (!len)
			continue;
		CHECK(!memcmp(serial_in(cert), ok[i].der, ok[i].der_len));
		CHECK_EQ(x509_parse_info(cert, len, &info, &why), IG_OK);
		serial_hex(ok[i].v, ok[i].n, want);
		CHECK_STR(info.serial_hex, want);
	}
	CHECK_STR(info.serial_hex, "100");

	/* The top bit set: a 00 first, as OpenSSL reads and prints it. */
	memset(s.serial, 0xff, 19);
	s.serial[0] = 0x80;
	s.serial_len = 19;
	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0);
	if (len) {
		const uint8_t *p = serial_in(cert);
		X509 *x = cert_of(cert, len);
		BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)
			       : NULL;

		CHECK(p[0] == 0x02 && p[1] == 20 && p[2] == 0x00 && p[3] == 0x80);
		CHECK(bn && !BN_is_negative(bn) && BN_num_bytes(bn) == 19);
		CHECK_EQ(x509_parse_info(cert, len, &info, &why), IG_OK);
		CHECK_STR(info.serial_hex,
			  "80ffffffffffffffffffffffffffffffffffff");
		if (have_openssl && !write_pem("top.pem", cert, len, path,
					       sizeof(path))) {
			CHECK_EQ(openssl_text(path, text, sizeof(text)), 0);
			CHECK(strstr(text, "Serial Number:\n            80:ff:ff:") != NULL);
		}
		BN_free(bn);
		X509_free(x);
	}
	/* 20 bytes: fine with the top bit clear, and with a leading zero. */
	memset(s.serial, 0x7f, 20);
	s.serial_len = 20;
	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0 && serial_in(cert)[1] == 20 && serial_in(cert)[2] == 0x7f);
	CHECK(len && x509_parse_info(cert, len, &info, &why) == IG_OK &&
	      strlen(info.serial_hex) == 40);
	s.serial[0] = 0x00;
	s.serial[1] = 0xff;
	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0 && serial_in(cert)[1] == 20 && serial_in(cert)[2] == 0x00 &&
	      serial_in(cert)[3] == 0xff);
	CHECK(len && x509_parse_info(cert, len, &info, &why) == IG_OK &&
	      strlen(info.serial_hex) == 38);
}

/* ---- validity ---- */

static int64_t utc(int y, int mon, int d, int h, int m, int sec)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = m, .tm_sec = sec };

	return (int64_t)timegm(&tm);
}

/* Find the time element with <tag> and <text> in <der>. */
static int has_time(const uint8_t *der, size_t len, uint8_t tag,
		    const char *text)
{
	size_t n = strlen(text);

	for (size_t i = 0; i + 2 + n <= len; i++)
		if (der[i] == tag && der[i + 1] == n && !memcmp(der + i + 2, text, n))
			return 1;
	return 0;
}

static void test_validity(void)
{
	static const struct {
		int64_t t;
		uint8_t tag;
		const char *text, *info;
	} cases[] = {
		/* RFC 5280 §4.1.2.5: UTCTime 1950-2049, else GeneralizedTime. */
		{ INT64_C(2524607999), 0x17, "491231235959Z", "20491231235959Z" },
		{ INT64_C(2524608000), 0x18, "20500101000000Z", "20500101000000Z" },
		{ INT64_C(-631152000), 0x17, "500101000000Z", "19500101000000Z" },
		{ INT64_C(-631152001), 0x18, "19491231235959Z", "19491231235959Z" },
		{ INT64_C(0), 0x17, "700101000000Z", "19700101000000Z" },
		{ INT64_C(253402300799), 0x18, "99991231235959Z", "99991231235959Z" },
		{ INT64_C(-62135596800), 0x18, "00010101000000Z", "00010101000000Z" },
	};
	uint8_t cert[X509_DER_MAX];
	struct x509_spec s = leaf_spec();
	struct x509_info info;
	const char *why = NULL;
	char path[128], text[16384];
	size_t len;
	X509 *x;

	CHECK_EQ(utc(2050, 1, 1, 0, 0, 0), INT64_C(2524608000));
	for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
		/* As not_before, then as not_after. */
		for (int which = 0; which < 2; which++) {
			s.not_before = which ? cases[i].t - 1 : cases[i].t;
			s.not_after = which ? cases[i].t : cases[i].t + 1;
			if (cases[i].t == INT64_C(253402300799) && !which)
				continue; /* nothing after it */
			if (cases[i].t == INT64_C(-62135596800) && which)
				continue; /* nothing before it */
			why = NULL;
			len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
			CHECK(len > 0);
			if (!len) {
				fprintf(stderr, "  validity %lld: %s\n",
					(long long)cases[i].t, why ? why : "?");
				continue;
			}
			CHECK(has_time(cert, len, cases[i].tag, cases[i].text));
			CHECK_EQ(x509_parse_info(cert, len, &info, &why), IG_OK);
			CHECK_STR(which ? info.not_after : info.not_before,
				  cases[i].info);
			/* OpenSSL reads the same instant. */
			x = cert_of(cert, len);
			CHECK(x != NULL);
			if (x) {
				const ASN1_TIME *at = which ? X509_get0_notAfter(x)
							    : X509_get0_notBefore(x);
				struct tm tm;

				CHECK(ASN1_TIME_to_tm(at, &tm) == 1 &&
				      (int64_t)timegm(&tm) == cases[i].t);
				X509_free(x);
			}
		}
	}

	/* Valid now until 2051: GeneralizedTime, and the chain verifies. */
	s.not_before = (int64_t)now - 60;
	s.not_after = utc(2051, 1, 1, 0, 0, 0);
	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0 && has_time(cert, len, 0x18, "20510101000000Z"));
	if (len && have_openssl && !write_pem("y2051.pem", cert, len, path,
					      sizeof(path))) {
		char ca_path[128];
		uint8_t ca_der[X509_DER_MAX];
		struct x509_spec cs = {
			.subject = "CN=idgate CA,O=idgate,C=HK",
			.issuer = "CN=idgate CA,O=idgate,C=HK",
			.serial = { 1 },
			.serial_len = 1,
			.not_before = (int64_t)now - 3600,
			.not_after = utc(2060, 1, 1, 0, 0, 0),
			.subject_key = &ca_ec.pub,
			.issuer_key = &ca_ec.pub,
			.is_ca = 1,
		};
		size_t ca_len = issue(&cs, ca_ec.pkey, ca_der, sizeof(ca_der), &why);

		CHECK(ca_len > 0);
		CHECK(!write_pem("ca2060.pem", ca_der, ca_len, ca_path,
				 sizeof(ca_path)));
		CHECK(openssl_verify(ca_path, path, 1));
		CHECK_EQ(openssl_text(path, text, sizeof(text)), 0);
		CHECK(strstr(text, "Not After : Jan  1 00:00:00 2051 GMT") != NULL);
	}
	/* A 9999 end, the RFC 5280 §4.1.2.5 "no well-defined expiration". */
	s.not_after = INT64_C(253402300799);
	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0 && has_time(cert, len, 0x18, "99991231235959Z"));
	if (len && have_openssl && !write_pem("y9999.pem", cert, len, path,
					      sizeof(path))) {
		CHECK_EQ(openssl_text(path, text, sizeof(text)), 0);
		CHECK(strstr(text, "Not After : Dec 31 23:59:59 9999 GMT") != NULL);
	}
}

/* ---- DN strings ---- */

static void test_names(void)
{
	static const struct {
		const char *dn, *why_part;
	} bad[] = {
		{ "", "is empty" },
		{ "CN=a,XX=b", "unknown attribute" },
		{ "SN=Smith", "unknown attribute" },
		{ "CN=a,emailAddress=x@y", "unknown attribute" },
		{ "=x", "type is empty" },
		{ "CN=", "value is empty" },
		{ "CN=  ", "value is empty" },
		{ "CN=a,O=", "value is empty" },
		{ "CN", "missing '='" },
		{ "CN=a,O", "missing '='" },
		{ "CN=a,,O=b", "empty attribute" },
		{ "CN=a,", "empty attribute" },
		{ ",CN=a", "empty attribute" },
		{ " , ", "empty attribute" },
		{ "CN=a+OU=b", "escaping" },
		{ "CN=a=b", "escaping" },
		{ "CN=a\\,b", "escaping" },
		{ "CN=#0401", "escaping" },
		{ "CN=\"q\"", "escaping" },
		{ "CN=a<b", "escaping" },
		{ "CN=a;O=b", "escaping" },
		{ "CN=a\tb", "control" },
		{ "CN=a\x7f", "control" },
		{ "CN=\xc3", "UTF-8" },
		{ "CN=\xc0\xaf", "UTF-8" },
		{ "CN=\xed\xa0\x80", "UTF-8" },
		{ "CN=\xf4\x90\x80\x80", "UTF-8" },
		{ "C=HKG", "longer" },
		{ "C=hk", "country" },
		{ "C=H", "country" },
		{ "C=H1", "country" },
		{ "serialNumber=a_b", "PrintableString" },
		{ "serialNumber=\xc3\xa9", "PrintableString" },
		{ "CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "longer" },
		{ "OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,OU=a,"
		  "OU=a,OU=a,OU=a,OU=a,OU=a", "more than 16" },
	};
	uint8_t der[X509_NAME_MAX], der2[X509_NAME_MAX];
	uint8_t cert[X509_DER_MAX];
	struct x509_spec s = leaf_spec();
	struct x509_info info;
	const char *why;
	size_t len = 0, len2 = 0, clen;
	char line[600], *big;
	X509_NAME *nm;
	const unsigned char *p;

	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		struct signer sg = { .key = ca_ec.pkey };
		uint8_t digest[64];
		size_t sentinel = 777, dlen = 888;

		why = NULL;
		CHECK_EQ(x509_name_der(bad[i].dn, X509_DN_SUBJECT, der, sizeof(der),
				       &sentinel, &why),
			 IG_EUSAGE);
		CHECK(why && !strncmp(why, "subject", 7) && strstr(why, bad[i].why_part));
		if (!why || !strstr(why, bad[i].why_part))
			fprintf(stderr, "  dn \"%s\": %s\n", bad[i].dn,
				why ? why : "(none)");
		CHECK_EQ(sentinel, 777);
		/* In a certificate, as subject and as issuer. */
		s = leaf_spec();
		s.subject = bad[i].dn;
		why = NULL;
		CHECK_EQ(x509_tbs(&s, cert, sizeof(cert), &sentinel, digest, &dlen,
				  &why),
			 IG_EUSAGE);
		CHECK(why && !strncmp(why, "subject", 7) && strstr(why, bad[i].why_part));
		CHECK_EQ(sentinel, 777);
		CHECK_EQ(dlen, 888);
		s = leaf_spec();
		s.issuer = bad[i].dn;
		why = NULL;
		CHECK_EQ(x509_issue(&s, test_sign, &sg, cert, sizeof(cert),
				    &sentinel, &why),
			 IG_EUSAGE);
		CHECK(why && !strncmp(why, "issuer", 6) && strstr(why, bad[i].why_part));
		CHECK_EQ(sentinel, 777);
		CHECK_EQ(sg.calls, 0);
	}
	s = leaf_spec();
	s.subject = NULL;
	CHECK_EQ(x509_tbs(&s, cert, sizeof(cert), &len, der2, &len2, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "subject is empty");
	s = leaf_spec();
	s.issuer = NULL;
	CHECK_EQ(x509_tbs(&s, cert, sizeof(cert), &len, der2, &len2, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "issuer is empty");
	CHECK_EQ(x509_name_der("CN=a", X509_DN_ISSUER, NULL, 10, &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_name_der("CN=a", X509_DN_ISSUER, der, sizeof(der), NULL,
			       &why),
		 IG_EUSAGE);

	/* RFC 4514 order, case-insensitive types, spaces dropped. */
	CHECK_EQ(x509_name_der("CN=idgate citizen 3f9a,O=idgate,C=HK",
			       X509_DN_SUBJECT, der, sizeof(der), &len, &why),
		 IG_OK);
	CHECK_EQ(x509_name_der(" cn = idgate citizen 3f9a , o=idgate,c =HK ",
			       X509_DN_ISSUER, der2, sizeof(der2), &len2, &why),
		 IG_OK);
	CHECK(len == len2 && !memcmp(der, der2, len));
	p = der;
	nm = d2i_X509_NAME(NULL, &p, (long)len);
	CHECK(nm && p == der + len);
	if (nm) {
		X509_NAME_oneline(nm, line, sizeof(line));
		CHECK_STR(line, "/C=HK/O=idgate/CN=idgate citizen 3f9a");
		X509_NAME_free(nm);
	}
	/* The name exactly: C as PrintableString, the others UTF8String. */
	CHECK_EQ(len, 2 + 13 + 17 + 30);
	CHECK(!memcmp(der, "\x30\x3c\x31\x0b\x30\x09\x06\x03\x55\x04\x06\x13\x02HK"
			   "\x31\x0f\x30\x0d\x06\x03\x55\x04\x0a\x0c\x06idgate"
			   "\x31\x1c\x30\x1a\x06\x03\x55\x04\x03\x0c\x13idgate citizen 3f9a",
		      len));
	/* Every size too small, on exact-size heap buffers. */
	for (size_t cap = 0; cap < len; cap++) {
		uint8_t *b = malloc(cap);
		size_t got = 12345;

		CHECK_EQ(x509_name_der("CN=idgate citizen 3f9a,O=idgate,C=HK",
				       X509_DN_SUBJECT, b, cap, &got, &why),
			 IG_EUSAGE);
		CHECK_EQ(got, 12345);
		free(b);
	}

	/* Every type, UTF-8, and how parse_info prints them back. */
	s = leaf_spec();
	s.subject = "CN=Key One,OU=Ops,O=Z\xc3\xbcrich AG,L=Z\xc3\xbcrich,ST=ZH,"
		    "serialNumber=A-1234,C=CH";
	clen = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(clen > 0);
	CHECK(clen && x509_parse_info(cert, clen, &info, &why) == IG_OK);
	CHECK_STR(info.subject, "CN=Key One,OU=Ops,O=Z\\C3\\BCrich AG,"
				"L=Z\\C3\\BCrich,ST=ZH,serialNumber=A-1234,C=CH");
	CHECK_STR(info.issuer, "CN=idgate CA,O=idgate,C=HK");
	/* A single RDN; 16 RDNs. */
	s.subject = "CN=x";
	clen = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(clen && x509_parse_info(cert, clen, &info, &why) == IG_OK &&
	      !strcmp(info.subject, "CN=x"));
	s.subject = "OU=a,OU=b,OU=c,OU=d,OU=e,OU=f,OU=g,OU=h,OU=i,OU=j,OU=k,"
		    "OU=l,OU=m,OU=n,OU=o,CN=Unit #5";
	clen = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(clen && x509_parse_info(cert, clen, &info, &why) == IG_OK &&
	      !strcmp(info.subject, s.subject));

	/* The largest name there is: X509_NAME_MAX exactly. */
	big = malloc(16 * 600);
	{
		size_t o = 0;

		for (int r = 0; r < 16; r++) {
			o += (size_t)sprintf(big + o, "%sL=", r ? "," : "");
			for (int c = 0; c < 128; c++) {
				memcpy(big + o, "\xf0\x9f\x94\x91", 4);
				o += 4;
			}
			big[o] = '\0';
		}
	}
	CHECK_EQ(x509_name_der(big, X509_DN_SUBJECT, der, sizeof(der), &len, &why),
		 IG_OK);
	CHECK_EQ(len, X509_NAME_MAX);
	CHECK_EQ(x509_name_der(big, X509_DN_SUBJECT, der, sizeof(der) - 1, &len2,
			       &why),
		 IG_EUSAGE);
	/* A 129th character is one too many. */
	{
		char *more = malloc(strlen(big) + 8);

		strcpy(more, big);
		strcat(more, "x");
		CHECK_EQ(x509_name_der(more, X509_DN_SUBJECT, der, sizeof(der),
				       &len2, &why),
			 IG_EUSAGE);
		CHECK(strstr(why, "longer") != NULL);
		free(more);
	}
	/* Both names that large, RSA-4096 keys: within the bounds. */
	{
		uint8_t n[512], e[3] = { 1, 0, 1 };
		struct pubkey big_key;
		uint8_t *tbs = malloc(X509_TBS_MAX), *out = malloc(X509_DER_MAX);
		uint8_t sig[512], digest[64];
		char *pem = malloc(X509_PEM_MAX);
		size_t tbs_len = 0, out_len = 0, dlen;

		memset(n, 0xc5, sizeof(n));
		CHECK_EQ(pubkey_from_rsa(&big_key, n, sizeof(n), e, sizeof(e), &why),
			 IG_OK);
		s = leaf_spec();
		s.subject = s.issuer = big;
		s.serial_len = 20;
		memset(s.serial, 0x7f, 20);
		s.not_before = -INT64_C(62135596800);
		s.subject_key = s.issuer_key = &big_key;
		s.is_ca = 1;
		CHECK_EQ(x509_tbs(&s, tbs, X509_TBS_MAX, &tbs_len, digest, &dlen, &why),
			 IG_OK);
		CHECK(tbs_len > 2 * X509_NAME_MAX && tbs_len <= X509_TBS_MAX);
		/* Made up key and signature: built (it fits), then refused. */
		memset(sig, 0x5a, sizeof(sig));
		why = NULL;
		CHECK_EQ(x509_assemble(tbs, tbs_len, &big_key, sig, sizeof(sig), out,
				       X509_DER_MAX, &out_len, &why),
			 IG_EPROTO);
		CHECK(why && !strcmp(why, "the issuer's signature does not verify"));
		/* The PEM of the largest DER fits, not one byte less. */
		memset(out, 0x42, X509_DER_MAX);
		CHECK(x509_pem(out, X509_DER_MAX, pem, X509_PEM_MAX) > 0);
		CHECK_EQ(x509_pem(out, X509_DER_MAX, pem, X509_PEM_MAX - 1),
			 IG_EUSAGE);
		CHECK_EQ(x509_pem(out, X509_DER_MAX + 1, pem, X509_PEM_MAX),
			 IG_EUSAGE);
		free(pem);
		free(out);
		free(tbs);
	}
	free(big);
}

/* ---- refusals of x509_tbs, x509_assemble and x509_issue ---- */

static void expect_tbs(const struct x509_spec *s, const char *why_part)
{
	uint8_t out[X509_TBS_MAX], digest[64];
	size_t len = 777, dlen = 888;
	struct signer sg = { .key = ca_ec.pkey };
	const char *why = NULL;

	CHECK_EQ(x509_tbs(s, out, sizeof(out), &len, digest, &dlen, &why),
		 IG_EUSAGE);
	CHECK(why && strstr(why, why_part));
	if (!why || !strstr(why, why_part))
		fprintf(stderr, "  expected \"%s\", got \"%s\"\n", why_part,
			why ? why : "(none)");
	CHECK_EQ(len, 777);
	CHECK_EQ(dlen, 888);
	why = NULL;
	CHECK_EQ(x509_issue(s, test_sign, &sg, out, sizeof(out), &len, &why),
		 IG_EUSAGE);
	CHECK(why && strstr(why, why_part));
	CHECK_EQ(len, 777);
	CHECK_EQ(sg.calls, 0);
}

static void test_tbs_rejects(void)
{
	struct x509_spec s;
	struct pubkey zero;
	uint8_t out[X509_TBS_MAX], digest[64];
	size_t len = 777, dlen = 888;
	const char *why = NULL;

	/* The fixture is valid. */
	s = leaf_spec();
	CHECK_EQ(x509_tbs(&s, out, sizeof(out), &len, digest, &dlen, &why), IG_OK);

	s = leaf_spec();
	s.serial_len = 0;
	expect_tbs(&s, "serial_len must be 1 to 20");
	s.serial_len = 21;
	expect_tbs(&s, "serial_len must be 1 to 20");
	s.serial_len = (size_t)-1;
	expect_tbs(&s, "serial_len must be 1 to 20");
	memset(s.serial, 0, sizeof(s.serial));
	s.serial_len = 1;
	expect_tbs(&s, "zero");
	s.serial_len = 20;
	expect_tbs(&s, "zero");
	memset(s.serial, 0xff, 20);
	expect_tbs(&s, "top bit");
	s.serial[0] = 0x80;
	expect_tbs(&s, "top bit");

	s = leaf_spec();
	s.not_after = s.not_before;
	expect_tbs(&s, "later than");
	s.not_after = s.not_before - 1;
	expect_tbs(&s, "later than");
	s = leaf_spec();
	s.not_after = INT64_C(253402300800);
	expect_tbs(&s, "0001 to 9999");
	s.not_after = INT64_MAX;
	expect_tbs(&s, "0001 to 9999");
	s = leaf_spec();
	s.not_before = INT64_C(-62135596801);
	expect_tbs(&s, "0001 to 9999");
	s.not_before = INT64_MIN;
	expect_tbs(&s, "0001 to 9999");

	s = leaf_spec();
	s.is_ca = 2;
	expect_tbs(&s, "is_ca");
	s.is_ca = -1;
	expect_tbs(&s, "is_ca");

	memset(&zero, 0, sizeof(zero));
	s = leaf_spec();
	s.subject_key = NULL;
	expect_tbs(&s, "no subject key");
	s.subject_key = &zero;
	expect_tbs(&s, "subject key is not a public key");
	s = leaf_spec();
	s.issuer_key = NULL;
	expect_tbs(&s, "no issuer key");
	s.issuer_key = &zero;
	expect_tbs(&s, "issuer key is not a public key");

	/* Missing arguments. */
	s = leaf_spec();
	CHECK_EQ(x509_tbs(NULL, out, sizeof(out), &len, digest, &dlen, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "no certificate spec");
	CHECK_EQ(x509_tbs(&s, NULL, sizeof(out), &len, digest, &dlen, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_tbs(&s, out, sizeof(out), NULL, digest, &dlen, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_tbs(&s, out, sizeof(out), &len, NULL, &dlen, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_tbs(&s, out, sizeof(out), &len, digest, NULL, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "no output buffer");
	/* A NULL <why> is allowed. */
	CHECK_EQ(x509_tbs(NULL, out, sizeof(out), &len, digest, &dlen, NULL),
		 IG_EUSAGE);
	s.serial_len = 0;
	CHECK_EQ(x509_tbs(&s, out, sizeof(out), &len, digest, &dlen, NULL),
		 IG_EUSAGE);
	s = leaf_spec();
	CHECK_EQ(x509_issue(&s, NULL, NULL, out, sizeof(out), &len, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "no signer");
	CHECK_EQ(x509_issue(&s, test_sign, NULL, NULL, sizeof(out), &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_issue(&s, test_sign, NULL, out, sizeof(out), NULL, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_issue(NULL, test_sign, NULL, out, sizeof(out), &len, &why),
		 IG_EUSAGE);
}

static void test_signers(void)
{
	struct x509_spec s = leaf_spec();
	uint8_t tbs[X509_TBS_MAX], cert[X509_DER_MAX], digest[64];
	uint8_t sig[PUBKEY_RSA_MAX], sig2[PUBKEY_RSA_MAX], zero_cert[X509_DER_MAX];
	size_t tbs_len, dlen, sig_len = sizeof(sig), len = 777;
	struct signer wrong = { .key = other_ec.pkey };
	struct signer sg = { .key = ca_ec.pkey };
	const char *why = NULL;
	uint8_t tag[2];

	memset(zero_cert, 0, sizeof(zero_cert));
	/* An HSM that signs with another key. */
	CHECK_EQ(x509_issue(&s, test_sign, &wrong, cert, sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK_STR(why, "the issuer's signature does not verify");
	CHECK_EQ(len, 777);
	CHECK_EQ(wrong.calls, 1);
	CHECK_EQ(ERR_peek_error(), 0); /* the error queue is left clean */

	CHECK_EQ(x509_tbs(&s, tbs, sizeof(tbs), &tbs_len, digest, &dlen, &why),
		 IG_OK);
	CHECK_EQ(fake_hsm_sign(other_ec.pkey, digest, dlen, sig, &sig_len), 0);
	memset(cert, 0x77, sizeof(cert));
	why = NULL;
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK_STR(why, "the issuer's signature does not verify");
	CHECK_EQ(len, 777);
	/* What was written is wiped: no unverified certificate is left. */
	CHECK(!memcmp(cert, zero_cert, tbs_len + 64));
	CHECK_EQ(cert[tbs_len + 200], 0x77);

	/* The right key over other bytes: the TBS changed after signing. */
	sig_len = sizeof(sig);
	CHECK_EQ(fake_hsm_sign(ca_ec.pkey, digest, dlen, sig, &sig_len), 0);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_OK);
	len = 777;
	tbs[tbs_len - 5] ^= 1; /* inside the AKI's key identifier */
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	tbs[tbs_len - 5] ^= 1;
	/* r and s swapped; s of zero. */
	memcpy(sig2, sig + 32, 32);
	memcpy(sig2 + 32, sig, 32);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig2, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	memcpy(sig2, sig, 32);
	memset(sig2 + 32, 0, 32);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig2, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	/* A TBS made for a P-256 issuer, assembled as P-384's: the
	 * algorithms disagree and OpenSSL refuses it. */
	memset(sig2, 0x11, 96);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_384.pub, sig2, 96, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);

	/* Signatures of the wrong length, before anything is read. */
	why = NULL;
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, 63, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK(why && strstr(why, "wrong length"));
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, 65, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_rsa.pub, sig, 255, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, 0, cert,
			       sizeof(cert), &len, &why),
		 IG_EPROTO);
	sg.len_adj = -1;
	CHECK_EQ(x509_issue(&s, test_sign, &sg, cert, sizeof(cert), &len, &why),
		 IG_EPROTO);
	CHECK(why && strstr(why, "wrong length"));
	/* A signer claiming more than the room it had. */
	sg.len_adj = 100000;
	CHECK_EQ(x509_issue(&s, test_sign, &sg, cert, sizeof(cert), &len, &why),
		 IG_EPROTO);
	sg.len_adj = 0;
	/* Signers that fail: their result, or IG_EINTERNAL for a positive. */
	sg.fail = IG_EBLOCKED;
	CHECK_EQ(x509_issue(&s, test_sign, &sg, cert, sizeof(cert), &len, &why),
		 IG_EBLOCKED);
	CHECK_STR(why, "the issuer's signer failed");
	sg.fail = 1;
	CHECK_EQ(x509_issue(&s, test_sign, &sg, cert, sizeof(cert), &len, &why),
		 IG_EINTERNAL);
	sg.fail = 0;
	CHECK_EQ(len, 777);

	/* Bad TBS arguments. */
	CHECK_EQ(x509_assemble(NULL, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_assemble(tbs, 0, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_assemble(tbs, tbs_len - 1, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "<tbs> is not one DER SEQUENCE");
	tbs[tbs_len] = 0;
	CHECK_EQ(x509_assemble(tbs, tbs_len + 1, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	tag[0] = tbs[0];
	tbs[0] = 0x31;
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	tbs[0] = tag[0];
	/* A SEQUENCE that is no TBSCertificate. */
	CHECK_EQ(x509_assemble((const uint8_t *)"\x30\x03\x02\x01\x00", 5,
			       &ca_ec.pub, sig, sig_len, cert, sizeof(cert), &len,
			       &why),
		 IG_EUSAGE);
	CHECK(why && strstr(why, "x509_tbs"));
	CHECK_EQ(x509_assemble(tbs, tbs_len, NULL, sig, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_STR(why, "no issuer key");
	{
		struct pubkey zero;

		memset(&zero, 0, sizeof(zero));
		CHECK_EQ(x509_assemble(tbs, tbs_len, &zero, sig, sig_len, cert,
				       sizeof(cert), &len, &why),
			 IG_EUSAGE);
	}
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, NULL, sig_len, cert,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, NULL,
			       sizeof(cert), &len, &why),
		 IG_EUSAGE);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca_ec.pub, sig, sig_len, cert,
			       sizeof(cert), NULL, &why),
		 IG_EUSAGE);
	CHECK_EQ(len, 777);
	CHECK_EQ(ERR_peek_error(), 0);
}

/* ---- output buffers of every size ---- */

static void sizes_for(struct key *ca, struct key *leaf, int exact_issue)
{
	struct x509_spec s = leaf_spec();
	uint8_t tbs[X509_TBS_MAX], cert[X509_DER_MAX], digest[64], d2[64];
	uint8_t sig[PUBKEY_RSA_MAX];
	size_t tbs_len = 0, cert_len = 0, dlen, sig_len = sizeof(sig), issued;
	struct signer sg = { .key = ca->pkey };
	const char *why = NULL;
	char pem[X509_PEM_MAX];
	int pem_len;

	s.subject_key = &leaf->pub;
	s.issuer_key = &ca->pub;
	CHECK_EQ(x509_tbs(&s, tbs, sizeof(tbs), &tbs_len, digest, &dlen, &why),
		 IG_OK);
	for (size_t cap = 0; cap <= tbs_len; cap++) {
		uint8_t *b = malloc(cap);
		size_t got = 12345, dl = 999;

		if (cap < tbs_len) {
			CHECK_EQ(x509_tbs(&s, b, cap, &got, d2, &dl, &why),
				 IG_EUSAGE);
			CHECK_EQ(got, 12345);
			CHECK_EQ(dl, 999);
		} else {
			CHECK_EQ(x509_tbs(&s, b, cap, &got, d2, &dl, &why), IG_OK);
			CHECK(got == tbs_len && !memcmp(b, tbs, tbs_len));
			CHECK(dl == dlen && !memcmp(d2, digest, dlen));
		}
		free(b);
	}
	CHECK_STR(why, "output buffer too small for the TBSCertificate");

	CHECK_EQ(fake_hsm_sign(ca->pkey, digest, dlen, sig, &sig_len), 0);
	CHECK_EQ(x509_assemble(tbs, tbs_len, &ca->pub, sig, sig_len, cert,
			       sizeof(cert), &cert_len, &why),
		 IG_OK);
	for (size_t cap = 0; cap <= cert_len; cap++) {
		uint8_t *b = malloc(cap);
		size_t got = 12345;

		if (cap < cert_len) {
			CHECK_EQ(x509_assemble(tbs, tbs_len, &ca->pub, sig, sig_len,
					       b, cap, &got, &why),
				 IG_EUSAGE);
			CHECK_EQ(got, 12345);
		} else {
			CHECK_EQ(x509_assemble(tbs, tbs_len, &ca->pub, sig, sig_len,
					       b, cap, &got, &why),
				 IG_OK);
			CHECK(got == cert_len && !memcmp(b, cert, cert_len));
		}
		free(b);
	}

	/*
	 * x509_issue: an RSA issuer's signature is deterministic, so every
	 * size can be tried; ECDSA's DER varies by a byte or two with r and
	 * s, so for EC issuers stay a few bytes below the length seen.
	 */
	issued = issue(&s, ca->pkey, cert, sizeof(cert), &why);
	CHECK(issued > 0);
	for (size_t cap = 0; cap + (exact_issue ? 0 : 8) < issued; cap++) {
		uint8_t *b = malloc(cap);
		size_t got = 12345;

		CHECK_EQ(x509_issue(&s, test_sign, &sg, b, cap, &got, &why),
			 IG_EUSAGE);
		CHECK_EQ(got, 12345);
		free(b);
	}
	CHECK_STR(why, "output buffer too small for the certificate");
	if (exact_issue) {
		uint8_t *b = malloc(issued);
		size_t got = 0;

		CHECK_EQ(x509_issue(&s, test_sign, &sg, b, issued, &got, &why),
			 IG_OK);
		CHECK(got == issued && !memcmp(b, cert, issued));
		free(b);
	}

	/* PEM: every size up to the one with room for the NUL. */
	pem_len = x509_pem(cert, issued, pem, sizeof(pem));
	CHECK(pem_len > 0 && (size_t)pem_len == strlen(pem));
	for (size_t cap = 0; cap <= (size_t)pem_len; cap++) {
		char *b = malloc(cap);

		CHECK_EQ(x509_pem(cert, issued, b, cap), IG_EUSAGE);
		free(b);
	}
	{
		char *b = malloc((size_t)pem_len + 1);

		CHECK_EQ(x509_pem(cert, issued, b, (size_t)pem_len + 1), pem_len);
		CHECK_STR(b, pem);
		free(b);
	}
}

static void test_sizes(void)
{
	sizes_for(&ca_ec, &leaf_ec, 0);
	sizes_for(&ca_rsa, &leaf_ec, 1);
	sizes_for(&ca_384, &ca_rsa, 0);
}

/* ---- PEM ---- */

static void test_pem(void)
{
	struct x509_spec s = leaf_spec();
	uint8_t cert[X509_DER_MAX];
	char pem[X509_PEM_MAX];
	const char *p, *nl;
	size_t len, lines = 0, last = 64;
	X509 *x;
	BIO *bio;
	const char *why;
	int n;

	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	n = x509_pem(cert, len, pem, sizeof(pem));
	CHECK(n > 0 && (size_t)n == strlen(pem));
	CHECK(!strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28));
	CHECK(n > 26 && !strcmp(pem + n - 26, "-----END CERTIFICATE-----\n"));
	/* Body lines of 64 characters, the last one shorter or equal. */
	for (p = pem + 28; (nl = strchr(p, '\n')) && strncmp(p, "-----END", 8);
	     p = nl + 1) {
		CHECK_EQ(last, 64);
		last = (size_t)(nl - p);
		CHECK(last > 0 && last <= 64);
		lines++;
	}
	CHECK_EQ(lines, (len + 47) / 48);
	bio = BIO_new_mem_buf(pem, n);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	CHECK(x != NULL);
	if (x) {
		unsigned char *der = NULL;
		int dl = i2d_X509(x, &der);

		CHECK(dl > 0 && (size_t)dl == len && !memcmp(der, cert, len));
		OPENSSL_free(der);
		X509_free(x);
	}
	BIO_free(bio);
	/* Lengths that are and are not multiples of 3 and of 48. */
	for (size_t l = 1; l <= 100; l++) {
		uint8_t back[100];
		int m = x509_pem(cert, l, pem, sizeof(pem)), bl;
		char *body = pem + 28, *end = strstr(pem, "-----END");
		EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
		int fl = 0;

		CHECK(m > 0 && end);
		if (m <= 0 || !end || !ctx) {
			EVP_ENCODE_CTX_free(ctx);
			continue;
		}
		EVP_DecodeInit(ctx);
		bl = 0;
		CHECK(EVP_DecodeUpdate(ctx, back, &bl, (unsigned char *)body,
				       (int)(end - body)) >= 0);
		CHECK(EVP_DecodeFinal(ctx, back + bl, &fl) == 1);
		CHECK((size_t)(bl + fl) == l && !memcmp(back, cert, l));
		EVP_ENCODE_CTX_free(ctx);
	}
	CHECK_EQ(x509_pem(NULL, 10, pem, sizeof(pem)), IG_EUSAGE);
	CHECK_EQ(x509_pem(cert, 0, pem, sizeof(pem)), IG_EUSAGE);
	CHECK_EQ(x509_pem(cert, len, NULL, sizeof(pem)), IG_EUSAGE);
}

/* ---- x509_parse_info refusals ---- */

/* A certificate made by libcrypto: <version>, <serial>, <key>, signed by
 * ca_ec.  The DER length, or 0. */
static size_t ossl_cert(long version, long serial, EVP_PKEY *key, uint8_t *out,
			size_t cap)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *der = NULL;
	int n = 0;

	if (x && nm && X509_set_version(x, version) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				       (const unsigned char *)"made by libcrypto",
				       -1, -1, 0) &&
	    X509_set_subject_name(x, nm) && X509_set_issuer_name(x, nm) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	    X509_set_pubkey(x, key) && X509_sign(x, ca_ec.pkey, EVP_sha256()) > 0)
		n = i2d_X509(x, &der);
	X509_NAME_free(nm);
	X509_free(x);
	if (n <= 0 || (size_t)n > cap) {
		OPENSSL_free(der);
		return 0;
	}
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	return (size_t)n;
}

/* EVP_PKEY_Q_keygen knows no RSA-PSS. */
static EVP_PKEY *rsa_pss_key(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	EVP_PKEY *k = NULL;

	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1 ||
	    EVP_PKEY_keygen(ctx, &k) != 1)
		abort();
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static void expect_parse(const uint8_t *der, size_t len, const char *why_part)
{
	struct x509_info info;
	const char *why = NULL;

	memset(&info, 0xa5, sizeof(info));
	CHECK_EQ(parse_guarded(der, len, &info, &why), IG_EPROTO);
	CHECK(why && strstr(why, why_part));
	if (!why || !strstr(why, why_part))
		fprintf(stderr, "  parse: expected \"%s\", got \"%s\"\n",
			why_part, why ? why : "(none)");
	CHECK(info.subject[0] == 0 && info.serial_hex[0] == 0 &&
	      info.key.kind == 0);
}

static void test_parse_rejects(void)
{
	struct x509_spec s = leaf_spec();
	uint8_t cert[X509_DER_MAX], buf[X509_DER_MAX + 1];
	struct x509_info info;
	const char *why = NULL;
	size_t len, n;
	EVP_PKEY *k;

	len = issue(&s, ca_ec.pkey, cert, sizeof(cert), &why);
	CHECK(len > 0);
	CHECK_EQ(parse_guarded(cert, len, &info, &why), IG_OK);

	/* Every truncation, one byte more, garbage. */
	for (n = 0; n < len; n++)
		expect_parse(cert, n, "not a DER certificate");
	memcpy(buf, cert, len);
	buf[len] = 0;
	expect_parse(buf, len + 1, "trailing bytes");
	memcpy(buf + len, cert, len);
	expect_parse(buf, 2 * len, "trailing bytes");
	for (n = 0; n < len; n++)
		buf[n] = (uint8_t)(n * 131 + 7);
	expect_parse(buf, len, "not a DER certificate");
	buf[0] = 0x30;
	buf[1] = 0x82;
	buf[2] = (uint8_t)((len - 4) >> 8);
	buf[3] = (uint8_t)(len - 4);
	expect_parse(buf, len, "not a DER certificate");
	expect_parse((const uint8_t *)"\x30\x00", 2, "not a DER certificate");
	expect_parse((const uint8_t *)"-----BEGIN CERTIFICATE-----\n", 28,
		     "not a DER certificate");
	/* Flipped bits all along: refused or read, never a crash. */
	for (n = 0; n < len; n++) {
		memcpy(buf, cert, len);
		buf[n] ^= 0x81;
		(void)parse_guarded(buf, len, &info, &why);
	}
	CHECK_EQ(x509_parse_info(NULL, 10, &info, &why), IG_EUSAGE);
	CHECK_EQ(x509_parse_info(cert, len, NULL, &why), IG_EUSAGE);

	/* Versions 1 and 2. */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	n = ossl_cert(X509_VERSION_1, 5, k, buf, sizeof(buf));
	CHECK(n > 0);
	expect_parse(buf, n, "not an X.509 v3");
	n = ossl_cert(X509_VERSION_2, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "not an X.509 v3");
	/* libcrypto's v3 of the same is fine, and its names print as
	 * OpenSSL prints them. */
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	CHECK_EQ(parse_guarded(buf, n, &info, &why), IG_OK);
	CHECK_STR(info.subject, "CN=made by libcrypto");
	CHECK_STR(info.serial_hex, "5");
	/* Serials that are not positive. */
	n = ossl_cert(X509_VERSION_3, -5, k, buf, sizeof(buf));
	expect_parse(buf, n, "negative");
	n = ossl_cert(X509_VERSION_3, 0, k, buf, sizeof(buf));
	expect_parse(buf, n, "zero");
	/* A compressed point. */
	CHECK(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					     "compressed") == 1);
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "compressed");
	EVP_PKEY_free(k);
	/* Keys pubkey does not take. */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "unsupported curve");
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "unsupported subject key");
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "2048 to 4096");
	EVP_PKEY_free(k);
	k = rsa_pss_key();
	n = ossl_cert(X509_VERSION_3, 5, k, buf, sizeof(buf));
	expect_parse(buf, n, "unsupported subject key");
	EVP_PKEY_free(k);

	/* A v1 certificate from the openssl command. */
	if (have_openssl) {
		char cmd[1024], out[4096];
		int st;

		snprintf(cmd, sizeof(cmd),
			 "cd %s && /usr/bin/openssl ecparam -name prime256v1 -genkey -noout -out v1.key &&"
			 " /usr/bin/openssl req -new -key v1.key -subj /CN=v1 -out v1.csr &&"
			 " /usr/bin/openssl x509 -req -in v1.csr -signkey v1.key -days 1"
			 " -outform DER -out v1.der 2>&1",
			 tmpdir);
		st = run(cmd, out, sizeof(out));
		CHECK_EQ(st, 0);
		snprintf(cmd, sizeof(cmd), "%s/v1.der", tmpdir);
		{
			FILE *f = fopen(cmd, "rb");

			n = f ? fread(buf, 1, sizeof(buf), f) : 0;
			if (f)
				fclose(f);
		}
		CHECK(n > 0);
		expect_parse(buf, n, "not an X.509 v3");
		/* And `openssl req -x509`, v3 by default, reads fine: its
		 * subject as `-nameopt RFC2253` prints it. */
		snprintf(cmd, sizeof(cmd),
			 "cd %s && /usr/bin/openssl req -x509 -key v1.key"
			 " -subj '/C=HK/O=idgate/CN=made by openssl' -days 1"
			 " -outform DER -out v3.der 2>&1",
			 tmpdir);
		CHECK_EQ(run(cmd, out, sizeof(out)), 0);
		snprintf(cmd, sizeof(cmd), "%s/v3.der", tmpdir);
		{
			FILE *f = fopen(cmd, "rb");

			n = f ? fread(buf, 1, sizeof(buf), f) : 0;
			if (f)
				fclose(f);
		}
		CHECK_EQ(parse_guarded(buf, n, &info, &why), IG_OK);
		CHECK_STR(info.subject, "CN=made by openssl,O=idgate,C=HK");
		CHECK_STR(info.issuer, "CN=made by openssl,O=idgate,C=HK");
		CHECK_EQ(info.key.kind, PUBKEY_EC_P256);
	}
	CHECK_EQ(ERR_peek_error(), 0);
}

int main(void)
{
	now = time(NULL);
	strcpy(tmpdir, "/tmp/x509_test.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	have_openssl = access("/usr/bin/openssl", X_OK) == 0;
	if (!have_openssl)
		printf("x509: no /usr/bin/openssl, the command-line checks are skipped\n");

	key_new(&ca_ec, "P-256");
	key_new(&leaf_ec, "P-256");
	key_new(&other_ec, "P-256");
	key_new(&ca_384, "P-384");
	key_new(&ca_rsa, "RSA");

	test_chains();
	test_serials();
	test_validity();
	test_names();
	test_tbs_rejects();
	test_signers();
	test_sizes();
	test_pem();
	test_parse_rejects();

	EVP_PKEY_free(ca_ec.pkey);
	EVP_PKEY_free(leaf_ec.pkey);
	EVP_PKEY_free(other_ec.pkey);
	EVP_PKEY_free(ca_384.pkey);
	EVP_PKEY_free(ca_rsa.pkey);
	rm_tree(tmpdir);
	return check_done("x509");
}
