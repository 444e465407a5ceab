/*
 * wrapped.c - citizens' signing keys wrapped by the HSM.  See wrapped.h.
 */
#include <string.h>

#include "p11.h"
#include "wrapped.h"

/* RFC 8017 §9.2 note 1: DigestInfo of SHA-256, up to the hash. */
static const uint8_t wrapped_sha256_prefix[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

/* The pair as session objects: the private half sensitive but extractable
 * (it must be wrapped), both gone when the session ends. */
static CK_RV wrapped_pair(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			  uint8_t alg, CK_OBJECT_HANDLE *pub,
			  CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)HSM_P11_P256_OID, sizeof(HSM_P11_P256_OID) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) }, /* RSA only */
	};
	CK_ATTRIBUTE vt[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_ULONG npt = IG_ARRAY_LEN(pt) - 1;

	if (alg == HSM_ALG_RSA_2048) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pt[2] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		npt++;
	} else if (alg != HSM_ALG_EC_P256) {
		return CKR_ARGUMENTS_BAD;
	}
	return f->C_GenerateKeyPair(s, &mech, pt, npt, vt, IG_ARRAY_LEN(vt), pub,
				    priv);
}

static CK_RV wrapped_public(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			    uint8_t alg, CK_OBJECT_HANDLE pub, struct pubkey *out)
{
	uint8_t a[600], b[600];
	size_t alen, blen;
	const char *why;
	int rc;

	if (alg == HSM_ALG_EC_P256)
		rc = hsm_p11_get_bytes(f, s, pub, CKA_EC_PARAMS, a, sizeof(a), &alen) ||
		     hsm_p11_get_bytes(f, s, pub, CKA_EC_POINT, b, sizeof(b), &blen) ||
		     pubkey_from_ec(out, a, alen, b, blen, &why);
	else
		rc = hsm_p11_get_bytes(f, s, pub, CKA_MODULUS, a, sizeof(a), &alen) ||
		     hsm_p11_get_bytes(f, s, pub, CKA_PUBLIC_EXPONENT, b, sizeof(b), &blen) ||
		     pubkey_from_rsa(out, a, alen, b, blen, &why);
	return rc ? CKR_DEVICE_ERROR : CKR_OK; /* the module answered nonsense */
}

CK_RV hsm_wrapped_generate(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			   CK_OBJECT_HANDLE wrap, struct hsm_wrapped *x)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_ULONG len = sizeof(x->blob);
	CK_RV rv;

	rv = wrapped_pair(f, s, x->alg, &pub, &priv);
	if (rv == CKR_OK)
		rv = wrapped_public(f, s, x->alg, pub, &x->pub);
	if (rv == CKR_OK)
		rv = f->C_WrapKey(s, &mech, wrap, priv, x->blob, &len);
	if (rv == CKR_OK)
		x->blob_len = (uint16_t)len;
	if (priv != CK_INVALID_HANDLE)
		f->C_DestroyObject(s, priv);
	if (pub != CK_INVALID_HANDLE)
		f->C_DestroyObject(s, pub);
	return rv;
}

/* The unwrapped key of x->cred_id in <c>, unwrapping it on a miss. */
static CK_RV wrapped_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			 CK_OBJECT_HANDLE wrap, struct hsm_keycache *c,
			 uint64_t epoch, const struct hsm_wrapped *x,
			 CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = x->alg == HSM_ALG_RSA_2048 ? CKK_RSA : CKK_EC;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	unsigned victim = 0;
	CK_RV rv;

	c->clock++;
	for (unsigned i = 0; i < HSM_CACHE; i++) {
		if (c->e[i].epoch == epoch && c->e[i].h != CK_INVALID_HANDLE &&
		    !memcmp(c->e[i].id, x->cred_id, HSM_CRED_ID_LEN)) {
			c->e[i].used = c->clock;
			c->hits++;
			*out = c->e[i].h;
			return CKR_OK;
		}
		if (c->e[i].used < c->e[victim].used)
			victim = i;
	}
	c->misses++;
	rv = f->C_UnwrapKey(s, &mech, wrap, (CK_BYTE_PTR)x->blob, x->blob_len, t,
			    IG_ARRAY_LEN(t), out);
	/* RFC 5649's integrity check failing is the blob's fault, which
	 * SoftHSM (and other modules) report as a general error: keep the
	 * HSM in rotation for it.  A device truly in trouble fails the next
	 * job or probe as well. */
	if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED ||
	    rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return CKR_WRAPPED_KEY_INVALID;
	if (rv != CKR_OK)
		return rv;
	/* Handles of an older epoch died with their session. */
	if (c->e[victim].h != CK_INVALID_HANDLE && c->e[victim].epoch == epoch)
		f->C_DestroyObject(s, c->e[victim].h);
	memcpy(c->e[victim].id, x->cred_id, HSM_CRED_ID_LEN);
	c->e[victim].h = *out;
	c->e[victim].epoch = epoch;
	c->e[victim].used = c->clock;
	return CKR_OK;
}

CK_RV hsm_wrapped_sign(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
		       CK_OBJECT_HANDLE wrap, struct hsm_keycache *cache,
		       uint64_t epoch, struct hsm_wrapped *x)
{
	CK_MECHANISM mech = { x->alg == HSM_ALG_RSA_2048 ? CKM_RSA_PKCS : CKM_ECDSA,
			      NULL, 0 };
	CK_OBJECT_HANDLE key;
	CK_RV rv;

	if (x->n < 1 || x->n > HSM_MAX_HASHES || x->blob_len > sizeof(x->blob))
		return CKR_ARGUMENTS_BAD;
	rv = wrapped_key(f, s, wrap, cache, epoch, x, &key);
	for (unsigned i = 0; rv == CKR_OK && i < x->n; i++) {
		uint8_t in[sizeof(wrapped_sha256_prefix) + 32];
		CK_ULONG inlen = 32, len = HSM_SIG_MAX;

		if (x->alg == HSM_ALG_RSA_2048) {
			memcpy(in, wrapped_sha256_prefix, sizeof(wrapped_sha256_prefix));
			memcpy(in + sizeof(wrapped_sha256_prefix), x->digests[i], 32);
			inlen = sizeof(in);
		} else {
			memcpy(in, x->digests[i], 32);
		}
		rv = f->C_SignInit(s, &mech, key);
		if (rv == CKR_OK)
			rv = f->C_Sign(s, in, inlen, x->sigs[i], &len);
		x->sig_len[i] = (uint16_t)len;
	}
	return rv;
}
