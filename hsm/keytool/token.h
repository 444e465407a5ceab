/*
 * token.h - what idgate-keys does inside one HSM of the pool: open the
 * token and log in, list its keys with the attributes the HSM reports,
 * generate keys inside it, destroy them, sign with them, and read and
 * write its keyring (../keyring.h).
 *
 * Runs in the officers' tool only: blocking PKCS#11 calls are fine here.
 * Every <*why> is a static string or the thread-local buffer of p11.h.
 */
#ifndef IG_KEYTOOL_TOKEN_H
#define IG_KEYTOOL_TOKEN_H
#include <stdbool.h>

#include "../keyring.h"
#include "../p11.h"
#include "../pubkey.h"

/* One HSM of the pool, as the configuration names it. */
struct kt_hsm {
	const char *name, *module, *token_label, *pin_file, *issuer_key_label;
	struct hsm_p11_module *mod;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;     /* read-write, logged in */
	bool logged_in;
	/* The token's keyring; a token without one gets its labelled issuer
	 * key (what idgated signs with) added as active, so the lifecycle
	 * starts from what the server does. */
	struct keyring kr;
	bool kr_stored;          /* read from the token (else synthesized) */
};

/* One key on the token, as the HSM reports it. */
struct kt_key {
	CK_OBJECT_HANDLE h;      /* private or secret key */
	CK_OBJECT_HANDLE pub;    /* its public key, or CK_INVALID_HANDLE */
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	char label[KEYRING_LABEL_MAX + 1];
	uint8_t id[KEYRING_ID_MAX];
	size_t id_len;
	char id_hex[2 * KEYRING_ID_MAX + 1];
	int sensitive, extractable, priv; /* 1, 0, or -1 unreadable */
	char alg[16];            /* "EC P-256", "RSA-2048", "AES-256", "?" */
	bool has_pk;
	struct pubkey pk;
	char kid[44];            /* RFC 7638 thumbprint; "" without pk */
	struct keyring_entry *ent; /* its keyring entry, or NULL */
};

#define KT_MAX_KEYS 256

/*
 * Load the module, find the token (a clear message naming the tokens that
 * do exist when it is not there), open a read-write session and log in
 * with the PIN from the HSM's pin_file, or from /dev/tty when <prompt>.
 * A wrong PIN is reported once, never retried (tokens lock after a few).
 * Then read the keyring.  IG_OK, or IG_EUSAGE / IG_EINTERNAL with <*why>;
 * <*rv> gets the failing CKR (CKR_OK otherwise).
 */
int kt_open(struct kt_hsm *h, bool prompt, CK_RV *rv, const char **why);
void kt_close(struct kt_hsm *h);

/* Every private and secret key on the token, with its public half. */
int kt_keys(struct kt_hsm *h, struct kt_key *out, size_t max, size_t *n,
	    const char **why);

/*
 * Generate a key inside the token: sensitive, not extractable, private;
 * key pairs sign and verify, AES keys wrap and unwrap, nothing else; CKA_ID <id> (16 random bytes)
 * and CKA_LABEL <label>.  <alg>: "EC P-256", "EC P-384", "RSA-2048",
 * "RSA-3072", "AES-256".
 */
int kt_generate(struct kt_hsm *h, const char *alg, const char *label, const uint8_t id[16],
		const char **why);

/* Destroy <k> and its public half. */
int kt_destroy(struct kt_hsm *h, const struct kt_key *k, const char **why);

/* A pubkey_sign_fn for <k> (ctx: struct kt_sign_ctx): CKM_ECDSA over the
 * digest, CKM_RSA_PKCS over the DigestInfo. */
struct kt_sign_ctx {
	struct kt_hsm *h;
	const struct kt_key *k;
	CK_RV rv;
};
int kt_sign(void *ctx, const uint8_t *in, size_t len, uint8_t *sig,
	    size_t *sig_len);

/* Store h->kr (version + 1). */
int kt_keyring_save(struct kt_hsm *h, const char **why);

#endif
