/*
 * metrics.h - per-worker counters, summed by the admin thread for
 * GET /metrics (Prometheus text format 0.0.4).
 *
 * Each worker writes only its own struct metrics, with plain single-writer
 * relaxed atomic stores (no lock prefix, no sharing of cache lines between
 * workers); the admin thread reads them with relaxed loads.
 */
#ifndef IG_METRICS_H
#define IG_METRICS_H
#include <stdint.h>

#include "../common/buf.h"

enum endpoint {
	EP_TOKEN, EP_JWKS, EP_DISCOVERY, EP_ENROL, EP_REVOKE, EP_HEALTHZ,
	EP_READYZ, EP_METRICS, EP_HSM_STATUS, EP_CSC, EP_CSC_AUTHORIZE,
	EP_CSC_SIGN, EP_SC_CREATE, EP_SC_REVOKE, EP_OTHER, EP_COUNT
};
extern const char *const endpoint_names[EP_COUNT];

#define M_NSTATUS 16
extern const uint16_t metrics_statuses[M_NSTATUS]; /* last slot: other */
#define M_NBUCKETS 16
extern const uint32_t metrics_bounds_us[M_NBUCKETS]; /* last: +Inf */

/* A connection's timers: one of the first five at a time (c->t) and the
 * send timer beside it (c->ts) while output waits for its peer. */
enum timeout_kind { TO_HANDSHAKE, TO_HEADER, TO_BODY, TO_IDLE, TO_LINGER, TO_SEND,
		    TO_COUNT };

/* What a fault-injecting DPDK worker did to TCP frames (dpdk.fault). */
enum fault_action { FAULT_DROP, FAULT_DUP, FAULT_REORDER, FAULT_COUNT };

/*
 * The DPDK backend's counters.  Its userspace stack's struct us_stats is
 * single-thread data: the worker copies it here, field by field (it is
 * nothing but uint64_t), at most every 100 ms; metrics.c knows the
 * fields' names.  Zero on io_uring workers.
 */
#define M_US_STATS_MAX 64
struct ustack_metrics {
	uint64_t us[M_US_STATS_MAX];    /* struct us_stats */
	uint64_t multi_segment;         /* frames dropped: more than one mbuf */
	uint64_t tx_dropped;            /* frames the device did not take */
	uint64_t fault[FAULT_COUNT];
	uint64_t socks, time_waits, buffer_bytes; /* gauges */
};

struct metrics {
	uint64_t requests[EP_COUNT][M_NSTATUS];
	uint64_t latency[EP_COUNT][M_NBUCKETS]; /* per bucket, not cumulative */
	uint64_t latency_sum_us[EP_COUNT];
	uint64_t handshakes_full, handshakes_resumed, handshake_errors;
	uint64_t tls_key_updates_refused;       /* RFC 8446 §4.6.3, tls.c */
	uint64_t conns_accepted, conns_refused, conns_open;
	uint64_t conns_cut;             /* sent far past the input pause */
	uint64_t timeouts[TO_COUNT];
	uint64_t shed_hsm_queue, rate_limited, bad_requests;
	uint64_t credential_limited;     /* 429: one credential over its rate */
	uint64_t audit_refused;         /* signHash records the audit log failed */
	struct ustack_metrics us;
} __attribute__((aligned(64)));

#define M_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define M_INC(field) M_ADD(field, 1)
#define M_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define M_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void metrics_request(struct metrics *m, enum endpoint ep, int status,
		     uint64_t latency_us);

struct server;
/* Render every worker's metrics, the HSM's and the store's into <out>. */
int metrics_render(struct server *srv, struct buf *out);

#endif
