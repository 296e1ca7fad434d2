"""Base handlers: authentication, XSRF, JSON bodies, errors, Jinja2 rendering, services access.

Every handler method requires the access token unless it is marked `@public`. The token
arrives as `?token=` (which then sets a signed cookie, as Jupyter does, and a page is
redirected to its own URL without the token), the cookie, or an `Authorization: Bearer`
header. Requests authenticated by the header skip the XSRF check: a browser never adds that
header on its own, so a forged cross-site request cannot carry it. The access log and error
logs show `token=***` in place of a token given in a URL.
"""

import hashlib
import hmac
import json
import logging
import re
import urllib.parse

import tornado.escape
import tornado.log
import tornado.web
from marshmallow import ValidationError

from orchestra import schemas
from orchestra.db import DatabaseError, IntegrityError, OutOfRange
from orchestra.services import lmstudio

# Most specific first: what each domain failure means to an HTTP client.
ERROR_STATUS = (
    (IntegrityError, 409),
    (OutOfRange, 400),
    (DatabaseError, 503),
    (lmstudio.LMStudioUnavailable, 503),
    (lmstudio.LMStudioTimeout, 504),
    (lmstudio.ModelNotFound, 404),
    (lmstudio.UpstreamError, 502),
    (lmstudio.LMStudioError, 502),
)

logger = logging.getLogger(__name__)

AUTH_COOKIE = "orchestra_auth"


def public(method):
    """Mark a handler method as open to requests without the token."""
    method.public = True
    return method


class ApiError(tornado.web.HTTPError):
    """An API failure with a message for people and, for validation, per-field messages."""

    def __init__(self, status, message, fields=None):
        super().__init__(status, reason=None)
        self.message = message
        self.fields = fields


# A \u escape of a UTF-16 surrogate (\ud800-\udfff): json.loads turns a lone one into a
# str that no UTF-8 database, file or socket can take.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json(raw):
    """A JSON text (str or UTF-8 bytes) as Python values; ValueError when it is not JSON or
    holds a string that is not text (a lone surrogate, which only an escape can write)."""
    value = json.loads(raw)
    if SURROGATE_ESCAPE.search(raw if isinstance(raw, str) else raw.decode("utf-8")):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError("a string holds %r, half of a UTF-16 surrogate pair, which is "
                             "not text" % e.object[e.start:e.end]) from None
    return value


def redact_uri(uri):
    """The request URI with the value of any `token` query argument replaced by ***."""
    path, sep, query = uri.partition("?")
    if "token" not in query and "%" not in query:  # the common case, without parsing
        return uri
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return path + "?" + "&".join(
        "%s=%s" % (urllib.parse.quote(k), "***" if k == "token" else urllib.parse.quote(v))
        for k, v in pairs)


def without_token(uri):
    """The request URI without its `token` query argument (the page's own URL, minus it)."""
    path, sep, query = uri.partition("?")
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
             if k != "token"]
    return path + ("?" + urllib.parse.urlencode(pairs) if pairs else "")


def safe_next(url):
    """`url` when it is a path on this site, else "/": a login never sends a browser away.

    Browsers read a backslash as a slash and drop tabs and newlines, so `/\\evil.example`
    and `/<tab>/evil.example` would leave the site; anything that is not a plain path goes home.
    """
    if not url or not url.startswith("/") or url.startswith("//"):
        return "/"
    if "\\" in url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "/"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme or parts.netloc:
        return "/"
    return url


def log_request(handler):
    """The access log (the application's `log_function`): Tornado's format, token hidden."""
    status = handler.get_status()
    if status < 400:
        log_method = tornado.log.access_log.info
    elif status < 500:
        log_method = tornado.log.access_log.warning
    else:
        log_method = tornado.log.access_log.error
    log_method("%d %s %.2fms", status, request_summary(handler.request),
               1000.0 * handler.request.request_time())


def request_summary(request):
    return "%s %s (%s)" % (request.method, redact_uri(request.uri), request.remote_ip)


def token_digest(token, secret):
    """What the auth cookie holds: a new token makes every old cookie worthless."""
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


class AuthMixin:
    """Token checks shared by HTTP handlers and the WebSocket."""

    @property
    def config(self):
        return self.settings["config"]

    def token_from_request(self):
        """(token, via) from the header or the query, or (None, None)."""
        header = self.request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip(), "header"
        token = self.get_query_argument("token", None)
        if token:
            return token, "query"
        return None, None

    def token_is_valid(self, token):
        return bool(token) and hmac.compare_digest(token.encode(), self.config.token.encode())

    def cookie_is_valid(self):
        value = self.get_signed_cookie(AUTH_COOKIE)
        expected = token_digest(self.config.token, self.settings["cookie_secret"].encode())
        return value is not None and hmac.compare_digest(value.decode(), expected)

    def authenticate(self):
        """'header', 'query', 'cookie' or None."""
        token, via = self.token_from_request()
        if token is not None:
            return via if self.token_is_valid(token) else None
        return "cookie" if self.cookie_is_valid() else None

    def set_auth_cookie(self):
        self.set_signed_cookie(
            AUTH_COOKIE, token_digest(self.config.token, self.settings["cookie_secret"].encode()),
            expires_days=30, httponly=True, samesite="Lax",
            secure=self.request.protocol == "https")

    def is_public(self):
        method = getattr(self, self.request.method.lower(), None)
        return getattr(method, "public", False)

    def _request_summary(self):
        # Tornado's own warnings ("403 GET /ws?token=... : ...") go through this.
        return request_summary(self.request)


class BaseHandler(AuthMixin, tornado.web.RequestHandler):
    """Pages: HTML responses and HTML errors; services reached through properties."""

    @property
    def db(self):
        return self.settings["db"]

    @property
    def stores(self):
        return self.settings["stores"]

    @property
    def lmstudio(self):
        return self.settings["lmstudio"]

    @property
    def hub(self):
        return self.settings["hub"]

    @property
    def services(self):
        return self.settings["services"]

    def get_current_user(self):
        return self.authenticate()

    def path_id(self, raw, thing):
        """The row id a URL names; 404 "No <thing> with id N." for one that no row can have
        (0, or beyond what the databases store), before any query is made with it."""
        id = schemas.parse_id(raw)
        if id is None:
            raise ApiError(404, "No %s with id %s." % (thing, raw))
        return id

    def check_xsrf_cookie(self):
        # Tornado checks XSRF before prepare(): without a login, say that (401), not "XSRF".
        if self.current_user is None and not self.is_public():
            self.deny()
        if self.current_user == "header":
            return
        super().check_xsrf_cookie()

    def prepare(self):
        if self.current_user is None and not self.is_public():
            self.deny()
        elif self.current_user == "query":
            self.set_auth_cookie()
            self.drop_query_token()

    def drop_query_token(self):
        """Once `?token=` has set the cookie, a page goes to its URL without the token, so
        the token stays out of the address bar, the history and bookmarks."""
        if self.request.method in ("GET", "HEAD"):
            self.redirect(without_token(self.request.uri))
            raise tornado.web.Finish()

    def deny(self):
        if self.request.method in ("GET", "HEAD"):
            url = self.reverse_url("login") + "?" + urllib.parse.urlencode(
                {"next": without_token(self.request.uri)})
            self.redirect(url)
            raise tornado.web.Finish()
        raise tornado.web.HTTPError(401, reason="Login required")

    # -- errors ----------------------------------------------------------------------------

    def send_error(self, status_code=500, **kwargs):
        # Domain exceptions (LM Studio down, database gone) carry their own status.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if exc is not None and not isinstance(exc, tornado.web.HTTPError):
            status_code = status_for(exc)
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb):
        if isinstance(value, (DatabaseError, lmstudio.LMStudioError)) or getattr(
                value, "http_status", None):
            logger.warning("%s %s: %s", self.request.method, redact_uri(self.request.uri), value)
        else:
            super().log_exception(typ, value, tb)

    # -- rendering -------------------------------------------------------------------------

    def render_template(self, name, status=None, **context):
        env = self.settings["jinja"]
        context.update(
            request=self.request, handler=self, current_user=self.current_user,
            static_url=self.static_url, reverse_url=self.reverse_url,
            xsrf_token=self.xsrf_token.decode(), xsrf_form_html=self.xsrf_form_html,
            config=self.config, flash=self.pop_flash())
        html = env.get_template(name).render(**context)
        if status:
            self.set_status(status)
        self.finish(html)

    def flash(self, message):
        """A one-line notice shown on the next page (after a redirect)."""
        self.set_signed_cookie("orchestra_flash", message, expires_days=None, httponly=True,
                               samesite="Lax")

    def pop_flash(self):
        if not hasattr(self, "_flash"):
            value = self.get_signed_cookie("orchestra_flash", max_age_days=1)
            self._flash = value.decode() if value else None
            if value:
                self.clear_cookie("orchestra_flash")
        return self._flash

    def form_data(self, lists=()):
        """Submitted form fields as a dict of strings (names in `lists` as lists)."""
        data = {}
        for name in self.request.body_arguments:
            if name == "_xsrf":
                continue
            values = [v.decode("utf-8", "replace") for v in self.request.body_arguments[name]]
            data[name] = values if name in lists else values[-1]
        return data

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = describe_error(exc, status_code)
        try:
            self.render_template("error.html", status=status_code, status_code=status_code,
                                 message=message)
        except Exception:
            logger.exception("cannot render the error page")
            self.finish("<h1>%d</h1><p>%s</p>"
                        % (status_code, tornado.escape.xhtml_escape(message)))


class ApiHandler(BaseHandler):
    """JSON in, JSON out; every error is `{"error": ..., "fields"?: ...}`."""

    def deny(self):
        raise ApiError(401, "Authentication required: send 'Authorization: Bearer <token>'.")

    def drop_query_token(self):
        pass  # scripts calling the API keep their URL

    def json_body(self):
        """The request body as a JSON object; 400 when it is not one."""
        if not self.request.body:
            raise ApiError(400, "The request body must be a JSON object.")
        try:
            data = parse_json(self.request.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "Malformed JSON: %s" % e)
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data

    def load(self, schema, data=None, **kwargs):
        """Validate with a marshmallow schema; 400 with per-field messages when invalid."""
        try:
            return schema.load(self.json_body() if data is None else data, **kwargs)
        except ValidationError as e:
            raise ApiError(400, "Invalid input.", fields=e.messages)

    def write_json(self, obj, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(obj, default=str))

    def int_argument(self, name, default, low, high):
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "%s must be an integer." % name, fields={name: ["Not an integer."]})
        if not low <= value <= high:
            raise ApiError(400, "%s must be between %d and %d." % (name, low, high),
                           fields={name: ["Out of range."]})
        return value

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = {"error": describe_error(exc, status_code)}
        if status_code == 401:
            # The pages' api() reads this as "log in again" (common.js).
            self.set_header("WWW-Authenticate", 'Bearer realm="orchestra"')
        if isinstance(exc, ApiError) and exc.fields:
            body["fields"] = exc.fields
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))


def describe_error(exc, status_code):
    """One sentence for a person; never a traceback."""
    if isinstance(exc, ApiError):
        return exc.message
    if isinstance(exc, tornado.web.HTTPError):
        if exc.log_message:
            return exc.log_message % exc.args if exc.args else exc.log_message
        return exc.reason or tornado.httputil.responses.get(status_code, "Error")
    if isinstance(exc, IntegrityError):
        return "The change conflicts with stored data (a referenced record may not exist)."
    if isinstance(exc, DatabaseError):
        return "The database is not available: %s" % exc
    message = getattr(exc, "message", None)
    if message:  # domain errors (LM Studio, orchestrator) carry a sentence for people
        return str(message)
    return tornado.httputil.responses.get(status_code, "Internal Server Error")


def status_for(exc):
    """HTTP status for an exception raised by a service or the data layer."""
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            return status
    return getattr(exc, "http_status", None) or 500


class NotFoundHandler(BaseHandler):
    """The catch-all: 404 for every method, as JSON under /api/ and HTML elsewhere."""

    def prepare(self):
        if self.request.path.startswith("/api/"):
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.set_status(404)
            self.finish(json.dumps({"error": "No such endpoint: %s %s"
                                    % (self.request.method, self.request.path)}))
            return
        super().prepare()
        raise tornado.web.HTTPError(404, "No page at %s" % self.request.path)

    def write_error(self, status_code, **kwargs):
        # Tornado refuses some requests before prepare(): a body it cannot parse (a malformed
        # multipart form), a method it does not know. Under /api/ those answers are JSON too.
        if self.request.path.startswith("/api/"):
            ApiHandler.write_error(self, status_code, **kwargs)
        else:
            super().write_error(status_code, **kwargs)
