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
#include <time.h>
#include <unistd.h>

#include "../common/http.h"
#include "../common/jose.h"
#include "../common/result.h"
#include "capacity.h"
#include "hdrlog.h"
#include "loadgen.h"
#include "signer.h"
#include "svg.h"
#include "tokens.h"

#define LG_EXIT_FAIL 1
#define LG_EXIT_USAGE 2
#define LG_EXIT_GENLIMIT 3      /* find-capacity: the generator was the limit */
#define LG_EXIT_INTR 130        /* stopped by SIGINT (128 + 2) */
#define LG_BATCH 10000          /* citizens per bulk request (server: <= 100,000) */

static void lg_usage(FILE *f)
{
	fputs(
"usage: idgate-load run --url URL [options]\n"
"       idgate-load find-capacity --url URL --slo SLO [options]\n"
"       idgate-load populate --admin URL --admin-token-file F --citizens N\n"
"                            [--seed S] [--signing N] --population FILE\n"
"       idgate-load populate --admin URL --admin-token-file F --signing N\n"
"                            --population FILE   (add signing credentials)\n"
"       idgate-load hdr-decode FILE      percentiles of an --hdr-log\n"
"run options:\n"
"  --url URL            https://host:port (login, sign, jwks) or any http[s] URL (http)\n"
"  --mix W=F,...        workloads login, sign, jwks, http with weights (default jwks=1)\n"
"  --rate R             requests/s (constant profile)\n"
"  --duration S         seconds\n"
"  --profile P          constant | ramp:from=R,to=R | step:from=R,step=R,every=S[,max=R]\n"
"                       | launch-day:base=R,peak=R[,lead=S,rise=S,plateau=S,decay=S]\n"
"  --poisson            Poisson arrivals (default: evenly spaced)\n"
"  --warm-up            keep-alive: open and handshake every connection before\n"
"                       the schedule starts (else a cold pool's handshakes\n"
"                       land in the first requests' latency)\n"
"  --threads N          engine threads (default 1)\n"
"  --connections C      connection pool, split over threads (default 64)\n"
"  --tls MODE           new | resume | keepalive[:N] (default keepalive), or a\n"
"                       mix with weights: new=0.3,resume=0.2,keepalive:100=0.5\n"
"  --cacert FILE        verify the server (default: no verification)\n"
"  --timeout S          per-request timeout (default 10)\n"
"  --population FILE    from populate (needed by login and sign)\n"
"  --sign-hashes N      sign: hashes per signHash, 1..16 (default 1)\n"
"  --signers N          sign: citizens with a signing credential who sign\n"
"                       (default: all of the population's, at most 1000)\n"
"  --aud AUD            assertion audience (default URL's origin + /oauth2/token)\n"
"  --issuer URL         the server's issuer, for sign approvals' audience\n"
"                       (default: --aud without /oauth2/token)\n"
"  --client-id ID       relying service sent with logins (signers: idgate-load)\n"
"  --json FILE          machine-readable results (find-capacity: every trial)\n"
"  --svg FILE           plot: run: p50/p90/p99/p99.9 per second;\n"
"                       find-capacity: corrected latency against offered rate\n"
"  --hdr-log FILE       run: 1 s interval histograms, HdrHistogram log v1.3\n"
"  --quiet              no live line\n"
"find-capacity options (and the run options except --rate/--duration/--profile):\n"
"  --slo SLO            e.g. 'p99<50ms,errors<0.1%' (corrected latency)\n"
"  --start-rate R       first trial's rate (default 100)\n"
"  --max-rate R         never offer more (default 1000000)\n"
"  --growth F           rate factor while growing (default 2)\n"
"  --precision P        bisect until within P, e.g. 5% or 0.05 (default 5%)\n"
"  --trial-duration S   search trials (default 5)\n"
"  --confirm-duration S confirmation at the result (default 15)\n"
"  --confirm-retries N  step-downs after a failed confirmation (default 3)\n"
"  --max-trials N       search trials at most (default 20)\n"
"Ctrl-C stops a run or a search: what was measured is reported, exit 130.\n", f);
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

/* Give citizens [0, n) of <pop> a signing credential each (those that
 * have none yet): one admin call each, as the HSM makes a key and the
 * CA a certificate per credential.  0, or -1 (message printed). */
static int lg_add_signing(const struct lg_url *admin, const char *token,
			  struct lg_population *pop, size_t n)
{
	if (!pop->scred && !(pop->scred = calloc(pop->n, sizeof(*pop->scred))))
		return -1;
	for (size_t i = 0; i < n && i < pop->n; i++) {
		char head[2048], *answer = NULL;
		json_t *root;
		const char *id;
		int st;

		if (pop->scred[i][0])
			continue;
		snprintf(head, sizeof(head),
			 "POST /v1/admin/citizens/load-%s-%zu/signing-credential "
			 "HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			 pop->seed, i, admin->authority, token);
		st = lg_http_call(admin, head, "", 0, &answer);
		root = st == 201 ? json_loads(answer, 0, NULL) : NULL;
		id = json_string_value(json_object_get(root, "credential_id"));
		if (!id || strlen(id) >= sizeof(pop->scred[i])) {
			fprintf(stderr, "idgate-load: signing credential for citizen "
				"%zu: answered %d: %.200s\n", i, st,
				answer ? answer : "(no answer)");
			json_decref(root);
			free(answer);
			return -1;
		}
		strcpy(pop->scred[i], id);
		pop->nsigning++;
		json_decref(root);
		free(answer);
	}
	return 0;
}

static int lg_populate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", required_argument, 0, 'a' },
		{ "admin-token-file", required_argument, 0, 't' },
		{ "citizens", required_argument, 0, 'n' },
		{ "seed", required_argument, 0, 's' },
		{ "population", required_argument, 0, 'p' },
		{ "signing", required_argument, 0, 'g' },
		{ 0, 0, 0, 0 },
	};
	const char *admin = NULL, *tokf = NULL, *out = NULL, *seed = "idgate", *why;
	char token[512] = "";
	long n = 0, signing = 0;
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
		case 'g': signing = strtol(optarg, NULL, 10); break;
		default: return lg_die_usage("bad populate option", NULL);
		}
	}
	if (!admin || !tokf || !out || n < 0 || n > 100000000 ||
	    signing < 0 || signing > 10000000 || (!n && !signing))
		return lg_die_usage("populate needs --admin, --admin-token-file, "
				    "--population and --citizens N > 0 (or "
				    "--signing N > 0 to add signing credentials "
				    "to an existing population)", NULL);
	if (n && signing > n)
		return lg_die_usage("--signing cannot exceed --citizens", NULL);
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
	if (!n) {
		/* Signing credentials for an enrolled population. */
		if (lg_population_read(out, &pop, &why) < 0)
			return lg_die_usage(why, out);
		if ((size_t)signing > pop.n) {
			lg_population_free(&pop);
			return lg_die_usage("--signing exceeds the population", out);
		}
	} else {
		memset(&pop, 0, sizeof(pop));
		snprintf(pop.seed, sizeof(pop.seed), "%s", seed);
		pop.n = (size_t)n;
		pop.cred = calloc(pop.n, sizeof(*pop.cred));
		if (!pop.cred)
			return LG_EXIT_FAIL;
		for (size_t i = 0; i < pop.n && !rc; i += LG_BATCH)
			rc = lg_enrol_batch(&u, token, &pop, i,
					    pop.n - i < LG_BATCH ? pop.n - i : LG_BATCH);
	}
	if (!rc) {
		/* Written even after a failed signing step: what was made
		 * is kept, and a second call adds the rest. */
		rc = signing && lg_add_signing(&u, token, &pop, (size_t)signing) < 0;
		if (lg_population_write(out, &pop) < 0) {
			fprintf(stderr, "idgate-load: cannot write %s\n", out);
			rc = 1;
		}
	}
	if (!rc)
		printf("%s %zu citizens (seed %s), %zu with a signing credential "
		       "-> %s\n", n ? "enrolled" : "population of", pop.n,
		       pop.seed, pop.nsigning, out);
	lg_population_free(&pop);
	return rc ? LG_EXIT_FAIL : 0;
}

/* ---- run ------------------------------------------------------------------ */

/* Workload <w>'s share of the mix. */
static double lg_wl_share(const struct lg_config *cfg, int w)
{
	return cfg->mix[w] - (w ? cfg->mix[w - 1] : 0);
}

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
			  "unknown workload in --mix (login, sign, jwks, http)");
		w[k] = v;
		sum += v;
	}
	IG_ENSURE(sum > 0, IG_EUSAGE, why, "--mix weights add up to 0");
	for (int k = 0; k < LG_WL_COUNT; k++)
		cfg->mix[k] = (k ? cfg->mix[k - 1] : 0) + w[k] / sum;
	cfg->mix[LG_WL_COUNT - 1] = 1;
	return IG_OK;
}

/* "keepalive:100" or "new=0.3,keepalive=0.7" -> cumulative weights in
 * <cfg>->tls_mix (and the keep-alive request limit). */
static int lg_parse_tls(const char *s, struct lg_config *cfg)
{
	double w[LG_TLS_COUNT] = { 0 }, sum = 0;
	char buf[64], *save = NULL;

	if (strlen(s) >= sizeof(buf) || strlen(s) >= sizeof(cfg->tls_spec))
		return IG_EUSAGE;
	strcpy(buf, s);
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *colon, *end;
		double v = 1;
		int m;

		if (eq) {
			*eq = 0;
			v = strtod(eq + 1, &end);
			if (end == eq + 1 || *end || !(v >= 0) || v > 1e9)
				return IG_EUSAGE;
		}
		if ((colon = strchr(tok, ':'))) {
			long n = strtol(colon + 1, &end, 10);

			if (strncmp(tok, "keepalive:", 10) || end == colon + 1 ||
			    *end || n < 1 || n > 1000000000)
				return IG_EUSAGE;
			cfg->keepalive_max = (unsigned)n;
			*colon = 0;
		}
		for (m = LG_TLS_NEW; m < LG_TLS_COUNT && strcmp(tok, lg_tls_names[m]); m++)
			;
		if (m == LG_TLS_COUNT || w[m] > 0)
			return IG_EUSAGE;
		w[m] = v;
		sum += v;
	}
	if (!(sum > 0))
		return IG_EUSAGE;
	for (int m = 0; m < LG_TLS_COUNT; m++)
		cfg->tls_mix[m] = (m ? cfg->tls_mix[m - 1] : 0) + w[m] / sum;
	cfg->tls_mix[LG_TLS_COUNT - 1] = 1;
	snprintf(cfg->tls_spec, sizeof(cfg->tls_spec), "%s", s);
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
	const char *url, *profile, *mix, *pop, *tls, *issuer;
	double signers;
	double rate, duration;
	const char *hdr_log, *svg, *slo;
	int capacity;                   /* find-capacity options given */
	struct lg_cap_params cap;
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
		{ "warm-up", no_argument, 0, 'W' },
		{ "threads", required_argument, 0, 'T' },
		{ "connections", required_argument, 0, 'c' },
		{ "tls", required_argument, 0, 'L' },
		{ "cacert", required_argument, 0, 'C' },
		{ "timeout", required_argument, 0, 'x' },
		{ "population", required_argument, 0, 'p' },
		{ "aud", required_argument, 0, 'A' },
		{ "issuer", required_argument, 0, 'I' },
		{ "sign-hashes", required_argument, 0, 'N' },
		{ "signers", required_argument, 0, 'G' },
		{ "client-id", required_argument, 0, 'i' },
		{ "json", required_argument, 0, 'j' },
		{ "quiet", no_argument, 0, 'q' },
		{ "svg", required_argument, 0, 'S' },
		{ "hdr-log", required_argument, 0, 'H' },
		{ "slo", required_argument, 0, 1 },
		{ "start-rate", required_argument, 0, 2 },
		{ "max-rate", required_argument, 0, 3 },
		{ "growth", required_argument, 0, 4 },
		{ "precision", required_argument, 0, 5 },
		{ "trial-duration", required_argument, 0, 6 },
		{ "confirm-duration", required_argument, 0, 7 },
		{ "confirm-retries", required_argument, 0, 8 },
		{ "max-trials", required_argument, 0, 9 },
		{ 0, 0, 0, 0 },
	};
	struct lg_cap_params *cp = &a->cap;
	int o, bad = 0;
	size_t pl;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': a->url = optarg; break;
		case 'm': a->mix = optarg; break;
		case 'r': a->rate = lg_num(optarg, &bad); break;
		case 'd': a->duration = lg_num(optarg, &bad); break;
		case 'P': a->profile = optarg; break;
		case 'o': cfg->poisson = 1; break;
		case 'W': cfg->warm_up = 1; break;
		case 'T': cfg->threads = (int)lg_num(optarg, &bad); break;
		case 'c': cfg->connections = (int)lg_num(optarg, &bad); break;
		case 'L': a->tls = optarg; break;
		case 'C': cfg->cacert = optarg; break;
		case 'x': cfg->timeout = lg_num(optarg, &bad); break;
		case 'p': a->pop = optarg; break;
		case 'A': snprintf(cfg->aud, sizeof(cfg->aud), "%s", optarg); break;
		case 'I': a->issuer = optarg; break;
		case 'N': cfg->sign_hashes = (unsigned)lg_num(optarg, &bad); break;
		case 'G': a->signers = lg_num(optarg, &bad); break;
		case 'i': cfg->client_id = optarg; break;
		case 'j': cfg->json_path = optarg; break;
		case 'q': cfg->quiet = 1; break;
		case 'S': a->svg = optarg; break;
		case 'H': a->hdr_log = optarg; break;
		case 1: a->slo = optarg; break;
		case 2: cp->start_rate = lg_num(optarg, &bad); break;
		case 3: cp->max_rate = lg_num(optarg, &bad); break;
		case 4: cp->growth = lg_num(optarg, &bad); break;
		case 5:
			/* "5%" or 0.05 */
			pl = strlen(optarg);
			if (pl > 1 && optarg[pl - 1] == '%') {
				optarg[pl - 1] = 0;
				cp->precision = lg_num(optarg, &bad) / 100;
				optarg[pl - 1] = '%';
			} else {
				cp->precision = lg_num(optarg, &bad);
			}
			break;
		case 6: cp->trial_duration = lg_num(optarg, &bad); break;
		case 7: cp->confirm_duration = lg_num(optarg, &bad); break;
		case 8: cp->confirm_retries = (int)lg_num(optarg, &bad); break;
		case 9: cp->max_trials = (int)lg_num(optarg, &bad); break;
		default: return IG_EUSAGE;
		}
		if (bad) {
			lg_die_usage("bad number", optarg);
			return IG_EUSAGE;
		}
		a->capacity |= o >= 1 && o <= 9;
	}
	if (optind < argc) {
		lg_die_usage("unexpected argument", argv[optind]);
		return IG_EUSAGE;
	}
	return IG_OK;
}

static int lg_check_run(struct lg_config *cfg, struct lg_run_args *a,
			int capacity)
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
	if (lg_parse_tls(a->tls ? a->tls : "keepalive", cfg) < 0)
		return lg_die_usage("--tls must be new, resume or keepalive[:N], or "
				    "a mix of them with weights (new=0.3,keepalive=0.7)",
				    a->tls);
	if (!cfg->url.tls && (lg_tls_used(cfg, LG_TLS_NEW) ||
			      lg_tls_used(cfg, LG_TLS_RESUME)))
		return lg_die_usage("--tls new/resume need an https:// URL", NULL);
	if (!cfg->url.tls) {
		/* plain HTTP: keep-alive is the only mode */
		for (int m = 0; m < LG_TLS_COUNT; m++)
			cfg->tls_mix[m] = 1;
		strcpy(cfg->tls_spec, "plain");
	}
	if (cfg->sign_hashes > LG_SIGN_HASHES_MAX || a->signers > 1e7)
		return lg_die_usage("--sign-hashes must be 1..16 and --signers at "
				    "most 10000000", NULL);
	if (!cfg->sign_hashes)
		cfg->sign_hashes = 1;
	if (capacity) {
		if (a->profile || a->rate > 0 || a->duration > 0 || a->hdr_log)
			return lg_die_usage("find-capacity sets the rate and duration "
					    "itself (no --rate, --duration, --profile, "
					    "--hdr-log)", NULL);
		if (!a->slo)
			return lg_die_usage("find-capacity needs --slo", NULL);
		a->rate = a->cap.start_rate;
		a->duration = a->cap.trial_duration;
	} else if (a->capacity || a->slo) {
		return lg_die_usage("--slo and the search options belong to "
				    "find-capacity", NULL);
	}
	if (lg_profile_parse(a->profile ? a->profile : "constant", a->rate,
			     a->duration, &cfg->profile, &why) < 0)
		return lg_die_usage(why, a->profile ? a->profile : "--rate/--duration");
	if (a->hdr_log && !hdrlog_zlib_ok())
		return lg_die_usage("--hdr-log needs zlib (libz.so.1, Debian "
				    "package zlib1g)", NULL);
	if (cfg->mix[LG_WL_LOGIN] > 0 && !a->pop)
		return lg_die_usage("the login workload needs --population", NULL);
	if (lg_wl_share(cfg, LG_WL_SIGN) > 0 && !a->pop)
		return lg_die_usage("the sign workload needs --population (with "
				    "signing credentials: populate --signing N)", NULL);
	if (!cfg->aud[0])
		snprintf(cfg->aud, sizeof(cfg->aud), "%s://%s/oauth2/token",
			 cfg->url.tls ? "https" : "http", cfg->url.authority);
	if (a->issuer) {
		snprintf(cfg->sign_aud, sizeof(cfg->sign_aud),
			 "%s/csc/v2/credentials/authorize", a->issuer);
	} else {
		size_t n = strlen(cfg->aud), k = strlen("/oauth2/token");

		if ((n < k || strcmp(cfg->aud + n - k, "/oauth2/token")) &&
		    lg_wl_share(cfg, LG_WL_SIGN) > 0)
			return lg_die_usage("--aud is not .../oauth2/token: give "
					    "--issuer for the sign workload", NULL);
		snprintf(cfg->sign_aud, sizeof(cfg->sign_aud),
			 "%.*s/csc/v2/credentials/authorize", (int)(n - k), cfg->aud);
	}
	return 0;
}

/* Per-second intervals of the corrected latency of every answer: the
 * --hdr-log lines and the points of the run's --svg. */
struct lg_intervals {
	FILE *log;                      /* --hdr-log, or NULL */
	int log_failed;
	size_t n, cap;
	double *t;                      /* interval end, s from the start */
	double *ms[4];                  /* p50, p90, p99, p99.9 */
};

static const double lg_iv_pcts[4] = { 50, 90, 99, 99.9 };

static void lg_interval_add(struct lg_intervals *iv, double start, double len,
			    const struct hdr *h)
{
	if (iv->log && hdrlog_write_interval(iv->log, start, len, h) < 0)
		iv->log_failed = 1;
	if (!h->total)
		return;         /* nothing answered: no point on the plot */
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 64;
		double *p = realloc(iv->t, cap * sizeof(double));

		if (!p)
			return;
		iv->t = p;
		for (int k = 0; k < 4; k++) {
			p = realloc(iv->ms[k], cap * sizeof(double));
			if (!p)
				return;
			iv->ms[k] = p;
		}
		iv->cap = cap;
	}
	iv->t[iv->n] = start + len;
	for (int k = 0; k < 4; k++)
		iv->ms[k][iv->n] = hdr_percentile(h, lg_iv_pcts[k]) / 1000.0;
	iv->n++;
}

static void lg_intervals_free(struct lg_intervals *iv)
{
	free(iv->t);
	for (int k = 0; k < 4; k++)
		free(iv->ms[k]);
}

/* The live line and the intervals, once a second from <t0> (absolute
 * deadlines, so intervals do not drift), until every engine has ended. */
static void lg_live_loop(struct lg_engine *es, int n, const struct lg_config *cfg,
			 uint64_t t0, struct lg_intervals *iv)
{
	struct hdr sofar, cur;
	uint64_t prev_off = 0, prev_ans = 0, next = t0 + 1000000000ull, start = t0;
	int sec = 0, running = n;

	if (hdr_init(&sofar, LG_HIGHEST_US) < 0)
		return;
	if (hdr_init(&cur, LG_HIGHEST_US) < 0) {
		hdr_free(&sofar);
		return;
	}
	while (running) {
		uint64_t off = 0, ans = 0, err = 0, late = 0, now;
		struct timespec ts = { (time_t)(next / 1000000000ull),
				       (long)(next % 1000000000ull) };

		/* EINTR (Ctrl-C) cuts the interval short; that is fine. */
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = lg_now_ns();
		while (next <= now)
			next += 1000000000ull;
		sec++;
		running = 0;
		for (int i = 0; i < n; i++) {
			pthread_mutex_lock(&es[i].live.lock);
			hdr_merge(&cur, &es[i].live.hist);
			hdr_reset(&es[i].live.hist);
			pthread_mutex_unlock(&es[i].live.lock);
			off += __atomic_load_n(&es[i].live.offered, __ATOMIC_RELAXED);
			ans += __atomic_load_n(&es[i].live.answered, __ATOMIC_RELAXED);
			err += __atomic_load_n(&es[i].live.errors, __ATOMIC_RELAXED);
			late += __atomic_load_n(&es[i].live.late, __ATOMIC_RELAXED);
			running += !__atomic_load_n(&es[i].done, __ATOMIC_ACQUIRE);
		}
		hdr_merge(&sofar, &cur);
		if (now > start && iv)
			lg_interval_add(iv, (double)(start - t0) / 1e9,
					(double)(now - start) / 1e9, &cur);
		hdr_reset(&cur);
		start = now > start ? now : start;
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
	hdr_free(&cur);
	hdr_free(&sofar);
}

/* Run <cfg>'s schedule once: engine threads, the live loop, statistics
 * merged into <total> (lg_stats_init'ed).  <*sched_s> is the length of
 * schedule actually run (shorter after Ctrl-C).  0, or 1 on a failure. */
/* What a run needs beyond its configuration: the population, the signer
 * of assertions and approvals, the signers' access tokens. */
struct lg_setup {
	struct lg_population pop;
	struct lg_signer *signer;
	struct lg_tokens *tokens;
	struct lg_signer_params sp;
};

static void lg_setup_free(struct lg_setup *s)
{
	lg_signer_stop(s->signer);
	lg_tokens_stop(s->tokens);
	lg_population_free(&s->pop);
	s->signer = NULL;
	s->tokens = NULL;
}

static int lg_execute(const struct lg_config *cfg, const struct lg_setup *su,
		      struct lg_intervals *iv, struct lg_stats *total,
		      double *sched_s)
{
	struct lg_engine *es = calloc((size_t)cfg->threads, sizeof(*es));
	pthread_t *th = calloc((size_t)cfg->threads, sizeof(*th));
	uint64_t t0 = lg_now_ns() + 20000000;   /* let every thread start */
	int rc = 0, started = 0;

	*sched_s = 0;
	if (!es || !th) {
		free(es);
		free(th);
		return 1;
	}
	if (iv && iv->log) {
		/* StartTime: the wall clock at t0. */
		struct timespec rt;

		clock_gettime(CLOCK_REALTIME, &rt);
		if (hdrlog_write_header(iv->log, (double)rt.tv_sec +
					rt.tv_nsec / 1e9 + 0.02) < 0)
			iv->log_failed = 1;
	}
	for (int i = 0; i < cfg->threads; i++) {
		es[i] = (struct lg_engine){ .cfg = cfg, .signer = su->signer,
					    .tokens = su->tokens, .index = i,
					    .t0_ns = t0 };
		pthread_mutex_init(&es[i].live.lock, NULL);
		if (lg_stats_init(&es[i].stats) < 0 ||
		    hdr_init(&es[i].live.hist, LG_HIGHEST_US) < 0)
			rc = 1;
	}
	for (int i = 0; !rc && i < cfg->threads; i++, started++)
		if (pthread_create(&th[i], NULL, lg_engine_run, &es[i]))
			rc = 1;
	if (started == cfg->threads)
		lg_live_loop(es, cfg->threads, cfg, t0, iv);
	for (int i = 0; i < cfg->threads; i++) {
		if (i < started)
			pthread_join(th[i], NULL);
		lg_stats_merge(total, &es[i].stats);
		rc |= es[i].failed;
		if (es[i].sched_end_s > *sched_s)
			*sched_s = es[i].sched_end_s;
		lg_stats_free(&es[i].stats);
		hdr_free(&es[i].live.hist);
		pthread_mutex_destroy(&es[i].live.lock);
	}
	free(th);
	free(es);
	/* Rates are per second of schedule: the drain after it is not load. */
	if (!__atomic_load_n(&lg_stop, __ATOMIC_RELAXED) ||
	    *sched_s > cfg->profile.duration || *sched_s <= 0)
		*sched_s = cfg->profile.duration;
	return rc;
}

static void lg_on_sigint(int sig)
{
	__atomic_store_n(&lg_stop, 1, __ATOMIC_RELAXED);
}

/* Ctrl-C once: stop and report; twice: the default (die at once). */
static void lg_catch_sigint(void)
{
	struct sigaction sa = { .sa_handler = lg_on_sigint,
				.sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Shared by run and find-capacity: parse, check, read the population,
 * probe the target, log the signers in (sign), start the signer for up to
 * <peak>/s. */
static int lg_prepare(int argc, char **argv, struct lg_config *cfg,
		      struct lg_run_args *a, int capacity, struct lg_setup *su)
{
	const char *why = NULL;
	double peak = 0;
	int rc;

	if (lg_parse_run(argc, argv, cfg, a) < 0)
		return LG_EXIT_USAGE;
	rc = lg_check_run(cfg, a, capacity);
	if (rc)
		return rc;
	if (a->pop && lg_population_read(a->pop, &su->pop, &why) < 0)
		return lg_die_usage(why, a->pop);
	if (lg_wl_share(cfg, LG_WL_SIGN) > 0 && !su->pop.nsigning) {
		lg_setup_free(su);
		return lg_die_usage("the population has no signing credentials "
				    "(idgate-load populate --signing N)", a->pop);
	}
	rc = lg_probe(&cfg->url);
	if (rc < 0) {
		fprintf(stderr, "idgate-load: target %s:%s unreachable: %s\n",
			cfg->url.host, cfg->url.port, strerror(-rc));
		lg_setup_free(su);
		return LG_EXIT_FAIL;
	}
	if (lg_wl_share(cfg, LG_WL_SIGN) > 0) {
		rc = lg_tokens_start(&su->tokens, cfg, &su->pop,
				     a->signers > 0 ? (size_t)a->signers : 1000, &why);
		if (rc < 0) {
			fprintf(stderr, "idgate-load: %s\n", why);
			lg_setup_free(su);
			return rc == IG_EUSAGE ? LG_EXIT_USAGE : LG_EXIT_FAIL;
		}
		su->sp.signers = lg_tokens_signers(su->tokens);
		su->sp.nsigners = lg_tokens_count(su->tokens);
	}
	/* Two seconds of signed entries ahead, at least 256 of each kind. */
	for (double t = 0; t < cfg->profile.duration; t += 0.01)
		if (lg_profile_rate(&cfg->profile, t) > peak)
			peak = lg_profile_rate(&cfg->profile, t);
	if (capacity)
		peak = a->cap.max_rate < 20000 ? a->cap.max_rate : 20000;
	su->sp.pop = &su->pop;
	su->sp.aud = cfg->aud;
	su->sp.sign_aud = cfg->sign_aud;
	su->sp.nhash = cfg->sign_hashes;
	for (int k = 0; k < LG_POOL_COUNT; k++) {
		double share = lg_wl_share(cfg, k == LG_POOL_LOGIN ? LG_WL_LOGIN
								   : LG_WL_SIGN);
		size_t cap = share > 0 ? (size_t)(peak * share * 2) + 256 : 0;

		su->sp.cap[k] = cap > 262144 ? 262144 : cap;
	}
	if ((su->sp.cap[LG_POOL_LOGIN] || su->sp.cap[LG_POOL_SIGN]) &&
	    lg_signer_start(&su->signer, &su->sp) < 0) {
		fprintf(stderr, "idgate-load: cannot start the signer\n");
		lg_setup_free(su);
		return LG_EXIT_FAIL;
	}
	return 0;
}

static void lg_run_svg(const char *path, const struct lg_intervals *iv,
		       const struct lg_config *cfg)
{
	static const char *const names[4] = { "p50", "p90", "p99", "p99.9" };
	static const char *const colors[4] = { "#1f77b4", "#2ca02c", "#ff7f0e",
					       "#d62728" };
	struct lg_svg_series s[4];
	char title[160];
	struct lg_svg_chart c = { title, "time since start (s)",
				  "corrected latency (ms, log scale)", s, 4,
				  NULL, 0, NULL };

	snprintf(title, sizeof(title), "idgate-load: latency percentiles per "
		 "second (%s, %.0f s)", cfg->tls_spec,
		 cfg->profile.duration);
	for (int k = 0; k < 4; k++)
		s[k] = (struct lg_svg_series){ names[k], colors[k], iv->n,
					       iv->t, iv->ms[k], 1 };
	if (lg_svg_write(path, &c) < 0)
		fprintf(stderr, "idgate-load: cannot write --svg %s\n", path);
}

static int lg_run(int argc, char **argv)
{
	struct lg_config cfg = { .threads = 1, .connections = 64, .timeout = 10 };
	struct lg_run_args a = { 0 };
	struct lg_setup su = { 0 };
	struct lg_intervals iv = { 0 };
	struct lg_stats total;
	double elapsed;
	struct lg_totals tot;
	int rc = lg_prepare(argc, argv, &cfg, &a, 0, &su);

	if (rc)
		return rc;
	if (a.hdr_log && !(iv.log = fopen(a.hdr_log, "w"))) {
		lg_setup_free(&su);
		return lg_die_usage("cannot write --hdr-log", a.hdr_log);
	}
	if (lg_stats_init(&total) < 0)
		return LG_EXIT_FAIL;
	lg_catch_sigint();
	rc = lg_execute(&cfg, &su, &iv, &total, &elapsed);
	lg_setup_free(&su);
	if (__atomic_load_n(&lg_stop, __ATOMIC_RELAXED))
		printf("interrupted: the summary covers the first %.1f s of "
		       "%.1f s\n", elapsed, cfg.profile.duration);
	if (lg_report(&cfg, &total, elapsed) < 0) {
		fprintf(stderr, "idgate-load: cannot write --json %s\n", cfg.json_path);
		rc = 1;
	}
	if (iv.log && (fclose(iv.log) || iv.log_failed)) {
		fprintf(stderr, "idgate-load: cannot write --hdr-log %s\n", a.hdr_log);
		rc = 1;
	}
	if (a.svg)
		lg_run_svg(a.svg, &iv, &cfg);
	lg_intervals_free(&iv);
	lg_stats_totals(&total, &tot, NULL);
	lg_stats_free(&total);
	if (tot.offered && !tot.answered) {
		fprintf(stderr, "idgate-load: no request got an answer: the target "
			"failed (see errors above)\n");
		rc = 1;
	}
	if (__atomic_load_n(&lg_stop, __ATOMIC_RELAXED))
		return LG_EXIT_INTR;
	return rc ? LG_EXIT_FAIL : 0;
}

/* ---- find-capacity ---------------------------------------------------------- */

struct lg_cap_ctx {
	struct lg_config *cfg;
	struct lg_setup *su;
	struct lg_slo slo;
	int n;
};

/* The SLO's largest latency bound, or a second without one. */
static uint64_t lg_slo_grace_us(const struct lg_slo *slo)
{
	uint64_t g = 0;

	for (int i = 0; i < slo->nlat; i++)
		if (slo->below_us[i] > g)
			g = slo->below_us[i];
	return g ? g : 1000000;
}

/* Fill <t>'s measurements from one trial's statistics.  The achieved
 * rate counts the answers that came within the trial, and those after
 * its end within the SLO's largest latency bound (<grace_us>): a server
 * that keeps up answers the last requests that soon; one that fell
 * behind is still working off its backlog. */
static void lg_cap_measure(const struct lg_stats *st, double el,
			   uint64_t grace_us, struct lg_trial *t, struct hdr *all)
{
	struct lg_totals tot;

	lg_stats_totals(st, &tot, all);
	t->offered = tot.offered;
	t->answered = tot.answered;
	/* An answer that is not a success is an error for the SLO. */
	t->errors = tot.errors + tot.refused;
	t->offered_rate = t->offered / el;
	t->achieved_rate = (tot.completed +
			    (st->drain ? hdr_count_below(st->drain, grace_us) : 0)) / el;
	/* The run summary's "fell behind" rule, and a dry signer. */
	if (lg_generator_behind(st, t->offered) || st->starved) {
		t->generator_limited = 1;
		snprintf(t->lag_note, sizeof(t->lag_note), "%llu late sends, "
			 "max lag %.1f ms, signer dry %llu",
			 (unsigned long long)st->late, st->max_lag_us / 1000.0,
			 (unsigned long long)st->starved);
	}
}

static void lg_cap_print(int n, const struct lg_trial *t)
{
	printf("trial %2d %-7s %9.1f/s %4.0fs: achieved %9.1f/s  p50 %8.2fms "
	       "p99 %8.2fms p99.9 %8.2fms  errors %llu (%.3f%%)  %s: %s\n", n,
	       t->confirm ? "confirm" : "search", t->rate, t->duration,
	       t->achieved_rate, t->p50 / 1e3, t->p99 / 1e3, t->p999 / 1e3,
	       (unsigned long long)t->errors,
	       t->offered ? 100.0 * t->errors / t->offered : 0,
	       t->verdict == LG_PASS ? "PASS" : t->verdict == LG_FAIL ? "FAIL" :
	       lg_verdict_names[t->verdict], t->why);
	fflush(stdout);
}

static int lg_cap_trial(void *arg, struct lg_trial *t)
{
	struct lg_cap_ctx *x = arg;
	struct lg_stats st;
	struct hdr all;
	const char *why;
	double el;
	int rc;

	if (__atomic_load_n(&lg_stop, __ATOMIC_RELAXED)) {
		t->interrupted = 1;     /* not run: Ctrl-C came between trials */
		lg_trial_judge(&x->slo, &(struct hdr){ 0 }, t);
		return IG_OK;
	}
	if (lg_profile_parse("constant", t->rate, t->duration, &x->cfg->profile,
			     &why) < 0)
		return IG_EUSAGE;
	if (lg_stats_init(&st) < 0 || hdr_init(&all, LG_HIGHEST_US) < 0)
		return IG_ENOMEM;
	rc = lg_execute(x->cfg, x->su, NULL, &st, &el);
	lg_cap_measure(&st, el, lg_slo_grace_us(&x->slo), t, &all);
	t->interrupted = __atomic_load_n(&lg_stop, __ATOMIC_RELAXED);
	lg_trial_judge(&x->slo, &all, t);
	lg_stats_free(&st);
	hdr_free(&all);
	if (rc)
		return IG_EINTERNAL;
	lg_cap_print(++x->n, t);
	return IG_OK;
}

static json_t *lg_cap_trial_json(const struct lg_slo *slo, const struct lg_trial *t)
{
	json_t *o = json_pack("{s:f,s:f,s:b,s:I,s:I,s:I,s:f,s:f,s:{s:I,s:I,s:I},"
			      "s:s,s:s}", "rate", t->rate, "duration_s",
			      t->duration, "confirm", t->confirm,
			      "offered", (json_int_t)t->offered,
			      "answered", (json_int_t)t->answered,
			      "errors", (json_int_t)t->errors,
			      "offered_rate", t->offered_rate,
			      "achieved_rate", t->achieved_rate,
			      "corrected_us", "p50", (json_int_t)t->p50,
			      "p99", (json_int_t)t->p99,
			      "p99.9", (json_int_t)t->p999,
			      "verdict", lg_verdict_names[t->verdict],
			      "why", t->why);
	json_t *terms = json_object();
	char key[32];

	for (int i = 0; i < slo->nlat; i++) {
		snprintf(key, sizeof(key), "p%g", slo->pct[i]);
		json_object_set_new(terms, key, json_integer((json_int_t)t->slo_us[i]));
	}
	json_object_set_new(o, "slo_us", terms);
	return o;
}

static int lg_cap_json(const char *path, const char *slo_s,
		       const struct lg_slo *slo, const struct lg_cap_result *r)
{
	json_t *trials = json_array();
	json_t *root;
	int rc;

	for (size_t i = 0; i < r->ntrials; i++)
		json_array_append_new(trials, lg_cap_trial_json(slo, &r->trials[i]));
	root = json_pack("{s:s,s:o,s:{s:s,s:f,s:b,s:s}}", "slo", slo_s,
			 "trials", trials, "result", "status",
			 lg_cap_status_names[r->status], "rate", r->rate,
			 "at_max_rate", r->at_max, "why", r->why);
	if (!root)
		return IG_ENOMEM;
	rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	return rc ? IG_EINTERNAL : IG_OK;
}

static int lg_rate_cmp(const void *a, const void *b)
{
	const struct lg_trial *x = a, *y = b;

	return (x->rate > y->rate) - (x->rate < y->rate);
}

/* Corrected p50/p99/p99.9 against offered rate, the SLO's latency bounds
 * as dashed lines and the capacity found as a vertical marker. */
static void lg_cap_svg(const char *path, const char *slo_s,
		       const struct lg_slo *slo, const struct lg_cap_result *r)
{
	static const char *const names[3] = { "p50", "p99", "p99.9" };
	static const char *const colors[3] = { "#1f77b4", "#ff7f0e", "#d62728" };
	struct lg_trial *t = calloc(r->ntrials + 1, sizeof(*t));
	double *x = calloc(r->ntrials + 1, sizeof(double) * 4);
	struct lg_svg_series s[3];
	struct lg_svg_line hl[LG_SLO_MAX_TERMS], vl;
	char labels[LG_SLO_MAX_TERMS][48], title[200], vlabel[64];
	struct lg_svg_chart c = { title, "offered rate (requests/s)",
				  "corrected latency (ms, log scale)", s, 3, hl,
				  (size_t)slo->nlat, NULL };
	size_t n = 0;

	if (!t || !x)
		goto out;
	for (size_t i = 0; i < r->ntrials; i++)
		if (r->trials[i].verdict != LG_INTERRUPTED && r->trials[i].answered)
			t[n++] = r->trials[i];
	qsort(t, n, sizeof(*t), lg_rate_cmp);
	for (size_t i = 0; i < n; i++) {
		x[i] = t[i].rate;
		x[n + i] = t[i].p50 / 1e3;
		x[2 * n + i] = t[i].p99 / 1e3;
		x[3 * n + i] = t[i].p999 / 1e3;
	}
	for (int k = 0; k < 3; k++)
		s[k] = (struct lg_svg_series){ names[k], colors[k], n, x,
					       x + (size_t)(k + 1) * n, 1 };
	for (int i = 0; i < slo->nlat; i++) {
		snprintf(labels[i], sizeof(labels[i]), "SLO p%g < %g ms",
			 slo->pct[i], slo->below_us[i] / 1e3);
		hl[i] = (struct lg_svg_line){ slo->below_us[i] / 1e3, labels[i] };
	}
	if (r->status == LG_CAP_FOUND) {
		snprintf(vlabel, sizeof(vlabel), "capacity %.0f/s", r->rate);
		vl = (struct lg_svg_line){ r->rate, vlabel };
		c.vline = &vl;
	}
	snprintf(title, sizeof(title), "idgate-load find-capacity, SLO %s: %s",
		 slo_s, lg_cap_status_names[r->status]);
	if (lg_svg_write(path, &c) < 0)
		fprintf(stderr, "idgate-load: cannot write --svg %s\n", path);
out:
	free(t);
	free(x);
}

static int lg_find_capacity(int argc, char **argv)
{
	struct lg_config cfg = { .threads = 1, .connections = 64, .timeout = 10,
				 .quiet = 1 };
	struct lg_run_args a = { .cap = { .start_rate = 100, .max_rate = 1e6,
		.growth = 2, .precision = 0.05, .trial_duration = 5,
		.confirm_duration = 15, .confirm_retries = 3, .max_trials = 20 } };
	struct lg_setup su = { 0 };
	struct lg_cap_ctx x = { .cfg = &cfg, .su = &su };
	struct lg_cap_result r;
	const char *why = NULL, *json_path;
	int rc;

	rc = lg_prepare(argc, argv, &cfg, &a, 1, &su);
	if (rc)
		return rc;
	json_path = cfg.json_path;
	cfg.json_path = NULL;
	if (lg_slo_parse(a.slo, &x.slo, &why) < 0) {
		rc = lg_die_usage(why, a.slo);
		goto out_pop;
	}
	lg_catch_sigint();
	printf("find-capacity: SLO %s on corrected latency, achieved >= 99%% of "
	       "offered; start %.1f/s, precision %.1f%%, trials %gs, "
	       "confirmation %gs\n", a.slo, a.cap.start_rate,
	       100 * a.cap.precision, a.cap.trial_duration, a.cap.confirm_duration);
	rc = lg_capacity_search(&a.cap, lg_cap_trial, &x, &r);
	if (rc == IG_EUSAGE) {
		rc = lg_die_usage("bad search options (--start-rate >= 1 <= "
				  "--max-rate, --growth > 1, 0 < --precision <= "
				  "50%, durations > 0)", NULL);
		goto out_pop;
	}
	if (rc < 0) {
		rc = LG_EXIT_FAIL;
		goto out_pop;
	}
	if (r.status == LG_CAP_FOUND)
		printf("capacity: %.1f requests/s%s (%s)\n", r.rate,
		       r.at_max ? " or more: --max-rate reached" : "", r.why);
	else
		printf("no capacity result (%s): %s\n",
		       lg_cap_status_names[r.status], r.why);
	if (r.status == LG_CAP_GEN_LIMITED)
		printf("GENERATOR-LIMITED: the load generator, not the server, "
		       "was the bottleneck; the search stopped there.\n");
	if (json_path && lg_cap_json(json_path, a.slo, &x.slo, &r) < 0) {
		fprintf(stderr, "idgate-load: cannot write --json %s\n", json_path);
		r.status = LG_CAP_ERROR;
	}
	if (a.svg)
		lg_cap_svg(a.svg, a.slo, &x.slo, &r);
	rc = r.status == LG_CAP_FOUND ? 0 :
	     r.status == LG_CAP_GEN_LIMITED ? LG_EXIT_GENLIMIT :
	     r.status == LG_CAP_INTERRUPTED ? LG_EXIT_INTR : LG_EXIT_FAIL;
	lg_cap_result_free(&r);
out_pop:
	lg_setup_free(&su);
	return rc;
}

/* ---- hdr-decode ----------------------------------------------------------------- */

/* Print each interval of an --hdr-log and the whole: the round trip of
 * what `run --hdr-log` wrote. */
static int lg_hdr_decode(int argc, char **argv)
{
	struct hdr h, all;
	double epoch = 0, start, len;
	char *line = NULL;
	size_t cap = 0;
	const char *why = NULL;
	FILE *f;
	int rc = 0, lineno = 0;

	if (argc != 2)
		return lg_die_usage("usage: idgate-load hdr-decode FILE", NULL);
	f = fopen(argv[1], "r");
	if (!f)
		return lg_die_usage("cannot read", argv[1]);
	if (hdr_init(&h, LG_HIGHEST_US) < 0 || hdr_init(&all, LG_HIGHEST_US) < 0) {
		fclose(f);
		return LG_EXIT_FAIL;
	}
	printf("%9s %7s %8s %10s %10s %10s %10s %10s\n", "start_s", "len_s",
	       "count", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms");
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		rc = hdrlog_read_line(line, &epoch, &start, &len, &h, &why);
		if (rc < 0) {
			fprintf(stderr, "idgate-load: %s:%d: %s\n", argv[1],
				lineno, why);
			break;
		}
		if (!rc)
			continue;
		hdr_merge(&all, &h);
		printf("%9.3f %7.3f %8llu %10.3f %10.3f %10.3f %10.3f %10.3f\n",
		       start, len, (unsigned long long)h.total,
		       hdr_percentile(&h, 50) / 1e3, hdr_percentile(&h, 90) / 1e3,
		       hdr_percentile(&h, 99) / 1e3, hdr_percentile(&h, 99.9) / 1e3,
		       h.max / 1e3);
		rc = 0;
	}
	if (rc >= 0)
		printf("%9s %7s %8llu %10.3f %10.3f %10.3f %10.3f %10.3f\n", "total",
		       "", (unsigned long long)all.total,
		       hdr_percentile(&all, 50) / 1e3, hdr_percentile(&all, 90) / 1e3,
		       hdr_percentile(&all, 99) / 1e3,
		       hdr_percentile(&all, 99.9) / 1e3, all.max / 1e3);
	free(line);
	fclose(f);
	hdr_free(&h);
	hdr_free(&all);
	return rc < 0 ? LG_EXIT_FAIL : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return lg_die_usage("missing command (run, find-capacity, populate, "
				    "hdr-decode)", NULL);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		lg_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return lg_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "find-capacity"))
		return lg_find_capacity(argc - 1, argv + 1);
	if (!strcmp(argv[1], "populate"))
		return lg_populate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hdr-decode"))
		return lg_hdr_decode(argc - 1, argv + 1);
	return lg_die_usage("unknown command", argv[1]);
}
