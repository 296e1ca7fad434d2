"""Orchestrator: plans tasks into subtasks, runs them on local models, checks every answer.

Work happens in one asyncio job per task (its independent subtasks in asyncio tasks of their
own); every state change is written to the store first and then announced through the
broadcast callback as (task_id, event, task=row, subtask=row), with rows read after the change
under a per-task lock, so each announcement carries the task as it is when sent. Model calls
from all jobs (and from the checker) share one ModelGate, so the limit on concurrent calls
holds across tasks and the waiting line is visible. A task with a knowledge base gets, per
subtask, the passages the knowledge service retrieves for it, and its check grounds the answer
in exactly those (orchestrator_run.py).
"""

import asyncio
import logging
import weakref

from orchestra.db import utcnow
from orchestra.services.gate import ModelGate
from orchestra.services.hallucination import HallucinationDetector
from orchestra.services.lmstudio import LMStudioError
from orchestra.services import orchestrator_prompts as prompts
from orchestra.services.orchestrator_plan import (PlanError, feedback_message, link_inputs,
                                                  missing_steps, normalize_kind, parse_plan,
                                                  plan_messages, plan_schema, single_subtask,
                                                  steps_feedback)
from orchestra.services.orchestrator_review import ReviewMixin
from orchestra.services.orchestrator_run import SubtaskRunner
from orchestra.services.orchestrator_tools import ToolStepRunner

logger = logging.getLogger(__name__)

TASK_FIELDS = ("title", "description", "priority", "model", "workflow_id", "knowledge_base_id",
               "check_answers", "subtasks")
DONE = ("completed", "failed", "cancelled", "needs_review")
PLAN_EXCERPT_TOKENS = 300   # the planner only needs to know what the knowledge base is about
PLAN_ECHO_TOKENS = 400      # of an unusable plan, sent back with what is wrong with it


class OrchestratorError(Exception):
    """A request the orchestrator refuses; `message` is for people, `http_status` for the API."""

    def __init__(self, message, http_status=409):
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class Orchestrator(ReviewMixin, SubtaskRunner, ToolStepRunner):
    def __init__(self, stores, lmstudio, *, max_model_calls=2, detector=None, check_samples=2,
                 retries=2, retry_backoff=0.5, plan_attempts=3, knowledge=None, tools=None,
                 services=None, hub=None):
        self.stores = stores
        self.lmstudio = lmstudio
        self.knowledge = knowledge   # KnowledgeService: tasks with a knowledge base need it
        # The tool registry tool steps run from (the planner is offered the tools of it that
        # suit each task), with what tools use (the app's services, e.g. "web" and
        # "knowledge", and its hub); None: no tools.
        self.tools = tools
        self.services = services
        self.hub = hub
        self.gate = ModelGate(max_model_calls)
        self.gate.on_change = self._queue_changed
        self.detector = detector or HallucinationDetector(lmstudio, gate=self.gate)
        self.check_samples = check_samples
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.plan_attempts = plan_attempts
        self._broadcast = None
        self._jobs = {}        # task id -> asyncio.Task (None while one is being started)
        self._stopping = {}    # task id -> "cancelled" | "interrupted"
        self._locks = weakref.WeakValueDictionary()  # task id -> asyncio.Lock, while used
        self._announcing = asyncio.Lock()  # "queued" frames go out in the order they happen
        self._announcers = set()
        self._feedback_for = {}

    # -- events ----------------------------------------------------------------------------

    def set_broadcast_callback(self, callback):
        """callback(task_id, event, task=row, subtask=row or None), called on every change."""
        self._broadcast = callback

    def _emit(self, event, task, subtask=None):
        if self._broadcast is None:
            return
        try:
            self._broadcast(task["id"], event, task=task, subtask=subtask)
        except Exception:
            logger.exception("broadcasting %s of task %s failed", event, task["id"])

    def _lock(self, task_id):
        """The lock that keeps a task's change, its re-read and its announcement together:
        without it two subtasks finishing at once could announce their rows out of order."""
        lock = self._locks.get(task_id)
        if lock is None:
            lock = self._locks[task_id] = asyncio.Lock()
        return lock

    def _queue_changed(self):
        # Announce each waiting step's new place in line once. The gate calls this
        # synchronously, so the rows are read (fresh, not as they were when the step
        # was queued) in a short task of its own; check samples are not announced.
        for position, ticket in enumerate(self.gate.waiting, 1):
            label = ticket.label
            if label.get("task_id") is None or label.get("check"):
                continue
            if getattr(ticket, "announced", None) != position:
                ticket.announced = position
                announcer = asyncio.ensure_future(self._announce_queued(ticket))
                self._announcers.add(announcer)
                announcer.add_done_callback(self._announcers.discard)

    async def _announce_queued(self, ticket):
        task_id, subtask_id = ticket.label["task_id"], ticket.label.get("subtask_id")
        try:
            async with self._announcing, self._lock(task_id):
                task = await self.stores.tasks.get(task_id)
                if task is None or not self.gate.is_waiting(ticket):
                    return  # granted (or gone) meanwhile: "queued" would be stale
                subtask = next((s for s in task["subtasks"] if s["id"] == subtask_id), None)
                self._emit("queued", task, subtask)
        except Exception:  # noqa: BLE001 - a lost announcement must not break the queue
            logger.exception("announcing the queue of task %s failed", task_id)

    def queue(self, task_id=None):
        """The waiting line: totals, and this task's first place in it when given."""
        snap = self.gate.snapshot()
        info = {"limit": snap["limit"], "running": len(snap["running"]),
                "waiting": len(snap["waiting"]),
                "tasks": [label.get("task_id") for label in snap["waiting"]]}
        if task_id is not None:
            info["position"] = self.gate.position(task_id=task_id)
        return info

    async def _set_task(self, task_id, event, final=False, **values):
        """Store a change and announce it. A `final` change ends the task's job: its claim is
        released before the announcement, so a client that reacts to it (retry, run again)
        is never told the task is still busy."""
        async with self._lock(task_id):
            task = await self.stores.tasks.update(task_id, values)
            if final:
                self._jobs.pop(task_id, None)
            self._emit(event, task)
        return task

    async def _set_subtask(self, task_id, subtask_id, event, **values):
        async with self._lock(task_id):
            subtask = await self.stores.subtasks.update(subtask_id, values)
            task = await self.stores.tasks.get(task_id)
            self._emit(event, task, subtask)
        return subtask

    # -- jobs ------------------------------------------------------------------------------

    async def _task(self, task_id):
        task = await self.stores.tasks.get(task_id)
        if task is None:
            raise OrchestratorError("No task with id %s." % task_id, 404)
        return task

    def _claim(self, task_id):
        if task_id in self._jobs:
            raise OrchestratorError("Task %d is already being planned or run." % task_id)
        self._jobs[task_id] = None

    def _spawn(self, task_id, coroutine):
        self._jobs[task_id] = asyncio.ensure_future(self._job(task_id, coroutine))

    async def _job(self, task_id, coroutine):
        try:
            await coroutine
        except asyncio.CancelledError:
            await self._stopped(task_id, self._stopping.pop(task_id, "cancelled"))
        except (OrchestratorError, LMStudioError) as error:
            # Expected (the model server is down or refused, no plan could be asked for): one
            # line says so; a traceback would only point at this code.
            logger.warning("task %s failed: %s", task_id, error.message)
            await self._record_failure(task_id, error.message)
        except Exception as error:  # noqa: BLE001 - a bug or a lost database fails one task
            logger.exception("task %s failed unexpectedly", task_id)
            await self._record_failure(
                task_id, getattr(error, "message", None) or "Internal error: %s" % error)
        finally:
            # A final change may already have released the claim, and a new job taken it.
            if self._jobs.get(task_id) is asyncio.current_task():
                del self._jobs[task_id]

    async def _record_failure(self, task_id, message):
        try:
            await self._set_task(task_id, "failed", final=True, status="failed", error=message,
                                 completed_at=utcnow())
        except Exception:
            logger.exception("cannot record the failure of task %s", task_id)

    def is_busy(self, task_id):
        return task_id in self._jobs

    async def wait(self, task_id):
        """Until the task's current job (if any) is over; for tests and shutdown."""
        job = self._jobs.get(task_id)
        if job is not None:
            await asyncio.wait([job])

    # -- public operations -----------------------------------------------------------------

    async def create_task(self, data):
        """Store a new task (with hand-written subtasks if given); plans and runs it at once
        when data["auto_run"] is true."""
        values = {k: v for k, v in data.items() if k in TASK_FIELDS}
        values["status"] = "pending"
        if values.get("subtasks"):
            # Callers that bypass the API's schema may still use a kind's other names.
            values["subtasks"] = [dict(s, kind=normalize_kind(s.get("kind")))
                                  for s in values["subtasks"]]
        task = await self.stores.tasks.create(values)
        self._emit("created", task)
        if data.get("auto_run"):
            return await self.run(task["id"])
        return task

    async def plan(self, task_id, then_run=False):
        """Ask a model for subtasks (in the background); the task row as planning starts."""
        self._claim(task_id)
        try:
            task = await self._task(task_id)
            if task["status"] == "completed":
                raise OrchestratorError("Task %d is completed; create a new one." % task_id)
            task = await self._set_task(task_id, "planning", status="planning", error=None,
                                        note=None, completed_at=None)
        except BaseException:
            self._jobs.pop(task_id, None)
            raise
        self._spawn(task_id, self._plan_job(task, then_run))
        return task

    async def run(self, task_id):
        """Run (or resume) a task in the background; unplanned tasks are planned first."""
        task = await self._task(task_id)
        if not task["subtasks"]:
            return await self.plan(task_id, then_run=True)
        self._claim(task_id)
        try:
            if task["status"] == "completed":
                raise OrchestratorError("Task %d is already completed." % task_id)
            task = await self._start_running(task)
        except BaseException:
            self._jobs.pop(task_id, None)
            raise
        self._spawn(task_id, self._run_job(task))
        return task

    async def retry_subtask(self, subtask_id, feedback=True):
        """Run a failed (or skipped) subtask again, and the rest of its task after it; one
        that needs review is asked again, with its check's findings as feedback unless
        `feedback` is false."""
        subtask = await self._subtask(subtask_id)
        if subtask["status"] == "needs_review":
            return await self.retry_with_feedback(subtask, feedback)
        if subtask["status"] not in ("failed", "skipped"):
            raise OrchestratorError("Only a failed, skipped or needs-review subtask can be "
                                    "retried; this one is %s." % subtask["status"])
        return await self.run(subtask["task_id"])

    async def _subtask(self, subtask_id):
        subtask = await self.stores.subtasks.get(subtask_id)
        if subtask is None:
            raise OrchestratorError("No subtask with id %s." % subtask_id, 404)
        return subtask

    async def cancel(self, task_id):
        """Stop a task: its running model request is closed, unfinished subtasks skipped."""
        task = await self._task(task_id)
        job = self._jobs.get(task_id)
        if job is not None:
            self._stopping[task_id] = "cancelled"
            job.cancel()
            await asyncio.wait([job])
            return await self._task(task_id)
        if task_id in self._jobs:
            raise OrchestratorError("Task %d is starting; try again in a moment." % task_id)
        if task["status"] in DONE:
            raise OrchestratorError("Task %d is already %s." % (
                task_id, task["status"].replace("_", " ")))
        return await self._stopped(task_id, "cancelled")

    async def delete_task(self, task_id):
        """Delete a task and its subtasks; one that is queued or running is cancelled first
        (its model request closed), so no job writes to it afterwards. Announced as
        "deleted" with the task as it was last."""
        task = await self._task(task_id)
        if task_id in self._jobs:
            task = await self.cancel(task_id)
        if not await self.stores.tasks.delete(task_id):
            raise OrchestratorError("No task with id %s." % task_id, 404)
        for subtask in task["subtasks"]:
            self._feedback_for.pop(subtask["id"], None)
        self._emit("deleted", task)
        return task

    async def run_workflow(self, workflow_id, values, title=None, model=None,
                           check_answers=True, auto_run=True, knowledge_base_id=None):
        """A task whose subtasks are the workflow's steps with `values` filled in."""
        workflow = await self.stores.workflows.get(workflow_id)
        if workflow is None:
            raise OrchestratorError("No workflow with id %s." % workflow_id, 404)
        if not workflow["steps"]:
            raise OrchestratorError("Workflow '%s' has no steps to run." % workflow["name"], 400)
        templates = await self.workflow_templates(workflow)
        subtasks = prompts.workflow_subtasks(workflow, templates, values)
        given = "; ".join("%s = %s" % (k, v) for k, v in values.items())
        description = workflow["description"] or ""
        if given:
            description = (description + "\n\n" if description else "") + "Values: " + given
        return await self.create_task({
            "title": (title or "Run of %s" % workflow["name"])[:200],
            "description": description, "workflow_id": workflow_id, "model": model,
            "check_answers": check_answers, "subtasks": subtasks, "auto_run": auto_run,
            "knowledge_base_id": knowledge_base_id})

    async def workflow_templates(self, workflow):
        ids = {s["template_id"] for s in workflow["steps"] if s.get("template_id") is not None}
        rows = [await self.stores.templates.get(i) for i in sorted(ids)]
        return {r["id"]: r for r in rows if r is not None}

    # -- start and stop --------------------------------------------------------------------

    def recover(self):
        """At start: tasks a previous process left planning or running become interrupted."""
        ids = self.stores.tasks.interrupt_active()
        if ids:
            logger.info("tasks %s were interrupted by a restart", ", ".join(map(str, ids)))
        return ids

    async def shutdown(self):
        """Stop every job; their tasks become interrupted and can be resumed after a restart."""
        for announcer in list(self._announcers):
            announcer.cancel()
        jobs = [(task_id, job) for task_id, job in self._jobs.items() if job is not None]
        for task_id, job in jobs:
            self._stopping[task_id] = "interrupted"
            job.cancel()
        if jobs:
            await asyncio.wait([job for _, job in jobs])
        self.detector.close()

    async def _stopped(self, task_id, reason):
        if reason == "interrupted":
            task = await self.stores.tasks.mark_interrupted(task_id)
            self._jobs.pop(task_id, None)
            self._emit("interrupted", task)
            return task
        await self.stores.subtasks.skip_pending(task_id, "Cancelled.")
        return await self._set_task(task_id, "cancelled", final=True, status="cancelled",
                                    completed_at=utcnow())

    # -- planning --------------------------------------------------------------------------

    async def _plan_job(self, task, then_run):
        plan, note = await self._make_plan(task)
        await self.stores.subtasks.replace_plan(task["id"], plan)
        task = await self._set_task(task["id"], "plan_failed" if note else "planned",
                                    final=not then_run, status="pending", note=note,
                                    plan_source="fallback" if note else "model")
        if then_run:
            task = await self._start_running(task)
            await self._run_job(task)

    async def _make_plan(self, task):
        """(subtasks, note): a valid plan, or one subtask and a note saying why."""
        instructions = await self.stores.instructions.active()
        reference = await self._reference(task)
        excerpt = None
        if reference:
            text = await self.stores.knowledge_bases.text(reference["id"])
            if text.strip():
                excerpt = dict(reference, text=self.lmstudio.truncate_to_context(
                    text, PLAN_EXCERPT_TOKENS))
        # The planner is offered the tools this task can use (web tools when it names a
        # URL, ...): each one lengthens the prompt of what may be a small model.
        tools = self.tools.for_task(task) if self.tools is not None else None
        messages = plan_messages(task, instructions, excerpt, tools)
        model = await self._choose_model(task, None, "chat")
        label = {"task_id": task["id"], "subtask_id": None, "title": "planning",
                 "rows": (task, None)}
        problem = short = None
        tries = 0
        for attempt in range(self.plan_attempts):
            try:
                # Re-asks sample more freely: at the same temperature a small model mostly
                # gives the same answer again, feedback or not.
                result = await self._call_json(label, messages, plan_schema(task, tools),
                                               model, temperature=0.7 if attempt else 0.2)
            except LMStudioError as error:
                if attempt == 0 or error.transient:
                    raise PlanningFailed(error.message) from None
                # A re-ask the server refuses (its context is full, say) ends the tries.
                problem = error.message
                break
            tries += 1
            await self.stores.tasks.add_usage(task["id"], result["usage"]["prompt_tokens"],
                                              result["usage"]["completion_tokens"])
            try:
                plan = link_inputs(parse_plan(result["text"], tools), task)
            except PlanError as error:
                found = self.lmstudio.validate_response(result["text"], result["finish_reason"])
                problem = " ".join([str(error)] + [p["message"] for p in found])
                logger.info("task %s: plan attempt %d (%s) unusable: %s", task["id"],
                            attempt + 1, result["json_mode"], problem)
                messages = messages + feedback_message(self._echo(result["text"]), problem)
                continue
            missing = missing_steps(task, plan)
            if missing is None or attempt == self.plan_attempts - 1:
                return plan, None
            # A valid plan with fewer subtasks than the task names steps is asked again while
            # tries remain; the longest is kept, and used if nothing better comes.
            logger.info("task %s: plan attempt %d (%s) short: %s", task["id"], attempt + 1,
                        result["json_mode"], missing)
            if short is None or len(plan) > len(short):
                short = plan
            messages = messages + steps_feedback(self._echo(result["text"]), missing)
        if short is not None:
            return short, None
        note = ("The model gave no usable plan after %d %s (%s), so the task runs as a "
                "single subtask." % (tries, "try" if tries == 1 else "tries",
                                     problem.rstrip(".")))
        return single_subtask(task), note

    def _echo(self, answer):
        # The answer goes back with the feedback; one that looped is cut, or the re-asks
        # outgrow a small model's context.
        return self.lmstudio.truncate_to_context(answer, PLAN_ECHO_TOKENS)

    async def _call_json(self, label, messages, schema, model, **params):
        """The planning call: structured output in the form the server takes (the prompt
        alone at worst), inside a slot of the gate, with the client's retries."""
        async with self.gate.slot(label):
            return await self.lmstudio.structured_completion(
                messages, schema, name="plan", model=model, retries=self.retries,
                backoff=self.retry_backoff, describe_schema=False, **params)


class PlanningFailed(OrchestratorError):
    """The server could not be asked for a plan at all (as opposed to an unusable plan)."""

    def __init__(self, message):
        super().__init__("Planning failed: %s" % message, 502)
