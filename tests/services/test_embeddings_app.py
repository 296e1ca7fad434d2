"""The whole path with an embedding model configured, on SQLite and MariaDB: sources added
through the API are chunked and embedded by the fake LM Studio, searches fuse full-text and
vector ranks, and naming another model re-embeds every chunk in the background."""

import asyncio

import pytest

from orchestra.app import close_app, make_app
from tests.knowledge_helpers import add_base, add_text

MODEL = "text-embedding-nomic-embed-text-v1.5"
OTHER_MODEL = "text-embedding-bge-m3"

GARAGE = """# Winter

The car needs new tyres before the first snow. Check the pressure every month.

# Summer

Wash the paintwork and wax it twice a season.
"""

KITCHEN = """# Baking

Bread rises when the yeast is warm; knead the dough for ten minutes.
"""


@pytest.fixture
def config(config):
    return config.replace(embedding_model=MODEL)


@pytest.fixture
def knowledge(app, fake_lmstudio):
    fake_lmstudio.models.append(dict(fake_lmstudio.model(MODEL), id=OTHER_MODEL))
    return app.settings["services"]["knowledge"]


def events_of(hub):
    seen = []
    hub.subscribe("knowledge:update", lambda base_id, payload: seen.append(payload))
    return seen


@pytest.mark.gen_test(timeout=30)
async def test_sources_are_embedded_and_search_finds_a_paraphrase_full_text_misses(
        app, fetch, knowledge, fake_lmstudio):
    stores = app.settings["stores"]
    knowledge.target_tokens, knowledge.overlap_tokens = 20, 0  # a chunk per section
    events = events_of(app.settings["hub"])
    base = await add_base(fetch, "House")
    garage = await add_text(fetch, base, "Garage", GARAGE)
    await add_text(fetch, base, "Kitchen", KITCHEN)
    await knowledge.wait()

    source = (await fetch("/api/knowledge-sources/%d" % garage["id"])).json()
    assert source["status"] == "ready" and source["error"] is None
    chunk_count = await stores.knowledge_chunks.count(knowledge_base_id=base)
    assert chunk_count >= 3
    assert await stores.knowledge_embeddings.count(MODEL) == chunk_count
    phases = [e["phase"] for e in events if e["sourceId"] == garage["id"]]
    assert "embedding" in phases and phases[-1] == "done"
    assert knowledge.mode()["embeddingModel"] == MODEL

    # "automobile" is no word of the garage notes: full text finds nothing, vectors do
    assert await stores.knowledge_chunks.search([base], ["automobile"], 5) == []
    hits = await knowledge.search([base], "When does the automobile want tyres?")
    assert "new tyres" in hits[0]["text"] and hits[0]["source_title"] == "Garage"
    hits = await knowledge.search([base], "automobile")
    assert hits and "car needs new tyres" in hits[0]["text"]
    # both rankings agree on the bread chunk: it comes first, with the fused score
    [best, *_] = await knowledge.search([base], "yeast dough")
    assert best["source_title"] == "Kitchen" and best["score"] == pytest.approx(2 / 61)


@pytest.mark.gen_test(timeout=30)
async def test_an_embedding_failure_leaves_full_text_working(app, fetch, knowledge,
                                                             fake_lmstudio):
    events = events_of(app.settings["hub"])
    base = await add_base(fetch, "House")
    fake_lmstudio.fail_next(500, "the embedding engine crashed", path="/v1/embeddings")
    source = await add_text(fetch, base, "Garage", GARAGE)
    await knowledge.wait()
    source = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()
    assert source["status"] == "ready"
    [last] = [e for e in events if e["sourceId"] == source["id"]][-1:]
    assert last["phase"] == "done" and "the embedding engine crashed" in last["error"]
    assert (await knowledge.search([base], "tyres"))[0]["source_title"] == "Garage"
    # the model server down at search time: full text answers alone
    fake_lmstudio.fail_next(500, "busy", path="/v1/embeddings")
    assert (await knowledge.search([base], "tyres"))[0]["source_title"] == "Garage"


@pytest.mark.gen_test(timeout=30)
async def test_naming_another_model_re_embeds_in_the_background(app, config, fetch, knowledge,
                                                               fake_lmstudio):
    base = await add_base(fetch, "House")
    await add_text(fetch, base, "Garage", GARAGE)
    await add_text(fetch, base, "Kitchen", KITCHEN)
    await knowledge.wait()
    store = app.settings["stores"].knowledge_embeddings
    count = await store.count(MODEL)
    assert count >= 2

    # the next start names another model (of another length): the same database
    fake_lmstudio.embedding_dims = 64
    again = make_app(config.replace(embedding_model=OTHER_MODEL))
    try:
        while await store.count(OTHER_MODEL) < count:  # gen_test's timeout bounds the wait
            await asyncio.sleep(0.01)
        await again.settings["services"]["knowledge"].wait()
        assert await store.count(OTHER_MODEL) == count and await store.count() == count
        hits = await again.settings["services"]["knowledge"].search([base], "automobile")
        assert "car needs new tyres" in hits[0]["text"]
        assert again.settings["services"]["knowledge"].mode()["embeddingModel"] == OTHER_MODEL
    finally:
        await close_app(again)
