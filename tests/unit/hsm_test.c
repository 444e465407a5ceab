/*
 * hsm_test.c - the HSM engine and SoftHSM provisioning against the real
 * SoftHSM2 module, in a fresh state dir under /tmp.  Exits 77 (skip) when
 * SoftHSM2 is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../hsm/hsm.h"
#include "../../hsm/mpmc.h"
#include "../../hsm/p11.h"
#include "check.h"
#include "testutil.h"
#include "../../common/p256.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN "idgate-test"
#define KEY "issuer-test"

static char tmp_root[64];
static char state_dir[128], pin_path[160], so_pin_path[160], pin_copy[160];

/* ---- helpers ------------------------------------------------------------ */

static int contains(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static void make_digest(unsigned w, uint64_t i, uint8_t out[32])
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "worker %u message %llu", w,
			 (unsigned long long)i);

	mbedtls_sha256((const unsigned char *)msg, (size_t)n, out, 0);
}

/* mbedTLS's verification, not the libcrypto one the engine's self-test
 * uses: the HSM's signatures are checked by an implementation of its own. */
static int verify(const uint8_t x[32], const uint8_t y[32],
		  const uint8_t digest[32], const uint8_t sig[64])
{
	return p256_verify_mbedtls(x, y, digest, sig) == 0;
}

static void config(struct hsm_config *c, const char *pin_file)
{
	memset(c, 0, sizeof(*c));
	c->module = MODULE;
	c->token_label = TOKEN;
	c->pin_file = pin_file;
	c->issuer_key_label = KEY;
	c->threads = 2;
	c->queue_depth = 64;
	c->nworkers = 2;
	c->completion_depth = 32;
}

static void fill_job(struct hsm_job *j, unsigned owner, uint64_t i)
{
	memset(j, 0, sizeof(*j));
	j->op = HSM_OP_SIGN_ES256;
	j->key = HSM_KEY_ISSUER;
	j->owner = (uint16_t)owner;
	j->user_gen = i;
	make_digest(owner, i, j->digest);
}

/* Wait for worker <w>'s eventfd, consume it, reap into <out>. */
static size_t wait_reap(struct hsm_engine *e, unsigned w, struct hsm_job **out,
			size_t max, int timeout_ms)
{
	struct pollfd p = { .fd = hsm_completion_fd(e, w), .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	if (read(p.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	return hsm_reap(e, w, out, max);
}

/* Submit one job from worker 0 and wait for it. */
static struct hsm_job *sign_one(struct hsm_engine *e, struct hsm_job *j,
				uint64_t i)
{
	struct hsm_job *done[1];

	fill_job(j, 0, i);
	if (hsm_submit(e, j) != IG_OK)
		return NULL;
	for (int tries = 0; tries < 100; tries++)
		if (wait_reap(e, 0, done, 1, 100) == 1)
			return done[0];
	return NULL;
}

/* ---- pure parts --------------------------------------------------------- */

static void test_mpmc(void)
{
	struct hsm_mpmc q;
	int items[8];

	CHECK(hsm_mpmc_init(&q, 1) != 0);
	CHECK(hsm_mpmc_init(&q, 6) != 0);
	CHECK_EQ(hsm_mpmc_init(&q, 4), 0);
	CHECK(hsm_mpmc_pop(&q) == NULL);
	/* Several laps, so every cell's sequence number wraps. */
	for (int lap = 0; lap < 5; lap++) {
		for (int i = 0; i < 4; i++)
			CHECK(hsm_mpmc_push(&q, &items[i]));
		CHECK(!hsm_mpmc_push(&q, &items[4]));
		CHECK_EQ(hsm_mpmc_count(&q), 4);
		for (int i = 0; i < 4; i++)
			CHECK(hsm_mpmc_pop(&q) == &items[i]);
		CHECK(hsm_mpmc_pop(&q) == NULL);
		CHECK(hsm_mpmc_push(&q, &items[5]));
		CHECK(hsm_mpmc_pop(&q) == &items[5]);
	}
	hsm_mpmc_free(&q);
}

static void test_ec_point(void)
{
	uint8_t der[68], x[32], y[32];

	der[0] = 0x04;
	der[1] = 0x41;
	der[2] = 0x04;
	for (int i = 0; i < 64; i++)
		der[3 + i] = (uint8_t)i;
	CHECK_EQ(hsm_p11_ec_point_xy(der, 67, x, y), IG_OK);
	CHECK(x[0] == 0 && x[31] == 31 && y[0] == 32 && y[31] == 63);
	CHECK_EQ(hsm_p11_ec_point_xy(der, 66, x, y), IG_EPROTO);
	CHECK_EQ(hsm_p11_ec_point_xy(der, 68, x, y), IG_EPROTO);
	CHECK_EQ(hsm_p11_ec_point_xy(NULL, 67, x, y), IG_EPROTO);
	/* The raw point without its OCTET STRING header. */
	CHECK_EQ(hsm_p11_ec_point_xy(der + 2, 65, x, y), IG_EPROTO);
	der[0] = 0x03; /* BIT STRING */
	CHECK_EQ(hsm_p11_ec_point_xy(der, 67, x, y), IG_EPROTO);
	der[0] = 0x04;
	der[1] = 0x40;
	CHECK_EQ(hsm_p11_ec_point_xy(der, 67, x, y), IG_EPROTO);
	der[1] = 0x41;
	der[2] = 0x02; /* compressed */
	CHECK_EQ(hsm_p11_ec_point_xy(der, 67, x, y), IG_EPROTO);
}

static void test_p11_helpers(void)
{
	unsigned char lab[32];
	char pin[8];
	const char *why = NULL;
	char path[200];

	CHECK_EQ(hsm_p11_pad_label("abc", lab), IG_OK);
	CHECK(memcmp(lab, "abc                             ", 32) == 0);
	CHECK_EQ(hsm_p11_pad_label("", lab), IG_EUSAGE);
	CHECK_EQ(hsm_p11_pad_label(NULL, lab), IG_EUSAGE);
	CHECK_EQ(hsm_p11_pad_label("123456789012345678901234567890123", lab),
		 IG_EUSAGE);
	CHECK_STR(hsm_p11_ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	CHECK(hsm_p11_ckr_name(0x7777) == NULL);
	CHECK_STR(hsm_p11_why("C_Foo", 0x7777), "C_Foo: CKR 0x7777");
	CHECK(hsm_p11_session_lost(CKR_SESSION_HANDLE_INVALID));
	CHECK(hsm_p11_session_lost(CKR_SESSION_CLOSED));
	CHECK(hsm_p11_session_lost(CKR_USER_NOT_LOGGED_IN));
	CHECK(hsm_p11_session_lost(CKR_OBJECT_HANDLE_INVALID));
	CHECK(!hsm_p11_session_lost(CKR_DEVICE_ERROR));

	/* PIN files: newline stripped, too long and empty refused. */
	snprintf(path, sizeof(path), "%s/pin-test", tmp_root);
	CHECK_EQ(write_file(path, "1234\r\n"), 0);
	CHECK_EQ(hsm_p11_read_pin(path, pin, sizeof(pin), &why), 4);
	CHECK_STR(pin, "1234");
	CHECK_EQ(write_file(path, "12345678"), 0);
	CHECK_EQ(hsm_p11_read_pin(path, pin, sizeof(pin), &why), IG_EUSAGE);
	CHECK(contains(why, "too long"));
	CHECK_EQ(write_file(path, "\n"), 0);
	CHECK_EQ(hsm_p11_read_pin(path, pin, sizeof(pin), &why), IG_EUSAGE);
	CHECK(contains(why, "empty"));
	unlink(path);
	CHECK_EQ(hsm_p11_read_pin(path, pin, sizeof(pin), &why), IG_EUSAGE);
	CHECK(contains(why, "cannot open pin_file"));
}

/* ---- provisioning ------------------------------------------------------- */

static int file_mode(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777) | (S_ISREG(st.st_mode) ? 0x10000 : 0) |
	       (S_ISDIR(st.st_mode) ? 0x20000 : 0);
}

static void test_provision_errors(void)
{
	const char *why = NULL;
	char dir2[160], path[200], buf[64];

	CHECK_EQ(hsm_provision_softhsm(NULL, MODULE, TOKEN, KEY, &why),
		 IG_EUSAGE);
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, "", KEY, &why),
		 IG_EUSAGE);
	CHECK(contains(why, "1 to 32 bytes"));
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE,
				       "123456789012345678901234567890123",
				       KEY, &why), IG_EUSAGE);
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, "", &why),
		 IG_EUSAGE);
	CHECK(contains(why, "key label"));

	/* The state dir is a file. */
	snprintf(path, sizeof(path), "%s/plain-file", tmp_root);
	CHECK_EQ(write_file(path, "x"), 0);
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(path, MODULE, TOKEN, KEY, &why),
		 IG_EUSAGE);
	CHECK(contains(why, "not a directory"));

	/* No such module. */
	snprintf(dir2, sizeof(dir2), "%s/state-nomodule", tmp_root);
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(dir2, "/nonexistent/libpkcs11.so",
				       TOKEN, KEY, &why), IG_EUSAGE);
	CHECK(contains(why, "cannot load the PKCS#11 module"));
	CHECK(contains(why, "No such file"));

	/* A PIN file without its token: refused, and left untouched. */
	snprintf(dir2, sizeof(dir2), "%s/state-stale", tmp_root);
	CHECK_EQ(mkdir(dir2, 0700), 0);
	snprintf(path, sizeof(path), "%s/hsm.pin", dir2);
	CHECK_EQ(write_file(path, "stale\n"), 0);
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(dir2, MODULE, TOKEN, KEY, &why),
		 IG_EUSAGE);
	CHECK(contains(why, "PIN file exists"));
	CHECK(read_file(path, buf, sizeof(buf)) > 0 && !strcmp(buf, "stale\n"));
	/* ... and the SO PIN file it had created is gone again. */
	snprintf(path, sizeof(path), "%s/hsm-so.pin", dir2);
	CHECK(access(path, F_OK) != 0);
}

/* Count key objects and read the private key's attributes via the module. */
static void check_token_objects(void)
{
	struct hsm_p11_module *m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv, pub;
	CK_SLOT_ID slot;
	CK_BBOOL sens = 0, extr = 1, never = 0, sign = 0, token = 0, prv = 0;
	CK_BBOOL decrypt = 1, unwrap = 1, derive = 1;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE attrs[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_NEVER_EXTRACTABLE, &never, sizeof(never) },
		{ CKA_SIGN, &sign, sizeof(sign) },
		{ CKA_TOKEN, &token, sizeof(token) },
		{ CKA_PRIVATE, &prv, sizeof(prv) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_DECRYPT, &decrypt, sizeof(decrypt) },
		{ CKA_UNWRAP, &unwrap, sizeof(unwrap) },
		{ CKA_DERIVE, &derive, sizeof(derive) },
	};
	uint8_t secret[64];
	CK_ATTRIBUTE value = { CKA_VALUE, secret, sizeof(secret) };
	const char *why = NULL;
	CK_RV rv;

	if (hsm_p11_module_get(MODULE, &m, &why) != IG_OK) {
		CHECK(!"module loads");
		return;
	}
	CHECK_EQ(hsm_p11_find_token(m->f, TOKEN, &slot, &why), 1);
	CHECK_EQ(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
		 CKR_OK);
	CHECK_EQ(hsm_p11_login(m->f, s, CKU_USER, pin_path, &rv, &why), IG_OK);
	CHECK_EQ(hsm_p11_find_object(m->f, s, CKO_PRIVATE_KEY, KEY, &priv,
				     &why), 1);
	CHECK_EQ(hsm_p11_find_object(m->f, s, CKO_PUBLIC_KEY, KEY, &pub, &why),
		 1);
	CHECK_EQ(m->f->C_GetAttributeValue(s, priv, attrs, IG_ARRAY_LEN(attrs)),
		 CKR_OK);
	CHECK(sens == CK_TRUE);
	CHECK(extr == CK_FALSE);
	CHECK(never == CK_TRUE);
	CHECK(sign == CK_TRUE);
	CHECK(token == CK_TRUE);
	CHECK(prv == CK_TRUE);
	CHECK_EQ(kt, CKK_EC);
	CHECK(decrypt == CK_FALSE && unwrap == CK_FALSE && derive == CK_FALSE);
	/* The module refuses to reveal the private value. */
	CHECK_EQ(m->f->C_GetAttributeValue(s, priv, &value, 1),
		 CKR_ATTRIBUTE_SENSITIVE);
	m->f->C_Logout(s);
	m->f->C_CloseSession(s);
	hsm_p11_module_put(m);
}

static void test_provision(void)
{
	const char *why = NULL;
	char conf[200], buf[512], so1[64], user1[64], so2[64], user2[64];
	char want[300], real[256];
	struct stat st1, st2;

	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, KEY, &why),
		 IG_OK);
	if (why)
		fprintf(stderr, "provision: %s\n", why);
	CHECK_EQ(file_mode(pin_path), 0x10000 | 0600);
	CHECK_EQ(file_mode(so_pin_path), 0x10000 | 0600);
	snprintf(buf, sizeof(buf), "%s/tokens", state_dir);
	CHECK_EQ(file_mode(buf), 0x20000 | 0700);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", state_dir);
	CHECK(getenv("SOFTHSM2_CONF") && !strcmp(getenv("SOFTHSM2_CONF"), conf));
	CHECK(read_file(conf, buf, sizeof(buf)) > 0);
	CHECK(realpath(state_dir, real) != NULL);
	snprintf(want, sizeof(want), "directories.tokendir = %s/tokens\n", real);
	CHECK(contains(buf, want));
	CHECK(contains(buf, "objectstore.backend = file\n"));
	CHECK(contains(buf, "log.level = ERROR\n"));

	/* Random 128-bit PINs, hex, one per file. */
	CHECK_EQ(read_file(pin_path, user1, sizeof(user1)), 33);
	CHECK_EQ(read_file(so_pin_path, so1, sizeof(so1)), 33);
	CHECK(strspn(user1, "0123456789abcdef") == 32 && user1[32] == '\n');
	CHECK(strcmp(user1, so1) != 0);
	CHECK_EQ(stat(pin_path, &st1), 0);

	/* Again: finds everything, changes nothing. */
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, KEY, &why),
		 IG_OK);
	CHECK_EQ(read_file(pin_path, user2, sizeof(user2)), 33);
	CHECK_EQ(read_file(so_pin_path, so2, sizeof(so2)), 33);
	CHECK_STR(user1, user2);
	CHECK_STR(so1, so2);
	CHECK_EQ(stat(pin_path, &st2), 0);
	CHECK(st1.st_ino == st2.st_ino &&
	      st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
	      st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
	check_token_objects(); /* still exactly one key pair */
}

/* ---- engine start-up errors --------------------------------------------- */

static void expect_start_fails(const struct hsm_config *c, int err,
			       const char *reason)
{
	struct hsm_engine *e = (struct hsm_engine *)1;
	const char *why = NULL;

	CHECK_EQ(hsm_start(&e, c, &why), err);
	CHECK(e == NULL);
	if (!contains(why, reason)) {
		fprintf(stderr, "  want why containing \"%s\", got \"%s\"\n",
			reason, why ? why : "(null)");
		CHECK(!"the reason names the problem");
	}
}

static void test_start_errors(void)
{
	struct hsm_config c;
	char bad_pin[200];

	expect_start_fails(NULL, IG_EUSAGE, "no HSM configuration");
	config(&c, pin_path);
	c.threads = 0;
	expect_start_fails(&c, IG_EUSAGE, "threads");
	config(&c, pin_path);
	c.queue_depth = 48;
	expect_start_fails(&c, IG_EUSAGE, "queue_depth");
	c.queue_depth = 1;
	expect_start_fails(&c, IG_EUSAGE, "queue_depth");
	config(&c, pin_path);
	c.completion_depth = 0;
	expect_start_fails(&c, IG_EUSAGE, "completion_depth");
	config(&c, pin_path);
	c.nworkers = 0;
	expect_start_fails(&c, IG_EUSAGE, "nworkers");
	config(&c, pin_path);
	c.issuer_key_label = NULL;
	expect_start_fails(&c, IG_EUSAGE, "issuer_key_label");

	config(&c, pin_path);
	c.module = "/nonexistent/libpkcs11.so";
	expect_start_fails(&c, IG_EUSAGE, "cannot load the PKCS#11 module");
	c.module = "libm.so.6"; /* a library, but no PKCS#11 module */
	expect_start_fails(&c, IG_EUSAGE, "no C_GetFunctionList");

	config(&c, pin_path);
	c.token_label = "no-such-token";
	expect_start_fails(&c, IG_EUSAGE, "no initialized token");

	config(&c, pin_path);
	c.issuer_key_label = "no-such-key";
	expect_start_fails(&c, IG_EUSAGE, "no private key with that key label");

	snprintf(bad_pin, sizeof(bad_pin), "%s/wrong.pin", tmp_root);
	CHECK_EQ(write_file(bad_pin, "00000000000000000000000000000000\n"), 0);
	config(&c, bad_pin);
	expect_start_fails(&c, IG_EUSAGE, "CKR_PIN_INCORRECT");
	unlink(bad_pin);
	expect_start_fails(&c, IG_EUSAGE, "cannot open pin_file");
}

/* ---- keys the engine must refuse --------------------------------------- */

static CK_RV gen_pair(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		      CK_MECHANISM_TYPE mt, const uint8_t *oid, size_t oid_len,
		      const char *label, CK_OBJECT_HANDLE *pub,
		      CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM mech = { mt, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 1024;
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		mt == CKM_EC_KEY_PAIR_GEN
			? (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, oid_len }
			: (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) },
	};
	CK_ATTRIBUTE vt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};

	return f->C_GenerateKeyPair(s, &mech, pt, IG_ARRAY_LEN(pt), vt,
				    IG_ARRAY_LEN(vt), pub, priv);
}

static void test_bad_keys(void)
{
	static const uint8_t p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
					0x22 };
	struct hsm_p11_module *m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE a_pub, a_priv, b_pub, b_priv, h1, h2;
	CK_SLOT_ID slot;
	struct hsm_config c;
	const char *why = NULL;
	char label[] = "mix";
	CK_ATTRIBUTE relabel = { CKA_LABEL, label, 3 };
	CK_RV rv;

	if (hsm_p11_module_get(MODULE, &m, &why) != IG_OK) {
		CHECK(!"module loads");
		return;
	}
	/* Provisioning wants to be the module's first user. */
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, KEY, &why),
		 IG_EUSAGE);
	CHECK(contains(why, "already in use"));

	CHECK_EQ(hsm_p11_find_token(m->f, TOKEN, &slot, &why), 1);
	CHECK_EQ(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				     NULL, NULL, &s), CKR_OK);
	CHECK_EQ(hsm_p11_login(m->f, s, CKU_USER, pin_path, &rv, &why), IG_OK);
	/* "mix": A's private key with B's public key; "mix2": B's private
	 * key alone; "dup": two pairs; "p384", "rsa": wrong kinds of key. */
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, HSM_P11_P256_OID,
			  sizeof(HSM_P11_P256_OID), "mix", &a_pub, &a_priv),
		 CKR_OK);
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, HSM_P11_P256_OID,
			  sizeof(HSM_P11_P256_OID), "mix2", &b_pub, &b_priv),
		 CKR_OK);
	CHECK_EQ(m->f->C_DestroyObject(s, a_pub), CKR_OK);
	CHECK_EQ(m->f->C_SetAttributeValue(s, b_pub, &relabel, 1), CKR_OK);
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, HSM_P11_P256_OID,
			  sizeof(HSM_P11_P256_OID), "dup", &h1, &h2), CKR_OK);
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, HSM_P11_P256_OID,
			  sizeof(HSM_P11_P256_OID), "dup", &h1, &h2), CKR_OK);
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, p384, sizeof(p384),
			  "p384", &h1, &h2), CKR_OK);
	CHECK_EQ(gen_pair(m->f, s, CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, "rsa",
			  &h1, &h2), CKR_OK);
	m->f->C_Logout(s);
	m->f->C_CloseSession(s);
	hsm_p11_module_put(m);

	config(&c, pin_path);
	c.issuer_key_label = "mix";
	expect_start_fails(&c, IG_EUSAGE, "self-test");
	c.issuer_key_label = "mix2";
	expect_start_fails(&c, IG_EUSAGE, "no public key with that key label");
	c.issuer_key_label = "dup";
	expect_start_fails(&c, IG_EUSAGE, "more than one private key");
	c.issuer_key_label = "p384";
	expect_start_fails(&c, IG_EUSAGE, "not P-256");
	c.issuer_key_label = "rsa";
	expect_start_fails(&c, IG_EUSAGE, "not an EC key");

	/* Provisioning will not paper over a broken pair either. */
	why = NULL;
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, "mix2", &why),
		 IG_EUSAGE);
	CHECK(contains(why, "incomplete or duplicated"));
}

/* ---- signing from two workers ------------------------------------------- */

#define WJOBS 32
#define PER_WORKER 150

struct wctx {
	struct hsm_engine *e;
	unsigned w;
	unsigned ok, bad;
	uint8_t x[32], y[32];
	struct hsm_job jobs[WJOBS];
};

static int check_done_job(struct wctx *c, const struct hsm_job *j)
{
	uint8_t digest[32];

	make_digest(c->w, j->user_gen, digest);
	return j->status == IG_OK && j->ckr == CKR_OK && j->user == c &&
	       j->owner == c->w && memcmp(j->digest, digest, 32) == 0 &&
	       j->done_ns >= j->submit_ns && verify(c->x, c->y, digest, j->sig);
}

/* A dataplane worker in miniature: submit while jobs are free, poll the
 * eventfd, consume it, reap until the queue is empty. */
static void *worker_main(void *arg)
{
	struct wctx *c = arg;
	struct hsm_job *free_list[WJOBS], *done[8];
	unsigned nfree = 0, sent = 0, got = 0;
	int efd = hsm_completion_fd(c->e, c->w);

	for (unsigned i = 0; i < WJOBS; i++)
		free_list[nfree++] = &c->jobs[i];
	while (got < PER_WORKER) {
		struct pollfd p = { .fd = efd, .events = POLLIN };
		uint64_t v;
		size_t n;
		int rc;

		while (sent < PER_WORKER && nfree > 0) {
			struct hsm_job *j = free_list[--nfree];

			fill_job(j, c->w, sent);
			j->user = c;
			rc = hsm_submit(c->e, j);
			if (rc != IG_OK) {
				free_list[nfree++] = j;
				if (rc != IG_EBLOCKED)
					return NULL;
				break;
			}
			sent++;
		}
		/* With nothing of ours in flight, only a full shared queue
		 * can have blocked us: look again soon. */
		if (poll(&p, 1, sent > got ? 10000 : 10) == 0) {
			if (sent > got) {
				c->bad++;
				return NULL;
			}
			continue;
		}
		if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			c->bad++;
		do {
			n = hsm_reap(c->e, c->w, done, IG_ARRAY_LEN(done));
			for (size_t i = 0; i < n; i++) {
				if (check_done_job(c, done[i]))
					c->ok++;
				else
					c->bad++;
				free_list[nfree++] = done[i];
				got++;
			}
		} while (n == IG_ARRAY_LEN(done));
	}
	return NULL;
}

static void test_usage_errors(struct hsm_engine *e)
{
	struct hsm_job j;
	uint8_t x[32], y[32];
	struct hsm_job *out[1];

	fill_job(&j, 2, 0); /* nworkers is 2 */
	CHECK_EQ(hsm_submit(e, &j), IG_EUSAGE);
	fill_job(&j, 0, 0);
	j.op = 0;
	CHECK_EQ(hsm_submit(e, &j), IG_EUSAGE);
	fill_job(&j, 0, 0);
	j.key = HSM_KEY_COUNT;
	CHECK_EQ(hsm_submit(e, &j), IG_EUSAGE);
	CHECK_EQ(hsm_submit(e, NULL), IG_EUSAGE);
	CHECK_EQ(hsm_completion_fd(e, 2), IG_EUSAGE);
	CHECK_EQ(hsm_reap(e, 2, out, 1), 0);
	CHECK_EQ(hsm_public_key(e, HSM_KEY_COUNT, x, y), IG_EUSAGE);
}

static void test_concurrent_signing(struct hsm_engine *e)
{
	static struct wctx ctx[2];
	pthread_t tid[2];
	struct hsm_stats st;
	uint64_t prev = 0;
	int mono = 1;

	for (unsigned w = 0; w < 2; w++) {
		ctx[w].e = e;
		ctx[w].w = w;
		CHECK_EQ(hsm_public_key(e, HSM_KEY_ISSUER, ctx[w].x, ctx[w].y),
			 IG_OK);
		CHECK_EQ(pthread_create(&tid[w], NULL, worker_main, &ctx[w]), 0);
	}
	for (unsigned w = 0; w < 2; w++) {
		pthread_join(tid[w], NULL);
		CHECK_EQ(ctx[w].ok, PER_WORKER);
		CHECK_EQ(ctx[w].bad, 0);
	}
	/* The verifier is not a rubber stamp. */
	{
		uint8_t d[32];

		make_digest(9, 9, d);
		CHECK(!verify(ctx[0].x, ctx[0].y, d, ctx[0].jobs[0].sig));
	}
	hsm_get_stats(e, &st);
	CHECK_EQ(st.submitted, 2 * PER_WORKER);
	CHECK_EQ(st.completed_ok, 2 * PER_WORKER);
	CHECK_EQ(st.completed_err, 0);
	CHECK_EQ(st.in_flight, 0);
	CHECK_EQ(st.queue_depth, 0);
	CHECK(st.latency_us_sum > 0);
	for (unsigned b = 0; b < 16; b++) {
		mono &= st.latency_buckets[b] >= prev;
		prev = st.latency_buckets[b];
	}
	CHECK(mono);
	CHECK(prev <= st.completed_ok);
	CHECK(HSM_LATENCY_BOUNDS_US[0] == 100 &&
	      HSM_LATENCY_BOUNDS_US[15] == 3276800);
	CHECK_EQ(hsm_ready(e), 1);
}

/*
 * Sessions lost under the engine (C_CloseAllSessions from "outside", as a
 * token reset would do): the job is retried on fresh sessions.  A login
 * that fails on the way clears hsm_ready; the next success sets it again.
 */
static void test_session_recovery(struct hsm_engine *e)
{
	struct hsm_p11_module *m;
	struct hsm_job j, *d;
	struct hsm_stats st;
	uint8_t x[32], y[32];
	CK_SLOT_ID slot;
	const char *why;
	char good[64];

	CHECK_EQ(hsm_public_key(e, HSM_KEY_ISSUER, x, y), IG_OK);
	if (hsm_p11_module_get(MODULE, &m, &why) != IG_OK) {
		CHECK(!"module loads");
		return;
	}
	CHECK_EQ(hsm_p11_find_token(m->f, TOKEN, &slot, &why), 1);

	CHECK_EQ(m->f->C_CloseAllSessions(slot), CKR_OK);
	d = sign_one(e, &j, 1000);
	CHECK(d == &j && j.status == IG_OK && verify(x, y, j.digest, j.sig));
	hsm_get_stats(e, &st);
	CHECK(st.session_reopens >= 1);

	/* Logged out but the sessions live. */
	{
		CK_SESSION_HANDLE s;

		CHECK_EQ(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL,
					     NULL, &s), CKR_OK);
		CHECK_EQ(m->f->C_Logout(s), CKR_OK);
		CHECK_EQ(m->f->C_CloseSession(s), CKR_OK);
	}
	d = sign_one(e, &j, 1001);
	CHECK(d == &j && j.status == IG_OK && verify(x, y, j.digest, j.sig));

	/* The PIN changed under us: the job fails (to be retried on another
	 * HSM of a pool), the engine is not ready. */
	CHECK(read_file(pin_copy, good, sizeof(good)) > 0);
	CHECK_EQ(write_file(pin_copy, "not-the-pin\n"), 0);
	CHECK_EQ(m->f->C_CloseAllSessions(slot), CKR_OK);
	d = sign_one(e, &j, 1002);
	CHECK(d == &j && j.status == IG_EBLOCKED);
	CHECK_EQ(j.ckr, CKR_PIN_INCORRECT);
	CHECK_EQ(hsm_ready(e), 0);
	hsm_get_stats(e, &st);
	CHECK_EQ(st.completed_err, 1);

	/* Fixed: a probe finds out without any traffic... */
	CHECK_EQ(write_file(pin_copy, good), 0);
	for (int i = 0; i < 40 && !hsm_ready(e); i++)
		usleep(100 * 1000);
	CHECK_EQ(hsm_ready(e), 1);
	hsm_get_stats(e, &st);
	CHECK(st.probes >= 1);
	/* ... and jobs run again. */
	d = sign_one(e, &j, 1003);
	CHECK(d == &j && j.status == IG_OK && verify(x, y, j.digest, j.sig));
	CHECK_EQ(hsm_ready(e), 1);
	hsm_p11_module_put(m);
}

static void test_engine(void)
{
	struct hsm_engine *e = NULL;
	struct hsm_config c;
	const char *why = NULL;
	char pin[64];

	/* The engine reads its own copy, so the recovery test can break it. */
	CHECK(read_file(pin_path, pin, sizeof(pin)) > 0);
	CHECK_EQ(write_file(pin_copy, pin), 0);
	config(&c, pin_copy);
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e) {
		fprintf(stderr, "hsm_start: %s\n", why);
		return;
	}
	CHECK_EQ(hsm_ready(e), 1);
	test_usage_errors(e);
	test_concurrent_signing(e);
	test_session_recovery(e);
	hsm_stop(e);
}

/* ---- back-pressure and shutdown ----------------------------------------- */

#define MANY 1000
static struct hsm_job many[MANY];

/* Reap worker 0 until <want> jobs came back; count them by status. */
static void reap_all(struct hsm_engine *e, unsigned want, unsigned *ok,
		     unsigned *closed, unsigned *other)
{
	struct hsm_job *out[64];
	unsigned got = 0;

	*ok = *closed = *other = 0;
	while (got < want) {
		size_t n = wait_reap(e, 0, out, IG_ARRAY_LEN(out), 10000);

		if (n == 0)
			break;
		/* The contract: reap until fewer than asked for come back. */
		for (;;) {
			for (size_t i = 0; i < n; i++) {
				if (out[i]->status == IG_OK)
					++*ok;
				else if (out[i]->status == IG_ECLOSED &&
					 out[i]->ckr == CKR_OK)
					++*closed;
				else
					++*other;
			}
			got += (unsigned)n;
			if (n < IG_ARRAY_LEN(out))
				break;
			n = hsm_reap(e, 0, out, IG_ARRAY_LEN(out));
		}
	}
}

static void test_queue_full(void)
{
	struct hsm_engine *e = NULL;
	struct hsm_config c;
	struct hsm_stats st;
	const char *why = NULL;
	unsigned accepted = 0, blocked = 0, ok, closed, other;

	/* The job queue: 4 slots, one slow consumer, no reaping. */
	config(&c, pin_path);
	c.threads = 1;
	c.queue_depth = 4;
	c.nworkers = 1;
	c.completion_depth = 128;
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e)
		return;
	for (unsigned i = 0; i < 100; i++) {
		int rc;

		fill_job(&many[i], 0, i);
		rc = hsm_submit(e, &many[i]);
		if (rc == IG_OK)
			accepted++;
		else if (rc == IG_EBLOCKED)
			blocked++;
	}
	CHECK_EQ(accepted + blocked, 100);
	CHECK(accepted >= 4);
	CHECK(blocked > 0);
	hsm_get_stats(e, &st);
	CHECK_EQ(st.rejected_full, blocked);
	CHECK_EQ(st.submitted, accepted);
	reap_all(e, accepted, &ok, &closed, &other);
	CHECK_EQ(ok, accepted);
	hsm_stop(e);

	/* The completion queue: a worker that does not reap is held to
	 * completion_depth jobs, however fast the HSM is. */
	config(&c, pin_path);
	c.threads = 1;
	c.nworkers = 1;
	c.completion_depth = 4;
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e)
		return;
	accepted = blocked = 0;
	for (unsigned i = 0; i < 100; i++) {
		int rc;

		fill_job(&many[i], 0, i);
		rc = hsm_submit(e, &many[i]);
		accepted += rc == IG_OK;
		blocked += rc == IG_EBLOCKED;
	}
	CHECK_EQ(accepted, 4);
	CHECK_EQ(blocked, 96);
	reap_all(e, accepted, &ok, &closed, &other);
	CHECK_EQ(ok, 4);
	fill_job(&many[0], 0, 0);
	CHECK_EQ(hsm_submit(e, &many[0]), IG_OK); /* room again */
	reap_all(e, 1, &ok, &closed, &other);
	CHECK_EQ(ok, 1);
	hsm_stop(e);
}

static void test_close_with_queued(void)
{
	struct hsm_engine *e = NULL;
	struct hsm_config c;
	struct hsm_stats st;
	const char *why = NULL;
	unsigned accepted = 0, ok, closed, other;
	struct hsm_job late;
	struct pollfd p;

	config(&c, pin_path);
	c.threads = 1;
	c.queue_depth = 1024;
	c.nworkers = 1;
	c.completion_depth = 1024;
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e)
		return;
	for (unsigned i = 0; i < MANY; i++) {
		fill_job(&many[i], 0, i);
		accepted += hsm_submit(e, &many[i]) == IG_OK;
	}
	CHECK_EQ(accepted, MANY);
	hsm_close(e);
	CHECK_EQ(hsm_ready(e), 0);
	fill_job(&late, 0, 0);
	CHECK_EQ(hsm_submit(e, &late), IG_ECLOSED);
	p.fd = hsm_completion_fd(e, 0);
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 0), 1);
	reap_all(e, accepted, &ok, &closed, &other);
	CHECK_EQ(ok + closed, accepted);
	CHECK(closed > 0);
	CHECK_EQ(other, 0);
	hsm_get_stats(e, &st);
	CHECK_EQ(st.completed_ok, ok);
	CHECK_EQ(st.completed_err, closed);
	CHECK_EQ(st.in_flight, 0);
	hsm_close(e); /* idempotent */
	hsm_stop(e);
	hsm_stop(NULL);
}

/* ---- citizens' keys: generated and wrapped, unwrapped and used ------- */

static int run_job(struct hsm_engine *e, struct hsm_job *j)
{
	struct hsm_job *done[1];

	int rc;

	j->owner = 0;
	rc = hsm_submit(e, j);
	if (rc != IG_OK) {
		fprintf(stderr, "run_job: submit %d\n", rc);
		return -1;
	}
	for (int tries = 0; tries < 100; tries++) {
		if (wait_reap(e, 0, done, 1, 100) == 1) {
			if (done[0]->status != IG_OK)
				fprintf(stderr, "run_job: op %d: %s\n", j->op,
					hsm_p11_why("status", done[0]->ckr));
			return done[0]->status;
		}
	}
	fprintf(stderr, "run_job: no completion\n");
	return -1;
}

/* Verify <sig> (raw r||s for EC, PKCS#1 v1.5 for RSA) over <digest> with
 * libcrypto, from the public key's SPKI. */
static int verify_any(const struct pubkey *k, const uint8_t digest[32],
		      const uint8_t *sig, size_t sig_len)
{
	uint8_t spki[PUBKEY_SPKI_MAX], der[80];
	const uint8_t *p = spki;
	size_t len;
	EVP_PKEY *pk;
	EVP_PKEY_CTX *ctx;
	int ok = 0;

	if (pubkey_spki_der(k, spki, sizeof(spki), &len) != IG_OK ||
	    !(pk = d2i_PUBKEY(NULL, &p, (long)len)))
		return 0;
	if (k->kind == PUBKEY_EC_P256) {
		if (sig_len != 64)
			goto out;
		sig_len = p256_sig_to_der(sig, der);
		sig = der;
	}
	ctx = EVP_PKEY_CTX_new(pk, NULL);
	if (ctx && EVP_PKEY_verify_init(ctx) == 1 &&
	    (k->kind != PUBKEY_RSA ||
	     (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	      EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1)))
		ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
out:
	EVP_PKEY_free(pk);
	return ok;
}

static void test_wrapped_keys(void)
{
	static struct hsm_wrapped wx, again;
	struct hsm_engine *e = NULL;
	struct hsm_config c;
	struct hsm_stats st;
	struct pubkey ca;
	struct hsm_job j;
	const char *why = NULL;

	config(&c, pin_path);
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e)
		return;
	CHECK_EQ(hsm_choose_wrap(e, 0), 0);
	CHECK_EQ(hsm_choose_wrap(e, 1), IG_ECLOSED);
	CHECK_EQ(hsm_choose_ca(e, NULL, &ca), 0);
	CHECK_EQ(ca.kind, PUBKEY_EC_P256);
	CHECK_EQ(hsm_choose_ca(e, &ca, NULL), 0);
	{
		struct pubkey other = ca;

		other.x[5] ^= 1; /* another CA's key: not this HSM's */
		CHECK_EQ(hsm_choose_ca(e, &other, NULL), IG_ECLOSED);
	}
	CHECK_EQ(hsm_device_index(e, "hsm0"), 0);
	CHECK_EQ(hsm_device_index(e, "nope"), IG_EUSAGE);

	for (int alg = HSM_ALG_EC_P256; alg <= HSM_ALG_RSA_2048; alg++) {
		memset(&wx, 0, sizeof(wx));
		memset(&j, 0, sizeof(j));
		wx.alg = (uint8_t)alg;
		j.op = HSM_OP_GEN_WRAPPED;
		j.wx = &wx;
		CHECK_EQ(run_job(e, &j), IG_OK);
		CHECK(wx.blob_len > 0 && wx.blob_len <= HSM_WRAPPED_MAX);
		CHECK_EQ(wx.pub.kind, alg == HSM_ALG_EC_P256 ? PUBKEY_EC_P256 : PUBKEY_RSA);
		/* Nothing of it stays in the token: only the blob left. */
		memcpy(wx.cred_id, alg == HSM_ALG_EC_P256 ? "credential-ec-01" :
			"credential-rsa-1", HSM_CRED_ID_LEN);
		wx.n = 3;
		for (int i = 0; i < 3; i++)
			make_digest(9, (uint64_t)(alg * 10 + i), wx.digests[i]);
		for (int round = 0; round < 2; round++) { /* unwrap, then cached */
			memset(&j, 0, sizeof(j));
			j.op = HSM_OP_SIGN_WRAPPED;
			j.wx = &wx;
			CHECK_EQ(run_job(e, &j), IG_OK);
			for (int i = 0; i < 3; i++)
				CHECK(verify_any(&wx.pub, wx.digests[i], wx.sigs[i],
						 wx.sig_len[i]));
		}
		/* A damaged blob is the job's fault: the HSM stays in rotation. */
		again = wx;
		again.blob[again.blob_len / 2] ^= 1;
		memcpy(again.cred_id, "another-credent", HSM_CRED_ID_LEN);
		memset(&j, 0, sizeof(j));
		j.op = HSM_OP_SIGN_WRAPPED;
		j.wx = &again;
		CHECK_EQ(run_job(e, &j), IG_EINTERNAL);
		CHECK_EQ(hsm_ready(e), 1);
	}
	/* The CA key signs a digest. */
	memset(&j, 0, sizeof(j));
	j.op = HSM_OP_SIGN_CA;
	make_digest(7, 7, j.digest);
	CHECK_EQ(run_job(e, &j), IG_OK);
	CHECK(verify_any(&ca, j.digest, j.sig, 64));
	/* A wrapped-key job without its extension is refused at once. */
	memset(&j, 0, sizeof(j));
	j.op = HSM_OP_SIGN_WRAPPED;
	CHECK_EQ(hsm_submit(e, &j), IG_EUSAGE);
	j.op = 99;
	CHECK_EQ(hsm_submit(e, &j), IG_EUSAGE);
	hsm_get_stats(e, &st);
	CHECK_EQ(st.completed_err, 2);
	hsm_stop(e);
}

/* ---- key lifecycle: the keyring in the token ---------------------------- */

/* Wait up to 3 s for the engine's key generation to move past <gen>. */
static int wait_keys(struct hsm_engine *e, uint64_t gen)
{
	for (int i = 0; i < 300; i++) {
		if (hsm_keys_generation(e) != gen)
			return 1;
		usleep(10000);
	}
	return 0;
}

static int wait_key_error(struct hsm_engine *e, const char *want)
{
	char err[200];

	for (int i = 0; i < 300; i++) {
		hsm_device_key_error(e, 0, err, sizeof(err));
		if (strstr(err, want))
			return 1;
		usleep(10000);
	}
	fprintf(stderr, "key error: '%s', wanted '%s'\n", err, want);
	return 0;
}

/* Sign with <ik> (NULL: the device's choice) and verify with <pub>. */
static int sign_with(struct hsm_engine *e, const struct hsm_issuer *ik,
		     const struct hsm_issuer *pub, uint64_t i)
{
	struct hsm_job j, *done[1];

	fill_job(&j, 0, i);
	j.ik = ik;
	if (hsm_submit(e, &j) != IG_OK)
		return 0;
	for (int tries = 0; tries < 100; tries++)
		if (wait_reap(e, 0, done, 1, 100) == 1)
			return done[0]->status == IG_OK &&
			       verify(pub->x, pub->y, j.digest, j.sig);
	return 0;
}

static int is_key(const struct hsm_issuer *k, const char *id)
{
	return k && k->ent.id_len == strlen(id) && !memcmp(k->ent.id, id, strlen(id));
}

static void test_keyring_lifecycle(void)
{
	static struct keyring kr, back;
	struct hsm_p11_module *m;
	struct hsm_engine *e = NULL;
	struct hsm_config c;
	const struct hsm_issuer *ks[HSM_MAX_KEYS], *ik = NULL, *first;
	const char *why = NULL;
	CK_OBJECT_HANDLE pub, priv, junk;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	CK_RV rv;
	uint64_t gen;
	int64_t now = time(NULL);
	static const char id2[] = "second-key";
	CK_ATTRIBUTE setid = { CKA_ID, (void *)id2, sizeof(id2) - 1 };

	CHECK_EQ(hsm_p11_module_get(MODULE, &m, &why), IG_OK);
	CHECK_EQ(hsm_p11_find_token(m->f, TOKEN, &slot, &why), 1);
	CHECK_EQ(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
				     NULL, &s), CKR_OK);
	CHECK_EQ(hsm_p11_login(m->f, s, CKU_USER, pin_path, &rv, &why), IG_OK);
	CHECK_EQ(keyring_read(m->f, s, &back, &rv, &why), 0); /* none yet */
	CHECK_EQ(gen_pair(m->f, s, CKM_EC_KEY_PAIR_GEN, HSM_P11_P256_OID,
			  sizeof(HSM_P11_P256_OID), "second", &pub, &priv), CKR_OK);
	CHECK_EQ(m->f->C_SetAttributeValue(s, pub, &setid, 1), CKR_OK);
	CHECK_EQ(m->f->C_SetAttributeValue(s, priv, &setid, 1), CKR_OK);

	/* The labelled key active since ever, the second published as next. */
	kr.n = 2;
	memcpy(kr.e[0].id, KEY, strlen(KEY));
	kr.e[0].id_len = strlen(KEY);
	strcpy(kr.e[0].label, KEY);
	strcpy(kr.e[0].alg, "EC P-256");
	kr.e[0].purpose = KR_TOKEN_ISSUER;
	kr.e[0].publish = kr.e[0].activate = 1;
	memcpy(kr.e[1].id, id2, sizeof(id2) - 1);
	kr.e[1].id_len = sizeof(id2) - 1;
	strcpy(kr.e[1].label, "second");
	strcpy(kr.e[1].alg, "EC P-256");
	kr.e[1].purpose = KR_TOKEN_ISSUER;
	kr.e[1].publish = now;
	CHECK_EQ(keyring_write(m->f, s, &kr, &why), IG_OK);
	CHECK_EQ(kr.version, 1);
	CHECK_EQ(keyring_read(m->f, s, &back, &rv, &why), 1);
	CHECK_EQ(back.version, 1);
	CHECK_EQ(back.n, 2);

	config(&c, pin_path);
	c.key_check_s = 1;
	CHECK_EQ(hsm_start(&e, &c, &why), IG_OK);
	if (!e) {
		fprintf(stderr, "hsm_start: %s\n", why);
		goto out;
	}
	/* The engine's start closed every session of the slot in this
	 * process (it assumes it is the slot's only user): open ours again. */
	CHECK_EQ(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
				     NULL, &s), CKR_OK);
	CHECK_EQ(hsm_device_keys(e, 0, ks, HSM_MAX_KEYS), 2);
	CHECK_EQ(hsm_choose(e, HSM_KEY_ISSUER, 0, now, &ik), 0);
	CHECK(is_key(ik, KEY));
	first = ik;
	CHECK(first && sign_with(e, first, first, 1));

	/* Rotate: the second signs from now, the first retires. */
	kr.e[1].activate = now;
	kr.e[0].retire = now;
	kr.e[0].unpublish = now + 60;
	gen = hsm_keys_generation(e);
	CHECK_EQ(keyring_write(m->f, s, &kr, &why), IG_OK);
	hsm_reload_keys(e);
	CHECK(wait_keys(e, gen));
	CHECK_EQ(hsm_choose(e, HSM_KEY_ISSUER, 0, now, &ik), 0);
	CHECK(is_key(ik, id2));
	CHECK(ik && sign_with(e, ik, ik, 2));
	CHECK(ik && sign_with(e, NULL, ik, 3));       /* the device's choice */
	CHECK(first && sign_with(e, first, first, 4)); /* an old pointer, mapped */
	CHECK(hsm_ready(e));

	/* A keyring naming a key the token lacks: refused, keys kept. */
	kr.n = 3;
	kr.e[2] = kr.e[1];
	memcpy(kr.e[2].id, "nothere", 7);
	kr.e[2].id_len = 7;
	CHECK_EQ(keyring_write(m->f, s, &kr, &why), IG_OK);
	hsm_reload_keys(e);
	CHECK(wait_key_error(e, "not on the token"));
	CHECK_EQ(hsm_device_keys(e, 0, ks, HSM_MAX_KEYS), 2);
	CHECK_EQ(hsm_choose(e, HSM_KEY_ISSUER, 0, now, &ik), 0);
	CHECK(is_key(ik, id2));

	/* A damaged document beside it (a higher version cannot be told from
	 * it): refused, keys kept. */
	{
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_LABEL, (void *)KEYRING_LABEL, strlen(KEYRING_LABEL) },
			{ CKA_APPLICATION, (void *)KEYRING_APPLICATION,
			  strlen(KEYRING_APPLICATION) },
			{ CKA_VALUE, (void *)"{garbage", 8 },
		};

		CHECK_EQ(m->f->C_CreateObject(s, t, IG_ARRAY_LEN(t), &junk), CKR_OK);
		hsm_reload_keys(e);
		CHECK(wait_key_error(e, "not valid JSON"));
		CHECK_EQ(hsm_device_keys(e, 0, ks, HSM_MAX_KEYS), 2);
		CHECK_EQ(m->f->C_DestroyObject(s, junk), CKR_OK);
	}

	/* Fixed, and found by the periodic check alone (no reload asked). */
	kr.n = 2;
	gen = hsm_keys_generation(e);
	CHECK_EQ(keyring_write(m->f, s, &kr, &why), IG_OK);
	CHECK(wait_keys(e, gen));
	CHECK(wait_key_error(e, ""));

	/* Every key retired: nothing can sign, /readyz would say so. */
	kr.e[1].retire = now;
	kr.e[1].unpublish = now;
	kr.e[0].unpublish = now;
	gen = hsm_keys_generation(e);
	CHECK_EQ(keyring_write(m->f, s, &kr, &why), IG_OK);
	hsm_reload_keys(e);
	CHECK(wait_keys(e, gen));
	CHECK_EQ(hsm_device_keys(e, 0, ks, HSM_MAX_KEYS), 0);
	CHECK_EQ(hsm_choose(e, HSM_KEY_ISSUER, 0, now, &ik), IG_ECLOSED);
	CHECK_EQ(hsm_ready(e), 0);
	hsm_stop(e);
out:
	m->f->C_Logout(s);
	m->f->C_CloseSession(s);
	hsm_p11_module_put(m);
}

int main(void)
{
	if (access(MODULE, R_OK) != 0) {
		printf("hsm: skipped, %s not installed\n", MODULE);
		return 77;
	}
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/hsm_test.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmp_root);
	snprintf(pin_path, sizeof(pin_path), "%s/hsm.pin", state_dir);
	snprintf(so_pin_path, sizeof(so_pin_path), "%s/hsm-so.pin", state_dir);
	snprintf(pin_copy, sizeof(pin_copy), "%s/engine.pin", tmp_root);

	test_mpmc();
	test_ec_point();
	test_p11_helpers();
	test_provision_errors();
	test_provision();
	test_start_errors();
	test_bad_keys();
	/* No module reference leaked from the failures above: provisioning
	 * insists on being the module's only user. */
	CHECK_EQ(hsm_provision_softhsm(state_dir, MODULE, TOKEN, KEY, NULL),
		 IG_OK);
	test_engine();
	test_queue_full();
	test_close_with_queued();
	test_wrapped_keys();
	test_keyring_lifecycle(); /* last: it leaves a keyring in the token */

	rm_tree(tmp_root);
	return check_done("hsm");
}
