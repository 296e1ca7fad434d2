"""Pages for knowledge bases and their sources: pasted text, uploaded files and web pages."""

import logging

import tornado.web

from orchestra import entities
from orchestra.web.crud import EntityPage, page_routes
from orchestra.web.forms import Column, Field, FormRedisplay, PageEntity, load

logger = logging.getLogger(__name__)

SOURCES = entities.get("knowledge-sources")
MAX_UPLOAD = 2_000_000          # bytes of an uploaded file
# An upload's whole request: the file, the form's other fields and the multipart framing.
MAX_UPLOAD_BODY = MAX_UPLOAD + 100_000


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
        return {"source_kind": None, "source_values": {}, "source_errors": {},
                "max_upload": MAX_UPLOAD}


def read_source_form(handler):
    posted = handler.form_data()
    return {name: posted.get(name, "") for name in ("kind", "title", "content", "url")}


def decode_upload(upload, form):
    """The uploaded file as text; FormRedisplay unless it is UTF-8 text of a sensible size."""
    if upload is None or not upload.body:
        raise FormRedisplay(form, {"file": "Choose a text file to upload."})
    if len(upload.body) > MAX_UPLOAD:
        raise FormRedisplay(form, {"file": "The file is larger than %d bytes." % MAX_UPLOAD})
    try:
        text = upload.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise FormRedisplay(form, {"file": "This is not a text file (UTF-8 expected)."})
    return text


def source_input(form, base_id, files):
    """The schema input for a new source of the kind the form names."""
    data = {"knowledgeBaseId": base_id, "kind": form["kind"], "title": form["title"]}
    if form["kind"] == "url":
        # A blank title becomes the URL; the fetch replaces it with the page's title.
        data.update(url=form["url"].strip() or None,
                    title=form["title"] or form["url"].strip()[:200] or "Web page")
    elif form["kind"] == "file":
        upload = (files.get("file") or [None])[0]
        data.update(content=decode_upload(upload, form),
                    title=form["title"] or upload.filename[:200] or "File")
    else:
        data["content"] = form["content"]
    return data


class SourcePage(EntityPage):
    """Shared by the source handlers: lookups inside one base and the way back to it."""

    async def source_or_404(self, base_id, source_id):
        source = await self.stores.knowledge_sources.get(int(source_id))
        if source is None or source.knowledge_base_id != int(base_id):
            raise tornado.web.HTTPError(404, "No source %s in knowledge base %s."
                                        % (source_id, base_id))
        return source

    def back_to_base(self, base_id, message):
        self.flash(message)
        self.redirect(self.url_for("show", int(base_id)), status=303)


class NewSourcePage(SourcePage):
    """Adds a source. Uploads (multipart) have their own, smaller body limit."""

    def limit(self):
        if self.request.headers.get("Content-Type", "").startswith("multipart/"):
            return MAX_UPLOAD_BODY
        return super().limit()

    @property
    def body_name(self):
        return "upload" if self.limit() == MAX_UPLOAD_BODY else "form"

    async def post(self, base_id):
        base = await self.row_or_404(base_id)
        form = read_source_form(self)
        try:
            data = load(SOURCES.create_schema(),
                        source_input(form, base.id, self.request.files), form)
        except FormRedisplay as e:
            errors = {("file" if k == "content" and form["kind"] == "file" else k): v
                      for k, v in e.errors.items()}
            await self.render_item(base, status=400, source_kind=form["kind"],
                                   source_values=form, source_errors=errors)
            return
        try:
            await SOURCES.check(self.settings, "create", None, data)
        except entities.Conflict as e:  # the form comes back as written, with the reason
            await self.render_item(base, status=409, source_kind=form["kind"],
                                   source_values=form, source_errors={"kind": e.message})
            return
        source = await self.stores.knowledge_sources.create(SOURCES.to_row(data, self.settings))
        SOURCES.after_create(source, self.settings)
        self.back_to_base(base.id, "Source \u201c%s\u201d added%s." % (
            source.title, "; fetching it now" if source.kind == "url" else ""))


class ShowSourcePage(SourcePage):
    async def get(self, base_id, source_id):
        base = await self.row_or_404(base_id)
        source = await self.source_or_404(base_id, source_id)
        self.render_template("knowledge_source.html", entity=self.entity, base=base,
                             source=SOURCES.dump(source))


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
        self.services["webfetch"].fetch_source(source.id, source.url)
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
