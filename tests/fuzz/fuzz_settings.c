/*
 * fuzz_settings.c - arbitrary bytes into the settings parser of idgated
 * and idgate-keys (common/config.c): an INI file through config_load, then
 * --set overrides through config_set_arg, then config_finish.
 *
 * The input is "INI text" [NUL "--set argument" ("\n" "--set argument")*]:
 * the text before the first NUL is written to a temporary file (one file,
 * rewritten for each input) and loaded as --config would load it; each line
 * after it is one --set argument.  Besides memory errors it checks the
 * promises, aborting when one fails:
 *   - a refused file says so with its path and a line number inside the
 *     file, after a reason of its own (a line too long for inih's buffer
 *     included: inih would cut it in two);
 *   - an accepted file gives, setting for setting, the same configuration
 *     as the same pairs given as --set section.name=value arguments;
 *   - a refused --set says why, naming the setting (or the flag's form);
 *   - config_finish refuses with a reason or leaves a configuration whose
 *     derived values hold what the rest of the server relies on (an https
 *     issuer and its token endpoint, power-of-two queues, absolute or
 *     state-relative paths, a TLS 1.3 suite, NUL-terminated strings).
 */
#include <ini.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/config.h"
#include "fuzz.h"

/* The size of the error buffers of idgated and idgate-keys. */
#define FZ_ERR 300

static char fz_path[64];
static int fz_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");

	snprintf(fz_path, sizeof(fz_path), "%s/fuzz-settings-XXXXXX",
		 dir && strlen(dir) < 32 ? dir : "/tmp");
	fz_fd = mkstemp(fz_path);
	FUZZ_ASSERT(fz_fd >= 0);
	return 0;
}

static void fz_cleanup(void) __attribute__((destructor));
static void fz_cleanup(void)
{
	if (fz_fd >= 0)
		unlink(fz_path);
}

/* The file's content is <text>, <len> bytes. */
static void fz_write(const char *text, size_t len)
{
	FUZZ_ASSERT(ftruncate(fz_fd, 0) == 0);
	FUZZ_ASSERT(pwrite(fz_fd, text, len, 0) == (ssize_t)len);
}

/* A refused file: "syntax error in PATH at line N", "line N of PATH is
 * longer than M bytes" or "<reason> (in PATH, line N)", N a line of the
 * file (<lines> of them). */
static void fz_file_refused(const char *err, size_t lines)
{
	char head[128], tail[128];
	const char *at = NULL, *q;
	char *end;
	long n;

	snprintf(head, sizeof(head), "syntax error in %s at line ", fz_path);
	snprintf(tail, sizeof(tail), " (in %s, line ", fz_path);
	if (!strncmp(err, head, strlen(head))) {
		n = strtol(err + strlen(head), &end, 10);
		FUZZ_ASSERT(*end == '\0');
	} else if (!strncmp(err, "line ", 5)) {
		n = strtol(err + 5, &end, 10);
		snprintf(head, sizeof(head), " of %s is longer than ", fz_path);
		FUZZ_ASSERT(!strncmp(end, head, strlen(head)));
	} else {
		/* The last one: a reason may quote the path itself. */
		for (q = err; (q = strstr(q, tail)) != NULL; q++)
			at = q;
		FUZZ_ASSERT(at != NULL && at > err);
		n = strtol(at + strlen(tail), &end, 10);
		FUZZ_ASSERT(!strcmp(end, ")"));
	}
	FUZZ_ASSERT(n >= 1 && (size_t)n <= lines);
}

/* Each pair of an accepted file again, as a --set argument. */
static int fz_as_set(void *arg, const char *section, const char *name,
		     const char *value)
{
	struct config *c = arg;
	char *set, err[FZ_ERR] = "";

	FUZZ_ASSERT(asprintf(&set, "%s.%s=%s", section, name, value) > 0);
	FUZZ_ASSERT(config_set_arg(c, set, err, sizeof(err)) == 0);
	free(set);
	return 1;
}

/* One --set argument <arg> (NUL-terminated) applied to <c>; 0, or -1
 * when refused (idgated stops there: a refused value may be half set). */
static int fz_set(struct config *c, const char *arg)
{
	char err[FZ_ERR] = "";
	const char *eq = strchr(arg, '='), *dot = NULL;
	char sec[80], name[80];

	if (config_set_arg(c, arg, err, sizeof(err)) == 0)
		return 0;
	FUZZ_ASSERT(err[0] != '\0');
	if (!strcmp(err, "--set takes section.name=value"))
		return -1;
	/* The name is after the last dot before '=': the reason names it, or
	 * the section when that is what is wrong (a bad [hsm.NAME]). */
	for (const char *q = arg; eq && q < eq; q++)
		if (*q == '.')
			dot = q;
	FUZZ_ASSERT(dot && eq && dot - arg < (long)sizeof(sec) &&
		    eq - dot - 1 < (long)sizeof(name));
	snprintf(sec, sizeof(sec), "%.*s", (int)(dot - arg), arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - dot - 1), dot + 1);
	FUZZ_ASSERT(strstr(err, name) || strstr(err, sec));
	return -1;
}

static void fz_terminated(const char *s, size_t cap)
{
	FUZZ_ASSERT(memchr(s, '\0', cap) != NULL);
}

/* <path> after config_finish: absolute, "env:...", or under the state
 * dir (the key file may also be "hsm"). */
static void fz_path_ok(const struct config *c, const char *path, size_t cap)
{
	size_t sl = strlen(c->state_dir);

	fz_terminated(path, cap);
	FUZZ_ASSERT(path[0] == '/' || !strncmp(path, "env:", 4) ||
		    (!strncmp(path, c->state_dir, sl) && path[sl] == '/'));
}

static int fz_pow2(unsigned v)
{
	return v >= 2 && !(v & (v - 1));
}

static void fz_finished(const struct config *c)
{
	size_t il = strlen(c->issuer);
	unsigned v13 = 0;

	fz_terminated(c->issuer, sizeof(c->issuer));
	FUZZ_ASSERT(!strncmp(c->issuer, "https://", 8) && il <= 200);
	FUZZ_ASSERT(!strncmp(c->token_endpoint, c->issuer, il) &&
		    !strcmp(c->token_endpoint + il, "/oauth2/token"));
	FUZZ_ASSERT(c->hsm_threads >= 1 && c->hsm_threads <= 256 &&
		    fz_pow2(c->hsm_queue));
	FUZZ_ASSERT(c->max_head >= 1024 && c->max_head <= 65536 &&
		    c->max_body <= (1u << 24));
	FUZZ_ASSERT(c->nhsms <= CONFIG_MAX_HSMS);
	for (unsigned i = 0; i < c->nhsms; i++) {
		const struct config_hsm *h = &c->hsms[i];

		fz_terminated(h->name, sizeof(h->name));
		fz_terminated(h->module, sizeof(h->module));
		fz_terminated(h->token, sizeof(h->token));
		fz_terminated(h->issuer_key, sizeof(h->issuer_key));
		FUZZ_ASSERT(h->name[0] && h->token[0] && h->threads >= 1 &&
			    fz_pow2(h->queue));
		fz_path_ok(c, h->pin_file, sizeof(h->pin_file));
	}
	fz_path_ok(c, c->cert_file, sizeof(c->cert_file));
	if (c->tls_key_in_hsm)
		FUZZ_ASSERT(!strcmp(c->key_file, "hsm"));
	else
		fz_path_ok(c, c->key_file, sizeof(c->key_file));
	fz_path_ok(c, c->hsm_pin_file, sizeof(c->hsm_pin_file));
	fz_path_ok(c, c->admin_token_file, sizeof(c->admin_token_file));
	fz_path_ok(c, c->ticket_secret_file, sizeof(c->ticket_secret_file));
	fz_path_ok(c, c->audit_keys_log, sizeof(c->audit_keys_log));
	fz_path_ok(c, c->audit_server_log, sizeof(c->audit_server_log));
	fz_path_ok(c, c->keys_officers_dir, sizeof(c->keys_officers_dir));
	fz_path_ok(c, c->csc_ca_cert, sizeof(c->csc_ca_cert));
	FUZZ_ASSERT(c->tls_groups.n >= 1 && c->tls_groups.n <= CONFIG_MAX_TLS_IDS &&
		    c->tls_suites.n >= 1 && c->tls_suites.n <= CONFIG_MAX_TLS_IDS);
	for (unsigned i = 0; i < c->tls_suites.n; i++)
		v13 += c->tls_suites.id[i] >> 8 == 0x13;
	FUZZ_ASSERT(v13 >= 1);
	FUZZ_ASSERT(c->dpdk_fault_spec.drop >= 0 && c->dpdk_fault_spec.dup >= 0 &&
		    c->dpdk_fault_spec.reorder >= 0 &&
		    c->dpdk_fault_spec.drop + c->dpdk_fault_spec.dup +
				    c->dpdk_fault_spec.reorder <= 1);
	if (c->backend == BACKEND_DPDK)
		FUZZ_ASSERT(c->dpdk_ip != 0 && c->dpdk_tcp_port != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, again;
	const char *nul = memchr(data, '\0', size);
	size_t ini_len = nul ? (size_t)(nul - (const char *)data) : size;
	size_t lines = 1;
	char err[FZ_ERR] = "";
	char *sets, *p, *line;
	int refused = 0;

	for (size_t i = 0; i < ini_len; i++)
		lines += data[i] == '\n';
	fz_write((const char *)data, ini_len);
	config_defaults(&c);
	if (config_load(&c, fz_path, err, sizeof(err)) < 0) {
		fz_file_refused(err, lines);
		return 0;
	}
	config_defaults(&again);
	FUZZ_ASSERT(ini_parse(fz_path, fz_as_set, &again) == 0);
	FUZZ_ASSERT(!memcmp(&c, &again, sizeof(c)));

	if (nul) {
		size_t n = size - ini_len - 1;

		sets = malloc(n + 1);
		FUZZ_ASSERT(sets != NULL);
		memcpy(sets, nul + 1, n);
		sets[n] = '\0';
		for (p = sets; !refused && (line = strsep(&p, "\n")) != NULL;)
			refused = fz_set(&c, line) < 0;
		free(sets);
		if (refused)
			return 0;
	}
	err[0] = '\0';
	if (config_finish(&c, err, sizeof(err)) < 0) {
		FUZZ_ASSERT(err[0] != '\0');
		return 0;
	}
	fz_finished(&c);
	return 0;
}
