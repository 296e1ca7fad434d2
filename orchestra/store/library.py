"""Templates, workflows (with their ordered steps) and system instructions."""

import json

from orchestra.db import utcnow
from orchestra.store.base import TableStore


class TemplateStore(TableStore):
    table = "templates"
    columns = ("name", "description", "category", "body")

    async def categories(self):
        """The categories in use, sorted, for the pages' filter and suggestions."""
        rows = await self.db.query(
            "SELECT DISTINCT category FROM templates WHERE category <> %s ORDER BY category", "")
        return [r.category for r in rows]


class WorkflowStore(TableStore):
    """A workflow row plus its steps; steps are replaced as a whole on update."""

    table = "workflows"
    columns = ("name", "description")
    step_columns = ("name", "template_id", "prompt", "variables")

    def _get(self, conn, id):
        row = super()._get(conn, id)
        if row is not None:
            row["steps"] = self._steps(conn, id)
        return row

    def _list(self, conn, limit, offset, filters):
        rows = super()._list(conn, limit, offset, filters)
        for row in rows:
            row["steps"] = self._steps(conn, row.id)
        return rows

    def _steps(self, conn, workflow_id):
        rows = conn.query(
            "SELECT s.*, t.name AS template_name FROM workflow_steps s"
            " LEFT JOIN templates t ON t.id = s.template_id"
            " WHERE s.workflow_id = %s ORDER BY s.position", workflow_id)
        return [self._decode_step(r) for r in rows]

    @staticmethod
    def _decode_step(row):
        row["variables"] = json.loads(row["variables"] or "{}")
        return row

    def _create(self, conn, data):
        id = super()._create(conn, data)
        self._write_steps(conn, id, data.get("steps") or [])
        return id

    def _update(self, conn, id, data):
        super()._update(conn, id, data)
        if "steps" in data:
            conn.execute("DELETE FROM workflow_steps WHERE workflow_id = %s", id)
            self._write_steps(conn, id, data["steps"])

    def _write_steps(self, conn, workflow_id, steps):
        now = utcnow()
        for position, step in enumerate(steps):
            self.insert(conn, "workflow_steps", {
                "workflow_id": workflow_id, "position": position,
                "name": step.get("name") or "Step %d" % (position + 1),
                "template_id": step.get("template_id"), "prompt": step.get("prompt"),
                "variables": json.dumps(step.get("variables") or {}), "created_at": now})


class InstructionStore(TableStore):
    table = "instructions"
    columns = ("name", "content", "active", "position")

    async def active(self):
        """The active system instructions, in their order."""
        return await self.db.query(
            "SELECT * FROM instructions WHERE active = %s ORDER BY position, id", True)
