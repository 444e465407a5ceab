/*
 * tls_test.c - the sans-I/O TLS glue against an in-memory mbedTLS client:
 * handshakes over TLS 1.3 and 1.2, application data both ways, session
 * tickets issued by one worker's server resumed on another's (shared
 * derived ticket keys), garbage input refused, what idgated's groups and
 * suites refuse, a TLS 1.3 KeyUpdate from an OpenSSL client answered with
 * an alert, and the self-signed certificate made on first start.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <psa/crypto.h>

#include "../../common/config.h"
#include "../../dataplane/tls.h"
#include "check.h"

static char dir[64], crt[128], key[128];
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_x509_crt ca;

struct client {
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	struct buf *to_server, *from_server;
};

static int cli_send(void *arg, const unsigned char *p, size_t n)
{
	struct client *c = arg;

	return buf_append(c->to_server, p, n, 1 << 20) < 0 ? -1 : (int)n;
}

static int cli_recv(void *arg, unsigned char *p, size_t n)
{
	struct client *c = arg;
	size_t a = buf_avail(c->from_server);

	if (!a)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > a)
		n = a;
	memcpy(p, buf_head(c->from_server), n);
	buf_consume(c->from_server, n);
	return (int)n;
}

/* <groups>: the client's key exchange groups (0-terminated), or NULL for
 * mbedTLS's defaults; mbedTLS reads them when the context is set up. */
static void client_init(struct client *c, int version, const uint16_t *groups,
			struct buf *to, struct buf *from)
{
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
				    MBEDTLS_SSL_PRESET_DEFAULT);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_ca_chain(&c->conf, &ca, NULL);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_min_tls_version(&c->conf, version);
	mbedtls_ssl_conf_max_tls_version(&c->conf, version);
	mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
		&c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	if (groups)
		mbedtls_ssl_conf_groups(&c->conf, groups);
	mbedtls_ssl_setup(&c->ssl, &c->conf);
	mbedtls_ssl_set_hostname(&c->ssl, "localhost");
	c->to_server = to;
	c->from_server = from;
	mbedtls_ssl_set_bio(&c->ssl, c, cli_send, cli_recv, NULL);
}

/* What idgated negotiates by default (dataplane/main.c does the same). */
static struct tls_options options_of(const struct config *cfg)
{
	struct tls_options o = { cfg->tls_min_version, cfg->tls_groups.id, cfg->tls_groups.n,
				 cfg->tls_suites.id, cfg->tls_suites.n };

	return o;
}

static void client_free(struct client *c)
{
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
}

/* Drive both ends until the handshakes finish or stall; returns the
 * server's last result. */
static int handshake(struct tls_server *ts, struct tls_conn *tc, struct client *c)
{
	const char *why = NULL;
	int srv_rc = IG_EBLOCKED, cli_rc = 1;

	for (int i = 0; i < 50 && (srv_rc == IG_EBLOCKED || cli_rc != 0); i++) {
		if (cli_rc != 0)
			cli_rc = mbedtls_ssl_handshake(&c->ssl);
		if (srv_rc == IG_EBLOCKED)
			srv_rc = tls_conn_handshake(ts, tc, &why);
		if (srv_rc == IG_EPROTO)
			break;
	}
	return cli_rc == 0 ? srv_rc : (srv_rc < 0 ? srv_rc : IG_EPROTO);
}

static void exchange(struct tls_conn *tc, struct client *c)
{
	uint8_t got[64];
	int n;

	CHECK_EQ(mbedtls_ssl_write(&c->ssl, (const uint8_t *)"ping", 4), 4);
	n = tls_conn_read(tc, got, sizeof(got));
	CHECK_EQ(n, 4);
	CHECK(n == 4 && !memcmp(got, "ping", 4));
	CHECK_EQ(tls_conn_write(tc, (const uint8_t *)"pong", 4), IG_OK);
	/* A TLS 1.3 NewSessionTicket may come first; mbedTLS's client may also
	 * answer WANT_READ once after it while records are still buffered. */
	for (int i = 0; i < 8; i++) {
		n = mbedtls_ssl_read(&c->ssl, got, sizeof(got));
		if (n != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET &&
		    n != MBEDTLS_ERR_SSL_WANT_READ)
			break;
	}
	CHECK_EQ(n, 4);
	CHECK(n == 4 && !memcmp(got, "pong", 4));
	CHECK_EQ(tls_conn_read(tc, got, sizeof(got)), IG_EBLOCKED);
}

static void test_version(struct tls_server *a, struct tls_server *b, int version)
{
	struct buf c2s = { 0 }, s2c = { 0 };
	struct tls_conn tc = { 0 };
	struct client cl;
	mbedtls_ssl_session sess;

	/* Full handshake on worker A. */
	client_init(&cl, version, NULL, &c2s, &s2c);
	CHECK_EQ(tls_conn_start(a, &tc, &c2s, &s2c), IG_OK);
	CHECK_EQ(handshake(a, &tc, &cl), IG_OK);
	CHECK(!tc.resumed);
	CHECK_STR(tls_conn_version(&tc), version == MBEDTLS_SSL_VERSION_TLS1_3 ? "TLSv1.3" : "TLSv1.2");
	exchange(&tc, &cl);
	mbedtls_ssl_session_init(&sess);
	CHECK_EQ(mbedtls_ssl_get_session(&cl.ssl, &sess), 0);
	client_free(&cl);

	/* Resumed on worker B with A's ticket; the conn object is reused. */
	c2s.off = c2s.len = s2c.off = s2c.len = 0;
	client_init(&cl, version, NULL, &c2s, &s2c);
	CHECK_EQ(mbedtls_ssl_set_session(&cl.ssl, &sess), 0);
	CHECK_EQ(tls_conn_start(b, &tc, &c2s, &s2c), IG_OK);
	CHECK_EQ(handshake(b, &tc, &cl), IG_OK);
	CHECK(tc.resumed);
	exchange(&tc, &cl);
	client_free(&cl);
	mbedtls_ssl_session_free(&sess);

	/* Garbage instead of a ClientHello: refused, an alert may follow. */
	c2s.off = c2s.len = s2c.off = s2c.len = 0;
	CHECK_EQ(tls_conn_start(a, &tc, &c2s, &s2c), IG_OK);
	buf_append(&c2s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 1 << 20);
	{
		const char *why = NULL;

		CHECK_EQ(tls_conn_handshake(a, &tc, &why), IG_EPROTO);
		CHECK(why != NULL);
	}
	tls_conn_free(&tc);
	buf_free(&c2s);
	buf_free(&s2c);
}

/* The server's last record is a fatal handshake_failure alert, in the
 * clear (RFC 8446 §6: nothing is encrypted before ServerHello). */
static int ends_with_handshake_failure(const struct buf *s2c)
{
	static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28 };

	return buf_avail(s2c) >= sizeof(alert) &&
	       !memcmp(buf_head(s2c) + buf_avail(s2c) - sizeof(alert), alert, sizeof(alert));
}

/* A client that offers <groups> (0-terminated, or NULL for mbedTLS's
 * default) and <suites> (likewise) over <version>: the server's result. */
static int offer(struct tls_server *ts, int version, const uint16_t *groups,
		 const int *suites, struct buf *s2c)
{
	struct buf c2s = { 0 };
	struct tls_conn tc = { 0 };
	struct client cl;
	int rc;

	s2c->off = s2c->len = 0;
	client_init(&cl, version, groups, &c2s, s2c);
	if (suites)
		mbedtls_ssl_conf_ciphersuites(&cl.conf, suites);
	CHECK_EQ(tls_conn_start(ts, &tc, &c2s, s2c), IG_OK);
	rc = handshake(ts, &tc, &cl);
	client_free(&cl);
	tls_conn_free(&tc);
	buf_free(&c2s);
	return rc;
}

/*
 * What idgated's defaults refuse, each with a handshake_failure alert
 * and no key exchange: finite-field groups only (RFC 7919 ffdhe), TLS 1.2
 * with only a CBC or only a DHE suite.  A finite-field key share next to
 * x25519 among the supported groups gets a HelloRetryRequest (RFC 8446
 * §4.1.4) for x25519, and the handshake completes.
 */
static void test_refusals(struct tls_server *ts)
{
	static const uint16_t ffdhe[] = { MBEDTLS_SSL_IANA_TLS_GROUP_FFDHE2048, 0 };
	static const uint16_t ffdhe_then_x25519[] = { MBEDTLS_SSL_IANA_TLS_GROUP_FFDHE2048,
						      MBEDTLS_SSL_IANA_TLS_GROUP_X25519, 0 };
	static const int cbc[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, 0 };
	static const int dhe[] = { MBEDTLS_TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
				   MBEDTLS_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0 };
	/* RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello with this random */
	static const uint8_t hrr_random[32] = {
		0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e,
		0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e,
		0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c };
	struct buf c2s = { 0 }, s2c = { 0 };
	struct tls_conn tc = { 0 };
	struct client cl;
	const char *why = NULL;

	CHECK_EQ(offer(ts, MBEDTLS_SSL_VERSION_TLS1_3, ffdhe, NULL, &s2c), IG_EPROTO);
	CHECK(ends_with_handshake_failure(&s2c));
	CHECK_EQ(offer(ts, MBEDTLS_SSL_VERSION_TLS1_2, NULL, cbc, &s2c), IG_EPROTO);
	CHECK(ends_with_handshake_failure(&s2c));
	CHECK_EQ(offer(ts, MBEDTLS_SSL_VERSION_TLS1_2, NULL, dhe, &s2c), IG_EPROTO);
	CHECK(ends_with_handshake_failure(&s2c));

	/* One flight at a time, to see the HelloRetryRequest. */
	client_init(&cl, MBEDTLS_SSL_VERSION_TLS1_3, ffdhe_then_x25519, &c2s, &s2c);
	CHECK_EQ(tls_conn_start(ts, &tc, &c2s, &s2c), IG_OK);
	for (int i = 0; i < 4 && !buf_avail(&c2s); i++)
		(void)mbedtls_ssl_handshake(&cl.ssl);
	CHECK_EQ(tls_conn_handshake(ts, &tc, &why), IG_EBLOCKED);
	/* record header (5), handshake header (4), legacy_version (2) */
	CHECK(buf_avail(&s2c) > 43 && buf_head(&s2c)[0] == 0x16 && buf_head(&s2c)[5] == 0x02 &&
	      !memcmp(buf_head(&s2c) + 11, hrr_random, 32));
	CHECK_EQ(handshake(ts, &tc, &cl), IG_OK);
	CHECK_STR(tls_conn_version(&tc), "TLSv1.3");
	exchange(&tc, &cl);
	client_free(&cl);
	tls_conn_free(&tc);
	buf_free(&c2s);
	buf_free(&s2c);
}

/* Move what each side wrote to the other: OpenSSL's memory BIOs on one
 * side, the server's buffers on the other. */
static void ossl_pump(BIO *to_client, BIO *from_client, struct buf *c2s, struct buf *s2c)
{
	uint8_t tmp[4096];
	int n;

	while ((n = BIO_read(from_client, tmp, sizeof(tmp))) > 0)
		CHECK_EQ(buf_append(c2s, tmp, (size_t)n, 1 << 20), 0);
	if (buf_avail(s2c)) {
		CHECK_EQ(BIO_write(to_client, buf_head(s2c), (int)buf_avail(s2c)),
			 (int)buf_avail(s2c));
		buf_consume(s2c, buf_avail(s2c));
	}
}

/*
 * RFC 8446 §4.6.3: a KeyUpdate from an OpenSSL client (mbedTLS's client
 * cannot send one).  mbedTLS 3.6 cannot update the keys: the read fails as
 * TLS_FAIL_KEY_UPDATE with a fatal unexpected_message alert the client
 * can still decrypt, and the failure is sticky.
 */
static void test_key_update(struct tls_server *ts)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	BIO *to_client = BIO_new(BIO_s_mem()), *from_client = BIO_new(BIO_s_mem());
	struct buf c2s = { 0 }, s2c = { 0 };
	struct tls_conn tc = { 0 };
	const char *why = NULL;
	int cli = 0, srv = IG_EBLOCKED;
	uint8_t got[64];
	SSL *ssl;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	ssl = SSL_new(ctx);
	SSL_set_bio(ssl, to_client, from_client);
	SSL_set_connect_state(ssl);
	CHECK_EQ(tls_conn_start(ts, &tc, &c2s, &s2c), IG_OK);
	for (int i = 0; i < 20 && (cli != 1 || srv != IG_OK); i++) {
		if (cli != 1)
			cli = SSL_do_handshake(ssl);
		ossl_pump(to_client, from_client, &c2s, &s2c);
		if (srv == IG_EBLOCKED)
			srv = tls_conn_handshake(ts, &tc, &why);
		ossl_pump(to_client, from_client, &c2s, &s2c);
	}
	CHECK(cli == 1 && srv == IG_OK);
	CHECK_EQ(SSL_write(ssl, "ping", 4), 4);
	ossl_pump(to_client, from_client, &c2s, &s2c);
	CHECK_EQ(tls_conn_read(&tc, got, sizeof(got)), 4);

	CHECK_EQ(SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	CHECK_EQ(SSL_write(ssl, "ping", 4), 4); /* sends the KeyUpdate first */
	ossl_pump(to_client, from_client, &c2s, &s2c);
	CHECK_EQ(tls_conn_read(&tc, got, sizeof(got)), IG_EPROTO);
	CHECK_EQ(tc.failed, TLS_FAIL_KEY_UPDATE);
	CHECK_EQ(tls_conn_read(&tc, got, sizeof(got)), IG_EPROTO);
	ossl_pump(to_client, from_client, &c2s, &s2c);
	ERR_clear_error();
	CHECK(SSL_read(ssl, got, sizeof(got)) <= 0);
	CHECK_EQ(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_SSLV3_ALERT_UNEXPECTED_MESSAGE);

	SSL_free(ssl);
	SSL_CTX_free(ctx);
	tls_conn_free(&tc);
	buf_free(&c2s);
	buf_free(&s2c);
}

int main(void)
{
	struct tls_server a, b, other;
	struct config cfg;
	struct tls_options opt;
	uint8_t secret[32] = { 1, 2, 3 }, secret2[32] = { 9 };
	const char *why = NULL;
	struct stat st;
	int64_t now = time(NULL);

	psa_crypto_init();
	snprintf(dir, sizeof(dir), "/tmp/idgate-tls-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	CHECK_EQ(tls_make_self_signed(crt, key, "localhost", &why), IG_OK);
	CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ(tls_make_self_signed(crt, key, "localhost", &why), IG_OK); /* reuses */
	unlink(crt);
	CHECK_EQ(tls_make_self_signed(crt, key, "localhost", &why), IG_EUSAGE);
	unlink(key);
	CHECK_EQ(tls_make_self_signed(crt, key, "localhost", &why), IG_OK);

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
	mbedtls_x509_crt_init(&ca);
	CHECK_EQ(mbedtls_x509_crt_parse_file(&ca, crt), 0);

	config_defaults(&cfg);
	opt = options_of(&cfg);
	CHECK_EQ(tls_server_init(&a, crt, key, NULL, &opt, secret, 3600, now, &why), IG_OK);
	CHECK_EQ(tls_server_init(&b, crt, key, NULL, &opt, secret, 3600, now, &why), IG_OK);
	test_version(&a, &b, MBEDTLS_SSL_VERSION_TLS1_3);
	test_version(&a, &b, MBEDTLS_SSL_VERSION_TLS1_2);
	test_refusals(&a);
	test_key_update(&a);

	/* Ticket keys rotate per period; the previous period still resumes. */
	tls_server_tick(&b, now + 3600);
	CHECK(b.ticket_period == (uint64_t)(now + 3600) / 3600);
	tls_server_free(&b);

	/* A server with a missing key file or a different secret. */
	CHECK(tls_server_init(&other, crt, "/nonexistent/key", NULL, &opt, secret2, 3600, now, &why) < 0);
	CHECK(why && strstr(why, "TLS key"));
	tls_server_free(&other);

	/* What tls_server_init refuses in its options: a suite this mbedTLS
	 * lacks, no TLS 1.2 suite for the EC certificate while TLS 1.2 is on
	 * (fine with min_version 13), no groups. */
	{
		static const uint16_t unknown[] = { 0x1301, 0x1234 };
		static const uint16_t rsa_only[] = { 0x1301, 0xc02f };
		struct tls_options o = opt;

		o.suites = unknown;
		o.nsuites = 2;
		CHECK_EQ(tls_server_init(&other, crt, key, NULL, &o, secret, 3600, now, &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, "0x1234 is not in this mbedTLS build"));
		tls_server_free(&other);
		o.suites = rsa_only;
		CHECK_EQ(tls_server_init(&other, crt, key, NULL, &o, secret, 3600, now, &why),
			 IG_EUSAGE);
		CHECK(why && strstr(why, "no TLS 1.2 suite signs with the certificate's EC key"));
		tls_server_free(&other);
		o.min_version = 13;
		CHECK_EQ(tls_server_init(&other, crt, key, NULL, &o, secret, 3600, now, &why), IG_OK);
		tls_server_free(&other);
		o.ngroups = 0;
		CHECK_EQ(tls_server_init(&other, crt, key, NULL, &o, secret, 3600, now, &why),
			 IG_EUSAGE);
		tls_server_free(&other);
	}

	tls_server_free(&a);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_psa_crypto_free();
	unlink(crt);
	unlink(key);
	rmdir(dir);
	return check_done("tls");
}
