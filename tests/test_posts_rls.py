"""The README's seed end to end: `posts` with drizzle crudPolicy-style RLS policies.

authenticated reads every post; inserts, updates and deletes only rows whose "userId" is the
JWT's `sub` (auth.user_id())."""

import json

import pytest


RETURN_REP = {"Prefer": "return=representation"}


def db_row(psql, post_id):
    out = psql(f"SELECT row_to_json(p) FROM posts p WHERE id = {int(post_id)}")
    return json.loads(out) if out else None


@pytest.fixture
def post_of_user1(cluster):
    r = cluster.http("POST", "/posts", RETURN_REP, {"content": "hello from user-1"},
                     token=cluster.token("user-1"))
    assert r.status == 201, r
    rows = r.json()
    assert len(rows) == 1
    return rows[0]


def test_insert_defaults_user_id_from_jwt(cluster, post_of_user1, psql):
    assert post_of_user1["userId"] == "user-1"
    assert post_of_user1["content"] == "hello from user-1"
    assert post_of_user1["published"] is False
    assert db_row(psql, post_of_user1["id"]) == post_of_user1


def test_insert_without_representation_is_201_with_empty_body(cluster, psql):
    r = cluster.http("POST", "/posts", None, {"content": "minimal"}, token=cluster.token("user-1"))
    assert r.status == 201, r
    assert r.body == b""
    assert psql("SELECT count(*) FROM posts WHERE content = 'minimal' AND \"userId\" = 'user-1'") == "1"


def test_other_user_reads_every_post(cluster, post_of_user1):
    r = cluster.http("GET", f"/posts?id=eq.{post_of_user1['id']}", token=cluster.token("user-2"))
    assert r.status == 200, r
    assert r.json() == [post_of_user1]


def test_other_user_patch_changes_nothing(cluster, post_of_user1, psql):
    pid = post_of_user1["id"]
    t2 = cluster.token("user-2")
    r = cluster.http("PATCH", f"/posts?id=eq.{pid}", RETURN_REP, {"content": "hacked"}, token=t2)
    assert r.status == 200, r
    assert r.json() == []
    r = cluster.http("PATCH", f"/posts?id=eq.{pid}", None, {"content": "hacked"}, token=t2)
    assert r.status == 204, r
    assert db_row(psql, pid) == post_of_user1


def test_other_user_delete_changes_nothing(cluster, post_of_user1, psql):
    pid = post_of_user1["id"]
    t2 = cluster.token("user-2")
    r = cluster.http("DELETE", f"/posts?id=eq.{pid}", RETURN_REP, token=t2)
    assert r.status == 200, r
    assert r.json() == []
    r = cluster.http("DELETE", f"/posts?id=eq.{pid}", None, token=t2)
    assert r.status == 204, r
    assert db_row(psql, pid) == post_of_user1


def test_insert_for_another_user_is_refused(cluster, psql):
    before = psql("SELECT count(*) FROM posts")
    r = cluster.http("POST", "/posts", RETURN_REP, {"content": "forged", "userId": "user-1"},
                     token=cluster.token("user-2"))
    assert r.status == 403, r
    body = r.json()
    assert body["code"] == "42501"
    assert body["message"].startswith("new row violates row-level security policy"), body
    assert psql("SELECT count(*) FROM posts") == before


def test_owner_updates_and_deletes_own_post(cluster, post_of_user1, psql):
    pid = post_of_user1["id"]
    t1 = cluster.token("user-1")
    r = cluster.http("PATCH", f"/posts?id=eq.{pid}", RETURN_REP,
                     {"content": "edited", "published": True}, token=t1)
    assert r.status == 200, r
    assert r.json() == [dict(post_of_user1, content="edited", published=True)]
    assert db_row(psql, pid)["content"] == "edited"
    # The update policy's WITH CHECK refuses handing the row to someone else.
    r = cluster.http("PATCH", f"/posts?id=eq.{pid}", None, {"userId": "user-2"}, token=t1)
    assert r.status == 403, r
    assert r.json()["code"] == "42501"
    assert db_row(psql, pid)["userId"] == "user-1"
    r = cluster.http("DELETE", f"/posts?id=eq.{pid}", RETURN_REP, token=t1)
    assert r.status == 200, r
    assert [row["id"] for row in r.json()] == [pid]
    assert db_row(psql, pid) is None


def test_anonymous_role_without_privileges_gets_401(cluster):
    # The session cluster's anon role is `anonymous`, which has no privilege on posts.
    r = cluster.http("GET", "/posts")
    assert r.status == 401, r
    assert r.json()["code"] == "42501"


def test_no_token_is_401_when_anon_role_is_unset(cluster, psql):
    psql("""
        CREATE TABLE IF NOT EXISTS public_notes (id int PRIMARY KEY, note text);
        INSERT INTO public_notes VALUES (1, 'hi') ON CONFLICT DO NOTHING;
        GRANT USAGE ON SCHEMA public TO anonymous;
        GRANT SELECT ON public_notes TO anonymous;
    """)
    cluster.expect_status("/public_notes", 200)
    try:
        psql("ALTER SYSTEM SET serendb_data_api.db_anon_role = ''; SELECT pg_reload_conf();")
        r = cluster.wait_status("/public_notes", 401)
        assert r.status == 401 and r.json()["code"] == "PGRST302", r
        # A JWT still works.
        r = cluster.http("GET", "/posts?limit=1", token=cluster.token("user-1"))
        assert r.status == 200, r
    finally:
        psql("ALTER SYSTEM RESET serendb_data_api.db_anon_role; SELECT pg_reload_conf();")
    assert cluster.wait_status("/public_notes", 200).status == 200
