"""Knowledge bases and the sources (text, URL, file) they hold."""

from orchestra.store.base import TableStore


class KnowledgeBaseStore(TableStore):
    table = "knowledge_bases"
    columns = ("name", "description")

    def _get(self, conn, id):
        row = super()._get(conn, id)
        if row is not None:
            row["sources"] = conn.query(
                "SELECT id, knowledge_base_id, kind, title, url, status, error, created_at,"
                " updated_at, LENGTH(content) AS size FROM knowledge_sources"
                " WHERE knowledge_base_id = %s ORDER BY id", id)
        return row

    async def text(self, id):
        """All ready sources of a base, joined: grounding material for answers."""
        rows = await self.db.query(
            "SELECT title, content FROM knowledge_sources WHERE knowledge_base_id = %s"
            " AND status = %s ORDER BY id", id, "ready")
        return "\n\n".join("# %s\n%s" % (r.title, r.content) for r in rows)


class KnowledgeSourceStore(TableStore):
    table = "knowledge_sources"
    columns = ("knowledge_base_id", "kind", "title", "url", "content", "status", "error")
