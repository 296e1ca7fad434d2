"""Manners: robots.txt per origin, and a per-host limit on concurrency and request rate.

Robots follows RFC 9309 as Google reads it: a robots.txt that is missing (404, 410 and the
other 4xx but 429) allows everything; one that cannot be had (5xx, 429, a timeout, a network
failure) disallows everything for now, since the site may be struggling; the rules are
cached per origin for an hour (a failure for five minutes, so that a site that comes back
is read again soon). The text is read by urllib.robotparser, which knows groups per
user agent, Allow and Disallow by path prefix and the first matching rule; it does not know
Google's `*` and `$` wildcards nor its longest-match rule, so such lines match literally.
"""

import asyncio
import contextlib
import logging
import time
import urllib.parse
import urllib.robotparser

from orchestra.services.web import safety
from orchestra.services.web.errors import WebError
from orchestra.services.web.fetcher import USER_AGENT

logger = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 500 * 1024   # what Google reads of a robots.txt


class Robots:
    """`await robots.allowed(url)`: whether the site's robots.txt lets us read the URL."""

    def __init__(self, fetcher, user_agent=USER_AGENT, ttl=3600.0, failure_ttl=300.0,
                 timeout=10.0):
        self.fetcher = fetcher
        self.user_agent = user_agent
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.timeout = timeout
        self._cache = {}      # origin -> (expires at, rules)
        self._pending = {}    # origin -> the future of the robots.txt being fetched

    async def allowed(self, url):
        """True when robots.txt allows `url` (WebError invalid_url for a bad URL, and the
        address errors of the fetch, blocked_address, as they are)."""
        parts = safety.check_url(url)
        origin = "%s://%s" % (parts.scheme, parts.netloc.lower())
        rules = await self._rules(origin)
        return rules(url)

    async def _rules(self, origin):
        cached = self._cache.get(origin)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        # One fetch per origin at a time: the pages of a crawl ask together.
        pending = self._pending.get(origin)
        if pending is None:
            pending = asyncio.ensure_future(self._load(origin))
            self._pending[origin] = pending
            pending.add_done_callback(lambda _: self._pending.pop(origin, None))
        return await asyncio.shield(pending)

    async def _load(self, origin):
        rules, ttl = await self._read(origin)
        self._cache[origin] = (time.monotonic() + ttl, rules)
        if len(self._cache) > 10_000:   # a long crawl of many sites: forget the stale ones
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return rules

    async def _read(self, origin):
        """(rules, how long to keep them): rules is a function url -> bool."""
        url = origin + "/robots.txt"
        try:
            response = await self.fetcher.get(url, max_bytes=MAX_ROBOTS_BYTES,
                                              timeout=self.timeout)
        except WebError as e:
            if e.code in ("blocked_address", "invalid_url"):
                raise
            logger.info("robots.txt of %s unreachable (%s): disallowed for now", origin,
                        e.code)
            return _nothing, self.failure_ttl
        status = response.status_code
        if 200 <= status < 300:
            parser = urllib.robotparser.RobotFileParser(url)
            text = response.body.decode("utf-8", "replace").lstrip("\ufeff")
            parser.parse(text.splitlines())
            return (lambda target: parser.can_fetch(self.user_agent, target)), self.ttl
        if 400 <= status < 500 and status != 429:
            return _everything, self.ttl
        logger.info("robots.txt of %s answered %d: disallowed for now", origin, status)
        return _nothing, self.failure_ttl


def _everything(url):
    return True


def _nothing(url):
    return False


class Politeness:
    """`async with politeness.slot(host):` at most `per_host` requests to a host at once,
    and at least `delay` seconds between the starts of two requests to it."""

    def __init__(self, delay=1.0, per_host=2):
        self.delay = delay
        self.per_host = per_host
        self._hosts = {}      # host -> _Host

    @contextlib.asynccontextmanager
    async def slot(self, host):
        host = (host or "").lower()
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) > 1000:
                self._prune()
            state = self._hosts[host] = _Host(self.per_host)
        state.users += 1
        try:
            async with state.semaphore:
                async with state.start:   # starts are spaced one after the other
                    loop = asyncio.get_running_loop()
                    wait = state.next_start - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    state.next_start = loop.time() + self.delay
                yield
        finally:
            state.users -= 1
            loop = asyncio.get_running_loop()
            if not state.users and state.next_start <= loop.time():
                self._hosts.pop(host, None)   # nobody waits and no delay to keep: forget it

    def _prune(self):
        now = asyncio.get_running_loop().time()
        self._hosts = {h: s for h, s in self._hosts.items()
                       if s.users or s.next_start > now}

    def hosts(self):
        """The hosts with a request running, waiting or recently started (tests)."""
        return sorted(self._hosts)


class _Host:
    def __init__(self, per_host):
        self.semaphore = asyncio.Semaphore(per_host)
        self.start = asyncio.Lock()
        self.next_start = 0.0
        self.users = 0
