/*
 * rand.h - idgate's one source of randomness: the kernel's CSPRNG
 * (getrandom(2)), for keys, ids, nonces and mbedTLS alike.
 *
 * Small requests are served from a per-thread pool refilled 256 bytes at a
 * time, so a login's nonces cost no system call; a byte is handed out once
 * and wiped from the pool as it goes.  getrandom does not block once the
 * kernel's pool is initialized (early boot), which it is long before
 * idgated starts.  No fork() after threads start: a child would share its
 * parent's pool.
 */
#ifndef IG_RAND_H
#define IG_RAND_H
#include <stddef.h>

#include "result.h"

/* <n> random bytes into <buf>: IG_OK, or IG_EINTERNAL if the kernel gave
 * none (then <buf> is zeroed: never use it). */
IG_MUST_CHECK int ig_random(void *buf, size_t n);

/* ig_random as mbedTLS's f_rng (<ctx> unused): 0 or an mbedTLS error. */
int ig_rng(void *ctx, unsigned char *buf, size_t n);

#endif
