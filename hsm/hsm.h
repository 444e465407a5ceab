/*
 * hsm.h - the engine that runs every private-key operation through PKCS#11.
 *
 * Dataplane workers never call PKCS#11.  A worker fills a struct hsm_job and
 * submits it; HSM threads (one PKCS#11 session each, logged in once, key
 * handles found at start and after a recovery) take jobs from a bounded
 * lock-free queue, run them, and push each finished job onto its owner
 * worker's completion queue, then signal that worker's eventfd.  The worker polls the eventfd in its
 * event loop and reaps finished jobs.  Submission never blocks: a full queue
 * answers IG_EBLOCKED at once so the worker can shed load (HTTP 503).
 *
 * The module is loaded with dlopen, so any vendor's PKCS#11 module works;
 * SoftHSM2 stands in for a real HSM in tests.  The engine is built so a pool
 * of several HSMs with failover fits behind the same interface: jobs name a
 * logical key (HSM_KEY_*), not an object handle.
 *
 * When an operation fails with CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED
 * or CKR_USER_NOT_LOGGED_IN (or CKR_KEY/OBJECT_HANDLE_INVALID, which is what
 * SoftHSM answers for a private key in a logged-out session), the device
 * reopens its sessions, logs in again (re-reading pin_file), finds its keys
 * again and retries the job once.  It reopens all of its sessions, not only
 * the failed one, after C_CloseAllSessions: PKCS#11 lets a module reuse a
 * closed session's handle number, so a stale handle could otherwise name
 * another thread's new session.  The engine therefore assumes it is the only
 * user of its token's slot in this process while it runs.
 *
 * The <*why> of hsm_start and hsm_provision_softhsm is a static string or a
 * thread-local buffer (it names the failing CKR_ value), valid until the
 * next call of either function in the same thread.
 */
#ifndef IG_HSM_H
#define IG_HSM_H
#include <stddef.h>
#include <stdint.h>

#include "../common/result.h"
#include "keyring.h"
#include "wrapped.h"

struct hsm_engine;

/*
 * One token-issuer key of one HSM as the engine loaded it from the token's
 * keyring (keyring.h).  Immutable once loaded: a reload builds new ones and
 * the old stay allocated until hsm_stop, so a worker may keep a pointer for
 * as long as the engine runs.  Its state at a time follows from
 * keyring_state(&k->ent, now).
 */
struct hsm_issuer {
	struct keyring_entry ent;
	char kid[44];             /* RFC 7638 thumbprint of the public key */
	uint8_t x[32], y[32];     /* P-256 public key */
	CK_OBJECT_HANDLE priv;    /* for the engine (valid in its sessions) */
};
#define HSM_MAX_KEYS 8        /* issuer keys loaded per HSM */

/* Logical keys the engine knows. */
enum hsm_key {
	HSM_KEY_ISSUER = 0, /* ES256 key that signs access tokens */
	HSM_KEY_COUNT
};

enum hsm_op {
	HSM_OP_SIGN_ES256 = 1, /* ECDSA P-256 over a SHA-256 digest -> r||s */
	HSM_OP_SIGN_CA,        /* the same with the HSM's CA key */
	HSM_OP_GEN_WRAPPED,    /* a citizen's key pair, wrapped: job->wx */
	HSM_OP_SIGN_WRAPPED,   /* sign job->wx's digests with its wrapped key */
	HSM_OP_SIGN_TLS,       /* ECDSA P-256 over a digest with the TLS key */
};

struct hsm_job {
	/* Filled by the submitter. */
	uint8_t op;            /* enum hsm_op */
	uint8_t key;           /* enum hsm_key */
	uint16_t owner;        /* worker index that reaps the completion */
	uint8_t dev;           /* the device to run on (hsm_choose); 0 with one */
	const struct hsm_issuer *ik; /* the key (hsm_choose); NULL: the
				      * device's active key when it runs */
	struct hsm_wrapped *wx; /* GEN/SIGN_WRAPPED: in and out (wrapped.h) */
	uint8_t digest[32];
	void *user;            /* opaque to the engine */
	uint64_t user_gen;     /* opaque to the engine */
	uint64_t submit_ns;    /* CLOCK_MONOTONIC, set by hsm_submit */
	/* Filled by the engine before completion. */
	int status;            /* IG_OK; IG_EBLOCKED: this HSM failed or missed
				* the deadline, retry on another (hsm_choose
				* with its bit avoided); IG_EINTERNAL: the job
				* itself was refused; IG_ECLOSED: stopping */
	unsigned long ckr;     /* last PKCS#11 return value (CKR_OK for IG_ECLOSED) */
	uint8_t sig[64];       /* r||s, big-endian, 32 bytes each */
	uint64_t done_ns;      /* CLOCK_MONOTONIC */
};

/* One HSM of the pool: a PKCS#11 module and a token in it. */
struct hsm_device_config {
	const char *name;       /* for logs and metrics */
	const char *module;
	const char *token_label;
	const char *pin_file;
	const char *issuer_key_label;
	unsigned threads;       /* operations in flight on this HSM, 1..256 */
	unsigned queue_depth;   /* its bounded job queue, power of two >= 2 */
};

#define HSM_MAX_DEVICES 32

struct hsm_config {
	/* A pool: <ndevices> entries in <devices>.  With ndevices == 0 the
	 * single device below is the pool (named "hsm0"). */
	const struct hsm_device_config *devices;
	unsigned ndevices;
	/* An operation running longer than this is given up (the job comes
	 * back IG_EBLOCKED, to be retried on another HSM) and its HSM taken
	 * out of rotation until a probe succeeds; 0 = 2000 ms. */
	unsigned deadline_ms;
	/* An HSM out of rotation is probed (a test signature, re-opening its
	 * sessions and logging in again if they were lost) no more often than
	 * this; 0 = 1000 ms. */
	unsigned probe_interval_ms;
	/* How often the engine reads each token's keyring for lifecycle
	 * changes (hsm_reload_keys forces it at once); 0 = 30 s. */
	unsigned key_check_s;
	/* A thread stuck in a call past the deadline is replaced, up to this
	 * many per HSM at once; when its call returns it leaves.  0: none. */
	unsigned spare_threads;
	/* After a device-level failure (CKR_DEVICE_ERROR, _REMOVED,
	 * TOKEN_NOT_PRESENT, CRYPTOKI_NOT_INITIALIZED, three missed deadlines
	 * in a row) probes re-initialize the HSM (module, slot, sessions,
	 * login) first, no more often than this; 0 = 5000 ms. */
	unsigned reinit_interval_ms;
	const char *module;     /* path of the PKCS#11 module (.so) */
	const char *token_label;
	const char *pin_file;   /* user PIN, read at each login (start, recovery),
				 * wiped after use; never logged */
	const char *issuer_key_label; /* CKA_LABEL of the ES256 issuer key pair */
	unsigned threads;       /* PKCS#11 sessions / HSM threads, 1..256 */
	unsigned queue_depth;   /* bounded job queue, power of two >= 2 */
	unsigned nworkers;      /* dataplane workers that submit and reap, 1..65536 */
	unsigned completion_depth; /* per-worker completion queue, power of two >= 2;
				    * also the most jobs a worker can have
				    * submitted and not yet reaped */
};

/*
 * Start the engine: load the module, C_Initialize, find the token, open one
 * session per thread and log in, find every key's handle and public key,
 * sign a self-test digest and verify it against the public key, start the
 * threads.  On failure returns a negative IG_E* (IG_EUSAGE for a bad
 * configuration: bad path, unknown label, wrong PIN; IG_EINTERNAL when the
 * module fails) and sets <*why> to a specific message (see above).
 */
int hsm_start(struct hsm_engine **out, const struct hsm_config *cfg,
	      const char **why);

/*
 * Stop accepting jobs (hsm_submit answers IG_ECLOSED, hsm_ready 0), let each
 * HSM thread finish its current job, complete every job still queued with
 * IG_ECLOSED onto its owner's completion queue (eventfd signalled), log out,
 * close the sessions and finalize the module.  The engine stays allocated:
 * workers can still hsm_reap, hsm_completion_fd and hsm_get_stats.  Safe
 * while workers submit; idempotent.  Called from a control thread.
 */
void hsm_close(struct hsm_engine *e);

/* hsm_close if not done, then free the engine and close the eventfds.  Jobs
 * still unreaped are simply forgotten (they are the caller's memory).  No
 * worker may use <e> any more.  NULL is a no-op. */
void hsm_stop(struct hsm_engine *e);

/*
 * Queue <job> on device <job->dev> (owned by the caller until it comes back
 * from hsm_reap).  Lock-free and non-blocking.  Returns IG_OK, or
 * IG_EBLOCKED when that device's queue is full or worker <job->owner>
 * already has completion_depth jobs not yet reaped (answer 503 with
 * Retry-After), or IG_ECLOSED after hsm_close or when that device is out of
 * rotation (choose another), or IG_EUSAGE for a bad op, key, owner or dev.
 */
IG_MUST_CHECK int hsm_submit(struct hsm_engine *e, struct hsm_job *job);

/*
 * Jobs that wait for something other than an HSM come back through the
 * same completion ring and eventfd, so a worker has one wake-up path
 * (csc.c: a signHash's audit record being made durable by the audit
 * writer thread).  hsm_hold reserves room for <job> in the ring of worker
 * <job->owner>: IG_OK, IG_EBLOCKED when that worker already has
 * completion_depth jobs not reaped (answer 503), IG_EUSAGE.  hsm_post,
 * from any thread and exactly once per successful hsm_hold, hands the job
 * back: hsm_reap returns it as the poster left it (status included).
 * Lock-free and non-blocking, like hsm_submit.  The engine must outlive
 * every hsm_post (hsm_stop after whatever posts has stopped).
 */
IG_MUST_CHECK int hsm_hold(struct hsm_engine *e, struct hsm_job *job);
void hsm_post(struct hsm_engine *e, struct hsm_job *job);

/*
 * The eventfd (EFD_NONBLOCK) that becomes readable when worker <w> has
 * completions; IG_EUSAGE for a bad <w>.  The worker consumes its counter
 * (read(2) or an io_uring read) and then calls hsm_reap until it returns
 * fewer than <max>: completions that arrive after a hsm_reap call has
 * started make the eventfd readable again, earlier ones are in the queue.
 * The engine writes the eventfd at most once between two hsm_reap calls.
 */
int hsm_completion_fd(struct hsm_engine *e, unsigned w);

/* Take up to <max> finished jobs of worker <w> into <out>; returns how
 * many.  Only worker <w> calls this. */
size_t hsm_reap(struct hsm_engine *e, unsigned w, struct hsm_job **out,
		size_t max);

/* The public key of <key> as an uncompressed P-256 point's coordinates;
 * IG_EUSAGE for an unknown key. */
int hsm_public_key(struct hsm_engine *e, enum hsm_key key, uint8_t x[32],
		   uint8_t y[32]);

/*
 * 1 while the HSM answers: set at start and after each successful
 * operation, cleared after an operation that failed for a device-level
 * reason (anything but CKR_DATA_INVALID/DATA_LEN_RANGE/ARGUMENTS_BAD) and by
 * hsm_close.  While it is 0, an HSM thread that has no work probes the
 * device once a second (recovering sessions and signing a test digest), so
 * readiness comes back even when no traffic arrives (a load balancer stops
 * sending any once /readyz fails).
 */
int hsm_ready(const struct hsm_engine *e);

/*
 * Counters since hsm_start, updated with relaxed atomics: a snapshot, not a
 * transaction.  completed_err includes jobs completed with IG_ECLOSED.
 * Latency is done_ns - submit_ns (queueing + HSM time) of every completed
 * job.  latency_buckets are cumulative, Prometheus "le" style:
 * latency_buckets[i] counts jobs that took <= HSM_LATENCY_BOUNDS_US[i]
 * microseconds; the "+Inf" bucket is completed_ok + completed_err.
 */
/*
 * Pick the HSM for a job of <key>: the ready one with the fewest operations
 * outstanding that holds a key active at <now> (Unix seconds), skipping
 * those whose bit is set in <avoid> (1u << index).  Returns its index and
 * sets <*ik> (if not NULL) to the key to sign with (the newest active one),
 * or IG_ECLOSED when none is ready.  Lock-free.
 */
int hsm_choose(struct hsm_engine *e, enum hsm_key key, uint32_t avoid,
	       int64_t now, const struct hsm_issuer **ik);
unsigned hsm_ndevices(const struct hsm_engine *e);
const char *hsm_device_name(const struct hsm_engine *e, unsigned dev);
/* The public key of <key> that device <dev> signs with now (each HSM
 * holds its own). */
int hsm_device_public_key(struct hsm_engine *e, unsigned dev,
			  enum hsm_key key, uint8_t x[32], uint8_t y[32]);

/*
 * The issuer keys device <dev> has loaded (whatever their state): up to
 * <max> pointers into <out>; returns how many.  The pointers stay valid
 * until hsm_stop.
 */
size_t hsm_device_keys(struct hsm_engine *e, unsigned dev,
		       const struct hsm_issuer **out, size_t max);

/*
 * Citizens' keys.  Each HSM may hold a wrapping key (AES-256, purpose wrap
 * in its keyring, else labelled "idgate-wrap") and a CA key (EC P-256,
 * purpose ca, else labelled "idgate-ca").  A key wrapped by one HSM can
 * only be unwrapped by an HSM holding the same wrapping key: a credential
 * records the HSM that made it (a production pool clones its wrapping key
 * across HSMs in a key ceremony).
 *
 * hsm_choose_wrap: the ready HSM with a wrapping key and the fewest
 * operations outstanding, skipping <avoid>; IG_ECLOSED when none.
 * hsm_choose_ca: the ready HSM holding a CA key, and that key <want> when
 * not NULL (HSMs of a pool may hold different CA keys: only the one whose
 * certificate is published may sign); *pub (if not NULL) gets it.  hsm_device_index: the HSM named <name>, or
 * IG_EUSAGE.  hsm_device_ready: 1 while device <dev> is in rotation.
 */
int hsm_choose_wrap(struct hsm_engine *e, uint32_t avoid);
int hsm_choose_ca(struct hsm_engine *e, const struct pubkey *want,
		  struct pubkey *pub);
int hsm_device_index(const struct hsm_engine *e, const char *name);

/*
 * The TLS server's key in the HSMs: EC P-256, purpose tls in a token's
 * keyring, else the pair labelled "idgate-tls".  hsm_choose_tls: the ready
 * HSM, not in <avoid>, whose TLS key is <want> (the certificate's) with
 * the fewest operations outstanding; IG_ECLOSED when none.
 */
int hsm_choose_tls(struct hsm_engine *e, const struct pubkey *want, uint32_t avoid);
int hsm_device_ready(const struct hsm_engine *e, unsigned dev);

/* Bumped each time some device's loaded keys change: a caller that
 * publishes them (JWKS) rebuilds when it moves. */
uint64_t hsm_keys_generation(const struct hsm_engine *e);

/* Ask the engine to read every token's keyring now (SIGHUP). */
void hsm_reload_keys(struct hsm_engine *e);

/* Why the last key reload of device <dev> failed ("" when it did not); the
 * engine keeps the keys it had.  A snapshot, for logs and status. */
void hsm_device_key_error(struct hsm_engine *e, unsigned dev, char *out,
			  size_t cap);

/* Per-HSM figures for /metrics. */
enum hsm_result_kind {
	HSM_R_OK, HSM_R_DEVICE, HSM_R_REMOVED, HSM_R_SESSION, HSM_R_TIMEOUT,
	HSM_R_OTHER, HSM_R_COUNT
};
extern const char *const hsm_result_names[HSM_R_COUNT];
struct hsm_device_stats {
	int ready;
	uint64_t outstanding;   /* submitted to it, not completed */
	uint64_t queue_depth;
	uint64_t results[HSM_R_COUNT];
	uint64_t transitions;   /* ready <-> not ready */
	uint64_t replaced;      /* threads started to replace stuck ones */
	uint64_t reinits;       /* re-initializations tried */
	uint64_t stuck;         /* threads inside a call given up on, now */
	uint64_t latency_us_sum, latency_count;
	uint64_t latency_buckets[16]; /* cumulative */
};
void hsm_get_device_stats(const struct hsm_engine *e, unsigned dev,
			  struct hsm_device_stats *st);

struct hsm_stats {
	uint64_t submitted, completed_ok, completed_err, rejected_full;
	uint64_t in_flight;     /* submitted and not yet completed */
	uint64_t queue_depth;   /* waiting for an HSM thread */
	uint64_t latency_us_sum;
	uint64_t latency_buckets[16]; /* cumulative counts at HSM_LATENCY_BOUNDS_US */
	uint64_t session_reopens; /* recoveries after a lost session or login */
	uint64_t probes;        /* readiness probes run while not ready */
};
/* 100 us doubling up to 3.2768 s. */
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
 *
 * Files in <state_dir> (created with mode 0700 if missing): softhsm2.conf,
 * tokens/ (0700), hsm-so.pin and hsm.pin (0600, created O_EXCL: a PIN file
 * without its token is an error to resolve by hand, never overwritten).
 * Must run before hsm_start in the process (it initializes and finalizes
 * the module).  Returns IG_OK, IG_EUSAGE (bad argument, unusable state
 * dir, stale PIN files) or IG_EINTERNAL (the module failed), with <*why>.
 */
int hsm_provision_softhsm(const char *state_dir, const char *module,
			  const char *label, const char *key_label,
			  const char **why);
/* The same with the PIN files' paths given: several tokens (a pool built
 * from SoftHSM) each need their own. */
int hsm_provision_softhsm_pins(const char *state_dir, const char *module,
			       const char *label, const char *key_label,
			       const char *pin_file, const char *so_pin_file,
			       const char **why);

/*
 * First start: the built-in CA's self-signed certificate (CA:TRUE,
 * keyCertSign | cRLSign, <days> long) for the key pair labelled
 * "idgate-ca" on token <token>, signed inside it, written as PEM to <path>
 * (mode 0644, created exclusively).  Nothing happens when <path> exists.
 * Before hsm_start, like the provisioning above.
 */
int hsm_provision_ca_cert(const char *module, const char *token,
			  const char *pin_file, const char *subject, unsigned days,
			  const char *path, const char **why);

/* "<what>: CKR_NAME" for a job's <ckr> (PKCS#11 v2.40 §5.1's return
 * values), for the answers and logs of the layers above, which do not see
 * PKCS#11's header.  A static or thread-local string. */
const char *hsm_ckr_why(const char *what, unsigned long ckr);

#endif
