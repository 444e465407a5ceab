/*
 * store_test.c - the LMDB credential store, in a fresh temporary directory:
 * enrolment (one, bulk with refused items), the device-key and citizen
 * indexes, lookups, revocation, reopening, corrupt records, readers on two
 * threads beside an enrolling writer, and a full map.
 */
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/result.h"
#include "../../dataplane/store.h"
#include "check.h"

#define NOW 1700000000
#define BULK 10000

static char tmp[64], dir[96];

/* A distinct, made-up device key per <n> (the store does not check the
 * curve; the caller does). */
static struct p256_pub key_of(uint32_t n)
{
	struct p256_pub k;

	memset(&k, 0xa5, sizeof(k));
	memcpy(k.x, &n, sizeof(n));
	memcpy(k.y + 28, &n, sizeof(n));
	return k;
}

static int enrol1(struct store *s, const char *citizen, uint32_t keyn,
		  char id[STORE_CRED_ID_LEN + 1], const char **why)
{
	struct store_enrol it = { .citizen_id = citizen, .key = key_of(keyn) };
	int rc = store_enrol(s, &it, 1, NOW);

	if (id)
		strcpy(id, it.cred_id_out);
	*why = it.why;
	return rc < 0 ? rc : it.result;
}

static int b64url_id(const char *id)
{
	if (strlen(id) != STORE_CRED_ID_LEN)
		return 0;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789-_") == STORE_CRED_ID_LEN;
}

static void test_open_errors(void)
{
	struct store *s = (struct store *)1;
	char path[160];
	const char *why = NULL;
	FILE *f;

	CHECK_EQ(store_open(NULL, dir, 0, &why), IG_EUSAGE);
	CHECK_EQ(store_open(&s, NULL, 0, &why), IG_EUSAGE);
	snprintf(path, sizeof(path), "%s/missing/store", tmp);
	CHECK_EQ(store_open(&s, path, 0, &why), IG_EINTERNAL);
	CHECK_STR(why, "cannot create the store directory");
	CHECK(s == NULL);
	snprintf(path, sizeof(path), "%s/file", tmp);
	f = fopen(path, "w");
	fclose(f);
	CHECK_EQ(store_open(&s, path, 0, &why), IG_EINTERNAL);
	CHECK_STR(why, "the store path is not a directory");
	unlink(path);
}

static void test_enrol_get(struct store *s)
{
	char id[STORE_CRED_ID_LEN + 1], id2[STORE_CRED_ID_LEN + 1];
	char ids[3][STORE_CRED_ID_LEN + 1];
	struct p256_pub k = key_of(1);
	struct store_cred c;
	const char *why = NULL;
	struct stat st;

	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK_EQ(store_count(s), 0);
	CHECK_EQ(enrol1(s, "alice", 1, id, &why), IG_OK);
	CHECK(b64url_id(id));
	CHECK_EQ(store_get_cred(s, id, strlen(id), &c, &why), IG_OK);
	CHECK_STR(c.cred_id, id);
	CHECK_STR(c.citizen_id, "alice");
	CHECK(!memcmp(&c.device_key, &k, sizeof(k)));
	CHECK_EQ(c.created, NOW);
	CHECK_EQ(c.revoked, 0);

	/* a second device of the same citizen; "alice2" must not be listed
	 * under "alice" */
	CHECK_EQ(enrol1(s, "alice", 2, id2, &why), IG_OK);
	CHECK(strcmp(id, id2) != 0);
	CHECK_EQ(enrol1(s, "alice2", 3, NULL, &why), IG_OK);
	CHECK_EQ(store_citizen_creds(s, "alice", ids, 3, &why), 2);
	CHECK((!strcmp(ids[0], id) && !strcmp(ids[1], id2)) ||
	      (!strcmp(ids[0], id2) && !strcmp(ids[1], id)));
	CHECK_EQ(store_citizen_creds(s, "alice", ids, 1, &why), 2);
	CHECK_EQ(store_citizen_creds(s, "alice", NULL, 0, &why), 2);
	CHECK_EQ(store_citizen_creds(s, "alice2", ids, 3, &why), 1);
	CHECK_EQ(store_citizen_creds(s, "alic", ids, 3, &why), 0);
	CHECK_EQ(store_citizen_creds(s, "nobody", ids, 3, &why), 0);
	CHECK_EQ(store_citizen_creds(s, "bad id", ids, 3, &why), IG_EPROTO);
	CHECK_STR(why, "bad citizen_id");
	CHECK_EQ(store_citizen_creds(s, NULL, ids, 3, &why), IG_EPROTO);
	CHECK_EQ(store_count(s), 3);

	/* one device key, one citizen: for anyone, and for the same one */
	why = NULL;
	CHECK_EQ(enrol1(s, "bob", 1, id2, &why), IG_EPROTO);
	CHECK_STR(why, "device key already enrolled");
	CHECK_STR(id2, "");
	CHECK_EQ(enrol1(s, "alice", 2, NULL, &why), IG_EPROTO);
	CHECK_EQ(store_count(s), 3);
}

static void test_bad_citizens(struct store *s)
{
	char long_id[STORE_CITIZEN_MAX + 2];
	const char *bad[] = { "", "bad id", "a/b", "caf\xc3\xa9", "a:b", "x\n", NULL };
	const char *why;

	memset(long_id, 'c', STORE_CITIZEN_MAX + 1);
	long_id[STORE_CITIZEN_MAX + 1] = '\0';
	why = NULL;
	CHECK_EQ(enrol1(s, long_id, 10, NULL, &why), IG_EPROTO);       /* 65 */
	CHECK_STR(why, "bad citizen_id");
	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		why = NULL;
		CHECK_EQ(enrol1(s, bad[i], 11 + (uint32_t)i, NULL, &why), IG_EPROTO);
		CHECK(why && !strcmp(why, "bad citizen_id"));
	}
	long_id[STORE_CITIZEN_MAX] = '\0';
	CHECK_EQ(enrol1(s, long_id, 10, NULL, &why), IG_OK);          /* 64 */
	CHECK_EQ(enrol1(s, "Z.z_0-9", 20, NULL, &why), IG_OK);
}

static void test_unknown(struct store *s)
{
	char big[600];
	struct store_cred c;
	const char *why;

	memset(big, 'A', sizeof(big));
	why = NULL;
	CHECK_EQ(store_get_cred(s, "AAAAAAAAAAAAAAAAAAAAAA", 22, &c, &why), IG_EPROTO);
	CHECK_STR(why, "unknown credential");
	/* no id of another length exists; LMDB never sees them */
	CHECK_EQ(store_get_cred(s, big, 21, &c, &why), IG_EPROTO);
	CHECK_EQ(store_get_cred(s, big, 23, &c, &why), IG_EPROTO);
	CHECK_EQ(store_get_cred(s, big, sizeof(big), &c, &why), IG_EPROTO);
	CHECK_EQ(store_get_cred(s, "", 0, &c, &why), IG_EPROTO);
	CHECK_STR(why, "unknown credential");
	CHECK_EQ(store_get_cred(NULL, big, 22, &c, &why), IG_EUSAGE);
	CHECK_EQ(store_get_cred(s, big, 22, NULL, &why), IG_EUSAGE);
	CHECK_EQ(store_get_cred(s, NULL, 22, &c, NULL), IG_EUSAGE);
}

static void test_revoke(struct store *s)
{
	char id[STORE_CRED_ID_LEN + 1];
	struct store_cred c;
	const char *why;

	CHECK_EQ(enrol1(s, "carol", 30, id, &why), IG_OK);
	CHECK_EQ(store_revoke(s, id, 22, NOW + 5, &why), IG_OK);
	CHECK_EQ(store_get_cred(s, id, 22, &c, &why), IG_OK);
	CHECK_EQ(c.revoked, NOW + 5);
	CHECK_STR(c.citizen_id, "carol");
	CHECK_EQ(c.created, NOW);
	CHECK_EQ(store_revoke(s, id, 22, NOW + 9, &why), IG_OK);
	CHECK_EQ(store_get_cred(s, id, 22, &c, &why), IG_OK);
	CHECK_EQ(c.revoked, NOW + 5);   /* the first time stays */
	/* the revoked device key still belongs to its credential */
	CHECK_EQ(enrol1(s, "carol", 30, NULL, &why), IG_EPROTO);
	why = NULL;
	CHECK_EQ(store_revoke(s, "AAAAAAAAAAAAAAAAAAAAAA", 22, NOW, &why), IG_EPROTO);
	CHECK_STR(why, "unknown credential");
	CHECK_EQ(store_revoke(s, id, 21, NOW, &why), IG_EPROTO);
	CHECK_EQ(store_revoke(s, id, 22, 0, &why), IG_EUSAGE);
	CHECK_EQ(store_revoke(NULL, id, 22, NOW, &why), IG_EUSAGE);
}

static void test_bulk(struct store *s, char (*ids)[STORE_CRED_ID_LEN + 1])
{
	struct store_enrol *items = calloc(BULK, sizeof(*items));
	char (*names)[24] = calloc(BULK, 24);
	uint64_t before = store_count(s);
	struct store_cred c;
	const char *why;
	int n = 0;

	for (int i = 0; i < BULK; i++) {
		snprintf(names[i], 24, "citizen-%d", i);
		items[i].citizen_id = names[i];
		items[i].key = key_of(100000 + (uint32_t)i);
	}
	items[17].citizen_id = "no spaces allowed";
	items[500].key = items[499].key;        /* twice in one batch */
	items[9000].key = key_of(1);            /* alice's, enrolled before */
	CHECK_EQ(store_set_nosync(s, 1), IG_OK);
	CHECK_EQ(store_enrol(s, items, BULK, NOW), BULK - 3);
	CHECK_EQ(store_set_nosync(s, 0), IG_OK);
	CHECK_EQ(items[17].result, IG_EPROTO);
	CHECK_STR(items[17].why, "bad citizen_id");
	CHECK_EQ(items[499].result, IG_OK);
	CHECK_EQ(items[500].result, IG_EPROTO);
	CHECK_STR(items[500].why, "device key already enrolled");
	CHECK_EQ(items[9000].result, IG_EPROTO);
	CHECK_STR(items[9000].why, "device key already enrolled");
	CHECK_STR(items[9000].cred_id_out, "");
	CHECK_EQ(store_count(s), before + BULK - 3);
	for (int i = 0; i < BULK; i++) {
		strcpy(ids[i], items[i].cred_id_out);
		if (items[i].result != IG_OK)
			continue;
		if (store_get_cred(s, ids[i], 22, &c, &why) == IG_OK &&
		    !strcmp(c.citizen_id, names[i]) && b64url_id(c.cred_id))
			n++;
	}
	CHECK_EQ(n, BULK - 3);
	CHECK_EQ(store_enrol(s, items, 0, NOW), 0);
	CHECK_EQ(store_enrol(s, NULL, 1, NOW), IG_EUSAGE);
	CHECK_EQ(store_enrol(s, items, 1, -1), IG_EUSAGE);
	CHECK_EQ(items[0].result, IG_EUSAGE);
	free(items);
	free(names);
}

static void test_reopen(struct store **sp, char (*ids)[STORE_CRED_ID_LEN + 1])
{
	uint64_t before = store_count(*sp);
	struct store_cred c;
	const char *why = NULL;

	store_close(*sp);
	CHECK_EQ(store_open(sp, dir, 64 << 20, &why), IG_OK);
	CHECK_EQ(store_count(*sp), before);
	CHECK_EQ(store_get_cred(*sp, ids[0], 22, &c, &why), IG_OK);
	CHECK_STR(c.citizen_id, "citizen-0");
	CHECK_EQ(store_get_cred(*sp, ids[BULK - 1], 22, &c, &why), IG_OK);
	CHECK_STR(c.citizen_id, "citizen-9999");
}

/* --- readers beside the writer --------------------------------------- */

#define W_BATCHES 40
#define W_BATCH 50

struct rw {
	struct store *s;
	char ids[W_BATCHES * W_BATCH][STORE_CRED_ID_LEN + 1];
	const char *old_id;             /* enrolled before the threads start */
	int published, done;            /* atomics */
	int lookups[2], errors;
};

static void *writer(void *arg)
{
	struct rw *rw = arg;
	struct store_enrol items[W_BATCH];
	char names[W_BATCH][24];

	for (int b = 0; b < W_BATCHES; b++) {
		for (int i = 0; i < W_BATCH; i++) {
			snprintf(names[i], sizeof(names[i]), "rw-%d", b * W_BATCH + i);
			items[i] = (struct store_enrol){ .citizen_id = names[i],
				.key = key_of(500000 + (uint32_t)(b * W_BATCH + i)) };
		}
		if (store_enrol(rw->s, items, W_BATCH, NOW) != W_BATCH)
			__atomic_add_fetch(&rw->errors, 1, __ATOMIC_RELAXED);
		for (int i = 0; i < W_BATCH; i++)
			strcpy(rw->ids[b * W_BATCH + i], items[i].cred_id_out);
		__atomic_store_n(&rw->published, (b + 1) * W_BATCH, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&rw->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int reader_round(struct rw *rw, struct store_reader *r, int i)
{
	char name[24];
	struct store_cred c;
	const char *why;
	int n = __atomic_load_n(&rw->published, __ATOMIC_ACQUIRE), j;

	if (store_reader_get_cred(r, rw->old_id, 22, &c, &why) != IG_OK ||
	    strcmp(c.citizen_id, "citizen-0"))
		return -1;
	if (!n)
		return 0;
	j = i % n;      /* anything published is committed: it must be found */
	snprintf(name, sizeof(name), "rw-%d", j);
	if (store_reader_get_cred(r, rw->ids[j], 22, &c, &why) != IG_OK ||
	    strcmp(c.citizen_id, name))
		return -1;
	return 0;
}

struct reader_arg {
	struct rw *rw;
	int t;
};

static void *reader(void *arg)
{
	struct reader_arg *a = arg;
	struct rw *rw = a->rw;
	struct store_reader *r = store_reader_new(rw->s);
	int i;

	if (!r) {
		__atomic_add_fetch(&rw->errors, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	for (i = 0; !__atomic_load_n(&rw->done, __ATOMIC_ACQUIRE) || i < 1000; i++) {
		if (reader_round(rw, r, i) < 0)
			__atomic_add_fetch(&rw->errors, 1, __ATOMIC_RELAXED);
	}
	rw->lookups[a->t] = i;
	store_reader_free(r);
	return NULL;
}

static void test_readers_writer(struct store *s, const char *old_id)
{
	struct rw *rw = calloc(1, sizeof(*rw));
	struct reader_arg ra[2] = { { rw, 0 }, { rw, 1 } };
	pthread_t w, r[2];

	rw->s = s;
	rw->old_id = old_id;
	for (int t = 0; t < 2; t++)
		pthread_create(&r[t], NULL, reader, &ra[t]);
	pthread_create(&w, NULL, writer, rw);
	pthread_join(w, NULL);
	for (int t = 0; t < 2; t++)
		pthread_join(r[t], NULL);
	CHECK_EQ(rw->errors, 0);
	CHECK(rw->lookups[0] >= 1000 && rw->lookups[1] >= 1000);
	CHECK(store_reader_new(NULL) == NULL);
	store_reader_free(NULL);
	free(rw);
}

/* --- a damaged record ------------------------------------------------- */

/* Overwrite the record <id> of the database <db> ("cred", "signcred"). */
static void corrupt_in(const char *db, const char *id, const void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 22, (void *)id }, v = { len, (void *)val };

	CHECK(!mdb_env_create(&env));
	CHECK(!mdb_env_set_maxdbs(env, 5));
	CHECK(!mdb_env_open(env, dir, 0, 0600));
	CHECK(!mdb_txn_begin(env, NULL, 0, &txn));
	CHECK(!mdb_dbi_open(txn, db, 0, &dbi));
	CHECK(!mdb_put(txn, dbi, &k, &v, 0));
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
}

static void corrupt(const char *id, const void *val, size_t len)
{
	corrupt_in("cred", id, val, len);
}

static void test_corrupt(struct store **sp, char (*ids)[STORE_CRED_ID_LEN + 1])
{
	struct store_cred c;
	struct store_reader *r;
	uint8_t rec[90];
	const char *why = NULL;

	CHECK_EQ(store_get_cred(*sp, ids[1], 22, &c, &why), IG_OK);
	store_close(*sp);
	memset(rec, 0, sizeof(rec));
	rec[0] = 2;                             /* a future version */
	rec[81] = 8;
	memcpy(rec + 82, "citizen1", 8);
	corrupt(ids[1], rec, 90);
	rec[0] = 1;
	corrupt(ids[2], rec, 89);               /* one byte short */
	corrupt(ids[3], rec, 1);
	rec[82] = ' ';
	corrupt(ids[4], rec, 90);               /* not a citizen id */
	rec[82] = 'c';
	rec[1] = 0x80;
	corrupt(ids[5], rec, 90);               /* created < 0 */
	CHECK_EQ(store_open(sp, dir, 0, &why), IG_OK);
	r = store_reader_new(*sp);
	for (int i = 1; i <= 5; i++) {
		why = NULL;
		CHECK_EQ(store_get_cred(*sp, ids[i], 22, &c, &why), IG_EINTERNAL);
		CHECK(why && !strcmp(why, "corrupt credential record"));
		CHECK_EQ(store_reader_get_cred(r, ids[i], 22, &c, &why), IG_EINTERNAL);
	}
	CHECK_EQ(store_revoke(*sp, ids[1], 22, NOW, &why), IG_EINTERNAL);
	CHECK_EQ(store_reader_get_cred(r, ids[6], 22, &c, &why), IG_OK);
	store_reader_free(r);
}

/*
 * Signing credentials whose record breaks what store_signcred_put
 * promises, though every length in it holds: a citizen id with a NUL
 * (read as "signer-1" it was another citizen's), or that is not a citizen
 * id, an HSM name with a NUL or empty, a negative time.
 */
static void test_corrupt_signcred(struct store **sp)
{
	static struct store_signcred a, got;
	static const struct {
		size_t off;            /* of the byte changed in the record */
		uint8_t to;
	} damage[] = {
		/* The record: version, alg, created (8), revoked (8), then the
		 * citizen id at 19 after its length, the HSM name's length at
		 * 27 and the name at 28. */
		{ 26, 0 },             /* "signer-1"'s last byte */
		{ 21, '/' },           /* a citizen id of other characters */
		{ 30, 0 },             /* in "main" */
		{ 27, 0 },             /* the HSM name's length (and no name) */
		{ 2, 0x80 },           /* created < 0 */
		{ 10, 0xff },          /* revoked < 0 */
	};
	char ids[IG_ARRAY_LEN(damage)][STORE_CRED_ID_LEN + 1];
	uint8_t rec[STORE_TEST_REC_MAX];
	const char *why = NULL;
	size_t n;

	strcpy(a.citizen_id, "signer-1");
	strcpy(a.hsm, "main");
	a.alg = 1;
	for (size_t i = 0; i < IG_ARRAY_LEN(damage); i++) {
		CHECK_EQ(store_signcred_put(*sp, &a, 1000, &why), IG_OK);
		strcpy(ids[i], a.id);
	}
	n = store_test_encode(1, &a, rec);
	CHECK_EQ(store_test_decode(1, a.id, 22, rec, n, &got), IG_OK);
	store_close(*sp);
	for (size_t i = 0; i < IG_ARRAY_LEN(damage); i++) {
		uint8_t bad[STORE_TEST_REC_MAX];
		size_t len = n;

		memcpy(bad, rec, n);
		bad[damage[i].off] = damage[i].to;
		if (damage[i].off == 27) {
			memmove(bad + 28, bad + 32, n - 32);
			len = n - 4;
		}
		CHECK_EQ(store_test_decode(1, ids[i], 22, bad, len, &got), IG_EINTERNAL);
		corrupt_in("signcred", ids[i], bad, len);
	}
	CHECK_EQ(store_open(sp, dir, 0, &why), IG_OK);
	for (size_t i = 0; i < IG_ARRAY_LEN(damage); i++) {
		struct store_reader *r = store_reader_new(*sp);

		why = NULL;
		CHECK_EQ(store_reader_get_signcred(r, ids[i], 22, &got, &why), IG_EINTERNAL);
		CHECK(why && !strcmp(why, "corrupt credential record"));
		store_reader_free(r);
	}
}

/* --- a tiny map ----------------------------------------------------------- */

static void test_map_full(void)
{
	char small[128], id[STORE_CRED_ID_LEN + 1];
	struct store_enrol *items = calloc(2000, sizeof(*items));
	struct store *s;
	const char *why = NULL;

	snprintf(small, sizeof(small), "%s/small", tmp);
	CHECK_EQ(store_open(&s, small, 64 << 10, &why), IG_OK);
	CHECK_EQ(enrol1(s, "first", 1, id, &why), IG_OK);
	for (int i = 0; i < 2000; i++) {
		items[i].citizen_id = "many";
		items[i].key = key_of(700000 + (uint32_t)i);
	}
	CHECK_EQ(store_enrol(s, items, 2000, NOW), IG_ENOMEM);
	CHECK_EQ(items[0].result, IG_ENOMEM);
	CHECK_EQ(items[1999].result, IG_ENOMEM);
	CHECK_STR(items[5].why, "store map full: raise the store map size");
	CHECK_STR(items[5].cred_id_out, "");
	/* nothing of the batch was committed */
	CHECK_EQ(store_count(s), 1);
	CHECK_EQ(store_citizen_creds(s, "many", NULL, 0, &why), 0);
	CHECK_EQ(enrol1(s, "many", 700005, NULL, &why), IG_OK);
	CHECK_EQ(store_count(s), 2);
	store_close(s);
	free(items);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void test_signcreds(struct store *s)
{
	static struct store_signcred a, b, got;
	char ids[4][STORE_CRED_ID_LEN + 1];
	struct store_reader *r = store_reader_new(s);
	const char *why = NULL;

	CHECK(r != NULL);
	strcpy(a.citizen_id, "signer-1");
	strcpy(a.hsm, "main");
	a.alg = 1;
	a.wrap_id_len = 3;
	memcpy(a.wrap_id, "wid", 3);
	a.blob_len = 40;
	memset(a.blob, 0xab, 40);
	a.cert_len = 1500;
	memset(a.cert, 0x30, 1500);
	b = a;
	b.alg = 2;
	b.blob_len = STORE_SC_BLOB_MAX;
	b.cert_len = STORE_SC_CERT_MAX;
	CHECK_EQ(store_signcred_put(s, &a, 1000, &why), IG_OK);
	CHECK_EQ(store_signcred_put(s, &b, 1001, &why), IG_OK);
	CHECK_EQ(strlen(a.id), STORE_CRED_ID_LEN);
	CHECK(strcmp(a.id, b.id) != 0);
	CHECK_EQ(store_reader_get_signcred(r, a.id, strlen(a.id), &got, &why), IG_OK);
	CHECK_STR(got.citizen_id, "signer-1");
	CHECK_STR(got.hsm, "main");
	CHECK_EQ(got.created, 1000);
	CHECK_EQ(got.revoked, 0);
	CHECK(got.blob_len == 40 && got.blob[39] == 0xab && got.cert_len == 1500);
	CHECK(got.wrap_id_len == 3 && !memcmp(got.wrap_id, "wid", 3));
	CHECK_EQ(store_reader_get_signcred(r, b.id, strlen(b.id), &got, &why), IG_OK);
	CHECK(got.alg == 2 && got.blob_len == STORE_SC_BLOB_MAX &&
	      got.cert_len == STORE_SC_CERT_MAX);
	/* Listed under the citizen only; device credential ids are not
	 * signing credential ids. */
	CHECK_EQ(store_citizen_signcreds(s, "signer-1", ids, 4, &why), 2);
	CHECK_EQ(store_citizen_signcreds(s, "signer-2", ids, 4, &why), 0);
	/* the same through a worker's reader, and its refusals */
	CHECK_EQ(store_reader_citizen_signcreds(r, "signer-1", ids, 4, &why), 2);
	CHECK_EQ(store_reader_citizen_signcreds(r, "signer-2", ids, 4, &why), 0);
	CHECK_EQ(store_reader_citizen_signcreds(r, "", ids, 4, &why), IG_EPROTO);
	CHECK_EQ(store_reader_citizen_signcreds(NULL, "signer-1", ids, 4, &why), IG_EUSAGE);
	CHECK_EQ(store_citizen_creds(s, "signer-1", ids, 4, &why), 0);
	CHECK_EQ(store_reader_get_signcred(r, "AAAAAAAAAAAAAAAAAAAAAA", 22, &got, &why),
		 IG_EPROTO);
	CHECK_EQ(store_reader_get_signcred(r, "short", 5, &got, &why), IG_EPROTO);
	/* Disabled for ever; twice is fine and keeps the first time. */
	CHECK_EQ(store_signcred_revoke(s, a.id, strlen(a.id), 2000, &why), IG_OK);
	CHECK_EQ(store_signcred_revoke(s, a.id, strlen(a.id), 3000, &why), IG_OK);
	CHECK_EQ(store_reader_get_signcred(r, a.id, strlen(a.id), &got, &why), IG_OK);
	CHECK_EQ(got.revoked, 2000);
	CHECK_EQ(store_signcred_revoke(s, "AAAAAAAAAAAAAAAAAAAAAA", 22, 1, &why), IG_EPROTO);
	/* Bad input. */
	strcpy(a.citizen_id, "bad id");
	CHECK_EQ(store_signcred_put(s, &a, 1, &why), IG_EPROTO);
	strcpy(a.citizen_id, "ok");
	a.hsm[0] = '\0';
	CHECK_EQ(store_signcred_put(s, &a, 1, &why), IG_EUSAGE);
	strcpy(a.hsm, "main");
	a.cert_len = STORE_SC_CERT_MAX + 1;
	CHECK_EQ(store_signcred_put(s, &a, 1, &why), IG_EUSAGE);
	store_reader_free(r);
}

int main(void)
{
	char (*ids)[STORE_CRED_ID_LEN + 1] = calloc(BULK, STORE_CRED_ID_LEN + 1);
	struct store *s = NULL;
	const char *why = NULL;

	strcpy(tmp, "/tmp/store_test.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/store", tmp);
	test_open_errors();
	CHECK_EQ(store_open(&s, dir, 64 << 20, &why), IG_OK);
	if (!s)
		return check_done("store");
	test_enrol_get(s);
	test_bad_citizens(s);
	test_unknown(s);
	test_revoke(s);
	test_signcreds(s);
	test_bulk(s, ids);
	test_reopen(&s, ids);
	test_readers_writer(s, ids[0]);
	test_corrupt(&s, ids);
	test_corrupt_signcred(&s);
	store_close(s);
	test_map_full();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(ids);
	return check_done("store");
}
