"""Scale of /ws: 2,000 connections to one `orchestra serve` process, memory and broadcast time.

Starts the server as a subprocess (metrics every second, LM Studio absent), opens the
connections from this process, and prints:
  - the server's memory per connection (RSS after connecting minus before, / connections);
  - how long one round of application pings takes (every connection sends `ping`, all
    `pong`s back);
  - how long a metrics broadcast to every subscriber takes inside the server (the
    `websocket.lastBroadcastMs` each `monitoring:metrics` frame reports for the previous
    broadcast: encoding once, then writing the frame to every socket), and, from this side,
    the spread between the first and the last client receiving one broadcast (an upper
    bound: it includes this single process reading 2,000 sockets).

    python -m tests.bench.bench_ws_scale [--connections 2000] [--broadcasts 5]
"""

import argparse
import asyncio
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
import tornado.websocket

from tests.bench.common import wait_for_url
from tests.fakes.lmstudio import unused_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench-token"
BATCH = 100  # connections opened at once (the listen backlog is 128)


def raise_file_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the server inherits it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Client:
    """One connection and what it received."""

    def __init__(self, conn):
        self.conn = conn
        self.frames = []  # (time received, frame)
        self.waiters = []
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        while True:
            raw = await self.conn.read_message()
            if raw is None:
                return
            self.frames.append((time.perf_counter(), json.loads(raw)))
            for waiter in list(self.waiters):
                waiter()

    def count(self, type):
        return sum(1 for _, frame in self.frames if frame["type"] == type)

    def send(self, type, data=None):
        self.conn.write_message(json.dumps({"type": type, "data": data or {}}))


async def until(condition, timeout=60.0, what="condition"):
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out waiting for %s" % what)
        await asyncio.sleep(0.01)


async def connect(port):
    conn = await tornado.websocket.websocket_connect(
        "ws://127.0.0.1:%d/ws?token=%s" % (port, TOKEN))
    return Client(conn)


async def run(args, workdir):
    port = int(unused_url().rsplit(":", 1)[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestra.cli", "serve", "--port", str(port), "--data-dir",
         workdir, "--lmstudio-url", unused_url(), "--token", TOKEN, "--metrics-interval",
         str(args.interval)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process = psutil.Process(server.pid)
    clients = []
    try:
        await wait_for_url("http://127.0.0.1:%d/login" % port)
        warm = await connect(port)  # imports and first allocations happen here, not below
        await until(lambda: warm.count("connected") == 1, what="the first connection")
        warm.conn.close()
        await asyncio.sleep(0.5)
        rss_before = process.memory_info().rss

        started = time.perf_counter()
        for _ in range(0, args.connections, BATCH):
            clients += await asyncio.gather(*(connect(port) for _ in range(BATCH)))
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
        baseline = {id(c): c.count("monitoring:metrics") for c in clients}
        wanted = args.broadcasts + 2
        await until(lambda: all(c.count("monitoring:metrics") - baseline[id(c)] >= wanted
                                for c in clients), timeout=wanted * args.interval + 60,
                    what="metrics broadcasts")
        alive = sum(1 for c in clients if not c.reader.done())
    finally:
        for client in clients:
            client.conn.close()
        server.terminate()
        server.wait(15)

    # Broadcasts sent while every client was subscribed, and the duration each next frame
    # reports for them.
    by_time = {}
    for client in clients:
        for received, frame in client.frames:
            if frame["type"] == "monitoring:metrics":
                by_time.setdefault(frame["data"]["timestamp"], []).append((received, frame))
    full = sorted(t for t, got in by_time.items()
                  if got[0][1]["data"]["websocket"]["monitoring"] == args.connections
                  and len(got) == args.connections)
    server_ms = [by_time[t][0][1]["data"]["websocket"]["lastBroadcastMs"] for t in full[1:]]
    spreads = [(max(r for r, _ in by_time[t]) - min(r for r, _ in by_time[t])) * 1000.0
               for t in full]
    return {
        "connections": len(clients), "alive": alive, "connect_seconds": connect_seconds,
        "rss_before": rss_before, "rss_after": rss_after, "ping_seconds": ping_seconds,
        "server_ms": server_ms, "spreads": spreads,
    }


def report(args, limit, r):
    per_connection = (r["rss_after"] - r["rss_before"]) / r["connections"]
    print(f"file descriptor limit:        {limit}")
    print(f"connections:                  {r['connections']} opened in "
          f"{r['connect_seconds']:.2f} s, {r['alive']} still open at the end")
    print(f"server RSS:                   {r['rss_before'] / 2**20:.1f} MiB before, "
          f"{r['rss_after'] / 2**20:.1f} MiB with {r['connections']} connections")
    print(f"memory per connection:        {per_connection / 1024:.1f} KiB")
    print(f"ping round to every client:   {r['ping_seconds'] * 1000:.0f} ms "
          f"(every connection answered)")
    if r["server_ms"]:
        print(f"metrics broadcast (server):   median {statistics.median(r['server_ms']):.1f} ms,"
              f" max {max(r['server_ms']):.1f} ms to {args.connections} subscribers "
              f"(target < 100 ms; {len(r['server_ms'])} broadcasts)")
        print("  each (ms):                  " + ", ".join("%.1f" % v for v in r["server_ms"]))
    if r["spreads"]:
        print(f"first-to-last receipt here:   median {statistics.median(r['spreads']):.1f} ms "
              f"(includes this process reading every socket)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--broadcasts", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="metrics interval, s")
    args = parser.parse_args(argv)
    limit = raise_file_limit(args.connections * 2 + 256)
    if limit < args.connections + 64:
        raise SystemExit("the open-file limit (%d) is too low for %d connections"
                         % (limit, args.connections))
    workdir = tempfile.mkdtemp(prefix="orchestra-bench-")
    try:
        result = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, limit, result)


if __name__ == "__main__":
    main()
