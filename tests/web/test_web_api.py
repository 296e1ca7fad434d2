"""The web service's HTTP API against a real local site: fetch, its errors, the history, the
files fetches made, and the generic API that only reads fetches."""

import os

import pytest

from orchestra.app import close_app, make_app
from orchestra.services.web.service import WebService
from tests.fakes.site_browser import chromium_path
from tests.fakes.site_crawl import crawl_site  # noqa: F401
from tests.web.conftest import Browser

SHAPE = {"id", "url", "finalUrl", "statusCode", "title", "markdown", "links", "metadata",
         "screenshotUrl", "pdfUrl", "renderer", "fromCache", "fetchedAt", "steps"}


@pytest.fixture
def app(config, io_loop):
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application), timeout=30)


async def history(fetch):
    r = await fetch("/api/web/fetches")
    assert r.code == 200, r.text
    return r.json()


@pytest.mark.gen_test
async def test_fetch_answers_the_page(fetch, crawl_site):  # noqa: F811
    r = await fetch("/api/web/fetch", method="POST",
                    json={"url": crawl_site.url + "/a", "render": "static"})
    assert r.code == 200, r.text
    page = r.json()
    assert set(page) == SHAPE
    assert page["title"] == "Page /a" and page["renderer"] == "static"
    assert "Orchestra reads this page" in page["markdown"]
    again = await fetch("/api/web/fetch", method="POST", json={
        "url": crawl_site.url + "/a", "render": "static", "maxAgeSeconds": 60})
    assert again.json()["fromCache"] is True and again.json()["id"] == page["id"]
    got = await fetch("/api/web/fetches/%d" % page["id"])
    assert got.code == 200 and got.json()["markdown"] == page["markdown"]
    assert got.json()["code"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "url"),
    ({"url": "ftp://example.org/"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://example.org/" + "x" * 2000}, "url"),
    ({"url": "http://example.org/", "render": "fast"}, "render"),
    ({"url": "http://example.org/", "screenshot": "tiny"}, "screenshot"),
    ({"url": "http://example.org/", "maxAgeSeconds": -1}, "maxAgeSeconds"),
    ({"url": "http://example.org/", "maxAgeSeconds": "10"}, "maxAgeSeconds"),
    ({"url": "http://example.org/", "respectRobots": "maybe"}, "respectRobots"),
    ({"url": "http://example.org/", "colour": "red"}, "colour"),
    ({"url": "http://example.org/", "render": "static", "pdf": True}, "render"),
    ({"url": "http://example.org/", "actions": [{"type": "dance"}]}, "actions"),
    ({"url": "http://example.org/", "actions": "click"}, "actions"),
])
@pytest.mark.gen_test
async def test_invalid_input_is_400_with_fields_and_nothing_is_fetched(fetch, body, field):
    r = await fetch("/api/web/fetch", method="POST", json=body)
    assert r.code == 400, r.text
    assert field in r.json()["fields"] and "code" not in r.json()
    assert (await history(fetch))["total"] == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b"", b'"text"'])
@pytest.mark.gen_test
async def test_malformed_bodies_are_400(fetch, body):
    for path in ("/api/web/fetch", "/api/web/crawl"):
        r = await fetch(path, method="POST", body=body,
                        headers={"Content-Type": "application/json"})
        assert r.code == 400 and r.json()["error"]
    assert (await history(fetch))["total"] == 0


@pytest.mark.gen_test
async def test_a_body_over_the_limit_is_413(fetch):
    step = {"type": "fill", "selector": "#a", "value": "x" * 10_000}
    r = await fetch("/api/web/fetch", method="POST",
                    json={"url": "http://example.org/", "actions": [step] * 30})
    assert r.code == 413 and "200 kB" in r.json()["error"]
    assert (await history(fetch))["total"] == 0


@pytest.mark.gen_test
async def test_a_page_that_cannot_be_read_is_400_with_its_code_and_kept(fetch,
                                                                        crawl_site):  # noqa: F811
    cases = [("/private/x", {}, "robots_disallowed"), ("/challenge", {}, "blocked"),
             ("/missing", {"render": "static"}, "http_error")]
    for path, extra, code in cases:
        r = await fetch("/api/web/fetch", method="POST",
                        json=dict(extra, url=crawl_site.url + path))
        assert r.code == 400 and r.json()["code"] == code, r.text
        assert set(r.json()) == {"error", "code"} and r.json()["error"]
    items = (await history(fetch))["items"]
    assert [i["code"] for i in items] == ["http_error", "blocked", "robots_disallowed"]
    assert all("markdown" not in i and i["error"] for i in items)


@pytest.mark.gen_test
async def test_private_addresses_are_refused_by_default(app, fetch, config,
                                                        crawl_site):  # noqa: F811
    web = app.settings["services"]["web"]
    app.settings["services"]["web"] = WebService(
        app.settings["stores"], app.settings["hub"], config.data_dir, allow_private=False)
    try:
        for url in (crawl_site.url + "/a", "http://[::1]/", "http://2130706433/",
                    "http://169.254.169.254/latest/meta-data/"):
            r = await fetch("/api/web/fetch", method="POST", json={"url": url})
            assert r.code == 400 and r.json()["code"] == "blocked_address", (url, r.text)
    finally:
        await app.settings["services"]["web"].close()
        app.settings["services"]["web"] = web
    assert crawl_site.hits == []


@pytest.mark.gen_test
async def test_without_a_browser_only_the_browser_renderer_is_unavailable(
        app, fetch, crawl_site):  # noqa: F811
    app.settings["services"]["web"].browser_path = "/nonexistent/chromium"  # as configured
    for body in ({"render": "browser"}, {"screenshot": True}, {"pdf": True}):
        r = await fetch("/api/web/fetch", method="POST",
                        json=dict(body, url=crawl_site.url + "/a"))
        assert r.code == 400 and r.json()["code"] == "browser_unavailable", r.text
    r = await fetch("/api/web/fetch", method="POST", json={"url": crawl_site.url + "/a"})
    assert r.code == 200 and r.json()["renderer"] == "static"


@pytest.mark.gen_test
async def test_history_pages_newest_first_and_delete(fetch, crawl_site):  # noqa: F811
    ids = []
    for path in ("/a", "/b", "/a/1"):
        r = await fetch("/api/web/fetch", method="POST",
                        json={"url": crawl_site.url + path, "render": "static"})
        ids.append(r.json()["id"])
    page = (await fetch("/api/web/fetches?limit=2&offset=1")).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [ids[1], ids[0]]
    for bad in ("limit=0", "limit=x", "offset=-1", "limit=1000"):
        assert (await fetch("/api/web/fetches?" + bad)).code == 400
    assert (await fetch("/api/web/fetches/%d" % ids[1], method="DELETE")).code == 204
    assert (await fetch("/api/web/fetches/%d" % ids[1])).code == 404
    assert (await fetch("/api/web/fetches/%d" % ids[1], method="DELETE")).code == 404
    assert (await history(fetch))["total"] == 2
    assert (await fetch("/api/web/fetches/99999")).code == 404


@pytest.mark.gen_test
async def test_the_api_needs_the_token(fetch):
    for path, method in (("/api/web/fetch", "POST"), ("/api/web/fetches", "GET"),
                         ("/api/web/crawl", "POST"), ("/api/web/crawls", "GET"),
                         ("/api/web/files/1-0123456789abcdef0123456789abcdef.png", "GET")):
        r = await fetch(path, method=method, token=False,
                        json={"url": "http://example.org/"} if method == "POST" else None)
        assert r.code == 401, path


@pytest.mark.parametrize("name", [
    "1-0123456789abcdef0123456789abcdef.png",  # well formed, but no such file
    "..%2F..%2Forchestra.db", "..", "cookie_secret", "1-abc.png",
    "1-0123456789abcdef0123456789abcdef.html", "%2e%2e", "web%2F..%2Fcookie_secret",
])
@pytest.mark.gen_test
async def test_only_files_fetches_made_are_served(fetch, config, name):
    folder = os.path.join(config.data_dir, "web")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "notes.png"), "wb") as f:
        f.write(b"not ours")
    r = await fetch("/api/web/files/" + name)
    assert r.code == 404 and b"not ours" not in r.body


@pytest.mark.gen_test
async def test_generic_api_reads_fetch_results_and_writes_none(fetch, crawl_site):  # noqa: F811
    page = (await fetch("/api/web/fetch", method="POST",
                        json={"url": crawl_site.url + "/a", "render": "static"})).json()
    listed = (await fetch("/api/web-fetch-results")).json()
    assert listed["total"] == 1 and listed["items"][0]["finalUrl"] == page["finalUrl"]
    item = (await fetch("/api/web-fetch-results/%d" % page["id"])).json()
    assert item["renderer"] == "static" and item["content"] == page["markdown"]
    for method, path, body in (("POST", "", {"url": "https://example.org/"}),
                               ("POST", "", {}),
                               ("PATCH", "/%d" % page["id"], {"statusCode": 500}),
                               ("DELETE", "/%d" % page["id"], None)):
        r = await fetch("/api/web-fetch-results" + path, method=method, json=body)
        assert r.code == 405, (method, r.text)
        assert "/api/web/fetch" in r.json()["error"]
    assert (await fetch("/api/web-fetch-results")).json()["total"] == 1


@pytest.mark.browser
@pytest.mark.gen_test(timeout=120)
async def test_files_are_served_to_the_logged_in_user_only(app, fetch, crawl_site,  # noqa: F811
                                                           config):
    web = app.settings["services"]["web"]
    app.settings["services"]["web"] = WebService(
        app.settings["stores"], app.settings["hub"], config.data_dir, allow_private=True,
        browser_path=chromium_path(), politeness_delay=0)
    try:
        r = await fetch("/api/web/fetch", method="POST", json={
            "url": crawl_site.url + "/a", "screenshot": "viewport", "pdf": True})
        assert r.code == 200, r.text
        page = r.json()
        shot, pdf = await fetch(page["screenshotUrl"]), await fetch(page["pdfUrl"])
        assert shot.code == 200 and shot.headers["Content-Type"] == "image/png"
        assert shot.body.startswith(b"\x89PNG") and pdf.body.startswith(b"%PDF-")
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert shot.headers["X-Content-Type-Options"] == "nosniff"
        assert (await fetch(page["screenshotUrl"], token=False)).code == 401
        browser = await Browser(fetch).login()  # the session cookie is enough
        assert (await browser.get(page["screenshotUrl"])).body == shot.body
        assert (await fetch("/api/web/fetches/%d" % page["id"], method="DELETE")).code == 204
        assert (await fetch(page["screenshotUrl"])).code == 404
    finally:
        await app.settings["services"]["web"].close()
        app.settings["services"]["web"] = web
