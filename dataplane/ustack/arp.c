/*
 * arp.c - the ARP cache (see arp.h).
 */
#include "arp.h"

#include <string.h>

void us_arp_init(struct us_arp *a, uint32_t our_ip)
{
	memset(a, 0, sizeof(*a));
	a->our_ip = our_ip;
}

static uint32_t us_arp_hash(uint32_t ip)
{
	return (ip * 2654435761u) >> 24 & (US_ARP_SLOTS - 1);
}

/* The entry of <ip>, or the slot to put it in (a free one along the
 * probe, else the oldest of the first 8 probed). */
static struct us_arp_entry *us_arp_slot(struct us_arp *a, uint32_t ip, int *found)
{
	struct us_arp_entry *victim = NULL;
	uint32_t h = us_arp_hash(ip);

	*found = 0;
	for (uint32_t i = 0; i < 8; i++) {
		struct us_arp_entry *e = &a->e[(h + i) & (US_ARP_SLOTS - 1)];

		if (e->ip == ip) {
			*found = 1;
			return e;
		}
		if (!e->ip)
			return e;
		if (!victim || e->seen_ms < victim->seen_ms)
			victim = e;
	}
	return victim;
}

static void us_arp_learn(struct us_arp *a, uint32_t ip, const uint8_t mac[6],
			 uint64_t now_ms)
{
	int found;
	struct us_arp_entry *e = us_arp_slot(a, ip, &found);

	e->ip = ip;
	memcpy(e->mac, mac, 6);
	e->resolved = 1;
	e->seen_ms = now_ms;
}

int us_arp_input(struct us_arp *a, const struct us_pkt *p, uint64_t now_ms)
{
	static const uint8_t zero[6];

	/* only what concerns us, from a plausible sender */
	if (p->arp_tpa != a->our_ip || !p->arp_spa || p->arp_spa == a->our_ip ||
	    !memcmp(p->arp_sha, zero, 6) || (p->arp_sha[0] & 1))
		return 0;
	us_arp_learn(a, p->arp_spa, p->arp_sha, now_ms);
	return p->arp_op == 1;
}

int us_arp_lookup(struct us_arp *a, uint32_t ip, uint8_t mac[6], int *ask,
		  uint64_t now_ms)
{
	int found;
	struct us_arp_entry *e = us_arp_slot(a, ip, &found);

	*ask = 0;
	if (found && e->resolved && now_ms - e->seen_ms < US_ARP_TTL_MS) {
		memcpy(mac, e->mac, 6);
		return 1;
	}
	if (found && !e->resolved && now_ms - e->seen_ms < US_ARP_RETRY_MS)
		return 0;       /* asked a moment ago */
	e->ip = ip;
	e->resolved = 0;
	e->seen_ms = now_ms;
	*ask = 1;
	return 0;
}
