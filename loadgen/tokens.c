/*
 * tokens.c - signers' access tokens (see tokens.h): blocking TLS logins
 * before the run and on a refresh thread, never on an engine thread.
 */
#include "tokens.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../common/http.h"
#include "../common/rand.h"
#include "../common/result.h"

#define LG_ANSWER_MAX 65536

struct lg_retired {
	struct lg_retired *next;
	char *tok;
};

struct lg_tokens {
	const struct lg_config *cfg;
	const struct lg_population *pop;
	SSL_CTX *ctx;
	size_t n;
	size_t *signers;        /* population index per slot */
	char **tok;             /* current token per slot (atomic pointer) */
	time_t *renew_at;       /* when to log the slot in again */
	struct lg_retired *retired;
	uint64_t run_id, serial;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop, started;
};

/* One login over a new blocking TLS connection: the access token
 * (malloc'd) and its lifetime, or NULL with <*why>. */
static char *lg_login(struct lg_tokens *t, size_t slot, long *life,
		      const char **why)
{
	const struct lg_config *cfg = t->cfg;
	char jti[48], assertion[LG_ASSERTION_MAX], *req = NULL, *buf = NULL;
	char *body = NULL;
	char *tok = NULL;
	struct timeval tv = { 10, 0 };
	struct http_response r;
	json_t *root = NULL;
	SSL *ssl = NULL;
	size_t len = 0;
	int fd = -1, n, hl;

	*why = "cannot sign the login assertion";
	snprintf(jti, sizeof(jti), "t%016" PRIx64 "%08" PRIx64, t->run_id,
		 t->serial++);
	if (lg_sign_assertion(t->pop, cfg->aud, t->signers[slot], jti,
			      assertion, sizeof(assertion)) < 0)
		goto out;
	/* The CSC API takes only tokens issued to a relying service. */
	n = asprintf(&body, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
		     "grant-type%%3Ajwt-bearer&assertion=%s&client_id=%s", assertion,
		     cfg->client_id ? cfg->client_id : "idgate-load");
	if (n < 0)
		body = NULL;
	if (n > 0 && asprintf(&req, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: application/x-www-form-urlencoded\r\n"
			     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			     cfg->url.authority, n, body) < 0)
		req = NULL;
	buf = malloc(LG_ANSWER_MAX);
	*why = "out of memory";
	if (!req || !buf)
		goto out;
	n = (int)strlen(req);
	*why = "cannot connect for the signers' logins";
	fd = socket(cfg->url.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&cfg->url.addr,
		    cfg->url.addrlen) < 0)
		goto out;
	if (t->ctx) {
		*why = "TLS handshake failed for the signers' logins";
		ssl = SSL_new(t->ctx);
		if (!ssl || SSL_set_fd(ssl, fd) != 1)
			goto out;
		if (!cfg->url.ip_literal)
			SSL_set_tlsext_host_name(ssl, cfg->url.host);
		if (SSL_connect(ssl) != 1)
			goto out;
	}
	*why = "the signers' login got no answer";
	if ((ssl ? SSL_write(ssl, req, n) : (int)send(fd, req, (size_t)n,
						       MSG_NOSIGNAL)) != n)
		goto out;
	while (len < LG_ANSWER_MAX - 1) {
		int k = ssl ? SSL_read(ssl, buf + len, (int)(LG_ANSWER_MAX - 1 - len))
			    : (int)recv(fd, buf + len, LG_ANSWER_MAX - 1 - len, 0);

		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	hl = http_parse_response(buf, len, LG_ANSWER_MAX, &r, why);
	if (hl < 0)
		goto out;
	*why = "a signer's login was refused (is the population enrolled "
	       "on this server, and --aud its token endpoint?)";
	if (r.status != 200)
		goto out;
	root = json_loads(buf + hl, 0, NULL);
	*why = "the login answer has no access_token";
	if (!json_string_value(json_object_get(root, "access_token")))
		goto out;
	tok = strdup(json_string_value(json_object_get(root, "access_token")));
	*life = (long)json_integer_value(json_object_get(root, "expires_in"));
	if (*life <= 0)
		*life = 60;
out:
	ERR_clear_error();
	json_decref(root);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(req);
	free(body);
	return tok;
}

/* Log slot <k> in and publish its token; the old one is retired. */
static int lg_renew(struct lg_tokens *t, size_t k, const char **why)
{
	long life = 0;
	char *tok = lg_login(t, k, &life, why), *old;
	struct lg_retired *r;

	if (!tok)
		return IG_EPROTO;
	r = malloc(sizeof(*r));
	if (!r) {
		free(tok);
		return IG_ENOMEM;
	}
	old = __atomic_exchange_n(&t->tok[k], tok, __ATOMIC_RELEASE);
	r->tok = old;
	r->next = t->retired;
	t->retired = r;
	t->renew_at[k] = time(NULL) + (life > 2 ? life / 2 : 1);
	return IG_OK;
}

static void *lg_tokens_main(void *arg)
{
	struct lg_tokens *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec ts;
		time_t now = time(NULL), next = now + 60;

		for (size_t k = 0; k < t->n && !t->stop; k++) {
			const char *why;

			if (t->renew_at[k] > now) {
				if (t->renew_at[k] < next)
					next = t->renew_at[k];
				continue;
			}
			pthread_mutex_unlock(&t->lock);
			if (lg_renew(t, k, &why) < 0) {
				fprintf(stderr, "idgate-load: renewing a signer's "
					"token: %s\n", why);
				t->renew_at[k] = now + 5;
			}
			pthread_mutex_lock(&t->lock);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec = next > ts.tv_sec ? next : ts.tv_sec + 1;
		ts.tv_nsec = 0;
		if (!t->stop)
			pthread_cond_timedwait(&t->wake, &t->lock, &ts);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int lg_tokens_start(struct lg_tokens **out, const struct lg_config *cfg,
		    const struct lg_population *pop, size_t want,
		    const char **why)
{
	struct lg_tokens *t = calloc(1, sizeof(*t));
	int rc = IG_ENOMEM;

	*out = NULL;
	*why = "out of memory";
	if (!t)
		return IG_ENOMEM;
	t->cfg = cfg;
	t->pop = pop;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	if (ig_random(&t->run_id, sizeof(t->run_id)) != IG_OK)
		t->run_id = (uint64_t)time(NULL);
	if (want > pop->nsigning)
		want = pop->nsigning;
	t->signers = calloc(want ? want : 1, sizeof(*t->signers));
	t->tok = calloc(want ? want : 1, sizeof(*t->tok));
	t->renew_at = calloc(want ? want : 1, sizeof(*t->renew_at));
	if (!t->signers || !t->tok || !t->renew_at)
		goto fail;
	for (size_t i = 0; pop->scred && i < pop->n && t->n < want; i++)
		if (pop->scred[i][0])
			t->signers[t->n++] = i;
	rc = IG_EUSAGE;
	*why = "the sign workload needs a population with signing credentials "
	       "(idgate-load populate --signing N)";
	if (!t->n)
		goto fail;
	if (cfg->url.tls) {
		rc = IG_ENOMEM;
		if (!(t->ctx = SSL_CTX_new(TLS_client_method())))
			goto fail;
		if (cfg->cacert) {
			if (SSL_CTX_load_verify_locations(t->ctx, cfg->cacert,
							  NULL) != 1) {
				*why = "cannot load --cacert";
				rc = IG_EUSAGE;
				goto fail;
			}
			SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		}
	}
	for (size_t k = 0; k < t->n; k++)
		if ((rc = lg_renew(t, k, why)) < 0)
			goto fail;
	if (pthread_create(&t->thread, NULL, lg_tokens_main, t)) {
		rc = IG_EINTERNAL;
		*why = "cannot start the token thread";
		goto fail;
	}
	t->started = 1;
	*out = t;
	return IG_OK;
fail:
	lg_tokens_stop(t);
	return rc;
}

size_t lg_tokens_count(const struct lg_tokens *t)
{
	return t->n;
}

const size_t *lg_tokens_signers(const struct lg_tokens *t)
{
	return t->signers;
}

const char *lg_token(const struct lg_tokens *t, size_t k)
{
	return __atomic_load_n(&t->tok[k], __ATOMIC_ACQUIRE);
}

void lg_tokens_stop(struct lg_tokens *t)
{
	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stop = 1;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	while (t->retired) {
		struct lg_retired *r = t->retired;

		t->retired = r->next;
		free(r->tok);
		free(r);
	}
	for (size_t k = 0; t->tok && k < t->n; k++)
		free(t->tok[k]);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
	SSL_CTX_free(t->ctx);
	free(t->signers);
	free(t->tok);
	free(t->renew_at);
	free(t);
}
