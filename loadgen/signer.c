/*
 * signer.c - derived device keys, the population file and the assertion
 * pool (see signer.h).
 *
 * OpenSSL 3 marks the EC_KEY API deprecated in favour of EVP_PKEY, but the
 * EVP path allocates a context per signature and costs about a third of
 * the rate; a load generator wants the raw ECDSA_do_sign, so the
 * deprecation attributes are switched off for this file only.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "signer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>

#include "../common/jose.h"
#include "../common/rand.h"
#include "../common/result.h"

/* ---- keys ------------------------------------------------------------ */

int lg_key_derive(const char *seed, uint64_t index, uint8_t d[32],
		  uint8_t x[32], uint8_t y[32])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *bd = BN_new(), *n1 = BN_new(), *bx = BN_new(), *by = BN_new();
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	BN_CTX *bctx = BN_CTX_new();
	unsigned char mac[32], msg[64];
	unsigned int maclen = 0;
	int len, rc = IG_EINTERNAL;

	len = snprintf((char *)msg, sizeof(msg), "idgate-load device %" PRIu64,
		       index);
	if (!g || !bd || !n1 || !bx || !by || !pt || !bctx ||
	    !HMAC(EVP_sha256(), seed, (int)strlen(seed), msg, (size_t)len, mac,
		  &maclen))
		goto out;
	/* d = (mac mod (n - 1)) + 1 lies in [1, n-1]: a valid scalar. */
	if (!BN_bin2bn(mac, 32, bd) || !BN_copy(n1, EC_GROUP_get0_order(g)) ||
	    !BN_sub_word(n1, 1) || !BN_nnmod(bd, bd, n1, bctx) ||
	    !BN_add_word(bd, 1) || BN_bn2binpad(bd, d, 32) != 32)
		goto out;
	if (x && y &&
	    (!EC_POINT_mul(g, pt, bd, NULL, NULL, bctx) ||
	     !EC_POINT_get_affine_coordinates(g, pt, bx, by, bctx) ||
	     BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32))
		goto out;
	rc = IG_OK;
out:
	BN_clear_free(bd);
	BN_free(n1);
	BN_free(bx);
	BN_free(by);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	BN_CTX_free(bctx);
	return rc;
}

/* ---- population file ---------------------------------------------------
 * Text, so an operator can read it:
 *   idgate-load-population 2
 *   seed <seed>
 *   count <n>
 *   <index> <credential_id> [<signing credential_id>]   (n lines, in order)
 * Version 1 files (no signing credentials) are read too.
 */

int lg_population_write(const char *path, const struct lg_population *p)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return IG_EUSAGE;
	fprintf(f, "idgate-load-population 2\nseed %s\ncount %zu\n", p->seed,
		p->n);
	for (size_t i = 0; i < p->n; i++)
		fprintf(f, "%zu %s%s%s\n", i, p->cred[i],
			p->scred && p->scred[i][0] ? " " : "",
			p->scred ? p->scred[i] : "");
	return fclose(f) ? IG_EINTERNAL : IG_OK;
}

int lg_population_read(const char *path, struct lg_population *p,
		       const char **why)
{
	FILE *f = fopen(path, "r");
	int rc = IG_EUSAGE, ver = 0;
	char line[256];
	size_t i;

	memset(p, 0, sizeof(*p));
	IG_ENSURE(f, IG_EUSAGE, why, "cannot open the population file");
	if (fscanf(f, "idgate-load-population %d seed %127s count %zu ", &ver,
		   p->seed, &p->n) != 3 || (ver != 1 && ver != 2) || !p->n ||
	    p->n > 100000000) {
		*why = "not an idgate-load population file";
		goto out;
	}
	p->cred = calloc(p->n, sizeof(*p->cred));
	if (!p->cred) {
		rc = IG_ENOMEM;
		goto out;
	}
	for (i = 0; i < p->n && fgets(line, sizeof(line), f); i++) {
		char sc[64];
		size_t idx;
		int k = sscanf(line, "%zu %63s %63s", &idx, p->cred[i], sc);

		if (k < 2 || idx != i)
			break;
		if (k == 3) {
			if (!p->scred && !(p->scred = calloc(p->n, sizeof(*p->scred)))) {
				rc = IG_ENOMEM;
				goto out;
			}
			strcpy(p->scred[i], sc);
			p->nsigning++;
		}
	}
	if (i != p->n) {
		*why = "population file truncated or out of order";
		goto out;
	}
	rc = IG_OK;
out:
	fclose(f);
	if (rc < 0)
		lg_population_free(p);
	return rc;
}

void lg_population_free(struct lg_population *p)
{
	free(p->cred);
	free(p->scred);
	p->cred = NULL;
	p->scred = NULL;
	p->n = p->nsigning = 0;
}

/* ---- signing ------------------------------------------------------------ */

/* A compact JWS (ES256) of <claims> with header kid <kid>, signed by
 * citizen <i>'s derived key through <key> (a P-256 EC_KEY reused across
 * calls: only its private scalar changes).  Its length or IG_E*. */
static int lg_jws(EC_KEY *key, BIGNUM *bd, const struct lg_population *pop,
		  size_t i, const char *claims, char *out, size_t cap)
{
	char hdr[160];
	uint8_t d[32], hash[32], sig[64];
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	size_t len;
	int ok;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
		 pop->cred[i]);
	if (b64url_enc_len(strlen(hdr)) + b64url_enc_len(strlen(claims)) +
	    b64url_enc_len(64) + 3 > cap)
		return IG_ENOMEM;
	len = b64url_encode((const uint8_t *)hdr, strlen(hdr), out);
	out[len++] = '.';
	len += b64url_encode((const uint8_t *)claims, strlen(claims), out + len);
	sha256((const uint8_t *)out, len, hash);
	if (lg_key_derive(pop->seed, i, d, NULL, NULL) < 0 ||
	    !BN_bin2bn(d, 32, bd) || !EC_KEY_set_private_key(key, bd))
		return IG_EINTERNAL;
	es = ECDSA_do_sign(hash, 32, key);
	if (!es)
		return IG_EINTERNAL;
	ECDSA_SIG_get0(es, &r, &s);
	/* RFC 7518 §3.4: R || S, 32 bytes each, not DER. */
	ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	if (!ok)
		return IG_EINTERNAL;
	out[len++] = '.';
	len += b64url_encode(sig, 64, out + len);
	return (int)len;
}

static int lg_sign_with(EC_KEY *key, BIGNUM *bd,
			const struct lg_population *pop, const char *aud,
			size_t i, const char *jti, char *out, size_t cap)
{
	char claims[1024];
	time_t now = time(NULL);

	/* RFC 7523 §3: iss and sub are the client (here the credential),
	 * aud the token endpoint, exp bounds the assertion's life. */
	snprintf(claims, sizeof(claims),
		 "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,"
		 "\"exp\":%lld,\"jti\":\"%s\"}",
		 pop->cred[i], pop->cred[i], aud, (long long)now,
		 (long long)now + 120, jti);
	return lg_jws(key, bd, pop, i, claims, out, cap);
}

/* The citizen's approval of <nhash> fresh random hashes for its signing
 * credential: what its phone signs for credentials/authorize. */
static int lg_approve_with(EC_KEY *key, BIGNUM *bd,
			   const struct lg_population *pop, const char *aud,
			   size_t i, unsigned nhash, const char *jti,
			   struct lg_approval *a)
{
	char claims[LG_HASHES_JSON_MAX + 1024];
	unsigned char h[32];
	time_t now = time(NULL);
	size_t len = 0;
	int n;

	if (!pop->scred || !pop->scred[i][0] || !nhash ||
	    nhash > LG_APPROVAL_HASHES)
		return IG_EUSAGE;
	a->hashes[len++] = '[';
	for (unsigned k = 0; k < nhash; k++) {
		/* Any 32 bytes stand for a document's SHA-256. */
		if (ig_random(h, sizeof(h)) != IG_OK)
			return IG_EINTERNAL;
		a->hashes[len++] = k ? ',' : '"';
		if (k)
			a->hashes[len++] = '"';
		len += (size_t)EVP_EncodeBlock((unsigned char *)a->hashes + len, h, 32);
		a->hashes[len++] = '"';
	}
	a->hashes[len++] = ']';
	a->hashes[len] = 0;
	a->nhash = nhash;
	snprintf(a->cred, sizeof(a->cred), "%s", pop->scred[i]);
	snprintf(claims, sizeof(claims),
		 "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,"
		 "\"exp\":%lld,\"jti\":\"%s\",\"credentialID\":\"%s\","
		 "\"hashes\":%s}", pop->cred[i], pop->cred[i], aud,
		 (long long)now, (long long)now + 120, jti, a->cred, a->hashes);
	n = lg_jws(key, bd, pop, i, claims, a->jws, sizeof(a->jws));
	return n < 0 ? n : IG_OK;
}

int lg_sign_assertion(const struct lg_population *pop, const char *aud,
		      size_t i, const char *jti, char *out, size_t cap)
{
	EC_KEY *key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *bd = BN_new();
	int rc = key && bd ? lg_sign_with(key, bd, pop, aud, i, jti, out, cap)
			   : IG_ENOMEM;

	BN_clear_free(bd);
	EC_KEY_free(key);
	return rc;
}

int lg_sign_approval(const struct lg_population *pop, const char *aud,
		     size_t i, unsigned nhash, const char *jti,
		     struct lg_approval *out)
{
	EC_KEY *key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *bd = BN_new();
	int rc = key && bd ? lg_approve_with(key, bd, pop, aud, i, nhash, jti, out)
			   : IG_ENOMEM;

	BN_clear_free(bd);
	EC_KEY_free(key);
	return rc;
}

/* ---- the pools ------------------------------------------------------------ */

struct lg_pool {
	size_t cap, head, count;        /* ring of cap entries of esz bytes */
	size_t esz;
	unsigned char *ring;
};

struct lg_signer {
	struct lg_signer_params p;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t room;            /* signalled when an entry is taken */
	struct lg_pool pool[LG_POOL_COUNT];
	int stop, failed;
	uint64_t run_id, serial, rng;
	EC_KEY *key;
	BIGNUM *bd;
};

static uint64_t lg_xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The emptiest pool that is not full (by share of its size), or -1. */
static int lg_pool_pick(const struct lg_signer *s)
{
	int best = -1;

	for (int k = 0; k < LG_POOL_COUNT; k++) {
		const struct lg_pool *q = &s->pool[k];

		if (q->count < q->cap &&
		    (best < 0 || q->count * s->pool[best].cap <
				 s->pool[best].count * q->cap))
			best = k;
	}
	return best;
}

/* Sign one entry of pool <k> into a local buffer, then publish it under
 * the lock. */
static int lg_signer_fill_one(struct lg_signer *s, int k)
{
	union {
		char assertion[LG_ASSERTION_MAX];
		struct lg_approval a;
	} e;
	struct lg_pool *q = &s->pool[k];
	char jti[40];
	int rc;

	/* jti: unique per run (random run id) and per entry (serial). */
	snprintf(jti, sizeof(jti), "%016" PRIx64 "%08" PRIx64, s->run_id,
		 s->serial++);
	if (k == LG_POOL_LOGIN) {
		size_t i = lg_xorshift(&s->rng) % s->p.pop->n;

		rc = lg_sign_with(s->key, s->bd, s->p.pop, s->p.aud, i, jti,
				  e.assertion, sizeof(e.assertion));
	} else {
		size_t slot = lg_xorshift(&s->rng) % s->p.nsigners;

		rc = lg_approve_with(s->key, s->bd, s->p.pop, s->p.sign_aud,
				     s->p.signers[slot], s->p.nhash, jti, &e.a);
		e.a.slot = (uint32_t)slot;
	}
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	memcpy(q->ring + ((q->head + q->count) % q->cap) * q->esz, &e, q->esz);
	q->count++;
	pthread_mutex_unlock(&s->lock);
	return IG_OK;
}

static void *lg_signer_main(void *arg)
{
	struct lg_signer *s = arg;
	int k = -1;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->stop && (k = lg_pool_pick(s)) < 0)
			pthread_cond_wait(&s->room, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (s->stop)
			return NULL;
		if (lg_signer_fill_one(s, k) < 0) {
			s->failed = 1;
			return NULL;
		}
	}
}

int lg_signer_start(struct lg_signer **out, const struct lg_signer_params *p)
{
	struct lg_signer *s = calloc(1, sizeof(*s));
	int k;

	*out = NULL;
	if (!s)
		return IG_ENOMEM;
	s->p = *p;
	s->pool[LG_POOL_LOGIN].esz = LG_ASSERTION_MAX;
	s->pool[LG_POOL_SIGN].esz = sizeof(struct lg_approval);
	s->key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	s->bd = BN_new();
	if (ig_random(&s->run_id, sizeof(s->run_id)) != IG_OK)
		s->run_id = (uint64_t)time(NULL);
	s->rng = s->run_id | 1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->room, NULL);
	for (k = 0; k < LG_POOL_COUNT; k++) {
		s->pool[k].cap = p->cap[k];
		if (p->cap[k] &&
		    !(s->pool[k].ring = calloc(p->cap[k], s->pool[k].esz)))
			break;
	}
	if (k < LG_POOL_COUNT || !s->key || !s->bd ||
	    (p->cap[LG_POOL_SIGN] && !p->nsigners)) {
		lg_signer_stop(s);
		return IG_ENOMEM;
	}
	/* Fill before the run starts: the first second must not wait. */
	while ((k = lg_pool_pick(s)) >= 0)
		if (lg_signer_fill_one(s, k) < 0) {
			lg_signer_stop(s);
			return IG_EINTERNAL;
		}
	if (pthread_create(&s->thread, NULL, lg_signer_main, s)) {
		lg_signer_stop(s);
		return IG_EINTERNAL;
	}
	*out = s;
	return IG_OK;
}

int lg_signer_take(struct lg_signer *s, int kind, void *out)
{
	struct lg_pool *q = &s->pool[kind];
	int rc = IG_EBLOCKED;

	pthread_mutex_lock(&s->lock);
	if (q->count) {
		memcpy(out, q->ring + q->head * q->esz, q->esz);
		q->head = (q->head + 1) % q->cap;
		q->count--;
		pthread_cond_signal(&s->room);
		rc = IG_OK;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void lg_signer_stop(struct lg_signer *s)
{
	if (!s)
		return;
	if (s->thread) {
		pthread_mutex_lock(&s->lock);
		s->stop = 1;
		pthread_cond_signal(&s->room);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->room);
	BN_clear_free(s->bd);
	EC_KEY_free(s->key);
	for (int k = 0; k < LG_POOL_COUNT; k++)
		free(s->pool[k].ring);
	free(s);
}
