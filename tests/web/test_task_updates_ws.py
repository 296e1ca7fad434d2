"""task:update frames over a real /ws socket, in the order the task's states change."""

import asyncio
import json

import pytest

from tests.services.task_script import ModelScript, plan_json

BOUND = 10.0  # a stuck test fails instead of hanging; nothing here measures time


async def recv(conn):
    raw = await asyncio.wait_for(conn.read_message(), BOUND)
    assert raw is not None, "the socket closed (code %s)" % conn.close_code
    return json.loads(raw)


async def subscribe(ws_connect, task_id):
    conn = await ws_connect()
    assert (await recv(conn))["type"] == "connected"
    conn.write_message(json.dumps({"type": "task:subscribe", "data": {"taskId": task_id},
                                   "id": "sub"}))
    reply = await recv(conn)
    assert reply["type"] == "task:subscribed" and reply["id"] == "sub"
    return conn


async def updates_until(conn, *last):
    """task:update frames' data up to and including the first whose event is in `last`."""
    frames = []
    while True:
        frame = await recv(conn)
        if frame["type"] != "task:update":
            continue
        frames.append(frame["data"])
        if frame["data"]["event"] in last:
            return frames


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Facts", "List facts"),
                                          ("Text", "Write the text", [1]))],
                         steps={"Facts": "Green tea comes from Camellia sinensis.",
                                "Text": "Green tea is made from Camellia sinensis."})
    fake_lmstudio.default_answer = script
    return script


@pytest.mark.gen_test
async def test_updates_follow_the_state_changes(ws_connect, fetch, script):
    created = (await fetch("/api/tasks", method="POST", json={"title": "Tea"})).json()
    conn = await subscribe(ws_connect, created["id"])
    assert (await fetch("/api/tasks/%d/run" % created["id"], method="POST")).code == 202
    frames = await updates_until(conn, "completed", "failed")

    assert [f["event"] for f in frames] == [
        "planning", "planned", "running",
        "subtask_started", "checked", "subtask_completed",
        "subtask_started", "checked", "subtask_completed",
        "completed"]
    assert all(f["taskId"] == created["id"] for f in frames)
    assert [f["task"]["status"] for f in frames] == [
        "planning", "pending", "running", "running", "running", "running", "running", "running",
        "running", "completed"]
    subtask_frames = [f for f in frames if "subtask" in f]
    assert [(f["subtask"]["title"], f["subtask"]["status"]) for f in subtask_frames] == [
        ("Facts", "running"), ("Facts", "running"), ("Facts", "completed"),
        ("Text", "running"), ("Text", "running"), ("Text", "completed")]
    checked = subtask_frames[1]["subtask"]
    assert checked["verdict"]["verdict"] == "ok" and checked["score"] == 1.0
    done = frames[-1]["task"]
    assert done["completedAt"] and done["result"] == "Green tea is made from Camellia sinensis."
    assert [s["status"] for s in done["subtasks"]] == ["completed", "completed"]


@pytest.mark.gen_test
async def test_failure_and_cancel_reach_subscribers(ws_connect, fetch, script, fake_lmstudio):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": "qwen2.5-7b-instruct", "checkAnswers": False,
        "subtasks": [{"title": "Facts"}, {"title": "Text", "dependsOn": [0]}]})).json()
    conn = await subscribe(ws_connect, created["id"])
    fake_lmstudio.fail_next(400, "Context length exceeded", path="/v1/chat/completions")
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    frames = await updates_until(conn, "failed")
    assert [f["event"] for f in frames] == ["running", "subtask_started", "subtask_failed",
                                            "failed"]
    assert "Context length exceeded" in frames[2]["subtask"]["error"]
    assert frames[-1]["task"]["error"].startswith("Subtask 1 (Facts) failed:")

    fake_lmstudio.script_answer("slow", delay_first=60)
    await fetch("/api/subtasks/%d/retry" % frames[2]["subtask"]["id"], method="POST")
    frames = await updates_until(conn, "subtask_started")
    assert [f["event"] for f in frames] == ["running", "subtask_started"]
    r = await fetch("/api/tasks/%d/cancel" % created["id"], method="POST")
    assert r.code == 200
    frames = await updates_until(conn, "cancelled")
    assert [f["event"] for f in frames] == ["cancelled"]
    assert [s["status"] for s in frames[0]["task"]["subtasks"]] == ["skipped", "skipped"]


@pytest.mark.gen_test
async def test_other_tasks_updates_are_not_sent(ws_connect, fetch, script):
    watched = (await fetch("/api/tasks", method="POST", json={
        "title": "Watched", "checkAnswers": False, "subtasks": [{"title": "Facts"}]})).json()
    other = (await fetch("/api/tasks", method="POST", json={
        "title": "Other", "checkAnswers": False, "subtasks": [{"title": "Text"}]})).json()
    conn = await subscribe(ws_connect, watched["id"])
    await fetch("/api/tasks/%d/run" % other["id"], method="POST")
    await fetch("/api/tasks/%d/run" % watched["id"], method="POST")
    frames = await updates_until(conn, "completed")
    assert {f["taskId"] for f in frames} == {watched["id"]}


ORDER = {"pending": 0, "running": 1, "needs_review": 2, "completed": 2}


@pytest.mark.gen_test
async def test_every_frame_carries_the_task_as_it_is_when_sent(ws_connect, fetch, script,
                                                               orchestrator, fake_lmstudio):
    """No frame is older than the one before it: a "queued" frame used to carry the rows
    captured when the run began, showing a subtask already running as pending."""
    orchestrator.gate.limit = 1
    fake_lmstudio.chunk_delay = 0.02
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": "qwen2.5-7b-instruct", "checkAnswers": False,
        "subtasks": [{"title": "Facts"}, {"title": "Text"}]})).json()
    conn = await subscribe(ws_connect, created["id"])
    async with orchestrator.gate.slot({"purpose": "test"}):  # both subtasks wait in line
        await fetch("/api/tasks/%d/run" % created["id"], method="POST")
        frames = await updates_until(conn, "queued")
        while orchestrator.queue()["waiting"] < 2:
            await asyncio.sleep(0.01)
    frames += await updates_until(conn, "completed")
    events = [f["event"] for f in frames]
    assert events.count("queued") >= 3  # each in line, then the second moving up
    seen = {}
    for frame in frames:
        rows = {s["id"]: s for s in frame["task"]["subtasks"]}
        if "subtask" in frame:
            assert rows[frame["subtask"]["id"]]["status"] == frame["subtask"]["status"], frame
        for id, row in rows.items():
            assert ORDER[row["status"]] >= seen.get(id, 0), (frame["event"], row["title"])
            seen[id] = ORDER[row["status"]]
    moved_up = [f for f in frames[events.index("subtask_started"):] if f["event"] == "queued"]
    assert moved_up and "running" in [s["status"] for s in moved_up[0]["task"]["subtasks"]]
