"""BrowserPool against a real local site and Debian's Chromium: script-built pages, every
request through the fetcher, refused addresses, sockets, timeouts, crashes, captures."""

import asyncio
import os
import struct

import pytest

from orchestra.services.web import browser as browserlib
from orchestra.services.web.browser import INSTALL_HINT, BrowserPool, find_browser
from orchestra.services.web.errors import WebError
from orchestra.services.web.fetcher import StaticFetcher
from tests.fakes.site_browser import (browser_site, crash_next, make_pool,  # noqa: F401
                                     running)

browser = pytest.mark.browser


async def error_of(call):
    with pytest.raises(WebError) as caught:
        await call
    return caught.value


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# -- finding a browser -------------------------------------------------------------------

def test_find_browser_takes_the_configured_path_or_nothing(tmp_path):
    executable = tmp_path / "chrome"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    assert find_browser(str(executable)) == str(executable)
    assert find_browser(str(tmp_path / "missing")) is None
    executable.chmod(0o644)
    assert find_browser(str(executable)) is None


def test_find_browser_looks_on_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    monkeypatch.setattr(browserlib.sys, "platform", "linux")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser() is None
    executable = tmp_path / "google-chrome"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    assert find_browser() == str(executable)


def test_find_browser_prefers_the_one_playwright_installed(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    with sync_playwright() as playwright:
        expected = playwright.chromium.executable_path
    assert expected.startswith(str(tmp_path))
    os.makedirs(os.path.dirname(expected))
    with open(expected, "w") as f:
        f.write("#!/bin/sh\n")
    assert find_browser() != expected            # not executable: not a browser
    os.chmod(expected, 0o755)
    assert find_browser() == expected


@pytest.mark.gen_test
async def test_render_without_a_browser_says_how_to_install_one():
    fetcher = StaticFetcher()
    pool = BrowserPool(None, fetcher)
    error = await error_of(pool.render("http://example.com/"))
    assert error.code == "browser_unavailable" and INSTALL_HINT in error.message
    assert pool.processes() == []
    await pool.close()
    await fetcher.close()


# -- rendering ---------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=60)
async def test_render_runs_the_page_scripts(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    rendered = await pool.render(browser_site.url + "/script",
                                 actions=[{"type": "wait_for", "selector": "#fetched"}])
    assert "<h1>Made in the browser</h1>" in rendered.html
    assert "Every word here" in rendered.html
    assert "Fetched through the router" in rendered.html
    assert rendered.status_code == 200 and rendered.final_url == browser_site.url + "/script"
    assert rendered.headers["content-type"] == "text/html; charset=utf-8"
    assert rendered.steps[0]["ok"] is True


@browser
@pytest.mark.gen_test(timeout=60)
async def test_every_request_goes_through_the_fetcher(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    await pool.render(browser_site.url + "/redirect",
                      actions=[{"type": "wait_for", "selector": "#fetched"}])
    assert browser_site.paths() == ["/redirect", "/script", "/data.json"]
    # Chromium offers br and zstd; requests, which made every one of these, does not.
    assert {hit.headers["Accept-Encoding"] for hit in browser_site.hits} == {"gzip, deflate"}


@browser
@pytest.mark.gen_test(timeout=60)
async def test_redirects_end_at_the_last_page(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/redirect")
    assert rendered.final_url == browser_site.url + "/script"
    assert rendered.status_code == 200 and "Made in the browser" in rendered.html
    assert "orchestra-redirect" not in rendered.html


@browser
@pytest.mark.gen_test(timeout=60)
async def test_an_error_status_is_returned_not_raised(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/nothing")
    assert rendered.status_code == 404 and "404" in rendered.html


# -- safety ------------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_redirect_to_loopback_is_refused(make_pool, browser_site):  # noqa: F811
    pool = make_pool(public=True)
    error = await error_of(pool.render(browser_site.public + "/loopback"))
    assert error.code == "blocked_address"
    assert browser_site.paths() == ["/loopback"]      # /secret was never asked for


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_loopback_address_is_refused(make_pool, browser_site):  # noqa: F811
    pool = make_pool(public=True)
    error = await error_of(pool.render(browser_site.url + "/secret"))
    assert error.code == "blocked_address" and browser_site.paths() == []


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_public_page_cannot_reach_in(make_pool, browser_site):  # noqa: F811
    pool = make_pool(public=True)
    rendered = await pool.render(browser_site.public + "/reach", actions=[
        {"type": "wait_for", "selector": "#reach[data-done]"},
        {"type": "extract", "selector": "#reach"}])
    assert rendered.final_url == browser_site.public + "/reach"
    assert rendered.steps[1]["value"] == "failed TypeError"
    assert browser_site.paths() == ["/reach"]         # neither the image nor the fetch


@browser
@pytest.mark.gen_test(timeout=60)
async def test_websockets_are_checked(make_pool, browser_site):  # noqa: F811
    script = [{"type": "wait_for", "selector": "#socket[data-done]"},
              {"type": "extract", "selector": "#socket"}]
    rendered = await make_pool().render(browser_site.url + "/socket", actions=script)
    assert rendered.steps[1]["value"] == "message echo ping"
    pool = make_pool(public=True)
    rendered = await pool.render(browser_site.public + "/socket", actions=script)
    assert rendered.steps[1]["value"] == "closed 1008"
    assert browser_site.paths().count("/ws") == 1     # the private pool's only


@browser
@pytest.mark.gen_test(timeout=60)
async def test_service_workers_are_blocked(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/worker", actions=[
        {"type": "wait_for", "selector": "#worker[data-done]"},
        {"type": "extract", "selector": "#worker"}])
    assert rendered.steps[1]["value"] in ("0 registered", "no service workers")
    assert "/sw.js" not in browser_site.paths()


@browser
@pytest.mark.gen_test(timeout=60)
async def test_downloads_are_refused(make_pool, browser_site):  # noqa: F811
    error = await error_of(make_pool().render(browser_site.url + "/download"))
    assert error.code == "unsupported_type"


# -- failures ----------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_page_that_never_answers_times_out(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    error = await error_of(pool.render(browser_site.url + "/hang", timeout=2))
    assert error.code == "timeout"
    rendered = await pool.render(browser_site.url + "/script")    # the pool goes on
    assert "Made in the browser" in rendered.html


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_script_that_never_ends_times_out(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    error = await error_of(pool.render(browser_site.url + "/busy", timeout=2))
    assert error.code == "timeout"
    assert "Made in the browser" in (await pool.render(browser_site.url + "/script")).html


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_crashed_tab_fails_the_render(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    crash = asyncio.ensure_future(crash_next(pool, browser_site))
    error = await error_of(pool.render(browser_site.url + "/crash/one", timeout=30))
    assert await crash == "one"
    assert error.code == "render_failed" and "crashed" in error.message
    assert "Made in the browser" in (await pool.render(browser_site.url + "/script")).html


# -- captures ----------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=60)
async def test_screenshots_of_the_viewport_and_the_full_page(make_pool,
                                                             browser_site):  # noqa: F811
    pool = make_pool()
    viewport = await pool.render(browser_site.url + "/tall", screenshot="viewport")
    full = await pool.render(browser_site.url + "/tall", screenshot="full")
    assert png_size(viewport.screenshot) == (1280, 720)
    width, height = png_size(full.screenshot)
    assert width == 1280 and height >= 3000
    assert viewport.pdf is None


@browser
@pytest.mark.gen_test(timeout=60)
async def test_pdf_printing(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/printable", pdf=True)
    assert rendered.pdf.startswith(b"%PDF-") and rendered.screenshot is None


# -- the pool ----------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=90)
async def test_contexts_are_bounded_and_renders_run_together(make_pool,
                                                             browser_site):  # noqa: F811
    pool = make_pool(max_contexts=2)
    seen = []
    original = pool._render

    async def counting(*args):
        seen.append(len(pool.browser.contexts))
        return await original(*args)

    pool._render = counting
    pages = await asyncio.gather(*[pool.render(browser_site.url + "/script")
                                   for _ in range(5)])
    assert all("Made in the browser" in page.html for page in pages)
    assert max(seen) <= 1 and pool.launches == 1     # at most one other context was open
    assert pool.browser.contexts == []


@browser
@pytest.mark.gen_test(timeout=120)
async def test_the_browser_is_recycled_after_n_pages(make_pool, browser_site):  # noqa: F811
    pool = make_pool(pages_per_browser=2)
    browsers = []
    for _ in range(5):
        await pool.render(browser_site.url + "/script")
        browsers.append(pool.processes()[0])
    assert pool.launches == 3
    assert [b.pid for b in browsers].count(browsers[0].pid) == 2
    assert not running(browsers[0]) and not running(browsers[2]) and running(browsers[4])


@browser
@pytest.mark.gen_test(timeout=120)
async def test_the_browser_is_recycled_past_its_memory_limit(make_pool,
                                                             browser_site):  # noqa: F811
    pool = make_pool(max_rss_mb=1)           # any running Chromium is over 1 MB
    await pool.render(browser_site.url + "/script")
    first = pool.processes()[0]
    assert pool.rss_mb() > 1
    await pool.render(browser_site.url + "/script")
    assert pool.launches == 2 and not running(first)


@browser
@pytest.mark.gen_test(timeout=60)
async def test_close_leaves_no_process(make_pool, browser_site):  # noqa: F811
    pool = make_pool()
    await pool.render(browser_site.url + "/script")
    processes = pool.processes()
    assert len(processes) >= 2 and os.path.basename(processes[0].exe()).startswith("chrom")
    await pool.close()
    assert pool.processes() == [] and not [p for p in processes if running(p)]
    error = await error_of(pool.render(browser_site.url + "/script"))
    assert error.code == "browser_unavailable"


@browser
@pytest.mark.gen_test(timeout=90)
async def test_a_browser_killed_under_the_pool_is_replaced(make_pool,
                                                           browser_site):  # noqa: F811
    pool = make_pool()
    await pool.render(browser_site.url + "/script")
    processes = pool.processes()
    processes[0].kill()                       # the browser itself, not its children
    processes[0].wait(30)
    rendered = await pool.render(browser_site.url + "/script")
    assert "Made in the browser" in rendered.html and pool.launches == 2
    # What the killed browser left behind went with it (or was killed by the pool).
    assert not [p for p in processes if running(p)]
    await pool.close()
    assert pool.processes() == []
