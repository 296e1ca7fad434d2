"""What the benchmark scripts share: waiting for a server they started to answer, and
stand-ins for LM Studio's completions (a recorded stream replayed, tokens at a model's pace)."""

import argparse
import asyncio
import json
import time

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
