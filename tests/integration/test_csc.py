"""Remote signing through the CSC API v2 against a real idgated: signing
credentials made by the admin API (keys generated and wrapped in the HSM,
certificates from the built-in CA), a citizen's login token, the explicit
approval of a device (credentials/authorize), signatures that openssl
verifies against the credential's certificate, a chain that openssl verifies
to the CA, every rejection, the audit log, and no unwrapped key anywhere."""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import jwt

from cryptography.hazmat.primitives.asymmetric import ec

from harness import FaultServer, Server, Skip, expect, jwk_of, main, make_jws

ECDSA_SHA256 = "1.2.840.10045.4.3.2"
RSA_SHA256 = "1.2.840.113549.1.1.11"
SHA256 = "2.16.840.1.101.3.4.2.1"
# A few citizens approve dozens of signatures in seconds here, far above a
# phone's rate (which test_hostile.py tests).
FAST_PHONES = {"login.credential_burst": 255, "login.credential_interval_ms": 1}


def setup():
    srv = Server(workers=1, settings=dict(FAST_PHONES, **{"csc.sad_lifetime_s": 3}))
    srv.start()
    srv.tmp = tempfile.mkdtemp(prefix="idgate-csc-")
    srv.alice = srv.enrol()
    srv.bob = srv.enrol()
    return srv


def teardown(srv):
    if getattr(srv, "fs", None):
        srv.fs.cleanup()
        subprocess.run(["umount", srv.fs.auditfs])
    srv.cleanup()
    subprocess.run(["rm", "-rf", srv.tmp])


def b64(b):
    return base64.b64encode(b).decode()


def token(dev):
    st, _, j = dev.login(client_id="svc-sign")
    expect(st == 200, (st, j))
    return j["access_token"]


def csc(srv, method, body, tok=None):
    h = {"Authorization": "Bearer " + tok} if tok else {}
    st, _, raw = srv.https("POST", "/csc/v2/" + method, body=json.dumps(body),
                           ctype="application/json", headers=h)
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw


def create(srv, dev, algo=None):
    st, _, body = srv.admin("POST", "/v1/admin/citizens/%s/signing-credential" % dev.citizen,
                            {"key_algo": algo} if algo else None)
    expect(st == 201, (st, body))
    return json.loads(body)["credential_id"]


def approval(srv, dev, cred, hashes, **over):
    now = int(time.time())
    claims = {"iss": dev.cred, "sub": dev.cred,
              "aud": srv.issuer + "/csc/v2/credentials/authorize",
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex,
              "credentialID": cred, "hashes": hashes}
    claims.update(over)
    return make_jws(dev.key, {"alg": "ES256", "typ": "JWT", "kid": dev.cred}, claims)


def authorize(srv, dev, tok, cred, hashes, jws=None):
    return csc(srv, "credentials/authorize",
               {"credentialID": cred, "numSignatures": len(hashes), "hashes": hashes,
                "hashAlgorithmOID": SHA256,
                "authData": [{"id": "device_assertion",
                              "value": jws or approval(srv, dev, cred, hashes)}]}, tok)


def sign(srv, tok, cred, sad, hashes, algo=ECDSA_SHA256):
    return csc(srv, "signatures/signHash", {"credentialID": cred, "SAD": sad, "hashes": hashes,
                                            "hashAlgorithmOID": SHA256, "signAlgo": algo}, tok)


def docs(n):
    data = [("document %d %s" % (i, uuid.uuid4().hex)).encode() for i in range(n)]
    return data, [b64(hashlib.sha256(d).digest()) for d in data]


def audit_records(srv, action="csc.signHash"):
    path = getattr(srv, "audit_log", os.path.join(srv.state, "audit-idgated.log"))
    with open(path) as f:
        return [r for r in map(json.loads, f) if r["action"] == action]


def fault_server(srv):
    """An idgated whose HSM can be slowed and whose audit log lives on a
    small file system of its own that a test can fill (started once, on
    first use), with alice enrolled and a signing credential of hers."""
    if not getattr(srv, "fs", None):
        auditfs = os.path.join(srv.tmp, "auditfs")
        os.mkdir(auditfs)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", auditfs]).returncode:
            raise Skip("cannot mount a tmpfs for the audit log (needs root)")
        log = os.path.join(auditfs, "audit-idgated.log")
        fs = srv.fs = FaultServer(workers=1, settings=dict(FAST_PHONES,
                                                           **{"audit.server_log": log}))
        fs.auditfs, fs.audit_log = auditfs, log
        fs.start()
        fs.alice = fs.enrol()
        fs.cred = create(fs, fs.alice)
        fs.tok = token(fs.alice)
    return srv.fs


def send_and_reset(srv, tok, body):
    """Send a signHash and reset the connection at once (SO_LINGER 0):
    the client is gone before the HSM answers."""
    s = srv.tls_socket()
    data = json.dumps(body).encode()
    s.sendall(b"POST /csc/v2/signatures/signHash HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + tok.encode() + b"\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    time.sleep(0.2)  # the request is at the HSM
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def write(srv, name, data):
    path = os.path.join(srv.tmp, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def cert_files(srv, info):
    certs = info["cert"]["certificates"]
    leaf = "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % certs[0]
    st, _, ca = srv.https("GET", "/pki/ca.pem")
    expect(st == 200 and b"BEGIN CERTIFICATE" in ca, st)
    return write(srv, "leaf-%s.pem" % uuid.uuid4().hex[:6], leaf), write(srv, "ca.pem", ca.decode())


def sign_and_verify(srv, dev, algo_name, sign_algo, n):
    cred = create(srv, dev, algo_name)
    tok = token(dev)
    st, info = csc(srv, "credentials/info", {"credentialID": cred, "certificates": "chain"}, tok)
    expect(st == 200 and len(info["cert"]["certificates"]) == 2, (st, info))
    leaf, ca = cert_files(srv, info)
    rc, out = openssl("verify", "-CAfile", ca, leaf)
    expect(rc == 0 and "OK" in out, out)
    rc, out = openssl("x509", "-in", leaf, "-noout", "-text")
    expect("Digital Signature, Non Repudiation" in out and "CA:FALSE" in out, out)
    pub = write(srv, "pub-%s.pem" % cred, openssl("x509", "-in", leaf, "-noout", "-pubkey")[1])
    data, hashes = docs(n)
    st, a = authorize(srv, dev, tok, cred, hashes)
    expect(st == 200 and a["expiresIn"] == 3, (st, a))
    st, s = sign(srv, tok, cred, a["SAD"], hashes, sign_algo)
    expect(st == 200 and len(s["signatures"]) == n, (st, s))
    for d, sig in zip(data, s["signatures"]):
        doc = write(srv, "doc", d)
        sigf = write(srv, "sig", base64.b64decode(sig))
        rc, out = openssl("dgst", "-sha256", "-verify", pub, "-signature", sigf, doc)
        expect(rc == 0 and "Verified OK" in out, out)
    return cred, tok


# --- the happy paths ------------------------------------------------------------


def test_info_is_public(srv):
    st, j = csc(srv, "info", {})
    expect(st == 200 and j["specs"] == "2.0.0.2" and j["region"] == "HK", (st, j))
    expect("signatures/signHash" in j["methods"] and ECDSA_SHA256 in j["signAlgorithms"]["algos"])


def test_token_names_the_citizen_opaquely(srv):
    claims = jwt.decode(token(srv.alice), options={"verify_signature": False})
    expect("cit" in claims and srv.alice.citizen not in json.dumps(claims), claims)
    other = jwt.decode(token(srv.alice), options={"verify_signature": False})
    expect(other["cit"] != claims["cit"], "two tokens are not linkable by cit")
    # Nor does its length tell how long the citizen's id is.
    short, longest = srv.enrol(citizen="c"), srv.enrol(citizen="L" * 64)
    lens = {len(jwt.decode(token(d), options={"verify_signature": False})["cit"])
            for d in (short, longest, srv.alice)}
    expect(len(lens) == 1, lens)


def test_ec_sign_one_hash(srv):
    srv.ec_cred, srv.alice_tok = sign_and_verify(srv, srv.alice, None, ECDSA_SHA256, 1)


def test_ec_multisign(srv):
    sign_and_verify(srv, srv.alice, "ec-p256", ECDSA_SHA256, 16)


def test_rsa_sign(srv):
    srv.rsa_cred, _ = sign_and_verify(srv, srv.alice, "rsa-2048", RSA_SHA256, 3)


def test_list_and_info_are_the_callers(srv):
    st, j = csc(srv, "credentials/list", {"credentialInfo": True, "certificates": "none"},
                srv.alice_tok)
    expect(st == 200 and srv.ec_cred in j["credentialIDs"] and srv.rsa_cred in j["credentialIDs"],
           (st, j))
    infos = {i["credentialID"]: i for i in j["credentialInfos"]}
    i = infos[srv.ec_cred]
    expect(i["key"]["status"] == "enabled" and i["key"]["curve"] == "1.2.840.10045.3.1.7", i)
    expect(i["authMode"] == "explicit" and i["SCAL"] == "2" and i["multisign"] == 16, i)
    expect("certificates" not in i["cert"] and i["cert"]["subjectDN"].startswith("CN="), i)
    expect(infos[srv.rsa_cred]["key"]["len"] == 2048, infos[srv.rsa_cred])
    bob = token(srv.bob)
    st, j = csc(srv, "credentials/list", {}, bob)
    expect(st == 200 and j["credentialIDs"] == [], (st, j))


# --- rejections -------------------------------------------------------------------


def test_rejections(srv):
    cred, tok = srv.ec_cred, token(srv.alice)
    bob = token(srv.bob)
    _, hashes = docs(2)
    # No token, a bad token, another issuer's or a tampered one.
    for t in (None, "abc", tok[:-4] + "AAAA"):
        st, j = csc(srv, "credentials/list", {}, t)
        expect(st == 401 and j["error"] == "invalid_token", (t, st, j))
    # Another citizen's credential: never listed, seen nor used.
    st, j = csc(srv, "credentials/info", {"credentialID": cred}, bob)
    expect(st == 403, (st, j))
    st, j = authorize(srv, srv.bob, bob, cred, hashes)
    expect(st == 403, (st, j))
    # A device assertion from another citizen for alice's credential.
    st, j = authorize(srv, srv.alice, tok, cred, hashes,
                      jws=approval(srv, srv.bob, cred, hashes))
    expect(st == 403 and "caller's enrolled device" in j["error_description"], (st, j))
    # An approval for other hashes, or another credential.
    st, j = authorize(srv, srv.alice, tok, cred, hashes,
                      jws=approval(srv, srv.alice, cred, docs(2)[1]))
    expect(st == 403 and "these hashes" in j["error_description"], (st, j))
    st, j = authorize(srv, srv.alice, tok, cred, hashes,
                      jws=approval(srv, srv.alice, srv.rsa_cred, hashes))
    expect(st == 403, (st, j))
    # A replayed approval.
    jws = approval(srv, srv.alice, cred, hashes)
    st, a = authorize(srv, srv.alice, tok, cred, hashes, jws=jws)
    expect(st == 200, (st, a))
    st, j = authorize(srv, srv.alice, tok, cred, hashes, jws=jws)
    expect(st == 403 and "replayed" in j["error_description"], (st, j))
    # The SAD: other hashes, a tampered SAD, then used once, then again.
    st, j = sign(srv, tok, cred, a["SAD"], docs(2)[1])
    expect(st == 403 and "does not cover" in j["error_description"], (st, j))
    st, j = sign(srv, tok, cred, a["SAD"], hashes[:1])
    expect(st == 403, (st, j))
    bad = a["SAD"][:10] + ("A" if a["SAD"][10] != "A" else "B") + a["SAD"][11:]
    st, j = sign(srv, tok, cred, bad, hashes)
    expect(st == 400 and "SAD" in j["error_description"], (st, j))
    st, j = sign(srv, bob, cred, a["SAD"], hashes)
    expect(st == 403, (st, j))
    st, j = sign(srv, tok, cred, a["SAD"], hashes, RSA_SHA256)
    expect(st == 400 and "signAlgo" in j["error_description"], (st, j))
    st, j = sign(srv, tok, cred, a["SAD"], hashes)
    expect(st == 200, (st, j))
    st, j = sign(srv, tok, cred, a["SAD"], hashes)
    expect(st == 403 and "used" in j["error_description"], (st, j))
    # An expired SAD (the test server lets them live 3 s).
    st, a = authorize(srv, srv.alice, tok, cred, hashes)
    time.sleep(3.5)
    st, j = sign(srv, tok, cred, a["SAD"], hashes)
    expect(st == 403 and "expired" in j["error_description"], (st, j))
    # Bad requests.
    for body, what in (({"credentialID": cred, "numSignatures": 1, "hashes": ["x"]}, "hashes"),
                       ({"credentialID": cred, "numSignatures": 17, "hashes": docs(17)[1]}, "hashes"),
                       ({"credentialID": cred, "numSignatures": 3, "hashes": hashes}, "numSignatures"),
                       ({"credentialID": "nope", "hashes": hashes}, "unknown"),
                       ({"hashes": hashes}, "credentialID"),
                       ({"credentialID": cred, "numSignatures": 2, "hashes": hashes}, "authData")):
        st, j = csc(srv, "credentials/authorize", body, tok)
        expect(st == 400 and what in j["error_description"], (body, st, j))
    st, raw = csc(srv, "credentials/list", "not an object", tok)
    expect(st == 400, (st, raw))
    st, _, _ = srv.https("GET", "/csc/v2/credentials/list")
    expect(st == 405, st)
    st, _, _ = srv.https("POST", "/csc/v2/nope", body="{}", ctype="application/json")
    expect(st == 404, st)


def test_hashes_are_strict_base64(srv):
    """RFC 4648 §3.3: a hash spelled with whitespace, a line break, no
    padding or base64url's alphabet is refused by authorize and signHash."""
    cred, tok = srv.ec_cred, token(srv.alice)
    _, hashes = docs(1)
    h = hashes[0]
    url = base64.urlsafe_b64encode(b"\xfb" * 32).decode()
    for bad in (h[:20] + " " + h[20:], h[:20] + "\n" + h[20:], h + "\r\n", " " + h,
                h.rstrip("="), h + "=", url):
        st, j = authorize(srv, srv.alice, tok, cred, [bad])
        expect(st == 400 and "hashes" in j["error_description"], (bad, st, j))
        st, j = sign(srv, tok, cred, "AAAA", [bad])
        expect(st == 400 and "hashes" in j["error_description"], (bad, st, j))


def test_tokens_of_no_relying_service_are_refused(srv):
    """A token from a login that named no client_id (its client_id is the
    issuer) names no relying service: every CSC method past info refuses it."""
    cred = srv.ec_cred
    _, hashes = docs(1)
    st, _, j = srv.alice.login()
    expect(st == 200, (st, j))
    bare = j["access_token"]
    st, _, j = srv.alice.login(client_id=srv.issuer)
    expect(st == 200, (st, j))
    as_issuer = j["access_token"]
    for tok in (bare, as_issuer):
        for method, body in (("credentials/list", {}),
                             ("credentials/info", {"credentialID": cred}),
                             ("credentials/authorize",
                              {"credentialID": cred, "numSignatures": 1, "hashes": hashes,
                               "authData": [{"id": "device_assertion",
                                             "value": approval(srv, srv.alice, cred, hashes)}]}),
                             ("signatures/signHash",
                              {"credentialID": cred, "SAD": "AAAA", "hashes": hashes,
                               "signAlgo": ECDSA_SHA256})):
            st, j = csc(srv, method, body, tok)
            expect(st == 401 and j["error"] == "invalid_token" and
                   "no relying service" in j["error_description"], (method, st, j))


def test_sad_is_spent_only_by_the_service_it_was_authorized_for(srv):
    cred, tok = srv.ec_cred, token(srv.alice)
    st, _, j = srv.alice.login(client_id="svc-other")
    expect(st == 200, (st, j))
    other = j["access_token"]
    _, hashes = docs(1)
    st, a = authorize(srv, srv.alice, tok, cred, hashes)
    expect(st == 200, (st, a))
    st, j = sign(srv, other, cred, a["SAD"], hashes)
    expect(st == 403 and j["error"] == "access_denied" and
           "another relying service" in j["error_description"], (st, j))
    # Refused before it was spent: the service it was made for still signs.
    st, j = sign(srv, tok, cred, a["SAD"], hashes)
    expect(st == 200 and len(j["signatures"]) == 1, (st, j))


def test_a_client_that_leaves_while_the_hsm_signs_is_audited(srv):
    fs = fault_server(srv)
    _, hashes = docs(1)
    st, a = authorize(fs, fs.alice, fs.tok, fs.cred, hashes)
    expect(st == 200, (st, a))
    fs.fault("sign_delay_ms=800")
    try:
        send_and_reset(fs, fs.tok, {"credentialID": fs.cred, "SAD": a["SAD"], "hashes": hashes,
                                    "signAlgo": ECDSA_SHA256})
        deadline = time.time() + 5
        while time.time() < deadline:
            recs = [r for r in audit_records(fs) if hashes[0] in r["detail"]]
            if recs:
                break
            time.sleep(0.1)
    finally:
        fs.fault("")
    expect(len(recs) == 1 and recs[0]["result"] == "signed, not delivered: the client left"
           and recs[0]["key"] == fs.cred, recs)
    # The SAD was spent at the HSM: it does not sign again.
    st, j = sign(fs, fs.tok, fs.cred, a["SAD"], hashes)
    expect(st == 403 and "used" in j["error_description"], (st, j))


def test_no_signature_leaves_before_its_record_is_durable(srv):
    """The audit log's disk is full: the record cannot be made durable, so
    the signatures made by the HSM are not returned (503), and it is counted."""
    fs = fault_server(srv)
    _, hashes = docs(1)
    st, a = authorize(fs, fs.alice, fs.tok, fs.cred, hashes)
    expect(st == 200, (st, a))
    fd = os.open(os.path.join(fs.auditfs, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"x" * 512):
            pass
    except OSError:
        pass
    os.close(fd)
    st, j = sign(fs, fs.tok, fs.cred, a["SAD"], hashes)
    expect(st == 503 and "durable" in j["error_description"], (st, j))
    expect("idgate_csc_audit_failed_total 1" in fs.metrics(), fs.metrics())
    expect(fs.wait_log("not durable"), fs.log_text())


def test_revoked_credential(srv):
    cred = create(srv, srv.bob)
    tok = token(srv.bob)
    _, hashes = docs(1)
    st, a = authorize(srv, srv.bob, tok, cred, hashes)
    expect(st == 200, (st, a))
    st, _, body = srv.admin("DELETE", "/v1/admin/signing-credentials/" + cred)
    expect(st == 200 and b"disabled" in body, (st, body))
    st, j = sign(srv, tok, cred, a["SAD"], hashes)
    expect(st == 400 and "disabled" in j["error_description"], (st, j))
    st, j = csc(srv, "credentials/info", {"credentialID": cred}, tok)
    expect(st == 200 and j["key"]["status"] == "disabled", (st, j))
    st, _, _ = srv.admin("DELETE", "/v1/admin/signing-credentials/AAAAAAAAAAAAAAAAAAAAAA")
    expect(st == 404, st)


def test_admin_rejections(srv):
    for path, body, want in (("/v1/admin/citizens/nobody-here/signing-credential", None, 404),
                             ("/v1/admin/citizens/%s/signing-credential" % srv.alice.citizen,
                              {"key_algo": "dsa"}, 400),
                             ("/v1/admin/citizens/%s/signing-credential" % srv.alice.citizen,
                              "[1]", 400)):
        st, _, body = srv.admin("POST", path, body)
        expect(st == want, (path, st, body))
    st, _, _ = srv.admin("POST", "/v1/admin/citizens/%s/signing-credential" % srv.alice.citizen,
                         None, auth=False)
    expect(st == 401, st)


# --- crashes -------------------------------------------------------------------------


def keys_tool(srv, *args):
    return subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__import__("harness").BIN)),
                                        "idgate-keys"), "--state", srv.state] + list(args),
                          capture_output=True, text=True)


def test_kill_9_during_signhash_load_then_restart(srv):
    """idgated killed (-9) while signHash calls run starts again by itself:
    a head that lags records written before the kill is caught up after
    their chain is checked.  A crash in that window is rare, so the window
    is also made by hand: a record chained past the head, as a kill between
    a batch's fdatasync and its head update leaves it."""
    import hashlib as _h
    import threading
    k = Server(workers=1, settings=FAST_PHONES)
    k.start()
    try:
        dev = k.enrol()
        cred, tok = create(k, dev), token(dev)
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    _, hs = docs(1)
                    st, a = authorize(k, dev, tok, cred, hs)
                    if st == 200:
                        sign(k, tok, cred, a["SAD"], hs)
                except Exception:
                    return
        ts = [threading.Thread(target=load) for _ in range(4)]
        for t in ts:
            t.start()
        time.sleep(1.5)
        k.proc.kill()
        k.proc.wait()
        stop.set()
        for t in ts:
            t.join()
        k.log.close()
        k.proc = None
        log = os.path.join(k.state, "audit-idgated.log")
        with open(log, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        expect(sum(b"csc.signHash" in l for l in lines) > 0, len(lines))
        # The window, by hand: one more record chained to the last.
        last = json.loads(lines[-1])
        rec = {"seq": last["seq"] + 1, "time": last["time"], "actor": "idgated",
               "action": "test.crash", "key": "", "result": "ok",
               "detail": "written, head not updated", "prev": _h.sha256(lines[-1]).hexdigest()}
        with open(log, "ab") as f:
            f.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")
        k.start()
        expect("recovered at start after a crash" in k.log_text(), k.log_text())
        recs = audit_records(k, "audit.recover")
        expect(len(recs) == 1 and "record(s) after it continue the chain" in recs[0]["detail"]
               and "the log ends at seq %d)" % rec["seq"] in recs[0]["detail"], recs)
        st, j = csc(k, "credentials/list", {}, token(dev))
        expect(st == 200, (st, j))
        k.stop()
        p = keys_tool(k, "audit", "verify", "--log", log)
        expect(p.returncode == 0 and "intact" in p.stdout, p.stdout + p.stderr)
    finally:
        k.cleanup()


def test_keys_audit_recover_honours_log(srv):
    """A broken chain is for an officer: idgated refuses to start, and
    idgate-keys audit recover --log repairs the log it names."""
    k = Server(workers=1, settings=FAST_PHONES)
    k.start()
    try:
        k.stop()
        log = os.path.join(k.state, "audit-idgated.log")
        with open(log, "ab") as f:
            f.write(b'{"seq":99,"junk":true}\n')
        try:
            k.start()
            expect(False, "started on a broken log")
        except RuntimeError as e:
            expect("past its head" in str(e) or "not valid" in str(e) or
                   "not chained" in str(e) or "seq" in str(e), str(e))
        k.proc = None
        p = keys_tool(k, "audit", "recover", "--log", log)
        expect(p.returncode == 0 and log in p.stdout, p.stdout + p.stderr)
        p = keys_tool(k, "audit", "verify", "--log", log)
        expect(p.returncode == 0 and "intact" in p.stdout, p.stdout + p.stderr)
        k.start()
    finally:
        k.cleanup()


# --- audit, and no key in the clear ---------------------------------------------


def verify_audit_log(srv):
    p = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__import__("harness").BIN)),
                                     "idgate-keys"), "--state", srv.state, "audit", "verify",
                        "--log", os.path.join(srv.state, "audit-idgated.log")],
                       capture_output=True, text=True)
    expect(p.returncode == 0 and "intact" in p.stdout, p.stdout + p.stderr)


def test_admin_actions_are_audited(srv):
    """Enrolment (one record per credential, bulk too), device revocation,
    signing-credential creation and disabling: each a record naming the
    credential and the citizen's pseudonym, durable when the admin API
    answers."""
    dev = srv.enrol()
    bulk = [{"citizen_id": "bulk-%s" % uuid.uuid4().hex[:8],
             "device_jwk": jwk_of(ec.generate_private_key(ec.SECP256R1()))} for _ in range(3)]
    st, _, body = srv.admin("POST", "/v1/admin/citizens", bulk)
    expect(st == 200, (st, body))
    bulk_creds = [r["credential_id"] for r in json.loads(body)["results"]]
    cred = create(srv, dev)
    st, _, body = srv.admin("DELETE", "/v1/admin/signing-credentials/" + cred)
    expect(st == 200, (st, body))
    st, _, body = srv.admin("DELETE", "/v1/admin/credentials/" + dev.cred)
    expect(st == 204, (st, body))
    # Read at once: the records were durable before the answers.
    enrols = {r["key"]: r for r in audit_records(srv, "device.enrol")}
    for c in [dev.cred] + bulk_creds:
        expect(c in enrols and enrols[c]["actor"] == "admin" and enrols[c]["result"] == "ok" and
               enrols[c]["detail"].startswith("citizen:"), (c, enrols.get(c)))
    revokes = [r for r in audit_records(srv, "device.revoke") if r["key"] == dev.cred]
    creates = [r for r in audit_records(srv, "credential.create ec-p256") if r["key"] == cred]
    disables = [r for r in audit_records(srv, "credential.disable") if r["key"] == cred]
    expect(len(revokes) == 1 and len(creates) == 1 and len(disables) == 1,
           (revokes, creates, disables))
    # One pseudonym per citizen, the one of her signHash records; never her id.
    expect(revokes[0]["detail"] == creates[0]["detail"] == disables[0]["detail"] ==
           enrols[dev.cred]["detail"], (revokes, creates, disables))
    with open(os.path.join(srv.state, "audit-idgated.log")) as f:
        expect(dev.citizen not in f.read())
    verify_audit_log(srv)


def test_audit_and_no_key_in_the_clear(srv):
    with open(os.path.join(srv.state, "audit-idgated.log")) as f:
        lines = [json.loads(l) for l in f]
    signs = [l for l in lines if l["action"] == "csc.signHash"]
    expect(any(l["result"] == "ok" and l["key"] == srv.ec_cred and "1 hash(es): " in l["detail"]
               for l in signs), signs[:3])
    expect(any(l["detail"].startswith("16 hash(es): ") for l in signs))
    expect(all(l["actor"].startswith("citizen:") and srv.alice.citizen not in l["actor"]
               for l in signs))
    verify_audit_log(srv)
    # PKCS#8 headers of EC P-256 and RSA private keys must appear nowhere.
    pkcs8_ec = bytes.fromhex("020100301306072a8648ce3d020106082a8648ce3d030107")
    pkcs8_rsa = bytes.fromhex("020100300d06092a864886f70d0101010500")
    for root, _, files in os.walk(srv.state):
        if "tokens" in root:
            continue  # the HSM's own store
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            expect(pkcs8_ec not in data and pkcs8_rsa not in data, name)


if __name__ == "__main__":
    main(globals())
