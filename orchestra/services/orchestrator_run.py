"""Running a task's subtasks: prompts, model calls through the gate, checks and re-asks.

Subtasks whose dependencies have an answer run at once, each in an asyncio task of its own;
the gate still bounds the model calls. A subtask that needs review counts as answered: the
subtasks after it run on its result (the user sees both and can still accept, edit or retry
it). The first failure stops the others (they go back to pending, so a retry resumes).
"""

import asyncio
import logging
import time

from orchestra.db import utcnow
from orchestra.services import orchestrator_prompts as prompts
from orchestra.services.hallucination import OK
from orchestra.services.lmstudio import LMStudioError
from orchestra.services.orchestrator_plan import dependency_order, model_task_type
from orchestra.store.tasks import SETTLED

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
        try:
            failed = await self._run_all(task, subtasks, instructions, reference)
        except BaseException:  # cancelled or broken: the time spent still counts
            await self._add_duration(task_id, began)
            raise
        await self._add_duration(task_id, began)
        if failed is not None:
            await self.stores.subtasks.requeue_running(task_id)
            return await self._set_task(
                task_id, "failed", final=True, status="failed", completed_at=utcnow(),
                error="Subtask %d (%s) failed: %s" % (
                    failed["position"] + 1, failed["title"], failed["error"]))
        await self._finish_task(task_id, final=True)

    async def _run_all(self, task, subtasks, instructions, reference):
        """Run the unanswered subtasks, each once what it depends on has an answer; the
        first one that fails (the others are then stopped), or None."""
        positions = {s["position"] for s in subtasks}
        finished = {s["position"]: s for s in subtasks if s["status"] in SETTLED}
        waiting = [s for s in subtasks if s["status"] not in SETTLED]  # in dependency order
        running, failed = {}, None

        def start(subtask):
            waiting.remove(subtask)
            job = asyncio.ensure_future(self._run_subtask(task, subtask, dict(finished),
                                                          instructions, reference))
            running[job] = subtask

        try:
            while failed is None and (waiting or running):
                for subtask in list(waiting):
                    if all(d in finished or d not in positions
                           for d in subtask["depends_on"] or []):
                        start(subtask)
                if not running:  # a cycle in a hand-edited plan: go on in order
                    start(waiting[0])
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for job in sorted(done, key=lambda j: running[j]["position"]):
                    del running[job]
                    row = job.result()  # a bug in one subtask fails the task
                    if row["status"] == "failed":
                        failed = failed or row
                    else:
                        finished[row["position"]] = row
        finally:
            # Cancelled, broken or failed: stop the rest before anything else is written.
            for job in running:
                job.cancel()
            if running:
                await asyncio.wait(running)
        return failed

    async def _add_duration(self, task_id, began):
        row = await self.stores.tasks.get(task_id)
        elapsed = int((time.monotonic() - began) * 1000)
        await self.stores.tasks.update(task_id, {"duration_ms": (row["duration_ms"] or 0)
                                                 + elapsed})

    async def _reference(self, task):
        """The task's knowledge base as {"id", "name"}; None without one."""
        if task.get("knowledge_base_id") is None:
            return None
        base = await self.stores.knowledge_bases.get(task["knowledge_base_id"])
        if base is None:
            return None
        if self.knowledge is None:
            raise self._refuse("Task %d draws on a knowledge base, but knowledge retrieval "
                               "is not running." % task["id"])
        return {"id": base["id"], "name": base["name"]}

    async def _passages(self, task, subtask, finished, context, reference):
        """The chunks of the task's knowledge base retrieved for this subtask, best first,
        within the share of the prompt each earlier result gets; None without a base."""
        if reference is None:
            return None
        if task["workflow_id"] is not None:
            share = prompts.workflow_share(self.lmstudio, subtask, finished, context)
        else:
            share = prompts.step_share(self.lmstudio, task, subtask, finished, context)
        return await self.knowledge.retrieve([reference["id"]],
                                             prompts.passage_query(task, subtask), share)

    async def _run_subtask(self, task, subtask, finished, instructions, reference):
        """Ask for one subtask's answer (and check it), or run its tool; its row as it ends."""
        if subtask["kind"] == "tool":
            return await self._run_tool(task, subtask)
        task_id, sub_id = task["id"], subtask["id"]
        model = await self._choose_model(task, subtask, model_task_type(subtask["kind"]))
        context = await self._context_length(model)
        hits = await self._passages(task, subtask, finished, context, reference)
        if task["workflow_id"] is not None:
            messages = prompts.workflow_step_messages(self.lmstudio, subtask, finished,
                                                      instructions, context, hits)
        else:
            messages = prompts.step_messages(self.lmstudio, task, subtask, finished,
                                             instructions, context, hits)
        label = {"task_id": task_id, "subtask_id": sub_id, "title": subtask["title"]}
        began = time.monotonic()
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        attempts = subtask["attempts"] or 0
        earlier = self._feedback_for.pop(sub_id, None)  # (answer, report) to improve on
        try:
            if earlier is not None:
                text, report = await self._improve(task, subtask, messages, model, earlier,
                                                   finished, label, usage, hits)
                attempts += report.get("reasked", 0)
            else:
                result = await self._call(label, messages, model, started=True)
                attempts += result["attempts"]
                self._count(usage, result)
                if not result["text"].strip():
                    raise EmptyAnswer()
                text, report = result["text"], None
                if task["check_answers"]:
                    text, report = await self._checked(task, subtask, messages, result,
                                                       finished, label, usage, hits)
                    attempts += report.get("reasked", 0)
        except (LMStudioError, EmptyAnswer) as error:
            logger.warning("task %s: subtask %s failed: %s", task_id, sub_id, error.message)
            attempts += self.retries + 1 if getattr(error, "transient", False) else 1
            await self.stores.tasks.add_usage(task_id, **usage)
            return await self._set_subtask(
                task_id, sub_id, "subtask_failed", status="failed", error=error.message,
                attempts=attempts, completed_at=utcnow(), **self._spent(began, usage))
        await self.stores.tasks.add_usage(task_id, **usage)
        # An answer whose check is not "ok" (suspect, hallucinated, or nothing could check
        # it) is kept, but waits for the user: accept, edit or retry it.
        review = report is not None and report["verdict"] != OK
        if report is None and hits is not None:
            # Unchecked, the report only lists the passages the answer was written from.
            report = {"sources": prompts.shown_sources(hits, text)}
        return await self._set_subtask(
            task_id, sub_id, "subtask_needs_review" if review else "subtask_completed",
            status="needs_review" if review else "completed", result=text,
            attempts=attempts, completed_at=utcnow(), error=None,
            verdict=report, score=report.get("score") if report else None,
            **self._spent(began, usage))

    def _checker(self, task, subtask, messages, model, finished, label, hits):
        """check(text, finish_reason) -> report, stored on the subtask as it comes.

        With a knowledge base, answers (whatever their kind) are grounded in exactly the
        passages they were shown (`hits`, sources [1].. in that order, so a claim's evidence
        `source` + 1 is the passage's number) and the task's description and the results
        they build on, and their factual sentences must cite the passages; the report lists
        the passages (`sources`). Without one, summaries and translations are grounded in
        that input."""
        kind = subtask["kind"] or "answer"
        sources = cited = None
        if hits is not None or kind in ("summarize", "translate"):
            sources = [task["description"] or ""] + [
                finished[p]["result"] or "" for p in subtask["depends_on"] or []
                if p in finished]
        if hits is not None:
            sources = [hit["text"] for hit in hits] + sources
            cited = len(hits)
        check_label = dict(label, check=True)

        async def check(text, finish_reason):
            report = await self.detector.check(
                text, messages=messages, sources=sources, samples=self.check_samples,
                model=model, finish_reason=finish_reason, label=check_label, kind=kind,
                cited=cited)
            if hits is not None:
                report["sources"] = prompts.shown_sources(hits, text)
            await self._set_subtask(task["id"], subtask["id"], "checked", verdict=report,
                                    score=report["score"])
            return report

        return check

    async def _checked(self, task, subtask, messages, result, finished, label, usage, hits):
        """(final text, report): check the answer; re-ask once, with the flags, unless ok."""
        check = self._checker(task, subtask, messages, result["model"], finished, label, hits)
        report = await check(result["text"], result["finish_reason"])
        if report["verdict"] == OK or not (report["flags"] or report["problems"]):
            return result["text"], report   # an unchecked answer has no feedback to act on
        return await self._reask(task, subtask, messages, result["model"],
                                 (result["text"], report), check, label, usage)

    async def _call(self, label, messages, model, started=False, **params):
        """One model call (with the client's retries) inside a slot of the gate; with
        `started`, the subtask is marked running once the slot is granted."""
        async with self.gate.slot(label):
            if started:
                await self._set_subtask(label["task_id"], label["subtask_id"],
                                        "subtask_started", status="running", model=model,
                                        error=None, started_at=utcnow())
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
