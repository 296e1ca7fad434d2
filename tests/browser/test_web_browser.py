"""The Web page in Chromium: fetch a page of a local site with a screenshot, read its
Markdown, metadata and links, follow a link, see a refusal with its code, reopen a fetch from
the history, and add the page to a knowledge base."""

import re

import pytest

from orchestra.app import close_app, make_app
from tests.browser.conftest import page_errors
from tests.browser.test_pages_browser import PHONE, fits
from tests.web.test_chat_read_page import tea_site  # noqa: F401 - the local site's fixture
from tests.web.test_ws import until


@pytest.fixture
def app(config, io_loop):
    """The app, with no politeness delay between requests to the one test host."""
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application), timeout=30)


def script_errors(page):
    # A refused fetch is a 400 answer, which Chromium logs as a failed resource load.
    return [e for e in page_errors(page) if not e.startswith("Failed to load resource")]


@pytest.mark.gen_test(timeout=120)
async def test_fetch_a_page_see_it_reopen_it_and_add_it_to_a_knowledge_base(
        open_page, app, fetch, tea_site):  # noqa: F811
    r = await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea notes"})
    base = r.json()
    page = await open_page("/")
    await page.get_by_role("link", name="Web", exact=True).click()
    await page.wait_for_url(re.compile(r"/web$"))
    assert await page.inner_text("#history-status") == "No fetches yet."

    url = tea_site.url + "/tea"
    await page.get_by_label("Page URL").fill(url)
    await page.get_by_label("Screenshot").select_option("full")
    await page.get_by_label("Print a PDF").check()
    await page.get_by_role("button", name="Fetch", exact=True).click()
    result = page.locator("#web-result")
    await result.wait_for(state="visible")
    assert await page.inner_text("#result-title") == "A Guide to Tea"
    assert await page.get_attribute("#result-url", "href") == url

    # Metadata, and the Markdown drawn as HTML: headings, list, table; no script, no image.
    meta = await page.inner_text("#result-meta")
    assert "Renderer" in meta and "browser" in meta and "Ada Leaf" in meta
    content = page.locator("#result-markdown")
    assert await content.locator("h2", has_text="Green tea").count() == 1
    assert await content.locator("li", has_text="Sencha: one minute").count() == 1
    assert await content.locator("td", has_text="Darjeeling").count() == 1
    assert await content.locator("img, script").count() == 0
    assert "never shown" not in await content.inner_text()
    raw = await page.locator("#result-raw").text_content()
    assert "## Green tea" in raw or "Green tea\n---" in raw

    # The screenshot is a real PNG served to this logged-in browser.
    image = page.locator("#result-screenshot-image")
    await image.wait_for(state="visible")
    await page.wait_for_function(
        "document.querySelector('#result-screenshot-image').naturalWidth > 0")
    assert "A Guide to Tea" in await image.get_attribute("alt")
    pdf = page.get_by_role("link", name="Open the PDF")
    response = await page.request.get(await pdf.evaluate("link => link.href"))
    assert response.ok and (await response.body()).startswith(b"%PDF")

    # The page's links, absolute; "Fetch" beside one reads that page.
    links = page.locator("#result-links")
    oolong = tea_site.url + "/tea/oolong"
    assert await links.locator('a[href="%s"]' % oolong).count() == 1
    assert await links.locator('a[href="https://example.org/teashop"]').count() == 1
    await page.get_by_role("button", name="Fetch %s" % oolong).click()
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'Oolong'")
    assert "partly oxidised" in await content.inner_text()

    # A page the site does not have: the refusal, with its code.
    await page.get_by_label("Page URL").fill(tea_site.url + "/nothing")
    await page.get_by_label("Screenshot").select_option("")
    await page.get_by_label("Print a PDF").uncheck()
    await page.get_by_role("button", name="Fetch", exact=True).click()
    error = page.locator("#web-error")
    await error.wait_for(state="visible")
    assert await error.locator(".code").inner_text() == "http_error:"
    assert "404" in await error.locator(".message").inner_text()

    # The history, newest first, the failure with its code; the first fetch reopens.
    history = page.locator("#history-list > li")
    await page.wait_for_function("document.querySelectorAll('#history-list > li').length === 3")
    assert "http_error" in await history.nth(0).inner_text()
    assert await history.nth(1).locator("button.open").inner_text() == "Oolong"
    await history.nth(2).locator("button.open").click()
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'A Guide to Tea'")
    assert await error.is_hidden()
    assert re.search(r"/web\?fetch=\d+$", page.url)
    assert await history.nth(2).locator("button.open").get_attribute("aria-current") == "true"
    await page.wait_for_function(
        "document.querySelector('#result-screenshot-image').naturalWidth > 0")

    # Add to knowledge base: the page becomes a URL source of the base, and is indexed.
    await page.get_by_label("Knowledge base").select_option(label="Tea notes")
    await page.get_by_role("button", name="Add to knowledge base").click()
    status = page.locator("#kb-add-status")
    await status.get_by_text("Added to Tea notes").wait_for()
    assert await status.get_by_role("link").get_attribute("href") == (
        "/knowledge-bases/%d" % base["id"])
    stores = app.settings["stores"]

    async def indexed():
        rows = await stores.knowledge_sources.list(knowledge_base_id=base["id"])
        return rows if rows and rows[0].status == "ready" else None

    sources = await until(indexed, timeout=30)
    assert [(s.kind, s.url, s.title, s.render) for s in sources] == [
        ("url", url, "A Guide to Tea", "browser")]

    # A reload keeps the fetch shown (its id is in the address).
    await page.reload()
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'A Guide to Tea'")
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_form_is_usable_with_the_keyboard_and_fits_a_phone(
        open_page, tea_site):  # noqa: F811
    page = await open_page("/web")
    await page.set_viewport_size(PHONE)
    await page.focus("#web-url")
    await page.keyboard.type(tea_site.url + "/tea")
    await page.keyboard.press("Enter")
    await page.locator("#web-result").wait_for(state="visible")
    assert await page.inner_text("#result-title") == "A Guide to Tea"
    # Focus moved to the result's heading, so a screen reader reads what came back.
    assert await page.evaluate("document.activeElement.id") == "result-title"
    assert await page.locator("#result-screenshot").is_hidden()   # none asked for
    assert await page.locator("#result-pdf").is_hidden()
    assert await page.locator("#result-steps").is_hidden()
    assert "static" in await page.inner_text("#result-meta")
    await page.locator("#history-list > li").wait_for()
    size = await fits(page)
    assert size["scroll"] <= size["client"], size

    await page.fill("#web-url", tea_site.url + "/tea/oolong")
    await page.focus("#web-url")
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'Oolong'")
    await page.wait_for_function("document.querySelectorAll('#history-list > li').length === 2")
    # The older entry of the history, reached with the keyboard, reopens with Enter.
    older = page.locator("#history-list > li").nth(1).locator("button.open")
    await older.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'A Guide to Tea'")
    assert await older.get_attribute("aria-current") == "true"
    assert await page.locator("#history-more").is_hidden()    # both fetches are listed
    assert page_errors(page) == []
