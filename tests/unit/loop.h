/*
 * loop.h - an in-process loopback backend for tests of the connection
 * layer, the routes and the admin handlers: no socket, no thread, a clock
 * the test moves.  The bytes a test hands to loop_input arrive as a
 * backend's receive would deliver them; a send completes only when the
 * test says the peer read it (loop_read), so a peer that never reads is
 * one that never calls it.  One admin worker (plain HTTP) on a real LMDB
 * store and audit log in a temporary directory, with no HSM.
 *
 * For tests only (header-only, static functions): tests/unit/conn_test.c
 * and tests/fuzz/fuzz_admin.c.
 */
#ifndef IG_TEST_LOOP_H
#define IG_TEST_LOOP_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../dataplane/credrate.h"
#include "../../dataplane/replay.h"
#include "../../dataplane/server.h"
#include "../../dataplane/store.h"

#define LOOP_TOKEN "fuzz-admin-token-0123456789" /* the fuzz corpus holds it too */

struct loop {
	char dir[64];           /* the state directory, removed by loop_fini */
	struct server srv;
	struct worker *w;
	struct worker *workers[1];
	struct buf peer;        /* what the peer has read so far */
	int released;           /* the connection was released */
};

static struct loop *loop_current;

static int loop_ops_init(struct worker *w, const char **why) { return 0; }
static void loop_ops_run(struct worker *w) {}
static void loop_ops_free(struct worker *w) {}
static void loop_ops_close(struct conn *c) {}
static void loop_ops_shutdown_write(struct conn *c) {}

static void loop_ops_flush(struct conn *c)
{
	c->send_inflight = 1;
	c->refs++;
}

static void loop_ops_release(struct conn *c)
{
	loop_current->released = 1;
	c->fd = -1;
}

static void loop_ops_pause_recv(struct conn *c, int pause)
{
	c->recv_paused = (uint8_t)pause;
}

static const struct io_ops loop_ops = {
	.name = "loop", .init = loop_ops_init, .run = loop_ops_run,
	.free = loop_ops_free, .flush = loop_ops_flush, .close = loop_ops_close,
	.release = loop_ops_release, .shutdown_write = loop_ops_shutdown_write,
	.pause_recv = loop_ops_pause_recv,
};

/* The admin worker over a fresh state directory <dir> (made by mkdtemp). */
static int loop_init(struct loop *L, char *dir)
{
	char path[300], err[300];
	const char *why = NULL;

	memset(L, 0, sizeof(*L));
	loop_current = L;
	if (!mkdtemp(dir))
		return -1;
	snprintf(L->dir, sizeof(L->dir), "%s", dir);
	config_defaults(&L->srv.cfg);
	if (config_finish(&L->srv.cfg, err, sizeof(err)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (store_open(&L->srv.store, path, 64u << 20, &why) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	if (audit_open(&L->srv.audit, path, 4096, 0, &why) < 0)
		return -1;
	L->srv.replay = replay_new(1024);
	L->srv.credrate = credrate_new(256, 10, 2000);
	if (!L->srv.replay || !L->srv.credrate)
		return -1;
	memcpy(L->srv.admin_token, LOOP_TOKEN, sizeof(LOOP_TOKEN) - 1);
	L->srv.admin_token_len = sizeof(LOOP_TOKEN) - 1;
	L->srv.jwks = strdup("{\"keys\":[]}");
	L->w = calloc(1, sizeof(*L->w));
	if (!L->w)
		return -1;
	L->w->srv = &L->srv;
	L->w->admin = 1;
	L->w->cpu = -1;
	L->w->ops = &loop_ops;
	L->w->lim.max_head = L->srv.cfg.max_head;
	L->w->lim.max_body = 1u << 20;
	for (int k = 0; k < TO_COUNT; k++) {
		L->w->timeout_ns[k] = 1000000000ull;
		L->w->tlist[k].next = L->w->tlist[k].prev = &L->w->tlist[k];
	}
	L->w->reader = store_reader_new(L->srv.store);
	L->w->scratch = malloc(L->w->lim.max_body + 1);
	if (!L->w->reader || !L->w->scratch)
		return -1;
	L->workers[0] = L->w;
	L->srv.workers = L->workers;
	L->srv.nworkers = 0;
	worker_clock(L->w);
	return 0;
}

static struct conn *loop_open(struct loop *L)
{
	L->released = 0;
	L->peer.off = L->peer.len = 0;
	return conn_open(L->w, 3);
}

static void loop_input(struct loop *L, struct conn *c, const void *p, size_t n)
{
	conn_input(c, p, n);
}

/* The peer reads what is queued, as the backend's completions would
 * report it (uring.c's on_send: conn_sent, then the send's reference).
 * Returns what the peer has read in all, NUL-terminated. */
static const char *loop_read(struct loop *L, struct conn *c)
{
	for (int i = 0; i < 1000 && c->send_inflight && !L->released; i++) {
		if (c->closing) {
			c->send_inflight = 0;
		} else {
			if (buf_append(&L->peer, buf_head(&c->out), buf_avail(&c->out), 1u << 26) < 0)
				abort();
			conn_sent(c);
		}
		c->refs--;
		conn_put(c);
	}
	if (buf_reserve(&L->peer, 1, 1u << 26) < 0)
		abort();
	L->peer.data[L->peer.len] = '\0';
	return L->peer.data + L->peer.off;
}

/* <ms> milliseconds pass: the timers due fire. */
static void loop_wait(struct loop *L, unsigned ms)
{
	L->w->now_ns += (uint64_t)ms * 1000000ull;
	worker_tick(L->w);
}

static int loop_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Everything loop_init made, the state directory included. */
static void loop_fini(struct loop *L)
{
	if (L->w) {
		worker_free_conns(L->w);
		store_reader_free(L->w->reader);
		free(L->w->scratch);
		free(L->w);
		L->w = NULL;
	}
	audit_close(L->srv.audit);
	store_close(L->srv.store);
	replay_free(L->srv.replay);
	credrate_free(L->srv.credrate);
	free(atomic_load(&L->srv.jwks));
	buf_free(&L->peer);
	if (L->dir[0])
		nftw(L->dir, loop_rm, 8, FTW_DEPTH | FTW_PHYS);
	L->dir[0] = '\0';
}

#endif
