"""WebService: reads pages for the API, tools, crawls and knowledge sources, and keeps every
attempt in web_fetch_results.

A fetch goes: options checked -> cache (a fresh enough successful row with the same
cache_key) -> robots.txt -> a politeness slot for the host -> the static fetcher or the
browser -> block detection -> extraction (off the IOLoop) -> stored, files written. `auto`
reads statically first and renders in Chromium only when the page needs scripts (or the
caller asked for actions, a screenshot or a PDF, which only the browser makes). Without a
browser, what needs one answers `browser_unavailable` and `auto` keeps the static page.
"""

import asyncio
import concurrent.futures
import datetime
import hashlib
import json
import logging
import os
import time
import urllib.parse

from orchestra.db import utcnow
from orchestra.services.web import actions as actionlib
from orchestra.services.web import browser as browserlib
from orchestra.services.web import extract, files, safety
from orchestra.services.web.crawl import Crawler
from orchestra.services.web.errors import WebError
from orchestra.services.web.fetcher import USER_AGENT, StaticFetcher
from orchestra.services.web.page import Page
from orchestra.services.web.robots import Politeness, Robots

logger = logging.getLogger(__name__)

RENDERS = ("static", "browser", "auto")
SCREENSHOTS = ("viewport", "full")
# MySQL's TEXT holds 65,535 bytes: links, metadata and steps are cut to fit (JSON, UTF-8).
TEXT_BYTES = 60_000
MAX_TITLE = 500
MAX_URL = 2000


def options_of(render="auto", actions=None, screenshot=None, pdf=False):
    """The options a result depends on, checked and in one canonical form."""
    if render not in RENDERS:
        raise ValueError("render must be one of %s" % ", ".join(RENDERS))
    if screenshot is True:
        screenshot = "full"
    if screenshot in (False, ""):
        screenshot = None
    if screenshot is not None and screenshot not in SCREENSHOTS:
        raise ValueError("screenshot must be viewport or full")
    return {"render": render, "actions": list(actions) if actions else None,
            "screenshot": screenshot, "pdf": bool(pdf)}


def cache_key(url, options):
    """sha256 of the canonical JSON of the URL and the options that shape the result."""
    canonical = json.dumps(dict(options, url=url), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def needs_browser_for(options):
    return (options["render"] == "browser" or bool(options["actions"])
            or options["screenshot"] is not None or options["pdf"])


def iso(value):
    if value is None or isinstance(value, str):
        return value
    return value.isoformat(timespec="milliseconds") + "Z"


def shape(row, from_cache=False, outcome=False, text=True):
    """A stored fetch as the API writes it (camelCase)."""
    data = {
        "id": row["id"], "url": row["url"], "finalUrl": row.get("final_url") or row["url"],
        "statusCode": row.get("status_code"), "title": row.get("title"),
        "links": row.get("links") or [], "metadata": row.get("metadata") or {},
        "screenshotUrl": files.url_for(row.get("screenshot_file")),
        "pdfUrl": files.url_for(row.get("pdf_file")), "renderer": row.get("renderer"),
        "fromCache": from_cache, "fetchedAt": iso(row.get("created_at")),
        "steps": row.get("steps") or []}
    if text:
        data["markdown"] = row.get("content") or ""
    if outcome:
        data.update(error=row.get("error"), code=row.get("code"),
                    durationMs=row.get("duration_ms"), crawlId=row.get("crawl_id"),
                    depth=row.get("depth"))
    return data


def fit_list(items, limit=TEXT_BYTES):
    """The longest head of `items` whose JSON fits in `limit` bytes."""
    items = list(items or ())
    while items and len(json.dumps(items).encode()) > limit:
        items = items[:len(items) * 3 // 4]
    return items


def fit_steps(steps, limit=TEXT_BYTES):
    """Steps whose extracted values are cut so that all of them fit."""
    steps = [dict(s) for s in steps or ()]
    budget = max(200, limit // max(1, len(steps)) - 300)
    for step in steps:
        value = step.get("value")
        if value is not None and len(json.dumps(value).encode()) > budget:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            step["value"] = text[:budget // 4]
            step["truncated"] = True
    return fit_list(steps, limit)


def fit_dict(data, limit=TEXT_BYTES):
    data = dict(data or {})
    for key in sorted(data, key=lambda k: -len(json.dumps(data[k], default=str))):
        if len(json.dumps(data, default=str).encode()) <= limit:
            break
        data.pop(key)
    return data


class WebService:
    """The web service: fetch, crawl, knowledge sources; owns the fetcher and the browser."""

    def __init__(self, stores, hub, data_dir, allow_private=False, browser_path=None,
                 knowledge=None, *, politeness_delay=1.0, per_host=2, timeout=15.0,
                 max_bytes=5_000_000, render_timeout=30.0):
        self.stores = stores
        self.hub = hub
        self.knowledge = knowledge  # KnowledgeService: indexes a source once it is fetched
        self.allow_private = allow_private
        self.browser_path = browser_path
        self.render_timeout = render_timeout
        self.files = files.WebFiles(os.path.join(data_dir, "web"))
        self.fetcher = StaticFetcher(allow_private=allow_private, timeout=timeout,
                                     max_bytes=max_bytes)
        self.robots = Robots(self.fetcher, USER_AGENT)
        self.politeness = Politeness(delay=politeness_delay, per_host=per_host)
        self.crawler = Crawler(self)
        self._browser = None  # the BrowserPool, made when a page first needs it
        # Extraction parses whole pages: a pool of its own, so a crawl cannot take every
        # thread of the default executor (the database and others use theirs).
        self._executor = concurrent.futures.ThreadPoolExecutor(
            2, thread_name_prefix="web-extract")
        self._tasks = set()

    # -- the browser -----------------------------------------------------------------------

    async def browser(self):
        """The BrowserPool; WebError browser_unavailable when no browser can be found."""
        if self._browser is None:
            # Looking may start Playwright's driver to ask where its browser is: off the loop.
            executable = await self.blocking(browserlib.find_browser, self.browser_path)
            if executable is None:
                raise WebError("browser_unavailable", "No Chromium or Chrome browser was "
                               "found, so pages cannot be rendered. " + browserlib.INSTALL_HINT)
        if self._browser is None:  # (another fetch may have made it while this one looked)
            self._browser = browserlib.BrowserPool(executable, self.fetcher,
                                                   allow_private=self.allow_private,
                                                   user_agent=USER_AGENT)
        return self._browser

    async def blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- fetch -----------------------------------------------------------------------------

    async def fetch(self, url, *, render="auto", actions=None, screenshot=None, pdf=False,
                    max_age_seconds=0, respect_robots=True, crawl_id=None, depth=None):
        """The page at `url` in the API's shape; every attempt is stored, and a failed one
        raises WebError after it is. Bad arguments (invalid_url, an unknown render, actions
        that do not validate: marshmallow's ValidationError) raise before anything is
        stored. `actions` are as the API takes them (actions.ActionSchema's JSON form)."""
        options = options_of(render, actions, screenshot, pdf)
        if options["actions"]:
            actionlib.ACTIONS_SCHEMA.load(options["actions"])
        safety.check_url(url)
        if len(url) > MAX_URL:
            raise WebError("invalid_url", "The URL is longer than %d characters." % MAX_URL)
        key = cache_key(url, options)
        if max_age_seconds and max_age_seconds > 0:
            since = utcnow() - datetime.timedelta(seconds=max_age_seconds)
            row = await self.stores.web_fetches.cached(key, since)
            if row is not None:
                return shape(row, from_cache=True)
        record = {"url": url, "cache_key": key, "crawl_id": crawl_id, "depth": depth,
                  "options": dict(options, respectRobots=bool(respect_robots))}
        started = time.monotonic()
        try:
            page = await self._read(url, options, respect_robots, record)
        except WebError as e:
            await self._store_failure(record, e, started)
            raise
        except (asyncio.CancelledError, MemoryError):
            raise
        except Exception as e:  # a bug or an odd page still ends as a stored failure
            logger.exception("reading %s failed", url)
            error = WebError("render_failed", "The page could not be read: %s" % e)
            await self._store_failure(record, error, started)
            raise error from e
        row = await self._store_page(record, page, started)
        return shape(row)

    async def fetch_result(self, id):
        """A stored fetch (successful or not) in the API's shape, or None."""
        row = await self.stores.web_fetches.get(id)
        return shape(row, outcome=True) if row is not None else None

    async def history(self, limit=50, offset=0):
        rows, total = await self.stores.web_fetches.history(limit, offset)
        return [shape(r, outcome=True, text=False) for r in rows], total

    async def delete_fetch(self, id):
        """Delete a stored fetch and its files; False when there is none."""
        row = await self.stores.web_fetches.get(id)
        if row is None or not await self.stores.web_fetches.delete(id):
            return False
        await self.blocking(self.files.delete, files.names_of(row))
        return True

    async def _read(self, url, options, respect_robots, record):
        """A Page, or WebError. `record` learns the renderer in use as soon as it is known."""
        use_browser = needs_browser_for(options)
        record["renderer"] = "browser" if use_browser else "static"
        if use_browser:
            await self.browser()  # browser_unavailable before the site sees a request
        # A refused address or an unknown host says so, rather than "robots.txt says no".
        await safety.check_host(url, self.allow_private)
        if respect_robots and not await self.robots.allowed(url):
            raise WebError("robots_disallowed", "The site's robots.txt does not allow reading "
                           "%s (a robots.txt that cannot be read counts as no)." % url)
        if use_browser:
            return await self._render(url, options)
        host = urllib.parse.urlsplit(url).hostname
        async with self.politeness.slot(host):
            page = await self.fetcher.fetch(url)
        if options["render"] == "auto" and page.html and await self.blocking(
                extract.needs_browser, page.html, extracted_of(page)):
            try:
                await self.browser()
                record["renderer"] = "browser"
                return await self._render(url, options)
            except WebError as e:
                # The static page stands; the reason the browser did not help is kept.
                logger.info("%s needs scripts, but the browser failed: %s", url, e.message)
                record["renderer"] = "static"
                page.metadata = dict(page.metadata or {}, browserError=e.code)
        return page

    async def _render(self, url, options):
        host = urllib.parse.urlsplit(url).hostname
        async with self.politeness.slot(host):
            rendered = await (await self.browser()).render(
                url, actions=options["actions"], screenshot=options["screenshot"],
                pdf=options["pdf"], timeout=self.render_timeout)
        return await self.blocking(read_rendered, rendered)

    async def _store_failure(self, record, error, started):
        data = dict(record, code=error.code, error=error.message, status_code=error.status_code,
                    duration_ms=elapsed_ms(started))
        try:
            row = await self.stores.web_fetches.create(data)
            error.fetch_id = row["id"]
        except Exception:
            logger.exception("cannot store the failed fetch of %s", record["url"])

    async def _store_page(self, record, page, started):
        data = dict(record, final_url=(page.final_url or page.url)[:MAX_URL],
                    status_code=page.status_code, title=(page.title or "")[:MAX_TITLE] or None,
                    content=page.markdown or "", renderer=page.renderer,
                    links=fit_list(page.links), metadata=fit_dict(page.metadata),
                    steps=fit_steps(page.steps) or None, duration_ms=elapsed_ms(started))
        row = await self.stores.web_fetches.create(data)
        if not (page.screenshot or page.pdf or page.shots):
            return row
        changes = await self.blocking(self._save_files, row["id"], page, data["steps"])
        return await self.stores.web_fetches.update(row["id"], changes)

    def _save_files(self, fetch_id, page, steps):
        """Runs off the IOLoop: the page's files written, the columns that name them."""
        changes = {}
        if page.screenshot:
            changes["screenshot_file"] = self.files.save(fetch_id, "png", page.screenshot)
        if page.pdf:
            changes["pdf_file"] = self.files.save(fetch_id, "pdf", page.pdf)
        if page.shots and steps:
            for step in steps:
                index = step.pop("shot", None)  # the step's PNG in page.shots
                if isinstance(index, int) and 0 <= index < len(page.shots):
                    step["screenshotUrl"] = files.url_for(
                        self.files.save(fetch_id, "png", page.shots[index]))
            changes["steps"] = steps
        return changes

    def file_path(self, name):
        """The path of a file a fetch made, or None (blocking: a stat)."""
        return self.files.path(name)

    # -- crawls ----------------------------------------------------------------------------

    async def crawl(self, url, *, max_pages=20, max_depth=2, include=None, exclude=None,
                    render="static", respect_robots=True):
        return await self.crawler.start(url, max_pages=max_pages, max_depth=max_depth,
                                        include=include, exclude=exclude, render=render,
                                        respect_robots=respect_robots)

    async def crawl_result(self, id):
        return await self.crawler.result(id)

    async def crawls(self, limit=50, offset=0):
        return await self.crawler.list(limit, offset)

    async def cancel_crawl(self, id):
        return await self.crawler.cancel(id)

    async def start(self):
        """At start-up: crawls a previous process left running are marked failed."""
        await self.crawler.recover()

    # -- knowledge sources -----------------------------------------------------------------

    def fetch_source(self, source_id, url, render="auto"):
        """Fetch a URL source in the background; the row goes pending -> indexing (handed to
        the knowledge service, which makes it ready) or failed."""
        task = asyncio.get_running_loop().create_task(
            self._fetch_source(source_id, url, render or "auto"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _fetch_source(self, source_id, url, render):
        try:
            try:
                result, error = await self.fetch(url, render=render), None
            except WebError as e:
                result, error = None, e.message
            source = await self.stores.knowledge_sources.get(source_id)
            if source is None or source.url != url:
                return  # deleted, or its URL changed meanwhile (a newer fetch writes it)
            if result is not None:
                changes = {"status": "indexing", "content": result["markdown"],
                           "format": "markdown", "error": None}
                if source.title == url and result["title"]:
                    changes["title"] = result["title"][:200]
            else:
                changes = {"status": "failed", "error": error}
            await self.stores.knowledge_sources.update(source_id, changes)
            if result is not None and self.knowledge is not None:
                # The fetch is done when its page is indexed (wait() covers both); shielded so
                # that cancelling the fetch leaves the indexing to the knowledge service.
                await asyncio.shield(self.knowledge.index_source(source_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("fetching knowledge source %s (%s) failed", source_id, url)

    # -- life ------------------------------------------------------------------------------

    async def wait(self):
        """Until every background fetch and crawl has finished (tests, shutdown)."""
        while self._tasks or self.crawler.running():
            await asyncio.gather(*list(self._tasks), *self.crawler.running(),
                                 return_exceptions=True)

    async def close(self):
        """Cancel fetches and crawls, then stop the browser and the fetcher."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.crawler.close()
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception:
                logger.exception("closing the browser failed")
        await self.fetcher.close()
        self._executor.shutdown(wait=False)


def elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)


def extracted_of(page):
    return {"title": page.title, "markdown": page.markdown, "links": page.links,
            "metadata": page.metadata}


def read_rendered(rendered):
    """Runs off the IOLoop: a browser-rendered page as a Page, or WebError blocked /
    http_error (as the static fetcher answers)."""
    reason = extract.detect_block(rendered.status_code, rendered.headers, rendered.html)
    if reason:
        raise WebError("blocked", reason, status_code=rendered.status_code)
    if rendered.status_code is not None and rendered.status_code >= 400:
        raise WebError("http_error", "The server answered %d." % rendered.status_code,
                       status_code=rendered.status_code)
    extracted = extract.extract_page(rendered.html, rendered.final_url or rendered.url)
    return Page(url=rendered.url, final_url=rendered.final_url or rendered.url,
                status_code=rendered.status_code, renderer="browser",
                title=extracted.get("title"), markdown=extracted.get("markdown") or "",
                links=extracted.get("links") or [], metadata=extracted.get("metadata") or {},
                html=rendered.html, steps=rendered.steps, screenshot=rendered.screenshot,
                pdf=rendered.pdf, shots=rendered.shots)
