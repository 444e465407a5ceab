/*
 * p11fault.c - libidgate-p11fault.so, a PKCS#11 module for tests and
 * benchmarks that forwards every call to a real module (SoftHSM) and
 * injects faults a test can change while the server runs: latency, errors
 * with a probability, hangs, and a token that disappears after N
 * signatures.  README.md next to this file documents the control file.
 *
 * Environment (read once, by the first C_GetFunctionList):
 *   IDGATE_P11FAULT_MODULE   the real module to forward to (required)
 *   IDGATE_P11FAULT_CONTROL  the control file, re-read at most every 50 ms
 *                            by whichever call comes first; missing or
 *                            unset means no faults
 *   IDGATE_P11FAULT_STATS    optional: counters written there (atomically,
 *                            by rename) on every re-read and at C_Finalize
 *
 * Shape.  The function list handed out is the real module's, copied, with
 * every slot and session call replaced by a wrapper that passes a "gate"
 * first: hang while the control says so, answer as a removed token, sleep
 * the configured delay, maybe answer an injected error, else forward.
 * C_Initialize, C_Finalize, C_GetInfo, C_GetSlotList and C_WaitForSlotEvent
 * concern no token and are never faulted.  C_GetInterface (PKCS#11 3.0) is
 * not exported, so hosts fall back to C_GetFunctionList.
 *
 * Scopes.  A control line may start with token=<label> or slot=<id>; its
 * settings then override the unscoped ones for that token only.  To know a
 * session's token the gate asks the real module (C_GetSessionInfo, then
 * C_GetTokenInfo once per slot, cached) - only while the control file has
 * a scoped line or a remove_after, so the plain-latency path stays cheap.
 *
 * Threads.  HSM engines call in from many threads at once (they pass
 * CKF_OS_LOCKING_OK).  One mutex, pf_lock, guards the parsed control and
 * the per-slot table; a call holds it only to copy out the faults that
 * apply to it, never while sleeping or calling the real module.  Re-reads
 * are serialised by pf_reload_lock, taken with trylock: the thread that
 * gets it parses into a private struct and publishes it under pf_lock.
 * Counters are relaxed atomics.  No thread spins: a hung call sleeps 50 ms
 * between looks at the control file.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define PF_REREAD_NS (50 * 1000000LL)  /* control file re-read period */
#define PF_MAX_CONTROL 16384           /* bytes of the control file read */
#define PF_MAX_SCOPED 64               /* scoped settings kept */
#define PF_MAX_WORDS 16                /* settings on one line */
#define PF_MAX_SLOTS 64                /* slots with per-token state */
#define PF_LABEL_MAX 32                /* CK_TOKEN_INFO.label, blank padded */
#define PF_MAX_DELAY_US 3600000000LL   /* one hour: beyond is a typo */

/* ---- what can be configured ------------------------------------------- */

/* The calls that take a delay and an injected error of their own. */
enum pf_op { PF_SIGN, PF_SIGNINIT, PF_LOGIN, PF_OPEN, PF_NOPS };

static const char *const pf_op_names[PF_NOPS] = {
	[PF_SIGN] = "sign",
	[PF_SIGNINIT] = "signinit",
	[PF_LOGIN] = "login",
	[PF_OPEN] = "open",
};

enum pf_dist_kind { PF_D_NONE, PF_D_FIXED, PF_D_UNIFORM, PF_D_NORMAL };

/* A delay in microseconds: fixed <a>, uniform in [<a>, <b>], or normal
 * with mean <a> and standard deviation <b> (clipped at 0). */
struct pf_dist {
	enum pf_dist_kind kind;
	long long a, b;
};

struct pf_opfaults {
	struct pf_dist delay;
	CK_RV error;          /* meaningful when error_set */
	double prob;          /* meaningful when prob_set */
	bool error_set, prob_set;
};

enum pf_hang { PF_HANG_NONE, PF_HANG_SIGN, PF_HANG_ALL };

/* Everything that applies to one call, once scopes are resolved. */
struct pf_faults {
	struct pf_opfaults op[PF_NOPS];
	enum pf_hang hang;
	unsigned long long remove_after;   /* 0: never */
};

enum pf_key { PF_K_DELAY, PF_K_ERROR, PF_K_PROB, PF_K_HANG, PF_K_REMOVE };

/* One key=value of the control file, parsed. */
struct pf_setting {
	enum pf_key key;
	enum pf_op op;
	union {
		struct pf_dist dist;
		CK_RV rv;
		double prob;
		enum pf_hang hang;
		unsigned long long n;
	} v;
};

enum pf_scope_kind { PF_S_ALL, PF_S_SLOT, PF_S_TOKEN };

struct pf_scope {
	enum pf_scope_kind kind;
	CK_SLOT_ID slot;
	char label[PF_LABEL_MAX + 1];
};

struct pf_scoped {
	struct pf_scope scope;
	struct pf_setting set;
};

/* The control file, parsed: unscoped settings already applied to <base>,
 * scoped ones kept in file order to be applied over it per token. */
struct pf_config {
	struct pf_faults base;
	struct pf_scoped scoped[PF_MAX_SCOPED];
	int nscoped;
	bool need_slot;    /* a call must find its slot: scopes, remove_after */
	bool need_label;   /* ... and its token's label: a token= scope */
};

/* Per-slot state: the token label (cached) and the remove_after count. */
struct pf_slot {
	bool used, label_known;
	CK_SLOT_ID id;
	char label[PF_LABEL_MAX + 1];
	unsigned long long armed;   /* remove_after in force while counting */
	unsigned long long signs;   /* successful C_Sign since armed */
};

/* ---- state ------------------------------------------------------------- */

static pthread_once_t pf_once = PTHREAD_ONCE_INIT;
static CK_RV pf_init_rv;
static CK_FUNCTION_LIST pf_list;
static CK_FUNCTION_LIST_PTR pf_real;
static char pf_control_path[PATH_MAX];
static char pf_stats_path[PATH_MAX];

static pthread_mutex_t pf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pf_config pf_cfg;                 /* under pf_lock */
static struct pf_slot pf_slots[PF_MAX_SLOTS];   /* under pf_lock */
static bool pf_slots_full_said;                 /* under pf_lock */

#define PF_NEED_SLOT 1u
#define PF_NEED_LABEL 2u
/* pf_cfg.need_* mirrored for the lock-free first look of a session call. */
static atomic_uint pf_need;

static pthread_mutex_t pf_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_llong pf_due_ns;   /* next re-read of the control file */

static struct {
	atomic_ullong calls, signs, signs_ok, delays, delay_us, errors, hangs,
		removed, control_changes, bad_lines;
} pf_stats;

static void pf_count(atomic_ullong *c, unsigned long long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- time and randomness ---------------------------------------------- */

static long long pf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sleep <ns> whatever the signals: an absolute deadline survives EINTR. */
static void pf_sleep_ns(long long ns)
{
	long long end = pf_now_ns() + ns;
	struct timespec ts = { end / 1000000000LL, end % 1000000000LL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* xorshift64*, one state per thread: statistical quality is all we need
 * and no lock is taken to draw. */
static __thread uint64_t pf_rng;

static uint64_t pf_rand(void)
{
	uint64_t x = pf_rng;

	if (!x)
		x = ((uint64_t)pf_now_ns() ^ (uintptr_t)&pf_rng) |
		    1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	pf_rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, 1). */
static double pf_uniform(void)
{
	return (double)(pf_rand() >> 11) * 0x1.0p-53;
}

static long long pf_draw_us(const struct pf_dist *d)
{
	double z = -6;
	long long v;
	int i;

	switch (d->kind) {
	case PF_D_FIXED:
		return d->a;
	case PF_D_UNIFORM:
		return d->a + (long long)(pf_uniform() * (double)(d->b - d->a + 1));
	case PF_D_NORMAL:
		/* Irwin-Hall: twelve uniforms sum to N(6, 1) closely enough,
		 * without libm (the Makefile links this module with -ldl only). */
		for (i = 0; i < 12; i++)
			z += pf_uniform();
		v = d->a + (long long)(z * (double)d->b);
		return v > 0 ? v : 0;
	default:
		return 0;
	}
}

/* ---- parsing the control file ----------------------------------------- */

#define PF_CKR(name) { #name, name }
static const struct {
	const char *name;
	CK_RV rv;
} pf_ckr_names[] = {
	PF_CKR(CKR_OK),
	PF_CKR(CKR_HOST_MEMORY),
	PF_CKR(CKR_GENERAL_ERROR),
	PF_CKR(CKR_FUNCTION_FAILED),
	PF_CKR(CKR_DEVICE_ERROR),
	PF_CKR(CKR_DEVICE_MEMORY),
	PF_CKR(CKR_DEVICE_REMOVED),
	PF_CKR(CKR_FUNCTION_CANCELED),
	PF_CKR(CKR_KEY_HANDLE_INVALID),
	PF_CKR(CKR_OPERATION_ACTIVE),
	PF_CKR(CKR_OPERATION_NOT_INITIALIZED),
	PF_CKR(CKR_PIN_INCORRECT),
	PF_CKR(CKR_PIN_LOCKED),
	PF_CKR(CKR_SESSION_CLOSED),
	PF_CKR(CKR_SESSION_COUNT),
	PF_CKR(CKR_SESSION_HANDLE_INVALID),
	PF_CKR(CKR_TOKEN_NOT_PRESENT),
	PF_CKR(CKR_TOKEN_NOT_RECOGNIZED),
	PF_CKR(CKR_USER_NOT_LOGGED_IN),
	PF_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
};

/* A decimal number, digits only (strtoull alone would take "-1"). */
static bool pf_parse_num(const char *s, char **end, long long max,
			 long long *out)
{
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno || v > (unsigned long long)max)
		return false;
	*out = (long long)v;
	return true;
}

/* "N", "MIN-MAX" or "MEAN~SD", in units of <unit> microseconds. */
static bool pf_parse_dist(const char *s, long long unit, struct pf_dist *d)
{
	long long max = PF_MAX_DELAY_US / unit;
	char sep, *end;

	if (!pf_parse_num(s, &end, max, &d->a))
		return false;
	sep = *end;
	d->b = 0;
	if (sep && (!pf_parse_num(end + 1, &end, max, &d->b) || *end))
		return false;
	d->a *= unit;
	d->b *= unit;
	switch (sep) {
	case '\0':
		d->kind = d->a ? PF_D_FIXED : PF_D_NONE;
		return true;
	case '-':
		d->kind = PF_D_UNIFORM;
		return d->a <= d->b;
	case '~':
		d->kind = PF_D_NORMAL;
		return true;
	default:
		return false;
	}
}

/* A CKR_ name from the table, or a number (0x... for hex). */
static bool pf_parse_rv(const char *s, CK_RV *rv)
{
	unsigned long long v;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(pf_ckr_names) / sizeof(pf_ckr_names[0]); i++)
		if (strcmp(s, pf_ckr_names[i].name) == 0) {
			*rv = pf_ckr_names[i].rv;
			return true;
		}
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > 0xffffffffULL)
		return false;
	*rv = (CK_RV)v;
	return true;
}

static bool pf_parse_prob(const char *s, double *p)
{
	char *end;

	if (!isdigit((unsigned char)*s) && *s != '.')
		return false;
	*p = strtod(s, &end);
	return !*end && *p >= 0 && *p <= 1;
}

static bool pf_parse_hang(const char *s, enum pf_hang *h)
{
	if (!strcmp(s, "0") || !strcmp(s, "none"))
		*h = PF_HANG_NONE;
	else if (!strcmp(s, "1") || !strcmp(s, "sign"))
		*h = PF_HANG_SIGN;
	else if (!strcmp(s, "all"))
		*h = PF_HANG_ALL;
	else
		return false;
	return true;
}

/* <key>=<val> for one of the calls of pf_op_names: "sign_delay_ms" ... */
static const char *pf_parse_op_key(const char *key, const char *val,
				   struct pf_setting *set)
{
	size_t n;
	int op;

	for (op = 0; op < PF_NOPS; op++) {
		n = strlen(pf_op_names[op]);
		if (strncmp(key, pf_op_names[op], n) || key[n] != '_')
			continue;
		set->op = op;
		key += n + 1;
		if (!strcmp(key, "delay_ms") || !strcmp(key, "delay_us")) {
			set->key = PF_K_DELAY;
			if (!pf_parse_dist(val, key[6] == 'm' ? 1000 : 1,
					   &set->v.dist))
				return "bad delay (N, MIN-MAX or MEAN~SD)";
			return NULL;
		}
		if (!strcmp(key, "error")) {
			set->key = PF_K_ERROR;
			return pf_parse_rv(val, &set->v.rv) ? NULL :
			       "unknown CKR name or bad number";
		}
		if (!strcmp(key, "error_prob")) {
			set->key = PF_K_PROB;
			return pf_parse_prob(val, &set->v.prob) ? NULL :
			       "probability not in [0, 1]";
		}
	}
	return "unknown key";
}

/* One "key=value" word into <set>; NULL or why it is bad. */
static const char *pf_parse_setting(char *word, struct pf_setting *set)
{
	char *val = strchr(word, '=');
	long long n;
	char *end;

	if (!val)
		return "not key=value";
	*val++ = '\0';
	if (!strcmp(word, "hang")) {
		set->key = PF_K_HANG;
		return pf_parse_hang(val, &set->v.hang) ? NULL :
		       "hang is 0, 1, sign or all";
	}
	if (!strcmp(word, "remove_after")) {
		set->key = PF_K_REMOVE;
		if (!pf_parse_num(val, &end, LLONG_MAX, &n) || *end)
			return "remove_after is a count";
		set->v.n = (unsigned long long)n;
		return NULL;
	}
	return pf_parse_op_key(word, val, set);
}

/* "token=<label>" (quotes already removed) or "slot=<id>". */
static const char *pf_parse_scope(const char *word, struct pf_scope *sc)
{
	long long id;
	char *end;

	if (!strncmp(word, "token=", 6)) {
		word += 6;
		if (!*word || strlen(word) > PF_LABEL_MAX)
			return "token label empty or over 32 bytes";
		sc->kind = PF_S_TOKEN;
		strcpy(sc->label, word);
		return NULL;
	}
	if (!pf_parse_num(word + 5, &end, LLONG_MAX, &id) || *end)
		return "slot is a number";
	sc->kind = PF_S_SLOT;
	sc->slot = (CK_SLOT_ID)id;
	return NULL;
}

/* The next blank-separated word of *<p>, in place; a double-quoted part
 * may hold blanks (token="My HSM").  NULL at the end of the line. */
static char *pf_next_word(char **p, const char **why)
{
	char *s = *p, *out, *word;
	bool quoted = false;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return NULL;
	word = out = s;
	for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
		if (*s == '"')
			quoted = !quoted;
		else
			*out++ = *s;
	}
	if (quoted)
		*why = "unterminated quote";
	if (*s)
		s++;
	*out = '\0';
	*p = s;
	return word;
}

static void pf_apply(struct pf_faults *f, const struct pf_setting *set)
{
	struct pf_opfaults *o = &f->op[set->op];

	switch (set->key) {
	case PF_K_DELAY:
		o->delay = set->v.dist;
		break;
	case PF_K_ERROR:
		o->error = set->v.rv;
		o->error_set = true;
		break;
	case PF_K_PROB:
		o->prob = set->v.prob;
		o->prob_set = true;
		break;
	case PF_K_HANG:
		f->hang = set->v.hang;
		break;
	case PF_K_REMOVE:
		f->remove_after = set->v.n;
		break;
	}
}

/* One line into <c>: all of it, or nothing and why. */
static const char *pf_parse_line(char *line, struct pf_config *c)
{
	struct pf_setting sets[PF_MAX_WORDS];
	struct pf_scope scope = { .kind = PF_S_ALL };
	const char *why = NULL;
	int i, n = 0;
	char *word;

	while ((word = pf_next_word(&line, &why)) && !why) {
		if (n == 0 && scope.kind == PF_S_ALL &&
		    (!strncmp(word, "token=", 6) || !strncmp(word, "slot=", 5))) {
			why = pf_parse_scope(word, &scope);
		} else if (n == PF_MAX_WORDS) {
			why = "too many settings on one line";
		} else {
			memset(&sets[n], 0, sizeof(sets[n]));
			why = pf_parse_setting(word, &sets[n++]);
		}
		if (why)
			return why;
	}
	if (why)
		return why;
	if (n == 0)
		return scope.kind == PF_S_ALL ? NULL : "scope without settings";
	if (scope.kind != PF_S_ALL && c->nscoped + n > PF_MAX_SCOPED)
		return "too many scoped settings in the file";
	for (i = 0; i < n; i++) {
		if (sets[i].key == PF_K_REMOVE && sets[i].v.n)
			c->need_slot = true;
		if (scope.kind == PF_S_ALL) {
			pf_apply(&c->base, &sets[i]);
			continue;
		}
		c->scoped[c->nscoped].scope = scope;
		c->scoped[c->nscoped++].set = sets[i];
		c->need_slot = true;
		c->need_label |= scope.kind == PF_S_TOKEN;
	}
	return NULL;
}

/* Parse the whole file, in place.  Bad lines are told on stderr; this runs
 * only when the file changed, so each version's complaints come once. */
static void pf_parse(char *text, struct pf_config *c)
{
	char *line, *next, shown[81];
	const char *why;
	int lineno = 0;

	memset(c, 0, sizeof(*c));
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "\r")] = '\0';
		if (line[strspn(line, " \t")] == '#')
			continue;
		snprintf(shown, sizeof(shown), "%.80s", line);
		why = pf_parse_line(line, c);
		if (!why)
			continue;
		pf_count(&pf_stats.bad_lines, 1);
		fprintf(stderr, "p11fault: %s:%d: line ignored (%s): %s\n",
			pf_control_path, lineno, why, shown);
	}
}

/* ---- per-slot state ---------------------------------------------------- */

/* pf_lock held.  The slot's index, a new entry if need be; -1 when the
 * table is full (then only unscoped faults apply there). */
static int pf_slot_index(CK_SLOT_ID id)
{
	int i, free_i = -1;

	for (i = 0; i < PF_MAX_SLOTS; i++) {
		if (pf_slots[i].used && pf_slots[i].id == id)
			return i;
		if (!pf_slots[i].used && free_i < 0)
			free_i = i;
	}
	if (free_i < 0) {
		if (!pf_slots_full_said)
			fprintf(stderr, "p11fault: over %d slots: no scoped "
					"faults for the others\n", PF_MAX_SLOTS);
		pf_slots_full_said = true;
		return -1;
	}
	memset(&pf_slots[free_i], 0, sizeof(pf_slots[free_i]));
	pf_slots[free_i].used = true;
	pf_slots[free_i].id = id;
	return free_i;
}

/* C_InitToken relabels a token and SoftHSM moves it to a new slot; a new
 * C_Initialize may read another token directory: ask labels again. */
static void pf_forget_labels(void)
{
	int i;

	pthread_mutex_lock(&pf_lock);
	for (i = 0; i < PF_MAX_SLOTS; i++)
		pf_slots[i].label_known = false;
	pthread_mutex_unlock(&pf_lock);
}

/* The token's label as the scope compares it: blank padding removed. */
static bool pf_fetch_label(CK_SLOT_ID id, char label[PF_LABEL_MAX + 1])
{
	CK_TOKEN_INFO ti;
	size_t n = PF_LABEL_MAX;

	if (pf_real->C_GetTokenInfo(id, &ti) != CKR_OK)
		return false;
	while (n && ti.label[n - 1] == ' ')
		n--;
	memcpy(label, ti.label, n);
	label[n] = '\0';
	return true;
}

static bool pf_scope_matches(const struct pf_scope *sc,
			     const struct pf_slot *st)
{
	if (sc->kind == PF_S_SLOT)
		return sc->slot == st->id;
	return st->label_known && strcmp(sc->label, st->label) == 0;
}

/* pf_lock held.  A new remove_after value for the token restarts its count
 * (so writing remove_after=0, or deleting the line, re-inserts it); returns
 * whether the token is removed now. */
static bool pf_slot_removed(struct pf_slot *st, unsigned long long after)
{
	if (st->armed != after) {
		st->armed = after;
		st->signs = 0;
	}
	return st->armed && st->signs >= st->armed;
}

/* pf_lock held.  The unscoped faults, then the scoped ones for <st>. */
static void pf_faults_for(const struct pf_slot *st, struct pf_faults *f)
{
	int i;

	*f = pf_cfg.base;
	for (i = 0; st && i < pf_cfg.nscoped; i++)
		if (pf_scope_matches(&pf_cfg.scoped[i].scope, st))
			pf_apply(f, &pf_cfg.scoped[i].set);
}

/* pf_lock held, a new control just published: restart the removal count of
 * every token whose remove_after it changes, so a reset is seen even if no
 * call comes to that token before the next change.  A slot whose label is
 * not known yet waits for its next call (pf_resolve). */
static void pf_rearm_slots(void)
{
	struct pf_faults f;
	int i;

	for (i = 0; i < PF_MAX_SLOTS; i++) {
		if (!pf_slots[i].used ||
		    (pf_cfg.need_label && !pf_slots[i].label_known))
			continue;
		pf_faults_for(&pf_slots[i], &f);
		pf_slot_removed(&pf_slots[i], f.remove_after);
	}
}

/* ---- re-reading the control file, writing the stats -------------------- */

/* The file's first PF_MAX_CONTROL bytes into <buf>; missing reads as
 * empty: no faults. */
static size_t pf_read_control(char *buf)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = pf_control_path[0] ? open(pf_control_path, O_RDONLY | O_CLOEXEC) :
				  -1;
	if (fd < 0)
		return 0;
	while (len < PF_MAX_CONTROL &&
	       ((n = read(fd, buf + len, PF_MAX_CONTROL - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	return len;
}

/* pf_reload_lock held: the buffers and the parse target are its. */
static void pf_reload(void)
{
	static char text[PF_MAX_CONTROL + 1], last[PF_MAX_CONTROL + 1];
	static size_t last_len = (size_t)-1;
	static struct pf_config next;
	size_t len = pf_read_control(text);

	if (len == last_len && memcmp(text, last, len) == 0)
		return;
	memcpy(last, text, len);
	last_len = len;
	text[len] = '\0';
	pf_count(&pf_stats.control_changes, 1);
	pf_parse(text, &next);
	pthread_mutex_lock(&pf_lock);
	pf_cfg = next;
	atomic_store(&pf_need, (next.need_slot ? PF_NEED_SLOT : 0) |
				       (next.need_label ? PF_NEED_LABEL : 0));
	pf_rearm_slots();
	pthread_mutex_unlock(&pf_lock);
}

static unsigned long long pf_get(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* pf_reload_lock held.  Written aside and renamed so a reader never sees
 * half a file. */
static void pf_write_stats(void)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (!pf_stats_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", pf_stats_path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f,
		"calls=%llu\nsigns=%llu\nsigns_ok=%llu\ndelays=%llu\n"
		"delay_us=%llu\nerrors=%llu\nhangs=%llu\nremoved=%llu\n"
		"control_changes=%llu\nbad_lines=%llu\n",
		pf_get(&pf_stats.calls), pf_get(&pf_stats.signs),
		pf_get(&pf_stats.signs_ok), pf_get(&pf_stats.delays),
		pf_get(&pf_stats.delay_us), pf_get(&pf_stats.errors),
		pf_get(&pf_stats.hangs), pf_get(&pf_stats.removed),
		pf_get(&pf_stats.control_changes),
		pf_get(&pf_stats.bad_lines));
	if (fclose(f) == 0)
		rename(tmp, pf_stats_path);
	else
		unlink(tmp);
}

/* Re-read the control file if its 50 ms are up and no other thread is at
 * it already (that one's result will do). */
static void pf_refresh(void)
{
	long long now = pf_now_ns();

	if (now < atomic_load_explicit(&pf_due_ns, memory_order_relaxed) ||
	    pthread_mutex_trylock(&pf_reload_lock))
		return;
	if (now >= atomic_load_explicit(&pf_due_ns, memory_order_relaxed)) {
		atomic_store_explicit(&pf_due_ns, now + PF_REREAD_NS,
				      memory_order_relaxed);
		pf_reload();
		pf_write_stats();
	}
	pthread_mutex_unlock(&pf_reload_lock);
}

/* ---- the gate every faulted call passes -------------------------------- */

struct pf_gate {
	bool have_slot;     /* slot_id known: a slot call, or looked up */
	bool query;         /* C_Sign asking the length only (§5.2) */
	CK_SLOT_ID slot_id;
	int slot;           /* index in pf_slots, -1 if none */
	bool removed;
	struct pf_faults f;
};

static void pf_gate_slot(struct pf_gate *g, CK_SLOT_ID id)
{
	memset(g, 0, sizeof(*g));
	g->have_slot = true;
	g->slot_id = id;
}

/* A session's slot is asked of the real module only when some fault
 * depends on the token. */
static void pf_gate_session(struct pf_gate *g, CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO si;

	memset(g, 0, sizeof(*g));
	/* The control first: a change that scopes faults to a token must
	 * apply to this very call. */
	pf_refresh();
	if (!(atomic_load(&pf_need) & PF_NEED_SLOT) ||
	    pf_real->C_GetSessionInfo(s, &si) != CKR_OK)
		return;
	g->have_slot = true;
	g->slot_id = si.slotID;
}

/* The faults for this call's token, out of the current control. */
static void pf_resolve(struct pf_gate *g)
{
	char label[PF_LABEL_MAX + 1];
	struct pf_slot *st;
	bool got;

	pthread_mutex_lock(&pf_lock);
	g->slot = g->have_slot && pf_cfg.need_slot ? pf_slot_index(g->slot_id)
						   : -1;
	if (g->slot >= 0 && pf_cfg.need_label &&
	    !pf_slots[g->slot].label_known) {
		/* Not under the lock: the real module may take its time. */
		pthread_mutex_unlock(&pf_lock);
		got = pf_fetch_label(g->slot_id, label);
		pthread_mutex_lock(&pf_lock);
		if (got) {
			strcpy(pf_slots[g->slot].label, label);
			pf_slots[g->slot].label_known = true;
		}
	}
	st = g->slot >= 0 ? &pf_slots[g->slot] : NULL;
	pf_faults_for(st, &g->f);
	g->removed = st && pf_slot_removed(st, g->f.remove_after);
	pthread_mutex_unlock(&pf_lock);
}

/* An HSM that hangs: block this thread, looking at the control file every
 * 50 ms, until it lets go. */
static void pf_hang(struct pf_gate *g, enum pf_op op)
{
	bool counted = false;

	while (g->f.hang == PF_HANG_ALL ||
	       (g->f.hang == PF_HANG_SIGN && op == PF_SIGN)) {
		if (!counted)
			pf_count(&pf_stats.hangs, 1);
		counted = true;
		pf_sleep_ns(PF_REREAD_NS);
		pf_refresh();
		pf_resolve(g);
	}
}

static void pf_delay(const struct pf_dist *d)
{
	long long us = pf_draw_us(d);

	if (us <= 0)
		return;
	pf_count(&pf_stats.delays, 1);
	pf_count(&pf_stats.delay_us, (unsigned long long)us);
	pf_sleep_ns(us * 1000);
}

/* An error alone is always injected, a probability alone injects
 * CKR_DEVICE_ERROR; CKR_OK turns injection off. */
static bool pf_inject(const struct pf_opfaults *o, CK_RV *rv)
{
	double p = o->prob_set ? o->prob : o->error_set ? 1.0 : 0.0;
	CK_RV e = o->error_set ? o->error : CKR_DEVICE_ERROR;

	if (e == CKR_OK || p <= 0 || pf_uniform() >= p)
		return false;
	pf_count(&pf_stats.errors, 1);
	*rv = e;
	return true;
}

/*
 * Hang, answer as a removed token, delay, inject.  <op> names the delay and
 * error settings that apply (PF_NOPS: none); <gone> is the answer of a
 * removed token, CKR_OK to forward even then.  Returns true when *<rv> is
 * the answer and the real module must not be called.
 */
static bool pf_gate(struct pf_gate *g, enum pf_op op, CK_RV gone, CK_RV *rv)
{
	pf_count(&pf_stats.calls, 1);
	pf_refresh();
	pf_resolve(g);
	pf_hang(g, op);
	if (g->removed && gone != CKR_OK) {
		pf_count(&pf_stats.removed, 1);
		*rv = gone;
		return true;
	}
	if (op == PF_NOPS || g->query)
		return false;
	pf_delay(&g->f.op[op].delay);
	return pf_inject(&g->f.op[op], rv);
}

/* ---- the wrappers ------------------------------------------------------ */

/*
 * Calls on a session, and calls on a slot.  §5.1: once the token is gone,
 * session calls answer CKR_DEVICE_REMOVED, slot calls
 * CKR_TOKEN_NOT_PRESENT.  Closing is forwarded even then, so the real
 * module frees what the host releases.
 */
#define PF_SESSION_CALLS(X)                                                    \
	X(C_InitPIN, PF_NOPS, CKR_DEVICE_REMOVED,                              \
	  (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG n), (s, pin, n)) \
	X(C_SetPIN, PF_NOPS, CKR_DEVICE_REMOVED,                               \
	  (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR o, CK_ULONG on,                \
	   CK_UTF8CHAR_PTR p, CK_ULONG pn), (s, o, on, p, pn))                 \
	X(C_CloseSession, PF_NOPS, CKR_OK, (CK_SESSION_HANDLE s), (s))         \
	X(C_GetSessionInfo, PF_NOPS, CKR_DEVICE_REMOVED,                       \
	  (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR i), (s, i))                \
	X(C_GetOperationState, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR n), (s, b, n))     \
	X(C_SetOperationState, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG n, CK_OBJECT_HANDLE e, \
	   CK_OBJECT_HANDLE a), (s, b, n, e, a))                               \
	X(C_Login, PF_LOGIN, CKR_DEVICE_REMOVED,                               \
	  (CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,           \
	   CK_ULONG n), (s, u, pin, n))                                        \
	X(C_Logout, PF_NOPS, CKR_DEVICE_REMOVED, (CK_SESSION_HANDLE s), (s))   \
	X(C_CreateObject, PF_NOPS, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,                \
	   CK_OBJECT_HANDLE_PTR o), (s, t, n, o))                              \
	X(C_CopyObject, PF_NOPS, CKR_DEVICE_REMOVED,                           \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n, CK_OBJECT_HANDLE_PTR no), (s, o, t, n, no))             \
	X(C_DestroyObject, PF_NOPS, CKR_DEVICE_REMOVED,                        \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o), (s, o))                   \
	X(C_GetObjectSize, PF_NOPS, CKR_DEVICE_REMOVED,                        \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR n), (s, o, n)) \
	X(C_GetAttributeValue, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n), (s, o, t, n))                                          \
	X(C_SetAttributeValue, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n), (s, o, t, n))                                          \
	X(C_FindObjectsInit, PF_NOPS, CKR_DEVICE_REMOVED,                      \
	  (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))    \
	X(C_FindObjects, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG m,            \
	   CK_ULONG_PTR n), (s, o, m, n))                                      \
	X(C_FindObjectsFinal, PF_NOPS, CKR_DEVICE_REMOVED,                     \
	  (CK_SESSION_HANDLE s), (s))                                          \
	X(C_EncryptInit, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_Encrypt, PF_NOPS, CKR_DEVICE_REMOVED,                              \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_EncryptUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                        \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_EncryptFinal, PF_NOPS, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on))   \
	X(C_DecryptInit, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_Decrypt, PF_NOPS, CKR_DEVICE_REMOVED,                              \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_DecryptUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                        \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_DecryptFinal, PF_NOPS, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on))   \
	X(C_DigestInit, PF_NOPS, CKR_DEVICE_REMOVED,                           \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))                   \
	X(C_Digest, PF_NOPS, CKR_DEVICE_REMOVED,                               \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_DigestUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in), (s, i, in))       \
	X(C_DigestKey, PF_NOPS, CKR_DEVICE_REMOVED,                            \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k), (s, k))                   \
	X(C_DigestFinal, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on))   \
	X(C_SignInit, PF_SIGNINIT, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_SignUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                           \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in), (s, i, in))       \
	X(C_SignFinal, PF_NOPS, CKR_DEVICE_REMOVED,                            \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on))   \
	X(C_SignRecoverInit, PF_NOPS, CKR_DEVICE_REMOVED,                      \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_SignRecover, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_VerifyInit, PF_NOPS, CKR_DEVICE_REMOVED,                           \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_Verify, PF_NOPS, CKR_DEVICE_REMOVED,                               \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR sg,    \
	   CK_ULONG sn), (s, i, in, sg, sn))                                    \
	X(C_VerifyUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                         \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in), (s, i, in))       \
	X(C_VerifyFinal, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR sg, CK_ULONG sn), (s, sg, sn))    \
	X(C_VerifyRecoverInit, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (s, m, k))                                                           \
	X(C_VerifyRecover, PF_NOPS, CKR_DEVICE_REMOVED,                        \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR sg, CK_ULONG sn, CK_BYTE_PTR o,    \
	   CK_ULONG_PTR on), (s, sg, sn, o, on))                                \
	X(C_DigestEncryptUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                  \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_DecryptDigestUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                  \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_SignEncryptUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_DecryptVerifyUpdate, PF_NOPS, CKR_DEVICE_REMOVED,                  \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,     \
	   CK_ULONG_PTR on), (s, i, in, o, on))                                \
	X(C_GenerateKey, PF_NOPS, CKR_DEVICE_REMOVED,                          \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (s, m, t, n, k))               \
	X(C_GenerateKeyPair, PF_NOPS, CKR_DEVICE_REMOVED,                      \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt,       \
	   CK_ULONG pn, CK_ATTRIBUTE_PTR vt, CK_ULONG vn,                      \
	   CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR vk),                  \
	  (s, m, pt, pn, vt, vn, pk, vk))                                      \
	X(C_WrapKey, PF_NOPS, CKR_DEVICE_REMOVED,                              \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w,        \
	   CK_OBJECT_HANDLE k, CK_BYTE_PTR o, CK_ULONG_PTR on),                \
	  (s, m, w, k, o, on))                                                 \
	X(C_UnwrapKey, PF_NOPS, CKR_DEVICE_REMOVED,                            \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u,        \
	   CK_BYTE_PTR i, CK_ULONG in, CK_ATTRIBUTE_PTR t, CK_ULONG n,         \
	   CK_OBJECT_HANDLE_PTR k), (s, m, u, i, in, t, n, k))                 \
	X(C_DeriveKey, PF_NOPS, CKR_DEVICE_REMOVED,                            \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b,        \
	   CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),            \
	  (s, m, b, t, n, k))                                                  \
	X(C_SeedRandom, PF_NOPS, CKR_DEVICE_REMOVED,                           \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG in), (s, i, in))       \
	X(C_GenerateRandom, PF_NOPS, CKR_DEVICE_REMOVED,                       \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG on), (s, o, on))       \
	X(C_GetFunctionStatus, PF_NOPS, CKR_DEVICE_REMOVED,                    \
	  (CK_SESSION_HANDLE s), (s))                                          \
	X(C_CancelFunction, PF_NOPS, CKR_DEVICE_REMOVED,                       \
	  (CK_SESSION_HANDLE s), (s))

#define PF_SLOT_CALLS(X)                                                       \
	X(C_GetTokenInfo, PF_NOPS, CKR_TOKEN_NOT_PRESENT,                      \
	  (CK_SLOT_ID id, CK_TOKEN_INFO_PTR i), (id, i))                       \
	X(C_GetMechanismList, PF_NOPS, CKR_TOKEN_NOT_PRESENT,                  \
	  (CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n),            \
	  (id, l, n))                                                          \
	X(C_GetMechanismInfo, PF_NOPS, CKR_TOKEN_NOT_PRESENT,                  \
	  (CK_SLOT_ID id, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i),       \
	  (id, t, i))                                                          \
	X(C_OpenSession, PF_OPEN, CKR_TOKEN_NOT_PRESENT,                       \
	  (CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb,             \
	   CK_SESSION_HANDLE_PTR s), (id, f, a, cb, s))                        \
	X(C_CloseAllSessions, PF_NOPS, CKR_OK, (CK_SLOT_ID id), (id))

#define PF_DEFINE_SESSION(name, op, gone, params, args)                        \
	static CK_RV pf_##name params                                          \
	{                                                                      \
		struct pf_gate g;                                              \
		CK_RV rv;                                                      \
									       \
		pf_gate_session(&g, s);                                        \
		if (pf_gate(&g, op, gone, &rv))                                \
			return rv;                                             \
		return pf_real->name args;                                     \
	}

#define PF_DEFINE_SLOT(name, op, gone, params, args)                           \
	static CK_RV pf_##name params                                          \
	{                                                                      \
		struct pf_gate g;                                              \
		CK_RV rv;                                                      \
									       \
		pf_gate_slot(&g, id);                                          \
		if (pf_gate(&g, op, gone, &rv))                                \
			return rv;                                             \
		return pf_real->name args;                                     \
	}

PF_SESSION_CALLS(PF_DEFINE_SESSION)
PF_SLOT_CALLS(PF_DEFINE_SLOT)

/* §5.11: C_Sign ends the signing operation whatever it returns, but for
 * CKR_BUFFER_TOO_SMALL and a length query.  When the answer is ours, the
 * real module's operation is still active: end it with a signature thrown
 * away, or the host's next C_SignInit would meet CKR_OPERATION_ACTIVE. */
static void pf_sign_discard(CK_SESSION_HANDLE s, CK_BYTE_PTR data,
			    CK_ULONG len)
{
	unsigned char buf[1024], *big;
	CK_ULONG n = sizeof(buf);

	if (pf_real->C_Sign(s, data, len, buf, &n) != CKR_BUFFER_TOO_SMALL)
		return;
	big = malloc(n);
	if (big)
		pf_real->C_Sign(s, data, len, big, &n);
	free(big);
}

static void pf_count_sign(const struct pf_gate *g)
{
	struct pf_slot *st;

	pf_count(&pf_stats.signs_ok, 1);
	if (g->slot < 0)
		return;
	pthread_mutex_lock(&pf_lock);
	st = &pf_slots[g->slot];
	if (st->armed && st->signs < st->armed)
		st->signs++;
	pthread_mutex_unlock(&pf_lock);
}

static CK_RV pf_C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len,
		       CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct pf_gate g;
	CK_RV rv;

	pf_gate_session(&g, s);
	g.query = sig == NULL;
	if (!g.query)
		pf_count(&pf_stats.signs, 1);
	if (pf_gate(&g, PF_SIGN, CKR_DEVICE_REMOVED, &rv)) {
		if (!g.query)
			pf_sign_discard(s, data, len);
		return rv;
	}
	rv = pf_real->C_Sign(s, data, len, sig, siglen);
	if (!g.query && rv == CKR_OK)
		pf_count_sign(&g);
	return rv;
}

/* A removed token leaves its slot (§5.5 C_GetSlotInfo: CKF_TOKEN_PRESENT). */
static CK_RV pf_C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	struct pf_gate g;
	CK_RV rv;

	pf_gate_slot(&g, id);
	pf_gate(&g, PF_NOPS, CKR_OK, &rv);
	rv = pf_real->C_GetSlotInfo(id, info);
	if (rv == CKR_OK && g.removed)
		info->flags &= ~CKF_TOKEN_PRESENT;
	return rv;
}

static CK_RV pf_C_InitToken(CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG n,
			    CK_UTF8CHAR_PTR label)
{
	struct pf_gate g;
	CK_RV rv;

	pf_gate_slot(&g, id);
	if (pf_gate(&g, PF_NOPS, CKR_TOKEN_NOT_PRESENT, &rv))
		return rv;
	rv = pf_real->C_InitToken(id, pin, n, label);
	if (rv == CKR_OK)
		pf_forget_labels();
	return rv;
}

static CK_RV pf_C_Initialize(CK_VOID_PTR args)
{
	CK_RV rv = pf_real->C_Initialize(args);

	if (rv == CKR_OK)
		pf_forget_labels();
	return rv;
}

/* The stats file is written one last time: a test reads it after. */
static CK_RV pf_C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv = pf_real->C_Finalize(reserved);

	pf_forget_labels();
	pthread_mutex_lock(&pf_reload_lock);
	pf_write_stats();
	pthread_mutex_unlock(&pf_reload_lock);
	return rv;
}

/* ---- loading ----------------------------------------------------------- */

static bool pf_env_path(const char *name, char *out, size_t cap)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return false;
	if (strlen(v) >= cap) {
		fprintf(stderr, "p11fault: %s too long: ignored\n", name);
		return false;
	}
	strcpy(out, v);
	return true;
}

#define PF_INSTALL(name, ...) pf_list.name = pf_##name;

static void pf_load(void)
{
	char module[PATH_MAX];
	CK_C_GetFunctionList get;
	void *h;

	pf_init_rv = CKR_GENERAL_ERROR;
	pf_env_path("IDGATE_P11FAULT_CONTROL", pf_control_path,
		    sizeof(pf_control_path));
	pf_env_path("IDGATE_P11FAULT_STATS", pf_stats_path,
		    sizeof(pf_stats_path));
	if (!pf_env_path("IDGATE_P11FAULT_MODULE", module, sizeof(module))) {
		fprintf(stderr, "p11fault: IDGATE_P11FAULT_MODULE not set\n");
		return;
	}
	h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "p11fault: %s\n", dlerror());
		return;
	}
	get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (!get || get(&pf_real) != CKR_OK || !pf_real) {
		fprintf(stderr, "p11fault: %s: no function list\n", module);
		dlclose(h);
		return;
	}
	pf_list = *pf_real;
	PF_SESSION_CALLS(PF_INSTALL)
	PF_SLOT_CALLS(PF_INSTALL)
	pf_list.C_Sign = pf_C_Sign;
	pf_list.C_GetSlotInfo = pf_C_GetSlotInfo;
	pf_list.C_InitToken = pf_C_InitToken;
	pf_list.C_Initialize = pf_C_Initialize;
	pf_list.C_Finalize = pf_C_Finalize;
	pf_list.C_GetFunctionList = C_GetFunctionList;
	pf_init_rv = CKR_OK;
}

/* The one exported symbol.  The real module is opened (once) here, not at
 * C_Initialize: hosts call C_GetFunctionList first (§5.4). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	if (!out)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&pf_once, pf_load);
	if (pf_init_rv != CKR_OK)
		return pf_init_rv;
	*out = &pf_list;
	return CKR_OK;
}
