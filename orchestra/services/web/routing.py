"""How a rendering page's requests reach the network: through the fetcher, never by Chromium.

Each context routes every request here; the StaticFetcher makes it (checking the address it
connects to, see safety.py) and the request is fulfilled with what it read. Chromium itself
cannot resolve any name (browser.LAUNCH_ARGS), so a request that escaped the router would
fail rather than connect. Playwright does not route the request that a fulfilled redirect
leads to, so no redirect reaches Chromium: a subresource's redirects are followed by the
fetcher, hop by hop, and a navigation's is answered with a tiny page that moves the frame on
with location.replace(), so that the next hop is a navigation of its own, routed and checked
like the first.
"""

import asyncio
import json
import logging
import re
import time
import urllib.parse

from orchestra.services.web import safety
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

# Request headers Chromium sends that the fetcher sets itself (requests decodes gzip and
# deflate only, so it offers those) or that belong to Chromium's own connection.
DROP_REQUEST = {"accept-encoding", "connection", "content-length", "host", "keep-alive",
                "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
# Response headers that describe the body as it came over the wire, not as fulfilled.
DROP_RESPONSE = {"connection", "content-encoding", "content-length", "keep-alive",
                 "transfer-encoding"}
REDIRECTS = (301, 302, 303, 307, 308)
NEXT_COOKIE = re.compile(r",(?=\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=)")
STUB = ('<!doctype html><meta name="orchestra-redirect"><title>Redirecting</title>'
        '<script>location.replace(%s)</script>')
# The main frame holds a page that is not a redirect stub and is parsed (DOMContentLoaded).
SETTLED = ("() => document.readyState !== 'loading' && "
           "!document.querySelector('meta[name=orchestra-redirect]')")


class RenderState:
    """What the router and the page's events learnt during one render."""

    def __init__(self):
        self.page = None
        self.main = None       # RawResponse of the main frame's document
        self.refused = None    # WebError of the main frame's last refused navigation
        self.crashed = None    # WebError render_failed once the tab crashed
        self.stop = asyncio.Event()  # set on either: waits on the page give up at once
        self.deadline = None   # while loading: requests get no more time than the load
        self.fetches = set()   # requests in flight, cancelled when the render ends

    @property
    def error(self):
        return self.crashed or self.refused

    def refuse(self, error):
        self.refused = error
        self.stop.set()

    def crash(self, _page=None):
        self.crashed = WebError("render_failed", "The browser tab crashed while rendering "
                                "the page.")
        self.stop.set()

    def cancel_fetches(self):
        """A page that hung leaves its requests waiting: free the fetcher's workers."""
        for fetch in self.fetches:
            fetch.cancel()
        self.fetches = set()


async def route_request(fetcher, route, state):
    """Fulfil one request of the page with the fetcher's response, or abort it."""
    request = route.request
    main = navigation = False
    fetch = None
    try:
        navigation = request.is_navigation_request()
        main = (navigation and state.page is not None
                and request.frame == state.page.main_frame)
        headers = {k: v for k, v in (await request.all_headers()).items()
                   if k.lower() not in DROP_REQUEST and not k.startswith(":")}
        timeout = None
        if state.deadline is not None and state.deadline > time.monotonic():
            timeout = state.deadline - time.monotonic()
        fetch = asyncio.ensure_future(fetcher.get(
            request.url, method=request.method, headers=headers,
            body=request.post_data_buffer, follow_redirects=not navigation, timeout=timeout))
        state.fetches.add(fetch)
        raw = await fetch
        if navigation and raw.status_code in REDIRECTS and raw.headers.get("location"):
            target = urllib.parse.urljoin(request.url, raw.headers["location"].strip())
            safety.check_url(target)
            await route.fulfill(status=200, headers=_stub_headers(raw.headers),
                                body=STUB % json.dumps(target).replace("<", "\\u003c"))
            return
        if main:
            state.main = raw
        headers = {k: v for k, v in raw.headers.items() if k not in DROP_RESPONSE}
        if "set-cookie" in headers:
            headers["set-cookie"] = cookie_lines(headers["set-cookie"])
        await route.fulfill(status=raw.status_code, body=raw.body, headers=headers)
    except WebError as e:
        if main:
            state.refuse(e)
        logger.info("Browser request refused: %s %s (%s)", request.method, request.url,
                    e.code)
        # An aborted navigation leaves the page as it was (no error page committed).
        await _quietly(route.abort("aborted" if navigation else "blockedbyclient"))
    except asyncio.CancelledError:
        if fetch is None or not fetch.cancelled():
            raise
        await _quietly(route.abort("aborted"))   # the render is over
    except Exception as e:  # noqa: BLE001 - the page or context closed meanwhile
        logger.debug("Browser request %s not answered: %s", request.url, e)
        await _quietly(route.abort("failed"))
    finally:
        state.fetches.discard(fetch)


def _stub_headers(headers):
    """The redirect stub keeps the cookies the redirect set (a login's session, say)."""
    kept = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
    if "set-cookie" in headers:
        kept["set-cookie"] = cookie_lines(headers["set-cookie"])
    return kept


def cookie_lines(value):
    """Set-Cookie headers one a line, as Playwright's fulfil takes them. The fetcher's
    headers join repeated ones with ", " (as HTTP does other headers); a comma followed by
    a cookie's `name=` starts the next one (an Expires date's comma is followed by a day)."""
    if "\n" in value:
        return value
    return "\n".join(part.strip() for part in NEXT_COOKIE.split(value) if part.strip())


async def _quietly(awaitable):
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - the page or context may be gone already
        pass
