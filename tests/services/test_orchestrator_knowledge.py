"""Tasks and workflow runs over a knowledge base: each subtask is shown the passages retrieved
for it, numbered, and its check grounds the answer in exactly those and asks for citations.

Sources go in through the API (which has the knowledge service index them); the fake LM Studio
records what each step was sent. Every source keeps its own words, so which passages a step's
search finds is known: the sencha source shares words with the sencha steps, the others none.
Each source is one paragraph under its heading, a passage of its own however it is chunked.
"""

import re

import pytest

from orchestra.services.knowledge.prompting import CITE_INSTRUCTIONS, NOT_FOUND_INSTRUCTIONS
from tests.services.task_script import ModelScript

SOURCES = {
    "Sencha": "# Sencha\n\nSencha is steamed soon after picking. A cup of sencha holds about "
              "30 mg of caffeine. Shizuoka grows much of the sencha harvest.",
    "Matcha": "# Matcha\n\nMatcha is ground from shaded tencha leaves. Uji has milled it "
              "with granite stones since 1738.",
    "Bicycles": "# Bicycles\n\nBicycle chains want oil every 300 kilometres. A road "
                "bicycle weighs about 8 kilograms.",
}
CAFFEINE = "A cup of sencha holds about 30 mg of caffeine."
STEAMED = "Sencha is steamed soon after picking."
MATCHA = "Matcha is ground from shaded tencha leaves."


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript()
    fake_lmstudio.default_answer = script
    return script


@pytest.fixture
def knowledge(app):
    return app.settings["services"]["knowledge"]


async def make_base(fetch, knowledge, sources=SOURCES):
    base = (await fetch("/api/knowledge-bases", method="POST",
                        json={"name": "Tea and bikes"})).json()
    ids = {}
    for title, content in sources.items():
        r = await fetch("/api/knowledge-sources", method="POST", json={
            "knowledgeBaseId": base["id"], "kind": "text", "title": title,
            "content": content})
        assert r.code == 201, r.text
        ids[title] = r.json()["id"]
    await knowledge.wait()
    return base["id"], ids


async def run(orchestrator, **values):
    values = dict({"title": "Tea notes", "description": "", "check_answers": True}, **values)
    task = await orchestrator.create_task(values)
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    return await orchestrator.stores.tasks.get(task["id"])


def prompts_of(script, title):
    """The user content of each request the step `title` made (the first ask, then re-asks)."""
    return [[m["content"] for m in body["messages"] if m["role"] == "user"]
            for name, body in script.step_requests if name == title]


def numbered(prompt):
    """{n: title} of the sources a prompt lists as "[n] Title › ..."."""
    return {int(n): title for n, title in re.findall(r"^\[(\d+)\] ([^\n›]+?)(?: ›|\n)",
                                                       prompt, re.M)}


# -- what a step is shown ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_each_step_is_shown_only_the_passages_retrieved_for_it(
        fetch, orchestrator, knowledge, script):
    base_id, ids = await make_base(fetch, knowledge)
    script.steps = {"Caffeine figure": CAFFEINE + " [1]", "Tencha milling": MATCHA + " [1]"}
    task = await run(orchestrator, knowledge_base_id=base_id, check_answers=False, subtasks=[
        {"title": "Caffeine figure", "description": "How much caffeine is in a cup?"},
        {"title": "Tencha milling", "description": "What is matcha ground from, in Uji?"}])
    assert task["status"] == "completed", task["error"]
    caffeine = prompts_of(script, "Caffeine figure")[0][0]
    tencha = prompts_of(script, "Tencha milling")[0][0]
    # Numbered passages with the instructions to cite them, in place of the whole base.
    assert CITE_INSTRUCTIONS in caffeine and numbered(caffeine) == {1: "Sencha"}
    assert "about 30 mg of caffeine" in caffeine and "tencha" not in caffeine
    assert "Bicycle" not in caffeine
    assert numbered(tencha) == {1: "Matcha"} and "granite stones" in tencha
    assert "caffeine" not in tencha and "Bicycle" not in tencha
    assert caffeine.index("Overall task") < caffeine.index("[1] Sencha") < caffeine.index(
        "Your step: Caffeine figure")
    # Unchecked, each report still lists the passages it was shown, and which it cites.
    first, second = task["subtasks"]
    assert first["verdict"] == {"sources": [{
        "n": 1, "chunkId": first["verdict"]["sources"][0]["chunkId"],
        "sourceId": ids["Sencha"], "sourceTitle": "Sencha", "knowledgeBaseId": base_id,
        "headingPath": first["verdict"]["sources"][0]["headingPath"], "cited": True}]}
    assert [s["sourceId"] for s in second["verdict"]["sources"]] == [ids["Matcha"]]
    assert first["score"] is None and first["status"] == "completed"
    hits = await knowledge.search([base_id], "caffeine cup sencha")
    assert first["verdict"]["sources"][0]["chunkId"] == hits[0]["chunk_id"]
    # The page lists them, each a link to the passage on its source's page.
    page = (await fetch("/tasks/%d" % task["id"])).text
    link = '<a href="/knowledge-bases/%d/sources/%d#chunk-%d">Sencha</a>' % (
        base_id, ids["Sencha"], first["verdict"]["sources"][0]["chunkId"])
    assert "Passages shown:" in page and link in page


@pytest.mark.gen_test
async def test_a_step_no_passage_matches_is_told_to_say_so(fetch, orchestrator, knowledge,
                                                           script):
    base_id, _ = await make_base(fetch, knowledge)
    script.steps = {"Zygomorphic": "That is not in the knowledge base."}
    task = await run(orchestrator, title="Flora", knowledge_base_id=base_id, subtasks=[
        {"title": "Zygomorphic", "description": "Explain zygomorphic orchids."}])
    prompt = prompts_of(script, "Zygomorphic")[0][0]
    assert NOT_FOUND_INSTRUCTIONS in prompt and CITE_INSTRUCTIONS not in prompt
    assert numbered(prompt) == {} and "Sencha" not in prompt
    subtask = task["subtasks"][0]
    assert subtask["verdict"]["sources"] == []
    # Saying so is no claim to flag; with nothing checkable, the answer waits for the user.
    assert subtask["verdict"]["flags"] == [] and subtask["verdict"]["claims"] == []
    assert subtask["verdict"]["verdict"] == "unchecked"
    page = (await fetch("/tasks/%d" % task["id"])).text
    assert "No passage of the knowledge base matched this step." in page


# -- the check ----------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_the_check_grounds_in_exactly_the_passages_shown(fetch, orchestrator, knowledge,
                                                               script):
    base_id, ids = await make_base(fetch, knowledge)
    # The second sentence is true of the base, but of a passage this step was not shown.
    script.steps = {"Caffeine figure": "%s [1] %s [1]" % (CAFFEINE, MATCHA)}
    task = await run(orchestrator, knowledge_base_id=base_id, subtasks=[
        {"title": "Caffeine figure", "description": "How much caffeine is in a cup?"}])
    report = task["subtasks"][0]["verdict"]
    assert [s["sourceId"] for s in report["sources"]] == [ids["Sencha"]]
    verdicts = {c["text"]: c["verdict"] for c in report["claims"]}
    assert verdicts == {CAFFEINE: "supported", MATCHA: verdicts[MATCHA]}
    assert verdicts[MATCHA] != "supported"
    assert report["grounded"] and report["verdict"] != "ok" and script.sample_requests == []
    supported = next(c for c in report["claims"] if c["text"] == CAFFEINE)
    assert supported["evidence"][0] == {"text": CAFFEINE, "source": 0}    # that is [1]
    assert task["subtasks"][0]["status"] == "needs_review"


@pytest.mark.gen_test
async def test_an_uncited_factual_sentence_is_flagged(fetch, orchestrator, knowledge, script):
    base_id, ids = await make_base(fetch, knowledge)
    answer = "%s [1] %s" % (CAFFEINE, STEAMED)

    def cites_when_told(body):
        told = any("Cite the numbered source" in m["content"] for m in body["messages"])
        return "%s [1] %s [1]" % (CAFFEINE, STEAMED) if told else answer

    script.steps = {"Caffeine figure": answer, "Steaming": cites_when_told}
    task = await run(orchestrator, knowledge_base_id=base_id, subtasks=[
        {"title": "Caffeine figure", "description": "How much caffeine is in a cup of sencha?"},
        {"title": "Steaming", "description": "When is sencha steamed? How much caffeine?"}])
    stubborn, corrected = task["subtasks"]
    # Asked again with the flag, the first step still cites nothing for one sentence.
    feedback = prompts_of(script, "Caffeine figure")[1][-1]
    assert '"%s": Cites no source, though [1] supports it.' % STEAMED in feedback
    assert "Cite the numbered source of each statement as [n]" in feedback
    assert stubborn["status"] == "needs_review" and stubborn["verdict"]["verdict"] == "suspect"
    assert [f for f in stubborn["verdict"]["flags"] if f.get("code") == "uncited"] == [{
        "sentence": STEAMED, "reason": "Cites no source, though [1] supports it.",
        "method": "citation", "code": "uncited"}]
    assert stubborn["verdict"]["checks"]["grounding"] == 1   # right, but not traceable
    # The other step cites when told, and its cited answer scores better and is kept.
    assert corrected["status"] == "completed" and corrected["verdict"]["verdict"] == "ok"
    assert corrected["result"].endswith(STEAMED + " [1]")
    assert corrected["verdict"]["reasked"] == 1
    assert corrected["verdict"]["first"]["verdict"] == "suspect"
    assert corrected["verdict"]["sources"][0]["cited"] is True
    page = (await fetch("/tasks/%d" % task["id"])).text
    assert ('<li data-code="uncited">“%s” — Cites no source, though [1] supports it.' % STEAMED
            in page)


# -- workflow runs ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_workflow_run_with_a_base_retrieves_per_step(fetch, orchestrator, knowledge,
                                                            script):
    base_id, ids = await make_base(fetch, knowledge)
    workflow = (await fetch("/api/workflows", method="POST", json={
        "name": "Article", "steps": [
            {"name": "Figure", "prompt": "FIGURE: the caffeine in a cup of {{topic}}"},
            {"name": "Milling", "prompt": "MILLING: how is matcha made in Uji?"}]})).json()
    script.steps = {"FIGURE": "%s %s" % (CAFFEINE, STEAMED),
                    "MILLING": MATCHA + " [1]"}
    created = await orchestrator.run_workflow(workflow["id"], {"topic": "sencha"},
                                              knowledge_base_id=base_id, auto_run=False)
    await orchestrator.run(created["id"])
    await orchestrator.wait(created["id"])
    task = await orchestrator.stores.tasks.get(created["id"])
    figure = prompts_of(script, "FIGURE")[0][0]
    assert figure.startswith(CITE_INSTRUCTIONS) and numbered(figure) == {1: "Sencha"}
    assert figure.endswith("\n\nFIGURE: the caffeine in a cup of sencha")
    assert "granite" not in figure and "Bicycle" not in figure
    milling = prompts_of(script, "MILLING")[0][0]
    assert numbered(milling) == {1: "Matcha"} and "caffeine" not in milling
    first, second = task["subtasks"]
    assert [s["sourceId"] for s in first["verdict"]["sources"]] == [ids["Sencha"]]
    assert {f["sentence"] for f in first["verdict"]["flags"] if f.get("code") == "uncited"} == {
        CAFFEINE, STEAMED}
    assert second["verdict"]["verdict"] == "ok" and second["status"] == "completed"
    assert second["verdict"]["sources"][0]["sourceId"] == ids["Matcha"]
