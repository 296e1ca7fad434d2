"""StaticFetcher.get against a real local site: redirects, limits, methods, failures."""

import asyncio
import json

import pytest
import tornado.testing

from orchestra.services.web.errors import WebError
from orchestra.services.web.extract import needs_browser
from orchestra.services.web.fetcher import USER_AGENT, StaticFetcher
from tests.fakes.site_static import static_site  # noqa: F401


@pytest.fixture
def fetcher(io_loop):
    fetcher = StaticFetcher(allow_private=True, timeout=5, max_bytes=100_000)
    yield fetcher
    io_loop.run_sync(fetcher.close)


async def error_of(call):
    with pytest.raises(WebError) as caught:
        await call
    return caught.value


@pytest.mark.gen_test
async def test_get_reads_a_page_with_its_headers(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/article")
    assert response.status_code == 200
    assert response.url == response.final_url == static_site.url + "/article"
    assert response.content_type == "text/html"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert b"Tending a Sourdough Starter" in response.body and response.redirects == []


@pytest.mark.gen_test
async def test_get_never_raises_for_an_http_status(fetcher, static_site):  # noqa: F811
    for code in (404, 500, 503):
        response = await fetcher.get(static_site.url + "/status/%d" % code)
        assert response.status_code == code and b"Status %d" % code in response.body


@pytest.mark.gen_test
async def test_get_sends_a_clear_user_agent(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/echo")
    sent = json.loads(response.body)["headers"]
    assert sent["User-Agent"] == USER_AGENT and "Orchestra/" in USER_AGENT
    assert "text/html" in sent["Accept"]


@pytest.mark.gen_test
async def test_get_sends_method_headers_and_body(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/echo", method="post",
                                 headers={"X-Test": "yes", "Content-Type": "text/plain"},
                                 body=b"hello")
    echoed = json.loads(response.body)
    assert echoed["method"] == "POST" and echoed["body"] == "hello"
    assert echoed["headers"]["X-Test"] == "yes"


@pytest.mark.gen_test
async def test_redirects_are_followed_and_listed(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/chain/3")
    assert response.status_code == 200 and response.final_url == static_site.url + "/article"
    assert response.redirects == [static_site.url + p for p in ("/chain/3", "/chain/2",
                                                                  "/chain/1", "/chain/0")]
    assert static_site.hits == ["/chain/3", "/chain/2", "/chain/1", "/chain/0", "/article"]


@pytest.mark.gen_test
async def test_redirects_are_not_followed_when_asked(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/chain/3", follow_redirects=False)
    assert response.status_code == 302 and response.final_url == response.url
    assert response.headers["location"] == "/chain/2" and static_site.hits == ["/chain/3"]


@pytest.mark.gen_test
async def test_too_many_redirects_fail(fetcher, static_site):  # noqa: F811
    error = await error_of(fetcher.get(static_site.url + "/chain/11"))
    assert error.code == "network_error" and "more than 10" in error.message
    response = await fetcher.get(static_site.url + "/chain/9")   # ten hops are fine
    assert response.status_code == 200 and len(response.redirects) == 10


@pytest.mark.gen_test
async def test_a_redirect_to_another_scheme_is_refused(fetcher, static_site):  # noqa: F811
    error = await error_of(fetcher.get(static_site.url + "/redirect?to=file:///etc/passwd"))
    assert error.code == "invalid_url"


@pytest.mark.gen_test
async def test_303_turns_a_post_into_a_get_and_307_keeps_it(fetcher, static_site):  # noqa: F811
    response = await fetcher.get(static_site.url + "/redirect?status=303&to=/echo",
                                 method="POST", body=b"form=1",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    echoed = json.loads(response.body)
    assert echoed["method"] == "GET" and echoed["body"] == ""
    assert "Content-Type" not in echoed["headers"]
    response = await fetcher.get(static_site.url + "/redirect?status=307&to=/echo",
                                 method="POST", body=b"form=1")
    echoed = json.loads(response.body)
    assert echoed["method"] == "POST" and echoed["body"] == "form=1"


@pytest.mark.gen_test
async def test_credentials_are_not_carried_to_another_origin(fetcher, static_site):  # noqa: F811
    other = "http://localhost:%d/echo" % static_site.port
    response = await fetcher.get(static_site.url + "/redirect?to=" + other,
                                 headers={"Authorization": "Bearer s3cret", "Cookie": "a=b",
                                          "X-Kept": "1"})
    sent = json.loads(response.body)["headers"]
    assert "Authorization" not in sent and "Cookie" not in sent and sent["X-Kept"] == "1"
    response = await fetcher.get(static_site.url + "/redirect?to=/echo",
                                 headers={"Authorization": "Bearer s3cret"})
    assert json.loads(response.body)["headers"]["Authorization"] == "Bearer s3cret"


@pytest.mark.gen_test
async def test_a_slow_page_times_out(fetcher, static_site):  # noqa: F811
    error = await error_of(fetcher.get(static_site.url + "/slow", timeout=0.3))
    assert error.code == "timeout"


@pytest.mark.gen_test
async def test_a_dripping_page_times_out_as_a_whole(fetcher, static_site):  # noqa: F811
    """One byte every 20 ms stays under any read timeout; the whole request is bounded."""
    error = await error_of(fetcher.get(static_site.url + "/drip", timeout=0.5))
    assert error.code == "timeout"


@pytest.mark.gen_test
async def test_huge_pages_are_refused(fetcher, static_site):  # noqa: F811
    for how in ("declared", "streamed"):
        error = await error_of(fetcher.get(static_site.url + "/huge/" + how))
        assert error.code == "too_large" and "100,000 bytes" in error.message
    response = await fetcher.get(static_site.url + "/huge/streamed", max_bytes=300_000)
    assert len(response.body) == 200_000


@pytest.mark.gen_test
async def test_connection_refused_is_a_network_error(fetcher):
    sock, port = tornado.testing.bind_unused_port()
    sock.close()                       # a free port nobody listens on
    error = await error_of(fetcher.get("http://127.0.0.1:%d/" % port))
    assert error.code == "network_error" and "refused" in error.message.lower()


@pytest.mark.gen_test
async def test_invalid_urls_are_refused(fetcher):
    for url in ("ftp://example.org/", "not a url", "http:///nohost", "http://exa mple.org/",
                "http://[::1/", "http://example.org:99999/"):
        error = await error_of(fetcher.get(url))
        assert error.code == "invalid_url"


@pytest.mark.gen_test
async def test_cookies_are_not_kept_between_requests(fetcher, static_site):  # noqa: F811
    await fetcher.get(static_site.url + "/challenge/datadome")   # sets a cookie
    response = await fetcher.get(static_site.url + "/echo")
    assert "Cookie" not in json.loads(response.body)["headers"]


@pytest.mark.gen_test
async def test_the_fetcher_keeps_working_after_timeouts(fetcher, static_site):  # noqa: F811
    for _ in range(3):
        error = await error_of(fetcher.get(static_site.url + "/drip", timeout=0.2))
        assert error.code == "timeout"
    response = await fetcher.get(static_site.url + "/plain")
    assert response.body == "Plain words, caf\u00e9.".encode()


# -- fetch: the response read as a Page ------------------------------------------------------

@pytest.mark.gen_test
async def test_fetch_reads_an_html_page(fetcher, static_site):  # noqa: F811
    page = await fetcher.fetch(static_site.url + "/chain/1")
    assert page.renderer == "static" and page.status_code == 200
    assert page.url == static_site.url + "/chain/1"
    assert page.final_url == static_site.url + "/article"
    assert page.title == "Tending a Sourdough Starter"
    assert page.markdown.startswith("# Tending a Sourdough Starter")
    assert "Copyright" not in page.markdown
    assert page.metadata["contentType"] == "text/html"
    assert page.metadata["canonicalUrl"] == static_site.url + "/articles/sourdough"
    assert {"url": static_site.url + "/guides/discard", "text": "the discard guide"} \
        in page.links
    assert "<article>" in page.html


@pytest.mark.gen_test
async def test_fetch_reads_text_markdown_and_charsets(fetcher, static_site):  # noqa: F811
    page = await fetcher.fetch(static_site.url + "/plain")
    assert page.markdown == "Plain words, caf\u00e9." and page.title is None
    assert page.metadata == {"contentType": "text/plain"} and page.html is None
    page = await fetcher.fetch(static_site.url + "/markdown")
    assert page.markdown == "# Notes\n\n- one\n- two\n" and page.title == "Notes"
    page = await fetcher.fetch(static_site.url + "/latin")
    assert page.markdown == "caf\u00e9"


@pytest.mark.gen_test
async def test_fetch_reads_a_pdf_with_the_knowledge_parser(fetcher, static_site):  # noqa: F811
    page = await fetcher.fetch(static_site.url + "/pdf")
    assert page.title == "Orchestra Field Guide"
    assert page.metadata["contentType"] == "application/pdf" and page.metadata["pages"] >= 1
    assert "Orchestra" in page.markdown and page.html is None


@pytest.mark.gen_test
async def test_fetch_refuses_other_types(fetcher, static_site):  # noqa: F811
    error = await error_of(fetcher.fetch(static_site.url + "/image"))
    assert error.code == "unsupported_type" and "image/png" in error.message


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["cloudflare", "attention", "recaptcha", "hcaptcha",
                                  "turnstile", "human", "datadome", "perimeterx", "wall403",
                                  "wall429"])
async def test_fetch_reports_walls_and_challenges_as_blocked(fetcher, static_site,  # noqa: F811
                                                            name):
    error = await error_of(fetcher.fetch(static_site.url + "/challenge/" + name))
    assert error.code == "blocked"
    assert error.status_code == {"cloudflare": 503, "attention": 403, "datadome": 403,
                                 "perimeterx": 403, "wall403": 403, "wall429": 429}.get(
                                     name, 200)


@pytest.mark.gen_test
async def test_fetch_reports_other_statuses_as_http_errors(fetcher, static_site):  # noqa: F811
    for code in (404, 410, 500, 503):
        error = await error_of(fetcher.fetch(static_site.url + "/status/%d" % code))
        assert error.code == "http_error" and error.status_code == code
        assert str(code) in error.message


@pytest.mark.gen_test
async def test_fetch_passes_on_the_errors_of_get(fetcher, static_site):  # noqa: F811
    error = await error_of(fetcher.fetch(static_site.url + "/huge/declared"))
    assert error.code == "too_large"
    error = await error_of(fetcher.fetch(static_site.url + "/slow", timeout=0.3))
    assert error.code == "timeout"


@pytest.mark.gen_test
async def test_fetch_of_an_app_shell_gives_its_html_for_the_browser_check(  # noqa: F811
        fetcher, static_site):
    page = await fetcher.fetch(static_site.url + "/app")
    assert page.title == "App"
    assert needs_browser(page.html, {"markdown": page.markdown})


@pytest.mark.gen_test
async def test_a_cancelled_request_gives_its_worker_back(static_site):  # noqa: F811
    fetcher = StaticFetcher(allow_private=True, timeout=30, workers=1)
    try:
        task = asyncio.ensure_future(fetcher.get(static_site.url + "/drip"))
        while "/drip" not in static_site.hits:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The one worker was freed by the abort: the next request gets through.
        response = await fetcher.get(static_site.url + "/plain")
        assert response.status_code == 200
    finally:
        await fetcher.close()
