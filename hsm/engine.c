/*
 * engine.c - the HSM engine: job queue, HSM threads, completions.
 *
 * Data flow (see hsm.h for the contract):
 *
 *   worker --hsm_submit--> device job ring --sem--> HSM thread (C_Sign)
 *   worker <--hsm_reap-- worker's completion ring <--+ eventfd write
 *
 * Workers never lock and never block: hsm_submit is a few atomic operations,
 * a CAS on the job ring and a sem_post (a futex wake only when an HSM thread
 * sleeps).  HSM threads may block (in the module, on the semaphore, on the
 * session lock); they are not on any event loop.
 *
 * A "device" is one PKCS#11 module + token + sessions + threads + job ring.
 * The engine owns a pool of them.  The caller picks one with hsm_choose
 * (the ready device with the fewest operations outstanding) because each
 * HSM holds its own issuer key and the token names it (kid) before it is
 * signed.  Failover: a device-level error or a missed deadline completes
 * the job with IG_EBLOCKED and takes the device out of rotation; the caller
 * retries on another device; a probe brings the device back.
 *
 * Deadlines: a PKCS#11 call cannot be cancelled.  Each HSM thread publishes
 * the job it runs in <current>; whoever clears <current> first (the thread
 * when the call returns, or the watchdog when the deadline passes) owns the
 * job's completion, so a job is completed exactly once and a late result
 * is dropped.  The watchdog also hands back the queued jobs of a device
 * that is out of rotation, so nothing waits on a dead HSM.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/jose.h"
#include "../common/log.h"
#include "../common/p256.h"
#include "hsm.h"
#include "mpmc.h"
#include "p11.h"

#define HSM_MAX_THREADS 256
#define HSM_MAX_DEPTH (1u << 24)
#define HSM_NBUCKETS 16
#define HSM_WATCHDOG_NS 5000000ull /* deadline checks every 5 ms */

/* What the start-up self-test and the readiness probe sign. */
static const uint8_t hsm_probe_digest[32] = "idgate hsm self-test and probe";

const char *const hsm_result_names[HSM_R_COUNT] = {
	"ok", "device_error", "device_removed", "session_lost", "deadline_missed",
	"other",
};

const uint32_t HSM_LATENCY_BOUNDS_US[HSM_NBUCKETS] = {
	100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200,
	102400, 204800, 409600, 819200, 1638400, 3276800,
};

/* One per HSM thread. */
struct hsm_thread {
	/* Written by this thread (and by hsm_close's drain once the threads
	 * are gone), read by hsm_get_stats: relaxed atomics, own line. */
	_Alignas(HSM_CACHELINE) atomic_uint_least64_t ok, err, lat_sum_us;
	atomic_uint_least64_t lat[HSM_NBUCKETS + 1]; /* per bucket, +Inf last */
	struct hsm_device *dev;
	/* The job being signed, and since when: see the top of this file. */
	_Alignas(HSM_CACHELINE) _Atomic(struct hsm_job *) current;
	atomic_uint_least64_t started_ns;
	/* A probe in progress, and since when (0: none): the watchdog
	 * gives up a probe past the deadline like a job. */
	atomic_uint_least64_t probe_ns;
	CK_SESSION_HANDLE session; /* under dev->sessions */
	struct hsm_keycache cache; /* unwrapped citizens' keys, this session */
	struct hsm_wrapped scratch; /* a job's wx while it runs */
	atomic_int state;          /* HSM_T_FREE or HSM_T_RUN: see the slots */
	atomic_int stuck;          /* the watchdog gave up its call */
};

enum { HSM_T_FREE, HSM_T_RUN };

/*
 * The issuer keys a device has loaded, immutable once published in
 * <keys>: a reload or a recovery builds a new set and swaps the pointer;
 * the old sets stay on <older> until hsm_stop, so nobody ever reads freed
 * memory (reloads are rare: a key ceremony, a recovery).
 */
struct hsm_keyset {
	uint64_t version;        /* of the keyring it came from; 0: none */
	unsigned n;
	struct hsm_issuer k[HSM_MAX_KEYS];
	/* Citizens' keys: the wrapping keys (the newest active one wraps new
	 * keys, every one loaded unwraps what it wrapped) and the CA key. */
	struct hsm_wrap_key {
		uint8_t id[32];
		size_t id_len;
		CK_OBJECT_HANDLE h;
		int64_t activate;
	} wrap[4];
	unsigned nwrap;
	CK_OBJECT_HANDLE ca;
	struct pubkey ca_pub;
	/* The TLS server key (handshake signatures), if the HSM holds one. */
	CK_OBJECT_HANDLE tls;
	struct pubkey tls_pub;
	struct hsm_keyset *older;
};

/* One per dataplane worker. */
struct hsm_worker {
	/* Written by whoever submits for this owner (normally the worker). */
	_Alignas(HSM_CACHELINE) atomic_uint submitting; /* see hsm_close */
	atomic_uint inflight; /* submitted, not yet reaped: <= depth */
	atomic_uint_least64_t submitted, rejected_full;
	/* Set by HSM threads when they wrote the eventfd, cleared by reap. */
	_Alignas(HSM_CACHELINE) atomic_uint signal_pending;
	struct hsm_mpmc done; /* finished jobs: HSM threads -> this worker */
	int efd;
	unsigned depth;
};

struct hsm_device {
	struct hsm_mpmc jobs;
	sem_t wake; /* a hint: a job was pushed (threads pop before waiting) */
	atomic_int ready;
	atomic_int closing;
	atomic_int probing;   /* one probe at a time */
	atomic_uint outstanding; /* submitted here, not completed */
	atomic_uint_least64_t last_probe_ns;
	atomic_uint_least64_t reopens, probes, transitions, replaced, reinits;
	/*
	 * Thread slots: <nthreads> threads work; a thread stuck in a call the
	 * watchdog gave up on is replaced from the <nslots> - <nthreads> spare
	 * slots, and when the call returns, the thread that finds more than
	 * <nthreads> working leaves.  <live>: threads that exist (working or
	 * stuck); <working>: those not stuck.
	 */
	atomic_uint live, working;
	unsigned nslots;
	/* A device-level failure or repeated missed deadlines: the next
	 * probe re-initializes (module, slot, sessions) first, no more often
	 * than the engine's reinit interval. */
	atomic_int needs_reinit;
	atomic_uint misses;          /* deadlines missed in a row */
	atomic_uint_least64_t last_reinit_ns;
	bool abandoned;              /* threads stuck at shutdown: leak it */
	char *token_label;
	atomic_uint_least64_t results[HSM_R_COUNT];
	unsigned idx;
	char *name;
	struct hsm_engine *eng;
	struct hsm_p11_module *mod;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	char *pin_file;
	char *key_label[HSM_KEY_COUNT];
	/*
	 * Sessions, key handles and <epoch> change only under the write lock;
	 * an operation holds the read lock.  Writer-preferring, so a recovery
	 * is not starved by a steady stream of jobs.
	 */
	pthread_rwlock_t sessions;
	uint64_t epoch;    /* bumped by each recovery */
	CK_RV recover_rv;  /* the result of the last recovery */
	/* Swapped under the sessions lock (write, or read by the key
	 * reloader, the only other writer); read lock-free. */
	_Atomic(struct hsm_keyset *) keys;
	struct hsm_keyset *old_keys; /* superseded sets, freed by hsm_stop */
	/* The key reloader's own session (control thread only). */
	CK_SESSION_HANDLE ctl_session;
	uint64_t ctl_epoch;
	uint64_t failed_version;     /* keyring version whose reload failed */
	pthread_mutex_t key_error_lock;
	char key_error[200];
	unsigned nthreads;
	struct hsm_thread *threads;
	bool have_sem, have_lock, have_sessions;
};

struct hsm_engine {
	struct hsm_device *devs;
	unsigned ndev;
	uint64_t deadline_ns;
	uint64_t probe_ns;
	uint64_t reinit_ns;
	unsigned spare_threads;
	pthread_t watchdog, ctl;
	bool have_watchdog, have_ctl;
	sem_t ctl_wake;
	bool have_ctl_sem;
	atomic_int ctl_force;
	uint64_t key_check_ns;
	atomic_uint_least64_t keys_gen;
	atomic_int closing;
	bool closed;
	unsigned nworkers;
	struct hsm_worker *workers;
};

static uint64_t hsm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* ---- completions ------------------------------------------------------ */

static void hsm_account(struct hsm_thread *t, const struct hsm_job *job)
{
	uint64_t us = (job->done_ns - job->submit_ns) / 1000;
	unsigned b = 0;

	while (b < HSM_NBUCKETS && us > HSM_LATENCY_BOUNDS_US[b])
		b++;
	atomic_fetch_add_explicit(job->status == IG_OK ? &t->ok : &t->err, 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&t->lat_sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->lat[b], 1, memory_order_relaxed);
}

/* Hand <job> back to its owner: push it, then wake the owner if no wake-up
 * is pending since its last hsm_reap. */
static void hsm_complete(struct hsm_engine *e, struct hsm_thread *t,
			 struct hsm_job *job)
{
	job->done_ns = hsm_now_ns();
	hsm_account(t, job);
	atomic_fetch_sub_explicit(&e->devs[job->dev].outstanding, 1,
				  memory_order_relaxed);
	hsm_post(e, job);
}

void hsm_post(struct hsm_engine *e, struct hsm_job *job)
{
	struct hsm_worker *w = &e->workers[job->owner];

	/*
	 * Cannot fail: hsm_submit and hsm_hold admit at most <depth> jobs per
	 * owner that are not yet reaped, and the ring has <depth> cells.  Yield rather
	 * than drop the job if that reasoning is ever broken.
	 */
	while (!hsm_mpmc_push(&w->done, job))
		sched_yield();
	/* Pairs with the fence in hsm_reap: either the worker's pop sees our
	 * job or our exchange sees its clearing of signal_pending. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_exchange(&w->signal_pending, 1)) {
		uint64_t one = 1;
		ssize_t n IG_UNUSED;

		/* Non-blocking; it can only fail if the counter would
		 * overflow, and then the worker is already woken. */
		n = write(w->efd, &one, sizeof(one));
	}
}

/* ---- device: sessions --------------------------------------------------- */

static int64_t hsm_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

/* The key a job that names none signs with: the newest active one, else
 * (with <fallback>, for probes) the first loaded. */
static const struct hsm_issuer *hsm_keyset_active(const struct hsm_keyset *ks,
						  int64_t now, bool fallback)
{
	const struct hsm_issuer *best = NULL;

	for (unsigned i = 0; ks && i < ks->n; i++) {
		const struct hsm_issuer *k = &ks->k[i];

		if (keyring_state(&k->ent, now) == KR_ACTIVE &&
		    (!best || k->ent.activate > best->ent.activate))
			best = k;
	}
	if (!best && fallback && ks && ks->n)
		best = &ks->k[0];
	return best;
}

static const struct hsm_issuer *hsm_keyset_find(const struct hsm_keyset *ks,
						const struct keyring_entry *ent)
{
	for (unsigned i = 0; ks && i < ks->n; i++)
		if (ks->k[i].ent.id_len == ent->id_len &&
		    !memcmp(ks->k[i].ent.id, ent->id, ent->id_len))
			return &ks->k[i];
	return NULL;
}

/* Find the pair <k->ent> names by CKA_ID; read the public half. */
static int hsm_issuer_load(struct hsm_device *d, CK_SESSION_HANDLE s,
			   struct hsm_issuer *k, const char **why)
{
	CK_OBJECT_HANDLE pub;
	struct p256_pub p;
	int n;

	n = hsm_p11_find_by_id(d->f, s, CKO_PRIVATE_KEY, k->ent.id,
			       k->ent.id_len, &k->priv, why);
	IG_GUARD(n);
	IG_ENSURE(n == 1, IG_EUSAGE, why, n ?
		  "the keyring names a CKA_ID that two private keys share" :
		  "the keyring names a key whose private key is not on the token");
	n = hsm_p11_find_by_id(d->f, s, CKO_PUBLIC_KEY, k->ent.id,
			       k->ent.id_len, &pub, why);
	IG_GUARD(n);
	IG_ENSURE(n == 1, IG_EUSAGE, why, n ?
		  "the keyring names a CKA_ID that two public keys share" :
		  "the keyring names a key whose public key is not on the token");
	IG_GUARD(hsm_p11_read_p256_public(d->f, s, pub, k->x, k->y, why));
	memcpy(p.x, k->x, 32);
	memcpy(p.y, k->y, 32);
	jwk_thumbprint_p256(&p, k->kid);
	return IG_OK;
}

/* A token without a keyring (provisioned before it had one, or by hand):
 * the one pair labelled issuer_key_label, active since ever. */
static int hsm_issuer_load_label(struct hsm_device *d, CK_SESSION_HANDLE s,
				 struct hsm_issuer *k, const char **why)
{
	const char *label = d->key_label[HSM_KEY_ISSUER];
	CK_OBJECT_HANDLE pub;
	struct p256_pub p;
	size_t len;
	int n;

	n = hsm_p11_find_object(d->f, s, CKO_PRIVATE_KEY, label, &k->priv, why);
	IG_GUARD(n);
	IG_ENSURE(n > 0, IG_EUSAGE, why,
		  "no private key with that key label on the token");
	IG_ENSURE(n == 1, IG_EUSAGE, why,
		  "more than one private key has that key label");
	n = hsm_p11_find_object(d->f, s, CKO_PUBLIC_KEY, label, &pub, why);
	IG_GUARD(n);
	IG_ENSURE(n > 0, IG_EUSAGE, why,
		  "no public key with that key label on the token");
	IG_ENSURE(n == 1, IG_EUSAGE, why,
		  "more than one public key has that key label");
	IG_GUARD(hsm_p11_read_p256_public(d->f, s, pub, k->x, k->y, why));
	if (hsm_p11_get_bytes(d->f, s, k->priv, CKA_ID, k->ent.id,
			      sizeof(k->ent.id), &len) < 0 || len == 0) {
		len = strlen(label) < sizeof(k->ent.id) ? strlen(label)
							: sizeof(k->ent.id);
		memcpy(k->ent.id, label, len);
	}
	k->ent.id_len = len;
	snprintf(k->ent.label, sizeof(k->ent.label), "%s", label);
	k->ent.purpose = KR_TOKEN_ISSUER;
	strcpy(k->ent.alg, "EC P-256");
	k->ent.publish = k->ent.activate = 1;
	memcpy(p.x, k->x, 32);
	memcpy(p.y, k->y, 32);
	jwk_thumbprint_p256(&p, k->kid);
	return IG_OK;
}

/* Enter the secret key <h> in <ks>'s wrapping keys (if room, once). */
static void hsm_keyset_add_wrap(struct hsm_device *d, CK_SESSION_HANDLE s,
				struct hsm_keyset *ks, CK_OBJECT_HANDLE h,
				int64_t activate)
{
	struct hsm_wrap_key *w = &ks->wrap[ks->nwrap];

	if (ks->nwrap == IG_ARRAY_LEN(ks->wrap) ||
	    hsm_p11_get_bytes(d->f, s, h, CKA_ID, w->id, sizeof(w->id), &w->id_len) ||
	    !w->id_len)
		return;
	for (unsigned i = 0; i < ks->nwrap; i++)
		if (ks->wrap[i].id_len == w->id_len && !memcmp(ks->wrap[i].id, w->id, w->id_len))
			return;
	w->h = h;
	w->activate = activate;
	ks->nwrap++;
}

/*
 * The wrapping and CA keys, when the token holds them (all optional): the
 * keyring's wrap keys that are active or retiring (a retiring one still
 * unwraps what it wrapped), its active ca key; the keys labelled
 * "idgate-wrap" and "idgate-ca" (made at first start) unless the keyring
 * says otherwise.
 */
/*
 * The EC P-256 private key of <purpose>: the first one active in the
 * keyring <kr>, else the pair labelled <label>; its public key into <pub>.
 * CK_INVALID_HANDLE when there is none (or it is not P-256: only such keys
 * sign here).
 */
static CK_OBJECT_HANDLE hsm_keyset_ec_key(struct hsm_device *d, CK_SESSION_HANDLE s,
					  const struct keyring *kr, int purpose,
					  const char *label, struct pubkey *pub)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, ph = CK_INVALID_HANDLE;
	int64_t now = hsm_wall_s();
	uint8_t a[64], b[160];
	size_t alen, blen;
	const char *why;

	for (unsigned i = 0; kr && i < kr->n && h == CK_INVALID_HANDLE; i++) {
		const struct keyring_entry *e = &kr->e[i];

		if (e->purpose == purpose && keyring_state(e, now) == KR_ACTIVE &&
		    (hsm_p11_find_by_id(d->f, s, CKO_PRIVATE_KEY, e->id, e->id_len,
					&h, &why) != 1 ||
		     hsm_p11_find_by_id(d->f, s, CKO_PUBLIC_KEY, e->id, e->id_len,
					&ph, &why) != 1))
			h = CK_INVALID_HANDLE;
	}
	if (h == CK_INVALID_HANDLE &&
	    (hsm_p11_find_object(d->f, s, CKO_PRIVATE_KEY, label, &h, &why) != 1 ||
	     hsm_p11_find_object(d->f, s, CKO_PUBLIC_KEY, label, &ph, &why) != 1))
		return CK_INVALID_HANDLE;
	if (hsm_p11_get_bytes(d->f, s, ph, CKA_EC_PARAMS, a, sizeof(a), &alen) ||
	    hsm_p11_get_bytes(d->f, s, ph, CKA_EC_POINT, b, sizeof(b), &blen) ||
	    pubkey_from_ec(pub, a, alen, b, blen, &why) || pub->kind != PUBKEY_EC_P256)
		return CK_INVALID_HANDLE;
	return h;
}

/* The keys beside the issuer's: wrapping keys, the CA key, the TLS key. */
static void hsm_keyset_other_keys(struct hsm_device *d, CK_SESSION_HANDLE s,
				  struct hsm_keyset *ks, const struct keyring *kr)
{
	CK_OBJECT_HANDLE h;
	int64_t now = hsm_wall_s();
	const char *why;

	for (unsigned i = 0; kr && i < kr->n; i++) {
		const struct keyring_entry *e = &kr->e[i];
		enum keyring_state st = keyring_state(e, now);

		if (e->purpose == KR_WRAP && (st == KR_ACTIVE || st == KR_RETIRING) &&
		    hsm_p11_find_by_id(d->f, s, CKO_SECRET_KEY, e->id, e->id_len,
				       &h, &why) == 1)
			hsm_keyset_add_wrap(d, s, ks, h, st == KR_ACTIVE ? e->activate : -1);
	}
	if (hsm_p11_find_object(d->f, s, CKO_SECRET_KEY, "idgate-wrap", &h, &why) == 1)
		hsm_keyset_add_wrap(d, s, ks, h, 0);
	ks->ca = hsm_keyset_ec_key(d, s, kr, KR_CA, "idgate-ca", &ks->ca_pub);
	ks->tls = hsm_keyset_ec_key(d, s, kr, KR_TLS, "idgate-tls", &ks->tls_pub);
}

/* The newest active wrapping key (wraps new keys), or NULL. */
static const struct hsm_wrap_key *hsm_keyset_wrapper(const struct hsm_keyset *ks)
{
	const struct hsm_wrap_key *best = NULL;

	for (unsigned i = 0; ks && i < ks->nwrap; i++)
		if (ks->wrap[i].activate >= 0 &&
		    (!best || ks->wrap[i].activate > best->activate))
			best = &ks->wrap[i];
	return best;
}

/* The wrapping key whose CKA_ID is <id>, or NULL. */
static const struct hsm_wrap_key *hsm_keyset_unwrapper(const struct hsm_keyset *ks,
						       const uint8_t *id, size_t len)
{
	for (unsigned i = 0; ks && i < ks->nwrap; i++)
		if (ks->wrap[i].id_len == len && !memcmp(ks->wrap[i].id, id, len))
			return &ks->wrap[i];
	return NULL;
}

/*
 * Build device <d>'s key set through session <s>: the keyring's EC P-256
 * token-issuer keys that are published, or will be, and not yet retired
 * (retired keys neither sign nor appear in JWKS); without a keyring, the
 * labelled pair.  *out gets a new set (the caller publishes or frees it).
 */
static int hsm_keyset_load(struct hsm_device *d, CK_SESSION_HANDLE s,
			   struct hsm_keyset **out, CK_RV *rv, const char **why)
{
	struct keyring *kr = malloc(sizeof(*kr));
	struct hsm_keyset *ks = hsm_zalloc(sizeof(*ks));
	int64_t now = hsm_wall_s();
	int rc, found;

	*out = NULL;
	*rv = CKR_OK;
	if (!kr || !ks) {
		free(kr);
		free(ks);
		*why = "out of memory";
		return IG_ENOMEM;
	}
	rc = found = keyring_read(d->f, s, kr, rv, why);
	if (found == 0) {
		rc = hsm_issuer_load_label(d, s, &ks->k[0], why);
		ks->n = rc == IG_OK;
	}
	for (unsigned i = 0; found > 0 && i < kr->n; i++) {
		const struct keyring_entry *ent = &kr->e[i];

		rc = IG_OK;
		if (ent->purpose != KR_TOKEN_ISSUER ||
		    strcmp(ent->alg, "EC P-256") || !ent->publish ||
		    (ent->unpublish && now >= ent->unpublish))
			continue;
		if (ks->n == HSM_MAX_KEYS) {
			*why = "more than 8 token-issuer keys are published or "
			       "scheduled on the token";
			rc = IG_EUSAGE;
			break;
		}
		ks->k[ks->n].ent = *ent;
		rc = hsm_issuer_load(d, s, &ks->k[ks->n], why);
		if (rc < 0)
			break;
		ks->n++;
	}
	if (found > 0)
		ks->version = kr->version;
	if (rc >= 0)
		hsm_keyset_other_keys(d, s, ks, found > 0 ? kr : NULL);
	free(kr);
	if (rc < 0) {
		free(ks);
		if (*rv == CKR_OK)
			*rv = CKR_KEY_HANDLE_INVALID; /* what a job learns */
		return rc;
	}
	*out = ks;
	return IG_OK;
}

/* Replace the published key set; caller holds the sessions lock (write,
 * or read as the one key reloader). */
static void hsm_keyset_publish(struct hsm_device *d, struct hsm_keyset *ks)
{
	struct hsm_keyset *old = atomic_exchange(&d->keys, ks);

	if (old) {
		old->older = d->old_keys;
		d->old_keys = old;
	}
	atomic_fetch_add(&d->eng->keys_gen, 1);
}

/* C_SignInit + C_Sign (§5.11) of a P-256 digest into r||s. */
static CK_RV hsm_sign_raw(struct hsm_device *d, CK_SESSION_HANDLE s,
			  CK_OBJECT_HANDLE key, const uint8_t digest[32],
			  uint8_t out[64]);

/* Sign the probe digest with every key of <ks> not in <known> and check
 * it against the public key we publish: catches a public object that
 * belongs to another key. */
static int hsm_keyset_selftest(struct hsm_device *d, CK_SESSION_HANDLE s,
			       const struct hsm_keyset *ks,
			       const struct hsm_keyset *known, const char **why)
{
	uint8_t sig[64];
	CK_RV rv;

	for (unsigned i = 0; i < ks->n; i++) {
		const struct hsm_issuer *k = &ks->k[i];

		if (hsm_keyset_find(known, &k->ent))
			continue;
		rv = hsm_sign_raw(d, s, k->priv, hsm_probe_digest, sig);
		if (rv != CKR_OK) {
			*why = hsm_p11_why("self-test C_Sign", rv);
			return IG_EINTERNAL;
		}
		IG_ENSURE(p256_verify(k->x, k->y, hsm_probe_digest, sig) == 0,
			  IG_EUSAGE, why,
			  "self-test: the private key's signature does not "
			  "verify with the public key of the same id");
	}
	return IG_OK;
}

/*
 * Give every thread a new session and log in.  PKCS#11 v2.40 §5.6: all
 * sessions of an application share its login state, so one C_Login serves
 * them all; C_CloseAllSessions first ends every session we may still hold
 * a handle to.  That matters: nothing in PKCS#11 stops a module from
 * giving a new session the number of a closed one (SoftHSM 2.6 counts up,
 * other modules need not), so a thread's stale handle could otherwise name
 * a session just opened for another thread, and two threads would share it.
 * Object handles are only promised while a session lasts, so the keys are
 * looked up again, and a key we already had must still be the same key.
 * Caller holds the write lock (or no thread runs yet).
 */
static int hsm_device_open_sessions(struct hsm_device *d, bool first,
				    CK_RV *rv, const char **why)
{
	struct hsm_keyset *ks, *cur = atomic_load(&d->keys);
	int rc = IG_OK;

	CK_SESSION_HANDLE login = CK_INVALID_HANDLE;

	d->f->C_CloseAllSessions(d->slot);
	for (unsigned i = 0; i < d->nslots; i++)
		d->threads[i].session = CK_INVALID_HANDLE;
	d->ctl_session = CK_INVALID_HANDLE;
	d->have_sessions = true;
	for (unsigned i = 0; i < d->nslots; i++) {
		if (atomic_load(&d->threads[i].state) != HSM_T_RUN)
			continue;
		*rv = d->f->C_OpenSession(d->slot, CKF_SERIAL_SESSION, NULL,
					  NULL, &d->threads[i].session);
		if (*rv != CKR_OK) {
			d->threads[i].session = CK_INVALID_HANDLE;
			*why = hsm_p11_why("C_OpenSession", *rv);
			rc = IG_EINTERNAL;
			goto fail;
		}
		if (login == CK_INVALID_HANDLE)
			login = d->threads[i].session;
	}
	rc = hsm_p11_login(d->f, login, CKU_USER, d->pin_file, rv, why);
	if (rc < 0)
		goto fail;
	rc = hsm_keyset_load(d, login, &ks, rv, why);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; !first && i < ks->n; i++) {
		const struct hsm_issuer *was = hsm_keyset_find(cur, &ks->k[i].ent);

		if (was && (memcmp(was->x, ks->k[i].x, 32) ||
			    memcmp(was->y, ks->k[i].y, 32))) {
			free(ks);
			*why = "a key changed on the token while the engine ran";
			*rv = CKR_KEY_CHANGED;
			rc = IG_EINTERNAL;
			goto fail;
		}
	}
	if (!first) {
		rc = hsm_keyset_selftest(d, login, ks, cur, why);
		if (rc < 0) {
			free(ks);
			*rv = CKR_KEY_CHANGED;
			goto fail;
		}
	}
	hsm_keyset_publish(d, ks);
	*rv = CKR_OK;
	return IG_OK;
fail:
	d->f->C_CloseAllSessions(d->slot);
	for (unsigned i = 0; i < d->nslots; i++)
		d->threads[i].session = CK_INVALID_HANDLE;
	return rc;
}

/*
 * The sessions write lock, but never longer than the deadline: a thread
 * stuck in a hung call holds the read lock, and whoever waits here must
 * not hang with it (the device stays out of rotation; a later probe
 * tries again).
 */
static bool hsm_device_lock_write(struct hsm_device *d)
{
	uint64_t until = hsm_now_ns() + d->eng->deadline_ns;
	struct timespec ts = {
		.tv_sec = (time_t)(until / 1000000000u),
		.tv_nsec = (long)(until % 1000000000u),
	};

	return pthread_rwlock_clockwrlock(&d->sessions, CLOCK_MONOTONIC, &ts) == 0;
}

/*
 * Re-initialize a device after a device-level failure: the module (see
 * hsm_p11_module_reinit), the token's slot (a token put back may sit in
 * another slot), every session and the login, the keys.
 */
static CK_RV hsm_device_reinit(struct hsm_device *d)
{
	const char *why;
	CK_SLOT_ID slot;
	CK_RV rv;
	int n;

	if (!hsm_device_lock_write(d))
		return CKR_FUNCTION_FAILED;
	atomic_fetch_add_explicit(&d->reinits, 1, memory_order_relaxed);
	d->f->C_CloseAllSessions(d->slot);
	rv = hsm_p11_module_reinit(d->mod);
	if (rv == CKR_OK) {
		n = hsm_p11_find_token(d->f, d->token_label, &slot, &why);
		if (n == 1)
			d->slot = slot;
		else
			rv = n < 0 ? CKR_GENERAL_ERROR : CKR_TOKEN_NOT_PRESENT;
	}
	if (rv == CKR_OK)
		hsm_device_open_sessions(d, false, &rv, &why);
	d->recover_rv = rv;
	d->epoch++;
	pthread_rwlock_unlock(&d->sessions);
	log_info("hsm %s: re-initialized: %s", d->name,
		 rv == CKR_OK ? "CKR_OK" : hsm_p11_why("failed", rv));
	return rv;
}

/*
 * A thread saw its session lost while the device was at <epoch>: reopen all
 * sessions unless another thread already did since.  Returns that
 * recovery's result.
 */
static CK_RV hsm_device_recover(struct hsm_device *d, uint64_t epoch)
{
	const char *why;
	CK_RV rv;

	if (!hsm_device_lock_write(d))
		return CKR_FUNCTION_FAILED;
	if (d->epoch == epoch) {
		hsm_device_open_sessions(d, false, &d->recover_rv, &why);
		d->epoch++;
		atomic_fetch_add_explicit(&d->reopens, 1,
					  memory_order_relaxed);
	}
	rv = d->recover_rv;
	pthread_rwlock_unlock(&d->sessions);
	return rv;
}

/* ---- device: signing --------------------------------------------------- */

/*
 * Current Mechanisms v2.40 §2.3.1: an ECDSA signature is r||s, both of the
 * same length, at most nLen (32) octets each, big-endian; a module may drop
 * leading zero octets common to both.  Left-pad each half to 32.
 */
static int hsm_sig_to_rs(const uint8_t *sig, CK_ULONG len, uint8_t out[64])
{
	size_t half = len / 2;

	if (len == 0 || len % 2 || half > 32)
		return -1;
	memset(out, 0, 64);
	memcpy(out + 32 - half, sig, half);
	memcpy(out + 64 - half, sig + half, half);
	return 0;
}

static CK_RV hsm_sign_raw(struct hsm_device *d, CK_SESSION_HANDLE s,
			  CK_OBJECT_HANDLE key, const uint8_t digest[32],
			  uint8_t out[64])
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	/* Room for any curve's r||s: C_Sign with a buffer too small leaves
	 * the operation active (§5.2), which would wedge the session. */
	CK_BYTE sig[2 * 66];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	if (s == CK_INVALID_HANDLE)
		return CKR_SESSION_HANDLE_INVALID; /* a recovery failed */
	rv = d->f->C_SignInit(s, &mech, key);
	if (rv != CKR_OK)
		return rv;
	rv = d->f->C_Sign(s, (CK_BYTE_PTR)digest, 32, sig, &len);
	if (rv != CKR_OK)
		return rv;
	/* Not P-256's r||s: the module is misbehaving. */
	return hsm_sig_to_rs(sig, len, out) == 0 ? CKR_OK : CKR_DEVICE_ERROR;
}

/*
 * Sign <job> on this thread's session; read lock held.  The job's key is
 * looked up in the device's current key set (handles change with each
 * recovery); a key that is no longer loaded answers CKR_KEY_CHANGED: the
 * caller builds the token again with a current key.
 */
static CK_RV hsm_sign_once(struct hsm_thread *t, struct hsm_job *job)
{
	struct hsm_device *d = t->dev;
	const struct hsm_keyset *ks = atomic_load_explicit(&d->keys,
							   memory_order_acquire);
	const struct hsm_issuer *k = job->ik;
	const struct hsm_wrap_key *w;
	CK_RV rv;

	switch (job->op) {
	case HSM_OP_SIGN_CA:
		if (!ks || ks->ca == CK_INVALID_HANDLE)
			return CKR_KEY_NEEDED;
		return hsm_sign_raw(d, t->session, ks->ca, job->digest, job->sig);
	case HSM_OP_SIGN_TLS:
		if (!ks || ks->tls == CK_INVALID_HANDLE)
			return CKR_KEY_NEEDED;
		return hsm_sign_raw(d, t->session, ks->tls, job->digest, job->sig);
	case HSM_OP_GEN_WRAPPED:
		w = hsm_keyset_wrapper(ks);
		if (!w)
			return CKR_KEY_NEEDED;
		if (t->session == CK_INVALID_HANDLE)
			return CKR_SESSION_HANDLE_INVALID;
		memcpy(job->wx->wrap_id, w->id, w->id_len);
		job->wx->wrap_id_len = (uint8_t)w->id_len;
		return hsm_wrapped_generate(d->f, t->session, w->h, job->wx);
	case HSM_OP_SIGN_WRAPPED:
		w = hsm_keyset_unwrapper(ks, job->wx->wrap_id, job->wx->wrap_id_len);
		if (!w)
			return CKR_KEY_NEEDED;
		if (t->session == CK_INVALID_HANDLE)
			return CKR_SESSION_HANDLE_INVALID;
		rv = hsm_wrapped_sign(d->f, t->session, w->h, &t->cache,
				      d->epoch, job->wx);
		for (unsigned i = 0; rv == CKR_OK && job->wx->alg == HSM_ALG_EC_P256 &&
				     i < job->wx->n; i++) {
			uint8_t rs[64];

			if (hsm_sig_to_rs(job->wx->sigs[i], job->wx->sig_len[i], rs))
				return CKR_DEVICE_ERROR;
			memcpy(job->wx->sigs[i], rs, 64);
			job->wx->sig_len[i] = 64;
		}
		return rv;
	}
	if (!k)
		k = hsm_keyset_active(ks, hsm_wall_s(), true);
	else if (!ks || k < ks->k || k >= ks->k + ks->n)
		k = hsm_keyset_find(ks, &k->ent);
	if (!k)
		return ks && ks->n ? CKR_KEY_CHANGED : CKR_KEY_NEEDED;
	return hsm_sign_raw(d, t->session, k->priv, job->digest, job->sig);
}

/* Sign; when the session is gone or logged out, recover and retry once. */
static CK_RV hsm_thread_sign(struct hsm_thread *t, struct hsm_job *job)
{
	struct hsm_device *d = t->dev;
	uint64_t epoch;
	CK_RV rv;

	pthread_rwlock_rdlock(&d->sessions);
	epoch = d->epoch;
	rv = hsm_sign_once(t, job);
	pthread_rwlock_unlock(&d->sessions);
	if (!hsm_p11_session_lost(rv))
		return rv;
	rv = hsm_device_recover(d, epoch);
	if (rv != CKR_OK)
		return rv;
	pthread_rwlock_rdlock(&d->sessions);
	rv = hsm_sign_once(t, job);
	pthread_rwlock_unlock(&d->sessions);
	return rv;
}

static enum hsm_result_kind hsm_result_kind(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return HSM_R_OK;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
	case CKR_CRYPTOKI_NOT_INITIALIZED: return HSM_R_DEVICE;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT: return HSM_R_REMOVED;
	}
	return hsm_p11_session_lost(rv) ? HSM_R_SESSION : HSM_R_OTHER;
}

/* Loads first so the steady state does not write the shared line. */
static void hsm_device_set_ready(struct hsm_device *d, int want)
{
	if (atomic_load_explicit(&d->ready, memory_order_relaxed) != want &&
	    atomic_exchange(&d->ready, want) != want)
		atomic_fetch_add_explicit(&d->transitions, 1, memory_order_relaxed);
}

/*
 * A device-level failure takes the device out of rotation; only a probe's
 * success brings it back (a job that was already running when the device
 * failed may still succeed: that says nothing about the device now).
 */
static void hsm_device_note(struct hsm_device *d, CK_RV rv, bool probe)
{
	enum hsm_result_kind kind = hsm_result_kind(rv);

	atomic_fetch_add_explicit(&d->results[kind], 1, memory_order_relaxed);
	if (rv == CKR_OK) {
		atomic_store_explicit(&d->misses, 0, memory_order_relaxed);
		if (probe)
			hsm_device_set_ready(d, 1);
	} else if (!hsm_p11_job_error(rv)) {
		hsm_device_set_ready(d, 0);
		if (kind == HSM_R_DEVICE || kind == HSM_R_REMOVED)
			atomic_store(&d->needs_reinit, 1);
	}
}

/* The watchdog gave up a call of <t> (a job or a probe): count the miss
 * (three in a row ask for a re-initialization). */
static void hsm_device_missed(struct hsm_device *d, struct hsm_thread *t)
{
	atomic_fetch_add_explicit(&d->results[HSM_R_TIMEOUT], 1,
				  memory_order_relaxed);
	hsm_device_set_ready(d, 0);
	if (atomic_fetch_add(&d->misses, 1) + 1 >= 3)
		atomic_store(&d->needs_reinit, 1);
	atomic_store(&t->stuck, 1);
	atomic_fetch_sub(&d->working, 1);
}

/*
 * A stuck thread's call came back: it works again, unless that makes more
 * than <nthreads> working (a replacement took its place): then it leaves.
 * Each leaver is paid for by its own increment, so two returning at once
 * never leave fewer than <nthreads>.
 */
static bool hsm_thread_unstick(struct hsm_thread *t)
{
	struct hsm_device *d = t->dev;

	atomic_store(&t->stuck, 0);
	if (atomic_fetch_add(&d->working, 1) + 1 > d->nthreads) {
		atomic_fetch_sub(&d->working, 1);
		return true;
	}
	return false;
}

/*
 * Wait for a job.  The ring is the truth and <wake> only a hint (the
 * watchdog may take jobs a post stood for): pop first, sleep on the
 * semaphore when the ring is empty, pop again.  NULL when the device
 * closes, or with <*probe> set when the device is out of rotation and no
 * probe has run for the probe interval: nobody sends work to a server whose
 * /readyz fails, so readiness cannot wait for the next job.  Any idle
 * thread may probe (one at a time), so a thread stuck in a hung call does
 * not keep its device out for ever.
 */
static struct hsm_job *hsm_device_take(struct hsm_thread *t, bool *probe)
{
	struct hsm_device *d = t->dev;

	*probe = false;
	for (;;) {
		struct hsm_job *job;
		struct timespec ts;
		uint64_t now;

		if (atomic_load_explicit(&d->closing, memory_order_acquire))
			return NULL;
		job = hsm_mpmc_pop(&d->jobs);
		if (job)
			return job;
		now = hsm_now_ns();
		if (!atomic_load_explicit(&d->ready, memory_order_relaxed) &&
		    now - atomic_load_explicit(&d->last_probe_ns, memory_order_relaxed) >=
			    d->eng->probe_ns &&
		    !atomic_exchange(&d->probing, 1)) {
			atomic_store_explicit(&d->last_probe_ns, now, memory_order_relaxed);
			*probe = true;
			return NULL;
		}
		/* Wake at least every probe interval to see whether to probe. */
		now += d->eng->probe_ns;
		ts.tv_sec = (time_t)(now / 1000000000u);
		ts.tv_nsec = (long)(now % 1000000000u);
		(void)sem_clockwait(&d->wake, CLOCK_MONOTONIC, &ts);
	}
}

/*
 * Sign the probe digest the way a job would be signed (recovering lost
 * sessions on the way); the result sets or clears readiness.  After a
 * device-level failure the device is re-initialized first, no more often
 * than the reinit interval; between two, probes only sign.  Returns true
 * when the watchdog gave the probe up (see hsm_thread_unstick).
 */
static bool hsm_thread_probe(struct hsm_thread *t)
{
	struct hsm_device *d = t->dev;
	struct hsm_job job = { .op = HSM_OP_SIGN_ES256, .key = HSM_KEY_ISSUER };
	uint64_t now = hsm_now_ns(), started = now | 1;
	CK_RV rv = CKR_OK;

	memcpy(job.digest, hsm_probe_digest, sizeof(job.digest));
	atomic_store(&t->probe_ns, started);
	if (atomic_load(&d->needs_reinit) &&
	    now - atomic_load(&d->last_reinit_ns) >= d->eng->reinit_ns) {
		atomic_store(&d->last_reinit_ns, now);
		rv = hsm_device_reinit(d);
		if (rv == CKR_OK)
			atomic_store(&d->needs_reinit, 0);
	}
	if (rv == CKR_OK)
		rv = hsm_thread_sign(t, &job);
	if (!atomic_compare_exchange_strong(&t->probe_ns, &started, 0))
		return true; /* given up: the result says nothing now */
	hsm_device_note(d, rv, true);
	atomic_fetch_add_explicit(&d->probes, 1, memory_order_relaxed);
	atomic_store(&d->probing, 0);
	return false;
}

/* A replacement thread opens its own session (the others keep theirs). */
static CK_RV hsm_thread_open(struct hsm_thread *t)
{
	struct hsm_device *d = t->dev;
	CK_RV rv = CKR_OK;

	pthread_rwlock_rdlock(&d->sessions);
	if (t->session == CK_INVALID_HANDLE)
		rv = d->f->C_OpenSession(d->slot, CKF_SERIAL_SESSION, NULL, NULL,
					 &t->session);
	if (rv != CKR_OK)
		t->session = CK_INVALID_HANDLE;
	pthread_rwlock_unlock(&d->sessions);
	return rv;
}

/* Free the slot.  <live> is the last thing touched: hsm_device_close
 * waits for it to reach 0 before anything is freed. */
static void hsm_thread_leave(struct hsm_thread *t)
{
	struct hsm_device *d = t->dev;

	if (!atomic_load(&d->closing)) {
		pthread_rwlock_rdlock(&d->sessions);
		if (t->session != CK_INVALID_HANDLE)
			d->f->C_CloseSession(t->session);
		t->session = CK_INVALID_HANDLE;
		pthread_rwlock_unlock(&d->sessions);
	}
	/* Its unwrapped keys died with its session: a thread that takes the
	 * slot later must not find their handles. */
	memset(&t->cache, 0, sizeof(t->cache));
	atomic_store(&t->state, HSM_T_FREE);
	atomic_fetch_sub(&d->live, 1);
}

static void *hsm_thread_main(void *arg)
{
	struct hsm_thread *t = arg;
	char name[16];

	/* Named so top, perf and the logs tell HSM threads apart. */
	snprintf(name, sizeof(name), "idgate-hsm%u", (unsigned)(t - t->dev->threads));
	pthread_setname_np(pthread_self(), name);
	if (hsm_thread_open(t) != CKR_OK) {
		/* The watchdog tries again at the next stuck call. */
		atomic_fetch_sub(&t->dev->working, 1);
		hsm_thread_leave(t);
		return NULL;
	}
	for (;;) {
		struct hsm_job *job, *expect, work;
		bool probe;
		CK_RV rv;

		job = hsm_device_take(t, &probe);
		if (probe) {
			if (hsm_thread_probe(t) && hsm_thread_unstick(t))
				break;
			continue;
		}
		if (!job)
			break;
		/* Inputs are copied before the job is published: once the
		 * watchdog may take it, only the owner of <current> reads it. */
		work = *job;
		if (job->wx) { /* the caller's memory: see hsm_wrapped */
			memcpy(&t->scratch, job->wx, sizeof(t->scratch));
			work.wx = &t->scratch;
		}
		atomic_store_explicit(&t->started_ns, hsm_now_ns(), memory_order_relaxed);
		atomic_store_explicit(&t->current, job, memory_order_release);
		rv = hsm_thread_sign(t, &work);
		/* A key the job named is gone (a reload, a missing wrapping or
		 * CA key): the job's trouble, not the HSM's. */
		if (rv != CKR_KEY_CHANGED &&
		    !(rv == CKR_KEY_NEEDED && work.op != HSM_OP_SIGN_ES256))
			hsm_device_note(t->dev, rv, false);
		expect = job;
		if (!atomic_compare_exchange_strong(&t->current, &expect, NULL)) {
			/* The watchdog gave it up: drop the late result. */
			if (hsm_thread_unstick(t))
				break;
			continue;
		}
		memcpy(job->sig, work.sig, sizeof(job->sig));
		if (job->wx && rv == CKR_OK)
			memcpy(job->wx, &t->scratch, sizeof(t->scratch));
		job->ckr = rv;
		job->status = rv == CKR_OK ? IG_OK :
			      hsm_p11_job_error(rv) && rv != CKR_KEY_CHANGED
			      ? IG_EINTERNAL : IG_EBLOCKED;
		hsm_complete(t->dev->eng, t, job);
	}
	hsm_thread_leave(t);
	return NULL;
}

static int hsm_thread_spawn(struct hsm_thread *t)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, hsm_thread_main, t);
	pthread_attr_destroy(&attr);
	return rc;
}

/* Give the device back <nthreads> working threads from its free slots
 * (the watchdog, after it gave up a call). */
static void hsm_device_refill(struct hsm_device *d)
{
	for (unsigned i = 0; i < d->nslots; i++) {
		struct hsm_thread *t = &d->threads[i];
		int expect = HSM_T_FREE;

		if (atomic_load(&d->working) >= d->nthreads ||
		    atomic_load(&d->closing))
			return;
		if (!atomic_compare_exchange_strong(&t->state, &expect, HSM_T_RUN))
			continue;
		atomic_fetch_add(&d->working, 1);
		atomic_fetch_add(&d->live, 1);
		if (hsm_thread_spawn(t) != 0) {
			atomic_fetch_sub(&d->working, 1);
			atomic_store(&t->state, HSM_T_FREE);
			atomic_fetch_sub(&d->live, 1);
			return;
		}
		atomic_fetch_add_explicit(&d->replaced, 1, memory_order_relaxed);
	}
}

/* ---- device: start and stop --------------------------------------------- */

static int hsm_device_init(struct hsm_device *d, struct hsm_engine *e,
			   const struct hsm_device_config *cfg, const char **why)
{
	pthread_rwlockattr_t attr;

	d->eng = e;
	d->name = strdup(cfg->name);
	IG_ENSURE(d->name, IG_ENOMEM, why, "out of memory");
	d->nthreads = cfg->threads;
	d->nslots = cfg->threads + e->spare_threads;
	d->threads = hsm_zalloc(d->nslots * sizeof(*d->threads));
	d->token_label = strdup(cfg->token_label);
	d->pin_file = strdup(cfg->pin_file);
	d->key_label[HSM_KEY_ISSUER] = strdup(cfg->issuer_key_label);
	d->ctl_session = CK_INVALID_HANDLE;
	pthread_mutex_init(&d->key_error_lock, NULL);
	IG_ENSURE(d->threads && d->pin_file && d->key_label[HSM_KEY_ISSUER] &&
		  d->token_label, IG_ENOMEM, why, "out of memory");
	for (unsigned i = 0; i < d->nslots; i++) {
		d->threads[i].dev = d;
		d->threads[i].session = CK_INVALID_HANDLE;
	}
	IG_ENSURE(hsm_mpmc_init(&d->jobs, cfg->queue_depth) == 0, IG_ENOMEM,
		  why, "out of memory");
	IG_ENSURE(sem_init(&d->wake, 0, 0) == 0, IG_EINTERNAL, why,
		  "sem_init failed");
	d->have_sem = true;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&d->sessions, &attr) != 0) {
		pthread_rwlockattr_destroy(&attr);
		*why = "pthread_rwlock_init failed";
		return IG_EINTERNAL;
	}
	pthread_rwlockattr_destroy(&attr);
	d->have_lock = true;
	return IG_OK;
}

/* Load the module, find the token, log in, find the keys, self-test, and
 * start the threads. */
static int hsm_device_open(struct hsm_device *d, struct hsm_engine *e,
			   const struct hsm_device_config *cfg, const char **why)
{
	CK_RV rv;
	int n;

	IG_GUARD(hsm_device_init(d, e, cfg, why));
	IG_GUARD(hsm_p11_module_get(cfg->module, &d->mod, why));
	d->f = d->mod->f;
	n = hsm_p11_find_token(d->f, cfg->token_label, &d->slot, why);
	IG_GUARD(n);
	IG_ENSURE(n > 0, IG_EUSAGE, why,
		  "no initialized token with that token_label");
	IG_ENSURE(n == 1, IG_EUSAGE, why,
		  "more than one token has that token_label");
	for (unsigned i = 0; i < d->nthreads; i++)
		atomic_store(&d->threads[i].state, HSM_T_RUN);
	IG_GUARD(hsm_device_open_sessions(d, true, &rv, why));
	IG_GUARD(hsm_keyset_selftest(d, d->threads[0].session,
				     atomic_load(&d->keys), NULL, why));
	for (unsigned i = 0; i < d->nthreads; i++) {
		atomic_fetch_add(&d->working, 1);
		atomic_fetch_add(&d->live, 1);
		if (hsm_thread_spawn(&d->threads[i]) != 0) {
			atomic_fetch_sub(&d->working, 1);
			atomic_store(&d->threads[i].state, HSM_T_FREE);
			atomic_fetch_sub(&d->live, 1);
			*why = "cannot start an HSM thread";
			return IG_EINTERNAL;
		}
	}
	atomic_store(&d->ready, 1);
	return IG_OK;
}

/* Stop the threads, complete what is still queued with IG_ECLOSED, log out
 * and release the module.  No submitter is active (hsm_close saw to it). */
static void hsm_device_close(struct hsm_device *d)
{
	struct hsm_job *job;

	uint64_t until = hsm_now_ns() + d->eng->deadline_ns + 5000000000ull;

	atomic_store(&d->closing, 1);
	atomic_store(&d->ready, 0);
	for (unsigned i = 0; i < atomic_load(&d->live); i++)
		sem_post(&d->wake);
	/* Threads are detached: wait for the last to leave.  One stuck in
	 * a call that never returns is given up on, and the device with it
	 * (freeing what it may still touch would be worse than a leak at
	 * exit). */
	while (atomic_load(&d->live) && hsm_now_ns() < until) {
		struct timespec ms = { 0, 1000000 };

		if (d->have_sem)
			sem_post(&d->wake);
		nanosleep(&ms, NULL);
	}
	if (atomic_load(&d->live)) {
		d->abandoned = true;
		log_warn("hsm %s: %u thread(s) still inside the module at shutdown: "
			 "leaving it loaded", d->name, atomic_load(&d->live));
	}
	while (d->jobs.cells && d->threads && (job = hsm_mpmc_pop(&d->jobs))) {
		job->status = IG_ECLOSED;
		job->ckr = CKR_OK;
		hsm_complete(d->eng, &d->threads[0], job);
	}
	if (d->abandoned)
		return;
	if (d->have_sessions) {
		/* §5.6: C_Logout on one session logs the application out of
		 * the token; then end every session we opened. */
		for (unsigned i = 0; i < d->nslots; i++) {
			if (d->threads[i].session != CK_INVALID_HANDLE) {
				d->f->C_Logout(d->threads[i].session);
				break;
			}
		}
		d->f->C_CloseAllSessions(d->slot);
		d->have_sessions = false;
	}
	hsm_p11_module_put(d->mod);
	d->mod = NULL;
	d->f = NULL;
}

static void hsm_device_free(struct hsm_device *d)
{
	if (d->have_sem)
		sem_destroy(&d->wake);
	if (d->have_lock)
		pthread_rwlock_destroy(&d->sessions);
	hsm_mpmc_free(&d->jobs);
	free(d->threads);
	free(d->token_label);
	free(d->name);
	free(atomic_load(&d->keys));
	while (d->old_keys) {
		struct hsm_keyset *ks = d->old_keys;

		d->old_keys = ks->older;
		free(ks);
	}
	pthread_mutex_destroy(&d->key_error_lock);
	free(d->pin_file);
	for (unsigned k = 0; k < HSM_KEY_COUNT; k++)
		free(d->key_label[k]);
}

/* ---- engine ------------------------------------------------------------- */

static int hsm_pow2(unsigned n)
{
	return n >= 2 && n <= HSM_MAX_DEPTH && (n & (n - 1)) == 0;
}

static int hsm_device_config_check(const struct hsm_device_config *c,
				   const char **why)
{
	IG_ENSURE(c->module && *c->module, IG_EUSAGE, why,
		  "no PKCS#11 module path configured");
	IG_ENSURE(c->token_label && *c->token_label, IG_EUSAGE, why,
		  "no token_label configured");
	IG_ENSURE(c->pin_file && *c->pin_file, IG_EUSAGE, why,
		  "no pin_file configured");
	IG_ENSURE(c->issuer_key_label && *c->issuer_key_label, IG_EUSAGE, why,
		  "no issuer_key_label configured");
	IG_ENSURE(c->threads >= 1 && c->threads <= HSM_MAX_THREADS, IG_EUSAGE,
		  why, "HSM threads must be 1 to 256");
	IG_ENSURE(hsm_pow2(c->queue_depth), IG_EUSAGE, why,
		  "HSM queue_depth must be a power of two >= 2");
	return IG_OK;
}

static int hsm_config_check(const struct hsm_config *c, const char **why)
{
	IG_ENSURE(c, IG_EUSAGE, why, "no HSM configuration");
	IG_ENSURE(c->ndevices <= HSM_MAX_DEVICES, IG_EUSAGE, why,
		  "at most 32 HSMs in the pool");
	IG_ENSURE(c->ndevices == 0 || c->devices, IG_EUSAGE, why,
		  "no HSM device configuration");
	IG_ENSURE(hsm_pow2(c->completion_depth), IG_EUSAGE, why,
		  "HSM completion_depth must be a power of two >= 2");
	IG_ENSURE(c->nworkers >= 1 && c->nworkers <= UINT16_MAX + 1u,
		  IG_EUSAGE, why, "HSM nworkers must be 1 to 65536");
	return IG_OK;
}

static int hsm_workers_init(struct hsm_engine *e, const struct hsm_config *c,
			    const char **why)
{
	e->workers = hsm_zalloc(c->nworkers * sizeof(*e->workers));
	IG_ENSURE(e->workers, IG_ENOMEM, why, "out of memory");
	e->nworkers = c->nworkers;
	for (unsigned i = 0; i < e->nworkers; i++)
		e->workers[i].efd = -1;
	for (unsigned i = 0; i < e->nworkers; i++) {
		struct hsm_worker *w = &e->workers[i];

		w->depth = c->completion_depth;
		IG_ENSURE(hsm_mpmc_init(&w->done, c->completion_depth) == 0,
			  IG_ENOMEM, why, "out of memory");
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		IG_ENSURE(w->efd >= 0, IG_EINTERNAL, why, "eventfd failed");
	}
	return IG_OK;
}

/*
 * The watchdog: every HSM_WATCHDOG_NS, give up operations past the
 * deadline (their jobs go back IG_EBLOCKED, their device out of rotation)
 * and hand back the queued jobs of devices out of rotation.
 */
static void *hsm_watchdog_main(void *arg)
{
	struct hsm_engine *e = arg;
	struct timespec ts = { 0, (long)HSM_WATCHDOG_NS };

	pthread_setname_np(pthread_self(), "idgate-hsmwd");
	while (!atomic_load_explicit(&e->closing, memory_order_acquire)) {
		uint64_t now = hsm_now_ns();

		for (unsigned i = 0; i < e->ndev; i++) {
			struct hsm_device *d = &e->devs[i];
			struct hsm_job *job;

			bool gave_up = false;
			uint64_t started;

			for (unsigned k = 0; k < d->nslots; k++) {
				struct hsm_thread *t = &d->threads[k];
				uint64_t probe = atomic_load(&t->probe_ns);

				/* <now> was read before this sweep: a call
				 * started since is not overdue (and the
				 * unsigned difference must not wrap). */
				if (probe && now > probe && now - probe >= e->deadline_ns &&
				    atomic_compare_exchange_strong(&t->probe_ns, &probe, 0)) {
					hsm_device_missed(d, t);
					atomic_store(&d->probing, 0);
					gave_up = true;
				}
				job = atomic_load_explicit(&t->current, memory_order_acquire);
				started = atomic_load_explicit(&t->started_ns, memory_order_relaxed);
				if (!job || now <= started || now - started < e->deadline_ns)
					continue;
				if (!atomic_compare_exchange_strong(&t->current, &job, NULL))
					continue; /* it just finished */
				hsm_device_missed(d, t);
				gave_up = true;
				job->status = IG_EBLOCKED;
				job->ckr = CKR_FUNCTION_FAILED;
				hsm_complete(e, t, job);
			}
			/* Stuck threads must not starve the device. */
			if (gave_up)
				hsm_device_refill(d);
			if (atomic_load_explicit(&d->ready, memory_order_relaxed))
				continue;
			while ((job = hsm_mpmc_pop(&d->jobs))) {
				job->status = IG_EBLOCKED;
				job->ckr = CKR_DEVICE_ERROR;
				hsm_complete(e, &d->threads[0], job);
			}
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void hsm_device_set_key_error(struct hsm_device *d, const char *why)
{
	pthread_mutex_lock(&d->key_error_lock);
	snprintf(d->key_error, sizeof(d->key_error), "%s", why ? why : "");
	pthread_mutex_unlock(&d->key_error_lock);
}

/*
 * Read device <d>'s keyring through the reloader's own session and, when
 * its version moved (or <force>), load, self-test and publish the new key
 * set.  Holds the read lock, so a recovery (write lock) never closes the
 * session under it; the recovery's C_CloseAllSessions does end it, which
 * the epoch tells.  A failed reload keeps the keys the device had.
 */
static void hsm_device_reload(struct hsm_device *d, bool force)
{
	struct hsm_keyset *ks, *cur;
	struct keyring *kr;
	const char *why = NULL;
	CK_RV rv;
	int found;

	kr = malloc(sizeof(*kr));
	if (!kr)
		return;
	pthread_rwlock_rdlock(&d->sessions);
	if (d->ctl_session == CK_INVALID_HANDLE || d->ctl_epoch != d->epoch) {
		d->ctl_epoch = d->epoch;
		rv = d->f->C_OpenSession(d->slot, CKF_SERIAL_SESSION, NULL,
					 NULL, &d->ctl_session);
		if (rv != CKR_OK) {
			d->ctl_session = CK_INVALID_HANDLE;
			goto out;
		}
	}
	cur = atomic_load(&d->keys);
	found = keyring_read(d->f, d->ctl_session, kr, &rv, &why);
	if (found < 0) {
		if (hsm_p11_session_lost(rv))
			d->ctl_session = CK_INVALID_HANDLE;
		goto fail;
	}
	if (!force && cur && kr->version == cur->version)
		goto out;
	if (!force && kr->version == d->failed_version)
		goto out; /* said once already */
	if (hsm_keyset_load(d, d->ctl_session, &ks, &rv, &why) < 0)
		goto fail;
	if (hsm_keyset_selftest(d, d->ctl_session, ks, cur, &why) < 0) {
		free(ks);
		goto fail;
	}
	hsm_keyset_publish(d, ks);
	d->failed_version = 0;
	hsm_device_set_key_error(d, "");
	log_info("hsm %s: keyring version %llu: %u issuer key(s) loaded",
		 d->name, (unsigned long long)ks->version, ks->n);
	goto out;
fail:
	d->failed_version = kr->version;
	hsm_device_set_key_error(d, why);
	log_warn("hsm %s: key reload failed, keeping the keys loaded: %s",
		 d->name, why);
out:
	pthread_rwlock_unlock(&d->sessions);
	free(kr);
}

/* The control thread: reads every keyring each key_check_s, or at once
 * when hsm_reload_keys asks.  Devices out of rotation are skipped (their
 * recovery reloads the keys). */
static void *hsm_ctl_main(void *arg)
{
	struct hsm_engine *e = arg;

	pthread_setname_np(pthread_self(), "idgate-hsmctl");
	while (!atomic_load_explicit(&e->closing, memory_order_acquire)) {
		uint64_t until = hsm_now_ns() + e->key_check_ns;
		struct timespec ts = {
			.tv_sec = (time_t)(until / 1000000000u),
			.tv_nsec = (long)(until % 1000000000u),
		};
		bool force;

		(void)sem_clockwait(&e->ctl_wake, CLOCK_MONOTONIC, &ts);
		if (atomic_load_explicit(&e->closing, memory_order_acquire))
			break;
		force = atomic_exchange(&e->ctl_force, 0);
		for (unsigned i = 0; i < e->ndev; i++)
			if (atomic_load(&e->devs[i].ready))
				hsm_device_reload(&e->devs[i], force);
	}
	return NULL;
}

void hsm_reload_keys(struct hsm_engine *e)
{
	if (!e || !e->have_ctl_sem)
		return;
	atomic_store(&e->ctl_force, 1);
	sem_post(&e->ctl_wake);
}

uint64_t hsm_keys_generation(const struct hsm_engine *ce)
{
	struct hsm_engine *e = (struct hsm_engine *)ce;

	return e ? atomic_load(&e->keys_gen) : 0;
}

size_t hsm_device_keys(struct hsm_engine *e, unsigned dev,
		       const struct hsm_issuer **out, size_t max)
{
	const struct hsm_keyset *ks;
	size_t n = 0;

	if (!e || dev >= e->ndev)
		return 0;
	ks = atomic_load_explicit(&e->devs[dev].keys, memory_order_acquire);
	for (unsigned i = 0; ks && i < ks->n && n < max; i++)
		out[n++] = &ks->k[i];
	return n;
}

void hsm_device_key_error(struct hsm_engine *e, unsigned dev, char *out,
			  size_t cap)
{
	if (!cap)
		return;
	out[0] = '\0';
	if (!e || dev >= e->ndev)
		return;
	pthread_mutex_lock(&e->devs[dev].key_error_lock);
	snprintf(out, cap, "%s", e->devs[dev].key_error);
	pthread_mutex_unlock(&e->devs[dev].key_error_lock);
}

int hsm_start(struct hsm_engine **out, const struct hsm_config *cfg,
	      const char **why)
{
	struct hsm_device_config one;
	const struct hsm_device_config *dc;
	const char *ignored;
	struct hsm_engine *e;
	unsigned n;
	int rc;

	if (!why)
		why = &ignored;
	*out = NULL;
	IG_GUARD(hsm_config_check(cfg, why));
	if (cfg->ndevices) {
		dc = cfg->devices;
		n = cfg->ndevices;
	} else {
		one = (struct hsm_device_config){
			.name = "hsm0", .module = cfg->module,
			.token_label = cfg->token_label, .pin_file = cfg->pin_file,
			.issuer_key_label = cfg->issuer_key_label,
			.threads = cfg->threads, .queue_depth = cfg->queue_depth,
		};
		dc = &one;
		n = 1;
	}
	for (unsigned i = 0; i < n; i++)
		IG_GUARD(hsm_device_config_check(&dc[i], why));
	e = hsm_zalloc(sizeof(*e));
	IG_ENSURE(e, IG_ENOMEM, why, "out of memory");
	e->deadline_ns = (cfg->deadline_ms ? cfg->deadline_ms : 2000) * 1000000ull;
	e->probe_ns = (cfg->probe_interval_ms ? cfg->probe_interval_ms : 1000) * 1000000ull;
	e->key_check_ns = (cfg->key_check_s ? cfg->key_check_s : 30) * 1000000000ull;
	e->reinit_ns = (cfg->reinit_interval_ms ? cfg->reinit_interval_ms : 5000) * 1000000ull;
	e->spare_threads = cfg->spare_threads;
	e->devs = hsm_zalloc(n * sizeof(*e->devs));
	rc = e->devs ? hsm_workers_init(e, cfg, why) : IG_ENOMEM;
	if (!e->devs)
		*why = "out of memory";
	for (unsigned i = 0; rc == IG_OK && i < n; i++) {
		e->devs[i].idx = i;
		e->ndev = i + 1;
		rc = hsm_device_open(&e->devs[i], e, &dc[i], why);
	}
	if (rc == IG_OK) {
		if (pthread_create(&e->watchdog, NULL, hsm_watchdog_main, e) == 0) {
			e->have_watchdog = true;
		} else {
			*why = "cannot start the HSM watchdog thread";
			rc = IG_EINTERNAL;
		}
	}
	if (rc == IG_OK) {
		if (sem_init(&e->ctl_wake, 0, 0) == 0)
			e->have_ctl_sem = true;
		if (e->have_ctl_sem &&
		    pthread_create(&e->ctl, NULL, hsm_ctl_main, e) == 0) {
			e->have_ctl = true;
		} else {
			*why = "cannot start the HSM control thread";
			rc = IG_EINTERNAL;
		}
	}
	if (rc < 0) {
		hsm_stop(e);
		return rc;
	}
	*out = e;
	return IG_OK;
}

void hsm_close(struct hsm_engine *e)
{
	if (!e || e->closed)
		return;
	/*
	 * Seq_cst store, then seq_cst loads of each <submitting>; hsm_submit
	 * does the mirror image.  So either a submitter sees <closing>, or
	 * we see it inside hsm_submit and wait for it to leave: no job can
	 * land in a ring after the drain below.
	 */
	atomic_store(&e->closing, 1);
	for (unsigned i = 0; i < e->nworkers; i++)
		while (atomic_load(&e->workers[i].submitting))
			sched_yield();
	if (e->have_watchdog) {
		pthread_join(e->watchdog, NULL);
		e->have_watchdog = false;
	}
	if (e->have_ctl) {
		sem_post(&e->ctl_wake);
		pthread_join(e->ctl, NULL);
		e->have_ctl = false;
	}
	for (unsigned i = 0; i < e->ndev; i++)
		hsm_device_close(&e->devs[i]);
	e->closed = true;
}

void hsm_stop(struct hsm_engine *e)
{
	if (!e)
		return;
	hsm_close(e);
	for (unsigned i = 0; i < e->ndev; i++)
		if (e->devs[i].abandoned)
			return; /* a thread may still touch any of it */
	for (unsigned i = 0; i < e->ndev; i++)
		hsm_device_free(&e->devs[i]);
	free(e->devs);
	for (unsigned i = 0; e->workers && i < e->nworkers; i++) {
		if (e->workers[i].efd >= 0)
			close(e->workers[i].efd);
		hsm_mpmc_free(&e->workers[i].done);
	}
	free(e->workers);
	if (e->have_ctl_sem)
		sem_destroy(&e->ctl_wake);
	free(e);
}

int hsm_choose(struct hsm_engine *e, enum hsm_key key, uint32_t avoid,
	       int64_t now, const struct hsm_issuer **ik)
{
	/* Ties go round-robin, from a per-thread start: idle HSMs share the
	 * load and no counter is shared between workers. */
	static __thread unsigned rr;
	const struct hsm_issuer *best_key = NULL;
	int best = IG_ECLOSED;
	unsigned least = UINT32_MAX;

	if (!e || (unsigned)key >= HSM_KEY_COUNT)
		return IG_EUSAGE;
	rr++;
	for (unsigned j = 0; j < e->ndev; j++) {
		unsigned i = (rr + j) % e->ndev;
		struct hsm_device *d = &e->devs[i];
		const struct hsm_issuer *k;
		unsigned o;

		if ((avoid >> i) & 1 ||
		    !atomic_load_explicit(&d->ready, memory_order_relaxed))
			continue;
		o = atomic_load_explicit(&d->outstanding, memory_order_relaxed);
		if (o >= least)
			continue;
		k = hsm_keyset_active(atomic_load_explicit(&d->keys,
							   memory_order_acquire),
				      now, false);
		if (!k)
			continue; /* no key to sign with here now */
		least = o;
		best = (int)i;
		best_key = k;
	}
	if (ik)
		*ik = best_key;
	return best;
}

/* The ready device not in <avoid> whose key set <fits> (with <arg>), with
 * the fewest operations outstanding; IG_ECLOSED when none. */
static int hsm_least_loaded(struct hsm_engine *e, uint32_t avoid,
			    int (*fits)(const struct hsm_keyset *ks, const void *arg),
			    const void *arg)
{
	int best = IG_ECLOSED;
	unsigned least = UINT32_MAX;

	for (unsigned i = 0; e && i < e->ndev; i++) {
		struct hsm_device *d = &e->devs[i];
		const struct hsm_keyset *ks = atomic_load(&d->keys);
		unsigned o = atomic_load_explicit(&d->outstanding, memory_order_relaxed);

		if ((avoid >> i) & 1 || !atomic_load(&d->ready) || !ks || o >= least ||
		    !fits(ks, arg))
			continue;
		least = o;
		best = (int)i;
	}
	return best;
}

static int hsm_fits_wrap(const struct hsm_keyset *ks, const void *arg)
{
	return hsm_keyset_wrapper(ks) != NULL;
}

int hsm_choose_wrap(struct hsm_engine *e, uint32_t avoid)
{
	return hsm_least_loaded(e, avoid, hsm_fits_wrap, NULL);
}

static int hsm_same_ec(const struct pubkey *a, const struct pubkey *b)
{
	return a->kind == b->kind && !memcmp(a->x, b->x, sizeof(a->x)) &&
	       !memcmp(a->y, b->y, sizeof(a->y));
}

int hsm_choose_ca(struct hsm_engine *e, const struct pubkey *want,
		  struct pubkey *pub)
{
	for (unsigned i = 0; e && i < e->ndev; i++) {
		const struct hsm_keyset *ks = atomic_load(&e->devs[i].keys);

		if (!atomic_load(&e->devs[i].ready) || !ks ||
		    ks->ca == CK_INVALID_HANDLE)
			continue;
		if (want && !hsm_same_ec(want, &ks->ca_pub))
			continue;
		if (pub)
			*pub = ks->ca_pub;
		return (int)i;
	}
	return IG_ECLOSED;
}

static int hsm_fits_tls(const struct hsm_keyset *ks, const void *want)
{
	return ks->tls != CK_INVALID_HANDLE && hsm_same_ec(want, &ks->tls_pub);
}

int hsm_choose_tls(struct hsm_engine *e, const struct pubkey *want, uint32_t avoid)
{
	return hsm_least_loaded(e, avoid, hsm_fits_tls, want);
}

int hsm_device_index(const struct hsm_engine *e, const char *name)
{
	for (unsigned i = 0; e && name && i < e->ndev; i++)
		if (!strcmp(e->devs[i].name, name))
			return (int)i;
	return IG_EUSAGE;
}

int hsm_device_ready(const struct hsm_engine *ce, unsigned dev)
{
	struct hsm_engine *e = (struct hsm_engine *)ce;

	return e && dev < e->ndev && atomic_load(&e->devs[dev].ready);
}

unsigned hsm_ndevices(const struct hsm_engine *e)
{
	return e ? e->ndev : 0;
}

const char *hsm_device_name(const struct hsm_engine *e, unsigned dev)
{
	return e && dev < e->ndev ? e->devs[dev].name : NULL;
}

int hsm_submit(struct hsm_engine *e, struct hsm_job *job)
{
	struct hsm_worker *w;
	int rc = IG_OK;

	struct hsm_device *d;

	if (!e || !job || job->op < HSM_OP_SIGN_ES256 ||
	    job->op > HSM_OP_SIGN_TLS || job->key >= HSM_KEY_COUNT ||
	    job->owner >= e->nworkers || job->dev >= e->ndev ||
	    ((job->op == HSM_OP_GEN_WRAPPED || job->op == HSM_OP_SIGN_WRAPPED) &&
	     !job->wx))
		return IG_EUSAGE;
	d = &e->devs[job->dev];
	w = &e->workers[job->owner];
	atomic_fetch_add(&w->submitting, 1); /* seq_cst: see hsm_close */
	if (atomic_load(&e->closing) ||
	    !atomic_load_explicit(&d->ready, memory_order_relaxed)) {
		rc = IG_ECLOSED;
		goto out;
	}
	/* Admission: the owner's completion ring must have room for every
	 * job it has not reaped yet (hsm_complete relies on it). */
	if (atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed) >=
	    w->depth) {
		rc = IG_EBLOCKED;
		goto undo;
	}
	job->submit_ns = hsm_now_ns();
	job->status = IG_EINTERNAL;
	job->ckr = CKR_OK;
	atomic_fetch_add_explicit(&d->outstanding, 1, memory_order_relaxed);
	if (!hsm_mpmc_push(&d->jobs, job)) {
		atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_relaxed);
		rc = IG_EBLOCKED;
		goto undo;
	}
	sem_post(&d->wake); /* never blocks: a futex wake at most */
	atomic_fetch_add_explicit(&w->submitted, 1, memory_order_relaxed);
	goto out;
undo:
	atomic_fetch_sub_explicit(&w->inflight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->rejected_full, 1, memory_order_relaxed);
out:
	atomic_fetch_sub_explicit(&w->submitting, 1, memory_order_release);
	return rc;
}

int hsm_hold(struct hsm_engine *e, struct hsm_job *job)
{
	struct hsm_worker *w;

	if (!e || !job || job->owner >= e->nworkers)
		return IG_EUSAGE;
	w = &e->workers[job->owner];
	/* hsm_submit's admission, for a job that no HSM will run. */
	if (atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed) >=
	    w->depth) {
		atomic_fetch_sub_explicit(&w->inflight, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->rejected_full, 1, memory_order_relaxed);
		return IG_EBLOCKED;
	}
	return IG_OK;
}

int hsm_completion_fd(struct hsm_engine *e, unsigned w)
{
	if (!e || w >= e->nworkers)
		return IG_EUSAGE;
	return e->workers[w].efd;
}

size_t hsm_reap(struct hsm_engine *e, unsigned wi, struct hsm_job **out,
		size_t max)
{
	struct hsm_worker *w;
	size_t n = 0;

	if (!e || wi >= e->nworkers)
		return 0;
	w = &e->workers[wi];
	/* Re-arm the wake-up before looking, so a job completed after the
	 * pops below writes the eventfd again (see hsm_complete). */
	atomic_store(&w->signal_pending, 0);
	atomic_thread_fence(memory_order_seq_cst);
	while (n < max && (out[n] = hsm_mpmc_pop(&w->done)))
		n++;
	if (n)
		atomic_fetch_sub_explicit(&w->inflight, (unsigned)n,
					  memory_order_relaxed);
	return n;
}

int hsm_public_key(struct hsm_engine *e, enum hsm_key key, uint8_t x[32],
		   uint8_t y[32])
{
	return hsm_device_public_key(e, 0, key, x, y);
}

int hsm_device_public_key(struct hsm_engine *e, unsigned dev,
			  enum hsm_key key, uint8_t x[32], uint8_t y[32])
{
	const struct hsm_issuer *k;

	if (!e || dev >= e->ndev || (unsigned)key >= HSM_KEY_COUNT)
		return IG_EUSAGE;
	k = hsm_keyset_active(atomic_load(&e->devs[dev].keys), hsm_wall_s(),
			      true);
	if (!k)
		return IG_ECLOSED;
	memcpy(x, k->x, 32);
	memcpy(y, k->y, 32);
	return IG_OK;
}

int hsm_ready(const struct hsm_engine *e)
{
	if (!e || atomic_load_explicit(&e->closing, memory_order_relaxed))
		return 0;
	for (unsigned i = 0; i < e->ndev; i++)
		if (atomic_load_explicit(&e->devs[i].ready, memory_order_relaxed) &&
		    hsm_keyset_active(atomic_load_explicit(&e->devs[i].keys,
							   memory_order_acquire),
				      hsm_wall_s(), false))
			return 1;
	return 0;
}

void hsm_get_device_stats(const struct hsm_engine *ce, unsigned dev,
			  struct hsm_device_stats *st)
{
	/* The counters are atomics that we only load; the cast drops the
	 * const that C11's atomic_load does not accept on every compiler. */
	struct hsm_engine *e = (struct hsm_engine *)ce;
	struct hsm_device *d;
	uint64_t cum = 0;

	memset(st, 0, sizeof(*st));
	if (!e || dev >= e->ndev)
		return;
	d = &e->devs[dev];
	st->ready = atomic_load_explicit(&d->ready, memory_order_relaxed);
	st->outstanding = atomic_load_explicit(&d->outstanding, memory_order_relaxed);
	st->queue_depth = d->jobs.cells ? hsm_mpmc_count(&d->jobs) : 0;
	st->transitions = atomic_load_explicit(&d->transitions, memory_order_relaxed);
	st->replaced = atomic_load_explicit(&d->replaced, memory_order_relaxed);
	st->reinits = atomic_load_explicit(&d->reinits, memory_order_relaxed);
	st->stuck = atomic_load(&d->live) - atomic_load(&d->working);
	for (unsigned r = 0; r < HSM_R_COUNT; r++)
		st->results[r] = atomic_load_explicit(&d->results[r], memory_order_relaxed);
	for (unsigned i = 0; i < d->nslots; i++) {
		struct hsm_thread *t = &d->threads[i];

		st->latency_us_sum += atomic_load_explicit(&t->lat_sum_us,
							   memory_order_relaxed);
		for (unsigned b = 0; b <= HSM_NBUCKETS; b++) {
			uint64_t v = atomic_load_explicit(&t->lat[b], memory_order_relaxed);

			st->latency_count += v;
			if (b < HSM_NBUCKETS)
				st->latency_buckets[b] += v;
		}
	}
	for (unsigned b = 0; b < HSM_NBUCKETS; b++) {
		cum += st->latency_buckets[b];
		st->latency_buckets[b] = cum;
	}
}

void hsm_get_stats(const struct hsm_engine *ce, struct hsm_stats *st)
{
	struct hsm_engine *e = (struct hsm_engine *)ce;
	uint64_t done, cum = 0;

	memset(st, 0, sizeof(*st));
	if (!e)
		return;         /* as hsm_ready and hsm_ndevices: no engine, nothing */
	for (unsigned i = 0; i < e->nworkers; i++) {
		struct hsm_worker *w = &e->workers[i];

		st->submitted += atomic_load_explicit(&w->submitted,
						      memory_order_relaxed);
		st->rejected_full += atomic_load_explicit(&w->rejected_full,
							  memory_order_relaxed);
	}
	for (unsigned di = 0; di < e->ndev; di++) {
		struct hsm_device *d = &e->devs[di];

		for (unsigned i = 0; i < d->nslots; i++) {
			struct hsm_thread *t = &d->threads[i];

			st->completed_ok += atomic_load_explicit(&t->ok,
								 memory_order_relaxed);
			st->completed_err += atomic_load_explicit(&t->err,
								  memory_order_relaxed);
			st->latency_us_sum += atomic_load_explicit(&t->lat_sum_us,
								   memory_order_relaxed);
			for (unsigned b = 0; b < HSM_NBUCKETS; b++)
				st->latency_buckets[b] += atomic_load_explicit(
					&t->lat[b], memory_order_relaxed);
		}
		st->queue_depth += d->jobs.cells ? hsm_mpmc_count(&d->jobs) : 0;
		st->session_reopens += atomic_load_explicit(&d->reopens,
							    memory_order_relaxed);
		st->probes += atomic_load_explicit(&d->probes, memory_order_relaxed);
	}
	for (unsigned b = 0; b < HSM_NBUCKETS; b++) {
		cum += st->latency_buckets[b];
		st->latency_buckets[b] = cum;
	}
	done = st->completed_ok + st->completed_err;
	st->in_flight = st->submitted > done ? st->submitted - done : 0;
}

const char *hsm_ckr_why(const char *what, unsigned long ckr)
{
	return hsm_p11_why(what, (CK_RV)ckr);
}
