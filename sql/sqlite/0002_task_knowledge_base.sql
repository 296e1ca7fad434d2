-- A task may draw on a knowledge base: its text goes into prompts and grounds the checks.

ALTER TABLE tasks ADD COLUMN knowledge_base_id INTEGER
    REFERENCES knowledge_bases(id) ON DELETE SET NULL;
