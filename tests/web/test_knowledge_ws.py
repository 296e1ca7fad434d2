"""knowledge:subscribe over a real /ws socket: progress of a large source being indexed,
frame by frame through to "done", only to the base's subscribers. On SQLite and MariaDB."""

import asyncio
import json

import pytest

from tests.knowledge_helpers import add_base, add_text

BOUND = 60.0  # a stuck test fails instead of hanging; nothing here measures time


async def recv(conn):
    raw = await asyncio.wait_for(conn.read_message(), BOUND)
    assert raw is not None, "the socket closed (code %s)" % conn.close_code
    return json.loads(raw)


async def connect(ws_connect):
    conn = await ws_connect()
    assert (await recv(conn))["type"] == "connected"
    return conn


async def ask(conn, type, data, id):
    conn.write_message(json.dumps({"type": type, "data": data, "id": id}))
    while True:
        frame = await recv(conn)
        if frame.get("id") == id:
            return frame


async def updates_until_finished(conn, source_id):
    """The knowledge:update payloads of `source_id` up to its "done" or "failed"."""
    payloads = []
    while True:
        frame = await recv(conn)
        if frame["type"] != "knowledge:update" or frame["data"]["sourceId"] != source_id:
            continue
        payloads.append(frame["data"])
        if frame["data"]["phase"] in ("done", "failed"):
            return payloads


def large_document(sections=300):
    """About 1.5 MB of Markdown: hundreds of sections, each a few chunks long."""
    body = " ".join("Sentence %d of the manual explains a valve, a gauge and a pump." % n
                    for n in range(40))
    return "# Manual\n\n" + "\n\n".join("## Section %d\n\n%s\n\n%s" % (n, body, body)
                                       for n in range(sections))


@pytest.mark.gen_test(timeout=120)
async def test_a_subscriber_sees_a_large_source_indexed_through_to_done(ws_connect, fetch, app):
    knowledge = app.settings["services"]["knowledge"]
    base = await add_base(fetch)
    other = await add_base(fetch, "Other")
    conn = await connect(ws_connect)
    bystander = await connect(ws_connect)
    reply = await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": base}, "sub")
    assert reply == {"type": "knowledge:subscribed", "id": "sub",
                     "data": {"knowledgeBaseId": base, "sources": []}}
    await ask(bystander, "knowledge:subscribe", {"knowledgeBaseId": other}, "sub")

    source = await add_text(fetch, base, "Manual", large_document())
    payloads = await updates_until_finished(conn, source["id"])
    await knowledge.wait()
    stored = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()

    keys = {"knowledgeBaseId", "sourceId", "status", "phase", "done", "total", "chunkCount",
            "error"}
    assert all(set(p) == keys and p["knowledgeBaseId"] == base for p in payloads)
    phases = [p["phase"] for p in payloads]
    assert phases[0] == "chunking" and phases[-1] == "done"
    assert phases == sorted(phases, key=["chunking", "embedding", "done"].index)
    assert all(p["status"] == "indexing" for p in payloads[:-1])
    last = payloads[-1]
    assert stored["status"] == last["status"] == "ready" and last["error"] is None
    assert stored["chunkCount"] == last["chunkCount"] == last["done"] == last["total"] > 100
    for earlier, later in zip(payloads, payloads[1:]):
        if earlier["phase"] == later["phase"]:
            assert earlier["done"] <= later["done"]
    # Nothing went to the socket following another base.
    assert (await ask(bystander, "ping", {}, "p"))["type"] == "pong"


@pytest.mark.gen_test(timeout=120)
async def test_subscribing_mid_ingest_shows_the_sources_in_flight(ws_connect, fetch, app):
    knowledge = app.settings["services"]["knowledge"]
    base = await add_base(fetch)
    conn = await connect(ws_connect)
    # While the indexer is busy, a new source waits its turn, reported as chunking 0 of 0.
    async with knowledge._turn:
        source = await add_text(fetch, base, "Queued", "Waiting for its turn.")
        while not knowledge.progress(base):
            await asyncio.sleep(0.01)
        reply = await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": base}, 1)
        [waiting] = reply["data"]["sources"]
        assert waiting["sourceId"] == source["id"] and waiting["phase"] == "chunking"
        assert waiting["status"] == "indexing"
    payloads = await updates_until_finished(conn, source["id"])
    assert payloads[-1]["phase"] == "done" and payloads[-1]["chunkCount"] == 1
    await knowledge.wait()
    assert knowledge.progress(base) == []


@pytest.mark.gen_test(timeout=60)
async def test_unsubscribe_and_bad_subscriptions(ws_connect, fetch, app):
    knowledge = app.settings["services"]["knowledge"]
    base = await add_base(fetch)
    conn = await connect(ws_connect)
    await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": base}, 1)
    reply = await ask(conn, "knowledge:unsubscribe", {"knowledgeBaseId": base}, 2)
    assert reply["type"] == "knowledge:unsubscribed" and reply["data"] == {
        "knowledgeBaseId": base}
    await add_text(fetch, base, "Quiet", "Nobody is told about this one.")
    await knowledge.wait()
    assert (await ask(conn, "ping", {}, 3))["type"] == "pong"  # no knowledge:update before it

    reply = await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": 999}, 4)
    assert reply["type"] == "error" and reply["data"] == {
        "code": "not_found", "message": "No knowledge base with id 999.",
        "requestType": "knowledge:subscribe"}
    for data in ({}, {"knowledgeBaseId": "1"}, {"knowledgeBaseId": 0},
                 {"knowledgeBaseId": base, "extra": True}):
        reply = await ask(conn, "knowledge:subscribe", data, 5)
        assert reply["type"] == "error" and reply["data"]["code"] == "invalid_fields", data
    # The socket is still open and subscribes fine.
    assert (await ask(conn, "knowledge:subscribe", {"knowledgeBaseId": base}, 6))[
        "type"] == "knowledge:subscribed"
