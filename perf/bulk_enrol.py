#!/usr/bin/python3
"""Bulk enrolment rate: POST BATCHES requests of BATCH citizens each (JSON
lines) to a running idgated's admin API and report enrolments/s as the
server answered them.  Device keys are made beforehand (not timed).

usage: bulk_enrol.py ADMIN_URL ADMIN_TOKEN_FILE BATCH BATCHES"""
import base64
import json
import sys
import time
import urllib.request
import uuid

from cryptography.hazmat.primitives.asymmetric import ec


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


admin, token_file, batch, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
token = open(token_file).read().strip()
run = uuid.uuid4().hex[:8]
bodies = []
for b in range(batches):
    lines = []
    for i in range(batch):
        n = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        lines.append(json.dumps({"citizen_id": "bulk-%s-%d-%d" % (run, b, i),
                                 "device_jwk": {"kty": "EC", "crv": "P-256",
                                                "x": b64u(n.x.to_bytes(32, "big")),
                                                "y": b64u(n.y.to_bytes(32, "big"))}}))
    bodies.append(("\n".join(lines) + "\n").encode())
total = 0
t0 = time.time()
for body in bodies:
    req = urllib.request.Request(admin + "/v1/admin/citizens", data=body,
                                 headers={"Content-Type": "application/x-ndjson",
                                          "Authorization": "Bearer " + token})
    res = json.loads(urllib.request.urlopen(req, timeout=600).read())
    if res["failed"]:
        sys.exit("bulk enrolment failed for %d items" % res["failed"])
    total += res["enrolled"]
dt = time.time() - t0
print("enrolled %d citizens in %d requests of %d: %.2f s, %.0f enrolments/s, %.1f MB of JSON lines"
      % (total, batches, batch, dt, total / dt, sum(len(b) for b in bodies) / 1e6))
