"""Relay overhead of /ws: chunks/s and time to first chunk, through Orchestra vs from the fake.

Starts the fake LM Studio (streaming every answer as fast as it can) and `orchestra serve`
as subprocesses. Each round reads one long answer directly from the fake (with
LMStudioClient, as the server does) and one through /ws (chat:send, counting the chunks in
the chat:streaming frames until done), alternating. Then many more requests, each stopped
after its first chunk, measure the time to the first chunk both ways; the difference of the
medians is what the relay adds (storing the user's message, building the prompt, relaying).

Prints both rates (best of the rounds), their ratio, the time-to-first-chunk medians, the
CPU time per chunk of each process, and how many rows the answers wrote.

    python -m tests.bench.bench_ws_relay [--chunks 20000] [--rounds 5] [--ttft-rounds 40]
"""

import argparse
import asyncio
import json
import logging
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
import tornado.websocket

from orchestra.services.lmstudio import LMStudioClient
from tests.bench.common import wait_for_url
from tests.fakes.lmstudio import unused_url

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench-token"
MODEL = "qwen2.5-7b-instruct"


def spawn(*args):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def direct(client, first_only=False):
    """(chunks, seconds, seconds to the first chunk) reading the fake directly."""
    chunks, first = 0, None
    started = time.perf_counter()
    stream = client.stream_completion([{"role": "user", "content": "go"}], model=MODEL)
    async for _ in stream:
        if first is None:
            first = time.perf_counter() - started
            if first_only:
                break
        chunks += 1
    await stream.aclose()
    return chunks, time.perf_counter() - started, first


async def relayed(conn, first_only=False):
    """The same through /ws: chat:send, then chat:streaming frames until done (or, for the
    first chunk only, chat:stop once it arrived). Returns (chunks, seconds, seconds to the
    first chunk, frames): the server sends chunks that reached it together in one frame, so
    chunks are counted in the text (the fake's answer is "tok tok tok ...")."""
    chunks, frames, first = 0, 0, None
    started = time.perf_counter()
    conn.write_message(json.dumps({"type": "chat:send", "data": {"message": "go",
                                                                 "model": MODEL}}))
    while True:
        frame = json.loads(await conn.read_message())
        if frame["type"] == "chat:streaming":
            if frame["data"]["done"]:
                break
            if first is None:
                first = time.perf_counter() - started
                if first_only:
                    conn.write_message(json.dumps({"type": "chat:stop", "data": {
                        "conversationId": frame["data"]["conversationId"]}, "id": "stop"}))
            chunks += frame["data"]["chunk"].count("tok")
            frames += 1
        elif frame["type"] == "error":
            raise SystemExit("error from the server: %s" % frame["data"])
    elapsed = time.perf_counter() - started
    while True:  # the stored answer follows the done frame
        frame = json.loads(await conn.read_message())
        if frame["type"] == "chat:message" and (not first_only or frame.get("id") == "stop"):
            break
    return chunks, elapsed, first, frames


async def run(args, workdir):
    fake_url = unused_url()
    fake = spawn("-m", "tests.fakes.lmstudio", "--port", fake_url.rsplit(":", 1)[1],
                 "--chunks", str(args.chunks))
    port = int(unused_url().rsplit(":", 1)[1])
    server = spawn("-m", "orchestra.cli", "serve", "--port", str(port), "--data-dir", workdir,
                   "--lmstudio-url", fake_url, "--token", TOKEN)
    client = LMStudioClient(fake_url)
    try:
        await wait_for_url(fake_url)
        await wait_for_url("http://127.0.0.1:%d/login" % port)
        conn = await tornado.websocket.websocket_connect(
            "ws://127.0.0.1:%d/ws?token=%s" % (port, TOKEN))
        await conn.read_message()  # connected
        await direct(client)
        await relayed(conn)
        direct_rates, relay_rates, frame_counts = [], [], []
        cpu = {"reader direct": [], "reader via /ws": [], "server": []}
        server_process = psutil.Process(server.pid)
        for _ in range(args.rounds):
            started = time.process_time()
            chunks, elapsed, _ = await direct(client)
            cpu["reader direct"].append((time.process_time() - started) / chunks)
            direct_rates.append(chunks / elapsed)
            started, server_started = time.process_time(), sum(server_process.cpu_times()[:2])
            relay_chunks, elapsed, _, frames = await relayed(conn)
            frame_counts.append(frames)
            cpu["reader via /ws"].append((time.process_time() - started) / relay_chunks)
            cpu["server"].append((sum(server_process.cpu_times()[:2]) - server_started)
                                 / relay_chunks)
            assert relay_chunks == chunks == args.chunks, (relay_chunks, chunks)
            relay_rates.append(relay_chunks / elapsed)
        direct_ttft, relay_ttft = [], []
        for _ in range(args.ttft_rounds):
            direct_ttft.append((await direct(client, first_only=True))[2])
            relay_ttft.append((await relayed(conn, first_only=True))[2])
        conn.close()
    finally:
        await client.close()
        server.terminate()
        fake.terminate()
        server.wait(10)
        fake.wait(10)
    rows = sqlite3.connect(os.path.join(workdir, "orchestra.db")).execute(
        "SELECT role, COUNT(*) FROM chat_messages GROUP BY role").fetchall()
    print(f"frames per answer via /ws:  median {statistics.median(frame_counts):,.0f} "
          f"for {args.chunks} chunks (chunks read together go out in one frame)")
    for name, values in cpu.items():
        print(f"CPU per chunk, {name + ':':<16} {statistics.median(values) * 1e6:.1f} us")
    return direct_rates, relay_rates, direct_ttft, relay_ttft, dict(rows)


def report(args, direct_rates, relay_rates, direct_ttft, relay_ttft, rows):
    best_direct, best_relay = max(direct_rates), max(relay_rates)
    ratio = best_relay / best_direct
    median_ratio = statistics.median(relay_rates) / statistics.median(direct_rates)
    added = (statistics.median(relay_ttft) - statistics.median(direct_ttft)) * 1000.0
    print(f"chunks per answer:          {args.chunks}")
    print(f"direct from the fake:       {best_direct:,.0f} chunks/s (best of {args.rounds})")
    print(f"through /ws:                {best_relay:,.0f} chunks/s (best of {args.rounds})")
    print(f"ratio:                      {ratio:.3f} (target >= 0.80; "
          f"ratio of medians {median_ratio:.3f})")
    print(f"time to first chunk:        direct {statistics.median(direct_ttft) * 1000:.2f} ms, "
          f"through /ws {statistics.median(relay_ttft) * 1000:.2f} ms "
          f"(medians of {args.ttft_rounds})")
    print(f"added time to first chunk:  {added:.2f} ms (target < 5 ms)")
    answers = rows.get("assistant", 0)
    print(f"rows written:               {answers} answers, {rows.get('user', 0)} user messages "
          f"(one row per answer, written when it ends)")
    return ratio, added


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ttft-rounds", type=int, default=40)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="orchestra-bench-")
    try:
        results = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, *results)


if __name__ == "__main__":
    main()
