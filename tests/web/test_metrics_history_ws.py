"""The dashboard's history over a real /ws: samples taken before anyone watched arrive with
`monitoring:subscribed`, then live samples follow."""

import asyncio

import pytest

from tests.web.test_ws import connect, expect, recv, send


async def samples_taken(collector, count):
    while collector.samples < count:
        await asyncio.sleep(0.02)


@pytest.mark.gen_test(timeout=20)
async def test_subscribe_sends_the_history_taken_while_nobody_watched(app, ws_connect,
                                                                      fake_lmstudio):
    collector = app.settings["services"]["metrics"]
    await samples_taken(collector, 4)  # interval 0.2 s in tests; no socket is open yet
    assert fake_lmstudio.paths() == []
    conn = await connect(ws_connect)
    send(conn, "monitoring:subscribe", id=7)
    reply = await recv(conn)
    assert reply["type"] == "monitoring:subscribed" and reply["id"] == 7
    data = reply["data"]
    assert data["intervalSeconds"] == 0.2 and data["historySeconds"] == 3600
    history = data["history"]
    assert len(history) >= 4
    stamps = [point["timestamp"] for point in history]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    for point in history:
        assert 0 <= point["cpuPercent"] <= 100 and 0 < point["memoryPercent"] <= 100
    # The first subscriber gets a fresh full sample at once, LM Studio's state included.
    live = (await expect(conn, "monitoring:metrics"))["data"]
    assert live["timestamp"] > stamps[-1]
    assert live["lmstudio"]["reachable"] is True
    assert live["websocket"]["clients"] == 1


@pytest.mark.gen_test(timeout=20)
async def test_a_later_subscriber_gets_the_same_history_and_the_latest_sample(app, ws_connect):
    collector = app.settings["services"]["metrics"]
    first = await connect(ws_connect)
    send(first, "monitoring:subscribe")
    await expect(first, "monitoring:metrics")
    await samples_taken(collector, collector.samples + 2)
    second = await connect(ws_connect)
    send(second, "monitoring:subscribe")
    reply = await recv(second)
    assert reply["type"] == "monitoring:subscribed"
    history = reply["data"]["history"]
    latest = await recv(second)  # at once, not one interval later
    assert latest["type"] == "monitoring:metrics"
    assert history[-1]["timestamp"] <= latest["data"]["timestamp"]
    assert len(history) >= 3
