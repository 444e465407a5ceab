#!/usr/bin/env python3
"""Write the seed corpus of fuzz_approval (tests/fuzz/corpus/approval/):
officers' approvals, valid and hostile, signed with a P-256 key made here
whose private half is never written; each "check" input carries the public
point, the time to check at and the action, HSM and key wanted (see
fuzz_approval.c).  "create" inputs carry a lifetime and the three fields.
Usage: tests/fuzz/make_approval_corpus.py [DIR]"""
import base64
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

NOW = 1767225600  # 2026-01-01
HDR = {"alg": "ES256", "typ": "idgate-approval+jwt"}
WANT = ("destroy", "hsm-a", "key-0001")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def seg(obj):
    return b64u(obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode())


def payload(**kw):
    p = {"officer": "alice", "action": WANT[0], "hsm": WANT[1], "key": WANT[2],
         "iat": NOW - 10, "exp": NOW + 3600, "nonce": b64u(bytes(range(16)))}
    p.update(kw)
    return {k: v for k, v in p.items() if v is not None}


def sign(key, hdr, pl, raw_sig=True):
    si = seg(hdr) + "." + seg(pl)
    der = key.sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    if not raw_sig:
        return si + "." + b64u(der)
    r, s = decode_dss_signature(der)
    return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def check_input(point, jws, now=NOW, want=WANT):
    return (b"\x00" + point + struct.pack("<q", now) + "\n".join(want).encode() + b"\n" +
            (jws.encode() if isinstance(jws, str) else jws))


def create_input(ttl, fields):
    return b"\x01" + struct.pack("<I", ttl) + b"\n".join(fields) + b"\x5a"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "approval")
    os.makedirs(out, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    other = ec.generate_private_key(ec.SECP256R1())
    good = sign(key, HDR, payload())
    h, p, s = good.split(".")
    seeds = {
        "valid": check_input(point, good),
        "valid-at-iat-skew": check_input(point, good, NOW - 70),
        "expired": check_input(point, good, NOW + 3600),
        "future": check_input(point, good, NOW - 100),
        "wrong-action": check_input(point, good, want=("retire",) + WANT[1:]),
        "wrong-hsm": check_input(point, good, want=(WANT[0], "hsm-b", WANT[2])),
        "wrong-key": check_input(point, good, want=WANT[:2] + ("key-0002",)),
        "other-signer": check_input(point, sign(other, HDR, payload())),
        "bad-point": check_input(b"\x04" + b"\x01" * 64, good),
        "der-signature": check_input(point, sign(key, HDR, payload(), raw_sig=False)),
        "sig-flipped": check_input(point, h + "." + p + "." + s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]),
        "alg-none": check_input(point, seg({"alg": "none", "typ": HDR["typ"]}) + "." + p + "."),
        "alg-hs256": check_input(point, sign(key, {"alg": "HS256", "typ": HDR["typ"]}, payload())),
        "hdr-crit": check_input(point, sign(key, dict(HDR, crit=["exp"]), payload())),
        "hdr-dup": check_input(point, seg(b'{"alg":"ES256","alg":"ES256","typ":"idgate-approval+jwt"}') + "." + p + "." + s),
        "pl-dup": check_input(point, sign(key, HDR, payload()).split(".")[0] + "." +
                              seg(b'{"officer":"alice","officer":"carol"}') + "." + s),
        "pl-extra": check_input(point, sign(key, HDR, payload(extra=1))),
        "pl-no-nonce": check_input(point, sign(key, HDR, payload(nonce=None))),
        "pl-short-nonce": check_input(point, sign(key, HDR, payload(nonce=b64u(b"x" * 15)))),
        "pl-iat-float": check_input(point, sign(key, HDR, payload(iat=float(NOW)))),
        "pl-iat-negative": check_input(point, sign(key, HDR, payload(iat=-1))),
        "pl-huge-times": check_input(point, sign(key, HDR, payload(iat=2**63 - 2, exp=2**63 - 1)),
                                     2**63 - 100),
        "pl-exp-before-iat": check_input(point, sign(key, HDR, payload(exp=NOW - 20))),
        "pl-lifetime-25h": check_input(point, sign(key, HDR, payload(exp=NOW - 10 + 90000))),
        "pl-officer-dotdot": check_input(point, sign(key, HDR, payload(officer="../officers/alice"))),
        "pl-officer-hidden": check_input(point, sign(key, HDR, payload(officer=".alice"))),
        "pl-officer-nul": check_input(point, sign(key, HDR, payload(officer="alice\u0000x"))),
        "pl-officer-unknown": check_input(point, sign(key, HDR, payload(officer="bob"))),
        "pl-officer-carol": check_input(point, sign(key, HDR, payload(officer="carol"))),
        "pl-action-nul": check_input(point, sign(key, HDR, payload(action="destroy\u0000x"))),
        "pl-unicode": check_input(point, sign(key, HDR, payload(key="clé-\u00e9")),
                                  want=(WANT[0], WANT[1], "clé-é")),
        "pl-array": check_input(point, sign(key, HDR, [1, 2])),
        "two-parts": check_input(point, h + "." + p),
        "four-parts": check_input(point, good + ".x"),
        "padded": check_input(point, h + "=." + p + "." + s),
        "too-long": check_input(point, sign(key, HDR, payload(detail="x" * 4000))),
        "empty": check_input(point, ""),
        "create-valid": create_input(600, [b"destroy", b"hsm-a", b"key-0001"]),
        "create-max-ttl": create_input(86400, [b"destroy", b"hsm-a", b"k"]),
        "create-ttl-0": create_input(0, [b"destroy", b"hsm-a", b"k"]),
        "create-ttl-big": create_input(86401, [b"destroy", b"hsm-a", b"k"]),
        "create-empty-field": create_input(60, [b"destroy", b"", b"k"]),
        "create-control": create_input(60, [b"des\x01troy", b"hsm-a", b"k"]),
        "create-not-utf8": create_input(60, [b"destroy", b"hsm-\xff", b"k"]),
        "create-long": create_input(60, [b"a" * 256, b"h" * 256, b"k" * 256]),
        "create-too-long": create_input(60, [b"a" * 257, b"h", b"k"]),
        "create-quotes": create_input(60, [b'de"st\\roy', b"hsm'a", b"\xc3\xa9"]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
