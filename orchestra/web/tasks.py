"""Tasks over HTTP: the task API (create, plan, run, cancel, review and retry subtasks,
workflow runs, checks)."""

import logging

import tornado.web
from marshmallow import Schema, fields, validate, RAISE

from orchestra import schemas
from orchestra.services.hallucination import detector, lexical
from orchestra.services.hallucination.knowledge_sources import listing, passages_about
from orchestra.services.orchestrator_plan import KINDS
from orchestra.services.orchestrator_prompts import WorkflowInputError
from orchestra.web import api
from orchestra.web.apidoc import op, param
from orchestra.web.base import ApiError, ApiHandler
from orchestra.web.bodies import LimitedBody
from orchestra.web import task_pages
from orchestra.web.models import AnswerProblemSchema

logger = logging.getLogger(__name__)

TASK = schemas.CreateTaskSchema()

TASK_ID = (("id", "The task's id."),)
TASK_EXAMPLE = {"title": "Green tea", "description": "Write a short text about green tea.",
                "priority": "medium", "autoRun": True}


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


# -- what the task API writes (dump-only: these describe responses in the OpenAPI document)

def _time(**kw):
    return schemas.UTCDateTime(required=True, **kw)


class ModelQueueSchema(Schema):
    """The waiting line of model calls (all tasks and the checker share its slots)."""

    limit = fields.Integer(required=True, metadata={"description": "Model calls at once."})
    running = fields.Integer(required=True, metadata={"description": "Calls running now."})
    waiting = fields.Integer(required=True, metadata={"description": "Calls waiting."})
    tasks = fields.List(fields.Integer(allow_none=True), required=True, metadata={
        "description": "The task of each waiting call, first in line first (null: a call "
                       "of no task, e.g. a chat)."})


class TaskQueueSchema(ModelQueueSchema):
    position = fields.Integer(required=True, allow_none=True, metadata={
        "description": "This task's first place in line (1-based); null when none of its "
                       "calls waits."})


class RunFieldsSchema(Schema):
    """What running a task or a subtask records: its model's token counts and its times."""

    prompt_tokens = fields.Integer(required=True, data_key="promptTokens")
    completion_tokens = fields.Integer(required=True, data_key="completionTokens")
    duration_ms = fields.Integer(required=True, allow_none=True, data_key="durationMs")
    started_at = _time(allow_none=True, data_key="startedAt")
    completed_at = _time(allow_none=True, data_key="completedAt")


class SubtaskStateSchema(RunFieldsSchema):
    """A subtask as it is stored, inside its task."""

    id = fields.Integer(required=True)
    created_at = _time(data_key="createdAt")
    updated_at = _time(data_key="updatedAt")
    position = fields.Integer(required=True, metadata={"description": "0-based order."})
    title = fields.String(required=True)
    description = fields.String(required=True)
    kind = fields.String(required=True, allow_none=True, validate=validate.OneOf(KINDS))
    depends_on = fields.List(fields.Integer(), required=True, data_key="dependsOn", metadata={
        "description": "Positions of the subtasks whose answers this one uses."})
    tool = fields.String(required=True, allow_none=True)
    args = fields.Dict(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(schemas.SUBTASK_STATUSES))
    priority = fields.String(required=True, validate=validate.OneOf(schemas.PRIORITIES))
    model = fields.String(required=True, allow_none=True)
    result = fields.String(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    verdict = fields.Dict(required=True, allow_none=True, metadata={
        "description": "The check's report on the answer (as POST /api/check gives it), "
                       "with `accepted`, or `edited` and `original`, after a review."})
    score = fields.Float(required=True, allow_none=True)
    attempts = fields.Integer(required=True)


class TaskRowSchema(RunFieldsSchema):
    """A task's own columns."""

    id = fields.Integer(required=True)
    created_at = _time(data_key="createdAt")
    updated_at = _time(data_key="updatedAt")
    title = fields.String(required=True)
    description = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(schemas.TASK_STATUSES))
    priority = fields.String(required=True, validate=validate.OneOf(schemas.PRIORITIES))
    model = fields.String(required=True, allow_none=True)
    workflow_id = fields.Integer(required=True, allow_none=True, data_key="workflowId")
    knowledge_base_id = fields.Integer(required=True, allow_none=True,
                                       data_key="knowledgeBaseId")
    check_answers = fields.Boolean(required=True, data_key="checkAnswers")
    result = fields.String(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True)
    plan_source = fields.String(required=True, allow_none=True, data_key="planSource",
                                validate=validate.OneOf(("manual", "model", "fallback")))


class TaskListItemSchema(TaskRowSchema):
    """A task in a list: its subtasks counted, not listed."""

    subtasks_total = fields.Integer(required=True, data_key="subtasksTotal")
    subtasks_done = fields.Integer(required=True, data_key="subtasksDone", metadata={
        "description": "Subtasks completed, needing review or skipped."})


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskListItemSchema), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class TaskWithSubtasksSchema(TaskRowSchema):
    subtasks = fields.List(fields.Nested(SubtaskStateSchema), required=True)


class TaskStateSchema(TaskWithSubtasksSchema):
    """A task with its subtasks and what the orchestrator is doing with it now."""

    queue = fields.Nested(TaskQueueSchema, required=True)
    busy = fields.Boolean(required=True, metadata={
        "description": "True while the orchestrator plans or runs it."})


class CheckEvidenceSchema(Schema):
    text = fields.String(required=True)
    source = fields.Integer(metadata={"description": "0-based index of the source quoted."})
    sample = fields.Integer(metadata={"description": "0-based index of the sample quoted."})


class CheckClaimSchema(Schema):
    text = fields.String(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf((
        lexical.SUPPORTED, lexical.CONTRADICTED, lexical.UNSUPPORTED, lexical.UNCHECKED)))
    score = fields.Float(required=True)
    evidence = fields.List(fields.Nested(CheckEvidenceSchema), required=True)
    reasons = fields.List(fields.String(), required=True)


class CheckFlagSchema(Schema):
    sentence = fields.String(required=True)
    reason = fields.String(required=True)
    method = fields.String(required=True, allow_none=True)
    code = fields.String(metadata={"description": "\"uncited\" for a factual sentence that "
                                                  "cites no passage."})


class CheckChecksSchema(Schema):
    response = fields.Float(required=True, metadata={
        "description": "1 minus the penalties of the response's problems."})
    judge = fields.String(metadata={"description": "How the model's judgements went."})
    grounding = fields.Float(metadata={"description": "Share of checked claims supported."})
    consistency = fields.Float(metadata={"description": "Share of checked claims the "
                                                         "samples back."})
    uncited = fields.Integer()


class CheckSourceSchema(Schema):
    """A knowledge base passage the check used as a source."""

    n = fields.Integer(required=True, metadata={"description": "Its number among the sources."})
    chunk_id = fields.Integer(required=True, data_key="chunkId")
    source_id = fields.Integer(required=True, data_key="sourceId")
    source_title = fields.String(required=True, data_key="sourceTitle")
    knowledge_base_id = fields.Integer(required=True, allow_none=True,
                                       data_key="knowledgeBaseId")
    heading_path = fields.List(fields.String(), required=True, data_key="headingPath")


class CheckReportSchema(Schema):
    """The hallucination detector's report on one answer."""

    score = fields.Float(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf((
        detector.OK, detector.SUSPECT, detector.HALLUCINATED, detector.UNCHECKED)))
    reason = fields.String(required=True, allow_none=True)
    grounded = fields.Boolean(required=True)
    claims = fields.List(fields.Nested(CheckClaimSchema), required=True)
    flags = fields.List(fields.Nested(CheckFlagSchema), required=True)
    problems = fields.List(fields.Nested(AnswerProblemSchema), required=True)
    samples = fields.Integer(required=True, metadata={"description": "Samples compared."})
    checks = fields.Nested(CheckChecksSchema, required=True)
    sources = fields.List(fields.Nested(CheckSourceSchema), metadata={
        "description": "With a knowledgeBaseId: the passages found, numbered after the "
                       "sources given."})


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

    api_doc = {
        "get": op(
            "List tasks, newest first", tags=("Tasks",),
            description="Each with its subtasks counted (not listed). Tasks cannot be "
                        "searched: a non-blank `q` is refused (400).",
            query=(param("limit", {"type": "integer", "minimum": 1, "maximum": api.MAX_PAGE,
                                   "default": 50}, "Tasks per page.", example=20),
                   param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9,
                                    "default": 0}, "Tasks to skip.", example=0),
                   param("status", {"type": "string"}, "Only tasks with this status (%s)."
                         % ", ".join(schemas.TASK_STATUSES), example="completed")),
            responses={200: ("A page of tasks.", TaskPageSchema)}, errors=(400,),
            operation_id="listTasks"),
        "post": op(
            "Create a task", tags=("Tasks",),
            description="With `subtasks`, the plan is written by hand; without, a model "
                        "plans it. `autoRun` plans (if needed) and runs it at once, in the "
                        "background: follow it with GET /api/tasks/{id} or the task:update "
                        "frames of /ws. A `knowledgeBaseId` must name a knowledge base, a "
                        "tool subtask a tool of the registry with arguments that fit it; "
                        "fields the orchestrator writes (status, result, ...) are refused.",
            body=schemas.CreateTaskSchema, body_example=TASK_EXAMPLE,
            responses={201: ("The task as stored (as its planning starts with autoRun); "
                             "`Location` names it.", TaskStateSchema)},
            errors=(400, 409), operation_id="createTask"),
    }

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

    api_doc = {
        "get": op("Get a task", tags=("Tasks",),
                  description="With its subtasks, their answers and the checks' verdicts, "
                              "and its place in the queue of model calls.",
                  responses={200: ("The task.", TaskStateSchema)}, errors=(404,),
                  operation_id="getTask"),
        "patch": op(
            "Update a task", tags=("Tasks",),
            description="Only while it is not queued, planned or run (409 otherwise). "
                        "`subtasks` replaces the plan as a whole. Fields the orchestrator "
                        "writes are refused (400).",
            body=schemas.UpdateTaskSchema,
            body_example={"title": "Green tea, briefly", "priority": "high"},
            responses={200: ("The task as stored.", TaskWithSubtasksSchema)},
            errors=(400, 404, 409), operation_id="updateTask"),
        "delete": op("Delete a task", tags=("Tasks",),
                     description="With its subtasks; a queued or running task is cancelled "
                                 "first.",
                     responses={204: ("Deleted.", None)}, errors=(404, 409),
                     operation_id="deleteTask"),
    }
    api_path_params = TASK_ID

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

    api_doc = {"post": op(
        "Plan, run or cancel a task", tags=("Tasks",),
        description="`plan` asks a model for subtasks and `run` runs them (planning first "
                    "when there are none), both in the background (202): follow the task "
                    "with GET /api/tasks/{id} or /ws. `cancel` stops it (200): its model "
                    "request is closed, unfinished subtasks are skipped. A task already "
                    "being planned or run, or already completed (plan, run) or finished "
                    "(cancel), is refused (409). No request body.",
        responses={200: ("cancel: the task, cancelled.", TaskStateSchema),
                   202: ("plan, run: the task as its planning or run starts.",
                         TaskStateSchema)},
        errors=(404, 409))}
    api_path_params = TASK_ID + (
        ("action", "plan: ask a model for subtasks; run: plan if needed, then run; "
                   "cancel: stop it."),)

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


SUBTASK_ACTIONS = {
    "accept": op(
        "Accept a subtask's answer", tags=("Tasks",),
        description="Keeps an answer that needs review as it is (its report says `accepted`); "
                    "the task completes when it was the last one. A subtask in another "
                    "state, or whose task is busy, is refused (409).",
        responses={200: ("The subtask's task.", TaskStateSchema)}, errors=(404, 409)),
    "edit": op(
        "Replace a subtask's answer", tags=("Tasks",),
        description="Replaces an answer that needs review with `result` (the model's stays in "
                    "the report as `original`); the task completes when it was the last one. "
                    "A subtask in another state, or whose task is busy, is refused (409).",
        body=EditSchema, body_example={"result": "Green tea is made from the leaves of "
                                                 "Camellia sinensis."},
        responses={200: ("The subtask's task.", TaskStateSchema)}, errors=(400, 404, 409)),
    "retry": op(
        "Retry a subtask", tags=("Tasks",),
        description="Runs a failed or skipped subtask again, and the rest of its task after "
                    "it, or asks again for an answer that needs review, with the check's "
                    "findings unless `feedback` is false (no body is the same as true); in the "
                    "background. A subtask in another state, or whose task is busy, is "
                    "refused (409).",
        body=RetrySchema, body_required=False, body_example={"feedback": True},
        responses={202: ("The task as its run starts.", TaskStateSchema)},
        errors=(400, 404, 409)),
}


class SubtaskActionApi(TaskApiMixin, ApiHandler):
    """POST /api/subtasks/{id}/accept | edit {result} (an answer that needs review: 200)
    and retry [{feedback}] (a failed, skipped or needs-review subtask: 202); one route per
    action, each described on its own."""

    api_path_params = (("id", "The subtask's id."),)

    @classmethod
    def api_doc_for(cls, kwargs):
        return {"post": SUBTASK_ACTIONS[kwargs["action"]]}

    def initialize(self, action):
        self.action = action

    async def post(self, id):
        id = self.path_id(id, "subtask")
        if self.action == "retry":
            body = self.load(RetrySchema()) if self.request.body.strip() else {}
            task = await self.orchestrator.retry_subtask(id, **body)
            return self.write_json(self.task_json(task), status=202)
        if self.action == "edit":
            task = await self.orchestrator.edit_subtask(id,
                                                        self.load(EditSchema())["result"])
        else:
            task = await self.orchestrator.accept_subtask(id)
        self.write_json(self.task_json(task))


class QueueApi(TaskApiMixin, ApiHandler):
    """The line of model calls waiting for a free slot."""

    api_doc = {"get": op("The queue of model calls", tags=("Tasks",),
                         description="How many model calls run and wait, and for which tasks.",
                         responses={200: ("The queue.", ModelQueueSchema)})}

    async def get(self):
        self.write_json(self.orchestrator.queue())


class WorkflowRunApi(TaskApiMixin, ApiHandler):
    """A task made of a workflow's steps, their variables filled in."""

    api_doc = {"post": op(
        "Run a workflow", tags=("Tasks", "Workflows"),
        description="Creates a task whose subtasks are the workflow's steps with `variables` "
                    "filled in, and (with `autoRun`, the default) runs it in the background. "
                    "A workflow without steps, or a variable a step needs and was not given, "
                    "is refused (400).",
        body=RunWorkflowSchema,
        body_example={"variables": {"topic": "green tea"}, "title": "Tea", "autoRun": True},
        responses={201: ("The task as stored (as its run starts with autoRun); `Location` "
                         "names it.", TaskStateSchema)},
        errors=(400, 404))}
    api_path_params = (("id", "The workflow's id."),)

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

    api_doc = {"post": op(
        "Check an answer for hallucinations", tags=("Checks",),
        description="Give a `text` (with its `question` and `sources` if known) or the "
                    "`messageId` of an assistant's message in a chat (its question and model "
                    "are then taken from the conversation). With sources, each claim is "
                    "judged against them; without, against `samples` fresh answers to the "
                    "question (none without a question). With a `knowledgeBaseId`, passages "
                    "of that base about the text join the sources.",
        body=CheckSchema,
        body_example={"text": "The Eiffel Tower is 330 metres tall.",
                      "sources": ["The Eiffel Tower is 330 m (1,083 ft) tall."],
                      "samples": 0},
        responses={200: ("The report.", CheckReportSchema)},
        errors=(400, 404))}

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
    *(tornado.web.url(r"/api/subtasks/([0-9]+)/%s" % action, SubtaskActionApi,
                      {"action": action}, name="api-subtask-%s" % action)
      for action in SUBTASK_ACTIONS),
    tornado.web.url(r"/api/workflows/([0-9]+)/run", WorkflowRunApi, name="api-workflow-run"),
    tornado.web.url(r"/api/check", CheckApi, name="api-check"),
    *task_pages.routes,
]
