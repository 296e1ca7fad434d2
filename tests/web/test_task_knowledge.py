"""Tasks that draw on a knowledge base: prompts, grounding, the check API, pages, deletion.

(tests/services/test_orchestrator_knowledge.py follows retrieval per subtask in detail.)
"""

import urllib.parse

import pytest

from orchestra.services.knowledge.prompting import CITE_INSTRUCTIONS
from orchestra.services.lmstudio.text import estimate_tokens
from tests.services.task_script import ModelScript, plan_json, user_text

MODEL = "qwen2.5-7b-instruct"
FACTS = "Sencha is steamed soon after picking. A cup of sencha holds about 30 mg of caffeine."


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Facts", "List sencha facts"),
                                          ("Text", "Write the sencha text", [1]))],
                         steps={"Facts": "Sencha is steamed [1].",
                                "Text": "Sencha is steamed [1]."})
    fake_lmstudio.default_answer = script
    return script


@pytest.fixture
def knowledge(app):
    return app.settings["services"]["knowledge"]


async def make_base(fetch, knowledge, name="Tea notes", content=FACTS):
    """A base with one text source, indexed."""
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": name})).json()
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "Sencha", "content": content})
    assert r.code == 201, r.text
    await knowledge.wait()
    return base


async def run_task(fetch, orchestrator, **values):
    values = dict({"title": "Tea", "description": "Write about sencha.", "autoRun": True},
                  **values)
    r = await fetch("/api/tasks", method="POST", json=values)
    assert r.code == 201, r.text
    await orchestrator.wait(r.json()["id"])
    return (await fetch("/api/tasks/%d" % r.json()["id"])).json()


def step_prompts(script):
    return [body["messages"][-1]["content"] for title, body in script.step_requests
            if title is not None]


# -- prompts ------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_every_subtask_prompt_carries_its_passages_and_planning_sees_an_excerpt(
        fetch, orchestrator, script, knowledge):
    base = await make_base(fetch, knowledge)
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], checkAnswers=False)
    assert task["status"] == "completed" and task["knowledgeBaseId"] == base["id"]
    assert script.titles() == ["Facts", "Text"]
    for prompt in step_prompts(script):
        assert CITE_INSTRUCTIONS in prompt and "\n[1] Sencha\n" in prompt and FACTS in prompt
    plan = user_text(script.plan_requests[0])
    assert "30 mg of caffeine" in plan and 'passages of the knowledge base "Tea notes"' in plan


@pytest.mark.gen_test
async def test_a_task_without_a_base_has_no_sources(fetch, orchestrator, script, knowledge):
    await make_base(fetch, knowledge)
    task = await run_task(fetch, orchestrator, checkAnswers=False)
    assert task["status"] == "completed" and task["knowledgeBaseId"] is None
    assert all(CITE_INSTRUCTIONS not in p and "Sencha is steamed soon" not in p
               for p in step_prompts(script))
    assert all(s["verdict"] is None for s in task["subtasks"])


@pytest.mark.gen_test
async def test_the_passages_of_a_long_base_fit_the_models_context(fetch, orchestrator, script,
                                                                  fake_lmstudio, knowledge):
    fake_lmstudio.model(MODEL)["max_context_length"] = 2048
    facts = "\n\n".join("Sencha fact %d: the %d-th harvest was steamed." % (i, i)
                         for i in range(3000))
    base = await make_base(fetch, knowledge, content=facts)
    await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], model=MODEL,
                   checkAnswers=False, subtasks=[{"title": "Facts",
                                                  "description": "Sencha harvest facts"}])
    prompt = step_prompts(script)[0]
    assert "[1] Sencha" in prompt and "Sencha fact" in prompt
    assert prompt.rstrip().endswith("Your step: Facts\nSencha harvest facts")
    assert estimate_tokens(prompt) < 2048 // 2 + 200   # half the window, with the headings


# -- grounding ----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_answers_are_grounded_in_the_base_whatever_their_kind(fetch, orchestrator,
                                                                    script, knowledge):
    base = await make_base(fetch, knowledge)
    script.steps = {"Wrong": "A cup of sencha holds about 70 mg of caffeine [1].",
                    "Right": "A cup of sencha holds about 30 mg of caffeine [1]."}
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], subtasks=[
        {"title": "Wrong", "description": "Caffeine in a cup of sencha", "kind": "answer"},
        {"title": "Right", "description": "Caffeine in a cup of sencha", "kind": "extract"}])
    wrong, right = task["subtasks"]
    assert wrong["verdict"]["verdict"] != "ok" and wrong["score"] < 0.8
    assert wrong["verdict"]["flags"][0]["method"] == "grounding"
    assert "70" in wrong["verdict"]["flags"][0]["reason"]
    assert right["verdict"]["verdict"] == "ok" and right["verdict"]["checks"]["grounding"] == 1
    assert right["verdict"]["sources"][0]["sourceTitle"] == "Sencha"
    # Grounded in the base, the answers need no self-consistency samples.
    assert script.sample_requests == []


@pytest.mark.gen_test
async def test_dependency_results_count_as_sources_too(fetch, orchestrator, script,
                                                       knowledge):
    base = await make_base(fetch, knowledge)
    script.steps = {"Count": "There are 12 tins.", "Use": "The 12 tins hold sencha."}
    task = await run_task(fetch, orchestrator, knowledgeBaseId=base["id"], subtasks=[
        {"title": "Count"},
        {"title": "Use", "description": "What the tins of sencha hold", "dependsOn": [0]}])
    count, use = task["subtasks"]
    assert count["verdict"]["verdict"] != "ok"      # 12 is in neither the base nor earlier
    # Taken from the step before, the figure needs no marker: no passage gives it.
    assert use["verdict"]["verdict"] == "ok", use["verdict"]


# -- the API ------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_an_unknown_base_is_refused_and_nothing_is_written(fetch, orchestrator, script,
                                                                 knowledge):
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "knowledgeBaseId": 999, "autoRun": True})
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}
    assert (await fetch("/api/tasks")).json()["total"] == 0 and script.plan_requests == []
    created = (await fetch("/api/tasks", method="POST", json={"title": "Tea"})).json()
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"knowledgeBaseId": 999})
    assert r.code == 400 and r.json()["fields"] == {"knowledgeBaseId": ["No such record."]}
    base = await make_base(fetch, knowledge)
    r = await fetch("/api/tasks/%d" % created["id"], method="PATCH",
                    json={"knowledgeBaseId": base["id"]})
    assert r.code == 200 and r.json()["knowledgeBaseId"] == base["id"]


@pytest.mark.gen_test
async def test_deleting_the_base_keeps_the_task_without_it(fetch, orchestrator, knowledge):
    base = await make_base(fetch, knowledge)
    created = (await fetch("/api/tasks", method="POST", json={
        "title": "Tea", "knowledgeBaseId": base["id"]})).json()
    assert created["knowledgeBaseId"] == base["id"]
    assert (await fetch("/api/knowledge-bases/%d" % base["id"], method="DELETE")).code == 204
    r = await fetch("/api/tasks/%d" % created["id"])
    assert r.code == 200 and r.json()["knowledgeBaseId"] is None


@pytest.mark.gen_test
async def test_check_grounds_a_text_in_a_base(fetch, knowledge):
    base = await make_base(fetch, knowledge)
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
    # The base's passages about the sentences follow the given sources, numbered on.
    assert [(s["n"], s["sourceTitle"]) for s in report["sources"]] == [(2, "Sencha")]
    assert report["claims"][1]["evidence"][0]["source"] == 1
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
        fetch, orchestrator, knowledge):
    base = await make_base(fetch, knowledge, name="Tea <notes>")
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
async def test_workflow_steps_get_their_passages_before_their_prompt(fetch, orchestrator,
                                                                     script, knowledge):
    base = await make_base(fetch, knowledge)
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
    assert prompt.startswith(CITE_INSTRUCTIONS)
    assert prompt.endswith("[1] Sencha\n%s\n\nOUTLINE sencha" % FACTS)
