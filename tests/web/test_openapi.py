"""The OpenAPI document (/api/openapi.json): every /api route described for exactly the
methods it answers, a valid OpenAPI 3.1 document, and answers that match it."""

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from orchestra import entities
from orchestra.app import route_table
from orchestra.web import api, apiroutes, openapi
from tests.knowledge_helpers import add_base

DOC_URI = "urn:orchestra:openapi"


@pytest.fixture(scope="module")
def document():
    return openapi.build_spec(route_table())


def schema_validator(document, schema):
    """A JSON Schema 2020-12 validator of a response's `schema`, its $refs resolved in
    `document`. As OpenAPI says, write-only properties are not part of a response."""
    registry = Registry().with_resource(DOC_URI, Resource(contents=without_write_only(
        document), specification=DRAFT202012))
    return Draft202012Validator(rebase(schema), registry=registry)


def without_write_only(schema):
    if isinstance(schema, list):
        return [without_write_only(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: without_write_only(v) for k, v in schema.items()}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        hidden = {k for k, v in properties.items() if isinstance(v, dict) and v.get("writeOnly")}
        if hidden:
            schema["properties"] = {k: v for k, v in properties.items() if k not in hidden}
            if isinstance(schema.get("required"), list):
                schema["required"] = [k for k in schema["required"] if k not in hidden]
    return schema


def rebase(schema):
    if isinstance(schema, dict):
        return {k: (DOC_URI + v if k == "$ref" and v.startswith("#") else rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [rebase(v) for v in schema]
    return schema


def response_schema(document, path, method, status):
    response = document["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def assert_documented(document, path, method, response):
    """The response's status is documented for the operation and its JSON body fits."""
    responses = document["paths"][path][method]["responses"]
    assert str(response.code) in responses, (path, method, response.code, response.text)
    if response.code == 204:
        assert response.body == b""
        return
    assert response.headers["Content-Type"].startswith("application/json")
    errors = sorted(schema_validator(document, response_schema(
        document, path, method, response.code)).iter_errors(response.json()),
        key=lambda e: list(e.path))
    assert not errors, "%s %s %d: %s" % (method, path, response.code,
                                         "; ".join(e.message for e in errors[:5]))


# -- the document and the route table -----------------------------------------------------------

def test_every_api_route_is_described_for_exactly_the_methods_it_answers():
    missing, extra = apiroutes.coverage(route_table())
    assert not missing, "answered but not described: %s" % missing
    assert not extra, "described but not answered: %s" % extra


def test_every_described_operation_belongs_to_a_route(document):
    answered = set()
    for pattern, handler, kwargs in apiroutes.api_routes(route_table()):
        if not apiroutes.documented(handler, kwargs):
            continue  # reported by the test above
        path, _ = apiroutes.path_template(pattern, apiroutes.path_param_names(handler, pattern))
        answered.update((path, m) for m in apiroutes.answered_methods(handler))
    described = {(path, m) for path, item in document["paths"].items() for m in item
                 if m in apiroutes.METHODS}
    assert described and described <= answered, described - answered


def test_a_route_shadowed_by_an_earlier_one_is_not_described():
    """/api/tasks is the task API's (before the generic CRUD in the route table)."""
    handlers = {pattern: handler for pattern, handler, _ in apiroutes.api_routes(route_table())}
    assert handlers["/api/tasks$"].__module__ == "orchestra.web.tasks"
    assert handlers["/api/templates$"] is api.CollectionHandler


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)


def test_operation_ids_are_unique_and_stable(document):
    ids = [operation["operationId"] for item in document["paths"].values()
           for operation in item.values()]
    assert len(ids) == len(set(ids))
    assert document["paths"]["/api/templates"]["get"]["operationId"] == "listTemplates"
    assert document["paths"]["/api/knowledge-bases/{id}"]["patch"]["operationId"] == \
        "updateKnowledgeBase"
    assert openapi.build_spec(route_table()) == document


def test_path_groups_become_typed_parameters():
    path, params = apiroutes.path_template(r"/api/tasks/([0-9]+)/(plan|run|cancel)$",
                                         ["id", "action"])
    assert path == "/api/tasks/{id}/{action}"
    assert params == [("id", {"type": "integer", "minimum": 1,
                              "maximum": 9223372036854775807}),
                      ("action", {"type": "string", "enum": ["plan", "run", "cancel"]})]
    path, params = apiroutes.path_template(r"/api/tools/([A-Za-z0-9_.-]+)/run$", ["name"])
    assert path == "/api/tools/{name}/run"
    assert params == [("name", {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"})]
    with pytest.raises(ValueError):
        apiroutes.path_template(r"/api/x/(.*)/y+$", ["id"])


def test_errors_auth_and_bodies_are_described(document):
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == dict(schemes["bearer"], type="http", scheme="bearer")
    assert schemes["cookie"]["in"] == "cookie" and schemes["cookie"]["name"] == "orchestra_auth"
    assert "X-XSRFToken" in schemes["cookie"]["description"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if operation.get("security") != [{}]:
                assert "401" in responses, (path, method)
            if "requestBody" in operation:
                assert "413" in responses and "400" in responses, (path, method)
            assert operation["summary"] and operation["tags"]
    create = document["paths"]["/api/templates"]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"] == \
        api.EXAMPLES["templates"]
    read_only = document["paths"]["/api/web-fetch-results"]["post"]["responses"]
    assert "405" in read_only and "201" not in read_only


def test_list_query_parameters_follow_the_registry(document):
    def names(path):
        return [p["name"] for p in document["paths"][path]["get"]["parameters"]]
    assert names("/api/conversations") == ["limit", "offset", "q"]
    assert names("/api/messages") == ["limit", "offset", "conversationId"]
    assert names("/api/templates") == ["limit", "offset", "category"]
    conversation = document["paths"]["/api/messages"]["get"]["parameters"][2]["schema"]
    assert conversation["maximum"] == 9223372036854775807


def test_a_required_name_must_not_be_blank(document):
    """The schemas strip names and titles, so a blank one is refused: the document says so."""
    assert document["components"]["schemas"]["Template"]["properties"]["name"]["pattern"] == \
        r"\S"
    assert "pattern" not in document["components"]["schemas"]["Template"]["properties"]["body"]


def test_each_create_example_is_accepted_by_its_schema():
    for name, example in api.EXAMPLES.items():
        entities.get(name).create_schema().load(example)
        entities.get(name).update_schema().load(api.first_keys(example))


# -- served -----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_served_to_logged_in_users_only(fetch, browser):
    r = await fetch("/api/openapi.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    served = r.json()
    assert served["openapi"] == "3.1.0" and "/api/openapi.json" in served["paths"]
    refused = await fetch("/api/openapi.json", token=False)
    assert refused.code == 401 and refused.json()["error"]
    await browser.login()
    assert (await browser.get("/api/openapi.json")).code == 200


# -- answers match the document ---------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_crud_answers_match_the_document(app, fetch):
    """Create each entity from its example, then read, list, change and refuse: every answer
    has a documented status and a body that fits its schema."""
    document = openapi.build_spec(app)
    for name, example in api.EXAMPLES.items():
        collection, item = "/api/%s" % name, "/api/%s/{id}" % name
        created = await fetch(collection, method="POST", json=example)
        assert created.code == 201, (name, created.text)
        if name == "tasks":
            continue  # the task API's own calls (described and tested with them)
        assert_documented(document, collection, "post", created)
        id = created.json()["id"]
        assert_documented(document, item, "get", await fetch("%s/%d" % (collection, id)))
        assert_documented(document, collection, "get", await fetch(collection + "?limit=5"))
        changed = await fetch("%s/%d" % (collection, id), method="PATCH",
                              json=api.first_keys(example))
        assert changed.code == 200, (name, changed.text)
        assert_documented(document, item, "patch", changed)
        assert_documented(document, collection, "post",
                          await fetch(collection, method="POST", json={"unknown": 1}))
        assert_documented(document, item, "get", await fetch("%s/%d" % (collection, 10**6)))
        assert_documented(document, collection, "get", await fetch(collection + "?limit=0"))
    assert_documented(document, "/api/templates/{id}", "delete",
                      await fetch("/api/templates/1", method="DELETE"))
    assert_documented(document, "/api/web-fetch-results", "post",
                      await fetch("/api/web-fetch-results", method="POST", json={}))


# Nullable columns that their store reads back as a value, never null.
DECODED = {("chat_conversations", "knowledge_base_ids"): "[] (store/chat.py)"}


@pytest.mark.gen_test
async def test_fields_described_as_never_null_are_not_null_columns(app):
    """A dumped field the document says is never null is stored in a NOT NULL column (or is
    computed); the others may be null."""
    document = openapi.build_spec(app)
    db = app.settings["db"]
    for entity in entities.ENTITIES.values():
        table = getattr(app.settings["stores"], entity.store).table
        nullable = await nullable_columns(db, table)
        name = openapi.schema_name(entity.create_schema)
        properties = document["components"]["schemas"][name]["properties"]
        for field_name, field in entity.create_schema().fields.items():
            column = field.attribute or field_name
            if field.load_only or column not in nullable or (table, column) in DECODED:
                continue
            kind = properties[field.data_key or field_name].get("type")
            if kind is None or "null" in kind:
                continue
            assert not nullable[column], "%s.%s can be null" % (table, column)


async def nullable_columns(db, table):
    if db.dialect == "sqlite":
        rows = await db.query("PRAGMA table_info(%s)" % table)
        return {r["name"]: not r["notnull"] and not r["pk"] for r in rows}
    rows = await db.query("SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable FROM "
                          "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                          "AND TABLE_NAME = %s", table)
    return {r["name"]: r["nullable"] == "YES" for r in rows}


@pytest.mark.gen_test
async def test_session_and_tool_answers_match_the_document(app, fetch):
    document = openapi.build_spec(app)
    assert_documented(document, "/api/session", "get", await fetch("/api/session"))
    assert_documented(document, "/api/session", "get", await fetch("/api/session", token=False))
    assert_documented(document, "/api/tools", "get", await fetch("/api/tools"))
    run = "/api/tools/{name}/run"
    await add_base(fetch, "Tea")
    answered = await fetch("/api/tools/knowledge.search/run", method="POST",
                           json={"args": {"query": "green tea"}})
    assert answered.code == 200, answered.text
    assert_documented(document, run, "post", answered)
    for path, body, status in [("knowledge.search", {"args": {"limit": "x"}}, 400),
                               ("knowledge.search", {"bogus": 1}, 400),
                               ("knowledge.search", "[", 400),
                               ("no.such", {}, 404)]:
        refused = await fetch("/api/tools/%s/run" % path, method="POST", json=body)
        assert refused.code == status, refused.text
        assert_documented(document, run, "post", refused)


def test_computed_fields_are_typed(document):
    """Computed fields say what they hold (a stored entity's read-only fields may be null)."""
    props = {name: document["components"]["schemas"][name]["properties"]
             for name in ("Template", "Account", "KnowledgeBase")}
    assert "array" in props["Template"]["variables"]["type"]
    assert props["Template"]["variables"]["items"] == {"type": "string"}
    assert "string" in props["Account"]["secretMasked"]["type"]
    assert "array" in props["KnowledgeBase"]["sources"]["type"]
