/*
 * fuzz_clienthello.c - a client's first flight (one or more records: a
 * ClientHello, a second one after a HelloRetryRequest, anything) into a
 * TLS server configured as idgated configures it: the default tls.groups
 * and tls.ciphersuites from config.c, a self-signed P-256 certificate
 * made once at start (tls_make_self_signed, in a temporary directory
 * removed at once).  One connection object is reused for every input, as
 * a worker recycles its connections.  Besides memory errors it checks
 * that the server's answer is bounded (a flight, an alert: never more
 * than 32 KiB), that a failure is sticky and leaves a reason, and that a
 * handshake never completes (a client Finished needs keys no input has).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <psa/crypto.h>

#include "../../common/result.h"
#include "../../common/config.h"
#include "../../dataplane/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_BOUND (32u << 10)

static struct tls_server ts;
static struct tls_conn tc;
static struct config cfg;

static void server_init(void)
{
	static const uint8_t secret[32] = { 1 };
	char dir[] = "/tmp/idgate-fuzz-hello-XXXXXX", crt[64], key[64];
	const char *why = "";
	struct tls_options opt;

	if (psa_crypto_init() != PSA_SUCCESS || !mkdtemp(dir))
		abort();
	snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	config_defaults(&cfg);
	opt = (struct tls_options){ cfg.tls_min_version, cfg.tls_groups.id, cfg.tls_groups.n,
				    cfg.tls_suites.id, cfg.tls_suites.n };
	if (tls_make_self_signed(crt, key, "localhost", &why) < 0 ||
	    tls_server_init(&ts, crt, key, NULL, &opt, secret, 3600, time(NULL), &why) < 0) {
		fprintf(stderr, "fuzz_clienthello: %s\n", why);
		abort();
	}
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct buf in = { 0 }, out = { 0 };
	const char *why = NULL;
	int rc = IG_EBLOCKED;

	if (!ready) {
		server_init();
		ready = 1;
	}
	if (tls_conn_start(&ts, &tc, &in, &out) < 0 ||
	    (size && buf_append(&in, data, size, 1u << 20) < 0))
		abort();
	/* As conn_pump does: advance while input is consumed. */
	for (size_t left = SIZE_MAX; rc == IG_EBLOCKED && buf_avail(&in) != left;) {
		left = buf_avail(&in);
		rc = tls_conn_handshake(&ts, &tc, &why);
	}
	if (rc == IG_OK || buf_avail(&out) > OUT_BOUND)
		abort();
	if (rc == IG_EPROTO) {
		why = NULL;
		if (!tc.failed || tls_conn_handshake(&ts, &tc, &why) != IG_EPROTO || !why)
			abort();
	}
	buf_free(&in);
	buf_free(&out);
	return 0;
}
