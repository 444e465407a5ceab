"""Ethernet frames built and parsed by hand (struct, RFC 1071 checksums
computed here; no scapy), and a raw link: an AF_PACKET socket on one
interface of a network namespace, playing a host of its own there (its own
MAC and IPv4 address, which the kernel of that namespace does not own, so
the kernel drops what is sent to it and never answers for it).  Its reader
thread keeps every frame the interface received, answers ARP requests for
its address, and lets a test wait for a frame matching a predicate.

Every builder takes overrides of any field (a wrong checksum, a length,
flags), which is what malformed-frame tests need.
"""
import socket
import struct
import threading
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def mac_b(s):
    return bytes(int(x, 16) for x in s.split(":")) if isinstance(s, str) else bytes(s)


def mac_s(b):
    return ":".join("%02x" % x for x in b)


def ip_b(s):
    return socket.inet_aton(s) if isinstance(s, str) else bytes(s)


def csum(data, start=0):
    """RFC 1071: the ones' complement of the ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def eth(dst, src, etype, payload):
    return mac_b(dst) + mac_b(src) + struct.pack("!H", etype) + payload


def arp(op, sha, spa, tha, tpa, htype=1, ptype=ETH_P_IP, hlen=6, plen=4):
    return struct.pack("!HHBBH", htype, ptype, hlen, plen, op) + \
        mac_b(sha) + ip_b(spa) + mac_b(tha) + ip_b(tpa)


def ipv4(src, dst, proto, payload, ident=0, frag=0x4000, ttl=64, tos=0, ihl=5,
         version=4, total=None, check=None, options=b""):
    """An IPv4 packet.  <frag>: flags and fragment offset (0x4000 = DF);
    <total>, <check>, <ihl>, <version>: override the computed values."""
    hl = 20 + len(options)
    if total is None:
        total = hl + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, tos, total, ident, frag, ttl, proto, 0,
                    ip_b(src), ip_b(dst)) + options
    if check is None:
        check = csum(h)
    return h[:10] + struct.pack("!H", check) + h[12:] + payload


def tcp_opts(mss=None, ws=None, sack_ok=False, ts=None):
    o = b""
    if mss is not None:
        o += struct.pack("!BBH", 2, 4, mss)
    if sack_ok:
        o += b"\x04\x02"
    if ts is not None:
        o += b"\x01\x01" + struct.pack("!BBII", 8, 10, ts[0], ts[1])
    if ws is not None:
        o += b"\x01" + struct.pack("!BBB", 3, 3, ws)
    while len(o) % 4:
        o += b"\x01"
    return o


def tcp(src, dst, sport, dport, seq, ack, flags, data=b"", win=65535, opts=b"",
        doff=None, check=None, urg=0):
    """A TCP segment with its checksum over the RFC 9293 pseudo-header;
    <doff> (in 32-bit words) and <check> override the computed values.
    <opts> must be a multiple of 4 bytes long unless <doff> is given."""
    if doff is None:
        doff = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                    doff << 4, flags, win, 0, urg) + opts
    seg = h + data
    if check is None:
        pseudo = ip_b(src) + ip_b(dst) + struct.pack("!BBH", 0, 6, len(seg))
        check = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", check) + seg[18:]


def icmp(type_, code, ident, seq, data=b"", check=None):
    h = struct.pack("!BBHHH", type_, code, 0, ident, seq) + data
    if check is None:
        check = csum(h)
    return h[:2] + struct.pack("!H", check) + h[4:]


class Frame:
    """A received frame, parsed leniently: whatever layers are there."""

    def __init__(self, raw, pkttype, t):
        self.raw, self.pkttype, self.t = raw, pkttype, t
        self.dst, self.src = raw[0:6], raw[6:12]
        self.etype = struct.unpack("!H", raw[12:14])[0] if len(raw) >= 14 else None
        self.arp = self.ip = self.tcp = self.icmp = None
        p = raw[14:]
        if self.etype == ETH_P_ARP and len(p) >= 28:
            op = struct.unpack("!H", p[6:8])[0]
            self.arp = dict(op=op, sha=p[8:14], spa=socket.inet_ntoa(p[14:18]),
                            tha=p[18:24], tpa=socket.inet_ntoa(p[24:28]))
        elif self.etype == ETH_P_IP and len(p) >= 20:
            ihl = (p[0] & 15) * 4
            total = struct.unpack("!H", p[2:4])[0]
            self.ip = dict(src=socket.inet_ntoa(p[12:16]), dst=socket.inet_ntoa(p[16:20]),
                           proto=p[9], id=struct.unpack("!H", p[4:6])[0], ttl=p[8])
            body = p[ihl:total]
            if p[9] == 6 and len(body) >= 20:
                sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", body[:16])
                doff = (off >> 4) * 4
                self.tcp = dict(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags & 0x3f,
                                win=win, data=body[doff:], opts=parse_tcp_opts(body[20:doff]))
            elif p[9] == 1 and len(body) >= 8:
                t, c, _, ident, seq = struct.unpack("!BBHHH", body[:8])
                self.icmp = dict(type=t, code=c, id=ident, seq=seq, data=body[8:])

    def __repr__(self):
        if self.tcp:
            t = self.tcp
            return "<tcp %s:%d > %s:%d %s seq=%d ack=%d len=%d>" % (
                self.ip["src"], t["sport"], self.ip["dst"], t["dport"], flag_names(t["flags"]),
                t["seq"], t["ack"], len(t["data"]))
        if self.arp:
            return "<arp op=%d %s > %s>" % (self.arp["op"], self.arp["spa"], self.arp["tpa"])
        if self.icmp:
            return "<icmp type=%d %s > %s>" % (self.icmp["type"], self.ip["src"], self.ip["dst"])
        return "<frame type=0x%04x len=%d>" % (self.etype or 0, len(self.raw))


def parse_tcp_opts(o):
    out, i = {}, 0
    while i < len(o):
        k = o[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(o) or o[i + 1] < 2:
            break
        ln = o[i + 1]
        v = o[i + 2:i + ln]
        if k == 2 and ln == 4:
            out["mss"] = struct.unpack("!H", v)[0]
        elif k == 3 and ln == 3:
            out["ws"] = v[0]
        elif k == 4:
            out["sack_ok"] = True
        elif k == 5:
            out["sack"] = [struct.unpack("!II", v[j:j + 8]) for j in range(0, len(v) - 7, 8)]
        elif k == 8 and ln == 10:
            out["ts"] = struct.unpack("!II", v)
        i += ln
    return out


def flag_names(f):
    return "".join(n for b, n in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"),
                                  (URG, "U")) if f & b) or "."


class Link:
    """An AF_PACKET socket on <ifname> in namespace <ns>, as a host with
    <mac> and <ip> (not the kernel's)."""

    def __init__(self, ns, ifname, mac="02:00:5e:10:00:63", ip="198.18.0.99"):
        self.ns, self.ifname = ns, ifname
        self.mac, self.ip = mac_b(mac), ip
        with ns.entered():
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((ifname, 0))
        self.sock.settimeout(0.2)
        self.frames = []
        self.cond = threading.Condition()
        self.stop = False
        self.arp_answered = 0
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        while not self.stop:
            try:
                raw, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue        # what this namespace's kernel (or we) sent
            f = Frame(raw, addr[2], time.time())
            if f.arp and f.arp["op"] == 1 and f.arp["tpa"] == self.ip:
                self.send(eth(f.src, self.mac, ETH_P_ARP,
                              arp(2, self.mac, self.ip, f.arp["sha"], f.arp["spa"])))
                self.arp_answered += 1
            with self.cond:
                self.frames.append(f)
                self.cond.notify_all()

    def send(self, frame):
        self.sock.send(frame)

    def mark(self):
        with self.cond:
            return len(self.frames)

    def wait(self, pred, since, timeout=2.0):
        """The first frame received from index <since> on that satisfies
        <pred>, or None after <timeout> seconds."""
        deadline = time.time() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.frames):
                    f = self.frames[i]
                    i += 1
                    try:
                        if pred(f):
                            return f
                    except (KeyError, TypeError):
                        pass
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def since(self, since, pred=lambda f: True):
        with self.cond:
            return [f for f in self.frames[since:] if pred(f)]

    def resolve(self, ip, timeout=3.0):
        """The MAC answering an ARP request for <ip> (sent from this host)."""
        for _ in range(3):
            m = self.mark()
            self.send(eth("ff:ff:ff:ff:ff:ff", self.mac, ETH_P_ARP,
                          arp(1, self.mac, self.ip, b"\0" * 6, ip)))
            f = self.wait(lambda f: f.arp and f.arp["op"] == 2 and f.arp["spa"] == ip
                          and f.dst == self.mac, m, timeout / 3)
            if f:
                return f.arp["sha"]
        return None

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(2)
