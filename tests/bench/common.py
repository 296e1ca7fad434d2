"""What the benchmark scripts share: waiting for a server they started to answer, and
stand-ins for LM Studio's completions (a recorded stream replayed, tokens at a model's pace)."""

import argparse
import asyncio
import base64
import collections
import json
import os
import re
import time
import urllib.parse

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.routing
import tornado.web


async def wait_for_url(url, tries=400, pause=0.05):
    """Until `url` answers (any status); exits the script when it never does."""
    http = tornado.httpclient.AsyncHTTPClient()
    for _ in range(tries):
        try:
            await http.fetch(url, raise_error=False)
            return
        except OSError:
            await asyncio.sleep(pause)
    raise SystemExit("%s did not start" % url)


# -- stand-ins for LM Studio's completions -------------------------------------------------
#
# Run as `python -m tests.bench.common replay FILE --port P` or `... paced --port P`: chat
# completions are answered as below, every other path by the fake LM Studio (models, load).

MODEL = "qwen2.5-7b-instruct"


class RawWebSocket(asyncio.Protocol):
    """A benchmark's WebSocket client, read straight off its socket (an asyncio protocol): on
    each complete frame only its time of arrival, its bytes and its type are kept, so that
    reading many sockets costs the measuring process little beside the servers it measures;
    frames are parsed as JSON after the timing (`frames`). `on_frame(received, payload)`, when
    set, sees each frame as it arrives. Text frames without extensions, as the servers
    measured send them."""

    TYPE = re.compile(rb'^\{"type":"([^"]*)"')
    clock = staticmethod(time.perf_counter)  # what a frame's time of arrival is read from

    def __init__(self, handshake):
        self.handshake = handshake  # resolved once the server has answered 101
        self.transport = None
        self.buffer = b""
        self.upgraded = False
        self.raw = []  # (time received, frame bytes)
        self.counts = collections.Counter()
        self.closed = False
        self.on_frame = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        received = self.clock()
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101 "):
                self.handshake.set_exception(SystemExit("no WebSocket upgrade: %r"
                                                        % buffer[:200]))
                return
            self.upgraded = True
            buffer = buffer[end + 4:]
            self.handshake.set_result(self)
        at = 0
        while len(buffer) - at >= 2:
            length, head = buffer[at + 1] & 0x7F, 2
            if length == 126:
                if len(buffer) - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2:at + 4], "big"), 4
            elif length == 127:
                if len(buffer) - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2:at + 10], "big"), 10
            if len(buffer) - at < head + length:
                break
            opcode = buffer[at] & 0x0F
            payload = buffer[at + head:at + head + length]
            at += head + length
            if opcode == 8:
                self.closed = True
                self.transport.close()
                return
            if opcode in (1, 2):
                self.raw.append((received, payload))
                found = self.TYPE.match(payload)
                self.counts[found.group(1).decode() if found else None] += 1
                if self.on_frame is not None:
                    self.on_frame(received, payload)
        self.buffer = buffer[at:]

    def connection_lost(self, exc):
        self.closed = True
        if self.on_frame is not None:
            self.on_frame(None, None)
        if not self.handshake.done():
            self.handshake.set_exception(SystemExit("the connection closed: %s" % exc))

    @property
    def frames(self):
        return [(received, json.loads(payload)) for received, payload in self.raw]

    @property
    def last_metrics(self):
        for _, payload in reversed(self.raw):
            if self.TYPE.match(payload).group(1) == b"monitoring:metrics":
                return payload.decode()
        return None

    def count(self, type):
        return self.counts[type]

    def send(self, type, data=None):
        """A client frame: text, final, masked (a zero mask leaves the bytes as they are)."""
        payload = json.dumps({"type": type, "data": data or {}}).encode()
        if len(payload) > 0xFFFF:
            raise ValueError("a frame this client does not send: %d bytes" % len(payload))
        if len(payload) < 126:
            head = bytes([0x81, 0x80 | len(payload)])
        else:
            head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
        self.transport.write(head + b"\0\0\0\0" + payload)

    def close(self):
        if self.transport is not None:
            self.transport.close()

    @classmethod
    async def connect(cls, url):
        parts = urllib.parse.urlsplit(url)
        loop = asyncio.get_running_loop()
        handshake = loop.create_future()
        transport, client = await loop.create_connection(
            lambda: cls(handshake), parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n"
                         % (parts.path + ("?" + parts.query if parts.query else ""),
                            parts.netloc, key)).encode())
        return await handshake


def sse_frame(content=None, finish_reason=None, usage=None):
    """One chat.completion.chunk frame as LM Studio writes it (compact JSON, blank line)."""
    choices = [] if usage else [{"index": 0, "delta": {} if content is None else
                                 {"content": content}, "logprobs": None,
                                 "finish_reason": finish_reason}]
    payload = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
               "model": MODEL, "system_fingerprint": MODEL, "choices": choices}
    if usage:
        payload["usage"] = usage
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class ReplayHandler(tornado.web.RequestHandler):
    """Answers every completion with one recorded SSE stream, written at once: the reader,
    not this server, is what limits the rate."""

    def initialize(self, recording):
        self.recording = recording

    def post(self):
        self.set_header("Content-Type", "text/event-stream")
        self.write(self.recording)


class PacedTicker:
    """One timer for every paced answer: it wakes when the next token is due (at most every
    0.5 ms) and writes every token due by then, so the stand-in pays no timer per token (it
    shares the CPUs with what it measures)."""

    TICK = 0.0005

    def __init__(self):
        self.answers = {}  # PacedHandler -> None, the answers being streamed
        self.task = None
        # A token frame with its content left out: formatting it costs less than json.dumps.
        head, tail = sse_frame("\0").split(b"\\u0000")
        self.head, self.tail = head + b" ", tail

    def add(self, answer):
        self.answers[answer] = None
        if self.task is None:
            self.task = asyncio.ensure_future(self.run())

    async def run(self):
        while self.answers:
            now = time.monotonic()
            for answer in list(self.answers):
                while answer.sent < answer.tokens and answer.due(now) and not answer.gone:
                    frame = b"%s%d%s" % (self.head, time.monotonic_ns(), self.tail)
                    # One HTTP chunk straight to the socket, past RequestHandler.write/flush.
                    try:
                        answer.stream.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                    except tornado.iostream.StreamClosedError:
                        answer.gone = True
                    answer.sent += 1
                if answer.sent == answer.tokens or answer.gone:
                    del self.answers[answer]
                    answer.done.set_result(None)
            due = min((a.next_at() for a in self.answers), default=now)
            await asyncio.sleep(max(self.TICK, due - time.monotonic()))
        self.task = None


class PacedHandler(tornado.web.RequestHandler):
    """Streams `tokens` tokens, one every `interval` seconds on a fixed schedule; each token's
    text is " <time.monotonic_ns() when it was written>" (the clock every process shares)."""

    def initialize(self, tokens, interval, ticker):
        self.tokens = tokens
        self.interval = interval
        self.ticker = ticker
        self.gone = False
        self.sent = 0

    def on_connection_close(self):
        self.gone = True

    def next_at(self):
        return self.start + self.sent * self.interval

    def due(self, now):
        return now >= self.next_at()

    async def post(self):
        self.set_header("Content-Type", "text/event-stream")
        await self.flush()  # the headers, with chunked transfer encoding
        self.stream = self.request.connection.stream
        self.start = time.monotonic()
        self.done = asyncio.get_running_loop().create_future()
        self.ticker.add(self)
        await self.done
        if self.gone:
            return
        self.write(sse_frame(finish_reason="stop"))
        self.write(sse_frame(usage={"prompt_tokens": 1, "completion_tokens": self.tokens,
                                    "total_tokens": self.tokens + 1}))
        self.write(b"data: [DONE]\n\n")


def upstream_router(handler, **kwargs):
    """Chat completions to `handler`, everything else to a fake LM Studio."""
    from tests.fakes.lmstudio import FakeLMStudio
    from tests.fakes.lmstudio_handlers import make_app

    completions = tornado.web.Application([("/v1/chat/completions", handler, kwargs)])
    return tornado.routing.RuleRouter([
        (tornado.routing.PathMatches("/v1/chat/completions"), completions),
        (tornado.routing.AnyMatches(), make_app(FakeLMStudio())),
    ])


async def serve_upstream(args):
    if args.mode == "replay":
        with open(args.recording, "rb") as f:
            router = upstream_router(ReplayHandler, recording=f.read())
    else:
        router = upstream_router(PacedHandler, tokens=args.tokens, interval=args.interval,
                                 ticker=PacedTicker())
    server = tornado.httpserver.HTTPServer(router)
    server.listen(args.port, "127.0.0.1")
    await asyncio.Event().wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description="LM Studio stand-in for the benchmarks")
    parser.add_argument("mode", choices=["replay", "paced"])
    parser.add_argument("recording", nargs="?", help="replay: the SSE bytes to answer")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=300, help="paced: tokens per answer")
    parser.add_argument("--interval", type=float, default=0.01, help="paced: seconds")
    asyncio.run(serve_upstream(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
