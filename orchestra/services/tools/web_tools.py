"""Web tools: read a page (web.fetch), find passages on it (web.search_page), crawl a site
(web.crawl). Each goes through the web service (`services["web"]`), so its safety checks,
robots rules, politeness and cache apply to tools as to everything else."""

import asyncio
import collections
import logging
import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from orchestra.services.knowledge.chunking import chunk_text
from orchestra.services.knowledge.service import query_terms
from orchestra.services.tools.registry import Tool, ToolError, ToolResult

logger = logging.getLogger(__name__)

MAX_TEXT = 20_000        # characters of a page a tool hands to a model
PASSAGE_TOKENS = 150     # web.search_page cuts pages into passages of about this size
RENDERS = ("static", "browser", "auto")
CRAWL_DONE = ("completed", "failed", "cancelled")
CRAWL_RECHECK = 2.0      # seconds between looks at a crawl, should a progress event be missed
_WORD = re.compile(r"[^\W_]+")
_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)


def url_field(**kwargs):
    return fields.Url(required=True, schemes={"http", "https"},
                      validate=validate.Length(max=2000), **kwargs)


def render_field():
    return fields.String(load_default="auto", validate=validate.OneOf(RENDERS), metadata={
        "description": "static: the HTML as served; browser: rendered by Chromium; auto: "
                       "static, switching to the browser for pages built by scripts."})


def max_age_field():
    return fields.Integer(data_key="maxAgeSeconds", load_default=3600, strict=True,
                          validate=validate.Range(0, 30 * 86400), metadata={
                              "description": "Answer from a copy fetched at most this many "
                                             "seconds ago, when there is one."})


class WebTool(Tool):
    def suits(self, task):
        """Web tools suit a task whose title or description names a web address."""
        return bool(_URL.search("%s\n%s" % (task.get("title") or "",
                                            task.get("description") or "")))


class Args(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class FetchArgs(Args):
    url = url_field(metadata={"description": "The page's address (http or https)."})
    render = render_field()
    max_age_seconds = max_age_field()


class SearchPageArgs(Args):
    url = url_field(metadata={"description": "The page's address (http or https)."})
    query = fields.String(required=True, validate=validate.Length(1, 500), metadata={
        "description": "Words to find on the page (any of them, in any case)."})
    max_results = fields.Integer(data_key="maxResults", load_default=5, strict=True,
                                 validate=validate.Range(1, 20))
    render = render_field()
    max_age_seconds = max_age_field()


def compiles(pattern):
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValidationError("Not a regular expression: %s." % error) from None


def patterns(description):
    return fields.List(fields.String(validate=[validate.Length(1, 500), compiles]),
                       load_default=None, validate=validate.Length(max=20),
                       metadata={"description": description})


class CrawlArgs(Args):
    url = url_field(metadata={"description": "Where the crawl starts; it stays on this site."})
    max_pages = fields.Integer(data_key="maxPages", load_default=10, strict=True,
                               validate=validate.Range(1, 50))
    max_depth = fields.Integer(data_key="maxDepth", load_default=1, strict=True,
                               validate=validate.Range(0, 5), metadata={
                                   "description": "Links followed from the start page: 0 "
                                                  "reads the start page only."})
    include = patterns("Regular expressions; only URLs matching one are read.")
    exclude = patterns("Regular expressions; URLs matching one are skipped.")


def page_text(page, limit=MAX_TEXT):
    """A fetched page as text for a model: its title (unless the Markdown opens with it as
    a heading), then its Markdown, cut at `limit`."""
    title = (page.get("title") or "").strip()
    markdown = (page.get("markdown") or "").strip()
    opening = markdown.split("\n", 1)[0]
    if opening.startswith("#") and opening.lstrip("#").strip().lower() == title.lower():
        title = ""
    text = ("# %s\n\n%s" % (title, markdown)).strip() if title else markdown
    if len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        text = text[:cut if cut > limit // 2 else limit].rstrip() + (
            "\n\n[The page goes on; the first %d characters are shown.]" % limit)
    return text or "(The page has no text.)"


class FetchTool(WebTool):
    name = "web.fetch"
    description = "Read a web page and return its title and main text as Markdown."
    schema = FetchArgs

    async def run(self, args, context):
        web = context.service("web", self.name)
        page = await web.fetch(args["url"], render=args["render"],
                               max_age_seconds=args["max_age_seconds"])
        return ToolResult(page_text(page), page)


def matching_passages(markdown, query, limit):
    """The passages of a page's Markdown that contain words of `query` (whole words, in any
    case; words like "the" only when the query has no other), with the headings they sit
    under: those with most distinct words first, then most matches, then in page order.
    Blocking (chunking a long page): run it off the loop."""
    terms = query_terms(query) or list(dict.fromkeys(_WORD.findall(query.lower())))
    found = []
    for index, chunk in enumerate(chunk_text(markdown or "", "markdown",
                                             target_tokens=PASSAGE_TOKENS, overlap_tokens=0)):
        words = collections.Counter(_WORD.findall(chunk.text.lower()))
        counts = {term: words[term] for term in terms}
        matched = [term for term, n in counts.items() if n]
        if matched:
            found.append((-len(matched), -sum(counts.values()), index, {
                "heading": " \u203a ".join(chunk.heading_path), "text": chunk.text,
                "terms": matched}))
    found.sort(key=lambda item: item[:3])
    return [item[3] for item in found[:limit]]


class SearchPageTool(WebTool):
    name = "web.search_page"
    description = ("Find the passages of a web page that mention some words, each with the "
                   "heading it is under.")
    schema = SearchPageArgs

    async def run(self, args, context):
        web = context.service("web", self.name)
        page = await web.fetch(args["url"], render=args["render"],
                               max_age_seconds=args["max_age_seconds"])
        passages = await asyncio.get_running_loop().run_in_executor(
            None, matching_passages, page.get("markdown"), args["query"], args["max_results"])
        data = {"url": page.get("url"), "finalUrl": page.get("finalUrl"),
                "title": page.get("title"), "fetchId": page.get("id"), "passages": passages}
        if not passages:
            return ToolResult("No passage of %s mentions %s." % (
                page.get("finalUrl") or args["url"], args["query"]), data)
        lines = ["Passages of %s about %s:" % (page.get("title") or args["url"], args["query"])]
        for n, passage in enumerate(passages, 1):
            heading = " (%s)" % passage["heading"] if passage["heading"] else ""
            lines.append("\n[%d]%s\n%s" % (n, heading, passage["text"]))
        return ToolResult("\n".join(lines), data)


class CrawlTool(WebTool):
    name = "web.crawl"
    description = ("Read the pages of one site from a start page, following its links, and "
                   "list the pages read.")
    schema = CrawlArgs

    async def run(self, args, context):
        web = context.service("web", self.name)
        crawl = await web.crawl(args["url"], max_pages=args["max_pages"],
                                max_depth=args["max_depth"], include=args["include"],
                                exclude=args["exclude"])
        try:
            crawl = await self.finished(web, crawl["id"], context.hub)
        except asyncio.CancelledError:
            # The step was stopped: so is the crawl it started (shielded: this task is
            # being cancelled, and the cancel must still reach the service).
            await asyncio.shield(web.cancel_crawl(crawl["id"]))
            raise
        return ToolResult(crawl_text(crawl), crawl)

    @staticmethod
    async def finished(web, crawl_id, hub):
        """The crawl once it is over: woken by its "web:crawl" events on the hub, and
        looked at every few seconds as well, should an event be missed."""
        changed = asyncio.Event()

        def on_crawl(crawl, *_, **__):
            if isinstance(crawl, dict) and crawl.get("id") == crawl_id:
                changed.set()

        if hub is not None:
            hub.subscribe("web:crawl", on_crawl)
        try:
            while True:
                changed.clear()
                crawl = await web.crawl_result(crawl_id)
                if crawl is None:
                    raise ToolError("failed", "Crawl %d has disappeared." % crawl_id)
                if crawl["status"] in CRAWL_DONE:
                    return crawl
                try:
                    await asyncio.wait_for(changed.wait(), CRAWL_RECHECK)
                except asyncio.TimeoutError:
                    pass
        finally:
            if hub is not None:
                hub.unsubscribe("web:crawl", on_crawl)


def crawl_text(crawl):
    """A finished crawl as text: what happened, then one line per page."""
    pages = crawl.get("pages") or []
    if crawl["status"] != "completed" and not pages:
        raise ToolError("failed", "The crawl of %s %s: %s" % (
            crawl["url"], crawl["status"], crawl.get("error") or "no page was read."))
    read = [p for p in pages if not p.get("error")]
    lines = ["Crawl of %s (%s): %d page%s read, %d failed." % (
        crawl["url"], crawl["status"], len(read), "" if len(read) == 1 else "s",
        len(pages) - len(read))]
    for page in pages:
        line = "- %s \u2014 %s (depth %s)" % (page.get("title") or "(no title)", page["url"],
                                              page.get("depth"))
        if page.get("error"):
            line += ": failed, %s" % page["error"]
        lines.append(line)
    if crawl.get("error"):
        lines.append(crawl["error"])
    return "\n".join(lines)
