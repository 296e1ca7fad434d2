"""The Web page (/web): fetch a page through the web service and see what was read.

The page itself is a form and empty panels; static/js/web.js calls the web API (POST
/api/web/fetch, GET /api/web/fetches) and draws the result, the history and "Add to
knowledge base". The server renders what the form needs: the renderers, screenshot kinds
and the knowledge bases to add a page to.
"""

import tornado.web

from orchestra.web.base import BaseHandler

RENDERERS = (("auto", "Auto"), ("static", "Static (no scripts)"), ("browser", "Browser (Chromium)"))
SCREENSHOTS = (("", "None"), ("viewport", "The visible part"), ("full", "The full page"))
MAX_BASES = 500


class WebPage(BaseHandler):
    async def get(self):
        bases = await self.stores.knowledge_bases.list(limit=MAX_BASES)
        self.render_template("web.html", renderers=RENDERERS, screenshots=SCREENSHOTS,
                             bases=sorted(bases, key=lambda b: b.name.lower()),
                             url=self.get_query_argument("url", ""))


routes = [
    tornado.web.url(r"/web", WebPage, name="web"),
]
