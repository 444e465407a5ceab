"""HTTP/1.1 and TLS behaviour of the TLS listener: precise rejections,
keep-alive and pipelining, timeouts against slow clients, TLS errors that
cost nothing else, real clients (curl, openssl s_client) over TLS 1.3 and
1.2 with session resumption, rate limiting and the connection cap."""
import json
import os
import re
import socket
import ssl
import subprocess
import time
from urllib.parse import urlencode

from harness import JWT_BEARER, Server, expect, main


def setup():
    return Server(settings={"server.header_timeout_ms": 1000,
                            "server.handshake_timeout_ms": 1000,
                            "server.idle_timeout_ms": 3000}).start()


def teardown(srv):
    srv.cleanup()


def read_response(s, buf=b""):
    """Read one HTTP response from socket <s>; returns (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before a response head: %r" % buf)
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    h = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        h[k.strip().lower()] = v.strip()
    n = int(h.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed mid-body")
        rest += d
    return status, h, rest[:n], rest[n:]


def raw(srv, data):
    s = srv.tls_socket()
    s.sendall(data)
    st, h, body, _ = read_response(s)
    s.close()
    return st, h, body


def closed_by_server(s, within):
    s.settimeout(within)
    t0 = time.time()
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return time.time() - t0
    except (ConnectionResetError, OSError) as e:
        if isinstance(e, socket.timeout):
            return None
        return time.time() - t0


def test_bad_request_line(srv):
    st, h, body = raw(srv, b"GARBAGE\r\n\r\n")
    expect(st == 400, st)
    expect(json.loads(body)["error"] == "invalid_request", body)
    expect(h.get("connection") == "close", h)


def test_bad_header(srv):
    st, _, body = raw(srv, b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    expect(st == 400, (st, body))
    st, _, body = raw(srv, b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\nX: y\r\n\r\n")
    expect(st == 400, (st, body))


def test_request_smuggling_refused(srv):
    st, _, body = raw(srv, b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    expect(st == 400, (st, body))
    st, _, body = raw(srv, b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Content-Length: 6\r\n\r\nabcdef")
    expect(st == 400, (st, body))


def test_unknown_path(srv):
    st, _, _ = srv.https("GET", "/nope")
    expect(st == 404, st)


def test_wrong_method(srv):
    st, h, _ = srv.https("GET", "/oauth2/token")
    expect(st == 405 and h.get("allow") == "POST", (st, h))
    st, h, _ = srv.https("POST", "/.well-known/jwks.json", body="x", ctype="text/plain")
    expect(st == 405 and h.get("allow") == "GET", (st, h))


def test_body_too_large(srv):
    body = "grant_type=" + "x" * 20000
    st, h, _ = srv.https("POST", "/oauth2/token", body=body,
                         ctype="application/x-www-form-urlencoded")
    expect(st == 413, st)


def test_missing_content_type(srv):
    st, _, _ = srv.https("POST", "/oauth2/token", body="grant_type=x")
    expect(st == 415, st)


def test_keepalive_and_pipelining(srv):
    dev = srv.enrol()
    s = srv.tls_socket()
    reqs = b""
    for i in range(3):
        form = urlencode({"grant_type": JWT_BEARER, "assertion": dev.assertion()}).encode()
        reqs += (b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(form)) + form
        reqs += b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(reqs)  # six requests in one write
    rest = b""
    for i in range(6):
        st, h, body, rest = read_response(s, rest)
        expect(st == 200, (i, st, body))
        j = json.loads(body)
        expect(("access_token" in j) if i % 2 == 0 else ("keys" in j), (i, j))
    # the connection stays open for more
    s.sendall(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _, _, _ = read_response(s, rest)
    expect(st == 200, st)
    s.close()


def test_connection_close_honoured(srv):
    s = srv.tls_socket()
    s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st, h, _, _ = read_response(s)
    expect(st == 200 and h.get("connection") == "close", h)
    expect(closed_by_server(s, 3) is not None, "server kept the connection")


def test_slowloris_header_timeout(srv):
    s = srv.tls_socket()
    s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\n")
    t0 = time.time()
    closed = None
    # drip a header byte every 200 ms: the header timer is not reset by it
    for _ in range(25):
        try:
            s.sendall(b"X")
        except OSError:
            closed = time.time() - t0
            break
        time.sleep(0.2)
        s.settimeout(0.01)
        try:
            d = s.recv(4096)
            if b"408" in d or not d:
                closed = time.time() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed = time.time() - t0
            break
    expect(closed is not None and closed < 3.5, "slow client not cut off: %r" % closed)
    # others are served meanwhile and after
    st, _, _ = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)


def test_handshake_timeout(srv):
    s = socket.create_connection(("127.0.0.1", srv.port))
    t = closed_by_server(s, 5)
    expect(t is not None and t < 3, "silent client not closed: %r" % t)
    s.close()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello, then nothing
    t = closed_by_server(s, 5)
    expect(t is not None and t < 3, "stalled handshake not closed: %r" % t)


def test_idle_timeout(srv):
    s = srv.tls_socket()
    s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _, _, _ = read_response(s)
    expect(st == 200)
    t = closed_by_server(s, 8)
    expect(t is not None and 2 < t < 6, "idle close after %r s" % t)


def test_tls_garbage_costs_nothing_else(srv):
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                 os.urandom(3000)):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(junk)
        expect(closed_by_server(s, 5) is not None, "garbage connection kept open")
        s.close()
    st, _, _ = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)
    expect('idgate_tls_handshakes_total{kind="failed"}' in srv.metrics())


def curl(srv, version, *args):
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", os.path.join(srv.state, "tls.crt"),
           "--tlsv" + version, "--tls-max", version, "-w", "\n%{http_code} %{ssl_verify_result}"]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
    expect(out.returncode == 0, out.stderr)
    body, _, tail = out.stdout.rpartition("\n")
    code, verify = tail.split()
    return int(code), body


def test_curl_tls13_and_tls12(srv):
    dev = srv.enrol()
    for v in ("1.3", "1.2"):
        code, body = curl(srv, v, "https://localhost:%d/.well-known/jwks.json" % srv.port)
        expect(code == 200 and "keys" in body, (v, code, body))
        code, body = curl(srv, v, "https://127.0.0.1:%d/oauth2/token" % srv.port,
                          "--data-urlencode", "grant_type=" + JWT_BEARER,
                          "--data-urlencode", "assertion=" + dev.assertion(),
                          "--data-urlencode", "client_id=svc-curl")
        expect(code == 200 and "access_token" in body, (v, code, body))


def s_client(srv, flag, sess_in=None, sess_out=None):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port, flag,
           "-servername", "localhost", "-CAfile", os.path.join(srv.state, "tls.crt"),
           "-verify_return_error", "-ign_eof"]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    req = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    out = subprocess.run(cmd, input=req, capture_output=True, timeout=30)
    return out.stdout.decode(errors="replace")


def test_tickets_shared_by_servers(srv):
    """A second server given the first one's ticket.secret (an operator
    distributes the file) resumes its tickets, TLS 1.3 and 1.2; a server
    with a secret of its own does not."""
    import shutil
    import tempfile
    from harness import Server
    others = []
    try:
        for share in (True, False):
            state = tempfile.mkdtemp(prefix="idgate-it-tickets-")
            for name in ("tls.crt", "tls.key") + (("ticket.secret",) if share else ()):
                shutil.copy(os.path.join(srv.state, name), os.path.join(state, name))
            if not share:
                # a binary secret whose last bytes happen to be CR LF is
                # still 32 bytes of key
                with open(os.path.join(state, "ticket.secret"), "wb") as f:
                    f.write(os.urandom(30) + b"\r\n")
                os.chmod(os.path.join(state, "ticket.secret"), 0o600)
            others.append(Server(state=state, workers=1).start())
        b, c = others
        for flag in ("-tls1_3", "-tls1_2"):
            sess = os.path.join(srv.state, "shared-sess" + flag)
            out = s_client(srv, flag, sess_out=sess)
            expect("HTTP/1.1 200 OK" in out, out[-1500:])
            out = s_client(b, flag, sess_in=sess)
            expect("Reused" in out and "HTTP/1.1 200 OK" in out, (flag, out[-1500:]))
            out = s_client(c, flag, sess_in=sess)
            expect("Reused" not in out and "HTTP/1.1 200 OK" in out, (flag, out[-1500:]))
        st = os.stat(os.path.join(srv.state, "ticket.secret"))
        expect(st.st_size == 32 and st.st_mode & 0o077 == 0, oct(st.st_mode))
    finally:
        for o in others:
            o.stop()
            shutil.rmtree(o.state, ignore_errors=True)


def test_openssl_s_client_and_resumption(srv):
    before = srv.metrics()
    resumed0 = int(re.search(r'kind="resumed"\} (\d+)', before).group(1))
    for flag, proto in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
        sess = os.path.join(srv.state, "sess" + flag)
        out = s_client(srv, flag, sess_out=sess)
        expect("Verify return code: 0 (ok)" in out, out[-2000:])
        expect(proto in out and "HTTP/1.1 200 OK" in out, out[-2000:])
        out = s_client(srv, flag, sess_in=sess)
        expect("Reused" in out, "session not resumed with %s:\n%s" % (flag, out[-2000:]))
        expect("HTTP/1.1 200 OK" in out, out[-2000:])
    resumed1 = int(re.search(r'kind="resumed"\} (\d+)', srv.metrics()).group(1))
    expect(resumed1 - resumed0 >= 2, (resumed0, resumed1))





def test_expect_100_continue(srv):
    s = srv.tls_socket()
    body = b"grant_type=x&assertion=y"
    s.sendall(b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    s.settimeout(5)
    got = s.recv(4096)
    expect(got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got)
    s.sendall(body)
    st, _, _, _ = read_response(s, got[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
    expect(st == 400, st)  # unsupported_grant_type: the body was read
    s.close()
    st, _, _ = raw(srv, b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n"
                   b"Content-Length: 3\r\n\r\nabc")
    expect(st == 417, st)


def test_curl_large_body_no_expect_delay(srv):
    """curl sends Expect: 100-continue above 1 KiB and would wait 1 s."""
    t0 = time.time()
    code, body = curl(srv, "1.3", "https://127.0.0.1:%d/oauth2/token" % srv.port,
                      "--data", "grant_type=x&pad=" + "p" * 3000)
    expect(code == 400 and "unsupported_grant_type" in body, (code, body))
    expect(time.time() - t0 < 0.9, "curl waited for 100 Continue")



def burst_request_close(srv, version, request):
    """Handshake, then send <request>, close_notify and FIN in one burst (as
    `openssl s_client` does at the end of its input); return what the
    server sent back before it closed."""
    sock, rec = tls_records(srv, version, request)
    obj, _ = tls_records.last
    try:
        obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(rec + tls_records.out.read())
    sock.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = sock.recv(65536)
        if not d:
            break
        got += d
    sock.close()
    return got


def test_request_then_close_notify_and_fin(srv):
    """A client that sends its request, close_notify and FIN at once is
    answered and its connection released exactly once: the server keeps
    accepting afterwards (a double release once made it refuse all)."""
    for version in ("1.3", "1.2"):
        for _ in range(5):
            got = burst_request_close(srv, version,
                                      b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
            expect(len(got) > 0, "no response before close")
    time.sleep(0.3)
    for _ in range(3):
        st, _, _ = srv.https("GET", "/.well-known/jwks.json")
        expect(st == 200, st)
    m = srv.metrics()
    expect('idgate_connections_total{result="refused_limit"} 0' in m, "connections refused after clean closes")
    opened = int(re.search(r"^idgate_connections_open (\d+)", m, re.M).group(1))
    expect(opened < 100, "open-connection gauge wrapped: %d" % opened)


def tls_records(srv, version, data):
    """A finished handshake over a raw socket, and <data> encrypted into TLS
    records the test can send at any pace."""
    ctx = srv.ssl_context(version)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            inc.write(sock.recv(65536))
    sock.sendall(out.read())
    obj.write(data)
    tls_records.last = (obj, inc)  # to decrypt what comes back
    tls_records.out = out
    return sock, out.read()


def test_trickled_tls_record_hits_header_timeout(srv):
    """One byte of a TLS record at a time: no plaintext ever comes out, but
    the connection is cut at the header timeout (1 s), not kept for ever."""
    sock, rec = tls_records(srv, "1.3", b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.time()
    closed = None
    for b in rec[:-1]:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            closed = time.time() - t0
            break
        sock.settimeout(0.25)
        try:
            if sock.recv(4096) == b"":
                closed = time.time() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed = time.time() - t0
            break
        if time.time() - t0 > 6:
            break
    sock.close()
    expect(closed is not None and closed < 3, "trickling client kept: %r" % closed)


def test_admin_refuses_unauthenticated_body_before_reading_it(srv):
    s = socket.create_connection(("127.0.0.1", srv.admin_port), timeout=5)
    s.sendall(b"POST /v1/admin/citizens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: 50000000\r\n\r\n")
    st, h, body, _ = read_response(s)
    expect(st == 401, (st, body))
    s.close()


def test_half_close_after_pipelining_serves_everything(srv):
    dev = srv.enrol()
    form = urlencode({"grant_type": JWT_BEARER, "assertion": dev.assertion()}).encode()
    reqs = (b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(form)) + form
    reqs += b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n" * 2
    sock, rec = tls_records(srv, "1.2", reqs)
    sock.sendall(rec)
    sock.shutdown(socket.SHUT_WR)
    got = b""
    sock.settimeout(10)
    while True:
        d = sock.recv(65536)
        if not d:
            break
        got += d
    obj, inc = tls_records.last
    inc.write(got)
    plain = b""
    while True:
        try:
            d = obj.read(65536)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            break
        if not d:
            break
        plain += d
    sock.close()
    expect(plain.count(b"HTTP/1.1 200 OK") == 3, plain[:300])


def test_deep_pipeline_is_slowed_not_cut(srv):
    s = srv.tls_socket()
    n = 3000
    s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n" * n)
    rest = b""
    for i in range(n):
        st, _, _, rest = read_response(s, rest)
        expect(st == 200, (i, st))
    s.close()


if __name__ == "__main__":
    main(globals())
