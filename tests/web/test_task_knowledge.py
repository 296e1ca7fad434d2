"""Tasks that draw on a knowledge base: prompts, grounding, the check API, pages, deletion."""

import re
import urllib.parse

import pytest

from orchestra.services.lmstudio.text import estimate_tokens
from tests.services.task_script import ModelScript, plan_json, user_text

MODEL = "qwen2.5-7b-instruct"
FACTS = "Sencha is steamed soon after picking. A cup of sencha holds about 30 mg of caffeine."


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Facts", "List facts"),
                                          ("Text", "Write the text", [1]))],
                         steps={"Facts": "Sencha is steamed.", "Text": "Sencha is steamed."})
    fake_lmstudio.default_answer = script
    return script


async def make_base(fetch, name="Tea notes", content=FACTS):
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": name})).json()
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "Sencha", "content": content})
    assert r.code == 201, r.text
    return base


async def run_task(fetch, orchestrator, **values):
    values = dict({"title": "Tea", "description": "Write about sencha.", "autoRun": True},
                  **values)
    r = await fetch("/api/tasks", method="POST", json=values)
    assert r.code == 201, r.text
    await orchestrator.wait(r.json()["id"])
    return (await fetch("/api/tasks/%d" % r.json()["id"])).json()


def step_prompts(script):
    return [body["messages"][-1]["content"] for _, body in script.step_requests]


# -- prompts ------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_every_subtask_prompt_carries_the_base_and_planning_sees_an_excerpt(
        fetch, orchestrator, script):
    base = await make_base(fetch)
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], checkAnswers=False)
    assert task["status"] == "completed" and task["knowledgeBaseId"] == base["id"]
    assert script.titles() == ["Facts", "Text"]
    for prompt in step_prompts(script):
        section = re.search(r'knowledge base "Tea notes".*?<<<REFERENCE\n(.*)\nREFERENCE>>>',
                            prompt, re.S)
        assert section and section.group(1) == "# Sencha\n" + FACTS, prompt
    assert "30 mg of caffeine" in user_text(script.plan_requests[0])


@pytest.mark.gen_test
async def test_a_task_without_a_base_has_no_reference_section(fetch, orchestrator, script):
    await make_base(fetch)
    task = await run_task(fetch, orchestrator, checkAnswers=False)
    assert task["status"] == "completed" and task["knowledgeBaseId"] is None
    assert all("REFERENCE" not in p and "Sencha is steamed soon" not in p
               for p in step_prompts(script))


@pytest.mark.gen_test
async def test_a_long_base_is_cut_to_the_models_context(fetch, orchestrator, script,
                                                        fake_lmstudio):
    fake_lmstudio.model(MODEL)["max_context_length"] = 2048
    words = " ".join("fact%d" % i for i in range(5000))
    base = await make_base(fetch, content=words)
    await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], model=MODEL,
                   checkAnswers=False, subtasks=[{"title": "Facts"}])
    prompt = step_prompts(script)[0]
    assert "fact0 fact1" in prompt and "fact4999" not in prompt
    assert prompt.rstrip().endswith("Your step: Facts") and "\nREFERENCE>>>" in prompt
    assert estimate_tokens(prompt) < 2048 // 2 + 100   # half the window, with the headings


# -- grounding ----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_answers_are_grounded_in_the_base_whatever_their_kind(fetch, orchestrator,
                                                                    script):
    base = await make_base(fetch)
    script.steps = {"Wrong": "A cup of sencha holds about 70 mg of caffeine.",
                    "Right": "A cup of sencha holds about 30 mg of caffeine."}
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], subtasks=[
        {"title": "Wrong", "kind": "answer"}, {"title": "Right", "kind": "extract"}])
    wrong, right = task["subtasks"]
    assert wrong["verdict"]["verdict"] != "ok" and wrong["score"] < 0.8
    assert wrong["verdict"]["flags"][0]["method"] == "grounding"
    assert "70" in wrong["verdict"]["flags"][0]["reason"]
    assert right["verdict"]["verdict"] == "ok" and right["verdict"]["checks"]["grounding"] == 1
    # Grounded in the base, the answers need no self-consistency samples.
    assert script.sample_requests == []


@pytest.mark.gen_test
async def test_dependency_results_count_as_sources_too(fetch, orchestrator, script):
    base = await make_base(fetch)
    script.steps = {"Count": "There are 12 tins.", "Use": "The 12 tins hold sencha."}
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], subtasks=[
        {"title": "Count"}, {"title": "Use", "dependsOn": [0]}])
    count, use = task["subtasks"]
    assert count["verdict"]["verdict"] != "ok"      # 12 is in neither the base nor earlier
    assert use["verdict"]["verdict"] == "ok", use["verdict"]


# -- the API ------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_an_unknown_base_is_refused_and_nothing_is_written(fetch, orchestrator, script):
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "knowledgeBaseId": 999, "autoRun": True})
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}
    assert (await fetch("/api/tasks")).json()["total"] == 0 and script.plan_requests == []
    created = (await fetch("/api/tasks", method="POST", json={"title": "Tea"})).json()
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"knowledgeBaseId": 999})
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}
    base = await make_base(fetch)
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"knowledgeBaseId": base["id"]})
    assert r.code == 200 and r.json()["knowledgeBaseId"] == base["id"]


@pytest.mark.gen_test
async def test_deleting_the_base_keeps_the_task_without_it(fetch, orchestrator):
    base = await make_base(fetch)
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "knowledgeBaseId": base["id"]})).json()
    assert created["knowledgeBaseId"] == base["id"]
    assert (await fetch("/api/knowledge-bases/%d" % base["id"], method="DELETE")).code == 204
    r = await fetch("/api/tasks/%d" % created["id"])
    assert r.code == 200 and r.json()["knowledgeBaseId"] is None


@pytest.mark.gen_test
async def test_check_grounds_a_text_in_a_base(fetch):
    base = await make_base(fetch)
    r = await fetch("/api/check", method="POST", json={
        "text": "Most of it is grown around Shizuoka. A cup holds about 30 mg of caffeine. "
                "A large cup holds about 70 mg of caffeine.",
        "knowledgeBaseId": base["id"], "sources": ["Much sencha comes from Shizuoka."]})
    assert r.code == 200, r.text
    report = r.json()   # one sentence grounded in the given sources, one in the base
    assert report["verdict"] != "ok" and report["checks"]["grounding"] == 0.667
    assert report["flags"] == [{"sentence": "A large cup holds about 70 mg of caffeine.",
                                "reason": "The sources give 30 for this, not 70.",
                                "method": "grounding"}]
    r = await fetch("/api/check", method="POST", json={
        "text": "A cup of sencha holds about 30 mg of caffeine.", "knowledgeBaseId": base["id"]})
    assert r.json()["verdict"] == "ok" and r.json()["checks"]["grounding"] == 1
    r = await fetch("/api/check", method="POST", json={"text": "x", "knowledgeBaseId": 999})
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}


# -- pages --------------------------------------------------------------------------------------

def form(**fields):
    return {"body": urllib.parse.urlencode(fields),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.mark.gen_test
async def test_new_task_form_offers_the_bases_and_the_task_page_links_its_base(
        fetch, orchestrator):
    base = await make_base(fetch, name="Tea <notes>")
    page = await fetch("/tasks/new")
    assert page.code == 200 and 'name="knowledgeBaseId"' in page.text
    assert '<option value="%d">Tea &lt;notes&gt;</option>' % base["id"] in page.text
    r = await fetch("/tasks/new", method="POST",
                    **form(title="Tea", knowledgeBaseId="999"))
    assert r.code == 400 and "No such record." in r.text
    assert (await fetch("/api/tasks")).json()["total"] == 0
    r = await fetch("/tasks/new", method="POST",
                    **form(title="Tea", knowledgeBaseId=str(base["id"])))
    assert r.code == 302, r.text
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert (await fetch("/api/tasks/%d" % task_id)).json()["knowledgeBaseId"] == base["id"]
    page = await fetch("/tasks/%d" % task_id)
    assert '<a href="/knowledge-bases/%d">Tea &lt;notes&gt;</a>' % base["id"] in page.text
    r = await fetch("/tasks/new", method="POST", **form(title="Plain", knowledgeBaseId=""))
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert (await fetch("/api/tasks/%d" % task_id)).json()["knowledgeBaseId"] is None
    assert "/knowledge-bases/" not in (await fetch("/tasks/%d" % task_id)).text


@pytest.mark.gen_test
async def test_workflow_steps_get_the_base_before_their_prompt(fetch, orchestrator, script):
    base = await make_base(fetch)
    workflow = (await fetch("/api/workflows", method="POST", json={
        "name": "Article", "steps": [{"name": "Outline", "prompt": "OUTLINE {{topic}}"}]})).json()
    created = (await fetch("/api/workflows/%d/run" % workflow["id"], method="POST", json={
        "variables": {"topic": "sencha"}, "checkAnswers": False, "autoRun": False})).json()
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"knowledgeBaseId": base["id"]})
    assert r.code == 200, r.text
    script.steps = {"OUTLINE": "1. steaming"}
    await fetch("/api/tasks/%d/run" % created["id"], method="POST")
    await orchestrator.wait(created["id"])
    prompt = step_prompts(script)[0]
    assert prompt.startswith('Reference material from the knowledge base "Tea notes"')
    assert prompt.endswith("%s\nREFERENCE>>>\n\nOUTLINE sencha" % FACTS)
