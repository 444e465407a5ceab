/*
 * fuzz_x509.c - arbitrary bytes into x509_parse_info, which reads the
 * certificates idgated keeps (citizens' credentials, the CA's) back for
 * credentials/info.  Besides memory errors it checks that a refusal gives
 * a reason and that an accepted certificate's key formats as a JWK and its
 * strings are NUL-terminated within their fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../hsm/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_info info;
	const char *why = NULL;
	char jwk[PUBKEY_JWK_MAX];

	if (x509_parse_info(data, size, &info, &why) < 0) {
		if (!why)
			abort();
		return 0;
	}
	if (!memchr(info.subject, 0, sizeof(info.subject)) ||
	    !memchr(info.issuer, 0, sizeof(info.issuer)) ||
	    !memchr(info.serial_hex, 0, sizeof(info.serial_hex)) ||
	    pubkey_jwk(&info.key, NULL, jwk, sizeof(jwk)) < 0)
		abort();
	return 0;
}
