"""Browser fixtures: Debian's Chromium driven by Playwright, logged in to a test server.

Use `open_page` in a `@pytest.mark.gen_test(timeout=60)` test (Playwright's async API then
runs on the same IOLoop as the app):

    page = await open_page("/chat")          # a logged-in Page at that path
    await page.get_by_role("button", name="Send").click()
    assert page_errors(page) == []           # uncaught script errors on the page

`chromium` is the browser itself, for a test with a server of its own:
`browser = await chromium()`.

Chromium missing skips these tests with the reason, except with ORCHESTRA_REQUIRE_BROWSER=1
(CI), where it fails them.
"""

import os
import urllib.parse

import pytest

from tests.conftest import TOKEN

CHROMIUM = os.environ.get("ORCHESTRA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _unavailable():
    """Why the browser cannot run here, or None."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return "Chromium is not installed at %s (apt-get install -y chromium)" % CHROMIUM
    return None


@pytest.fixture
def backend():
    """Browser tests run on SQLite only: the protocol tests cover MySQL."""
    return None


@pytest.fixture
def chromium(io_loop):
    """await chromium() -> Playwright's Browser: Chromium, launched at the first call and
    closed after the test."""
    reason = _unavailable()
    if reason:
        if os.environ.get("ORCHESTRA_REQUIRE_BROWSER"):
            pytest.fail("ORCHESTRA_REQUIRE_BROWSER is set but " + reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright
    state = {}

    async def launch():
        if "browser" not in state:
            state["playwright"] = await async_playwright().start()
            state["browser"] = await state["playwright"].chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        return state["browser"]

    yield launch

    async def close():
        if "browser" in state:
            await state["browser"].close()
            await state["playwright"].stop()

    io_loop.run_sync(close, timeout=30)


@pytest.fixture
def open_page(app, http_server, base_url, chromium):
    """open_page(path="/", token=True) -> a Playwright Page on this test's server."""

    async def _open(path="/", token=True):
        context = await (await chromium()).new_context()
        page = await context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: _console_error(msg, errors))
        _errors[id(page)] = errors
        if token:
            # Any page opened with ?token= logs the browser in (a signed cookie).
            await page.goto(base_url + "/?" + urllib.parse.urlencode({"token": TOKEN}))
        await page.goto(base_url + path)
        return page

    return _open


_errors = {}


def _console_error(message, errors):
    # The favicon is an error like any other: every page links one that exists.
    if message.type == "error":
        errors.append(message.text)


def page_errors(page):
    """Uncaught exceptions and console errors the page reported so far."""
    return list(_errors.get(id(page), []))
