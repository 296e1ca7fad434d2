"""The web service's JSON API: fetch a page, the history of fetches, the files fetches made
(screenshots, PDFs; to the logged-in user only), and crawl jobs.

Invalid input answers 400 `{error, fields}` and changes nothing; a page that cannot be read
answers 400 `{error, code}` (the WebError's code: blocked_address, robots_disallowed, ...),
and that attempt is in the history like every other.
"""

import logging

import tornado.ioloop
import tornado.web
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

from orchestra.services.web import actions as actionlib
from orchestra.services.web import files
from orchestra.services.web.crawl import compile_patterns
from orchestra.services.web.errors import WebError
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody

logger = logging.getLogger(__name__)

RENDERS = ("static", "browser", "auto")
MAX_BODY = 200_000
MAX_AGE = 365 * 24 * 3600
MAX_PATTERNS = 20
MAX_PAGE = 200


class Strict(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def _strip_url(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            data = dict(data, url=data["url"].strip())
        return data


def url_field():
    return fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                      validate=validate.Length(max=2000))


def render_field(default):
    return fields.String(load_default=default, validate=validate.OneOf(RENDERS))


def robots_field():
    return fields.Boolean(data_key="respectRobots", load_default=True)


class Screenshot(fields.Field):
    """"viewport", "full", true (= "full"), false or null (none)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True:
            return "full"
        if value is False or value is None:
            return None
        if value in ("viewport", "full"):
            return value
        raise ValidationError('Must be "viewport", "full", true or false.')


class FetchInputSchema(Strict):
    url = url_field()
    render = render_field("auto")
    actions = fields.List(fields.Raw(), load_default=None, allow_none=True)
    screenshot = Screenshot(load_default=None, allow_none=True)
    pdf = fields.Boolean(load_default=False)
    max_age_seconds = fields.Integer(data_key="maxAgeSeconds", load_default=0, strict=True,
                                     validate=validate.Range(0, MAX_AGE))
    respect_robots = robots_field()

    @post_load
    def _actions(self, data, **kwargs):
        if data["actions"]:
            try:  # checked here; the browser takes them as written (camelCase)
                actionlib.ACTIONS_SCHEMA.load(data["actions"])
            except ValidationError as e:
                raise ValidationError(e.messages, "actions")
        wants = [name for name in ("actions", "screenshot", "pdf") if data[name]]
        if wants and data["render"] == "static":
            raise ValidationError("The static renderer makes no %s: use render \"browser\" "
                                  "or \"auto\"." % " nor ".join(wants), "render")
        return data


class Patterns(fields.List):
    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.Length(1, 500)), load_default=None,
                         allow_none=True, validate=validate.Length(max=MAX_PATTERNS), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        patterns = super()._deserialize(value, attr, data, **kwargs)
        try:
            compile_patterns(patterns)
        except ValueError as e:
            raise ValidationError(str(e))
        return patterns


class CrawlInputSchema(Strict):
    url = url_field()
    max_pages = fields.Integer(data_key="maxPages", load_default=20, strict=True,
                               validate=validate.Range(1, 500))
    max_depth = fields.Integer(data_key="maxDepth", load_default=2, strict=True,
                               validate=validate.Range(0, 5))
    include = Patterns()
    exclude = Patterns()
    render = render_field("static")
    respect_robots = robots_field()


FETCH_INPUT = FetchInputSchema()
CRAWL_INPUT = CrawlInputSchema()


class WebApiHandler(LimitedBody, ApiHandler):
    """A WebError is the page's failure, not the server's: 400 `{error, code}`."""

    body_limit = MAX_BODY

    @property
    def web(self):
        return self.services["web"]

    def send_error(self, status_code=500, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, WebError):
            self.clear()
            self.set_status(400)
            self.write_json(exc.as_dict(), status=400)
            return
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb):
        if isinstance(value, WebError):
            logger.info("%s %s: %s (%s)", self.request.method, self.request.path,
                        value.message, value.code)
        else:
            super().log_exception(typ, value, tb)

    def page_arguments(self):
        return (self.int_argument("limit", 50, 1, MAX_PAGE),
                self.int_argument("offset", 0, 0, 10**9))


class FetchHandler(WebApiHandler):
    """POST {url, render?, actions?, screenshot?, pdf?, maxAgeSeconds?, respectRobots?}."""

    async def post(self):
        data = self.load(FETCH_INPUT)
        result = await self.web.fetch(
            data["url"], render=data["render"], actions=data["actions"],
            screenshot=data["screenshot"], pdf=data["pdf"],
            max_age_seconds=data["max_age_seconds"], respect_robots=data["respect_robots"])
        self.write_json(result)


class FetchesHandler(WebApiHandler):
    """GET ?limit&offset: the history of fetches, newest first, without their text."""

    async def get(self):
        limit, offset = self.page_arguments()
        items, total = await self.web.history(limit, offset)
        self.write_json({"items": items, "total": total, "limit": limit, "offset": offset})


class FetchItemHandler(WebApiHandler):
    """GET one stored fetch (with its outcome); DELETE it and its files."""

    async def get(self, id):
        result = await self.web.fetch_result(self.path_id(id, "web fetch"))
        if result is None:
            raise ApiError(404, "No web fetch with id %s." % id)
        self.write_json(result)

    async def delete(self, id):
        if not await self.web.delete_fetch(self.path_id(id, "web fetch")):
            raise ApiError(404, "No web fetch with id %s." % id)
        self.set_status(204)
        self.finish()


class FileHandler(WebApiHandler):
    """GET a screenshot or PDF a fetch made; 404 for any name that is not one of them."""

    async def get(self, name):
        path = await tornado.ioloop.IOLoop.current().run_in_executor(
            None, self.web.file_path, name)
        if path is None:
            raise ApiError(404, "No such file.")
        body = await tornado.ioloop.IOLoop.current().run_in_executor(None, read_bytes, path)
        self.set_header("Content-Type", files.content_type(name))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.set_header("Content-Disposition", 'inline; filename="%s"' % name)
        self.finish(body)


class CrawlHandler(WebApiHandler):
    """POST {url, maxPages?, maxDepth?, include?, exclude?, render?, respectRobots?}: 202
    with the crawl, which runs in the background."""

    async def post(self):
        data = self.load(CRAWL_INPUT)
        crawl = await self.web.crawl(
            data["url"], max_pages=data["max_pages"], max_depth=data["max_depth"],
            include=data["include"], exclude=data["exclude"], render=data["render"],
            respect_robots=data["respect_robots"])
        self.set_header("Location", "/api/web/crawls/%d" % crawl["id"])
        self.write_json(crawl, status=202)


class CrawlsHandler(WebApiHandler):
    """GET ?limit&offset: the crawls, newest first (without their pages)."""

    async def get(self):
        limit, offset = self.page_arguments()
        items, total = await self.web.crawls(limit, offset)
        self.write_json({"items": items, "total": total, "limit": limit, "offset": offset})


class CrawlItemHandler(WebApiHandler):
    """GET a crawl with its pages; DELETE cancels it (when it still runs)."""

    async def get(self, id):
        self.write_json(await self.crawl_or_404(self.web.crawl_result, id))

    async def delete(self, id):
        self.write_json(await self.crawl_or_404(self.web.cancel_crawl, id))

    async def crawl_or_404(self, method, id):
        crawl = await method(self.path_id(id, "crawl"))
        if crawl is None:
            raise ApiError(404, "No crawl with id %s." % id)
        return crawl


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


routes = [
    tornado.web.url(r"/api/web/fetch", FetchHandler, name="api-web-fetch"),
    tornado.web.url(r"/api/web/fetches", FetchesHandler, name="api-web-fetches"),
    tornado.web.url(r"/api/web/fetches/([0-9]+)", FetchItemHandler, name="api-web-fetch-item"),
    tornado.web.url(r"/api/web/files/([^/]+)", FileHandler, name="api-web-file"),
    tornado.web.url(r"/api/web/crawl", CrawlHandler, name="api-web-crawl"),
    tornado.web.url(r"/api/web/crawls", CrawlsHandler, name="api-web-crawls"),
    tornado.web.url(r"/api/web/crawls/([0-9]+)", CrawlItemHandler, name="api-web-crawl-item"),
]
