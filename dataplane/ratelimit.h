/*
 * ratelimit.h - a per-source-address token bucket (HTTP 429, RFC 6585 §4).
 *
 * One table per worker thread: no sharing, no locks, no allocation after
 * ratelimit_new().  Dividing the server-wide rate among the workers is the
 * caller's business.  Sans-I/O: time is the caller's monotonic clock in
 * nanoseconds.
 *
 * The table is fixed: <slots> entries in sets of RATELIMIT_WAYS, a source
 * hashed (keyed, random key per table) to one set.  A source not in its
 * set takes the place of the set's least recently seen entry, and that
 * evicted source starts again with a full bucket when it returns: under
 * more concurrent sources than slots, limiting weakens (towards allowing),
 * it never refuses a source that is within its rate.
 *
 * Addresses: 4 bytes (IPv4) or 16 (IPv6).  An IPv6 source is limited per
 * /64 (one host usually holds a whole /64 and could otherwise rotate its
 * addresses); an IPv4-mapped IPv6 address (::ffff:a.b.c.d, from a
 * dual-stack socket) counts as the IPv4 address.  Any other length up to
 * 16 bytes is taken as an opaque key; 0 bytes (unknown source) is one
 * shared source.
 */
#ifndef IG_RATELIMIT_H
#define IG_RATELIMIT_H
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WAYS 8

struct ratelimit;

/* <slots> is rounded up to a power of two, at least RATELIMIT_WAYS.  Each
 * source may take <rate_per_s> requests per second on average (between
 * 1e-3 and 1e9) and <burst> (at least 1) at once.  NULL if out of memory
 * or if the arguments are out of range. */
struct ratelimit *ratelimit_new(size_t slots, double rate_per_s, double burst);
void ratelimit_free(struct ratelimit *rl);

/* Take a token for the source <addr> at time <now_ns>: 1 if allowed, 0 if
 * limited (answer 429), IG_EUSAGE if <addr_len> > 16 or <addr> is NULL with
 * a length.  A clock that steps back refills nothing. */
int ratelimit_take(struct ratelimit *rl, const void *addr, size_t addr_len,
		   uint64_t now_ns);

/* Number of sources currently tracked (at most the slot count; O(slots),
 * for metrics and tests). */
size_t ratelimit_tracked(const struct ratelimit *rl);

#endif
