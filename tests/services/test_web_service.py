"""WebService against real local web sites: pages as Markdown, every attempt stored, limits
and failures as WebError codes, robots.txt, the cache, the browser (and its absence), files,
and knowledge URL sources."""

import os

import pytest

from orchestra.services.knowledge.extract import html_to_markdown
from orchestra.services.web.errors import WebError
from orchestra.services.web.service import WebService, cache_key, options_of
from tests.fakes.site_browser import chromium_path
from tests.fakes.site_crawl import crawl_site  # noqa: F401
from tests.fakes.website import fake_site  # noqa: F401


@pytest.fixture
def make_web(app, config, io_loop):
    """make_web(**options) -> a WebService on the app's database (no politeness delay)."""
    made = []

    def _make(**options):
        options.setdefault("politeness_delay", 0)
        options.setdefault("allow_private", True)
        service = WebService(app.settings["stores"], app.settings["hub"], config.data_dir,
                             knowledge=app.settings["services"]["knowledge"], **options)
        made.append(service)
        return service

    yield _make
    for service in made:
        io_loop.run_sync(service.close, timeout=30)


@pytest.fixture
def web(make_web):
    return make_web(timeout=5.0, max_bytes=10_000)


NOWHERE = "/nonexistent/chromium"  # a configured browser that is not there: no browser


async def stored(app):
    rows = await app.settings["stores"].web_fetches.list(limit=100)
    return sorted(rows, key=lambda r: r.id)


def test_html_to_markdown_drops_scripts_and_styles_and_keeps_the_title():
    title, text = html_to_markdown(
        "<html><head><title>A &amp; B</title><style>p{}</style></head><body>"
        "<script>x()</script><h1>Head</h1><p>One <i>two</i>\n  three</p><br>four"
        "<noscript>enable js</noscript></body></html>")
    assert title == "A & B"
    assert text == "# Head\n\nOne two three\n\nfour"


def test_the_cache_key_covers_the_url_and_every_option():
    base = cache_key("http://a.example/", options_of())
    assert base == cache_key("http://a.example/", options_of("auto", [], None, False))
    assert base != cache_key("http://a.example/x", options_of())
    assert base != cache_key("http://a.example/", options_of("static"))
    assert base != cache_key("http://a.example/", options_of(screenshot=True))
    assert cache_key("http://a.example/", options_of(screenshot=True)) == cache_key(
        "http://a.example/", options_of(screenshot="full"))
    assert base != cache_key("http://a.example/", options_of(pdf=True))
    assert base != cache_key("http://a.example/", options_of(actions=[{"type": "click",
                                                                        "selector": "a"}]))


@pytest.mark.gen_test
async def test_a_page_is_read_as_markdown_and_stored(app, web, crawl_site):  # noqa: F811
    page = await web.fetch(crawl_site.url + "/a", render="static")
    assert set(page) == {"id", "url", "finalUrl", "statusCode", "title", "markdown", "links",
                         "metadata", "screenshotUrl", "pdfUrl", "renderer", "fromCache",
                         "fetchedAt", "steps"}
    assert page["title"] == "Page /a" and page["statusCode"] == 200
    assert "Orchestra reads this page" in page["markdown"]
    assert page["renderer"] == "static" and page["fromCache"] is False
    assert page["screenshotUrl"] is None and page["pdfUrl"] is None and page["steps"] == []
    assert crawl_site.url + "/a/1" in [link["url"] for link in page["links"]]
    assert page["fetchedAt"].endswith("Z")
    [row] = await stored(app)
    assert row.id == page["id"] and row.code is None and row.renderer == "static"
    assert row.cache_key and row.duration_ms >= 0 and row.options["render"] == "static"
    assert await web.fetch_result(page["id"]) == dict(page, error=None, code=None,
                                                      durationMs=row.duration_ms,
                                                      crawlId=None, depth=None)


@pytest.mark.gen_test
async def test_plain_text_and_redirects(web, fake_site):  # noqa: F811
    page = await web.fetch(fake_site.url + "/plain", render="static")
    assert page["markdown"] == "Plain words, caf\u00e9."
    page = await web.fetch(fake_site.url + "/redirect", render="static")
    assert page["url"].endswith("/redirect") and page["finalUrl"].endswith("/article")
    assert "Getting started" in page["markdown"]


@pytest.mark.parametrize("path, code", [
    ("/missing", "http_error"),
    ("/image", "unsupported_type"),
    ("/huge/declared", "too_large"),
    ("/huge/streamed", "too_large"),
])
@pytest.mark.gen_test
async def test_failures_raise_their_code_and_are_stored(app, web, fake_site, path,
                                                        code):  # noqa: F811
    with pytest.raises(WebError) as e:
        await web.fetch(fake_site.url + path, render="static")
    assert e.value.code == code and e.value.message
    [row] = await stored(app)
    assert (row.url, row.code, row.error) == (fake_site.url + path, code, e.value.message)
    assert row.content is None and row.id == e.value.fetch_id
    if path == "/missing":
        assert row.status_code == 404 and e.value.status_code == 404


@pytest.mark.gen_test
async def test_a_page_that_does_not_answer_in_time_is_a_timeout(app, make_web,
                                                                  fake_site):  # noqa: F811
    web = make_web(timeout=0.5)
    with pytest.raises(WebError) as e:
        await web.fetch(fake_site.url + "/slow", render="static")
    assert e.value.code == "timeout"
    assert [r.code for r in await stored(app)] == ["timeout"]


@pytest.mark.parametrize("url", ["ftp://example.org/file", "file:///etc/passwd", "/relative",
                                 "http://"])
@pytest.mark.gen_test
async def test_only_http_and_https_urls_are_read_and_nothing_is_stored(app, web, url):
    with pytest.raises(WebError) as e:
        await web.fetch(url)
    assert e.value.code == "invalid_url"
    assert await stored(app) == []


@pytest.mark.gen_test
async def test_an_unreachable_server_is_a_network_error(app, web):
    with pytest.raises(WebError) as e:
        await web.fetch("http://127.0.0.1:9/", render="static", respect_robots=False)
    assert e.value.code == "network_error"
    # With robots.txt honoured, a site that does not answer is not read (as Google does).
    with pytest.raises(WebError) as e:
        await web.fetch("http://127.0.0.1:9/", render="static")
    assert e.value.code == "robots_disallowed"
    assert [r.code for r in await stored(app)] == ["network_error", "robots_disallowed"]


@pytest.mark.gen_test
async def test_loopback_is_refused_unless_private_addresses_are_allowed(app, make_web,
                                                                         crawl_site):  # noqa: F811
    web = make_web(allow_private=False)
    for url in (crawl_site.url + "/a", "http://[::1]:%d/a" % crawl_site.port,
                "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(WebError) as e:
            await web.fetch(url, respect_robots=False)
        assert e.value.code == "blocked_address", url
    assert crawl_site.hits == []
    assert {r.code for r in await stored(app)} == {"blocked_address"}


@pytest.mark.gen_test
async def test_robots_txt_is_honoured_unless_the_caller_says_otherwise(app, web,
                                                                       crawl_site):  # noqa: F811
    url = crawl_site.url + "/private/secret"
    with pytest.raises(WebError) as e:
        await web.fetch(url, render="static")
    assert e.value.code == "robots_disallowed"
    assert crawl_site.pages() == []
    page = await web.fetch(url, render="static", respect_robots=False)
    assert page["title"] == "Page /private/secret" and crawl_site.pages() == ["/private/secret"]
    assert [r.code for r in await stored(app)] == ["robots_disallowed", None]


@pytest.mark.gen_test
async def test_a_challenge_page_is_blocked_never_a_success(app, web, crawl_site):  # noqa: F811
    with pytest.raises(WebError) as e:
        await web.fetch(crawl_site.url + "/challenge", render="static")
    assert e.value.code == "blocked"
    assert [r.code for r in await stored(app)] == ["blocked"]


@pytest.mark.gen_test
async def test_a_fresh_enough_result_comes_from_the_cache(app, web, crawl_site):  # noqa: F811
    url = crawl_site.url + "/b"
    first = await web.fetch(url, render="static", max_age_seconds=3600)
    again = await web.fetch(url, render="static", max_age_seconds=3600)
    assert again["fromCache"] is True and again["id"] == first["id"]
    assert dict(again, fromCache=False) == first
    assert crawl_site.pages() == ["/b"]
    # Without a max age, or with other options, the page is read again.
    fresh = await web.fetch(url, render="static")
    assert fresh["fromCache"] is False and fresh["id"] != first["id"]
    await web.fetch(url, render="static", max_age_seconds=3600, respect_robots=False)
    assert crawl_site.pages() == ["/b", "/b"]  # robots is not part of the result
    # A failure is never served from the cache.
    with pytest.raises(WebError):
        await web.fetch(crawl_site.url + "/missing", render="static", max_age_seconds=3600)
    with pytest.raises(WebError):
        await web.fetch(crawl_site.url + "/missing", render="static", max_age_seconds=3600)
    assert crawl_site.pages().count("/missing") == 2


# -- without a browser -----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_without_a_browser_the_browser_renderer_is_unavailable(app, make_web,
                                                                     crawl_site):  # noqa: F811
    web = make_web(browser_path=NOWHERE)
    for options in ({"render": "browser"}, {"screenshot": "full"}, {"pdf": True},
                    {"actions": [{"type": "click", "selector": "#go"}]}):
        with pytest.raises(WebError) as e:
            await web.fetch(crawl_site.url + "/login", **options)
        assert e.value.code == "browser_unavailable"
        assert "install" in e.value.message.lower()
    assert crawl_site.hits == []  # refused before the site saw a request
    # Everything else works: static pages, and auto keeps the static page.
    assert (await web.fetch(crawl_site.url + "/a", render="static"))["title"] == "Page /a"
    page = await web.fetch(crawl_site.url + "/app")
    assert page["renderer"] == "static" and page["title"] == "Script app"
    assert page["metadata"]["browserError"] == "browser_unavailable"
    codes = [r.code for r in await stored(app)]
    assert codes == ["browser_unavailable"] * 4 + [None, None]


# -- knowledge URL sources -------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_source_goes_from_pending_to_ready_or_failed(app, fake_site):  # noqa: F811
    stores = app.settings["stores"]
    web = app.settings["services"]["web"]
    base = await stores.knowledge_bases.create({"name": "kb", "description": ""})
    good_url, bad_url = fake_site.url + "/article", fake_site.url + "/missing"
    good = await stores.knowledge_sources.create(
        {"knowledge_base_id": base.id, "kind": "url", "title": good_url, "url": good_url,
         "status": "pending", "content": "", "render": "static"})
    bad = await stores.knowledge_sources.create(
        {"knowledge_base_id": base.id, "kind": "url", "title": "Missing", "url": bad_url,
         "status": "pending", "content": ""})
    web.fetch_source(good.id, good_url, "static")
    web.fetch_source(bad.id, bad_url)
    await web.wait()

    good = await stores.knowledge_sources.get(good.id)
    assert good.status == "ready" and good.error is None
    assert good.title in ("The Orchestra Guide", "Getting started")  # the page's, not the URL
    assert "Getting started" in good.content
    bad = await stores.knowledge_sources.get(bad.id)
    assert bad.status == "failed" and "404" in bad.error and bad.title == "Missing"
    fetches = await stored(app)
    assert sorted((f.url, f.status_code, f.code) for f in fetches) == [
        (good_url, 200, None), (bad_url, 404, "http_error")]


# -- with Chromium ---------------------------------------------------------------------------

@pytest.fixture
def browser_web(make_web):
    return make_web(browser_path=chromium_path())


@pytest.mark.browser
@pytest.mark.gen_test(timeout=120)
async def test_a_script_built_page_is_rendered_by_the_browser(app, browser_web,
                                                              crawl_site):  # noqa: F811
    page = await browser_web.fetch(crawl_site.url + "/app")  # auto: static, then the browser
    built = "exists only once the script has run"
    assert page["renderer"] == "browser" and built in page["markdown"]
    assert page["title"] in ("Script app ready", "Built by script")
    static = await browser_web.fetch(crawl_site.url + "/app", render="static")
    assert static["renderer"] == "static" and built not in static["markdown"]
    page = await browser_web.fetch(crawl_site.url + "/a", render="browser")
    assert page["renderer"] == "browser" and page["title"] == "Page /a"
    with pytest.raises(WebError) as e:
        await browser_web.fetch(crawl_site.url + "/challenge", render="browser")
    assert e.value.code == "blocked"


@pytest.mark.browser
@pytest.mark.gen_test(timeout=120)
async def test_screenshots_pdfs_and_actions_are_kept(app, config, browser_web,
                                                     crawl_site):  # noqa: F811
    page = await browser_web.fetch(
        crawl_site.url + "/login", screenshot="viewport", pdf=True, actions=[
            {"type": "fill", "selector": "#name", "value": "Ada"},
            {"type": "click", "selector": "#go"},
            {"type": "wait_for", "selector": "h1"},
            {"type": "screenshot"},
            {"type": "extract", "selector": "h1"}])
    assert "Welcome, Ada" in page["markdown"]
    assert [s["ok"] for s in page["steps"]] == [True] * 5
    assert page["steps"][4]["value"] == "Welcome, Ada"
    folder = os.path.join(config.data_dir, "web")
    names = sorted(os.listdir(folder))
    assert len(names) == 3 and all(n.startswith("%d-" % page["id"]) for n in names)
    shot = page["screenshotUrl"].rsplit("/", 1)[1]
    with open(os.path.join(folder, shot), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(folder, page["pdfUrl"].rsplit("/", 1)[1]), "rb") as f:
        assert f.read(5) == b"%PDF-"
    assert page["steps"][3]["screenshotUrl"].startswith("/api/web/files/")

    assert await browser_web.delete_fetch(page["id"]) is True
    assert os.listdir(folder) == []
    assert await browser_web.fetch_result(page["id"]) is None


@pytest.mark.browser
@pytest.mark.gen_test(timeout=120)
async def test_closing_the_service_leaves_no_browser_process(browser_web,
                                                             crawl_site):  # noqa: F811
    await browser_web.fetch(crawl_site.url + "/a", render="browser")
    processes = (await browser_web.browser()).processes()
    # The browser's own process runs on; a renderer may end as its context closes.
    assert processes and processes[0].is_running()
    await browser_web.close()
    assert not [p for p in processes if p.is_running() and p.status() != "zombie"]
