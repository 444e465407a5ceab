/*
 * loadgen.h - idgate-load's shared types: the run configuration, target
 * URLs, per-thread statistics and the pieces main.c wires together.
 *
 * Threads: main parses arguments, starts one engine thread per --threads
 * (each with its own epoll loop, connections, schedule share and
 * statistics), the signer thread (login assertions), and prints the live
 * line every second.  Statistics are per thread and merged at the end, so
 * recording never takes a shared lock; the live line reads counters with
 * relaxed atomics and a per-thread "this second" histogram under that
 * thread's own (uncontended) mutex.
 */
#ifndef LG_LOADGEN_H
#define LG_LOADGEN_H
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hdr.h"
#include "sched.h"

#define LG_HIGHEST_US 60000000ull       /* histograms track 1 µs .. 60 s */
#define LG_LATE_MS 10                   /* a send this late is the generator lagging */

enum lg_tls_mode { LG_TLS_PLAIN, LG_TLS_NEW, LG_TLS_RESUME, LG_TLS_KEEPALIVE,
		  LG_TLS_COUNT };
enum lg_workload { LG_WL_LOGIN, LG_WL_SIGN, LG_WL_JWKS, LG_WL_HTTP, LG_WL_COUNT };
/* The calls of one sign request (authorize, then signHash). */
enum lg_step { LG_STEP_AUTHORIZE, LG_STEP_SIGNHASH, LG_STEP_COUNT };
#define LG_CLASS_COUNT 5                /* 1xx .. 5xx */
#define LG_SIGN_HASHES_MAX 16           /* = LG_APPROVAL_HASHES (signer.h) */

/* Failures that are not HTTP answers: never recorded as latencies. */
enum lg_err {
	LG_ERR_REFUSED,   /* connect: ECONNREFUSED */
	LG_ERR_CONNECT,   /* connect: other errors (unreachable, ...) */
	LG_ERR_TIMEOUT,   /* no full answer within --timeout */
	LG_ERR_RESET,     /* ECONNRESET / EPIPE */
	LG_ERR_TLS,       /* handshake failure or TLS alert */
	LG_ERR_CLOSED,    /* the peer closed before a full answer */
	LG_ERR_PROTO,     /* an answer the HTTP parser refused */
	LG_ERR_COUNT
};

extern const char *const lg_workload_names[LG_WL_COUNT];
extern const char *const lg_err_names[LG_ERR_COUNT];
extern const char *const lg_tls_names[LG_TLS_COUNT];
extern const char *const lg_step_names[LG_STEP_COUNT];

struct lg_url {
	int tls;
	int ip_literal;                      /* host is an address */
	char host[256], port[8], path[1024];
	char authority[280];                 /* Host header: host[:port] */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* Parse http[s]://host[:port][/path] and resolve host.  IG_OK or IG_EUSAGE
 * with <*why>. */
int lg_url_parse(const char *s, struct lg_url *u, const char **why);

struct lg_config {
	struct lg_url url;
	struct lg_profile profile;
	int poisson;
	int warm_up;            /* --warm-up: connect the pool before t0 */
	int threads, connections;
	double tls_mix[LG_TLS_COUNT]; /* cumulative weights, last = 1 */
	char tls_spec[64];            /* --tls as given (or the default) */
	unsigned keepalive_max;       /* requests per connection, 0 = no limit */
	unsigned sign_hashes;         /* hashes per signHash */
	double timeout;               /* s */
	double mix[LG_WL_COUNT];      /* cumulative weights, last = 1 */
	const char *cacert;           /* NULL: no verification */
	const char *client_id;
	const char *json_path;
	int quiet;
	char aud[1400];               /* login assertions' audience */
	char sign_aud[1400];          /* sign approvals' audience */
};

/* Is TLS mode <m> in the mix? */
static inline int lg_tls_used(const struct lg_config *c, int m)
{
	return c->tls_mix[m] > (m ? c->tls_mix[m - 1] : 0);
}

/* One phase x workload x TLS mode.  Histograms are allocated at their
 * first value: most combinations never see one. */
struct lg_series {
	uint64_t offered;               /* scheduled (in this phase) */
	uint64_t answered;              /* complete HTTP answers to them */
	uint64_t completed;             /* answers that came in this phase's
					 * time (whenever they were due) */
	uint64_t errors[LG_ERR_COUNT];
	uint64_t status[600];
	struct hdr *corr[LG_CLASS_COUNT];    /* from the intended time */
	struct hdr *uncorr[LG_CLASS_COUNT];  /* from the actual send */
	/* sign: each call's own service time, by its status class */
	struct hdr *step[LG_STEP_COUNT][LG_CLASS_COUNT];
};

struct lg_stats {
	struct lg_series *s[LG_PHASE_MAX][LG_WL_COUNT][LG_TLS_COUNT];
	uint64_t conns_opened, handshakes, resumed, tickets;
	uint64_t waited_conn;   /* due with every connection busy */
	uint64_t late;          /* sent > LG_LATE_US after due with a free connection */
	uint64_t max_lag_us;
	uint64_t starved;       /* due with no signed assertion ready */
	uint64_t unsent;        /* still queued when the run ended */
	uint64_t lost;          /* values not recorded: out of memory */
	uint64_t drained;       /* answers after the schedule's end */
	struct hdr *drain;      /* how long after it they came (µs) */
};

/* The series of <ph, wl, tls>, made on first use (NULL: out of memory). */
struct lg_series *lg_series(struct lg_stats *st, int ph, int wl, int tls);
/* Record <v> in *<slot>, allocating the histogram on first use. */
void lg_hist_record(struct lg_stats *st, struct hdr **slot, uint64_t v);

/* Over every series: offered, answered, failed requests and 4xx/5xx
 * answers; every corrected latency merged into <all> if not NULL. */
struct lg_totals {
	uint64_t offered, answered, errors, refused;
	uint64_t completed;     /* answers within the schedule */
};
void lg_stats_totals(const struct lg_stats *st, struct lg_totals *t,
		     struct hdr *all);
/* Failed requests (not answers) of a series. */
uint64_t lg_series_errors(const struct lg_series *x);
/* The run summary's rule: over 1% of <offered> sends (and more than 10) late, or a lag over
 * 100 ms: the generator, not the server, was the limit. */
int lg_generator_behind(const struct lg_stats *st, uint64_t offered);

/* Statistics: start empty / free, add <src> into <dst>. */
int lg_stats_init(struct lg_stats *s);
void lg_stats_free(struct lg_stats *s);
void lg_stats_merge(struct lg_stats *dst, const struct lg_stats *src);

/* What the live line reads while a run goes on. */
struct lg_live {
	pthread_mutex_t lock;
	struct hdr hist;              /* corrected, every answer, this second */
	uint64_t offered, answered, errors, late; /* atomics */
};

struct lg_signer;
struct lg_tokens;

/* One engine thread (engine.c).  Fill <cfg>, <signer>, <index>, <t0_ns>,
 * then lg_engine_run (the thread body) and read <stats>. */
struct lg_engine {
	const struct lg_config *cfg;
	struct lg_signer *signer;
	struct lg_tokens *tokens;       /* sign workload: signers' tokens */
	int index;
	uint64_t t0_ns;               /* CLOCK_MONOTONIC start of the schedule */
	double end_s;                 /* when the run ended (s from t0) */
	double sched_end_s;           /* when its schedule ended or was stopped */
	struct lg_stats stats;
	struct lg_live live;
	int failed;                   /* setup failure (message printed) */
	int done;                     /* set (release) when the thread ends */
};
void *lg_engine_run(void *arg);

/* Set (by the SIGINT handler, with a relaxed atomic store) to end every
 * running schedule early: engines stop sending, wait up to a second for
 * the answers in flight, and end. */
extern int lg_stop;

/* Report (report.c): a human summary on stdout and, if <cfg>->json_path,
 * the JSON file.  <elapsed> is the run's length in seconds.  Each
 * phase x workload x TLS mode is a scenario of its own; with several
 * phases, each workload x TLS mode also gets a scenario "all". */
int lg_report(const struct lg_config *cfg, const struct lg_stats *st,
	      double elapsed);

uint64_t lg_now_ns(void);

#endif
