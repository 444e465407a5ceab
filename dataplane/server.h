/*
 * server.h - the objects of a running idgated and who owns them.
 *
 *   struct server  - process-wide, read-only after start except where
 *                    noted: config, HSM engine, store, replay cache, the
 *                    precomputed JWKS and discovery documents, secrets.
 *   struct worker  - one per core (plus one for the admin listener): its
 *                    I/O backend (io_uring ring, listener, buffers), its
 *                    TLS server objects, connections, timers, metrics.
 *                    Touched only by its own thread.
 *   struct conn    - one client connection, owned by its worker.
 */
#ifndef IG_SERVER_H
#define IG_SERVER_H
#include <stdatomic.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/http.h"
#include "../hsm/audit.h"
#include "../hsm/hsm.h"
#include <mbedtls/gcm.h>
#include "../common/config.h"
#include "metrics.h"
#include "tls.h"

struct store;
struct store_reader;
struct replay_cache;
struct credrate;
struct ratelimit;
struct worker;
struct conn;

/* A continuation: what resumes a request whose asynchronous operation
 * completed.  <alive> is 0 when the connection closed meanwhile: nothing
 * can be answered, but what must happen anyway (an audit record) does. */
typedef void conn_resume_fn(struct conn *c, int alive);

struct server {
	struct config cfg;
	unsigned nworkers;              /* dataplane workers; admin is extra */
	struct worker **workers;        /* nworkers + 1; the last is admin */
	struct hsm_engine *hsm;
	struct store *store;
	struct replay_cache *replay;     /* single use, kept across restarts */
	struct credrate *credrate;      /* logins per device credential */
	_Atomic size_t replay_live;     /* its live entries (main, each second) */
	_Atomic int replay_tight;       /* 3/4 full: credrate_take strict */
	char admin_token[128];
	size_t admin_token_len;
	uint8_t pairwise_key[32];       /* secret behind pairwise subs */
	uint8_t ticket_secret[32];
	/* GET /.well-known/jwks.json body: replaced by main when keys change
	 * (publish_keys); superseded ones are freed at exit. */
	_Atomic(char *) jwks;
	struct old_doc { char *doc; struct old_doc *next; } *old_jwks;
	char jwks_cache_control[64];    /* its Cache-Control header line */
	uint64_t keys_gen;              /* engine key generation published */
	int64_t keys_next;              /* next scheduled key transition */
	struct audit_log *audit;        /* idgated's own audit log */
	/* Remote signing (csc.c). */
	uint8_t cit_key[32];            /* the "cit" claim's AES-256-GCM key */
	uint8_t sad_key[32];            /* MAC key of SADs */
	uint8_t ca_der[2048];           /* the built-in CA's certificate */
	size_t ca_der_len;              /* 0: no CA, no credentials made */
	char ca_subject[512];
	struct pubkey ca_key;           /* the certificate's key */
	struct pubkey tls_pub;          /* tls.key_file = hsm: the TLS certificate's key */
	char *ca_pem;
	char *discovery;                /* GET /.well-known/openid-configuration */
	volatile int stopping;
};

/* A node of one of its worker's timeout lists (c->t or c->ts). */
struct conn_timer {
	struct conn_timer *prev, *next;
	uint64_t deadline_ns;
	int8_t kind;                    /* enum timeout_kind, -1 when unlisted */
};

/* What a request in progress at the HSM needs to finish its response. */
struct pending {
	struct hsm_job job;
	enum endpoint ep;
	uint64_t start_ns;
	uint32_t expires_in;
	uint16_t len;                   /* signing input length in token[] */
	uint8_t keep_alive;
	char token[1200];               /* signing input, then the whole JWT */
	/* The claims, kept to rebuild the token for another HSM's key. */
	char sub[44], jti[24], client_id[129];
	int64_t iat, exp;
	uint32_t tried;                 /* HSMs that failed this request */
	conn_resume_fn *resume;         /* what the awaited completion resumes */
	char cit[160];                  /* the token's "cit" claim (csc.h) */
	struct csc_pending *csc;        /* remote signing state, made on use */
};

struct conn {
	struct worker *w;
	int fd;                         /* io_uring: the socket; dpdk: a number
					 * for logs.  -1 once released. */
	uint16_t refs;                  /* backend operations + HSM job in flight */
	uint8_t tls_on;
	uint8_t closing;                /* no more input processed */
	uint8_t close_after_send;
	uint8_t waiting;                /* a request is at the HSM */
	uint8_t recv_armed, send_inflight, recv_paused, peer_eof, lingering;
	uint8_t continue_sent;          /* 100 Continue sent for this request */
	uint8_t served;                 /* a request was answered in this pass */
	uint64_t gen;                   /* changes at every reuse */
	struct conn_timer t;            /* handshake, header, body, idle or linger */
	struct conn_timer ts;           /* send: output not taken by the peer */
	size_t send_mark;               /* out.off when ts was armed (progress) */
	struct tls_conn tls;
	struct buf raw;                 /* TLS: ciphertext received */
	struct buf in;                  /* plaintext request bytes */
	struct buf out;                 /* bytes being sent */
	struct buf out_next;            /* bytes queued while a send is in flight */
	uint8_t addr[16];               /* peer address (rate limiting) */
	uint8_t addr_len;
	struct pending *pend;           /* allocated once, kept across reuse */
	struct conn *next_free;
	struct conn *next_all;          /* every conn this worker allocated */
	/* The DPDK backend's own (dpdk.c); io_uring leaves them alone. */
	void *sock;                     /* its struct us_sock, NULL once closed */
	struct conn *io_next;           /* its list of deferred work */
	uint8_t io_queued;              /* deferred work pending (DQ_* bits) */
};

/* Input limits of a listener. */
struct listener_limits {
	size_t max_head, max_body;
};

struct worker {
	struct server *srv;
	unsigned id;                    /* dataplane index; nworkers for admin */
	int admin;                      /* the admin listener's worker */
	int cpu;                        /* pinned core, -1 = not pinned */
	struct listener_limits lim;
	struct tls_server tls;          /* unused by the admin worker */
	struct store_reader *reader;
	struct ratelimit *rl;
	struct conn *free_conns;
	struct conn *all_conns;
	unsigned nconns;
	struct conn_timer tlist[TO_COUNT]; /* heads of the timeout lists */
	uint64_t timeout_ns[TO_COUNT];
	uint64_t now_ns;                /* CLOCK_MONOTONIC, per loop turn */
	int64_t now_s;                  /* CLOCK_REALTIME seconds */
	mbedtls_gcm_context cit_gcm;    /* the "cit" claim (csc.c) */
	struct csc_tokens *csc_tokens;  /* access tokens verified (csc.c) */
	struct metrics m;
	char *scratch;                  /* max_body bytes: decoded form fields */
	char date[40];                  /* "Date: ...\r\n" of now_s */
	int64_t date_s;
	const struct io_ops *ops;       /* its I/O backend (set before init) */
	void *io;                       /* the I/O backend's per-worker state */
	int thread_ok;
};

/* An I/O backend's operations, per worker (w->ops): the layers above call
 * these and nothing else of the backend.  The admin worker always runs on
 * io_uring; dataplane workers on server.backend. */
struct io_ops {
	const char *name;
	int (*init)(struct worker *w, const char **why);
	void (*run)(struct worker *w);       /* until srv->stopping */
	void (*free)(struct worker *w);
	void (*flush)(struct conn *c);       /* send what is in c->out */
	void (*close)(struct conn *c);       /* stop I/O (ops complete soon) */
	void (*release)(struct conn *c);     /* no op in flight: free the socket */
	void (*shutdown_write)(struct conn *c); /* FIN after the last response */
	void (*pause_recv)(struct conn *c, int pause);
};
extern const struct io_ops io_uring_ops;
extern const struct io_ops dpdk_ops;

/* dpdk.c (linked into idgated only): the EAL, the port, its queues (one RX
 * and one TX queue per dataplane worker) and the mbuf pool, set up once by
 * main before any worker starts; dpdk_global_free undoes it at exit, after
 * the workers are freed (a no-op when it was never set up).  Built without
 * DPDK (IG_NO_DPDK), dpdk_global_init says so. */
int dpdk_global_init(struct server *srv, const char **why);
void dpdk_global_free(void);

/* conn.c: the connection layer, called by the backend. */
struct conn *conn_open(struct worker *w, int fd);
void conn_input(struct conn *c, const uint8_t *p, size_t n);
void conn_eof(struct conn *c);
void conn_sent(struct conn *c);          /* c->out fully sent */
void conn_close(struct conn *c);         /* start closing now */
void conn_put(struct conn *c);           /* an op finished: free if last */
void conn_hsm_done(struct worker *w, struct hsm_job *job);
/* The worker's completions (HSM jobs, and what is handed back the same
 * way): worker_completion_fd becomes readable (an eventfd: the backend
 * reads it to reset it) when some may wait; worker_reap resumes every
 * waiting one and says how many.  The backends know nothing more of the
 * HSM engine. */
int worker_completion_fd(struct worker *w);
unsigned worker_reap(struct worker *w);
/* The request in progress on <c> waits for a completion (an HSM job, or
 * an audit record handed back the same way), which conn_hsm_done gives to
 * <resume>: no further request is served meanwhile, the request timers
 * stop (the HSM's deadline bounds the wait) and the wait holds a
 * reference. */
void conn_await(struct conn *c, conn_resume_fn *resume);
/* <job> (in the connection's memory) to the HSM engine for <c>, which
 * then awaits it.  IG_OK, or hsm_submit's refusal with nothing changed. */
IG_MUST_CHECK int conn_hsm_submit(struct conn *c, struct hsm_job *job, conn_resume_fn *resume);
/* A request answered in this pass (its timers restart for the next). */
void conn_answered(struct conn *c);
/* tls_async_signer.start for a TLS key in the HSMs (tls.key_file = hsm):
 * <arg> is the worker. */
int conn_tls_sign_start(void *arg, struct tls_conn *tc, const uint8_t *hash,
			size_t len);
void worker_tick(struct worker *w);      /* expire timers, rotate tickets */
uint64_t worker_next_deadline(struct worker *w);
void worker_clock(struct worker *w);
void worker_free_conns(struct worker *w); /* at exit, after the HSM stopped */

/* Responses (conn.c). <extra> holds whole header lines ending in CRLF. */
void resp_send(struct conn *c, enum endpoint ep, uint64_t start_ns, int status,
	       const char *ctype, const char *extra, const char *body,
	       size_t len, int keep_alive);
void resp_error(struct conn *c, enum endpoint ep, uint64_t start_ns, int status,
		const char *error, const char *desc, const char *extra,
		int keep_alive);

/* handlers.c: route and serve one complete request. */
struct request {
	struct http_request h;
	const char *body;
	size_t body_len;
	enum endpoint ep;               /* its route's (route.h) */
	struct http_str param;          /* the route pattern's '*' segment */
	const void *arg;                /* its route's argument */
	uint64_t start_ns;
};
void handle_request(struct conn *c, struct request *r);
int handle_head(struct conn *c, struct request *r);
struct assertion;
IG_MUST_CHECK int assertion_once(struct server *srv, const struct assertion *a, int64_t now);
IG_MUST_CHECK int single_use_gate(struct conn *c, const char *kid, int64_t iat, const char *what,
		    uint64_t start_ns, enum endpoint ep, int keep_alive);
/* The pairwise pseudonym of <citizen> for <sector> (base64url, 43 chars). */
void pairwise_sub(const struct server *srv, const char *citizen,
		  const char *sector, size_t sector_len, char out[44]);
/* The durable audit record of an admin action on credential <cred> of
 * <citizen> (handlers.c); the admin worker only: it may wait.  IG_OK or
 * the audit log's error (logged). */
int admin_audit(struct server *srv, const char *action, const char *citizen,
		const char *cred, int durable);

#endif
