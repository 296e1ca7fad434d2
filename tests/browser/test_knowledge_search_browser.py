"""A knowledge base in Chromium: a file uploaded in the form shows its indexing progress live
and finishes; a search marks the words it found; a hit opens its passage on the source's page,
highlighted."""

import pytest

from tests.browser.conftest import page_errors
from tests.web.test_knowledge_api import DOCUMENTS, fixture


def manual(sections=40):
    body = " ".join("Sentence %d tells how the boiler's valve is opened." % n for n in range(30))
    return ("# Boiler manual\n\n" + "\n\n".join(
        "## Section %d\n\n%s" % (n, body) for n in range(sections))
        + "\n\n## Maintenance\n\nDescale the boiler every spring with citric acid.\n").encode()


@pytest.mark.gen_test(timeout=120)
async def test_upload_watch_it_index_search_and_open_a_passage(open_page, app, tmp_path):
    stores = app.settings["stores"]
    knowledge = app.settings["services"]["knowledge"]
    base = await stores.knowledge_bases.create({"name": "Plant room", "description": ""})
    path = tmp_path / "boiler.md"
    path.write_bytes(manual())
    page = await open_page("/knowledge-bases/%d" % base.id)
    await page.wait_for_selector("#kb-live[data-subscribed]")

    # The indexer is busy: the new source waits its turn with an indeterminate bar.
    async with knowledge._turn:
        await page.set_input_files("#src-file-file", str(path))
        await page.locator("#add-file").get_by_role("button", name="Add").click()
        row = page.locator("tr[id^=source-]")
        await row.locator(".badge.indexing").wait_for()
        await row.locator(".indexing-progress progress").wait_for()
        assert await row.locator("a.title").inner_text() == "boiler.md"
        assert await row.locator("progress").get_attribute("value") is None
        assert "boiler.md" in await page.locator("#add-file .upload-status").inner_text()
    # Let it run: the bar fills, the badge says ready, the chunks are counted.
    await row.locator(".indexing-progress[data-phase=done]").wait_for()
    await row.locator(".badge.ready").wait_for()
    bar = row.locator("progress")
    assert await bar.get_attribute("value") == await bar.get_attribute("max")
    chunks = int(await row.locator("td.chunks").inner_text())
    assert chunks > 3
    assert f"indexed: {chunks} chunks" in await row.locator(".indexing-progress").inner_text()
    await knowledge.wait()
    [source] = await stores.knowledge_sources.list(knowledge_base_id=base.id)
    assert source.chunk_count == chunks and source.status == "ready"

    # Search: the hit names its source and heading, the words found are marked.
    await page.fill("#kb-q", "descale boiler")
    await page.locator("#kb-search").get_by_role("button", name="Search").click()
    hit = page.locator("#kb-results .kb-hit").first
    await hit.wait_for()
    assert await hit.locator("h3").inner_text() == "boiler.md"
    assert "Maintenance" in await hit.locator(".heading-path").inner_text()
    marked = {m.lower() for m in await hit.locator("mark").all_inner_texts()}
    assert {"descale", "boiler"} <= marked
    assert "search" in (await page.locator("#kb-mode").inner_text()).lower()

    # The hit opens its passage on the source's page, highlighted as the target.
    await hit.locator("h3 a").click()
    await page.wait_for_url("**/sources/%d#chunk-*" % source.id)
    target = page.locator(".chunk:target")
    await target.wait_for()
    assert "Descale the boiler" in await target.inner_text()
    assert await target.get_attribute("id") == page.url.rsplit("#", 1)[1]
    background = await target.evaluate("e => getComputedStyle(e).backgroundColor")
    other = await page.locator(".chunk:not(:target)").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert background != other
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=120)
async def test_an_unreadable_upload_shows_the_reason_and_a_too_large_one_is_not_sent(
        open_page, app, tmp_path):
    base = await app.settings["stores"].knowledge_bases.create({"name": "Docs",
                                                                "description": ""})
    broken = tmp_path / "broken.docx"
    broken.write_bytes(fixture("not-a-document.zip"))
    page = await open_page("/knowledge-bases/%d" % base.id)
    await page.wait_for_selector("#kb-live[data-subscribed]")
    await page.set_input_files("#src-file-file", str(broken))
    await page.locator("#add-file").get_by_role("button", name="Add").click()
    row = page.locator("tr[id^=source-]")
    await row.locator(".badge.failed").wait_for()
    reason = await row.locator(".field-error").inner_text()
    assert reason.endswith(".") and "could not be read: %s" % reason in await page.locator(
        "#add-file .upload-status").inner_text()

    # Over the limit: the page says so without sending it (the server would refuse it unread).
    await page.evaluate("""() => { document.getElementById('add-file').dataset.maxBytes = 10; }""")
    big = tmp_path / "big.txt"
    big.write_bytes(DOCUMENTS["notes.txt"][0])
    await page.set_input_files("#src-file-file", str(big))
    await page.locator("#add-file").get_by_role("button", name="Add").click()
    await page.locator("#src-file-file-error").wait_for()
    assert "larger than the limit" in await page.locator("#src-file-file-error").inner_text()
    assert await page.locator("tr[id^=source-]").count() == 1
    assert page_errors(page) == []
