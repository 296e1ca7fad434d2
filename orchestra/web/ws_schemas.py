"""marshmallow schemas for /ws frames: the envelope and the data of each client message type."""

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from orchestra import schemas
from orchestra.schemas import LONG, NAME

MAX_HISTORY = 200


class Strict(Schema):
    class Meta:
        unknown = RAISE


class FrameId(fields.Field):
    """The client's frame id, echoed on every reply: a short string or an integer."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("Must be a string or an integer.")
        if isinstance(value, str) and len(value) > 100:
            raise ValidationError("Longer than 100 characters.")
        if isinstance(value, int) and abs(value) > 2**53:
            raise ValidationError("Out of range.")
        return value


class EnvelopeSchema(Strict):
    type = fields.String(required=True, validate=validate.Length(1, 64))
    data = fields.Dict(load_default=dict)
    id = FrameId(load_default=None)


class EmptySchema(Strict):
    """Types that take no data."""


def conversation_id(required):
    if required:
        return schemas.row_id("conversationId", required=True, strict=True)
    return schemas.row_id("conversationId", allow_none=True, load_default=None, strict=True)


def not_blank(value):
    if not value.strip():
        raise ValidationError("Must not be blank.")


MAX_CHAT_MESSAGE = LONG  # characters; the page is told it in `connected`


def message_id():
    return schemas.row_id("messageId", required=True, strict=True)


def chat_text():
    return fields.String(required=True, validate=[validate.Length(1, MAX_CHAT_MESSAGE),
                                                  not_blank])


def model_name():
    return fields.String(allow_none=True, load_default=None, validate=validate.Length(1, NAME))


class ChatSettingsFields(Strict):
    """A conversation's settings; a field left out is left as it is, null clears it."""

    system_prompt = fields.String(data_key="systemPrompt", allow_none=True,
                                  validate=validate.Length(max=LONG))
    temperature = fields.Float(allow_none=True, validate=validate.Range(0, 2))
    max_tokens = fields.Integer(data_key="maxTokens", allow_none=True, strict=True,
                                validate=validate.Range(1, 1_000_000))
    model = fields.String(allow_none=True, validate=validate.Length(max=NAME))
    # The bases each question searches ([] or null: none); each must exist (invalid_fields).
    knowledge_base_ids = schemas.knowledge_base_ids(allow_none=True)

    @post_load
    def blank_is_none(self, data, **kwargs):
        for key in ("system_prompt", "model"):
            if key in data and data[key] is not None and not data[key].strip():
                data[key] = None
        if "knowledge_base_ids" in data:
            data["knowledge_base_ids"] = schemas.distinct(data["knowledge_base_ids"]) or []
        return data


class ChatSendSchema(Strict):
    message = chat_text()
    conversation_id = conversation_id(required=False)
    model = model_name()
    settings = fields.Nested(ChatSettingsFields, load_default=None, allow_none=True)
    knowledge_base_ids = schemas.knowledge_base_ids(allow_none=True)

    @post_load
    def bases_are_a_setting(self, data, **kwargs):
        # Sent beside the message for convenience; stored like the other settings.
        ids = data.pop("knowledge_base_ids", None)
        if ids is not None:
            data["settings"] = dict(data["settings"] or {},
                                    knowledge_base_ids=schemas.distinct(ids))
        return data


class ChatSettingsSchema(ChatSettingsFields):
    conversation_id = conversation_id(required=True)


class ChatRegenerateSchema(Strict):
    message_id = message_id()
    model = model_name()


class ChatReadPageSchema(Strict):
    """Read the page a user message links to; `url` picks one of its addresses (default:
    the first)."""

    message_id = message_id()
    url = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    model = model_name()


class ChatEditSchema(Strict):
    message_id = message_id()
    message = chat_text()
    model = model_name()


class ChatStopSchema(Strict):
    conversation_id = conversation_id(required=True)


class ChatHistorySchema(Strict):
    conversation_id = conversation_id(required=True)
    limit = fields.Integer(load_default=50, strict=True,
                           validate=validate.Range(1, MAX_HISTORY))
    before = schemas.row_id(load_default=None, allow_none=True, strict=True)


class MessageFrameSchema(schemas.CreateMessageSchema):
    """A message as /ws sends it: the stored row, with what it answers or revises."""

    reply_to = fields.Integer(data_key="replyTo", dump_only=True)
    edit_of = fields.Integer(data_key="editOf", dump_only=True)


class ConversationSettingsSchema(Schema):
    """A conversation and its settings, as /ws sends them."""

    id = fields.Integer(data_key="conversationId")
    title = fields.String()
    model = fields.String()
    system_prompt = fields.String(data_key="systemPrompt")
    temperature = fields.Float()
    max_tokens = fields.Integer(data_key="maxTokens")
    knowledge_base_ids = fields.List(fields.Integer(), data_key="knowledgeBaseIds")


class TaskSchema(Strict):
    task_id = schemas.row_id("taskId", required=True, strict=True)


class KnowledgeBaseSchema(Strict):
    knowledge_base_id = schemas.row_id("knowledgeBaseId", required=True, strict=True)


class CrawlSchema(Strict):
    crawl_id = schemas.row_id("crawlId", required=True, strict=True)


# -- server -> client frames -------------------------------------------------------------------
# What the server writes in `data` for each type it sends, for the AsyncAPI document
# (orchestra/web/asyncapi.py). The frames are built in ws.py and ws_manager.py; these schemas
# describe them (keys always present are `required`; `null` where the value may be missing).

from orchestra.services.web import errors as web_errors  # noqa: E402 (this block's own)


def _always(field_class, *args, **kwargs):
    return field_class(*args, required=True, **kwargs)


def _nullable(field_class, *args, **kwargs):
    return field_class(*args, required=True, allow_none=True, **kwargs)


def _timestamp(data_key, nullable=False):
    make = _nullable if nullable else _always
    return make(fields.String, data_key=data_key, metadata={"format": "date-time"})


class MessageOutSchema(Schema):
    """A stored chat message."""

    id = _always(fields.Integer)
    created_at = _timestamp("createdAt")
    conversation_id = _always(fields.Integer, data_key="conversationId")
    role = _always(fields.String, validate=validate.OneOf(("user", "assistant", "system")))
    content = _always(fields.String)
    model = _nullable(fields.String)
    status = _always(fields.String, validate=validate.OneOf(
        ("complete", "streaming", "incomplete")))
    prompt_tokens = _nullable(fields.Integer, data_key="promptTokens")
    completion_tokens = _nullable(fields.Integer, data_key="completionTokens")
    finish_reason = _nullable(fields.String, data_key="finishReason", metadata={
        "description": "stop, length, ...; why an incomplete answer ended: stopped, "
                       "disconnected, shutdown, error."})
    error = _nullable(fields.String, metadata={"description": "What failed."})
    citations = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "An answer written with knowledge bases or from a page: the sources "
                       "it cites ([] for none); null otherwise."})
    reply_to = fields.Integer(data_key="replyTo", allow_none=True,
                              metadata={"description": "An answer: the user message it answers."})
    edit_of = fields.Integer(data_key="editOf", allow_none=True, metadata={
        "description": "A user message: the first version of the message it revises."})


class ConversationOutSchema(Schema):
    """A conversation and its settings (null: the server's default)."""

    id = _always(fields.Integer, data_key="conversationId")
    title = _always(fields.String)
    model = _nullable(fields.String)
    system_prompt = _nullable(fields.String, data_key="systemPrompt")
    temperature = _nullable(fields.Float)
    max_tokens = _nullable(fields.Integer, data_key="maxTokens")
    knowledge_base_ids = _nullable(fields.List, fields.Integer(), data_key="knowledgeBaseIds")


class _RunFields(Schema):
    """What a task's and a subtask's runs add up: tokens and times."""

    prompt_tokens = _always(fields.Integer, data_key="promptTokens")
    completion_tokens = _always(fields.Integer, data_key="completionTokens")
    duration_ms = _nullable(fields.Integer, data_key="durationMs")
    started_at = _timestamp("startedAt", nullable=True)
    completed_at = _timestamp("completedAt", nullable=True)


class SubtaskOutSchema(_RunFields):
    """A stored subtask."""

    id = _always(fields.Integer)
    created_at = _timestamp("createdAt")
    updated_at = _timestamp("updatedAt")
    task_id = fields.Integer(data_key="taskId", metadata={
        "description": "In task:update's `subtask`; not in a task's `subtasks`."})
    position = _always(fields.Integer)
    title = _always(fields.String)
    description = _always(fields.String)
    kind = _nullable(fields.String)
    depends_on = _always(fields.List, fields.Integer(), data_key="dependsOn")
    tool = _nullable(fields.String)
    args = _nullable(fields.Dict)
    status = _always(fields.String)
    priority = _always(fields.String)
    model = _nullable(fields.String)
    result = _nullable(fields.String)
    error = _nullable(fields.String)
    verdict = fields.Raw(allow_none=True, metadata={"description": "The check's verdict."})
    score = _nullable(fields.Float)
    attempts = _always(fields.Integer)


class TaskOutSchema(_RunFields):
    """A stored task; `subtasks` when one task is sent (task:subscribed), the counts in
    lists."""

    id = _always(fields.Integer)
    created_at = _timestamp("createdAt")
    updated_at = _timestamp("updatedAt")
    title = _always(fields.String)
    description = _always(fields.String)
    status = _always(fields.String)
    priority = _always(fields.String)
    model = _nullable(fields.String)
    workflow_id = _nullable(fields.Integer, data_key="workflowId")
    knowledge_base_id = _nullable(fields.Integer, data_key="knowledgeBaseId")
    check_answers = _always(fields.Boolean, data_key="checkAnswers")
    result = _nullable(fields.String)
    error = _nullable(fields.String)
    note = _nullable(fields.String)
    plan_source = _nullable(fields.String, data_key="planSource")
    subtasks = fields.List(fields.Nested(SubtaskOutSchema))
    subtasks_total = fields.Integer(data_key="subtasksTotal", allow_none=True)
    subtasks_done = fields.Integer(data_key="subtasksDone", allow_none=True)


class ConnectedFrameSchema(Schema):
    """Sent once, as soon as the connection is open."""

    connection_id = _always(fields.String, data_key="connectionId")
    server_time = _always(fields.String, data_key="serverTime",
                          metadata={"description": "ISO 8601 UTC, with a Z."})
    max_message_size = _always(fields.Integer, data_key="maxMessageSize", metadata={
        "description": "The largest frame in bytes; a larger one closes the socket (1009)."})
    max_chat_message_length = _always(fields.Integer, data_key="maxChatMessageLength",
                                      metadata={"description": "In Unicode code points."})
    ping_interval_seconds = _always(fields.Float, data_key="pingIntervalSeconds")
    metrics_interval_seconds = _always(fields.Float, data_key="metricsIntervalSeconds")


class PongFrameSchema(Schema):
    time = _always(fields.String, metadata={"description": "The server's time, ISO 8601 UTC."})


class NoDataSchema(Schema):
    """An empty object."""


class ChatStreamingFrameSchema(Schema):
    conversation_id = _always(fields.Integer, data_key="conversationId")
    message_id = _always(fields.Integer, data_key="messageId", metadata={
        "description": "The id the stored answer will have."})
    chunk = _always(fields.String, metadata={"description": "Text to append; \"\" when done."})
    done = _always(fields.Boolean)


class ChatHistoryFrameSchema(Schema):
    conversation_id = _always(fields.Integer, data_key="conversationId")
    before = _nullable(fields.Integer, metadata={"description": "As asked (a message id)."})
    has_more = _always(fields.Boolean, data_key="hasMore",
                       metadata={"description": "Whether older messages remain."})
    messages = _always(fields.List, fields.Nested(MessageOutSchema),
                       metadata={"description": "Oldest first."})
    conversation = _always(fields.Nested, ConversationOutSchema)


class ChatPageFrameSchema(Schema):
    """The page a `chat:read_page` read, before the answer written from it."""

    conversation_id = _always(fields.Integer, data_key="conversationId")
    message_id = _always(fields.Integer, data_key="messageId")
    url = _always(fields.String)
    final_url = _nullable(fields.String, data_key="finalUrl",
                          metadata={"description": "Where redirects led."})
    fetch_id = _always(fields.Integer, data_key="fetchId")
    title = _nullable(fields.String)
    from_cache = _nullable(fields.Boolean, data_key="fromCache")


class HistoryPointSchema(Schema):
    timestamp = _always(fields.String)
    cpu_percent = _nullable(fields.Float, data_key="cpuPercent")
    memory_percent = _nullable(fields.Float, data_key="memoryPercent")
    swap_percent = _nullable(fields.Float, data_key="swapPercent",
                             metadata={"description": "null without swap."})
    recv_bytes_per_sec = _nullable(fields.Float, data_key="recvBytesPerSec")
    sent_bytes_per_sec = _nullable(fields.Float, data_key="sentBytesPerSec")
    read_bytes_per_sec = _nullable(fields.Float, data_key="readBytesPerSec")
    write_bytes_per_sec = _nullable(fields.Float, data_key="writeBytesPerSec")


class MonitoringSubscribedFrameSchema(Schema):
    interval_seconds = _always(fields.Float, data_key="intervalSeconds")
    history_seconds = _always(fields.Float, data_key="historySeconds")
    history = _always(fields.List, fields.Nested(HistoryPointSchema),
                      metadata={"description": "The last hour of samples, oldest first."})


def _figures(name, *keys):
    """A schema class of numbers that may be null (a figure the machine does not report)."""
    return Schema.from_dict({key: _nullable(fields.Float) for key in keys}, name=name)


class MetricsFrameSchema(Schema):
    """One sample of the machine, LM Studio and the WebSocket (sizes in bytes, rates in bytes
    per second)."""

    timestamp = _always(fields.String)
    interval_seconds = _always(fields.Float, data_key="intervalSeconds")
    cpu = _always(fields.Nested, Schema.from_dict({
        "percent": _nullable(fields.Float),
        "perCore": _always(fields.List, fields.Float()),
        "count": _nullable(fields.Integer)}, name="MetricsCpu"))
    memory = _always(fields.Nested, _figures("MetricsMemory", "total", "used", "available",
                                             "percent"))
    swap = _always(fields.Nested, _figures("MetricsSwap", "total", "used", "percent"))
    disk = _always(fields.Nested, Schema.from_dict({
        "path": _always(fields.String),
        **{name: _nullable(fields.Float) for name in (
            "total", "used", "free", "percent", "readBytesPerSec", "writeBytesPerSec")}},
        name="MetricsDisk"))
    network = _always(fields.Nested, _figures("MetricsNetwork", "sentBytesPerSec",
                                              "recvBytesPerSec"))
    load_average = _nullable(fields.List, fields.Float(), data_key="loadAverage",
                             metadata={"description": "1, 5 and 15 minutes."})
    processes = _nullable(fields.Integer)
    uptime_seconds = _nullable(fields.Integer, data_key="uptimeSeconds")
    process = _nullable(fields.Nested, Schema.from_dict({
        "pid": _always(fields.Integer), "cpuPercent": _nullable(fields.Float),
        "rssBytes": _nullable(fields.Integer), "threads": _nullable(fields.Integer)},
        name="MetricsProcess"), metadata={"description": "Orchestra itself."})
    gpu = _always(fields.List, fields.Nested(Schema.from_dict({
        "name": _always(fields.String), "vendor": _always(fields.String),
        **{name: _nullable(fields.Float) for name in (
            "utilizationPercent", "memoryUsedBytes", "memoryTotalBytes", "temperatureC")}},
        name="MetricsGpu")))
    lmstudio = _nullable(fields.Nested, Schema.from_dict({
        "reachable": _always(fields.Boolean), "activeModel": _nullable(fields.String),
        "url": fields.String()}, name="MetricsModelServer"),
        metadata={"description": "The model server, asked only while someone subscribes."})
    websocket = _always(fields.Nested, Schema.from_dict({
        "clients": _always(fields.Integer), "monitoring": _always(fields.Integer),
        "lastBroadcastMs": _nullable(fields.Float)}, name="MetricsWebSocket"), metadata={
        "description": "Connections, monitoring subscribers, and how long the previous "
                       "metrics broadcast took to write to every subscriber."})


class TaskSubscribedFrameSchema(Schema):
    task_id = _always(fields.Integer, data_key="taskId")
    task = _always(fields.Nested, TaskOutSchema)


class TaskUpdateFrameSchema(Schema):
    task_id = _always(fields.Integer, data_key="taskId")
    event = _always(fields.String, metadata={
        "description": "The change: created, queued, planning, planned, running, "
                       "subtask_started, checked, subtask_retrying, subtask_needs_review, "
                       "subtask_accepted, subtask_edited, needs_review, completed, failed, "
                       "cancelled, interrupted, ..."})
    task = _nullable(fields.Nested, TaskOutSchema, metadata={
        "description": "The task as read after the change."})
    subtask = fields.Nested(SubtaskOutSchema,
                            metadata={"description": "When a subtask changed."})


class TaskIdFrameSchema(Schema):
    task_id = _always(fields.Integer, data_key="taskId")


class KnowledgeProgressSchema(Schema):
    """A source's indexing progress."""

    knowledge_base_id = _always(fields.Integer, data_key="knowledgeBaseId")
    source_id = _always(fields.Integer, data_key="sourceId")
    status = _always(fields.String, validate=validate.OneOf(("indexing", "ready", "failed")))
    phase = _always(fields.String, validate=validate.OneOf(
        ("chunking", "embedding", "done", "failed")))
    done = _always(fields.Integer)
    total = _always(fields.Integer)
    chunk_count = _always(fields.Integer, data_key="chunkCount")
    error = _nullable(fields.String, metadata={"description": "One sentence, when it failed."})


class KnowledgeSubscribedFrameSchema(Schema):
    knowledge_base_id = _always(fields.Integer, data_key="knowledgeBaseId")
    sources = _always(fields.List, fields.Nested(KnowledgeProgressSchema), metadata={
        "description": "The sources of the base being indexed now."})


class KnowledgeBaseIdFrameSchema(Schema):
    knowledge_base_id = _always(fields.Integer, data_key="knowledgeBaseId")


class CrawlPageSchema(Schema):
    id = _always(fields.Integer)
    url = _always(fields.String)
    title = _nullable(fields.String)
    depth = _nullable(fields.Integer)
    status_code = _nullable(fields.Integer, data_key="statusCode")
    code = _nullable(fields.String)
    error = _nullable(fields.String)


class CrawlFrameSchema(Schema):
    id = _always(fields.Integer)
    url = _always(fields.String)
    status = _always(fields.String)
    max_pages = _nullable(fields.Integer, data_key="maxPages")
    max_depth = _nullable(fields.Integer, data_key="maxDepth")
    include = _always(fields.List, fields.String())
    exclude = _always(fields.List, fields.String())
    render = _nullable(fields.String)
    respect_robots = _nullable(fields.Boolean, data_key="respectRobots")
    pages_done = _always(fields.Integer, data_key="pagesDone")
    pages_failed = _always(fields.Integer, data_key="pagesFailed")
    pages_queued = _always(fields.Integer, data_key="pagesQueued")
    error = _nullable(fields.String)
    created_at = _nullable(fields.String, data_key="createdAt")
    completed_at = _nullable(fields.String, data_key="completedAt")
    pages = fields.List(fields.Nested(CrawlPageSchema), metadata={
        "description": "In `crawl:subscribed` only: the pages read so far."})


class CrawlSubscribedFrameSchema(Schema):
    crawl_id = _always(fields.Integer, data_key="crawlId")
    crawl = _always(fields.Nested, CrawlFrameSchema)


class CrawlUpdateFrameSchema(Schema):
    crawl = _always(fields.Nested, CrawlFrameSchema)


class CrawlIdFrameSchema(Schema):
    crawl_id = _always(fields.Integer, data_key="crawlId")


# Every `code` an `error` frame can carry, and when.
ERROR_CODES = {
    "invalid_json": "The frame is not JSON.",
    "invalid_message": "Not an object, a binary frame, or a bad envelope.",
    "unknown_type": "A type the server does not know.",
    "invalid_fields": "`data` fails validation; `fields` maps each field to its messages.",
    "not_found": "The conversation, message, task, knowledge base or crawl does not exist.",
    "busy": "An answer is already being written in that conversation.",
    "not_running": "chat:stop with no answer in progress.",
    "not_editable": "chat:edit of an answer.",
    "no_url": "chat:read_page of a message with no URL.",
    "knowledge_unavailable": "Searching the conversation's knowledge bases failed.",
    "lmstudio_unavailable": "The model server cannot be reached.",
    "lmstudio_timeout": "The model server did not answer in time.",
    "model_not_found": "The requested model is not on the server.",
    "context_too_long": "The prompt is longer than the model's context.",
    "stream_broken": "The answer broke off in the middle.",
    "lmstudio_error": "The model server answered with another error.",
    "shutting_down": "The server is stopping.",
    "database_error": "The database is not available.",
    "internal_error": "A bug; the details are in the server's log.",
    "web_unavailable": "chat:read_page on a server without the web service.",
    # chat:read_page when the page cannot be read: the web service's code.
    **{code: "chat:read_page: the page could not be read (the web service's code)."
       for code in web_errors.CODES},
}


class ErrorFrameSchema(Schema):
    code = _always(fields.String, validate=validate.OneOf(tuple(ERROR_CODES)))
    message = _always(fields.String, metadata={"description": "One sentence for people."})
    request_type = fields.String(data_key="requestType",
                                 metadata={"description": "The type of the refused frame."})
    fields_ = fields.Dict(data_key="fields", metadata={
        "description": "With invalid_fields and invalid_message: field -> messages."})
    retryable = fields.Boolean(metadata={
        "description": "Model-server errors: whether sending the same request may succeed."})
    conversation_id = fields.Integer(data_key="conversationId", metadata={
        "description": "When the error ends an answer (and with chat:read_page failures)."})
    message_id = fields.Integer(data_key="messageId")
    prompt_tokens = fields.Integer(data_key="promptTokens", allow_none=True,
                                   metadata={"description": "context_too_long only."})
    context_length = fields.Integer(data_key="contextLength", allow_none=True,
                                    metadata={"description": "context_too_long only."})


# type -> (data schema, what it is); the order is the document's.
SERVER_FRAMES = {
    "connected": (ConnectedFrameSchema, "The connection is open: the server's limits."),
    "pong": (PongFrameSchema, "The answer to ping."),
    "chat:message": (MessageOutSchema, "A stored message (a user message, an answer "
                     "starting, an answer finished or cut short)."),
    "chat:streaming": (ChatStreamingFrameSchema, "A piece of an answer being written."),
    "chat:settings": (ConversationOutSchema, "A conversation's settings, after a change."),
    "chat:history": (ChatHistoryFrameSchema, "A page of a conversation's messages."),
    "chat:page": (ChatPageFrameSchema, "The page a chat:read_page read."),
    "monitoring:subscribed": (MonitoringSubscribedFrameSchema, "The last hour of samples."),
    "monitoring:metrics": (MetricsFrameSchema, "A sample, every metrics interval."),
    "monitoring:unsubscribed": (NoDataSchema, "No more metrics."),
    "task:subscribed": (TaskSubscribedFrameSchema, "The task as it is now."),
    "task:update": (TaskUpdateFrameSchema, "A task or one of its subtasks changed."),
    "task:unsubscribed": (TaskIdFrameSchema, "No more updates of that task."),
    "tasks:subscribed": (NoDataSchema, "Updates of every task follow."),
    "tasks:unsubscribed": (NoDataSchema, "No more updates of every task."),
    "knowledge:subscribed": (KnowledgeSubscribedFrameSchema, "The base's indexing now."),
    "knowledge:update": (KnowledgeProgressSchema, "A source's indexing progressed."),
    "knowledge:unsubscribed": (KnowledgeBaseIdFrameSchema, "No more updates of that base."),
    "crawl:subscribed": (CrawlSubscribedFrameSchema, "The crawl as it is now."),
    "crawl:update": (CrawlUpdateFrameSchema, "A crawl read a page, or ended."),
    "crawl:unsubscribed": (CrawlIdFrameSchema, "No more updates of that crawl."),
    "error": (ErrorFrameSchema, "A frame was refused or failed; the connection stays open."),
}
