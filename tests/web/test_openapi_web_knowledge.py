"""The web and knowledge calls answer as the OpenAPI document describes them: fetches, the
history, crawls, files, search, uploads and chunks against a real local site, successes and
refusals alike (statuses and bodies checked against the document)."""

import urllib.parse

import pytest

from orchestra.app import close_app, make_app
from orchestra.web import openapi
from tests.fakes.site_crawl import crawl_site  # noqa: F401
from tests.web.conftest import multipart
from tests.web.test_openapi import assert_documented


@pytest.fixture
def app(config, io_loop):
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application), timeout=30)


@pytest.fixture
def document(app):
    return openapi.build_spec(app)


@pytest.mark.gen_test(timeout=60)
async def test_fetch_answers_match_the_document(app, fetch, document, crawl_site):  # noqa: F811
    async def post(body=None, raw=None):
        r = await fetch("/api/web/fetch", method="POST", json=body, body=raw)
        assert_documented(document, "/api/web/fetch", "post", r)
        return r

    page = await post({"url": crawl_site.url + "/a", "render": "static"})
    assert page.code == 200 and page.json()["links"], page.text
    cached = await post({"url": crawl_site.url + "/a", "render": "static", "maxAgeSeconds": 60})
    assert cached.json()["fromCache"] is True
    failed = await post({"url": crawl_site.url + "/missing", "render": "static"})
    assert failed.code == 400 and failed.json()["code"] == "http_error"
    for body in ({}, {"url": "not a url"}, {"url": crawl_site.url, "colour": "red"},
                 {"url": crawl_site.url, "render": "static", "pdf": True}):
        assert (await post(body)).code == 400
    assert (await post(raw=b"[1]")).code == 400

    for query in ("", "?limit=1&offset=1", "?limit=0", "?offset=x"):
        assert_documented(document, "/api/web/fetches", "get",
                          await fetch("/api/web/fetches" + query))
    history = (await fetch("/api/web/fetches")).json()["items"]
    failed_id = next(i["id"] for i in history if i["code"] == "http_error")
    item = "/api/web/fetches/{id}"
    for id in (page.json()["id"], failed_id, 10**6):
        assert_documented(document, item, "get", await fetch("/api/web/fetches/%d" % id))
    assert_documented(document, "/api/web/files/{name}", "get",
                      await fetch("/api/web/files/1-%s.png" % ("0" * 16)))
    for _ in range(2):  # deleted, then gone
        assert_documented(document, item, "delete", await fetch(
            "/api/web/fetches/%d" % page.json()["id"], method="DELETE"))


@pytest.mark.gen_test(timeout=60)
async def test_crawl_answers_match_the_document(app, fetch, document, crawl_site):  # noqa: F811
    started = await fetch("/api/web/crawl", method="POST",
                          json={"url": crawl_site.url + "/", "maxPages": 4, "exclude": ["b"]})
    assert started.code == 202, started.text
    assert_documented(document, "/api/web/crawl", "post", started)
    for body in ({}, {"url": crawl_site.url, "include": ["("]}, {"url": crawl_site.url,
                                                                 "maxPages": 0}):
        refused = await fetch("/api/web/crawl", method="POST", json=body)
        assert refused.code == 400
        assert_documented(document, "/api/web/crawl", "post", refused)
    item = "/api/web/crawls/%d" % started.json()["id"]
    assert_documented(document, "/api/web/crawls/{id}", "get", await fetch(item))
    await app.settings["services"]["web"].wait()
    done = await fetch(item)
    assert done.json()["status"] == "completed" and done.json()["pages"], done.text
    assert_documented(document, "/api/web/crawls/{id}", "get", done)
    for method in ("GET", "DELETE"):
        assert_documented(document, "/api/web/crawls/{id}", method.lower(),
                          await fetch("/api/web/crawls/%d" % 10**6, method=method))
    assert_documented(document, "/api/web/crawls/{id}", "delete",
                      await fetch(item, method="DELETE"))
    for query in ("", "?limit=1", "?limit=201"):
        assert_documented(document, "/api/web/crawls", "get",
                          await fetch("/api/web/crawls" + query))


@pytest.mark.gen_test(timeout=60)
async def test_knowledge_answers_match_the_document(app, fetch, document):
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea"})).json()
    files = "/api/knowledge-bases/{id}/files"

    async def upload(base_id, name, content, title="Notes"):
        body, content_type = multipart([("title", title)], {"file": (name, content)})
        r = await fetch("/api/knowledge-bases/%d/files" % base_id, method="POST", body=body,
                        headers={"Content-Type": content_type})
        assert_documented(document, files, "post", r)
        return r

    ready = await upload(base["id"], "tea.md", b"# Tea\n\n## Brewing\n\nSteep green tea.")
    assert ready.code == 201 and ready.json()["error"] is None, ready.text
    unreadable = await upload(base["id"], "tea.pdf", b"not a pdf")
    assert unreadable.code == 201 and unreadable.json()["status"] == "failed"
    assert (await upload(base["id"], "tea.txt", b"")).code == 400
    assert (await upload(base["id"], "tea.txt", b"tea", title="x" * 201)).code == 400
    assert (await upload(10**6, "tea.txt", b"tea")).code == 404
    await app.settings["services"]["knowledge"].wait()

    search = "/api/knowledge-bases/{id}/search"
    for base_id, args in [(base["id"], {"q": "green tea"}), (base["id"], {"q": "the"}),
                          (base["id"], {"q": "tea", "limit": 99}), (base["id"], {}),
                          (10**6, {"q": "tea"})]:
        assert_documented(document, search, "get", await fetch(
            "/api/knowledge-bases/%d/search?%s" % (base_id, urllib.parse.urlencode(args))))
    found = await fetch("/api/knowledge-bases/%d/search?q=tea" % base["id"])
    assert found.json()["items"], found.text

    chunks = "/api/knowledge-sources/{id}/chunks"
    for id in (ready.json()["id"], unreadable.json()["id"], 10**6):
        assert_documented(document, chunks, "get",
                          await fetch("/api/knowledge-sources/%d/chunks" % id))
