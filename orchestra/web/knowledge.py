"""Pages for knowledge bases and their sources: pasted text, uploaded files and web pages.

A base's page lists its sources with their indexing progress (live over /ws, see
static/js/knowledge_base.js) and searches them (`?q=`): each hit shows its passage with the
query's words marked, and links to it on its source's page, where every chunk is a section.
"""

import logging
import re
import unicodedata

import markupsafe
import tornado.web

from orchestra import entities, schemas
from orchestra.services.knowledge.service import query_terms as search_terms
from orchestra.web import bodies, knowledge_api
from orchestra.web.crud import EntityPage, page_routes
from orchestra.web.forms import Column, Field, FormRedisplay, PageEntity, load
from orchestra.web.knowledge_api import MAX_UPLOAD_BODY, UploadBody, UploadRefused

logger = logging.getLogger(__name__)

SOURCES = entities.get("knowledge-sources")
MAX_UPLOAD = knowledge_api.MAX_FILE      # bytes of an uploaded file
SNIPPET = 480                            # characters of a hit's passage shown in the results


class KnowledgeBasePages(PageEntity):
    spec, title = entities.get("knowledge-bases"), "Knowledge bases"
    fields = (
        Field("name", "Name", required=True),
        Field("description", "Description", "textarea", rows=4),
    )
    columns = (Column("name", "Name", "link"), Column("description", "Description"),
               Column("updatedAt", "Updated", "date"))
    details = (Column("description", "Description"),)
    detail_template = "knowledge_base_detail.html"

    async def detail_context(self, handler, item):
        knowledge = handler.services["knowledge"]
        query = handler.get_query_argument("q", "").strip()
        return dict({"source_kind": None, "source_values": {}, "source_errors": {},
                     "max_upload": MAX_UPLOAD, "file_types": knowledge_api.FILE_TYPES,
                     "mode_text": mode_text(knowledge.mode())},
                    **await search_context(knowledge, item, query))


def mode_text(mode):
    """The #kb-mode line: which search answers."""
    full_text = {"sqlite-fts5": "SQLite FTS5, ranked by BM25",
                 "mariadb-fulltext": "MariaDB FULLTEXT"}.get(mode["fullText"], mode["fullText"])
    if mode.get("embeddingModel"):
        return ("Search: full text (%s) and embeddings from %s, fused by reciprocal rank."
                % (full_text, mode["embeddingModel"]))
    return ("Search: full text (%s); no embedding model is set (--embedding-model), so "
            "passages are found by their words." % full_text)


async def search_context(knowledge, item, query):
    """The base page's search: its query, the hits with their passages marked, or the reason
    the query was refused."""
    context = {"query": query, "hits": None, "query_error": None}
    if len(query) > knowledge_api.MAX_QUERY:
        context["query_error"] = "The search is longer than %d characters." % (
            knowledge_api.MAX_QUERY)
    elif query:
        terms = query_terms(query)
        hits = await knowledge.search([item["id"]], query, limit=20)
        context["hits"] = [dict(hit, marked=mark(snippet(hit["text"], terms), terms))
                           for hit in hits]
    return context


# -- marking the query's words in a passage ------------------------------------------------

# Letters and digits, as the full-text index reads words.
WORD = re.compile(r"[^\W_]+")
SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ed", "ers", "er", "ly", "s")


def fold(word):
    """Lower case without diacritics, as the full-text index compares words."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def stem(word):
    """A rough stem of a folded word ("indexing" and "indexed" -> "index", "running" ->
    "run", "cafes" -> "caf"), enough to mark the forms of a word the search matched."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "i"
    else:
        for suffix in SUFFIXES:
            if (word.endswith(suffix) and len(word) - len(suffix) >= 3
                    and not (suffix == "s" and word.endswith("ss"))):
                word = word[:-len(suffix)]
                break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    if len(word) > 3 and word[-1] in "ey":
        word = word[:-1] + ("i" if word[-1] == "y" else "")
    return word


def query_terms(query):
    """The stems of the words a search looks for (the knowledge service's terms)."""
    return frozenset(stem(fold(w)) for w in search_terms(query))


def matches(word, terms):
    return stem(fold(word)) in terms


def snippet(text, terms, width=SNIPPET):
    """About `width` characters of `text` around its first matching word, cut at spaces."""
    if len(text) <= width:
        return text
    first = next((m.start() for m in WORD.finditer(text) if matches(m.group(), terms)), 0)
    start = max(0, first - width // 4)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    end = text.rfind(" ", start, start + width)
    end = start + width if end <= start else end
    return ("\u2026" if start else "") + text[start:end] + ("\u2026" if end < len(text) else "")


def mark(text, terms):
    """`text` escaped, with each word matching a query term in <mark>: Markup that holds no
    other HTML than those tags, whatever the text says."""
    out, last = [], 0
    for m in WORD.finditer(text):
        if matches(m.group(), terms):
            out.append(markupsafe.escape(text[last:m.start()]))
            out.append(markupsafe.Markup("<mark>%s</mark>") % m.group())
            last = m.end()
    out.append(markupsafe.escape(text[last:]))
    return markupsafe.Markup("").join(out)


def read_source_form(handler):
    posted = handler.form_data()
    form = {name: posted.get(name, "") for name in ("kind", "title", "content", "url")}
    form["render"] = posted.get("render") or "auto"
    return form


def source_input(form, base_id):
    """The schema input for a new text or web page source (files: add_file_source)."""
    data = {"knowledgeBaseId": base_id, "kind": form["kind"], "title": form["title"]}
    if form["kind"] == "url":
        # A blank title becomes the URL; the fetch replaces it with the page's title.
        data.update(url=form["url"].strip() or None, render=form["render"],
                    title=form["title"] or form["url"].strip()[:200] or "Web page")
    else:
        data["content"] = form["content"]
    return data


class SourcePage(EntityPage):
    """Shared by the source handlers: lookups inside one base and the way back to it."""

    async def source_or_404(self, base_id, source_id):
        source = await self.stores.knowledge_sources.get(self.path_id(source_id, "source"))
        if source is None or source.knowledge_base_id != schemas.parse_id(base_id):
            raise tornado.web.HTTPError(404, "No source %s in knowledge base %s."
                                        % (source_id, base_id))
        return source

    def back_to_base(self, base_id, message):
        self.flash(message)
        self.redirect(self.url_for("show", int(base_id)), status=303)


class NewSourcePage(UploadBody, SourcePage):
    """Adds a source. Uploads (multipart) have their own limit, and one declared past it is
    refused before it is read, as the API's are."""

    def is_upload(self):
        return self.request.headers.get("Content-Type", "").startswith("multipart/")

    def limit(self):
        return MAX_UPLOAD_BODY if self.is_upload() else bodies.MAX_BODY

    @property
    def body_name(self):
        return "upload" if self.is_upload() else "form"

    async def post(self, base_id):
        base = await self.row_or_404(base_id)
        form = read_source_form(self)
        if form["kind"] == "file":
            await self.add_file(base, form)
            return
        try:
            data = load(SOURCES.create_schema(), source_input(form, base.id), form)
        except FormRedisplay as e:
            await self.render_item(base, status=400, source_kind=form["kind"],
                                   source_values=form, source_errors=e.errors)
            return
        try:
            await SOURCES.check(self.settings, "create", None, data)
        except entities.Conflict as e:  # the form comes back as written, with the reason
            await self.render_item(base, status=409, source_kind=form["kind"],
                                   source_values=form, source_errors={"kind": e.message})
            return
        source = await self.stores.knowledge_sources.create(SOURCES.to_row(data, self.settings))
        SOURCES.after_create(source, self.settings)
        self.back_to_base(base.id, "Source \u201c%s\u201d added; %s it now." % (
            source.title, "fetching" if source.kind == "url" else "indexing"))

    async def add_file(self, base, form):
        upload = (self.request.files.get("file") or [None])[0]
        try:
            source = await knowledge_api.add_file_source(self.settings, base.id, upload,
                                                         form["title"])
        except (UploadRefused, entities.Conflict) as e:
            field = getattr(e, "field", "kind")
            await self.render_item(base, status=getattr(e, "status", 409), source_kind="file",
                                   source_values=form, source_errors={field: e.message})
            return
        if source.status == "failed":
            self.back_to_base(base.id, "\u201c%s\u201d could not be read: %s" % (
                source.title, source.error))
        else:
            self.back_to_base(base.id, "Source \u201c%s\u201d added; indexing it now."
                              % source.title)


class ShowSourcePage(SourcePage):
    async def get(self, base_id, source_id):
        base = await self.row_or_404(base_id)
        source = await self.source_or_404(base_id, source_id)
        chunks = await self.stores.knowledge_chunks.for_source(source.id)
        self.render_template("knowledge_source.html", entity=self.entity, base=base,
                             source=dict(SOURCES.dump(source), size=len(source.content or "")),
                             chunks=chunks)


class DeleteSourcePage(SourcePage):
    async def post(self, base_id, source_id):
        source = await self.source_or_404(base_id, source_id)
        await SOURCES.check(self.settings, "delete", source)
        await self.stores.knowledge_sources.delete(source.id)
        self.back_to_base(base_id, "Source \u201c%s\u201d deleted." % source.title)


class RefetchSourcePage(SourcePage):
    async def post(self, base_id, source_id):
        source = await self.source_or_404(base_id, source_id)
        if source.kind != "url":
            raise tornado.web.HTTPError(400, "Only web page sources can be fetched again.")
        await SOURCES.check(self.settings, "update", source)
        await self.stores.knowledge_sources.update(source.id, {"status": "pending",
                                                               "error": None})
        entities.fetch_source(source, self.settings)
        self.back_to_base(base_id, "Fetching \u201c%s\u201d again." % source.title)


KNOWLEDGE_BASES = KnowledgeBasePages()
_base = r"/knowledge-bases/([0-9]+)/sources"
_kwargs = {"entity": KNOWLEDGE_BASES}

routes = [
    *page_routes(KNOWLEDGE_BASES),
    tornado.web.url(_base, NewSourcePage, _kwargs, name="knowledge-sources-new"),
    tornado.web.url(_base + r"/([0-9]+)", ShowSourcePage, _kwargs,
                    name="knowledge-sources-show"),
    tornado.web.url(_base + r"/([0-9]+)/delete", DeleteSourcePage, _kwargs,
                    name="knowledge-sources-delete"),
    tornado.web.url(_base + r"/([0-9]+)/refetch", RefetchSourcePage, _kwargs,
                    name="knowledge-sources-refetch"),
]
