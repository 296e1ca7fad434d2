"""Embedding vectors of knowledge chunks: one per chunk, with the model that made it."""

import json
import logging

import pymysql

from orchestra.db import utcnow

logger = logging.getLogger(__name__)

#: InnoDB's "deadlock found": it rolled the whole transaction back, so running it again is safe
DEADLOCK = 1213
#: runs of one batch's transaction before a deadlock is given up on
PUT_ATTEMPTS = 4

#: ids per `IN (...)` list, well under SQLite's limit on a statement's parameters
_IDS_PER_QUERY = 500


#: a chunk's new vector replaces the one it has (of whichever model)
_UPSERT = {
    "sqlite": "INSERT INTO knowledge_embeddings (chunk_id, model, dims, vector, created_at)"
              " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (chunk_id) DO UPDATE SET"
              " model = excluded.model, dims = excluded.dims, vector = excluded.vector,"
              " created_at = excluded.created_at",
    "mysql": "INSERT INTO knowledge_embeddings (chunk_id, model, dims, vector, created_at)"
             " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE model = VALUES(model),"
             " dims = VALUES(dims), vector = VALUES(vector), created_at = VALUES(created_at)",
}


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
        # Deleting a source (or cutting it anew) while its chunks are being embedded can
        # deadlock with this transaction on MySQL; InnoDB then undoes one of the two.
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                return self._put_once(conn, model, vectors)
            except pymysql.err.OperationalError as e:
                if not e.args or e.args[0] != DEADLOCK or attempt == PUT_ATTEMPTS:
                    raise
                logger.info("storing %d vectors met a deadlock; trying again", len(vectors))

    def _put_once(self, conn, model, vectors):
        if not vectors:
            return 0
        now = utcnow()
        vectors = sorted(vectors)  # rows locked in one order: concurrent batches queue up
        ids = [chunk_id for chunk_id, _, _ in vectors]
        lock = ""
        if conn.dialect == "mysql":
            # InnoDB's default (REPEATABLE READ) takes gap locks, and two batches inserting
            # into gaps the other locked deadlock. READ COMMITTED takes none; the share lock
            # keeps the chunks from being deleted before the commit.
            conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            lock = " LOCK IN SHARE MODE"
        with conn.transaction():
            # Only chunks that still exist get a vector: one deleted while it was being
            # embedded (its source changed or went) is skipped instead of failing the batch.
            existing = {row.id for row in conn.query(
                "SELECT id FROM knowledge_chunks WHERE id IN (%s)%s" % (_marks(ids), lock),
                *ids)}
            kept = [(chunk_id, model, dims, blob, now) for chunk_id, dims, blob in vectors
                    if chunk_id in existing]
            if kept:
                conn.executemany(_UPSERT[conn.dialect], kept)
            return len(kept)

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
