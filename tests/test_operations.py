"""Running the API as a service: the admin server (/live, /ready, /schema_cache, /metrics),
the Server-Timing header, request log lines (log_level) and the trace header."""

import re
import socket

import pytest

from conftest import free_port, wait_for


class Admin:
    def __init__(self, cluster, port):
        self.cluster = cluster
        self.port = port

    def get(self, path):
        import http.client as hc
        c = hc.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def metrics(self):
        status, headers, body = self.get("/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    from conftest import Cluster
    admin_port = free_port()
    c = Cluster(name="ops", extra_conf=[
        f"serendb_data_api.admin_server_port = {admin_port}",
        "serendb_data_api.server_timing_enabled = on",
        "serendb_data_api.log_level = 'info'",
        "serendb_data_api.server_trace_header = 'X-Request-Id'",
    ])
    try:
        c.start()
        yield c, Admin(c, admin_port)
    finally:
        c.destroy()


def test_live_ready_and_schema_cache(ops):
    c, admin = ops
    assert admin.get("/live")[0] == 200
    assert admin.get("/ready")[0] == 200
    status, headers, body = admin.get("/schema_cache")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert b'"posts"' in body
    assert admin.get("/nothing")[0] == 404


def test_ready_is_503_while_the_extension_is_dropped(make_cluster):
    admin_port = free_port()
    c = make_cluster(name="ops-ready", seed=False,
                     extra_conf=[f"serendb_data_api.admin_server_port = {admin_port}"])
    admin = Admin(c, admin_port)
    assert admin.get("/ready")[0] == 200
    c.psql("DROP EXTENSION serendb_data_api")
    assert wait_for(lambda: admin.get("/ready")[0] == 503, timeout=15)
    assert admin.get("/live")[0] == 200
    assert admin.get("/schema_cache")[0] == 503
    c.psql("CREATE EXTENSION serendb_data_api")
    assert wait_for(lambda: admin.get("/ready")[0] == 200, timeout=15)


def test_metrics_move_under_load(ops):
    c, admin = ops
    before = admin.metrics()
    for name in ["pgrst_schema_cache_query_time_seconds", "pgrst_db_pool_available",
                 "pgrst_db_pool_waiting", "pgrst_db_pool_max", "pgrst_db_pool_timeouts_total",
                 "pgrst_jwt_cache_requests_total", "pgrst_jwt_cache_hits_total",
                 'pgrst_schema_cache_loads_total{status="SUCCESS"}',
                 "serendb_data_api_executor_busy_seconds_total",
                 "serendb_data_api_http_connections_open"]:
        assert name in before, name
    assert before["pgrst_db_pool_max"] == c.workers
    assert before['pgrst_schema_cache_loads_total{status="SUCCESS"}'] >= 1
    t = c.token()
    conn = c.connect()
    for _ in range(20):
        assert c.http("GET", "/posts?select=id", conn=conn, token=t).status == 200
    for _ in range(3):
        assert c.http("GET", "/no_such_table", conn=conn).status == 404
    conn.close()
    after = admin.metrics()
    get200 = 'serendb_data_api_requests_total{method="GET",status="200"}'
    get404 = 'serendb_data_api_requests_total{method="GET",status="404"}'
    assert after[get200] - before.get(get200, 0) >= 20
    assert after[get404] - before.get(get404, 0) >= 3
    count = "serendb_data_api_request_duration_seconds_count"
    assert after[count] - before[count] >= 23
    assert after['serendb_data_api_request_duration_seconds_bucket{le="+Inf"}'] == after[count]
    assert after["serendb_data_api_request_duration_seconds_sum"] > before[
        "serendb_data_api_request_duration_seconds_sum"]
    assert after["serendb_data_api_response_bytes_total"] > before[
        "serendb_data_api_response_bytes_total"]
    assert after["serendb_data_api_http_connections_total"] > before[
        "serendb_data_api_http_connections_total"]
    # one token sent 20 times: each executor verifies it once, then the JWT cache answers
    jwt_requests = after["pgrst_jwt_cache_requests_total"] - before["pgrst_jwt_cache_requests_total"]
    jwt_hits = after["pgrst_jwt_cache_hits_total"] - before["pgrst_jwt_cache_hits_total"]
    assert jwt_requests >= 20 and jwt_hits >= 20 - c.workers, (jwt_requests, jwt_hits)
    assert after["serendb_data_api_executor_busy_seconds_total"] > before[
        "serendb_data_api_executor_busy_seconds_total"]
    # all executors idle again, nothing queued
    assert wait_for(lambda: admin.metrics()["pgrst_db_pool_available"] == c.workers, timeout=5)
    assert after["pgrst_db_pool_waiting"] == 0
    # a request body counts as bytes in
    c.http("POST", "/posts", body={"content": "x"}, token=c.token())
    assert admin.metrics()["serendb_data_api_request_bytes_total"] > after[
        "serendb_data_api_request_bytes_total"]


def test_server_timing_header(ops):
    c, _ = ops
    r = c.http("GET", "/posts?select=id", token=c.token())
    assert r.status == 200
    value = r.header("Server-Timing")
    assert value, r.headers
    stages = [part.strip().split(";dur=") for part in value.split(",")]
    assert [s[0] for s in stages] == ["jwt", "parse", "plan", "transaction", "response"]
    assert all(float(s[1]) >= 0 for s in stages)
    # errors carry it too
    assert c.http("GET", "/no_such_table").header("Server-Timing")


def test_request_log_lines_and_trace_header(ops):
    c, _ = ops
    r = c.http("GET", "/posts?select=id&content=neq.probe1", headers={"X-Request-Id": "req-42"},
               token=c.token())
    assert r.status == 200
    assert r.header("X-Request-Id") == "req-42"
    assert not any(k.startswith(" ") for k, _ in r.headers)
    pattern = re.compile(
        r'serendb_data_api: authenticated "GET /posts\?select=id&content=neq\.probe1" 200 \d+ [0-9.]+ms '
        r'X-Request-Id=req-42')
    assert wait_for(lambda: pattern.search(c.log()), timeout=5), c.log()[-2000:]
    # anonymous, refused by the table's grants
    assert c.http("GET", "/posts?content=neq.probe2").status == 401
    assert wait_for(lambda: 'anonymous "GET /posts?content=neq.probe2" 401' in c.log(), timeout=5)
    # log_level = warn: 4xx are logged, 2xx are not
    c.psql("ALTER SYSTEM SET serendb_data_api.log_level = 'warn'; SELECT pg_reload_conf()",
           db="postgres")
    try:
        attempt = iter(range(1000))

        def switched():
            # the listener reloads on its next tick: once a 200 goes unlogged while the 404
            # sent after it is logged, the new level is in force
            n = next(attempt)
            c.http("GET", f"/posts?content=neq.ok{n}", token=c.token())
            c.http("GET", f"/no_such_table?content=neq.missing{n}")
            log = wait_for(lambda: f"missing{n}" in c.log() and c.log(), timeout=5)
            return log and f"content=neq.ok{n}" not in log
        assert wait_for(switched, timeout=15)
        assert '"GET /no_such_table?content=neq.missing' in c.log()
    finally:
        c.psql("ALTER SYSTEM RESET serendb_data_api.log_level; SELECT pg_reload_conf()",
               db="postgres")


def test_admin_server_is_off_by_default(cluster):
    # The session cluster has no admin port: nothing but the API answers.
    assert "admin server" not in cluster.log()
