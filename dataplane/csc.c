/*
 * csc.c - the CSC API v2 and citizens' signing credentials.  See csc.h.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "../common/p256.h"
#include "../common/log.h"
#include "../common/rand.h"
#include "../hsm/x509.h"
#include "assertion.h"
#include "csc.h"
#include "replay.h"
#include "store.h"

/* OIDs (dotted) of what credentials/info and signHash name. */
#define OID_EC "1.2.840.10045.2.1"
#define OID_P256 "1.2.840.10045.3.1.7"
#define OID_RSA "1.2.840.113549.1.1.1"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_RSA_SHA256 "1.2.840.113549.1.1.11"
#define OID_SHA256 "2.16.840.1.101.3.4.2.1"

#define SAD_VERSION 2
/* version, credential id, exp, count, nonce, SHA-256 of the hash list,
 * SHA-256 of the client_id of the access token that authorized it */
#define SAD_EXP (1 + STORE_CRED_ID_LEN)
#define SAD_COUNT (SAD_EXP + 8)
#define SAD_NONCE (SAD_COUNT + 1)
#define SAD_LIST (SAD_NONCE + 16)
#define SAD_CLIENT (SAD_LIST + 32)
#define SAD_BODY (SAD_CLIENT + 32)
#define SAD_LEN (SAD_BODY + 32)

/* Who calls: the citizen of the access token's "cit" claim and the relying
 * service it was issued to (its client_id claim, RFC 9068 §2.2). */
struct csc_caller {
	char citizen[STORE_CITIZEN_MAX + 1];
	char client[CSC_CLIENT_MAX + 1];
};

struct csc_pending {
	struct hsm_wrapped wx;
	struct store_signcred sc;
	uint8_t step;             /* creation: 1 key made, 2 certificate signed */
	uint8_t at_audit;         /* signHash: the job waits for its record */
	uint64_t audit_seq;       /* ... and that record's seq, once durable */
	int ca_dev;
	struct pubkey ca_pub;
	uint8_t tbs[2048];
	size_t tbs_len;
	char citizen[STORE_CITIZEN_MAX + 1];
};

static conn_resume_fn csc_resume;

/* ---- keys, the CA certificate ------------------------------------------- */

static void csc_derive(const struct server *srv, const char *label, uint8_t out[32])
{
	hmac_sha256(srv->pairwise_key, sizeof(srv->pairwise_key),
		    (const struct ig_piece[]){ { label, strlen(label) } }, 1, out);
}

static int csc_read_pem_cert(const char *path, uint8_t *der, size_t cap, size_t *len)
{
	char buf[8192], *b, *e;
	size_t n, olen;
	FILE *f = fopen(path, "re");

	if (!f)
		return IG_EUSAGE;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	b = strstr(buf, "-----BEGIN CERTIFICATE-----");
	e = b ? strstr(b, "-----END CERTIFICATE-----") : NULL;
	if (!b || !e)
		return IG_EUSAGE;
	b += strlen("-----BEGIN CERTIFICATE-----");
	/* mbedtls_base64_decode skips the line breaks. */
	if (mbedtls_base64_decode(der, cap, &olen, (const uint8_t *)b, (size_t)(e - b)))
		return IG_EUSAGE;
	*len = olen;
	return IG_OK;
}

int csc_init(struct server *srv, const char **why)
{
	struct x509_info info;
	struct pubkey ca;
	size_t len;

	csc_derive(srv, "idgate cit claim v1", srv->cit_key);
	csc_derive(srv, "idgate csc sad v1", srv->sad_key);
	if (csc_read_pem_cert(srv->cfg.csc_ca_cert, srv->ca_der, sizeof(srv->ca_der),
			      &len) < 0) {
		log_warn("no CA certificate in %s: signing credentials cannot be made "
			 "(idgate-keys makes one for a ca key)", srv->cfg.csc_ca_cert);
		return IG_OK;
	}
	if (x509_parse_info(srv->ca_der, len, &info, why) < 0)
		return IG_EUSAGE;
	if (hsm_choose_ca(srv->hsm, &info.key, &ca) < 0) {
		*why = "the CA certificate's key is not the CA key of the HSMs";
		return IG_EUSAGE;
	}
	srv->ca_der_len = len;
	srv->ca_key = info.key;
	snprintf(srv->ca_subject, sizeof(srv->ca_subject), "%s", info.subject);
	srv->ca_pem = malloc(len * 2 + 200);
	if (!srv->ca_pem || x509_pem(srv->ca_der, len, srv->ca_pem, len * 2 + 200) < 0) {
		*why = "out of memory";
		return IG_ENOMEM;
	}
	return IG_OK;
}

void csc_free(struct server *srv)
{
	free(srv->ca_pem);
	srv->ca_pem = NULL;
	mbedtls_platform_zeroize(srv->cit_key, sizeof(srv->cit_key));
	mbedtls_platform_zeroize(srv->sad_key, sizeof(srv->sad_key));
}

/*
 * Access tokens this worker verified: a relying service sends the same
 * token for a citizen's authorize and signHash calls, and for each
 * document; an ES256 verification is the largest part of a call.  Keyed by
 * the SHA-256 of the whole token (signature included), so only the very
 * same bytes hit; the expiry is checked at each use.  Two-way set
 * associative: a new token replaces the one of its set expiring first.
 */
#define CSC_TOKENS 512
struct csc_tokens {
	struct {
		uint8_t hash[32];
		int64_t exp;
		struct csc_caller who;
	} e[CSC_TOKENS];
};

int csc_worker_init(struct worker *w)
{
	w->csc_tokens = calloc(1, sizeof(*w->csc_tokens));
	if (!w->csc_tokens)
		return IG_ENOMEM;
	mbedtls_gcm_init(&w->cit_gcm);
	return mbedtls_gcm_setkey(&w->cit_gcm, MBEDTLS_CIPHER_ID_AES, w->srv->cit_key,
				  256) ? IG_EINTERNAL : IG_OK;
}

void csc_worker_free(struct worker *w)
{
	mbedtls_gcm_free(&w->cit_gcm);
	if (w->csc_tokens)
		mbedtls_platform_zeroize(w->csc_tokens, sizeof(*w->csc_tokens));
	free(w->csc_tokens);
	w->csc_tokens = NULL;
}

void csc_conn_free(struct conn *c)
{
	if (c->pend && c->pend->csc) {
		mbedtls_platform_zeroize(c->pend->csc, sizeof(*c->pend->csc));
		free(c->pend->csc);
		c->pend->csc = NULL;
	}
}

/* ---- the citizen in the access token ------------------------------------ */

/*
 * The plaintext is the citizen id padded with zero bytes to
 * STORE_CITIZEN_MAX (the longest id the store takes): GCM's ciphertext is
 * as long as its plaintext, so an unpadded claim would tell every relying
 * service how long the citizen's id is.  Ids never hold a zero byte
 * (store.c takes [A-Za-z0-9._-]), so the padding is unambiguous.
 */
int csc_cit_claim(struct worker *w, const char *citizen_id, char out[CSC_CIT_MAX])
{
	uint8_t buf[12 + STORE_CITIZEN_MAX + 16], plain[STORE_CITIZEN_MAX] = { 0 };
	size_t n = strlen(citizen_id);
	int rc;

	if (n == 0 || n > STORE_CITIZEN_MAX)
		return IG_EINTERNAL;
	memcpy(plain, citizen_id, n);
	rc = ig_random(buf, 12) != IG_OK ||
	     mbedtls_gcm_crypt_and_tag(&w->cit_gcm, MBEDTLS_GCM_ENCRYPT, sizeof(plain), buf,
				       12, (const uint8_t *)"cit", 3, plain, buf + 12, 16,
				       buf + 12 + sizeof(plain));
	mbedtls_platform_zeroize(plain, sizeof(plain));
	if (rc)
		return IG_EINTERNAL;
	b64url_encode(buf, sizeof(buf), out);
	return IG_OK;
}

/* Open a claim of csc_cit_claim: exactly its length, authentic, then an
 * id of 1..STORE_CITIZEN_MAX bytes followed by zero bytes only. */
static int csc_cit_open(struct worker *w, const char *claim, size_t len,
			char out[STORE_CITIZEN_MAX + 1])
{
	uint8_t buf[12 + STORE_CITIZEN_MAX + 16 + 3];
	size_t n;

	if (b64url_decode(claim, len, buf, sizeof(buf)) != 12 + STORE_CITIZEN_MAX + 16 ||
	    mbedtls_gcm_auth_decrypt(&w->cit_gcm, STORE_CITIZEN_MAX, buf, 12,
				     (const uint8_t *)"cit", 3, buf + 12 + STORE_CITIZEN_MAX,
				     16, buf + 12, (uint8_t *)out))
		return IG_EPROTO;
	out[STORE_CITIZEN_MAX] = '\0';
	n = strlen(out);
	for (size_t i = n; i < STORE_CITIZEN_MAX; i++)
		if (out[i])
			return IG_EPROTO;
	return n ? IG_OK : IG_EPROTO;
}

/* ---- answers ------------------------------------------------------------- */

static void csc_json(struct conn *c, struct request *r, enum endpoint ep, int status,
		     json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	if (!s)
		return resp_error(c, ep, r->start_ns, 500, "server_error", "out of memory",
				  NULL, r->h.keep_alive);
	resp_send(c, ep, r->start_ns, status, "application/json", NULL, s, strlen(s),
		  r->h.keep_alive);
	free(s);
}

static void csc_bad(struct conn *c, struct request *r, enum endpoint ep, const char *desc)
{
	resp_error(c, ep, r->start_ns, 400, "invalid_request", desc, NULL, r->h.keep_alive);
}

static void csc_denied(struct conn *c, struct request *r, enum endpoint ep, const char *desc)
{
	resp_error(c, ep, r->start_ns, 403, "access_denied", desc, NULL, r->h.keep_alive);
}

static void csc_busy(struct conn *c, uint64_t start_ns, enum endpoint ep, const char *desc,
		     int keep_alive)
{
	M_INC(c->w->m.shed_hsm_queue);
	resp_error(c, ep, start_ns, 503, "temporarily_unavailable", desc, "Retry-After: 1\r\n",
		   keep_alive);
}

/* ---- the Bearer token ---------------------------------------------------- */

/*
 * The caller of the request's access token: an ES256 JWS signed by one of
 * the issuer keys published now, by this issuer, not expired, with a "cit"
 * claim this server made, issued to a relying service.  Answers 401 itself
 * and returns -1 otherwise.
 *
 * The relying service is the token's client_id claim.  A login that named
 * none gets the issuer as client_id (handlers.c: a login to the platform
 * itself, RFC 9068 §2.2 wants the claim): such a token, or one without the
 * claim, names no service, and a SAD must be bound to one (csc_sign).
 */
static int csc_caller(struct conn *c, struct request *r, enum endpoint ep,
		      struct csc_caller *out)
{
	struct worker *w = c->w;
	struct server *srv = w->srv;
	struct http_str tok;
	const char *why = "the access token is malformed";
	const struct hsm_issuer *ks[HSM_MAX_KEYS], *key = NULL;
	struct jws_parts parts;
	struct p256_pub pub;
	uint8_t sig[64], th[32];
	json_t *claims = NULL, *hdr = NULL;
	const char *kid, *iss, *cit, *client;
	unsigned slot;

	if (!http_bearer(r->h.authorization, &tok)) {
		why = "a Bearer access token is required";
		goto fail;
	}
	sha256((const uint8_t *)tok.p, tok.len, th);
	slot = 2 * ((th[0] | (unsigned)th[1] << 8) % (CSC_TOKENS / 2));
	for (unsigned way = 0; way < 2; way++) {
		if (!memcmp(w->csc_tokens->e[slot + way].hash, th, 32) &&
		    w->csc_tokens->e[slot + way].exp + srv->cfg.clock_skew_s > w->now_s) {
			*out = w->csc_tokens->e[slot + way].who;
			goto service;
		}
	}
	if (w->csc_tokens->e[slot + 1].exp < w->csc_tokens->e[slot].exp)
		slot++;
	if (jws_split(tok.p, tok.len, &parts, &why) < 0)
		goto fail;
	if (jws_segment_json(parts.hdr, parts.hdr_len, &hdr) != JWS_SEG_OK)
		goto fail;
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (!kid || strcmp(json_string_value(json_object_get(hdr, "alg")) ?: "", "ES256"))
		goto fail;
	for (unsigned d = 0; !key && d < hsm_ndevices(srv->hsm); d++) {
		size_t nk = hsm_device_keys(srv->hsm, d, ks, HSM_MAX_KEYS);

		for (size_t i = 0; i < nk; i++)
			if (!strcmp(ks[i]->kid, kid) && keyring_published(&ks[i]->ent, w->now_s))
				key = ks[i];
	}
	if (!key) {
		why = "the access token's key is not one of this issuer's";
		goto fail;
	}
	memcpy(pub.x, key->x, 32);
	memcpy(pub.y, key->y, 32);
	if (b64url_decode(parts.sig, parts.sig_len, sig, sizeof(sig)) != 64 ||
	    es256_verify(&pub, (const uint8_t *)parts.hdr, parts.signing_input_len,
			 sig) != 0) {
		why = "the access token's signature does not verify";
		goto fail;
	}
	if (jws_segment_json(parts.payload, parts.payload_len, &claims) != JWS_SEG_OK)
		goto fail;
	iss = json_string_value(json_object_get(claims, "iss"));
	cit = json_string_value(json_object_get(claims, "cit"));
	client = json_string_value(json_object_get(claims, "client_id"));
	if (!iss || strcmp(iss, srv->cfg.issuer) ||
	    !json_is_integer(json_object_get(claims, "exp")) ||
	    json_integer_value(json_object_get(claims, "exp")) + srv->cfg.clock_skew_s <=
		    w->now_s) {
		why = "the access token is expired or not this issuer's";
		goto fail;
	}
	if (!cit || csc_cit_open(w, cit, json_string_length(json_object_get(claims, "cit")),
				 out->citizen) < 0) {
		why = "the access token names no citizen";
		goto fail;
	}
	/* "" (no relying service) is cached too: refused below, cheaply. */
	out->client[0] = '\0';
	if (client && strlen(client) <= CSC_CLIENT_MAX && strcmp(client, srv->cfg.issuer))
		strcpy(out->client, client);
	memcpy(w->csc_tokens->e[slot].hash, th, 32);
	w->csc_tokens->e[slot].exp = json_integer_value(json_object_get(claims, "exp"));
	w->csc_tokens->e[slot].who = *out;
	json_decref(hdr);
	json_decref(claims);
	hdr = claims = NULL;    /* fail: below puts them again */
service:
	if (out->client[0])
		return IG_OK;
	why = "the access token was issued to no relying service: log in with the "
	      "service's client_id to use the CSC API";
fail:
	json_decref(hdr);
	json_decref(claims);
	resp_error(c, ep, r->start_ns, 401, "invalid_token", why,
		   "WWW-Authenticate: Bearer realm=\"idgate\", error=\"invalid_token\"\r\n",
		   r->h.keep_alive);
	return IG_EPROTO;
}

/* The request body as a JSON object, or -1 answered (400). */
static json_t *csc_body(struct conn *c, struct request *r, enum endpoint ep)
{
	json_t *o = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL)
				: json_object();

	if (!json_is_object(o)) {
		json_decref(o);
		csc_bad(c, r, ep, "the body must be a JSON object");
		return NULL;
	}
	return o;
}

/* The caller's own, enabled-or-not credential <id>; answers and returns -1
 * otherwise (400 unknown, 403 another citizen's). */
static int csc_own(struct conn *c, struct request *r, enum endpoint ep, const char *citizen,
		   json_t *body, struct store_signcred *sc)
{
	const char *id = json_string_value(json_object_get(body, "credentialID"));
	const char *why;

	if (!id) {
		csc_bad(c, r, ep, "missing credentialID");
		return IG_EPROTO;
	}
	if (store_reader_get_signcred(c->w->reader, id, strlen(id), sc, &why) < 0) {
		csc_bad(c, r, ep, "unknown credentialID");
		return IG_EPROTO;
	}
	if (strcmp(sc->citizen_id, citizen)) {
		csc_denied(c, r, ep, "the credential is not the caller's");
		return IG_EPROTO;
	}
	return IG_OK;
}

/* ---- info, credentials/list, credentials/info ------------------------------- */

static void csc_info(struct conn *c, struct request *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s,s,s,s,s], "
			      "s:{s:[s,s]}}",
		"specs", "2.0.0.2", "name", "idgate", "logo", "",
		"region", "HK", "lang", "en-US",
		"description", "idgate remote signing for citizens",
		/* The access token comes from idgate's OAuth 2.0 token
		 * endpoint (the JWT-bearer grant), outside this API. */
		"authType", "external",
		"methods", "credentials/list", "credentials/info", "credentials/authorize",
		"signatures/signHash", "info",
		"signAlgorithms", "algos", OID_ECDSA_SHA256, OID_RSA_SHA256);

	csc_json(c, r, EP_CSC, 200, o);
}

static json_t *csc_cred_info(const struct server *srv, const struct store_signcred *sc,
			     const char *certs)
{
	struct x509_info info;
	const char *why;
	json_t *key, *cert, *list;
	char b64[STORE_SC_CERT_MAX * 2], ca64[sizeof(srv->ca_der) * 2];
	size_t n;

	if (x509_parse_info(sc->cert, sc->cert_len, &info, &why) < 0)
		return NULL;
	key = json_pack("{s:s, s:[s], s:i}", "status", sc->revoked ? "disabled" : "enabled",
			"algo", sc->alg == HSM_ALG_RSA_2048 ? OID_RSA : OID_EC,
			"len", sc->alg == HSM_ALG_RSA_2048 ? 2048 : 256);
	if (sc->alg != HSM_ALG_RSA_2048)
		json_object_set_new(key, "curve", json_string(OID_P256));
	cert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
			 "status", sc->revoked ? "revoked" : "valid",
			 "issuerDN", info.issuer, "serialNumber", info.serial_hex,
			 "subjectDN", info.subject, "validFrom", info.not_before,
			 "validTo", info.not_after);
	if (strcmp(certs, "none")) {
		list = json_array();
		n = b64_encode(sc->cert, sc->cert_len, b64);
		json_array_append_new(list, json_stringn(b64, n));
		if (!strcmp(certs, "chain") && srv->ca_der_len) {
			n = b64_encode(srv->ca_der, srv->ca_der_len, ca64);
			json_array_append_new(list, json_stringn(ca64, n));
		}
		json_object_set_new(cert, "certificates", list);
	}
	return json_pack("{s:o, s:o, s:s, s:s, s:i, s:s}", "key", key, "cert", cert,
			 "authMode", "explicit", "SCAL", "2", "multisign", CSC_MULTISIGN,
			 "lang", "en-US");
}

static const char *csc_certs_arg(json_t *body)
{
	const char *v = json_string_value(json_object_get(body, "certificates"));

	return v ? v : "single";
}

static void csc_list(struct conn *c, struct request *r, const struct csc_caller *who,
		     json_t *body)
{
	struct server *srv = c->w->srv;
	char ids[64][STORE_CRED_ID_LEN + 1];
	const char *why, *certs = csc_certs_arg(body);
	int n = store_reader_citizen_signcreds(c->w->reader, who->citizen, ids, 64, &why);
	json_t *o = json_object(), *list = json_array(), *infos = NULL;

	if (n < 0) {
		json_decref(o);
		json_decref(list);
		return resp_error(c, EP_CSC, r->start_ns, 500, "server_error", why, NULL,
				  r->h.keep_alive);
	}
	if (json_is_true(json_object_get(body, "credentialInfo")))
		infos = json_array();
	for (int i = 0; i < n && i < 64; i++) {
		struct store_signcred *sc = malloc(sizeof(*sc));

		json_array_append_new(list, json_string(ids[i]));
		if (infos && sc && store_reader_get_signcred(c->w->reader, ids[i],
							     STORE_CRED_ID_LEN, sc, &why) == IG_OK) {
			json_t *one = csc_cred_info(srv, sc, certs);

			if (one) {
				json_object_set_new(one, "credentialID", json_string(ids[i]));
				json_array_append_new(infos, one);
			}
		}
		free(sc);
	}
	json_object_set_new(o, "credentialIDs", list);
	if (infos)
		json_object_set_new(o, "credentialInfos", infos);
	csc_json(c, r, EP_CSC, 200, o);
}

static void csc_credinfo(struct conn *c, struct request *r, const struct csc_caller *who,
			 json_t *body)
{
	struct store_signcred *sc = malloc(sizeof(*sc));
	const char *certs = csc_certs_arg(body);
	json_t *o;

	if (!sc)
		return csc_busy(c, r->start_ns, EP_CSC, "out of memory", r->h.keep_alive);
	if (strcmp(certs, "none") && strcmp(certs, "single") && strcmp(certs, "chain")) {
		free(sc);
		return csc_bad(c, r, EP_CSC, "certificates must be none, single or chain");
	}
	if (csc_own(c, r, EP_CSC, who->citizen, body, sc) == IG_OK) {
		o = csc_cred_info(c->w->srv, sc, certs);
		if (o)
			csc_json(c, r, EP_CSC, 200, o);
		else
			resp_error(c, EP_CSC, r->start_ns, 500, "server_error",
				   "unreadable certificate", NULL, r->h.keep_alive);
	}
	free(sc);
}

/* ---- authorize and the SAD --------------------------------------------------- */

/* The hashes of <body> (base64 SHA-256 values, 1..CSC_MULTISIGN), their
 * list's digest into <list>; IG_EPROTO with <*why>. */
static int csc_hashes(json_t *arr, uint8_t out[][32], unsigned *n, uint8_t list[32],
		      const char **why)
{
	mbedtls_md_context_t md;
	size_t i;
	json_t *v;

	*why = "hashes must be 1 to 16 base64 SHA-256 values";
	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > CSC_MULTISIGN)
		return IG_EPROTO;
	mbedtls_md_init(&md);
	mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0);
	mbedtls_md_starts(&md);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		/* Strict base64 (jose.h): one spelling per hash, so the record
		 * and the approval name the very bytes signed. */
		if (!s || b64_decode(s, json_string_length(v), out[i], 32) != 32) {
			mbedtls_md_free(&md);
			return IG_EPROTO;
		}
		mbedtls_md_update(&md, out[i], 32);
	}
	mbedtls_md_finish(&md, list);
	mbedtls_md_free(&md);
	*n = (unsigned)json_array_size(arr);
	return IG_OK;
}

static void csc_sad_mac(const struct server *srv, const uint8_t *body, uint8_t mac[32])
{
	hmac_sha256(srv->sad_key, sizeof(srv->sad_key),
		    (const struct ig_piece[]){ { body, SAD_BODY } }, 1, mac);
}

static void csc_authorize(struct conn *c, struct request *r, const struct csc_caller *who,
			  json_t *body)
{
	const char *citizen = who->citizen;
	struct worker *w = c->w;
	struct server *srv = w->srv;
	struct store_signcred *sc = malloc(sizeof(*sc));
	struct assertion a;
	struct assertion_policy pol;
	struct store_cred dev;
	uint8_t hashes[CSC_MULTISIGN][32], list[32], sad[SAD_LEN], claimed[32], tmp[32][32];
	char aud[300], sad64[SAD_LEN * 2];
	json_t *auth, *claims = NULL;
	const char *why, *jws, *cid;
	unsigned n, cn;
	int rc;

	if (!sc)
		return csc_busy(c, r->start_ns, EP_CSC_AUTHORIZE, "out of memory", r->h.keep_alive);
	if (csc_own(c, r, EP_CSC_AUTHORIZE, citizen, body, sc) < 0)
		goto out;
	if (sc->revoked) {
		csc_bad(c, r, EP_CSC_AUTHORIZE, "the credential is disabled");
		goto out;
	}
	if (csc_hashes(json_object_get(body, "hashes"), hashes, &n, list, &why) < 0) {
		csc_bad(c, r, EP_CSC_AUTHORIZE, why);
		goto out;
	}
	if (json_integer_value(json_object_get(body, "numSignatures")) != (json_int_t)n) {
		csc_bad(c, r, EP_CSC_AUTHORIZE, "numSignatures must equal the number of hashes");
		goto out;
	}
	cid = json_string_value(json_object_get(body, "hashAlgorithmOID"));
	if (cid && strcmp(cid, OID_SHA256)) {
		csc_bad(c, r, EP_CSC_AUTHORIZE, "hashAlgorithmOID must be SHA-256");
		goto out;
	}
	/* authData: [{"id": "device_assertion", "value": "<JWS>"}] */
	auth = json_array_get(json_object_get(body, "authData"), 0);
	jws = json_string_value(json_object_get(auth, "value"));
	if (!jws || strcmp(json_string_value(json_object_get(auth, "id")) ?: "",
			   "device_assertion")) {
		csc_bad(c, r, EP_CSC_AUTHORIZE,
			"authData must hold the citizen's device_assertion");
		goto out;
	}
	/* The citizen's explicit approval: a JWS of one of the citizen's own
	 * enrolled devices (RFC 7523 §3 checks), for this credential and
	 * exactly these hashes. */
	if (assertion_parse(jws, strlen(jws), &a, &why) < 0 ||
	    store_reader_get_cred(w->reader, a.kid, strlen(a.kid), &dev, &why) < 0) {
		csc_denied(c, r, EP_CSC_AUTHORIZE, why);
		goto out;
	}
	if (dev.revoked || strcmp(dev.citizen_id, citizen)) {
		csc_denied(c, r, EP_CSC_AUTHORIZE,
			   "the device assertion is not from the caller's enrolled device");
		goto out;
	}
	snprintf(aud, sizeof(aud), "%s/csc/v2/credentials/authorize", srv->cfg.issuer);
	pol = (struct assertion_policy){ .audience = aud, .now = w->now_s,
		.max_lifetime = srv->cfg.assertion_max_lifetime_s, .skew = srv->cfg.clock_skew_s };
	if (assertion_verify(&a, &dev.device_key, &pol, &why) < 0) {
		csc_denied(c, r, EP_CSC_AUTHORIZE, why);
		goto out;
	}
	if (jws_segment_json(a.parts.payload, a.parts.payload_len, &claims) != JWS_SEG_OK)
		claims = NULL; /* refused below with the reason of a mismatch */
	if (!claims || strcmp(json_string_value(json_object_get(claims, "credentialID")) ?: "",
			      sc->id) ||
	    csc_hashes(json_object_get(claims, "hashes"), tmp, &cn, claimed, &why) < 0 ||
	    cn != n || memcmp(claimed, list, 32)) {
		csc_denied(c, r, EP_CSC_AUTHORIZE,
			   "the device assertion does not approve this credential and these hashes");
		goto out;
	}
	/* The device's rate and the restart rule, as for a login (the
	 * signature is verified: nobody else spends this citizen's rate). */
	rc = single_use_gate(c, a.kid, a.iat, "approve ", r->start_ns, EP_CSC_AUTHORIZE,
			     r->h.keep_alive);
	if (rc < 0) {
		if (rc == IG_EPROTO)
			csc_denied(c, r, EP_CSC_AUTHORIZE, "device assertion issued before this "
				   "server's single-use records were lost (a machine restart): "
				   "make a new one");
		goto out;
	}
	rc = assertion_once(srv, &a, w->now_s);
	if (rc == IG_EPROTO) {
		csc_denied(c, r, EP_CSC_AUTHORIZE, "device assertion replayed: jti already used");
		goto out;
	}
	if (rc < 0) {
		csc_busy(c, r->start_ns, EP_CSC_AUTHORIZE, "replay cache full", r->h.keep_alive);
		goto out;
	}
	/* The SAD: this credential, these hashes, once, for a few minutes,
	 * for the relying service whose token asked (the citizen approved a
	 * signature for that service, not for any holder of a token of hers). */
	sad[0] = SAD_VERSION;
	memcpy(sad + 1, sc->id, STORE_CRED_ID_LEN);
	for (int i = 0; i < 8; i++)
		sad[SAD_EXP + i] =
			(uint8_t)((uint64_t)(w->now_s + srv->cfg.csc_sad_s) >> (56 - 8 * i));
	sad[SAD_COUNT] = (uint8_t)n;
	if (ig_random(sad + SAD_NONCE, 16) != IG_OK) {
		csc_busy(c, r->start_ns, EP_CSC_AUTHORIZE, "no random numbers", r->h.keep_alive);
		goto out;
	}
	memcpy(sad + SAD_LIST, list, 32);
	sha256((const uint8_t *)who->client, strlen(who->client), sad + SAD_CLIENT);
	csc_sad_mac(srv, sad, sad + SAD_BODY);
	b64url_encode(sad, sizeof(sad), sad64);
	csc_json(c, r, EP_CSC_AUTHORIZE, 200,
		 json_pack("{s:s, s:i}", "SAD", sad64, "expiresIn", (int)srv->cfg.csc_sad_s));
out:
	json_decref(claims);
	free(sc);
}

/* ---- signHash ------------------------------------------------------------------ */

static struct csc_pending *csc_pending(struct conn *c)
{
	if (!c->pend->csc)
		c->pend->csc = calloc(1, sizeof(*c->pend->csc));
	return c->pend->csc;
}

/* The audit writer made a signHash record durable, or failed to: the job
 * goes back to its worker through the completion ring, like an HSM's
 * answer (hsm_post), and conn_hsm_done resumes the request (csc_resume). */
static void csc_audit_done(void *arg, int rc, uint64_t seq)
{
	struct conn *c = arg;

	c->pend->csc->audit_seq = seq;
	c->pend->job.status = rc;
	hsm_post(c->w->srv->hsm, &c->pend->job);
}

/* Queue a record; with <durable>, csc_audit_done brings <durable>'s job
 * back once it is on disk (see csc_sign_hold). */
static int csc_audit(struct server *srv, const char *pseudonym, const char *action,
		     const char *cred, const char *result, const char *detail,
		     struct conn *durable)
{
	char actor[80];
	struct audit_event ev = {
		.actor = actor, .action = action, .key = cred, .result = result,
		.detail = detail,
	};

	snprintf(actor, sizeof(actor), "citizen:%s", pseudonym);
	if (!srv->audit)
		return IG_ECLOSED;
	return durable ? audit_append_notify(srv->audit, &ev, csc_audit_done, durable)
		       : audit_append(srv->audit, &ev);
}

static void csc_sign(struct conn *c, struct request *r, const struct csc_caller *who,
		     json_t *body)
{
	const char *citizen = who->citizen;
	struct worker *w = c->w;
	struct server *srv = w->srv;
	struct pending *p = c->pend;
	struct csc_pending *cp = csc_pending(c);
	uint8_t sad[SAD_LEN + 8], mac[32], list[32], client[32];
	char replay_id[64];
	const char *why, *sad64, *algo;
	int64_t exp = 0;
	unsigned n;
	int len, rc, dev;

	if (!cp)
		return csc_busy(c, r->start_ns, EP_CSC_SIGN, "out of memory", r->h.keep_alive);
	if (csc_own(c, r, EP_CSC_SIGN, citizen, body, &cp->sc) < 0)
		return;
	if (cp->sc.revoked)
		return csc_bad(c, r, EP_CSC_SIGN, "the credential is disabled");
	if (csc_hashes(json_object_get(body, "hashes"), cp->wx.digests, &n, list, &why) < 0)
		return csc_bad(c, r, EP_CSC_SIGN, why);
	algo = json_string_value(json_object_get(body, "signAlgo"));
	if (!algo || strcmp(algo, cp->sc.alg == HSM_ALG_RSA_2048 ? OID_RSA_SHA256
								  : OID_ECDSA_SHA256))
		return csc_bad(c, r, EP_CSC_SIGN, "signAlgo does not match the credential's key");
	why = json_string_value(json_object_get(body, "hashAlgorithmOID"));
	if (why && strcmp(why, OID_SHA256))
		return csc_bad(c, r, EP_CSC_SIGN, "hashAlgorithmOID must be SHA-256");
	sad64 = json_string_value(json_object_get(body, "SAD"));
	len = sad64 ? b64url_decode(sad64, json_string_length(json_object_get(body, "SAD")),
				    sad, sizeof(sad)) : -1;
	if (len != SAD_LEN)
		return csc_bad(c, r, EP_CSC_SIGN, "missing or malformed SAD");
	csc_sad_mac(srv, sad, mac);
	if (sad[0] != SAD_VERSION || mbedtls_ct_memcmp(mac, sad + SAD_BODY, 32))
		return csc_bad(c, r, EP_CSC_SIGN, "the SAD is not valid");
	sha256((const uint8_t *)who->client, strlen(who->client), client);
	if (memcmp(sad + SAD_CLIENT, client, 32))
		return csc_denied(c, r, EP_CSC_SIGN,
				  "the SAD was authorized for another relying service");
	for (int i = 0; i < 8; i++)
		exp = exp << 8 | sad[SAD_EXP + i];
	if (exp <= w->now_s)
		return csc_denied(c, r, EP_CSC_SIGN, "the SAD has expired");
	if (memcmp(sad + 1, cp->sc.id, STORE_CRED_ID_LEN) ||
	    sad[SAD_COUNT] != n || memcmp(sad + SAD_LIST, list, 32))
		return csc_denied(c, r, EP_CSC_SIGN,
				  "the SAD does not cover this credential and these hashes");
	dev = hsm_device_index(srv->hsm, cp->sc.hsm);
	if (dev < 0 || !hsm_device_ready(srv->hsm, (unsigned)dev))
		return csc_busy(c, r->start_ns, EP_CSC_SIGN,
				"the credential's HSM is not available", r->h.keep_alive);
	/* A SAD made before single-use records were lost (replay.h) may
	 * have been spent: its issue time is its expiry less its lifetime. */
	if (replay_lost_at(srv->replay) &&
	    exp - (int64_t)srv->cfg.csc_sad_s <= replay_lost_at(srv->replay))
		return csc_denied(c, r, EP_CSC_SIGN, "the SAD was issued before this server's "
				  "single-use records were lost (a machine restart): authorize again");
	/* Once: the SAD's nonce goes into the shared replay cache. */
	b64url_encode(sad + SAD_NONCE, 16, replay_id + 4);
	memcpy(replay_id, "sad ", 4);
	rc = replay_check_and_insert(srv->replay, replay_id, strlen(replay_id), exp, w->now_s);
	if (rc == IG_EPROTO)
		return csc_denied(c, r, EP_CSC_SIGN, "the SAD has been used");
	if (rc < 0)
		return csc_busy(c, r->start_ns, EP_CSC_SIGN, "replay cache full", r->h.keep_alive);
	pairwise_sub(srv, citizen, "\001csc", 4, cp->citizen);
	cp->at_audit = 0;
	cp->wx.alg = cp->sc.alg;
	cp->wx.n = (uint8_t)n;
	cp->wx.blob_len = cp->sc.blob_len;
	memcpy(cp->wx.blob, cp->sc.blob, cp->sc.blob_len);
	cp->wx.wrap_id_len = cp->sc.wrap_id_len;
	memcpy(cp->wx.wrap_id, cp->sc.wrap_id, cp->sc.wrap_id_len);
	/* The cache's key: the credential id's bytes. */
	memcpy(cp->wx.cred_id, cp->sc.id, HSM_CRED_ID_LEN);
	memset(&p->job, 0, sizeof(p->job));
	p->job.op = HSM_OP_SIGN_WRAPPED;
	p->job.dev = (uint8_t)dev;
	p->job.wx = &cp->wx;
	p->ep = EP_CSC_SIGN;
	p->start_ns = r->start_ns;
	p->keep_alive = (uint8_t)r->h.keep_alive;
	if (conn_hsm_submit(c, &p->job, csc_resume) != IG_OK)
		return csc_busy(c, r->start_ns, EP_CSC_SIGN, "signing queue full",
				r->h.keep_alive);
}

/*
 * The record of a signHash that reached the HSM, one per call: the
 * citizen's pseudonym, the credential, each hash as the relying service
 * sent it (base64), and <result>.
 */
static int csc_sign_audit(struct conn *c, const char *result, int durable)
{
	struct csc_pending *cp = c->pend->csc;
	char detail[CSC_MULTISIGN * 46 + 64];
	int len = snprintf(detail, sizeof(detail), "%u hash(es):", cp->wx.n);

	for (unsigned i = 0; i < cp->wx.n; i++) {
		detail[len++] = ' ';
		len += (int)b64_encode(cp->wx.digests[i], 32, detail + len);
	}
	detail[len] = '\0';
	return csc_audit(c->w->srv, cp->citizen, "csc.signHash", cp->sc.id, result, detail,
			 durable ? c : NULL);
}

/*
 * The signatures are made: hold them until their record is durable.  The
 * worker does not wait (fsync is the audit writer's): the job is held in
 * the worker's completion ring (hsm_hold) and comes back when the writer
 * is done, or at once with the error when the log refuses the record.
 * IG_EBLOCKED when the ring is full.
 */
static int csc_sign_hold(struct conn *c)
{
	struct hsm_job *job = &c->pend->job;
	struct hsm_engine *hsm = c->w->srv->hsm;
	int rc;

	if (hsm_hold(hsm, job) != IG_OK)
		return IG_EBLOCKED;
	c->pend->csc->at_audit = 1;
	conn_await(c, csc_resume);
	rc = csc_sign_audit(c, "ok", 1);
	if (rc < 0) {
		job->status = rc;
		hsm_post(hsm, job);
	}
	return IG_OK;
}

static void csc_sign_finish(struct conn *c)
{
	struct pending *p = c->pend;
	struct csc_pending *cp = p->csc;
	json_t *sigs;
	char b64[HSM_SIG_MAX * 2];
	uint8_t der[80];

	/* Durable before any signature leaves: no record, no signature (made,
	 * but never returned). */
	if (!cp->at_audit) {
		if (p->job.status != IG_OK) {
			if (csc_sign_audit(c, hsm_ckr_why("error", p->job.ckr), 0) < 0)
				log_warn("audit log: cannot record a failed signHash of %s",
					 cp->sc.id);
			return csc_busy(c, p->start_ns, EP_CSC_SIGN, "the HSM could not sign",
					p->keep_alive);
		}
		if (csc_sign_hold(c) < 0)
			return csc_busy(c, p->start_ns, EP_CSC_SIGN, "completion queue full",
					p->keep_alive);
		return;
	}
	cp->at_audit = 0;
	if (p->job.status != IG_OK) {
		M_INC(c->w->m.audit_refused);
		log_err("audit log: the record of a signHash of %s is not durable (%s): its "
			"signatures are not returned", cp->sc.id, ig_strerror(p->job.status));
		return csc_busy(c, p->start_ns, EP_CSC_SIGN,
				"the audit log could not make the record durable: no signature "
				"is returned", p->keep_alive);
	}
	sigs = json_array();
	for (unsigned i = 0; i < cp->wx.n; i++) {
		const uint8_t *s = cp->wx.sigs[i];
		size_t slen = cp->wx.sig_len[i], n;

		if (cp->wx.alg == HSM_ALG_EC_P256) { /* CSC wants DER Ecdsa-Sig-Value */
			slen = p256_sig_to_der(s, der);
			s = der;
		}
		n = b64_encode(s, slen, b64);
		json_array_append_new(sigs, json_stringn(b64, n));
	}
	{
		json_t *o = json_pack("{s:o}", "signatures", sigs);
		char *body = json_dumps(o, JSON_COMPACT);

		json_decref(o);
		if (!body)
			return resp_error(c, EP_CSC_SIGN, p->start_ns, 500, "server_error",
					  "out of memory", NULL, p->keep_alive);
		resp_send(c, EP_CSC_SIGN, p->start_ns, 200, "application/json", NULL, body,
			  strlen(body), p->keep_alive);
		free(body);
	}
}

/* ---- routes ---------------------------------------------------------------------- */

static void csc_ca_pem(struct conn *c, struct request *r)
{
	struct server *srv = c->w->srv;

	if (!srv->ca_pem)
		return resp_error(c, EP_CSC, r->start_ns, 404, "not_found", "no CA certificate",
				  NULL, r->h.keep_alive);
	resp_send(c, EP_CSC, r->start_ns, 200, "application/x-pem-file",
		  "Cache-Control: public, max-age=3600\r\n", srv->ca_pem, strlen(srv->ca_pem),
		  r->h.keep_alive);
}

/* A CSC method past info: its route's arg. */
struct csc_method {
	void (*run)(struct conn *c, struct request *r, const struct csc_caller *who,
		    json_t *body);
};
static const struct csc_method m_list = { csc_list }, m_info = { csc_credinfo },
	m_authorize = { csc_authorize }, m_sign = { csc_sign };

/* Every method past info: a citizen's token issued to a relying service
 * (csc_caller), a JSON object body, then the method. */
static void csc_method(struct conn *c, struct request *r)
{
	const struct csc_method *m = r->arg;
	struct csc_caller who;
	json_t *body;

	if (csc_caller(c, r, r->ep, &who) < 0)
		return;
	body = csc_body(c, r, r->ep);
	if (!body)
		return;
	m->run(c, r, &who, body);
	json_decref(body);
}

static const struct route csc_rows[] = {
	{ "GET", "/pki/ca.pem", EP_CSC, csc_ca_pem, NULL },
	{ "POST", "/csc/v2/info", EP_CSC, csc_info, NULL },
	{ "POST", "/csc/v2/credentials/list", EP_CSC, csc_method, &m_list },
	{ "POST", "/csc/v2/credentials/info", EP_CSC, csc_method, &m_info },
	{ "POST", "/csc/v2/credentials/authorize", EP_CSC_AUTHORIZE, csc_method, &m_authorize },
	{ "POST", "/csc/v2/signatures/signHash", EP_CSC_SIGN, csc_method, &m_sign },
};
const struct route_table csc_routes = ROUTE_TABLE(csc_rows);

/* ---- admin: creating and disabling credentials ------------------------------------ */

static void csc_create_fail(struct conn *c, int status, const char *err, const char *desc)
{
	struct pending *p = c->pend;

	resp_error(c, EP_SC_CREATE, p->start_ns, status, err, desc,
		   status == 503 ? "Retry-After: 1\r\n" : NULL, p->keep_alive);
}

/* Submit the next HSM job of a creation; hsm_submit's refusal when none could be. */
static int csc_create_submit(struct conn *c, int op, int dev, const uint8_t *digest)
{
	struct pending *p = c->pend;

	memset(&p->job, 0, sizeof(p->job));
	if (digest)
		memcpy(p->job.digest, digest, 32);
	p->job.op = (uint8_t)op;
	p->job.dev = (uint8_t)dev;
	p->job.wx = &p->csc->wx;
	return conn_hsm_submit(c, &p->job, csc_resume);
}

static void csc_admin_create(struct conn *c, struct request *r)
{
	struct http_str citizen = r->param;

	struct server *srv = c->w->srv;
	struct pending *p = c->pend;
	struct csc_pending *cp;
	char ids[1][STORE_CRED_ID_LEN + 1];
	const char *why, *algo = NULL;
	json_t *body = NULL;
	int dev, n;

	if (citizen.len == 0 || citizen.len > STORE_CITIZEN_MAX)
		return resp_error(c, EP_SC_CREATE, r->start_ns, 400, "invalid_request",
				  "bad citizen_id", NULL, r->h.keep_alive);
	if (r->body_len) {
		body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
		algo = json_string_value(json_object_get(body, "key_algo"));
		if (!json_is_object(body) || (json_object_get(body, "key_algo") && !algo) ||
		    (algo && strcmp(algo, "ec-p256") && strcmp(algo, "rsa-2048"))) {
			json_decref(body);
			return resp_error(c, EP_SC_CREATE, r->start_ns, 400, "invalid_request",
					  "the body is {\"key_algo\": \"ec-p256\" | \"rsa-2048\"}",
					  NULL, r->h.keep_alive);
		}
	}
	cp = csc_pending(c);
	if (!cp) {
		json_decref(body);
		return csc_busy(c, r->start_ns, EP_SC_CREATE, "out of memory", r->h.keep_alive);
	}
	memset(&cp->sc, 0, sizeof(cp->sc));
	memset(&cp->wx, 0, sizeof(cp->wx));
	memcpy(cp->sc.citizen_id, citizen.p, citizen.len);
	cp->sc.alg = algo && !strcmp(algo, "rsa-2048") ? HSM_ALG_RSA_2048 : HSM_ALG_EC_P256;
	json_decref(body);
	n = store_citizen_creds(srv->store, cp->sc.citizen_id, ids, 1, &why);
	if (n <= 0)
		return resp_error(c, EP_SC_CREATE, r->start_ns, n < 0 && n != IG_EPROTO ? 500 : 404,
				  "not_found", n < 0 ? why : "unknown citizen (no enrolled device)",
				  NULL, r->h.keep_alive);
	if (!srv->ca_der_len)
		return csc_busy(c, r->start_ns, EP_SC_CREATE, "no CA certificate configured",
				r->h.keep_alive);
	cp->ca_dev = hsm_choose_ca(srv->hsm, &srv->ca_key, &cp->ca_pub);
	dev = hsm_choose_wrap(srv->hsm, 0);
	p->ep = EP_SC_CREATE;
	p->start_ns = r->start_ns;
	p->keep_alive = (uint8_t)r->h.keep_alive;
	cp->step = 1;
	cp->wx.alg = cp->sc.alg;
	if (cp->ca_dev < 0 || dev < 0 ||
	    csc_create_submit(c, HSM_OP_GEN_WRAPPED, dev, NULL) < 0)
		return csc_busy(c, r->start_ns, EP_SC_CREATE,
				"no HSM with a wrapping key and the CA key is available",
				r->h.keep_alive);
	snprintf(cp->sc.hsm, sizeof(cp->sc.hsm), "%s", hsm_device_name(srv->hsm, (unsigned)dev));
}

/* Step 1 done (the key pair): build the certificate and have the CA sign
 * it.  Step 2 done: assemble, store, answer. */
static void csc_create_finish(struct conn *c)
{
	struct server *srv = c->w->srv;
	struct pending *p = c->pend;
	struct csc_pending *cp = p->csc;
	struct x509_spec spec;
	uint8_t digest[64], serial[16];
	size_t dlen, len;
	char subject[160], body[128];
	const char *why;

	if (p->job.status != IG_OK)
		return csc_create_fail(c, 503, "temporarily_unavailable",
				       hsm_ckr_why("the HSM failed", p->job.ckr));
	if (cp->step == 1) {
		/* Subject: the citizen's pseudonym for the platform. */
		pairwise_sub(srv, cp->sc.citizen_id, "\001csc", 4, cp->citizen);
		snprintf(subject, sizeof(subject), "CN=%s,O=idgate citizen,C=HK", cp->citizen);
		if (ig_random(serial, sizeof(serial)) != IG_OK)
			return csc_create_fail(c, 500, "server_error", "no random numbers");
		serial[0] &= 0x7f;
		serial[0] |= 0x01; /* positive, never zero */
		spec = (struct x509_spec){
			.subject = subject, .issuer = srv->ca_subject,
			.serial_len = sizeof(serial),
			.not_before = c->w->now_s - 60,
			.not_after = c->w->now_s + (int64_t)srv->cfg.csc_cert_days * 86400,
			.subject_key = &cp->wx.pub, .issuer_key = &cp->ca_pub, .is_ca = 0,
		};
		memcpy(spec.serial, serial, sizeof(serial));
		why = "the CA key is not EC P-256";
		if (x509_tbs(&spec, cp->tbs, sizeof(cp->tbs), &cp->tbs_len, digest, &dlen,
			     &why) < 0 || dlen != 32)
			return csc_create_fail(c, 500, "server_error", why);
		cp->sc.blob_len = cp->wx.blob_len;
		memcpy(cp->sc.blob, cp->wx.blob, cp->wx.blob_len);
		cp->sc.wrap_id_len = cp->wx.wrap_id_len;
		memcpy(cp->sc.wrap_id, cp->wx.wrap_id, cp->wx.wrap_id_len);
		cp->step = 2;
		if (csc_create_submit(c, HSM_OP_SIGN_CA, cp->ca_dev, digest) < 0)
			return csc_create_fail(c, 503, "temporarily_unavailable",
					       "the CA's HSM is not available");
		return;
	}
	if (x509_assemble(cp->tbs, cp->tbs_len, &cp->ca_pub, p->job.sig, 64, cp->sc.cert,
			  sizeof(cp->sc.cert), &len, &why) < 0)
		return csc_create_fail(c, 500, "server_error", why);
	cp->sc.cert_len = (uint16_t)len;
	if (store_signcred_put(srv->store, &cp->sc, c->w->now_s, &why) < 0)
		return csc_create_fail(c, 500, "server_error", why);
	log_info("signing credential %s made on HSM %s", cp->sc.id, cp->sc.hsm);
	if (admin_audit(srv, cp->sc.alg == HSM_ALG_RSA_2048 ? "credential.create rsa-2048"
							    : "credential.create ec-p256",
			cp->sc.citizen_id, cp->sc.id, 1) < 0)
		return csc_create_fail(c, 500, "server_error", "made, but the audit log could "
				       "not make the record durable");
	snprintf(body, sizeof(body), "{\"credential_id\":\"%s\"}", cp->sc.id);
	resp_send(c, EP_SC_CREATE, p->start_ns, 201, "application/json", NULL, body,
		  strlen(body), p->keep_alive);
}

static void csc_admin_revoke(struct conn *c, struct request *r)
{
	struct http_str id = r->param;

	struct server *srv = c->w->srv;
	const char *why = NULL;
	struct store_signcred *sc = malloc(sizeof(*sc));
	int rc = !sc ? IG_ENOMEM
		     : store_reader_get_signcred(c->w->reader, id.p, id.len, sc, &why) < 0
		     ? IG_EPROTO : store_signcred_revoke(srv->store, id.p, id.len, c->w->now_s, &why);

	if (rc == IG_OK && admin_audit(srv, "credential.disable", sc->citizen_id, sc->id, 1) < 0) {
		why = "disabled, but the audit log could not make the record durable";
		rc = IG_EINTERNAL;
	}
	free(sc);
	if (rc == IG_EPROTO)
		return resp_error(c, EP_SC_REVOKE, r->start_ns, 404, "not_found",
				  "unknown signing credential", NULL, r->h.keep_alive);
	if (rc < 0)
		return resp_error(c, EP_SC_REVOKE, r->start_ns, 500, "server_error",
				  why ?: "out of memory", NULL, r->h.keep_alive);
	resp_send(c, EP_SC_REVOKE, r->start_ns, 200, "application/json", NULL,
		  "{\"status\":\"disabled\"}", 21, r->h.keep_alive);
}

static void csc_abandoned(struct conn *c)
{
	struct pending *p = c->pend;
	struct csc_pending *cp = p->csc;

	if (!cp || (p->ep != EP_CSC_SIGN && p->ep != EP_SC_CREATE))
		return;
	if (p->ep == EP_SC_CREATE) {
		/* Nothing was stored: no credential exists. */
		log_info("signing credential creation for a citizen abandoned by the admin "
			 "client at step %u", cp->step);
		return;
	}
	if (cp->at_audit) {
		/* The "ok" record is durable (or failed): say that its
		 * signatures never left after all. */
		char detail[64];

		cp->at_audit = 0;
		if (p->job.status != IG_OK) {
			log_err("audit log: the record of an abandoned signHash of %s is not "
				"durable", cp->sc.id);
			return;
		}
		snprintf(detail, sizeof(detail), "the signatures of seq %llu",
			 (unsigned long long)cp->audit_seq);
		if (csc_audit(c->w->srv, cp->citizen, "csc.signHash", cp->sc.id,
			      "not delivered: the client left", detail, NULL) < 0)
			log_err("audit log: cannot record that the signatures of seq %llu were "
				"not delivered", (unsigned long long)cp->audit_seq);
		return;
	}
	/* The SAD is spent and the HSM has signed (or failed): recorded all
	 * the same, saying the signatures never left. */
	if (csc_sign_audit(c, p->job.status == IG_OK
				      ? "signed, not delivered: the client left"
				      : hsm_ckr_why("error", p->job.ckr), 0) < 0) {
		M_INC(c->w->m.audit_refused);
		log_err("audit log: cannot record an abandoned signHash of %s", cp->sc.id);
	}
}

static void csc_finish(struct conn *c)
{
	if (c->pend->ep == EP_SC_CREATE)
		csc_create_finish(c);
	else
		csc_sign_finish(c);
}

static const struct route csc_admin_rows[] = {
	{ "POST", "/v1/admin/citizens/*/signing-credential", EP_SC_CREATE, csc_admin_create, NULL },
	{ "DELETE", "/v1/admin/signing-credentials/*", EP_SC_REVOKE, csc_admin_revoke, NULL },
};
const struct route_table csc_admin_routes = ROUTE_TABLE(csc_admin_rows);

/* A CSC request's or a credential creation's HSM job, or its audit
 * record, came back: go on with it; for a client that left, a signHash
 * that reached the HSM is audited all the same (not delivered). */
static void csc_resume(struct conn *c, int alive)
{
	if (!alive)
		return csc_abandoned(c);
	csc_finish(c);
	conn_answered(c);
}
