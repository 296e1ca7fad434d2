"""LMStudioClient against the fake LM Studio server: models, completions, faults."""

import asyncio

import pytest

from orchestra.services.lmstudio import (
    LMStudioClient,
    LMStudioError,
    LMStudioTimeout,
    LMStudioUnavailable,
    ModelNotFound,
    UpstreamError,
    status,
)
from tests.fakes.lmstudio import unused_url
from tests.services.lmstudio_helpers import (  # noqa: F401 - fixtures
    benchmarks,
    client,
    completion_requests,
    until,
    user,
)

# -- models -------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_list_models_from_native_api(client, fake_lmstudio):
    models = {m["id"]: m for m in await client.list_models()}
    assert models["qwen2.5-7b-instruct"] == {
        "id": "qwen2.5-7b-instruct", "type": "llm", "publisher": "lmstudio-community",
        "arch": "qwen2", "quantization": "Q4_K_M", "state": "loaded", "loaded": True,
        "max_context_length": 32768, "capabilities": ["tool_use"],
    }
    assert models["qwen2.5-coder-7b-instruct"]["loaded"] is False
    assert models["text-embedding-nomic-embed-text-v1.5"]["type"] == "embeddings"
    assert fake_lmstudio.paths() == ["/api/v0/models"]


@pytest.mark.gen_test
async def test_list_models_falls_back_to_openai_endpoint(client, fake_lmstudio):
    fake_lmstudio.api_v0 = False  # answers 200 {"error": "Unexpected endpoint..."}
    models = await client.list_models()
    assert [m["id"] for m in models][:2] == ["qwen2.5-7b-instruct", "qwen2.5-coder-7b-instruct"]
    assert models[0]["loaded"] is None and models[0]["type"] is None
    assert models[0]["max_context_length"] is None
    assert fake_lmstudio.paths() == ["/api/v0/models", "/v1/models"]


@pytest.mark.gen_test
async def test_list_models_is_cached_until_refresh(client, fake_lmstudio):
    first = await client.list_models()
    first[0]["id"] = "changed by the caller"
    again = await client.list_models()
    assert again[0]["id"] == "qwen2.5-7b-instruct"
    assert len(fake_lmstudio.requests) == 1
    await client.list_models(refresh=True)
    assert len(fake_lmstudio.requests) == 2


@pytest.mark.gen_test
async def test_list_models_cache_expires(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url, cache_ttl=0)
    await client.list_models()
    await client.list_models()
    assert len(fake_lmstudio.requests) == 2
    await client.close()


@pytest.mark.gen_test
async def test_default_model_prefers_active_then_loaded_then_first(client, fake_lmstudio):
    assert await client.default_model() == "qwen2.5-7b-instruct"
    for model in fake_lmstudio.models:
        model["state"] = "not-loaded"
    assert await client.list_models(refresh=True)
    assert await client.default_model() == "qwen2.5-7b-instruct"
    fake_lmstudio.models[2]["state"] = "loaded"
    await client.list_models(refresh=True)
    assert await client.default_model() == "deepseek-r1-distill-qwen-7b"
    client.active_model = "qwen2.5-coder-7b-instruct"
    assert await client.default_model() == "qwen2.5-coder-7b-instruct"


@pytest.mark.gen_test
async def test_default_model_without_language_models(client, fake_lmstudio):
    fake_lmstudio.models = [fake_lmstudio.models[3]]  # the embedding model only
    with pytest.raises(ModelNotFound) as caught:
        await client.default_model()
    assert "no language model" in caught.value.message


@pytest.mark.gen_test
async def test_is_running(client, fake_lmstudio):
    assert await client.is_running() is True
    assert await LMStudioClient(unused_url()).is_running() is False
    fake_lmstudio.stop()
    assert await client.is_running() is False


@pytest.mark.gen_test
async def test_base_url_with_v1_suffix_is_normalised(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url + "/v1/")
    assert client.base_url == fake_lmstudio.url
    assert await client.is_running()
    await client.close()


@pytest.mark.gen_test
async def test_api_token_is_sent(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url, api_token="s3cret")
    await client.list_models()
    assert fake_lmstudio.headers[0]["Authorization"] == "Bearer s3cret"
    await client.close()


@pytest.mark.gen_test
async def test_status_for_the_dashboard(client, fake_lmstudio):
    report = await status(client)
    assert report["reachable"] is True
    assert report["activeModel"] == "qwen2.5-7b-instruct"
    assert report["models"][0] == {"id": "qwen2.5-7b-instruct", "type": "llm",
                                   "state": "loaded", "loaded": True,
                                   "maxContextLength": 32768}
    url = unused_url()
    down = await status(LMStudioClient(url))
    assert down == {"reachable": False, "server": "The model server at %s" % url,
                    "activeModel": None, "models": []}


# -- completions ---------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_generate_completion_chat(client, fake_lmstudio):
    fake_lmstudio.script_answer("Paris is the capital of France.")
    result = await client.generate_completion(
        user("Capital of France?"), temperature=0.2, max_tokens=64, seed=7, stop=["\n\n"])
    assert result["text"] == "Paris is the capital of France."
    assert result["finish_reason"] == "stop"
    assert result["model"] == "qwen2.5-7b-instruct"
    assert result["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
    assert result["timings"]["ttft_ms"] is None
    assert result["timings"]["total_ms"] > 0
    assert result["reasoning"] is None
    (body,) = completion_requests(fake_lmstudio)
    assert body == {"model": "qwen2.5-7b-instruct", "messages": user("Capital of France?"),
                    "temperature": 0.2, "max_tokens": 64, "seed": 7, "stop": ["\n\n"],
                    "stream": False}
    assert fake_lmstudio.paths()[-1] == "/v1/chat/completions"


@pytest.mark.gen_test
async def test_generate_completion_from_prompt(client, fake_lmstudio):
    fake_lmstudio.script_answer(" world")
    result = await client.generate_completion(prompt="Hello", model="qwen2.5-7b-instruct")
    assert result["text"] == " world"
    assert fake_lmstudio.paths()[-1] == "/v1/completions"
    assert completion_requests(fake_lmstudio)[0]["prompt"] == "Hello"


@pytest.mark.gen_test
async def test_generate_needs_messages_or_prompt(client):
    with pytest.raises(ValueError):
        await client.generate_completion()
    with pytest.raises(ValueError):
        await client.generate_completion(user("a"), prompt="b")


@pytest.mark.gen_test
async def test_generate_cut_at_max_tokens(client, fake_lmstudio):
    fake_lmstudio.script_answer("one two three four five")
    result = await client.generate_completion(user("count"), max_tokens=2)
    assert result["text"] == "one two"
    assert result["finish_reason"] == "length"


@pytest.mark.gen_test
async def test_reasoning_is_kept_apart(client, fake_lmstudio):
    fake_lmstudio.script_answer("42", reasoning="6 times 7")
    fake_lmstudio.script_answer("<think>think hard</think>\n\nThe answer is 42.")
    first = await client.generate_completion(user("?"))
    second = await client.generate_completion(user("?"))
    assert (first["text"], first["reasoning"]) == ("42", "6 times 7")
    assert (second["text"], second["reasoning"]) == ("The answer is 42.", "think hard")


@pytest.mark.gen_test
async def test_unknown_model_is_refused_before_sending(client, fake_lmstudio):
    # LM Studio would answer it silently with the loaded model.
    with pytest.raises(ModelNotFound) as caught:
        await client.generate_completion(user("hi"), model="no-such-model")
    assert caught.value.model == "no-such-model"
    assert "no-such-model" in str(caught.value)
    assert completion_requests(fake_lmstudio) == []


@pytest.mark.gen_test
async def test_server_error_500(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "Model crashed")
    with pytest.raises(UpstreamError) as caught:
        await client.generate_completion(user("hi"))
    assert caught.value.status == 500
    assert caught.value.server_message == "Model crashed"
    assert caught.value.transient
    # Choosing the default model asked LM Studio's native API: the server is named as such.
    assert str(caught.value) == ("LM Studio at %s answered with an error (HTTP 500): "
                                 "Model crashed." % fake_lmstudio.url)


@pytest.mark.gen_test
async def test_error_inside_a_200_answer(client, fake_lmstudio):
    fake_lmstudio.fail_next(200, "Unexpected endpoint or method. (POST /chat/completions)")
    with pytest.raises(UpstreamError) as caught:
        await client.generate_completion(user("hi"))
    assert caught.value.status == 200
    assert "Unexpected endpoint" in caught.value.server_message


@pytest.mark.gen_test
async def test_no_model_loaded_400(client, fake_lmstudio):
    fake_lmstudio.jit = False
    for model in fake_lmstudio.models:
        model["state"] = "not-loaded"
    with pytest.raises(UpstreamError) as caught:
        await client.generate_completion(user("hi"), model="qwen2.5-7b-instruct")
    assert caught.value.status == 400
    assert caught.value.server_message.startswith("No models loaded")
    assert not caught.value.transient


@pytest.mark.gen_test
async def test_connection_refused(fake_lmstudio):
    url = unused_url()
    client = LMStudioClient(url)
    with pytest.raises(LMStudioUnavailable) as caught:
        await client.generate_completion(user("hi"), model="m")
    assert caught.value.message == ("The model server at %s is not reachable; start it or "
                                    "check the URL." % url)


@pytest.mark.gen_test
async def test_timeout(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url, request_timeout=0.3)
    fake_lmstudio.slow_first_token(5)
    with pytest.raises(LMStudioTimeout) as caught:
        await client.generate_completion(user("hi"))
    assert fake_lmstudio.url in str(caught.value)
    await until(lambda: fake_lmstudio.cancelled == 1)
    await client.close()


@pytest.mark.gen_test
async def test_disconnect_before_a_whole_answer(client, fake_lmstudio):
    fake_lmstudio.disconnect_mid_stream()
    with pytest.raises((UpstreamError, LMStudioUnavailable)) as caught:
        await client.generate_completion(user("hi"))
    assert caught.value.transient


@pytest.mark.gen_test
async def test_cancelling_generate_closes_the_upstream_request(client, fake_lmstudio):
    fake_lmstudio.slow_first_token(30)
    task = asyncio.ensure_future(client.generate_completion(user("hi")))
    await until(lambda: completion_requests(fake_lmstudio))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: fake_lmstudio.cancelled == 1)
    assert fake_lmstudio.completed == 0


@pytest.mark.gen_test
async def test_native_stats_when_present(client, fake_lmstudio):
    data = await client._call("/api/v0/chat/completions",
                              {"model": "qwen2.5-7b-instruct", "messages": user("hi")})
    result = client._result(data, "qwen2.5-7b-instruct", 10.0)
    assert result["timings"]["ttft_ms"] == 50.0
    assert result["timings"]["tokens_per_second"] == 50.0


def test_errors_are_one_sentence():
    for error in (LMStudioUnavailable("http://h:1"), ModelNotFound("m"),
                  UpstreamError(502, "bad gateway"), LMStudioTimeout("http://h:1", 5)):
        assert isinstance(error, LMStudioError)
        assert str(error) == error.message
        assert error.message.endswith(".") and "\n" not in error.message
