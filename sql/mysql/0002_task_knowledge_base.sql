-- A task may draw on a knowledge base: its text goes into prompts and grounds the checks.

ALTER TABLE tasks ADD COLUMN knowledge_base_id BIGINT NULL;
ALTER TABLE tasks ADD CONSTRAINT fk_tasks_knowledge_base FOREIGN KEY (knowledge_base_id)
    REFERENCES knowledge_bases(id) ON DELETE SET NULL;
