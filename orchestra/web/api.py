"""The generic JSON API: list, create, get, update and delete for every stored entity.

One pair of handlers serves all entities; the route's `resource` names which. A Resource
ties a store to its create/update schemas and to the optional steps that turn validated
input into columns (accounts have their secret encrypted by services.secrets).
"""

import logging

import tornado.web

from orchestra import schemas
from orchestra.services import secrets
from orchestra.web.base import ApiError, ApiHandler

logger = logging.getLogger(__name__)

MAX_PAGE = 200


class Resource:
    """An entity as the API sees it."""

    def __init__(self, name, store, create_schema, update_schema, to_row=None,
                 filters=(), parent=None, after_create=None):
        self.name = name
        self.store = store                    # attribute of settings["stores"]
        self.create_schema = create_schema
        self.update_schema = update_schema
        self.to_row = to_row                  # (data, settings) -> columns
        self.filters = filters                # query arguments that filter lists: (arg, column)
        self.parent = parent                  # (column, parent resource) for nested lists
        self.after_create = after_create      # (row, settings) -> None, e.g. start a fetch

    def dump(self, row, many=False):
        return self.create_schema().dump(row, many=many)

    def row(self, data, settings):
        return self.to_row(data, settings) if self.to_row else data


def account_row(data, settings):
    return secrets.account_columns(data, settings["secrets"])


def source_row(data, settings):
    """A URL source starts out pending: its content arrives when the page is fetched."""
    if data.get("kind") == "url":
        data = dict(data, status="pending", content="")
    return data


def fetch_url_source(row, settings):
    if row.kind == "url":
        settings["services"]["webfetch"].fetch_source(row.id, row.url)


RESOURCES = {r.name: r for r in [
    Resource("templates", "templates", schemas.CreateTemplateSchema,
             schemas.UpdateTemplateSchema, filters=(("category", "category"),)),
    Resource("workflows", "workflows", schemas.CreateWorkflowSchema,
             schemas.UpdateWorkflowSchema),
    Resource("instructions", "instructions", schemas.CreateInstructionSchema,
             schemas.UpdateInstructionSchema),
    Resource("knowledge-bases", "knowledge_bases", schemas.CreateKnowledgeBaseSchema,
             schemas.UpdateKnowledgeBaseSchema),
    Resource("knowledge-sources", "knowledge_sources", schemas.CreateKnowledgeSourceSchema,
             schemas.UpdateKnowledgeSourceSchema,
             to_row=source_row, after_create=fetch_url_source,
             filters=(("knowledgeBaseId", "knowledge_base_id"),),
             parent=("knowledge_base_id", "knowledge_bases")),
    Resource("accounts", "accounts", schemas.CreateAccountSchema, schemas.UpdateAccountSchema,
             to_row=account_row, filters=(("service", "service"),)),
    Resource("conversations", "conversations", schemas.CreateConversationSchema,
             schemas.UpdateConversationSchema),
    Resource("messages", "messages", schemas.CreateMessageSchema, schemas.UpdateMessageSchema,
             filters=(("conversationId", "conversation_id"),),
             parent=("conversation_id", "conversations")),
    Resource("tasks", "tasks", schemas.CreateTaskSchema, schemas.UpdateTaskSchema,
             filters=(("status", "status"),)),
    Resource("subtasks", "subtasks", schemas.CreateSubtaskSchema, schemas.UpdateSubtaskSchema,
             filters=(("taskId", "task_id"),), parent=("task_id", "tasks")),
    Resource("model-benchmarks", "benchmarks", schemas.CreateBenchmarkSchema,
             schemas.UpdateBenchmarkSchema, filters=(("model", "model"),)),
    Resource("model-versions", "model_versions", schemas.CreateModelVersionSchema,
             schemas.UpdateModelVersionSchema, filters=(("model", "model"),)),
    Resource("training-datasets", "datasets", schemas.CreateDatasetSchema,
             schemas.UpdateDatasetSchema),
    Resource("training-jobs", "training_jobs", schemas.CreateTrainingJobSchema,
             schemas.UpdateTrainingJobSchema, filters=(("status", "status"),)),
    Resource("web-fetch-results", "web_fetches", schemas.CreateWebFetchSchema,
             schemas.UpdateWebFetchSchema),
]}


class ResourceMixin:
    def initialize(self, resource):
        self.resource = RESOURCES[resource]

    @property
    def store(self):
        return getattr(self.stores, self.resource.store)

    async def check_parent(self, data):
        """A child row (a message, a subtask, a source) must name a parent that exists."""
        if self.resource.parent is None:
            return
        column, parent = self.resource.parent
        if column in data and await getattr(self.stores, parent).get(data[column]) is None:
            field = self.resource.create_schema().fields[column].data_key or column
            raise ApiError(400, "Invalid input.", fields={field: ["No such record."]})


class CollectionHandler(ResourceMixin, ApiHandler):
    """GET: a page of rows, newest first. POST: create one (201 with the stored row)."""

    async def get(self):
        limit = self.int_argument("limit", 50, 1, MAX_PAGE)
        offset = self.int_argument("offset", 0, 0, 10**9)
        filters = {column: self.get_query_argument(arg, None)
                   for arg, column in self.resource.filters}
        rows = await self.store.list(limit=limit, offset=offset, **filters)
        total = await self.store.count(**filters)
        self.write_json({"items": self.resource.dump(rows, many=True), "total": total,
                         "limit": limit, "offset": offset})

    async def post(self):
        data = self.load(self.resource.create_schema())
        await self.check_parent(data)
        row = await self.store.create(self.resource.row(data, self.settings))
        if self.resource.after_create:
            self.resource.after_create(row, self.settings)
        self.set_header("Location", "%s/%d" % (self.request.path, row.id))
        self.write_json(self.resource.dump(row), status=201)


class ItemHandler(ResourceMixin, ApiHandler):
    """GET, PATCH and DELETE one row by id."""

    async def fetch_row(self, id):
        row = await self.store.get(int(id))
        if row is None:
            raise ApiError(404, "No %s with id %s." % (self.resource.name.rstrip("s"), id))
        return row

    async def get(self, id):
        self.write_json(self.resource.dump(await self.fetch_row(id)))

    async def patch(self, id):
        await self.fetch_row(id)
        data = self.load(self.resource.update_schema())
        await self.check_parent(data)
        row = await self.store.update(int(id), self.resource.row(data, self.settings))
        if row is None:
            raise ApiError(404, "No %s with id %s." % (self.resource.name.rstrip("s"), id))
        self.write_json(self.resource.dump(row))

    async def delete(self, id):
        if not await self.store.delete(int(id)):
            raise ApiError(404, "No %s with id %s." % (self.resource.name.rstrip("s"), id))
        self.set_status(204)
        self.finish()


def crud_routes(name):
    """The two routes of one entity: /api/<name> and /api/<name>/<id>."""
    return [
        tornado.web.url(r"/api/%s" % name, CollectionHandler, {"resource": name},
                        name="api-%s" % name),
        tornado.web.url(r"/api/%s/([0-9]+)" % name, ItemHandler, {"resource": name},
                        name="api-%s-item" % name),
    ]


routes = [route for name in RESOURCES for route in crud_routes(name)]
