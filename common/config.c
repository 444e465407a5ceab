#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ctype { C_STR, C_UINT, C_DOUBLE, C_BOOL, C_POLL, C_TLSVER, C_SIZE, C_BACKEND,
	     C_TLS_GROUPS, C_TLS_SUITES };

struct setting {
	const char *section, *name;
	enum ctype type;
	size_t off, size;
	const char *def;
	const char *help;
};

#define S(sec, nm, ty, field, def, help)                                       \
	{ sec, nm, ty, offsetof(struct config, field),                         \
	  sizeof(((struct config *)0)->field), def, help }

static const struct setting settings[] = {
	S("server", "state_dir", C_STR, state_dir, "./var",
	  "state directory: SoftHSM token, TLS key and certificate, store, admin token"),
	S("server", "workers", C_UINT, workers, "0",
	  "dataplane worker threads, each pinned to a core; 0 = one per online core"),
	S("server", "listen", C_STR, listen, "127.0.0.1:8443",
	  "TLS listener for citizens' apps and relying services (host:port)"),
	S("server", "admin_listen", C_STR, admin_listen, "127.0.0.1:9090",
	  "plain-HTTP admin and metrics listener; keep it on a private network"),
	S("server", "issuer", C_STR, issuer, "",
	  "issuer URL (iss of access tokens); default https://<listen>"),
	S("server", "poll", C_POLL, poll, "busy",
	  "worker loop: busy (spin for lowest latency at peak) or adaptive (sleep when idle)"),
	S("server", "backend", C_BACKEND, backend, "io_uring",
	  "dataplane I/O: io_uring (the kernel's TCP) or dpdk (a NIC driven through DPDK, "
	  "with idgate's userspace TCP/IP stack: see [dpdk]); the admin listener always "
	  "uses io_uring"),
	S("server", "max_conns", C_UINT, max_conns, "10000",
	  "open connections per worker; further connections are closed at accept"),
	S("server", "handshake_timeout_ms", C_UINT, handshake_timeout_ms, "10000",
	  "time a client has to complete the TLS handshake"),
	S("server", "header_timeout_ms", C_UINT, header_timeout_ms, "10000",
	  "time a client has to send a whole request once it started one"),
	S("server", "idle_timeout_ms", C_UINT, idle_timeout_ms, "60000",
	  "keep-alive connection closed after this long without a request"),
	S("server", "send_timeout_ms", C_UINT, send_timeout_ms, "10000",
	  "a connection whose peer takes none of its queued response bytes for this long is "
	  "closed"),
	S("server", "linger_timeout_ms", C_UINT, linger_timeout_ms, "2000",
	  "after its last response a connection is half-closed and its input discarded until "
	  "the peer closes, at most this long"),
	S("server", "admin_body_timeout_ms", C_UINT, admin_body_timeout_ms, "120000",
	  "admin listener: time to upload a body (a bulk enrolment) once its head, with the "
	  "token, was accepted; the head itself has header_timeout_ms"),
	S("server", "max_head", C_UINT, max_head, "8192",
	  "largest request line + headers, bytes (larger: 400)"),
	S("server", "max_body", C_UINT, max_body, "16384",
	  "largest request body on the TLS listener, bytes (larger: 413)"),
	S("server", "admin_max_body", C_UINT, admin_max_body, "67108864",
	  "largest request body on the admin listener (bulk enrolment), bytes"),
	S("server", "rate_limit", C_DOUBLE, rate_limit, "0",
	  "requests/s allowed per source address (token bucket, 429 beyond); 0 = off"),
	S("server", "rate_burst", C_DOUBLE, rate_burst, "20",
	  "token bucket depth per source address"),
	S("server", "verbose", C_BOOL, verbose, "false", "log debug messages"),
	S("tls", "cert_file", C_STR, cert_file, "tls.crt",
	  "PEM certificate chain (relative to state_dir); self-signed P-256 made on first start"),
	S("tls", "key_file", C_STR, key_file, "tls.key",
	  "PEM private key of the certificate, mode 0600 (relative to state_dir); "
	  "hsm: the HSMs' TLS key (purpose tls, or labelled idgate-tls) signs the handshakes"),
	S("tls", "ticket_lifetime_s", C_UINT, ticket_lifetime_s, "3600",
	  "session ticket lifetime; ticket keys rotate every such period"),
	S("tls", "ticket_secret_file", C_STR, ticket_secret_file, "ticket.secret",
	  "32 bytes the ticket keys derive from (relative to state_dir; made on first start); "
	  "servers given the same file resume each other's tickets"),
	S("tls", "min_version", C_TLSVER, tls_min_version, "1.2",
	  "lowest TLS version accepted: 1.2 or 1.3"),
	S("tls", "groups", C_TLS_GROUPS, tls_groups, "x25519,secp256r1",
	  "key exchange groups, comma-separated, preferred first: x25519, secp256r1, "
	  "secp384r1; finite-field groups (ffdhe*) are refused: each such handshake costs "
	  "the server a large exponentiation for a key share that cost its client nothing"),
	S("tls", "ciphersuites", C_TLS_SUITES, tls_suites,
	  "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256,"
	  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,"
	  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
	  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	  "cipher suites of TLS 1.3 and 1.2, comma-separated, preferred first, by their IANA "
	  "names (RFC 8446 §B.4, RFC 5289, RFC 7905; OpenSSL's TLS 1.3 names are the same). "
	  "Only AEAD suites with an ephemeral ECDHE key exchange are accepted: the default "
	  "ones, TLS_AES_128_CCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_{128,256}_CCM; CBC, "
	  "static RSA or ECDH, PSK and finite-field DHE suites are refused. The default "
	  "certificate (P-256) needs an ECDHE_ECDSA suite for TLS 1.2"),
	S("hsm", "module", C_STR, hsm_module, "/usr/lib/softhsm/libsofthsm2.so",
	  "PKCS#11 module (any vendor's); the default SoftHSM token is made in state_dir"),
	S("hsm", "softhsm_state", C_BOOL, hsm_softhsm_state, "true",
	  "keep a SoftHSM token in state_dir (SOFTHSM2_CONF), made with its issuer key on "
	  "first start; set false for a real HSM"),
	S("hsm", "token", C_STR, hsm_token, "idgate",
	  "token label"),
	S("hsm", "pin_file", C_STR, hsm_pin_file, "hsm.pin",
	  "file holding the token's user PIN (relative to state_dir), mode 0600; "
	  "env:NAME reads the environment variable NAME instead"),
	S("hsm", "issuer_key", C_STR, hsm_issuer_key, "idgate-issuer",
	  "CKA_LABEL of the ES256 key pair that signs access tokens"),
	S("hsm", "threads", C_UINT, hsm_threads, "2",
	  "PKCS#11 sessions, each with its own thread (operations in flight)"),
	S("hsm", "deadline_ms", C_UINT, hsm_deadline_ms, "2000",
	  "an HSM operation running longer is given up and retried on another HSM; "
	  "the slow HSM leaves rotation until a probe succeeds"),
	S("hsm", "probe_interval_ms", C_UINT, hsm_probe_ms, "1000",
	  "an HSM out of rotation is probed (test signature, sessions re-opened) this often"),
	S("hsm", "spare_threads", C_UINT, hsm_spare_threads, "4",
	  "threads that may replace ones stuck in a call past the deadline, per HSM"),
	S("hsm", "reinit_interval_ms", C_UINT, hsm_reinit_ms, "5000",
	  "after a device-level error an HSM is re-initialized (module, slot, sessions) "
	  "before its probe, no more often than this"),
	S("hsm", "key_check_s", C_UINT, hsm_key_check_s, "30",
	  "each token's keyring is read this often for key lifecycle changes (and at SIGHUP)"),
	S("hsm", "queue", C_UINT, hsm_queue, "1024",
	  "bounded queue of signing jobs (a power of two); full = 503 with Retry-After"),
	S("login", "token_lifetime_s", C_UINT, token_lifetime_s, "600",
	  "access token lifetime (expires_in)"),
	S("login", "assertion_max_lifetime_s", C_UINT, assertion_max_lifetime_s, "300",
	  "device assertion exp at most this far ahead (RFC 7523 §3)"),
	S("login", "clock_skew_s", C_UINT, clock_skew_s, "30",
	  "tolerated difference between device and server clocks"),
	S("login", "jwks_max_age_s", C_UINT, jwks_max_age_s, "300",
	  "how long relying services may cache the JWKS (Cache-Control max-age)"),
	S("login", "replay_slots", C_UINT, replay_slots, "1048576",
	  "single-use records (assertion jtis, device approvals, SADs; 8 bytes each, kept in "
	  "state_dir/replay.cache across restarts); size for a few times peak logins/s x "
	  "(lifetime+skew); changing it forgets the records (see README, Security)"),
	S("login", "credential_burst", C_UINT, credential_burst, "10",
	  "logins (and signature approvals) one device credential may make at once, 1..255 "
	  "(429 beyond)"),
	S("login", "credential_interval_ms", C_UINT, credential_interval_ms, "2000",
	  "then one per this interval per credential (2000: 30 a minute)"),
	S("store", "map_mb", C_SIZE, store_map_mb, "65536",
	  "LMDB map size in MiB: address space, the file grows as needed (about 850 bytes "
	  "per credential measured: 64 GiB holds some 75 million)"),
	S("admin", "token_file", C_STR, admin_token_file, "admin.token",
	  "bearer token of the admin API (relative to state_dir); made on first start"),
	S("keys", "publish_ahead_s", C_UINT, keys_publish_ahead_s, "900",
	  "idgate-keys rotate: a new issuer key is in JWKS this long before it signs "
	  "(more than relying services cache JWKS: 300 s)"),
	S("keys", "officers_dir", C_STR, keys_officers_dir, "officers",
	  "security officers' public keys, NAME.pem (relative to state_dir): approvals for "
	  "idgate-keys destroy"),
	S("keys", "destroy_approvals", C_UINT, keys_destroy_approvals, "2",
	  "approvals from distinct officers that idgate-keys destroy needs (dual control)"),
	S("csc", "ca_cert", C_STR, csc_ca_cert, "ca.crt",
	  "PEM certificate of the built-in CA whose key is in the HSMs (relative to "
	  "state_dir); made on first start with the SoftHSM defaults"),
	S("csc", "sad_lifetime_s", C_UINT, csc_sad_s, "300",
	  "how long a SAD from credentials/authorize may be used (once)"),
	S("csc", "cert_days", C_UINT, csc_cert_days, "730",
	  "validity of citizens' signing certificates, days"),
	S("audit", "server_log", C_STR, audit_server_log, "audit-idgated.log",
	  "idgated's tamper-evident audit log (relative to state_dir)"),
	S("audit", "keys_log", C_STR, audit_keys_log, "audit-keys.log",
	  "idgate-keys' tamper-evident audit log of key management (relative to state_dir)"),
	S("dpdk", "eal_args", C_STR, dpdk_eal_args, "",
	  "DPDK EAL arguments, space-separated (a TAP device for tests: --no-huge --no-pci "
	  "-m 512 --no-shconf --no-telemetry --vdev=net_tap0,iface=igtap0); with "
	  "server.backend = dpdk, server.listen is the stack's own IPv4 address and TCP "
	  "port (e.g. 198.18.0.2:8443)"),
	S("dpdk", "port", C_UINT, dpdk_port, "0",
	  "ethdev port id of the NIC; each dataplane worker gets one RX and one TX queue "
	  "(RSS spreads connections when the device has it)"),
	S("dpdk", "mtu", C_UINT, dpdk_mtu, "1500",
	  "IPv4 MTU of the port, 576..9000 (MSS = mtu - 40)"),
	S("dpdk", "rcvbuf", C_UINT, dpdk_rcvbuf, "32768",
	  "receive buffer per TCP connection, bytes: a power of two, 4096..1073741824"),
	S("dpdk", "sndbuf", C_UINT, dpdk_sndbuf, "65536",
	  "send buffer per TCP connection, bytes: a power of two, 4096..1073741824"),
	S("dpdk", "syn_backlog", C_UINT, dpdk_syn_backlog, "1024",
	  "half-open connections per worker, 1..1048576; beyond, SYNs are answered with "
	  "SYN cookies (RFC 4987) and hold no memory"),
	S("dpdk", "time_wait", C_UINT, dpdk_time_wait, "65536",
	  "TIME_WAIT records kept per worker (24 bytes each), 1..16777216; when full the "
	  "oldest is dropped early (counted)"),
	S("dpdk", "time_wait_ms", C_UINT, dpdk_time_wait_ms, "60000",
	  "how long a TIME_WAIT record is kept (2 MSL), 100..240000"),
	S("dpdk", "fault", C_STR, dpdk_fault, "",
	  "test hook, never for production: drop, duplicate and reorder TCP frames in both "
	  "directions with these probabilities from a seeded PRNG, e.g. "
	  "seed=7,drop=0.05,dup=0.02,reorder=0.05; empty = off"),
};

static const struct setting *find(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (!strcmp(settings[i].section, section) &&
		    !strcmp(settings[i].name, name))
			return &settings[i];
	return NULL;
}

/* ---- tls.groups and tls.ciphersuites ------------------------------------ */

struct tls_name {
	const char *name;
	uint16_t id;            /* IANA code point */
};

/* RFC 8446 §4.2.7: the elliptic-curve groups idgated offers. */
static const struct tls_name tls_groups_known[] = {
	{ "x25519", 0x001d }, { "secp256r1", 0x0017 }, { "secp384r1", 0x0018 },
};

/* AEAD suites whose key exchange is ephemeral ECDHE (TLS 1.2) or, in TLS
 * 1.3, always (EC)DHE as idgated configures it (no psk_ke, tls.c). */
static const struct tls_name tls_suites_known[] = {
	{ "TLS_AES_128_GCM_SHA256", 0x1301 },
	{ "TLS_AES_256_GCM_SHA384", 0x1302 },
	{ "TLS_CHACHA20_POLY1305_SHA256", 0x1303 },
	{ "TLS_AES_128_CCM_SHA256", 0x1304 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030 },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8 },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", 0xc0ac },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", 0xc0ad },
};

/* Repeats are refused, so a list never holds more than the known names. */
_Static_assert(sizeof(tls_groups_known) / sizeof(tls_groups_known[0]) <= CONFIG_MAX_TLS_IDS &&
	       sizeof(tls_suites_known) / sizeof(tls_suites_known[0]) <= CONFIG_MAX_TLS_IDS,
	       "a tls.groups or tls.ciphersuites list fits struct config_tls_ids");

/* Why a group name outside tls_groups_known is refused. */
static const char *group_refusal(const char *name)
{
	if (!strncasecmp(name, "ffdhe", 5))
		return "is a finite-field group";
	return "is not a group idgated offers";
}

/* Why a cipher suite name outside tls_suites_known is refused, read from
 * the IANA name's parts: TLS_<key exchange>_WITH_<cipher>_<hash>. */
static const char *suite_refusal(const char *name)
{
	if (strstr(name, "PSK"))
		return "is a PSK suite (idgated has no pre-shared keys; resumption needs none)";
	if (!strncmp(name, "TLS_RSA_", 8))
		return "uses static RSA key transport: no forward secrecy";
	if (!strncmp(name, "TLS_DH_", 7) || !strncmp(name, "TLS_ECDH_", 9))
		return "uses static (EC)DH: no forward secrecy";
	if (!strncmp(name, "TLS_DHE_", 8))
		return "uses finite-field DHE: a large exponentiation per handshake, at the "
		       "client's choice";
	if (strstr(name, "_NULL"))
		return "encrypts nothing";
	if (strstr(name, "_CBC_") || strstr(name, "RC4") || strstr(name, "DES_"))
		return "is not AEAD (CBC or a stream cipher, MAC-then-encrypt)";
	if (strstr(name, "CCM_8"))
		return "is AEAD with a truncated 8-byte tag";
	return "is not a cipher suite idgated knows (IANA names, e.g. TLS_AES_128_GCM_SHA256)";
}

/*
 * A comma-separated list of names (spaces around entries allowed) into
 * IANA code points, in the order given.  An unknown, empty or repeated
 * entry refuses the whole setting, with a message naming the entry.
 */
static int parse_tls_list(const struct setting *s, const char *v,
			  struct config_tls_ids *ids, char *err, size_t errlen)
{
	int groups = s->type == C_TLS_GROUPS;
	const struct tls_name *known = groups ? tls_groups_known : tls_suites_known;
	size_t nknown = groups ? sizeof(tls_groups_known) / sizeof(tls_groups_known[0])
			       : sizeof(tls_suites_known) / sizeof(tls_suites_known[0]);
	const char *allowed = groups ? "only x25519, secp256r1, secp384r1"
				     : "only AEAD suites with ephemeral ECDHE (idgated --help)";
	const char *p = v;

	ids->n = 0;
	for (;;) {
		char name[64];
		size_t len, i;
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!len) {
			snprintf(err, errlen, "%s.%s: %s", s->section, s->name,
				 comma || ids->n ? "an empty entry" : "the list is empty");
			return -1;
		}
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		for (i = 0; i < nknown && (len != strlen(known[i].name) ||
					   strncasecmp(p, known[i].name, len)); i++)
			;
		if (i == nknown) {
			snprintf(err, errlen, "%s.%s: %s %s; %s", s->section, s->name, name,
				 groups ? group_refusal(name) : suite_refusal(name), allowed);
			return -1;
		}
		for (unsigned j = 0; j < ids->n; j++)
			if (ids->id[j] == known[i].id) {
				snprintf(err, errlen, "%s.%s: %s is listed twice", s->section,
					 s->name, name);
				return -1;
			}
		ids->id[ids->n++] = known[i].id;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* TLS 1.3 is always on, and TLS 1.2 is with min_version 1.2: each needs a
 * suite of its own (RFC 8446 §B.4: TLS 1.3's are 0x13XX). */
static int check_tls(const struct config *c, char *err, size_t errlen)
{
	unsigned v13 = 0;

	for (unsigned i = 0; i < c->tls_suites.n; i++)
		v13 += c->tls_suites.id[i] >> 8 == 0x13;
	if (!v13) {
		snprintf(err, errlen, "tls.ciphersuites lists no TLS 1.3 suite (TLS 1.3 is always "
			 "on): add TLS_AES_128_GCM_SHA256");
		return -1;
	}
	if (c->tls_min_version == 12 && v13 == c->tls_suites.n) {
		snprintf(err, errlen, "tls.ciphersuites lists no TLS 1.2 suite while "
			 "tls.min_version is 1.2: add TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or "
			 "set min_version = 1.3");
		return -1;
	}
	return 0;
}

static int apply(struct config *c, const struct setting *s, const char *v,
		 char *err, size_t errlen)
{
	void *p = (char *)c + s->off;
	char *end;

	switch (s->type) {
	case C_STR:
		if (strlen(v) >= s->size)
			goto bad;
		strcpy(p, v);
		return 0;
	case C_UINT: {
		unsigned long u;

		errno = 0;
		u = strtoul(v, &end, 10);
		if (errno || end == v || *end || *v == '-' || u > 0xffffffffUL)
			goto bad;
		*(unsigned *)p = (unsigned)u;
		return 0;
	}
	case C_SIZE: {
		unsigned long long u;

		errno = 0;
		u = strtoull(v, &end, 10);
		if (errno || end == v || *end || *v == '-')
			goto bad;
		*(size_t *)p = (size_t)u;
		return 0;
	}
	case C_DOUBLE: {
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end || d < 0)
			goto bad;
		*(double *)p = d;
		return 0;
	}
	case C_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(int *)p = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(int *)p = 0;
		else
			goto bad;
		return 0;
	case C_POLL:
		if (!strcmp(v, "busy"))
			*(int *)p = POLL_BUSY;
		else if (!strcmp(v, "adaptive"))
			*(int *)p = POLL_ADAPTIVE;
		else
			goto bad;
		return 0;
	case C_TLSVER:
		if (!strcmp(v, "1.2"))
			*(int *)p = 12;
		else if (!strcmp(v, "1.3"))
			*(int *)p = 13;
		else
			goto bad;
		return 0;
	case C_BACKEND:
		if (!strcmp(v, "io_uring"))
			*(int *)p = BACKEND_IO_URING;
		else if (!strcmp(v, "dpdk"))
			*(int *)p = BACKEND_DPDK;
		else
			goto bad;
		return 0;
	case C_TLS_GROUPS:
	case C_TLS_SUITES:
		return parse_tls_list(s, v, p, err, errlen);
	}
bad:
	snprintf(err, errlen, "bad value for %s.%s: \"%s\"%s", s->section, s->name, v,
		 s->type == C_BACKEND ? " (io_uring or dpdk)" : "");
	return -1;
}

void config_defaults(struct config *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (apply(c, &settings[i], settings[i].def, err, sizeof(err)))
			abort(); /* the table itself is wrong */
}

/* An [hsm.NAME] section: one more HSM of the pool. */
static int set_pool_hsm(struct config *c, const char *hname, const char *name,
			const char *value, char *err, size_t errlen)
{
	struct config_hsm *h = NULL;
	char *dst = NULL;
	size_t cap = 0;

	for (unsigned i = 0; i < c->nhsms; i++)
		if (!strcmp(c->hsms[i].name, hname))
			h = &c->hsms[i];
	if (!h) {
		if (c->nhsms == CONFIG_MAX_HSMS || !*hname || strlen(hname) >= sizeof(h->name) ||
		    strspn(hname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
			    strlen(hname)) {
			snprintf(err, errlen, "bad HSM section [hsm.%s] (at most %d, names of "
				 "letters, digits, - and _)", hname, CONFIG_MAX_HSMS);
			return -1;
		}
		h = &c->hsms[c->nhsms++];
		memset(h, 0, sizeof(*h));
		strcpy(h->name, hname);
	}
	if (!strcmp(name, "module"))
		dst = h->module, cap = sizeof(h->module);
	else if (!strcmp(name, "token"))
		dst = h->token, cap = sizeof(h->token);
	else if (!strcmp(name, "pin_file"))
		dst = h->pin_file, cap = sizeof(h->pin_file);
	else if (!strcmp(name, "issuer_key"))
		dst = h->issuer_key, cap = sizeof(h->issuer_key);
	if (dst) {
		if (strlen(value) >= cap || !*value)
			goto bad;
		strcpy(dst, value);
		return 0;
	}
	if (!strcmp(name, "threads") || !strcmp(name, "queue")) {
		char *end;
		unsigned long u = strtoul(value, &end, 10);

		if (end == value || *end || *value == '-' || u == 0 || u > 1u << 24)
			goto bad;
		*(!strcmp(name, "threads") ? &h->threads : &h->queue) = (unsigned)u;
		return 0;
	}
	snprintf(err, errlen, "unknown setting hsm.%s.%s (module, token, pin_file, "
		 "issuer_key, threads, queue)", hname, name);
	return -1;
bad:
	snprintf(err, errlen, "bad value for hsm.%s.%s: \"%s\"", hname, name, value);
	return -1;
}

int config_set(struct config *c, const char *section, const char *name,
	       const char *value, char *err, size_t errlen)
{
	const struct setting *s;

	if (!strncmp(section, "hsm.", 4))
		return set_pool_hsm(c, section + 4, name, value, err, errlen);
	s = find(section, name);

	if (!s) {
		snprintf(err, errlen, "unknown setting %s.%s", section, name);
		return -1;
	}
	return apply(c, s, value, err, errlen);
}

struct load_ctx {
	struct config *c;
	char *err;
	size_t errlen;
	int failed;
	FILE *f;
	char *line;                    /* getline's buffer */
	size_t cap;
	unsigned lineno;               /* of the line last read */
	const char *bad_line;          /* why the reader stopped early, or NULL */
	char too_long[48];
};

static int on_ini(void *arg, const char *section, const char *name,
		  const char *value)
{
	struct load_ctx *l = arg;

	if (l->failed)
		return 0;
	if (config_set(l->c, section, name, value, l->err, l->errlen)) {
		l->failed = 1;
		return 0;
	}
	return 1;
}

/*
 * inih's line reader, one whole line at a time.  inih reads a line into a
 * buffer of <num> bytes (INI_MAX_LINE of the library, 200 in Debian's) and
 * its own reader takes a longer line as several: the value is cut short and
 * the rest parsed as a line of its own (a setting, a section, a comment),
 * every later line number off by one.  A line that does not fit, or that
 * holds a NUL byte (inih would drop the rest of it), stops the reading with
 * <bad_line> set instead.
 */
static char *ini_line(char *str, int num, void *arg)
{
	struct load_ctx *l = arg;
	ssize_t n = getline(&l->line, &l->cap, l->f);

	if (n <= 0)
		return NULL;
	l->lineno++;
	if (n > num - 1) {
		snprintf(l->too_long, sizeof(l->too_long), "is longer than %d bytes",
			 num - 2);
		l->bad_line = l->too_long;
		return NULL;
	}
	if ((size_t)n != strlen(l->line)) {
		l->bad_line = "holds a NUL byte";
		return NULL;
	}
	memcpy(str, l->line, (size_t)n + 1);
	return str;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx l = { .c = c, .err = err, .errlen = errlen };
	int rc;

	l.f = fopen(path, "re");
	if (!l.f) {
		snprintf(err, errlen, "cannot open config file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(ini_line, &l, on_ini, &l);
	fclose(l.f);
	free(l.line);
	if (l.failed) {
		char where[300];
		size_t n = strlen(err), w;

		/* The place matters most: a reason quoting a long name or value
		 * is shortened to leave room for it. */
		snprintf(where, sizeof(where), " (in %s, line %d)", path, rc);
		w = strlen(where);
		if (n + w >= errlen && errlen > w + 4) {
			n = errlen - 1 - w - 3;
			memcpy(err + n, "...", 3);
			n += 3;
		}
		snprintf(err + n, errlen - n, "%s", where);
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "syntax error in %s at line %d", path, rc);
		return -1;
	}
	if (l.bad_line) {
		snprintf(err, errlen, "line %u of %s %s", l.lineno, path, l.bad_line);
		return -1;
	}
	return 0;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen,
			  uint16_t *port)
{
	const char *colon;
	unsigned long p;
	char *end;
	size_t hl;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		hl = rb - s - 1;
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = colon - s;
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* Make <path> relative to the state dir unless it is absolute. */
static int under_state(const struct config *c, char *path, size_t size)
{
	char tmp[512];

	if (path[0] == '/' || !strncmp(path, "env:", 4))
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", c->state_dir, path) >= size)
		return -1;
	strcpy(path, tmp);
	return 0;
}

int config_set_arg(struct config *c, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '='), *dot = NULL;
	char sec[64], name[64];

	for (const char *q = arg; eq && q < eq; q++)
		if (*q == '.')
			dot = q;
	if (!dot || !eq || dot - arg >= 64 || eq - dot - 1 >= 64) {
		snprintf(err, errlen, "--set takes section.name=value");
		return -1;
	}
	snprintf(sec, sizeof(sec), "%.*s", (int)(dot - arg), arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - dot - 1), dot + 1);
	return config_set(c, sec, name, eq + 1, err, errlen);
}

int config_parse_fault(const char *s, struct config_fault *f, char *err,
		       size_t errlen)
{
	char tmp[128], *save = NULL, *tok;

	memset(f, 0, sizeof(*f));
	if (strlen(s) >= sizeof(tmp)) {
		snprintf(err, errlen, "dpdk.fault is too long");
		return -1;
	}
	strcpy(tmp, s);
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		double *prob = NULL, d;

		if (!eq) {
			snprintf(err, errlen, "dpdk.fault: \"%s\" is not name=value", tok);
			return -1;
		}
		*eq++ = 0;
		if (!strcmp(tok, "seed")) {
			unsigned long long u;

			errno = 0;
			u = strtoull(eq, &end, 10);
			if (errno || end == eq || *end || *eq == '-') {
				snprintf(err, errlen, "dpdk.fault: seed must be an unsigned "
					 "integer, not \"%s\"", eq);
				return -1;
			}
			f->seed = u;
			continue;
		}
		if (!strcmp(tok, "drop"))
			prob = &f->drop;
		else if (!strcmp(tok, "dup"))
			prob = &f->dup;
		else if (!strcmp(tok, "reorder"))
			prob = &f->reorder;
		if (!prob) {
			snprintf(err, errlen, "dpdk.fault: unknown name \"%s\" (seed, drop, dup, "
				 "reorder)", tok);
			return -1;
		}
		errno = 0;
		d = strtod(eq, &end);
		/* written so that NaN fails too */
		if (errno || end == eq || *end || !(d >= 0 && d <= 1)) {
			snprintf(err, errlen, "dpdk.fault: %s must be a probability from 0 to 1, "
				 "not \"%s\"", tok, eq);
			return -1;
		}
		*prob = d;
	}
	/* One draw per frame picks at most one action. */
	if (f->drop + f->dup + f->reorder > 1) {
		snprintf(err, errlen, "dpdk.fault: drop + dup + reorder must not exceed 1");
		return -1;
	}
	f->on = f->drop > 0 || f->dup > 0 || f->reorder > 0;
	return 0;
}

static int pow2_buf(unsigned v)
{
	return v >= 4096 && v <= (1u << 30) && !(v & (v - 1));
}

/* The [dpdk] values, checked whatever the backend (a typo is caught before
 * the day it is switched on). */
static int check_dpdk(struct config *c, char *err, size_t errlen)
{
	const char *a = c->dpdk_eal_args;
	unsigned nargs = 0;

	if (c->dpdk_port > 65535) {
		snprintf(err, errlen, "dpdk.port must be an ethdev port id, 0..65535");
		return -1;
	}
	if (c->dpdk_mtu < 576 || c->dpdk_mtu > 9000) {
		snprintf(err, errlen, "dpdk.mtu must be 576..9000 (the IPv4 MTU; MSS = mtu - 40)");
		return -1;
	}
	if (!pow2_buf(c->dpdk_rcvbuf) || !pow2_buf(c->dpdk_sndbuf)) {
		snprintf(err, errlen, "dpdk.%s must be a power of two from 4096 to 1073741824",
			 pow2_buf(c->dpdk_rcvbuf) ? "sndbuf" : "rcvbuf");
		return -1;
	}
	if (c->dpdk_syn_backlog < 1 || c->dpdk_syn_backlog > (1u << 20)) {
		snprintf(err, errlen, "dpdk.syn_backlog must be 1..1048576 (half-open "
			 "connections per worker)");
		return -1;
	}
	if (c->dpdk_time_wait < 1 || c->dpdk_time_wait > (1u << 24)) {
		snprintf(err, errlen, "dpdk.time_wait must be 1..16777216 (records per worker)");
		return -1;
	}
	/* Shorter defeats TIME_WAIT's purpose; RFC 9293's MSL is 2 minutes. */
	if (c->dpdk_time_wait_ms < 100 || c->dpdk_time_wait_ms > 240000) {
		snprintf(err, errlen, "dpdk.time_wait_ms must be 100..240000 (2 MSL)");
		return -1;
	}
	while (*a) {
		a += strspn(a, " \t");
		if (*a)
			nargs++;
		a += strcspn(a, " \t");
	}
	if (nargs > 63) {
		snprintf(err, errlen, "dpdk.eal_args has more than 63 arguments");
		return -1;
	}
	return config_parse_fault(c->dpdk_fault, &c->dpdk_fault_spec, err, errlen);
}

/*
 * backend dpdk: the userspace stack owns one IPv4 address, and
 * server.listen names it; the kernel's wildcard and loopback addresses
 * mean nothing to it.
 */
static int dpdk_listen(struct config *c, char *err, size_t errlen)
{
	char host[64];
	uint16_t port;
	struct in_addr a;
	uint32_t ip;

	if (config_parse_hostport(c->listen, host, sizeof(host), &port) ||
	    inet_pton(AF_INET, host, &a) != 1) {
		snprintf(err, errlen, "with server.backend = dpdk, server.listen is the userspace "
			 "stack's own IPv4 address and TCP port (e.g. 198.18.0.2:8443): \"%s\" is "
			 "not IPv4 (IPv6 is not supported)", c->listen);
		return -1;
	}
	ip = ntohl(a.s_addr);
	if (ip == 0 || ip == 0xffffffffu || (ip >> 28) == 14 || (ip >> 24) == 127) {
		snprintf(err, errlen, "with server.backend = dpdk, server.listen is the userspace "
			 "stack's own IPv4 address: %s cannot be (not 0.0.0.0, broadcast, multicast "
			 "or loopback: one unicast address, e.g. 198.18.0.2:8443)", host);
		return -1;
	}
	c->dpdk_ip = ip;
	c->dpdk_tcp_port = port;
	return 0;
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	char host[64];
	uint16_t port;

	if (config_parse_hostport(c->listen, host, sizeof(host), &port) ||
	    config_parse_hostport(c->admin_listen, host, sizeof(host), &port)) {
		snprintf(err, errlen, "listen addresses must be host:port");
		return -1;
	}
	c->tls_key_in_hsm = !strcmp(c->key_file, "hsm");
	if (under_state(c, c->cert_file, sizeof(c->cert_file)) ||
	    (!c->tls_key_in_hsm && under_state(c, c->key_file, sizeof(c->key_file))) ||
	    under_state(c, c->hsm_pin_file, sizeof(c->hsm_pin_file)) ||
	    under_state(c, c->admin_token_file, sizeof(c->admin_token_file)) ||
	    under_state(c, c->ticket_secret_file, sizeof(c->ticket_secret_file)) ||
	    under_state(c, c->keys_officers_dir, sizeof(c->keys_officers_dir)) ||
	    under_state(c, c->audit_server_log, sizeof(c->audit_server_log)) ||
	    under_state(c, c->audit_keys_log, sizeof(c->audit_keys_log)) ||
	    under_state(c, c->csc_ca_cert, sizeof(c->csc_ca_cert))) {
		snprintf(err, errlen, "path too long under state_dir");
		return -1;
	}
	for (unsigned i = 0; i < c->nhsms; i++) {
		struct config_hsm *h = &c->hsms[i];

		if (!h->module[0])
			strcpy(h->module, c->hsm_module);
		if (!h->token[0])
			strcpy(h->token, h->name); /* name is shorter */
		if (!h->issuer_key[0])
			strcpy(h->issuer_key, c->hsm_issuer_key);
		if (!h->threads)
			h->threads = c->hsm_threads;
		if (!h->queue)
			h->queue = c->hsm_queue;
		if (!h->pin_file[0]) {
			char pin[sizeof(h->name) + 8];

			snprintf(pin, sizeof(pin), "hsm-%s.pin", h->name);
			strcpy(h->pin_file, pin);
		}
		if (under_state(c, h->pin_file, sizeof(h->pin_file)) ||
		    h->queue < 2 || (h->queue & (h->queue - 1))) {
			snprintf(err, errlen, "hsm.%s: pin_file path too long or queue not a "
				 "power of two", h->name);
			return -1;
		}
	}
	if (!c->issuer[0])
		snprintf(c->issuer, sizeof(c->issuer), "https://%s", c->listen);
	if (strncmp(c->issuer, "https://", 8) || strlen(c->issuer) > 200) {
		snprintf(err, errlen, "issuer must be an https URL");
		return -1;
	}
	snprintf(c->token_endpoint, sizeof(c->token_endpoint), "%s/oauth2/token",
		 c->issuer);
	if (c->max_head < 1024 || c->max_head > 65536 || c->max_body > (1u << 24)) {
		snprintf(err, errlen, "max_head must be 1024..65536, max_body at most 16 MiB");
		return -1;
	}
	if (c->hsm_threads == 0 || c->hsm_threads > 256 || c->hsm_queue < 2 ||
	    (c->hsm_queue & (c->hsm_queue - 1))) {
		snprintf(err, errlen, "hsm.threads must be 1..256 and hsm.queue a power of two >= 2");
		return -1;
	}
	if (c->assertion_max_lifetime_s == 0 || c->token_lifetime_s == 0 ||
	    c->ticket_lifetime_s < 60) {
		snprintf(err, errlen, "lifetimes must be positive (tickets at least 60 s)");
		return -1;
	}
	{
		static const struct { const char *name; size_t off; } to[] = {
			{ "handshake_timeout_ms", offsetof(struct config, handshake_timeout_ms) },
			{ "header_timeout_ms", offsetof(struct config, header_timeout_ms) },
			{ "idle_timeout_ms", offsetof(struct config, idle_timeout_ms) },
			{ "send_timeout_ms", offsetof(struct config, send_timeout_ms) },
			{ "linger_timeout_ms", offsetof(struct config, linger_timeout_ms) },
			{ "admin_body_timeout_ms", offsetof(struct config, admin_body_timeout_ms) },
		};

		for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
			if (*(const unsigned *)((const char *)c + to[i].off) == 0) {
				snprintf(err, errlen, "server.%s must be positive", to[i].name);
				return -1;
			}
		}
	}
	if (c->credential_burst < 1 || c->credential_burst > 255 ||
	    c->credential_interval_ms < 1) {
		snprintf(err, errlen, "login.credential_burst must be 1..255 and "
			 "login.credential_interval_ms positive");
		return -1;
	}
	if (c->max_conns == 0 || c->replay_slots < 1024) {
		snprintf(err, errlen, "max_conns must be positive and replay_slots at least 1024");
		return -1;
	}
	if (check_dpdk(c, err, errlen) || check_tls(c, err, errlen))
		return -1;
	if (c->backend == BACKEND_DPDK && dpdk_listen(c, err, errlen))
		return -1;
	return 0;
}

void config_print_help(void)
{
	const char *sec = "";

	printf("Settings (INI file given with --config; any can also be set with --set section.name=value):\n");
	printf("\nMore HSMs for the pool: sections [hsm.NAME] (--set hsm.NAME.key=value) with\n"
	       "module, token (default NAME), pin_file (default hsm-NAME.pin), issuer_key, threads\n"
	       "and queue; unset values come from [hsm].  Each HSM holds its own issuer key; all\n"
	       "are published in the JWKS and any of them signs tokens.\n");
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];

		if (strcmp(sec, s->section)) {
			sec = s->section;
			printf("\n[%s]\n", sec);
		}
		printf("  %-26s default %s\n      %s\n", s->name,
		       *s->def ? s->def : s->off == offsetof(struct config, issuer) ?
		       "(derived)" : "(none)", s->help);
	}
}
