"""Planning: the prompt that asks a model for subtasks, and reading (or repairing) its JSON."""

import json
import logging
import re

from orchestra.services import orchestrator_tools as tool_steps
from orchestra.services.lmstudio.structured import repair_json as _repair
from orchestra.services.tools.registry import ToolError

logger = logging.getLogger(__name__)

MAX_SUBTASKS = 12
#: what a subtask does, and so which model and which checks suit it
KINDS = ("answer", "summarize", "translate", "extract", "code", "creative", "tool")
#: the kinds a model answers; a "tool" step runs a tool of the registry instead
MODEL_KINDS = KINDS[:-1]
KIND_MEANINGS = {
    "answer": "answer a question or explain something",
    "summarize": "shorten a given text to its main points",
    "translate": "put a text into another language",
    "extract": "pull items (keywords, names, dates, figures) out of a text",
    "code": "write, fix or explain program code",
    "creative": "write a poem, haiku, story or other invented text",
    "tool": "run one of the tools listed below instead of asking a model",
}
_TASK_TYPES = {"summarize": "summarization", "code": "code"}
# Names a model (or an older plan) may use for a kind.
_KIND_ALIASES = {
    "chat": "answer", "reasoning": "answer", "long-context": "answer", "question": "answer",
    "explain": "answer", "summarization": "summarize", "summary": "summarize",
    "summarise": "summarize", "translation": "translate", "extraction": "extract",
    "list": "extract", "keywords": "extract", "coding": "code", "writing": "creative",
    "write": "creative", "poem": "creative", "haiku": "creative", "story": "creative",
}

PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "subtasks": {
            "type": "array", "minItems": 1, "maxItems": MAX_SUBTASKS,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "instructions": {"type": "string"},
                    "kind": {"type": "string", "enum": list(MODEL_KINDS)},
                    "dependsOn": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["id", "title", "instructions", "kind", "dependsOn"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["subtasks"],
    "additionalProperties": False,
}



def plan_schema(task, tools=None):
    """PLAN_SCHEMA for this task: when its wording names several steps ("A, then B"), at
    least that many subtasks, so a server that constrains its output to the schema cannot
    merge them; a task that names no steps may still get one subtask. With tools offered
    (a Registry), each subtask also names its tool (one of theirs, or null) and its args."""
    steps = len(named_steps(task["title"]))
    if steps == 1 and not tool_steps.offered(tools):
        return PLAN_SCHEMA
    schema = json.loads(json.dumps(PLAN_SCHEMA))
    schema["properties"]["subtasks"]["minItems"] = min(steps, MAX_SUBTASKS)
    if tool_steps.offered(tools):
        item = schema["properties"]["subtasks"]["items"]
        item["properties"]["kind"]["enum"] = list(KINDS)
        item["properties"]["tool"] = {"type": ["string", "null"],
                                      "enum": tools.names() + [None]}
        item["properties"]["args"] = {"type": "object"}
        item["required"] += ["tool", "args"]
    return schema


PLAN_SYSTEM = """You plan work for a local language model. Break the user's task into at \
most {max} subtasks that can each be done with one answer. When the task names several steps \
("do this, then that", "first ..., then ...", "and then"), make one subtask for each step, in \
the order given. A task with a single step gets a single subtask.
Each subtask has:
- "id": its number (1, 2, 3 ...)
- "title": a short title
- "instructions": what to do in this step
- "kind", one of:
{kinds}
- "dependsOn": the ids of earlier subtasks whose results this one needs; [] for the \
first subtask and for any that needs no earlier result{tool_fields}
Reply with one JSON object only, no prose: {{"subtasks": [...]}}."""

# Worked examples, tasks with one step and with two: small models follow an example
# far better than a description of the shape.
PLAN_EXAMPLES = [
    ("Write a poem about the sea, then translate it into Italian",
     [{"id": 1, "title": "Poem about the sea", "instructions": "Write a short poem about the "
       "sea.", "kind": "creative", "dependsOn": []},
      {"id": 2, "title": "Italian translation", "instructions": "Translate the poem into "
       "Italian.", "kind": "translate", "dependsOn": [1]}]),
    ("What is the boiling point of water at sea level?",
     [{"id": 1, "title": "Boiling point of water", "instructions": "Answer: what is the "
       "boiling point of water at sea level?", "kind": "answer", "dependsOn": []}]),
    ("Summarize the report below, then list the people it names",
     [{"id": 1, "title": "Summary of the report", "instructions": "Summarize the report in "
       "a few sentences.", "kind": "summarize", "dependsOn": []},
      {"id": 2, "title": "People named", "instructions": "List the people the report "
       "names.", "kind": "extract", "dependsOn": []}]),
]


_STEP_BREAK = re.compile(r"(?:,|;|\.)?\s+(?:and\s+)?(?:then|afterwards|after that|finally)\b"
                         r"|;\s+|^\s*first\b", re.IGNORECASE)


class PlanError(ValueError):
    """The model's answer is not a usable plan; the message says why (and goes back to it)."""


def model_task_type(kind):
    """recommend_model's task type for a subtask kind."""
    return _TASK_TYPES.get(kind, "chat")


def normalize_kind(kind):
    """A kind from KINDS for what a model wrote (answer when it is none of them)."""
    kind = str(kind or "").strip().lower()
    kind = _KIND_ALIASES.get(kind, kind)
    return kind if kind in KINDS else "answer"


def plan_messages(task, instructions=(), excerpt=None, tools=None):
    """The planning request; `excerpt` ({"name", "text"}) is the start of the task's
    knowledge base, whose passages about each step that step will be given; `tools` (a
    Registry) the tools a step may run, listed with their arguments."""
    with_tools = tool_steps.offered(tools)
    kinds = "\n".join("  %s: %s" % (kind, KIND_MEANINGS[kind])
                      for kind in (KINDS if with_tools else MODEL_KINDS))
    system = PLAN_SYSTEM.format(max=MAX_SUBTASKS, kinds=kinds,
                                tool_fields=tool_steps.TOOL_FIELDS if with_tools else "")
    if with_tools:
        system += "\n\n" + tool_steps.tools_prompt(tools)
    if instructions:
        system += "\n\nStanding instructions for all work:\n" + "\n".join(
            "- " + i["content"] for i in instructions)
    user = "Task: %s" % task["title"]
    if task.get("description"):
        user += "\n\n%s" % task["description"]
    if excerpt:
        user += ('\n\nEach subtask will be given the passages of the knowledge base "%s" '
                 "that its title and instructions are about, so name in them what it needs. "
                 "The knowledge base begins:\n%s" % (excerpt["name"], excerpt["text"]))
    user += step_hint(task["title"])
    worked = PLAN_EXAMPLES
    if with_tools:
        worked = [(example, tool_steps.with_tool_fields(subtasks))
                  for example, subtasks in PLAN_EXAMPLES]
        if tool_steps.EXAMPLE_TOOL in tools.names():
            worked.insert(1, tool_steps.TOOL_EXAMPLE)
    examples = []
    for example, subtasks in worked:
        examples += [{"role": "user", "content": "Task: %s%s" % (example, step_hint(example))},
                     {"role": "assistant", "content": json.dumps({"subtasks": subtasks})}]
    return [{"role": "system", "content": system}, *examples, {"role": "user", "content": user}]


def named_steps(text):
    """The steps a task's wording names in order ("A, then B", "first A; then B"), or the
    whole text as one step; a hint for models too small to split a task on their own."""
    parts = [part.strip(" ,.;:") for part in _STEP_BREAK.split(text or "")]
    parts = [part for part in parts if len(part.split()) >= 2]
    return parts if len(parts) > 1 else [(text or "").strip()]


def step_hint(title):
    """What the task's wording says about its steps, for the end of the planning request."""
    steps = named_steps(title)
    if len(steps) == 1:
        return ""  # the model judges; wording without "then" may still hide several steps
    return "\n\nThe task names %d steps:\n%s\nMake one subtask for each." % (
        len(steps), "\n".join("%d. %s" % (i, step) for i, step in enumerate(steps, 1)))


def feedback_message(answer, problem):
    """What goes back to the model after an unusable plan, so its next try can do better."""
    return [{"role": "assistant", "content": answer},
            {"role": "user", "content": "That answer cannot be used: %s Reply again with the "
             "JSON object only, exactly in the shape asked for." % problem}]


def missing_steps(task, plan):
    """Why a plan falls short of the steps the task's wording names, or None."""
    steps = named_steps(task["title"])
    if len(plan) >= len(steps):
        return None
    return "The task names %d steps (%s), but the plan has %d subtask%s." % (
        len(steps), "; ".join("%d. %s" % (i, s) for i, s in enumerate(steps, 1)), len(plan),
        "" if len(plan) == 1 else "s")


def steps_feedback(answer, missing):
    """The request for a plan again after one with too few subtasks."""
    return [{"role": "assistant", "content": answer},
            {"role": "user", "content": "%s Reply again with one subtask for each step, as "
             "the JSON object only." % missing}]


def repair_json(text):
    """The JSON value in an answer wrapped in prose or fences, or with trailing commas."""
    try:
        return _repair(text)
    except ValueError as error:
        message = str(error)
        raise PlanError(message[0].upper() + message[1:] + ".") from None


def parse_plan(text, tools=None):
    """[{"title", "description", "kind", "depends_on": [positions], "tool", "args"}] from a
    model's answer (its text, or the JSON already read from it).

    Ids the model gave are mapped to positions; dependencies on unknown or later subtasks
    are refused, which also rules out cycles. A kind the model made up becomes "answer".
    With tools offered (a Registry), a subtask that names a tool (or is of kind "tool") runs
    it: the tool must exist and its args fit, else the plan is refused with why; without
    them, "tool" and "args" are ignored.
    """
    data = repair_json(text) if isinstance(text, str) else text
    items = data.get("subtasks") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise PlanError('The JSON has no "subtasks" list.')
    if len(items) > MAX_SUBTASKS:
        raise PlanError("The plan has %d subtasks; at most %d are allowed."
                        % (len(items), MAX_SUBTASKS))
    positions, plan = {}, []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise PlanError("Subtask %d is not an object." % (index + 1))
        title = str(item.get("title") or "").strip()
        if not title:
            raise PlanError("Subtask %d has no title." % (index + 1))
        depends = item.get("dependsOn", item.get("depends_on")) or []
        if not isinstance(depends, list):
            depends = [depends]
        resolved = []
        for dep in depends:
            if str(dep) not in positions:
                raise PlanError("Subtask %d depends on %r, which is not an earlier subtask."
                                % (index + 1, dep))
            resolved.append(positions[str(dep)])
        positions[str(item.get("id", index + 1))] = index
        instructions = str(item.get("instructions") or item.get("description") or "")
        kind, tool, args = _kind_and_tool(index, item, tools)
        twin = next((i for i, p in enumerate(plan)
                     if (p["title"], p["description"], p["tool"], p["args"])
                     == (title[:200], instructions, tool, args)), None)
        if twin is not None:  # small models loop; a copy is no step of the plan
            raise PlanError("Subtask %d repeats subtask %d." % (index + 1, twin + 1))
        plan.append({
            "title": title[:200],
            "description": instructions,
            "kind": kind,
            "depends_on": sorted(set(resolved)),
            "tool": tool,
            "args": args,
        })
    return plan


def _kind_and_tool(index, item, tools):
    """(kind, tool, args) of a planned subtask; tool and args None unless it runs a tool."""
    kind = normalize_kind(item.get("kind"))
    if not tool_steps.offered(tools):
        return ("answer" if kind == "tool" else kind), None, None  # a model does the step
    try:
        step = tool_steps.read_tool_step(item, kind, tools)
    except ToolError as error:
        raise PlanError("Subtask %d: %s" % (index + 1, error.message)) from None
    if step is None:
        return kind, None, None
    return "tool", step[0], step[1]


# Kinds of work that transform a text: they need one to work on.
NEEDS_INPUT = ("summarize", "translate", "extract")


def link_inputs(plan, task):
    """A model's plan with each text-transforming step that names no input and has no text of
    the task to work on made to build on the step before it ("write a haiku, then translate
    it": small models often leave out that the translation needs the haiku)."""
    if (task.get("description") or "").strip():
        return plan
    for position, subtask in enumerate(plan):
        if position and subtask["kind"] in NEEDS_INPUT and not subtask["depends_on"]:
            subtask["depends_on"] = [position - 1]
    return plan


def single_subtask(task):
    """The fallback when no plan comes: the whole task as one subtask."""
    return [{"title": task["title"][:200], "description": task.get("description") or "",
             "kind": "answer", "depends_on": [], "tool": None, "args": None}]


def plan_problems(subtasks):
    """What is wrong with the dependencies of a hand-written plan, as {index: [sentences]}.

    `depends_on` holds positions. A position outside the plan, a subtask that depends on
    itself, and every subtask on a cycle are named; nothing is reordered or dropped.
    """
    count = len(subtasks)
    deps = [list(s.get("depends_on") or []) for s in subtasks]
    problems = {}
    for index, depends in enumerate(deps):
        for dep in depends:
            if dep == index:
                problems.setdefault(index, []).append("A subtask cannot depend on itself.")
            elif not 0 <= dep < count:
                problems.setdefault(index, []).append(
                    "No subtask at position %d; positions run from 0 to %d." % (dep, count - 1))
    for cycle in _cycles(deps):
        path = " \u2192 ".join(str(p) for p in cycle + [cycle[0]])
        for index in cycle:
            problems.setdefault(index, []).append(
                "The dependencies form a cycle (%s), so no subtask on it could start." % path)
    return problems


def _cycles(deps):
    """Each cycle of two or more subtasks once, as a list of positions."""
    state, found, seen = {}, [], set()

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in deps[node]:
            if dep == node or not 0 <= dep < len(deps):
                continue
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(list(cycle))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in range(len(deps)):
        if node not in state:
            visit(node, [])
    return found


def dependency_order(subtasks):
    """Subtasks in an order where each comes after those it depends on (stable by position).

    `depends_on` holds positions; plans are checked when written (plan_problems), so every
    dependency exists and there is no cycle. Rows stored before that check could still hold
    one: the rest then runs in position order rather than stalling.
    """
    done, ordered = set(), []
    remaining = sorted(subtasks, key=lambda s: (s["position"], s["id"]))
    while remaining:
        ready = [s for s in remaining if all(d in done for d in s["depends_on"] or [])]
        pick = ready[0] if ready else remaining[0]
        ordered.append(pick)
        done.add(pick["position"])
        remaining.remove(pick)
    return ordered
