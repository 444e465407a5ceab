#!/usr/bin/python3
"""Make a device assertion for the JWT-bearer grant (RFC 7523 §2.1), as a
citizen's phone app would: assertion.py DEVICE_KEY.pem CREDENTIAL_ID AUDIENCE
[EXTRA_CLAIMS_JSON] (for a signing approval: {"credentialID": .., "hashes": [..]})"""
import base64
import json
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


key = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
cred, aud = sys.argv[2], sys.argv[3]
now = int(time.time())
header = {"alg": "ES256", "typ": "JWT", "kid": cred}
claims = {"iss": cred, "sub": cred, "aud": aud, "iat": now, "exp": now + 120,
          "jti": uuid.uuid4().hex}
if len(sys.argv) > 4:
    claims.update(json.loads(sys.argv[4]))
si = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
print(si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
