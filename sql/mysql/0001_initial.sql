-- Orchestra's schema for MySQL/MariaDB (InnoDB, utf8mb4). Timestamps are UTC DATETIME(6).

CREATE TABLE chat_conversations (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    model VARCHAR(200),
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE chat_messages (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    conversation_id BIGINT NOT NULL,
    role VARCHAR(16) NOT NULL,
    content MEDIUMTEXT NOT NULL,
    model VARCHAR(200),
    status VARCHAR(16) NOT NULL DEFAULT 'complete',
    prompt_tokens INT,
    completion_tokens INT,
    finish_reason VARCHAR(32),
    error TEXT,
    created_at DATETIME(6) NOT NULL,
    FOREIGN KEY (conversation_id) REFERENCES chat_conversations(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_chat_messages_conversation ON chat_messages (conversation_id, id);

CREATE TABLE workflows (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE templates (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    category VARCHAR(100) NOT NULL DEFAULT '',
    body MEDIUMTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE workflow_steps (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    workflow_id BIGINT NOT NULL,
    position INT NOT NULL,
    name VARCHAR(200) NOT NULL,
    template_id BIGINT,
    prompt MEDIUMTEXT,
    variables TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    FOREIGN KEY (workflow_id) REFERENCES workflows(id) ON DELETE CASCADE,
    FOREIGN KEY (template_id) REFERENCES templates(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_workflow_steps_workflow ON workflow_steps (workflow_id, position);

CREATE TABLE tasks (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    priority VARCHAR(16) NOT NULL DEFAULT 'medium',
    model VARCHAR(200),
    workflow_id BIGINT,
    check_answers TINYINT(1) NOT NULL DEFAULT 1,
    result MEDIUMTEXT,
    error TEXT,
    note TEXT,
    prompt_tokens INT NOT NULL DEFAULT 0,
    completion_tokens INT NOT NULL DEFAULT 0,
    duration_ms INT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    started_at DATETIME(6),
    completed_at DATETIME(6),
    FOREIGN KEY (workflow_id) REFERENCES workflows(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_tasks_status ON tasks (status);

CREATE TABLE subtasks (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    task_id BIGINT NOT NULL,
    position INT NOT NULL,
    title VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    kind VARCHAR(32),
    depends_on TEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    priority VARCHAR(16) NOT NULL DEFAULT 'medium',
    model VARCHAR(200),
    result MEDIUMTEXT,
    error TEXT,
    verdict TEXT,
    score DOUBLE,
    attempts INT NOT NULL DEFAULT 0,
    prompt_tokens INT NOT NULL DEFAULT 0,
    completion_tokens INT NOT NULL DEFAULT 0,
    duration_ms INT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    started_at DATETIME(6),
    completed_at DATETIME(6),
    FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_subtasks_task ON subtasks (task_id, position);

CREATE TABLE instructions (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    content MEDIUMTEXT NOT NULL,
    active TINYINT(1) NOT NULL DEFAULT 1,
    position INT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE knowledge_bases (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE knowledge_sources (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    knowledge_base_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    title VARCHAR(200) NOT NULL,
    url VARCHAR(2000),
    content MEDIUMTEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'ready',
    error TEXT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    FOREIGN KEY (knowledge_base_id) REFERENCES knowledge_bases(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_knowledge_sources_base ON knowledge_sources (knowledge_base_id, id);

CREATE TABLE external_api_accounts (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    service VARCHAR(50) NOT NULL,
    name VARCHAR(200) NOT NULL,
    username VARCHAR(200),
    credentials TEXT NOT NULL,
    secret_hint VARCHAR(16) NOT NULL DEFAULT '',
    active TINYINT(1) NOT NULL DEFAULT 1,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE model_benchmarks (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    model VARCHAR(200) NOT NULL,
    prompt MEDIUMTEXT NOT NULL,
    ttft_ms DOUBLE,
    tokens_per_second DOUBLE,
    total_ms DOUBLE NOT NULL,
    tokens_generated INT NOT NULL DEFAULT 0,
    prompt_tokens INT,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX ix_model_benchmarks_model ON model_benchmarks (model, id);

CREATE TABLE training_datasets (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    format VARCHAR(32) NOT NULL DEFAULT 'jsonl',
    content MEDIUMTEXT NOT NULL,
    examples INT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE training_jobs (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    dataset_id BIGINT,
    base_model VARCHAR(200) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    params TEXT NOT NULL,
    progress DOUBLE NOT NULL DEFAULT 0,
    error TEXT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    completed_at DATETIME(6),
    FOREIGN KEY (dataset_id) REFERENCES training_datasets(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE model_versions (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    model VARCHAR(200) NOT NULL,
    version VARCHAR(64) NOT NULL,
    base_model VARCHAR(200),
    training_job_id BIGINT,
    path VARCHAR(1000),
    notes TEXT,
    metrics TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    FOREIGN KEY (training_job_id) REFERENCES training_jobs(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE web_fetch_results (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    url VARCHAR(2000) NOT NULL,
    status_code INT,
    title VARCHAR(500),
    content MEDIUMTEXT,
    error TEXT,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
