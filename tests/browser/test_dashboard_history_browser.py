"""The Dashboard in Chromium: charts drawn from the server's last hour at once, and one tab
holding one WebSocket (its task card included)."""

import asyncio

import pytest

from orchestra.config import Config
from tests.browser.conftest import page_errors
from tests.conftest import TOKEN

CHARTS = ("cpu", "memory", "network", "disk")


@pytest.fixture
def config(tmp_path, backend, lmstudio_url):
    # A long interval: any point beyond the first live one can only come from the history.
    return Config(data_dir=str(tmp_path / "data"), db_url=backend, token=TOKEN,
                  lmstudio_url=lmstudio_url, port=0, metrics_interval=60, ws_ping_interval=30)


async def points(page):
    return {name: int(await page.get_attribute("#chart-%s" % name, "data-points"))
            for name in CHARTS}


@pytest.mark.gen_test(timeout=60)
async def test_charts_open_full_with_what_was_sampled_before(open_page, app, fake_lmstudio):
    collector = app.settings["services"]["metrics"]
    page = await open_page("/login")  # logged in, on a page without a socket
    for _ in range(12):  # samples taken while no page watched (a few ms apart)
        await collector.collect(probe_lmstudio=False)
        await asyncio.sleep(0.005)
    kept = len(collector.history())
    assert kept >= 12
    await page.goto(page.url.split("/login")[0] + "/")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await page.wait_for_function(
        "Number(document.querySelector('#chart-cpu').dataset.points) >= %d" % kept)
    counts = await points(page)
    # The history (one point per sample) plus at most the fresh sample taken for this page.
    assert all(kept <= n <= kept + 1 for n in counts.values()), counts
    await page.wait_for_selector("[data-figure=cpu]:not(:text('–'))")
    assert await page.inner_text("#lmstudio-state") == "reachable"
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_one_tab_opens_one_socket_and_the_task_card_uses_it(open_page, app,
                                                                   fake_lmstudio):
    stores, hub = app.settings["stores"], app.settings["hub"]
    task = await stores.tasks.create({"title": "Brew tea", "description": "",
                                      "status": "pending", "subtasks": []})
    sockets = []
    page = await open_page("/login")  # logged in, on a page without a socket
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(page.url.split("/login")[0] + "/")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await page.locator("[data-figure=clients]", has_text="1").wait_for()
    assert await page.inner_text("[data-figure=clients]") == "1"
    assert len(sockets) == 1 and sockets[0].endswith("/ws")
    card = page.locator("#dashboard-task-list")
    await card.locator("a", has_text="Brew tea").wait_for()
    # An update of the task reaches the card over the page's one socket.
    renamed = await stores.tasks.update(task["id"], {"title": "Brew green tea"})
    hub.publish("task:update", task["id"], "updated", task=renamed)
    await card.locator("a", has_text="Brew green tea").wait_for()
    assert len(sockets) == 1
    assert page_errors(page) == []
