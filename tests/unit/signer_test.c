/*
 * signer_test.c - the load generator's derived device keys and assertions:
 * derivation is deterministic and seed/index dependent, assertions verify
 * with idgate's own ES256 code, so do signing approvals (over exactly
 * their hashes), the pools hand out distinct entries, and a malformed
 * population file is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/jose.h"
#include "../../common/result.h"
#include "../../loadgen/signer.h"
#include "check.h"

static void test_derive(void)
{
	uint8_t d1[32], x1[32], y1[32], d2[32], x2[32], y2[32];
	struct p256_pub pub;

	CHECK_EQ(lg_key_derive("s", 7, d1, x1, y1), IG_OK);
	CHECK_EQ(lg_key_derive("s", 7, d2, x2, y2), IG_OK);
	CHECK(!memcmp(d1, d2, 32) && !memcmp(x1, x2, 32) && !memcmp(y1, y2, 32));
	CHECK_EQ(lg_key_derive("s", 8, d2, x2, y2), IG_OK);
	CHECK(memcmp(d1, d2, 32) != 0);
	CHECK_EQ(lg_key_derive("t", 7, d2, x2, y2), IG_OK);
	CHECK(memcmp(d1, d2, 32) != 0);
	memcpy(pub.x, x1, 32);
	memcpy(pub.y, y1, 32);
	CHECK_EQ(p256_point_valid(&pub), 1);
}

static void test_assertion_verifies(void)
{
	static char cred[2][64] = { "cred-zero", "cred-one" };
	struct lg_population pop = { .seed = "s", .n = 2, .cred = cred };
	char jws[LG_ASSERTION_MAX], small[64];
	struct jws_parts parts;
	struct p256_pub pub;
	uint8_t d[32], sig[64];
	const char *why = NULL;
	int len = lg_sign_assertion(&pop, "https://a/oauth2/token", 1, "j1", jws,
				    sizeof(jws));

	CHECK(len > 0);
	CHECK_EQ(jws_split(jws, (size_t)len, &parts, &why), IG_OK);
	CHECK_EQ(b64url_decode(parts.sig, parts.sig_len, sig, sizeof(sig)), 64);
	CHECK_EQ(lg_key_derive("s", 1, d, pub.x, pub.y), IG_OK);
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)jws, parts.signing_input_len,
			      sig), IG_OK);
	/* the other citizen's key does not verify it */
	CHECK_EQ(lg_key_derive("s", 0, d, pub.x, pub.y), IG_OK);
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)jws, parts.signing_input_len,
			      sig), IG_EPROTO);
	/* too small an output buffer is refused, not overrun */
	CHECK_EQ(lg_sign_assertion(&pop, "aud", 0, "j", small, sizeof(small)),
		 IG_ENOMEM);
}

static void test_pool(void)
{
	static char cred[2][64] = { "c0", "c1" }, scred[2][64] = { "", "s1" };
	struct lg_population pop = { .seed = "s", .n = 2, .cred = cred,
				     .scred = scred, .nsigning = 1 };
	static const size_t signers[1] = { 1 };
	struct lg_signer_params p = { .pop = &pop, .aud = "aud",
		.sign_aud = "https://a/csc/v2/credentials/authorize",
		.cap = { 4, 3 }, .signers = signers, .nsigners = 1, .nhash = 3 };
	struct lg_signer *s;
	char a[LG_ASSERTION_MAX], b[LG_ASSERTION_MAX];
	struct lg_approval x, y;

	CHECK_EQ(lg_signer_start(&s, &p), IG_OK);
	CHECK_EQ(lg_signer_take(s, LG_POOL_LOGIN, a), IG_OK);
	CHECK_EQ(lg_signer_take(s, LG_POOL_LOGIN, b), IG_OK);
	CHECK(strcmp(a, b) != 0);       /* distinct jti, so distinct JWS */
	CHECK_EQ(lg_signer_take(s, LG_POOL_SIGN, &x), IG_OK);
	CHECK_EQ(lg_signer_take(s, LG_POOL_SIGN, &y), IG_OK);
	CHECK_EQ(x.slot, 0);
	CHECK_EQ(x.nhash, 3);
	CHECK_STR(x.cred, "s1");
	CHECK(strcmp(x.hashes, y.hashes) != 0);  /* fresh hashes each */
	lg_signer_stop(s);
	/* a sign pool without signers is refused */
	p.nsigners = 0;
	CHECK(lg_signer_start(&s, &p) < 0);
}

/* An approval is citizen 1's JWS over the credential and exactly the
 * hashes it carries; a citizen without a signing credential has none. */
static void test_approval(void)
{
	static char cred[2][64] = { "c0", "c1" }, scred[2][64] = { "", "s1" };
	struct lg_population pop = { .seed = "s", .n = 2, .cred = cred,
				     .scred = scred, .nsigning = 1 };
	struct lg_approval a;
	struct jws_parts parts;
	struct p256_pub pub;
	uint8_t d[32], sig[64];
	char payload[2048];
	const char *why = NULL;
	int n, commas = 0;

	CHECK_EQ(lg_sign_approval(&pop, "aud", 0, 1, "j", &a), IG_EUSAGE);
	CHECK_EQ(lg_sign_approval(&pop, "aud", 1, 17, "j", &a), IG_EUSAGE);
	CHECK_EQ(lg_sign_approval(&pop, "aud", 1, 16, "j", &a), IG_OK);
	for (const char *q = a.hashes; *q; q++)
		commas += *q == ',';
	CHECK_EQ(commas, 15);
	CHECK_EQ(strlen(a.hashes), 16 * 47 + 1);
	CHECK_EQ(jws_split(a.jws, strlen(a.jws), &parts, &why), IG_OK);
	CHECK_EQ(b64url_decode(parts.sig, parts.sig_len, sig, sizeof(sig)), 64);
	CHECK_EQ(lg_key_derive("s", 1, d, pub.x, pub.y), IG_OK);
	CHECK_EQ(es256_verify(&pub, (const uint8_t *)a.jws, parts.signing_input_len,
			      sig), IG_OK);
	n = b64url_decode(parts.payload, parts.payload_len, (uint8_t *)payload,
			  sizeof(payload) - 1);
	CHECK(n > 0);
	payload[n > 0 ? n : 0] = 0;
	CHECK(strstr(payload, "\"credentialID\":\"s1\"") != NULL);
	CHECK(strstr(payload, a.hashes) != NULL);
}

static void test_population_file(void)
{
	static char cred[2][64] = { "a", "b" };
	struct lg_population w = { .seed = "x1", .n = 2, .cred = cred }, r;
	char path[] = "/tmp/lg-pop-XXXXXX";
	const char *why = NULL;
	int fd = mkstemp(path);
	FILE *f;

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(lg_population_write(path, &w), IG_OK);
	CHECK_EQ(lg_population_read(path, &r, &why), IG_OK);
	CHECK_EQ(r.n, 2);
	CHECK_STR(r.seed, "x1");
	CHECK_STR(r.cred[1], "b");
	CHECK(r.scred == NULL);
	lg_population_free(&r);
	/* with signing credentials (version 2) */
	{
		static char sc[2][64] = { "", "sb" };

		w.scred = sc;
		CHECK_EQ(lg_population_write(path, &w), IG_OK);
		CHECK_EQ(lg_population_read(path, &r, &why), IG_OK);
		CHECK_EQ(r.nsigning, 1);
		CHECK_STR(r.scred[0], "");
		CHECK_STR(r.scred[1], "sb");
		lg_population_free(&r);
	}
	/* truncated: count says 3 */
	f = fopen(path, "w");
	fputs("idgate-load-population 1\nseed x\ncount 3\n0 a\n1 b\n", f);
	fclose(f);
	CHECK_EQ(lg_population_read(path, &r, &why), IG_EUSAGE);
	CHECK(why != NULL);
	f = fopen(path, "w");
	fputs("something else\n", f);
	fclose(f);
	CHECK_EQ(lg_population_read(path, &r, &why), IG_EUSAGE);
	unlink(path);
	CHECK_EQ(lg_population_read(path, &r, &why), IG_EUSAGE);
}

int main(void)
{
	test_derive();
	test_assertion_verifies();
	test_pool();
	test_approval();
	test_population_file();
	return check_done("signer_test");
}
