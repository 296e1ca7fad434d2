"""The AsyncAPI document of /ws: it matches the registry ws.py dispatches through and the
frames the server sends, it is valid AsyncAPI 3.0.0 (checked against the specification's own
JSON Schema), and over a real socket each documented example is answered, every frame that
arrives matching the schema documented for its type."""

import json
import os
import re

import jsonschema
import pytest

from orchestra.web import asyncapi, ws
from orchestra.web import ws_schemas as wss
from tests.web.test_chat_read_page import TeaSite
from tests.web.test_ws import WAIT, recv, send

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_SCHEMA = os.path.join(HERE, "..", "fixtures", "asyncapi", "asyncapi-3.0.0.schema.json")
ROOT = os.path.dirname(os.path.dirname(HERE))


def document():
    # Through JSON, as a client gets it.
    return json.loads(json.dumps(asyncapi.build_document("127.0.0.1:8765")))


def messages(doc, direction):
    return {m["name"]: key for key, m in doc["components"]["messages"].items()
            if key.startswith(direction + ".")}


def validator(doc, message_key):
    """Validates a whole frame against the payload documented for `message_key`."""
    return jsonschema.Draft7Validator({
        "components": doc["components"],
        "allOf": [{"$ref": "#/components/messages/%s/payload" % message_key}]})


def sent_types():
    """Every frame type the server's code writes: send("type", ...), relay(..., "type", ...),
    encode("type", ...) and error frames."""
    found = {"error"}
    for name in ("ws.py", "ws_manager.py"):
        with open(os.path.join(ROOT, "orchestra", "web", name)) as f:
            source = f.read()
        found.update(re.findall(r'(?:\.send|encode)\(\s*"([a-z:_]+)"', source))
        found.update(re.findall(r'relay\(.*?,\s*"([a-z]+:[a-z_]+)"', source))
    return found


def test_the_documented_types_are_the_ones_the_server_accepts_and_sends():
    doc = document()
    assert set(messages(doc, "client")) == set(ws.HANDLERS)
    assert set(messages(doc, "server")) == set(wss.SERVER_FRAMES)
    sent = sent_types()
    assert {"connected", "pong", "chat:streaming", "task:update", "monitoring:metrics",
            "crawl:update"} <= sent  # the scan finds them
    assert sent == set(wss.SERVER_FRAMES)


def test_the_document_is_valid_asyncapi_3():
    with open(SPEC_SCHEMA) as f:
        spec_schema = json.load(f)
    doc = document()
    jsonschema.Draft7Validator(spec_schema).validate(doc)
    assert doc["asyncapi"] == "3.0.0"
    # Every reference resolves, and operations name messages of their channel.
    for pointer in re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc)):
        node = doc
        for part in pointer.split("/"):
            assert isinstance(node, dict) and part in node, pointer
            node = node[part]
    channel = doc["channels"]["live"]
    assert channel["address"] == "/ws"
    for name, operation in doc["operations"].items():
        assert operation["channel"] == {"$ref": "#/channels/live"}
        refs = operation["messages"] + operation.get("reply", {}).get("messages", [])
        for message in refs:
            assert message["$ref"].startswith("#/channels/live/messages/"), name
    # Each client message's replies name documented frames, `error` among them.
    for type, key in messages(doc, "client").items():
        replies = doc["operations"][key]["reply"]["messages"]
        assert {"$ref": "#/channels/live/messages/server.error"} in replies
    # Authentication and close codes are said.
    assert set(doc["components"]["securitySchemes"]) == {"token", "bearer", "cookie"}
    for code in ("1000", "1001", "1009", "1011"):
        assert "| %s |" % code in doc["info"]["description"]
    codes = doc["components"]["schemas"]["ErrorFrame"]["properties"]["code"]["enum"]
    assert set(codes) == set(wss.ERROR_CODES)


def test_each_example_is_valid_for_the_document_and_for_the_server():
    doc = document()
    for type, key in messages(doc, "client").items():
        (example,) = doc["components"]["messages"][key]["examples"]
        validator(doc, key).validate(example["payload"])
        ws.HANDLERS[type][1].load(example["payload"]["data"])  # what dispatch() does
    # And the schemas refuse what the server refuses.
    key = messages(doc, "client")["chat:history"]
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, key).validate({"type": "chat:history", "data": {"conversationId": 0}})
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, key).validate({"type": "chat:history", "data": {}, "extra": 1})


@pytest.mark.gen_test
async def test_served_to_logged_in_users(fetch):
    r = await fetch("/api/asyncapi.json", token=False)
    assert r.code == 401 and "error" in r.json()
    r = await fetch("/api/asyncapi.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["orchestra"]["host"] == r.raw.request.url.split("/")[2]
    assert doc["servers"]["orchestra"]["protocol"] == "ws"


# -- the examples over a real socket ---------------------------------------------------------

@pytest.fixture
def tea_site(io_loop):
    site = TeaSite()
    yield site
    io_loop.run_sync(site.close)


class Checked:
    """A socket whose every incoming frame is validated against the document."""

    def __init__(self, conn, doc):
        self.conn = conn
        self.validators = {name: validator(doc, key)
                           for name, key in messages(doc, "server").items()}
        self.seen = set()

    async def next(self, timeout=WAIT):
        frame = await recv(self.conn, timeout)
        assert frame["type"] in self.validators, frame
        self.validators[frame["type"]].validate(frame)
        self.seen.add(frame["type"])
        return frame

    async def ask(self, type, data, id, until):
        """Send a frame; read frames until `until(frame)` holds for one with this id."""
        send(self.conn, type, data, id=id)
        while True:
            frame = await self.next()
            if frame.get("id") == id:
                assert frame["type"] != "error", frame
                if until(frame):
                    return frame


def answered(frame):
    data = frame["data"]
    return (frame["type"] == "chat:message" and data["role"] == "assistant"
            and data["status"] != "streaming")


def replied(frame):
    return True


@pytest.mark.gen_test(timeout=60)
async def test_each_example_is_answered_over_a_real_socket(ws_connect, app, fetch,
                                                             fake_lmstudio, tea_site):
    doc = document()
    examples = {type: doc["components"]["messages"][key]["examples"][0]["payload"]["data"]
                for type, key in messages(doc, "client").items()}
    # The rows the examples name (id 1 of each, in a new database).
    r = await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea"})
    assert r.code == 201 and r.json()["id"] == 1, r.text
    r = await fetch("/api/tasks", method="POST", json={"title": "Tea",
                                                       "subtasks": [{"title": "Facts"}]})
    assert r.code == 201 and r.json()["id"] == 1, r.text
    r = await fetch("/api/web/crawl", method="POST", json={"url": tea_site.url + "/tea",
                                                           "maxPages": 1})
    assert r.code == 202 and r.json()["id"] == 1, r.text
    await app.settings["services"]["web"].wait()

    socket = Checked(await ws_connect(), doc)
    assert (await socket.next())["type"] == "connected"
    # The example's page, served by the local site.
    send_example = dict(examples["chat:send"], message=examples["chat:send"]["message"]
                        .replace("https://example.org/", tea_site.url + "/tea"))
    chat = [("chat:send", send_example), ("chat:streaming", examples["chat:streaming"]),
            ("chat:regenerate", examples["chat:regenerate"]),
            ("chat:edit", examples["chat:edit"]), ("chat:read_page", examples["chat:read_page"])]
    for type, data in chat:
        await socket.ask(type, data, type, answered)
    for type in ("ping", "chat:settings", "chat:history", "monitoring:subscribe",
                 "monitoring:unsubscribe", "task:subscribe", "task:unsubscribe",
                 "tasks:subscribe", "tasks:unsubscribe", "knowledge:subscribe",
                 "knowledge:unsubscribe", "crawl:subscribe", "crawl:unsubscribe"):
        reply = await socket.ask(type, examples[type], type, replied)
        assert reply["type"] == asyncapi.CLIENT_TYPES[type][1][0], reply
    # chat:stop stops an answer being written.
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(200)), chunk_delay=0.02)
    send(socket.conn, "chat:send", {"message": "Long, please.", "conversationId": 1})
    while (await socket.next())["type"] != "chat:streaming":
        pass
    stopped = await socket.ask("chat:stop", examples["chat:stop"], "chat:stop", replied)
    assert stopped["type"] == "chat:message" and stopped["data"]["status"] == "incomplete"
    # Refusals are error frames of the documented shape (validated as they arrive).
    for raw, code in (("{not json", "invalid_json"), ('{"type": "nope"}', "unknown_type"),
                      ('{"type": "chat:history", "data": {}}', "invalid_fields")):
        socket.conn.write_message(raw)
        while (frame := await socket.next())["type"] != "error":
            pass
        assert frame["data"]["code"] == code
    assert {"connected", "pong", "chat:message", "chat:streaming", "chat:page",
            "chat:settings", "chat:history", "monitoring:subscribed", "task:subscribed",
            "crawl:subscribed", "knowledge:subscribed", "error"} <= socket.seen
    assert set(examples) == set(ws.HANDLERS)
