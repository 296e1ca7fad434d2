"""Tool steps: what the planner is told about the tools, how a plan's tool step is read and
checked, and how a tool step runs.

A subtask of kind "tool" names a tool of the registry and its arguments (JSON, as the
tool's schema takes them). It runs without a model and without a slot of the gate: the
registry validates the arguments and runs the tool; its text is the subtask's result (and so
what the subtasks that depend on it are given), and its check is the tool's own success or
failure, not the hallucination detector.
"""

import json
import logging
import time

from orchestra.db import utcnow
from orchestra.services.tools.registry import ToolContext, ToolError

logger = logging.getLogger(__name__)

# The plan's two fields for tools, described with the other fields of a subtask.
TOOL_FIELDS = """
- "tool": for a subtask of kind "tool", the name of the tool it runs; null for any other
- "args": the tool's arguments, a JSON object as the tool describes them below; {} for any \
other subtask"""

TOOLS_INTRO = """Tools: a subtask of kind "tool" runs one of these tools instead of asking a \
model, and the subtasks that depend on it are given what the tool returns. Use a tool for a \
step that needs what only the tool can get (a web page, the knowledge base), with the \
arguments taken from the task (a URL it names, say); then let later subtasks work on its \
result."""

# The worked example of a tool step: small models copy an example's shape faithfully.
TOOL_EXAMPLE = (
    "Fetch https://example.com/news, then summarise it",
    [{"id": 1, "title": "Read the page", "instructions": "Fetch https://example.com/news.",
      "kind": "tool", "tool": "web.fetch", "args": {"url": "https://example.com/news"},
      "dependsOn": []},
     {"id": 2, "title": "Summary of the page", "instructions": "Summarise the page in a few "
      "sentences.", "kind": "summarize", "tool": None, "args": {}, "dependsOn": [1]}])
EXAMPLE_TOOL = "web.fetch"   # the example is shown only when this tool is offered


def offered(tools):
    """Whether a plan may use tools: a registry with at least one."""
    return tools is not None and bool(tools.names())


def tools_prompt(tools):
    """The catalogue as the planning prompt lists it: each tool with its description and
    its arguments."""
    lines = [TOOLS_INTRO]
    for entry in tools.catalogue():
        lines.append('- %s: %s Arguments ("args"):' % (entry["name"], entry["description"]))
        lines.extend("    " + line for line in describe_parameters(entry["parameters"]))
    return "\n".join(lines)


def describe_parameters(parameters):
    """One line per argument of a JSON Schema: name, type, required or default, meaning."""
    required = set(parameters.get("required") or ())
    lines = []
    for name, prop in (parameters.get("properties") or {}).items():
        if "enum" in prop:
            kind = " | ".join(json.dumps(v) for v in prop["enum"] if v is not None)
        else:
            kinds = prop.get("type")
            kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"]
            kind = " or ".join(k for k in kinds if k) or "any"
            if kind == "array" and isinstance(prop.get("items"), dict):
                kind = "array of %s" % prop["items"].get("type", "any")
        bounds = [("from %s" % prop["minimum"]) if "minimum" in prop else "",
                  ("to %s" % prop["maximum"]) if "maximum" in prop else ""]
        if any(bounds):
            kind += ", " + " ".join(b for b in bounds if b)
        if prop.get("format") == "uri":
            kind += ", a URL"
        if name in required:
            kind += ", required"
        elif prop.get("default") is not None:
            kind += ", default %s" % json.dumps(prop["default"])
        line = "%s (%s)" % (name, kind)
        if prop.get("description"):
            line += ": " + prop["description"]
        lines.append(line)
    return lines


def with_tool_fields(subtasks):
    """An example plan's subtasks with "tool": null and "args": {} where they run no tool,
    as the schema asks for every subtask once tools are offered."""
    return [dict(s, tool=s.get("tool"), args=s.get("args") or {}) for s in subtasks]


def read_tool_step(item, kind, tools):
    """(tool name, args) of a planned subtask that runs a tool, or None for one that does
    not. A subtask runs a tool when its kind is "tool" or it names one; the tool must exist
    and the arguments fit its schema, else ToolError (whose message goes back to the model)."""
    name = item.get("tool")
    if isinstance(name, str):
        name = name.strip()
    if kind != "tool" and not name:
        return None
    if not isinstance(name, str) or not name:
        raise ToolError("invalid_args", 'It is of kind "tool" but "tool" names no tool; the '
                        "tools are: %s." % ", ".join(tools.names()))
    args = item.get("args")
    if args is None:
        args = {}
    elif isinstance(args, dict):  # a null says "the default" as well as leaving it out does
        args = {key: value for key, value in args.items() if value is not None}
    tools.validate(name, args)
    return name, args


class ToolStepRunner:
    """The part of the Orchestrator that runs tool steps (it provides stores, tools,
    services, hub and _set_subtask)."""

    async def _run_tool(self, task, subtask):
        """Run a tool step; its row as it ends (completed with the tool's text, or failed
        with why)."""
        task_id, sub_id, name = task["id"], subtask["id"], subtask["tool"]
        began = time.monotonic()
        attempts = (subtask["attempts"] or 0) + 1
        await self._set_subtask(task_id, sub_id, "subtask_started", status="running",
                                model=None, error=None, started_at=utcnow())
        context = ToolContext(self.services or {}, self.stores, task_id=task_id,
                              subtask_id=sub_id, hub=self.hub)
        try:
            if self.tools is None:
                raise ToolError("unavailable", "No tools are available to this orchestrator.")
            result = await self.tools.run(name, subtask["args"] or {}, context)
        except ToolError as error:
            logger.info("task %s: tool step %s (%s) failed: %s", task_id, sub_id, name,
                        error.message)
            return await self._tool_failed(task_id, sub_id, name, error.code, error.message,
                                           attempts, began)
        except Exception as error:  # noqa: BLE001 - a tool's bug fails its step, not the loop
            logger.exception("task %s: tool step %s (%s) broke", task_id, sub_id, name)
            return await self._tool_failed(task_id, sub_id, name, "failed", "The tool %s "
                                           "failed unexpectedly: %s" % (name, error), attempts,
                                           began)
        return await self._set_subtask(
            task_id, sub_id, "subtask_completed", status="completed", result=result.text,
            error=None, attempts=attempts, completed_at=utcnow(), score=None,
            verdict={"verdict": "ok", "tool": name}, prompt_tokens=0, completion_tokens=0,
            duration_ms=elapsed_ms(began))

    async def _tool_failed(self, task_id, sub_id, name, code, message, attempts, began):
        return await self._set_subtask(
            task_id, sub_id, "subtask_failed", status="failed", error=message,
            attempts=attempts, completed_at=utcnow(), score=None,
            verdict={"verdict": "failed", "tool": name, "code": code},
            duration_ms=elapsed_ms(began))


def elapsed_ms(began):
    return int((time.monotonic() - began) * 1000)
