/*
 * keyring_test.c - the key lifecycle document: states from times, strict
 * parsing, formatting round trips.  (Its storage in a token is exercised by
 * hsm_test against SoftHSM.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hsm/keyring.h"
#include "check.h"

static void test_states(void)
{
	struct keyring_entry k = { .publish = 100, .activate = 200, .retire = 300,
				   .unpublish = 400 };
	struct keyring_entry never = { 0 };
	struct keyring_entry issuer_only = { .publish = 100 };

	CHECK_EQ(keyring_state(&k, 99), KR_GENERATED);
	CHECK_EQ(keyring_state(&k, 100), KR_NEXT);
	CHECK_EQ(keyring_state(&k, 199), KR_NEXT);
	CHECK_EQ(keyring_state(&k, 200), KR_ACTIVE);
	CHECK_EQ(keyring_state(&k, 299), KR_ACTIVE);
	CHECK_EQ(keyring_state(&k, 300), KR_RETIRING);
	CHECK_EQ(keyring_state(&k, 399), KR_RETIRING);
	CHECK_EQ(keyring_state(&k, 400), KR_RETIRED);
	CHECK_EQ(keyring_state(&never, 1000), KR_GENERATED);
	CHECK_EQ(keyring_state(&issuer_only, 1000000), KR_NEXT);
	CHECK(!keyring_published(&k, 99));
	CHECK(keyring_published(&k, 100));
	CHECK(keyring_published(&k, 250));
	CHECK(keyring_published(&k, 399));
	CHECK(!keyring_published(&k, 400));
	CHECK_EQ(keyring_purpose_parse("token-issuer"), KR_TOKEN_ISSUER);
	CHECK_EQ(keyring_purpose_parse("wrap"), KR_WRAP);
	CHECK_EQ(keyring_purpose_parse("signing"), -1);
	CHECK_EQ(keyring_purpose_parse(NULL), -1);
}

static void test_round_trip(void)
{
	static struct keyring kr, back;
	const char *why = NULL;
	char *doc, *again;

	kr.version = 7;
	kr.n = 2;
	memcpy(kr.e[0].id, "\x01\xab\xff", 3);
	kr.e[0].id_len = 3;
	strcpy(kr.e[0].label, "issuer \"one\"");
	strcpy(kr.e[0].alg, "EC P-256");
	kr.e[0].purpose = KR_TOKEN_ISSUER;
	kr.e[0].created = 5;
	kr.e[0].publish = 10;
	kr.e[0].activate = 20;
	memcpy(kr.e[1].id, "wrapkey", 7);
	kr.e[1].id_len = 7;
	strcpy(kr.e[1].label, "w");
	strcpy(kr.e[1].alg, "AES-256");
	kr.e[1].purpose = KR_WRAP;
	doc = keyring_format(&kr);
	CHECK(doc != NULL);
	CHECK(doc && strstr(doc, "\"id\":\"01abff\"") != NULL);
	CHECK_EQ(keyring_parse(doc, strlen(doc), &back, &why), IG_OK);
	CHECK_EQ(back.version, 7);
	CHECK_EQ(back.n, 2);
	CHECK(memcmp(&back.e[0], &kr.e[0], sizeof(kr.e[0])) == 0);
	CHECK(memcmp(&back.e[1], &kr.e[1], sizeof(kr.e[1])) == 0);
	again = keyring_format(&back);
	CHECK(again && doc && strcmp(doc, again) == 0);
	CHECK(keyring_find(&back, (const uint8_t *)"wrapkey", 7) == &back.e[1]);
	CHECK(keyring_find(&back, (const uint8_t *)"wrapke", 6) == NULL);
	free(doc);
	free(again);
}

#define KEY(extra) "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\"," \
	"\"purpose\":\"tls\",\"alg\":\"EC P-256\",\"created\":1,\"publish\":0," \
	"\"activate\":0,\"retire\":0,\"unpublish\":0" extra "}]}"

static void test_rejects(void)
{
	static const struct { const char *doc, *why; } bad[] = {
		{ "", "not valid JSON" },
		{ "[]", "version" },
		{ "{\"version\":0,\"keys\":[]}", "version" },
		{ "{\"version\":1}", "no keys array" },
		{ "{\"version\":1,\"keys\":[],\"x\":1}", "unknown member" },
		{ "{\"version\":1,\"version\":2,\"keys\":[]}", "not valid JSON" },
		{ "{\"version\":1,\"keys\":[1]}", "not an object" },
		{ KEY(",\"extra\":1"), "unknown member" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\"}]}", "lacks" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0A\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0}]}", "hex" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0}]}", "hex" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"x\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0}]}", "purpose" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":-1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0}]}", "non-negative" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":5,\"retire\":0,"
		  "\"unpublish\":0}]}", "out of order" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":9,\"activate\":5,\"retire\":0,"
		  "\"unpublish\":0}]}", "out of order" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":1,\"activate\":5,\"retire\":3,"
		  "\"unpublish\":0}]}", "out of order" },
		{ "{\"version\":1,\"keys\":[{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":1,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":4}]}", "out of order" },
		{ "{\"version\":1,\"keys\":[" "{\"id\":\"0a\",\"label\":\"l\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0},{\"id\":\"0a\",\"label\":\"m\",\"purpose\":\"tls\","
		  "\"alg\":\"a\",\"created\":1,\"publish\":0,\"activate\":0,\"retire\":0,"
		  "\"unpublish\":0}]}", "same id" },
	};
	static struct keyring kr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		int rc = keyring_parse(bad[i].doc, strlen(bad[i].doc), &kr, &why);

		CHECK_EQ(rc, IG_EPROTO);
		CHECK(why && strstr(why, bad[i].why));
		if (!why || !strstr(why, bad[i].why))
			fprintf(stderr, "  case %zu: %s\n", i, why ? why : "(null)");
		CHECK_EQ(kr.n, 0);
	}
	{
		const char *why = NULL;
		const char *ok = KEY("");

		CHECK_EQ(keyring_parse(ok, strlen(ok), &kr, &why), IG_OK);
		CHECK_EQ(kr.n, 1);
	}
}

int main(void)
{
	test_states();
	test_round_trip();
	test_rejects();
	return check_done("keyring");
}
