"""The trust model (README, "Trust model"): nothing a request causes runs as a superuser, and no
state crosses requests.

The three escalations are written as the attack a database owner without superuser would run
(`tenant` below owns the database and schema public, and has CREATEROLE as hosted owners often
do). Each attack records, from inside the code it got the API to run, who it ran as, and tries to
write a file on the server (COPY ... TO needs superuser or pg_write_server_files): the tests
assert that no record says superuser and that no file appears.

One executor (workers=1): every request runs on the same backend, so whatever one request left
in the session would be seen by the next.
"""

import os
import time

import pytest

from conftest import Cluster, wait_for

ATTACK_SQL = """
CREATE ROLE tenant LOGIN CREATEROLE;
ALTER DATABASE {db} OWNER TO tenant;
ALTER SCHEMA public OWNER TO tenant;
SET ROLE tenant;
-- Who ran the attacker's code: one row per call.
CREATE TABLE public.pwned_log (who text, super boolean, wrote boolean, at text);
GRANT INSERT, SELECT ON public.pwned_log TO PUBLIC;
-- Records the current user and tries to write a file on the server as it.
CREATE FUNCTION public.pwn(at text, path text) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE wrote boolean := false;
BEGIN
  BEGIN
    EXECUTE pg_catalog.format('COPY (SELECT pg_catalog.current_user) TO %L', path);
    wrote := true;
  EXCEPTION WHEN OTHERS THEN wrote := false;
  END;
  INSERT INTO public.pwned_log
  SELECT current_user, r.rolsuper, wrote, at FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
END $f$;
GRANT EXECUTE ON FUNCTION public.pwn(text, text) TO PUBLIC;
RESET ROLE;
"""


@pytest.fixture(scope="module")
def trust():
    c = Cluster(name="trust", workers=1)
    try:
        c.start()
        c.psql(ATTACK_SQL.format(db=c.database))
        c.psql("""
            CREATE FUNCTION whoami_super() RETURNS json LANGUAGE sql STABLE AS $$
              SELECT json_build_object('user', current_user, 'session_user', session_user,
                'super', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) $$;
        """)
        c.wait_ready()
        yield c
    finally:
        c.destroy()


def file_path(c, name):
    """A path the server's OS user could write (the cluster's temp dir)."""
    return os.path.join(c.tmp, f"pwned-{name}")


def pwned_rows(c, at):
    out = c.psql(f"SELECT who || ',' || super || ',' || wrote FROM pwned_log WHERE at = '{at}'")
    return [line.split(",") for line in out.splitlines() if line]


def assert_never_superuser(c, at, path):
    rows = pwned_rows(c, at)
    for who, sup, wrote in rows:
        assert sup == "false" and wrote == "false", (at, rows)
    assert not os.path.exists(path), f"{path} was written: {at}"
    return rows


def test_executors_are_not_superusers_and_listener_has_no_session(trust):
    rows = trust.psql("SELECT u.usename || ',' || u.usesuper FROM pg_stat_activity a "
                      "JOIN pg_user u ON u.usesysid = a.usesysid "
                      "WHERE a.backend_type = 'serendb_data_api executor'", db="postgres")
    assert rows.splitlines() == ["authenticator,false"], rows
    listener = trust.psql("SELECT count(*) FROM pg_stat_activity "
                          "WHERE backend_type = 'serendb_data_api listener'", db="postgres")
    assert listener == "0"
    r = trust.http("GET", "/rpc/whoami_super", token=trust.token())
    assert r.status == 200 and r.json() == {
        "user": "authenticated", "session_user": "authenticator", "super": False}, r


def test_database_owner_can_use_auth_functions(trust):
    """The seed's `DEFAULT (auth.user_id())` as the (non-superuser) database owner."""
    trust.psql("""
        SET ROLE tenant;
        CREATE TABLE public.owned_notes (id int PRIMARY KEY,
          "userId" text DEFAULT (auth.user_id()), body text);
        GRANT SELECT, INSERT ON public.owned_notes TO authenticated;
        SELECT auth.session();
        RESET ROLE;
    """)
    t = trust.token(sub="user-42")
    r = trust.expect_status("/owned_notes", 200, token=t)
    r = trust.http("POST", "/owned_notes", {"Prefer": "return=representation"},
                   {"id": 1, "body": "x"}, token=t)
    assert r.status == 201 and r.json()[0]["userId"] == "user-42", r


def test_search_path_hijack_of_introspection(trust):
    """Escalation 1: a function in public with an exact-type match for something the
    introspection calls (unnest of a smallint[] key, and friends) never runs as superuser,
    and the schema cache is still right."""
    path = file_path(trust, "hijack")
    trust.psql(f"""
        SET ROLE tenant;
        CREATE FUNCTION public.unnest(a smallint[]) RETURNS SETOF smallint LANGUAGE plpgsql AS $f$
        BEGIN
          PERFORM public.pwn('hijack', '{path}');
          RETURN QUERY SELECT x FROM pg_catalog.unnest(a::int2[]) AS x;
        END $f$;
        CREATE FUNCTION public.cardinality(a smallint[]) RETURNS int LANGUAGE plpgsql AS $f$
        BEGIN PERFORM public.pwn('hijack', '{path}'); RETURN pg_catalog.cardinality(a::int2[]); END $f$;
        CREATE FUNCTION public.array_agg(x name) RETURNS name[] LANGUAGE sql
          AS $f$ SELECT ARRAY[x] $f$;
        CREATE TABLE public.hijack_t (a int, b int, PRIMARY KEY (a, b));
        GRANT SELECT ON public.hijack_t TO authenticated;
        INSERT INTO public.hijack_t VALUES (1, 2);
        RESET ROLE;
        NOTIFY pgrst, 'reload schema';
    """)
    t = trust.token()
    r = trust.expect_status("/hijack_t", 200, token=t)
    assert r.json() == [{"a": 1, "b": 2}]
    # The composite key was read correctly (upsert by it works).
    trust.psql("GRANT INSERT, UPDATE ON hijack_t TO authenticated")
    r = trust.http("POST", "/hijack_t?on_conflict=a,b",
                   {"Prefer": "resolution=merge-duplicates"}, [{"a": 1, "b": 2}], token=t)
    assert r.status in (200, 201), r
    for _ in range(3):
        trust.psql("NOTIFY pgrst, 'reload schema'")
        assert trust.http("GET", "/hijack_t", token=t).status == 200
    assert_never_superuser(trust, "hijack", path)


def test_role_setting_cannot_switch_to_superuser(trust):
    """Escalation 2: `ALTER ROLE authenticated SET role = 'postgres'` (here by the CREATEROLE
    database owner) makes no request run as postgres; `session_authorization` from role
    settings is ignored too."""
    path = file_path(trust, "rolesetting")
    t = trust.token()
    try:
        trust.psql("SET ROLE tenant; ALTER ROLE authenticated SET role = 'postgres'; RESET ROLE;")
        # (session_authorization needs a superuser to set: a misconfiguration, ignored too)
        trust.psql("ALTER ROLE authenticated SET session_authorization = 'postgres'; "
                   "NOTIFY pgrst, 'reload config';")
        time.sleep(0.3)
        for _ in range(3):
            r = trust.http("GET", "/rpc/whoami_super", token=t)
            assert r.status == 200, r
            assert r.json() == {"user": "authenticated", "session_user": "authenticator",
                                "super": False}, r
            r = trust.http("POST", "/rpc/pwn", None, {"at": "rolesetting", "path": path},
                           token=t)
            assert r.status in (200, 204), r
        rows = assert_never_superuser(trust, "rolesetting", path)
        assert rows and all(who == "authenticated" for who, _, _ in rows), rows
    finally:
        trust.psql("ALTER ROLE authenticated RESET role; "
                   "ALTER ROLE authenticated RESET session_authorization; "
                   "NOTIFY pgrst, 'reload config';")


def test_deferred_trigger_reset_role_at_commit(trust):
    """Escalation 3: a DEFERRABLE INITIALLY DEFERRED constraint trigger on a table the owner
    exposes runs RESET ROLE at commit: it is then the executors' session user, the
    authenticator, never a superuser; and the request after it runs with its own role."""
    path = file_path(trust, "deferred")
    trust.psql(f"""
        SET ROLE tenant;
        CREATE TABLE public.orders (id int PRIMARY KEY, note text);
        GRANT SELECT, INSERT ON public.orders TO authenticated;
        CREATE FUNCTION public.at_commit() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          RESET ROLE;
          PERFORM public.pwn('deferred', '{path}');
          -- and leave a session-level role behind for the next request, if it could
          PERFORM pg_catalog.set_config('role', 'anonymous', false);
          RETURN NULL;
        END $f$;
        CREATE CONSTRAINT TRIGGER orders_at_commit AFTER INSERT ON public.orders
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.at_commit();
        RESET ROLE;
    """)
    t = trust.token()
    trust.expect_status("/orders", 200, token=t)
    r = trust.http("POST", "/orders", None, {"id": 1, "note": "a"}, token=t)
    assert r.status == 201, r
    rows = assert_never_superuser(trust, "deferred", path)
    assert [who for who, _, _ in rows] == ["authenticator"], rows
    r = trust.http("GET", "/rpc/whoami_super", token=t)
    assert r.json() == {"user": "authenticated", "session_user": "authenticator",
                        "super": False}, r


def test_session_state_does_not_cross_requests(trust):
    """Settings a request's SQL changes at session level (set_config(..., false)) are gone
    for the next request on the same executor."""
    trust.psql("""
        CREATE FUNCTION leak() RETURNS text LANGUAGE plpgsql AS $f$
        BEGIN
          PERFORM set_config('response.headers', '[{"X-Leak": "1"}]', false);
          PERFORM set_config('response.status', '299', false);
          PERFORM set_config('search_path', 'pg_catalog', false);
          PERFORM set_config('TimeZone', 'Asia/Tokyo', false);
          PERFORM set_config('DateStyle', 'German', false);
          PERFORM set_config('default_transaction_read_only', 'on', false);
          PERFORM set_config('my.custom', 'leaked', false);
          RETURN 'ok';
        END $f$;
        CREATE FUNCTION state() RETURNS json LANGUAGE sql STABLE AS $f$
          SELECT json_build_object('tz', current_setting('TimeZone'),
            'datestyle', current_setting('DateStyle'),
            'search_path', current_setting('search_path'),
            'custom', nullif(current_setting('my.custom', true), ''),
            'ro', current_setting('default_transaction_read_only')) $f$;
        CREATE TABLE iso_t (id int PRIMARY KEY);
        GRANT SELECT, INSERT ON iso_t TO authenticated;
    """)
    t = trust.token()
    trust.expect_status("/iso_t", 200, token=t)
    before = trust.http("GET", "/rpc/state", token=t)
    assert before.status == 200 and before.header("X-Leak") is None, before
    r = trust.http("POST", "/rpc/leak", None, {}, token=t)
    # The request that set them sees its own response.* (as PostgREST).
    assert r.status == 299 and r.header("X-Leak") == "1", r
    after = trust.http("GET", "/rpc/state", token=t)
    assert after.status == 200 and after.header("X-Leak") is None, after
    assert after.json() == before.json()
    assert after.json()["custom"] is None and after.json()["ro"] == "off"
    r = trust.http("POST", "/iso_t", None, {"id": 1}, token=t)
    assert r.status == 201, r
    # Unqualified names still resolve through the request's own search_path.
    assert trust.http("GET", "/iso_t", token=t).json() == [{"id": 1}]


def test_roles_that_reach_server_files_are_refused(trust):
    """A member of pg_write_server_files is refused as a request role (403). Granted to the
    authenticator, it gives the authenticator that reach too (a deferred trigger may SET ROLE
    to it): then no request of any other role runs either (500), until it is revoked."""
    trust.psql("CREATE ROLE filer NOLOGIN; GRANT USAGE ON SCHEMA public TO filer;")
    t = trust.token()
    try:
        trust.psql("GRANT pg_write_server_files TO filer; GRANT filer TO authenticator;")
        r = trust.http("GET", "/rpc/whoami", token=trust.token(role="filer"))
        assert r.status == 403 and r.json()["code"] == "42501", r
        for tok in (t, None):
            r = trust.http("GET", "/rpc/whoami", token=tok)
            assert r.status == 500 and r.json()["code"] == "42501", r
    finally:
        trust.psql("REVOKE filer FROM authenticator")
    assert trust.http("GET", "/rpc/whoami", token=t).json() == "authenticated"
    # Not granted to the authenticator: refused as a request role (403), nothing else is.
    r = trust.http("GET", "/rpc/whoami", token=trust.token(role="filer"))
    assert r.status == 403, r
    r = trust.http("GET", "/rpc/whoami", token=trust.token(role="authenticator"))
    assert r.status == 403, r


def test_default_statement_timeouts(trust):
    out = trust.psql("SELECT r.rolname || ':' || c FROM pg_db_role_setting s "
                     "JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c "
                     "WHERE c LIKE 'statement_timeout=%' ORDER BY 1")
    assert out.splitlines() == ["anonymous:statement_timeout=3s",
                                "authenticated:statement_timeout=8s"], out
    start = time.time()
    r = trust.http("GET", "/rpc/slow?s=10")
    assert r.status >= 400 and r.json()["code"] == "57014", r
    assert time.time() - start < 8


def test_waiting_for_the_role_is_quiet_then_serves(make_cluster):
    """Before CREATE EXTENSION the authenticator role does not exist: the API answers 503, the
    executors' failed connection attempts are not logged every second, and the API serves soon
    after the extension appears."""
    c = make_cluster(name="norole", create_extension=False)
    assert wait_for(c.port_answers, timeout=30)
    assert c.http("GET", "/").status == 503
    time.sleep(5)
    fatal = [line for line in c.log().splitlines()
             if "FATAL" in line and "authenticator" in line]
    assert len(fatal) <= 1, fatal
    c.psql("CREATE EXTENSION serendb_data_api; CREATE TABLE items (id int); "
           "GRANT SELECT ON items TO anonymous; INSERT INTO items VALUES (3);")
    r = c.expect_status("/items", 200, timeout=10)
    assert r.json() == [{"id": 3}]


def test_authenticator_role_change_reconnects_and_superuser_is_refused(trust):
    """db_authenticator_role is the executors' session user: a change reconnects them as the
    new role; a superuser is refused (503, nothing runs), and the old role serves again after."""
    t = trust.token()
    session_user = lambda: trust.http("GET", "/rpc/whoami_super", token=t)  # noqa: E731

    def serving_as(role):
        r = session_user()
        return r.status == 200 and r.json()["session_user"] == role
    trust.psql("CREATE ROLE api_auth LOGIN NOINHERIT; GRANT authenticated TO api_auth;")
    try:
        trust.psql("ALTER SYSTEM SET serendb_data_api.db_authenticator_role = 'api_auth'; "
                   "SELECT pg_reload_conf();")
        assert wait_for(lambda: serving_as("api_auth"), timeout=20), session_user()
        assert session_user().json()["user"] == "authenticated"
        trust.psql("ALTER SYSTEM SET serendb_data_api.db_authenticator_role = 'postgres'; "
                   "SELECT pg_reload_conf();")
        r = trust.wait_status("/rpc/whoami_super", 503, token=t, timeout=20)
        assert r.status == 503, r
        assert wait_for(lambda: "refusing to serve as \"postgres\"" in trust.log(), timeout=10)
        time.sleep(2)
        assert trust.http("GET", "/rpc/whoami_super", token=t).status == 503
    finally:
        trust.psql("ALTER SYSTEM RESET serendb_data_api.db_authenticator_role; "
                   "SELECT pg_reload_conf();")
    assert wait_for(lambda: serving_as("authenticator"), timeout=20), session_user()
