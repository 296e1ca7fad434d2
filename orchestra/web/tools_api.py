"""Tools over HTTP: the catalogue (GET /api/tools) and running one (POST
/api/tools/{name}/run {args})."""

import logging

import tornado.web
from marshmallow import RAISE, Schema, fields

from orchestra.services.tools.registry import ToolContext, ToolError
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody

logger = logging.getLogger(__name__)


class RunToolSchema(Schema):
    class Meta:
        unknown = RAISE

    args = fields.Dict(keys=fields.String(), load_default=dict)


class ToolsMixin:
    @property
    def tools(self):
        return self.settings["tools"]


class ToolsApi(ToolsMixin, ApiHandler):
    """Every tool with its description and its arguments' JSON Schema."""

    async def get(self):
        self.write_json({"tools": self.tools.catalogue()})


class ToolRunApi(ToolsMixin, LimitedBody, ApiHandler):
    """Run one tool: 200 {ok, text, data}; 404 for an unknown tool; 400 {error, code,
    fields?} for arguments that do not fit or a tool that fails."""

    body_limit = 1_000_000
    body_name = "tool's arguments"

    async def post(self, name):
        if self.tools.get(name) is None:
            raise ApiError(404, "No tool called %s." % name)
        body = self.load(RunToolSchema()) if self.request.body.strip() else {"args": {}}
        context = ToolContext(self.services, self.stores, hub=self.hub)
        try:
            result = await self.tools.run(name, body["args"], context)
        except ToolError as error:
            return self.write_json(error.as_dict(), status=400)
        self.write_json({"ok": True, "text": result.text, "data": result.data})


routes = [
    tornado.web.url(r"/api/tools", ToolsApi, name="api-tools"),
    tornado.web.url(r"/api/tools/([A-Za-z0-9_.-]+)/run", ToolRunApi, name="api-tool-run"),
]
