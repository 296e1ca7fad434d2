"""A task over a knowledge base in Chromium: each subtask lists the passages it was shown (links
to them, the cited ones marked), and an uncited sentence is flagged like any other finding."""

import pytest

from tests.browser.conftest import page_errors

SENCHA = ("# Sencha\n\n"   # a title heading: the link names the source once
          "Sencha is steamed soon after picking. A cup of sencha holds about 30 mg of caffeine.")
STEAMED = "Sencha is steamed soon after picking."
ANSWER = "A cup of sencha holds about 30 mg of caffeine [1]. " + STEAMED


@pytest.mark.gen_test(timeout=60)
async def test_passages_and_uncited_flags_show_on_the_task_page(open_page, app, fetch,
                                                                fake_lmstudio):
    fake_lmstudio.default_answer = ANSWER       # asked again, it still cites one sentence
    base = (await fetch("/api/knowledge-bases", method="POST", json={"name": "Tea"})).json()
    source = (await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base["id"], "kind": "text", "title": "Sencha",
        "content": SENCHA})).json()
    await app.settings["services"]["knowledge"].wait()
    orchestrator = app.settings["services"]["orchestrator"]
    task = await orchestrator.create_task({
        "title": "Tea", "description": "", "model": "qwen2.5-7b-instruct",
        "knowledge_base_id": base["id"],
        "subtasks": [{"title": "Caffeine", "description": "Caffeine in a cup of sencha?"}]})
    page = await open_page("/tasks/%d" % task["id"])
    await page.wait_for_selector("#live-status[data-state=open]")
    await page.click("button[data-action=run]")
    await page.wait_for_selector("#task-status.badge.needs_review")
    item = page.locator("li.subtask[data-status=needs_review]")
    flag = item.locator(".verdict li[data-code=uncited]")
    assert await flag.count() == 1
    assert await flag.inner_text() == (
        "“%s” — Cites no source, though [1] supports it. (citation)" % STEAMED)
    passages = item.locator(".passages")
    assert "Passages shown: 1, 1 cited" in await passages.inner_text()
    link = passages.locator("li.cited a")
    href = await link.get_attribute("href")
    assert href.startswith("/knowledge-bases/%d/sources/%d#chunk-" % (base["id"], source["id"]))
    assert await link.inner_text() == "Sencha"
    assert page_errors(page) == []
