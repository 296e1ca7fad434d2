"""Structured output over real HTTP against the fake: each form of asking, the detection that
is cached per server, repair and validation of the answer, and its errors."""

import json
import re

import pytest

from orchestra.services.lmstudio import (LMStudioError, LMStudioUnavailable,
                                         StructuredOutputError, UpstreamError)
from orchestra.services.lmstudio.structured import parse_structured, repair_json, validate
from orchestra.services.lmstudio.transport import error_message
from tests.services.lmstudio_helpers import (  # noqa: F401 - fixtures
    benchmarks,
    client,
    completion_requests,
    user,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["supported", "contradicted", "not_found"]},
        "quote": {"type": "string"},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["verdict", "quote"],
    "additionalProperties": False,
}
GOOD = {"verdict": "supported", "quote": "Paris is the capital."}


def formats(fake):
    return [(body.get("response_format") or {}).get("type")
            for body in completion_requests(fake)]


@pytest.mark.gen_test
async def test_lm_studio_takes_json_schema_and_the_form_is_cached(client, fake_lmstudio):
    fake_lmstudio.script_answer(json.dumps(GOOD))
    fake_lmstudio.script_answer(json.dumps(dict(GOOD, verdict="not_found")))
    assert await client.generate_json(user("Judge it."), SCHEMA, name="judgement") == GOOD
    body = completion_requests(fake_lmstudio)[0]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "judgement", "strict": True, "schema": SCHEMA}}
    assert body["messages"] == user("Judge it.")  # the schema travels in the request
    assert client.json_mode == client.last_json_mode == "json_schema"
    second = await client.generate_json(user("Again."), SCHEMA, name="judgement")
    assert second["verdict"] == "not_found"
    assert formats(fake_lmstudio) == ["json_schema", "json_schema"]


@pytest.mark.gen_test
@pytest.mark.parametrize("style", ["llama.cpp", "llama-cpp-python"])
async def test_refused_json_schema_falls_back_to_json_object_once(client, fake_lmstudio,
                                                                  style):
    fake_lmstudio.refuse_response_format("json_schema", style=style)
    fake_lmstudio.default_answer = json.dumps(GOOD)
    assert await client.generate_json(user("Judge it."), SCHEMA, name="judgement") == GOOD
    assert client.json_mode == "json_object"
    await client.generate_json(user("Again."), SCHEMA, name="judgement")
    assert formats(fake_lmstudio) == ["json_schema", "json_object", "json_object"]
    body = completion_requests(fake_lmstudio)[-1]
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    system = body["messages"][0]
    assert system["role"] == "system" and '"required":["verdict","quote"]' in system["content"]


@pytest.mark.gen_test
async def test_server_refusing_both_forms_gets_the_prompt_alone(client, fake_lmstudio):
    fake_lmstudio.refuse_response_format("json_schema", "json_object", style="llama.cpp")
    fake_lmstudio.default_answer = "Here you go:\n```json\n" + json.dumps(GOOD) + "\n```"
    messages = [{"role": "system", "content": "You judge claims."}] + user("Judge it.")
    assert await client.generate_json(messages, SCHEMA, name="judgement") == GOOD
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None]
    await client.generate_json(messages, SCHEMA, name="judgement")
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None, None]
    sent = completion_requests(fake_lmstudio)[-1]["messages"]
    assert sent[0]["content"].startswith("You judge claims.\n\nReply with one JSON object")
    assert client.json_mode == "prompt"
    await client.structured_completion(messages, SCHEMA, name="judgement",
                                       describe_schema=False)
    assert completion_requests(fake_lmstudio)[-1]["messages"] == messages


@pytest.mark.gen_test
async def test_lm_studio_refusing_json_object_is_detected(client, fake_lmstudio):
    # The fake refuses json_object with LM Studio's error by default; refusing json_schema
    # too leaves the prompt alone.
    fake_lmstudio.refuse_formats["json_schema"] = "llama.cpp"
    fake_lmstudio.default_answer = json.dumps(GOOD)
    await client.generate_json(user("Judge it."), SCHEMA, name="judgement")
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None]


@pytest.mark.gen_test
async def test_error_body_naming_response_format_in_a_200_counts_as_refusal(client,
                                                                              fake_lmstudio):
    fake_lmstudio.fail_next(200, "Unsupported response_format: json_schema")
    fake_lmstudio.refuse_formats = {}
    fake_lmstudio.default_answer = json.dumps(GOOD)
    assert await client.generate_json(user("Judge it."), SCHEMA, name="judgement") == GOOD
    assert client.json_mode == "json_object"


@pytest.mark.gen_test
async def test_other_errors_are_raised_and_nothing_is_cached(client, fake_lmstudio):
    fake_lmstudio.fail_next(400, "No models loaded. Please load a model.")
    with pytest.raises(UpstreamError):
        await client.generate_json(user("Judge it."), SCHEMA, name="judgement")
    assert client.json_mode is None and formats(fake_lmstudio) == ["json_schema"]


@pytest.mark.gen_test
async def test_a_network_failure_is_not_a_refusal(client, fake_lmstudio):
    fake_lmstudio.stop()
    with pytest.raises(LMStudioUnavailable):
        await client.generate_json(user("Judge it."), SCHEMA, name="judgement",
                                   model="qwen2.5-7b-instruct")
    assert client.json_mode is None


@pytest.mark.gen_test
async def test_transient_failures_are_tried_again_when_asked(client, fake_lmstudio):
    fake_lmstudio.fail_next(503, "Model is busy", path="/v1/chat/completions")
    fake_lmstudio.default_answer = json.dumps(GOOD)
    result = await client.structured_completion(user("Judge it."), SCHEMA, name="judgement",
                                                retries=1, backoff=0.01)
    assert result["attempts"] == 2 and result["json_mode"] == "json_schema"
    assert json.loads(result["text"]) == GOOD and result["usage"]["completion_tokens"] > 0


@pytest.mark.gen_test
async def test_an_answer_that_does_not_fit_raises_structured_output_error(client,
                                                                          fake_lmstudio):
    fake_lmstudio.script_answer('{"verdict": "maybe", "quote": "x"}')
    with pytest.raises(StructuredOutputError) as caught:
        await client.generate_json(user("Judge it."), SCHEMA, name="judgement")
    assert isinstance(caught.value, LMStudioError)
    assert str(caught.value) == ('The model gave no valid judgement JSON: $.verdict should be '
                                 'one of "supported", "contradicted", "not_found".')
    fake_lmstudio.script_answer("I think it is supported.")
    with pytest.raises(StructuredOutputError, match="holds no JSON object"):
        await client.generate_json(user("Judge it."), SCHEMA, name="judgement")


# -- repair and validation (pure) -------------------------------------------------------------

def test_repair_takes_json_out_of_prose_fences_and_trailing_commas():
    assert repair_json('{"a": 1}') == {"a": 1}
    assert repair_json('Sure!\n```json\n{"a": [1, 2,],}\n```\nDone.') == {"a": [1, 2]}
    assert repair_json('The answer is {"a": {"b": 1}} as asked.') == {"a": {"b": 1}}
    for broken, problem in (("no json", "holds no JSON"), ('{"a": 1', "not closed"),
                            ('{"a": nope}', "not valid JSON")):
        with pytest.raises(ValueError, match=problem):
            repair_json(broken)


def test_validation_names_the_place_and_drops_forbidden_extras():
    clean = validate(dict(GOOD, extra=1, score=0.5, tags=["a"]), SCHEMA)
    assert clean == dict(GOOD, score=0.5, tags=["a"])
    cases = [({"verdict": "supported"}, 'lacks the required key "quote"'),
             (dict(GOOD, score="high"), "$.score should be number"),
             (dict(GOOD, score=True), "$.score should be number"),
             (dict(GOOD, tags=["a", 2]), "$.tags[1] should be string"),
             (dict(GOOD, tags=["a"] * 4), "takes at most 3 items"),
             ([GOOD], "$ should be object")]
    for value, problem in cases:
        with pytest.raises(ValueError, match=re.escape(problem)):
            validate(value, SCHEMA)
    assert validate(3, {"type": "integer"}) == 3
    with pytest.raises(ValueError):
        validate(3.5, {"type": "integer"})
    with pytest.raises(StructuredOutputError, match="^The model gave no valid plan JSON"):
        parse_structured("[]", SCHEMA, "plan")


def test_error_messages_of_other_servers_are_read():
    vllm = {"object": "error", "message": "response_format json_schema is not supported",
            "type": "BadRequestError", "param": None, "code": 400}
    assert error_message(json.dumps(vllm)) == vllm["message"]
    fastapi = {"detail": [{"loc": ["body", "response_format", "type"],
                           "msg": "Input should be 'text' or 'json_object'"}]}
    assert error_message(json.dumps(fastapi)) == (
        "body.response_format.type: Input should be 'text' or 'json_object'")
