"""CORS as PostgREST does it (test/spec/Feature/CorsSpec.hs) and OPTIONS' Allow header
(OptionsSpec.hs), over real HTTP.

Runs on its own cluster: the allowed-origins test changes the configuration."""

import pytest

from conftest import Cluster, wait_for

EXPOSE = ("Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, "
          "Server, Transfer-Encoding, Range-Unit")

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE logs (msg text);
CREATE VIEW items_view AS SELECT id, name FROM items;
CREATE VIEW item_count AS SELECT count(*) AS n FROM items;
CREATE FUNCTION stable_fn(a int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT a + 1 $$;
CREATE FUNCTION immutable_fn() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;
CREATE FUNCTION volatile_fn() RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 1 $$;
GRANT USAGE ON SCHEMA public TO anonymous;
GRANT SELECT ON items, logs, items_view, item_count TO anonymous;
INSERT INTO items VALUES (1, 'one');
"""


@pytest.fixture(scope="module")
def web():
    c = Cluster(name="cors")
    try:
        c.start()
        c.psql(SCHEMA)
        c.expect_status("/items_view", 200)
        yield c
    finally:
        c.destroy()


def set_origins(c, value):
    if value is None:
        c.psql("ALTER SYSTEM RESET serendb_data_api.server_cors_allowed_origins; "
               "SELECT pg_reload_conf();")
    else:
        c.psql(f"ALTER SYSTEM SET serendb_data_api.server_cors_allowed_origins = '{value}'; "
               "SELECT pg_reload_conf();")


# ---- CORS --------------------------------------------------------------------------------

def test_preflight_is_answered_naively_and_permissively(web):
    r = web.http("OPTIONS", "/", headers={
        "Accept": "*/*", "Origin": "http://example.com",
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Foo,Bar"})
    assert r.status == 200 and r.body == b""
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Methods") == \
        "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"
    assert r.header("Access-Control-Allow-Headers") == \
        "Authorization, Foo, Bar, Accept, Accept-Language, Content-Language"
    assert r.header("Access-Control-Max-Age") == "86400"
    assert r.header("Access-Control-Allow-Credentials") is None


def test_preflight_of_a_browser_write(web):
    r = web.http("OPTIONS", "/items", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, prefer"})
    assert r.status == 200
    assert r.header("Access-Control-Allow-Headers") == (
        "Authorization, authorization, content-type, prefer, Accept, Accept-Language, "
        "Content-Language")


def test_regular_request_exposes_response_headers(web):
    r = web.http("GET", "/items", headers={"Origin": "http://example.com"})
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Expose-Headers") == EXPOSE
    assert r.json() == [{"id": 1, "name": "one"}]


def test_no_origin_no_cors_headers(web):
    r = web.http("GET", "/items")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") is None
    assert r.header("Access-Control-Expose-Headers") is None


def test_errors_carry_cors_headers(web):
    r = web.http("GET", "/nope", headers={"Origin": "http://example.com"})
    assert r.status == 404 and r.json()["code"] == "PGRST205"
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Expose-Headers") == EXPOSE
    # refused before any SQL runs: a bad JWT
    r = web.http("GET", "/items", headers={"Origin": "http://example.com",
                                           "Authorization": "Bearer not.a.jwt"})
    assert r.status == 401
    assert r.header("Access-Control-Allow-Origin") == "*"


def test_options_without_preflight_headers_gets_allow_and_any_origin(web):
    r = web.http("OPTIONS", "/items", headers={
        "Origin": "http://localhost:8000", "Accept": "text/csv, */*; q=0.01",
        "Accept-Language": "en-US,en;q=0.5", "Referer": "http://localhost:8000/"})
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Allow") == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    r = web.http("OPTIONS", "/items", headers={"Accept": "application/json"})
    assert r.header("Access-Control-Allow-Origin") == "*"
    # OPTIONS negotiates no media type
    r = web.http("OPTIONS", "/items", headers={"Accept": "application/geo+json"})
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") == "*"


def test_allowed_origins_setting(web):
    try:
        set_origins(web, "http://example.com, http://example2.com")

        def allowed():
            r = web.http("GET", "/items", headers={"Origin": "http://example.com"})
            return r.header("Access-Control-Allow-Origin") == "http://example.com" and r

        r = wait_for(allowed)
        assert r, "the listener did not pick up server_cors_allowed_origins"
        assert r.header("Access-Control-Allow-Credentials") == "true"
        r = web.http("GET", "/items", headers={"Origin": "http://invalid.com"})
        assert r.status == 200
        assert r.header("Access-Control-Allow-Origin") is None
        assert r.header("Access-Control-Expose-Headers") is None
        r = web.http("OPTIONS", "/items", headers={
            "Accept": "*/*", "Origin": "http://example2.com",
            "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type"})
        assert r.status == 200
        assert r.header("Access-Control-Allow-Origin") == "http://example2.com"
        assert r.header("Access-Control-Allow-Credentials") == "true"
    finally:
        set_origins(web, None)

    def any_origin():
        r = web.http("OPTIONS", "/items", headers={
            "Origin": "http://anyorigin.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type"})
        # (until the reset arrives, the origin is refused and the OPTIONS is served as such,
        # with the Allow header and PostgREST's `Access-Control-Allow-Origin: *`)
        return r.header("Access-Control-Allow-Methods") is not None and r

    r = wait_for(any_origin)
    assert r and r.header("Access-Control-Allow-Origin") == "*"
    assert "POST" in r.header("Access-Control-Allow-Methods")


def test_listener_errors_carry_cors_headers(make_cluster):
    # no database yet: the listener answers 503 itself, no executor involved
    c = make_cluster(name="cors-503", create_database=False)
    assert wait_for(c.port_answers, timeout=30)
    r = c.http("GET", "/items", headers={"Origin": "http://example.com"})
    assert r.status == 503
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Expose-Headers") == EXPOSE
    # and a preflight needs no database at all
    r = c.http("OPTIONS", "/items", headers={"Origin": "http://example.com",
                                             "Access-Control-Request-Method": "GET"})
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") == "*"


# ---- OPTIONS: Allow ----------------------------------------------------------------------

@pytest.mark.parametrize("path,allow", [
    ("/items", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
    # no primary key: no PUT
    ("/logs", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
    # auto-updatable view over a table with a primary key
    ("/items_view", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
    # not updatable
    ("/item_count", "OPTIONS,GET,HEAD"),
    ("/rpc/volatile_fn", "OPTIONS,POST"),
    # the function is found by the query string's arguments, as for GET (PostgREST too)
    ("/rpc/stable_fn?a=1", "OPTIONS,GET,HEAD,POST"),
    ("/rpc/immutable_fn", "OPTIONS,GET,HEAD,POST"),
    ("/", "OPTIONS,GET,HEAD"),
])
def test_options_allow(web, path, allow):
    r = web.http("OPTIONS", path)
    assert r.status == 200, r
    assert r.header("Allow") == allow
    assert r.header("Content-Length") == "0"
    assert r.body == b""


def test_options_on_unknown_relation_or_function_is_404(web):
    r = web.http("OPTIONS", "/unknown")
    assert r.status == 404 and r.json()["code"] == "PGRST205"
    r = web.http("OPTIONS", "/rpc/unknown")
    assert r.status == 404 and r.json()["code"] == "PGRST202"
