"""Embedding vectors of knowledge chunks: one per chunk, with the model that made it."""

import json

from orchestra.db import utcnow

#: ids per `IN (...)` list, well under SQLite's limit on a statement's parameters
_IDS_PER_QUERY = 500


def _marks(items):
    return ", ".join(["%s"] * len(items))


def _slices(items):
    items = list(items)
    for start in range(0, len(items), _IDS_PER_QUERY):
        yield items[start:start + _IDS_PER_QUERY]


class EmbeddingStore:
    """`stores.knowledge_embeddings`: vectors are bytes here (see knowledge.vectors.pack)."""

    def __init__(self, db):
        self.db = db

    async def chunks(self, chunk_ids):
        """{chunk_id: Row(id, knowledge_base_id, source_title, heading_path (a list), text)}
        of those chunks that still exist."""
        return await self.db.run(self._chunks, list(chunk_ids))

    def _chunks(self, conn, chunk_ids):
        found = {}
        for ids in _slices(chunk_ids):
            rows = conn.query(
                "SELECT c.id, c.knowledge_base_id, s.title AS source_title, c.heading_path,"
                " c.text FROM knowledge_chunks c JOIN knowledge_sources s ON s.id = c.source_id"
                " WHERE c.id IN (%s)" % _marks(ids), *ids)
            for row in rows:
                row["heading_path"] = json.loads(row["heading_path"] or "[]")
                found[row["id"]] = row
        return found

    async def put(self, model, vectors):
        """Store `vectors` [(chunk_id, dims, bytes)] as the model's, replacing whatever vector
        those chunks had. A chunk deleted meanwhile (its source changed or went) gets none.
        Returns the number stored."""
        return await self.db.run(self._put, model, list(vectors))

    def _put(self, conn, model, vectors):
        if not vectors:
            return 0
        now = utcnow()
        ids = [chunk_id for chunk_id, _, _ in vectors]
        with conn.transaction():
            conn.execute("DELETE FROM knowledge_embeddings WHERE chunk_id IN (%s)" % _marks(ids),
                         *ids)
            # INSERT ... SELECT: a row only for chunks that exist, so a chunk deleted while its
            # vector was being made is skipped instead of failing the whole batch.
            return conn.executemany(
                "INSERT INTO knowledge_embeddings (chunk_id, model, dims, vector, created_at)"
                " SELECT id, %s, %s, %s, %s FROM knowledge_chunks WHERE id = %s",
                [(model, dims, blob, now, chunk_id) for chunk_id, dims, blob in vectors])

    async def load(self, base_id, model):
        """[(chunk_id, dims, bytes)] of a base's vectors of `model`, in chunk-id order."""
        rows = await self.db.query(
            "SELECT e.chunk_id, e.dims, e.vector FROM knowledge_embeddings e"
            " JOIN knowledge_chunks c ON c.id = e.chunk_id"
            " WHERE c.knowledge_base_id = %s AND e.model = %s ORDER BY e.chunk_id",
            base_id, model)
        return [(row.chunk_id, row.dims, bytes(row.vector)) for row in rows]

    async def signatures(self, base_ids, model):
        """{base_id: (count, last chunk id)} of the bases' vectors of `model`; (0, None) for a
        base without any. Cheap next to `load`: it says whether a loaded copy is current."""
        base_ids = list(base_ids)
        found = {base_id: (0, None) for base_id in base_ids}
        if base_ids:
            rows = await self.db.query(
                "SELECT c.knowledge_base_id AS base_id, COUNT(*) AS n, MAX(e.chunk_id) AS last"
                " FROM knowledge_embeddings e JOIN knowledge_chunks c ON c.id = e.chunk_id"
                " WHERE e.model = %%s AND c.knowledge_base_id IN (%s)"
                " GROUP BY c.knowledge_base_id" % _marks(base_ids), model, *base_ids)
            for row in rows:
                found[row.base_id] = (int(row.n), row.last)
        return found

    async def missing(self, model, after=0, limit=256):
        """Ids of chunks (above `after`, ascending) that have no vector of `model`."""
        rows = await self.db.query(
            "SELECT c.id FROM knowledge_chunks c LEFT JOIN knowledge_embeddings e"
            " ON e.chunk_id = c.id AND e.model = %s"
            " WHERE e.chunk_id IS NULL AND c.id > %s ORDER BY c.id LIMIT %s",
            model, after, int(limit))
        return [row.id for row in rows]

    async def count_missing(self, model):
        row = await self.db.get(
            "SELECT COUNT(*) AS n FROM knowledge_chunks c LEFT JOIN knowledge_embeddings e"
            " ON e.chunk_id = c.id AND e.model = %s WHERE e.chunk_id IS NULL", model)
        return int(row.n)

    async def count(self, model=None):
        """Vectors stored (of `model` when given)."""
        if model is None:
            row = await self.db.get("SELECT COUNT(*) AS n FROM knowledge_embeddings")
        else:
            row = await self.db.get(
                "SELECT COUNT(*) AS n FROM knowledge_embeddings WHERE model = %s", model)
        return int(row.n)

    async def delete_other_models(self, model):
        """Drop the vectors of every model but `model`; returns how many went."""
        return await self.db.execute_rowcount(
            "DELETE FROM knowledge_embeddings WHERE model <> %s", model)
