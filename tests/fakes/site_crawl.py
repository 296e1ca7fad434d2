"""A small real web site to crawl and read, on a free port of 127.0.0.1.

    /               home: links to /a, /b, /private/secret, /a#part (a fragment of /a),
                    http://localhost:<port>/elsewhere (another host), /logo.png, mailto:
    /a, /b          sections: /a -> /a/1, /a/2, / ; /b -> /b/1, /missing
    /a/1 ... /b/1   leaves: each links to /deep/<name>
    /deep/<name>    depth 3
    /private/...    disallowed by /robots.txt
    /app            built by a script: an empty root, a <noscript> shell
    /challenge      a Cloudflare-style "Just a moment..." 503 page
    /login          a form whose submission (POST /login) shows "Welcome, <name>"
    /slow           answers when the test releases it (or at teardown)
    /missing        404

Every page has a few sentences, so extraction keeps its text; `hits` lists the paths read
(robots.txt included) in order.
"""

import html

import pytest
import tornado.web

from tests.fakes.website import LocalSite

ROBOTS = "User-agent: *\nDisallow: /private/\n"

TEXT = ("Orchestra reads this page to test its crawler. The sentences here are long enough "
        "for an extractor to keep them as the main content of the page, with a heading above "
        "them and a list of links below. ")

LINKS = {
    "/": ["/a", "/b", "/private/secret", "/a#part", "{other}/elsewhere", "/logo.png",
          "mailto:someone@example.org"],
    "/a": ["/a/1", "/a/2", "/"],
    "/b": ["/b/1", "/missing"],
    "/a/1": ["/deep/a1"], "/a/2": ["/deep/a2"], "/b/1": ["/deep/b1"],
}

APP = """<!doctype html><html><head><title>Script app</title></head><body>
<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div>
<script>
document.getElementById("root").innerHTML = "<h1>Built by script</h1><p>" +
  "This text exists only once the script has run in a browser. ".repeat(8) + "</p>";
document.title = "Script app ready";
</script></body></html>"""

CHALLENGE = """<!doctype html><html><head><title>Just a moment...</title></head><body>
<div id="challenge-running">Checking if the site connection is secure</div>
<p>Enable JavaScript and cookies to continue. Verify you are human.</p>
<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1"></script>
</body></html>"""

LOGIN = """<!doctype html><html><head><title>Log in</title></head><body>
<h1>Members only</h1><p>%s</p>
<form method="post" action="/login"><label>Name <input name="name" id="name"></label>
<button type="submit" id="go">Log in</button></form></body></html>""" % TEXT


def page(title, path, links, other):
    items = "".join('<li><a href="%s">%s</a></li>' % (html.escape(h.format(other=other)),
                                                        html.escape(h))
                    for h in links)
    return ("<!doctype html><html><head><title>%s</title></head><body><main><h1>%s</h1>"
            "<p>%s</p><p>%s</p><ul>%s</ul></main></body></html>"
            % (html.escape(title), html.escape(title), TEXT, TEXT, items))


class SiteHandler(tornado.web.RequestHandler):
    def get(self, path):
        site = self.settings["site"]
        site.hits.append(path)
        if path == "/robots.txt":
            self.set_header("Content-Type", "text/plain")
            self.write(ROBOTS)
        elif path == "/app":
            self.write(APP)
        elif path == "/challenge":
            self.set_status(503)
            self.set_header("Server", "cloudflare")
            self.set_header("cf-mitigated", "challenge")
            self.write(CHALLENGE)
        elif path == "/login":
            self.write(LOGIN)
        elif path in LINKS or path.startswith(("/deep/", "/private/")):
            title = "Page " + path if path != "/" else "Home"
            self.write(page(title, path, LINKS.get(path, []), site.other))
        elif path == "/logo.png":
            self.set_header("Content-Type", "image/png")
            self.write(b"\x89PNG\r\n\x1a\n" + bytes(64))
        else:
            raise tornado.web.HTTPError(404)

    def post(self, path):
        if path != "/login":
            raise tornado.web.HTTPError(405)
        name = self.get_body_argument("name", "")
        self.write("<!doctype html><html><head><title>Welcome</title></head><body><main>"
                   "<h1>Welcome, %s</h1><p>%s</p></main></body></html>"
                   % (html.escape(name), TEXT))


class SlowHandler(tornado.web.RequestHandler):
    async def get(self):
        site = self.settings["site"]
        site.hits.append("/slow")
        await site.release.wait()
        self.write(page("Slow", "/slow", [], site.other))


class CrawlSite(LocalSite):
    def __init__(self):
        self.hits = []
        self.serve([(r"/slow", SlowHandler), (r"(/.*)", SiteHandler)])
        self.other = "http://localhost:%d" % self.port  # the same server, another host

    def pages(self):
        """The paths read, robots.txt left out."""
        return [h for h in self.hits if h != "/robots.txt"]


@pytest.fixture
def crawl_site(io_loop):
    site = CrawlSite()
    yield site
    io_loop.run_sync(site.close)
