"""MetricsCollector's last hour: kept without listeners, trimmed by age, LM Studio left alone."""

import asyncio

import pytest

from orchestra.services.lmstudio import LMStudioClient
from orchestra.services.metrics import HISTORY_SECONDS, MetricsCollector

POINT_KEYS = {"timestamp", "cpuPercent", "memoryPercent", "swapPercent", "recvBytesPerSec",
              "sentBytesPerSec", "readBytesPerSec", "writeBytesPerSec"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.gen_test
async def test_history_keeps_the_last_hour_only():
    clock = Clock()
    collector = MetricsCollector(10, clock=clock)
    assert collector.history() == []
    for _ in range(HISTORY_SECONDS // 10 + 30):  # an hour and five minutes of samples
        await collector.collect(probe_lmstudio=False)
        clock.now += 10
    points = collector.history()
    # Taken at 1000 + 10 k; the newest at now - 10; none older than an hour.
    assert len(points) == HISTORY_SECONDS // 10
    assert all(set(p) == POINT_KEYS for p in points)
    assert points[-1]["timestamp"] == collector.latest["timestamp"]
    assert points[-1]["cpuPercent"] == collector.latest["cpu"]["percent"]
    clock.now += HISTORY_SECONDS  # nothing sampled for an hour (the machine slept)
    assert collector.history() == []


@pytest.mark.gen_test
async def test_samples_go_on_without_listeners_and_skip_lmstudio(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url)
    collector = MetricsCollector(0.05, client)
    try:
        collector.start()
        while collector.samples < 4:
            await asyncio.sleep(0.02)
        assert len(collector.history()) >= 4
        assert collector.latest["lmstudio"] is None
        assert fake_lmstudio.paths() == []  # nobody watches: the model server is left alone

        seen = []
        collector.add_listener(seen.append)
        while not seen:
            await asyncio.sleep(0.02)
        assert seen[0]["lmstudio"]["reachable"] is True
        assert fake_lmstudio.paths() != []
    finally:
        collector.stop()
        await client.close()
