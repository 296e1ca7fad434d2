"""The tool API over HTTP (/api/tools, /api/tools/{name}/run) and tool subtasks written
through the task API: the tool must exist and its arguments fit."""

import pytest

from orchestra.app import close_app, make_app
from tests.fakes.site_static import static_site  # noqa: F401 - a fixture
from tests.knowledge_helpers import add_base, add_text

FETCH_STEP = {"title": "Read the page", "kind": "tool", "tool": "web.fetch",
              "args": {"url": "https://example.com/news"}}


@pytest.fixture
def app(config, io_loop):
    """The app, its web service without the pause between requests to one host."""
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application))


# -- /api/tools -----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_the_catalogue_lists_every_tool_with_its_schema(fetch):
    r = await fetch("/api/tools")
    assert r.code == 200
    tools = r.json()["tools"]
    assert [t["name"] for t in tools] == ["web.fetch", "web.search_page", "web.crawl",
                                          "knowledge.search"]
    assert tools[3]["parameters"]["required"] == ["query"]
    assert (await fetch("/api/tools", token=False)).code == 401


@pytest.mark.gen_test
async def test_running_a_tool_answers_its_text_and_data(app, fetch):
    base = await add_base(fetch, "Tea")
    await add_text(fetch, base, "Green tea", "# Brewing\n\nSteep green tea at 80 degrees.")
    await app.settings["services"]["knowledge"].wait()
    r = await fetch("/api/tools/knowledge.search/run", method="POST",
                    json={"args": {"query": "green tea", "limit": 3}})
    assert r.code == 200, r.text
    body = r.json()
    assert body["ok"] is True and "80 degrees" in body["text"]
    assert body["data"]["hits"][0]["sourceTitle"] == "Green tea"


@pytest.mark.gen_test
async def test_running_web_fetch_reads_a_page_of_a_local_site(fetch, static_site):
    url = static_site.url + "/article"
    r = await fetch("/api/tools/web.fetch/run", method="POST",
                    json={"args": {"url": url, "render": "static"}})
    assert r.code == 200, r.text
    body = r.json()
    assert body["text"].startswith("# Tending a Sourdough Starter\n\n")
    assert "Feed the starter once a day" in body["text"]
    assert body["data"]["url"] == url and body["data"]["renderer"] == "static"
    assert body["data"]["fromCache"] is False
    again = (await fetch("/api/tools/web.fetch/run", method="POST",
                         json={"args": {"url": url, "render": "static"}})).json()
    assert again["data"]["fromCache"] is True and again["data"]["id"] == body["data"]["id"]
    assert static_site.hits.count("/article") == 1   # maxAgeSeconds defaults to an hour


@pytest.mark.gen_test
async def test_an_unknown_tool_is_404(fetch):
    r = await fetch("/api/tools/web.nope/run", method="POST", json={"args": {}})
    assert r.code == 404 and r.json()["error"] == "No tool called web.nope."


@pytest.mark.gen_test
async def test_bad_arguments_are_400_with_the_fields(fetch):
    r = await fetch("/api/tools/web.fetch/run", method="POST",
                    json={"args": {"url": "file:///etc/passwd", "depth": 3}})
    assert r.code == 400
    body = r.json()
    assert body["code"] == "invalid_args"
    assert body["fields"] == {"url": ["Not a valid URL."], "depth": ["Unknown field."]}
    r = await fetch("/api/tools/web.fetch/run", method="POST", json={"arguments": {}})
    assert r.code == 400 and r.json()["fields"] == {"arguments": ["Unknown field."]}
    r = await fetch("/api/tools/web.fetch/run", method="POST", body=b"{not json")
    assert r.code == 400 and "Malformed JSON" in r.json()["error"]
    r = await fetch("/api/tools/web.fetch/run", method="POST")  # no body: no arguments
    assert r.code == 400 and r.json()["fields"] == {
        "url": ["Missing data for required field."]}


@pytest.mark.gen_test
async def test_a_tool_that_fails_is_400_with_its_code(fetch, static_site):
    r = await fetch("/api/tools/web.fetch/run", method="POST",
                    json={"args": {"url": static_site.url + "/status/404"}})
    assert r.code == 400
    body = r.json()
    assert body["code"] == "http_error" and "404" in body["error"]
    r = await fetch("/api/tools/web.search_page/run", method="POST", json={
        "args": {"url": static_site.url + "/challenge/cloudflare", "query": "moment"}})
    assert r.code == 400 and r.json()["code"] == "blocked"
    r = await fetch("/api/tools/knowledge.search/run", method="POST",
                    json={"args": {"query": "tea"}})
    assert r.code == 400
    assert r.json() == {"error": "There is no knowledge base to search.", "code": "failed"}


# -- tool subtasks through the task API ---------------------------------------------------

@pytest.mark.gen_test
async def test_a_task_with_a_tool_subtask_is_stored_with_its_tool_and_args(fetch):
    r = await fetch("/api/tasks", method="POST", json={"title": "News", "subtasks": [
        FETCH_STEP, {"title": "Summary", "kind": "summarize", "dependsOn": [0]}]})
    assert r.code == 201, r.text
    first, second = r.json()["subtasks"]
    assert (first["kind"], first["tool"], first["args"]) == (
        "tool", "web.fetch", {"url": "https://example.com/news"})
    assert (second["tool"], second["args"]) == (None, None)
    # naming a tool is enough to make a tool step
    r = await fetch("/api/tasks", method="POST", json={"title": "News", "subtasks": [
        {"title": "Read", "tool": "web.fetch", "args": {"url": "https://example.com/"}}]})
    assert r.code == 201 and r.json()["subtasks"][0]["kind"] == "tool"


@pytest.mark.gen_test
async def test_tool_subtasks_with_unknown_tools_or_bad_args_are_refused(fetch):
    async def refused(subtasks, path="/api/tasks", method="POST"):
        r = await fetch(path, method=method, json={"title": "News", "subtasks": subtasks})
        assert r.code == 400, r.text
        return r.json()["fields"]["subtasks"]

    fields = await refused([{"title": "Ok", "kind": "answer"},
                            dict(FETCH_STEP, tool="web.teleport")])
    assert list(fields) == ["1"] and "no tool called 'web.teleport'" in fields["1"]["tool"][0]
    fields = await refused([dict(FETCH_STEP, args={"url": "not a url", "speed": 9})])
    assert fields == {"0": {"args": {"url": ["Not a valid URL."], "speed": ["Unknown field."]}}}
    fields = await refused([{"title": "Read", "kind": "tool"}])
    assert fields == {"0": {"tool": ['A subtask of kind "tool" names the tool it runs.']}}
    fields = await refused([{"title": "Read", "kind": "answer", "tool": "web.fetch"}])
    assert fields == {"0": {"tool": ['Only a subtask of kind "tool" runs a tool.']}}
    assert (await fetch("/api/tasks")).json()["total"] == 0   # nothing was stored

    # replacing a task's plan is checked the same way
    task = (await fetch("/api/tasks", method="POST", json={"title": "News"})).json()
    fields = await refused([dict(FETCH_STEP, args={})], "/api/tasks/%d" % task["id"], "PATCH")
    assert fields == {"0": {"args": {"url": ["Missing data for required field."]}}}


@pytest.mark.gen_test
async def test_subtasks_written_one_by_one_are_checked_against_the_stored_row(fetch):
    task = (await fetch("/api/tasks", method="POST", json={"title": "News",
                                                           "subtasks": [FETCH_STEP]})).json()
    step = task["subtasks"][0]
    r = await fetch("/api/subtasks/%d" % step["id"], method="PATCH",
                    json={"args": {"url": "nope"}})
    assert r.code == 400 and "url: Not a valid URL." in r.json()["error"]
    r = await fetch("/api/subtasks/%d" % step["id"], method="PATCH",
                    json={"args": {"url": "https://example.com/other"}})
    assert r.code == 200 and r.json()["args"] == {"url": "https://example.com/other"}
    r = await fetch("/api/subtasks", method="POST", json={
        "taskId": task["id"], "title": "More", "kind": "tool", "tool": "web.teleport"})
    assert r.code == 400 and "no tool called 'web.teleport'" in r.json()["error"]


@pytest.mark.gen_test
async def test_the_task_page_shows_a_tool_step_and_its_outcome(fetch, orchestrator,
                                                              static_site):
    url = static_site.url + "/status/404?a<b>"
    task = (await fetch("/api/tasks", method="POST", json={"title": "News", "subtasks": [
        dict(FETCH_STEP, args={"url": url})]})).json()
    page = (await fetch("/tasks/%d" % task["id"])).text
    args = '{"url": "%s"}' % url.replace("<", "\\u003c").replace(">", "\\u003e")  # JSON
    assert ('<div class="tool-step"><span class="muted">Tool:</span> <code>web.fetch</code> '
            '<code class="tool-args">%s</code></div>' % args) in page
    # the hand editor writes the step back as a tool tag
    assert "[tool web.fetch %s] Read the page: \n</textarea>" % args in page
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    page = (await fetch("/tasks/%d" % task["id"])).text
    assert '<strong>Tool:</strong> <span class="badge failed">failed</span> (http_error)' in page
