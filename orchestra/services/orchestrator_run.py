"""Running a task's subtasks: prompts, model calls through the gate, checks and re-asks."""

import logging
import time

from orchestra.db import utcnow
from orchestra.services import orchestrator_prompts as prompts
from orchestra.services.hallucination import OK
from orchestra.services.lmstudio import LMStudioError
from orchestra.services.orchestrator_plan import dependency_order, model_task_type

logger = logging.getLogger(__name__)


class EmptyAnswer(Exception):
    message = "The model returned an empty answer."


class SubtaskRunner:
    """The part of the Orchestrator that runs subtasks (it provides stores, lmstudio, gate,
    detector, _set_task and _set_subtask)."""

    async def _start_running(self, task):
        await self.stores.subtasks.reset_unfinished(task["id"])
        return await self._set_task(task["id"], "running", status="running", error=None,
                                    completed_at=None, started_at=task["started_at"] or utcnow())

    async def _run_job(self, task):
        began = time.monotonic()
        task_id = task["id"]
        instructions = await self.stores.instructions.active()
        reference = await self._reference(task)
        subtasks = dependency_order(await self.stores.subtasks.of_task(task_id))
        finished = {s["position"]: s for s in subtasks if s["status"] == "completed"}
        try:
            for subtask in subtasks:
                if subtask["status"] == "completed":
                    continue
                subtask = await self._run_subtask(task, subtask, finished, instructions,
                                                  reference)
                if subtask["status"] == "failed":
                    await self._add_duration(task_id, began)
                    return await self._set_task(
                        task_id, "failed", final=True, status="failed", completed_at=utcnow(),
                        error="Subtask %d (%s) failed: %s" % (
                            subtask["position"] + 1, subtask["title"], subtask["error"]))
                finished[subtask["position"]] = subtask
        except BaseException:  # cancelled or broken: the time spent still counts
            await self._add_duration(task_id, began)
            raise
        await self._add_duration(task_id, began)
        rows = await self.stores.subtasks.of_task(task_id)
        await self._set_task(task_id, "completed", final=True, status="completed",
                             completed_at=utcnow(), result=prompts.leaf_results(rows))

    async def _add_duration(self, task_id, began):
        row = await self.stores.tasks.get(task_id)
        elapsed = int((time.monotonic() - began) * 1000)
        await self.stores.tasks.update(task_id, {"duration_ms": (row["duration_ms"] or 0)
                                                 + elapsed})

    async def _reference(self, task):
        """The task's knowledge base as {"name", "text"}; None without one (or when none of
        its sources is ready: an empty base grounds nothing)."""
        if task.get("knowledge_base_id") is None:
            return None
        base = await self.stores.knowledge_bases.get(task["knowledge_base_id"])
        text = await self.stores.knowledge_bases.text(base["id"]) if base else ""
        return {"name": base["name"], "text": text} if text.strip() else None

    async def _run_subtask(self, task, subtask, finished, instructions, reference):
        task_id, sub_id = task["id"], subtask["id"]
        model = await self._choose_model(task, subtask, model_task_type(subtask["kind"]))
        context = await self._context_length(model)
        if task["workflow_id"] is not None:
            messages = prompts.workflow_step_messages(self.lmstudio, subtask, finished,
                                                      instructions, context, reference)
        else:
            messages = prompts.step_messages(self.lmstudio, task, subtask, finished,
                                             instructions, context, reference)
        label = {"task_id": task_id, "subtask_id": sub_id, "title": subtask["title"],
                 "rows": (task, subtask)}
        began = time.monotonic()
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        attempts = subtask["attempts"] or 0
        try:
            result = await self._call(label, messages, model, started=True)
            attempts += result["attempts"]
            self._count(usage, result)
            if not result["text"].strip():
                raise EmptyAnswer()
            text, report = result["text"], None
            if task["check_answers"]:
                text, report = await self._checked(task, subtask, messages, result, finished,
                                                   label, usage, reference)
                attempts += report.get("reasked", 0)
        except (LMStudioError, EmptyAnswer) as error:
            attempts += self.retries + 1 if getattr(error, "transient", False) else 1
            await self.stores.tasks.add_usage(task_id, **usage)
            return await self._set_subtask(
                task_id, sub_id, "subtask_failed", status="failed", error=error.message,
                attempts=attempts, completed_at=utcnow(), **self._spent(began, usage))
        await self.stores.tasks.add_usage(task_id, **usage)
        return await self._set_subtask(
            task_id, sub_id, "subtask_completed", status="completed", result=text,
            attempts=attempts, completed_at=utcnow(), error=None,
            verdict=report, score=report["score"] if report else None,
            **self._spent(began, usage))

    async def _checked(self, task, subtask, messages, result, finished, label, usage,
                       reference):
        """(final text, report): check the answer; re-ask once, with the flags, if suspect.

        Answers are grounded in the task's knowledge base (whatever their kind) when it has
        one, summaries in the task's description otherwise; both also in the results they
        build on."""
        sources = None
        if reference or subtask["kind"] == "summarization":
            sources = [task["description"] or ""] + [
                finished[p]["result"] or "" for p in subtask["depends_on"] or []
                if p in finished]
            if reference:
                sources.insert(0, reference["text"])
        check_label = {k: v for k, v in label.items() if k != "rows"}

        async def check(text, finish_reason):
            report = await self.detector.check(
                text, messages=messages, sources=sources, samples=self.check_samples,
                model=result["model"], finish_reason=finish_reason, label=check_label)
            await self._set_subtask(task["id"], subtask["id"], "checked", verdict=report,
                                    score=report["score"])
            return report

        report = await check(result["text"], result["finish_reason"])
        if report["verdict"] == OK:
            return result["text"], report
        first = {"score": report["score"], "verdict": report["verdict"],
                 "flags": report["flags"]}
        await self._set_subtask(task["id"], subtask["id"], "subtask_retrying",
                                result=result["text"])
        again = messages + [{"role": "assistant", "content": result["text"]},
                            {"role": "user", "content": prompts.check_feedback(report)}]
        try:
            second = await self._call(label, again, result["model"])
        except LMStudioError as error:
            logger.info("re-asking subtask %s failed: %s", subtask["id"], error.message)
            return result["text"], dict(report, reasked=0, first=first)
        self._count(usage, second)
        if not second["text"].strip():
            return result["text"], dict(report, reasked=1, first=first)
        report = await check(second["text"], second["finish_reason"])
        return second["text"], dict(report, reasked=1, first=first)

    async def _call(self, label, messages, model, started=False, **params):
        """One model call (with the client's retries) inside a slot of the gate; with
        `started`, the subtask is marked running once the slot is granted."""
        async with self.gate.slot(label):
            if started:
                task, subtask = label["rows"]
                await self._set_subtask(task["id"], subtask["id"], "subtask_started",
                                        status="running", model=model, error=None,
                                        started_at=utcnow())
            return await self.lmstudio.generate_with_retry(
                messages, model=model, retries=self.retries, backoff=self.retry_backoff,
                **params)

    async def _choose_model(self, task, subtask, kind):
        """The subtask's or task's model, else the one recommended for the kind of work."""
        explicit = (subtask or {}).get("model") or task["model"]
        if explicit:
            return explicit
        try:
            return (await self.lmstudio.recommend_model(kind))["model"]
        except ValueError:
            return (await self.lmstudio.recommend_model("chat"))["model"]
        except LMStudioError:
            return None  # the call itself will say what is wrong with the server

    async def _context_length(self, model):
        try:
            models = await self.lmstudio.list_models()
        except LMStudioError:
            return None
        entry = next((m for m in models if m["id"] == model), None)
        return (entry or {}).get("max_context_length")

    @staticmethod
    def _count(usage, result):
        usage["prompt_tokens"] += result["usage"]["prompt_tokens"] or 0
        usage["completion_tokens"] += result["usage"]["completion_tokens"] or 0

    @staticmethod
    def _spent(began, usage):
        return dict(usage, duration_ms=int((time.monotonic() - began) * 1000))
