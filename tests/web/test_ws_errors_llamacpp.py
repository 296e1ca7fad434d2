"""context_too_long against a real llama.cpp server (llama-cpp-python's, or llama-server) named
by ORCHESTRA_TEST_LLAMACPP_URL, as CI starts it (SmolLM2-135M-Instruct, --n_ctx 2048): the
numbers in the error frame are the ones in the server's own error.

    python -m llama_cpp.server --model .../SmolLM2-135M-Instruct.Q4_1.gguf --port 8931 \\
        --n_ctx 2048 --chat_format chatml
    ORCHESTRA_TEST_LLAMACPP_URL=http://127.0.0.1:8931 pytest tests/web/test_ws_errors_llamacpp.py
"""

import os

import pytest

from orchestra.services.lmstudio import ContextTooLong, LMStudioClient, normalize_base_url
from tests.web.test_ws import connect, expect, send

URL = os.environ.get("ORCHESTRA_TEST_LLAMACPP_URL")

pytestmark = pytest.mark.skipif(not URL, reason="ORCHESTRA_TEST_LLAMACPP_URL is not set")

# Far more tokens than the context takes (one token a word in SmolLM2's vocabulary).
LONG = " ".join(["tea"] * 5000)


@pytest.fixture
def lmstudio_url():
    return URL


@pytest.mark.gen_test(timeout=300)
async def test_a_chat_prompt_longer_than_the_context_gets_the_servers_numbers(ws_connect, app):
    conn = await connect(ws_connect)
    send(conn, "chat:send", {"message": LONG}, id="long")
    user = await expect(conn, "chat:message")
    error = await expect(conn, "error")
    final = await expect(conn, "chat:message")
    data = error["data"]
    assert error["id"] == "long" and data["code"] == "context_too_long", data
    assert isinstance(data["promptTokens"], int) and isinstance(data["contextLength"], int)
    assert data["promptTokens"] > data["contextLength"] >= 512
    assert data["retryable"] is False
    assert data["conversationId"] == user["data"]["conversationId"]
    assert data["messageId"] == final["data"]["id"]
    # Not LM Studio: the server is named by its URL.
    assert data["message"] == (
        "The prompt has %d tokens but the model's context on the model server at %s holds %d; "
        "shorten the conversation or load the model with a longer context."
        % (data["promptTokens"], normalize_base_url(URL), data["contextLength"]))
    assert final["data"]["status"] == "incomplete" and final["data"]["error"] == data["message"]


@pytest.mark.gen_test(timeout=300)
async def test_a_whole_answer_too_long_gets_the_same_numbers(io_loop):
    client = LMStudioClient(URL, request_timeout=300)
    messages = [{"role": "user", "content": LONG}]
    try:
        with pytest.raises(ContextTooLong) as whole:
            await client.generate_completion(messages, max_tokens=16)
        with pytest.raises(ContextTooLong) as streamed:
            async for _ in client.stream_completion(messages, max_tokens=16):
                pass
    finally:
        await client.close()
    assert whole.value.prompt_tokens > whole.value.context_length
    assert (streamed.value.prompt_tokens, streamed.value.context_length) == (
        whole.value.prompt_tokens, whole.value.context_length)
