"""GET / and HEAD /: the OpenAPI description (PostgREST's test/spec/Feature/OpenApi/*), Swagger
2.0 as PostgREST serves it and OpenAPI 3.1 (ours), both validated against the OpenAPI
Initiative's JSON Schemas (tests/fixtures/openapi).

Runs on its own cluster: some tests change the configuration."""

import json
import os

import jsonschema
import pytest
import yaml

from conftest import Cluster, wait_for

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "openapi")

SCHEMA = r"""
COMMENT ON SCHEMA public IS E'My API title\nMy API description\nthat spans\nmultiple lines';
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE items (
  id int PRIMARY KEY,
  name varchar(20) DEFAULT 'x',
  code character(1),
  kind mood DEFAULT 'happy',
  flag boolean NOT NULL DEFAULT false,
  n bigint DEFAULT 42,
  tags text[],
  meta jsonb,
  metas json[]
);
COMMENT ON TABLE items IS E'Items\n\nAll the items\nwe have';
COMMENT ON COLUMN items.name IS 'the name';
CREATE TABLE children (id int PRIMARY KEY, item_id int REFERENCES items(id));
COMMENT ON TABLE children IS 'children comment';
CREATE TABLE logs (msg text);
CREATE VIEW item_count AS SELECT count(*) AS n FROM items;
CREATE TABLE secret_stuff (id int PRIMARY KEY, code text);
CREATE FUNCTION stable_fn(a int, b text DEFAULT 'x') RETURNS int LANGUAGE sql STABLE AS $$ SELECT a $$;
COMMENT ON FUNCTION stable_fn IS E'An RPC function\n\nJust a test';
CREATE FUNCTION volatile_fn() RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 1 $$;
CREATE FUNCTION variadic_fn(VARIADIC v text[] DEFAULT '{}') RETURNS text[] LANGUAGE sql STABLE AS $$ SELECT v $$;
CREATE FUNCTION secret_fn() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 42 $$;
REVOKE EXECUTE ON FUNCTION secret_fn() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION secret_fn() TO authenticated;
GRANT USAGE ON SCHEMA public TO anonymous;
GRANT SELECT ON items, children, logs, item_count TO anonymous;
"""


@pytest.fixture(scope="module")
def web():
    c = Cluster(name="openapi")
    try:
        c.start()
        c.psql(SCHEMA)
        # comments send no invalidation: reload the schema cache, as with PostgREST
        c.psql("NOTIFY pgrst, 'reload schema'")
        assert wait_for(lambda: c.http("GET", "/").json()["paths"].get("/items", {})
                        .get("get", {}).get("summary") == "Items", timeout=20)
        yield c
    finally:
        c.destroy()


def set_guc(c, name, value):
    if value is None:
        c.psql(f"ALTER SYSTEM RESET serendb_data_api.{name}; SELECT pg_reload_conf();")
    else:
        c.psql(f"ALTER SYSTEM SET serendb_data_api.{name} = '{value}'; SELECT pg_reload_conf();")


def doc(c, accept="application/openapi+json", token=None):
    r = c.http("GET", "/", headers={"Accept": accept}, token=token)
    assert r.status == 200, r
    return r.json()


def validate_swagger(d):
    with open(os.path.join(FIXTURES, "swagger-2.0-schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft4Validator(schema).validate(d)


def validate_31(d):
    with open(os.path.join(FIXTURES, "oas-3.1-schema.yaml")) as f:
        schema = yaml.safe_load(f)
    jsonschema.Draft202012Validator(schema).validate(d)


# ---- media types -------------------------------------------------------------------------

def test_root_serves_a_valid_swagger_document(web):
    r = web.http("GET", "/", headers={"Accept": "application/openapi+json"})
    assert r.status == 200
    assert r.header("Content-Type") == "application/openapi+json; charset=utf-8"
    d = r.json()
    assert d["swagger"] == "2.0"
    validate_swagger(d)
    r = web.http("HEAD", "/", headers={"Accept": "application/openapi+json"})
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Type") == "application/openapi+json; charset=utf-8"


@pytest.mark.parametrize("accept", ["application/json", "*/*", None,
                                    "text/csv, application/openapi+json"])
def test_root_media_types(web, accept):
    headers = {"Accept": accept} if accept else {}
    r = web.http("GET", "/", headers=headers)
    assert r.status == 200
    assert r.header("Content-Type") == "application/openapi+json; charset=utf-8"
    assert r.json()["swagger"] == "2.0"


def test_406_for_what_cannot_be_produced(web):
    r = web.http("GET", "/", headers={"Accept": "text/csv"})
    assert r.status == 406
    assert r.json() == {"code": "PGRST107", "details": None, "hint": None,
                        "message": "None of these media types are available: text/csv"}
    r = web.http("GET", "/items", headers={"Accept": "application/openapi+json"})
    assert r.status == 406 and r.json()["code"] == "PGRST107"
    r = web.http("GET", "/", headers={"Accept": "application/openapi+json;version=9"})
    assert r.status == 406


# ---- document shape ----------------------------------------------------------------------

def test_schema_comment_is_title_and_description(web):
    d = doc(web)
    assert d["info"]["title"] == "My API title"
    assert d["info"]["description"] == "My API description\nthat spans\nmultiple lines"
    assert d["host"] == f"127.0.0.1:{web.api_port}"
    assert d["basePath"] == "/" and d["schemes"] == ["http"]


def test_table_paths(web):
    d = doc(web)
    items = d["paths"]["/items"]
    assert items["get"]["summary"] == "Items"
    assert items["get"]["description"] == "All the items\nwe have"
    assert items["get"]["tags"] == ["items"]
    cols = ["id", "name", "code", "kind", "flag", "n", "tags", "meta", "metas"]
    assert items["get"]["parameters"] == (
        [{"$ref": f"#/parameters/rowFilter.items.{c}"} for c in cols]
        + [{"$ref": f"#/parameters/{p}"} for p in
           ["select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"]])
    assert items["get"]["responses"]["200"]["schema"] == {
        "items": {"$ref": "#/definitions/items"}, "type": "array"}
    assert items["post"]["parameters"] == [{"$ref": "#/parameters/body.items"},
                                           {"$ref": "#/parameters/select"},
                                           {"$ref": "#/parameters/preferPost"}]
    assert items["post"]["responses"]["201"]["description"] == "Created"
    assert items["patch"]["responses"]["204"]["description"] == "No Content"
    assert items["delete"]["responses"]["204"]["description"] == "No Content"
    assert d["paths"]["/children"]["get"]["summary"] == "children comment"
    assert "description" not in d["paths"]["/children"]["get"]
    assert set(d["paths"]["/item_count"]) == {"get"}
    assert set(d["paths"]["/logs"]) == {"get", "post", "patch", "delete"}
    assert d["paths"]["/"]["get"]["produces"] == ["application/openapi+json", "application/json"]


def test_definitions(web):
    d = doc(web)
    items = d["definitions"]["items"]
    assert items["type"] == "object"
    assert items["description"] == "Items\n\nAll the items\nwe have"
    assert items["required"] == ["id", "flag"]
    p = items["properties"]
    assert p["id"] == {"description": "Note:\nThis is a Primary Key.<pk/>",
                       "format": "int32", "type": "integer"}
    assert p["name"] == {"default": "x", "description": "the name", "maxLength": 20,
                         "format": "character varying", "type": "string"}
    assert p["code"] == {"maxLength": 1, "format": "character", "type": "string"}
    assert p["kind"]["enum"] == ["happy", "sad"] and p["kind"]["type"] == "string"
    assert p["flag"]["default"] is False
    assert p["n"] == {"default": 42, "format": "int64", "type": "integer"}
    assert p["tags"] == {"format": "text[]", "type": "array", "items": {"type": "string"}}
    assert p["meta"] == {"format": "jsonb"}
    assert p["metas"] == {"format": "json[]", "type": "array", "items": {}}
    fk = d["definitions"]["children"]["properties"]["item_id"]
    assert fk == {"description": "Note:\nThis is a Foreign Key to `items.id`."
                                 "<fk table='items' column='id'/>",
                  "format": "int32", "type": "integer"}
    assert d["parameters"]["rowFilter.items.name"] == {
        "description": "the name", "in": "query", "name": "name", "required": False,
        "type": "string"}
    assert d["parameters"]["body.items"]["schema"] == {"$ref": "#/definitions/items"}
    assert "enum" not in d["parameters"]["preferParams"]
    assert d["parameters"]["preferCount"]["enum"] == ["count=none"]


def test_function_paths(web):
    d = doc(web)
    f = d["paths"]["/rpc/stable_fn"]
    assert f["get"]["summary"] == "An RPC function"
    assert f["get"]["description"] == "Just a test"
    assert f["get"]["tags"] == ["(rpc) stable_fn"]
    assert f["get"]["parameters"] == [
        {"format": "int32", "in": "query", "name": "a", "required": True, "type": "integer"},
        {"format": "text", "in": "query", "name": "b", "required": False, "type": "string"}]
    body = f["post"]["parameters"][0]
    assert body["in"] == "body" and body["name"] == "args" and body["required"] is True
    assert body["schema"]["required"] == ["a"]
    assert body["schema"]["description"] == "An RPC function\n\nJust a test"
    assert f["post"]["parameters"][1] == {"$ref": "#/parameters/preferParams"}
    assert set(d["paths"]["/rpc/volatile_fn"]) == {"post"}
    assert d["paths"]["/rpc/variadic_fn"]["get"]["parameters"][0] == {
        "collectionFormat": "multi", "in": "query", "items": {"format": "text", "type": "string"},
        "name": "v", "required": False, "type": "array"}


# ---- privileges --------------------------------------------------------------------------

def test_only_what_the_role_may_use(web):
    anon = doc(web)
    assert "/secret_stuff" not in anon["paths"]
    assert "secret_stuff" not in anon["definitions"]
    assert not [k for k in anon["parameters"] if "secret_stuff" in k]
    assert "/rpc/secret_fn" not in anon["paths"]
    validate_swagger(anon)
    user = doc(web, token=web.token())
    assert user["paths"]["/secret_stuff"]["post"]["tags"] == ["secret_stuff"]
    assert "secret_stuff" in user["definitions"]
    assert "rowFilter.secret_stuff.code" in user["parameters"]
    assert user["paths"]["/rpc/secret_fn"]["post"]["tags"] == ["(rpc) secret_fn"]


def test_openapi_mode(web):
    try:
        set_guc(web, "openapi_mode", "ignore-privileges")
        assert wait_for(lambda: "/secret_stuff" in doc(web)["paths"])
        assert "/rpc/secret_fn" in doc(web)["paths"]
        set_guc(web, "openapi_mode", "disabled")
        r = web.wait_status("/", 404)
        assert r.status == 404
        assert r.body == (b'{"code":"PGRST126","details":null,"hint":null,'
                          b'"message":"Root endpoint metadata is disabled"}')
        assert web.http("HEAD", "/").status == 404
        assert web.http("POST", "/").status == 404
    finally:
        set_guc(web, "openapi_mode", None)
    assert web.expect_status("/", 200)
    assert "/secret_stuff" not in doc(web)["paths"]


def test_server_proxy_uri(web):
    try:
        set_guc(web, "openapi_server_proxy_uri", "https://api.example.com/v1")
        assert wait_for(lambda: doc(web)["host"] == "api.example.com:443")
        d = doc(web)
        assert d["basePath"] == "/v1" and d["schemes"] == ["https"]
        validate_swagger(d)
        d = doc(web, accept="application/openapi+json;version=3.1")
        assert d["servers"] == [{"url": "https://api.example.com:443/v1"}]
    finally:
        set_guc(web, "openapi_server_proxy_uri", None)


# ---- OpenAPI 3.1 -------------------------------------------------------------------------

def test_openapi_31_by_accept_parameter(web):
    r = web.http("GET", "/", headers={"Accept": "application/openapi+json;version=3.1"})
    assert r.status == 200
    assert r.header("Content-Type") == "application/openapi+json; charset=utf-8"
    d = r.json()
    assert d["openapi"] == "3.1.0"
    validate_31(d)
    assert d["info"]["title"] == "My API title"
    items = d["components"]["schemas"]["items"]
    assert items["properties"]["id"]["format"] == "int32"
    get = d["paths"]["/items"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "items": {"$ref": "#/components/schemas/items"}, "type": "array"}
    assert d["paths"]["/items"]["post"]["requestBody"] == {
        "$ref": "#/components/requestBodies/items"}
    assert d["components"]["parameters"]["rowFilter.items.name"]["schema"] == {"type": "string"}
    rpc = d["paths"]["/rpc/stable_fn"]["post"]["requestBody"]
    assert rpc["content"]["application/json"]["schema"]["required"] == ["a"]
    # privileges apply the same way
    assert "secret_stuff" not in d["components"]["schemas"]
    assert "secret_stuff" not in d["components"]["requestBodies"]
    assert not [k for k in d["components"]["parameters"] if "secret_stuff" in k]
    user = doc(web, accept="application/openapi+json;version=3.1", token=web.token())
    assert "secret_stuff" in user["components"]["requestBodies"]
    validate_31(user)


def test_openapi_version_setting(web):
    try:
        set_guc(web, "openapi_version", "3.1")
        assert wait_for(lambda: doc(web).get("openapi") == "3.1.0")
        validate_31(doc(web, accept="application/json"))
        # the Accept parameter still picks 2.0
        assert doc(web, accept="application/openapi+json;version=2.0")["swagger"] == "2.0"
        set_guc(web, "openapi_security_active", "on")
        d = wait_for(lambda: (lambda d: "security" in d and d)(doc(web)))
        assert d["security"] == [{"JWT": []}]
        assert d["components"]["securitySchemes"]["JWT"]["scheme"] == "bearer"
        validate_31(d)
    finally:
        set_guc(web, "openapi_version", None)
        set_guc(web, "openapi_security_active", None)
    assert wait_for(lambda: doc(web).get("swagger") == "2.0")
