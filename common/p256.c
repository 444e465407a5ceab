/*
 * p256.c - ECDSA P-256 verification through libcrypto or mbedTLS
 * (see p256.h).
 */
#include "p256.h"

#include <pthread.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* One INTEGER of a DER signature: strip leading zeros, add one back if the
 * top bit is set (INTEGERs are signed). */
static size_t der_int(const uint8_t v[32], uint8_t *out)
{
	size_t i = 0, n;

	while (i < 31 && v[i] == 0)
		i++;
	n = 32 - i;
	out[0] = 0x02;
	if (v[i] & 0x80) {
		out[1] = (uint8_t)(n + 1);
		out[2] = 0;
		memcpy(out + 3, v + i, n);
		return n + 3;
	}
	out[1] = (uint8_t)n;
	memcpy(out + 2, v + i, n);
	return n + 2;
}

size_t p256_sig_to_der(const uint8_t sig[64], uint8_t out[72])
{
	size_t n = 2;

	n += der_int(sig, out + n);
	n += der_int(sig + 32, out + n);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2); /* at most 70: short form */
	return n;
}

int p256_verify_mbedtls(const uint8_t x[32], const uint8_t y[32],
			const uint8_t hash[32], const uint8_t sig[64])
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi r, s;
	uint8_t pt[65];
	int rc;

	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
	if (rc == 0)
		rc = mbedtls_ecp_point_read_binary(&grp, &q, pt, sizeof(pt));
	if (rc == 0)
		rc = mbedtls_ecp_check_pubkey(&grp, &q);
	if (rc == 0)
		rc = mbedtls_mpi_read_binary(&r, sig, 32);
	if (rc == 0)
		rc = mbedtls_mpi_read_binary(&s, sig + 32, 32);
	/* Refuses r or s outside [1, n-1] (SEC 1 §4.1.4 step 1). */
	if (rc == 0)
		rc = mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s);
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return rc == 0 ? 0 : -1;
}

/* The EVP_PKEY_CTX that decodes public keys is made once per thread: its
 * provider lookup costs as much as a third of a verification.  A thread
 * key's destructor frees it when the thread exits; the main thread's
 * (whose thread-key destructors do not run at exit) is freed at exit. */
static __thread EVP_PKEY_CTX *fromdata_ctx;
static pthread_key_t fromdata_key;
static pthread_once_t fromdata_once = PTHREAD_ONCE_INIT;

static void fromdata_free(void *ctx)
{
	EVP_PKEY_CTX_free(ctx);
}

static void fromdata_key_init(void)
{
	(void)pthread_key_create(&fromdata_key, fromdata_free);
}

static void free_main_fromdata_ctx(void) __attribute__((destructor));
static void free_main_fromdata_ctx(void)
{
	EVP_PKEY_CTX_free(fromdata_ctx);
	fromdata_ctx = NULL;
}

static EVP_PKEY_CTX *get_fromdata_ctx(void)
{
	if (!fromdata_ctx) {
		pthread_once(&fromdata_once, fromdata_key_init);
		fromdata_ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (fromdata_ctx)
			(void)pthread_setspecific(fromdata_key, fromdata_ctx);
	}
	return fromdata_ctx;
}

int p256_verify_libcrypto(const uint8_t x[32], const uint8_t y[32],
			  const uint8_t hash[32], const uint8_t sig[64])
{
	uint8_t pt[65], der[72];
	char group[] = "prime256v1";
	OSSL_PARAM params[3];
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *vc;
	size_t dl;
	int ok = 0;

	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	if (!get_fromdata_ctx())
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
	params[2] = OSSL_PARAM_construct_end();
	/* Decoding checks the point is on the curve. */
	if (EVP_PKEY_fromdata_init(fromdata_ctx) <= 0 ||
	    EVP_PKEY_fromdata(fromdata_ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		return -1;
	dl = p256_sig_to_der(sig, der);
	vc = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	/* libcrypto refuses r or s outside [1, n-1] as well. */
	if (vc && EVP_PKEY_verify_init(vc) > 0)
		ok = EVP_PKEY_verify(vc, der, dl, hash, 32) == 1;
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_free(pk);
	return ok ? 0 : -1;
}

int p256_verify(const uint8_t x[32], const uint8_t y[32],
		const uint8_t hash[32], const uint8_t sig[64])
{
#ifdef IG_P256_MBEDTLS_ONLY
	return p256_verify_mbedtls(x, y, hash, sig);
#else
	return p256_verify_libcrypto(x, y, hash, sig);
#endif
}

const char *p256_verify_impl(void)
{
#ifdef IG_P256_MBEDTLS_ONLY
	return "mbedtls";
#else
	return "libcrypto";
#endif
}
