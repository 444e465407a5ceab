/*
 * p11sign - the raw HSM reference for the signing benchmark: ECDSA P-256
 * C_Sign calls per second straight through PKCS#11, one session per
 * thread, no server in between.  With --unwrap each operation first
 * unwraps a key wrapped under the token's wrapping key (what a signature
 * with a citizen's key costs when it is not in the cache), signs, and
 * destroys the session object.
 *
 *   p11sign MODULE TOKEN PIN_FILE THREADS SECONDS [--unwrap]
 *
 * Prints one line: "<n> signatures in <s> s with <t> thread(s): <rate>/s".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../hsm/p11.h"
#include "../hsm/wrapped.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static int unwrap_mode;
static double seconds;
static atomic_ulong total;
static struct hsm_wrapped blob; /* a key wrapped under idgate-wrap */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, wrap = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	struct hsm_keycache cache;
	uint8_t digest[32] = "p11sign reference digest .......", sig[132];
	const char *why;
	unsigned long n = 0;
	double end;

	(void)arg;
	memset(&cache, 0, sizeof(cache));
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return NULL;
	if (hsm_p11_find_object(f, s, CKO_PRIVATE_KEY, "idgate-issuer", &key, &why) != 1 ||
	    hsm_p11_find_object(f, s, CKO_SECRET_KEY, "idgate-wrap", &wrap, &why) != 1) {
		fprintf(stderr, "p11sign: the token lacks idgate-issuer or idgate-wrap\n");
		exit(1);
	}
	end = now_s() + seconds;
	while (now_s() < end) {
		for (int i = 0; i < 16; i++, n++) {
			CK_ULONG len = sizeof(sig);

			if (unwrap_mode) {
				struct hsm_wrapped x = blob;

				/* a new id each time: always a cache miss */
				memcpy(x.cred_id, &n, sizeof(n));
				x.n = 1;
				if (hsm_wrapped_sign(f, s, wrap, &cache, 1, &x) != CKR_OK)
					exit(1);
				continue;
			}
			if (f->C_SignInit(s, &mech, key) != CKR_OK ||
			    f->C_Sign(s, digest, sizeof(digest), sig, &len) != CKR_OK)
				exit(1);
		}
	}
	atomic_fetch_add(&total, n);
	f->C_CloseSession(s);
	return NULL;
}

int main(int argc, char **argv)
{
	struct hsm_p11_module *m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE wrap;
	pthread_t tid[64];
	const char *why;
	unsigned threads;
	double t0, t1;
	CK_RV rv;

	if (argc < 6) {
		fprintf(stderr, "usage: p11sign MODULE TOKEN PIN_FILE THREADS SECONDS [--unwrap]\n");
		return 2;
	}
	threads = (unsigned)atoi(argv[4]);
	seconds = atof(argv[5]);
	unwrap_mode = argc > 6 && !strcmp(argv[6], "--unwrap");
	if (threads < 1 || threads > 64 || seconds <= 0)
		return 2;
	if (hsm_p11_module_get(argv[1], &m, &why) < 0 ||
	    hsm_p11_find_token(m->f, argv[2], &slot, &why) != 1) {
		fprintf(stderr, "p11sign: %s\n", why);
		return 1;
	}
	f = m->f;
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
	    hsm_p11_login(f, s, CKU_USER, argv[3], &rv, &why) < 0) {
		fprintf(stderr, "p11sign: login failed\n");
		return 1;
	}
	if (unwrap_mode) {
		blob.alg = HSM_ALG_EC_P256;
		if (hsm_p11_find_object(f, s, CKO_SECRET_KEY, "idgate-wrap", &wrap, &why) != 1 ||
		    hsm_wrapped_generate(f, s, wrap, &blob) != CKR_OK) {
			fprintf(stderr, "p11sign: cannot make a wrapped key\n");
			return 1;
		}
	}
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, run, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now_s();
	printf("%lu signatures in %.2f s with %u thread(s)%s: %.0f/s\n",
	       (unsigned long)atomic_load(&total), t1 - t0, threads,
	       unwrap_mode ? ", each unwrapping its key" : "",
	       (double)atomic_load(&total) / (t1 - t0));
	f->C_Logout(s);
	f->C_CloseSession(s);
	hsm_p11_module_put(m);
	return 0;
}
