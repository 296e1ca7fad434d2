"""The Dashboard in Chromium: live figures and charts that move."""

import pytest

from tests.browser.conftest import page_errors


@pytest.mark.gen_test(timeout=60)
async def test_dashboard_charts_move(open_page, fake_lmstudio):
    page = await open_page("/")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await page.wait_for_function(
        "Number(document.querySelector('#chart-cpu').dataset.points) >= 3")
    for chart in ("cpu", "memory", "network", "disk"):
        assert int(await page.get_attribute("#chart-%s" % chart, "data-points")) >= 2
    assert "%" in await page.inner_text("[data-figure=cpu]")
    assert int(await page.inner_text("[data-figure=clients]")) >= 1
    assert await page.inner_text("#lmstudio-state") == "reachable"
    assert await page.inner_text("#lmstudio-model") == "qwen2.5-7b-instruct"
    assert await page.locator("#cores span").count() >= 1
    # the canvas has been drawn on: some pixels are not blank
    drawn = await page.evaluate("""() => {
        const c = document.querySelector('#chart-cpu');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return data.some((v, i) => i % 4 === 3 && v > 0);
    }""")
    assert drawn
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_dashboard_without_lmstudio(open_page):
    page = await open_page("/")
    assert await page.inner_text("#lmstudio-state") == "not reachable"
    assert await page.is_visible("#lmstudio-hint")
