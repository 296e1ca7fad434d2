"""The workflow form in Chromium: template variables, adding, moving and removing steps."""

import re

import pytest

from tests.browser.conftest import page_errors


@pytest.mark.gen_test(timeout=60)
async def test_build_a_workflow_with_the_step_buttons(open_page, app):
    stores = app.settings["stores"]
    template = await stores.templates.create(
        {"name": "Summary", "description": "", "category": "", "body": "{{text}} for {{who}}"})
    page = await open_page("/workflows/new")
    await page.fill("#f-name", "Report")
    await page.select_option("#steps-0-kind", "template")
    assert await page.is_hidden("#steps-0-prompt")
    await page.select_option("#steps-0-templateId", str(template.id))
    await page.wait_for_selector("#steps-0-var-who")  # read from /api/templates/{id}
    await page.fill("#steps-0-var-text", "the notes")
    await page.fill("#steps-0-var-who", "managers")
    await page.fill("#steps-0-name", "Summarise")

    for name in ("Polish", "Throw away"):
        await page.get_by_role("button", name="+ Add step").click()
        step = page.locator("li.step").last
        await step.get_by_label("Step name").fill(name)
        await step.get_by_label("Prompt").fill(name.lower() + " it")
    await page.locator("li.step").nth(1).get_by_role("button", name="Move step up").click()
    await page.locator("li.step").nth(2).get_by_role("button", name="Remove").click()
    assert await page.locator("li.step").count() == 2
    assert await page.get_attribute("li.step:nth-child(1) input[id$='-name']",
                                    "name") == "steps-0-name"

    await page.get_by_role("button", name="Create workflow").click()
    await page.wait_for_url(re.compile(r"/workflows/\d+$"))
    [workflow] = await stores.workflows.list()
    assert [(s.name, s.prompt) for s in workflow.steps] == [("Polish", "polish it"),
                                                            ("Summarise", None)]
    assert workflow.steps[1].variables == {"text": "the notes", "who": "managers"}

    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()
    await page.wait_for_url(re.compile(r"/workflows$"))
    assert await stores.workflows.count() == 0
    assert page_errors(page) == []
