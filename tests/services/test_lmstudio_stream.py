"""Streamed completions against the fake LM Studio: frames, early endings, faults."""

import asyncio

import pytest

from orchestra.services.lmstudio import (
    LMStudioClient,
    LMStudioUnavailable,
    ModelNotFound,
    UpstreamError,
)
from tests.fakes.lmstudio import unused_url
from tests.services.lmstudio_helpers import (  # noqa: F401 - fixtures
    benchmarks,
    chunks_until_error,
    client,
    completion_requests,
    until,
    user,
)

LONG = " ".join(f"w{i}" for i in range(200))


@pytest.mark.gen_test
async def test_stream_yields_chunks_as_they_arrive(client, fake_lmstudio):
    fake_lmstudio.script_answer("Hello there, friend.")
    stream = client.stream_completion(user("hi"), temperature=0)
    chunks = [chunk async for chunk in stream]
    assert chunks == ["Hello", " there,", " friend."]
    assert stream.text == "Hello there, friend."
    assert stream.finish_reason == "stop"
    assert stream.model == "qwen2.5-7b-instruct"
    assert stream.usage == {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
    assert stream.ttft_ms is not None and stream.ttft_ms >= 0
    (body,) = completion_requests(fake_lmstudio)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0


@pytest.mark.gen_test
async def test_stream_aliases(client, fake_lmstudio):
    for method in (client.generate_streaming_completion, client.generate_completion_stream):
        fake_lmstudio.script_answer("ok")
        assert [c async for c in method(user("hi"))] == ["ok"]


@pytest.mark.gen_test
async def test_stream_from_prompt(client, fake_lmstudio):
    fake_lmstudio.script_answer("a b")
    stream = client.stream_completion(prompt="x")
    assert [c async for c in stream] == ["a", " b"]
    assert fake_lmstudio.paths()[-1] == "/v1/completions"


@pytest.mark.gen_test
async def test_stream_reasoning_is_not_text(client, fake_lmstudio):
    fake_lmstudio.script_answer("Yes.", reasoning="Let me see")
    stream = client.stream_completion(user("?"))
    assert [c async for c in stream] == ["Yes."]
    assert stream.reasoning == "Let me see"


@pytest.mark.gen_test
async def test_stream_finish_reason_length(client, fake_lmstudio):
    fake_lmstudio.script_answer("a b c d")
    stream = client.stream_completion(user("?"), max_tokens=2)
    assert [c async for c in stream] == ["a", " b"]
    assert stream.finish_reason == "length"


@pytest.mark.gen_test
async def test_slow_first_token_still_arrives(client, fake_lmstudio):
    fake_lmstudio.script_answer("late", delay_first=0.2)
    stream = client.stream_completion(user("?"))
    assert [c async for c in stream] == ["late"]
    assert stream.ttft_ms >= 150


@pytest.mark.gen_test
async def test_aclose_ends_the_upstream_request(client, fake_lmstudio):
    fake_lmstudio.script_answer(LONG, chunk_delay=0.02)
    stream = client.stream_completion(user("go"))
    assert await stream.__anext__() == "w0"
    await stream.aclose()
    await until(lambda: fake_lmstudio.cancelled == 1)
    assert fake_lmstudio.completed == 0
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert stream.text.startswith("w0")


@pytest.mark.gen_test
async def test_leaving_async_with_ends_the_upstream_request(client, fake_lmstudio):
    fake_lmstudio.script_answer(LONG, chunk_delay=0.02)
    async with client.stream_completion(user("go")) as stream:
        async for chunk in stream:
            if chunk == " w2":
                break
    await until(lambda: fake_lmstudio.cancelled == 1)
    assert fake_lmstudio.completed == 0


@pytest.mark.gen_test
async def test_breaking_out_of_async_for_ends_the_upstream_request(client, fake_lmstudio):
    fake_lmstudio.script_answer(LONG, chunk_delay=0.02)
    async for chunk in client.stream_completion(user("go")):
        break
    await until(lambda: fake_lmstudio.cancelled == 1)


@pytest.mark.gen_test
async def test_cancelling_the_consumer_ends_the_upstream_request(client, fake_lmstudio):
    fake_lmstudio.script_answer(LONG, chunk_delay=0.02)
    seen = []

    async def consume():
        async for chunk in client.stream_completion(user("go")):
            seen.append(chunk)

    task = asyncio.ensure_future(consume())
    await until(lambda: len(seen) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: fake_lmstudio.cancelled == 1)


@pytest.mark.gen_test
async def test_closing_before_the_first_token(client, fake_lmstudio):
    fake_lmstudio.slow_first_token(30)
    stream = client.stream_completion(user("go"))
    await stream.__aenter__()
    await until(lambda: completion_requests(fake_lmstudio))
    await stream.aclose()
    await until(lambda: fake_lmstudio.cancelled == 1)


@pytest.mark.gen_test
async def test_disconnect_mid_stream_keeps_what_arrived(client, fake_lmstudio):
    fake_lmstudio.script_answer("one two three four five")
    fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    stream = client.stream_completion(user("go"))
    chunks, error = await chunks_until_error(stream, (UpstreamError, LMStudioUnavailable))
    assert chunks == ["one", " two"]
    assert stream.text == "one two"
    assert error.transient
    assert stream.finish_reason is None


@pytest.mark.gen_test
async def test_malformed_frame(client, fake_lmstudio):
    fake_lmstudio.script_answer("one two three")
    fake_lmstudio.malformed_frame(after_chunks=1)
    stream = client.stream_completion(user("go"))
    chunks, error = await chunks_until_error(stream, UpstreamError)
    assert chunks == ["one"]
    assert "malformed" in error.server_message
    assert stream.text == "one"


@pytest.mark.gen_test
async def test_stream_server_error(client, fake_lmstudio):
    fake_lmstudio.fail_next(503, "Busy loading")
    with pytest.raises(UpstreamError) as caught:
        async for _ in client.stream_completion(user("go")):
            pass
    assert (caught.value.status, caught.value.server_message) == (503, "Busy loading")


@pytest.mark.gen_test
async def test_stream_error_inside_a_200_answer(client, fake_lmstudio):
    fake_lmstudio.fail_next(200, "Unexpected endpoint or method. (POST /chat/completions)")
    with pytest.raises(UpstreamError) as caught:
        async for _ in client.stream_completion(user("go")):
            pass
    assert caught.value.status == 200


@pytest.mark.gen_test
async def test_stream_connection_refused():
    client = LMStudioClient(unused_url())
    with pytest.raises(LMStudioUnavailable):
        async for _ in client.stream_completion(user("go"), model="m"):
            pass


@pytest.mark.gen_test
async def test_stream_unknown_model(client, fake_lmstudio):
    with pytest.raises(ModelNotFound):
        async for _ in client.stream_completion(user("go"), model="nope"):
            pass
    assert completion_requests(fake_lmstudio) == []


@pytest.mark.gen_test
async def test_stream_timeout_while_waiting(fake_lmstudio):
    from orchestra.services.lmstudio import LMStudioTimeout

    client = LMStudioClient(fake_lmstudio.url, request_timeout=0.3)
    fake_lmstudio.slow_first_token(5)
    with pytest.raises(LMStudioTimeout):
        async for _ in client.stream_completion(user("go")):
            pass
    await client.close()


def test_sse_parser_handles_split_and_crlf_frames():
    from orchestra.services.lmstudio.stream import _SSEReader

    reader = _SSEReader()
    reader.started_at = 0.0
    reader.on_header("HTTP/1.1 200 OK\r\n")
    reader.on_header("Content-Type: text/event-stream\r\n")
    data = (b'data: {"model":"m","choices":[{"delta":{"content":"he"}}]}\r\n\r\n'
            b': keep-alive comment\n\n'
            b'data: {"choices":[{"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n'
            b"data: [DONE]\n\n")
    for i in range(0, len(data), 7):  # the network splits frames anywhere
        reader.on_data(data[i:i + 7])
    assert list(reader.queue) == ["he", "llo"]
    assert (reader.model, reader.finish_reason, reader.saw_done) == ("m", "stop", True)


@pytest.mark.gen_test(timeout=30)
async def test_many_streams_at_once_each_get_a_connection(fake_lmstudio, io_loop):
    # Each stream holds its connection to the end; a stream waiting for one longer than the
    # connect timeout used to fail as a timeout (the 65th chat answered at once).
    client = LMStudioClient(fake_lmstudio.url, connect_timeout=0.3)
    try:
        fake_lmstudio.default_answer = "a b c d e"
        fake_lmstudio.chunk_delay = 0.1  # each answer lasts 0.5 s, longer than the timeout
        await client.list_models()

        async def answer():
            return [chunk async for chunk in client.stream_completion(user("hi"))]

        answers = await asyncio.gather(*(answer() for _ in range(80)))
    finally:
        await client.close()
    assert answers == [["a", " b", " c", " d", " e"]] * 80
    assert fake_lmstudio.completed == 80
