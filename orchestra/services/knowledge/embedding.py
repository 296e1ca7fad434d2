"""Embedder: optional vectors for knowledge chunks, made by the model server's embedding model
(`/v1/embeddings`), stored per chunk, and searched by cosine next to full text.

Built in app.py when `config.embedding_model` is set. The model server does the embedding;
packing, unpacking and the cosine top-k are numpy work that runs in an executor, so the
IOLoop only waits. Each base's vectors are kept in memory as one matrix between searches and
loaded again when its stored vectors change.
"""

import asyncio
import inspect
import logging

from orchestra.services.knowledge import vectors
from orchestra.services.lmstudio.embeddings import EMBED_BATCH

logger = logging.getLogger(__name__)

#: chunk ids read per pass when re-embedding everything that has no vector of the model
STALE_PAGE = 256


def chunk_text(chunk):
    """What is embedded for a chunk: its source title and heading path, then its text, so a
    passage under "Installation" is found by a question about installing."""
    head = " › ".join(part for part in [chunk["source_title"], *chunk["heading_path"]] if part)
    return f"{head}\n\n{chunk['text']}" if head else chunk["text"]


async def _run(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _report(progress, done, total):
    if progress is not None:
        result = progress(done, total)
        if inspect.isawaitable(result):
            await result


def _pack_all(found_vectors):
    return [(len(vector), vectors.pack(vector)) for vector in found_vectors]


class Embedder:
    """Embeds chunks and queries with one model, and finds the chunks nearest a query."""

    def __init__(self, stores, lmstudio, model, batch_size=EMBED_BATCH):
        self.stores = stores
        self.store = stores.knowledge_embeddings
        self.lmstudio = lmstudio
        self.model = model
        self.batch_size = batch_size
        self._matrices = vectors.MatrixCache()
        # chunks being embedded now: reembed_stale leaves them to the call already at work
        self._in_flight = set()

    def invalidate(self, base_id=None):
        """Forget the in-memory vectors of a base (all bases when None). Searches also notice
        when the stored vectors changed; this is for changes they cannot see, such as new
        chunks that reuse deleted ids."""
        self._matrices.invalidate(base_id)

    async def embed_chunks(self, chunk_ids, progress=None):
        """Embed these chunks (batch by batch) and store their vectors, replacing any they
        had. Chunks deleted meanwhile are skipped. `progress(done, total)` (a function or a
        coroutine function) is called after each batch. Errors of the model server are the
        client's typed errors; the batches stored before one failed stay stored."""
        chunk_ids = list(dict.fromkeys(chunk_ids))
        total = len(chunk_ids)
        self._in_flight.update(chunk_ids)
        try:
            for start in range(0, total, self.batch_size):
                batch = chunk_ids[start:start + self.batch_size]
                await self._embed_batch(batch)
                self._in_flight.difference_update(batch)
                await _report(progress, min(start + len(batch), total), total)
        finally:
            self._in_flight.difference_update(chunk_ids)

    async def _embed_batch(self, batch):
        chunks = await self.store.chunks(batch)
        ids = [chunk_id for chunk_id in batch if chunk_id in chunks]
        if not ids:
            return
        made = await self.lmstudio.embed([chunk_text(chunks[i]) for i in ids], self.model,
                                         batch_size=self.batch_size)
        packed = await _run(_pack_all, made)
        await self.store.put(self.model, [(chunk_id, dims, blob)
                                          for chunk_id, (dims, blob) in zip(ids, packed)])
        for base_id in {chunks[i]["knowledge_base_id"] for i in ids}:
            self._matrices.invalidate(base_id)

    async def embed_query(self, text):
        """The vector of a search query."""
        return (await self.lmstudio.embed([text], self.model))[0]

    async def vector_search(self, base_ids, query_vector, limit):
        """[(chunk_id, cosine)] of the `limit` chunks of these bases nearest the query vector,
        best first."""
        base_ids = list(dict.fromkeys(base_ids))
        signatures = await self.store.signatures(base_ids, self.model)
        matrices = [await self._matrix(base_id, signatures[base_id]) for base_id in base_ids]
        return await _run(vectors.top_k, matrices, query_vector, limit)

    async def _matrix(self, base_id, signature):
        matrix = self._matrices.get(base_id, signature)
        if matrix is None:
            generation = self._matrices.generation(base_id)
            records = await self.store.load(base_id, self.model)
            matrix = await _run(vectors.build_matrix, records)
            self._matrices.put(base_id, matrix, generation)
        return matrix

    async def reembed_stale(self, progress=None):
        """Embed every chunk that has no vector of this model (all of them after the model
        changed), then drop other models' vectors. Meant to run in the background at start;
        returns the number of chunks embedded. `progress(done, total)` after each batch."""
        total = await self.store.count_missing(self.model)
        if total:
            logger.info("embedding %d chunks with %s", total, self.model)
        done, after = 0, 0
        while True:
            ids = await self.store.missing(self.model, after=after, limit=STALE_PAGE)
            if not ids:
                break
            after = ids[-1]
            ids = [chunk_id for chunk_id in ids if chunk_id not in self._in_flight]
            for start in range(0, len(ids), self.batch_size):
                batch = ids[start:start + self.batch_size]
                await self.embed_chunks(batch)
                done += len(batch)
                await _report(progress, min(done, max(total, done)), max(total, done))
        removed = await self.store.delete_other_models(self.model)
        if removed:
            logger.info("removed %d vectors of other embedding models", removed)
            self.invalidate()
        return done
