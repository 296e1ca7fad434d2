"""Deleting tasks through the orchestrator: over the API and from the task pages; a queued or
running task is cancelled first and nothing writes to it afterwards."""

import asyncio

import pytest

MODEL = "qwen2.5-7b-instruct"


def events(app):
    seen = []
    app.settings["hub"].subscribe("task:update",
                                  lambda task_id, event, **kw: seen.append((task_id, event)))
    return seen


async def start_slow_task(fetch, fake_lmstudio, title="Tea"):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": title, "model": MODEL, "checkAnswers": False,
        "subtasks": [{"title": "Facts"}, {"title": "Text", "dependsOn": [0]}]})).json()
    fake_lmstudio.script_answer("slow", delay_first=60)
    r = await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    assert r.code == 202, r.text
    return created


@pytest.mark.gen_test
async def test_api_delete_cancels_a_running_task_then_deletes_it(fetch, app, orchestrator,
                                                                 fake_lmstudio):
    seen = events(app)
    task = await start_slow_task(fetch, fake_lmstudio)
    subtask_ids = [s["id"] for s in task["subtasks"]]
    r = await fetch("/api/tasks/%d" % task["id"], method="DELETE")
    assert r.code == 204 and r.body == b""
    assert not orchestrator.is_busy(task["id"])
    assert (task["id"], "cancelled") in seen and seen[-1] == (task["id"], "deleted")
    assert (await fetch("/api/tasks/%d" % task["id"])).code == 404
    for id in subtask_ids:
        assert (await fetch("/api/subtasks/%d" % id)).code == 404
    await asyncio.sleep(0)  # nothing of the cancelled job writes the row back
    assert (await fetch("/api/tasks")).json()["total"] == 0
    r = await fetch("/api/tasks/%d" % task["id"], method="DELETE")
    assert r.code == 404 and r.json()["error"] == "No task with id %d." % task["id"]


@pytest.mark.gen_test
async def test_api_delete_of_an_idle_task_and_of_a_queued_one(fetch, app, orchestrator,
                                                             fake_lmstudio):
    idle = (await fetch("/api/tasks", method="POST", json={"title": "Idle"})).json()
    assert (await fetch("/api/tasks/%d" % idle["id"], method="DELETE")).code == 204
    # Two model calls at once: the third task waits in the queue, and is deleted there.
    waiting = asyncio.get_running_loop().create_future()
    app.settings["hub"].subscribe("task:update", lambda task_id, event, **kw: (
        event == "queued" and not waiting.done() and waiting.set_result(task_id)))
    started = [await start_slow_task(fetch, fake_lmstudio, "Task %d" % i) for i in range(3)]
    queued_id = await waiting
    assert (await fetch("/api/tasks/queue")).json()["tasks"] == [queued_id]
    assert (await fetch("/api/tasks/%d" % queued_id, method="DELETE")).code == 204
    assert (await fetch("/api/tasks/queue")).json()["tasks"] == []
    running = [t["id"] for t in started if t["id"] != queued_id]
    assert sorted(t["id"] for t in (await fetch("/api/tasks")).json()["items"]) == running
    assert all(orchestrator.is_busy(id) for id in running)


@pytest.mark.gen_test
async def test_delete_from_the_task_pages(browser, fetch, orchestrator, fake_lmstudio):
    await browser.login()
    task = await start_slow_task(fetch, fake_lmstudio)
    other = (await fetch("/api/tasks", method="POST", json={"title": "Other <b>"})).json()
    listing = await browser.get("/tasks")
    assert 'action="/tasks/%d/delete"' % task["id"] in listing.text
    assert 'action="/tasks/%d/delete"' % other["id"] in listing.text
    page = await browser.get("/tasks/%d" % task["id"])
    assert 'action="/tasks/%d/delete"' % task["id"] in page.text
    assert "It is cancelled first." in page.text

    r = await browser.post("/tasks/%d/delete" % task["id"])
    assert r.code == 303 and r.headers["Location"] == "/tasks"
    shown = await browser.follow(r)
    assert "Task \u201cTea\u201d deleted." in shown.text
    assert not orchestrator.is_busy(task["id"])
    assert (await fetch("/api/tasks/%d" % task["id"])).code == 404
    assert (await browser.get("/tasks/%d" % task["id"])).code == 404
    assert (await browser.post("/tasks/%d/delete" % task["id"])).code == 404
    # Without the form's XSRF token nothing is deleted.
    assert (await browser.post("/tasks/%d/delete" % other["id"], xsrf=False)).code == 403
    assert (await fetch("/api/tasks/%d" % other["id"])).code == 200
