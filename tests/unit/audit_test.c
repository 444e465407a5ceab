/*
 * audit_test.c - the tamper-evident audit log: appending and verifying,
 * the chain across restarts, concurrent appenders, a full queue, tampering
 * of every kind named at the right record, a writer that tells when a
 * record is durable (audit_append_notify), escaping, refused arguments, a
 * broken tail refused and recovered, a failing disk.  Everything happens in
 * a mkdtemp directory removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "../../hsm/audit.h"
#include "check.h"
#include "testutil.h"

static char dir[64];

/* ---- helpers ------------------------------------------------------------ */

/* <dir>/<name>; valid for the next seven calls. */
static char *path_in(const char *name)
{
	static char buf[8][400];
	static int next;
	char *p = buf[next++ % 8];

	if (snprintf(p, sizeof(buf[0]), "%s/%s", dir, name) >= (int)sizeof(buf[0]))
		abort();
	return p;
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(buf, 1, len, f) == len);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *buf = slurp(from, &n);

	CHECK(buf != NULL);
	if (buf)
		spit(to, buf, n);
	free(buf);
}

/* A log's lines, each with its "\n" (views into <text>). */
struct lines {
	char *text;
	size_t n;
	const char *p[64];
	size_t len[64];
};

static void split_lines(const char *path, struct lines *ls)
{
	size_t total;
	char *p;

	ls->n = 0;
	ls->text = slurp(path, &total);
	CHECK(ls->text != NULL);
	if (!ls->text)
		return;
	for (p = ls->text; p < ls->text + total && ls->n < 64;) {
		char *nl = memchr(p, '\n', (size_t)(ls->text + total - p));
		size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(ls->text + total - p);

		ls->p[ls->n] = p;
		ls->len[ls->n++] = len;
		p += len;
	}
}

static void sha256_hex(const char *p, size_t n, char out[65])
{
	uint8_t h[32];

	mbedtls_sha256((const unsigned char *)p, n, h, 0);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* A string member of JSON line <line> (copied into <out>). */
static void json_field(const char *line, size_t len, const char *name,
		       char *out, size_t cap)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	json_t *v = o ? json_object_get(o, name) : NULL;

	out[0] = '\0';
	if (json_is_string(v))
		snprintf(out, cap, "%s", json_string_value(v));
	json_decref(o);
}

static struct audit_event ev_of(const char *actor, const char *action,
				const char *key, const char *result,
				const char *detail)
{
	struct audit_event ev = { actor, action, key, result, detail };

	return ev;
}

static struct audit_log *open_ok(const char *path, unsigned depth)
{
	struct audit_log *l = NULL;
	const char *why = "";
	int rc = audit_open(&l, path, depth, 0, &why);

	CHECK_EQ(rc, IG_OK);
	if (rc != IG_OK)
		fprintf(stderr, "audit_open %s: %s\n", path, why);
	return l;
}

/* A log of <n> records made with sync appends. */
static void make_log(const char *path, unsigned n)
{
	struct audit_log *l = open_ok(path, 8);
	char detail[32];

	for (unsigned i = 1; l && i <= n; i++) {
		struct audit_event ev;
		uint64_t seq = 0;

		snprintf(detail, sizeof(detail), "record %u", i);
		ev = ev_of("officer:alice", "key.generate", "citizen-key-1", "ok",
			   detail);
		CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
		CHECK_EQ(seq, i);
	}
	audit_close(l);
}

static void expect_verify(const char *path, int rc, uint64_t records,
			  uint64_t bad, const char *why_has)
{
	uint64_t got_records = 99, got_bad = 99;
	const char *why = "";
	int got = audit_verify(path, &got_records, &got_bad, &why);

	CHECK_EQ(got, rc);
	CHECK_EQ(got_records, records);
	CHECK_EQ(got_bad, bad);
	if (why_has) {
		CHECK(strstr(why, why_has) != NULL);
		if (!strstr(why, why_has))
			fprintf(stderr, "  why: %s (wanted \"%s\")\n", why, why_has);
	}
}

/* Write lines <ls> as log <name> with the edits the caller made, and the
 * original head <head> (NULL: none). */
static const char *variant(const char *name, const struct lines *ls,
			   const char *head)
{
	char *path = path_in(name);
	char head_path[420];
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	for (size_t i = 0; f && i < ls->n; i++)
		CHECK(fwrite(ls->p[i], 1, ls->len[i], f) == ls->len[i]);
	if (f)
		fclose(f);
	snprintf(head_path, sizeof(head_path), "%s.head", path);
	unlink(head_path);
	if (head)
		copy_file(head, head_path);
	return path;
}

/* ---- append, verify, reopen --------------------------------------------- */

static void test_append_verify_reopen(void)
{
	const char *path = path_in("basic.log");
	struct audit_log *l = open_ok(path, 64);
	struct audit_event ev = ev_of("officer:alice", "key.generate",
				      "citizen-key-1", "ok", "P-256 in hsm0");
	struct audit_event bare = ev_of("idgated", "key.sign", NULL, "ok", NULL);
	struct audit_stats st;
	struct lines ls;
	char hex[65], want[128], *head, time[64];
	struct stat sb;
	uint64_t seq = 0;
	size_t n;

	if (!l)
		return;
	CHECK_EQ(audit_append(l, &ev), IG_OK);
	CHECK_EQ(audit_append(l, &bare), IG_OK);
	CHECK_EQ(audit_append(l, &ev), IG_OK);
	CHECK_EQ(audit_flush(l), IG_OK);
	audit_get_stats(l, &st);
	CHECK_EQ(st.appended, 3);
	CHECK_EQ(st.written, 3);
	CHECK_EQ(st.last_seq, 3);
	CHECK_EQ(st.queued, 0);
	CHECK(st.fsyncs >= 3 && st.batches >= 1);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK_EQ(seq, 4);
	audit_close(l);
	expect_verify(path, IG_OK, 4, 0, NULL);

	/* The format of audit.h, byte for byte where it is fixed. */
	split_lines(path, &ls);
	CHECK_EQ(ls.n, 4);
	CHECK(strncmp(ls.p[0], "{\"seq\":1,\"time\":\"", 17) == 0);
	CHECK(strstr(ls.p[0], "\"prev\":\"0000000000000000000000000000000000000000"
			      "000000000000000000000000\"}\n") != NULL);
	CHECK(strncmp(ls.p[1], "{\"seq\":2,", 9) == 0);
	CHECK(strstr(ls.p[1], ",\"actor\":\"idgated\",\"action\":\"key.sign\","
			      "\"key\":\"\",\"result\":\"ok\",\"detail\":\"\","
			      "\"prev\":\"") != NULL);
	json_field(ls.p[0], ls.len[0], "time", time, sizeof(time));
	CHECK_EQ(strlen(time), 24);
	CHECK(time[10] == 'T' && time[19] == '.' && time[23] == 'Z');
	sha256_hex(ls.p[0], ls.len[0], hex);
	CHECK(strstr(ls.p[1], hex) != NULL); /* line 2's prev */

	/* The head names the last record. */
	sha256_hex(ls.p[3], ls.len[3], hex);
	snprintf(want, sizeof(want), "{\"seq\":4,\"hash\":\"%s\"}\n", hex);
	head = slurp(path_in("basic.log.head"), &n);
	CHECK(head && strcmp(head, want) == 0);
	free(head);
	free(ls.text);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(stat(path_in("basic.log.head"), &sb) == 0 &&
	      (sb.st_mode & 0777) == 0600);

	/* A restart continues the chain: seq 5, prev = hash of line 4. */
	l = open_ok(path, 4);
	if (!l)
		return;
	audit_get_stats(l, &st);
	CHECK_EQ(st.last_seq, 4);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK_EQ(seq, 5);
	audit_close(l);
	l = open_ok(path, 4); /* open and close without appending */
	audit_close(l);
	split_lines(path, &ls);
	CHECK_EQ(ls.n, 5);
	sha256_hex(ls.p[3], ls.len[3], hex);
	CHECK(ls.n == 5 && strncmp(ls.p[4], "{\"seq\":5,", 9) == 0 &&
	      strstr(ls.p[4], hex) != NULL);
	free(ls.text);
	expect_verify(path, IG_OK, 5, 0, NULL);
}

/* ---- concurrency -------------------------------------------------------- */

#define NTHREADS 4
#define PER_THREAD 5000

struct appender {
	pthread_t tid;
	struct audit_log *l;
	unsigned id;
	unsigned blocked;
	int bad_rc;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	char actor[32], detail[32];

	snprintf(actor, sizeof(actor), "thread:%u", a->id);
	for (unsigned i = 0; i < PER_THREAD; i++) {
		struct audit_event ev;
		int rc;

		snprintf(detail, sizeof(detail), "%u", i);
		ev = ev_of(actor, "key.sign", "k", "ok", detail);
		/* A dataplane worker would answer 503; the test retries. */
		while ((rc = audit_append(a->l, &ev)) == IG_EBLOCKED) {
			a->blocked++;
			sched_yield();
		}
		if (rc != IG_OK)
			a->bad_rc = rc;
	}
	return NULL;
}

static void test_concurrent(void)
{
	const char *path = path_in("concurrent.log");
	struct audit_log *l = open_ok(path, 1024);
	struct appender a[NTHREADS];
	static unsigned char seen[NTHREADS][PER_THREAD];
	int last[NTHREADS];
	unsigned blocked = 0, dup = 0, order = 0, total = 0;
	struct audit_stats st;
	char *text, *p, actor[64], detail[64];
	size_t n;

	if (!l)
		return;
	for (unsigned t = 0; t < NTHREADS; t++) {
		a[t] = (struct appender){ .l = l, .id = t };
		CHECK(pthread_create(&a[t].tid, NULL, appender_main, &a[t]) == 0);
	}
	for (unsigned t = 0; t < NTHREADS; t++) {
		pthread_join(a[t].tid, NULL);
		CHECK_EQ(a[t].bad_rc, 0);
		blocked += a[t].blocked;
		last[t] = -1;
	}
	CHECK_EQ(audit_flush(l), IG_OK);
	audit_get_stats(l, &st);
	CHECK_EQ(st.appended, NTHREADS * PER_THREAD);
	CHECK_EQ(st.written, NTHREADS * PER_THREAD);
	CHECK_EQ(st.dropped_full, blocked);
	CHECK(st.batches < st.written); /* batched: fewer fsyncs than records */
	audit_close(l);
	expect_verify(path, IG_OK, NTHREADS * PER_THREAD, 0, NULL);

	/* Each record exactly once, each thread's in its own order. */
	text = slurp(path, &n);
	CHECK(text != NULL);
	for (p = text; text && p < text + n;) {
		char *nl = strchr(p, '\n');
		unsigned t, i;

		json_field(p, (size_t)(nl - p), "actor", actor, sizeof(actor));
		json_field(p, (size_t)(nl - p), "detail", detail, sizeof(detail));
		if (sscanf(actor, "thread:%u", &t) == 1 && t < NTHREADS &&
		    sscanf(detail, "%u", &i) == 1 && i < PER_THREAD) {
			dup += seen[t][i]++;
			order += (int)i <= last[t];
			last[t] = (int)i;
			total++;
		}
		p = nl + 1;
	}
	free(text);
	CHECK_EQ(total, NTHREADS * PER_THREAD);
	CHECK_EQ(dup, 0);
	CHECK_EQ(order, 0);
}

/* ---- a full queue ------------------------------------------------------- */

struct sync_appender {
	struct audit_log *l;
	atomic_int done;
	uint64_t seq;
	int rc;
};

static void *sync_appender_main(void *arg)
{
	struct sync_appender *s = arg;
	struct audit_event ev = ev_of("officer:bob", "key.destroy", "old", "ok",
				      NULL);

	s->rc = audit_append_sync(s->l, &ev, &s->seq);
	atomic_store(&s->done, 1);
	return NULL;
}

static void test_queue_full(void)
{
	const char *path = path_in("full.log");
	struct audit_log *l = open_ok(path, 4);
	struct audit_event ev = ev_of("citizen:42", "key.sign", "kid-42", "ok",
				      NULL);
	struct sync_appender s = { 0 };
	struct audit_stats st;
	pthread_t tid;

	if (!l)
		return;
	/* The writer parked, four records fill the four slots. */
	audit_test_pause(l, true);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(audit_append(l, &ev), IG_OK);
	CHECK_EQ(audit_append(l, &ev), IG_EBLOCKED);
	CHECK_EQ(audit_append(l, &ev), IG_EBLOCKED);
	audit_get_stats(l, &st);
	CHECK_EQ(st.appended, 4);
	CHECK_EQ(st.dropped_full, 2);
	CHECK_EQ(st.queued, 4);
	CHECK_EQ(st.written, 0);

	/* A sync appender waits for room instead. */
	s.l = l;
	CHECK(pthread_create(&tid, NULL, sync_appender_main, &s) == 0);
	usleep(50 * 1000);
	CHECK_EQ(atomic_load(&s.done), 0);
	audit_test_pause(l, false);
	pthread_join(tid, NULL);
	CHECK_EQ(s.rc, IG_OK);
	CHECK_EQ(s.seq, 5);
	CHECK_EQ(audit_flush(l), IG_OK);
	CHECK_EQ(audit_append(l, &ev), IG_OK);
	audit_close(l);
	expect_verify(path, IG_OK, 6, 0, NULL);
}

/* ---- audit_append_notify ------------------------------------------------ */

/* What the writer told, and what was on disk when it did. */
struct notice {
	const char *path;
	atomic_int calls;
	int rc;
	uint64_t seq;
	off_t size; /* of the log when told */
};

static void on_notice(void *arg, int rc, uint64_t seq)
{
	struct notice *n = arg;
	struct stat sb;

	n->rc = rc;
	n->seq = seq;
	n->size = stat(n->path, &sb) == 0 ? sb.st_size : -1;
	atomic_fetch_add(&n->calls, 1);
}

static void test_notify(void)
{
	const char *path = path_in("notify.log");
	struct audit_log *l = open_ok(path, 4);
	struct audit_event ev = ev_of("citizen:7", "csc.signHash", "cred-7", "ok",
				      NULL);
	struct notice n = { .path = path }, full = { .path = path };
	static char detail[900];
	struct rlimit old, lim;
	struct stat sb;

	if (!l)
		return;
	/* Not told before the record is written: the writer is parked. */
	audit_test_pause(l, true);
	CHECK_EQ(audit_append_notify(l, &ev, on_notice, &n), IG_OK);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(audit_append(l, &ev), IG_OK);
	/* A full queue: refused at once, and never told. */
	CHECK_EQ(audit_append_notify(l, &ev, on_notice, &full), IG_EBLOCKED);
	usleep(50 * 1000);
	CHECK_EQ(atomic_load(&n.calls), 0);
	audit_test_pause(l, false);
	CHECK_EQ(audit_flush(l), IG_OK);
	/* Told once, with its seq, when its whole batch was on disk. */
	CHECK_EQ(atomic_load(&n.calls), 1);
	CHECK_EQ(n.rc, IG_OK);
	CHECK_EQ(n.seq, 1);
	CHECK(stat(path, &sb) == 0 && n.size == sb.st_size && sb.st_size > 0);
	CHECK_EQ(atomic_load(&full.calls), 0);

	/* A record whose write fails: told so, with seq 0. */
	memset(detail, 'x', sizeof(detail) - 1);
	ev.detail = detail;
	n.calls = 0;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 50;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_EQ(audit_append_notify(l, &ev, on_notice, &n), IG_OK);
	CHECK_EQ(audit_flush(l), IG_EINTERNAL);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK_EQ(atomic_load(&n.calls), 1);
	CHECK_EQ(n.rc, IG_EINTERNAL);
	CHECK_EQ(n.seq, 0);
	audit_close(l);
	expect_verify(path, IG_OK, 4, 0, NULL);
}

/* ---- tampering ---------------------------------------------------------- */

/* Replace the first <from> in line <i> of <ls> with <to> (same length). */
static void edit_line(struct lines *ls, size_t i, const char *from,
		      const char *to)
{
	char *hit = memmem(ls->p[i], ls->len[i], from, strlen(from));

	CHECK(hit != NULL && strlen(from) == strlen(to));
	if (hit)
		memcpy(hit, to, strlen(to));
}

static void test_tamper(void)
{
	char path[400], head[400], hex[65], forged[512], *saved;
	struct lines ls;
	const char *p;
	size_t n, len6;

	snprintf(path, sizeof(path), "%s", path_in("t.log"));
	snprintf(head, sizeof(head), "%s", path_in("t.log.head"));
	make_log(path, 6);
	expect_verify(path, IG_OK, 6, 0, NULL);
	split_lines(path, &ls);
	CHECK_EQ(ls.n, 6);
	if (ls.n != 6)
		return;
	saved = slurp(path, &n);

	/* A field of a middle record edited: record 3 is named. */
	edit_line(&ls, 2, "\"result\":\"ok\"", "\"result\":\"no\"");
	expect_verify(variant("edit.log", &ls, head), IG_EPROTO, 2, 3, "line 3 (seq 3)");
	memcpy(ls.text, saved, n);

	/* Its detail edited, the length changed. */
	{
		struct lines e = ls;
		char buf[512];
		char *q;

		snprintf(buf, sizeof(buf), "%.*s", (int)ls.len[2], ls.p[2]);
		q = strstr(buf, "record 3\"");
		CHECK(q != NULL);
		if (q)
			memmove(q + 9, q + 8, strlen(q + 8) + 1), q[8] = '3';
		e.p[2] = buf, e.len[2] = strlen(buf);
		expect_verify(variant("edit2.log", &e, head), IG_EPROTO, 2, 3,
			      "line 3 (seq 3)");
	}

	/* A middle line deleted. */
	{
		struct lines d = ls;

		memmove(&d.p[2], &d.p[3], 3 * sizeof(d.p[0]));
		memmove(&d.len[2], &d.len[3], 3 * sizeof(d.len[0]));
		d.n = 5;
		expect_verify(variant("delete.log", &d, head), IG_EPROTO, 2, 3,
			      "line 3 holds seq 4");
	}

	/* Two lines swapped. */
	{
		struct lines s = ls;

		s.p[2] = ls.p[3], s.len[2] = ls.len[3];
		s.p[3] = ls.p[2], s.len[3] = ls.len[2];
		expect_verify(variant("swap.log", &s, head), IG_EPROTO, 2, 3,
			      "line 3 holds seq 4");
	}

	/* The last record removed: only the head shows it. */
	{
		struct lines t = ls;

		t.n = 5;
		expect_verify(variant("trunc.log", &t, head), IG_EPROTO, 5, 6,
			      "head names seq 6 but the log ends at seq 5");
		/* Cut in the middle of the line. */
		t.n = 6;
		t.len[5] = ls.len[5] / 2;
		expect_verify(variant("torn.log", &t, head), IG_EPROTO, 5, 6,
			      "line 6 (seq 6): no newline");
	}

	/* The last record edited: the head's hash differs. */
	edit_line(&ls, 5, "\"result\":\"ok\"", "\"result\":\"no\"");
	expect_verify(variant("editlast.log", &ls, head), IG_EPROTO, 5, 6,
		      "line 6 (seq 6) does not match the hash in the head");
	memcpy(ls.text, saved, n);

	/* A forged line appended, chained properly: past the head. */
	sha256_hex(ls.p[5], ls.len[5], hex);
	len6 = ls.len[5];
	snprintf(forged, sizeof(forged), "%.*s", (int)len6, ls.p[5]);
	memcpy(forged + 7, "7", 1); /* {"seq":6 -> {"seq":7 */
	memcpy(strstr(forged, "\"prev\":\"") + 8, hex, 64);
	{
		struct lines f = ls;

		f.p[6] = forged, f.len[6] = len6, f.n = 7;
		expect_verify(variant("forged.log", &f, head), IG_EPROTO, 6, 7,
			      "line 7 (seq 7) and after are past the head");
		/* Not chained: the head vouches for line 6, so 7 is named.
		 * (Flip a digit: writing a fixed value would leave the
		 * chain intact whenever the hash starts with it.) */
		{
			char *d = strstr(forged, "\"prev\":\"") + 8;

			*d = *d == '0' ? '1' : '0';
		}
		expect_verify(variant("forged2.log", &f, head), IG_EPROTO, 6, 7,
			      "line 7 (seq 7): prev is not the hash of line 6");
	}

	/* Line 4's prev edited: line 3 is no longer vouched for.  The chain
	 * cannot tell this from an edit of line 3 (audit_walk_prev_mismatch). */
	edit_line(&ls, 3, "\"prev\":\"", "\"prev\":\"");
	{
		char *q = strstr((char *)ls.p[3], "\"prev\":\"") + 8;

		*q = *q == '0' ? '1' : '0';
	}
	expect_verify(variant("prev.log", &ls, head), IG_EPROTO, 2, 3,
		      "line 3 (seq 3) is not the record line 4 was chained to");
	memcpy(ls.text, saved, n);

	/* Line 1's prev must be zeros. */
	{
		char *q = strstr((char *)ls.p[0], "\"prev\":\"") + 8;

		*q = '1';
		expect_verify(variant("prev1.log", &ls, head), IG_EPROTO, 0, 1,
			      "line 1 (seq 1): prev is not 64 zeros");
		memcpy(ls.text, saved, n);
	}

	/* Not canonical: a space; a duplicate name; not JSON. */
	{
		struct lines c = ls;
		char buf[600];

		snprintf(buf, sizeof(buf), "{ %.*s", (int)ls.len[1] - 1, ls.p[1] + 1);
		c.p[1] = buf, c.len[1] = ls.len[1] + 1;
		expect_verify(variant("space.log", &c, head), IG_EPROTO, 1, 2,
			      "line 2 (seq 2): not in canonical form");
		snprintf(buf, sizeof(buf), "%.*s,\"seq\":2}\n", (int)ls.len[1] - 2,
			 ls.p[1]);
		c.len[1] = strlen(buf);
		expect_verify(variant("dup.log", &c, head), IG_EPROTO, 1, 2,
			      "line 2 (seq 2): not valid JSON (or a duplicate");
		snprintf(buf, sizeof(buf), "%.*s,\"extra\":2}\n",
			 (int)ls.len[1] - 2, ls.p[1]);
		c.len[1] = strlen(buf);
		expect_verify(variant("extra.log", &c, head), IG_EPROTO, 1, 2,
			      "line 2 (seq 2): not an object of exactly");
		c.p[1] = "hello\n", c.len[1] = 6;
		expect_verify(variant("junk.log", &c, head), IG_EPROTO, 1, 2,
			      "line 2 (seq 2): not valid JSON");
	}

	/* The head: missing, malformed. */
	expect_verify(variant("nohead.log", &ls, NULL), IG_EPROTO, 5, 6,
		      "line 6 (seq 6): the head file is missing");
	p = variant("badhead.log", &ls, NULL);
	spit(path_in("badhead.log.head"), "{\"seq\":6}\n", 10);
	expect_verify(p, IG_EPROTO, 5, 6, "head file: ");

	/* Unusable arguments. */
	expect_verify(path_in("absent.log"), IG_EUSAGE, 0, 0, "cannot open");
	expect_verify("", IG_EUSAGE, 0, 0, "no log path");
	free(saved);
	free(ls.text);
}

/* ---- escaping ----------------------------------------------------------- */

static void test_escapes(void)
{
	const char *path = path_in("escape.log");
	struct audit_log *l = open_ok(path, 8);
	const char *actor = "officer:\"bob\" \\ the \\\"admin\\\"";
	const char *key = "label\nwith\ttab";
	const char *detail = "ctl:\x01\x02\x1f\x7f bs\b ff\f cr\r "
			     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 /slash";
	struct audit_event ev = ev_of(actor, "key.import", key, "ok", detail);
	static char big[5][AUDIT_MAX_FIELD + 1];
	struct lines ls;
	char out[256];
	uint64_t seq;

	if (!l)
		return;
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	/* The worst case: every byte of every field escaped as \u00xx. */
	for (int i = 0; i < 5; i++)
		memset(big[i], 0x01, AUDIT_MAX_FIELD);
	ev = ev_of(big[0], big[1], big[2], big[3], big[4]);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK_EQ(seq, 2);
	audit_close(l);
	expect_verify(path, IG_OK, 2, 0, NULL);

	split_lines(path, &ls);
	CHECK_EQ(ls.n, 2);
	CHECK(strstr(ls.p[0], "\"actor\":\"officer:\\\"bob\\\" \\\\ the "
			      "\\\\\\\"admin\\\\\\\"\"") != NULL);
	CHECK(strstr(ls.p[0], "\"key\":\"label\\nwith\\ttab\"") != NULL);
	CHECK(strstr(ls.p[0], "ctl:\\u0001\\u0002\\u001f\\u007f bs\\b ff\\f "
			      "cr\\r \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 /slash")
	      != NULL);
	/* ...and they come back as they went in. */
	json_field(ls.p[0], ls.len[0], "actor", out, sizeof(out));
	CHECK_STR(out, actor);
	json_field(ls.p[0], ls.len[0], "key", out, sizeof(out));
	CHECK_STR(out, key);
	json_field(ls.p[0], ls.len[0], "detail", out, sizeof(out));
	CHECK_STR(out, detail);
	CHECK(ls.n == 2 && ls.len[1] > 5 * 6 * AUDIT_MAX_FIELD &&
	      ls.len[1] <= AUDIT_MAX_LINE);
	free(ls.text);
}

/* ---- refused arguments -------------------------------------------------- */

static void test_usage(void)
{
	const char *path = path_in("usage.log");
	struct audit_log *l = open_ok(path, 8), *l2 = NULL;
	static char big[AUDIT_MAX_FIELD + 2];
	static const char *const bad_utf8[] = {
		"\xff", "\xc0\xaf" /* overlong '/' */, "\xed\xa0\x80" /* surrogate */,
		"\xe2\x82" /* cut short */, "\xf4\x90\x80\x80" /* > U+10FFFF */,
		"a\x80", "\xe0\x80\xaf" /* overlong */,
	};
	struct audit_event ev;
	struct audit_stats st;
	const char *why = "";
	uint64_t seq;

	if (!l)
		return;
	memset(big, 'a', AUDIT_MAX_FIELD + 1);
	ev = ev_of(big, "key.sign", NULL, "ok", NULL);
	CHECK_EQ(audit_append(l, &ev), IG_EUSAGE);
	ev = ev_of("a", "key.sign", NULL, "ok", big);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_EUSAGE);
	big[AUDIT_MAX_FIELD] = '\0'; /* exactly the bound: fine */
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	ev = ev_of("", "key.sign", NULL, "ok", NULL);
	CHECK_EQ(audit_append(l, &ev), IG_EUSAGE);
	ev = ev_of("a", NULL, NULL, "ok", NULL);
	CHECK_EQ(audit_append(l, &ev), IG_EUSAGE);
	ev = ev_of("a", "key.sign", NULL, NULL, NULL);
	CHECK_EQ(audit_append(l, &ev), IG_EUSAGE);
	for (size_t i = 0; i < IG_ARRAY_LEN(bad_utf8); i++) {
		ev = ev_of("a", "key.sign", bad_utf8[i], "ok", NULL);
		CHECK_EQ(audit_append(l, &ev), IG_EUSAGE);
	}
	CHECK_EQ(audit_append(l, NULL), IG_EUSAGE);
	CHECK_EQ(audit_append(NULL, &ev), IG_EUSAGE);
	audit_get_stats(l, &st);
	CHECK_EQ(st.appended, 1);

	/* One process (one audit_log) per file. */
	CHECK_EQ(audit_open(&l2, path, 8, 0, &why), IG_EUSAGE);
	CHECK(strstr(why, "is locked") != NULL);
	CHECK(l2 == NULL);

	/* After audit_shutdown: closed, and everything is on disk. */
	ev = ev_of("a", "key.sign", NULL, "ok", NULL);
	CHECK_EQ(audit_append(l, &ev), IG_OK);
	audit_shutdown(l);
	audit_shutdown(l);
	CHECK_EQ(audit_append(l, &ev), IG_ECLOSED);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_ECLOSED);
	CHECK_EQ(audit_flush(l), IG_OK);
	audit_get_stats(l, &st);
	CHECK_EQ(st.written, 2);
	audit_close(l);
	audit_close(NULL);
	expect_verify(path, IG_OK, 2, 0, NULL);

	/* audit_open's arguments. */
	CHECK_EQ(audit_open(&l2, path_in("u2.log"), 3, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, path_in("u2.log"), 1, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, path_in("u2.log"), 0, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, path_in("u2.log"), AUDIT_MAX_DEPTH * 2, 0, &why),
		 IG_EUSAGE);
	CHECK(strstr(why, "power of two") != NULL);
	CHECK_EQ(audit_open(&l2, path_in("u2.log"), 8, 0x10, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, "", 8, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, NULL, 8, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(NULL, path_in("u2.log"), 8, 0, &why), IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, "/nonexistent-idgate-dir/a.log", 8, 0, &why),
		 IG_EUSAGE);
	CHECK_EQ(audit_open(&l2, dir, 8, 0, &why), IG_EUSAGE); /* a directory */
	CHECK(l2 == NULL);
	CHECK(access(path_in("u2.log"), F_OK) != 0);
}

/* ---- a broken tail: refused, then recovered ----------------------------- */

static void expect_open_refused(const char *path, const char *why_has)
{
	struct audit_log *l = NULL;
	const char *why = "";

	CHECK_EQ(audit_open(&l, path, 8, 0, &why), IG_EPROTO);
	CHECK(l == NULL);
	CHECK(strstr(why, why_has) != NULL);
	if (!strstr(why, why_has))
		fprintf(stderr, "  why: %s (wanted \"%s\")\n", why, why_has);
	audit_close(l);
}

/* Open with <flags> (AUDIT_OPEN_RECOVER, or 0 for what audit_open
 * recovers by itself after a crash), append one record, check that the
 * first <kept> records were kept and the next is the recovery's. */
static void expect_recovered_with(const char *path, unsigned flags, uint64_t kept,
				  const char *detail_has)
{
	struct audit_event ev = ev_of("officer:carol", "key.list", NULL, "ok",
				      NULL);
	struct audit_log *l = NULL;
	const char *why = "";
	struct lines ls;
	char detail[AUDIT_MAX_FIELD + 1], action[64];
	uint64_t seq = 0;

	CHECK_EQ(audit_open(&l, path, 8, flags, &why), IG_OK);
	if (!l) {
		fprintf(stderr, "  recover %s: %s\n", path, why);
		return;
	}
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK_EQ(seq, kept + 2);
	audit_close(l);
	expect_verify(path, IG_OK, kept + 2, 0, NULL);
	split_lines(path, &ls);
	CHECK_EQ(ls.n, kept + 2);
	if (ls.n == kept + 2) {
		json_field(ls.p[kept], ls.len[kept], "action", action,
			   sizeof(action));
		json_field(ls.p[kept], ls.len[kept], "detail", detail,
			   sizeof(detail));
		CHECK_STR(action, "audit.recover");
		CHECK(strstr(detail, detail_has) != NULL);
		if (!strstr(detail, detail_has))
			fprintf(stderr, "  detail: %s (wanted \"%s\")\n", detail,
				detail_has);
	}
	free(ls.text);
}

static void expect_recovered(const char *path, uint64_t kept, const char *detail_has)
{
	expect_recovered_with(path, AUDIT_OPEN_RECOVER, kept, detail_has);
}

/* How many "<dir>/<name>.cut.*" files hold exactly <want>? */
static int find_cut(const char *name, const char *want, size_t n)
{
	char prefix[200];
	struct dirent *e;
	int found = 0;
	DIR *d = opendir(dir);

	snprintf(prefix, sizeof(prefix), "%s.cut.", name);
	while (d && (e = readdir(d))) {
		size_t len;
		char *buf;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		buf = slurp(path_in(e->d_name), &len);
		found += buf && len == n && memcmp(buf, want, n) == 0;
		free(buf);
	}
	if (d)
		closedir(d);
	return found;
}

static void test_broken_tail(void)
{
	const char torn[] = "{\"seq\":4,\"ti";
	char path[400], head[400], forged[512], hex[65];
	struct lines ls, v;
	const char *p;

	snprintf(path, sizeof(path), "%s", path_in("b.log"));
	snprintf(head, sizeof(head), "%s", path_in("b.log.head"));
	make_log(path, 3);
	split_lines(path, &ls);
	CHECK_EQ(ls.n, 3);
	if (ls.n != 3)
		return;

	/* A torn write at the end (a crash within a write): moved aside at
	 * once, nothing else touched. */
	v = ls;
	v.p[3] = torn, v.len[3] = strlen(torn), v.n = 4;
	p = variant("b-torn.log", &v, head);
	expect_recovered_with(p, 0, 3, "the head named seq 3; 0 record(s) after it "
			      "continue the chain and were adopted (the log ends at seq 3); "
			      "12 bytes of an incomplete last record moved to");
	CHECK_EQ(find_cut("b-torn.log", torn, strlen(torn)), 1);
	/* A torn line after a line that is not a record: refused. */
	v = ls;
	v.p[2] = "hello\n", v.len[2] = 6;
	v.p[3] = torn, v.len[3] = strlen(torn), v.n = 4;
	expect_open_refused(variant("b-torn-junk.log", &v, head), "no newline at its end");

	/* The head file missing, or not a head. */
	expect_open_refused(variant("b-nohead.log", &ls, NULL), "is missing");
	p = variant("b-badhead.log", &ls, NULL);
	spit(path_in("b-badhead.log.head"), "garbage\n", 8);
	expect_open_refused(p, "the head file is not");
	expect_recovered(p, 3, "the head file was malformed");

	/* The last record edited. */
	v = ls;
	snprintf(forged, sizeof(forged), "%.*s", (int)ls.len[2], ls.p[2]);
	memcpy(strstr(forged, "record 3"), "record 9", 8);
	v.p[2] = forged;
	expect_open_refused(variant("b-edit.log", &v, head), "it was altered");

	/* Lines past the head: a crash before the head update, or forged. */
	sha256_hex(ls.p[2], ls.len[2], hex);
	snprintf(forged, sizeof(forged), "%.*s", (int)ls.len[2], ls.p[2]);
	forged[7] = '4';
	memcpy(strstr(forged, "\"prev\":\"") + 8, hex, 64);
	v = ls;
	v.p[3] = forged, v.len[3] = ls.len[2], v.n = 4;
	p = variant("b-ahead.log", &v, head);
	/* A valid continuation of the chain: adopted at open (a kill -9
	 * between a batch's fdatasync and its head update). */
	expect_recovered_with(p, 0, 4, "the head named seq 3; 1 record(s) after it "
			      "continue the chain and were adopted (the log ends at seq 4); "
			      "0 bytes");
	/* The same, with a torn record after it. */
	v.p[4] = torn, v.len[4] = strlen(torn), v.n = 5;
	p = variant("b-ahead-torn.log", &v, head);
	expect_recovered_with(p, 0, 4, "1 record(s) after it continue the chain and were "
			      "adopted (the log ends at seq 4); 12 bytes of an incomplete last "
			      "record moved to");
	CHECK_EQ(find_cut("b-ahead-torn.log", torn, strlen(torn)), 1);
	/* Past the head but not chained to it: refused, for an officer. */
	memcpy(strstr(forged, "\"prev\":\"") + 8, "0123", 4);
	v.n = 4;
	p = variant("b-ahead-forged.log", &v, head);
	expect_open_refused(p, "(seq 4) is not chained to the line before it");
	expect_recovered(p, 3, "chain valid through seq 3");
	/* Past a head that names no record of the chain: refused. */
	v = ls;
	v.n = 3;
	p = variant("b-ahead-badhead.log", &v, NULL);
	spit(path_in("b-ahead-badhead.log.head"),
	     "{\"seq\":2,\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n",
	     strlen("{\"seq\":2,\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n"));
	expect_open_refused(p, "continues past its head");

	/* The last record removed; an empty log with a head. */
	v = ls;
	v.n = 2;
	expect_open_refused(variant("b-trunc.log", &v, head),
			    "the head names seq 3 but the log ends at seq 2");
	v.n = 0;
	expect_open_refused(variant("b-empty.log", &v, head),
			    "the log is empty but its head names seq 3");

	/* The last line is not a record, or not chained to the one before. */
	v = ls;
	v.p[2] = "hello\n", v.len[2] = 6;
	expect_open_refused(variant("b-junk.log", &v, head),
			    "the last line: not valid JSON");
	v = ls;
	v.p[1] = ls.p[2], v.len[1] = ls.len[2], v.n = 2; /* line 2 deleted */
	expect_open_refused(variant("b-gap.log", &v, head),
			    "(seq 3) is not chained to the line before it");
	v.p[0] = ls.p[2], v.len[0] = ls.len[2], v.n = 1;
	expect_open_refused(variant("b-first.log", &v, head),
			    "holds seq 3 but is line 1");

	/* A middle record edited: the tail check sees line 3 unchained;
	 * recovery keeps line 1 and moves lines 2-3 aside. */
	v = ls;
	snprintf(forged, sizeof(forged), "%.*s", (int)ls.len[1], ls.p[1]);
	memcpy(strstr(forged, "record 2"), "record 7", 8);
	v.p[1] = forged;
	p = variant("b-mid.log", &v, head);
	expect_open_refused(p, "is not chained to the line before it");
	expect_recovered(p, 1, "chain valid through seq 1 (line 2 (seq 2) is "
			       "not the record line 3 was chained to");
	free(ls.text);
}

/* ---- a failing disk ----------------------------------------------------- */

static void test_io_failure(void)
{
	const char *path = path_in("fail.log");
	struct audit_log *l = open_ok(path, 8);
	static char detail[900];
	struct audit_event ev = ev_of("officer:dave", "key.generate", "k", "ok",
				      NULL);
	struct rlimit old, lim;
	struct audit_stats st;
	struct stat sb;
	uint64_t seq = 1;
	off_t size;

	if (!l)
		return;
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_OK);
	CHECK(stat(path, &sb) == 0);
	size = sb.st_size;

	/* The file may grow by 50 bytes only: the next batch's write(2) is
	 * short, the rest fails with EFBIG. */
	memset(detail, 'x', sizeof(detail) - 1);
	ev.detail = detail;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 50;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_EINTERNAL);
	CHECK_EQ(seq, 0);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	/* Failed for good: nothing more is accepted. */
	CHECK_EQ(audit_append(l, &ev), IG_EINTERNAL);
	CHECK_EQ(audit_append_sync(l, &ev, &seq), IG_EINTERNAL);
	CHECK_EQ(audit_flush(l), IG_EINTERNAL);
	audit_get_stats(l, &st);
	CHECK(st.failed);
	CHECK_EQ(st.written, 2);
	CHECK_EQ(st.lost, 1);
	audit_close(l);

	/* The partial batch was cut off: the log is whole and reopens. */
	CHECK(stat(path, &sb) == 0 && sb.st_size == size);
	expect_verify(path, IG_OK, 2, 0, NULL);
	l = open_ok(path, 8);
	ev.detail = NULL;
	CHECK(l && audit_append_sync(l, &ev, &seq) == IG_OK && seq == 3);
	audit_close(l);
}

int main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(dir, sizeof(dir), "/tmp/idgate-audit.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_append_verify_reopen();
	test_queue_full();
	test_notify();
	test_tamper();
	test_escapes();
	test_usage();
	test_broken_tail();
	test_io_failure();
	test_concurrent();
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "audit_test: %.1f s\n",
		(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return check_done("audit");
}
