/*
 * credrate.c - the per-credential login rate (see credrate.h).
 *
 * A word:  63       40 39                     0
 *          | tag (24) |  TAT, ms (40 bits)     |
 * 0 is an empty slot.  40 bits of milliseconds last 34 years of uptime.
 */
#include <stdlib.h>
#include <string.h>

#include "../common/rand.h"
#include "../common/siphash.h"
#include "credrate.h"

#define TAT_BITS 40
#define TAT_MASK ((UINT64_C(1) << TAT_BITS) - 1)

struct credrate {
	uint64_t *slot;
	size_t mask;
	uint64_t interval, tolerance;   /* ms */
	uint8_t key[16];
	uint64_t overflows;
};

struct credrate *credrate_new(size_t slots, unsigned burst, uint64_t interval_ms)
{
	struct credrate *r;
	size_t n = CREDRATE_WINDOW;

	if (burst < 1 || burst > 255 || interval_ms < 1 || interval_ms > (UINT64_C(1) << 32))
		return NULL;
	while (n < slots) {
		if (n > SIZE_MAX / 2 / sizeof(uint64_t))
			return NULL;
		n <<= 1;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	/* Keyed: a client cannot choose credential ids that share a window. */
	if (ig_random(r->key, sizeof(r->key)) != IG_OK ||
	    !(r->slot = calloc(n, sizeof(uint64_t)))) {
		free(r);
		return NULL;
	}
	r->mask = n - 1;
	r->interval = interval_ms;
	r->tolerance = (uint64_t)(burst - 1) * interval_ms;
	return r;
}

void credrate_free(struct credrate *r)
{
	if (!r)
		return;
	free(r->slot);
	memset(r->key, 0, sizeof(r->key));
	free(r);
}

int credrate_take(struct credrate *r, const void *id, size_t len, uint64_t now_ms,
		  int strict)
{
	uint64_t h = siphash24_key(r->key, id, len);
	uint64_t tag = h >> TAT_BITS, limit = strict ? r->tolerance / 2 : r->tolerance;
	size_t home = (size_t)h & r->mask;

	now_ms &= TAT_MASK;
	if (!tag)
		tag = 1;        /* 0 is the empty word */
	for (;;) {
		uint64_t *free_slot = NULL, free_word = 0;
		int i;

		for (i = 0; i < CREDRATE_WINDOW; i++) {
			uint64_t *p = &r->slot[(home + (size_t)i) & r->mask];
			uint64_t w = __atomic_load_n(p, __ATOMIC_ACQUIRE), tat = w & TAT_MASK;

			if (w && w >> TAT_BITS == tag) {
				if (tat < now_ms)
					tat = now_ms;
				if (tat - now_ms > limit)
					return 0;
				if (__atomic_compare_exchange_n(p, &w, tag << TAT_BITS |
								((tat + r->interval) & TAT_MASK),
								0, __ATOMIC_ACQ_REL,
								__ATOMIC_ACQUIRE))
					return 1;
				break;  /* raced with another login of it: again */
			}
			if (!free_slot && (!w || tat <= now_ms)) {
				free_slot = p;
				free_word = w;
			}
		}
		if (i < CREDRATE_WINDOW)
			continue;
		if (!free_slot) {
			__atomic_fetch_add(&r->overflows, 1, __ATOMIC_RELAXED);
			return 1;
		}
		/* Two first logins of one credential may both land here and
		 * claim different free slots: each gets one token from a full
		 * burst, which the limit tolerates. */
		if (__atomic_compare_exchange_n(free_slot, &free_word,
						tag << TAT_BITS | ((now_ms + r->interval) & TAT_MASK),
						0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 1;
	}
}

uint64_t credrate_overflows(const struct credrate *r)
{
	return __atomic_load_n(&r->overflows, __ATOMIC_RELAXED);
}
