"""Tasks and their subtasks."""

import json

from orchestra.store.base import TableStore


class TaskStore(TableStore):
    table = "tasks"
    columns = ("title", "description", "status", "priority", "model", "workflow_id",
               "check_answers", "result", "error", "note", "prompt_tokens",
               "completion_tokens", "duration_ms", "started_at", "completed_at")

    def _get(self, conn, id):
        row = super()._get(conn, id)
        if row is not None:
            row["subtasks"] = [SubtaskStore.decode_row(r) for r in conn.query(
                "SELECT * FROM subtasks WHERE task_id = %s ORDER BY position, id", id)]
        return row

    async def list(self, limit=50, offset=0, **filters):
        """Tasks, newest first, each with its subtask counts (for progress bars)."""
        rows = await super().list(limit, offset, **filters)
        if rows:
            ids = [r.id for r in rows]
            counts = await self.db.query(
                "SELECT task_id, COUNT(*) AS total, SUM(CASE WHEN status IN"
                " ('completed', 'skipped') THEN 1 ELSE 0 END) AS done FROM subtasks"
                " WHERE task_id IN (%s) GROUP BY task_id" % ", ".join(["%s"] * len(ids)), *ids)
            by_task = {c.task_id: c for c in counts}
            for row in rows:
                c = by_task.get(row.id)
                row["subtasks_total"] = int(c.total) if c else 0
                row["subtasks_done"] = int(c.done or 0) if c else 0
        return rows

    def _create(self, conn, data):
        id = super()._create(conn, data)
        for position, sub in enumerate(data.get("subtasks") or []):
            SubtaskStore(self.db)._create(conn, dict(sub, task_id=id, position=position))
        return id


class SubtaskStore(TableStore):
    table = "subtasks"
    columns = ("task_id", "position", "title", "description", "kind", "depends_on", "status",
               "priority", "model", "result", "error", "verdict", "score", "attempts",
               "prompt_tokens", "completion_tokens", "duration_ms", "started_at",
               "completed_at")
    json_columns = ("depends_on", "verdict")
    order_by = "task_id DESC, position"

    def _row(self, data, creating):
        data = dict(data)
        if creating:
            data.setdefault("depends_on", [])
        return super()._row(data, creating)

    @staticmethod
    def decode_row(row):
        for name in SubtaskStore.json_columns:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        return row
