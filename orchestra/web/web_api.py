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
from orchestra.services.tools.registry import json_schema
from orchestra.services.web.errors import WebError
from orchestra.web import web_api_schemas as out
from orchestra.web.apidoc import media, op, param
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

    def __init__(self, **kwargs):
        super().__init__(metadata={"enum": ["viewport", "full", True, False, None]}, **kwargs)

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
    # Each step is checked by actions.ACTIONS_SCHEMA (below); described here as it.
    actions = fields.List(fields.Raw(metadata=json_schema(actionlib.ActionSchema)),
                          load_default=None, allow_none=True,
                          metadata={"maxItems": actionlib.MAX_STEPS})
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

# -- the API description --------------------------------------------------------------------

TAGS = ("Web",)
ID = (("id", "The fetch's id."),)
PAGING = (param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
                "How many to list."),
          param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
                "How many to skip."))
# media() names one content type: PNG, the more common (PDFs are application/pdf).
PNG = media("image/png", {"type": "string", "contentMediaType": "image/png"})
REFUSED = ("Invalid input (`fields` names each key's problems), a body that is not a JSON "
           "object, or a page that cannot be read: `code` says why, and the attempt is in "
           "the history.", out.REFUSED)


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

    api_doc = {"post": op(
        "Fetch a page", tags=TAGS, body=FetchInputSchema,
        description="Reads the page (robots.txt and per-host politeness respected) and "
        "answers its main content as Markdown with its links and metadata. `render`: "
        "`static` (HTTP only), `browser` (Chromium) or `auto` (static, and the browser when "
        "the page needs scripts). `actions`, `screenshot` and `pdf` need the browser. "
        "`maxAgeSeconds` > 0 answers from a successful fetch of the same URL and options "
        "made that recently (`fromCache`). Every attempt is stored in the history.",
        body_example={"url": "https://example.org/", "render": "static",
                      "maxAgeSeconds": 3600},
        responses={200: ("The page.", out.PAGE), 400: REFUSED})}

    async def post(self):
        data = self.load(FETCH_INPUT)
        result = await self.web.fetch(
            data["url"], render=data["render"], actions=data["actions"],
            screenshot=data["screenshot"], pdf=data["pdf"],
            max_age_seconds=data["max_age_seconds"], respect_robots=data["respect_robots"])
        self.write_json(result)


class FetchesHandler(WebApiHandler):
    """GET ?limit&offset: the history of fetches, newest first, without their text."""

    api_doc = {"get": op(
        "List fetches", tags=TAGS, query=PAGING,
        description="Every fetch made (failed ones with their `code`), newest first, "
        "without the pages' text, links and steps.",
        responses={200: ("A page of the history.", out.FETCHES)}, errors=(400,))}

    async def get(self):
        limit, offset = self.page_arguments()
        items, total = await self.web.history(limit, offset)
        self.write_json({"items": items, "total": total, "limit": limit, "offset": offset})


class FetchItemHandler(WebApiHandler):
    """GET one stored fetch (with its outcome); DELETE it and its files."""

    api_path_params = ID
    api_doc = {
        "get": op("Get a fetch", tags=TAGS,
                  description="A stored fetch with its text and its outcome (`error` and "
                  "`code` when it failed).",
                  responses={200: ("The fetch.", out.FETCH)}, errors=(404,)),
        "delete": op("Delete a fetch", tags=TAGS,
                     description="Deletes the stored fetch and the files it made.",
                     responses={204: ("Deleted.", None)}, errors=(404,)),
    }

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

    api_path_params = (("name", "The file's name, as in a fetch's `screenshotUrl` or "
                                "`pdfUrl`."),)
    api_doc = {"get": op(
        "Get a file a fetch made", tags=TAGS,
        description="The screenshot or PDF itself, not JSON: `Content-Type: image/png` for "
        "a `.png`, `application/pdf` for a `.pdf`, served inline. Any other name, or a file "
        "deleted with its fetch, is a 404 (JSON).",
        responses={200: ("The file's bytes: image/png for a .png, application/pdf for a "
                         ".pdf.", PNG)},
        errors=(404,))}

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

    api_doc = {"post": op(
        "Start a crawl", tags=TAGS, body=CrawlInputSchema,
        description="Reads the start page, then its links on the same host, breadth first, "
        "up to `maxDepth` links away and `maxPages` pages. A link is followed when it "
        "matches one of the `include` regular expressions (when there are any) and none of "
        "`exclude`. Answers at once (202, `Location` names the crawl); progress is in GET "
        "/api/web/crawls/{id} and the `web:crawl` messages on /ws.",
        body_example={"url": "https://example.org/docs/", "maxPages": 50, "maxDepth": 2,
                      "include": ["/docs/"], "exclude": ["\\?print="]},
        responses={202: ("The crawl, started.", out.CRAWL),
                   400: ("Invalid input (`fields` names each key's problems), a body that "
                         "is not a JSON object, or a URL that cannot be crawled (`code`).",
                         out.REFUSED)})}

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

    api_doc = {"get": op(
        "List crawls", tags=TAGS, query=PAGING,
        description="The crawls, newest first, without their pages.",
        responses={200: ("A page of crawls.", out.CRAWLS)}, errors=(400,))}

    async def get(self):
        limit, offset = self.page_arguments()
        items, total = await self.web.crawls(limit, offset)
        self.write_json({"items": items, "total": total, "limit": limit, "offset": offset})


class CrawlItemHandler(WebApiHandler):
    """GET a crawl with its pages; DELETE cancels it (when it still runs)."""

    api_path_params = (("id", "The crawl's id."),)
    api_doc = {
        "get": op("Get a crawl", tags=TAGS,
                  description="The crawl and the pages it read (each a fetch in the "
                  "history), by depth.",
                  responses={200: ("The crawl.", out.CRAWL_WITH_PAGES)}, errors=(404,)),
        "delete": op("Cancel a crawl", tags=TAGS,
                     description="Stops the crawl when it still runs (status `cancelled`); "
                     "a finished crawl is answered as it stands. The pages read are kept.",
                     responses={200: ("The crawl, as it now stands.", out.CRAWL)},
                     errors=(404,)),
    }

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
