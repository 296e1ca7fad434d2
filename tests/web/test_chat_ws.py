"""Chat over a real /ws: limits, regenerate, edit and resend, settings, older history, Retry."""

import pytest

from tests.web.test_ws import collect_answer, connect, expect, quiet, recv, send

LIMIT = 200_000


def completions(fake):
    return [body for path, body in fake.requests if path == "/v1/chat/completions"]


async def exchange(conn, text, conversation_id=None, id=None, **extra):
    data = dict(extra, message=text)
    if conversation_id is not None:
        data["conversationId"] = conversation_id
    send(conn, "chat:send", data, id=id)
    return await collect_answer(conn)


# -- limits ----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_connected_names_the_chat_limits_and_a_longer_message_changes_nothing(
        ws_connect, app):
    conn = await ws_connect()
    hello = await recv(conn)
    assert hello["data"]["maxChatMessageLength"] == LIMIT
    assert hello["data"]["maxMessageSize"] == 1024 * 1024
    send(conn, "chat:send", {"message": "x" * (LIMIT + 1)}, id="big")
    error = await expect(conn, "error")
    assert error["id"] == "big" and error["data"]["code"] == "invalid_fields"
    assert "message" in error["data"]["fields"]
    assert await app.settings["stores"].messages.list() == []


# -- regenerate ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_regenerate_adds_an_answer_and_keeps_the_old_one(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("First answer")
    user, _, _, first = await exchange(conn, "Tell me a fact", id=1)
    conversation_id = user["data"]["conversationId"]
    assert first["data"]["replyTo"] == user["data"]["id"]
    fake_lmstudio.script_answer("Second answer")
    send(conn, "chat:regenerate", {"messageId": first["data"]["id"]}, id=2)
    new_answer = await expect(conn, "chat:message")
    assert new_answer["id"] == 2
    assert new_answer["data"]["status"] == "streaming"
    assert new_answer["data"]["replyTo"] == user["data"]["id"]
    done = await expect(conn, "chat:streaming")
    while not done["data"]["done"]:
        done = await expect(conn, "chat:streaming")
    final = await expect(conn, "chat:message")
    assert final["data"]["content"] == "Second answer"
    assert final["data"]["id"] == new_answer["data"]["id"] != first["data"]["id"]
    # The model saw the question once, and not the answer being replaced.
    prompt = completions(fake_lmstudio)[-1]["messages"]
    assert [m["content"] for m in prompt] == ["Tell me a fact"]
    send(conn, "chat:history", {"conversationId": conversation_id}, id=3)
    history = await expect(conn, "chat:history")
    answers = [m for m in history["data"]["messages"] if m["role"] == "assistant"]
    assert [(a["content"], a["replyTo"]) for a in answers] == [
        ("First answer", user["data"]["id"]), ("Second answer", user["data"]["id"])]
    # The next message's prompt carries the latest answer only.
    fake_lmstudio.script_answer("ok")
    await exchange(conn, "And another", conversation_id)
    prompt = completions(fake_lmstudio)[-1]["messages"]
    assert [m["content"] for m in prompt] == ["Tell me a fact", "Second answer", "And another"]


@pytest.mark.gen_test
async def test_regenerate_refusals_change_nothing(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    send(conn, "chat:regenerate", {"messageId": 999}, id="missing")
    error = await expect(conn, "error")
    assert error["id"] == "missing" and error["data"]["code"] == "not_found"
    send(conn, "chat:regenerate", {"messageId": "7"}, id="bad")
    error = await expect(conn, "error")
    assert error["data"]["code"] == "invalid_fields" and "messageId" in error["data"]["fields"]
    assert await app.settings["stores"].messages.list() == []
    fake_lmstudio.script_answer("slow " * 200, chunk_delay=0.02)
    send(conn, "chat:send", {"message": "Go"}, id="go")
    await expect(conn, "chat:message")
    first = await expect(conn, "chat:streaming")
    send(conn, "chat:regenerate", {"messageId": first["data"]["messageId"]}, id="again")
    error = await expect(conn, "error")
    assert error["id"] == "again" and error["data"]["code"] == "busy"
    send(conn, "chat:stop", {"conversationId": first["data"]["conversationId"]})
    await expect(conn, "chat:message")
    assert len(await app.settings["stores"].messages.list()) == 2


# -- edit and resend -------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_edit_and_resend_answers_the_new_version(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("Paris")
    user, _, _, _ = await exchange(conn, "Capital of France?")
    conversation_id = user["data"]["conversationId"]
    fake_lmstudio.script_answer("Berlni")
    wrong, _, _, _ = await exchange(conn, "Capital of Germny?", conversation_id)
    fake_lmstudio.script_answer("Berlin")
    send(conn, "chat:edit", {"messageId": wrong["data"]["id"],
                             "message": "Capital of Germany?"}, id="e")
    edited, _, _, answer = await collect_answer(conn)
    assert edited["id"] == "e"
    assert edited["data"]["editOf"] == wrong["data"]["id"]
    assert edited["data"]["content"] == "Capital of Germany?"
    assert answer["data"]["replyTo"] == edited["data"]["id"]
    prompt = completions(fake_lmstudio)[-1]["messages"]
    assert [m["content"] for m in prompt] == ["Capital of France?", "Paris",
                                              "Capital of Germany?"]
    # Nothing is lost: the first version and its answer are still stored.
    contents = [m.content for m in await app.settings["stores"].messages.list(limit=10)]
    assert "Capital of Germny?" in contents and "Berlni" in contents
    # Later prompts follow the new version.
    fake_lmstudio.script_answer("Rome")
    await exchange(conn, "And Italy?", conversation_id)
    prompt = completions(fake_lmstudio)[-1]["messages"]
    assert [m["content"] for m in prompt] == [
        "Capital of France?", "Paris", "Capital of Germany?", "Berlin", "And Italy?"]


@pytest.mark.gen_test
async def test_edit_refusals(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("An answer")
    user, _, _, answer = await exchange(conn, "Question")
    send(conn, "chat:edit", {"messageId": answer["data"]["id"], "message": "x"}, id=1)
    error = await expect(conn, "error")
    assert error["data"]["code"] == "not_editable"
    send(conn, "chat:edit", {"messageId": user["data"]["id"], "message": "   "}, id=2)
    error = await expect(conn, "error")
    assert error["data"]["code"] == "invalid_fields"
    send(conn, "chat:edit", {"messageId": user["data"]["id"],
                             "message": "y" * (LIMIT + 1)}, id=3)
    error = await expect(conn, "error")
    assert error["data"]["code"] == "invalid_fields"
    assert len(await app.settings["stores"].messages.list()) == 2


# -- settings --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_settings_are_stored_and_honoured(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    other = await connect(ws_connect)
    fake_lmstudio.script_answer("hi")
    user, _, _, _ = await exchange(conn, "Hello")
    conversation_id = user["data"]["conversationId"]
    send(other, "chat:history", {"conversationId": conversation_id}, id="h")
    history = await expect(other, "chat:history")
    assert history["data"]["conversation"]["systemPrompt"] is None
    send(conn, "chat:settings", {"conversationId": conversation_id,
                                 "systemPrompt": "Answer in French.", "temperature": 0.2,
                                 "maxTokens": 64, "model": "qwen2.5-7b-instruct"}, id="s")
    reply = await expect(conn, "chat:settings")
    assert reply["id"] == "s"
    assert reply["data"] == {
        "conversationId": conversation_id, "title": "Hello", "model": "qwen2.5-7b-instruct",
        "systemPrompt": "Answer in French.", "temperature": 0.2, "maxTokens": 64,
        "knowledgeBaseIds": []}
    seen = await expect(other, "chat:settings")  # the other tab showing it hears of it
    assert "id" not in seen and seen["data"]["maxTokens"] == 64
    stored = await app.settings["stores"].conversations.get(conversation_id)
    assert (stored.system_prompt, stored.temperature, stored.max_tokens, stored.model) == (
        "Answer in French.", 0.2, 64, "qwen2.5-7b-instruct")
    fake_lmstudio.script_answer("bonjour")
    await exchange(conn, "Again", conversation_id)
    body = completions(fake_lmstudio)[-1]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert body["model"] == "qwen2.5-7b-instruct"
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    # Cleared with null: the server's defaults again.
    send(conn, "chat:settings", {"conversationId": conversation_id, "temperature": None,
                                 "maxTokens": None, "systemPrompt": ""}, id="c")
    reply = await expect(conn, "chat:settings")
    assert reply["data"]["temperature"] is None and reply["data"]["systemPrompt"] is None
    assert reply["data"]["model"] == "qwen2.5-7b-instruct"  # left out: unchanged
    fake_lmstudio.script_answer("ok")
    await exchange(conn, "Once more", conversation_id)
    body = completions(fake_lmstudio)[-1]
    assert "temperature" not in body and "max_tokens" not in body
    assert body["messages"][0]["role"] == "user"


@pytest.mark.gen_test
async def test_bad_settings_change_nothing_and_new_conversations_take_them(
        ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("ok")
    user, _, _, _ = await exchange(conn, "Start", settings={
        "systemPrompt": "Be brief.", "temperature": 1.5, "maxTokens": 10})
    conversation_id = user["data"]["conversationId"]
    body = completions(fake_lmstudio)[-1]
    assert body["temperature"] == 1.5 and body["max_tokens"] == 10
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    for bad in ({"temperature": 5}, {"maxTokens": 0}, {"maxTokens": "ten"},
                {"colour": "blue"}):
        send(conn, "chat:settings", dict(bad, conversationId=conversation_id), id="bad")
        error = await expect(conn, "error")
        assert error["data"]["code"] == "invalid_fields", bad
    send(conn, "chat:settings", {"conversationId": 999, "temperature": 1}, id="nf")
    assert (await expect(conn, "error"))["data"]["code"] == "not_found"
    stored = await app.settings["stores"].conversations.get(conversation_id)
    assert (stored.system_prompt, stored.temperature, stored.max_tokens) == (
        "Be brief.", 1.5, 10)


# -- older history ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_history_before_reaches_every_older_message(ws_connect, app):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "Long"})
    ids = [(await stores.messages.add(conversation.id, "user", "m%d" % i)).id
           for i in range(7)]
    conn = await connect(ws_connect)
    send(conn, "chat:history", {"conversationId": conversation.id, "limit": 3}, id=1)
    page = (await expect(conn, "chat:history"))["data"]
    assert [m["content"] for m in page["messages"]] == ["m4", "m5", "m6"]
    assert page["hasMore"] is True and page["before"] is None
    seen = []
    before = page["messages"][0]["id"]
    while True:
        send(conn, "chat:history", {"conversationId": conversation.id, "limit": 3,
                                    "before": before}, id=2)
        page = (await expect(conn, "chat:history"))["data"]
        assert page["before"] == before
        seen = [m["content"] for m in page["messages"]] + seen
        if not page["hasMore"]:
            break
        before = page["messages"][0]["id"]
    assert seen == ["m0", "m1", "m2", "m3"]
    assert ids == sorted(ids)
    send(conn, "chat:history", {"conversationId": conversation.id, "before": 0}, id=3)
    assert (await expect(conn, "error"))["data"]["code"] == "invalid_fields"


# -- failures --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_broken_stream_says_retryable_and_which_answer(ws_connect, app, fake_lmstudio):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("one two three four five six seven")
    fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    send(conn, "chat:send", {"message": "Count"}, id="c")
    user = await expect(conn, "chat:message")
    error = await expect(conn, "error")
    assert error["id"] == "c"
    assert error["data"]["retryable"] is True
    assert error["data"]["conversationId"] == user["data"]["conversationId"]
    failed_id = error["data"]["messageId"]
    final = await expect(conn, "chat:message")
    assert final["data"]["id"] == failed_id and final["data"]["status"] == "incomplete"
    # Retry is a regenerate: a new answer, the broken one kept.
    fake_lmstudio.script_answer("Fine now")
    send(conn, "chat:regenerate", {"messageId": failed_id}, id="r")
    frames = await quiet(conn, 1.0)
    answers = [f for f in frames if f["type"] == "chat:message"]
    assert answers[-1]["data"]["content"] == "Fine now"
    assert answers[-1]["data"]["replyTo"] == user["data"]["id"]
    assert (await app.settings["stores"].messages.get(failed_id)).status == "incomplete"


@pytest.mark.gen_test
async def test_a_missing_model_is_not_retryable(ws_connect, fake_lmstudio):
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "Hi", "model": "no-such-model"}, id="m")
    error = await expect(conn, "error")
    assert error["data"]["code"] == "model_not_found"
    assert error["data"]["retryable"] is False


@pytest.mark.gen_test
async def test_settings_written_through_the_json_api_are_what_chat_send_uses(
        ws_connect, fetch, app, fake_lmstudio):
    created = await fetch("/api/conversations", method="POST", json={
        "title": "Terse", "systemPrompt": "One word only.", "temperature": 0.1,
        "maxTokens": 8})
    assert created.code == 201
    item = created.json()
    assert (item["systemPrompt"], item["temperature"], item["maxTokens"]) == (
        "One word only.", 0.1, 8)
    for bad in ({"temperature": 3}, {"maxTokens": 0}, {"maxTokens": "many"}):
        r = await fetch("/api/conversations/%d" % item["id"], method="PATCH", json=bad)
        assert r.code == 400 and set(r.json()["fields"]) == set(bad)
    r = await fetch("/api/conversations/%d" % item["id"], method="PATCH",
                    json={"temperature": 0.7})
    assert r.code == 200 and r.json()["temperature"] == 0.7
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("Yes.")
    await exchange(conn, "Ready?", item["id"])
    body = completions(fake_lmstudio)[-1]
    assert body["temperature"] == 0.7 and body["max_tokens"] == 8
    assert body["messages"][0] == {"role": "system", "content": "One word only."}
