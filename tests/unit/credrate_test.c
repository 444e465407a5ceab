/*
 * credrate_test.c - the per-credential login rate: a burst then one per
 * interval, strict mode at half the burst, credentials apart, a full window
 * letting through (counted), and concurrent takes of one credential never
 * exceeding its allowance.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../../dataplane/credrate.h"
#include "check.h"

#define T0 1000000

static void test_burst_then_rate(void)
{
	struct credrate *r = credrate_new(64, 10, 2000);
	int ok = 0;

	CHECK(r != NULL);
	for (int i = 0; i < 20; i++)
		ok += credrate_take(r, "alice", 5, T0, 0);
	CHECK_EQ(ok, 10);
	/* another credential is not affected */
	CHECK_EQ(credrate_take(r, "bob", 3, T0, 0), 1);
	/* one more every 2 s */
	CHECK_EQ(credrate_take(r, "alice", 5, T0 + 1999, 0), 0);
	CHECK_EQ(credrate_take(r, "alice", 5, T0 + 2000, 0), 1);
	CHECK_EQ(credrate_take(r, "alice", 5, T0 + 2001, 0), 0);
	/* idle for the whole burst: a full burst again */
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += credrate_take(r, "alice", 5, T0 + 60000, 0);
	CHECK_EQ(ok, 10);
	/* a clock that steps back refills nothing */
	CHECK_EQ(credrate_take(r, "alice", 5, T0, 0), 0);
	credrate_free(r);
	credrate_free(NULL);
}

static void test_strict(void)
{
	struct credrate *r = credrate_new(64, 10, 1000);
	int ok = 0;

	for (int i = 0; i < 20; i++)
		ok += credrate_take(r, "heavy", 5, T0, 1);
	/* half the burst (tolerance 9 intervals / 2, rounded down, +1) */
	CHECK(ok >= 4 && ok <= 6);
	/* a credential that used 6 of 10 passes normally, not strictly */
	for (int i = 0; i < 6; i++)
		CHECK_EQ(credrate_take(r, "mid", 3, T0, 0), 1);
	CHECK_EQ(credrate_take(r, "mid", 3, T0, 1), 0);
	CHECK_EQ(credrate_take(r, "mid", 3, T0, 0), 1);
	/* a fresh one passes strictly */
	CHECK_EQ(credrate_take(r, "light", 5, T0, 1), 1);
	credrate_free(r);
}

/* The smallest table is one window: with more busy credentials than
 * slots, requests go through and are counted. */
static void test_full_window(void)
{
	struct credrate *r = credrate_new(1, 2, 60000);
	char id[16];
	int ok = 0;

	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		ok += credrate_take(r, id, strlen(id), T0, 0);
	}
	CHECK_EQ(ok, 8);
	CHECK_EQ(credrate_overflows(r), 0);
	CHECK_EQ(credrate_take(r, "c-new", 5, T0, 0), 1);
	CHECK_EQ(credrate_overflows(r), 1);
	/* once a slot's credential is back to a full burst it is reused */
	CHECK_EQ(credrate_take(r, "c-new", 5, T0 + 60000, 0), 1);
	CHECK_EQ(credrate_overflows(r), 1);
	credrate_free(r);
}

static void test_bad_arguments(void)
{
	CHECK(credrate_new(64, 0, 1000) == NULL);
	CHECK(credrate_new(64, 256, 1000) == NULL);
	CHECK(credrate_new(64, 10, 0) == NULL);
}

#define NTHREADS 4
static struct credrate *shared;
static int granted[NTHREADS];

static void *taker(void *arg)
{
	int t = (int)(long)arg;

	for (int i = 0; i < 100000; i++)
		granted[t] += credrate_take(shared, "flood", 5, T0 + (uint64_t)(i / 1000), 0);
	return NULL;
}

/* 400,000 takes over 100 ms by four threads: at most the burst plus one
 * per interval (10 ms), plus the first-claim race's one extra token. */
static void test_concurrent(void)
{
	pthread_t th[NTHREADS];
	int total = 0;

	shared = credrate_new(1024, 50, 10);
	for (long t = 0; t < NTHREADS; t++)
		pthread_create(&th[t], NULL, taker, (void *)t);
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		total += granted[t];
	}
	CHECK(total >= 50 && total <= 50 + 10 + NTHREADS);
	credrate_free(shared);
}

int main(void)
{
	test_burst_then_rate();
	test_strict();
	test_full_window();
	test_bad_arguments();
	test_concurrent();
	return check_done("credrate");
}
