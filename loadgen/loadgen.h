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

enum lg_tls_mode { LG_TLS_PLAIN, LG_TLS_NEW, LG_TLS_RESUME, LG_TLS_KEEPALIVE };
enum lg_workload { LG_WL_LOGIN, LG_WL_JWKS, LG_WL_HTTP, LG_WL_COUNT };
#define LG_CLASS_COUNT 5                /* 1xx .. 5xx */

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
extern const char *const lg_tls_names[];

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
	enum lg_tls_mode tls;
	unsigned keepalive_max;       /* requests per connection, 0 = no limit */
	double timeout;               /* s */
	double mix[LG_WL_COUNT];      /* cumulative weights, last = 1 */
	const char *cacert;           /* NULL: no verification */
	const char *client_id;
	const char *json_path;
	int quiet;
	char aud[1400];
};

struct lg_stats {
	struct hdr corr[LG_WL_COUNT][LG_CLASS_COUNT];   /* from intended time */
	struct hdr uncorr[LG_WL_COUNT][LG_CLASS_COUNT]; /* from actual send */
	uint64_t offered[LG_WL_COUNT];    /* scheduled */
	uint64_t answered[LG_WL_COUNT];   /* complete HTTP answers */
	uint64_t errors[LG_WL_COUNT][LG_ERR_COUNT];
	uint64_t status[LG_WL_COUNT][600];
	uint64_t conns_opened, handshakes, resumed, tickets;
	uint64_t waited_conn;   /* due with every connection busy */
	uint64_t late;          /* sent > LG_LATE_US after due with a free connection */
	uint64_t max_lag_us;
	uint64_t starved;       /* due with no signed assertion ready */
	uint64_t unsent;        /* still queued when the run ended */
};

/* Statistics: allocate / free the histograms, add <src> into <dst>. */
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

/* One engine thread (engine.c).  Fill <cfg>, <signer>, <index>, <t0_ns>,
 * then lg_engine_run (the thread body) and read <stats>. */
struct lg_engine {
	const struct lg_config *cfg;
	struct lg_signer *signer;
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
 * the JSON file.  <elapsed> is the run's length in seconds. */
int lg_report(const struct lg_config *cfg, const struct lg_stats *st,
	      double elapsed);

uint64_t lg_now_ns(void);

#endif
