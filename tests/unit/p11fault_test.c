/*
 * p11fault_test.c - the fault-injecting PKCS#11 module, dlopened from
 * $IDGATE_P11FAULT_SO (default bin/libidgate-p11fault.so) in front of
 * SoftHSM2, with two fresh tokens in a temporary directory.  Each test
 * writes the control file, waits out the module's 50 ms re-read period and
 * looks at what C_SignInit/C_Sign and friends answer.  Exits 77 (skip)
 * when SoftHSM2 or the module is missing.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "check.h"
#include "testutil.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define SO_PIN "12345678"
#define USER_PIN "87654321"
#define LABEL_A "p11fault-a"
#define LABEL_B "p11fault b" /* a blank inside: token="..." quoting */

struct tok {
	const char *label;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv;
};

static CK_FUNCTION_LIST_PTR f;
static char dir[64], ctl_path[128], stats_path[128], err_path[128];
static struct tok ta = { .label = LABEL_A }, tb = { .label = LABEL_B };

/* ---- helpers ------------------------------------------------------------ */

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Replace the control file at once (write aside, rename), as the README
 * advises; no wait. */
static void control_now(const char *text)
{
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.tmp", ctl_path);
	CHECK(write_file(tmp, text) == 0);
	CHECK(rename(tmp, ctl_path) == 0);
}

/* ... and wait until the module's next call must re-read it. */
static void control(const char *text)
{
	control_now(text);
	sleep_ms(60);
}

static CK_RV sign_on(const struct tok *t, CK_SESSION_HANDLE s)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char digest[32] = { 1, 2, 3 }, sig[64];
	CK_ULONG n = sizeof(sig);
	CK_RV rv;

	rv = f->C_SignInit(s, &mech, t->priv);
	if (rv != CKR_OK)
		return rv;
	rv = f->C_Sign(s, digest, sizeof(digest), sig, &n);
	if (rv == CKR_OK && n != 64)
		return CKR_GENERAL_ERROR;
	return rv;
}

static CK_RV sign(const struct tok *t)
{
	return sign_on(t, t->s);
}

static long long timed_sign_us(const struct tok *t, CK_RV *rv)
{
	long long t0 = now_us();

	*rv = sign(t);
	return now_us() - t0;
}

/* ---- a SoftHSM token with an EC P-256 key, through the module ----------- */

static int find_slot(const char *label, int want_initialized, CK_SLOT_ID *out)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32, i;
	CK_TOKEN_INFO ti;
	size_t len = label ? strlen(label) : 0;

	/* SoftHSM looks for new tokens on the size query only. */
	if (f->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n > 32 ||
	    f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!!(ti.flags & CKF_TOKEN_INITIALIZED) != want_initialized)
			continue;
		if (label && (memcmp(ti.label, label, len) ||
			      ti.label[len] != ' '))
			continue;
		*out = slots[i];
		return 0;
	}
	return -1;
}

static CK_RV make_keypair(struct tok *t)
{
	/* DER OID 1.2.840.10045.3.1.7, prime256v1 */
	static unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					0x3d, 0x03, 0x01, 0x07 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_EC_PARAMS, p256, sizeof(p256) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE pubh;

	return f->C_GenerateKeyPair(t->s, &mech, pub, 3, priv, 3, &pubh,
				    &t->priv);
}

static int make_token(struct tok *t)
{
	unsigned char label[32];
	CK_SLOT_ID free_slot;

	if (find_slot(NULL, 0, &free_slot))
		return -1;
	memset(label, ' ', sizeof(label));
	memcpy(label, t->label, strlen(t->label));
	if (f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)SO_PIN, 8, label) ||
	    find_slot(t->label, 1, &t->slot) ||
	    f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
			     NULL, NULL, &t->s) ||
	    f->C_Login(t->s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8) ||
	    f->C_InitPIN(t->s, (CK_UTF8CHAR_PTR)USER_PIN, 8) ||
	    f->C_Logout(t->s) ||
	    f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 8) ||
	    make_keypair(t))
		return -1;
	return 0;
}

/* ---- loading ------------------------------------------------------------- */

/* In a child, so the parent's module keeps its one-time setup: without a
 * real module, or with one that is not PKCS#11, C_GetFunctionList fails. */
static int load_fails_with(const char *so, const char *module)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR l;
	int status;
	void *h;
	pid_t pid = fork();

	if (pid == 0) {
		if (module)
			setenv("IDGATE_P11FAULT_MODULE", module, 1);
		else
			unsetenv("IDGATE_P11FAULT_MODULE");
		h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
		get = h ? (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")
			: NULL;
		_exit(get && get(&l) == CKR_GENERAL_ERROR ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Before this process loads the module: the children load it afresh. */
static void test_load_failures(const char *so)
{
	CHECK(load_fails_with(so, NULL));
	CHECK(load_fails_with(so, "/nonexistent/module.so"));
	CHECK(load_fails_with(so, "libc.so.6"));
}

static void test_load(CK_C_GetFunctionList get)
{
	CK_FUNCTION_LIST_PTR again;

	CHECK_EQ(get(NULL), CKR_ARGUMENTS_BAD);
	CHECK_EQ(get(&again), CKR_OK);
	CHECK(again == f);
	CHECK(f->C_GetFunctionList == get);
}

/* ---- the faults ---------------------------------------------------------- */

static void test_no_control(void)
{
	CHECK(access(ctl_path, F_OK) != 0);
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
}

static void test_fixed_delay(void)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char digest[32] = { 0 }, sig[64];
	CK_ULONG n = 0;
	long long t0, us;
	CK_RV rv;

	/* The overload integration test's setting. */
	control("sign_delay_ms=40\n");
	us = timed_sign_us(&ta, &rv);
	CHECK_EQ(rv, CKR_OK);
	CHECK(us >= 40000);
	/* A length query is no signature: not delayed. */
	CHECK_EQ(f->C_SignInit(ta.s, &mech, ta.priv), CKR_OK);
	t0 = now_us();
	CHECK_EQ(f->C_Sign(ta.s, digest, 32, NULL, &n), CKR_OK);
	CHECK(now_us() - t0 < 40000);
	CHECK_EQ(n, 64);
	CHECK_EQ(f->C_Sign(ta.s, digest, 32, sig, &n), CKR_OK);

	control("sign_delay_ms=0\n");
	us = timed_sign_us(&ta, &rv);
	CHECK_EQ(rv, CKR_OK);
	CHECK(us < 40000);

	control("login_delay_ms=40\n");
	CHECK_EQ(f->C_Logout(tb.s), CKR_OK);
	t0 = now_us();
	CHECK_EQ(f->C_Login(tb.s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 8),
		 CKR_OK);
	CHECK(now_us() - t0 >= 40000);
	CHECK_EQ(make_keypair(&tb), CKR_OK); /* C_Logout took the old one */
}

static void test_distributions(void)
{
	long long us, lo = -1, hi = 0, sum = 0;
	CK_RV rv;
	int i, ok = 0;

	/* A network HSM at 1-5 ms. */
	control("sign_delay_us=1000-5000\n");
	for (i = 0; i < 20; i++) {
		us = timed_sign_us(&ta, &rv);
		ok += rv == CKR_OK;
		lo = lo < 0 || us < lo ? us : lo;
		hi = us > hi ? us : hi;
	}
	CHECK_EQ(ok, 20);
	CHECK(lo >= 1000);
	CHECK(hi < 5000 + 30000); /* scheduling noise on a busy machine */
	CHECK(hi - lo >= 1000);   /* drawn, not fixed */

	/* Mean 3 ms, standard deviation 0.3 ms: never below 1.2 ms. */
	control("sign_delay_us=3000~300\n");
	for (i = 0, lo = -1; i < 10; i++) {
		us = timed_sign_us(&ta, &rv);
		CHECK_EQ(rv, CKR_OK);
		sum += us;
		lo = lo < 0 || us < lo ? us : lo;
	}
	CHECK(lo >= 1200);
	CHECK(sum / 10 >= 2500);

	control("sign_delay_ms=2-3\n");
	us = timed_sign_us(&ta, &rv);
	CHECK_EQ(rv, CKR_OK);
	CHECK(us >= 2000);
	control("");
}

static void test_errors(void)
{
	static const struct {
		const char *name;
		CK_RV rv;
	} names[] = {
		{ "CKR_DEVICE_ERROR", CKR_DEVICE_ERROR },
		{ "CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED },
		{ "CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT },
		{ "CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID },
		{ "CKR_SESSION_CLOSED", CKR_SESSION_CLOSED },
		{ "CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN },
		{ "CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED },
		{ "CKR_GENERAL_ERROR", CKR_GENERAL_ERROR },
		{ "CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED },
		{ "0x32", CKR_DEVICE_REMOVED },
		{ "48", CKR_DEVICE_ERROR },
	};
	CK_SESSION_HANDLE s;
	char text[128];
	size_t i;
	int n, failed = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), "sign_error=%s\n", names[i].name);
		control(text);
		CHECK_EQ(sign(&ta), names[i].rv);
	}

	control("sign_error=CKR_DEVICE_ERROR sign_error_prob=1.0\n");
	for (n = 0; n < 5; n++)
		CHECK_EQ(sign(&ta), CKR_DEVICE_ERROR);
	/* The injected error ended the real operation too: no
	 * CKR_OPERATION_ACTIVE now. */
	control("sign_error=CKR_DEVICE_ERROR\nsign_error_prob=0.0\n");
	for (n = 0; n < 5; n++)
		CHECK_EQ(sign(&ta), CKR_OK);

	control("sign_error_prob=0.5\n"); /* CKR_DEVICE_ERROR by default */
	for (n = 0; n < 40; n++)
		failed += sign(&ta) == CKR_DEVICE_ERROR;
	CHECK(failed > 0 && failed < 40);

	control("sign_error=CKR_OK sign_error_prob=1\n"); /* CKR_OK: off */
	CHECK_EQ(sign(&ta), CKR_OK);

	control("signinit_error=CKR_SESSION_HANDLE_INVALID\n");
	CHECK_EQ(sign(&ta), CKR_SESSION_HANDLE_INVALID);

	control("login_error=CKR_PIN_INCORRECT\nopen_error=CKR_DEVICE_MEMORY\n");
	CHECK_EQ(f->C_OpenSession(ta.slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
		 CKR_DEVICE_MEMORY);
	CHECK_EQ(f->C_Logout(tb.s), CKR_OK);
	CHECK_EQ(f->C_Login(tb.s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 8),
		 CKR_PIN_INCORRECT);
	control("");
	CHECK_EQ(f->C_Login(tb.s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 8),
		 CKR_OK);
	CHECK_EQ(make_keypair(&tb), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK_EQ(sign(&ta), CKR_OK);
}

static void test_scopes(void)
{
	char text[160];

	control("token=" LABEL_A " sign_error=CKR_GENERAL_ERROR\n");
	CHECK_EQ(sign(&ta), CKR_GENERAL_ERROR);
	CHECK_EQ(sign(&tb), CKR_OK);

	control("token=\"" LABEL_B "\" signinit_error=CKR_DEVICE_ERROR\n");
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_DEVICE_ERROR);

	/* A scoped line overrides the unscoped ones, wherever it stands. */
	control("token=\"" LABEL_B "\" sign_error_prob=0\n"
		"sign_error=CKR_DEVICE_ERROR\n");
	CHECK_EQ(sign(&ta), CKR_DEVICE_ERROR);
	CHECK_EQ(sign(&tb), CKR_OK);

	snprintf(text, sizeof(text), "slot=%lu sign_error=CKR_FUNCTION_FAILED\n",
		 (unsigned long)tb.slot);
	control(text);
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_FUNCTION_FAILED);

	control("token=no-such-token sign_error=CKR_GENERAL_ERROR\n");
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	control("");
}

struct hanger {
	pthread_t th;
	const struct tok *t;
	int token_info; /* call C_GetTokenInfo, not sign */
	CK_RV rv;
	atomic_int done;
};

static void *hanger_run(void *arg)
{
	struct hanger *h = arg;
	CK_TOKEN_INFO ti;

	h->rv = h->token_info ? f->C_GetTokenInfo(h->t->slot, &ti) : sign(h->t);
	atomic_store(&h->done, 1);
	return NULL;
}

/* Start <h>, check it is still blocked after <ms>, clear the hang and
 * check it returns soon. */
static void hang_and_release(struct hanger *h, long ms)
{
	long long t0;

	atomic_store(&h->done, 0);
	CHECK(pthread_create(&h->th, NULL, hanger_run, h) == 0);
	sleep_ms(ms);
	CHECK(!atomic_load(&h->done));
	/* The other token is not hung, and nothing is held while hanging. */
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK(!atomic_load(&h->done));
	control_now("hang=0\n");
	t0 = now_us();
	while (!atomic_load(&h->done) && now_us() - t0 < 2000000)
		sleep_ms(5);
	CHECK(now_us() - t0 < 200000);
	pthread_join(h->th, NULL);
	CHECK_EQ(h->rv, CKR_OK);
}

static void test_hang(void)
{
	struct hanger h = { .t = &ta };

	control("token=" LABEL_A " hang=1\n");
	hang_and_release(&h, 300);
	/* hang=1 is C_Sign only; hang=all is every call on the token. */
	control("token=" LABEL_A " hang=1\n");
	h.token_info = 1;
	CHECK_EQ(f->C_GetTokenInfo(ta.slot, &(CK_TOKEN_INFO){ 0 }), CKR_OK);
	control("token=" LABEL_A " hang=all\n");
	hang_and_release(&h, 150);
	control("");
}

static void test_removal(void)
{
	CK_SESSION_HANDLE s;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	int i;

	control("token=" LABEL_A " remove_after=3\n");
	for (i = 0; i < 3; i++)
		CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&ta), CKR_DEVICE_REMOVED);
	CHECK_EQ(f->C_GetTokenInfo(ta.slot, &ti), CKR_TOKEN_NOT_PRESENT);
	CHECK_EQ(f->C_OpenSession(ta.slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
		 CKR_TOKEN_NOT_PRESENT);
	CHECK_EQ(f->C_GetSlotInfo(ta.slot, &si), CKR_OK);
	CHECK(!(si.flags & CKF_TOKEN_PRESENT));
	CHECK_EQ(f->C_GetSlotInfo(tb.slot, &si), CKR_OK);
	CHECK(si.flags & CKF_TOKEN_PRESENT);
	for (i = 0; i < 5; i++)
		CHECK_EQ(sign(&tb), CKR_OK);
	/* The same file again: still removed. */
	control("token=" LABEL_A " remove_after=3\n");
	CHECK_EQ(sign(&ta), CKR_DEVICE_REMOVED);

	control("token=" LABEL_A " remove_after=0\n");
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(f->C_GetTokenInfo(ta.slot, &ti), CKR_OK);

	/* Counted per token. */
	control("remove_after=2\n");
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_DEVICE_REMOVED);
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&ta), CKR_DEVICE_REMOVED);
	control(""); /* the line gone: both back */
	CHECK_EQ(sign(&ta), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	/* ... and counting from 0 when the same value comes back. */
	control("remove_after=2\n");
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_OK);
	CHECK_EQ(sign(&tb), CKR_DEVICE_REMOVED);
	control("");
}

static int count_lines(const char *path, const char *needle)
{
	char buf[8192], *p;
	int n = 0;

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

#define BAD_LINES 16

static void test_bad_lines(void)
{
	int saved, fd;

	fflush(stderr);
	saved = dup(2);
	fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);

	control("# a comment, and a blank line next\n"
		"\n"
		"nonsense\n"
		"sign_delay_ms=abc\n"
		"sign_error=CKR_NOT_A_THING\n"
		"sign_error_prob=1.5\n"
		"hang=maybe\n"
		"remove_after=-1\n"
		"slot=x hang=1\n"
		"token= hang=1\n"
		"token=" LABEL_A "\n"
		"token=\"" LABEL_A " sign_error=CKR_DEVICE_ERROR\n"
		"token=" LABEL_A " sign_error=CKR_DEVICE_ERROR bogus=1\n"
		"sign_delay_us=5-1\n"
		"sign_delay_ms=99999999999999999999\n"
		"login_error=0xZZ\n"
		"open_error_prob=nan\n"
		"token=abcdefghijklmnopqrstuvwxyz0123456789 hang=1\n"
		"sign_error=CKR_FUNCTION_FAILED signinit_error_prob=0\r\n");
	CHECK_EQ(sign(&ta), CKR_FUNCTION_FAILED);
	CHECK_EQ(sign(&tb), CKR_FUNCTION_FAILED);
	/* Re-read, unchanged: no second round of complaints. */
	sleep_ms(60);
	CHECK_EQ(sign(&ta), CKR_FUNCTION_FAILED);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	CHECK_EQ(count_lines(err_path, "line ignored"), BAD_LINES);
	control("");
	CHECK_EQ(sign(&ta), CKR_OK);
}

struct worker {
	pthread_t th;
	CK_SESSION_HANDLE s;
	int ok, err, other;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	CK_RV rv;
	int i;

	for (i = 0; i < 25; i++) {
		rv = sign_on(&ta, w->s);
		w->ok += rv == CKR_OK;
		w->err += rv == CKR_DEVICE_ERROR;
		w->other += rv != CKR_OK && rv != CKR_DEVICE_ERROR;
	}
	return NULL;
}

/* Several threads sign while the control changes under them (for TSan). */
static void test_threads(void)
{
	struct worker w[4] = { 0 };
	int i, ok = 0, err = 0, other = 0;

	control("sign_delay_us=200-800 sign_error_prob=0.3\n"
		"token=\"" LABEL_B "\" remove_after=1\n");
	for (i = 0; i < 4; i++) {
		CHECK_EQ(f->C_OpenSession(ta.slot, CKF_SERIAL_SESSION, NULL,
					  NULL, &w[i].s), CKR_OK);
		CHECK(pthread_create(&w[i].th, NULL, worker_run, &w[i]) == 0);
	}
	sleep_ms(20);
	control_now("sign_delay_us=100-300 sign_error_prob=0.5\n");
	sleep_ms(60);
	control_now("sign_error_prob=0.1\ntoken=" LABEL_A " sign_delay_us=50\n");
	for (i = 0; i < 4; i++) {
		pthread_join(w[i].th, NULL);
		CHECK_EQ(f->C_CloseSession(w[i].s), CKR_OK);
		ok += w[i].ok;
		err += w[i].err;
		other += w[i].other;
	}
	CHECK_EQ(other, 0);
	CHECK(ok > 0 && err > 0);
	CHECK_EQ(ok + err, 100);
	control("");
}

static void test_missing_again(void)
{
	control("sign_error=CKR_DEVICE_ERROR\n");
	CHECK_EQ(sign(&ta), CKR_DEVICE_ERROR);
	CHECK(unlink(ctl_path) == 0);
	sleep_ms(60);
	CHECK_EQ(sign(&ta), CKR_OK);
}

static long long stat_value(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? atoll(p + strlen(name)) : -1;
}

static void test_stats(void)
{
	char buf[1024];

	CHECK(read_file(stats_path, buf, sizeof(buf)) > 0);
	CHECK(stat_value(buf, "\nsigns=") > 100);
	CHECK(stat_value(buf, "\nsigns_ok=") > 50);
	CHECK(stat_value(buf, "\nerrors=") > 10);
	CHECK(stat_value(buf, "\ndelays=") > 20);
	CHECK(stat_value(buf, "\ndelay_us=") > 40000);
	CHECK_EQ(stat_value(buf, "\nhangs="), 2);
	CHECK(stat_value(buf, "\nremoved=") >= 7);
	CHECK_EQ(stat_value(buf, "\nbad_lines="), BAD_LINES);
	CHECK(stat_value(buf, "\ncontrol_changes=") > 30);
}

/* ---- main ---------------------------------------------------------------- */

static int setup_env(void)
{
	char conf[128], tokens[128], text[256];

	snprintf(dir, sizeof(dir), "/tmp/p11fault-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(ctl_path, sizeof(ctl_path), "%s/control", dir);
	snprintf(stats_path, sizeof(stats_path), "%s/stats", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
	snprintf(text, sizeof(text),
		 "directories.tokendir = %s\nobjectstore.backend = file\n"
		 "log.level = ERROR\n", tokens);
	if (mkdir(tokens, 0700) || write_file(conf, text))
		return -1;
	setenv("SOFTHSM2_CONF", conf, 1);
	setenv("IDGATE_P11FAULT_MODULE", SOFTHSM, 0);
	setenv("IDGATE_P11FAULT_CONTROL", ctl_path, 1);
	setenv("IDGATE_P11FAULT_STATS", stats_path, 1);
	return 0;
}

int main(void)
{
	const char *so = getenv("IDGATE_P11FAULT_SO");
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	void *h;

	if (!so || !*so)
		so = "bin/libidgate-p11fault.so";
	if (access(SOFTHSM, R_OK) != 0 || access(so, R_OK) != 0) {
		printf("p11fault_test: no %s: skipped\n",
		       access(so, R_OK) ? so : SOFTHSM);
		return 77;
	}
	if (setup_env()) {
		perror("p11fault_test: temporary directory");
		return 1;
	}
	test_load_failures(so);
	h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("p11fault_test: %s: skipped\n", dlerror());
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 77;
	}
	get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	CHECK(get != NULL);
	if (!get || get(&f) != CKR_OK || f->C_Initialize(&args) != CKR_OK ||
	    make_token(&ta) || make_token(&tb)) {
		fprintf(stderr, "p11fault_test: SoftHSM setup failed\n");
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	test_load(get);
	test_no_control();
	test_fixed_delay();
	test_distributions();
	test_errors();
	test_scopes();
	test_hang();
	test_removal();
	test_bad_lines();
	test_threads();
	test_missing_again();
	CHECK_EQ(f->C_CloseAllSessions(ta.slot), CKR_OK);
	CHECK_EQ(f->C_CloseAllSessions(tb.slot), CKR_OK);
	CHECK_EQ(f->C_Finalize(NULL), CKR_OK);
	test_stats();
	dlclose(h);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_done("p11fault_test");
}
