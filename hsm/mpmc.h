/*
 * mpmc.h - a bounded lock-free multi-producer multi-consumer ring of
 * pointers, after Dmitry Vyukov's bounded MPMC queue.
 *
 * Every cell carries a sequence number that says whose turn it is.  For the
 * position p that maps to a cell (p & mask):
 *   seq == p             the cell is free for the producer of position p;
 *   seq == p + 1         it holds the item for the consumer of position p;
 *   seq == p + size      the consumer is done; free for position p + size.
 * A producer claims a position with a CAS on <tail>, stores the item, then
 * publishes it with a release store of seq (the consumer's acquire load of
 * seq therefore sees the item and everything written before the push).  A
 * consumer claims a position with a CAS on <head>, reads the item, then
 * hands the cell to the next lap with a release store of seq.
 *
 * No lock and no allocation after hsm_mpmc_init; a full ring fails the push
 * at once and an empty one fails the pop at once.  A pop can also fail while
 * a producer has claimed the cell at <head> but not yet published it: the
 * ring is not empty, only "not ready yet": the producer's wake-up comes
 * after it publishes, so a consumer that sleeps until woken (see
 * hsm_device_take in engine.c) pops it then.
 */
#ifndef IG_HSM_MPMC_H
#define IG_HSM_MPMC_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HSM_CACHELINE 64

/* Zeroed memory aligned to a cache line (the rings and the structs that
 * hold them ask for it, and UBSan checks it). */
static inline void *hsm_zalloc(size_t size)
{
	void *p;

	size = (size + HSM_CACHELINE - 1) & ~(size_t)(HSM_CACHELINE - 1);
	p = aligned_alloc(HSM_CACHELINE, size);
	if (p)
		memset(p, 0, size);
	return p;
}

struct hsm_mpmc_cell {
	atomic_size_t seq;
	void *item;
};

struct hsm_mpmc {
	/* Producers and consumers each own a cache line so they do not
	 * invalidate each other's position on every operation. */
	_Alignas(HSM_CACHELINE) atomic_size_t tail; /* next position to push */
	_Alignas(HSM_CACHELINE) atomic_size_t head; /* next position to pop */
	_Alignas(HSM_CACHELINE) struct hsm_mpmc_cell *cells;
	size_t mask;
};

/* Make <q> a ring of <size> cells; <size> is a power of two >= 2 (with one
 * cell, "free for p + 1" and "full at p" would be the same seq value). */
static inline int hsm_mpmc_init(struct hsm_mpmc *q, size_t size)
{
	if (size < 2 || (size & (size - 1)) != 0)
		return -1;
	q->cells = calloc(size, sizeof(*q->cells));
	if (!q->cells)
		return -1;
	for (size_t i = 0; i < size; i++)
		atomic_init(&q->cells[i].seq, i);
	q->mask = size - 1;
	atomic_init(&q->tail, 0);
	atomic_init(&q->head, 0);
	return 0;
}

static inline void hsm_mpmc_free(struct hsm_mpmc *q)
{
	free(q->cells);
	q->cells = NULL;
}

/* Append <item>; false when the ring is full. */
static inline bool hsm_mpmc_push(struct hsm_mpmc *q, void *item)
{
	size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		struct hsm_mpmc_cell *c = &q->cells[pos & q->mask];
		/* Acquire: pairs with the consumer's release of the cell, so
		 * our store of item cannot overtake its read of the old one. */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;

		if (dif == 0) {
			/* On failure the CAS reloads <pos>; try again there. */
			if (atomic_compare_exchange_weak_explicit(
				    &q->tail, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed)) {
				c->item = item;
				/* Release: the item and the caller's writes
				 * before the push are visible to the popper. */
				atomic_store_explicit(&c->seq, pos + 1,
						      memory_order_release);
				return true;
			}
		} else if (dif < 0) {
			return false; /* the cell still holds last lap's item */
		} else {
			pos = atomic_load_explicit(&q->tail,
						   memory_order_relaxed);
		}
	}
}

/* Take the oldest item; NULL when empty or the oldest is not yet published. */
static inline void *hsm_mpmc_pop(struct hsm_mpmc *q)
{
	size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

	for (;;) {
		struct hsm_mpmc_cell *c = &q->cells[pos & q->mask];
		/* Acquire: pairs with the producer's release of seq. */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &q->head, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed)) {
				void *item = c->item;
				/* Release: our read of item happens before the
				 * next lap's producer overwrites it. */
				atomic_store_explicit(&c->seq, pos + q->mask + 1,
						      memory_order_release);
				return item;
			}
		} else if (dif < 0) {
			return NULL;
		} else {
			pos = atomic_load_explicit(&q->head,
						   memory_order_relaxed);
		}
	}
}

/* Items pushed and not yet popped; a snapshot, exact only when quiescent. */
static inline size_t hsm_mpmc_count(struct hsm_mpmc *q)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);

	return tail > head ? tail - head : 0;
}

#endif
