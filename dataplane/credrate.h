/*
 * credrate.h - a rate limit per device credential, shared by every worker.
 *
 * A phone logs in a few times a minute at most; a credential used
 * thousands of times a second is a script, and each of its logins would
 * leave a jti in the replay cache for the assertion's lifetime.  So the
 * login checks this limit before anything is stored, and one credential
 * can fill neither the replay cache nor the HSM queues for the others.
 *
 * GCRA (the generic cell rate algorithm, ITU-T I.371): each credential has
 * a theoretical arrival time (TAT); a request at <now> is allowed when
 * TAT - now <= (burst - 1) x interval, and then TAT = max(TAT, now) +
 * interval.  One 64-bit word per credential holds 24 bits of its keyed
 * hash and its TAT in milliseconds, updated with a compare-and-swap: no
 * lock, no allocation after credrate_new().
 *
 * The table is fixed: a credential's hash picks a window of
 * CREDRATE_WINDOW slots; it takes its own word there, or a word whose TAT
 * has passed (that credential is back to a full burst: forgetting it
 * changes nothing).  A window with neither, under more busy credentials
 * than slots, lets the request through and counts it (a shield, not a
 * control: the replay cache and the queues still bound the harm).
 */
#ifndef IG_CREDRATE_H
#define IG_CREDRATE_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"

#define CREDRATE_WINDOW 8

struct credrate;

/* <slots> rounded up to a power of two (at least CREDRATE_WINDOW); each
 * credential may log in <burst> times at once (1..255) and then once every
 * <interval_ms> (at least 1).  NULL if out of memory or out of range. */
struct credrate *credrate_new(size_t slots, unsigned burst, uint64_t interval_ms);
void credrate_free(struct credrate *r);

/*
 * Take one login of credential <id> at <now_ms> (a monotonic clock shared
 * by the callers).  With <strict> (the replay cache is nearly full) only a
 * credential that used at most half its burst is let through: the one
 * filling the cache is refused, not everyone.  Returns 1 (go on) or 0
 * (over its rate: answer 429).  Thread-safe, lock-free.
 */
IG_MUST_CHECK int credrate_take(struct credrate *r, const void *id, size_t len, uint64_t now_ms,
		  int strict);

/* Requests let through because their window was full of busy credentials. */
uint64_t credrate_overflows(const struct credrate *r);

#endif
