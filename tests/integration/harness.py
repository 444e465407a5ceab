"""Integration-test harness: starts a real idgated on loopback ports in a
fresh state dir, and talks to it with independent clients (Python's ssl
module over OpenSSL, curl, openssl s_client).  Device keys, assertions and
token verification use the `cryptography` and PyJWT packages, not idgate's
code.

Each test file calls `main(globals())`: every function named test_* runs in
order; the file prints "ok - name" / "not ok - name" per test and a last
line "<file>: N passed, N failed".
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
BIN = "bin/idgated"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(c, method, path, body=None, ctype=None, headers=None):
    """One request on http.client connection <c>: status, headers, body."""
    h = dict(headers or {})
    if ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


class Server:
    """One idgated process with its own state dir and ports."""

    def __init__(self, state=None, settings=None, workers=2, env=None):
        self.own_state = state is None
        self.state = state or tempfile.mkdtemp(prefix="idgate-it-")
        self.port = free_port()
        self.admin_port = free_port()
        self.settings = dict(settings or {})
        self.workers = workers
        self.proc = None
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(self.state, "idgated.log")
        self.prefix = []  # a command idgated runs under, e.g. ["ip", "netns", "exec", NS]

    def start(self):
        args = [BIN, "--state", self.state, "--workers", str(self.workers),
                "--poll", "adaptive",
                "--set", "server.listen=127.0.0.1:%d" % self.port,
                "--set", "server.admin_listen=127.0.0.1:%d" % self.admin_port]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.prefix + args, stdout=self.log, stderr=self.log, env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("idgated exited with %d:\n%s" % (self.proc.returncode, self.log_text()))
            try:
                st, _, _ = self.admin("GET", "/healthz", auth=False)
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("idgated did not start:\n" + self.log_text())
        with open(os.path.join(self.state, "admin.token")) as f:
            self.admin_token = f.read().strip()
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.token_endpoint = self.issuer + "/oauth2/token"
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                raise RuntimeError("idgated did not stop on SIGTERM")
            self.log.close()
            if rc != 0:
                raise RuntimeError("idgated exited with %d on SIGTERM:\n%s" % (rc, self.log_text()))
        self.proc = None

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.own_state:
                shutil.rmtree(self.state, ignore_errors=True)

    def wait_log(self, text, within=3.0):
        """True once <text> is in the server's log (a worker's lines reach
        it through the log writer thread, some milliseconds later)."""
        end = time.time() + within
        while text not in self.log_text():
            if time.time() > end:
                return False
            time.sleep(0.02)
        return True

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-6000:]
        except OSError:
            return ""

    # --- clients ---------------------------------------------------------

    def admin(self, method, path, body=None, ctype="application/json", auth=True, token=None):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        h = {}
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        if auth:
            h["Authorization"] = "Bearer " + (token if token is not None else self.admin_token)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def ssl_context(self, version=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "tls.crt"))
        if version == "1.2":
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif version == "1.3":
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    def https(self, method, path, body=None, ctype=None, headers=None, version=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                        context=self.ssl_context(version))
        try:
            return request(c, method, path, body, ctype, headers)
        finally:
            c.close()

    def tls_socket(self, version=None):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return self.ssl_context(version).wrap_socket(raw, server_hostname="localhost")

    def metrics(self):
        st, _, body = self.admin("GET", "/metrics")
        assert st == 200, st
        return body.decode()

    # --- citizens --------------------------------------------------------

    def enrol(self, citizen=None, key=None):
        citizen = citizen or "citizen-" + uuid.uuid4().hex[:12]
        key = key or ec.generate_private_key(ec.SECP256R1())
        st, _, body = self.admin("POST", "/v1/admin/citizens",
                                 {"citizen_id": citizen, "device_jwk": jwk_of(key)})
        assert st == 201, (st, body)
        return Device(self, citizen, key, json.loads(body)["credential_id"])

    def login_raw(self, form, ctype="application/x-www-form-urlencoded"):
        if isinstance(form, dict):
            from urllib.parse import urlencode
            form = urlencode(form)
        st, h, body = self.https("POST", "/oauth2/token", body=form, ctype=ctype)
        try:
            j = json.loads(body)
        except ValueError:
            j = None
        return st, h, j


class FaultServer(Server):
    """An idgated whose HSMs are SoftHSM tokens behind the project's
    fault-injecting PKCS#11 module, steered through a control file in the
    state dir (see hsm/p11fault/README.md)."""

    def __init__(self, settings=None, **kw):
        fault_so = os.path.join(os.path.dirname(BIN), "libidgate-p11fault.so")
        super().__init__(settings=dict({"hsm.module": fault_so}, **(settings or {})),
                         **kw)
        self.ctl = os.path.join(self.state, "p11fault.ctl")
        self.env.update({"IDGATE_P11FAULT_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
                         "IDGATE_P11FAULT_CONTROL": self.ctl})
        self.fault("")

    def fault(self, text):
        """Replace the faults; the module never reads half a file, and
        re-reads its control every 50 ms."""
        with open(self.ctl + ".new", "w") as f:
            f.write(text + "\n")
        os.rename(self.ctl + ".new", self.ctl)
        time.sleep(0.15)


def jwk_of(key):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def es256_sign(key, signing_input):
    der = key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_jws(key, header, claims):
    si = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(claims, separators=(",", ":")).encode())
    return si + "." + b64u(es256_sign(key, si.encode()))


class Device:
    """A citizen's phone app: its device key and credential id."""

    def __init__(self, srv, citizen, key, cred):
        self.srv, self.citizen, self.key, self.cred = srv, citizen, key, cred

    def assertion(self, key=None, **over):
        now = int(time.time())
        claims = {"iss": self.cred, "sub": self.cred, "aud": self.srv.token_endpoint,
                  "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}
        header = {"alg": "ES256", "typ": "JWT", "kid": self.cred}
        for k, v in over.items():
            if k.startswith("h_"):
                if v is None:
                    header.pop(k[2:], None)
                else:
                    header[k[2:]] = v
            elif v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        return make_jws(key or self.key, header, claims)

    def login(self, client_id=None, **over):
        form = {"grant_type": JWT_BEARER, "assertion": self.assertion(**over)}
        if client_id:
            form["client_id"] = client_id
        return self.srv.login_raw(form)


def jwk_thumbprint(jwk):
    """RFC 7638 §3, computed independently of idgate."""
    canon = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
                       separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canon.encode()).digest())


class Skip(Exception):
    """Raised by a test that cannot run here: main prints "ok - name # skip <why>"."""


def expect(cond, msg=""):
    if not cond:
        raise AssertionError(msg)


def main(tests):
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("-k", default="")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    name = os.path.basename(sys.argv[0]).replace(".py", "")
    passed = failed = skipped = 0
    setup = tests.get("setup")
    teardown = tests.get("teardown")
    ctx = setup() if setup else None
    try:
        for tname, fn in list(tests.items()):
            if not tname.startswith("test_") or not callable(fn) or a.k not in tname:
                continue
            t0 = time.time()
            try:
                fn(ctx)
                passed += 1
                print("ok - %s (%.2fs)" % (tname, time.time() - t0), flush=True)
            except Skip as e:
                skipped += 1
                print("ok - %s # skip %s" % (tname, e), flush=True)
            except Exception:
                failed += 1
                print("not ok - %s" % tname, flush=True)
                traceback.print_exc(file=sys.stdout)
                if ctx is not None and hasattr(ctx, "log_text"):
                    print("--- server log tail ---\n" + ctx.log_text()[-3000:])
    finally:
        if teardown:
            try:
                teardown(ctx)
            except Exception:
                failed += 1
                print("not ok - teardown")
                traceback.print_exc(file=sys.stdout)
    if skipped:
        print("%s: %d passed, %d failed, %d skipped" % (name, passed, failed, skipped))
        # tests/run.sh counts a program that exits 77 as skipped
        sys.exit(1 if failed else 0 if passed else 77)
    print("%s: %d passed, %d failed" % (name, passed, failed))
    sys.exit(1 if failed else 0)
