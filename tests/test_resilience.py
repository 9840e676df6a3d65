"""The server stays up and responsive: errors and hostile input on live connections, slow
queries beside fast ones, DDL and late CREATE DATABASE/EXTENSION, and a prompt shutdown."""

import http.client
import os
import re
import signal
import threading
import time

import pytest

from conftest import wait_for

CRASH_PATTERNS = [
    "terminated by signal",
    r"background worker .* exited with exit code",
    "server process .* was terminated",
    "terminating any other active server processes",
    "all server processes terminated; reinitializing",
]


@pytest.fixture(scope="module", autouse=True)
def resilience_fixtures(cluster):
    cluster.psql("""
        CREATE FUNCTION echo(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT t $$;
    """)
    yield


def assert_server_healthy(cluster, start_time):
    r = cluster.http("GET", "/posts?limit=1", token=cluster.token())
    assert r.status == 200, r
    assert cluster.postmaster_start_time() == start_time, "the postmaster restarted"
    log = cluster.log()
    for pat in CRASH_PATTERNS:
        assert not re.search(pat, log), f"postgres log matches {pat!r}:\n{log[-3000:]}"


def test_sql_error_then_good_request_on_same_connection(cluster):
    t = cluster.token()
    conn = cluster.connect()
    try:
        r = cluster.http("GET", "/posts?select=no_such_col", token=t, conn=conn)
        assert r.status == 400, r
        sock = conn.sock
        assert sock is not None, "the server closed the connection after an error"
        r = cluster.http("POST", "/rpc/boom_missing", None, {}, token=t, conn=conn)
        assert r.status == 404, r
        r = cluster.http("GET", "/posts?limit=1", token=t, conn=conn)
        assert r.status == 200, r
        assert conn.sock is sock, "the request did not reuse the keep-alive connection"
    finally:
        conn.close()


NESTED = 10_000

HOSTILE = [
    ("huge in list of garbage", "GET", "/posts?id=in.(" + ",".join(["x"] * 15_000) + ")", None, {}),
    ("query string over 64 KB", "GET", "/posts?select=" + "a" * 70_000, None, {}),
    ("query string of 1 MB", "GET", "/posts?content=eq." + "x" * 1_000_000, None, {}),
    ("invalid UTF-8 escape in column", "GET", "/posts?%ff%fe=eq.1", None, {}),
    ("invalid UTF-8 escape in path", "GET", "/po%ffsts", None, {}),
    ("nested or 10k levels", "GET",
     "/posts?or=(" + "or(" * (NESTED - 1) + "id.eq.1" + ")" * NESTED, None, {}),
    ("nested select 10k levels", "GET", "/posts?select=" + "a(" * NESTED + "id" + ")" * NESTED,
     None, {}),
    ("NUL in filter value", "GET", "/posts?content=eq.a%00b", None, {}),
    ("NUL in rpc argument", "GET", "/rpc/echo?t=a%00b", None, {}),
    ("truncated JSON body", "POST", "/posts", b'{"content": ', {"Content-Type": "application/json"}),
    ("invalid UTF-8 JSON body", "POST", "/posts", b'{"content": "\xff\xfe"}',
     {"Content-Type": "application/json"}),
    ("JSON NUL escape", "POST", "/posts", b'{"content": "a\\u0000b"}',
     {"Content-Type": "application/json"}),
    ("deeply nested JSON body", "POST", "/posts", b"[" * 100_000 + b"]" * 100_000,
     {"Content-Type": "application/json"}),
    ("wrong JSON types", "POST", "/posts", b'{"content": {"a": [1]}, "published": "maybe"}',
     {"Content-Type": "application/json"}),
]


@pytest.mark.parametrize("name,method,path,body,headers", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_4xx_and_server_survives(cluster, name, method, path, body, headers):
    start = cluster.postmaster_start_time()
    r = cluster.http(method, path, headers, body, token=cluster.token())
    assert 400 <= r.status < 500, r
    assert_server_healthy(cluster, start)


@pytest.mark.parametrize("path,headers", [
    ("/posts", {"Prefer": "count=" + "x" * 5000, "Range": "99999999999999999999999-1"}),
    ("/posts", {"Range-Unit": "\u00e9" * 10, "Accept": "application/" + "x" * 5000}),
    ("/posts?limit=99999999999999999999999&offset=-5", {}),
    ("/posts?order=" + ",".join(["id.desc.nullsfirst"] * 2000), {}),
    # PostgREST decodes the query string leniently (U+FFFD, invalid escapes kept as is).
    ("/posts?content=eq.%ff%fe%c3", {}),
    ("/posts?content=eq.%%%zz", {}),
], ids=["garbage Prefer and Range", "garbage Accept", "huge limit", "long order",
        "invalid UTF-8 escape in value", "lone percent signs"])
def test_odd_headers_and_params_never_5xx(cluster, path, headers):
    """PostgREST ignores some of these and rejects others; either way no server error."""
    start = cluster.postmaster_start_time()
    r = cluster.http("GET", path, headers, token=cluster.token())
    assert r.status < 500, r
    assert_server_healthy(cluster, start)


def test_scalar_json_body_inserts_nothing(cluster):
    """PostgREST truncates a JSON body that is neither an object nor an array to []."""
    start = cluster.postmaster_start_time()
    before = cluster.psql("SELECT count(*) FROM posts")
    for body in [b"42", b'"text"', b"null", b"[]"]:
        r = cluster.http("POST", "/posts", {"Content-Type": "application/json",
                                            "Prefer": "return=representation"}, body,
                         token=cluster.token())
        assert r.status == 201, (body, r)
        assert r.json() == [], (body, r)
    assert cluster.psql("SELECT count(*) FROM posts") == before
    assert_server_healthy(cluster, start)


@pytest.mark.parametrize("raw", [
    b"GET /posts\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /posts HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",  # TLS hello
    b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /posts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["NUL in request line", "NUL in header", "TLS handshake", "negative length",
        "bad chunk"])
def test_malformed_http_gets_400_or_close(cluster, raw):
    start = cluster.postmaster_start_time()
    status = cluster.raw(raw)
    assert status is None or 400 <= status < 500, status
    assert_server_healthy(cluster, start)


def test_slow_query_does_not_block_other_clients(cluster):
    t = cluster.token()
    # Keep-alive connections that already hit the workers before the slow query starts.
    conns = [cluster.connect() for _ in range(4)]
    try:
        for c in conns:
            assert cluster.http("GET", "/posts?limit=1", token=t, conn=c).status == 200
        result = {}

        def run_slow():
            t0 = time.time()
            result["r"] = cluster.http("GET", "/rpc/slow?s=3", token=t, timeout=30)
            result["elapsed"] = time.time() - t0

        th = threading.Thread(target=run_slow)
        th.start()
        time.sleep(0.5)
        for c in conns + [None]:  # the warm connections and a fresh one
            t0 = time.time()
            r = cluster.http("GET", "/posts?limit=1", token=t, conn=c, timeout=10)
            elapsed = time.time() - t0
            assert r.status == 200, r
            assert elapsed < 1.0, f"a fast request took {elapsed:.2f}s while a slow one ran"
        th.join(30)
        assert result["r"].status == 200, result["r"]
        assert result["r"].json() == 3
        assert result["elapsed"] >= 3
    finally:
        for c in conns:
            c.close()


def test_ddl_is_seen_without_restart(cluster):
    t = cluster.token()
    cluster.psql("CREATE TABLE ddl_t (id int PRIMARY KEY); INSERT INTO ddl_t VALUES (1);")
    r = cluster.expect_status("/ddl_t", 200, token=t, timeout=5)
    assert r.json() == [{"id": 1}]
    cluster.psql("ALTER TABLE ddl_t ADD COLUMN extra text DEFAULT 'x'")
    r = cluster.expect_status("/ddl_t?select=id,extra", 200, token=t, timeout=5)
    assert r.json() == [{"id": 1, "extra": "x"}]
    cluster.psql("DROP TABLE ddl_t")
    cluster.expect_status("/ddl_t", 404, token=t, timeout=5)


def test_late_database_and_extension(make_cluster):
    c = make_cluster(name="late", database="late_db", create_database=False)
    t = c.token()
    # Neither the database nor the extension exist yet: the API answers 503.
    assert wait_for(lambda: c.port_answers(), timeout=30), c.log()[-2000:]
    r = c.http("GET", "/posts", token=t)
    assert r.status == 503, r
    c.psql("CREATE DATABASE late_db", db="postgres")
    time.sleep(1)
    r = c.http("GET", "/posts", token=t)
    assert r.status == 503, r
    c.psql("CREATE EXTENSION serendb_data_api; CREATE TABLE items (id int); INSERT INTO items VALUES (7);")
    r = c.expect_status("/items", 200, token=t, timeout=15)
    assert r.json() == [{"id": 7}]
    c.psql("DROP EXTENSION serendb_data_api")
    c.expect_status("/items", 503, token=t, timeout=15)
    c.psql("CREATE EXTENSION serendb_data_api")
    c.expect_status("/items", 200, token=t, timeout=15)
    # The database goes away under the executors, then comes back.
    start = c.postmaster_start_time()
    c.psql("DROP DATABASE late_db WITH (FORCE)", db="postgres")
    c.expect_status("/items", 503, token=t, timeout=15)
    c.psql("CREATE DATABASE late_db", db="postgres")
    c.psql("CREATE EXTENSION serendb_data_api; CREATE TABLE items (id int); INSERT INTO items VALUES (8);")
    r = c.wait_status("/items", 200, token=t, timeout=20)
    assert r.status == 200 and r.json() == [{"id": 8}], r
    assert c.postmaster_start_time() == start


def test_concurrent_clients_all_succeed(cluster):
    """Many clients at once (more than workers): every request is answered correctly."""
    cluster.psql("CREATE TABLE conc_t (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                 "who text NOT NULL)")
    errors = []

    def client(n):
        t = cluster.token(sub=f"conc-{n}")
        conn = cluster.connect()
        try:
            for i in range(20):
                r = cluster.http("POST", "/conc_t", {"Prefer": "return=representation"},
                                 {"who": f"c{n}-{i}"}, token=t, conn=conn)
                if r.status != 201 or r.json()[0]["who"] != f"c{n}-{i}":
                    errors.append(("POST", n, i, r))
                r = cluster.http("GET", f"/conc_t?who=eq.c{n}-{i}&select=who", token=t, conn=conn)
                if r.status != 200 or r.json() != [{"who": f"c{n}-{i}"}]:
                    errors.append(("GET", n, i, r))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(("exception", n, e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors[:5]
    assert cluster.psql("SELECT count(*) FROM conc_t") == str(8 * 20)


def test_terminated_executor_is_replaced(make_cluster):
    """pg_terminate_backend on the executors: the API recovers without a Postgres restart."""
    c = make_cluster(name="terminate")
    t = c.token()
    start = c.postmaster_start_time()
    executors = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'serendb_data_api executor'"
    old_pids = set(c.psql(executors, db="postgres").split())
    assert len(old_pids) == 2, old_pids
    c.psql(f"SELECT pg_terminate_backend(pid) FROM ({executors}) e", db="postgres")
    assert wait_for(lambda: not old_pids & set(c.psql(executors, db="postgres").split()),
                    timeout=10), "the executors ignored SIGTERM"
    c.expect_status("/posts", 200, token=t, timeout=20)
    assert c.postmaster_start_time() == start
    # Both executors are back: a slow request does not block a fast one.
    assert wait_for(lambda: len(set(c.psql(executors, db="postgres").split()) - old_pids) == 2,
                    timeout=20)
    th = threading.Thread(target=lambda: c.http("GET", "/rpc/slow?s=2", token=t))
    th.start()
    time.sleep(0.3)
    t0 = time.time()
    assert c.http("GET", "/posts", token=t).status == 200
    assert time.time() - t0 < 1.0
    th.join(10)


def answers_200(c, path, token):
    try:
        return c.http("GET", path, token=token, timeout=3).status == 200
    except (OSError, http.client.HTTPException):
        return False


def listener_pids(c):
    """The cluster's listener: a child of its postmaster (it holds no database session, so it is
    not in pg_stat_activity)."""
    with open(os.path.join(c.data, "postmaster.pid")) as f:
        postmaster = f.readline().strip()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == postmaster and b"serendb_data_api listener" in cmd:
            pids.append(pid)
    return pids


def test_terminated_listener_comes_back(make_cluster):
    """A terminated listener (SIGTERM, as an ops clean-up would send) must not end the API."""
    c = make_cluster(name="listener")
    t = c.token()
    in_activity = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'serendb_data_api listener'"
    assert c.psql(in_activity, db="postgres") == "0"
    old = listener_pids(c)
    assert len(old) == 1, old
    os.kill(int(old[0]), signal.SIGTERM)
    assert wait_for(lambda: listener_pids(c) != old, timeout=10)
    # A new listener process serves again (restart time included).
    assert wait_for(lambda: listener_pids(c) not in ([], old)
                    and answers_200(c, "/posts", t), timeout=20, interval=0.5), c.log()[-2000:]


# Last: it stops its own cluster mid-request.
def test_shutdown_with_request_in_flight_is_prompt(make_cluster):
    c = make_cluster(name="sigterm")
    out = {}

    def run_slow():
        try:
            out["r"] = c.http("GET", "/rpc/slow?s=60", token=c.token(), timeout=90)
        except (OSError, http.client.HTTPException) as e:
            out["e"] = e

    th = threading.Thread(target=run_slow)
    th.start()
    # Wait until the query really runs.
    assert wait_for(lambda: c.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'", db="postgres")
        != "0", timeout=10)
    t0 = time.time()
    c.stop(mode="fast", timeout=30)
    elapsed = time.time() - t0
    th.join(30)
    assert not th.is_alive(), "the in-flight request never ended"
    assert elapsed < 5, f"pg_ctl stop -m fast took {elapsed:.1f}s with a request in flight"
    assert "r" not in out or out["r"].status >= 500, out
