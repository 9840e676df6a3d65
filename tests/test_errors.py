"""Each error class: PostgREST's status, code and body shape, over real HTTP."""

import time

import pytest

from conftest import make_jwt


@pytest.fixture(scope="module", autouse=True)
def error_fixtures(cluster):
    cluster.psql("""
        CREATE TABLE uniq_items (id int PRIMARY KEY, name text UNIQUE);
        CREATE FUNCTION pay() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
          RAISE SQLSTATE 'PT402' USING MESSAGE = 'Payment Required',
            DETAIL = 'Quota exceeded', HINT = 'Upgrade your plan';
        END $$;
        CREATE FUNCTION boom() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'boom: %', 42; END $$;
        CREATE FUNCTION reset_role_and_tell() RETURNS json LANGUAGE plpgsql AS $$
        BEGIN
          RESET ROLE;
          RETURN json_build_object('user', current_user,
            'super', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));
        END $$;
        CREATE FUNCTION set_role_postgres() RETURNS text LANGUAGE plpgsql AS $$
        BEGIN SET LOCAL ROLE postgres; RETURN current_user; END $$;
        CREATE ROLE not_granted NOLOGIN;
        GRANT USAGE ON SCHEMA public TO not_granted;
        CREATE ROLE granted_role NOLOGIN;
        GRANT granted_role TO authenticator;
        GRANT USAGE ON SCHEMA public TO granted_role;
    """)
    yield


def assert_error(r, status, code):
    assert r.status == status, r
    body = r.json()
    assert set(body) >= {"code", "message", "details", "hint"}, body
    assert body["code"] == code, body
    return body


def test_unknown_table_is_404_pgrst205(cluster):
    body = assert_error(cluster.http("GET", "/no_such_table", token=cluster.token()), 404, "PGRST205")
    assert "no_such_table" in body["message"]


def test_unknown_column_is_400_42703(cluster):
    t = cluster.token()
    assert_error(cluster.http("GET", "/posts?select=id,no_such_col", token=t), 400, "42703")
    assert_error(cluster.http("GET", "/posts?no_such_col=eq.1", token=t), 400, "42703")


def test_malformed_query_is_400_pgrst100(cluster):
    t = cluster.token()
    assert_error(cluster.http("GET", "/posts?id=xx.1", token=t), 400, "PGRST100")
    assert_error(cluster.http("GET", "/posts?select=id,(", token=t), 400, "PGRST100")
    assert_error(cluster.http("GET", "/posts?or=(id.eq.1", token=t), 400, "PGRST100")


def test_bad_jwt_is_401_pgrst301_with_www_authenticate(cluster):
    for token in ["not-a-jwt", "a.b.c", make_jwt({"sub": "x", "role": "authenticated"},
                                                  secret="the-wrong-secret-0123456789012345678")]:
        r = cluster.http("GET", "/posts", token=token)
        assert_error(r, 401, "PGRST301")
        www = r.header("WWW-Authenticate")
        assert www and www.startswith("Bearer"), r.headers
        assert "invalid_token" in www


def test_alg_none_jwt_is_rejected(cluster):
    head = make_jwt({}, header={"alg": "none", "typ": "JWT"}).split(".")[0]
    body = make_jwt({"sub": "x", "role": "authenticated"}).split(".")[1]
    r = cluster.http("GET", "/posts", token=f"{head}.{body}.")
    assert r.status == 401, r


def test_expired_jwt_is_401_pgrst303(cluster):
    token = cluster.jwt({"sub": "user-1", "role": "authenticated", "exp": int(time.time()) - 3600})
    r = cluster.http("GET", "/posts", token=token)
    body = assert_error(r, 401, "PGRST303")
    assert "expired" in body["message"].lower()
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer")


def test_unique_violation_is_409_23505(cluster):
    t = cluster.token()
    r = cluster.http("POST", "/uniq_items", None, {"id": 1, "name": "a"}, token=t)
    assert r.status == 201, r
    body = assert_error(cluster.http("POST", "/uniq_items", None, {"id": 2, "name": "a"}, token=t),
                        409, "23505")
    assert "duplicate key" in body["message"]
    assert cluster.psql("SELECT count(*) FROM uniq_items") == "1"


def test_pt_sqlstate_sets_the_http_status(cluster):
    for method in ["POST", "GET"]:
        r = cluster.http(method, "/rpc/pay", None, {} if method == "POST" else None,
                         token=cluster.token())
        body = assert_error(r, 402, "PT402")
        assert body["message"] == "Payment Required"
        assert body["details"] == "Quota exceeded"
        assert body["hint"] == "Upgrade your plan"


def test_raise_exception_is_400_p0001(cluster):
    body = assert_error(cluster.http("POST", "/rpc/boom", None, {}, token=cluster.token()),
                        400, "P0001")
    assert body["message"] == "boom: 42"


def test_valid_jwt_without_role_runs_as_default_role(cluster):
    token = cluster.jwt({"sub": "user-9", "exp": int(time.time()) + 60})
    r = cluster.http("GET", "/rpc/whoami", token=token)
    assert r.status == 200, r
    assert r.json() == "authenticated"


def test_role_granted_to_authenticator_is_used(cluster):
    r = cluster.http("GET", "/rpc/whoami", token=cluster.token(role="granted_role"))
    assert r.status == 200, r
    assert r.json() == "granted_role"


# Existing roles the authenticator may not switch to: Postgres' own answer to SET ROLE, 42501,
# which PostgREST sends as 403 for a request with a JWT. Missing roles: 22023.
REFUSED_ROLES = [("not_granted", 403, "42501"), ("postgres", 403, "42501"),
                 ("pg_read_server_files", 403, "42501"), ("no_such_role_at_all", 401, "22023"),
                 ("", 401, "22023"), ('authenticated"; DROP TABLE uniq_items; --', 401, "22023")]


@pytest.mark.parametrize("role,status,code", REFUSED_ROLES)
def test_role_not_granted_to_authenticator_never_runs(cluster, role, status, code):
    """A role the authenticator may not switch to (not granted, missing, or a superuser) is
    refused and nothing runs as that role."""
    assert_error(cluster.http("GET", "/rpc/whoami", token=cluster.token(role=role)), status, code)
    # Nothing executed as that role: a write under that token does not happen either.
    before = cluster.psql("SELECT count(*) FROM uniq_items")
    r = cluster.http("POST", "/uniq_items", None, {"id": 900, "name": f"as-{role}"},
                     token=cluster.token(role=role))
    assert_error(r, status, code)
    assert cluster.psql("SELECT count(*) FROM uniq_items") == before


def test_request_sql_cannot_regain_superuser(cluster):
    r = cluster.http("POST", "/rpc/reset_role_and_tell", None, {}, token=cluster.token())
    assert r.status >= 400 or r.json()["super"] is False, r
    r = cluster.http("POST", "/rpc/set_role_postgres", None, {}, token=cluster.token())
    assert r.status >= 400, r


def test_nothing_outside_the_exposed_schemas(cluster):
    t = cluster.token()
    for fn in ["pg_read_file?filename=/etc/passwd", "pg_sleep?seconds=0", "user_id"]:
        assert_error(cluster.http("GET", f"/rpc/{fn}", token=t), 404, "PGRST202")
    for rel in ["pg_authid", "pg_catalog.pg_authid", "pg_roles"]:
        assert_error(cluster.http("GET", f"/{rel}", token=t), 404, "PGRST205")
    for profile in ["pg_catalog", "auth", "information_schema"]:
        body = assert_error(cluster.http("GET", "/posts", {"Accept-Profile": profile}, token=t),
                            406, "PGRST106")
        assert profile in body["message"]


def test_values_are_never_sql(cluster):
    t = cluster.token()
    for path in ["/uniq_items?id=eq.1);DROP%20TABLE%20uniq_items;--",
                 "/uniq_items?name=eq.a'%20OR%20'1'='1",
                 "/uniq_items?name=in.(a')%20OR%20true%20--)"]:
        r = cluster.http("GET", path, token=t)
        assert r.status == 400 or (r.status == 200 and r.json() == []), r
    r = cluster.http("GET", "/uniq_items?select=name&name=eq.a'%20OR%20'1'='1", token=t)
    assert r.status == 200 and r.json() == [], r
    assert cluster.psql("SELECT to_regclass('public.uniq_items') IS NOT NULL") == "t"


def test_role_grants_and_revokes_apply_at_once(cluster):
    """The role check follows GRANT/REVOKE and role attributes without a restart: a revoked
    role or one that became privileged is refused on the very next request."""
    cluster.psql("CREATE ROLE late_role NOLOGIN; GRANT USAGE ON SCHEMA public TO late_role;")
    tok = cluster.token(role="late_role")
    who = lambda: cluster.http("GET", "/rpc/whoami", token=tok)  # noqa: E731
    assert who().status == 403
    cluster.psql("GRANT late_role TO authenticator")
    r = who()
    assert r.status == 200 and r.json() == "late_role", r
    cluster.psql("REVOKE late_role FROM authenticator")
    assert who().status == 403
    cluster.psql("GRANT late_role TO authenticator")
    assert who().status == 200
    cluster.psql("ALTER ROLE late_role SUPERUSER")
    try:
        # Refused as a request role; and the authenticator (the executors' session user) could
        # now SET ROLE to a superuser, e.g. from a deferred trigger: no other request runs.
        assert who().status == 403
        r = cluster.http("GET", "/rpc/whoami")
        assert r.status == 500 and r.json()["code"] == "42501", r
    finally:
        cluster.psql("ALTER ROLE late_role NOSUPERUSER")
    assert who().status == 200
    cluster.psql("REVOKE late_role FROM authenticator")
    assert who().status == 403


def test_bypassrls_role_is_refused_even_when_granted(cluster):
    """A deliberate difference from PostgREST (README): a JWT cannot switch to a role that
    bypasses RLS, even one granted to the authenticator."""
    cluster.psql("CREATE ROLE service_like NOLOGIN BYPASSRLS; GRANT service_like TO authenticator; "
                 "GRANT USAGE ON SCHEMA public TO service_like;")
    r = cluster.http("GET", "/rpc/whoami", token=cluster.token(role="service_like"))
    assert r.status == 403, r
    assert r.json()["code"] == "42501"
