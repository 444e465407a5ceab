/*
 * fuzz_audit.c - arbitrary bytes as an audit log and its head file into
 * audit_verify (hsm/audit.c), the reader behind idgate-keys audit and the
 * recovery of a damaged log.  Besides memory errors it checks the promises
 * of audit.h, aborting when one fails:
 *   - the answer is IG_OK or IG_EPROTO; a refusal names a line or the head,
 *     its first bad seq is a line of the file or the one after the last,
 *     and the records before it are counted;
 *   - those records are a valid log by themselves: with a head written
 *     for them they verify, all of them;
 *   - an accepted log has one record a line, and a change to any one byte
 *     of it or of its head (where a hash of the input says), or its last
 *     line removed, is refused.
 *
 * Byte 0 odd: byte 1 is the length of the head file, which follows; the
 * rest is the log.  Byte 0 even: no head file, the rest is the log.  The
 * two files live in a temporary directory, rewritten for each input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/jose.h"
#include "../../hsm/audit.h"
#include "fuzz.h"

static char fz_dir[64], fz_log[96], fz_head[104];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz-audit-XXXXXX");
	FUZZ_ASSERT(mkdtemp(fz_dir) != NULL);
	snprintf(fz_log, sizeof(fz_log), "%s/audit.log", fz_dir);
	snprintf(fz_head, sizeof(fz_head), "%s.head", fz_log);
	return 0;
}

static void fz_cleanup(void) __attribute__((destructor));
static void fz_cleanup(void)
{
	if (!fz_dir[0])
		return;
	unlink(fz_log);
	unlink(fz_head);
	rmdir(fz_dir);
}

/* <path> holds the <n> bytes at <p>, or does not exist (<p> NULL). */
static void fz_file(const char *path, const void *p, size_t n)
{
	FILE *f;

	if (!p) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

/* The head file a writer leaves after the <n> bytes <log> holding
 * <records> records. */
static void fz_fresh_head(const char *log, size_t n, uint64_t records)
{
	const char *last = log;
	uint8_t hash[32] = { 0 };
	char hex[65], head[128];
	int hl;

	if (records) {
		for (const char *q = log; q < log + n - 1; q++)
			if (*q == '\n')
				last = q + 1;
		sha256((const uint8_t *)last, (size_t)(log + n - last), hash);
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	hl = snprintf(head, sizeof(head), "{\"seq\":%llu,\"hash\":\"%s\"}\n",
		      (unsigned long long)records, hex);
	fz_file(fz_head, head, (size_t)hl);
}

/* audit_verify of the files as they are now. */
static int fz_verify(uint64_t *records, uint64_t *bad, const char **why)
{
	*why = NULL;
	return audit_verify(fz_log, records, bad, why);
}

/* The longest valid prefix of <log> (<len> bytes): its first <records>
 * lines. */
static void fz_prefix(const char *log, size_t len, uint64_t records)
{
	size_t n = 0;
	uint64_t got = 0, bad = 0;
	const char *why;

	for (uint64_t i = 0; i < records; i++) {
		const char *nl = memchr(log + n, '\n', len - n);

		FUZZ_ASSERT(nl != NULL);
		n = (size_t)(nl - log) + 1;
	}
	fz_file(fz_log, log, n);
	if (records)
		fz_fresh_head(log, n, records);
	else
		fz_file(fz_head, NULL, 0);
	FUZZ_ASSERT(fz_verify(&got, &bad, &why) == IG_OK && got == records);
}

/* <log> (<n> bytes, <lines> of them) was accepted with <head>; <where>
 * picks the bytes to change. */
static void fz_accepted(char *log, size_t n, size_t lines, const char *head,
			size_t hn, uint32_t where)
{
	uint64_t got, bad;
	const char *why;

	if (n) {
		size_t at = where % n;

		log[at] ^= 0x20;
		fz_file(fz_log, log, n);
		FUZZ_ASSERT(fz_verify(&got, &bad, &why) == IG_EPROTO);
		log[at] ^= 0x20;
		fz_file(fz_log, log, n);
	}
	if (head && hn) {
		char *h = malloc(hn);
		size_t at = where % hn;

		FUZZ_ASSERT(h != NULL);
		memcpy(h, head, hn);
		h[at] ^= 0x20;
		fz_file(fz_head, h, hn);
		FUZZ_ASSERT(fz_verify(&got, &bad, &why) == IG_EPROTO);
		free(h);
		fz_file(fz_head, head, hn);
	}
	if (lines) {
		size_t cut = 0;

		for (size_t i = 0; i + 1 < n; i++)
			if (log[i] == '\n')
				cut = i + 1;
		fz_file(fz_log, log, cut);
		FUZZ_ASSERT(fz_verify(&got, &bad, &why) == IG_EPROTO &&
			    bad == lines);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *head = NULL, *why;
	char *log;
	size_t hn = 0, n, lines = 0;
	uint64_t records = 0, bad = 0;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (size < 2)
			return 0;
		hn = data[1] < size - 2 ? data[1] : size - 2;
		head = (const char *)data + 2;
	}
	n = size - 1 - (head ? 1 + hn : 0);
	log = malloc(n + 1);
	FUZZ_ASSERT(log != NULL);
	memcpy(log, data + size - n, n);
	for (size_t i = 0; i < n; i++)
		lines += log[i] == '\n';

	fz_file(fz_log, log, n);
	fz_file(fz_head, head, hn);
	rc = fz_verify(&records, &bad, &why);
	if (rc == IG_OK) {
		FUZZ_ASSERT(records == lines && bad == 0);
		uint32_t h = 2166136261u; /* FNV-1a of the input */

		for (size_t i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		fz_accepted(log, n, lines, head, hn, h);
	} else {
		FUZZ_ASSERT(rc == IG_EPROTO && why &&
			    (strstr(why, "line ") || strstr(why, "head")));
		FUZZ_ASSERT(bad >= 1 && bad <= lines + 1 && records == bad - 1);
		fz_prefix(log, n, records);
	}
	free(log);
	return 0;
}
