/*
 * tokens.h - the access tokens of the sign workload's signers.
 *
 * A signing citizen calls the CSC API with an access token from a login.
 * Before a run, each signer (a citizen of the population with a signing
 * credential) logs in once over TLS (its derived device key signs the
 * assertion); a thread of its own logs each in again when half the
 * token's life has passed, so runs longer than a token's life keep
 * working.  Engines read a token with one atomic load; replaced tokens
 * are kept until lg_tokens_stop, so a token read stays valid for the run.
 */
#ifndef LG_TOKENS_H
#define LG_TOKENS_H
#include <stddef.h>

#include "loadgen.h"
#include "signer.h"

struct lg_tokens;

/* Log in up to <want> signers (the first citizens of <pop> with a signing
 * credential) at cfg's URL.  IG_OK, IG_EUSAGE (no signing credential in
 * the population) or IG_EPROTO (a login failed) with <*why>. */
int lg_tokens_start(struct lg_tokens **out, const struct lg_config *cfg,
		    const struct lg_population *pop, size_t want,
		    const char **why);
size_t lg_tokens_count(const struct lg_tokens *t);
/* The population index of signer slot <k>: an array of count entries. */
const size_t *lg_tokens_signers(const struct lg_tokens *t);
/* Slot <k>'s current access token. */
const char *lg_token(const struct lg_tokens *t, size_t k);
void lg_tokens_stop(struct lg_tokens *t);

#endif
