"""The client against a real OpenAI-compatible server named by ORCHESTRA_TEST_LLM_URL.

Example: ORCHESTRA_TEST_LLM_URL=http://localhost:1234 (LM Studio with a model downloaded);
ORCHESTRA_TEST_LLM_MODEL picks the model, otherwise the client's default is used.
"""

import os

import pytest

from orchestra.services.lmstudio import LMStudioClient

URL = os.environ.get("ORCHESTRA_TEST_LLM_URL")
MODEL = os.environ.get("ORCHESTRA_TEST_LLM_MODEL") or None

pytestmark = pytest.mark.skipif(not URL, reason="ORCHESTRA_TEST_LLM_URL is not set")

PROMPT = [{"role": "user", "content": "Reply with the single word: pong"}]


@pytest.fixture
def real_client(io_loop):
    client = LMStudioClient(URL, request_timeout=300)
    yield client
    io_loop.run_sync(client.close)


@pytest.mark.gen_test(timeout=300)
async def test_real_server_is_running_and_lists_models(real_client):
    assert await real_client.is_running(timeout=5)
    models = await real_client.list_models()
    assert models and all(model["id"] for model in models)
    assert await real_client.default_model()


@pytest.mark.gen_test(timeout=300)
async def test_real_completion(real_client):
    result = await real_client.generate_completion(PROMPT, model=MODEL, max_tokens=64,
                                                   temperature=0)
    assert result["text"].strip() or result["reasoning"]
    assert result["finish_reason"] in ("stop", "length")
    assert result["usage"]["completion_tokens"] > 0


@pytest.mark.gen_test(timeout=300)
async def test_real_stream(real_client):
    stream = real_client.stream_completion(PROMPT, model=MODEL, max_tokens=64, temperature=0)
    chunks = [chunk async for chunk in stream]
    assert "".join(chunks) == stream.text
    assert stream.finish_reason in ("stop", "length")
    assert stream.ttft_ms is not None


@pytest.mark.gen_test(timeout=300)
async def test_real_stream_closed_early(real_client):
    messages = [{"role": "user", "content": "Count from 1 to 200, one number per line."}]
    async with real_client.stream_completion(messages, model=MODEL, max_tokens=400) as stream:
        async for _ in stream:
            break
    assert stream.finish_reason is None
    assert await real_client.is_running()
