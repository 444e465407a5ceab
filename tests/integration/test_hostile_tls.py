"""TLS against hostile clients: finite-field groups cost the server nothing
but parsing (a ClientHello with a random ffdhe8192 key share used to cost
it ~0.7 s of CPU), a finite-field key share next to x25519 gets a
HelloRetryRequest, TLS 1.2 CBC and DHE suites are refused, a TLS 1.3
KeyUpdate is answered with an unexpected_message alert and logged (not
dropped silently), and bad tls.groups / tls.ciphersuites stop idgated at
start with the entry named.  Hellos are built by hand (tlshello.py) or sent
by openssl s_client; nothing here uses idgate's code."""
import os
import re
import shutil
import subprocess
import sys
import time

import tlshello as th
from harness import Server, expect, main


def setup():
    if not shutil.which("openssl"):
        print("test_hostile_tls: skipped: openssl (s_client) not found")
        sys.exit(77)
    return Server().start()


def teardown(srv):
    srv.cleanup()


def cpu_seconds(pid):
    """utime + stime of process <pid> (proc(5): fields 14 and 15, after the
    command name in parentheses)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def s_client(srv, *args, stdin=b"Q\n", timeout=20):
    """openssl s_client against <srv>: (exit code, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                        "-servername", "localhost", "-msg"] + list(args),
                       input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def completed(out):
    """s_client finished a handshake: it names the suite it negotiated."""
    return re.search(r"Cipher is (TLS_|ECDHE)", out) is not None


def test_ffdhe_only_hellos_cost_only_parsing(srv):
    # Offering nothing but finite-field groups, with a random 1024-byte
    # ffdhe8192 key share: no work for the sender.
    hello = lambda: th.tls13_hello([th.FFDHE8192, th.FFDHE6144, th.FFDHE4096, th.FFDHE3072,
                                    th.FFDHE2048], [th.FFDHE8192])
    recs = th.exchange(srv.port, hello())
    expect(len(recs) == 1 and th.is_alert(recs[0], th.HANDSHAKE_FAILURE),
           "expected one handshake_failure alert, got %r" % [(t, p[:8]) for t, p in recs])
    before = cpu_seconds(srv.proc.pid)
    t0 = time.time()
    for _ in range(30):
        recs = th.exchange(srv.port, hello())
        expect(recs and th.is_alert(recs[0], th.HANDSHAKE_FAILURE), recs[:1])
    used = cpu_seconds(srv.proc.pid) - before
    print("    30 ffdhe-only hellos: %.3f s of server CPU in %.2f s" % (used, time.time() - t0))
    expect(used < 0.3, "30 ffdhe hellos cost the server %.2f s of CPU" % used)


def test_openssl_ffdhe2048_refused(srv):
    rc, out = s_client(srv, "-tls1_3", "-groups", "ffdhe2048")
    expect(rc != 0 and not completed(out), out[-2000:])
    expect("alert handshake failure" in out or "SSL alert number 40" in out, out[-2000:])


def test_openssl_x25519_and_p256(srv):
    for group, says in (("X25519", "X25519"), ("P-256", "prime256v1")):
        rc, out = s_client(srv, "-tls1_3", "-groups", group)
        expect(rc == 0 and "New, TLSv1.3, Cipher is TLS_" in out, out[-2000:])
        expect(re.search(r"Server Temp Key: [^\n]*%s" % says, out) or
               re.search(r"Negotiated TLS1.3 group: %s" % says, out), out[-2000:])


def test_ffdhe_share_gets_hello_retry_request(srv):
    # A finite-field key share, x25519 supported too: RFC 8446 §4.1.4, the
    # server asks for x25519 instead of computing anything.
    recs = th.exchange(srv.port, th.tls13_hello([th.FFDHE2048, th.X25519], [th.FFDHE2048]),
                       want=1)
    sh = th.server_hello(recs)
    expect(sh is not None, "no ServerHello: %r" % recs[:1])
    expect(sh[0] == th.HRR_RANDOM, "a ServerHello, not a HelloRetryRequest")
    expect(sh[1] == th.X25519, "HelloRetryRequest asks for group %r" % sh[1])
    # A real client that offers the same continues and completes.
    rc, out = s_client(srv, "-tls1_3", "-groups", "ffdhe2048:X25519")
    expect(rc == 0 and completed(out), out[-2000:])
    # s_client -msg labels a HelloRetryRequest "ServerHello": two of them,
    # and a second ClientHello with the x25519 share
    expect(out.count(", ServerHello") == 2 and out.count(", ClientHello") == 2 and
           "Server Temp Key: X25519" in out,
           "no HelloRetryRequest in the exchange:\n" + out[-3000:])


def test_tls12_cbc_refused(srv):
    recs = th.exchange(srv.port, th.tls12_hello([th.ECDHE_ECDSA_AES128_CBC_SHA256]))
    expect(len(recs) == 1 and th.is_alert(recs[0], th.HANDSHAKE_FAILURE), recs[:2])
    rc, out = s_client(srv, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256")
    expect(rc != 0 and not completed(out), out[-2000:])
    # the same client with an AEAD suite gets through
    rc, out = s_client(srv, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    expect(rc == 0 and completed(out), out[-2000:])


def test_tls12_dhe_refused_with_rsa_certificate(srv):
    # DHE_RSA suites need an RSA certificate: with one, the old defaults
    # picked DHE and failed after ServerHello; now the hello is refused.
    rsa = Server()
    try:
        crt, key = os.path.join(rsa.state, "tls.crt"), os.path.join(rsa.state, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", crt],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o600)
        rsa.start()
        recs = th.exchange(rsa.port, th.tls12_hello([th.DHE_RSA_AES128_GCM,
                                                    th.DHE_RSA_AES256_GCM,
                                                    th.DHE_RSA_CHACHA20]))
        expect(len(recs) == 1 and th.is_alert(recs[0], th.HANDSHAKE_FAILURE),
               "expected only a handshake_failure alert, got %r" % [(t, p[:8]) for t, p in recs])
        rc, out = s_client(rsa, "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256")
        expect(rc != 0 and not completed(out), out[-2000:])
        rc, out = s_client(rsa, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
        expect(rc == 0 and completed(out), out[-2000:])
    finally:
        rsa.cleanup()


def test_key_update_answered_with_alert(srv):
    # s_client sends a KeyUpdate when it reads a line "k" (s_client(1),
    # CONNECTED COMMANDS).  stdin stays open: only the server ends this.
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                          "-servername", "localhost", "-tls1_3", "-msg"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        p.stdin.write(b"k\n")
        p.stdin.flush()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    p.stdout.close()
    expect(", KeyUpdate" in out, "s_client sent no KeyUpdate:\n" + out[-2000:])
    expect("Alert [length 0002], fatal unexpected_message" in out,
           "no unexpected_message alert after the KeyUpdate:\n" + out[-2000:])
    deadline = time.time() + 5
    while "KeyUpdate refused" not in srv.log_text() and time.time() < deadline:
        time.sleep(0.1)
    expect(re.search(r"fd \d+: TLS 1.3 KeyUpdate refused", srv.log_text()),
           "idgated did not log the KeyUpdate")
    m = re.search(r"^idgate_tls_key_updates_refused_total (\d+)$", srv.metrics(), re.M)
    expect(m and int(m.group(1)) >= 1, "the KeyUpdate was not counted")
    # and the server goes on serving
    st, _, _ = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)


def test_refuses_to_start(srv):
    for setting, value, says in (
            ("tls.groups", "ffdhe2048",
             "tls.groups: ffdhe2048 is a finite-field group; only x25519, secp256r1, secp384r1"),
            ("tls.ciphersuites", "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
             "tls.ciphersuites: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 is not AEAD")):
        bad = Server(settings={setting: value})
        try:
            bad.start()
            raise AssertionError("idgated started with %s=%s" % (setting, value))
        except RuntimeError as e:
            expect(says in str(e), str(e)[-1500:])
        finally:
            bad.cleanup()


if __name__ == "__main__":
    main(globals())
