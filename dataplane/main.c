/*
 * main.c - idgated: read the settings, prepare the state dir on first start,
 * start the HSM engine, one pinned dataplane worker per core and the admin
 * worker, and stop them all cleanly on SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "../common/jose.h"
#include "../common/log.h"
#include "../common/p256.h"
#include "../common/rand.h"
#include "../hsm/audit.h"
#include "csc.h"
#include "ratelimit.h"
#include "credrate.h"
#include "replay.h"
#include "server.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: idgated [--config FILE] [--state DIR] [--workers N]\n"
		"               [--poll busy|adaptive] [--backend io_uring|dpdk]\n"
		"               [--set section.name=value]... [--verbose]\n"
		"\n"
		"idgate's authentication server.  With no options it runs on embedded defaults:\n"
		"state in ./var (made on first start: a SoftHSM token with the issuer key, a\n"
		"self-signed TLS certificate, the LMDB store and var/admin.token), TLS on\n"
		"127.0.0.1:8443 and plain-HTTP admin/metrics on 127.0.0.1:9090.\n"
		"\n"
		"  --config FILE    INI file of settings (below); flags after it override it\n"
		"  --state DIR      same as --set server.state_dir=DIR\n"
		"  --workers N      same as --set server.workers=N\n"
		"  --poll MODE      same as --set server.poll=MODE\n"
		"  --backend NAME   same as --set server.backend=NAME\n"
		"  --set S.N=V      set one setting\n"
		"  --verbose        log debug messages\n"
		"  --help           this text\n\n");
}

/* Read a secret file, or make one of <n> random bytes (base64url when
 * <text>) with mode 0600.  Secrets are never logged. */
static int secret_file(const char *path, uint8_t *out, size_t n, int text,
		       size_t *outlen, const char **why)
{
	char buf[256];
	uint8_t rnd[64];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && (st.st_mode & 077))
			log_warn("%s is readable by others: chmod 600 it", path);
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0) {
			*why = "cannot read a secret file";
			return IG_EUSAGE;
		}
		if (text) {
			/* a text secret may end with a newline; a binary key's
			 * last bytes are key bytes, whatever their value */
			while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
				r--;
			if ((size_t)r > n || r < 16) {
				*why = "admin token must be 16 to 127 characters";
				return IG_EUSAGE;
			}
			memcpy(out, buf, (size_t)r);
			*outlen = (size_t)r;
		} else {
			if ((size_t)r != n) {
				*why = "a secret key file has the wrong length";
				return IG_EUSAGE;
			}
			memcpy(out, buf, n);
		}
		mbedtls_platform_zeroize(buf, sizeof(buf));
		return IG_OK;
	}
	if (errno != ENOENT) {
		*why = "cannot open a secret file";
		return IG_EUSAGE;
	}
	if (ig_random(rnd, 32) != IG_OK) {
		*why = "no random bytes from the kernel";
		return IG_EINTERNAL;
	}
	if (text) {
		*outlen = b64url_encode(rnd, 32, buf);
		memcpy(out, buf, *outlen);
		buf[*outlen] = '\n';
		r = (ssize_t)*outlen + 1;
	} else {
		memcpy(out, rnd, n);
		memcpy(buf, rnd, n);
		r = (ssize_t)n;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)r) != r || fsync(fd) || close(fd)) {
		*why = "cannot write a secret file in the state dir";
		return IG_EUSAGE;
	}
	mbedtls_platform_zeroize(buf, sizeof(buf));
	mbedtls_platform_zeroize(rnd, sizeof(rnd));
	return IG_OK;
}

/*
 * Publish the issuer keys of every HSM that are next, active or retiring
 * at <now> as the JWKS document, when the engine's keys or the time moved
 * past a scheduled transition.  Workers read the document through an
 * atomic pointer; a superseded one stays allocated until exit (key changes
 * are rare), so a worker never reads freed memory.
 */
static int publish_keys(struct server *srv, int64_t now)
{
	struct buf keys = { 0 };
	const struct hsm_issuer *ks[HSM_MAX_KEYS];
	int64_t next = INT64_MAX;
	char extra[200], jwk[400], kids[AUDIT_MAX_FIELD] = "", *doc, *old;
	unsigned nkeys = 0;
	size_t n;

	if (hsm_keys_generation(srv->hsm) == srv->keys_gen && now < srv->keys_next)
		return IG_OK;
	srv->keys_gen = hsm_keys_generation(srv->hsm);
	for (unsigned d = 0; d < hsm_ndevices(srv->hsm); d++) {
		size_t nk = hsm_device_keys(srv->hsm, d, ks, HSM_MAX_KEYS);

		for (size_t i = 0; i < nk; i++) {
			const struct keyring_entry *e = &ks[i]->ent;
			const int64_t t[] = { e->publish, e->activate, e->retire,
					      e->unpublish };
			struct p256_pub pub;

			for (size_t j = 0; j < IG_ARRAY_LEN(t); j++)
				if (t[j] > now && t[j] < next)
					next = t[j];
			/* The same key may sit in two HSMs (a cloned token):
			 * publish it once. */
			if (!keyring_published(e, now) ||
			    (keys.len && strstr(keys.data, ks[i]->kid)))
				continue;
			memcpy(pub.x, ks[i]->x, 32);
			memcpy(pub.y, ks[i]->y, 32);
			snprintf(extra, sizeof(extra),
				 "\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"ES256\"",
				 ks[i]->kid);
			if (jwk_format_p256(&pub, extra, jwk, sizeof(jwk)) < 0 ||
			    (keys.len && buf_append(&keys, ",", 1, 1 << 20) < 0) ||
			    buf_append(&keys, jwk, strlen(jwk), 1 << 20) < 0 ||
			    buf_append(&keys, "", 1, 1 << 20) < 0) {
				buf_free(&keys);
				return IG_ENOMEM;
			}
			keys.len--; /* keep it a C string */
			nkeys++;
			if (strlen(kids) + 46 < sizeof(kids))
				snprintf(kids + strlen(kids), sizeof(kids) - strlen(kids),
					 "%s%s", nkeys > 1 ? " " : "", ks[i]->kid);
		}
	}
	srv->keys_next = next;
	n = keys.len + 32;
	doc = malloc(n);
	if (!doc) {
		buf_free(&keys);
		return IG_ENOMEM;
	}
	snprintf(doc, n, "{\"keys\":[%s]}", keys.len ? keys.data : "");
	buf_free(&keys);
	old = atomic_load(&srv->jwks);
	if (old && !strcmp(old, doc)) {
		free(doc);
		return IG_OK;
	}
	if (old) {
		struct old_doc *o = malloc(sizeof(*o));

		if (!o) {
			free(doc);
			return IG_ENOMEM;
		}
		o->doc = old;
		o->next = srv->old_jwks;
		srv->old_jwks = o;
	}
	atomic_store(&srv->jwks, doc);
	log_info("JWKS publishes %u issuer key(s): %s", nkeys,
		 nkeys ? kids : "none, no token can be verified");
	if (srv->audit) {
		struct audit_event ev = {
			.actor = "idgated", .action = "jwks.publish",
			.result = "ok", .detail = kids,
		};

		if (audit_append(srv->audit, &ev) < 0)
			log_warn("audit log: cannot record the JWKS change");
	}
	return IG_OK;
}

/* The kid the first HSM signs with now, for the start-up line. */
static const char *first_kid(struct server *srv)
{
	const struct hsm_issuer *ik;

	return hsm_choose(srv->hsm, HSM_KEY_ISSUER, 0, time(NULL), &ik) >= 0
	       ? ik->kid : "(none active)";
}

static int make_documents(struct server *srv, const char **why)
{
	const struct config *c = &srv->cfg;
	size_t n;

	snprintf(srv->jwks_cache_control, sizeof(srv->jwks_cache_control),
		 "Cache-Control: public, max-age=%u\r\n", c->jwks_max_age_s);
	if (publish_keys(srv, time(NULL)) < 0) {
		*why = "out of memory for the JWKS";
		return IG_ENOMEM;
	}
	n = 3 * strlen(c->issuer) + 600;
	srv->discovery = malloc(n);
	if (!srv->discovery)
		return IG_ENOMEM;
	snprintf(srv->discovery, n,
		 "{\"issuer\":\"%s\",\"token_endpoint\":\"%s\",\"jwks_uri\":\"%s/.well-known/jwks.json\","
		 "\"grant_types_supported\":[\"urn:ietf:params:oauth:grant-type:jwt-bearer\"],"
		 "\"token_endpoint_auth_methods_supported\":[\"none\"],"
		 "\"subject_types_supported\":[\"pairwise\"],"
		 "\"access_token_signing_alg_values_supported\":[\"ES256\"],"
		 "\"assertion_signing_alg_values_supported\":[\"ES256\"]}",
		 c->issuer, c->token_endpoint, c->issuer);
	return IG_OK;
}

/* First start: a SoftHSM token for every HSM of the pool. */
static int provision(const struct config *c, const char **why)
{
	char so[300];

	IG_GUARD(hsm_provision_softhsm(c->state_dir, c->hsm_module, c->hsm_token,
				       c->hsm_issuer_key, why));
	IG_GUARD(hsm_provision_ca_cert(c->hsm_module, c->hsm_token, c->hsm_pin_file,
				       "CN=idgate citizen CA,O=idgate,C=HK", 3650,
				       c->csc_ca_cert, why));
	for (unsigned i = 0; i < c->nhsms; i++) {
		const struct config_hsm *h = &c->hsms[i];

		size_t len = strlen(h->pin_file);

		/* hsm-b.pin -> hsm-b-so.pin (the SO PIN beside the user PIN) */
		int n = len > 4 && !strcmp(h->pin_file + len - 4, ".pin") ?
			snprintf(so, sizeof(so), "%.*s-so.pin", (int)len - 4, h->pin_file) :
			snprintf(so, sizeof(so), "%s-so", h->pin_file);

		IG_ENSURE(n > 0 && n < (int)sizeof(so), IG_EUSAGE, why, "HSM PIN file path too long");
		IG_GUARD(hsm_provision_softhsm_pins(c->state_dir, h->module, h->token,
						    h->issuer_key, h->pin_file, so, why));
	}
	return IG_OK;
}

struct start {
	struct worker *w;
	sem_t done;
	int rc;
	const char *why;
	char msg[200];  /* <why> copied: it may live in the thread's storage */
};

static void *worker_main(void *arg)
{
	struct start *st = arg;
	struct worker *w = st->w;
	struct server *srv = w->srv;
	const struct config *c = &srv->cfg;
	char tag[16];
	int rc;

	snprintf(tag, sizeof(tag), w->admin ? "admin" : "w%u", w->id);
	log_set_thread(tag);
	if (!w->admin)
		(void)log_nonblocking(); /* a worker never waits for stderr */
	{
		char name[16];

		snprintf(name, sizeof(name), "idgate-%.8s", tag);
		pthread_setname_np(pthread_self(), name);
	}
	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	worker_clock(w);
	rc = IG_ENOMEM;
	st->why = "out of memory";
	w->scratch = malloc(w->lim.max_body + 1);
	if (!w->scratch)
		goto fail;
	/* The admin worker reads too: what it revokes, to audit whose it was. */
	w->reader = store_reader_new(srv->store);
	st->why = "no LMDB reader slot for a worker";
	if (!w->reader)
		goto fail;
	if (!w->admin) {
		struct tls_async_signer hsm_key = { conn_tls_sign_start, w };
		struct tls_options topt = {
			c->tls_min_version, c->tls_groups.id, c->tls_groups.n,
			c->tls_suites.id, c->tls_suites.n,
		};

		rc = tls_server_init(&w->tls, c->cert_file, c->key_file,
				     c->tls_key_in_hsm ? &hsm_key : NULL, &topt,
				     srv->ticket_secret, c->ticket_lifetime_s, w->now_s, &st->why);
		if (rc < 0)
			goto fail;
		if (c->rate_limit > 0) {
			double share = c->rate_limit / srv->nworkers;

			w->rl = ratelimit_new(65536, share, c->rate_burst);
			if (!w->rl)
				goto fail;
		}
	}
	rc = w->ops->init(w, &st->why);
	if (rc < 0)
		goto fail;
	st->rc = IG_OK;
	w->thread_ok = 1;
	sem_post(&st->done);
	w->ops->run(w);
	return NULL;
fail:
	st->rc = rc < 0 ? rc : IG_EINTERNAL;
	snprintf(st->msg, sizeof(st->msg), "%s", st->why ? st->why : "");
	st->why = st->msg;
	sem_post(&st->done);
	return NULL;
}

static struct worker *worker_new(struct server *srv, unsigned id, int admin,
				 int cpu)
{
	struct worker *w = aligned_alloc(64, (sizeof(*w) + 63) & ~(size_t)63);

	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->srv = srv;
	w->id = id;
	w->admin = admin;
	w->cpu = cpu;
	/* The admin listener stays on the kernel's TCP whatever the dataplane
	 * runs on: operators and Prometheus reach it on a private network. */
	w->ops = !admin && srv->cfg.backend == BACKEND_DPDK ? &dpdk_ops : &io_uring_ops;
	w->lim.max_head = srv->cfg.max_head;
	w->lim.max_body = admin ? srv->cfg.admin_max_body : srv->cfg.max_body;
	w->timeout_ns[TO_HANDSHAKE] = srv->cfg.handshake_timeout_ms * 1000000ull;
	w->timeout_ns[TO_HEADER] = srv->cfg.header_timeout_ms * 1000000ull;
	/* An admin body (a bulk enrolment) is uploaded once its head, with
	 * the token, was accepted; the TLS listener's small bodies come
	 * within the header timeout. */
	w->timeout_ns[TO_BODY] = (admin ? srv->cfg.admin_body_timeout_ms
				   : srv->cfg.header_timeout_ms) * 1000000ull;
	w->timeout_ns[TO_IDLE] = srv->cfg.idle_timeout_ms * 1000000ull;
	w->timeout_ns[TO_LINGER] = srv->cfg.linger_timeout_ms * 1000000ull;
	w->timeout_ns[TO_SEND] = srv->cfg.send_timeout_ms * 1000000ull;
	if (csc_worker_init(w) < 0) {
		csc_worker_free(w);
		free(w);
		return NULL;
	}
	for (int k = 0; k < TO_COUNT; k++) {
		/* Each list's sentinel is its own predecessor and successor. */
		w->tlist[k].next = w->tlist[k].prev = &w->tlist[k];
	}
	return w;
}

static void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	worker_free_conns(w);
	w->ops->free(w);
	csc_worker_free(w);
	if (!w->admin && w->tls.ticket_lifetime)
		tls_server_free(&w->tls);
	ratelimit_free(w->rl);
	if (w->reader)
		store_reader_free(w->reader);
	free(w->scratch);
	free(w);
}

/*
 * tls.key_file = hsm: the certificate's public key, which some HSM of the
 * pool must hold as its TLS key (keys load before this returns).
 */
static int tls_hsm_key(struct server *srv, const char **why)
{
	mbedtls_x509_crt crt;
	unsigned char pt[100], *p = pt + sizeof(pt);
	int n, rc = IG_EUSAGE;

	mbedtls_x509_crt_init(&crt);
	*why = "tls.key_file = hsm needs tls.cert_file: a PEM certificate of an EC P-256 key";
	if (mbedtls_x509_crt_parse_file(&crt, srv->cfg.cert_file) ||
	    !mbedtls_pk_can_do(&crt.pk, MBEDTLS_PK_ECKEY) ||
	    mbedtls_pk_get_bitlen(&crt.pk) != 256)
		goto out;
	n = mbedtls_pk_write_pubkey(&p, pt, &crt.pk);
	if (n != 65 || p[0] != 0x04)
		goto out;
	memset(&srv->tls_pub, 0, sizeof(srv->tls_pub));
	srv->tls_pub.kind = PUBKEY_EC_P256;
	srv->tls_pub.clen = 32;
	memcpy(srv->tls_pub.x, p + 1, 32);
	memcpy(srv->tls_pub.y, p + 33, 32);
	*why = "no HSM holds the TLS certificate's key (purpose tls in its keyring, "
	       "or the pair labelled idgate-tls)";
	if (hsm_choose_tls(srv->hsm, &srv->tls_pub, 0) < 0)
		goto out;
	log_info("TLS handshakes are signed in the HSM (the certificate's key)");
	rc = IG_OK;
out:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

/* Each second: how full the replay cache is, for /metrics and /readyz;
 * from three quarters full, logins are let through only for credentials
 * that used at most half their burst (credrate_take's strict mode). */
static void replay_watch(struct server *srv, int64_t now)
{
	size_t live = replay_live(srv->replay, now), slots = replay_slots(srv->replay);
	int tight = live >= slots / 4 * 3;

	atomic_store(&srv->replay_live, live);
	if (tight != atomic_load(&srv->replay_tight))
		log_warn("replay cache %s: %zu of %zu slots live%s", tight ? "3/4 full" :
			 "below 3/4", live, slots,
			 tight ? "; only credentials well within their rate log in" : "");
	atomic_store(&srv->replay_tight, tight);
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct config *c = &srv.cfg;
	pthread_t *threads = NULL;
	char err[300], path[512];
	const char *why = "";
	struct hsm_config hc;
	struct hsm_device_config hd[1 + CONFIG_MAX_HSMS];
	sigset_t sigs;
	int rc = 1, sig, fresh;
	unsigned started = 0, ticks = 0;
	long ncpu;

	config_defaults(c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			config_print_help();
			return 0;
		} else if (!strcmp(a, "--verbose")) {
			c->verbose = 1;
		} else if (!v) {
			fprintf(stderr, "idgated: unknown option or missing value: %s\n", a);
			return 2;
		} else if (!strcmp(a, "--config")) {
			bad = config_load(c, v, err, sizeof(err));
			i++;
		} else if (!strcmp(a, "--state")) {
			bad = config_set(c, "server", "state_dir", v, err, sizeof(err));
			i++;
		} else if (!strcmp(a, "--workers")) {
			bad = config_set(c, "server", "workers", v, err, sizeof(err));
			i++;
		} else if (!strcmp(a, "--poll")) {
			bad = config_set(c, "server", "poll", v, err, sizeof(err));
			i++;
		} else if (!strcmp(a, "--backend")) {
			bad = config_set(c, "server", "backend", v, err, sizeof(err));
			i++;
		} else if (!strcmp(a, "--set")) {
			bad = config_set_arg(c, v, err, sizeof(err));
			i++;
		} else {
			fprintf(stderr, "idgated: unknown option %s (see --help)\n", a);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "idgated: %s\n", err);
			return 2;
		}
	}
	if (config_finish(c, err, sizeof(err))) {
		fprintf(stderr, "idgated: %s\n", err);
		return 2;
	}
	if (c->verbose)
		log_verbosity = LOG_DEBUG;
	umask(077);
	if (mkdir(c->state_dir, 0700) && errno != EEXIST) {
		log_err("cannot create state dir %s: %s", c->state_dir, strerror(errno));
		return 1;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	srv.nworkers = c->workers ? c->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (srv.nworkers > 256) {
		log_err("at most 256 workers");
		return 2;
	}
	{
		/* Every connection is an fd: allow as many as the hard limit. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* threads inherit it */
	if (psa_crypto_init() != PSA_SUCCESS) {
		log_err("PSA crypto init failed");
		return 1;
	}
	/* The EAL early: a wrong EAL argument or port fails in a second, not
	 * after the first start's provisioning; after the signal mask, which
	 * its threads inherit. */
	if (c->backend == BACKEND_DPDK && dpdk_global_init(&srv, &why) < 0)
		goto fail;

	/* First start: state that the defaults need. */
	if (c->hsm_softhsm_state && provision(c, &why) < 0)
		goto fail;
	if (!c->tls_key_in_hsm &&
	    tls_make_self_signed(c->cert_file, c->key_file, "localhost", &why) < 0)
		goto fail;
	if (secret_file(c->admin_token_file, (uint8_t *)srv.admin_token,
			sizeof(srv.admin_token) - 1, 1, &srv.admin_token_len, &why) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/pairwise.key", c->state_dir);
	if (secret_file(path, srv.pairwise_key, sizeof(srv.pairwise_key), 0, NULL, &why) < 0)
		goto fail;
	/* Ticket keys derive from this file and the time: servers sharing it
	 * (and a clock) accept each other's tickets, and restarts keep them. */
	if (secret_file(c->ticket_secret_file, srv.ticket_secret, sizeof(srv.ticket_secret),
			0, NULL, &why) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/store", c->state_dir);
	fresh = access(path, F_OK) != 0; /* a new state dir: nothing was ever used */
	if (store_open(&srv.store, path, c->store_map_mb << 20, &why) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/replay.cache", c->state_dir);
	srv.replay = replay_open(path, c->replay_slots, time(NULL), fresh, &why);
	if (!srv.replay)
		goto fail;
	if (replay_lost_at(srv.replay) + (int64_t)c->assertion_max_lifetime_s +
	    2 * (int64_t)c->clock_skew_s > time(NULL))
		log_warn("single-use records made before %lld may be lost (a new table, or "
			 "the machine restarted): assertions and SADs issued before then are "
			 "refused", (long long)replay_lost_at(srv.replay));
	/* A credential's window lasts at most burst x interval: a quarter of
	 * the replay cache's slots tracks as many busy credentials as it can
	 * hold jtis of. */
	srv.credrate = credrate_new(c->replay_slots / 4, c->credential_burst,
				    c->credential_interval_ms);
	if (!srv.credrate) {
		why = "out of memory for the per-credential rate";
		goto fail;
	}
	memset(&hc, 0, sizeof(hc));
	hd[0] = (struct hsm_device_config){
		.name = "main", .module = c->hsm_module, .token_label = c->hsm_token,
		.pin_file = c->hsm_pin_file, .issuer_key_label = c->hsm_issuer_key,
		.threads = c->hsm_threads, .queue_depth = c->hsm_queue,
	};
	for (unsigned i = 0; i < c->nhsms; i++)
		hd[i + 1] = (struct hsm_device_config){
			.name = c->hsms[i].name, .module = c->hsms[i].module,
			.token_label = c->hsms[i].token, .pin_file = c->hsms[i].pin_file,
			.issuer_key_label = c->hsms[i].issuer_key,
			.threads = c->hsms[i].threads, .queue_depth = c->hsms[i].queue,
		};
	hc.devices = hd;
	hc.ndevices = 1 + c->nhsms;
	hc.deadline_ms = c->hsm_deadline_ms;
	hc.probe_interval_ms = c->hsm_probe_ms;
	hc.key_check_s = c->hsm_key_check_s;
	hc.spare_threads = c->hsm_spare_threads;
	hc.reinit_interval_ms = c->hsm_reinit_ms;
	hc.nworkers = srv.nworkers + 1; /* the admin worker makes credentials */
	hc.completion_depth = 4096;
	if (audit_open(&srv.audit, c->audit_server_log, 4096, 0, &why) < 0)
		goto fail;
	{
		struct audit_event ev = {
			.actor = "idgated", .action = "server.start", .result = "ok",
			.detail = c->issuer,
		};

		if (audit_append(srv.audit, &ev) < 0)
			log_warn("audit log: cannot record the start");
	}
	if (hsm_start(&srv.hsm, &hc, &why) < 0)
		goto fail;
	if (c->tls_key_in_hsm && tls_hsm_key(&srv, &why) < 0)
		goto fail;
	if (make_documents(&srv, &why) < 0)
		goto fail;
	if (csc_init(&srv, &why) < 0)
		goto fail;

	if (log_start() < 0) {
		why = "cannot start the log writer thread";
		goto stop;
	}
	srv.workers = calloc(srv.nworkers + 1, sizeof(*srv.workers));
	threads = calloc(srv.nworkers + 1, sizeof(*threads));
	if (!srv.workers || !threads) {
		why = "out of memory";
		goto fail;
	}
	for (unsigned i = 0; i <= srv.nworkers; i++) {
		int admin = i == srv.nworkers;

		srv.workers[i] = worker_new(&srv, i, admin,
					    admin ? -1 : (int)(i % (unsigned)(ncpu > 0 ? ncpu : 1)));
		if (!srv.workers[i]) {
			why = "out of memory";
			goto stop;
		}
	}
	for (unsigned i = 0; i <= srv.nworkers; i++) {
		struct start st = { .w = srv.workers[i], .rc = IG_EINTERNAL, .why = "" };

		sem_init(&st.done, 0, 0);
		if (pthread_create(&threads[i], NULL, worker_main, &st)) {
			sem_destroy(&st.done);
			why = "cannot start a worker thread";
			goto stop;
		}
		started++;
		sem_wait(&st.done);
		sem_destroy(&st.done);
		if (st.rc < 0) {
			snprintf(err, sizeof(err), "%s", st.msg);
			why = err;
			goto stop;
		}
	}
	log_info("idgated ready: %u workers (%s, %s poll), TLS on %s, admin on %s, issuer %s, "
		 "issuer key kid %s (%u HSMs), assertions verified with %s", srv.nworkers,
		 srv.workers[0]->ops->name,
		 c->poll == POLL_BUSY ? "busy" : "adaptive", c->listen, c->admin_listen,
		 c->issuer, first_kid(&srv), hsm_ndevices(srv.hsm), p256_verify_impl());
	/* Ten times a second: publish key changes (a reload, a scheduled
	 * transition; publish_keys costs nothing when neither happened);
	 * SIGHUP reads the keyrings at once. */
	for (;;) {
		struct timespec tick = { 0, 100000000 };

		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGHUP) {
			log_info("SIGHUP: reading the HSMs' keyrings");
			hsm_reload_keys(srv.hsm);
		} else if (sig > 0) {
			break;
		}
		if (publish_keys(&srv, time(NULL)) < 0)
			log_warn("out of memory publishing the JWKS");
		if (++ticks % 10 == 0)
			replay_watch(&srv, time(NULL));
	}
	log_info("signal %d: stopping", sig);
	rc = 0;
	why = NULL;
stop:
	srv.stopping = 1;
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	/* The audit writer hands signHash jobs back through the engine's
	 * completion rings (csc.c): it stops first. */
	audit_shutdown(srv.audit);
	hsm_stop(srv.hsm);
	for (unsigned i = 0; srv.workers && i <= srv.nworkers; i++)
		worker_destroy(srv.workers[i]);
	if (why) {
		log_err("%s", why);
		rc = 1;
	}
	goto out;
fail:
	log_err("%s", why);
	hsm_stop(srv.hsm);
out:
	free(threads);
	free(srv.workers);
	free(atomic_load(&srv.jwks));
	while (srv.old_jwks) {
		struct old_doc *o = srv.old_jwks;

		srv.old_jwks = o->next;
		free(o->doc);
		free(o);
	}
	audit_close(srv.audit);
	csc_free(&srv);
	free(srv.discovery);
	replay_free(srv.replay);
	credrate_free(srv.credrate);
	store_close(srv.store);
	dpdk_global_free(); /* after the workers: their mbufs go back to its pool */
	mbedtls_psa_crypto_free();
	mbedtls_platform_zeroize(srv.admin_token, sizeof(srv.admin_token));
	mbedtls_platform_zeroize(srv.pairwise_key, sizeof(srv.pairwise_key));
	mbedtls_platform_zeroize(srv.ticket_secret, sizeof(srv.ticket_secret));
	log_stop(); /* the workers' last lines, after every worker stopped */
	return rc;
}
