/*
 * p256.h - ECDSA P-256 signature verification over a SHA-256 digest, with
 * the fastest correct implementation the build has.
 *
 * mbedTLS's generic bignum code verifies about 850 signatures/s per core on
 * this machine kind; OpenSSL's libcrypto (Debian's libssl3, with its
 * optimised P-256) about 9,000-12,000.  A device-assertion check happens on
 * every login, so the server verifies with libcrypto when it is built with
 * it (the default) and with mbedTLS otherwise; both are always compiled so
 * tests can compare them.  Verification handles public data only: no
 * constant-time requirement.
 */
#ifndef IG_P256_H
#define IG_P256_H
#include <stddef.h>
#include <stdint.h>

/* Verify <sig> (R || S, 32 bytes each, big-endian) over <hash> (32 bytes)
 * with the public point (<x>, <y>).  Returns 0 if valid, -1 if not (bad
 * signature, r or s outside [1, n-1], point not on the curve). */
int p256_verify(const uint8_t x[32], const uint8_t y[32],
		const uint8_t hash[32], const uint8_t sig[64]);

/* The two implementations behind p256_verify, for differential tests. */
int p256_verify_mbedtls(const uint8_t x[32], const uint8_t y[32],
			const uint8_t hash[32], const uint8_t sig[64]);
int p256_verify_libcrypto(const uint8_t x[32], const uint8_t y[32],
			  const uint8_t hash[32], const uint8_t sig[64]);

/* Name of the implementation p256_verify uses ("libcrypto", "mbedtls"). */
const char *p256_verify_impl(void);

/* DER-encode an ECDSA signature R || S as SEQUENCE { INTEGER r, INTEGER s }
 * (SEC 1 §C.8).  <out> needs 72 bytes; returns the length. */
size_t p256_sig_to_der(const uint8_t sig[64], uint8_t out[72]);

#endif
