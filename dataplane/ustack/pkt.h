/*
 * pkt.h - the wire formats of idgate's userspace TCP/IP stack, sans-I/O:
 * Ethernet II, ARP (IPv4 over Ethernet), IPv4, ICMP echo and TCP, parsed
 * from a frame into views and built into a buffer, with RFC 1071
 * checksums in software.
 *
 * Parsing never trusts a length: every field is checked against the
 * frame, and a frame that is malformed, impossible or not for a stack
 * like this one (fragments, IP versions other than 4, TCP flag
 * combinations no endpoint sends) is refused with the reason, which the
 * caller counts.  Nothing here allocates or keeps state.
 */
#ifndef IG_USTACK_PKT_H
#define IG_USTACK_PKT_H
#include <stddef.h>
#include <stdint.h>

#define US_ETH_HLEN 14
#define US_ETHERTYPE_IPV4 0x0800
#define US_ETHERTYPE_ARP 0x0806
#define US_IP_PROTO_ICMP 1
#define US_IP_PROTO_TCP 6

/* TCP flags */
#define US_TCP_FIN 0x01
#define US_TCP_SYN 0x02
#define US_TCP_RST 0x04
#define US_TCP_PSH 0x08
#define US_TCP_ACK 0x10
#define US_TCP_URG 0x20

/* What a frame is, or why it was dropped (negative). */
enum us_kind { US_KIND_ARP = 1, US_KIND_ICMP, US_KIND_TCP };

enum us_drop {
	US_DROP_SHORT = 1,      /* shorter than its headers */
	US_DROP_ETHERTYPE,      /* not IPv4 or ARP (VLAN, IPv6, ...) */
	US_DROP_ARP,            /* not an Ethernet/IPv4 ARP request or reply */
	US_DROP_IP_VERSION,
	US_DROP_IP_HLEN,        /* header length < 20 or past the packet */
	US_DROP_IP_LEN,         /* total length inconsistent with the frame */
	US_DROP_IP_CSUM,
	US_DROP_IP_FRAG,        /* a fragment: not reassembled here */
	US_DROP_IP_SRC,         /* a broadcast, multicast or zero source */
	US_DROP_IP_PROTO,       /* neither ICMP nor TCP */
	US_DROP_ICMP,           /* not an echo request/reply, or too short */
	US_DROP_ICMP_CSUM,
	US_DROP_TCP_HLEN,       /* data offset < 5 or past the segment */
	US_DROP_TCP_CSUM,
	US_DROP_TCP_FLAGS,      /* SYN+FIN, SYN+RST, no ACK on a non-SYN/RST, ... */
	US_DROP_TCP_OPTS,       /* an option runs past the header or has a bad length */
	US_DROP_TCP_PORT,       /* port 0 */
	US_DROP_COUNT
};
extern const char *const us_drop_names[US_DROP_COUNT];

struct us_tcp_opts {
	uint16_t mss;           /* 0: none */
	uint8_t has_ws, ws;     /* window scale */
	uint8_t sack_ok;        /* SACK permitted (SYN) */
	uint8_t has_ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;          /* SACK blocks (left, right), at most 4 */
	uint32_t sack[4][2];
};

struct us_pkt {
	/* Ethernet */
	uint8_t dst_mac[6], src_mac[6];
	uint16_t ethertype;
	/* ARP */
	uint16_t arp_op;                /* 1 request, 2 reply */
	uint8_t arp_sha[6], arp_tha[6];
	uint32_t arp_spa, arp_tpa;      /* host order */
	/* IPv4 (addresses in host order) */
	uint32_t src_ip, dst_ip;
	uint8_t proto, ttl, tos;
	uint16_t ip_id;
	/* ICMP echo */
	uint8_t icmp_type;              /* 8 request, 0 reply */
	uint16_t icmp_id, icmp_seq;
	/* TCP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;                   /* unscaled */
	struct us_tcp_opts opt;
	/* ICMP echo data or TCP payload: a view into the frame */
	const uint8_t *data;
	size_t data_len;
};

/* Parse <frame> into <p>: US_KIND_* or -US_DROP_*.  Checksums are
 * verified unless <csum_ok> (the device checked them). */
int us_parse(const uint8_t *frame, size_t len, int csum_ok, struct us_pkt *p);

/* RFC 1071: the one's complement sum of <len> bytes added to <sum>
 * (unfolded), and its folded complement. */
uint32_t us_csum_add(uint32_t sum, const uint8_t *b, size_t len);
uint16_t us_csum_fold(uint32_t sum);

/* A TCP segment to send. */
struct us_tcp_out {
	uint8_t src_mac[6], dst_mac[6];
	uint32_t src_ip, dst_ip;
	uint16_t ip_id;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	/* options: MSS, WS and SACK-permitted go on SYNs only */
	uint16_t mss;
	int8_t ws;                      /* -1: none */
	uint8_t sack_ok, has_ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;                  /* SACK blocks, at most 3 (4 without timestamps) */
	uint32_t sack[4][2];
	const uint8_t *data;
	size_t data_len;
};

/* Build the frame for <s> into <out>: its length, or 0 if <cap> is too
 * small.  Checksums are filled in. */
size_t us_build_tcp(uint8_t *out, size_t cap, const struct us_tcp_out *s);

/* An ARP reply from <mac>/<ip> to the requester in <req> (from us_parse),
 * or a request for <target_ip>: the frame's length (42), 0 if no room. */
size_t us_build_arp_reply(uint8_t *out, size_t cap, const uint8_t mac[6], uint32_t ip,
			  const struct us_pkt *req);
size_t us_build_arp_request(uint8_t *out, size_t cap, const uint8_t mac[6], uint32_t ip,
			    uint32_t target_ip);

/* The echo reply to the echo request <req>, from <mac>/<ip>: its length,
 * 0 if no room. */
size_t us_build_icmp_echo_reply(uint8_t *out, size_t cap, const uint8_t mac[6],
				uint32_t ip, const struct us_pkt *req);

#endif
