/*
 * p11.c - loading a PKCS#11 module and the small steps the engine and the
 * provisioning code share.  See p11.h for the contracts.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "p11.h"

const uint8_t HSM_P11_P256_OID[10] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};

/* Modules this process has loaded; only start-up and shutdown touch it. */
static pthread_mutex_t hsm_p11_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_p11_module *hsm_p11_modules;

static __thread char hsm_p11_why_buf[256];

const char *hsm_p11_why_str(const char *what, const char *detail)
{
	snprintf(hsm_p11_why_buf, sizeof(hsm_p11_why_buf), "%s: %s", what,
		 detail);
	return hsm_p11_why_buf;
}

const char *hsm_p11_why(const char *what, CK_RV rv)
{
	const char *name = hsm_p11_ckr_name(rv);

	if (name)
		return hsm_p11_why_str(what, name);
	snprintf(hsm_p11_why_buf, sizeof(hsm_p11_why_buf), "%s: CKR 0x%lx",
		 what, (unsigned long)rv);
	return hsm_p11_why_buf;
}

static int hsm_p11_load(const char *path, struct hsm_p11_module *m,
			const char **why)
{
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv;

	/* RTLD_NODELETE: a module that left memory behind at C_Finalize keeps
	 * its symbols, so leak reports name it instead of "<unknown module>";
	 * and modules linked with OpenSSL do not all survive dlclose. */
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!m->dl) {
		const char *err = dlerror();

		*why = hsm_p11_why_str("cannot load the PKCS#11 module",
				       err ? err : path);
		return IG_EUSAGE;
	}
	get_list = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (!get_list) {
		*why = "not a PKCS#11 module: no C_GetFunctionList";
		goto fail_usage;
	}
	rv = get_list(&m->f);
	if (rv != CKR_OK || !m->f) {
		*why = hsm_p11_why("C_GetFunctionList", rv);
		goto fail_usage;
	}
	/* §5.4: CKF_OS_LOCKING_OK lets the module lock with the OS's
	 * primitives; our HSM threads call it concurrently. */
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* Someone else in this process (not us: we would have found
		 * it in the list) initialized it; leave finalizing to them. */
		m->finalize = 0;
	} else if (rv != CKR_OK) {
		*why = hsm_p11_why("C_Initialize", rv);
		dlclose(m->dl);
		return IG_EINTERNAL;
	} else {
		m->finalize = 1;
	}
	return IG_OK;

fail_usage:
	dlclose(m->dl);
	return IG_EUSAGE;
}

int hsm_p11_module_get(const char *path, struct hsm_p11_module **out,
		       const char **why)
{
	struct hsm_p11_module *m, fresh = { 0 };
	int rc;

	*out = NULL;
	IG_ENSURE(path && *path, IG_EUSAGE, why, "no PKCS#11 module path");
	pthread_mutex_lock(&hsm_p11_lock);
	rc = hsm_p11_load(path, &fresh, why);
	if (rc < 0)
		goto out;
	/* dlopen returns the same handle for the same library however it
	 * is named, so the handle identifies the module. */
	for (m = hsm_p11_modules; m; m = m->next) {
		if (m->dl == fresh.dl) {
			dlclose(fresh.dl); /* drop dlopen's extra reference */
			m->refs++;
			*out = m;
			goto out;
		}
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		if (fresh.finalize)
			fresh.f->C_Finalize(NULL);
		dlclose(fresh.dl);
		*why = "out of memory";
		rc = IG_ENOMEM;
		goto out;
	}
	*m = fresh;
	m->refs = 1;
	m->next = hsm_p11_modules;
	hsm_p11_modules = m;
	*out = m;
out:
	pthread_mutex_unlock(&hsm_p11_lock);
	return rc;
}

CK_RV hsm_p11_module_reinit(struct hsm_p11_module *m)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv;

	pthread_mutex_lock(&hsm_p11_lock);
	if (m->refs == 1 && m->finalize)
		m->f->C_Finalize(NULL);
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv = CKR_OK;
	pthread_mutex_unlock(&hsm_p11_lock);
	return rv;
}

void hsm_p11_module_put(struct hsm_p11_module *m)
{
	struct hsm_p11_module **pp;

	if (!m)
		return;
	pthread_mutex_lock(&hsm_p11_lock);
	if (--m->refs == 0) {
		for (pp = &hsm_p11_modules; *pp; pp = &(*pp)->next) {
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		}
		if (m->finalize)
			m->f->C_Finalize(NULL);
		dlclose(m->dl);
		free(m);
	}
	pthread_mutex_unlock(&hsm_p11_lock);
}

const char *hsm_p11_ckr_name(CK_RV rv)
{
#define HSM_CKR(n) { n, #n }
	static const struct {
		CK_RV rv;
		const char *name;
	} names[] = {
		HSM_CKR(CKR_OK), HSM_CKR(CKR_CANCEL), HSM_CKR(CKR_HOST_MEMORY),
		HSM_CKR(CKR_SLOT_ID_INVALID), HSM_CKR(CKR_GENERAL_ERROR),
		HSM_CKR(CKR_FUNCTION_FAILED), HSM_CKR(CKR_ARGUMENTS_BAD),
		HSM_CKR(CKR_NEED_TO_CREATE_THREADS), HSM_CKR(CKR_CANT_LOCK),
		HSM_CKR(CKR_ATTRIBUTE_READ_ONLY),
		HSM_CKR(CKR_ATTRIBUTE_SENSITIVE),
		HSM_CKR(CKR_ATTRIBUTE_TYPE_INVALID),
		HSM_CKR(CKR_ATTRIBUTE_VALUE_INVALID),
		HSM_CKR(CKR_ACTION_PROHIBITED), HSM_CKR(CKR_DATA_INVALID),
		HSM_CKR(CKR_DATA_LEN_RANGE), HSM_CKR(CKR_DEVICE_ERROR),
		HSM_CKR(CKR_DEVICE_MEMORY), HSM_CKR(CKR_DEVICE_REMOVED),
		HSM_CKR(CKR_FUNCTION_CANCELED),
		HSM_CKR(CKR_FUNCTION_NOT_SUPPORTED),
		HSM_CKR(CKR_KEY_HANDLE_INVALID),
		HSM_CKR(CKR_KEY_TYPE_INCONSISTENT),
		HSM_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
		HSM_CKR(CKR_MECHANISM_INVALID),
		HSM_CKR(CKR_MECHANISM_PARAM_INVALID),
		HSM_CKR(CKR_OBJECT_HANDLE_INVALID),
		HSM_CKR(CKR_OPERATION_ACTIVE),
		HSM_CKR(CKR_OPERATION_NOT_INITIALIZED),
		HSM_CKR(CKR_PIN_INCORRECT), HSM_CKR(CKR_PIN_INVALID),
		HSM_CKR(CKR_PIN_LEN_RANGE), HSM_CKR(CKR_PIN_EXPIRED),
		HSM_CKR(CKR_PIN_LOCKED), HSM_CKR(CKR_SESSION_CLOSED),
		HSM_CKR(CKR_SESSION_COUNT), HSM_CKR(CKR_SESSION_HANDLE_INVALID),
		HSM_CKR(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
		HSM_CKR(CKR_SESSION_READ_ONLY), HSM_CKR(CKR_SESSION_EXISTS),
		HSM_CKR(CKR_SESSION_READ_ONLY_EXISTS),
		HSM_CKR(CKR_SESSION_READ_WRITE_SO_EXISTS),
		HSM_CKR(CKR_SIGNATURE_INVALID), HSM_CKR(CKR_SIGNATURE_LEN_RANGE),
		HSM_CKR(CKR_TEMPLATE_INCOMPLETE),
		HSM_CKR(CKR_TEMPLATE_INCONSISTENT),
		HSM_CKR(CKR_TOKEN_NOT_PRESENT),
		HSM_CKR(CKR_TOKEN_NOT_RECOGNIZED),
		HSM_CKR(CKR_TOKEN_WRITE_PROTECTED),
		HSM_CKR(CKR_USER_ALREADY_LOGGED_IN),
		HSM_CKR(CKR_USER_NOT_LOGGED_IN),
		HSM_CKR(CKR_USER_PIN_NOT_INITIALIZED),
		HSM_CKR(CKR_USER_TYPE_INVALID),
		HSM_CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
		HSM_CKR(CKR_USER_TOO_MANY_TYPES),
		HSM_CKR(CKR_RANDOM_NO_RNG), HSM_CKR(CKR_DOMAIN_PARAMS_INVALID),
		HSM_CKR(CKR_CURVE_NOT_SUPPORTED), HSM_CKR(CKR_BUFFER_TOO_SMALL),
		HSM_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
		HSM_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
		HSM_CKR(CKR_MUTEX_BAD), HSM_CKR(CKR_MUTEX_NOT_LOCKED),
		HSM_CKR(CKR_FIPS_SELF_TEST_FAILED),
		HSM_CKR(CKR_LIBRARY_LOAD_FAILED), HSM_CKR(CKR_PIN_TOO_WEAK),
		HSM_CKR(CKR_PUBLIC_KEY_INVALID), HSM_CKR(CKR_FUNCTION_REJECTED),
	};
#undef HSM_CKR
	for (size_t i = 0; i < IG_ARRAY_LEN(names); i++)
		if (names[i].rv == rv)
			return names[i].name;
	return NULL;
}

int hsm_p11_session_lost(CK_RV rv)
{
	/* The key handles count too: SoftHSM answers C_SignInit in a
	 * logged-out session with CKR_OBJECT_HANDLE_INVALID (the private key
	 * is invisible), and handles need not survive a token reset. */
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_KEY_HANDLE_INVALID ||
	       rv == CKR_OBJECT_HANDLE_INVALID;
}

int hsm_p11_job_error(CK_RV rv)
{
	/* Only these can come from what a job carries; everything else says
	 * the device, the session or the key is in trouble. */
	return rv == CKR_DATA_INVALID || rv == CKR_DATA_LEN_RANGE ||
	       rv == CKR_ARGUMENTS_BAD || rv == CKR_WRAPPED_KEY_INVALID ||
	       rv == CKR_WRAPPED_KEY_LEN_RANGE;
}

int hsm_p11_pad_label(const char *label, unsigned char out[32])
{
	size_t n = label ? strlen(label) : 0;

	if (n == 0 || n > 32)
		return IG_EUSAGE;
	memset(out, ' ', 32);
	memcpy(out, label, n);
	return IG_OK;
}

/* C_GetSlotList(tokenPresent) into a malloc'd array (§5.5: ask for the
 * count, then fill; the count can grow in between). */
static CK_RV hsm_p11_slots(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID **out,
			   CK_ULONG *n)
{
	CK_SLOT_ID *slots = NULL;
	CK_RV rv;

	for (;;) {
		CK_SLOT_ID *grown;

		rv = f->C_GetSlotList(CK_TRUE, NULL, n);
		if (rv != CKR_OK)
			break;
		grown = realloc(slots, (*n ? *n : 1) * sizeof(*slots));
		if (!grown) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		slots = grown;
		rv = f->C_GetSlotList(CK_TRUE, slots, n);
		if (rv != CKR_BUFFER_TOO_SMALL)
			break;
	}
	if (rv != CKR_OK) {
		free(slots);
		slots = NULL;
		*n = 0;
	}
	*out = slots;
	return rv;
}

int hsm_p11_find_token(CK_FUNCTION_LIST_PTR f, const char *label,
		       CK_SLOT_ID *slot, const char **why)
{
	unsigned char want[32];
	CK_SLOT_ID *slots;
	CK_ULONG n, found = 0;
	CK_RV rv;

	IG_ENSURE(hsm_p11_pad_label(label, want) == IG_OK, IG_EUSAGE, why,
		  "token label must be 1 to 32 bytes");
	rv = hsm_p11_slots(f, &slots, &n);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GetSlotList", rv);
		return IG_EINTERNAL;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue; /* removed meanwhile: not ours */
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) ||
		    memcmp(ti.label, want, sizeof(want)) != 0)
			continue;
		*slot = slots[i];
		found++;
	}
	free(slots);
	return found > 2 ? 2 : (int)found;
}

int hsm_p11_free_slot(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID *slot,
		      const char **why)
{
	CK_SLOT_ID *slots;
	CK_ULONG n;
	CK_RV rv;
	int found = 0;

	rv = hsm_p11_slots(f, &slots, &n);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GetSlotList", rv);
		return IG_EINTERNAL;
	}
	for (CK_ULONG i = 0; i < n && !found; i++) {
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*slot = slots[i];
			found = 1;
		}
	}
	free(slots);
	IG_ENSURE(found, IG_EINTERNAL, why,
		  "no slot with an uninitialized token for a new token");
	return IG_OK;
}

int hsm_p11_read_pin(const char *path, char *pin, size_t cap, const char **why)
{
	ssize_t n;
	size_t len = 0;
	int fd;

	IG_ENSURE(path && *path, IG_EUSAGE, why, "no pin_file configured");
	if (!strncmp(path, "env:", 4)) {
		const char *v = getenv(path + 4);

		IG_ENSURE(v && *v, IG_EUSAGE, why,
			  "the PIN's environment variable is unset or empty");
		IG_ENSURE(strlen(v) < cap, IG_EUSAGE, why,
			  "the PIN's environment variable is too long");
		strcpy(pin, v);
		return (int)strlen(pin);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*why = hsm_p11_why_str("cannot open pin_file", strerror(errno));
		return IG_EUSAGE;
	}
	/* Read one byte more than fits so an oversized file is noticed. */
	while (len < cap) {
		n = read(fd, pin + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len >= cap) {
		mbedtls_platform_zeroize(pin, cap);
		*why = "pin_file is too long";
		return IG_EUSAGE;
	}
	if (len > 0 && pin[len - 1] == '\n')
		len--;
	if (len > 0 && pin[len - 1] == '\r')
		len--;
	pin[len] = '\0';
	IG_ENSURE(len > 0, IG_EUSAGE, why, "pin_file is empty");
	return (int)len;
}

int hsm_p11_login_pin(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		      CK_USER_TYPE user, const char *pin, size_t len, CK_RV *rv,
		      const char **why)
{
	*rv = f->C_Login(s, user, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)len);
	if (*rv == CKR_USER_ALREADY_LOGGED_IN)
		*rv = CKR_OK;
	if (*rv != CKR_OK) {
		*why = hsm_p11_why("C_Login", *rv);
		return *rv == CKR_PIN_INCORRECT || *rv == CKR_PIN_LEN_RANGE ||
		       *rv == CKR_PIN_LOCKED || *rv == CKR_PIN_EXPIRED
		       ? IG_EUSAGE : IG_EINTERNAL;
	}
	return IG_OK;
}

int hsm_p11_login(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		  CK_USER_TYPE user, const char *pin_file, CK_RV *rv,
		  const char **why)
{
	char pin[256];
	int len, rc;

	*rv = CKR_GENERAL_ERROR;
	len = hsm_p11_read_pin(pin_file, pin, sizeof(pin), why);
	if (len < 0)
		return len;
	rc = hsm_p11_login_pin(f, s, user, pin, (size_t)len, rv, why);
	mbedtls_platform_zeroize(pin, sizeof(pin));
	return rc;
}

void hsm_p11_token_labels(CK_FUNCTION_LIST_PTR f, char *out, size_t cap)
{
	CK_SLOT_ID *slots;
	CK_ULONG n;
	size_t used = 0;

	if (!cap)
		return;
	out[0] = '\0';
	if (hsm_p11_slots(f, &slots, &n) != CKR_OK)
		return;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		size_t len = sizeof(ti.label);
		int w;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		while (len && ti.label[len - 1] == ' ')
			len--;
		w = snprintf(out + used, cap - used, "%s'%.*s'", used ? ", " : "",
			     (int)len, (const char *)ti.label);
		if (w < 0 || (size_t)w >= cap - used)
			break;
		used += (size_t)w;
	}
	free(slots);
}

/* §5.7: Init, then FindObjects; ask for two to notice duplicates. */
static int hsm_p11_find(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h,
			const char **why)
{
	CK_OBJECT_HANDLE found[2];
	CK_ULONG got = 0;
	CK_RV rv;

	rv = f->C_FindObjectsInit(s, tmpl, n);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_FindObjectsInit", rv);
		return IG_EINTERNAL;
	}
	rv = f->C_FindObjects(s, found, IG_ARRAY_LEN(found), &got);
	f->C_FindObjectsFinal(s);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_FindObjects", rv);
		return IG_EINTERNAL;
	}
	if (got > 0)
		*h = found[0];
	return (int)got;
}

int hsm_p11_find_object(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			CK_OBJECT_CLASS cls, const char *label,
			CK_OBJECT_HANDLE *h, const char **why)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
	};

	*h = CK_INVALID_HANDLE;
	IG_ENSURE(label && *label, IG_EUSAGE, why, "empty key label");
	IG_ENSURE(strlen(label) <= 255, IG_EUSAGE, why, "key label too long");
	return hsm_p11_find(f, s, tmpl, IG_ARRAY_LEN(tmpl), h, why);
}

int hsm_p11_find_by_id(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		       CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
		       CK_OBJECT_HANDLE *h, const char **why)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
	};

	*h = CK_INVALID_HANDLE;
	IG_ENSURE(id && id_len, IG_EUSAGE, why, "empty key id");
	return hsm_p11_find(f, s, tmpl, IG_ARRAY_LEN(tmpl), h, why);
}

int hsm_p11_get_bytes(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		      CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t *out,
		      size_t cap, size_t *len)
{
	CK_ATTRIBUTE a = { type, out, cap };
	CK_RV rv;

	rv = f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return IG_EINTERNAL;
	*len = a.ulValueLen;
	return IG_OK;
}

/* DER OID of secp384r1 (1.3.132.0.34), CKA_EC_PARAMS of P-384 keys. */
static const uint8_t hsm_p11_p384_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

int hsm_p11_generate_pair(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			  const char *alg, const char *label, const uint8_t *id,
			  size_t id_len, const char **why)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_ULONG bits = 0;
	CK_ATTRIBUTE params = { CKA_EC_PARAMS, (void *)HSM_P11_P256_OID,
				sizeof(HSM_P11_P256_OID) };
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
		params, /* or CKA_MODULUS_BITS */
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) }, /* RSA only */
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_ULONG npub = IG_ARRAY_LEN(pub) - 1;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv;

	if (!strcmp(alg, "EC P-384")) {
		pub[7].pValue = (void *)hsm_p11_p384_oid;
		pub[7].ulValueLen = sizeof(hsm_p11_p384_oid);
	} else if (!strcmp(alg, "RSA-2048") || !strcmp(alg, "RSA-3072")) {
		bits = !strcmp(alg, "RSA-2048") ? 2048 : 3072;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[7] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		npub++;
	} else if (strcmp(alg, "EC P-256")) {
		*why = "unknown algorithm";
		return IG_EUSAGE;
	}
	rv = f->C_GenerateKeyPair(s, &mech, pub, npub, priv, IG_ARRAY_LEN(priv),
				  &hpub, &hpriv);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GenerateKeyPair", rv);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

int hsm_p11_generate_wrap_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			      const char *label, const uint8_t *id,
			      size_t id_len, const char **why)
{
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_OBJECT_HANDLE k;
	CK_RV rv;

	rv = f->C_GenerateKey(s, &mech, tmpl, IG_ARRAY_LEN(tmpl), &k);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GenerateKey", rv);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

int hsm_p11_ec_point_xy(const uint8_t *der, size_t len, uint8_t x[32],
			uint8_t y[32])
{
	/* OCTET STRING (04), short length 65 (41), uncompressed point (04). */
	if (!der || len != 67 || der[0] != 0x04 || der[1] != 0x41 ||
	    der[2] != 0x04)
		return IG_EPROTO;
	memcpy(x, der + 3, 32);
	memcpy(y, der + 35, 32);
	return IG_OK;
}

int hsm_p11_read_p256_public(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			     CK_OBJECT_HANDLE h, uint8_t x[32], uint8_t y[32],
			     const char **why)
{
	CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
	CK_ATTRIBUTE type = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	/* Room for any named curve, so another curve gets its own reason
	 * rather than CKR_BUFFER_TOO_SMALL. */
	uint8_t params[32], point[160];
	CK_ATTRIBUTE ec[] = {
		{ CKA_EC_PARAMS, params, sizeof(params) },
		{ CKA_EC_POINT, point, sizeof(point) },
	};
	CK_RV rv;

	/* The type first: an RSA key has no CKA_EC_* to ask for. */
	rv = f->C_GetAttributeValue(s, h, &type, 1);
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GetAttributeValue of the public key", rv);
		return IG_EINTERNAL;
	}
	IG_ENSURE(kt == CKK_EC, IG_EUSAGE, why, "the key is not an EC key");
	rv = f->C_GetAttributeValue(s, h, ec, IG_ARRAY_LEN(ec));
	if (rv != CKR_OK) {
		*why = hsm_p11_why("C_GetAttributeValue of the public key", rv);
		return IG_EINTERNAL;
	}
	IG_ENSURE(ec[0].ulValueLen == sizeof(HSM_P11_P256_OID) &&
		  memcmp(params, HSM_P11_P256_OID, sizeof(HSM_P11_P256_OID)) == 0,
		  IG_EUSAGE, why, "the key's curve is not P-256 (prime256v1)");
	IG_ENSURE(hsm_p11_ec_point_xy(point, ec[1].ulValueLen, x, y) == 0,
		  IG_EUSAGE, why,
		  "CKA_EC_POINT is not a DER OCTET STRING of 04||X||Y");
	return IG_OK;
}
