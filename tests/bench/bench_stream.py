"""Client cost of streaming: CPU time per chunk of `stream_completion` against a bare read.

The fake LM Studio streams one answer of --chunks tokens once; its bytes are recorded and
then served by a stand-in (`tests.bench.common replay`, in its own process) that writes the
whole recording at once, so nothing on the server side (no flush per chunk) limits the rate.
This process reads that same stream in three ways, alternating, --rounds times each:

  bare read          Tornado's client, counting frames (b"\\n\\n") in each piece it receives:
                     the same bytes with minimal work, the ceiling;
  bare + json.loads  the same, plus splitting the frames and `json.loads` of each: what any
                     client must at least do;
  stream_completion  LMStudioClient.stream_completion, iterated to the end.

CPU time is this process's own (`time.process_time`: the server is another process), per
content chunk; the figure of a way is its median over the rounds. Exits 1 when a result is
impossible (a way reads a different number of chunks or a different text, or does more work
in less CPU time than the bare read) or when stream_completion adds more than --target-us
of CPU per chunk over the bare read.

    python -m tests.bench.bench_stream [--chunks 20000] [--rounds 9] [--target-us 10]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from tornado.httpclient import HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from orchestra.services.lmstudio import LMStudioClient
from tests.bench.common import MODEL, wait_for_url
from tests.fakes.lmstudio import unused_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESSAGES = [{"role": "user", "content": "go"}]
BODY = {"model": MODEL, "messages": MESSAGES, "stream": True,
        "stream_options": {"include_usage": True}}


def spawn(*args):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def request(url, on_data):
    return HTTPRequest(url + "/v1/chat/completions", method="POST", body=json.dumps(BODY),
                       headers={"Content-Type": "application/json"}, streaming_callback=on_data,
                       request_timeout=600, decompress_response=False)


async def record(url, http):
    """The bytes of one streamed answer, as the fake LM Studio writes them."""
    pieces = []
    await http.fetch(request(url, pieces.append))
    return b"".join(pieces)


async def bare_read(url, http):
    """(content chunks, text, CPU seconds): frames counted, nothing parsed."""
    frames, last = 0, b""

    def on_data(data):
        nonlocal frames, last
        frames += data.count(b"\n\n") + (last == b"\n" and data[:1] == b"\n")
        last = data[-1:]

    cpu = time.process_time()
    await http.fetch(request(url, on_data))
    # frames = content chunks + finish chunk + usage chunk + [DONE]
    return frames - 3, None, time.process_time() - cpu


async def json_read(url, http):
    """The same, plus splitting frames and json.loads of each (content collected)."""
    buffer, parts = b"", []

    def on_data(data):
        nonlocal buffer
        frames = (buffer + data).split(b"\n\n")
        buffer = frames.pop()
        for frame in frames:
            if frame != b"data: [DONE]":
                choices = json.loads(frame[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    parts.append(choices[0]["delta"]["content"])

    cpu = time.process_time()
    await http.fetch(request(url, on_data))
    return len(parts), "".join(parts), time.process_time() - cpu


async def client_read(url, client):
    parts = []
    cpu = time.process_time()
    async for chunk in client.stream_completion(MESSAGES, model=MODEL):
        parts.append(chunk)
    return len(parts), "".join(parts), time.process_time() - cpu


async def run(args, workdir):
    fake_url = unused_url()
    fake = spawn("-m", "tests.fakes.lmstudio", "--port", fake_url.rsplit(":", 1)[1],
                 "--chunks", str(args.chunks))
    http = SimpleAsyncHTTPClient(force_instance=True)
    try:
        await wait_for_url(fake_url + "/v1/models")
        recording = await record(fake_url, http)
    finally:
        fake.terminate()
        fake.wait(10)
    path = os.path.join(workdir, "answer.sse")
    with open(path, "wb") as f:
        f.write(recording)
    url = unused_url()
    replay = spawn("-m", "tests.bench.common", "replay", path, "--port", url.rsplit(":", 1)[1])
    client = LMStudioClient(url)
    expected_text = "tok" + " tok" * (args.chunks - 1)
    ways = {"bare read": lambda: bare_read(url, http),
            "bare + json.loads": lambda: json_read(url, http),
            "stream_completion": lambda: client_read(url, client)}
    cpu = {name: [] for name in ways}
    failures = []
    try:
        await wait_for_url(url + "/v1/models")
        for way in ways.values():  # warm up: connections, the model list cache
            await way()
        for _ in range(args.rounds):
            for name, way in ways.items():
                chunks, text, seconds = await way()
                if chunks != args.chunks or text not in (None, expected_text):
                    failures.append("%s read %d chunks, not %d, or another text"
                                    % (name, chunks, args.chunks))
                cpu[name].append(seconds / args.chunks * 1e6)
    finally:
        http.close()
        await client.close()
        replay.terminate()
        replay.wait(10)
    return len(recording), cpu, failures


def report(args, size, cpu, failures):
    bare = statistics.median(cpu["bare read"])
    parsed = statistics.median(cpu["bare + json.loads"])
    client = statistics.median(cpu["stream_completion"])
    print(f"recorded stream:             {args.chunks} content chunks, {size:,} bytes "
          f"({size / args.chunks:.0f} per chunk), served at once")
    for name, values in cpu.items():
        print(f"CPU per chunk, {name + ':':<19} {statistics.median(values):6.2f} us "
              f"(median of {args.rounds}; min {min(values):.2f}, max {max(values):.2f})")
    print(f"stream_completion vs bare:   {client / bare:.1f}x the CPU, "
          f"+{client - bare:.2f} us per chunk (target < {args.target_us:g} us)")
    print(f"stream_completion vs json:   +{client - parsed:.2f} us per chunk over splitting "
          f"and json.loads alone")
    print(f"at 100 tokens/s a stream costs the client {client * 100 / 1e4:.3f}% of a core")
    if parsed < bare or client < bare:
        failures.append("impossible: more work in less CPU time than the bare read")
    if client - bare >= args.target_us:
        failures.append("stream_completion adds %.2f us per chunk (target < %g)"
                        % (client - bare, args.target_us))
    for failure in failures:
        print("FAILED: " + failure)
    return not failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--target-us", type=float, default=10.0,
                        help="most CPU per chunk stream_completion may add to the bare read")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as workdir:
        results = asyncio.run(run(args, workdir))
    if not report(args, *results):
        sys.exit(1)


if __name__ == "__main__":
    main()
