"""Tools over HTTP: the catalogue (GET /api/tools) and running one (POST
/api/tools/{name}/run {args})."""

import logging

import tornado.web
from marshmallow import RAISE, Schema, fields

from orchestra.services.tools import registry
from orchestra.services.tools.registry import ToolContext, ToolError
from orchestra.services.web import errors as web_errors
from orchestra.web.apidoc import op
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


CATALOGUE = {
    "type": "object", "required": ["tools"], "additionalProperties": False,
    "properties": {"tools": {"type": "array", "items": {
        "type": "object", "required": ["name", "description", "parameters"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "parameters": {"type": "object",
                           "description": "The JSON Schema of the tool's `args`."}}}}},
}

TOOL_RESULT = {
    "type": "object", "required": ["ok", "text", "data"], "additionalProperties": False,
    "properties": {
        "ok": {"const": True},
        "text": {"type": "string", "description": "What the tool gives a model, as text."},
        "data": {"description": "The structured result (the tool's own shape)."}},
}

TOOL_ERROR = {
    "type": "object", "required": ["error"],
    "description": "The Error shape, with the tool's `code` when the tool refused or failed "
                   "(no `code` when the body itself is not valid).",
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string", "enum": list(registry.CODES + web_errors.CODES)},
        "fields": {"type": "object", "additionalProperties": True}},
}


class ToolsApi(ToolsMixin, ApiHandler):
    """Every tool with its description and its arguments' JSON Schema."""

    api_doc = {"get": op(
        "List the tools", tags=("Tools",), operation_id="listTools",
        description="Each tool with its one-line description and the JSON Schema of its "
                    "arguments, in the order they are offered to the planner.",
        responses={200: ("The catalogue.", CATALOGUE)})}

    async def get(self):
        self.write_json({"tools": self.tools.catalogue()})


class ToolRunApi(ToolsMixin, LimitedBody, ApiHandler):
    """Run one tool: 200 {ok, text, data}; 404 for an unknown tool; 400 {error, code,
    fields?} for arguments that do not fit or a tool that fails."""

    body_limit = 1_000_000
    body_name = "tool's arguments"

    api_path_params = (("name", "The tool's name, as the catalogue lists it (`web.fetch`)."),)
    api_doc = {"post": op(
        "Run a tool", tags=("Tools",), operation_id="runTool",
        description="Validates `args` with the tool's schema and runs it (a web tool reads "
                    "the page now; none writes to an outside service). An empty body runs "
                    "it with no arguments.",
        body=RunToolSchema, body_required=False,
        body_example={"args": {"query": "green tea", "limit": 3}},
        responses={200: ("The tool's result.", TOOL_RESULT),
                   400: ("Arguments that do not fit the tool (`code`: `invalid_args`, with "
                         "`fields`), a tool that failed (its `code`), or a body that is not "
                         "valid.", TOOL_ERROR)},
        errors=(404,))}

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
