/*
 * approval.h - dual control for dangerous key-management actions.
 *
 * A second security officer approves one action on one key by signing a
 * statement with their own officer key: an EC P-256 key in a PEM file on
 * their own machine.  The statement is a compact JWS (RFC 7515) with ES256
 * (RFC 7518 §3.4):
 *
 *   header  {"alg":"ES256","typ":"idgate-approval+jwt"}
 *   payload {"officer":"alice","action":"destroy","hsm":"hsm-a",
 *            "key":"<key id>","iat":T,"exp":T+ttl,"nonce":"<16 bytes, b64url>"}
 *
 * The public keys of all registered officers are PEM files NAME.pem
 * (SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----") in one officers
 * directory.  Officer names are 1 to 64 characters of [A-Za-z0-9._-], not
 * starting with '.' and without "..": a name can never leave that
 * directory or name a hidden file.
 *
 * An approval is valid for its whole lifetime (at most 24 hours) and may
 * be presented more than once within it: nothing here keeps state.  A
 * caller that needs single use records the nonces it has accepted.
 *
 * Key material is read only from the files named, never printed, and
 * wiped from memory after use.  Stateless and thread-safe; nothing here is
 * on a request path.  Reasons (<*why>) that name an officer or an action
 * live in a thread-local buffer, valid until this thread's next call into
 * this module; the others are static strings.
 */
#ifndef IG_HSM_APPROVAL_H
#define IG_HSM_APPROVAL_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"

#define APPROVAL_NAME_MAX 64        /* characters of an officer name */
#define APPROVAL_FIELD_MAX 256      /* bytes of action, hsm and key id */
#define APPROVAL_TTL_MAX 86400      /* seconds an approval may live */
#define APPROVAL_CLOCK_SKEW 60      /* seconds an iat may lie ahead */
#define APPROVAL_JWS_MAX 4096       /* room for any approval, NUL included */

/* Is <name> a valid officer name?  1 yes, 0 no. */
int approval_name_ok(const char *name);

/*
 * Write an approval by <officer> of <action> on key <key_id> in HSM <hsm>,
 * issued now and valid for <ttl_s> seconds (1 to APPROVAL_TTL_MAX), signed
 * with the private key in <key_pem_path>: PEM, unencrypted, PKCS#8
 * ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), an EC P-256 key, in a
 * regular file that group and others cannot access (mode 0600 or 0400).
 * <action>, <hsm>, <key_id>: 1 to APPROVAL_FIELD_MAX bytes of UTF-8
 * without control characters.
 * The compact JWS goes to <out>, NUL-terminated; returns its length.
 * IG_EUSAGE with <*why> for every refusal (bad name or field, key file
 * missing, too open, encrypted, not P-256, too small a buffer);
 * IG_EINTERNAL if libcrypto fails.
 */
int approval_create(const char *officer, const char *key_pem_path,
		    const char *action, const char *hsm, const char *key_id,
		    unsigned ttl_s, char *out, size_t cap, const char **why);

/*
 * Check the approval <jws> for <action> on <key_id> in <hsm> at time <now>
 * (Unix seconds): well formed (exactly the header above, exactly the
 * payload members above), signed by the key in <officers_dir>/<officer>.pem
 * of the officer it names, for this action, HSM and key (byte for byte),
 * iat <= now + APPROVAL_CLOCK_SKEW, now < exp, 0 < exp - iat <=
 * APPROVAL_TTL_MAX.  On success <officer_out> gets the officer's name.
 *
 * IG_OK; IG_EPROTO with <*why> naming the first failure ("approval is
 * malformed: ...", "approval signed by an unknown officer 'x'", "approval
 * signature does not verify", "approval is for action 'a', not 'b'",
 * "approval expired", ...); IG_EUSAGE for bad arguments or an officers
 * directory that is missing or holds a file that is not a P-256 public key.
 */
int approval_check(const char *jws, const char *officers_dir,
		   const char *action, const char *hsm, const char *key_id,
		   int64_t now, char officer_out[APPROVAL_NAME_MAX + 1],
		   const char **why);

/*
 * Check the <n> approvals <jws>[0..n-1] as approval_check does, each of
 * which must pass, and require at least <need> (>= 1) distinct officers
 * among them; two approvals by one officer count once.  <officers_out>
 * (room for <n> names) gets the distinct officers in the order first seen.
 * Returns the number of distinct officers (>= <need>) on success;
 * IG_EPROTO with <*why> ("approval 2 of 3: approval expired", "two
 * approvals from the same officer 'alice': dual control needs two
 * officers", ...); IG_EUSAGE for bad arguments.
 */
int approval_quorum(const char *const *jws, size_t n, size_t need,
		    const char *officers_dir, const char *action,
		    const char *hsm, const char *key_id, int64_t now,
		    char officers_out[][APPROVAL_NAME_MAX + 1],
		    const char **why);

#endif
