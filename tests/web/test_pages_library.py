"""Template, workflow and instruction pages: variables, steps, ordering, checkboxes."""

import re

import pytest

from tests.web.conftest import field_error, input_value


async def make_template(browser, name, body, category=""):
    r = await browser.post("/templates/new", {"name": name, "body": body, "category": category,
                                              "description": ""})
    assert r.code == 303, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def step_names(page):
    return re.findall(r'name="steps-(\d+)-name"[^>]*value="([^"]*)"', page)


@pytest.mark.gen_test
async def test_template_page_shows_variables_and_body_and_the_list_filters(browser):
    await browser.login()
    id = await make_template(browser, "Letter", "Dear {{name}},\n{{ body }} <b>{{name}}</b>",
                             "mail")
    await make_template(browser, "Haiku", "A haiku about {{topic}}", "poems")
    page = (await browser.get("/templates/%d" % id)).text
    assert re.findall(r'<code class="chip">(\w+)</code>', page) == ["name", "body"]
    assert "Dear {{name}},\n{{ body }} &lt;b&gt;{{name}}&lt;/b&gt;" in page

    listing = (await browser.get("/templates?category=poems")).text
    assert "Haiku" in listing and "Letter" not in listing
    assert '<option value="poems" selected>' in listing and '<option value="mail">' in listing
    assert "Nothing matches" in (await browser.get("/templates?category=none")).text
    form = (await browser.get("/templates/new")).text
    assert '<datalist id="f-category-list"><option value="mail"><option value="poems">' in form


@pytest.mark.gen_test
async def test_instruction_checkbox_unchecked_saves_false(browser, fetch):
    await browser.login()
    r = await browser.post("/instructions/new", {"name": "Tone", "content": "Be brief.",
                                                 "active": "on", "position": ""})
    id = int(r.headers["Location"].rsplit("/", 1)[1])
    got = (await fetch("/api/instructions/%d" % id)).json()
    assert bool(got["active"]) is True and got["position"] == 0
    edit = (await browser.get("/instructions/%d/edit" % id)).text
    assert re.search(r'name="active"[^>]* checked', edit)
    r = await browser.post("/instructions/%d/edit" % id,
                           {"name": "Tone", "content": "Be brief.", "position": "-3"})
    assert r.code == 303
    got = (await fetch("/api/instructions/%d" % id)).json()
    assert bool(got["active"]) is False and got["position"] == -3
    edit = (await browser.get("/instructions/%d/edit" % id)).text
    assert not re.search(r'name="active"[^>]* checked', edit)


def workflow_form(name, *steps):
    """Form pairs for a workflow; each step is a dict of its fields without the prefix."""
    pairs = [("name", name), ("description", "")]
    for i, step in enumerate(steps):
        pairs += [("steps-%d-%s" % (i, key), value) for key, value in step.items()]
    return pairs


@pytest.mark.gen_test
async def test_workflow_steps_are_saved_in_order_and_can_be_reordered_added_removed(
        browser, fetch):
    await browser.login()
    tid = await make_template(browser, "Summary", "Summarise {{text}} for {{audience}}")
    first = {"name": "Summarise", "kind": "template", "templateId": str(tid),
             "var-text": "the report", "var-audience": "managers", "prompt": "ignored"}
    second = {"name": "Polish", "kind": "prompt", "templateId": "", "prompt": "Polish it"}
    r = await browser.post("/workflows/new", workflow_form("Review", first, second))
    assert r.code == 303, r.text
    id = int(r.headers["Location"].rsplit("/", 1)[1])
    steps = (await fetch("/api/workflows/%d" % id)).json()["steps"]
    assert [(s["name"], s["templateId"], s["prompt"]) for s in steps] == [
        ("Summarise", tid, None), ("Polish", None, "Polish it")]
    assert steps[0]["variables"] == {"text": "the report", "audience": "managers"}

    page = (await browser.get("/workflows/%d" % id)).text
    assert 'href="/workflows/%d/run"' % id in page
    assert page.index("Summarise") < page.index("Polish") and "managers" in page

    edit = (await browser.get("/workflows/%d/edit" % id)).text
    assert step_names(edit) == [("0", "Summarise"), ("1", "Polish")]
    assert input_value(edit, "steps-0-var-audience") == "managers"
    assert re.search(r'<option value="%d" selected>Summary</option>' % tid, edit)

    # Reordered and one added: the script renumbers the inputs in their new order.
    third = {"name": "Check", "kind": "prompt", "prompt": "Check facts"}
    r = await browser.post("/workflows/%d/edit" % id, workflow_form("Review", second, first,
                                                                    third))
    assert r.code == 303
    steps = (await fetch("/api/workflows/%d" % id)).json()["steps"]
    assert [s["name"] for s in steps] == ["Polish", "Summarise", "Check"]
    # Removed.
    r = await browser.post("/workflows/%d/edit" % id, workflow_form("Review", third))
    steps = (await fetch("/api/workflows/%d" % id)).json()["steps"]
    assert [s["name"] for s in steps] == ["Check"]


@pytest.mark.gen_test
async def test_workflow_step_buttons_work_without_the_script(browser, fetch):
    await browser.login()
    a = {"name": "A", "kind": "prompt", "prompt": "a"}
    b = {"name": "B", "kind": "prompt", "prompt": "b"}
    form = workflow_form("W", a, b)
    r = await browser.post("/workflows/new", form + [("stepAction", "up:1")])
    assert r.code == 200 and step_names(r.text) == [("0", "B"), ("1", "A")]
    r = await browser.post("/workflows/new", form + [("stepAction", "down:0")])
    assert step_names(r.text) == [("0", "B"), ("1", "A")]
    r = await browser.post("/workflows/new", form + [("stepAction", "add")])
    assert step_names(r.text) == [("0", "A"), ("1", "B"), ("2", "")]
    r = await browser.post("/workflows/new", form + [("stepAction", "remove:0")])
    assert step_names(r.text) == [("0", "B")] and input_value(r.text, "name") == "W"
    assert field_error(r.text, "steps-0-prompt") is None
    assert (await fetch("/api/workflows")).json()["total"] == 0


@pytest.mark.gen_test
async def test_choosing_a_template_without_the_script_shows_its_variable_inputs(browser):
    await browser.login()
    tid = await make_template(browser, "T", "{{who}} and {{what}}")
    step = {"name": "", "kind": "template", "templateId": str(tid)}
    r = await browser.post("/workflows/new", workflow_form("W", step) + [
        ("stepAction", "refresh")])
    assert r.code == 200
    assert input_value(r.text, "steps-0-var-who") == ""
    assert input_value(r.text, "steps-0-var-what") == ""


@pytest.mark.gen_test
async def test_invalid_steps_get_messages_beside_them_and_nothing_is_written(browser, fetch):
    await browser.login()
    no_template = {"name": "x", "kind": "template", "templateId": ""}
    no_prompt = {"name": "y", "kind": "prompt", "prompt": "  "}
    missing = {"name": "z", "kind": "template", "templateId": "999"}
    r = await browser.post("/workflows/new", workflow_form("W", no_template, no_prompt, missing))
    assert r.code == 400
    assert field_error(r.text, "steps-0-templateId") == "Pick a template."
    assert field_error(r.text, "steps-1-prompt") == "Give either a template or an inline prompt."
    assert field_error(r.text, "steps-2-templateId") is None  # checked once the rest is valid
    assert step_names(r.text) == [("0", "x"), ("1", "y"), ("2", "z")]
    r = await browser.post("/workflows/new", workflow_form("W", missing))
    assert r.code == 400 and field_error(r.text, "steps-0-templateId") == "No such template."
    assert (await fetch("/api/workflows")).json()["total"] == 0


@pytest.mark.gen_test
async def test_blank_required_fields_say_so(browser):
    await browser.login()
    r = await browser.post("/templates/new", {"name": " ", "body": "", "category": "x" * 101})
    assert r.code == 400
    assert field_error(r.text, "name") == field_error(r.text, "body") == "This field is required."
    assert field_error(r.text, "category") == "Length must be between 0 and 100."
