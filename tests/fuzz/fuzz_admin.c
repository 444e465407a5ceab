/*
 * fuzz_admin.c - libFuzzer target for the admin listener's request path:
 * the bytes a client sends, through the connection layer (framing,
 * pipelining, flow control, timers), the head's judgement (token, bodies
 * refused before they are buffered) and the admin routes (enrolment in one
 * or in bulk, revocation, health, readiness, metrics) on a real LMDB
 * store and audit log, to the bytes it answers.
 *
 * The admin worker runs on an I/O backend of this file's own (fuzz_ops):
 * a send completes when the harness says so, so the stream is fed in the
 * pieces the input chooses, with sends completing between some of them.
 * Input: byte 0 picks the number of pieces; the rest is the stream.
 * Checks: no crash or leak (ASan), output bounded by what the layer
 * promises, and every connection released once its timers have fired.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../dataplane/credrate.h"
#include "../../dataplane/replay.h"
#include "../../dataplane/server.h"
#include "../../dataplane/store.h"
#include "fuzz.h"

#define TOKEN "fuzz-admin-token-0123456789"

static struct server srv;
static struct worker *w;
static struct worker *workers[1];
static int released;

/* ---- the harness's backend: sends complete when fuzz_settle says so ---- */

static int f_init(struct worker *wk, const char **why) { return 0; }
static void f_run(struct worker *wk) {}
static void f_free(struct worker *wk) {}
static void f_close(struct conn *c) {}
static void f_shutdown_write(struct conn *c) {}

static void f_flush(struct conn *c)
{
	c->send_inflight = 1;
	c->refs++;
}

static void f_release(struct conn *c)
{
	released = 1;
	c->fd = -1;
}

static void f_pause_recv(struct conn *c, int pause)
{
	c->recv_paused = (uint8_t)pause;
}

static const struct io_ops fuzz_ops = {
	.name = "fuzz", .init = f_init, .run = f_run, .free = f_free,
	.flush = f_flush, .close = f_close, .release = f_release,
	.shutdown_write = f_shutdown_write, .pause_recv = f_pause_recv,
};

/* The peer reads everything queued, as the backend's completions would
 * report it (uring.c's on_send: conn_sent, then the send's reference). */
static void fuzz_settle(struct conn *c)
{
	for (int i = 0; i < 64 && c->send_inflight && !released; i++) {
		/* At most the pause bound plus one response (the biggest
		 * admin answer here, /metrics, is far below 1 MiB). */
		FUZZ_ASSERT(buf_avail(&c->out) + buf_avail(&c->out_next) < (1u << 20));
		if (c->closing)
			c->send_inflight = 0;
		else
			conn_sent(c);
		c->refs--;
		conn_put(c);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-admin-XXXXXX", path[300];
	const char *why = NULL;

	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	config_defaults(&srv.cfg);
	FUZZ_ASSERT(config_finish(&srv.cfg, path, sizeof(path)) == 0);
	snprintf(path, sizeof(path), "%s/store", dir);
	FUZZ_ASSERT(store_open(&srv.store, path, 64u << 20, &why) == 0);
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	FUZZ_ASSERT(audit_open(&srv.audit, path, 4096, 0, &why) == 0);
	srv.replay = replay_new(1024);
	srv.credrate = credrate_new(256, 10, 2000);
	FUZZ_ASSERT(srv.replay && srv.credrate);
	memcpy(srv.admin_token, TOKEN, sizeof(TOKEN) - 1);
	srv.admin_token_len = sizeof(TOKEN) - 1;
	srv.jwks = strdup("{\"keys\":[]}");

	w = calloc(1, sizeof(*w));
	FUZZ_ASSERT(w != NULL);
	w->srv = &srv;
	w->admin = 1;
	w->cpu = -1;
	w->ops = &fuzz_ops;
	w->lim.max_head = srv.cfg.max_head;
	w->lim.max_body = 1u << 20;
	for (int k = 0; k < TO_COUNT; k++) {
		w->timeout_ns[k] = 1000000000ull;
		w->tlist[k].next = w->tlist[k].prev = &w->tlist[k];
	}
	w->scratch = malloc(w->lim.max_body + 1);
	FUZZ_ASSERT(w->scratch != NULL);
	workers[0] = w;
	srv.workers = workers;
	srv.nworkers = 0;
	worker_clock(w);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn *c;
	size_t off = 1, pieces;

	if (size < 1)
		return 0;
	released = 0;
	worker_clock(w);
	c = conn_open(w, 3);
	FUZZ_ASSERT(c != NULL);
	/* Up to 8 pieces; the peer reads after the odd ones only, so some
	 * requests meet output it has not taken yet. */
	pieces = 1 + (data[0] & 7);
	for (size_t i = 0; i < pieces && off < size && !c->closing; i++) {
		size_t n = i + 1 == pieces ? size - off : (size - off) / (pieces - i);

		conn_input(c, data + off, n ? n : 1);
		off += n ? n : 1;
		if (i & 1)
			fuzz_settle(c);
	}
	if (!c->closing) {
		fuzz_settle(c);
		conn_eof(c);
		fuzz_settle(c);
	}
	/* Whatever state the connection is in, a timer is armed, and once
	 * the timers have fired it is gone. */
	for (int round = 0; round < 8 && !released; round++) {
		w->now_ns += 10ull * 1000000000;
		worker_tick(w);
		fuzz_settle(c);
	}
	FUZZ_ASSERT(released);
	FUZZ_ASSERT(w->nconns == 0);
	return 0;
}
