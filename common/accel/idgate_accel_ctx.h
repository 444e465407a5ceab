/*
 * idgate_accel_ctx.h - the multi-part hash state of idgate's PSA driver
 * (idgate_accel.h), a member of mbedTLS's psa_driver_hash_context_t
 * through deps/mbedtls-psa-accel.patch.  Plain bytes, so PSA may copy it
 * (psa_hash_clone); the driver keeps OpenSSL's SHA-2 state in it.
 */
#ifndef IDGATE_ACCEL_CTX_H
#define IDGATE_ACCEL_CTX_H
#include <stdint.h>

typedef struct {
	uint32_t alg;                   /* psa_algorithm_t; 0: not set up */
	uint64_t state[28];             /* OpenSSL's SHA256_CTX / SHA512_CTX */
} idgate_accel_hash_operation_t;

#endif
