"""A knowledge base page in Chromium: a web page being fetched shows up when it arrives and
is indexed, without a reload."""

import pytest

from tests.browser.conftest import page_errors
from tests.fakes.website import fake_site  # noqa: F401


@pytest.mark.gen_test(timeout=60)
async def test_a_pending_web_page_appears_without_a_reload(open_page, app, fake_site):  # noqa: F811
    stores = app.settings["stores"]
    base = await stores.knowledge_bases.create({"name": "Docs", "description": ""})
    source = await stores.knowledge_sources.create({
        "knowledge_base_id": base.id, "kind": "url", "title": "Slow page",
        "url": fake_site.url + "/slow", "content": "", "status": "pending"})
    app.settings["services"]["web"].fetch_source(source.id, source.url)
    page = await open_page("/knowledge-bases/%d" % base.id)
    row = page.locator("#source-%d" % source.id)
    assert await row.locator(".badge").inner_text() == "pending"
    assert await row.locator(".indexing-progress .phase").inner_text() == "fetching"
    await page.wait_for_selector("#kb-live[data-subscribed]")
    fake_site.release.set()  # the site answers now
    await page.wait_for_selector("#source-%d .badge.ready" % source.id)
    await row.locator(".indexing-progress[data-phase=done]").wait_for()
    await page.wait_for_function(
        "id => document.querySelector(`#source-${id} td.size`).textContent === '4 chars'",
        arg=source.id)  # "late", redrawn from the API once indexed
    assert await row.locator("td.chunks").inner_text() == "1"
    assert page_errors(page) == []
