/*
 * arp.h - the userspace stack's ARP cache (RFC 826), sans-I/O: a small
 * open-addressed table of IPv4 -> MAC with ages.  Entries are learned
 * from ARP traffic for our address only (a request to us, a reply to
 * ours), so a flood of other hosts' ARP cannot fill it; a full table
 * replaces its oldest entry.  A lookup that misses says whether to send a
 * request now (at most one per address per second).
 */
#ifndef IG_USTACK_ARP_H
#define IG_USTACK_ARP_H
#include <stdint.h>

#include "pkt.h"

#define US_ARP_SLOTS 256        /* a power of two */
#define US_ARP_TTL_MS 300000    /* an entry lives this long without news */
#define US_ARP_RETRY_MS 1000    /* requests for one address at most this often */

struct us_arp_entry {
	uint32_t ip;            /* 0: free */
	uint8_t mac[6];
	uint8_t resolved;       /* 0: a request is out */
	uint64_t seen_ms;       /* learned, or the last request sent */
};

struct us_arp {
	uint32_t our_ip;
	struct us_arp_entry e[US_ARP_SLOTS];
};

void us_arp_init(struct us_arp *a, uint32_t our_ip);

/* Learn from an ARP frame parsed by us_parse: 1 if it asks for our
 * address (answer it with us_build_arp_reply), else 0. */
int us_arp_input(struct us_arp *a, const struct us_pkt *p, uint64_t now_ms);

/* The MAC of <ip> into <mac>: 1 when known; 0 when not, with *ask set
 * when a request should go out now. */
int us_arp_lookup(struct us_arp *a, uint32_t ip, uint8_t mac[6], int *ask,
		  uint64_t now_ms);

#endif
