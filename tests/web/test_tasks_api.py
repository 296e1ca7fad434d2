"""The task API and pages over HTTP: create, plan, run, cancel, retry, workflow runs, checks."""

import asyncio
import urllib.parse

import pytest

from tests.services.task_script import ModelScript, plan_json

MODEL = "qwen2.5-7b-instruct"


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Facts", "List facts"),
                                          ("Text", "Write the text", [1]))],
                         steps={"Facts": "Green tea comes from Camellia sinensis.",
                                "Text": "Green tea comes from Camellia sinensis leaves."})
    fake_lmstudio.default_answer = script
    return script


def event(app, name):
    """A future that resolves with the subtask row of the next `name` task:update."""
    future = asyncio.get_running_loop().create_future()

    def listen(task_id, event, task=None, subtask=None):
        if event == name and not future.done():
            future.set_result(subtask)

    app.settings["hub"].subscribe("task:update", listen)
    return future


async def settle(orchestrator, fetch, task_id):
    await orchestrator.wait(task_id)
    return (await fetch("/api/tasks/%d" % task_id)).json()


@pytest.mark.gen_test
async def test_create_with_auto_run_plans_runs_and_reports_verdicts(fetch, orchestrator, script):
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "description": "Write about green tea.", "autoRun": True})
    assert r.code == 201, r.text
    created = r.json()
    assert created["status"] == "planning" and r.headers["Location"].endswith(
        "/api/tasks/%d" % created["id"])
    task = await settle(orchestrator, fetch, created["id"])
    assert task["status"] == "completed" and task["completedAt"].endswith("Z")
    assert [s["title"] for s in task["subtasks"]] == ["Facts", "Text"]
    assert [s["dependsOn"] for s in task["subtasks"]] == [[], [0]]
    text = task["subtasks"][1]
    assert text["verdict"]["verdict"] == "ok" and text["score"] == 1.0
    assert text["status"] == "completed" and text["result"].startswith("Green tea")
    assert task["result"] == "Green tea comes from Camellia sinensis leaves."
    assert task["queue"] == {"limit": 2, "running": 0, "waiting": 0, "tasks": [],
                             "position": None}
    assert task["busy"] is False


@pytest.mark.gen_test
async def test_list_stays_the_generic_one(fetch, orchestrator):
    for title in ("One", "Two"):
        assert (await fetch("/api/tasks", method="POST", json={"title": title})).code == 201
    page = (await fetch("/api/tasks?status=pending&limit=1")).json()
    assert page["total"] == 2 and page["items"][0]["title"] == "Two"
    assert page["items"][0]["subtasksTotal"] == 0


@pytest.mark.gen_test
async def test_create_validates_like_the_generic_api(fetch):
    r = await fetch("/api/tasks", method="POST", json={"title": "", "colour": "red"})
    assert r.code == 400 and set(r.json()["fields"]) == {"title", "colour"}
    assert (await fetch("/api/tasks")).json()["total"] == 0


@pytest.mark.gen_test
async def test_workflow_run_can_draw_on_a_knowledge_base(fetch):
    workflow = await make_workflow(fetch)
    values = {"variables": {"topic": "tea", "audience": "children"}, "autoRun": False}
    r = await fetch("/api/workflows/%d/run" % workflow["id"], method="POST",
                    json=dict(values, knowledgeBaseId=77))
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}
    assert (await fetch("/api/tasks")).json()["total"] == 0
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea"})).json()
    r = await fetch("/api/workflows/%d/run" % workflow["id"], method="POST",
                    json=dict(values, knowledgeBaseId=base["id"]))
    assert r.code == 201 and r.json()["knowledgeBaseId"] == base["id"]


@pytest.mark.gen_test
async def test_hand_written_subtasks_then_plan_then_run(fetch, orchestrator, script):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "checkAnswers": False,
        "subtasks": [{"title": "Mine", "description": "my own step"}]})).json()
    assert [s["title"] for s in created["subtasks"]] == ["Mine"]
    r = await fetch("/api/tasks/%d/plan" % created["id"], method="POST")
    assert r.code == 202 and r.json()["status"] == "planning"
    task = await settle(orchestrator, fetch, created["id"])
    assert task["status"] == "pending" and [s["title"] for s in task["subtasks"]] == [
        "Facts", "Text"]
    r = await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    assert r.code == 202 and r.json()["status"] == "running"
    assert (await settle(orchestrator, fetch, created["id"]))["status"] == "completed"
    r = await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    assert r.code == 409 and "already completed" in r.json()["error"]


@pytest.mark.gen_test
async def test_unknown_ids_are_404(fetch):
    for path in ("/api/tasks/99/run", "/api/tasks/99/plan", "/api/tasks/99/cancel",
                 "/api/subtasks/99/retry", "/api/workflows/99/run"):
        r = await fetch(path, method="POST", json={})
        assert r.code == 404 and "99" in r.json()["error"], path
    assert (await fetch("/api/tasks/99")).code == 404


@pytest.mark.gen_test
async def test_failed_subtask_shows_the_error_and_can_be_retried(fetch, orchestrator, script,
                                                                  fake_lmstudio):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": MODEL, "checkAnswers": False,
        "subtasks": [{"title": "Facts"}, {"title": "Text", "dependsOn": [0]}]})).json()
    fake_lmstudio.fail_next(400, "Context length exceeded", path="/v1/chat/completions")
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    task = await settle(orchestrator, fetch, created["id"])
    failed = task["subtasks"][0]
    assert task["status"] == "failed" and "Context length exceeded" in task["error"]
    assert failed["status"] == "failed" and "Context length exceeded" in failed["error"]
    r = await fetch("/api/subtasks/%d/retry" % task["subtasks"][1]["id"], method="POST")
    assert r.code == 409
    r = await fetch("/api/subtasks/%d/retry" % failed["id"], method="POST")
    assert r.code == 202 and r.json()["status"] == "running"
    task = await settle(orchestrator, fetch, created["id"])
    assert task["status"] == "completed" and task["error"] is None


@pytest.mark.gen_test
async def test_cancel_a_running_task(app, fetch, orchestrator, script, fake_lmstudio):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": MODEL, "subtasks": [{"title": "Facts"}]})).json()
    fake_lmstudio.script_answer("slow", delay_first=60)
    started = event(app, "subtask_started")
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    await started
    r = await fetch("/api/tasks/%d/cancel" % created["id"], method="POST")
    assert r.code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["subtasks"][0]["status"] == "skipped"
    r = await fetch("/api/tasks/%d/cancel" % created["id"], method="POST")
    assert r.code == 409 and "already cancelled" in r.json()["error"]


@pytest.mark.gen_test
async def test_delete_of_a_running_task_cancels_it_first(fetch, orchestrator, script,
                                                         fake_lmstudio):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": MODEL, "subtasks": [{"title": "Facts"}]})).json()
    fake_lmstudio.script_answer("slow", delay_first=60)
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    assert (await fetch("/api/tasks/%d" % created["id"], method="DELETE")).code == 204
    assert not orchestrator.is_busy(created["id"])
    assert (await fetch("/api/tasks/%d" % created["id"])).code == 404


@pytest.mark.gen_test
async def test_queue_endpoint(fetch):
    r = await fetch("/api/tasks/queue")
    assert r.code == 200 and r.json() == {"limit": 2, "running": 0, "waiting": 0, "tasks": []}


# -- workflows ----------------------------------------------------------------------------------

async def make_workflow(fetch):
    r = await fetch("/api/workflows", method="POST", json={"name": "Article", "steps": [
        {"name": "Facts", "prompt": "Facts about {{topic}}"},
        {"name": "Text", "prompt": "Text for {{audience}} from {{previous}}"}]})
    return r.json()


@pytest.mark.gen_test
async def test_workflow_run_with_values(fetch, orchestrator, script):
    workflow = await make_workflow(fetch)
    r = await fetch("/api/workflows/%d/run" % workflow["id"], method="POST", json={
        "variables": {"topic": "tea", "audience": "children"}, "checkAnswers": False})
    assert r.code == 201, r.text
    created = r.json()
    assert created["workflowId"] == workflow["id"] and created["title"] == "Run of Article"
    assert [s["description"] for s in created["subtasks"]] == [
        "Facts about tea", "Text for children from {{previous}}"]
    task = await settle(orchestrator, fetch, created["id"])
    assert task["status"] == "completed"
    second = script.step_requests[1][1]["messages"][-1]["content"]
    assert second == "Text for children from Green tea comes from Camellia sinensis."


@pytest.mark.gen_test
async def test_workflow_run_needs_every_value(fetch):
    workflow = await make_workflow(fetch)
    r = await fetch("/api/workflows/%d/run" % workflow["id"], method="POST",
                    json={"variables": {"topic": "tea"}})
    assert r.code == 400
    assert r.json()["fields"] == {"variables": {"audience": ["A value is required."]}}
    r = await fetch("/api/workflows/%d/run" % workflow["id"], method="POST",
                    json={"variables": {"topic": "tea"}, "bogus": 1})
    assert r.code == 400 and "bogus" in r.json()["fields"]
    assert (await fetch("/api/tasks")).json()["total"] == 0


# -- checks -------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_check_a_text_against_sources(fetch):
    r = await fetch("/api/check", method="POST", json={
        "text": "Tea was first drunk in 2737 BC by Shen Nong.",
        "sources": ["Legend says the emperor Shen Nong discovered tea."]})
    assert r.code == 200, r.text
    report = r.json()
    assert report["verdict"] != "ok" and report["samples"] == 0
    assert report["flags"] == [{"sentence": "Tea was first drunk in 2737 BC by Shen Nong.",
                                "reason": "Not found in the sources: 2737, BC.",
                                "method": "grounding"}]


@pytest.mark.gen_test
async def test_check_with_nothing_to_check_against_is_unchecked(fetch):
    r = await fetch("/api/check", method="POST", json={
        "text": "The Eiffel Tower was finished in 1889."})
    assert r.code == 200, r.text
    report = r.json()
    assert report["verdict"] == "unchecked" and "nothing to check" in report["reason"]
    assert report["claims"] == [{"text": "The Eiffel Tower was finished in 1889.",
                                 "verdict": "unchecked", "score": 0.5, "evidence": [],
                                 "reasons": []}]
    r = await fetch("/api/check", method="POST", json={
        "text": "Berlin is the capital of France.",
        "sources": ["The capital of France is Paris."]})
    report = r.json()
    assert report["verdict"] == "likely hallucinated" and report["grounded"] is True
    assert report["claims"][0]["verdict"] == "contradicted"
    assert report["claims"][0]["evidence"] == [{"text": "The capital of France is Paris.",
                                                "source": 0}]
    r = await fetch("/api/check", method="POST", json={
        "text": "Old pond\na frog jumps in\nthe sound of water", "kind": "creative"})
    assert r.json()["verdict"] == "ok" and r.json()["claims"] == []


@pytest.mark.gen_test
async def test_check_a_stored_assistant_message(fetch, fake_lmstudio):
    fake_lmstudio.default_answer = "Paris is the capital of France."
    conversation = (await fetch("/api/conversations", method="POST", json={})).json()
    question = "What is the capital of France?"
    for role, content in (("user", question), ("assistant", "The capital of France is Lyon.")):
        message = (await fetch("/api/messages", method="POST", json={
            "conversationId": conversation["id"], "role": role, "content": content})).json()
    r = await fetch("/api/check", method="POST", json={"messageId": message["id"],
                                                       "samples": 2})
    assert r.code == 200, r.text
    report = r.json()
    assert report["samples"] == 2 and report["verdict"] != "ok"
    assert report["flags"][0]["sentence"] == "The capital of France is Lyon."
    asked = [body for path, body in fake_lmstudio.requests if path.endswith("completions")]
    assert [b["messages"] for b in asked] == [[{"role": "user", "content": question}]] * 2


@pytest.mark.gen_test
async def test_check_refuses_bad_input(fetch):
    r = await fetch("/api/check", method="POST", json={})
    assert r.code == 400 and r.json()["fields"] == {"text": ["Give a text or a messageId."]}
    r = await fetch("/api/check", method="POST", json={"text": "   \n "})
    assert r.code == 400 and r.json()["fields"] == {"text": ["Give a text or a messageId."]}
    r = await fetch("/api/check", method="POST", json={"text": "x", "kind": "poem"})
    assert r.code == 400 and "kind" in r.json()["fields"]
    r = await fetch("/api/check", method="POST", json={"text": "x", "samples": 99})
    assert r.code == 400 and "samples" in r.json()["fields"]
    r = await fetch("/api/check", method="POST", json={"messageId": 12345})
    assert r.code == 404


# -- pages --------------------------------------------------------------------------------------

def form(**fields):
    return {"body": urllib.parse.urlencode(fields),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.mark.gen_test
async def test_new_task_form_creates_and_redirects(fetch, orchestrator):
    page = await fetch("/tasks/new")
    assert page.code == 200 and 'name="title"' in page.text
    r = await fetch("/tasks/new", method="POST", **form(
        title="Tea", description="About tea", priority="high", subtasks="A: first\nB: second"))
    assert r.code == 302
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    task = (await fetch("/api/tasks/%d" % task_id)).json()
    assert task["priority"] == "high" and task["status"] == "pending"
    assert [(s["title"], s["description"], s["dependsOn"]) for s in task["subtasks"]] == [
        ("A", "first", []), ("B", "second", [0])]


@pytest.mark.gen_test
async def test_new_task_form_shows_errors(fetch):
    r = await fetch("/tasks/new", method="POST", **form(title="", priority="whenever"))
    assert r.code == 400 and "field-error" in r.text and 'value="whenever"' not in r.text
    assert (await fetch("/api/tasks")).json()["total"] == 0


@pytest.mark.gen_test
async def test_task_page_renders_results_safely(fetch, orchestrator):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "<b>bold</b>", "subtasks": [{"title": "S"}]})).json()
    await orchestrator.stores.subtasks.update(created["subtasks"][0]["id"], {
        "result": "<script>x()</script>", "status": "completed"})
    page = await fetch("/tasks/%d" % created["id"])
    assert page.code == 200
    assert "<script>x()" not in page.text and "&lt;script&gt;x()" in page.text
    assert "&lt;b&gt;bold" in page.text and "js/task.js" in page.text
    listing = await fetch("/tasks")
    assert listing.code == 200 and "/tasks/%d" % created["id"] in listing.text
    assert (await fetch("/tasks/999")).code == 404


@pytest.mark.gen_test
async def test_workflow_run_page(fetch, orchestrator, script):
    workflow = await make_workflow(fetch)
    page = await fetch("/workflows/%d/run" % workflow["id"])
    assert page.code == 200 and 'name="var-topic"' in page.text
    assert 'name="var-audience"' in page.text and "var-previous" not in page.text
    r = await fetch("/workflows/%d/run" % workflow["id"], method="POST",
                    **form(**{"var-topic": "tea"}))
    assert r.code == 400 and "A value is required." in r.text
    r = await fetch("/workflows/%d/run" % workflow["id"], method="POST",
                    **form(**{"var-topic": "tea", "var-audience": "kids"}))
    assert r.code == 302 and r.headers["Location"].startswith("/tasks/")
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert (await settle(orchestrator, fetch, task_id))["status"] == "completed"
    assert (await fetch("/workflows/999/run")).code == 404


@pytest.mark.gen_test
async def test_workflow_run_page_can_pick_a_knowledge_base(fetch):
    workflow = await make_workflow(fetch)
    base = (await fetch("/api/knowledge-bases", method="POST",
                        json={"name": "Tea <notes>"})).json()
    page = await fetch("/workflows/%d/run" % workflow["id"])
    assert '<option value="%d">Tea &lt;notes&gt;</option>' % base["id"] in page.text
    values = {"var-topic": "tea", "var-audience": "kids"}
    r = await fetch("/workflows/%d/run" % workflow["id"], method="POST",
                    **form(**values, knowledgeBaseId="999"))
    assert r.code == 400 and "No such knowledge base." in r.text and ">kids</textarea>" in r.text
    assert (await fetch("/api/tasks")).json()["total"] == 0
    r = await fetch("/workflows/%d/run" % workflow["id"], method="POST",
                    **form(**values, knowledgeBaseId=str(base["id"])))
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert (await fetch("/api/tasks/%d" % task_id)).json()["knowledgeBaseId"] == base["id"]


@pytest.mark.gen_test
async def test_subtasks_written_by_hand_replace_the_plan_but_not_while_running(
        fetch, orchestrator, script, fake_lmstudio):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "model": MODEL, "checkAnswers": False,
        "subtasks": [{"title": "Old"}]})).json()
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH", json={"subtasks": [
        {"title": "Facts", "description": "list"},
        {"title": "Text", "description": "write", "dependsOn": [0]}]})
    assert r.code == 200, r.text
    assert [(s["title"], s["position"]) for s in r.json()["subtasks"]] == [
        ("Facts", 0), ("Text", 1)]
    fake_lmstudio.script_answer("slow", delay_first=60)
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"subtasks": [{"title": "Sneaky"}]})
    assert r.code == 409 and "cancel it before editing" in r.json()["error"]
    await fetch("/api/tasks/%d/cancel" % created["id"], method="POST")
    task = (await fetch("/api/tasks/%d" % created["id"])).json()
    assert [s["title"] for s in task["subtasks"]] == ["Facts", "Text"]


# -- answers that need review -------------------------------------------------------------------

TRUE = "The Eiffel Tower is 330 metres tall. It stands in Paris."
SAMPLE = "The Eiffel Tower is 300 metres tall. It stands in Paris."


@pytest.fixture
def doubtful(fake_lmstudio):
    """Each step answers TRUE; the check's samples disagree on the height: never ok."""
    def answer(body):
        return SAMPLE if (body.get("temperature") or 0) >= 0.9 else TRUE

    fake_lmstudio.default_answer = answer


async def needs_review(fetch, orchestrator, titles=("Only",)):
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tower", "model": MODEL, "subtasks": [{"title": t} for t in titles]})).json()
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    task = await settle(orchestrator, fetch, created["id"])
    assert task["status"] == "needs_review", task
    return task


@pytest.mark.gen_test
async def test_accept_an_answer_that_needs_review(fetch, orchestrator, doubtful):
    task = await needs_review(fetch, orchestrator)
    subtask = task["subtasks"][0]
    assert subtask["status"] == "needs_review" and subtask["verdict"]["verdict"] != "ok"
    assert task["note"] == ("Needs review: 1 (Only). Their checks were not ok: accept, edit "
                            "or retry each.")
    r = await fetch("/api/subtasks/%d/accept" % subtask["id"], method="POST")
    assert r.code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["busy"] is False
    assert r.json()["subtasks"][0]["verdict"]["accepted"] is True
    r = await fetch("/api/subtasks/%d/accept" % subtask["id"], method="POST")
    assert r.code == 409
    assert r.json()["error"] == ("Subtask %d is completed; only an answer that needs review "
                                 "can be accepted or edited." % subtask["id"])


@pytest.mark.gen_test
async def test_edit_an_answer_that_needs_review(fetch, orchestrator, doubtful):
    task = await needs_review(fetch, orchestrator, ("One", "Two"))
    one, two = task["subtasks"]
    path = "/api/subtasks/%d/edit" % one["id"]
    for body, field in (({"result": "  "}, "result"), ({}, "result"),
                        ({"result": "x", "colour": 1}, "colour")):
        r = await fetch(path, method="POST", json=body)
        assert r.code == 400 and field in r.json()["fields"], body
    r = await fetch(path, method="POST", json={"result": "It is 330 m tall."})
    assert r.code == 200, r.text
    task = r.json()
    assert task["status"] == "needs_review" and task["note"].startswith("Needs review: 2 (Two)")
    edited = task["subtasks"][0]
    assert edited["status"] == "completed" and edited["result"] == "It is 330 m tall."
    assert edited["verdict"]["edited"] is True and edited["verdict"]["original"] == TRUE
    r = await fetch(path, method="POST", json={"result": "again"})
    assert r.code == 409 and "only an answer that needs review" in r.json()["error"]
    r = await fetch("/api/subtasks/%d/edit" % two["id"], method="POST",
                    json={"result": "Paris."})
    assert r.json()["status"] == "completed" and "It is 330 m tall." in r.json()["result"]


@pytest.mark.gen_test
async def test_retry_an_answer_that_needs_review_with_its_feedback(fetch, orchestrator,
                                                                   doubtful, fake_lmstudio):
    task = await needs_review(fetch, orchestrator)
    subtask = task["subtasks"][0]
    fake_lmstudio.script_answer(SAMPLE)  # the answer asked for with the feedback
    r = await fetch("/api/subtasks/%d/retry" % subtask["id"], method="POST",
                    json={"feedback": True})
    assert r.code == 202 and r.json()["status"] == "running"
    task = await settle(orchestrator, fetch, task["id"])
    asked = [b for p, b in fake_lmstudio.requests if p.endswith("completions")
             and (b.get("temperature") or 0) < 0.9][-1]
    assert asked["messages"][-1]["content"].startswith("A check of your answer found")
    assert task["status"] == "completed" and task["subtasks"][0]["result"] == SAMPLE
    r = await fetch("/api/subtasks/%d/retry" % subtask["id"], method="POST")
    assert r.code == 409 and "needs-review" in r.json()["error"]
    r = await fetch("/api/subtasks/%d/retry" % subtask["id"], method="POST",
                    json={"feedback": "maybe"})
    assert r.code == 400 and "feedback" in r.json()["fields"]


@pytest.mark.gen_test
async def test_review_of_unknown_subtasks_is_404(fetch):
    for action, body in (("accept", None), ("edit", {"result": "x"}), ("retry", None)):
        r = await fetch("/api/subtasks/99/%s" % action, method="POST", json=body or {})
        assert r.code == 404 and "99" in r.json()["error"], action


@pytest.mark.gen_test
async def test_outcomes_are_not_writable_through_the_generic_api(fetch, orchestrator):
    task = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "subtasks": [{"title": "Only"}]})).json()
    sub = task["subtasks"][0]
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH",
                    json={"status": "completed", "result": "done"})
    assert r.code == 400 and set(r.json()["fields"]) == {"status", "result"}
    r = await fetch("/api/subtasks/%d" % sub["id"], method="PATCH",
                    json={"status": "completed", "result": "x", "error": None})
    assert r.code == 400 and set(r.json()["fields"]) == {"status", "result", "error"}
    r = await fetch("/api/subtasks", method="POST", json={
        "taskId": task["id"], "title": "Sneaky", "status": "completed"})
    assert r.code == 400 and set(r.json()["fields"]) == {"status"}
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "subtasks": [{"title": "S", "result": "made up"}]})
    assert r.code == 400 and "result" in str(r.json()["fields"])
    got = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert got["status"] == "pending" and got["subtasks"][0]["result"] is None
