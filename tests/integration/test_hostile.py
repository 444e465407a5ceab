"""Hostile clients against a real idgated: clients that never read, each
connection state left hanging until its timer fires, unauthenticated admin
bodies, replays across SIGTERM and kill -9 restarts and a lost single-use
table, one citizen flooding logins, the replay cache's fill.  Each case is
an attack that once worked; the test asserts the defence."""
import os
import re
import signal
import socket
import ssl
import threading
import time

import harness
from harness import JWT_BEARER, Server, expect, main
from test_csc import approval, authorize, create, docs, sign, token
from test_http import closed_by_server, read_response


def rss_kb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def metric(srv, name):
    m = re.search(r"^%s (\d+)" % re.escape(name), srv.metrics(), re.M)
    return int(m.group(1)) if m else None


def wait_for(cond, within, step=0.1):
    end = time.time() + within
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def start(settings=None, workers=1, state=None):
    return Server(workers=workers, settings=settings, state=state).start()


# --- clients that never read ------------------------------------------------

def tls_socket(srv, rcvbuf=None):
    raw = socket.socket()
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(30)
    raw.connect(("127.0.0.1", srv.port))
    return srv.ssl_context().wrap_socket(raw, server_hostname="localhost")


def flood_without_reading(srv, conns, total, seconds, rcvbuf=None):
    """<conns> TLS connections each pipelining up to <total> bytes of GETs
    (the last one cut in half) and never reading; returns the sockets."""
    one = b"GET /pki/ca.pem HTTP/1.1\r\nHost: x\r\n\r\n"
    chunk = one * (16384 // len(one))
    socks = []

    def push(s):
        s.settimeout(0.5)
        sent, end = 0, time.time() + seconds
        try:
            while sent < total and time.time() < end:
                s.sendall(chunk)
                sent += len(chunk)
            s.sendall(one[:20])
        except (OSError, ssl.SSLError):
            pass

    for _ in range(conns):
        socks.append(tls_socket(srv, rcvbuf))
    ts = [threading.Thread(target=push, args=(s,)) for s in socks]
    for t in ts:
        t.start()
    return socks, ts


def test_clients_that_never_read_hold_bounded_memory_and_are_cut(_ctx):
    srv = start({"server.send_timeout_ms": 2000, "server.idle_timeout_ms": 60000,
                 "server.header_timeout_ms": 60000})
    try:
        base = rss_kb(srv)
        socks, ts = flood_without_reading(srv, 20, 3 << 20, 6)
        peak = base
        end = time.time() + 4
        while time.time() < end:
            peak = max(peak, rss_kb(srv))
            time.sleep(0.1)
        # Each holds at most 64 KiB of output (plus one response) and its
        # paused input: 20 of them are tens of MiB, not hundreds.  (Under
        # AddressSanitizer freed memory stays in its quarantine: no bound.)
        if "/san/" not in harness.BIN:
            expect(peak - base < 48 * 1024, ("RSS grew by", peak - base, "KiB"))
        # The peer takes nothing: each is closed by the send timer (or,
        # having pushed more than a megabyte past the pause, cut at once).
        expect(wait_for(lambda: metric(srv, "idgate_connections_open") <= 1, 12),
               metric(srv, "idgate_connections_open"))
        sent = metric(srv, 'idgate_timeouts_total{kind="send"}')
        cut = metric(srv, "idgate_connections_cut_total")
        expect(sent + cut >= 20, (sent, cut))   # (each state's test sees a send timer)
        for t in ts:
            t.join(10)
        for s in socks:
            s.close()
        # and the server still serves
        st, _, _ = srv.https("GET", "/.well-known/jwks.json")
        expect(st == 200, st)
    finally:
        srv.cleanup()


# --- every connection state has its timer -------------------------------------

TIMERS = {"server.handshake_timeout_ms": 1000, "server.header_timeout_ms": 1000,
          "server.idle_timeout_ms": 1500, "server.send_timeout_ms": 1000,
          "server.linger_timeout_ms": 1000, "server.admin_body_timeout_ms": 1500}


def test_each_state_has_its_timer(_ctx):
    srv = start(TIMERS)
    try:
        # handshake: a TCP connection that never says hello
        s = socket.create_connection(("127.0.0.1", srv.port))
        t = closed_by_server(s, 4)
        expect(t is not None and 0.8 < t < 3, ("handshake", t))
        s.close()
        # header: half a request, after the handshake
        s = srv.tls_socket()
        s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHo")
        st, _, _, _ = read_response(s)
        expect(st == 408, st)
        s.close()
        # idle: a keep-alive connection that asks nothing more
        s = srv.tls_socket()
        s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, _, rest = read_response(s)
        expect(st == 200, st)
        t = closed_by_server(s, 5)
        expect(t is not None and 1.0 < t < 4, ("idle", t))
        s.close()
        # linger: a refused request whose client never closes its side
        before = metric(srv, 'idgate_timeouts_total{kind="linger"}')
        s = srv.tls_socket()
        s.sendall(b"BAD\r\n\r\n")
        st, _, _, _ = read_response(s)
        expect(st == 400, st)
        expect(wait_for(lambda: metric(srv, 'idgate_timeouts_total{kind="linger"}') > before, 4),
               "the linger timer never fired")
        s.close()
        # admin head: header_timeout_ms, not minutes
        a = socket.create_connection(("127.0.0.1", srv.admin_port))
        a.sendall(b"POST /v1/admin/citizens HTTP/1.1\r\nHost: x\r\n")
        a.settimeout(4)
        t0 = time.time()
        st, _, _, _ = read_response(a)
        expect(st == 408 and time.time() - t0 < 3, (st, time.time() - t0))
        a.close()
        # admin body: once the head (with the token) is accepted,
        # admin_body_timeout_ms for the rest
        a = socket.create_connection(("127.0.0.1", srv.admin_port))
        a.sendall(("POST /v1/admin/citizens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\""
                   % srv.admin_token).encode())
        a.settimeout(5)
        t0 = time.time()
        st, _, _, _ = read_response(a)
        expect(st == 408 and 1.2 < time.time() - t0 < 4, (st, time.time() - t0))
        a.close()
        # send: a header timer that fires while output is stuck still
        # ends with the connection closed (the send timer is armed)
        # (a small receive buffer and 160 KB of requests: the output
        # fills every buffer while the input stays far below the cut)
        socks, ts = flood_without_reading(srv, 1, 160 << 10, 3, rcvbuf=4096)
        expect(wait_for(lambda: metric(srv, 'idgate_timeouts_total{kind="send"}') >= 1, 8),
               "the send timer never fired")
        for t in ts:
            t.join(5)
        socks[0].close()
        m = srv.metrics()
        for kind in ("handshake", "header", "body", "idle", "linger", "send"):
            expect(re.search(r'^idgate_timeouts_total\{kind="%s"\} [1-9]' % kind, m, re.M), kind)
    finally:
        srv.cleanup()


# --- the admin listener --------------------------------------------------------

def test_admin_decides_on_the_head_before_any_body(_ctx):
    srv = start(TIMERS)
    try:
        base = rss_kb(srv)

        def big_body(path, auth):
            a = socket.create_connection(("127.0.0.1", srv.admin_port))
            head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path
            if auth:
                head += "Authorization: Bearer wrong\r\n"
            a.sendall((head + "Content-Length: 60000000\r\n\r\n").encode())
            a.settimeout(0.5)
            sent = 0
            try:
                while sent < (20 << 20):
                    a.sendall(b"x" * 65536)
                    sent += 65536
            except OSError:
                pass
            return a

        conns = [big_body("/v1/admin/citizens", i % 2) for i in range(3)]
        expect(rss_kb(srv) - base < 16 * 1024, ("RSS grew by", rss_kb(srv) - base, "KiB"))
        for a in conns:
            a.settimeout(5)
            st, h, body, _ = read_response(a)
            expect(st == 401 and b"admin token" in body, (st, body))
            expect(closed_by_server(a, 4) is not None, "a refused admin connection stayed open")
            a.close()
        # health and readiness take no body at all
        a = big_body("/healthz", False)
        a.settimeout(5)
        st, _, body, _ = read_response(a)
        expect(st == 400 and b"no body" in body, (st, body))
        a.close()
        st, _, body = srv.admin("GET", "/readyz", auth=False)
        expect(st == 200, (st, body))
    finally:
        srv.cleanup()


# --- single use across restarts ----------------------------------------------------

def login_with(srv, assertion, client_id="svc-hostile"):
    return srv.login_raw({"grant_type": JWT_BEARER, "assertion": assertion,
                          "client_id": client_id})


def restart(srv, how):
    if how == "kill":
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        srv.log.close()
        srv.proc = None
    else:
        srv.stop()
    srv.start()


def used_once(srv):
    """A citizen's login assertion and device approval, each used once, and
    the SAD the approval gave (not spent yet)."""
    dev = srv.enrol()
    a = dev.assertion()
    st, _, j = login_with(srv, a)
    expect(st == 200, (st, j))
    tok = j["access_token"]
    cred = create(srv, dev)
    hashes = docs(1)[1]
    jws = approval(srv, dev, cred, hashes)
    st, j = authorize(srv, dev, tok, cred, hashes, jws=jws)
    expect(st == 200, (st, j))
    return dev, a, tok, cred, hashes, jws, j["SAD"]


def test_single_use_survives_sigterm_and_kill(_ctx):
    srv = start({"csc.sad_lifetime_s": 60})
    try:
        dev, a, tok, cred, hashes, jws, sad = used_once(srv)
        st, j = sign(srv, tok, cred, sad, hashes)
        expect(st == 200, (st, j))
        for how in ("term", "kill", "kill"):
            restart(srv, how)
            st, _, j = login_with(srv, a)
            expect(st == 400 and "replayed" in j["error_description"], (how, st, j))
            st, j = authorize(srv, dev, tok, cred, hashes, jws=jws)
            expect(st in (400, 403) and "replayed" in str(j), (how, "approval", st, j))
            st, j = sign(srv, tok, cred, sad, hashes)
            expect(st in (400, 403) and "used" in str(j), (how, "SAD", st, j))
            st, _, j = dev.login(client_id="svc-hostile")
            expect(st == 200, (how, "a fresh login", st, j))
        signed = open(os.path.join(srv.state, "audit-idgated.log"), "rb").read().count(b"signHash")
        expect(signed == 1, ("signHash records", signed))
    finally:
        srv.cleanup()


def test_a_lost_single_use_table_refuses_what_came_before(_ctx):
    srv = start({"login.clock_skew_s": 2, "csc.sad_lifetime_s": 60})
    try:
        dev, a, tok, cred, hashes, _, sad = used_once(srv)
        srv.stop()
        os.unlink(os.path.join(srv.state, "replay.cache"))
        srv.start()
        t0 = time.time()
        st, _, j = login_with(srv, a)
        expect(st == 400 and "lost" in j["error_description"], (st, j))
        expect("may be lost" in srv.log_text(), "no warning logged")
        st, j = sign(srv, tok, cred, sad, hashes)
        expect(st == 403 and "lost" in str(j), ("SAD", st, j))
        st, j = authorize(srv, dev, tok, cred, hashes)
        expect(st == 403 and "lost" in str(j), ("approval", st, j))
        # what is made after the table was lost (plus the skew) works
        time.sleep(max(0, 3.2 - (time.time() - t0)))
        st, _, j = dev.login(client_id="svc-hostile")
        expect(st == 200, (st, j))
        st, j = authorize(srv, dev, tok, cred, hashes)
        expect(st == 200, ("approval", st, j))
        st, j = sign(srv, tok, cred, j["SAD"], hashes)
        expect(st == 200, ("SAD", st, j))
    finally:
        srv.cleanup()


# --- one citizen cannot make every other login fail ---------------------------------

def test_one_citizen_flood_leaves_others_logging_in(_ctx):
    srv = start({"login.replay_slots": 1024}, workers=2)
    try:
        mallory, alice = srv.enrol(), srv.enrol()
        codes = {}
        lock = threading.Lock()

        def flood(n):
            for _ in range(n):
                st, _, _ = mallory.login()
                with lock:
                    codes[st] = codes.get(st, 0) + 1

        ts = [threading.Thread(target=flood, args=(300,)) for _ in range(4)]
        t0 = time.time()
        for t in ts:
            t.start()
        others = [alice.login()[0] for _ in range(5)]
        for t in ts:
            t.join(120)
        took = time.time() - t0
        others += [srv.enrol().login()[0] for _ in range(5)]
        # the burst of 10, then one every 2 s while the flood lasted
        allowed = 10 + int(took / 2) + 1
        expect(codes.get(200, 0) <= allowed and
               codes.get(200, 0) + codes.get(429, 0) == 1200, (codes, took))
        expect(others == [200] * 10, others)
        expect(metric(srv, "idgate_credential_limited_total") >= 1200 - allowed, "no metric")
    finally:
        srv.cleanup()


def test_replay_fill_is_a_metric_and_a_readiness_reason(_ctx):
    srv = start({"login.replay_slots": 1024}, workers=2)
    try:
        devs = [srv.enrol() for _ in range(200)]
        done = []

        def worker(part):
            for d in part:
                for _ in range(10):
                    done.append(d.login()[0])

        ts = [threading.Thread(target=worker, args=(devs[i::4],)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(180)
        expect(wait_for(lambda: (metric(srv, "idgate_replay_entries") or 0) >= 921, 3),
               (metric(srv, "idgate_replay_entries"), {c: done.count(c) for c in set(done)}))
        expect(metric(srv, "idgate_replay_slots") == 1024, "slots")
        st, _, body = srv.admin("GET", "/readyz", auth=False)
        expect(st == 503 and b"replay cache" in body, (st, body))
        expect("3/4 full" in srv.log_text(), "the tight mode was not logged")
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main(globals())
