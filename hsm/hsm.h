/*
 * hsm.h - the engine that runs every private-key operation through PKCS#11.
 *
 * Dataplane workers never call PKCS#11.  A worker fills a struct hsm_job and
 * submits it; HSM threads (one PKCS#11 session each, logged in once, key
 * handles found once at start) take jobs from a bounded lock-free queue, run
 * them, and push each finished job onto its owner worker's completion queue,
 * then signal that worker's eventfd.  The worker polls the eventfd in its
 * event loop and reaps finished jobs.  Submission never blocks: a full queue
 * answers IG_EBLOCKED at once so the worker can shed load (HTTP 503).
 *
 * The module is loaded with dlopen, so any vendor's PKCS#11 module works;
 * SoftHSM2 stands in for a real HSM in tests.  The engine is built so a pool
 * of several HSMs with failover fits behind the same interface: jobs name a
 * logical key (HSM_KEY_*), not an object handle.
 */
#ifndef IG_HSM_H
#define IG_HSM_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"

struct hsm_engine;

/* Logical keys the engine knows. */
enum hsm_key {
	HSM_KEY_ISSUER = 0, /* ES256 key that signs access tokens */
	HSM_KEY_COUNT
};

enum hsm_op {
	HSM_OP_SIGN_ES256 = 1, /* ECDSA P-256 over a SHA-256 digest -> r||s */
};

struct hsm_job {
	/* Filled by the submitter. */
	uint8_t op;            /* enum hsm_op */
	uint8_t key;           /* enum hsm_key */
	uint16_t owner;        /* worker index that reaps the completion */
	uint8_t digest[32];
	void *user;            /* opaque to the engine */
	uint64_t user_gen;     /* opaque to the engine */
	uint64_t submit_ns;    /* CLOCK_MONOTONIC, set by hsm_submit */
	/* Filled by the engine before completion. */
	int status;            /* IG_OK, IG_EINTERNAL (HSM failed), IG_ECLOSED (engine stopping) */
	unsigned long ckr;     /* last PKCS#11 return value */
	uint8_t sig[64];       /* r||s, big-endian, 32 bytes each */
	uint64_t done_ns;      /* CLOCK_MONOTONIC */
};

struct hsm_config {
	const char *module;     /* path of the PKCS#11 module (.so) */
	const char *token_label;
	const char *pin_file;   /* user PIN, read once at start; never logged */
	const char *issuer_key_label; /* CKA_LABEL of the ES256 issuer key pair */
	unsigned threads;       /* PKCS#11 sessions / HSM threads, >= 1 */
	unsigned queue_depth;   /* bounded job queue, power of two */
	unsigned nworkers;      /* dataplane workers that submit and reap */
	unsigned completion_depth; /* per-worker completion queue, power of two */
};

/*
 * Start the engine: load the module, C_Initialize, find the token, open one
 * session per thread and log in, find every key's handle, start threads.
 * On failure returns a negative IG_E* and sets <*why> to a specific message.
 */
int hsm_start(struct hsm_engine **out, const struct hsm_config *cfg,
	      const char **why);

/* Stop threads (queued jobs complete with IG_ECLOSED), log out, finalize. */
void hsm_stop(struct hsm_engine *e);

/*
 * Queue <job> (owned by the caller until it comes back from hsm_reap).
 * Lock-free and non-blocking.  Returns IG_OK, or IG_EBLOCKED when the queue
 * is full (answer 503 with Retry-After), or IG_ECLOSED when no HSM is up.
 */
IG_MUST_CHECK int hsm_submit(struct hsm_engine *e, struct hsm_job *job);

/* The eventfd that becomes readable when worker <w> has completions. */
int hsm_completion_fd(struct hsm_engine *e, unsigned w);

/* Take up to <max> finished jobs of worker <w>; returns how many.  Only
 * worker <w> calls this. */
size_t hsm_reap(struct hsm_engine *e, unsigned w, struct hsm_job **out,
		size_t max);

/* The public key of <key> as an uncompressed P-256 point's coordinates. */
int hsm_public_key(struct hsm_engine *e, enum hsm_key key, uint8_t x[32],
		   uint8_t y[32]);

/* 1 while the HSM answers (the last operation or probe succeeded). */
int hsm_ready(const struct hsm_engine *e);

struct hsm_stats {
	uint64_t submitted, completed_ok, completed_err, rejected_full;
	uint64_t in_flight;     /* submitted and not yet completed */
	uint64_t queue_depth;   /* waiting for an HSM thread */
	uint64_t latency_us_sum;
	uint64_t latency_buckets[16]; /* cumulative counts at HSM_LATENCY_BOUNDS_US */
};
extern const uint32_t HSM_LATENCY_BOUNDS_US[16];
void hsm_get_stats(const struct hsm_engine *e, struct hsm_stats *st);

/*
 * First-start provisioning for the embedded defaults: make <state_dir> a
 * SoftHSM home (softhsm2.conf, tokens/), create the token <label> with random
 * SO and user PINs written to files of mode 0600 in <state_dir>, and generate
 * the issuer key pair <key_label> inside it (CKA_TOKEN, CKA_SENSITIVE,
 * !CKA_EXTRACTABLE, CKA_SIGN).  Idempotent: reuses what already exists.
 * Sets SOFTHSM2_CONF for this process.  PINs never reach a command line or
 * a log.
 */
int hsm_provision_softhsm(const char *state_dir, const char *module,
			  const char *label, const char *key_label,
			  const char **why);

#endif
