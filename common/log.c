/*
 * log.c - log lines to stderr (see log.h).
 *
 * A thread that must not block (a dataplane worker) hands its lines to a
 * ring of its own, a single-producer single-consumer byte ring, and the
 * writer thread moves them to stderr.  Nothing on the worker's side waits:
 * no write(2), no lock, no futex (the writer polls every LOG_POLL_MS); a
 * full ring drops the line and counts it, and the writer says how many
 * were dropped.  Every other thread writes its line itself, one write(2)
 * per line, which keeps lines from different threads whole.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE 1024
#define LOG_RING (64u << 10)    /* bytes per non-blocking thread */
#define LOG_POLL_MS 10

int log_verbosity = LOG_INFO;
static __thread char log_tag[16] = "main";

/* A ring: records of a 2-byte length and the line's bytes, never split
 * across the end (a record that does not fit before the end starts over at
 * 0, after a length of 0xffff that says so). */
struct log_ring {
	_Atomic size_t head;            /* written by the producer */
	_Atomic size_t tail;            /* written by the writer */
	_Atomic unsigned long dropped;
	char tag[16];
	struct log_ring *next;
	char buf[LOG_RING];
};

static __thread struct log_ring *my_ring;
static _Atomic(struct log_ring *) rings;
static pthread_t writer;
static atomic_int writer_on, writer_stop;

void log_set_thread(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag);
}

static int log_format(char line[LOG_LINE], enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, LOG_LINE, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], log_tag);
	m = vsnprintf(line + n, LOG_LINE - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > LOG_LINE - 2)
		n = LOG_LINE - 2;
	line[n++] = '\n';
	return n;
}

/* Producer side: 1 if the line went in, 0 if the ring is full. */
static int ring_put(struct log_ring *r, const char *line, size_t n)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t used = head - tail, at = head % LOG_RING, need = 2 + n;

	if (at + need > LOG_RING) {
		/* Skip to the start: the rest of the end is a filler. */
		need += LOG_RING - at;
		if (used + need > LOG_RING)
			return 0;
		if (LOG_RING - at >= 2)
			memcpy(r->buf + at, "\xff\xff", 2);
		head += LOG_RING - at;
		at = 0;
		need = 2 + n;
	} else if (used + need > LOG_RING) {
		return 0;
	}
	r->buf[at] = (char)(n >> 8);
	r->buf[at + 1] = (char)n;
	memcpy(r->buf + at + 2, line, n);
	/* release: the writer sees the bytes before the new head */
	atomic_store_explicit(&r->head, head + need, memory_order_release);
	return 1;
}

/* Writer side: move what <r> holds to stderr. */
static void ring_drain(struct log_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned long dropped;

	while (tail != head) {
		size_t at = tail % LOG_RING, n;

		if (LOG_RING - at < 2 || ((unsigned char)r->buf[at] == 0xff &&
					  (unsigned char)r->buf[at + 1] == 0xff)) {
			tail += LOG_RING - at;
			continue;
		}
		n = (size_t)(unsigned char)r->buf[at] << 8 | (unsigned char)r->buf[at + 1];
		if (write(STDERR_FILENO, r->buf + at + 2, n) < 0) {
			/* stderr is gone: the line is lost either way */
		}
		tail += 2 + n;
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	dropped = atomic_exchange_explicit(&r->dropped, 0, memory_order_relaxed);
	if (dropped) {
		char line[128];
		int n = snprintf(line, sizeof(line), "log: %lu line(s) of [%s] dropped: its "
				 "ring was full\n", dropped, r->tag);

		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* as above */
		}
	}
}

static void drain_all(void)
{
	for (struct log_ring *r = atomic_load(&rings); r; r = r->next)
		ring_drain(r);
}

static void *log_writer(void *arg)
{
	struct timespec nap = { 0, LOG_POLL_MS * 1000000L };

	(void)arg;
	while (!atomic_load(&writer_stop)) {
		drain_all();
		nanosleep(&nap, NULL);
	}
	drain_all();
	return NULL;
}

int log_start(void)
{
	atomic_store(&writer_stop, 0);
	if (pthread_create(&writer, NULL, log_writer, NULL))
		return -1;
	atomic_store(&writer_on, 1);
	return 0;
}

void log_stop(void)
{
	if (!atomic_exchange(&writer_on, 0))
		return;
	atomic_store(&writer_stop, 1);
	pthread_join(writer, NULL);
	/* Rings outlive their threads (a late line of a thread that is
	 * gone would find its ring freed): freed only here, at exit. */
	for (struct log_ring *r = atomic_exchange(&rings, NULL), *next; r; r = next) {
		next = r->next;
		free(r);
	}
}

int log_nonblocking(void)
{
	struct log_ring *r;

	if (my_ring)
		return 0;
	if (!atomic_load(&writer_on))
		return -1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	memcpy(r->tag, log_tag, sizeof(r->tag));
	r->next = atomic_load(&rings);
	while (!atomic_compare_exchange_weak(&rings, &r->next, r))
		;
	my_ring = r;
	return 0;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE];
	va_list ap;
	int n;

	if ((int)lvl > log_verbosity)
		return;
	va_start(ap, fmt);
	n = log_format(line, lvl, fmt, ap);
	va_end(ap);
	if (my_ring && atomic_load_explicit(&writer_on, memory_order_relaxed)) {
		if (!ring_put(my_ring, line, (size_t)n))
			atomic_fetch_add_explicit(&my_ring->dropped, 1, memory_order_relaxed);
		return;
	}
	/* One write(2) per line keeps lines from different threads whole. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
