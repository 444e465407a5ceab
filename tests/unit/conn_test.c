/*
 * conn_test.c - the connection layer, the routes and the admin handlers
 * on the loopback backend (loop.h), no socket and a clock the test moves:
 * answers and refusals of the admin routes, the head judged before the
 * body, pipelining, output backpressure against a peer that does not
 * read, and every state's timer (header, admin body, idle, linger, send).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "loop.h"

#define AUTH "Authorization: Bearer " LOOP_TOKEN "\r\n"

static struct loop L;

/* One exchange on a fresh connection: the answer the peer reads. */
static const char *ask(const char *req)
{
	struct conn *c = loop_open(&L);

	loop_input(&L, c, req, strlen(req));
	conn_eof(c);
	return loop_read(&L, c);
}

static int status_is(const char *resp, int status)
{
	char want[32];

	snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
	return !strncmp(resp, want, strlen(want));
}

static void test_routes(void)
{
	const char *r;

	CHECK(status_is(ask("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), 200));
	r = ask("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(status_is(r, 503) && strstr(r, "no HSM answers"));
	/* the token, on the head */
	r = ask("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(status_is(r, 401) && strstr(r, "Connection: close"));
	CHECK(status_is(ask("GET /metrics HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n"), 200));
	r = ask("GET /nowhere HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n");
	CHECK(status_is(r, 404));
	r = ask("POST /metrics HTTP/1.1\r\nHost: a\r\n" AUTH "Content-Length: 0\r\n\r\n");
	CHECK(status_is(r, 405) && strstr(r, "Allow: GET\r\n"));
	r = ask("GET /v1/admin/credentials/x HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n");
	CHECK(status_is(r, 405) && strstr(r, "Allow: DELETE\r\n"));
	/* a pattern's '*' is one segment */
	r = ask("DELETE /v1/admin/credentials/a/b HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n");
	CHECK(status_is(r, 404));
	r = ask("DELETE /v1/admin/credentials/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: a\r\n"
		AUTH "\r\n");
	CHECK(status_is(r, 404) && strstr(r, "not_found"));
	/* health takes no body */
	r = ask("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
	CHECK(status_is(r, 400) && strstr(r, "no body"));
	r = ask("POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\n" AUTH
		"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
	CHECK(status_is(r, 400) && strstr(r, "citizen_id"));
	r = ask("POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\n" AUTH
		"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}");
	CHECK(status_is(r, 415));
}

/* A head without the token is refused before its body: nothing of the
 * body is buffered, and the connection closes after the 401. */
static void test_head_before_body(void)
{
	static const char head[] = "POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 900000\r\n\r\n";
	static char body[65536];
	struct conn *c = loop_open(&L);

	memset(body, 'x', sizeof(body));
	loop_input(&L, c, head, sizeof(head) - 1);
	CHECK(c->close_after_send);
	/* the body that follows is discarded, even before the peer has
	 * read the 401 */
	for (int i = 0; i < 10; i++)
		loop_input(&L, c, body, sizeof(body));
	CHECK(c->in.cap <= 8192);
	CHECK(status_is(loop_read(&L, c), 401));
	CHECK(c->closing);
	loop_wait(&L, 2000);    /* the linger ends it */
	CHECK(L.released);
}

static void test_pipelining_and_backpressure(void)
{
	static const char one[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n";
	static char many[sizeof(one) * 400];
	struct conn *c = loop_open(&L);
	size_t n = 0, answers = 0;
	const char *p;

	for (int i = 0; i < 400; i++) {
		memcpy(many + n, one, sizeof(one) - 1);
		n += sizeof(one) - 1;
	}
	loop_input(&L, c, many, n);
	/* the peer reads nothing: serving stops near 64 KiB of output */
	CHECK(buf_avail(&c->out) + buf_avail(&c->out_next) < 64 * 1024 + 16 * 1024);
	CHECK(c->recv_paused);
	CHECK(c->ts.kind == TO_SEND);
	/* as the peer reads, the rest is served, in order */
	p = loop_read(&L, c);
	while ((p = strstr(p, "HTTP/1.1 200 OK")) != NULL) {
		answers++;
		p++;
	}
	CHECK_EQ(answers, 400);
	CHECK(!c->recv_paused);
	conn_close(c);
	loop_read(&L, c);
	CHECK(L.released);
}

static void test_timers(void)
{
	struct conn *c;
	const char *r;

	/* header: half a request */
	c = loop_open(&L);
	loop_input(&L, c, "GET /healthz HTTP/1.1\r\nHo", 25);
	CHECK(c->t.kind == TO_HEADER);
	loop_wait(&L, 1100);
	r = loop_read(&L, c);
	CHECK(status_is(r, 408));
	loop_wait(&L, 1100);    /* linger */
	CHECK(L.released);

	/* admin body: the accepted head's body gets the body timer */
	L.w->timeout_ns[TO_BODY] = 5000000000ull;
	c = loop_open(&L);
	r = "POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\n" AUTH
	    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"";
	loop_input(&L, c, r, strlen(r));
	CHECK(c->t.kind == TO_BODY);
	loop_wait(&L, 1100);    /* past the header timeout: still uploading */
	CHECK(!L.released && loop_read(&L, c)[0] == '\0');
	loop_wait(&L, 4000);
	CHECK(status_is(loop_read(&L, c), 408));
	loop_wait(&L, 1100);
	CHECK(L.released);
	L.w->timeout_ns[TO_BODY] = 1000000000ull;

	/* idle: a keep-alive connection that asks nothing more */
	c = loop_open(&L);
	r = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
	loop_input(&L, c, r, strlen(r));
	CHECK(status_is(loop_read(&L, c), 200));
	CHECK(c->t.kind == TO_IDLE);
	loop_wait(&L, 1100);
	CHECK(L.released);

	/* send: the answer is never read; a header timer firing behind it
	 * queues a 408, and the send timer still ends the connection */
	c = loop_open(&L);
	r = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /he";
	loop_input(&L, c, r, strlen(r));
	CHECK(c->send_inflight && c->ts.kind == TO_SEND);
	CHECK(c->t.kind == TO_HEADER);
	loop_wait(&L, 1100);    /* both fire: 408 queued, the send cut */
	CHECK(c->closing);
	loop_read(&L, c);
	CHECK(L.released);
}

int main(void)
{
	char dir[] = "/tmp/idgate-conn-XXXXXX";

	if (loop_init(&L, dir) < 0) {
		fprintf(stderr, "loop_init failed\n");
		return 1;
	}
	test_routes();
	test_head_before_body();
	test_pipelining_and_backpressure();
	test_timers();
	loop_fini(&L);
	CHECK(access(dir, F_OK) != 0);
	return check_done("conn");
}
