"""A real web site on a free port for the browser renderer, and the fixtures of its tests.

Pages built by scripts (one fetches JSON after load), a login form with a session cookie, a
page of controls (a select, a search box, an infinite list), a page that never answers, one
whose script never ends, one that waits while the test crashes its tab, a WebSocket echo, a
download, a service worker, and pages that reach for loopback addresses. `PublicFetcher`
serves this site as the public host `public.test` and sends every other URL through a
StaticFetcher that refuses private addresses, so the refusals tested are the real ones.

Browser tests need Chromium: without one they skip, unless ORCHESTRA_REQUIRE_BROWSER is set.
"""

import asyncio
import dataclasses
import importlib.util
import os
import urllib.parse

import psutil
import pytest
import tornado.escape
import tornado.web
import tornado.websocket

from orchestra.services.web.browser import BrowserPool, find_browser
from orchestra.services.web.fetcher import StaticFetcher
from tests.fakes.website import LocalSite

PUBLIC_HOST = "public.test"

SCRIPT = """<!doctype html><html><head><title>Built by script</title></head><body>
<div id="root"></div>
<script>
document.getElementById("root").innerHTML =
  "<h1>Made in the browser</h1><p id='made'>" + ["Every", "word", "here"].join(" ") + "</p>";
fetch("/data.json").then(r => r.json()).then(data => {
  const p = document.createElement("p");
  p.id = "fetched";
  p.textContent = data.message;
  document.body.append(p);
});
</script></body></html>"""

LOGIN = """<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="/login">
<label>User <input id="user" name="user"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button>
</form>{error}</body></html>"""

CONTROLS = """<!doctype html><html><head><title>Controls</title>
<style>.item { height: 120px; }</style></head><body>
<select id="colour" onchange="document.getElementById('chosen').textContent = this.value">
<option value="red">Red</option><option value="green">Green</option>
<option value="blue">Blue</option></select>
<p id="chosen">none</p>
<select id="sizes" multiple><option>S</option><option>M</option><option>L</option></select>
<input id="search" onkeydown="if (event.key === 'Enter')
  document.getElementById('searched').textContent = 'searched ' + this.value">
<p id="searched"></p>
<a id="next" href="/script">Next page</a>
<div id="list"></div><p id="count"></p>
<script>
const list = document.getElementById("list");
function more(n) {
  for (let i = 0; i < n && list.children.length < 100; i++) {
    const div = document.createElement("div");
    div.className = "item";
    div.textContent = "Item " + (list.children.length + 1);
    list.append(div);
  }
  document.getElementById("count").textContent = list.children.length + " items";
}
more(20);
window.addEventListener("scroll", () => {
  if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 10)
    more(20);
});
</script></body></html>"""

SOCKET = """<!doctype html><html><head><title>Socket</title></head><body><p id="socket"></p>
<script>
const out = document.getElementById("socket");
function done(text) { out.textContent = text; out.dataset.done = "yes"; }
const ws = new WebSocket(%s);
ws.onopen = () => ws.send("ping");
ws.onmessage = event => { done("message " + event.data); ws.close(); };
ws.onclose = event => { if (!out.dataset.done) done("closed " + event.code); };
</script></body></html>"""

WORKER = """<!doctype html><html><head><title>Worker</title></head><body><p id="worker"></p>
<script>
const out = document.getElementById("worker");
function done(text) { out.textContent = text; out.dataset.done = "yes"; }
if (!navigator.serviceWorker) done("no service workers");
else navigator.serviceWorker.register("/sw.js").then(
  () => navigator.serviceWorker.getRegistrations()).then(
  found => done(found.length + " registered"), e => done("refused: " + e));
</script></body></html>"""

REACH = """<!doctype html><html><head><title>Reaching in</title></head><body>
<h1>A public page</h1><img id="img" src="{inside}/secret.png">
<p id="reach"></p>
<script>
const out = document.getElementById("reach");
fetch("{inside}/secret").then(r => r.text()).then(
  t => { out.textContent = "read " + t; out.dataset.done = "yes"; },
  e => { out.textContent = "failed " + e.name; out.dataset.done = "yes"; });
</script></body></html>"""


class Base(tornado.web.RequestHandler):
    @property
    def site(self):
        return self.settings["site"]

    def prepare(self):
        self.site.hits.append(Hit(self.request.method, self.request.path,
                                  dict(self.request.headers)))


@dataclasses.dataclass
class Hit:
    method: str
    path: str
    headers: dict


class PageHandler(Base):
    def get(self, name):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if name == "script":
            self.write(SCRIPT)
        elif name == "controls":
            self.write(CONTROLS)
        elif name == "busy":
            self.write("<!doctype html><title>Busy</title><p>Spinning</p>"
                       "<script>for (;;) {}</script>")
        elif name == "worker":
            self.write(WORKER)
        elif name == "reach":
            self.write(REACH.replace("{inside}", self.site.url))
        elif name == "tall":
            self.write("<!doctype html><title>Tall</title><body style='margin:0'>"
                       "<div style='height:3000px;background:#036'>Tall page</div>")
        elif name == "printable":
            self.write("<!doctype html><title>Printable</title><h1>Printable page</h1>"
                       "<p>Printed to PDF by the browser.</p>")
        elif name == "secret":
            self.write("internal secret")
        elif name == "socket":
            target = self.get_argument("to", self.site.ws_url)
            self.write(SOCKET % tornado.escape.json_encode(target).replace("<", "\\u003c"))
        elif name == "download":
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Disposition", "attachment; filename=data.bin")
            self.write(b"\x00" * 1000)
        elif name == "redirect":
            self.redirect("/script")
        elif name == "loopback":
            self.redirect(self.site.url + "/secret")
        else:
            raise tornado.web.HTTPError(404)


class DataHandler(Base):
    def get(self):
        self.write({"message": "Fetched through the router"})


class LoginHandler(Base):
    def get(self):
        self.write(LOGIN.format(error=""))

    def post(self):
        if (self.get_body_argument("user", "") == "alice"
                and self.get_body_argument("password", "") == "s3cret"):
            self.set_cookie("session", "alice")
            self.set_cookie("theme", "dark", expires_days=30)   # Expires has a comma
            self.redirect("/account", status=303)
        else:
            self.write(LOGIN.format(error='<p id="error">Wrong user or password</p>'))


class AccountHandler(Base):
    def get(self):
        user = self.get_cookie("session")
        if not user:
            self.redirect("/login")
            return
        self.write('<!doctype html><title>Account</title><h1 id="welcome">Welcome, %s</h1>'
                   % tornado.escape.xhtml_escape(user))


class HangHandler(Base):
    """Never answers until the site closes: the browser must give up."""

    async def get(self, token=None):
        if token:
            self.site.crash_requests.put_nowait(token)
        await self.site.release.wait()


class CrashHandler(Base):
    """A page whose parsing waits on a script that never comes, while the test crashes it."""

    def get(self, token):
        self.write("<!doctype html><title>Crash</title><p>About to crash</p>"
                   '<script src="/crash-signal/%s"></script>' % token)


class EchoSocket(tornado.websocket.WebSocketHandler):
    def open(self):
        self.settings["site"].hits.append(Hit("GET", self.request.path,
                                              dict(self.request.headers)))

    def on_message(self, message):
        self.write_message("echo " + message)


class BrowserSite(LocalSite):
    def __init__(self):
        self.hits = []
        self.crash_requests = asyncio.Queue()
        self.serve([
            (r"/data\.json", DataHandler),
            (r"/login", LoginHandler),
            (r"/account", AccountHandler),
            (r"/hang", HangHandler),
            (r"/crash/(\w+)", CrashHandler),
            (r"/crash-signal/(\w+)", HangHandler),
            (r"/ws", EchoSocket),
            (r"/([a-z]+)", PageHandler),
        ])
        self.ws_url = "ws://127.0.0.1:%d/ws" % self.port
        self.public = "http://%s" % PUBLIC_HOST

    def paths(self):
        return [hit.path for hit in self.hits]


class PublicFetcher:
    """The site as the public host `public.test`; any other URL goes through a StaticFetcher
    that refuses private addresses (the browser's router sees only this object's `get`)."""

    def __init__(self, site):
        self.site = site
        self.local = StaticFetcher(allow_private=True, timeout=10)
        self.strict = StaticFetcher(allow_private=False, timeout=10)

    async def get(self, url, **kwargs):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname != PUBLIC_HOST:
            return await self.strict.get(url, **kwargs)
        inside = self.site.url + urllib.parse.urlunsplit(("", "", parts.path or "/",
                                                          parts.query, ""))
        response = await self.local.get(inside, **kwargs)
        response.url = url
        response.final_url = response.final_url.replace(self.site.url, self.site.public, 1)
        return response

    async def close(self):
        await self.local.close()
        await self.strict.close()


def running(process):
    """Alive, not a zombie waiting for its (new) parent to collect its exit status."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def chromium_path():
    """The browser the tests drive; skips (or fails under ORCHESTRA_REQUIRE_BROWSER) when
    there is none."""
    path = find_browser(os.environ.get("ORCHESTRA_CHROMIUM"))
    if path is None:
        reason = "no Chrome or Chromium found (apt-get install -y chromium)"
        if os.environ.get("ORCHESTRA_REQUIRE_BROWSER"):
            pytest.fail("ORCHESTRA_REQUIRE_BROWSER is set but " + reason)
        pytest.skip(reason)
    if importlib.util.find_spec("playwright") is None:
        if os.environ.get("ORCHESTRA_REQUIRE_BROWSER"):
            pytest.fail("ORCHESTRA_REQUIRE_BROWSER is set but Playwright is not installed")
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    return path


@pytest.fixture
def browser_site(io_loop):
    site = BrowserSite()
    yield site
    io_loop.run_sync(site.close)


@pytest.fixture
def make_pool(io_loop, browser_site):
    """make_pool(public=False, **options) -> a BrowserPool on Chromium whose requests go to
    the test site: as 127.0.0.1 (private addresses allowed) or, with public=True, through
    PublicFetcher. Pools and fetchers are closed after the test."""
    executable = chromium_path()
    made = []

    def make(public=False, **options):
        if public:
            fetcher = PublicFetcher(browser_site)
        else:
            fetcher = StaticFetcher(allow_private=True, timeout=10)
            options.setdefault("allow_private", True)
        pool = BrowserPool(executable, fetcher, **options)
        made.append(pool)
        return pool

    yield make

    async def close():
        for pool in made:
            await pool.close()
            await pool.fetcher.close()

    io_loop.run_sync(close, timeout=120)


async def crash_next(pool, site):
    """Crash the tab of the next /crash/<token> page as soon as it asks for its script (it
    then waits for it forever), the way a renderer dies: CDP's Page.crash."""
    token = await site.crash_requests.get()
    for context in pool.browser.contexts:
        for page in context.pages:
            if page.url.endswith("/crash/" + token):
                session = await context.new_cdp_session(page)
                # The crash takes the answer with it: the call is left to fail on its own.
                crashing = asyncio.ensure_future(session.send("Page.crash"))
                crashing.add_done_callback(lambda f: f.cancelled() or f.exception())
                return token
    raise AssertionError("no page of /crash/%s is open" % token)
