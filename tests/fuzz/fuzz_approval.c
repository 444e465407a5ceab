/*
 * fuzz_approval.c - officers' approvals (hsm/approval.c): arbitrary bytes
 * into approval_check, and approvals written by approval_create from
 * arbitrary fields checked back.  Besides memory errors it checks the
 * promises of approval.h, aborting when one fails.
 *
 * Byte 0 even, "check": 65 bytes of an uncompressed P-256 point, written as
 * officer alice's PUBLIC KEY (a point off the curve makes a broken officers
 * directory); 8 bytes of "now" (little-endian); then "action\nhsm\nkey\n"
 * and the JWS.  The answer is IG_OK, or IG_EPROTO with a reason starting
 * "approval", or IG_EUSAGE with one naming the officer; an accepted
 * approval names a registered officer, passes again (nothing is kept), has
 * expired for a "now" far ahead, and counts once in a quorum of itself
 * twice.
 *
 * Byte 0 odd, "create": 4 bytes of lifetime, then "action\nhsm\nkey": an
 * approval by carol, whose key is made at start (the private half in a
 * temporary file, mode 0600, removed at exit).  A refusal says why; an
 * approval written fits APPROVAL_JWS_MAX, passes approval_check now, has
 * expired once its lifetime is over, is refused for another action, and
 * is refused with any one byte of it changed.
 *
 * The seeds in corpus/approval/ come from make_approval_corpus.py, which
 * signs them with a key it makes and keeps only the public point, in the
 * input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../common/jose.h"
#include "../../hsm/approval.h"
#include "fuzz.h"

static char fz_dir[64], fz_officers[80], fz_alice[96], fz_carol_pub[96],
	fz_carol_key[96];

/* SubjectPublicKeyInfo of a P-256 key up to its point (RFC 5480). */
static const uint8_t fz_spki_p256[26] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
	0x07, 0x03, 0x42, 0x00,
};

static void fz_cleanup(void) __attribute__((destructor));
static void fz_cleanup(void)
{
	if (!fz_dir[0])
		return;
	unlink(fz_alice);
	unlink(fz_carol_pub);
	unlink(fz_carol_key);
	rmdir(fz_officers);
	rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k;
	FILE *f;

	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz-approval-XXXXXX");
	FUZZ_ASSERT(mkdtemp(fz_dir) != NULL);
	snprintf(fz_officers, sizeof(fz_officers), "%s/officers", fz_dir);
	FUZZ_ASSERT(mkdir(fz_officers, 0700) == 0);
	snprintf(fz_alice, sizeof(fz_alice), "%s/alice.pem", fz_officers);
	snprintf(fz_carol_pub, sizeof(fz_carol_pub), "%s/carol.pem", fz_officers);
	snprintf(fz_carol_key, sizeof(fz_carol_key), "%s/carol.key", fz_dir);

	k = EVP_EC_gen("P-256");
	FUZZ_ASSERT(k != NULL);
	f = fopen(fz_carol_pub, "w");
	FUZZ_ASSERT(f && PEM_write_PUBKEY(f, k) == 1 && fclose(f) == 0);
	umask(077);
	f = fopen(fz_carol_key, "w");
	FUZZ_ASSERT(f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1 &&
		    fclose(f) == 0);
	EVP_PKEY_free(k);
	return 0;
}

/* alice.pem: the PUBLIC KEY whose point is the 65 bytes <pt>. */
static void fz_write_alice(const uint8_t pt[65])
{
	uint8_t der[sizeof(fz_spki_p256) + 65];
	char b64[b64_enc_len(sizeof(der)) + 1];
	size_t n;
	FILE *f;

	memcpy(der, fz_spki_p256, sizeof(fz_spki_p256));
	memcpy(der + sizeof(fz_spki_p256), pt, 65);
	n = b64_encode(der, sizeof(der), b64);
	f = fopen(fz_alice, "w");
	FUZZ_ASSERT(f != NULL);
	fprintf(f, "-----BEGIN PUBLIC KEY-----\n%.64s\n%s\n-----END PUBLIC KEY-----\n",
		b64, b64 + (n > 64 ? 64 : n));
	FUZZ_ASSERT(fclose(f) == 0);
}

/* The next '\n'-terminated field of [*p, end) as a C string in <out>. */
static void fz_field(const char **p, const char *end, char *out, size_t cap)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl ? nl : end) - *p);

	if (n >= cap)
		n = cap - 1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = nl ? nl + 1 : end;
}

static void fz_refused(int rc, const char *why)
{
	FUZZ_ASSERT(why != NULL);
	if (rc == IG_EPROTO)
		FUZZ_ASSERT(!strncmp(why, "approval", 8));
	else
		FUZZ_ASSERT(rc == IG_EUSAGE && !strncmp(why, "officer '", 9));
}

static void fz_check(const uint8_t *data, size_t size)
{
	char action[APPROVAL_FIELD_MAX + 2], hsm[APPROVAL_FIELD_MAX + 2],
		key[APPROVAL_FIELD_MAX + 2], officer[APPROVAL_NAME_MAX + 1],
		again[APPROVAL_NAME_MAX + 1], officers[2][APPROVAL_NAME_MAX + 1];
	const char *p, *end, *why = NULL, *pair[2];
	char *jws;
	int64_t now = 0;
	int rc;

	if (size < 65 + 8)
		return;
	fz_write_alice(data);
	for (int i = 7; i >= 0; i--)
		now = (int64_t)((uint64_t)now << 8 | data[65 + i]);
	p = (const char *)data + 73;
	end = (const char *)data + size;
	fz_field(&p, end, action, sizeof(action));
	fz_field(&p, end, hsm, sizeof(hsm));
	fz_field(&p, end, key, sizeof(key));
	/* The JWS in a buffer of its own exact size, NUL included. */
	jws = malloc((size_t)(end - p) + 1);
	FUZZ_ASSERT(jws != NULL);
	memcpy(jws, p, (size_t)(end - p));
	jws[end - p] = '\0';

	rc = approval_check(jws, fz_officers, action, hsm, key, now, officer, &why);
	if (rc != IG_OK) {
		fz_refused(rc, why);
		free(jws);
		return;
	}
	FUZZ_ASSERT(!strcmp(officer, "alice") || !strcmp(officer, "carol"));
	FUZZ_ASSERT(approval_check(jws, fz_officers, action, hsm, key, now, again,
				   &why) == IG_OK &&
		    !strcmp(again, officer));
	/* exp - iat <= APPROVAL_TTL_MAX and iat <= now + APPROVAL_CLOCK_SKEW. */
	if (now < INT64_MAX - APPROVAL_TTL_MAX - APPROVAL_CLOCK_SKEW)
		FUZZ_ASSERT(approval_check(jws, fz_officers, action, hsm, key,
					   now + APPROVAL_TTL_MAX + APPROVAL_CLOCK_SKEW,
					   again, &why) == IG_EPROTO &&
			    !strcmp(why, "approval expired"));
	pair[0] = pair[1] = jws;
	FUZZ_ASSERT(approval_quorum(pair, 2, 1, fz_officers, action, hsm, key, now,
				    officers, &why) == 1 &&
		    !strcmp(officers[0], officer));
	FUZZ_ASSERT(approval_quorum(pair, 2, 2, fz_officers, action, hsm, key, now,
				    officers, &why) == IG_EPROTO &&
		    !strncmp(why, "two approvals from the same officer", 35));
	free(jws);
}

static void fz_create(const uint8_t *data, size_t size)
{
	char action[APPROVAL_FIELD_MAX + 2], hsm[APPROVAL_FIELD_MAX + 2],
		key[APPROVAL_FIELD_MAX + 2], other[APPROVAL_FIELD_MAX + 3],
		officer[APPROVAL_NAME_MAX + 1], jws[APPROVAL_JWS_MAX];
	const char *p, *end, *why = NULL;
	unsigned ttl;
	int64_t now;
	int len;

	if (size < 4)
		return;
	ttl = (unsigned)data[0] | (unsigned)data[1] << 8 |
	      (unsigned)data[2] << 16 | (unsigned)data[3] << 24;
	p = (const char *)data + 4;
	end = (const char *)data + size;
	fz_field(&p, end, action, sizeof(action));
	fz_field(&p, end, hsm, sizeof(hsm));
	fz_field(&p, end, key, sizeof(key));

	len = approval_create("carol", fz_carol_key, action, hsm, key, ttl, jws,
			      sizeof(jws), &why);
	if (len < 0) {
		FUZZ_ASSERT(len == IG_EUSAGE && why != NULL && why[0]);
		return;
	}
	now = (int64_t)time(NULL);
	FUZZ_ASSERT(len < APPROVAL_JWS_MAX && strlen(jws) == (size_t)len);
	FUZZ_ASSERT(approval_check(jws, fz_officers, action, hsm, key, now, officer,
				   &why) == IG_OK &&
		    !strcmp(officer, "carol"));
	/* iat was taken at or before now. */
	FUZZ_ASSERT(approval_check(jws, fz_officers, action, hsm, key,
				   now + (int64_t)ttl, officer, &why) == IG_EPROTO &&
		    !strcmp(why, "approval expired"));
	snprintf(other, sizeof(other), "%sx", action);
	FUZZ_ASSERT(approval_check(jws, fz_officers, other, hsm, key, now, officer,
				   &why) == IG_EPROTO &&
		    !strncmp(why, "approval is for action '", 24));
	/* One byte changed, where the input's last byte says. */
	if (size > 4) {
		size_t at = data[size - 1] * (size_t)len / 256;
		char was = jws[at];

		jws[at] = was == 'A' ? 'B' : 'A';
		FUZZ_ASSERT(approval_check(jws, fz_officers, action, hsm, key, now,
					   officer, &why) == IG_EPROTO);
		jws[at] = was;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fz_create(data + 1, size - 1);
	else
		fz_check(data + 1, size - 1);
	return 0;
}
