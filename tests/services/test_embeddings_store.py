"""Stored vectors (EmbeddingStore) and the Embedder, on SQLite and MySQL/MariaDB, with the
fake LM Studio making the embeddings."""

import asyncio
import threading

import numpy as np
import pytest

from orchestra import db as dblib
from orchestra.services.knowledge import vectors
from orchestra.services.knowledge.chunking import Chunk
from orchestra.services.knowledge.embedding import Embedder, chunk_text
from orchestra.services.lmstudio import LMStudioClient, UpstreamError
from orchestra.store import Stores
from tests.fakes.lmstudio_embeddings import embedding
from tests.services.lmstudio_helpers import until

MODEL = "text-embedding-nomic-embed-text-v1.5"
OTHER_MODEL = "text-embedding-bge-m3"


@pytest.fixture
def stores(backend, tmp_path, io_loop):
    database = dblib.Database(backend or "sqlite:///" + str(tmp_path / "e.db"), workers=2)
    database.connect()
    database.run_sync(dblib.migrate)
    yield Stores(database)
    database.close()


@pytest.fixture
def lmstudio(fake_lmstudio, io_loop):
    fake_lmstudio.models.append(dict(fake_lmstudio.model(MODEL), id=OTHER_MODEL))
    client = LMStudioClient(fake_lmstudio.url)
    yield client
    io_loop.run_sync(client.close)


@pytest.fixture
def embedder(stores, lmstudio):
    return Embedder(stores, lmstudio, MODEL, batch_size=2)


class Corpus:
    """Knowledge bases, sources and chunks written as the knowledge service writes them."""

    def __init__(self, stores):
        self.stores = stores

    async def base(self, name="Base"):
        return (await self.stores.knowledge_bases.create(
            {"name": name, "description": ""}))["id"]

    async def source(self, base_id, texts, title="Manual", headings=()):
        source = await self.stores.knowledge_sources.create(
            {"knowledge_base_id": base_id, "kind": "text", "title": title,
             "content": "\n\n".join(texts), "status": "ready"})
        chunks = [Chunk(text, list(headings), 0, len(text), len(text.split())) for text in texts]
        return await self.stores.knowledge_chunks.replace(source["id"], chunks, "0" * 64)

    async def delete_chunks(self, ids):
        # as a source's new content or its deletion takes its chunks away
        for chunk_id in ids:
            await self.stores.db.execute("DELETE FROM knowledge_chunks WHERE id = %s", chunk_id)


@pytest.fixture
def corpus(stores):
    return Corpus(stores)


TEXTS = [
    "The car needs new tyres before winter.",
    "Bread rises when the yeast is warm.",
    "Our doctor works at the city hospital.",
    "Invoices are paid within thirty days.",
    "The garden needs water every evening.",
]


def vector(text, dims=256):
    return embedding(text, dims)


# -- the store --------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_store_keeps_one_vector_per_chunk_and_loads_a_bases_vectors(stores, corpus):
    store = stores.knowledge_embeddings
    base, other = await corpus.base(), await corpus.base("Other")
    ids = await corpus.source(base, TEXTS[:3])
    other_ids = await corpus.source(other, TEXTS[3:])
    stored = await store.put(MODEL, [(i, 3, vectors.pack([n, 1, 0])) for n, i in enumerate(ids)])
    assert stored == 3
    assert await store.load(base, MODEL) == [
        (i, 3, vectors.pack([n, 1, 0])) for n, i in enumerate(ids)]
    assert await store.load(other, MODEL) == [] and await store.load(base, OTHER_MODEL) == []
    assert await store.signatures([base, other], MODEL) == {base: (3, ids[-1]),
                                                            other: (0, None)}
    # a chunk's vector is replaced, also by another model's
    await store.put(OTHER_MODEL, [(ids[0], 2, vectors.pack([0.5, 0.25]))])
    assert await store.load(base, OTHER_MODEL) == [(ids[0], 2, vectors.pack([0.5, 0.25]))]
    assert [r[0] for r in await store.load(base, MODEL)] == ids[1:]
    assert await store.count() == 3 and await store.count(MODEL) == 2
    assert await store.missing(MODEL) == [ids[0], *other_ids]
    assert await store.missing(MODEL, after=ids[0], limit=1) == [other_ids[0]]
    assert await store.count_missing(MODEL) == 3 and await store.count_missing(OTHER_MODEL) == 4
    assert await store.delete_other_models(MODEL) == 1
    assert await store.count() == 2 and await store.count(OTHER_MODEL) == 0


@pytest.mark.gen_test
async def test_store_skips_deleted_chunks_and_vectors_go_with_their_chunks(stores, corpus):
    store = stores.knowledge_embeddings
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS[:3])
    await corpus.delete_chunks(ids[1:2])
    assert await store.put(MODEL, [(i, 1, vectors.pack([1.0])) for i in ids]) == 2
    assert [r[0] for r in await store.load(base, MODEL)] == [ids[0], ids[2]]
    await corpus.delete_chunks(ids[2:])
    assert await store.signatures([base], MODEL) == {base: (1, ids[0])}
    await stores.knowledge_bases.delete(base)  # cascades to sources, chunks and vectors
    assert await store.count() == 0


@pytest.mark.gen_test
async def test_store_reads_chunks_with_their_source_title_and_headings(stores, corpus):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS[:2], title="Car care", headings=["Winter", "Tyres"])
    chunks = await stores.knowledge_embeddings.chunks([ids[1], ids[0], 999999])
    assert set(chunks) == set(ids)
    assert chunks[ids[0]]["knowledge_base_id"] == base
    assert chunks[ids[0]]["heading_path"] == ["Winter", "Tyres"]
    assert chunk_text(chunks[ids[0]]) == "Car care › Winter › Tyres\n\n" + TEXTS[0]
    assert chunk_text(dict(chunks[ids[1]], source_title="", heading_path=[])) == TEXTS[1]


@pytest.mark.gen_test
async def test_store_round_trips_large_vectors(stores, corpus):
    base = await corpus.base()
    [chunk_id] = await corpus.source(base, TEXTS[:1])
    big = np.random.default_rng(3).standard_normal(4096).astype("<f4")
    await stores.knowledge_embeddings.put(MODEL, [(chunk_id, 4096, big.tobytes())])
    [(_, dims, blob)] = await stores.knowledge_embeddings.load(base, MODEL)
    assert dims == 4096 and np.array_equal(vectors.unpack(blob), big)


# -- the Embedder -----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_embed_chunks_stores_vectors_batch_by_batch(embedder, stores, corpus,
                                                          fake_lmstudio):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS, title="Notes")
    steps = []
    await embedder.embed_chunks(ids, lambda done, total: steps.append((done, total)))
    assert steps == [(2, 5), (4, 5), (5, 5)]
    inputs = [body["input"] for path, body in fake_lmstudio.requests
              if path == "/v1/embeddings"]
    assert inputs == [["Notes\n\n" + t for t in TEXTS[i:i + 2]] for i in (0, 2, 4)]
    loaded = await stores.knowledge_embeddings.load(base, MODEL)
    assert [r[0] for r in loaded] == ids
    assert np.allclose(vectors.unpack(loaded[0][2]), vector("Notes\n\n" + TEXTS[0]))

    async def slow_progress(done, total):
        await asyncio.sleep(0)
        steps.append(("async", done))

    await embedder.embed_chunks(ids[:3] + [999999], slow_progress)  # a chunk gone meanwhile
    assert steps[-2:] == [("async", 2), ("async", 4)]
    assert await stores.knowledge_embeddings.count(MODEL) == 5


@pytest.mark.gen_test
async def test_embed_chunks_keeps_the_batches_done_when_the_server_fails(embedder, stores,
                                                                         corpus, fake_lmstudio):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS)
    await embedder.embed_query("warm up")  # the client lists the models once

    def fail_second(payload):
        fake_lmstudio.fail_next(500, "out of memory", path="/v1/embeddings")
        return payload

    fake_lmstudio.embedding_answer = fail_second
    with pytest.raises(UpstreamError, match="out of memory"):
        await embedder.embed_chunks(ids)
    assert await stores.knowledge_embeddings.count(MODEL) == 2
    assert await stores.knowledge_embeddings.missing(MODEL) == ids[2:]


@pytest.mark.gen_test
async def test_vector_search_finds_paraphrases_within_the_bases_asked(embedder, corpus):
    base, other = await corpus.base(), await corpus.base("Other")
    ids = await corpus.source(base, TEXTS, title="")
    other_ids = await corpus.source(other, ["The automobile is parked outside."], title="")
    await embedder.embed_chunks(ids + other_ids)
    query = await embedder.embed_query("Which automobile needs tyres?")
    assert query == vector("Which automobile needs tyres?")
    hits = await embedder.vector_search([base], query, 2)
    assert hits[0][0] == ids[0] and len(hits) == 2
    assert hits[0][1] == pytest.approx(float(np.dot(vector(TEXTS[0]), query)), abs=1e-6)
    both = await embedder.vector_search([base, other], query, 3)
    assert {chunk_id for chunk_id, _ in both[:2]} == {ids[0], other_ids[0]}
    physician = await embedder.embed_query("physician")
    assert (await embedder.vector_search([base, other], physician, 1))[0][0] == ids[2]
    assert await embedder.vector_search([await corpus.base("Empty")], query, 5) == []


@pytest.mark.gen_test
async def test_vector_search_reloads_a_base_only_when_its_vectors_change(embedder, stores,
                                                                       corpus, monkeypatch):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS, title="")
    await embedder.embed_chunks(ids)
    loads = []
    real_load = stores.knowledge_embeddings.load

    async def counting_load(base_id, model):
        loads.append(base_id)
        return await real_load(base_id, model)

    monkeypatch.setattr(stores.knowledge_embeddings, "load", counting_load)
    query = vector("garden water")
    assert (await embedder.vector_search([base], query, 1))[0][0] == ids[4]
    assert (await embedder.vector_search([base], query, 1))[0][0] == ids[4]
    assert loads == [base]
    # a deleted chunk (its source changed) is never found again
    await corpus.delete_chunks(ids[4:])
    hits = await embedder.vector_search([base], query, 5)
    assert ids[4] not in [chunk_id for chunk_id, _ in hits] and loads == [base, base]
    # new chunks, once embedded, are found
    [new] = await corpus.source(base, ["Water the garden plants at dusk."], title="")
    await embedder.embed_chunks([new])
    assert (await embedder.vector_search([base], query, 1))[0][0] == new
    assert loads == [base] * 3
    embedder.invalidate(base)
    await embedder.vector_search([base], query, 1)
    assert loads == [base] * 4


@pytest.mark.gen_test
async def test_numpy_work_runs_off_the_ioloop(embedder, corpus, monkeypatch):
    base = await corpus.base()
    await embedder.embed_chunks(await corpus.source(base, TEXTS))
    threads = []
    for name in ("build_matrix", "top_k", "pack"):
        real = getattr(vectors, name)

        def spy(*args, _real=real, _name=name):
            threads.append((_name, threading.current_thread() is threading.main_thread()))
            return _real(*args)

        monkeypatch.setattr(vectors, name, spy)
    await embedder.embed_chunks(await corpus.source(base, ["One more chunk."]))
    await embedder.vector_search([base], vector("bread"), 3)
    assert {name for name, _ in threads} == {"build_matrix", "top_k", "pack"}
    assert not any(on_main for _, on_main in threads)


@pytest.mark.gen_test
async def test_reembed_stale_after_the_model_changed(stores, lmstudio, corpus, fake_lmstudio):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS, title="")
    first = Embedder(stores, lmstudio, MODEL, batch_size=2)
    assert await first.reembed_stale() == 5
    assert await first.reembed_stale() == 0  # nothing left to do
    # the model changes (here also its length): every chunk is embedded again
    fake_lmstudio.embedding_dims = 128
    second = Embedder(stores, lmstudio, OTHER_MODEL, batch_size=2)
    steps = []
    assert await second.reembed_stale(lambda done, total: steps.append((done, total))) == 5
    assert steps == [(2, 5), (4, 5), (5, 5)]
    assert await stores.knowledge_embeddings.count(OTHER_MODEL) == 5
    assert await stores.knowledge_embeddings.count() == 5
    hits = await second.vector_search([base], vector("bread yeast", 128), 1)
    assert hits[0][0] == ids[1]
    assert await first.vector_search([base], vector("bread yeast"), 1) == []


@pytest.mark.gen_test
async def test_reembed_stale_drops_vectors_of_other_models_it_did_not_replace(
        stores, lmstudio, corpus, fake_lmstudio, monkeypatch):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS[:3], title="")
    await Embedder(stores, lmstudio, MODEL).embed_chunks(ids)
    second = Embedder(stores, lmstudio, OTHER_MODEL, batch_size=2)
    # a chunk goes while it is being embedded: its old vector goes with it; the rest are
    # replaced, and nothing of the old model remains
    real_embed = lmstudio.embed

    async def embed_then_delete(texts, model, batch_size=64):
        got = await real_embed(texts, model, batch_size=batch_size)
        if ids[0] in await stores.knowledge_embeddings.chunks([ids[0]]):
            await corpus.delete_chunks(ids[:1])
        return got

    monkeypatch.setattr(lmstudio, "embed", embed_then_delete)
    assert await second.reembed_stale() == 3
    assert await stores.knowledge_embeddings.count(OTHER_MODEL) == 2
    assert await stores.knowledge_embeddings.count() == 2


@pytest.mark.gen_test
async def test_reembed_stale_leaves_chunks_in_flight_to_their_call(embedder, stores, corpus,
                                                                   monkeypatch):
    base = await corpus.base()
    ids = await corpus.source(base, TEXTS, title="")
    gate, calls = asyncio.Event(), []
    real_embed = embedder.lmstudio.embed

    async def held(texts, model, batch_size=64):
        calls.append(len(texts))
        await gate.wait()
        return await real_embed(texts, model, batch_size=batch_size)

    monkeypatch.setattr(embedder.lmstudio, "embed", held)
    running = asyncio.ensure_future(embedder.embed_chunks(ids[:2]))
    await until(lambda: len(calls) == 1)
    stale = asyncio.ensure_future(embedder.reembed_stale())
    await until(lambda: len(calls) == 2)  # it chose its chunks while the first two were busy
    gate.set()
    await running
    assert await stale == 3
    assert await stores.knowledge_embeddings.count(MODEL) == 5


@pytest.mark.gen_test(timeout=60)
async def test_batches_stored_while_sources_are_cut_anew_all_land_or_skip(stores, corpus):
    # On MariaDB these transactions contend for the same rows (and deadlock now and then,
    # which put() retries); on SQLite they queue. Either way each ends consistent.
    store = stores.knowledge_embeddings
    base = await corpus.base()
    first = await corpus.source(base, TEXTS)
    blob = vectors.pack([1, 2, 3])
    for _ in range(20):
        second = await corpus.source(base, TEXTS)
        source_id = (await stores.knowledge_chunks.get_many(second[:1]))[0]["source_id"]
        ids = first + second
        results = await asyncio.gather(
            store.put(MODEL, [(i, 3, blob) for i in ids[0::2]]),
            store.put(MODEL, [(i, 3, blob) for i in ids[1::2]]),
            store.put(OTHER_MODEL, [(i, 3, blob) for i in ids[3:8]]),
            stores.knowledge_chunks.replace(source_id, [Chunk("anew", [], 0, 4, 1)], "1" * 64))
        assert results[0] + results[1] >= len(first)
        kept = {chunk_id for chunk_id, _, _ in await store.load(base, MODEL)} | {
            chunk_id for chunk_id, _, _ in await store.load(base, OTHER_MODEL)}
        assert set(first) <= kept and not kept & set(second)
    assert await store.count() == len(first)
