/*
 * fuzz_store.c - arbitrary bytes as the records of the LMDB store (a
 * damaged file, or one written by another version) into the decoders its
 * lookups use, through store_test_decode.  Besides memory errors it checks
 * what a decoded record promises, aborting when one fails:
 *   - the answer is IG_OK or IG_EINTERNAL (a lookup's "corrupt credential
 *     record");
 *   - a decoded record's id is its key, its strings are NUL-terminated
 *     within their fields, its lengths within their arrays, its citizen id
 *     one that store_enrol would take, its times not negative;
 *   - a decoded record is the only encoding of what it holds: encoded
 *     again it gives the same bytes, which decode to the same record.
 *
 * Byte 0 odd: a signing credential, even: a device credential.  Byte 1 is
 * the length of the key, which follows; the rest is the value.
 */
#include <string.h>

#include "../../dataplane/store.h"
#include "fuzz.h"

static void fz_terminated(const char *s, size_t cap)
{
	FUZZ_ASSERT(memchr(s, '\0', cap) != NULL);
}

/* A citizen id store_enrol takes: 1 to 64 of [A-Za-z0-9._-]. */
static void fz_citizen(const char *id)
{
	size_t n = strlen(id);

	FUZZ_ASSERT(n >= 1 && n <= STORE_CITIZEN_MAX);
	FUZZ_ASSERT(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			       "0123456789._-") == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static union {
		struct store_cred c;
		struct store_signcred sc;
	} rec, again;
	static uint8_t out[STORE_TEST_REC_MAX];
	const uint8_t *key, *val;
	size_t klen, vlen, n;
	int signing, rc;

	if (size < 2)
		return 0;
	signing = data[0] & 1;
	klen = data[1] < size - 2 ? data[1] : size - 2;
	key = data + 2;
	val = key + klen;
	vlen = size - 2 - klen;

	rc = store_test_decode(signing, key, klen, val, vlen, &rec);
	if (rc != IG_OK) {
		FUZZ_ASSERT(rc == IG_EINTERNAL);
		return 0;
	}
	FUZZ_ASSERT(klen == STORE_CRED_ID_LEN);
	if (signing) {
		const struct store_signcred *s = &rec.sc;

		FUZZ_ASSERT(!memcmp(s->id, key, klen) && s->id[klen] == '\0');
		fz_terminated(s->citizen_id, sizeof(s->citizen_id));
		fz_terminated(s->hsm, sizeof(s->hsm));
		fz_citizen(s->citizen_id);
		FUZZ_ASSERT(s->hsm[0] != '\0');
		FUZZ_ASSERT(s->created >= 0 && s->revoked >= 0);
		FUZZ_ASSERT(s->wrap_id_len <= sizeof(s->wrap_id) &&
			    s->blob_len <= sizeof(s->blob) && s->cert_len <= sizeof(s->cert));
	} else {
		const struct store_cred *c = &rec.c;

		FUZZ_ASSERT(!memcmp(c->cred_id, key, klen) && c->cred_id[klen] == '\0');
		fz_terminated(c->citizen_id, sizeof(c->citizen_id));
		fz_citizen(c->citizen_id);
		FUZZ_ASSERT(c->created >= 0 && c->revoked >= 0);
	}
	n = store_test_encode(signing, &rec, out);
	FUZZ_ASSERT(n == vlen && !memcmp(out, val, n));
	FUZZ_ASSERT(store_test_decode(signing, key, klen, out, n, &again) == IG_OK);
	FUZZ_ASSERT(!memcmp(&again, &rec, signing ? sizeof(rec.sc) : sizeof(rec.c)));
	return 0;
}
