/*
 * assertion.h - checks of the device-key assertion in the OAuth 2.0
 * JWT-bearer grant (RFC 7523 §2.1 and §3) and building of the RFC 9068
 * access token idgate issues.
 *
 * Two steps so the caller can look the credential up in between:
 *   assertion_parse()  - structure, header and claims types (no crypto);
 *   assertion_verify() - signature with the credential's device key and
 *                        every claim against policy and the clock.
 */
#ifndef IG_ASSERTION_H
#define IG_ASSERTION_H
#include <stddef.h>
#include <stdint.h>

#include "../common/jose.h"

#define ASSERTION_MAX_LEN 4096
#define ASSERTION_ID_MAX 128 /* credential ids and jti, bytes */

struct assertion {
	struct jws_parts parts;           /* views into the caller's string */
	char kid[ASSERTION_ID_MAX + 1];   /* header kid = credential id */
	char iss[ASSERTION_ID_MAX + 1];
	char sub[ASSERTION_ID_MAX + 1];
	char jti[ASSERTION_ID_MAX + 1];
	char aud[512];                    /* the aud value(s), see parse */
	int aud_is_array;                 /* aud was a JSON array */
	unsigned aud_count;               /* strings packed in aud[] */
	int64_t iat, exp, nbf;            /* nbf = 0 when absent */
	uint8_t sig[64];
};

struct assertion_policy {
	const char *audience;   /* the token_endpoint URL from discovery */
	int64_t now;            /* seconds since the epoch */
	int64_t max_lifetime;   /* exp - now at most this (300) */
	int64_t skew;           /* tolerated clock skew, seconds (30) */
};

/*
 * Parse <jws> (at most ASSERTION_MAX_LEN bytes, need not be NUL-terminated):
 * exactly three segments; header is a JSON object with "alg":"ES256"
 * (anything else, "none" in particular, is refused), a string "kid",
 * optional "typ" ("JWT", case-insensitive), no "crit"; payload is a JSON
 * object with string iss, sub, jti, aud (string or non-empty array of
 * strings), and integer iat, exp (optional integer nbf); the signature
 * segment decodes to exactly 64 bytes.  Both JSON objects refuse duplicate
 * members; other members are ignored.  kid, iss, sub and jti are at most
 * ASSERTION_ID_MAX bytes of printable ASCII (0x20-0x7e); kid, iss and sub
 * are non-empty (an empty jti is refused by assertion_verify, RFC 7523 §3
 * item 7).  aud[] receives every aud string, each NUL-terminated, one after
 * the other (aud_count of them, at most sizeof(aud) bytes in all), so a
 * single-string aud is simply the C string aud.  <a> keeps views into <jws>
 * (a->parts), which must outlive it.  Returns IG_OK or IG_EPROTO with a
 * specific <*why> ("assertion alg must be ES256", "assertion lacks exp",
 * ...); IG_EUSAGE for NULL arguments.
 */
int assertion_parse(const char *jws, size_t len, struct assertion *a,
		    const char **why);

/*
 * Check a parsed assertion against the device key <pub> of credential
 * <a->kid> and <pol>: iss == sub == kid (RFC 7523 §3 items 1-2), aud
 * contains pol->audience (item 3), exp > now - skew (item 4) and
 * exp <= now + max_lifetime + skew, iat <= now + skew and iat >= now -
 * max_lifetime - skew, nbf <= now + skew, jti non-empty (item 7), then the
 * ES256 signature (item 9).  Returns IG_OK or IG_EPROTO with <*why>.
 * The replay check of jti is the caller's (it needs shared state).
 */
int assertion_verify(const struct assertion *a, const struct p256_pub *pub,
		     const struct assertion_policy *pol, const char **why);

/* The claims of an access token (RFC 9068 §2.2). */
struct access_token_claims {
	const char *iss, *sub, *aud, *client_id, *jti;
	int64_t iat, exp;
	const char *kid;        /* issuer key's RFC 7638 thumbprint */
	const char *cit;        /* the opaque citizen claim (csc.h), or NULL */
};

/*
 * Write the JWS signing input "b64url(header).b64url(claims)" of an access
 * token (header {"typ":"at+jwt","alg":"ES256","kid":..}, claims
 * {"iss","sub","aud","exp","iat","jti","client_id","cit"} in that order,
 * client_id and cit left out when NULL) into <out>, NUL-terminated; returns its
 * length, or IG_ENOMEM if <cap> is too small, IG_EUSAGE if a string other
 * than client_id is NULL.  The caller gets SHA-256 of it signed by the HSM
 * and appends it with access_token_finish.  String claims are JSON-escaped;
 * they must be UTF-8 (bytes >= 0x80 are copied as they are).  Allocates
 * nothing.
 */
int access_token_begin(const struct access_token_claims *c, char *out,
		       size_t cap);
/* Append "." b64url(sig) (87 bytes) and a NUL to the signing input of
 * length <len>; returns the token's total length or IG_ENOMEM. */
int access_token_finish(char *out, size_t len, size_t cap,
			const uint8_t sig[64]);

#endif
