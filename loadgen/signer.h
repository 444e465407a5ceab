/*
 * signer.h - device keys of the load population and the assertion pool.
 *
 * Keys are derived, never stored: citizen <i>'s device key is
 * d = HMAC-SHA256(seed, "idgate-load device " || i) reduced into
 * [1, n-1] (n: the P-256 group order), so `populate` and `run` agree
 * given the same seed.  Signing uses OpenSSL's libcrypto (about 30,000
 * ES256 signatures/s per core here, against about 2,400 for mbedTLS) on a
 * thread of its own that keeps a pool of signed assertions ahead of the
 * engines, so signing cost does not cap the offered load.
 */
#ifndef LG_SIGNER_H
#define LG_SIGNER_H
#include <stddef.h>
#include <stdint.h>

#define LG_ASSERTION_MAX 1536
#define LG_APPROVAL_MAX 2048
#define LG_APPROVAL_HASHES 16           /* the server's multisign limit */
#define LG_HASHES_JSON_MAX (LG_APPROVAL_HASHES * 47 + 3) /* quoted base64 */

/* Derive citizen <index>'s key: private scalar <d> and public x, y (each
 * 32 bytes big-endian).  IG_OK or IG_EINTERNAL. */
int lg_key_derive(const char *seed, uint64_t index, uint8_t d[32],
		  uint8_t x[32], uint8_t y[32]);

/* The population file written by `populate` and read by `run`. */
struct lg_population {
	char seed[128];
	size_t n;
	char (*cred)[64];            /* cred[i]: citizen i's credential_id */
	char (*scred)[64];           /* scred[i]: its signing credential, or "";
				      * NULL when no citizen has one */
	size_t nsigning;             /* citizens with a signing credential */
};
int lg_population_write(const char *path, const struct lg_population *p);
/* IG_OK, or IG_EUSAGE with <*why> for a missing or malformed file. */
int lg_population_read(const char *path, struct lg_population *p,
		       const char **why);
void lg_population_free(struct lg_population *p);

/* A device's approval of one signHash call (credentials/authorize). */
struct lg_approval {
	uint32_t slot;               /* the signer's slot (its access token) */
	unsigned nhash;
	char cred[64];               /* the signing credential */
	char hashes[LG_HASHES_JSON_MAX + 1]; /* ["<base64>",...] */
	char jws[LG_APPROVAL_MAX];
};

enum lg_pool_kind { LG_POOL_LOGIN, LG_POOL_SIGN, LG_POOL_COUNT };

struct lg_signer_params {
	const struct lg_population *pop;
	const char *aud;             /* login assertions' audience */
	const char *sign_aud;        /* approvals' audience */
	size_t cap[LG_POOL_COUNT];   /* entries ahead; 0: pool not used */
	const size_t *signers;       /* population index of each signer slot */
	size_t nsigners;
	unsigned nhash;              /* hashes per approval */
};

struct lg_signer;

/* Start the signer thread: its pools are filled before this returns
 * (IG_OK, IG_ENOMEM or IG_EINTERNAL).  <p> and what it points to must
 * outlive the signer. */
int lg_signer_start(struct lg_signer **out, const struct lg_signer_params *p);
/* Take an entry of pool <kind>: a NUL-terminated login assertion (into
 * LG_ASSERTION_MAX bytes) or a struct lg_approval.  Never blocks:
 * IG_EBLOCKED when the pool is empty. */
int lg_signer_take(struct lg_signer *s, int kind, void *out);
void lg_signer_stop(struct lg_signer *s);

/* Sign one assertion for citizen <i> now (used by the pool, the access
 * tokens of the sign workload and tests); returns its length or a
 * negative IG_E*. */
int lg_sign_assertion(const struct lg_population *pop, const char *aud,
		      size_t i, const char *jti, char *out, size_t cap);

/* Sign an approval by citizen <i> of <nhash> random hashes for its
 * signing credential (tests); IG_OK or a negative IG_E*. */
int lg_sign_approval(const struct lg_population *pop, const char *aud,
		     size_t i, unsigned nhash, const char *jti,
		     struct lg_approval *out);

#endif
