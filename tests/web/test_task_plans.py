"""Plans over HTTP: planSource in the task API and page, and hand-written plans refused with
the fields named (API and the new-task form)."""

import urllib.parse

import pytest

from tests.services.task_script import ModelScript, plan_json

CYCLE = "The dependencies form a cycle (0 \u2192 1 \u2192 0), so no subtask on it could start."


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Haiku", "Write it", [], "creative"),
                                          ("French", "Translate it", [1], "translate"))])
    fake_lmstudio.default_answer = script
    return script


def form(**fields):
    return {"body": urllib.parse.urlencode(fields),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


async def create(fetch, **values):
    return await fetch("/api/tasks", method="POST", json=dict({"title": "Haiku"}, **values))


@pytest.mark.gen_test
async def test_plan_source_is_shown_for_model_and_hand_written_plans(fetch, orchestrator,
                                                                      script):
    task = (await create(fetch, checkAnswers=False)).json()
    assert task["planSource"] is None
    await fetch("/api/tasks/%d/plan" % task["id"], method="POST", body="")
    await orchestrator.wait(task["id"])
    task = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert task["planSource"] == "model"
    assert [s["kind"] for s in task["subtasks"]] == ["creative", "translate"]
    page = await fetch("/tasks/%d" % task["id"])
    assert "Plan: by the model" in page.text and "[translate] French: Translate it" in page.text
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH", json={"subtasks": [
        {"title": "Only", "kind": "extract"}]})
    assert r.code == 200 and r.json()["planSource"] == "manual"
    assert "Plan: written by hand" in (await fetch("/tasks/%d" % task["id"])).text


@pytest.mark.gen_test
async def test_bad_hand_written_plans_are_refused_with_the_fields_named(fetch):
    cases = [
        ([{"title": "A", "kind": "poem"}],
         {"0": {"kind": ["Must be one of: answer, summarize, translate, extract, code, "
                         "creative, tool."]}}),
        ([{"title": "A", "dependsOn": [1]}, {"title": "B", "dependsOn": [0]}],
         {"0": {"dependsOn": [CYCLE]}, "1": {"dependsOn": [CYCLE]}}),
        ([{"title": "A"}, {"title": "B", "dependsOn": [7]}],
         {"1": {"dependsOn": ["No subtask at position 7; positions run from 0 to 1."]}}),
        ([{"title": "A", "dependsOn": [0]}],
         {"0": {"dependsOn": ["A subtask cannot depend on itself."]}}),
    ]
    for subtasks, fields in cases:
        r = await create(fetch, subtasks=subtasks)
        assert r.code == 400, subtasks
        assert r.json()["fields"] == {"subtasks": fields}
    assert (await fetch("/api/tasks")).json()["total"] == 0
    task = (await create(fetch, subtasks=[{"title": "A", "dependsOn": [1]},
                                          {"title": "B", "kind": None}])).json()
    assert [(s["kind"], s["dependsOn"]) for s in task["subtasks"]] == [
        ("answer", [1]), ("answer", [])]  # a forward dependency is kept as written
    r = await fetch("/api/tasks/%d" % task["id"], method="PATCH", json={"subtasks": [
        {"title": "A", "dependsOn": [1]}, {"title": "B", "dependsOn": [0]}]})
    assert r.code == 400 and r.json()["fields"]["subtasks"]["1"] == {"dependsOn": [CYCLE]}
    stored = (await fetch("/api/tasks/%d" % task["id"])).json()
    assert [s["dependsOn"] for s in stored["subtasks"]] == [[1], []]


@pytest.mark.gen_test
async def test_new_task_form_takes_kinds_and_names_the_bad_line(fetch, orchestrator):
    r = await fetch("/tasks/new", method="POST", **form(
        title="Haiku", subtasks="[creative] Haiku: write one\n[dance] French: translate it"))
    assert r.code == 400 and "Line 2: Must be one of: answer" in r.text
    assert (await fetch("/api/tasks")).json()["total"] == 0
    r = await fetch("/tasks/new", method="POST", **form(
        title="Haiku", subtasks="[creative] Haiku: write one\nFrench: translate it"))
    assert r.code == 302
    task = (await fetch(r.headers["Location"].replace("/tasks/", "/api/tasks/"))).json()
    assert task["planSource"] == "manual"
    assert [(s["title"], s["kind"], s["dependsOn"]) for s in task["subtasks"]] == [
        ("Haiku", "creative", []), ("French", "answer", [0])]
