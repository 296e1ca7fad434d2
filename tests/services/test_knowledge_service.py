"""KnowledgeService on SQLite and MariaDB: sources indexed in the background through the API,
re-indexed when they change, searched over several bases, retrieved within a token budget,
progress on the hub, and stale sources indexed after a restart."""

import pytest

from orchestra.db import utcnow
from orchestra.services.hub import Hub
from orchestra.services.knowledge.service import KnowledgeService, query_terms
from orchestra.services.lmstudio.text import estimate_tokens
from tests.fakes.website import fake_site  # noqa: F401
from tests.knowledge_helpers import add_base, add_text

HANDBOOK = """# Brewing

Green tea wants water at about 80 degrees; boiling water makes it bitter.

## Oolong

Oolong leaves unfurl over several short infusions, each a little longer than the last.

# Storage

Keep leaves in an airtight tin, away from light, heat and the smell of spices.
"""


@pytest.fixture
def knowledge(app):
    return app.settings["services"]["knowledge"]


class Events:
    """The knowledge:update events published on the hub, as (base id, payload)."""

    def __init__(self, hub):
        self.seen = []
        hub.subscribe("knowledge:update", lambda base_id, payload: self.seen.append(
            (base_id, payload)))

    def of(self, source_id):
        return [p for _, p in self.seen if p["sourceId"] == source_id]


async def source_of(fetch, source_id):
    return (await fetch("/api/knowledge-sources/%d" % source_id)).json()


def same_words(a, b):
    return a.split() == b.split()


@pytest.mark.gen_test
async def test_a_text_source_is_indexed_into_chunks_that_slice_its_content(
        app, fetch, knowledge):
    knowledge.target_tokens, knowledge.overlap_tokens = 20, 0  # several chunks from a page
    events = Events(app.settings["hub"])
    base = await add_base(fetch)
    source = await add_text(fetch, base, "Tea handbook", HANDBOOK)
    assert source["status"] == "indexing" and source["chunkCount"] == 0
    await knowledge.wait()

    source = await source_of(fetch, source["id"])
    assert source["status"] == "ready" and source["error"] is None
    chunks = await app.settings["stores"].knowledge_chunks.for_source(source["id"])
    assert source["chunkCount"] == len(chunks) > 1
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert same_words(HANDBOOK[chunk.start_offset:chunk.end_offset], chunk.text)
    listed = (await fetch("/api/knowledge-bases/%d" % base)).json()["sources"]
    assert [(s["chunkCount"], s["status"]) for s in listed] == [(len(chunks), "ready")]

    phases = [(p["phase"], p["status"]) for p in events.of(source["id"])]
    assert phases[0] == ("chunking", "indexing") and phases[-1] == ("done", "ready")
    last = events.of(source["id"])[-1]
    assert last == {"knowledgeBaseId": base, "sourceId": source["id"], "status": "ready",
                    "phase": "done", "done": len(chunks), "total": len(chunks),
                    "chunkCount": len(chunks), "error": None}
    assert knowledge.progress(base) == []


@pytest.mark.gen_test
async def test_a_changed_source_is_chunked_again_and_old_words_are_gone(fetch, knowledge):
    base = await add_base(fetch)
    source = await add_text(fetch, base, "Notes", "Pelicans nest on quiet islands.")
    await knowledge.wait()
    assert [h["source_id"] for h in await knowledge.search([base], "pelicans")] == [
        source["id"]]

    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"title": "Renamed"})
    assert r.json()["status"] == "ready"  # a new title is not a new text
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"content": "Flamingos wade in salty lagoons."})
    assert r.code == 200 and r.json()["status"] == "indexing"
    await knowledge.wait()
    assert await knowledge.search([base], "pelicans") == []
    [hit] = await knowledge.search([base], "flamingos lagoons")
    assert hit["source_title"] == "Renamed" and hit["text"] == "Flamingos wade in salty lagoons."
    assert (await source_of(fetch, source["id"]))["status"] == "ready"

    # The knowledge service owns the indexing fields.
    r = await fetch("/api/knowledge-sources/%d" % source["id"], method="PATCH",
                    json={"chunkCount": 5, "status": "ready"})
    assert r.code == 400 and r.json()["fields"] == {
        "chunkCount": ["Read-only: the knowledge service sets it."],
        "status": ["Read-only: the knowledge service sets it."]}


@pytest.mark.gen_test
async def test_deleting_a_source_or_base_takes_its_chunks_out_of_search(fetch, knowledge, app):
    chunks = app.settings["stores"].knowledge_chunks
    base = await add_base(fetch)
    first = await add_text(fetch, base, "First", "Lighthouse keepers log the weather.")
    await add_text(fetch, base, "Second", "A lighthouse lens focuses the beam.")
    await knowledge.wait()
    assert len(await knowledge.search([base], "lighthouse")) == 2

    assert (await fetch("/api/knowledge-sources/%d" % first["id"], method="DELETE")).code == 204
    assert [h["source_title"] for h in await knowledge.search([base], "lighthouse")] == [
        "Second"]
    assert await chunks.count(source_id=first["id"]) == 0
    assert (await fetch("/api/knowledge-bases/%d" % base, method="DELETE")).code == 204
    assert await knowledge.search([base], "lighthouse") == []
    assert await chunks.count() == 0


@pytest.mark.gen_test
async def test_search_ranks_rarer_terms_first_across_several_bases(fetch, knowledge):
    tea, coffee = await add_base(fetch, "Tea"), await add_base(fetch, "Coffee")
    for n, text in enumerate([
            "Green leaves steeped briefly give a light drink.",
            "Black leaves are fully oxidised before drying.",
            "Oolong leaves are partly oxidised, between green and black.",
            "White leaves are the least processed of all."]):
        await add_text(fetch, tea, "Tea %d" % n, text)
    await add_text(fetch, coffee, "Espresso", "Arabica beans roasted dark make espresso.")
    await knowledge.wait()

    hits = await knowledge.search([tea], "What are oolong leaves?")
    assert hits[0]["source_title"] == "Tea 2" and len(hits) > 1
    assert set(hits[0]) >= {"chunk_id", "knowledge_base_id", "source_id", "source_title",
                            "heading_path", "text", "score", "position"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    both = await knowledge.search([tea, coffee], "oolong or espresso", limit=5)
    assert {h["source_title"] for h in both} == {"Tea 2", "Espresso"}
    assert await knowledge.search([coffee], "oolong") == []
    assert await knowledge.search([tea], "what is it and how?") == []  # stopwords only
    assert await knowledge.search([tea], "   ") == []
    assert knowledge.mode() == {"fullText": "sqlite-fts5" if knowledge.stores.db.dialect
                                == "sqlite" else "mariadb-fulltext", "embeddingModel": None}


def test_query_terms_drop_stopwords_and_repeats():
    assert query_terms("What is the Oolong's brewing time, and the oolong TEMP?") == [
        "oolong", "brewing", "time", "temp"]
    assert query_terms('"quoted" OR NEAR(x) snake_case') == ["quoted", "near", "x", "snake",
                                                            "case"]
    assert query_terms("the of and") == [] and query_terms("") == []


@pytest.mark.gen_test
async def test_retrieve_keeps_hits_in_rank_order_within_the_token_budget(fetch, knowledge):
    base = await add_base(fetch)
    texts = ["Comets carry ice and dust around the sun.",
             "A comet tail points away from the sun, pushed by the solar wind and light.",
             "Comet nuclei are a few kilometres across."]
    for n, text in enumerate(texts):
        await add_text(fetch, base, "C%d" % n, text)
    await knowledge.wait()

    ranked = await knowledge.search([base], "comet comets", limit=8)
    assert len(ranked) >= 2
    budget = ranked[0]["tokens"] + ranked[1]["tokens"]
    kept = await knowledge.retrieve([base], "comet comets", budget)
    assert [h["chunk_id"] for h in kept] == [h["chunk_id"] for h in ranked[:2]]
    assert sum(h["tokens"] for h in kept) <= budget

    [cut] = await knowledge.retrieve([base], "comet comets", 4)
    assert cut["chunk_id"] == ranked[0]["chunk_id"] and estimate_tokens(cut["text"]) <= 4
    assert ranked[0]["text"].startswith(cut["text"]) and cut["text"]
    assert await knowledge.retrieve([base], "comet", 0) == []
    assert await knowledge.retrieve([base], "nothing matches zebra", 100) == []


@pytest.mark.gen_test
async def test_progress_is_published_and_listed_while_a_source_is_indexed(app, fetch,
                                                                          knowledge):
    base = await add_base(fetch)
    seen_live = []

    def on_update(base_id, payload):
        if payload["phase"] == "chunking":
            live = [p["sourceId"] for p in knowledge.progress(base_id)]
            seen_live.append((payload["sourceId"], live))

    app.settings["hub"].subscribe("knowledge:update", on_update)
    sources = [await add_text(fetch, base, "S%d" % n, "Words number %d here." % n)
               for n in range(3)]
    await knowledge.wait()
    assert {id for id, _ in seen_live} == {s["id"] for s in sources}
    assert all(id in live for id, live in seen_live)
    assert knowledge.progress(base) == [] and knowledge.progress(base + 1) == []
    for source in sources:
        assert (await source_of(fetch, source["id"]))["status"] == "ready"


@pytest.mark.gen_test
async def test_recover_indexes_stale_sources_after_a_restart(app, fetch):
    """Sources from before chunks existed (ready, never indexed) and one a stopped process
    left `indexing` are indexed at start; a URL not fetched yet is left alone."""
    stores = app.settings["stores"]
    await app.settings["services"]["knowledge"].wait()  # its own start found nothing stale
    base = await add_base(fetch)

    async def stored(title, status, content):
        return await stores.knowledge_sources.create({
            "knowledge_base_id": base, "kind": "text" if content else "url", "title": title,
            "url": None if content else "http://127.0.0.1:9/", "content": content,
            "status": status})

    old = await stored("Old", "ready", "Glaciers carve valleys slowly.")
    cut_short = await stored("Cut short", "indexing", "Moraines mark where glaciers stopped.")
    pending = await stored("Page", "pending", "")
    assert await stores.knowledge_sources.stale_ids(utcnow()) == [old.id, cut_short.id]
    # a source changed after this process started is its own: recover() leaves it alone
    assert await stores.knowledge_sources.stale_ids(old.created_at) == []

    hub = Hub()
    events = Events(hub)
    restarted = KnowledgeService(stores, app.settings["lmstudio"], hub)
    try:
        await restarted.recover()
        await restarted.wait()
    finally:
        await restarted.close()
    hits = await restarted.search([base], "glaciers")
    assert sorted(h["source_title"] for h in hits) == ["Cut short", "Old"]
    assert {p["sourceId"] for _, p in events.seen} == {old.id, cut_short.id}
    for source in (old, cut_short):
        assert (await stores.knowledge_sources.get(source.id)).status == "ready"
    assert (await stores.knowledge_sources.get(pending.id)).status == "pending"
    assert await stores.knowledge_sources.stale_ids(utcnow()) == []


@pytest.mark.gen_test
async def test_a_fetched_page_is_handed_over_and_indexed(app, fetch, knowledge,
                                                         fake_site):  # noqa: F811
    base = await add_base(fetch)
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base, "kind": "url", "title": "Guide", "render": "static",
        "url": fake_site.url + "/article"})
    assert r.json()["status"] == "pending"
    await app.settings["services"]["web"].wait()  # the fetch, then its indexing
    source = await source_of(fetch, r.json()["id"])
    assert source["status"] == "ready" and source["format"] == "markdown"
    assert source["chunkCount"] >= 1
    [hit, *_] = await knowledge.search([base], "getting started")  # a heading of the page
    assert hit["source_id"] == source["id"]
    assert "Getting started" in " ".join(hit["heading_path"] + [hit["text"]])


# -- with an embedding model ---------------------------------------------------------------

EMBEDDING_MODEL = "text-embedding-nomic-embed-text-v1.5"


@pytest.fixture
def hybrid(app, fake_lmstudio, io_loop):
    """A KnowledgeService with an Embedder on the fake LM Studio's embedding model."""
    from orchestra.services.knowledge.embedding import Embedder
    stores, lmstudio = app.settings["stores"], app.settings["lmstudio"]
    # The app's own service has looked for stale sources before these tests add theirs.
    io_loop.run_sync(app.settings["services"]["knowledge"].wait)
    hub = Hub()
    service = KnowledgeService(stores, lmstudio, hub, Embedder(stores, lmstudio,
                                                               EMBEDDING_MODEL))
    service.events = Events(hub)
    yield service
    io_loop.run_sync(service.close)


async def indexed(service, base_id, title, content):
    source = await service.stores.knowledge_sources.create({
        "knowledge_base_id": base_id, "kind": "text", "title": title, "content": content,
        "status": "indexing"})
    await service.index_source(source.id)
    return source


@pytest.mark.gen_test
async def test_search_fuses_full_text_and_vector_ranks(fetch, hybrid):
    base = await add_base(fetch)
    car = await indexed(hybrid, base, "Garage", "The automobile needs new tyres in winter.")
    await indexed(hybrid, base, "Kitchen", "Bread rises when the yeast is warm.")
    await indexed(hybrid, base, "Garden", "Tomatoes need water every single evening.")
    assert hybrid.mode()["embeddingModel"] == EMBEDDING_MODEL
    phases = [p["phase"] for p in hybrid.events.of(car.id)]
    assert "embedding" in phases and phases[-1] == "done"

    # Full text alone knows no "car"; the vectors know it means "automobile".
    assert await hybrid.stores.knowledge_chunks.search([base], ["car", "repair"]) == []
    hits = await hybrid.search([base], "car repair", limit=2)
    assert hits[0]["source_title"] == "Garage" and len(hits) == 2
    assert hits[0]["score"] > hits[1]["score"] and hits[0]["heading_path"] == []
    # A passage both rankings agree on is first, with the fused score.
    [best, *_] = await hybrid.search([base], "yeast bread")
    assert best["source_title"] == "Kitchen" and 0 < best["score"] <= 2 / 61
    assert await hybrid.search([base], "what is it?") == []


@pytest.mark.gen_test
async def test_an_embedding_failure_leaves_the_source_searchable_by_full_text(
        fetch, hybrid, fake_lmstudio):
    base = await add_base(fetch)
    fake_lmstudio.fail_next(500, "embedding engine crashed", path="/v1/embeddings")
    source = await indexed(hybrid, base, "Garage", "The automobile needs new tyres.")
    stored = await hybrid.stores.knowledge_sources.get(source.id)
    assert stored.status == "ready" and stored.chunk_count == 1
    last = hybrid.events.of(source.id)[-1]
    assert last["phase"] == "done" and last["status"] == "ready"
    assert last["error"].startswith("Embedding failed (full-text search still works)")
    [hit] = await hybrid.stores.knowledge_chunks.search([base], ["automobile"])
    assert [h["chunk_id"] for h in await hybrid.search([base], "automobile")] == [
        hit["chunk_id"]]
