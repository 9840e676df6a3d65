"""Read replicas: the API on a streaming hot standby (pg_basebackup -R) of the primary serves
reads with the same schema cache, JWT and RLS, refuses writes (or redirects them to the
primary), follows replayed DDL, and takes writes after promotion without a restart."""

import subprocess
import time

import pytest

from conftest import PG_BIN, Cluster, _as_owner, free_port, wait_for

VOLATILE_SQL = """
CREATE FUNCTION add_post(content text) RETURNS bigint LANGUAGE sql AS $$
  INSERT INTO posts ("userId", content) VALUES (auth.user_id(), content) RETURNING id $$;
CREATE TABLE notes (owner text NOT NULL, body text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes FOR SELECT TO authenticated USING (owner = auth.user_id());
GRANT SELECT ON notes TO authenticated;
INSERT INTO notes VALUES ('alice', 'a1'), ('bob', 'b1');
CREATE FUNCTION show_timeout() RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT current_setting('statement_timeout') $$;
CREATE FUNCTION count_posts() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM posts $$;
"""


class Standby(Cluster):
    """A streaming hot standby of `primary`, cloned with pg_basebackup -R; the primary's
    settings come along in postgresql.conf, this one's port, socket dir and API port are
    appended after them."""

    def __init__(self, primary, name="standby", extra_conf=()):
        super().__init__(name=name, database=primary.database, anon_role=primary.anon_role,
                         workers=primary.workers, extra_conf=extra_conf)
        self.primary = primary

    def start(self):
        self.make_dirs()
        self.pg_port = free_port({self.primary.pg_port, self.primary.api_port})
        self.api_port = free_port({self.pg_port, self.primary.pg_port, self.primary.api_port})
        subprocess.run(
            _as_owner([f"{PG_BIN}/pg_basebackup", "-D", self.data, "-h", self.primary.tmp,
                       "-p", str(self.primary.pg_port), "-U", "postgres", "-R",
                       "-X", "stream", "-c", "fast", "--no-sync"]),
            check=True, capture_output=True)
        conf = [
            f"port = {self.pg_port}",
            f"unix_socket_directories = '{self.tmp}'",
            f"serendb_data_api.server_port = {self.api_port}",
        ] + self.extra_conf
        self.append_conf(conf)
        self.pg_ctl_start("standby")
        self.wait_ready()
        return self

    def set(self, **settings):
        """Append settings to postgresql.conf and reload (ALTER SYSTEM needs a primary)."""
        self.append_conf([f"serendb_data_api.{k} = '{v}'" for k, v in settings.items()])
        self.psql("SELECT pg_reload_conf()")

    def promote(self):
        subprocess.run(_as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data, "-w", "promote"]),
                       check=True, capture_output=True)

    def executor_pids(self):
        return self.psql("SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
                         "WHERE backend_type = 'serendb_data_api executor'")

    def caught_up(self):
        # The insert position, not pg_current_wal_lsn() (the write position): with
        # synchronous_commit = off the last commit record may not be written yet, and a standby
        # "caught up" to the write position has not replayed that commit.
        lsn = self.primary.psql("SELECT pg_current_wal_insert_lsn()")
        return wait_for(lambda: self.psql(
            f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t", timeout=20)


@pytest.fixture(scope="module")
def pair():
    primary = Cluster(name="primary")
    standby = None
    try:
        primary.start()
        primary.psql(VOLATILE_SQL)
        standby = Standby(primary, extra_conf=[
            f"serendb_data_api.admin_server_port = {free_port({primary.pg_port, primary.api_port})}"
        ]).start()
        yield primary, standby
    finally:
        if standby:
            standby.destroy()
        primary.destroy()


def same(primary, standby, path, token):
    a = primary.http("GET", path, token=token)
    b = standby.http("GET", path, token=token)
    return a.status == b.status == 200 and a.json() == b.json()


def test_standby_is_in_recovery_and_serves_reads(pair):
    primary, standby = pair
    assert standby.psql("SELECT pg_is_in_recovery()") == "t"
    t = primary.token(sub="alice")
    r = primary.http("POST", "/posts", body={"content": "from primary"}, token=t)
    assert r.status == 201, r
    assert standby.caught_up()
    assert wait_for(lambda: same(primary, standby, "/posts?select=content", t), timeout=10)
    assert standby.http("GET", "/posts?select=content", token=t).json() == [
        {"content": "from primary"}]
    # same JWT, same RLS: each user sees only their own notes, on both servers
    bob = primary.token(sub="bob")
    assert standby.http("GET", "/notes?select=body", token=t).json() == [{"body": "a1"}]
    assert standby.http("GET", "/notes?select=body", token=bob).json() == [{"body": "b1"}]
    assert same(primary, standby, "/notes", bob)
    assert standby.http("GET", "/notes").status == 401
    assert standby.http("HEAD", "/posts", token=t).status == 200
    assert standby.http("GET", "/posts", token=primary.jwt({"role": "authenticated",
                                                            "exp": 1})).status == 401
    # read-only RPC runs on the standby
    r = standby.http("POST", "/rpc/count_posts", body={}, token=t)
    assert r.status == 200 and r.json() == 1, r
    assert standby.http("GET", "/rpc/whoami", token=t).json() == "authenticated"


def test_standby_follows_replayed_ddl(pair):
    primary, standby = pair
    t = primary.token(sub="alice")
    assert standby.http("GET", "/tags", token=t).status == 404
    primary.psql("CREATE TABLE tags (id int PRIMARY KEY, name text); "
                 "GRANT SELECT ON tags TO authenticated; INSERT INTO tags VALUES (1, 'a');"
                 "ALTER TABLE posts ADD COLUMN mood text DEFAULT 'ok'")
    r = standby.expect_status("/tags", 200, token=t, timeout=15)
    assert r.json() == [{"id": 1, "name": "a"}]
    r = standby.expect_status("/posts?select=mood", 200, token=t, timeout=15)
    assert r.json() == [{"mood": "ok"}]
    assert wait_for(lambda: same(primary, standby, "/posts?select=content,mood", t))


def test_role_settings_reach_the_standby_on_pg_reload_conf(pair):
    """NOTIFY pgrst cannot reach a standby; ALTER ROLE ... SET sends no invalidation, so the
    standby's executors keep the role settings they read until pg_reload_conf() there."""
    primary, standby = pair
    t = primary.token(sub="alice")
    before = {standby.http("GET", "/rpc/show_timeout", token=t).json() for _ in range(6)}
    assert "4321ms" not in before
    primary.psql("ALTER ROLE authenticated SET statement_timeout = '4321ms'")
    try:
        assert standby.caught_up()
        # replayed, but cached in the executors
        assert {standby.http("GET", "/rpc/show_timeout", token=t).json()
                for _ in range(6)} == before
        standby.psql("SELECT pg_reload_conf()")
        assert wait_for(lambda: all(
            standby.http("GET", "/rpc/show_timeout", token=t).json() == "4321ms"
            for _ in range(6)), timeout=10)
    finally:
        primary.psql("ALTER ROLE authenticated RESET statement_timeout; NOTIFY pgrst")
        standby.caught_up()
        standby.psql("SELECT pg_reload_conf()")


def admin_get(cluster, path):
    import http.client as hc
    port = next(int(line.split("=")[1]) for line in cluster.extra_conf
                if line.startswith("serendb_data_api.admin_server_port"))
    c = hc.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_standby_is_ready_for_a_load_balancer(pair):
    primary, standby = pair
    assert admin_get(standby, "/ready")[0] == 200
    status, body = admin_get(standby, "/metrics")
    assert status == 200 and "pgrst_db_pool_max 2" in body
    status, body = admin_get(standby, "/schema_cache")
    assert status == 200 and '"notes"' in body


def test_standby_never_listens_or_writes(pair):
    _, standby = pair
    log = standby.log()
    assert "LISTEN" not in log, log[-2000:]
    assert "read-only transaction" not in log


def test_writes_on_standby_are_refused_as_read_replica(pair):
    primary, standby = pair
    t = primary.token(sub="alice")
    for method, path, body in [("POST", "/posts", {"content": "x"}),
                               ("PATCH", "/posts?content=eq.from%20primary", {"content": "y"}),
                               ("DELETE", "/posts?id=gt.0", None),
                               ("POST", "/rpc/add_post", {"content": "z"})]:
        r = standby.http(method, path, body=body, token=t)
        assert r.status == 405, (method, path, r)
        err = r.json()
        assert err["code"] == "25006"
        assert "read replica" in err["details"]
    assert standby.caught_up()
    assert primary.psql("SELECT count(*) FROM posts") == "1"


def test_writes_on_standby_redirect_to_primary_when_configured(pair):
    primary, standby = pair
    t = primary.token(sub="alice")
    base = f"http://127.0.0.1:{primary.api_port}"
    standby.set(primary_url=base)
    try:
        def redirected():
            return standby.http("POST", "/posts?select=content", body={"content": "via"},
                                token=t).status == 307
        assert wait_for(redirected, timeout=10)
        r = standby.http("POST", "/posts?select=content", body={"content": "via"}, token=t,
                         headers={"Prefer": "return=representation"})
        assert r.status == 307
        location = r.header("Location")
        assert location == f"{base}/posts?select=content"
        # What a client does with a 307: the same method and body, at the new location.
        r = primary.http("POST", location[len(base):], body={"content": "via"}, token=t,
                         headers={"Prefer": "return=representation"})
        assert r.status == 201 and r.json() == [{"content": "via"}]
        r = standby.http("POST", "/rpc/add_post", body={"content": "z"}, token=t)
        assert r.status == 307 and r.header("Location") == f"{base}/rpc/add_post"
        # reads are still served locally
        assert standby.http("GET", "/posts", token=t).status == 200
    finally:
        standby.set(primary_url="")


def test_promotion_takes_writes_without_restart(pair):
    primary, standby = pair
    t = primary.token(sub="alice")
    pids = standby.executor_pids()
    assert pids
    start = standby.postmaster_start_time()
    standby.promote()
    t0 = time.time()
    assert wait_for(lambda: standby.http("POST", "/posts", body={"content": "promoted"},
                                         token=t).status == 201, timeout=10)
    elapsed = time.time() - t0
    assert standby.psql("SELECT pg_is_in_recovery()") == "f"
    assert standby.executor_pids() == pids
    assert standby.postmaster_start_time() == start
    print(f"writes accepted {elapsed:.2f}s after pg_ctl promote returned")
    # LISTEN started: NOTIFY pgrst reloads the configuration on the promoted server
    standby.psql("ALTER SYSTEM SET serendb_data_api.db_max_rows = 1", db="postgres")
    assert len(standby.http("GET", "/posts", token=t).json()) > 1
    standby.psql("NOTIFY pgrst, 'reload config'")
    assert wait_for(lambda: len(standby.http("GET", "/posts", token=t).json()) == 1, timeout=5)
