-- Knowledge retrieval: sources are cut into chunks (each with its position, heading path and
-- offsets in the source's content), indexed for full-text search by an InnoDB FULLTEXT
-- index, which InnoDB keeps in step itself. The chunks go with their source and base.

ALTER TABLE knowledge_sources ADD COLUMN format VARCHAR(16) NULL;
ALTER TABLE knowledge_sources ADD COLUMN chunk_count INT NOT NULL DEFAULT 0;
ALTER TABLE knowledge_sources ADD COLUMN indexed_hash VARCHAR(64) NULL;

CREATE TABLE knowledge_chunks (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    knowledge_base_id BIGINT NOT NULL,
    source_id BIGINT NOT NULL,
    position INT NOT NULL,
    heading_path TEXT NOT NULL,
    text MEDIUMTEXT NOT NULL,
    start_offset INT NOT NULL,
    end_offset INT NOT NULL,
    tokens INT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY ix_knowledge_chunks_source (source_id, position),
    KEY ix_knowledge_chunks_base (knowledge_base_id),
    FOREIGN KEY (knowledge_base_id) REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    FOREIGN KEY (source_id) REFERENCES knowledge_sources(id) ON DELETE CASCADE,
    FULLTEXT KEY ft_knowledge_chunks (heading_path, text)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
