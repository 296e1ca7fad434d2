"""The web benchmark's local site: a 500 KB article, a script-built page, a 200-page link graph.

    python -m tests.bench.web_site --port 8123

Served by Tornado on 127.0.0.1 (uncompressed, HTTP/1.1, keep-alive), everything generated
once at start from a fixed seed, so every run serves the same bytes:
  /article        a news-style article page of about 500 KB: a head with a large inline style
                  sheet, JSON-LD and inline scripts, a navigation bar, a cookie banner, the
                  article (sections of paragraphs with inline links, lists, tables, code
                  blocks, quotes), a sidebar of related links and a footer;
  /script         a page whose content a script builds: the HTML holds a heading and one
                  paragraph (STATIC_TEXT); /static/app.js (a separate request) adds about 40
                  sections, among them SCRIPT_TEXT;
  /pages/<n>      n = 0..199: a same-site link graph. Page n links to its children 10n+1 ..
                  10n+10 (below 200; relative links), to page 0 (absolute), to two other pages
                  (one with a #fragment) and to a page of another site, so a crawl from
                  /pages/0 reaches all 200 pages by depth 3 and must not leave the site;
  /robots.txt     allows everything to everyone;
  /__hits         JSON {path: GET count} since the last POST /__hits (which empties it).
"""

import argparse
import json
import random

import tornado.ioloop
import tornado.web

PAGES = 200
FANOUT = 10
DEPTH = 3                      # page 199 is a child of 19, a child of 1, a child of 0
ARTICLE_BYTES = 500_000
SEED = 11

ARTICLE_FIRST = "The opening paragraph of the benchmark article says where the river starts."
ARTICLE_LAST = "The closing paragraph of the benchmark article says where the river ends."
BOILERPLATE = "Copyright notice of the benchmark site footer, all rights reserved."
STATIC_TEXT = "This paragraph is part of the HTML the server sends."
SCRIPT_TEXT = "This paragraph was built by the page's script after it loaded."
EXTERNAL = "http://elsewhere.invalid/"

WORDS = (
    "river water valley stone bridge harbour market winter summer village road mill tower "
    "garden field forest north south east west morning evening season harvest grain trade "
    "ship island coast mountain lake rain snow wind light house street square council people "
    "history record letter archive map survey engineer measure flow level channel bank "
    "flood drought crop cattle wool cloth merchant guild school church canal lock weir "
    "ferry station railway line signal clock bell year month week day hour work plan "
    "report study result method sample figure table chapter section note source account"
).split()
GLUE = "the of and to a in is that for was on as with by at from this it an or".split()


class Text:
    """Seeded sentences of plain English-looking words."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def words(self, n):
        out = []
        for i in range(n):
            pool = GLUE if i % 3 == 1 else WORDS
            out.append(self.rng.choice(pool))
        return out

    def sentence(self, low=8, high=22):
        words = self.words(self.rng.randint(low, high))
        return words[0].capitalize() + " " + " ".join(words[1:]) + "."

    def paragraph(self, low=3, high=7):
        return " ".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def title(self, low=2, high=5):
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high))
                        ).capitalize()


# -- /article ------------------------------------------------------------------------------

def _style(text):
    rules = []
    for i in range(700):
        rules.append(".c%d-%s { margin: %dpx %dpx; color: #%06x; font-size: %d%%; }"
                     % (i, text.rng.choice(WORDS), i % 17, i % 23, text.rng.randrange(1 << 24),
                        80 + i % 60))
    return "<style>\n%s\n</style>" % "\n".join(rules)


def _scripts(text):
    blocks = []
    for n in range(6):
        table = ",".join('"%s":%d' % (text.rng.choice(WORDS) + str(i), text.rng.randrange(1000))
                         for i in range(900))
        blocks.append("<script>window.__analytics%d = {%s};\n"
                      "(function () { var t = window.__analytics%d; for (var k in t) "
                      "{ if (t[k] < 0) { console.log(k); } } })();</script>" % (n, table, n))
    return "\n".join(blocks)


def _nav(text):
    links = "".join('<li><a href="/section/%s">%s</a></li>' % (w, w.capitalize())
                    for w in WORDS[:40])
    return ('<header class="site"><a class="logo" href="/">The Benchmark Gazette</a>'
            '<nav aria-label="Main"><ul>%s</ul></nav></header>'
            '<div class="cookie-banner" role="dialog"><p>We use cookies to measure visits. '
            '<button>Accept</button> <button>Refuse</button></p></div>' % links)


def _aside(text):
    items = "".join('<li><a href="/related/%d">%s</a></li>' % (i, text.title(4, 8))
                    for i in range(30))
    ads = "".join('<div class="ad" data-slot="%d"><a href="/ad/%d">Advertisement</a></div>'
                  % (i, i) for i in range(6))
    return '<aside class="sidebar"><h2>Related</h2><ul>%s</ul>%s</aside>' % (items, ads)


def _footer():
    links = "".join('<a href="/about/%s">%s</a> ' % (w, w) for w in WORDS[40:60])
    return '<footer class="site"><p>%s</p><p>%s</p></footer>' % (links, BOILERPLATE)


def _section(text, n):
    parts = ['<h2 id="s%d">%s</h2>' % (n, text.title(3, 6))]
    for _ in range(text.rng.randint(3, 6)):
        p = text.paragraph()
        if text.rng.random() < 0.5:
            word = text.rng.choice(WORDS)
            p = p.replace(" %s " % word, ' <a href="/topic/%s">%s</a> ' % (word, word), 1)
        if text.rng.random() < 0.3:
            word = text.rng.choice(WORDS)
            p = p.replace(" %s " % word, " <strong>%s</strong> " % word, 1)
        parts.append("<p>%s</p>" % p)
    kind = n % 5
    if kind == 1:
        items = "".join("<li>%s</li>" % text.sentence(4, 10) for _ in range(text.rng.randint(3, 6)))
        parts.append("<ul>%s</ul>" % items)
    elif kind == 2:
        rows = "".join("<tr><td>%s</td><td>%d</td><td>%d</td></tr>"
                       % (text.title(1, 2), text.rng.randrange(1000), text.rng.randrange(100))
                       for _ in range(6))
        parts.append("<table><thead><tr><th>Place</th><th>Flow</th><th>Level</th></tr>"
                     "</thead><tbody>%s</tbody></table>" % rows)
    elif kind == 3:
        code = "\n".join("level_%d = measure(%r, depth=%d)" % (i, text.rng.choice(WORDS), i)
                         for i in range(6))
        parts.append("<pre><code>%s</code></pre>" % code)
    elif kind == 4:
        parts.append("<blockquote><p>%s</p></blockquote>" % text.sentence())
    return "<section>%s</section>" % "\n".join(parts)


def build_article(size=ARTICLE_BYTES, seed=SEED):
    """The article page, `size` bytes or a little more (UTF-8; the text is ASCII)."""
    text = Text(seed)
    head = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Where the river runs: a long report | The Benchmark Gazette</title>"
            '<meta name="description" content="A long report on the river, for the benchmark.">'
            '<meta name="author" content="Ada Benchmark">'
            '<meta property="og:title" content="Where the river runs: a long report">'
            '<link rel="canonical" href="/article">'
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": '
            '"NewsArticle", "headline": "Where the river runs", "datePublished": '
            '"2024-03-05", "author": {"@type": "Person", "name": "Ada Benchmark"}}</script>'
            + _style(text) + _scripts(text) + "</head><body>" + _nav(text)
            + '<main><article><h1>Where the river runs: a long report</h1>'
            '<p class="byline">By Ada Benchmark, 5 March 2024</p>'
            "<p>%s %s</p>" % (ARTICLE_FIRST, text.paragraph()))
    tail = ("<p>%s</p></article>" % ARTICLE_LAST + _aside(text) + "</main>" + _footer()
            + "</body></html>")
    sections, used, n = [], len(head) + len(tail), 0
    while used < size:
        sections.append(_section(text, n))
        used += len(sections[-1]) + 1
        n += 1
    return (head + "\n".join(sections) + tail).encode()


# -- /script -------------------------------------------------------------------------------

SCRIPT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Script-built page</title></head>
<body><header><h1>Script-built page</h1><p>%s</p></header>
<main id="app"></main>
<noscript>This page needs JavaScript.</noscript>
<script src="/static/app.js"></script>
</body></html>""" % STATIC_TEXT


def build_app_js(seed=SEED + 1):
    """A script that builds about 40 sections in #app from its own data (SCRIPT_TEXT first)."""
    text = Text(seed)
    sections = [{"h": "Built by the script", "p": [SCRIPT_TEXT, text.paragraph()]}]
    sections += [{"h": text.title(3, 6), "p": [text.paragraph() for _ in range(3)]}
                 for _ in range(40)]
    return ("(function () {\n  var data = %s;\n"
            "  var app = document.getElementById('app');\n"
            "  data.forEach(function (s) {\n"
            "    var section = document.createElement('section');\n"
            "    var h = document.createElement('h2'); h.textContent = s.h;\n"
            "    section.appendChild(h);\n"
            "    s.p.forEach(function (t) {\n"
            "      var p = document.createElement('p'); p.textContent = t;\n"
            "      section.appendChild(p);\n"
            "    });\n"
            "    app.appendChild(section);\n"
            "  });\n"
            "})();\n" % json.dumps(sections)).encode()


# -- /pages/<n> ----------------------------------------------------------------------------

def children(n):
    return [c for c in range(FANOUT * n + 1, FANOUT * n + FANOUT + 1) if c < PAGES]


def build_graph_page(n, origin, seed=SEED + 2):
    """Page n of the link graph; `origin` (scheme://host:port) makes one link absolute."""
    text = Text(seed * 1000 + n)
    others = [text.rng.randrange(PAGES) for _ in range(2)]
    child_links = "".join('<li><a href="%d">%s</a></li>' % (c, text.title(2, 4))
                          for c in children(n))
    body = "\n".join("<p>%s</p>" % text.paragraph() for _ in range(8))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Page %d of the link graph</title></head><body>"
            '<nav><a href="%s/pages/0">Home</a> <a href="%s">Another site</a></nav>'
            "<main><article><h1>Page %d of the link graph</h1>%s"
            "<h2>Further pages</h2><ul>%s</ul>"
            '<p>See also <a href="/pages/%d">page %d</a> and '
            '<a href="/pages/%d#part">part of page %d</a>.</p>'
            "</article></main><footer><p>%s</p></footer></body></html>"
            % (n, origin, EXTERNAL, n, body, child_links, others[0], others[0], others[1],
               others[1], BOILERPLATE)).encode()


def graph_paths():
    return ["/pages/%d" % n for n in range(PAGES)]


# -- the application -----------------------------------------------------------------------

class CountingHandler(tornado.web.RequestHandler):
    def prepare(self):
        if self.request.method == "GET":
            hits = self.settings["hits"]
            hits[self.request.path] = hits.get(self.request.path, 0) + 1


class ArticleHandler(CountingHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(self.settings["article"])


class ScriptPageHandler(CountingHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(SCRIPT_PAGE)


class AppScriptHandler(CountingHandler):
    def get(self):
        self.set_header("Content-Type", "application/javascript; charset=utf-8")
        self.write(self.settings["app_js"])


class GraphPageHandler(CountingHandler):
    def get(self, n):
        n = int(n)
        if n >= PAGES:
            raise tornado.web.HTTPError(404)
        origin = "%s://%s" % (self.request.protocol, self.request.host)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(build_graph_page(n, origin))


class RobotsHandler(CountingHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("User-agent: *\nAllow: /\n")


class HitsHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(self.settings["hits"])

    def post(self):
        self.settings["hits"].clear()
        self.write({})


def make_app():
    return tornado.web.Application([
        (r"/article", ArticleHandler),
        (r"/script", ScriptPageHandler),
        (r"/static/app\.js", AppScriptHandler),
        (r"/pages/([0-9]+)", GraphPageHandler),
        (r"/robots\.txt", RobotsHandler),
        (r"/__hits", HitsHandler),
    ], article=build_article(), app_js=build_app_js(), hits={})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    make_app().listen(args.port, address="127.0.0.1")
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
