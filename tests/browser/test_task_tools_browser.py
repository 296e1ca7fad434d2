"""A tool step on the task page in Chromium: shown with its tool and arguments, and written
by hand in the subtask editor as a "[tool name {args}]" tag."""

import json

import pytest

from tests.browser.conftest import page_errors


@pytest.mark.gen_test(timeout=60)
async def test_a_tool_step_is_shown_and_written_by_hand(open_page, app, fetch):
    task = (await fetch("/api/tasks", method="POST", json={"title": "Docs", "subtasks": [
        {"title": "Read", "kind": "tool", "tool": "web.fetch",
         "args": {"url": "https://example.com/"}}]})).json()
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    step = page.locator("li.subtask .tool-step")
    assert await step.inner_text() == 'Tool: web.fetch {"url":"https://example.com/"}'

    await page.click("#edit-subtasks summary")
    lines = await page.input_value("#subtask-lines")
    assert lines.startswith('[tool web.fetch {"url": "https://example.com/"}] Read: ')
    crawl = {"url": "https://example.com/docs/", "maxPages": 3, "include": ["/docs/[a-z]+"]}
    await page.fill("#subtask-lines", lines.strip() + "\n[tool web.crawl %s] Crawl: the docs\n"
                    "[summarize] Sum up: what the docs say" % json.dumps(crawl))
    await page.click("#edit-subtasks-form button[type=submit]")
    await page.wait_for_selector("li.subtask >> nth=2")
    stored = (await fetch("/api/tasks/%d" % task["id"])).json()["subtasks"]
    assert [(s["kind"], s["tool"], s["args"], s["dependsOn"]) for s in stored] == [
        ("tool", "web.fetch", {"url": "https://example.com/"}, []),
        ("tool", "web.crawl", crawl, [0]),
        ("summarize", None, None, [1])]
    assert stored[1]["description"] == "the docs"
    assert page_errors(page) == []

    # arguments the tool does not take are refused with the field named
    await page.click("#edit-subtasks summary")
    await page.fill("#subtask-lines", '[tool web.fetch {"link": "x"}] Read: it')
    await page.click("#edit-subtasks-form button[type=submit]")
    await page.wait_for_selector("#action-error:not([hidden])")
    assert "Unknown field" in await page.inner_text("#action-error")
    assert [e for e in page_errors(page) if "status of 400" not in e] == []
