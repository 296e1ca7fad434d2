"""Tool steps in tasks, against the fake LM Studio and the app's real services: the planner
is offered the catalogue, its tool steps are checked (an unknown tool or bad arguments go
back to it), and a tool step runs without a model, its text feeding the steps after it."""

import json

import pytest

from orchestra.app import close_app, make_app
from orchestra.services.orchestrator_plan import PlanError, parse_plan
from orchestra.services.tools.registry import default_registry
from tests.fakes.site_static import static_site  # noqa: F401 - a fixture
from tests.knowledge_helpers import add_base, add_text
from tests.services.task_script import ModelScript

MODEL = "qwen2.5-7b-instruct"


def step(id, title, instructions, kind="answer", depends=(), tool=None, args=None):
    return {"id": id, "title": title, "instructions": instructions, "kind": kind,
            "tool": tool, "args": args if args is not None else {}, "dependsOn": list(depends)}


def plan(*steps):
    return json.dumps({"subtasks": list(steps)})


@pytest.fixture
def app(config, io_loop):
    """The app, its web service without the pause between requests to one host."""
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application))


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript()
    fake_lmstudio.default_answer = script
    return script


async def planned_and_run(orchestrator, title, description="", **values):
    task = await orchestrator.create_task(dict(values, title=title, description=description,
                                               check_answers=False, model=MODEL))
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    return await orchestrator.stores.tasks.get(task["id"])


def completions(fake):
    return [body for path, body in fake.requests if path.endswith("/chat/completions")]


# -- planning ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_the_planner_is_offered_the_tools_that_suit_the_task(orchestrator, script):
    script.plans = [plan(step(1, "Answer", "Read it."))]
    await planned_and_run(orchestrator, "Read https://example.com/news and say what is new")
    asked = script.plan_requests[0]
    system = asked["messages"][0]["content"]
    # a task that names a URL is offered the web tools; without a knowledge base, no search
    web = [entry for entry in orchestrator.tools.catalogue() if entry["name"].startswith("web.")]
    for entry in web:
        assert "- %s: %s" % (entry["name"], entry["description"]) in system
    assert "knowledge.search" not in system
    assert "    url (string, a URL, required): The page's address" in system
    assert "  tool: run one of the tools" in system
    # the worked example of a tool step comes as an earlier turn
    examples = [json.loads(m["content"])["subtasks"] for m in asked["messages"]
                if m["role"] == "assistant"]
    assert ["web.fetch", None] in [[s["tool"] for s in e] for e in examples]
    item = asked["response_format"]["json_schema"]["schema"]["properties"]["subtasks"]["items"]
    assert item["properties"]["tool"]["enum"] == [e["name"] for e in web] + [None]
    assert {"tool", "args"} <= set(item["required"])

    # a task with a knowledge base is offered knowledge.search; one with neither, no tool
    base = await orchestrator.stores.knowledge_bases.create({"name": "Notes",
                                                             "description": ""})
    task = await orchestrator.create_task({"title": "Sum up the notes", "description": "",
                                           "knowledge_base_id": base["id"]})
    await orchestrator.plan(task["id"])
    await orchestrator.wait(task["id"])
    schema = script.plan_requests[1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["subtasks"]["items"]["properties"]["tool"]["enum"] == [
        "knowledge.search", None]
    await planned_and_run(orchestrator, "Say hello")
    assert "tool" not in script.plan_requests[2]["messages"][0]["content"]


@pytest.mark.gen_test
async def test_unknown_tools_and_bad_arguments_go_back_to_the_model(orchestrator, script):
    script.plans = [
        plan(step(1, "Look it up", "Search.", "tool", tool="web.google",
                  args={"q": "tea"})),
        plan(step(1, "Look it up", "Search.", "tool", tool="knowledge.search",
                  args={"q": "tea"})),
        plan(step(1, "Look it up", "Search the notes.", "tool", tool="knowledge.search",
                  args={"query": "tea"}),
             step(2, "Answer", "Answer from what was found.", depends=[1]))]
    base = await orchestrator.stores.knowledge_bases.create({"name": "Tea", "description": ""})
    task = await orchestrator.create_task({"title": "Tea notes", "description": "",
                                           "knowledge_base_id": base["id"]})
    await orchestrator.plan(task["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["plan_source"] == "model" and task["note"] is None
    assert [(s["kind"], s["tool"], s["args"]) for s in task["subtasks"]] == [
        ("tool", "knowledge.search", {"query": "tea"}), ("answer", None, None)]
    feedback = [r["messages"][-1]["content"] for r in script.plan_requests[1:]]
    assert ("Subtask 1: There is no tool called 'web.google'; the tools are: "
            "knowledge.search.") in feedback[0]
    assert "Subtask 1: Invalid arguments for knowledge.search. query: Missing data for " \
           "required field. q: Unknown field." in feedback[1]


def test_tool_steps_are_read_from_a_plan_only_when_tools_are_offered():
    tools = default_registry()
    items = {"subtasks": [
        {"id": 1, "title": "Read", "kind": "answer", "tool": "web.fetch",
         "args": {"url": "https://example.com/", "render": None}},
        {"id": 2, "title": "Sum up", "kind": "summarize", "tool": None, "args": {},
         "dependsOn": [1]},
        {"id": 3, "title": "Think", "kind": "tool", "tool": "", "args": {}}]}
    with pytest.raises(PlanError, match='Subtask 3: It is of kind "tool" but "tool" names '
                                        "no tool; the tools are: web.fetch, "):
        parse_plan(items, tools)
    items["subtasks"].pop()
    read, summary = parse_plan(items, tools)
    # naming a tool makes a tool step; a null argument means its default
    assert (read["kind"], read["tool"], read["args"]) == (
        "tool", "web.fetch", {"url": "https://example.com/"})
    assert (summary["kind"], summary["tool"], summary["args"]) == ("summarize", None, None)
    # without tools, a model does every step
    items["subtasks"].append({"id": 3, "title": "Think", "kind": "tool"})
    assert [(p["kind"], p["tool"]) for p in parse_plan(items)] == [
        ("answer", None), ("summarize", None), ("answer", None)]


# -- running -------------------------------------------------------------------------------

SUMMARY = ("Feed a sourdough starter daily on the counter, weekly in the refrigerator, "
           "keeping fifty grams.")


@pytest.mark.gen_test
async def test_fetch_a_page_then_summarise_it(fetch, orchestrator, script, static_site,
                                              fake_lmstudio):
    """End to end over HTTP: the model plans a web.fetch step and a summary; the fetch runs
    the tool against the local site, and the summary step is given the page's text."""
    url = static_site.url + "/article"
    script.plans = [plan(
        step(1, "Read the page", "Fetch %s." % url, "tool", tool="web.fetch",
             args={"url": url}),
        step(2, "Summary", "Summarise the page in one sentence.", "summarize", depends=[1]))]
    script.steps = {"Summary": SUMMARY}
    r = await fetch("/api/tasks", method="POST", json={
        "title": "Fetch %s, then summarise it" % url, "model": MODEL, "autoRun": True})
    assert r.code == 201, r.text
    await orchestrator.wait(r.json()["id"])
    task = (await fetch("/api/tasks/%d" % r.json()["id"])).json()
    assert task["status"] == "completed", task["error"]
    read, summary = task["subtasks"]
    assert (read["kind"], read["tool"], read["args"]) == ("tool", "web.fetch", {"url": url})
    assert read["status"] == "completed" and read["model"] is None
    assert read["verdict"] == {"verdict": "ok", "tool": "web.fetch"}  # its own success
    assert read["result"].startswith("# Tending a Sourdough Starter\n\nA sourdough starter")
    assert summary["dependsOn"] == [0] and summary["result"] == SUMMARY
    assert summary["verdict"]["verdict"]  # the summary is checked as any answer is
    assert task["result"] == SUMMARY
    assert static_site.hits.count("/article") == 1
    # the summary step was asked with the page's text as the result it builds on
    prompt = script.step_requests[0][1]["messages"][-1]["content"]
    assert script.titles()[0] == "Summary" and "Read the page" not in script.titles()
    assert "## Read the page\n# Tending a Sourdough Starter" in prompt
    assert "Feed the starter once a day when it lives on the counter" in prompt
    assert "Copyright 2024" not in prompt   # the page's main text only
    # no model was asked to do the fetch: the plan, the summary and its check
    assert not [body for body in completions(fake_lmstudio)
                if "Your step: Read the page" in json.dumps(body)]


@pytest.mark.gen_test
async def test_a_page_that_cannot_be_read_fails_the_step_with_the_services_reason(
        orchestrator, script, static_site):
    url = static_site.url + "/challenge/cloudflare"
    script.plans = [plan(
        step(1, "Read the page", "Fetch it.", "tool", tool="web.fetch", args={"url": url}),
        step(2, "Summary", "Summarise it.", "summarize", depends=[1]))]
    task = await planned_and_run(orchestrator, "Fetch %s, then summarise it" % url)
    read, summary = task["subtasks"]
    assert task["status"] == "failed" and read["status"] == "failed"
    assert read["verdict"] == {"verdict": "failed", "tool": "web.fetch", "code": "blocked"}
    assert task["error"].startswith("Subtask 1 (Read the page) failed: ")
    assert summary["status"] == "pending" and script.titles() == []

@pytest.mark.gen_test
async def test_a_tool_step_runs_without_a_model_and_feeds_the_step_after_it(
        orchestrator, script, fetch, app, fake_lmstudio):
    base = await add_base(fetch, "Tea")
    await add_text(fetch, base, "Sencha", "# Sencha\n\nSencha is steamed soon after picking.")
    await app.settings["services"]["knowledge"].wait()
    script.plans = [plan(
        step(1, "Search the notes", "Find what the notes say about sencha.", "tool",
             tool="knowledge.search", args={"query": "sencha steamed"}),
        step(2, "Answer", "Say how sencha is made.", depends=[1]))]
    script.steps = {"Answer": "Sencha is steamed."}
    task = await planned_and_run(orchestrator, "How is sencha made?", knowledge_base_id=base)
    search, answer = task["subtasks"]
    assert task["status"] == "completed" and task["result"] == "Sencha is steamed."
    assert search["status"] == "completed" and search["model"] is None
    assert search["verdict"] == {"verdict": "ok", "tool": "knowledge.search"}
    assert search["result"].startswith("[1] Sencha\nSencha is steamed soon after picking.")
    assert search["prompt_tokens"] == 0 and search["attempts"] == 1
    # one planning request and one for the answer: the tool step asked no model
    assert len(completions(fake_lmstudio)) == 2 and script.titles() == ["Answer"]
    prompt = script.step_requests[0][1]["messages"][-1]["content"]
    assert "## Search the notes\n[1] Sencha\nSencha is steamed soon after picking." in prompt


@pytest.mark.gen_test
async def test_a_failing_tool_fails_its_step_with_the_reason_and_can_be_retried(
        orchestrator, script, fetch, app):
    script.steps = {"Answer": "Steamed."}
    task = await planned_and_run(orchestrator, "How is sencha made?", subtasks=[
        {"title": "Search the notes", "kind": "tool", "tool": "knowledge.search",
         "args": {"query": "sencha"}},
        {"title": "Answer", "description": "Answer.", "depends_on": [0]}])
    search, answer = task["subtasks"]
    assert task["status"] == "failed"
    assert task["error"] == ("Subtask 1 (Search the notes) failed: There is no knowledge "
                             "base to search.")
    assert search["status"] == "failed" and search["verdict"] == {
        "verdict": "failed", "tool": "knowledge.search", "code": "failed"}
    assert answer["status"] == "pending" and script.titles() == []

    base = await add_base(fetch, "Tea")
    await add_text(fetch, base, "Sencha", "# Sencha\n\nSencha is steamed.")
    await app.settings["services"]["knowledge"].wait()
    await orchestrator.retry_subtask(search["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "completed" and task["subtasks"][0]["attempts"] == 2
    assert task["subtasks"][0]["verdict"]["verdict"] == "ok"


@pytest.mark.gen_test
async def test_a_hand_written_tool_step_is_checked_when_it_runs(orchestrator, script):
    # Written around the API (which would refuse it): the registry still checks the args.
    task = await orchestrator.create_task({"title": "Read", "description": "", "subtasks": [
        {"title": "Read", "kind": "tool", "tool": "web.fetch", "args": {"url": "nope"}}]})
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "failed"
    assert task["subtasks"][0]["error"] == ("Invalid arguments for web.fetch. url: Not a "
                                            "valid URL.")
    assert task["subtasks"][0]["verdict"]["code"] == "invalid_args"
