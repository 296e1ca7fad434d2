"""Generic pages for stored entities: list, new, show, edit, delete.

One set of handlers serves templates, workflows, instructions, knowledge bases and
accounts; the route's `entity` (a forms.PageEntity) says which, and carries what differs.
Writes go through the entity's registry entry (orchestra.entities), as the JSON API's do:
the same row hooks, owner rules and guards.
"""

import logging

import tornado.web

from orchestra.entities import Conflict
from orchestra.web.base import BaseHandler
from orchestra.web.bodies import LimitedBody
from orchestra.web.forms import FormRedisplay

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


class EntityPage(LimitedBody, BaseHandler):
    """What every entity page shares: the entity, its store, rendering and saving."""

    def initialize(self, entity):
        self.entity = entity

    @property
    def store(self):
        return getattr(self.stores, self.entity.store)

    def url_for(self, page, *args):
        return self.reverse_url("%s-%s" % (self.entity.name, page), *args)

    async def row_or_404(self, id):
        row = await self.store.get(self.path_id(id, self.entity.singular))
        if row is None:
            raise tornado.web.HTTPError(404, "No %s with id %s." % (self.entity.singular, id))
        return row

    async def render_form(self, form, errors, item=None, status=None):
        extra = await self.entity.form_context(self, form)
        self.render_template(self.entity.form_template, status=status, entity=self.entity,
                             form=form, errors=errors, item=item, **extra)

    async def render_item(self, row, status=None, **context):
        item = self.entity.dump(row)
        context = dict(await self.entity.detail_context(self, item), **context)
        self.render_template(self.entity.detail_template, status=status, entity=self.entity,
                             item=item, **context)

    async def save(self, id=None):
        """Validate the posted form and write it; on failure show it again, writing nothing."""
        spec = self.entity.spec
        form = self.entity.read_form(self)
        old = await self.row_or_404(id) if id else None
        item = self.entity.dump(old) if id else None
        try:
            data = await self.entity.validate(self, form, creating=id is None)
        except FormRedisplay as e:
            await self.render_form(e.form, e.errors, item=item, status=e.status)
            return
        try:
            await spec.check(self.settings, "create" if id is None else "update", old, data)
        except Conflict as e:  # the form comes back as written, with the reason
            await self.render_form(form, {"_form": e.message}, item=item, status=409)
            return
        columns = spec.to_row(data, self.settings, old)
        row = await (self.store.create(columns) if id is None
                     else self.store.update(int(id), columns))
        if row is None:  # deleted meanwhile
            raise tornado.web.HTTPError(404, "No %s with id %s." % (self.entity.singular, id))
        if id is None and spec.after_create:
            spec.after_create(row, self.settings)
        elif id is not None and spec.after_update:
            spec.after_update(old, row, data, self.settings)
        self.flash("%s %s." % (self.entity.label(self.entity.dump(row)),
                               "created" if id is None else "saved"))
        self.redirect(self.url_for("show", row.id), status=303)


class ListPage(EntityPage):
    async def get(self):
        filters = {name: self.get_query_argument(name, None) or None
                   for name in self.entity.filters}
        try:
            # Past the last row the page is empty; past 10^9 SQLite could not even bind it.
            offset = min(max(0, int(self.get_query_argument("offset", "0"))), 10**9)
        except ValueError:
            offset = 0
        rows = await self.store.list(limit=PAGE_SIZE, offset=offset, **filters)
        total = await self.store.count(**filters)
        extra = await self.entity.list_context(self)
        self.render_template(self.entity.list_template, entity=self.entity,
                             items=self.entity.dump(rows, many=True), total=total,
                             offset=offset, page_size=PAGE_SIZE, filters=filters, **extra)


class NewPage(EntityPage):
    async def get(self):
        await self.render_form(self.entity.blank(), {})

    async def post(self):
        await self.save()


class ShowPage(EntityPage):
    async def get(self, id):
        await self.render_item(await self.row_or_404(id))


class EditPage(EntityPage):
    async def get(self, id):
        item = self.entity.dump(await self.row_or_404(id))
        await self.render_form(self.entity.form_from_item(item), {}, item=item)

    async def post(self, id):
        await self.save(id)


class DeletePage(EntityPage):
    async def post(self, id):
        row = await self.row_or_404(id)
        await self.entity.spec.check(self.settings, "delete", row)
        if not await self.store.delete(row.id):
            raise tornado.web.HTTPError(404, "No %s with id %s." % (self.entity.singular, id))
        self.flash("%s deleted." % self.entity.label(self.entity.dump(row)))
        self.redirect(self.url_for("list"), status=303)


def page_routes(entity):
    """The five routes of one entity's pages, named <name>-list, -new, -show, -edit, -delete."""
    base, kwargs = "/" + entity.name, {"entity": entity}
    return [
        tornado.web.url(base, ListPage, kwargs, name=entity.name + "-list"),
        tornado.web.url(base + "/new", NewPage, kwargs, name=entity.name + "-new"),
        tornado.web.url(base + r"/([0-9]+)", ShowPage, kwargs, name=entity.name + "-show"),
        tornado.web.url(base + r"/([0-9]+)/edit", EditPage, kwargs, name=entity.name + "-edit"),
        tornado.web.url(base + r"/([0-9]+)/delete", DeletePage, kwargs,
                        name=entity.name + "-delete"),
    ]
