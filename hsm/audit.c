/*
 * audit.c - the tamper-evident audit log (see audit.h for the contract and
 * the file format).
 *
 * Data flow:
 *
 *   appender --pop--> free slot ring --copy event in--> queue ring
 *        --sem_post (only if the writer sleeps)--> writer thread:
 *   pop a batch, give seq and prev, serialize, write(2) once, fdatasync,
 *   rewrite the head, wake audit_append_sync / audit_flush callers.
 *
 * Appenders never lock and never block: both rings are hsm/mpmc.h (bounded,
 * lock-free), the slots are preallocated, and the wake-up is a sem_post
 * that only happens when the writer said it is about to sleep.
 *
 * The same canonical serializer (audit_format) writes records and checks
 * them: audit_verify parses a line with jansson, serializes the values it
 * got again and requires the very same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "../common/hex.h"
#include "../common/json.h"
#include "../common/log.h"
#include "audit.h"
#include "mpmc.h"

#define AUDIT_NFIELDS 5
#define AUDIT_BATCH_MAX 512            /* records per write(2) */
#define AUDIT_BATCH_BYTES (256 * 1024) /* >= AUDIT_MAX_LINE */
#define AUDIT_HEAD_MAX 128             /* {"seq":N,"hash":"<64>"}\n is <= 110 */
#define AUDIT_TIME_LEN 24              /* YYYY-MM-DDTHH:MM:SS.mmmZ */
/* Enough to hold the last two lines of a log. */
#define AUDIT_TAIL_BYTES (2 * AUDIT_MAX_LINE + 2)

/* JSON names of the strings of struct audit_event, in line order. */
static const char *const audit_names[AUDIT_NFIELDS] = {
	"actor", "action", "key", "result", "detail",
};
/* actor, action and result must be non-empty. */
static const bool audit_required[AUDIT_NFIELDS] = { true, true, false, true,
						    false };
static const uint8_t audit_zero_hash[32];

/* A sync appender's ticket, on its stack; completed under <mu> by
 * audit_sync_done. */
struct audit_waiter {
	struct audit_log *log;
	uint64_t seq;
	int rc;
	bool done;
};

/* Whom the writer tells that a record is durable (or failed). */
struct audit_notify {
	audit_done_fn *done; /* NULL: nobody */
	void *arg;
};

/* One queued record: the event's strings, copied (not NUL-terminated). */
struct audit_slot {
	struct audit_notify notify;
	int64_t time_ms; /* CLOCK_REALTIME at audit_append */
	uint16_t len[AUDIT_NFIELDS];
	char data[AUDIT_NFIELDS * AUDIT_MAX_FIELD];
};

struct audit_log {
	/* Appenders' side. */
	_Alignas(HSM_CACHELINE) atomic_uint appenders; /* inside an append */
	atomic_int closing, failed;
	atomic_uint_least64_t pushed; /* records queued: stats.appended */
	atomic_uint_least64_t dropped_full;
	/* 1 while the writer is about to sleep on <wake>: see audit_idle. */
	_Alignas(HSM_CACHELINE) atomic_int sleeping;
	atomic_bool pause; /* test hook: see audit_test_pause */
	struct hsm_mpmc free_slots; /* slots appenders can fill */
	struct hsm_mpmc queue;      /* filled slots, in queue order */
	struct audit_slot *slots;
	unsigned depth;
	sem_t wake;

	/* The writer's own state (and audit_open's before it starts). */
	_Alignas(HSM_CACHELINE) uint64_t seq; /* of the last line in the file */
	uint8_t prev[32];   /* SHA-256 of that line (zeros: none) */
	off_t size;         /* bytes of whole lines in the file */
	uint64_t popped;    /* records taken from <queue> */
	char *batch;        /* AUDIT_BATCH_BYTES */
	size_t blen;
	struct audit_notify bn[AUDIT_BATCH_MAX];
	int fd, dirfd;
	char *path, *head_path, *tmp_path;
	pthread_t writer;
	bool have_sem, have_sync, have_writer;
	atomic_uint_least64_t written, lost, batches, fsyncs, last_seq;

	/* Shared with sync appenders and flushers, under <mu>. */
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* progress: done_pos moved, or parked */
	uint64_t done_pos;   /* queue positions popped and committed */
	bool parked;
};

/* ---- small helpers --------------------------------------------------- */

/* Why-strings that name lines and seqs; see audit.h. */
static __thread char audit_why_buf[640];

static int audit_fail(const char **why, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int audit_fail(const char **why, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(audit_why_buf, sizeof(audit_why_buf), fmt, ap);
	va_end(ap);
	if (why)
		*why = audit_why_buf;
	return err;
}

/* snprintf that may truncate: for text we compose into a bounded field. */
static void audit_textf(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void audit_textf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

static void audit_sha256(const void *p, size_t n, uint8_t out[32])
{
	(void)mbedtls_sha256(p, n, out, 0);
}

static void audit_hex(const uint8_t in[32], char out[64])
{
	hex_encode(in, 32, out);
}

/* 64 lowercase hex digits -> 32 bytes; false for anything else. */
static bool audit_unhex(const char *s, size_t n, uint8_t out[32])
{
	return n == 64 && hex_decode(s, n, out, 32) == 32;
}

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if invalid. */
static size_t audit_utf8_seq(const uint8_t *s, size_t n)
{
	uint32_t cp, min;
	size_t k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		k = 1, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		k = 2, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		k = 3, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n <= k)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k + 1;
}

static bool audit_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;

	for (size_t i = 0, k; i < n; i += k) {
		k = audit_utf8_seq(p + i, n - i);
		if (!k)
			return false;
	}
	return true;
}

/* Replace each byte that does not start valid UTF-8 with '?' (for text we
 * compose from paths and truncate with snprintf). */
static void audit_utf8_sanitize(char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0, k; i < n; i += k) {
		k = audit_utf8_seq((const uint8_t *)s + i, n - i);
		if (!k) {
			s[i] = '?';
			k = 1;
		}
	}
}

/* ---- the canonical serialization (audit.h, "File format") ------------- */

struct audit_fields {
	const char *s[AUDIT_NFIELDS];
	size_t len[AUDIT_NFIELDS];
};

static char *audit_put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *audit_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* The escaping of audit.h; at most 6 output bytes per input byte. */
static char *audit_put_escaped(char *p, const char *s, size_t n)
{
	return p + json_escape(p, s, n);
}

/* Serialize one record into <out> (AUDIT_MAX_LINE bytes; each field is at
 * most AUDIT_MAX_FIELD bytes, the caller checked), "\n" included; returns
 * its length. */
static size_t audit_format(char *out, uint64_t seq, const char *time,
			   size_t time_len, const struct audit_fields *f,
			   const uint8_t prev[32])
{
	char *p = out;

	p = audit_put(p, "{\"seq\":");
	p = audit_put_u64(p, seq);
	p = audit_put(p, ",\"time\":\"");
	p = audit_put_escaped(p, time, time_len);
	for (int i = 0; i < AUDIT_NFIELDS; i++) {
		p = audit_put(p, "\",\"");
		p = audit_put(p, audit_names[i]);
		p = audit_put(p, "\":\"");
		p = audit_put_escaped(p, f->s[i], f->len[i]);
	}
	p = audit_put(p, "\",\"prev\":\"");
	audit_hex(prev, p);
	p += 64;
	p = audit_put(p, "\"}\n");
	return (size_t)(p - out);
}

/* {"seq":N,"hash":"<64 hex>"}\n into <out> (AUDIT_HEAD_MAX bytes). */
static size_t audit_format_head(char *out, uint64_t seq, const uint8_t hash[32])
{
	char *p = out;

	p = audit_put(p, "{\"seq\":");
	p = audit_put_u64(p, seq);
	p = audit_put(p, ",\"hash\":\"");
	audit_hex(hash, p);
	p += 64;
	p = audit_put(p, "\"}\n");
	return (size_t)(p - out);
}

/* <v> as exactly <width> decimal digits (the low ones). */
static char *audit_put_digits(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* UTC with milliseconds: YYYY-MM-DDTHH:MM:SS.mmmZ (<ms> >= 0: after 1970). */
static void audit_format_time(int64_t ms, char out[AUDIT_TIME_LEN + 1])
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	char *p = out;

	gmtime_r(&sec, &tm);
	p = audit_put_digits(p, (unsigned)tm.tm_year + 1900, 4);
	*p++ = '-';
	p = audit_put_digits(p, (unsigned)tm.tm_mon + 1, 2);
	*p++ = '-';
	p = audit_put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = audit_put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = audit_put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = audit_put_digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = audit_put_digits(p, (unsigned)(ms % 1000), 3);
	*p++ = 'Z';
	*p = '\0';
}

/* Does <s> have the shape of audit_format_time's output? */
static bool audit_time_valid(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (n != AUDIT_TIME_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	}
	return true;
}

/* ---- parsing: one line, the head file ---------------------------------- */

struct audit_rec {
	uint64_t seq;
	uint8_t prev[32];
};

/*
 * Check that <line> (<len> bytes, ending "\n") is a canonical record and
 * return its seq and prev.  <scratch> holds AUDIT_MAX_LINE bytes.  IG_OK or
 * IG_EPROTO with a static <*why> (jansson's failure to allocate looks like
 * a bad line too: verify errs on the side of "broken").
 */
static int audit_parse_line(const char *line, size_t len, char *scratch,
			    struct audit_rec *rec, const char **why)
{
	struct audit_fields f;
	const char *tm;
	json_error_t jerr;
	json_t *o, *v;
	json_int_t seq;
	int rc = IG_EPROTO;

	o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		*why = "not valid JSON (or a duplicate name)";
		return IG_EPROTO;
	}
	*why = "not an object of exactly seq, time, actor, action, key, "
	       "result, detail, prev";
	if (!json_is_object(o) || json_object_size(o) != 8)
		goto out;
	v = json_object_get(o, "seq");
	*why = "seq is not a positive integer";
	if (!json_is_integer(v) || (seq = json_integer_value(v)) < 1)
		goto out;
	v = json_object_get(o, "time");
	*why = "time is not a string YYYY-MM-DDTHH:MM:SS.mmmZ";
	if (!json_is_string(v) ||
	    !audit_time_valid(json_string_value(v), json_string_length(v)))
		goto out;
	tm = json_string_value(v);
	for (int i = 0; i < AUDIT_NFIELDS; i++) {
		v = json_object_get(o, audit_names[i]);
		*why = "actor, action, key, result or detail is missing or not "
		       "a string";
		if (!json_is_string(v))
			goto out;
		f.s[i] = json_string_value(v);
		f.len[i] = json_string_length(v);
		*why = "a field is longer than AUDIT_MAX_FIELD bytes";
		if (f.len[i] > AUDIT_MAX_FIELD)
			goto out;
		*why = "actor, action or result is empty";
		if (audit_required[i] && f.len[i] == 0)
			goto out;
	}
	v = json_object_get(o, "prev");
	*why = "prev is not 64 lowercase hex digits";
	if (!json_is_string(v) || !audit_unhex(json_string_value(v),
					       json_string_length(v), rec->prev))
		goto out;
	rec->seq = (uint64_t)seq;
	/* Field order, spacing, escapes, number form: all or nothing. */
	*why = "not in canonical form (spacing, field order or escaping "
	       "differs from what the writer produces)";
	if (audit_format(scratch, rec->seq, tm, AUDIT_TIME_LEN, &f, rec->prev) != len ||
	    memcmp(scratch, line, len) != 0)
		goto out;
	rc = IG_OK;
out:
	json_decref(o);
	return rc;
}

struct audit_head {
	uint64_t seq;
	uint8_t hash[32];
};

enum { AUDIT_HEAD_ABSENT = 1 };

/* Read and check the head file.  IG_OK, AUDIT_HEAD_ABSENT, IG_EPROTO
 * (malformed, static <*why>), IG_EINTERNAL (with <*why>). */
static int audit_read_head(const char *path, struct audit_head *h,
			   const char **why)
{
	char buf[AUDIT_HEAD_MAX + 1], again[AUDIT_HEAD_MAX];
	json_error_t jerr;
	json_t *o, *seq, *hash;
	ssize_t n;
	int fd, rc = IG_EPROTO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return AUDIT_HEAD_ABSENT;
	if (fd < 0)
		return audit_fail(why, IG_EINTERNAL, "cannot open %s: %s", path,
				  strerror(errno));
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return audit_fail(why, IG_EINTERNAL, "cannot read %s: %s", path,
				  strerror(errno));
	*why = "the head file is not {\"seq\":N,\"hash\":\"<64 hex>\"} "
	       "followed by a newline";
	if (n < 2 || n > AUDIT_HEAD_MAX || buf[n - 1] != '\n')
		return IG_EPROTO;
	o = json_loadb(buf, (size_t)n - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return IG_EPROTO;
	seq = json_object_get(o, "seq");
	hash = json_object_get(o, "hash");
	if (json_object_size(o) == 2 && json_is_integer(seq) &&
	    json_integer_value(seq) >= 0 && json_is_string(hash) &&
	    audit_unhex(json_string_value(hash), json_string_length(hash),
			h->hash)) {
		h->seq = (uint64_t)json_integer_value(seq);
		if (audit_format_head(again, h->seq, h->hash) == (size_t)n &&
		    memcmp(again, buf, (size_t)n) == 0)
			rc = IG_OK;
	}
	json_decref(o);
	return rc;
}

/* ---- reading lines ------------------------------------------------------ */

static int audit_pread_all(int fd, char *buf, size_t n, off_t off)
{
	while (n) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r, n -= (size_t)r, off += r;
	}
	return 0;
}

/* A forward line reader over <fd> with a bounded buffer. */
struct audit_reader {
	int fd;
	off_t off;       /* file offset of the next read */
	char *buf;       /* AUDIT_TAIL_BYTES */
	size_t start, end;
	bool eof;
};

/* Next line (with its "\n") into *line / *len: 1, or 0 at the end of the
 * file, or IG_EPROTO (a line too long, or no final newline: static <*why>)
 * or IG_EINTERNAL. */
static int audit_next_line(struct audit_reader *r, const char **line,
			   size_t *len, const char **why)
{
	for (;;) {
		size_t have = r->end - r->start;
		char *nl = memchr(r->buf + r->start, '\n', have);
		ssize_t n;

		if (nl) {
			*line = r->buf + r->start;
			*len = (size_t)(nl + 1 - *line);
			r->start += *len;
			IG_ENSURE(*len <= AUDIT_MAX_LINE, IG_EPROTO, why,
				  "longer than any record can be");
			return 1;
		}
		IG_ENSURE(have <= AUDIT_MAX_LINE, IG_EPROTO, why,
			  "longer than any record can be");
		if (r->eof) {
			IG_ENSURE(have == 0, IG_EPROTO, why,
				  "no newline at its end (a torn write, or the "
				  "record was cut short)");
			return 0;
		}
		memmove(r->buf, r->buf + r->start, have);
		r->start = 0;
		r->end = have;
		n = pread(r->fd, r->buf + r->end, AUDIT_TAIL_BYTES - r->end,
			  r->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return audit_fail(why, IG_EINTERNAL, "read error: %s",
					  strerror(errno));
		r->eof = n == 0;
		r->off += n;
		r->end += (size_t)n;
	}
}

/*
 * Walk the whole chain in <fd>.  Fills <w> with the longest valid prefix;
 * IG_OK when every line is valid, IG_EPROTO at the first broken record
 * (w->bad_seq, <*why> naming its line), IG_EINTERNAL, IG_ENOMEM.  <head>
 * (NULL if unusable) vouches for its record: see the prev case below.
 */
struct audit_walk {
	uint64_t records;    /* lines 1..records are valid */
	off_t end;           /* byte offset just after line <records> */
	uint8_t last[32];    /* hash of line <records> (zeros: none) */
	uint64_t bad_seq;    /* on IG_EPROTO */
	uint64_t want_seq;   /* in: the seq whose hash to keep */
	uint8_t want_hash[32];
	bool have_want;
};

static int audit_walk_prev_mismatch(struct audit_walk *w,
				    const struct audit_head *head, uint64_t n,
				    off_t before, const uint8_t before_hash[32],
				    const char **why)
{
	/*
	 * Line n's prev disagrees with the hash of line n - 1.  Either line
	 * n - 1 is not the record n was chained to (edited, replaced) or n's
	 * prev was edited.  Name the earlier, n - 1, as the first record not
	 * vouched for, unless the head vouches for n - 1 itself.
	 */
	if (n == 1) {
		w->bad_seq = 1;
		return audit_fail(why, IG_EPROTO,
				  "line 1 (seq 1): prev is not 64 zeros");
	}
	if (head && head->seq == n - 1 && !memcmp(head->hash, w->last, 32)) {
		w->bad_seq = n;
		return audit_fail(why, IG_EPROTO,
				  "line %llu (seq %llu): prev is not the hash of "
				  "line %llu, which the head vouches for: a "
				  "forged record", (unsigned long long)n,
				  (unsigned long long)n, (unsigned long long)n - 1);
	}
	w->bad_seq = n - 1;
	w->records = n - 2;
	w->end = before;
	memcpy(w->last, before_hash, 32);
	return audit_fail(why, IG_EPROTO,
			  "line %llu (seq %llu) is not the record line %llu "
			  "was chained to: it was altered (or line %llu's prev "
			  "was)", (unsigned long long)n - 1,
			  (unsigned long long)n - 1, (unsigned long long)n,
			  (unsigned long long)n);
}

static int audit_walk_fd(int fd, const struct audit_head *head,
			 struct audit_walk *w, const char **why)
{
	struct audit_reader r = { .fd = fd };
	char *scratch = malloc(AUDIT_MAX_LINE);
	uint8_t before_hash[32] = { 0 };
	off_t before = 0;
	int rc = IG_OK;

	r.buf = malloc(AUDIT_TAIL_BYTES);
	w->records = 0, w->end = 0, w->have_want = false;
	memset(w->last, 0, 32);
	if (!scratch || !r.buf) {
		rc = audit_fail(why, IG_ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t n = 1;; n++) {
		struct audit_rec rec;
		const char *line = NULL, *lwhy = "";
		size_t len = 0;

		rc = audit_next_line(&r, &line, &len, &lwhy);
		if (rc == 0)
			break;
		if (rc == 1)
			rc = audit_parse_line(line, len, scratch, &rec, &lwhy);
		if (rc < 0) {
			w->bad_seq = n;
			if (rc == IG_EPROTO)
				audit_fail(why, rc, "line %llu (seq %llu): %s",
					   (unsigned long long)n,
					   (unsigned long long)n, lwhy);
			else
				*why = lwhy;
			goto out;
		}
		if (rec.seq != n) {
			w->bad_seq = n;
			rc = audit_fail(why, IG_EPROTO,
					"line %llu holds seq %llu, not %llu: "
					"records removed, reordered or inserted",
					(unsigned long long)n,
					(unsigned long long)rec.seq,
					(unsigned long long)n);
			goto out;
		}
		if (memcmp(rec.prev, w->last, 32) != 0) {
			rc = audit_walk_prev_mismatch(w, head, n, before,
						      before_hash, why);
			goto out;
		}
		before = w->end;
		memcpy(before_hash, w->last, 32);
		audit_sha256(line, len, w->last);
		w->records = n;
		w->end += (off_t)len;
		if (n == w->want_seq) {
			memcpy(w->want_hash, w->last, 32);
			w->have_want = true;
		}
	}
out:
	free(scratch);
	free(r.buf);
	return rc;
}

/* ---- audit_verify ------------------------------------------------------- */

/* Every line is valid (w->records of them): does the head agree? */
static int audit_check_head(struct audit_walk *w, int hr,
			    const struct audit_head *h, const char *hwhy,
			    const char **why)
{
	unsigned long long k = w->records, hs = h->seq;

	if (hr == AUDIT_HEAD_ABSENT && k == 0)
		return IG_OK;
	w->bad_seq = k ? k : 1;
	if (hr == AUDIT_HEAD_ABSENT)
		return audit_fail(why, IG_EPROTO,
				  "line %llu (seq %llu): the head file is missing, "
				  "so the last record is not protected", k, k);
	if (hr != IG_OK)
		return audit_fail(why, IG_EPROTO, "head file: %s", hwhy);
	if (hs > k) {
		w->bad_seq = k + 1;
		return audit_fail(why, IG_EPROTO,
				  "the head names seq %llu but the log ends at "
				  "seq %llu: records %llu and after were removed",
				  hs, k, k + 1);
	}
	if (hs == k && !memcmp(h->hash, w->last, 32))
		return IG_OK;
	if (hs == k)
		return audit_fail(why, IG_EPROTO,
				  "line %llu (seq %llu) does not match the hash "
				  "in the head file: the last record was altered",
				  k, k);
	if (hs == 0 ? memcmp(h->hash, audit_zero_hash, 32) != 0
		    : !w->have_want || memcmp(h->hash, w->want_hash, 32) != 0) {
		w->bad_seq = hs ? hs : 1;
		return audit_fail(why, IG_EPROTO,
				  "line %llu (seq %llu) does not match the hash "
				  "in the head file", hs, hs);
	}
	w->bad_seq = hs + 1;
	return audit_fail(why, IG_EPROTO,
			  "line %llu (seq %llu) and after are past the head "
			  "(seq %llu): appended by someone else, or a crash "
			  "before the head was updated", hs + 1, hs + 1, hs);
}

int audit_verify(const char *path, uint64_t *records, uint64_t *first_bad_seq,
		 const char **why)
{
	struct audit_walk w = { 0 };
	struct audit_head h = { 0 };
	const char *hwhy = "";
	char *head_path = NULL;
	int fd = -1, hr, rc;

	if (records)
		*records = 0;
	if (first_bad_seq)
		*first_bad_seq = 0;
	IG_ENSURE(path && *path, IG_EUSAGE, why, "no log path");
	if (asprintf(&head_path, "%s.head", path) < 0)
		return audit_fail(why, IG_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = audit_fail(why, IG_EUSAGE, "cannot open %s: %s", path,
				strerror(errno));
		goto out;
	}
	hr = audit_read_head(head_path, &h, &hwhy);
	if (hr == IG_EINTERNAL) {
		rc = hr;
		*why = hwhy;
		goto out;
	}
	w.want_seq = hr == IG_OK ? h.seq : 0;
	rc = audit_walk_fd(fd, hr == IG_OK ? &h : NULL, &w, why);
	if (rc == IG_OK)
		rc = audit_check_head(&w, hr, &h, hwhy, why);
	if (records)
		*records = rc == IG_EPROTO ? w.bad_seq - 1 : w.records;
	if (first_bad_seq && rc == IG_EPROTO)
		*first_bad_seq = w.bad_seq;
out:
	if (fd >= 0)
		close(fd);
	free(head_path);
	return rc;
}

/* ---- audit_open: the tail check ---------------------------------------- */

/* Start of the line that ends just before <end> in buf[0..end): just after
 * the previous "\n", or <buf> if there is none in the buffer. */
static const char *audit_line_start(const char *buf, const char *end)
{
	const char *nl = end > buf ? memrchr(buf, '\n', (size_t)(end - buf)) : NULL;

	return nl ? nl + 1 : buf;
}

static int audit_check_empty(struct audit_log *l, int hr,
			     const struct audit_head *h, bool *need_head,
			     const char **why)
{
	*need_head = hr == AUDIT_HEAD_ABSENT;
	if (hr == AUDIT_HEAD_ABSENT ||
	    (hr == IG_OK && h->seq == 0 && !memcmp(h->hash, audit_zero_hash, 32)))
		return IG_OK;
	if (hr == IG_OK)
		return audit_fail(why, IG_EPROTO,
				  "the log is empty but its head names seq %llu: "
				  "records were removed",
				  (unsigned long long)h->seq);
	return IG_EPROTO; /* <*why> set by audit_read_head */
}

/* The last record, in buf[0..n) which ends the file (buf[n-1] == '\n')
 * and begins at file offset <off>: parse it and check its prev against
 * the line before.  Sets l->seq, l->prev. */
static int audit_check_last(struct audit_log *l, const char *buf, size_t n,
			    off_t off, char *scratch, const char **why)
{
	const char *end = buf + n, *last = audit_line_start(buf, end - 1), *pl;
	bool first_line = last == buf && off == 0;
	struct audit_rec rec;
	uint8_t h[32];
	const char *lwhy;

	if (last == buf && !first_line)
		return audit_fail(why, IG_EPROTO,
				  "the last line is longer than any record");
	if (audit_parse_line(last, (size_t)(end - last), scratch, &rec, &lwhy))
		return audit_fail(why, IG_EPROTO, "the last line: %s", lwhy);
	if (first_line != (rec.seq == 1))
		return audit_fail(why, IG_EPROTO,
				  "the last line holds seq %llu but %s line 1",
				  (unsigned long long)rec.seq,
				  first_line ? "is" : "is not");
	if (first_line) {
		memcpy(h, audit_zero_hash, 32);
	} else {
		pl = audit_line_start(buf, last - 1);
		if (pl == buf && off != 0)
			return audit_fail(why, IG_EPROTO,
					  "the line before the last is longer "
					  "than any record");
		audit_sha256(pl, (size_t)(last - pl), h);
	}
	if (memcmp(h, rec.prev, 32) != 0)
		return audit_fail(why, IG_EPROTO,
				  "the last record (seq %llu) is not chained to "
				  "the line before it", (unsigned long long)rec.seq);
	l->seq = rec.seq;
	audit_sha256(last, (size_t)(end - last), l->prev);
	return IG_OK;
}

/* Does the head name the record audit_check_last found? */
static int audit_check_tail_head(struct audit_log *l, int hr,
				 const struct audit_head *h, const char **why)
{
	unsigned long long ls = l->seq, hs = h->seq;

	if (hr == AUDIT_HEAD_ABSENT)
		return audit_fail(why, IG_EPROTO,
				  "the head file %s is missing: the last record "
				  "(seq %llu) cannot be checked", l->head_path, ls);
	if (hr != IG_OK)
		return IG_EPROTO; /* <*why> set by audit_read_head */
	if (hs < ls)
		return audit_fail(why, IG_EPROTO,
				  "the log continues past its head (the head "
				  "names seq %llu, the log ends at seq %llu): a "
				  "crash between a write and the head update, or "
				  "records appended by someone else; examine it, "
				  "then open with AUDIT_OPEN_RECOVER", hs, ls);
	if (hs > ls)
		return audit_fail(why, IG_EPROTO,
				  "the head names seq %llu but the log ends at "
				  "seq %llu: records were removed from the end",
				  hs, ls);
	if (memcmp(h->hash, l->prev, 32) != 0)
		return audit_fail(why, IG_EPROTO,
				  "the last record (seq %llu) does not match the "
				  "hash in the head file: it was altered", ls);
	return IG_OK;
}

/*
 * audit.h's tail check.  Sets l->seq, l->prev, l->size, and *need_head when
 * the head file must be written (a new log).
 */
static int audit_check_tail(struct audit_log *l, bool *need_head,
			    const char **why)
{
	struct audit_head h = { 0 };
	struct stat st;
	size_t n;
	off_t off;
	char *buf = NULL, *scratch = NULL;
	int hr, rc;

	*need_head = false;
	if (fstat(l->fd, &st) != 0)
		return audit_fail(why, IG_EINTERNAL, "cannot stat %s: %s",
				  l->path, strerror(errno));
	IG_ENSURE(S_ISREG(st.st_mode), IG_EUSAGE, why,
		  "the audit log is not a regular file");
	l->seq = 0;
	memset(l->prev, 0, 32);
	l->size = st.st_size;
	hr = audit_read_head(l->head_path, &h, why);
	if (hr == IG_EINTERNAL)
		return hr;
	if (st.st_size == 0)
		return audit_check_empty(l, hr, &h, need_head, why);
	n = st.st_size < AUDIT_TAIL_BYTES ? (size_t)st.st_size : AUDIT_TAIL_BYTES;
	off = st.st_size - (off_t)n;
	buf = malloc(n);
	scratch = malloc(AUDIT_MAX_LINE);
	if (!buf || !scratch)
		rc = audit_fail(why, IG_ENOMEM, "out of memory");
	else if (audit_pread_all(l->fd, buf, n, off) != 0)
		rc = audit_fail(why, IG_EINTERNAL, "cannot read %s", l->path);
	else if (buf[n - 1] != '\n')
		rc = audit_fail(why, IG_EPROTO,
				"the last line has no newline at its end: a "
				"torn write, or the record was cut short");
	else
		rc = audit_check_last(l, buf, n, off, scratch, why);
	if (rc == IG_OK)
		rc = audit_check_tail_head(l, hr, &h, why);
	free(buf);
	free(scratch);
	return rc;
}

/* ---- writing files ------------------------------------------------------ */

/* write(2) all of p[0..n), through short writes and EINTR; 0 or -errno. */
static int audit_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w, n -= (size_t)w;
	}
	return 0;
}

static void audit_count_fsync(struct audit_log *l)
{
	atomic_fetch_add_explicit(&l->fsyncs, 1, memory_order_relaxed);
}

/*
 * Rewrite the head file for (l->seq, l->prev): temporary file, fsync,
 * rename over the head, fsync of the directory, so a crash leaves either
 * the old head or the new one.
 */
static int audit_write_head(struct audit_log *l)
{
	char buf[AUDIT_HEAD_MAX];
	size_t n = audit_format_head(buf, l->seq, l->prev);
	bool ok;
	int fd;

	/*
	 * ANCHOR HOOK (audit.h, "Threat model").  This is where a deployment
	 * anchors the chain outside this host's reach: sign (seq, hash) with
	 * an HSM key and keep the signature beside the head, or send it to a
	 * write-once store or a remote log.  Without that, whoever can rewrite
	 * both files can forge a consistent history.
	 */
	fd = open(l->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return IG_EINTERNAL;
	ok = audit_write_all(fd, buf, n) == 0 && fsync(fd) == 0;
	audit_count_fsync(l);
	close(fd);
	if (!ok || rename(l->tmp_path, l->head_path) != 0)
		return IG_EINTERNAL;
	audit_count_fsync(l);
	return fsync(l->dirfd) == 0 ? IG_OK : IG_EINTERNAL;
}

/* Copy the file's bytes [from, to) to a new "<path>.cut.<seq>.<ms>", then
 * cut them off the log.  *cut_path gets the new file's name (malloc'd). */
static int audit_cut(struct audit_log *l, off_t from, off_t to, uint64_t seq,
		     char **cut_path, const char **why)
{
	struct timespec ts;
	char *buf = malloc(64 * 1024);
	int fd = -1, rc = IG_EINTERNAL;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!buf || asprintf(cut_path, "%s.cut.%llu.%lld", l->path,
			     (unsigned long long)seq,
			     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) < 0) {
		*cut_path = NULL;
		free(buf);
		return audit_fail(why, IG_ENOMEM, "out of memory");
	}
	fd = open(*cut_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		audit_fail(why, rc, "cannot create %s: %s", *cut_path,
			   strerror(errno));
		goto out;
	}
	for (off_t off = from; off < to;) {
		size_t n = to - off < 64 * 1024 ? (size_t)(to - off) : 64 * 1024;

		if (audit_pread_all(l->fd, buf, n, off) != 0 ||
		    audit_write_all(fd, buf, n) != 0) {
			audit_fail(why, rc, "cannot copy the cut bytes to %s",
				   *cut_path);
			goto out;
		}
		off += (off_t)n;
	}
	audit_count_fsync(l);
	if (fsync(fd) != 0 || ftruncate(l->fd, from) != 0 || fsync(l->fd) != 0 ||
	    fsync(l->dirfd) != 0) {
		audit_fail(why, rc, "cannot cut %s: %s", l->path, strerror(errno));
		goto out;
	}
	rc = IG_OK;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc != IG_OK) {
		free(*cut_path);
		*cut_path = NULL;
	}
	return rc;
}

/* A recovery's end: the log continues after the valid prefix <w> walked
 * (the bytes after it are cut off), <detail> is its record's text. */
static void audit_keep_prefix(struct audit_log *l, const struct audit_walk *w,
			      char *detail, char *cut)
{
	audit_utf8_sanitize(detail);
	free(cut);
	l->seq = w->records;
	memcpy(l->prev, w->last, 32);
	l->size = w->end;
}

/*
 * AUDIT_OPEN_RECOVER (audit.h): keep the longest valid prefix, move the
 * rest aside, and describe what was found in <detail> (the text of the
 * "audit.recover" record).  <found> is the tail check's reason.
 */
static int audit_recover(struct audit_log *l, const char *found, char *detail,
			 size_t cap, const char **why)
{
	struct audit_head h = { 0 };
	struct audit_walk w = { 0 };
	const char *hwhy = "", *wwhy = "";
	char wmsg[sizeof(audit_why_buf)], head_state[64];
	char *cut = NULL;
	int hr, rc;

	hr = audit_read_head(l->head_path, &h, &hwhy);
	if (hr == IG_EINTERNAL)
		return audit_fail(why, hr, "%s", hwhy);
	rc = audit_walk_fd(l->fd, hr == IG_OK ? &h : NULL, &w, &wwhy);
	if (rc != IG_OK && rc != IG_EPROTO)
		return audit_fail(why, rc, "%s", wwhy);
	snprintf(wmsg, sizeof(wmsg), "%s", rc == IG_OK ? "every line valid" : wwhy);
	if (hr == IG_OK)
		snprintf(head_state, sizeof(head_state), "the head named seq %llu",
			 (unsigned long long)h.seq);
	else
		snprintf(head_state, sizeof(head_state), "the head file was %s",
			 hr == AUDIT_HEAD_ABSENT ? "missing" : "malformed");
	if (w.end < l->size)
		IG_GUARD(audit_cut(l, w.end, l->size, w.records + 1, &cut, why));
	/* Truncated if need be: the cut file and the head keep the facts. */
	audit_textf(detail, cap,
		    "opened with AUDIT_OPEN_RECOVER: %s; %s; chain valid through "
		    "seq %llu (%s); %lld bytes moved to %s", found, head_state,
		    (unsigned long long)w.records, wmsg,
		    (long long)(l->size - w.end), cut ? cut : "(none)");
	audit_keep_prefix(l, &w, detail, cut);
	return IG_OK;
}

/* ---- the writer thread -------------------------------------------------- */

static void audit_put_slot(struct audit_log *l, struct audit_slot *s)
{
	/* Cannot fail: the ring has a cell per slot.  Yield rather than lose
	 * the slot if that reasoning is ever broken. */
	while (!hsm_mpmc_push(&l->free_slots, s))
		sched_yield();
}

/* Serialize the next records of the queue into l->batch, from seq l->seq + 1
 * and prev l->prev on; *prev gets the hash of the batch's last line.
 * Returns how many. */
static unsigned audit_take_batch(struct audit_log *l, uint8_t prev[32])
{
	char time[AUDIT_TIME_LEN + 1];
	struct audit_fields f;
	unsigned n = 0;

	l->blen = 0;
	memcpy(prev, l->prev, 32);
	while (n < AUDIT_BATCH_MAX && AUDIT_BATCH_BYTES - l->blen >= AUDIT_MAX_LINE) {
		struct audit_slot *s = hsm_mpmc_pop(&l->queue);
		const char *p;
		size_t len;

		if (!s)
			break;
		l->popped++;
		p = s->data;
		for (int i = 0; i < AUDIT_NFIELDS; i++) {
			f.s[i] = p;
			f.len[i] = s->len[i];
			p += s->len[i];
		}
		audit_format_time(s->time_ms, time);
		len = audit_format(l->batch + l->blen, l->seq + n + 1, time,
				   AUDIT_TIME_LEN, &f, prev);
		audit_sha256(l->batch + l->blen, len, prev);
		l->blen += len;
		l->bn[n++] = s->notify;
		audit_put_slot(l, s);
	}
	return n;
}

/*
 * Make the batch durable: one write(2), fdatasync, head.  A failed write is
 * cut off again so the file keeps whole lines; any failure makes the log
 * fail for good (audit.h), since what reached the disk is then unknown.
 */
static int audit_write_batch(struct audit_log *l, unsigned n,
			     const uint8_t prev[32])
{
	if (atomic_load(&l->failed))
		return IG_EINTERNAL;
	if (audit_write_all(l->fd, l->batch, l->blen) != 0) {
		if (ftruncate(l->fd, l->size) != 0) {
			/* The next audit_open finds the torn tail. */
		}
		return IG_EINTERNAL;
	}
	atomic_fetch_add_explicit(&l->batches, 1, memory_order_relaxed);
	audit_count_fsync(l);
	if (fdatasync(l->fd) != 0)
		return IG_EINTERNAL;
	l->size += (off_t)l->blen;
	l->seq += n;
	memcpy(l->prev, prev, 32);
	return audit_write_head(l);
}

static void audit_commit(struct audit_log *l, unsigned n, const uint8_t prev[32])
{
	uint64_t first = l->seq + 1;
	int rc = audit_write_batch(l, n, prev);

	if (rc == IG_OK) {
		atomic_fetch_add_explicit(&l->written, n, memory_order_relaxed);
		atomic_store_explicit(&l->last_seq, l->seq, memory_order_relaxed);
	} else {
		atomic_store(&l->failed, 1);
		atomic_fetch_add_explicit(&l->lost, n, memory_order_relaxed);
	}
	/* Outside <mu>: a callback may take it (audit_sync_done). */
	for (unsigned i = 0; i < n; i++)
		if (l->bn[i].done)
			l->bn[i].done(l->bn[i].arg, rc, rc == IG_OK ? first + i : 0);
	pthread_mutex_lock(&l->mu);
	l->done_pos += n;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Test hook: stay parked while audit_test_pause asks for it. */
static void audit_park(struct audit_log *l)
{
	if (!atomic_load_explicit(&l->pause, memory_order_relaxed))
		return;
	pthread_mutex_lock(&l->mu);
	while (atomic_load(&l->pause) && !atomic_load(&l->closing)) {
		l->parked = true;
		pthread_cond_broadcast(&l->cv);
		pthread_cond_wait(&l->cv, &l->mu);
	}
	l->parked = false;
	pthread_mutex_unlock(&l->mu);
}

/*
 * Nothing was popped: sleep until an appender wakes us.  Returns true when
 * the log is closing and everything has been written.
 *
 * Lost wake-ups: we store <sleeping> = 1 then load <pushed>; an appender
 * adds to <pushed> then loads <sleeping>; all four are seq_cst, so at least
 * one side sees the other's store: we see the record, or it sees that we
 * sleep and posts.
 */
static bool audit_idle(struct audit_log *l)
{
	/* Posts we did not wait for would only cause empty turns. */
	while (sem_trywait(&l->wake) == 0)
		;
	atomic_store(&l->sleeping, 1);
	if (atomic_load(&l->pushed) != l->popped) {
		/* Queued, or claimed and not yet published: busy soon. */
		atomic_store(&l->sleeping, 0);
		sched_yield();
		return false;
	}
	if (atomic_load(&l->closing)) {
		atomic_store(&l->sleeping, 0);
		if (atomic_load(&l->appenders) == 0 &&
		    atomic_load(&l->pushed) == l->popped)
			return true;
		sched_yield();
		return false;
	}
	/* audit_test_pause stores <pause> then posts: if the drain above took
	 * that post, we see <pause> here (closing works the same way). */
	if (atomic_load(&l->pause)) {
		atomic_store(&l->sleeping, 0);
		return false;
	}
	while (sem_wait(&l->wake) != 0 && errno == EINTR)
		;
	atomic_store(&l->sleeping, 0);
	return false;
}

static void *audit_writer_main(void *arg)
{
	struct audit_log *l = arg;
	uint8_t prev[32];

	pthread_setname_np(pthread_self(), "idgate-audit");
	for (;;) {
		unsigned n;

		audit_park(l);
		n = audit_take_batch(l, prev);
		if (n)
			audit_commit(l, n, prev);
		else if (audit_idle(l))
			break;
	}
	return NULL;
}

/* ---- appending ---------------------------------------------------------- */

/* The event's strings, checked (audit_append's IG_EUSAGE cases). */
static int audit_check_event(const struct audit_event *ev,
			     struct audit_fields *f)
{
	const char *s[AUDIT_NFIELDS] = { ev->actor, ev->action, ev->key,
					 ev->result, ev->detail };

	for (int i = 0; i < AUDIT_NFIELDS; i++) {
		f->s[i] = s[i] ? s[i] : "";
		f->len[i] = strnlen(f->s[i], AUDIT_MAX_FIELD + 1);
		if (f->len[i] > AUDIT_MAX_FIELD ||
		    (audit_required[i] && f->len[i] == 0) ||
		    !audit_utf8_valid(f->s[i], f->len[i]))
			return IG_EUSAGE;
	}
	return IG_OK;
}

static int audit_enqueue_slot(struct audit_log *l, const struct audit_fields *f,
			      int64_t time_ms, struct audit_notify notify)
{
	struct audit_slot *s;
	char *p;

	if (atomic_load(&l->closing))
		return IG_ECLOSED;
	if (atomic_load(&l->failed))
		return IG_EINTERNAL;
	s = hsm_mpmc_pop(&l->free_slots);
	if (!s)
		return IG_EBLOCKED;
	s->notify = notify;
	s->time_ms = time_ms;
	p = s->data;
	for (int i = 0; i < AUDIT_NFIELDS; i++) {
		memcpy(p, f->s[i], f->len[i]);
		s->len[i] = (uint16_t)f->len[i];
		p += f->len[i];
	}
	/* The queue has twice as many cells as there are slots: a push can
	 * only fail while the writer's pop of a cell is not yet visible. */
	while (!hsm_mpmc_push(&l->queue, s))
		sched_yield();
	atomic_fetch_add(&l->pushed, 1);
	/* See audit_idle; the exchange makes only one appender post. */
	if (atomic_load(&l->sleeping) && atomic_exchange(&l->sleeping, 0))
		sem_post(&l->wake); /* never blocks: a futex wake at most */
	return IG_OK;
}

static int audit_enqueue(struct audit_log *l, const struct audit_event *ev,
			 struct audit_notify notify)
{
	struct audit_fields f;
	struct timespec ts;
	int rc;

	if (!l || !ev)
		return IG_EUSAGE;
	IG_GUARD(audit_check_event(ev, &f));
	clock_gettime(CLOCK_REALTIME, &ts);
	/* audit_shutdown waits for <appenders> to drop to 0 after it sets
	 * <closing>, so no record is pushed after the writer has left. */
	atomic_fetch_add(&l->appenders, 1);
	rc = audit_enqueue_slot(l, &f,
				(int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, notify);
	atomic_fetch_sub(&l->appenders, 1);
	return rc;
}

int audit_append_notify(struct audit_log *l, const struct audit_event *ev,
			audit_done_fn *done, void *arg)
{
	int rc = audit_enqueue(l, ev, (struct audit_notify){ done, arg });

	if (rc == IG_EBLOCKED)
		atomic_fetch_add_explicit(&l->dropped_full, 1,
					  memory_order_relaxed);
	return rc;
}

int audit_append(struct audit_log *l, const struct audit_event *ev)
{
	return audit_append_notify(l, ev, NULL, NULL);
}

/* Wait for the writer to make progress, or 10 ms. */
static void audit_wait_progress(struct audit_log *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 10 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&l->mu);
	pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	pthread_mutex_unlock(&l->mu);
}

/* The writer's word to an audit_append_sync caller, who may return (and
 * its <w> go) as soon as <mu> is released. */
static void audit_sync_done(void *arg, int rc, uint64_t seq)
{
	struct audit_waiter *w = arg;
	struct audit_log *l = w->log;

	pthread_mutex_lock(&l->mu);
	w->seq = seq;
	w->rc = rc;
	w->done = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

int audit_append_sync(struct audit_log *l, const struct audit_event *ev,
		      uint64_t *seq_out)
{
	struct audit_waiter w = { .log = l };
	int rc;

	while ((rc = audit_enqueue(l, ev, (struct audit_notify){
					   audit_sync_done, &w })) == IG_EBLOCKED)
		audit_wait_progress(l);
	if (rc != IG_OK)
		return rc;
	pthread_mutex_lock(&l->mu);
	while (!w.done)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
	if (seq_out)
		*seq_out = w.seq;
	return w.rc;
}

int audit_flush(struct audit_log *l)
{
	/* Queue positions are claimed in order and the writer commits them in
	 * order: every record queued before now has a position below the
	 * ring's tail (mpmc.h: "next position to push"). */
	uint64_t target = atomic_load(&l->queue.tail);
	int rc;

	pthread_mutex_lock(&l->mu);
	while (l->done_pos < target)
		pthread_cond_wait(&l->cv, &l->mu);
	rc = atomic_load(&l->failed) ? IG_EINTERNAL : IG_OK;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void audit_test_pause(struct audit_log *l, bool on)
{
	pthread_mutex_lock(&l->mu);
	atomic_store(&l->pause, on);
	if (on) {
		pthread_mutex_unlock(&l->mu);
		sem_post(&l->wake); /* leave sem_wait, then park */
		pthread_mutex_lock(&l->mu);
		while (!l->parked)
			pthread_cond_wait(&l->cv, &l->mu);
	} else {
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

void audit_get_stats(struct audit_log *l, struct audit_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->appended = atomic_load_explicit(&l->pushed, memory_order_relaxed);
	st->dropped_full = atomic_load_explicit(&l->dropped_full,
						memory_order_relaxed);
	st->written = atomic_load_explicit(&l->written, memory_order_relaxed);
	st->lost = atomic_load_explicit(&l->lost, memory_order_relaxed);
	st->batches = atomic_load_explicit(&l->batches, memory_order_relaxed);
	st->fsyncs = atomic_load_explicit(&l->fsyncs, memory_order_relaxed);
	st->queued = hsm_mpmc_count(&l->queue);
	st->last_seq = atomic_load_explicit(&l->last_seq, memory_order_relaxed);
	st->failed = atomic_load_explicit(&l->failed, memory_order_relaxed);
}

/* ---- open and close ----------------------------------------------------- */

void audit_shutdown(struct audit_log *l)
{
	if (!l || !l->have_writer)
		return;
	atomic_store(&l->closing, 1);
	pthread_mutex_lock(&l->mu);
	pthread_cond_broadcast(&l->cv); /* unpark */
	pthread_mutex_unlock(&l->mu);
	sem_post(&l->wake);
	pthread_join(l->writer, NULL);
	l->have_writer = false;
}

static void audit_free(struct audit_log *l)
{
	if (l->fd >= 0)
		close(l->fd); /* also drops the flock */
	if (l->dirfd >= 0)
		close(l->dirfd);
	if (l->have_sem)
		sem_destroy(&l->wake);
	if (l->have_sync) {
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
	}
	hsm_mpmc_free(&l->free_slots);
	hsm_mpmc_free(&l->queue);
	free(l->slots);
	free(l->batch);
	free(l->path);
	free(l->head_path);
	free(l->tmp_path);
	free(l);
}

void audit_close(struct audit_log *l)
{
	if (!l)
		return;
	audit_shutdown(l);
	audit_free(l);
}

/* <path><suffix>, malloc'd; NULL when out of memory. */
static char *audit_path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);
	char *p = malloc(n + m + 1);

	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, suffix, m + 1);
	}
	return p;
}

/* Memory, rings, slots, the semaphore, the lock: everything but files. */
static int audit_alloc(struct audit_log **out, const char *path,
		       unsigned depth)
{
	struct audit_log *l = hsm_zalloc(sizeof(*l));
	pthread_condattr_t ca;

	if (!l)
		return IG_ENOMEM;
	*out = l;
	l->fd = l->dirfd = -1;
	l->depth = depth;
	l->path = strdup(path);
	l->head_path = audit_path_with(path, ".head");
	l->tmp_path = audit_path_with(path, ".head.tmp");
	if (!l->path || !l->head_path || !l->tmp_path)
		return IG_ENOMEM;
	l->slots = calloc(depth, sizeof(*l->slots));
	l->batch = malloc(AUDIT_BATCH_BYTES);
	if (!l->slots || !l->batch || hsm_mpmc_init(&l->free_slots, depth) ||
	    hsm_mpmc_init(&l->queue, 2 * (size_t)depth))
		return IG_ENOMEM;
	for (unsigned i = 0; i < depth; i++)
		audit_put_slot(l, &l->slots[i]);
	if (sem_init(&l->wake, 0, 0) != 0)
		return IG_EINTERNAL;
	l->have_sem = true;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->have_sync = true;
	return IG_OK;
}

/* Open the log file (0600, locked) and its directory. */
static int audit_open_files(struct audit_log *l, const char **why)
{
	char *dir = strdup(l->path);

	if (!dir)
		return audit_fail(why, IG_ENOMEM, "out of memory");
	l->dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (l->dirfd < 0)
		return audit_fail(why, IG_EUSAGE, "cannot open the directory of "
				  "%s: %s", l->path, strerror(errno));
	l->fd = open(l->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return audit_fail(why, IG_EUSAGE, "cannot open %s: %s", l->path,
				  strerror(errno));
	/* Two writers would fork the chain. */
	if (flock(l->fd, LOCK_EX | LOCK_NB) != 0)
		return audit_fail(why, IG_EUSAGE, "%s is locked: another process "
				  "(or audit_log) has it open: %s", l->path,
				  strerror(errno));
	return IG_OK;
}

/*
 * The tail check failed: is this what a crash leaves (audit.h)?  The head
 * file is valid and names a record of the chain, every line after it
 * continues the chain, and at most the last line is torn (no newline:
 * written in part).  Then adopt the records past the head, move a torn
 * line aside (audit_cut: its bytes are kept), and describe it all in
 * <detail>.  IG_EPROTO otherwise: the chain itself is broken, records are
 * missing, or the head is, and that is for an officer.
 */
static int audit_crash_recover(struct audit_log *l, char *detail, size_t cap,
			       const char **why)
{
	struct audit_head h = { 0 };
	struct audit_walk w = { 0 };
	const char *wwhy = "";
	char *cut = NULL, *torn = NULL;
	off_t tail;
	int rc;

	if (audit_read_head(l->head_path, &h, &wwhy) != IG_OK)
		return IG_EPROTO;
	w.want_seq = h.seq;
	rc = audit_walk_fd(l->fd, &h, &w, &wwhy);
	tail = l->size - w.end;
	if (rc == IG_EPROTO && w.bad_seq == w.records + 1 && tail > 0 &&
	    tail <= AUDIT_MAX_LINE && (torn = malloc((size_t)tail)) &&
	    audit_pread_all(l->fd, torn, (size_t)tail, w.end) == 0 &&
	    !memchr(torn, '\n', (size_t)tail))
		rc = IG_OK; /* only the last line is incomplete */
	free(torn);
	if (rc != IG_OK || h.seq > w.records ||
	    (h.seq == 0 ? memcmp(h.hash, audit_zero_hash, 32) != 0
			: !w.have_want || memcmp(h.hash, w.want_hash, 32) != 0))
		return rc == IG_OK || rc == IG_EPROTO ? IG_EPROTO : rc;
	if (tail > 0)
		IG_GUARD(audit_cut(l, w.end, l->size, w.records + 1, &cut, why));
	audit_textf(detail, cap,
		    "recovered at start after a crash: the head named seq %llu; "
		    "%llu record(s) after it continue the chain and were adopted "
		    "(the log ends at seq %llu); %lld bytes of an incomplete last "
		    "record moved to %s", (unsigned long long)h.seq,
		    (unsigned long long)(w.records - h.seq),
		    (unsigned long long)w.records, (long long)tail,
		    cut ? cut : "(none)");
	audit_keep_prefix(l, &w, detail, cut);
	return IG_OK;
}

/* Check (or recover) the tail, write the head of a new log. */
static int audit_prepare(struct audit_log *l, unsigned flags, char *detail,
			 size_t cap, bool *recovered, const char **why)
{
	char found[sizeof(audit_why_buf)];
	bool need_head;
	int rc;

	*recovered = false;
	rc = audit_check_tail(l, &need_head, why);
	if (rc == IG_EPROTO) {
		/* audit_crash_recover's reasons share the buffer: keep ours. */
		snprintf(found, sizeof(found), "%s", *why);
		if (audit_crash_recover(l, detail, cap, why) == IG_OK) {
			*recovered = need_head = true;
			rc = IG_OK;
		} else {
			audit_fail(why, rc, "%s", found);
		}
	}
	if (rc == IG_EPROTO && (flags & AUDIT_OPEN_RECOVER)) {
		IG_GUARD(audit_recover(l, found, detail, cap, why));
		*recovered = need_head = true;
		rc = IG_OK;
	}
	if (rc == IG_OK && need_head && audit_write_head(l) != IG_OK)
		rc = audit_fail(why, IG_EINTERNAL, "cannot write %s: %s",
				l->head_path, strerror(errno));
	return rc;
}

int audit_open(struct audit_log **out, const char *path, unsigned queue_depth,
	       unsigned flags, const char **why)
{
	char detail[AUDIT_MAX_FIELD + 1];
	struct audit_log *l = NULL;
	bool recovered;
	int rc;

	IG_ENSURE(out, IG_EUSAGE, why, "no out pointer");
	*out = NULL;
	IG_ENSURE(path && *path, IG_EUSAGE, why, "no audit log path");
	IG_ENSURE(queue_depth >= 2 && queue_depth <= AUDIT_MAX_DEPTH &&
		  !(queue_depth & (queue_depth - 1)), IG_EUSAGE, why,
		  "the audit queue depth must be a power of two, 2..65536");
	IG_ENSURE(!(flags & ~(unsigned)AUDIT_OPEN_RECOVER), IG_EUSAGE, why,
		  "unknown audit_open flags");
	rc = audit_alloc(&l, path, queue_depth);
	if (rc != IG_OK) {
		audit_fail(why, rc, "cannot allocate the audit log");
		goto fail;
	}
	rc = audit_open_files(l, why);
	if (rc == IG_OK)
		rc = audit_prepare(l, flags, detail, sizeof(detail), &recovered,
				   why);
	if (rc != IG_OK)
		goto fail;
	atomic_store(&l->last_seq, l->seq);
	if (pthread_create(&l->writer, NULL, audit_writer_main, l) != 0) {
		rc = audit_fail(why, IG_EINTERNAL, "cannot start the audit writer");
		goto fail;
	}
	l->have_writer = true;
	if (recovered) {
		log_warn("audit log %s: %s", path, detail);
		struct audit_event ev = { .actor = "audit", .action = "audit.recover",
					  .result = "ok", .detail = detail };

		rc = audit_append_sync(l, &ev, NULL);
		if (rc != IG_OK) {
			audit_fail(why, rc, "cannot append the audit.recover record");
			audit_shutdown(l);
			goto fail;
		}
	}
	*out = l;
	return IG_OK;
fail:
	if (l)
		audit_free(l);
	return rc;
}
