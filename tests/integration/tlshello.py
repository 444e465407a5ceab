"""TLS ClientHellos built by hand (RFC 8446 §4.1.2, §4.2; RFC 5246 §7.4.1.2)
and the server's answer read as records, with no TLS library: what a
hostile client sends costs it nothing but these bytes.  Shared by
test_hostile_tls.py and tests/fuzz/make_hello_corpus.py.

Every part can be overridden (the extensions in any order, repeated or
malformed), which is what hostile hellos need.
"""
import os
import socket
import struct

# RFC 8446 §4.2.7 NamedGroup; RFC 7919 finite-field groups
X25519, SECP256R1, SECP384R1 = 0x001d, 0x0017, 0x0018
FFDHE2048, FFDHE3072, FFDHE4096, FFDHE6144, FFDHE8192 = 0x0100, 0x0101, 0x0102, 0x0103, 0x0104
FFDHE_BYTES = {FFDHE2048: 256, FFDHE3072: 384, FFDHE4096: 512, FFDHE6144: 768, FFDHE8192: 1024}
# cipher suites (RFC 8446 §B.4, RFC 5289, RFC 5288, RFC 7905)
TLS13_SUITES = (0x1301, 0x1302, 0x1303)
ECDHE_ECDSA_AES128_GCM = 0xc02b
ECDHE_ECDSA_AES128_CBC_SHA256 = 0xc023
DHE_RSA_AES128_GCM = 0x009e
DHE_RSA_AES256_GCM = 0x009f
DHE_RSA_CHACHA20 = 0xccaa
# extension types (RFC 8446 §4.2)
EXT_SUPPORTED_GROUPS, EXT_SIG_ALGS, EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 10, 13, 43, 51
SIG_ALGS = (0x0403, 0x0804, 0x0805, 0x0401, 0x0503)
# RFC 8446 §4.1.3: the random of a ServerHello that is a HelloRetryRequest
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

ALERT, HANDSHAKE = 21, 22
HANDSHAKE_FAILURE, UNEXPECTED_MESSAGE = 40, 10


def u16(v):
    return struct.pack(">H", v)


def vec8(b):
    return bytes([len(b)]) + b


def vec16(b):
    return u16(len(b)) + b


def ext(kind, body):
    return u16(kind) + vec16(body)


def ext_supported_versions(versions=(0x0304,)):
    return ext(EXT_SUPPORTED_VERSIONS, vec8(b"".join(u16(v) for v in versions)))


def ext_groups(groups):
    return ext(EXT_SUPPORTED_GROUPS, vec16(b"".join(u16(g) for g in groups)))


def ext_sig_algs(algs=SIG_ALGS):
    return ext(EXT_SIG_ALGS, vec16(b"".join(u16(a) for a in algs)))


def ext_key_share(shares):
    """<shares>: (group, key bytes) pairs."""
    return ext(EXT_KEY_SHARE, vec16(b"".join(u16(g) + vec16(k) for g, k in shares)))


def random_share(group):
    """A key share that cost its sender nothing: random bytes of the
    group's size (an x25519 share is 32 bytes)."""
    return os.urandom(FFDHE_BYTES.get(group, 32))


def tls13_extensions(groups, share_groups=None):
    """What a TLS 1.3 client sends: versions, groups, signature algorithms
    and a random key share for each of <share_groups> (default: the first
    group)."""
    shares = share_groups if share_groups is not None else groups[:1]
    return [ext_supported_versions(), ext_groups(groups), ext_sig_algs(),
            ext_key_share([(g, random_share(g)) for g in shares])]


def client_hello(suites, extensions, legacy_version=0x0303, record_version=0x0301):
    """One record holding a ClientHello with <suites> and the encoded
    <extensions> (a list, in order)."""
    body = (u16(legacy_version) + os.urandom(32) + vec8(os.urandom(32)) +
            vec16(b"".join(u16(s) for s in suites)) + vec8(b"\x00") +
            vec16(b"".join(extensions)))
    hs = bytes([1]) + struct.pack(">I", len(body))[1:] + body
    return bytes([HANDSHAKE]) + u16(record_version) + vec16(hs)


def tls13_hello(groups, share_groups=None, suites=TLS13_SUITES):
    return client_hello(suites, tls13_extensions(groups, share_groups))


def tls12_hello(suites, groups=(X25519, SECP256R1)):
    return client_hello(suites, [ext_groups(groups), ext_sig_algs()])


def split_records(data):
    """Whole records at the start of <data>: [(content type, payload)]."""
    recs = []
    while len(data) >= 5 and len(data) >= 5 + struct.unpack(">H", data[3:5])[0]:
        n = struct.unpack(">H", data[3:5])[0]
        recs.append((data[0], data[5:5 + n]))
        data = data[5 + n:]
    return recs


def read_records(sock, timeout=10.0, want=None):
    """The records the server sends until it closes, <timeout> passes or
    <want> whole records came: [(content type, payload)]."""
    sock.settimeout(timeout)
    data = b""
    try:
        while want is None or len(split_records(data)) < want:
            d = sock.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return split_records(data)


def exchange(port, hello, timeout=10.0, want=None):
    """Send <hello> to 127.0.0.1:<port>; the records of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(hello)
        return read_records(s, timeout, want)


def is_alert(rec, desc):
    """A fatal alert (RFC 8446 §6) with description <desc>."""
    return rec[0] == ALERT and rec[1] == bytes([2, desc])


def server_hello(recs):
    """(random, selected group of the key_share extension or None) of the
    first record's ServerHello, or None when it is not one."""
    if not recs or recs[0][0] != HANDSHAKE or recs[0][1][:1] != b"\x02":
        return None
    m = recs[0][1][4:]
    rnd = m[2:34]
    p = 34
    p += 1 + m[p]          # legacy_session_id_echo
    p += 3                 # cipher_suite, legacy_compression_method
    end = p + 2 + struct.unpack(">H", m[p:p + 2])[0]
    p += 2
    group = None
    while p + 4 <= end:
        kind, n = struct.unpack(">HH", m[p:p + 4])
        if kind == EXT_KEY_SHARE:
            group = struct.unpack(">H", m[p + 4:p + 6])[0]
        p += 4 + n
    return rnd, group
