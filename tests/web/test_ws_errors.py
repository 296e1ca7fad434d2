"""Chat errors over a real /ws against the fake server: the error frame names the server, says
context_too_long with the server's own numbers, marks a broken stream retryable, and the
service logs one WARNING line for each (no traceback)."""

import logging

import pytest

from tests.web.test_ws import connect, expect, send, stored_answer

STYLES = ["lmstudio", "lmstudio-0.3", "llama.cpp", "llama.cpp-sse", "llama-cpp-python",
          "vllm", "vllm-0.5"]
LONG = " ".join("word%d" % i for i in range(40))


async def failed_answer(conn, frame_id):
    """(user chat:message, error frame, final chat:message) of one failed chat:send."""
    user = await expect(conn, "chat:message")
    error = await expect(conn, "error")
    assert error["id"] == frame_id
    done = await expect(conn, "chat:streaming")
    assert done["data"]["done"] is True
    final = await expect(conn, "chat:message")
    return user, error, final


def service_records(caplog):
    return [r for r in caplog.records if r.name.startswith("orchestra")]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.gen_test
async def test_a_prompt_too_long_is_context_too_long_with_the_numbers(ws_connect, app,
                                                                     fake_lmstudio, style):
    fake_lmstudio.lmstudio = style.startswith("lmstudio")
    server = ("LM Studio at %s" if fake_lmstudio.lmstudio else "the model server at %s") % (
        fake_lmstudio.url)
    fake_lmstudio.limit_context(16, style)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": LONG}, id="long")
    user, error, final = await failed_answer(conn, "long")
    prompt, context = fake_lmstudio.last_overflow
    assert (prompt, context) == (40, 16)
    message = ("The prompt has 40 tokens but the model's context on %s holds 16; shorten the "
               "conversation or load the model with a longer context." % server)
    assert error["data"] == {
        "code": "context_too_long", "message": message, "requestType": "chat:send",
        "retryable": False, "promptTokens": 40, "contextLength": 16,
        "conversationId": user["data"]["conversationId"], "messageId": final["data"]["id"]}
    assert final["data"]["status"] == "incomplete" and final["data"]["error"] == message
    # Nothing the user wrote is lost.
    rows = await app.settings["stores"].messages.history(user["data"]["conversationId"])
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", LONG, "complete"), ("assistant", "", "incomplete")]


@pytest.mark.gen_test
async def test_a_broken_stream_is_retryable_and_a_retry_answers(ws_connect, app, fake_lmstudio,
                                                                caplog):
    caplog.set_level(logging.INFO)
    fake_lmstudio.script_answer("one two three four five")
    fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "count"}, id=1)
    user, error, final = await failed_answer(conn, 1)
    message = ("The answer from LM Studio at %s broke off: the connection closed before the "
               "answer was complete." % fake_lmstudio.url)
    assert error["data"] == {
        "code": "stream_broken", "message": message, "requestType": "chat:send",
        "retryable": True, "conversationId": user["data"]["conversationId"],
        "messageId": final["data"]["id"]}
    assert "HTTP 200" not in error["data"]["message"]
    row = await stored_answer(app, final["data"]["id"])
    assert row.content == "one two" and row.error == message
    warnings = [r for r in service_records(caplog) if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.getMessage()) for r in warnings] == [
        ("WARNING", "the answer in conversation %d failed: %s"
         % (user["data"]["conversationId"], message))]
    assert not any(r.exc_info for r in service_records(caplog))
    # retryable means it: the same request again is answered
    fake_lmstudio.script_answer("one two three four five")
    send(conn, "chat:send", {"message": "count", "conversationId":
                             user["data"]["conversationId"]}, id=2)
    await expect(conn, "chat:message")
    answer = await expect(conn, "chat:message")
    assert answer["id"] == 2 and answer["data"]["status"] == "complete"
    assert answer["data"]["content"] == "one two three four five"


@pytest.mark.gen_test
async def test_another_servers_error_names_it_by_its_url(ws_connect, fake_lmstudio):
    fake_lmstudio.lmstudio = False  # llama.cpp's server, say: no /api/v0
    fake_lmstudio.fail_next(500, "Model crashed", path="/v1/chat/completions")
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "hi"}, id="a")
    _, error, _ = await failed_answer(conn, "a")
    assert error["data"]["code"] == "lmstudio_error"
    assert error["data"]["message"] == ("The model server at %s answered with an error "
                                        "(HTTP 500): Model crashed." % fake_lmstudio.url)
    assert error["data"]["retryable"] is True


@pytest.mark.gen_test
async def test_lmstudio_is_named_once_its_native_api_answered(ws_connect, fake_lmstudio):
    fake_lmstudio.fail_next(400, "Bad things", path="/v1/chat/completions")
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "hi"}, id="b")
    _, error, _ = await failed_answer(conn, "b")
    assert error["data"]["message"] == ("LM Studio at %s answered with an error (HTTP 400): "
                                        "Bad things." % fake_lmstudio.url)
    assert error["data"]["retryable"] is False


@pytest.mark.gen_test
async def test_a_server_that_is_down_is_named_and_logged_once(ws_connect, config, caplog):
    caplog.set_level(logging.INFO)
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": "anyone?"}, id="x")
    user, error, _ = await failed_answer(conn, "x")
    message = ("The model server at %s is not reachable; start it or check the URL."
               % config.lmstudio_url.rstrip("/"))
    assert error["data"]["code"] == "lmstudio_unavailable"
    assert error["data"]["message"] == message and error["data"]["retryable"] is True
    warnings = [r for r in service_records(caplog) if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.getMessage()) for r in warnings] == [
        ("WARNING", "the answer in conversation %d failed: %s"
         % (user["data"]["conversationId"], message))]
    assert not any(r.exc_info for r in service_records(caplog))
