"""Knowledge chunks: the migration that adds them, replacing a source's chunks, full-text
search over bases, and chunks (and their index entries) going with their source and base."""

import os
import shutil

import pytest

from orchestra import db as dblib
from orchestra.resources import resource_dir
from orchestra.services.knowledge.chunking import Chunk
from orchestra.store.knowledge import KnowledgeSourceStore, content_hash


def test_trigger_bodies_stay_whole_when_a_migration_is_split():
    statements = dblib.split_statements(
        "-- a comment; not a statement\n"
        "CREATE TABLE a (id INTEGER);\n"
        "CREATE TRIGGER a_ins AFTER INSERT ON a BEGIN\n"
        "    INSERT INTO b VALUES (new.id);\n"
        "    DELETE FROM c;\n"
        "END;\n"
        "create trigger a_del after delete on a begin delete from b; end;\n"
        "CREATE INDEX ix ON a (id)\n")
    assert statements == [
        "CREATE TABLE a (id INTEGER)",
        "CREATE TRIGGER a_ins AFTER INSERT ON a BEGIN\n    INSERT INTO b VALUES (new.id);\n"
        "    DELETE FROM c;\nEND",
        "create trigger a_del after delete on a begin delete from b; end",
        "CREATE INDEX ix ON a (id)",
    ]


def test_an_upgraded_database_keeps_its_sources_and_finds_them_unindexed(tmp_path):
    """Sources from before chunks existed are kept, with no chunks, and are the stale ones
    the knowledge service indexes at start."""
    old = tmp_path / "sql" / "sqlite"
    old.mkdir(parents=True)
    for version, name, path in dblib.migration_files("sqlite"):
        if version < "0005":
            shutil.copy(path, old / os.path.basename(path))
    conn = dblib.Connection("sqlite:///" + str(tmp_path / "u.db"))
    dblib.migrate(conn, sql_dir=str(tmp_path / "sql"))
    now = dblib.utcnow()
    base = conn.execute("INSERT INTO knowledge_bases (name, description, created_at, updated_at)"
                        " VALUES ('kb', '', %s, %s)", now, now)
    conn.execute("INSERT INTO knowledge_sources (knowledge_base_id, kind, title, content,"
                 " status, created_at, updated_at) VALUES (%s, 'text', 'Old', 'Old words.',"
                 " 'ready', %s, %s)", base, now, now)
    assert dblib.migrate(conn, sql_dir=resource_dir("sql"))[-1] >= "0005"
    source = conn.get("SELECT * FROM knowledge_sources")
    assert (source.title, source.status, source.chunk_count, source.indexed_hash,
            source.format) == ("Old", "ready", 0, None, None)
    assert conn.query("SELECT * FROM knowledge_chunks") == []
    assert KnowledgeSourceStore(None)._stale_ids(conn, dblib.utcnow(), 10) == [source.id]


async def make_source(stores, base_id, title="Guide", content="", status="ready"):
    return await stores.knowledge_sources.create({
        "knowledge_base_id": base_id, "kind": "text", "title": title, "content": content,
        "status": status})


def chunks_of(content, *pieces, heading=()):
    """Chunks cut at the given pieces of `content`, as the chunker would report them."""
    found = []
    for piece in pieces:
        start = content.index(piece)
        found.append(Chunk(piece, list(heading), start, start + len(piece), len(piece.split())))
    return found


def index_entries(app, word):
    """Chunk ids the database's full-text index itself holds for `word` (not via the store)."""
    db = app.settings["db"]
    if db.dialect == "sqlite":
        return db.run_sync(lambda c: [r.rowid for r in c.query(
            "SELECT rowid FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH %s",
            word)])
    return db.run_sync(lambda c: [r.id for r in c.query(
        "SELECT id FROM knowledge_chunks WHERE MATCH (heading_path, text)"
        " AGAINST (%s IN BOOLEAN MODE)", word)])


def check_sqlite_index(app):
    """FTS5's own check that its index matches the chunks table, row for row."""
    db = app.settings["db"]
    if db.dialect == "sqlite":
        db.run_sync(lambda c: c.execute("INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts)"
                                        " VALUES ('integrity-check')"))


@pytest.mark.gen_test
async def test_chunks_replace_the_old_ones_in_order_and_are_searchable(app):
    stores = app.settings["stores"]
    chunks = stores.knowledge_chunks
    base = await stores.knowledge_bases.create({"name": "kb", "description": ""})
    content = "Brewing oolong needs hot water.\n\nGreen tea wants cooler water, about 80 C."
    source = await make_source(stores, base.id, content=content)
    first = chunks_of(content, "Brewing oolong needs hot water.",
                      "Green tea wants cooler water, about 80 C.", heading=["Tea", "Caf\u00e9"])
    ids = await chunks.replace(source.id, first, content_hash(content))
    assert len(ids) == 2 and ids == sorted(ids)

    stored = await chunks.for_source(source.id)
    assert [(c.id, c.position, c.heading_path) for c in stored] == [
        (ids[0], 0, ["Tea", "Caf\u00e9"]), (ids[1], 1, ["Tea", "Caf\u00e9"])]
    assert [content[c.start_offset:c.end_offset] for c in stored] == [c.text for c in first]
    source = await stores.knowledge_sources.get(source.id)
    assert source.chunk_count == 2 and source.indexed_hash == content_hash(content)

    [hit] = await chunks.search([base.id], ["oolong"])
    assert hit["chunk_id"] == ids[0] and hit["source_title"] == "Guide"
    assert hit["heading_path"] == ["Tea", "Caf\u00e9"] and hit["score"] > 0
    assert hit["knowledge_base_id"] == base.id and hit["source_id"] == source.id
    assert hit["text"] == "Brewing oolong needs hot water." and hit["position"] == 0
    assert [h["chunk_id"] for h in await chunks.get_many([ids[1], 999_999, ids[0]])] == [
        ids[1], ids[0]]

    changed = "Matcha is whisked, never steeped."
    new_ids = await chunks.replace(source.id, chunks_of(changed, changed), content_hash(changed))
    assert len(new_ids) == 1 and not set(new_ids) & set(ids)
    assert await chunks.search([base.id], ["oolong"]) == []
    assert index_entries(app, "oolong") == []
    assert [h["chunk_id"] for h in await chunks.search([base.id], ["whisked"])] == new_ids
    check_sqlite_index(app)
    assert await chunks.replace(999_999, first, "x") is None


@pytest.mark.gen_test
async def test_chunks_and_their_index_entries_go_with_the_source_and_the_base(app):
    stores = app.settings["stores"]
    chunks = stores.knowledge_chunks
    base = await stores.knowledge_bases.create({"name": "kb", "description": ""})
    for title in ("One", "Two"):
        content = "%s: pelican migration routes." % title
        source = await make_source(stores, base.id, title, content)
        await chunks.replace(source.id, chunks_of(content, content), content_hash(content))
    assert len(await chunks.search([base.id], ["pelican"])) == 2
    assert len(index_entries(app, "pelican")) == 2

    await stores.knowledge_sources.delete(source.id)
    assert [h["source_title"] for h in await chunks.search([base.id], ["pelican"])] == ["One"]
    assert len(index_entries(app, "pelican")) == 1
    await stores.knowledge_bases.delete(base.id)
    assert await chunks.search([base.id], ["pelican"]) == []
    assert index_entries(app, "pelican") == [] and await chunks.count() == 0
    check_sqlite_index(app)


@pytest.mark.gen_test
async def test_search_covers_the_bases_named_and_ranks_rarer_terms_first(app):
    stores = app.settings["stores"]
    chunks = stores.knowledge_chunks
    tea = await stores.knowledge_bases.create({"name": "Tea", "description": ""})
    coffee = await stores.knowledge_bases.create({"name": "Coffee", "description": ""})
    texts = {tea.id: ["Green leaves steeped briefly give a light drink.",
                      "Black leaves are fully oxidised before drying.",
                      "Oolong leaves are partly oxidised, between green and black.",
                      "White leaves are the least processed of all."],
             coffee.id: ["Arabica beans roasted dark make bitter espresso.",
                         "Robusta beans carry more caffeine than arabica."]}
    for base_id, contents in texts.items():
        for n, content in enumerate(contents):
            source = await make_source(stores, base_id, "S%d" % n, content)
            await chunks.replace(source.id, chunks_of(content, content), content_hash(content))

    # "leaves" is in every tea chunk, "oolong" in one: that one ranks first.
    hits = await chunks.search([tea.id], ["leaves", "oolong"])
    assert hits[0]["text"].startswith("Oolong")
    assert all(h["knowledge_base_id"] == tea.id for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    both = await chunks.search([tea.id, coffee.id], ["oolong", "espresso"])
    assert {h["knowledge_base_id"] for h in both} == {tea.id, coffee.id}
    assert await chunks.search([coffee.id], ["oolong"]) == []
    assert len(await chunks.search([tea.id, coffee.id], ["oolong", "espresso"], limit=1)) == 1
    assert await chunks.search([], ["oolong"]) == [] and await chunks.search([tea.id], []) == []
