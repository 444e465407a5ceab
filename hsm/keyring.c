/*
 * keyring.c - the per-token key lifecycle document.  See keyring.h.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hex.h"
#include "keyring.h"
#include "p11.h"

const char *const keyring_purpose_names[KR_PURPOSE_COUNT] = {
	"token-issuer", "tls", "ca", "wrap",
};

const char *const keyring_state_names[KR_STATE_COUNT] = {
	"generated", "next", "active", "retiring", "retired",
};

int keyring_purpose_parse(const char *s)
{
	for (int i = 0; i < KR_PURPOSE_COUNT; i++)
		if (s && !strcmp(s, keyring_purpose_names[i]))
			return i;
	return -1;
}

enum keyring_state keyring_state(const struct keyring_entry *k, int64_t now)
{
	if (!k->publish || now < k->publish)
		return KR_GENERATED;
	if (k->retire && now >= k->retire)
		return k->unpublish && now >= k->unpublish ? KR_RETIRED
							   : KR_RETIRING;
	if (k->activate && now >= k->activate)
		return KR_ACTIVE;
	return KR_NEXT;
}

int keyring_published(const struct keyring_entry *k, int64_t now)
{
	enum keyring_state s = keyring_state(k, now);

	return s == KR_NEXT || s == KR_ACTIVE || s == KR_RETIRING;
}

struct keyring_entry *keyring_find(struct keyring *kr, const uint8_t *id,
				   size_t id_len)
{
	for (unsigned i = 0; i < kr->n; i++)
		if (kr->e[i].id_len == id_len && !memcmp(kr->e[i].id, id, id_len))
			return &kr->e[i];
	return NULL;
}

void keyring_id_hex(const uint8_t *id, size_t len, char *out)
{
	hex_encode(id, len, out);
	out[2 * len] = '\0';
}

static int keyring_time(json_t *o, const char *name, int64_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static const char *keyring_entry_parse(json_t *o, struct keyring_entry *k)
{
	static const char *const members[] = {
		"id", "label", "purpose", "alg", "created", "publish",
		"activate", "retire", "unpublish",
	};
	const char *id, *label, *purpose, *alg, *name;
	json_t *v;
	int p, n;

	if (!json_is_object(o))
		return "a key is not an object";
	json_object_foreach(o, name, v) {
		size_t i = 0;

		while (i < IG_ARRAY_LEN(members) && strcmp(name, members[i]))
			i++;
		if (i == IG_ARRAY_LEN(members))
			return "a key has an unknown member";
	}
	id = json_string_value(json_object_get(o, "id"));
	label = json_string_value(json_object_get(o, "label"));
	purpose = json_string_value(json_object_get(o, "purpose"));
	alg = json_string_value(json_object_get(o, "alg"));
	if (!id || !label || !purpose || !alg)
		return "a key lacks id, label, purpose or alg";
	n = hex_decode(id, strlen(id), k->id, sizeof(k->id));
	if (n < 0)
		return "a key's id is not lowercase hex of 1 to 64 bytes";
	k->id_len = (size_t)n;
	if (strlen(label) > KEYRING_LABEL_MAX || strlen(alg) >= sizeof(k->alg))
		return "a key's label or alg is too long";
	strcpy(k->label, label);
	strcpy(k->alg, alg);
	p = keyring_purpose_parse(purpose);
	if (p < 0)
		return "a key has an unknown purpose";
	k->purpose = (uint8_t)p;
	if (keyring_time(o, "created", &k->created) < 0 ||
	    keyring_time(o, "publish", &k->publish) < 0 ||
	    keyring_time(o, "activate", &k->activate) < 0 ||
	    keyring_time(o, "retire", &k->retire) < 0 ||
	    keyring_time(o, "unpublish", &k->unpublish) < 0)
		return "a key's times are not non-negative integers";
	/* Each transition needs the one before it, and comes after it. */
	if ((k->activate && (!k->publish || k->activate < k->publish)) ||
	    (k->retire && (!k->publish || k->retire < k->publish ||
			   (k->activate && k->retire < k->activate))) ||
	    (k->unpublish && (!k->retire || k->unpublish < k->retire)))
		return "a key's lifecycle times are out of order";
	return NULL;
}

int keyring_parse(const char *json, size_t len, struct keyring *out,
		  const char **why)
{
	json_t *root, *keys, *v;
	const char *name, *err = NULL;
	json_error_t je;
	size_t i;

	memset(out, 0, sizeof(*out));
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	IG_ENSURE(root, IG_EPROTO, why, "the keyring is not valid JSON");
	keys = json_object_get(root, "keys");
	json_object_foreach(root, name, v) {
		if (strcmp(name, "version") && strcmp(name, "keys"))
			err = "the keyring has an unknown member";
	}
	v = json_object_get(root, "version");
	if (!err && (!json_is_integer(v) || json_integer_value(v) < 1))
		err = "the keyring's version is not a positive integer";
	if (!err && !json_is_array(keys))
		err = "the keyring has no keys array";
	if (!err && json_array_size(keys) > KEYRING_MAX)
		err = "the keyring holds more than 64 keys";
	if (!err)
		out->version = (uint64_t)json_integer_value(v);
	json_array_foreach(keys, i, v) {
		if (err)
			break;
		err = keyring_entry_parse(v, &out->e[i]);
		if (!err && keyring_find(out, out->e[i].id, out->e[i].id_len))
			err = "two keys of the keyring have the same id";
		out->n = (unsigned)i + 1;
	}
	json_decref(root);
	if (err) {
		memset(out, 0, sizeof(*out));
		*why = err;
		return IG_EPROTO;
	}
	return IG_OK;
}

char *keyring_format(const struct keyring *kr)
{
	json_t *root = json_object(), *keys = json_array();
	char hex[2 * KEYRING_ID_MAX + 1], *s;

	if (!root || !keys) {
		json_decref(root);
		json_decref(keys);
		return NULL;
	}
	json_object_set_new(root, "version", json_integer((json_int_t)kr->version));
	for (unsigned i = 0; i < kr->n; i++) {
		const struct keyring_entry *k = &kr->e[i];

		keyring_id_hex(k->id, k->id_len, hex);
		json_array_append_new(keys, json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
			"id", hex, "label", k->label,
			"purpose", keyring_purpose_names[k->purpose],
			"alg", k->alg, "created", (json_int_t)k->created,
			"publish", (json_int_t)k->publish,
			"activate", (json_int_t)k->activate,
			"retire", (json_int_t)k->retire,
			"unpublish", (json_int_t)k->unpublish));
	}
	json_object_set_new(root, "keys", keys);
	s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(root);
	return s;
}

/* ---- storage in the token ------------------------------------------------ */

#define KEYRING_MAX_OBJECTS 8

/* The keyring data objects of the token: at most KEYRING_MAX_OBJECTS. */
static int keyring_objects(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			   CK_OBJECT_HANDLE *h, CK_ULONG *n, CK_RV *rv,
			   const char **why)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)KEYRING_LABEL, sizeof(KEYRING_LABEL) - 1 },
		{ CKA_APPLICATION, (void *)KEYRING_APPLICATION,
		  sizeof(KEYRING_APPLICATION) - 1 },
	};

	*rv = f->C_FindObjectsInit(s, tmpl, IG_ARRAY_LEN(tmpl));
	if (*rv != CKR_OK) {
		*why = hsm_p11_why("keyring C_FindObjectsInit", *rv);
		return IG_EINTERNAL;
	}
	*rv = f->C_FindObjects(s, h, KEYRING_MAX_OBJECTS, n);
	f->C_FindObjectsFinal(s);
	if (*rv != CKR_OK) {
		*why = hsm_p11_why("keyring C_FindObjects", *rv);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

/* CKA_VALUE of <h>, malloc'd and NUL-terminated. */
static int keyring_value(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			 CK_OBJECT_HANDLE h, char **out, size_t *len, CK_RV *rv,
			 const char **why)
{
	CK_ATTRIBUTE a = { CKA_VALUE, NULL, 0 };

	*rv = f->C_GetAttributeValue(s, h, &a, 1);
	if (*rv != CKR_OK) {
		*why = hsm_p11_why("keyring C_GetAttributeValue", *rv);
		return IG_EINTERNAL;
	}
	IG_ENSURE(a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		  a.ulValueLen <= (1u << 20), IG_EPROTO, why,
		  "the keyring object's value is unreadable or too large");
	*out = malloc(a.ulValueLen + 1);
	IG_ENSURE(*out, IG_ENOMEM, why, "out of memory");
	a.pValue = *out;
	*rv = f->C_GetAttributeValue(s, h, &a, 1);
	if (*rv != CKR_OK) {
		free(*out);
		*why = hsm_p11_why("keyring C_GetAttributeValue", *rv);
		return IG_EINTERNAL;
	}
	(*out)[a.ulValueLen] = '\0';
	*len = a.ulValueLen;
	return IG_OK;
}

int keyring_read(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		 struct keyring *out, CK_RV *rv, const char **why)
{
	CK_OBJECT_HANDLE h[KEYRING_MAX_OBJECTS];
	struct keyring *tmp;
	CK_ULONG n;
	int found = 0;

	*rv = CKR_OK;
	memset(out, 0, sizeof(*out));
	IG_GUARD(keyring_objects(f, s, h, &n, rv, why));
	tmp = malloc(sizeof(*tmp));
	IG_ENSURE(tmp, IG_ENOMEM, why, "out of memory");
	for (CK_ULONG i = 0; i < n; i++) {
		char *doc;
		size_t len;
		int rc;

		rc = keyring_value(f, s, h[i], &doc, &len, rv, why);
		if (rc == IG_OK) {
			rc = keyring_parse(doc, len, tmp, why);
			free(doc);
		}
		if (rc < 0) {
			free(tmp);
			return rc;
		}
		if (tmp->version > out->version)
			memcpy(out, tmp, sizeof(*out));
		found = 1;
	}
	free(tmp);
	return found;
}

int keyring_write(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		  struct keyring *kr, const char **why)
{
	CK_OBJECT_HANDLE old[KEYRING_MAX_OBJECTS], h;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG n;
	CK_RV rv;
	char *doc;
	int rc;

	IG_GUARD(keyring_objects(f, s, old, &n, &rv, why));
	kr->version++;
	doc = keyring_format(kr);
	if (!doc) {
		kr->version--;
		*why = "out of memory";
		return IG_ENOMEM;
	}
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_MODIFIABLE, &yes, sizeof(yes) },
			{ CKA_LABEL, (void *)KEYRING_LABEL, sizeof(KEYRING_LABEL) - 1 },
			{ CKA_APPLICATION, (void *)KEYRING_APPLICATION,
			  sizeof(KEYRING_APPLICATION) - 1 },
			{ CKA_VALUE, doc, strlen(doc) },
		};

		rv = f->C_CreateObject(s, tmpl, IG_ARRAY_LEN(tmpl), &h);
	}
	free(doc);
	if (rv != CKR_OK) {
		kr->version--;
		*why = hsm_p11_why("keyring C_CreateObject", rv);
		return IG_EINTERNAL;
	}
	rc = IG_OK;
	for (CK_ULONG i = 0; i < n; i++) {
		rv = f->C_DestroyObject(s, old[i]);
		if (rv != CKR_OK) {
			/* The new version is stored and wins on read. */
			*why = hsm_p11_why("keyring C_DestroyObject (old version)", rv);
			rc = IG_EINTERNAL;
		}
	}
	return rc;
}
