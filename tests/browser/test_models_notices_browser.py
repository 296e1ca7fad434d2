"""The Models page in Chromium: Compare with a single model says so and is disabled, and
warnings look like warnings (amber, with a sign), never like successes (green)."""

import pytest

from tests.browser.conftest import page_errors
from tests.fakes.lmstudio import DEFAULT_MODELS

AMBER_BACKGROUND = "rgb(255, 250, 235)"
GREEN_BACKGROUND = "rgb(236, 253, 243)"
CODER = "qwen2.5-coder-7b-instruct"
DEEPSEEK = "deepseek-r1-distill-qwen-7b"
DEFAULT = "qwen2.5-7b-instruct"


async def look(locator):
    return await locator.evaluate("""(e) => ({
        background: getComputedStyle(e).backgroundColor,
        sign: getComputedStyle(e, '::before').content})""")


@pytest.mark.gen_test(timeout=60)
async def test_compare_with_one_model_says_so_and_is_disabled(open_page, fake_lmstudio):
    # One language model and one embedding model: nothing to compare with.
    fake_lmstudio.models = [m for m in fake_lmstudio.models
                            if m["id"] == DEFAULT or m["type"] == "embeddings"]
    page = await open_page("/models")
    note = page.locator("#compare-note")
    await note.wait_for()
    assert await note.inner_text() == (
        "Comparing needs two or more models; the server offers one (%s)." % DEFAULT)
    form = page.locator("#compare-form")
    assert await form.get_by_role("button", name="Compare").is_disabled()
    assert await page.is_disabled("#compare-prompt")
    assert await form.locator("input[name=models]").count() == 1
    assert await form.locator("input[name=models]").is_disabled()
    # A second model appears on the server: Refresh enables the form again.
    fake_lmstudio.models.append(dict(next(m for m in DEFAULT_MODELS if m["id"] == CODER)))
    await page.click("#refresh-models")
    await form.locator("input[name=models]").nth(1).wait_for()
    assert await form.get_by_role("button", name="Compare").is_enabled()
    assert await page.is_enabled("#compare-prompt")
    assert not await note.is_visible()
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_warnings_look_like_warnings_and_successes_like_successes(open_page,
                                                                         fake_lmstudio):
    page = await open_page("/models")
    await page.fill("#compare-prompt", "Hello")
    await page.check("#compare-models input[value='%s']" % DEFAULT)
    await page.click("#compare-form button[type=submit]")
    message = page.locator("#models-message")
    assert await message.inner_text() == "Choose two or more models to compare."
    warning = await look(message)
    assert warning["background"] == AMBER_BACKGROUND and "\u26a0" in warning["sign"]
    assert await message.get_attribute("data-kind") == "warning"

    # A switch that had to fall back is a warning; a plain switch is a success.
    fake_lmstudio.fail_next(500, "Failed to load model: not enough memory",
                            path="/api/v1/models/load")
    await page.select_option("#switch-model", CODER)
    await page.fill("#switch-fallbacks", DEEPSEEK)
    await page.click("#switch-form button[type=submit]")
    result = page.locator("#switch-result")
    await result.filter(has_text="instead").wait_for()
    assert (await look(result))["background"] == AMBER_BACKGROUND
    await page.fill("#switch-fallbacks", "")
    await page.select_option("#switch-model", DEFAULT)
    await page.click("#switch-form button[type=submit]")
    await result.filter(has_text="%s is now the active model." % DEFAULT).wait_for()
    success = await look(result)
    assert success["background"] == GREEN_BACKGROUND and success["sign"] == "none"

    # The same for the flash a form page shows after a redirect: green, not amber.
    await page.goto(page.url.replace("/models", "/templates/new"))
    await page.fill("#f-name", "Greeting")
    await page.fill("#f-body", "Hello {{name}}")
    await page.click("main form button[type=submit]")
    flash = page.locator("p.flash")
    await flash.wait_for()
    assert (await look(flash))["background"] == GREEN_BACKGROUND
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_dashboard_warns_when_the_model_server_goes_away(open_page, fake_lmstudio):
    page = await open_page("/")
    await page.wait_for_selector("#socket-status[data-state=open]")
    hint = page.locator("#lmstudio-hint")
    assert await page.inner_text("#lmstudio-state") == "reachable"
    assert not await hint.is_visible()
    fake_lmstudio.stop()
    await hint.wait_for()  # the next sample says so, without a reload
    assert await page.inner_text("#lmstudio-state") == "not reachable"
    warning = await look(hint)
    assert warning["background"] == AMBER_BACKGROUND and "\u26a0" in warning["sign"]
    assert page_errors(page) == []
