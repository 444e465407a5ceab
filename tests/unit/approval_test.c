/*
 * approval_test.c - dual-control approvals: create, check, quorum.
 *
 * A temporary officers directory holds three officers whose P-256 keys are
 * made here with libcrypto (alice's private key as PKCS#8, bob's as SEC 1,
 * carol's as SEC 1 after an "EC PARAMETERS" block, all mode 0600).  Bad
 * approvals are forged with the test's own ES256 signer so each rejection
 * is reached with an otherwise valid signature.  Approvals under check sit
 * flush against a PROT_NONE page.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../common/jose.h"
#include "../../hsm/approval.h"
#include "check.h"
#include "testutil.h"

#define HDR "{\"alg\":\"ES256\",\"typ\":\"idgate-approval+jwt\"}"
#define NONCE "AAECAwQFBgcICQoLDA0ODw" /* 16 bytes */

static char tmp[64], officers[96], keys[96];
static EVP_PKEY *alice, *bob, *carol;

/* ---- files ---- */

static char *path_in(const char *dir, const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

enum { PEM_PUBLIC, PEM_PKCS8, PEM_SEC1, PEM_SEC1_PARAMS, PEM_ENCRYPTED };

static void write_pem(EVP_PKEY *k, int form, const char *path, mode_t mode)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ok = 0;

	switch (form) {
	case PEM_PUBLIC:
		ok = PEM_write_bio_PUBKEY(bio, k);
		break;
	case PEM_PKCS8:
		ok = PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_SEC1_PARAMS:
		BIO_puts(bio, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
			      "-----END EC PARAMETERS-----\n");
		/* fall through */
	case PEM_SEC1:
		ok = PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0,
							  NULL, NULL);
		break;
	case PEM_ENCRYPTED:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_128_cbc(),
						   "secret", 6, NULL, NULL);
		break;
	}
	n = BIO_get_mem_data(bio, &data);
	if (!ok || n <= 0)
		abort();
	{
		char *text = strndup(data, (size_t)n);

		if (write_file(path, text) != 0 || chmod(path, mode) != 0)
			abort();
		free(text);
	}
	BIO_free(bio);
}

/* ---- forging approvals ---- */

static void test_es256(EVP_PKEY *k, const char *msg, size_t len,
		       uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t der_len = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *es;

	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, der, &der_len, (const unsigned char *)msg,
			   len) != 1)
		abort();
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!es)
		abort();
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
}

/* b64(<hdr>).b64(<payload>).b64(ES256 by <k>) into <out> (8 KiB). */
static char *forge(EVP_PKEY *k, const char *hdr, const char *payload,
		   char *out)
{
	uint8_t sig[64];
	size_t n;

	n = b64url_encode((const uint8_t *)hdr, strlen(hdr), out);
	out[n++] = '.';
	n += b64url_encode((const uint8_t *)payload, strlen(payload), out + n);
	test_es256(k, out, n, sig);
	out[n++] = '.';
	b64url_encode(sig, sizeof(sig), out + n);
	return out;
}

static char *payload(char *out, const char *officer, const char *action,
		     long long iat, long long exp)
{
	sprintf(out,
		"{\"officer\":\"%s\",\"action\":\"%s\",\"hsm\":\"hsm-a\","
		"\"key\":\"k1\",\"iat\":%lld,\"exp\":%lld,\"nonce\":\"" NONCE "\"}",
		officer, action, iat, exp);
	return out;
}

/* approval_check for destroy on hsm-a/k1, the JWS against a guard page. */
static int check_at(const char *jws, int64_t now, char who[65],
		    const char **why)
{
	struct guarded g;
	int rc;

	rc = approval_check(guard_copy(&g, jws, strlen(jws) + 1), officers,
			    "destroy", "hsm-a", "k1", now, who, why);
	guard_free(&g);
	return rc;
}

/* Expect <jws> to fail at <now> with IG_EPROTO and a reason containing
 * <part>. */
static void expect_fail(const char *jws, int64_t now, int err,
			const char *part)
{
	char who[65] = "x";
	const char *why = NULL;

	CHECK_EQ(check_at(jws, now, who, &why), err);
	CHECK(why && strstr(why, part));
	if (!why || !strstr(why, part))
		fprintf(stderr, "  wanted \"%s\", got \"%s\"\n", part,
			why ? why : "(none)");
	CHECK_STR(who, "");
}

/* ---- tests ---- */

static void test_round_trip(void)
{
	char a[APPROVAL_JWS_MAX], b[APPROVAL_JWS_MAX], c[APPROVAL_JWS_MAX];
	char who[65], seg[512];
	const char *why = NULL, *dot;
	int64_t now = time(NULL);
	int n;

	n = approval_create("alice", path_in(keys, "alice.pem"), "destroy",
			    "hsm-a", "k1", 300, a, sizeof(a), &why);
	CHECK(n > 0 && (size_t)n == strlen(a));
	if (n <= 0)
		fprintf(stderr, "  create: %s\n", why);
	CHECK_EQ(check_at(a, now, who, &why), IG_OK);
	CHECK_STR(who, "alice");

	/* The header exactly; the payload's lifetime and nonce. */
	dot = strchr(a, '.');
	n = b64url_decode(a, (size_t)(dot - a), (uint8_t *)seg, sizeof(seg) - 1);
	CHECK(n > 0);
	seg[n > 0 ? n : 0] = '\0';
	CHECK_STR(seg, HDR);
	CHECK(approval_create("alice", path_in(keys, "alice.pem"), "destroy",
			      "hsm-a", "k1", 300, b, sizeof(b), &why) > 0);
	CHECK(strcmp(a, b) != 0); /* fresh nonce (and signature) */
	{
		const char *p = dot + 1, *q = strchr(p, '.');
		json_t *o;

		n = b64url_decode(p, (size_t)(q - p), (uint8_t *)seg,
				  sizeof(seg) - 1);
		o = n > 0 ? json_loadb(seg, (size_t)n, 0, NULL) : NULL;
		CHECK(o && json_object_size(o) == 7);
		CHECK(o && json_integer_value(json_object_get(o, "exp")) -
				   json_integer_value(json_object_get(o, "iat")) ==
			   300);
		CHECK(o && json_string_length(json_object_get(o, "nonce")) == 22);
		CHECK(o && !strncmp(seg, "{\"officer\":\"alice\",\"action\":", 27));
		json_decref(o);
	}

	/* SEC 1 keys, with and without a leading EC PARAMETERS block. */
	CHECK(approval_create("bob", path_in(keys, "bob.pem"), "destroy",
			      "hsm-a", "k1", 60, b, sizeof(b), &why) > 0);
	CHECK_EQ(check_at(b, now, who, &why), IG_OK);
	CHECK_STR(who, "bob");
	CHECK(approval_create("carol", path_in(keys, "carol.pem"), "destroy",
			      "hsm-a", "k1", 86400, c, sizeof(c), &why) > 0);
	CHECK_EQ(check_at(c, now, who, &why), IG_OK);
	CHECK_STR(who, "carol");

	/* Output buffers: one short on the heap, then exact. */
	n = (int)strlen(a);
	{
		char *buf = malloc((size_t)n);

		why = NULL;
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"),
					 "destroy", "hsm-a", "k1", 300, buf,
					 (size_t)n, &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, "too small"));
		free(buf);
		buf = malloc((size_t)n + 1);
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"),
					 "destroy", "hsm-a", "k1", 300, buf,
					 (size_t)n + 1, &why),
			 n);
		free(buf);
	}
	/* Long UTF-8 fields with characters JSON escapes still fit. */
	{
		char field[APPROVAL_FIELD_MAX + 2];

		memset(field, '"', APPROVAL_FIELD_MAX);
		field[APPROVAL_FIELD_MAX] = '\0';
		n = approval_create("alice", path_in(keys, "alice.pem"), field,
				    field, field, 300, a, sizeof(a), &why);
		CHECK(n > 0);
		CHECK_EQ(approval_check(a, officers, field, field, field, now,
					who, &why),
			 IG_OK);
		field[APPROVAL_FIELD_MAX] = 'x';
		field[APPROVAL_FIELD_MAX + 1] = '\0';
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"),
					 field, "h", "k", 300, a, sizeof(a), &why),
			 IG_EUSAGE);
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"),
					 "a\nb", "h", "k", 300, a, sizeof(a), &why),
			 IG_EUSAGE);
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"),
					 "\xff", "h", "k", 300, a, sizeof(a), &why),
			 IG_EUSAGE);
		CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"), "",
					 "h", "k", 300, a, sizeof(a), &why),
			 IG_EUSAGE);
	}
}

static void test_quorum(void)
{
	char a1[APPROVAL_JWS_MAX], a2[APPROVAL_JWS_MAX], b[APPROVAL_JWS_MAX];
	char c[APPROVAL_JWS_MAX], old[8192], p[512], who[4][65];
	const char *why = NULL;
	int64_t now = time(NULL);

	if (approval_create("alice", path_in(keys, "alice.pem"), "destroy",
			    "hsm-a", "k1", 300, a1, sizeof(a1), &why) <= 0 ||
	    approval_create("alice", path_in(keys, "alice.pem"), "destroy",
			    "hsm-a", "k1", 300, a2, sizeof(a2), &why) <= 0 ||
	    approval_create("bob", path_in(keys, "bob.pem"), "destroy", "hsm-a",
			    "k1", 300, b, sizeof(b), &why) <= 0 ||
	    approval_create("carol", path_in(keys, "carol.pem"), "destroy",
			    "hsm-a", "k1", 300, c, sizeof(c), &why) <= 0)
		abort();
	forge(bob, HDR, payload(p, "bob", "destroy", now - 1000, now - 10), old);

	{
		const char *v[] = { a1, b };

		CHECK_EQ(approval_quorum(v, 2, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 2);
		CHECK_STR(who[0], "alice");
		CHECK_STR(who[1], "bob");
	}
	{
		const char *v[] = { a1, a2 };

		why = NULL;
		CHECK_EQ(approval_quorum(v, 2, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && !strcmp(why, "two approvals from the same officer 'alice': dual control needs two officers"));
		/* The same approval twice is the same officer twice. */
		v[1] = a1;
		CHECK_EQ(approval_quorum(v, 2, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && strstr(why, "same officer 'alice'"));
		/* One officer is enough when one is needed. */
		CHECK_EQ(approval_quorum(v, 2, 1, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 1);
	}
	{
		const char *v[] = { a1, b, a2, c };

		CHECK_EQ(approval_quorum(v, 4, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 3);
		CHECK_STR(who[2], "carol");
		CHECK_EQ(approval_quorum(v, 4, 3, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 3);
		CHECK_EQ(approval_quorum(v, 3, 3, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && strstr(why, "needs three officers"));
	}
	{
		const char *v[] = { a1, old };

		why = NULL;
		CHECK_EQ(approval_quorum(v, 2, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && !strcmp(why, "approval 2 of 2: approval expired"));
		CHECK_EQ(approval_quorum(v, 2, 2, officers, "export", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && !strcmp(why, "approval 1 of 2: approval is for action 'destroy', not 'export'"));
		CHECK_EQ(approval_quorum(v, 1, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK(why && strstr(why, "from one officer: dual control needs two"));
		CHECK_EQ(approval_quorum(v, 0, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EPROTO);
		CHECK_EQ(approval_quorum(v, 1, 0, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EUSAGE);
		CHECK_EQ(approval_quorum(NULL, 2, 2, officers, "destroy", "hsm-a",
					 "k1", now, who, &why),
			 IG_EUSAGE);
	}
}

static void test_signers(void)
{
	char jws[8192], p[512], who[65];
	const char *why = NULL;
	int64_t now = time(NULL);
	EVP_PKEY *dave = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	/* An officer without a file in the directory. */
	write_pem(dave, PEM_PKCS8, path_in(keys, "dave.pem"), 0600);
	CHECK(approval_create("dave", path_in(keys, "dave.pem"), "destroy",
			      "hsm-a", "k1", 300, jws, sizeof(jws), &why) > 0);
	expect_fail(jws, now, IG_EPROTO, "approval signed by an unknown officer 'dave'");
	/* A registered name signed with another officer's key. */
	CHECK(approval_create("bob", path_in(keys, "alice.pem"), "destroy",
			      "hsm-a", "k1", 300, jws, sizeof(jws), &why) > 0);
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	forge(dave, HDR, payload(p, "alice", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	/* A name the rule refuses never reaches the filesystem, even with a
	 * valid signature by a key that would be found there. */
	write_pem(alice, PEM_PUBLIC, path_in(tmp, "alice.pem"), 0644);
	forge(alice, HDR, payload(p, "../alice", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "invalid officer name");
	forge(alice, HDR, payload(p, "..", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "invalid officer name");
	forge(alice, HDR, payload(p, "a/b", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "invalid officer name");
	forge(alice, HDR, payload(p, "", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "invalid officer name");
	/* (jansson refuses \u0000 in strings outright.) */
	forge(alice, HDR, payload(p, "alice\\u0000x", "destroy", now, now + 60), jws);
	expect_fail(jws, now, IG_EPROTO, "approval is malformed");
	/* A broken file in the officers directory is a configuration
	 * error, not the approver's. */
	{
		EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

		write_pem(rsa, PEM_PUBLIC, path_in(officers, "rsa.pem"), 0644);
		forge(alice, HDR, payload(p, "rsa", "destroy", now, now + 60), jws);
		expect_fail(jws, now, IG_EUSAGE, "not an EC P-256 PUBLIC KEY");
		write_file(path_in(officers, "junk.pem"), "junk\n");
		forge(alice, HDR, payload(p, "junk", "destroy", now, now + 60), jws);
		expect_fail(jws, now, IG_EUSAGE, "not an EC P-256 PUBLIC KEY");
		unlink(path_in(officers, "rsa.pem"));
		unlink(path_in(officers, "junk.pem"));
		EVP_PKEY_free(rsa);
	}
	EVP_PKEY_free(dave);
	(void)who;
}

/* Replace the first <from> in the decoded segment <seg> (0 header,
 * 1 payload) of <jws> with <to>, keeping the signature. */
static void tamper(char *jws, int seg, const char *from, const char *to)
{
	char *dot1 = strchr(jws, '.'), *dot2 = strchr(dot1 + 1, '.');
	char *start = seg ? dot1 + 1 : jws, *end = seg ? dot2 : dot1;
	char dec[4096], tail[200], out[8192], *hit;
	int n = b64url_decode(start, (size_t)(end - start), (uint8_t *)dec,
			      sizeof(dec) - 1);
	size_t o;

	if (n < 0)
		abort();
	dec[n] = '\0';
	hit = strstr(dec, from);
	if (!hit)
		abort();
	snprintf(tail, sizeof(tail), "%s", hit + strlen(from));
	strcpy(hit, to);
	strcat(dec, tail);
	o = (size_t)(start - jws);
	memcpy(out, jws, o);
	o += b64url_encode((const uint8_t *)dec, strlen(dec), out + o);
	strcpy(out + o, end);
	strcpy(jws, out);
}

static void test_tampering(void)
{
	char good[APPROVAL_JWS_MAX], jws[8192];
	const char *why = NULL;
	int64_t now = time(NULL);
	uint8_t sig[64];
	char *s;

	if (approval_create("alice", path_in(keys, "alice.pem"), "destroy",
			    "hsm-a", "k1", 300, good, sizeof(good), &why) <= 0)
		abort();
	strcpy(jws, good);
	tamper(jws, 1, "hsm-a", "hsm-b");
	CHECK_EQ(approval_check(jws, officers, "destroy", "hsm-b", "k1", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
	CHECK(why && !strcmp(why, "approval signature does not verify"));
	strcpy(jws, good);
	tamper(jws, 1, "\"alice\"", "\"bob\"");
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	strcpy(jws, good);
	tamper(jws, 1, "\"destroy\"", "\"destroy\" ");
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");

	/* The signature: one bit, all zeros, r and s swapped. */
	s = strrchr(good, '.') + 1;
	if (b64url_decode(s, strlen(s), sig, sizeof(sig)) != 64)
		abort();
	strcpy(jws, good);
	sig[17] ^= 4;
	b64url_encode(sig, 64, strrchr(jws, '.') + 1);
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	memset(sig, 0, sizeof(sig));
	b64url_encode(sig, 64, strrchr(jws, '.') + 1);
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	CHECK_EQ(b64url_decode(s, strlen(s), sig, sizeof(sig)), 64);
	{
		uint8_t sw[64];

		memcpy(sw, sig + 32, 32);
		memcpy(sw + 32, sig, 32);
		b64url_encode(sw, 64, strrchr(jws, '.') + 1);
		expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	}
	/* A changed character in the signature's base64url. */
	strcpy(jws, good);
	s = strrchr(jws, '.') + 5;
	*s = *s == 'A' ? 'B' : 'A';
	expect_fail(jws, now, IG_EPROTO, "approval signature does not verify");
	/* Other claims. */
	CHECK_EQ(check_at(good, now, (char[65]){ 0 }, &why), IG_OK);
	CHECK_EQ(approval_check(good, officers, "export", "hsm-a", "k1", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
	CHECK(why && !strcmp(why, "approval is for action 'destroy', not 'export'"));
	CHECK_EQ(approval_check(good, officers, "destroy", "hsm-b", "k1", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
	CHECK(why && !strcmp(why, "approval is for HSM 'hsm-a', not 'hsm-b'"));
	CHECK_EQ(approval_check(good, officers, "destroy", "hsm-a", "k2", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
	CHECK(why && !strcmp(why, "approval is for key 'k1', not 'k2'"));
	CHECK_EQ(approval_check(good, officers, "destroy", "hsm-a", "k", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
	CHECK_EQ(approval_check(good, officers, "destroy", "hsm-a", "k1x", now,
				(char[65]){ 0 }, &why),
		 IG_EPROTO);
}

static void test_times(void)
{
	char jws[8192], p[512];
	int64_t t = 1700000000;

	forge(alice, HDR, payload(p, "alice", "destroy", t, t + 300), jws);
	CHECK_EQ(check_at(jws, t, (char[65]){ 0 }, NULL), IG_OK);
	CHECK_EQ(check_at(jws, t + 299, (char[65]){ 0 }, NULL), IG_OK);
	expect_fail(jws, t + 300, IG_EPROTO, "approval expired");
	expect_fail(jws, t + 100000, IG_EPROTO, "approval expired");
	/* iat up to a minute ahead of our clock is skew; more is not. */
	CHECK_EQ(check_at(jws, t - 60, (char[65]){ 0 }, NULL), IG_OK);
	expect_fail(jws, t - 61, IG_EPROTO, "in the future");
	/* Lifetimes: 24 hours at most, exp after iat. */
	forge(alice, HDR, payload(p, "alice", "destroy", t, t + 86400), jws);
	CHECK_EQ(check_at(jws, t, (char[65]){ 0 }, NULL), IG_OK);
	forge(alice, HDR, payload(p, "alice", "destroy", t, t + 86401), jws);
	expect_fail(jws, t, IG_EPROTO, "exceeds 24 hours");
	forge(alice, HDR, payload(p, "alice", "destroy", t, t), jws);
	expect_fail(jws, t - 1, IG_EPROTO, "exp is not after iat");
	forge(alice, HDR, payload(p, "alice", "destroy", -5, 100), jws);
	expect_fail(jws, 0, IG_EPROTO, "negative time");
	forge(alice, HDR,
	      payload(p, "alice", "destroy", 0, 9223372036854775807LL), jws);
	expect_fail(jws, 0, IG_EPROTO, "exceeds 24 hours");
	/* create refuses lifetimes check would refuse. */
	CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"), "destroy",
				 "hsm-a", "k1", 86401, jws, sizeof(jws), NULL),
		 IG_EUSAGE);
	CHECK_EQ(approval_create("alice", path_in(keys, "alice.pem"), "destroy",
				 "hsm-a", "k1", 0, jws, sizeof(jws), NULL),
		 IG_EUSAGE);
}

static void test_malformed(void)
{
	static const struct {
		const char *hdr, *payload, *part;
	} forged[] = {
		{ "{\"alg\":\"ES384\",\"typ\":\"idgate-approval+jwt\"}", NULL, "alg must be ES256" },
		{ "{\"alg\":\"none\",\"typ\":\"idgate-approval+jwt\"}", NULL, "alg must be ES256" },
		{ "{\"alg\":\"HS256\",\"typ\":\"idgate-approval+jwt\"}", NULL, "alg must be ES256" },
		{ "{\"typ\":\"idgate-approval+jwt\"}", NULL, "alg must be ES256" },
		{ "{\"alg\":\"ES256\"}", NULL, "header must be exactly" },
		{ "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", NULL, "header must be exactly" },
		{ "{\"alg\":\"ES256\",\"typ\":\"idgate-approval+jwt\",\"crit\":[\"x\"],\"x\":1}", NULL, "header must be exactly" },
		{ "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"typ\":\"idgate-approval+jwt\"}", NULL, "header is not" },
		{ "[\"ES256\"]", NULL, "header is not" },
		{ "not json", NULL, "header is not" },
		{ HDR, "not json", "payload is not" },
		{ HDR, "[1,2]", "payload is not" },
		{ HDR, "{\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"officer\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"action\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"hsm\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"key\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"iat\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"nonce\":\"" NONCE "\"}", "\"exp\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2}", "\"nonce\" is missing" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":\"1\",\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"iat\" is missing or not an integer" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2.5,\"nonce\":\"" NONCE "\"}", "\"exp\" is missing or not an integer" },
		{ HDR, "{\"officer\":7,\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "\"officer\" is missing or not a string" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\",\"x\":1}", "unexpected payload member" },
		{ HDR, "{\"officer\":\"alice\",\"officer\":\"bob\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"" NONCE "\"}", "payload is not" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"AAAA\"}", "nonce is not 16 bytes" },
		{ HDR, "{\"officer\":\"alice\",\"action\":\"destroy\",\"hsm\":\"hsm-a\",\"key\":\"k1\",\"iat\":1,\"exp\":2,\"nonce\":\"AAECAwQFBgcICQoLDA0OD=\"}", "nonce is not 16 bytes" },
	};
	char jws[8192], p[512], *s;
	int64_t now = time(NULL);

	payload(p, "alice", "destroy", now, now + 60);
	for (size_t i = 0; i < IG_ARRAY_LEN(forged); i++) {
		forge(alice, forged[i].hdr,
		      forged[i].payload ? forged[i].payload : p, jws);
		expect_fail(jws, now, IG_EPROTO, forged[i].part);
	}
	/* alg "none" with the empty signature of RFC 7519 §6.1. */
	forge(alice, "{\"alg\":\"none\"}", p, jws);
	*(strrchr(jws, '.') + 1) = '\0';
	expect_fail(jws, now, IG_EPROTO, "alg must be ES256");

	/* Shapes. */
	expect_fail("", now, IG_EPROTO, "three dot-separated parts");
	expect_fail("abc", now, IG_EPROTO, "three dot-separated parts");
	expect_fail("a.b", now, IG_EPROTO, "three dot-separated parts");
	expect_fail("a.b.c.d", now, IG_EPROTO, "three dot-separated parts");
	expect_fail("..", now, IG_EPROTO, "three dot-separated parts");
	expect_fail("!!!!.e30.AAAA", now, IG_EPROTO, "header is not");
	expect_fail("e30=.e30.AAAA", now, IG_EPROTO, "header is not");
	forge(alice, HDR, p, jws);
	s = strchr(jws, '.') + 1;
	*s = '*';
	expect_fail(jws, now, IG_EPROTO, "payload is not");
	/* Signatures of the wrong size or spelling. */
	forge(alice, HDR, p, jws);
	strcat(jws, "A");
	expect_fail(jws, now, IG_EPROTO, "signature is not 64 bytes");
	forge(alice, HDR, p, jws);
	jws[strlen(jws) - 1] = '\0';
	expect_fail(jws, now, IG_EPROTO, "signature is not 64 bytes");
	forge(alice, HDR, p, jws);
	*(strrchr(jws, '.') + 3) = '+';
	expect_fail(jws, now, IG_EPROTO, "signature is not 64 bytes");
	forge(alice, HDR, p, jws);
	strcpy(strrchr(jws, '.') + 1, "AAAA");
	expect_fail(jws, now, IG_EPROTO, "signature is not 64 bytes");
	/* Too long to be ours. */
	{
		char *big = malloc(APPROVAL_JWS_MAX + 10);

		memset(big, 'A', APPROVAL_JWS_MAX + 9);
		big[APPROVAL_JWS_MAX + 9] = '\0';
		big[10] = big[20] = '.';
		expect_fail(big, now, IG_EPROTO, "too long");
		free(big);
	}
	/* Bad arguments. */
	CHECK_EQ(approval_check(NULL, officers, "destroy", "hsm-a", "k1", now,
				(char[65]){ 0 }, NULL),
		 IG_EUSAGE);
	CHECK_EQ(approval_check(jws, officers, NULL, "hsm-a", "k1", now,
				(char[65]){ 0 }, NULL),
		 IG_EUSAGE);
	CHECK_EQ(approval_check(jws, path_in(tmp, "nowhere"), "destroy", "hsm-a",
				"k1", now, (char[65]){ 0 }, NULL),
		 IG_EUSAGE);
}

static void test_key_files(void)
{
	char jws[APPROVAL_JWS_MAX];
	const char *why;
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	static const struct {
		const char *file, *part;
	} bad[] = {
		{ "open.pem", "group or others" },
		{ "group.pem", "group or others" },
		{ "gw.pem", "group or others" },
		{ "p384.pem", "not an EC P-256 key" },
		{ "p384-sec1.pem", "not an EC P-256 key" },
		{ "rsa.pem", "not an EC P-256 key" },
		{ "enc.pem", "encrypted" },
		{ "public.pem", "no PRIVATE KEY" },
		{ "junk.pem", "no PRIVATE KEY" },
		{ "damaged.pem", "damaged" },
		{ "missing.pem", "does not exist" },
		{ "", "not a regular file" }, /* the directory itself */
	};

	write_pem(alice, PEM_PKCS8, path_in(keys, "open.pem"), 0644);
	write_pem(alice, PEM_PKCS8, path_in(keys, "group.pem"), 0640);
	write_pem(alice, PEM_PKCS8, path_in(keys, "gw.pem"), 0620);
	write_pem(p384, PEM_PKCS8, path_in(keys, "p384.pem"), 0600);
	write_pem(p384, PEM_SEC1, path_in(keys, "p384-sec1.pem"), 0600);
	write_pem(rsa, PEM_PKCS8, path_in(keys, "rsa.pem"), 0600);
	write_pem(alice, PEM_ENCRYPTED, path_in(keys, "enc.pem"), 0600);
	write_pem(alice, PEM_PUBLIC, path_in(keys, "public.pem"), 0600);
	write_file(path_in(keys, "junk.pem"), "hello\n");
	/* A key made now, cut after its first line of base64. */
	{
		char pem[1024], *cut;

		write_pem(alice, PEM_PKCS8, path_in(keys, "damaged.pem"), 0600);
		if (read_file(path_in(keys, "damaged.pem"), pem, sizeof(pem)) <= 0 ||
		    !(cut = strchr(strchr(pem, '\n') + 1, '\n')))
			abort();
		strcpy(cut + 1, "-----END PRIVATE KEY-----\n");
		write_file(path_in(keys, "damaged.pem"), pem);
	}
	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		why = NULL;
		CHECK_EQ(approval_create("alice", path_in(keys, bad[i].file),
					 "destroy", "hsm-a", "k1", 60, jws,
					 sizeof(jws), &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, bad[i].part));
		if (!why || !strstr(why, bad[i].part))
			fprintf(stderr, "  %s: wanted \"%s\", got \"%s\"\n",
				bad[i].file, bad[i].part, why ? why : "(none)");
	}
	/* Owner-only modes other than 0600 are fine. */
	write_pem(alice, PEM_PKCS8, path_in(keys, "ro.pem"), 0400);
	CHECK(approval_create("alice", path_in(keys, "ro.pem"), "destroy",
			      "hsm-a", "k1", 60, jws, sizeof(jws), &why) > 0);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
}

static void test_names(void)
{
	static const char *const bad[] = {
		"", "../alice", "a/b", "/etc/passwd", "..", ".", ".hidden",
		"a..b", "al ice", "alice\n", "al\xc3\xa9", "a:b",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const good[] = {
		"alice", "a", "A.b-c_d", "x.", "0",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char jws[APPROVAL_JWS_MAX];
	const char *why;

	for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
		why = NULL;
		CHECK(!approval_name_ok(bad[i]));
		CHECK_EQ(approval_create(bad[i], path_in(keys, "alice.pem"),
					 "destroy", "hsm-a", "k1", 60, jws,
					 sizeof(jws), &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, "officer name"));
	}
	for (size_t i = 0; i < IG_ARRAY_LEN(good); i++)
		CHECK(approval_name_ok(good[i]));
	CHECK(!approval_name_ok(NULL));
}

int main(void)
{
	strcpy(tmp, "/tmp/approval_test.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(officers, sizeof(officers), "%s/officers", tmp);
	snprintf(keys, sizeof(keys), "%s/keys", tmp);
	if (mkdir(officers, 0755) || mkdir(keys, 0700))
		return 1;
	alice = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	bob = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	carol = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!alice || !bob || !carol)
		return 1;
	write_pem(alice, PEM_PUBLIC, path_in(officers, "alice.pem"), 0644);
	write_pem(bob, PEM_PUBLIC, path_in(officers, "bob.pem"), 0644);
	write_pem(carol, PEM_PUBLIC, path_in(officers, "carol.pem"), 0644);
	write_pem(alice, PEM_PKCS8, path_in(keys, "alice.pem"), 0600);
	write_pem(bob, PEM_SEC1, path_in(keys, "bob.pem"), 0600);
	write_pem(carol, PEM_SEC1_PARAMS, path_in(keys, "carol.pem"), 0600);

	test_round_trip();
	test_quorum();
	test_signers();
	test_tampering();
	test_times();
	test_malformed();
	test_key_files();
	test_names();

	EVP_PKEY_free(carol);
	EVP_PKEY_free(bob);
	EVP_PKEY_free(alice);
	rm_tree(tmp);
	return check_done("approval");
}
