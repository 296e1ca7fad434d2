"""HTTP transport for the LM Studio client: abortable fetches and error mapping."""

import json
import logging
import socket

from tornado import httputil
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import (
    HTTPStreamClosedError,
    HTTPTimeoutError,
    SimpleAsyncHTTPClient,
    _HTTPConnection,
)

from .errors import (LMStudioError, LMStudioTimeout, LMStudioUnavailable, ServerName,
                     StreamBroken, upstream_error)
from .streaming import StreamingConnection

logger = logging.getLogger(__name__)


class Aborted(Exception):
    """Raised inside Tornado's connection to end a request we no longer want."""


class _TrackedConnection(_HTTPConnection):
    # Tornado has no public way to abort a fetch in flight (tornadoweb/tornado#157). Closing the
    # socket is what tells LM Studio to stop generating, so each connection remembers itself on
    # its request, and `abort()` fails it the same way Tornado's own request timeout does.
    def __init__(self, client, request, *args):
        super().__init__(client, request, *args)
        request.request.connection = self


class AbortableHTTPClient(SimpleAsyncHTTPClient):
    """SimpleAsyncHTTPClient whose requests can be ended early with `abort(request)`."""

    def _connection_class(self):
        return _TrackedConnection


def abort(request):
    """End `request` now: the socket closes and its fetch future fails with `Aborted`."""
    connection = getattr(request, "connection", None)
    if isinstance(connection, StreamingConnection):
        connection.abort(Aborted("aborted"))
    elif connection is not None and connection.final_callback is not None:
        # Before the connect finishes there is no stream yet; Tornado then closes the new
        # stream itself, because final_callback is gone.
        connection._handle_exception(Aborted, Aborted("aborted"), None)


def make_request(url, *, method="GET", body=None, headers=None, connect_timeout,
                 request_timeout, streaming_callback=None, header_callback=None):
    headers = dict(headers or {})
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    return HTTPRequest(
        url, method=method, body=body, headers=headers, connect_timeout=connect_timeout,
        request_timeout=request_timeout, streaming_callback=streaming_callback,
        header_callback=header_callback, decompress_response=False, follow_redirects=False,
    )


def map_fetch_error(exc, server, request, started):
    """Turn an exception from a fetch into one of our typed errors (or None when aborted).
    `server` is the ServerName the message uses (a bare URL names an unknown server)."""
    if not isinstance(server, ServerName):
        server = ServerName(server)
    if isinstance(exc, LMStudioError):
        return exc
    if isinstance(exc, Aborted):
        return None
    if isinstance(exc, HTTPTimeoutError):
        return LMStudioTimeout(server.url, request.request_timeout, server=server)
    if isinstance(exc, HTTPStreamClosedError) and started:
        return StreamBroken("the connection closed before the answer was complete", server)
    if isinstance(exc, (OSError, socket.gaierror, HTTPStreamClosedError)):
        return LMStudioUnavailable(server.url, reason=str(exc), server=server)
    if isinstance(exc, HTTPClientError):
        return upstream_error(exc.code, exc.message or "unknown error", server=server)
    return None


def error_message(body):
    """The server's own error message from an error body (OpenAI or LM Studio shape), or None."""
    return error_details(body)[0]


def error_details(body):
    """(message, error object) of an error body: the server's own message (or None) and the
    JSON object that carries it (llama.cpp puts its n_prompt_tokens and n_ctx there), or None."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip() if isinstance(body, bytes) else str(body)
        return text[:300] or None, None
    if not isinstance(data, dict):
        return None, None
    if "error" not in data:
        return _other_error_message(data), data
    error = data["error"]
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error), error
    return str(error), data


def _other_error_message(data):
    """vLLM's top-level {"object": "error", "message"}, llama.cpp's bare error object inside a
    stream ({"code", "message", "type"}) and FastAPI's {"detail": [...]} (the shape
    llama-cpp-python's server uses for a request it cannot validate)."""
    if data.get("message") and (data.get("object") == "error" or "type" in data
                                or "code" in data):
        return str(data["message"])
    detail = data.get("detail")
    if isinstance(detail, list):
        return "; ".join("%s: %s" % (".".join(str(p) for p in d.get("loc") or ()), d.get("msg"))
                         if isinstance(d, dict) else str(d) for d in detail) or None
    return str(detail) if detail else None


def error_code(body):
    """The OpenAI-style `error.code` of an error body, or None."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def parse_status_line(line):
    """Status code of a response's first header line, or None for other header lines."""
    if line.startswith("HTTP/"):
        try:
            return httputil.parse_response_start_line(line.strip()).code
        except httputil.HTTPInputError:
            return None
    return None
