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

/* Derive citizen <index>'s key: private scalar <d> and public x, y (each
 * 32 bytes big-endian).  IG_OK or IG_EINTERNAL. */
int lg_key_derive(const char *seed, uint64_t index, uint8_t d[32],
		  uint8_t x[32], uint8_t y[32]);

/* The population file written by `populate` and read by `run`. */
struct lg_population {
	char seed[128];
	size_t n;
	char (*cred)[64];            /* cred[i]: citizen i's credential_id */
};
int lg_population_write(const char *path, const struct lg_population *p);
/* IG_OK, or IG_EUSAGE with <*why> for a missing or malformed file. */
int lg_population_read(const char *path, struct lg_population *p,
		       const char **why);
void lg_population_free(struct lg_population *p);

struct lg_signer;

/* Start the signer thread for <pop> with the audience <aud>; the pool
 * holds <cap> assertions and is filled before this returns (IG_OK,
 * IG_ENOMEM or IG_EINTERNAL). */
int lg_signer_start(struct lg_signer **out, const struct lg_population *pop,
		    const char *aud, size_t cap);
/* Take a signed assertion (NUL-terminated, copied into <out>, which holds
 * LG_ASSERTION_MAX bytes).  Never blocks: IG_EBLOCKED when the pool is
 * empty. */
int lg_signer_take(struct lg_signer *s, char *out);
void lg_signer_stop(struct lg_signer *s);

/* Sign one assertion for citizen <i> now (used by the pool and tests);
 * returns its length or a negative IG_E*. */
int lg_sign_assertion(const struct lg_population *pop, const char *aud,
		      size_t i, const char *jti, char *out, size_t cap);

#endif
