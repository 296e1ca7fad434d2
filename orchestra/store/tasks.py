"""Tasks and their subtasks: rows, progress counts, plans replaced whole, recovery at start."""

import json
import logging

from orchestra.db import utcnow
from orchestra.store.base import TableStore

logger = logging.getLogger(__name__)

ACTIVE = ("planning", "running")
# Subtasks that have an answer: a run (or a resume) leaves them alone, dependants may use them.
SETTLED = ("completed", "needs_review")


class TaskStore(TableStore):
    table = "tasks"
    columns = ("title", "description", "status", "priority", "model", "workflow_id",
               "knowledge_base_id", "check_answers", "result", "error", "note",
               "prompt_tokens", "completion_tokens", "duration_ms", "started_at",
               "completed_at", "plan_source")

    def _get(self, conn, id):
        row = super()._get(conn, id)
        if row is not None:
            row["subtasks"] = SubtaskStore.rows_of(conn, id)
        return row

    def _list(self, conn, limit, offset, filters):
        """Tasks, newest first, each with its subtask counts (for progress bars)."""
        rows = super()._list(conn, limit, offset, filters)
        if rows:
            ids = [r.id for r in rows]
            counts = conn.query(
                "SELECT task_id, COUNT(*) AS total, SUM(CASE WHEN status IN"
                " ('completed', 'needs_review', 'skipped') THEN 1 ELSE 0 END) AS done FROM subtasks"
                " WHERE task_id IN (%s) GROUP BY task_id" % ", ".join(["%s"] * len(ids)), *ids)
            by_task = {c.task_id: c for c in counts}
            for row in rows:
                c = by_task.get(row.id)
                row["subtasks_total"] = int(c.total) if c else 0
                row["subtasks_done"] = int(c.done or 0) if c else 0
        return rows

    def _create(self, conn, data):
        id = super()._create(conn, _by_hand(data))
        SubtaskStore(self.db)._write_plan(conn, id, data.get("subtasks") or [])
        return id

    def _update(self, conn, id, data):
        # A plan written or edited by hand replaces the subtasks as a whole.
        super()._update(conn, id, _by_hand(data))
        if data.get("subtasks") is not None:
            SubtaskStore(self.db)._replace_plan(conn, id, data["subtasks"])

    async def add_usage(self, id, prompt_tokens, completion_tokens):
        await self.db.execute(
            "UPDATE tasks SET prompt_tokens = prompt_tokens + %s,"
            " completion_tokens = completion_tokens + %s, updated_at = %s WHERE id = %s",
            int(prompt_tokens or 0), int(completion_tokens or 0), utcnow(), id)

    async def active_ids(self):
        rows = await self.db.query("SELECT id FROM tasks WHERE status IN (%s, %s)", *ACTIVE)
        return [r.id for r in rows]

    def interrupt_active(self):
        """At start: tasks left planning or running by a process that died are interrupted;
        their running subtasks go back to pending so a resume runs them again. Returns ids."""
        return self.db.run_sync(self._interrupt_active)

    def _interrupt_active(self, conn):
        with conn.transaction():
            ids = [r.id for r in conn.query(
                "SELECT id FROM tasks WHERE status IN (%s, %s)", *ACTIVE)]
            for id in ids:
                self._mark_interrupted(conn, id)
            return ids

    async def mark_interrupted(self, id):
        return await self.db.run(self._mark_interrupted_tx, id)

    def _mark_interrupted_tx(self, conn, id):
        with conn.transaction():
            self._mark_interrupted(conn, id)
            return self._get(conn, id)

    @staticmethod
    def _mark_interrupted(conn, id):
        now = utcnow()
        conn.execute("UPDATE subtasks SET status = 'pending', updated_at = %s"
                     " WHERE task_id = %s AND status = 'running'", now, id)
        conn.execute("UPDATE tasks SET status = 'interrupted', updated_at = %s,"
                     " error = %s WHERE id = %s", now,
                     "Interrupted by a restart; run it again to resume.", id)


def _by_hand(data):
    """Subtasks given with a task's row are written by hand (the planner stores its plans
    through SubtaskStore.replace_plan), so the plan's source is "manual"."""
    if data.get("subtasks") is None or "plan_source" in data:
        return data
    return dict(data, plan_source="manual" if data["subtasks"] else None)


class SubtaskStore(TableStore):
    table = "subtasks"
    # A subtask of kind "tool" names the tool it runs and its arguments (JSON, as the tool's
    # schema takes them); other subtasks leave both null.
    columns = ("task_id", "position", "title", "description", "kind", "depends_on", "status",
               "priority", "model", "result", "error", "verdict", "score", "attempts",
               "prompt_tokens", "completion_tokens", "duration_ms", "started_at",
               "completed_at", "tool", "args")
    json_columns = ("depends_on", "verdict", "args")
    order_by = "task_id DESC, position"

    def _row(self, data, creating):
        data = dict(data)
        if creating:
            # A plan edited through PATCH loads its subtasks partially: no defaults came in,
            # and MySQL has none for TEXT columns.
            data.setdefault("depends_on", [])
            data.setdefault("description", "")
            data.setdefault("kind", "answer")
        return super()._row(data, creating)

    def _create(self, conn, data):
        if data.get("position") is None:  # one added on its own goes last
            data = dict(data, position=conn.get(
                "SELECT COALESCE(MAX(position), -1) + 1 AS n FROM subtasks WHERE task_id = %s",
                data["task_id"]).n)
        return super()._create(conn, data)

    @staticmethod
    def decode_row(row):
        for name in SubtaskStore.json_columns:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        return row

    @staticmethod
    def rows_of(conn, task_id):
        return [SubtaskStore.decode_row(r) for r in conn.query(
            "SELECT * FROM subtasks WHERE task_id = %s ORDER BY position, id", task_id)]

    async def of_task(self, task_id):
        """A task's subtasks in position order."""
        return await self.db.run(self.rows_of, task_id)

    async def replace_plan(self, task_id, subtasks):
        """Drop a task's subtasks and store `subtasks` (dicts) in their place."""
        return await self.db.run(self._replace_plan_tx, task_id, subtasks)

    def _replace_plan_tx(self, conn, task_id, subtasks):
        with conn.transaction():
            self._replace_plan(conn, task_id, subtasks)
            return self.rows_of(conn, task_id)

    def _replace_plan(self, conn, task_id, subtasks):
        conn.execute("DELETE FROM subtasks WHERE task_id = %s", task_id)
        self._write_plan(conn, task_id, subtasks)

    def _write_plan(self, conn, task_id, subtasks):
        for position, sub in enumerate(subtasks):
            self._create(conn, dict(sub, task_id=task_id, position=position))

    async def reset_unfinished(self, task_id):
        """Everything without an answer goes back to pending (a resume or a re-run)."""
        await self.db.execute(
            "UPDATE subtasks SET status = 'pending', error = NULL, updated_at = %s"
            " WHERE task_id = %s AND status NOT IN (%s, %s)", utcnow(), task_id, *SETTLED)

    async def requeue_running(self, task_id):
        """Subtasks stopped mid-answer (a sibling failed) wait again, for a retry to resume."""
        await self.db.execute(
            "UPDATE subtasks SET status = 'pending', updated_at = %s"
            " WHERE task_id = %s AND status = 'running'", utcnow(), task_id)

    async def skip_pending(self, task_id, reason):
        await self.db.execute(
            "UPDATE subtasks SET status = 'skipped', error = %s, updated_at = %s"
            " WHERE task_id = %s AND status IN ('pending', 'running')",
            reason, utcnow(), task_id)
