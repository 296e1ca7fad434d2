-- Where a task's plan came from (model, fallback or manual), and subtask kinds renamed to
-- what the work is (answer, summarize, translate, extract, code, creative).

ALTER TABLE tasks ADD COLUMN plan_source VARCHAR(16);

UPDATE subtasks SET kind = 'summarize' WHERE kind = 'summarization';
UPDATE subtasks SET kind = 'answer' WHERE kind IS NULL
    OR kind NOT IN ('summarize', 'translate', 'extract', 'code', 'creative');

-- Workflow runs are written by hand; other plans from before this are of unknown origin.
UPDATE tasks SET plan_source = 'manual' WHERE workflow_id IS NOT NULL;
