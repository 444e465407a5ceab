"""The TLS server key in the HSM (tls.key_file = hsm): a security officer
makes the key with idgate-keys (generated in the HSM, not extractable),
has its CSR signed by a CA made here with openssl, and installs the
certificate; then openssl s_client and curl complete TLS 1.2 and TLS 1.3
handshakes that verify against that CA, a login runs over such a
connection, and many handshakes at once complete while the HSM signs them.
An HSM that fails a signature, or misses its deadline, fails that
handshake alone with an alert, never the worker; a slow HSM does not hold
up other connections, and clients that leave mid-signature are harmless.  Start-up
refuses a certificate whose key no HSM holds."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import harness
from harness import FaultServer, Server, expect, main

KEYS = os.path.join(os.path.dirname(harness.BIN), "idgate-keys")
LOAD = os.path.join(os.path.dirname(harness.BIN), "idgate-load")


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=60, **kw)


def setup():
    state = tempfile.mkdtemp(prefix="idgate-tlshsm-")
    # First start: the SoftHSM token, its issuer key, the state dir.
    Server(state=state, workers=1).start().stop()
    r = run(KEYS, "--state", state, "--officer", "alice", "generate", "--purpose", "tls",
            "--label", "tls-test")
    expect(r.returncode == 0, r.stderr)
    r = run(KEYS, "--state", state, "csr", "tls-test", "--subject", "CN=localhost,O=idgate test")
    expect(r.returncode == 0 and "BEGIN CERTIFICATE REQUEST" in r.stdout, r.stderr)
    csr = os.path.join(state, "tls-hsm.csr")
    with open(csr, "w") as f:
        f.write(r.stdout)
    ca_key, ca_crt = os.path.join(state, "test-ca.key"), os.path.join(state, "test-ca.crt")
    r = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=idgate test CA")
    expect(r.returncode == 0, r.stderr)
    ext = os.path.join(state, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    r = run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", ext,
            "-out", os.path.join(state, "tls-hsm.crt"))
    expect(r.returncode == 0, r.stderr)
    srv = FaultServer(state=state, workers=1,
                      settings={"tls.key_file": "hsm", "tls.cert_file": "tls-hsm.crt",
                                "hsm.deadline_ms": 1000, "hsm.probe_interval_ms": 200,
                                "hsm.reinit_interval_ms": 500,
                                "server.handshake_timeout_ms": 1500})
    srv.start()
    srv.ca = ca_crt
    srv.own_dir = state
    base = srv.ssl_context

    def ssl_context(version=None):
        ctx = base(version)
        ctx.load_verify_locations(cafile=ca_crt)     # the test CA signed it
        return ctx

    srv.ssl_context = ssl_context
    return srv


def teardown(srv):
    srv.fault("")
    srv.stop()
    shutil.rmtree(srv.own_dir, ignore_errors=True)


def s_client(srv, version, ca=None):
    r = run("openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port, version,
            "-servername", "localhost", "-CAfile", ca or srv.ca, input="")
    return r.stdout + r.stderr


def wait_for_handshake(srv, within):
    """Handshakes work again (the HSM recovered) within <within> seconds."""
    deadline = time.time() + within
    ok = False
    while time.time() < deadline and not ok:
        ok = "Verify return code: 0 (ok)" in s_client(srv, "-tls1_3")
        time.sleep(0.2)
    expect(ok, "no handshake after the HSM recovered:\n" + srv.log_text()[-2000:])


def handshakes(srv):
    full = 0
    for ln in srv.metrics().splitlines():
        if ln.startswith('idgate_tls_handshakes_total{kind="full"}'):
            full = int(ln.split()[1])
    return full


def test_private_key_stays_in_the_hsm(srv):
    r = run(KEYS, "--state", srv.state, "--json", "list")
    expect(r.returncode == 0, r.stderr)
    data = json.loads(r.stdout)
    data = data.get("keys", data) if isinstance(data, dict) else data
    keys = [k for k in data if k.get("label") == "tls-test"]
    expect(len(keys) == 1 and keys[0]["purpose"] == "tls", keys)
    expect(keys[0]["sensitive"] is True and keys[0]["extractable"] is False, keys[0])
    expect(not os.path.exists(os.path.join(srv.state, "hsm")), "no key file")


def test_tls13_and_tls12_verify(srv):
    before = handshakes(srv)
    for version, proto in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
        out = s_client(srv, version)
        expect("Verify return code: 0 (ok)" in out and ("New, %s" % proto) in out, out[-800:])
        expect("Peer signature type: ECDSA" in out, out[-800:])
    # the same handshakes fail against another CA: the signature is the HSM key's
    other = os.path.join(srv.state, "other-ca.crt")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", other + ".key", "-out", other, "-days", "1", "-subj", "/CN=other")
    out = s_client(srv, "-tls1_3", ca=other)
    expect("Verify return code: 0 (ok)" not in out, out[-400:])
    for v in ("--tlsv1.3", "--tlsv1.2"):
        r = run("curl", "-s", v, "--tls-max", v[6:], "--cacert", srv.ca, "--resolve",
                "localhost:%d:127.0.0.1" % srv.port,
                "https://localhost:%d/.well-known/jwks.json" % srv.port)
        expect(r.returncode == 0 and json.loads(r.stdout)["keys"], (v, r.returncode, r.stderr))
    expect(handshakes(srv) - before >= 5, handshakes(srv) - before)


def test_login_and_many_handshakes(srv):
    """A login over an HSM-keyed connection, then 150 new connections
    (full handshakes) over 1.5 s with idgate-load, every one answered."""
    dev = srv.enrol()
    st, _, tok = dev.login()
    expect(st == 200 and tok["token_type"].lower() == "bearer", (st, tok))
    out = os.path.join(srv.state, "lg.json")
    r = run(LOAD, "run", "--url", srv.issuer, "--mix", "jwks", "--tls", "new", "--rate", 100,
            "--duration", 1.5, "--connections", 32, "--quiet", "--json", out)
    expect(r.returncode == 0, (r.stdout, r.stderr))
    with open(out) as f:
        res = json.load(f)
    sc = res["scenarios"][0]
    expect(sc["answered"] == 150 and sc["status"] == {"200": 150}, sc)
    expect(res["generator"]["handshakes"] == 150, res["generator"])


def test_hsm_error_fails_that_handshake_alone(srv):
    srv.fault("sign_error=CKR_DEVICE_ERROR")
    out = s_client(srv, "-tls1_3")
    # TLS 1.3 encrypts from the ServerHello on: the client has the
    # certificate, then an internal_error alert instead of CertificateVerify
    expect("alert internal error" in out and "alert number 80" in out, out[-800:])
    # the HSM is now out of rotation: the next handshake cannot even start
    # its signature, and gets the same alert
    out = s_client(srv, "-tls1_3")
    expect("alert internal error" in out, out[-800:])
    # the worker goes on: plain HTTP on the admin listener, and TLS again
    # once the HSM is back
    srv.fault("")
    wait_for_handshake(srv, 10)


def test_hsm_timeout_fails_that_handshake_alone(srv):
    """A signature past hsm.deadline_ms (1 s here): that handshake ends with
    an internal_error alert within a few seconds, and handshakes work again
    once the HSM answers in time."""
    srv.fault("sign_delay_ms=2500")
    t0 = time.time()
    out = s_client(srv, "-tls1_3")
    took = time.time() - t0
    srv.fault("")
    expect("alert internal error" in out, out[-800:])
    expect(took < 4.0, took)
    # the late call returns at 2.5 s; the engine then settles its threads
    time.sleep(max(0.0, t0 + 3.5 - time.time()))
    wait_for_handshake(srv, 15)


def test_slow_hsm_does_not_block_the_worker(srv):
    """Handshakes wait 400 ms for the HSM each; meanwhile a keep-alive
    connection opened before is answered at once (one worker serves both)."""
    c = srv.tls_socket()
    srv.fault("sign_delay_ms=400")
    results = []

    def shake():
        results.append("Verify return code: 0 (ok)" in s_client(srv, "-tls1_3"))

    ts = [threading.Thread(target=shake) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.1)
    t0 = time.time()
    c.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
    data = c.recv(65536)
    waited = time.time() - t0
    for t in ts:
        t.join()
    srv.fault("")
    c.close()
    expect(data.startswith(b"HTTP/1.1 200"), data[:80])
    expect(waited < 0.2, waited)
    expect(results == [True, True, True], results)


def test_client_gone_while_the_hsm_signs(srv):
    """Clients that send their ClientHello and hang up while the HSM signs
    (400 ms): the late signatures find their connections closed and are
    dropped; the server stays up and handshakes go on."""
    import socket
    import ssl as ssl_mod
    srv.fault("sign_delay_ms=400")
    ctx = srv.ssl_context("1.3")
    for _ in range(20):
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        tls = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        tls.setblocking(False)
        try:
            tls.do_handshake()          # the ClientHello goes out
        except ssl_mod.SSLWantReadError:
            pass
        time.sleep(0.01)
        tls.close()
    time.sleep(1.0)                     # the signatures come back meanwhile
    srv.fault("")
    expect(srv.proc.poll() is None, "idgated died:\n" + srv.log_text())
    expect("Verify return code: 0 (ok)" in s_client(srv, "-tls1_3"), "no handshake after")


def test_silent_client_after_the_signature_times_out(srv):
    """A client that sends its ClientHello, gets the HSM-signed flight and
    then says nothing is closed by the handshake timeout (1.5 s here), as
    any other slow handshake is."""
    import socket
    import ssl as ssl_mod
    ctx = srv.ssl_context("1.3")
    incoming, outgoing = ssl_mod.MemoryBIO(), ssl_mod.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()              # makes the ClientHello only
    except ssl_mod.SSLWantReadError:
        pass
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=6)
    raw.sendall(outgoing.read())
    t0 = time.time()
    data, got = b"x", 0
    while data:                         # the server's flight, then its close
        data = raw.recv(65536)
        got += len(data)
    waited = time.time() - t0
    raw.close()
    expect(got > 500, got)              # the flight with the certificate came
    expect(1.0 <= waited <= 4.5, waited)


def test_refused_without_the_key(_srv):
    """Start-up names the problem: a certificate whose key no HSM holds."""
    state = tempfile.mkdtemp(prefix="idgate-tlshsm-none-")
    try:
        Server(state=state, workers=1).start().stop()
        # the self-signed certificate of the first start: its key is a file
        srv = Server(state=state, workers=1, settings={"tls.key_file": "hsm"})
        try:
            srv.start()
            expect(False, "started without the key")
        except RuntimeError as e:
            expect("no HSM holds the TLS certificate's key" in str(e), str(e)[-500:])
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main(globals())
