/*
 * token.c - idgate-keys inside one HSM.  See token.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "token.h"

static __thread char kt_why_buf[600];

/* Read a PIN from the terminal without echo.  Returns its length or -1. */
static int kt_prompt_pin(const struct kt_hsm *h, char *pin, size_t cap)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	size_t len = 0;
	char c;

	if (fd < 0)
		return -1;
	dprintf(fd, "PIN for HSM %s (token '%s'): ", h->name, h->token_label);
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	while (read(fd, &c, 1) == 1 && c != '\n' && c != '\r')
		if (len + 1 < cap)
			pin[len++] = c;
	pin[len] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	return len ? (int)len : -1;
}

static int kt_find_token(struct kt_hsm *h, const char **why)
{
	char have[400];
	int n;

	n = hsm_p11_find_token(h->f, h->token_label, &h->slot, why);
	IG_GUARD(n);
	if (n == 1)
		return IG_OK;
	hsm_p11_token_labels(h->f, have, sizeof(have));
	snprintf(kt_why_buf, sizeof(kt_why_buf),
		 n ? "more than one token is labelled '%s' in %s"
		   : "no token labelled '%s' in %s; tokens there: %s",
		 h->token_label, h->module, have[0] ? have : "none");
	*why = kt_why_buf;
	return IG_EUSAGE;
}

/*
 * A key idgated uses by its label while the keyring does not name it (the
 * issuer key of a token without a keyring; the wrapping and CA keys made at
 * first start), entered as an active key of <purpose>, so the lifecycle
 * starts from what the server does.
 */
static void kt_adopt(struct kt_hsm *h, const char *label, CK_OBJECT_CLASS cls,
		     enum keyring_purpose purpose, const char *alg)
{
	struct keyring_entry *e;
	CK_OBJECT_HANDLE k;
	const char *why;
	size_t len;

	if (!label || h->kr.n == KEYRING_MAX ||
	    hsm_p11_find_object(h->f, h->s, cls, label, &k, &why) != 1)
		return;
	e = &h->kr.e[h->kr.n];
	memset(e, 0, sizeof(*e));
	if (hsm_p11_get_bytes(h->f, h->s, k, CKA_ID, e->id, sizeof(e->id),
			      &len) < 0 || len == 0 ||
	    keyring_find(&h->kr, e->id, len))
		return;
	e->id_len = len;
	snprintf(e->label, sizeof(e->label), "%s", label);
	e->purpose = (uint8_t)purpose;
	snprintf(e->alg, sizeof(e->alg), "%s", alg);
	e->publish = e->activate = 1;
	h->kr.n++;
}

int kt_open(struct kt_hsm *h, bool prompt, CK_RV *rv, const char **why)
{
	char pin[256];
	int rc, len;

	*rv = CKR_OK;
	IG_GUARD(hsm_p11_module_get(h->module, &h->mod, why));
	h->f = h->mod->f;
	IG_GUARD(kt_find_token(h, why));
	*rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				  NULL, NULL, &h->s);
	if (*rv != CKR_OK) {
		h->s = CK_INVALID_HANDLE;
		*why = hsm_p11_why("C_OpenSession", *rv);
		return IG_EINTERNAL;
	}
	if (prompt || !strcmp(h->pin_file, "prompt")) {
		len = kt_prompt_pin(h, pin, sizeof(pin));
		IG_ENSURE(len > 0, IG_EUSAGE, why,
			  "no PIN: the prompt needs a terminal (/dev/tty)");
		rc = hsm_p11_login_pin(h->f, h->s, CKU_USER, pin, (size_t)len,
				       rv, why);
		mbedtls_platform_zeroize(pin, sizeof(pin));
	} else {
		rc = hsm_p11_login(h->f, h->s, CKU_USER, h->pin_file, rv, why);
	}
	if (rc < 0) {
		if (*rv == CKR_PIN_INCORRECT)
			*why = "wrong PIN (CKR_PIN_INCORRECT); not retried: the "
			       "token locks after a few failures";
		else if (*rv == CKR_PIN_LOCKED)
			*why = "the token's user PIN is locked (CKR_PIN_LOCKED): "
			       "a security officer must unlock it";
		return rc;
	}
	h->logged_in = true;
	rc = keyring_read(h->f, h->s, &h->kr, rv, why);
	IG_GUARD(rc);
	h->kr_stored = rc == 1;
	if (!h->kr_stored)
		kt_adopt(h, h->issuer_key_label, CKO_PRIVATE_KEY, KR_TOKEN_ISSUER,
			 "EC P-256");
	kt_adopt(h, "idgate-wrap", CKO_SECRET_KEY, KR_WRAP, "AES-256");
	kt_adopt(h, "idgate-ca", CKO_PRIVATE_KEY, KR_CA, "EC P-256");
	return IG_OK;
}

void kt_close(struct kt_hsm *h)
{
	if (h->s != CK_INVALID_HANDLE && h->f) {
		if (h->logged_in)
			h->f->C_Logout(h->s);
		h->f->C_CloseSession(h->s);
	}
	h->s = CK_INVALID_HANDLE;
	h->logged_in = false;
	if (h->mod)
		hsm_p11_module_put(h->mod);
	h->mod = NULL;
	h->f = NULL;
}

static int kt_bool(struct kt_hsm *h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { t, &v, sizeof(v) };

	if (h->f->C_GetAttributeValue(h->s, o, &a, 1) != CKR_OK)
		return -1;
	return v == CK_TRUE;
}

/* The public half of <k>: same CKA_ID (or label when it has no id). */
static void kt_public(struct kt_hsm *h, struct kt_key *k)
{
	uint8_t a[600], b[600];
	size_t alen, blen;
	const char *why;
	int n;

	if (k->id_len)
		n = hsm_p11_find_by_id(h->f, h->s, CKO_PUBLIC_KEY, k->id,
				       k->id_len, &k->pub, &why);
	else
		n = k->label[0] ? hsm_p11_find_object(h->f, h->s, CKO_PUBLIC_KEY,
						      k->label, &k->pub, &why) : 0;
	if (n != 1) {
		k->pub = CK_INVALID_HANDLE;
		return;
	}
	if (k->type == CKK_EC &&
	    hsm_p11_get_bytes(h->f, h->s, k->pub, CKA_EC_PARAMS, a, sizeof(a), &alen) == 0 &&
	    hsm_p11_get_bytes(h->f, h->s, k->pub, CKA_EC_POINT, b, sizeof(b), &blen) == 0)
		k->has_pk = pubkey_from_ec(&k->pk, a, alen, b, blen, &why) == IG_OK;
	else if (k->type == CKK_RSA &&
		 hsm_p11_get_bytes(h->f, h->s, k->pub, CKA_MODULUS, a, sizeof(a), &alen) == 0 &&
		 hsm_p11_get_bytes(h->f, h->s, k->pub, CKA_PUBLIC_EXPONENT, b, sizeof(b), &blen) == 0)
		k->has_pk = pubkey_from_rsa(&k->pk, a, alen, b, blen, &why) == IG_OK;
	if (k->has_pk) {
		pubkey_thumbprint(&k->pk, k->kid);
		snprintf(k->alg, sizeof(k->alg), "%s", pubkey_alg_name(&k->pk));
	}
}

static void kt_describe(struct kt_hsm *h, CK_OBJECT_HANDLE o,
			CK_OBJECT_CLASS cls, struct kt_key *k)
{
	CK_ULONG vlen = 0;
	CK_ATTRIBUTE a[] = {
		{ CKA_KEY_TYPE, &k->type, sizeof(k->type) },
	};
	CK_ATTRIBUTE va = { CKA_VALUE_LEN, &vlen, sizeof(vlen) };
	size_t len;

	memset(k, 0, sizeof(*k));
	k->h = o;
	k->cls = cls;
	k->pub = CK_INVALID_HANDLE;
	k->type = (CK_KEY_TYPE)-1;
	strcpy(k->alg, "?");
	h->f->C_GetAttributeValue(h->s, o, a, 1);
	if (hsm_p11_get_bytes(h->f, h->s, o, CKA_LABEL, (uint8_t *)k->label,
			      KEYRING_LABEL_MAX, &len) == 0)
		k->label[len] = '\0';
	if (hsm_p11_get_bytes(h->f, h->s, o, CKA_ID, k->id, sizeof(k->id),
			      &len) == 0)
		k->id_len = len;
	keyring_id_hex(k->id, k->id_len, k->id_hex);
	k->sensitive = kt_bool(h, o, CKA_SENSITIVE);
	k->extractable = kt_bool(h, o, CKA_EXTRACTABLE);
	k->priv = kt_bool(h, o, CKA_PRIVATE);
	if (cls == CKO_SECRET_KEY) {
		if (h->f->C_GetAttributeValue(h->s, o, &va, 1) == CKR_OK)
			snprintf(k->alg, sizeof(k->alg), "%s-%lu",
				 k->type == CKK_AES ? "AES" : "SECRET",
				 (unsigned long)vlen * 8);
	} else {
		kt_public(h, k);
	}
	k->ent = k->id_len ? keyring_find(&h->kr, k->id, k->id_len) : NULL;
}

int kt_keys(struct kt_hsm *h, struct kt_key *out, size_t max, size_t *n,
	    const char **why)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_SECRET_KEY };

	*n = 0;
	for (size_t c = 0; c < IG_ARRAY_LEN(classes); c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof(cls) };
		CK_OBJECT_HANDLE found[KT_MAX_KEYS];
		CK_ULONG got = 0;
		CK_RV rv;

		rv = h->f->C_FindObjectsInit(h->s, &tmpl, 1);
		if (rv == CKR_OK) {
			rv = h->f->C_FindObjects(h->s, found, KT_MAX_KEYS, &got);
			h->f->C_FindObjectsFinal(h->s);
		}
		if (rv != CKR_OK) {
			*why = hsm_p11_why("C_FindObjects", rv);
			return IG_EINTERNAL;
		}
		for (CK_ULONG i = 0; i < got && *n < max; i++)
			kt_describe(h, found[i], cls, &out[(*n)++]);
	}
	return IG_OK;
}

int kt_generate(struct kt_hsm *h, const char *alg, const char *label,
		const uint8_t id[16], const char **why)
{
	if (!strcmp(alg, "AES-256"))
		return hsm_p11_generate_wrap_key(h->f, h->s, label, id, 16, why);
	return hsm_p11_generate_pair(h->f, h->s, alg, label, id, 16, why);
}

int kt_destroy(struct kt_hsm *h, const struct kt_key *k, const char **why)
{
	CK_RV rv = h->f->C_DestroyObject(h->s, k->h);

	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_DestroyObject", rv);
		return IG_EINTERNAL;
	}
	if (k->pub != CK_INVALID_HANDLE) {
		rv = h->f->C_DestroyObject(h->s, k->pub);
		if (rv != CKR_OK) {
			*why = hsm_p11_why("C_DestroyObject of the public key", rv);
			return IG_EINTERNAL;
		}
	}
	return IG_OK;
}

int kt_sign(void *ctx, const uint8_t *in, size_t len, uint8_t *sig,
	    size_t *sig_len)
{
	struct kt_sign_ctx *c = ctx;
	CK_MECHANISM mech = { c->k->type == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA,
			      NULL, 0 };
	CK_ULONG n = *sig_len;

	c->rv = c->h->f->C_SignInit(c->h->s, &mech, c->k->h);
	if (c->rv == CKR_OK)
		c->rv = c->h->f->C_Sign(c->h->s, (CK_BYTE_PTR)in, len, sig, &n);
	*sig_len = n;
	return c->rv == CKR_OK ? 0 : -1;
}

int kt_keyring_save(struct kt_hsm *h, const char **why)
{
	IG_GUARD(keyring_write(h->f, h->s, &h->kr, why));
	h->kr_stored = true;
	return IG_OK;
}
