/*
 * p11fault.c - libidgate-p11fault.so, a PKCS#11 module for tests and
 * benchmarks that forwards every call to a real module (SoftHSM) and
 * injects faults a test can change while the server runs.
 *
 * Environment (read when the module is loaded):
 *   IDGATE_P11FAULT_MODULE   the real module to forward to (required)
 *   IDGATE_P11FAULT_CONTROL  a control file, re-read at most every 50 ms;
 *                            lines "name=value":
 *                              sign_delay_ms=N   added to every C_Sign
 *
 * Only C_GetFunctionList and C_Sign are ours: the function list is the
 * real module's, copied, with C_Sign replaced, so every other call goes
 * straight through.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST fl;
static CK_FUNCTION_LIST_PTR real;
static CK_C_Sign real_sign;
static volatile long sign_delay_ms;
static volatile long long next_read_ns;

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Re-read the control file now and then.  Races between HSM threads only
 * make two of them read it: harmless. */
static void control(void)
{
	const char *path = getenv("IDGATE_P11FAULT_CONTROL");
	long long now = mono_ns();
	char line[128];
	FILE *f;
	long delay = 0;

	if (!path || now < next_read_ns)
		return;
	next_read_ns = now + 50000000LL;
	f = fopen(path, "r");
	if (!f) {
		sign_delay_ms = 0;
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "sign_delay_ms=%ld", &delay) == 1)
			break;
	fclose(f);
	sign_delay_ms = delay;
}

static CK_RV fault_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len,
			CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	control();
	if (sign_delay_ms > 0 && sig) {
		struct timespec ts = { sign_delay_ms / 1000, (sign_delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	return real_sign(s, data, len, sig, siglen);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *path = getenv("IDGATE_P11FAULT_MODULE");
	CK_C_GetFunctionList get;
	void *h;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	if (!real) {
		if (!path)
			return CKR_GENERAL_ERROR;
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			return CKR_GENERAL_ERROR;
		get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
		if (!get || get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		fl = *real;
		real_sign = real->C_Sign;
		fl.C_Sign = fault_sign;
	}
	*out = &fl;
	return CKR_OK;
}
