/*
 * wrapped.h - citizens' signing keys, wrapped by the HSM.
 *
 * Millions of keys do not fit in an HSM's object store.  A citizen's key
 * pair is generated inside the HSM as session objects, the private key is
 * wrapped at once under the HSM's AES-256 wrapping key with
 * CKM_AES_KEY_WRAP_PAD (RFC 5649, PKCS#11 v2.40 Current Mechanisms §2.14.3)
 * and destroyed; only the wrapped blob leaves the HSM, to be kept in the
 * store.  To sign, the blob is unwrapped into a session object (sensitive,
 * not extractable) and used; each HSM thread keeps a bounded cache of
 * unwrapped handles so repeat signers skip the unwrap, and destroys the
 * handles it evicts.
 *
 * These run on HSM threads (blocking PKCS#11 calls), never on a worker.
 */
#ifndef IG_HSM_WRAPPED_H
#define IG_HSM_WRAPPED_H
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "pubkey.h"

enum hsm_key_alg { HSM_ALG_EC_P256 = 1, HSM_ALG_RSA_2048 = 2 };

#define HSM_WRAPPED_MAX 1600   /* an RSA-2048 PKCS#8 key wrapped with padding */
#define HSM_MAX_HASHES 16      /* digests per signing job (CSC multisign) */
#define HSM_SIG_MAX 256        /* RSA-2048 */
#define HSM_CRED_ID_LEN 16

/*
 * The extension of an HSM job for citizens' keys; the caller's memory,
 * kept until the job comes back.  The engine copies the inputs before the
 * call and the outputs back only when it completes the job itself (a job
 * given up at the deadline is never written to after).
 */
struct hsm_wrapped {
	/* In, both operations. */
	uint8_t alg;                       /* enum hsm_key_alg */
	/* The wrapping key's CKA_ID: out (generate: the HSM's newest active
	 * wrapping key), in (sign: the key that wrapped the blob). */
	uint8_t wrap_id_len;
	uint8_t wrap_id[32];
	/* In (sign), out (generate). */
	uint16_t blob_len;
	uint8_t blob[HSM_WRAPPED_MAX];
	/* Sign: in. */
	uint8_t cred_id[HSM_CRED_ID_LEN];  /* the cache's key */
	uint8_t n;                         /* digests, 1..HSM_MAX_HASHES */
	uint8_t digests[HSM_MAX_HASHES][32]; /* SHA-256 */
	/* Sign: out.  ECDSA as raw r||s (64 bytes), RSA PKCS#1 v1.5. */
	uint16_t sig_len[HSM_MAX_HASHES];
	uint8_t sigs[HSM_MAX_HASHES][HSM_SIG_MAX];
	/* Generate: out. */
	struct pubkey pub;
};

/* A thread's unwrapped keys: <HSM_CACHE> handles, least recently used out. */
#define HSM_CACHE 64
struct hsm_keycache {
	struct {
		uint8_t id[HSM_CRED_ID_LEN];
		CK_OBJECT_HANDLE h;
		uint64_t epoch, used;
	} e[HSM_CACHE];
	uint64_t clock;
	uint64_t hits, misses;
};

/* Generate <x->alg>'s pair, wrap the private key under <wrap> into
 * x->blob, read the public key into x->pub; nothing stays in the token. */
CK_RV hsm_wrapped_generate(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			   CK_OBJECT_HANDLE wrap, struct hsm_wrapped *x);

/* Sign each of x->digests with the key in x->blob, unwrapped under <wrap>
 * or found in <cache> (whose handles belong to session <s> of <epoch>). */
CK_RV hsm_wrapped_sign(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		       CK_OBJECT_HANDLE wrap, struct hsm_keycache *cache,
		       uint64_t epoch, struct hsm_wrapped *x);

#endif
