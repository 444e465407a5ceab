/*
 * fuzz_pkt.c - arbitrary bytes as an Ethernet frame into the userspace
 * stack's parser (dataplane/ustack/pkt.c), with checksums verified and
 * skipped.  Besides memory errors it checks that a refusal names a known
 * reason, that an accepted frame's payload lies inside the frame, and that
 * what the stack would answer (an ARP reply, an echo reply, a TCP segment
 * echoing the parsed fields) parses back as the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/ustack/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t our_mac[6] = { 2, 0, 0, 0, 0, 1 };
#define OUR_IP 0xc6120001u      /* the stack's address: replies come from it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[70000];
	struct us_pkt p, q;
	size_t n;

	for (int csum_ok = 0; csum_ok < 2; csum_ok++) {
		int k = us_parse(data, size, csum_ok, &p);

		if (k < 0) {
			if (-k >= US_DROP_COUNT)
				abort();
			continue;
		}
		if (p.data && (p.data < data || p.data + p.data_len > data + size))
			abort();
		if (k == US_KIND_ARP) {
			n = us_build_arp_reply(out, sizeof(out), our_mac, OUR_IP, &p);
			if (!n || us_parse(out, n, 0, &q) != US_KIND_ARP || q.arp_op != 2 ||
			    q.arp_tpa != p.arp_spa)
				abort();
		} else if (k == US_KIND_ICMP) {
			n = us_build_icmp_echo_reply(out, sizeof(out), our_mac, OUR_IP, &p);
			if (!n || us_parse(out, n, 0, &q) != US_KIND_ICMP ||
			    q.icmp_seq != p.icmp_seq || q.data_len != p.data_len ||
			    memcmp(q.data, p.data, p.data_len))
				abort();
		} else if (k == US_KIND_TCP) {
			struct us_tcp_out s = {
				.src_ip = OUR_IP, .dst_ip = p.src_ip, .sport = p.dport,
				.dport = p.sport, .seq = p.ack, .ack = p.seq + 1,
				.flags = US_TCP_ACK | (p.flags & US_TCP_SYN), .win = p.win,
				.mss = p.opt.mss, .ws = p.opt.has_ws ? (int8_t)p.opt.ws : -1,
				.sack_ok = p.opt.sack_ok, .has_ts = p.opt.has_ts,
				.tsval = p.opt.tsecr, .tsecr = p.opt.tsval,
				.data = p.data, .data_len = p.data_len,
			};

			n = us_build_tcp(out, sizeof(out), &s);
			if (!n || us_parse(out, n, 0, &q) != US_KIND_TCP || q.seq != s.seq ||
			    q.ack != s.ack || q.data_len != s.data_len ||
			    memcmp(q.data, s.data, s.data_len))
				abort();
		}
	}
	return 0;
}
