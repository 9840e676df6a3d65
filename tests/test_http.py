"""HTTP/1.1 behaviour of the listener: pipelining, idle and slow clients, disconnects, large
bodies and results."""

import json
import socket
import time

import pytest

from conftest import recv_until


@pytest.fixture(scope="module", autouse=True)
def http_fixtures(cluster):
    cluster.psql("""
        CREATE TABLE IF NOT EXISTS bulk (id int PRIMARY KEY, payload text NOT NULL);
    """)
    yield


def read_responses(sock, count, timeout=10):
    """Read `count` HTTP responses with Content-Length bodies; returns [(status, body)]."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < count:
        buf = recv_until(sock, buf, lambda b: b"\r\n\r\n" in b)
        if b"\r\n\r\n" not in buf:
            return out
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        buf = recv_until(sock, buf, lambda b: len(b) >= length)
        out.append((status, buf[:length]))
        buf = buf[length:]
    return out


def test_pipelined_requests_answered_in_order(cluster):
    t = cluster.token()
    reqs = b"".join(
        f"GET /rpc/slow?s=0.{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\r\n".encode()
        for i in (3, 0, 2))
    s = socket.create_connection(("127.0.0.1", cluster.api_port))
    try:
        s.sendall(reqs)
        got = read_responses(s, 3)
    finally:
        s.close()
    assert [st for st, _ in got] == [200, 200, 200], got
    assert [json.loads(b) for _, b in got] == [0.3, 0.0, 0.2]


def test_connection_close_is_honoured(cluster):
    s = socket.create_connection(("127.0.0.1", cluster.api_port))
    try:
        s.sendall(b"GET /posts?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Authorization: Bearer " + cluster.token().encode() + b"\r\n\r\n")
        s.settimeout(10)
        data = recv_until(s, b"", lambda b: False)
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


def test_idle_and_slowloris_connections_do_not_block_others(cluster):
    """Connections that never finish their request must not take workers away."""
    socks = []
    try:
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", cluster.api_port))
            if i % 2:
                s.sendall(b"GET /posts HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            socks.append(s)
        # A body that never arrives, on a request that would go to an executor.
        s = socket.create_connection(("127.0.0.1", cluster.api_port))
        s.sendall(b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\nAuthorization: Bearer " + cluster.token().encode() +
                  b"\r\n\r\n{\"content\":")
        socks.append(s)
        time.sleep(0.3)
        t = cluster.token()
        for _ in range(5):
            t0 = time.time()
            r = cluster.http("GET", "/posts?limit=1", token=t, timeout=5)
            assert r.status == 200, r
            assert time.time() - t0 < 1.0
    finally:
        for s in socks:
            s.close()


def test_client_disconnect_during_slow_request(cluster):
    """A client that goes away mid-request leaves the server healthy; with both workers'
    requests abandoned, new requests are served once those queries end."""
    t = cluster.token()
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", cluster.api_port))
        s.sendall(f"GET /rpc/slow?s=1.5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}"
                  "\r\n\r\n".encode())
        time.sleep(0.1)
        s.close()
    r = cluster.wait_status("/posts?limit=1", 200, token=t)
    assert r.status == 200, ("the API did not recover after clients disconnected", r)
    assert cluster.http("GET", "/rpc/slow?s=0", token=t).json() == 0


def test_head_request(cluster):
    r = cluster.http("HEAD", "/posts", token=cluster.token())
    assert r.status == 200, r
    assert r.body == b""


def test_large_insert_and_large_result(cluster):
    t = cluster.token()
    rows = [{"id": i, "payload": "x" * 200} for i in range(20_000)]  # ~4.5 MB of JSON
    r = cluster.http("POST", "/bulk", None, rows, token=t, timeout=60)
    assert r.status == 201, r
    assert cluster.psql("SELECT count(*) FROM bulk") == "20000"
    r = cluster.http("GET", "/bulk?select=id,payload&order=id", token=t, timeout=60)
    assert r.status == 200, r
    got = r.json()
    assert len(got) == 20_000
    assert got[0] == rows[0] and got[-1] == rows[-1]
    r = cluster.http("GET", "/bulk?select=id&limit=3&offset=19998",
                     {"Prefer": "count=exact"}, token=t)
    assert r.status == 206, r
    assert r.header("Content-Range") == "19998-19999/20000"
    cluster.psql("TRUNCATE bulk")
