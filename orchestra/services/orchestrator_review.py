"""Answers that need review: the re-ask with the check's feedback, and what the user decides.

A checked answer whose verdict is not "ok" leaves its subtask `needs_review` (and, at the end,
its task). The user accepts the answer as it is, edits it, or has the model asked again with
the check's findings; a task completes when every subtask has.
"""

import logging
import re

from orchestra.db import utcnow
from orchestra.services import orchestrator_prompts as prompts
from orchestra.services.knowledge import prompting
from orchestra.services.lmstudio import LMStudioError

logger = logging.getLogger(__name__)

REVIEW_NOTE = "Needs review: "
KEPT_TEXT = 8000        # characters of a replaced answer kept in the report (verdict is TEXT)
ECHO_SHARE = 0.5        # an answer this much made of the feedback's own words repeats it
_WORD = re.compile(r"[a-z0-9]+")


def shingles(text, size=3):
    words = _WORD.findall((text or "").lower())
    return {tuple(words[i:i + size]) for i in range(max(0, len(words) - size + 1))}


def echoes_feedback(answer, report):
    """True when an answer repeats the re-ask's feedback instead of answering.

    The feedback quotes the flagged sentences of the first answer; a new answer may repeat
    those, so only the feedback's own words (header, reasons, instruction) count."""
    feedback = prompts.check_feedback(report)
    header = feedback.splitlines()[0].rstrip(":").lower()
    if header in (answer or "").lower():
        return True
    # Nor does the answer the feedback invites: that it is not in the knowledge base.
    quoted = {flag["sentence"] for flag in report.get("flags") or []}
    own = feedback
    for sentence in quoted | {prompting.NOT_FOUND_PHRASE}:
        own = own.replace(sentence, " ")
    answer_shingles = shingles(answer)
    if not answer_shingles:
        return False
    share = len(answer_shingles & shingles(own)) / len(answer_shingles)
    return share >= ECHO_SHARE


def cut(text):
    text = text or ""
    return text if len(text) <= KEPT_TEXT else text[:KEPT_TEXT] + " […]"


def summary(report):
    return {"score": report["score"], "verdict": report["verdict"],
            "flags": report.get("flags") or [], "claims": report.get("claims") or []}


def review_note(note, rows):
    """The task's note with its line naming the subtasks that need review (none: no line)."""
    lines = [line for line in (note or "").splitlines() if not line.startswith(REVIEW_NOTE)]
    waiting = [s for s in rows if s["status"] == "needs_review"]
    if waiting:
        lines.append(REVIEW_NOTE + "; ".join(
            "%d (%s)" % (s["position"] + 1, s["title"]) for s in waiting)
            + ". Their checks were not ok: accept, edit or retry each.")
    return "\n".join(lines) or None


class ReviewMixin:
    """The part of the Orchestrator that ends tasks and handles review (it provides stores,
    _lock, _emit, _jobs, _subtask, run and _call)."""

    _feedback_for = None  # subtask id -> (answer, report): a retry improves on that answer

    @staticmethod
    def _refuse(message):
        # orchestrator.py defines the error and imports this module, hence the late import.
        from orchestra.services.orchestrator import OrchestratorError
        return OrchestratorError(message)

    async def _finish_task(self, task_id, final=False):
        """Every subtask answered: completed, or needs_review while any answer waits for the
        user. `final` ends the task's job (its claim is released before the announcement)."""
        async with self._lock(task_id):
            task = await self.stores.tasks.get(task_id)
            rows = task["subtasks"]
            review = any(s["status"] == "needs_review" for s in rows)
            values = {"status": "needs_review" if review else "completed",
                      "note": review_note(task["note"], rows),
                      "result": prompts.leaf_results(rows), "error": None,
                      "completed_at": utcnow()}
            task = await self.stores.tasks.update(task_id, values)
            if final:
                self._jobs.pop(task_id, None)
            self._emit(values["status"], task)
        return task

    async def _reviewed(self, subtask_id, event, **values):
        """Store the user's decision on an answer that needs review; the task completes when
        it was the last one (unless a run is still going: its end decides)."""
        subtask = await self._subtask(subtask_id)
        if subtask["status"] != "needs_review":
            raise self._refuse("Subtask %d is %s; only an answer that needs review can be "
                               "accepted or edited." % (subtask_id, subtask["status"]))
        task_id = subtask["task_id"]
        await self._set_subtask(task_id, subtask_id, event, status="completed", **values)
        task = await self.stores.tasks.get(task_id)
        if task["status"] == "needs_review" and not self.is_busy(task_id):
            task = await self._finish_task(task_id)
        return task

    async def accept_subtask(self, subtask_id):
        """Keep an answer as it is; its report says it was accepted."""
        subtask = await self._subtask(subtask_id)
        verdict = dict(subtask["verdict"] or {}, accepted=True)
        return await self._reviewed(subtask_id, "subtask_accepted", verdict=verdict)

    async def edit_subtask(self, subtask_id, result):
        """Replace an answer with the user's text; the model's answer stays in the report."""
        subtask = await self._subtask(subtask_id)
        verdict = dict(subtask["verdict"] or {}, edited=True, original=cut(subtask["result"]))
        return await self._reviewed(subtask_id, "subtask_edited", verdict=verdict,
                                    result=result)

    async def retry_with_feedback(self, subtask, feedback=True):
        """Ask the model again with the check's findings (the better-scoring answer stays);
        without `feedback`, ask afresh as if it had never been answered."""
        task_id = subtask["task_id"]
        if self.is_busy(task_id):
            raise self._refuse("Task %d is running; retry this answer when it is done."
                               % task_id)
        if feedback and subtask["verdict"]:
            self._feedback_for[subtask["id"]] = (subtask["result"] or "", subtask["verdict"])
        await self._set_subtask(task_id, subtask["id"], "subtask_pending", status="pending")
        try:
            return await self.run(task_id)
        except BaseException:
            self._feedback_for.pop(subtask["id"], None)
            raise

    async def _improve(self, task, subtask, messages, model, earlier, finished, label, usage,
                       hits):
        """(text, report) for a retry with feedback: a failed call fails the subtask."""
        check = self._checker(task, subtask, messages, model, finished, label, hits)
        return await self._reask(task, subtask, messages, model, earlier, check, label, usage,
                                 started=True)

    async def _reask(self, task, subtask, messages, model, first, check, label, usage,
                     started=False):
        """(text, report): ask once more with the check's findings as feedback and keep the
        better-scoring answer (a tie keeps the first); an empty answer, or one that repeats
        the feedback, is rejected. Without `started` (the automatic re-ask) a failed call
        keeps the first answer; with it (the user asked) the failure is the subtask's."""
        text, report = first
        await self._set_subtask(task["id"], subtask["id"], "subtask_retrying", result=text)
        again = messages + [{"role": "assistant", "content": text},
                            {"role": "user", "content": prompts.check_feedback(report)}]
        try:
            second = await self._call(label, again, model, started=started)
        except LMStudioError as error:
            if started:
                raise
            logger.info("re-asking subtask %s failed: %s", subtask["id"], error.message)
            return text, dict(report, reasked=0)
        self._count(usage, second)
        answer = second["text"]
        if not answer.strip():
            reason = "The answer asked for again was empty."
        elif echoes_feedback(answer, report):
            reason = "The answer asked for again repeated the feedback instead of answering."
        else:
            again_report = await check(answer, second["finish_reason"])
            if again_report["score"] > report["score"]:
                return answer, dict(again_report, reasked=1, first=dict(
                    summary(report), text=cut(text)))
            reason = "The answer asked for again did not score better (%.2f, %s)." % (
                again_report["score"], again_report["verdict"])
        logger.info("subtask %s keeps its first answer: %s", subtask["id"], reason)
        return text, dict(report, reasked=1, rejected={"text": cut(answer), "reason": reason})

