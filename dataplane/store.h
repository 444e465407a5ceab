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
 * id, empty value: lists a citizen's credentials.  Database "devkey":
 * key = x || y (64 bytes), value = credential id: one device key, one
 * credential, even after revocation.
 */
#ifndef IG_STORE_H
#define IG_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "../common/jose.h"

#define STORE_CITIZEN_MAX 64   /* bytes of a citizen id */
#define STORE_CRED_ID_LEN 22
#define STORE_MAP_DEFAULT ((size_t)4 << 30)     /* map_size 0 means this */
#define STORE_MAX_READERS 1024 /* live store_readers + concurrent lookups */

struct store;

struct store_cred {
	char cred_id[STORE_CRED_ID_LEN + 1];
	char citizen_id[STORE_CITIZEN_MAX + 1];
	struct p256_pub device_key;
	int64_t created;        /* seconds since the epoch */
	int64_t revoked;        /* 0 if live, else when revoked */
};

/* Open (creating if absent) the store in the directory <dir> (created with
 * mode 0700 if absent; its parent must exist); <map_size> bytes of address
 * space for the map (grows the file lazily; 0: STORE_MAP_DEFAULT; a larger
 * existing file keeps its size).  Errors: IG_EUSAGE for bad arguments,
 * IG_EINTERNAL (with why) if the directory or environment cannot be opened. */
int store_open(struct store **out, const char *dir, size_t map_size,
	       const char **why);
/* Every store_reader must have been freed first. */
void store_close(struct store *s);

/* Look a credential up by id.  IG_OK and <*out> filled, IG_EPROTO if no such
 * credential (why = "unknown credential").  Safe from any thread.
 * IG_EINTERNAL "corrupt credential record" if the stored value does not
 * decode; IG_EINTERNAL "store read failed" if LMDB fails (e.g. more than
 * STORE_MAX_READERS concurrent readers).  Revoked credentials are returned
 * (revoked != 0): refusing them is the caller's business. */
int store_get_cred(struct store *s, const char *cred_id, size_t len,
		   struct store_cred *out, const char **why);

/*
 * A reader handle for one thread's many lookups: it keeps one read-only
 * transaction, reset between lookups and renewed for the next, so a lookup
 * costs no allocation and no lock (MDB_NOTLS: the handle, not the thread,
 * owns its reader slot).  Use one handle from one thread at a time; each
 * lookup sees the latest commit.  NULL if out of memory or reader slots.
 */
struct store_reader;
struct store_reader *store_reader_new(struct store *s);
void store_reader_free(struct store_reader *r);
/* As store_get_cred(). */
int store_reader_get_cred(struct store_reader *r, const char *cred_id,
			  size_t len, struct store_cred *out, const char **why);

/*
 * Enrol: create a new credential for <citizen_id> with <key>; its id is
 * returned in <cred_id_out>.  Citizen ids are 1..64 bytes of [A-Za-z0-9._-]
 * (IG_EPROTO "bad citizen_id" otherwise).  A device key already enrolled
 * (same x, y) for any citizen is refused (IG_EPROTO "device key already
 * enrolled"): one device key, one citizen.  The key is stored as given:
 * the caller has checked it is a point on P-256 (jwk_parse_p256()).
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
 * (then nothing was enrolled, and every item has that result and a why:
 * IG_ENOMEM "store map full: raise the store map size" when the map is
 * full, IG_EINTERNAL otherwise).  The admin thread only. */
int store_enrol(struct store *s, struct store_enrol *items, size_t n,
		int64_t now);

/* Revoke: IG_OK, or IG_EPROTO "unknown credential". Revoking twice is
 * IG_OK (idempotent) but keeps the first time.  IG_ENOMEM or IG_EINTERNAL
 * (with why) if the write fails.  The admin thread only. */
int store_revoke(struct store *s, const char *cred_id, size_t len,
		 int64_t now, const char **why);

/* The credential ids of <citizen_id>, in the order of the ids: the first
 * <cap> go into <ids>; returns how many there are in all (0 for a citizen
 * with none), IG_EPROTO "bad citizen_id", or IG_EINTERNAL. */
int store_citizen_creds(struct store *s, const char *citizen_id,
			char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			const char **why);

/*
 * Citizens' signing credentials (remote signing): a key pair made and
 * wrapped by an HSM (only the wrapped blob is here), its certificate from
 * the built-in CA, and the HSM whose wrapping key can unwrap it.  Ids are
 * like device credential ids but live in their own database.
 */
#define STORE_SC_BLOB_MAX 1600
#define STORE_SC_CERT_MAX 2048
struct store_signcred {
	char id[STORE_CRED_ID_LEN + 1];
	char citizen_id[STORE_CITIZEN_MAX + 1];
	char hsm[32];              /* the HSM that wrapped the key */
	uint8_t alg;               /* enum hsm_key_alg */
	int64_t created, revoked;  /* revoked: 0, or when disabled */
	uint8_t wrap_id_len;
	uint8_t wrap_id[32];       /* CKA_ID of the wrapping key */
	uint16_t blob_len, cert_len;
	uint8_t blob[STORE_SC_BLOB_MAX];
	uint8_t cert[STORE_SC_CERT_MAX]; /* DER */
};
/* Store a new one (id drawn and written to c->id, created = now).  The
 * admin thread only.  IG_OK, IG_EPROTO "bad citizen_id", IG_EUSAGE,
 * IG_ENOMEM / IG_EINTERNAL with why. */
int store_signcred_put(struct store *s, struct store_signcred *c, int64_t now,
		       const char **why);
/* Disable one for ever; as store_revoke. */
int store_signcred_revoke(struct store *s, const char *id, size_t len,
			  int64_t now, const char **why);
/* As store_reader_get_cred. */
int store_reader_get_signcred(struct store_reader *r, const char *id, size_t len,
			      struct store_signcred *out, const char **why);
/* As store_citizen_creds, for signing credentials. */
int store_citizen_signcreds(struct store *s, const char *citizen_id,
			    char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			    const char **why);
/* The same in a worker's reader (no reader-table lock on a request). */
int store_reader_citizen_signcreds(struct store_reader *r, const char *citizen_id,
				   char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
				   const char **why);

/* Count of credentials (for metrics; 0 if the store cannot be read). */
uint64_t store_count(struct store *s);

/* Bulk loading: <on> != 0 stops syncing each commit to disk (LMDB's
 * MDB_NOSYNC: a system crash may then lose the last commits, or worse, so
 * rerun the load after one); turning it off syncs everything written so
 * far.  IG_OK or IG_EINTERNAL. */
int store_set_nosync(struct store *s, int on);

/*
 * For tests only (fuzz_store): the record codecs behind the lookups and
 * writes above, without LMDB.  store_test_decode reads the value <val>
 * (<vlen> bytes) stored under the key <key> (<klen> bytes) as a lookup
 * does: IG_OK, or IG_EINTERNAL where the lookup answers "corrupt
 * credential record".  <signing> 1: a signing credential, <out> a struct
 * store_signcred; 0: a device credential, a struct store_cred.
 * store_test_encode writes <rec> (of the same type) as a write does and
 * returns the length.
 */
#define STORE_TEST_REC_MAX 4096
int store_test_decode(int signing, const void *key, size_t klen,
		      const void *val, size_t vlen, void *out);
size_t store_test_encode(int signing, const void *rec,
			 uint8_t out[STORE_TEST_REC_MAX]);

#endif
