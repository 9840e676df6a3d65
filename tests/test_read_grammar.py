"""Issue 3, the read grammar: select, embedding, filters, logic, order, ranges, counts, media
types, max-rows and aggregates, over real HTTP against tests/fixtures/feature_schema.sql.

Expected data is computed by Postgres itself (psql on the same cluster), never hand-copied."""

import json
import re
from urllib.parse import quote

import pytest

from helpers import assert_error, load_feature_schema, set_guc, sql_json

SAFE = "/?=&(),.:*!-><{}[]'~_@|^$;"


def u(path):
    """Percent-encode what http.client refuses or PostgREST would decode differently (space,
    quote, backslash, percent, plus, non-ASCII); keep the grammar's punctuation readable.
    An existing %XX escape (e.g. %26 for a literal &) is kept as is."""
    parts = re.split(r"(%[0-9A-Fa-f]{2})", path)
    return "".join(p if re.fullmatch(r"%[0-9A-Fa-f]{2}", p) else quote(p, safe=SAFE)
                   for p in parts)


@pytest.fixture(scope="module", autouse=True)
def feature_schema(cluster):
    load_feature_schema(cluster, "/ft_books?select=in_stock&limit=1", 200)


def get(cluster, path, headers=None, token=None, method="GET"):
    return cluster.http(method, u(path), headers=headers,
                        token=token if token is not None else cluster.token())


def sql_val(cluster, sql):
    return cluster.psql(sql)


def ok_json(r, status=200):
    assert r.status == status, r
    return r.json()


# ---------------------------------------------------------------------------------------------
# select: columns, star, alias, casts, JSON paths on json/jsonb/composite/array columns
# ---------------------------------------------------------------------------------------------

def test_select_star_equals_every_column(cluster):
    body = ok_json(get(cluster, "/ft_books?order=id"))
    cols = sql_json(cluster, """SELECT json_agg(attname ORDER BY attnum) FROM pg_attribute
                                WHERE attrelid = 'public.ft_books'::regclass AND attnum > 0
                                AND NOT attisdropped""")
    assert [list(r) for r in body] == [cols] * len(body)
    expected = sql_json(cluster, "SELECT json_agg(to_json(b) ORDER BY id) FROM ft_books b")
    assert body == expected


def test_select_columns_alias_and_casts(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,name:title,pages::text,cost:price::int,"
                                "published::text&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', id, 'name', title,
        'pages', pages::text, 'cost', price::int, 'published', published::text) ORDER BY id)
        FROM ft_books""")
    assert body == expected
    assert list(body[0]) == ["id", "name", "pages", "cost", "published"]


def test_select_json_paths_on_jsonb_and_json(cluster):
    path = ("/ft_books?select=id,meta->genre,meta->>rating,first_lang:meta->langs->0,"
            "last_lang:meta->langs->>-1,meta->series->>name,info->>isbn,info->langs,"
            "score:meta->>rating::numeric&order=id")
    body = ok_json(get(cluster, path))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object(
        'id', id, 'genre', meta->'genre', 'rating', meta->>'rating',
        'first_lang', meta->'langs'->0, 'last_lang', meta->'langs'->>-1,
        'name', meta->'series'->>'name', 'isbn', info->>'isbn', 'langs', info->'langs',
        'score', (meta->>'rating')::numeric) ORDER BY id) FROM ft_books""")
    assert body == expected
    assert list(body[0]) == ["id", "genre", "rating", "first_lang", "last_lang", "name", "isbn",
                             "langs", "score"]


SELECTS = [
    pytest.param("/ft_books?select=id,dims->>width,unit:dims->unit,tags->>0,"
                 "second:scores->1&order=id",
                 """SELECT json_agg(json_build_object(
        'id', id, 'width', to_jsonb(dims)->>'width', 'unit', to_jsonb(dims)->'unit',
        'tags', to_jsonb(tags)->>0, 'second', to_jsonb(scores)->1) ORDER BY id) FROM ft_books""",
                 id="select_json_paths_on_composite_and_array_columns"),
    pytest.param("/ft_reviews?select=id,book:ft_books(id,genre:meta->>genre)"
                 "&order=id",
                 """SELECT json_agg(json_build_object('id', r.id, 'book',
        (SELECT json_build_object('id', b.id, 'genre', b.meta->>'genre') FROM ft_books b
         WHERE b.id = r.book_id)) ORDER BY r.id) FROM ft_reviews r""",
                 id="select_json_path_inside_an_embed"),
]


def test_select_unknown_column_is_42703(cluster):
    assert_error(get(cluster, "/ft_books?select=id,nope"), 400, "42703")


# ---------------------------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------------------------

PUBLISHER_OF = """(SELECT json_build_object('name', p.name, 'country', p.country)
                   FROM ft_publishers p WHERE p.id = b.publisher_id)"""


def test_embed_many_to_one(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_publishers(name,country)&order=id"))
    expected = sql_json(cluster, f"""SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', {PUBLISHER_OF}) ORDER BY b.id) FROM ft_books b""")
    assert body == expected
    assert any(r["ft_publishers"] is None for r in body)


EMBEDS = [
    pytest.param("/ft_books?select=id,ft_reviews(id,stars)"
                 "&ft_reviews.order=stars.desc,id&order=id",
                 """SELECT json_agg(json_build_object('id', b.id, 'ft_reviews',
        (SELECT coalesce(json_agg(json_build_object('id', r.id, 'stars', r.stars)
                                  ORDER BY r.stars DESC, r.id), '[]')
         FROM ft_reviews r WHERE r.book_id = b.id)) ORDER BY b.id) FROM ft_books b""",
                 id="embed_one_to_many_with_order"),
    pytest.param("/ft_books?select=id,ft_tags(name)&ft_tags.order=name&order=id",
                 """SELECT json_agg(json_build_object('id', b.id, 'ft_tags',
        (SELECT coalesce(json_agg(json_build_object('name', t.name) ORDER BY t.name), '[]')
         FROM ft_tags t JOIN ft_book_tags bt ON bt.tag_id = t.id WHERE bt.book_id = b.id))
        ORDER BY b.id) FROM ft_books b""",
                 id="embed_many_to_many_through_junction"),
    pytest.param("/ft_tags?select=name,ft_books(id)&ft_books.order=id&order=id",
                 """SELECT json_agg(json_build_object('name', t.name, 'ft_books',
        (SELECT coalesce(json_agg(json_build_object('id', b.id) ORDER BY b.id), '[]')
         FROM ft_books b JOIN ft_book_tags bt ON bt.book_id = b.id WHERE bt.tag_id = t.id))
        ORDER BY t.id) FROM ft_tags t""",
                 id="embed_many_to_many_from_the_other_side"),
    pytest.param("/ft_authors?select=name,mentor:mentor_id(name),"
                 "mentees:ft_authors!mentor_id(name)&mentees.order=id&order=id",
                 """SELECT json_agg(json_build_object('name', a.name,
        'mentor', (SELECT json_build_object('name', m.name) FROM ft_authors m
                   WHERE m.id = a.mentor_id),
        'mentees', (SELECT coalesce(json_agg(json_build_object('name', c.name) ORDER BY c.id),
                    '[]') FROM ft_authors c WHERE c.mentor_id = a.id)) ORDER BY a.id)
        FROM ft_authors a""",
                 id="embed_self_reference_both_ways"),
    pytest.param("/ft_books?select=id,author:ft_authors!ft_books_author_fk(name),"
                 "editor:ft_authors!editor_id(name)&order=id",
                 """SELECT json_agg(json_build_object('id', b.id,
        'author', (SELECT json_build_object('name', a.name) FROM ft_authors a
                   WHERE a.id = b.author_id),
        'editor', (SELECT json_build_object('name', a.name) FROM ft_authors a
                   WHERE a.id = b.editor_id)) ORDER BY b.id) FROM ft_books b""",
                 id="embed_hints_by_constraint_name_and_by_column"),
    pytest.param("/ft_authors?select=id,edited:ft_books!ft_books_editor_fk(id)"
                 "&edited.order=id&order=id",
                 """SELECT json_agg(json_build_object('id', a.id, 'edited',
        (SELECT coalesce(json_agg(json_build_object('id', b.id) ORDER BY b.id), '[]')
         FROM ft_books b WHERE b.editor_id = a.id)) ORDER BY a.id) FROM ft_authors a""",
                 id="embed_one_to_many_hint_on_the_referenced_side"),
    pytest.param("/ft_books?select=id,...ft_publishers(publisher:name,country)"
                 "&order=id",
                 """SELECT json_agg(json_build_object('id', b.id,
        'publisher', p.name, 'country', p.country) ORDER BY b.id)
        FROM ft_books b LEFT JOIN ft_publishers p ON p.id = b.publisher_id""",
                 id="spread_to_one"),
    pytest.param("/ft_publishers?select=name,...ft_books(title,pages)"
                 "&ft_books.order=id&order=id",
                 """SELECT json_agg(json_build_object('name', p.name,
        'title', (SELECT coalesce(json_agg(b.title ORDER BY b.id), '[]') FROM ft_books b
                  WHERE b.publisher_id = p.id),
        'pages', (SELECT coalesce(json_agg(b.pages ORDER BY b.id), '[]') FROM ft_books b
                  WHERE b.publisher_id = p.id)) ORDER BY p.id) FROM ft_publishers p""",
                 id="spread_to_many_gives_correlated_arrays"),
    pytest.param("/ft_books?select=id,ft_reviews(id)"
                 "&ft_reviews.and=(stars.gt.1,not.or(reviewer.eq.ann,body.is.null))"
                 "&ft_reviews.order=id&order=id",
                 """SELECT json_agg(json_build_object('id', b.id, 'ft_reviews',
        (SELECT coalesce(json_agg(json_build_object('id', r.id) ORDER BY r.id), '[]')
         FROM ft_reviews r WHERE r.book_id = b.id AND r.stars > 1
         AND NOT (r.reviewer = 'ann' OR r.body IS NULL))) ORDER BY b.id) FROM ft_books b""",
                 id="embedded_and_with_nested_not_or"),
    pytest.param("/ft_books?select=id,ft_publishers(country)"
                 "&ft_publishers.country=eq.NL&ft_publishers=is.null&order=id",
                 """SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', NULL) ORDER BY b.id) FROM ft_books b
        WHERE NOT EXISTS (SELECT 1 FROM ft_publishers p WHERE p.id = b.publisher_id
                          AND p.country = 'NL')""",
                 id="embed_filter_is_null_on_to_one_with_embedded_condition"),
    pytest.param("/ft_publishers?select=name,ft_books(title,"
                 "ft_authors!author_id(name,mentor:mentor_id(name)))"
                 "&ft_books.order=id&order=id&id=eq.1",
                 """SELECT json_agg(json_build_object('name', p.name,
        'ft_books', (SELECT json_agg(json_build_object('title', b.title, 'ft_authors',
            (SELECT json_build_object('name', a.name, 'mentor',
                (SELECT json_build_object('name', m.name) FROM ft_authors m
                 WHERE m.id = a.mentor_id)) FROM ft_authors a WHERE a.id = b.author_id))
            ORDER BY b.id) FROM ft_books b WHERE b.publisher_id = p.id)))
        FROM ft_publishers p WHERE p.id = 1""",
                 id="nested_embeds_three_levels"),
    pytest.param("/ft_books?select=id,author:ft_authors!author_id!inner(name)"
                 "&author.name=eq.Ada&order=id",
                 """SELECT json_agg(json_build_object('id', b.id, 'author',
        json_build_object('name', a.name)) ORDER BY b.id) FROM ft_books b
        JOIN ft_authors a ON a.id = b.author_id WHERE a.name = 'Ada'""",
                 id="embed_with_alias_hint_and_inner_together"),
    pytest.param("/ft_publishers?select=name,ft_books(id,ft_reviews())"
                 "&ft_books.ft_reviews=not.is.null&ft_books=not.is.null"
                 "&ft_books.order=id&order=id",
                 """SELECT json_agg(json_build_object('name', p.name,
        'ft_books', (SELECT json_agg(json_build_object('id', b.id) ORDER BY b.id) FROM ft_books b
        WHERE b.publisher_id = p.id AND EXISTS (SELECT 1 FROM ft_reviews r
        WHERE r.book_id = b.id))) ORDER BY p.id) FROM ft_publishers p WHERE EXISTS
        (SELECT 1 FROM ft_books b JOIN ft_reviews r ON r.book_id = b.id
         WHERE b.publisher_id = p.id)""",
                 id="null_checks_on_nested_embeds"),
    pytest.param("/ft_authors?select=name,ft_books!author_id(id,ft_publishers(name))"
                 "&ft_books.order=ft_publishers(name).desc.nullslast,id&order=id",
                 """SELECT json_agg(json_build_object('name', a.name,
        'ft_books', (SELECT coalesce(json_agg(json_build_object('id', b.id, 'ft_publishers',
        CASE WHEN p.id IS NULL THEN NULL ELSE json_build_object('name', p.name) END)
        ORDER BY p.name DESC NULLS LAST, b.id), '[]') FROM ft_books b
        LEFT JOIN ft_publishers p ON p.id = b.publisher_id WHERE b.author_id = a.id))
        ORDER BY a.id) FROM ft_authors a""",
                 id="embedded_order_by_a_to_one_of_the_embed"),
    pytest.param("/ft_books?select=id,publisher_id,publisher:publisher_id(name)"
                 "&publisher_id=eq.1&order=id",
                 """SELECT json_agg(json_build_object('id', b.id, 'publisher_id',
        b.publisher_id, 'publisher', json_build_object('name', p.name)) ORDER BY b.id)
        FROM ft_books b JOIN ft_publishers p ON p.id = b.publisher_id WHERE b.publisher_id = 1""",
                 id="filter_on_a_foreign_key_column_used_as_embed_target"),
    pytest.param("/ft_book_summaries?select=id,ft_reviews(id)"
                 "&ft_reviews.order=id&order=id",
                 """SELECT json_agg(json_build_object('id', s.id, 'ft_reviews',
        (SELECT coalesce(json_agg(json_build_object('id', r.id) ORDER BY r.id), '[]')
         FROM ft_reviews r WHERE r.book_id = s.id)) ORDER BY s.id) FROM ft_book_summaries s""",
                 id="embed_children_of_a_view_through_the_base_table_key"),
]


@pytest.mark.parametrize("path,sql", SELECTS + EMBEDS)
def test_read_matches_postgres(cluster, path, sql):
    """Selected columns, JSON paths, embeds, spreads, hints and embedded filters give what
    Postgres gives for the same select and joins."""
    assert ok_json(get(cluster, path)) == sql_json(cluster, sql)


def test_embed_through_a_view_both_directions(cluster):
    body = ok_json(get(cluster, "/ft_book_summaries?select=id,ft_publishers(name,country)"
                                "&order=id"))
    expected = sql_json(cluster, f"""SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', {PUBLISHER_OF}) ORDER BY b.id) FROM ft_book_summaries b""")
    assert body == expected
    body = ok_json(get(cluster, "/ft_publishers?select=id,ft_book_summaries(title)"
                                "&ft_book_summaries.order=id&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', p.id,
        'ft_book_summaries', (SELECT coalesce(json_agg(json_build_object('title', s.title)
        ORDER BY s.id), '[]') FROM ft_book_summaries s WHERE s.publisher_id = p.id))
        ORDER BY p.id) FROM ft_publishers p""")
    assert body == expected


def test_ambiguous_embed_is_300_pgrst201(cluster):
    r = get(cluster, "/ft_books?select=id,ft_authors(name)")
    body = assert_error(r, 300, "PGRST201")
    assert body["message"] == ("Could not embed because more than one relationship was found "
                               "for 'ft_books' and 'ft_authors'")
    rels = sorted(d["relationship"] for d in body["details"])
    assert rels == ["ft_books_author_fk using ft_books(author_id) and ft_authors(id)",
                    "ft_books_editor_fk using ft_books(editor_id) and ft_authors(id)"]
    assert all(d["cardinality"] == "many-to-one" for d in body["details"])
    assert all(d["embedding"] == "ft_books with ft_authors" for d in body["details"])
    assert "ft_authors!ft_books_author_fk" in body["hint"]
    assert "ft_authors!ft_books_editor_fk" in body["hint"]


def test_ambiguous_one_to_many_embed_is_300(cluster):
    body = assert_error(get(cluster, "/ft_authors?select=id,ft_books(id)"), 300, "PGRST201")
    assert {d["cardinality"] for d in body["details"]} == {"one-to-many"}
    assert len(body["details"]) == 2


def test_no_relationship_is_400_pgrst200(cluster):
    body = assert_error(get(cluster, "/ft_tags?select=id,ft_publishers(name)"), 400, "PGRST200")
    assert "ft_tags" in body["message"] and "ft_publishers" in body["message"]
    body = assert_error(get(cluster, "/ft_books?select=id,ft_authors!no_such_fk(name)"), 400,
                        "PGRST200")
    assert "no_such_fk" in body["details"]


def test_inner_embed_drops_rows_and_left_keeps_them(cluster):
    inner = ok_json(get(cluster, "/ft_books?select=id,ft_publishers!inner(name)"
                                 "&ft_publishers.country=eq.NL&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', json_build_object('name', p.name)) ORDER BY b.id)
        FROM ft_books b JOIN ft_publishers p ON p.id = b.publisher_id WHERE p.country = 'NL'""")
    assert inner == expected
    left = ok_json(get(cluster, "/ft_books?select=id,ft_publishers!left(name)"
                                "&ft_publishers.country=eq.NL&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', (SELECT json_build_object('name', p.name) FROM ft_publishers p
        WHERE p.id = b.publisher_id AND p.country = 'NL')) ORDER BY b.id) FROM ft_books b""")
    assert left == expected
    assert len(left) > len(inner) > 0


def test_empty_embed_only_filters(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_reviews!inner()"
                                "&ft_reviews.stars=eq.5&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id) ORDER BY b.id)
        FROM ft_books b WHERE EXISTS (SELECT 1 FROM ft_reviews r WHERE r.book_id = b.id
        AND r.stars = 5)""")
    assert body == expected
    assert 0 < len(body) < 8


def test_embedded_filter_order_limit_offset_and_or(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_reviews(id,stars)"
                                "&ft_reviews.or=(stars.gte.4,reviewer.is.null)"
                                "&ft_reviews.order=id.desc&ft_reviews.limit=2"
                                "&ft_reviews.offset=1&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id, 'ft_reviews',
        (SELECT coalesce(json_agg(json_build_object('id', x.id, 'stars', x.stars)
                                  ORDER BY x.id DESC), '[]')
         FROM (SELECT * FROM ft_reviews r WHERE r.book_id = b.id
               AND (r.stars >= 4 OR r.reviewer IS NULL) ORDER BY r.id DESC LIMIT 2 OFFSET 1) x))
        ORDER BY b.id) FROM ft_books b""")
    assert body == expected
    assert any(r["ft_reviews"] for r in body)


def test_embed_is_null_and_not_is_null(cluster):
    no_reviews = ok_json(get(cluster, "/ft_books?select=id,ft_reviews(id)&ft_reviews=is.null"
                                      "&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
        'ft_reviews', '[]'::json) ORDER BY b.id) FROM ft_books b
        WHERE NOT EXISTS (SELECT 1 FROM ft_reviews r WHERE r.book_id = b.id)""")
    assert no_reviews == expected
    with_pub = ok_json(get(cluster, "/ft_books?select=id,ft_publishers(name)"
                                    "&ft_publishers=not.is.null&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
        'ft_publishers', json_build_object('name', p.name)) ORDER BY b.id)
        FROM ft_books b JOIN ft_publishers p ON p.id = b.publisher_id""")
    assert with_pub == expected


def test_inner_many_to_many_with_filter_and_exact_count(cluster):
    r = get(cluster, "/ft_books?select=id,ft_tags!inner(name)&ft_tags.name=eq.bestseller"
                     "&order=id&limit=1", headers={"Prefer": "count=exact"})
    n = int(sql_val(cluster, """SELECT count(DISTINCT bt.book_id) FROM ft_book_tags bt
                                JOIN ft_tags t ON t.id = bt.tag_id WHERE t.name = 'bestseller'"""))
    assert n > 1
    assert r.status == 206 and r.header("Content-Range") == f"0-0/{n}", r
    assert r.json() == sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
        'ft_tags', json_build_array(json_build_object('name', 'bestseller')))) FROM
        (SELECT min(book_id) AS id FROM ft_book_tags bt JOIN ft_tags t ON t.id = bt.tag_id
         WHERE t.name = 'bestseller') b""")


def test_select_with_quoted_column_names(cluster):
    body = ok_json(get(cluster, '/ft_books?select="title",n:"id"&id=eq.1'))
    assert body == sql_json(cluster, "SELECT json_agg(json_build_object('title', title, 'n', id)) "
                                     "FROM ft_books WHERE id = 1")


def test_embed_over_a_composite_foreign_key(cluster):
    body = ok_json(get(cluster, "/ft_editions?select=book_id,edition,ft_prints(copies)"
                                "&ft_prints.order=id&order=book_id,edition"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('book_id', e.book_id,
        'edition', e.edition, 'ft_prints', (SELECT coalesce(json_agg(json_build_object('copies',
        p.copies) ORDER BY p.id), '[]') FROM ft_prints p WHERE p.book_id = e.book_id
        AND p.edition = e.edition)) ORDER BY e.book_id, e.edition) FROM ft_editions e""")
    assert body == expected
    body = ok_json(get(cluster, "/ft_prints?select=id,ft_editions!inner(year,ft_books(title))"
                                "&ft_editions.year=gte.2001&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', p.id, 'ft_editions',
        json_build_object('year', e.year, 'ft_books', json_build_object('title', b.title)))
        ORDER BY p.id) FROM ft_prints p JOIN ft_editions e ON e.book_id = p.book_id
        AND e.edition = p.edition JOIN ft_books b ON b.id = e.book_id WHERE e.year >= 2001""")
    assert body == expected
    r = get(cluster, "/ft_editions?select=year&book_id=eq.1&edition=eq.2",
            headers={"Accept": "application/vnd.pgrst.object+json"})
    assert r.status == 200 and r.json() == sql_json(
        cluster, "SELECT json_build_object('year', year) FROM ft_editions "
                 "WHERE book_id = 1 AND edition = 2")


def test_identifiers_that_need_quoting(cluster):
    body = ok_json(get(cluster, '/ft_Camel?select=Id,"Cover Art",größe,ft_books(title)'
                                '&größe=gt.5&order="Cover Art".desc.nullsfirst'))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('Id', c."Id", 'Cover Art',
        c."Cover Art", 'größe', c.größe, 'ft_books', json_build_object('title', b.title))
        ORDER BY c."Cover Art" DESC NULLS FIRST) FROM "ft_Camel" c JOIN ft_books b
        ON b.id = c.book_id WHERE c.größe > 5""")
    assert body == expected
    body = ok_json(get(cluster, '/ft_books?select=id,ft_Camel(Id)&ft_Camel.order=Id&id=lt.3'
                                '&order=id'))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id, 'ft_Camel',
        (SELECT coalesce(json_agg(json_build_object('Id', c."Id") ORDER BY c."Id"), '[]')
         FROM "ft_Camel" c WHERE c.book_id = b.id)) ORDER BY b.id) FROM ft_books b
        WHERE b.id < 3""")
    assert body == expected
    body = ok_json(get(cluster, '/ft_Camel?select=Id&"Cover Art"=eq.red'))
    assert body == sql_json(cluster, """SELECT json_agg(json_build_object('Id', "Id"))
                                        FROM "ft_Camel" WHERE "Cover Art" = 'red'""")


def test_anonymous_role_reads_granted_tables(cluster):
    r = cluster.http("GET", "/ft_books?select=id&order=id")
    assert r.status == 200, r
    assert [x["id"] for x in r.json()] == sql_json(cluster, "SELECT json_agg(id ORDER BY id) "
                                                            "FROM ft_books")
    assert_error(cluster.http("GET", "/ft_items?select=id"), 401, "42501")


def test_or_across_embeds_with_null_checks(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_publishers(),ft_reviews()"
                                "&ft_publishers.country=eq.CH&ft_reviews.stars=eq.5"
                                "&or=(ft_publishers.not.is.null,ft_reviews.not.is.null)&order=id"))
    expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id) ORDER BY b.id)
        FROM ft_books b WHERE EXISTS (SELECT 1 FROM ft_publishers p WHERE p.id = b.publisher_id
        AND p.country = 'CH') OR EXISTS (SELECT 1 FROM ft_reviews r WHERE r.book_id = b.id
        AND r.stars = 5)""")
    assert body == expected
    assert 0 < len(expected) < 8


def test_order_by_a_json_path_of_a_to_one_embed(cluster):
    body = ok_json(get(cluster, "/ft_reviews?select=id,ft_books(id)"
                                "&order=ft_books(meta->rating).desc.nullslast,id"))
    expected = sql_json(cluster, """SELECT json_agg(r.id ORDER BY b.meta->'rating' DESC NULLS LAST,
        r.id) FROM ft_reviews r JOIN ft_books b ON b.id = r.book_id""")
    assert [x["id"] for x in body] == expected


# ---------------------------------------------------------------------------------------------
# filters: every operator, compared with the same condition evaluated by Postgres
# ---------------------------------------------------------------------------------------------

FILTERS = [
    ("pages=eq.150", "pages = 150"),
    ("pages=neq.150", "pages <> 150"),
    ("pages=gt.200", "pages > 200"),
    ("pages=gte.200", "pages >= 200"),
    ("pages=lt.150", "pages < 150"),
    ("pages=lte.150", "pages <= 150"),
    ("price=gt.12.5", "price > 12.5"),
    ("published=gte.2010-01-01", "published >= '2010-01-01'"),
    ("title=like.*Sea*", "title LIKE '%Sea%'"),
    ("title=ilike.*SEA*", "title ILIKE '%sea%'"),
    ("title=like.*100%*", "title LIKE '%100%%'"),
    ("title=match.^[A-Z].*s$", "title ~ '^[A-Z].*s$'"),
    ("title=imatch.^back", "title ~* '^back'"),
    ("id=in.(1,3,5)", "id IN (1, 3, 5)"),
    ("mood=in.(sad,ok)", "mood IN ('sad', 'ok')"),
    ("pages=is.null", "pages IS NULL"),
    ("pages=is.not_null", "pages IS NOT NULL"),
    ("in_stock=is.true", "in_stock IS TRUE"),
    ("in_stock=is.false", "in_stock IS FALSE"),
    ("in_stock=is.unknown", "in_stock IS UNKNOWN"),
    ("mood=isdistinct.happy", "mood IS DISTINCT FROM 'happy'"),
    ("search=fts.sea", "search @@ to_tsquery('sea')"),
    ("search=fts(english).sea %26 silent", "search @@ to_tsquery('english', 'sea & silent')"),
    ("search=plfts.silent sea", "search @@ plainto_tsquery('silent sea')"),
    ("search=phfts(english).quick brown", "search @@ phraseto_tsquery('english', 'quick brown')"),
    ("search=wfts(english).sea -silent",
     "search @@ websearch_to_tsquery('english', 'sea -silent')"),
    ("summary=fts(english).tales",
     "to_tsvector('english', summary) @@ to_tsquery('english', 'tales')"),
    ("summary=plfts.silent", "to_tsvector(summary) @@ plainto_tsquery('silent')"),
    ("meta=fts.fiction", "to_tsvector(meta) @@ to_tsquery('fiction')"),
    ("tags=cs.{sea,novel}", "tags @> '{sea,novel}'"),
    ("tags=cd.{sea,novel,misc}", "tags <@ '{sea,novel,misc}'"),
    ("scores=ov.{1,2}", "scores && '{1,2}'"),
    ("tags=eq.{dialogue}", "tags = '{dialogue}'"),
    ("meta=cs.{\"genre\":\"fiction\"}", "meta @> '{\"genre\":\"fiction\"}'"),
    ("meta=cd.{\"genre\":\"poetry\",\"langs\":[]}",
     "meta <@ '{\"genre\":\"poetry\",\"langs\":[]}'"),
    ("in_print=cs.[2003,2004)", "in_print @> '[2003,2004)'::int4range"),
    ("in_print=cd.[1990,2012)", "in_print <@ '[1990,2012)'::int4range"),
    ("in_print=ov.[2009,2011)", "in_print && '[2009,2011)'::int4range"),
    ("in_print=sl.[2011,2030)", "in_print << '[2011,2030)'::int4range"),
    ("in_print=sr.[2000,2001)", "in_print >> '[2000,2001)'::int4range"),
    ("in_print=nxr.[2000,2011)", "in_print &< '[2000,2011)'::int4range"),
    ("in_print=nxl.[2005,2007)", "in_print &> '[2005,2007)'::int4range"),
    ("in_print=adj.[2010,2015)", "in_print -|- '[2010,2015)'::int4range"),
    ("pages=not.gt.200", "NOT (pages > 200)"),
    ("title=not.like.*Sea*", "NOT (title LIKE '%Sea%')"),
    ("id=not.in.(1,2,3)", "NOT (id IN (1, 2, 3))"),
    ("pages=not.is.null", "NOT (pages IS NULL)"),
    ("tags=not.cs.{sea}", "NOT (tags @> '{sea}')"),
    ("search=not.fts.sea", "NOT (search @@ to_tsquery('sea'))"),
    ("mood=not.isdistinct.happy", "NOT (mood IS DISTINCT FROM 'happy')"),
    ("pages=eq(any).{90,150,999}", "pages = ANY ('{90,150,999}')"),
    ("pages=gt(all).{100,200}", "pages > ALL ('{100,200}')"),
    ("pages=lt(any).{100,200}", "pages < ANY ('{100,200}')"),
    ("title=like(any).{*Sea*,*Book}", "title LIKE ANY ('{%Sea%,%Book}')"),
    ("title=ilike(all).{*s*,*e*}", "title ILIKE ALL ('{%s%,%e%}')"),
    ("title=match(any).{^The,^Lon}", "title ~ ANY ('{^The,^Lon}')"),
    ("pages=not.eq(any).{90,150}", "NOT (pages = ANY ('{90,150}'))"),
    ("meta->>genre=eq.fiction", "meta->>'genre' = 'fiction'"),
    ("meta->rating=gt.4", "meta->'rating' > '4'"),
    ("meta->langs->>0=eq.en", "meta->'langs'->>0 = 'en'"),
    ("meta->series->>name=in.(Ocean,Talk)", "meta->'series'->>'name' IN ('Ocean', 'Talk')"),
    ("meta->langs=cs.[\"fr\"]", "meta->'langs' @> '[\"fr\"]'"),
    ("meta->>award=is.null", "meta->>'award' IS NULL"),
    ("info->>isbn=like.*8*", "info->>'isbn' LIKE '%8%'"),
    ("dims->>unit=eq.in", "to_jsonb(dims)->>'unit' = 'in'"),
    ("dims->width=gte.20", "to_jsonb(dims)->'width' >= '20'"),
    ("tags->>0=eq.sea", "to_jsonb(tags)->>0 = 'sea'"),
    ("title=eq.Ünïcödé Straße", "title = 'Ünïcödé Straße'"),
    ("title=eq.a,b.c:d", "title = 'a,b.c:d'"),
    ("title=in.(\"Cats, Dogs (and Others)\",\"He said \\\"hi\\\"\",\"Back\\\\slash Tales\")",
     "title IN ('Cats, Dogs (and Others)', 'He said \"hi\"', 'Back\\slash Tales')"),
    ("title=in.(\"a,b.c:d\",Lonely Book)", "title IN ('a,b.c:d', 'Lonely Book')"),
]


@pytest.mark.parametrize("qs,where", FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_operator_matches_postgres(cluster, qs, where):
    expected = sql_json(cluster, f"SELECT coalesce(json_agg(id ORDER BY id), '[]') "
                                 f"FROM ft_books WHERE {where}")
    total = int(sql_val(cluster, "SELECT count(*) FROM ft_books"))
    # A filter that keeps nothing or everything proves nothing.
    assert 0 < len(expected) < total, (qs, expected)
    body = ok_json(get(cluster, f"/ft_books?select=id&{qs}&order=id"))
    assert [r["id"] for r in body] == expected


def test_plain_filter_value_keeps_its_double_quotes(cluster):
    # Quotes only delimit values inside in.() lists and logic trees; eq."x" compares with "x".
    assert ok_json(get(cluster, '/ft_books?select=id&title=eq."a,b.c:d"')) == []
    quoted = sql_json(cluster, """SELECT json_agg(id) FROM ft_books WHERE title = 'He said "hi"'""")
    assert [r["id"] for r in ok_json(get(cluster, '/ft_books?select=id&title=eq.He said "hi"'))] \
        == quoted


LOGIC = [
    ("or=(pages.gt.300,mood.eq.sad)", "pages > 300 OR mood = 'sad'"),
    ("and=(pages.gt.100,mood.eq.happy)", "pages > 100 AND mood = 'happy'"),
    ("not.or=(pages.gt.200,pages.is.null)", "NOT (pages > 200 OR pages IS NULL)"),
    ("not.and=(pages.gt.100,mood.eq.happy)", "NOT (pages > 100 AND mood = 'happy')"),
    ("or=(and(mood.eq.happy,pages.lt.300),and(mood.eq.ok,not.pages.is.null))",
     "(mood = 'happy' AND pages < 300) OR (mood = 'ok' AND pages IS NOT NULL)"),
    ("and=(or(mood.eq.happy,mood.eq.sad),not.pages.lt.100)",
     "(mood = 'happy' OR mood = 'sad') AND NOT (pages < 100)"),
    ("or=(not.and(id.gt.2,id.lt.7),title.eq.Lonely Book)",
     "NOT (id > 2 AND id < 7) OR title = 'Lonely Book'"),
    ("or=(title.eq.\"a,b.c:d\",title.eq.\"He said \\\"hi\\\"\")",
     "title = 'a,b.c:d' OR title = 'He said \"hi\"'"),
    ("or=(title.in.(\"Cats, Dogs (and Others)\",Lonely Book),id.eq.1)",
     "title IN ('Cats, Dogs (and Others)', 'Lonely Book') OR id = 1"),
    ("or=(meta->>genre.eq.poetry,dims->>unit.eq.in)",
     "meta->>'genre' = 'poetry' OR to_jsonb(dims)->>'unit' = 'in'"),
    ("or=(search.fts(english).silent,tags.cs.{space})",
     "search @@ to_tsquery('english', 'silent') OR tags @> '{space}'"),
    ("or=(in_print.adj.\"[2010,2015)\",pages.is.null)",
     "in_print -|- '[2010,2015)'::int4range OR pages IS NULL"),
    ("or=(pages.gt.300,id.eq.2)&mood=eq.happy", "(pages > 300 OR id = 2) AND mood = 'happy'"),
    ("or=(pages.eq(any).{90,60},mood.isdistinct.happy)",
     "pages = ANY ('{90,60}') OR mood IS DISTINCT FROM 'happy'"),
]


@pytest.mark.parametrize("qs,where", LOGIC, ids=[f[0] for f in LOGIC])
def test_logic_trees_match_postgres(cluster, qs, where):
    expected = sql_json(cluster, f"SELECT coalesce(json_agg(id ORDER BY id), '[]') "
                                 f"FROM ft_books WHERE {where}")
    assert 0 < len(expected) < 8, (qs, expected)
    body = ok_json(get(cluster, f"/ft_books?select=id&{qs}&order=id"))
    assert [r["id"] for r in body] == expected


# ---------------------------------------------------------------------------------------------
# order
# ---------------------------------------------------------------------------------------------

ORDERS = [
    ("pages.desc", "pages DESC, id"),
    ("pages.desc.nullslast,id", "pages DESC NULLS LAST, id"),
    ("pages.asc.nullsfirst,id", "pages ASC NULLS FIRST, id"),
    ("pages.nullsfirst,id", "pages NULLS FIRST, id"),
    ("mood.desc,title", "mood DESC, title"),
    ("meta->>rating.desc.nullslast,id", "meta->>'rating' DESC NULLS LAST, id"),
    ("meta->series->no.asc,id.desc", "meta->'series'->'no' ASC, id DESC"),
    ("dims->>height.desc,id", "to_jsonb(dims)->>'height' DESC, id"),
    ("scores->0.desc.nullslast,id", "to_jsonb(scores)->0 DESC NULLS LAST, id"),
]


@pytest.mark.parametrize("order,sql_order", ORDERS, ids=[o[0] for o in ORDERS])
def test_order_matches_postgres(cluster, order, sql_order):
    expected = sql_json(cluster, f"SELECT json_agg(id ORDER BY {sql_order}) FROM ft_books")
    body = ok_json(get(cluster, f"/ft_books?select=id&order={order}"))
    assert [r["id"] for r in body] == expected


def test_order_by_to_one_embed_column(cluster):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_publishers(name)"
                                "&order=ft_publishers(name).desc.nullslast,id"))
    expected = sql_json(cluster, """SELECT json_agg(b.id ORDER BY p.name DESC NULLS LAST, b.id)
        FROM ft_books b LEFT JOIN ft_publishers p ON p.id = b.publisher_id""")
    assert [r["id"] for r in body] == expected
    body = ok_json(get(cluster, "/ft_books?select=id,author:ft_authors!author_id(born)"
                                "&order=author(born).asc.nullsfirst,id"))
    expected = sql_json(cluster, """SELECT json_agg(b.id ORDER BY a.born ASC NULLS FIRST, b.id)
        FROM ft_books b JOIN ft_authors a ON a.id = b.author_id""")
    assert [r["id"] for r in body] == expected


def test_order_on_to_many_embed_is_400_pgrst118(cluster):
    assert_error(get(cluster, "/ft_books?select=id,ft_reviews(stars)&order=ft_reviews(stars)"),
                 400, "PGRST118")


# ---------------------------------------------------------------------------------------------
# limit / offset / Range / Content-Range
# ---------------------------------------------------------------------------------------------

def book_count(cluster, where="true"):
    return int(sql_val(cluster, f"SELECT count(*) FROM ft_books WHERE {where}"))


def test_limit_offset_and_content_range(cluster):
    n = book_count(cluster)
    r = get(cluster, "/ft_books?select=id&order=id&limit=3&offset=2")
    assert [x["id"] for x in ok_json(r)] == sql_json(
        cluster,
        "SELECT json_agg(id) FROM (SELECT id FROM ft_books ORDER BY id LIMIT 3 OFFSET 2) x")
    assert r.header("Content-Range") == "2-4/*"
    r = get(cluster, "/ft_books?select=id&order=id")
    assert r.header("Content-Range") == f"0-{n - 1}/*"
    r = get(cluster, "/ft_books?select=id&id=eq.0")
    assert ok_json(r) == [] and r.header("Content-Range") == "*/*"
    r = get(cluster, "/ft_books?select=id&limit=0")
    assert ok_json(r) == [] and r.header("Content-Range") == "*/*"


def test_count_exact_with_limit_is_206(cluster):
    n = book_count(cluster)
    r = get(cluster, "/ft_books?select=id&order=id&limit=2&offset=1",
            headers={"Prefer": "count=exact"})
    assert r.status == 206, r
    assert r.header("Content-Range") == f"1-2/{n}"
    assert r.header("Preference-Applied") == "count=exact"
    r = get(cluster, "/ft_books?select=id", headers={"Prefer": "count=exact"})
    assert r.status == 200 and r.header("Content-Range") == f"0-{n - 1}/{n}"
    m = book_count(cluster, "pages > 200")
    r = get(cluster, "/ft_books?select=id&pages=gt.200&limit=1", headers={"Prefer": "count=exact"})
    assert r.status == 206 and r.header("Content-Range") == f"0-0/{m}"
    r = get(cluster, "/ft_books?select=id&id=eq.0", headers={"Prefer": "count=exact"})
    assert r.status == 200 and r.header("Content-Range") == "*/0"


def test_range_headers(cluster):
    n = book_count(cluster)
    r = get(cluster, "/ft_books?select=id&order=id",
            headers={"Range-Unit": "items", "Range": "1-3"})
    assert r.status == 200, r
    assert [x["id"] for x in r.json()] == sql_json(
        cluster,
        "SELECT json_agg(id) FROM (SELECT id FROM ft_books ORDER BY id OFFSET 1 LIMIT 3) x")
    assert r.header("Content-Range") == "1-3/*"
    r = get(cluster, "/ft_books?select=id&order=id",
            headers={"Range-Unit": "items", "Range": "5-", "Prefer": "count=exact"})
    assert r.status == 206 and r.header("Content-Range") == f"5-{n - 1}/{n}"
    assert len(r.json()) == n - 5
    # The Range header (rows 1-5) and limit=2 (rows 0-1) intersect: row 1 only.
    r = get(cluster, "/ft_books?select=id&order=id&limit=2", headers={"Range": "1-5"})
    assert r.header("Content-Range") == "1-1/*" and [x["id"] for x in r.json()] == [2]


def test_range_not_satisfiable_is_416_pgrst103(cluster):
    n = book_count(cluster)
    r = get(cluster, "/ft_books?select=id", headers={"Range": f"{n + 2}-{n + 5}",
                                                     "Prefer": "count=exact"})
    body = assert_error(r, 416, "PGRST103")
    assert r.header("Content-Range") == f"*/{n}"
    assert body["details"] == f"An offset of {n + 2} was requested, but there are only {n} rows."
    r = get(cluster, "/ft_books?select=id&offset=100", headers={"Prefer": "count=exact"})
    assert_error(r, 416, "PGRST103")
    assert r.header("Content-Range") == f"*/{n}"
    r = get(cluster, "/ft_books?select=id", headers={"Range": "3-1"})
    assert_error(r, 416, "PGRST103")
    assert_error(get(cluster, "/ft_books?select=id&limit=-1"), 416, "PGRST103")


def test_count_planned_and_estimated_report_the_exact_total_on_fresh_stats(cluster):
    n = book_count(cluster)
    for pref in ("planned", "estimated"):
        r = get(cluster, "/ft_books?select=id&limit=1", headers={"Prefer": f"count={pref}"})
        assert r.status == 206, r
        assert r.header("Content-Range") == f"0-0/{n}"
        assert r.header("Preference-Applied") == f"count={pref}"


def explain_rows(cluster, where):
    plan = sql_json(cluster, f"EXPLAIN (FORMAT JSON) SELECT * FROM ft_books WHERE {where}")
    return plan[0]["Plan"]["Plan Rows"]


def test_count_planned_uses_the_planner_estimate(cluster):
    exact = book_count(cluster, "meta->>'genre' = 'fiction'")
    planned = explain_rows(cluster, "meta->>'genre' = 'fiction'")
    assert planned != exact  # a jsonb expression: Postgres guesses, the test can tell
    r = get(cluster, "/ft_books?select=id&meta->>genre=eq.fiction",
            headers={"Prefer": "count=planned"})
    assert r.header("Content-Range") == f"0-{exact - 1}/{planned}"


def test_content_location_is_the_canonical_query(cluster):
    r = get(cluster, "/ft_books?title=eq.x&id=eq.1")
    assert r.header("Content-Location") == "/ft_books?id=eq.1&title=eq.x"
    assert get(cluster, "/ft_books").header("Content-Location") == "/ft_books"


def test_head_has_headers_and_no_body(cluster):
    n = book_count(cluster, "id > 3")
    r = get(cluster, "/ft_books?id=gt.3", method="HEAD", headers={"Prefer": "count=exact"})
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Range") == f"0-{n - 1}/{n}"
    assert r.header("Content-Type").startswith("application/json")


# ---------------------------------------------------------------------------------------------
# db_max_rows
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def max_rows_2(cluster):
    set_guc(cluster, "db_max_rows", 2)
    try:
        yield 2
    finally:
        set_guc(cluster, "db_max_rows", None)


def test_max_rows_caps_reads_and_keeps_client_limits(cluster, max_rows_2):
    n = book_count(cluster)
    r = get(cluster, "/ft_books?select=id&order=id")
    assert [x["id"] for x in ok_json(r)] == sql_json(
        cluster, "SELECT json_agg(id) FROM (SELECT id FROM ft_books ORDER BY id LIMIT 2) x")
    assert r.header("Content-Range") == "0-1/*"
    r = get(cluster, "/ft_books?select=id&order=id", headers={"Prefer": "count=exact"})
    assert r.status == 206 and r.header("Content-Range") == f"0-1/{n}"
    r = get(cluster, "/ft_books?select=id&order=id&limit=1&offset=5")
    assert r.header("Content-Range") == "5-5/*" and len(r.json()) == 1
    r = get(cluster, "/ft_books?select=id&order=id&offset=6&limit=10")
    assert r.header("Content-Range") == "6-7/*" and len(r.json()) == 2
    r = get(cluster, "/rpc/ft_numbers?n=10")
    assert ok_json(r) == [1, 2]


def test_max_rows_caps_embedded_resources(cluster, max_rows_2):
    body = ok_json(get(cluster, "/ft_books?select=id,ft_reviews(id)&ft_reviews.order=id&id=eq.1"))
    expected = sql_json(cluster, """SELECT json_agg(id) FROM (SELECT id FROM ft_reviews
                                    WHERE book_id = 1 ORDER BY id LIMIT 2) x""")
    assert len(expected) == 2  # book 1 has 3 reviews: the cap shows
    assert [x["id"] for x in body[0]["ft_reviews"]] == expected
    # a to-one parent embed is not affected (QueryLimitedSpec #647)
    body = ok_json(get(cluster, "/ft_reviews?select=id,ft_books(id)&order=id&limit=1"))
    assert body == sql_json(cluster, """SELECT json_agg(json_build_object('id', r.id,
        'ft_books', json_build_object('id', r.book_id))) FROM (SELECT * FROM ft_reviews
        ORDER BY id LIMIT 1) r""")


def test_max_rows_count_estimated_uses_the_planner_beyond_max_rows(cluster, max_rows_2):
    where = "meta->>'genre' IN ('fiction', 'scifi', 'poetry', 'misc')"
    exact = book_count(cluster, where)
    planned = explain_rows(cluster, where)
    expected = max(min(exact, 3), planned)
    assert exact > 2 and expected != exact
    r = get(cluster, "/ft_books?select=id&meta->>genre=in.(fiction,scifi,poetry,misc)",
            headers={"Prefer": "count=estimated"})
    assert r.header("Content-Range") == f"0-1/{expected}"


def test_max_rows_count_estimated_is_exact_below_max_rows(cluster, max_rows_2):
    r = get(cluster, "/ft_books?select=id&id=lt.3", headers={"Prefer": "count=estimated"})
    assert r.status == 200 and r.header("Content-Range") == "0-1/2"


# ---------------------------------------------------------------------------------------------
# media types
# ---------------------------------------------------------------------------------------------

def test_singular_object(cluster):
    r = get(cluster, "/ft_books?select=id,title,ft_publishers(name)&id=eq.1",
            headers={"Accept": "application/vnd.pgrst.object+json"})
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/vnd.pgrst.object+json")
    expected = sql_json(cluster, f"""SELECT json_build_object('id', b.id, 'title', b.title,
        'ft_publishers', (SELECT json_build_object('name', p.name) FROM ft_publishers p
        WHERE p.id = b.publisher_id)) FROM ft_books b WHERE b.id = 1""")
    assert r.json() == expected


@pytest.mark.parametrize("qs,n", [("id=eq.0", 0), ("id=lt.3", 2), ("", 8)])
def test_singular_object_needs_exactly_one_row(cluster, qs, n):
    assert book_count(cluster, {"id=eq.0": "id = 0", "id=lt.3": "id < 3", "": "true"}[qs]) == n
    r = get(cluster, f"/ft_books?select=id&{qs}",
            headers={"Accept": "application/vnd.pgrst.object+json"})
    body = assert_error(r, 406, "PGRST116")
    assert body["message"] == "Cannot coerce the result to a single JSON object"
    assert body["details"] == f"The result contains {n} rows"


def test_nulls_stripped_array_and_object(cluster):
    r = get(cluster, "/ft_books?select=id,pages,mood,ft_publishers(name,country)&order=id",
            headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"})
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/vnd.pgrst.array+json;nulls=stripped")
    expected = sql_json(cluster, """SELECT json_agg(json_strip_nulls(json_build_object(
        'id', b.id, 'pages', b.pages, 'mood', b.mood, 'ft_publishers',
        (SELECT json_build_object('name', p.name, 'country', p.country) FROM ft_publishers p
         WHERE p.id = b.publisher_id))) ORDER BY b.id) FROM ft_books b""")
    assert r.json() == expected
    r = get(cluster, "/ft_books?select=id,pages,mood&id=eq.5",
            headers={"Accept": "application/vnd.pgrst.object+json;nulls=stripped"})
    assert r.status == 200 and r.json() == {"id": 5}


def test_csv_output_matches_postgres_record_text(cluster):
    r = get(cluster, "/ft_books?select=id,title,tags,price,mood&order=id",
            headers={"Accept": "text/csv"})
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/csv")
    rows = cluster.psql("""SELECT string_agg(substr(t::text, 2, length(t::text) - 2), E'\\n'
                           ORDER BY t.id)
                           FROM (SELECT id, title, tags, price, mood FROM ft_books) t""")
    assert r.text == "id,title,tags,price,mood\n" + rows


def test_csv_with_alias_and_empty_result(cluster):
    r = get(cluster, "/ft_books?select=book:id,name:title&id=in.(1,2)&order=id",
            headers={"Accept": "text/csv"})
    rows = cluster.psql("""SELECT string_agg(substr(t::text, 2, length(t::text) - 2), E'\\n'
                           ORDER BY t.id) FROM (SELECT id, title FROM ft_books
                           WHERE id IN (1, 2)) t""")
    assert r.text == "book,name\n" + rows
    # PostgREST: header || '\n' || rows, and no header without a first row.
    r = get(cluster, "/ft_books?select=id&id=eq.0", headers={"Accept": "text/csv"})
    assert r.status == 200 and r.text == "\n"


def test_unknown_accept_is_406_pgrst107(cluster):
    body = assert_error(get(cluster, "/ft_books", headers={"Accept": "application/xml"}),
                        406, "PGRST107")
    assert "application/xml" in body["message"]


# ---------------------------------------------------------------------------------------------
# aggregates
# ---------------------------------------------------------------------------------------------

def test_aggregates_disabled_is_400_pgrst123(cluster):
    for path in ("/ft_books?select=count()", "/ft_books?select=pages.sum()",
                 "/ft_publishers?select=name,ft_books(count())"):
        body = assert_error(get(cluster, path), 400, "PGRST123")
        assert body["message"] == "Use of aggregate functions is not allowed"


@pytest.fixture(scope="module")
def aggregates_on(cluster):
    set_guc(cluster, "db_aggregates_enabled", "on")
    try:
        yield
    finally:
        set_guc(cluster, "db_aggregates_enabled", None)


class TestAggregates:
    def test_count_of_everything(self, cluster, aggregates_on):
        n = book_count(cluster)
        assert ok_json(get(cluster, "/ft_books?select=count()")) == [{"count": n}]
        assert ok_json(get(cluster, "/ft_books?select=cnt:count()::text")) == [{"cnt": str(n)}]
        m = book_count(cluster, "pages IS NOT NULL")
        assert ok_json(get(cluster, "/ft_books?select=pages.count()")) == [{"count": m}]

    def test_aggregates_with_implicit_group_by(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_books?select=publisher_id,count(),pages.sum(),"
                                    "avg_price:price.avg(),pages.max(),pages.min()"
                                    "&order=publisher_id.nullslast"))
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('publisher_id', g,
            'count', c, 'sum', s, 'avg_price', a, 'max', mx, 'min', mn)
            ORDER BY g NULLS LAST) FROM (SELECT publisher_id g, count(*) c, sum(pages) s,
            avg(price) a, max(pages) mx, min(pages) mn FROM ft_books GROUP BY publisher_id) x""")
        assert body == expected

    def test_aggregate_with_filter_cast_and_json_path_group(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_books?select=genre:meta->>genre,total:pages.sum()::text"
                                    "&pages=gt.80&order=meta->>genre"))
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('genre', g,
            'total', t) ORDER BY g) FROM (SELECT meta->>'genre' g, sum(pages)::text t
            FROM ft_books WHERE pages > 80 GROUP BY 1) x""")
        assert body == expected

    def test_aggregates_inside_a_to_many_embed(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_books?select=id,ft_reviews(count(),stars.avg())"
                                    "&order=id"))
        # Without grouping columns an aggregate yields one row, also for a parent without
        # children (PostgREST: [{"count": 0, "avg": null}]).
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('id', b.id,
            'ft_reviews', (SELECT json_agg(json_build_object('count', c, 'avg', a))
            FROM (SELECT count(*) c, avg(stars) a FROM ft_reviews r WHERE r.book_id = b.id) x))
            ORDER BY b.id) FROM ft_books b""")
        assert body == expected
        assert {"count": 0, "avg": None} in [r["ft_reviews"][0] for r in body]

    def test_aggregate_grouped_by_a_to_one_embed(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_books?select=pages.sum(),ft_publishers(country)"))
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('sum', s,
            'ft_publishers', CASE WHEN pid IS NULL THEN NULL
                             ELSE json_build_object('country', c) END))
            FROM (SELECT b.publisher_id pid, p.country c, sum(b.pages) s FROM ft_books b
            LEFT JOIN ft_publishers p ON p.id = b.publisher_id GROUP BY 1, 2) x""")
        key = lambda e: json.dumps(e, sort_keys=True)
        assert sorted(body, key=key) == sorted(expected, key=key)

    def test_aggregate_through_a_spread(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_books?select=pages.sum(),...ft_publishers(country)"))
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('sum', s,
            'country', c)) FROM (SELECT p.country c, sum(b.pages) s FROM ft_books b
            LEFT JOIN ft_publishers p ON p.id = b.publisher_id GROUP BY 1) x""")
        key = lambda e: json.dumps(e, sort_keys=True)
        assert sorted(body, key=key) == sorted(expected, key=key)


    def test_aggregates_on_rpc_results(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/rpc/ft_books_min_pages?min_pages=100"
                                    "&select=id.max(),pages.sum()"))
        assert body == sql_json(cluster, """SELECT json_agg(json_build_object('max', m, 'sum', s))
            FROM (SELECT max(id) m, sum(pages) s FROM ft_books_min_pages(100)) x""")

    def test_aggregates_inside_a_to_one_spread(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_reviews?select=stars.sum(),...ft_books(mood,"
                                    "pages.max())"))
        expected = sql_json(cluster, """SELECT json_agg(json_build_object('sum', s, 'mood', m,
            'max', x)) FROM (SELECT b.mood m, sum(r.stars) s, max(b.pages) x FROM ft_reviews r
            LEFT JOIN ft_books b ON b.id = r.book_id GROUP BY b.mood) g""")
        key = lambda e: json.dumps(e, sort_keys=True)
        assert sorted(body, key=key) == sorted(expected, key=key)

    def test_only_aggregates_inside_a_spread(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_reviews?select=...ft_books(pagesum:pages.sum())"))
        assert body == sql_json(cluster, """SELECT json_agg(json_build_object('pagesum', s))
            FROM (SELECT sum(b.pages) s FROM ft_reviews r LEFT JOIN ft_books b
                  ON b.id = r.book_id) x""")

    def test_order_by_a_spread_column_with_aggregates(self, cluster, aggregates_on):
        body = ok_json(get(cluster, "/ft_reviews?select=stars.sum(),...ft_books(mood)"
                                    "&order=ft_books(mood).desc.nullslast"))
        assert body == sql_json(cluster, """SELECT json_agg(json_build_object('sum', s,
            'mood', m) ORDER BY m DESC NULLS LAST) FROM (SELECT b.mood m, sum(r.stars) s
            FROM ft_reviews r LEFT JOIN ft_books b ON b.id = r.book_id GROUP BY b.mood) g""")


# ---------------------------------------------------------------------------------------------
# malformed queries
# ---------------------------------------------------------------------------------------------

MALFORMED = [
    "/ft_books?id=xx.1",
    "/ft_books?id=eq",
    "/ft_books?select=id,(",
    "/ft_books?select=id,ft_reviews(id",
    "/ft_books?order=id.sideways",
    "/ft_books?order=",
    "/ft_books?limit=abc",
    "/ft_books?offset=x",
    "/ft_books?or=(id.eq.1",
    "/ft_books?or=()",
    "/ft_books?and=(id.eq.1,,id.eq.2)",
    "/ft_books?id=in.(1,2",
    "/ft_books?pages=eq(some).{1}",
    "/ft_books?select=meta->",
    "/ft_books?select=id::",
    "/ft_books?ft_reviews.limit=x&select=id,ft_reviews(id)",
]


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_query_is_400_pgrst100(cluster, path):
    body = assert_error(get(cluster, path), 400, "PGRST100")
    assert body["message"]
