-- Knowledge retrieval with embeddings (optional: written only when an embedding model is
-- configured): one vector per chunk, little-endian float32, with the model that made it and
-- its length. A chunk holds one vector at a time; changing the model re-embeds the chunks
-- and replaces their vectors. Vectors go with their chunk (the foreign key cascades).

CREATE TABLE knowledge_embeddings (
    chunk_id INTEGER PRIMARY KEY REFERENCES knowledge_chunks(id) ON DELETE CASCADE,
    model VARCHAR(200) NOT NULL,
    dims INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_knowledge_embeddings_model ON knowledge_embeddings (model, chunk_id);
