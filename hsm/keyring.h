/*
 * keyring.h - the lifecycle of the keys inside one HSM, kept in that HSM.
 *
 * Each token holds, next to its keys, one PKCS#11 data object (CKO_DATA,
 * CKA_APPLICATION "idgate", CKA_LABEL "idgate-keyring", CKA_TOKEN,
 * CKA_PRIVATE) whose CKA_VALUE is a small JSON document naming each key the
 * project manages there (by CKA_ID), its purpose and algorithm, and the
 * times of its lifecycle.  The state travels with the keys: every idgated
 * that uses the HSM reads the same lifecycle, and the officers' tool
 * (idgate-keys) is its only writer.
 *
 *   {"version":N,"keys":[{"id":"<hex CKA_ID>","label":"..",
 *     "purpose":"token-issuer","alg":"EC P-256","created":T,
 *     "publish":T,"activate":T,"retire":T,"unpublish":T}, ...]}
 *
 * Times are Unix seconds, 0 meaning "not set".  The state of a key at time
 * <now> follows from them, so scheduled transitions need no writer:
 *
 *   generated  publish unset or in the future: not published, not signing
 *   next       published in JWKS, not yet signing (activate unset or later)
 *   active     signing
 *   retiring   published, no longer signing, until every token it signed
 *              has expired (unpublish)
 *   retired    not published; may be destroyed (with dual control)
 *
 * Writes create the new version as a new object, then destroy the older
 * ones; a reader that finds several (a writer died in between) takes the
 * highest version.  Nothing here runs on a request path.
 */
#ifndef IG_HSM_KEYRING_H
#define IG_HSM_KEYRING_H
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "../common/result.h"

#define KEYRING_MAX 64        /* keys per token */
#define KEYRING_ID_MAX 64     /* bytes of CKA_ID */
#define KEYRING_LABEL_MAX 64  /* bytes of CKA_LABEL */
#define KEYRING_LABEL "idgate-keyring"
#define KEYRING_APPLICATION "idgate"

enum keyring_purpose {
	KR_TOKEN_ISSUER, KR_TLS, KR_CA, KR_WRAP, KR_PURPOSE_COUNT
};

enum keyring_state {
	KR_GENERATED, KR_NEXT, KR_ACTIVE, KR_RETIRING, KR_RETIRED,
	KR_STATE_COUNT
};

struct keyring_entry {
	uint8_t id[KEYRING_ID_MAX];
	size_t id_len;
	char label[KEYRING_LABEL_MAX + 1];
	uint8_t purpose;          /* enum keyring_purpose */
	char alg[16];             /* "EC P-256", "RSA-2048", "AES-256", ... */
	int64_t created, publish, activate, retire, unpublish;
};

struct keyring {
	uint64_t version;         /* 0: never written */
	unsigned n;
	struct keyring_entry e[KEYRING_MAX];
};

extern const char *const keyring_purpose_names[KR_PURPOSE_COUNT];
extern const char *const keyring_state_names[KR_STATE_COUNT];

/* The purpose named <s>, or -1. */
int keyring_purpose_parse(const char *s);

enum keyring_state keyring_state(const struct keyring_entry *k, int64_t now);

/* Published (next, active or retiring) at <now>. */
int keyring_published(const struct keyring_entry *k, int64_t now);

/* The entry whose CKA_ID is <id>, or NULL. */
struct keyring_entry *keyring_find(struct keyring *kr, const uint8_t *id,
				   size_t id_len);

/* Lowercase hex of <id> into <out> (2 * len + 1 bytes). */
void keyring_id_hex(const uint8_t *id, size_t len, char *out);

/*
 * Parse a keyring document strictly (unknown members, bad hex, bad
 * purposes, times out of order are refused).  IG_OK or IG_EPROTO with
 * <*why>.
 */
int keyring_parse(const char *json, size_t len, struct keyring *out,
		  const char **why);

/* Serialize <kr>; returns a malloc'd NUL-terminated string or NULL. */
char *keyring_format(const struct keyring *kr);

/*
 * Read the token's keyring through the logged-in session <s>.  Returns 1
 * (found, <*out> filled), 0 (the token has none: <*out> is empty, version
 * 0), or a negative IG_E* with <*why> (IG_EPROTO for a damaged document,
 * IG_EINTERNAL for a module failure; <*rv> gets the failing CKR).
 */
int keyring_read(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		 struct keyring *out, CK_RV *rv, const char **why);

/*
 * Store <kr> with version <kr->version> + 1 (updated in <kr>) through the
 * read-write, logged-in session <s>: the new object first, then the older
 * ones destroyed.  IG_OK or IG_EINTERNAL with <*why>.
 */
int keyring_write(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		  struct keyring *kr, const char **why);

#endif
