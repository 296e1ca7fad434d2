-- Orchestra's schema for SQLite. Timestamps are UTC, stored as ISO text (declared DATETIME).

CREATE TABLE chat_conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title VARCHAR(200) NOT NULL,
    model VARCHAR(200),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations(id) ON DELETE CASCADE,
    role VARCHAR(16) NOT NULL,
    content TEXT NOT NULL,
    model VARCHAR(200),
    status VARCHAR(16) NOT NULL DEFAULT 'complete',
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    finish_reason VARCHAR(32),
    error TEXT,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_chat_messages_conversation ON chat_messages (conversation_id, id);

CREATE TABLE workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category VARCHAR(100) NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE workflow_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    template_id INTEGER REFERENCES templates(id) ON DELETE SET NULL,
    prompt TEXT,
    variables TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_workflow_steps_workflow ON workflow_steps (workflow_id, position);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    priority VARCHAR(16) NOT NULL DEFAULT 'medium',
    model VARCHAR(200),
    workflow_id INTEGER REFERENCES workflows(id) ON DELETE SET NULL,
    check_answers BOOLEAN NOT NULL DEFAULT 1,
    result TEXT,
    error TEXT,
    note TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    started_at DATETIME,
    completed_at DATETIME
);
CREATE INDEX ix_tasks_status ON tasks (status);

CREATE TABLE subtasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    title VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind VARCHAR(32),
    depends_on TEXT NOT NULL DEFAULT '[]',
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    priority VARCHAR(16) NOT NULL DEFAULT 'medium',
    model VARCHAR(200),
    result TEXT,
    error TEXT,
    verdict TEXT,
    score REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    started_at DATETIME,
    completed_at DATETIME
);
CREATE INDEX ix_subtasks_task ON subtasks (task_id, position);

CREATE TABLE instructions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(200) NOT NULL,
    content TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE knowledge_bases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE knowledge_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    knowledge_base_id INTEGER NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    kind VARCHAR(16) NOT NULL,
    title VARCHAR(200) NOT NULL,
    url VARCHAR(2000),
    content TEXT NOT NULL DEFAULT '',
    status VARCHAR(16) NOT NULL DEFAULT 'ready',
    error TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX ix_knowledge_sources_base ON knowledge_sources (knowledge_base_id, id);

CREATE TABLE external_api_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service VARCHAR(50) NOT NULL,
    name VARCHAR(200) NOT NULL,
    username VARCHAR(200),
    credentials TEXT NOT NULL,
    secret_hint VARCHAR(16) NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE model_benchmarks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model VARCHAR(200) NOT NULL,
    prompt TEXT NOT NULL,
    ttft_ms REAL,
    tokens_per_second REAL,
    total_ms REAL NOT NULL,
    tokens_generated INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_model_benchmarks_model ON model_benchmarks (model, id);

CREATE TABLE training_datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    format VARCHAR(32) NOT NULL DEFAULT 'jsonl',
    content TEXT NOT NULL,
    examples INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE training_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER REFERENCES training_datasets(id) ON DELETE SET NULL,
    base_model VARCHAR(200) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    params TEXT NOT NULL DEFAULT '{}',
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    completed_at DATETIME
);

CREATE TABLE model_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model VARCHAR(200) NOT NULL,
    version VARCHAR(64) NOT NULL,
    base_model VARCHAR(200),
    training_job_id INTEGER REFERENCES training_jobs(id) ON DELETE SET NULL,
    path VARCHAR(1000),
    notes TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    created_at DATETIME NOT NULL
);

CREATE TABLE web_fetch_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url VARCHAR(2000) NOT NULL,
    status_code INTEGER,
    title VARCHAR(500),
    content TEXT,
    error TEXT,
    created_at DATETIME NOT NULL
);
