/*
 * replay.h - the shared cache of assertion ids (jti) seen within their
 * validity, so a replayed assertion is refused (RFC 7523 §3 item 7).
 *
 * Shared by every worker thread without locks: a fixed open-addressing
 * table of 64-bit words, each packing 31 bits of the id's hash and a flag
 * with the entry's expiry (32-bit seconds since the epoch), claimed with a
 * compare-and-swap.  The slot index comes from other bits of the hash, so
 * an entry is identified by about 31 + log2(slots / REPLAY_WINDOW) bits.
 * Expired entries are reused in place; nothing else ever deletes.  When
 * every slot of a probe window holds a live entry the cache is full and
 * the check fails closed (IG_EBLOCKED: the caller answers 503).
 *
 * Details of the word (replay.c has the full argument): the upper half is
 * 31 bits of keyed hash (SipHash-2-4, random key per cache, never 0) and
 * one "pending" bit used while two threads settle which of them inserted
 * an id first; the lower half is the expiry.  A probe window is
 * REPLAY_WINDOW slots, so a false "replayed" answer for a fresh id has a
 * probability of about REPLAY_WINDOW / 2^31 per check at worst, far less in
 * a sparse table (a scan stops at the first empty slot): size the cache
 * for a few times the live ids (logins/s x assertion lifetime).
 */
#ifndef IG_REPLAY_H
#define IG_REPLAY_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"

#define REPLAY_WINDOW 32        /* linear probe window, in slots */

struct replay_cache;

/* <slots> is rounded up to a power of two, at least REPLAY_WINDOW; 8 bytes
 * each, zeroed lazily by the kernel.  NULL if out of memory or if the
 * kernel gives no random key. */
struct replay_cache *replay_new(size_t slots);
void replay_free(struct replay_cache *c);

/*
 * The cache kept in the file <path> (mode 0600), so single use survives a
 * restart: its table is mapped shared, and the page cache keeps every
 * record when the process stops, however it stops.  What can still lose
 * records is a machine that goes down (the pages not yet written back) or
 * a table that is not the old one (the file missing, damaged, or made for
 * another <slots>).  Then replay_lost_at() says from when records may be
 * missing: the boot time of the running kernel, or <now> for a new table
 * (0 if <fresh>: a new state dir, which never had one).  The instant is
 * kept in the file, so a further restart still knows it.  Callers refuse
 * any id made before that instant (plus their clock skew) and not found
 * in the cache: it may have been used already.
 * NULL with <why> on failure.
 */
struct replay_cache *replay_open(const char *path, size_t slots, int64_t now,
				 int fresh, const char **why);
/* Records made before this time (seconds since the epoch) may be missing;
 * 0: none are (replay_new's caches: 0). */
int64_t replay_lost_at(const struct replay_cache *c);
size_t replay_slots(const struct replay_cache *c);
/* Live entries at <now>: O(slots), for metrics and readiness. */
size_t replay_live(const struct replay_cache *c, int64_t now);
/* Tests only: replace the random hash key (before any insert) so a run's
 * tag collisions, and so its results, are the same every time. */
void replay_set_key(struct replay_cache *c, const uint8_t key[16]);

/*
 * Record <id> (e.g. credential id + ' ' + jti) as seen until <exp>.
 * Returns IG_OK if it was not seen before (now recorded), IG_EPROTO if a live
 * entry with the same id exists (a replay), IG_EBLOCKED if the probe window
 * is full of live entries.  Thread-safe, lock-free.
 *
 * An entry is live while now < exp.  Callers refuse expired assertions
 * first: exp <= now, now < 0 or now >= 2^32 is IG_EUSAGE.  An <exp> past
 * 2^32 - 1 (year 2106) is clamped to it; callers bound assertion lifetimes.
 * Concurrent inserts of one id get exactly one IG_OK as long as every
 * caller's <now> is below the <exp> of the others' entries, i.e. while
 * the id is protected at all.
 */
IG_MUST_CHECK int replay_check_and_insert(struct replay_cache *c, const void *id,
			    size_t len, int64_t exp, int64_t now);

#endif
