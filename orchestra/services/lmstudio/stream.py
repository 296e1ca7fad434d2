"""Streamed completions: server-sent events parsed as bytes arrive, exposed as an async iterator."""

import asyncio
import collections
import json
import logging
import time

from .errors import LMStudioError, LMStudioTimeout, LMStudioUnavailable, StreamBroken
from .errors import upstream_error
from .streaming import fetch_streaming
from .transport import abort, error_details, map_fetch_error, parse_status_line

logger = logging.getLogger(__name__)


class _SSEReader:
    """Receives the response bytes from Tornado and turns SSE frames into text chunks.

    Kept apart from CompletionStream so that the IOLoop's references (the request holds these
    callbacks) do not keep the user-facing stream alive: dropping the stream ends the request.
    """

    def __init__(self):
        self.queue = collections.deque()
        self.parts = []
        self.reasoning_parts = []
        self.model = None
        self.finish_reason = None
        self.usage = None
        self.ttft_ms = None
        self.status = None
        self.is_sse = False
        self.saw_done = False
        self.events = 0  # events received, of any kind
        self.error = None
        self.finished = False
        self.waiter = None
        self.started_at = None
        self.request = None
        self.server = None  # the ServerName its errors use
        self._buffer = b""
        self._raw = []

    # -- called by Tornado ------------------------------------------------------------------

    def on_header(self, line):
        if self.status is None:
            self.status = parse_status_line(line)
        elif line[:13].lower() == "content-type:":
            self.is_sse = "text/event-stream" in line.lower()

    def on_data(self, data):
        if self.error is not None:
            return  # failed already; the connection is being closed
        if self.status != 200 or not self.is_sse:
            self._raw.append(data)
            return
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        start = 0
        queued = len(self.queue)
        while self.error is None:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            self._on_event(buffer[start:end])
            start = end + 2
        self._buffer = buffer[start:]
        if self.error is not None:
            abort(self.request)  # nothing more from this answer can be trusted
        if len(self.queue) != queued or self.error is not None:
            self._wake()

    def _on_event(self, event):
        self.events += 1
        if event.startswith(b"data: ") and b"\n" not in event:
            payload = event[6:]
        else:
            payload = self._other_event(event)
            if payload is None:
                return  # a comment, or an event without data
        if payload == b"[DONE]":
            self.saw_done = True
            return
        try:
            frame = json.loads(payload)
        except ValueError:
            self.error = StreamBroken("the server sent a malformed stream frame", self.server)
            return
        if not isinstance(frame, dict):
            return
        if "error" in frame:
            self._on_error(payload)
            return
        self._on_frame(frame)

    def _other_event(self, event):
        """The data of an event in its long form; errors arrive this way: LM Studio 0.4 writes
        `event: error` before its data line, llama.cpp's server an `error:` line of its own
        (a field the SSE standard does not have)."""
        data, name = [], None
        for line in event.split(b"\n"):
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = value.strip()
            elif field == b"error":
                self._on_error(value)
                return None
        if name == b"error" and data:
            self._on_error(b"\n".join(data))
            return None
        return b"\n".join(data) if data else None

    def _on_error(self, payload):
        message, details = error_details(payload)
        self.error = upstream_error(200, message or "unknown error", details, server=self.server)

    def _on_frame(self, frame):
        if frame.get("model"):
            self.model = frame["model"]
        if frame.get("usage"):
            self.usage = frame["usage"]
        choices = frame.get("choices")
        if not choices:
            return
        choice = choices[0]
        delta = choice.get("delta")
        if delta is not None:
            content = delta.get("content")
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        else:  # /v1/completions streams `text`
            content, reasoning = choice.get("text"), None
        if content:
            if self.ttft_ms is None:
                self.ttft_ms = (time.monotonic() - self.started_at) * 1000.0
            self.parts.append(content)
            self.queue.append(content)
        if reasoning:
            if self.ttft_ms is None:
                self.ttft_ms = (time.monotonic() - self.started_at) * 1000.0
            self.reasoning_parts.append(reasoning)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def on_done(self, future, server, request):
        """The fetch ended: success, failure or our own abort."""
        self.finished = True
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            if self.error is None:
                self.error = map_fetch_error(exc, server, request, started=self.status is not None)
        elif self.error is None:
            self.error = self._check_response(future.result())
        self._wake()

    def _check_response(self, response):
        body = b"".join(self._raw)
        if response.code != 200:
            message, details = error_details(body)
            return upstream_error(response.code, message or response.reason or "unknown error",
                                  details, server=self.server)
        if not self.is_sse:
            message, details = error_details(body)
            if message is None:
                return StreamBroken("the answer was not an event stream", self.server)
            return upstream_error(200, message, details, server=self.server)
        if self._buffer.strip():
            self._on_event(self._buffer.strip())
            self._buffer = b""
            if self.error is not None:
                return self.error
        if not self.saw_done and self.finish_reason is None:
            return StreamBroken("the connection closed before the answer was complete",
                                self.server)
        return None

    def _wake(self):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class CompletionStream:
    """Async iterator of text chunks of one streamed completion.

    The request starts on first iteration (or `async with`). After or during iteration,
    `.text`, `.model`, `.finish_reason`, `.usage`, `.ttft_ms` and `.reasoning` describe what
    arrived. `aclose()` or leaving `async with` ends the upstream request; so does dropping the
    stream (breaking out of `async for client.stream_completion(...)` releases it).
    """

    def __init__(self, client, path, body, prepare):
        self._client = client
        self._path = path
        self._body = body
        self._prepare = prepare  # coroutine resolving the model; may raise typed errors
        self._reader = _SSEReader()
        self._request = None
        self._started = False
        self._closed = False
        self.requested_model = body.get("model")

    # -- what arrived ----------------------------------------------------------------------

    @property
    def text(self):
        return "".join(self._reader.parts)

    @property
    def reasoning(self):
        return "".join(self._reader.reasoning_parts) or None

    @property
    def model(self):
        return self._reader.model or self._body.get("model")

    @property
    def finish_reason(self):
        return self._reader.finish_reason

    @property
    def usage(self):
        return self._reader.usage

    @property
    def ttft_ms(self):
        return self._reader.ttft_ms

    @property
    def total_ms(self):
        reader = self._reader
        if reader.started_at is None:
            return None
        return (getattr(self, "_ended_at", None) or time.monotonic()) * 1000.0 - (
            reader.started_at * 1000.0
        )

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self):
        return self

    async def __anext__(self):
        reader = self._reader
        if reader.queue:
            return reader.queue.popleft()
        if not self._started:
            await self._start()
        while True:
            if reader.queue:
                return reader.queue.popleft()
            if reader.error is not None:
                error, reader.error = reader.error, None
                await self.aclose()
                if isinstance(error, StreamBroken) and not reader.events:
                    error = await self._explain(error)
                raise error
            if reader.finished or self._closed:
                self._end()
                raise StopAsyncIteration
            reader.waiter = asyncio.get_running_loop().create_future()
            try:
                await reader.waiter
            except asyncio.CancelledError:
                await self.aclose()
                raise
            finally:
                reader.waiter = None

    async def _start(self):
        self._started = True
        if self._prepare is not None:
            self._body["model"] = await self._prepare(self._body.get("model"))
        reader = self._reader
        reader.started_at = time.monotonic()
        self._request = self._client._request(
            self._path, body=self._body, streaming_callback=reader.on_data,
            header_callback=reader.on_header,
        )
        reader.request = self._request
        reader.server = server = self._client.server
        future = fetch_streaming(self._request)
        request = self._request
        future.add_done_callback(lambda f: reader.on_done(f, server, request))

    async def _explain(self, error):
        """Why a stream ended before its first event, when the server will say. llama-cpp-python's
        server ends the stream so when the prompt does not fit the context (the error goes to
        its log only); asked for a whole answer of one token, it answers with the error."""
        body = dict(self._body, stream=False, max_tokens=1)
        body.pop("stream_options", None)
        try:
            await self._client._call(self._path, body, model=body.get("model"))
        except (LMStudioUnavailable, LMStudioTimeout, StreamBroken):
            return error  # it went away: the stream broke, and a retry may work
        except LMStudioError as answer:
            logger.info("%s ended a stream without an event; asked whole: %s",
                        self._client.server, answer.message)
            return answer
        return error

    def _end(self):
        if getattr(self, "_ended_at", None) is None:
            self._ended_at = time.monotonic()

    async def aclose(self):
        """End the upstream request (LM Studio stops generating when the socket closes)."""
        self._closed = True
        self._end()
        if self._request is not None and not self._reader.finished:
            abort(self._request)

    async def __aenter__(self):
        if not self._started:
            await self._start()
        return self

    async def __aexit__(self, *exc_info):
        await self.aclose()

    def __del__(self):
        request = self.__dict__.get("_request")
        if request is not None and not self._reader.finished:
            try:
                abort(request)
            except RuntimeError:  # the IOLoop is already closed: so is the socket
                pass
