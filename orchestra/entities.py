"""The registry of stored entities: each described once, for the JSON API and the form pages.

An Entity names its store and its create/update schemas, the hooks that turn validated input
into columns (`to_row`) and react to a write (`after_create`, `after_update`), the fields
another part of Orchestra owns (`owned`: read-only here, each with the owner named), the
guard that refuses a change its owner is in the middle of (`guard`, raising Conflict) and,
for lists, the filters, the parent row a child names, and a text search. `web/api.py` and the
form pages (`web/crud.py` and the pages built on it) read the same Entity, so they cannot
drift apart.
"""

import logging

from orchestra import schemas
from orchestra.services import secrets

logger = logging.getLogger(__name__)


class Conflict(Exception):
    """A write refused because the row's owner is working on it (HTTP 409)."""

    http_status = 409

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class ReadOnly(Exception):
    """A write through the generic API to rows only their service writes (HTTP 405)."""

    http_status = 405

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Entity:
    def __init__(self, name, store, create_schema, update_schema, *, singular=None,
                 to_row=None, after_create=None, after_update=None, owned=None, guard=None,
                 filters=(), parent=None, references=(), search=None, written_by=None):
        self.name = name                      # the URL segment: /api/<name>
        self.singular = singular or name.rstrip("s").replace("-", " ")
        self.store = store                    # attribute of settings["stores"]
        self.create_schema = create_schema
        self.update_schema = update_schema
        self._to_row = to_row                 # (data, settings, row) -> columns
        self.after_create = after_create      # (row, settings) -> None, e.g. start a fetch
        self.after_update = after_update      # (old, new, data, settings) -> None
        self.owned = owned or {}              # camelCase key -> who writes it
        self.guard = guard                    # async (settings, action, row, data) -> None
        self.filters = filters                # query arguments that filter lists: (arg, column)
        self.parent = parent                  # (column, parent store) for child rows
        self.references = references          # (column, store): a list of that store's ids
        self.search = search                  # store method: (q, limit, offset) -> (rows, total)
        self.written_by = written_by          # {action: where to do it} for read-only rows
        self._dumper = None

    def dump(self, row, many=False):
        # One schema instance, made once: building it (fields deep-copied) cost as much as
        # dumping a page of rows.
        if self._dumper is None:
            self._dumper = self.create_schema()
        return self._dumper.dump(row, many=many)

    def to_row(self, data, settings, row=None):
        """Validated input -> the columns to store (`row` is the stored row when updating)."""
        return self._to_row(data, settings, row) if self._to_row else data

    def owned_fields(self, payload):
        """{key: [message]} for each key of `payload` that another part of Orchestra owns."""
        if not isinstance(payload, dict):
            return {}
        return {key: ["Read-only: %s sets it." % owner]
                for key, owner in self.owned.items() if key in payload}

    def check_writable(self, action):
        """Raise ReadOnly when rows of this entity are written elsewhere (405, naming where)."""
        if self.written_by and action in self.written_by:
            raise ReadOnly("%s are read-only here: %s." % (
                self.name.replace("-", " ").capitalize(), self.written_by[action]))

    async def check(self, settings, action, row=None, data=None):
        """Raise Conflict when the owner of `row` (or of its parent) forbids `action` now.
        `action` is "create", "update" or "delete"."""
        self.check_writable(action)
        if self.guard is not None:
            await self.guard(settings, action, row, data or {})


# -- hooks ----------------------------------------------------------------------------------

def account_row(data, settings, row=None):
    return secrets.account_columns(data, settings["secrets"])


def source_row(data, settings, row=None):
    """A new text or file source is indexed at once; a URL source (or a changed URL or
    renderer) is pending until its page is fetched. A source whose content changes is indexed
    again. Afterwards only the web service and the knowledge service set `status`."""
    if row is None:
        if data.get("kind") == "url":
            return dict(data, status="pending", content="")
        return dict(data, status="indexing")
    kind = data.get("kind", row["kind"])
    if kind == "url" and (data.get("url") or row["url"]) and (
            data.get("url", row["url"]) != row["url"] or row["kind"] != "url"
            or render_changed(row, data)):
        return dict(data, status="pending", error=None, content="")
    if kind != "url" and row["kind"] == "url":
        return dict(data, status="indexing", error=None, url=None)
    if "content" in data and data["content"] != row["content"]:
        return dict(data, status="indexing", error=None)
    return data


def render_changed(row, data):
    return "render" in data and (data["render"] or "auto") != (row.get("render") or "auto")


def fetch_source(row, settings):
    settings["services"]["web"].fetch_source(row["id"], row["url"], row.get("render") or "auto")


def start_source(row, settings):
    """A new source is fetched (a URL) or indexed (text, file)."""
    if row["kind"] == "url":
        fetch_source(row, settings)
    elif row["status"] == "indexing":
        settings["services"]["knowledge"].index_source(row["id"])


def restart_changed_source(old, new, data, settings):
    """A source whose URL or renderer changed (or that became a URL source) is fetched again;
    one whose content changed is indexed again."""
    if new["kind"] == "url" and (new["url"] != old["url"] or old["kind"] != "url"
                                 or render_changed(old, data)):
        fetch_source(new, settings)
    elif new["status"] == "indexing" and (old["status"] != "indexing"
                                          or new["content"] != old["content"]):
        settings["services"]["knowledge"].index_source(new["id"])


ACTIVE_TASK = ("planning", "running")


async def task_in_progress(settings, task_id, change="changing its subtasks"):
    """Why a task cannot take `change` now (it is queued, being planned or run), or None."""
    orchestrator = settings["services"].get("orchestrator")
    busy = orchestrator is not None and orchestrator.is_busy(task_id)
    task = await settings["stores"].tasks.get(task_id)
    if task is None:
        return None
    if busy or task["status"] in ACTIVE_TASK:
        return ("Task %d is %s; cancel it before %s."
                % (task_id, "queued or running" if busy and task["status"] not in ACTIVE_TASK
                   else task["status"], change))
    return None


async def guard_task(settings, action, row, data):
    """A task's own fields and its plan change only while the orchestrator is not on it."""
    if action == "update":
        reason = await task_in_progress(settings, row["id"], "editing it")
        if reason:
            raise Conflict(reason)


async def guard_subtask(settings, action, row, data):
    """No subtask is added to, changed in or removed from a task that is queued or running."""
    task_ids = {row["task_id"]} if row is not None else set()
    if data.get("task_id") is not None:
        task_ids.add(data["task_id"])
    for task_id in sorted(task_ids):
        reason = await task_in_progress(settings, task_id)
        if reason:
            raise Conflict(reason)
    if action != "delete" and settings.get("tools") is not None:  # a tool step's tool and args
        settings["tools"].check_step(dict(row or {}, **data))


async def tasks_using_base(settings, base_id):
    """The queued or running tasks grounded in knowledge base `base_id`."""
    orchestrator = settings["services"].get("orchestrator")
    rows = await settings["stores"].tasks.list(limit=1000, knowledge_base_id=base_id)
    return [r for r in rows if r["status"] in ACTIVE_TASK
            or (orchestrator is not None and orchestrator.is_busy(r["id"]))]


async def refuse_while_base_in_use(settings, base_id, what):
    tasks = await tasks_using_base(settings, base_id)
    if tasks:
        raise Conflict("%s: knowledge base %d is used by %s %s, which is queued or running; "
                       "wait for it or cancel it first." % (
                           what, base_id, "task" if len(tasks) == 1 else "tasks",
                           ", ".join(str(t["id"]) for t in tasks)))


async def guard_knowledge_base(settings, action, row, data):
    """A base a running task reads from is not deleted under it."""
    if action == "delete":
        await refuse_while_base_in_use(settings, row["id"], "Cannot delete it")


async def guard_source(settings, action, row, data):
    """Nor are the sources of that base added, changed or removed."""
    base_ids = {row["knowledge_base_id"]} if row is not None else set()
    if data.get("knowledge_base_id") is not None:
        base_ids.add(data["knowledge_base_id"])
    for base_id in sorted(base_ids):
        await refuse_while_base_in_use(settings, base_id, "Cannot %s the source" % action)


async def guard_message(settings, action, row, data):
    """An answer being streamed belongs to the chat service until it ends."""
    if row is not None and row["status"] == "streaming":
        raise Conflict("Message %d is still being written by the chat service; stop it "
                       "first." % row["id"])


ORCHESTRATOR = "the orchestrator"
OUTCOMES = ("status", "result", "error", "note", "verdict", "score", "attempts",
            "promptTokens", "completionTokens", "durationMs", "startedAt", "completedAt",
            "planSource", "subtasksTotal", "subtasksDone", "position")
CHAT_OWNED = ("status", "promptTokens", "completionTokens", "finishReason", "error",
              "citations")


def _owned(keys, owner):
    return {key: owner for key in keys}


ENTITIES = {e.name: e for e in [
    Entity("templates", "templates", schemas.CreateTemplateSchema,
           schemas.UpdateTemplateSchema, filters=(("category", "category"),)),
    Entity("workflows", "workflows", schemas.CreateWorkflowSchema,
           schemas.UpdateWorkflowSchema),
    Entity("instructions", "instructions", schemas.CreateInstructionSchema,
           schemas.UpdateInstructionSchema),
    Entity("knowledge-bases", "knowledge_bases", schemas.CreateKnowledgeBaseSchema,
           schemas.UpdateKnowledgeBaseSchema, singular="knowledge base",
           guard=guard_knowledge_base),
    Entity("knowledge-sources", "knowledge_sources", schemas.CreateKnowledgeSourceSchema,
           schemas.UpdateKnowledgeSourceSchema, singular="knowledge source",
           to_row=source_row, after_create=start_source, after_update=restart_changed_source,
           owned=_owned(("status", "error", "size", "chunkCount", "format"),
                        "the knowledge service"),
           guard=guard_source,
           filters=(("knowledgeBaseId", "knowledge_base_id"),),
           parent=("knowledge_base_id", "knowledge_bases")),
    Entity("accounts", "accounts", schemas.CreateAccountSchema, schemas.UpdateAccountSchema,
           to_row=account_row, owned={"secretMasked": "the secret store"},
           filters=(("service", "service"),)),
    Entity("conversations", "conversations", schemas.CreateConversationSchema,
           schemas.UpdateConversationSchema, search="search",
           references=(("knowledge_base_ids", "knowledge_bases"),)),
    Entity("messages", "messages", schemas.CreateMessageSchema, schemas.UpdateMessageSchema,
           owned=_owned(CHAT_OWNED, "the chat service"), guard=guard_message,
           filters=(("conversationId", "conversation_id"),),
           parent=("conversation_id", "conversations")),
    Entity("tasks", "tasks", schemas.CreateTaskSchema, schemas.UpdateTaskSchema,
           owned=_owned(OUTCOMES, ORCHESTRATOR), guard=guard_task,
           filters=(("status", "status"),)),
    Entity("subtasks", "subtasks", schemas.CreateSubtaskSchema, schemas.UpdateSubtaskSchema,
           owned=_owned(OUTCOMES, ORCHESTRATOR), guard=guard_subtask,
           filters=(("taskId", "task_id"),), parent=("task_id", "tasks")),
    Entity("model-benchmarks", "benchmarks", schemas.CreateBenchmarkSchema,
           schemas.UpdateBenchmarkSchema, filters=(("model", "model"),)),
    Entity("model-versions", "model_versions", schemas.CreateModelVersionSchema,
           schemas.UpdateModelVersionSchema, filters=(("model", "model"),)),
    Entity("training-datasets", "datasets", schemas.CreateDatasetSchema,
           schemas.UpdateDatasetSchema),
    Entity("training-jobs", "training_jobs", schemas.CreateTrainingJobSchema,
           schemas.UpdateTrainingJobSchema, filters=(("status", "status"),)),
    Entity("web-fetch-results", "web_fetches", schemas.CreateWebFetchSchema,
           schemas.UpdateWebFetchSchema, singular="web fetch result",
           written_by={"create": "fetch a page with POST /api/web/fetch",
                       "update": "fetch the page again with POST /api/web/fetch",
                       "delete": "use DELETE /api/web/fetches/<id>, which deletes its "
                                 "files too"}),
]}


def get(name):
    return ENTITIES[name]
