"""The Chat page's search box in Chromium: titles and message text, across conversations."""

import pytest

from tests.browser.conftest import page_errors

OPEN = "#socket-status[data-state=open]"


async def titles(page):
    return await page.locator("#conversations li[data-id] a.title").all_inner_texts()


@pytest.mark.gen_test(timeout=60)
async def test_search_finds_conversations_by_title_and_by_message_text(open_page, app,
                                                                      fake_lmstudio):
    stores = app.settings["stores"]
    trip = await stores.conversations.create({"title": "Trip planning"})
    await stores.messages.add(trip.id, "user", "Which museums open on Monday in Lisbon?")
    bread = await stores.conversations.create({"title": "Bread"})
    await stores.messages.add(bread.id, "user", "Is 50% rye flour too much for a first loaf?")
    await stores.conversations.create({"title": "Lisbon budget"})
    await stores.conversations.create({"title": "Work notes"})

    page = await open_page("/chat")
    await page.wait_for_selector(OPEN)
    assert len(await titles(page)) == 4

    await page.fill("#conversation-search", "lisbon")  # a title and a message's text
    await page.wait_for_function(
        "document.querySelectorAll('#conversations li[data-id]').length === 2")
    assert sorted(await titles(page)) == ["Lisbon budget", "Trip planning"]

    await page.fill("#conversation-search", "50%")  # LIKE's wildcard matches only itself
    await page.wait_for_function(
        "document.querySelectorAll('#conversations li[data-id]').length === 1")
    assert await titles(page) == ["Bread"]

    await page.fill("#conversation-search", "nothing like this")
    empty = page.locator("#conversations li.empty")
    await empty.wait_for()
    assert await empty.inner_text() == 'No conversation matches "nothing like this".'

    await page.fill("#conversation-search", "rye")
    await page.wait_for_function(
        "document.querySelectorAll('#conversations li[data-id]').length === 1")
    await page.click("#conversations li[data-id] a.title")
    await page.wait_for_url("**/chat/%d" % bread.id)
    await page.wait_for_selector("text=Is 50% rye flour too much for a first loaf?")

    await page.fill("#conversation-search", "")
    await page.wait_for_function(
        "document.querySelectorAll('#conversations li[data-id]').length === 4")
    assert page_errors(page) == []
