"""Property tests over the JSON bodies of every entity: POST and PATCH through real HTTP with
hostile bodies (any JSON value; bodies shaped like the entity's schema with wrong types, huge
numbers, long strings, nulls, unknown and read-only keys). Whatever the body: no 5xx, a JSON
answer, a refusal in the documented shape `{error, fields?}` that changes nothing (row counts
of every table, and the PATCHed entity). On SQLite and MariaDB."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra import entities
from tests.web.fuzzing import FUZZ, body_strategy, encode, is_error_body, record

JSON = {"Content-Type": "application/json"}


def valid_bodies(ids):
    """A body each entity accepts, so that every entity has a row to PATCH."""
    return {
        "templates": {"name": "Summary", "body": "Summarise {{text}}"},
        "workflows": {"name": "Review", "steps": [{"prompt": "Draft {{topic}}"}]},
        "instructions": {"name": "Tone", "content": "Answer briefly."},
        "knowledge-bases": {"name": "Handbook"},
        "knowledge-sources": {"knowledgeBaseId": ids["knowledge-bases"], "kind": "text",
                              "title": "Notes", "content": "Some notes."},
        "accounts": {"service": "github", "name": "Work", "secret": "ghp_abcdefgh"},
        "conversations": {"title": "Ideas"},
        "messages": {"conversationId": ids["conversations"], "content": "hello"},
        "tasks": {"title": "Write a haiku"},
        "subtasks": {"taskId": ids["tasks"], "title": "First line"},
        "model-benchmarks": {"model": "qwen", "prompt": "hi", "totalMs": 12.5},
        "model-versions": {"model": "qwen-ft", "version": "1"},
        "training-datasets": {"name": "qa", "content": "{}"},
        "training-jobs": {"baseModel": "qwen"},
    }


async def table_counts(db):
    """{table: rows} of every table, in one query."""
    if db.dialect == "sqlite":
        rows = await db.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite%%'")
        tables = [r["name"] for r in rows]
    else:
        tables = [list(r.values())[0] for r in await db.query("SHOW TABLES")]
    sql = "SELECT " + ", ".join("(SELECT COUNT(*) FROM %s) AS c%d" % (t, i)
                                for i, t in enumerate(tables))
    row = await db.get(sql)
    return {t: row["c%d" % i] for i, t in enumerate(tables)}


async def settle(app):
    """Until the background work an accepted write started (indexing, fetching, planning)
    is over, so that it cannot be mistaken for a change made by a later refusal."""
    services = app.settings["services"]
    await services["knowledge"].wait()
    await services["web"].wait()
    for task in await app.settings["stores"].tasks.list(limit=1000):
        await services["orchestrator"].wait(task["id"])


async def seed(app, fetch):
    """One row of every entity: {name: id}."""
    ids = {}
    bodies = valid_bodies({"knowledge-bases": 0, "conversations": 0, "tasks": 0})
    for name in ("knowledge-bases", "conversations", "tasks"):
        ids[name] = (await fetch("/api/" + name, method="POST", json=bodies[name])).json()["id"]
    for name, body in valid_bodies(ids).items():
        if name not in ids:
            r = await fetch("/api/" + name, method="POST", json=body)
            assert r.code == 201, (name, r.text)
            ids[name] = r.json()["id"]
    row = await app.settings["stores"].web_fetches.create({"url": "http://127.0.0.1:9/"})
    ids["web-fetch-results"] = row["id"]
    await settle(app)
    return ids


class Checker:
    """Sends one body and checks the properties; counts how requests were answered."""

    def __init__(self, app, fetch, io_loop, ids):
        self.app, self.fetch, self.io_loop, self.ids = app, fetch, io_loop, ids
        self.answered = {}
        self.valid = valid_bodies(ids)

    def __call__(self, name, method, body):
        self.io_loop.run_sync(lambda: self.send(name, method, body), timeout=60)

    async def send(self, name, method, body):
        db = self.app.settings["db"]
        item = "/api/%s/%d" % (name, self.ids[name])
        path = item if method == "PATCH" else "/api/" + name
        before, row = await table_counts(db), (await self.fetch(item)).body
        r = await self.fetch(path, method=method, body=encode(body), headers=JSON)
        self.answered[r.code] = self.answered.get(r.code, 0) + 1
        assert r.code < 500, (method, path, body, r.code, r.text[:500])
        answer = json.loads(r.body)
        if r.code >= 400:
            assert is_error_body(answer), (method, path, body, r.code, answer)
            assert await table_counts(db) == before, (method, path, body, r.code, answer)
            assert (await self.fetch(item)).body == row, (method, path, body, answer)
        else:
            assert r.code == (201 if method == "POST" else 200), (method, path, body, r.code)
            assert isinstance(answer, dict) and isinstance(answer.get("id"), int), answer
            await settle(self.app)


@pytest.fixture
def checker(app, fetch, io_loop, orchestrator):
    ids = io_loop.run_sync(lambda: seed(app, fetch))
    yield Checker(app, fetch, io_loop, ids)
    r = io_loop.run_sync(lambda: fetch("/api/templates?limit=1"))
    assert r.code == 200, "the server stopped answering"  # it is still up


@pytest.mark.parametrize("name", list(entities.ENTITIES))
def test_no_body_breaks_an_entity_or_changes_it_when_refused(checker, name):
    entity = entities.get(name)
    owned = tuple(entity.owned)

    @FUZZ
    @given(method=st.sampled_from(["POST", "PATCH"]), data=st.data())
    def run(method, data):
        schema = entity.create_schema() if method == "POST" else entity.update_schema()
        valid = checker.valid.get(name) if method == "POST" else None
        checker(name, method, data.draw(body_strategy(schema, owned, valid), label="body"))

    run()
    record(checker.app, "%s bodies" % name, sum(checker.answered.values()), checker.answered)
