-- Knowledge retrieval: sources are cut into chunks (each with its position, heading path and
-- offsets in the source's content), indexed for full-text search with FTS5. The FTS table
-- holds no copy of the text (external content): triggers keep it in step with the chunks,
-- and the chunks go with their source and base (foreign keys cascade; the delete trigger
-- fires for cascaded deletes too).

ALTER TABLE knowledge_sources ADD COLUMN format VARCHAR(16);
ALTER TABLE knowledge_sources ADD COLUMN chunk_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE knowledge_sources ADD COLUMN indexed_hash VARCHAR(64);

CREATE TABLE knowledge_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    knowledge_base_id INTEGER NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_knowledge_chunks_source ON knowledge_chunks (source_id, position);
CREATE INDEX ix_knowledge_chunks_base ON knowledge_chunks (knowledge_base_id);

CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5(
    heading_path, text,
    content='knowledge_chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER knowledge_chunks_fts_insert AFTER INSERT ON knowledge_chunks BEGIN
    INSERT INTO knowledge_chunks_fts (rowid, heading_path, text)
        VALUES (new.id, new.heading_path, new.text);
END;

CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
    INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts, rowid, heading_path, text)
        VALUES ('delete', old.id, old.heading_path, old.text);
END;

CREATE TRIGGER knowledge_chunks_fts_update AFTER UPDATE OF heading_path, text
ON knowledge_chunks BEGIN
    INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts, rowid, heading_path, text)
        VALUES ('delete', old.id, old.heading_path, old.text);
    INSERT INTO knowledge_chunks_fts (rowid, heading_path, text)
        VALUES (new.id, new.heading_path, new.text);
END;
