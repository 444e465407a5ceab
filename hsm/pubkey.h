/*
 * pubkey.h - the public half of a key held in an HSM, taken from the
 * attributes PKCS#11 reports for it and turned into the formats the rest of
 * the world reads: a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), its PEM
 * form (RFC 7468 §13), a JWK (RFC 7517, RFC 7518 §6) and its RFC 7638
 * thumbprint; plus a PKCS#10 certificate request (RFC 2986) whose signature
 * comes from an external signer, the HSM.
 *
 * Keys: EC P-256 and P-384, RSA of 2048 to 4096 bits.  Inputs are checked
 * strictly (DER forms, the point on its curve, modulus and exponent) before
 * anything else sees them; every function is stateless and thread-safe and
 * writes only into the caller's buffers.  Nothing here is on a request
 * path: these serve provisioning and the officers' tool.
 */
#ifndef IG_HSM_PUBKEY_H
#define IG_HSM_PUBKEY_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"

enum {
	PUBKEY_EC_P256 = 1, /* 0 is left for "no key", so a zeroed struct is invalid */
	PUBKEY_EC_P384,
	PUBKEY_RSA,
};

#define PUBKEY_EC_MAX 48      /* bytes of one P-384 coordinate */
#define PUBKEY_RSA_MAX 512    /* bytes of a 4096-bit modulus */
#define PUBKEY_RSA_E_MAX 8    /* bytes of the public exponent (64 bits) */

struct pubkey {
	int kind;                     /* PUBKEY_EC_P256, PUBKEY_EC_P384, PUBKEY_RSA */
	size_t clen;                  /* EC: bytes per coordinate (32, 48) */
	uint8_t x[PUBKEY_EC_MAX];     /* EC: the affine point, big-endian, */
	uint8_t y[PUBKEY_EC_MAX];     /*     each exactly <clen> bytes */
	size_t nlen, elen;            /* RSA: lengths without leading zero octets */
	uint8_t n[PUBKEY_RSA_MAX];    /* RSA: modulus, big-endian */
	uint8_t e[PUBKEY_RSA_E_MAX];  /* RSA: public exponent, big-endian */
	char alg[16];                 /* see pubkey_alg_name */
};

/* Room enough for any key this module accepts. */
#define PUBKEY_SPKI_MAX 600   /* DER SubjectPublicKeyInfo (RSA-4096: 556) */
#define PUBKEY_PEM_MAX 900    /* PEM of the above, NUL included */
#define PUBKEY_JWK_MAX 800    /* JWK without kid, NUL included; add the
			       * escaped kid and 9 bytes for a kid */
#define PUBKEY_CSR_MAX 8192   /* PEM of a CSR, NUL included */

/*
 * An EC public key from its PKCS#11 attributes.  <ec_params> is
 * CKA_EC_PARAMS: the DER OID (namedCurve, X9.62) of prime256v1
 * (1.2.840.10045.3.1.7) or secp384r1 (1.3.132.0.34); any other curve,
 * explicit parameters included, gives IG_EUSAGE "unsupported curve".
 * <ec_point> is CKA_EC_POINT: the DER OCTET STRING holding the uncompressed
 * point 04||X||Y (Current Mechanisms v2.40 §2.3.3), or the bare 04||X||Y
 * some modules return.  Compressed points, long-form or wrong lengths,
 * trailing bytes: IG_EPROTO; a point not on the curve: IG_EPROTO.
 * <*why> says which.  <*out> is zeroed on failure.
 */
int pubkey_from_ec(struct pubkey *out, const uint8_t *ec_params,
		   size_t params_len, const uint8_t *ec_point, size_t point_len,
		   const char **why);

/*
 * An RSA public key from CKA_MODULUS <n> and CKA_PUBLIC_EXPONENT <e>
 * (big-endian, leading zero octets allowed and dropped).  The modulus must
 * be odd and 2048 to 4096 bits long (other sizes: IG_EUSAGE); the exponent
 * odd, greater than 1, less than the modulus and at most 64 bits (OpenSSL
 * refuses longer ones above 3072 bits; real keys use 65537): IG_EPROTO
 * otherwise.  <*out> is zeroed on failure.
 */
int pubkey_from_rsa(struct pubkey *out, const uint8_t *n, size_t nlen,
		    const uint8_t *e, size_t elen, const char **why);

/*
 * The DER SubjectPublicKeyInfo of <k> (RFC 5480 for EC: id-ecPublicKey with
 * the namedCurve and the uncompressed point; RFC 8017 Appendix A.1 for RSA:
 * rsaEncryption, NULL parameters, RSAPublicKey), the same bytes OpenSSL's
 * i2d_PUBKEY gives.  IG_OK with *len set, or IG_EUSAGE when <k> is not a
 * key or <cap> is too small (nothing useful is then in <out>).
 */
int pubkey_spki_der(const struct pubkey *k, uint8_t *out, size_t cap,
		    size_t *len);

/*
 * "-----BEGIN PUBLIC KEY-----\n" + the SPKI in base64, 64 characters a
 * line + "-----END PUBLIC KEY-----\n", NUL-terminated.  Returns the length
 * (without the NUL) or IG_EUSAGE when <cap> is too small.
 */
int pubkey_pem(const struct pubkey *k, char *out, size_t cap);

/*
 * The public JWK of <k>, compact JSON, members in this order:
 *   {"kid":..,"kty":"EC","crv":"P-256"|"P-384","x":..,"y":..}
 *   {"kid":..,"kty":"RSA","n":..,"e":..}
 * "kid" only when <kid_or_null> is not NULL (it must be UTF-8 and is
 * escaped here).  Coordinates have the curve's full size (RFC 7518
 * §6.2.1.2); n and e have no leading zero octets (§6.3.1.1).  Returns the
 * length (NUL written after it) or IG_EUSAGE (too small a buffer, a kid
 * that is not UTF-8, not a key).
 */
int pubkey_jwk(const struct pubkey *k, const char *kid_or_null, char *out,
	       size_t cap);

/* The RFC 7638 SHA-256 thumbprint of the JWK of <k>: base64url without
 * padding, 43 characters + NUL.  For P-256 the same as
 * jwk_thumbprint_p256.  An empty string when <k> is not a key. */
void pubkey_thumbprint(const struct pubkey *k, char out[44]);

/* "EC P-256", "EC P-384", "RSA-<bits of the modulus>" (RSA-2048,
 * RSA-3072, RSA-4096 for the usual sizes), or "" when <k> is not a key;
 * the string lives in <k>. */
const char *pubkey_alg_name(const struct pubkey *k);

/*
 * The external signer of a CSR: the HSM, called synchronously (a CSR is
 * made by the officers' tool, never on a worker loop).
 *
 * EC keys: <digest> is the SHA-256 (P-256) or SHA-384 (P-384) hash of the
 * DER CertificationRequestInfo, 32 or 48 bytes: exactly the input of
 * CKM_ECDSA.  The signer writes the raw r||s that CKM_ECDSA produces (each
 * half the size of a coordinate, 64 or 96 bytes); pubkey_csr_pem turns it
 * into the DER Ecdsa-Sig-Value of RFC 5480 §2.2 / RFC 3279 §2.2.3.
 *
 * RSA keys: <digest> is NOT a bare hash: it is the 51-byte DER DigestInfo
 * of RFC 8017 §9.2 (step 2), the 19-byte SHA-256 prefix
 *   30 31 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20
 * followed by SHA-256(CertificationRequestInfo): exactly the input
 * CKM_RSA_PKCS (PKCS#11 Current Mechanisms v2.40 §2.1.6) needs to produce
 * an RSASSA-PKCS1-v1_5 signature.  The signer writes that signature, the
 * length of the modulus in bytes.  (Do not use CKM_SHA256_RSA_PKCS here: it
 * would hash the DigestInfo again.)
 *
 * On entry *<sig_len> is the room in <sig> (512 bytes); the signer sets it
 * to the signature's length.  It returns IG_OK or a negative IG_E*, which
 * pubkey_csr_pem passes on.
 */
typedef int (*pubkey_sign_fn)(void *ctx, const uint8_t *digest,
			      size_t digest_len, uint8_t *sig,
			      size_t *sig_len);

/*
 * A PKCS#10 certificate request for <k> (RFC 2986: version 0, no
 * attributes), signed through <sign>(<ctx>, ...) with ecdsa-with-SHA256
 * (P-256), ecdsa-with-SHA384 (P-384) or sha256WithRSAEncryption (RSA),
 * written as "-----BEGIN CERTIFICATE REQUEST-----" PEM, NUL-terminated.
 *
 * <subject> is a comma-separated list of TYPE=value, TYPE one of CN, O,
 * OU, C, L, ST, serialNumber (case-insensitive), e.g.
 * "CN=idgate.example,O=Example,C=HK".  As in RFC 4514 the string lists the
 * RDNs from the last to the first, so the DER Name holds C, then O, then
 * CN (OpenSSL prints it "C = HK, O = Example, CN = idgate.example").
 * Spaces around names and values are dropped; values are UTF-8 (C and
 * serialNumber: PrintableString characters), at most the RFC 5280
 * Appendix A upper bounds (C exactly two upper-case letters), with none
 * of , + = \ " < > ; and no leading # (RFC 4514 escapes are not
 * supported).  A bad subject gives IG_EUSAGE with
 * <*why>.
 *
 * Before returning, the finished request is parsed back and its signature
 * verified with OpenSSL against <k>: a signer that used another key gives
 * IG_EPROTO "the HSM's signature does not verify".  A signature of the
 * wrong length: IG_EPROTO.  A failing signer: its result.  Too small an
 * <out>: IG_EUSAGE (PUBKEY_CSR_MAX always suffices).  Returns the length.
 */
int pubkey_csr_pem(const struct pubkey *k, const char *subject,
		   pubkey_sign_fn sign, void *ctx, char *out, size_t cap,
		   const char **why);

#endif
