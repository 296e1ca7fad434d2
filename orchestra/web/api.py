"""The generic JSON API: list, create, get, update and delete for every stored entity.

One pair of handlers serves all entities; the route's `resource` names which entity of the
registry (orchestra.entities) it is: its store, schemas, row hooks, owner rules and search,
the same description the form pages read.
"""

import logging

import marshmallow
import tornado.web

from orchestra import entities
from orchestra.web.apidoc import op, param
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody

logger = logging.getLogger(__name__)

MAX_PAGE = 200


class ResourceMixin(LimitedBody):
    def initialize(self, resource):
        self.resource = entities.get(resource)

    @property
    def store(self):
        return getattr(self.stores, self.resource.store)

    async def check_parent(self, data):
        """A child row (a message, a subtask, a source) must name a parent that exists, and
        a list of references (a conversation's knowledge bases) rows that exist."""
        fields = self.resource.create_schema().fields
        if self.resource.parent is not None:
            column, parent = self.resource.parent
            if column in data and await getattr(self.stores, parent).get(data[column]) is None:
                raise ApiError(400, "Invalid input.",
                               fields={fields[column].data_key or column: ["No such record."]})
        for column, store in self.resource.references:
            missing = [id for id in data.get(column) or ()
                       if await getattr(self.stores, store).get(id) is None]
            if missing:
                raise ApiError(400, "Invalid input.", fields={fields[column].data_key or column: [
                    "No such record: %s." % ", ".join(str(id) for id in missing)]})

    def load_input(self, schema):
        """The body validated by `schema`; fields another part of Orchestra owns are refused
        by name (400), before anything is written."""
        self.resource.check_writable("update" if self.request.method == "PATCH" else "create")
        payload = self.json_body()
        owned = self.resource.owned_fields(payload)
        if owned:
            raise ApiError(400, "Read-only fields: %s." % ", ".join(sorted(owned)),
                           fields=owned)
        return self.load(schema, payload)

    def not_found(self, id):
        return ApiError(404, "No %s with id %s." % (self.resource.singular, id))


class CollectionHandler(ResourceMixin, ApiHandler):
    """GET: a page of rows, newest first. POST: create one (201 with the stored row)."""

    @classmethod
    def api_doc_for(cls, kwargs):
        return collection_doc(kwargs["resource"]) if "resource" in kwargs else None

    async def get(self):
        limit = self.int_argument("limit", 50, 1, MAX_PAGE)
        offset = self.int_argument("offset", 0, 0, 10**9)
        query = self.get_query_argument("q", "").strip()
        if query:
            rows, total = await self.search(query, limit, offset)
        else:
            filters = self.filter_arguments()
            rows = await self.store.list(limit=limit, offset=offset, **filters)
            total = await self.store.count(**filters)
        self.write_json({"items": self.resource.dump(rows, many=True), "total": total,
                         "limit": limit, "offset": offset})

    def filter_arguments(self):
        """{column: value} of the entity's list filters in the query; a filter on a number
        (an id) is read by its schema field, so `?conversationId=` beyond any id is a 400."""
        fields, filters = self.resource.create_schema().fields, {}
        for arg, column in self.resource.filters:
            raw = self.get_query_argument(arg, None)
            field = fields.get(column)
            if raw is not None and isinstance(field, marshmallow.fields.Integer):
                try:
                    raw = field.deserialize(raw)
                except marshmallow.ValidationError as e:
                    raise ApiError(400, "%s: %s" % (arg, " ".join(e.messages)),
                                   fields={arg: e.messages})
            filters[column] = raw
        return filters

    async def search(self, query, limit, offset):
        if self.resource.search is None:
            raise ApiError(400, "%s cannot be searched." % self.resource.name,
                           fields={"q": ["Not supported here."]})
        if len(query) > 200:
            raise ApiError(400, "q is longer than 200 characters.", fields={"q": ["Too long."]})
        return await getattr(self.store, self.resource.search)(query, limit=limit,
                                                               offset=offset)

    async def post(self):
        data = self.load_input(self.resource.create_schema())
        await self.check_parent(data)
        await self.resource.check(self.settings, "create", None, data)
        row = await self.store.create(self.resource.to_row(data, self.settings))
        if self.resource.after_create:
            self.resource.after_create(row, self.settings)
        self.set_header("Location", "%s/%d" % (self.request.path, row.id))
        self.write_json(self.resource.dump(row), status=201)


class ItemHandler(ResourceMixin, ApiHandler):
    """GET, PATCH and DELETE one row by id."""

    api_path_params = (("id", "The record's id."),)

    @classmethod
    def api_doc_for(cls, kwargs):
        return item_doc(kwargs["resource"]) if "resource" in kwargs else None

    async def fetch_row(self, id):
        row = await self.store.get(self.path_id(id, self.resource.singular))
        if row is None:
            raise self.not_found(id)
        return row

    async def get(self, id):
        self.write_json(self.resource.dump(await self.fetch_row(id)))

    async def patch(self, id):
        old = await self.fetch_row(id)
        data = self.load_input(self.resource.update_schema())
        await self.check_parent(data)
        await self.resource.check(self.settings, "update", old, data)
        row = await self.store.update(old["id"], self.resource.to_row(data, self.settings, old))
        if row is None:
            raise self.not_found(id)
        if self.resource.after_update:
            self.resource.after_update(old, row, data, self.settings)
        self.write_json(self.resource.dump(row))

    async def delete(self, id):
        row = await self.fetch_row(id)
        await self.resource.check(self.settings, "delete", row)
        if not await self.store.delete(row["id"]):
            raise self.not_found(id)
        self.set_status(204)
        self.finish()


# -- the description of these calls, for /api/openapi.json ------------------------------------

MAX_ID = 2**63 - 1

# A body each create call accepts (tests load each one with the entity's schema).
EXAMPLES = {
    "templates": {"name": "Summary", "category": "writing",
                  "body": "Summarise {{text}} in three sentences."},
    "workflows": {"name": "Review", "description": "Summarise, then list open questions.",
                  "steps": [{"name": "summary", "templateId": 1, "variables": {"text": "..."}},
                            {"name": "questions", "prompt": "List the open questions."}]},
    "instructions": {"name": "Tone", "content": "Answer briefly and cite your sources.",
                     "active": True, "position": 0},
    "knowledge-bases": {"name": "Handbook", "description": "The team handbook."},
    "knowledge-sources": {"knowledgeBaseId": 1, "kind": "text", "title": "Brewing",
                          "content": "# Green tea\n\nSteep it at 80 degrees for two minutes."},
    "accounts": {"service": "github", "name": "Work", "username": "octocat",
                 "secret": "ghp_example"},
    "conversations": {"title": "Trip planning", "model": None, "temperature": 0.7,
                      "knowledgeBaseIds": [1]},
    "messages": {"conversationId": 1, "role": "user", "content": "What is Tornado?"},
    "tasks": {"title": "Compare two articles", "description": "Summarise both, then "
              "compare them.", "priority": "medium", "checkAnswers": True},
    "subtasks": {"taskId": 1, "title": "Summarise the first article", "kind": "summarize",
                 "dependsOn": []},
    "model-benchmarks": {"model": "qwen2.5-7b-instruct", "prompt": "Say hello.",
                         "ttftMs": 120.5, "tokensPerSecond": 42.0, "totalMs": 900.0,
                         "tokensGenerated": 30},
    "model-versions": {"model": "qwen2.5-7b-instruct", "version": "1.1",
                       "baseModel": "qwen2.5-7b-instruct", "notes": "Tuned on the handbook.",
                       "metrics": {"loss": 0.42}},
    "training-datasets": {"name": "Handbook Q&A", "format": "jsonl",
                          "content": '{"prompt": "Q?", "completion": "A."}\n'},
    "training-jobs": {"datasetId": 1, "baseModel": "qwen2.5-7b-instruct",
                      "params": {"epochs": 3}},
}


def tag_of(entity):
    return " ".join(w.capitalize() for w in entity.name.split("-"))


def camel_name(words):
    return "".join(w.capitalize() for w in words.replace("-", " ").split())


def filter_param(arg, column):
    if column.endswith("_id"):
        return param(arg, {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                     "Only the rows of this %s." % column[:-3].replace("_", " "))
    return param(arg, {"type": "string"}, "Only the rows whose %s is this." % arg)


def owned_note(entity):
    if not entity.owned:
        return ""
    owners = {}
    for key, owner in entity.owned.items():
        owners.setdefault(owner, []).append("`%s`" % key)
    return " Read-only here (a request that sets one answers 400 naming it): " + "; ".join(
        "%s (%s sets them)" % (", ".join(keys), owner) for owner, keys in owners.items()) + "."


def read_only_note(entity, action):
    if entity.written_by and action in entity.written_by:
        return " These records are read-only here: this call answers 405; %s." % (
            entity.written_by[action])
    return ""


def collection_doc(name):
    """The description of GET and POST /api/<name> (orchestra.web.apidoc)."""
    entity = entities.get(name)
    tag, schema = tag_of(entity), entity.create_schema
    query = [param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                             "default": 50}, "How many rows at most."),
             param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9,
                              "default": 0}, "How many rows to skip.")]
    if entity.search:
        query.append(param("q", {"type": "string", "maxLength": 200},
                           "Search words (case-insensitive for ASCII; `%`, `_` and `!` "
                           "match themselves); the other filters are then ignored.",
                           example="tea"))
    query += [filter_param(arg, column) for arg, column in entity.filters]
    page = {"type": "object", "required": ["items", "total", "limit", "offset"],
            "properties": {"items": {"type": "array", "items": schema},
                           "total": {"type": "integer", "minimum": 0,
                                     "description": "How many rows match in all."},
                           "limit": {"type": "integer"}, "offset": {"type": "integer"}}}
    writable = not (entity.written_by and "create" in entity.written_by)
    return {
        "get": op("List %s" % entity.name.replace("-", " "),
                  description="A page of rows, newest first." + (
                      "" if entity.search else " `q` is not supported here (400)."),
                  tags=(tag,), query=query, responses={200: ("A page of rows.", page)},
                  errors=(400,), operation_id="list" + camel_name(entity.name)),
        "post": op("Create a %s" % entity.singular,
                   description="Validated by the entity's schema (unknown keys refused); "
                               "answers 201 with the stored row and its `Location`."
                               + owned_note(entity) + read_only_note(entity, "create"),
                   tags=(tag,), body=entity.create_schema, body_example=EXAMPLES.get(name),
                   responses={201: ("The stored row.", schema)} if writable else {},
                   errors=(400, 409) + (() if writable else (405,)),
                   operation_id="create" + camel_name(entity.singular)),
    }


def item_doc(name):
    """The description of GET, PATCH and DELETE /api/<name>/{id}."""
    entity = entities.get(name)
    tag, schema, singular = tag_of(entity), entity.create_schema, camel_name(entity.singular)
    updatable = not (entity.written_by and "update" in entity.written_by)
    deletable = not (entity.written_by and "delete" in entity.written_by)
    return {
        "get": op("Get a %s" % entity.singular, tags=(tag,),
                  responses={200: ("The row.", schema)}, errors=(404,),
                  operation_id="get" + singular),
        "patch": op("Change a %s" % entity.singular,
                    description="Only the keys given change; each is validated as on "
                                "create." + owned_note(entity)
                                + read_only_note(entity, "update"),
                    tags=(tag,), body=entity.update_schema,
                    body_example=first_keys(EXAMPLES.get(name)),
                    responses={200: ("The row as stored now.", schema)} if updatable else {},
                    errors=(400, 404, 409) + (() if updatable else (405,)),
                    operation_id="update" + singular),
        "delete": op("Delete a %s" % entity.singular,
                     description="Answers 204 with no body." + read_only_note(entity, "delete"),
                     tags=(tag,), responses={204: ("Deleted.", None)} if deletable else {},
                     errors=(404, 409) + (() if deletable else (405,)),
                     operation_id="delete" + singular),
    }


def first_keys(example, count=1):
    """A PATCH example: the first key of the create example."""
    return dict(list(example.items())[:count]) if example else None


def crud_routes(name):
    """The two routes of one entity: /api/<name> and /api/<name>/<id>."""
    return [
        tornado.web.url(r"/api/%s" % name, CollectionHandler, {"resource": name},
                        name="api-%s" % name),
        tornado.web.url(r"/api/%s/([0-9]+)" % name, ItemHandler, {"resource": name},
                        name="api-%s-item" % name),
    ]


routes = [route for name in entities.ENTITIES for route in crud_routes(name)]
