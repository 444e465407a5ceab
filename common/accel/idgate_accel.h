/*
 * idgate_accel.h - a PSA transparent driver that runs the elliptic-curve
 * operations of a TLS handshake on faster code than mbedTLS's own: key
 * generation, public key export, ECDH and ECDSA for P-256 and the SHA-2
 * hashes on OpenSSL's libcrypto; key generation, public key export and
 * X25519 on libsodium.  Everything else (other curves, RSA,
 * deterministic ECDSA, keys held elsewhere) is answered NOT_SUPPORTED, and
 * mbedTLS's own code does it.
 *
 * Built into libmbedcrypto by deps/build-mbedtls.sh when IDGATE_PSA_ACCEL
 * is defined (deps/mbedtls_user_config.h); mbedTLS's driver dispatch
 * (library/psa_crypto_driver_wrappers*.{h,c}) calls these entry points
 * first, through deps/mbedtls-psa-accel.patch.  Entry points follow the
 * PSA driver interface (docs/proposed/psa-driver-interface.md in mbedTLS).
 *
 * Key formats are PSA's: a P-256 key pair is its private scalar (32 bytes,
 * big-endian), its public key the uncompressed point (65 bytes); a
 * Curve25519 key pair is the 32-byte private string of RFC 7748, its
 * public key the 32-byte u-coordinate.
 */
#ifndef IDGATE_ACCEL_H
#define IDGATE_ACCEL_H
#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#include "idgate_accel_ctx.h"

#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif

/* Operations the driver completed (relaxed atomic; for tests). */
extern unsigned long idgate_accel_calls;

psa_status_t idgate_accel_generate_key(const psa_key_attributes_t *attributes,
				       uint8_t *key_buffer, size_t key_buffer_size,
				       size_t *key_buffer_length);

psa_status_t idgate_accel_export_public_key(const psa_key_attributes_t *attributes,
					    const uint8_t *key_buffer,
					    size_t key_buffer_size, uint8_t *data,
					    size_t data_size, size_t *data_length);

psa_status_t idgate_accel_key_agreement(const psa_key_attributes_t *attributes,
					const uint8_t *key_buffer,
					size_t key_buffer_size, psa_algorithm_t alg,
					const uint8_t *peer_key, size_t peer_key_length,
					uint8_t *shared_secret, size_t shared_secret_size,
					size_t *shared_secret_length);

psa_status_t idgate_accel_sign_hash(const psa_key_attributes_t *attributes,
				    const uint8_t *key_buffer, size_t key_buffer_size,
				    psa_algorithm_t alg, const uint8_t *hash,
				    size_t hash_length, uint8_t *signature,
				    size_t signature_size, size_t *signature_length);

psa_status_t idgate_accel_verify_hash(const psa_key_attributes_t *attributes,
				      const uint8_t *key_buffer,
				      size_t key_buffer_size, psa_algorithm_t alg,
				      const uint8_t *hash, size_t hash_length,
				      const uint8_t *signature, size_t signature_length);

/* SHA-256, SHA-384 and SHA-512 on libcrypto (its SHA extensions / AVX2
 * code); other hashes NOT_SUPPORTED. */
psa_status_t idgate_accel_hash_compute(psa_algorithm_t alg, const uint8_t *input,
				       size_t input_length, uint8_t *hash,
				       size_t hash_size, size_t *hash_length);
psa_status_t idgate_accel_hash_setup(idgate_accel_hash_operation_t *op,
				     psa_algorithm_t alg);
psa_status_t idgate_accel_hash_clone(const idgate_accel_hash_operation_t *src,
				     idgate_accel_hash_operation_t *dst);
psa_status_t idgate_accel_hash_update(idgate_accel_hash_operation_t *op,
				      const uint8_t *input, size_t input_length);
psa_status_t idgate_accel_hash_finish(idgate_accel_hash_operation_t *op,
				      uint8_t *hash, size_t hash_size,
				      size_t *hash_length);
psa_status_t idgate_accel_hash_abort(idgate_accel_hash_operation_t *op);

#endif
