-- The web service: a fetch result keeps what the page was (final URL after redirects, the
-- renderer that read it, its links and metadata as JSON, the outcome of each scripted step,
-- the screenshot and PDF files it made in the data directory) and why it failed (code: one
-- of the web service's error codes). cache_key (a hash of the URL and the options) finds a
-- result to answer from again; crawl_id and depth tie a page to the crawl that read it.
-- A crawl is a job of its own (web_crawls). A knowledge source fetched from a URL names its
-- renderer (render: static, browser or auto). A subtask of kind "tool" names the tool it
-- runs and its arguments (args, JSON).

ALTER TABLE web_fetch_results ADD COLUMN final_url VARCHAR(2000);
ALTER TABLE web_fetch_results ADD COLUMN renderer VARCHAR(16);
ALTER TABLE web_fetch_results ADD COLUMN code VARCHAR(32);
ALTER TABLE web_fetch_results ADD COLUMN links TEXT;
ALTER TABLE web_fetch_results ADD COLUMN metadata TEXT;
ALTER TABLE web_fetch_results ADD COLUMN steps TEXT;
ALTER TABLE web_fetch_results ADD COLUMN options TEXT;
ALTER TABLE web_fetch_results ADD COLUMN screenshot_file VARCHAR(200);
ALTER TABLE web_fetch_results ADD COLUMN pdf_file VARCHAR(200);
ALTER TABLE web_fetch_results ADD COLUMN cache_key CHAR(64);
ALTER TABLE web_fetch_results ADD COLUMN crawl_id INTEGER;
ALTER TABLE web_fetch_results ADD COLUMN depth INTEGER;
ALTER TABLE web_fetch_results ADD COLUMN duration_ms INTEGER;
CREATE INDEX ix_web_fetch_results_cache ON web_fetch_results (cache_key, id);
CREATE INDEX ix_web_fetch_results_crawl ON web_fetch_results (crawl_id, id);

CREATE TABLE web_crawls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url VARCHAR(2000) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    options TEXT NOT NULL DEFAULT '{}',
    pages_done INTEGER NOT NULL DEFAULT 0,
    pages_failed INTEGER NOT NULL DEFAULT 0,
    pages_queued INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    completed_at DATETIME
);

ALTER TABLE knowledge_sources ADD COLUMN render VARCHAR(16);

ALTER TABLE subtasks ADD COLUMN tool VARCHAR(64);
ALTER TABLE subtasks ADD COLUMN args TEXT;
