"""The RLS policies drizzle-orm generates (crudPolicy with authUid, as drizzle-kit writes them
into a migration), checked over HTTP with ES256 access tokens whose keys come from a JWKS URL,
as a Stack Auth app would use them."""

import uuid

import pytest

from conftest import Cluster
from jwks_helpers import JwksServer, KeyPair, claims, jwks_conf

# drizzle-kit's output for
#   pgTable("todos", {...}, (t) => [
#     crudPolicy({ role: anonymousRole, read: true, modify: false }),
#     crudPolicy({ role: authenticatedRole, read: true, modify: authUid(t.userId) }),
#   ])
DRIZZLE_MIGRATION = """
CREATE TABLE "todos" (
  "id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  "task" text NOT NULL,
  "is_complete" boolean DEFAULT false NOT NULL,
  "user_id" text DEFAULT (auth.user_id()) NOT NULL
);
ALTER TABLE "todos" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "crud-anonymous-policy-select" ON "todos" AS PERMISSIVE FOR SELECT TO "anonymous" USING (true);
CREATE POLICY "crud-anonymous-policy-insert" ON "todos" AS PERMISSIVE FOR INSERT TO "anonymous" WITH CHECK (false);
CREATE POLICY "crud-anonymous-policy-update" ON "todos" AS PERMISSIVE FOR UPDATE TO "anonymous" USING (false) WITH CHECK (false);
CREATE POLICY "crud-anonymous-policy-delete" ON "todos" AS PERMISSIVE FOR DELETE TO "anonymous" USING (false);
CREATE POLICY "crud-authenticated-policy-select" ON "todos" AS PERMISSIVE FOR SELECT TO "authenticated" USING (true);
CREATE POLICY "crud-authenticated-policy-insert" ON "todos" AS PERMISSIVE FOR INSERT TO "authenticated" WITH CHECK ((select auth.user_id() = "todos"."user_id"));
CREATE POLICY "crud-authenticated-policy-update" ON "todos" AS PERMISSIVE FOR UPDATE TO "authenticated" USING ((select auth.user_id() = "todos"."user_id")) WITH CHECK ((select auth.user_id() = "todos"."user_id"));
CREATE POLICY "crud-authenticated-policy-delete" ON "todos" AS PERMISSIVE FOR DELETE TO "authenticated" USING ((select auth.user_id() = "todos"."user_id"));
GRANT SELECT, INSERT, UPDATE, DELETE ON "todos" TO "anonymous";
"""

PROJECT = "3f1e7c52-0d55-4d4c-9d8e-1d2f1c0b7a10"
ISS = f"https://api.stack-auth.com/api/v1/projects/{PROJECT}"


@pytest.fixture(scope="module")
def app():
    key = KeyPair("ES256")
    server = JwksServer([key])
    c = Cluster(name="drizzle", extra_conf=jwks_conf(
        server, f"serendb_data_api.jwt_aud = '{PROJECT}'", f"serendb_data_api.jwt_iss = '{ISS}'"))
    try:
        c.start()
        c.psql(DRIZZLE_MIGRATION)
        c.expect_status("/todos", 200, timeout=30)
        yield c, key
    finally:
        c.destroy()
        server.close()


def token(key, sub):
    return key.sign(claims(sub=sub, aud=PROJECT, iss=ISS, is_anonymous=False,
                           email=f"{sub[:8]}@example.test"))


def test_owner_writes_everyone_reads(app):
    c, key = app
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    ta, tb = token(key, alice), token(key, bob)
    rep = {"Prefer": "return=representation"}

    r = c.http("POST", "/todos", token=ta, body={"task": "alice's"}, headers=rep)
    assert r.status == 201, r
    row = r.json()[0]
    assert row["user_id"] == alice  # the column default auth.user_id()
    todo = row["id"]

    # inserting in someone else's name violates the insert policy
    r = c.http("POST", "/todos", token=tb, body={"task": "forged", "user_id": alice})
    assert r.status == 403, r
    assert r.json()["code"] == "42501"

    # everyone reads (authenticated and anonymous)
    for t in (ta, tb, None):
        r = c.http("GET", f"/todos?id=eq.{todo}&select=task,user_id", token=t)
        assert r.status == 200 and r.json() == [{"task": "alice's", "user_id": alice}], r

    # bob's update and delete of alice's row match nothing
    r = c.http("PATCH", f"/todos?id=eq.{todo}", token=tb, body={"is_complete": True},
               headers=rep)
    assert (r.status, r.json()) == (200, []), r
    r = c.http("DELETE", f"/todos?id=eq.{todo}", token=tb, headers=rep)
    assert (r.status, r.json()) == (200, []), r
    # nor can alice give her row away
    r = c.http("PATCH", f"/todos?id=eq.{todo}", token=ta, body={"user_id": bob})
    assert r.status == 403, r

    # alice updates and deletes her own
    r = c.http("PATCH", f"/todos?id=eq.{todo}", token=ta, body={"is_complete": True},
               headers=rep)
    assert r.status == 200 and r.json()[0]["is_complete"] is True, r
    r = c.http("DELETE", f"/todos?id=eq.{todo}", token=ta, headers=rep)
    assert r.status == 200 and len(r.json()) == 1, r


def test_anonymous_cannot_modify(app):
    c, key = app
    r = c.http("POST", "/todos", body={"task": "anon", "user_id": "x"})
    assert r.status == 401, r  # RLS refusal for the anon role: PostgREST answers 401
    assert r.json()["code"] == "42501"
    owner = str(uuid.uuid4())
    r = c.http("POST", "/todos", token=token(key, owner), body={"task": "t"},
               headers={"Prefer": "return=representation"})
    todo = r.json()[0]["id"]
    r = c.http("PATCH", f"/todos?id=eq.{todo}", body={"task": "changed"},
               headers={"Prefer": "return=representation"})
    assert (r.status, r.json()) == (200, []), r
    r = c.http("DELETE", f"/todos?id=eq.{todo}", headers={"Prefer": "return=representation"})
    assert (r.status, r.json()) == (200, []), r
    assert c.psql(f"SELECT task FROM todos WHERE id = {todo}") == "t"
