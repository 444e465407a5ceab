/*
 * x509.c - certificates issued by the HSM-held CA, DN strings, and the
 * facts read back from a certificate.  See x509.h for the contracts.
 *
 * The DER is written here rather than with OpenSSL's X509 builders: the
 * HSM signs on a worker loop, so the TBSCertificate must exist as bytes
 * before its signature does, which OpenSSL's X509_sign flow does not
 * offer.  OpenSSL then parses every finished certificate and checks its
 * signature, and the tests compare the result with what OpenSSL and the
 * `openssl` command read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "x509.h"

enum {
	TAG_BOOLEAN = 0x01,
	TAG_INTEGER = 0x02,
	TAG_BIT_STRING = 0x03,
	TAG_OCTET_STRING = 0x04,
	TAG_OID = 0x06,
	TAG_UTF8_STRING = 0x0c,
	TAG_PRINTABLE_STRING = 0x13,
	TAG_UTC_TIME = 0x17,
	TAG_GENERALIZED_TIME = 0x18,
	TAG_SEQUENCE = 0x30,
	TAG_SET = 0x31,
	TAG_EXPLICIT_0 = 0xa0, /* TBSCertificate.version */
	TAG_EXPLICIT_3 = 0xa3, /* TBSCertificate.extensions */
	TAG_IMPLICIT_0 = 0x80, /* AuthorityKeyIdentifier.keyIdentifier */
};

/* ---- writing DER into a caller's buffer ---- */

/*
 * A constructed element is opened with one length octet reserved and,
 * once its contents are written, closed: the contents move up when the
 * length needs the long form.  Running out of room is sticky; every later
 * write does nothing, so a caller checks <over> once at the end.
 */
struct w {
	uint8_t *buf;
	size_t cap, n;
	int over;
};

static void w_bytes(struct w *w, const void *p, size_t len)
{
	if (w->over || len > w->cap - w->n) {
		w->over = 1;
		return;
	}
	if (len)
		memcpy(w->buf + w->n, p, len);
	w->n += len;
}

static void w_byte(struct w *w, uint8_t b)
{
	w_bytes(w, &b, 1);
}

/* X.690 §8.1.3 / §10.1: the definite form in the fewest octets.  Nothing
 * written here reaches 64 KiB. */
static size_t len_octets(size_t len, uint8_t out[3])
{
	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		out[0] = 0x81;
		out[1] = (uint8_t)len;
		return 2;
	}
	out[0] = 0x82;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	return 3;
}

/* A primitive element whose contents are known. */
static void w_tlv(struct w *w, uint8_t tag, const void *v, size_t len)
{
	uint8_t l[3];

	if (len >= 0x10000) {
		w->over = 1;
		return;
	}
	w_byte(w, tag);
	w_bytes(w, l, len_octets(len, l));
	w_bytes(w, v, len);
}

/* Open a constructed element; returns where its contents start. */
static size_t w_open(struct w *w, uint8_t tag)
{
	w_byte(w, tag);
	w_byte(w, 0);
	return w->n;
}

static void w_close(struct w *w, size_t at)
{
	uint8_t l[3];
	size_t len, ll;

	if (w->over)
		return;
	len = w->n - at;
	if (len >= 0x10000) {
		w->over = 1;
		return;
	}
	ll = len_octets(len, l);
	if (ll - 1 > w->cap - w->n) {
		w->over = 1;
		return;
	}
	memmove(w->buf + at + ll - 1, w->buf + at, len);
	memcpy(w->buf + at - 1, l, ll);
	w->n += ll - 1;
}

/* The INTEGER whose magnitude is <v>, big-endian (X.690 §8.3.2: minimal
 * octets, a 00 first when the top bit is set, so it stays positive). */
static void w_uint(struct w *w, const uint8_t *v, size_t len)
{
	size_t at;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	at = w_open(w, TAG_INTEGER);
	if (len == 0 || v[0] & 0x80)
		w_byte(w, 0);
	w_bytes(w, v, len);
	w_close(w, at);
}

/* ---- reading one DER header ---- */

/* The tag and lengths of the element at <p> (<n> bytes available): single
 * octet tags, definite minimal lengths up to 64 KiB.  0, or -1. */
static int r_hdr(const uint8_t *p, size_t n, uint8_t *tag, size_t *hlen,
		 size_t *clen)
{
	size_t len;

	if (n < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = p[0];
	if (p[1] < 0x80) {
		len = p[1];
		*hlen = 2;
	} else if (p[1] == 0x81 && n >= 3 && p[2] >= 0x80) {
		len = p[2];
		*hlen = 3;
	} else if (p[1] == 0x82 && n >= 4 && p[2] != 0) {
		len = (size_t)p[2] << 8 | p[3];
		*hlen = 4;
	} else {
		return -1;
	}
	if (len > n - *hlen)
		return -1;
	*clen = len;
	return 0;
}

/* ---- DN strings to DER Names, RFC 4514 -> RFC 5280 §4.1.2.4 ---- */

#define DN_MAX_RDNS 16

/* The same reason for either role: "subject: ..." or "issuer: ...". */
#define DN_WHY(role, msg)                                                      \
	((role) == X509_DN_ISSUER ? "issuer: " msg : "subject: " msg)

struct rdn {
	const uint8_t *oid; /* full TLV */
	uint8_t tag;        /* TAG_UTF8_STRING or TAG_PRINTABLE_STRING */
	const char *val;
	size_t len;
};

/* The attribute types we write, their OIDs (X.520, 2.5.4.x) and the
 * RFC 5280 Appendix A upper bounds on their lengths, in characters. */
static const struct {
	const char *name;
	uint8_t oid[5];
	uint8_t tag;
	unsigned max;
} dn_types[] = {
	{ "CN", { 0x06, 0x03, 0x55, 0x04, 0x03 }, TAG_UTF8_STRING, 64 },
	{ "serialNumber", { 0x06, 0x03, 0x55, 0x04, 0x05 }, TAG_PRINTABLE_STRING, 64 },
	{ "C", { 0x06, 0x03, 0x55, 0x04, 0x06 }, TAG_PRINTABLE_STRING, 2 },
	{ "L", { 0x06, 0x03, 0x55, 0x04, 0x07 }, TAG_UTF8_STRING, 128 },
	{ "ST", { 0x06, 0x03, 0x55, 0x04, 0x08 }, TAG_UTF8_STRING, 128 },
	{ "O", { 0x06, 0x03, 0x55, 0x04, 0x0a }, TAG_UTF8_STRING, 64 },
	{ "OU", { 0x06, 0x03, 0x55, 0x04, 0x0b }, TAG_UTF8_STRING, 64 },
};

/* The number of characters in the well-formed UTF-8 string <s> (RFC 3629
 * §4: no overlong forms, no surrogates, nothing above U+10FFFF), or -1. */
static long utf8_chars(const uint8_t *s, size_t n)
{
	long chars = 0;
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t more;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			chars++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return -1;
		}
		if (more > n - i - 1)
			return -1;
		for (size_t j = 1; j <= more; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += more + 1;
		chars++;
	}
	return chars;
}

/* X.680 §41.4 PrintableString, less the characters refused everywhere. */
static int printable(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || strchr(" '()-./:?", c);
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && **s == ' ') {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && (*s)[*n - 1] == ' ')
		(*n)--;
}

/* Check one TYPE=value component [<s>, <s> + <n>) into <r>. */
static int dn_rdn(const char *s, size_t n, int role, struct rdn *r,
		  const char **why)
{
	const char *eq = memchr(s, '=', n), *type = s, *val;
	size_t tlen, vlen, t;
	long chars;

	IG_ENSURE(eq, IG_EUSAGE, why,
		  DN_WHY(role, "each attribute must be TYPE=value (missing '=')"));
	tlen = (size_t)(eq - s);
	val = eq + 1;
	vlen = n - tlen - 1;
	trim(&type, &tlen);
	trim(&val, &vlen);
	IG_ENSURE(tlen > 0, IG_EUSAGE, why, DN_WHY(role, "attribute type is empty"));
	for (t = 0; t < IG_ARRAY_LEN(dn_types); t++)
		if (strlen(dn_types[t].name) == tlen &&
		    !strncasecmp(dn_types[t].name, type, tlen))
			break;
	IG_ENSURE(t < IG_ARRAY_LEN(dn_types), IG_EUSAGE, why,
		  DN_WHY(role, "unknown attribute type (allowed: CN, O, OU, C, L, ST, serialNumber)"));
	IG_ENSURE(vlen > 0, IG_EUSAGE, why, DN_WHY(role, "attribute value is empty"));
	for (size_t i = 0; i < vlen; i++) {
		uint8_t c = (uint8_t)val[i];

		IG_ENSURE(c >= 0x20 && c != 0x7f, IG_EUSAGE, why,
			  DN_WHY(role, "control character in a value"));
		/* RFC 4514 §2.4 escapes these; we take no escapes. */
		IG_ENSURE(!strchr("+=\\\"<>;", (char)c) && (i > 0 || c != '#'),
			  IG_EUSAGE, why,
			  DN_WHY(role, "value contains a character that needs escaping (+ = \\ \" < > ; or a leading #), which is not supported"));
		IG_ENSURE(dn_types[t].tag != TAG_PRINTABLE_STRING ||
				  printable((char)c),
			  IG_EUSAGE, why,
			  DN_WHY(role, "C and serialNumber take only PrintableString characters"));
	}
	chars = utf8_chars((const uint8_t *)val, vlen);
	IG_ENSURE(chars >= 0, IG_EUSAGE, why, DN_WHY(role, "value is not UTF-8"));
	IG_ENSURE((unsigned long)chars <= dn_types[t].max, IG_EUSAGE, why,
		  DN_WHY(role, "value longer than RFC 5280 allows (CN, O, OU, serialNumber 64; L, ST 128)"));
	if (dn_types[t].max == 2) {
		/* ISO 3166-1 alpha-2, upper case. */
		IG_ENSURE(vlen == 2 && val[0] >= 'A' && val[0] <= 'Z' &&
				  val[1] >= 'A' && val[1] <= 'Z',
			  IG_EUSAGE, why,
			  DN_WHY(role, "C must be a two-letter country code like HK"));
	}
	r->oid = dn_types[t].oid;
	r->tag = dn_types[t].tag;
	r->val = val;
	r->len = vlen;
	return IG_OK;
}

/* Split <dn> at commas; returns the number of RDNs. */
static int dn_parse(const char *dn, int role, struct rdn rdns[DN_MAX_RDNS],
		    const char **why)
{
	const char *p = dn;
	int count = 0;

	IG_ENSURE(dn && *dn, IG_EUSAGE, why,
		  role == X509_DN_ISSUER ? "issuer is empty" : "subject is empty");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *q = p;
		size_t m = n;

		trim(&q, &m);
		IG_ENSURE(m > 0, IG_EUSAGE, why,
			  DN_WHY(role, "empty attribute (two commas, or a comma at an end)"));
		IG_ENSURE(count < DN_MAX_RDNS, IG_EUSAGE, why,
			  DN_WHY(role, "more than 16 attributes"));
		IG_GUARD(dn_rdn(q, m, role, &rdns[count], why));
		count++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return count;
}

static void w_name(struct w *w, const struct rdn *rdns, int count)
{
	size_t name = w_open(w, TAG_SEQUENCE);

	/* RFC 4514 §2.1: the string starts with the last RDN of the
	 * sequence.  One attribute per RDN (no multi-valued RDNs). */
	for (int i = count - 1; i >= 0; i--) {
		size_t set = w_open(w, TAG_SET);
		size_t atv = w_open(w, TAG_SEQUENCE);

		w_bytes(w, rdns[i].oid, 2 + (size_t)rdns[i].oid[1]);
		w_tlv(w, rdns[i].tag, rdns[i].val, rdns[i].len);
		w_close(w, atv);
		w_close(w, set);
	}
	w_close(w, name);
}

int x509_name_der(const char *dn, int role, uint8_t *out, size_t cap,
		  size_t *len, const char **why)
{
	struct rdn rdns[DN_MAX_RDNS];
	struct w w = { .buf = out, .cap = cap };
	int count;

	count = dn_parse(dn, role, rdns, why);
	if (count < 0)
		return count;
	IG_ENSURE(out && len, IG_EUSAGE, why, "no output buffer for the name");
	w_name(&w, rdns, count);
	IG_ENSURE(!w.over, IG_EUSAGE, why, "output buffer too small for the name");
	*len = w.n;
	return IG_OK;
}

/* ---- algorithms, key identifiers, times ---- */

/* AlgorithmIdentifiers, full TLVs: ecdsa-with-SHA256/384
 * (1.2.840.10045.4.3.2/3) without parameters, RFC 5758 §3.2;
 * sha256WithRSAEncryption (1.2.840.113549.1.1.11) with NULL, RFC 4055 §5. */
static const uint8_t ALG_ECDSA_SHA256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t ALG_ECDSA_SHA384[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					    0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t ALG_RSA_SHA256[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a,
					  0x86, 0x48, 0x86, 0xf7, 0x0d,
					  0x01, 0x01, 0x0b, 0x05, 0x00 };

/* RFC 8017 §9.2 note 1: the DER DigestInfo of SHA-256 up to the hash. */
static const uint8_t DIGESTINFO_SHA256[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

static void w_sig_alg(struct w *w, const struct pubkey *k)
{
	if (k->kind == PUBKEY_RSA)
		w_bytes(w, ALG_RSA_SHA256, sizeof(ALG_RSA_SHA256));
	else if (k->kind == PUBKEY_EC_P256)
		w_bytes(w, ALG_ECDSA_SHA256, sizeof(ALG_ECDSA_SHA256));
	else
		w_bytes(w, ALG_ECDSA_SHA384, sizeof(ALG_ECDSA_SHA384));
}

/* The length of the signature the HSM gives for <k>: r||s, or the
 * modulus' length. */
static size_t sig_size(const struct pubkey *k)
{
	return k->kind == PUBKEY_RSA ? k->nlen : 2 * k->clen;
}

/* RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey BIT STRING without
 * its tag, length and unused-bits octet.  <spki> comes from
 * pubkey_spki_der, so its shape is known; 0, or -1. */
static int key_id(const uint8_t *spki, size_t len, uint8_t id[20])
{
	uint8_t tag;
	size_t h, c, h2, c2;
	const uint8_t *p;

	if (r_hdr(spki, len, &tag, &h, &c) || tag != TAG_SEQUENCE)
		return -1;
	p = spki + h; /* AlgorithmIdentifier, then the BIT STRING */
	if (r_hdr(p, c, &tag, &h2, &c2) || tag != TAG_SEQUENCE)
		return -1;
	c -= h2 + c2;
	p += h2 + c2;
	if (r_hdr(p, c, &tag, &h2, &c2) || tag != TAG_BIT_STRING || c2 < 2 ||
	    p[h2] != 0)
		return -1;
	return EVP_Digest(p + h2 + 1, c2 - 1, id, NULL, EVP_sha1(), NULL) ? 0 : -1;
}

_Static_assert(sizeof(time_t) >= 8, "dates up to 9999 need a 64-bit time_t");

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: four-digit years. */
#define TIME_MIN INT64_C(-62135596800)
#define TIME_MAX INT64_C(253402300799)

/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050
 * (and before 1950); both in Z with seconds and no fraction (§4.1.2.5.1,
 * §4.1.2.5.2).  0, or -1. */
static int w_time(struct w *w, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];
	int year, n;

	if (!gmtime_r(&tt, &tm))
		return -1;
	year = tm.tm_year + 1900;
	if (year >= 1950 && year <= 2049)
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ",
			     year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec);
	else
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", year,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec);
	if (n != (year >= 1950 && year <= 2049 ? 13 : 15))
		return -1;
	w_tlv(w, n == 13 ? TAG_UTC_TIME : TAG_GENERALIZED_TIME, s, (size_t)n);
	return 0;
}

/* basicConstraints (2.5.29.19) and keyUsage (2.5.29.15), critical, full
 * Extension TLVs (RFC 5280 §4.2.1.9, §4.2.1.3).  A CA: cA TRUE,
 * pathLenConstraint 0; keyCertSign (bit 5) | cRLSign (bit 6), the BIT
 * STRING 03 02 01 06.  An end entity: cA FALSE is the DEFAULT and DER
 * omits it (X.690 §11.5), leaving an empty SEQUENCE; digitalSignature
 * (bit 0) | nonRepudiation (bit 1), 03 02 06 c0. */
static const uint8_t EXT_BC_CA[] = { 0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13,
				     0x01, 0x01, 0xff, 0x04, 0x08, 0x30, 0x06,
				     0x01, 0x01, 0xff, 0x02, 0x01, 0x00 };
static const uint8_t EXT_BC_EE[] = { 0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13,
				     0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00 };
static const uint8_t EXT_KU_CA[] = { 0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f,
				     0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02,
				     0x01, 0x06 };
static const uint8_t EXT_KU_EE[] = { 0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f,
				     0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02,
				     0x06, 0xc0 };
/* subjectKeyIdentifier (2.5.29.14), authorityKeyIdentifier (2.5.29.35). */
static const uint8_t OID_SKI[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };
static const uint8_t OID_AKI[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };

static void w_extensions(struct w *w, int is_ca, const uint8_t ski[20],
			 const uint8_t aki[20])
{
	size_t outer = w_open(w, TAG_EXPLICIT_3);
	size_t exts = w_open(w, TAG_SEQUENCE);
	size_t ext, val, seq;

	if (is_ca) {
		w_bytes(w, EXT_BC_CA, sizeof(EXT_BC_CA));
		w_bytes(w, EXT_KU_CA, sizeof(EXT_KU_CA));
	} else {
		w_bytes(w, EXT_BC_EE, sizeof(EXT_BC_EE));
		w_bytes(w, EXT_KU_EE, sizeof(EXT_KU_EE));
	}
	/* SubjectKeyIdentifier ::= KeyIdentifier (OCTET STRING) */
	ext = w_open(w, TAG_SEQUENCE);
	w_bytes(w, OID_SKI, sizeof(OID_SKI));
	val = w_open(w, TAG_OCTET_STRING);
	w_tlv(w, TAG_OCTET_STRING, ski, 20);
	w_close(w, val);
	w_close(w, ext);
	/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] ... } */
	ext = w_open(w, TAG_SEQUENCE);
	w_bytes(w, OID_AKI, sizeof(OID_AKI));
	val = w_open(w, TAG_OCTET_STRING);
	seq = w_open(w, TAG_SEQUENCE);
	w_tlv(w, TAG_IMPLICIT_0, aki, 20);
	w_close(w, seq);
	w_close(w, val);
	w_close(w, ext);
	w_close(w, exts);
	w_close(w, outer);
}

/* ---- the TBSCertificate, RFC 5280 §4.1 ---- */

/* The serial's significant bytes into *<v>, *<n>. */
static int check_serial(const struct x509_spec *s, const uint8_t **v,
			size_t *n, const char **why)
{
	const uint8_t *p = s->serial;
	size_t len = s->serial_len;

	IG_ENSURE(len >= 1 && len <= sizeof(s->serial), IG_EUSAGE, why,
		  "serial: serial_len must be 1 to 20");
	while (len > 0 && p[0] == 0) {
		p++;
		len--;
	}
	/* §4.1.2.2: a positive integer of at most 20 octets. */
	IG_ENSURE(len > 0, IG_EUSAGE, why, "serial: the serial number is zero");
	IG_ENSURE(len < 20 || !(p[0] & 0x80), IG_EUSAGE, why,
		  "serial: 20 bytes with the top bit set need 21 octets as a positive INTEGER; RFC 5280 allows 20");
	*v = p;
	*n = len;
	return IG_OK;
}

int x509_tbs(const struct x509_spec *s, uint8_t *out, size_t cap, size_t *len,
	     uint8_t digest[64], size_t *digest_len, const char **why)
{
	struct rdn subj[DN_MAX_RDNS], iss[DN_MAX_RDNS];
	uint8_t sspki[PUBKEY_SPKI_MAX], ispki[PUBKEY_SPKI_MAX];
	uint8_t ski[20], aki[20], hash[48];
	struct w w = { .buf = out, .cap = cap };
	const uint8_t *serial;
	size_t serial_len, sspki_len, ispki_len, tbs, validity;
	unsigned hlen;
	int nsubj, niss, bad_time;

	IG_ENSURE(s, IG_EUSAGE, why, "no certificate spec");
	IG_ENSURE(out && len && digest && digest_len, IG_EUSAGE, why,
		  "no output buffer");
	IG_GUARD(check_serial(s, &serial, &serial_len, why));
	IG_ENSURE(s->not_before >= TIME_MIN && s->not_before <= TIME_MAX &&
			  s->not_after >= TIME_MIN && s->not_after <= TIME_MAX,
		  IG_EUSAGE, why, "validity: dates must lie in the years 0001 to 9999");
	IG_ENSURE(s->not_after > s->not_before, IG_EUSAGE, why,
		  "validity: not_after must be later than not_before");
	IG_ENSURE(s->is_ca == 0 || s->is_ca == 1, IG_EUSAGE, why,
		  "is_ca must be 0 or 1");
	IG_ENSURE(s->subject_key, IG_EUSAGE, why, "no subject key");
	IG_ENSURE(s->issuer_key, IG_EUSAGE, why, "no issuer key");
	IG_ENSURE(pubkey_spki_der(s->subject_key, sspki, sizeof(sspki),
				  &sspki_len) == IG_OK,
		  IG_EUSAGE, why, "the subject key is not a public key");
	IG_ENSURE(pubkey_spki_der(s->issuer_key, ispki, sizeof(ispki),
				  &ispki_len) == IG_OK,
		  IG_EUSAGE, why, "the issuer key is not a public key");
	nsubj = dn_parse(s->subject, X509_DN_SUBJECT, subj, why);
	if (nsubj < 0)
		return nsubj;
	niss = dn_parse(s->issuer, X509_DN_ISSUER, iss, why);
	if (niss < 0)
		return niss;
	IG_ENSURE(key_id(sspki, sspki_len, ski) == 0 &&
			  key_id(ispki, ispki_len, aki) == 0,
		  IG_EINTERNAL, why, "computing a key identifier failed");

	tbs = w_open(&w, TAG_SEQUENCE);
	w_bytes(&w, "\xa0\x03\x02\x01\x02", 5); /* [0] EXPLICIT v3 (2) */
	w_uint(&w, serial, serial_len);
	w_sig_alg(&w, s->issuer_key); /* §4.1.2.3: as signatureAlgorithm */
	w_name(&w, iss, niss);
	validity = w_open(&w, TAG_SEQUENCE);
	bad_time = w_time(&w, s->not_before) | w_time(&w, s->not_after);
	w_close(&w, validity);
	w_name(&w, subj, nsubj);
	w_bytes(&w, sspki, sspki_len);
	w_extensions(&w, s->is_ca, ski, aki);
	w_close(&w, tbs);
	IG_ENSURE(!bad_time, IG_EINTERNAL, why, "converting a date failed");
	IG_ENSURE(!w.over, IG_EUSAGE, why,
		  "output buffer too small for the TBSCertificate");

	if (s->issuer_key->kind == PUBKEY_EC_P384) {
		IG_ENSURE(EVP_Digest(out, w.n, hash, &hlen, EVP_sha384(), NULL),
			  IG_EINTERNAL, why, "hashing the TBSCertificate failed");
		memcpy(digest, hash, 48);
		*digest_len = 48;
	} else {
		IG_ENSURE(EVP_Digest(out, w.n, hash, &hlen, EVP_sha256(), NULL),
			  IG_EINTERNAL, why, "hashing the TBSCertificate failed");
		if (s->issuer_key->kind == PUBKEY_RSA) {
			/* RFC 8017 §9.2 step 2: CKM_RSA_PKCS pads what it
			 * is given, so it is given the DigestInfo. */
			memcpy(digest, DIGESTINFO_SHA256, sizeof(DIGESTINFO_SHA256));
			memcpy(digest + sizeof(DIGESTINFO_SHA256), hash, 32);
			*digest_len = sizeof(DIGESTINFO_SHA256) + 32;
		} else {
			memcpy(digest, hash, 32);
			*digest_len = 32;
		}
	}
	*len = w.n;
	return IG_OK;
}

/* ---- the Certificate, RFC 5280 §4.1.1 ---- */

/* The finished certificate <der> parses, with nothing after it, and its
 * signature verifies with the key whose SPKI is <spki>. */
static int cert_verifies(const uint8_t *der, size_t len, const uint8_t *spki,
			 size_t spki_len, const char **why)
{
	const unsigned char *p = der, *k = spki;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &k, (long)spki_len);
	int rc = IG_OK;

	if (!pkey) {
		rc = IG_EINTERNAL;
		if (why)
			*why = "OpenSSL cannot read the issuer's key";
	} else if (!x || p != der + len) {
		rc = IG_EUSAGE;
		if (why)
			*why = "<tbs> does not make a certificate OpenSSL reads (is it from x509_tbs?)";
	} else if (X509_verify(x, pkey) != 1) {
		/* Also refuses a TBSCertificate made for another issuer
		 * key: OpenSSL compares its signature algorithm with the
		 * outer one and with the key. */
		rc = IG_EPROTO;
		if (why)
			*why = "the issuer's signature does not verify";
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	if (rc != IG_OK)
		ERR_clear_error(); /* leave this thread's queue as we found it */
	return rc;
}

int x509_assemble(const uint8_t *tbs, size_t tbs_len,
		  const struct pubkey *issuer_key, const uint8_t *sig,
		  size_t sig_len, uint8_t *out, size_t cap, size_t *len,
		  const char **why)
{
	uint8_t spki[PUBKEY_SPKI_MAX];
	struct w w = { .buf = out, .cap = cap };
	size_t spki_len, h, c, cert, bits, ecsig, half;
	uint8_t tag;
	int rc;

	IG_ENSURE(tbs && tbs_len, IG_EUSAGE, why, "no TBSCertificate");
	IG_ENSURE(r_hdr(tbs, tbs_len, &tag, &h, &c) == 0 &&
			  tag == TAG_SEQUENCE && h + c == tbs_len,
		  IG_EUSAGE, why, "<tbs> is not one DER SEQUENCE");
	IG_ENSURE(issuer_key, IG_EUSAGE, why, "no issuer key");
	IG_ENSURE(pubkey_spki_der(issuer_key, spki, sizeof(spki), &spki_len) ==
			  IG_OK,
		  IG_EUSAGE, why, "the issuer key is not a public key");
	IG_ENSURE(out && len, IG_EUSAGE, why, "no output buffer");
	IG_ENSURE(sig, IG_EUSAGE, why, "no signature");
	IG_ENSURE(sig_len == sig_size(issuer_key), IG_EPROTO, why,
		  "the issuer's signature has the wrong length");

	cert = w_open(&w, TAG_SEQUENCE);
	w_bytes(&w, tbs, tbs_len);
	w_sig_alg(&w, issuer_key);
	bits = w_open(&w, TAG_BIT_STRING);
	w_byte(&w, 0); /* no unused bits */
	if (issuer_key->kind == PUBKEY_RSA) {
		/* RFC 4055 §5 / RFC 8017 §8.2: the octets as they are. */
		w_bytes(&w, sig, sig_len);
	} else {
		/* CKM_ECDSA gives r||s, each as long as the order; X.509
		 * wants Ecdsa-Sig-Value ::= SEQUENCE { r, s } (RFC 3279
		 * §2.2.3, RFC 5480 §2.2). */
		half = sig_len / 2;
		ecsig = w_open(&w, TAG_SEQUENCE);
		w_uint(&w, sig, half);
		w_uint(&w, sig + half, half);
		w_close(&w, ecsig);
	}
	w_close(&w, bits);
	w_close(&w, cert);
	if (w.over) {
		memset(out, 0, w.n);
		if (why)
			*why = "output buffer too small for the certificate";
		return IG_EUSAGE;
	}
	/* An HSM that signed with another key (a wrong handle, a stale
	 * CKA_ID) must not hand out a certificate nobody can verify. */
	rc = cert_verifies(out, w.n, spki, spki_len, why);
	if (rc != IG_OK) {
		memset(out, 0, w.n);
		return rc;
	}
	*len = w.n;
	return IG_OK;
}

int x509_issue(const struct x509_spec *s, pubkey_sign_fn sign, void *ctx,
	       uint8_t *out, size_t cap, size_t *len, const char **why)
{
	uint8_t digest[64], sig[PUBKEY_RSA_MAX];
	size_t tbs_len, digest_len, sig_len = sizeof(sig);
	uint8_t *tbs;
	int rc;

	IG_ENSURE(sign, IG_EUSAGE, why, "no signer");
	IG_ENSURE(out && len, IG_EUSAGE, why, "no output buffer");
	/* Tools only: the heap keeps 18 KiB off the caller's stack. */
	tbs = malloc(X509_TBS_MAX);
	IG_ENSURE(tbs, IG_ENOMEM, why, "out of memory");
	rc = x509_tbs(s, tbs, X509_TBS_MAX, &tbs_len, digest, &digest_len, why);
	if (rc == IG_OK) {
		rc = sign(ctx, digest, digest_len, sig, &sig_len);
		if (rc != IG_OK) {
			if (why)
				*why = "the issuer's signer failed";
			rc = rc < 0 ? rc : IG_EINTERNAL;
		}
	}
	/* x509_assemble refuses any sig_len but the key's (<= 512) before
	 * reading <sig>, whatever the signer claimed. */
	if (rc == IG_OK)
		rc = x509_assemble(tbs, tbs_len, s->issuer_key, sig, sig_len,
				   out, cap, len, why);
	free(tbs);
	return rc;
}

/* ---- PEM, RFC 7468 §5 ---- */

int x509_pem(const uint8_t *der, size_t len, char *out, size_t cap)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
	static const char end[] = "-----END CERTIFICATE-----\n";
	size_t need, o = 0;

	if (!der || !len || !out || len > X509_DER_MAX)
		return IG_EUSAGE;
	/* 4 characters for every 3 bytes or part, a newline after every
	 * 48 bytes or part, and the NUL. */
	need = (sizeof(begin) - 1) + 4 * ((len + 2) / 3) + (len + 47) / 48 +
	       (sizeof(end) - 1) + 1;
	if (need > cap)
		return IG_EUSAGE;
	memcpy(out, begin, sizeof(begin) - 1);
	o = sizeof(begin) - 1;
	for (size_t i = 0; i < len; i += 48) {
		size_t chunk = len - i < 48 ? len - i : 48;

		/* Writes 4 * ceil(chunk / 3) characters and a NUL, which
		 * the newline replaces: within <need>. */
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, der + i,
					     (int)chunk);
		out[o++] = '\n';
	}
	memcpy(out + o, end, sizeof(end)); /* with its NUL */
	o += sizeof(end) - 1;
	return (int)o;
}

/* ---- reading a certificate back ---- */

static int info_fail(struct x509_info *out, int err, const char **why,
		     const char *msg)
{
	memset(out, 0, sizeof(*out));
	if (why)
		*why = msg;
	ERR_clear_error();
	return err;
}

/* <nm> as RFC 2253/4514 text into <out>; 0, or -1 when it does not fit. */
static int name_text(const X509_NAME *nm, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int ok;

	if (!b)
		return -1;
	ok = X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0;
	n = BIO_get_mem_data(b, &p);
	ok = ok && n >= 0 && (size_t)n < cap && (n == 0 || !memchr(p, 0, (size_t)n));
	if (ok) {
		if (n)
			memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return ok ? 0 : -1;
}

/* <t> as "YYYYMMDDHHMMSSZ"; 0, or -1. */
static int time_text(const ASN1_TIME *t, char out[32])
{
	struct tm tm;
	int n;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(out, 32, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n == 15 ? 0 : -1;
}

/* The serial's magnitude as lowercase hex without leading zeros. */
static int serial_text(const ASN1_INTEGER *sn, char out[41], const char **why)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p;
	size_t n, o = 0;

	/* OpenSSL keeps the magnitude and marks a negative value by type. */
	IG_ENSURE(ASN1_STRING_type(sn) == V_ASN1_INTEGER, IG_EPROTO, why,
		  "the serial number is negative");
	p = ASN1_STRING_get0_data(sn);
	n = (size_t)ASN1_STRING_length(sn);
	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	IG_ENSURE(n > 0, IG_EPROTO, why, "the serial number is zero");
	IG_ENSURE(n <= 20, IG_EPROTO, why,
		  "the serial number is longer than 20 bytes");
	for (size_t i = 0; i < n; i++) {
		if (i > 0 || p[i] >> 4)
			out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 0x0f];
	}
	out[o] = '\0';
	return IG_OK;
}

/* The subject key of <x> into <k>, through pubkey's own checks. */
static int info_key(X509 *x, struct pubkey *k, const char **why)
{
	ASN1_OBJECT *alg = NULL;
	const unsigned char *pk = NULL;
	X509_ALGOR *algor = NULL;
	int pklen = 0, nid, rc;

	IG_ENSURE(X509_PUBKEY_get0_param(&alg, &pk, &pklen, &algor,
					 X509_get_X509_PUBKEY(x)) == 1 &&
			  pklen > 0,
		  IG_EPROTO, why, "the certificate has no readable public key");
	nid = OBJ_obj2nid(alg);
	if (nid == NID_X9_62_id_ecPublicKey) {
		const void *pval = NULL;
		uint8_t params[16];
		unsigned char *q = params;
		int ptype = 0, n;

		/* RFC 5480 §2.1.1: namedCurve only; pubkey_from_ec takes
		 * the curve's DER OID and the bare 04||X||Y point. */
		X509_ALGOR_get0(NULL, &ptype, &pval, algor);
		IG_ENSURE(ptype == V_ASN1_OBJECT && pval, IG_EPROTO, why,
			  "the EC key has no named curve");
		n = i2d_ASN1_OBJECT(pval, NULL);
		IG_ENSURE(n > 0 && (size_t)n <= sizeof(params), IG_EPROTO, why,
			  "unsupported curve");
		i2d_ASN1_OBJECT(pval, &q);
		IG_ENSURE(pk[0] != 0x02 && pk[0] != 0x03, IG_EPROTO, why,
			  "the EC point is compressed, which is not supported");
		rc = pubkey_from_ec(k, params, (size_t)n, pk, (size_t)pklen, why);
	} else if (nid == NID_rsaEncryption) {
		EVP_PKEY *pkey = X509_get0_pubkey(x);
		BIGNUM *bn = NULL, *be = NULL;
		uint8_t n[PUBKEY_RSA_MAX + 1], e[PUBKEY_RSA_E_MAX + 1];
		int nlen = -1, elen = -1;

		if (pkey && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn) &&
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &be) &&
		    (size_t)BN_num_bytes(bn) <= sizeof(n) &&
		    (size_t)BN_num_bytes(be) <= sizeof(e)) {
			nlen = BN_bn2bin(bn, n);
			elen = BN_bn2bin(be, e);
		}
		BN_free(bn);
		BN_free(be);
		IG_ENSURE(nlen >= 0 && elen >= 0, IG_EPROTO, why,
			  "unsupported RSA key (2048 to 4096 bits, exponent up to 64 bits)");
		rc = pubkey_from_rsa(k, n, (size_t)nlen, e, (size_t)elen, why);
	} else {
		IG_ENSURE(0, IG_EPROTO, why,
			  "unsupported subject key (EC P-256, P-384 or RSA only)");
	}
	/* A key pubkey refuses is bad input here, whatever its class there. */
	return rc == IG_OK ? IG_OK : IG_EPROTO;
}

int x509_parse_info(const uint8_t *der, size_t len, struct x509_info *out,
		    const char **why)
{
	const unsigned char *p = der;
	X509 *x;
	int rc;

	IG_ENSURE(out, IG_EUSAGE, why, "no output");
	memset(out, 0, sizeof(*out));
	IG_ENSURE(der, IG_EUSAGE, why, "no certificate");
	if (len == 0 || len > 0x7fffffff)
		return info_fail(out, IG_EPROTO, why, "not a DER certificate");
	x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return info_fail(out, IG_EPROTO, why, "not a DER certificate");
	if (p != der + len) {
		rc = info_fail(out, IG_EPROTO, why,
			       "trailing bytes after the certificate");
	} else if (X509_get_version(x) != X509_VERSION_3) {
		rc = info_fail(out, IG_EPROTO, why, "not an X.509 v3 certificate");
	} else if (name_text(X509_get_subject_name(x), out->subject,
			     sizeof(out->subject))) {
		rc = info_fail(out, IG_EPROTO, why,
			       "the subject name is longer than 511 characters");
	} else if (name_text(X509_get_issuer_name(x), out->issuer,
			     sizeof(out->issuer))) {
		rc = info_fail(out, IG_EPROTO, why,
			       "the issuer name is longer than 511 characters");
	} else if (time_text(X509_get0_notBefore(x), out->not_before) ||
		   time_text(X509_get0_notAfter(x), out->not_after)) {
		rc = info_fail(out, IG_EPROTO, why, "unreadable validity dates");
	} else if ((rc = serial_text(X509_get0_serialNumber(x), out->serial_hex,
				     why)) != IG_OK ||
		   (rc = info_key(x, &out->key, why)) != IG_OK) {
		/* <*why> says which; keep it. */
		const char *w = why ? *why : NULL;

		rc = info_fail(out, rc, why, w);
	}
	X509_free(x);
	return rc;
}
