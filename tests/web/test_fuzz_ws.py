"""Property tests over /ws frames through a real WebSocket: the envelope and the data of every
message type, malformed JSON, wrong types, huge ids. Whatever the frame: it is answered or
refused with an `error` frame of the documented shape (never `internal_error` or
`database_error`), the connection stays open, and a refusal changes nothing. On SQLite and
MariaDB."""

import asyncio
import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orchestra.config import Config
from orchestra.services.web.errors import CODES as WEB_CODES
from orchestra.web import ws
from tests.web.fuzzing import (record, EDGE_INTS, FUZZ, json_values, one_changed, scalars,
                               shaped)
from tests.web.test_fuzz_bodies import settle as settle_services
from tests.web.test_fuzz_bodies import table_counts
from tests.web.test_ws import connect

# Refusals made before anything is written (README, "Error codes").
REFUSALS = {"invalid_json", "invalid_message", "unknown_type", "invalid_fields", "not_found",
            "busy", "not_running", "not_editable", "no_url"}
# Answers that say the model server (a closed port here) or the web failed: allowed, and
# what was stored before the failure stays.
UPSTREAM = {"lmstudio_unavailable", "lmstudio_timeout", "model_not_found", "lmstudio_error",
            "stream_broken", "context_too_long", "knowledge_unavailable", "web_unavailable",
            *WEB_CODES}  # chat:read_page: the web service's code when the page cannot be read
TYPES = sorted(ws.HANDLERS)
# Data each type accepts (with the rows the test makes): the frames change one value of it.
VALID_DATA = {
    "ping": {}, "chat:send": {"message": "hi"}, "chat:streaming": {"message": "hi"},
    "chat:regenerate": {"messageId": 1}, "chat:edit": {"messageId": 1, "message": "hi"},
    "chat:settings": {"conversationId": 1}, "chat:stop": {"conversationId": 1},
    "chat:history": {"conversationId": 1}, "chat:read_page": {"messageId": 1},
    "monitoring:subscribe": {}, "monitoring:unsubscribe": {},
    "task:subscribe": {"taskId": 1}, "task:unsubscribe": {"taskId": 1},
    "tasks:subscribe": {}, "tasks:unsubscribe": {},
    "knowledge:subscribe": {"knowledgeBaseId": 1}, "knowledge:unsubscribe": {"knowledgeBaseId": 1},
    "crawl:subscribe": {"crawlId": 1}, "crawl:unsubscribe": {"crawlId": 1},
}

good_ids = st.one_of(st.none(), st.integers(-2**53, 2**53), st.text(max_size=100))
bad_ids = st.sampled_from(EDGE_INTS[5:] + [True, 1.5, None, [], {}, "x" * 101])

MAX_FRAME = Config.__dataclass_fields__["ws_max_message_size"].default  # the test app's


@st.composite
def frames(draw):
    """(raw text, the id the server should echo or None) of one frame a client might send."""
    kind = draw(st.sampled_from(["typed", "typed", "typed", "envelope", "text"]))
    if kind == "text":
        raw = draw(st.one_of(st.text(max_size=50), st.sampled_from(
            ["", "{", "null", "[]", '{"type": "ping"', '{"type": "ping", "data": "x"}',
             '{"type": "ping", "data": {"a": NaN}}', '{"type": "\\ud800"}'])))
        return raw, None
    if kind == "envelope":
        envelope = draw(st.dictionaries(
            st.sampled_from(["type", "data", "id", "extra"]),
            st.one_of(json_values, st.sampled_from(TYPES)), max_size=4))
        return json.dumps(envelope), None
    type = draw(st.sampled_from(TYPES + ["nope", "chat:", ""]))
    schema = ws.HANDLERS[type][1] if type in ws.HANDLERS else None
    if schema is None:
        data = draw(st.dictionaries(st.text(max_size=15), scalars, max_size=3))
    else:
        data = draw(st.one_of(st.just(VALID_DATA[type]), one_changed(schema, VALID_DATA[type]),
                              one_changed(schema, VALID_DATA[type]), shaped(schema)))
    frame = {"type": type, "data": data}
    id = draw(st.one_of(st.none(), st.none(), good_ids, bad_ids))
    if id is not None:
        frame["id"] = id
    raw = json.dumps(frame)
    if len(raw.encode()) > MAX_FRAME:  # a long text of emoji is 12 bytes a character escaped
        raw = json.dumps(frame, ensure_ascii=False)
    # A frame past the limit closes the socket (1009, test_ws.py); these stay within it.
    assume(len(raw.encode()) <= MAX_FRAME)
    return raw, id


def test_every_type_has_valid_data():
    assert sorted(VALID_DATA) == TYPES


def is_error_frame(frame):
    """The documented `error` frame: {type: "error", data: {code, message, requestType?,
    fields?, ...}, id}."""
    data = frame.get("data")
    return (frame.get("type") == "error" and isinstance(data, dict)
            and isinstance(data.get("code"), str) and isinstance(data.get("message"), str)
            and data["message"] and isinstance(data.get("fields", {}), dict)
            and isinstance(data.get("requestType", ""), str))


async def settle(app):
    chat = app.settings["services"]["chat"]
    for _ in range(500):
        if not chat.running and not chat.reading:
            break
        await asyncio.sleep(0.01)
    await settle_services(app)


class Socket:
    """One /ws connection used for every example; each frame is followed by a ping, so that
    everything the frame caused arrives before the pong."""

    def __init__(self, app, conn, io_loop):
        self.app, self.conn, self.io_loop = app, conn, io_loop
        self.sent = 0  # frames, the pings after them included
        self.examples = 0
        self.codes = {}

    def __call__(self, raw, id):
        self.io_loop.run_sync(lambda: self.send(raw, id), timeout=60)

    async def send(self, raw, id):
        db = self.app.settings["db"]
        before = await table_counts(db)
        self.examples += 1
        replies = await self.exchange(raw)
        errors = [f for f in replies if f.get("type") == "error"]
        if id is not None and errors and errors[0]["data"]["code"] not in (
                "invalid_message", "invalid_json"):
            assert errors[0].get("id") == id, (raw, errors)  # echoed, so the client can match it
        answered = [f for f in replies if f.get("type") != "error"]
        assert replies, ("no answer", raw)
        if errors and errors[0]["data"]["code"] in REFUSALS and not answered:
            assert len(errors) == 1, (raw, replies)
            assert await table_counts(db) == before, (raw, errors)
        await settle(self.app)
        await self.exchange(None)  # what the frame's background work sent at its end

    async def exchange(self, raw):
        """Every frame the server sends after `raw` (None: nothing) and before the pong of a
        ping sent after it; each error frame checked."""
        self.sent += 1
        sentinel = "sentinel-%d" % self.sent
        if raw is not None:
            await self.conn.write_message(raw)
        await self.conn.write_message(json.dumps({"type": "ping", "id": sentinel}))
        replies = []
        while True:
            message = await asyncio.wait_for(self.conn.read_message(), 10)
            assert message is not None, ("the socket closed", raw, self.conn.close_code)
            frame = json.loads(message)
            if frame.get("id") == sentinel and frame["type"] == "pong":
                break
            replies.append(frame)
            if frame.get("type") == "error":
                assert is_error_frame(frame), (raw, frame)
                code = frame["data"]["code"]
                self.codes[code] = self.codes.get(code, 0) + 1
                assert code in REFUSALS | UPSTREAM, (raw, frame)
        return replies


@pytest.fixture
def socket(app, ws_connect, io_loop, orchestrator):
    conn = io_loop.run_sync(lambda: connect(ws_connect))
    yield Socket(app, conn, io_loop)


def test_every_frame_is_answered_or_refused_and_a_refusal_changes_nothing(socket, app,
                                                                          io_loop):
    stores = app.settings["stores"]

    async def seed():  # rows for the ids the frames name to exist, sometimes
        conversation = await stores.conversations.create({"title": "c"})
        await stores.messages.create({"conversation_id": conversation["id"], "role": "user",
                                      "content": "see http://127.0.0.1:9/page", "status":
                                      "complete"})
        await stores.tasks.create({"title": "t", "description": "", "status": "completed"})
        await stores.knowledge_bases.create({"name": "kb", "description": ""})
    io_loop.run_sync(seed)

    @settings(FUZZ, max_examples=400)
    @given(frame=frames())
    def run(frame):
        socket(*frame)

    run()
    record(app, "/ws frames", socket.examples, socket.codes)
