"""The knowledge JSON API beside the generic CRUD: search a base, upload a file as a source of
it, and read the chunks a source was cut into.

Uploads are shared with the knowledge base page (web/knowledge.py): `UploadBody` refuses a
declared length past the limit before reading a byte of the body, and `add_file_source`
extracts the file's text off the IOLoop and stores it as a source to index, or as a failed
source with the reason when the file cannot be read.
"""

import logging

import tornado.ioloop
import tornado.web
from marshmallow import Schema, ValidationError, fields, validate

from orchestra import entities
from orchestra.services.knowledge import extract as extractor
from orchestra.web.apidoc import op, param
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody, size_text

logger = logging.getLogger(__name__)

SOURCES = entities.get("knowledge-sources")
MAX_FILE = extractor.MAX_FILE_BYTES
# An upload's whole request: the file, the form's other fields and the multipart framing.
MAX_UPLOAD_BODY = MAX_FILE + 100_000
MAX_QUERY = 500
MAX_HITS = 50
FILE_TYPES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
TAGS = ("Knowledge",)
BASE_ID = (("id", "The knowledge base's id."),)


# -- uploads -----------------------------------------------------------------------------------

class UploadRefused(Exception):
    """An upload that stores nothing: `status` 400 (with the field's message) or 413."""

    def __init__(self, status, message, field="file"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class UploadBody(LimitedBody):
    """A streamed body whose declared length past the limit is refused at once (413), before
    any of it is read; the connection closes after the answer. A subclass may limit only some
    requests (`is_upload`)."""

    body_limit = MAX_UPLOAD_BODY
    body_name = "upload"

    def is_upload(self):
        return True

    def prepare(self):
        super().prepare()
        if not self._finished and self._too_large and self.is_upload():
            raise self.too_large()


def file_too_large():
    return UploadRefused(413, "The file is larger than the limit of %s (%d bytes)."
                         % (size_text(MAX_FILE), MAX_FILE))


def parse_upload(upload):
    """What an upload must be before its text is extracted: a file, not empty, within the
    limit."""
    if upload is None or not upload.filename:
        raise UploadRefused(400, "Choose a file to upload.")
    if not upload.body:
        raise UploadRefused(400, "The file is empty.")
    if len(upload.body) > MAX_FILE:
        raise file_too_large()
    return upload


async def read_file(upload):
    """(columns, None) with the file's text, or (None, reason) when it cannot be read."""
    try:
        extracted = await tornado.ioloop.IOLoop.current().run_in_executor(
            None, extractor.extract, upload.body, upload.filename, upload.content_type)
    except extractor.ExtractError as e:
        return None, e.message
    if not extracted.text.strip():
        return None, "The file holds no text."
    return {"content": extracted.text, "format": extracted.fmt}, None


async def add_file_source(settings, base_id, upload, title=""):
    """Store `upload` as a file source of base `base_id` and start indexing it; a file that
    cannot be read becomes a `failed` source with the reason. Raises UploadRefused
    (nothing stored), or entities.Conflict while a running task uses the base."""
    upload = parse_upload(upload)
    title = title.strip() or upload.filename.strip()[:200] or "File"
    try:  # content is checked below, once extracted
        data = SOURCES.create_schema().load({"knowledgeBaseId": base_id, "kind": "file",
                                             "title": title}, partial=("content",))
    except ValidationError as e:
        field, messages = next(iter(e.messages.items()))
        raise UploadRefused(400, " ".join(messages), field)
    await SOURCES.check(settings, "create", None, data)
    columns, reason = await read_file(upload)
    if columns is None:
        columns = {"content": "", "format": None, "status": "failed", "error": reason}
    else:
        columns.update(status="indexing", error=None)
    row = await settings["stores"].knowledge_sources.create(
        dict(SOURCES.to_row(data, settings), **columns))
    if row["status"] == "indexing":
        settings["services"]["knowledge"].index_source(row["id"])
    else:
        logger.info("file %r of knowledge base %d not read: %s", upload.filename, base_id,
                    reason)
    return row


class FileUploadHandler(UploadBody, ApiHandler):
    """POST a multipart form (field `file`, optional `title`): 201 with the stored source."""

    api_path_params = BASE_ID
    api_doc = {"post": op(
        "Upload a file as a source", tags=TAGS, body_content_type="multipart/form-data",
        # Other fields are ignored; an empty name or control characters (tab aside) in one
        # make the form malformed (400).
        body={"type": "object", "required": ["file"],
              "propertyNames": {"pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]+$"}, "properties": {
            "file": {"type": "string", "format": "binary", "minLength": 1,
                     "contentMediaType": "application/octet-stream",
                     "description": "The file (%s), at most %d bytes."
                     % (", ".join(FILE_TYPES), MAX_FILE)},
            "title": {"type": "string", "maxLength": 200,
                      "description": "The source's title; the file's name when blank."}}},
        body_example={"file": "Orchestra reads this file.", "title": "Notes"},
        description="Stores the file's text as a source of the base (kind `file`) and "
        "starts indexing it (status `indexing`, then `ready`). A file whose text cannot be "
        "read is stored as a `failed` source with the reason in `error`. `Location` names "
        "the source. 400 when no file is given, it is empty, or the title is too long; 409 "
        "while a running task uses the base.",
        responses={201: ("The stored source.", SOURCES.create_schema)},
        errors=(400, 404, 409))}

    async def post(self, base_id):
        base_id = await base_or_404(self, base_id)
        title = self.get_body_argument("title", "")
        upload = (self.request.files.get("file") or [None])[0]
        try:
            row = await add_file_source(self.settings, base_id, upload, title)
        except UploadRefused as e:
            raise ApiError(e.status, e.message,
                           fields={e.field: [e.message]} if e.status == 400 else None)
        self.set_header("Location", "/api/knowledge-sources/%d" % row["id"])
        self.write_json(SOURCES.dump(row), status=201)


# -- search and chunks -------------------------------------------------------------------------

def not_blank(value):
    if not value.strip():
        raise ValidationError("Must not be blank.")


class SearchArgsSchema(Schema):
    q = fields.String(required=True, validate=[validate.Length(max=MAX_QUERY), not_blank])
    limit = fields.Integer(load_default=10, validate=validate.Range(1, MAX_HITS))


# Output schemas: `required` says which keys every dump has (for the API description).

class HitSchema(Schema):
    chunk_id = fields.Integer(data_key="chunkId", required=True)
    source_id = fields.Integer(data_key="sourceId", required=True)
    source_title = fields.String(data_key="sourceTitle", required=True)
    heading_path = fields.List(fields.String(), data_key="headingPath", required=True,
                               metadata={"description": "The headings above the passage."})
    text = fields.String(required=True)
    score = fields.Float(required=True, metadata={"description": "Higher is better."})


class ChunkSchema(Schema):
    id = fields.Integer(data_key="chunkId", required=True)
    position = fields.Integer(required=True)
    heading_path = fields.List(fields.String(), data_key="headingPath", required=True)
    text = fields.String(required=True)
    tokens = fields.Integer(required=True)


class SearchModeSchema(Schema):
    full_text = fields.String(data_key="fullText", required=True,
                              validate=validate.OneOf(("sqlite-fts5", "mariadb-fulltext")))
    embedding_model = fields.String(data_key="embeddingModel", required=True, allow_none=True,
                                    metadata={"description": "Null: full-text search only."})


class SearchResultSchema(Schema):
    """What a search answers: the hits, and `mode` (KnowledgeService.mode())."""
    items = fields.List(fields.Nested(HitSchema), required=True)
    mode = fields.Nested(SearchModeSchema, required=True)


class ChunkListSchema(Schema):
    items = fields.List(fields.Nested(ChunkSchema), required=True)


SEARCH_ARGS = SearchArgsSchema()
HITS = HitSchema(many=True)
CHUNKS = ChunkSchema(many=True)


async def base_or_404(handler, base_id):
    id = handler.path_id(base_id, "knowledge base")
    if not await handler.stores.knowledge_bases.count(id=id):
        raise ApiError(404, "No knowledge base with id %s." % base_id)
    return id


class SearchHandler(ApiHandler):
    """GET ?q=&limit=: the base's best passages for `q`, best first, and the search in use."""

    api_path_params = BASE_ID
    api_doc = {"get": op(
        "Search a knowledge base", tags=TAGS,
        query=(param("q", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY,
                           "pattern": r"\S"}, "What to look for (not blank).", required=True,
                     example="install on linux"),
               param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_HITS,
                               "default": 10}, "How many passages at most.")),
        description="The chunks of the base's sources that best match `q`, best first: "
        "full-text search, fused with vector search when an embedding model is set. "
        "`mode` says which search answered.",
        responses={200: ("The passages found (none when `q` has no word worth searching "
                         "for).", SearchResultSchema)},
        errors=(400, 404))}

    async def get(self, base_id):
        base_id = await base_or_404(self, base_id)
        args = self.load(SEARCH_ARGS, {name: self.get_query_argument(name)
                                       for name in ("q", "limit")
                                       if self.get_query_argument(name, None) is not None})
        knowledge = self.services["knowledge"]
        hits = await knowledge.search([base_id], args["q"], limit=args["limit"])
        self.write_json({"items": HITS.dump(hits), "mode": knowledge.mode()})


class ChunksHandler(ApiHandler):
    """GET: the chunks of a source, in document order."""

    api_path_params = (("id", "The knowledge source's id."),)
    api_doc = {"get": op(
        "List a source's chunks", tags=TAGS,
        description="The passages the source was cut into for search, in document order "
        "(none until it is indexed).",
        responses={200: ("The chunks.", ChunkListSchema)}, errors=(404,))}

    async def get(self, source_id):
        source = await self.stores.knowledge_sources.get(
            self.path_id(source_id, "knowledge source"))
        if source is None:
            raise ApiError(404, "No knowledge source with id %s." % source_id)
        rows = await self.stores.knowledge_chunks.for_source(source["id"])
        self.write_json({"items": CHUNKS.dump(rows)})


routes = [
    tornado.web.url(r"/api/knowledge-bases/([0-9]+)/search", SearchHandler,
                    name="api-knowledge-search"),
    tornado.web.url(r"/api/knowledge-bases/([0-9]+)/files", FileUploadHandler,
                    name="api-knowledge-files"),
    tornado.web.url(r"/api/knowledge-sources/([0-9]+)/chunks", ChunksHandler,
                    name="api-knowledge-chunks"),
]
