/*
 * csc.h - remote signing for citizens: the Cloud Signature Consortium API
 * v2 (info, credentials/list, credentials/info, credentials/authorize,
 * signatures/signHash) on the public listener, and the signing-credential
 * routes of the admin listener.
 *
 * A citizen is known by the access token of the login (Bearer): besides its
 * pairwise sub, the token carries an opaque "cit" claim, the citizen id
 * encrypted (AES-256-GCM, a fresh nonce per token, so relying services
 * cannot link two tokens by it; padded to the longest citizen id, so its
 * length tells nothing) under a key derived from the state dir's pairwise
 * secret.  Only idgated reads it.
 *
 * A signature needs the citizen's explicit approval: credentials/authorize
 * takes a JWS from one of the citizen's enrolled devices naming the
 * credential and the exact hashes, and answers a SAD (signature activation
 * data): the credential, the SHA-256 of the hash list, their number, an
 * expiry, a nonce and the relying service (the access token's client_id),
 * MACed under a key of the server.  signatures/signHash accepts the SAD
 * once, for exactly those hashes, with a token of that same service.
 * Tokens issued to no relying service (a login that named no client_id)
 * are refused by every CSC method.  Every signHash is
 * written to idgated's audit log (the citizen's pseudonym, the credential,
 * each hash, the result) before the signatures are returned; when the log
 * cannot take the record the signatures are not returned (503).
 */
#ifndef IG_CSC_H
#define IG_CSC_H

#include "route.h"
#include "server.h"

#define CSC_CIT_MAX 160 /* the "cit" claim, base64url, NUL included */
#define CSC_MULTISIGN 16
#define CSC_CLIENT_MAX 128 /* bytes of a relying service's client_id */

/* Derive the claim and SAD keys, load the CA certificate.  Called once by
 * main after the HSM engine started; a missing CA certificate only turns
 * credential creation off (logged). */
int csc_init(struct server *srv, const char **why);
void csc_free(struct server *srv);

/* Per worker: the claim cipher. */
int csc_worker_init(struct worker *w);
void csc_worker_free(struct worker *w);

/* The "cit" claim for <citizen_id>; IG_OK or IG_EINTERNAL. */
int csc_cit_claim(struct worker *w, const char *citizen_id, char out[CSC_CIT_MAX]);

/* The TLS listener's routes of remote signing: the CSC API v2 under
 * /csc/v2/ and GET /pki/ca.pem. */
extern const struct route_table csc_routes;
/* The admin listener's: POST /v1/admin/citizens/{id}/signing-credential,
 * DELETE /v1/admin/signing-credentials/{id}. */
extern const struct route_table csc_admin_routes;


/* The connection's CSC state (free with the connection). */
void csc_conn_free(struct conn *c);

#endif
