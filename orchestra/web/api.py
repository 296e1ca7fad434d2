"""The generic JSON API: list, create, get, update and delete for every stored entity.

One pair of handlers serves all entities; the route's `resource` names which entity of the
registry (orchestra.entities) it is: its store, schemas, row hooks, owner rules and search,
the same description the form pages read.
"""

import logging

import tornado.web

from orchestra import entities
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

    async def get(self):
        limit = self.int_argument("limit", 50, 1, MAX_PAGE)
        offset = self.int_argument("offset", 0, 0, 10**9)
        query = self.get_query_argument("q", "").strip()
        if query:
            rows, total = await self.search(query, limit, offset)
        else:
            filters = {column: self.get_query_argument(arg, None)
                       for arg, column in self.resource.filters}
            rows, total = await self.store.page(limit=limit, offset=offset, **filters)
        self.write_json({"items": self.resource.dump(rows, many=True), "total": total,
                         "limit": limit, "offset": offset})

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

    async def fetch_row(self, id):
        row = await self.store.get(int(id))
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
        row = await self.store.update(int(id), self.resource.to_row(data, self.settings, old))
        if row is None:
            raise self.not_found(id)
        if self.resource.after_update:
            self.resource.after_update(old, row, data, self.settings)
        self.write_json(self.resource.dump(row))

    async def delete(self, id):
        row = await self.fetch_row(id)
        await self.resource.check(self.settings, "delete", row)
        if not await self.store.delete(int(id)):
            raise self.not_found(id)
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


routes = [route for name in entities.ENTITIES for route in crud_routes(name)]
