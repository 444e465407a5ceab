/*
 * siphash.h - SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012): the keyed hash of every table a client could
 * otherwise fill on purpose (the replay cache, the per-credential rate)
 * and of the userspace stack's SYN cookies.
 */
#ifndef IG_SIPHASH_H
#define IG_SIPHASH_H
#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of <len> bytes at <msg> under the key k0 || k1 (the 16-byte
 * key read as two little-endian words, as the paper does). */
uint64_t siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len);

/* The same with the key as 16 bytes. */
uint64_t siphash24_key(const uint8_t key[16], const void *msg, size_t len);

#endif
