/*
 * replay.c - the lock-free jti cache (RFC 7523 §3 item 7).
 *
 * A word of the table:
 *
 *   63            33   32   31             0
 *   +---------------+----+----------------+
 *   | tag (31 bits) | P  | exp (seconds)  |
 *   +---------------+----+----------------+
 *
 * - 0 is an empty slot.  Words never become 0 again, so an empty slot ends
 *   every probe sequence that reached it (see replay_claim()).
 * - tag is 31 bits of the id's keyed hash, never 0 (a 0 hash is mapped to
 *   1); the slot index comes from the low bits of the same hash.
 * - P ("pending") marks an entry whose inserter has not yet settled with
 *   concurrent inserters of the same id (see replay_settle()).
 * - A "dead" word has tag 0 and keeps its exp: an entry that lost the
 *   settling.  It matches no id and, like any entry, its slot is reused
 *   only once its exp has passed.
 * - An entry is live while now < exp; the empty word (exp 0) never is.
 *
 * Every access is __ATOMIC_SEQ_CST, not merely acquire/release: settling
 * is a store-buffering pattern (each thread writes its own slot, then reads
 * the other's), which acquire/release alone lets both threads miss.  On
 * x86-64 the CAS is a locked instruction and a seq_cst load a plain load,
 * so this costs nothing there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/rand.h"
#include "../common/result.h"
#include "../common/siphash.h"
#include "replay.h"

#define W_PENDING (UINT64_C(1) << 32)
#define W_TAG_SHIFT 33
#define W_EXP_MASK UINT64_C(0xffffffff)

struct replay_cache {
	uint64_t *slot;
	size_t mask;
	uint8_t key[16];
	void *map;              /* replay_open: the file's mapping, else NULL */
	size_t map_len;
	int64_t lost_at;
};

/*
 * The file of replay_open: a header page, then the table.  The table is
 * mapped shared, so every insert is a store into the page cache, which
 * outlives the process (SIGTERM, kill -9, a crash) at no cost per insert;
 * only the header is written with write() and fsync().
 */
#define FILE_MAGIC "idgate-replay-1"
#define FILE_HEAD 4096
struct file_head {
	char magic[16];
	uint64_t slots;
	uint8_t key[16];
	char boot_id[40];       /* the kernel's boot that wrote the table */
	int64_t lost_at;        /* records made before this may be missing */
};

/* --- the table ------------------------------------------------------------ */

static size_t table_slots(size_t slots)
{
	size_t n = REPLAY_WINDOW;

	while (n < slots) {
		if (n > SIZE_MAX / 2 / sizeof(uint64_t))
			return 0;
		n <<= 1;
	}
	return n;
}

struct replay_cache *replay_new(size_t slots)
{
	struct replay_cache *c;
	size_t n = table_slots(slots);

	if (!n)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	/* The key keeps ids' slots and tags unpredictable, so a client cannot
	 * pick jtis that pile into one window and fill it. */
	if (ig_random(c->key, sizeof(c->key)) != IG_OK) {
		free(c);
		return NULL;
	}
	c->slot = calloc(n, sizeof(uint64_t));
	if (!c->slot) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

/* The running kernel's boot id and boot time (seconds since the epoch). */
static int this_boot(char id[40], int64_t *btime)
{
	char line[128];
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	int ok = 0;

	memset(id, 0, 40);
	if (f) {
		ok = fgets(id, 40, f) != NULL;
		fclose(f);
	}
	*btime = -1;
	if ((f = fopen("/proc/stat", "re"))) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "btime %ld", btime) == 1)
				break;
		fclose(f);
	}
	return ok && *btime > 0 ? IG_OK : IG_EINTERNAL;
}

struct replay_cache *replay_open(const char *path, size_t slots, int64_t now,
				 int fresh, const char **why)
{
	struct replay_cache *c = NULL;
	struct file_head h, old;
	char boot[40];
	int64_t btime;
	size_t n = table_slots(slots), len;
	struct stat st;
	int fd, same = 0;

	if (!n) {
		*why = "replay_slots is too large";
		return NULL;
	}
	len = FILE_HEAD + n * sizeof(uint64_t);
	if (this_boot(boot, &btime) < 0) {
		*why = "cannot read the kernel's boot id and time (/proc)";
		return NULL;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*why = "cannot open the replay file";
		goto fail;
	}
	memset(&old, 0, sizeof(old));
	if ((size_t)st.st_size == len &&
	    pread(fd, &old, sizeof(old), 0) == (ssize_t)sizeof(old) &&
	    !memcmp(old.magic, FILE_MAGIC, sizeof(FILE_MAGIC)) && old.slots == n)
		same = 1;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, FILE_MAGIC, sizeof(FILE_MAGIC));
	h.slots = n;
	memcpy(h.boot_id, boot, sizeof(h.boot_id));
	if (same) {
		/* Same kernel: every record is in the page cache, whatever
		 * happened to the process.  Another boot: the records written
		 * back before the machine went down are there, the rest may
		 * not be, and all of them were made before it booted. */
		memcpy(h.key, old.key, sizeof(h.key));
		h.lost_at = old.lost_at;
		if (memcmp(old.boot_id, boot, sizeof(boot)) && btime > h.lost_at)
			h.lost_at = btime;
	} else {
		/* A new table: nothing of the old one (none, resized, damaged)
		 * can be trusted, unless there never was one. */
		if (ig_random(h.key, sizeof(h.key)) != IG_OK) {
			*why = "no random key for the replay cache";
			goto fail;
		}
		h.lost_at = fresh ? 0 : now;
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)len) < 0) {
			*why = "cannot size the replay file";
			goto fail;
		}
	}
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || fsync(fd) < 0) {
		*why = "cannot write the replay file's header";
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		*why = "out of memory";
		goto fail;
	}
	c->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->map == MAP_FAILED) {
		*why = "cannot map the replay file";
		free(c);
		c = NULL;
		goto fail;
	}
	c->map_len = len;
	c->slot = (uint64_t *)((char *)c->map + FILE_HEAD);
	c->mask = n - 1;
	c->lost_at = h.lost_at;
	memcpy(c->key, h.key, sizeof(c->key));
fail:
	memset(&h, 0, sizeof(h));
	memset(&old, 0, sizeof(old));
	if (fd >= 0)
		close(fd);
	return c;
}

int64_t replay_lost_at(const struct replay_cache *c)
{
	return c->lost_at;
}

size_t replay_slots(const struct replay_cache *c)
{
	return c->mask + 1;
}

void replay_set_key(struct replay_cache *c, const uint8_t key[16])
{
	memcpy(c->key, key, sizeof(c->key));
}

void replay_free(struct replay_cache *c)
{
	if (!c)
		return;
	if (c->map)
		munmap(c->map, c->map_len);
	else
		free(c->slot);
	memset(c->key, 0, sizeof(c->key));
	free(c);
}

static inline uint32_t w_tag(uint64_t w)
{
	return (uint32_t)(w >> W_TAG_SHIFT);
}

static inline int w_live(uint64_t w, uint32_t now)
{
	return (uint32_t)(w & W_EXP_MASK) > now;
}

static inline uint64_t *slot_at(struct replay_cache *c, size_t home, int i)
{
	return &c->slot[(home + (size_t)i) & c->mask];
}

static inline uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline int cas(uint64_t *p, uint64_t *expect, uint64_t want)
{
	return __atomic_compare_exchange_n(p, expect, want, 0, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

/*
 * Look for a live entry of <tag> in the window at <home>; if there is none,
 * claim the first slot that holds no live entry with the pending word
 * <mine>.  Returns the claimed position in the window (0..REPLAY_WINDOW-1),
 * IG_EPROTO if a live entry of <tag> exists (committed or still pending:
 * either way some other insert of this id is, or will be, the one that
 * succeeded), IG_EBLOCKED if every slot of the window is live.
 *
 * The scan stops at the first empty slot: an entry is always written at
 * the first non-live slot its inserter saw, every slot before it was
 * non-empty then, and words never return to empty, so no entry of this
 * window lies beyond an empty slot... except one written by a concurrent
 * inserter, which replay_settle() deals with.
 */
static int replay_claim(struct replay_cache *c, size_t home, uint32_t tag,
			uint64_t mine, uint32_t now)
{
	for (;;) {
		uint64_t old = 0, w;
		int pos = -1;

		for (int i = 0; i < REPLAY_WINDOW; i++) {
			w = load(slot_at(c, home, i));
			if (w_live(w, now)) {
				if (w_tag(w) == tag)
					return IG_EPROTO;
				continue;
			}
			if (pos < 0) {
				pos = i;
				old = w;
			}
			if (w == 0)
				break;
		}
		if (pos < 0)
			return IG_EBLOCKED;
		/* Claim from the exact word we judged free: if anyone changed
		 * it since, the CAS fails and we look again (someone else made
		 * progress, so this loop is lock-free). */
		if (cas(slot_at(c, home, pos), &old, mine))
			return pos;
	}
}

/*
 * Two inserts of one id normally meet on the same slot and one CAS fails.
 * They can claim different slots when their clocks disagree about whether
 * some other entry has expired: the thread with the later <now> reuses that
 * slot while the other skips it.  Reads alone cannot settle who was first
 * (two threads each writing its own word and reading the other's cannot
 * agree by reads: the consensus number of a register is 1), so settling
 * uses a CAS on one shared word, the pending entry of the later position:
 *
 * After claiming position <pos> with a pending word, scan the window up to
 * its first empty slot for other live entries of the same tag ("twins"):
 *  - a committed twin, or a pending twin at a lower position: it has
 *    precedence; withdraw our entry (make it dead) and answer IG_EPROTO;
 *  - a pending twin at a higher position: we have precedence; kill it by
 *    CAS from its pending word to dead.  If that CAS fails the word changed
 *    (committed, withdrawn, killed): look at it again.
 * Then commit our own entry by CAS from our pending word to the committed
 * one; if that fails, a twin of lower position killed it: IG_EPROTO.
 *
 * At most one IG_OK: let A (position a) and B (position b > a) both commit.
 * All operations are in one total order (seq_cst).  Each thread's scan lies
 * between its claim and its commit.  If A's scan read slot b after B's
 * claim, A saw B pending (then A killed it, or the kill failed because B
 * had committed or withdrawn; B could not commit after a kill, and A
 * would not commit after seeing B committed) or saw B committed (A loses):
 * contradiction.  Otherwise A's read of b came before B's claim, so B's
 * claim, and B's scan, came after A's claim: B saw A pending at a lower
 * position, or committed, and withdrew: contradiction.
 *
 * Stopping at an empty slot e loses nothing: if one of them, X, stops at e
 * before the other's position, the other's pre-scan saw e non-empty, so it
 * read e after X did and claimed after X's claim; its scan then reaches X's
 * slot (every slot before a claimed one stays non-empty) after X's claim,
 * which is one of the two cases above.
 *
 * At least one IG_OK: the entry of lowest position among those claimed for
 * the id can be killed only by a lower one, so the lowest ever claimed
 * commits unless it saw a committed twin.  A thread that answered
 * IG_EPROTO in replay_claim() saw a live twin, so such a lowest one exists.
 *
 * ABA: a CAS from a pending word P could wrongly succeed only if P's slot
 * were killed or withdrawn and then claimed again with an identical word.
 * A dead slot is reused only once now >= its exp, and a new entry needs
 * exp > now, so the new word's exp differs from P's.
 */
static int replay_settle(struct replay_cache *c, size_t home, uint32_t tag,
			 int pos, uint64_t mine, uint32_t now)
{
	uint64_t *own = slot_at(c, home, pos), expect;

	for (int i = 0; i < REPLAY_WINDOW; i++) {
		uint64_t *p = slot_at(c, home, i);
		uint64_t w = load(p);

		if (w == 0)
			break;
		if (i == pos)
			continue;
		while (w_live(w, now) && w_tag(w) == tag) {
			if (!(w & W_PENDING) || i < pos) {
				expect = mine;
				cas(own, &expect, mine & W_EXP_MASK);
				return IG_EPROTO;
			}
			if (cas(p, &w, w & W_EXP_MASK))
				break;
		}
	}
	expect = mine;
	if (cas(own, &expect, mine & ~W_PENDING))
		return IG_OK;
	return IG_EPROTO;
}

int replay_check_and_insert(struct replay_cache *c, const void *id,
			    size_t len, int64_t exp, int64_t now)
{
	uint64_t h, mine;
	uint32_t tag;
	size_t home;
	int pos;

	if (!c || (!id && len) || now < 0 || now >= (int64_t)UINT32_MAX ||
	    exp <= now)
		return IG_EUSAGE;
	if (exp > (int64_t)UINT32_MAX)
		exp = UINT32_MAX;
	h = siphash24_key(c->key, id, len);
	tag = (uint32_t)(h >> W_TAG_SHIFT);
	if (!tag)
		tag = 1;        /* tag 0 marks dead words */
	home = (size_t)h & c->mask;
	mine = (uint64_t)tag << W_TAG_SHIFT | W_PENDING | (uint64_t)exp;

	pos = replay_claim(c, home, tag, mine, (uint32_t)now);
	if (pos < 0)
		return pos;
	return replay_settle(c, home, tag, pos, mine, (uint32_t)now);
}

size_t replay_live(const struct replay_cache *c, int64_t now)
{
	size_t live = 0;

	for (size_t i = 0; i <= c->mask; i++) {
		uint64_t w = __atomic_load_n(&c->slot[i], __ATOMIC_RELAXED);

		live += (int64_t)(w & W_EXP_MASK) > now && (w >> W_TAG_SHIFT);
	}
	return live;
}
