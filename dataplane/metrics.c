/*
 * metrics.c - Prometheus text exposition of the workers', the HSM engine's
 * and the store's counters.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>

#include "credrate.h"
#include "replay.h"
#include "server.h"
#include "store.h"
#include "ustack/stack.h"

const char *const endpoint_names[EP_COUNT] = {
	"token", "jwks", "discovery", "enrol", "revoke", "healthz", "readyz",
	"metrics", "hsm_status", "csc", "csc_authorize", "csc_sign_hash",
	"signing_credential_create", "signing_credential_revoke", "other",
};
const uint16_t metrics_statuses[M_NSTATUS] = {
	200, 201, 204, 400, 401, 404, 405, 408, 409, 413, 415, 417, 429, 500, 503, 0,
};
const uint32_t metrics_bounds_us[M_NBUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 10000000, UINT32_MAX,
};

void metrics_request(struct metrics *m, enum endpoint ep, int status,
		     uint64_t latency_us)
{
	int s = M_NSTATUS - 1, b = 0;

	for (int i = 0; i < M_NSTATUS - 1; i++)
		if (metrics_statuses[i] == status) {
			s = i;
			break;
		}
	while (b < M_NBUCKETS - 1 && latency_us > metrics_bounds_us[b])
		b++;
	M_INC(m->requests[ep][s]);
	M_INC(m->latency[ep][b]);
	M_ADD(m->latency_sum_us[ep], latency_us);
}

static int put(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int put(struct buf *b, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line))
		return IG_EINTERNAL;
	return buf_append(b, line, (size_t)n, 16u << 20);
}

#define SUM(field)                                                             \
	({                                                                     \
		uint64_t s_ = 0;                                               \
		for (unsigned i_ = 0; i_ <= srv->nworkers; i_++)               \
			s_ += M_LOAD(srv->workers[i_]->m.field);               \
		s_;                                                            \
	})

/* The fields of struct us_stats that are TCP (and ARP, ICMP) events: all
 * but the frame counts and the drops, which have metrics of their own. */
#define US_IDX(f) (offsetof(struct us_stats, f) / sizeof(uint64_t))
#define US_EVENT(f) { #f, US_IDX(f) }
static const struct { const char *name; size_t idx; } us_events[] = {
	US_EVENT(tx_nobuf), US_EVENT(arp_replies), US_EVENT(arp_ignored),
	US_EVENT(icmp_echo), US_EVENT(syn_rcvd), US_EVENT(syn_cookies_sent),
	US_EVENT(cookies_ok), US_EVENT(cookies_bad), US_EVENT(syn_dropped),
	US_EVENT(accepted), US_EVENT(refused), US_EVENT(rst_sent),
	US_EVENT(rst_rcvd), US_EVENT(challenge_acks), US_EVENT(out_of_window),
	US_EVENT(bad_ack), US_EVENT(port_closed), US_EVENT(retransmits),
	US_EVENT(fast_retransmits), US_EVENT(timeouts), US_EVENT(zero_window_probes),
	US_EVENT(ooo_segments), US_EVENT(dup_segments), US_EVENT(time_wait_recycled),
	US_EVENT(sock_timeouts), US_EVENT(fin_wait_timeouts), US_EVENT(orphan_timeouts),
};
/* A field added to struct us_stats must be named above (or below). */
_Static_assert(sizeof(struct us_stats) ==
	       (IG_ARRAY_LEN(us_events) + 3 + US_DROP_COUNT) * sizeof(uint64_t),
	       "struct us_stats has a field metrics.c does not render");
_Static_assert(sizeof(struct us_stats) <= M_US_STATS_MAX * sizeof(uint64_t),
	       "M_US_STATS_MAX is too small for struct us_stats");

static const char *const fault_names[FAULT_COUNT] = { "drop", "dup", "reorder" };

/* The DPDK backend's userspace stacks, summed over the workers. */
static int render_ustack(struct server *srv, struct buf *out)
{
	IG_GUARD(put(out, "# HELP idgate_ustack_frames_total Ethernet frames through the "
		     "userspace TCP/IP stacks.\n# TYPE idgate_ustack_frames_total counter\n"
		     "idgate_ustack_frames_total{dir=\"rx\"} %llu\n"
		     "idgate_ustack_frames_total{dir=\"tx\"} %llu\n",
		     (unsigned long long)SUM(us.us[US_IDX(rx_frames)]),
		     (unsigned long long)SUM(us.us[US_IDX(tx_frames)])));
	IG_GUARD(put(out, "# HELP idgate_ustack_drops_total Received frames dropped, by "
		     "reason.\n# TYPE idgate_ustack_drops_total counter\n"));
	for (size_t i = 1; i < US_DROP_COUNT; i++)
		IG_GUARD(put(out, "idgate_ustack_drops_total{reason=\"%s\"} %llu\n",
			     us_drop_names[i],
			     (unsigned long long)SUM(us.us[US_IDX(drop) + i])));
	IG_GUARD(put(out, "idgate_ustack_drops_total{reason=\"not_ours\"} %llu\n"
		     "idgate_ustack_drops_total{reason=\"multi_segment\"} %llu\n",
		     (unsigned long long)SUM(us.us[US_IDX(drop_not_ours)]),
		     (unsigned long long)SUM(us.multi_segment)));
	IG_GUARD(put(out, "# HELP idgate_ustack_tcp_total Events of the userspace stacks' "
		     "TCP, ARP and ICMP.\n# TYPE idgate_ustack_tcp_total counter\n"));
	for (size_t i = 0; i < IG_ARRAY_LEN(us_events); i++)
		IG_GUARD(put(out, "idgate_ustack_tcp_total{event=\"%s\"} %llu\n",
			     us_events[i].name,
			     (unsigned long long)SUM(us.us[us_events[i].idx])));
	IG_GUARD(put(out, "# TYPE idgate_ustack_sockets gauge\nidgate_ustack_sockets %llu\n"
		     "# TYPE idgate_ustack_time_wait gauge\nidgate_ustack_time_wait %llu\n"
		     "# HELP idgate_ustack_buffer_bytes Socket buffers allocated.\n"
		     "# TYPE idgate_ustack_buffer_bytes gauge\nidgate_ustack_buffer_bytes %llu\n",
		     (unsigned long long)SUM(us.socks),
		     (unsigned long long)SUM(us.time_waits),
		     (unsigned long long)SUM(us.buffer_bytes)));
	IG_GUARD(put(out, "# HELP idgate_dpdk_tx_dropped_total Frames the device's TX queue "
		     "did not take.\n# TYPE idgate_dpdk_tx_dropped_total counter\n"
		     "idgate_dpdk_tx_dropped_total %llu\n",
		     (unsigned long long)SUM(us.tx_dropped)));
	IG_GUARD(put(out, "# HELP idgate_dpdk_fault_total TCP frames the dpdk.fault test hook "
		     "dropped, duplicated or reordered.\n# TYPE idgate_dpdk_fault_total counter\n"));
	for (int a = 0; a < FAULT_COUNT; a++)
		IG_GUARD(put(out, "idgate_dpdk_fault_total{action=\"%s\"} %llu\n",
			     fault_names[a], (unsigned long long)SUM(us.fault[a])));
	return IG_OK;
}

int metrics_render(struct server *srv, struct buf *out)
{
	struct hsm_stats hs;

	IG_GUARD(put(out, "# HELP idgate_requests_total Requests by endpoint and status.\n"
		 "# TYPE idgate_requests_total counter\n"));
	for (int e = 0; e < EP_COUNT; e++)
		for (int s = 0; s < M_NSTATUS; s++) {
			uint64_t v = SUM(requests[e][s]);
			char code[8] = "other";

			if (!v)
				continue;
			if (metrics_statuses[s])
				snprintf(code, sizeof(code), "%u", metrics_statuses[s]);
			IG_GUARD(put(out, "idgate_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n",
				     endpoint_names[e], code, (unsigned long long)v));
		}
	IG_GUARD(put(out, "# HELP idgate_request_duration_seconds Time from a request's "
		 "arrival to its response being queued.\n"
		 "# TYPE idgate_request_duration_seconds histogram\n"));
	for (int e = 0; e < EP_COUNT; e++) {
		uint64_t cum = 0;

		for (int b = 0; b < M_NBUCKETS; b++) {
			cum += SUM(latency[e][b]);
			if (b == M_NBUCKETS - 1)
				IG_GUARD(put(out, "idgate_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
					     endpoint_names[e], (unsigned long long)cum));
			else
				IG_GUARD(put(out, "idgate_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
					     endpoint_names[e], metrics_bounds_us[b] / 1e6,
					     (unsigned long long)cum));
		}
		IG_GUARD(put(out, "idgate_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n"
			     "idgate_request_duration_seconds_count{endpoint=\"%s\"} %llu\n",
			     endpoint_names[e], SUM(latency_sum_us[e]) / 1e6, endpoint_names[e],
			     (unsigned long long)cum));
	}
	IG_GUARD(put(out, "# TYPE idgate_tls_handshakes_total counter\n"
		     "idgate_tls_handshakes_total{kind=\"full\"} %llu\n"
		     "idgate_tls_handshakes_total{kind=\"resumed\"} %llu\n"
		     "idgate_tls_handshakes_total{kind=\"failed\"} %llu\n",
		     (unsigned long long)SUM(handshakes_full),
		     (unsigned long long)SUM(handshakes_resumed),
		     (unsigned long long)SUM(handshake_errors)));
	IG_GUARD(put(out, "# HELP idgate_tls_key_updates_refused_total TLS 1.3 KeyUpdate "
		     "messages answered with a fatal unexpected_message alert (RFC 8446 §4.6.3; "
		     "mbedTLS 3.6 cannot update traffic keys).\n"
		     "# TYPE idgate_tls_key_updates_refused_total counter\n"
		     "idgate_tls_key_updates_refused_total %llu\n",
		     (unsigned long long)SUM(tls_key_updates_refused)));
	IG_GUARD(put(out, "# TYPE idgate_connections_total counter\n"
		     "idgate_connections_total{result=\"accepted\"} %llu\n"
		     "idgate_connections_total{result=\"refused_limit\"} %llu\n"
		     "# TYPE idgate_connections_open gauge\nidgate_connections_open %llu\n"
		     "# HELP idgate_connections_cut_total Connections closed because their "
		     "client sent far past the pause of its input (ignoring flow control).\n"
		     "# TYPE idgate_connections_cut_total counter\n"
		     "idgate_connections_cut_total %llu\n",
		     (unsigned long long)SUM(conns_accepted),
		     (unsigned long long)SUM(conns_refused),
		     (unsigned long long)SUM(conns_open),
		     (unsigned long long)SUM(conns_cut)));
	IG_GUARD(put(out, "# HELP idgate_timeouts_total Connections closed (or answered 408) "
		     "because a timer of this kind expired.\n"
		     "# TYPE idgate_timeouts_total counter\n"
		     "idgate_timeouts_total{kind=\"handshake\"} %llu\n"
		     "idgate_timeouts_total{kind=\"header\"} %llu\n"
		     "idgate_timeouts_total{kind=\"body\"} %llu\n"
		     "idgate_timeouts_total{kind=\"idle\"} %llu\n"
		     "idgate_timeouts_total{kind=\"linger\"} %llu\n"
		     "idgate_timeouts_total{kind=\"send\"} %llu\n",
		     (unsigned long long)SUM(timeouts[TO_HANDSHAKE]),
		     (unsigned long long)SUM(timeouts[TO_HEADER]),
		     (unsigned long long)SUM(timeouts[TO_BODY]),
		     (unsigned long long)SUM(timeouts[TO_IDLE]),
		     (unsigned long long)SUM(timeouts[TO_LINGER]),
		     (unsigned long long)SUM(timeouts[TO_SEND])));
	IG_GUARD(put(out, "# HELP idgate_requests_shed_total Requests answered 503 at once "
		     "because the signing queue was full or no HSM was up.\n"
		     "# TYPE idgate_requests_shed_total counter\nidgate_requests_shed_total %llu\n"
		     "# TYPE idgate_rate_limited_total counter\nidgate_rate_limited_total %llu\n"
		     "# TYPE idgate_bad_requests_total counter\nidgate_bad_requests_total %llu\n",
		     (unsigned long long)SUM(shed_hsm_queue),
		     (unsigned long long)SUM(rate_limited),
		     (unsigned long long)SUM(bad_requests)));
	IG_GUARD(put(out, "# HELP idgate_credential_limited_total Logins and approvals refused "
		     "(429) because their device credential was over its rate.\n"
		     "# TYPE idgate_credential_limited_total counter\n"
		     "idgate_credential_limited_total %llu\n"
		     "# HELP idgate_credential_rate_overflows_total Requests let through unlimited "
		     "because the per-credential table was full of busy credentials.\n"
		     "# TYPE idgate_credential_rate_overflows_total counter\n"
		     "idgate_credential_rate_overflows_total %llu\n"
		     "# HELP idgate_replay_slots Single-use records the replay cache can hold.\n"
		     "# TYPE idgate_replay_slots gauge\nidgate_replay_slots %zu\n"
		     "# HELP idgate_replay_entries Live single-use records (counted each second).\n"
		     "# TYPE idgate_replay_entries gauge\nidgate_replay_entries %zu\n",
		     (unsigned long long)SUM(credential_limited),
		     (unsigned long long)credrate_overflows(srv->credrate),
		     replay_slots(srv->replay), atomic_load(&srv->replay_live)));
	IG_GUARD(put(out, "# HELP idgate_csc_audit_failed_total signHash calls whose audit "
		     "record the log could not take or make durable (no signature returned).\n"
		     "# TYPE idgate_csc_audit_failed_total counter\n"
		     "idgate_csc_audit_failed_total %llu\n",
		     (unsigned long long)SUM(audit_refused)));

	hsm_get_stats(srv->hsm, &hs);
	IG_GUARD(put(out, "# TYPE idgate_hsm_operations_total counter\n"
		     "idgate_hsm_operations_total{result=\"ok\"} %llu\n"
		     "idgate_hsm_operations_total{result=\"error\"} %llu\n"
		     "idgate_hsm_operations_total{result=\"rejected_queue_full\"} %llu\n"
		     "# TYPE idgate_hsm_in_flight gauge\nidgate_hsm_in_flight %llu\n"
		     "# TYPE idgate_hsm_queue_depth gauge\nidgate_hsm_queue_depth %llu\n"
		     "# TYPE idgate_hsm_ready gauge\nidgate_hsm_ready %d\n",
		     (unsigned long long)hs.completed_ok, (unsigned long long)hs.completed_err,
		     (unsigned long long)hs.rejected_full, (unsigned long long)hs.in_flight,
		     (unsigned long long)hs.queue_depth, hsm_ready(srv->hsm)));
	IG_GUARD(put(out, "# TYPE idgate_hsm_latency_seconds histogram\n"));
	for (int b = 0; b < 16; b++)
		IG_GUARD(put(out, "idgate_hsm_latency_seconds_bucket{le=\"%g\"} %llu\n",
			     HSM_LATENCY_BOUNDS_US[b] / 1e6,
			     (unsigned long long)hs.latency_buckets[b]));
	IG_GUARD(put(out, "idgate_hsm_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
		     "idgate_hsm_latency_seconds_sum %.6f\n"
		     "idgate_hsm_latency_seconds_count %llu\n",
		     (unsigned long long)(hs.completed_ok + hs.completed_err),
		     hs.latency_us_sum / 1e6,
		     (unsigned long long)(hs.completed_ok + hs.completed_err)));
	IG_GUARD(put(out, "# HELP idgate_hsm_device_operations_total Operations per HSM of the "
		     "pool by result.\n# TYPE idgate_hsm_device_operations_total counter\n"));
	for (unsigned d = 0; d < hsm_ndevices(srv->hsm); d++) {
		struct hsm_device_stats ds;
		const char *n = hsm_device_name(srv->hsm, d);

		hsm_get_device_stats(srv->hsm, d, &ds);
		for (int r = 0; r < HSM_R_COUNT; r++)
			IG_GUARD(put(out, "idgate_hsm_device_operations_total{hsm=\"%s\",result=\"%s\"} %llu\n",
				     n, hsm_result_names[r], (unsigned long long)ds.results[r]));
		IG_GUARD(put(out, "idgate_hsm_device_ready{hsm=\"%s\"} %d\n"
			     "idgate_hsm_device_outstanding{hsm=\"%s\"} %llu\n"
			     "idgate_hsm_device_queue_depth{hsm=\"%s\"} %llu\n"
			     "idgate_hsm_device_transitions_total{hsm=\"%s\"} %llu\n"
			     "idgate_hsm_device_latency_seconds_sum{hsm=\"%s\"} %.6f\n"
			     "idgate_hsm_device_latency_seconds_count{hsm=\"%s\"} %llu\n",
			     n, ds.ready, n, (unsigned long long)ds.outstanding, n,
			     (unsigned long long)ds.queue_depth, n,
			     (unsigned long long)ds.transitions, n, ds.latency_us_sum / 1e6, n,
			     (unsigned long long)ds.latency_count));
		IG_GUARD(put(out, "idgate_hsm_device_threads_replaced_total{hsm=\"%s\"} %llu\n"
			     "idgate_hsm_device_threads_stuck{hsm=\"%s\"} %llu\n"
			     "idgate_hsm_device_reinits_total{hsm=\"%s\"} %llu\n",
			     n, (unsigned long long)ds.replaced, n,
			     (unsigned long long)ds.stuck, n, (unsigned long long)ds.reinits));
	}
	IG_GUARD(put(out, "# TYPE idgate_credentials gauge\nidgate_credentials %llu\n",
		     (unsigned long long)store_count(srv->store)));
	if (srv->cfg.backend == BACKEND_DPDK)
		IG_GUARD(render_ustack(srv, out));
	return IG_OK;
}
