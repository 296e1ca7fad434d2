"""With an embedding model (the fake LM Studio's), a /ws subscriber sees a large source cut
into chunks and then embedded batch by batch, through to "done"; the search API and the
page say that embeddings are in use. On SQLite and MariaDB."""

import re

import pytest

from orchestra.services.lmstudio.embeddings import EMBED_BATCH
from tests.knowledge_helpers import add_base, add_text
from tests.web.test_knowledge_api import search
from tests.web.test_knowledge_ws import ask, connect, large_document, updates_until_finished

MODEL = "text-embedding-nomic-embed-text-v1.5"


@pytest.fixture
def config(config):
    return config.replace(embedding_model=MODEL)


@pytest.mark.gen_test(timeout=120)
async def test_embedding_progress_arrives_batch_by_batch(ws_connect, fetch, browser, app,
                                                         fake_lmstudio):
    knowledge = app.settings["services"]["knowledge"]
    base = await add_base(fetch)
    conn = await connect(ws_connect)
    await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": base}, "sub")
    source = await add_text(fetch, base, "Manual", large_document(60))
    payloads = await updates_until_finished(conn, source["id"])
    await knowledge.wait()

    chunks = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()["chunkCount"]
    assert chunks > 2 * EMBED_BATCH
    phases = [p["phase"] for p in payloads]
    assert phases[0] == "chunking" and phases[-1] == "done" and "embedding" in phases
    assert phases == sorted(phases, key=["chunking", "embedding", "done"].index)
    embedding = [p for p in payloads if p["phase"] == "embedding"]
    assert embedding[0]["done"] == 0
    assert all(p["total"] == p["chunkCount"] == chunks for p in embedding)
    steps = [p["done"] for p in embedding]
    assert steps == sorted(steps) and all(s <= chunks for s in steps)
    assert all(s % EMBED_BATCH == 0 or s == chunks for s in steps)  # a step per batch
    assert payloads[-1] == dict(payloads[-1], status="ready", error=None, done=chunks,
                                total=chunks, chunkCount=chunks)
    assert fake_lmstudio.embedded >= chunks

    body = (await search(fetch, base, q="valve gauge")).json()
    assert body["mode"]["embeddingModel"] == MODEL and body["items"]
    await browser.login()
    page = (await browser.get("/knowledge-bases/%d" % base)).text
    mode = re.search(r'<p id="kb-mode">([^<]*)</p>', page).group(1)
    assert "embeddings from %s" % MODEL in mode and "reciprocal rank" in mode
