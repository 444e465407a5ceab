/*
 * pkt.c - parsing and building the userspace stack's frames (see pkt.h).
 * RFC 894 (IPv4 over Ethernet), RFC 826 (ARP), RFC 791 (IPv4), RFC 792
 * (ICMP echo), RFC 9293 (TCP), RFC 7323 (window scale, timestamps),
 * RFC 2018 (SACK), RFC 1071 (checksums).
 */
#include "pkt.h"

#include <string.h>

const char *const us_drop_names[US_DROP_COUNT] = {
	"", "short", "ethertype", "arp", "ip_version", "ip_header_length",
	"ip_length", "ip_checksum", "ip_fragment", "ip_source", "ip_protocol",
	"icmp", "icmp_checksum", "tcp_header_length", "tcp_checksum",
	"tcp_flags", "tcp_options", "tcp_port",
};

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

uint32_t us_csum_add(uint32_t sum, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(b + i);
	if (i < len)
		sum += (uint32_t)b[i] << 8;     /* odd byte, zero-padded */
	return sum;
}

uint16_t us_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The TCP pseudo-header's part of the checksum (RFC 9293 §3.1). */
static uint32_t tcp_pseudo(uint32_t src, uint32_t dst, size_t tcp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       US_IP_PROTO_TCP + (uint32_t)tcp_len;
}

/* ---- parsing ------------------------------------------------------------------------ */

static int parse_arp(const uint8_t *b, size_t len, struct us_pkt *p)
{
	if (len < 28)
		return -US_DROP_SHORT;
	/* Ethernet (1) / IPv4 (0x0800), 6- and 4-byte addresses */
	if (get16(b) != 1 || get16(b + 2) != US_ETHERTYPE_IPV4 || b[4] != 6 || b[5] != 4)
		return -US_DROP_ARP;
	p->arp_op = get16(b + 6);
	if (p->arp_op != 1 && p->arp_op != 2)
		return -US_DROP_ARP;
	memcpy(p->arp_sha, b + 8, 6);
	p->arp_spa = get32(b + 14);
	memcpy(p->arp_tha, b + 18, 6);
	p->arp_tpa = get32(b + 24);
	return US_KIND_ARP;
}

static int parse_tcp_opts(const uint8_t *o, size_t len, struct us_tcp_opts *t)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = o[i], olen;

		if (kind == 0)          /* end of options */
			break;
		if (kind == 1) {        /* no-op */
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		olen = o[i + 1];
		if (olen < 2 || i + olen > len)
			return -1;
		switch (kind) {
		case 2:
			if (olen != 4)
				return -1;
			t->mss = get16(o + i + 2);
			break;
		case 3:
			if (olen != 3)
				return -1;
			t->has_ws = 1;
			t->ws = o[i + 2] > 14 ? 14 : o[i + 2]; /* RFC 7323 §2.3 */
			break;
		case 4:
			if (olen != 2)
				return -1;
			t->sack_ok = 1;
			break;
		case 5:
			if ((olen - 2) % 8 || olen < 10)
				return -1;
			for (size_t k = 0; k < (size_t)(olen - 2) / 8 && t->nsack < 4; k++) {
				t->sack[t->nsack][0] = get32(o + i + 2 + 8 * k);
				t->sack[t->nsack][1] = get32(o + i + 6 + 8 * k);
				t->nsack++;
			}
			break;
		case 8:
			if (olen != 10)
				return -1;
			t->has_ts = 1;
			t->tsval = get32(o + i + 2);
			t->tsecr = get32(o + i + 6);
			break;
		default:
			break;          /* unknown options are skipped */
		}
		i += olen;
	}
	return 0;
}

static int parse_tcp(const uint8_t *b, size_t len, int csum_ok, struct us_pkt *p)
{
	size_t hlen;
	uint8_t f;

	if (len < 20)
		return -US_DROP_SHORT;
	hlen = (size_t)(b[12] >> 4) * 4;
	if (hlen < 20 || hlen > len)
		return -US_DROP_TCP_HLEN;
	if (!csum_ok &&
	    us_csum_fold(us_csum_add(tcp_pseudo(p->src_ip, p->dst_ip, len), b, len)))
		return -US_DROP_TCP_CSUM;
	p->sport = get16(b);
	p->dport = get16(b + 2);
	if (!p->sport || !p->dport)
		return -US_DROP_TCP_PORT;
	p->seq = get32(b + 4);
	p->ack = get32(b + 8);
	p->flags = f = b[13] & 0x3f;
	p->win = get16(b + 14);
	/* Combinations no endpoint sends (scans and garbage): SYN with FIN or
	 * RST, and anything but a SYN or a RST without ACK. */
	if ((f & US_TCP_SYN && f & (US_TCP_FIN | US_TCP_RST)) ||
	    (!(f & US_TCP_ACK) && !(f & (US_TCP_SYN | US_TCP_RST))))
		return -US_DROP_TCP_FLAGS;
	if (parse_tcp_opts(b + 20, hlen - 20, &p->opt) < 0)
		return -US_DROP_TCP_OPTS;
	p->data = b + hlen;
	p->data_len = len - hlen;
	return US_KIND_TCP;
}

static int parse_icmp(const uint8_t *b, size_t len, int csum_ok, struct us_pkt *p)
{
	if (len < 8)
		return -US_DROP_SHORT;
	if (!csum_ok && us_csum_fold(us_csum_add(0, b, len)))
		return -US_DROP_ICMP_CSUM;
	p->icmp_type = b[0];
	if ((b[0] != 8 && b[0] != 0) || b[1] != 0)
		return -US_DROP_ICMP;
	p->icmp_id = get16(b + 4);
	p->icmp_seq = get16(b + 6);
	p->data = b + 8;
	p->data_len = len - 8;
	return US_KIND_ICMP;
}

static int parse_ipv4(const uint8_t *b, size_t len, int csum_ok, struct us_pkt *p)
{
	size_t hlen, total;
	uint16_t frag;

	if (len < 20)
		return -US_DROP_SHORT;
	if (b[0] >> 4 != 4)
		return -US_DROP_IP_VERSION;
	hlen = (size_t)(b[0] & 0x0f) * 4;
	if (hlen < 20 || hlen > len)
		return -US_DROP_IP_HLEN;
	total = get16(b + 2);
	/* Ethernet pads short frames: the frame may be longer, never shorter */
	if (total < hlen || total > len)
		return -US_DROP_IP_LEN;
	if (!csum_ok && us_csum_fold(us_csum_add(0, b, hlen)))
		return -US_DROP_IP_CSUM;
	frag = get16(b + 6);
	if (frag & 0x3fff)      /* MF set or an offset: a fragment */
		return -US_DROP_IP_FRAG;
	p->tos = b[1];
	p->ip_id = get16(b + 4);
	p->ttl = b[8];
	p->proto = b[9];
	p->src_ip = get32(b + 12);
	p->dst_ip = get32(b + 16);
	if (!p->src_ip || p->src_ip == 0xffffffffu || (p->src_ip >> 28) == 0xe)
		return -US_DROP_IP_SRC;
	if (p->proto == US_IP_PROTO_TCP)
		return parse_tcp(b + hlen, total - hlen, csum_ok, p);
	if (p->proto == US_IP_PROTO_ICMP)
		return parse_icmp(b + hlen, total - hlen, csum_ok, p);
	return -US_DROP_IP_PROTO;
}

int us_parse(const uint8_t *frame, size_t len, int csum_ok, struct us_pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < US_ETH_HLEN)
		return -US_DROP_SHORT;
	memcpy(p->dst_mac, frame, 6);
	memcpy(p->src_mac, frame + 6, 6);
	p->ethertype = get16(frame + 12);
	if (p->ethertype == US_ETHERTYPE_ARP)
		return parse_arp(frame + US_ETH_HLEN, len - US_ETH_HLEN, p);
	if (p->ethertype == US_ETHERTYPE_IPV4)
		return parse_ipv4(frame + US_ETH_HLEN, len - US_ETH_HLEN, csum_ok, p);
	return -US_DROP_ETHERTYPE;
}

/* ---- building ------------------------------------------------------------------------- */

static void put_eth(uint8_t *b, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	put16(b + 12, type);
}

/* An IPv4 header of 20 bytes for <payload> bytes, checksum filled. */
static void put_ipv4(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto,
		     uint16_t id, size_t payload)
{
	b[0] = 0x45;
	b[1] = 0;
	put16(b + 2, (uint16_t)(20 + payload));
	put16(b + 4, id);
	put16(b + 6, 0x4000);   /* don't fragment */
	b[8] = 64;
	b[9] = proto;
	put16(b + 10, 0);
	put32(b + 12, src);
	put32(b + 16, dst);
	put16(b + 10, us_csum_fold(us_csum_add(0, b, 20)));
}

size_t us_build_tcp(uint8_t *out, size_t cap, const struct us_tcp_out *s)
{
	uint8_t opts[44];
	size_t olen = 0, hlen, tlen, total;
	uint8_t *t;

	if (s->flags & US_TCP_SYN) {
		if (s->mss) {
			opts[olen++] = 2;
			opts[olen++] = 4;
			put16(opts + olen, s->mss);
			olen += 2;
		}
		if (s->sack_ok) {
			opts[olen++] = 4;
			opts[olen++] = 2;
		}
		if (s->ws >= 0) {
			opts[olen++] = 1;
			opts[olen++] = 3;
			opts[olen++] = 3;
			opts[olen++] = (uint8_t)s->ws;
		}
	}
	if (s->has_ts) {
		while (olen % 4 != 2)
			opts[olen++] = 1;
		opts[olen++] = 8;
		opts[olen++] = 10;
		put32(opts + olen, s->tsval);
		put32(opts + olen + 4, s->tsecr);
		olen += 8;
	}
	if (s->nsack && !(s->flags & US_TCP_SYN)) {
		unsigned n = s->nsack > (s->has_ts ? 3u : 4u) ? (s->has_ts ? 3u : 4u) : s->nsack;

		while (olen % 4 != 2)
			opts[olen++] = 1;
		opts[olen++] = 5;
		opts[olen++] = (uint8_t)(2 + 8 * n);
		for (unsigned i = 0; i < n; i++) {
			put32(opts + olen, s->sack[i][0]);
			put32(opts + olen + 4, s->sack[i][1]);
			olen += 8;
		}
	}
	while (olen % 4)
		opts[olen++] = 1;
	hlen = 20 + olen;
	tlen = hlen + s->data_len;
	total = US_ETH_HLEN + 20 + tlen;
	if (total > cap || tlen > 0xffff - 20)
		return 0;
	put_eth(out, s->dst_mac, s->src_mac, US_ETHERTYPE_IPV4);
	put_ipv4(out + US_ETH_HLEN, s->src_ip, s->dst_ip, US_IP_PROTO_TCP, s->ip_id, tlen);
	t = out + US_ETH_HLEN + 20;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(hlen / 4 << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	put16(t + 16, 0);
	put16(t + 18, 0);
	memcpy(t + 20, opts, olen);
	if (s->data_len)
		memcpy(t + hlen, s->data, s->data_len);
	put16(t + 16, us_csum_fold(us_csum_add(tcp_pseudo(s->src_ip, s->dst_ip, tlen), t, tlen)));
	return total;
}

static size_t build_arp(uint8_t *out, size_t cap, uint16_t op, const uint8_t dst_mac[6],
			const uint8_t mac[6], uint32_t ip, const uint8_t tha[6],
			uint32_t tpa)
{
	uint8_t *a = out + US_ETH_HLEN;

	if (cap < US_ETH_HLEN + 28)
		return 0;
	put_eth(out, dst_mac, mac, US_ETHERTYPE_ARP);
	put16(a, 1);
	put16(a + 2, US_ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, mac, 6);
	put32(a + 14, ip);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	return US_ETH_HLEN + 28;
}

size_t us_build_arp_reply(uint8_t *out, size_t cap, const uint8_t mac[6], uint32_t ip,
			  const struct us_pkt *req)
{
	return build_arp(out, cap, 2, req->arp_sha, mac, ip, req->arp_sha, req->arp_spa);
}

size_t us_build_arp_request(uint8_t *out, size_t cap, const uint8_t mac[6], uint32_t ip,
			    uint32_t target_ip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6];

	return build_arp(out, cap, 1, bcast, mac, ip, zero, target_ip);
}

size_t us_build_icmp_echo_reply(uint8_t *out, size_t cap, const uint8_t mac[6],
				uint32_t ip, const struct us_pkt *req)
{
	size_t ilen = 8 + req->data_len, total = US_ETH_HLEN + 20 + ilen;
	uint8_t *c;

	if (total > cap || ilen > 0xffff - 20)
		return 0;
	put_eth(out, req->src_mac, mac, US_ETHERTYPE_IPV4);
	put_ipv4(out + US_ETH_HLEN, ip, req->src_ip, US_IP_PROTO_ICMP, req->ip_id, ilen);
	c = out + US_ETH_HLEN + 20;
	c[0] = 0;       /* echo reply */
	c[1] = 0;
	put16(c + 2, 0);
	put16(c + 4, req->icmp_id);
	put16(c + 6, req->icmp_seq);
	memmove(c + 8, req->data, req->data_len);
	put16(c + 2, us_csum_fold(us_csum_add(0, c, ilen)));
	return total;
}
