"""Task pages: the list, the new-task form, one task (live over /ws), and running a workflow."""

import logging
import re

import tornado.web
from marshmallow import ValidationError

from orchestra import schemas
from orchestra.services.orchestrator import OrchestratorError
from orchestra.services.orchestrator_prompts import (WorkflowInputError, workflow_variables)
from orchestra.web.base import BaseHandler
from orchestra.web.bodies import LimitedBody

logger = logging.getLogger(__name__)

PRIORITIES = schemas.PRIORITIES


def form_errors(messages, prefix=""):
    """marshmallow messages as {"field": "sentence"} for the template."""
    out = {}
    for key, value in messages.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            out.update(form_errors(value, name + "-"))
        else:
            out[name] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


_KIND_TAG = re.compile(r"^\[([^\]]*)\]\s*")


def parse_subtask_lines(text):
    """'[kind] Title: instructions' per line -> subtasks, each building on the one before;
    the kind is optional (answer when not given)."""
    subtasks = []
    for line in (text or "").splitlines():
        line, kind = line.strip(), "answer"
        tag = _KIND_TAG.match(line)
        if tag:
            line, kind = line[tag.end():], tag.group(1).strip().lower()
        title, _, instructions = line.partition(":")
        if title.strip():
            position = len(subtasks)
            subtasks.append({"title": title.strip(), "description": instructions.strip(),
                             "kind": kind, "dependsOn": [position - 1] if position else []})
    return subtasks


def line_errors(errors):
    """Errors of hand-written subtasks said per line ("Line 2: ...") for the form."""
    out = {}
    for name, message in errors.items():
        parts = name.split("-")
        if parts[0] == "subtasks" and len(parts) > 1 and parts[1].isdigit():
            message = "Line %d: %s" % (int(parts[1]) + 1, message)
        out[name] = message
    return out


class TaskPageMixin(LimitedBody):
    @property
    def orchestrator(self):
        return self.services["orchestrator"]


class TaskListPage(TaskPageMixin, BaseHandler):
    async def get(self):
        tasks = await self.stores.tasks.list(limit=100)
        workflows = await self.stores.workflows.list(limit=200)
        self.render_template("tasks.html", tasks=tasks, workflows=workflows,
                             queue=self.orchestrator.queue())


class TaskFormPage(TaskPageMixin, BaseHandler):
    """A form for a new task; hand-written subtasks are optional (a model plans otherwise)."""

    async def get(self):
        await self.show({"priority": "medium", "checkAnswers": True, "autoRun": True}, {})

    async def post(self):
        form = self.form_data()
        data = {"title": form.get("title", ""), "description": form.get("description", ""),
                "priority": form.get("priority", "medium"),
                "model": form.get("model") or None, "checkAnswers": "checkAnswers" in form,
                "autoRun": "autoRun" in form,
                "knowledgeBaseId": form.get("knowledgeBaseId") or None}
        subtasks = parse_subtask_lines(form.get("subtasks"))
        if subtasks:
            data["subtasks"] = subtasks
        try:
            loaded = schemas.CreateTaskSchema().load(data)
            await self.check_knowledge_base(loaded)
        except ValidationError as e:
            return await self.show(dict(data, subtasks=form.get("subtasks", "")),
                                   line_errors(form_errors(e.messages)), status=400)
        task = await self.orchestrator.create_task(loaded)
        self.redirect(self.reverse_url("task", task["id"]))

    async def check_knowledge_base(self, data):
        id = data.get("knowledge_base_id")
        if id is not None and await self.stores.knowledge_bases.get(id) is None:
            raise ValidationError({"knowledgeBaseId": ["No such record."]})

    async def show(self, form, errors, status=None):
        self.render_template("task_form.html", form=form, errors=errors, status=status,
                             priorities=PRIORITIES, models=await self.model_ids(),
                             knowledge_bases=await self.stores.knowledge_bases.list(limit=200))

    async def model_ids(self):
        try:
            return [m["id"] for m in await self.lmstudio.list_models()]
        except Exception:  # noqa: BLE001 - the form works without the list
            return []


class TaskPage(TaskPageMixin, BaseHandler):
    async def get(self, id):
        task = await self.stores.tasks.get(self.path_id(id, "task"))
        if task is None:
            raise tornado.web.HTTPError(404, "No task with id %s." % id)
        base = None
        if task["knowledge_base_id"] is not None:
            base = await self.stores.knowledge_bases.get(task["knowledge_base_id"])
        self.render_template("task.html", task=task, knowledge_base=base,
                             queue=self.orchestrator.queue(task["id"]))


class TaskDeletePage(TaskPageMixin, BaseHandler):
    """POST: delete a task (a queued or running one is cancelled first), back to the list."""

    async def post(self, id):
        try:
            task = await self.orchestrator.delete_task(self.path_id(id, "task"))
        except OrchestratorError as e:
            if e.http_status == 404:
                raise tornado.web.HTTPError(404, e.message)
            self.flash("Task %s was not deleted: %s" % (id, e.message))
            return self.redirect(self.reverse_url("task", int(id)), status=303)
        self.flash("Task \u201c%s\u201d deleted." % task["title"])
        self.redirect(self.reverse_url("tasks"), status=303)


class WorkflowRunPage(TaskPageMixin, BaseHandler):
    """GET: a form with the workflow's variables. POST: start the run, go to its task."""

    async def get(self, id):
        workflow, needed = await self.workflow(id)
        await self.show(workflow, needed, {"checkAnswers": True}, {})

    async def post(self, id):
        workflow, needed = await self.workflow(id)
        form = self.form_data()
        values = {name: form.get("var-" + name, "") for name in needed}
        base_id = form.get("knowledgeBaseId") or None
        if base_id is not None and (schemas.parse_id(base_id) is None or await
                                    self.stores.knowledge_bases.get(int(base_id)) is None):
            return await self.show(workflow, needed, form,
                                   {"knowledgeBaseId": "No such knowledge base."}, status=400)
        try:
            task = await self.orchestrator.run_workflow(
                workflow["id"], values, title=form.get("title") or None,
                model=form.get("model") or None, check_answers="checkAnswers" in form,
                knowledge_base_id=int(base_id) if base_id else None)
        except WorkflowInputError as e:
            errors = {"var-" + k: " ".join(v) for k, v in
                      (e.fields.get("variables") or {}).items()} or {"_form": e.message}
            return await self.show(workflow, needed, form, errors, status=400)
        self.redirect(self.reverse_url("task", task["id"]))

    async def workflow(self, id):
        workflow = await self.stores.workflows.get(self.path_id(id, "workflow"))
        if workflow is None:
            raise tornado.web.HTTPError(404, "No workflow with id %s." % id)
        templates = await self.orchestrator.workflow_templates(workflow)
        return workflow, workflow_variables(workflow, templates)

    async def show(self, workflow, needed, form, errors, status=None):
        self.render_template("workflow_run.html", workflow=workflow, variables=needed,
                             form=form, errors=errors, status=status,
                             knowledge_bases=await self.stores.knowledge_bases.list(limit=200))


routes = [
    tornado.web.url(r"/tasks", TaskListPage, name="tasks"),
    tornado.web.url(r"/tasks/new", TaskFormPage, name="task-new"),
    tornado.web.url(r"/tasks/([0-9]+)", TaskPage, name="task"),
    tornado.web.url(r"/tasks/([0-9]+)/delete", TaskDeletePage, name="task-delete"),
    tornado.web.url(r"/workflows/([0-9]+)/run", WorkflowRunPage, name="workflow-run"),
]
