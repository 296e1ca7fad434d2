"""Data only its owner changes, through the JSON API and the form pages: read-only fields,
409 for structural changes to a queued or running task, one registry for both."""

import pytest

from orchestra import entities
from orchestra.web import accounts, knowledge, library
from tests.fakes.website import fake_site  # noqa: F401

MODEL = "qwen2.5-7b-instruct"


async def running_task(fetch, fake_lmstudio, **extra):
    """A task whose one subtask waits for a slow answer: running until cancelled."""
    created = (await fetch("/api/tasks", method="POST", json=dict({
        "title": "Tea", "model": MODEL, "checkAnswers": False,
        "subtasks": [{"title": "Facts"}, {"title": "Text", "dependsOn": [0]}]}, **extra))).json()
    fake_lmstudio.script_answer("slow", delay_first=60)
    r = await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    assert r.code == 202 and r.json()["status"] == "running", r.text
    return r.json()


@pytest.mark.gen_test
async def test_orchestrator_fields_are_read_only_through_the_api(fetch):
    task = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "subtasks": [{"title": "Facts"}]})).json()
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH",
                    json={"status": "completed", "result": "Forged."})
    assert r.code == 400
    assert r.json()["fields"] == {"status": ["Read-only: the orchestrator sets it."],
                                  "result": ["Read-only: the orchestrator sets it."]}
    assert "status" in r.json()["error"] and "result" in r.json()["error"]
    for field, value in (("verdict", {"verdict": "ok"}), ("promptTokens", 5),
                         ("durationMs", 1), ("planSource", "model"), ("completedAt", None)):
        r = await fetch("/api/tasks/%d" % task["id"], method="PATCH", json={field: value})
        assert r.code == 400 and field in r.json()["fields"], (field, r.text)
    subtask = task["subtasks"][0]
    r = await fetch("/api/subtasks/%d" % subtask["id"], method="PATCH",
                    json={"status": "completed", "result": "x", "title": "Renamed"})
    assert r.code == 400 and set(r.json()["fields"]) == {"status", "result"}
    r = await fetch("/api/tasks", method="POST", json={"title": "New", "status": "completed"})
    assert r.code == 400 and "status" in r.json()["fields"]
    stored = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert stored["status"] == "pending" and stored["result"] is None
    assert stored["subtasks"][0]["title"] == "Facts"
    assert stored["subtasks"][0]["status"] == "pending"
    assert (await fetch("/api/tasks")).json()["total"] == 1
    # What is not owned by the orchestrator still changes.
    r = await fetch("/api/subtasks/%d" % subtask["id"], method="PATCH", json={"title": "Renamed"})
    assert r.code == 200 and r.json()["title"] == "Renamed"


@pytest.mark.gen_test
async def test_fetcher_and_chat_fields_are_read_only(fetch, app):
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "B"})).json()
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "T", "content": "c",
        "status": "failed"})
    assert r.code == 400 and r.json()["fields"] == {
        "status": ["Read-only: the knowledge service sets it."]}
    source = (await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "T", "content": "c"})).json()
    assert source["status"] == "indexing"
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"status": "pending"})
    assert r.code == 400 and "status" in r.json()["fields"]

    conversation = (await fetch("/api/conversations", method="POST", json={})).json()
    r = await fetch("/api/messages", method="POST", json={
        "conversationId": conversation["id"], "content": "hi", "status": "complete",
        "promptTokens": 3})
    assert r.code == 400 and set(r.json()["fields"]) == {"status", "promptTokens"}
    assert (await fetch("/api/messages")).json()["total"] == 0


@pytest.mark.gen_test
async def test_an_answer_being_streamed_belongs_to_the_chat_service(fetch, app):
    stores = app.settings["stores"]
    # The row stands for one of this process's answers, so it is written after the
    # start-up recovery (which marks the previous run's streaming answers incomplete).
    await app.settings["services"]["chat"].recovered()
    conversation = (await fetch("/api/conversations", method="POST", json={})).json()
    answer = await stores.messages.add(conversation["id"], "assistant", "Half an ans",
                                       status="streaming")
    r = await fetch("/api/messages/%d" % answer["id"], method="PATCH",
                    json={"content": "Replaced"})
    assert r.code == 409 and "still being written by the chat service" in r.json()["error"]
    assert (await fetch("/api/messages/%d" % answer["id"], method="DELETE")).code == 409
    assert (await fetch("/api/messages/%d" % answer["id"])).json()["content"] == "Half an ans"
    await stores.messages.finish(answer["id"], {"status": "complete"})
    r = await fetch("/api/messages/%d" % answer["id"], method="PATCH",
                    json={"content": "Edited"})
    assert r.code == 200 and r.json()["content"] == "Edited"


@pytest.mark.gen_test
async def test_structural_changes_to_a_running_task_answer_409(fetch, orchestrator,
                                                                fake_lmstudio):
    task = await running_task(fetch, fake_lmstudio)
    first, second = task["subtasks"]

    r = await fetch("/api/subtasks", method="POST", json={"taskId": task["id"],
                                                          "title": "Sneaked in"})
    assert r.code == 409, r.text
    assert r.json()["error"] == ("Task %d is running; cancel it before changing its "
                                 "subtasks." % task["id"])
    r = await fetch("/api/subtasks/%d" % second["id"], method="DELETE")
    assert r.code == 409 and "cancel it before changing its subtasks" in r.json()["error"]
    r = await fetch("/api/subtasks/%d" % second["id"], method="PATCH",
                    json={"description": "changed"})
    assert r.code == 409
    r = await fetch("/api/subtasks/%d" % first["id"], method="PATCH",
                    json={"taskId": task["id"]})
    assert r.code == 409
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH",
                    json={"subtasks": [{"title": "Other plan"}]})
    assert r.code == 409 and "cancel it before editing it" in r.json()["error"]
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH", json={"title": "Renamed"})
    assert r.code == 409

    stored = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert [s["title"] for s in stored["subtasks"]] == ["Facts", "Text"]
    assert stored["title"] == "Tea" and orchestrator.is_busy(task["id"])

    # Once the task is cancelled, its plan is the user's again.
    assert (await fetch("/api/tasks/%d/cancel" % task["id"], method="POST")).code == 200
    r = await fetch("/api/subtasks", method="POST", json={"taskId": task["id"],
                                                          "title": "Added"})
    assert r.code == 201, r.text
    assert (await fetch("/api/subtasks/%d" % second["id"], method="DELETE")).code == 204
    stored = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert [s["title"] for s in stored["subtasks"]] == ["Facts", "Added"]


@pytest.mark.gen_test
async def test_a_subtask_cannot_move_into_a_running_task(fetch, orchestrator, fake_lmstudio):
    idle = (await fetch("/api/tasks", method="POST", json={
        "title": "Idle", "subtasks": [{"title": "Mine"}]})).json()
    task = await running_task(fetch, fake_lmstudio)
    r = await fetch("/api/subtasks/%d" % idle["subtasks"][0]["id"], method="PATCH",
                    json={"taskId": task["id"]})
    assert r.code == 409 and "Task %d is running" % task["id"] in r.json()["error"]
    assert (await fetch("/api/subtasks/%d" % idle["subtasks"][0]["id"])).json()[
        "taskId"] == idle["id"]


@pytest.mark.gen_test
async def test_knowledge_of_a_running_task_is_kept_on_the_api_and_the_pages(
        fetch, browser, orchestrator, fake_lmstudio):
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea"})).json()
    source = (await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "T", "content": "Tea."})).json()
    task = await running_task(fetch, fake_lmstudio, knowledgeBaseId=base["id"])

    r = await fetch("/api/knowledge-bases/%d" % base["id"], method="DELETE")
    assert r.code == 409 and "used by task %d" % task["id"] in r.json()["error"]
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="DELETE")
    assert r.code == 409
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "More", "content": "x"})
    assert r.code == 409

    await browser.login()
    r = await browser.post("/knowledge-bases/%d/delete" % base["id"])
    assert r.code == 409 and "used by task %d" % task["id"] in r.text
    r = await browser.post("/knowledge-bases/%d/sources/%d/delete" % (base["id"], source["id"]))
    assert r.code == 409
    r = await browser.post("/knowledge-bases/%d/sources" % base["id"],
                           {"kind": "text", "title": "Kept", "content": "My words"})
    assert r.code == 409 and "used by task %d" % task["id"] in r.text
    assert "My words</textarea>" in r.text  # what the user wrote comes back
    stored = (await fetch("/api/knowledge-bases/%d" % base["id"])).json()
    assert [s["title"] for s in stored["sources"]] == ["T"]

    await fetch("/api/tasks/%d/cancel" % task["id"], method="POST")
    r = await browser.post("/knowledge-bases/%d/sources/%d/delete" % (base["id"], source["id"]))
    assert r.code == 303
    assert (await browser.post("/knowledge-bases/%d/delete" % base["id"])).code == 303
    assert (await fetch("/api/knowledge-bases/%d" % base["id"])).code == 404


@pytest.mark.gen_test
async def test_a_url_patch_refetches_the_source(fetch, app, fake_site):  # noqa: F811
    web = app.settings["services"]["web"]
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "Web"})).json()
    source = (await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "url", "title": "Guide", "render": "static",
        "url": fake_site.url + "/article"})).json()
    await web.wait()
    assert (await fetch("/api/knowledge-sources/%d" % source["id"])).json()["status"] == "ready"

    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"url": fake_site.url + "/plain"})
    assert r.code == 200 and r.json()["status"] == "pending", r.text
    await web.wait()
    fetched = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()
    assert fetched["status"] == "ready" and fetched["content"] == "Plain words, caf\u00e9."
    assert fake_site.hits == ["article", "plain"]

    # A change that leaves the URL alone fetches nothing.
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"title": "Renamed"})
    assert r.code == 200 and r.json()["status"] == "ready"
    await web.wait()
    assert fake_site.hits == ["article", "plain"]

    # So does naming the renderer it already has; another renderer reads the page again.
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"render": "static"})
    assert r.code == 200 and r.json()["status"] == "ready"
    await web.wait()
    assert fake_site.hits == ["article", "plain"]
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"render": "auto"})
    assert r.code == 200 and r.json()["status"] == "pending" and r.json()["render"] == "auto"
    await web.wait()
    assert fake_site.hits == ["article", "plain", "plain"]
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"render": "chrome"})
    assert r.code == 400 and "render" in r.json()["fields"]

    # A URL that fails says so, as the form path does.
    await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                json={"url": fake_site.url + "/missing"})
    await web.wait()
    failed = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()
    assert failed["status"] == "failed" and "404" in failed["error"]


@pytest.mark.gen_test
async def test_pages_and_api_share_one_registry(fetch, browser, app):
    for page in (library.TEMPLATES, library.WORKFLOWS, library.INSTRUCTIONS,
                 knowledge.KNOWLEDGE_BASES, accounts.ACCOUNTS):
        assert page.spec is entities.ENTITIES[page.name]
    # The same row hook runs on both paths: an account's secret is stored encrypted.
    await browser.login()
    r = await browser.post("/accounts/new", {"service": "github", "name": "Form",
                                             "secret": "ghp_formsecret1234", "active": "on"})
    assert r.code == 303
    r = await fetch("/api/accounts", method="POST", json={
        "service": "github", "name": "Api", "secret": "ghp_apisecret5678"})
    assert r.code == 201
    rows = await app.settings["db"].query("SELECT name, credentials FROM external_api_accounts")
    assert len(rows) == 2
    for row in rows:
        assert row["credentials"] and "secret" not in str(row["credentials"])
    listed = (await fetch("/api/accounts")).json()["items"]
    assert sorted(a["secretMasked"][-4:] for a in listed) == ["1234", "5678"]
