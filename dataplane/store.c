/*
 * store.c - citizens' device credentials in LMDB.
 *
 * Three databases in one environment (see store.h): "cred" (id -> record),
 * "devkey" (x || y -> id) and "citizen" (citizen id '\0' cred id -> empty).
 * The environment is opened with MDB_NOTLS so that a reader slot belongs to
 * a read transaction, not to a thread: a worker's store_reader keeps its
 * transaction across lookups (reset/renew), and the convenience lookups may
 * run on any thread beside it.  MDB_NORDAHEAD because lookups are random
 * and the map can outgrow memory.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/jose.h"
#include "../common/rand.h"
#include "../common/result.h"
#include "store.h"

struct store {
	MDB_env *env;
	MDB_dbi cred, devkey, citizen;
	MDB_dbi signcred, citizen_sc;   /* signing credentials, by citizen */
};

struct store_reader {
	struct store *s;
	MDB_txn *txn;           /* reset between lookups */
};

#define SET_WHY(whyp, msg)                                                     \
	do {                                                                   \
		if (whyp)                                                      \
			*(whyp) = (msg);                                       \
	} while (0)

static const char W_UNKNOWN[] = "unknown credential";
static const char W_CORRUPT[] = "corrupt credential record";
static const char W_READ[] = "store read failed";
static const char W_CITIZEN[] = "bad citizen_id";

/* An LMDB failure of a write, as our error vocabulary. */
static int store_write_err(int rc, const char **why)
{
	if (rc == MDB_MAP_FULL) {
		SET_WHY(why, "store map full: raise the store map size");
		return IG_ENOMEM;
	}
	if (rc == MDB_TXN_FULL) {
		SET_WHY(why, "store transaction full: enrol in smaller batches");
		return IG_ENOMEM;
	}
	SET_WHY(why, "store write failed");
	return IG_EINTERNAL;
}

/* --- the credential record ------------------------------------------------
 *
 * Version 1, big-endian, fixed layout:
 *   0  version (1)         1  created (8)       9  revoked (8)
 *  17  x (32)             49  y (32)           81  citizen id length (1)
 *  82  citizen id (1..64 bytes)
 */
#define REC_V1 1
#define REC_HDR 82
#define REC_MAX (REC_HDR + STORE_CITIZEN_MAX)

static void put_be64(uint8_t *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
		p[i] = (uint8_t)v;
}

static int64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static int citizen_ok(const char *id, size_t len)
{
	if (len < 1 || len > STORE_CITIZEN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = id[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static size_t rec_encode(uint8_t rec[REC_MAX], const struct store_cred *c)
{
	size_t clen = strlen(c->citizen_id);

	rec[0] = REC_V1;
	put_be64(rec + 1, c->created);
	put_be64(rec + 9, c->revoked);
	memcpy(rec + 17, c->device_key.x, 32);
	memcpy(rec + 49, c->device_key.y, 32);
	rec[81] = (uint8_t)clen;
	memcpy(rec + REC_HDR, c->citizen_id, clen);
	return REC_HDR + clen;
}

/* Decode and check everything a record promises: a store written by a
 * future version, or damaged, must not pass for a credential. */
static int rec_decode(const MDB_val *key, const MDB_val *val,
		      struct store_cred *out)
{
	const uint8_t *rec = val->mv_data;
	size_t clen;

	if (key->mv_size != STORE_CRED_ID_LEN || val->mv_size <= REC_HDR ||
	    val->mv_size > REC_MAX || rec[0] != REC_V1)
		return IG_EINTERNAL;
	clen = rec[81];
	if (val->mv_size != REC_HDR + clen ||
	    !citizen_ok((const char *)rec + REC_HDR, clen))
		return IG_EINTERNAL;
	memset(out, 0, sizeof(*out));
	memcpy(out->cred_id, key->mv_data, STORE_CRED_ID_LEN);
	memcpy(out->citizen_id, rec + REC_HDR, clen);
	memcpy(out->device_key.x, rec + 17, 32);
	memcpy(out->device_key.y, rec + 49, 32);
	out->created = get_be64(rec + 1);
	out->revoked = get_be64(rec + 9);
	if (out->created < 0 || out->revoked < 0)
		return IG_EINTERNAL;
	return IG_OK;
}

/* --- open / close ------------------------------------------------------- */

static int store_open_dbs(struct store *s, const char **why)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store_write_err(rc, why);
	rc = mdb_dbi_open(txn, "cred", MDB_CREATE, &s->cred);
	if (!rc)
		rc = mdb_dbi_open(txn, "devkey", MDB_CREATE, &s->devkey);
	if (!rc)
		rc = mdb_dbi_open(txn, "citizen", MDB_CREATE, &s->citizen);
	if (!rc)
		rc = mdb_dbi_open(txn, "signcred", MDB_CREATE, &s->signcred);
	if (!rc)
		rc = mdb_dbi_open(txn, "citizen_sc", MDB_CREATE, &s->citizen_sc);
	if (rc) {
		mdb_txn_abort(txn);
		return store_write_err(rc, why);
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_write_err(rc, why) : IG_OK;
}

static int store_open_env(struct store *s, const char *dir, size_t map_size,
			  const char **why)
{
	int rc, dead;

	if (mdb_env_create(&s->env)) {
		SET_WHY(why, "cannot create the store environment");
		return IG_EINTERNAL;
	}
	if (mdb_env_set_maxdbs(s->env, 5) ||
	    mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_MAP_DEFAULT) ||
	    mdb_env_set_maxreaders(s->env, STORE_MAX_READERS)) {
		SET_WHY(why, "cannot configure the store environment");
		return IG_EINTERNAL;
	}
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600);
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
		SET_WHY(why, "the store directory holds no LMDB environment of this version");
		return IG_EINTERNAL;
	}
	if (rc) {
		SET_WHY(why, rc == EACCES ? "store directory not accessible"
					  : "cannot open the store environment");
		return IG_EINTERNAL;
	}
	/* Free the reader slots of processes that died holding them. */
	mdb_reader_check(s->env, &dead);
	return store_open_dbs(s, why);
}

int store_open(struct store **out, const char *dir, size_t map_size,
	       const char **why)
{
	struct store *s;
	struct stat st;
	int rc;

	if (!out || !dir || !*dir) {
		SET_WHY(why, "no store directory");
		return IG_EUSAGE;
	}
	*out = NULL;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		SET_WHY(why, "cannot create the store directory");
		return IG_EINTERNAL;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		SET_WHY(why, "the store path is not a directory");
		return IG_EINTERNAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		SET_WHY(why, "out of memory");
		return IG_ENOMEM;
	}
	rc = store_open_env(s, dir, map_size, why);
	if (rc < 0) {
		store_close(s);
		return rc;
	}
	*out = s;
	return IG_OK;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	free(s);
}

/* --- lookups -------------------------------------------------------------- */

/* The record <id> of <dbi> into <val>: IG_OK, IG_EPROTO unknown, or
 * IG_EINTERNAL. */
static int record_get(MDB_txn *txn, MDB_dbi dbi, const char *id, size_t len,
		      MDB_val *key, MDB_val *val, const char **why)
{
	int rc;

	*key = (MDB_val){ .mv_size = len, .mv_data = (void *)id };
	rc = mdb_get(txn, dbi, key, val);
	if (rc == MDB_NOTFOUND) {
		SET_WHY(why, W_UNKNOWN);
		return IG_EPROTO;
	}
	if (rc) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

static int cred_lookup(struct store *s, MDB_txn *txn, const char *cred_id,
		       size_t len, struct store_cred *out, const char **why)
{
	MDB_val key, val;

	IG_GUARD(record_get(txn, s->cred, cred_id, len, &key, &val, why));
	if (rec_decode(&key, &val, out) < 0) {
		SET_WHY(why, W_CORRUPT);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

/* Ids of another length cannot exist: refuse them before LMDB sees them
 * (it rejects empty and over-long keys with an error, not "not found"). */
static int cred_id_args(const void *handle, const char *cred_id, size_t len,
			int have_out, const char **why)
{
	if (!handle || !have_out || (!cred_id && len)) {
		SET_WHY(why, "bad arguments");
		return IG_EUSAGE;
	}
	if (len != STORE_CRED_ID_LEN) {
		SET_WHY(why, W_UNKNOWN);
		return IG_EPROTO;
	}
	return IG_OK;
}

int store_get_cred(struct store *s, const char *cred_id, size_t len,
		   struct store_cred *out, const char **why)
{
	MDB_txn *txn;
	int rc;

	IG_GUARD(cred_id_args(s, cred_id, len, out != NULL, why));
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	rc = cred_lookup(s, txn, cred_id, len, out, why);
	mdb_txn_abort(txn);
	return rc;
}

struct store_reader *store_reader_new(struct store *s)
{
	struct store_reader *r;

	if (!s)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn)) {
		free(r);
		return NULL;
	}
	/* Idle until the first lookup: a reset transaction holds no snapshot,
	 * so it never keeps the writer from reusing pages. */
	mdb_txn_reset(r->txn);
	r->s = s;
	return r;
}

void store_reader_free(struct store_reader *r)
{
	if (!r)
		return;
	mdb_txn_abort(r->txn);
	free(r);
}

int store_reader_get_cred(struct store_reader *r, const char *cred_id,
			  size_t len, struct store_cred *out, const char **why)
{
	int rc;

	IG_GUARD(cred_id_args(r, cred_id, len, out != NULL, why));
	if (mdb_txn_renew(r->txn)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	rc = cred_lookup(r->s, r->txn, cred_id, len, out, why);
	mdb_txn_reset(r->txn);
	return rc;
}

/* The ids listed under <citizen_id> in index <dbi> (see below), read in
 * <txn>. */
static int list_index(MDB_txn *txn, MDB_dbi dbi, const char *citizen_id,
		      char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap, const char **why)
{
	char prefix[STORE_CITIZEN_MAX + 1];
	MDB_val key, val;
	MDB_cursor *cur;
	size_t plen;
	int rc, n = 0;

	if (!ids && cap) {
		SET_WHY(why, "bad arguments");
		return IG_EUSAGE;
	}
	plen = citizen_id ? strnlen(citizen_id, STORE_CITIZEN_MAX + 1) : 0;
	IG_ENSURE(citizen_ok(citizen_id, plen), IG_EPROTO, why, W_CITIZEN);
	memcpy(prefix, citizen_id, plen);
	prefix[plen++] = '\0';
	if (mdb_cursor_open(txn, dbi, &cur)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	key = (MDB_val){ .mv_size = plen, .mv_data = prefix };
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size < plen || memcmp(key.mv_data, prefix, plen))
			break;
		if (key.mv_size != plen + STORE_CRED_ID_LEN) {
			rc = -1;
			break;
		}
		if ((size_t)n < cap) {
			memcpy(ids[n], (char *)key.mv_data + plen, STORE_CRED_ID_LEN);
			ids[n][STORE_CRED_ID_LEN] = '\0';
		}
		n++;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	return n;
}

/* list_index in a read transaction of its own (tools, the admin worker). */
static int store_list_index(struct store *s, MDB_dbi dbi, const char *citizen_id,
			    char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			    const char **why)
{
	MDB_txn *txn;
	int n;

	if (!s) {
		SET_WHY(why, "bad arguments");
		return IG_EUSAGE;
	}
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	n = list_index(txn, dbi, citizen_id, ids, cap, why);
	mdb_txn_abort(txn);
	return n;
}

/* list_index in a worker's reader: no reader-table lock, no allocation. */
static int reader_list_index(struct store_reader *r, MDB_dbi dbi, const char *citizen_id,
			     char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			     const char **why)
{
	int n;

	if (!r) {
		SET_WHY(why, "bad arguments");
		return IG_EUSAGE;
	}
	if (mdb_txn_renew(r->txn)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	n = list_index(r->txn, dbi, citizen_id, ids, cap, why);
	mdb_txn_reset(r->txn);
	return n;
}

int store_citizen_creds(struct store *s, const char *citizen_id,
			char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			const char **why)
{
	return store_list_index(s, s ? s->citizen : 0, citizen_id, ids, cap, why);
}

uint64_t store_count(struct store *s)
{
	MDB_txn *txn;
	MDB_stat st;
	uint64_t n = 0;

	if (!s || mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return 0;
	if (!mdb_stat(txn, s->cred, &st))
		n = st.ms_entries;
	mdb_txn_abort(txn);
	return n;
}

/* --- enrolment and revocation ------------------------------------------ */

/* A fresh credential id: 128 random bits as 22 base64url characters
 * (rand.h's pool spares bulk enrolment a system call per id). */
static int new_cred_id(char out[STORE_CRED_ID_LEN + 1])
{
	uint8_t id[16];

	if (ig_random(id, sizeof(id)) != IG_OK)
		return -1;
	b64url_encode(id, sizeof(id), out);
	return 0;
}

enum { ENROL_OK, ENROL_REFUSED, ENROL_FATAL };

/* Store the record <val> under a fresh id, written to <id>.  128 random
 * bits do not collide, but a collision would hand one citizen's credential
 * to another: the put refuses to overwrite, and we draw again.  Returns 0
 * or an LMDB error; *<no_random> is set if no random id could be had. */
static int put_new_cred(struct store *s, MDB_txn *txn,
			MDB_val *val, char id[STORE_CRED_ID_LEN + 1],
			int *no_random)
{
	MDB_val key = { .mv_size = STORE_CRED_ID_LEN, .mv_data = id };
	int rc = MDB_KEYEXIST;

	for (int tries = 0; rc == MDB_KEYEXIST; tries++) {
		if (tries == 4 || new_cred_id(id)) {
			*no_random = 1;
			return 0;
		}
		rc = mdb_put(txn, s->cred, &key, val, MDB_NOOVERWRITE);
	}
	return rc;
}

/* One item inside the batch's transaction.  A refusal writes nothing; a
 * fatal result (an LMDB error in <*mdb_rc>, or 0 there and the reason in
 * it->why) dooms the whole transaction. */
static int enrol_one(struct store *s, MDB_txn *txn,
		     struct store_enrol *it, int64_t now, int *mdb_rc)
{
	uint8_t dk[64], rec[REC_MAX];
	struct store_cred c = { .created = now };
	MDB_val key = { .mv_size = 64, .mv_data = dk }, val;
	size_t clen;
	int rc, no_random = 0;

	clen = it->citizen_id ? strnlen(it->citizen_id, STORE_CITIZEN_MAX + 1) : 0;
	if (!citizen_ok(it->citizen_id, clen)) {
		it->why = W_CITIZEN;
		return ENROL_REFUSED;
	}
	memcpy(dk, it->key.x, 32);
	memcpy(dk + 32, it->key.y, 32);
	rc = mdb_get(txn, s->devkey, &key, &val);
	if (!rc) {
		it->why = "device key already enrolled";
		return ENROL_REFUSED;
	}
	if (rc != MDB_NOTFOUND)
		goto fatal;

	memcpy(c.citizen_id, it->citizen_id, clen);
	c.device_key = it->key;
	val = (MDB_val){ .mv_size = rec_encode(rec, &c), .mv_data = rec };
	rc = put_new_cred(s, txn, &val, it->cred_id_out, &no_random);
	if (no_random) {
		it->why = "cannot draw a credential id";
		goto fatal;
	}
	val = (MDB_val){ .mv_size = STORE_CRED_ID_LEN, .mv_data = it->cred_id_out };
	if (!rc)
		rc = mdb_put(txn, s->devkey, &key, &val, 0);
	/* the citizen index: citizen id, '\0', credential id */
	memcpy(rec, it->citizen_id, clen);
	rec[clen] = '\0';
	memcpy(rec + clen + 1, it->cred_id_out, STORE_CRED_ID_LEN);
	key = (MDB_val){ .mv_size = clen + 1 + STORE_CRED_ID_LEN, .mv_data = rec };
	val = (MDB_val){ .mv_size = 0, .mv_data = NULL };
	if (!rc)
		rc = mdb_put(txn, s->citizen, &key, &val, MDB_NOOVERWRITE);
	if (!rc)
		return ENROL_OK;
fatal:
	*mdb_rc = rc;
	return ENROL_FATAL;
}

/* The batch failed as a whole: say so on every item. */
static int enrol_fail(struct store_enrol *items, size_t n, int err,
		      const char *why)
{
	for (size_t i = 0; i < n; i++) {
		items[i].result = err;
		items[i].why = why;
		items[i].cred_id_out[0] = '\0';
	}
	return err;
}

static int enrol_write_fail(struct store_enrol *items, size_t n, int mdb_rc)
{
	const char *why = NULL;
	int err = store_write_err(mdb_rc, &why);

	return enrol_fail(items, n, err, why);
}

int store_enrol(struct store *s, struct store_enrol *items, size_t n,
		int64_t now)
{
	MDB_txn *txn;
	int rc, done = 0, mdb_rc = 0;

	if (!s || (!items && n))
		return IG_EUSAGE;
	if (now < 0)
		return enrol_fail(items, n, IG_EUSAGE, "bad enrolment time");
	if (!n)
		return 0;
	if (n > INT32_MAX)
		return enrol_fail(items, n, IG_EUSAGE, "batch too large");
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return enrol_write_fail(items, n, rc);
	for (size_t i = 0; i < n; i++) {
		struct store_enrol *it = &items[i];

		it->cred_id_out[0] = '\0';
		it->why = NULL;
		rc = enrol_one(s, txn, it, now, &mdb_rc);
		if (rc == ENROL_FATAL) {
			mdb_txn_abort(txn);
			if (mdb_rc)
				return enrol_write_fail(items, n, mdb_rc);
			return enrol_fail(items, n, IG_EINTERNAL, it->why);
		}
		if (rc == ENROL_REFUSED) {
			it->result = IG_EPROTO;
			it->cred_id_out[0] = '\0';
			continue;
		}
		it->result = IG_OK;
		done++;
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return enrol_write_fail(items, n, rc);
	return done;
}

int store_revoke(struct store *s, const char *cred_id, size_t len,
		 int64_t now, const char **why)
{
	struct store_cred c;
	uint8_t rec[REC_MAX];
	MDB_val key, val;
	MDB_txn *txn;
	int rc;

	IG_GUARD(cred_id_args(s, cred_id, len, 1, why));
	IG_ENSURE(now > 0, IG_EUSAGE, why, "bad revocation time");
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store_write_err(rc, why);
	rc = cred_lookup(s, txn, cred_id, len, &c, why);
	if (rc < 0 || c.revoked) {
		/* unknown, corrupt, or already revoked: nothing to write */
		mdb_txn_abort(txn);
		return rc;
	}
	c.revoked = now;
	key = (MDB_val){ .mv_size = len, .mv_data = (void *)cred_id };
	val = (MDB_val){ .mv_size = rec_encode(rec, &c), .mv_data = rec };
	rc = mdb_put(txn, s->cred, &key, &val, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return store_write_err(rc, why);
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_write_err(rc, why) : IG_OK;
}

int store_set_nosync(struct store *s, int on)
{
	if (!s)
		return IG_EUSAGE;
	if (mdb_env_set_flags(s->env, MDB_NOSYNC, on ? 1 : 0))
		return IG_EINTERNAL;
	if (!on && mdb_env_sync(s->env, 1))
		return IG_EINTERNAL;
	return IG_OK;
}

/* --- signing credentials --------------------------------------------------
 *
 * Database "signcred": key = credential id, value (version 1, big-endian):
 *   0 version (1)  1 alg (1)  2 created (8)  10 revoked (8)
 *  18 citizen id length (1), citizen id; HSM name length (1), name;
 *     wrap id length (1), wrap id; blob length (2), blob;
 *     certificate length (2), certificate (DER)
 * Database "citizen_sc": key = citizen id + '\0' + credential id.
 */
#define SC_V1 1
#define SC_MAX (18 + 1 + STORE_CITIZEN_MAX + 1 + 31 + 1 + 32 + 2 + STORE_SC_BLOB_MAX + \
		2 + STORE_SC_CERT_MAX)

static size_t sc_encode(uint8_t *rec, const struct store_signcred *c)
{
	size_t o = 18, n;

	rec[0] = SC_V1;
	rec[1] = c->alg;
	put_be64(rec + 2, c->created);
	put_be64(rec + 10, c->revoked);
	n = strlen(c->citizen_id);
	rec[o++] = (uint8_t)n;
	memcpy(rec + o, c->citizen_id, n);
	o += n;
	n = strlen(c->hsm);
	rec[o++] = (uint8_t)n;
	memcpy(rec + o, c->hsm, n);
	o += n;
	rec[o++] = c->wrap_id_len;
	memcpy(rec + o, c->wrap_id, c->wrap_id_len);
	o += c->wrap_id_len;
	rec[o++] = (uint8_t)(c->blob_len >> 8);
	rec[o++] = (uint8_t)c->blob_len;
	memcpy(rec + o, c->blob, c->blob_len);
	o += c->blob_len;
	rec[o++] = (uint8_t)(c->cert_len >> 8);
	rec[o++] = (uint8_t)c->cert_len;
	memcpy(rec + o, c->cert, c->cert_len);
	return o + c->cert_len;
}

/* One length-prefixed field at <*o> of <val>; -1 past the end or <cap>. */
static int sc_field(const MDB_val *val, size_t *o, int wide, size_t cap,
		    void *out, size_t *len)
{
	const uint8_t *p = val->mv_data;
	size_t n;

	if (*o + (wide ? 2 : 1) > val->mv_size)
		return -1;
	n = wide ? (size_t)p[*o] << 8 | p[*o + 1] : p[*o];
	*o += wide ? 2 : 1;
	if (n > cap || *o + n > val->mv_size)
		return -1;
	memcpy(out, p + *o, n);
	*o += n;
	*len = n;
	return 0;
}

static int sc_decode(const MDB_val *key, const MDB_val *val,
		     struct store_signcred *c)
{
	const uint8_t *p = val->mv_data;
	size_t o = 18, n;

	if (val->mv_size < 18 || p[0] != SC_V1 || key->mv_size != STORE_CRED_ID_LEN)
		return -1;
	memset(c, 0, sizeof(*c));
	memcpy(c->id, key->mv_data, STORE_CRED_ID_LEN);
	c->alg = p[1];
	c->created = get_be64(p + 2);
	c->revoked = get_be64(p + 10);
	/* What store_signcred_put promises, as rec_decode checks it: a record
	 * that breaks it is damaged, whatever its lengths say (a NUL in the
	 * citizen id would otherwise make it another citizen's). */
	if (c->created < 0 || c->revoked < 0 ||
	    sc_field(val, &o, 0, STORE_CITIZEN_MAX, c->citizen_id, &n) ||
	    !citizen_ok(c->citizen_id, n) ||
	    sc_field(val, &o, 0, sizeof(c->hsm) - 1, c->hsm, &n) || !n ||
	    memchr(c->hsm, '\0', n) ||
	    sc_field(val, &o, 0, sizeof(c->wrap_id), c->wrap_id, &n))
		return -1;
	c->wrap_id_len = (uint8_t)n;
	if (sc_field(val, &o, 1, sizeof(c->blob), c->blob, &n))
		return -1;
	c->blob_len = (uint16_t)n;
	if (sc_field(val, &o, 1, sizeof(c->cert), c->cert, &n) || o != val->mv_size)
		return -1;
	c->cert_len = (uint16_t)n;
	return 0;
}

static int sc_lookup(struct store *s, MDB_txn *txn, const char *id, size_t len,
		     struct store_signcred *out, const char **why)
{
	MDB_val key, val;

	IG_GUARD(record_get(txn, s->signcred, id, len, &key, &val, why));
	if (sc_decode(&key, &val, out) < 0) {
		SET_WHY(why, W_CORRUPT);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

int store_reader_get_signcred(struct store_reader *r, const char *id, size_t len,
			      struct store_signcred *out, const char **why)
{
	int rc;

	IG_GUARD(cred_id_args(r, id, len, out != NULL, why));
	if (mdb_txn_renew(r->txn)) {
		SET_WHY(why, W_READ);
		return IG_EINTERNAL;
	}
	rc = sc_lookup(r->s, r->txn, id, len, out, why);
	mdb_txn_reset(r->txn);
	return rc;
}

int store_signcred_put(struct store *s, struct store_signcred *c, int64_t now,
		       const char **why)
{
	uint8_t *rec, ikey[STORE_CITIZEN_MAX + 1 + STORE_CRED_ID_LEN];
	size_t clen;
	MDB_val val, key, empty = { 0, NULL };
	MDB_txn *txn;
	int rc, no_random = 0;

	clen = s && c ? strlen(c->citizen_id) : 0;
	IG_ENSURE(s && c && now > 0 && c->hsm[0] && c->blob_len <= sizeof(c->blob) &&
		  c->cert_len <= sizeof(c->cert) && c->wrap_id_len <= sizeof(c->wrap_id),
		  IG_EUSAGE, why, "bad arguments");
	IG_ENSURE(citizen_ok(c->citizen_id, clen), IG_EPROTO, why, W_CITIZEN);
	rec = malloc(SC_MAX);
	IG_ENSURE(rec, IG_ENOMEM, why, "out of memory");
	c->created = now;
	c->revoked = 0;
	val = (MDB_val){ .mv_size = sc_encode(rec, c), .mv_data = rec };
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		free(rec);
		return store_write_err(rc, why);
	}
	key = (MDB_val){ .mv_size = STORE_CRED_ID_LEN, .mv_data = c->id };
	rc = MDB_KEYEXIST;
	for (int tries = 0; rc == MDB_KEYEXIST && !no_random; tries++) {
		if (tries == 4 || new_cred_id(c->id))
			no_random = 1;
		else
			rc = mdb_put(txn, s->signcred, &key, &val, MDB_NOOVERWRITE);
	}
	free(rec);
	if (!rc) {
		memcpy(ikey, c->citizen_id, clen);
		ikey[clen] = '\0';
		memcpy(ikey + clen + 1, c->id, STORE_CRED_ID_LEN);
		key = (MDB_val){ .mv_size = clen + 1 + STORE_CRED_ID_LEN, .mv_data = ikey };
		rc = mdb_put(txn, s->citizen_sc, &key, &empty, 0);
	}
	if (rc || no_random) {
		mdb_txn_abort(txn);
		if (no_random) {
			SET_WHY(why, "no random numbers for a credential id");
			return IG_EINTERNAL;
		}
		return store_write_err(rc, why);
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_write_err(rc, why) : IG_OK;
}

int store_signcred_revoke(struct store *s, const char *id, size_t len,
			  int64_t now, const char **why)
{
	struct store_signcred *c;
	uint8_t *rec;
	MDB_val key, val;
	MDB_txn *txn;
	int rc;

	IG_GUARD(cred_id_args(s, id, len, 1, why));
	IG_ENSURE(now > 0, IG_EUSAGE, why, "bad revocation time");
	c = malloc(sizeof(*c));
	rec = malloc(SC_MAX);
	if (!c || !rec) {
		free(c);
		free(rec);
		SET_WHY(why, "out of memory");
		return IG_ENOMEM;
	}
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		rc = store_write_err(rc, why);
		goto out;
	}
	rc = sc_lookup(s, txn, id, len, c, why);
	if (rc < 0 || c->revoked) { /* unknown, corrupt, or already revoked */
		mdb_txn_abort(txn);
		goto out;
	}
	c->revoked = now;
	key = (MDB_val){ .mv_size = len, .mv_data = (void *)id };
	val = (MDB_val){ .mv_size = sc_encode(rec, c), .mv_data = rec };
	rc = mdb_put(txn, s->signcred, &key, &val, 0);
	if (rc) {
		mdb_txn_abort(txn);
		rc = store_write_err(rc, why);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	rc = rc ? store_write_err(rc, why) : IG_OK;
out:
	free(c);
	free(rec);
	return rc;
}

int store_citizen_signcreds(struct store *s, const char *citizen_id,
			    char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
			    const char **why)
{
	return store_list_index(s, s ? s->citizen_sc : 0, citizen_id, ids, cap, why);
}

int store_reader_citizen_signcreds(struct store_reader *r, const char *citizen_id,
				   char (*ids)[STORE_CRED_ID_LEN + 1], size_t cap,
				   const char **why)
{
	return reader_list_index(r, r ? r->s->citizen_sc : 0, citizen_id, ids, cap, why);
}

/* --- for tests ------------------------------------------------------------ */

_Static_assert(REC_MAX <= STORE_TEST_REC_MAX && SC_MAX <= STORE_TEST_REC_MAX,
	       "STORE_TEST_REC_MAX holds any record");

int store_test_decode(int signing, const void *key, size_t klen,
		      const void *val, size_t vlen, void *out)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };

	if (signing)
		return sc_decode(&k, &v, out) < 0 ? IG_EINTERNAL : IG_OK;
	return rec_decode(&k, &v, out);
}

size_t store_test_encode(int signing, const void *rec,
			 uint8_t out[STORE_TEST_REC_MAX])
{
	return signing ? sc_encode(out, rec) : rec_encode(out, rec);
}
