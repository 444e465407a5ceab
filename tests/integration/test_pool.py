"""A pool of two HSMs (two SoftHSM tokens behind the fault-injecting
module): logins spread over both and keep succeeding while one returns
device errors, hangs past the deadline or is removed; with both down,
logins are answered 503 and /readyz fails; everything comes back by itself
when the faults clear.  Every issued token verifies against the JWKS."""
import json
import re
import threading
import time

import jwt

from harness import FaultServer, expect, main


def setup():
    srv = FaultServer(workers=1,
                      settings={"hsm.threads": 2, "hsm.deadline_ms": 400,
                                "hsm.probe_interval_ms": 200, "hsm.b.token": "idgate-b",
                                "hsm.reinit_interval_ms": 1000, "hsm.spare_threads": 2,
                                # four phones log in hundreds of times here
                                "login.credential_burst": 255,
                                "login.credential_interval_ms": 1})
    srv.start()
    srv.devs = [srv.enrol() for _ in range(4)]
    return srv


def teardown(srv):
    srv.fault("")
    time.sleep(0.3)
    srv.cleanup()


def metric(srv, name):
    m = re.search(r"^%s (\d+)" % re.escape(name), srv.metrics(), re.M)
    return int(m.group(1)) if m else None


def ready(srv, hsm):
    return metric(srv, 'idgate_hsm_device_ready{hsm="%s"}' % hsm)


def wait_ready(srv, hsm, want, within=5.0):
    t0 = time.time()
    while time.time() - t0 < within:
        if ready(srv, hsm) == want:
            return True
        time.sleep(0.1)
    return False


def jwks(srv):
    st, _, body = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)
    return {k["kid"]: k for k in json.loads(body)["keys"]}


def logins(srv, n, parallel=4):
    """n logins from several threads; returns [(status, body)]."""
    out = []
    lock = threading.Lock()

    def one(i):
        st, _, j = srv.devs[i % len(srv.devs)].login(client_id="svc-pool")
        with lock:
            out.append((st, j))

    for start in range(0, n, parallel):
        ts = [threading.Thread(target=one, args=(i,)) for i in range(start, min(n, start + parallel))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
    return out


def all_ok_and_verified(srv, res):
    keys = jwks(srv)
    kids = set()
    for st, j in res:
        expect(st == 200, (st, j, [l for l in srv.metrics().splitlines() if "hsm_device" in l and "bucket" not in l]))
        tok = j["access_token"]
        kid = jwt.get_unverified_header(tok)["kid"]
        kids.add(kid)
        jwt.decode(tok, jwt.PyJWK(keys[kid]).key, algorithms=["ES256"], audience="svc-pool",
                   issuer=srv.issuer)
    return kids


def test_two_keys_published_and_both_sign(srv):
    expect(len(jwks(srv)) == 2, "each HSM's issuer key is published")
    kids = all_ok_and_verified(srv, logins(srv, 24, parallel=8))
    expect(len(kids) == 2, "both HSMs signed: %r" % kids)
    expect(ready(srv, "main") == 1 and ready(srv, "b") == 1)


def logins_until(srv, counter, limit=48):
    """Logins (4 at a time) until the HSM metric <counter> has grown, that
    is until the injected fault has been met; every login must succeed
    meanwhile.  Returns the metric's growth."""
    before = metric(srv, counter) or 0
    res = []
    for _ in range(0, limit, 4):
        res += logins(srv, 4)
        if (metric(srv, counter) or 0) > before:
            break
    all_ok_and_verified(srv, res)
    return (metric(srv, counter) or 0) - before


def test_device_error_fails_over(srv):
    reinits = metric(srv, 'idgate_hsm_device_reinits_total{hsm="b"}')
    srv.fault("token=idgate-b sign_error=CKR_DEVICE_ERROR")
    t0 = time.time()
    grew = logins_until(srv, 'idgate_hsm_device_operations_total{hsm="b",result="device_error"}')
    expect(grew >= 1, "the fault was never met")
    expect(ready(srv, "b") == 0, "the failing HSM left rotation")
    all_ok_and_verified(srv, logins(srv, 8))
    time.sleep(2.5)
    srv.fault("")
    expect(wait_ready(srv, "b", 1), "the HSM came back after the fault cleared")
    # Re-initialized in the background, no faster than once a second.
    done = metric(srv, 'idgate_hsm_device_reinits_total{hsm="b"}') - reinits
    expect(1 <= done <= (time.time() - t0) / 1.0 + 1, (done, time.time() - t0))


def test_hang_past_deadline_fails_over(srv):
    srv.fault("token=idgate hang=1")
    t0 = time.time()
    grew = logins_until(srv, 'idgate_hsm_device_operations_total{hsm="main",result="deadline_missed"}')
    expect(grew >= 1, "the hang was never met")
    expect(time.time() - t0 < 20, "logins waited on a hung HSM")
    expect(ready(srv, "main") == 0)
    all_ok_and_verified(srv, logins(srv, 8))
    srv.fault("")
    expect(wait_ready(srv, "main", 1), "the hung HSM came back")
    all_ok_and_verified(srv, logins(srv, 8))


def test_stuck_threads_replaced_then_leave(srv):
    """Calls that overrun the deadline leave their threads inside the
    module; replacements (at most hsm.spare_threads) keep the HSM's
    complement, and the stuck threads leave when their calls return."""
    stuck = 'idgate_hsm_device_threads_stuck{hsm="main"}'
    replaced = metric(srv, 'idgate_hsm_device_threads_replaced_total{hsm="main"}')
    srv.fault("token=idgate sign_delay_ms=1500")
    grew = logins_until(srv, 'idgate_hsm_device_operations_total{hsm="main",result="deadline_missed"}')
    expect(grew >= 1, "the slow calls were never met")
    expect(1 <= metric(srv, stuck) <= 2, metric(srv, stuck))
    expect(metric(srv, 'idgate_hsm_device_threads_replaced_total{hsm="main"}') > replaced)
    all_ok_and_verified(srv, logins(srv, 8))
    srv.fault("")
    expect(wait_ready(srv, "main", 1), "the slow HSM came back")
    deadline = time.time() + 5
    while time.time() < deadline and metric(srv, stuck) != 0:
        time.sleep(0.1)
    expect(metric(srv, stuck) == 0, "stuck threads left once their calls returned")
    all_ok_and_verified(srv, logins(srv, 8))


def test_removed_device_fails_over(srv):
    srv.fault("token=idgate-b remove_after=1")
    grew = logins_until(srv, 'idgate_hsm_device_operations_total{hsm="b",result="device_removed"}')
    expect(grew >= 1, "the removal was never met")
    expect(ready(srv, "b") == 0)
    srv.fault("")
    expect(wait_ready(srv, "b", 1), "the removed HSM came back")


def test_all_down_answers_503_then_recovers(srv):
    srv.fault("sign_error=CKR_DEVICE_ERROR")
    t0 = time.time()
    st, h, j = srv.devs[0].login()
    expect(st == 503 and j["error"] == "temporarily_unavailable", (st, j))
    expect(h.get("retry-after") == "1", h)
    expect(time.time() - t0 < 2, "503 took %.2f s" % (time.time() - t0))
    st, _, j = srv.devs[1].login()
    expect(st == 503, (st, j))
    st, _, _ = srv.admin("GET", "/readyz", auth=False)
    expect(st == 503, "readyz while every HSM is down")
    srv.fault("")
    expect(wait_ready(srv, "main", 1) and wait_ready(srv, "b", 1))
    st, _, _ = srv.admin("GET", "/readyz", auth=False)
    expect(st == 200, st)
    all_ok_and_verified(srv, logins(srv, 4))


if __name__ == "__main__":
    main(globals())
