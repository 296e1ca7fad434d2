"""Structured plans against the fake LM Studio: the form of asking, kinds, where a plan came
from, and the checks of hand-written plans."""

import pytest

from orchestra.services.orchestrator_plan import (KINDS, PLAN_SCHEMA, PlanError,
                                                  dependency_order, model_task_type,
                                                  parse_plan, plan_messages, plan_problems)
from tests.services.task_script import ModelScript, is_plan, plan_json

TWO_STEPS = plan_json(("Haiku", "Write a haiku about autumn", [], "creative"),
                      ("French", "Translate the haiku into French", [1], "translate"))


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[TWO_STEPS])
    fake_lmstudio.default_answer = script
    return script


async def planned(orchestrator, **values):
    values.setdefault("title", "Write a haiku about autumn, then translate it into French")
    values.setdefault("check_answers", False)
    task = await orchestrator.create_task(values)
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
    assert asked["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "plan", "strict": True, "schema": PLAN_SCHEMA}}
    assert orchestrator.lmstudio.json_mode == "json_schema"


@pytest.mark.gen_test
async def test_server_without_structured_output_gets_the_prompt_and_repair(
        orchestrator, script, fake_lmstudio):
    fake_lmstudio.refuse_response_format("json_schema", "json_object", style="llama.cpp")
    script.plans = ["Here is the plan:\n```json\n" + TWO_STEPS[:-2] + "],}\n```"]
    task = await planned(orchestrator)
    assert task["plan_source"] == "model" and len(task["subtasks"]) == 2
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None]
    assert "JSON Schema" in script.plan_requests[-1]["messages"][0]["content"]
    await planned(orchestrator)  # the form is known now: one request
    assert formats(fake_lmstudio) == ["json_schema", "json_object", None, None]


@pytest.mark.gen_test
async def test_json_object_is_used_where_json_schema_is_refused(orchestrator, script,
                                                                 fake_lmstudio):
    fake_lmstudio.refuse_response_format("json_schema", style="llama-cpp-python")
    task = await planned(orchestrator)
    assert task["plan_source"] == "model"
    assert formats(fake_lmstudio) == ["json_schema", "json_object"]
    assert script.plan_requests[-1]["response_format"]["schema"] == PLAN_SCHEMA


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
    task = await orchestrator.create_task({"title": "Tea", "subtasks": [
        {"title": "A", "kind": "summarize"}]})
    assert task["plan_source"] == "manual"
    plain = await orchestrator.create_task({"title": "Tea"})
    assert plain["plan_source"] is None
    again = await orchestrator.stores.tasks.update(plain["id"], {"subtasks": [{"title": "B"}]})
    assert again["plan_source"] == "manual"
    workflow = await orchestrator.stores.workflows.create(
        {"name": "Two", "steps": [{"name": "One", "prompt": "Say one"}]})
    run = await orchestrator.run_workflow(workflow["id"], {}, auto_run=False)
    assert run["plan_source"] == "manual" and run["subtasks"][0]["kind"] == "answer"


@pytest.mark.gen_test
async def test_each_kind_runs_on_the_model_recommended_for_it(orchestrator, fake_lmstudio):
    script = ModelScript(steps={"Code": "print(1)", "Sum": "Short."})
    fake_lmstudio.default_answer = script
    task = await orchestrator.create_task({"title": "Mixed", "check_answers": False,
                                           "subtasks": [{"title": "Code", "kind": "code"},
                                                        {"title": "Sum", "kind": "summarize"}]})
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    rows = await orchestrator.stores.subtasks.of_task(task["id"])
    assert rows[0]["model"] == "qwen2.5-coder-7b-instruct"
    assert rows[1]["model"] != "qwen2.5-coder-7b-instruct"


# -- plans read and checked (pure) -------------------------------------------------------------

def test_kinds_map_to_task_types_and_the_prompt_explains_them():
    assert {k: model_task_type(k) for k in KINDS} == {
        "answer": "chat", "summarize": "summarization", "translate": "chat",
        "extract": "chat", "code": "code", "creative": "chat"}
    system = plan_messages({"title": "T"})[0]["content"]
    for kind in KINDS:
        assert "  %s: " % kind in system
    assert "single subtask" in system and "one subtask for each step" in system


def test_model_plans_are_read_tolerantly_but_dependencies_must_point_back():
    plan = parse_plan({"subtasks": [
        {"id": "a", "title": "One", "instructions": "x", "kind": "Summarization"},
        {"id": "b", "title": "Two", "description": "y", "kind": "haiku", "depends_on": ["a"]},
        {"title": "Three", "kind": "dance", "dependsOn": "b"}]})
    assert [(p["kind"], p["depends_on"]) for p in plan] == [
        ("summarize", []), ("creative", [0]), ("answer", [1])]
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
