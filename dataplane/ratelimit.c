/*
 * ratelimit.c - per-source token buckets in a fixed set-associative table.
 *
 * A bucket is kept as "credit" in nanoseconds rather than as a fractional
 * token count: one request costs cost_ns = 1e9 / rate of credit, credit
 * accrues one per nanosecond elapsed, and it is capped at burst * cost_ns.
 * This is the classic token bucket in integer arithmetic, so refills are
 * exact and tests with synthetic time are deterministic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rand.h"
#include "../common/result.h"
#include "ratelimit.h"

struct rl_entry {
	uint8_t key[16];
	uint8_t key_len;
	uint8_t used;
	uint64_t credit_ns;
	uint64_t last_ns;       /* last seen: refills and eviction order */
};

struct ratelimit {
	struct rl_entry *e;
	size_t nslots;
	size_t set_mask;
	uint64_t cost_ns, cap_ns;
	uint64_t seed;
};

struct ratelimit *ratelimit_new(size_t slots, double rate_per_s, double burst)
{
	struct ratelimit *rl;
	size_t n = RATELIMIT_WAYS;
	double cost, cap;

	/* written so that NaNs fail too */
	if (!(rate_per_s >= 1e-3 && rate_per_s <= 1e9 && burst >= 1))
		return NULL;
	cost = nearbyint(1e9 / rate_per_s);
	cap = cost * burst;
	if (!(cap <= 4e18))
		return NULL;
	while (n < slots) {
		if (n > SIZE_MAX / 2 / sizeof(struct rl_entry))
			return NULL;
		n <<= 1;
	}
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->e = calloc(n, sizeof(struct rl_entry));
	if (!rl->e) {
		free(rl);
		return NULL;
	}
	/* A keyed hash, so that a client cannot choose addresses that crowd
	 * one set and keep evicting each other into fresh buckets.  Without
	 * the key, the hash is not worth more than that. */
	if (ig_random(&rl->seed, sizeof(rl->seed)) != IG_OK) {
		ratelimit_free(rl);
		return NULL;
	}
	rl->nslots = n;
	rl->set_mask = n / RATELIMIT_WAYS - 1;
	rl->cost_ns = (uint64_t)cost;
	rl->cap_ns = (uint64_t)cap;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->e);
	free(rl);
}

/* A 64-bit finaliser (the SplitMix64 constants). */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The key a source is counted under (see ratelimit.h): its length. */
static size_t rl_key(const uint8_t *addr, size_t len, uint8_t key[16])
{
	memset(key, 0, 16);
	if (len == 16 && !memcmp(addr, v4mapped, sizeof(v4mapped))) {
		memcpy(key, addr + 12, 4);
		return 4;
	}
	if (len == 16)
		len = 8;        /* the /64 */
	if (len)
		memcpy(key, addr, len);
	return len;
}

static struct rl_entry *rl_find(struct ratelimit *rl, const uint8_t key[16],
				size_t key_len, uint64_t now_ns)
{
	uint64_t w0, w1;
	struct rl_entry *set, *victim = NULL;

	memcpy(&w0, key, 8);
	memcpy(&w1, key + 8, 8);
	set = &rl->e[(mix64(mix64(rl->seed ^ key_len ^ w0) ^ w1) & rl->set_mask) *
		     RATELIMIT_WAYS];
	for (int i = 0; i < RATELIMIT_WAYS; i++) {
		struct rl_entry *e = &set[i];

		if (e->used && e->key_len == key_len && !memcmp(e->key, key, 16))
			return e;
		if (!victim || (victim->used &&
				(!e->used || e->last_ns < victim->last_ns)))
			victim = e;
	}
	/* Evict the least recently seen: it starts over with a full bucket
	 * if it comes back. */
	memcpy(victim->key, key, 16);
	victim->key_len = (uint8_t)key_len;
	victim->used = 1;
	victim->credit_ns = rl->cap_ns;
	victim->last_ns = now_ns;
	return victim;
}

int ratelimit_take(struct ratelimit *rl, const void *addr, size_t addr_len,
		   uint64_t now_ns)
{
	struct rl_entry *e;
	uint8_t key[16];
	size_t key_len;

	if (!rl || addr_len > 16 || (!addr && addr_len))
		return IG_EUSAGE;
	key_len = rl_key(addr, addr_len, key);
	e = rl_find(rl, key, key_len, now_ns);
	if (now_ns > e->last_ns) {
		uint64_t elapsed = now_ns - e->last_ns;

		if (elapsed >= rl->cap_ns - e->credit_ns)
			e->credit_ns = rl->cap_ns;
		else
			e->credit_ns += elapsed;
		e->last_ns = now_ns;
	}
	if (e->credit_ns < rl->cost_ns)
		return 0;
	e->credit_ns -= rl->cost_ns;
	return 1;
}

size_t ratelimit_tracked(const struct ratelimit *rl)
{
	size_t n = 0;

	for (size_t i = 0; rl && i < rl->nslots; i++)
		n += rl->e[i].used;
	return n;
}
