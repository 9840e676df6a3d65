"""The HTTP edge under abuse: connection cap, slow and idle clients, body and response size
limits, strict request framing, framing headers from `response.headers`. Each test also checks
that the server keeps serving other clients meanwhile.

The cluster runs with small limits (64 kB bodies and responses, 1 s header and body timeouts,
2 s keep-alive) so every limit is reached in well under a second of client work."""

import json
import os
import socket
import time

import pytest

from conftest import Cluster, recv_until, wait_for

def set_gucs(c, **values):
    """ALTER SYSTEM (None resets) + reload; new connections see the change."""
    for name, value in values.items():
        if value is None:
            c.psql(f"ALTER SYSTEM RESET serendb_data_api.{name}")
        else:
            c.psql(f"ALTER SYSTEM SET serendb_data_api.{name} = '{value}'")
    c.psql("SELECT pg_reload_conf()")
    time.sleep(1.0)

LIMITS = [
    "serendb_data_api.server_max_connections = 40",
    "serendb_data_api.server_max_body_size = '64kB'",
    "serendb_data_api.server_max_response_size = '64kB'",
    "serendb_data_api.server_header_timeout = '1s'",
    "serendb_data_api.server_body_timeout = '1s'",
    "serendb_data_api.server_keepalive_timeout = '2s'",
]


@pytest.fixture(scope="module")
def edge():
    c = Cluster(name="edge", extra_conf=LIMITS)
    try:
        c.start()
        c.psql("""
            CREATE TABLE blobs (id int PRIMARY KEY, payload text NOT NULL);
            GRANT ALL ON blobs TO authenticated;
            INSERT INTO blobs SELECT i, repeat('x', 1000) FROM generate_series(1, 100) i;
            CREATE FUNCTION big_insert() RETURNS SETOF blobs LANGUAGE sql AS $$
              INSERT INTO blobs VALUES (1000, repeat('y', 100000)) RETURNING * $$;
            CREATE FUNCTION framing_headers() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM set_config('response.headers',
                '[{"Content-Length": "0"}, {"Transfer-Encoding": "chunked"},
                  {"Connection": "close"}, {"Upgrade": "h2c"}, {"X-Kept": "yes"}]', true);
              RETURN 42;
            END $$;
            CREATE FUNCTION interim_status() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN PERFORM set_config('response.status', '101', true); RETURN 1; END $$;
            NOTIFY pgrst;
        """)
        tok = c.token()
        assert wait_for(lambda: c.http("GET", "/blobs?limit=1", token=tok).status == 200,
                        timeout=30)
        yield c
    finally:
        c.destroy()


def connect(c):
    s = socket.create_connection(("127.0.0.1", c.api_port), timeout=10)
    s.settimeout(10)
    return s


def read_answer(s):
    """Everything the server sends until it closes the connection: (status, headers, body)
    of the first response, or None when it closed without a word."""
    data = recv_until(s, b"", lambda b: False)
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def assert_edge_error(answer, status):
    assert answer is not None, "closed without an answer"
    got, headers, body = answer
    assert got == status, answer
    assert headers.get("content-type", "").startswith("application/json"), answer
    assert headers.get("connection") == "close", answer
    err = json.loads(body)
    assert set(err) == {"code", "message", "details", "hint"}, err
    assert err["code"] == f"SDA{status}", err
    return err


def assert_serving(c):
    """Another client is served promptly."""
    t0 = time.time()
    r = c.http("GET", "/blobs?select=id&limit=1", token=c.token(), timeout=5)
    assert r.status == 200, r
    assert time.time() - t0 < 2, "a normal request waited behind the abusive ones"


# ---- slow and idle clients -------------------------------------------------------------

def test_slowloris_headers_get_408_while_others_are_served(edge):
    slow = [connect(edge) for _ in range(10)]
    try:
        t0 = time.time()
        # a byte now and then, never the end of the headers
        for step in range(4):
            for s in slow:
                s.sendall(b"GET /blobs HTTP/1.1\r\n" if step == 0 else b"X-Drip: a\r\n")
            assert_serving(edge)
            time.sleep(0.3)
        answers = [read_answer(s) for s in slow]
        elapsed = time.time() - t0
    finally:
        for s in slow:
            s.close()
    for a in answers:
        err = assert_edge_error(a, 408)
        assert "headers" in err["message"], err
    assert elapsed < 5, elapsed


def test_slow_body_gets_408(edge):
    s = connect(edge)
    try:
        t0 = time.time()
        s.sendall(b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + edge.token().encode() +
                  b"\r\nContent-Length: 100\r\n\r\n{\"id\":")
        assert_serving(edge)
        err = assert_edge_error(read_answer(s), 408)
        assert "body" in err["message"], err
        assert time.time() - t0 < 5
    finally:
        s.close()
    assert edge.psql("SELECT count(*) FROM blobs") == "100"


def test_idle_connections_are_closed(edge):
    # silent from the start: closed after the header timeout, without an answer
    s = connect(edge)
    try:
        t0 = time.time()
        assert read_answer(s) is None
        assert 0.5 < time.time() - t0 < 5
    finally:
        s.close()
    # keep-alive: served, then closed after the keep-alive timeout
    conn = edge.connect(timeout=10)
    try:
        assert edge.http("GET", "/blobs?limit=1", token=edge.token(), conn=conn).status == 200
        t0 = time.time()
        assert conn.sock.recv(1) == b""
        assert 1.5 < time.time() - t0 < 6
    finally:
        conn.close()
    assert_serving(edge)


# ---- connection cap ----------------------------------------------------------------------

def test_connection_flood_gets_503_and_the_open_ones_keep_working(edge):
    # long timeouts, so only the cap closes anything here
    set_gucs(edge, server_max_connections=10, server_header_timeout="30s",
             server_keepalive_timeout="30s")
    keep = edge.connect(timeout=10)
    flood = []
    try:
        assert edge.http("GET", "/blobs?limit=1", token=edge.token(), conn=keep).status == 200
        for _ in range(9):
            flood.append(connect(edge))
        time.sleep(0.3)  # the listener has accepted them all
        for _ in range(5):
            s = connect(edge)
            t0 = time.time()
            try:
                err = assert_edge_error(read_answer(s), 503)
            finally:
                s.close()
            assert time.time() - t0 < 2
        assert "connections" in err["message"], err
        # the connections already open are served
        assert edge.http("GET", "/blobs?limit=1", token=edge.token(), conn=keep).status == 200
        flood.pop().close()
        ok = wait_for(lambda: edge.http("GET", "/blobs?limit=1", token=edge.token()).status
                      == 200, timeout=10)
        assert ok
    finally:
        keep.close()
        for s in flood:
            s.close()
        set_gucs(edge, server_max_connections=None, server_header_timeout=None,
                 server_keepalive_timeout=None)
    assert_serving(edge)


# ---- request bodies ----------------------------------------------------------------------

def test_oversized_body_is_413_before_it_is_read(edge):
    tok = edge.token()
    rows = [{"id": 10_000 + i, "payload": "z" * 1000} for i in range(100)]  # ~110 kB
    r = edge.http("POST", "/blobs", body=rows, token=tok)
    err = json.loads(r.body)
    assert r.status == 413 and err["code"] == "SDA413", r
    assert "65536" in err["details"], err
    # announced but never sent: refused at once, without 100 Continue
    s = connect(edge)
    try:
        s.sendall(b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n")
        answer = read_answer(s)
    finally:
        s.close()
    assert_edge_error(answer, 413)
    assert b"100 Continue" not in answer[2]
    # chunked: refused as soon as the chunks pass the limit, the rest never sent
    s = connect(edge)
    try:
        s.sendall(b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + tok.encode() +
                  b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            s.sendall(b"8000\r\n" + b" " * 0x8000 + b"\r\n")
        assert_edge_error(read_answer(s), 413)
    finally:
        s.close()
    assert edge.psql("SELECT count(*) FROM blobs") == "100"
    # a body under the limit still goes through
    r = edge.http("POST", "/blobs", body=rows[:10], token=tok)
    assert r.status == 201, r
    edge.psql("DELETE FROM blobs WHERE id >= 10000")
    assert_serving(edge)


SMUGGLING = [
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nContent-Length: 9\r\n\r\n", "two lengths"),
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Length: +8\r\n\r\n", "signed length"),
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
     "length and chunked"),
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", "unknown coding"),
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "coding list"),
    (b"POST /blobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: identity\r\n\r\n", "two codings"),
    (b"GET HTTP/1.1\r\nHost: x\r\n\r\n", "no path"),
]


@pytest.mark.parametrize("head,name", SMUGGLING, ids=[n for _, n in SMUGGLING])
def test_ambiguous_framing_is_400_and_nothing_runs(edge, head, name):
    """Whatever follows the head (here: a chunked body that would insert a row, then a second
    request) is never read as a request."""
    row = json.dumps({"id": 5000, "payload": "smuggled"}).encode()
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(row), row)
    head = head.replace(b"\r\n\r\n", b"\r\nContent-Type: application/json\r\nAuthorization: "
                        b"Bearer " + edge.token().encode() + b"\r\n\r\n")
    second = b"DELETE /blobs?id=eq.1 HTTP/1.1\r\nHost: x\r\n\r\n"
    s = connect(edge)
    try:
        s.sendall(head + body + second)
        answer = read_answer(s)
    finally:
        s.close()
    assert_edge_error(answer, 400)
    assert answer[2].count(b"HTTP/1.1") == 0, "a second response followed"
    assert edge.psql("SELECT count(*) FROM blobs WHERE id IN (1, 5000)") == "1"
    assert_serving(edge)


def test_nul_bytes_are_400(edge):
    tok = edge.token()
    for path in ["/blo%00bs", "/blobs?payload=eq.a%00b", "/rpc/big_insert%00"]:
        r = edge.http("GET", path, token=tok)
        assert r.status == 400, (path, r)
    r = edge.http("POST", "/blobs", {"Content-Type": "application/json"},
                  b'{"id": 7000, "payload": "a\x00b"}', token=tok)
    assert r.status == 400, r
    for raw in [b"GET /blobs\x00 HTTP/1.1\r\n\r\n", b"GET /blobs HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"]:
        s = connect(edge)
        try:
            s.sendall(raw)
            assert_edge_error(read_answer(s), 400)
        finally:
            s.close()
    assert edge.psql("SELECT count(*) FROM blobs") == "100"
    assert_serving(edge)


def test_deep_json_path_is_400_pgrst100(edge):
    tok = edge.token()
    deep = "->a" * 5000
    for path in [f"/blobs?select=payload{deep}", f"/blobs?payload{deep}=eq.1",
                 f"/blobs?order=payload{deep}"]:
        r = edge.http("GET", path, token=tok)
        assert r.status == 400 and r.json()["code"] == "PGRST100", (path[:40], r)
    assert_serving(edge)


# ---- responses ---------------------------------------------------------------------------

def executor_pids(c):
    return c.psql("SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
                  "WHERE backend_type = 'serendb_data_api executor'", db="postgres")


def test_oversized_response_is_an_error_and_the_executor_lives_on(edge):
    tok = edge.token()
    before = executor_pids(edge)
    assert before.count(",") == 1, before
    for _ in range(3):  # more than once, so both executors see it
        r = edge.http("GET", "/blobs", token=tok)  # ~110 kB of JSON
        assert r.status == 500, r
        err = r.json()
        assert err["code"] == "SDA500" and "65536" in err["details"], err
        assert_serving(edge)
    # a write whose response is too large is rolled back, not committed behind the error
    r = edge.http("POST", "/rpc/big_insert", body={}, token=tok)
    assert r.status == 500 and r.json()["code"] == "SDA500", r
    assert edge.psql("SELECT count(*) FROM blobs WHERE id = 1000") == "0"
    assert executor_pids(edge) == before
    assert edge.http("GET", "/blobs?select=id&limit=2", token=tok).json() == [{"id": 1}, {"id": 2}]


def test_response_headers_cannot_change_framing(edge):
    tok = edge.token()
    conn = edge.connect()
    try:
        for _ in range(2):  # the keep-alive connection stays usable: framing was not broken
            r = edge.http("POST", "/rpc/framing_headers", body={}, token=tok, conn=conn)
            assert r.status == 200 and r.json() == 42, r
            assert r.header("X-Kept") == "yes"
            assert r.header("Transfer-Encoding") is None and r.header("Upgrade") is None
            assert r.header("Content-Length") == str(len(r.body))
    finally:
        conn.close()
    r = edge.http("POST", "/rpc/interim_status", body={}, token=tok)
    assert r.status == 500 and r.json()["code"] == "PGRST112", r
    assert_serving(edge)


def listener_pid(c):
    with open(f"{c.data}/postmaster.pid") as f:
        postmaster = f.readline().strip()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, IndexError):
            continue
        if ppid == postmaster and b"serendb_data_api listener" in cmd:
            return int(pid)
    raise AssertionError("no listener process")


def test_listener_takes_the_hard_open_file_limit(edge):
    """Each client connection is a descriptor: the usual soft limit of 1024 would run out near
    the default server_max_connections."""
    with open(f"/proc/{listener_pid(edge)}/limits") as f:
        line = next(l for l in f if l.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard, line
