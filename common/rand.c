/*
 * rand.c - the kernel's CSPRNG behind a per-thread pool (see rand.h).
 */
#include "rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>

#define POOL 256

static __thread unsigned char pool[POOL];
static __thread size_t pool_left;

/* getrandom may return fewer bytes than asked (signals, requests above
 * 256 bytes before Linux 3.19's guarantee): loop. */
static int kernel_random(unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t got = getrandom(buf, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return IG_EINTERNAL;
		}
		buf += got;
		n -= (size_t)got;
	}
	return IG_OK;
}

int ig_random(void *buf, size_t n)
{
	unsigned char *out = buf;

	if (n > POOL / 4) {
		if (kernel_random(out, n) == IG_OK)
			return IG_OK;
		memset(out, 0, n);
		return IG_EINTERNAL;
	}
	if (pool_left < n) {
		if (kernel_random(pool, POOL) != IG_OK) {
			memset(out, 0, n);
			return IG_EINTERNAL;
		}
		pool_left = POOL;
	}
	/* Hand out from the end and wipe what was handed out. */
	pool_left -= n;
	memcpy(out, pool + pool_left, n);
	mbedtls_platform_zeroize(pool + pool_left, n);
	return IG_OK;
}

int ig_rng(void *ctx, unsigned char *buf, size_t n)
{
	(void)ctx;
	return ig_random(buf, n) == IG_OK ? 0 : MBEDTLS_ERR_ERROR_GENERIC_ERROR;
}
