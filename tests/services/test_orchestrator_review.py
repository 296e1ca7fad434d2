"""Honest outcomes against the fake LM Studio: answers that need review, accept, edit, retry
with feedback, the better of two answers, feedback echoes, and subtasks side by side."""

import asyncio

import pytest

from orchestra.services.orchestrator import OrchestratorError
from orchestra.services.orchestrator_review import echoes_feedback
from orchestra.services import orchestrator_prompts as prompts
from tests.services.task_script import is_sample
from tests.services.test_orchestrator import Events, create, finish

MODEL = "qwen2.5-7b-instruct"
TRUE = "The Eiffel Tower is 330 metres tall. It stands in Paris."
# The check's samples agree with the second sentence and give another height: one claim is
# contradicted, so the answer is likely hallucinated (score 0.25).
SAMPLE = "The Eiffel Tower is 300 metres tall. It stands in Paris."
WORSE = "The Eiffel Tower is 310 metres tall. It is 50 km from Lyon."


@pytest.fixture
def events(app):
    return Events(app.settings["hub"])


def answers(*texts, sample=SAMPLE):
    """A step answering `texts` (or fn(body) -> text) in turn, the last repeating; check
    samples get `sample`."""
    asked = []

    def answer(body):
        if is_sample(body):
            return sample
        asked.append(body)
        text = texts[min(len(asked), len(texts)) - 1]
        return text(body) if callable(text) else text

    answer.asked = asked
    return answer


async def review_task(orchestrator, script, *texts, **values):
    step = answers(*texts)
    script.steps = {"Only": step}
    task = await create(orchestrator, check_answers=True,
                        subtasks=[{"title": "Only", "description": "x"}], **values)
    task = await finish(orchestrator, task["id"], orchestrator.run)
    return task, step


@pytest.fixture
def script(fake_lmstudio):
    from tests.services.task_script import ModelScript
    script = ModelScript()
    fake_lmstudio.default_answer = script
    return script


# -- needs_review -------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_an_answer_whose_check_is_not_ok_needs_review(orchestrator, script, events):
    task, step = await review_task(orchestrator, script, TRUE)
    subtask = task["subtasks"][0]
    assert len(step.asked) == 2  # the first answer and the re-ask (same text: a tie)
    assert subtask["status"] == "needs_review" and subtask["result"] == TRUE
    assert subtask["verdict"]["verdict"] == "likely hallucinated" and subtask["score"] == 0.25
    assert subtask["verdict"]["reasked"] == 1
    assert "did not score better" in subtask["verdict"]["rejected"]["reason"]  # a tie
    assert task["status"] == "needs_review" and task["completed_at"] is not None
    assert task["note"].startswith("Needs review: 1 (Only).")
    assert task["result"] == TRUE
    names = events.names(task["id"])
    assert names[-2:] == ["subtask_needs_review", "needs_review"]


@pytest.mark.gen_test
async def test_without_checks_a_task_completes_as_before(orchestrator, script):
    script.steps = {"Only": answers(TRUE)}
    task = await create(orchestrator, subtasks=[{"title": "Only", "description": "x"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    assert task["status"] == "completed" and task["subtasks"][0]["verdict"] is None


@pytest.mark.gen_test
async def test_dependants_of_an_answer_that_needs_review_still_run(orchestrator, script):
    script.steps = {"Measure": answers(TRUE),
                    "Write": answers("It stands in Paris.", sample="It stands in Paris.")}
    task = await create(orchestrator, check_answers=True, subtasks=[
        {"title": "Measure", "description": "x"},
        {"title": "Write", "description": "y", "depends_on": [0]}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    measure, write = task["subtasks"]
    assert (measure["status"], write["status"]) == ("needs_review", "completed")
    assert "## Measure\n" + TRUE in script.step_requests[-1][1]["messages"][-1]["content"]
    assert task["status"] == "needs_review" and "1 (Measure)" in task["note"]
    assert "Write" not in task["note"]


@pytest.mark.gen_test
async def test_accepting_the_last_answer_completes_the_task(orchestrator, script, events):
    task, _ = await review_task(orchestrator, script, TRUE)
    subtask = task["subtasks"][0]
    task = await orchestrator.accept_subtask(subtask["id"])
    assert task["status"] == "completed" and task["note"] is None
    accepted = task["subtasks"][0]
    assert accepted["status"] == "completed" and accepted["result"] == TRUE
    assert accepted["verdict"]["accepted"] is True
    assert accepted["verdict"]["verdict"] == "likely hallucinated"  # the check's word stays
    assert events.names(task["id"])[-2:] == ["subtask_accepted", "completed"]
    with pytest.raises(OrchestratorError) as refused:
        await orchestrator.accept_subtask(subtask["id"])
    assert refused.value.http_status == 409 and "is completed" in refused.value.message


@pytest.mark.gen_test
async def test_an_edited_answer_completes_and_the_original_is_kept(orchestrator, script):
    task, _ = await review_task(orchestrator, script, TRUE)
    subtask = task["subtasks"][0]
    task = await orchestrator.edit_subtask(subtask["id"], "The tower is 330 m tall.")
    edited = task["subtasks"][0]
    assert edited["status"] == "completed" and edited["result"] == "The tower is 330 m tall."
    assert edited["verdict"]["edited"] is True and edited["verdict"]["original"] == TRUE
    assert task["status"] == "completed" and task["result"] == "The tower is 330 m tall."
    with pytest.raises(OrchestratorError) as refused:
        await orchestrator.edit_subtask(subtask["id"], "again")
    assert refused.value.http_status == 409
    with pytest.raises(OrchestratorError) as missing:
        await orchestrator.accept_subtask(9999)
    assert missing.value.http_status == 404


@pytest.mark.gen_test
async def test_a_task_waits_until_every_answer_is_reviewed(orchestrator, script):
    script.steps = {"One": answers(TRUE), "Two": answers(TRUE)}
    task = await create(orchestrator, check_answers=True, subtasks=[
        {"title": "One", "description": "x"}, {"title": "Two", "description": "y"}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    one, two = task["subtasks"]
    assert "1 (One); 2 (Two)" in task["note"]
    task = await orchestrator.accept_subtask(one["id"])
    assert task["status"] == "needs_review" and task["note"].startswith("Needs review: 2 (Two).")
    task = await orchestrator.accept_subtask(two["id"])
    assert task["status"] == "completed"


# -- retry with feedback ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_retry_with_feedback_asks_again_and_keeps_a_better_answer(orchestrator, script):
    task, step = await review_task(orchestrator, script, TRUE, TRUE, SAMPLE)
    subtask = task["subtasks"][0]
    running = await orchestrator.retry_subtask(subtask["id"])
    assert running["status"] == "running"
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    retried = task["subtasks"][0]
    last = step.asked[-1]["messages"]
    assert last[-2] == {"role": "assistant", "content": TRUE}
    assert last[-1]["content"].startswith("A check of your answer found")
    assert '"The Eiffel Tower is 330 metres tall."' in last[-1]["content"]
    assert retried["status"] == "completed" and retried["result"] == SAMPLE
    assert retried["verdict"]["verdict"] == "ok" and retried["verdict"]["first"]["text"] == TRUE
    assert task["status"] == "completed" and task["note"] is None


@pytest.mark.gen_test
async def test_the_re_ask_keeps_the_first_answer_when_the_second_scores_worse(
        orchestrator, script):
    task, step = await review_task(orchestrator, script, TRUE, WORSE)
    subtask = task["subtasks"][0]
    assert len(step.asked) == 2
    assert subtask["result"] == TRUE and subtask["score"] == 0.25
    rejected = subtask["verdict"]["rejected"]
    assert rejected["text"] == WORSE and "did not score better (0.00" in rejected["reason"]


@pytest.mark.gen_test
async def test_an_answer_that_repeats_the_feedback_is_rejected(orchestrator, script):
    echo = lambda body: body["messages"][-1]["content"]  # noqa: E731 - the feedback itself
    task, step = await review_task(orchestrator, script, TRUE, echo)
    subtask = task["subtasks"][0]
    assert len(step.asked) == 2
    assert subtask["result"] == TRUE and subtask["status"] == "needs_review"
    assert "repeated the feedback" in subtask["verdict"]["rejected"]["reason"]
    assert len(script.sample_requests) == orchestrator.check_samples  # the echo went unchecked


def test_echoes_are_told_from_answers_that_repeat_a_flagged_sentence():
    report = {"flags": [{"sentence": "The tower is 330 metres tall.",
                         "reason": "The other samples say 300 instead."}], "problems": []}
    feedback = prompts.check_feedback(report)
    assert echoes_feedback(feedback, report)
    assert echoes_feedback("The other samples say 300 instead. Keep only what you are sure "
                           "of; correct or leave out the rest.", report)
    assert not echoes_feedback("The tower is 330 metres tall.", report)
    assert not echoes_feedback("The tower is 300 metres tall, with its antennas.", report)
    assert not echoes_feedback("", report)


# -- concurrency --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_independent_subtasks_run_side_by_side(orchestrator, fake_lmstudio, script):
    in_flight = []

    def answer(name):
        def reply(body):
            asked = sum(1 for path, _ in fake_lmstudio.requests if "completions" in path)
            in_flight.append((name, asked - 1 - fake_lmstudio.completed))
            return "%s done." % name
        return reply

    fake_lmstudio.chunk_delay = 0.05
    script.steps = {n: answer(n) for n in ("Left", "Right", "Join")}
    task = await create(orchestrator, model=MODEL, subtasks=[
        {"title": "Left", "description": "l"}, {"title": "Right", "description": "r"},
        {"title": "Join", "description": "j", "depends_on": [0, 1]}])
    task = await finish(orchestrator, task["id"], orchestrator.run)
    assert task["status"] == "completed"
    assert sorted(n for n, _ in in_flight[:2]) == ["Left", "Right"]
    assert in_flight[1][1] == 1  # the second began while the first was still answering
    assert in_flight[2] == ("Join", 0)  # after both
    join = script.step_requests[2][1]["messages"][-1]["content"]
    assert "## Left\nLeft done." in join and "## Right\nRight done." in join


@pytest.mark.gen_test
async def test_a_failure_stops_the_subtasks_beside_it(orchestrator, fake_lmstudio, script,
                                                      events):
    script.steps = {"Slow": "slow " * 200, "After": "after"}
    fake_lmstudio.chunk_delay = 0.5
    task = await create(orchestrator, model=MODEL, subtasks=[
        {"title": "Slow", "description": "s"},
        {"title": "Broken", "description": "b", "model": "no-such-model"},
        {"title": "After", "description": "a", "depends_on": [0]}])
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "failed" and task["error"].startswith("Subtask 2 (Broken) failed")
    assert [s["status"] for s in task["subtasks"]] == ["pending", "failed", "pending"]
    assert not orchestrator.is_busy(task["id"])
    while fake_lmstudio.cancelled == 0:
        await asyncio.sleep(0.01)  # the slow answer's request was closed
    assert events.names(task["id"])[-1] == "failed"


@pytest.mark.gen_test
async def test_cancel_stops_subtasks_running_side_by_side(orchestrator, fake_lmstudio, script,
                                                          events):
    fake_lmstudio.chunk_delay = 0.5
    script.steps = {"A": "a " * 200, "B": "b " * 200}
    task = await create(orchestrator, model=MODEL, subtasks=[
        {"title": "A", "description": "a"}, {"title": "B", "description": "b"}])
    await orchestrator.run(task["id"])
    while [e for e in events.names(task["id"])].count("subtask_started") < 2:
        await asyncio.sleep(0.01)
    task = await orchestrator.cancel(task["id"])
    assert task["status"] == "cancelled"
    assert [s["status"] for s in task["subtasks"]] == ["skipped", "skipped"]


# -- what the checker is given ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_the_checker_gets_the_kind_and_the_input_as_sources(orchestrator, script):
    seen = []
    check = orchestrator.detector.check

    async def spy(text, **kwargs):
        seen.append(kwargs)
        return await check(text, **kwargs)

    orchestrator.detector.check = spy
    script.steps = {"Facts": "Tea grows on bushes.", "Sum": "Tea grows on bushes.",
                    "Say": "Tea grows on bushes."}
    task = await create(orchestrator, check_answers=True, description="All about tea.",
                        subtasks=[{"title": "Facts", "description": "f"},
                                  {"title": "Sum", "description": "s", "kind": "summarize",
                                   "depends_on": [0]},
                                  {"title": "Say", "description": "t", "kind": "summarization",
                                   "depends_on": [1]}])
    await finish(orchestrator, task["id"], orchestrator.run)
    assert [(k["kind"], k["sources"]) for k in seen] == [
        ("answer", None),
        ("summarize", ["All about tea.", "Tea grows on bushes."]),
        ("summarize", ["All about tea.", "Tea grows on bushes."])]
