/*
 * main.c - idgate-load's command line: `populate` enrols a deterministic
 * population through the admin API; `run` drives an open-loop load and
 * reports.  Exit status: 0 done, 1 the target failed (unreachable, every
 * request failed, populate refused), 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/http.h"
#include "../common/jose.h"
#include "../common/result.h"
#include "loadgen.h"
#include "signer.h"

#define LG_EXIT_FAIL 1
#define LG_EXIT_USAGE 2
#define LG_BATCH 10000          /* citizens per bulk request (server: <= 100,000) */

static void lg_usage(FILE *f)
{
	fputs(
"usage: idgate-load run --url URL [options]\n"
"       idgate-load populate --admin URL --admin-token-file F --citizens N\n"
"                            [--seed S] --population FILE\n"
"run options:\n"
"  --url URL            https://host:port (login, jwks) or any http[s] URL (http)\n"
"  --mix W=F,...        workloads login, jwks, http with weights (default jwks=1)\n"
"  --rate R             requests/s (constant profile)\n"
"  --duration S         seconds\n"
"  --profile P          constant | ramp:from=R,to=R | step:from=R,step=R,every=S[,max=R]\n"
"                       | launch-day:base=R,peak=R[,lead=S,rise=S,plateau=S,decay=S]\n"
"  --poisson            Poisson arrivals (default: evenly spaced)\n"
"  --threads N          engine threads (default 1)\n"
"  --connections C      connection pool, split over threads (default 64)\n"
"  --tls MODE           new | resume | keepalive[:N] (default keepalive)\n"
"  --cacert FILE        verify the server (default: no verification)\n"
"  --timeout S          per-request timeout (default 10)\n"
"  --population FILE    from populate (needed by login)\n"
"  --aud AUD            assertion audience (default URL's origin + /oauth2/token)\n"
"  --client-id ID       relying service sent with logins\n"
"  --json FILE          machine-readable results\n"
"  --quiet              no live line\n", f);
}

static int lg_die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "idgate-load: %s%s%s\n", msg, arg ? ": " : "",
		arg ? arg : "");
	fprintf(stderr, "try 'idgate-load --help'\n");
	return LG_EXIT_USAGE;
}

int lg_url_parse(const char *s, struct lg_url *u, const char **why)
{
	const char *rest, *slash, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (!strncmp(s, "https://", 8)) {
		u->tls = 1;
		rest = s + 8;
	} else if (!strncmp(s, "http://", 7)) {
		rest = s + 7;
	} else {
		IG_ENSURE(0, IG_EUSAGE, why, "URL must start with http:// or https://");
	}
	slash = strchr(rest, '/');
	if (!slash)
		slash = rest + strlen(rest);
	colon = memchr(rest, ':', (size_t)(slash - rest));
	hl = (size_t)((colon ? colon : slash) - rest);
	IG_ENSURE(hl > 0 && hl < sizeof(u->host), IG_EUSAGE, why, "bad host in URL");
	memcpy(u->host, rest, hl);
	u->ip_literal = strspn(u->host, "0123456789.") == hl || u->host[0] == '[';
	if (colon) {
		size_t pl = (size_t)(slash - colon - 1);

		IG_ENSURE(pl > 0 && pl < 6 && strspn(colon + 1, "0123456789") >= pl,
			  IG_EUSAGE, why, "bad port in URL");
		memcpy(u->port, colon + 1, pl);
		IG_ENSURE(atoi(u->port) > 0 && atoi(u->port) < 65536, IG_EUSAGE,
			  why, "bad port in URL");
	} else {
		strcpy(u->port, u->tls ? "443" : "80");
	}
	snprintf(u->path, sizeof(u->path), "%s", *slash ? slash : "/");
	IG_ENSURE(!strpbrk(u->path, " \r\n"), IG_EUSAGE, why, "bad path in URL");
	snprintf(u->authority, sizeof(u->authority), "%s%s%s", u->host,
		 colon ? ":" : "", colon ? u->port : "");
	IG_ENSURE(!getaddrinfo(u->host, u->port, &hints, &ai) && ai, IG_EUSAGE,
		  why, "cannot resolve the URL's host");
	memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
	u->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return IG_OK;
}

/* Blocking connect with a short timeout: tells "unreachable" apart from
 * "slow" before a run starts.  0 or -errno. */
static int lg_probe(const struct lg_url *u)
{
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;
	struct timeval tv = { 3, 0 };

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- populate ------------------------------------------------------------ */

/* One blocking HTTP/1.1 exchange with Connection: close; the answer body
 * is returned malloc'd in <*body>.  Status code or negative. */
static int lg_http_call(const struct lg_url *u, const char *head,
			const char *body, size_t blen, char **out)
{
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len = 0, cap = 65536, off = 0;
	char *buf = malloc(cap);
	struct http_response r;
	const char *why;
	int hl, rc = -1;
	ssize_t n;

	*out = NULL;
	if (fd < 0 || !buf ||
	    connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0)
		goto out;
	for (size_t hlen = strlen(head); off < hlen + blen; off += (size_t)n) {
		n = off < hlen ? send(fd, head + off, hlen - off, MSG_NOSIGNAL)
			       : send(fd, body + off - hlen, blen - (off - hlen),
				      MSG_NOSIGNAL);
		if (n <= 0)
			goto out;
	}
	while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *p = realloc(buf, cap *= 2);

			if (!p)
				goto out;
			buf = p;
		}
	}
	buf[len] = 0;
	hl = http_parse_response(buf, len, 65536, &r, &why);
	if (hl < 0)
		goto out;
	memmove(buf, buf + hl, len - (size_t)hl + 1);
	*out = buf;
	buf = NULL;
	rc = r.status;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Enrol citizens [first, first + n) in one bulk request (NDJSON). */
static int lg_enrol_batch(const struct lg_url *admin, const char *token,
			  struct lg_population *pop, size_t first, size_t n)
{
	size_t cap = n * 256 + 1, len = 0;
	char *nd = malloc(cap), head[1024], *answer = NULL;
	json_t *root = NULL, *res;
	int st, failed = -1;

	if (!nd)
		return -1;
	for (size_t i = first; i < first + n; i++) {
		uint8_t d[32], x[32], y[32];
		struct p256_pub pub;
		char jwk[256];

		if (lg_key_derive(pop->seed, i, d, x, y) < 0)
			goto out;
		memcpy(pub.x, x, 32);
		memcpy(pub.y, y, 32);
		if (jwk_format_p256(&pub, NULL, jwk, sizeof(jwk)) < 0)
			goto out;
		len += (size_t)snprintf(nd + len, cap - len,
			"{\"citizen_id\":\"load-%s-%zu\",\"device_jwk\":%s}\n",
			pop->seed, i, jwk);
	}
	snprintf(head, sizeof(head),
		 "POST /v1/admin/citizens HTTP/1.1\r\nHost: %s\r\n"
		 "Authorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 admin->authority, token, len);
	st = lg_http_call(admin, head, nd, len, &answer);
	if (st != 200) {
		fprintf(stderr, "idgate-load: enrolment answered %d: %.200s\n",
			st, answer ? answer : "(no answer)");
		goto out;
	}
	root = json_loads(answer, 0, NULL);
	res = json_object_get(root, "results");
	if (json_array_size(res) != n)
		goto out;
	failed = 0;
	for (size_t i = 0; i < n; i++) {
		const char *cred = json_string_value(
			json_object_get(json_array_get(res, i), "credential_id"));

		if (!cred || strlen(cred) >= sizeof(pop->cred[0]))
			failed++;
		else
			strcpy(pop->cred[first + i], cred);
	}
	if (failed)
		fprintf(stderr, "idgate-load: %d of %zu enrolments refused (e.g. "
			"citizens of this seed already enrolled: use another --seed)\n",
			failed, n);
out:
	json_decref(root);
	free(answer);
	free(nd);
	return failed;
}

static int lg_populate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", required_argument, 0, 'a' },
		{ "admin-token-file", required_argument, 0, 't' },
		{ "citizens", required_argument, 0, 'n' },
		{ "seed", required_argument, 0, 's' },
		{ "population", required_argument, 0, 'p' },
		{ 0, 0, 0, 0 },
	};
	const char *admin = NULL, *tokf = NULL, *out = NULL, *seed = "idgate", *why;
	char token[512] = "";
	long n = 0;
	struct lg_url u;
	struct lg_population pop;
	FILE *f;
	int o, rc = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a': admin = optarg; break;
		case 't': tokf = optarg; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 's': seed = optarg; break;
		case 'p': out = optarg; break;
		default: return lg_die_usage("bad populate option", NULL);
		}
	}
	if (!admin || !tokf || !out || n <= 0 || n > 100000000)
		return lg_die_usage("populate needs --admin, --admin-token-file, "
				    "--citizens N > 0 and --population", NULL);
	if (!seed[0] || strlen(seed) >= sizeof(pop.seed) ||
	    strspn(seed, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-") != strlen(seed))
		return lg_die_usage("--seed must be 1-127 of [A-Za-z0-9._-]", seed);
	if (lg_url_parse(admin, &u, &why) < 0)
		return lg_die_usage(why, admin);
	f = fopen(tokf, "r");
	if (!f || !fgets(token, sizeof(token), f)) {
		if (f)
			fclose(f);
		return lg_die_usage("cannot read --admin-token-file", tokf);
	}
	fclose(f);
	token[strcspn(token, "\r\n")] = 0;
	if (lg_probe(&u) < 0) {
		fprintf(stderr, "idgate-load: admin endpoint %s unreachable: %s\n",
			admin, strerror(-lg_probe(&u)));
		return LG_EXIT_FAIL;
	}
	memset(&pop, 0, sizeof(pop));
	snprintf(pop.seed, sizeof(pop.seed), "%s", seed);
	pop.n = (size_t)n;
	pop.cred = calloc(pop.n, sizeof(*pop.cred));
	if (!pop.cred)
		return LG_EXIT_FAIL;
	for (size_t i = 0; i < pop.n && !rc; i += LG_BATCH)
		rc = lg_enrol_batch(&u, token, &pop, i,
				    pop.n - i < LG_BATCH ? pop.n - i : LG_BATCH);
	if (!rc && lg_population_write(out, &pop) < 0) {
		fprintf(stderr, "idgate-load: cannot write %s\n", out);
		rc = 1;
	}
	if (!rc)
		printf("enrolled %zu citizens (seed %s) -> %s\n", pop.n, seed, out);
	lg_population_free(&pop);
	return rc ? LG_EXIT_FAIL : 0;
}

/* ---- run ------------------------------------------------------------------ */

/* "login=0.8,jwks=0.2" -> cumulative weights in <cfg>->mix. */
static int lg_parse_mix(const char *s, struct lg_config *cfg, const char **why)
{
	double w[LG_WL_COUNT] = { 0 }, sum = 0;
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end = NULL;
		int k;
		double v = 1;

		if (eq) {
			*eq = 0;
			v = strtod(eq + 1, &end);
			IG_ENSURE(end != eq + 1 && !*end && v >= 0 && v <= 1e9,
				  IG_EUSAGE, why, "bad --mix weight");
		}
		for (k = 0; k < LG_WL_COUNT && strcmp(tok, lg_workload_names[k]); k++)
			;
		IG_ENSURE(k < LG_WL_COUNT, IG_EUSAGE, why,
			  "unknown workload in --mix (login, jwks, http)");
		w[k] = v;
		sum += v;
	}
	IG_ENSURE(sum > 0, IG_EUSAGE, why, "--mix weights add up to 0");
	for (int k = 0; k < LG_WL_COUNT; k++)
		cfg->mix[k] = (k ? cfg->mix[k - 1] : 0) + w[k] / sum;
	cfg->mix[LG_WL_COUNT - 1] = 1;
	return IG_OK;
}

static int lg_parse_tls(const char *s, struct lg_config *cfg)
{
	char *end;

	if (!strcmp(s, "new"))
		cfg->tls = LG_TLS_NEW;
	else if (!strcmp(s, "resume"))
		cfg->tls = LG_TLS_RESUME;
	else if (!strcmp(s, "keepalive"))
		cfg->tls = LG_TLS_KEEPALIVE;
	else if (!strncmp(s, "keepalive:", 10)) {
		long n = strtol(s + 10, &end, 10);

		if (end == s + 10 || *end || n < 1 || n > 1000000000)
			return IG_EUSAGE;
		cfg->tls = LG_TLS_KEEPALIVE;
		cfg->keepalive_max = (unsigned)n;
	} else
		return IG_EUSAGE;
	return IG_OK;
}

static double lg_num(const char *s, int *bad)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0) || v > 1e9)
		*bad = 1;
	return v;
}

struct lg_run_args {
	const char *url, *profile, *mix, *pop, *tls;
	double rate, duration;
};

static int lg_parse_run(int argc, char **argv, struct lg_config *cfg,
			struct lg_run_args *a)
{
	static const struct option opts[] = {
		{ "url", required_argument, 0, 'u' },
		{ "mix", required_argument, 0, 'm' },
		{ "rate", required_argument, 0, 'r' },
		{ "duration", required_argument, 0, 'd' },
		{ "profile", required_argument, 0, 'P' },
		{ "poisson", no_argument, 0, 'o' },
		{ "threads", required_argument, 0, 'T' },
		{ "connections", required_argument, 0, 'c' },
		{ "tls", required_argument, 0, 'L' },
		{ "cacert", required_argument, 0, 'C' },
		{ "timeout", required_argument, 0, 'x' },
		{ "population", required_argument, 0, 'p' },
		{ "aud", required_argument, 0, 'A' },
		{ "client-id", required_argument, 0, 'i' },
		{ "json", required_argument, 0, 'j' },
		{ "quiet", no_argument, 0, 'q' },
		{ 0, 0, 0, 0 },
	};
	int o, bad = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': a->url = optarg; break;
		case 'm': a->mix = optarg; break;
		case 'r': a->rate = lg_num(optarg, &bad); break;
		case 'd': a->duration = lg_num(optarg, &bad); break;
		case 'P': a->profile = optarg; break;
		case 'o': cfg->poisson = 1; break;
		case 'T': cfg->threads = (int)lg_num(optarg, &bad); break;
		case 'c': cfg->connections = (int)lg_num(optarg, &bad); break;
		case 'L': a->tls = optarg; break;
		case 'C': cfg->cacert = optarg; break;
		case 'x': cfg->timeout = lg_num(optarg, &bad); break;
		case 'p': a->pop = optarg; break;
		case 'A': snprintf(cfg->aud, sizeof(cfg->aud), "%s", optarg); break;
		case 'i': cfg->client_id = optarg; break;
		case 'j': cfg->json_path = optarg; break;
		case 'q': cfg->quiet = 1; break;
		default: return IG_EUSAGE;
		}
		if (bad) {
			lg_die_usage("bad number", optarg);
			return IG_EUSAGE;
		}
	}
	if (optind < argc) {
		lg_die_usage("unexpected argument", argv[optind]);
		return IG_EUSAGE;
	}
	return IG_OK;
}

static int lg_check_run(struct lg_config *cfg, struct lg_run_args *a)
{
	const char *why = NULL;

	if (!a->url)
		return lg_die_usage("run needs --url", NULL);
	if (lg_url_parse(a->url, &cfg->url, &why) < 0)
		return lg_die_usage(why, a->url);
	if (cfg->threads < 1 || cfg->threads > 256)
		return lg_die_usage("--threads must be 1..256", NULL);
	if (cfg->connections < cfg->threads || cfg->connections > 1000000)
		return lg_die_usage("--connections must be >= --threads", NULL);
	if (!(cfg->timeout > 0))
		return lg_die_usage("--timeout must be > 0", NULL);
	if (lg_parse_mix(a->mix ? a->mix : "jwks", cfg, &why) < 0)
		return lg_die_usage(why, a->mix);
	if (a->tls && lg_parse_tls(a->tls, cfg) < 0)
		return lg_die_usage("--tls must be new, resume or keepalive[:N]", a->tls);
	if (!cfg->url.tls && cfg->tls != LG_TLS_KEEPALIVE)
		return lg_die_usage("--tls new/resume need an https:// URL", NULL);
	if (!cfg->url.tls)
		cfg->tls = LG_TLS_PLAIN;
	if (lg_profile_parse(a->profile ? a->profile : "constant", a->rate,
			     a->duration, &cfg->profile, &why) < 0)
		return lg_die_usage(why, a->profile ? a->profile : "--rate/--duration");
	if (cfg->mix[LG_WL_LOGIN] > 0 && !a->pop)
		return lg_die_usage("the login workload needs --population", NULL);
	if (!cfg->aud[0])
		snprintf(cfg->aud, sizeof(cfg->aud), "%s://%s/oauth2/token",
			 cfg->url.tls ? "https" : "http", cfg->url.authority);
	return 0;
}

/* The live line, once a second, until every engine has ended. */
static void lg_live_loop(struct lg_engine *es, int n, const struct lg_config *cfg)
{
	struct hdr sofar;
	uint64_t prev_off = 0, prev_ans = 0;
	int sec = 0, running = n;

	if (hdr_init(&sofar, LG_HIGHEST_US) < 0)
		return;
	while (running) {
		uint64_t off = 0, ans = 0, err = 0, late = 0;

		sleep(1);
		sec++;
		running = 0;
		for (int i = 0; i < n; i++) {
			pthread_mutex_lock(&es[i].live.lock);
			hdr_merge(&sofar, &es[i].live.hist);
			hdr_reset(&es[i].live.hist);
			pthread_mutex_unlock(&es[i].live.lock);
			off += __atomic_load_n(&es[i].live.offered, __ATOMIC_RELAXED);
			ans += __atomic_load_n(&es[i].live.answered, __ATOMIC_RELAXED);
			err += __atomic_load_n(&es[i].live.errors, __ATOMIC_RELAXED);
			late += __atomic_load_n(&es[i].live.late, __ATOMIC_RELAXED);
			running += !__atomic_load_n(&es[i].done, __ATOMIC_ACQUIRE);
		}
		if (!cfg->quiet)
			fprintf(stderr, "[%3ds] offered %6llu/s achieved %6llu/s  "
				"p50 %7.2fms p99 %7.2fms  errors %llu%s\n", sec,
				(unsigned long long)(off - prev_off),
				(unsigned long long)(ans - prev_ans),
				hdr_percentile(&sofar, 50) / 1000.0,
				hdr_percentile(&sofar, 99) / 1000.0,
				(unsigned long long)err,
				late ? "  GENERATOR LAGGING" : "");
		prev_off = off;
		prev_ans = ans;
	}
	hdr_free(&sofar);
}

static int lg_run(int argc, char **argv)
{
	struct lg_config cfg = { .threads = 1, .connections = 64, .timeout = 10,
				 .tls = LG_TLS_KEEPALIVE };
	struct lg_run_args a = { 0 };
	struct lg_population pop = { 0 };
	struct lg_signer *signer = NULL;
	struct lg_engine *es;
	struct lg_stats total;
	const char *why = NULL;
	double elapsed;
	uint64_t ans = 0, off = 0, t0;
	int rc;

	if (lg_parse_run(argc, argv, &cfg, &a) < 0)
		return LG_EXIT_USAGE;
	rc = lg_check_run(&cfg, &a);
	if (rc)
		return rc;
	if (a.pop && lg_population_read(a.pop, &pop, &why) < 0)
		return lg_die_usage(why, a.pop);
	rc = lg_probe(&cfg.url);
	if (rc < 0) {
		fprintf(stderr, "idgate-load: target %s:%s unreachable: %s\n",
			cfg.url.host, cfg.url.port, strerror(-rc));
		lg_population_free(&pop);
		return LG_EXIT_FAIL;
	}
	if (cfg.mix[LG_WL_LOGIN] > 0) {
		/* Two seconds of logins ahead; at least 256. */
		double peak = 0;
		size_t cap;

		for (double t = 0; t < cfg.profile.duration; t += 0.01)
			if (lg_profile_rate(&cfg.profile, t) > peak)
				peak = lg_profile_rate(&cfg.profile, t);
		cap = (size_t)(peak * 2) + 256;
		if (lg_signer_start(&signer, &pop, cfg.aud, cap > 262144 ? 262144 : cap) < 0) {
			fprintf(stderr, "idgate-load: cannot start the signer\n");
			lg_population_free(&pop);
			return LG_EXIT_FAIL;
		}
	}
	es = calloc((size_t)cfg.threads, sizeof(*es));
	if (!es || lg_stats_init(&total) < 0)
		return LG_EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	t0 = lg_now_ns() + 20000000;    /* let every thread start first */
	for (int i = 0; i < cfg.threads; i++) {
		es[i] = (struct lg_engine){ .cfg = &cfg, .signer = signer,
					    .index = i, .t0_ns = t0 };
		pthread_mutex_init(&es[i].live.lock, NULL);
		if (lg_stats_init(&es[i].stats) < 0 ||
		    hdr_init(&es[i].live.hist, LG_HIGHEST_US) < 0)
			return LG_EXIT_FAIL;
	}
	pthread_t *th = calloc((size_t)cfg.threads, sizeof(*th));
	for (int i = 0; th && i < cfg.threads; i++)
		pthread_create(&th[i], NULL, lg_engine_run, &es[i]);
	lg_live_loop(es, cfg.threads, &cfg);
	for (int i = 0; th && i < cfg.threads; i++) {
		pthread_join(th[i], NULL);
		lg_stats_merge(&total, &es[i].stats);
		rc |= es[i].failed;
		lg_stats_free(&es[i].stats);
		hdr_free(&es[i].live.hist);
		pthread_mutex_destroy(&es[i].live.lock);
	}
	free(th);
	free(es);
	lg_signer_stop(signer);
	lg_population_free(&pop);
	/* Rates are per second of schedule: the drain after it is not load. */
	elapsed = cfg.profile.duration;
	if (lg_report(&cfg, &total, elapsed) < 0) {
		fprintf(stderr, "idgate-load: cannot write --json %s\n", cfg.json_path);
		rc = 1;
	}
	for (int w = 0; w < LG_WL_COUNT; w++) {
		ans += total.answered[w];
		off += total.offered[w];
	}
	lg_stats_free(&total);
	if (off && !ans) {
		fprintf(stderr, "idgate-load: no request got an answer: the target "
			"failed (see errors above)\n");
		rc = 1;
	}
	return rc ? LG_EXIT_FAIL : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return lg_die_usage("missing command (run, populate)", NULL);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		lg_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return lg_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "populate"))
		return lg_populate(argc - 1, argv + 1);
	return lg_die_usage("unknown command", argv[1]);
}
