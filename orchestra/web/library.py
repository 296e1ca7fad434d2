"""Pages for templates, workflows (with their ordered steps) and system instructions."""

import logging
import re

from orchestra import entities
from orchestra.services.templating import variables
from orchestra.web.crud import page_routes
from orchestra.web.forms import Column, Field, FormRedisplay, PageEntity

logger = logging.getLogger(__name__)


class TemplatePages(PageEntity):
    spec, title = entities.get("templates"), "Templates"
    fields = (
        Field("name", "Name", required=True),
        Field("category", "Category", help="Optional; groups templates in the list."),
        Field("description", "Description", "textarea", rows=3),
        Field("body", "Body", "textarea", rows=12, required=True,
              help="Write {{variable}} where a value goes; each one becomes an input."),
    )
    columns = (Column("name", "Name", "link"), Column("category", "Category"),
               Column("variables", "Variables", "list"), Column("updatedAt", "Updated", "date"))
    details = (Column("category", "Category"), Column("description", "Description"),
               Column("variables", "Variables", "list"), Column("body", "Body", "pre"))
    filters = ("category",)

    async def list_context(self, handler):
        return {"choices": {"category": await handler.stores.templates.categories()}}

    async def form_context(self, handler, form):
        return {"datalists": {"category": await handler.stores.templates.categories()}}


class InstructionPages(PageEntity):
    spec, title = entities.get("instructions"), "Instructions"
    fields = (
        Field("name", "Name", required=True),
        Field("content", "Content", "textarea", rows=8, required=True),
        Field("active", "Active (sent to the model as a system instruction)", "checkbox"),
        Field("position", "Position", "number", help="Lower positions come first."),
    )
    columns = (Column("name", "Name", "link"), Column("active", "Active", "bool"),
               Column("position", "Position"), Column("updatedAt", "Updated", "date"))
    details = (Column("active", "Active", "bool"), Column("position", "Position"),
               Column("content", "Content", "pre"))

    def blank(self):
        return dict(super().blank(), active=True, position="0")


STEP_FIELD = re.compile(r"^steps-(\d+)-(name|kind|templateId|prompt|var-(.+))$")
STEP_VAR_ERROR = re.compile(r"^(steps-\d+-)variables-(.+?)(-value|-key)?$")


def blank_step():
    return {"name": "", "kind": "prompt", "templateId": "", "prompt": "", "vars": {}}


def read_steps(posted):
    """steps-<i>-<field> inputs -> step dicts ordered by <i> (the form numbers them in order)."""
    steps = {}
    for key, value in posted.items():
        match = STEP_FIELD.match(key)
        if match:
            step = steps.setdefault(int(match.group(1)), blank_step())
            if match.group(3) is not None:
                step["vars"][match.group(3)] = value
            else:
                step[match.group(2)] = value
    return [steps[i] for i in sorted(steps)]


def step_input(step):
    if step["kind"] == "template":
        return {"name": step["name"], "templateId": step["templateId"] or None,
                "variables": step["vars"]}
    return {"name": step["name"], "prompt": step["prompt"]}


def apply_step_action(steps, action):
    """Add, move or remove a step when the form is used without its script."""
    verb, _, index = action.partition(":")
    i = int(index) if index.isdigit() else -1
    if verb == "add":
        steps.append(blank_step())
    elif verb == "remove" and 0 <= i < len(steps):
        del steps[i]
    elif verb == "up" and 0 < i < len(steps):
        steps[i - 1], steps[i] = steps[i], steps[i - 1]
    elif verb == "down" and 0 <= i < len(steps) - 1:
        steps[i], steps[i + 1] = steps[i + 1], steps[i]


class WorkflowPages(PageEntity):
    spec, title = entities.get("workflows"), "Workflows"
    fields = (
        Field("name", "Name", required=True),
        Field("description", "Description", "textarea", rows=3),
    )
    columns = (Column("name", "Name", "link"), Column("steps", "Steps", "count"),
               Column("updatedAt", "Updated", "date"))
    details = (Column("description", "Description"), Column("updatedAt", "Updated", "date"))
    form_template = "workflow_form.html"
    detail_template = "workflow_detail.html"

    def blank(self):
        return dict(super().blank(), steps=[blank_step()])

    def form_from_item(self, item):
        form = super().form_from_item(item)
        form["steps"] = [{"name": s["name"], "prompt": s["prompt"] or "",
                          "kind": "template" if s["templateId"] else "prompt",
                          "templateId": str(s["templateId"] or ""), "vars": s["variables"]}
                         for s in item["steps"]]
        return form

    def read_form(self, handler):
        form = super().read_form(handler)
        posted = handler.form_data()
        form["steps"] = read_steps(posted)
        form["stepAction"] = posted.get("stepAction", "")
        return form

    def to_input(self, form, creating):
        return dict(super().to_input(form, creating),
                    steps=[step_input(s) for s in form["steps"]])

    async def validate(self, handler, form, creating):
        action = form.pop("stepAction", "")
        if action:
            apply_step_action(form["steps"], action)
            raise FormRedisplay(form, {}, status=200)
        try:
            data = await super().validate(handler, form, creating)
        except FormRedisplay as e:
            e.errors = self.step_errors(form["steps"], e.errors)
            raise
        errors = {}
        for i, step in enumerate(data["steps"]):
            template_id = step.get("template_id")
            if template_id and not await handler.stores.templates.get(template_id):
                errors["steps-%d-templateId" % i] = "No such template."
        if errors:
            raise FormRedisplay(form, errors)
        return data

    @staticmethod
    def step_errors(steps, errors):
        """Put each step's message beside the input the user sees for that step's kind."""
        out = {}
        for name, message in errors.items():
            name = STEP_VAR_ERROR.sub(r"\1var-\2", name)
            match = re.match(r"^steps-(\d+)-prompt$", name)
            if match and int(match.group(1)) < len(steps):
                if steps[int(match.group(1))]["kind"] == "template":
                    name, message = "steps-%s-templateId" % match.group(1), "Pick a template."
            out[name] = message
        return out

    async def form_context(self, handler, form):
        rows = await handler.stores.templates.list(limit=500)
        templates = [{"id": r.id, "name": r.name, "variables": variables(r.body)}
                     for r in sorted(rows, key=lambda r: r.name.lower())]
        return {"templates": templates,
                "template_choices": [(str(t["id"]), t["name"]) for t in templates],
                "template_vars": {str(t["id"]): t["variables"] for t in templates}}


TEMPLATES = TemplatePages()
WORKFLOWS = WorkflowPages()
INSTRUCTIONS = InstructionPages()

routes = [*page_routes(TEMPLATES), *page_routes(WORKFLOWS), *page_routes(INSTRUCTIONS)]
