/*
 * provision.c - first-start SoftHSM provisioning for the embedded defaults.
 *
 * Everything goes through the PKCS#11 module itself, not softhsm2-util, so
 * PINs never appear on a command line (visible in /proc to every user).
 * Each step checks what exists first, so running it again changes nothing:
 *
 *   softhsm2.conf, tokens/     rewritten / created if missing
 *   token <label>              C_InitToken with a fresh SO PIN if missing
 *   user PIN                   C_InitPIN if the token has none yet
 *   key pair <key_label>       C_GenerateKeyPair if no private key has it
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#include "../common/rand.h"
#include "hsm.h"
#include "p11.h"
#include "x509.h"

#define HSM_SO_PIN_FILE "hsm-so.pin"
#define HSM_USER_PIN_FILE "hsm.pin"

/* Paths under the state dir; long enough for any name we append. */
struct hsm_prov {
	CK_FUNCTION_LIST_PTR f;
	char dir[PATH_MAX];
	char so_pin_file[PATH_MAX + 16];
	char pin_file[PATH_MAX + 16];
};

static int hsm_prov_mkdir(const char *path, const char **why)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		*why = hsm_p11_why_str("cannot create directory",
				       strerror(errno));
		return IG_EUSAGE;
	}
	IG_ENSURE(stat(path, &st) == 0 && S_ISDIR(st.st_mode), IG_EUSAGE, why,
		  "HSM state path exists and is not a directory");
	return IG_OK;
}

static int hsm_prov_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* SoftHSM reads SOFTHSM2_CONF at C_Initialize; its tokendir is absolute so
 * the server's working directory does not matter later. */
static int hsm_prov_conf(struct hsm_prov *p, const char **why)
{
	char conf[PATH_MAX + 32], tmp[PATH_MAX + 48], text[PATH_MAX + 128];
	int fd, n, bad;

	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", p->dir);
	snprintf(tmp, sizeof(tmp), "%s/softhsm2.conf.tmp", p->dir);
	n = snprintf(text, sizeof(text),
		     "# Written by idgate at first start (hsm_provision_softhsm).\n"
		     "directories.tokendir = %s/tokens\n"
		     "objectstore.backend = file\n"
		     "log.level = ERROR\n",
		     p->dir);
	IG_ENSURE(n > 0 && (size_t)n < sizeof(text), IG_EUSAGE, why,
		  "HSM state dir path too long");
	/* Write aside and rename, so a crash never leaves half a file. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		*why = hsm_p11_why_str("cannot write softhsm2.conf",
				       strerror(errno));
		return IG_EUSAGE;
	}
	bad = hsm_prov_write_all(fd, text, (size_t)n) != 0 || fsync(fd) != 0;
	bad |= close(fd) != 0;
	if (bad || rename(tmp, conf) != 0) {
		unlink(tmp);
		*why = "cannot write softhsm2.conf";
		return IG_EUSAGE;
	}
	IG_ENSURE(setenv("SOFTHSM2_CONF", conf, 1) == 0, IG_ENOMEM, why,
		  "setenv SOFTHSM2_CONF failed");
	return IG_OK;
}

static int hsm_prov_paths(struct hsm_prov *p, const char *state_dir,
			  const char **why)
{
	char tokens[PATH_MAX + 16];

	IG_GUARD(hsm_prov_mkdir(state_dir, why));
	IG_ENSURE(realpath(state_dir, p->dir), IG_EUSAGE, why,
		  "cannot resolve the HSM state dir");
	/* The path goes into a line-based config file. */
	IG_ENSURE(!strchr(p->dir, '\n'), IG_EUSAGE, why,
		  "HSM state dir path contains a newline");
	IG_ENSURE(strlen(p->dir) < PATH_MAX - 32, IG_EUSAGE, why,
		  "HSM state dir path too long");
	snprintf(tokens, sizeof(tokens), "%s/tokens", p->dir);
	snprintf(p->so_pin_file, sizeof(p->so_pin_file), "%s/" HSM_SO_PIN_FILE,
		 p->dir);
	snprintf(p->pin_file, sizeof(p->pin_file), "%s/" HSM_USER_PIN_FILE,
		 p->dir);
	return hsm_prov_mkdir(tokens, why);
}

/* 16 random bytes as 32 hex digits: 128 bits, printable for any module. */
static int hsm_prov_random_pin(char pin[33], const char **why)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[16];

	IG_ENSURE(ig_random(raw, sizeof(raw)) == IG_OK, IG_EINTERNAL, why,
		  "no random bytes from the kernel");
	for (size_t i = 0; i < sizeof(raw); i++) {
		pin[2 * i] = hex[raw[i] >> 4];
		pin[2 * i + 1] = hex[raw[i] & 15];
	}
	pin[32] = '\0';
	mbedtls_platform_zeroize(raw, sizeof(raw));
	return IG_OK;
}

/* Create <path> with mode 0600 holding <pin> and a newline; never replace
 * an existing file (O_EXCL). */
static int hsm_prov_write_pin(const char *path, const char *pin,
			      const char **why)
{
	char line[40];
	size_t n = strlen(pin);
	int fd, bad;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 && errno == EEXIST) {
		*why = "a PIN file exists in the HSM state dir but its token "
		       "does not: restore tokens/ or remove hsm.pin and "
		       "hsm-so.pin";
		return IG_EUSAGE;
	}
	if (fd < 0) {
		*why = hsm_p11_why_str("cannot create a PIN file",
				       strerror(errno));
		return IG_EUSAGE;
	}
	memcpy(line, pin, n);
	line[n] = '\n';
	/* The umask can only take bits away; make the mode exact anyway. */
	bad = fchmod(fd, 0600) != 0;
	bad |= hsm_prov_write_all(fd, line, n + 1) != 0;
	bad |= fsync(fd) != 0;
	bad |= close(fd) != 0;
	mbedtls_platform_zeroize(line, sizeof(line));
	if (bad) {
		unlink(path);
		*why = "cannot write a PIN file";
		return IG_EINTERNAL;
	}
	return IG_OK;
}

static int hsm_prov_fail(const char *what, CK_RV rv, const char **why)
{
	*why = hsm_p11_why(what, rv);
	return IG_EINTERNAL;
}

/* Find the token <label>; fine when it does not exist (returns 0). */
static int hsm_prov_find(struct hsm_prov *p, const char *label,
			 CK_SLOT_ID *slot, const char **why)
{
	int n = hsm_p11_find_token(p->f, label, slot, why);

	IG_GUARD(n);
	IG_ENSURE(n < 2, IG_EUSAGE, why,
		  "more than one token has that label");
	return n;
}

/*
 * Give the token its user PIN (PKCS#11 v2.40 §5.6 C_InitPIN, which needs
 * an SO session), both read from their files.  Also the way out of a crash
 * between C_InitToken and C_InitPIN.
 */
static int hsm_prov_init_pin(struct hsm_prov *p, CK_SLOT_ID slot,
			     const char **why)
{
	CK_SESSION_HANDLE s;
	char pin[256];
	CK_RV rv;
	int len, rc;

	rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &s);
	if (rv != CKR_OK)
		return hsm_prov_fail("C_OpenSession", rv, why);
	rc = hsm_p11_login(p->f, s, CKU_SO, p->so_pin_file, &rv, why);
	if (rc < 0)
		goto out;
	len = hsm_p11_read_pin(p->pin_file, pin, sizeof(pin), why);
	if (len < 0) {
		rc = len;
		goto out_logout;
	}
	rv = p->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)len);
	mbedtls_platform_zeroize(pin, sizeof(pin));
	if (rv != CKR_OK)
		rc = hsm_prov_fail("C_InitPIN", rv, why);
out_logout:
	p->f->C_Logout(s);
out:
	p->f->C_CloseSession(s);
	return rc;
}

/*
 * Create the token: fresh SO and user PINs go to their files first (so a
 * token never exists whose PIN we lost), then C_InitToken (§5.5) on a free
 * slot, then C_InitPIN.
 */
static int hsm_prov_new_token(struct hsm_prov *p, const char *label,
			      CK_SLOT_ID *slot, const char **why)
{
	unsigned char padded[32];
	char so_pin[33], user_pin[33];
	CK_SLOT_ID free_slot;
	CK_RV rv;
	int rc;

	IG_GUARD(hsm_p11_pad_label(label, padded));
	IG_GUARD(hsm_p11_free_slot(p->f, &free_slot, why));
	rc = hsm_prov_random_pin(so_pin, why);
	if (rc == IG_OK)
		rc = hsm_prov_random_pin(user_pin, why);
	if (rc == IG_OK)
		rc = hsm_prov_write_pin(p->so_pin_file, so_pin, why);
	if (rc == IG_OK) {
		rc = hsm_prov_write_pin(p->pin_file, user_pin, why);
		if (rc < 0)
			unlink(p->so_pin_file);
	}
	mbedtls_platform_zeroize(user_pin, sizeof(user_pin));
	if (rc < 0) {
		mbedtls_platform_zeroize(so_pin, sizeof(so_pin));
		return rc;
	}
	rv = p->f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin, 32, padded);
	mbedtls_platform_zeroize(so_pin, sizeof(so_pin));
	if (rv != CKR_OK) {
		/* No token holds these PINs: do not leave them behind. */
		unlink(p->so_pin_file);
		unlink(p->pin_file);
		return hsm_prov_fail("C_InitToken", rv, why);
	}
	/* SoftHSM gives an initialized token a new slot ID: look again. */
	rc = hsm_prov_find(p, label, slot, why);
	IG_GUARD(rc);
	IG_ENSURE(rc == 1, IG_EINTERNAL, why,
		  "the token is not found after C_InitToken");
	return hsm_prov_init_pin(p, *slot, why);
}

static int hsm_prov_token(struct hsm_prov *p, const char *label,
			  CK_SLOT_ID *slot, const char **why)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int n;

	n = hsm_prov_find(p, label, slot, why);
	IG_GUARD(n);
	if (n == 0)
		return hsm_prov_new_token(p, label, slot, why);
	rv = p->f->C_GetTokenInfo(*slot, &ti);
	if (rv != CKR_OK)
		return hsm_prov_fail("C_GetTokenInfo", rv, why);
	if (!(ti.flags & CKF_USER_PIN_INITIALIZED))
		return hsm_prov_init_pin(p, *slot, why);
	return IG_OK;
}

/* The keys behind citizens' signing credentials: the AES-256 wrapping
 * key and the built-in CA's EC P-256 key (wrapped.h, hsm.h). */
static int hsm_prov_citizen_keys(struct hsm_prov *p, CK_SESSION_HANDLE s,
				 const char **why)
{
	static const char wrap[] = "idgate-wrap", ca[] = "idgate-ca";
	CK_OBJECT_HANDLE h;
	int n;

	n = hsm_p11_find_object(p->f, s, CKO_SECRET_KEY, wrap, &h, why);
	if (n == 0)
		n = hsm_p11_generate_wrap_key(p->f, s, wrap, (const uint8_t *)wrap,
					      strlen(wrap), why);
	IG_GUARD(n);
	n = hsm_p11_find_object(p->f, s, CKO_PRIVATE_KEY, ca, &h, why);
	if (n == 0)
		n = hsm_p11_generate_pair(p->f, s, "EC P-256", ca, (const uint8_t *)ca,
					  strlen(ca), why);
	IG_GUARD(n);
	return IG_OK;
}

static int hsm_prov_key(struct hsm_prov *p, CK_SLOT_ID slot,
			const char *key_label, const char **why)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int rc, npriv, npub;

	rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &s);
	if (rv != CKR_OK)
		return hsm_prov_fail("C_OpenSession", rv, why);
	rc = hsm_p11_login(p->f, s, CKU_USER, p->pin_file, &rv, why);
	if (rc < 0)
		goto out;
	npriv = hsm_p11_find_object(p->f, s, CKO_PRIVATE_KEY, key_label, &h,
				    why);
	npub = npriv < 0 ? npriv : hsm_p11_find_object(p->f, s, CKO_PUBLIC_KEY,
						       key_label, &h, why);
	if (npub < 0)
		rc = npub;
	else if (npriv == 0 && npub == 0)
		rc = hsm_p11_generate_pair(p->f, s, "EC P-256", key_label,
					   (const uint8_t *)key_label,
					   strlen(key_label), why); /* CKA_ID = label */
	else if (npriv != 1 || npub != 1) {
		*why = "the token holds an incomplete or duplicated key pair "
		       "under that key label";
		rc = IG_EUSAGE;
	}
	if (rc == IG_OK)
		rc = hsm_prov_citizen_keys(p, s, why);
	p->f->C_Logout(s);
out:
	p->f->C_CloseSession(s);
	return rc;
}

int hsm_provision_softhsm(const char *state_dir, const char *module,
			  const char *label, const char *key_label,
			  const char **why)
{
	return hsm_provision_softhsm_pins(state_dir, module, label, key_label,
					  NULL, NULL, why);
}

int hsm_provision_softhsm_pins(const char *state_dir, const char *module,
			       const char *label, const char *key_label,
			       const char *pin_file, const char *so_pin_file,
			       const char **why)
{
	struct hsm_p11_module *m;
	struct hsm_prov p = { 0 };
	unsigned char padded[32];
	const char *ignored;
	CK_SLOT_ID slot;
	int rc;

	if (!why)
		why = &ignored;
	IG_ENSURE(state_dir && *state_dir, IG_EUSAGE, why,
		  "no HSM state dir");
	IG_ENSURE(hsm_p11_pad_label(label, padded) == IG_OK, IG_EUSAGE, why,
		  "token label must be 1 to 32 bytes");
	IG_ENSURE(key_label && *key_label && strlen(key_label) <= 255,
		  IG_EUSAGE, why, "key label must be 1 to 255 bytes");
	IG_GUARD(hsm_prov_paths(&p, state_dir, why));
	IG_ENSURE(!pin_file || strncmp(pin_file, "env:", 4), IG_EUSAGE, why,
		  "a SoftHSM token made in the state dir keeps its PIN in a file: "
		  "pin_file cannot be env:NAME");
	if (pin_file) {
		IG_ENSURE(so_pin_file && strlen(pin_file) < sizeof(p.pin_file) &&
			  strlen(so_pin_file) < sizeof(p.so_pin_file), IG_EUSAGE, why,
			  "PIN file paths too long");
		strcpy(p.pin_file, pin_file);
		strcpy(p.so_pin_file, so_pin_file);
	}
	IG_GUARD(hsm_prov_conf(&p, why));
	IG_GUARD(hsm_p11_module_get(module, &m, why));
	/* SoftHSM reads its configuration in C_Initialize: a module already
	 * initialized in this process would not see ours. */
	if (m->refs > 1 || !m->finalize) {
		hsm_p11_module_put(m);
		*why = "the PKCS#11 module is already in use in this process: "
		       "provision before hsm_start";
		return IG_EUSAGE;
	}
	p.f = m->f;
	rc = hsm_prov_token(&p, label, &slot, why);
	if (rc == IG_OK)
		rc = hsm_prov_key(&p, slot, key_label, why);
	hsm_p11_module_put(m);
	return rc;
}

/* ---- the built-in CA's certificate ---------------------------------------- */

struct hsm_prov_signer {
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
};

/* pubkey_sign_fn over PKCS#11 CKM_ECDSA: the digest in, raw r||s out. */
static int hsm_prov_sign(void *ctx, const uint8_t *digest, size_t len,
			 uint8_t *sig, size_t *sig_len)
{
	struct hsm_prov_signer *k = ctx;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG n = *sig_len;

	if (k->f->C_SignInit(k->s, &mech, k->key) != CKR_OK ||
	    k->f->C_Sign(k->s, (CK_BYTE_PTR)digest, len, sig, &n) != CKR_OK)
		return -1;
	*sig_len = n;
	return 0;
}

int hsm_provision_ca_cert(const char *module, const char *token,
			  const char *pin_file, const char *subject, unsigned days,
			  const char *path, const char **why)
{
	struct hsm_prov_signer k = { 0 };
	struct hsm_p11_module *m;
	struct pubkey pub;
	struct x509_spec spec;
	CK_OBJECT_HANDLE hpub;
	CK_SLOT_ID slot;
	CK_RV rv;
	uint8_t a[64], b[160], der[4096], serial[16];
	char pem[6000];
	size_t alen, blen, len;
	int64_t now = (int64_t)time(NULL);
	int rc, fd;

	if (access(path, F_OK) == 0)
		return IG_OK;
	IG_GUARD(hsm_p11_module_get(module, &m, why));
	k.f = m->f;
	rc = hsm_p11_find_token(k.f, token, &slot, why);
	if (rc != 1) {
		hsm_p11_module_put(m);
		*why = rc < 0 ? *why : "no token with that label for the CA certificate";
		return rc < 0 ? rc : IG_EUSAGE;
	}
	rv = k.f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &k.s);
	if (rv != CKR_OK) {
		hsm_p11_module_put(m);
		return hsm_prov_fail("C_OpenSession", rv, why);
	}
	rc = hsm_p11_login(k.f, k.s, CKU_USER, pin_file, &rv, why);
	if (rc == IG_OK &&
	    (hsm_p11_find_object(k.f, k.s, CKO_PRIVATE_KEY, "idgate-ca", &k.key, why) != 1 ||
	     hsm_p11_find_object(k.f, k.s, CKO_PUBLIC_KEY, "idgate-ca", &hpub, why) != 1 ||
	     hsm_p11_get_bytes(k.f, k.s, hpub, CKA_EC_PARAMS, a, sizeof(a), &alen) ||
	     hsm_p11_get_bytes(k.f, k.s, hpub, CKA_EC_POINT, b, sizeof(b), &blen) ||
	     pubkey_from_ec(&pub, a, alen, b, blen, why))) {
		*why = "the token has no usable CA key pair labelled idgate-ca";
		rc = IG_EUSAGE;
	}
	if (rc == IG_OK && ig_random(serial, sizeof(serial)) != IG_OK) {
		*why = "no random bytes from the kernel";
		rc = IG_EINTERNAL;
	}
	if (rc == IG_OK) {
		serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01);
		spec = (struct x509_spec){
			.subject = subject, .issuer = subject, .serial_len = sizeof(serial),
			.not_before = now - 60, .not_after = now + (int64_t)days * 86400,
			.subject_key = &pub, .issuer_key = &pub, .is_ca = 1,
		};
		memcpy(spec.serial, serial, sizeof(serial));
		rc = x509_issue(&spec, hsm_prov_sign, &k, der, sizeof(der), &len, why);
	}
	if (rc == IG_OK && x509_pem(der, len, pem, sizeof(pem)) < 0) {
		*why = "formatting the CA certificate";
		rc = IG_EINTERNAL;
	}
	if (rc == IG_OK) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || hsm_prov_write_all(fd, pem, strlen(pem)) < 0) {
			*why = "cannot write the CA certificate";
			rc = IG_EINTERNAL;
		}
		if (fd >= 0)
			close(fd);
	}
	k.f->C_Logout(k.s);
	k.f->C_CloseSession(k.s);
	hsm_p11_module_put(m);
	return rc;
}
