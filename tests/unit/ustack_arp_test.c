/*
 * ustack_arp_test.c - the ARP cache: a request for our address is answered
 * and teaches us the asker; replies to us are learned, other hosts'
 * traffic is not; a miss asks at most once a second; entries expire; a
 * table flooded with thousands of askers still resolves the newest.
 */
#include <string.h>

#include "../../dataplane/ustack/arp.h"
#include "check.h"

#define US 0xc6120001u

static struct us_pkt arp(uint16_t op, uint32_t spa, uint8_t last, uint32_t tpa)
{
	struct us_pkt p;

	memset(&p, 0, sizeof(p));
	p.arp_op = op;
	p.arp_spa = spa;
	p.arp_tpa = tpa;
	memcpy(p.arp_sha, (uint8_t[6]){ 2, 0, 0, 0, 1, last }, 6);
	return p;
}

int main(void)
{
	static struct us_arp a;
	struct us_pkt p;
	uint8_t mac[6];
	int ask;

	us_arp_init(&a, US);
	CHECK_EQ(us_arp_lookup(&a, 0xc6120002, mac, &ask, 0), 0);
	CHECK_EQ(ask, 1);
	CHECK_EQ(us_arp_lookup(&a, 0xc6120002, mac, &ask, 500), 0);
	CHECK_EQ(ask, 0);                               /* asked a moment ago */
	CHECK_EQ(us_arp_lookup(&a, 0xc6120002, mac, &ask, 1500), 0);
	CHECK_EQ(ask, 1);
	p = arp(2, 0xc6120002, 7, US);                  /* the reply */
	CHECK_EQ(us_arp_input(&a, &p, 1600), 0);
	CHECK_EQ(us_arp_lookup(&a, 0xc6120002, mac, &ask, 1700), 1);
	CHECK_EQ(mac[5], 7);
	p = arp(1, 0xc6120003, 9, US);                  /* a request for us */
	CHECK_EQ(us_arp_input(&a, &p, 2000), 1);
	CHECK_EQ(us_arp_lookup(&a, 0xc6120003, mac, &ask, 2000), 1);
	p = arp(1, 0xc6120004, 9, 0xc6120099);          /* for someone else */
	CHECK_EQ(us_arp_input(&a, &p, 2000), 0);
	CHECK_EQ(us_arp_lookup(&a, 0xc6120004, mac, &ask, 2000), 0);
	p = arp(2, 0xc6120005, 9, US);
	p.arp_sha[0] = 1;                               /* a multicast MAC */
	CHECK_EQ(us_arp_input(&a, &p, 2000), 0);
	/* expiry */
	CHECK_EQ(us_arp_lookup(&a, 0xc6120002, mac, &ask, 1600 + US_ARP_TTL_MS + 1), 0);
	CHECK_EQ(ask, 1);
	/* a flood of askers: the newest still resolves */
	for (uint32_t i = 0; i < 5000; i++) {
		p = arp(1, 0x0a000000 + i, (uint8_t)i, US);
		us_arp_input(&a, &p, 10000 + i);
	}
	CHECK_EQ(us_arp_lookup(&a, 0x0a000000 + 4999, mac, &ask, 20000), 1);
	CHECK_EQ(mac[5], (uint8_t)4999);
	return check_done("ustack_arp_test");
}
