"""idgate-load against a real idgated: populate through the bulk admin
API, open-loop login and JWKS runs over keep-alive and new-connection TLS
checked through --json (offered = achieved, no errors, every login 200),
an unreachable target and bad arguments.  Gentle: a few hundred requests
per run on loopback only."""
import json
import os
import subprocess
import tempfile

import harness
from harness import Server, expect, main


def setup():
    return Server().start()


def teardown(srv):
    srv.cleanup()


def loadgen(*args, timeout=60):
    exe = os.path.join(os.path.dirname(harness.BIN), "idgate-load")
    return subprocess.run([exe] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def run_json(srv, *args):
    out = os.path.join(srv.state, "lg-%s.json" % next(tempfile._get_candidate_names()))
    r = loadgen("run", "--url", srv.issuer, "--quiet", "--json", out, *args)
    expect(r.returncode == 0, (r.returncode, r.stdout, r.stderr))
    with open(out) as f:
        return json.load(f), r


def population(srv):
    pop = os.path.join(srv.state, "population")
    if not os.path.exists(pop):
        tok = os.path.join(srv.state, "admin.token")
        r = loadgen("populate", "--admin", "http://127.0.0.1:%d" % srv.admin_port,
                    "--admin-token-file", tok, "--citizens", 200, "--seed", "it",
                    "--population", pop)
        expect(r.returncode == 0, (r.returncode, r.stdout, r.stderr))
    return pop


def check_clean(res, workload, offered):
    sc = [s for s in res["scenarios"] if s["workload"] == workload][0]
    expect(sc["offered"] == offered, (sc["offered"], offered))
    expect(sc["error_total"] == 0, sc["errors"])
    expect(sc["answered"] == sc["offered"], sc)
    expect(abs(sc["achieved_rate"] - sc["offered_rate"]) <= 0.02 * sc["offered_rate"], sc)
    expect(list(sc["status"].keys()) == ["200"], sc["status"])
    lat = sc["latency"][0]
    expect(lat["class"] == "2xx" and lat["count"] == offered, lat)
    for k in ("p50", "p90", "p99", "p99.9", "max"):
        expect(0 < lat["corrected_us"][k] < 10_000_000, lat)
        # latency from the intended time is never below the service time
        # (up to the histogram's 0.1% resolution)
        expect(lat["corrected_us"][k] * 1.002 + 1 >= lat["uncorrected_us"][k], lat)
    return sc


def test_populate(srv):
    pop = population(srv)
    with open(pop) as f:
        lines = f.read().split("\n")
    expect(lines[0] == "idgate-load-population 1" and lines[2] == "count 200", lines[:3])
    expect(len([ln for ln in lines[3:] if ln]) == 200)


def test_login_keepalive(srv):
    res, _ = run_json(srv, "--mix", "login", "--rate", 200, "--duration", 3,
                      "--tls", "keepalive", "--connections", 16,
                      "--population", population(srv))
    check_clean(res, "login", 600)
    expect(res["tls"] == "keepalive")
    expect(res["generator"]["connections_opened"] <= 16, res["generator"])


def test_login_new_connection(srv):
    res, _ = run_json(srv, "--mix", "login", "--rate", 50, "--duration", 2,
                      "--tls", "new", "--population", population(srv))
    check_clean(res, "login", 100)
    g = res["generator"]
    expect(g["handshakes"] == 100 and g["resumed"] == 0, g)


def test_resumed_connections(srv):
    res, _ = run_json(srv, "--mix", "jwks", "--rate", 50, "--duration", 2,
                      "--tls", "resume", "--connections", 8)
    check_clean(res, "jwks", 100)
    g = res["generator"]
    # the first handshake is full, then each connection resumes the last ticket
    expect(g["handshakes"] == 100 and g["resumed"] >= 95, g)


def test_jwks_and_mix(srv):
    res, r = run_json(srv, "--mix", "jwks", "--rate", 100, "--duration", 2,
                      "--poisson")
    sc = [s for s in res["scenarios"] if s["workload"] == "jwks"][0]
    expect(sc["error_total"] == 0 and sc["answered"] == sc["offered"] > 100, sc)
    expect("jwks (tls keepalive)" in r.stdout, r.stdout)
    res, _ = run_json(srv, "--mix", "login=1,jwks=1", "--rate", 100, "--duration", 1,
                      "--population", population(srv))
    names = sorted(s["workload"] for s in res["scenarios"])
    expect(names == ["jwks", "login"], names)
    expect(res["errors"] == 0 and res["offered"] == res["answered"] == 100, res)


def test_unreachable(srv):
    r = loadgen("run", "--url", "https://127.0.0.1:1", "--rate", 10, "--duration", 1)
    expect(r.returncode == 1, (r.returncode, r.stderr))
    expect("unreachable" in r.stderr and "refused" in r.stderr, r.stderr)


def test_bad_arguments(srv):
    cases = [
        [],
        ["fly"],
        ["run"],
        ["run", "--url", "ftp://x", "--rate", 1, "--duration", 1],
        ["run", "--url", srv.issuer, "--rate", "-3", "--duration", 1],
        ["run", "--url", srv.issuer, "--rate", 10],
        ["run", "--url", srv.issuer, "--rate", 10, "--duration", 1, "--tls", "sometimes"],
        ["run", "--url", srv.issuer, "--rate", 10, "--duration", 1, "--mix", "dance=1"],
        ["run", "--url", srv.issuer, "--rate", 10, "--duration", 1, "--mix", "login"],
        ["run", "--url", srv.issuer, "--duration", 1, "--profile", "ramp:from=1"],
        ["run", "--url", srv.issuer, "--rate", 10, "--duration", 1, "--threads", 0],
        ["run", "--url", srv.issuer, "--rate", 10, "--duration", 1,
         "--population", "/nonexistent", "--mix", "login"],
        ["populate", "--citizens", 10],
        ["populate", "--admin", "http://127.0.0.1:1", "--admin-token-file", "/nonexistent",
         "--citizens", 1, "--population", "/tmp/x"],
    ]
    for c in cases:
        r = loadgen(*c)
        expect(r.returncode == 2, (c, r.returncode, r.stderr))
        expect(r.stderr.startswith("idgate-load: "), (c, r.stderr))


if __name__ == "__main__":
    main(globals())
