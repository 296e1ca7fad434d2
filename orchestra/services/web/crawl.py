"""Crawler: same-site crawl jobs in the background, breadth first, each page read through the
WebService (robots, politeness, storage) and tied to its crawl; progress on the hub.

A crawl reads its start page (depth 0), then the links of each depth in the order found, up
to `max_depth` and `max_pages`. A link is followed when it is on the start page's host
(http or https), matches one `include` pattern (when there are any) and no `exclude`
pattern (re.search on the URL), and was not seen before (normalised: no fragment, no
default port, lower-case scheme and host). Each page done publishes "web:crawl" with the
crawl dict; so does the end. Crawls a previous process left running are failed at start-up.
"""

import asyncio
import logging
import re
import urllib.parse

from orchestra.db import utcnow
from orchestra.services.web import safety
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
INTERRUPTED = "Interrupted by a restart."
# Links to these are files, not pages: following them would only fail as unsupported_type.
SKIPPED = re.compile(r"\.(png|jpe?g|gif|webp|svg|ico|css|js|mjs|json|xml|zip|gz|tgz|bz2|xz|"
                     r"7z|rar|tar|mp3|mp4|m4a|webm|ogg|wav|avi|mov|woff2?|ttf|otf|eot|exe|"
                     r"dmg|iso|apk|bin)$", re.IGNORECASE)
CONCURRENCY = 2  # pages of one crawl read at once (the host's politeness slots bound it too)


def normalise(url):
    """The URL a crawl compares: no fragment, lower-case scheme and host, no default port,
    "/" for an empty path; None for what is not an http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = "[%s]" % host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = "%s:%d" % (host, port)
    return urllib.parse.urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def compile_patterns(patterns):
    """[re.Pattern]; ValueError naming the pattern that does not compile."""
    compiled = []
    for pattern in patterns or ():
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise ValueError("%r is not a valid regular expression: %s" % (pattern, e))
    return compiled


class Scope:
    """Which links a crawl follows."""

    def __init__(self, start, include, exclude):
        self.host = urllib.parse.urlsplit(start).hostname.lower()
        self.include = compile_patterns(include)
        self.exclude = compile_patterns(exclude)

    def follows(self, url):
        if urllib.parse.urlsplit(url).hostname != self.host or SKIPPED.search(
                urllib.parse.urlsplit(url).path):
            return False
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)


def crawl_shape(row, pages=None):
    options = row["options"] or {}
    data = {"id": row["id"], "url": row["url"], "status": row["status"],
            "maxPages": options.get("maxPages"), "maxDepth": options.get("maxDepth"),
            "include": options.get("include") or [], "exclude": options.get("exclude") or [],
            "render": options.get("render"), "respectRobots": options.get("respectRobots"),
            "pagesDone": row["pages_done"], "pagesFailed": row["pages_failed"],
            "pagesQueued": row["pages_queued"], "error": row["error"],
            "createdAt": iso(row["created_at"]), "completedAt": iso(row["completed_at"])}
    if pages is not None:
        data["pages"] = [{"id": p["id"], "url": p["url"], "title": p["title"],
                          "depth": p["depth"], "statusCode": p["status_code"],
                          "code": p["code"], "error": p["error"]} for p in pages]
    return data


def iso(value):
    if value is None or isinstance(value, str):
        return value
    return value.isoformat(timespec="milliseconds") + "Z"


class Crawler:
    """The crawls of one WebService: started, followed, cancelled, recovered."""

    def __init__(self, service):
        self.service = service
        self._tasks = {}  # crawl id -> asyncio.Task
        # crawl id -> a lock that keeps its row's updates in the order they were made: pages
        # finish together, and on MySQL two updates can run on two database threads at once
        # (the older counts, committed last, would stay).
        self._writing = {}
        self._recovery = None  # the start-up recovery, run once, before any crawl starts

    @property
    def store(self):
        return self.service.stores.web_crawls

    def running(self):
        return list(self._tasks.values())

    async def start(self, url, *, max_pages=20, max_depth=2, include=None, exclude=None,
                    render="static", respect_robots=True):
        """Store a pending crawl and start it; the crawl dict. Bad arguments raise
        (WebError invalid_url, ValueError) before anything is stored."""
        safety.check_url(url)
        start = normalise(url)
        if start is None:
            raise WebError("invalid_url", "Only http:// and https:// URLs can be crawled.")
        if not 1 <= max_pages <= 500 or not 0 <= max_depth <= 5:
            raise ValueError("maxPages must be 1..500 and maxDepth 0..5")
        if render not in ("static", "browser", "auto"):
            raise ValueError("render must be static, browser or auto")
        scope = Scope(start, include, exclude)
        await self.recover()  # so that it cannot take this crawl for one left by a restart
        options = {"maxPages": max_pages, "maxDepth": max_depth, "include": list(include or []),
                   "exclude": list(exclude or []), "render": render,
                   "respectRobots": bool(respect_robots)}
        row = await self.store.create({"url": url, "status": "pending", "options": options,
                                       "pages_queued": 1})
        task = asyncio.get_running_loop().create_task(self._run(row["id"], url, scope, options))
        self._tasks[row["id"]] = task
        task.add_done_callback(lambda _: self._tasks.pop(row["id"], None))
        return crawl_shape(row)

    async def result(self, id):
        row = await self.store.get(id)
        if row is None:
            return None
        return crawl_shape(row, await self.service.stores.web_fetches.of_crawl(id))

    async def list(self, limit=50, offset=0):
        rows = await self.store.list(limit=limit, offset=offset)
        return [crawl_shape(r) for r in rows], await self.store.count()

    async def cancel(self, id):
        """Cancel a crawl that is running; the crawl dict (as it stands), or None."""
        task = self._tasks.get(id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        row = await self.store.get(id)
        return crawl_shape(row) if row is not None else None

    async def recover(self):
        """Once per process: fail the crawls a previous process left pending or running."""
        if self._recovery is None:
            self._recovery = asyncio.ensure_future(self._recover())
        try:
            await asyncio.shield(self._recovery)
        except Exception:
            self._recovery = None  # (the database was away: the next crawl tries again)
            raise

    async def _recover(self):
        ids = await self.store.interrupted(INTERRUPTED)
        if ids:
            logger.info("crawls %s were interrupted by a restart", ", ".join(map(str, ids)))

    async def close(self):
        tasks = self.running()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one crawl -------------------------------------------------------------------------

    async def _run(self, id, url, scope, options):
        progress = {"done": 0, "failed": 0, "queued": 1}
        try:
            await self._update(id, {"status": "running"})
            first_error = await self._walk(id, url, scope, options, progress)
            if progress["done"] == 0 and first_error is not None:
                final = {"status": "failed", "error": first_error}
            else:
                final = {"status": "completed"}
        except asyncio.CancelledError:
            final = {"status": "cancelled", "error": "Cancelled."}
        except Exception as e:
            logger.exception("crawl %d failed", id)
            final = {"status": "failed", "error": "The crawl stopped: %s" % e}
        final.update(pages_done=progress["done"], pages_failed=progress["failed"],
                     pages_queued=0, completed_at=utcnow())
        # Shielded: a cancelled crawl still records that it was cancelled.
        try:
            await asyncio.shield(self._update(id, final))
        finally:
            self._writing.pop(id, None)

    async def _walk(self, id, url, scope, options, progress):
        """Breadth first, depth by depth; the first page's error when it failed."""
        seen = {normalise(url)}
        level, depth, budget = [url], 0, options["maxPages"]
        first_error = None
        limit = asyncio.Semaphore(CONCURRENCY)
        while level and budget > 0:
            level = level[:budget]
            budget -= len(level)
            found = []

            async def visit(page_url):
                async with limit:
                    links, error = await self._page(id, page_url, depth, options, progress)
                if error is not None and page_url == url:
                    return error
                for link in links if depth < options["maxDepth"] else ():
                    key = normalise(link)
                    if key is not None and key not in seen and len(key) <= 2000 \
                            and scope.follows(key):
                        seen.add(key)
                        found.append(key)
                        if len(found) <= budget:
                            progress["queued"] += 1
                return None

            progress["queued"] = len(level)
            errors = await asyncio.gather(*(visit(u) for u in level))
            first_error = first_error or next((e for e in errors if e), None)
            level, depth = found, depth + 1
        return first_error

    async def _page(self, id, url, depth, options, progress):
        """Fetch one page of crawl `id`: (its links, None) or ([], the error)."""
        page, error = None, None
        try:
            page = await self.service.fetch(url, render=options["render"], crawl_id=id,
                                            depth=depth,
                                            respect_robots=options["respectRobots"])
        except WebError as e:
            error = e.message
        progress["done" if page is not None else "failed"] += 1
        progress["queued"] -= 1
        await self._update(id, {"pages_done": progress["done"],
                                "pages_failed": progress["failed"],
                                "pages_queued": max(0, progress["queued"])},
                           last={"url": url, "depth": depth,
                                 "id": page["id"] if page else None,
                                 "title": page["title"] if page else None, "error": error})
        links = [link["url"] if isinstance(link, dict) else link
                 for link in (page or {}).get("links", ())]
        return [link for link in links if isinstance(link, str)], error

    async def _update(self, id, changes, last=None):
        async with self._writing.setdefault(id, asyncio.Lock()):
            row = await self.store.update(id, changes)
        if row is not None:
            crawl = crawl_shape(row)
            if last is not None:
                crawl["lastPage"] = last
            self.service.hub.publish("web:crawl", crawl)
        return row
