"""Planning: the prompt that asks a model for subtasks, and reading (or repairing) its JSON."""

import json
import logging
import re

logger = logging.getLogger(__name__)

MAX_SUBTASKS = 12
KINDS = ("chat", "code", "reasoning", "summarization", "long-context")

PLAN_SYSTEM = """You plan work for a local language model. Break the user's task into at \
most {max} small subtasks that can each be done with one answer. Reply with JSON only, no \
prose, in exactly this shape:
{{"subtasks": [{{"id": 1, "title": "short title", "instructions": "what to do", \
"kind": "chat", "depends_on": []}}]}}
"kind" is one of {kinds}. "depends_on" lists the ids of earlier subtasks whose results this \
one needs. A simple task may have a single subtask."""

_FENCE = re.compile(r"```[a-zA-Z]*\s*\n(.*?)\n?```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class PlanError(ValueError):
    """The model's answer is not a usable plan; the message says why (and goes back to it)."""


def plan_messages(task, instructions=(), excerpt=None):
    """The planning request; `excerpt` ({"name", "text"}) is the start of the task's
    knowledge base, which every step will be given."""
    system = PLAN_SYSTEM.format(max=MAX_SUBTASKS, kinds=", ".join(KINDS))
    if instructions:
        system += "\n\nStanding instructions for all work:\n" + "\n".join(
            "- " + i["content"] for i in instructions)
    user = "Task: %s" % task["title"]
    if task.get("description"):
        user += "\n\n%s" % task["description"]
    if excerpt:
        user += ('\n\nEvery subtask will be given the knowledge base "%s" as reference. '
                 "It begins:\n%s" % (excerpt["name"], excerpt["text"]))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def feedback_message(answer, problem):
    """What goes back to the model after an unusable plan, so its next try can do better."""
    return [{"role": "assistant", "content": answer},
            {"role": "user", "content": "That answer cannot be used: %s Reply again with the "
             "JSON object only, exactly in the shape asked for." % problem}]


def repair_json(text):
    """The JSON value in an answer wrapped in prose or fences, or with trailing commas."""
    text = (text or "").strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise PlanError("The answer holds no JSON object.")
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    if end <= start:
        raise PlanError("The JSON in the answer is not closed.")
    candidate = _TRAILING_COMMA.sub(r"\1", text[start:end + 1])
    try:
        return json.loads(candidate)
    except ValueError as error:
        raise PlanError("The answer is not valid JSON (%s)." % error) from None


def parse_plan(text):
    """[{"title", "description", "kind", "depends_on": [positions]}] from a model's answer.

    Ids the model gave are mapped to positions; dependencies on unknown or later subtasks
    are refused, which also rules out cycles.
    """
    try:
        data = json.loads(text)
    except ValueError:
        data = repair_json(text)
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
        key = item.get("id", index + 1)
        positions[str(key)] = index
        depends = item.get("depends_on", item.get("dependsOn")) or []
        if not isinstance(depends, list):
            depends = [depends]
        resolved = []
        for dep in depends:
            if str(dep) not in positions or positions[str(dep)] >= index:
                raise PlanError("Subtask %d depends on %r, which is not an earlier subtask."
                                % (index + 1, dep))
            resolved.append(positions[str(dep)])
        kind = str(item.get("kind") or "chat").strip().lower()
        plan.append({
            "title": title[:200],
            "description": str(item.get("instructions") or item.get("description") or ""),
            "kind": kind if kind in KINDS else "chat",
            "depends_on": sorted(set(resolved)),
        })
    return plan


def single_subtask(task):
    """The fallback when no plan comes: the whole task as one subtask."""
    return [{"title": task["title"][:200], "description": task.get("description") or "",
             "kind": "chat", "depends_on": []}]


def dependency_order(subtasks):
    """Subtasks in an order where each comes after those it depends on (stable by position).

    `depends_on` holds positions. A cycle or a dangling position (hand-edited plans) leaves
    the rest in position order rather than failing the whole task.
    """
    by_position = {s["position"]: s for s in subtasks}
    done, ordered = set(), []
    remaining = sorted(subtasks, key=lambda s: (s["position"], s["id"]))
    while remaining:
        ready = [s for s in remaining
                 if all(d in done or d not in by_position for d in s["depends_on"] or [])]
        pick = ready[0] if ready else remaining[0]
        ordered.append(pick)
        done.add(pick["position"])
        remaining.remove(pick)
    return ordered
