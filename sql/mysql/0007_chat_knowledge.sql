-- Chat with knowledge bases: a conversation names the bases its questions are answered from
-- (knowledge_base_ids, a JSON list of ids; NULL: none), and an answer keeps the sources it
-- cites (citations, a JSON list of {n, chunkId, sourceId, sourceTitle, quote, ...}; NULL for
-- answers written without knowledge bases).

ALTER TABLE chat_conversations ADD COLUMN knowledge_base_ids TEXT NULL;

ALTER TABLE chat_messages ADD COLUMN citations TEXT NULL;
