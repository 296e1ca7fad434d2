"""Deleting tasks in Chromium: the Delete buttons of the task list and of a task's page ask
first, cancel a running task, and the task is gone."""

import pytest

from tests.browser.conftest import page_errors

MODEL = "qwen2.5-7b-instruct"


async def running_task(app, fake_lmstudio, title):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await orchestrator.create_task({"title": title, "description": "", "model": MODEL,
                                           "check_answers": False,
                                           "subtasks": [{"title": "Facts"}]})
    fake_lmstudio.script_answer("slow", delay_first=60)
    await orchestrator.run(task["id"])
    return task


@pytest.mark.gen_test(timeout=60)
async def test_delete_a_running_task_from_its_page(open_page, app, fake_lmstudio):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await running_task(app, fake_lmstudio, "Slow <tea>")
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    assert await page.inner_text("#task-status") == "running"

    asked = []

    async def dismiss(dialog):
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.click("#delete-task button[type=submit]")
    assert asked and "Slow <tea>" in asked[0] and "cancelled first" in asked[0]
    assert orchestrator.is_busy(task["id"])  # dismissed: nothing happened
    assert await app.settings["stores"].tasks.get(task["id"]) is not None

    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#delete-task button[type=submit]")
    await page.wait_for_url(base_url_of(page) + "/tasks")
    assert "Task \u201cSlow <tea>\u201d deleted." in await page.inner_text(".flash")
    assert not orchestrator.is_busy(task["id"])
    assert await app.settings["stores"].tasks.get(task["id"]) is None
    assert await page.locator("tr[data-task-id]").count() == 0
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_delete_from_the_task_list(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    keep = await app.settings["services"]["orchestrator"].create_task(
        {"title": "Keep", "description": ""})
    task = await running_task(app, fake_lmstudio, "Remove me")
    page = await open_page("/tasks")
    await page.wait_for_selector("#live-status[data-state=open]")
    row = page.locator("tr[data-task-id='%d']" % task["id"])
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Delete Remove me").click()
    await page.wait_for_selector(".flash")
    assert "Task \u201cRemove me\u201d deleted." in await page.inner_text(".flash")
    assert await page.locator("tr[data-task-id='%d']" % task["id"]).count() == 0
    assert await page.locator("tr[data-task-id='%d']" % keep["id"]).count() == 1
    assert await stores.tasks.get(task["id"]) is None
    assert await stores.tasks.get(keep["id"]) is not None
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_task_deleted_elsewhere_leaves_the_list_and_says_so_on_its_page(
        open_page, app, fake_lmstudio):
    task = await running_task(app, fake_lmstudio, "Elsewhere")
    listing = await open_page("/tasks")
    await listing.wait_for_selector("#live-status[data-state=open]")
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    await app.settings["services"]["orchestrator"].delete_task(task["id"])
    await listing.wait_for_selector("tr[data-task-id='%d']" % task["id"], state="detached")
    await page.wait_for_selector("#action-error:has-text('This task was deleted.')")
    assert await page.is_disabled("#delete-task button")
    assert page_errors(listing) == [] and page_errors(page) == []


def base_url_of(page):
    return page.url.split("/tasks")[0]
