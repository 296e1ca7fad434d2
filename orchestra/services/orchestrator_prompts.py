"""Prompts for subtasks: a planned step with the results it builds on, or a workflow step.

A task with a knowledge base gives each step the passages retrieved for it, numbered as
sources to cite (knowledge/prompting.py), in the share of the window that each earlier result
gets: `step_share` and `workflow_share` say how many tokens that is, before retrieval.
"""

import logging

from orchestra.services import templating
from orchestra.services.hallucination.knowledge_sources import listing
from orchestra.services.knowledge import prompting

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
STEP_SYSTEM = ("You are doing one step of a larger task. Do this step only and answer with "
               "its result, without repeating the instructions.")
RESERVED = ("previous",)


class WorkflowInputError(ValueError):
    """A workflow cannot run with the values given; `fields` says which are wrong."""

    http_status = 400

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def system_message(instructions, extra=None):
    parts = [i["content"] for i in instructions]
    if extra:
        parts.append(extra)
    return [{"role": "system", "content": "\n\n".join(parts)}] if parts else []


def budget_each(lmstudio, context_length, fixed_text, count):
    """Tokens each earlier result may take: half the window minus the fixed prompt, shared."""
    spare = (context_length or DEFAULT_CONTEXT) // 2 - lmstudio.estimate_tokens(fixed_text)
    return max(64, spare // max(1, count))


def passage_query(task, subtask):
    """What a step's passages are searched for: its title and instructions, then the task's
    title (a step's own words name what it needs; the task's keep it on topic)."""
    return "\n".join(part for part in (subtask["title"], subtask.get("description"),
                                        task["title"]) if part)


def shown_sources(hits, answer=None):
    """The passages a step was shown, as its report lists them; with the answer, which it
    cites."""
    used = {c["n"] for c in prompting.citations(answer, hits)} if answer else set()
    return [dict(item, cited=item["n"] in used) for item in listing(hits)]


def _step_parts(lmstudio, task, subtask, earlier, context_length, with_passages):
    deps = [earlier[p] for p in subtask["depends_on"] or [] if p in earlier]
    head = "Overall task: %s" % task["title"]
    if task.get("description"):
        head += "\n%s" % task["description"]
    step = "Your step: %s" % subtask["title"]
    if subtask.get("description"):
        step += "\n%s" % subtask["description"]
    # The passages take one share of the window, like each earlier result.
    fixed = head + step + (prompting.CITE_INSTRUCTIONS if with_passages else "")
    each = budget_each(lmstudio, context_length, fixed, len(deps) + with_passages)
    return head, step, deps, each


def step_share(lmstudio, task, subtask, earlier, context_length):
    """Tokens a planned step's passages may take."""
    return _step_parts(lmstudio, task, subtask, earlier, context_length, True)[3]


def step_messages(lmstudio, task, subtask, earlier, instructions, context_length, hits=None):
    """Messages for a planned subtask; `earlier` maps position -> finished subtask row, and
    `hits` are the passages retrieved for it from the task's knowledge base (None without
    one; [] when none matched: the step is told so)."""
    head, step, deps, each = _step_parts(lmstudio, task, subtask, earlier, context_length,
                                         hits is not None)
    parts = [head]
    if hits is not None:
        parts.append(prompting.sources_message(hits))
    if deps:
        parts.append("Results of the steps this one builds on:")
        parts.extend("## %s\n%s" % (d["title"], lmstudio.truncate_to_context(d["result"] or "",
                                                                             each))
                     for d in deps)
    parts.append(step)
    return system_message(instructions, STEP_SYSTEM) + [
        {"role": "user", "content": "\n\n".join(parts)}]


def _workflow_parts(lmstudio, subtask, earlier, context_length, with_passages):
    body = subtask["description"] or ""
    names = [n for n in templating.variables(body)]
    done = sorted(earlier.values(), key=lambda s: s["position"])
    values = {s["title"]: s["result"] or "" for s in done}
    before = [s for s in done if s["position"] < subtask["position"]]
    if before:
        values["previous"] = before[-1]["result"] or ""
    used = [n for n in names if n in values]
    fixed = body + (prompting.CITE_INSTRUCTIONS if with_passages else "")
    each = budget_each(lmstudio, context_length, fixed, len(used) + with_passages)
    return body, values, used, each


def workflow_share(lmstudio, subtask, earlier, context_length):
    """Tokens a workflow step's passages may take."""
    return _workflow_parts(lmstudio, subtask, earlier, context_length, True)[3]


def workflow_step_messages(lmstudio, subtask, earlier, instructions, context_length,
                           hits=None):
    """Messages for a workflow step: its prompt with {{previous}} and {{<step name>}} filled,
    after the passages retrieved for it (`hits`) when the task has a knowledge base."""
    body, values, used, each = _workflow_parts(lmstudio, subtask, earlier, context_length,
                                               hits is not None)
    if used:
        values = {n: lmstudio.truncate_to_context(values[n], each) for n in used}
    content = templating.render(body, values)
    if hits is not None:
        content = prompting.sources_message(hits) + "\n\n" + content
    return system_message(instructions) + [{"role": "user", "content": content}]


def leaf_results(subtasks):
    """The task's result: what no other subtask builds on (all of it when several), from
    the answers there are (those that need review too: the task says so)."""
    used = {p for s in subtasks for p in s["depends_on"] or []}
    leaves = [s for s in subtasks if s["position"] not in used
              and s["status"] in ("completed", "needs_review")]
    if len(leaves) == 1:
        return leaves[0]["result"]
    return "\n\n".join("## %s\n%s" % (s["title"], s["result"] or "") for s in leaves)


def check_feedback(report):
    """The re-ask after a suspect answer: what the checks flagged, sentence by sentence."""
    lines = ["A check of your answer found possible problems:"]
    for flag in report["flags"]:
        lines.append('- "%s": %s' % (flag["sentence"], flag["reason"]))
    for problem in report["problems"]:
        lines.append("- %s" % problem["message"])
    if any(flag.get("code") == "uncited" for flag in report["flags"]):
        lines.append("Cite the numbered source of each statement as [n]; where no source "
                     "gives it, say that it is %s." % prompting.NOT_FOUND_PHRASE)
    lines.append("Answer again. Keep only what you are sure of; correct or leave out the rest.")
    return "\n".join(lines)


# -- workflows --------------------------------------------------------------------------------

def workflow_variables(workflow, templates):
    """Names a run must supply: placeholders of every step not fixed by the step itself,
    not {{previous}} and not an earlier step's name. `templates` maps id -> template row."""
    needed, step_names = [], set()
    for step in workflow["steps"]:
        for name in templating.variables(step_body(step, templates)):
            fixed = name in (step.get("variables") or {})
            if not fixed and name not in RESERVED and name not in step_names and (
                    name not in needed):
                needed.append(name)
        step_names.add(step["name"])
    return needed


def step_body(step, templates):
    if step.get("template_id") is not None:
        template = templates.get(step["template_id"])
        return template["body"] if template else ""
    return step.get("prompt") or ""


def workflow_subtasks(workflow, templates, values):
    """Subtasks for a run: each step's prompt with the run's values filled in, depending on
    the step before it and on every step it names."""
    missing = [n for n in workflow_variables(workflow, templates) if not values.get(n)]
    if missing:
        raise WorkflowInputError(
            "Give a value for: %s." % ", ".join(missing),
            {"variables": {n: ["A value is required."] for n in missing}})
    subtasks, positions = [], {}
    for index, step in enumerate(workflow["steps"]):
        if step.get("template_id") is not None and step["template_id"] not in templates:
            raise WorkflowInputError("Step %d uses a template that no longer exists." % (index + 1))
        body = step_body(step, templates)
        filled = templating.render(body, {**values, **(step.get("variables") or {})})
        depends = {positions[n] for n in templating.variables(filled) if n in positions}
        if index:
            depends.add(index - 1)
        subtasks.append({"title": step["name"], "description": filled, "kind": "answer",
                         "depends_on": sorted(depends)})
        positions[step["name"]] = index
    return subtasks
