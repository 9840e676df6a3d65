"""Issue 4, writes: POST (JSON object/array, columns=, missing=default, CSV, form bodies),
return=minimal|representation|headers-only, upserts, PUT, PATCH, DELETE, counts, max-affected,
tx=rollback, Preference-Applied, handling=strict and constraint errors, over real HTTP against
tests/fixtures/feature_schema.sql.

Every failed write checks with psql that the table is unchanged afterwards; expected rows and
error bodies come from Postgres itself."""

import pytest

from helpers import api as req, assert_error, load_feature_schema, set_guc, sql_json

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module", autouse=True)
def feature_schema(cluster):
    load_feature_schema(cluster, "/ft_kv?select=hits&limit=1", 200)


@pytest.fixture(autouse=True)
def fresh_rows(cluster):
    cluster.psql("SELECT public.ft_reset_write_data()")
    yield


def snapshot(cluster, table):
    return cluster.psql(f"SELECT coalesce(json_agg(t ORDER BY t), '[]') FROM public.{table} t")


def rows(cluster, table, where="true", cols="*", order="1"):
    return sql_json(cluster, f"SELECT coalesce(json_agg(to_json(x) ORDER BY {order}), '[]') FROM "
                             f"(SELECT {cols} FROM public.{table} WHERE {where}) x")


def pg_error(cluster, statement):
    """The error body Postgres itself raises for `statement` (rolled back)."""
    return sql_json(cluster, f"""
CREATE FUNCTION pg_temp.ft_try(q text) RETURNS json LANGUAGE plpgsql AS $f$
DECLARE s text; m text; d text; h text;
BEGIN
  EXECUTE q;
  RAISE EXCEPTION 'ft_try: no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
                          h = PG_EXCEPTION_HINT;
  RETURN json_build_object('code', s, 'message', m, 'details', nullif(d, ''),
                           'hint', nullif(h, ''));
END $f$;
SELECT pg_temp.ft_try($q${statement}$q$);
""")


def prefs(r):
    return sorted(p.strip() for p in (r.header("Preference-Applied") or "").split(",") if p.strip())


@pytest.fixture
def guc(cluster):
    """Set reloadable settings for one test; every one touched is reset afterwards."""
    touched = []

    def setter(name, value):
        touched.append(name)
        set_guc(cluster, name, value)

    yield setter
    for name in set(touched):
        set_guc(cluster, name, None)


# ---------------------------------------------------------------------------------------------
# POST
# ---------------------------------------------------------------------------------------------

def test_post_one_object_answers_201_without_body(cluster):
    r = req(cluster, "POST", "/ft_items", {"name": "saw", "qty": 2, "tags": ["a", "b c"],
                                           "attrs": {"k": [1, None]}})
    assert r.status == 201 and r.body == b"", r
    assert r.header("Location") is None
    got = rows(cluster, "ft_items", "name = 'saw'")
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', 100, 'name', 'saw',
        'qty', 2, 'note', 'none', 'sku', NULL, 'category_id', NULL, 'tags', '{a,"b c"}'::text[],
        'attrs', '{"k": [1, null]}'::jsonb, 'price', NULL))""")
    assert got == expected


def test_post_array_with_representation(cluster):
    r = req(cluster, "POST", "/ft_items", [{"name": "a1", "qty": 1}, {"name": "a2", "qty": 2}],
            prefer="return=representation")
    assert r.status == 201, r
    assert r.json() == rows(cluster, "ft_items", "id >= 100", order="id")
    assert len(r.json()) == 2
    assert prefs(r) == ["return=representation"]
    assert r.header("Content-Type").startswith("application/json")


def test_post_representation_honours_select_and_embeds(cluster):
    r = req(cluster, "POST", "/ft_items?select=id,name,cat:ft_categories(name)",
            [{"name": "e1", "category_id": 2}, {"name": "e2", "category_id": None}],
            prefer="return=representation")
    assert r.status == 201, r
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', i.id, 'name', i.name,
        'cat', (SELECT json_build_object('name', c.name) FROM ft_categories c
                WHERE c.id = i.category_id)) ORDER BY i.id) FROM ft_items i WHERE i.id >= 100""")
    assert r.json() == expected
    r = req(cluster, "POST", "/ft_categories?select=id,ft_items(name)", {"id": 7, "name": "new"},
            prefer="return=representation")
    assert r.status == 201 and r.json() == [{"id": 7, "ft_items": []}]
    r = req(cluster, "POST", "/ft_items?select=ident:id::text,label:name", {"name": "cast"},
            prefer="return=representation")
    assert r.status == 201, r
    assert r.json() == sql_json(cluster, "SELECT json_agg(json_build_object('ident', id::text, "
                                         "'label', name)) FROM ft_items WHERE name = 'cast'")


def test_post_columns_restricts_keys_and_missing_keys_become_null(cluster):
    r = req(cluster, "POST", "/ft_items?columns=name,note", [{"name": "c1", "note": "x",
                                                               "qty": 99, "bogus": 1},
                                                              {"name": "c2"}],
            prefer="return=representation")
    assert r.status == 201, r
    assert r.json() == rows(cluster, "ft_items", "id >= 100", order="id")
    got = rows(cluster, "ft_items", "id >= 100", cols="name, qty, note", order="name")
    # qty was not listed: default; note listed but missing in the 2nd object: NULL
    assert got == sql_json(cluster, """SELECT json_agg(x) FROM (VALUES ('c1', 1, 'x'),
        ('c2', 1, NULL)) AS x(name, qty, note)""")


def test_post_missing_default_uses_column_defaults(cluster):
    before = snapshot(cluster, "ft_items")
    body = [{"name": "m1"}, {"name": "m2", "qty": 3}]
    r = req(cluster, "POST", "/ft_items?columns=name,qty,note", body)
    assert_error(r, 400, "23502")  # qty listed and missing: NULL into a NOT NULL column
    assert snapshot(cluster, "ft_items") == before
    r = req(cluster, "POST", "/ft_items?columns=name,qty,note&select=name,qty,note", body,
            prefer="return=representation, missing=default")
    assert r.status == 201, r
    assert prefs(r) == ["missing=default", "return=representation"]
    assert r.json() == rows(cluster, "ft_items", "id >= 100", cols="name, qty, note",
                            order="name")
    assert r.json() == [{"name": "m1", "qty": 1, "note": "none"},
                        {"name": "m2", "qty": 3, "note": "none"}]


@pytest.mark.parametrize("resolution", ["", ", resolution=merge-duplicates"])
def test_missing_default_draws_an_identity(cluster, resolution):
    r = req(cluster, "POST", "/ft_items?columns=id,name&select=id,name,qty",
            [{"id": 1, "name": "hammer-upd"}, {"name": "fresh"}] if resolution else
            [{"id": 50, "name": "explicit"}, {"name": "fresh"}],
            prefer="return=representation, missing=default" + resolution)
    assert r.status == 201, r
    fresh = rows(cluster, "ft_items", "name = 'fresh'", cols="id, name, qty")
    assert len(fresh) == 1 and fresh[0]["id"] >= 100
    assert fresh[0] in r.json()


BIG = "123456789012345678901234567890.123456789"


def test_post_keeps_numeric_and_jsonb_number_precision(cluster):
    body = '{"name": "exact", "price": %s, "attrs": {"n": 12345678901234567890123}}' % BIG
    r = req(cluster, "POST", "/ft_items", body, headers=JSON)
    assert r.status == 201, r
    got = cluster.psql("SELECT price::text || '|' || (attrs->'n')::text FROM ft_items "
                       "WHERE name = 'exact'")
    assert got == cluster.psql(f"SELECT '{BIG}'::numeric::text || '|' || "
                               f"('{{\"n\": 12345678901234567890123}}'::jsonb->'n')::text")


def test_patch_keeps_numeric_scale(cluster):
    r = req(cluster, "PATCH", "/ft_items?id=eq.1&select=id", '{"price": 1.10}', headers=JSON)
    assert r.status == 204, r
    assert cluster.psql("SELECT price::text FROM ft_items WHERE id = 1") == \
        cluster.psql("SELECT '1.10'::numeric::text")


def test_post_csv_body(cluster):
    csv = 'name,qty,note,tags\ncsv1,4,NULL,"{x,y}"\n"csv, two",5,"q""t",{}'
    r = req(cluster, "POST", "/ft_items?select=name,qty,note,tags", csv,
            headers={"Content-Type": "text/csv"}, prefer="return=representation")
    assert r.status == 201, r
    got = rows(cluster, "ft_items", "id >= 100", cols="name, qty, note, tags", order="qty")
    assert r.json() == got
    assert got == sql_json(cluster, """SELECT json_agg(json_build_object('name', n, 'qty', q,
        'note', t, 'tags', g) ORDER BY q) FROM (VALUES ('csv1', 4, NULL, '{x,y}'::text[]),
        ('csv, two', 5, 'q"t', '{}'::text[])) v(n, q, t, g)""")


def test_post_csv_with_ragged_lines_is_pgrst102(cluster):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "POST", "/ft_items", "name,qty\nx,1\ny", headers={"Content-Type": "text/csv"})
    assert_error(r, 400, "PGRST102")
    assert snapshot(cluster, "ft_items") == before


def test_post_form_urlencoded_body(cluster):
    r = req(cluster, "POST", "/ft_items?select=name,qty,note",
            "name=form+item&qty=7&note=a%26b%3Dc",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            prefer="return=representation")
    assert r.status == 201, r
    assert r.json() == [{"name": "form item", "qty": 7, "note": "a&b=c"}]
    assert rows(cluster, "ft_items", "id >= 100", cols="name, qty, note") == r.json()


def test_post_unknown_column_is_pgrst204(cluster):
    before = snapshot(cluster, "ft_items")
    body = assert_error(req(cluster, "POST", "/ft_items", {"name": "x", "colour": "red"}),
                        400, "PGRST204")
    assert body["message"] == "Could not find the 'colour' column of 'ft_items' in the schema cache"
    body = assert_error(req(cluster, "POST", "/ft_items?columns=name,colour", {"name": "x"}),
                        400, "PGRST204")
    assert "'colour'" in body["message"]
    assert snapshot(cluster, "ft_items") == before


def test_a_malformed_body_is_reported_before_an_unknown_target(cluster):
    # PostgREST decodes the body while building its ApiRequest, before the schema cache is
    # consulted: PGRST102 wins over the 404 of an unknown table or function
    for path in ["/no_such_table", "/rpc/no_such_function"]:
        assert_error(req(cluster, "POST", path, '{"name":', headers=JSON), 400, "PGRST102")
    assert_error(req(cluster, "PATCH", "/no_such_table?id=eq.1", "x=", headers={
        "Content-Type": "text/plain"}), 400, "PGRST102")
    # a well-formed body reaches the lookup
    assert_error(req(cluster, "POST", "/no_such_table", {"name": "x"}), 404, "PGRST205")


@pytest.mark.parametrize("raw", ['{"name":', "", "[{]", "{'name': 'x'}",
                                 '[{"name": "a"}, {"qty": 1}]'])
def test_post_invalid_json_is_pgrst102(cluster, raw):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "POST", "/ft_items", raw, headers=JSON)
    assert_error(r, 400, "PGRST102")
    assert snapshot(cluster, "ft_items") == before


def test_post_empty_array(cluster):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "POST", "/ft_items", [], prefer="return=representation")
    assert r.status == 201 and r.json() == [], r
    r = req(cluster, "POST", "/ft_items", [])
    assert r.status == 201 and r.body == b"", r
    assert snapshot(cluster, "ft_items") == before


def test_return_minimal_and_headers_only(cluster):
    r = req(cluster, "POST", "/ft_items", {"name": "min"}, prefer="return=minimal")
    assert r.status == 201 and r.body == b"", r
    assert prefs(r) == ["return=minimal"]
    assert r.header("Location") is None
    r = req(cluster, "POST", "/ft_items", {"name": "hdr"}, prefer="return=headers-only")
    assert r.status == 201 and r.body == b"", r
    new_id = cluster.psql("SELECT id FROM ft_items WHERE name = 'hdr'")
    assert r.header("Location") == f"/ft_items?id=eq.{new_id}"
    assert prefs(r) == ["return=headers-only"]
    r = req(cluster, "POST", "/ft_kv", {"ns": "n s", "key": "k/1", "value": "v"},
            prefer="return=headers-only")
    assert r.status == 201, r
    loc = r.header("Location")
    assert loc.startswith("/ft_kv?") and "ns=eq." in loc and "key=eq." in loc
    # the Location must lead back to the row
    back = cluster.http("GET", loc, token=cluster.token())
    assert back.status == 200 and back.json() == rows(cluster, "ft_kv", "ns = 'n s'")


def test_count_exact_on_insert(cluster):
    r = req(cluster, "POST", "/ft_items", [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            prefer="count=exact")
    assert r.status == 201, r
    assert r.header("Content-Range") == "*/3"


# ---------------------------------------------------------------------------------------------
# upserts and PUT
# ---------------------------------------------------------------------------------------------

def test_upsert_merge_duplicates_on_primary_key(cluster):
    r = req(cluster, "POST", "/ft_kv", [{"ns": "app", "key": "theme", "value": "blue"},
                                        {"ns": "new", "key": "k", "value": "v"}],
            prefer="return=representation, resolution=merge-duplicates")
    assert r.status == 201, r
    assert prefs(r) == ["resolution=merge-duplicates", "return=representation"]
    assert sorted(r.json(), key=lambda x: x["ns"]) == rows(
        cluster, "ft_kv", "(ns, key) IN (('app', 'theme'), ('new', 'k'))", order="ns")
    # merge keeps the columns the payload does not mention (hits stays 1)
    assert rows(cluster, "ft_kv", "ns = 'app' AND key = 'theme'", cols="value, hits") == \
        [{"value": "blue", "hits": 1}]
    assert rows(cluster, "ft_kv", "ns = 'app' AND key = 'lang'", cols="value") == \
        [{"value": "en"}]


def test_upsert_updating_every_row_answers_200(cluster):
    r = req(cluster, "POST", "/ft_kv", [{"ns": "app", "key": "lang", "value": "de"}],
            prefer="return=representation, resolution=merge-duplicates")
    assert r.status == 200, r
    assert r.json() == rows(cluster, "ft_kv", "ns = 'app' AND key = 'lang'")


def test_upsert_ignore_duplicates(cluster):
    before_app = rows(cluster, "ft_kv", "ns = 'app'")
    r = req(cluster, "POST", "/ft_kv", [{"ns": "app", "key": "lang", "value": "de"},
                                        {"ns": "new2", "key": "k", "value": "v"}],
            prefer="return=representation, resolution=ignore-duplicates")
    assert r.status == 201, r
    assert prefs(r) == ["resolution=ignore-duplicates", "return=representation"]
    assert r.json() == rows(cluster, "ft_kv", "ns = 'new2'")
    assert rows(cluster, "ft_kv", "ns = 'app'") == before_app


def test_upsert_on_conflict_unique_column(cluster):
    r = req(cluster, "POST", "/ft_items?on_conflict=sku&select=id,name,qty,sku",
            [{"name": "hammer2", "sku": "H-1", "qty": 9}, {"name": "new", "sku": "N-1", "qty": 1}],
            prefer="return=representation, resolution=merge-duplicates")
    assert r.status == 201, r
    assert sorted(r.json(), key=lambda x: x["sku"]) == rows(
        cluster, "ft_items", "sku IN ('H-1', 'N-1')", cols="id, name, qty, sku", order="sku")
    assert rows(cluster, "ft_items", "sku = 'H-1'", cols="id, name, qty, note") == \
        [{"id": 1, "name": "hammer2", "qty": 9, "note": "heavy"}]
    before = snapshot(cluster, "ft_items")
    # PostgREST answers 200 only for merge-duplicates that inserted nothing; ignoring is a 201.
    r = req(cluster, "POST", "/ft_items?on_conflict=sku", [{"name": "dup", "sku": "W-1"}],
            prefer="return=representation, resolution=ignore-duplicates")
    assert r.status == 201 and r.json() == [], r
    assert snapshot(cluster, "ft_items") == before
    r = req(cluster, "POST", "/ft_kv", [], prefer="return=representation, "
                                               "resolution=merge-duplicates")
    assert r.status == 200 and r.json() == [], r


def test_upsert_on_conflict_with_several_columns(cluster):
    r = req(cluster, "POST", "/ft_kv?on_conflict=ns,key&select=ns,key,value,hits",
            [{"ns": "web", "key": "theme", "value": "dim"}, {"ns": "web", "key": "font",
                                                              "value": "serif"}],
            prefer="return=representation, resolution=merge-duplicates")
    assert r.status == 201, r
    assert sorted(r.json(), key=lambda x: x["key"]) == rows(cluster, "ft_kv", "ns = 'web'",
                                                            order="key")
    assert rows(cluster, "ft_kv", "ns = 'web' AND key = 'theme'", cols="value") == \
        [{"value": "dim"}]
    before = snapshot(cluster, "ft_kv")
    body = assert_error(req(cluster, "POST", "/ft_kv?on_conflict=value", [{"ns": "x", "key": "y"}],
                            prefer="resolution=merge-duplicates"), 400, "42P10")
    assert body == pg_error(cluster, "INSERT INTO ft_kv (ns, key) VALUES ('x', 'y') "
                                     "ON CONFLICT (value) DO NOTHING")
    assert snapshot(cluster, "ft_kv") == before


def test_insert_duplicate_without_resolution_is_409(cluster):
    before = snapshot(cluster, "ft_kv")
    r = req(cluster, "POST", "/ft_kv", [{"ns": "new", "key": "k"}, {"ns": "app", "key": "theme"}])
    body = assert_error(r, 409, "23505")
    assert body == pg_error(cluster, "INSERT INTO ft_kv (ns, key) VALUES ('app', 'theme')")
    assert snapshot(cluster, "ft_kv") == before


def test_put_inserts_then_updates(cluster):
    r = req(cluster, "PUT", "/ft_kv?ns=eq.zz&key=eq.new", {"ns": "zz", "key": "new", "value": "1"},
            prefer="return=representation")
    assert r.status == 201, r
    assert r.json() == rows(cluster, "ft_kv", "ns = 'zz'")
    r = req(cluster, "PUT", "/ft_kv?ns=eq.zz&key=eq.new", {"ns": "zz", "key": "new", "value": "2"},
            prefer="return=representation")
    assert r.status == 200, r
    assert r.json() == [{"ns": "zz", "key": "new", "value": "2", "hits": 0}]
    assert rows(cluster, "ft_kv", "ns = 'zz'") == r.json()
    r = req(cluster, "PUT", "/ft_kv?ns=eq.zz&key=eq.new", {"ns": "zz", "key": "new", "value": "3"})
    assert r.status == 204 and r.body == b"", r
    assert rows(cluster, "ft_kv", "ns = 'zz'", cols="value") == [{"value": "3"}]


def test_put_updates_only_the_columns_of_the_payload(cluster):
    # PostgREST: ON CONFLICT DO UPDATE SET <payload columns> = EXCLUDED.<column>.
    before = rows(cluster, "ft_items", "id = 1")[0]
    r = req(cluster, "PUT", "/ft_items?id=eq.1", {"id": 1, "name": "mallet"},
            prefer="return=representation")
    assert r.status == 200, r
    got = rows(cluster, "ft_items", "id = 1")
    assert r.json() == got
    assert got == [dict(before, name="mallet")]


PUT_ERRORS = [
    ("/ft_kv?ns=eq.app", {"ns": "app", "key": "theme"}, 405, "PGRST105"),
    ("/ft_kv?ns=eq.app&key=gt.a", {"ns": "app", "key": "theme"}, 405, "PGRST105"),
    ("/ft_kv?ns=eq.app&key=eq.theme&value=eq.dark", {"ns": "app", "key": "theme"}, 405,
     "PGRST105"),
    ("/ft_kv?or=(ns.eq.app,key.eq.theme)", {"ns": "app", "key": "theme"}, 405, "PGRST105"),
    ("/ft_kv?ns=eq.app&key=eq.theme", {"ns": "app", "key": "other"}, 400, "PGRST115"),
    ("/ft_kv?ns=eq.app&key=eq.theme", {"ns": "web", "key": "theme"}, 400, "PGRST115"),
    ("/ft_kv?ns=eq.app&key=eq.theme&limit=1", {"ns": "app", "key": "theme"}, 400, "PGRST114"),
    ("/ft_kv?ns=eq.app&key=eq.theme&offset=1", {"ns": "app", "key": "theme"}, 400, "PGRST114"),
    ("/ft_items?id=eq.1", {"id": 1, "name": "x", "nope": 1}, 400, "PGRST204"),
    ("/ft_items?id=eq.1", {"id": 1, "name": None}, 400, "23502"),
]
PUT_MESSAGES = {
    "PGRST105": "Filters must include all and only primary key columns with 'eq' operators",
    "PGRST115": "Payload values do not match URL in primary key column(s)",
    "PGRST114": "limit/offset querystring parameters are not allowed for PUT",
}


@pytest.mark.parametrize("path,body,status,code", PUT_ERRORS, ids=[p[0] + " " + p[3]
                                                                   for p in PUT_ERRORS])
def test_put_errors(cluster, path, body, status, code):
    kv, items = snapshot(cluster, "ft_kv"), snapshot(cluster, "ft_items")
    err = assert_error(req(cluster, "PUT", path, body), status, code)
    if code in PUT_MESSAGES:
        assert err["message"] == PUT_MESSAGES[code]
    assert snapshot(cluster, "ft_kv") == kv
    assert snapshot(cluster, "ft_items") == items


def test_put_array_body_only_puts_the_matching_element(cluster):
    r = req(cluster, "PUT", "/ft_kv?ns=eq.web&key=eq.theme",
            [{"ns": "web", "key": "theme", "value": "x"},
             {"ns": "web", "key": "zzz", "value": "y"}],
            headers={"Accept": "application/vnd.pgrst.object+json"},
            prefer="return=representation")
    assert r.status == 200, r
    assert r.json() == {"ns": "web", "key": "theme", "value": "x", "hits": 0}
    assert rows(cluster, "ft_kv", "ns = 'web'", cols="key, value") == \
        [{"key": "theme", "value": "x"}]


# ---------------------------------------------------------------------------------------------
# PATCH / DELETE
# ---------------------------------------------------------------------------------------------

def test_patch_with_filters_updates_only_matching_rows(cluster):
    others = rows(cluster, "ft_items", "NOT (category_id = 1 AND qty > 3)")
    r = req(cluster, "PATCH", "/ft_items?category_id=eq.1&qty=gt.3",
            {"note": "patched", "tags": ["x"], "attrs": {"a": [1, 2]}})
    assert r.status == 204 and r.body == b"", r
    assert rows(cluster, "ft_items", "note = 'patched'", cols="id") == \
        sql_json(cluster, "SELECT json_agg(json_build_object('id', 1))")
    assert rows(cluster, "ft_items", "id = 1", cols="tags, attrs") == \
        sql_json(cluster, """SELECT json_agg(json_build_object('tags', '{x}'::text[],
                             'attrs', '{"a": [1, 2]}'::jsonb))""")
    assert rows(cluster, "ft_items", "NOT (category_id = 1 AND qty > 3)") == others


def test_patch_count_exact_and_representation_with_embed(cluster):
    n = int(cluster.psql("SELECT count(*) FROM ft_items WHERE category_id = 1"))
    r = req(cluster, "PATCH", "/ft_items?category_id=eq.1", {"qty": 7}, prefer="count=exact")
    assert r.status == 204, r
    assert r.header("Content-Range") == f"0-{n - 1}/{n}"
    assert prefs(r) == ["count=exact"]
    r = req(cluster, "PATCH", "/ft_items?category_id=eq.2&select=id,qty,ft_categories(name)"
                              "&order=id", {"qty": 8},
            prefer="return=representation, count=exact")
    assert r.status == 200, r
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', i.id, 'qty', i.qty,
        'ft_categories', json_build_object('name', c.name)) ORDER BY i.id)
        FROM ft_items i JOIN ft_categories c ON c.id = i.category_id WHERE i.category_id = 2""")
    assert r.json() == expected
    assert all(x["qty"] == 8 for x in r.json())
    m = len(expected)
    assert r.header("Content-Range") == f"0-{m - 1}/{m}"


def test_patch_matching_nothing(cluster):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "PATCH", "/ft_items?id=eq.999", {"qty": 1}, prefer="count=exact")
    assert r.status == 204 and r.header("Content-Range") == "*/0", r
    r = req(cluster, "PATCH", "/ft_items?id=eq.999", {"qty": 1}, prefer="return=representation")
    assert r.status == 200 and r.json() == [], r
    assert snapshot(cluster, "ft_items") == before


def test_patch_errors_leave_the_table_unchanged(cluster):
    before = snapshot(cluster, "ft_items")
    assert_error(req(cluster, "PATCH", "/ft_items?id=eq.1", {"nope": 1}), 400, "PGRST204")
    assert_error(req(cluster, "PATCH", "/ft_items?id=eq.1", '{"qty": ', headers=JSON), 400,
                 "PGRST102")
    assert_error(req(cluster, "PATCH", "/ft_items?id=eq.1", {"qty": "many"}), 400, "22P02")
    assert snapshot(cluster, "ft_items") == before


def test_delete_with_filters_count_and_representation(cluster):
    keep = rows(cluster, "ft_items", "NOT (qty < 5)")
    gone = rows(cluster, "ft_items", "qty < 5", cols="id, name", order="id")
    r = req(cluster, "DELETE", "/ft_items?qty=lt.5&select=id,name&order=id",
            prefer="return=representation, count=exact")
    assert r.status == 200, r
    assert r.json() == gone and len(gone) > 1
    # PostgREST gives DELETE (like POST) a "*/<affected>" Content-Range.
    assert r.header("Content-Range") == f"*/{len(gone)}"
    assert rows(cluster, "ft_items") == keep
    r = req(cluster, "DELETE", "/ft_items?id=eq.3")
    assert r.status == 204 and r.body == b"", r
    assert rows(cluster, "ft_items", "id = 3") == []


def test_delete_representation_embeds_the_parent(cluster):
    r = req(cluster, "DELETE", "/ft_items?id=eq.1&select=name,ft_categories(name)",
            prefer="return=representation")
    assert r.status == 200, r
    assert r.json() == [{"name": "hammer", "ft_categories": {"name": "tools"}}]
    assert rows(cluster, "ft_items", "id = 1") == []


def test_singular_accept_on_writes(cluster):
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    r = req(cluster, "PATCH", "/ft_items?id=eq.2", {"note": "one"}, headers=accept,
            prefer="return=representation")
    assert r.status == 200, r
    assert r.json() == rows(cluster, "ft_items", "id = 2")[0]
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "PATCH", "/ft_items?category_id=eq.1", {"note": "two"}, headers=accept,
            prefer="return=representation")
    body = assert_error(r, 406, "PGRST116")
    assert body["details"] == "The result contains 2 rows"
    r = req(cluster, "DELETE", "/ft_items?category_id=eq.2", headers=accept,
            prefer="return=representation")
    assert_error(r, 406, "PGRST116")
    r = req(cluster, "POST", "/ft_items", [{"name": "a"}, {"name": "b"}], headers=accept,
            prefer="return=representation")
    assert_error(r, 406, "PGRST116")
    assert snapshot(cluster, "ft_items") == before


def test_representation_as_csv(cluster):
    r = req(cluster, "POST", "/ft_items?select=name,qty", [{"name": "c,1", "qty": 2}],
            headers={"Accept": "text/csv"}, prefer="return=representation")
    assert r.status == 201, r
    assert r.header("Content-Type").startswith("text/csv")
    assert r.text == 'name,qty\n"c,1",2'


# ---------------------------------------------------------------------------------------------
# max-affected, handling, Preference-Applied
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,body", [("PATCH", {"note": "x"}), ("DELETE", None)])
def test_max_affected_strict_rejects_too_many_rows(cluster, method, body):
    before = snapshot(cluster, "ft_items")
    n = int(cluster.psql("SELECT count(*) FROM ft_items WHERE category_id = 1"))
    r = req(cluster, method, "/ft_items?category_id=eq.1", body,
            prefer=f"max-affected={n - 1}, handling=strict")
    err = assert_error(r, 400, "PGRST124")
    assert err["message"] == "Query result exceeds max-affected preference constraint"
    assert err["details"] == f"The query affects {n} rows"
    assert snapshot(cluster, "ft_items") == before
    r = req(cluster, method, "/ft_items?category_id=eq.1", body,
            prefer=f"max-affected={n}, handling=strict")
    assert r.status == 204, r
    assert "max-affected=" + str(n) in prefs(r) and "handling=strict" in prefs(r)
    assert snapshot(cluster, "ft_items") != before


def test_max_affected_is_ignored_when_lenient(cluster):
    r = req(cluster, "PATCH", "/ft_items?category_id=eq.1", {"note": "lenient"},
            prefer="max-affected=1")
    assert r.status == 204, r
    assert int(cluster.psql("SELECT count(*) FROM ft_items WHERE note = 'lenient'")) == 2


def test_handling_strict_with_an_unknown_preference_is_pgrst122(cluster):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "PATCH", "/ft_items?id=eq.1", {"note": "x"},
            prefer="handling=strict, foo=bar, return=representation")
    err = assert_error(r, 400, "PGRST122")
    assert err["message"] == "Invalid preferences given with handling=strict"
    assert err["details"] == "Invalid preferences: foo=bar"
    r = req(cluster, "POST", "/ft_items", {"name": "x"}, prefer="handling=strict, count=maybe")
    assert_error(r, 400, "PGRST122")
    assert snapshot(cluster, "ft_items") == before
    # lenient (the default) ignores what it does not know
    r = req(cluster, "PATCH", "/ft_items?id=eq.1&select=id,note", {"note": "ok"},
            prefer="handling=lenient, foo=bar, return=representation")
    assert r.status == 200 and r.json() == [{"id": 1, "note": "ok"}], r
    assert prefs(r) == ["handling=lenient", "return=representation"]


def test_preference_applied_lists_what_was_honoured(cluster):
    r = req(cluster, "POST", "/ft_kv?select=ns", [{"ns": "p", "key": "k"}],
            prefer="return=representation, count=exact, resolution=merge-duplicates, "
                   "missing=default, tx=rollback")
    assert r.status == 201, r
    # tx is not honoured with db_tx_end=commit: not reported (and the row is committed)
    assert prefs(r) == ["count=exact", "missing=default", "resolution=merge-duplicates",
                        "return=representation"]
    assert rows(cluster, "ft_kv", "ns = 'p'", cols="ns") == [{"ns": "p"}]


# ---------------------------------------------------------------------------------------------
# tx=rollback / db_tx_end
# ---------------------------------------------------------------------------------------------

def test_tx_rollback_with_commit_allow_override(cluster, guc):
    guc("db_tx_end", "commit-allow-override")
    items, kv = snapshot(cluster, "ft_items"), snapshot(cluster, "ft_kv")
    r = req(cluster, "POST", "/ft_items?select=name", {"name": "ghost"},
            prefer="tx=rollback, return=representation")
    assert r.status == 201 and r.json() == [{"name": "ghost"}], r
    assert "tx=rollback" in prefs(r)
    r = req(cluster, "PATCH", "/ft_items?id=eq.1&select=id,note", {"note": "ghost"},
            prefer="tx=rollback, return=representation")
    assert r.status == 200 and r.json() == [{"id": 1, "note": "ghost"}], r
    assert "tx=rollback" in prefs(r)
    r = req(cluster, "DELETE", "/ft_items?qty=gt.0", prefer="tx=rollback, count=exact")
    assert r.status == 204, r
    assert prefs(r) == ["count=exact", "tx=rollback"]
    r = req(cluster, "PUT", "/ft_kv?ns=eq.app&key=eq.theme",
            {"ns": "app", "key": "theme", "value": "ghost"}, prefer="tx=rollback")
    assert r.status == 204, r
    r = req(cluster, "POST", "/ft_kv", [{"ns": "app", "key": "lang", "value": "ghost"}],
            prefer="tx=rollback, resolution=merge-duplicates")
    assert r.status in (200, 201), r
    assert snapshot(cluster, "ft_items") == items
    assert snapshot(cluster, "ft_kv") == kv
    # tx=commit persists and is reported
    r = req(cluster, "PATCH", "/ft_items?id=eq.1", {"note": "real"}, prefer="tx=commit")
    assert r.status == 204 and prefs(r) == ["tx=commit"], r
    assert rows(cluster, "ft_items", "id = 1", cols="note") == [{"note": "real"}]


def test_db_tx_end_rollback_allow_override(cluster, guc):
    guc("db_tx_end", "rollback-allow-override")
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "PATCH", "/ft_items?id=eq.2", {"note": "not kept"})
    assert r.status == 204, r
    assert snapshot(cluster, "ft_items") == before
    r = req(cluster, "PATCH", "/ft_items?id=eq.2", {"note": "kept"}, prefer="tx=commit")
    assert r.status == 204 and "tx=commit" in prefs(r), r
    assert rows(cluster, "ft_items", "id = 2", cols="note") == [{"note": "kept"}]


def test_tx_rollback_is_ignored_without_override(cluster):
    r = req(cluster, "PATCH", "/ft_items?id=eq.2", {"note": "committed"}, prefer="tx=rollback")
    assert r.status == 204, r
    assert "tx=rollback" not in prefs(r)
    assert rows(cluster, "ft_items", "id = 2", cols="note") == [{"note": "committed"}]


def test_max_rows_does_not_limit_write_representations(cluster, guc):
    guc("db_max_rows", "1")
    r = req(cluster, "POST", "/ft_items?select=name", [{"name": "r1"}, {"name": "r2"},
                                                       {"name": "r3"}],
            prefer="return=representation")
    assert r.status == 201 and len(r.json()) == 3, r
    r = req(cluster, "PATCH", "/ft_items?select=id&order=id", {"note": "all"},
            prefer="return=representation")
    assert r.status == 200, r
    assert [x["id"] for x in r.json()] == sql_json(cluster, "SELECT json_agg(id ORDER BY id) "
                                                            "FROM ft_items")


# ---------------------------------------------------------------------------------------------
# constraint errors: status + the full error body Postgres raises
# ---------------------------------------------------------------------------------------------

CONSTRAINTS = [
    ("POST", "/ft_items", {"id": 500, "qty": 1}, 400, "23502",
     "INSERT INTO ft_items (id, qty) VALUES (500, 1)"),
    ("POST", "/ft_items", {"id": 501, "name": "n", "qty": -1}, 400, "23514",
     "INSERT INTO ft_items (id, name, qty) VALUES (501, 'n', -1)"),
    ("POST", "/ft_items", {"name": "n", "category_id": 99}, 409, "23503",
     "INSERT INTO ft_items (name, category_id) VALUES ('n', 99)"),
    ("POST", "/ft_items", {"name": "n", "sku": "W-1"}, 409, "23505",
     "INSERT INTO ft_items (name, sku) VALUES ('n', 'W-1')"),
    ("POST", "/ft_items", {"id": 2, "name": "n"}, 409, "23505",
     "INSERT INTO ft_items (id, name) VALUES (2, 'n')"),
    ("PATCH", "/ft_items?id=eq.1", {"qty": -5}, 400, "23514",
     "UPDATE ft_items SET qty = -5 WHERE id = 1"),
    ("PATCH", "/ft_items?id=eq.1", {"name": None}, 400, "23502",
     "UPDATE ft_items SET name = NULL WHERE id = 1"),
    ("PATCH", "/ft_items?id=eq.1", {"sku": "B-1"}, 409, "23505",
     "UPDATE ft_items SET sku = 'B-1' WHERE id = 1"),
    ("PATCH", "/ft_items?id=eq.1", {"category_id": 42}, 409, "23503",
     "UPDATE ft_items SET category_id = 42 WHERE id = 1"),
    ("DELETE", "/ft_categories?id=eq.1", None, 409, "23503",
     "DELETE FROM ft_categories WHERE id = 1"),
]


@pytest.mark.parametrize("method,path,body,status,code,statement", CONSTRAINTS,
                         ids=[f"{c[0]} {c[4]} {c[5][:30]}" for c in CONSTRAINTS])
def test_constraint_errors(cluster, method, path, body, status, code, statement):
    items, cats = snapshot(cluster, "ft_items"), snapshot(cluster, "ft_categories")
    r = req(cluster, method, path, body, prefer="return=representation")
    err = assert_error(r, status, code)
    expected = pg_error(cluster, statement)
    assert expected["code"] == code
    assert err == expected
    assert snapshot(cluster, "ft_items") == items
    assert snapshot(cluster, "ft_categories") == cats


def test_bulk_insert_is_atomic(cluster):
    before = snapshot(cluster, "ft_items")
    r = req(cluster, "POST", "/ft_items", [{"name": "ok1", "qty": 1}, {"name": "ok2", "qty": 1},
                                           {"name": "bad", "qty": -1}])
    assert_error(r, 400, "23514")
    assert snapshot(cluster, "ft_items") == before


def test_insert_through_an_updatable_view(cluster):
    try:
        r = req(cluster, "POST", "/ft_book_summaries?select=id,title",
                {"id": 90, "title": "Via View", "author_id": 1, "pages": 12},
                prefer="return=representation")
        assert r.status == 201 and r.json() == [{"id": 90, "title": "Via View"}], r
        assert rows(cluster, "ft_books", "id = 90", cols="title, pages") == \
            [{"title": "Via View", "pages": 12}]
    finally:
        cluster.psql("DELETE FROM ft_books WHERE id = 90")
