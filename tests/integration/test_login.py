"""Login end to end: enrolment on the admin listener, the RFC 7523
JWT-bearer grant on the TLS listener, tokens checked with PyJWT against the
published JWKS, and every rejection of the assertion and of the form."""
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from harness import (JWT_BEARER, Server, b64u, b64u_dec, expect, jwk_of,
                     jwk_thumbprint, main, make_jws)


def setup():
    return Server().start()


def teardown(srv):
    srv.cleanup()


def jwks_keys(srv):
    st, h, body = srv.https("GET", "/.well-known/jwks.json")
    expect(st == 200, st)
    return json.loads(body)["keys"], h


def verify_token(srv, token, aud):
    keys, _ = jwks_keys(srv)
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = [k for k in keys if k["kid"] == kid][0]
    key = jwt.PyJWK(jwk).key
    return jwt.decode(token, key, algorithms=["ES256"], audience=aud, issuer=srv.issuer)


def test_discovery(srv):
    st, h, body = srv.https("GET", "/.well-known/openid-configuration")
    expect(st == 200, st)
    d = json.loads(body)
    expect(d["issuer"] == srv.issuer, d)
    expect(d["token_endpoint"] == srv.token_endpoint, d)
    expect(d["jwks_uri"] == srv.issuer + "/.well-known/jwks.json", d)
    expect(JWT_BEARER in d["grant_types_supported"], d)
    expect("token_endpoint_auth_methods_supported" in d, d)
    expect("max-age" in h.get("cache-control", ""), h)


def test_jwks(srv):
    keys, h = jwks_keys(srv)
    expect("max-age=" in h.get("cache-control", ""), h)
    expect(len(keys) >= 1)
    for k in keys:
        for f in ("kid", "kty", "crv", "x", "y", "use", "alg"):
            expect(f in k, (f, k))
        expect(k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256" and k["use"] == "sig", k)
        expect(k["kid"] == jwk_thumbprint(k), "kid is not the RFC 7638 thumbprint")
        expect("d" not in k)


def test_login_success_verifies_with_jwks(srv):
    dev = srv.enrol()
    st, h, j = dev.login(client_id="svc-tax")
    expect(st == 200, (st, j))
    expect(j["token_type"] == "Bearer" and j["expires_in"] == 600, j)
    expect("no-store" in h.get("cache-control", ""), h)
    tok = j["access_token"]
    hdr = json.loads(b64u_dec(tok.split(".")[0]))
    expect(hdr == {"typ": "at+jwt", "alg": "ES256", "kid": hdr["kid"]}, hdr)
    claims = verify_token(srv, tok, "svc-tax")
    expect(claims["iss"] == srv.issuer and claims["client_id"] == "svc-tax", claims)
    expect(claims["exp"] - claims["iat"] == 600, claims)
    expect(abs(claims["iat"] - time.time()) < 60, claims)
    for f in ("sub", "jti"):
        expect(isinstance(claims[f], str) and claims[f], claims)
    expect(claims["sub"] != dev.citizen and claims["sub"] != dev.cred, "sub must be pairwise")


def test_login_without_client_id(srv):
    dev = srv.enrol()
    st, _, j = dev.login()
    expect(st == 200, (st, j))
    claims = verify_token(srv, j["access_token"], srv.issuer)
    expect(claims["client_id"] == srv.issuer, claims)  # RFC 9068 §2.2: always present


def test_pairwise_sub(srv):
    a = srv.enrol()
    a2 = srv.enrol(citizen=a.citizen)  # a second device of the same citizen
    b = srv.enrol()
    subs = {}
    for name, dev, svc in (("a1", a, "svc-1"), ("a1b", a, "svc-1"), ("a2", a, "svc-2"),
                           ("a2dev", a2, "svc-1"), ("b1", b, "svc-1")):
        st, _, j = dev.login(client_id=svc)
        expect(st == 200, (st, j))
        subs[name] = verify_token(srv, j["access_token"], svc)["sub"]
    expect(subs["a1"] == subs["a1b"], "sub must be stable per service")
    expect(subs["a1"] == subs["a2dev"], "sub belongs to the citizen, not the device")
    expect(subs["a1"] != subs["a2"], "sub must differ between services")
    expect(subs["a1"] != subs["b1"], "citizens must differ")


def expect_grant_error(st, j, err, text=None):
    expect(st == 400, (st, j))
    expect(j["error"] == err, j)
    if text:
        expect(text in j["error_description"], j)


def test_forged_signature(srv):
    dev = srv.enrol()
    other = ec.generate_private_key(ec.SECP256R1())
    st, _, j = dev.login(key=other)
    expect_grant_error(st, j, "invalid_grant", "signature")


def test_expired(srv):
    dev = srv.enrol()
    now = int(time.time())
    st, _, j = dev.login(iat=now - 400, exp=now - 100)
    expect_grant_error(st, j, "invalid_grant", "expired")


def test_exp_too_far(srv):
    dev = srv.enrol()
    now = int(time.time())
    st, _, j = dev.login(exp=now + 3600)
    expect_grant_error(st, j, "invalid_grant", "future")


def test_future_dated(srv):
    dev = srv.enrol()
    now = int(time.time())
    st, _, j = dev.login(iat=now + 200, exp=now + 250)
    expect_grant_error(st, j, "invalid_grant")


def test_replayed(srv):
    dev = srv.enrol()
    a = dev.assertion()
    form = {"grant_type": JWT_BEARER, "assertion": a}
    st, _, j = srv.login_raw(form)
    expect(st == 200, (st, j))
    st, _, j = srv.login_raw(form)
    expect_grant_error(st, j, "invalid_grant", "replay")


def test_wrong_audience(srv):
    dev = srv.enrol()
    st, _, j = dev.login(aud="https://evil.example/oauth2/token")
    expect_grant_error(st, j, "invalid_grant", "audience")


def test_alg_none(srv):
    dev = srv.enrol()
    now = int(time.time())
    hdr = b64u(json.dumps({"alg": "none", "kid": dev.cred}).encode())
    cl = b64u(json.dumps({"iss": dev.cred, "sub": dev.cred, "aud": srv.token_endpoint,
                          "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}).encode())
    st, _, j = srv.login_raw({"grant_type": JWT_BEARER, "assertion": hdr + "." + cl + "."})
    expect_grant_error(st, j, "invalid_grant", "ES256")


def test_iss_sub_mismatch(srv):
    dev = srv.enrol()
    other = srv.enrol()
    st, _, j = dev.login(sub=other.cred)
    expect_grant_error(st, j, "invalid_grant")


def test_unknown_kid(srv):
    dev = srv.enrol()
    fake = "AAAAAAAAAAAAAAAAAAAAAA"
    st, _, j = dev.login(h_kid=fake, iss=fake, sub=fake)
    expect_grant_error(st, j, "invalid_grant", "unknown credential")


def test_other_citizens_credential(srv):
    """A device key cannot log in with another citizen's credential id."""
    victim = srv.enrol()
    attacker = srv.enrol()
    st, _, j = attacker.login(key=attacker.key, h_kid=victim.cred, iss=victim.cred, sub=victim.cred)
    expect_grant_error(st, j, "invalid_grant", "signature")


def test_revoked(srv):
    dev = srv.enrol()
    st, _, j = dev.login()
    expect(st == 200, (st, j))
    st, _, _ = srv.admin("DELETE", "/v1/admin/credentials/" + dev.cred)
    expect(st == 204, st)
    st, _, j = dev.login()
    expect_grant_error(st, j, "invalid_grant", "revoked")
    st, _, _ = srv.admin("DELETE", "/v1/admin/credentials/AAAAAAAAAAAAAAAAAAAAAA")
    expect(st == 404, st)


def test_form_errors(srv):
    dev = srv.enrol()
    st, _, j = srv.login_raw({"grant_type": "password", "username": "x"})
    expect_grant_error(st, j, "unsupported_grant_type")
    st, _, j = srv.login_raw({"grant_type": JWT_BEARER})
    expect_grant_error(st, j, "invalid_request", "assertion")
    st, _, j = srv.login_raw({"assertion": dev.assertion()})
    expect_grant_error(st, j, "invalid_request", "grant_type")
    a = dev.assertion()
    st, _, j = srv.login_raw("grant_type=%s&grant_type=%s&assertion=%s" % (JWT_BEARER, JWT_BEARER, a))
    expect_grant_error(st, j, "invalid_request", "more than once")
    st, _, j = srv.login_raw("grant_type=%s&assertion=%%zz" % JWT_BEARER)
    expect_grant_error(st, j, "invalid_request")
    st, _, j = srv.login_raw({"grant_type": JWT_BEARER, "assertion": "not-a-jws"})
    expect_grant_error(st, j, "invalid_grant")
    st, _, j = srv.login_raw(json.dumps({"grant_type": JWT_BEARER}), ctype="application/json")
    expect(st == 415, (st, j))


def test_enrolment_rules(srv):
    key = ec.generate_private_key(ec.SECP256R1())
    st, _, body = srv.admin("POST", "/v1/admin/citizens", {"citizen_id": "dup-test", "device_jwk": jwk_of(key)})
    expect(st == 201, (st, body))
    st, _, body = srv.admin("POST", "/v1/admin/citizens", {"citizen_id": "dup-test-2", "device_jwk": jwk_of(key)})
    expect(st == 409, (st, body))
    bad_jwk = dict(jwk_of(key), crv="P-384")
    for doc, why in (({"citizen_id": "x"}, "device_jwk"),
                     ({"citizen_id": "bad id!", "device_jwk": jwk_of(ec.generate_private_key(ec.SECP256R1()))}, "citizen_id"),
                     ({"citizen_id": "ok", "device_jwk": bad_jwk}, ""),
                     ({"citizen_id": "ok", "device_jwk": jwk_of(key), "extra": 1}, "unknown member")):
        st, _, body = srv.admin("POST", "/v1/admin/citizens", doc)
        expect(st == 400, (st, body, doc))
        expect(why in json.loads(body)["error_description"], body)
    st, _, body = srv.admin("POST", "/v1/admin/citizens", "{not json")
    expect(st == 400, st)
    st, _, body = srv.admin("POST", "/v1/admin/citizens", "citizen_id=x", ctype="text/plain")
    expect(st == 415, st)


def test_admin_token_required(srv):
    doc = {"citizen_id": "x", "device_jwk": jwk_of(ec.generate_private_key(ec.SECP256R1()))}
    st, h, _ = srv.admin("POST", "/v1/admin/citizens", doc, auth=False)
    expect(st == 401 and "bearer" in h.get("www-authenticate", "").lower(), (st, h))
    st, _, _ = srv.admin("POST", "/v1/admin/citizens", doc, token="wrong-token-wrong-token")
    expect(st == 401, st)
    st, _, _ = srv.admin("POST", "/v1/admin/citizens", doc, token=srv.admin_token + "x")
    expect(st == 401, st)
    st, _, _ = srv.admin("GET", "/metrics", auth=False)
    expect(st == 401, st)
    st, _, _ = srv.admin("DELETE", "/v1/admin/credentials/AAAAAAAAAAAAAAAAAAAAAA", auth=False)
    expect(st == 401, st)


def test_bulk_enrolment(srv):
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(50)]
    docs = [{"citizen_id": "bulk-%d" % i, "device_jwk": jwk_of(k)} for i, k in enumerate(keys)]
    docs[7] = {"citizen_id": "bulk-bad"}  # one bad item does not spoil the rest
    st, _, body = srv.admin("POST", "/v1/admin/citizens", docs)
    expect(st == 200, (st, body))
    r = json.loads(body)
    expect(r["enrolled"] == 49 and r["failed"] == 1, r)
    expect("error" in r["results"][7] and "credential_id" in r["results"][8], r)
    # JSON lines
    keys2 = [ec.generate_private_key(ec.SECP256R1()) for _ in range(20)]
    lines = "\n".join(json.dumps({"citizen_id": "nd-%d" % i, "device_jwk": jwk_of(k)})
                      for i, k in enumerate(keys2)) + "\n"
    st, _, body = srv.admin("POST", "/v1/admin/citizens", lines, ctype="application/x-ndjson")
    expect(st == 200, (st, body))
    r = json.loads(body)
    expect(r["enrolled"] == 20, r)
    # an enrolled device logs in
    from harness import Device
    dev = Device(srv, "nd-3", keys2[3], r["results"][3]["credential_id"])
    st, _, j = dev.login()
    expect(st == 200, (st, j))


def test_health_and_metrics(srv):
    st, _, body = srv.admin("GET", "/healthz", auth=False)
    expect(st == 200, st)
    st, _, body = srv.admin("GET", "/readyz", auth=False)
    expect(st == 200, (st, body))
    m = srv.metrics()
    for name in ("idgate_requests_total{endpoint=\"token\",status=\"200\"}",
                 "idgate_request_duration_seconds_bucket{endpoint=\"token\"",
                 "idgate_tls_handshakes_total{kind=\"full\"}",
                 "idgate_hsm_queue_depth", "idgate_hsm_in_flight",
                 "idgate_requests_shed_total"):
        expect(name in m, name)


def test_secrets_not_logged(srv):
    log = srv.log_text()
    import os
    for f in ("hsm.pin", "hsm-so.pin", "admin.token"):
        p = os.path.join(srv.state, f)
        expect(os.stat(p).st_mode & 0o077 == 0, "%s must be mode 0600" % f)
        secret = open(p).read().strip()
        expect(secret and secret not in log, "%s appears in the log" % f)


def test_restart_reuses_state(srv):
    dev = srv.enrol()
    keys_before, _ = jwks_keys(srv)
    srv.stop()
    srv.start()
    keys_after, _ = jwks_keys(srv)
    expect(keys_before == keys_after, "issuer key changed across restart")
    st, _, j = dev.login()
    expect(st == 200, (st, j))


if __name__ == "__main__":
    main(globals())
