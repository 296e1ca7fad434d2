"""MetricsCollector: system, process, GPU and LM Studio figures, sampled while someone looks."""

import asyncio
import datetime
import glob
import logging
import os
import shutil
import time

import psutil
import tornado.ioloop

logger = logging.getLogger(__name__)

NVIDIA_QUERY = ("name,utilization.gpu,memory.used,memory.total,temperature.gpu")
GPU_TIMEOUT = 2.0
LMSTUDIO_TIMEOUT = 2.0


class MetricsCollector:
    """Samples the machine every `interval` seconds while at least one listener is attached.

    Listeners are plain callables taking the snapshot dict (camelCase keys, ready for JSON).
    The PeriodicCallback starts with the first listener and stops with the last, so nothing
    is collected while nobody watches.
    """

    def __init__(self, interval, lmstudio=None, disk_path="/", clock=time.monotonic):
        self.interval = float(interval)
        self.clock = clock
        self.lmstudio = lmstudio
        self.disk_path = disk_path
        self.latest = None
        self.samples = 0
        self._listeners = []
        self._timer = None
        self._sampling = False
        self._process = psutil.Process()
        self._nvidia_smi = shutil.which("nvidia-smi")
        self._prime()

    # -- listeners -------------------------------------------------------------------------

    @property
    def running(self):
        return self._timer is not None

    def add_listener(self, callback):
        self._listeners.append(callback)
        if self._timer is None:
            self._timer = tornado.ioloop.PeriodicCallback(self.tick, self.interval * 1000.0)
            self._timer.start()
            tornado.ioloop.IOLoop.current().add_callback(self.tick)  # the first one at once

    def remove_listener(self, callback):
        if callback in self._listeners:
            self._listeners.remove(callback)
        if not self._listeners:
            self.stop()

    def stop(self):
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    async def tick(self):
        """Take one sample and hand it to every listener (a slow sample skips the next tick)."""
        if self._sampling or not self._listeners:
            return
        self._sampling = True
        try:
            snapshot = await self.collect()
        finally:
            self._sampling = False
        for callback in list(self._listeners):
            try:
                callback(snapshot)
            except Exception:
                logger.exception("metrics listener failed")

    # -- sampling --------------------------------------------------------------------------

    def _prime(self):
        # psutil's first cpu_percent(interval=None) compares against nothing and reads 0.0:
        # prime it now so the first real sample covers the time since start-up.
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)
        self._process.cpu_percent(interval=None)
        self._last_at = self.clock()
        self._last_disk = _safe(psutil.disk_io_counters)
        self._last_net = _safe(psutil.net_io_counters)

    async def collect(self):
        """One snapshot; LM Studio and the GPU are probed concurrently with a short timeout."""
        lmstudio, gpus = await asyncio.gather(self._lmstudio_state(), self._gpus())
        snapshot = self.system_snapshot()
        snapshot["gpu"] = gpus
        snapshot["lmstudio"] = lmstudio
        self.latest = snapshot
        self.samples += 1
        return snapshot

    def system_snapshot(self):
        now = self.clock()
        elapsed = max(now - self._last_at, 1e-6)
        disk_io = _safe(psutil.disk_io_counters)
        net_io = _safe(psutil.net_io_counters)
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        disk = _safe(psutil.disk_usage, self.disk_path)
        load = _safe(os.getloadavg)
        with self._process.oneshot():
            own = {"pid": self._process.pid,
                   "cpuPercent": self._process.cpu_percent(interval=None),
                   "rssBytes": self._process.memory_info().rss,
                   "threads": self._process.num_threads()}
        snapshot = {
            "timestamp": datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "intervalSeconds": self.interval,
            "cpu": {"percent": psutil.cpu_percent(interval=None),
                    "perCore": psutil.cpu_percent(interval=None, percpu=True),
                    "count": psutil.cpu_count()},
            "memory": {"total": memory.total, "used": memory.total - memory.available,
                       "available": memory.available, "percent": memory.percent},
            "swap": {"total": swap.total, "used": swap.used, "percent": swap.percent},
            "disk": {"path": self.disk_path,
                     "total": disk.total if disk else None, "used": disk.used if disk else None,
                     "free": disk.free if disk else None,
                     "percent": disk.percent if disk else None,
                     "readBytesPerSec": _rate(disk_io, self._last_disk, "read_bytes", elapsed),
                     "writeBytesPerSec": _rate(disk_io, self._last_disk, "write_bytes",
                                               elapsed)},
            "network": {"sentBytesPerSec": _rate(net_io, self._last_net, "bytes_sent", elapsed),
                        "recvBytesPerSec": _rate(net_io, self._last_net, "bytes_recv", elapsed)},
            "loadAverage": list(load) if load else None,
            "processes": len(psutil.pids()),
            "uptimeSeconds": round(time.time() - psutil.boot_time()),
            "process": own,
        }
        self._last_at, self._last_disk, self._last_net = now, disk_io, net_io
        return snapshot

    async def _lmstudio_state(self):
        if self.lmstudio is None:
            return {"reachable": False, "activeModel": None}
        try:
            from orchestra.services.lmstudio import status
            state = await asyncio.wait_for(status(self.lmstudio), LMSTUDIO_TIMEOUT * 2)
        except Exception as error:  # noqa: BLE001 - a probe answers, never raises
            logger.debug("LM Studio status failed: %s", error)
            return {"reachable": False, "activeModel": None, "url": self.lmstudio.base_url}
        return {"reachable": bool(state.get("reachable")), "activeModel": state.get("activeModel"),
                "url": self.lmstudio.base_url}

    async def _gpus(self):
        gpus = []
        if self._nvidia_smi:
            gpus.extend(await self._nvidia_gpus())
        gpus.extend(amd_gpus())
        return gpus

    async def _nvidia_gpus(self):
        try:
            proc = await asyncio.create_subprocess_exec(
                self._nvidia_smi, "--query-gpu=" + NVIDIA_QUERY,
                "--format=csv,noheader,nounits",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), GPU_TIMEOUT)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                raise
        except (OSError, asyncio.TimeoutError) as error:
            # A driver that hangs or vanished: stop asking instead of paying the timeout again.
            logger.warning("nvidia-smi failed (%s); GPU figures disabled", error)
            self._nvidia_smi = None
            return []
        return parse_nvidia_smi(out.decode("utf-8", "replace"))


def parse_nvidia_smi(text):
    """Rows of `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` as GPU dicts."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5:
            continue
        name, util, used, total, temp = parts
        gpus.append({"name": name, "vendor": "nvidia", "utilizationPercent": _number(util),
                     "memoryUsedBytes": _mib(used), "memoryTotalBytes": _mib(total),
                     "temperatureC": _number(temp)})
    return gpus


def amd_gpus(root="/sys/class/drm"):
    """AMD GPUs as the amdgpu driver reports them in sysfs (cheap file reads)."""
    gpus = []
    for busy in sorted(glob.glob(os.path.join(root, "card[0-9]*", "device", "gpu_busy_percent"))):
        device = os.path.dirname(busy)
        gpus.append({"name": os.path.basename(os.path.dirname(device)), "vendor": "amd",
                     "utilizationPercent": _number(_read(busy)),
                     "memoryUsedBytes": _number(_read(os.path.join(device, "mem_info_vram_used"))),
                     "memoryTotalBytes": _number(
                         _read(os.path.join(device, "mem_info_vram_total"))),
                     "temperatureC": None})
    return gpus


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _number(raw):
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None  # "[N/A]" and friends
    return int(value) if value.is_integer() else value


def _mib(raw):
    value = _number(raw)
    return None if value is None else int(value * 1024 * 1024)


def _rate(now, before, field, elapsed):
    if now is None or before is None:
        return None
    # Counters can wrap or reset (a NIC going away); a negative rate means "unknown".
    delta = getattr(now, field) - getattr(before, field)
    return round(delta / elapsed, 1) if delta >= 0 else None


def _safe(fn, *args):
    """Fields some platforms or containers lack (no disks, no load average) read as None."""
    try:
        return fn(*args)
    except (OSError, RuntimeError, AttributeError):
        return None
