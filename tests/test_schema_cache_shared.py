"""One introspection per catalog change, not one per executor: the executor that reloads the
schema cache first publishes the introspection document in the data directory
(`serendb_data_api/schema_cache.<key>.json`, keyed by database, schemas and build, its header
naming the catalog fingerprint); the other executors read it instead of introspecting. Observed
through the admin server's counters (serendb_data_api_schema_cache_introspections_total,
_shared_loads_total) and the server log; all executors are made busy at once by requests that
wait on an advisory lock the test holds."""

import json
import os
import pathlib
import stat
import subprocess
import threading
import time

import pytest

from conftest import PG_BIN, _as_owner, free_port, wait_for
from test_operations import Admin

WORKERS = 3
INTROSPECTIONS = "serendb_data_api_schema_cache_introspections_total"
SHARED = "serendb_data_api_schema_cache_shared_loads_total"
LOADS = 'pgrst_schema_cache_loads_total{status="SUCCESS"}'
FINGERPRINT_SQL = (pathlib.Path(__file__).parent.parent / "src/schema_cache/fingerprint.sql").read_text()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from conftest import Cluster
    admin_port = free_port()
    c = Cluster(name="sc-shared", workers=WORKERS,
                extra_conf=[f"serendb_data_api.admin_server_port = {admin_port}",
                            "log_min_messages = debug1"])
    try:
        c.start()
        c.psql("""
            CREATE TABLE public.items (id int PRIMARY KEY, v text);
            INSERT INTO public.items VALUES (1, 'one');
            GRANT SELECT ON public.items TO anonymous;
        """)
        assert c.wait_status("/items", 200)
        yield c, Admin(c, admin_port)
    finally:
        c.destroy()


class Gate:
    """A session holding advisory lock 42: requests calling a function that takes it shared
    wait in their executor until the gate opens, so N such requests occupy N executors."""

    def __init__(self, c):
        self.c = c
        self.p = subprocess.Popen(
            _as_owner([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-h", c.tmp, "-p",
                       str(c.pg_port), "-U", "postgres", "-d", c.database]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.p.stdin.write("SELECT pg_advisory_lock(42);\n\\echo locked\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() in ("", "locked")

    def waiting(self):
        return int(self.c.psql(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"))

    def open(self):
        self.p.stdin.write("SELECT pg_advisory_unlock(42);\n\\q\n")
        self.p.stdin.flush()
        self.p.wait(timeout=30)


def metric(admin, name):
    return admin.metrics().get(name, 0.0)


def all_executors_call(c, fn):
    """POST /rpc/<fn> from WORKERS clients at once while the gate is closed: every executor
    takes one. Returns the responses."""
    gate = Gate(c)
    results = [None] * WORKERS

    def call(i):
        results[i] = c.http("POST", f"/rpc/{fn}", body={})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(WORKERS)]
    try:
        for t in threads:
            t.start()
        # each request found the new function in its executor's cache and now waits
        assert wait_for(lambda: gate.waiting() == WORKERS, timeout=30), gate.waiting()
    finally:
        gate.open()
        for t in threads:
            t.join(timeout=60)
    return results


def gated_function(c, name):
    c.psql(f"""
        CREATE FUNCTION public.{name}() RETURNS text LANGUAGE sql VOLATILE AS $$
          SELECT pg_advisory_xact_lock_shared(42); SELECT '{name}'::text $$;
    """)


def published(c):
    files = sorted(pathlib.Path(c.data, "serendb_data_api").glob("schema_cache.*.json"))
    assert len(files) == 1, files
    return files[0]


def test_a_ddl_change_is_introspected_once_and_read_by_the_other_executors(shared):
    c, admin = shared
    before = (metric(admin, INTROSPECTIONS), metric(admin, SHARED), metric(admin, LOADS))
    gated_function(c, "gate_one")
    results = all_executors_call(c, "gate_one")
    assert [r.status for r in results] == [200] * WORKERS, results
    assert all(json.loads(r.body) == "gate_one" for r in results)
    after = (metric(admin, INTROSPECTIONS), metric(admin, SHARED), metric(admin, LOADS))
    assert after[0] - before[0] == 1, (before, after)
    assert after[1] - before[1] == WORKERS - 1, (before, after)
    assert after[2] - before[2] == WORKERS, (before, after)
    assert "schema cache loaded from the published document" in c.log()


def test_the_published_file_is_private_to_the_server(shared):
    c, _ = shared
    d = pathlib.Path(c.data, "serendb_data_api")
    f = published(c)
    owner = os.stat(c.data).st_uid
    assert os.stat(d).st_uid == owner and os.stat(f).st_uid == owner
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert not os.stat(f).st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    header = json.loads(f.read_bytes().split(b"\n", 1)[0])
    assert header["fingerprint"] == c.psql(FINGERPRINT_SQL)
    assert header["schemas"] == ["public"]


def plant(c, path, data):
    path.write_bytes(data)
    owner = os.stat(c.data)
    os.chown(path, owner.st_uid, owner.st_gid)


@pytest.mark.parametrize("damage", ["checksum", "truncated", "header", "other-database"])
def test_a_damaged_or_foreign_file_is_ignored(shared, damage):
    """After a DDL change the test plants a file naming the new fingerprint (computed with the
    same query) before any executor reloads: a body that does not match its checksum, a
    truncated one, a garbage header or another database's document is logged and ignored, the
    executor introspects and serves the new column, and the file is replaced."""
    c, admin = shared
    f = published(c)
    header, body = f.read_bytes().split(b"\n", 1)
    h = json.loads(header)
    database = h["database"]
    col = f"col_{damage.replace('-', '_')}"
    c.psql(f"ALTER TABLE public.items ADD COLUMN {col} int")
    fingerprint = c.psql(FINGERPRINT_SQL)
    h.update(fingerprint=fingerprint, started_at_us=int((time.time() + 3600) * 1e6))
    forged_body = body.replace(b'"name" : "v"', b'"name" : "w"')
    if damage == "checksum":
        assert forged_body != body
        data = json.dumps(h).encode() + b"\n" + forged_body
    elif damage == "truncated":
        data = json.dumps(h).encode() + b"\n" + body[: len(body) // 2]
    elif damage == "header":
        data = b"\x00garbage" * 1000 + b"\n" + body
    else:
        import hashlib
        h.update(database=h["database"] + 1, body_len=len(forged_body),
                 body_sha256=hashlib.sha256(forged_body).hexdigest())
        data = json.dumps(h).encode() + b"\n" + forged_body
    plant(c, f, data)
    before = metric(admin, INTROSPECTIONS)
    log_before = len(c.log())
    r = c.http("GET", f"/items?select=id,v,{col}")
    assert r.status == 200, r
    assert json.loads(r.body) == [{"id": 1, "v": "one", col: None}]
    assert metric(admin, INTROSPECTIONS) == before + 1
    assert "ignoring the published schema cache" in c.log()[log_before:]
    # replaced by a good one, which the other executors then use
    h2 = json.loads(published(c).read_bytes().split(b"\n", 1)[0])
    assert h2["fingerprint"] == fingerprint and h2["database"] == database
    shared_before = metric(admin, SHARED)
    gated_function(c, f"gate_{col}")
    results = all_executors_call(c, f"gate_{col}")
    assert [r.status for r in results] == [200] * WORKERS
    assert metric(admin, SHARED) == shared_before + WORKERS - 1


def test_notify_pgrst_does_not_take_an_older_document(shared):
    """NOTIFY pgrst reloads whatever the fingerprint says (comments, enum labels): a document
    published before the executor was told is not taken, though its fingerprint matches."""
    c, admin = shared
    assert c.http("GET", "/items?select=id").status == 200
    before = metric(admin, INTROSPECTIONS)
    loads = metric(admin, LOADS)
    c.psql("NOTIFY pgrst, 'reload schema'")
    assert wait_for(lambda: (c.http("GET", "/items?select=id"), metric(admin, LOADS) > loads)[1],
                    timeout=10)
    assert metric(admin, INTROSPECTIONS) > before


def test_a_changed_enum_label_reaches_the_cache_with_the_next_invalidation(shared):
    """ALTER TYPE ... ADD VALUE sends no invalidation, but enum labels are in the fingerprint,
    so the next invalidation reloads (and a document with the old labels is never taken)."""
    c, admin = shared
    c.psql("""
        CREATE TYPE public.mood AS ENUM ('sad', 'ok');
        CREATE TABLE public.moods (id int PRIMARY KEY, m public.mood);
        GRANT SELECT ON public.moods TO anonymous;
    """)
    assert c.http("GET", "/moods").status == 200
    c.psql("ALTER TYPE public.mood ADD VALUE 'happy'")
    c.psql("ANALYZE public.moods")
    r = c.http("GET", "/")
    assert r.status == 200
    assert b"happy" in r.body


# ---- a request that a DDL change does not concern keeps the loaded cache ----------------------

KEPT = "serendb_data_api_schema_cache_kept_total"


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One executor, so every request below meets the same cache."""
    from conftest import Cluster
    admin_port = free_port()
    c = Cluster(name="sc-kept", workers=1,
                extra_conf=[f"serendb_data_api.admin_server_port = {admin_port}"])
    try:
        c.start()
        c.psql("""
            CREATE TABLE public.authors (id int PRIMARY KEY, name text);
            CREATE TABLE public.books (id int PRIMARY KEY, author_id int REFERENCES public.authors,
                                       title text);
            CREATE TABLE public.unrelated (id int PRIMARY KEY, n int);
            CREATE VIEW public.book_titles AS SELECT id, title FROM public.books;
            INSERT INTO public.authors VALUES (1, 'Ann');
            INSERT INTO public.books VALUES (10, 1, 'First');
            GRANT SELECT ON ALL TABLES IN SCHEMA public TO anonymous;
        """)
        assert c.wait_status("/authors", 200)
        yield c, Admin(c, admin_port)
    finally:
        c.destroy()


def counters(admin):
    m = admin.metrics()
    return m.get(KEPT, 0.0), m.get(LOADS, 0.0)


def get(c, path):
    r = c.http("GET", path)
    assert r.status == 200, (path, r)
    return json.loads(r.body)


EMBED = "/authors?select=name,books(title)&id=eq.1"


def test_a_change_elsewhere_keeps_the_cache_and_a_change_here_is_seen_at_once(single):
    c, admin = single
    assert get(c, EMBED) == [{"name": "Ann", "books": [{"title": "First"}]}]
    kept, loads = counters(admin)
    c.psql("ALTER TABLE public.unrelated ADD COLUMN extra int")
    # authors and books did not change: planned with the cache as it was, no reload
    assert get(c, EMBED) == [{"name": "Ann", "books": [{"title": "First"}]}]
    assert counters(admin) == (kept + 1, loads)
    # the changed table itself: reloaded before this request, the new column is there
    assert get(c, "/unrelated?select=id,extra") == []
    assert counters(admin)[1] == loads + 1


@pytest.mark.parametrize("ddl, probe, expected", [
    # a column of a table the request reads
    ("ALTER TABLE public.books ADD COLUMN pages int",
     "/authors?select=name,books(title,pages)&id=eq.1",
     [{"name": "Ann", "books": [{"title": "First", "pages": None}]}]),
    # a new table with a foreign key to it: a new relationship of authors
    ("CREATE TABLE public.prizes (id int PRIMARY KEY, author_id int REFERENCES public.authors);"
     " GRANT SELECT ON public.prizes TO anonymous",
     "/authors?select=name,prizes(id)&id=eq.1", [{"name": "Ann", "prizes": []}]),
    # a function: computed columns come from functions
    ("CREATE FUNCTION public.shout(public.authors) RETURNS text LANGUAGE sql"
     " AS $$ SELECT upper($1.name) $$",
     "/authors?select=name,shout&id=eq.1", [{"name": "Ann", "shout": "ANN"}]),
    # a privilege on it
    ("GRANT INSERT ON public.books TO anonymous",
     EMBED, [{"name": "Ann", "books": [{"title": "First"}]}]),
])
def test_a_change_a_request_can_see_reloads_before_it(single, ddl, probe, expected):
    c, admin = single
    get(c, EMBED)
    kept, loads = counters(admin)
    c.psql(ddl)
    assert get(c, probe) == expected
    k, l = counters(admin)
    assert k == kept, ddl
    assert l == loads + 1, ddl


def test_views_and_rpc_always_use_a_current_cache(single):
    c, admin = single
    get(c, "/book_titles")
    kept, loads = counters(admin)
    c.psql("ALTER TABLE public.unrelated ADD COLUMN other int")
    assert get(c, "/book_titles?id=eq.10") == [{"id": 10, "title": "First"}]
    assert counters(admin) == (kept, loads + 1)
    c.psql("CREATE FUNCTION public.one() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    assert get(c, "/rpc/one") == 1
    assert counters(admin) == (kept, loads + 2)


def test_an_unknown_name_is_looked_up_in_a_current_cache(single):
    """A plan that fails with the kept cache (here: a table created since) is made again with a
    reloaded one, whatever changed."""
    c, admin = single
    get(c, EMBED)
    kept, loads = counters(admin)
    c.psql("CREATE TABLE public.newcomer (id int); GRANT SELECT ON public.newcomer TO anonymous")
    assert get(c, "/newcomer") == []
    assert counters(admin) == (kept, loads + 1)


def test_non_ddl_churn_keeps_the_cache_without_a_fingerprint_check(single):
    c, admin = single
    get(c, EMBED)
    kept, loads = counters(admin)
    c.psql("ANALYZE public.authors; ANALYZE public.books")
    get(c, EMBED)
    get(c, EMBED)
    assert counters(admin) == (kept + 2, loads)
