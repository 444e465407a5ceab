/*
 * replay.h - the shared cache of assertion ids (jti) seen within their
 * validity, so a replayed assertion is refused (RFC 7523 §3 item 7).
 *
 * Shared by every worker thread without locks: a fixed open-addressing
 * table of 64-bit words, each packing 32 bits of the id's hash with the
 * entry's expiry (32-bit seconds since the epoch), claimed with a single
 * compare-and-swap.  The slot index comes from other bits of the hash, so
 * an entry is identified by about 32 + log2(slots) bits.  Expired entries
 * are reused in place; nothing else ever deletes.  When every slot of a
 * probe window holds a live entry the cache is full and the check fails
 * closed (IG_EBLOCKED: the caller answers 503).
 */
#ifndef IG_REPLAY_H
#define IG_REPLAY_H
#include <stddef.h>
#include <stdint.h>

struct replay_cache;

/* <slots> is rounded up to a power of two. */
struct replay_cache *replay_new(size_t slots);
void replay_free(struct replay_cache *c);

/*
 * Record <id> (e.g. credential id + ' ' + jti) as seen until <exp>.
 * Returns IG_OK if it was not seen before (now recorded), IG_EPROTO if a live
 * entry with the same id exists (a replay), IG_EBLOCKED if the probe window
 * is full of live entries.  Thread-safe, lock-free.
 */
int replay_check_and_insert(struct replay_cache *c, const void *id,
			    size_t len, int64_t exp, int64_t now);

#endif
