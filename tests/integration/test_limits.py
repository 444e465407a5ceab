"""Per-source rate limiting (429) and the per-worker connection cap."""
import socket
import time

from harness import Server, expect, main


def setup():
    return Server(workers=1, settings={"server.rate_limit": 2, "server.rate_burst": 3,
                                       "server.max_conns": 4}).start()


def teardown(srv):
    srv.cleanup()


def test_rate_limit_429(srv):
    s = srv.tls_socket()
    codes = []
    for _ in range(6):
        s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, rest = buf.split(b"\r\n\r\n", 1)
        codes.append(int(head.split()[1]))
        n = int([l for l in head.decode().split("\r\n") if l.lower().startswith("content-length")][0].split(":")[1])
        while len(rest) < n:
            rest += s.recv(65536)
        if codes[-1] == 429:
            expect(b"Retry-After: 1" in head, head)
    s.close()
    expect(codes[:3] == [200, 200, 200], codes)
    expect(429 in codes[3:], codes)
    time.sleep(1.6)  # refill
    st, _, _ = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)


def test_connection_cap(srv):
    time.sleep(1.6)
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
    extra = socket.create_connection(("127.0.0.1", srv.port))
    extra.settimeout(5)
    try:
        d = extra.recv(10)
        refused = d == b""
    except ConnectionResetError:
        refused = True
    expect(refused, "connection over the cap was kept")
    for s in held:
        s.close()
    time.sleep(0.3)
    st, _, _ = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)
    expect('idgate_connections_total{result="refused_limit"}' in srv.metrics())


if __name__ == "__main__":
    main(globals())
