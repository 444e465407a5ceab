/*
 * engine.c - one open-loop engine thread: its share of the schedule, a
 * pool of non-blocking connections on one epoll instance (edge-triggered),
 * OpenSSL client TLS, and its statistics.
 *
 * A request is "due" at its intended time whether or not earlier ones
 * have finished.  Due requests queue in FIFO order for a free connection;
 * the corrected latency runs from the intended time to the last byte of
 * the answer, the uncorrected one from when a connection took the request
 * (for new-connection modes that includes connect and handshake).  A due
 * request that finds every connection busy is counted (waited_conn); one
 * that had a free connection but left late is the generator's own lag
 * (late, max_lag_us): both are reported so a client limit is never read
 * as a server limit.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../common/http.h"
#include "../common/result.h"
#include "loadgen.h"
#include "signer.h"
#include "tokens.h"

#define LG_LATE_US (LG_LATE_MS * 1000)
#define LG_IN_MAX (1u << 20)    /* largest answer read */
#define LG_OUT_MAX 8192
#define LG_HEAD_MAX 16384

enum lg_state { LG_CLOSED, LG_CONNECTING, LG_HANDSHAKE, LG_SEND, LG_RECV,
		LG_IDLE };

struct lg_req {
	double due;             /* intended time, s from t0 */
	int wl, tls, phase;
	int waited;             /* every connection was busy when due */
};

struct lg_conn {
	int fd;
	enum lg_state state;
	SSL *ssl;
	int mode;               /* the TLS mode it was opened for */
	unsigned uses;          /* requests on this connection */
	struct lg_req req;
	uint64_t start_ns;      /* when this connection took the request */
	int step;               /* sign: the call in progress */
	uint64_t step_ns;       /* sign: when that call was sent */
	struct lg_approval *sign;       /* sign: the request's approval */
	uint64_t deadline_ns;
	char out[LG_OUT_MAX];
	size_t out_len, out_off;
	char *in;
	size_t in_len, in_cap;
	int warming;            /* opened before the schedule: idle once ready */
};

struct lg_thread {
	struct lg_engine *e;
	const struct lg_config *cfg;
	int ep;
	SSL_CTX *ctx[LG_TLS_COUNT];     /* one per TLS mode in the mix */
	SSL_SESSION *session;   /* newest ticket, for resumed connections */
	struct lg_conn *conns;
	int nconns;
	int *free_idle, nidle;  /* connected, idle (keep-alive) */
	int warming;            /* connections opening before the schedule */
	int *free_closed, nclosed;
	struct lg_req *q;       /* due, waiting for a connection */
	size_t qhead, qlen, qcap;
	size_t inflight;
	uint64_t rng;
	char assertion[LG_ASSERTION_MAX];
	int have_assertion;
	struct lg_approval approval;
	int have_approval;
};

const char *const lg_workload_names[LG_WL_COUNT] = { "login", "sign", "jwks",
						      "http" };
const char *const lg_step_names[LG_STEP_COUNT] = { "credentials/authorize",
						   "signatures/signHash" };
const char *const lg_err_names[LG_ERR_COUNT] = {
	"connect_refused", "connect_error", "timeout", "reset", "tls",
	"closed", "bad_response",
};
const char *const lg_tls_names[LG_TLS_COUNT] = { "plain", "new", "resume",
						 "keepalive" };
int lg_stop;

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t lg_due_ns(const struct lg_thread *t, double due)
{
	return t->e->t0_ns + (uint64_t)(due * 1e9);
}

/* ---- TLS context ---------------------------------------------------------- */

/* OpenSSL calls this for every ticket the server sends; the newest one is
 * offered by the next connection in --tls resume. */
static int lg_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct lg_thread *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	SSL_SESSION_free(t->session);
	t->session = sess;
	t->e->stats.tickets++;
	return 1;       /* we keep the reference */
}

static SSL_CTX *lg_tls_ctx(struct lg_thread *t, int mode)
{
	const struct lg_config *cfg = t->cfg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_app_data(ctx, t);
	if (cfg->cacert) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->cacert, NULL) != 1) {
			fprintf(stderr, "idgate-load: cannot load --cacert %s\n",
				cfg->cacert);
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (mode == LG_TLS_RESUME) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
					       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, lg_new_session);
	} else {
		/* Every handshake full: no tickets asked for or kept. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	return ctx;
}

static int lg_tls_setup(struct lg_thread *t)
{
	for (int m = LG_TLS_NEW; m < LG_TLS_COUNT; m++)
		if (lg_tls_used(t->cfg, m) && !(t->ctx[m] = lg_tls_ctx(t, m)))
			return IG_EUSAGE;
	return IG_OK;
}

/* ---- requests ------------------------------------------------------------- */

static uint64_t lg_rand(struct lg_thread *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

/* Pick from cumulative weights <cum> (last = 1). */
static int lg_pick(struct lg_thread *t, const double *cum, int n)
{
	double u = (double)(lg_rand(t) >> 11) / 9007199254740992.0;
	int w;

	for (w = 0; w < n - 1; w++)
		if (u < cum[w])
			break;
	/* skip zero-weight tails */
	while (w > 0 && cum[w] == cum[w - 1])
		w--;
	return w;
}

/* Will this exchange be the connection's last?  A sign request's
 * authorize call never is: its signHash follows on the same connection. */
static int lg_last_use(const struct lg_thread *t, const struct lg_conn *c)
{
	const struct lg_config *cfg = t->cfg;

	if (c->req.wl == LG_WL_SIGN && c->step == LG_STEP_AUTHORIZE)
		return 0;
	if (c->mode == LG_TLS_NEW || c->mode == LG_TLS_RESUME)
		return 1;
	return cfg->keepalive_max && c->uses + 1 >= cfg->keepalive_max;
}

#define LG_OID_SHA256 "2.16.840.1.101.3.4.2.1"
#define LG_OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"

/* A sign request's call: credentials/authorize with the device's approval
 * (<sad> NULL), then signatures/signHash with the SAD it gave. */
static void lg_build_sign(struct lg_thread *t, struct lg_conn *c,
			  const char *conn_hdr, const char *sad)
{
	const struct lg_approval *a = c->sign;
	char body[LG_OUT_MAX / 2];
	int blen, n;

	if (!sad)
		blen = snprintf(body, sizeof(body),
			"{\"credentialID\":\"%s\",\"numSignatures\":%u,"
			"\"hashes\":%s,\"hashAlgorithmOID\":\"" LG_OID_SHA256 "\","
			"\"authData\":[{\"id\":\"device_assertion\",\"value\":"
			"\"%s\"}]}", a->cred, a->nhash, a->hashes, a->jws);
	else
		blen = snprintf(body, sizeof(body),
			"{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":%s,"
			"\"hashAlgorithmOID\":\"" LG_OID_SHA256 "\","
			"\"signAlgo\":\"" LG_OID_ECDSA_SHA256 "\"}", a->cred, sad,
			a->hashes);
	if (blen < 0 || blen >= (int)sizeof(body))
		blen = 0;       /* cannot happen with the sizes above */
	n = snprintf(c->out, sizeof(c->out),
		"POST /csc/v2/%s HTTP/1.1\r\nHost: %s\r\n"
		"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
		"Content-Length: %d\r\n%s\r\n%.*s", lg_step_names[c->step],
		t->cfg->url.authority, lg_token(t->e->tokens, a->slot), blen,
		conn_hdr, blen, body);
	c->out_len = n < (int)sizeof(c->out) ? (size_t)n : sizeof(c->out) - 1;
	c->out_off = 0;
	c->in_len = 0;
	c->step_ns = lg_now_ns();
}

static void lg_build_request(struct lg_thread *t, struct lg_conn *c)
{
	const struct lg_config *cfg = t->cfg;
	const char *conn_hdr = lg_last_use(t, c) ? "Connection: close\r\n" : "";
	int n;

	if (c->req.wl == LG_WL_LOGIN) {
		char body[LG_ASSERTION_MAX + 256];
		int blen = snprintf(body, sizeof(body),
			"grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type"
			"%%3Ajwt-bearer&assertion=%s%s%s", t->assertion,
			cfg->client_id ? "&client_id=" : "",
			cfg->client_id ? cfg->client_id : "");

		n = snprintf(c->out, sizeof(c->out),
			"POST /oauth2/token HTTP/1.1\r\nHost: %s\r\n"
			"Content-Type: application/x-www-form-urlencoded\r\n"
			"Content-Length: %d\r\n%s\r\n%s", cfg->url.authority, blen,
			conn_hdr, body);
		t->have_assertion = 0;
	} else if (c->req.wl == LG_WL_SIGN) {
		return lg_build_sign(t, c, conn_hdr, NULL);
	} else {
		n = snprintf(c->out, sizeof(c->out),
			"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
			c->req.wl == LG_WL_JWKS ? "/.well-known/jwks.json"
						: cfg->url.path,
			cfg->url.authority, conn_hdr);
	}
	c->out_len = n < (int)sizeof(c->out) ? (size_t)n : sizeof(c->out) - 1;
	c->out_off = 0;
	c->in_len = 0;
}

/* ---- connections ---------------------------------------------------------- */

static void lg_conn_close(struct lg_thread *t, struct lg_conn *c)
{
	if (c->ssl) {
		/* Send close_notify (one non-blocking try): OpenSSL marks the
		 * session of a connection freed without it not resumable,
		 * which would turn every --tls resume handshake into a full
		 * one. */
		if (SSL_is_init_finished(c->ssl))
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);   /* also removes it from the epoll set */
		c->fd = -1;
	}
	c->state = LG_CLOSED;
	c->uses = 0;
	t->free_closed[t->nclosed++] = (int)(c - t->conns);
}

static int lg_conn_open(struct lg_thread *t, struct lg_conn *c)
{
	const struct lg_url *u = &t->cfg->url;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	int one = 1;

	c->fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		       SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.data.ptr = c;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -errno;
	t->e->stats.conns_opened++;
	c->state = LG_CONNECTING;
	if (connect(c->fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0 &&
	    errno != EINPROGRESS)
		return -errno;
	return IG_OK;
}

static enum lg_err lg_errno_kind(int err, int connecting)
{
	if (err == ECONNREFUSED)
		return LG_ERR_REFUSED;
	if (connecting)
		return LG_ERR_CONNECT;
	if (err == ECONNRESET || err == EPIPE)
		return LG_ERR_RESET;
	return LG_ERR_CLOSED;
}

/* A request ended without an answer: count it, drop the connection. */
static void lg_fail(struct lg_thread *t, struct lg_conn *c, enum lg_err kind)
{
	struct lg_stats *st = &t->e->stats;

	if (c->warming) {
		/* Not a request: the run will open it again when needed. */
		c->warming = 0;
		t->warming--;
		lg_conn_close(t, c);
		return;
	}
	struct lg_series *ser = lg_series(st, c->req.phase, c->req.wl, c->req.tls);

	if (ser)
		ser->errors[kind]++;
	else
		st->lost++;
	__atomic_fetch_add(&t->e->live.errors, 1, __ATOMIC_RELAXED);
	t->inflight--;
	lg_conn_close(t, c);
}

/* Close the socket but keep the slot: the request goes on on a new
 * connection (the server closed after a sign request's first call). */
static void lg_conn_reopen(struct lg_thread *t, struct lg_conn *c)
{
	if (c->ssl) {
		if (SSL_is_init_finished(c->ssl))
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->uses = 0;
	if (lg_conn_open(t, c) < 0)
		lg_fail(t, c, LG_ERR_CONNECT);
}

/* The SAD of an authorize answer (JSON body of <len> bytes at <p>) into
 * <sad>; 0, or -1 if there is none. */
static int lg_sad(const char *p, size_t len, char *sad, size_t cap)
{
	json_t *root = json_loadb(p, len, 0, NULL);
	const char *v = json_string_value(json_object_get(root, "SAD"));
	int rc = -1;

	if (v && strlen(v) < cap && !strpbrk(v, "\"\\")) {
		strcpy(sad, v);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* Throughput is counted where answers come, not where they were due: in
 * the phase of their arrival, or after the schedule (the backlog drained
 * after its end, with how long after). */
static void lg_count_completion(struct lg_thread *t, const struct lg_conn *c,
				uint64_t now)
{
	const struct lg_config *cfg = t->cfg;
	struct lg_stats *st = &t->e->stats;
	uint64_t end = lg_due_ns(t, cfg->profile.duration);
	struct lg_series *x;

	if (now >= end) {
		st->drained++;
		lg_hist_record(st, &st->drain, (now - end) / 1000);
		return;
	}
	x = lg_series(st, lg_profile_phase(&cfg->profile,
					   (double)(now - t->e->t0_ns) / 1e9),
		      c->req.wl, c->req.tls);
	if (x)
		x->completed++;
	else
		st->lost++;
}

/*
 * An answer came (<status>, body at <body>, <blen> bytes; <keep>: the
 * connection may carry another request).  Returns 1 when the request is
 * over, 0 when it goes on (a sign request's signHash is now to be sent).
 */
static int lg_complete(struct lg_thread *t, struct lg_conn *c, int status,
		       int keep, const char *body, size_t blen)
{
	struct lg_stats *st = &t->e->stats;
	struct lg_series *ser = lg_series(st, c->req.phase, c->req.wl, c->req.tls);
	uint64_t now = lg_now_ns(), due = lg_due_ns(t, c->req.due);
	uint64_t corr = now > due ? (now - due) / 1000 : 0;
	uint64_t unc = (now - c->start_ns) / 1000;
	int cls = status / 100 - 1;

	if (!ser) {             /* lg_fail counts it as lost */
		lg_fail(t, c, LG_ERR_PROTO);
		return 1;
	}
	if (c->req.wl == LG_WL_SIGN) {
		char sad[512];

		lg_hist_record(st, &ser->step[c->step][cls],
			       (now - c->step_ns) / 1000);
		if (c->step == LG_STEP_AUTHORIZE && status == 200) {
			if (lg_sad(body, blen, sad, sizeof(sad)) < 0) {
				lg_fail(t, c, LG_ERR_PROTO);
				return 1;
			}
			c->step = LG_STEP_SIGNHASH;
			lg_build_sign(t, c, lg_last_use(t, c) ?
				      "Connection: close\r\n" : "", sad);
			if (keep) {
				c->state = LG_SEND;
			} else {
				lg_conn_reopen(t, c);
				if (c->state == LG_CLOSED)
					return 1;       /* failed and counted */
			}
			return 0;
		}
	}
	lg_hist_record(st, &ser->corr[cls], corr);
	lg_hist_record(st, &ser->uncorr[cls], unc);
	ser->status[status]++;
	ser->answered++;
	lg_count_completion(t, c, now);
	pthread_mutex_lock(&t->e->live.lock);
	hdr_record(&t->e->live.hist, corr);
	pthread_mutex_unlock(&t->e->live.lock);
	__atomic_fetch_add(&t->e->live.answered, 1, __ATOMIC_RELAXED);
	t->inflight--;
	c->uses++;
	if (keep && (c->mode == LG_TLS_KEEPALIVE || c->mode == LG_TLS_PLAIN) &&
	    !(t->cfg->keepalive_max && c->uses >= t->cfg->keepalive_max)) {
		c->state = LG_IDLE;
		t->free_idle[t->nidle++] = (int)(c - t->conns);
	} else {
		lg_conn_close(t, c);
	}
	return 1;
}

/* Did the TLS call fail for good?  Classify it. */
static enum lg_err lg_ssl_kind(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);

	ERR_clear_error();
	if (e == SSL_ERROR_SYSCALL)
		return errno == ECONNRESET || errno == EPIPE ? LG_ERR_RESET
							     : LG_ERR_CLOSED;
	if (e == SSL_ERROR_ZERO_RETURN)
		return LG_ERR_CLOSED;
	return LG_ERR_TLS;
}

/* Returns 1 when the request is over, 2 when it goes on with another
 * call, 0 for more input, a negative kind on failure. */
static int lg_parse_answer(struct lg_thread *t, struct lg_conn *c, int eof)
{
	struct http_response r;
	const char *why = NULL;
	int head = http_parse_response(c->in, c->in_len, LG_HEAD_MAX, &r, &why);

	if (head == HTTP_INCOMPLETE)
		return eof ? -(int)LG_ERR_CLOSED - 1 : 0;
	if (head < 0 || r.chunked || r.status < 100 || r.status > 599)
		return -(int)LG_ERR_PROTO - 1;
	if (!r.has_content_length) {
		/* The body runs to the close (RFC 9112 §6.3 rule 8). */
		if (!eof)
			return 0;
	} else if (c->in_len < (size_t)head + r.content_length) {
		return eof ? -(int)LG_ERR_CLOSED - 1 : 0;
	}
	return lg_complete(t, c, r.status, r.keep_alive && r.has_content_length,
			   c->in + head, c->in_len - (size_t)head) ? 1 : 2;
}

static int lg_grow_in(struct lg_conn *c)
{
	size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
	char *p;

	if (c->in_cap >= LG_IN_MAX)
		return -1;
	p = realloc(c->in, cap);
	if (!p)
		return -1;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

/* Drive one connection as far as it goes without blocking. */
/* A connection opened before the schedule is ready: it waits idle. */
static void lg_warmed(struct lg_thread *t, struct lg_conn *c)
{
	c->warming = 0;
	c->state = LG_IDLE;
	t->free_idle[t->nidle++] = (int)(c - t->conns);
	t->warming--;
}

static void lg_pump(struct lg_thread *t, struct lg_conn *c)
{
	for (;;) {
		ssize_t n;
		int rc, err = 0;
		socklen_t elen = sizeof(err);

		switch (c->state) {
		case LG_CONNECTING:
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return;
			if (err)
				return lg_fail(t, c, lg_errno_kind(err, 1));
			{
				/* no error yet: are we connected? */
				struct sockaddr_storage peer;
				socklen_t pl = sizeof(peer);

				if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) < 0)
					return;
			}
			if (!t->cfg->url.tls) {
				if (c->warming)
					return lg_warmed(t, c);
				c->state = LG_SEND;
				break;
			}
			c->ssl = SSL_new(t->ctx[c->mode]);
			if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
				return lg_fail(t, c, LG_ERR_TLS);
			/* RFC 6066 §3: no IP literals in server_name. */
			if (!t->cfg->url.ip_literal)
				SSL_set_tlsext_host_name(c->ssl, t->cfg->url.host);
			if (c->mode == LG_TLS_RESUME && t->session)
				SSL_set_session(c->ssl, t->session);
			SSL_set_connect_state(c->ssl);
			c->state = LG_HANDSHAKE;
			break;
		case LG_HANDSHAKE:
			rc = SSL_do_handshake(c->ssl);
			if (rc == 1) {
				t->e->stats.handshakes++;
				t->e->stats.resumed += SSL_session_reused(c->ssl);
				if (c->warming)
					return lg_warmed(t, c);
				c->state = LG_SEND;
				break;
			}
			rc = SSL_get_error(c->ssl, rc);
			if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE)
				return;
			return lg_fail(t, c, lg_ssl_kind(c->ssl, 0));
		case LG_SEND:
			if (c->ssl)
				n = SSL_write(c->ssl, c->out + c->out_off,
					      (int)(c->out_len - c->out_off));
			else
				n = send(c->fd, c->out + c->out_off,
					 c->out_len - c->out_off, MSG_NOSIGNAL);
			if (n <= 0) {
				if (c->ssl) {
					rc = SSL_get_error(c->ssl, (int)n);
					if (rc == SSL_ERROR_WANT_READ ||
					    rc == SSL_ERROR_WANT_WRITE)
						return;
					return lg_fail(t, c, lg_ssl_kind(c->ssl, (int)n));
				}
				if (errno == EAGAIN)
					return;
				return lg_fail(t, c, lg_errno_kind(errno, 0));
			}
			c->out_off += (size_t)n;
			if (c->out_off == c->out_len)
				c->state = LG_RECV;
			break;
		case LG_RECV:
			if (c->in_len == c->in_cap && lg_grow_in(c) < 0)
				return lg_fail(t, c, LG_ERR_PROTO);
			if (c->ssl) {
				n = SSL_read(c->ssl, c->in + c->in_len,
					     (int)(c->in_cap - c->in_len));
				if (n <= 0) {
					rc = SSL_get_error(c->ssl, (int)n);
					if (rc == SSL_ERROR_WANT_READ ||
					    rc == SSL_ERROR_WANT_WRITE)
						return;
					ERR_clear_error();
					if (rc != SSL_ERROR_ZERO_RETURN &&
					    !(rc == SSL_ERROR_SYSCALL && !errno))
						return lg_fail(t, c, lg_ssl_kind(c->ssl, (int)n));
					n = 0;
				}
			} else {
				n = recv(c->fd, c->in + c->in_len,
					 c->in_cap - c->in_len, 0);
				if (n < 0 && errno == EAGAIN)
					return;
				if (n < 0)
					return lg_fail(t, c, lg_errno_kind(errno, 0));
			}
			c->in_len += (size_t)n;
			rc = lg_parse_answer(t, c, n == 0);
			if (rc < 0)
				return lg_fail(t, c, (enum lg_err)(-rc - 1));
			if (rc == 1)
				return;
			break;
		case LG_IDLE: {
			/* Readable while idle: the server closed (idle timeout)
			 * or sent something unasked; either way drop it. */
			char b[256];

			if (c->ssl) {
				n = SSL_read(c->ssl, b, sizeof(b));
				if (n <= 0 && (SSL_get_error(c->ssl, (int)n) ==
					       SSL_ERROR_WANT_READ))
					return;
				ERR_clear_error();
			} else {
				n = recv(c->fd, b, sizeof(b), MSG_PEEK);
				if (n < 0 && errno == EAGAIN)
					return;
			}
			for (int i = 0; i < t->nidle; i++)
				if (t->free_idle[i] == (int)(c - t->conns)) {
					t->free_idle[i] = t->free_idle[--t->nidle];
					break;
				}
			lg_conn_close(t, c);
			return;
		}
		case LG_CLOSED:
			return;
		}
	}
}

/* ---- the schedule and dispatch --------------------------------------------- */

static int lg_queue_push(struct lg_thread *t, struct lg_req r)
{
	if (t->qlen == t->qcap) {
		size_t cap = t->qcap ? t->qcap * 2 : 1024;
		struct lg_req *q = malloc(cap * sizeof(*q));

		if (!q)
			return IG_ENOMEM;
		for (size_t i = 0; i < t->qlen; i++)
			q[i] = t->q[(t->qhead + i) % t->qcap];
		free(t->q);
		t->q = q;
		t->qhead = 0;
		t->qcap = cap;
	}
	t->q[(t->qhead + t->qlen++) % t->qcap] = r;
	return IG_OK;
}

/* The request's signed material, taken from the signer's pools: 0, or
 * -1 when the pool is dry (the request waits). */
static int lg_take_entry(struct lg_thread *t, int wl)
{
	if (wl == LG_WL_LOGIN && !t->have_assertion) {
		if (lg_signer_take(t->e->signer, LG_POOL_LOGIN, t->assertion) < 0)
			return -1;
		t->have_assertion = 1;
	} else if (wl == LG_WL_SIGN && !t->have_approval) {
		if (lg_signer_take(t->e->signer, LG_POOL_SIGN, &t->approval) < 0)
			return -1;
		t->have_approval = 1;
	}
	return 0;
}

/* A free connection for <r>: an idle keep-alive one for a keep-alive
 * request, else a closed slot (an idle connection is closed to make one
 * for a new-connection request).  NULL when every connection is busy. */
static struct lg_conn *lg_conn_for(struct lg_thread *t, const struct lg_req *r)
{
	int keep = r->tls == LG_TLS_KEEPALIVE || r->tls == LG_TLS_PLAIN;

	if (keep && t->nidle)
		return &t->conns[t->free_idle[--t->nidle]];
	if (!t->nclosed && t->nidle)
		lg_conn_close(t, &t->conns[t->free_idle[--t->nidle]]);
	if (!t->nclosed)
		return NULL;
	return &t->conns[t->free_closed[--t->nclosed]];
}

/* Hand queued requests to free connections, oldest first. */
static void lg_dispatch(struct lg_thread *t, uint64_t now)
{
	struct lg_stats *st = &t->e->stats;

	while (t->qlen) {
		struct lg_req *r = &t->q[t->qhead];
		struct lg_conn *c;
		uint64_t lag;

		if (!t->nidle && !t->nclosed)
			return;         /* counted when it became due */
		if (lg_take_entry(t, r->wl) < 0) {
			st->starved++;
			return;
		}
		c = lg_conn_for(t, r);
		c->req = *r;
		t->qhead = (t->qhead + 1) % t->qcap;
		t->qlen--;
		lag = now > lg_due_ns(t, c->req.due) ?
			(now - lg_due_ns(t, c->req.due)) / 1000 : 0;
		/* Only a request that had a connection free when due measures
		 * the generator: the others waited for the server. */
		if (lag > st->max_lag_us && !c->req.waited)
			st->max_lag_us = lag;
		if (lag > LG_LATE_US && !c->req.waited) {
			st->late++;
			__atomic_fetch_add(&t->e->live.late, 1, __ATOMIC_RELAXED);
		}
		t->inflight++;
		c->start_ns = now;
		c->deadline_ns = now + (uint64_t)(t->cfg->timeout * 1e9);
		c->step = 0;
		if (c->req.wl == LG_WL_SIGN) {
			if (!c->sign && !(c->sign = malloc(sizeof(*c->sign)))) {
				lg_fail(t, c, LG_ERR_CONNECT);
				continue;
			}
			*c->sign = t->approval;
			t->have_approval = 0;
		}
		if (c->state == LG_CLOSED)
			c->mode = c->req.tls;
		lg_build_request(t, c);
		if (c->state == LG_CLOSED) {
			int rc = lg_conn_open(t, c);

			if (rc < 0) {
				lg_fail(t, c, lg_errno_kind(-rc, 1));
				continue;
			}
		} else {
			c->state = LG_SEND;
		}
		lg_pump(t, c);
	}
}

/* Move every request whose intended time has come into the queue. */
static void lg_take_due(struct lg_thread *t, struct lg_sched *s, double *next,
			uint64_t now)
{
	struct lg_stats *st = &t->e->stats;

	while (*next >= 0 && lg_due_ns(t, *next) <= now) {
		struct lg_req r = {
			.due = *next, .wl = lg_pick(t, t->cfg->mix, LG_WL_COUNT),
			.tls = lg_pick(t, t->cfg->tls_mix, LG_TLS_COUNT),
			.phase = lg_profile_phase(&t->cfg->profile, *next),
		};
		struct lg_series *ser = lg_series(st, r.phase, r.wl, r.tls);

		if (ser)
			ser->offered++;
		else
			st->lost++;
		__atomic_fetch_add(&t->e->live.offered, 1, __ATOMIC_RELAXED);
		/* Busy if the requests queued ahead take every free one. */
		if (t->qlen >= (size_t)(t->nidle + t->nclosed)) {
			st->waited_conn++;
			r.waited = 1;
		}
		if (lg_queue_push(t, r) < 0 && ser)
			ser->errors[LG_ERR_CONNECT]++;
		*next = lg_sched_next(s);
	}
}

static void lg_expire(struct lg_thread *t, uint64_t now)
{
	for (int i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->state != LG_CLOSED && c->state != LG_IDLE &&
		    now >= c->deadline_ns)
			lg_fail(t, c, LG_ERR_TIMEOUT);
	}
}

static int lg_thread_setup(struct lg_thread *t, struct lg_engine *e)
{
	int n = e->cfg->connections / e->cfg->threads +
		(e->index < e->cfg->connections % e->cfg->threads);

	memset(t, 0, sizeof(*t));
	t->e = e;
	t->cfg = e->cfg;
	t->rng = 0x2545f4914f6cdd1dull * (uint64_t)(e->index + 1);
	t->nconns = n;
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	t->conns = calloc((size_t)n, sizeof(*t->conns));
	t->free_idle = calloc((size_t)n, sizeof(int));
	t->free_closed = calloc((size_t)n, sizeof(int));
	if (t->ep < 0 || !t->conns || !t->free_idle || !t->free_closed)
		return IG_ENOMEM;
	for (int i = n - 1; i >= 0; i--) {
		t->conns[i].fd = -1;
		t->free_closed[t->nclosed++] = i;
	}
	return t->cfg->url.tls ? lg_tls_setup(t) : IG_OK;
}

static void lg_thread_free(struct lg_thread *t)
{
	for (int i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->ssl)
			SSL_free(c->ssl);
		if (c->fd >= 0)
			close(c->fd);
		free(c->in);
		free(c->sign);
	}
	SSL_SESSION_free(t->session);
	for (int m = 0; m < LG_TLS_COUNT; m++)
		SSL_CTX_free(t->ctx[m]);
	if (t->ep >= 0)
		close(t->ep);
	free(t->conns);
	free(t->free_idle);
	free(t->free_closed);
	free(t->q);
}

static void lg_loop(struct lg_thread *t)
{
	const struct lg_config *cfg = t->cfg;
	struct lg_sched s;
	struct epoll_event evs[256];
	double next;
	uint64_t drain_end = 0, last_expire = 0;

	lg_sched_init(&s, &cfg->profile, 1.0 / cfg->threads, cfg->poisson,
		      0x9e3779b97f4a7c15ull ^ (uint64_t)t->e->index);
	next = lg_sched_next(&s);
	for (;;) {
		uint64_t now = lg_now_ns();
		struct timespec ts = { 0, 0 };
		int64_t wait;
		int n;

		lg_take_due(t, &s, &next, now);
		lg_dispatch(t, now);
		if (now - last_expire > 10000000) {
			lg_expire(t, now);
			last_expire = now;
		}
		if (next >= 0 && __atomic_load_n(&lg_stop, __ATOMIC_RELAXED)) {
			next = -1;      /* Ctrl-C: no more sends, a short drain */
			drain_end = now + (cfg->timeout < 1 ? (uint64_t)(cfg->timeout * 1e9)
							    : 1000000000ull);
		}
		if (next < 0) {
			/* Schedule over: wait for answers up to the timeout. */
			if (!drain_end)
				drain_end = now + (uint64_t)(cfg->timeout * 1e9);
			if (!t->e->sched_end_s)
				t->e->sched_end_s = (double)(now - t->e->t0_ns) / 1e9;
			if ((!t->inflight && !t->qlen) || now >= drain_end)
				break;
			wait = 10000000;
		} else {
			wait = (int64_t)(lg_due_ns(t, next) - now);
			if (wait > 10000000)
				wait = 10000000;  /* timeouts and live stats */
		}
		if (t->qlen && t->e->signer && (t->nidle || t->nclosed))
			wait = wait > 200000 ? 200000 : wait; /* signer refill */
		if (wait > 0) {
			ts.tv_sec = wait / 1000000000;
			ts.tv_nsec = wait % 1000000000;
		}
		n = epoll_pwait2(t->ep, evs, IG_ARRAY_LEN(evs), &ts, NULL);
		for (int i = 0; i < n; i++)
			lg_pump(t, evs[i].data.ptr);
	}
	t->e->stats.unsent = t->qlen;
	t->e->end_s = (double)(lg_now_ns() - t->e->t0_ns) / 1e9;
}

/*
 * --warm-up, keep-alive runs: open and handshake the pool before the schedule
 * starts, so no request of the measured window waits behind the burst of
 * handshakes a cold pool would cause (it would show as the server's
 * latency).  At most 5 s; the schedule then starts from now.
 */
static void lg_warm_up(struct lg_thread *t)
{
	uint64_t end = lg_now_ns() + 5000000000ull;
	struct epoll_event evs[256];

	const struct lg_config *cfg = t->cfg;
	int keep = lg_tls_used(cfg, LG_TLS_KEEPALIVE) ? LG_TLS_KEEPALIVE :
		   lg_tls_used(cfg, LG_TLS_PLAIN) ? LG_TLS_PLAIN : -1;
	/* With a mix, only the keep-alive share of the pool is warmed. */
	double share = keep < 0 ? 0 : cfg->tls_mix[keep] -
				      (keep ? cfg->tls_mix[keep - 1] : 0);
	int warm = (int)(t->nconns * share + 0.999);

	if (!cfg->warm_up || keep < 0)
		return;
	while (t->nclosed && warm-- > 0) {
		struct lg_conn *c = &t->conns[t->free_closed[--t->nclosed]];

		c->mode = keep;
		c->warming = 1;
		t->warming++;
		if (lg_conn_open(t, c) < 0) {
			c->warming = 0;
			t->warming--;
			lg_conn_close(t, c);
			break;
		}
	}
	while (t->warming > 0 && lg_now_ns() < end) {
		struct timespec ts = { 0, 10000000 };
		int n = epoll_pwait2(t->ep, evs, IG_ARRAY_LEN(evs), &ts, NULL);

		for (int i = 0; i < n; i++)
			lg_pump(t, evs[i].data.ptr);
	}
	t->e->t0_ns = lg_now_ns();
}

void *lg_engine_run(void *arg)
{
	struct lg_engine *e = arg;
	struct lg_thread t;

	if (lg_thread_setup(&t, e) < 0) {
		e->failed = 1;
	} else {
		lg_warm_up(&t);
		lg_loop(&t);
	}
	lg_thread_free(&t);
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
	return NULL;
}
