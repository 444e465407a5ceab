/*
 * tls.h - mbedTLS glue, sans-I/O: a TLS connection takes ciphertext bytes
 * from its owner and leaves ciphertext to send in its owner's buffers; it
 * never touches a socket, so the io_uring and DPDK backends share it.
 *
 * Each worker owns a struct tls_server: its own ssl_config, DRBG,
 * certificate and key objects (mbedTLS objects are not shared between
 * threads) and a session-ticket context whose keys are derived from one
 * process-wide secret and the current rotation period, so every worker
 * accepts every worker's tickets and all rotate together.
 */
#ifndef IG_TLS_H
#define IG_TLS_H
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "../common/buf.h"

struct tls_conn;

/*
 * A server key held elsewhere (an HSM).  The handshake's signature (TLS
 * 1.2 ServerKeyExchange, TLS 1.3 CertificateVerify) is asked of <start>
 * with the hash to sign; IG_OK means it started and the owner calls
 * tls_conn_async_done once it has the answer (the handshake meanwhile
 * returns IG_EBLOCKED), any error fails the handshake with an alert.
 */
struct tls_async_signer {
	int (*start)(void *arg, struct tls_conn *tc, const uint8_t *hash, size_t len);
	void *arg;
};

/*
 * What a server negotiates, by IANA code points in order of preference
 * (mbedTLS's identifiers are the same): key exchange groups (RFC 8446
 * §4.2.7) and cipher suites of TLS 1.3 and 1.2.  The caller vets them
 * (config.c refuses finite-field groups and suites without AEAD or
 * ephemeral ECDHE); tls_server_init keeps its own copies.
 */
#define TLS_MAX_IDS 16
struct tls_options {
	int min_version;           /* 12 or 13 */
	const uint16_t *groups;    /* 1..TLS_MAX_IDS of them */
	unsigned ngroups;
	const uint16_t *suites;    /* 1..TLS_MAX_IDS of them */
	unsigned nsuites;
};

struct tls_server {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
#if defined(MBEDTLS_USE_PSA_CRYPTO)
	mbedtls_svc_key_id_t key_id;   /* the key in PSA (0: none) */
#endif
	mbedtls_ssl_ticket_context ticket;
	uint8_t ticket_secret[32];
	uint32_t ticket_lifetime;
	uint64_t ticket_period;        /* period whose key is active */
	struct tls_conn *current;      /* connection in mbedtls_ssl_handshake */
	struct tls_async_signer async; /* start == NULL: the key is in key */
	/* mbedtls_ssl_conf_groups/_ciphersuites keep pointers: 0-terminated */
	uint16_t groups[TLS_MAX_IDS + 1];
	int suites[TLS_MAX_IDS + 1];
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	struct buf *in;   /* ciphertext received, consumed from the front */
	struct buf *out;  /* where ciphertext to send is appended */
	uint8_t handshake_done;
	uint8_t resumed;  /* a session ticket was accepted */
	uint8_t setup;    /* ssl was set up (kept across reuse) */
	const struct tls_server *owner; /* whose ssl_config <ssl> uses */
	uint8_t async;    /* enum tls_async_state: the held key's signature */
	uint8_t async_rs[64]; /* its r||s once done */
	uint8_t failed;   /* enum tls_failure: sticky once the connection failed */
};

enum tls_async_state { TLS_ASYNC_NONE, TLS_ASYNC_PENDING, TLS_ASYNC_DONE,
		       TLS_ASYNC_FAILED };

/* Why a connection failed, for its owner's log and counters. */
enum tls_failure {
	TLS_FAIL_NONE,
	TLS_FAIL_HANDSHAKE,
	TLS_FAIL_KEY_UPDATE,   /* a TLS 1.3 KeyUpdate, refused (tls_conn_read) */
	TLS_FAIL_PROTOCOL,     /* any other bad record after the handshake */
};

/* Set up a worker's TLS server from PEM files.  <ticket_secret> is the
 * process-wide secret the ticket keys derive from; <opt> what it
 * negotiates (a suite this mbedTLS lacks, or no TLS 1.2 suite for the
 * certificate's key with min_version 12, is IG_EUSAGE).  With <async>
 * (not NULL) the certificate's key is held elsewhere and <key_file> is
 * not read. */
int tls_server_init(struct tls_server *ts, const char *cert_file,
		    const char *key_file, const struct tls_async_signer *async,
		    const struct tls_options *opt, const uint8_t ticket_secret[32],
		    uint32_t ticket_lifetime, int64_t now, const char **why);
/* The held key's signature for <tc> has come: <rs> (r||s of ECDSA P-256),
 * or NULL when it failed.  The owner then advances the handshake. */
void tls_conn_async_done(struct tls_conn *tc, const uint8_t rs[64]);
void tls_server_free(struct tls_server *ts);
/* Rotate ticket keys when a new period starts; call now and then. */
void tls_server_tick(struct tls_server *ts, int64_t now);

/* Prepare <tc> for a new connection (first use sets mbedtls up; reuse only
 * resets it, keeping its buffers). */
int tls_conn_start(struct tls_server *ts, struct tls_conn *tc, struct buf *in,
		   struct buf *out);
void tls_conn_free(struct tls_conn *tc);

/*
 * Advance the handshake with what is in tc->in.  Returns IG_OK when done,
 * IG_EBLOCKED when it needs more input, IG_EPROTO on failure: a fatal
 * alert is then queued in tc->out (mbedTLS's own, else handshake_failure);
 * send it, then close.
 */
int tls_conn_handshake(struct tls_server *ts, struct tls_conn *tc,
		       const char **why);
/* Decrypt application data into <dst>, up to <cap> bytes.  Returns bytes
 * (> 0), IG_EBLOCKED (need more input), IG_ECLOSED (close_notify) or
 * IG_EPROTO: tc->failed says why, and a fatal alert may be queued in
 * tc->out (a KeyUpdate is answered with unexpected_message: mbedTLS 3.6
 * cannot update traffic keys); send it, then close. */
int tls_conn_read(struct tls_conn *tc, uint8_t *dst, size_t cap);
/* Encrypt all of <src> into tc->out.  IG_OK or IG_EINTERNAL. */
int tls_conn_write(struct tls_conn *tc, const uint8_t *src, size_t len);
/* Queue a close_notify alert. */
void tls_conn_close_notify(struct tls_conn *tc);
/* Version string of the negotiated protocol ("TLSv1.3"). */
const char *tls_conn_version(const struct tls_conn *tc);

/*
 * First start: make a self-signed ECDSA P-256 certificate for
 * CN=<cn> (SAN: DNS:localhost, IP:127.0.0.1, IP:::1) with its key, written
 * as PEM to <cert_file> (0644) and <key_file> (0600) unless both exist.
 */
int tls_make_self_signed(const char *cert_file, const char *key_file,
			 const char *cn, const char **why);

#endif
