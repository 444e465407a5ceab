#!/usr/bin/python3
"""Print the public JWK of a PEM EC P-256 private key (a phone's device key)."""
import base64
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


key = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
n = key.public_key().public_numbers()
print(json.dumps({"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                  "y": b64u(n.y.to_bytes(32, "big"))}))
