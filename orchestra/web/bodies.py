"""Request bodies: streamed in after authentication, each handler with its own limit.

Tornado buffers a whole request body before a handler sees it. The handlers here take
theirs with `@stream_request_body`: `prepare` authenticates first (a refused request is
answered at once), then the body arrives chunk by chunk and is kept only while it is within
the handler's `body_limit`. A body over the limit is read and dropped (so that every client
can read the answer) and refused with 413 naming the limit: JSON under /api, a page for
forms. The HTTP server's own `max_body_size` is MAX_BODY, the largest request Orchestra
takes; a handler's limit may only be lower.
"""

import functools
import inspect
import logging

import tornado.httputil
import tornado.web

from orchestra import schemas
from orchestra.web.base import ApiError, ApiHandler

logger = logging.getLogger(__name__)

# The largest legitimate request: a text field of schemas.HUGE characters (a knowledge
# source, a dataset), four bytes each at most in UTF-8, with room for the JSON around it.
MAX_BODY = 4 * schemas.HUGE + 1_000_000
# Past this a body is not even read to the end: the answer is sent and the connection closed.
DISCARD_LIMIT = 16 * MAX_BODY
BODY_METHODS = ("get", "post", "put", "patch", "delete")


def size_text(size):
    """2000000 -> '2 MB'; 64000 -> '64 kB'."""
    if size >= 1_000_000:
        return "%s MB" % ("%.1f" % (size / 1_000_000)).rstrip("0").rstrip(".")
    return "%s kB" % ("%.1f" % (size / 1000)).rstrip("0").rstrip(".")


def _after_body(method):
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        self.read_body()
        result = method(self, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result
    return wrapper


class LimitedBody:
    """Mixin (before the handler base): a streamed body of at most `body_limit` bytes."""

    _stream_request_body = True  # what @tornado.web.stream_request_body sets

    body_limit = MAX_BODY
    body_name = "request body"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in BODY_METHODS:  # inherited ones too: no method may see an unread body
            method = getattr(cls, name, None)
            if method is not None and not getattr(method, "_reads_body", False):
                wrapped = _after_body(method)
                wrapped._reads_body = True
                setattr(cls, name, wrapped)

    def limit(self):
        """This request's limit in bytes (a subclass may pick it by content type)."""
        return self.body_limit

    def prepare(self):
        self._chunks, self._size, self._too_large, self._body_in = [], 0, False, False
        try:
            length = int(self.request.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        try:
            super().prepare()
        except BaseException:
            # Refused before the body (authentication): let Tornado skip it, not call it
            # malformed, and close the connection after the answer.
            self.request.connection.set_max_body_size(max(length, MAX_BODY))
            raise
        if self._finished:
            return
        if length > DISCARD_LIMIT:
            self.request.connection.set_max_body_size(length)
            raise self.too_large()
        self.request.connection.set_max_body_size(DISCARD_LIMIT)
        self._too_large = length > self.limit()

    def finish(self, chunk=None):
        # Answered before the whole body is in (a method it does not take, a refusal in
        # prepare, a body past DISCARD_LIMIT): Tornado closes the connection after the
        # answer, so the answer says so, or a keep-alive client would send its next request
        # on a connection about to close and see it reset.
        if not self._headers_written and not self.request._body_future.done():
            self.set_header("Connection", "close")
        return super().finish(chunk)

    def data_received(self, chunk):
        self._size += len(chunk)
        if self._size > self.limit():
            self._too_large, self._chunks = True, []
        if not self._too_large:
            self._chunks.append(chunk)

    def check_xsrf_cookie(self):
        # Tornado checks before prepare and the body; a form's _xsrf is in the body.
        if getattr(self, "_body_in", False):
            super().check_xsrf_cookie()

    def read_body(self):
        """Once the whole body is in: refuse it if too large, else parse it and check XSRF."""
        if getattr(self, "_body_in", True):
            return
        self._body_in = True
        if self._too_large:
            raise self.too_large()
        self.request.body = b"".join(self._chunks)
        self._chunks = []
        try:
            self.request._parse_body()  # what Tornado does for a buffered body
        except tornado.httputil.HTTPInputError as e:
            raise tornado.web.HTTPError(400, "Invalid body: %s" % e)
        if self.settings.get("xsrf_cookies") and self.request.method not in (
                "GET", "HEAD", "OPTIONS"):
            self.check_xsrf_cookie()

    def too_large(self):
        limit = self.limit()
        message = "The %s is larger than the limit of %s (%d bytes)." % (
            self.body_name, size_text(limit), limit)
        logger.warning("%s %s: %s", self.request.method, self.request.path, message)
        if isinstance(self, ApiHandler):
            return ApiError(413, message)
        return tornado.web.HTTPError(413, message)
