/*
 * p11.h - the thin layer between the HSM engine and a PKCS#11 module.
 *
 * Loads a vendor's module with dlopen + C_GetFunctionList (PKCS#11 v2.40
 * §5.4) and shares it within the process: C_Initialize runs once for the
 * first user of a module and C_Finalize once after the last one, because
 * both are per-process in PKCS#11 (the provisioning code and the engine
 * both use the module, one after the other or, in tests, side by side).
 * Everything else here is a small helper that turns a PKCS#11 step into
 * the project's error vocabulary with a reason naming the CKR_ value.
 *
 * Only hsm/ and its tests include this header: p11-kit's pkcs11.h defines
 * lower-case macros (value, count, params, ...) in its compatibility mode.
 */
#ifndef IG_HSM_P11_H
#define IG_HSM_P11_H
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "../common/result.h"

/* A loaded and initialized module; shared, see hsm_p11_module_get. */
struct hsm_p11_module {
	struct hsm_p11_module *next; /* the process-wide list of modules */
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	unsigned refs;
	int finalize; /* we ran C_Initialize, so we run C_Finalize */
};

/*
 * Load the module at <path> (RTLD_NOW | RTLD_LOCAL) and C_Initialize it
 * with CKF_OS_LOCKING_OK, or take another reference to it if this process
 * already did.  On failure returns IG_EUSAGE (no such file, not a PKCS#11
 * module) or IG_EINTERNAL (C_Initialize failed) and sets <*why>.
 */
int hsm_p11_module_get(const char *path, struct hsm_p11_module **out,
		       const char **why);

/*
 * Bring a module back after a device-level failure: C_Finalize and
 * C_Initialize when this reference is its only user (a network HSM's
 * client library reconnects), else only C_Initialize in case it was
 * finalized under us (CKR_CRYPTOKI_ALREADY_INITIALIZED counts as done):
 * finalizing would end the sessions of the other HSMs that share it.
 * The caller holds no session of the module that another thread uses.
 */
CK_RV hsm_p11_module_reinit(struct hsm_p11_module *m);

/* Drop a reference; the last one runs C_Finalize. */
void hsm_p11_module_put(struct hsm_p11_module *m);

/* "CKR_PIN_INCORRECT" for CKR_PIN_INCORRECT; NULL for unknown values. */
const char *hsm_p11_ckr_name(CK_RV rv);

/*
 * "<what>: CKR_NAME" (or "<what>: CKR 0x%lx") in a thread-local buffer,
 * valid until the next call in this thread; for the <*why> of start-up and
 * provisioning failures, which are not on any hot path.
 */
const char *hsm_p11_why(const char *what, CK_RV rv);

/* "<what>: <detail>" in the same thread-local buffer. */
const char *hsm_p11_why_str(const char *what, const char *detail);

/* The session is gone or logged out, or the key handle no longer works:
 * reopen, log in, find the keys again, retry (§5.6). */
int hsm_p11_session_lost(CK_RV rv);

/* The error concerns one request (bad data), not the device's health. */
int hsm_p11_job_error(CK_RV rv);

/* Pad <label> with spaces to the 32 bytes of CK_TOKEN_INFO.label (§3.2);
 * IG_EUSAGE when it is empty or longer than 32 bytes. */
int hsm_p11_pad_label(const char *label, unsigned char out[32]);

/*
 * Count the initialized tokens labelled <label> (0, 1, or 2 meaning "more
 * than one"); <*slot> gets the last one found.  Negative IG_E* with <*why>
 * when the label is invalid or the module fails.
 */
int hsm_p11_find_token(CK_FUNCTION_LIST_PTR f, const char *label,
		       CK_SLOT_ID *slot, const char **why);

/* A slot whose token is present but not initialized (SoftHSM always keeps
 * one); IG_EINTERNAL with <*why> when there is none. */
int hsm_p11_free_slot(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID *slot,
		      const char **why);

/* Read the PIN in <path> ("env:NAME": the environment variable NAME) into <pin> (at most <cap> - 1 bytes, NUL ended),
 * dropping one trailing newline.  Returns the length or IG_EUSAGE. */
int hsm_p11_read_pin(const char *path, char *pin, size_t cap, const char **why);

/*
 * C_Login(<user>) on <s> with the PIN in <pin_file>, read now and wiped
 * right after; CKR_USER_ALREADY_LOGGED_IN counts as success (login state is
 * per application and token, §5.6).  <*rv> gets C_Login's result (or
 * CKR_GENERAL_ERROR when the file cannot be read).
 */
int hsm_p11_login(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		  CK_USER_TYPE user, const char *pin_file, CK_RV *rv,
		  const char **why);

/* C_Login with <pin> (for a PIN read from a prompt); as above. */
int hsm_p11_login_pin(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		      CK_USER_TYPE user, const char *pin, size_t len, CK_RV *rv,
		      const char **why);

/* "'a', 'b'": the labels of the initialized tokens the module shows, for
 * a message naming what exists ("" when none or the module fails). */
void hsm_p11_token_labels(CK_FUNCTION_LIST_PTR f, char *out, size_t cap);

/*
 * Count the objects of <cls> whose CKA_LABEL is <label> (0, 1, or 2 meaning
 * "more than one"); <*h> gets the first one or CK_INVALID_HANDLE.  Negative
 * IG_E* with <*why> when the label is invalid or the module fails.
 */
int hsm_p11_find_object(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			CK_OBJECT_CLASS cls, const char *label,
			CK_OBJECT_HANDLE *h, const char **why);

/* The same by CKA_ID (any label). */
int hsm_p11_find_by_id(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		       CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
		       CK_OBJECT_HANDLE *h, const char **why);

/* Attribute <type> of <h> into <out> (at most <cap> bytes); *len gets its
 * length.  IG_EINTERNAL when the module refuses (too small, sensitive,
 * absent). */
int hsm_p11_get_bytes(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		      CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t *out,
		      size_t cap, size_t *len);

/*
 * Generate a signing key pair inside the token (§5.14 C_GenerateKeyPair):
 * <alg> "EC P-256", "EC P-384" (CKM_EC_KEY_PAIR_GEN, Current Mechanisms
 * v2.40 §2.3.5) or "RSA-2048", "RSA-3072" (e = 65537).  The private key is
 * a token object, private, sensitive, never extractable, and only signs;
 * usages it does not need are turned off explicitly (SoftHSM otherwise
 * defaults encrypt/wrap and decrypt/unwrap/derive to true).  Both halves
 * carry <label> and the CKA_ID <id>, so other tools pair them.
 */
int hsm_p11_generate_pair(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			  const char *alg, const char *label, const uint8_t *id,
			  size_t id_len, const char **why);

/* An AES-256 wrapping key inside the token: private, sensitive, never
 * extractable; it wraps and unwraps (citizens' keys), nothing else. */
int hsm_p11_generate_wrap_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			      const char *label, const uint8_t *id,
			      size_t id_len, const char **why);

/*
 * Parse CKA_EC_POINT of a P-256 public key: the DER encoding of an X9.62
 * ECPoint (Current Mechanisms v2.40 §2.3.3), an OCTET STRING holding the
 * uncompressed point 04||X||Y.  Strict: exactly 04 41 04 X(32) Y(32);
 * IG_EPROTO otherwise (raw points, compressed points, long forms).
 */
int hsm_p11_ec_point_xy(const uint8_t *der, size_t len, uint8_t x[32],
			uint8_t y[32]);

/* Read and check the P-256 public key object <h> into <x>, <y>. */
int hsm_p11_read_p256_public(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			     CK_OBJECT_HANDLE h, uint8_t x[32], uint8_t y[32],
			     const char **why);

/* DER of the prime256v1 OID, the CKA_EC_PARAMS of P-256 keys. */
extern const uint8_t HSM_P11_P256_OID[10];

#endif
