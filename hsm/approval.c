/*
 * approval.c - officers' signed approvals for dual control.  See
 * approval.h for the format and the contracts.
 *
 * ES256 through libcrypto; the JWS carries R||S (RFC 7518 §3.4), libcrypto
 * speaks DER Ecdsa-Sig-Value, ECDSA_SIG converts between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../common/jose.h"
#include "../common/rand.h"
#include "approval.h"

#define APPROVAL_TYP "idgate-approval+jwt"
#define APPROVAL_HEADER "{\"alg\":\"ES256\",\"typ\":\"" APPROVAL_TYP "\"}"
#define APPROVAL_NONCE_LEN 16
#define APPROVAL_KEY_FILE_MAX 16384 /* a P-256 key in PEM is under 300 bytes */

/* ---- reasons that name things ---- */

static __thread char approval_why_buf[512];

static const char *approval_why(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static const char *approval_why(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(approval_why_buf, sizeof(approval_why_buf), fmt, ap);
	va_end(ap);
	return approval_why_buf;
}

/* A printable copy of <n> bytes of <s> for a reason: at most 48
 * characters, anything but printable ASCII (and the quote) as '?'. */
static const char *shown(const char *s, size_t n, char out[56])
{
	size_t i, o = 0;

	for (i = 0; i < n && o < 48; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- names and fields ---- */

int approval_name_ok(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strnlen(name, APPROVAL_NAME_MAX + 1);
	/* The name becomes a file name under the officers directory: no
	 * '/', no "." or "..", no hidden files. */
	if (n == 0 || n > APPROVAL_NAME_MAX || name[0] == '.' ||
	    strstr(name, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* 1 to APPROVAL_FIELD_MAX bytes, no control characters (UTF-8 validity is
 * checked by jansson when the payload is built). */
static int field_ok(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	n = strnlen(s, APPROVAL_FIELD_MAX + 1);
	if (n == 0 || n > APPROVAL_FIELD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* ---- key files ---- */

/*
 * Read the file at <path> into <buf> (NUL-terminated, at most <cap> - 1
 * bytes).  <secret>: the file must not be accessible by group or others.
 * Returns the length, -ENOENT when there is no such file, or IG_EUSAGE
 * with <*why>.
 */
static int read_key_file(const char *path, char *buf, size_t cap, int secret,
			 const char **why)
{
	struct stat st;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		IG_ENSURE(0, IG_EUSAGE, why, "cannot open the key file");
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		IG_ENSURE(0, IG_EUSAGE, why, "the key file is not a regular file");
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		close(fd);
		IG_ENSURE(0, IG_EUSAGE, why,
			  "the officer key file is readable or writable by group or others: chmod 600 it");
	}
	if (st.st_size <= 0 || (size_t)st.st_size >= cap) {
		close(fd);
		IG_ENSURE(0, IG_EUSAGE, why, "the key file is empty or too large");
	}
	while (len < cap - 1) {
		ssize_t got = read(fd, buf + len, cap - 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	return (int)len;
}

static int is_p256(EVP_PKEY *pkey)
{
	char group[32];
	size_t glen = 0;

	return EVP_PKEY_is_a(pkey, "EC") &&
	       EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					      group, sizeof(group), &glen) &&
	       strcmp(group, "prime256v1") == 0;
}

/*
 * The private key in the PEM text <pem>: the first "PRIVATE KEY" (PKCS#8,
 * RFC 5208) or "EC PRIVATE KEY" (SEC 1 §C.4) block, after any "EC
 * PARAMETERS" block (`openssl ecparam -genkey` writes one first).  We
 * decode the DER ourselves, without a password callback: an encrypted key
 * is refused, never prompted for.
 */
static EVP_PKEY *load_private(const char *pem, size_t len, const char **whyp)
{
	const char *dummy, **why = whyp ? whyp : &dummy;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;

	*why = "the officer key file holds no PRIVATE KEY or EC PRIVATE KEY";
	while (bio && PEM_read_bio(bio, &name, &header, &data, &dlen) == 1) {
		const unsigned char *p = data;
		int skip = !strcmp(name, "EC PARAMETERS");

		if (!strcmp(name, "ENCRYPTED PRIVATE KEY") ||
		    (header && *header)) {
			*why = "the officer key file is encrypted: an unencrypted key is needed";
		} else if (!strcmp(name, "PRIVATE KEY")) {
			PKCS8_PRIV_KEY_INFO *p8 =
				d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, dlen);

			if (p8 && p == data + dlen)
				pkey = EVP_PKCS82PKEY(p8);
			PKCS8_PRIV_KEY_INFO_free(p8);
			*why = "the officer key file holds a damaged PRIVATE KEY";
		} else if (!strcmp(name, "EC PRIVATE KEY")) {
			pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, dlen);
			if (pkey && p != data + dlen) {
				EVP_PKEY_free(pkey);
				pkey = NULL;
			}
			*why = "the officer key file holds a damaged EC PRIVATE KEY";
		} else if (!skip) {
			*why = "the officer key file holds no PRIVATE KEY or EC PRIVATE KEY";
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)dlen);
		name = header = NULL;
		data = NULL;
		if (!skip)
			break;
	}
	BIO_free(bio);
	if (pkey && !is_p256(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		*why = "the officer key is not an EC P-256 key";
	}
	return pkey;
}

/* ---- ES256 with libcrypto ---- */

static int es256_sign_evp(EVP_PKEY *pkey, const char *msg, size_t len,
			  uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t der_len = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	int ok;

	ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestSign(md, der, &der_len, (const unsigned char *)msg,
			    len) == 1 &&
	     (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
	     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return ok;
}

static int es256_verify_evp(EVP_PKEY *pkey, const char *msg, size_t len,
			    const uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len = -1, ok = 0;

	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL; /* owned by es now */
		der_len = i2d_ECDSA_SIG(es, &der);
	}
	if (md && der_len > 0 &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1)
		ok = EVP_DigestVerify(md, der, (size_t)der_len,
				      (const unsigned char *)msg, len) == 1;
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- create ---- */

int approval_create(const char *officer, const char *key_pem_path,
		    const char *action, const char *hsm, const char *key_id,
		    unsigned ttl_s, char *out, size_t cap, const char **why)
{
	char pem[APPROVAL_KEY_FILE_MAX];
	char jws[APPROVAL_JWS_MAX];
	char nonce64[b64url_enc_len(APPROVAL_NONCE_LEN) + 1];
	uint8_t nonce[APPROVAL_NONCE_LEN], sig[64];
	EVP_PKEY *pkey;
	json_t *payload;
	char *text;
	size_t n, tlen;
	int64_t iat;
	int len, ok;

	IG_ENSURE(approval_name_ok(officer), IG_EUSAGE, why,
		  "officer name must be 1 to 64 characters of A-Z a-z 0-9 . _ - (no leading '.', no '..')");
	IG_ENSURE(field_ok(action), IG_EUSAGE, why,
		  "action must be 1 to 256 bytes without control characters");
	IG_ENSURE(field_ok(hsm), IG_EUSAGE, why,
		  "hsm must be 1 to 256 bytes without control characters");
	IG_ENSURE(field_ok(key_id), IG_EUSAGE, why,
		  "key id must be 1 to 256 bytes without control characters");
	IG_ENSURE(ttl_s >= 1 && ttl_s <= APPROVAL_TTL_MAX, IG_EUSAGE, why,
		  "approval lifetime must be 1 to 86400 seconds");
	IG_ENSURE(key_pem_path && out, IG_EUSAGE, why,
		  "no key file or output buffer");

	len = read_key_file(key_pem_path, pem, sizeof(pem), 1, why);
	IG_ENSURE(len != -ENOENT, IG_EUSAGE, why,
		  "the officer key file does not exist");
	if (len < 0)
		return len;
	pkey = load_private(pem, (size_t)len, why);
	OPENSSL_cleanse(pem, sizeof(pem));
	if (!pkey)
		return IG_EUSAGE;

	if (ig_random(nonce, sizeof(nonce)) != IG_OK) {
		EVP_PKEY_free(pkey);
		IG_ENSURE(0, IG_EINTERNAL, why, "no random bytes for the nonce");
	}
	b64url_encode(nonce, sizeof(nonce), nonce64);
	iat = (int64_t)time(NULL);
	/* jansson keeps this order and refuses strings that are not UTF-8. */
	payload = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "officer", officer,
			    "action", action, "hsm", hsm, "key", key_id, "iat",
			    (json_int_t)iat, "exp", (json_int_t)(iat + ttl_s),
			    "nonce", nonce64);
	text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	if (!text) {
		EVP_PKEY_free(pkey);
		IG_ENSURE(0, IG_EUSAGE, why,
			  "action, hsm and key id must be UTF-8");
	}
	/* RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.'
	 * BASE64URL(signature).  Sizes: see APPROVAL_JWS_MAX. */
	tlen = strlen(text);
	n = b64url_encode((const uint8_t *)APPROVAL_HEADER,
			  sizeof(APPROVAL_HEADER) - 1, jws);
	jws[n++] = '.';
	if (n + b64url_enc_len(tlen) + 1 + b64url_enc_len(64) >= sizeof(jws)) {
		free(text);
		EVP_PKEY_free(pkey);
		IG_ENSURE(0, IG_EINTERNAL, why, "approval too large");
	}
	n += b64url_encode((const uint8_t *)text, tlen, jws + n);
	free(text);
	ok = es256_sign_evp(pkey, jws, n, sig);
	EVP_PKEY_free(pkey);
	IG_ENSURE(ok, IG_EINTERNAL, why, "signing the approval failed");
	jws[n++] = '.';
	n += b64url_encode(sig, sizeof(sig), jws + n);
	IG_ENSURE(n < cap, IG_EUSAGE, why, "output buffer too small for the approval");
	memcpy(out, jws, n + 1);
	return (int)n;
}

/* ---- check ---- */

/* A JWS segment as a JSON object, or NULL (approvals refuse it whole, so
 * the reason does not matter). */
static json_t *segment_json(const char *s, size_t n)
{
	json_t *o;

	return jws_segment_json(s, n, &o) == JWS_SEG_OK ? o : NULL;
}

static int str_is(json_t *v, const char *want)
{
	return json_is_string(v) && json_string_length(v) == strlen(want) &&
	       !memcmp(json_string_value(v), want, strlen(want));
}

/* The string member <name> of <o>, or NULL. */
static json_t *member_str(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) ? v : NULL;
}

struct claims {
	json_t *officer, *action, *hsm, *key, *nonce;
	json_int_t iat, exp;
};

static int payload_claims(json_t *p, struct claims *c, const char **why)
{
	static const char *const strs[] = { "officer", "action", "hsm", "key",
					    "nonce" };
	json_t **slots[] = { &c->officer, &c->action, &c->hsm, &c->key,
			     &c->nonce };
	json_t *iat = json_object_get(p, "iat"), *exp = json_object_get(p, "exp");
	uint8_t nonce[APPROVAL_NONCE_LEN];

	for (size_t i = 0; i < IG_ARRAY_LEN(strs); i++) {
		*slots[i] = member_str(p, strs[i]);
		if (!*slots[i]) {
			if (why)
				*why = approval_why("approval is malformed: \"%s\" is missing or not a string",
						    strs[i]);
			return IG_EPROTO;
		}
	}
	IG_ENSURE(json_is_integer(iat), IG_EPROTO, why,
		  "approval is malformed: \"iat\" is missing or not an integer");
	IG_ENSURE(json_is_integer(exp), IG_EPROTO, why,
		  "approval is malformed: \"exp\" is missing or not an integer");
	IG_ENSURE(json_object_size(p) == 7, IG_EPROTO, why,
		  "approval is malformed: unexpected payload member");
	c->iat = json_integer_value(iat);
	c->exp = json_integer_value(exp);
	IG_ENSURE(c->iat >= 0 && c->exp >= 0, IG_EPROTO, why,
		  "approval is malformed: negative time");
	IG_ENSURE(json_string_length(c->nonce) == b64url_enc_len(APPROVAL_NONCE_LEN) &&
			  b64url_decode(json_string_value(c->nonce),
					json_string_length(c->nonce), nonce,
					sizeof(nonce)) == APPROVAL_NONCE_LEN,
		  IG_EPROTO, why, "approval is malformed: nonce is not 16 bytes of base64url");
	/* The name rule before any use of the name: it is a file name. */
	IG_ENSURE(json_string_length(c->officer) ==
				  strlen(json_string_value(c->officer)) &&
			  approval_name_ok(json_string_value(c->officer)),
		  IG_EPROTO, why, "approval is malformed: invalid officer name");
	return IG_OK;
}

/* The public key of officer <name>: IG_OK, IG_EPROTO (no such officer)
 * or IG_EUSAGE (a broken officers directory). */
static int officer_key(const char *dir, const char *name, EVP_PKEY **out,
		       const char **why)
{
	char path[4096], pem[APPROVAL_KEY_FILE_MAX], shown_name[56];
	const char *rwhy = NULL;
	BIO *bio;
	int len, n;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	IG_ENSURE(n > 0 && (size_t)n < sizeof(path), IG_EUSAGE, why,
		  "officers directory path too long");
	len = read_key_file(path, pem, sizeof(pem), 0, &rwhy);
	if (len == -ENOENT) {
		if (why)
			*why = approval_why("approval signed by an unknown officer '%s'",
					    shown(name, strlen(name), shown_name));
		return IG_EPROTO;
	}
	if (len < 0) {
		if (why)
			*why = approval_why("officer '%s': %s", name, rwhy);
		return IG_EUSAGE;
	}
	bio = BIO_new_mem_buf(pem, len);
	*out = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!*out || !is_p256(*out)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		if (why)
			*why = approval_why("officer '%s': %s.pem is not an EC P-256 PUBLIC KEY",
					    name, name);
		return IG_EUSAGE;
	}
	return IG_OK;
}

/* <v> (a JSON string) equals the C string <want>, or a reason naming
 * both. */
static int claim_matches(json_t *v, const char *want, const char *what,
			 const char **why)
{
	char a[56], b[56];

	if (str_is(v, want))
		return IG_OK;
	if (why)
		*why = approval_why("approval is for %s '%s', not '%s'", what,
				    shown(json_string_value(v),
					  json_string_length(v), a),
				    shown(want, strlen(want), b));
	return IG_EPROTO;
}

int approval_check(const char *jws, const char *officers_dir,
		   const char *action, const char *hsm, const char *key_id,
		   int64_t now, char officer_out[APPROVAL_NAME_MAX + 1],
		   const char **why)
{
	struct jws_parts parts;
	struct claims c;
	struct stat st;
	json_t *hdr = NULL, *payload = NULL;
	EVP_PKEY *pub = NULL;
	uint8_t sig[64];
	size_t len;
	int rc;

	if (officer_out)
		officer_out[0] = '\0';
	IG_ENSURE(jws && officers_dir && action && hsm && key_id && officer_out,
		  IG_EUSAGE, why, "approval_check: missing argument");
	IG_ENSURE(stat(officers_dir, &st) == 0 && S_ISDIR(st.st_mode),
		  IG_EUSAGE, why, "the officers directory does not exist");
	len = strnlen(jws, APPROVAL_JWS_MAX);
	IG_ENSURE(len < APPROVAL_JWS_MAX, IG_EPROTO, why,
		  "approval is malformed: too long");
	IG_ENSURE(jws_split(jws, len, &parts, NULL) == IG_OK, IG_EPROTO, why,
		  "approval is malformed: not three dot-separated parts");

	hdr = segment_json(parts.hdr, parts.hdr_len);
	rc = IG_EPROTO;
	if (!hdr) {
		if (why)
			*why = "approval is malformed: the header is not base64url JSON";
		goto out;
	}
	/* Exactly our header: an "alg" other than ES256 ("none", HS256
	 * with the public key as secret, ...) and any "crit" are refused. */
	if (!str_is(json_object_get(hdr, "alg"), "ES256")) {
		if (why)
			*why = "approval is malformed: alg must be ES256";
		goto out;
	}
	if (!str_is(json_object_get(hdr, "typ"), APPROVAL_TYP) ||
	    json_object_size(hdr) != 2) {
		if (why)
			*why = "approval is malformed: the header must be exactly {\"alg\":\"ES256\",\"typ\":\"" APPROVAL_TYP "\"}";
		goto out;
	}
	payload = segment_json(parts.payload, parts.payload_len);
	if (!payload) {
		if (why)
			*why = "approval is malformed: the payload is not base64url JSON";
		goto out;
	}
	if (payload_claims(payload, &c, why) != IG_OK)
		goto out;
	if (parts.sig_len != b64url_enc_len(64) ||
	    b64url_decode(parts.sig, parts.sig_len, sig, sizeof(sig)) != 64) {
		if (why)
			*why = "approval is malformed: the signature is not 64 bytes of base64url";
		goto out;
	}

	rc = officer_key(officers_dir, json_string_value(c.officer), &pub, why);
	if (rc != IG_OK)
		goto out;
	rc = IG_EPROTO;
	if (!es256_verify_evp(pub, parts.hdr, parts.signing_input_len, sig)) {
		if (why)
			*why = "approval signature does not verify";
		goto out;
	}

	/* Signed by a registered officer: now what was approved, and when. */
	if (claim_matches(c.action, action, "action", why) != IG_OK ||
	    claim_matches(c.hsm, hsm, "HSM", why) != IG_OK ||
	    claim_matches(c.key, key_id, "key", why) != IG_OK)
		goto out;
	if (c.exp <= c.iat) {
		if (why)
			*why = "approval is malformed: exp is not after iat";
		goto out;
	}
	/* Both times are >= 0: no difference below can overflow. */
	if (c.exp - c.iat > APPROVAL_TTL_MAX) {
		if (why)
			*why = "approval lifetime exceeds 24 hours";
		goto out;
	}
	if (c.iat - APPROVAL_CLOCK_SKEW > now) {
		if (why)
			*why = "approval is issued in the future (check the clocks)";
		goto out;
	}
	if (now >= c.exp) {
		if (why)
			*why = "approval expired";
		goto out;
	}
	strcpy(officer_out, json_string_value(c.officer)); /* <= 64, checked */
	rc = IG_OK;
out:
	EVP_PKEY_free(pub);
	json_decref(payload);
	json_decref(hdr);
	return rc;
}

/* ---- quorum ---- */

/* "two" for 2, up to ten; digits beyond.  <buf> holds the digits. */
static const char *count_word(size_t n, char buf[24])
{
	static const char *const words[] = { "no", "one", "two", "three",
					     "four", "five", "six", "seven",
					     "eight", "nine", "ten" };

	if (n < IG_ARRAY_LEN(words))
		return words[n];
	snprintf(buf, 24, "%zu", n);
	return buf;
}

int approval_quorum(const char *const *jws, size_t n, size_t need,
		    const char *officers_dir, const char *action,
		    const char *hsm, const char *key_id, int64_t now,
		    char officers_out[][APPROVAL_NAME_MAX + 1],
		    const char **why)
{
	char name[APPROVAL_NAME_MAX + 1], dup[APPROVAL_NAME_MAX + 1] = "";
	char reason[sizeof(approval_why_buf)], w1[24], w2[24];
	size_t distinct = 0, j;

	IG_ENSURE(need >= 1, IG_EUSAGE, why,
		  "approval_quorum: need must be at least 1");
	IG_ENSURE(n == 0 || (jws && officers_out), IG_EUSAGE, why,
		  "approval_quorum: missing argument");
	for (size_t i = 0; i < n; i++) {
		const char *w = "?";
		int rc = approval_check(jws[i], officers_dir, action, hsm,
					key_id, now, name, &w);

		if (rc != IG_OK) {
			/* <w> may live in the buffer we format into. */
			snprintf(reason, sizeof(reason), "%s", w);
			if (why)
				*why = approval_why("approval %zu of %zu: %s",
						    i + 1, n, reason);
			return rc;
		}
		for (j = 0; j < distinct; j++)
			if (!strcmp(officers_out[j], name))
				break;
		if (j < distinct) {
			if (!dup[0])
				strcpy(dup, name);
		} else {
			strcpy(officers_out[distinct++], name);
		}
	}
	if (distinct >= need)
		return (int)distinct;
	if (why) {
		if (dup[0])
			*why = approval_why("two approvals from the same officer '%s': dual control needs %s officers",
					    dup, count_word(need, w1));
		else
			*why = approval_why("approvals from %s officer%s: dual control needs %s",
					    count_word(distinct, w1),
					    distinct == 1 ? "" : "s",
					    count_word(need, w2));
	}
	return IG_EPROTO;
}
