/*
 * x509.h - X.509 v3 certificates (RFC 5280) issued by idgate's built-in
 * CA, whose private key lives in an HSM; and the few facts idgate reads
 * back from a certificate.
 *
 * The HSM's signature is asynchronous on a worker loop, so issuing is split
 * in two: x509_tbs builds the TBSCertificate and the digest the HSM must
 * sign, and x509_assemble wraps the TBSCertificate and the HSM's signature
 * into the Certificate once the job completes.  x509_issue does both with a
 * synchronous signer, for tools and first-start provisioning.
 *
 * Every function here is stateless and thread-safe and writes only into
 * its caller's buffers (x509_issue and the OpenSSL checks allocate
 * internally).  Errors follow common/result.h: IG_EUSAGE for what our own
 * caller got wrong, IG_EPROTO for bad bytes from elsewhere (a certificate
 * to parse, a signature from the HSM), each with a static reason in <*why>.
 */
#ifndef IG_HSM_X509_H
#define IG_HSM_X509_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"
#include "pubkey.h"

/*
 * Room enough for every output, whatever the spec (16 RDNs of 128
 * four-byte characters in both names, RSA-4096 keys).  Real certificates
 * are far smaller: a P-256 leaf under a P-256 CA is about 450 bytes.
 */
#define X509_NAME_MAX 8468  /* DER Name from a DN string */
#define X509_TBS_MAX (2 * X509_NAME_MAX + PUBKEY_SPKI_MAX + 256)
#define X509_DER_MAX (X509_TBS_MAX + 640)
#define X509_PEM_MAX                                                           \
	(28 + 4 * ((X509_DER_MAX + 2) / 3) + (X509_DER_MAX + 47) / 48 + 26 + 1)

/*
 * DN strings, for a certificate's subject and issuer and a PKCS#10
 * request's subject: a comma-separated list of TYPE=value, TYPE one of CN,
 * O, OU, C, L, ST, serialNumber (case-insensitive), at most 16 of them,
 * e.g. "CN=idgate citizen 3f9a,O=idgate,C=HK".
 *
 * The order is RFC 4514's: the string lists the RDNs from the last to the
 * first, so the DER Name above holds C, then O, then CN, one attribute per
 * RDN, and OpenSSL prints it back with XN_FLAG_RFC2253 as the same string
 * when the values are ASCII ("C = HK, O = idgate, CN = ..." in its default
 * one-line form).
 *
 * Spaces around types and values are dropped.  Values are UTF-8 (written
 * as UTF8String; C and serialNumber as PrintableString and limited to its
 * characters), at most the RFC 5280 Appendix A upper bounds in characters
 * (CN, O, OU, serialNumber 64; L, ST 128; C exactly two upper-case
 * letters), with none of , + = \ " < > ; no leading # and no control
 * characters (RFC 4514 escapes are not supported).
 *
 * Two strings that differ only in spaces around the parts or in the case of
 * the types give the same bytes, so a leaf's issuer matches its CA's
 * subject (RFC 5280 §7.1) when both come from the same string.
 */
enum {
	X509_DN_SUBJECT, /* reasons in <*why> start "subject" */
	X509_DN_ISSUER,  /* reasons in <*why> start "issuer" */
};

/*
 * The DER Name (RFC 5280 §4.1.2.4) of the DN string <dn> into <out>.
 * <role> only chooses the wording of <*why>.  IG_OK with *<len> set; a bad
 * string or too small an <out> (X509_NAME_MAX always suffices): IG_EUSAGE,
 * *<len> untouched and nothing useful in <out>.
 */
int x509_name_der(const char *dn, int role, uint8_t *out, size_t cap,
		  size_t *len, const char **why);

struct x509_spec {
	const char *subject;    /* DN strings, see above; the issuer's must */
	const char *issuer;     /* be the string its own certificate used */
	uint8_t serial[20];     /* big-endian, positive; leading zeros are */
	size_t serial_len;      /* dropped, a 00 is added for a set top bit */
	int64_t not_before;     /* Unix seconds, inclusive (RFC 5280 */
	int64_t not_after;      /* §4.1.2.5), years 0001 to 9999 */
	const struct pubkey *subject_key;
	const struct pubkey *issuer_key; /* the CA's: algorithm and AKI */
	int is_ca;              /* 1 a CA (pathLen 0), 0 an end entity */
};

/*
 * The TBSCertificate (RFC 5280 §4.1) of <s> in DER into <out>, and the
 * input of the issuer's signature into <digest>.
 *
 * The certificate is v3 and carries, in this order:
 *   basicConstraints, critical: cA TRUE with pathLenConstraint 0 when
 *     <s>->is_ca, else cA FALSE (an empty SEQUENCE, the DER of DEFAULT);
 *   keyUsage, critical: keyCertSign|cRLSign for a CA, else
 *     digitalSignature|nonRepudiation;
 *   subjectKeyIdentifier: SHA-1 of the subjectPublicKey BIT STRING's
 *     contents (RFC 5280 §4.2.1.2, method 1);
 *   authorityKeyIdentifier: keyIdentifier only, the same hash of the
 *     issuer's key (equal to the SKI in a self-signed certificate).
 * UTCTime encodes the years 1950 to 2049, GeneralizedTime the others
 * (§4.1.2.5).  The signature algorithm follows the issuer's key:
 * ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384), both without
 * parameters (RFC 5758 §3.2); sha256WithRSAEncryption with NULL parameters
 * (RSA, RFC 4055 §5).
 *
 * <digest>, *<digest_len> bytes, is exactly what the HSM is given, as for
 * pubkey_sign_fn:
 *   EC P-256: SHA-256(TBSCertificate), 32 bytes, the input of CKM_ECDSA;
 *   EC P-384: SHA-384(TBSCertificate), 48 bytes, likewise;
 *   RSA: NOT a bare hash but the 51-byte DER DigestInfo of RFC 8017 §9.2
 *     (the 19-byte SHA-256 prefix, then SHA-256(TBSCertificate)), the
 *     input of CKM_RSA_PKCS.  Do not use CKM_SHA256_RSA_PKCS: it would
 *     hash the DigestInfo again.
 *
 * Everything is checked first, with IG_EUSAGE and a specific <*why>: a
 * missing or invalid key, a bad DN string, a serial that is empty, zero,
 * longer than 20 bytes or 20 bytes with the top bit set (RFC 5280
 * §4.1.2.2 allows 20 octets once encoded), <not_after> not after
 * <not_before> or a date outside 0001-9999, <is_ca> not 0 or 1, and too
 * small an <out> (X509_TBS_MAX always suffices).  On failure *<len>,
 * <digest> and *<digest_len> are untouched and <out> holds nothing useful.
 */
int x509_tbs(const struct x509_spec *s, uint8_t *out, size_t cap, size_t *len,
	     uint8_t digest[64], size_t *digest_len, const char **why);

/*
 * The Certificate ::= SEQUENCE { <tbs>, signatureAlgorithm, signature } in
 * DER into <out>.  <tbs> is what x509_tbs made with the same <issuer_key>;
 * <sig> is the HSM's signature of its digest: for EC the raw r||s that
 * CKM_ECDSA gives (Current Mechanisms v2.40 §2.3.1; each half the size of
 * a coordinate, 64 or 96 bytes), turned here into the DER Ecdsa-Sig-Value
 * of RFC 3279 §2.2.3; for RSA the PKCS#1 v1.5 signature, as long as the
 * modulus, written as it is.
 *
 * Before returning, the certificate is parsed by OpenSSL and its signature
 * verified with <issuer_key>: a signature made with another key, or over
 * other bytes, gives IG_EPROTO "the issuer's signature does not verify"
 * and <out> is wiped.  A signature of the wrong length: IG_EPROTO.  A
 * <tbs> that is not one DER SEQUENCE or does not parse as a certificate,
 * a missing key, too small an <out> (X509_DER_MAX always suffices):
 * IG_EUSAGE.  IG_OK with *<len> set; on failure *<len> is untouched.
 */
int x509_assemble(const uint8_t *tbs, size_t tbs_len,
		  const struct pubkey *issuer_key, const uint8_t *sig,
		  size_t sig_len, uint8_t *out, size_t cap, size_t *len,
		  const char **why);

/*
 * x509_tbs, then <sign>(<ctx>, digest, ...) called synchronously with room
 * for 512 bytes of signature, then x509_assemble: for tools and
 * first-start provisioning, never on a worker loop.  A failing signer: its
 * result (IG_EINTERNAL if it returned a positive value) with "the issuer's
 * signer failed"; everything else as above.
 */
int x509_issue(const struct x509_spec *s, pubkey_sign_fn sign, void *ctx,
	       uint8_t *out, size_t cap, size_t *len, const char **why);

/*
 * "-----BEGIN CERTIFICATE-----\n", the base64 of <der> in lines of 64
 * characters, "-----END CERTIFICATE-----\n" (RFC 7468 §5), NUL-terminated.
 * Returns the length without the NUL, or IG_EUSAGE when <cap> is too small
 * (X509_PEM_MAX always suffices) or <der> is empty or longer than
 * X509_DER_MAX.  <der> is not checked.
 */
int x509_pem(const uint8_t *der, size_t len, char *out, size_t cap);

struct x509_info {
	char subject[512];     /* RFC 4514 strings as OpenSSL prints them */
	char issuer[512];      /* with XN_FLAG_RFC2253 (bytes above 0x7f as \XX) */
	char serial_hex[41];   /* lowercase, no leading zeros */
	char not_before[32];   /* "YYYYMMDDHHMMSSZ", GeneralizedTime text */
	char not_after[32];    /* whichever type the certificate used */
	struct pubkey key;     /* the subject's public key */
};

/*
 * The facts above from the DER certificate <der> (<len> bytes), parsed
 * by OpenSSL.  Refused with IG_EPROTO and <*why>: anything that is not
 * exactly one DER certificate (trailing bytes included), a version other
 * than v3, a serial that is not positive or whose value needs more than
 * 20 bytes, names longer than the fields, dates OpenSSL cannot read, and subject keys other
 * than those pubkey_from_ec and pubkey_from_rsa accept (EC P-256/P-384 with
 * a named curve and an uncompressed point, rsaEncryption of 2048 to 4096
 * bits).  The signature is not checked.  <*out> is zeroed on failure.
 * A NULL argument: IG_EUSAGE.
 */
int x509_parse_info(const uint8_t *der, size_t len, struct x509_info *out,
		    const char **why);

#endif
