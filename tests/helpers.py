"""Helpers shared by the test files that run against tests/fixtures/feature_schema.sql
(test_read_grammar.py, test_rpc.py, test_writes.py): loading the fixture, authenticated
requests, results computed by Postgres, PostgREST error bodies and reloadable settings."""

import json
import os
import time

from conftest import wait_for

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "feature_schema.sql")


def load_feature_schema(cluster, probe, status):
    """Load the feature fixture, then wait until GET `probe` answers `status`: the schema cache
    has picked the fixture up."""
    with open(FIXTURE, encoding="utf-8") as f:
        cluster.psql(f.read())
    tok = cluster.token()
    ok = wait_for(lambda: cluster.http("GET", probe, token=tok).status == status, timeout=60)
    assert ok, ("the schema cache never picked up the feature fixture",
                cluster.http("GET", probe, token=tok))


def api(cluster, method, path, body=None, headers=None, prefer=None):
    """One request as an authenticated user; dict/list bodies go as JSON, `prefer` is the
    Prefer header."""
    hdrs = dict(headers or {})
    if prefer:
        hdrs["Prefer"] = prefer
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    return cluster.http(method, path, headers=hdrs, body=body, token=cluster.token())


def sql_json(cluster, sql):
    """The JSON value `sql` returns, computed by Postgres."""
    return json.loads(cluster.psql(sql))


def assert_error(r, status, code):
    """`r` is a PostgREST error: `status`, exactly the four keys, SQLSTATE/PGRST `code`."""
    assert r.status == status, r
    body = r.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    assert body["code"] == code, body
    return body


def set_guc(cluster, name, value):
    """ALTER SYSTEM + reload; None resets. Gives the workers time to see the reload."""
    if value is None:
        cluster.psql(f"ALTER SYSTEM RESET serendb_data_api.{name}")
    else:
        cluster.psql(f"ALTER SYSTEM SET serendb_data_api.{name} = '{value}'")
    cluster.psql("SELECT pg_reload_conf()")
    time.sleep(1.0)
