"""LMStudioClient's model management and higher-level work: load, switch, benchmark, retry,
compare, recommend, and the text helpers."""

import json

import pytest

from orchestra.services.lmstudio import LMStudioError, ModelNotFound, UpstreamError
from tests.services.lmstudio_helpers import (  # noqa: F401 - fixtures
    benchmarks,
    client,
    completion_requests,
    user,
)

CODER = "qwen2.5-coder-7b-instruct"
CHAT = "qwen2.5-7b-instruct"
R1 = "deepseek-r1-distill-qwen-7b"

# -- load and switch -----------------------------------------------------------------------


@pytest.mark.gen_test
async def test_load_model_with_the_native_endpoint(client, fake_lmstudio):
    result = await client.load_model(CODER)
    assert result == {"model": CODER, "loaded": True, "load_time_s": 0.42, "method": "api/v1"}
    assert ("/api/v1/models/load", {"model": CODER}) in fake_lmstudio.requests
    models = {m["id"]: m for m in await client.list_models()}
    assert models[CODER]["loaded"] is True  # the cache was dropped after loading


@pytest.mark.gen_test
async def test_load_model_just_in_time_without_native_endpoint(client, fake_lmstudio):
    fake_lmstudio.api_v1 = False  # 200 {"error": "Unexpected endpoint or method. ..."}
    result = await client.load_model(CODER)
    assert result["method"] == "jit" and result["loaded"] is True
    assert result["load_time_s"] >= 0
    (body,) = completion_requests(fake_lmstudio)
    assert body["model"] == CODER and body["max_tokens"] == 1
    assert fake_lmstudio.model(CODER)["state"] == "loaded"


@pytest.mark.gen_test
async def test_load_model_already_loaded(client, fake_lmstudio):
    result = await client.load_model(CHAT)
    assert result["method"] == "already-loaded"
    assert "/api/v1/models/load" not in fake_lmstudio.paths()


@pytest.mark.gen_test
async def test_load_unknown_model(client):
    with pytest.raises(ModelNotFound):
        await client.load_model("no-such-model")


@pytest.mark.gen_test
async def test_load_failure_is_reported(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "Failed to load model: out of memory",
                            path="/api/v1/models/load")
    with pytest.raises(UpstreamError) as caught:
        await client.load_model(CODER)
    assert "out of memory" in caught.value.message


@pytest.mark.gen_test
async def test_switch_model_sets_the_default(client, fake_lmstudio):
    result = await client.switch_model(CODER)
    assert result == {"active": CODER, "requested": CODER, "fell_back": False, "errors": {}}
    assert client.active_model == CODER
    await client.generate_completion(user("hi"))
    assert completion_requests(fake_lmstudio)[-1]["model"] == CODER


@pytest.mark.gen_test
async def test_switch_model_falls_back(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "out of memory", path="/api/v1/models/load")
    result = await client.switch_model(CODER, fallbacks=["missing-model", R1])
    assert result["active"] == R1 and result["fell_back"] is True
    assert set(result["errors"]) == {CODER, "missing-model"}
    assert "out of memory" in result["errors"][CODER]
    assert client.active_model == R1


@pytest.mark.gen_test
async def test_switch_model_when_nothing_loads(client, fake_lmstudio):
    with pytest.raises(LMStudioError) as caught:
        await client.switch_model("missing-a", fallbacks=["missing-b"])
    assert set(caught.value.errors) == {"missing-a", "missing-b"}
    assert client.active_model is None


# -- benchmark -----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_benchmark_is_timed_and_stored(client, fake_lmstudio, benchmarks):
    fake_lmstudio.script_answer("a b c d e f g h", chunk_delay=0.01)
    result = await client.benchmark_model(CHAT, prompt="Say eight words")
    assert result["model"] == CHAT and result["prompt"] == "Say eight words"
    assert result["tokens_generated"] == 8
    assert result["prompt_tokens"] == 3
    assert 0 <= result["ttft_ms"] <= result["total_ms"]
    assert result["tokens_per_second"] > 0
    assert result["id"] == 1
    stored = benchmarks.rows[0]
    assert stored["model"] == CHAT and stored["tokens_generated"] == 8
    (body,) = completion_requests(fake_lmstudio)
    assert body["stream"] is True and body["temperature"] == 0


@pytest.mark.gen_test
async def test_benchmark_without_a_store(fake_lmstudio):
    from orchestra.services.lmstudio import LMStudioClient

    client = LMStudioClient(fake_lmstudio.url)
    result = await client.benchmark_model()
    assert result["id"] is None and result["model"] == CHAT
    await client.close()


# -- retries and fallbacks -----------------------------------------------------------------


@pytest.mark.gen_test
async def test_retry_recovers_from_transient_failures(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "busy", times=2)
    fake_lmstudio.script_answer("finally")
    result = await client.generate_with_retry(user("hi"), retries=2, backoff=0.01)
    assert result["text"] == "finally" and result["attempts"] == 3
    assert len(completion_requests(fake_lmstudio)) == 3


@pytest.mark.gen_test
async def test_retry_never_repeats_a_4xx(client, fake_lmstudio):
    fake_lmstudio.fail_next(400, "'messages' field is required")
    with pytest.raises(UpstreamError) as caught:
        await client.generate_with_retry(user("hi"), fallbacks=[CODER], backoff=0.01)
    assert caught.value.status == 400
    assert len(completion_requests(fake_lmstudio)) == 1


@pytest.mark.gen_test
async def test_retry_then_fallback_model(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "crashed", times=2)
    result = await client.generate_with_retry(user("hi"), model=CHAT, fallbacks=[CODER],
                                              retries=1, backoff=0.01)
    assert result["model"] == CODER
    assert [b["model"] for b in completion_requests(fake_lmstudio)] == [CHAT, CHAT, CODER]


@pytest.mark.gen_test
async def test_retry_skips_an_unknown_model(client, fake_lmstudio):
    result = await client.generate_with_retry(user("hi"), model="gone", fallbacks=[CHAT])
    assert result["model"] == CHAT


@pytest.mark.gen_test
async def test_retry_gives_up_with_the_last_error(client, fake_lmstudio):
    fake_lmstudio.fail_next(502, "bad gateway", times=5)
    with pytest.raises(UpstreamError) as caught:
        await client.generate_with_retry(user("hi"), retries=1, backoff=0.01)
    assert caught.value.status == 502


# -- compare -------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_compare_models_side_by_side(client, fake_lmstudio):
    fake_lmstudio.default_answer = lambda body: f"answer from {body['model']}"
    results = await client.compare_models("Which is best?", [CHAT, CODER, "missing"])
    assert [r["model"] for r in results] == [CHAT, CODER, "missing"]
    assert results[0]["text"] == f"answer from {CHAT}"
    assert results[1]["text"] == f"answer from {CODER}"
    assert results[0]["problems"] == [] and results[0]["error"] is None
    assert results[0]["timings"]["ttft_ms"] is not None
    assert results[0]["usage"]["completion_tokens"] == 3
    assert results[2]["error"] and "missing" in results[2]["error"]


@pytest.mark.gen_test
async def test_compare_models_flags_problems(client, fake_lmstudio):
    fake_lmstudio.script_answer("")
    fake_lmstudio.script_answer("I'm sorry, but I can't help with that.")
    results = await client.compare_models("?", [CHAT, CODER])
    codes = sorted(p["code"] for r in results for p in r["problems"])
    assert codes == ["empty", "refusal"]


# -- recommend -----------------------------------------------------------------------------


@pytest.mark.gen_test
@pytest.mark.parametrize("task, expected", [
    ("code", CODER), ("reasoning", R1), ("long-context", R1), ("chat", CHAT),
    ("summarisation", CHAT), ("summarization", CHAT),
])
async def test_recommend_model(client, task, expected):
    result = await client.recommend_model(task)
    assert result["model"] == expected
    assert result["reason"].startswith(expected) and "\n" not in result["reason"]
    assert result["task_type"] == task.replace("summarisation", "summarization")


@pytest.mark.gen_test
async def test_recommend_uses_benchmarks(client, benchmarks):
    await benchmarks.add(model=CODER, prompt="p", ttft_ms=10, tokens_per_second=90,
                         total_ms=100, tokens_generated=9, prompt_tokens=1)
    await benchmarks.add(model=CHAT, prompt="p", ttft_ms=10, tokens_per_second=5,
                         total_ms=100, tokens_generated=9, prompt_tokens=1)
    result = await client.recommend_model("chat")
    assert result["model"] == CODER
    assert "90 tokens/s" in result["reason"]


@pytest.mark.gen_test
async def test_recommend_unknown_task(client):
    with pytest.raises(ValueError):
        await client.recommend_model("poetry")


# -- validation ----------------------------------------------------------------------------


def codes(problems):
    return [problem["code"] for problem in problems]


def test_validate_response(client):
    validate = client.validate_response
    assert validate("A fine answer.", "stop") == []
    assert codes(validate("   ", "stop")) == ["empty"]
    assert codes(validate("Half an ans", "length")) == ["truncated"]
    assert codes(validate("Sure. " + "I like it. " * 20)) == ["repetition"]
    assert codes(validate("\n".join(["The same long line again and again"] * 6))) == [
        "repetition"]
    assert codes(validate("I cannot help with that request.")) == ["refusal"]
    assert codes(validate("As an AI language model, I can't browse.")) == ["refusal"]
    assert codes(validate('{"a": 1}', expect_json=True)) == []
    assert codes(validate('```json\n{"a": 1}\n```', expect_json=True)) == []
    assert codes(validate('{"a": ', expect_json=True)) == ["invalid_json"]
    assert codes(validate("", expect_json=True)) == ["empty", "invalid_json"]
    for problem in validate('{"a": ', "length", expect_json=True):
        assert problem["message"].endswith(".")


def test_validate_does_not_flag_normal_lists(client):
    text = "\n".join(f"{i}. Step number {i} of the plan, done carefully" for i in range(10))
    assert client.validate_response(text, "stop") == []


# -- text helpers --------------------------------------------------------------------------


def test_estimate_tokens(client):
    assert client.estimate_tokens("") == 0
    assert client.estimate_tokens("hello world") == 4
    long = "word " * 1000
    assert 900 <= client.estimate_tokens(long) <= 2000


def test_truncate_to_context(client):
    text = " ".join(f"w{i}" for i in range(100))
    cut = client.truncate_to_context(text, 20)
    assert client.estimate_tokens(cut) <= 20 and text.startswith(cut)
    assert client.truncate_to_context("short", 100) == "short"
    assert client.truncate_to_context("anything", 0) == ""


def test_chunk_text_overlaps(client):
    text = " ".join(f"w{i}" for i in range(60))
    chunks = client.chunk_text(text, chunk_tokens=20, overlap_tokens=4)
    assert len(chunks) > 2
    for chunk in chunks:
        assert client.estimate_tokens(chunk) <= 20
    for before, after in zip(chunks, chunks[1:]):
        assert before.split()[-4:] == after.split()[:4]  # "w12" is one token
    words = set(" ".join(chunks).split())
    assert words == set(text.split())


def test_chunk_text_rejects_bad_sizes(client):
    with pytest.raises(ValueError):
        client.chunk_text("x", 10, 10)
    with pytest.raises(ValueError):
        client.chunk_text("x", 0, 0)
    assert client.chunk_text("", 10, 2) == []


@pytest.mark.gen_test
async def test_process_long_text_maps_then_combines(client, fake_lmstudio):
    fake_lmstudio.default_answer = lambda body: "summary of " + json.dumps(len(
        body["messages"][-1]["content"]))
    text = " ".join(f"w{i}" for i in range(300))
    result = await client.process_long_text(text, "Summarise.", chunk_tokens=100)
    requests = completion_requests(fake_lmstudio)
    assert result["chunks"] == len(requests) - 1 >= 3
    # The map calls run concurrently, so they reach the server in any order; the combine
    # call waits for all of them and comes last.
    parts = requests[:-1]
    assert all(r["messages"][0] == {"role": "system", "content": "Summarise."} for r in parts)
    assert sorted(r["messages"][1]["content"].split(":")[0] for r in parts) == [
        "Part %d of %d" % (i, len(parts)) for i in range(1, len(parts) + 1)]
    assert "Combine" in requests[-1]["messages"][0]["content"]
    assert result["text"].startswith("summary of")


@pytest.mark.gen_test
async def test_process_short_text_is_one_call(client, fake_lmstudio):
    result = await client.process_long_text("tiny", "Summarise.")
    assert result == {"text": "You said: tiny", "chunks": 1}
