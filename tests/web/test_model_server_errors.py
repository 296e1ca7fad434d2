"""Model-server errors of tasks and the Models page over HTTP: the sentence names the server,
a prompt too long for the context says so with the numbers, and an expected failure is one
WARNING line in the log, without a traceback."""

import logging

import pytest

MODEL = "qwen2.5-7b-instruct"
CODER = "qwen2.5-coder-7b-instruct"


def service_records(caplog):
    return [r for r in caplog.records if r.name.startswith("orchestra")]


def warnings_of(caplog):
    return [(r.levelname, r.getMessage()) for r in service_records(caplog)
            if r.levelno >= logging.WARNING]


async def settle(orchestrator, fetch, task_id):
    await orchestrator.wait(task_id)
    return (await fetch("/api/tasks/%d" % task_id)).json()


@pytest.mark.gen_test
async def test_planning_with_the_server_down_fails_the_task_with_one_warning(
        fetch, orchestrator, config, caplog):
    caplog.set_level(logging.INFO)
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "description": "Write about tea.", "model": MODEL, "autoRun": True})
    assert r.code == 201, r.text
    task = await settle(orchestrator, fetch, r.json()["id"])
    error = ("Planning failed: The model server at %s is not reachable; start it or check "
             "the URL." % config.lmstudio_url.rstrip("/"))
    assert task["status"] == "failed" and task["error"] == error
    assert warnings_of(caplog) == [("WARNING", "task %d failed: %s" % (task["id"], error))]
    assert not any(r.exc_info for r in service_records(caplog))


@pytest.mark.gen_test
async def test_a_subtask_too_long_for_the_context_fails_with_the_numbers(
        fetch, orchestrator, fake_lmstudio, caplog):
    caplog.set_level(logging.INFO)
    fake_lmstudio.lmstudio = False  # vLLM, say
    fake_lmstudio.limit_context(5, "vllm")
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "description": "Write about tea.", "model": MODEL, "autoRun": True,
        "subtasks": [{"title": "Facts", "description": "List facts about green tea"}]})
    assert r.code == 201, r.text
    task = await settle(orchestrator, fetch, r.json()["id"])
    prompt, context = fake_lmstudio.last_overflow
    sentence = ("The prompt has %d tokens but the model's context on the model server at %s "
                "holds 5; shorten the conversation or load the model with a longer context."
                % (prompt, fake_lmstudio.url))
    assert context == 5
    subtask = task["subtasks"][0]
    assert subtask["status"] == "failed" and subtask["error"] == sentence
    assert subtask["attempts"] == 1  # a refusal is not retried
    assert task["status"] == "failed"
    assert task["error"] == "Subtask 1 (Facts) failed: " + sentence
    assert warnings_of(caplog) == [
        ("WARNING", "task %d: subtask %d failed: %s" % (task["id"], subtask["id"], sentence))]
    assert not any(r.exc_info for r in service_records(caplog))


@pytest.mark.gen_test
async def test_models_page_actions_name_the_server(fetch, fake_lmstudio, caplog):
    caplog.set_level(logging.INFO)
    fake_lmstudio.lmstudio = False
    fake_lmstudio.fail_next(500, "Model crashed", path="/v1/chat/completions")
    r = await fetch("/api/models/benchmark", method="POST", json={"model": MODEL})
    assert r.code == 502
    assert r.json()["error"] == ("The model server at %s answered with an error (HTTP 500): "
                                 "Model crashed." % fake_lmstudio.url)
    fake_lmstudio.lmstudio = True
    await fetch("/api/models?refresh=1")  # LM Studio's native API answers now
    fake_lmstudio.limit_context(2, "lmstudio")
    r = await fetch("/api/models/compare", method="POST", json={
        "prompt": "one two three four", "models": [MODEL, CODER]})
    assert r.code == 200, r.text
    assert [result["error"] for result in r.json()["results"]] == [
        "The prompt has 4 tokens but the model's context on LM Studio at %s holds 2; shorten "
        "the conversation or load the model with a longer context." % fake_lmstudio.url] * 2
    assert not any(r.exc_info for r in service_records(caplog))
