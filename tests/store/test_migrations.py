"""Migrations: applied in order, recorded, idempotent; SQLite and MySQL schemas agree."""

import pytest

from orchestra import db as dblib
from tests.conftest import MYSQL_URL

TABLES = {
    "chat_conversations", "chat_messages", "tasks", "subtasks", "templates", "workflows",
    "workflow_steps", "instructions", "knowledge_bases", "knowledge_sources",
    "external_api_accounts", "model_benchmarks", "model_versions", "training_datasets",
    "training_jobs", "web_fetch_results", "schema_migrations",
}


def sqlite_schema(conn):
    """Tables and their columns; FTS5's index (a virtual table and its shadow tables) is
    SQLite's own, where MySQL has a FULLTEXT index on the table itself."""
    tables = [r.name for r in conn.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%%'"
        " AND name NOT LIKE 'knowledge_chunks_fts%%'")]
    return {t: {r.name for r in conn.query("PRAGMA table_info(%s)" % t)} for t in tables}


def mysql_schema(conn):
    rows = conn.query("SELECT table_name AS t, column_name AS c FROM information_schema.columns"
                      " WHERE table_schema = DATABASE()")
    schema = {}
    for r in rows:
        schema.setdefault(r.t, set()).add(r.c)
    return schema


def test_migrations_apply_once_in_order_and_are_recorded(tmp_path):
    conn = dblib.Connection("sqlite:///" + str(tmp_path / "m.db"))
    versions = [v for v, _, _ in dblib.migration_files("sqlite")]
    assert versions == sorted(versions) and versions[0] == "0001"
    assert dblib.migrate(conn) == versions
    assert dblib.migrate(conn) == []
    recorded = [r.version for r in conn.query(
        "SELECT version FROM schema_migrations ORDER BY version")]
    assert recorded == versions
    assert TABLES <= set(sqlite_schema(conn))


def test_both_dialects_have_the_same_migration_files():
    names = lambda d: [(v, n) for v, n, _ in dblib.migration_files(d)]  # noqa: E731
    assert names("sqlite") == names("mysql")


@pytest.mark.mysql
def test_sqlite_and_mysql_schemas_have_the_same_tables_and_columns(tmp_path, mysql_database):
    lite = dblib.Connection("sqlite:///" + str(tmp_path / "p.db"))
    dblib.migrate(lite)
    assert sqlite_schema(lite) == mysql_schema(mysql_database)
    assert dblib.migrate(mysql_database) == []


def test_a_failing_migration_changes_nothing(tmp_path):
    sql = tmp_path / "sql" / "sqlite"
    sql.mkdir(parents=True)
    (sql / "0001_ok.sql").write_text("CREATE TABLE a (id INTEGER);\n")
    (sql / "0002_bad.sql").write_text(
        "CREATE TABLE b (id INTEGER);\nCREATE TABLE a (id INTEGER);\n")
    conn = dblib.Connection("sqlite:///" + str(tmp_path / "f.db"))
    with pytest.raises(Exception):
        dblib.migrate(conn, sql_dir=str(tmp_path / "sql"))
    tables = {r.name for r in conn.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables
    assert [r.version for r in conn.query("SELECT version FROM schema_migrations")] == ["0001"]


OLD_KINDS = ["chat", "reasoning", "long-context", None, "summarization", "code", "poem"]
NEW_KINDS = ["answer", "answer", "answer", "answer", "summarize", "code", "answer"]


def add_old_plan(conn):
    now = dblib.utcnow()
    task = conn.execute("INSERT INTO tasks (title, description, created_at, updated_at)"
                        " VALUES (%s, '', %s, %s)", "Old", now, now)
    for position, kind in enumerate(OLD_KINDS):
        conn.execute("INSERT INTO subtasks (task_id, position, title, description, kind,"
                     " depends_on, created_at, updated_at)"
                     " VALUES (%s, %s, %s, '', %s, '[]', %s, %s)",
                     task, position, "S%d" % position, kind, now, now)
    return task


def kinds(conn, task):
    return [r.kind for r in conn.query(
        "SELECT kind FROM subtasks WHERE task_id = %s ORDER BY position", task)]


def test_migration_0003_renames_old_subtask_kinds(tmp_path):
    old = tmp_path / "sql" / "sqlite"
    old.mkdir(parents=True)
    for version, name, path in dblib.migration_files("sqlite")[:2]:
        (old / ("%s_%s.sql" % (version, name))).write_text(open(path).read())
    conn = dblib.Connection("sqlite:///" + str(tmp_path / "k.db"))
    assert dblib.migrate(conn, sql_dir=str(tmp_path / "sql")) == ["0001", "0002"]
    task = add_old_plan(conn)
    assert dblib.migrate(conn)[0] == "0003"
    assert kinds(conn, task) == NEW_KINDS
    assert conn.get("SELECT plan_source FROM tasks WHERE id = %s", task).plan_source is None


@pytest.mark.mysql
def test_migration_0003_renames_old_subtask_kinds_on_mysql(mysql_database):
    from tests.conftest import empty_mysql
    empty_mysql(mysql_database)
    task = add_old_plan(mysql_database)
    _, _, path = next(f for f in dblib.migration_files("mysql") if f[0] == "0003")
    with open(path) as f:
        updates = [s for s in dblib.split_statements(f.read()) if s.startswith("UPDATE")]
    assert len(updates) == 3
    for statement in updates:
        mysql_database.execute(statement)
    assert kinds(mysql_database, task) == NEW_KINDS
    empty_mysql(mysql_database)
