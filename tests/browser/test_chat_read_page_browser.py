""""Read the page" in Chromium: the button beside a message that links to a page of a local
site, the line saying the page was read, the answer's citation opening the page's passage in
the citation panel, and the way to the fetch on the Web page."""

import re
import urllib.parse

import pytest

from tests.browser.conftest import page_errors
from tests.web.test_chat_read_page import tea_site  # noqa: F401 - the local site's fixture


@pytest.mark.gen_test(timeout=90)
async def test_read_the_page_beside_a_message_and_open_its_citation(
        open_page, app, fake_lmstudio, tea_site):  # noqa: F811
    url = tea_site.url + "/tea"
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")

    # A message without an address has no button; one with an address has one.
    fake_lmstudio.script_answer("Hello.")
    await page.fill("#message", "Hello")
    await page.click("#send")
    await page.wait_for_selector("li.message.assistant[data-status=complete]")
    fake_lmstudio.script_answer("I cannot open links.")
    await page.fill("#message", "How hot should the water be for sencha? %s" % url)
    await page.click("#send")
    await page.wait_for_function(
        "document.querySelectorAll('li.message.assistant[data-status=complete]').length === 2")
    first, linked = page.locator("li.message.user").nth(0), page.locator("li.message.user").nth(1)
    assert await first.locator("button.read-page").count() == 0
    button = linked.get_by_role("button", name="Read the page %s" % url)
    assert await button.inner_text() == "Read the page"

    fake_lmstudio.script_answer("Sencha wants water at 70 to 80 degrees Celsius [1].",
                                chunk_delay=0.01)
    await button.click()
    status = linked.locator(".page-status[data-state=read]")
    await status.wait_for()
    assert "Read “A Guide to Tea”" in await status.inner_text()
    fetch_link = status.get_by_role("link", name="See the page as read")
    fetch_href = await fetch_link.get_attribute("href")
    assert re.fullmatch(r"/web\?fetch=\d+", fetch_href)

    # The new answer is shown (answer 2 of 2), its [1] links to the page.
    answer = page.locator("li.message.assistant:not([hidden])").last
    citation = answer.locator("a.citation")
    await citation.wait_for()
    assert "70 to 80 degrees" in await answer.locator(".body").inner_text()
    assert await answer.locator(".variant-label").inner_text() == "answer 2 of 2"
    assert await citation.get_attribute("href") == url

    await citation.click()
    panel = page.locator("#citation-panel")
    await panel.wait_for(state="visible")
    assert await panel.locator("#citation-title").inner_text() == "[1] A Guide to Tea"
    assert "70 to 80 degrees Celsius" in await panel.locator(".citation-quote").inner_text()
    assert await panel.locator(".citation-path").inner_text() == "Green tea"
    source = panel.locator("a.citation-source")
    href = await source.get_attribute("href")
    assert href.startswith(url + "#:~:text=") and await source.get_attribute("target") == "_blank"
    assert "Sencha" in urllib.parse.unquote(href)
    fetch = panel.locator("a.citation-fetch")
    assert await fetch.get_attribute("href") == fetch_href

    # The fetch, on the Web page.
    await fetch.click()
    await page.wait_for_url(re.compile(r"/web\?fetch=\d+$"))
    await page.wait_for_function(
        "document.querySelector('#result-title').textContent === 'A Guide to Tea'")
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_page_that_cannot_be_read_says_why(open_page, app, fake_lmstudio,
                                                   tea_site):  # noqa: F811
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    fake_lmstudio.script_answer("A link.")
    await page.fill("#message", "What is at %s/missing ?" % tea_site.url)
    await page.click("#send")
    await page.wait_for_selector("li.message.assistant[data-status=complete]")
    await page.get_by_role("button", name="Read the page").click()
    status = page.locator("li.message.user .page-status[data-state=failed]")
    await status.wait_for()
    assert "Could not read the page (http_error)" in await status.inner_text()
    assert "(http_error)" in await page.inner_text("#chat-error")
    assert await page.locator("li.message.assistant").count() == 1   # nothing new
    assert await page.get_by_role("button", name="Read the page").is_enabled()
    assert page_errors(page) == []
