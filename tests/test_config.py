"""Reloadable settings take effect on pg_reload_conf(), without a restart.

Runs on its own cluster: these tests change the configuration."""

import time
from contextlib import contextmanager

import pytest

from conftest import Cluster, make_jwt, wait_for


@pytest.fixture(scope="module")
def cfg():
    c = Cluster(name="config")
    try:
        c.start()
        c.psql("""
            CREATE FUNCTION my_sub() RETURNS text LANGUAGE sql STABLE AS $$ SELECT auth.user_id() $$;
            CREATE FUNCTION req() RETURNS json LANGUAGE sql STABLE AS $$
              SELECT json_build_object(
                'method', current_setting('request.method', true),
                'path', current_setting('request.path', true),
                'header', current_setting('request.headers', true)::json ->> 'x-probe',
                'claims', auth.session()) $$;
            CREATE TABLE nums (n int PRIMARY KEY);
            INSERT INTO nums SELECT generate_series(1, 50);
            CREATE ROLE app_admin NOLOGIN;
            GRANT app_admin TO authenticator;
            GRANT USAGE ON SCHEMA public TO app_admin;
        """)
        yield c
    finally:
        c.destroy()


def set_guc(c, name, value):
    """ALTER SYSTEM + reload; value None resets."""
    if value is None:
        c.psql(f"ALTER SYSTEM RESET serendb_data_api.{name}; SELECT pg_reload_conf();")
    else:
        c.psql(f"ALTER SYSTEM SET serendb_data_api.{name} = '{value}'; SELECT pg_reload_conf();")


@contextmanager
def setting(c, name, value, reset=None):
    """`name` = `value` inside the block; set to `reset` (None resets) when it ends, also when
    an assertion inside failed."""
    try:
        set_guc(c, name, value)
        yield
    finally:
        set_guc(c, name, reset)


def whoami_is(c, token, role):
    """Wait until /rpc/whoami answers `role` for `token` (reloads reach the workers later)."""
    return wait_for(lambda: c.http("GET", "/rpc/whoami", token=token).json() == role)


def test_request_settings_and_claims_visible_in_sql(cfg):
    r = cfg.http("GET", "/rpc/req", {"X-Probe": "probe-value"}, token=cfg.token(sub="user-7"))
    assert r.status == 200, r
    body = r.json()
    assert body["method"] == "GET"
    assert body["path"] == "/rpc/req"
    assert body["header"] == "probe-value"
    assert body["claims"]["sub"] == "user-7"
    assert body["claims"]["role"] == "authenticated"
    r = cfg.http("POST", "/rpc/my_sub", None, {}, token=cfg.token(sub="user-8"))
    assert r.status == 200 and r.json() == "user-8", r


def test_jwt_secret_rotation(cfg):
    old = cfg.token()
    new_secret = "a-rotated-secret-that-is-long-enough-0123456789"
    with setting(cfg, "jwt_secret", new_secret, reset=cfg.secret):
        assert wait_for(lambda: cfg.http("GET", "/nums?limit=1", token=old).status == 401)
        r = cfg.http("GET", "/nums?limit=1", token=old)
        assert r.json()["code"] == "PGRST301", r
        fresh = make_jwt({"sub": "u", "role": "authenticated", "exp": int(time.time()) + 60},
                         secret=new_secret)
        r = cfg.http("GET", "/nums?limit=1", token=fresh)
        assert r.status == 200, r
    assert wait_for(lambda: cfg.http("GET", "/nums?limit=1", token=old).status == 200)


def test_jwt_aud(cfg):
    exp = int(time.time()) + 60
    right = cfg.jwt({"sub": "u", "role": "authenticated", "aud": "my-api", "exp": exp})
    wrong = cfg.jwt({"sub": "u", "role": "authenticated", "aud": "other-api", "exp": exp})
    none = cfg.jwt({"sub": "u", "role": "authenticated", "exp": exp})
    with setting(cfg, "jwt_aud", "my-api"):
        assert wait_for(lambda: cfg.http("GET", "/nums?limit=1", token=wrong).status == 401)
        r = cfg.http("GET", "/nums?limit=1", token=wrong)
        assert r.json()["code"] == "PGRST303", r
        assert cfg.http("GET", "/nums?limit=1", token=right).status == 200
        # PostgREST: a token without aud is accepted.
        assert cfg.http("GET", "/nums?limit=1", token=none).status == 200
    assert wait_for(lambda: cfg.http("GET", "/nums?limit=1", token=wrong).status == 200)


def test_jwt_role_claim_key(cfg):
    exp = int(time.time()) + 60
    nested = cfg.jwt({"sub": "u", "app_metadata": {"role": "app_admin"}, "role": "authenticated",
                      "exp": exp})
    with setting(cfg, "jwt_role_claim_key", ".app_metadata.role"):
        assert whoami_is(cfg, nested, "app_admin")
    assert whoami_is(cfg, nested, "authenticated")


def test_default_role(cfg):
    no_role = cfg.jwt({"sub": "u", "exp": int(time.time()) + 60})
    assert cfg.http("GET", "/rpc/whoami", token=no_role).json() == "authenticated"
    with setting(cfg, "default_role", "app_admin"):
        assert whoami_is(cfg, no_role, "app_admin")
    assert whoami_is(cfg, no_role, "authenticated")


def test_db_max_rows(cfg):
    t = cfg.token()
    assert len(cfg.http("GET", "/nums", token=t).json()) == 50
    with setting(cfg, "db_max_rows", "7"):
        assert wait_for(lambda: len(cfg.http("GET", "/nums", token=t).json()) == 7)
        r = cfg.http("GET", "/nums?order=n.desc", token=t)
        assert [x["n"] for x in r.json()] == list(range(50, 43, -1))
    assert wait_for(lambda: len(cfg.http("GET", "/nums", token=t).json()) == 50)


def test_db_tx_end_rollback(cfg):
    t = cfg.token()
    try:
        set_guc(cfg, "db_tx_end", "rollback-allow-override")
        # Wait until a write really is rolled back. Each try writes its own value: a try that
        # reached an executor before the reload did commit, and must not hide later rollbacks.
        tries = iter(range(1000, 2000))

        def rolled_back():
            n = next(tries)
            r = cfg.http("POST", "/nums", {"Prefer": "return=representation"}, {"n": n},
                         token=t)
            return r.status == 201 and cfg.psql(f"SELECT count(*) FROM nums WHERE n = {n}") == "0"
        assert wait_for(rolled_back)
        r = cfg.http("POST", "/nums", {"Prefer": "tx=commit"}, {"n": 5001}, token=t)
        assert r.status == 201, r
        assert cfg.psql("SELECT count(*) FROM nums WHERE n = 5001") == "1"
    finally:
        set_guc(cfg, "db_tx_end", None)
        cfg.psql("DELETE FROM nums WHERE n > 50")


def test_db_schemas(cfg):
    cfg.psql("""
        CREATE SCHEMA IF NOT EXISTS v2;
        CREATE TABLE IF NOT EXISTS v2.things (id int);
        INSERT INTO v2.things VALUES (2);
        GRANT USAGE ON SCHEMA v2 TO authenticated;
        GRANT SELECT ON v2.things TO authenticated;
    """)
    t = cfg.token()
    r = cfg.http("GET", "/things", {"Accept-Profile": "v2"}, token=t)
    assert r.status == 406, r
    assert r.json()["code"] == "PGRST106"
    with setting(cfg, "db_schemas", "public, v2"):
        assert wait_for(lambda: cfg.http("GET", "/things", {"Accept-Profile": "v2"},
                                           token=t).status == 200)
        assert cfg.http("GET", "/things", {"Accept-Profile": "v2"}, token=t).json() == [{"id": 2}]
        assert cfg.http("GET", "/nums?limit=1", token=t).status == 200


def slow_call(cfg, seconds):
    t0 = time.time()
    r = cfg.http("GET", f"/rpc/slow?s={seconds}", token=cfg.token(), timeout=30)
    return r, time.time() - t0


@pytest.mark.parametrize("set_sql,reset_sql", [
    # (the server-wide setting applies to a role without one of its own: CREATE EXTENSION
    # gives `authenticated` 8s, which wins over the server's)
    pytest.param("ALTER ROLE authenticated RESET statement_timeout; "
                 "ALTER SYSTEM SET statement_timeout = '300ms'; SELECT pg_reload_conf(); "
                 "NOTIFY pgrst, 'reload config';",
                 "ALTER SYSTEM RESET statement_timeout; SELECT pg_reload_conf(); "
                 "ALTER ROLE authenticated SET statement_timeout = '8s'; "
                 "NOTIFY pgrst, 'reload config';",
                 id="statement_timeout_is_enforced"),
    pytest.param("ALTER ROLE authenticated SET statement_timeout = '300ms'; "
                 "NOTIFY pgrst, 'reload config';",
                 "ALTER ROLE authenticated SET statement_timeout = '8s'; "
                 "NOTIFY pgrst, 'reload config';",
                 id="role_statement_timeout"),
])
def test_statement_timeout(cfg, set_sql, reset_sql):
    """A statement_timeout set for the server or for the role cancels a slow request."""
    try:
        cfg.psql(set_sql)
        time.sleep(0.5)
        r, elapsed = slow_call(cfg, 3)
        assert r.status >= 400 and r.json()["code"] == "57014", r
        assert elapsed < 2
    finally:
        cfg.psql(reset_sql)


def test_impersonated_role_settings_are_applied(cfg):
    cfg.psql("CREATE FUNCTION wm() RETURNS text LANGUAGE sql AS "
             "$$ SELECT current_setting('work_mem') $$")
    try:
        cfg.psql("ALTER ROLE authenticated SET work_mem = '7MB'; NOTIFY pgrst, 'reload config';")
        assert wait_for(lambda: cfg.http("GET", "/rpc/wm", token=cfg.token()).json() == "7MB"), \
            cfg.http("GET", "/rpc/wm", token=cfg.token())
    finally:
        cfg.psql("ALTER ROLE authenticated RESET work_mem; NOTIFY pgrst, 'reload config';")
