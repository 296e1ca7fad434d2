"""BrowserPool: one Chromium driven by Playwright, whose every request goes through our fetcher.

Chromium never connects anywhere by itself: it is started with a host resolver rule that
makes every name (and address) unresolvable, each context routes every request to the
StaticFetcher (routing.py), and WebSockets are opened by us to checked addresses and relayed
(sockets.py). Service workers are blocked and downloads refused.

Contexts are bounded (max_contexts renders at once, a fresh context each, closed after) and
the browser is restarted between renders after pages_per_browser renders, when its process
tree passes max_rss_mb, or after a context would not close; close() stops it and kills
whatever survived.
"""

import asyncio
import concurrent.futures
import glob
import logging
import os
import re
import shutil
import sys
import time

import psutil

from orchestra.services.web import actions as actionslib
from orchestra.services.web import safety
from orchestra.services.web.errors import WebError
from orchestra.services.web.page import Rendered
from orchestra.services.web.routing import SETTLED, RenderState, route_request
from orchestra.services.web.sockets import SocketRelay, page_origin

logger = logging.getLogger(__name__)

INSTALL_HINT = ("Install Chromium or Google Chrome (Debian/Ubuntu: apt-get install chromium; "
                "macOS: install Google Chrome), or run `playwright install chromium`, or give "
                "its path with --browser-path or ORCHESTRA_BROWSER_PATH.")

SYSTEM_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_BROWSERS = ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
                "/Applications/Chromium.app/Contents/MacOS/Chromium")

LAUNCH_ARGS = [
    # Every request is fulfilled by the router: whatever escapes it (a redirect Playwright
    # does not route, a worker, a prefetch) finds no address instead of the network.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    # WebRTC may send UDP to any address, names unresolved: no UDP outside a proxy (none).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage",
]
IDLE_WAIT = 3.0       # how long a loaded page may go on loading (images, fetch) before use
CLOSE_WAIT = 15.0     # how long closing a context or the browser may take before a kill


def find_browser(configured=None):
    """The Chrome/Chromium executable to use: the configured one (None when it is not an
    executable file), else a browser Playwright installed, else the system's; or None."""
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        logger.warning("The configured browser %s is not an executable file", configured)
        return None
    found = _playwright_browser()
    if found:
        return found
    for name in SYSTEM_BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if sys.platform == "darwin":
        for path in MAC_BROWSERS:
            if os.access(path, os.X_OK):
                return path
    return None


def _playwright_browser():
    """Playwright's own Chromium when it downloaded one. Asking Playwright starts its driver
    (a node process), so it is asked only when its browser folder has a Chromium in it."""
    folder = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.join(
        os.path.expanduser("~/Library/Caches" if sys.platform == "darwin" else
                           os.environ.get("XDG_CACHE_HOME") or "~/.cache"), "ms-playwright")
    if sys.platform == "win32":
        folder = os.path.join(os.environ.get("LOCALAPPDATA", ""), "ms-playwright")
    if not glob.glob(os.path.join(folder, "chromium-*")):
        return None

    def ask():  # the sync API refuses to run on a thread with an event loop: its own thread
        from playwright.sync_api import sync_playwright
        with sync_playwright() as playwright:
            return playwright.chromium.executable_path

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            path = pool.submit(ask).result(timeout=60)
    except Exception:  # noqa: BLE001 - any failure means "no Playwright browser"
        logger.warning("Playwright could not say where its Chromium is", exc_info=True)
        return None
    return path if path and os.access(path, os.X_OK) else None


class BrowserPool:
    """One lazily started Chromium; render() opens a fresh context per page, at most
    max_contexts at once."""

    def __init__(self, executable, fetcher, allow_private=False, max_contexts=4,
                 pages_per_browser=100, max_rss_mb=1024, user_agent=None):
        self.executable = executable
        self.fetcher = fetcher
        self.allow_private = allow_private
        self.max_contexts = max_contexts
        self.pages_per_browser = pages_per_browser
        self.max_rss_mb = max_rss_mb
        self.user_agent = user_agent
        self.launches = 0           # how many times a browser was started (recycling shows)
        self._slots = asyncio.Semaphore(max_contexts)
        self._lock = asyncio.Lock()        # starting, recycling and closing the browser
        self._idle = asyncio.Condition()   # notified when a render ends
        self._active = 0
        self._rendered = 0          # renders by the running browser
        self._playwright = None
        self._browser = None
        self._process = None        # psutil.Process of the browser
        self._seen = set()          # its processes seen so far: killed if they outlive it
        self._broken = False        # disconnected, or a context would not close
        self._closed = False

    @property
    def browser(self):
        """The running Playwright Browser, or None."""
        return self._browser

    # -- processes ---------------------------------------------------------------------

    def processes(self):
        """The browser's process tree (the browser first); [] when none runs."""
        process = self._process
        if process is None or not _alive(process):
            return []
        try:
            tree = [process] + process.children(recursive=True)
        except psutil.Error:
            return []
        tree = [p for p in tree if _alive(p)]
        self._seen = {p for p in self._seen if _alive(p)} | set(tree)
        return tree

    def rss_mb(self):
        """The resident memory of the browser's process tree, in MB. Chromium's processes
        share much of their memory, so where the system says (Linux) each process counts
        its share of the shared pages (PSS), which sums to the tree's real footprint; plain
        RSS elsewhere. Reads /proc: call it off the IOLoop."""
        total = 0
        for process in self.processes():
            try:
                if hasattr(psutil.Process, "memory_full_info") and sys.platform == "linux":
                    total += process.memory_full_info().pss
                else:
                    total += process.memory_info().rss
            except psutil.Error:
                pass
        return total / (1024 * 1024)

    # -- rendering ---------------------------------------------------------------------

    async def render(self, url, *, actions=None, screenshot=None, pdf=False, timeout=30.0,
                     step_timeout=10.0):
        """Load `url`, run the actions, and return the page as it then stands. `timeout`
        bounds the loading and, again, the capture at the end; each action has step_timeout.
        WebError browser_unavailable, timeout, render_failed, blocked_address, ..."""
        safety.check_url(url)
        actions = actionslib.ACTIONS_SCHEMA.load(actions or [])
        if screenshot not in (None, "viewport", "full"):
            raise ValueError("screenshot is None, 'viewport' or 'full'")
        async with self._slots:
            browser = await self._acquire()
            try:
                return await self._render(browser, url, actions, screenshot, pdf,
                                          timeout, step_timeout)
            finally:
                async with self._idle:
                    self._active -= 1
                    self._rendered += 1
                    self._idle.notify_all()

    async def _render(self, browser, url, actions, screenshot, pdf, timeout, step_timeout):
        state = RenderState()
        sockets = SocketRelay(self.allow_private, lambda: page_origin(state.page.url))
        try:
            context = await browser.new_context(
                service_workers="block", accept_downloads=False, user_agent=self.user_agent)
        except Exception as e:  # noqa: BLE001 - the browser went away under us
            self._broken = True
            raise WebError("render_failed", "The browser could not open a page: %s"
                           % _first_line(e))
        try:
            context.set_default_timeout(step_timeout * 1000)
            await context.route(re.compile(r".*"),
                                lambda route: route_request(self.fetcher, route, state))
            await context.route_web_socket(re.compile(r".*"), sockets.route)
            state.page = page = await context.new_page()
            page.on("crash", state.crash)
            await self._load(state, url, timeout)
            shots = []
            steps = await actionslib.run_actions(
                page, actions, step_timeout, safety.check_url, shots=shots,
                navigate=lambda target, seconds: self._load(state, target, seconds))
            if state.crashed:
                raise state.crashed
            if state.refused and page.url.startswith("chrome-error:"):
                raise state.refused   # the last navigation was refused: no page to return
            state.refused = None      # a step's refused navigation left the page as it was
            state.stop.clear()
            deadline = time.monotonic() + timeout
            html = await self._wait(state, page.content(), deadline)
            rendered = Rendered(
                url=url, final_url=page.url, html=html, steps=steps, shots=shots,
                status_code=state.main.status_code if state.main else None,
                headers=dict(state.main.headers) if state.main else {})
            if screenshot:
                rendered.screenshot = await self._wait(state, page.screenshot(
                    full_page=screenshot == "full", type="png",
                    timeout=_ms(deadline)), deadline)
            if pdf:
                rendered.pdf = await self._wait(state, page.pdf(print_background=True),
                                                deadline)
            return rendered
        finally:
            sockets.close()
            state.cancel_fetches()
            await self._dispose(context)

    async def _load(self, state, url, timeout):
        """Navigate the main frame to `url` and wait for the page at the end of its redirects
        to be parsed, then (briefly, without failing) for it to finish loading."""
        state.deadline = deadline = time.monotonic() + timeout
        state.refused = None
        if not state.crashed:
            state.stop.clear()
        page = state.page
        try:
            await self._wait(state, page.goto(url, wait_until="commit",
                                              timeout=_ms(deadline)), deadline)
            await self._wait(state, page.wait_for_function(SETTLED, polling=100,
                                                           timeout=_ms(deadline)), deadline)
            for what in ("load", "networkidle"):
                settle = min(deadline, time.monotonic() + IDLE_WAIT)
                try:
                    await self._wait(state, page.wait_for_load_state(
                        what, timeout=_ms(settle)), settle)
                except WebError as e:
                    if e.code != "timeout":
                        raise
        finally:
            state.deadline = None

    async def _wait(self, state, awaitable, deadline):
        """Await a Playwright call until `deadline`; a crash or a refused main document ends
        the wait at once. Its errors come back as WebError."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(state.stop.wait())
        try:
            done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED,
                                         timeout=max(0, deadline - time.monotonic()))
        finally:
            stop.cancel()
        if task in done:
            try:
                return task.result()
            except Exception as e:  # noqa: BLE001 - Playwright's errors, mapped below
                raise state.error or _web_error(e)
        task.cancel()
        task.add_done_callback(_consume)
        raise state.error or WebError("timeout", "The page did not load within the time "
                                      "allowed.")

    async def _dispose(self, context):
        try:
            await asyncio.wait_for(context.close(), CLOSE_WAIT)
        except Exception as e:  # noqa: BLE001 - recycle the browser rather than leak a tab
            logger.warning("A browser context did not close (%s): restarting the browser",
                           _first_line(e) or type(e).__name__)
            self._broken = True

    # -- the browser's life ------------------------------------------------------------

    async def _acquire(self):
        """The running browser, started or restarted as needed; counts the render in."""
        async with self._lock:
            if self._closed:
                raise WebError("browser_unavailable", "The browser has been shut down.")
            if self._browser is not None and await self._due():
                async with self._idle:
                    await self._idle.wait_for(lambda: self._active == 0)
                await self._stop()
            if self._browser is None:
                await self._start()
            self._active += 1
            return self._browser

    async def _due(self):
        if self._broken or not self._browser.is_connected():
            return True
        if self._process is not None and not _alive(self._process):
            return True     # killed: Playwright may not have noticed yet
        if self._rendered >= self.pages_per_browser:
            return True
        rss = await asyncio.get_running_loop().run_in_executor(None, self.rss_mb)
        if rss > self.max_rss_mb:
            logger.info("The browser uses %.0f MB (limit %d): restarting it", rss,
                        self.max_rss_mb)
            return True
        return False

    async def _start(self):
        if not self.executable:
            raise WebError("browser_unavailable", "No Chrome or Chromium was found. "
                           + INSTALL_HINT)
        from playwright.async_api import async_playwright
        try:
            playwright = await async_playwright().start()
        except Exception as e:  # noqa: BLE001 - no driver, no browser
            raise WebError("browser_unavailable", "Playwright's driver did not start (%s)."
                           % _first_line(e))
        try:
            browser = await playwright.chromium.launch(
                executable_path=self.executable, args=LAUNCH_ARGS, headless=True)
            session = await browser.new_browser_cdp_session()
            info = await session.send("SystemInfo.getProcessInfo")
            await session.detach()
        except Exception as e:  # noqa: BLE001 - a browser that does not start is unavailable
            await _quietly(playwright.stop())
            raise WebError("browser_unavailable", "The browser %s did not start (%s). %s"
                           % (self.executable, _first_line(e), INSTALL_HINT))
        pids = [p["id"] for p in info["processInfo"] if p["type"] == "browser"]
        self._playwright, self._browser = playwright, browser
        self._process = psutil.Process(pids[0]) if pids else None
        self._rendered, self._broken = 0, False
        self.launches += 1
        self.processes()
        logger.info("Browser started: %s (pid %s)", self.executable, pids[:1])

    async def _stop(self):
        self.processes()
        left = set(self._seen)
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = self._process = None
        self._seen = set()
        if browser is not None:
            await _quietly(asyncio.wait_for(browser.close(), CLOSE_WAIT))
        if playwright is not None:
            await _quietly(asyncio.wait_for(playwright.stop(), CLOSE_WAIT))
        await asyncio.get_running_loop().run_in_executor(None, _reap, left)

    async def close(self):
        """Stop the browser and Playwright's driver; no browser process is left."""
        async with self._lock:
            self._closed = True
            await self._stop()


def _reap(processes):
    """Kill the browser processes that outlived the browser's close, and wait for them."""
    alive = [p for p in processes if _alive(p)]
    if not alive:
        return
    logger.warning("Killing %d browser processes left after closing", len(alive))
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=CLOSE_WAIT)


def _alive(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _web_error(error):
    text = _first_line(error)
    if type(error).__name__ == "TimeoutError":
        return WebError("timeout", "The page did not load within the time allowed.")
    if "Download is starting" in text:
        return WebError("unsupported_type", "The page is a download, not a document.")
    if "crashed" in text.lower():
        return WebError("render_failed", "The browser tab crashed while rendering the page.")
    return WebError("render_failed", "The browser could not render the page: %s" % text)


def _first_line(error):
    return str(error).strip().split("\n")[0][:300]


def _ms(deadline):
    return max(1.0, (deadline - time.monotonic()) * 1000)


def _consume(task):
    if not task.cancelled():
        task.exception()


async def _quietly(awaitable):
    try:
        await awaitable
    except Exception as e:  # noqa: BLE001 - closing what may already be gone
        logger.debug("Ignored while closing: %s", _first_line(e))
