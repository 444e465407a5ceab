/*
 * idgate-keys - the security officers' tool for the keys inside the HSMs.
 *
 * It reads the same configuration as idgated (the pool of HSMs, PIN
 * sources, the state dir) and works with any PKCS#11 module.  Every action
 * that touches an HSM is written to the tamper-evident key-management
 * audit log (audit.keys_log) before the tool reports success; the log's
 * exclusive lock also keeps two officers' runs from interleaving.  Key
 * lifecycle changes are written to each token's keyring (../keyring.h),
 * which every idgated using the HSM reads (hsm.key_check_s, or SIGHUP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../common/http.h"
#include "../../common/rand.h"
#include "../../common/config.h"
#include "../approval.h"
#include "../audit.h"
#include "../x509.h"
#include "token.h"

#define KT_MAX_APPROVALS 8

struct kt {
	struct config cfg;
	struct kt_hsm hsm[1 + CONFIG_MAX_HSMS];
	unsigned nhsm;
	const char *only;          /* --hsm NAME */
	const char *officer;       /* --officer NAME */
	char actor[96];
	bool prompt, json, immediate, force;
	const char *purpose, *alg, *label, *format, *subject, *officer_key;
	const char *log_path;
	const char *approvals[KT_MAX_APPROVALS];
	unsigned napprovals;
	unsigned ttl_s, days;
	struct audit_log *audit;
	int64_t now;
	struct kt_key *keys;       /* scratch for listings */
};

static void usage(FILE *out)
{
	fputs(
"usage: idgate-keys [--config FILE] [--state DIR] [--set section.name=value]...\n"
"                   [--hsm NAME] [--officer NAME] [--pin-prompt] [--json] COMMAND\n"
"\n"
"Commands (KEY is a kid, a CKA_ID in hex, or a label):\n"
"  list                         keys on each HSM: label, CKA_ID, kid, purpose, algorithm,\n"
"                               state, created, and the flags the HSM reports\n"
"  generate --purpose P [--alg A] [--label L]\n"
"                               P: token-issuer, tls, ca, wrap; A: ec-p256 (default),\n"
"                               ec-p384, rsa-2048, rsa-3072, aes-256 (wrap)\n"
"  rotate [--immediate]         a new token-issuer key on each HSM, in JWKS now and\n"
"                               signing after keys.publish_ahead_s; the active key\n"
"                               retires then and leaves JWKS when its tokens expired\n"
"  retire KEY [--force]         stop using KEY (a token-issuer key stays published\n"
"                               until its tokens expired)\n"
"  destroy KEY --approval FILE... destroy a retired key; needs keys.destroy_approvals\n"
"                               approvals from distinct officers and a typed confirmation\n"
"  approve --officer-key FILE [--ttl S] destroy ID-HEX\n"
"                               sign an approval as --officer for --hsm (prints it)\n"
"  export-public KEY [--format pem|jwk]\n"
"  csr KEY --subject DN         a PKCS#10 request for a tls or ca key, signed in the HSM\n"
"  ca-cert KEY --subject DN [--days N]\n"
"                               the built-in CA's self-signed certificate for a ca key\n"
"                               (idgated reads it from csc.ca_cert)\n"
"  status                       each HSM's health and keys as the running idgated sees them\n"
"  audit verify [--log FILE]    check the whole hash chain of the audit logs\n"
"  audit recover [--log FILE]   reopen a log whose tail is broken (the key-management\n"
"                               log unless --log names another, e.g. idgated's),\n"
"                               keeping its valid prefix (after examining it)\n"
"\n"
"PINs come from each HSM's pin_file (a file, or env:NAME), or from the terminal with\n"
"--pin-prompt (or pin_file = prompt); never from the command line.\n", out);
}

static void kt_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 1) {
		snprintf(out, cap, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- audit ---------------------------------------------------------------- */

static int kt_audit_open(struct kt *t)
{
	const char *why;
	int rc;

	if (t->audit)
		return IG_OK;
	rc = audit_open(&t->audit, t->cfg.audit_keys_log, 64, 0, &why);
	if (rc == IG_EUSAGE && strstr(why, "locked"))
		fprintf(stderr, "idgate-keys: another idgate-keys is running "
			"(the audit log %s is locked)\n", t->cfg.audit_keys_log);
	else if (rc < 0)
		fprintf(stderr, "idgate-keys: audit log %s: %s\n",
			t->cfg.audit_keys_log, why);
	return rc;
}

/* Record one action; nothing is reported done unless it is recorded. */
static int kt_audit(struct kt *t, const char *action, const char *key,
		    const char *result, const char *detail)
{
	struct audit_event ev = {
		.actor = t->actor, .action = action, .key = key,
		.result = result, .detail = detail,
	};

	if (!t->audit || audit_append_sync(t->audit, &ev, NULL) < 0) {
		fprintf(stderr, "idgate-keys: cannot write the audit log %s\n",
			t->cfg.audit_keys_log);
		return IG_EINTERNAL;
	}
	return IG_OK;
}

/* ---- HSMs ----------------------------------------------------------------- */

static void kt_pool(struct kt *t)
{
	const struct config *c = &t->cfg;

	t->hsm[0] = (struct kt_hsm){
		.name = "main", .module = c->hsm_module,
		.token_label = c->hsm_token, .pin_file = c->hsm_pin_file,
		.issuer_key_label = c->hsm_issuer_key, .s = CK_INVALID_HANDLE,
	};
	for (unsigned i = 0; i < c->nhsms; i++)
		t->hsm[i + 1] = (struct kt_hsm){
			.name = c->hsms[i].name, .module = c->hsms[i].module,
			.token_label = c->hsms[i].token,
			.pin_file = c->hsms[i].pin_file,
			.issuer_key_label = c->hsms[i].issuer_key,
			.s = CK_INVALID_HANDLE,
		};
	t->nhsm = 1 + c->nhsms;
}

static bool kt_selected(const struct kt *t, const struct kt_hsm *h)
{
	return !t->only || !strcmp(t->only, h->name);
}

/* Open every selected HSM; the first failure ends the run (recorded). */
static int kt_open_all(struct kt *t)
{
	unsigned n = 0;

	if (t->only) {
		for (unsigned i = 0; i < t->nhsm; i++)
			n += kt_selected(t, &t->hsm[i]);
		if (!n) {
			fprintf(stderr, "idgate-keys: no HSM named '%s' in the configuration "
				"(HSMs:", t->only);
			for (unsigned i = 0; i < t->nhsm; i++)
				fprintf(stderr, " %s", t->hsm[i].name);
			fprintf(stderr, ")\n");
			return IG_EUSAGE;
		}
	}
	for (unsigned i = 0; i < t->nhsm; i++) {
		struct kt_hsm *h = &t->hsm[i];
		const char *why;
		char detail[700];
		CK_RV rv;
		int rc;

		if (!kt_selected(t, h))
			continue;
		rc = kt_open(h, t->prompt, &rv, &why);
		if (rc < 0) {
			fprintf(stderr, "idgate-keys: HSM %s (module %s, token '%s'): %s\n",
				h->name, h->module, h->token_label, why);
			snprintf(detail, sizeof(detail), "%s", why);
			kt_audit(t, "hsm.login", h->name,
				 rv == CKR_PIN_INCORRECT ? "denied" : "error", detail);
			return rc;
		}
	}
	return IG_OK;
}

static void kt_close_all(struct kt *t)
{
	for (unsigned i = 0; i < t->nhsm; i++)
		kt_close(&t->hsm[i]);
}

/* The one key that <ref> names (kid, CKA_ID hex or label) on the selected
 * HSMs; <*h> and <*k> point at it (k in t->keys). */
static int kt_resolve(struct kt *t, const char *ref, struct kt_hsm **hout,
		      struct kt_key *kout)
{
	unsigned found = 0;
	char where[300] = "";

	for (unsigned i = 0; i < t->nhsm; i++) {
		struct kt_hsm *h = &t->hsm[i];
		const char *why;
		size_t n;

		if (!kt_selected(t, h))
			continue;
		if (kt_keys(h, t->keys, KT_MAX_KEYS, &n, &why) < 0) {
			fprintf(stderr, "idgate-keys: HSM %s: %s\n", h->name, why);
			return IG_EINTERNAL;
		}
		for (size_t j = 0; j < n; j++) {
			struct kt_key *k = &t->keys[j];

			if (strcmp(ref, k->kid) && strcmp(ref, k->id_hex) &&
			    strcmp(ref, k->label))
				continue;
			if (!found++) {
				*hout = h;
				*kout = *k;
			}
			snprintf(where + strlen(where), sizeof(where) - strlen(where),
				 "%s%s/%s", strlen(where) ? ", " : "", h->name, k->id_hex);
		}
	}
	if (found == 1)
		return IG_OK;
	if (!found)
		fprintf(stderr, "idgate-keys: no key '%s' on %s (see idgate-keys list)\n",
			ref, t->only ? t->only : "any HSM of the pool");
	else
		fprintf(stderr, "idgate-keys: '%s' names %u keys (%s): name one by kid or "
			"CKA_ID, or give --hsm\n", ref, found, where);
	return IG_EUSAGE;
}

/* ---- list ------------------------------------------------------------------ */

static const char *kt_flag(int v)
{
	return v < 0 ? "?" : v ? "yes" : "no";
}

static const char *kt_state(const struct kt *t, const struct kt_key *k)
{
	return k->ent ? keyring_state_names[keyring_state(k->ent, t->now)]
		      : "untracked";
}

static int cmd_list(struct kt *t)
{
	json_t *all = json_array();

	if (!t->json)
		printf("%-8s %-28s %-32s %-43s %-12s %-8s %-9s %-20s %-9s %-11s %s\n",
		       "HSM", "LABEL", "ID", "KID", "PURPOSE", "ALG", "STATE",
		       "CREATED", "SENSITIVE", "EXTRACTABLE", "PRIVATE");
	for (unsigned i = 0; i < t->nhsm; i++) {
		struct kt_hsm *h = &t->hsm[i];
		const char *why;
		size_t n;

		if (!kt_selected(t, h))
			continue;
		if (kt_keys(h, t->keys, KT_MAX_KEYS, &n, &why) < 0) {
			fprintf(stderr, "idgate-keys: HSM %s: %s\n", h->name, why);
			json_decref(all);
			return IG_EINTERNAL;
		}
		for (size_t j = 0; j < n; j++) {
			const struct kt_key *k = &t->keys[j];
			const char *purpose = k->ent ? keyring_purpose_names[k->ent->purpose] : "-";
			char created[32];

			kt_time(k->ent ? k->ent->created : 0, created, sizeof(created));
			if (t->json) {
				json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b}",
					"hsm", h->name, "label", k->label, "id", k->id_hex,
					"kid", k->kid, "purpose", purpose, "alg", k->alg,
					"state", kt_state(t, k), "created", created,
					"sensitive", k->sensitive > 0,
					"extractable", k->extractable > 0,
					"private", k->priv > 0);

				if (k->ent) {
					json_object_set_new(o, "publish", json_integer(k->ent->publish));
					json_object_set_new(o, "activate", json_integer(k->ent->activate));
					json_object_set_new(o, "retire", json_integer(k->ent->retire));
					json_object_set_new(o, "unpublish", json_integer(k->ent->unpublish));
				}
				json_array_append_new(all, o);
				continue;
			}
			printf("%-8s %-28s %-32s %-43s %-12s %-8s %-9s %-20s %-9s %-11s %s\n",
			       h->name, k->label, k->id_hex, k->kid[0] ? k->kid : "-",
			       purpose, k->alg, kt_state(t, k), created,
			       kt_flag(k->sensitive), kt_flag(k->extractable),
			       kt_flag(k->priv));
		}
	}
	if (t->json) {
		char *s = json_dumps(all, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

		puts(s ? s : "[]");
		free(s);
	}
	json_decref(all);
	return kt_audit(t, "key.list", t->only ? t->only : "", "ok", "");
}

/* ---- generate and rotate ------------------------------------------------------ */

static const char *kt_alg_name(const char *arg)
{
	static const char *const map[][2] = {
		{ "ec-p256", "EC P-256" }, { "ec-p384", "EC P-384" },
		{ "rsa-2048", "RSA-2048" }, { "rsa-3072", "RSA-3072" },
		{ "aes-256", "AES-256" },
	};

	for (size_t i = 0; i < IG_ARRAY_LEN(map); i++)
		if (!strcmp(arg, map[i][0]))
			return map[i][1];
	return NULL;
}

/* Generate a key of <purpose> on <h> and enter it in the keyring (the
 * caller saves it).  <*out> points at its entry. */
static int kt_new_key(struct kt *t, struct kt_hsm *h, enum keyring_purpose purpose,
		      const char *alg, const char *label,
		      struct keyring_entry **out)
{
	struct keyring_entry *e;
	char deflabel[KEYRING_LABEL_MAX + 1], when[32], detail[300];
	uint8_t id[16];
	const char *why;
	struct tm tm;
	time_t now = (time_t)t->now;

	if (h->kr.n == KEYRING_MAX) {
		fprintf(stderr, "idgate-keys: HSM %s: the keyring holds %u keys already: "
			"destroy retired ones first\n", h->name, KEYRING_MAX);
		return IG_EUSAGE;
	}
	if (ig_random(id, sizeof(id)) != IG_OK) {
		fprintf(stderr, "idgate-keys: no random bytes from the kernel\n");
		return IG_EINTERNAL;
	}
	if (!label) {
		gmtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(deflabel, sizeof(deflabel), "idgate-%s-%s",
			 keyring_purpose_names[purpose], when);
		label = deflabel;
	}
	if (kt_generate(h, alg, label, id, &why) < 0) {
		fprintf(stderr, "idgate-keys: HSM %s: %s\n", h->name, why);
		snprintf(detail, sizeof(detail), "%s %s %s: %s", keyring_purpose_names[purpose],
			 alg, label, why);
		kt_audit(t, "key.generate", h->name, "error", detail);
		return IG_EINTERNAL;
	}
	e = &h->kr.e[h->kr.n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, sizeof(id));
	e->id_len = sizeof(id);
	snprintf(e->label, sizeof(e->label), "%s", label);
	snprintf(e->alg, sizeof(e->alg), "%s", alg);
	e->purpose = (uint8_t)purpose;
	e->created = t->now;
	/* An issuer key is published as "next"; rotate schedules it.  Other
	 * keys serve from now. */
	e->publish = t->now;
	if (purpose != KR_TOKEN_ISSUER)
		e->activate = t->now;
	*out = e;
	return IG_OK;
}

static int kt_save(struct kt *t, struct kt_hsm *h, const char *action,
		   const char *key, const char *detail)
{
	const char *why;
	char msg[700];

	if (kt_keyring_save(h, &why) < 0) {
		fprintf(stderr, "idgate-keys: HSM %s: saving the keyring: %s\n", h->name, why);
		snprintf(msg, sizeof(msg), "%s; keyring not saved: %s", detail, why);
		kt_audit(t, action, key, "error", msg);
		return IG_EINTERNAL;
	}
	return kt_audit(t, action, key, "ok", detail);
}

static int cmd_generate(struct kt *t)
{
	int purpose = keyring_purpose_parse(t->purpose);
	const char *alg;

	if (purpose < 0) {
		fprintf(stderr, "idgate-keys: generate needs --purpose token-issuer, tls, ca "
			"or wrap\n");
		return IG_EUSAGE;
	}
	alg = kt_alg_name(t->alg ? t->alg : purpose == KR_WRAP ? "aes-256" : "ec-p256");
	if (!alg) {
		fprintf(stderr, "idgate-keys: unknown --alg '%s' (ec-p256, ec-p384, rsa-2048, "
			"rsa-3072, aes-256)\n", t->alg);
		return IG_EUSAGE;
	}
	if ((purpose == KR_WRAP) != !strcmp(alg, "AES-256")) {
		fprintf(stderr, "idgate-keys: a wrap key is AES-256, and AES-256 is only for "
			"wrap keys\n");
		return IG_EUSAGE;
	}
	if (purpose == KR_TOKEN_ISSUER && strcmp(alg, "EC P-256")) {
		fprintf(stderr, "idgate-keys: token-issuer keys are EC P-256 (ES256 tokens)\n");
		return IG_EUSAGE;
	}
	if (t->label && (!*t->label || strlen(t->label) > KEYRING_LABEL_MAX)) {
		fprintf(stderr, "idgate-keys: --label must be 1 to 64 bytes\n");
		return IG_EUSAGE;
	}
	for (unsigned i = 0; i < t->nhsm; i++) {
		struct kt_hsm *h = &t->hsm[i];
		struct keyring_entry *e;
		char hex[2 * KEYRING_ID_MAX + 1], detail[200];

		if (!kt_selected(t, h))
			continue;
		IG_GUARD(kt_new_key(t, h, (enum keyring_purpose)purpose, alg, t->label, &e));
		keyring_id_hex(e->id, e->id_len, hex);
		snprintf(detail, sizeof(detail), "%s %s label %s", t->purpose, alg, e->label);
		IG_GUARD(kt_save(t, h, "key.generate", hex, detail));
		printf("HSM %s: generated %s key %s (%s, id %s)%s\n", h->name, t->purpose,
		       e->label, alg, hex, purpose == KR_TOKEN_ISSUER
		       ? ": published as next; `idgate-keys rotate` makes it sign" : "");
	}
	return IG_OK;
}

static int cmd_rotate(struct kt *t)
{
	const struct config *c = &t->cfg;
	/* idgated reads the keyring every key_check_s, publishes the JWKS
	 * within a second, and relying services may cache it max-age. */
	unsigned need = c->hsm_key_check_s + 1 + c->jwks_max_age_s;

	if (!t->immediate && c->keys_publish_ahead_s < need) {
		fprintf(stderr, "idgate-keys: keys.publish_ahead_s (%u s) must be at least "
			"hsm.key_check_s + 1 + login.jwks_max_age_s (%u s): relying services "
			"would meet the new kid before their cached JWKS has it (or use "
			"--immediate, for a compromised key)\n", c->keys_publish_ahead_s, need);
		return IG_EUSAGE;
	}
	for (unsigned i = 0; i < t->nhsm; i++) {
		struct kt_hsm *h = &t->hsm[i];
		struct keyring_entry *next = NULL;
		char hex[2 * KEYRING_ID_MAX + 1], at_s[32], gone_s[32], detail[600];
		int64_t at, gone;
		unsigned retiring = 0;

		if (!kt_selected(t, h))
			continue;
		for (unsigned j = 0; j < h->kr.n; j++) {
			struct keyring_entry *e = &h->kr.e[j];

			if (e->purpose != KR_TOKEN_ISSUER)
				continue;
			if (e->activate > t->now) {
				kt_time(e->activate, at_s, sizeof(at_s));
				fprintf(stderr, "idgate-keys: HSM %s: a rotation is already "
					"scheduled: %s signs from %s\n", h->name, e->label, at_s);
				kt_audit(t, "key.rotate", h->name, "denied",
					 "a rotation is already scheduled");
				return IG_EUSAGE;
			}
			if (keyring_state(e, t->now) == KR_NEXT && !e->activate && !next)
				next = e;
		}
		if (!next)
			IG_GUARD(kt_new_key(t, h, KR_TOKEN_ISSUER, "EC P-256", t->label, &next));
		at = t->immediate ? t->now : t->now + c->keys_publish_ahead_s;
		if (at < next->publish)
			at = next->publish;
		gone = at + c->token_lifetime_s + c->clock_skew_s;
		for (unsigned j = 0; j < h->kr.n; j++) {
			struct keyring_entry *e = &h->kr.e[j];

			if (e == next || e->purpose != KR_TOKEN_ISSUER ||
			    keyring_state(e, t->now) != KR_ACTIVE || e->retire)
				continue;
			e->retire = at;
			e->unpublish = gone;
			retiring++;
		}
		next->activate = at;
		keyring_id_hex(next->id, next->id_len, hex);
		kt_time(at, at_s, sizeof(at_s));
		kt_time(gone, gone_s, sizeof(gone_s));
		snprintf(detail, sizeof(detail), "new issuer key %s signs from %s; %u key(s) "
			 "retire then, unpublished at %s", next->label, at_s, retiring, gone_s);
		IG_GUARD(kt_save(t, h, "key.rotate", hex, detail));
		printf("HSM %s: %s\n", h->name, detail);
	}
	printf("idgated reads the keyrings every hsm.key_check_s (%u s); SIGHUP reads them "
	       "at once\n", c->hsm_key_check_s);
	return IG_OK;
}

/* ---- retire, destroy, approve ------------------------------------------------- */

static int cmd_retire(struct kt *t, const char *ref)
{
	struct kt_hsm *h;
	struct kt_key k;
	struct keyring_entry *e;
	enum keyring_state st;
	char detail[300], when[32];
	unsigned others = 0;

	IG_GUARD(kt_resolve(t, ref, &h, &k));
	e = k.ent;
	if (!e) {
		fprintf(stderr, "idgate-keys: key %s on HSM %s is not in its keyring (not "
			"managed by idgate-keys): nothing uses it\n", ref, h->name);
		return IG_EUSAGE;
	}
	st = keyring_state(e, t->now);
	if (st == KR_RETIRING || st == KR_RETIRED) {
		fprintf(stderr, "idgate-keys: key %s is already %s\n", ref,
			keyring_state_names[st]);
		return IG_EUSAGE;
	}
	for (unsigned j = 0; j < h->kr.n; j++) {
		const struct keyring_entry *o = &h->kr.e[j];

		if (o != e && o->purpose == KR_TOKEN_ISSUER &&
		    keyring_state(o, t->now) == KR_ACTIVE)
			others++;
	}
	if (e->purpose == KR_TOKEN_ISSUER && st == KR_ACTIVE && !others && !t->force) {
		fprintf(stderr, "idgate-keys: %s is the only key signing tokens on HSM %s: "
			"rotate first, or --force to stop this HSM signing\n", ref, h->name);
		kt_audit(t, "key.retire", k.id_hex, "denied", "the only active issuer key");
		return IG_EUSAGE;
	}
	if (st == KR_NEXT && e->activate > t->now) {
		/* A scheduled rotation is called off: the keys it would have
		 * retired keep signing. */
		for (unsigned j = 0; j < h->kr.n; j++) {
			struct keyring_entry *o = &h->kr.e[j];

			if (o != e && o->retire == e->activate) {
				o->retire = 0;
				o->unpublish = 0;
			}
		}
	}
	if (st == KR_GENERATED)
		e->publish = t->now;
	if (st != KR_ACTIVE)
		e->activate = 0;
	e->retire = t->now;
	/* A wrapping key stays retiring (it still unwraps what it wrapped)
	 * until an officer ends that by hand. */
	e->unpublish = e->purpose == KR_WRAP ? 0 :
		       e->purpose == KR_TOKEN_ISSUER && st == KR_ACTIVE
		       ? t->now + t->cfg.token_lifetime_s + t->cfg.clock_skew_s : t->now;
	kt_time(e->unpublish, when, sizeof(when));
	snprintf(detail, sizeof(detail), "%s %s was %s; retired, unpublished at %s",
		 keyring_purpose_names[e->purpose], e->label, keyring_state_names[st], when);
	IG_GUARD(kt_save(t, h, "key.retire", k.id_hex, detail));
	printf("HSM %s: %s\n", h->name, detail);
	return IG_OK;
}

static char *kt_read_small(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 8192);
	n = buf ? fread(buf, 1, 8191, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

static int cmd_destroy(struct kt *t, const char *ref)
{
	char officers[KT_MAX_APPROVALS][65], detail[600], line[200];
	char *tokens[KT_MAX_APPROVALS] = { 0 };
	const char *why, *keyref;
	struct kt_hsm *h;
	struct kt_key k;
	enum keyring_state st;
	unsigned need = t->cfg.keys_destroy_approvals;
	int rc = IG_EUSAGE;

	IG_GUARD(kt_resolve(t, ref, &h, &k));
	keyref = k.id_len ? k.id_hex : k.label;
	st = k.ent ? keyring_state(k.ent, t->now) : KR_RETIRED;
	if (st != KR_RETIRED) {
		kt_time(k.ent->unpublish, line, sizeof(line));
		fprintf(stderr, "idgate-keys: key %s is %s%s%s: only a retired key can be "
			"destroyed (retire it, then wait until it leaves JWKS)\n", ref,
			keyring_state_names[st], k.ent->unpublish ? ", published until " : "",
			k.ent->unpublish ? line : "");
		snprintf(detail, sizeof(detail), "refused: the key is %s", keyring_state_names[st]);
		kt_audit(t, "key.destroy", keyref, "denied", detail);
		return IG_EUSAGE;
	}
	for (unsigned i = 0; i < t->napprovals; i++) {
		tokens[i] = kt_read_small(t->approvals[i]);
		if (!tokens[i]) {
			fprintf(stderr, "idgate-keys: cannot read approval %s: %s\n",
				t->approvals[i], strerror(errno));
			goto out;
		}
	}
	if (t->napprovals < need) {
		fprintf(stderr, "idgate-keys: destroy needs approvals from %u distinct "
			"officers (--approval FILE, made with idgate-keys approve); %u given\n",
			need, t->napprovals);
		snprintf(detail, sizeof(detail), "refused: %u approval(s), %u needed",
			 t->napprovals, need);
		kt_audit(t, "key.destroy", keyref, "denied", detail);
		goto out;
	}
	if (approval_quorum((const char *const *)tokens, t->napprovals, need,
			    t->cfg.keys_officers_dir, "key.destroy", h->name, keyref,
			    t->now, officers, &why) < 0) {
		fprintf(stderr, "idgate-keys: dual control: %s\n", why);
		snprintf(detail, sizeof(detail), "refused: %s", why);
		kt_audit(t, "key.destroy", keyref, "denied", detail);
		goto out;
	}
	fprintf(stderr, "Destroying key '%s' (%s, id %s) on HSM %s cannot be undone.\n"
		"Type its id to confirm: ", k.label, k.alg, keyref, h->name);
	if (!fgets(line, sizeof(line), stdin) || strcspn(line, "\r\n") != strlen(keyref) ||
	    strncmp(line, keyref, strlen(keyref))) {
		fprintf(stderr, "idgate-keys: not confirmed; nothing destroyed\n");
		kt_audit(t, "key.destroy", keyref, "denied", "not confirmed");
		goto out;
	}
	snprintf(detail, sizeof(detail), "%s %s approved by", k.label, k.alg);
	for (unsigned i = 0; i < need; i++)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), " %s",
			 officers[i]);
	if (kt_destroy(h, &k, &why) < 0) {
		fprintf(stderr, "idgate-keys: HSM %s: %s\n", h->name, why);
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), ": %s", why);
		kt_audit(t, "key.destroy", keyref, "error", detail);
		rc = IG_EINTERNAL;
		goto out;
	}
	if (k.ent) {
		size_t idx = (size_t)(k.ent - h->kr.e);

		memmove(&h->kr.e[idx], &h->kr.e[idx + 1],
			(h->kr.n - idx - 1) * sizeof(h->kr.e[0]));
		h->kr.n--;
		rc = kt_save(t, h, "key.destroy", keyref, detail);
	} else {
		rc = kt_audit(t, "key.destroy", keyref, "ok", detail);
	}
	if (rc == IG_OK)
		printf("HSM %s: destroyed %s (%s)\n", h->name, k.label, keyref);
out:
	for (unsigned i = 0; i < t->napprovals; i++)
		free(tokens[i]);
	return rc;
}

static int cmd_approve(struct kt *t, const char *action, const char *keyref)
{
	char out[APPROVAL_JWS_MAX];
	const char *why;

	if (!action || strcmp(action, "destroy") || !keyref) {
		fprintf(stderr, "idgate-keys: approve destroy ID-HEX (the only action that "
			"needs approvals)\n");
		return IG_EUSAGE;
	}
	if (!t->officer || !t->officer_key || !t->only) {
		fprintf(stderr, "idgate-keys: approve needs --officer NAME, --officer-key FILE "
			"and --hsm NAME\n");
		return IG_EUSAGE;
	}
	if (approval_create(t->officer, t->officer_key, "key.destroy", t->only, keyref,
			    t->ttl_s ? t->ttl_s : 3600, out, sizeof(out), &why) < 0) {
		fprintf(stderr, "idgate-keys: %s\n", why);
		return IG_EUSAGE;
	}
	puts(out);
	return IG_OK;
}

/* ---- export-public, csr ------------------------------------------------------- */

static int cmd_export(struct kt *t, const char *ref)
{
	struct kt_hsm *h;
	struct kt_key k;
	char out[4096];
	int rc;

	IG_GUARD(kt_resolve(t, ref, &h, &k));
	if (!k.has_pk) {
		fprintf(stderr, "idgate-keys: key %s has no public key to export (%s)\n", ref,
			k.cls == CKO_SECRET_KEY ? "a secret key" : "none found with its CKA_ID");
		return IG_EUSAGE;
	}
	if (!t->format || !strcmp(t->format, "pem"))
		rc = pubkey_pem(&k.pk, out, sizeof(out));
	else if (!strcmp(t->format, "jwk"))
		rc = pubkey_jwk(&k.pk, k.kid, out, sizeof(out));
	else {
		fprintf(stderr, "idgate-keys: --format is pem or jwk\n");
		return IG_EUSAGE;
	}
	if (rc < 0) {
		fprintf(stderr, "idgate-keys: cannot format the public key\n");
		return IG_EINTERNAL;
	}
	fputs(out, stdout);
	if (out[0] && out[strlen(out) - 1] != '\n')
		putchar('\n');
	return kt_audit(t, "key.export-public", k.id_hex, "ok", t->format ? t->format : "pem");
}

static int cmd_csr(struct kt *t, const char *ref)
{
	struct kt_sign_ctx ctx;
	struct kt_hsm *h;
	struct kt_key k;
	const char *why;
	char out[8192], detail[400];

	IG_GUARD(kt_resolve(t, ref, &h, &k));
	if (!t->subject) {
		fprintf(stderr, "idgate-keys: csr needs --subject, e.g. 'CN=idgate.example,O=Example,C=HK'\n");
		return IG_EUSAGE;
	}
	if (!k.ent || (k.ent->purpose != KR_TLS && k.ent->purpose != KR_CA)) {
		fprintf(stderr, "idgate-keys: a CSR is for a tls or ca key; %s is %s\n", ref,
			k.ent ? keyring_purpose_names[k.ent->purpose] : "not in the keyring");
		return IG_EUSAGE;
	}
	if (!k.has_pk) {
		fprintf(stderr, "idgate-keys: key %s has no public key on the HSM\n", ref);
		return IG_EUSAGE;
	}
	ctx = (struct kt_sign_ctx){ .h = h, .k = &k };
	if (pubkey_csr_pem(&k.pk, t->subject, kt_sign, &ctx, out, sizeof(out), &why) < 0) {
		fprintf(stderr, "idgate-keys: CSR for %s: %s%s%s\n", ref, why,
			ctx.rv != CKR_OK ? ": " : "",
			ctx.rv != CKR_OK ? hsm_p11_ckr_name(ctx.rv) : "");
		snprintf(detail, sizeof(detail), "subject %s: %s", t->subject, why);
		kt_audit(t, "key.csr", k.id_hex, "error", detail);
		return IG_EUSAGE;
	}
	snprintf(detail, sizeof(detail), "subject %s", t->subject);
	IG_GUARD(kt_audit(t, "key.csr", k.id_hex, "ok", detail));
	fputs(out, stdout);
	return IG_OK;
}

/* The built-in CA's self-signed certificate, for a ca key (a deployment
 * whose HSMs are not the SoftHSM defaults, which make one at first start). */
static int cmd_ca_cert(struct kt *t, const char *ref)
{
	struct kt_sign_ctx ctx;
	struct x509_spec spec;
	struct kt_hsm *h;
	struct kt_key k;
	const char *why;
	uint8_t der[4096];
	char pem[6000], detail[400];
	size_t len;

	IG_GUARD(kt_resolve(t, ref, &h, &k));
	if (!t->subject) {
		fprintf(stderr, "idgate-keys: ca-cert needs --subject, e.g. "
			"'CN=idgate citizen CA,O=Example,C=HK'\n");
		return IG_EUSAGE;
	}
	if (!k.ent || k.ent->purpose != KR_CA || !k.has_pk || k.pk.kind != PUBKEY_EC_P256) {
		fprintf(stderr, "idgate-keys: a CA certificate is for an EC P-256 ca key; %s is "
			"not one\n", ref);
		return IG_EUSAGE;
	}
	memset(&spec, 0, sizeof(spec));
	if (ig_random(spec.serial, 16) != IG_OK) {
		fprintf(stderr, "idgate-keys: no random bytes from the kernel\n");
		return IG_EINTERNAL;
	}
	spec.serial[0] = (uint8_t)((spec.serial[0] & 0x7f) | 0x01);
	spec.serial_len = 16;
	spec.subject = spec.issuer = t->subject;
	spec.not_before = t->now - 60;
	spec.not_after = t->now + (int64_t)(t->days ? t->days : 3650) * 86400;
	spec.subject_key = spec.issuer_key = &k.pk;
	spec.is_ca = 1;
	ctx = (struct kt_sign_ctx){ .h = h, .k = &k };
	if (x509_issue(&spec, kt_sign, &ctx, der, sizeof(der), &len, &why) < 0 ||
	    x509_pem(der, len, pem, sizeof(pem)) < 0) {
		fprintf(stderr, "idgate-keys: CA certificate for %s: %s\n", ref, why);
		return IG_EUSAGE;
	}
	snprintf(detail, sizeof(detail), "subject %s, %u days", t->subject,
		 t->days ? t->days : 3650);
	IG_GUARD(kt_audit(t, "key.ca-cert", k.id_hex, "ok", detail));
	fputs(pem, stdout);
	return IG_OK;
}

/* ---- status ----------------------------------------------------------------- */

/* GET <path> from the admin listener with the admin token; the body. */
static char *kt_admin_get(struct kt *t, const char *path, int *status)
{
	char host[64], *token, req[512], *resp = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct http_response r;
	const char *why = NULL;
	size_t len = 0, cap = 0, body_len;
	int head;
	uint16_t port;
	char portstr[8];
	ssize_t n;
	int fd;

	if (config_parse_hostport(t->cfg.admin_listen, host, sizeof(host), &port) < 0)
		return NULL;
	token = kt_read_small(t->cfg.admin_token_file);
	if (!token) {
		fprintf(stderr, "idgate-keys: cannot read the admin token %s\n",
			t->cfg.admin_token_file);
		return NULL;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0) {
		free(token);
		return NULL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "idgate-keys: idgated is not answering on %s: %s\n",
			t->cfg.admin_listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		free(token);
		return NULL;
	}
	freeaddrinfo(ai);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: "
		     "Bearer %s\r\nConnection: close\r\n\r\n", path, host, token);
	free(token);
	if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	explicit_bzero(req, sizeof(req));
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *g = realloc(resp, cap = 2 * cap + 8192);

			if (!g)
				break;
			resp = g;
		}
		n = read(fd, resp + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!resp)
		return NULL;
	/* The answer, read with the project's HTTP parser: the body is what
	 * Content-Length says, or everything to the close. */
	head = http_parse_response(resp, len, 8192, &r, &why);
	if (head < 0 || r.chunked ||
	    (r.has_content_length && r.content_length > len - (size_t)head)) {
		fprintf(stderr, "idgate-keys: a malformed answer from idgated: %s\n",
			head < 0 && why ? why : "truncated or chunked");
		free(resp);
		return NULL;
	}
	*status = r.status;
	body_len = r.has_content_length ? (size_t)r.content_length : len - (size_t)head;
	memmove(resp, resp + head, body_len);
	resp[body_len] = '\0';
	return resp;
}

static int cmd_status(struct kt *t)
{
	json_t *root, *hsms, *d;
	json_error_t je;
	int status = 0;
	size_t i;
	char *body = kt_admin_get(t, "/v1/admin/hsm", &status);

	if (!body)
		return IG_EINTERNAL;
	if (status != 200) {
		fprintf(stderr, "idgate-keys: idgated answered %d: %s\n", status, body);
		free(body);
		return IG_EINTERNAL;
	}
	if (t->json) {
		puts(body);
		free(body);
		return IG_OK;
	}
	root = json_loads(body, 0, &je);
	free(body);
	hsms = json_object_get(root, "hsms");
	printf("idgated is %s\n", json_is_true(json_object_get(root, "ready"))
	       ? "ready" : "NOT READY: no HSM can sign");
	json_array_foreach(hsms, i, d) {
		json_t *keys = json_object_get(d, "keys"), *k;
		const char *err = json_string_value(json_object_get(d, "key_error"));
		size_t j;

		printf("HSM %s: %s, %lld in flight, %lld queued, %lld transitions\n",
		       json_string_value(json_object_get(d, "name")),
		       json_is_true(json_object_get(d, "ready")) ? "in rotation" : "OUT OF ROTATION",
		       (long long)json_integer_value(json_object_get(d, "outstanding")),
		       (long long)json_integer_value(json_object_get(d, "queue_depth")),
		       (long long)json_integer_value(json_object_get(d, "transitions")));
		json_array_foreach(keys, j, k)
			printf("  %-9s %s (%s)\n", json_string_value(json_object_get(k, "state")),
			       json_string_value(json_object_get(k, "kid")),
			       json_string_value(json_object_get(k, "label")));
		if (err && *err)
			printf("  last key reload failed: %s\n", err);
	}
	json_decref(root);
	return IG_OK;
}

/* ---- audit ------------------------------------------------------------------ */

static int kt_verify_one(const char *path)
{
	uint64_t records = 0, bad = 0;
	const char *why;
	struct stat st;
	int rc;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		printf("%s: no log yet\n", path);
		return IG_OK;
	}
	rc = audit_verify(path, &records, &bad, &why);
	if (rc == IG_OK)
		printf("%s: %llu records, hash chain and head intact\n", path,
		       (unsigned long long)records);
	else if (rc == IG_EPROTO)
		printf("%s: BROKEN at record %llu: %s\n", path, (unsigned long long)bad, why);
	else
		printf("%s: cannot verify: %s\n", path, why);
	return rc;
}

static int cmd_audit(struct kt *t, const char *what)
{
	if (what && !strcmp(what, "verify")) {
		int a, b = IG_OK;

		if (t->log_path)
			return kt_verify_one(t->log_path);
		a = kt_verify_one(t->cfg.audit_keys_log);
		b = kt_verify_one(t->cfg.audit_server_log);
		return a < 0 ? a : b;
	}
	if (what && !strcmp(what, "recover")) {
		const char *why, *path = t->log_path ? t->log_path : t->cfg.audit_keys_log;
		struct audit_log *l;

		if (audit_open(&l, path, 64, AUDIT_OPEN_RECOVER, &why) < 0) {
			fprintf(stderr, "idgate-keys: %s: %s\n", path, why);
			return IG_EINTERNAL;
		}
		audit_close(l);
		printf("%s: open; any broken tail was moved aside and the recovery recorded\n",
		       path);
		return IG_OK;
	}
	fprintf(stderr, "idgate-keys: audit verify | audit recover\n");
	return IG_EUSAGE;
}

/* ---- main ------------------------------------------------------------------- */

static int kt_actor(struct kt *t)
{
	const char *name = t->officer ? t->officer : getenv("IDGATE_OFFICER");
	struct passwd *pw;

	if (!name) {
		pw = getpwuid(getuid());
		name = pw ? pw->pw_name : "unknown";
	}
	for (const char *p = name; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return -1;
	if (!*name || strlen(name) > 64)
		return -1;
	snprintf(t->actor, sizeof(t->actor), "officer:%s", name);
	return 0;
}

/* The options that take a string: 1 when <flag> is one (stored). */
static int kt_string_option(struct kt *t, const char *flag, const char *v)
{
	static const struct { const char *flag; size_t off; } opts[] = {
		{ "--hsm", offsetof(struct kt, only) },
		{ "--officer", offsetof(struct kt, officer) },
		{ "--purpose", offsetof(struct kt, purpose) },
		{ "--alg", offsetof(struct kt, alg) },
		{ "--label", offsetof(struct kt, label) },
		{ "--format", offsetof(struct kt, format) },
		{ "--subject", offsetof(struct kt, subject) },
		{ "--officer-key", offsetof(struct kt, officer_key) },
		{ "--log", offsetof(struct kt, log_path) },
	};

	for (size_t i = 0; i < IG_ARRAY_LEN(opts); i++) {
		if (!strcmp(flag, opts[i].flag)) {
			*(const char **)((char *)t + opts[i].off) = v;
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct kt t;
	const char *args[3] = { 0 };
	unsigned nargs = 0;
	char err[300], conf[300];
	int rc;

	config_defaults(&t.cfg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			t.json = true;
			continue;
		} else if (!strcmp(a, "--pin-prompt")) {
			t.prompt = true;
			continue;
		} else if (!strcmp(a, "--immediate")) {
			t.immediate = true;
			continue;
		} else if (!strcmp(a, "--force")) {
			t.force = true;
			continue;
		} else if (a[0] != '-' || a[1] != '-') {
			if (nargs == IG_ARRAY_LEN(args)) {
				fprintf(stderr, "idgate-keys: too many arguments (see --help)\n");
				return 2;
			}
			args[nargs++] = a;
			continue;
		} else if (!v) {
			fprintf(stderr, "idgate-keys: unknown option or missing value: %s\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--config"))
			bad = config_load(&t.cfg, v, err, sizeof(err));
		else if (!strcmp(a, "--state"))
			bad = config_set(&t.cfg, "server", "state_dir", v, err, sizeof(err));
		else if (!strcmp(a, "--set"))
			bad = config_set_arg(&t.cfg, v, err, sizeof(err));
		else if (kt_string_option(&t, a, v))
			continue;
		else if (!strcmp(a, "--ttl") || !strcmp(a, "--days")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || end == v || n == 0 || n > 86400) {
				fprintf(stderr, "idgate-keys: --ttl (seconds) and --days are 1 to 86400\n");
				return 2;
			}
			*(a[2] == 't' ? &t.ttl_s : &t.days) = (unsigned)n;
		}
		else if (!strcmp(a, "--approval")) {
			if (t.napprovals == KT_MAX_APPROVALS) {
				fprintf(stderr, "idgate-keys: at most %u approvals\n", KT_MAX_APPROVALS);
				return 2;
			}
			t.approvals[t.napprovals++] = v;
		} else {
			fprintf(stderr, "idgate-keys: unknown option %s (see --help)\n", a);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "idgate-keys: %s\n", err);
			return 2;
		}
	}
	if (!nargs) {
		usage(stderr);
		return 2;
	}
	if (config_finish(&t.cfg, err, sizeof(err))) {
		fprintf(stderr, "idgate-keys: %s\n", err);
		return 2;
	}
	if (kt_actor(&t) < 0) {
		fprintf(stderr, "idgate-keys: --officer is 1 to 64 of A-Z a-z 0-9 . _ -\n");
		return 2;
	}
	umask(077);
	t.now = (int64_t)time(NULL);
	if (!strcmp(args[0], "audit"))
		return cmd_audit(&t, args[1]) == IG_OK ? 0 : 1;
	if (!strcmp(args[0], "approve"))
		return cmd_approve(&t, args[1], args[2]) == IG_OK ? 0 : 1;
	if (!strcmp(args[0], "status"))
		return cmd_status(&t) == IG_OK ? 0 : 1;
	if (strcmp(args[0], "list") && strcmp(args[0], "generate") &&
	    strcmp(args[0], "rotate") && strcmp(args[0], "retire") &&
	    strcmp(args[0], "destroy") && strcmp(args[0], "export-public") &&
	    strcmp(args[0], "csr") && strcmp(args[0], "ca-cert")) {
		fprintf(stderr, "idgate-keys: unknown command '%s' (see --help)\n", args[0]);
		return 2;
	}
	if ((!strcmp(args[0], "retire") || !strcmp(args[0], "destroy") ||
	     !strcmp(args[0], "export-public") || !strcmp(args[0], "csr") ||
	     !strcmp(args[0], "ca-cert")) && !args[1]) {
		fprintf(stderr, "idgate-keys: %s needs a KEY (kid, CKA_ID hex or label)\n",
			args[0]);
		return 2;
	}
	/* The embedded defaults keep a SoftHSM token in the state dir. */
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t.cfg.state_dir);
	if (t.cfg.hsm_softhsm_state && !getenv("SOFTHSM2_CONF") && access(conf, R_OK) == 0)
		setenv("SOFTHSM2_CONF", conf, 1);
	t.keys = calloc(KT_MAX_KEYS, sizeof(*t.keys));
	if (!t.keys) {
		fprintf(stderr, "idgate-keys: out of memory\n");
		return 1;
	}
	kt_pool(&t);
	rc = kt_audit_open(&t);
	if (rc == IG_OK)
		rc = kt_open_all(&t);
	if (rc == IG_OK) {
		if (!strcmp(args[0], "list"))
			rc = cmd_list(&t);
		else if (!strcmp(args[0], "generate"))
			rc = cmd_generate(&t);
		else if (!strcmp(args[0], "rotate"))
			rc = cmd_rotate(&t);
		else if (!strcmp(args[0], "retire"))
			rc = cmd_retire(&t, args[1]);
		else if (!strcmp(args[0], "destroy"))
			rc = cmd_destroy(&t, args[1]);
		else if (!strcmp(args[0], "export-public"))
			rc = cmd_export(&t, args[1]);
		else if (!strcmp(args[0], "csr"))
			rc = cmd_csr(&t, args[1]);
		else
			rc = cmd_ca_cert(&t, args[1]);
	}
	kt_close_all(&t);
	audit_close(t.audit);
	free(t.keys);
	return rc == IG_OK ? 0 : 1;
}
