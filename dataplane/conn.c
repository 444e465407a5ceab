/*
 * conn.c - the connection layer: TLS, HTTP/1.1 framing, timeouts and
 * responses for one worker's connections.  Sans-I/O: the backend hands in
 * received bytes (conn_input) and send completions (conn_sent) and takes
 * bytes to send from c->out (w->ops->flush).
 *
 * Keep-alive and pipelining: requests are answered strictly in order; while
 * one waits for the HSM the rest stay buffered, and input is paused when too
 * much is buffered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "ratelimit.h"
#include "csc.h"
#include "server.h"

/* Ciphertext buffered beyond what the plaintext buffer can take pauses
 * receiving (pipelining clients); so does unsent output. */
#define RAW_PAUSE (64u << 10)
#define OUT_PAUSE (64u << 10)
#define OUT_LIMIT (256u << 20)
#define RECV_SLACK (256u << 10)

static void conn_pump(struct conn *c, int got_input);
static void conn_flush(struct conn *c);

/* Response bytes queued and not yet taken by the peer. */
static size_t conn_outq(const struct conn *c)
{
	return buf_avail(&c->out) + buf_avail(&c->out_next);
}

/* ---- timers: one FIFO list per fixed timeout ----------------------------
 * Every timeout of a kind has the same length, so appending at the tail
 * keeps each list sorted by deadline: arming, disarming and expiring are
 * O(1), which is all a timer wheel would give, with no tick granularity.
 *
 * A connection is always on one list of c->t's kinds unless it waits for
 * the HSM (whose deadline bounds that wait) or is closing: the handshake
 * timer from accept, the header timer from a request's first byte, the
 * body timer for an admin body once its head was accepted, the idle timer
 * between requests, the linger timer after the last response.  Beside it,
 * c->ts is armed whenever output waits to be taken by the peer, in every
 * state: a client that stops reading is cut after send_timeout_ms without
 * progress, whatever else it does. */

static void timer_unset(struct conn_timer *t)
{
	if (t->kind < 0)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->kind = -1;
}

static void timer_set(struct conn *c, struct conn_timer *t, enum timeout_kind k)
{
	struct worker *w = c->w;
	struct conn_timer *head = &w->tlist[k];

	timer_unset(t);
	t->kind = (int8_t)k;
	t->deadline_ns = w->now_ns + w->timeout_ns[k];
	t->next = head;
	t->prev = head->prev;
	head->prev->next = t;
	head->prev = t;
}

static struct conn *timer_conn(struct conn_timer *t, int k)
{
	if (k == TO_SEND)
		return (struct conn *)((char *)t - offsetof(struct conn, ts));
	return (struct conn *)((char *)t - offsetof(struct conn, t));
}

/* Output is queued at the backend: watch that the peer takes it.  Armed
 * once per send; conn_sent (all taken) disarms it. */
static void send_watch(struct conn *c)
{
	if (c->send_inflight && c->ts.kind < 0) {
		timer_set(c, &c->ts, TO_SEND);
		c->send_mark = c->out.off;
	}
}

void worker_clock(struct worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	w->now_s = ts.tv_sec;
	if (w->now_s != w->date_s) {
		struct tm tm;
		time_t t = w->now_s;

		gmtime_r(&t, &tm);
		strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		w->date_s = w->now_s;
	}
}

uint64_t worker_next_deadline(struct worker *w)
{
	uint64_t d = UINT64_MAX;

	for (int k = 0; k < TO_COUNT; k++) {
		struct conn_timer *first = w->tlist[k].next;

		if (first != &w->tlist[k] && first->deadline_ns < d)
			d = first->deadline_ns;
	}
	return d;
}

/* A timer of kind <k> of <c> expired. */
static void conn_expire(struct conn *c, int k)
{
	struct worker *w = c->w;

	if (k == TO_SEND && c->send_inflight && c->out.off != c->send_mark) {
		/* The peer took part of it (a short send): progress. */
		timer_set(c, &c->ts, TO_SEND);
		c->send_mark = c->out.off;
		return;
	}
	M_INC(w->m.timeouts[k]);
	if ((k == TO_HEADER || k == TO_BODY) && (!c->tls_on || c->tls.handshake_done) &&
	    !c->close_after_send) {
		/* RFC 9110 §15.5.9: tell the client why, then close once it
		 * is sent (the send timer and lingering bound that). */
		resp_error(c, EP_OTHER, w->now_ns, 408, "request_timeout",
			   "request not received in time", NULL, 0);
		conn_flush(c);
	} else {
		if (k == TO_SEND)
			log_debug("fd %d: the peer took no output for %llu ms: closed", c->fd,
				  (unsigned long long)(w->timeout_ns[k] / 1000000));
		conn_close(c); /* a lingering one is aborted: its peer never closed */
	}
}

void worker_tick(struct worker *w)
{
	for (int k = 0; k < TO_COUNT; k++) {
		struct conn_timer *t;

		while ((t = w->tlist[k].next) != &w->tlist[k] && t->deadline_ns <= w->now_ns) {
			timer_unset(t);
			conn_expire(timer_conn(t, k), k);
		}
	}
	if (!w->admin)
		tls_server_tick(&w->tls, w->now_s);
}

/* ---- connection life ---------------------------------------------------- */

static struct buf *wbuf(struct conn *c)
{
	return c->send_inflight ? &c->out_next : &c->out;
}

struct conn *conn_open(struct worker *w, int fd)
{
	struct conn *c;

	if (w->nconns >= w->srv->cfg.max_conns) {
		M_INC(w->m.conns_refused);
		return NULL;
	}
	c = w->free_conns;
	if (c) {
		w->free_conns = c->next_free;
	} else {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->pend = calloc(1, sizeof(*c->pend)); /* pend->csc NULL */
		if (!c->pend) {
			free(c);
			return NULL;
		}
		c->t.kind = c->ts.kind = -1;
		c->next_all = w->all_conns;
		w->all_conns = c;
	}
	c->w = w;
	c->fd = fd;
	c->refs = 0;
	c->closing = c->close_after_send = c->waiting = 0;
	c->recv_armed = c->send_inflight = c->recv_paused = c->peer_eof = 0;
	c->lingering = 0;
	c->continue_sent = 0;
	c->served = 0;
	c->pend->resume = NULL;
	c->gen++;
	c->addr_len = 0;
	c->raw.off = c->raw.len = 0;
	c->in.off = c->in.len = 0;
	c->out.off = c->out.len = 0;
	c->out_next.off = c->out_next.len = 0;
	c->tls_on = !w->admin;
	if (c->tls_on && tls_conn_start(&w->tls, &c->tls, &c->raw, &c->out) < 0) {
		c->fd = -1; /* the caller closes it */
		c->next_free = w->free_conns;
		w->free_conns = c;
		return NULL;
	}
	w->nconns++;
	M_INC(w->m.conns_accepted);
	M_ADD(w->m.conns_open, 1);
	timer_set(c, &c->t, c->tls_on ? TO_HANDSHAKE : TO_IDLE);
	return c;
}

void conn_close(struct conn *c)
{
	if (c->lingering) {
		timer_unset(&c->t);
		timer_unset(&c->ts);
		c->w->ops->close(c);
		return;
	}
	if (c->closing)
		return;
	c->closing = 1;
	timer_unset(&c->t);
	timer_unset(&c->ts);
	c->w->ops->close(c);
	conn_put(c);
}

void conn_put(struct conn *c)
{
	struct worker *w = c->w;

	/* fd < 0: released already (a caller's late put must not count twice). */
	if (c->refs || !c->closing || c->fd < 0)
		return;
	timer_unset(&c->t);
	timer_unset(&c->ts);
	w->ops->release(c);
	w->nconns--;
	M_ADD(w->m.conns_open, -1);
	c->gen++;
	/* Oversized buffers from a bulk request go back to the allocator. */
	if (c->raw.cap > (256u << 10))
		buf_free(&c->raw);
	if (c->in.cap > (256u << 10))
		buf_free(&c->in);
	if (c->out.cap > (256u << 10))
		buf_free(&c->out);
	if (c->out_next.cap > (256u << 10))
		buf_free(&c->out_next);
	c->next_free = w->free_conns;
	w->free_conns = c;
}

/*
 * Close after the last response, gracefully: send FIN, then go on reading
 * (and discarding) until the peer closes or the linger timer fires.  An
 * immediate close with unread input would make the kernel send a reset,
 * and the client could lose the response it has not read yet (a 413 sent
 * while the client is still sending its body, say).
 */
static void conn_linger(struct conn *c)
{
	if (c->peer_eof) {
		conn_close(c);
		return;
	}
	c->closing = 1;
	c->lingering = 1;
	timer_set(c, &c->t, TO_LINGER);
	c->w->ops->shutdown_write(c);
	conn_put(c);
}

/* Send what is queued, or finish a close once everything is out. */
static void conn_flush(struct conn *c)
{
	if (c->closing)
		return;
	if (!c->send_inflight && buf_avail(&c->out)) {
		c->w->ops->flush(c);
		send_watch(c);
	} else if (!c->send_inflight && c->close_after_send && !c->waiting)
		conn_linger(c);
}

void conn_sent(struct conn *c)
{
	struct buf tmp;

	c->send_inflight = 0;
	timer_unset(&c->ts);            /* all taken: progress */
	c->out.off = c->out.len = 0;
	if (buf_avail(&c->out_next)) {
		tmp = c->out;
		c->out = c->out_next;
		c->out_next = tmp;
	}
	if (c->closing)
		return;
	if (c->recv_paused || buf_avail(&c->in))
		conn_pump(c, 0);
	conn_flush(c);
}

static int conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->tls_on) {
		c->tls.out = wbuf(c);
		return tls_conn_write(&c->tls, p, n);
	}
	return buf_append(wbuf(c), p, n, OUT_LIMIT);
}

/* ---- responses ---------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

void resp_send(struct conn *c, enum endpoint ep, uint64_t start_ns, int status,
	       const char *ctype, const char *extra, const char *body,
	       size_t len, int keep_alive)
{
	struct worker *w = c->w;
	char head[1024];
	int n;

	if (c->closing)
		return;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s%s%s%s"
		     "Content-Length: %zu\r\n%s%s\r\n", status, reason(status),
		     w->date, ctype ? "Content-Type: " : "", ctype ? ctype : "",
		     ctype ? "\r\n" : "", len, keep_alive ? "" : "Connection: close\r\n",
		     extra ? extra : "");
	if (n >= (int)sizeof(head) || conn_write(c, head, (size_t)n) < 0 ||
	    conn_write(c, body, len) < 0)
		goto fail;
	metrics_request(&w->m, ep, status, (w->now_ns - start_ns) / 1000);
	if (!keep_alive) {
		c->close_after_send = 1;
		if (c->tls_on)
			tls_conn_close_notify(&c->tls);
	}
	return;
fail:
	log_warn("cannot queue a %d response: out of memory", status);
	conn_close(c);
}

void resp_error(struct conn *c, enum endpoint ep, uint64_t start_ns, int status,
		const char *error, const char *desc, const char *extra,
		int keep_alive)
{
	char body[512];
	size_t n = (size_t)snprintf(body, sizeof(body),
				    "{\"error\":\"%s\",\"error_description\":\"", error);

	/* The reason may quote client input: escape it (RFC 8259 §7) and
	 * keep it within RFC 6749's error_description characters. */
	for (; desc && *desc && n < sizeof(body) - 8; desc++) {
		unsigned char ch = (unsigned char)*desc;

		if (ch == '"' || ch == '\\')
			body[n++] = '\\';
		body[n++] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
	}
	body[n++] = '"';
	body[n++] = '}';
	resp_send(c, ep, start_ns, status, "application/json", extra, body, n,
		  keep_alive);
}

/* ---- input -------------------------------------------------------------- */

/*
 * RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for an
 * interim 100 before it sends the body (curl does for bodies over 1 KiB);
 * answer it once the head is accepted.  Any other expectation is 417.
 */
static int expect_continue(struct conn *c, struct request *r, size_t need)
{
	const struct http_str *e = http_find_header(r->h.headers, r->h.num_headers, "expect");
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (!e)
		return 0;
	if (!http_str_ieq(*e, "100-continue")) {
		resp_error(c, EP_OTHER, r->start_ns, 417, "invalid_request",
			   "only Expect: 100-continue is supported", NULL, 0);
		return -1;
	}
	if (!c->continue_sent && r->h.minor_version == 1 &&
	    buf_avail(&c->in) < need) {
		c->continue_sent = 1;
		if (conn_write(c, cont, sizeof(cont) - 1) < 0) {
			conn_close(c);
			return -1;
		}
	}
	return 0;
}

static void process_requests(struct conn *c)
{
	struct worker *w = c->w;
	struct request r;
	const char *why = NULL;

	/* Output not yet taken by the peer stops serving: a client that
	 * pipelines requests and never reads holds at most OUT_PAUSE plus one
	 * response; conn_sent serves the rest as the peer reads. */
	while (!c->waiting && !c->closing && !c->close_after_send &&
	       conn_outq(c) <= OUT_PAUSE) {
		size_t avail = buf_avail(&c->in), need;
		int rc;

		if (!avail)
			break;
		rc = http_parse_request(buf_head(&c->in), avail, w->lim.max_head, &r.h, &why);
		if (rc == HTTP_INCOMPLETE)
			break;
		r.start_ns = w->now_ns;
		if (rc < 0) {
			M_INC(w->m.bad_requests);
			resp_error(c, EP_OTHER, r.start_ns, 400, "invalid_request", why, NULL, 0);
			break;
		}
		if (r.h.content_length > w->lim.max_body) {
			M_INC(w->m.bad_requests);
			resp_error(c, EP_OTHER, r.start_ns, 413, "invalid_request",
				   "request body too large", NULL, 0);
			break;
		}
		need = (size_t)rc + (size_t)r.h.content_length;
		/* Decide on the head before any body is buffered. */
		if (handle_head(c, &r) < 0)
			break;
		if (expect_continue(c, &r, need) < 0)
			break;
		if (avail < need) {
			if (buf_reserve(&c->in, need - avail, w->lim.max_head + w->lim.max_body) < 0)
				conn_close(c);
			else if (w->admin && c->t.kind != TO_BODY) {
				/* An accepted admin head: its (bulk) body has
				 * admin_body_timeout_ms from now. */
				timer_set(c, &c->t, TO_BODY);
				c->served = 0;
			}
			break;
		}
		c->continue_sent = 0;
		r.body = buf_head(&c->in) + rc;
		r.body_len = (size_t)r.h.content_length;
		if (w->rl && !ratelimit_take(w->rl, c->addr, c->addr_len, w->now_ns)) {
			M_INC(w->m.rate_limited);
			resp_error(c, EP_OTHER, r.start_ns, 429, "slow_down",
				   "too many requests from this address", "Retry-After: 1\r\n",
				   r.h.keep_alive);
		} else {
			handle_request(c, &r);
		}
		c->served = 1;
		buf_consume(&c->in, need);
	}
}

/* Arm the timer the connection's state needs (see the timers above);
 * <got_input>: bytes arrived in this pass. */
static void conn_arm(struct conn *c, int got_input)
{
	int k = c->t.kind;

	if (c->waiting) {
		timer_unset(&c->t); /* the HSM engine's deadline bounds the wait */
	} else if (c->close_after_send) {
		/* The last response may meet a client that does not read:
		 * bounded by the send timer, the idle timer, then lingering. */
		if (k != TO_IDLE && k != TO_LINGER)
			timer_set(c, &c->t, TO_IDLE);
	} else if (c->tls_on && !c->tls.handshake_done) {
		/* the handshake timer runs from accept; a wait for the HSM's
		 * signature took it away: it starts again for the rest */
		if (k != TO_HANDSHAKE)
			timer_set(c, &c->t, TO_HANDSHAKE);
	} else if (buf_avail(&c->in)) {
		/* A request has started: its header timer is not reset by
		 * more bytes, so a slow drip cannot hold the connection; it
		 * restarts for each new request of a pipeline. */
		if (c->served || (k != TO_HEADER && k != TO_BODY))
			timer_set(c, &c->t, TO_HEADER);
	} else if (c->served || k < 0) {
		timer_set(c, &c->t, TO_IDLE);
	} else if (got_input && k == TO_IDLE) {
		/* Bytes that gave no plaintext yet (part of a TLS record, a
		 * warning alert) may be the start of a request: they do not
		 * buy more idle time. */
		timer_set(c, &c->t, TO_HEADER);
	}
	send_watch(c);
}

/* Decrypt what TLS has buffered into c->in, serve complete requests, and
 * repeat while progress is made. */
static void conn_pump(struct conn *c, int got_input)
{
	struct worker *w = c->w;
	size_t in_limit = w->lim.max_head + w->lim.max_body;
	const char *why = NULL;

	if (c->tls_on && !c->tls.handshake_done) {
		int rc;

		c->tls.out = wbuf(c);
		rc = tls_conn_handshake(&w->tls, &c->tls, &why);
		if (rc == IG_EBLOCKED)
			goto settle;
		if (rc < 0) {
			M_INC(w->m.handshake_errors);
			log_debug("fd %d: %s", c->fd, why);
			c->close_after_send = 1;
			goto settle;
		}
		if (c->tls.resumed)
			M_INC(w->m.handshakes_resumed);
		else
			M_INC(w->m.handshakes_full);
		timer_set(c, &c->t, TO_IDLE);
	}
	for (;;) {
		size_t before;

		while (c->tls_on && !c->waiting && !c->closing && buf_avail(&c->in) < in_limit) {
			size_t room = in_limit - buf_avail(&c->in);
			int n;

			/* Small steps: a login is a few hundred bytes, and an
			 * idle keep-alive connection keeps its buffer. */
			if (room > 2048)
				room = 2048;
			if (buf_reserve(&c->in, room, in_limit) < 0)
				break;
			c->tls.out = wbuf(c);
			n = tls_conn_read(&c->tls, (uint8_t *)c->in.data + c->in.len, room);
			if (n > 0) {
				c->in.len += (size_t)n;
				continue;
			}
			if (n == IG_ECLOSED) {
				c->peer_eof = 1;
			} else if (n == IG_EPROTO) {
				/* TLS may have queued a fatal alert: send it,
				 * then close (a refused KeyUpdate is counted
				 * once: later reads fail the same way). */
				if (!c->close_after_send &&
				    c->tls.failed == TLS_FAIL_KEY_UPDATE) {
					M_INC(w->m.tls_key_updates_refused);
					log_info("fd %d: TLS 1.3 KeyUpdate refused with an "
						 "unexpected_message alert (mbedTLS 3.6 cannot "
						 "update traffic keys)", c->fd);
				}
				c->close_after_send = 1;
			}
			break;
		}
		if (c->closing)
			return;
		before = buf_avail(&c->in);
		process_requests(c);
		if (c->closing || c->waiting || c->close_after_send || !c->tls_on ||
		    buf_avail(&c->in) == before)
			break;
		/* A request was served and made room: decrypt more. */
	}
settle:
	if (c->closing)
		return;
	if (c->peer_eof && !c->waiting)
		c->close_after_send = 1;
	conn_arm(c, got_input);
	c->served = 0;
	{
		size_t buffered = (c->tls_on ? buf_avail(&c->raw) : buf_avail(&c->in));
		int pause = (c->tls_on ? buffered > RAW_PAUSE : buffered >= in_limit) ||
			    conn_outq(c) > OUT_PAUSE;

		if (pause != c->recv_paused)
			w->ops->pause_recv(c, pause);
	}
}

void conn_input(struct conn *c, const uint8_t *p, size_t n)
{
	struct worker *w = c->w;
	struct buf *dst = c->tls_on ? &c->raw : &c->in;
	/* Receiving pauses at the thresholds above, but a multishot receive
	 * already under way can still deliver a burst: a client is only cut
	 * off well past them. */
	size_t limit = c->tls_on ? RAW_PAUSE + RECV_SLACK
				 : w->lim.max_head + w->lim.max_body + RECV_SLACK;

	/* After the last answer no request is read: a plain-HTTP peer's
	 * further bytes are not kept (TLS input stays bounded by the pause
	 * and may still carry its close_notify). */
	if (c->closing || (c->close_after_send && !c->tls_on))
		return;
	if (buf_append(dst, p, n, limit) < 0) {
		/* More than the pause threshold arrived before the pause took
		 * effect: a client that ignores flow control. */
		M_INC(w->m.conns_cut);
		conn_close(c);
		return;
	}
	conn_pump(c, 1);
	conn_flush(c);
}

void conn_eof(struct conn *c)
{
	if (c->closing)
		return;
	c->peer_eof = 1;
	if (!c->waiting)
		c->close_after_send = 1;
	conn_flush(c);
}

/* ---- waiting for the HSM ------------------------------------------------------ */

void conn_await(struct conn *c, conn_resume_fn *resume)
{
	c->pend->resume = resume;
	c->waiting = 1;
	c->refs++;
}

int conn_hsm_submit(struct conn *c, struct hsm_job *job, conn_resume_fn *resume)
{
	int rc;

	job->owner = (uint16_t)c->w->id;
	job->user = c;
	rc = hsm_submit(c->w->srv->hsm, job);
	if (rc == IG_OK)
		conn_await(c, resume);
	return rc;
}

void conn_answered(struct conn *c)
{
	if (!c->waiting)
		c->served = 1;
}

int worker_completion_fd(struct worker *w)
{
	return hsm_completion_fd(w->srv->hsm, w->id);
}

unsigned worker_reap(struct worker *w)
{
	struct hsm_job *jobs[64];
	size_t n, total = 0;

	do {
		n = hsm_reap(w->srv->hsm, w->id, jobs, IG_ARRAY_LEN(jobs));
		for (size_t i = 0; i < n; i++)
			conn_hsm_done(w, jobs[i]);
		total += n;
	} while (n == IG_ARRAY_LEN(jobs));
	return (unsigned)total;
}

/* ---- TLS handshakes signed by the HSMs' TLS key ------------------------------ */

/* Submit the handshake's signature to an HSM holding the certificate's
 * key, skipping those that failed it.  IG_OK, or IG_ECLOSED when none
 * takes it. */
static conn_resume_fn tls_sign_resume;

static int tls_sign_submit(struct conn *c)
{
	struct worker *w = c->w;
	struct server *srv = w->srv;
	struct pending *p = c->pend;
	int dev;

	while ((dev = hsm_choose_tls(srv->hsm, &srv->tls_pub, p->tried)) >= 0) {
		p->job.op = HSM_OP_SIGN_TLS;
		p->job.dev = (uint8_t)dev;
		if (conn_hsm_submit(c, &p->job, tls_sign_resume) == IG_OK)
			return IG_OK;
		p->tried |= 1u << dev;
	}
	return IG_ECLOSED;
}

int conn_tls_sign_start(void *arg, struct tls_conn *tc, const uint8_t *hash,
			size_t len)
{
	struct conn *c = (struct conn *)((char *)tc - offsetof(struct conn, tls));
	struct pending *p = c->pend;

	memset(&p->job, 0, sizeof(p->job));
	p->tried = 0;
	/* ECDSA P-256 uses the hash's leftmost 256 bits (FIPS 186-4 §6.4);
	 * a shorter hash (SHA-1 in TLS 1.2) is the same number left-padded. */
	if (len >= 32)
		memcpy(p->job.digest, hash, 32);
	else
		memcpy(p->job.digest + 32 - len, hash, len);
	return tls_sign_submit(c);
}

/* The HSM answered a handshake's signature: hand it to TLS (or retry on
 * another HSM holding the key); conn_hsm_done then advances the handshake.
 * A closed connection's late signature is dropped. */
static void tls_sign_resume(struct conn *c, int alive)
{
	struct hsm_job *job = &c->pend->job;

	if (!alive)
		return;
	if (job->status == IG_EBLOCKED) {
		c->pend->tried |= 1u << job->dev;
		if (tls_sign_submit(c) == IG_OK)
			return;
	}
	if (job->status != IG_OK)
		log_debug("fd %d: the HSM did not sign the TLS handshake (%s, CKR 0x%lx)",
			  c->fd, ig_strerror(job->status), job->ckr);
	tls_conn_async_done(&c->tls, job->status == IG_OK ? job->sig : NULL);
}

/* The job's reference is held until the end, like a backend operation's:
 * what the response does may close the connection. */
void conn_hsm_done(struct worker *w, struct hsm_job *job)
{
	struct conn *c = job->user;
	conn_resume_fn *resume = c->pend->resume;

	c->waiting = 0;
	c->pend->resume = NULL; /* set again if the request waits once more */
	resume(c, !c->closing);
	if (!c->closing) {
		/* Pipelined requests are served before a half-close is
		 * honoured: conn_pump's settling sees to it. */
		conn_pump(c, 0);
		conn_flush(c);
	}
	c->refs--;
	conn_put(c);
}

void worker_free_conns(struct worker *w)
{
	struct conn *c = w->all_conns, *next;

	for (; c; c = next) {
		next = c->next_all;
		if (c->fd >= 0)
			w->ops->release(c);
		tls_conn_free(&c->tls);
		buf_free(&c->raw);
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->out_next);
		csc_conn_free(c);
		free(c->pend);
		free(c);
	}
	w->all_conns = w->free_conns = NULL;
}
