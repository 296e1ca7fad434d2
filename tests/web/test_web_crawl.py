"""Crawls over HTTP and /ws against a real local site: same-site, breadth first, limits,
include/exclude, robots.txt, cancel, progress frames, and recovery after a restart."""

import asyncio
import json

import pytest

from orchestra.app import close_app, make_app
from tests.fakes.site_crawl import crawl_site  # noqa: F401


@pytest.fixture
def app(config, io_loop):
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application), timeout=30)


async def crawl(app, fetch, **body):
    r = await fetch("/api/web/crawl", method="POST", json=body)
    assert r.code == 202, r.text
    assert r.headers["Location"] == "/api/web/crawls/%d" % r.json()["id"]
    await app.settings["services"]["web"].wait()
    got = await fetch("/api/web/crawls/%d" % r.json()["id"])
    assert got.code == 200
    return got.json()


def paths(crawl, site):
    return [(p["url"][len(site.url):], p["depth"]) for p in crawl["pages"]]


@pytest.mark.gen_test
async def test_a_crawl_reads_the_site_breadth_first(app, fetch, crawl_site):  # noqa: F811
    result = await crawl(app, fetch, url=crawl_site.url + "/", maxDepth=2)
    assert result["status"] == "completed" and result["error"] is None
    assert result["maxPages"] == 20 and result["maxDepth"] == 2
    assert result["completedAt"] and result["pagesQueued"] == 0
    read = paths(result, crawl_site)
    assert sorted(read) == sorted([("/", 0), ("/a", 1), ("/b", 1), ("/private/secret", 1),
                                   ("/a/1", 2), ("/a/2", 2), ("/b/1", 2), ("/missing", 2)])
    assert [d for _, d in read] == sorted(d for _, d in read)  # depth by depth
    assert (result["pagesDone"], result["pagesFailed"]) == (6, 2)
    failed = {p["url"][len(crawl_site.url):]: p["code"] for p in result["pages"] if p["code"]}
    assert failed == {"/private/secret": "robots_disallowed", "/missing": "http_error"}
    # Other hosts, files, fragments of read pages, mail links and depth 3 are not followed;
    # robots.txt kept /private out.
    assert sorted(crawl_site.pages()) == sorted(["/", "/a", "/b", "/a/1", "/a/2", "/b/1",
                                                 "/missing"])
    # The pages are in the history too, tied to their crawl.
    items = (await fetch("/api/web/fetches")).json()["items"]
    assert len(items) == 8 and {i["crawlId"] for i in items} == {result["id"]}


@pytest.mark.gen_test
async def test_limits_and_patterns(app, fetch, crawl_site):  # noqa: F811
    start = crawl_site.url + "/"
    result = await crawl(app, fetch, url=start, maxPages=3)
    assert sorted(paths(result, crawl_site)) == [("/", 0), ("/a", 1), ("/b", 1)]
    result = await crawl(app, fetch, url=start, maxDepth=0)
    assert paths(result, crawl_site) == [("/", 0)]
    result = await crawl(app, fetch, url=start, include=[r"/a(/|$)"], exclude=[r"/2$"])
    assert sorted(paths(result, crawl_site)) == [("/", 0), ("/a", 1), ("/a/1", 2)]
    listed = (await fetch("/api/web/crawls")).json()
    assert listed["total"] == 3 and "pages" not in listed["items"][0]
    assert listed["items"][0]["include"] == [r"/a(/|$)"]


@pytest.mark.gen_test
async def test_a_crawl_whose_start_page_fails_failed(app, fetch, crawl_site):  # noqa: F811
    result = await crawl(app, fetch, url=crawl_site.url + "/missing")
    assert result["status"] == "failed" and "404" in result["error"]
    assert (result["pagesDone"], result["pagesFailed"]) == (0, 1)


@pytest.mark.parametrize("body, field", [
    ({}, "url"),
    ({"url": "ftp://example.org/"}, "url"),
    ({"url": "http://example.org/", "maxPages": 0}, "maxPages"),
    ({"url": "http://example.org/", "maxPages": 501}, "maxPages"),
    ({"url": "http://example.org/", "maxDepth": 6}, "maxDepth"),
    ({"url": "http://example.org/", "maxDepth": "2"}, "maxDepth"),
    ({"url": "http://example.org/", "include": ["(unclosed"]}, "include"),
    ({"url": "http://example.org/", "exclude": "x"}, "exclude"),
    ({"url": "http://example.org/", "include": ["a"] * 21}, "include"),
    ({"url": "http://example.org/", "render": "fast"}, "render"),
    ({"url": "http://example.org/", "depth": 1}, "depth"),
])
@pytest.mark.gen_test
async def test_invalid_crawls_are_400_and_start_nothing(fetch, body, field):
    r = await fetch("/api/web/crawl", method="POST", json=body)
    assert r.code == 400 and field in r.json()["fields"], r.text
    assert (await fetch("/api/web/crawls")).json()["total"] == 0


@pytest.mark.gen_test
async def test_unknown_crawls_are_404(fetch):
    assert (await fetch("/api/web/crawls/9")).code == 404
    assert (await fetch("/api/web/crawls/9", method="DELETE")).code == 404


@pytest.mark.gen_test
async def test_a_running_crawl_is_cancelled(app, fetch, crawl_site):  # noqa: F811
    r = await fetch("/api/web/crawl", method="POST", json={"url": crawl_site.url + "/slow"})
    id = r.json()["id"]
    while "/slow" not in crawl_site.hits:  # until the crawl waits on the page
        await asyncio.sleep(0.01)
    r = await fetch("/api/web/crawls/%d" % id, method="DELETE")
    assert r.code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["completedAt"] is not None
    assert app.settings["services"]["web"].crawler.running() == []
    # Cancelling again changes nothing.
    again = await fetch("/api/web/crawls/%d" % id, method="DELETE")
    assert again.json()["status"] == "cancelled"


@pytest.mark.gen_test
async def test_crawls_left_running_by_a_previous_process_fail(config, io_loop):
    first = make_app(config)
    stores = first.settings["stores"]
    row = await stores.web_crawls.create({"url": "http://example.org/", "status": "running",
                                          "options": {"maxPages": 5, "maxDepth": 1}})
    done = await stores.web_crawls.create({"url": "http://example.org/",
                                           "status": "completed", "options": {}})
    await close_app(first)
    second = make_app(config)
    try:
        await second.settings["services"]["web"].start()
        crawl = await second.settings["services"]["web"].crawl_result(row.id)
        assert crawl["status"] == "failed" and crawl["error"] == "Interrupted by a restart."
        assert (await second.settings["stores"].web_crawls.get(done.id)).status == "completed"
    finally:
        await close_app(second)


# -- /ws -------------------------------------------------------------------------------------

async def frame(conn):
    return json.loads(await conn.read_message())


@pytest.mark.gen_test
async def test_crawl_progress_over_the_websocket(app, fetch, ws_connect,
                                                 crawl_site):  # noqa: F811
    conn = await ws_connect()
    assert (await frame(conn))["type"] == "connected"
    r = await fetch("/api/web/crawl", method="POST",
                    json={"url": crawl_site.url + "/", "maxDepth": 1})
    id = r.json()["id"]
    conn.write_message(json.dumps({"type": "crawl:subscribe", "data": {"crawlId": id},
                                   "id": 7}))
    updates = []
    while True:
        f = await frame(conn)
        if f["type"] == "crawl:subscribed":
            assert f["id"] == 7 and f["data"]["crawlId"] == id
            assert f["data"]["crawl"]["id"] == id and "pages" in f["data"]["crawl"]
            if f["data"]["crawl"]["status"] in ("completed", "failed"):
                break
            continue
        assert f["type"] == "crawl:update" and f["data"]["crawl"]["id"] == id
        updates.append(f["data"]["crawl"])
        if f["data"]["crawl"]["status"] == "completed":
            break
    final = (await fetch("/api/web/crawls/%d" % id)).json()
    assert final["status"] == "completed" and final["pagesDone"] == 3
    done = [u["pagesDone"] for u in updates]
    assert done == sorted(done)
    conn.write_message(json.dumps({"type": "crawl:unsubscribe", "data": {"crawlId": id}}))
    assert (await frame(conn))["type"] == "crawl:unsubscribed"


@pytest.mark.parametrize("data, code", [
    ({"crawlId": 999}, "not_found"),
    ({"crawlId": "1"}, "invalid_fields"),
    ({}, "invalid_fields"),
])
@pytest.mark.gen_test
async def test_crawl_subscribe_errors(ws_connect, data, code):
    conn = await ws_connect()
    await frame(conn)
    conn.write_message(json.dumps({"type": "crawl:subscribe", "data": data}))
    f = await frame(conn)
    assert f["type"] == "error" and f["data"]["code"] == code


@pytest.mark.gen_test
async def test_progress_updates_reach_the_row_in_the_order_they_were_made(app, monkeypatch):
    # Pages finish together; on MySQL two updates of the row can run on two database threads,
    # and the older counts, committed last, stayed (8 pages read, 4 done and 1 failed). Here the
    # first update is made to finish last, as a thread may.
    crawler = app.settings["services"]["web"].crawler
    store = app.settings["stores"].web_crawls
    row = await store.create({"url": "http://127.0.0.1:9/", "status": "running",
                              "options": {}})
    update, delays = store.update, [0.2, 0]

    async def slow_first(id, changes):
        await asyncio.sleep(delays.pop(0) if delays else 0)
        return await update(id, changes)

    monkeypatch.setattr(store, "update", slow_first)
    await asyncio.gather(crawler._update(row["id"], {"pages_done": 1}),
                         crawler._update(row["id"], {"pages_done": 2}))
    assert (await store.get(row["id"]))["pages_done"] == 2
