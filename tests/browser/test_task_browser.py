"""Tasks in Chromium: create a task, run it, and watch it complete on its page live."""

import re

import pytest

from tests.browser.conftest import page_errors
from tests.services.task_script import ModelScript, plan_json

UNSAFE = "Tea <img src=x onerror=\"window.hacked=1\"> grows on bushes."


@pytest.fixture
def script(fake_lmstudio):
    script = ModelScript(plans=[plan_json(("Facts", "List facts"),
                                          ("Text", "Write the text", [1]))],
                         steps={"Facts": "Tea grows on bushes.", "Text": UNSAFE})
    fake_lmstudio.default_answer = script
    return script


@pytest.mark.gen_test(timeout=60)
async def test_create_a_task_and_watch_it_complete(open_page, app, script, fake_lmstudio):
    page = await open_page("/tasks/new")
    await page.fill("#f-title", "Tea facts")
    await page.fill("#f-description", "Write two lines about tea.")
    await page.uncheck("input[name=autoRun]")
    await page.click("main form button[type=submit]")
    await page.wait_for_url(re.compile(r"/tasks/\d+$"))
    await page.wait_for_selector("#live-status[data-state=open]")
    assert await page.inner_text("#task-status") == "pending"
    assert await page.inner_text("#task-title") == "Tea facts"

    fake_lmstudio.chunk_delay = 0.02  # answers stream for a while, so the page sees them run
    await page.click("button[data-action=run]")
    await page.wait_for_selector("#task-status.badge.running")
    await page.wait_for_selector("#task-status.badge.completed")
    items = page.locator("#subtasks li.subtask")
    assert await items.count() == 2
    assert await items.nth(0).get_attribute("data-status") == "completed"
    assert await page.inner_text("#task-result") == UNSAFE
    assert await page.locator("#task-result img").count() == 0
    assert await page.evaluate("window.hacked") is None
    assert "ok" in await items.nth(1).locator(".verdict").inner_text()
    assert await page.is_disabled("button[data-action=run]")
    assert page_errors(page) == []

    listing = await open_page("/tasks")
    row = listing.locator("tr[data-task-id]")
    assert await row.locator("[data-field=status]").inner_text() == "completed"
    assert await row.locator("[data-field=count]").inner_text() == "2/2"
    assert page_errors(listing) == []


@pytest.mark.gen_test(timeout=60)
async def test_cancel_from_the_page(open_page, app, script, fake_lmstudio):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await orchestrator.create_task({"title": "Slow", "description": "",
                                           "model": "qwen2.5-7b-instruct",
                                           "subtasks": [{"title": "Facts"}]})
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    fake_lmstudio.script_answer("never", delay_first=60)
    await page.click("button[data-action=run]")
    await page.wait_for_selector("li.subtask[data-status=running]")
    await page.click("button[data-action=cancel]")
    await page.wait_for_selector("#task-status.badge.cancelled")
    await page.wait_for_selector("li.subtask[data-status=skipped] >> text=Retry")
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_dashboard_lists_tasks(open_page, app, script):
    orchestrator = app.settings["services"]["orchestrator"]
    await orchestrator.create_task({"title": "Shown on the dashboard", "description": ""})
    page = await open_page("/")
    await page.wait_for_selector("#dashboard-task-list >> text=Shown on the dashboard")
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_edit_subtasks_by_hand_then_run(open_page, app, script):
    orchestrator = app.settings["services"]["orchestrator"]
    task = await orchestrator.create_task({"title": "Mine", "description": "",
                                           "check_answers": False})
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    await page.click("#edit-subtasks summary")
    await page.fill("#subtask-lines", "Facts: list them\nText: write it")
    await page.click("#edit-subtasks-form button[type=submit]")
    await page.wait_for_selector("#subtasks li.subtask >> text=2. Text")
    await page.click("button[data-action=run]")
    await page.wait_for_selector("#task-status.badge.completed")
    assert script.titles() == ["Facts", "Text"] and script.plan_requests == []
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_task_list_shows_new_tasks_and_their_progress_live(open_page, app, script):
    orchestrator = app.settings["services"]["orchestrator"]
    page = await open_page("/tasks")
    await page.wait_for_selector("#live-status[data-state=open]")
    assert await page.locator("tr[data-task-id]").count() == 0
    task = await orchestrator.create_task({"title": "Tea facts", "description": "Two lines.",
                                           "check_answers": False})
    row = page.locator("tr[data-task-id='%d']" % task["id"])
    await row.wait_for()
    assert "Tea facts" in await row.inner_text()
    await orchestrator.run(task["id"])
    await page.wait_for_selector("tr[data-task-id='%d'] .badge.completed" % task["id"])
    assert await row.locator("[data-field=count]").inner_text() == "2/2"
    assert page_errors(page) == []
