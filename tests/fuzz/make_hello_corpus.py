#!/usr/bin/env python3
"""Write the seed corpus of fuzz_clienthello: hostile and ordinary first
flights of a TLS client, built by tests/integration/tlshello.py.

    python3 tests/fuzz/make_hello_corpus.py [DIR]   (default: tests/fuzz/corpus/clienthello)

Key shares and randoms are random bytes, so each run writes new files; the
names say what each input is.  libFuzzer's own finds (named by their
SHA-1) stay beside them."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import tlshello as th  # noqa: E402

ALL_FFDHE = [th.FFDHE2048, th.FFDHE3072, th.FFDHE4096, th.FFDHE6144, th.FFDHE8192]


def records(hello, size):
    """<hello>'s handshake message cut into records of <size> bytes."""
    hs = hello[5:]
    return b"".join(hello[:1] + hello[1:3] + th.vec16(hs[i:i + size])
                    for i in range(0, len(hs), size))


def cases():
    x25519 = th.tls13_hello([th.X25519, th.SECP256R1])
    hrr_first = th.tls13_hello([th.FFDHE2048, th.X25519], [th.FFDHE2048])
    yield "x25519_valid", x25519
    yield "p256_share", th.tls13_hello([th.SECP256R1], [th.SECP256R1])
    yield "ffdhe8192_only", th.tls13_hello(ALL_FFDHE[::-1], [th.FFDHE8192])
    yield "ffdhe2048_share_x25519_supported", hrr_first
    # after the HelloRetryRequest, a second hello still offering ffdhe only
    yield "hrr_then_ffdhe_again", hrr_first + th.tls13_hello([th.FFDHE2048], [th.FFDHE2048])
    yield "hrr_then_x25519", hrr_first + th.tls13_hello([th.FFDHE2048, th.X25519], [th.X25519])
    yield "ffdhe_share_no_groups", th.client_hello(th.TLS13_SUITES, [
        th.ext_supported_versions(), th.ext_sig_algs(),
        th.ext_key_share([(th.FFDHE8192, th.random_share(th.FFDHE8192))])])
    yield "many_groups", th.tls13_hello(list(range(1, 2000)) + [th.X25519], [])
    yield "many_key_shares", th.client_hello(th.TLS13_SUITES, [
        th.ext_supported_versions(), th.ext_groups(ALL_FFDHE + [th.X25519]), th.ext_sig_algs(),
        th.ext_key_share([(g, th.random_share(g)) for g in ALL_FFDHE * 2])])
    yield "huge_key_share", th.client_hello(th.TLS13_SUITES, [
        th.ext_supported_versions(), th.ext_groups([th.X25519]), th.ext_sig_algs(),
        th.ext_key_share([(th.X25519, os.urandom(15000))])])
    yield "x25519_share_wrong_length", th.client_hello(th.TLS13_SUITES, [
        th.ext_supported_versions(), th.ext_groups([th.X25519]), th.ext_sig_algs(),
        th.ext_key_share([(th.X25519, os.urandom(31))])])
    yield "duplicate_extensions", th.client_hello(th.TLS13_SUITES,
                                                  th.tls13_extensions([th.X25519]) * 2)
    yield "duplicate_key_share_group", th.client_hello(th.TLS13_SUITES, [
        th.ext_supported_versions(), th.ext_groups([th.X25519]), th.ext_sig_algs(),
        th.ext_key_share([(th.X25519, os.urandom(32)), (th.X25519, os.urandom(32))])])
    yield "no_extensions", th.client_hello(th.TLS13_SUITES, [])
    yield "tls12_dhe_only", th.tls12_hello([th.DHE_RSA_AES128_GCM, th.DHE_RSA_AES256_GCM,
                                            th.DHE_RSA_CHACHA20])
    yield "tls12_cbc_only", th.tls12_hello([th.ECDHE_ECDSA_AES128_CBC_SHA256])
    yield "tls12_ecdhe_gcm", th.tls12_hello([th.ECDHE_ECDSA_AES128_GCM])
    yield "tls12_ffdhe_groups_only", th.tls12_hello([th.ECDHE_ECDSA_AES128_GCM], ALL_FFDHE)
    yield "tls12_no_suites", th.tls12_hello([])
    yield "split_in_small_records", records(x25519, 7)
    yield "truncated_half", x25519[:len(x25519) // 2]
    yield "truncated_header", x25519[:9]
    yield "record_length_lies", x25519[:3] + struct.pack(">H", 0xffff) + x25519[5:]
    yield "handshake_length_lies", x25519[:6] + b"\xff\xff\xff" + x25519[9:]
    yield "sslv2_style", b"\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" + os.urandom(37)
    yield "zero_length", b""
    yield "alert_first", b"\x15\x03\x03\x00\x02\x02\x28"
    yield "application_data_first", b"\x17\x03\x03\x00\x10" + os.urandom(16)


def main():
    top = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "corpus", "clienthello")
    os.makedirs(out, exist_ok=True)
    n = 0
    for name, data in cases():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        n += 1
    print("wrote %d inputs to %s" % (n, out))


if __name__ == "__main__":
    main()
