"""The /ws protocol over a real socket, against the fake LM Studio server."""

import asyncio
import json

import pytest
import tornado.httpclient
import tornado.websocket

from tests.conftest import TOKEN

WAIT = 5.0


async def recv(conn, timeout=WAIT):
    raw = await asyncio.wait_for(conn.read_message(), timeout)
    assert raw is not None, "the socket closed (code %s)" % conn.close_code
    return json.loads(raw)


async def expect(conn, type, timeout=WAIT):
    """The next frame of `type`, skipping others (returned in a list attribute)."""
    while True:
        frame = await recv(conn, timeout)
        if frame["type"] == type:
            return frame


async def quiet(conn, seconds=0.3):
    """Every frame that arrives within `seconds`."""
    frames = []
    try:
        while True:
            frames.append(await recv(conn, seconds))
    except asyncio.TimeoutError:
        return frames


async def connect(ws_connect, **kwargs):
    conn = await ws_connect(**kwargs)
    hello = await recv(conn)
    assert hello["type"] == "connected"
    return conn


def send(conn, type, data=None, id=None):
    frame = {"type": type, "data": data if data is not None else {}}
    if id is not None:
        frame["id"] = id
    return conn.write_message(json.dumps(frame))


async def until(condition, timeout=WAIT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def stored_answer(app, message_id, status="incomplete"):
    messages = app.settings["stores"].messages

    async def check():
        row = await messages.get(message_id)
        return row if row is not None and row.status == status else None

    return await until(check)


async def collect_answer(conn):
    """Frames of one answer: (user chat:message, chunks, done frame, final chat:message)."""
    user = await expect(conn, "chat:message")
    chunks, done = [], None
    while done is None:
        frame = await recv(conn)
        if frame["type"] == "chat:streaming":
            if frame["data"]["done"]:
                done = frame
            else:
                chunks.append(frame)
        elif frame["type"] == "error":
            raise AssertionError(frame)
    final = await expect(conn, "chat:message")
    return user, chunks, done, final


# -- connecting ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_connected_and_ping(ws_connect):
    conn = await ws_connect()
    hello = await recv(conn)
    assert hello["type"] == "connected"
    assert hello["data"]["connectionId"]
    assert hello["data"]["maxMessageSize"] > 0
    send(conn, "ping", id="p1")
    pong = await recv(conn)
    assert pong["type"] == "pong" and pong["id"] == "p1"
    assert pong["data"]["time"].endswith("Z")


@pytest.mark.gen_test
async def test_token_required(ws_connect):
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await ws_connect(token=False)
    assert info.value.code == 403


@pytest.mark.gen_test
async def test_wrong_token_refused(ws_connect, ws_url):
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await tornado.websocket.websocket_connect(ws_url + "/ws?token=wrong")
    assert info.value.code == 403


@pytest.mark.gen_test
async def test_auth_cookie_accepted(ws_connect, fetch):
    login = await fetch("/login", method="POST", token=False,
                        body="token=%s&next=/" % TOKEN,
                        headers={"Cookie": "_xsrf=x", "X-XSRFToken": "x"})
    cookies = [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("orchestra_auth=") for c in cookies), login.code
    await connect(ws_connect, token=False, headers={"Cookie": "; ".join(cookies)})


@pytest.mark.gen_test
async def test_cross_origin_refused(ws_connect, base_url):
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await ws_connect(headers={"Origin": "http://evil.example"})
    assert info.value.code == 403
    host = base_url.split("://", 1)[1]
    await connect(ws_connect, headers={"Origin": "http://" + host})


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("raw, code", [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"data": {}}', "invalid_message"),
    ('{"type": "ping", "extra": 1}', "invalid_message"),
    ('{"type": "ping", "data": []}', "invalid_message"),
    ('{"type": "nope"}', "unknown_type"),
    ('{"type": "chat:send", "data": {}}', "invalid_fields"),
    ('{"type": "chat:send", "data": {"message": "hi \\ud800"}}', "invalid_json"),
    ('{"type": "chat:send", "data": {"message": "   "}}', "invalid_fields"),
    ('{"type": "chat:send", "data": {"message": "hi", "conversationId": "1"}}',
     "invalid_fields"),
    ('{"type": "chat:send", "data": {"message": "hi", "colour": "red"}}', "invalid_fields"),
    ('{"type": "chat:history", "data": {"conversationId": 1, "limit": 0}}', "invalid_fields"),
    ('{"type": "chat:stop", "data": {}}', "invalid_fields"),
    ('{"type": "task:subscribe", "data": {"taskId": -3}}', "invalid_fields"),
    ('{"type": "chat:history", "data": {"conversationId": 999}}', "not_found"),
    ('{"type": "chat:send", "data": {"message": "hi", "conversationId": 999}}', "not_found"),
    ('{"type": "chat:stop", "data": {"conversationId": 999}}', "not_found"),
    ('{"type": "task:subscribe", "data": {"taskId": 999}}', "not_found"),
])
async def test_bad_frames_get_an_error_and_the_socket_stays_open(ws_connect, app, raw, code):
    conn = await connect(ws_connect)
    conn.write_message(raw)
    error = await recv(conn)
    assert error["type"] == "error", error
    assert error["data"]["code"] == code, error
    assert error["data"]["message"]
    if code == "invalid_fields":
        assert error["data"]["fields"]
    send(conn, "ping", id=7)
    assert (await recv(conn))["id"] == 7
    stores = app.settings["stores"]
    assert await stores.messages.count() == 0 and await stores.conversations.count() == 0


@pytest.mark.gen_test
async def test_error_carries_id_and_request_type(ws_connect):
    conn = await connect(ws_connect)
    send(conn, "chat:history", {"conversationId": 42}, id="h")
    error = await recv(conn)
    assert error["id"] == "h" and error["data"]["requestType"] == "chat:history"


@pytest.mark.gen_test
async def test_binary_frame_refused(ws_connect):
    conn = await connect(ws_connect)
    conn.write_message(b'{"type": "ping"}', binary=True)
    error = await recv(conn)
    assert error["data"]["code"] == "invalid_message"


@pytest.mark.gen_test
async def test_oversized_frame_closes_with_1009(ws_connect, config):
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "x" * (config.ws_max_message_size + 10)})
    assert await asyncio.wait_for(conn.read_message(), WAIT) is None
    assert conn.close_code == 1009


# -- chat -----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_chat_send_streams_and_stores_the_answer_once(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer("Hello there, how are you today?")
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "Hi!"}, id=1)
    user, chunks, done, final = await collect_answer(conn)
    assert user["id"] == 1 and user["data"]["role"] == "user"
    assert user["data"]["content"] == "Hi!" and user["data"]["status"] == "complete"
    conversation_id = user["data"]["conversationId"]
    # Chunks that reach the server together may share a frame; the text is what counts.
    assert 1 <= len(chunks) <= 6 and all(c["id"] == 1 for c in chunks)
    assert {c["data"]["conversationId"] for c in chunks} == {conversation_id}
    assert "".join(c["data"]["chunk"] for c in chunks) == "Hello there, how are you today?"
    message_id = chunks[0]["data"]["messageId"]
    assert done["data"] == {"conversationId": conversation_id, "messageId": message_id,
                            "chunk": "", "done": True}
    assert final["id"] == 1 and final["data"]["id"] == message_id
    assert final["data"]["content"] == "Hello there, how are you today?"
    assert final["data"]["status"] == "complete" and final["data"]["finishReason"] == "stop"
    stores = app.settings["stores"]
    rows = await stores.messages.history(conversation_id)
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", "Hi!", "complete"),
        ("assistant", "Hello there, how are you today?", "complete")]
    conversation = await stores.conversations.get(conversation_id)
    assert conversation.title == "Hi!"


@pytest.mark.gen_test
async def test_chat_streaming_from_client_is_a_send(ws_connect, fake_lmstudio):
    conn = await connect(ws_connect)
    send(conn, "chat:streaming", {"message": "ping me"}, id="s")
    user, chunks, done, final = await collect_answer(conn)
    assert final["data"]["content"] == "You said: ping me"


@pytest.mark.gen_test
async def test_prompt_has_instructions_and_last_ten_messages(ws_connect, app, fake_lmstudio):
    stores = app.settings["stores"]
    await stores.instructions.create({"name": "b", "content": "Be brief.", "position": 1,
                                      "active": True})
    await stores.instructions.create({"name": "a", "content": "Speak English.",
                                      "position": 0, "active": True})
    await stores.instructions.create({"name": "off", "content": "Ignored.", "active": False})
    conversation = await stores.conversations.create({"title": "t"})
    for i in range(12):
        await stores.messages.add(conversation.id, "user" if i % 2 == 0 else "assistant",
                                  "m%d" % i)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "last", "conversationId": conversation.id,
                             "model": "qwen2.5-7b-instruct"})
    await collect_answer(conn)
    body = [b for p, b in fake_lmstudio.requests if p == "/v1/chat/completions"][-1]
    assert body["model"] == "qwen2.5-7b-instruct" and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "Speak English.\n\nBe brief."}
    assert [m["content"] for m in body["messages"][1:]] == ["m%d" % i for i in range(3, 12)] + [
        "last"]


@pytest.mark.gen_test
async def test_chat_history_oldest_first_with_limit(ws_connect, app):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "t"})
    for i in range(5):
        await stores.messages.add(conversation.id, "user", "m%d" % i)
    conn = await connect(ws_connect)
    send(conn, "chat:history", {"conversationId": conversation.id, "limit": 3}, id="h")
    reply = await recv(conn)
    assert reply["type"] == "chat:history" and reply["id"] == "h"
    assert reply["data"]["conversationId"] == conversation.id
    assert [m["content"] for m in reply["data"]["messages"]] == ["m2", "m3", "m4"]
    assert reply["data"]["messages"][0]["createdAt"].endswith("Z")


@pytest.mark.gen_test
async def test_lmstudio_unreachable(ws_connect, app):
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "anyone?"}, id="x")
    user = await expect(conn, "chat:message")
    error = await expect(conn, "error")
    assert error["id"] == "x" and error["data"]["code"] == "lmstudio_unavailable"
    assert error["data"]["requestType"] == "chat:send"
    assert "The model server at http://" in error["data"]["message"]
    assert "not reachable" in error["data"]["message"]
    final = await expect(conn, "chat:message")
    assert final["data"]["status"] == "incomplete" and final["data"]["error"]
    rows = await app.settings["stores"].messages.history(user["data"]["conversationId"])
    assert [(r.role, r.status) for r in rows] == [("user", "complete"),
                                                 ("assistant", "incomplete")]
    send(conn, "ping", id=2)
    assert (await expect(conn, "pong"))["id"] == 2


@pytest.mark.gen_test
async def test_upstream_failure_mid_stream_stores_what_arrived(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer("one two three four five")
    fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "count"})
    await expect(conn, "chat:message")
    error = await expect(conn, "error")
    assert error["data"]["code"] == "stream_broken"
    final = await expect(conn, "chat:message")
    assert final["data"]["content"] == "one two"
    row = await stored_answer(app, final["data"]["id"])
    assert row.content == "one two" and "closed before" in row.error


@pytest.mark.gen_test
async def test_chat_stop(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(200)), chunk_delay=0.02)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "long"}, id="send")
    user = await expect(conn, "chat:message")
    conversation_id = user["data"]["conversationId"]
    for _ in range(3):
        await expect(conn, "chat:streaming")
    send(conn, "chat:stop", {"conversationId": conversation_id}, id="stop")
    frames = []
    while not any(f["type"] == "chat:message" and f.get("id") == "stop" for f in frames):
        frames.append(await recv(conn))
    stopped = frames[-1]["data"]
    assert stopped["status"] == "incomplete" and stopped["finishReason"] == "stopped"
    arrived = "".join(f["data"]["chunk"] for f in frames if f["type"] == "chat:streaming")
    assert stopped["content"].startswith("w0 w1 w2")
    assert len(stopped["content"].split()) < 200
    row = await app.settings["stores"].messages.get(stopped["id"])
    assert row.status == "incomplete" and row.content == stopped["content"]
    assert arrived in row.content
    await until(lambda: _true(fake_lmstudio.cancelled == 1))
    send(conn, "chat:stop", {"conversationId": conversation_id}, id="again")
    error = await expect(conn, "error")
    assert error["data"]["code"] == "not_running" and error["id"] == "again"


async def _true(value):
    return value


@pytest.mark.gen_test
async def test_second_send_while_answering_is_busy(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer("a b c d e f g h", chunk_delay=0.05)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "first"})
    user = await expect(conn, "chat:message")
    conversation_id = user["data"]["conversationId"]
    send(conn, "chat:send", {"message": "second", "conversationId": conversation_id}, id=9)
    error = await expect(conn, "error")
    assert error["data"]["code"] == "busy" and error["id"] == 9
    await expect(conn, "chat:message")  # the first answer still completes
    rows = await app.settings["stores"].messages.history(conversation_id)
    assert [r.content for r in rows if r.role == "user"] == ["first"]


@pytest.mark.gen_test
async def test_disconnect_mid_stream_stores_incomplete_answer(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(200)), chunk_delay=0.02)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "long"})
    user = await expect(conn, "chat:message")
    chunk = await expect(conn, "chat:streaming")
    conn.close()
    row = await stored_answer(app, chunk["data"]["messageId"])
    assert row.content.startswith("w0") and row.finish_reason == "disconnected"
    assert row.conversation_id == user["data"]["conversationId"]
    await until(lambda: _true(fake_lmstudio.cancelled == 1))
    assert not app.settings["services"]["chat"].running


@pytest.mark.gen_test
async def test_two_tabs_on_one_conversation_both_see_messages(ws_connect, app, fake_lmstudio):
    conversation = await app.settings["stores"].conversations.create({"title": "shared"})
    tab_a = await connect(ws_connect)
    tab_b = await connect(ws_connect)
    other = await connect(ws_connect)
    send(tab_b, "chat:history", {"conversationId": conversation.id})
    assert (await recv(tab_b))["data"]["messages"] == []
    send(tab_a, "chat:send", {"message": "hello both", "conversationId": conversation.id},
         id="a")
    _, chunks_a, _, final_a = await collect_answer(tab_a)
    user_b, chunks_b, _, final_b = await collect_answer(tab_b)
    assert user_b["data"]["content"] == "hello both" and "id" not in user_b
    assert [c["data"]["chunk"] for c in chunks_a] == [c["data"]["chunk"] for c in chunks_b]
    assert final_a["data"] == final_b["data"] and final_a["id"] == "a" and "id" not in final_b
    assert await quiet(other) == []


# -- monitoring ---------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=20)
async def test_metrics_only_to_subscribers(ws_connect, app):
    collector = app.settings["services"]["metrics"]
    first, second, bystander = [await connect(ws_connect) for _ in range(3)]
    assert collector.running and not collector.watched  # sampling from start-up
    send(first, "monitoring:subscribe", id="m")
    reply = await recv(first)
    assert reply["type"] == "monitoring:subscribed" and reply["id"] == "m"
    metrics = (await expect(first, "monitoring:metrics"))["data"]
    send(second, "monitoring:subscribe")
    assert (await recv(second))["type"] == "monitoring:subscribed"
    late = (await recv(second, timeout=0.15))  # at once, not one interval later
    assert late["type"] == "monitoring:metrics"
    for key in ("cpu", "memory", "swap", "disk", "network", "loadAverage", "processes",
                "uptimeSeconds", "process", "gpu", "lmstudio", "websocket"):
        assert key in metrics, key
    assert len(metrics["cpu"]["perCore"]) == metrics["cpu"]["count"]
    assert metrics["lmstudio"]["reachable"] is False
    assert metrics["websocket"]["clients"] == 3
    await expect(first, "monitoring:metrics")
    await expect(second, "monitoring:metrics")
    assert await quiet(bystander, 0.5) == []
    send(first, "monitoring:unsubscribe", id="u")
    assert (await expect(first, "monitoring:unsubscribed"))["id"] == "u"
    await quiet(first, 0.1)
    assert [f for f in await quiet(first, 0.5) if f["type"] == "monitoring:metrics"] == []
    assert collector.watched
    second.close()
    await until(lambda: _true(not collector.watched))
    assert collector.running


@pytest.mark.gen_test
async def test_metrics_report_lmstudio_state(ws_connect, fake_lmstudio):
    conn = await connect(ws_connect)
    send(conn, "monitoring:subscribe")
    metrics = (await expect(conn, "monitoring:metrics"))["data"]
    assert metrics["lmstudio"]["reachable"] is True
    assert metrics["lmstudio"]["activeModel"] == "qwen2.5-7b-instruct"


# -- tasks ----------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_task_updates_reach_only_that_tasks_subscribers(ws_connect, app):
    stores, hub = app.settings["stores"], app.settings["hub"]
    task = await stores.tasks.create({
        "title": "Write a poem", "description": "", "status": "pending",
        "subtasks": [{"title": "Plan", "description": ""},
                     {"title": "Write", "description": ""}]})
    other = await stores.tasks.create({"title": "Other", "description": "",
                                       "status": "pending"})
    watcher, elsewhere, bystander = [await connect(ws_connect) for _ in range(3)]
    send(watcher, "task:subscribe", {"taskId": task.id}, id="t")
    subscribed = await recv(watcher)
    assert subscribed["type"] == "task:subscribed" and subscribed["id"] == "t"
    assert subscribed["data"]["taskId"] == task.id
    assert [s["title"] for s in subscribed["data"]["task"]["subtasks"]] == ["Plan", "Write"]
    send(elsewhere, "task:subscribe", {"taskId": other.id})
    await recv(elsewhere)

    current = await stores.tasks.get(task.id)
    subtask = current["subtasks"][0]
    hub.publish("task:update", task.id, "subtask:started", task=current, subtask=subtask)
    update = await recv(watcher)
    assert update["type"] == "task:update"
    assert update["data"]["taskId"] == task.id and update["data"]["event"] == "subtask:started"
    assert update["data"]["task"]["title"] == "Write a poem"
    assert update["data"]["subtask"]["taskId"] == task.id
    assert update["data"]["subtask"]["dependsOn"] == []
    hub.publish("task:update", task.id, "task:updated", task=current)
    assert "subtask" not in (await recv(watcher))["data"]
    assert await quiet(elsewhere) == [] and await quiet(bystander) == []

    send(watcher, "task:unsubscribe", {"taskId": task.id}, id="bye")
    assert (await recv(watcher))["type"] == "task:unsubscribed"
    hub.publish("task:update", task.id, "task:completed", task=current)
    assert await quiet(watcher) == []


@pytest.mark.gen_test
async def test_all_tasks_subscribers_see_every_task_once(ws_connect, app):
    stores, hub = app.settings["stores"], app.settings["hub"]
    first = await stores.tasks.create({"title": "One", "description": "", "status": "pending"})
    second = await stores.tasks.create({"title": "Two", "description": "", "status": "pending"})
    lister, bystander = await connect(ws_connect), await connect(ws_connect)
    send(lister, "tasks:subscribe", id="all")
    assert (await recv(lister))["type"] == "tasks:subscribed"
    send(lister, "task:subscribe", {"taskId": first.id})
    await expect(lister, "task:subscribed")
    hub.publish("task:update", first.id, "running", task=first)
    hub.publish("task:update", second.id, "created", task=second)
    got = [(await recv(lister))["data"] for _ in range(2)]
    assert [(d["taskId"], d["event"]) for d in got] == [(first.id, "running"),
                                                      (second.id, "created")]
    assert await quiet(lister) == [] and await quiet(bystander) == []  # one frame each
    send(lister, "tasks:unsubscribe")
    assert (await recv(lister))["type"] == "tasks:unsubscribed"
    hub.publish("task:update", second.id, "running", task=second)
    assert await quiet(lister) == []


# -- shutdown -------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_shutdown_closes_1001_and_stores_incomplete(ws_connect, app, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(200)), chunk_delay=0.02)
    streaming = await connect(ws_connect)
    idle = await connect(ws_connect)
    send(streaming, "chat:send", {"message": "long"})
    chunk = await expect(streaming, "chat:streaming")
    await app.settings["ws"].shutdown()
    for conn in (streaming, idle):
        while await asyncio.wait_for(conn.read_message(), WAIT) is not None:
            pass
        assert conn.close_code == 1001
    row = await app.settings["stores"].messages.get(chunk["data"]["messageId"])
    assert row.status == "incomplete" and row.finish_reason == "shutdown"
    assert row.content.startswith("w0")
    with pytest.raises((tornado.httpclient.HTTPClientError, tornado.websocket.WebSocketError,
                        AssertionError)):
        late = await ws_connect()
        assert await asyncio.wait_for(late.read_message(), WAIT) is not None


@pytest.mark.gen_test
async def test_unfinished_answers_of_a_previous_run_are_marked(app):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "t"})
    row = await stores.messages.add(conversation.id, "assistant", "", status="streaming")
    await app.settings["services"]["chat"].recover()
    assert (await stores.messages.get(row.id)).status == "incomplete"


@pytest.mark.gen_test
async def test_one_frame_per_token_at_model_pace(ws_connect, fake_lmstudio):
    fake_lmstudio.script_answer("one two three four", chunk_delay=0.02)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "slowly"})
    _, chunks, _, final = await collect_answer(conn)
    assert [c["data"]["chunk"] for c in chunks] == ["one", " two", " three", " four"]


@pytest.mark.gen_test
async def test_the_answer_is_written_once(ws_connect, app, fake_lmstudio, monkeypatch):
    messages = app.settings["stores"].messages
    writes = []
    update = messages.update

    async def counting_update(id, values):
        writes.append(id)
        return await update(id, values)

    monkeypatch.setattr(messages, "update", counting_update)
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(300)))
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "many chunks"})
    _, chunks, _, final = await collect_answer(conn)
    assert len(final["data"]["content"].split()) == 300
    assert writes == [final["data"]["id"]]
