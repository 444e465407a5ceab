/*
 * log_test.c - log lines: threads that log through their rings and threads
 * that write directly end up whole, in each thread's order, in one file; a
 * thread that floods its ring loses lines, counted, and never waits; lines
 * left in rings are written at log_stop.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/log.h"
#include "check.h"

#define LINES 1000
#define FLOOD 5000

static void *steady(void *arg)
{
	char tag[16];
	struct timespec nap = { 0, 5000000 };

	snprintf(tag, sizeof(tag), "t%d", (int)(long)arg);
	log_set_thread(tag);
	if ((long)arg < 2)
		(void)log_nonblocking();        /* t0, t1: rings; t2, t3: direct */
	for (int i = 0; i < LINES; i++) {
		log_info("line %d of %s", i, tag);
		if (i % 20 == 19)
			nanosleep(&nap, NULL);
	}
	return NULL;
}

static double flood_s;

static void *flood(void *arg)
{
	char pad[800];
	struct timespec t0, t1;

	(void)arg;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	log_set_thread("flood");
	(void)log_nonblocking();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < FLOOD; i++)
		log_info("flood %d %s", i, pad);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	flood_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	return NULL;
}

int main(void)
{
	char path[] = "/tmp/idgate-log-XXXXXX", line[2048];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	int next[4] = { 0 }, order_ok = 1, whole = 1, flooded = 0;
	unsigned long dropped = 0, d;
	pthread_t th[5];
	FILE *f;

	CHECK(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);
	CHECK_EQ(log_nonblocking(), -1);        /* no writer yet */
	CHECK_EQ(log_start(), 0);
	for (long t = 0; t < 4; t++)
		pthread_create(&th[t], NULL, steady, (void *)t);
	pthread_create(&th[4], NULL, flood, NULL);
	for (int t = 0; t < 5; t++)
		pthread_join(th[t], NULL);
	log_stop();
	log_stop();                             /* twice is harmless */
	dup2(saved, STDERR_FILENO);
	close(saved);

	f = fdopen(fd, "r");
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		char tag[16];
		int i, t;

		if (line[strlen(line) - 1] != '\n' ||
		    (strncmp(line, "20", 2) && strncmp(line, "log: ", 5)))
			whole = 0;
		if (sscanf(line, "%*s info [t%d] line %d of %15s", &t, &i, tag) == 3 &&
		    t >= 0 && t < 4) {
			order_ok &= i == next[t];
			next[t] = i + 1;
		} else if (strstr(line, "] flood ")) {
			flooded++;
		} else if (sscanf(line, "log: %lu line(s) of [flood] dropped", &d) == 1) {
			dropped += d;
		} else {
			fprintf(stdout, "unexpected: %s", line);
			whole = 0;
		}
	}
	fclose(f);
	unlink(path);
	CHECK(whole);
	CHECK(order_ok);
	for (int t = 0; t < 4; t++)
		CHECK_EQ(next[t], LINES);
	/* the flood lost lines (its ring is 64 KiB), all of them counted */
	CHECK(dropped > 0);
	CHECK_EQ((unsigned long)flooded + dropped, FLOOD);
	fprintf(stderr, "flood: %d written, %lu dropped, %.1f ms for %d lines\n", flooded,
		dropped, flood_s * 1e3, FLOOD);
	return check_done("log");
}
