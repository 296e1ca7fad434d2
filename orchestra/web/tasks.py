"""Tasks over HTTP: the task API (create, plan, run, cancel, review and retry subtasks,
workflow runs, checks)."""

import logging

import tornado.web
from marshmallow import Schema, fields, validate, RAISE

from orchestra import schemas
from orchestra.services.hallucination.knowledge_sources import listing, passages_about
from orchestra.services.orchestrator_prompts import WorkflowInputError
from orchestra.web import api
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody
from orchestra.web import task_pages

logger = logging.getLogger(__name__)

TASK = schemas.CreateTaskSchema()


class RunWorkflowSchema(Schema):
    class Meta:
        unknown = RAISE

    variables = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)),
                            values=fields.String(validate=validate.Length(max=schemas.LONG)),
                            load_default=dict)
    title = schemas.text(schemas.NAME, allow_none=True, load_default=None)
    model = schemas.text(schemas.NAME, allow_none=True, load_default=None)
    check_answers = fields.Boolean(data_key="checkAnswers", load_default=True)
    auto_run = fields.Boolean(data_key="autoRun", load_default=True)
    knowledge_base_id = schemas.row_id("knowledgeBaseId", load_default=None)


class CheckSchema(Schema):
    class Meta:
        unknown = RAISE

    text = fields.String(validate=validate.Length(max=schemas.LONG), load_default=None)
    question = fields.String(validate=validate.Length(max=schemas.LONG), load_default=None)
    sources = fields.List(fields.String(validate=validate.Length(max=schemas.HUGE)),
                          load_default=list, validate=validate.Length(max=50))
    samples = fields.Integer(load_default=None, validate=validate.Range(0, 10))
    model = schemas.text(schemas.NAME, allow_none=True, load_default=None)
    message_id = schemas.row_id("messageId", load_default=None)
    knowledge_base_id = schemas.row_id("knowledgeBaseId", load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(
        ("answer", "summarize", "translate", "extract", "code", "creative")))
    expect_json = fields.Boolean(data_key="expectJson", load_default=False)


async def require_knowledge_base(stores, data):
    """The base `data` names (None when it names none); 400 when no such base exists."""
    id = data.get("knowledge_base_id")
    if id is None:
        return None
    base = await stores.knowledge_bases.get(id)
    if base is None:
        raise ApiError(400, "Invalid input.", fields={"knowledgeBaseId": ["No such record."]})
    return base


class TaskApiMixin(LimitedBody):
    @property
    def orchestrator(self):
        return self.services["orchestrator"]

    async def check_parent(self, data):
        """A task may name a knowledge base; it must exist. Its tool subtasks must name a
        tool of the registry, with arguments that fit it (PATCH calls this too)."""
        await require_knowledge_base(self.stores, data)
        tools = self.settings.get("tools")
        problems = {index: found for index, found in enumerate(
            tools.step_problems(s) if tools is not None else {}
            for s in data.get("subtasks") or ()) if found}
        if problems:
            raise ApiError(400, "Invalid input.", fields={"subtasks": problems})

    def task_json(self, task):
        data = TASK.dump(task)
        data["queue"] = self.orchestrator.queue(task["id"])
        data["busy"] = self.orchestrator.is_busy(task["id"])
        return data


class TaskCollectionApi(TaskApiMixin, api.CollectionHandler):
    """GET: the generic list. POST: create through the orchestrator (autoRun starts it)."""

    def initialize(self):
        super().initialize("tasks")

    async def post(self):
        data = self.load_input(self.resource.create_schema())
        await self.check_parent(data)
        task = await self.orchestrator.create_task(data)
        self.set_header("Location", "/api/tasks/%d" % task["id"])
        self.write_json(self.task_json(task), status=201)  # as it was when started


class TaskItemApi(TaskApiMixin, api.ItemHandler):
    """GET one task with its subtasks, verdicts and place in the queue; PATCH (which may
    replace the subtasks) only while idle (the registry's guard); DELETE through the
    orchestrator, which cancels a queued or running task first."""

    def initialize(self):
        super().initialize("tasks")

    async def get(self, id):
        self.write_json(self.task_json(await self.fetch_row(id)))

    async def delete(self, id):
        await self.orchestrator.delete_task(self.path_id(id, "task"))
        self.set_status(204)
        self.finish()


class TaskActionApi(TaskApiMixin, ApiHandler):
    """POST /api/tasks/{id}/plan | run | cancel."""

    async def post(self, id, action):
        task = await getattr(self.orchestrator, action)(self.path_id(id, "task"))
        self.write_json(self.task_json(task), status=200 if action == "cancel" else 202)


class RetrySchema(Schema):
    class Meta:
        unknown = RAISE

    feedback = fields.Boolean(load_default=True)


class EditSchema(Schema):
    class Meta:
        unknown = RAISE

    result = fields.String(required=True, validate=[
        validate.Length(max=schemas.HUGE),
        validate.Predicate("strip", error="Write the answer; it cannot be empty.")])


class SubtaskActionApi(TaskApiMixin, ApiHandler):
    """POST /api/subtasks/{id}/accept | edit {result} (an answer that needs review: 200)
    and retry [{feedback}] (a failed, skipped or needs-review subtask: 202)."""

    async def post(self, id, action):
        id = self.path_id(id, "subtask")
        if action == "retry":
            body = self.load(RetrySchema()) if self.request.body.strip() else {}
            task = await self.orchestrator.retry_subtask(id, **body)
            return self.write_json(self.task_json(task), status=202)
        if action == "edit":
            task = await self.orchestrator.edit_subtask(id,
                                                        self.load(EditSchema())["result"])
        else:
            task = await self.orchestrator.accept_subtask(id)
        self.write_json(self.task_json(task))


class QueueApi(TaskApiMixin, ApiHandler):
    """The line of model calls waiting for a free slot."""

    async def get(self):
        self.write_json(self.orchestrator.queue())


class WorkflowRunApi(TaskApiMixin, ApiHandler):
    async def post(self, id):
        data = self.load(RunWorkflowSchema())
        await require_knowledge_base(self.stores, data)
        try:
            task = await self.orchestrator.run_workflow(self.path_id(id, "workflow"), data.pop("variables"), **data)
        except WorkflowInputError as e:
            raise ApiError(400, e.message, fields=e.fields or None)
        self.set_header("Location", "/api/tasks/%d" % task["id"])
        self.write_json(self.task_json(task), status=201)  # as it was when started


class CheckApi(LimitedBody, ApiHandler):
    """Run the hallucination detector on a text, or on a stored assistant message; with a
    knowledge base, the passages of it about the text's sentences join the sources (listed
    in the report's `sources`)."""

    async def post(self):
        data = self.load(CheckSchema())
        text, question, model = data["text"], data["question"], data["model"]
        base = await require_knowledge_base(self.stores, data)
        if data["message_id"] is not None:
            text, asked, used = await self.message_and_question(data["message_id"])
            question, model = question or asked, model or used
        elif not (text or "").strip():
            raise ApiError(400, "Invalid input.", fields={"text": ["Give a text or a messageId."]})
        sources, hits = [s for s in data["sources"] if s.strip()], None  # numbered as used
        if base is not None:
            hits = await passages_about(self.services["knowledge"], [base["id"]], text)
        samples = data["samples"]
        if samples is None and not question:
            samples = 0
        report = await self.services["checker"].check(
            text, question=question, sources=sources + [h["text"] for h in hits or []],
            samples=samples, model=model, kind=data["kind"], expect_json=data["expect_json"])
        if hits is not None:
            report["sources"] = listing(hits, first=len(sources) + 1)
        self.write_json(report)

    async def message_and_question(self, message_id):
        """(answer, the user message before it, the model that wrote it)."""
        message = await self.stores.messages.get(message_id)
        if message is None:
            raise ApiError(404, "No message with id %d." % message_id)
        if message["role"] != "assistant":
            raise ApiError(400, "Only an assistant's message can be checked.",
                           fields={"messageId": ["Not an assistant message."]})
        history = await self.stores.messages.history(message["conversation_id"], limit=1000)
        asked = [m for m in history if m["id"] < message["id"] and m["role"] == "user"]
        return message["content"], asked[-1]["content"] if asked else None, message["model"]


routes = [
    tornado.web.url(r"/api/tasks", TaskCollectionApi, name="api-tasks-create"),
    tornado.web.url(r"/api/tasks/queue", QueueApi, name="api-tasks-queue"),
    tornado.web.url(r"/api/tasks/([0-9]+)", TaskItemApi, name="api-task"),
    tornado.web.url(r"/api/tasks/([0-9]+)/(plan|run|cancel)", TaskActionApi,
                    name="api-task-action"),
    tornado.web.url(r"/api/subtasks/([0-9]+)/(accept|edit|retry)", SubtaskActionApi,
                    name="api-subtask-action"),
    tornado.web.url(r"/api/workflows/([0-9]+)/run", WorkflowRunApi, name="api-workflow-run"),
    tornado.web.url(r"/api/check", CheckApi, name="api-check"),
    *task_pages.routes,
]
