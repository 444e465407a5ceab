/*
 * store.h - idgate's durable state in LMDB: citizens' device credentials.
 *
 * One environment per state dir (<state>/store, a directory).  Readers are
 * the dataplane workers (one read-only transaction per lookup, no locks:
 * LMDB readers never block writers or each other); the only writer is the
 * admin thread (enrolment, revocation).  Durable on commit.
 *
 * Records (database "cred"): key = credential id (22 characters of
 * base64url of 16 random bytes), value = struct store_cred packed with a
 * version byte.  Database "citizen": key = citizen id + '\0' + credential
 * id, empty value: lists a citizen's credentials.
 */
#ifndef IG_STORE_H
#define IG_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "../common/jose.h"

#define STORE_CITIZEN_MAX 64   /* bytes of a citizen id */
#define STORE_CRED_ID_LEN 22

struct store;

struct store_cred {
	char cred_id[STORE_CRED_ID_LEN + 1];
	char citizen_id[STORE_CITIZEN_MAX + 1];
	struct p256_pub device_key;
	int64_t created;        /* seconds since the epoch */
	int64_t revoked;        /* 0 if live, else when revoked */
};

/* Open (creating if absent) the store under <dir>; <map_size> bytes of
 * address space for the map (grows the file lazily). */
int store_open(struct store **out, const char *dir, size_t map_size,
	       const char **why);
void store_close(struct store *s);

/* Look a credential up by id.  IG_OK and <*out> filled, IG_EPROTO if no such
 * credential (why = "unknown credential").  Safe from any thread. */
int store_get_cred(struct store *s, const char *cred_id, size_t len,
		   struct store_cred *out, const char **why);

/*
 * Enrol: create a new credential for <citizen_id> with <key>; its id is
 * returned in <cred_id_out>.  Citizen ids are 1..64 bytes of [A-Za-z0-9._-]
 * (IG_EPROTO "bad citizen_id" otherwise).  A device key already enrolled
 * (same x, y) for any citizen is refused (IG_EPROTO "device key already
 * enrolled"): one device key, one citizen.
 */
struct store_enrol {
	const char *citizen_id;
	struct p256_pub key;
	char cred_id_out[STORE_CRED_ID_LEN + 1];
	int result;             /* per-item result for bulk enrolment */
	const char *why;
};
/* Enrol <n> items in one write transaction (bulk enrolment): items that
 * fail get their own result/why and are skipped; the rest commit together.
 * Returns the number enrolled, or a negative IG_E* if the commit failed
 * (then nothing was enrolled). */
int store_enrol(struct store *s, struct store_enrol *items, size_t n,
		int64_t now);

/* Revoke: IG_OK, or IG_EPROTO "unknown credential". Revoking twice is
 * IG_OK (idempotent) but keeps the first time. */
int store_revoke(struct store *s, const char *cred_id, size_t len,
		 int64_t now, const char **why);

/* Count of credentials (for metrics). */
uint64_t store_count(struct store *s);

#endif
