"""Tokens signed by an identity provider's rotating asymmetric keys, fetched from a JWKS URL
(`serendb_data_api.jwks_url`) served by the test on 127.0.0.1; and every way a token is
refused."""

import hashlib
import hmac
import json
import time
import uuid

import pytest

from conftest import Cluster, b64url, make_jwt, wait_for
from jwks_helpers import JwksServer, KeyPair, claims, jwks_conf


def whoami(cluster, token):
    return cluster.http("GET", "/rpc/whoami", token=token)


def assert_refused(r, status, code, message=None):
    assert r.status == status, r
    body = r.json()
    assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    return body


@pytest.fixture(scope="module")
def keys():
    return {alg: KeyPair(alg) for alg in ("ES256", "EdDSA", "RS256", "ES384", "PS256")}


@pytest.fixture(scope="module")
def provider(keys):
    """A JWKS server with one key per algorithm, and a cluster using it with aud/iss checks."""
    server = JwksServer(keys.values())
    c = Cluster(name="jwks", extra_conf=jwks_conf(
        server,
        "serendb_data_api.jwt_aud = 'project-1'",
        "serendb_data_api.jwt_iss = 'https://api.example.test/projects/1, https://other.test'",
        "serendb_data_api.jwks_refetch_min_interval = 1",
        "serendb_data_api.jwt_leeway = 5"))
    try:
        c.start()
        yield server, c
    finally:
        c.destroy()
        server.close()


def good(**extra):
    """Claims that pass the provider cluster's aud and iss checks (unless overridden)."""
    return claims(**{"aud": "project-1", "iss": "https://api.example.test/projects/1", **extra})


def test_es256_eddsa_rs256_and_more_are_accepted(provider, keys):
    server, c = provider
    for alg, key in keys.items():
        sub = str(uuid.uuid4())
        r = c.http("GET", "/rpc/whoami", token=key.sign(good(sub=sub)))
        assert r.status == 200, (alg, r)
        assert r.json() == "authenticated"
    # a token without kid is tried against every key of its family
    r = whoami(c, keys["EdDSA"].sign(good(), kid=None))
    assert r.status == 200, r
    # a token without aud passes the jwt_aud check (PostgREST documents this)
    no_aud = good()
    del no_aud["aud"]
    assert whoami(c, keys["ES256"].sign(no_aud)).status == 200
    # the second allowed issuer
    assert whoami(c, keys["ES256"].sign(good(iss="https://other.test"))).status == 200
    # expired by less than jwt_leeway (5 s): still accepted
    assert whoami(c, keys["ES256"].sign(good(exp=int(time.time()) - 2))).status == 200


def test_claims_reach_sql(provider, keys):
    _, c = provider
    sub = str(uuid.uuid4())
    tok = keys["ES256"].sign(good(sub=sub, email="a@b.test"))
    r = c.http("POST", "/posts", token=tok, body={"content": "from es256"},
               headers={"Prefer": "return=representation"})
    assert r.status == 201, r
    assert r.json()[0]["userId"] == sub


def test_refused_tokens(provider, keys):
    _, c = provider
    es = keys["ES256"]
    other = KeyPair("ES256", kid=es.kid)  # same kid, different key: a forged signature
    now = int(time.time())
    cases = [
        (other.sign(good()), 401, "PGRST301", "No suitable key or wrong key type"),
        (es.sign(good(exp=now - 100)), 401, "PGRST303", "JWT expired"),
        # within PostgREST's fixed 30 s, but this cluster's jwt_leeway is 5 s
        (es.sign(good(exp=now - 20)), 401, "PGRST303", "JWT expired"),
        (es.sign(good(nbf=now + 300)), 401, "PGRST303", "JWT not yet valid"),
        (es.sign(good(iat=now + 300)), 401, "PGRST303", "JWT issued at future"),
        (es.sign(good(aud="project-2")), 401, "PGRST303", "JWT not in audience"),
        (es.sign(good(iss="https://evil.test")), 401, "PGRST303", "JWT issuer not allowed"),
        (es.sign({k: v for k, v in good().items() if k != "iss"}), 401, "PGRST303",
         "JWT issuer not allowed"),
        (es.sign(good(exp="tomorrow")), 401, "PGRST303", "The JWT 'exp' claim must be a number"),
        (es.sign(good(exp=None)), 401, "PGRST303", "The JWT 'exp' claim must be a number"),
        (es.sign(good(nbf=[1])), 401, "PGRST303", "The JWT 'nbf' claim must be a number"),
        (es.sign(good(exp=1e300)), 401, "PGRST303", "The JWT 'exp' claim is out of range"),
        (es.sign(good(aud={"x": 1})), 401, "PGRST303",
         "The JWT 'aud' claim must be a string or an array of strings"),
        (es.sign(b"[1,2]"), 401, "PGRST303", "Parsing claims failed"),
        (es.sign(b"not json"), 401, "PGRST303", "Parsing claims failed"),
        # signed by the P-256 key but labelled ES384: that key cannot serve ES384
        (es.sign(good(), alg="ES384"), 401, "PGRST301", "No suitable key or wrong key type"),
        ("a.b", 401, "PGRST301", "Expected 3 parts in JWT; got 2"),
    ]
    for token, status, code, message in cases:
        assert_refused(whoami(c, token), status, code, message)


def test_alg_none_and_algorithm_confusion(provider, keys):
    _, c = provider
    head = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": keys["ES256"].kid}).encode())
    body = b64url(json.dumps(good()).encode())
    body = assert_refused(whoami(c, f"{head}.{body}."), 401, "PGRST301",
                          "Wrong or unsupported encoding algorithm")
    # HS256 keyed with the RSA public key (the classic confusion attack), with the RSA kid
    rsa = keys["RS256"]
    from cryptography.hazmat.primitives import serialization
    pem = rsa.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": rsa.kid}).encode())
    sig = b64url(hmac.new(pem, f"{h}.{body}".encode(), hashlib.sha256).digest())
    assert_refused(whoami(c, f"{h}.{body}.{sig}"), 401, "PGRST301",
                   "No suitable key or wrong key type")
    # a plain HS token: this cluster has no HS secret, only the JWKS
    assert_refused(whoami(c, make_jwt(good())), 401, "PGRST301",
                   "No suitable key or wrong key type")


def test_asymmetric_token_against_an_hs_secret(cluster, keys):
    """The reverse: the session cluster only has an HS secret."""
    r = cluster.http("GET", "/rpc/whoami", token=keys["ES256"].sign(claims()))
    assert_refused(r, 401, "PGRST301", "No suitable key or wrong key type")
    r = cluster.http("GET", "/rpc/whoami", token=keys["EdDSA"].sign(claims(), kid=None))
    assert_refused(r, 401, "PGRST301", "No suitable key or wrong key type")


def test_key_rotation_without_restart(make_cluster):
    old, new = KeyPair("ES256"), KeyPair("ES256")
    server = JwksServer([old])
    try:
        c = make_cluster(name="rotate", extra_conf=jwks_conf(
            server, "serendb_data_api.jwks_refetch_min_interval = 1"))
        old_token = old.sign(claims())
        assert whoami(c, old_token).status == 200
        # The provider publishes the new key next to the old one and starts signing with it:
        # the unknown kid makes the server refetch, and the first request already passes.
        server.keys = [old, new]
        time.sleep(1.1)
        r = whoami(c, new.sign(claims()))
        assert r.status == 200, r
        assert whoami(c, old_token).status == 200
        # The old key is withdrawn: once the server has refetched (here triggered by another
        # unknown kid), tokens signed with it fail even though they were accepted (and cached)
        # before.
        server.keys = [new]
        time.sleep(1.1)
        stray = KeyPair("ES256")
        assert whoami(c, stray.sign(claims())).status == 401
        r = wait_for(lambda: whoami(c, old_token).status == 401, timeout=10)
        assert r, whoami(c, old_token)
        assert whoami(c, new.sign(claims())).status == 200
        # no reload or restart happened
        assert "received SIGHUP" not in c.log()
    finally:
        server.close()


def test_unknown_kid_refetch_is_rate_limited(make_cluster):
    key = KeyPair("EdDSA")
    server = JwksServer([key])
    try:
        c = make_cluster(name="ratelimit", extra_conf=jwks_conf(
            server, "serendb_data_api.jwks_refetch_min_interval = 5"))
        assert whoami(c, key.sign(claims())).status == 200
        time.sleep(5.5)
        before = server.hits
        started = time.time()
        for i in range(20):
            r = whoami(c, key.sign(claims(), kid=f"unknown-{i}"))
            assert_refused(r, 401, "PGRST301", "No suitable key or wrong key type")
        assert time.time() - started < 5, "the loop must fit in one interval for this test"
        # the first unknown kid caused one refetch, the other 19 none
        assert server.hits - before == 1, server.hits - before
        # a known key still works meanwhile
        assert whoami(c, key.sign(claims())).status == 200
    finally:
        server.close()


def test_jwks_down_at_start_and_later(make_cluster):
    key = KeyPair("ES256")
    server = JwksServer([key])
    server.down = True
    try:
        c = make_cluster(name="down", extra_conf=jwks_conf(
            server, "serendb_data_api.jwks_refetch_min_interval = 1"))
        token = key.sign(claims())
        r = whoami(c, token)
        body = assert_refused(r, 503, "PGRST300", "JWT signing keys are not available yet")
        assert server.url in body["details"] and "503" in body["details"], body
        # requests without a token do not need the keys
        r = c.http("GET", "/rpc/whoami")
        assert (r.status, r.json()) == (200, "anonymous"), r
        # the provider comes up: the keys arrive without a restart
        server.down = False
        assert wait_for(lambda: whoami(c, token).status == 200, timeout=15), whoami(c, token)
        # down again, and the server notices (a refetch for an unknown kid fails): the last
        # good keys keep working, for new tokens too
        server.down = True
        time.sleep(1.1)
        hits = server.hits
        assert_refused(whoami(c, KeyPair("ES256").sign(claims())), 401, "PGRST301")
        assert server.hits == hits + 1
        assert whoami(c, key.sign(claims())).status == 200
        assert whoami(c, token).status == 200
        # each failing streak is logged once, not once per attempt
        assert wait_for(lambda: c.log().count("cannot fetch the JWKS") == 2, timeout=5), c.log()
        time.sleep(2)
        assert c.log().count("cannot fetch the JWKS") == 2
    finally:
        server.close()


def test_plain_http_is_only_for_loopback(make_cluster):
    c = make_cluster(name="insecure", extra_conf=[
        "serendb_data_api.jwt_secret = ''",
        "serendb_data_api.jwks_url = 'http://example.com/.well-known/jwks.json'"])
    r = whoami(c, KeyPair("ES256").sign(claims()))
    body = assert_refused(r, 503, "PGRST300")
    assert "https" in body["details"], body


def test_jwt_secret_accepts_a_jwks_document(make_cluster):
    """PostgREST's jwt_secret may hold a JWK Set with public keys (here base64-encoded); the
    role claim path in RFC 9535 form."""
    import base64
    ed, rs = KeyPair("EdDSA"), KeyPair("RS256")
    doc = json.dumps({"keys": [ed.jwk, rs.jwk]})
    c = make_cluster(name="jwkssecret", extra_conf=[
        f"serendb_data_api.jwt_secret = '{base64.b64encode(doc.encode()).decode()}'",
        "serendb_data_api.jwt_secret_is_base64 = on",
        "serendb_data_api.jwt_role_claim_key = '$.app_metadata.role'"])
    assert whoami(c, ed.sign(claims())).status == 200
    # the RFC 9535 role path (PostgREST 16's spelling); without that claim: default_role
    r = whoami(c, ed.sign(claims(role="ignored", app_metadata={"role": "anonymous"})))
    assert (r.status, r.json()) == (200, "anonymous"), r
    assert whoami(c, ed.sign(claims(role="anonymous"))).json() == "authenticated"
    assert whoami(c, rs.sign(claims(), kid=None)).status == 200
    assert_refused(whoami(c, KeyPair("EdDSA").sign(claims())), 401, "PGRST301")


def test_hs_secret_next_to_a_jwks_url(make_cluster):
    """jwt_secret keeps working next to jwks_url; while the JWKS is unreachable only the tokens
    that need it get 503."""
    key = KeyPair("ES256")
    server = JwksServer([key])
    server.down = True
    try:
        c = make_cluster(name="mixed", extra_conf=[
            f"serendb_data_api.jwks_url = '{server.url}'",
            "serendb_data_api.jwks_refetch_min_interval = 1"])
        assert whoami(c, c.token()).status == 200
        assert_refused(whoami(c, key.sign(claims())), 503, "PGRST300")
        server.down = False
        assert wait_for(lambda: whoami(c, key.sign(claims())).status == 200, timeout=15)
        assert whoami(c, c.token()).status == 200
        # an HS token with the wrong secret is still refused
        assert_refused(whoami(c, make_jwt(claims(), secret="x" * 40)), 401, "PGRST301")
    finally:
        server.close()


def test_https_certificates_are_verified(make_cluster):
    """The fetch speaks TLS (rustls) and refuses a certificate no public root vouches for."""
    server = JwksServer([KeyPair("ES256")], tls=True)
    try:
        c = make_cluster(name="tls", extra_conf=jwks_conf(server))
        r = whoami(c, server.keys[0].sign(claims()))
        body = assert_refused(r, 503, "PGRST300")
        assert "certificate" in body["details"].lower(), body
        assert server.hits == 0  # the handshake failed before any request
        assert c.log().count("cannot fetch the JWKS") == 1
        # the listener is fine
        assert c.http("GET", "/rpc/whoami").json() == "anonymous"
    finally:
        server.close()
