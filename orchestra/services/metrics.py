"""MetricsCollector: system, process, GPU and LM Studio figures, and the last hour of them."""

import asyncio
import collections
import datetime
import glob
import logging
import math
import os
import shutil
import time

import psutil
import tornado.ioloop

logger = logging.getLogger(__name__)

NVIDIA_QUERY = ("name,utilization.gpu,memory.used,memory.total,temperature.gpu")
GPU_TIMEOUT = 2.0
LMSTUDIO_TIMEOUT = 2.0
HISTORY_SECONDS = 3600  # how much history a page gets when it opens


class MetricsCollector:
    """Samples the machine every `interval` seconds, from `start()` to `stop()`.

    Every sample goes into `history` (the last `history_seconds`, as compact chart points),
    watched or not, so that a dashboard opened now draws the last hour at once. Listeners are
    plain callables taking the full snapshot dict (camelCase keys, ready for JSON). LM Studio
    is asked about its state only while a listener watches: a sample nobody sees does not
    need it, and the model server should not get a request every few seconds for nothing.
    """

    def __init__(self, interval, lmstudio=None, disk_path="/", clock=time.monotonic,
                 history_seconds=HISTORY_SECONDS):
        self.interval = float(interval)
        self.clock = clock
        self.lmstudio = lmstudio
        self.disk_path = disk_path
        self.history_seconds = history_seconds
        self.latest = None
        self.samples = 0
        # (clock time, point); trimmed by age, and bounded in length whatever the clock does.
        self._history = collections.deque(
            maxlen=math.ceil(history_seconds / self.interval) + 1)
        self._listeners = []
        self._timer = None
        self._sampling = False
        self._process = psutil.Process()
        self._nvidia_smi = shutil.which("nvidia-smi")
        self._prime()

    # -- the timer and listeners -----------------------------------------------------------

    @property
    def running(self):
        return self._timer is not None

    @property
    def watched(self):
        return bool(self._listeners)

    def start(self):
        """Sample now and then every interval (idempotent)."""
        if self._timer is None:
            self._timer = tornado.ioloop.PeriodicCallback(self.tick, self.interval * 1000.0)
            self._timer.start()
            tornado.ioloop.IOLoop.current().add_callback(self.tick)

    def stop(self):
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def add_listener(self, callback):
        """Get every sample from now on; the first listener gets a fresh sample at once
        (with LM Studio's state, which samples taken while nobody watched lack)."""
        first = not self._listeners
        self._listeners.append(callback)
        if self._timer is None:
            self.start()  # sampling at once
        elif first:
            tornado.ioloop.IOLoop.current().add_callback(self.tick)

    def remove_listener(self, callback):
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def tick(self):
        """Take one sample, keep it, and hand it to every listener (a slow sample skips the
        next tick). Listeners only get samples with LM Studio's state."""
        if self._sampling:
            return
        self._sampling = True
        probed = self.watched
        try:
            snapshot = await self.collect(probe_lmstudio=probed)
        finally:
            self._sampling = False
        if not probed:
            if self._listeners:  # one came while it was taken: give it a complete one now
                tornado.ioloop.IOLoop.current().add_callback(self.tick)
            return
        for callback in list(self._listeners):
            try:
                callback(snapshot)
            except Exception:
                logger.exception("metrics listener failed")

    def history(self):
        """The points of the last `history_seconds`, oldest first."""
        self._trim(self.clock())
        return [point for _, point in self._history]

    def _remember(self, snapshot):
        now = self.clock()
        self._history.append((now, history_point(snapshot)))
        self._trim(now)

    def _trim(self, now):
        while self._history and self._history[0][0] < now - self.history_seconds:
            self._history.popleft()

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

    async def collect(self, probe_lmstudio=True):
        """One snapshot, kept in the history; LM Studio and the GPU are probed concurrently
        with a short timeout. Without `probe_lmstudio`, its `lmstudio` is None."""
        lmstudio, gpus = await asyncio.gather(
            self._lmstudio_state() if probe_lmstudio else _nothing(), self._gpus())
        snapshot = self.system_snapshot()
        snapshot["gpu"] = gpus
        snapshot["lmstudio"] = lmstudio
        self.latest = snapshot
        self.samples += 1
        self._remember(snapshot)
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


def history_point(snapshot):
    """What the dashboard's charts draw of one snapshot (a few numbers, not the whole)."""
    swap = snapshot["swap"]
    return {"timestamp": snapshot["timestamp"],
            "cpuPercent": snapshot["cpu"]["percent"],
            "memoryPercent": snapshot["memory"]["percent"],
            "swapPercent": swap["percent"] if swap["total"] else None,
            "recvBytesPerSec": snapshot["network"]["recvBytesPerSec"],
            "sentBytesPerSec": snapshot["network"]["sentBytesPerSec"],
            "readBytesPerSec": snapshot["disk"]["readBytesPerSec"],
            "writeBytesPerSec": snapshot["disk"]["writeBytesPerSec"]}


async def _nothing():
    return None


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
