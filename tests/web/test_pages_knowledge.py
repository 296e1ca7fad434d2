"""Knowledge base pages: sources from text, uploaded files and fetched web pages."""

import pytest

from tests.fakes.website import fake_site  # noqa: F401
from tests.web.conftest import field_error, input_value
from tests.knowledge_helpers import add_base_page, sources_of_page


@pytest.mark.gen_test
async def test_text_source_is_added_shown_and_deleted(browser, fetch, app):
    await browser.login()
    base = await add_base_page(browser)
    r = await browser.post(base + "/sources", {"kind": "text", "title": "Rules",
                                               "content": "Be <kind>."})
    assert r.code == 303 and r.headers["Location"] == base
    await app.settings["services"]["knowledge"].wait()
    page = (await browser.follow(r)).text
    assert "Rules" in page and 'class="badge ready"' in page and "added" in page
    [source] = await sources_of_page(fetch, base)
    assert source["status"] == "ready" and source["kind"] == "text"
    shown = await browser.get("%s/sources/%d" % (base, source["id"]))
    assert shown.code == 200 and "Be &lt;kind&gt;." in shown.text

    r = await browser.post("%s/sources/%d/delete" % (base, source["id"]))
    assert r.code == 303 and await sources_of_page(fetch, base) == []
    assert (await browser.post("%s/sources/%d/delete" % (base, source["id"]))).code == 404
    assert (await browser.get("%s/sources/%d" % (base, source["id"]))).code == 404


@pytest.mark.gen_test
async def test_invalid_text_source_keeps_input_and_writes_nothing(browser, fetch):
    await browser.login()
    base = await add_base_page(browser)
    r = await browser.post(base + "/sources", {"kind": "text", "title": "Kept title",
                                               "content": "   "})
    assert r.code == 400
    assert field_error(r.text, "src-text-content") == "A text or file source needs content."
    assert input_value(r.text, "title") == "Kept title"
    assert await sources_of_page(fetch, base) == []
    r = await browser.post(base + "/sources", {"kind": "video", "title": "x", "content": "y"})
    assert r.code == 400 and await sources_of_page(fetch, base) == []
    assert (await browser.post(base + "/sources", {"kind": "text", "title": "t", "content": "c"},
                               xsrf=False)).code == 403
    assert await sources_of_page(fetch, base) == []
    assert (await browser.post("/knowledge-bases/999/sources",
                               {"kind": "text", "title": "t", "content": "c"})).code == 404


@pytest.mark.gen_test
async def test_uploaded_text_file_becomes_a_source(browser, fetch, app):
    await browser.login()
    base = await add_base_page(browser)
    text = "# Notes\nCaf\u00e9 opens at 8.\n"
    r = await browser.post(base + "/sources", {"kind": "file", "title": ""},
                           files={"file": ("notes.md", text.encode())})
    assert r.code == 303, r.text
    await app.settings["services"]["knowledge"].wait()
    [source] = await sources_of_page(fetch, base)
    assert source["title"] == "notes.md" and source["kind"] == "file"
    assert source["content"] == text and source["status"] == "ready"


@pytest.mark.gen_test
async def test_url_source_is_fetched_in_the_background(browser, fetch, app,
                                                       fake_site):  # noqa: F811
    web = app.settings["services"]["web"]
    await browser.login()
    base = await add_base_page(browser)
    good, bad = fake_site.url + "/article", fake_site.url + "/missing"
    r = await browser.post(base + "/sources", {"kind": "url", "title": "", "url": good,
                                              "render": "static"})
    assert r.code == 303 and "fetching it now" in (await browser.follow(r)).text
    r = await browser.post(base + "/sources", {"kind": "url", "title": "Gone", "url": bad})
    assert r.code == 303
    await web.wait()

    ready, failed = sorted(await sources_of_page(fetch, base), key=lambda s: s["id"])
    assert ready["status"] == "ready" and ready["render"] == "static"
    assert ready["title"] in ("The Orchestra Guide", "Getting started")  # the page's title
    assert "Getting started" in ready["content"] and "do not keep" not in ready["content"]
    assert failed["status"] == "failed" and "404" in failed["error"]
    page = (await browser.get(base)).text
    assert 'class="badge failed"' in page and "answered 404" in page and "Refetch" in page
    assert (await fetch("/api/web-fetch-results")).json()["total"] == 2

    r = await browser.post("%s/sources/%d/refetch" % (base, failed["id"]))
    assert r.code == 303
    assert (await fetch("/api/knowledge-sources/%d" % failed["id"])).json()["status"] in (
        "pending", "failed")
    await web.wait()
    assert fake_site.hits.count("missing") == 2
    assert (await fetch("/api/web-fetch-results")).json()["total"] == 3


@pytest.mark.gen_test
async def test_url_sources_need_an_http_url_and_only_they_refetch(browser, fetch):
    await browser.login()
    base = await add_base_page(browser)
    for url in ("", "ftp://example.org/x", "not a url"):
        r = await browser.post(base + "/sources", {"kind": "url", "title": "", "url": url})
        assert r.code == 400 and field_error(r.text, "src-url-url"), url
    r = await browser.post(base + "/sources", {"kind": "url", "title": "", "render": "chrome",
                                               "url": "http://example.org/"})
    assert r.code == 400 and field_error(r.text, "src-url-render")
    assert await sources_of_page(fetch, base) == []
    await browser.post(base + "/sources", {"kind": "text", "title": "t", "content": "c"})
    [source] = await sources_of_page(fetch, base)
    assert (await browser.post("%s/sources/%d/refetch" % (base, source["id"]))).code == 400
    other = await add_base_page(browser)
    assert (await browser.post("%s/sources/%d/delete" % (other, source["id"]))).code == 404
