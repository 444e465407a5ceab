"""idgate-keys, the security officers' tool, against a running idgated and
its SoftHSM token: listings that OpenSC's pkcs11-tool confirms, public keys
that match what pkcs11-tool reads, an issuer-key rotation while logins run
(every token verifies against a relying service's cached JWKS), retirement,
destruction under dual control, CSRs that openssl verifies, wrong PINs and
wrong modules, and an audit log whose hand-edited record is found."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from harness import Server, expect, main

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
# Small lifetimes so a whole rotation fits in seconds: the keyring is read
# every second, relying services may cache the JWKS for a second, a new key
# is published 4 s before it signs, tokens live 4 s.
SETTINGS = {"hsm.key_check_s": 1, "login.jwks_max_age_s": 1, "keys.publish_ahead_s": 4,
            "login.token_lifetime_s": 4, "login.clock_skew_s": 1,
            # a few phones log in through a whole rotation
            "login.credential_burst": 255, "login.credential_interval_ms": 1}


def setup():
    srv = Server(workers=1, settings=SETTINGS)
    srv.start()
    srv.devs = [srv.enrol() for _ in range(4)]
    with open(os.path.join(srv.state, "hsm.pin")) as f:
        srv.pin = f.read().strip()
    srv.tmp = tempfile.mkdtemp(prefix="idgate-keys-")
    return srv


def teardown(srv):
    srv.cleanup()
    subprocess.run(["rm", "-rf", srv.tmp])


def keys(srv, *args, stdin=None, env=None, settings=None):
    cmd = [os.path.join(os.path.dirname(harness.BIN), "idgate-keys"), "--state", srv.state,
           "--set", "server.admin_listen=127.0.0.1:%d" % srv.admin_port]
    for k, v in dict(SETTINGS, **(settings or {})).items():
        cmd += ["--set", "%s=%s" % (k, v)]
    e = dict(os.environ, **(env or {}))
    e.pop("SOFTHSM2_CONF", None)
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True,
                          timeout=60, env=e)


def keys_ok(srv, *args, **kw):
    p = keys(srv, *args, **kw)
    expect(p.returncode == 0, "idgate-keys %s: %d\n%s%s" % (args, p.returncode, p.stdout, p.stderr))
    return p.stdout


def listing(srv):
    return json.loads(keys_ok(srv, "--json", "list"))


def pkcs11_tool(srv, *args):
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(srv.state, "softhsm2.conf"),
               IDGATE_TEST_PIN=srv.pin)
    p = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", "idgate",
                        "--login", "--pin", "env:IDGATE_TEST_PIN"] + list(args),
                       capture_output=True, timeout=60, env=env)
    expect(p.returncode == 0, p.stderr.decode(errors="replace"))
    return p.stdout


def pkcs11_private_keys(srv):
    """{id hex: {"label", "sensitive", "extractable"}} from pkcs11-tool."""
    out = pkcs11_tool(srv, "--list-objects", "--type", "privkey").decode()
    found = {}
    for block in out.split("Private Key Object")[1:]:
        label = re.search(r"label:\s+(.*)", block).group(1).strip()
        kid = re.search(r"ID:\s+([0-9a-f]+)", block).group(1)
        access = re.search(r"Access:\s+(.*)", block).group(1)
        found[kid] = {"label": label, "sensitive": "sensitive" in access.split(", "),
                      "extractable": "extractable" in access.split(", ")}
    return found


def pkcs11_public(srv, key_id):
    """The public key pkcs11-tool reads: EC from the CKA_EC_POINT it lists
    (its --read-object cannot build P-384 keys), RSA from --read-object."""
    out = pkcs11_tool(srv, "--list-objects", "--type", "pubkey").decode()
    for block in out.split("Public Key Object")[1:]:
        if re.search(r"ID:\s+%s\b" % key_id, block) is None:
            continue
        point = re.search(r"EC_POINT:\s+([0-9a-f]+)", block)
        if point is None:
            der = pkcs11_tool(srv, "--read-object", "--type", "pubkey", "--id", key_id)
            return serialization.load_der_public_key(der)
        raw = bytes.fromhex(point.group(1))
        raw = raw[2:] if raw[1] < 0x80 else raw[3:]  # the DER OCTET STRING's header
        curve = ec.SECP384R1() if len(raw) == 97 else ec.SECP256R1()
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
    raise AssertionError("pkcs11-tool lists no public key %s" % key_id)


def jwks(srv):
    st, hdrs, body = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)
    return {k["kid"]: k for k in json.loads(body)["keys"]}, hdrs


def active_issuer(srv):
    act = [k for k in listing(srv) if k["purpose"] == "token-issuer" and k["state"] == "active"]
    expect(len(act) == 1, act)
    return act[0]


# --- listing, independent confirmation -------------------------------------


def test_list_matches_pkcs11_tool(srv):
    mine = listing(srv)
    theirs = pkcs11_private_keys(srv)
    by_label = {k["label"]: k for k in mine}
    # The embedded defaults: the issuer key, the wrapping key and the CA
    # key behind citizens' signing credentials.
    expect(set(by_label) == {"idgate-issuer", "idgate-wrap", "idgate-ca"}, mine)
    k = by_label["idgate-issuer"]
    expect(k["state"] == "active" and k["purpose"] == "token-issuer" and k["alg"] == "EC P-256", k)
    expect(by_label["idgate-wrap"]["alg"] == "AES-256" and by_label["idgate-ca"]["alg"] == "EC P-256")
    expect(by_label["idgate-wrap"]["purpose"] == "wrap" and by_label["idgate-ca"]["purpose"] == "ca")
    expect(by_label["idgate-ca"]["state"] == "active", by_label["idgate-ca"])
    for key in mine:
        expect(key["sensitive"] is True and key["extractable"] is False and key["private"] is True,
               key)
    expect(set(theirs) == {k["id"], by_label["idgate-ca"]["id"]}, (theirs, k))
    expect(theirs[k["id"]]["label"] == k["label"], theirs)
    expect(theirs[k["id"]]["sensitive"] and not theirs[k["id"]]["extractable"], theirs)
    # The kid is the one the server publishes and signs with.
    published, _ = jwks(srv)
    expect(list(published) == [k["kid"]], (published, k))
    table = keys_ok(srv, "list")
    expect("idgate-issuer" in table and "active" in table and "SENSITIVE" in table, table)


def test_export_public_matches_pkcs11_tool(srv):
    k = active_issuer(srv)
    pem = keys_ok(srv, "export-public", k["kid"])
    mine = serialization.load_pem_public_key(pem.encode())
    expect(mine.public_numbers() == pkcs11_public(srv, k["id"]).public_numbers())
    jwk = json.loads(keys_ok(srv, "export-public", k["id"], "--format", "jwk"))
    expect(jwk["kid"] == k["kid"] and jwk["kty"] == "EC" and jwk["crv"] == "P-256", jwk)
    expect(jwk["x"] == jwks(srv)[0][k["kid"]]["x"], jwk)
    p = keys(srv, "export-public", k["kid"], "--format", "der")
    expect(p.returncode == 1 and "pem or jwk" in p.stderr, p.stderr)
    p = keys(srv, "export-public", "no-such-key")
    expect(p.returncode == 1 and "no key 'no-such-key'" in p.stderr, p.stderr)


# --- rotation while logins run ----------------------------------------------


class RelyingService:
    """Verifies tokens as a relying online service would: with the JWKS
    cached for its Cache-Control max-age, and no refetch on an unknown kid
    (the rotation must never need one)."""

    def __init__(self, srv):
        self.srv, self.keys, self.until = srv, {}, 0.0
        self.lock = threading.Lock()

    def key_for(self, kid):
        with self.lock:
            if time.time() >= self.until:
                self.keys, hdrs = jwks(self.srv)
                age = int(re.search(r"max-age=(\d+)", hdrs["cache-control"]).group(1))
                self.until = time.time() + age
            return self.keys.get(kid)

    def verify(self, token):
        kid = jwt.get_unverified_header(token)["kid"]
        jwk = self.key_for(kid)
        if jwk is None:
            return None, "unknown kid %s" % kid
        key = jwt.PyJWK(jwk).key
        jwt.decode(token, key, algorithms=["ES256"], audience=self.srv.issuer,
                   options={"verify_aud": False})
        return kid, None


def test_rotate_under_load(srv):
    rp = RelyingService(srv)
    old = active_issuer(srv)
    stop = threading.Event()
    seen, errors = {}, []
    lock = threading.Lock()

    def run(dev):
        while not stop.is_set():
            st, _, body = dev.login()
            try:
                if st != 200:
                    raise AssertionError("login %d %s" % (st, body))
                kid, err = rp.verify(body["access_token"])
                if err:
                    raise AssertionError(err)
                with lock:
                    seen[kid] = seen.get(kid, 0) + 1
            except Exception as e:
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=run, args=(d,)) for d in srv.devs[:2]]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        out = keys_ok(srv, "--officer", "alice", "rotate")
        expect("signs from" in out, out)
        new = [k for k in listing(srv) if k["state"] == "next"]
        expect(len(new) == 1, new)
        new = new[0]
        expect(new["activate"] - old["publish"] > 0, (new, old))
        # Published before it signs, then signing; the old key retiring.
        time.sleep(2.5)
        expect(new["kid"] in jwks(srv)[0] and old["kid"] in jwks(srv)[0])
        deadline = time.time() + 10
        while time.time() < deadline and seen.get(new["kid"], 0) < 20:
            time.sleep(0.2)
        states = {k["kid"]: k["state"] for k in listing(srv)}
        expect(states[new["kid"]] == "active" and states[old["kid"]] == "retiring",
               (states, seen, errors[:3], time.time(), new))
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    expect(not errors, errors[:5])
    expect(seen.get(old["kid"], 0) > 20 and seen.get(new["kid"], 0) > 20, seen)
    print("# rotation under load: %d tokens signed by the old key, %d by the new, all "
          "verified against a cached JWKS" % (seen[old["kid"]], seen[new["kid"]]))
    # The retiring key leaves JWKS once its last tokens expired.
    deadline = time.time() + 12
    while time.time() < deadline and old["kid"] in jwks(srv)[0]:
        time.sleep(0.3)
    expect(list(jwks(srv)[0]) == [new["kid"]])
    states = {k["kid"]: k["state"] for k in listing(srv)}
    expect(states[old["kid"]] == "retired", states)
    srv.old_issuer, srv.new_issuer = old, new


def test_rotate_refusals(srv):
    keys_ok(srv, "rotate")
    p = keys(srv, "rotate")
    expect(p.returncode == 1 and "already scheduled" in p.stderr, p.stderr)
    # Retiring the scheduled key calls the rotation off.
    nxt = [k for k in listing(srv) if k["state"] == "next"][0]
    keys_ok(srv, "retire", nxt["kid"])
    act = active_issuer(srv)
    expect(act["retire"] == 0 and act["kid"] == srv.new_issuer["kid"], act)
    # Publishing ahead less than a reload plus a JWKS cache is refused.
    p = keys(srv, "rotate", settings={"keys.publish_ahead_s": 2})
    expect(p.returncode == 1 and "publish_ahead_s" in p.stderr, p.stderr)
    p = keys(srv, "retire", act["kid"])
    expect(p.returncode == 1 and "only key signing tokens" in p.stderr, p.stderr)


def test_sighup_reads_keyrings_at_once(srv):
    """With the periodic check an hour away, SIGHUP alone makes idgated
    read the keyrings: an immediate rotation signs within a second or two."""
    other = Server(workers=1, settings=dict(SETTINGS, **{"hsm.key_check_s": 3600}))
    other.start()
    try:
        other.tmp = srv.tmp
        dev = other.enrol()
        before = jwt.get_unverified_header(dev.login()[2]["access_token"])["kid"]
        out = keys_ok(other, "rotate", "--immediate", settings={"hsm.key_check_s": 3600})
        expect("signs from" in out, out)
        time.sleep(1.5)
        kid = jwt.get_unverified_header(dev.login()[2]["access_token"])["kid"]
        expect(kid == before, "the keyring was read before SIGHUP")
        other.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and kid == before:
            time.sleep(0.2)
            kid = jwt.get_unverified_header(dev.login()[2]["access_token"])["kid"]
        expect(kid != before, (kid, before))
        deadline = time.time() + 2
        while time.time() < deadline and kid not in jwks(other)[0]:
            time.sleep(0.05)
        expect(kid in jwks(other)[0], "the signing key is published")
        expect("SIGHUP" in other.log_text())
    finally:
        other.cleanup()


# --- destroy under dual control ----------------------------------------------


def officer(srv, name):
    key = ec.generate_private_key(ec.SECP256R1())
    d = os.path.join(srv.state, "officers")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".pem"), "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    path = os.path.join(srv.tmp, name + ".key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return path


def approve(srv, name, keyfile, key_id):
    tok = keys_ok(srv, "--officer", name, "--hsm", "main", "approve", "--officer-key", keyfile,
                  "destroy", key_id).strip()
    path = os.path.join(srv.tmp, "%s-%s.approval" % (name, key_id[:8]))
    with open(path, "w") as f:
        f.write(tok + "\n")
    return path


def test_destroy_dual_control(srv):
    old = srv.old_issuer
    alice, bob = officer(srv, "alice"), officer(srv, "bob")
    a, b = approve(srv, "alice", alice, old["id"]), approve(srv, "bob", bob, old["id"])
    act = active_issuer(srv)
    # An active key is never destroyed, approvals or not.
    aa, ab = approve(srv, "alice", alice, act["id"]), approve(srv, "bob", bob, act["id"])
    p = keys(srv, "destroy", act["kid"], "--approval", aa, "--approval", ab, stdin=act["id"] + "\n")
    expect(p.returncode == 1 and "only a retired key" in p.stderr, p.stderr)
    p = keys(srv, "destroy", old["kid"], stdin=old["id"] + "\n")
    expect(p.returncode == 1 and "approvals from 2" in p.stderr, p.stderr)
    p = keys(srv, "destroy", old["kid"], "--approval", a, stdin=old["id"] + "\n")
    expect(p.returncode == 1 and "approvals from 2" in p.stderr, p.stderr)
    p = keys(srv, "destroy", old["kid"], "--approval", a, "--approval", a, stdin=old["id"] + "\n")
    expect(p.returncode == 1 and "same officer" in p.stderr, p.stderr)
    # An approval for another key does not count.
    p = keys(srv, "destroy", old["kid"], "--approval", a, "--approval", ab, stdin=old["id"] + "\n")
    expect(p.returncode == 1 and "dual control" in p.stderr, p.stderr)
    p = keys(srv, "destroy", old["kid"], "--approval", a, "--approval", b, stdin="yes\n")
    expect(p.returncode == 1 and "not confirmed" in p.stderr, p.stderr)
    expect(old["id"] in pkcs11_private_keys(srv))
    out = keys_ok(srv, "--officer", "alice", "destroy", old["kid"], "--approval", a,
                  "--approval", b, stdin=old["id"] + "\n")
    expect("destroyed" in out, out)
    expect(old["id"] not in pkcs11_private_keys(srv))
    expect(old["kid"] not in [k["kid"] for k in listing(srv)])
    # The server still signs with the new key.
    st, _, body = srv.devs[0].login()
    expect(st == 200 and jwt.get_unverified_header(body["access_token"])["kid"] == act["kid"],
           body)


# --- other purposes, CSR -------------------------------------------------------


def write_tmp(srv, name, text):
    path = os.path.join(srv.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def by_label_now(srv):
    return {k["label"]: k for k in listing(srv)}


def test_generate_and_csr(srv):
    out = keys_ok(srv, "generate", "--purpose", "tls", "--alg", "ec-p384", "--label", "tls-2026")
    expect("generated tls key tls-2026" in out, out)
    keys_ok(srv, "generate", "--purpose", "wrap", "--label", "wrap-1")
    keys_ok(srv, "generate", "--purpose", "ca", "--alg", "rsa-2048", "--label", "ca-1")
    by_label = {k["label"]: k for k in listing(srv)}
    expect(by_label["tls-2026"]["alg"] == "EC P-384" and by_label["tls-2026"]["state"] == "active")
    expect(by_label["wrap-1"]["alg"] == "AES-256", by_label["wrap-1"])
    expect(by_label["ca-1"]["alg"] == "RSA-2048", by_label["ca-1"])
    for k in by_label.values():
        expect(k["sensitive"] and not k["extractable"] and k["private"], k)
    theirs = pkcs11_private_keys(srv)
    expect(by_label["tls-2026"]["id"] in theirs and by_label["ca-1"]["id"] in theirs, theirs)
    for label in ("tls-2026", "ca-1"):
        pem = keys_ok(srv, "csr", label, "--subject", "CN=idgate.test,O=idgate,C=HK")
        path = os.path.join(srv.tmp, label + ".csr")
        with open(path, "w") as f:
            f.write(pem)
        p = subprocess.run(["openssl", "req", "-in", path, "-verify", "-noout", "-subject"],
                           capture_output=True, text=True)
        expect(p.returncode == 0 and "CN = idgate.test" in p.stdout + p.stderr, p.stdout + p.stderr)
        req = subprocess.run(["openssl", "req", "-in", path, "-pubkey", "-noout"],
                             capture_output=True, text=True).stdout
        expect(serialization.load_pem_public_key(req.encode()).public_numbers() ==
               pkcs11_public(srv, by_label[label]["id"]).public_numbers())
    # The built-in CA's certificate for a ca key made in the HSM (EC P-256).
    keys_ok(srv, "generate", "--purpose", "ca", "--label", "ca-p256")
    pem = keys_ok(srv, "ca-cert", "ca-p256", "--subject", "CN=Test CA,O=idgate,C=HK",
                  "--days", "30")
    path = write_tmp(srv, "ca.pem", pem)
    rc = subprocess.run(["openssl", "verify", "-CAfile", path, path], capture_output=True,
                        text=True)
    expect(rc.returncode == 0 and "OK" in rc.stdout, rc.stdout + rc.stderr)
    text = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"],
                          capture_output=True, text=True).stdout
    expect("CA:TRUE" in text and "Certificate Sign" in text, text)
    expect(x509.load_pem_x509_certificate(pem.encode()).public_key().public_numbers()
           == pkcs11_public(srv, by_label_now(srv)["ca-p256"]["id"]).public_numbers())
    for args, msg in ((["ca-cert", "ca-1", "--subject", "CN=x"], "EC P-256 ca key"),
                      (["ca-cert", "ca-p256"], "--subject"),
                      (["csr", "wrap-1", "--subject", "CN=x"], "tls or ca"),
                      (["csr", "tls-2026"], "--subject"),
                      (["csr", "tls-2026", "--subject", "XX=1"], "CSR"),
                      (["csr", active_issuer(srv)["kid"], "--subject", "CN=x"], "tls or ca"),
                      (["generate", "--purpose", "signing"], "--purpose"),
                      (["generate", "--purpose", "wrap", "--alg", "ec-p256"], "AES-256"),
                      (["generate", "--purpose", "token-issuer", "--alg", "rsa-2048"], "EC P-256"),
                      (["generate", "--purpose", "tls", "--alg", "dsa"], "unknown --alg"),
                      (["export-public", "wrap-1"], "secret key"),
                      (["retire", "nope"], "no key"),
                      (["frobnicate"], "unknown command"),
                      (["retire"], "needs a KEY")):
        p = keys(srv, *args)
        expect(p.returncode != 0 and msg in p.stderr, (args, p.stderr))


# --- PINs, modules, tokens ------------------------------------------------------


def test_pin_sources_and_errors(srv):
    bad = os.path.join(srv.tmp, "bad.pin")
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"000000\n")
    os.close(fd)
    p = keys(srv, "list", settings={"hsm.pin_file": bad})
    expect(p.returncode == 1 and "wrong PIN" in p.stderr and "not retried" in p.stderr, p.stderr)
    expect(srv.pin not in p.stderr + p.stdout)
    # The token did not lock: the right PIN, from the environment, works.
    p = keys(srv, "list", settings={"hsm.pin_file": "env:IDGATE_TEST_PIN"},
             env={"IDGATE_TEST_PIN": srv.pin})
    expect(p.returncode == 0, p.stderr)
    p = keys(srv, "list", settings={"hsm.pin_file": "env:IDGATE_UNSET_PIN"})
    expect(p.returncode == 1 and "environment variable" in p.stderr, p.stderr)
    p = keys(srv, "list", settings={"hsm.module": "/etc/hostname"})
    expect(p.returncode == 1 and "/etc/hostname" in p.stderr, p.stderr)
    p = keys(srv, "list", settings={"hsm.token": "nope"})
    expect(p.returncode == 1 and "no token labelled 'nope'" in p.stderr and "'idgate'" in p.stderr,
           p.stderr)
    p = keys(srv, "--hsm", "zzz", "list")
    expect(p.returncode == 1 and "no HSM named 'zzz'" in p.stderr and "main" in p.stderr, p.stderr)


def test_pin_prompt(srv):
    """--pin-prompt reads the PIN from the terminal without echo (a pty made
    by script(1)); without a terminal it stops with a clear message."""
    exe = os.path.join(os.path.dirname(harness.BIN), "idgate-keys")
    cmd = "%s --state %s --pin-prompt list" % (exe, srv.state)
    e = dict(os.environ)
    e.pop("SOFTHSM2_CONF", None)
    # Typed after the prompt (the tool flushes what was typed ahead);
    # the PIN goes through the environment, not a command line.
    p = subprocess.run(["sh", "-c", '(sleep 1; printf "%s\\n" "$P") | script -qec "$CMD" /dev/null'],
                       capture_output=True, text=True, timeout=60,
                       env=dict(e, P=srv.pin, CMD=cmd))
    expect(p.returncode == 0 and "PIN for HSM main" in p.stdout and "idgate-ca" in p.stdout,
           p.stdout + p.stderr)
    expect(srv.pin not in p.stdout, "the PIN was echoed")
    p = subprocess.run(["setsid", "-w", exe, "--state", srv.state, "--pin-prompt", "list"],
                       capture_output=True, text=True, timeout=60, env=e, stdin=subprocess.DEVNULL)
    expect(p.returncode == 1 and "needs a terminal" in p.stderr, p.stderr)


def test_status(srv):
    out = keys_ok(srv, "status")
    kid = active_issuer(srv)["kid"]
    expect("idgated is ready" in out and "HSM main: in rotation" in out and kid in out, out)
    st = json.loads(keys_ok(srv, "--json", "status"))
    expect(st["ready"] and st["hsms"][0]["name"] == "main", st)
    p = keys(srv, "status", settings={"admin.token_file": os.path.join(srv.tmp, "nope")})
    expect(p.returncode == 1 and "admin token" in p.stderr, p.stderr)


def test_audit_verify_finds_an_edit(srv):
    out = keys_ok(srv, "audit", "verify")
    expect("hash chain and head intact" in out, out)
    log = os.path.join(srv.state, "audit-keys.log")
    with open(log) as f:
        lines = f.readlines()
    expect(any('"action":"key.destroy"' in l and '"result":"ok"' in l for l in lines))
    expect(any('"action":"key.rotate"' in l and 'officer:alice' in l for l in lines))
    expect(any('"action":"hsm.login"' in l and '"result":"denied"' in l for l in lines))
    expect(not any(srv.pin in l for l in lines))
    # An officer edits a denial into a success by hand.
    n = next(i for i, l in enumerate(lines) if '"result":"denied"' in l)
    lines[n] = lines[n].replace('"result":"denied"', '"result":"ok"')
    with open(log, "w") as f:
        f.writelines(lines)
    p = keys(srv, "audit", "verify")
    m = re.search(r"audit-keys.log: BROKEN at record (\d+)", p.stdout)
    # Line n holds record n + 1; the chain breaks there or at the next.
    expect(p.returncode == 1 and m and int(m.group(1)) in (n + 1, n + 2), (n, p.stdout))


main(globals())
