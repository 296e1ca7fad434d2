-- Knowledge retrieval with embeddings (optional: written only when an embedding model is
-- configured): one vector per chunk, little-endian float32, with the model that made it and
-- its length. A chunk holds one vector at a time; changing the model re-embeds the chunks
-- and replaces their vectors. Vectors go with their chunk (the foreign key cascades).
-- MEDIUMBLOB, since a BLOB's 64 KiB (16,384 floats) should not be what limits a model.

CREATE TABLE knowledge_embeddings (
    chunk_id BIGINT NOT NULL PRIMARY KEY,
    model VARCHAR(200) NOT NULL,
    dims INT NOT NULL,
    vector MEDIUMBLOB NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_knowledge_embeddings_model (model, chunk_id),
    FOREIGN KEY (chunk_id) REFERENCES knowledge_chunks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
