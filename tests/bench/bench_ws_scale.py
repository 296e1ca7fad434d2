"""Scale of /ws: 2,000 connections to one `orchestra serve` process, memory and broadcasts.

Opens --connections WebSocket connections from this process to `orchestra serve` (a
subprocess, metrics every --interval s, LM Studio absent), subscribes each to the metrics,
and times each broadcast end to end: from the first to the last of the clients receiving
it. The ceiling is measured in the same run with the same clients: a bare Tornado server
(this script with --bare-port, a subprocess) that writes one prepared frame, the bytes of
a metrics frame the server sent, to every connection on the same schedule. Both figures
include this one process reading every socket; their ratio is what the server adds. The
clients are asyncio protocols that keep only each frame's time of arrival and bytes while
the figures are taken (a Tornado WebSocket client parsing every frame as JSON made this
process, not the servers, most of the time: the bare loop took 104 ms that way).

The server runs a second time with the garbage-collector switch of its broadcast loop
(`ws_manager.collection_deferred`) replaced by a no-op, to show what that switch buys, and a
third time as shipped (its broadcasts count with the first run's: the runs with the switch
come before and after the one without).

Also printed: the server's memory per connection (RSS after connecting minus before), one
round of application pings (every connection sends `ping`, all `pong`s back), and the
`websocket.lastBroadcastMs` that each metrics frame reports for the previous broadcast: the
server's own time to encode the frame once and queue it on every socket's stream, without
waiting for the bytes to be sent or read (so it excludes the delivery that the end-to-end
figure includes).

Exits 1 when a result is impossible (a client missing a broadcast or its connection, the
server faster than half the bare loop), when the bare loop's own median reaches --target-ms
(the machine cannot show it), or when the server's end-to-end median misses it.

    python -m tests.bench.bench_ws_scale [--connections 2000] [--broadcasts 10]
"""

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
import tornado.ioloop
import tornado.web
import tornado.websocket

from tests.bench.common import RawWebSocket as Client, wait_for_url
from tests.fakes.lmstudio import unused_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench-token"
BATCH = 100  # connections opened at once (the listen backlog is 128)
# The server with its broadcast loop's collector switch made a no-op.
WITHOUT_GC_SWITCH = ("import contextlib, sys; import orchestra.web.ws_manager as m; "
                     "m.collection_deferred = contextlib.nullcontext; "
                     "from orchestra.cli import main; main(sys.argv[1:])")


def raise_file_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the servers inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def until(condition, timeout=60.0, what="condition"):
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out waiting for %s" % what)
        await asyncio.sleep(0.01)


async def connect_all(url, count):
    clients = []
    for start in range(0, count, BATCH):
        clients += await asyncio.gather(
            *(Client.connect(url) for _ in range(min(BATCH, count - start))))
    return clients


async def broadcasts(args, clients):
    """Wait for --broadcasts + 2 metrics frames at every client; then the complete broadcasts
    (every client got it): [(timestamp, [(received, frame)])] in order, and the clients alive."""
    baseline = {id(c): c.count("monitoring:metrics") for c in clients}
    wanted = args.broadcasts + 2
    await until(lambda: all(c.count("monitoring:metrics") - baseline[id(c)] >= wanted
                            for c in clients), timeout=wanted * args.interval + 60,
                what="metrics broadcasts")
    alive = sum(1 for c in clients if not c.closed)
    by_time = {}
    for client in clients:
        for received, frame in client.frames:
            if frame["type"] == "monitoring:metrics":
                by_time.setdefault(frame["data"]["timestamp"], []).append((received, frame))
    complete = [(t, got) for t, got in sorted(by_time.items()) if len(got) == len(clients)]
    return complete, alive


def spreads(complete):
    """First-to-last receipt of each broadcast, ms."""
    return [(max(r for r, _ in got) - min(r for r, _ in got)) * 1000.0 for _, got in complete]


async def orchestra(args, workdir, gc_switch=True):
    port = int(unused_url().rsplit(":", 1)[1])
    command = ["-m", "orchestra.cli"] if gc_switch else ["-c", WITHOUT_GC_SWITCH]
    server = subprocess.Popen(
        [sys.executable, *command, "serve", "--port", str(port), "--data-dir", workdir,
         "--lmstudio-url", unused_url(), "--token", TOKEN, "--metrics-interval",
         str(args.interval)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process = psutil.Process(server.pid)
    url = "ws://127.0.0.1:%d/ws?token=%s" % (port, TOKEN)
    clients = []
    try:
        await wait_for_url("http://127.0.0.1:%d/login" % port)
        (warm,) = await connect_all(url, 1)  # imports and first allocations happen here
        await until(lambda: warm.count("connected") == 1, what="the first connection")
        warm.close()
        await asyncio.sleep(0.5)
        rss_before = process.memory_info().rss

        started = time.perf_counter()
        clients = await connect_all(url, args.connections)
        await until(lambda: all(c.count("connected") for c in clients), what="connected")
        connect_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        rss_after = process.memory_info().rss

        started = time.perf_counter()
        for client in clients:
            client.send("ping")
        await until(lambda: all(c.count("pong") for c in clients), what="every pong")
        ping_seconds = time.perf_counter() - started

        for client in clients:
            client.send("monitoring:subscribe")
        await until(lambda: all(c.count("monitoring:subscribed") for c in clients),
                    what="every subscription")
        complete, alive = await broadcasts(args, clients)
    finally:
        stop(clients, server)
    # Only broadcasts made while every client was subscribed; each next frame reports the
    # server's time for the one before it.
    full = [(t, got) for t, got in complete
            if got[0][1]["data"]["websocket"]["monitoring"] == args.connections]
    return {
        "connections": len(clients), "alive": alive, "connect_seconds": connect_seconds,
        "rss_before": rss_before, "rss_after": rss_after, "ping_seconds": ping_seconds,
        "server_ms": [got[0][1]["data"]["websocket"]["lastBroadcastMs"] for _, got in full[1:]],
        "spreads": spreads(full), "frame": clients[0].last_metrics,
    }


def stop(clients, server):
    for client in clients:
        client.close()
    server.terminate()
    server.wait(15)


async def bare(args, frame_path):
    port = int(unused_url().rsplit(":", 1)[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bench_ws_scale", "--bare-port", str(port),
         "--frame", frame_path, "--interval", str(args.interval)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients = []
    try:
        await wait_for_url("http://127.0.0.1:%d/" % port)
        clients = await connect_all("ws://127.0.0.1:%d/ws" % port, args.connections)
        complete, alive = await broadcasts(args, clients)
    finally:
        stop(clients, server)
    return {"connections": len(clients), "alive": alive, "spreads": spreads(complete)}


# -- the bare server ---------------------------------------------------------------------------

class BareSocket(tornado.websocket.WebSocketHandler):
    def initialize(self, sockets):
        self.sockets = sockets

    def open(self):
        self.sockets[self] = None

    def on_close(self):
        self.sockets.pop(self, None)


async def serve_bare(port, frame_path, interval):
    """Every `interval` s, one prepared frame (the recorded metrics frame, its timestamp a
    counter so that clients can tell broadcasts apart) written to every connection."""
    with open(frame_path) as f:
        frame = json.loads(f.read())
    sockets = {}
    count = 0

    def broadcast():
        nonlocal count
        count += 1
        frame["data"]["timestamp"] = count
        payload = json.dumps(frame, separators=(",", ":")).encode()
        for socket in list(sockets):
            try:
                socket.write_message(payload)
            except tornado.websocket.WebSocketClosedError:
                sockets.pop(socket, None)

    app = tornado.web.Application([("/ws", BareSocket, {"sockets": sockets})])
    app.listen(port, "127.0.0.1")
    tornado.ioloop.PeriodicCallback(broadcast, interval * 1000.0).start()
    await asyncio.Event().wait()


# -- report ------------------------------------------------------------------------------------

def report(args, limit, shipped, without, ceiling):
    failures = []
    per_connection = (shipped["rss_after"] - shipped["rss_before"]) / shipped["connections"]
    print(f"file descriptor limit:        {limit}")
    print(f"connections:                  {shipped['connections']} opened in "
          f"{shipped['connect_seconds']:.2f} s")
    print(f"server RSS:                   {shipped['rss_before'] / 2**20:.1f} MiB before, "
          f"{shipped['rss_after'] / 2**20:.1f} MiB with {shipped['connections']} connections")
    print(f"memory per connection:        {per_connection / 1024:.1f} KiB")
    print(f"ping round to every client:   {shipped['ping_seconds'] * 1000:.0f} ms")
    print(f"end to end, first to last of {args.connections} clients receiving one broadcast (ms):")
    for name, result in (("bare Tornado loop", ceiling), ("orchestra serve", shipped),
                         ("  without gc switch", without)):
        if result["alive"] != args.connections or len(result["spreads"]) < args.broadcasts:
            failures.append("%s: %d of %d connections alive, %d complete broadcasts"
                            % (name.strip(), result["alive"], args.connections,
                               len(result["spreads"])))
            continue
        values = result["spreads"]
        print(f"  {name + ':':<22} median {statistics.median(values):6.1f}, max "
              f"{max(values):6.1f}  ({len(values)} broadcasts: "
              + ", ".join("%.1f" % v for v in values) + ")")
    if failures:
        return failures
    floor = statistics.median(ceiling["spreads"])
    median = statistics.median(shipped["spreads"])
    print(f"orchestra / bare:             {median / floor:.2f} (ratio of medians; without the "
          f"gc switch {statistics.median(without['spreads']) / floor:.2f})")
    server_ms = shipped["server_ms"]
    print(f"lastBroadcastMs (server):     median {statistics.median(server_ms):.1f}, max "
          f"{max(server_ms):.1f} (encode once + queue on each socket; without the gc "
          f"switch median {statistics.median(without['server_ms']):.1f}, max "
          f"{max(without['server_ms']):.1f})")
    if median < floor * 0.5:
        failures.append("impossible: orchestra's broadcast reached the clients in less than "
                        "half the bare loop's time")
    if floor >= args.target_ms:
        failures.append("the bare loop itself takes %.1f ms (median): this machine cannot show "
                        "the target" % floor)
    elif median >= args.target_ms:
        failures.append("end-to-end median %.1f ms (target < %g)" % (median, args.target_ms))
    return failures


async def run(args, workdir):
    # This process is the instrument: its collector must not pause it while it reads.
    gc.disable()
    shipped = await orchestra(args, os.path.join(workdir, "a"))
    frame_path = os.path.join(workdir, "frame.json")
    with open(frame_path, "w") as f:
        f.write(shipped["frame"])
    ceiling = await bare(args, frame_path)
    without = await orchestra(args, os.path.join(workdir, "b"), gc_switch=False)
    # Again as shipped, so that both ways of the server have a run before and after the
    # other's (the machine's load drifts); its broadcasts count with the first run's.
    again = await orchestra(args, os.path.join(workdir, "c"))
    if again["alive"] != args.connections:
        shipped["alive"] = again["alive"]
    shipped["spreads"] += again["spreads"]
    shipped["server_ms"] += again["server_ms"]
    return shipped, without, ceiling


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="metrics interval, s")
    parser.add_argument("--target-ms", type=float, default=100.0,
                        help="end-to-end median the server must stay under")
    parser.add_argument("--bare-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--frame", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_port:
        return asyncio.run(serve_bare(args.bare_port, args.frame, args.interval))
    limit = raise_file_limit(args.connections * 2 + 256)
    if limit < args.connections + 64:
        raise SystemExit("the open-file limit (%d) is too low for %d connections"
                         % (limit, args.connections))
    workdir = tempfile.mkdtemp(prefix="orchestra-bench-")
    try:
        for name in ("a", "b", "c"):
            os.mkdir(os.path.join(workdir, name))
        results = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failures = report(args, limit, *results)
    for failure in failures:
        print("FAILED: " + failure)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
