"""The tool registry: named tools with a one-line description, a marshmallow schema for their
arguments (published as JSON Schema) and an async `run(args, context)`.

Tasks (a subtask of kind "tool"), the planner (offered the catalogue) and the API
(`/api/tools`) all go through one Registry, so a tool's arguments are checked the same way
wherever they come from. Arguments arrive as JSON (camelCase keys, as the wire has them); a
tool's `run` gets them loaded by its schema (snake_case, defaults filled in).
"""

import abc
import dataclasses
import logging

from marshmallow import ValidationError

from orchestra.schema_json import json_schema
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

#: codes a ToolError carries besides the web service's (orchestra.services.web.errors.CODES)
CODES = (
    "not_found",      # no tool of that name
    "invalid_args",   # the arguments do not fit the tool's schema (`fields` says which)
    "unavailable",    # the service the tool needs is not running
    "failed",         # the tool ran and could not do what was asked
)


class ToolError(Exception):
    """A tool that could not run, or failed: `code`, one sentence, and per-field messages
    for invalid arguments."""

    http_status = 400

    def __init__(self, code, message, fields=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields

    def as_dict(self):
        body = {"error": self.message, "code": self.code}
        if self.fields:
            body["fields"] = self.fields
        return body


@dataclasses.dataclass
class ToolResult:
    """What a tool hands back: text for a model (or a person), and the structured data."""
    text: str
    data: object = None


@dataclasses.dataclass
class ToolContext:
    """What a running tool may use: the app's services and stores (and its hub), and the
    task and subtask it runs for (None when run through the API)."""
    services: dict
    stores: object
    task_id: int | None = None
    subtask_id: int | None = None
    hub: object = None

    def service(self, name, tool):
        """The service `name`; ToolError "unavailable" when it is not running."""
        found = (self.services or {}).get(name)
        if found is None:
            raise ToolError("unavailable", "The tool %s needs the %s service, which is not "
                            "running." % (tool, name))
        return found


class Tool(abc.ABC):
    """A tool: subclasses set `name`, `description` (one line) and `schema` (a marshmallow
    Schema class for the arguments) and implement `run`."""

    name = None
    description = None
    schema = None

    @abc.abstractmethod
    async def run(self, args, context):
        """ToolResult for `args` (loaded by `schema`); raises ToolError (or WebError)."""

    def suits(self, task):
        """Whether the planner of `task` (a task row) is offered this tool: a tool the task
        cannot use would only lengthen a small model's prompt and tempt it."""
        return True


class Registry:
    def __init__(self, tools=()):
        self._tools = {}
        self._parameters = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool):
        """Add a tool (an instance); its name must be new and its schema must convert."""
        for attribute in ("name", "description", "schema"):
            if not getattr(tool, attribute, None):
                raise ValueError("a tool needs a %s: %r" % (attribute, tool))
        if tool.name in self._tools:
            raise ValueError("a tool named %s is registered already" % tool.name)
        self._parameters[tool.name] = json_schema(tool.schema)
        self._tools[tool.name] = tool
        return tool

    def select(self, names):
        """A Registry of these tools of this one (schemas already converted)."""
        chosen = Registry()
        for name in names:
            chosen._tools[name] = self._tools[name]
            chosen._parameters[name] = self._parameters[name]
        return chosen

    def for_task(self, task):
        """The tools whose `suits(task)` is true, as a Registry (maybe an empty one)."""
        return self.select([name for name, tool in self._tools.items() if tool.suits(task)])

    def get(self, name):
        """The tool called `name`, or None."""
        return self._tools.get(name)

    def names(self):
        return list(self._tools)

    def parameters(self, name):
        return self._parameters[name]

    def catalogue(self):
        """[{"name", "description", "parameters": JSON Schema}], in the order registered."""
        return [{"name": tool.name, "description": tool.description,
                 "parameters": self._parameters[tool.name]} for tool in self._tools.values()]

    def validate(self, name, args):
        """`args` loaded by the tool's schema; ToolError not_found or invalid_args."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError("not_found", "There is no tool called %r; the tools are: %s."
                            % (name, ", ".join(self._tools) or "none"))
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ToolError("invalid_args", "The arguments of %s must be a JSON object." % name,
                            fields={"args": ["Not an object."]})
        try:
            return tool.schema().load(args)
        except ValidationError as error:
            raise ToolError("invalid_args", "Invalid arguments for %s. %s" % (
                name, describe_fields(error.messages)), fields=error.messages) from None

    def step_problems(self, step):
        """{field: messages} for what is wrong with a subtask (snake_case keys kind, tool,
        args) as a tool step: its tool must exist and its args fit; {} for a subtask of
        another kind."""
        if step.get("kind") != "tool":
            return {}
        if not step.get("tool"):
            return {"tool": ['A subtask of kind "tool" names the tool it runs.']}
        try:
            self.validate(step["tool"], step.get("args"))
        except ToolError as error:
            if error.code == "not_found":
                return {"tool": [error.message]}
            return {"args": error.fields or [error.message]}
        return {}

    def check_step(self, step):
        """ToolError invalid_args (HTTP 400, with `fields`) when step_problems finds any."""
        problems = self.step_problems(step)
        if problems:
            raise ToolError("invalid_args", "Invalid input. %s" % describe_fields(problems),
                            fields=problems)

    async def run(self, name, args, context):
        """Validate `args` and run the tool; a WebError comes back as a ToolError with its
        code. Anything else a tool raises is a bug and propagates."""
        loaded = self.validate(name, args)
        try:
            result = await self._tools[name].run(loaded, context)
        except WebError as error:
            raise ToolError(error.code, error.message) from None
        if not isinstance(result, ToolResult):
            raise TypeError("%s returned %r, not a ToolResult" % (name, result))
        return result


def describe_fields(messages, prefix=""):
    """marshmallow's {field: [messages]} (nested dicts too) as one line:
    "url: Not a valid URL. bogus: Unknown field." """
    if isinstance(messages, dict):
        return " ".join(describe_fields(value, "%s%s" % (prefix + "." if prefix else "", key))
                        for key, value in messages.items())
    if isinstance(messages, list):
        messages = " ".join(str(m) for m in messages)
    return "%s: %s" % (prefix, messages) if prefix else str(messages)


def default_registry():
    """The tools every Orchestra has: web.fetch, web.search_page, web.crawl and
    knowledge.search."""
    from orchestra.services.tools.knowledge_tools import KnowledgeSearchTool
    from orchestra.services.tools.web_tools import CrawlTool, FetchTool, SearchPageTool
    return Registry([FetchTool(), SearchPageTool(), CrawlTool(), KnowledgeSearchTool()])
