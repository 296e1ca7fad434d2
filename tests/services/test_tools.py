"""The tool registry: the catalogue and its JSON Schemas, argument checks, errors, and the
knowledge and web tools run against the app's real services."""

import asyncio

import pytest
from marshmallow import Schema, fields

from orchestra.app import close_app, make_app
from orchestra.services.lmstudio.structured import validate
from orchestra.services.tools.registry import (Registry, Tool, ToolContext, ToolError,
                                               ToolResult, default_registry)
from orchestra.services.tools.web_tools import matching_passages, page_text
from orchestra.services.web.errors import WebError
from orchestra.services.web.service import WebService
from tests.fakes.site_browser import chromium_path
from tests.fakes.site_crawl import crawl_site  # noqa: F401 - a fixture
from tests.fakes.site_static import static_site  # noqa: F401 - a fixture
from tests.knowledge_helpers import add_base, add_text

NAMES = ["web.fetch", "web.search_page", "web.crawl", "knowledge.search"]


class EchoArgs(Schema):
    word = fields.String(required=True)
    times = fields.Integer(load_default=1)


class EchoTool(Tool):
    name = "test.echo"
    description = "Say a word, or fail as the word says."
    schema = EchoArgs

    async def run(self, args, context):
        if args["word"] == "blocked":
            raise WebError("blocked_address", "That address is private.")
        if args["word"] == "broken":
            raise KeyError("bug")
        return ToolResult(" ".join([args["word"]] * args["times"]), {"task": context.task_id})


@pytest.fixture
def app(config, io_loop):
    """The app, its web service without the pause between requests to one host."""
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application))


def context_of(app, task_id=None):
    settings = app.settings
    return ToolContext(settings["services"], settings["stores"], task_id=task_id,
                       hub=settings["hub"])


# -- the registry -------------------------------------------------------------------------------

def test_the_catalogue_lists_each_tool_with_a_json_schema_of_its_arguments():
    catalogue = default_registry().catalogue()
    assert [entry["name"] for entry in catalogue] == NAMES
    for entry in catalogue:
        assert entry["description"] and "\n" not in entry["description"]
        parameters = entry["parameters"]
        assert parameters["type"] == "object" and parameters["additionalProperties"] is False
        assert parameters["required"]
    fetch = catalogue[0]["parameters"]
    assert fetch["required"] == ["url"]
    assert fetch["properties"]["url"]["format"] == "uri"
    assert fetch["properties"]["render"]["enum"] == ["static", "browser", "auto"]
    assert fetch["properties"]["maxAgeSeconds"] == {
        "type": "integer", "default": 3600, "minimum": 0, "maximum": 30 * 86400,
        "description": fetch["properties"]["maxAgeSeconds"]["description"]}
    crawl = catalogue[2]["parameters"]["properties"]
    assert crawl["maxPages"]["maximum"] == 50
    assert crawl["include"]["type"] == ["array", "null"]  # JSON Schema, not OpenAPI 3.0
    # what a model writes from the schema is what the tool takes
    args = {"url": "https://example.com/a", "maxPages": 5, "include": ["/docs/"]}
    validate(args, catalogue[2]["parameters"])
    assert default_registry().validate("web.crawl", args)["max_pages"] == 5


def test_a_task_is_offered_the_tools_it_can_use():
    registry = default_registry()

    def offered(**task):
        return registry.for_task(dict({"title": "", "description": ""}, **task)).names()

    assert offered(title="Read HTTPS://example.com/a, then sum it up") == NAMES[:3]
    assert offered(title="Sum up the page", description="It is at http://10.0.0.2/x") == \
        NAMES[:3]
    assert offered(title="Sum up the notes", knowledge_base_id=3) == ["knowledge.search"]
    assert offered(title="Write a haiku about http") == []
    chosen = registry.select(["knowledge.search"])
    assert chosen.catalogue() == [registry.catalogue()[3]] and registry.names() == NAMES


def test_a_tool_needs_a_name_a_description_and_a_schema_and_names_are_unique():
    registry = Registry([EchoTool()])
    with pytest.raises(ValueError, match="registered already"):
        registry.register(EchoTool())
    nameless = EchoTool()
    nameless.name = None
    with pytest.raises(ValueError, match="needs a name"):
        Registry([nameless])
    assert registry.names() == ["test.echo"] and registry.get("nope") is None


def test_unknown_tools_and_bad_arguments_are_refused_with_codes_and_fields():
    registry = default_registry()
    with pytest.raises(ToolError) as unknown:
        registry.validate("web.nope", {})
    assert unknown.value.code == "not_found" and "web.fetch" in unknown.value.message
    with pytest.raises(ToolError) as bad:
        registry.validate("web.fetch", {"url": "ftp://example.com", "render": "x", "extra": 1})
    assert bad.value.code == "invalid_args"
    assert set(bad.value.fields) == {"url", "render", "extra"}
    assert bad.value.as_dict()["fields"]["extra"] == ["Unknown field."]
    assert "url: Not a valid URL." in bad.value.message
    with pytest.raises(ToolError) as not_object:
        registry.validate("web.fetch", ["https://example.com"])
    assert not_object.value.fields == {"args": ["Not an object."]}
    assert registry.step_problems({"kind": "tool", "tool": "web.fetch", "args": {}}) == {
        "args": {"url": ["Missing data for required field."]}}
    assert registry.step_problems({"kind": "tool", "tool": None}) == {
        "tool": ['A subtask of kind "tool" names the tool it runs.']}
    assert registry.step_problems({"kind": "answer", "tool": None}) == {}


@pytest.mark.gen_test
async def test_run_validates_then_runs_and_turns_web_errors_into_tool_errors(app):
    registry = Registry([EchoTool()])
    result = await registry.run("test.echo", {"word": "hi", "times": 2}, context_of(app, 7))
    assert (result.text, result.data) == ("hi hi", {"task": 7})
    with pytest.raises(ToolError) as blocked:
        await registry.run("test.echo", {"word": "blocked"}, context_of(app))
    assert blocked.value.as_dict() == {"error": "That address is private.",
                                       "code": "blocked_address"}
    with pytest.raises(ToolError) as bad:
        await registry.run("test.echo", {"times": "x"}, context_of(app))
    assert set(bad.value.fields) == {"word", "times"}
    with pytest.raises(KeyError):  # a bug is not dressed up as a tool's failure
        await registry.run("test.echo", {"word": "broken"}, context_of(app))


@pytest.mark.gen_test
async def test_a_tool_whose_service_is_not_running_says_so(app):
    context = ToolContext({}, app.settings["stores"])
    with pytest.raises(ToolError) as missing:
        await default_registry().run("web.fetch", {"url": "https://example.com/"}, context)
    assert missing.value.code == "unavailable" and "web service" in missing.value.message


# -- knowledge.search ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_knowledge_search_finds_passages_with_their_source_and_heading(app, fetch):
    tea = await add_base(fetch, "Tea")
    coffee = await add_base(fetch, "Coffee")
    await add_text(fetch, tea, "Green tea", "# Brewing\n\nSteep green tea at 80 degrees for "
                   "two minutes.\n\n# History\n\nGreen tea came from China.")
    await add_text(fetch, coffee, "Espresso", "# Brewing\n\nEspresso is brewed at 93 degrees.")
    await app.settings["services"]["knowledge"].wait()
    registry = default_registry()

    result = await registry.run("knowledge.search", {"query": "steep green tea"},
                                context_of(app))
    assert result.data["knowledgeBaseIds"] == sorted([tea, coffee], reverse=True)  # every base
    first = result.data["hits"][0]
    assert first["sourceTitle"] == "Green tea" and "80 degrees" in first["text"]
    assert result.text.startswith("[1] Green tea \u203a Brewing\n")

    only = await registry.run("knowledge.search", {"query": "brewed degrees",
                                                   "knowledgeBaseIds": [coffee]},
                              context_of(app))
    assert {h["sourceTitle"] for h in only.data["hits"]} == {"Espresso"}

    # in a task, the task's own knowledge base is the default
    task = await app.settings["services"]["orchestrator"].create_task(
        {"title": "T", "description": "", "knowledge_base_id": coffee})
    in_task = await registry.run("knowledge.search", {"query": "degrees"},
                                 context_of(app, task["id"]))
    assert in_task.data["knowledgeBaseIds"] == [coffee]

    none = await registry.run("knowledge.search", {"query": "saffron"}, context_of(app))
    assert none.data["hits"] == [] and none.text.startswith("No passage")
    with pytest.raises(ToolError) as unknown:
        await registry.run("knowledge.search", {"query": "tea", "knowledgeBaseIds": [999]},
                           context_of(app))
    assert unknown.value.code == "invalid_args"
    assert unknown.value.fields == {"knowledgeBaseIds": ["No such record: 999."]}


@pytest.mark.gen_test
async def test_knowledge_search_without_any_base_fails_with_a_reason(app):
    with pytest.raises(ToolError) as empty:
        await default_registry().run("knowledge.search", {"query": "tea"}, context_of(app))
    assert empty.value.code == "failed" and "no knowledge base" in empty.value.message


# -- web tools: text for a model ------------------------------------------------------------

PAGE = """# Tea guide

Intro about drinks.

## Green tea

Green tea is steamed. Brew green tea briefly.

## Coffee

Coffee is roasted, and tea is not.

## Water

Use fresh water."""


def test_passages_are_found_by_whole_words_in_any_case_best_first_with_their_headings():
    found = matching_passages(PAGE, "GREEN Tea", 5)
    assert [(p["heading"], p["terms"]) for p in found] == [
        ("Tea guide \u203a Green tea", ["green", "tea"]),
        ("Tea guide \u203a Coffee", ["tea"])]
    assert found[0]["text"].startswith("Green tea is steamed.")
    assert matching_passages(PAGE, "steam", 5) == []   # words, not parts of words
    assert len(matching_passages(PAGE, "tea", 1)) == 1
    only_stopwords = matching_passages(PAGE, "is", 5)  # then searched for as they are
    assert [p["heading"] for p in only_stopwords] == ["Tea guide \u203a Coffee",
                                                      "Tea guide \u203a Green tea"]


def test_a_page_for_a_model_has_its_title_and_is_cut_at_a_line():
    page = {"title": "Guide", "markdown": ("A line of text.\n" * 2000)}
    text = page_text(page, limit=1000)
    assert text.startswith("# Guide\n\nA line of text.\n")
    assert text.endswith("[The page goes on; the first 1000 characters are shown.]")
    assert len(text) < 1100 and "A line of text.\n\n[The page" in text
    assert page_text({"title": None, "markdown": ""}) == "(The page has no text.)"
    assert page_text({"title": "Guide", "markdown": "# Guide\n\nText."}) == "# Guide\n\nText."
    assert page_text({"title": "Guide", "markdown": ""}) == "# Guide"


# -- web tools against the real web service and local sites ---------------------------------

@pytest.mark.gen_test
async def test_web_fetch_gives_a_model_the_title_and_main_text(app, static_site):
    result = await default_registry().run("web.fetch", {"url": static_site.url + "/article"},
                                          context_of(app))
    assert result.text.startswith("# Tending a Sourdough Starter\n\n")
    assert "Discard all but fifty grams" in result.text and "All rights reserved" not in \
        result.text
    assert result.data["finalUrl"] == static_site.url + "/article"
    assert result.text == result.data["markdown"]  # which opens with the title already


@pytest.mark.browser
@pytest.mark.gen_test(timeout=120)
async def test_web_fetch_reads_a_page_built_by_scripts_through_the_browser(app, crawl_site,
                                                                            tmp_path):
    web = WebService(app.settings["stores"], app.settings["hub"], str(tmp_path),
                     allow_private=True, browser_path=chromium_path(), politeness_delay=0)
    try:
        context = ToolContext({"web": web}, app.settings["stores"])
        result = await default_registry().run("web.fetch", {"url": crawl_site.url + "/app"},
                                              context)
    finally:
        await web.close()
    assert result.data["renderer"] == "browser"   # auto: static first, then Chromium
    assert "exists only once the script has run" in result.text


@pytest.mark.gen_test
async def test_web_tools_report_the_web_services_codes(app, static_site, tmp_path):
    registry = default_registry()
    with pytest.raises(ToolError) as missing:
        await registry.run("web.fetch", {"url": static_site.url + "/status/404"},
                           context_of(app))
    assert missing.value.code == "http_error"
    # the service's safety holds for tools: a private address is refused unless allowed
    guarded = WebService(app.settings["stores"], app.settings["hub"], str(tmp_path))
    try:
        context = ToolContext({"web": guarded}, app.settings["stores"])
        with pytest.raises(ToolError) as private:
            await registry.run("web.fetch", {"url": static_site.url + "/article"}, context)
    finally:
        await guarded.close()
    assert private.value.code == "blocked_address"
    assert "/article" not in static_site.hits


@pytest.mark.gen_test
async def test_web_search_page_finds_the_passages_about_a_query(app, static_site):
    result = await default_registry().run("web.search_page", {
        "url": static_site.url + "/article", "query": "refrigerator feeding", "maxResults": 2},
        context_of(app))
    passages = result.data["passages"]
    assert passages[0]["heading"].endswith("Feeding schedule")
    assert passages[0]["terms"] == ["refrigerator", "feeding"]
    assert result.text.startswith("Passages of Tending a Sourdough Starter about "
                                  "refrigerator feeding:\n\n[1] (")
    assert result.data["fetchId"] and len(passages) <= 2
    none = await default_registry().run("web.search_page", {
        "url": static_site.url + "/article", "query": "croissant"}, context_of(app))
    assert none.data["passages"] == [] and none.text.startswith("No passage of ")


@pytest.mark.gen_test
async def test_web_crawl_waits_for_the_crawl_and_lists_its_pages(app, crawl_site):
    result = await default_registry().run("web.crawl", {
        "url": crawl_site.url + "/", "maxDepth": 1, "maxPages": 10,
        "exclude": ["/b$"]}, context_of(app))
    crawl = result.data
    assert crawl["status"] == "completed"
    assert sorted(p["url"] for p in crawl["pages"]) == [
        crawl_site.url + "/", crawl_site.url + "/a", crawl_site.url + "/private/secret"]
    lines = result.text.splitlines()
    assert lines[0] == "Crawl of %s/ (completed): 2 pages read, 1 failed." % crawl_site.url
    assert "- Home \u2014 %s/ (depth 0)" % crawl_site.url in lines
    assert "- Page /a \u2014 %s/a (depth 1)" % crawl_site.url in lines
    assert ("- (no title) \u2014 %s/private/secret (depth 1): failed, The site's robots.txt "
            "does not allow" % crawl_site.url) in result.text


@pytest.mark.gen_test
async def test_a_stopped_crawl_tool_cancels_its_crawl(app, crawl_site):
    web = app.settings["services"]["web"]
    run = asyncio.ensure_future(default_registry().run(
        "web.crawl", {"url": crawl_site.url + "/slow", "maxDepth": 0}, context_of(app)))
    while "/slow" not in crawl_site.hits:
        await asyncio.sleep(0.01)   # until the crawl is waiting on the page
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    crawls, total = await web.crawls()
    assert [c["status"] for c in crawls] == ["cancelled"]
