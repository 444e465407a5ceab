#!/usr/bin/env python3
"""Write the seed corpus of fuzz_store (tests/fuzz/corpus/store/): records
of the LMDB store as dataplane/store.c lays them out, intact and damaged.
Byte 0 odd: a signing credential, even: a device credential; byte 1 the
key's length, then the key (a credential id), then the value.
Usage: tests/fuzz/make_store_corpus.py [DIR]"""
import os
import struct
import sys

ID = b"AAECAwQFBgcICQoLDA0ODw"  # 22 characters, as the store draws them


def cred(citizen=b"alice", created=1767225600, revoked=0, x=b"\x11" * 32, y=b"\x22" * 32,
         version=1, clen=None):
    return (bytes([version]) + struct.pack(">qq", created, revoked) + x + y +
            bytes([len(citizen) if clen is None else clen]) + citizen)


def signcred(citizen=b"alice", hsm=b"hsm-a", wrap=b"\x07" * 16, blob=b"\xb1" * 1200,
             cert=b"\x30\x82\x01\x00" + b"\x00" * 256, alg=1, created=1767225600, revoked=0,
             version=1):
    return (bytes([version, alg]) + struct.pack(">qq", created, revoked) +
            bytes([len(citizen)]) + citizen + bytes([len(hsm)]) + hsm +
            bytes([len(wrap)]) + wrap + struct.pack(">H", len(blob)) + blob +
            struct.pack(">H", len(cert)) + cert)


def inp(signing, val, key=ID):
    return bytes([1 if signing else 0, len(key)]) + key + val


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "store")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "cred": inp(0, cred()),
        "cred-revoked": inp(0, cred(revoked=1767229200)),
        "cred-citizen-64": inp(0, cred(citizen=b"c" * 64)),
        "cred-citizen-65": inp(0, cred(citizen=b"c" * 65)),
        "cred-citizen-empty": inp(0, cred(citizen=b"")),
        "cred-citizen-bad": inp(0, cred(citizen=b"al/ce")),
        "cred-citizen-nul": inp(0, cred(citizen=b"al\x00ce")),
        "cred-length-lies": inp(0, cred(clen=9)),
        "cred-trailing": inp(0, cred() + b"\x00"),
        "cred-version-2": inp(0, cred(version=2)),
        "cred-negative": inp(0, cred(created=-1)),
        "cred-short-key": inp(0, cred(), ID[:21]),
        "cred-truncated": inp(0, cred()[:81]),
        "sc": inp(1, signcred()),
        "sc-rsa": inp(1, signcred(alg=2, blob=b"\xb2" * 1600, cert=b"\x30" * 2048)),
        "sc-revoked": inp(1, signcred(revoked=1767229200)),
        "sc-empty-parts": inp(1, signcred(wrap=b"", blob=b"", cert=b"")),
        "sc-blob-too-long": inp(1, signcred(blob=b"\xb1" * 1601)),
        "sc-cert-too-long": inp(1, signcred(cert=b"\x30" * 2049)),
        "sc-wrap-33": inp(1, signcred(wrap=b"\x07" * 33)),
        "sc-hsm-31": inp(1, signcred(hsm=b"h" * 31)),
        "sc-hsm-32": inp(1, signcred(hsm=b"h" * 32)),
        "sc-citizen-empty": inp(1, signcred(citizen=b"")),
        "sc-citizen-nul": inp(1, signcred(citizen=b"alice\x00bob")),
        "sc-citizen-bad": inp(1, signcred(citizen=b"../alice")),
        "sc-hsm-nul": inp(1, signcred(hsm=b"hsm\x00a")),
        "sc-hsm-empty": inp(1, signcred(hsm=b"")),
        "sc-revoked-negative": inp(1, signcred(revoked=-1)),
        "sc-negative": inp(1, signcred(created=-5)),
        "sc-alg-unknown": inp(1, signcred(alg=9)),
        "sc-trailing": inp(1, signcred() + b"\x00"),
        "sc-truncated": inp(1, signcred()[:-1]),
        "sc-version-2": inp(1, signcred(version=2)),
        "sc-header-only": inp(1, signcred()[:18]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
