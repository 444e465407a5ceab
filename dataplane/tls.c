/*
 * tls.c - mbedTLS server glue without sockets (see tls.h).
 */
#include "tls.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "../common/jose.h"
#include "../common/rand.h"
#include "../common/result.h"

/* Ciphertext buffers never need more than this: a few records in flight. */
#define TLS_BUF_LIMIT (1u << 20)

/* The BIO callbacks move bytes between mbedTLS and the connection's
 * buffers; the owner moves them to and from the network. */
static int bio_send(void *arg, const unsigned char *p, size_t n)
{
	struct tls_conn *tc = arg;

	if (buf_append(tc->out, p, n, 64u << 20) < 0)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)n;
}

static int bio_recv(void *arg, unsigned char *p, size_t n)
{
	struct tls_conn *tc = arg;
	size_t avail = buf_avail(tc->in);

	if (avail == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > avail)
		n = avail;
	memcpy(p, buf_head(tc->in), n);
	buf_consume(tc->in, n);
	return (int)n;
}

/* Ticket keys of period <p>: HMAC-SHA-256(secret, label || p), so every
 * worker derives the same keys without talking to the others. */
static void ticket_key(const uint8_t secret[32], uint64_t p, uint8_t name[4],
		       uint8_t key[32])
{
	uint8_t period[8], mac[32];

	for (int i = 0; i < 8; i++)
		period[i] = (uint8_t)(p >> (56 - 8 * i));
	/* 8-byte labels; servers of every version derive the same keys */
	hmac_sha256(secret, 32, (const struct ig_piece[]){ { "idgtktke", 8 }, { period, 8 } },
		    2, key);
	hmac_sha256(secret, 32, (const struct ig_piece[]){ { "idgtknam", 8 }, { period, 8 } },
		    2, mac);
	memcpy(name, mac, 4);
	mbedtls_platform_zeroize(mac, sizeof(mac));
}

static int ticket_rotate_to(struct tls_server *ts, uint64_t p)
{
	uint8_t name[4], key[32];
	int rc;

	ticket_key(ts->ticket_secret, p, name, key);
	/* A key's lifetime in mbedTLS is also when it replaces the key by a
	 * random one on its own; keep that past our own rotation. */
	rc = mbedtls_ssl_ticket_rotate(&ts->ticket, name, sizeof(name), key,
				       sizeof(key), ts->ticket_lifetime + 60);
	mbedtls_platform_zeroize(key, sizeof(key));
	if (rc == 0)
		ts->ticket_period = p;
	return rc;
}

void tls_server_tick(struct tls_server *ts, int64_t now)
{
	uint64_t p = (uint64_t)now / ts->ticket_lifetime;

	if (p != ts->ticket_period)
		(void)ticket_rotate_to(ts, p);
}

/* Count a resumption when a presented ticket decrypts and is accepted. */
static int ticket_parse(void *arg, mbedtls_ssl_session *session,
			unsigned char *p, size_t len)
{
	struct tls_server *ts = arg;
	int rc = mbedtls_ssl_ticket_parse(&ts->ticket, session, p, len);

	if (rc == 0 && ts->current)
		ts->current->resumed = 1;
	return rc;
}

static int ticket_write(void *arg, const mbedtls_ssl_session *session,
			unsigned char *start, const unsigned char *end,
			size_t *tlen, uint32_t *lifetime)
{
	struct tls_server *ts = arg;

	return mbedtls_ssl_ticket_write(&ts->ticket, session, start, end, tlen,
					lifetime);
}

static const char *mbed_why(int rc, const char *what)
{
	static __thread char msg[160];
	char e[100];

	mbedtls_strerror(rc, e, sizeof(e));
	snprintf(msg, sizeof(msg), "%s: %s", what, e);
	return msg;
}

/*
 * With the accelerator (MBEDTLS_USE_PSA_CRYPTO), an EC key becomes an
 * opaque PSA key allowed randomized ECDSA only: the handshake's signature
 * then goes straight to psa_sign_hash and the accelerator driver, without
 * importing the key again for every signature, and not to mbedTLS's
 * deterministic ECDSA (which the driver leaves to mbedTLS: OpenSSL 3.0 has
 * no RFC 6979).  Other keys (RSA) stay as parsed.
 */
static int tls_key_to_psa(struct tls_server *ts, const char **why)
{
#if defined(MBEDTLS_USE_PSA_CRYPTO)
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	int rc;

	if (!mbedtls_pk_can_do(&ts->key, MBEDTLS_PK_ECKEY))
		return IG_OK;
	if ((rc = mbedtls_pk_get_psa_attributes(&ts->key, PSA_KEY_USAGE_SIGN_HASH,
						&attr))) {
		*why = mbed_why(rc, "the TLS key's PSA attributes");
		return IG_EUSAGE;
	}
	psa_set_key_algorithm(&attr, PSA_ALG_ECDSA(PSA_ALG_ANY_HASH));
	if ((rc = mbedtls_pk_import_into_psa(&ts->key, &attr, &ts->key_id))) {
		*why = mbed_why(rc, "the TLS key into PSA");
		return IG_EUSAGE;
	}
	mbedtls_pk_free(&ts->key);
	mbedtls_pk_init(&ts->key);
	if ((rc = mbedtls_pk_setup_opaque(&ts->key, ts->key_id))) {
		*why = mbed_why(rc, "the TLS key as an opaque key");
		return IG_EUSAGE;
	}
#endif
	return IG_OK;
}

/* ---- a key held elsewhere ------------------------------------------------------ */

static struct tls_conn *tls_conn_of(mbedtls_ssl_context *ssl)
{
	return (struct tls_conn *)((char *)ssl - offsetof(struct tls_conn, ssl));
}

static int async_sign_start(mbedtls_ssl_context *ssl, mbedtls_x509_crt *cert,
			    mbedtls_md_type_t md_alg, const unsigned char *hash,
			    size_t hash_len)
{
	struct tls_conn *tc = tls_conn_of(ssl);
	const struct tls_server *ts = tc->owner;

	if (tc->async != TLS_ASYNC_NONE)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	tc->async = TLS_ASYNC_PENDING;
	if (ts->async.start(ts->async.arg, tc, hash, hash_len) < 0) {
		tc->async = TLS_ASYNC_NONE;
		return MBEDTLS_ERR_SSL_HW_ACCEL_FAILED;
	}
	return MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS;
}

static int async_resume(mbedtls_ssl_context *ssl, unsigned char *out,
			size_t *out_len, size_t out_size)
{
	struct tls_conn *tc = tls_conn_of(ssl);
	int rc = MBEDTLS_ERR_SSL_HW_ACCEL_FAILED;

	if (tc->async == TLS_ASYNC_PENDING)
		return MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS;
	/* TLS wants ECDSA as DER; PKCS#11 gives r||s. */
	if (tc->async == TLS_ASYNC_DONE &&
	    mbedtls_ecdsa_raw_to_der(256, tc->async_rs, 64, out, out_size, out_len) == 0)
		rc = 0;
	tc->async = TLS_ASYNC_NONE;
	return rc;
}

/* The connection goes away with its signature pending: the owner keeps the
 * connection until the job returns and then ignores it. */
static void async_cancel(mbedtls_ssl_context *ssl)
{
	tls_conn_of(ssl)->async = TLS_ASYNC_NONE;
}

void tls_conn_async_done(struct tls_conn *tc, const uint8_t rs[64])
{
	if (tc->async != TLS_ASYNC_PENDING)
		return;         /* cancelled */
	if (rs) {
		memcpy(tc->async_rs, rs, 64);
		tc->async = TLS_ASYNC_DONE;
	} else {
		tc->async = TLS_ASYNC_FAILED;
	}
}

/* The certificate's public key as the handshake's "own key": the
 * signatures come from the async signer. */
static int tls_public_own_key(struct tls_server *ts, const char **why)
{
	unsigned char der[200];
	int n = mbedtls_pk_write_pubkey_der(&ts->cert.pk, der, sizeof(der)), rc;

	if (n < 0 || !mbedtls_pk_can_do(&ts->cert.pk, MBEDTLS_PK_ECKEY)) {
		*why = "a TLS key in the HSM must be EC P-256";
		return IG_EUSAGE;
	}
	if ((rc = mbedtls_pk_parse_public_key(&ts->key, der + sizeof(der) - n, (size_t)n))) {
		*why = mbed_why(rc, "the TLS certificate's public key");
		return IG_EUSAGE;
	}
	return IG_OK;
}

/*
 * What the server negotiates.  Groups: mbedTLS's default list ends with
 * ffdhe2048..8192 (RFC 7919), and a ClientHello naming one with a random
 * key share made the server spend up to 0.7 s of CPU on a key pair.
 * Key shares in groups not listed here are skipped while the ClientHello
 * is parsed: one that lists a group of ours gets a HelloRetryRequest for
 * it (RFC 8446 §4.1.4), one that lists none is refused (see
 * tls_conn_handshake for its alert).  Suites: the caller's
 * list, each checked against this mbedTLS; with TLS 1.2 enabled one of
 * them must be able to sign with the certificate's key (ECDHE_ECDSA for
 * an EC key, ECDHE_RSA for RSA).  TLS 1.3 resumption always runs a fresh
 * (EC)DHE (psk_dhe_ke, RFC 8446 §4.2.9), never psk_ke, so a stolen ticket
 * key does not expose the traffic of resumed sessions.
 */
static int tls_conf_negotiation(struct tls_server *ts, const struct tls_options *opt,
				const char **why)
{
	static __thread char msg[160];
	int ecdsa = mbedtls_pk_can_do(&ts->cert.pk, MBEDTLS_PK_ECDSA), tls12_ok = 0;

	IG_ENSURE(opt->ngroups >= 1 && opt->ngroups <= TLS_MAX_IDS &&
		  opt->nsuites >= 1 && opt->nsuites <= TLS_MAX_IDS, IG_EUSAGE, why,
		  "TLS groups and cipher suites: 1 to 16 of each");
	for (unsigned i = 0; i < opt->ngroups; i++)
		ts->groups[i] = opt->groups[i];
	ts->groups[opt->ngroups] = 0;
	for (unsigned i = 0; i < opt->nsuites; i++) {
		const mbedtls_ssl_ciphersuite_t *cs =
			mbedtls_ssl_ciphersuite_from_id(opt->suites[i]);

		if (!cs) {
			snprintf(msg, sizeof(msg), "cipher suite 0x%04x is not in this "
				 "mbedTLS build", opt->suites[i]);
			*why = msg;
			return IG_EUSAGE;
		}
		/* mbedTLS names TLS 1.2 suites TLS-ECDHE-<auth>-WITH-... */
		if (opt->suites[i] >> 8 != 0x13 &&
		    strstr(mbedtls_ssl_ciphersuite_get_name(cs), ecdsa ? "-ECDSA-" : "-RSA-"))
			tls12_ok = 1;
		ts->suites[i] = opt->suites[i];
	}
	ts->suites[opt->nsuites] = 0;
	IG_ENSURE(opt->min_version == 13 || tls12_ok, IG_EUSAGE, why, ecdsa ?
		  "tls.ciphersuites: no TLS 1.2 suite signs with the certificate's EC key "
		  "(add TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, or min_version = 1.3)" :
		  "tls.ciphersuites: no TLS 1.2 suite signs with the certificate's RSA key "
		  "(add TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, or min_version = 1.3)");
	mbedtls_ssl_conf_groups(&ts->conf, ts->groups);
	mbedtls_ssl_conf_ciphersuites(&ts->conf, ts->suites);
	mbedtls_ssl_conf_tls13_key_exchange_modes(&ts->conf,
		MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ALL);
	mbedtls_ssl_conf_min_tls_version(&ts->conf, opt->min_version == 13 ?
					 MBEDTLS_SSL_VERSION_TLS1_3 :
					 MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&ts->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	return IG_OK;
}

int tls_server_init(struct tls_server *ts, const char *cert_file,
		    const char *key_file, const struct tls_async_signer *async,
		    const struct tls_options *opt, const uint8_t ticket_secret[32],
		    uint32_t ticket_lifetime, int64_t now, const char **why)
{
	int rc;

	memset(ts, 0, sizeof(*ts));
	mbedtls_ssl_config_init(&ts->conf);
	mbedtls_x509_crt_init(&ts->cert);
	mbedtls_pk_init(&ts->key);
	mbedtls_ssl_ticket_init(&ts->ticket);
	memcpy(ts->ticket_secret, ticket_secret, 32);
	ts->ticket_lifetime = ticket_lifetime;

	if ((rc = mbedtls_x509_crt_parse_file(&ts->cert, cert_file))) {
		*why = mbed_why(rc, "reading the TLS certificate");
		return IG_EUSAGE;
	}
	if (async) {
		ts->async = *async;
		if (tls_public_own_key(ts, why) < 0)
			return IG_EUSAGE;
	} else {
		if ((rc = mbedtls_pk_parse_keyfile(&ts->key, key_file, NULL,
						   ig_rng, NULL))) {
			*why = mbed_why(rc, "reading the TLS key");
			return IG_EUSAGE;
		}
		if (tls_key_to_psa(ts, why) < 0)
			return IG_EUSAGE;
	}
	if ((rc = mbedtls_ssl_config_defaults(&ts->conf, MBEDTLS_SSL_IS_SERVER,
					      MBEDTLS_SSL_TRANSPORT_STREAM,
					      MBEDTLS_SSL_PRESET_DEFAULT))) {
		*why = mbed_why(rc, "TLS defaults");
		return IG_EINTERNAL;
	}
	mbedtls_ssl_conf_rng(&ts->conf, ig_rng, NULL); /* common/rand.h */
	IG_GUARD(tls_conf_negotiation(ts, opt, why));
	if ((rc = mbedtls_ssl_conf_own_cert(&ts->conf, &ts->cert, &ts->key))) {
		*why = mbed_why(rc, "TLS certificate and key do not go together");
		return IG_EUSAGE;
	}
	if (async)
		mbedtls_ssl_conf_async_private_cb(&ts->conf, async_sign_start, NULL,
						  async_resume, async_cancel, ts);
	if ((rc = mbedtls_ssl_ticket_setup(&ts->ticket, ig_rng, NULL,
					   MBEDTLS_CIPHER_AES_256_GCM,
					   ticket_lifetime))) {
		*why = mbed_why(rc, "session tickets");
		return IG_EINTERNAL;
	}
	/* Previous and current period, so tickets issued just before the
	 * last rotation still resume. */
	uint64_t p = (uint64_t)now / ticket_lifetime;
	if (ticket_rotate_to(ts, p - 1) || ticket_rotate_to(ts, p)) {
		*why = "session ticket keys";
		return IG_EINTERNAL;
	}
	mbedtls_ssl_conf_session_tickets_cb(&ts->conf, ticket_write, ticket_parse, ts);
	return IG_OK;
}

void tls_server_free(struct tls_server *ts)
{
	mbedtls_ssl_ticket_free(&ts->ticket);
	mbedtls_ssl_config_free(&ts->conf);
	mbedtls_pk_free(&ts->key);
#if defined(MBEDTLS_USE_PSA_CRYPTO)
	psa_destroy_key(ts->key_id);
#endif
	mbedtls_x509_crt_free(&ts->cert);
	mbedtls_platform_zeroize(ts->ticket_secret, sizeof(ts->ticket_secret));
}

int tls_conn_start(struct tls_server *ts, struct tls_conn *tc, struct buf *in,
		   struct buf *out)
{
	tc->in = in;
	tc->out = out;
	tc->handshake_done = 0;
	tc->resumed = 0;
	tc->async = TLS_ASYNC_NONE;
	tc->failed = TLS_FAIL_NONE;
	if (tc->setup && tc->owner != ts)
		tls_conn_free(tc); /* set up for another server's config */
	if (!tc->setup) {
		mbedtls_ssl_init(&tc->ssl);
		if (mbedtls_ssl_setup(&tc->ssl, &ts->conf)) {
			mbedtls_ssl_free(&tc->ssl);
			return IG_ENOMEM;
		}
		tc->setup = 1;
		tc->owner = ts;
	} else if (mbedtls_ssl_session_reset(&tc->ssl)) {
		return IG_EINTERNAL;
	}
	mbedtls_ssl_set_bio(&tc->ssl, tc, bio_send, bio_recv, NULL);
	return IG_OK;
}

void tls_conn_free(struct tls_conn *tc)
{
	if (tc->setup)
		mbedtls_ssl_free(&tc->ssl);
	tc->setup = 0;
}

int tls_conn_handshake(struct tls_server *ts, struct tls_conn *tc,
		       const char **why)
{
	size_t queued = buf_avail(tc->out);
	int rc;

	IG_ENSURE(tc->failed == TLS_FAIL_NONE, IG_EPROTO, why, "TLS handshake failed before");
	ts->current = tc;
	rc = mbedtls_ssl_handshake(&tc->ssl);
	ts->current = NULL;
	if (rc == 0) {
		tc->handshake_done = 1;
		return IG_OK;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
	    rc == MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS)
		return IG_EBLOCKED;
	/*
	 * Some failures leave the client without an alert: mbedTLS 3.6 gives
	 * up on a ClientHello that names none of our groups (no key share
	 * to use, nothing to ask for in a HelloRetryRequest) with no alert
	 * at all.  RFC 8446 §6.2: handshake_failure, "unable to negotiate an
	 * acceptable set of security parameters".  mbedTLS wrote nothing
	 * during this call, so no alert of its own went out.
	 */
	if (buf_avail(tc->out) == queued)
		(void)mbedtls_ssl_send_alert_message(&tc->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
						     MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
	tc->failed = TLS_FAIL_HANDSHAKE;
	*why = mbed_why(rc, "TLS handshake failed");
	return IG_EPROTO;
}

/*
 * RFC 8446 §4.6.3: either side may send a KeyUpdate (handshake type 24,
 * §4) after the handshake.  mbedTLS 3.6 cannot derive the next traffic
 * secret: its read returns UNEXPECTED_MESSAGE and sends nothing.  The
 * record is in its input buffer still (private fields, read only here).
 */
static int tls_got_key_update(const struct tls_conn *tc)
{
	const mbedtls_ssl_context *ssl = &tc->ssl;

	return mbedtls_ssl_get_version_number(ssl) == MBEDTLS_SSL_VERSION_TLS1_3 &&
	       ssl->MBEDTLS_PRIVATE(in_msgtype) == MBEDTLS_SSL_MSG_HANDSHAKE &&
	       ssl->MBEDTLS_PRIVATE(in_msglen) >= 1 &&
	       ssl->MBEDTLS_PRIVATE(in_msg)[0] == 24;
}

int tls_conn_read(struct tls_conn *tc, uint8_t *dst, size_t cap)
{
	size_t left = buf_avail(tc->in);
	int rc;

	/* Once failed, mbedTLS's state is not worth asking again. */
	if (tc->failed != TLS_FAIL_NONE)
		return IG_EPROTO;
	/* mbedTLS answers WANT_READ after a record that carried no
	 * application data (a ticket, a CCS) even with more records
	 * buffered: go on while it consumes input. */
	for (;;) {
		rc = mbedtls_ssl_read(&tc->ssl, dst, cap);
		if (rc != MBEDTLS_ERR_SSL_WANT_READ || buf_avail(tc->in) == 0 ||
		    buf_avail(tc->in) == left)
			break;
		left = buf_avail(tc->in);
	}

	if (rc > 0)
		return rc;
	switch (rc) {
	case MBEDTLS_ERR_SSL_WANT_READ:
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return IG_EBLOCKED;
	case 0:
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		return IG_ECLOSED;
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
		/* A KeyUpdate, or another message out of place: say so with
		 * a fatal alert (RFC 8446 §6.2) rather than drop the
		 * connection silently.  The alert goes under our current
		 * keys, which the client still reads with (§4.6.3). */
		tc->failed = tls_got_key_update(tc) ? TLS_FAIL_KEY_UPDATE : TLS_FAIL_PROTOCOL;
		(void)mbedtls_ssl_send_alert_message(&tc->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
						     MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE);
		return IG_EPROTO;
	}
	tc->failed = TLS_FAIL_PROTOCOL;
	return IG_EPROTO;
}

int tls_conn_write(struct tls_conn *tc, const uint8_t *src, size_t len)
{
	while (len) {
		int rc = mbedtls_ssl_write(&tc->ssl, src, len);

		if (rc <= 0)
			return IG_EINTERNAL;
		src += rc;
		len -= (size_t)rc;
	}
	return IG_OK;
}

void tls_conn_close_notify(struct tls_conn *tc)
{
	(void)mbedtls_ssl_close_notify(&tc->ssl);
}

const char *tls_conn_version(const struct tls_conn *tc)
{
	return mbedtls_ssl_get_version(&tc->ssl);
}

static int write_file(const char *path, const unsigned char *p, size_t n,
		      mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, p, n);
	if (fchmod(fd, mode) || fsync(fd) || close(fd) || w != (ssize_t)n)
		return -1;
	return 0;
}

int tls_make_self_signed(const char *cert_file, const char *key_file,
			 const char *cn, const char **why)
{
	static const unsigned char ip4[4] = { 127, 0, 0, 1 };
	static const unsigned char ip6[16] = { [15] = 1 };
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_x509_san_list san[3];
	mbedtls_asn1_sequence eku;
	unsigned char serial[16], pem[4096];
	char subject[160], nb[16], na[16];
	struct tm tm;
	time_t t;
	int rc = -1;

	if (access(cert_file, F_OK) == 0 && access(key_file, F_OK) == 0)
		return IG_OK;
	if (access(cert_file, F_OK) == 0 || access(key_file, F_OK) == 0) {
		*why = "only one of the TLS certificate and key exists";
		return IG_EUSAGE;
	}
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	*why = "making the TLS certificate";
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), ig_rng, NULL) ||
	    ig_random(serial, sizeof(serial)) != IG_OK)
		goto out;
	serial[0] &= 0x7f; /* a positive INTEGER */
	serial[0] |= 0x40;
	snprintf(subject, sizeof(subject), "CN=%s,O=idgate", cn);
	t = time(NULL) - 3600;
	gmtime_r(&t, &tm);
	strftime(nb, sizeof(nb), "%Y%m%d%H%M%S", &tm);
	t += 398LL * 86400; /* the longest validity browsers accept */
	gmtime_r(&t, &tm);
	strftime(na, sizeof(na), "%Y%m%d%H%M%S", &tm);

	memset(san, 0, sizeof(san));
	san[0].node.type = MBEDTLS_X509_SAN_DNS_NAME;
	san[0].node.san.unstructured_name.p = (unsigned char *)"localhost";
	san[0].node.san.unstructured_name.len = 9;
	san[0].next = &san[1];
	san[1].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
	san[1].node.san.unstructured_name.p = (unsigned char *)ip4;
	san[1].node.san.unstructured_name.len = 4;
	san[1].next = &san[2];
	san[2].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
	san[2].node.san.unstructured_name.p = (unsigned char *)ip6;
	san[2].node.san.unstructured_name.len = 16;
	memset(&eku, 0, sizeof(eku));
	eku.buf.tag = MBEDTLS_ASN1_OID;
	eku.buf.p = (unsigned char *)MBEDTLS_OID_SERVER_AUTH;
	eku.buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial)) ||
	    mbedtls_x509write_crt_set_subject_name(&crt, subject) ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, subject) ||
	    mbedtls_x509write_crt_set_validity(&crt, nb, na) ||
	    mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) ||
	    mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) ||
	    mbedtls_x509write_crt_set_ext_key_usage(&crt, &eku) ||
	    mbedtls_x509write_crt_set_subject_key_identifier(&crt) ||
	    mbedtls_x509write_crt_set_subject_alternative_name(&crt, san))
		goto out;
	if (mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)) ||
	    write_file(key_file, pem, strlen((char *)pem), 0600)) {
		*why = "writing the TLS key file";
		goto out;
	}
	if (mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), ig_rng, NULL) ||
	    write_file(cert_file, pem, strlen((char *)pem), 0644)) {
		*why = "writing the TLS certificate file";
		unlink(key_file);
		goto out;
	}
	rc = IG_OK;
out:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return rc == IG_OK ? IG_OK : IG_EINTERNAL;
}
