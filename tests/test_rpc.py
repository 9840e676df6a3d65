"""Issue 4, RPC: /rpc/<function> over POST and GET, argument passing (named, defaults,
variadic, overloads, single unnamed json), result shapes (scalar, composite, SETOF, TABLE, void),
read-grammar on set results, media types, and errors/headers/status raised or set by functions,
over real HTTP against tests/fixtures/feature_schema.sql.

Expected values are computed by calling the same functions through psql."""

import http.client as httpclient
import json

import pytest

from helpers import api as call, assert_error, load_feature_schema, set_guc, sql_json


@pytest.fixture(scope="module", autouse=True)
def feature_schema(cluster):
    load_feature_schema(cluster, "/rpc/ft_bad_status", 500)


def log_rows(cluster):
    return cluster.psql("SELECT coalesce(json_agg(l ORDER BY id), '[]') FROM ft_rpc_log l")


# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------

def test_post_named_arguments_and_get_query_arguments(cluster):
    expected = sql_json(cluster, "SELECT to_json(ft_add(20, 22))")
    r = call(cluster, "POST", "/rpc/ft_add", {"a": 20, "b": 22})
    assert r.status == 200 and r.json() == expected, r
    assert r.header("Content-Type").startswith("application/json")
    r = call(cluster, "GET", "/rpc/ft_add?a=20&b=22")
    assert r.status == 200 and r.json() == expected, r
    # argument order does not matter, names do
    assert call(cluster, "GET", "/rpc/ft_add?b=22&a=20").json() == expected


# Calls whose whole check is: 200, and the same JSON as the function called through psql.
RESULTS = [
    pytest.param("GET", "/rpc/ft_book_title?book_id=3", None, None,
                 "SELECT to_json(ft_book_title(3))", id="stable_function_over_get"),
    pytest.param("POST", "/rpc/ft_add", [{"a": 1, "b": 2}, {"a": 5, "b": 5}], None,
                 "SELECT to_json(ft_add(1, 2))",
                 id="array_body_uses_its_first_object_as_arguments"),
    pytest.param("POST", "/rpc/ft_greet", "name=a+b&greeting=hey%2C+you",
                 {"Content-Type": "application/x-www-form-urlencoded"},
                 "SELECT to_json(ft_greet('a b', 'hey, you'))", id="form_urlencoded_arguments"),
    pytest.param("GET", "/rpc/ft_greet?name=ignored&name=world", None, None,
                 "SELECT to_json(ft_greet('world'))",
                 id="repeated_non_variadic_argument_takes_the_last_value"),
]


@pytest.mark.parametrize("method,path,body,headers,sql", RESULTS)
def test_result_matches_psql(cluster, method, path, body, headers, sql):
    r = call(cluster, method, path, body, headers=headers)
    assert r.status == 200, r
    assert r.json() == sql_json(cluster, sql)


def test_default_arguments(cluster):
    r = call(cluster, "GET", "/rpc/ft_greet?name=bo")
    assert r.json() == sql_json(cluster, "SELECT to_json(ft_greet('bo'))"), r
    r = call(cluster, "POST", "/rpc/ft_greet", {"name": "bo", "greeting": "hi"})
    assert r.json() == sql_json(cluster, "SELECT to_json(ft_greet('bo', 'hi'))"), r
    assert r.json() != call(cluster, "GET", "/rpc/ft_greet?name=bo").json()


def test_variadic_arguments(cluster):
    expected = sql_json(cluster, "SELECT to_json(ft_sum_all(1, 2, 5))")
    r = call(cluster, "GET", "/rpc/ft_sum_all?nums=1&nums=2&nums=5")
    assert r.status == 200 and r.json() == expected, r
    r = call(cluster, "POST", "/rpc/ft_sum_all", {"nums": [1, 2, 5]})
    assert r.status == 200 and r.json() == expected, r
    r = call(cluster, "POST", "/rpc/ft_sum_all", "nums=1&nums=2&nums=5",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and r.json() == expected, r
    r = call(cluster, "GET", "/rpc/ft_sum_all?nums=7")
    assert r.status == 200 and r.json() == sql_json(cluster, "SELECT to_json(ft_sum_all(7))"), r


def test_overloads_resolved_by_argument_names(cluster):
    assert call(cluster, "GET", "/rpc/ft_area?side=3").json() == \
        sql_json(cluster, "SELECT to_json(ft_area(3))")
    assert call(cluster, "POST", "/rpc/ft_area", {"w": 3, "h": 4}).json() == \
        sql_json(cluster, "SELECT to_json(ft_area(3, 4))")


def test_ambiguous_overloads_are_300_pgrst203(cluster):
    for r in (call(cluster, "GET", "/rpc/ft_describe?v=1"),
              call(cluster, "POST", "/rpc/ft_describe", {"v": "1"})):
        body = assert_error(r, 300, "PGRST203")
        assert body["message"] == ("Could not choose the best candidate function between: "
                                   "public.ft_describe(v => integer), "
                                   "public.ft_describe(v => text)")
        assert body["hint"] == ("Try renaming the parameters or the function itself in the "
                                "database so function overloading can be resolved")


@pytest.mark.parametrize("payload", [{"x": [1, 2], "y": {"z": None}}, {}, {"a": 1, "b": 2}])
def test_single_unnamed_json_parameter_takes_the_body(cluster, payload):
    r = call(cluster, "POST", "/rpc/ft_echo", payload)
    assert r.status == 200, r
    lit = json.dumps(payload).replace("'", "''")
    assert r.json() == sql_json(cluster, f"SELECT ft_echo('{lit}'::json)")


@pytest.mark.parametrize("method,path,body,headers", [
    pytest.param("GET", "/rpc/ft_num_text?x=0.1000000000000000000001", None, None,
                 id="numeric_argument_over_get_keeps_its_digits"),
    pytest.param("POST", "/rpc/ft_num_text", '{"x": 0.1000000000000000000001}',
                 {"Content-Type": "application/json"},
                 id="numeric_argument_in_a_json_body_keeps_its_digits"),
])
def test_numeric_argument_keeps_its_digits(cluster, method, path, body, headers):
    r = call(cluster, method, path, body, headers=headers)
    assert r.status == 200, r
    assert r.json() == cluster.psql("SELECT ft_num_text(0.1000000000000000000001)")


def test_single_json_parameter_keeps_big_numbers(cluster):
    raw = '{"n": 12345678901234567890123, "f": 1.000000000000000000001}'
    r = call(cluster, "POST", "/rpc/ft_echo", raw, headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert r.text.replace(" ", "") == \
        cluster.psql(f"SELECT ft_echo('{raw}'::json)::text").replace(" ", "")


def test_unknown_function_is_404_pgrst202(cluster):
    body = assert_error(call(cluster, "GET", "/rpc/ft_nope"), 404, "PGRST202")
    assert body["message"] == ("Could not find the function public.ft_nope without parameters "
                               "in the schema cache")
    assert body["details"] == ("Searched for the function public.ft_nope without parameters, "
                               "but no matches were found in the schema cache.")
    body = assert_error(call(cluster, "POST", "/rpc/ft_greet", {"name": "x", "bogus": 1}), 404,
                        "PGRST202")
    assert body["message"] == ("Could not find the function public.ft_greet(bogus, name) in the "
                               "schema cache")
    assert_error(call(cluster, "GET", "/rpc/ft_greet"), 404, "PGRST202")
    assert_error(call(cluster, "GET", "/rpc/ft_add?a=1"), 404, "PGRST202")


def test_bad_argument_value_is_400_22p02(cluster):
    assert_error(call(cluster, "GET", "/rpc/ft_add?a=one&b=2"), 400, "22P02")


# ---------------------------------------------------------------------------------------------
# volatility
# ---------------------------------------------------------------------------------------------

def test_volatile_function_over_get_fails_read_only_and_writes_nothing(cluster):
    before = log_rows(cluster)
    body = assert_error(call(cluster, "GET", "/rpc/ft_log_call?name=get"), 405, "25006")
    assert "read-only transaction" in body["message"]
    assert_error(call(cluster, "GET", "/rpc/ft_bump?name=get"), 405, "25006")
    assert log_rows(cluster) == before


def test_volatile_function_over_post_writes(cluster):
    n = int(cluster.psql("SELECT count(*) FROM ft_rpc_log WHERE name = 'post'"))
    r = call(cluster, "POST", "/rpc/ft_bump", {"name": "post"})
    assert r.status == 200 and r.json() == n + 1, r
    assert int(cluster.psql("SELECT count(*) FROM ft_rpc_log WHERE name = 'post'")) == n + 1


def test_tx_rollback_on_rpc_with_commit_allow_override(cluster):
    set_guc(cluster, "db_tx_end", "commit-allow-override")
    try:
        before = log_rows(cluster)
        r = call(cluster, "POST", "/rpc/ft_bump", {"name": "rolled"}, prefer="tx=rollback")
        assert r.status == 200, r
        assert "tx=rollback" in (r.header("Preference-Applied") or "")
        assert log_rows(cluster) == before
    finally:
        set_guc(cluster, "db_tx_end", None)


def test_max_affected_strict_on_a_writing_setof_function(cluster):
    before = log_rows(cluster)
    r = call(cluster, "POST", "/rpc/ft_log_many", {"names": ["a", "b", "c"]},
             prefer="handling=strict, max-affected=2")
    err = assert_error(r, 400, "PGRST124")
    assert err["details"] == "The query affects 3 rows"
    assert log_rows(cluster) == before
    r = call(cluster, "POST", "/rpc/ft_log_many?select=name", {"names": ["a", "b"]},
             prefer="handling=strict, max-affected=2")
    assert r.status == 200 and r.json() == [{"name": "a"}, {"name": "b"}], r
    assert cluster.psql("SELECT string_agg(name, ',' ORDER BY id) FROM ft_rpc_log "
                        "WHERE name IN ('a', 'b')") == "a,b"


def test_max_affected_strict_on_a_void_function_is_pgrst128(cluster):
    before = log_rows(cluster)
    r = call(cluster, "POST", "/rpc/ft_log_call", {"name": "void"},
             prefer="handling=strict, max-affected=20")
    err = assert_error(r, 400, "PGRST128")
    assert err["message"] == ("Function must return SETOF or TABLE when max-affected preference "
                              "is used with handling=strict")
    assert log_rows(cluster) == before


def test_single_unnamed_text_parameter_takes_a_plain_body(cluster):
    r = call(cluster, "POST", "/rpc/ft_shout", "hello there",
             headers={"Content-Type": "text/plain", "Accept": "text/plain"})
    assert r.status == 200, r
    assert r.text == cluster.psql("SELECT ft_shout('hello there')")


# ---------------------------------------------------------------------------------------------
# result shapes
# ---------------------------------------------------------------------------------------------

def test_scalar_composite_setof_table_and_setof_scalar_results(cluster):
    assert call(cluster, "GET", "/rpc/ft_book?book_id=2").json() == \
        sql_json(cluster, "SELECT to_json(ft_book(2))")
    r = call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=200")
    assert r.json() == sql_json(cluster, "SELECT json_agg(b) FROM ft_books_min_pages(200) b")
    r = call(cluster, "GET", "/rpc/ft_author_stats?order=author_id")
    assert r.json() == sql_json(cluster, "SELECT json_agg(s ORDER BY author_id) "
                                         "FROM ft_author_stats() s")
    r = call(cluster, "GET", "/rpc/ft_numbers?n=4")
    assert r.json() == sql_json(cluster, "SELECT json_agg(n) FROM ft_numbers(4) n")
    r = call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=100000")
    assert r.status == 200 and r.json() == [] and r.header("Content-Range") == "*/*"


def test_out_and_inout_parameters(cluster):
    r = call(cluster, "GET", "/rpc/ft_divmod?a=17&b=5")
    assert r.status == 200, r
    assert r.json() == sql_json(cluster, "SELECT to_json(d) FROM ft_divmod(17, 5) d")
    assert set(r.json()) == {"q", "r"}
    r = call(cluster, "POST", "/rpc/ft_twice", {"x": 21})
    assert r.status == 200 and r.json() == sql_json(cluster, "SELECT to_json(ft_twice(21))"), r
    assert_error(call(cluster, "GET", "/rpc/ft_divmod?a=1&b=0"), 400, "22012")


def test_void_function_answers_204(cluster):
    r = call(cluster, "POST", "/rpc/ft_noop")
    assert r.status == 204 and r.body == b"", r
    before = int(cluster.psql("SELECT count(*) FROM ft_rpc_log"))
    r = call(cluster, "POST", "/rpc/ft_log_call", {"name": "void"})
    assert r.status == 204 and r.body == b"", r
    assert int(cluster.psql("SELECT count(*) FROM ft_rpc_log")) == before + 1


def test_filters_order_limit_select_and_embeds_on_setof_results(cluster):
    r = call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=100&select=id,title,"
                             "ft_publishers(name)&mood=eq.happy&order=pages.desc&limit=2")
    assert r.status == 200, r
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id, 'title',
        b.title, 'ft_publishers', (SELECT json_build_object('name', p.name) FROM ft_publishers p
        WHERE p.id = b.publisher_id)) ORDER BY b.pages DESC) FROM (SELECT * FROM
        ft_books_min_pages(100) WHERE mood = 'happy' ORDER BY pages DESC LIMIT 2) b""")
    assert r.json() == expected and len(expected) == 2
    assert r.header("Content-Range") == "0-1/*"
    r = call(cluster, "GET", "/rpc/ft_author_stats?books=gt.1&select=author_id,total_pages"
                             "&order=total_pages.desc&offset=1")
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('author_id', author_id,
        'total_pages', total_pages) ORDER BY total_pages DESC) FROM (SELECT * FROM
        ft_author_stats() WHERE books > 1 ORDER BY total_pages DESC OFFSET 1) s""")
    assert r.json() == expected
    # POST: arguments in the body, filters in the query string
    r = call(cluster, "POST", "/rpc/ft_books_min_pages?select=id&or=(mood.eq.sad,mood.is.null)"
                              "&order=id", {"min_pages": 50})
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', id) ORDER BY id)
        FROM ft_books_min_pages(50) WHERE mood = 'sad' OR mood IS NULL""")
    assert r.json() == expected


def test_count_exact_on_setof_result(cluster):
    n = int(cluster.psql("SELECT count(*) FROM ft_books_min_pages(100)"))
    r = call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=100&select=id&limit=2",
             prefer="count=exact")
    assert r.status == 206, r
    assert r.header("Content-Range") == f"0-1/{n}"


def test_singular_accept_on_rpc(cluster):
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    r = call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=400&select=id,title",
             headers=accept)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/vnd.pgrst.object+json")
    assert r.json() == sql_json(cluster, "SELECT json_build_object('id', id, 'title', title) "
                                         "FROM ft_books_min_pages(400)")
    n = int(cluster.psql("SELECT count(*) FROM ft_books_min_pages(100)"))
    body = assert_error(call(cluster, "GET", "/rpc/ft_books_min_pages?min_pages=100",
                             headers=accept), 406, "PGRST116")
    assert body["details"] == f"The result contains {n} rows"
    assert call(cluster, "GET", "/rpc/ft_add?a=1&b=1", headers=accept).json() == \
        sql_json(cluster, "SELECT to_json(ft_add(1, 1))")


def test_csv_from_a_function(cluster):
    r = call(cluster, "GET", "/rpc/ft_author_stats?order=author_id",
             headers={"Accept": "text/csv"})
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/csv")
    lines = cluster.psql("""SELECT string_agg(substr(s::text, 2, length(s::text) - 2), E'\\n'
                            ORDER BY author_id) FROM ft_author_stats() s""")
    assert r.text == "author_id,books,total_pages\n" + lines


def test_head_on_a_function(cluster):
    n = int(cluster.psql("SELECT count(*) FROM ft_numbers(3)"))
    r = call(cluster, "HEAD", "/rpc/ft_numbers?n=3")
    assert r.status == 200 and r.body == b"", r
    assert r.header("Content-Range") == f"0-{n - 1}/*"


def test_unknown_accept_on_rpc_is_406(cluster):
    assert_error(call(cluster, "GET", "/rpc/ft_add?a=1&b=2", headers={"Accept": "image/png"}),
                 406, "PGRST107")


# ---------------------------------------------------------------------------------------------
# errors, status and headers from functions
# ---------------------------------------------------------------------------------------------

def status_line(cluster, path):
    """(status, reason) of a GET, reason phrase included."""
    c = httpclient.HTTPConnection("127.0.0.1", cluster.api_port, timeout=30)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {cluster.token()}"})
        r = c.getresponse()
        r.read()
        return r.status, r.reason
    finally:
        c.close()


def test_raise_pt402_is_payment_required(cluster):
    r = call(cluster, "POST", "/rpc/ft_pay")
    body = assert_error(r, 402, "PT402")
    assert body == {"code": "PT402", "message": "Payment Required", "details": "quota exceeded",
                    "hint": "upgrade your plan"}


def test_raise_sqlstate_pgrst_sets_status_headers_and_body(cluster):
    r = call(cluster, "POST", "/rpc/ft_custom_error")
    assert r.status == 409, r
    assert r.json() == {"code": "FT123", "message": "Shelf is locked",
                        "details": "locked by librarian", "hint": "come back tomorrow"}
    assert r.header("X-Shelf") == "locked"
    assert r.header("Retry-After") == "3600"
    r = call(cluster, "GET", "/rpc/ft_odd_status_error")
    assert r.status == 332, r
    assert r.json() == {"code": "FT332", "message": "odd", "details": None, "hint": None}


def test_raise_sqlstate_pgrst_status_text_is_the_reason_phrase(cluster):
    assert status_line(cluster, "/rpc/ft_custom_error") == (409, "Locked Shelf")


def test_raise_pt_status_message_is_the_reason_phrase(cluster):
    cluster.psql("""CREATE OR REPLACE FUNCTION public.ft_pt_toll() RETURNS void
        LANGUAGE plpgsql STABLE AS $$
        BEGIN RAISE EXCEPTION 'Pay The Toll' USING ERRCODE = 'PT402'; END $$""")
    assert cluster.wait_status("/rpc/ft_pt_toll", 402).status == 402
    assert status_line(cluster, "/rpc/ft_pt_toll") == (402, "Pay The Toll")


DETAIL_HINT = ("DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and "
               "optional key: 'status_text'.")
MESSAGE_HINT = ("MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and "
                "optional keys: 'details', 'hint'.")


@pytest.mark.parametrize("fn,details,hint", [
    ("ft_bad_custom_error", "Invalid JSON value for DETAIL: 'this detail is not json'",
     DETAIL_HINT),
    ("ft_pgrst_bad_message", "Invalid JSON value for MESSAGE: 'not json either'", MESSAGE_HINT),
    ("ft_pgrst_no_detail", "DETAIL is missing in the RAISE statement", DETAIL_HINT),
])
def test_malformed_raise_sqlstate_pgrst_is_pgrst121(cluster, fn, details, hint):
    body = assert_error(call(cluster, "POST", f"/rpc/{fn}"), 500, "PGRST121")
    assert body == {"code": "PGRST121",
                    "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
                    "details": details, "hint": hint}


def test_response_headers_and_status_set_by_the_function(cluster):
    r = call(cluster, "GET", "/rpc/ft_custom_headers")
    assert r.status == 203, r
    assert r.json() == 7
    assert r.header("X-Ft-One") == "1"
    assert r.header("Cache-Control") == "max-age=60"
    r = call(cluster, "POST", "/rpc/ft_created_void")
    assert r.status == 201 and r.body == b"", r


def test_malformed_response_headers_is_pgrst111(cluster):
    body = assert_error(call(cluster, "GET", "/rpc/ft_bad_headers"), 500, "PGRST111")
    assert body["message"] == ("response.headers guc must be a JSON array composed of objects "
                               "with a single key and a string value")


def test_malformed_response_status_is_pgrst112(cluster):
    body = assert_error(call(cluster, "GET", "/rpc/ft_bad_status"), 500, "PGRST112")
    assert body["message"] == "response.status guc must be a valid status code"


def test_response_headers_also_apply_to_table_reads_through_rpc_filters(cluster):
    # The GUCs are per request: a later plain read does not inherit them.
    call(cluster, "GET", "/rpc/ft_custom_headers")
    r = call(cluster, "GET", "/ft_tags?select=id&limit=1")
    assert r.status == 200 and r.header("X-Ft-One") is None, r
