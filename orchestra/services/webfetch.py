"""WebFetcher: fetches web pages as Markdown text, the only place that makes blocking HTTP calls.

Requests run on requests-futures' thread pool and are awaited from the IOLoop through
`asyncio.wrap_future`. The body is read and turned into text inside a `response` hook, i.e.
on the worker thread too, so neither the download nor the HTML parsing blocks the IOLoop. An
HTML page becomes Markdown (html_to_markdown), so its headings, lists and code survive for the
chunker.
"""

import asyncio
import dataclasses
import logging
import re
import time
import urllib.parse

import requests
from requests_futures.sessions import FuturesSession

from orchestra.services.knowledge.extract import html_to_markdown

logger = logging.getLogger(__name__)

USER_AGENT = "Orchestra/0.1 (+knowledge-base fetcher)"
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclasses.dataclass
class FetchResult:
    url: str
    status_code: int | None = None
    title: str | None = None
    content: str | None = None
    error: str | None = None

    @property
    def ok(self):
        return self.error is None


class FetchError(Exception):
    """A page that cannot be used; the message is one sentence for a person."""


def check_url(url):
    """Only absolute http(s) URLs are fetched."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("Only http:// and https:// URLs can be fetched.")


class WebFetcher:
    """Fetch pages (with a timeout, a size limit, http/https only) and store what came back."""

    def __init__(self, stores=None, timeout=15.0, max_bytes=2_000_000, workers=4,
                 knowledge=None):
        self.stores = stores
        self.knowledge = knowledge  # KnowledgeService: indexes a source once it is fetched
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.session = FuturesSession(max_workers=workers)
        self.session.headers["User-Agent"] = USER_AGENT
        self._tasks = set()

    async def fetch(self, url):
        """A FetchResult; network and HTTP failures are reported in `.error`, never raised."""
        try:
            check_url(url)
            future = self.session.get(url, timeout=self.timeout, stream=True,
                                      hooks={"response": self._read})
            response = await asyncio.wrap_future(future)
        except FetchError as e:
            return FetchResult(url, error=str(e))
        except requests.Timeout:
            return FetchResult(url, error="The server did not answer within %g s." % self.timeout)
        except requests.RequestException as e:
            return FetchResult(url, error="Cannot fetch the page: %s" % describe(e))
        return response.orchestra_result

    def _read(self, response, *args, **kwargs):
        """Runs on the worker thread: read at most max_bytes and extract the text."""
        if response.is_redirect:
            return
        result = FetchResult(response.url, status_code=response.status_code)
        try:
            result.title, result.content = self._extract(response)
        except FetchError as e:
            result.error = str(e)
        except Exception as e:  # a bug or an odd page must still end as a failed fetch
            logger.exception("cannot read %s", response.url)
            result.error = "Cannot read the page: %s" % e
        finally:
            response.close()
        response.orchestra_result = result

    def _extract(self, response):
        if response.status_code >= 400:
            raise FetchError("The server answered %d %s." % (response.status_code,
                                                             response.reason or ""))
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind and not (kind.startswith("text/") or kind in HTML_TYPES):
            raise FetchError("Not a text page (content type %s)." % kind)
        body = self._body(response)
        charset = requests.utils.get_encoding_from_headers(response.headers)
        if "charset" not in response.headers.get("Content-Type", "").lower():
            charset = "utf-8"
        try:
            text = body.decode(charset or "utf-8", "replace")
        except LookupError:
            text = body.decode("utf-8", "replace")
        if kind in HTML_TYPES or (not kind and "<html" in text[:1000].lower()):
            return html_to_markdown(text)
        return None, text

    def _body(self, response):
        too_big = FetchError("The page is larger than %d bytes." % self.max_bytes)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise too_big
        # The read timeout bounds each wait for bytes; this bounds the whole download.
        deadline = time.monotonic() + self.timeout * 4
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise too_big
                if time.monotonic() > deadline:
                    raise FetchError("The download took too long.")
                chunks.append(chunk)
        except requests.RequestException as e:
            raise FetchError("The download failed: %s" % describe(e))
        return b"".join(chunks)

    # -- knowledge sources -----------------------------------------------------------------

    def fetch_source(self, source_id, url):
        """Fetch a URL source in the background; the row goes pending -> indexing (handed to
        the knowledge service, which makes it ready) or failed."""
        task = asyncio.get_running_loop().create_task(self._fetch_source(source_id, url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _fetch_source(self, source_id, url):
        try:
            result = await self.fetch(url)
            await self.stores.web_fetches.create(dataclasses.asdict(result))
            source = await self.stores.knowledge_sources.get(source_id)
            if source is None or source.url != url:
                return  # deleted, or its URL changed meanwhile (a newer fetch writes it)
            if result.ok:
                changes = {"status": "indexing", "content": result.content or "",
                           "format": "markdown", "error": None}
                if source.title == url and result.title:
                    changes["title"] = result.title[:200]
            else:
                changes = {"status": "failed", "error": result.error}
            await self.stores.knowledge_sources.update(source_id, changes)
            if result.ok and self.knowledge is not None:
                # The fetch is done when its page is indexed (wait() covers both); shielded so
                # that cancelling the fetch leaves the indexing to the knowledge service.
                await asyncio.shield(self.knowledge.index_source(source_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("fetching knowledge source %s (%s) failed", source_id, url)

    async def wait(self):
        """Until every background fetch has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self):
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        # close() waits for requests in flight (each bounded by the timeout): not on the IOLoop.
        await asyncio.get_running_loop().run_in_executor(None, self.session.close)


def describe(exc):
    """A short reason from a requests exception (they nest urllib3's long messages)."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    if match:
        return match.group(1)
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return text[:200]
