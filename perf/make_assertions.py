#!/usr/bin/python3
"""Enrol DEVICES citizens on a running idgated (bulk, admin API) and write
COUNT device assertions, one per line, round-robin over the devices, for
the login benchmark.  Each has its own jti and is valid for 290 s.

usage: make_assertions.py ADMIN_URL ADMIN_TOKEN_FILE TOKEN_ENDPOINT DEVICES COUNT OUT"""
import base64
import json
import sys
import time
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


admin, token_file, aud, ndev, count, out = sys.argv[1:7]
ndev, count = int(ndev), int(count)
token = open(token_file).read().strip()
keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(ndev)]
docs = []
for i, k in enumerate(keys):
    n = k.public_key().public_numbers()
    docs.append({"citizen_id": "bench-%d-%s" % (i, uuid.uuid4().hex[:8]),
                 "device_jwk": {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                                "y": b64u(n.y.to_bytes(32, "big"))}})
req = urllib.request.Request(admin + "/v1/admin/citizens", data=json.dumps(docs).encode(),
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Bearer " + token})
res = json.loads(urllib.request.urlopen(req).read())
creds = [r["credential_id"] for r in res["results"]]
now = int(time.time())
with open(out, "w") as f:
    for i in range(count):
        cred, key = creds[i % ndev], keys[i % ndev]
        h = b64u(json.dumps({"alg": "ES256", "kid": cred}, separators=(",", ":")).encode())
        c = b64u(json.dumps({"iss": cred, "sub": cred, "aud": aud, "iat": now, "exp": now + 290,
                             "jti": uuid.uuid4().hex}, separators=(",", ":")).encode())
        r, s = decode_dss_signature(key.sign((h + "." + c).encode(), ec.ECDSA(hashes.SHA256())))
        f.write(h + "." + c + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")) + "\n")
