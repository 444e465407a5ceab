/*
 * handlers.c - the login, discovery, JWKS, health, metrics and admin
 * handlers, and each listener's route table (public_rows, admin_rows;
 * csc.c adds its own): the routes are the tables near the end of the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../common/jose.h"
#include "../common/json.h"
#include "../common/log.h"
#include "../common/rand.h"
#include "assertion.h"
#include "credrate.h"
#include "replay.h"
#include "route.h"
#include "csc.h"
#include "server.h"
#include "store.h"

#define JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define BULK_MAX 100000

/* ---- login: OAuth 2.0 JWT-bearer grant (RFC 7523 §2.1) ----------------- */

struct login_form {
	struct http_str grant_type, assertion, client_id;
	const char *dup;
};

static int on_form(void *arg, struct http_str name, struct http_str value,
		   const char **why)
{
	struct login_form *f = arg;
	struct http_str *slot = NULL;

	if (http_str_eq(name, "grant_type"))
		slot = &f->grant_type;
	else if (http_str_eq(name, "assertion"))
		slot = &f->assertion;
	else if (http_str_eq(name, "client_id"))
		slot = &f->client_id;
	if (!slot)
		return 0; /* RFC 6749 §3.2: unknown parameters are ignored */
	if (slot->p) {
		/* RFC 6749 §3.2: parameters MUST NOT be included more than once. */
		*why = "a parameter is given more than once";
		return 1;
	}
	*slot = value;
	return 0;
}

static int client_id_ok(struct http_str s)
{
	if (s.len == 0 || s.len > 128)
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			return 0;
	}
	return 1;
}

/* The citizen's pairwise subject for one relying service (its "sector"):
 * HMAC-SHA-256 keyed with a secret of the state dir, so services cannot
 * correlate citizens and the same citizen stays stable for each. */
void pairwise_sub(const struct server *srv, const char *citizen,
		  const char *sector, size_t sector_len, char out[44])
{
	const struct ig_piece v[] = {
		{ "sub-v1", 7 }, { citizen, strlen(citizen) + 1 }, { sector, sector_len },
	};
	uint8_t mac[32];

	hmac_sha256(srv->pairwise_key, sizeof(srv->pairwise_key), v, 3, mac);
	b64url_encode(mac, sizeof(mac), out);
}

/*
 * Build the access token for the HSM hsm_choose picks (its key's kid is in
 * the header) and queue its signature there.  A full queue or an HSM out of
 * rotation: try the next.  Returns IG_OK, IG_EBLOCKED (every queue full) or
 * IG_ECLOSED (no HSM up).
 */
static conn_resume_fn login_resume;

static int login_submit(struct conn *c)
{
	struct worker *w = c->w;
	struct server *srv = w->srv;
	const struct config *cfg = &srv->cfg;
	struct pending *p = c->pend;
	struct access_token_claims cl;
	const struct hsm_issuer *ik;
	int rc = IG_ECLOSED, dev, n;

	/* RFC 9068 §2.2 wants client_id in every token: a login without one is
	 * a login to the platform itself, whose client is its issuer. */
	cl.iss = cfg->issuer;
	cl.sub = p->sub;
	cl.aud = p->client_id[0] ? p->client_id : cfg->issuer;
	cl.client_id = p->client_id[0] ? p->client_id : cfg->issuer;
	cl.jti = p->jti;
	cl.cit = p->cit[0] ? p->cit : NULL;
	cl.iat = p->iat;
	cl.exp = p->exp;
	while ((dev = hsm_choose(srv->hsm, HSM_KEY_ISSUER, p->tried, w->now_s,
				 &ik)) >= 0) {
		cl.kid = ik->kid;
		n = access_token_begin(&cl, p->token, sizeof(p->token));
		if (n < 0)
			return IG_EINTERNAL;
		p->len = (uint16_t)n;
		memset(&p->job, 0, sizeof(p->job));
		p->job.op = HSM_OP_SIGN_ES256;
		p->job.key = HSM_KEY_ISSUER;
		p->job.dev = (uint8_t)dev;
		p->job.ik = ik;
		sha256((const uint8_t *)p->token, (size_t)n, p->job.digest);
		rc = conn_hsm_submit(c, &p->job, login_resume);
		if (rc == IG_OK)
			return IG_OK;
		p->tried |= 1u << dev;
	}
	/* Nothing is signing this token: never let a caller mistake the
	 * job for a finished one. */
	p->job.status = IG_EBLOCKED;
	return rc == IG_EBLOCKED ? IG_EBLOCKED : IG_ECLOSED;
}

static void login_error(struct conn *c, struct request *r, const char *err,
			const char *why)
{
	resp_error(c, EP_TOKEN, r->start_ns, 400, err, why,
		   "Cache-Control: no-store\r\n", r->h.keep_alive);
}

/*
 * What every single-use check of a device's signature passes first, once
 * the signature is verified (so nobody else can spend a citizen's rate):
 * the credential's rate (<what> keeps logins and approvals apart), then
 * the instant single-use records may have been lost from (replay.h).
 * IG_OK to go on; IG_EBLOCKED when the 429 was answered here; IG_EPROTO
 * when the caller must refuse the assertion as possibly used already.
 */
int single_use_gate(struct conn *c, const char *kid, int64_t iat, const char *what,
		    uint64_t start_ns, enum endpoint ep, int keep_alive)
{
	struct worker *w = c->w;
	struct server *srv = w->srv;
	char key[8 + ASSERTION_ID_MAX + 1];
	int n = snprintf(key, sizeof(key), "%s%s", what, kid);
	int64_t lost = replay_lost_at(srv->replay);

	if (!credrate_take(srv->credrate, key, (size_t)n, w->now_ns / 1000000,
			   atomic_load(&srv->replay_tight))) {
		M_INC(w->m.credential_limited);
		resp_error(c, ep, start_ns, 429, "slow_down",
			   "too many requests with this device credential", "Retry-After: 2\r\n",
			   keep_alive);
		return IG_EBLOCKED;
	}
	/* Anything this server may have accepted before it lost records
	 * was issued before <lost> (plus a device clock running ahead). */
	if (lost && iat <= lost + (int64_t)srv->cfg.clock_skew_s)
		return IG_EPROTO;
	return IG_OK;
}

/* RFC 7523 §3 item 7: a device's jti is used once within its validity
 * (its exp, plus the skew a late check tolerates).  replay_check_and_insert's
 * answers: IG_OK the first time, IG_EPROTO a replay, IG_EBLOCKED full. */
int assertion_once(struct server *srv, const struct assertion *a, int64_t now)
{
	char id[ASSERTION_ID_MAX * 2 + 2];
	int n = snprintf(id, sizeof(id), "%s %s", a->kid, a->jti);

	return replay_check_and_insert(srv->replay, id, (size_t)n,
				       a->exp + srv->cfg.clock_skew_s, now);
}

static void login(struct conn *c, struct request *r)
{
	struct worker *w = c->w;
	struct server *srv = w->srv;
	const struct config *cfg = &srv->cfg;
	struct pending *p = c->pend;
	struct login_form f = { 0 };
	struct assertion a;
	struct store_cred cred;
	struct assertion_policy pol;
	uint8_t rnd[16];
	const char *why = NULL;
	int rc;

	if (!http_str_ieq(r->h.content_type, "application/x-www-form-urlencoded")) {
		resp_error(c, EP_TOKEN, r->start_ns, 415, "invalid_request",
			   "Content-Type must be application/x-www-form-urlencoded",
			   NULL, r->h.keep_alive);
		return;
	}
	if (http_parse_form(r->body, r->body_len, w->scratch, on_form, &f, &why) < 0)
		return login_error(c, r, "invalid_request", why);
	if (!f.grant_type.p)
		return login_error(c, r, "invalid_request", "missing grant_type");
	if (!http_str_eq(f.grant_type, JWT_BEARER))
		return login_error(c, r, "unsupported_grant_type",
				   "grant_type must be " JWT_BEARER);
	if (!f.assertion.p || !f.assertion.len)
		return login_error(c, r, "invalid_request", "missing assertion");
	if (f.client_id.p && !client_id_ok(f.client_id))
		return login_error(c, r, "invalid_request",
				   "client_id must be 1-128 printable characters");
	if (f.assertion.len > ASSERTION_MAX_LEN)
		return login_error(c, r, "invalid_grant", "assertion too long");

	/* RFC 7523 §3: every claim checked, then the signature. */
	if (assertion_parse(f.assertion.p, f.assertion.len, &a, &why) < 0)
		return login_error(c, r, "invalid_grant", why);
	if (store_reader_get_cred(w->reader, a.kid, strlen(a.kid), &cred, &why) < 0)
		return login_error(c, r, "invalid_grant", "unknown credential");
	if (cred.revoked)
		return login_error(c, r, "invalid_grant", "credential revoked");
	pol.audience = cfg->token_endpoint;
	pol.now = w->now_s;
	pol.max_lifetime = cfg->assertion_max_lifetime_s;
	pol.skew = cfg->clock_skew_s;
	if (assertion_verify(&a, &cred.device_key, &pol, &why) < 0)
		return login_error(c, r, "invalid_grant", why);
	/* No HSM up: answer before the jti or the device's rate is spent, so the same assertion
	 * can be sent again after Retry-After. */
	if (hsm_choose(srv->hsm, HSM_KEY_ISSUER, 0, w->now_s, NULL) < 0) {
		M_INC(w->m.shed_hsm_queue);
		resp_error(c, EP_TOKEN, r->start_ns, 503, "temporarily_unavailable",
			   "no HSM available", "Retry-After: 1\r\n", r->h.keep_alive);
		return;
	}
	if ((rc = single_use_gate(c, a.kid, a.iat, "login ", r->start_ns, EP_TOKEN,
				  r->h.keep_alive)) < 0)
		return rc == IG_EPROTO ? login_error(c, r, "invalid_grant", "assertion issued "
			"before this server's single-use records were lost (a machine restart): "
			"make a new one") : (void)0;
	rc = assertion_once(srv, &a, w->now_s);
	if (rc == IG_EPROTO)
		return login_error(c, r, "invalid_grant", "assertion replayed: jti already used");
	if (rc < 0) {
		M_INC(w->m.shed_hsm_queue);
		resp_error(c, EP_TOKEN, r->start_ns, 503, "temporarily_unavailable",
			   "replay cache full, retry with a new assertion", "Retry-After: 1\r\n",
			   r->h.keep_alive);
		return;
	}

	if (f.client_id.p) {
		memcpy(p->client_id, f.client_id.p, f.client_id.len);
		p->client_id[f.client_id.len] = 0;
		pairwise_sub(srv, cred.citizen_id, p->client_id, f.client_id.len, p->sub);
	} else {
		p->client_id[0] = 0;
		pairwise_sub(srv, cred.citizen_id, cfg->issuer, strlen(cfg->issuer), p->sub);
	}
	if (ig_random(rnd, sizeof(rnd)) != IG_OK) {
		resp_error(c, EP_TOKEN, r->start_ns, 500, "server_error",
			   "no random numbers for the token id", NULL, r->h.keep_alive);
		return;
	}
	b64url_encode(rnd, sizeof(rnd), p->jti);
	if (csc_cit_claim(w, cred.citizen_id, p->cit) < 0)
		p->cit[0] = '\0'; /* the token still logs in; CSC refuses it */
	p->iat = w->now_s;
	p->exp = w->now_s + cfg->token_lifetime_s;
	p->ep = EP_TOKEN;
	p->start_ns = r->start_ns;
	p->keep_alive = (uint8_t)r->h.keep_alive;
	p->expires_in = cfg->token_lifetime_s;
	p->tried = 0;
	rc = login_submit(c);
	if (rc < 0) {
		/* Shed at once rather than queue without bound. */
		M_INC(w->m.shed_hsm_queue);
		resp_error(c, EP_TOKEN, r->start_ns, 503, "temporarily_unavailable",
			   rc == IG_EBLOCKED ? "signing queue full: retry with a new assertion"
					     : "no HSM available: retry with a new assertion",
			   "Retry-After: 1\r\n", r->h.keep_alive);
		return;
	}
}

static void login_finish(struct conn *c)
{
	struct pending *p = c->pend;
	char body[sizeof(p->token) + 100];
	int len, n;

	if (p->job.status == IG_EBLOCKED) {
		/* That HSM failed or missed its deadline: the token is signed
		 * again, with another HSM's key (a signature is safe to redo). */
		p->tried |= 1u << p->job.dev;
		if (login_submit(c) == IG_OK)
			return;
		p->job.status = IG_EBLOCKED;
	}
	if (p->job.status != IG_OK) {
		M_INC(c->w->m.shed_hsm_queue);
		resp_error(c, p->ep, p->start_ns, 503, "temporarily_unavailable",
			   "no HSM could sign: retry with a new assertion", "Retry-After: 1\r\n",
			   p->keep_alive);
		return;
	}
	len = access_token_finish(p->token, p->len, sizeof(p->token), p->job.sig);
	if (len < 0) {
		resp_error(c, p->ep, p->start_ns, 500, "server_error",
			   "access token too large", NULL, p->keep_alive);
		return;
	}
	n = snprintf(body, sizeof(body),
		     "{\"access_token\":\"%.*s\",\"token_type\":\"Bearer\",\"expires_in\":%u}",
		     len, p->token, p->expires_in);
	/* RFC 6749 §5.1: tokens must not be cached. */
	resp_send(c, p->ep, p->start_ns, 200, "application/json",
		  "Cache-Control: no-store\r\nPragma: no-cache\r\n", body, (size_t)n,
		  p->keep_alive);
}

/* The HSM signed (or failed to sign) a login's token: answer it, unless
 * the client left (a token nobody can receive is dropped). */
static void login_resume(struct conn *c, int alive)
{
	if (!alive)
		return;
	login_finish(c); /* may have gone to another HSM: waiting again */
	conn_answered(c);
}

/* ---- admin ------------------------------------------------------------- */

/*
 * The audit record of an admin action on a citizen's credential: actor
 * "admin", the credential id as key, the citizen's pseudonym (the one of
 * signHash records: pairwise_sub's "\001csc" sector) in the detail, never
 * the id itself.  With <durable>, waits until every record queued so far
 * is on disk: the admin worker may (it is the one that already waits for
 * LMDB's commits and fsyncs; no dataplane worker runs this).  A full queue
 * is waited out rather than refused.
 */
int admin_audit(struct server *srv, const char *action, const char *citizen,
		const char *cred, int durable)
{
	char pseudonym[44], detail[64];
	struct audit_event ev = {
		.actor = "admin", .action = action, .key = cred, .result = "ok",
		.detail = detail,
	};
	int rc;

	if (!srv->audit)
		return IG_ECLOSED;
	pairwise_sub(srv, citizen, "\001csc", 4, pseudonym);
	snprintf(detail, sizeof(detail), "citizen:%s", pseudonym);
	rc = audit_append(srv->audit, &ev);
	if (rc == IG_EBLOCKED)
		rc = audit_append_sync(srv->audit, &ev, NULL);
	if (rc == IG_OK && durable)
		rc = audit_flush(srv->audit);
	if (rc < 0)
		log_err("audit log: cannot record %s of %s: %s", action, cred, ig_strerror(rc));
	return rc;
}

/* The store changed but its audit record is not durable: say so. */
static void admin_unaudited(struct conn *c, struct request *r, enum endpoint ep,
			    const char *desc)
{
	resp_error(c, ep, r->start_ns, 500, "server_error", desc, NULL, r->h.keep_alive);
}

/* Constant-time comparison of the presented admin token. */
static int admin_authorized(const struct server *srv, const struct http_request *h)
{
	struct http_str tok;
	unsigned char diff = 0;

	if (!http_bearer(h->authorization, &tok) || tok.len != srv->admin_token_len)
		return 0;
	for (size_t i = 0; i < srv->admin_token_len; i++)
		diff |= (unsigned char)(tok.p[i] ^ srv->admin_token[i]);
	return diff == 0;
}

/* Parse one enrolment item {"citizen_id": .., "device_jwk": {..}}. */
static int enrol_item(json_t *o, struct store_enrol *it, const char **why)
{
	const char *key;
	json_t *v, *cid = NULL, *jwk = NULL;
	char *text;
	int rc;

	if (!json_is_object(o)) {
		*why = "each enrolment must be a JSON object";
		return IG_EPROTO;
	}
	json_object_foreach(o, key, v) {
		if (!strcmp(key, "citizen_id"))
			cid = v;
		else if (!strcmp(key, "device_jwk"))
			jwk = v;
		else {
			*why = "unknown member in enrolment (allowed: citizen_id, device_jwk)";
			return IG_EPROTO;
		}
	}
	if (!json_is_string(cid)) {
		*why = "citizen_id must be a string";
		return IG_EPROTO;
	}
	if (!json_is_object(jwk)) {
		*why = "device_jwk must be a JSON object";
		return IG_EPROTO;
	}
	text = json_dumps(jwk, JSON_COMPACT);
	if (!text) {
		*why = "out of memory";
		return IG_ENOMEM;
	}
	rc = jwk_parse_p256(text, strlen(text), &it->key, why);
	free(text);
	if (rc < 0)
		return rc;
	it->citizen_id = json_string_value(cid);
	return IG_OK;
}

/* <s> as a JSON string into <b>. */
static int put_json_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	IG_GUARD(buf_reserve(b, JSON_ESC_MAX * n + 2, 1u << 30));
	b->data[b->len++] = '"';
	b->len += json_escape(b->data + b->len, s, n);
	b->data[b->len++] = '"';
	return IG_OK;
}

static void enrol(struct conn *c, struct request *r)
{
	struct worker *w = c->w;
	struct store_enrol *items = NULL;
	json_t *doc = NULL, **docs = NULL;
	json_error_t jerr;
	size_t n = 0;
	int bulk = 0, ndjson;
	const char *why = NULL;
	struct buf out = { 0 };
	int rc;

	ndjson = http_str_ieq(r->h.content_type, "application/x-ndjson") ||
		 http_str_ieq(r->h.content_type, "application/jsonl");
	if (!ndjson && !http_str_ieq(r->h.content_type, "application/json")) {
		resp_error(c, EP_ENROL, r->start_ns, 415, "invalid_request",
			   "Content-Type must be application/json or application/x-ndjson",
			   NULL, r->h.keep_alive);
		return;
	}
	if (ndjson) {
		/* JSON lines: one enrolment object per line. */
		size_t cap = 0, off = 0;

		bulk = 1;
		while (off < r->body_len) {
			const char *nl = memchr(r->body + off, '\n', r->body_len - off);
			size_t len = nl ? (size_t)(nl - (r->body + off)) : r->body_len - off;

			if (len && !(len == 1 && r->body[off] == '\r')) {
				if (n == BULK_MAX) {
					why = "too many enrolments in one request (at most 100000)";
					goto bad;
				}
				if (n == cap) {
					cap = cap ? cap * 2 : 256;
					json_t **d = realloc(docs, cap * sizeof(*docs));
					if (!d)
						goto oom;
					docs = d;
				}
				docs[n] = json_loadb(r->body + off, len, JSON_REJECT_DUPLICATES, &jerr);
				if (!docs[n]) {
					why = "a line is not valid JSON";
					goto bad;
				}
				n++;
			}
			off += len + 1;
		}
	} else {
		doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc) {
			why = "body is not valid JSON";
			goto bad;
		}
		if (json_is_array(doc)) {
			bulk = 1;
			n = json_array_size(doc);
			if (n > BULK_MAX) {
				why = "too many enrolments in one request (at most 100000)";
				goto bad;
			}
		} else {
			n = 1;
		}
	}
	if (n == 0) {
		why = "no enrolment in the request";
		goto bad;
	}
	items = calloc(n, sizeof(*items));
	if (!items)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		json_t *o = ndjson ? docs[i] : bulk ? json_array_get(doc, i) : doc;

		items[i].result = enrol_item(o, &items[i], &items[i].why);
		if (!bulk && items[i].result < 0) {
			why = items[i].why;
			goto bad;
		}
	}
	rc = store_enrol(w->srv->store, items, n, w->now_s);
	if (rc < 0) {
		log_err("enrolment commit failed: %s", ig_strerror(rc));
		resp_error(c, EP_ENROL, r->start_ns, 500, "server_error",
			   "the store could not commit the enrolment", NULL, r->h.keep_alive);
		goto done;
	}
	/* One record per enrolled credential, so each credential's
	 * enrolment is found by its id; durable before the answer. */
	rc = IG_OK;
	for (size_t i = 0; i < n && rc == IG_OK; i++)
		if (items[i].result >= 0)
			rc = admin_audit(w->srv, "device.enrol", items[i].citizen_id,
					 items[i].cred_id_out, 0);
	if (rc == IG_OK && w->srv->audit)
		rc = audit_flush(w->srv->audit);
	if (rc < 0) {
		admin_unaudited(c, r, EP_ENROL, "enrolled, but the audit log could not make "
				"the record durable");
		goto done;
	}
	if (!bulk) {
		char body[160];
		int len;

		if (items[0].result < 0) {
			int dup = items[0].why && strstr(items[0].why, "already enrolled");

			resp_error(c, EP_ENROL, r->start_ns, dup ? 409 : 400,
				   "invalid_request", items[0].why, NULL, r->h.keep_alive);
			goto done;
		}
		len = snprintf(body, sizeof(body), "{\"credential_id\":\"%s\"}",
			       items[0].cred_id_out);
		log_info("enrolled credential %s", items[0].cred_id_out);
		resp_send(c, EP_ENROL, r->start_ns, 201, "application/json", NULL, body,
			  (size_t)len, r->h.keep_alive);
		goto done;
	}
	{
		char num[64];
		size_t ok = 0;
		int len;

		for (size_t i = 0; i < n; i++)
			ok += items[i].result >= 0;
		len = snprintf(num, sizeof(num), "{\"enrolled\":%zu,\"failed\":%zu,\"results\":[",
			       ok, n - ok);

		if (buf_append(&out, num, (size_t)len, 1u << 30) < 0)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			const char *sep = i ? "," : "";

			if (items[i].result >= 0) {
				len = snprintf(num, sizeof(num), "%s{\"credential_id\":\"%s\"}", sep,
					       items[i].cred_id_out);
				if (buf_append(&out, num, (size_t)len, 1u << 30) < 0)
					goto oom;
			} else if (buf_append(&out, sep, strlen(sep), 1u << 30) < 0 ||
				   buf_append(&out, "{\"error\":", 9, 1u << 30) < 0 ||
				   put_json_str(&out, items[i].why ? items[i].why : "failed") < 0 ||
				   buf_append(&out, "}", 1, 1u << 30) < 0) {
				goto oom;
			}
		}
		if (buf_append(&out, "]}", 2, 1u << 30) < 0)
			goto oom;
		log_info("bulk enrolment: %zu enrolled, %zu failed", ok, n - ok);
		resp_send(c, EP_ENROL, r->start_ns, 200, "application/json", NULL, out.data,
			  out.len, r->h.keep_alive);
	}
	goto done;
oom:
	why = "out of memory";
	resp_error(c, EP_ENROL, r->start_ns, 500, "server_error", why, NULL, r->h.keep_alive);
	goto done;
bad:
	resp_error(c, EP_ENROL, r->start_ns, 400, "invalid_request", why, NULL,
		   r->h.keep_alive);
done:
	for (size_t i = 0; docs && i < n; i++)
		json_decref(docs[i]);
	free(docs);
	json_decref(doc);
	free(items);
	buf_free(&out);
}

static void revoke(struct conn *c, struct request *r)
{
	struct http_str id = r->param;

	const char *why = NULL;
	struct store_cred cred;

	if (store_reader_get_cred(c->w->reader, id.p, id.len, &cred, &why) < 0 ||
	    store_revoke(c->w->srv->store, id.p, id.len, c->w->now_s, &why) < 0) {
		resp_error(c, EP_REVOKE, r->start_ns, 404, "not_found",
			   why ? why : "unknown credential", NULL, r->h.keep_alive);
		return;
	}
	log_info("revoked credential %s", cred.cred_id);
	if (admin_audit(c->w->srv, "device.revoke", cred.citizen_id, cred.cred_id, 1) < 0)
		return admin_unaudited(c, r, EP_REVOKE, "revoked, but the audit log could not "
				       "make the record durable");
	resp_send(c, EP_REVOKE, r->start_ns, 204, NULL, NULL, "", 0, r->h.keep_alive);
}

/* ---- routing ----------------------------------------------------------- */

static void serve_json(struct conn *c, struct request *r, const char *body, const char *extra)
{
	resp_send(c, r->ep, r->start_ns, 200, "application/json", extra, body, strlen(body),
		  r->h.keep_alive);
}

static void jwks(struct conn *c, struct request *r)
{
	struct server *srv = c->w->srv;

	serve_json(c, r, atomic_load(&srv->jwks), srv->jwks_cache_control);
}

static void discovery(struct conn *c, struct request *r)
{
	serve_json(c, r, c->w->srv->discovery, "Cache-Control: public, max-age=3600\r\n");
}

/*
 * GET /v1/admin/hsm: each HSM's health and keys as this server sees them,
 * for operators and `idgate-keys status`.  Admin worker only.
 */
static void hsm_status(struct conn *c, struct request *r)
{
	struct server *srv = c->w->srv;
	json_t *root = json_object(), *list = json_array();
	char *body = NULL, err[200];

	for (unsigned d = 0; root && list && d < hsm_ndevices(srv->hsm); d++) {
		const struct hsm_issuer *ks[HSM_MAX_KEYS];
		struct hsm_device_stats st;
		json_t *keys = json_array(), *res = json_object();
		size_t nk = hsm_device_keys(srv->hsm, d, ks, HSM_MAX_KEYS);

		hsm_get_device_stats(srv->hsm, d, &st);
		hsm_device_key_error(srv->hsm, d, err, sizeof(err));
		for (size_t i = 0; i < nk; i++) {
			char hex[2 * KEYRING_ID_MAX + 1];

			keyring_id_hex(ks[i]->ent.id, ks[i]->ent.id_len, hex);
			json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}",
				"kid", ks[i]->kid, "id", hex, "label", ks[i]->ent.label,
				"state", keyring_state_names[keyring_state(&ks[i]->ent,
									   c->w->now_s)]));
		}
		for (unsigned k = 0; k < HSM_R_COUNT; k++)
			json_object_set_new(res, hsm_result_names[k],
					    json_integer((json_int_t)st.results[k]));
		json_array_append_new(list, json_pack("{s:s, s:b, s:I, s:I, s:I, s:o, s:o, s:s}",
			"name", hsm_device_name(srv->hsm, d), "ready", st.ready,
			"outstanding", (json_int_t)st.outstanding,
			"queue_depth", (json_int_t)st.queue_depth,
			"transitions", (json_int_t)st.transitions, "results", res,
			"keys", keys, "key_error", err));
	}
	if (root && list) {
		json_object_set_new(root, "ready", json_boolean(hsm_ready(srv->hsm)));
		json_object_set_new(root, "hsms", list);
		list = NULL;
		body = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
	}
	json_decref(list);
	json_decref(root);
	if (!body)
		return resp_error(c, EP_HSM_STATUS, r->start_ns, 500, "server_error",
				  "out of memory", NULL, r->h.keep_alive);
	resp_send(c, EP_HSM_STATUS, r->start_ns, 200, "application/json", NULL, body,
		  strlen(body), r->h.keep_alive);
	free(body);
}

static void healthz(struct conn *c, struct request *r)
{
	resp_send(c, EP_HEALTHZ, r->start_ns, 200, "text/plain", NULL, "ok\n", 3,
		  r->h.keep_alive);
}

static void readyz(struct conn *c, struct request *r)
{
	struct server *srv = c->w->srv;
	const char *why = "ready\n";
	int ready = 0;

	if (!hsm_ready(srv->hsm))
		why = "not ready: no HSM answers\n";
	else if (atomic_load(&srv->replay_live) >= replay_slots(srv->replay) / 10 * 9)
		why = "not ready: the replay cache is 90% full\n";
	else
		ready = 1;
	resp_send(c, EP_READYZ, r->start_ns, ready ? 200 : 503, "text/plain", NULL, why,
		  strlen(why), r->h.keep_alive);
}

static void metrics(struct conn *c, struct request *r)
{
	struct buf out = { 0 };

	if (metrics_render(c->w->srv, &out) < 0)
		resp_error(c, EP_METRICS, r->start_ns, 500, "server_error", "out of memory", NULL,
			   r->h.keep_alive);
	else
		resp_send(c, EP_METRICS, r->start_ns, 200, "text/plain; version=0.0.4", NULL,
			  out.data, out.len, r->h.keep_alive);
	buf_free(&out);
}

/* The TLS listener: citizens' apps and relying services. */
static const struct route public_rows[] = {
	{ "POST", "/oauth2/token", EP_TOKEN, login, NULL },
	{ "GET", "/.well-known/jwks.json", EP_JWKS, jwks, NULL },
	{ "GET", "/.well-known/openid-configuration", EP_DISCOVERY, discovery, NULL },
};
static const struct route_table public_routes[] = { ROUTE_TABLE(public_rows) };

/* The admin listener: every route but health and readiness needs the admin
 * token, checked on the head (handle_head) before anything else. */
static const struct route admin_rows[] = {
	{ "GET", "/healthz", EP_HEALTHZ, healthz, NULL },
	{ "GET", "/readyz", EP_READYZ, readyz, NULL },
	{ "GET", "/metrics", EP_METRICS, metrics, NULL },
	{ "GET", "/v1/admin/hsm", EP_HSM_STATUS, hsm_status, NULL },
	{ "POST", "/v1/admin/citizens", EP_ENROL, enrol, NULL },
	{ "DELETE", "/v1/admin/credentials/*", EP_REVOKE, revoke, NULL },
};
static const struct route_table admin_routes[] = { ROUTE_TABLE(admin_rows) };

/* Every request's head, before any of its body is buffered: on the admin
 * listener, health and readiness take no body and everything else needs
 * the token, so a client without it never makes the listener hold a bulk
 * body (up to admin_max_body).  Refusals close the connection (after a
 * short linger that discards input).  Returns 0 to go on, -1 if answered. */
int handle_head(struct conn *c, struct request *r)
{
	struct http_str path = r->h.path;

	if (!c->w->admin)
		return 0;
	if (http_str_eq(path, "/healthz") || http_str_eq(path, "/readyz")) {
		if (r->h.content_length == 0)
			return 0;
		resp_error(c, EP_OTHER, r->start_ns, 400, "invalid_request",
			   "health and readiness requests take no body", NULL, 0);
		return -1;
	}
	if (admin_authorized(c->w->srv, &r->h))
		return 0;
	resp_error(c, EP_OTHER, r->start_ns, 401, "invalid_token",
		   "the admin token is missing or wrong",
		   "WWW-Authenticate: Bearer realm=\"idgate-admin\"\r\n", 0);
	return -1;
}

void handle_request(struct conn *c, struct request *r)
{
	if (c->w->admin) {
		const struct route_table t[] = { admin_routes[0], csc_admin_routes };

		route_request(t, 2, c, r);
	} else {
		const struct route_table t[] = { public_routes[0], csc_routes };

		route_request(t, 2, c, r);
	}
}
