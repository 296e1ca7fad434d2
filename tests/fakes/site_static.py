"""A real web site on a free port for the static fetcher: articles, redirects (also to
loopback and metadata addresses), slow, dripping and huge pages, a PDF, an image, walls and
challenge pages, and a robots.txt the test chooses."""

import asyncio
import json
import os

import pytest
import tornado.iostream
import tornado.web

from tests.fakes.website import LocalSite

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures")

ARTICLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Tending a Sourdough Starter</title>
<meta name="author" content="Ada Baker">
<meta name="description" content="How to keep a sourdough starter alive.">
<meta property="article:published_time" content="2024-03-05">
<link rel="canonical" href="/articles/sourdough">
<script>window.tracking = "do not keep";</script>
</head><body>
<header><nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/shop">Shop</a>
</nav></header>
<main><article>
<h1>Tending a Sourdough Starter</h1>
<p>A sourdough starter is a living culture of wild yeast and lactic acid bacteria. Fed
regularly with flour and water, it will leaven bread for years. This guide explains
feeding, storing and reviving a starter, with the ratios bakers rely on.</p>
<h2>Feeding schedule</h2>
<p>Feed the starter once a day when it lives on the counter, and once a week when it lives
in the refrigerator. Discard all but fifty grams before each feeding, as described in
<a href="/guides/discard#why">the discard guide</a>.</p>
<ul><li>Fifty grams of starter</li><li>Fifty grams of flour</li>
<li>Fifty grams of water</li></ul>
<h2>Ratios compared</h2>
<table><tr><th>Ratio</th><th>Peak after</th></tr>
<tr><td>1:1:1</td><td>4 hours</td></tr><tr><td>1:5:5</td><td>10 hours</td></tr></table>
<h2>Checking the temperature</h2>
<p>A small script helps log the temperature of the kitchen while the starter rises:</p>
<pre><code class="language-python">def log(reading):
    print("starter at", reading, "degrees")</code></pre>
<p>Read more in <a href="https://example.org/baking">the baking handbook</a> and in
<a href="/guides/discard">the discard guide</a> again.</p>
</article></main>
<footer><p>Copyright 2024 Example Bakery. All rights reserved.</p>
<a href="/privacy">Privacy</a></footer>
</body></html>"""

APP_SHELL = """<!doctype html><html><head><title>App</title>
<script src="/static/app.js" defer></script></head>
<body><noscript>You need to enable JavaScript to run this app.</noscript>
<div id="root"></div></body></html>"""

CHALLENGES = {
    # name: (status, headers, html)
    "cloudflare": (503, {"Server": "cloudflare", "cf-mitigated": "challenge"},
                   "<html><head><title>Just a moment...</title></head><body>"
                   "<div id='challenge-running'>Checking if the site connection is secure"
                   "</div><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'>"
                   "</script></body></html>"),
    "attention": (403, {"Server": "cloudflare"},
                  "<html><head><title>Attention Required! | Cloudflare</title></head>"
                  "<body><h1>Sorry, you have been blocked</h1></body></html>"),
    "recaptcha": (200, {}, "<html><head><title>Security check</title>"
                  "<script src='https://www.google.com/recaptcha/api.js'></script></head>"
                  "<body><form><div class='g-recaptcha' data-sitekey='x'></div></form>"
                  "</body></html>"),
    "hcaptcha": (200, {}, "<html><head><title>One more step</title></head><body>"
                 "<div class='h-captcha' data-sitekey='x'></div>"
                 "<script src='https://hcaptcha.com/1/api.js'></script></body></html>"),
    "turnstile": (200, {}, "<html><head><title>Verifying</title></head><body>"
                  "<div class='cf-turnstile' data-sitekey='x'></div><script "
                  "src='https://challenges.cloudflare.com/turnstile/v0/api.js'></script>"
                  "</body></html>"),
    "human": (200, {}, "<html><head><title>Please wait</title></head><body><p>Please verify "
              "you are a human to continue.</p></body></html>"),
    "datadome": (403, {"X-DataDome": "protected", "Set-Cookie": "datadome=abc; Path=/"},
                 "<html><body><script src='https://ct.captcha-delivery.com/c.js'></script>"
                 "</body></html>"),
    "perimeterx": (403, {}, "<html><head><title>Access to this page has been denied"
                   "</title></head><body><div id='px-captcha'></div><script>"
                   "window._pxAppId='PX123';</script></body></html>"),
    "wall403": (403, {}, "<html><head><title>403 Forbidden</title></head><body>"
                "<h1>Access denied</h1><p>You do not have permission.</p></body></html>"),
    "wall429": (429, {"Retry-After": "120"}, "<html><body><h1>Too Many Requests</h1>"
                "</body></html>"),
}


class Base(tornado.web.RequestHandler):
    @property
    def site(self):
        return self.settings["site"]

    def prepare(self):
        self.site.hits.append(self.request.path)


class PageHandler(Base):
    def get(self, name):
        if name == "article":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.write(ARTICLE)
        elif name == "app":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.write(APP_SHELL)
        elif name == "plain":
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.write("Plain words, caf\u00e9.")
        elif name == "latin":
            self.set_header("Content-Type", "text/plain; charset=iso-8859-1")
            self.write("caf\u00e9".encode("iso-8859-1"))
        elif name == "markdown":
            self.set_header("Content-Type", "text/markdown")
            self.write("# Notes\n\n- one\n- two\n")
        elif name == "pdf":
            self.set_header("Content-Type", "application/pdf")
            with open(os.path.join(FIXTURES, "documents", "guide.pdf"), "rb") as f:
                self.write(f.read())
        elif name == "image":
            self.set_header("Content-Type", "image/png")
            self.write(b"\x89PNG\r\n\x1a\n" + bytes(100))
        elif name == "empty":
            self.set_header("Content-Type", "text/html")
        else:
            raise tornado.web.HTTPError(404)


class StatusHandler(Base):
    def get(self, code):
        self.set_status(int(code))
        self.set_header("Content-Type", "text/html")
        self.write("<html><body><h1>Status %s</h1><p>Nothing here.</p></body></html>" % code)


class ChallengeHandler(Base):
    def get(self, name):
        status, headers, html = CHALLENGES[name]
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        for key, value in headers.items():
            self.set_header(key, value)
        self.write(html)


class RedirectHandler(Base):
    """/redirect?to=URL&status=302 (any method); /chain/N goes N hops to /article."""

    def get(self):
        self.set_status(int(self.get_argument("status", "302")))
        self.set_header("Location", self.get_argument("to"))

    post = put = get


class ChainHandler(Base):
    def get(self, n):
        n = int(n)
        self.redirect("/article" if n <= 0 else "/chain/%d" % (n - 1))


class EchoHandler(Base):
    """The request as JSON: method, headers, body."""

    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"method": self.request.method,
                               "headers": dict(self.request.headers),
                               "body": self.request.body.decode("utf-8", "replace"),
                               "host": self.request.host}))

    post = put = delete = head = get


class SlowHandler(Base):
    """Answers only when the test lets it go (or at teardown): a client must time out."""

    async def get(self):
        await self.site.release.wait()
        self.write("late")


class DripHandler(Base):
    """Headers at once, then one byte every 20 ms: each read is quick, the whole is not."""

    async def get(self):
        self.set_header("Content-Type", "text/html")
        while not self.site.release.is_set():
            self.write(b"a")
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return
            await asyncio.sleep(0.02)


class HugeHandler(Base):
    """`declared`: Content-Length says it is big. `streamed`: chunked, with no length."""

    async def get(self, how):
        size = self.site.huge_size
        self.set_header("Content-Type", "text/html")
        if how == "declared":
            self.set_header("Content-Length", str(size))
            self.write(b"a" * size)
            return
        for _ in range(size // 1000):
            self.write(b"b" * 1000)
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return


class RobotsHandler(Base):
    """robots.txt as `site.robots` says; moved elsewhere or never answered when asked."""

    async def get(self):
        if self.site.robots_wait:
            await self.site.release.wait()
            return
        if self.site.robots_redirect and self.request.path == "/robots.txt":
            self.redirect(self.site.robots_redirect)
            return
        status, text = self.site.robots
        self.set_status(status)
        self.set_header("Content-Type", "text/plain")
        self.write(text)


class StaticSite(LocalSite):
    """The site on 127.0.0.1:<free port>; `url` is its base. `robots` = (status, text)."""

    def __init__(self, huge_size=200_000, address="127.0.0.1"):
        self.hits = []
        self.huge_size = huge_size
        self.robots = (404, "")
        self.robots_redirect = None     # a path /robots.txt redirects to
        self.robots_wait = False        # True: robots.txt never answers
        self.serve([
            (r"/robots\.txt|/robots-moved", RobotsHandler),
            (r"/slow", SlowHandler),
            (r"/drip", DripHandler),
            (r"/huge/(declared|streamed)", HugeHandler),
            (r"/status/(\d{3})", StatusHandler),
            (r"/challenge/(\w+)", ChallengeHandler),
            (r"/redirect", RedirectHandler),
            (r"/chain/(\d+)", ChainHandler),
            (r"/echo", EchoHandler),
            (r"/([a-z]+)", PageHandler),
        ], address)


@pytest.fixture
def static_site(io_loop):
    site = StaticSite()
    yield site
    io_loop.run_sync(site.close)
