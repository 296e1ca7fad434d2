"""A small real web site on a free port: pages to fetch, a 404, a slow page and oversized ones."""

import asyncio

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web

ARTICLE = """<!doctype html>
<html><head><title>  The Orchestra   Guide </title>
<style>body { color: red; }</style>
<script>var secret = "do not keep";</script></head>
<body><nav>Home | About</nav>
<h1>Getting started</h1>
<p>Orchestra runs <b>local</b> models &amp; keeps notes.</p>
<script>console.log("ignored")</script>
<ul><li>One</li><li>Two</li></ul>
</body></html>"""


class PageHandler(tornado.web.RequestHandler):
    def get(self, name):
        site = self.settings["site"]
        site.hits.append(name)
        if name == "article":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.write(ARTICLE)
        elif name == "plain":
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.write("Plain words, caf\u00e9.")
        elif name == "image":
            self.set_header("Content-Type", "image/png")
            self.write(b"\x89PNG\r\n\x1a\n" + bytes(100))
        elif name == "redirect":
            self.redirect("/article")
        else:
            raise tornado.web.HTTPError(404)


class SlowHandler(tornado.web.RequestHandler):
    """Answers only when the test lets it go (or at teardown): a client must time out."""

    async def get(self):
        await self.settings["site"].release.wait()
        self.write("late")


class HugeHandler(tornado.web.RequestHandler):
    """`declared`: Content-Length says it is big. `streamed`: chunked, with no length."""

    async def get(self, how):
        size = self.settings["site"].huge_size
        if how == "declared":
            self.set_header("Content-Length", str(size))
            self.write(b"a" * size)
            return
        for _ in range(size // 1000):
            self.write(b"b" * 1000)
            await self.flush()


class LocalSite:
    """A tornado app of the test's own on a free port of `address` (`url` is its base);
    handlers that wait on `release` are let go at close()."""

    def serve(self, handlers, address="127.0.0.1"):
        self.release = asyncio.Event()
        app = tornado.web.Application(handlers, site=self)
        sock, self.port = tornado.testing.bind_unused_port(address)
        self.server = tornado.httpserver.HTTPServer(app)
        self.server.add_sockets([sock])
        self.host = address
        self.url = "http://%s:%d" % (address, self.port)

    async def close(self):
        self.release.set()
        self.server.stop()
        await self.server.close_all_connections()


class FakeSite(LocalSite):
    def __init__(self, huge_size=50_000):
        self.hits = []
        self.huge_size = huge_size
        self.serve([
            (r"/slow", SlowHandler),
            (r"/huge/(declared|streamed)", HugeHandler),
            (r"/([a-z]+)", PageHandler),
        ])


@pytest.fixture
def fake_site(io_loop):
    site = FakeSite()
    yield site
    io_loop.run_sync(site.close)
