/*
 * audit.h - the tamper-evident audit log of key management and key use.
 *
 * Every key-management action of the security officers' tool (idgate-keys)
 * and every use of a citizen's signing key is appended here: who, what,
 * which key, when, and the result.  Nothing is performed unaudited: when
 * the log cannot take a record (queue full, log failed, log closed) the
 * caller refuses the request (503 / 500) instead.
 *
 * SECRETS NEVER GO INTO THE LOG.  Callers pass labels and key ids (kid),
 * officer and citizen identifiers, never PINs, key material, passwords,
 * OTPs or the data being signed.  The log is readable by auditors.
 *
 * File format: JSON lines, UTF-8, one record per line, each ending "\n".
 * The canonical serialization of a record, the only one audit_verify
 * accepts, is exactly (no spaces, this field order, no other fields):
 *
 *   {"seq":N,"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","actor":"..","action":"..",
 *    "key":"..","result":"..","detail":"..","prev":"<64 hex>"}\n
 *
 * (one line in the file).  seq is a decimal integer without leading zeros,
 * 1 for the first line, consecutive (line n holds seq n).  time is UTC,
 * CLOCK_REALTIME at the moment of audit_append, milliseconds.  Records are
 * in queue order, so times of records appended by different threads may
 * be out of order by a few microseconds; seq is the order.  prev is the
 * lowercase hex SHA-256 of the previous line's bytes including its "\n",
 * 64 zeros for the first line: a hash chain.  Strings are escaped so:
 * '"' -> \", '\' -> \\, \b \f \n \r \t for those five control characters,
 * \u00xx (lowercase hex) for the other bytes below 0x20 and for 0x7f; every
 * other byte is copied (strings must be valid UTF-8, RFC 3629).  actor,
 * action and result are non-empty; key and detail may be empty.  Each
 * string is at most AUDIT_MAX_FIELD bytes before escaping.
 *
 * Head file: "<path>.head" holds {"seq":N,"hash":"<64 hex>"}\n, the seq of
 * the last record and the SHA-256 of its line (seq 0 and 64 zeros for an
 * empty log).  The chain protects every record but the last one; the head
 * protects the tail against truncation or an edit of the last line.  It is
 * rewritten atomically (temporary file, fsync, rename, fsync of the
 * directory) after every batch is written and fdatasync'd.
 *
 * Threat model, honestly: the chain and the head detect accidental damage
 * and an attacker who edits, deletes, reorders or appends lines without
 * recomputing everything after them.  An attacker who can rewrite the whole
 * file AND the head file can forge a consistent history (SHA-256 is not a
 * secret).  Real deployments anchor the head elsewhere: sign it with an HSM
 * key, or ship it to a write-once store or a remote log at every batch; the
 * hook for that is audit_write_head in audit.c.  A crash between a batch's
 * fdatasync and the head update leaves the log ahead of the head, which
 * looks like lines appended by an attacker who chained them on.  audit_open
 * adopts such records when the head is valid and names a record of the
 * chain, every line after it continues the chain, and at most the last line
 * is incomplete (torn: no newline; moved to "<path>.cut.<seq>.<unix ms>"):
 * it records what it did (actor "audit", action "audit.recover") and logs
 * it.  Anything else (a broken chain, records missing, a head that names no
 * record of the chain) is refused until an operator opens the log with
 * AUDIT_OPEN_RECOVER, which records the fact in the log itself.  (The
 * adopted records are exactly what an attacker able to append a valid
 * chain could have written: the anchor below is what tells them apart.)  Records queued by audit_append and not yet
 * written are lost on a crash; only audit_append_sync and audit_flush
 * promise durability.
 *
 * Concurrency: any number of threads call audit_append (lock-free, never
 * blocks: a few atomic operations, a copy into a preallocated slot, and a
 * sem_post only when the writer thread sleeps).  One writer thread per log
 * takes records in batches, assigns seq and prev in queue order, writes a
 * batch with one write(2), fdatasyncs it, updates the head, then wakes the
 * audit_append_sync / audit_flush callers.  One process per log: audit_open
 * takes an exclusive flock(2) on the file.  Memory: about queue_depth *
 * (5 * AUDIT_MAX_FIELD + 64) bytes of slots, allocated by audit_open.
 *
 * The <*why> of audit_open and audit_verify is a static string or a
 * thread-local buffer (it names line numbers and seqs), valid until the next
 * call of either function in the same thread.
 */
#ifndef IG_HSM_AUDIT_H
#define IG_HSM_AUDIT_H
#include <stdbool.h>
#include <stdint.h>

#include "../common/result.h"

#define AUDIT_MAX_FIELD 1024 /* bytes of each string, before escaping */
/* The longest canonical line: every byte of every field escaped as \u00xx
 * (6 bytes), plus 193 bytes of names, seq, time and prev. */
#define AUDIT_MAX_LINE (5 * 6 * AUDIT_MAX_FIELD + 256)
#define AUDIT_MAX_DEPTH (1u << 16)

struct audit_log;

/* One record, as the caller describes it; the strings are copied by
 * audit_append.  actor: "officer:alice", "citizen:<id>", "idgated";
 * action: "key.generate", "key.sign", ...; key: a label or kid, never key
 * material (NULL = ""); result: "ok", "denied", "error:CKR_..."; detail:
 * free text without secrets (NULL = ""). */
struct audit_event {
	const char *actor, *action, *key, *result, *detail;
};

/* audit_open flags. */
enum {
	/*
	 * When the tail check fails, keep the longest valid prefix of the
	 * file (every line canonical, seq consecutive, prev chained), move the
	 * bytes after it to "<path>.cut.<seq>.<unix ms>" (0600), rewrite the
	 * head for that prefix and append, synchronously, a record with actor
	 * "audit", action "audit.recover" and a detail saying what was found.
	 * For the operator, after examining the log; never automatic.
	 */
	AUDIT_OPEN_RECOVER = 1u << 0,
};

/*
 * Open the log at <path> (created with mode 0600 with an empty head if it
 * does not exist) and start its writer thread with a queue of
 * <queue_depth> records (a power of two, 2..AUDIT_MAX_DEPTH).
 *
 * An existing log's tail is checked before anything is appended: the file
 * ends with "\n"; its last line is a canonical record whose prev is the
 * hash of the line before it (64 zeros if it is line 1); the head file
 * names that record's seq and hash (an empty log: no head, or seq 0).  The
 * chain continues with the next seq.  Only the tail is checked (the file
 * may be large): run audit_verify for the whole chain.
 *
 * Returns IG_OK with *out set, or IG_EUSAGE (bad argument, unusable path,
 * log locked by another process), IG_EPROTO (the tail is broken; <*why>
 * says how; see AUDIT_OPEN_RECOVER), IG_ENOMEM, IG_EINTERNAL (an I/O
 * error), with <*why>.
 */
int audit_open(struct audit_log **out, const char *path, unsigned queue_depth,
	       unsigned flags, const char **why);

/*
 * Queue a record without blocking.  Returns IG_OK (queued; it will be
 * written in a batch shortly, but is not yet durable), IG_EBLOCKED (the
 * queue is full: refuse the request, e.g. 503, do not perform it),
 * IG_ECLOSED (audit_close has begun), IG_EINTERNAL (the log failed: a write
 * or fsync error; it stays failed until reopened), IG_EUSAGE (NULL <l> or
 * <ev>, a required string missing or empty, a string over AUDIT_MAX_FIELD
 * bytes or not valid UTF-8).  Control characters are escaped, not refused.
 */
IG_MUST_CHECK int audit_append(struct audit_log *l, const struct audit_event *ev);

/*
 * Queue a record without blocking, like audit_append, and have the writer
 * thread call <done>(<arg>, rc, seq) once it is durable (written,
 * fdatasync'd, in the head: rc IG_OK, seq its seq) or once its write failed
 * (IG_EINTERNAL, seq 0).  <done> is called exactly once when, and only
 * when, IG_OK is returned (audit_shutdown writes everything queued first),
 * on the writer thread, outside any lock of the log: it must not block nor
 * append.  For an event loop that must not answer before a record is
 * durable and must not wait for it either (csc.c: the signatures of a
 * signHash).  Returns the codes of audit_append.
 */
typedef void audit_done_fn(void *arg, int rc, uint64_t seq);
IG_MUST_CHECK int audit_append_notify(struct audit_log *l,
				      const struct audit_event *ev,
				      audit_done_fn *done, void *arg);

/*
 * Append and wait until the record is written and fdatasync'd and the head
 * updated; *seq_out (if not NULL) gets its seq.  Blocks: for the key tool
 * and control threads, never for a dataplane worker.  Waits for room when
 * the queue is full.  Returns IG_OK or the errors of audit_append except
 * IG_EBLOCKED; IG_EINTERNAL also when this record's write failed.
 */
IG_MUST_CHECK int audit_append_sync(struct audit_log *l,
				    const struct audit_event *ev,
				    uint64_t *seq_out);

/* Wait until every record queued before this call is durable.  IG_OK, or
 * IG_EINTERNAL when the log has failed.  Blocks. */
int audit_flush(struct audit_log *l);

/* Refuse new records (audit_append then answers IG_ECLOSED), write and
 * fsync everything queued, stop the writer thread.  <l> stays allocated:
 * appenders racing with the shutdown get IG_ECLOSED or are written, and
 * audit_get_stats still works.  Idempotent.  Called from a control thread,
 * not concurrently with audit_close. */
void audit_shutdown(struct audit_log *l);

/* audit_shutdown if not done, then close the files (releasing the lock)
 * and free <l>.  No other thread may use <l> any more.  NULL is a no-op. */
void audit_close(struct audit_log *l);

/* Counters since audit_open, relaxed: a snapshot. */
struct audit_stats {
	uint64_t appended;     /* records queued (audit_append and _sync) */
	uint64_t dropped_full; /* audit_append answered IG_EBLOCKED */
	uint64_t written;      /* records written, fdatasync'd, in the head */
	uint64_t lost;         /* queued but not written: the log had failed */
	uint64_t batches;      /* write(2) calls of whole batches */
	uint64_t fsyncs;       /* fdatasync/fsync calls (log, head, directory) */
	uint64_t queued;       /* waiting for the writer now */
	uint64_t last_seq;     /* seq of the last record written */
	bool failed;           /* a write or fsync failed: appends refused */
};
void audit_get_stats(struct audit_log *l, struct audit_stats *st);

/*
 * Check the whole log at <path> and its head file: each line is a canonical
 * record (jansson parse with JSON_REJECT_DUPLICATES, then re-serialized and
 * compared byte for byte), seq n on line n, prev the hash of line n - 1,
 * and the head names the last record's seq and hash.  *records (if not
 * NULL) gets the number of records that passed.  On IG_EPROTO,
 * *first_bad_seq (if not NULL) gets the seq of the first record that is
 * broken, missing or not covered by the head, and <*why> names its line and
 * seq.  Run it on a log no process is writing (a live log may show a batch
 * half written or the head not yet updated).  Returns IG_OK, IG_EPROTO,
 * IG_EUSAGE (cannot open <path>), IG_EINTERNAL (read error), IG_ENOMEM.
 */
int audit_verify(const char *path, uint64_t *records, uint64_t *first_bad_seq,
		 const char **why);

/*
 * For tests only: with <on>, return once the writer thread is parked, and
 * keep it parked (records queue up but nothing is taken from the queue)
 * until called again with !<on> or until audit_close.
 */
void audit_test_pause(struct audit_log *l, bool on);

#endif
