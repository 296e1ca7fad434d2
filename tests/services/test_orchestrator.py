"""The orchestrator against the fake LM Studio: planning, running, checks, failures, restarts."""

import asyncio

import pytest

from orchestra.app import close_app, make_app
from orchestra.services.orchestrator import OrchestratorError
from orchestra.services.orchestrator_prompts import WorkflowInputError
from tests.services.task_script import ModelScript, is_sample, plan_json


class Events:
    """Every task:update the hub carries, as (task_id, event, task status, subtask status)."""

    def __init__(self, hub):
        self.items = []
        self.waiters = []
        hub.subscribe("task:update", self.record)

    def record(self, task_id, event, task=None, subtask=None):
        self.items.append((task_id, event, task["status"],
                           subtask["status"] if subtask else None, subtask))
        for predicate, future in list(self.waiters):
            if predicate(task_id, event, subtask) and not future.done():
                future.set_result(subtask)

    def names(self, task_id=None):
        return [e[1] for e in self.items if task_id is None or e[0] == task_id]

    def wait_for(self, event, task_id=None):
        for item in self.items:
            if item[1] == event and task_id in (None, item[0]):
                return asyncio.sleep(0, item[4])
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((lambda t, e, s: e == event and task_id in (None, t), future))
        return future


@pytest.fixture
def events(app):
    return Events(app.settings["hub"])


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript()
    fake_lmstudio.default_answer = script
    return script


async def create(orchestrator, **values):
    values.setdefault("title", "Write about tea")
    values.setdefault("description", "A short text about green tea.")
    values.setdefault("check_answers", False)
    return await orchestrator.create_task(values)


async def finish(orchestrator, task_id, start):
    await start(task_id)
    await orchestrator.wait(task_id)
    return await orchestrator.stores.tasks.get(task_id)


# -- planning -----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_valid_plan_is_stored_with_dependencies(orchestrator, script, events):
    script.plans = [plan_json(("Research", "Find facts"), ("Write", "Write it", [1]))]
    task = await create(orchestrator)
    await finish(orchestrator, task["id"], orchestrator.plan)
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "pending" and task["note"] is None
    assert [(s["title"], s["depends_on"], s["status"]) for s in task["subtasks"]] == [
        ("Research", [], "pending"), ("Write", [0], "pending")]
    assert events.names(task["id"]) == ["created", "planning", "planned"]
    assert len(script.plan_requests) == 1


@pytest.mark.gen_test
async def test_plan_in_prose_and_fences_is_repaired_without_asking_again(orchestrator, script):
    script.plans = ['Sure! Here is the plan:\n```json\n{"subtasks": [{"id": 1, "title": "Only",'
                    ' "instructions": "Do it", "depends_on": [],},]}\n```\nGood luck.']
    task = await create(orchestrator)
    task = await finish(orchestrator, task["id"], orchestrator.plan)
    assert [s["title"] for s in task["subtasks"]] == ["Only"]
    assert len(script.plan_requests) == 1


@pytest.mark.gen_test
async def test_invalid_plan_is_asked_again_with_the_problem(orchestrator, script):
    script.plans = ["First, research. Then write.", plan_json(("A", "a"), ("B", "b", [1]))]
    task = await create(orchestrator)
    task = await finish(orchestrator, task["id"], orchestrator.plan)
    assert [s["title"] for s in task["subtasks"]] == ["A", "B"]
    second = script.plan_requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "First, research. Then write."}
    assert "cannot be used" in second[-1]["content"] and "JSON" in second[-1]["content"]


@pytest.mark.gen_test
async def test_no_valid_plan_runs_the_task_as_one_subtask_and_says_why(orchestrator, script,
                                                                       events):
    script.plans = ['{"steps": "none"}']
    task = await create(orchestrator)
    task = await finish(orchestrator, task["id"], orchestrator.plan)
    assert len(script.plan_requests) == orchestrator.plan_attempts
    assert [s["title"] for s in task["subtasks"]] == ["Write about tea"]
    assert "no usable plan" in task["note"] and '"subtasks"' in task["note"]
    assert events.names(task["id"])[-1] == "plan_failed"


@pytest.mark.gen_test
async def test_planning_with_lmstudio_down_fails_the_task_with_its_sentence(
        orchestrator, fake_lmstudio):
    fake_lmstudio.stop()
    task = await create(orchestrator, model="qwen2.5-7b-instruct")
    task = await finish(orchestrator, task["id"], orchestrator.plan)
    assert task["status"] == "failed"
    assert task["error"].startswith("Planning failed: The model server at http://")


# -- running ------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_run_follows_dependencies_and_passes_results_on(orchestrator, script, events):
    script.steps = {"Summarise": "Tea is calming.", "Collect": "Green tea has L-theanine."}
    task = await create(orchestrator, subtasks=[
        {"title": "Summarise", "description": "Sum up the facts", "depends_on": [1]},
        {"title": "Collect", "description": "Collect facts"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    assert script.titles() == ["Collect", "Summarise"]
    summarise = script.step_requests[1][1]["messages"][-1]["content"]
    assert "## Collect\nGreen tea has L-theanine." in summarise
    assert task["status"] == "completed" and task["completed_at"] is not None
    assert task["result"] == "Tea is calming."  # what nothing else builds on
    assert task["completion_tokens"] > 0 and task["duration_ms"] is not None
    assert all(s["status"] == "completed" and s["model"] for s in task["subtasks"])
    assert events.names(task["id"]) == [
        "created", "running", "subtask_started", "subtask_completed", "subtask_started",
        "subtask_completed", "completed"]


@pytest.mark.gen_test
async def test_unplanned_task_is_planned_then_run(orchestrator, script, events):
    script.plans = [plan_json(("One", "first"), ("Two", "second", [1]))]
    script.steps = {"One": "1", "Two": "2"}
    task = await create(orchestrator, auto_run=True)
    assert task["status"] == "planning"
    task = await finish(orchestrator, task["id"], orchestrator.wait)
    assert task["status"] == "completed" and script.titles() == ["One", "Two"]
    assert events.names(task["id"])[:4] == ["created", "planning", "planned", "running"]


@pytest.mark.gen_test
async def test_active_instructions_go_to_every_step(orchestrator, script):
    await orchestrator.stores.instructions.create({"name": "Tone", "content": "Be brief.",
                                                   "active": True})
    task = await create(orchestrator, subtasks=[{"title": "Only", "description": "x"}])
    script.steps = {"Only": "ok"}
    await finish(orchestrator, task["id"], orchestrator.run)
    system = script.step_requests[0][1]["messages"][0]
    assert system["role"] == "system" and "Be brief." in system["content"]


@pytest.mark.gen_test
async def test_transient_failures_are_retried(orchestrator, script, fake_lmstudio):
    task = await create(orchestrator, model="qwen2.5-7b-instruct",
                        subtasks=[{"title": "Only", "description": "x"}])
    fake_lmstudio.fail_next(503, "Model is busy", times=2, path="/v1/chat/completions")
    task = await finish(orchestrator, task["id"], orchestrator.run)
    assert task["status"] == "completed"
    assert task["subtasks"][0]["attempts"] == 3


@pytest.mark.gen_test
async def test_a_subtask_that_keeps_failing_fails_its_task_and_can_be_retried(
        orchestrator, script, fake_lmstudio, events):
    script.steps = {"First": "one", "Second": "two"}
    task = await create(orchestrator, model="qwen2.5-7b-instruct", subtasks=[
        {"title": "First", "description": "x"},
        {"title": "Second", "description": "y", "depends_on": [0]}])
    fake_lmstudio.fail_next(500, "Out of memory", times=3, path="/v1/chat/completions")
    task = await finish(orchestrator, task["id"], orchestrator.run)
    first, second = task["subtasks"]
    assert task["status"] == "failed"
    assert task["error"] == ("Subtask 1 (First) failed: LM Studio at %s answered with an error "
                             "(HTTP 500): Out of memory." % fake_lmstudio.url)
    assert first["status"] == "failed" and first["attempts"] == 3
    assert second["status"] == "pending"
    assert events.names(task["id"])[-2:] == ["subtask_failed", "failed"]

    with pytest.raises(OrchestratorError) as refused:
        await orchestrator.retry_subtask(second["id"])
    assert refused.value.http_status == 409
    await orchestrator.retry_subtask(first["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "completed" and task["error"] is None
    assert [s["result"] for s in task["subtasks"]] == ["one", "two"]


@pytest.mark.gen_test
async def test_a_task_is_free_again_when_its_end_is_announced(orchestrator, script, app,
                                                              fake_lmstudio, events):
    """Whoever reacts to failed/completed/cancelled (a retry button) must not hear 'busy'."""
    ends = ("failed", "completed", "cancelled", "planned")
    busy_at_end = []

    def record(task_id, event, task=None, subtask=None):
        if event in ends:
            busy_at_end.append((event, orchestrator.is_busy(task_id)))

    app.settings["hub"].subscribe("task:update", record)
    script.steps = {"Only": "done"}
    task = await create(orchestrator, model="qwen2.5-7b-instruct",
                        subtasks=[{"title": "Only", "description": "x"}])
    fake_lmstudio.fail_next(400, "Bad request", path="/v1/chat/completions")
    await finish(orchestrator, task["id"], orchestrator.run)
    await finish(orchestrator, task["id"], orchestrator.run)
    await finish(orchestrator, (await create(orchestrator))["id"], orchestrator.plan)
    slow = await create(orchestrator, model="qwen2.5-7b-instruct",
                        subtasks=[{"title": "Slow", "description": "x"}])
    fake_lmstudio.script_answer("slow", delay_first=60)
    await orchestrator.run(slow["id"])
    await events.wait_for("subtask_started", slow["id"])
    await orchestrator.cancel(slow["id"])
    assert busy_at_end == [("failed", False), ("completed", False), ("planned", False),
                           ("cancelled", False)]


@pytest.mark.gen_test
async def test_non_transient_error_fails_at_once_with_the_servers_words(orchestrator, script,
                                                                        fake_lmstudio):
    task = await create(orchestrator, model="no-such-model",
                        subtasks=[{"title": "Only", "description": "x"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    assert task["status"] == "failed"
    assert "Model 'no-such-model' is not available" in task["subtasks"][0]["error"]
    assert script.step_requests == []


@pytest.mark.gen_test
async def test_cancel_mid_subtask_stops_the_request(orchestrator, script, fake_lmstudio, events):
    task = await create(orchestrator, model="qwen2.5-7b-instruct", subtasks=[
        {"title": "Slow", "description": "x"},
        {"title": "Never", "description": "y", "depends_on": [0]}])
    fake_lmstudio.script_answer("This takes forever", delay_first=60)
    await orchestrator.run(task["id"])
    await events.wait_for("subtask_started", task["id"])
    while not fake_lmstudio.requests or fake_lmstudio.paths()[-1] != "/v1/chat/completions":
        await asyncio.sleep(0.01)  # until the request has reached the server
    task = await orchestrator.cancel(task["id"])
    assert task["status"] == "cancelled" and task["completed_at"] is not None
    assert [s["status"] for s in task["subtasks"]] == ["skipped", "skipped"]
    assert events.names(task["id"])[-1] == "cancelled"
    while fake_lmstudio.cancelled == 0:
        await asyncio.sleep(0.01)  # the server notices the closed connection
    assert fake_lmstudio.completed == 0
    with pytest.raises(OrchestratorError):
        await orchestrator.cancel(task["id"])


@pytest.mark.gen_test
async def test_cancel_of_a_task_that_is_not_running(orchestrator):
    task = await create(orchestrator, subtasks=[{"title": "A", "description": "x"}])
    task = await orchestrator.cancel(task["id"])
    assert task["status"] == "cancelled" and task["subtasks"][0]["status"] == "skipped"


# -- restarts -----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_task_left_running_is_interrupted_at_start_and_resumes(
        app, config, orchestrator, script):
    stores = orchestrator.stores
    task = await stores.tasks.create({"title": "Long job", "description": "", "status": "running",
                                      "subtasks": [
        {"title": "Done", "description": "a", "status": "completed", "result": "kept"},
        {"title": "Midway", "description": "b", "status": "running"},
        {"title": "Later", "description": "c"}]})
    second = make_app(config)  # a new process finds what the old one left behind
    try:
        orch = second.settings["services"]["orchestrator"]
        task = await orch.stores.tasks.get(task["id"])
        assert task["status"] == "interrupted"
        assert [s["status"] for s in task["subtasks"]] == ["completed", "pending", "pending"]
        # Answers the check can compare with its samples, so the resumed task completes.
        script.steps = {"Midway": "The middle part is done.", "Later": "The end is near."}
        await orch.run(task["id"])
        await orch.wait(task["id"])
        task = await orch.stores.tasks.get(task["id"])
    finally:
        await close_app(second)
    assert sorted(script.titles()) == ["Later", "Midway"]  # nothing finished is run again
    assert task["status"] == "completed"
    assert [s["result"] for s in task["subtasks"]] == ["kept", "The middle part is done.",
                                                      "The end is near."]


@pytest.mark.gen_test
async def test_shutdown_interrupts_running_work(config, fake_lmstudio, script):
    app = make_app(config)
    orch = app.settings["services"]["orchestrator"]
    seen = Events(app.settings["hub"])
    task = await create(orch, model="qwen2.5-7b-instruct",
                        subtasks=[{"title": "Slow", "description": "x"}])
    fake_lmstudio.script_answer("never finished", delay_first=60)
    await orch.run(task["id"])
    await seen.wait_for("subtask_started")
    await close_app(app)
    again = make_app(config)
    try:
        task = await again.settings["stores"].tasks.get(task["id"])
    finally:
        await close_app(again)
    assert task["status"] == "interrupted" and task["subtasks"][0]["status"] == "pending"
    assert seen.names()[-1] == "interrupted"


# -- concurrency --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_concurrent_model_calls_are_capped_and_queued(orchestrator, fake_lmstudio, events):
    orchestrator.gate.limit = 1
    overlaps = []

    def answer(body):
        asked = sum(1 for path, _ in fake_lmstudio.requests if "completions" in path)
        overlaps.append(asked - 1 - fake_lmstudio.completed)  # answers still in flight
        return "fine"

    fake_lmstudio.default_answer = answer
    tasks = [await create(orchestrator, title="Task %d" % i, model="qwen2.5-7b-instruct",
                          subtasks=[{"title": "A", "description": "a"},
                                    {"title": "B", "description": "b", "depends_on": [0]}])
             for i in range(3)]
    waiting = []
    all_waiting = asyncio.get_running_loop().create_future()
    events.waiters.append((lambda t, e, s: e == "queued" and not waiting.append(
        orchestrator.queue(t)) and len(waiting) == 3, all_waiting))  # each told its place
    async with orchestrator.gate.slot({"purpose": "test"}):  # the one slot is taken
        for task in tasks:
            await orchestrator.run(task["id"])
        await all_waiting
    for task in tasks:
        await orchestrator.wait(task["id"])
    assert overlaps and max(overlaps) == 0
    assert [q["position"] for q in waiting[:3]] == [1, 2, 3]
    assert {q["position"] for q in waiting[3:]} <= {1, 2}  # moving up as the line shrinks
    assert len(overlaps) == 6
    for task in tasks:
        assert (await orchestrator.stores.tasks.get(task["id"]))["status"] == "completed"
    assert orchestrator.queue() == {"limit": 1, "running": 0, "waiting": 0, "tasks": []}


# -- checks -------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_each_answer_is_checked_and_the_verdict_stored(orchestrator, script, events):
    script.steps = {"Only": "The Eiffel Tower was finished in 1889. It is in Paris."}
    task = await create(orchestrator, check_answers=True,
                        subtasks=[{"title": "Only", "description": "x"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    subtask = task["subtasks"][0]
    assert subtask["verdict"]["verdict"] == "ok" and subtask["score"] == 1.0
    assert subtask["verdict"]["samples"] == orchestrator.check_samples
    assert len(script.sample_requests) == orchestrator.check_samples
    assert "checked" in events.names(task["id"])


@pytest.mark.gen_test
async def test_a_suspect_answer_is_asked_again_once_with_the_flags(orchestrator, script,
                                                                   events):
    asked = []

    def answer(body):
        if is_sample(body):
            return "The Eiffel Tower was finished in 1889."
        asked.append(body)
        year = "1925" if len(asked) == 1 else "1889"
        return "The Eiffel Tower was finished in %s." % year

    script.steps = {"Only": answer}
    task = await create(orchestrator, check_answers=True,
                        subtasks=[{"title": "Only", "description": "x"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    subtask = task["subtasks"][0]
    assert len(asked) == 2
    feedback = asked[1]["messages"][-1]["content"]
    assert '"The Eiffel Tower was finished in 1925."' in feedback and "1889" in feedback
    assert asked[1]["messages"][-2]["content"] == "The Eiffel Tower was finished in 1925."
    assert subtask["result"] == "The Eiffel Tower was finished in 1889."
    assert subtask["verdict"]["verdict"] == "ok" and subtask["verdict"]["reasked"] == 1
    assert subtask["verdict"]["first"]["verdict"] != "ok"
    names = events.names(task["id"])
    assert names.index("subtask_retrying") < names.index("subtask_completed")


@pytest.mark.gen_test
async def test_a_still_suspect_answer_is_kept_for_review_with_its_verdict(orchestrator, script):
    counter = iter(range(100))
    script.steps = {"Only": lambda body: "The tower is %d metres tall." % (300 + next(counter))}
    task = await create(orchestrator, check_answers=True,
                        subtasks=[{"title": "Only", "description": "x"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    subtask = task["subtasks"][0]
    assert task["status"] == "needs_review"
    assert subtask["status"] == "needs_review" and subtask["verdict"]["reasked"] == 1
    assert subtask["verdict"]["verdict"] != "ok" and subtask["score"] < 0.8
    assert subtask["verdict"]["flags"][0]["method"] == "self-consistency"


# -- workflows ----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_workflow_run_fills_variables_and_passes_each_step_on(orchestrator, script):
    stores = orchestrator.stores
    template = await stores.templates.create({"name": "Polish", "description": "", "body":
                                              "POLISH for {{audience}}: {{previous}}"})
    workflow = await stores.workflows.create({"name": "Article", "description": "", "steps": [
        {"name": "Outline", "prompt": "OUTLINE the topic {{topic}}"},
        {"name": "Draft", "prompt": "DRAFT from {{previous}} (outline: {{Outline}})"},
        {"name": "Final", "template_id": template["id"], "variables": {"audience": "kids"}}]})
    script.steps = {"OUTLINE": "Tea leaves grow.", "DRAFT": "Tea grows on bushes.",
                    "POLISH": "Tea grows on little bushes!"}
    task = await orchestrator.run_workflow(workflow["id"], {"topic": "tea"})
    await orchestrator.wait(task["id"])
    task = await stores.tasks.get(task["id"])
    assert task["status"] == "completed" and task["workflow_id"] == workflow["id"]
    assert [s["title"] for s in task["subtasks"]] == ["Outline", "Draft", "Final"]
    prompts = [body["messages"][-1]["content"] for _, body in script.step_requests]
    assert prompts == ["OUTLINE the topic tea",
                       "DRAFT from Tea leaves grow. (outline: Tea leaves grow.)",
                       "POLISH for kids: Tea grows on bushes."]
    assert task["result"] == "Tea grows on little bushes!"


@pytest.mark.gen_test
async def test_workflow_run_without_a_needed_value_is_refused(orchestrator):
    workflow = await orchestrator.stores.workflows.create({
        "name": "W", "description": "",
        "steps": [{"name": "One", "prompt": "About {{topic}} for {{audience}}"}]})
    with pytest.raises(WorkflowInputError) as refused:
        await orchestrator.run_workflow(workflow["id"], {"topic": "tea"})
    assert refused.value.fields == {"variables": {"audience": ["A value is required."]}}
    assert await orchestrator.stores.tasks.count() == 0
