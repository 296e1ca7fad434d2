"""MetricsCollector: snapshot contents, rates, the lazy timer, GPU parsing."""

import asyncio
import os

import pytest

from orchestra.services import metrics as metricslib
from orchestra.services.lmstudio import LMStudioClient
from orchestra.services.metrics import MetricsCollector, amd_gpus, parse_nvidia_smi


@pytest.mark.gen_test
async def test_snapshot_has_every_figure():
    collector = MetricsCollector(10)
    await asyncio.sleep(0.05)
    snapshot = await collector.collect()
    assert 0 <= snapshot["cpu"]["percent"] <= 100
    assert len(snapshot["cpu"]["perCore"]) == snapshot["cpu"]["count"] >= 1
    assert snapshot["memory"]["total"] > snapshot["memory"]["used"] > 0
    assert snapshot["disk"]["total"] > 0
    for key in ("readBytesPerSec", "writeBytesPerSec"):
        assert snapshot["disk"][key] is None or snapshot["disk"][key] >= 0
    for key in ("sentBytesPerSec", "recvBytesPerSec"):
        assert snapshot["network"][key] is None or snapshot["network"][key] >= 0
    assert snapshot["processes"] > 0 and snapshot["uptimeSeconds"] > 0
    assert snapshot["process"]["pid"] == os.getpid() and snapshot["process"]["rssBytes"] > 0
    assert snapshot["lmstudio"] == {"reachable": False, "activeModel": None}
    assert isinstance(snapshot["gpu"], list)
    assert snapshot["timestamp"].endswith("Z")
    assert collector.latest is snapshot


@pytest.mark.gen_test
async def test_rates_are_computed_between_samples(monkeypatch):
    class Counters:
        def __init__(self, **values):
            self.__dict__.update(values)

    net = iter([Counters(bytes_sent=0, bytes_recv=0),
                Counters(bytes_sent=1000, bytes_recv=5000),
                Counters(bytes_sent=500, bytes_recv=6000)])  # a counter reset
    clock = iter([100.0, 102.0, 104.0])
    monkeypatch.setattr(metricslib.psutil, "net_io_counters", lambda: next(net))
    collector = MetricsCollector(10, clock=lambda: next(clock))
    first = collector.system_snapshot()["network"]
    assert first == {"sentBytesPerSec": 500.0, "recvBytesPerSec": 2500.0}
    second = collector.system_snapshot()["network"]
    assert second == {"sentBytesPerSec": None, "recvBytesPerSec": 500.0}


@pytest.mark.gen_test
async def test_cpu_is_primed():
    # Without priming, psutil's first cpu_percent(interval=None) reads a meaningless 0.0.
    collector = MetricsCollector(10)
    busy_until = asyncio.get_running_loop().time() + 0.3
    while asyncio.get_running_loop().time() < busy_until:
        sum(range(10000))
    assert collector.system_snapshot()["process"]["cpuPercent"] > 0


@pytest.mark.gen_test
async def test_timer_runs_from_start_to_stop():
    collector = MetricsCollector(0.05)
    seen = []
    assert not collector.running
    collector.add_listener(seen.append)
    assert collector.running
    await asyncio.sleep(0.3)
    assert len(seen) >= 3  # the first at once, then one per interval
    collector.remove_listener(seen.append)
    assert collector.running and not collector.watched  # history goes on without listeners
    count = len(seen)
    samples = collector.samples
    await asyncio.sleep(0.2)
    assert len(seen) == count and collector.samples > samples
    collector.stop()
    await asyncio.sleep(0.05)  # a sample already under way may finish
    samples = collector.samples
    await asyncio.sleep(0.2)
    assert not collector.running and collector.samples == samples


@pytest.mark.gen_test
async def test_failing_listener_does_not_stop_the_others():
    collector = MetricsCollector(10)
    seen = []

    def broken(snapshot):
        raise RuntimeError("boom")

    collector._listeners = [broken, seen.append]
    await collector.tick()
    assert len(seen) == 1


@pytest.mark.gen_test
async def test_lmstudio_state(fake_lmstudio):
    client = LMStudioClient(fake_lmstudio.url)
    try:
        snapshot = await MetricsCollector(10, client).collect()
    finally:
        await client.close()
    assert snapshot["lmstudio"] == {"reachable": True, "activeModel": "qwen2.5-7b-instruct",
                                    "url": fake_lmstudio.url}


def test_parse_nvidia_smi():
    text = ("NVIDIA GeForce RTX 4090, 37, 20480, 24564, 61\n"
            "Tesla T4, [N/A], 0, 15360, [N/A]\n"
            "garbage line\n")
    gpus = parse_nvidia_smi(text)
    assert gpus[0] == {"name": "NVIDIA GeForce RTX 4090", "vendor": "nvidia",
                       "utilizationPercent": 37, "memoryUsedBytes": 20480 * 1024 * 1024,
                       "memoryTotalBytes": 24564 * 1024 * 1024, "temperatureC": 61}
    assert gpus[1]["utilizationPercent"] is None and gpus[1]["temperatureC"] is None
    assert len(gpus) == 2


def test_amd_gpus_from_sysfs(tmp_path):
    device = tmp_path / "card0" / "device"
    device.mkdir(parents=True)
    (device / "gpu_busy_percent").write_text("12\n")
    (device / "mem_info_vram_used").write_text("1048576\n")
    (device / "mem_info_vram_total").write_text("8589934592\n")
    assert amd_gpus(str(tmp_path)) == [{
        "name": "card0", "vendor": "amd", "utilizationPercent": 12,
        "memoryUsedBytes": 1048576, "memoryTotalBytes": 8589934592, "temperatureC": None}]
    assert amd_gpus(str(tmp_path / "none")) == []
