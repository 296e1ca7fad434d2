"""A streamed answer's HTTP exchange, read straight off its socket.

Tornado's HTTP client reads a chunked body through two or three awaited reads per chunk, and
between two of a model's tokens it registers the socket with the event loop and removes it
again: for an answer paced by the model (one token, one chunk, one packet) that was about
40 µs of CPU a token, most of what relaying a token costs. Here an asyncio protocol gets
each packet as it arrives, cuts the chunked framing in one pass and hands the body's bytes to
the request's `streaming_callback` (the SSE reader), its head lines to `header_callback`.

It does what Tornado's client did for these requests: one connection per request, closed
after it (`Connection: close`), HTTP or HTTPS, the request's connect timeout and its
timeout for the whole answer, and `abort(request)` to end it early. Failures are Tornado's
own exceptions (`HTTPTimeoutError`, `HTTPStreamClosedError`, `OSError`), so that
`map_fetch_error` gives them the same meaning. Requests that are not streamed stay on
Tornado's client.
"""

import asyncio
import ssl
import urllib.parse

from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError

# A response head longer than this is refused (Tornado's limit too).
MAX_HEAD = 65536
MAX_CHUNK_LINE = 1024


class Response:
    """What the fetch's future resolves to: the status and its reason."""

    def __init__(self, code, reason):
        self.code, self.reason = code, reason


class StreamingConnection(asyncio.Protocol):
    """One request's connection: writes the request, parses the response as it arrives."""

    def __init__(self, request, future):
        self.request = request
        self.future = future
        self.transport = None
        self.buffer = b""
        self.head_done = False
        self.code = None
        self.reason = ""
        self.chunked = False
        self.remaining = None  # bytes left of a Content-Length body (or of the current chunk)
        self.in_chunk = False  # inside a chunk's data (chunked bodies)
        self.trailers = False  # reading the trailers after the last chunk
        self.timeout = None
        request.connection = self

    # -- the outcome -------------------------------------------------------------------------

    def _finish(self, exc=None):
        if self.timeout is not None:
            self.timeout.cancel()
            self.timeout = None
        if self.transport is not None:
            self.transport.close()
        if self.future.done():
            return
        if exc is not None:
            self.future.set_exception(exc)
        else:
            self.future.set_result(Response(self.code, self.reason))

    def abort(self, exc):
        """End the request now: the socket closes and the fetch fails with `exc`."""
        self._finish(exc)

    @property
    def finished(self):
        return self.future.done()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        if self.future.done():  # aborted while connecting
            transport.close()

    def connection_lost(self, exc):
        if self.future.done():
            return
        if self.head_done and not self.chunked and self.remaining is None:
            self._finish()  # a body that ends when the connection does
        else:
            self._finish(HTTPStreamClosedError("Stream closed"))

    def data_received(self, data):
        if self.future.done():
            return
        buffer = self.buffer + data if self.buffer else data
        self.buffer = b""
        try:
            if not self.head_done:
                buffer = self._head(buffer)
                if buffer is None:
                    return
            self._body(buffer)
        except HTTPStreamClosedError as e:
            self._finish(e)

    # -- parsing -------------------------------------------------------------------------------

    def _head(self, buffer):
        """Parse the head once it is whole; the bytes after it, or None while it is not."""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HTTPStreamClosedError("the response head is too long")
                self.buffer = buffer
                return None
            lines = buffer[:end].decode("latin-1").split("\r\n")
            buffer = buffer[end + 4:]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise HTTPStreamClosedError("a malformed response: %r" % lines[0][:100])
            code = int(parts[1])
            if 100 <= code < 200:
                continue  # an interim answer (100 Continue): the real one follows
            self.code, self.reason = code, parts[2] if len(parts) > 2 else ""
            headers = {}
            callback = self.request.header_callback
            for line in lines:
                if callback is not None:
                    callback(line + "\r\n")
                name, colon, value = line.partition(":")
                if colon:
                    headers[name.strip().lower()] = value.strip()
            if callback is not None:
                callback("\r\n")
            self.head_done = True
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.chunked = True
            elif "content-length" in headers:
                try:
                    self.remaining = int(headers["content-length"])
                except ValueError:
                    raise HTTPStreamClosedError("a malformed Content-Length")
                if self.remaining == 0:
                    self._finish()
            return buffer

    def _deliver(self, data):
        if data:
            callback = self.request.streaming_callback
            if callback is not None:
                callback(data)

    def _body(self, buffer):
        if not self.chunked:
            if self.remaining is not None:
                buffer = buffer[:self.remaining]
                self.remaining -= len(buffer)
            self._deliver(buffer)
            if self.remaining == 0:
                self._finish()
            return
        out = []
        at, size = 0, len(buffer)
        while at < size and not self.future.done():
            if self.in_chunk:
                take = min(self.remaining, size - at)
                out.append(buffer[at:at + take])
                at += take
                self.remaining -= take
                if self.remaining:
                    break
                self.in_chunk = False
                self.remaining = -2  # the CRLF after the chunk's data
                continue
            end = buffer.find(b"\r\n", at)
            if end < 0:
                if size - at > MAX_CHUNK_LINE:
                    raise HTTPStreamClosedError("a malformed chunk")
                self.buffer = buffer[at:]
                break
            line = buffer[at:end]
            at = end + 2
            if self.remaining == -2:  # the line that ends a chunk's data must be empty
                if line:
                    raise HTTPStreamClosedError("a malformed chunk")
                self.remaining = None
                continue
            if self.trailers:
                if not line:
                    self._deliver(b"".join(out))
                    out = []
                    self._finish()
                continue
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HTTPStreamClosedError("a malformed chunk size: %r" % line[:40])
            if length < 0:
                raise HTTPStreamClosedError("a malformed chunk size: %r" % line[:40])
            if length == 0:
                self.trailers = True
                continue
            self.in_chunk, self.remaining = True, length
        self._deliver(b"".join(out))


def fetch_streaming(request):
    """Start `request` (a Tornado HTTPRequest with a streaming_callback); a future that
    resolves to a `Response` once the body has ended, or fails with Tornado's exceptions."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    connection = StreamingConnection(request, future)
    loop.create_task(_run(connection, request, loop))
    return future


async def _run(connection, request, loop):
    try:
        await _start(connection, request, loop)
    except Exception as e:  # a bad URL, a header that cannot be sent: the fetch fails with it
        connection.abort(e)


async def _start(connection, request, loop):
    url = urllib.parse.urlsplit(request.url)
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    host = url.hostname
    if request.request_timeout:
        connection.timeout = loop.call_later(
            request.request_timeout, connection.abort,
            HTTPTimeoutError("Timeout during request"))
    try:
        await asyncio.wait_for(loop.create_connection(
            lambda: connection, host, port,
            ssl=ssl.create_default_context() if https else None,
            server_hostname=host if https else None), request.connect_timeout or None)
    except asyncio.TimeoutError:
        connection.abort(HTTPTimeoutError("Timeout while connecting"))
        return
    except OSError as e:
        connection.abort(e)
        return
    if connection.finished:
        return
    body = request.body or b""
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    netloc = host if url.port is None else "%s:%d" % (host, url.port)
    if ":" in host:
        netloc = "[%s]" % host if url.port is None else "[%s]:%d" % (host, url.port)
    lines = ["%s %s HTTP/1.1" % (request.method, path), "Host: %s" % netloc,
             "Connection: close", "Content-Length: %d" % len(body)]
    for name, value in request.headers.items():
        if name.lower() not in ("host", "connection", "content-length"):
            lines.append("%s: %s" % (name, value))
    connection.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
