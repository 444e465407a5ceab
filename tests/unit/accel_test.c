/*
 * accel_test.c - idgate's PSA accelerator driver (common/accel): known
 * answers (RFC 7748 for X25519, RFC 5903 and NIST CAVP KeyPair / SigVer
 * for P-256, the CAVP files from Debian's python3-cryptography-vectors,
 * FIPS 180-2 for SHA-2),
 * invalid inputs refused (points off the curve or of low order, scalars
 * and signature values out of range, bad lengths), a differential test
 * against mbedTLS's own code on random inputs, and PSA's API reaching the
 * driver.  Built without the accelerator (ACCEL=0), it only says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <psa/crypto.h>

#include "../../common/hex.h"
#include "check.h"

#if defined(IDGATE_PSA_ACCEL)
#include "idgate_accel.h"

#define VECTORS "/usr/lib/python3/dist-packages/cryptography_vectors/asymmetric/ECDSA/FIPS_186-3/"

static mbedtls_ctr_drbg_context drbg;

static void attrs(psa_key_attributes_t *a, psa_key_type_t type, size_t bits)
{
	*a = psa_key_attributes_init();
	psa_set_key_type(a, type);
	psa_set_key_bits(a, bits);
}

#define P256_PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
#define P256_PUB PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1)
#define X_PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY)

static void unhex(const char *h, uint8_t *out, size_t n)
{
	CHECK_EQ(hex_decode(h, strlen(h), out, n), (int)n);
}

/* ---- X25519 --------------------------------------------------------------------- */

static psa_status_t x25519(const uint8_t d[32], const uint8_t *u, size_t ulen,
			   uint8_t out[32])
{
	psa_key_attributes_t a;
	size_t n = 0;

	attrs(&a, X_PAIR, 255);
	if (!u)
		return idgate_accel_export_public_key(&a, d, 32, out, 32, &n);
	return idgate_accel_key_agreement(&a, d, 32, PSA_ALG_ECDH, u, ulen, out, 32, &n);
}

static void test_x25519_kat(void)
{
	/* RFC 7748 §5.2 and §6.1 (checked with python3-cryptography too). */
	static const char *const v[][3] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};
	uint8_t d[32], u[32], want[32], out[32], a[32], b[32], pa[32], pb[32], k[32];

	for (size_t i = 0; i < 2; i++) {
		unhex(v[i][0], d, 32);
		unhex(v[i][1], u, 32);
		unhex(v[i][2], want, 32);
		CHECK_EQ(x25519(d, u, 32, out), PSA_SUCCESS);
		CHECK(!memcmp(out, want, 32));
	}
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
	CHECK_EQ(x25519(a, NULL, 0, pa), PSA_SUCCESS);
	CHECK_EQ(x25519(b, NULL, 0, pb), PSA_SUCCESS);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
	CHECK(!memcmp(pa, want, 32));
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", want, 32);
	CHECK(!memcmp(pb, want, 32));
	unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", want, 32);
	CHECK_EQ(x25519(a, pb, 32, k), PSA_SUCCESS);
	CHECK(!memcmp(k, want, 32));
	CHECK_EQ(x25519(b, pa, 32, k), PSA_SUCCESS);
	CHECK(!memcmp(k, want, 32));
}

/* Low-order points give an all-zero secret: refused (RFC 7748 §6.1). */
static void test_x25519_invalid(void)
{
	static const char *const low[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	psa_key_attributes_t a;
	uint8_t d[32], u[32], out[32];
	size_t n;

	memset(d, 0x42, sizeof(d));
	for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
		unhex(low[i], u, 32);
		CHECK_EQ(x25519(d, u, 32, out), PSA_ERROR_INVALID_ARGUMENT);
	}
	CHECK_EQ(x25519(d, u, 31, out), PSA_ERROR_INVALID_ARGUMENT);
	attrs(&a, X_PAIR, 255);
	CHECK_EQ(idgate_accel_export_public_key(&a, d, 32, out, 31, &n),
		 PSA_ERROR_BUFFER_TOO_SMALL);
	CHECK_EQ(idgate_accel_export_public_key(&a, d, 31, out, 32, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	/* not ECDH: left to mbedTLS */
	CHECK_EQ(idgate_accel_key_agreement(&a, d, 32, PSA_ALG_FFDH, u, 32, out, 32, &n),
		 PSA_ERROR_NOT_SUPPORTED);
}

/* ---- P-256: known answers --------------------------------------------------------- */

/* The next "KEY = value" of <f>, or 0 at the next curve's section
 * ("[P-384]", ...) or the end. */
static int rsp_next(FILE *f, char *key, size_t kcap, char *val, size_t vcap)
{
	char line[1024];

	while (fgets(line, sizeof(line), f)) {
		char *eq = strstr(line, " = ");

		if (line[0] == '[' && line[1] && line[2] == '-')
			return 0;       /* the next curve's section */
		if (!eq)
			continue;
		*eq = 0;
		if (strlen(line) >= kcap || strlen(eq + 3) >= vcap)
			continue;       /* not one of ours */
		strcpy(key, line);
		strcpy(val, eq + 3);
		val[strcspn(val, "\r\n")] = 0;
		return 1;
	}
	return 0;
}

/* <f> positioned after the line <section>; 0 if there is none. */
static int rsp_seek(FILE *f, const char *section)
{
	char line[1024];

	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, section, strlen(section)))
			return 1;
	return 0;
}

/* Pad a hex value to 32 bytes (CAVP values drop no leading zeros, but
 * be safe). */
static void unhex32(const char *h, uint8_t out[32])
{
	char buf[65];
	size_t n = strlen(h);

	CHECK(n <= 64);
	if (n > 64)
		n = 64;
	memset(buf, '0', 64 - n);
	memcpy(buf + 64 - n, h, n);
	buf[64] = 0;
	unhex(buf, out, 32);
}

static void test_p256_keypair_kat(void)
{
	FILE *f = fopen(VECTORS "KeyPair.rsp", "r");
	char k[32], v[300];
	uint8_t d[32], q[65], out[65];
	psa_key_attributes_t a;
	int n = 0;
	size_t len;

	CHECK(f != NULL);       /* python3-cryptography-vectors is installed */
	if (!f)
		return;
	CHECK(rsp_seek(f, "[P-256]"));
	attrs(&a, P256_PAIR, 256);
	q[0] = 0x04;
	while (rsp_next(f, k, sizeof(k), v, sizeof(v))) {
		if (!strcmp(k, "d"))
			unhex32(v, d);
		else if (!strcmp(k, "Qx"))
			unhex32(v, q + 1);
		else if (!strcmp(k, "Qy")) {
			unhex32(v, q + 33);
			CHECK_EQ(idgate_accel_export_public_key(&a, d, 32, out, sizeof(out),
								 &len), PSA_SUCCESS);
			CHECK(len == 65 && !memcmp(out, q, 65));
			n++;
		}
	}
	fclose(f);
	CHECK_EQ(n, 10);
}

static void test_p256_sigver_kat(void)
{
	FILE *f = fopen(VECTORS "SigVer.rsp", "r");
	char k[32], v[400];
	uint8_t msg[128], hash[32], q[65], sig[64];
	psa_key_attributes_t a;
	int n = 0, good = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(rsp_seek(f, "[P-256,SHA-256]"));
	attrs(&a, P256_PUB, 256);
	q[0] = 0x04;
	while (rsp_next(f, k, sizeof(k), v, sizeof(v))) {
		if (!strcmp(k, "Msg")) {
			CHECK_EQ(hex_decode(v, strlen(v), msg, sizeof(msg)), 128);
			mbedtls_sha256(msg, 128, hash, 0);
		} else if (!strcmp(k, "Qx")) {
			unhex32(v, q + 1);
		} else if (!strcmp(k, "Qy")) {
			unhex32(v, q + 33);
		} else if (!strcmp(k, "R")) {
			unhex32(v, sig);
		} else if (!strcmp(k, "S")) {
			unhex32(v, sig + 32);
		} else if (!strcmp(k, "Result")) {
			psa_status_t st = idgate_accel_verify_hash(&a, q, 65,
				PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64);

			CHECK_EQ(st, v[0] == 'P' ? PSA_SUCCESS : PSA_ERROR_INVALID_SIGNATURE);
			good += v[0] == 'P';
			n++;
		}
	}
	fclose(f);
	CHECK_EQ(n, 15);
	CHECK(good >= 3);
}

static void test_p256_ecdh_kat(void)
{
	/* RFC 5903 §8.1 (checked with python3-cryptography too). */
	psa_key_attributes_t a;
	uint8_t i[32], gr[65], out[65], want[32];
	size_t n;

	attrs(&a, P256_PAIR, 256);
	unhex("c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433", i, 32);
	gr[0] = 0x04;
	unhex("d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
	      "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
	      gr + 1, 64);
	unhex("d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de", want, 32);
	CHECK_EQ(idgate_accel_key_agreement(&a, i, 32, PSA_ALG_ECDH, gr, 65, out,
					    sizeof(out), &n), PSA_SUCCESS);
	CHECK(n == 32 && !memcmp(out, want, 32));
	unhex("dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180", want, 32);
	CHECK_EQ(idgate_accel_export_public_key(&a, i, 32, out, sizeof(out), &n),
		 PSA_SUCCESS);
	CHECK(n == 65 && out[0] == 0x04 && !memcmp(out + 1, want, 32));
}

/* ---- P-256: refusals -------------------------------------------------------------- */

static const char P256_N[] =
	"ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

static void test_p256_invalid(void)
{
	psa_key_attributes_t pair, pub;
	uint8_t d[32], bad[32], q[65], p[65], sig[64], hash[32] = { 1 }, out[65];
	size_t n;

	attrs(&pair, P256_PAIR, 256);
	attrs(&pub, P256_PUB, 256);
	unhex("c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433", d, 32);
	CHECK_EQ(idgate_accel_export_public_key(&pair, d, 32, q, sizeof(q), &n), PSA_SUCCESS);
	/* private scalars 0, n and above n */
	memset(bad, 0, 32);
	CHECK_EQ(idgate_accel_export_public_key(&pair, bad, 32, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	unhex(P256_N, bad, 32);
	CHECK_EQ(idgate_accel_export_public_key(&pair, bad, 32, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_sign_hash(&pair, bad, 32, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					hash, 32, sig, 64, &n), PSA_ERROR_INVALID_ARGUMENT);
	memset(bad, 0xff, 32);
	CHECK_EQ(idgate_accel_key_agreement(&pair, bad, 32, PSA_ALG_ECDH, q, 65, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_export_public_key(&pair, d, 31, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_export_public_key(&pair, d, 32, out, 64, &n),
		 PSA_ERROR_BUFFER_TOO_SMALL);
	/* peer points: off the curve, compressed, infinity, short */
	memcpy(p, q, 65);
	p[64] ^= 1;
	CHECK_EQ(idgate_accel_key_agreement(&pair, d, 32, PSA_ALG_ECDH, p, 65, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_verify_hash(&pub, p, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, sig, 64), PSA_ERROR_INVALID_ARGUMENT);
	p[64] ^= 1;
	p[0] = 0x02;
	CHECK_EQ(idgate_accel_key_agreement(&pair, d, 32, PSA_ALG_ECDH, p, 33, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_key_agreement(&pair, d, 32, PSA_ALG_ECDH, (const uint8_t *)"", 1,
					    out, 65, &n), PSA_ERROR_INVALID_ARGUMENT);
	memset(p, 0, sizeof(p));
	p[0] = 0x04;    /* (0, 0) is not on the curve */
	CHECK_EQ(idgate_accel_key_agreement(&pair, d, 32, PSA_ALG_ECDH, p, 65, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(idgate_accel_key_agreement(&pair, d, 32, PSA_ALG_ECDH, q, 64, out, 65, &n),
		 PSA_ERROR_INVALID_ARGUMENT);
	/* signature values: 0, n, wrong length */
	CHECK_EQ(idgate_accel_sign_hash(&pair, d, 32, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash,
					32, sig, 64, &n), PSA_SUCCESS);
	CHECK_EQ(idgate_accel_verify_hash(&pub, q, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, sig, 64), PSA_SUCCESS);
	CHECK_EQ(idgate_accel_verify_hash(&pub, q, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, sig, 63), PSA_ERROR_INVALID_SIGNATURE);
	memcpy(out, sig, 64);
	memset(out, 0, 32);
	CHECK_EQ(idgate_accel_verify_hash(&pub, q, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, out, 64), PSA_ERROR_INVALID_SIGNATURE);
	memcpy(out, sig, 64);
	unhex(P256_N, out + 32, 32);
	CHECK_EQ(idgate_accel_verify_hash(&pub, q, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, out, 64), PSA_ERROR_INVALID_SIGNATURE);
	hash[0] ^= 1;
	CHECK_EQ(idgate_accel_verify_hash(&pub, q, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
					  hash, 32, sig, 64), PSA_ERROR_INVALID_SIGNATURE);
	/* what the driver leaves to mbedTLS */
	CHECK_EQ(idgate_accel_sign_hash(&pair, d, 32,
					PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256),
					hash, 32, sig, 64, &n), PSA_ERROR_NOT_SUPPORTED);
	attrs(&pair, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 384);
	CHECK_EQ(idgate_accel_export_public_key(&pair, d, 32, out, 65, &n),
		 PSA_ERROR_NOT_SUPPORTED);
}

/* ---- differential: the driver against mbedTLS's own code ------------------------------- */

static int rng(void *ctx, unsigned char *out, size_t n)
{
	return mbedtls_ctr_drbg_random(ctx, out, n);
}

static void test_differential_p256(int rounds)
{
	mbedtls_ecp_group g;
	psa_key_attributes_t pair, pub;

	mbedtls_ecp_group_init(&g);
	CHECK_EQ(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1), 0);
	attrs(&pair, P256_PAIR, 256);
	attrs(&pub, P256_PUB, 256);
	for (int i = 0; i < rounds; i++) {
		mbedtls_mpi d1, d2, r, s, zx;
		mbedtls_ecp_point q1, q2;
		uint8_t b1[32], b2[32], q1b[65], q2b[65], mine[65], theirs[65], hash[32], sig[64];
		size_t n, m;

		mbedtls_mpi_init(&d1), mbedtls_mpi_init(&d2), mbedtls_mpi_init(&r);
		mbedtls_mpi_init(&s), mbedtls_mpi_init(&zx);
		mbedtls_ecp_point_init(&q1), mbedtls_ecp_point_init(&q2);
		CHECK_EQ(mbedtls_ecp_gen_keypair(&g, &d1, &q1, rng, &drbg), 0);
		CHECK_EQ(mbedtls_ecp_gen_keypair(&g, &d2, &q2, rng, &drbg), 0);
		mbedtls_mpi_write_binary(&d1, b1, 32);
		mbedtls_mpi_write_binary(&d2, b2, 32);
		mbedtls_ecp_point_write_binary(&g, &q1, MBEDTLS_ECP_PF_UNCOMPRESSED, &m, q1b, 65);
		mbedtls_ecp_point_write_binary(&g, &q2, MBEDTLS_ECP_PF_UNCOMPRESSED, &m, q2b, 65);
		/* public keys */
		CHECK_EQ(idgate_accel_export_public_key(&pair, b1, 32, mine, 65, &n), PSA_SUCCESS);
		CHECK(!memcmp(mine, q1b, 65));
		/* ECDH */
		CHECK_EQ(idgate_accel_key_agreement(&pair, b1, 32, PSA_ALG_ECDH, q2b, 65, mine,
						    65, &n), PSA_SUCCESS);
		CHECK_EQ(mbedtls_ecdh_compute_shared(&g, &zx, &q2, &d1, rng, &drbg), 0);
		mbedtls_mpi_write_binary(&zx, theirs, 32);
		CHECK(n == 32 && !memcmp(mine, theirs, 32));
		/* ECDSA both ways */
		mbedtls_ctr_drbg_random(&drbg, hash, 32);
		CHECK_EQ(idgate_accel_sign_hash(&pair, b1, 32, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
						hash, 32, sig, 64, &n), PSA_SUCCESS);
		mbedtls_mpi_read_binary(&r, sig, 32);
		mbedtls_mpi_read_binary(&s, sig + 32, 32);
		CHECK_EQ(mbedtls_ecdsa_verify(&g, hash, 32, &q1, &r, &s), 0);
		CHECK(mbedtls_ecdsa_verify(&g, hash, 32, &q2, &r, &s) != 0);
		CHECK_EQ(mbedtls_ecdsa_sign(&g, &r, &s, &d2, hash, 32, rng, &drbg), 0);
		mbedtls_mpi_write_binary(&r, sig, 32);
		mbedtls_mpi_write_binary(&s, sig + 32, 32);
		CHECK_EQ(idgate_accel_verify_hash(&pub, q2b, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
						  hash, 32, sig, 64), PSA_SUCCESS);
		/* n - s: both accept it (ECDSA is malleable; neither adds a
		 * low-s rule) */
		mbedtls_mpi_sub_mpi(&s, &g.N, &s);
		CHECK_EQ(mbedtls_ecdsa_verify(&g, hash, 32, &q2, &r, &s), 0);
		mbedtls_mpi_write_binary(&s, sig + 32, 32);
		CHECK_EQ(idgate_accel_verify_hash(&pub, q2b, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
						  hash, 32, sig, 64), PSA_SUCCESS);
		sig[5] ^= 0x10;
		CHECK_EQ(idgate_accel_verify_hash(&pub, q2b, 65, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
						  hash, 32, sig, 64), PSA_ERROR_INVALID_SIGNATURE);
		mbedtls_mpi_free(&d1), mbedtls_mpi_free(&d2), mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s), mbedtls_mpi_free(&zx);
		mbedtls_ecp_point_free(&q1), mbedtls_ecp_point_free(&q2);
	}
	mbedtls_ecp_group_free(&g);
}

static void test_differential_x25519(int rounds)
{
	mbedtls_ecp_group g;

	mbedtls_ecp_group_init(&g);
	CHECK_EQ(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_CURVE25519), 0);
	for (int i = 0; i < rounds; i++) {
		mbedtls_ecp_keypair k;
		mbedtls_ecp_point u, z;
		uint8_t d[32], ub[32], mine[32], theirs[32];
		size_t n;

		mbedtls_ecp_keypair_init(&k);
		mbedtls_ecp_point_init(&u);
		mbedtls_ecp_point_init(&z);
		mbedtls_ctr_drbg_random(&drbg, d, 32);
		mbedtls_ctr_drbg_random(&drbg, ub, 32);
		ub[31] &= 0x7f;         /* a canonical u of a random point */
		CHECK_EQ(mbedtls_ecp_read_key(MBEDTLS_ECP_DP_CURVE25519, &k, d, 32), 0);
		CHECK_EQ(mbedtls_ecp_point_read_binary(&g, &u, ub, 32), 0);
		/* the base point */
		CHECK_EQ(mbedtls_ecp_mul(&g, &z, &k.MBEDTLS_PRIVATE(d), &g.G, rng, &drbg), 0);
		CHECK_EQ(mbedtls_ecp_point_write_binary(&g, &z, MBEDTLS_ECP_PF_COMPRESSED, &n,
							theirs, 32), 0);
		CHECK_EQ(x25519(d, NULL, 0, mine), PSA_SUCCESS);
		CHECK(!memcmp(mine, theirs, 32));
		/* a random u */
		CHECK_EQ(mbedtls_ecp_mul(&g, &z, &k.MBEDTLS_PRIVATE(d), &u, rng, &drbg), 0);
		CHECK_EQ(mbedtls_ecp_point_write_binary(&g, &z, MBEDTLS_ECP_PF_COMPRESSED, &n,
							theirs, 32), 0);
		CHECK_EQ(x25519(d, ub, 32, mine), PSA_SUCCESS);
		CHECK(!memcmp(mine, theirs, 32));
		mbedtls_ecp_keypair_free(&k);
		mbedtls_ecp_point_free(&u);
		mbedtls_ecp_point_free(&z);
	}
	mbedtls_ecp_group_free(&g);
}

/* ---- SHA-2 -------------------------------------------------------------------------------- */

static void test_hash_kat(void)
{
	/* FIPS 180-2's "abc" examples (checked with Python's hashlib too) */
	static const struct {
		psa_algorithm_t alg;
		const char *hex;
	} v[] = {
		{ PSA_ALG_SHA_256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ PSA_ALG_SHA_384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
				   "8086072ba1e7cc2358baeca134c825a7" },
		{ PSA_ALG_SHA_512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				   "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
	};
	uint8_t want[64], got[64];
	size_t n;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t len = strlen(v[i].hex) / 2;

		unhex(v[i].hex, want, len);
		CHECK_EQ(idgate_accel_hash_compute(v[i].alg, (const uint8_t *)"abc", 3, got,
						   sizeof(got), &n), PSA_SUCCESS);
		CHECK(n == len && !memcmp(got, want, len));
		CHECK_EQ(idgate_accel_hash_compute(v[i].alg, (const uint8_t *)"abc", 3, got,
						   len - 1, &n), PSA_ERROR_BUFFER_TOO_SMALL);
	}
	CHECK_EQ(idgate_accel_hash_compute(PSA_ALG_SHA_224, (const uint8_t *)"abc", 3, got,
					   sizeof(got), &n), PSA_ERROR_NOT_SUPPORTED);
}

/* Random data in random pieces, with a clone taken midway, against
 * mbedTLS's own SHA-2. */
static void test_hash_differential(int rounds)
{
	static uint8_t data[3000];
	static const psa_algorithm_t algs[] = { PSA_ALG_SHA_256, PSA_ALG_SHA_384,
						PSA_ALG_SHA_512 };

	for (int r = 0; r < rounds; r++) {
		psa_algorithm_t alg = algs[r % 3];
		idgate_accel_hash_operation_t op, copy;
		uint8_t a[64], b[64], want[64], want_half[64];
		size_t len, half, off = 0, n, m;
		uint16_t rnd;

		mbedtls_ctr_drbg_random(&drbg, (uint8_t *)&rnd, sizeof(rnd));
		len = rnd % sizeof(data);
		half = len / 2;
		mbedtls_ctr_drbg_random(&drbg, data, len);
		if (alg == PSA_ALG_SHA_256) {
			mbedtls_sha256(data, len, want, 0);
			mbedtls_sha256(data, half, want_half, 0);
		} else {
			mbedtls_sha512(data, len, want, alg == PSA_ALG_SHA_384);
			mbedtls_sha512(data, half, want_half, alg == PSA_ALG_SHA_384);
		}
		CHECK_EQ(idgate_accel_hash_setup(&op, alg), PSA_SUCCESS);
		if (!half)
			CHECK_EQ(idgate_accel_hash_clone(&op, &copy), PSA_SUCCESS);
		while (off < len) {
			size_t step = 1 + (size_t)(data[off] % 200);

			if (off < half && off + step > half)
				step = half - off;      /* stop at the clone point */
			if (step > len - off)
				step = len - off;
			if (idgate_accel_hash_update(&op, data + off, step) != PSA_SUCCESS)
				CHECK(0);
			off += step;
			if (half && off == half)
				CHECK_EQ(idgate_accel_hash_clone(&op, &copy), PSA_SUCCESS);
		}
		CHECK_EQ(idgate_accel_hash_finish(&op, a, sizeof(a), &n), PSA_SUCCESS);
		CHECK_EQ(idgate_accel_hash_finish(&copy, b, sizeof(b), &m), PSA_SUCCESS);
		CHECK(n == PSA_HASH_LENGTH(alg) && !memcmp(a, want, n));
		CHECK(m == n && !memcmp(b, want_half, m));
		/* a finished operation is over */
		CHECK_EQ(idgate_accel_hash_update(&op, data, 1), PSA_ERROR_BAD_STATE);
	}
}

/* ---- PSA's API reaches the driver ------------------------------------------------------- */

static void test_psa_dispatch(void)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT, b = PSA_KEY_ATTRIBUTES_INIT;
	mbedtls_svc_key_id_t k1, k2, kx1, kx2;
	uint8_t pub1[65], pub2[65], x1[32], x2[32], s1[32], s2[32], hash[32] = { 7 }, sig[64];
	unsigned long before = __atomic_load_n(&idgate_accel_calls, __ATOMIC_RELAXED);
	size_t n1, n2, n;

	CHECK_EQ(psa_crypto_init(), PSA_SUCCESS);
	psa_set_key_type(&a, P256_PAIR);
	psa_set_key_bits(&a, 256);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH |
					    PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
	CHECK_EQ(psa_generate_key(&a, &k1), PSA_SUCCESS);
	psa_set_key_algorithm(&a, PSA_ALG_ECDH);
	CHECK_EQ(psa_generate_key(&a, &k2), PSA_SUCCESS);
	CHECK_EQ(psa_export_public_key(k1, pub1, sizeof(pub1), &n1), PSA_SUCCESS);
	CHECK_EQ(psa_export_public_key(k2, pub2, sizeof(pub2), &n2), PSA_SUCCESS);
	CHECK_EQ(psa_sign_hash(k1, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64, &n),
		 PSA_SUCCESS);
	CHECK_EQ(psa_verify_hash(k1, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64),
		 PSA_SUCCESS);
	CHECK_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, k2, pub1, n1, s1, 32, &n), PSA_SUCCESS);
	CHECK_EQ(n, 32);
	/* a key whose policy is ECDSA does no ECDH */
	CHECK_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, k1, pub2, n2, s1, 32, &n),
		 PSA_ERROR_NOT_PERMITTED);
	/* X25519 both ways */
	psa_set_key_type(&b, X_PAIR);
	psa_set_key_bits(&b, 255);
	psa_set_key_usage_flags(&b, PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&b, PSA_ALG_ECDH);
	CHECK_EQ(psa_generate_key(&b, &kx1), PSA_SUCCESS);
	CHECK_EQ(psa_generate_key(&b, &kx2), PSA_SUCCESS);
	CHECK_EQ(psa_export_public_key(kx1, x1, 32, &n), PSA_SUCCESS);
	CHECK_EQ(psa_export_public_key(kx2, x2, 32, &n), PSA_SUCCESS);
	CHECK_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, kx1, x2, 32, s1, 32, &n), PSA_SUCCESS);
	CHECK_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, kx2, x1, 32, s2, 32, &n), PSA_SUCCESS);
	CHECK(!memcmp(s1, s2, 32));
	memset(x2, 0, 32);      /* a low-order point through PSA: refused */
	CHECK(psa_raw_key_agreement(PSA_ALG_ECDH, kx1, x2, 32, s1, 32, &n) != PSA_SUCCESS);
	/* 4 generated, 4 exported, 1 signature, 1 verification, 2 ECDH */
	CHECK(__atomic_load_n(&idgate_accel_calls, __ATOMIC_RELAXED) - before >= 12);
	/* hashes: PSA's multi-part operation runs on the driver */
	{
		psa_hash_operation_t h = PSA_HASH_OPERATION_INIT;
		uint8_t d1[32], d2[32];
		size_t l1, l2;

		CHECK_EQ(psa_hash_setup(&h, PSA_ALG_SHA_256), PSA_SUCCESS);
		CHECK_EQ(h.MBEDTLS_PRIVATE(id), 5);     /* IDGATE_ACCEL_DRIVER_ID */
		CHECK_EQ(psa_hash_update(&h, (const uint8_t *)"abc", 3), PSA_SUCCESS);
		CHECK_EQ(psa_hash_finish(&h, d1, sizeof(d1), &l1), PSA_SUCCESS);
		mbedtls_sha256((const uint8_t *)"abc", 3, d2, 0);
		l2 = 32;
		CHECK(l1 == l2 && !memcmp(d1, d2, 32));
	}
	psa_destroy_key(k1);
	psa_destroy_key(k2);
	psa_destroy_key(kx1);
	psa_destroy_key(kx2);
	mbedtls_psa_crypto_free();
}

int main(void)
{
	mbedtls_entropy_context ent;

	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	CHECK_EQ(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
				       (const unsigned char *)"accel", 5), 0);
	test_x25519_kat();
	test_x25519_invalid();
	test_p256_keypair_kat();
	test_p256_sigver_kat();
	test_p256_ecdh_kat();
	test_p256_invalid();
	test_differential_p256(200);
	test_differential_x25519(200);
	test_hash_kat();
	test_hash_differential(300);
	test_psa_dispatch();
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return check_done("accel_test");
}

#else

int main(void)
{
	printf("accel_test: built without the accelerator (ACCEL=0): nothing to test\n");
	return check_done("accel_test");
}

#endif
