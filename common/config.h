/*
 * config.h - the settings of idgated and idgate-keys (which reads the same
 * file: the HSMs, the state dir, the audit logs): embedded defaults, an
 * INI file (--config FILE, parsed with inih) and a few command-line flags.
 * Every setting is described once, in the table in config.c, which also
 * produces `idgated --help`.  In common/ so that idgate-keys needs nothing
 * of the dataplane.
 */
#ifndef IG_CONFIG_H
#define IG_CONFIG_H
#include <stddef.h>
#include <stdint.h>

enum poll_mode { POLL_BUSY = 0, POLL_ADAPTIVE = 1 };
/* The dataplane workers' I/O (the admin worker is always on io_uring). */
enum backend { BACKEND_IO_URING = 0, BACKEND_DPDK = 1 };

/* dpdk.fault, parsed: probabilities for each TCP frame, in both directions,
 * drawn from a PRNG seeded with <seed> (each worker its own stream). */
struct config_fault {
	int on;                        /* any probability above 0 */
	uint64_t seed;
	double drop, dup, reorder;
};

/* One more HSM of the pool: an [hsm.NAME] section.  Unset values take the
 * [hsm] section's (token defaults to NAME, pin_file to hsm-NAME.pin). */
#define CONFIG_MAX_HSMS 8
struct config_hsm {
	char name[32];
	char module[256];
	char token[64];
	char pin_file[256];
	char issuer_key[64];
	unsigned threads;
	unsigned queue;
};

/*
 * tls.groups and tls.ciphersuites, parsed: IANA code points in order of
 * preference (NamedGroup, RFC 8446 §4.2.7; cipher suites, RFC 8446 §B.4,
 * RFC 5289, RFC 7905), which are also mbedTLS's identifiers.
 */
#define CONFIG_MAX_TLS_IDS 16
struct config_tls_ids {
	uint16_t id[CONFIG_MAX_TLS_IDS];
	unsigned n;
};

struct config {
	/* [server] */
	char state_dir[256];
	unsigned workers;              /* 0 = one per online core */
	char listen[64];               /* host:port of the TLS listener */
	char admin_listen[64];         /* host:port of the plain admin listener */
	char issuer[256];              /* https URL; default from listen */
	int poll;                      /* enum poll_mode */
	int backend;                   /* enum backend */
	unsigned max_conns;            /* per worker */
	unsigned handshake_timeout_ms, header_timeout_ms, idle_timeout_ms;
	unsigned send_timeout_ms, linger_timeout_ms, admin_body_timeout_ms;
	unsigned max_body;             /* public listener, bytes */
	unsigned admin_max_body;       /* admin listener (bulk enrolment) */
	unsigned max_head;             /* request head, bytes */
	double rate_limit;             /* requests/s per source address, 0 = off */
	double rate_burst;
	int verbose;
	/* [tls] */
	char cert_file[256], key_file[256];
	int tls_key_in_hsm;             /* key_file "hsm" */
	char ticket_secret_file[256];
	unsigned ticket_lifetime_s;    /* also the rotation period */
	int tls_min_version;           /* 12 or 13 */
	struct config_tls_ids tls_groups;  /* key exchange groups offered */
	struct config_tls_ids tls_suites;  /* cipher suites, TLS 1.3 and 1.2 */
	/* [hsm] */
	char hsm_module[256];
	int hsm_softhsm_state;         /* SoftHSM token kept in state_dir */
	char hsm_token[64];
	char hsm_pin_file[256];
	char hsm_issuer_key[64];
	unsigned hsm_threads;
	unsigned hsm_queue;
	unsigned hsm_deadline_ms;
	unsigned hsm_probe_ms;
	unsigned hsm_key_check_s;
	unsigned hsm_spare_threads;
	unsigned hsm_reinit_ms;
	struct config_hsm hsms[CONFIG_MAX_HSMS]; /* the [hsm.NAME] sections */
	unsigned nhsms;
	/* [login] */
	unsigned token_lifetime_s;
	unsigned assertion_max_lifetime_s;
	unsigned clock_skew_s;
	unsigned jwks_max_age_s;
	unsigned replay_slots;
	unsigned credential_burst, credential_interval_ms;
	/* [store] */
	size_t store_map_mb;
	/* [admin] */
	char admin_token_file[256];
	/* [keys], [audit] */
	unsigned keys_publish_ahead_s;
	char keys_officers_dir[256];
	unsigned keys_destroy_approvals;
	char csc_ca_cert[256];
	unsigned csc_cert_days;
	unsigned csc_sad_s;
	char audit_server_log[256];
	char audit_keys_log[256];
	/* [dpdk] */
	char dpdk_eal_args[512];       /* space-separated EAL arguments */
	unsigned dpdk_port;            /* ethdev port id */
	unsigned dpdk_mtu;
	unsigned dpdk_rcvbuf, dpdk_sndbuf;   /* per socket */
	unsigned dpdk_syn_backlog;     /* per worker */
	unsigned dpdk_time_wait;       /* records per worker */
	unsigned dpdk_time_wait_ms;
	char dpdk_fault[128];          /* test hook; "" = off */
	/* derived */
	char token_endpoint[300];
	uint32_t dpdk_ip;              /* backend dpdk: listen's host, host order */
	uint16_t dpdk_tcp_port;        /* and its port */
	struct config_fault dpdk_fault_spec;
};

/* Fill <c> with the embedded defaults. */
void config_defaults(struct config *c);
/* Apply an INI file; returns 0 or -1 with a message in <err>. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Apply one "section.name=value" override (the --set flag). */
int config_set(struct config *c, const char *section, const char *name,
	       const char *value, char *err, size_t errlen);
/* The same from "section.name=value"; the name is after the last dot
 * before '=' (sections may have dots: hsm.b.token=...). */
int config_set_arg(struct config *c, const char *arg, char *err, size_t errlen);
/* Resolve paths relative to the state dir and derived values. */
int config_finish(struct config *c, char *err, size_t errlen);
/* Print every setting with its default and meaning. */
void config_print_help(void);

/* Parse a dpdk.fault value ("seed=7,drop=0.05,dup=0.02,reorder=0.05",
 * "" = off) into <f>; returns 0 or -1 with a message in <err>. */
int config_parse_fault(const char *s, struct config_fault *f, char *err,
		       size_t errlen);

/* Split "host:port" (IPv4 or [IPv6]); returns 0 or -1. */
int config_parse_hostport(const char *s, char *host, size_t hostlen,
			  uint16_t *port);

#endif
