"""Overload: a slow HSM (the fault-injecting PKCS#11 module adds latency to
every signature) fills the bounded signing queue; further logins are
answered 503 with Retry-After at once, never left waiting, and service
comes back by itself when the HSM is fast again."""
import threading
import time
from urllib.parse import urlencode

from harness import JWT_BEARER, FaultServer, expect, main


def setup():
    return FaultServer(workers=1, settings={"hsm.threads": 1, "hsm.queue": 2}).start()


def teardown(srv):
    srv.cleanup()


def set_delay(srv, ms):
    srv.fault("sign_delay_ms=%d" % ms)


def request_for(dev):
    form = urlencode({"grant_type": JWT_BEARER, "assertion": dev.assertion()}).encode()
    return (b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(form)) + form


def test_queue_full_sheds_with_503(srv):
    devs = [srv.enrol() for _ in range(10)]
    socks = [srv.tls_socket() for _ in devs]  # handshakes done before the burst
    reqs = [request_for(d) for d in devs]
    set_delay(srv, 400)
    results = [None] * len(devs)

    def one(i):
        t0 = time.time()
        socks[i].sendall(reqs[i])
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += socks[i].recv(65536)
        results[i] = (int(buf.split()[1]), buf, time.time() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(devs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r[0] for r in results)
    ok = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    # one signing + two queued at most; the rest are shed
    expect(len(ok) <= 3 and len(shed) >= 7 and len(ok) + len(shed) == 10, codes)
    for code, head, took in shed:
        expect(b"\r\nRetry-After: 1\r\n" in head, head)
        expect(took < 0.35, "a shed request waited %.3f s" % took)
    for s in socks:
        s.close()
    m = srv.metrics()
    expect("idgate_requests_shed_total 0" not in m, "shed requests not counted")
    expect('idgate_hsm_operations_total{result="rejected_queue_full"} 0' not in m)


def test_recovers_when_hsm_is_fast_again(srv):
    set_delay(srv, 0)
    time.sleep(1.5)  # the queued slow signatures finish
    dev = srv.enrol()
    st, _, j = dev.login()
    expect(st == 200, (st, j))


if __name__ == "__main__":
    main(globals())
