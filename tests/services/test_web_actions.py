"""Scripted actions: the schema, and run_actions driving real pages of the local site
through BrowserPool (a login form, controls, failures, timeouts, screenshots, goto)."""

import pytest
from marshmallow import ValidationError

from orchestra.services.web.actions import ACTIONS_SCHEMA, MAX_STEPS
from tests.fakes.site_browser import browser_site, make_pool  # noqa: F401

browser = pytest.mark.browser

LOGIN = [
    {"type": "fill", "selector": "#user", "value": "alice"},
    {"type": "fill", "selector": "#password", "value": "s3cret"},
    {"type": "click", "selector": "#submit"},
    {"type": "wait_for", "selector": "#welcome"},
    {"type": "extract", "selector": "#welcome"},
]


def problems(actions):
    with pytest.raises(ValidationError) as caught:
        ACTIONS_SCHEMA.load(actions)
    return caught.value.messages


# -- the schema --------------------------------------------------------------------------

def test_schema_loads_every_type():
    loaded = ACTIONS_SCHEMA.load(LOGIN + [
        {"type": "goto", "url": "https://example.com/a"},
        {"type": "press", "key": "Enter"}, {"type": "press", "key": "a", "selector": "#q"},
        {"type": "select", "selector": "#s", "value": "x"},
        {"type": "select", "selector": "#s", "values": ["x", "y"]},
        {"type": "wait_for", "ms": 100}, {"type": "scroll", "to": "bottom", "times": 3},
        {"type": "scroll", "y": 400}, {"type": "scroll"},
        {"type": "extract", "selector": "a", "attribute": "href", "all": True},
        {"type": "screenshot", "fullPage": True}, {"type": "screenshot"}])
    assert loaded[-2] == {"type": "screenshot", "fullPage": True}
    assert loaded[0] == LOGIN[0] and ACTIONS_SCHEMA.load(loaded) == loaded


def test_schema_refuses_what_a_type_does_not_take():
    assert problems([{"type": "hover", "selector": "a"}]) == {0: {"type": [
        "Must be one of: click, extract, fill, goto, press, screenshot, scroll, select, "
        "wait_for."]}}
    assert problems([{"type": "click"}])[0] == {"selector": ["A click step needs it."]}
    assert problems([{"type": "click", "selector": "a", "value": "x"}])[0] == {
        "value": ["A click step does not take it."]}
    assert problems([{"type": "fill", "selector": "a"}])[0] == {
        "value": ["A fill step needs it."]}
    assert problems([{"type": "wait_for"}])[0] == {"selector": ["Give either selector or ms."]}
    assert problems([{"type": "wait_for", "selector": "a", "ms": 5}])[0] == {
        "selector": ["Give either selector or ms."]}
    assert problems([{"type": "select", "selector": "a"}])[0] == {
        "value": ["Give either value or values."]}
    assert problems([{"type": "scroll", "to": "top", "y": 3}])[0] == {
        "to": ["Give either to or y."]}
    assert problems([{"type": "scroll", "to": "left"}])[0] == {
        "to": ["Must be one of: top, bottom."]}
    assert problems([{"type": "click", "selector": "a", "colour": "red"}])[0] == {
        "colour": ["Unknown field."]}


def test_schema_checks_goto_urls_and_the_number_of_steps():
    assert problems([{"type": "goto", "url": "file:///etc/passwd"}])[0] == {
        "url": ["Only absolute http:// and https:// URLs can be read."]}
    assert "url" in problems([{"type": "goto", "url": "javascript:alert(1)"}])[0]
    steps = [{"type": "wait_for", "ms": 1}] * MAX_STEPS
    assert len(ACTIONS_SCHEMA.load(steps)) == MAX_STEPS
    assert problems(steps + steps[:1]) == {"_schema": ["A script has at most 50 steps."]}


# -- running them ------------------------------------------------------------------------

@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_login_form_driven_by_actions(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/login", actions=LOGIN)
    assert [step["ok"] for step in rendered.steps] == [True] * 5
    assert [step["index"] for step in rendered.steps] == [0, 1, 2, 3, 4]
    assert rendered.steps[4]["value"] == "Welcome, alice"
    assert all(step["durationMs"] >= 0 for step in rendered.steps)
    assert rendered.final_url == browser_site.url + "/account"
    assert "Welcome, alice" in rendered.html and rendered.status_code == 200
    # The form was posted, its 303 answered, and the session cookie sent on by Chromium.
    posted = [hit for hit in browser_site.hits if hit.method == "POST"]
    assert [hit.path for hit in posted] == ["/login"]
    account = [hit for hit in browser_site.hits if hit.path == "/account"]
    assert sorted(account[0].headers["Cookie"].split("; ")) == ["session=alice",
                                                                 "theme=dark"]


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_wrong_password_is_a_page_not_a_failure(make_pool, browser_site):  # noqa: F811
    script = [dict(LOGIN[0]), dict(LOGIN[1], value="wrong"), LOGIN[2],
              {"type": "wait_for", "selector": "#error"},
              {"type": "extract", "selector": "#error"}]
    rendered = await make_pool().render(browser_site.url + "/login", actions=script)
    assert rendered.steps[4] == dict(rendered.steps[4], ok=True,
                                     value="Wrong user or password")


@browser
@pytest.mark.gen_test(timeout=60)
async def test_select_press_scroll_and_extract(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/controls", actions=[
        {"type": "select", "selector": "#colour", "value": "green"},
        {"type": "select", "selector": "#sizes", "values": ["S", "L"]},
        {"type": "fill", "selector": "#search", "value": "kittens"},
        {"type": "press", "selector": "#search", "key": "Enter"},
        {"type": "extract", "selector": "#chosen"},
        {"type": "extract", "selector": "#searched"},
        {"type": "scroll", "to": "bottom", "times": 3},
        {"type": "extract", "selector": "#count"},
        {"type": "extract", "selector": ".item", "all": True},
        {"type": "extract", "selector": "#next", "attribute": "href"},
        {"type": "scroll", "to": "top"},
        {"type": "scroll", "y": 300},
    ])
    values = [step.get("value") for step in rendered.steps]
    assert all(step["ok"] for step in rendered.steps), rendered.steps
    assert values[0] == ["green"] and values[1] == ["S", "L"]
    assert values[4] == "green" and values[5] == "searched kittens"
    assert values[6] > 0 and values[7] == "80 items"       # three scrolls, 20 more each
    assert values[8][:2] == ["Item 1", "Item 2"] and len(values[8]) == 80
    assert values[9] == "/script" and values[10] == 0 and values[11] == 300


@browser
@pytest.mark.gen_test(timeout=60)
async def test_the_first_failed_step_stops_the_script(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/controls", step_timeout=1,
                                        actions=[
        {"type": "select", "selector": "#colour", "value": "blue"},
        {"type": "click", "selector": "#nowhere"},
        {"type": "extract", "selector": "#chosen"},
        {"type": "wait_for", "ms": 10}])
    first, failed, *skipped = rendered.steps
    assert first["ok"] is True
    assert failed["ok"] is False and failed["code"] == "timeout"
    assert failed["error"] == "Timed out after 1 s waiting for #nowhere."
    assert skipped == [{"index": 2, "type": "extract", "ok": False, "skipped": True},
                       {"index": 3, "type": "wait_for", "ok": False, "skipped": True}]
    # the page comes back as it stood
    assert '<p id="chosen">blue</p>' in rendered.html


@browser
@pytest.mark.gen_test(timeout=60)
async def test_a_wait_longer_than_the_step_allows_fails(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/script", step_timeout=1,
                                        actions=[{"type": "wait_for", "selector": "#never"},
                                                 {"type": "wait_for", "ms": 20}])
    assert rendered.steps[0]["ok"] is False and rendered.steps[0]["code"] == "timeout"
    assert rendered.steps[1]["skipped"] is True


@browser
@pytest.mark.gen_test(timeout=60)
async def test_screenshot_steps(make_pool, browser_site):  # noqa: F811
    rendered = await make_pool().render(browser_site.url + "/tall", actions=[
        {"type": "screenshot"}, {"type": "scroll", "to": "bottom"},
        {"type": "screenshot", "fullPage": True}])
    assert [step.get("shot") for step in rendered.steps] == [0, None, 1]
    assert all(shot.startswith(b"\x89PNG") for shot in rendered.shots)
    assert len(rendered.shots) == 2 and rendered.screenshot is None


@browser
@pytest.mark.gen_test(timeout=60)
async def test_goto_steps_go_through_the_router(make_pool, browser_site):  # noqa: F811
    pool = make_pool(public=True)
    rendered = await pool.render(browser_site.public + "/controls", actions=[
        {"type": "goto", "url": browser_site.public + "/redirect"},
        {"type": "extract", "selector": "#made"},
        {"type": "goto", "url": browser_site.url + "/secret"},
        {"type": "extract", "selector": "#made"}])
    moved, made, refused, skipped = rendered.steps
    assert moved["ok"] and moved["value"] == browser_site.public + "/script"
    assert made["value"] == "Every word here"
    assert refused["ok"] is False and refused["code"] == "blocked_address"
    assert skipped["skipped"] is True
    # The refused navigation left the page where it was.
    assert rendered.final_url == browser_site.public + "/script"
    assert "Made in the browser" in rendered.html
    assert "/secret" not in browser_site.paths()
