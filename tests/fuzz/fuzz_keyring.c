/*
 * fuzz_keyring.c - arbitrary bytes into the parsers of what an HSM hands
 * back: keyring_parse (the lifecycle document in a token's data object)
 * and pubkey_from_ec (CKA_EC_PARAMS, CKA_EC_POINT).  Besides memory errors
 * it checks properties, aborting when one fails:
 *   - every refusal gives a reason and leaves an empty keyring;
 *   - an accepted keyring formats and parses back to the same keys, and
 *     its times are in lifecycle order;
 *   - an accepted EC key formats as a JWK and a PEM.
 * The first byte picks the parser: even for the keyring, odd for EC (the
 * next byte is then the length of CKA_EC_PARAMS).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../hsm/keyring.h"
#include "../../hsm/pubkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring fz_kr, fz_back;

static void fz_keyring(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *doc;

	if (keyring_parse((const char *)data, size, &fz_kr, &why) < 0) {
		if (!why || fz_kr.n != 0)
			abort();
		return;
	}
	for (unsigned i = 0; i < fz_kr.n; i++) {
		const struct keyring_entry *e = &fz_kr.e[i];

		if ((e->activate && e->activate < e->publish) ||
		    (e->unpublish && e->unpublish < e->retire))
			abort();
		(void)keyring_state(e, (int64_t)size * 1000);
	}
	doc = keyring_format(&fz_kr);
	if (!doc)
		abort();
	if (keyring_parse(doc, strlen(doc), &fz_back, &why) < 0 ||
	    fz_back.n != fz_kr.n || fz_back.version != fz_kr.version ||
	    memcmp(fz_back.e, fz_kr.e, fz_kr.n * sizeof(fz_kr.e[0])))
		abort();
	free(doc);
}

static void fz_ec(const uint8_t *data, size_t size)
{
	struct pubkey k;
	const char *why = NULL;
	char out[PUBKEY_PEM_MAX + PUBKEY_JWK_MAX];
	size_t plen;

	if (size < 1)
		return;
	plen = data[0] < size - 1 ? data[0] : size - 1;
	if (pubkey_from_ec(&k, data + 1, plen, data + 1 + plen, size - 1 - plen,
			   &why) < 0) {
		if (!why)
			abort();
		return;
	}
	if (pubkey_jwk(&k, NULL, out, sizeof(out)) < 0 ||
	    pubkey_pem(&k, out, sizeof(out)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fz_ec(data + 1, size - 1);
	else
		fz_keyring(data + 1, size - 1);
	return 0;
}
