"""Knowledge bases, the sources (text, URL, file) they hold, and the chunks sources are cut
into, with their full-text index (SQLite FTS5, MariaDB/MySQL InnoDB FULLTEXT)."""

import hashlib
import json

from orchestra.db import utcnow
from orchestra.store.base import TableStore

# What a search hit carries, read from the chunk and its source.
HIT_COLUMNS = ("c.id AS chunk_id, c.knowledge_base_id, c.source_id, s.title AS source_title,"
               " c.heading_path, c.text, c.position, c.tokens")


class KnowledgeBaseStore(TableStore):
    table = "knowledge_bases"
    columns = ("name", "description")

    def _get(self, conn, id):
        row = super()._get(conn, id)
        if row is not None:
            row["sources"] = conn.query(
                "SELECT id, knowledge_base_id, kind, title, url, status, error, format,"
                " chunk_count, created_at, updated_at, LENGTH(content) AS size"
                " FROM knowledge_sources WHERE knowledge_base_id = %s ORDER BY id", id)
        return row

    async def text(self, id):
        """All sources of a base that hold their content (ready, or being indexed), joined:
        grounding material for answers."""
        rows = await self.db.query(
            "SELECT title, content FROM knowledge_sources WHERE knowledge_base_id = %s"
            " AND status IN (%s, %s) ORDER BY id", id, "ready", "indexing")
        return "\n\n".join("# %s\n%s" % (r.title, r.content) for r in rows)


class KnowledgeSourceStore(TableStore):
    table = "knowledge_sources"
    columns = ("knowledge_base_id", "kind", "title", "url", "content", "status", "error",
               "format", "render")

    async def head(self, id):
        """A source's id, base, status and chunk count, without its content; None if missing."""
        return await self.db.get("SELECT id, knowledge_base_id, status, chunk_count"
                                 " FROM knowledge_sources WHERE id = %s", id)

    async def stale_ids(self, before, batch=200):
        """Ids of the sources last changed before `before` to index again: those left
        `indexing` (a previous process stopped on them) and the `ready` ones whose chunks
        were not cut from their current content (never indexed, e.g. from before chunks
        existed, or changed behind our back)."""
        return await self.db.run(self._stale_ids, before, batch)

    def _stale_ids(self, conn, before, batch):
        stale, after = [], 0
        while True:
            # Paged by id so a large store is never read into memory at once; runs on a
            # database worker thread, hashing included.
            rows = conn.query(
                "SELECT id, status, indexed_hash, content FROM knowledge_sources"
                " WHERE id > %s AND status IN (%s, %s) AND updated_at < %s"
                " ORDER BY id LIMIT %s",
                after, "indexing", "ready", before, batch)
            for row in rows:
                if row.status == "indexing" or row.indexed_hash != content_hash(row.content):
                    stale.append(row.id)
            if len(rows) < batch:
                return stale
            after = rows[-1].id


def content_hash(content):
    """sha256 hex of a source's content: what `indexed_hash` holds once it is chunked."""
    return hashlib.sha256((content or "").encode("utf-8")).hexdigest()


class KnowledgeChunkStore:
    """The chunks of each source and full-text search over them.

    A source's chunks are replaced as a whole, in one transaction, so a search sees either
    the old cut or the new one. The full-text index follows the chunks: triggers on SQLite
    (an external-content FTS5 table), InnoDB itself on MySQL.
    """

    def __init__(self, db):
        self.db = db

    @property
    def full_text(self):
        return "sqlite-fts5" if self.db.dialect == "sqlite" else "mariadb-fulltext"

    async def replace(self, source_id, chunks, indexed_hash):
        """Store `chunks` (objects with text, heading_path, start, end, tokens) as the source's
        chunks, setting its chunk_count and indexed_hash; the new chunk ids in order, or None
        when the source is gone."""
        return await self.db.run(self._replace, source_id, chunks, indexed_hash)

    def _replace(self, conn, source_id, chunks, indexed_hash):
        with conn.transaction():
            source = conn.get("SELECT id, knowledge_base_id FROM knowledge_sources"
                              " WHERE id = %s", source_id)
            if source is None:
                return None
            conn.execute("DELETE FROM knowledge_chunks WHERE source_id = %s", source_id)
            now = utcnow()
            if chunks:
                conn.executemany(
                    "INSERT INTO knowledge_chunks (knowledge_base_id, source_id, position,"
                    " heading_path, text, start_offset, end_offset, tokens, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(source.knowledge_base_id, source_id, position,
                      json.dumps(list(c.heading_path), ensure_ascii=False), c.text, c.start,
                      c.end, c.tokens, now) for position, c in enumerate(chunks)])
            conn.execute("UPDATE knowledge_sources SET chunk_count = %s, indexed_hash = %s"
                         " WHERE id = %s", len(chunks), indexed_hash, source_id)
            return [r.id for r in conn.query(
                "SELECT id FROM knowledge_chunks WHERE source_id = %s ORDER BY position",
                source_id)]

    async def search(self, base_ids, terms, limit=10):
        """The best `limit` chunks of the bases `base_ids` for any of `terms` (words, none of
        them empty), best first, each with its full-text `score` (higher is better)."""
        base_ids = [int(b) for b in base_ids]
        if not base_ids or not terms:
            return []
        bases = ", ".join(["%s"] * len(base_ids))
        if self.db.dialect == "sqlite":
            # bm25() is lower for better matches. The ranking runs on ids and scores only;
            # the chunk texts of the few kept are read afterwards. CROSS JOIN keeps SQLite
            # starting from the FTS match rather than from the chunks of the bases.
            match = " OR ".join('"%s"' % t.replace('"', '""') for t in terms)
            rows = await self.db.query(
                "SELECT " + HIT_COLUMNS + ", m.score FROM ("
                " SELECT knowledge_chunks_fts.rowid AS id, -bm25(knowledge_chunks_fts) AS score"
                " FROM knowledge_chunks_fts CROSS JOIN knowledge_chunks k"
                " ON k.id = knowledge_chunks_fts.rowid"
                " WHERE knowledge_chunks_fts MATCH %s AND k.knowledge_base_id IN (" + bases
                + ") ORDER BY bm25(knowledge_chunks_fts), knowledge_chunks_fts.rowid LIMIT %s) m"
                " JOIN knowledge_chunks c ON c.id = m.id"
                " JOIN knowledge_sources s ON s.id = c.source_id"
                " ORDER BY m.score DESC, c.id", match, *base_ids, int(limit))
        else:
            against = " ".join(terms)
            rows = await self.db.query(
                "SELECT " + HIT_COLUMNS + ", m.score FROM ("
                " SELECT id, MATCH (heading_path, text) AGAINST (%s IN NATURAL LANGUAGE MODE)"
                " AS score FROM knowledge_chunks"
                " WHERE MATCH (heading_path, text) AGAINST (%s IN NATURAL LANGUAGE MODE)"
                " AND knowledge_base_id IN (" + bases + ") ORDER BY score DESC, id LIMIT %s) m"
                " JOIN knowledge_chunks c ON c.id = m.id"
                " JOIN knowledge_sources s ON s.id = c.source_id"
                " ORDER BY m.score DESC, c.id", against, against, *base_ids, int(limit))
        return [self._hit(r) for r in rows]

    async def get_many(self, ids):
        """The chunks `ids` as hits (score None), in the order of `ids`; missing ones left out."""
        ids = [int(i) for i in ids]
        if not ids:
            return []
        rows = await self.db.query(
            "SELECT " + HIT_COLUMNS + " FROM knowledge_chunks c"
            " JOIN knowledge_sources s ON s.id = c.source_id WHERE c.id IN (%s)"
            % ", ".join(["%s"] * len(ids)), *ids)
        found = {r.chunk_id: self._hit(dict(r, score=None)) for r in rows}
        return [found[i] for i in ids if i in found]

    async def for_source(self, source_id):
        """A source's chunks in order: id, position, heading path, text, offsets, tokens."""
        rows = await self.db.query(
            "SELECT id, knowledge_base_id, source_id, position, heading_path, text,"
            " start_offset, end_offset, tokens, created_at FROM knowledge_chunks"
            " WHERE source_id = %s ORDER BY position", int(source_id))
        for row in rows:
            row["heading_path"] = json.loads(row["heading_path"])
        return rows

    async def count(self, knowledge_base_id=None, source_id=None):
        where, args = [], []
        for column, value in (("knowledge_base_id", knowledge_base_id),
                              ("source_id", source_id)):
            if value is not None:
                where.append("%s = %%s" % column)
                args.append(int(value))
        row = await self.db.get("SELECT COUNT(*) AS n FROM knowledge_chunks"
                                + (" WHERE " + " AND ".join(where) if where else ""), *args)
        return int(row.n)

    @staticmethod
    def _hit(row):
        hit = dict(row)
        hit["heading_path"] = json.loads(hit["heading_path"])
        if hit.get("score") is not None:
            hit["score"] = float(hit["score"])
        return hit
