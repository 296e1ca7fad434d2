"""Structured plans against the fake LM Studio: the form of asking, kinds, where a plan came
from, and the checks of hand-written plans."""

import json

import pytest

from orchestra.services.lmstudio.structured import validate
from orchestra.services.orchestrator_plan import (MODEL_KINDS, PLAN_SCHEMA, PlanError,
                                                  dependency_order, model_task_type,
                                                  named_steps, parse_plan, plan_messages,
                                                  plan_problems, plan_schema)
from tests.services.task_script import ModelScript, is_plan, plan_json
from tests.services.test_orchestrator import create

TWO_STEPS = plan_json(("Haiku", "Write a haiku about autumn", [], "creative"),
                      ("French", "Translate the haiku into French", [1], "translate"))


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[TWO_STEPS])
    fake_lmstudio.default_answer = script
    return script


async def planned(orchestrator, **values):
    values.setdefault("title", "Write a haiku about autumn, then translate it into French")
    values.setdefault("description", "")
    task = await create(orchestrator, **values)
    await orchestrator.plan(task["id"])
    await orchestrator.wait(task["id"])
    return await orchestrator.stores.tasks.get(task["id"])


def formats(fake):
    """The response_format type of each planning request the server received (refused too)."""
    return [(body.get("response_format") or {}).get("type") for path, body in fake.requests
            if path.endswith("completions") and is_plan(body)]


@pytest.mark.gen_test
async def test_plan_is_asked_with_the_json_schema_and_stored_with_kinds(orchestrator, script):
    task = await planned(orchestrator)
    assert task["plan_source"] == "model" and task["note"] is None
    assert [(s["title"], s["kind"], s["depends_on"]) for s in task["subtasks"]] == [
        ("Haiku", "creative", []), ("French", "translate", [0])]
    asked = script.plan_requests[0]
    # The task names two steps: the schema asks for at least two subtasks. (It names no URL
    # and has no knowledge base: no tool suits it, see test_orchestrator_tools.py.)
    two = dict(PLAN_SCHEMA["properties"]["subtasks"], minItems=2)
    assert asked["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "plan", "strict": True, "schema": dict(PLAN_SCHEMA, properties={
            "subtasks": two})}}
    assert orchestrator.lmstudio.json_mode == "json_schema"


@pytest.mark.gen_test
async def test_server_without_structured_output_gets_the_prompt_and_repair(
        orchestrator, script, fake_lmstudio):
    fake_lmstudio.refuse_response_format("json_schema", "json_object", style="llama.cpp")
    script.plans = ["Here is the plan:\n```json\n" + TWO_STEPS[:-2] + "],}\n```"]
    task = await planned(orchestrator)
    assert task["plan_source"] == "model" and len(task["subtasks"]) == 2
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None]
    # the plan prompt shows the shape with worked examples; no JSON Schema for a small model
    # to copy from
    system = script.plan_requests[-1]["messages"][0]["content"]
    assert "JSON Schema" not in system and '{"subtasks": [...]}' in system
    await planned(orchestrator)  # the form is known now: one request
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None, None]


@pytest.mark.gen_test
async def test_json_object_is_used_where_json_schema_is_refused(orchestrator, script,
                                                                 fake_lmstudio):
    fake_lmstudio.refuse_response_format("json_schema", style="llama-cpp-python")
    task = await planned(orchestrator)
    assert task["plan_source"] == "model"
    assert formats(fake_lmstudio) == ["json_schema", "json_object"]
    schema = script.plan_requests[-1]["response_format"]["schema"]
    assert schema["properties"]["subtasks"]["minItems"] == 2


@pytest.mark.gen_test
async def test_unusable_plans_end_in_the_fallback(orchestrator, script):
    script.plans = ['{"subtasks": []}']
    task = await planned(orchestrator)
    assert task["plan_source"] == "fallback" and "no usable plan" in task["note"]
    assert [(s["title"], s["kind"]) for s in task["subtasks"]] == [
        ("Write a haiku about autumn, then translate it into French", "answer")]
    assert len(script.plan_requests) == orchestrator.plan_attempts


@pytest.mark.gen_test
async def test_hand_written_and_workflow_plans_are_manual(orchestrator, script):
    task = await orchestrator.create_task({"title": "Tea", "description": "", "subtasks": [
        {"title": "A", "kind": "summarize"}]})
    assert task["plan_source"] == "manual"
    plain = await orchestrator.create_task({"title": "Tea", "description": ""})
    assert plain["plan_source"] is None
    again = await orchestrator.stores.tasks.update(plain["id"], {"subtasks": [{"title": "B"}]})
    assert again["plan_source"] == "manual"
    workflow = await orchestrator.stores.workflows.create(
        {"name": "Two", "description": "", "steps": [{"name": "One", "prompt": "Say one"}]})
    run = await orchestrator.run_workflow(workflow["id"], {}, auto_run=False)
    assert run["plan_source"] == "manual" and run["subtasks"][0]["kind"] == "answer"


@pytest.mark.gen_test
async def test_each_kind_runs_on_the_model_recommended_for_it(orchestrator, fake_lmstudio):
    script = ModelScript(steps={"Code": "print(1)", "Sum": "Short."})
    fake_lmstudio.default_answer = script
    task = await orchestrator.create_task({"title": "Mixed", "description": "",
                                           "check_answers": False,
                                           "subtasks": [{"title": "Code", "kind": "code"},
                                                        {"title": "Sum", "kind": "summarize"}]})
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    rows = await orchestrator.stores.subtasks.of_task(task["id"])
    assert rows[0]["model"] == "qwen2.5-coder-7b-instruct"
    assert rows[1]["model"] != "qwen2.5-coder-7b-instruct"


# -- plans read and checked (pure) -------------------------------------------------------------

def test_kinds_map_to_task_types_and_the_prompt_explains_them():
    assert {k: model_task_type(k) for k in MODEL_KINDS} == {
        "answer": "chat", "summarize": "summarization", "translate": "chat",
        "extract": "chat", "code": "code", "creative": "chat"}
    messages = plan_messages({"title": "T"})  # without tools, "tool" is no kind to choose
    system = messages[0]["content"]
    assert "  tool: " not in system and '"tool"' not in system
    for kind in MODEL_KINDS:
        assert "  %s: " % kind in system
    assert "single subtask" in system and "one subtask for each step" in system
    # worked examples of one and two steps come as earlier turns, then the task
    examples = [json.loads(m["content"]) for m in messages if m["role"] == "assistant"]
    assert sorted(len(e["subtasks"]) for e in examples) == [1, 2, 2]
    for example in examples:
        parse_plan(example)
        validate(example, PLAN_SCHEMA)
    assert messages[-1] == {"role": "user", "content": "Task: T"}


def test_steps_named_in_the_wording_are_pointed_out():
    assert named_steps("Write a haiku about autumn, then translate it into French") == [
        "Write a haiku about autumn", "translate it into French"]
    assert named_steps("First outline the essay; then write it, and finally proofread it") == [
        "outline the essay", "write it", "proofread it"]
    assert named_steps("What is the capital of France?") == ["What is the capital of France?"]


def test_the_schema_asks_for_a_subtask_per_named_step_and_no_more():
    assert plan_schema({"title": "What is the capital of France?"}) is PLAN_SCHEMA
    three = plan_schema({"title": "First outline the essay; then write it, and finally "
                                  "proofread it"})
    assert three["properties"]["subtasks"]["minItems"] == 3
    assert PLAN_SCHEMA["properties"]["subtasks"]["minItems"] == 1   # not changed in place
    asked = plan_messages({"title": "Summarize it, then list three keywords",
                           "description": "Some text."})[-1]["content"]
    assert asked == ("Task: Summarize it, then list three keywords\n\nSome text.\n\n"
                     "The task names 2 steps:\n1. Summarize it\n2. list three keywords\n"
                     "Make one subtask for each.")


def test_model_plans_are_read_tolerantly_but_dependencies_must_point_back():
    plan = parse_plan({"subtasks": [
        {"id": "a", "title": "One", "instructions": "x", "kind": "Summarization"},
        {"id": "b", "title": "Two", "description": "y", "kind": "haiku", "depends_on": ["a"]},
        {"title": "Three", "kind": "dance", "dependsOn": "b"}]})
    assert [(p["kind"], p["depends_on"]) for p in plan] == [
        ("summarize", []), ("creative", [0]), ("answer", [1])]
    with pytest.raises(PlanError, match="Subtask 3 repeats subtask 1"):
        parse_plan({"subtasks": [{"title": "A", "instructions": "a"}, {"title": "B"},
                                 {"title": "A", "instructions": "a"}]})
    for items in ([{"id": 1, "title": "A", "dependsOn": [1]}],
                  [{"id": 1, "title": "A", "dependsOn": [2]}, {"id": 2, "title": "B"}]):
        with pytest.raises(PlanError, match="not an earlier subtask"):
            parse_plan({"subtasks": items})


def test_hand_written_plan_problems_are_named_per_subtask():
    assert plan_problems([{"depends_on": []}, {"depends_on": [0]}]) == {}
    assert plan_problems([{"depends_on": [1]}, {"depends_on": []}]) == {}  # forward is fine
    assert plan_problems([{"depends_on": [0]}]) == {0: ["A subtask cannot depend on itself."]}
    assert plan_problems([{"depends_on": [3]}]) == {
        0: ["No subtask at position 3; positions run from 0 to 0."]}
    cycle = plan_problems([{"depends_on": [2]}, {"depends_on": [0]}, {"depends_on": [1]},
                           {"depends_on": [0]}])
    assert sorted(cycle) == [0, 1, 2] and "cycle (0 \u2192 2 \u2192 1 \u2192 0)" in cycle[0][0]


def test_dependency_order_puts_dependencies_first_and_keeps_positions_otherwise():
    rows = [{"id": 10 + i, "position": i, "depends_on": d}
            for i, d in enumerate([[2], [], [1], []])]
    assert [r["position"] for r in dependency_order(rows)] == [1, 2, 0, 3]


@pytest.mark.gen_test
async def test_a_plan_short_of_the_named_steps_is_asked_again(orchestrator, script):
    one = plan_json(("Haiku", "Write a haiku about autumn", [], "creative"))
    script.plans = [one, TWO_STEPS]
    task = await planned(orchestrator)
    assert [s["title"] for s in task["subtasks"]] == ["Haiku", "French"]
    again = script.plan_requests[1]["messages"][-1]["content"]
    assert again.startswith("The task names 2 steps (1. Write a haiku about autumn; 2. "
                            "translate it into French), but the plan has 1 subtask.")
    script.plans, script.plan_requests = [one, "no plan", "no plan"], []
    task = await planned(orchestrator)  # the short plan is the model's best: it is kept
    assert task["plan_source"] == "model" and task["note"] is None
    assert [s["title"] for s in task["subtasks"]] == ["Haiku"]
    assert len(script.plan_requests) == orchestrator.plan_attempts
    script.plans, script.plan_requests = [one], []
    task = await planned(orchestrator, title="Write a haiku about autumn")
    assert len(task["subtasks"]) == 1 and len(script.plan_requests) == 1


@pytest.mark.gen_test
async def test_a_refused_re_ask_ends_the_tries_without_failing_the_task(orchestrator,
                                                                        fake_lmstudio):
    def unusable_and_too_long_to_ask_again(body):
        fake_lmstudio.fail_next(400, "This model's maximum context length is 2048 tokens.")
        return "no plan"

    fake_lmstudio.default_answer = unusable_and_too_long_to_ask_again
    task = await planned(orchestrator, title="Tea")
    assert task["plan_source"] == "fallback" and task["status"] == "pending"
    assert "after 1 try (" in task["note"] and "maximum context length" in task["note"]


@pytest.mark.gen_test
async def test_a_step_that_transforms_a_text_builds_on_the_step_before_it(orchestrator, script):
    # A small model's plan: the translation names no input, and the task gives no text.
    script.plans = [plan_json(("Haiku", "Write a haiku about autumn", [], "creative"),
                              ("French", "Translate the haiku into French", [], "translate"))]
    task = await planned(orchestrator)
    assert [s["depends_on"] for s in task["subtasks"]] == [[], [0]]
    # With a text of its own in the task, a translation may well mean that text.
    task = await planned(orchestrator, title="Write a haiku, then translate the text below",
                         description="Les feuilles tombent.")
    assert [s["depends_on"] for s in task["subtasks"]] == [[], []]
