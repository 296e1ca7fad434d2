"""WebFetcher against a real local web site: pages as Markdown, limits, failures, sources."""

import pytest

from orchestra.services.knowledge.extract import html_to_markdown
from orchestra.services.webfetch import WebFetcher
from tests.fakes.website import fake_site  # noqa: F401


@pytest.fixture
def fetcher(io_loop):
    fetcher = WebFetcher(timeout=0.5, max_bytes=10_000)
    yield fetcher
    io_loop.run_sync(fetcher.close)


def test_html_to_markdown_drops_scripts_and_styles_and_keeps_the_title():
    title, text = html_to_markdown(
        "<html><head><title>A &amp; B</title><style>p{}</style></head><body>"
        "<script>x()</script><h1>Head</h1><p>One <i>two</i>\n  three</p><br>four"
        "<noscript>enable js</noscript></body></html>")
    assert title == "A & B"
    assert text == "# Head\n\nOne two three\n\nfour"


@pytest.mark.gen_test
async def test_fetches_an_html_page_as_markdown(fetcher, fake_site):  # noqa: F811
    result = await fetcher.fetch(fake_site.url + "/article")
    assert result.ok and result.status_code == 200
    assert result.title == "The Orchestra Guide"
    # Headings and lists survive as Markdown, so the chunker can follow them.
    assert result.content == ("# Getting started\n\nOrchestra runs local models & keeps notes."
                              "\n\n- One\n- Two")
    assert "secret" not in result.content and "color" not in result.content
    assert "ignored" not in result.content


@pytest.mark.gen_test
async def test_plain_text_and_redirects(fetcher, fake_site):  # noqa: F811
    result = await fetcher.fetch(fake_site.url + "/plain")
    assert result.ok and result.content == "Plain words, caf\u00e9." and result.title is None
    result = await fetcher.fetch(fake_site.url + "/redirect")
    assert result.ok and result.url.endswith("/article") and result.title
    assert fake_site.hits == ["plain", "redirect", "article"]


@pytest.mark.parametrize("path, message", [
    ("/missing", "answered 404"),
    ("/image", "Not a text page (content type image/png)"),
    ("/huge/declared", "larger than 10000 bytes"),
    ("/huge/streamed", "larger than 10000 bytes"),
    ("/slow", "did not answer within 0.5 s"),
])
@pytest.mark.gen_test
async def test_failures_are_reported_not_raised(fetcher, fake_site, path, message):  # noqa: F811
    result = await fetcher.fetch(fake_site.url + path)
    assert not result.ok and message in result.error
    assert result.content is None
    if path == "/missing":
        assert result.status_code == 404


@pytest.mark.parametrize("url", ["ftp://example.org/file", "file:///etc/passwd", "/relative",
                                 "http://"])
@pytest.mark.gen_test
async def test_only_http_and_https_urls_are_fetched(fetcher, url):
    result = await fetcher.fetch(url)
    assert result.error == "Only http:// and https:// URLs can be fetched."


@pytest.mark.gen_test
async def test_an_unreachable_server_is_a_failed_fetch(fetcher):
    result = await fetcher.fetch("http://127.0.0.1:9/")
    assert not result.ok and result.error.startswith("Cannot fetch the page")


@pytest.mark.gen_test
async def test_a_source_goes_from_pending_to_ready_or_failed(app, fake_site):  # noqa: F811
    stores = app.settings["stores"]
    fetcher = app.settings["services"]["webfetch"]
    base = await stores.knowledge_bases.create({"name": "kb", "description": ""})
    good_url, bad_url = fake_site.url + "/article", fake_site.url + "/missing"
    good = await stores.knowledge_sources.create(
        {"knowledge_base_id": base.id, "kind": "url", "title": good_url, "url": good_url,
         "status": "pending", "content": ""})
    bad = await stores.knowledge_sources.create(
        {"knowledge_base_id": base.id, "kind": "url", "title": "Missing", "url": bad_url,
         "status": "pending", "content": ""})
    fetcher.fetch_source(good.id, good_url)
    fetcher.fetch_source(bad.id, bad_url)
    await fetcher.wait()

    good = await stores.knowledge_sources.get(good.id)
    assert good.status == "ready" and good.error is None
    assert good.title == "The Orchestra Guide" and "Getting started" in good.content
    bad = await stores.knowledge_sources.get(bad.id)
    assert bad.status == "failed" and "404" in bad.error and bad.title == "Missing"
    fetches = sorted(await stores.web_fetches.list(), key=lambda r: r.id)
    assert [(f.url, f.status_code) for f in fetches] == [(good_url, 200), (bad_url, 404)] or \
        [(f.url, f.status_code) for f in fetches] == [(bad_url, 404), (good_url, 200)]
    assert {f.title for f in fetches} == {"The Orchestra Guide", None}
