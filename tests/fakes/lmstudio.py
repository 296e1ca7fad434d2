"""A fake LM Studio server speaking its wire format, with scripted answers and faults.

In tests: the `fake_lmstudio` fixture (a FakeLMStudio started on a free port in the test's
IOLoop). By hand: `python -m tests.fakes.lmstudio --port 1234`.
"""

import argparse
import asyncio
import collections
import copy
import logging
import socket

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.fakes.lmstudio_embeddings import DIMS, SYNONYMS
from tests.fakes.lmstudio_handlers import last_user_text, make_app

logger = logging.getLogger(__name__)

DEFAULT_MODELS = [
    {"id": "qwen2.5-7b-instruct", "type": "llm", "publisher": "lmstudio-community",
     "arch": "qwen2", "quantization": "Q4_K_M", "state": "loaded", "max_context_length": 32768,
     "capabilities": ["tool_use"]},
    {"id": "qwen2.5-coder-7b-instruct", "type": "llm", "publisher": "lmstudio-community",
     "arch": "qwen2", "quantization": "Q4_K_M", "state": "not-loaded",
     "max_context_length": 32768, "capabilities": ["tool_use"]},
    {"id": "deepseek-r1-distill-qwen-7b", "type": "llm", "publisher": "lmstudio-community",
     "arch": "qwen2", "quantization": "Q4_K_M", "state": "not-loaded",
     "max_context_length": 131072, "capabilities": []},
    {"id": "text-embedding-nomic-embed-text-v1.5", "type": "embeddings", "publisher": "nomic-ai",
     "arch": "nomic-bert", "quantization": "Q4_K_M", "state": "not-loaded",
     "max_context_length": 2048, "capabilities": []},
]


def unused_url():
    """A URL on which nothing listens (connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class Answer:
    """One scripted answer: text (or fn(request_json) -> text) plus how to deliver it."""

    def __init__(self, text, finish_reason="stop", delay_first=0.0, chunk_delay=0.0,
                 reasoning=None):
        self.text = text
        self.finish_reason = finish_reason
        self.delay_first = delay_first
        self.chunk_delay = chunk_delay
        self.reasoning = reasoning


class FakeLMStudio:
    """The fake server and its scripting API."""

    def __init__(self, models=None):
        self.models = copy.deepcopy(DEFAULT_MODELS if models is None else models)
        self.requests = []  # (path, json body or None), in arrival order
        self.headers = []  # the request headers, in the same order
        self.default_answer = None  # text or fn(request_json); None echoes the last message
        self.api_v0 = True  # native REST v0 (/api/v0/models ...)
        self.api_v1 = True  # native REST v1 (/api/v1/models/load ...)
        self.jit = True  # just-in-time loading of a named, not-loaded model
        self.auto_evict = True  # a JIT load unloads the other models
        self.load_delay = 0.0
        # A hang-up waits this long after the last chunk: Tornado's client coalesces chunked
        # data and drops what arrives in the same read as the close, which a real server dying
        # between tokens would not cause.
        self.hangup_delay = 0.05
        self.chunk_delay = 0.0  # between chunks of unscripted answers
        # response_format types refused, each with the error of the server named (see
        # lmstudio_handlers.FORMAT_REFUSALS); LM Studio takes json_schema and refuses json_object
        self.refuse_formats = {"json_object": "lmstudio"}
        # False: a plain OpenAI-compatible server (llama.cpp's, say) without LM Studio's native
        # REST API; /api/... answers 404 the way llama.cpp's server does
        self.lmstudio = True
        # Prompts longer than this many tokens (whitespace-separated words of every message)
        # are refused the way the server named by overflow_style does (see
        # lmstudio_handlers.OVERFLOWS); last_overflow is (prompt tokens, context length)
        self.context_length = None
        self.overflow_style = "lmstudio"
        self.last_overflow = None
        # /v1/embeddings (see lmstudio_embeddings): the vectors' length, the word groups the
        # fake model treats as one meaning, and fn(payload) -> payload to spoil an answer
        self.embedding_dims = DIMS
        self.synonyms = list(SYNONYMS)
        self.embedding_answer = None
        self.embedded = 0  # texts embedded
        self.cancelled = 0  # answers whose client went away before the end
        self.completed = 0  # answers sent in full
        self.port = None
        self._answers = collections.deque()
        self._faults = []
        self._server = None

    # -- life ------------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, port=None):
        if port is None:
            sock, self.port = bind_unused_port()
        else:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)
            self.port = port
        self._server = HTTPServer(make_app(self))
        self._server.add_sockets([sock])
        return self

    def stop(self):
        """Stop listening: new connections are refused from now on."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- scripting -------------------------------------------------------------------------

    def script_answer(self, text, finish_reason="stop", delay_first=0.0, chunk_delay=0.0,
                      reasoning=None):
        """Queue the answer to the next completion request (FIFO)."""
        self._answers.append(Answer(text, finish_reason, delay_first, chunk_delay, reasoning))

    def fail_next(self, status=500, message="Internal server error", times=1, path=None):
        """The next `times` POSTs (to `path` when given) answer `status` with an error body;
        status 200 gives LM Studio's 200-with-{"error"} shape."""
        for _ in range(times):
            self._faults.append({"kind": "fail", "status": status, "message": message,
                                 "path": path})

    def disconnect_mid_stream(self, after_chunks=1, path=None):
        """The next answer closes the connection after `after_chunks` content chunks (an
        embeddings answer: before anything is sent)."""
        self._faults.append({"kind": "disconnect", "after": after_chunks, "path": path})

    def malformed_frame(self, after_chunks=1, path=None):
        """The next streamed answer carries a frame that is not JSON after `after_chunks`."""
        self._faults.append({"kind": "malformed", "after": after_chunks, "path": path})

    def slow_first_token(self, seconds, path=None):
        """The next answer waits `seconds` before its first token (headers go out at once;
        an embeddings answer waits before anything is sent)."""
        self._faults.append({"kind": "slow", "seconds": seconds, "path": path})

    def refuse_response_format(self, *types, style="llama.cpp"):
        """Refuse these response_format types ("json_schema", "json_object") the way the
        server named by `style` does: "lmstudio", "llama.cpp" or "llama-cpp-python"."""
        self.refuse_formats = {kind: style for kind in types}

    def limit_context(self, tokens, style="lmstudio"):
        """Refuse prompts of more than `tokens` tokens with the context-overflow error of the
        server named by `style`: "lmstudio" (0.4), "lmstudio-0.3", "llama.cpp",
        "llama.cpp-sse" (builds that report it inside the stream), "llama-cpp-python",
        "vllm" or "vllm-0.5"."""
        self.context_length = tokens
        self.overflow_style = style

    def model(self, model_id):
        return next((m for m in self.models if m["id"] == model_id), None)

    def loaded_ids(self):
        return [m["id"] for m in self.models if m.get("state", "loaded") == "loaded"]

    def paths(self):
        return [path for path, _ in self.requests]

    # -- used by the handlers --------------------------------------------------------------

    def take_fault(self, path, kinds):
        for fault in self._faults:
            if fault["kind"] in kinds and fault["path"] in (None, path):
                self._faults.remove(fault)
                return fault
        return None

    def next_answer(self, body):
        answer = self._answers.popleft() if self._answers else Answer(
            self.default_answer, chunk_delay=self.chunk_delay)
        text = answer.text
        if text is None:
            text = "You said: " + last_user_text(body)
        elif callable(text):
            text = text(body)
        return answer, text

    def load(self, model_id, evict=False):
        for entry in self.models:
            if entry["id"] == model_id:
                entry["state"] = "loaded"
            elif evict and entry.get("type", "llm") != "embeddings":
                entry["state"] = "not-loaded"


@pytest.fixture
def fake_lmstudio(io_loop):
    """A FakeLMStudio listening on a free port for the duration of one test."""
    fake = FakeLMStudio().start()
    yield fake
    fake.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake LM Studio server")
    parser.add_argument("--port", type=int, default=1234)
    parser.add_argument("--chunks", type=int, default=0,
                        help="answer every request with this many chunks (for benchmarks)")
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(args))


async def serve(args):
    fake = FakeLMStudio()
    if args.chunks:
        fake.default_answer = "tok" + " tok" * (args.chunks - 1)
    fake.chunk_delay = args.chunk_delay
    fake.start(args.port)
    print(f"fake LM Studio listening on {fake.url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
