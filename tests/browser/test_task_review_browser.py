"""An answer that needs review in Chromium: amber on the list, the dashboard and the task
page, its claims shown with their evidence, accepted from the page, the task completing live."""

import pytest

from tests.browser.conftest import page_errors

ANSWER = ("The Eiffel Tower <img src=x onerror=window.__pwned=1> is 330 metres tall. "
          "It stands in Paris.")
# The check's samples give another height: the first claim is contradicted, never ok.
SAMPLE = "The Eiffel Tower is 300 metres tall. It stands in Paris."
# The first claim as the checker reads it (Markdown's "__" marks are not part of it).
CLAIM = "The Eiffel Tower <img src=x onerror=window.pwned=1> is 330 metres tall."


@pytest.fixture
def doubtful(app, fake_lmstudio):
    """Steps answer ANSWER, the check's samples (asked hotter) SAMPLE."""
    fake_lmstudio.default_answer = lambda body: (
        SAMPLE if (body.get("temperature") or 0) >= 0.9 else ANSWER)


async def tower_task(orchestrator):
    return await orchestrator.create_task({
        "title": "Tower", "description": "", "model": "qwen2.5-7b-instruct",
        "subtasks": [{"title": "Height", "description": "How tall?"}]})


def script_errors(page):
    # The answer is text, so no <img src=x> is ever requested; any error is a fault.
    return page_errors(page)


@pytest.mark.gen_test(timeout=60)
async def test_accept_an_answer_that_needs_review_from_the_page(open_page, app, doubtful):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await tower_task(orchestrator)
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    await page.click("button[data-action=run]")
    await page.wait_for_selector("#task-status.badge.needs_review")
    color = await page.eval_on_selector("#task-status", "e => getComputedStyle(e).color")
    assert color == "rgb(181, 71, 8)"  # --warn: amber
    review = page.locator("#review")
    assert await review.is_visible() and "1. Height" in await review.inner_text()
    item = page.locator("li.subtask[data-status=needs_review]")
    claims = item.locator(".claims .claim")
    assert await claims.count() == 2
    contradicted = item.locator(".claim.contradicted")
    assert await contradicted.locator(".claim-text").inner_text() == CLAIM
    assert await contradicted.locator(".evidence-text").inner_text() == SAMPLE.split(" It")[0]
    assert "sample 1" in await contradicted.locator(".evidence").inner_text()
    assert "The other samples say 300 instead." in await contradicted.inner_text()
    # Read in one go: a live update may redraw the list between two separate reads.
    colours = await page.evaluate("""() => Object.fromEntries(
        ['contradicted', 'supported'].map((v) => [v, getComputedStyle(
          document.querySelector(`li.subtask .claim-verdict.${v}`)).color]))""")
    assert colours == {"contradicted": "rgb(180, 35, 24)", "supported": "rgb(6, 118, 71)"}
    assert await item.locator("img, b").count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert await page.is_disabled("button[data-action=run]")

    listing = await open_page("/tasks")
    assert await listing.locator("tr .badge.needs_review").count() == 1
    dashboard = await open_page("/")
    await dashboard.wait_for_selector("#dashboard-task-list .badge.needs_review")

    async with page.expect_response("**/accept") as info:
        await item.get_by_role("button", name="Accept").click()
    assert (await info.value).status == 200
    await page.wait_for_selector("#task-status.badge.completed")
    assert await review.is_hidden()
    done = page.locator("li.subtask").first
    assert await done.get_attribute("data-status") == "completed"
    assert "accepted as it is" in await done.locator(".verdict").inner_text()
    await listing.wait_for_selector("tr .badge.completed")  # the list follows live
    for each in (page, listing, dashboard):
        assert script_errors(each) == []


@pytest.mark.gen_test(timeout=60)
async def test_edit_an_answer_that_needs_review_from_the_page(open_page, app, doubtful):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await tower_task(orchestrator)
    await orchestrator.run(task["id"])
    await orchestrator.wait(task["id"])
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    item = page.locator("li.subtask[data-status=needs_review]")
    await item.get_by_role("button", name="Edit").click()
    await item.locator("textarea").fill("   ")
    await item.get_by_role("button", name="Save answer").click()
    await page.wait_for_selector("#action-error:not([hidden])")
    assert "cannot be empty" in await page.inner_text("#action-error")
    await item.locator("textarea").fill("It is 330 m tall.")
    await item.get_by_role("button", name="Save answer").click()
    await page.wait_for_selector("#task-status.badge.completed")
    assert await page.inner_text("#task-result") == "It is 330 m tall."
    # The blank answer's 400 is the refusal this test asked for.
    assert [e for e in script_errors(page) if "status of 400" not in e] == []
