"""The SQL surface of authentication: pg_session_jwt's functions (auth.session/jwt/user_id/uid/
organization/organization_id) as requests see them, and db_pre_request."""

import uuid

import pytest

SURFACE_SQL = """
CREATE OR REPLACE FUNCTION auth_surface() RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'session', auth.session(), 'jwt', auth.jwt(), 'user_id', auth.user_id(),
    'uid', auth.uid(), 'organization', auth.organization(),
    'organization_id', auth.organization_id())
$$;
GRANT EXECUTE ON FUNCTION auth_surface() TO anonymous;
"""


@pytest.fixture(scope="module")
def surface(cluster):
    cluster.psql(SURFACE_SQL)
    # the schema cache picks the function up asynchronously
    cluster.expect_status("/rpc/auth_surface", 200, token=cluster.token())
    return cluster


def call(c, token):
    r = c.http("GET", "/rpc/auth_surface", token=token)
    assert r.status == 200, r
    return r.json()


def test_session_jwt_user_id_and_uid(surface):
    c = surface
    sub = str(uuid.uuid4())
    out = call(c, c.token(sub=sub, email="a@b.test"))
    assert out["session"] == out["jwt"]
    assert out["jwt"]["email"] == "a@b.test" and out["jwt"]["role"] == "authenticated"
    assert out["user_id"] == sub
    assert out["uid"] == sub
    # upper case and without hyphens are uuids too
    assert call(c, c.token(sub=sub.upper()))["uid"] == sub
    assert call(c, c.token(sub=sub.replace("-", "")))["uid"] == sub
    # a sub that is no uuid: user_id has it, uid is NULL (not an error)
    out = call(c, c.token(sub="user-1"))
    assert (out["user_id"], out["uid"]) == ("user-1", None)
    assert call(c, c.token(sub="0" * 31 + "g"))["uid"] is None


def test_anonymous_requests_have_no_identity(surface):
    r = surface.http("GET", "/rpc/auth_surface")
    assert r.status == 200, r
    out = r.json()
    assert out["jwt"] == {"role": "anonymous"}
    assert (out["user_id"], out["uid"], out["organization"], out["organization_id"]) == \
        (None, None, None, None)


def test_organization_claims(surface):
    c = surface
    org = str(uuid.uuid4())
    # Neon Auth / Better Auth organization plugin: the "o" object
    o = {"id": org, "slug": "acme", "role": "owner"}
    out = call(c, c.token(o=o))
    assert out["organization"] == o and out["organization_id"] == org
    # Stack Auth: selected_team_id
    out = call(c, c.token(selected_team_id=org))
    assert out["organization"] == {"id": org} and out["organization_id"] == org
    # an id that is no uuid, an "o" that is no object, no claim at all
    out = call(c, c.token(o={"id": "team-7"}))
    assert out["organization"] == {"id": "team-7"} and out["organization_id"] is None
    assert call(c, c.token(o="acme"))["organization"] is None
    assert call(c, c.token(selected_team_id=None))["organization"] is None
    assert call(c, c.token())["organization_id"] is None


def test_functions_work_outside_the_api(surface):
    """Any client that sets request.jwt.claims gets the same answers (as with pg_session_jwt)."""
    sub = str(uuid.uuid4())
    out = surface.psql(
        "BEGIN; SELECT set_config('request.jwt.claims', "
        f"'{{\"sub\": \"{sub}\", \"o\": {{\"id\": \"{sub}\"}}}}', true); "
        "SELECT auth.uid(), auth.organization_id(), auth.jwt() ->> 'sub'; COMMIT;")
    assert out.splitlines()[-1] == f"{sub}|{sub}|{sub}"


PRE_REQUEST_SQL = """
CREATE FUNCTION check_request() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  hdrs json := current_setting('request.headers', true)::json;
BEGIN
  IF hdrs ->> 'x-block' = 'plain' THEN
    RAISE EXCEPTION 'blocked for %', current_user USING HINT = 'pre-request';
  ELSIF hdrs ->> 'x-block' = 'pgrst' THEN
    RAISE SQLSTATE 'PGRST' USING
      MESSAGE = '{"code":"AUTH1","message":"no entry","details":"closed","hint":"later"}',
      DETAIL = '{"status":403,"headers":{"X-Blocked-By":"pre-request"}}';
  END IF;
  -- what the main query will see, and response settings it honours
  PERFORM set_config('app.seen', current_setting('request.method') || ' ' ||
                     current_setting('request.path') || ' ' ||
                     (current_setting('request.jwt.claims')::json ->> 'role'), true);
  PERFORM set_config('response.headers',
                     json_build_array(json_build_object('X-Pre-Request', current_user))::text,
                     true);
  IF hdrs ->> 'x-status' IS NOT NULL THEN
    PERFORM set_config('response.status', hdrs ->> 'x-status', true);
  END IF;
END $$;
CREATE FUNCTION seen() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT current_setting('app.seen', true) $$;
CREATE TABLE pre_log (id serial PRIMARY KEY, note text);
GRANT SELECT, INSERT ON pre_log TO authenticated;
GRANT USAGE ON SEQUENCE pre_log_id_seq TO authenticated;
"""


@pytest.fixture(scope="module")
def pre_cluster():
    from conftest import Cluster
    c = Cluster(name="prerequest", extra_conf=[
        "serendb_data_api.db_pre_request = 'public.check_request'"])
    try:
        c.start()
        c.psql(PRE_REQUEST_SQL)
        c.expect_status("/rpc/seen", 200, token=c.token(), timeout=30)
        yield c
    finally:
        c.destroy()


def test_pre_request_sees_the_request_and_sets_the_response(pre_cluster):
    c = pre_cluster
    r = c.http("GET", "/rpc/seen", token=c.token())
    assert r.status == 200, r
    # same transaction as the main query, request settings visible
    assert r.json() == "GET /rpc/seen authenticated"
    # runs as the request's role
    assert r.header("X-Pre-Request") == "authenticated"
    r = c.http("GET", "/rpc/seen")
    assert r.header("X-Pre-Request") == "anonymous"
    r = c.http("GET", "/rpc/seen", token=c.token(), headers={"X-Status": "202"})
    assert r.status == 202, r


def test_pre_request_can_reject(pre_cluster):
    c = pre_cluster
    tok = c.token()
    r = c.http("POST", "/pre_log", token=tok, body={"note": "x"},
               headers={"X-Block": "plain"})
    assert r.status == 400, r
    body = r.json()
    assert body["code"] == "P0001" and body["message"] == "blocked for authenticated", body
    assert body["hint"] == "pre-request"
    r = c.http("POST", "/pre_log", token=tok, body={"note": "y"}, headers={"X-Block": "pgrst"})
    assert r.status == 403, r
    assert r.json() == {"code": "AUTH1", "message": "no entry", "details": "closed",
                        "hint": "later"}
    assert r.header("X-Blocked-By") == "pre-request"
    # nothing was written by the rejected requests; an allowed one writes
    assert c.psql("SELECT count(*) FROM pre_log") == "0"
    r = c.http("POST", "/pre_log", token=tok, body={"note": "z"})
    assert r.status == 201, r
    assert c.psql("SELECT note FROM pre_log") == "z"
