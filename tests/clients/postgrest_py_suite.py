"""postgrest-py (PyPI `postgrest`, pinned in ../requirements.txt), sync and async clients, against
tests/fixtures/clients_schema.sql. Run by tests/test_clients.py inside tests/clients/.venv with
API_URL and the users' JWTs in the environment.

Every scenario is an `async def` taking a Ctx; `ctx.run(builder)` executes the builder with the
sync client (builder.execute()) or the async one (await builder.execute())."""

import asyncio
import os

import pytest
from postgrest import APIError, AsyncPostgrestClient, SyncPostgrestClient
from postgrest.types import CountMethod

URL = os.environ["API_URL"]
TOKENS = {"alice": os.environ["TOKEN_ALICE"], "bob": os.environ["TOKEN_BOB"]}


class Ctx:
    def __init__(self, mode):
        self.mode = mode
        self.clients = []

    def db(self, user="alice"):
        headers = {"Authorization": f"Bearer {TOKENS[user]}"} if user else {}
        cls = SyncPostgrestClient if self.mode == "sync" else AsyncPostgrestClient
        c = cls(URL, headers=headers)
        self.clients.append(c)
        return c

    async def run(self, builder):
        if self.mode == "sync":
            return builder.execute()
        return await builder.execute()

    async def error(self, builder):
        """The APIError the builder raises, as a dict."""
        with pytest.raises(APIError) as e:
            await self.run(builder)
        return e.value.json()

    async def close(self):
        for c in self.clients:
            if self.mode == "sync":
                c.aclose()
            else:
                await c.aclose()


def scenario(fn):
    """One test per client mode, running the async scenario to completion."""

    @pytest.mark.parametrize("mode", ["sync", "async"])
    def test(mode):
        async def main():
            ctx = Ctx(mode)
            try:
                await fn(ctx)
            finally:
                await ctx.close()

        asyncio.run(main())

    test.__name__ = fn.__name__
    return test


def own(mode):
    """Ids and ISO codes of this mode's writes (the two modes never collide)."""
    base = 300 if mode == "sync" else 400
    return base, ("PA", "PB") if mode == "sync" else ("QA", "QB")


@scenario
async def test_column_types(ctx):
    db = ctx.db()
    r = await ctx.run(db.from_("countries").select("*").eq("id", 1).single())
    assert r.data == {"id": 1, "name": "Algeria", "iso": "DZ", "flags": "1010", "continent": "Africa"}
    r = await ctx.run(db.from_("cities").select("tags", "meta", "info", "mood", "open_hours", "founded",
                                                "location").eq("id", 1))
    assert r.data == [{
        "tags": ["coast", "capital"], "meta": {"metro": True, "lines": 1}, "info": {"zone": "CET"},
        "mood": "happy", "open_hours": "[8,18)", "founded": "0944-01-01",
        "location": {"type": "Point", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
                     "coordinates": [3.0588, 36.7538]},
    }]


@scenario
async def test_embeds_hints_inner_spread_aggregates(ctx):
    db = ctx.db()
    r = await ctx.run(db.from_("countries").select("name, cities(name)").in_("id", [1, 2]).order("id")
                      .order("name", desc=True, foreign_table="cities").limit(1, foreign_table="cities"))
    assert r.data == [{"name": "Algeria", "cities": [{"name": "Oran"}]},
                      {"name": "France", "cities": [{"name": "Paris"}]}]
    r = await ctx.run(db.from_("users").select(
        "username, sent:messages!messages_sender_fkey(id), received:messages!messages_recipient_fkey(id)")
        .eq("username", "supabot").order("id", foreign_table="sent"))
    assert r.data == [{"username": "supabot", "sent": [{"id": 1}, {"id": 2}], "received": [{"id": 3}]}]
    r = await ctx.run(db.from_("countries").select("name, cities!inner(name)").eq("cities.name", "Paris"))
    assert r.data == [{"name": "France", "cities": [{"name": "Paris"}]}]
    r = await ctx.run(db.from_("messages").select("id, ...channels(slug)").order("id"))
    assert r.data == [{"id": 1, "slug": "public"}, {"id": 2, "slug": "random"}, {"id": 3, "slug": "public"}]
    r = await ctx.run(db.from_("cities").select("country_id, population.sum(), count()").order("country_id"))
    assert r.data == [{"country_id": 1, "sum": 4976140, "count": 2}, {"country_id": 2, "sum": 2674275, "count": 2},
                      {"country_id": 3, "sum": 13960000, "count": 1}, {"country_id": 4, "sum": 2219580, "count": 1}]
    e = await ctx.error(db.from_("users").select("username, messages(id)"))
    assert e["code"] == "PGRST201"
    assert e["hint"].startswith("Try changing 'messages' to one of the following: ")


FILTERS = [
    ("eq", lambda q: q.eq("mood", "happy"), [1, 3, 5]),
    ("neq", lambda q: q.neq("country_id", 1), [3, 4, 5, 6]),
    ("gt", lambda q: q.gt("population", 2219580), [1, 5]),
    ("gte", lambda q: q.gte("population", 2219580), [1, 5, 6]),
    ("lt", lambda q: q.lt("population", 1560329), [4]),
    ("lte", lambda q: q.lte("population", 1560329), [2, 4]),
    ("like", lambda q: q.like("name", "%ar%"), [3]),
    ("ilike", lambda q: q.ilike("name", "%O%"), [2, 4, 5]),
    ("is_null", lambda q: q.is_("description", "null"), [6]),
    ("in", lambda q: q.in_("name", ["Paris", "Lyon", "a,b"]), [3, 4]),
    ("contains_array", lambda q: q.contains("tags", ["coast", "capital"]), [1, 5]),
    ("contains_jsonb", lambda q: q.contains("meta", {"metro": True}), [1, 3, 4, 5]),
    ("contained_by", lambda q: q.contained_by("tags", ["coast", "capital"]), [1, 2, 5]),
    ("overlaps_array", lambda q: q.overlaps("tags", ["river", "nope"]), [3, 4, 6]),
    ("overlaps_range", lambda q: q.ov("open_hours", "[20,22)"), [3, 5]),
    ("range_gt", lambda q: q.range_gt("open_hours", (0, 6)), [1, 2, 3, 4]),
    ("range_lt", lambda q: q.range_lt("open_hours", (20, 30)), [1, 2, 4]),
    ("range_gte", lambda q: q.range_gte("open_hours", (7, 9)), [1, 2, 4]),
    ("range_lte", lambda q: q.range_lte("open_hours", (0, 18)), [1, 2]),
    ("range_adjacent", lambda q: q.range_adjacent("open_hours", (17, 20)), [1]),
    ("text_search", lambda q: q.text_search("fts", "city & river", {"config": "english"}), [3, 4]),
    ("text_search_plain", lambda q: q.text_search("fts", "light river", {"type": "plain", "config": "english"}), [3]),
    ("text_search_phrase", lambda q: q.text_search("fts", "city of light", {"type": "phrase", "config": "english"}), [3]),
    ("text_search_web", lambda q: q.text_search("fts", "river -food", {"type": "web_search", "config": "english"}), [3]),
    ("match", lambda q: q.match({"country_id": 1, "mood": "happy"}), [1]),
    ("not_eq", lambda q: q.not_.eq("mood", "happy"), [2, 4, 6]),
    ("not_in", lambda q: q.not_.in_("id", [1, 2, 3]), [4, 5, 6]),
    ("or", lambda q: q.or_("population.gt.10000000,name.eq.Lyon"), [4, 5]),
    ("filter", lambda q: q.filter("tags", "cs", "{river}"), [3, 4, 6]),
    ("json_path", lambda q: q.eq("meta->>lines", "16"), [3]),
]


@pytest.mark.parametrize("name,apply,want", FILTERS, ids=[f[0] for f in FILTERS])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_filter(mode, name, apply, want):
    async def main():
        ctx = Ctx(mode)
        try:
            r = await ctx.run(apply(ctx.db().from_("cities").select("id").order("id")))
            assert [row["id"] for row in r.data] == want
        finally:
            await ctx.close()

    asyncio.run(main())


@scenario
async def test_filters_on_character_n_and_bit_n(ctx):
    db = ctx.db()
    r = await ctx.run(db.from_("countries").select("id").eq("iso", "DZ"))
    assert r.data == [{"id": 1}]
    r = await ctx.run(db.from_("countries").select("id").eq("flags", "1010"))
    assert r.data == [{"id": 1}]


@scenario
async def test_order_range_single_maybe_single_csv_count(ctx):
    db = ctx.db()
    r = await ctx.run(db.from_("cities").select("id").order("population", desc=True).limit(2))
    assert r.data == [{"id": 5}, {"id": 1}]
    r = await ctx.run(db.from_("cities").select("id").order("description", nullsfirst=True).limit(1))
    assert r.data == [{"id": 6}]
    r = await ctx.run(db.from_("cities").select("id", count=CountMethod.exact).order("id").range(1, 2))
    assert (r.data, r.count) == ([{"id": 2}, {"id": 3}], 6)
    r = await ctx.run(db.from_("cities").select("id, name").eq("id", 3).single())
    assert r.data == {"id": 3, "name": "Paris"}
    assert await ctx.error(db.from_("cities").select("id").single()) == {
        "code": "PGRST116", "message": "Cannot coerce the result to a single JSON object",
        "details": "The result contains 6 rows", "hint": None}
    assert await ctx.run(db.from_("cities").select("id").eq("id", -1).maybe_single()) is None
    r = await ctx.run(db.from_("cities").select("id").eq("id", 4).maybe_single())
    assert r.data == {"id": 4}
    r = await ctx.run(db.from_("cities").select("id, name, population").in_("id", [1, 2]).order("id").csv())
    assert r.data == "id,name,population\n1,Algiers,3415811\n2,Oran,1560329"
    r = await ctx.run(db.from_("cities").select("*", count=CountMethod.exact, head=True))
    assert r.count == 6
    r = await ctx.run(db.from_("cities").select("id", count=CountMethod.planned).limit(1))
    assert r.count == 6
    planned = await ctx.run(db.from_("cities").select("id", count=CountMethod.planned, head=True).gt("id", 2))
    r = await ctx.run(db.from_("cities").select("id", count=CountMethod.estimated).gt("id", 2))
    assert r.count == max(4, planned.count)  # no db_max_rows: the larger of exact and planned


@scenario
async def test_explain(ctx):
    db = ctx.db()
    text = await ctx.run(db.from_("cities").select("name").eq("id", 3).explain())
    assert isinstance(text, str) and "on cities" in text
    r = await ctx.run(db.from_("cities").select("name").explain(analyze=True, format="json"))
    assert isinstance(r.data, list) and "Plan" in r.data[0]


@scenario
async def test_writes_with_returning_upsert_and_errors(ctx):
    db = ctx.db()
    base, (iso_a, iso_b) = own(ctx.mode)
    await ctx.run(db.from_("countries").delete().gte("id", base).lt("id", base + 10))  # an earlier failed run
    r = await ctx.run(db.from_("countries").insert({"id": base, "name": "Atlantis", "iso": iso_a, "flags": "0011"}))
    assert r.data == [{"id": base, "name": "Atlantis", "iso": iso_a, "flags": "0011", "continent": None}]
    r = await ctx.run(db.from_("countries").insert([{"id": base + 1, "name": "Mu", "iso": iso_b},
                                                     {"id": base + 2, "name": "Lemuria", "iso": "Z" + iso_b[0],
                                                      "continent": "Pacific"}], default_to_null=False))
    assert [(c["id"], c["continent"]) for c in r.data] == [(base + 1, None), (base + 2, "Pacific")]
    r = await ctx.run(db.from_("countries").upsert({"id": base, "name": "Atlantis II", "iso": iso_a},
                                                   on_conflict="iso"))
    assert [c["name"] for c in r.data] == ["Atlantis II"]
    r = await ctx.run(db.from_("countries").upsert({"id": base, "name": "ignored", "iso": iso_a},
                                                   on_conflict="iso", ignore_duplicates=True))
    assert r.data == []
    r = await ctx.run(db.from_("countries").update({"continent": "Atlantic"}).eq("id", base))
    assert [(c["name"], c["continent"]) for c in r.data] == [("Atlantis II", "Atlantic")]
    assert await ctx.error(db.from_("countries").insert({"id": base + 3, "name": "dup", "iso": "DZ"})) == {
        "code": "23505", "message": 'duplicate key value violates unique constraint "countries_iso_key"',
        "details": "Key (iso)=(DZ) already exists.", "hint": None}
    assert await ctx.error(db.from_("cities").insert({"id": base, "name": "x", "country_id": 1, "mood": "angry"})) == {
        "code": "22P02", "message": 'invalid input value for enum mood: "angry"', "details": None, "hint": None}
    r = await ctx.run(db.from_("countries").delete().in_("id", [base, base + 1, base + 2]).order("id"))
    assert [c["id"] for c in r.data] == [base, base + 1, base + 2]


@scenario
async def test_rls_per_user(ctx):
    alice, bob = ctx.db("alice"), ctx.db("bob")
    r = await ctx.run(alice.from_("todos").select("task").order("id"))
    assert r.data == [{"task": "alice private"}, {"task": "alice shared"}]
    r = await ctx.run(bob.from_("todos").select("task").order("id"))
    assert r.data == [{"task": "alice shared"}, {"task": "bob private"}]
    r = await ctx.run(bob.from_("todos").update({"done": True}).eq("task", "alice shared"))
    assert r.data == []
    assert await ctx.error(bob.from_("todos").insert({"task": "forged", "owner_id": "alice"})) == {
        "code": "42501", "message": 'new row violates row-level security policy for table "todos"',
        "details": None, "hint": None}
    e = await ctx.error(ctx.db(None).from_("todos").select("*"))
    assert (e["code"], e["message"]) == ("42501", "permission denied for table todos")


@scenario
async def test_rpc_get_post_filters_and_errors(ctx):
    db = ctx.db()
    assert (await ctx.run(db.rpc("add", {"a": 1, "b": 2}))).data == 3
    assert (await ctx.run(db.rpc("add", {"a": 40, "b": 2}, get=True))).data == 42
    for get in (False, True):
        r = await ctx.run(db.rpc("cities_over", {"min_population": 2000000}, get=get)
                          .select("name").gt("population", 3000000).order("name"))
        assert r.data == [{"name": "Algiers"}, {"name": "Tokyo"}]
    r = await ctx.run(db.rpc("cities_over", {"min_population": 0}, count=CountMethod.exact, head=True))
    assert r.count == 6
    assert await ctx.error(db.rpc("fail_with_hint", {})) == {
        "code": "P0001", "message": "the bill is unpaid", "details": "invoice 42", "hint": "pay it"}
    e = await ctx.error(db.rpc("add_country", {"name": "Getland", "iso": "GG"}, get=True))
    assert (e["code"], e["message"]) == ("25006", "cannot execute INSERT in a read-only transaction")
    e = await ctx.error(db.rpc("nope", {"a": 1}))
    assert (e["code"], e["message"]) == ("PGRST202", "Could not find the function public.nope(a) in the schema cache")
