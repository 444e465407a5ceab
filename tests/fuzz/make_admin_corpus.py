#!/usr/bin/env python3
"""Write the seed corpus of fuzz_admin (tests/fuzz/corpus/admin/): what
clients of the admin listener send, well-formed and hostile.  Byte 0 of
each file picks how the harness splits the stream.  Device keys are made
here (public halves only end up in the files).  Usage:
tests/fuzz/make_admin_corpus.py [DIR]"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric import ec

TOKEN = "fuzz-admin-token-0123456789"  # LOOP_TOKEN of tests/unit/loop.h
AUTH = "Authorization: Bearer %s\r\n" % TOKEN


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwk():
    n = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
            "y": b64u(n.y.to_bytes(32, "big"))}


def req(method, path, body=b"", headers="", ctype=None):
    if isinstance(body, str):
        body = body.encode()
    h = "%s %s HTTP/1.1\r\nHost: admin\r\n%s" % (method, path, headers)
    if ctype:
        h += "Content-Type: %s\r\n" % ctype
    if body or method in ("POST", "PUT"):
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode() + b"\r\n" + body


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "admin")
    os.makedirs(out, exist_ok=True)
    one = json.dumps({"citizen_id": "alice", "device_jwk": jwk()})
    bulk = "\n".join(json.dumps({"citizen_id": "c%d" % i, "device_jwk": jwk()}) for i in range(5))
    seeds = {
        "healthz": req("GET", "/healthz"),
        "readyz": req("GET", "/readyz"),
        "healthz-body": req("POST", "/healthz", "x" * 100),
        "metrics": req("GET", "/metrics", headers=AUTH),
        "metrics-no-token": req("GET", "/metrics"),
        "hsm": req("GET", "/v1/admin/hsm", headers=AUTH),
        "enrol": req("POST", "/v1/admin/citizens", one, AUTH, "application/json"),
        "enrol-twice": req("POST", "/v1/admin/citizens", one, AUTH, "application/json") * 2,
        "enrol-bulk": req("POST", "/v1/admin/citizens", bulk, AUTH, "application/x-ndjson"),
        "enrol-array": req("POST", "/v1/admin/citizens", "[%s]" % one, AUTH, "application/json"),
        "enrol-bad-json": req("POST", "/v1/admin/citizens", '{"citizen_id":', AUTH,
                              "application/json"),
        "enrol-bad-jwk": req("POST", "/v1/admin/citizens",
                             '{"citizen_id":"a","device_jwk":{"kty":"EC","crv":"P-256",'
                             '"x":"AA","y":"AA"}}', AUTH, "application/json"),
        "enrol-no-token-big": req("POST", "/v1/admin/citizens", "x" * 60000, "",
                                  "application/json"),
        "enrol-wrong-token": req("POST", "/v1/admin/citizens", one,
                                 "Authorization: Bearer wrong\r\n", "application/json"),
        "revoke": req("POST", "/v1/admin/citizens", one, AUTH, "application/json") +
                  req("DELETE", "/v1/admin/credentials/unknown-credential", headers=AUTH),
        "sc-create": req("POST", "/v1/admin/citizens/alice/signing-credential", "", AUTH),
        "sc-revoke": req("DELETE", "/v1/admin/signing-credentials/x", headers=AUTH),
        "pipeline": (req("GET", "/healthz") + req("GET", "/readyz") +
                     req("GET", "/metrics", headers=AUTH)) * 10,
        "expect-continue": req("POST", "/v1/admin/citizens", one,
                               AUTH + "Expect: 100-continue\r\n", "application/json"),
        "expect-other": req("POST", "/v1/admin/citizens", one, AUTH + "Expect: magic\r\n",
                            "application/json"),
        "partial": req("POST", "/v1/admin/citizens", one, AUTH, "application/json")[:-20],
        "chunked": b"POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\n" + AUTH.encode() +
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "smuggle": b"POST /v1/admin/citizens HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                   b"Content-Length: 30\r\n\r\nabc",
        "bad-line": b"GARBAGE\r\n\r\n",
        "http10": b"GET /healthz HTTP/1.0\r\n\r\n",
        "huge-length": req("POST", "/v1/admin/citizens", "", AUTH +
                           "Content-Length: 99999999999\r\n", "application/json"),
    }
    for i, (name, data) in enumerate(sorted(seeds.items())):
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([i & 0xff]) + data)


main()
