/*
 * idgate's adjustments to mbedTLS 3.6's default configuration.
 * Included after include/mbedtls/mbedtls_config.h through
 * MBEDTLS_USER_CONFIG_FILE (see deps/build-mbedtls.sh).
 */

/* TLS 1.3 and 1.2, server and client, with session tickets: on by default in
 * 3.6; stated here so a change upstream cannot silently drop them. */
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_TICKET_C
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE

/* Private-key operations of the TLS server can run outside the handshake
 * call (the HSM engine completes them later). */
#define MBEDTLS_SSL_ASYNC_PRIVATE

/* PSA key slots are shared by every worker thread. */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD

/* The accelerator (IDGATE_ACCEL, set by deps/build-mbedtls.sh unless
 * IDGATE_ACCEL=0): idgate's PSA driver (common/accel) runs P-256 on
 * libcrypto and X25519 on libsodium beneath mbedTLS's PSA core.  The TLS
 * stack reaches PSA for its key exchange anyway; MBEDTLS_USE_PSA_CRYPTO
 * makes it sign through PSA too (the server's key is an opaque PSA key,
 * dataplane/tls.c). */
#if defined(IDGATE_ACCEL)
#define IDGATE_PSA_ACCEL
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define MBEDTLS_USE_PSA_CRYPTO
#endif

/* Project Everest's X25519: about 19x the ephemeral X25519 rate of the
 * generic ECP code on this machine kind. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED

/* Nothing in idgate uses these; leaving them out shrinks the attack
 * surface. */
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID
#undef MBEDTLS_SSL_DTLS_SRTP
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_COOKIE_C
#undef MBEDTLS_SSL_RENEGOTIATION
