"""StaticFetcher: HTTP requests that reach only public addresses, bounded in time and size.

Requests run on requests-futures' thread pool, awaited from the IOLoop; the body is read
inside a `response` hook, on the worker thread too, so neither DNS, the download nor the
parsing blocks the IOLoop. Every connection goes to an address safety.resolve accepted (see
safety.pool_classes), and redirects are followed here, hop by hop, so that each hop is checked
as the first one was. `timeout` bounds the whole request, redirects and download included: a
server that sends one byte a second stays under any socket timeout, so when the time is up
the IOLoop gives up and the worker's socket is shut down under it.
"""

import asyncio
import http.cookiejar
import logging
import re
import socket
import threading
import time
import urllib.parse

import requests
import requests.adapters
from requests_futures.sessions import FuturesSession

from orchestra.services.knowledge import extract as knowledge_extract
from orchestra.services.web import extract, safety
from orchestra.services.web.errors import WebError
from orchestra.services.web.page import Page, RawResponse

logger = logging.getLogger(__name__)

USER_AGENT = ("Orchestra/0.1 (+https://github.com/orchestra; self-hosted LLM control room; "
              "reads pages on its user's request)")
ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/*;q=0.8,*/*;q=0.5"
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
CHUNK = 16 * 1024
# Request headers that belong to one origin: not sent on to another after a redirect.
ORIGIN_HEADERS = ("authorization", "cookie", "proxy-authorization")
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("application/json", "application/xml")   # besides text/*


class CheckedAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose connection pools connect only to checked addresses."""

    def __init__(self, allow_private=False, **kwargs):
        self.allow_private = allow_private  # read by init_poolmanager, called by __init__
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = safety.pool_classes(self.allow_private)


class StaticFetcher:
    """Pages over plain HTTP: `get` gives the raw response, `fetch` a read Page."""

    def __init__(self, allow_private=False, timeout=15.0, max_bytes=5_000_000, workers=8,
                 user_agent=USER_AGENT):
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.session = FuturesSession(max_workers=workers)
        # No proxies from the environment: a proxy would resolve and connect by itself,
        # past the address check. No cookies kept between requests of different users.
        self.session.trust_env = False
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = CheckedAdapter(allow_private, pool_maxsize=workers, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": user_agent, "Accept": ACCEPT})

    async def get(self, url, *, method="GET", headers=None, body=None, follow_redirects=True,
                  max_bytes=None, timeout=None):
        """The response to `url` (never an error for an HTTP status). WebError invalid_url,
        blocked_address, timeout, too_large or network_error."""
        timeout = self.timeout if timeout is None else timeout
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        deadline = time.monotonic() + timeout
        safety.check_url(url)
        current, method = url, method.upper()
        headers = {k: v for k, v in (headers or {}).items()}
        passed = []
        while True:
            status, got, data = await self._request(current, method, headers, body,
                                                    max_bytes, deadline, timeout)
            location = got.get("location")
            if not follow_redirects or status not in REDIRECTS or not location:
                return RawResponse(url=url, final_url=current, status_code=status,
                                   headers=got, body=data, redirects=passed)
            if len(passed) >= MAX_REDIRECTS:
                raise WebError("network_error", "The page redirects more than %d times."
                               % MAX_REDIRECTS, status_code=status)
            target = urllib.parse.urldefrag(urllib.parse.urljoin(current, location.strip()))[0]
            safety.check_url(target)
            if (status == 303 and method != "HEAD") or (status in (301, 302)
                                                       and method == "POST"):
                method, body = "GET", None   # as browsers do
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "content-length")}
            if _origin(target) != _origin(current):
                headers = {k: v for k, v in headers.items() if k.lower() not in ORIGIN_HEADERS}
            passed.append(current)
            current = target

    async def fetch(self, url, *, headers=None, timeout=None):
        """The page at `url` read as a Page (renderer "static"). WebError as get does, and
        blocked (a wall or a challenge page), http_error (another status >= 400),
        unsupported_type (neither HTML, text nor PDF)."""
        raw = await self.get(url, headers=headers, timeout=timeout)
        # Parsing a big page takes a while: on the session's worker threads, not the IOLoop.
        return await asyncio.wrap_future(self.session.executor.submit(read_response, raw))

    async def _request(self, url, method, headers, body, max_bytes, deadline, timeout):
        """One request, no redirect followed: (status, lower-case headers, body)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(timeout)
        download = Download(max_bytes, deadline, timeout)
        future = asyncio.wrap_future(self.session.request(
            method, url, headers=headers, data=body, allow_redirects=False, stream=True,
            timeout=(remaining, remaining), hooks={"response": download.read}))
        try:
            done, _ = await asyncio.wait({future}, timeout=remaining)
        except asyncio.CancelledError:
            download.abort()
            future.add_done_callback(_ignore)
            raise
        if not done:
            download.abort()
            future.add_done_callback(_ignore)
            raise _timeout(timeout)
        try:
            response = future.result()
        except WebError:
            raise
        except requests.Timeout:
            raise _timeout(timeout)
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema) as e:
            raise WebError("invalid_url", "The URL is not valid: %s." % describe(e))
        except requests.RequestException as e:
            raise WebError("network_error", "Cannot reach %s: %s."
                           % (urllib.parse.urlsplit(url).netloc, describe(e)))
        got = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, got, response.orchestra_body

    async def close(self):
        # close() waits for requests in flight (each bounded by its timeout): not on the IOLoop
        await asyncio.get_running_loop().run_in_executor(None, self.session.close)


class Download:
    """Reads one response's body on the worker thread, within a size and a time limit; the
    IOLoop may abort it, which shuts its socket so that a blocked read returns at once."""

    def __init__(self, max_bytes, deadline, timeout):
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.timeout = timeout
        self.response = None
        self.aborted = False
        self.lock = threading.Lock()

    def read(self, response, *args, **kwargs):
        """requests' response hook: sets response.orchestra_body, or raises WebError."""
        with self.lock:
            self.response = response
            aborted = self.aborted
        try:
            if aborted:
                raise _timeout(self.timeout)
            length = response.headers.get("Content-Length", "").strip()
            if length.isdigit() and int(length) > self.max_bytes:
                raise _too_large(self.max_bytes)
            chunks, size = [], 0
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise _too_large(self.max_bytes)
                if self.aborted or time.monotonic() > self.deadline:
                    raise _timeout(self.timeout)
                chunks.append(chunk)
            response.orchestra_body = b"".join(chunks)
        finally:
            response.close()

    def abort(self):
        with self.lock:
            self.aborted = True
            response = self.response
        connection = getattr(getattr(response, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def read_response(raw):
    """A Page from a RawResponse, or WebError. Blocking (parsing): run it off the IOLoop."""
    kind = raw.content_type or _sniff(raw.body)
    is_html = kind in HTML_TYPES
    text = decode(raw.body, raw.headers.get("content-type", ""), is_html) if (
        is_html or kind.startswith("text/") or kind in TEXT_TYPES) else None
    block = extract.detect_block(raw.status_code, raw.headers, text if is_html else "")
    if block:
        raise WebError("blocked", block, status_code=raw.status_code)
    if raw.status_code >= 400:
        raise WebError("http_error", "The server answered %d for %s." % (
            raw.status_code, raw.final_url), status_code=raw.status_code)
    page = Page(url=raw.url, final_url=raw.final_url, status_code=raw.status_code,
                renderer="static", title=None, markdown="")
    if is_html:
        read = extract.extract_page(text, raw.final_url)
        page.title, page.markdown, page.links = read["title"], read["markdown"], read["links"]
        page.metadata, page.html = read["metadata"], text
    elif kind == "application/pdf":
        name = urllib.parse.urlsplit(raw.final_url).path.rsplit("/", 1)[-1] or "page.pdf"
        try:
            document = knowledge_extract.extract(raw.body, name, kind)
        except knowledge_extract.ExtractError as e:
            raise WebError("unsupported_type", e.message, status_code=raw.status_code)
        page.title, page.markdown = document.title, document.text
        page.metadata = {"pages": document.text.count("\f") + 1}
        if document.title:
            page.metadata["title"] = document.title
    elif text is not None:
        page.markdown = text
        if kind in ("text/markdown", "text/x-markdown"):
            page.title = extract.first_heading(text)
    else:
        raise WebError("unsupported_type", "The page is a %s file, which cannot be read as "
                       "text." % (kind or "binary"), status_code=raw.status_code)
    page.metadata["contentType"] = kind
    return page


def _sniff(body):
    """The type of a response that names none, from its first bytes."""
    head = body[:512].lstrip()
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if not head:
        return "text/plain"
    return ""


_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def decode(body, content_type, is_html):
    """Text of a body: the charset the header names, else (HTML) the one a <meta> names,
    else UTF-8; bytes that do not decode are replaced."""
    match = _CHARSET.search(content_type or "")
    charset = match.group(1) if match else None
    if charset is None and is_html:
        found = _META_CHARSET.search(body[:4096])
        charset = found.group(1).decode("ascii") if found else None
    if body.startswith(b"\xef\xbb\xbf"):
        charset = "utf-8-sig"
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _timeout(seconds):
    return WebError("timeout", "The page did not arrive within %g s." % seconds)


def _too_large(limit):
    return WebError("too_large", "The page is larger than %s bytes." % format(limit, ","))


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _ignore(future):
    """Collects the outcome of a request given up on, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()


def describe(exc):
    """A short reason from a requests exception (they nest urllib3's long messages)."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    if match:
        return match.group(1).strip()
    if isinstance(exc, requests.exceptions.SSLError):
        match = re.search(r"certificate verify failed: (.+?)(?: \(_ssl|[\"')]|$)", text)
        return "TLS failed (certificate verify failed: %s)" % match.group(1).strip() \
            if match else "TLS failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return text[:200]
