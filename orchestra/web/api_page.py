"""The API's documentation page: Swagger UI (vendored) rendering /api/openapi.json."""

import tornado.web

from orchestra.web.base import BaseHandler


class ApiDocsPage(BaseHandler):
    """Lists every JSON API operation; "Try it out" sends requests with the page's session."""

    def get(self):
        self.render_template("api_docs.html")


routes = [
    tornado.web.url(r"/api/docs", ApiDocsPage, name="api_docs"),
]
