/*
 * replay_test.c - the single-use cache: single-thread semantics, the file,
 * a full probe window, and concurrent inserts of the same ids (exactly one
 * IG_OK each), with threads whose clocks disagree so that they claim
 * different slots and must settle (see replay_settle()).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/result.h"
#include "../../dataplane/replay.h"
#include "check.h"

/* A fixed hash key: the tag collisions among the test's ids, and so the
 * results, are the same on every run. */
static const uint8_t test_key[16] = { 0x69, 0x64, 0x67, 0x61, 0x74, 0x65, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

#define BASE 1700000000
#define NSHARED 100000
#define NOWN 25000
#define NTHREADS 4

static void test_single(void)
{
	struct replay_cache *c = replay_new(1024);
	if (c)
		replay_set_key(c, test_key);

	CHECK(c != NULL);
	CHECK_EQ(replay_check_and_insert(c, "cred jti-1", 10, BASE + 60, BASE), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, "cred jti-1", 10, BASE + 60, BASE + 1), IG_EPROTO);
	/* a different exp does not make a replay fresh */
	CHECK_EQ(replay_check_and_insert(c, "cred jti-1", 10, BASE + 90, BASE + 59), IG_EPROTO);
	CHECK_EQ(replay_check_and_insert(c, "cred jti-2", 10, BASE + 60, BASE), IG_OK);
	/* at exp the entry is dead and its slot is reused in place */
	CHECK_EQ(replay_check_and_insert(c, "cred jti-1", 10, BASE + 120, BASE + 60), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, "cred jti-1", 10, BASE + 120, BASE + 61), IG_EPROTO);
	/* the empty id is an id like any other */
	CHECK_EQ(replay_check_and_insert(c, "", 0, BASE + 60, BASE), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, NULL, 0, BASE + 60, BASE), IG_EPROTO);
	/* exp past 2106 is clamped, not wrapped */
	CHECK_EQ(replay_check_and_insert(c, "far", 3, INT64_C(1) << 40, BASE), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, "far", 3, INT64_C(1) << 40, BASE + 1), IG_EPROTO);

	/* caller errors */
	CHECK_EQ(replay_check_and_insert(NULL, "x", 1, BASE + 1, BASE), IG_EUSAGE);
	CHECK_EQ(replay_check_and_insert(c, NULL, 1, BASE + 1, BASE), IG_EUSAGE);
	CHECK_EQ(replay_check_and_insert(c, "x", 1, BASE, BASE), IG_EUSAGE);
	CHECK_EQ(replay_check_and_insert(c, "x", 1, BASE - 1, BASE), IG_EUSAGE);
	CHECK_EQ(replay_check_and_insert(c, "x", 1, 10, -1), IG_EUSAGE);
	CHECK_EQ(replay_check_and_insert(c, "x", 1, INT64_C(1) << 40, UINT32_MAX), IG_EUSAGE);
	replay_free(c);
	replay_free(NULL);
}

/* The smallest cache is one window: 32 live entries fill it. */
static void test_full(void)
{
	struct replay_cache *c = replay_new(1);
	if (c)
		replay_set_key(c, test_key);
	char id[16];
	int n;

	CHECK(c != NULL);
	for (int i = 0; i < REPLAY_WINDOW; i++) {
		n = snprintf(id, sizeof(id), "id-%d", i);
		CHECK_EQ(replay_check_and_insert(c, id, (size_t)n, BASE + 10 + i, BASE), IG_OK);
	}
	CHECK_EQ(replay_check_and_insert(c, "one more", 8, BASE + 100, BASE), IG_EBLOCKED);
	/* a replay is still told apart from a full window */
	CHECK_EQ(replay_check_and_insert(c, "id-3", 4, BASE + 100, BASE), IG_EPROTO);
	/* once id-0 and id-1 expire, two new entries fit, and no third */
	CHECK_EQ(replay_check_and_insert(c, "one more", 8, BASE + 100, BASE + 11), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, "two more", 8, BASE + 100, BASE + 11), IG_OK);
	CHECK_EQ(replay_check_and_insert(c, "three more", 10, BASE + 100, BASE + 11), IG_EBLOCKED);
	CHECK_EQ(replay_check_and_insert(c, "id-5", 4, BASE + 100, BASE + 11), IG_EPROTO);
	replay_free(c);
}

struct race {
	struct replay_cache *c;
	pthread_barrier_t start;
	uint32_t wins[NSHARED];         /* IG_OK answers per shared id */
	int skew;                       /* give each thread its own clock */
	int own_ok[NTHREADS], errors;
};

struct racer {
	struct race *r;
	int t;
};

static int shared_id(char *buf, size_t cap, int i)
{
	return snprintf(buf, cap, "credential-%d jti-%d", i % 977, i);
}

static void *racer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	int64_t now = BASE + (r->skew ? me->t : 0);
	char id[64];
	int n, rc;

	pthread_barrier_wait(&r->start);
	for (int i = 0; i < NSHARED; i++) {
		n = shared_id(id, sizeof(id), i);
		rc = replay_check_and_insert(r->c, id, (size_t)n, BASE + 1000, now);
		if (rc == IG_OK)
			__atomic_add_fetch(&r->wins[i], 1, __ATOMIC_RELAXED);
		else if (rc != IG_EPROTO)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		/* and an id of this thread's own, every fourth time */
		if (i % (NSHARED / NOWN))
			continue;
		n = snprintf(id, sizeof(id), "own-%d-%d", me->t, i);
		if (replay_check_and_insert(r->c, id, (size_t)n, BASE + 1000, now) == IG_OK)
			r->own_ok[me->t]++;
	}
	return NULL;
}

/*
 * Fillers expiring at BASE+1..BASE+3 make threads whose clocks read BASE,
 * BASE+1, BASE+2, BASE+3 disagree on which slots are free.
 */
static void race(int skew)
{
	struct race *r = calloc(1, sizeof(*r));
	struct racer me[NTHREADS];
	pthread_t th[NTHREADS];
	char id[32];
	int n, bad = 0;

	r->c = replay_new(1 << 20);

	if (r->c)

		replay_set_key(r->c, test_key);
	r->skew = skew;
	CHECK(r->c != NULL);
	for (int i = 0; skew && i < NSHARED; i++) {
		n = snprintf(id, sizeof(id), "filler-%d", i);
		bad += replay_check_and_insert(r->c, id, (size_t)n, BASE + 1 + i % 3, BASE) != IG_OK;
	}
	CHECK_EQ(bad, 0);
	pthread_barrier_init(&r->start, NULL, NTHREADS);
	for (int t = 0; t < NTHREADS; t++) {
		me[t] = (struct racer){ r, t };
		pthread_create(&th[t], NULL, racer, &me[t]);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (int i = 0; i < NSHARED; i++) {
		if (r->wins[i] != 1 && !bad++)
			fprintf(stderr, "id %d: %u successes\n", i, r->wins[i]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(r->errors, 0);
	for (int t = 0; t < NTHREADS; t++)
		CHECK_EQ(r->own_ok[t], NOWN);
	pthread_barrier_destroy(&r->start);
	replay_free(r->c);
	free(r);
}

/* The kernel's boot time, read independently of replay.c. */
static int64_t boot_time(void)
{
	struct timespec up;

	clock_gettime(CLOCK_BOOTTIME, &up);
	return (int64_t)time(NULL) - up.tv_sec;
}

/* replay_open: records outlive the process; a new table, another boot or
 * another size say from when records may be missing. */
static void test_file(void)
{
	char dir[] = "/tmp/replay-test-XXXXXX", path[64];
	const char *why = NULL;
	struct replay_cache *c;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/replay.cache", dir);

	/* a new state dir never used anything */
	c = replay_open(path, 1000, BASE, 1, &why);
	CHECK(c != NULL);
	CHECK_EQ(replay_lost_at(c), 0);
	CHECK_EQ(replay_slots(c), 1024);
	CHECK_EQ(replay_check_and_insert(c, "cred jti", 8, BASE + 60, BASE), IG_OK);
	CHECK_EQ(replay_live(c, BASE), 1);
	CHECK_EQ(replay_live(c, BASE + 60), 0);
	replay_free(c);

	/* the same boot: the record is there, nothing was lost */
	c = replay_open(path, 1024, BASE + 1, 0, &why);
	CHECK(c != NULL);
	CHECK_EQ(replay_lost_at(c), 0);
	CHECK_EQ(replay_check_and_insert(c, "cred jti", 8, BASE + 60, BASE + 1), IG_EPROTO);
	replay_free(c);

	/* another boot (its id in the header, at offset 40, differs): what
	 * was not written back may be lost, all of it from before the boot */
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "not-this-boot", 13, 40) == 13);
	close(fd);
	c = replay_open(path, 1024, BASE + 2, 0, &why);
	CHECK(c != NULL);
	CHECK(c && llabs(replay_lost_at(c) - boot_time()) <= 2);
	CHECK_EQ(replay_check_and_insert(c, "cred jti", 8, BASE + 60, BASE + 2), IG_EPROTO);
	replay_free(c);
	/* ... and a later start still knows it */
	c = replay_open(path, 1024, BASE + 3, 0, &why);
	CHECK(c && llabs(replay_lost_at(c) - boot_time()) <= 2);
	replay_free(c);

	/* another size: a new table, records lost from now */
	c = replay_open(path, 4096, BASE + 4, 0, &why);
	CHECK(c != NULL);
	CHECK_EQ(replay_lost_at(c), BASE + 4);
	CHECK_EQ(replay_check_and_insert(c, "cred jti", 8, BASE + 60, BASE + 4), IG_OK);
	replay_free(c);

	/* a damaged header: the same */
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "XX", 2, 0) == 2);
	close(fd);
	c = replay_open(path, 4096, BASE + 5, 0, &why);
	CHECK(c && replay_lost_at(c) == BASE + 5);
	CHECK_EQ(replay_check_and_insert(c, "cred jti", 8, BASE + 60, BASE + 5), IG_OK);
	replay_free(c);

	/* the file deleted: the same, unless the state dir is new */
	CHECK_EQ(unlink(path), 0);
	c = replay_open(path, 4096, BASE + 6, 0, &why);
	CHECK(c && replay_lost_at(c) == BASE + 6);
	replay_free(c);

	/* a file that cannot be made */
	c = replay_open("/nonexistent/dir/replay.cache", 1024, BASE, 1, &why);
	CHECK(c == NULL && why && strstr(why, "replay file"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_file();
	test_single();
	test_full();
	race(0);
	race(1);
	return check_done("replay");
}
