/*
 * jose.h - the JOSE pieces idgate needs: base64url (RFC 4648 §5, no
 * padding), ES256 JWS (RFC 7515, RFC 7518 §3.4: the signature is the
 * 64-byte R||S, not DER), P-256 JWKs (RFC 7517/7518 §6.2) and their
 * RFC 7638 thumbprints.  Sans-I/O and stateless: every function may be
 * called from any thread.  No allocation on the verify path beyond jansson's
 * parse of small JSON objects and mbedTLS's own bignum temporaries.
 */
#ifndef IG_JOSE_H
#define IG_JOSE_H
#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* Base64url without padding.  encode returns the output length (no NUL
 * written unless room: out must hold b64url_enc_len(n) + 1 and is
 * NUL-terminated).  decode is strict: no padding, no characters outside the
 * alphabet, no non-zero trailing bits, length % 4 != 1; returns the decoded
 * length or IG_EPROTO (also when the result would exceed <cap>: the input
 * is then longer than the caller accepts). */
#define b64url_enc_len(n) (((n) * 4 + 2) / 3)
#define b64url_dec_max(n) (((n) * 3) / 4)
size_t b64url_encode(const uint8_t *in, size_t n, char *out);
IG_MUST_CHECK int b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Base64 (RFC 4648 §4, '+' and '/') with its padding, as strictly: the
 * length a multiple of 4, one or two '=' only at the end and only where the
 * last group needs them, no whitespace, line break or other character
 * (§3.3), zero pad bits (§3.5).  Returns the decoded length or IG_EPROTO
 * (also beyond <cap>).  For values a peer sends in JSON (CSC hashes);
 * PEM (RFC 7468, line breaks allowed) is not this. */
IG_MUST_CHECK int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Base64 with padding into <out> (b64_enc_len(n) + 1 bytes, NUL-ended);
 * returns the length. */
#define b64_enc_len(n) (((n) + 2) / 3 * 4)
size_t b64_encode(const uint8_t *in, size_t n, char *out);

struct p256_pub {
	uint8_t x[32], y[32];
};

/* Parse a P-256 public JWK given as JSON text ({"kty":"EC","crv":"P-256",
 * "x":..,"y":..}; other members ignored; "d" is refused since a device
 * must never send its private key) and check the point is on the curve. */
int jwk_parse_p256(const char *json, size_t len, struct p256_pub *out,
		   const char **why);

/* RFC 7638 thumbprint: base64url(SHA-256('{"crv":"P-256","kty":"EC","x":"..","y":".."}')),
 * 43 characters + NUL into <out>. */
void jwk_thumbprint_p256(const struct p256_pub *pub, char out[44]);

/* Write {"kty":"EC","crv":"P-256","x":"..","y":".."} (+ optional extra
 * members given as a JSON fragment like "\"kid\":\"..\",\"use\":\"sig\"",
 * NULL or "" for none; the caller escapes it) into <out>, NUL-terminated;
 * returns the length or IG_ENOMEM if <cap> is too small. */
int jwk_format_p256(const struct p256_pub *pub, const char *extra, char *out,
		    size_t cap);

/* Is (x, y) a valid point on P-256?  1 yes, 0 no. */
int p256_point_valid(const struct p256_pub *pub);

/* ES256 verify of <sig> (64 bytes R||S) over SHA-256(<msg>) with <pub>.
 * Returns IG_OK or IG_EPROTO.  Thread-safe; no global state. */
int es256_verify(const struct p256_pub *pub, const uint8_t *msg, size_t len,
		 const uint8_t sig[64]);

/* ES256 sign with the private scalar <d> (32 bytes): for clients (the load
 * generator, tests).  The server signs only through the HSM.  <sig> gets
 * R||S.  Returns IG_OK or IG_EINTERNAL. */
int es256_sign(const uint8_t d[32], const uint8_t *msg, size_t len,
	       uint8_t sig[64]);

/* Generate a P-256 key pair (for clients and tests).  IG_OK or
 * IG_EINTERNAL.  Randomness comes from getrandom(2). */
int p256_keygen(uint8_t d[32], struct p256_pub *pub);

/* SHA-256 of <msg>. */
void sha256(const uint8_t *msg, size_t len, uint8_t out[32]);

/* HMAC-SHA-256 (RFC 2104) under <key> of the concatenation of <n> pieces:
 * how idgated derives every key from a secret of the state dir (the label
 * is the first piece), and the pairwise subject. */
struct ig_piece {
	const void *p;
	size_t len;
};
void hmac_sha256(const uint8_t *key, size_t key_len, const struct ig_piece *v, size_t n,
		 uint8_t out[32]);

/* A compact JWS split into its three base64url segments (views into the
 * caller's string).  Refuses anything but exactly two dots and non-empty
 * header and payload (the signature segment may be empty: the caller's alg
 * check refuses that case).  Segments are not decoded here. */
struct jws_parts {
	const char *hdr; size_t hdr_len;
	const char *payload; size_t payload_len;
	const char *sig; size_t sig_len;
	size_t signing_input_len; /* hdr_len + 1 + payload_len */
};
int jws_split(const char *jws, size_t len, struct jws_parts *out,
	      const char **why);

/* A JWS segment (a JOSE header or a JWT claims set, RFC 7515 §5.2 steps
 * 2-4): decoded from base64url and parsed as a JSON object, duplicate
 * member names refused (§5.2 step 4 lets us; a duplicate would let two
 * readers see two different claims).  JWS_SEG_OK with the object in *<out>
 * (the caller puts it), else why not and *<out> NULL.  Segments of more
 * than JWS_SEG_MAX bytes are JWS_SEG_B64. */
#define JWS_SEG_MAX 8192
enum jws_seg { JWS_SEG_OK, JWS_SEG_B64, JWS_SEG_JSON, JWS_SEG_DUP, JWS_SEG_NOTOBJ };
struct json_t;
IG_MUST_CHECK enum jws_seg jws_segment_json(const char *seg, size_t n, struct json_t **out);

#endif
