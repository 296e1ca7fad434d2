"""KnowledgeService: indexes knowledge sources in the background, reports progress on the hub,
and searches them (full text in the database, fused with vector ranks when an embedder is set).

Indexing a source: its content is cut into chunks (chunk_text, on a worker thread), the
chunks replace the source's old ones in one transaction, an embedder (when configured)
embeds them, and the source ends `ready` (or `failed`, with one sentence). Sources are
indexed one at a time, in the order asked, so a large ingest neither starves the IOLoop nor
holds the database's writer for long.
"""

import asyncio
import concurrent.futures
import logging
import re
import time

from orchestra.db import utcnow
from orchestra.services.knowledge import chunking
from orchestra.services.lmstudio.text import estimate_tokens, truncate_to_context
from orchestra.store.knowledge import content_hash

logger = logging.getLogger(__name__)

TOPIC = "knowledge:update"
# Progress steps of one source are published at most this often (phase changes always are).
PROGRESS_INTERVAL = 0.1
MAX_TERMS = 32           # a question longer than this many distinct words keeps its first ones
FUSION_DEPTH = 50        # how many hits of each ranking reciprocal rank fusion looks at

# Letters and digits, as FTS5's unicode61 tokenizer reads words ('_' and marks split them).
_WORD = re.compile(r"[^\W_]+")

# Common English words that say nothing about which passage answers a question.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been
before being below between both but by can cannot could couldn d did didn do does doesn
doing don down during each either else ever few for from further get got had hadn has hasn
have haven having he her here hers herself him himself his how i if in into is isn it its
itself just ll m may me might more most must mustn my myself no nor not now o of off on
once only or other ought our ours ourselves out over own please re s same shall shan she
should shouldn so some such t than that the their theirs them themselves then there these
they this those through to too under until up upon us ve very was wasn we were weren what
when where whether which while who whom whose why will with won would wouldn y yet you
your yours yourself yourselves tell show give explain describe
""".split())


def query_terms(query):
    """The words of a question worth searching for: lower-cased, stopwords dropped, each
    once, in the order they appear."""
    terms = []
    for word in _WORD.findall((query or "").lower()):
        if word not in STOPWORDS and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


class KnowledgeService:
    def __init__(self, stores, lmstudio, hub, embedder=None):
        self.stores = stores
        self.lmstudio = lmstudio
        self.hub = hub
        self.embedder = embedder
        self.target_tokens = chunking.TARGET_TOKENS    # the size chunks aim at
        self.overlap_tokens = chunking.OVERLAP_TOKENS
        self._turn = asyncio.Lock()   # one source indexed at a time, first come first served
        self._queued = {}             # source id -> the task waiting for its turn
        self._tasks = set()           # every background task: indexing and re-embedding
        self._live = {}               # source id -> its latest progress payload
        self._sent_at = {}            # source id -> when its last event was published
        # Chunking is CPU work: a thread of its own, so it never waits behind database calls.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="orchestra-chunking")
        self.closed = False
        # recover() looks only at sources last changed before this: those changed since are
        # this process's own, indexed as they change.
        self.started_at = utcnow()

    # -- indexing ----------------------------------------------------------------------------

    def index_source(self, source_id):
        """Index a source in the background, after those asked before it; its task. A source
        already waiting for its turn is not queued twice; one being indexed is queued again
        (its content may have changed since it was read)."""
        queued = self._queued.get(source_id)
        if queued is not None:
            return queued
        task = self._track(self._run(source_id))
        self._queued[source_id] = task
        return task

    def start(self):
        """recover() in the background (a part of what wait() waits for)."""
        return self._track(self.recover())

    async def recover(self):
        """At start: index the sources a previous process left `indexing`, and those whose
        chunks were not cut from their current content (e.g. from before chunks existed).
        With an embedder, chunks without a vector of its model are embedded too."""
        if self.closed:
            return
        stale = await self.stores.knowledge_sources.stale_ids(self.started_at)
        for source_id in stale:
            self.index_source(source_id)
        if stale:
            logger.info("indexing %d knowledge sources left stale", len(stale))
        if self.embedder is not None:
            self._track(self._reembed())

    async def wait(self):
        """Until all background work is done (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self):
        """Stop background work; a source cut short stays `indexing` and recover() resumes it."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _track(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _reembed(self):
        try:
            count = await self.embedder.reembed_stale()
            if count:
                logger.info("embedded %d knowledge chunks with %s", count, self.embedder.model)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("re-embedding knowledge chunks with %s failed", self.embedder.model)

    async def _run(self, source_id):
        task = asyncio.current_task()
        try:
            if self.closed:
                return
            head = await self.stores.knowledge_sources.head(source_id)
            if head is None or head.status not in ("indexing", "ready"):
                return  # deleted, a URL not fetched yet, or failed: nothing to index
            self._report(head.knowledge_base_id, source_id, "chunking", force=True)
            async with self._turn:
                if self._queued.get(source_id) is task:
                    del self._queued[source_id]  # from here on, a new request queues again
                await self._index(source_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("indexing knowledge source %s failed", source_id)
        finally:
            if self._queued.get(source_id) is task:
                del self._queued[source_id]
            if source_id not in self._queued:
                self._live.pop(source_id, None)
                self._sent_at.pop(source_id, None)

    async def _index(self, source_id):
        sources = self.stores.knowledge_sources
        source = await sources.get(source_id)
        if source is None or source.status not in ("indexing", "ready"):
            return
        base_id = source.knowledge_base_id
        loop = asyncio.get_running_loop()
        # Hashing megabytes of text is CPU work too: on the chunking thread, not the IOLoop.
        digest = await loop.run_in_executor(self._executor, content_hash, source.content)
        if source.status != "indexing":
            await sources.update(source_id, {"status": "indexing", "error": None})
        self._report(base_id, source_id, "chunking", chunk_count=source.chunk_count)
        if digest == source.indexed_hash:
            count = source.chunk_count  # the chunks were cut from this very content
        else:
            try:
                chunks = await loop.run_in_executor(
                    self._executor, chunking.chunk_text, source.content,
                    source.format or "markdown", self.target_tokens, self.overlap_tokens)
                ids = await self.stores.knowledge_chunks.replace(source_id, chunks, digest)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.exception("cannot index knowledge source %s", source_id)
                await self._finish(base_id, source_id, "failed", 0,
                                   "Indexing failed: %s." % str(e).rstrip("."))
                return
            if ids is None:
                return  # deleted meanwhile: its chunks went with it
            count = len(ids)
            self._report(base_id, source_id, "chunking", count, count, count)
            if self.embedder is not None and ids:
                error = await self._embed(base_id, source_id, ids)
                await self._finish(base_id, source_id, "ready", count, error)
                return
        await self._finish(base_id, source_id, "ready", count)

    async def _embed(self, base_id, source_id, ids):
        """Embed a source's new chunks; the reason when it failed (full text works without)."""
        total = len(ids)
        self._report(base_id, source_id, "embedding", 0, total, total)

        def progress(done, total):
            self._report(base_id, source_id, "embedding", done, total, len(ids))

        try:
            await self.embedder.embed_chunks(ids, progress)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.warning("embedding knowledge source %s failed: %s", source_id, e)
            return "Embedding failed (full-text search still works): %s." % str(e).rstrip(".")
        return None

    async def _finish(self, base_id, source_id, status, count, error=None):
        """Store the outcome (the source stays failed or ready) and announce it."""
        changes = {"status": status, "error": error if status == "failed" else None}
        if await self.stores.knowledge_sources.update(source_id, changes) is None:
            return
        phase = "done" if status == "ready" else "failed"
        self._report(base_id, source_id, phase, count, count, count, error, status=status)

    def _report(self, base_id, source_id, phase, done=0, total=0, chunk_count=0, error=None,
                status="indexing", force=False):
        """Keep a source's progress and publish it: every phase change, and progress steps
        no more often than PROGRESS_INTERVAL."""
        previous = self._live.get(source_id)
        payload = {"knowledgeBaseId": base_id, "sourceId": source_id, "status": status,
                   "phase": phase, "done": done, "total": total, "chunkCount": chunk_count,
                   "error": error}
        self._live[source_id] = payload
        now = time.monotonic()
        if (not force and previous is not None and previous["phase"] == phase
                and now - self._sent_at.get(source_id, 0) < PROGRESS_INTERVAL):
            return
        self._sent_at[source_id] = now
        self.hub.publish(TOPIC, base_id, dict(payload))

    def progress(self, base_id):
        """The live progress of the base's sources waiting for or being indexed."""
        return [dict(p) for p in self._live.values() if p["knowledgeBaseId"] == base_id
                and p["phase"] not in ("done", "failed")]

    # -- search ------------------------------------------------------------------------------

    def mode(self):
        """Which search is in use: the database's full text, and the embedding model if any."""
        return {"fullText": self.stores.knowledge_chunks.full_text,
                "embeddingModel": self.embedder.model if self.embedder is not None else None}

    async def search(self, base_ids, query, limit=10):
        """The best `limit` chunks of the bases for `query`, best first (see the module's
        contract for a hit's keys); [] when the query has no word worth searching for."""
        terms = query_terms(query)
        base_ids = list(base_ids or ())
        if not terms or not base_ids or limit <= 0:
            return []
        if self.embedder is None:
            return await self.stores.knowledge_chunks.search(base_ids, terms, limit)
        return await self._fused(base_ids, query, terms, limit)

    async def _fused(self, base_ids, query, terms, limit):
        """Full-text ranks and vector ranks joined by reciprocal rank fusion; the score is
        the fused one. Should the embedding model fail, full text answers alone."""
        from orchestra.services.knowledge.vectors import rrf
        chunks = self.stores.knowledge_chunks
        depth = max(limit, FUSION_DEPTH)
        text_hits = await chunks.search(base_ids, terms, depth)
        try:
            vector = await self.embedder.embed_query(query)
            nearest = await self.embedder.vector_search(base_ids, vector, depth)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.warning("vector search failed, full text only: %s", e)
            return text_hits[:limit]
        fused = rrf([[h["chunk_id"] for h in text_hits], [id for id, _ in nearest]])[:limit]
        found = {h["chunk_id"]: h for h in text_hits}
        missing = [id for id, _ in fused if id not in found]
        found.update((h["chunk_id"], h) for h in await chunks.get_many(missing))
        return [dict(found[id], score=score) for id, score in fused if id in found]

    async def retrieve(self, base_ids, query, max_tokens, limit=8):
        """The best hits, in rank order, while their tokens fit `max_tokens`; the first one is
        kept even when it alone is too long (its text cut to fit)."""
        if max_tokens <= 0:
            return []
        kept, used = [], 0
        for hit in await self.search(base_ids, query, limit):
            if used + hit["tokens"] > max_tokens:
                if not kept:
                    text = truncate_to_context(hit["text"], max_tokens)
                    kept.append(dict(hit, text=text, tokens=estimate_tokens(text)))
                break
            kept.append(hit)
            used += hit["tokens"]
        return kept
