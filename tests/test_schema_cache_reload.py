"""The schema cache reloads for DDL, not for the catalog churn of a busy database: every
relcache invalidation (ANALYZE, VACUUM, TRUNCATE, CREATE INDEX, temp tables, autovacuum) makes
an executor compare the catalog fingerprint, and only a changed one reloads (and drops the
prepared plans). Observed through pgrst_schema_cache_loads_total on the admin server."""

import pytest

from conftest import free_port
from test_operations import Admin

LOADS = 'pgrst_schema_cache_loads_total{status="SUCCESS"}'


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    from conftest import Cluster
    admin_port = free_port()
    # One executor: every request below is served by the same cache.
    c = Cluster(name="sc-reload", workers=1,
                extra_conf=[f"serendb_data_api.admin_server_port = {admin_port}"])
    try:
        c.start()
        c.psql("""
            CREATE TABLE public.churn (id int PRIMARY KEY, v text);
            INSERT INTO public.churn SELECT g, g::text FROM generate_series(1, 200) g;
            GRANT SELECT ON public.churn TO anonymous;
        """)
        admin = Admin(c, admin_port)
        assert c.wait_status("/churn", 200)
        yield c, admin
    finally:
        c.destroy()


def loads(admin):
    return admin.metrics()[LOADS]


def served(c, path="/churn?id=eq.7", status=200):
    r = c.http("GET", path)
    assert r.status == status, r
    return r


@pytest.mark.parametrize("sql", [
    "ANALYZE public.churn",
    "VACUUM public.churn",
    "VACUUM FULL public.churn",
    "UPDATE public.churn SET v = v || 'x'",
    "CREATE INDEX ON public.churn (v)",
    "TRUNCATE public.churn; INSERT INTO public.churn SELECT g, g::text FROM generate_series(1, 200) g",
    "CREATE TEMP TABLE scratch (a serial PRIMARY KEY, b text); INSERT INTO scratch (b) VALUES ('x');"
    " ANALYZE scratch; CREATE INDEX ON scratch (b)",
])
def test_non_ddl_churn_keeps_the_cache(churn, sql):
    c, admin = churn
    served(c)
    before = loads(admin)
    c.psql(sql)
    for _ in range(3):
        served(c)
    assert loads(admin) == before, sql


@pytest.mark.parametrize("ddl, probe", [
    ("ALTER TABLE public.churn ADD COLUMN extra int", "/churn?select=id,extra&id=eq.7"),
    ("CREATE TABLE public.fresh (id int); GRANT SELECT ON public.fresh TO anonymous", "/fresh"),
    ("CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42';"
     " GRANT EXECUTE ON FUNCTION public.answer() TO anonymous", "/rpc/answer"),
    ("GRANT INSERT ON public.churn TO anonymous", None),
    ("REVOKE INSERT ON public.churn FROM anonymous", None),
    ("ALTER TABLE public.churn RENAME COLUMN v TO label", "/churn?select=label&id=eq.7"),
    ("CREATE VIEW public.churn_view AS SELECT id FROM public.churn;"
     " GRANT SELECT ON public.churn_view TO anonymous", "/churn_view?id=eq.7"),
])
def test_ddl_reloads_and_is_seen_by_the_next_request(churn, ddl, probe):
    c, admin = churn
    served(c)
    before = loads(admin)
    if probe:
        assert c.http("GET", probe).status in (400, 404)
    c.psql(ddl)
    if probe:
        served(c, probe)
    else:
        served(c)
    assert loads(admin) > before, ddl


def test_notify_pgrst_still_forces_a_reload(churn):
    c, admin = churn
    served(c)
    before = loads(admin)
    c.psql("NOTIFY pgrst, 'reload schema'")
    from conftest import wait_for
    # NOTIFY is delivered asynchronously: wait for the executor to have taken it.
    assert wait_for(lambda: (served(c), loads(admin) > before)[1], timeout=10)


def test_a_comment_is_read_with_the_next_invalidation(churn):
    """COMMENT sends no invalidation of its own (as in PostgREST, `NOTIFY pgrst` makes it
    known), but comments are in the fingerprint: the next invalidation, even a non-DDL one,
    reloads and the OpenAPI document has the new description."""
    c, admin = churn
    served(c)
    before = loads(admin)
    c.psql("COMMENT ON TABLE public.churn IS 'churned comment'; ANALYZE public.churn")
    r = c.http("GET", "/")
    assert r.status == 200 and b"churned comment" in r.body
    assert loads(admin) > before
