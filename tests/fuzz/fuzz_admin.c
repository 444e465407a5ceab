/*
 * fuzz_admin.c - libFuzzer target for the admin listener's request path:
 * the bytes a client sends, through the connection layer (framing,
 * pipelining, flow control, timers), the head's judgement (token, bodies
 * refused before they are buffered) and the admin routes (enrolment in one
 * or in bulk, revocation, health, readiness, metrics) on a real LMDB
 * store and audit log, to the bytes it answers.
 *
 * The admin worker runs on the tests' loopback backend (tests/unit/loop.h):
 * a send completes when the harness says so, so the stream is fed in the
 * pieces the input chooses, with sends completing between some of them.
 * Input: byte 0 picks the number of pieces; the rest is the stream.
 * Checks: no crash or leak (ASan), output bounded by what the layer
 * promises, and every connection released once its timers have fired.
 */
#include "../unit/loop.h"
#include "fuzz.h"

static struct loop L;

static void fuzz_fini(void)
{
	loop_fini(&L);
}

/* The peer reads: at most the pause bound plus one response was queued
 * (the biggest admin answer here, /metrics, is far below 1 MiB). */
static void fuzz_read(struct conn *c)
{
	if (!L.released)
		FUZZ_ASSERT(buf_avail(&c->out) + buf_avail(&c->out_next) < (1u << 20));
	(void)loop_read(&L, c);
	L.peer.off = L.peer.len = 0;    /* keep nothing across inputs */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/fuzz-admin-XXXXXX";

	FUZZ_ASSERT(loop_init(&L, dir) == 0);
	atexit(fuzz_fini);      /* no state directory left behind */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn *c;
	size_t off = 1, pieces;

	if (size < 1)
		return 0;
	worker_clock(L.w);
	c = loop_open(&L);
	FUZZ_ASSERT(c != NULL);
	/* Up to 8 pieces; the peer reads after the odd ones only, so some
	 * requests meet output it has not taken yet. */
	pieces = 1 + (data[0] & 7);
	for (size_t i = 0; i < pieces && off < size && !c->closing; i++) {
		size_t n = i + 1 == pieces ? size - off : (size - off) / (pieces - i);

		loop_input(&L, c, data + off, n ? n : 1);
		off += n ? n : 1;
		if (i & 1)
			fuzz_read(c);
	}
	if (!c->closing) {
		fuzz_read(c);
		conn_eof(c);
		fuzz_read(c);
	}
	/* Whatever state the connection is in, a timer is armed, and once
	 * the timers have fired it is gone. */
	for (int round = 0; round < 8 && !L.released; round++) {
		loop_wait(&L, 10000);
		fuzz_read(c);
	}
	FUZZ_ASSERT(L.released);
	FUZZ_ASSERT(L.w->nconns == 0);
	return 0;
}
