"""marshmallow schemas: what the API and the forms accept, and how rows are written out.

JSON uses camelCase keys (`data_key`), Python and SQL snake_case. Each entity has a create
schema (required fields enforced) and an update schema (the same fields, all optional).
Unknown fields are refused and every string has a bounded length.
"""

import datetime

from marshmallow import (RAISE, Schema, ValidationError, fields, missing, post_load, pre_load,
                         validate, validates_schema)

from orchestra.services.orchestrator_plan import KINDS, plan_problems
from orchestra.services.templating import variables as template_variables

NAME = 200
SHORT = 5_000
LONG = 200_000
HUGE = 5_000_000

TASK_STATUSES = ("pending", "planning", "running", "completed", "failed", "cancelled",
                 "interrupted", "needs_review")
SUBTASK_STATUSES = ("pending", "running", "completed", "failed", "skipped", "needs_review")
PRIORITIES = ("low", "medium", "high", "urgent")

# The largest id either database stores (SQLite INTEGER, MySQL BIGINT): a bigger number
# can name no row, and SQLite refuses to even compare with it.
MAX_ID = 2**63 - 1
ID_RANGE = "Must be between 1 and %d." % MAX_ID
MAX_INT = 2**31 - 1  # an INT column (token counts, sizes)


def row_id(data_key=None, **kwargs):
    """An integer that names a stored row: 1 to MAX_ID, else "Must be between ..." (400)."""
    validators = [validate.Range(1, MAX_ID, error=ID_RANGE)] + list(kwargs.pop("validate", ()))
    return fields.Integer(data_key=data_key, validate=validators, **kwargs)


def parse_id(raw):
    """A row id from a URL or a query string as an int, or None when no row can have it
    (not digits, 0, or beyond MAX_ID)."""
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def count(data_key=None, **kwargs):
    """A count stored in an INT column: 0 to 2^31-1."""
    return fields.Integer(data_key=data_key, validate=validate.Range(0, MAX_INT), **kwargs)


def text(max_length, required=False, min_length=None, **kw):
    """A bounded string; required ones must not be blank."""
    min_length = (1 if required else 0) if min_length is None else min_length
    return fields.String(required=required, validate=validate.Length(min_length, max_length),
                         **kw)


class UTCDateTime(fields.DateTime):
    """Naive UTC datetimes from the database, written as ISO 8601 with a Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value


class Boolean(fields.Boolean):
    """Booleans as JSON true/false, whatever integer the database hands back."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else bool(value)


# Field types whose dump of a value of this type is that value unchanged.
_PLAIN = {fields.String: str, fields.Integer: int}


class Base(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(data_key="createdAt", dump_only=True)

    def _serialize(self, obj, *, many=False):
        # marshmallow's own loop (hooks stay its), less its generic lookup of each value,
        # which was half the time of dumping a page of rows: rows are dicts, so a value is
        # row[attr], then an attribute of the row, as marshmallow falls back to. A str for
        # a String field, an int for an Integer one, is written as it is (what their
        # _serialize returns for those).
        if type(self).get_attribute is not Schema.get_attribute:
            return super()._serialize(obj, many=many)
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = self._dump_plan = [
                (name, field.attribute or name,
                 name if field.data_key is None else field.data_key, field,
                 field._CHECK_ATTRIBUTE and "." not in (field.attribute or name),
                 _PLAIN.get(type(field)) if not getattr(field, "as_string", False) else None)
                for name, field in self.dump_fields.items()]
        if many and obj is not None:
            return [self._dump_row(plan, item) if isinstance(item, dict)
                    else super(Base, self)._serialize(item) for item in obj]
        if not isinstance(obj, dict):
            return super()._serialize(obj, many=many)
        return self._dump_row(plan, obj)

    def _dump_row(self, plan, obj):
        ret = self.dict_class()
        for name, attr, key, field, direct, plain in plan:
            if direct:
                try:
                    value = obj[attr]
                except KeyError:
                    value = getattr(obj, attr, missing)
                if value is missing:
                    default = field.dump_default
                    value = default() if callable(default) else default
                    if value is missing:
                        continue
                if type(value) is not plain:
                    value = field._serialize(value, name, obj)
            else:
                value = field.serialize(name, obj, accessor=self.get_attribute)
            if value is not missing:
                ret[key] = value
        return ret

    @pre_load
    def _strip_strings(self, data, **kwargs):
        # Forms and hand-written JSON carry stray spaces around names; bodies keep theirs.
        if isinstance(data, dict):
            for key in ("name", "title", "service", "category", "username", "url"):
                if isinstance(data.get(key), str):
                    data[key] = data[key].strip()
        return data


class Timestamped(Base):
    updated_at = UTCDateTime(data_key="updatedAt", dump_only=True)


def updating(schema_class):
    """The update variant of a create schema: same fields, every one optional."""

    class Update(schema_class):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("partial", True)
            super().__init__(*args, **kwargs)

    Update.__name__ = schema_class.__name__.replace("Create", "Update")
    Update.__qualname__ = Update.__name__
    return Update


# -- templates, workflows, instructions ---------------------------------------------------

class CreateTemplateSchema(Timestamped):
    name = text(NAME, required=True)
    description = text(SHORT, load_default="")
    category = text(100, load_default="")
    body = text(LONG, required=True)
    variables = fields.Method("_variables", dump_only=True, metadata={
        "type": "array", "items": {"type": "string"},
        "description": "The names of the body's {{variables}}, in order of first appearance."})

    def _variables(self, obj):
        return template_variables(obj["body"])


class WorkflowStepSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.Integer(dump_only=True)
    name = text(NAME, load_default="")
    template_id = row_id("templateId", allow_none=True, load_default=None)
    template_name = fields.String(data_key="templateName", dump_only=True)
    prompt = fields.String(allow_none=True, load_default=None,
                           validate=validate.Length(max=LONG))
    variables = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)),
                            values=fields.String(validate=validate.Length(max=LONG)),
                            load_default=dict)

    @validates_schema
    def _template_or_prompt(self, data, **kwargs):
        has_template = data.get("template_id") is not None
        has_prompt = bool((data.get("prompt") or "").strip())
        if has_template == has_prompt:
            raise ValidationError("Give either a template or an inline prompt.", "prompt")


class CreateWorkflowSchema(Timestamped):
    name = text(NAME, required=True)
    description = text(SHORT, load_default="")
    steps = fields.List(fields.Nested(WorkflowStepSchema), load_default=list,
                        validate=validate.Length(max=100))


class CreateInstructionSchema(Timestamped):
    name = text(NAME, required=True)
    content = text(20_000, required=True)
    active = Boolean(load_default=True)
    position = fields.Integer(load_default=0, validate=validate.Range(-10_000, 10_000))


# -- knowledge ------------------------------------------------------------------------------

class CreateKnowledgeBaseSchema(Timestamped):
    name = text(NAME, required=True)
    description = text(SHORT, load_default="")
    sources = fields.Method("_sources", dump_only=True, metadata={
        "type": ["array", "null"], "items": {"type": "object"},
        "description": "Its sources, each as a knowledge source without its content; "
                       "on the base's own answer only."})

    def _sources(self, obj):
        if "sources" not in obj:
            return None
        return CreateKnowledgeSourceSchema(many=True, exclude=("content",)).dump(obj["sources"])


class CreateKnowledgeSourceSchema(Timestamped):
    knowledge_base_id = row_id("knowledgeBaseId", required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("text", "url", "file")))
    title = text(NAME, required=True)
    url = fields.Url(allow_none=True, load_default=None, schemes={"http", "https"},
                     validate=validate.Length(max=2000))
    content = fields.String(load_default="", validate=validate.Length(max=HUGE))
    # How a URL source is read: static (HTTP only), browser (Chromium) or auto (static, and
    # the browser when the page is built by scripts).
    render = fields.String(load_default="auto", allow_none=True,
                           validate=validate.OneOf(("static", "browser", "auto")))
    # pending (a URL not fetched yet) -> indexing -> ready | failed: the knowledge service's
    status = fields.String(dump_only=True)
    error = fields.String(dump_only=True)
    size = fields.Integer(dump_only=True)
    format = fields.String(dump_only=True)  # how the chunker reads content: text, markdown, pdf
    chunk_count = fields.Integer(data_key="chunkCount", dump_only=True)

    @validates_schema
    def _kind_needs(self, data, partial=False, **kwargs):
        kind = data.get("kind")
        if kind == "url" and not data.get("url"):
            raise ValidationError("A URL source needs a URL.", "url")
        if kind in ("text", "file") and not (data.get("content") or "").strip() and not partial:
            raise ValidationError("A text or file source needs content.", "content")


# -- accounts -------------------------------------------------------------------------------

class CreateAccountSchema(Timestamped):
    service = fields.String(required=True, validate=[
        validate.Length(1, 50),
        validate.Regexp(r"^[a-z0-9][a-z0-9_.-]*$",
                        error="Use lower-case letters, digits, '.', '_' or '-'.")])
    name = text(NAME, required=True)
    username = text(NAME, allow_none=True, load_default=None)
    secret = fields.String(load_only=True, required=True, validate=validate.Length(1, 8192))
    active = Boolean(load_default=True)
    secret_masked = fields.Method("_masked", data_key="secretMasked", dump_only=True,
                                  metadata={"type": "string", "description":
                                            "Eight dots and the secret's last characters."})

    def _masked(self, obj):
        hint = obj.get("secret_hint") or ""
        return "\u2022" * 8 + hint


# -- chat -----------------------------------------------------------------------------------

MAX_CHAT_KNOWLEDGE_BASES = 10   # bases one conversation draws on; each question searches all


def knowledge_base_ids(**kwargs):
    """The knowledge bases a conversation's questions are answered from (ids; [] for none).
    Duplicates are dropped; whether each exists is checked where it is stored."""
    return fields.List(row_id(strict=True), data_key="knowledgeBaseIds",
                       validate=validate.Length(max=MAX_CHAT_KNOWLEDGE_BASES), **kwargs)


def distinct(ids):
    return None if ids is None else list(dict.fromkeys(ids))


class CreateConversationSchema(Timestamped):
    """A conversation and its settings (null: the server's default); chat:send uses them."""

    title = text(NAME, load_default="New conversation")
    model = text(NAME, allow_none=True, load_default=None)
    system_prompt = text(LONG, data_key="systemPrompt", allow_none=True, load_default=None)
    temperature = fields.Float(allow_none=True, load_default=None,
                               validate=validate.Range(0, 2))
    max_tokens = fields.Integer(data_key="maxTokens", allow_none=True, load_default=None,
                                strict=True, validate=validate.Range(1, 1_000_000))
    knowledge_base_ids = knowledge_base_ids(load_default=list)

    @post_load
    def _distinct_bases(self, data, **kwargs):
        if "knowledge_base_ids" in data:
            data["knowledge_base_ids"] = distinct(data["knowledge_base_ids"])
        return data


class CreateMessageSchema(Base):
    conversation_id = row_id("conversationId", required=True)
    role = fields.String(load_default="user",
                         validate=validate.OneOf(("user", "assistant", "system")))
    content = text(LONG, required=True)
    model = text(NAME, allow_none=True, load_default=None)
    status = fields.String(dump_only=True)
    prompt_tokens = fields.Integer(data_key="promptTokens", dump_only=True)
    completion_tokens = fields.Integer(data_key="completionTokens", dump_only=True)
    finish_reason = fields.String(data_key="finishReason", dump_only=True)
    error = fields.String(dump_only=True)
    # [{n, chunkId, sourceId, sourceTitle, quote, knowledgeBaseId, headingPath}] for an answer
    # written with knowledge bases ([] when it cites nothing), else null: the chat service's.
    citations = fields.Raw(dump_only=True)


# -- tasks ----------------------------------------------------------------------------------

class CreateSubtaskSchema(Timestamped):
    task_id = row_id("taskId", required=True)
    position = fields.Integer(dump_only=True)
    title = text(NAME, required=True)
    description = text(LONG, load_default="")
    kind = fields.String(allow_none=True, load_default="answer", validate=validate.OneOf(KINDS))
    depends_on = fields.List(fields.Integer(validate=validate.Range(min=0)),
                             data_key="dependsOn", load_default=list,
                             validate=validate.Length(max=100))
    # A "tool" subtask's tool and arguments; whether the tool exists and the arguments fit
    # its schema is checked against the app's tool registry where the task is written.
    tool = fields.String(allow_none=True, validate=[
        validate.Length(1, 64),
        validate.Regexp(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", error="Not a tool name.")])
    args = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)), allow_none=True)
    # Outcomes (status, result, error, verdict) change only through the orchestrator.
    status = fields.String(dump_only=True)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    model = text(NAME, allow_none=True)
    result = fields.String(dump_only=True)
    error = fields.String(dump_only=True)
    verdict = fields.Raw(dump_only=True)
    score = fields.Float(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    prompt_tokens = fields.Integer(data_key="promptTokens", dump_only=True)
    completion_tokens = fields.Integer(data_key="completionTokens", dump_only=True)
    duration_ms = fields.Integer(data_key="durationMs", dump_only=True)
    started_at = UTCDateTime(data_key="startedAt", dump_only=True)
    completed_at = UTCDateTime(data_key="completedAt", dump_only=True)

    @pre_load
    def _tool_kind(self, data, **kwargs):
        if isinstance(data, dict) and data.get("tool") and "kind" not in data:
            data = dict(data, kind="tool")  # naming a tool says what the subtask is
        return data

    @post_load
    def _kind(self, data, **kwargs):
        if "kind" in data and data["kind"] is None:
            data["kind"] = "answer"  # what a subtask is when nobody says
        return data

    @validates_schema
    def _tool_step(self, data, partial=False, **kwargs):
        # A partial update may change the tool or args alone: checked with the stored row.
        if "kind" not in data:
            return
        if data["kind"] == "tool" and not data.get("tool") and not partial:
            raise ValidationError('A subtask of kind "tool" names the tool it runs.', "tool")
        if data.get("tool") and data["kind"] not in ("tool", None):
            raise ValidationError('Only a subtask of kind "tool" runs a tool.', "tool")


class NewSubtaskSchema(CreateSubtaskSchema):
    """A subtask written inside a new task: the task id comes from the task."""

    class Meta:
        exclude = ("task_id",)


class CreateTaskSchema(Timestamped):
    title = text(NAME, required=True)
    description = text(LONG, load_default="")
    status = fields.String(dump_only=True)  # outcomes change only through the orchestrator
    priority = fields.String(load_default="medium", validate=validate.OneOf(PRIORITIES))
    model = text(NAME, allow_none=True, load_default=None)
    workflow_id = row_id("workflowId", allow_none=True)
    knowledge_base_id = row_id("knowledgeBaseId", allow_none=True)
    check_answers = Boolean(data_key="checkAnswers", load_default=True)
    result = fields.String(dump_only=True)
    error = fields.String(dump_only=True)
    note = fields.String(dump_only=True)
    plan_source = fields.String(data_key="planSource", dump_only=True)
    auto_run = Boolean(data_key="autoRun", load_only=True)
    subtasks = fields.List(fields.Nested(NewSubtaskSchema), validate=validate.Length(max=100))
    subtasks_total = fields.Integer(data_key="subtasksTotal", dump_only=True)
    subtasks_done = fields.Integer(data_key="subtasksDone", dump_only=True)
    prompt_tokens = fields.Integer(data_key="promptTokens", dump_only=True)
    completion_tokens = fields.Integer(data_key="completionTokens", dump_only=True)
    duration_ms = fields.Integer(data_key="durationMs", dump_only=True)
    started_at = UTCDateTime(data_key="startedAt", dump_only=True)
    completed_at = UTCDateTime(data_key="completedAt", dump_only=True)

    @validates_schema
    def _plan(self, data, **kwargs):
        # A hand-written plan is refused, never reordered, when a subtask would wait forever.
        problems = plan_problems(data.get("subtasks") or [])
        if problems:
            raise ValidationError({"subtasks": {
                index: {"dependsOn": messages} for index, messages in problems.items()}})


# -- models, training, web fetches --------------------------------------------------------

class CreateBenchmarkSchema(Base):
    model = text(NAME, required=True)
    prompt = text(LONG, required=True)
    ttft_ms = fields.Float(data_key="ttftMs", allow_none=True)
    tokens_per_second = fields.Float(data_key="tokensPerSecond", allow_none=True)
    total_ms = fields.Float(data_key="totalMs", required=True)
    tokens_generated = count("tokensGenerated", load_default=0)
    prompt_tokens = count("promptTokens", allow_none=True)


class CreateModelVersionSchema(Base):
    model = text(NAME, required=True)
    version = text(64, required=True)
    base_model = text(NAME, data_key="baseModel", allow_none=True)
    training_job_id = row_id("trainingJobId", allow_none=True)
    path = text(1000, allow_none=True)
    notes = text(SHORT, allow_none=True)
    metrics = fields.Dict(load_default=dict)


class CreateDatasetSchema(Timestamped):
    name = text(NAME, required=True)
    description = text(SHORT, load_default="")
    format = fields.String(load_default="jsonl",
                           validate=validate.OneOf(("jsonl", "chat", "completion", "csv")))
    content = text(HUGE, required=True)
    examples = fields.Integer(dump_only=True)


class CreateTrainingJobSchema(Timestamped):
    dataset_id = row_id("datasetId", allow_none=True)
    base_model = text(NAME, data_key="baseModel", required=True)
    status = fields.String(validate=validate.OneOf(
        ("pending", "running", "completed", "failed", "cancelled")))
    params = fields.Dict(load_default=dict)
    progress = fields.Float(validate=validate.Range(0, 1))
    error = text(SHORT, allow_none=True)
    completed_at = UTCDateTime(data_key="completedAt", allow_none=True)


class CreateWebFetchSchema(Base):
    """A stored fetch as the generic API reads it; only the web service writes them (POST
    /api/web/fetch), so every field is read-only here."""
    url = fields.String(dump_only=True)
    final_url = fields.String(data_key="finalUrl", dump_only=True)
    status_code = fields.Integer(data_key="statusCode", dump_only=True)
    title = fields.String(dump_only=True)
    content = fields.String(dump_only=True)
    error = fields.String(dump_only=True)
    code = fields.String(dump_only=True)
    renderer = fields.String(dump_only=True)
    links = fields.Raw(dump_only=True)
    metadata = fields.Raw(dump_only=True)
    steps = fields.Raw(dump_only=True)
    options = fields.Raw(dump_only=True)
    crawl_id = fields.Integer(data_key="crawlId", dump_only=True)
    depth = fields.Integer(dump_only=True)
    duration_ms = fields.Integer(data_key="durationMs", dump_only=True)


UpdateTemplateSchema = updating(CreateTemplateSchema)
UpdateWorkflowSchema = updating(CreateWorkflowSchema)
UpdateInstructionSchema = updating(CreateInstructionSchema)
UpdateKnowledgeBaseSchema = updating(CreateKnowledgeBaseSchema)
UpdateKnowledgeSourceSchema = updating(CreateKnowledgeSourceSchema)
UpdateAccountSchema = updating(CreateAccountSchema)
UpdateConversationSchema = updating(CreateConversationSchema)
UpdateMessageSchema = updating(CreateMessageSchema)
UpdateTaskSchema = updating(CreateTaskSchema)
UpdateSubtaskSchema = updating(CreateSubtaskSchema)
UpdateBenchmarkSchema = updating(CreateBenchmarkSchema)
UpdateModelVersionSchema = updating(CreateModelVersionSchema)
UpdateDatasetSchema = updating(CreateDatasetSchema)
UpdateTrainingJobSchema = updating(CreateTrainingJobSchema)
UpdateWebFetchSchema = updating(CreateWebFetchSchema)
