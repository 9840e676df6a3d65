"""Issue 11, the server defects real clients (postgrest-js, postgrest-py, supabase-js) ran into,
over real HTTP against tests/fixtures/client_defects.sql: values cast to types whose bare name
implies a length (character, bit), spreads of `*` next to aggregates, Prefer: timezone and what
Preference-Applied echoes, the explain media types and GeoJSON.

Expected data is computed by Postgres itself (psql on the same cluster) where it is data."""

import json
import os
from urllib.parse import quote

import pytest

from helpers import api, assert_error, set_guc, sql_json
from conftest import wait_for

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "client_defects.sql")


@pytest.fixture(scope="module", autouse=True)
def schema(cluster):
    with open(FIXTURE, encoding="utf-8") as f:
        cluster.psql(f.read())
    tok = cluster.token()
    ok = wait_for(lambda: cluster.http("GET", "/cd_users?select=username", token=tok).status
                  == 200, timeout=60)
    assert ok, "the schema cache never picked up the fixture"


def get(cluster, path, headers=None):
    return api(cluster, "GET", quote(path, safe="/?=&(),.:*!-><{}[]'~_@|^$;\"%"), headers=headers)


def ok_json(r, status=200):
    assert r.status == status, r
    return r.json()


# ---------------------------------------------------------------------------------------------
# character(n), bit(n): the value keeps its length in filters, bodies and RPC arguments
# ---------------------------------------------------------------------------------------------

def test_filters_on_character_n_match_the_whole_value(cluster):
    assert ok_json(get(cluster, "/cd_countries?select=iso,name&iso=eq.DZ")) == [
        {"iso": "DZ", "name": "Algeria"}]
    # char(n) compares without trailing blanks, a longer value matches nothing
    assert [r["iso"] for r in ok_json(get(cluster, "/cd_countries?select=iso&iso=eq.D"))] == ["D "]
    assert ok_json(get(cluster, "/cd_countries?select=iso&iso=eq.DZA")) == []
    assert ok_json(get(cluster, "/cd_countries?select=iso3&iso3=eq.FRA")) == [{"iso3": "FRA"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&iso=in.(DZ,FR)&order=iso"))
    assert got == [{"iso": "DZ"}, {"iso": "FR"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&iso=neq.DZ&order=iso"))
    assert got == [{"iso": "D "}, {"iso": "FR"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&iso=gte.E&order=iso"))
    assert got == [{"iso": "FR"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&codes=cs.{AL}"))
    assert got == [{"iso": "DZ"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&iso=eq(any).{DZ,FR}&order=iso"))
    assert got == [{"iso": "DZ"}, {"iso": "FR"}]
    got = ok_json(get(cluster, "/cd_countries?select=iso&or=(iso.eq.FR,iso.eq.XX)"))
    assert got == [{"iso": "FR"}]


def test_filters_on_bit_n_and_precision_types(cluster):
    assert ok_json(get(cluster, "/cd_flags?select=id&bits=eq.1010")) == [{"id": 1}]
    assert ok_json(get(cluster, "/cd_flags?select=id&vbits=eq.11")) == [{"id": 1}]
    assert ok_json(get(cluster, "/cd_flags?select=id&bits=in.(0001,1010)&order=id")) == [
        {"id": 1}, {"id": 2}]
    assert ok_json(get(cluster, "/cd_countries?select=iso&price=eq.1.50")) == [{"iso": "DZ"}]
    assert ok_json(get(cluster, "/cd_flags?select=id&at=eq.2024-01-02T03:04:05")) == [{"id": 1}]
    assert ok_json(get(cluster, "/cd_flags?select=id&t=eq.10:00:00.25%2B02")) == [{"id": 1}]


def test_writes_keep_character_n_values_whole(cluster):
    r = api(cluster, "POST", "/cd_countries", {"iso": "ES", "iso3": "ESP", "name": "Spain",
                                               "codes": ["ES", "EU"]},
            prefer="return=representation")
    assert ok_json(r, 201) == [{"iso": "ES", "iso3": "ESP", "name": "Spain", "price": None,
                               "codes": ["ES", "EU"]}]
    r = api(cluster, "POST", "/cd_countries", [{"iso": "IT", "iso3": "ITA", "name": "Italy"},
                                               {"iso": "PT", "iso3": "PRT", "name": "Portugal"}],
            prefer="return=representation")
    assert [c["iso"] for c in ok_json(r, 201)] == ["IT", "PT"]
    r = api(cluster, "PATCH", "/cd_countries?iso=eq.ES", {"iso3": "SPA"},
            prefer="return=representation")
    assert [c["iso3"] for c in ok_json(r)] == ["SPA"]
    r = api(cluster, "PUT", "/cd_countries?iso=eq.PT", {"iso": "PT", "iso3": "POR",
                                                        "name": "Portugal"},
            prefer="return=representation")
    assert [c["iso3"] for c in ok_json(r)] == ["POR"]
    r = api(cluster, "POST", "/cd_countries?on_conflict=iso", {"iso": "IT", "iso3": "ITL",
                                                              "name": "Italia"},
            prefer="return=representation,resolution=merge-duplicates")
    assert [(c["iso"], c["name"]) for c in ok_json(r, 200)] == [("IT", "Italia")]
    r = api(cluster, "POST", "/cd_countries", "iso,iso3,name\nNL,NLD,Netherlands\n",
            headers={"Content-Type": "text/csv"}, prefer="return=representation")
    assert [(c["iso"], c["iso3"]) for c in ok_json(r, 201)] == [("NL", "NLD")]
    assert api(cluster, "DELETE", "/cd_countries?iso=eq.NL").status == 204
    r = api(cluster, "POST", "/cd_flags", {"id": 3, "bits": "1111", "vbits": "101"},
            prefer="return=representation")
    assert [(f["bits"], f["vbits"]) for f in ok_json(r, 201)] == [("1111", "101")]
    # too long for the column: Postgres's own error, not a silently cut value
    r = api(cluster, "POST", "/cd_countries", {"iso": "ABC", "iso3": "ABC", "name": "x"})
    assert_error(r, 400, "22001")
    r = api(cluster, "DELETE", "/cd_countries?iso=in.(ES,IT,PT)", prefer="return=representation")
    assert sorted(c["iso"] for c in ok_json(r)) == ["ES", "IT", "PT"]
    assert api(cluster, "DELETE", "/cd_flags?bits=eq.1111").status == 204
    assert cluster.psql("SELECT count(*) FROM cd_flags") == "2"


def test_rpc_arguments_of_type_character_and_bit(cluster):
    assert ok_json(get(cluster, "/rpc/cd_country?code=DZ")) == "Algeria"
    assert ok_json(api(cluster, "POST", "/rpc/cd_country", {"code": "FR"})) == "France"
    assert ok_json(get(cluster, "/rpc/cd_flag_bits?b=1010")) == 1
    assert ok_json(api(cluster, "POST", "/rpc/cd_flag_bits", {"b": "0001"})) == 2
    r = api(cluster, "POST", "/rpc/cd_country", "code=DZ",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ok_json(r) == "Algeria"
    got = ok_json(api(cluster, "POST", "/rpc/cd_countries_in?select=iso&order=iso",
                      {"wanted": ["DZ", "FR"]}))
    assert got == [{"iso": "DZ"}, {"iso": "FR"}]
    got = ok_json(get(cluster, "/rpc/cd_countries_in?wanted={FR}&select=iso"))
    assert got == [{"iso": "FR"}]


# ---------------------------------------------------------------------------------------------
# spread of `*` next to an aggregate (postgrest-js relationships-spread-operations test)
# ---------------------------------------------------------------------------------------------

def test_spread_star_next_to_an_aggregate(cluster):
    set_guc(cluster, "db_aggregates_enabled", "on")
    try:
        r = get(cluster, "/cd_users?select=username,cd_messages(cd_channels(count(),"
                         "...cd_channel_details(*)))&username=eq.supabot&limit=1",
                headers={"Accept": "application/vnd.pgrst.object+json"})
        body = ok_json(r)
        expected = sql_json(cluster, """
            SELECT json_build_object('username', 'supabot', 'cd_messages', json_agg(
              json_build_object('cd_channels', json_build_object(
                'count', 1, 'id', d.id, 'details', d.details)) ORDER BY m.id))
            FROM cd_messages m LEFT JOIN cd_channel_details d ON d.id = m.channel_id
            WHERE m.username = 'supabot'""")
        assert body == expected
        assert list(body["cd_messages"][0]["cd_channels"]) == ["count", "id", "details"]
        # the same with a to-many spread of `*` and with a sum
        r = get(cluster, "/cd_channels?select=slug,cd_messages(count(),...cd_users(*))&id=eq.1")
        assert ok_json(r) == [{"slug": "public",
                               "cd_messages": [{"count": 1, "username": "supabot"}]}]
        r = get(cluster, "/cd_users?select=username,cd_messages(cd_channels(id.sum(),"
                         "...cd_channel_details(details)))&username=eq.supabot&cd_messages.order=id")
        got = ok_json(r)[0]["cd_messages"]
        assert [m["cd_channels"]["sum"] for m in got] == [1, 2, 3]
    finally:
        set_guc(cluster, "db_aggregates_enabled", None)


# ---------------------------------------------------------------------------------------------
# Prefer: timezone, and Preference-Applied echoing only what was applied
# ---------------------------------------------------------------------------------------------

def test_prefer_timezone_sets_the_response_time_zone(cluster):
    r = get(cluster, "/cd_events?order=id",
            headers={"Prefer": "handling=strict, timezone=America/Los_Angeles"})
    assert ok_json(r) == [{"id": 1, "at": "2023-10-18T05:37:59.611-07:00"},
                          {"id": 2, "at": "2023-10-18T07:37:59.611-07:00"}]
    assert r.header("Preference-Applied") == "handling=strict, timezone=America/Los_Angeles"
    r = get(cluster, "/cd_events?order=id&limit=1", headers={"Prefer": "timezone=+05:30"})
    assert ok_json(r) == [{"id": 1, "at": "2023-10-18T07:07:59.611-05:30"}]
    assert r.header("Preference-Applied") == "timezone=+05:30"
    # the time zone is the request's only: the next request answers in UTC again
    r = get(cluster, "/cd_events?order=id&limit=1")
    assert ok_json(r) == [{"id": 1, "at": "2023-10-18T12:37:59.611+00:00"}]
    assert r.header("Preference-Applied") is None
    # writes and calls too
    r = api(cluster, "PATCH", "/cd_events?id=eq.2", {"at": "2023-10-18 16:37:59.611+02"},
            prefer="return=representation, timezone=Asia/Tokyo")
    assert ok_json(r) == [{"id": 2, "at": "2023-10-18T23:37:59.611+09:00"}]


@pytest.mark.parametrize("handling", ["", "handling=strict, ", "handling=lenient, "])
def test_an_unknown_time_zone_is_400(cluster, handling):
    r = get(cluster, "/cd_events", headers={"Prefer": handling + "timezone=Invalid/Timezone"})
    body = assert_error(r, 400, "22023")
    assert body["message"] == 'invalid value for parameter "TimeZone": "Invalid/Timezone"'
    r = get(cluster, "/cd_events", headers={"Prefer": "timezone=05:30:15"})
    body = assert_error(r, 400, "22023")
    assert body["details"] == "PostgreSQL does not support leap seconds."


def test_resolution_is_not_echoed_for_a_table_without_a_primary_key(cluster):
    r = api(cluster, "POST", "/cd_nopk", [{"name": "a", "value": 1}],
            prefer="resolution=merge-duplicates, return=representation")
    assert ok_json(r, 201) == [{"name": "a", "value": 1}]
    assert r.header("Preference-Applied") == "return=representation"
    r = api(cluster, "POST", "/cd_nopk", {"name": "a", "value": 2},
            prefer="resolution=ignore-duplicates")
    assert r.status == 201, r
    assert r.header("Preference-Applied") is None
    assert cluster.psql("SELECT count(*) FROM cd_nopk") == "2"
    # with on_conflict (a unique index) it is applied and echoed
    cluster.psql("CREATE UNIQUE INDEX IF NOT EXISTS cd_nopk_name ON cd_nopk (name, value)")
    r = api(cluster, "POST", "/cd_nopk?on_conflict=name,value", {"name": "a", "value": 2},
            prefer="resolution=ignore-duplicates")
    assert r.status == 201, r
    assert r.header("Preference-Applied") == "resolution=ignore-duplicates"
    assert cluster.psql("SELECT count(*) FROM cd_nopk") == "2"
    # a table with a primary key echoes it
    r = api(cluster, "POST", "/cd_users", {"username": "supabot"},
            prefer="resolution=ignore-duplicates")
    assert r.status == 201, r
    assert r.header("Preference-Applied") == "resolution=ignore-duplicates"
    # PATCH/DELETE never echo resolution
    r = api(cluster, "PATCH", "/cd_nopk?name=eq.zz", {"value": 3},
            prefer="resolution=merge-duplicates")
    assert r.status == 204 and r.header("Preference-Applied") is None, r


# ---------------------------------------------------------------------------------------------
# Accept: application/vnd.pgrst.plan (db_plan_enabled), as PostgREST's PlanSpec
# ---------------------------------------------------------------------------------------------

PLAN = "application/vnd.pgrst.plan"


def plan_cost(r):
    assert r.status == 200, r
    return r.json()[0]["Plan"]["Total Cost"]


def test_plans_are_406_unless_db_plan_enabled(cluster):
    for method, path in [("GET", "/cd_countries?iso=in.(DZ,FR)"),
                         ("GET", "/rpc/cd_countries_named?pattern=F%25"),
                         ("DELETE", "/cd_countries?iso=in.(DZ,FR)")]:
        r = api(cluster, method, path, headers={"Accept": PLAN})
        body = assert_error(r, 406, "PGRST107")
        assert body["message"] == ("None of these media types are available: "
                                   'application/vnd.pgrst.plan+text; for="application/json"')
    assert cluster.psql("SELECT count(*) FROM cd_countries WHERE iso IN ('DZ', 'FR')") == "2"


@pytest.fixture
def plans_on(cluster):
    set_guc(cluster, "db_plan_enabled", "on")
    yield
    set_guc(cluster, "db_plan_enabled", None)


def test_plan_of_reads_calls_and_writes(cluster, plans_on):
    r = get(cluster, "/cd_countries?iso=in.(DZ,FR)", headers={"Accept": PLAN + "+json"})
    assert r.header("Content-Type") == \
        'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8'
    assert plan_cost(r) > 0
    r = get(cluster, "/rpc/cd_countries_named?pattern=F%25", headers={"Accept": PLAN + "+json"})
    assert plan_cost(r) > 0
    for method, path, body in [("POST", "/cd_nopk", {"name": "plan", "value": 1}),
                               ("PATCH", "/cd_countries?iso=eq.FR", {"name": "Patched"}),
                               ("DELETE", "/cd_countries?iso=in.(DZ,FR)", None),
                               ("PUT", "/cd_countries?iso=eq.FR",
                                {"iso": "FR", "iso3": "FRA", "name": "France"})]:
        r = api(cluster, method, path, body, headers={"Accept": PLAN + "+json"})
        assert r.header("Content-Type") == \
            'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8', r
        assert plan_cost(r) > 0
    # without analyze nothing ran
    assert cluster.psql("SELECT count(*) FROM cd_nopk WHERE name = 'plan'") == "0"
    assert cluster.psql("SELECT string_agg(name, ',' ORDER BY iso) FROM cd_countries "
                        "WHERE iso IN ('DZ', 'FR')") == "Algeria,France"


def test_plan_text_is_the_default_format(cluster, plans_on):
    for accept in [PLAN, PLAN + "+text"]:
        r = get(cluster, "/cd_countries?iso=in.(DZ,FR)", headers={"Accept": accept})
        assert r.status == 200, r
        assert r.header("Content-Type") == \
            'application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8'
        # one aggregate over the rows, as PostgREST's read (postgrest-py's test looks for it)
        assert r.text.startswith("Aggregate  (cost="), r.text
        assert "Index Cond: (iso = ANY (" in r.text


def test_plan_options_and_for(cluster, plans_on):
    r = get(cluster, "/cd_countries", headers={"Accept": PLAN + "+json; options=buffers"})
    assert r.header("Content-Type") == \
        'application/vnd.pgrst.plan+json; for="application/json"; options=buffers; charset=utf-8'
    assert "Shared Hit Blocks" in r.text
    r = get(cluster, "/cd_countries", headers={"Accept": PLAN + "+json; options=settings"})
    assert r.json()[0]["Settings"]["search_path"] == '"public", "public"'
    set_guc(cluster, "db_extra_search_path", "cd_ext, public")
    try:
        r = get(cluster, "/cd_countries", headers={"Accept": PLAN + "+json; options=settings"})
        assert r.json()[0]["Settings"]["search_path"] == '"public", "cd_ext", "public"'
    finally:
        set_guc(cluster, "db_extra_search_path", None)
    r = get(cluster, "/cd_countries", headers={"Accept": PLAN + "+json; options=analyze|wal"})
    assert r.header("Content-Type") == ('application/vnd.pgrst.plan+json; for="application/json"'
                                        '; options=analyze|wal; charset=utf-8')
    assert r.json()[0]["Plan"]["WAL Records"] == 0
    assert "Execution Time" in r.json()[0]
    r = get(cluster, "/cd_countries", headers={"Accept": PLAN + "+json; options=verbose"})
    plan = r.json()[0]
    assert "Query Identifier" in plan
    assert plan["Plan"]["Node Type"] == "Aggregate"
    assert any("json_agg" in o for o in plan["Plan"]["Output"])
    r = get(cluster, "/cd_countries?iso=eq.DZ",
            headers={"Accept": PLAN + '+json; for="application/vnd.pgrst.object"; options=verbose'})
    assert r.header("Content-Type") == ('application/vnd.pgrst.plan+json; '
                                        'for="application/vnd.pgrst.object+json"; '
                                        'options=verbose; charset=utf-8')
    assert any("-> 0" in o for o in r.json()[0]["Plan"]["Output"])
    r = get(cluster, "/cd_countries", headers={"Accept": PLAN + '; for="text/csv"'})
    assert r.header("Content-Type") == \
        'application/vnd.pgrst.plan+text; for="text/csv"; charset=utf-8'
    assert "string_agg" not in r.text and "Aggregate" in r.text
    body = assert_error(get(cluster, "/cd_countries",
                            headers={"Accept": PLAN + '; for="text/xml"'}), 406, "PGRST107")
    assert body["message"] == ("None of these media types are available: "
                               'application/vnd.pgrst.plan+text; for="text/xml"')


def test_plan_with_analyze_runs_the_write_as_postgrest(cluster, plans_on):
    # like EXPLAIN ANALYZE (and PostgREST) the write happens and is committed ...
    r = api(cluster, "POST", "/cd_nopk", {"name": "analyzed", "value": 1},
            headers={"Accept": PLAN + "+json; options=analyze"})
    assert plan_cost(r) > 0
    assert r.json()[0]["Plan"]["Actual Rows"] == 1
    assert cluster.psql("SELECT count(*) FROM cd_nopk WHERE name = 'analyzed'") == "1"
    # ... unless Prefer: tx=rollback (db_tx_end allowing it) rolls it back
    set_guc(cluster, "db_tx_end", "commit-allow-override")
    try:
        r = api(cluster, "DELETE", "/cd_nopk?name=eq.analyzed", prefer="tx=rollback",
                headers={"Accept": PLAN + "; options=analyze"})
        assert r.status == 200 and "actual time=" in r.text, r
        assert cluster.psql("SELECT count(*) FROM cd_nopk WHERE name = 'analyzed'") == "1"
    finally:
        set_guc(cluster, "db_tx_end", None)
    r = api(cluster, "DELETE", "/cd_nopk?name=eq.analyzed",
            headers={"Accept": PLAN + "; options=analyze"})
    assert r.status == 200, r
    assert cluster.psql("SELECT count(*) FROM cd_nopk WHERE name = 'analyzed'") == "0"


def test_plan_errors_are_the_statement_errors(cluster, plans_on):
    assert_error(get(cluster, "/cd_nope", headers={"Accept": PLAN}), 404, "PGRST205")
    assert_error(get(cluster, "/cd_countries?nope=eq.1", headers={"Accept": PLAN}), 400,
                 "42703")
    # the OpenAPI root has no plan
    assert_error(get(cluster, "/", headers={"Accept": PLAN}), 406, "PGRST107")


# ---------------------------------------------------------------------------------------------
# Accept: application/geo+json (PostgREST's PostGISSpec)
# ---------------------------------------------------------------------------------------------

def test_geojson_is_406_without_postgis(make_cluster):
    c = make_cluster(name="nogis", workers=1)
    c.psql("CREATE TABLE cd_plain (id int); GRANT SELECT ON cd_plain TO authenticated")
    tok = c.token()
    assert wait_for(lambda: c.http("GET", "/cd_plain", token=tok).status == 200, timeout=30)
    r = c.http("GET", "/cd_plain", headers={"Accept": "application/geo+json"}, token=tok)
    body = assert_error(r, 406, "PGRST107")
    assert body["message"] == "None of these media types are available: application/geo+json"


@pytest.fixture(scope="module")
def postgis(cluster, schema):
    path = os.path.join(os.path.dirname(__file__), "fixtures", "client_defects_postgis.sql")
    with open(path, encoding="utf-8") as f:
        cluster.psql(f.read())
    tok = cluster.token()
    ok = wait_for(lambda: cluster.http("GET", "/cd_shops", headers={
        "Accept": "application/geo+json"}, token=tok).status == 200, timeout=60)
    assert ok, cluster.http("GET", "/cd_shops", headers={"Accept": "application/geo+json"},
                            token=tok)


GEO = {"Accept": "application/geo+json"}


def feature(id_, lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"id": id_, **props}}


def test_geojson_feature_collections(cluster, postgis):
    r = get(cluster, "/cd_shops?order=id", headers=GEO)
    assert r.header("Content-Type") == "application/geo+json; charset=utf-8"
    assert ok_json(r) == {"type": "FeatureCollection", "features": [
        feature(1, -71.10044, 42.373695, address="1369 Cambridge St"),
        feature(2, -71.10543, 42.366432, address="757 Massachusetts Ave"),
        feature(3, -71.081924, 42.36437, address="605 W Kendall St")]}
    assert ok_json(get(cluster, "/cd_shops?id=gt.3", headers=GEO)) == {
        "type": "FeatureCollection", "features": []}
    assert ok_json(get(cluster, "/cd_shops?select=id,shop_geom&id=eq.1", headers=GEO)) == {
        "type": "FeatureCollection", "features": [feature(1, -71.10044, 42.373695)]}
    assert ok_json(get(cluster, "/rpc/cd_shop?id=2&select=id,shop_geom", headers=GEO)) == {
        "type": "FeatureCollection", "features": [feature(2, -71.10543, 42.366432)]}
    # without a geometry column: PostGIS's own error
    body = assert_error(get(cluster, "/cd_countries", headers=GEO), 400, "22023")
    assert body["message"] == "geometry column is missing"
    # a scalar has no row to make a feature of
    assert_error(get(cluster, "/rpc/cd_country?code=DZ", headers=GEO), 406, "PGRST107")
    # the plain JSON output is the geometry's GeoJSON object
    shop = ok_json(get(cluster, "/cd_shops?id=eq.1"))[0]
    assert shop["shop_geom"]["coordinates"] == [-71.10044, 42.373695]


def test_geojson_after_writes(cluster, postgis):
    rep = dict(GEO, Prefer="return=representation")
    r = api(cluster, "POST", "/cd_shops", {"id": 4, "address": "1354 Massachusetts Ave",
                                           "shop_geom": "SRID=4326;POINT(-71.11834 42.373238)"},
            headers=rep)
    assert ok_json(r, 201) == {"type": "FeatureCollection", "features": [
        feature(4, -71.11834, 42.373238, address="1354 Massachusetts Ave")]}
    assert r.header("Content-Type") == "application/geo+json; charset=utf-8"
    r = api(cluster, "PATCH", "/cd_shops?id=eq.4", {"address": "1354 Mass Ave"}, headers=rep)
    assert ok_json(r)["features"][0]["properties"] == {"id": 4, "address": "1354 Mass Ave"}
    r = api(cluster, "PUT", "/cd_shops?id=eq.4", {"id": 4, "address": "PUT"}, headers=rep)
    assert ok_json(r)["features"][0]["properties"] == {"id": 4, "address": "PUT"}
    r = api(cluster, "DELETE", "/cd_shops?id=eq.4", headers=rep)
    assert ok_json(r)["features"][0]["properties"] == {"id": 4, "address": "PUT"}


def test_plan_for_geojson(cluster, postgis, plans_on):
    r = get(cluster, "/cd_shops", headers={
        "Accept": 'application/vnd.pgrst.plan+json; for="application/geo+json"; options=verbose'})
    assert r.header("Content-Type") == ('application/vnd.pgrst.plan+json; '
                                        'for="application/geo+json"; options=verbose; '
                                        'charset=utf-8')
    assert "st_asgeojson" in r.text
