"""The client's errors against the fake server: each names the server it is about, a prompt too
long for the context reads the server's own numbers in every server's wire format, and a
stream that breaks off is an error worth retrying."""

import pytest

from orchestra.services.lmstudio import (
    ContextTooLong,
    LMStudioClient,
    LMStudioTimeout,
    LMStudioUnavailable,
    ModelNotFound,
    StreamBroken,
    UpstreamError,
)
from orchestra.services.lmstudio.errors import context_overflow
from tests.fakes.lmstudio import unused_url
from tests.services.lmstudio_helpers import (  # noqa: F401 - fixtures
    benchmarks,
    chunks_until_error,
    client,
    user,
)

PROMPT = "one two three four five six seven eight nine ten"
STYLES = ["lmstudio", "lmstudio-0.3", "llama.cpp", "llama.cpp-sse", "llama-cpp-python",
          "vllm", "vllm-0.5"]


def act_as(fake, style):
    """LM Studio's styles keep its native API; the others are servers without it."""
    fake.lmstudio = style.startswith("lmstudio")
    return "LM Studio at %s" % fake.url if fake.lmstudio else "the model server at %s" % fake.url


async def consume(stream):
    return [chunk async for chunk in stream]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.gen_test
async def test_a_streamed_prompt_too_long_carries_the_servers_numbers(client, fake_lmstudio,
                                                                     style):
    server = act_as(fake_lmstudio, style)
    fake_lmstudio.limit_context(4, style)
    with pytest.raises(ContextTooLong) as caught:
        await consume(client.stream_completion(user(PROMPT)))
    prompt, context = fake_lmstudio.last_overflow
    assert (prompt, context) == (10, 4)
    error = caught.value
    assert (error.prompt_tokens, error.context_length) == (prompt, context)
    assert error.code == "context_too_long" and not error.transient
    assert error.details() == {"retryable": False, "promptTokens": 10, "contextLength": 4}
    assert error.message == (
        "The prompt has 10 tokens but the model's context on %s holds 4; shorten the "
        "conversation or load the model with a longer context." % server)
    assert "HTTP 200" not in error.message and "connection closed" not in error.message


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.gen_test
async def test_a_whole_answer_prompt_too_long_carries_the_servers_numbers(client, fake_lmstudio,
                                                                         style):
    act_as(fake_lmstudio, style)
    fake_lmstudio.limit_context(8, style)
    with pytest.raises(ContextTooLong) as caught:
        await client.generate_completion(user(PROMPT), max_tokens=100)
    assert (caught.value.prompt_tokens, caught.value.context_length) == (10, 8)
    assert caught.value.status in (200, 400)


@pytest.mark.gen_test
async def test_a_text_completion_too_long_is_read_too(client, fake_lmstudio):
    fake_lmstudio.limit_context(3, "llama-cpp-python")
    with pytest.raises(ContextTooLong) as caught:
        await client.generate_completion(prompt="a b c d e", model="qwen2.5-7b-instruct",
                                         max_tokens=20)
    assert (caught.value.prompt_tokens, caught.value.context_length) == (5, 3)


@pytest.mark.gen_test
async def test_an_overflow_without_numbers_is_still_context_too_long(client, fake_lmstudio):
    # llama.cpp builds before the numbers were added
    fake_lmstudio.fail_next(400, "the request exceeds the available context size, try "
                                 "increasing it")
    with pytest.raises(ContextTooLong) as caught:
        await client.generate_completion(user("hi"))
    assert (caught.value.prompt_tokens, caught.value.context_length) == (None, None)
    assert caught.value.details() == {"retryable": False, "promptTokens": None,
                                      "contextLength": None}
    assert "exceeds the available context size" in caught.value.message


@pytest.mark.parametrize("message,numbers", [
    ("Requested tokens (9437) exceed context window of 8192", (9437, 8192)),
    ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
     "in the messages, Please reduce the length of the messages.", (9000, 8192)),
    ("'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's maximum "
     "context length is 8192 tokens and your request has 5000 input tokens (4096 > 8192 - "
     "5000).", (5000, 8192)),
    ("Trying to keep the first 6547 tokens when context overflows. However, the model is "
     "loaded with a context length of only 4096 tokens, which is not enough.", (6547, 4096)),
    ("Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)", (15028, 7424)),
    ("Model crashed", None),
    ("Out of memory while loading the context", None),
])
def test_other_wordings_of_the_overflow(message, numbers):
    assert context_overflow(message) == numbers


@pytest.mark.gen_test
async def test_errors_name_lmstudio_once_its_native_api_answered(client, fake_lmstudio):
    await client.list_models()
    fake_lmstudio.fail_next(500, "Model crashed")
    with pytest.raises(UpstreamError) as caught:
        await client.generate_completion(user("hi"))
    assert caught.value.message == ("LM Studio at %s answered with an error (HTTP 500): "
                                    "Model crashed." % fake_lmstudio.url)
    fake_lmstudio.stop()
    with pytest.raises(LMStudioUnavailable) as caught:
        await client.generate_completion(user("hi"))
    assert caught.value.message == (
        "LM Studio at %s is not reachable; start LM Studio's local server (Developer tab, "
        "Start Server) or check the URL." % fake_lmstudio.url)


@pytest.mark.gen_test
async def test_errors_of_another_server_never_say_lmstudio(client, fake_lmstudio):
    fake_lmstudio.lmstudio = False  # an OpenAI-compatible server: /api/v0 answers 404
    models = await client.list_models()
    assert client.is_lmstudio is False and models
    failures = []
    fake_lmstudio.fail_next(500, "Model crashed")
    with pytest.raises(UpstreamError) as caught:
        await client.generate_completion(user("hi"))
    failures.append(caught.value)
    with pytest.raises(ModelNotFound) as caught:
        await client.generate_completion(user("hi"), model="nope")
    failures.append(caught.value)
    fake_lmstudio.disconnect_mid_stream(after_chunks=1)
    fake_lmstudio.script_answer("one two three")
    with pytest.raises(StreamBroken) as caught:
        await consume(client.stream_completion(user("hi")))
    failures.append(caught.value)
    fake_lmstudio.stop()
    with pytest.raises(LMStudioUnavailable) as caught:
        await client.generate_completion(user("hi"))
    failures.append(caught.value)
    assert [e.message for e in failures] == [
        "The model server at %s answered with an error (HTTP 500): Model crashed."
        % fake_lmstudio.url,
        "Model 'nope' is not available on the model server at %s." % fake_lmstudio.url,
        "The answer from the model server at %s broke off: the connection closed before the "
        "answer was complete." % fake_lmstudio.url,
        "The model server at %s is not reachable; start it or check the URL."
        % fake_lmstudio.url,
    ]
    assert not any("LM Studio" in e.message for e in failures)


@pytest.mark.gen_test
async def test_a_server_that_does_not_answer_is_named_by_its_url(fake_lmstudio):
    url = unused_url()
    client = LMStudioClient(url)
    with pytest.raises(LMStudioUnavailable) as caught:
        await client.list_models()
    assert caught.value.message.startswith("The model server at %s is not reachable" % url)
    fake_lmstudio.lmstudio = False
    slow = LMStudioClient(fake_lmstudio.url, request_timeout=0.2)
    fake_lmstudio.slow_first_token(5)
    with pytest.raises(LMStudioTimeout) as caught:
        await slow.generate_completion(user("hi"), model="qwen2.5-7b-instruct")
    assert caught.value.message == ("The model server at %s did not answer within 0.2 "
                                    "seconds." % fake_lmstudio.url)
    await client.close()
    await slow.close()


@pytest.mark.parametrize("fault", ["disconnect", "malformed"])
@pytest.mark.gen_test
async def test_a_stream_that_breaks_off_can_be_retried(client, fake_lmstudio, fault):
    fake_lmstudio.script_answer("one two three four")
    if fault == "disconnect":
        fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    else:
        fake_lmstudio.malformed_frame(after_chunks=2)
    stream = client.stream_completion(user("count"))
    chunks, error = await chunks_until_error(stream, StreamBroken)
    assert chunks == ["one", " two"] and stream.text == "one two"
    assert error.code == "stream_broken" and error.transient
    assert error.details() == {"retryable": True}
    assert error.message.startswith("The answer from LM Studio at %s broke off: "
                                    % fake_lmstudio.url)
    assert "HTTP" not in error.message
    # and asking again works
    assert "".join(await consume(client.stream_completion(user("again")))) == "You said: again"


@pytest.mark.gen_test
async def test_a_stream_that_ends_before_any_event_asks_the_server_why(client, fake_lmstudio):
    # llama-cpp-python's server ends the stream of a prompt too long with no event at all;
    # the same request asked whole, for one token, gets its error with the numbers.
    fake_lmstudio.lmstudio = False
    fake_lmstudio.limit_context(4, "llama-cpp-python")
    with pytest.raises(ContextTooLong) as caught:
        await consume(client.stream_completion(user(PROMPT), max_tokens=50))
    assert (caught.value.prompt_tokens, caught.value.context_length) == (10, 4)
    streamed, whole = [body for path, body in fake_lmstudio.requests
                       if path == "/v1/chat/completions"]
    assert streamed["stream"] is True and streamed["max_tokens"] == 50
    assert whole["stream"] is False and whole["max_tokens"] == 1
    assert "stream_options" not in whole and whole["messages"] == streamed["messages"]


@pytest.mark.gen_test
async def test_a_stream_that_ends_before_any_event_for_no_reason_is_broken(client,
                                                                          fake_lmstudio):
    fake_lmstudio.disconnect_mid_stream(after_chunks=0)
    with pytest.raises(StreamBroken) as caught:
        await consume(client.stream_completion(user("hi")))
    assert caught.value.details() == {"retryable": True}
    asked = [body["stream"] for path, body in fake_lmstudio.requests
             if path == "/v1/chat/completions"]
    assert asked == [True, False]  # the whole answer came: nothing to explain the stream
