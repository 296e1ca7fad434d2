"""Ids beyond what the databases store (2^63-1), or 0: a path id is a 404 naming the thing,
a reference in a body, a query or a /ws frame a 400 (`invalid_fields` on /ws) naming the
key; never a 500 ("Python int too large to convert to SQLite INTEGER"), on both databases."""

import inspect
import re

import pytest
import tornado.web

from orchestra import app as app_module
from orchestra.db import OutOfRange
from orchestra.schemas import ID_RANGE, MAX_ID
from orchestra.web.base import ApiHandler
from tests.web.test_ws import connect, recv, send

TOO_BIG = MAX_ID + 1
HUGE = 10**30
BAD_PATH_IDS = [str(TOO_BIG), str(HUGE), "0"]
METHODS = ("get", "post", "patch", "put", "delete")


def id_routes():
    """(path with `{id}` for each id group, handler class) for every route taking an id."""
    for rule in app_module.route_table():
        if isinstance(rule, tuple):
            rule = tornado.web.url(*rule)
        pattern = rule.regex.pattern.rstrip("$")
        if "([0-9]+)" not in pattern:
            continue
        path = pattern.replace("([0-9]+)", "{id}")
        path = re.sub(r"\(([a-z_]+)(\|[a-z_|]+)?\)", r"\1", path)  # an action: the first
        yield path, rule.target


def answered(cls):
    return [m for m in METHODS if inspect.unwrap(getattr(cls, m))
            is not getattr(tornado.web.RequestHandler, m)]


ROUTES = [(path, method, cls) for path, cls in id_routes() for method in answered(cls)]


def test_every_route_with_an_id_is_covered():
    paths = {path for path, _, _ in ROUTES}
    for expected in ("/api/templates/{id}", "/api/tasks/{id}/plan", "/api/subtasks/{id}/accept",
                     "/api/workflows/{id}/run", "/api/knowledge-bases/{id}/search",
                     "/api/knowledge-bases/{id}/files", "/api/knowledge-sources/{id}/chunks",
                     "/api/web/fetches/{id}", "/api/web/crawls/{id}", "/tasks/{id}",
                     "/chat/{id}"):
        assert expected in paths


@pytest.mark.parametrize("bad", BAD_PATH_IDS)
@pytest.mark.gen_test(timeout=60)
async def test_a_path_id_no_row_can_have_is_a_404_everywhere(fetch, app, bad):
    stores = app.settings["stores"]
    failures = []
    for path, method, cls in ROUTES:
        url = path.replace("{id}", bad)
        body = "{}" if method in ("post", "patch", "put") else None
        r = await fetch(url, method=method.upper(), body=body,
                        headers={"Content-Type": "application/json"} if body else None)
        if r.code != 404:
            failures.append((method, url, r.code, r.text[:200]))
        elif issubclass(cls, ApiHandler) and not re.fullmatch(
                r"No [a-z ]+ with id %s\." % bad, r.json()["error"]):
            failures.append((method, url, r.json()))
    assert failures == []
    assert await stores.tasks.count() == 0 and await stores.templates.count() == 0


@pytest.mark.gen_test
async def test_the_404_names_the_thing_and_the_id(fetch):
    r = await fetch("/api/conversations/%d" % TOO_BIG)
    assert (r.code, r.json()) == (404, {"error": "No conversation with id %d." % TOO_BIG})
    r = await fetch("/api/tasks/%d/run" % HUGE, method="POST", body="")
    assert (r.code, r.json()) == (404, {"error": "No task with id %d." % HUGE})
    r = await fetch("/api/knowledge-bases/%d/search?q=x" % TOO_BIG)
    assert (r.code, r.json()) == (404, {"error": "No knowledge base with id %d." % TOO_BIG})


async def parents(fetch):
    """A conversation, a task and a knowledge base, so that only the huge id is wrong."""
    ids = {}
    for name, body in (("conversations", {}), ("tasks", {"title": "t"}),
                       ("knowledge-bases", {"name": "kb"})):
        r = await fetch("/api/" + name, method="POST", json=body)
        assert r.code == 201, r.text
        ids[name] = r.json()["id"]
    return ids


def body_cases(ids, bad):
    """(method, path, body, the key named in `fields`) of every body reference to a row."""
    return [
        ("POST", "/api/messages", {"conversationId": bad, "content": "hi"}, "conversationId"),
        ("POST", "/api/subtasks", {"taskId": bad, "title": "s"}, "taskId"),
        ("POST", "/api/knowledge-sources", {"knowledgeBaseId": bad, "kind": "text",
                                            "title": "t", "content": "c"}, "knowledgeBaseId"),
        ("POST", "/api/tasks", {"title": "t", "workflowId": bad}, "workflowId"),
        ("POST", "/api/tasks", {"title": "t", "knowledgeBaseId": bad}, "knowledgeBaseId"),
        ("PATCH", "/api/tasks/%d" % ids["tasks"], {"knowledgeBaseId": bad}, "knowledgeBaseId"),
        ("POST", "/api/conversations", {"knowledgeBaseIds": [ids["knowledge-bases"], bad]},
         "knowledgeBaseIds"),
        ("PATCH", "/api/conversations/%d" % ids["conversations"], {"knowledgeBaseIds": [bad]},
         "knowledgeBaseIds"),
        ("POST", "/api/workflows", {"name": "w", "steps": [{"templateId": bad}]}, "steps"),
        ("POST", "/api/model-versions", {"model": "m", "version": "1", "trainingJobId": bad},
         "trainingJobId"),
        ("POST", "/api/training-jobs", {"baseModel": "m", "datasetId": bad}, "datasetId"),
        ("POST", "/api/check", {"text": "x", "messageId": bad}, "messageId"),
        ("POST", "/api/check", {"text": "x", "knowledgeBaseId": bad}, "knowledgeBaseId"),
    ]


@pytest.mark.parametrize("bad", [TOO_BIG, HUGE, 0])
@pytest.mark.gen_test(timeout=30)
async def test_a_body_reference_beyond_any_id_is_a_400_naming_the_key(fetch, app, bad):
    ids = await parents(fetch)
    r = await fetch("/api/workflows", method="POST", json={"name": "w",
                                                           "steps": [{"prompt": "p"}]})
    ids["workflow"] = r.json()["id"]
    cases = body_cases(ids, bad) + [
        ("POST", "/api/workflows/%d/run" % ids["workflow"], {"knowledgeBaseId": bad},
         "knowledgeBaseId")]
    db = app.settings["db"]
    before = await counts(db)
    for method, path, body, key in cases:
        r = await fetch(path, method=method, json=body)
        assert r.code == 400, (path, body, r.code, r.text)
        assert key in r.json()["fields"], (path, r.json())
        if key != "steps":
            assert ID_RANGE in str(r.json()["fields"][key]), (path, r.json())
    assert await counts(db) == before


async def counts(db):
    tables = ["chat_conversations", "chat_messages", "tasks", "subtasks", "knowledge_bases",
              "knowledge_sources", "workflows", "model_versions", "training_jobs"]
    return {t: (await db.get("SELECT COUNT(*) AS n FROM %s" % t))["n"] for t in tables}


@pytest.mark.gen_test
async def test_the_message_says_the_range(fetch):
    r = await fetch("/api/messages", method="POST",
                    json={"conversationId": TOO_BIG, "content": "hi"})
    assert r.json() == {"error": "Invalid input.",
                        "fields": {"conversationId": ["Must be between 1 and "
                                                      "9223372036854775807."]}}


@pytest.mark.parametrize("path, arg", [
    ("/api/messages", "conversationId"), ("/api/subtasks", "taskId"),
    ("/api/knowledge-sources", "knowledgeBaseId")])
@pytest.mark.gen_test
async def test_a_list_filter_beyond_any_id_is_a_400(fetch, path, arg):
    for bad in (TOO_BIG, HUGE, 0):
        r = await fetch("%s?%s=%d" % (path, arg, bad))
        assert r.code == 400, r.text
        assert r.json() == {"error": "%s: %s" % (arg, ID_RANGE), "fields": {arg: [ID_RANGE]}}
    r = await fetch("%s?%s=abc" % (path, arg))
    assert r.code == 400 and arg in r.json()["fields"]
    r = await fetch("%s?%s=%d" % (path, arg, MAX_ID))
    assert r.code == 200 and r.json()["total"] == 0


@pytest.mark.gen_test
async def test_the_largest_id_is_a_plain_not_found(fetch):
    r = await fetch("/api/templates/%d" % MAX_ID)
    assert (r.code, r.json()) == (404, {"error": "No template with id %d." % MAX_ID})
    r = await fetch("/api/messages", method="POST", json={"conversationId": MAX_ID,
                                                          "content": "hi"})
    assert r.code == 400 and r.json()["fields"] == {"conversationId": ["No such record."]}


def frame_cases(bad):
    return [
        ("chat:send", {"message": "hi", "conversationId": bad}, "conversationId"),
        ("chat:send", {"message": "hi", "knowledgeBaseIds": [bad]}, "knowledgeBaseIds"),
        ("chat:send", {"message": "hi", "settings": {"knowledgeBaseIds": [bad]}}, "settings"),
        ("chat:regenerate", {"messageId": bad}, "messageId"),
        ("chat:edit", {"messageId": bad, "message": "x"}, "messageId"),
        ("chat:read_page", {"messageId": bad}, "messageId"),
        ("chat:settings", {"conversationId": bad}, "conversationId"),
        ("chat:settings", {"conversationId": 1, "knowledgeBaseIds": [bad]}, "knowledgeBaseIds"),
        ("chat:stop", {"conversationId": bad}, "conversationId"),
        ("chat:history", {"conversationId": bad}, "conversationId"),
        ("chat:history", {"conversationId": 1, "before": bad}, "before"),
        ("task:subscribe", {"taskId": bad}, "taskId"),
        ("task:unsubscribe", {"taskId": bad}, "taskId"),
        ("knowledge:subscribe", {"knowledgeBaseId": bad}, "knowledgeBaseId"),
        ("knowledge:unsubscribe", {"knowledgeBaseId": bad}, "knowledgeBaseId"),
        ("crawl:subscribe", {"crawlId": bad}, "crawlId"),
        ("crawl:unsubscribe", {"crawlId": bad}, "crawlId"),
    ]


@pytest.mark.parametrize("bad", [TOO_BIG, HUGE, 0])
@pytest.mark.gen_test(timeout=30)
async def test_a_frame_reference_beyond_any_id_is_invalid_fields(ws_connect, app, bad):
    stores = app.settings["stores"]
    await stores.conversations.create({"title": "c"})
    conn = await connect(ws_connect)
    for i, (type, data, key) in enumerate(frame_cases(bad)):
        send(conn, type, data, id=i)
        error = await recv(conn)
        assert error["type"] == "error" and error["id"] == i, (type, error)
        assert error["data"]["code"] == "invalid_fields", (type, error)
        assert key in error["data"]["fields"], (type, error)
    send(conn, "ping", id="after")
    assert (await recv(conn))["id"] == "after"
    assert await stores.messages.count() == 0 and await stores.conversations.count() == 1


@pytest.mark.gen_test
async def test_the_database_refuses_an_id_it_cannot_store_as_out_of_range(app):
    # The net under the schemas: a number no column stores is a 400-class error, not a 500.
    db = app.settings["db"]
    with pytest.raises(OutOfRange):
        if db.dialect == "sqlite":
            await db.get("SELECT id FROM templates WHERE id = %s", TOO_BIG)
        else:
            await db.query("SELECT id FROM model_benchmarks WHERE id = %s + %s", MAX_ID, 1)
    assert await app.settings["stores"].templates.count() == 0  # and it still answers


@pytest.mark.gen_test
async def test_a_list_page_far_past_its_last_row_is_empty(fetch):
    for path in ("/templates", "/workflows", "/accounts", "/knowledge-bases"):
        r = await fetch("%s?offset=%d" % (path, HUGE))
        assert r.code == 200, (path, r.code)
    r = await fetch("/api/templates?offset=%d" % HUGE)
    assert r.code == 400 and "offset" in r.json()["fields"]
