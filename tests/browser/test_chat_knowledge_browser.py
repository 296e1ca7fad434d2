"""Chat with a knowledge base in Chromium: pick the base, ask, open a citation, follow it to
the passage on its source's page."""

import re

import pytest

from tests.browser.conftest import page_errors
from tests.web.test_chat_knowledge import ASSAM, make_base, only_chunk
from tests.web.test_ws import until

SENCHA = ("# Green tea\n\nSencha is steeped at 70 to 80 degrees <b>Celsius</b> for one "
          "minute.\n\nIt grows mostly in Shizuoka.")
ANSWER = ("Steep sencha for one minute at 70 to 80 degrees Celsius [1]. Source [7] was not "
          "shown, and code keeps its brackets:\n\n```\nitems[1]\n```")


@pytest.mark.gen_test(timeout=90)
async def test_ask_a_knowledge_base_and_open_a_citation(open_page, app, fetch, fake_lmstudio):
    base, sources = await make_base(fetch, app, "Tea", {"Green tea": SENCHA, "Black tea": ASSAM})
    await make_base(fetch, app, "Coffee", {})
    chunk = await only_chunk(app, sources["Green tea"])
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    assert await page.inner_text("#kb-in-use") == "none: answers from the model alone"
    await page.click("#kb-details summary")
    await page.get_by_label("Tea", exact=True).check()
    assert await page.inner_text("#kb-in-use") == "in use: Tea"

    fake_lmstudio.script_answer(ANSWER, chunk_delay=0.01)
    await page.fill("#message", "How should I steep sencha?")
    await page.click("#send")
    answer = page.locator("li.message.assistant[data-status=complete]")
    await answer.locator("a.citation").wait_for()
    links = answer.locator("a.citation")
    assert await links.count() == 1 and await links.inner_text() == "[1]"
    body = await answer.locator(".body").inner_text()
    assert "Source [7] was not shown" in body and "items[1]" in body
    assert await answer.locator("pre a").count() == 0

    await links.click()
    panel = page.locator("#citation-panel")
    await panel.wait_for(state="visible")
    assert "Green tea" in await panel.locator("#citation-title").inner_text()
    quote = panel.locator(".citation-quote")
    assert "70 to 80 degrees <b>Celsius</b> for one minute" in await quote.inner_text()
    assert await quote.locator("b").count() == 0    # the passage's text, never its markup
    source = panel.locator("a.citation-source")
    href = await source.get_attribute("href")
    assert href == "/knowledge-bases/%d/sources/%d#chunk-%d" % (
        base["id"], sources["Green tea"], chunk["id"])
    conversation_url = page.url

    await source.click()
    await page.wait_for_url(re.compile(r"/knowledge-bases/\d+/sources/\d+#chunk-\d+$"))
    target = page.locator("section#chunk-%d" % chunk["id"])
    await target.wait_for()
    assert "Sencha is steeped" in await target.inner_text()
    assert await page.evaluate("document.querySelector(':target').id") == "chunk-%d" % chunk["id"]

    # Back in the conversation, its history shows the base in use and the citation again.
    await page.goto(conversation_url)
    await page.wait_for_selector("li.message.assistant a.citation")
    assert await page.inner_text("#kb-in-use") == "in use: Tea"
    stored = await app.settings["stores"].conversations.list()
    assert [c.knowledge_base_ids for c in stored] == [[base["id"]]]
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_conversations_bases_change_from_the_picker(open_page, app, fetch,
                                                            fake_lmstudio):
    tea, _ = await make_base(fetch, app, "Tea", {"Green tea": SENCHA})
    coffee, _ = await make_base(fetch, app, "Coffee", {})
    r = await fetch("/api/conversations", method="POST",
                    json={"title": "Brewing", "knowledgeBaseIds": [tea["id"]]})
    conversation = r.json()
    page = await open_page("/chat/%d" % conversation["id"])
    await page.wait_for_selector("#socket-status[data-state=open]")
    assert await page.inner_text("#kb-in-use") == "in use: Tea"
    await page.click("#kb-details summary")
    await page.get_by_label("Coffee", exact=True).check()
    await page.get_by_label("Tea", exact=True).uncheck()
    await page.wait_for_function(
        "document.querySelector('#kb-in-use').textContent === 'in use: Coffee'")
    stores = app.settings["stores"]

    async def coffee_only():
        row = await stores.conversations.get(conversation["id"])
        return row.knowledge_base_ids == [coffee["id"]]

    await until(coffee_only)
    assert page_errors(page) == []
