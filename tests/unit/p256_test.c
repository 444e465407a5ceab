/*
 * p256_test.c - ECDSA P-256 verification: libcrypto and mbedTLS agree on
 * random valid signatures and on every kind of invalid one, known answers
 * hold, and the DER encoding of R || S is right at its edge cases.
 */
#include <stdlib.h>
#include <sys/random.h>

#include "../../common/jose.h"
#include "../../common/p256.h"
#include "check.h"

/* P-256 group order n. */
static const uint8_t N[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* Both implementations must give <want>. */
static void both(const struct p256_pub *pub, const uint8_t h[32], const uint8_t sig[64],
		 int want)
{
	CHECK_EQ(p256_verify_libcrypto(pub->x, pub->y, h, sig), want);
	CHECK_EQ(p256_verify_mbedtls(pub->x, pub->y, h, sig), want);
	CHECK_EQ(p256_verify(pub->x, pub->y, h, sig), want);
}

/* s' = n - s: the other valid signature (ECDSA is malleable; ES256 does
 * not forbid it). */
static void negate_s(uint8_t sig[64])
{
	int borrow = 0;

	for (int i = 31; i >= 0; i--) {
		int d = N[i] - sig[32 + i] - borrow;

		borrow = d < 0;
		sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

int main(void)
{
	uint8_t d[32], h[32], sig[64], bad[64], der[72];
	struct p256_pub pub, other;
	size_t n;

	for (int i = 0; i < 40; i++) {
		uint8_t msg[64];

		if (getrandom(msg, sizeof(msg), 0) != sizeof(msg))
			return 1;
		CHECK_EQ(p256_keygen(d, &pub), IG_OK);
		CHECK_EQ(es256_sign(d, msg, sizeof(msg), sig), IG_OK);
		sha256(msg, sizeof(msg), h);
		both(&pub, h, sig, 0);
		CHECK_EQ(es256_verify(&pub, msg, sizeof(msg), sig), IG_OK);

		memcpy(bad, sig, 64);
		bad[i % 64] ^= (uint8_t)(1u << (i % 8)); /* any flipped bit */
		both(&pub, h, bad, -1);
		h[i % 32] ^= 1;
		both(&pub, h, sig, -1);                  /* another digest */
		h[i % 32] ^= 1;
		memcpy(bad, sig, 64);
		negate_s(bad);
		both(&pub, h, bad, 0);                   /* (r, n - s) is valid too */
		CHECK_EQ(p256_keygen(d, &other), IG_OK);
		both(&other, h, sig, -1);                /* another key */
	}
	/* r or s out of [1, n-1]. */
	memcpy(bad, sig, 64);
	memset(bad, 0, 32);
	both(&pub, h, bad, -1);
	memcpy(bad, sig, 64);
	memset(bad + 32, 0, 32);
	both(&pub, h, bad, -1);
	memcpy(bad, sig, 64);
	memcpy(bad + 32, N, 32);
	both(&pub, h, bad, -1);
	memcpy(bad, N, 32);
	both(&pub, h, bad, -1);
	memset(bad, 0xff, 64);
	both(&pub, h, bad, -1);
	/* A point off the curve, and the point at "zero". */
	other = pub;
	other.y[31] ^= 1;
	both(&other, h, sig, -1);
	memset(&other, 0, sizeof(other));
	both(&other, h, sig, -1);

	/* DER: leading zeros stripped, a 0x00 added before a high bit. */
	memset(sig, 0, 64);
	sig[31] = 1;
	sig[32] = 0x80;
	n = p256_sig_to_der(sig, der);
	CHECK_EQ(n, 2 + 3 + 35);
	CHECK(der[0] == 0x30 && der[1] == n - 2);
	CHECK(der[2] == 0x02 && der[3] == 1 && der[4] == 1);
	CHECK(der[5] == 0x02 && der[6] == 33 && der[7] == 0 && der[8] == 0x80);
	memset(sig, 0xff, 64);
	CHECK_EQ(p256_sig_to_der(sig, der), 72);
	CHECK(p256_verify_impl() != NULL);
	return check_done("p256");
}
