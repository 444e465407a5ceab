/*
 * idgate_accel.c - the PSA transparent driver of idgate_accel.h on
 * OpenSSL's libcrypto.
 *
 * Chosen by measurement on this machine kind (perf/RESULTS.md, "Handshake
 * crypto"): P-256 on libcrypto (constant-time, 64-bit assembly: a
 * signature in about 34 µs against about 400 µs for mbedTLS's generic
 * bignum code), through its low-level EC_KEY / EC_POINT calls rather than
 * EVP, which looks up a provider and allocates a context on every call;
 * OpenSSL 3 marks EC_KEY deprecated, so the deprecation attributes are
 * switched off for this file.  X25519 on libsodium (about 51 µs for a
 * public key and 55 µs for a shared secret, against 85 and 145 µs for
 * libcrypto's through EVP and 58 and 118 µs for nettle's).  SHA-256/384/512
 * on libcrypto's low-level SHA-2 (its SHA extensions and AVX2 code): the
 * TLS 1.3 transcript and key schedule, which mbedTLS's C SHA-512 spent 9%
 * of a full handshake on.
 *
 * Private scalars are flagged BN_FLG_CONSTTIME and wiped after use; peer
 * points are decoded with EC_POINT_oct2point, which refuses points off the
 * curve; the point at infinity and an all-zero X25519 secret are refused.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "idgate_accel.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>

#define P256_BYTES 32
#define X25519_BYTES 32

static EC_GROUP *p256;          /* shared, read-only once made */
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
/* Each thread's EC_KEY objects for signing and verifying (freed when the
 * thread ends). */
static pthread_key_t p256_keys;

struct p256_thread_keys {
	EC_KEY *sign, *verify;
};

static void p256_keys_free(void *arg)
{
	struct p256_thread_keys *k = arg;

	EC_KEY_free(k->sign);
	EC_KEY_free(k->verify);
	OPENSSL_free(k);
}

static void p256_make(void)
{
	p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	if (p256)
		EC_GROUP_precompute_mult(p256, NULL);
	if (pthread_key_create(&p256_keys, p256_keys_free)) {
		EC_GROUP_free(p256);
		p256 = NULL;
	}
}

/* This thread's EC_KEY for signing (<verify> 0) or verifying, made on
 * first use; NULL if memory ran out. */
static EC_KEY *p256_thread_key(int verify)
{
	struct p256_thread_keys *k = pthread_getspecific(p256_keys);
	EC_KEY **slot;

	if (!k) {
		k = OPENSSL_zalloc(sizeof(*k));
		if (!k || pthread_setspecific(p256_keys, k)) {
			OPENSSL_free(k);
			return NULL;
		}
	}
	slot = verify ? &k->verify : &k->sign;
	if (!*slot)
		*slot = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	return *slot;
}

static const EC_GROUP *p256_group(void)
{
	pthread_once(&p256_once, p256_make);
	return p256;
}

unsigned long idgate_accel_calls;

/* Count an operation done here (tests check that PSA reaches the driver). */
static psa_status_t counted(psa_status_t st)
{
	if (st == PSA_SUCCESS)
		__atomic_fetch_add(&idgate_accel_calls, 1, __ATOMIC_RELAXED);
	return st;
}

enum accel_curve { ACCEL_NONE, ACCEL_P256, ACCEL_X25519 };

/* Which of our curves a key of these attributes is on. */
static enum accel_curve accel_curve(const psa_key_attributes_t *attributes)
{
	psa_key_type_t type = psa_get_key_type(attributes);
	size_t bits = psa_get_key_bits(attributes);

	if (!PSA_KEY_TYPE_IS_ECC(type))
		return ACCEL_NONE;
	if (PSA_KEY_TYPE_ECC_GET_FAMILY(type) == PSA_ECC_FAMILY_SECP_R1 && bits == 256)
		return ACCEL_P256;
	if (PSA_KEY_TYPE_ECC_GET_FAMILY(type) == PSA_ECC_FAMILY_MONTGOMERY && bits == 255)
		return ACCEL_X25519;
	return ACCEL_NONE;
}

/* ---- P-256 ------------------------------------------------------------------ */

/* The private scalar <d> (32 bytes) as a constant-time BIGNUM in [1, n-1]:
 * NULL if it is out of range (or memory ran out). */
static BIGNUM *p256_scalar(const uint8_t *d, size_t len)
{
	BIGNUM *k;

	if (len != P256_BYTES || !p256_group())
		return NULL;
	k = BN_secure_new();
	if (!k)
		return NULL;
	BN_set_flags(k, BN_FLG_CONSTTIME);
	if (!BN_bin2bn(d, P256_BYTES, k) || BN_is_zero(k) ||
	    BN_cmp(k, EC_GROUP_get0_order(p256)) >= 0) {
		BN_clear_free(k);
		return NULL;
	}
	return k;
}

/* <k> times <base> (the generator when NULL), the affine result written as
 * an uncompressed point (65 bytes) or only its X coordinate (32 bytes). */
static psa_status_t p256_mul(const BIGNUM *k, const EC_POINT *base, int x_only,
			     uint8_t *out, size_t out_size, size_t *out_length)
{
	size_t want = x_only ? P256_BYTES : 2 * P256_BYTES + 1;
	uint8_t buf[2 * P256_BYTES + 1];
	EC_POINT *r = EC_POINT_new(p256);
	BN_CTX *ctx = BN_CTX_new();
	psa_status_t st = PSA_ERROR_INSUFFICIENT_MEMORY;

	if (out_size < want) {
		st = PSA_ERROR_BUFFER_TOO_SMALL;
		goto out;
	}
	if (!r || !ctx)
		goto out;
	st = PSA_ERROR_INVALID_ARGUMENT;
	if (!(base ? EC_POINT_mul(p256, r, NULL, base, k, ctx)
		   : EC_POINT_mul(p256, r, k, NULL, NULL, ctx)) ||
	    EC_POINT_is_at_infinity(p256, r) ||
	    EC_POINT_point2oct(p256, r, POINT_CONVERSION_UNCOMPRESSED, buf,
			       sizeof(buf), ctx) != sizeof(buf))
		goto out;
	memcpy(out, x_only ? buf + 1 : buf, want);
	*out_length = want;
	st = PSA_SUCCESS;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EC_POINT_free(r);
	BN_CTX_free(ctx);
	return st;
}

static psa_status_t p256_generate(uint8_t *key, size_t size, size_t *length)
{
	if (size < P256_BYTES)
		return PSA_ERROR_BUFFER_TOO_SMALL;
	/* Rejection sampling: uniform in [1, n-1]. */
	for (int tries = 0; tries < 64; tries++) {
		BIGNUM *k;

		if (RAND_priv_bytes(key, P256_BYTES) != 1)
			return PSA_ERROR_INSUFFICIENT_ENTROPY;
		if ((k = p256_scalar(key, P256_BYTES))) {
			BN_clear_free(k);
			*length = P256_BYTES;
			return PSA_SUCCESS;
		}
	}
	return PSA_ERROR_INSUFFICIENT_ENTROPY;
}

/* An EC_KEY of this thread holding private scalar <k> (for ECDSA). */
static EC_KEY *p256_key(BIGNUM *k)
{
	EC_KEY *key = p256_thread_key(0);

	return key && EC_KEY_set_private_key(key, k) == 1 ? key : NULL;
}

static psa_status_t p256_sign(const uint8_t *d, size_t dlen, const uint8_t *hash,
			      size_t hlen, uint8_t *sig, size_t size, size_t *length)
{
	BIGNUM *k;
	EC_KEY *key;
	ECDSA_SIG *s = NULL;
	const BIGNUM *r, *sv;
	psa_status_t st = PSA_ERROR_INVALID_ARGUMENT;

	if (size < 2 * P256_BYTES)
		return PSA_ERROR_BUFFER_TOO_SMALL;
	if (!(k = p256_scalar(d, dlen)))
		return PSA_ERROR_INVALID_ARGUMENT;
	key = p256_key(k);
	if (key)
		s = ECDSA_do_sign(hash, (int)hlen, key);
	if (key)        /* the scalar does not stay in the thread's key */
		EC_KEY_set_private_key(key, BN_value_one());
	BN_clear_free(k);
	if (!s)
		return key ? PSA_ERROR_GENERIC_ERROR : PSA_ERROR_INSUFFICIENT_MEMORY;
	ECDSA_SIG_get0(s, &r, &sv);
	/* PSA's format: r || s, each 32 bytes big-endian. */
	if (BN_bn2binpad(r, sig, P256_BYTES) == P256_BYTES &&
	    BN_bn2binpad(sv, sig + P256_BYTES, P256_BYTES) == P256_BYTES) {
		*length = 2 * P256_BYTES;
		st = PSA_SUCCESS;
	}
	ECDSA_SIG_free(s);
	return st;
}

/* The public point of a key buffer: decoded for a public key, computed for
 * a key pair.  NULL if invalid. */
static EC_POINT *p256_public(const psa_key_attributes_t *attributes,
			     const uint8_t *kb, size_t klen)
{
	EC_POINT *q = EC_POINT_new(p256);
	BN_CTX *ctx = BN_CTX_new();
	int ok = 0;

	if (q && ctx) {
		if (PSA_KEY_TYPE_IS_PUBLIC_KEY(psa_get_key_type(attributes))) {
			ok = klen == 2 * P256_BYTES + 1 && kb[0] == 0x04 &&
			     EC_POINT_oct2point(p256, q, kb, klen, ctx) == 1;
		} else {
			BIGNUM *k = p256_scalar(kb, klen);

			ok = k && EC_POINT_mul(p256, q, k, NULL, NULL, ctx) == 1;
			BN_clear_free(k);
		}
	}
	BN_CTX_free(ctx);
	if (!ok) {
		EC_POINT_free(q);
		return NULL;
	}
	return q;
}

static psa_status_t p256_verify(const psa_key_attributes_t *attributes,
				const uint8_t *kb, size_t klen, const uint8_t *hash,
				size_t hlen, const uint8_t *sig, size_t slen)
{
	EC_KEY *key;
	EC_POINT *q;
	ECDSA_SIG *s = NULL;
	BIGNUM *r = NULL, *sv = NULL;
	psa_status_t st = PSA_ERROR_INVALID_SIGNATURE;

	if (slen != 2 * P256_BYTES)
		return PSA_ERROR_INVALID_SIGNATURE;
	if (!p256_group() || !(q = p256_public(attributes, kb, klen)))
		return PSA_ERROR_INVALID_ARGUMENT;
	if (!(key = p256_thread_key(1))) {
		EC_POINT_free(q);
		return PSA_ERROR_INSUFFICIENT_MEMORY;
	}
	r = BN_bin2bn(sig, P256_BYTES, NULL);
	sv = BN_bin2bn(sig + P256_BYTES, P256_BYTES, NULL);
	s = ECDSA_SIG_new();
	if (!r || !sv || !s || EC_KEY_set_public_key(key, q) != 1) {
		st = PSA_ERROR_INSUFFICIENT_MEMORY;
		goto out;
	}
	ECDSA_SIG_set0(s, r, sv);       /* s owns r and sv now */
	r = sv = NULL;
	/* ECDSA_do_verify refuses r or s outside [1, n-1]. */
	if (ECDSA_do_verify(hash, (int)hlen, s, key) == 1)
		st = PSA_SUCCESS;
out:
	BN_free(r);
	BN_free(sv);
	ECDSA_SIG_free(s);
	EC_POINT_free(q);
	return st;
}

static psa_status_t p256_ecdh(const uint8_t *d, size_t dlen, const uint8_t *peer,
			      size_t plen, uint8_t *out, size_t size, size_t *length)
{
	EC_POINT *p;
	BIGNUM *k;
	psa_status_t st;

	/* Only the uncompressed form, as PSA specifies for ECDH. */
	if (plen != 2 * P256_BYTES + 1 || peer[0] != 0x04)
		return PSA_ERROR_INVALID_ARGUMENT;
	if (!(k = p256_scalar(d, dlen)))
		return PSA_ERROR_INVALID_ARGUMENT;
	p = EC_POINT_new(p256);
	if (!p) {
		BN_clear_free(k);
		return PSA_ERROR_INSUFFICIENT_MEMORY;
	}
	st = EC_POINT_oct2point(p256, p, peer, plen, NULL) == 1 &&
	     !EC_POINT_is_at_infinity(p256, p)
		? p256_mul(k, p, 1, out, size, length)
		: PSA_ERROR_INVALID_ARGUMENT;
	EC_POINT_free(p);
	BN_clear_free(k);
	return st;
}

/* ---- X25519 --------------------------------------------------------------------- */

/* X25519(<d>, <u>) into <out> (32 bytes); the base point when <u> is NULL.
 * libsodium's: libcrypto's X25519 is reachable only through EVP, whose key
 * objects compute the public key on creation (an extra scalar
 * multiplication per shared secret). */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_start(void)
{
	sodium_ok = sodium_init() >= 0;
}

static psa_status_t x25519(const uint8_t *d, size_t dlen, const uint8_t *u,
			   uint8_t *out, size_t size, size_t *length)
{
	if (size < X25519_BYTES)
		return PSA_ERROR_BUFFER_TOO_SMALL;
	if (dlen != X25519_BYTES)
		return PSA_ERROR_INVALID_ARGUMENT;
	pthread_once(&sodium_once, sodium_start);
	if (!sodium_ok)
		return PSA_ERROR_NOT_SUPPORTED;        /* mbedTLS's code does it */
	/* crypto_scalarmult refuses a low-order peer point and an all-zero
	 * result (RFC 7748 §6.1). */
	if (u ? crypto_scalarmult(out, d, u) : crypto_scalarmult_base(out, d))
		return PSA_ERROR_INVALID_ARGUMENT;
	*length = X25519_BYTES;
	return PSA_SUCCESS;
}

/* ---- entry points ------------------------------------------------------------------- */

psa_status_t idgate_accel_generate_key(const psa_key_attributes_t *attributes,
				       uint8_t *key_buffer, size_t key_buffer_size,
				       size_t *key_buffer_length)
{
	if (PSA_KEY_TYPE_IS_PUBLIC_KEY(psa_get_key_type(attributes)))
		return PSA_ERROR_NOT_SUPPORTED;
	switch (accel_curve(attributes)) {
	case ACCEL_P256:
		return counted(p256_generate(key_buffer, key_buffer_size,
					     key_buffer_length));
	case ACCEL_X25519:
		if (key_buffer_size < X25519_BYTES)
			return PSA_ERROR_BUFFER_TOO_SMALL;
		if (RAND_priv_bytes(key_buffer, X25519_BYTES) != 1)
			return PSA_ERROR_INSUFFICIENT_ENTROPY;
		/* RFC 7748 §5 clamping, as mbedTLS stores its own keys. */
		key_buffer[0] &= 248;
		key_buffer[31] &= 127;
		key_buffer[31] |= 64;
		*key_buffer_length = X25519_BYTES;
		return counted(PSA_SUCCESS);
	default:
		return PSA_ERROR_NOT_SUPPORTED;
	}
}

psa_status_t idgate_accel_export_public_key(const psa_key_attributes_t *attributes,
					    const uint8_t *key_buffer,
					    size_t key_buffer_size, uint8_t *data,
					    size_t data_size, size_t *data_length)
{
	BIGNUM *k;
	psa_status_t st;

	/* A public key is stored as it is exported: mbedTLS copies it. */
	if (PSA_KEY_TYPE_IS_PUBLIC_KEY(psa_get_key_type(attributes)))
		return PSA_ERROR_NOT_SUPPORTED;
	switch (accel_curve(attributes)) {
	case ACCEL_P256:
		if (!(k = p256_scalar(key_buffer, key_buffer_size)))
			return PSA_ERROR_INVALID_ARGUMENT;
		st = p256_mul(k, NULL, 0, data, data_size, data_length);
		BN_clear_free(k);
		return counted(st);
	case ACCEL_X25519:
		return counted(x25519(key_buffer, key_buffer_size, NULL, data,
				      data_size, data_length));
	default:
		return PSA_ERROR_NOT_SUPPORTED;
	}
}

psa_status_t idgate_accel_key_agreement(const psa_key_attributes_t *attributes,
					const uint8_t *key_buffer,
					size_t key_buffer_size, psa_algorithm_t alg,
					const uint8_t *peer_key, size_t peer_key_length,
					uint8_t *shared_secret, size_t shared_secret_size,
					size_t *shared_secret_length)
{
	if (!PSA_ALG_IS_ECDH(alg))
		return PSA_ERROR_NOT_SUPPORTED;
	switch (accel_curve(attributes)) {
	case ACCEL_P256:
		return counted(p256_ecdh(key_buffer, key_buffer_size, peer_key,
					 peer_key_length, shared_secret,
					 shared_secret_size, shared_secret_length));
	case ACCEL_X25519:
		if (peer_key_length != X25519_BYTES)
			return PSA_ERROR_INVALID_ARGUMENT;
		return counted(x25519(key_buffer, key_buffer_size, peer_key,
				      shared_secret, shared_secret_size,
				      shared_secret_length));
	default:
		return PSA_ERROR_NOT_SUPPORTED;
	}
}

/* Randomized ECDSA over P-256 with a hash of 32 bytes or less; OpenSSL
 * 3.0 has no deterministic ECDSA (RFC 6979), so that stays mbedTLS's. */
static int accel_ecdsa(const psa_key_attributes_t *attributes, psa_algorithm_t alg)
{
	return accel_curve(attributes) == ACCEL_P256 && PSA_ALG_IS_RANDOMIZED_ECDSA(alg);
}

psa_status_t idgate_accel_sign_hash(const psa_key_attributes_t *attributes,
				    const uint8_t *key_buffer, size_t key_buffer_size,
				    psa_algorithm_t alg, const uint8_t *hash,
				    size_t hash_length, uint8_t *signature,
				    size_t signature_size, size_t *signature_length)
{
	if (!accel_ecdsa(attributes, alg) ||
	    PSA_KEY_TYPE_IS_PUBLIC_KEY(psa_get_key_type(attributes)))
		return PSA_ERROR_NOT_SUPPORTED;
	return counted(p256_sign(key_buffer, key_buffer_size, hash, hash_length,
				 signature, signature_size, signature_length));
}

psa_status_t idgate_accel_verify_hash(const psa_key_attributes_t *attributes,
				      const uint8_t *key_buffer,
				      size_t key_buffer_size, psa_algorithm_t alg,
				      const uint8_t *hash, size_t hash_length,
				      const uint8_t *signature, size_t signature_length)
{
	if (accel_curve(attributes) != ACCEL_P256 || !PSA_ALG_IS_ECDSA(alg))
		return PSA_ERROR_NOT_SUPPORTED;
	return counted(p256_verify(attributes, key_buffer, key_buffer_size, hash,
				   hash_length, signature, signature_length));
}

/* ---- SHA-2 ---------------------------------------------------------------------------- */

_Static_assert(sizeof(SHA512_CTX) <= sizeof(((idgate_accel_hash_operation_t *)0)->state) &&
	       sizeof(SHA256_CTX) <= sizeof(((idgate_accel_hash_operation_t *)0)->state),
	       "the hash state holds OpenSSL's SHA-2 contexts");

static int accel_hash_ok(psa_algorithm_t alg)
{
	return alg == PSA_ALG_SHA_256 || alg == PSA_ALG_SHA_384 || alg == PSA_ALG_SHA_512;
}

psa_status_t idgate_accel_hash_setup(idgate_accel_hash_operation_t *op,
				     psa_algorithm_t alg)
{
	int ok;

	if (!accel_hash_ok(alg))
		return PSA_ERROR_NOT_SUPPORTED;
	memset(op, 0, sizeof(*op));
	if (alg == PSA_ALG_SHA_256)
		ok = SHA256_Init((SHA256_CTX *)op->state);
	else if (alg == PSA_ALG_SHA_384)
		ok = SHA384_Init((SHA512_CTX *)op->state);
	else
		ok = SHA512_Init((SHA512_CTX *)op->state);
	if (ok != 1)
		return PSA_ERROR_GENERIC_ERROR;
	op->alg = alg;
	return PSA_SUCCESS;
}

psa_status_t idgate_accel_hash_clone(const idgate_accel_hash_operation_t *src,
				     idgate_accel_hash_operation_t *dst)
{
	if (!src->alg)
		return PSA_ERROR_BAD_STATE;
	*dst = *src;
	return PSA_SUCCESS;
}

psa_status_t idgate_accel_hash_update(idgate_accel_hash_operation_t *op,
				      const uint8_t *input, size_t input_length)
{
	int ok;

	if (!op->alg)
		return PSA_ERROR_BAD_STATE;
	if (!input_length)
		return PSA_SUCCESS;
	if (op->alg == PSA_ALG_SHA_256)
		ok = SHA256_Update((SHA256_CTX *)op->state, input, input_length);
	else
		ok = SHA512_Update((SHA512_CTX *)op->state, input, input_length);
	return ok == 1 ? PSA_SUCCESS : PSA_ERROR_GENERIC_ERROR;
}

psa_status_t idgate_accel_hash_finish(idgate_accel_hash_operation_t *op,
				      uint8_t *hash, size_t hash_size,
				      size_t *hash_length)
{
	uint8_t full[SHA512_DIGEST_LENGTH];
	size_t n;
	int ok;

	if (!op->alg)
		return PSA_ERROR_BAD_STATE;
	n = PSA_HASH_LENGTH(op->alg);
	if (hash_size < n)
		return PSA_ERROR_BUFFER_TOO_SMALL;
	if (op->alg == PSA_ALG_SHA_256)
		ok = SHA256_Final(full, (SHA256_CTX *)op->state);
	else if (op->alg == PSA_ALG_SHA_384)
		ok = SHA384_Final(full, (SHA512_CTX *)op->state);
	else
		ok = SHA512_Final(full, (SHA512_CTX *)op->state);
	idgate_accel_hash_abort(op);
	if (ok == 1)
		memcpy(hash, full, n);
	OPENSSL_cleanse(full, sizeof(full));    /* HKDF's secrets pass here */
	if (ok != 1)
		return PSA_ERROR_GENERIC_ERROR;
	*hash_length = n;
	return PSA_SUCCESS;
}

psa_status_t idgate_accel_hash_abort(idgate_accel_hash_operation_t *op)
{
	/* The state may hold secrets (HMAC keys are hashed in it). */
	OPENSSL_cleanse(op, sizeof(*op));
	return PSA_SUCCESS;
}

psa_status_t idgate_accel_hash_compute(psa_algorithm_t alg, const uint8_t *input,
				       size_t input_length, uint8_t *hash,
				       size_t hash_size, size_t *hash_length)
{
	idgate_accel_hash_operation_t op;
	psa_status_t st = idgate_accel_hash_setup(&op, alg);

	if (st == PSA_SUCCESS)
		st = idgate_accel_hash_update(&op, input, input_length);
	if (st == PSA_SUCCESS)
		return idgate_accel_hash_finish(&op, hash, hash_size, hash_length);
	idgate_accel_hash_abort(&op);
	return st;
}
