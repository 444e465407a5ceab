#!/usr/bin/env python3
"""Write the seed corpus of fuzz_pubkey (tests/fuzz/corpus/pubkey/): the
PKCS#11 attributes of EC and RSA public keys, valid and hostile, and DN
strings for certification requests (see fuzz_pubkey.c for the layout).
Keys are made here; only their public halves are written.
Usage: tests/fuzz/make_pubkey_corpus.py [DIR]"""
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

P256 = bytes.fromhex("06082a8648ce3d030107")
P384 = bytes.fromhex("06052b81040022")
P521 = bytes.fromhex("06052b81040023")
BRAINPOOL = bytes.fromhex("06092b2403030208010107")


def ec_input(params, point, kid=b""):
    return b"\x00" + bytes([len(params)]) + params + point + kid


def rsa_input(n, e):
    return b"\x01" + struct.pack(">H", len(n)) + n + e


def dn_input(dn, p384=False):
    return b"\x02" + (b"\x01" if p384 else b"\x00") + dn.encode()


def point(curve, form=PublicFormat.UncompressedPoint):
    return ec.generate_private_key(curve).public_key().public_bytes(Encoding.X962, form)


def be(i, n=None):
    return i.to_bytes(n or (i.bit_length() + 7) // 8, "big")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "pubkey")
    os.makedirs(out, exist_ok=True)
    p256, p384 = point(ec.SECP256R1()), point(ec.SECP384R1())
    n2048 = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
    n3072 = rsa.generate_private_key(3, 3072).public_key().public_numbers().n
    n4096 = rsa.generate_private_key(65537, 4096).public_key().public_numbers().n
    seeds = {
        "ec-p256": ec_input(P256, p256),
        "ec-p256-wrapped": ec_input(P256, b"\x04\x41" + p256),
        "ec-p384": ec_input(P384, p384),
        "ec-p384-wrapped": ec_input(P384, b"\x04\x61" + p384),
        "ec-p256-compressed": ec_input(P256, point(ec.SECP256R1(), PublicFormat.CompressedPoint)),
        "ec-p256-off-curve": ec_input(P256, p256[:-1] + bytes([p256[-1] ^ 1])),
        "ec-p256-zero": ec_input(P256, b"\x04" + bytes(64)),
        "ec-p256-big-x": ec_input(P256, b"\x04" + b"\xff" * 64),
        "ec-p256-long-form": ec_input(P256, b"\x04\x81\x41" + p256),
        "ec-p256-trailing": ec_input(P256, b"\x04\x41" + p256 + b"\x00"),
        "ec-p256-on-p384": ec_input(P384, p256),
        "ec-p521": ec_input(P521, point(ec.SECP521R1())),
        "ec-brainpool": ec_input(BRAINPOOL, p256),
        "ec-explicit": ec_input(bytes.fromhex("3081f7020101"), p256),
        "ec-hybrid": ec_input(P256, b"\x06" + p256[1:]),
        "rsa-2048": rsa_input(be(n2048), be(65537)),
        "rsa-3072-e3": rsa_input(be(n3072), be(3)),
        "rsa-4096": rsa_input(be(n4096), be(65537)),
        "rsa-leading-zeros": rsa_input(b"\x00\x00" + be(n2048), b"\x00\x01\x00\x01"),
        "rsa-e-64bit": rsa_input(be(n2048), b"\xff" * 8),
        "rsa-e-65bit": rsa_input(be(n2048), b"\x01" + b"\xff" * 8),
        "rsa-e-even": rsa_input(be(n2048), be(65536)),
        "rsa-e-1": rsa_input(be(n2048), b"\x01"),
        "rsa-e-empty": rsa_input(be(n2048), b""),
        "rsa-n-even": rsa_input(be(n2048 - 1), be(65537)),
        "rsa-2047": rsa_input(be(n2048 >> 1 | 1), be(65537)),
        "rsa-4097": rsa_input(be(n4096 << 1 | 1), be(65537)),
        "rsa-zero": rsa_input(bytes(256), be(65537)),
        "dn-simple": dn_input("CN=idgate.example,O=Example,C=HK"),
        "dn-p384": dn_input("CN=idgate.example", True),
        "dn-all-types": dn_input("CN=a,OU=b,O=c,L=d,ST=e,C=HK,serialNumber=PNOHK-123"),
        "dn-case-spaces": dn_input("  cn = idgate citizen 3f9a , o=idgate ,c = HK"),
        "dn-utf8": dn_input("CN=陳大文,O=Café,C=HK"),
        "dn-16": dn_input(",".join("OU=u%d" % i for i in range(16))),
        "dn-17": dn_input(",".join("OU=u%d" % i for i in range(17))),
        "dn-cn-64": dn_input("CN=" + "x" * 64),
        "dn-cn-65": dn_input("CN=" + "x" * 65),
        "dn-l-128": dn_input("L=" + "l" * 128 + ",ST=" + "s" * 128),
        "dn-c-lower": dn_input("C=hk"),
        "dn-c-three": dn_input("C=HKG"),
        "dn-serial-bad": dn_input("serialNumber=a_b"),
        "dn-specials": dn_input("CN=a+b"),
        "dn-escape": dn_input("CN=a\\,b"),
        "dn-hash": dn_input("CN=#0403"),
        "dn-quote": dn_input('CN="x"'),
        "dn-control": dn_input("CN=a\tb"),
        "dn-empty": dn_input(""),
        "dn-empty-value": dn_input("CN="),
        "dn-empty-entry": dn_input("CN=a,,O=b"),
        "dn-trailing-comma": dn_input("CN=a,"),
        "dn-unknown-type": dn_input("E=a@example.com"),
        "dn-no-equals": dn_input("CN"),
        "dn-double-equals": dn_input("CN=a=b"),
        "dn-bad-utf8": b"\x02\x00CN=\xc3\x28",
        "dn-overlong-utf8": b"\x02\x00CN=\xc0\xaf",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
