"""The prepared-plan cache is bounded in bytes (serendb_data_api.plan_cache_size) with
least-recently-used eviction: many distinct large statements do not grow an executor's memory
past the budget, and the statements still answer right."""

import re
import pytest

from conftest import Cluster, wait_for


def executor_memory(c):
    """The executor's total memory-context bytes, as Postgres logs them."""
    pid = c.psql("SELECT pid FROM pg_stat_activity "
                 "WHERE backend_type = 'serendb_data_api executor'", db="postgres")
    mark = len(c.log())
    c.psql(f"SELECT pg_log_backend_memory_contexts({pid})", db="postgres")
    found = wait_for(lambda: re.findall(r"Grand total: (\d+) bytes", c.log()[mark:]), timeout=10)
    assert found, c.log()[-2000:]
    return int(found[-1])


@pytest.mark.parametrize("size_kb,kept", [(1024, False), (1024 * 1024, True)])
def test_large_plans_are_evicted(make_cluster, size_kb, kept):
    """40 distinct statements of ~170 KB of plan each: with a 1 MB budget the executor's memory
    does not grow by more than about the budget; with a 1 GB budget they are all kept (which
    shows what the measurement sees)."""
    c = make_cluster(name="plans", workers=1,
                     extra_conf=[f"serendb_data_api.plan_cache_size = '{size_kb}kB'"])
    c.psql("CREATE TABLE nums (n int PRIMARY KEY); INSERT INTO nums SELECT generate_series(1, 100);"
           "GRANT SELECT ON nums TO anonymous;")
    c.expect_status("/nums?limit=1", 200)
    base = executor_memory(c)
    for i in range(40):
        # an or= list: one bind parameter and one expression per term
        terms = ",".join(f"n.eq.{v}" for v in range(1000 + i, 2500 + i)) + f",n.eq.{i + 1}"
        r = c.http("GET", f"/nums?select=n&or=({terms})")
        assert r.status == 200 and r.json() == [{"n": i + 1}], r
    grown = executor_memory(c) - base
    if kept:
        assert grown > 4 * 1024 * 1024, grown
    else:
        assert grown < 2 * 1024 * 1024, grown
    # Evicted plans are simply prepared again.
    terms = ",".join(f"n.eq.{v}" for v in range(1000, 2500)) + ",n.eq.1"
    assert c.http("GET", f"/nums?select=n&or=({terms})").json() == [{"n": 1}]
