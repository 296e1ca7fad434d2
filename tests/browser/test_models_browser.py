"""The Models page in Chromium: list, load, switch with fallback, benchmark, compare, offline."""

import pytest

from tests.browser.conftest import page_errors

CODER = "qwen2.5-coder-7b-instruct"
DEFAULT = "qwen2.5-7b-instruct"
DEEPSEEK = "deepseek-r1-distill-qwen-7b"
EMBEDDING = "text-embedding-nomic-embed-text-v1.5"
# A server never seen is named by its URL; one whose native API answered is LM Studio.
UNREACHABLE = "The model server at %s is not reachable; start it or check the URL."
LMSTUDIO_UNREACHABLE = ("LM Studio at %s is not reachable; start LM Studio's local server "
                        "(Developer tab, Start Server) or check the URL.")


def model_row(page, model_id):
    cell = page.get_by_role("cell", name=model_id, exact=True)
    return page.locator("#models-table tbody tr").filter(has=cell)


def script_errors(page):
    # A failed API call (503 from a stopped LM Studio) is logged by the browser as a failed
    # resource; that is expected in these tests, uncaught errors are not.
    return [e for e in page_errors(page) if not e.startswith("Failed to load resource")]


@pytest.mark.gen_test(timeout=60)
async def test_list_shows_the_models_and_their_states(open_page, app, fake_lmstudio):
    page = await open_page("/models")
    assert "active model: %s." % DEFAULT in await page.inner_text("#lmstudio-status")
    assert await page.locator("#models-table tbody tr").count() == len(fake_lmstudio.models)
    for model in fake_lmstudio.models:
        row = model_row(page, model["id"])
        assert await row.locator(".badge").inner_text() == model["state"]
    assert await model_row(page, DEFAULT).get_by_role("button").inner_text() == "Loaded"
    assert await model_row(page, DEFAULT).get_by_role("button").is_disabled()
    assert await model_row(page, CODER).get_by_role("button", name="Load").is_enabled()
    assert await model_row(page, EMBEDDING).get_by_role("button").count() == 0
    options = await page.locator("#switch-model option").evaluate_all(
        "o => o.map(x => x.value)")
    assert options == [DEFAULT, CODER, DEEPSEEK]  # embeddings cannot be switched to
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_load_a_model(open_page, app, fake_lmstudio):
    fake_lmstudio.load_delay = 0.5  # long enough to see "Loading…"
    page = await open_page("/models")
    row = model_row(page, CODER)
    assert await row.locator(".badge").inner_text() == "not-loaded"
    await row.get_by_role("button", name="Load").click()
    await page.wait_for_selector("#models-message >> text=Loading %s" % CODER)
    await row.locator(".badge", has_text="loaded").filter(has_not_text="not").wait_for()
    assert await row.get_by_role("button").inner_text() == "Loaded"
    assert await row.get_by_role("button").is_disabled()
    assert "%s is loaded" % CODER in await page.inner_text("#models-message")
    assert fake_lmstudio.model(CODER)["state"] == "loaded"
    assert ("/api/v1/models/load", {"model": CODER}) in fake_lmstudio.requests
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_switch_falls_back_when_the_first_choice_cannot_load(open_page, app,
                                                                  fake_lmstudio):
    page = await open_page("/models")
    fake_lmstudio.fail_next(500, "Failed to load model: not enough memory",
                            path="/api/v1/models/load")
    await page.select_option("#switch-model", CODER)
    await page.fill("#switch-fallbacks", "%s, %s" % (DEEPSEEK, DEFAULT))
    await page.click("#switch-form button[type=submit]")
    result = page.locator("#switch-result")
    await result.filter(has_text="active").wait_for()
    assert await result.inner_text() == (
        "%s could not be loaded; %s is active instead." % (CODER, DEEPSEEK))
    status = page.locator("#lmstudio-status strong", has_text=DEEPSEEK)
    await status.wait_for()
    await model_row(page, DEEPSEEK).locator(".badge", has_text="loaded").filter(
        has_not_text="not").wait_for()
    assert await model_row(page, CODER).locator(".badge").inner_text() == "not-loaded"
    assert fake_lmstudio.model(DEEPSEEK)["state"] == "loaded"
    assert fake_lmstudio.model(CODER)["state"] == "not-loaded"
    assert app.settings["lmstudio"].active_model == DEEPSEEK
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_benchmark_adds_a_row_and_a_point(open_page, app, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("token%d" % i for i in range(30)), chunk_delay=0.01)
    page = await open_page("/models")
    assert await page.locator("#benchmark-table tbody tr").count() == 0
    assert await page.locator("#benchmark-chart circle").count() == 0
    await page.select_option("#benchmark-model", CODER)
    await page.fill("#benchmark-prompt", "Count to thirty")
    await page.click("#benchmark-form button[type=submit]")
    rows = page.locator("#benchmark-table tbody tr")
    await rows.first.wait_for()
    assert await rows.count() == 1
    cells = await rows.first.locator("td").all_inner_texts()
    assert cells[1] == CODER and cells[5] == "30"
    assert float(cells[3]) > 0
    assert await page.locator("#benchmark-chart circle").count() == 1
    assert await page.locator("#benchmark-chart polyline").count() == 1
    assert CODER in await page.inner_text("#benchmark-legend")
    assert "tokens/s" in await page.inner_text("#models-message")
    stored = await app.settings["stores"].benchmarks.list()
    assert [(b.model, b.prompt, b.tokens_generated) for b in stored] == [
        (CODER, "Count to thirty", 30)]
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_compare_two_models_side_by_side_and_as_text(open_page, app, fake_lmstudio):
    hostile = "Here: <img src=x onerror=alert(1)> <b>bold?</b> done"
    answers = {DEFAULT: "Plain answer from the default model.", CODER: hostile}
    fake_lmstudio.default_answer = lambda body: answers[body["model"]]
    fake_lmstudio.chunk_delay = 0.01
    dialogs = []

    async def on_dialog(dialog):
        dialogs.append(dialog.message)
        await dialog.dismiss()  # an open alert would stall the page and hide the cause

    page = await open_page("/models")
    page.on("dialog", on_dialog)
    await page.fill("#compare-prompt", "Say something")
    await page.check("#compare-models input[value='%s']" % DEFAULT)
    await page.check("#compare-models input[value='%s']" % CODER)
    await page.click("#compare-form button[type=submit]")
    cards = page.locator("#compare-results article")
    await cards.first.wait_for()
    assert await cards.count() == 2
    assert await cards.locator("h3").all_inner_texts() == [DEFAULT, CODER]
    await page.wait_for_timeout(300)  # time for an injected onerror to have fired
    assert dialogs == []
    assert await page.locator("#compare-results img, #compare-results b").count() == 0
    for card, text in zip((cards.nth(0), cards.nth(1)), (answers[DEFAULT], hostile)):
        assert await card.locator("pre").inner_text() == text
        timings = await card.locator("p.muted").inner_text()
        assert timings.startswith("first token ") and "tok/s" in timings
        assert "–" not in timings  # every timing was measured
    first, second = [await cards.nth(i).bounding_box() for i in (0, 1)]
    assert first["y"] == second["y"] and first["x"] + first["width"] <= second["x"]
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_page_without_lmstudio_says_so_and_actions_report_it(open_page, app,
                                                                   fake_lmstudio):
    fake_lmstudio.stop()
    page = await open_page("/models")
    status = await page.inner_text("#lmstudio-status")
    # Nothing answered yet, so nothing says the server is LM Studio: it is named by its URL.
    assert status.startswith("The model server at %s is not reachable" % fake_lmstudio.url)
    assert await page.inner_text("#models-table tbody") == "No models to show."
    await page.click("#benchmark-form button[type=submit]")
    message = page.locator("#models-message.error")
    await message.wait_for()
    assert await message.inner_text() == UNREACHABLE % fake_lmstudio.url
    assert await page.is_enabled("#benchmark-form button[type=submit]")
    assert await app.settings["stores"].benchmarks.list() == []
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_lmstudio_stopping_under_the_page_gives_a_sentence(open_page, app,
                                                                 fake_lmstudio):
    page = await open_page("/models")
    await model_row(page, CODER).get_by_role("button", name="Load").wait_for()
    fake_lmstudio.stop()
    await model_row(page, CODER).get_by_role("button", name="Load").click()
    message = page.locator("#models-message.error")
    await message.wait_for()
    assert await message.inner_text() == LMSTUDIO_UNREACHABLE % fake_lmstudio.url
    assert await model_row(page, CODER).get_by_role("button", name="Load").is_enabled()
    await page.click("#refresh-models")
    await page.locator("#lmstudio-status .error").wait_for()
    assert "not reachable" in await page.inner_text("#lmstudio-status")
    assert script_errors(page) == []
