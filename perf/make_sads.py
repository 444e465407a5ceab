#!/usr/bin/python3
"""Prepare the signing benchmark on a running idgated: enrol CITIZENS
citizens (admin API), give each a signing credential, log each in, then
have their devices approve COUNT signHash calls of HASHES hashes each
(credentials/authorize, round-robin over the citizens) and write one line
per call: "<access token> <signHash JSON body>".  Each SAD is used once.

usage: make_sads.py ADMIN_URL ADMIN_TOKEN_FILE ISSUER CITIZENS COUNT HASHES OUT"""
import base64
import hashlib
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jws(key, kid, claims):
    si = b64u(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}).encode()) + "." + \
        b64u(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


admin, token_file, issuer, ncit, count, nhash, out = sys.argv[1:8]
ncit, count, nhash = int(ncit), int(count), int(nhash)
admin_token = open(token_file).read().strip()
host, port = urllib.parse.urlsplit(issuer).hostname, urllib.parse.urlsplit(issuer).port


def admin_post(path, body):
    req = urllib.request.Request(admin + path, data=json.dumps(body).encode() if body else b"",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + admin_token})
    return json.loads(urllib.request.urlopen(req).read())


def https():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(host, port, context=ctx)


citizens = []
for i in range(ncit):
    key = ec.generate_private_key(ec.SECP256R1())
    n = key.public_key().public_numbers()
    cid = "signer-%d-%s" % (i, uuid.uuid4().hex[:8])
    dev = admin_post("/v1/admin/citizens", {"citizen_id": cid, "device_jwk": {
        "kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
        "y": b64u(n.y.to_bytes(32, "big"))}})["credential_id"]
    cred = admin_post("/v1/admin/citizens/%s/signing-credential" % cid, None)["credential_id"]
    c = https()
    now = int(time.time())
    form = urllib.parse.urlencode({
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id": "bench",
        "assertion": jws(key, dev, {"iss": dev, "sub": dev, "aud": issuer + "/oauth2/token",
                                    "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex})})
    c.request("POST", "/oauth2/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    tok = json.loads(c.getresponse().read())["access_token"]
    citizens.append((key, dev, cred, tok))

lines = [None] * count
aud = issuer + "/csc/v2/credentials/authorize"


def work(part):
    c = https()
    for i in range(part, count, 4):
        key, dev, cred, tok = citizens[i % ncit]
        hs = [base64.b64encode(hashlib.sha256(b"%d %d" % (i, j)).digest()).decode()
              for j in range(nhash)]
        now = int(time.time())
        body = {"credentialID": cred, "numSignatures": nhash, "hashes": hs,
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                "authData": [{"id": "device_assertion", "value": jws(key, dev, {
                    "iss": dev, "sub": dev, "aud": aud, "iat": now, "exp": now + 290,
                    "jti": uuid.uuid4().hex, "credentialID": cred, "hashes": hs})}]}
        c.request("POST", "/csc/v2/credentials/authorize", json.dumps(body),
                  {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
        sad = json.loads(c.getresponse().read())["SAD"]
        lines[i] = tok + " " + json.dumps({
            "credentialID": cred, "SAD": sad, "hashes": hs,
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"},
            separators=(",", ":"))


ts = [threading.Thread(target=work, args=(p,)) for p in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
