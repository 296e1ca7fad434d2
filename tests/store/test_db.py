"""The torndb-style data layer on SQLite and, when configured, MySQL/MariaDB."""

import asyncio
import concurrent.futures
import sqlite3
import threading

import pytest

from orchestra import db as dblib
from tests.conftest import MYSQL_URL

DDL = {
    "sqlite": "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT,"
              " body VARCHAR(200) NOT NULL UNIQUE, n INTEGER)",
    "mysql": "CREATE TABLE notes (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
             " body VARCHAR(200) NOT NULL UNIQUE, n INT) ENGINE=InnoDB",
}


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "t.db")
    request.getfixturevalue("mysql_database")
    return MYSQL_URL


@pytest.fixture
def conn(url):
    c = dblib.Connection(url)
    c.execute("DROP TABLE IF EXISTS notes")
    c.execute(DDL[c.dialect])
    yield c
    c.execute("DROP TABLE IF EXISTS notes")
    c.close()


def test_execute_returns_lastrowid_and_rows_allow_attribute_access(conn):
    first = conn.execute("INSERT INTO notes (body, n) VALUES (%s, %s)", "a", 1)
    second = conn.execute("INSERT INTO notes (body, n) VALUES (%s, %s)", "b", 2)
    assert second == first + 1
    row = conn.get("SELECT * FROM notes WHERE id = %s", second)
    assert row.body == "b" and row["n"] == 2
    assert conn.get("SELECT * FROM notes WHERE id = %s", 999) is None
    assert [r.body for r in conn.query("SELECT body FROM notes ORDER BY id")] == ["a", "b"]


def test_get_refuses_more_than_one_row(conn):
    conn.executemany("INSERT INTO notes (body) VALUES (%s)", [("a",), ("b",)])
    with pytest.raises(dblib.DatabaseError):
        conn.get("SELECT * FROM notes")


def test_rowcount_and_executemany(conn):
    assert conn.executemany("INSERT INTO notes (body, n) VALUES (%s, %s)",
                            [("a", 1), ("b", 1), ("c", 2)]) == 3
    assert conn.execute_rowcount("UPDATE notes SET n = 5 WHERE n = %s", 1) == 2


def test_parameters_are_never_interpolated(conn):
    evil = "x'); DROP TABLE notes; --"
    id = conn.execute("INSERT INTO notes (body) VALUES (%s)", evil)
    assert conn.get("SELECT body FROM notes WHERE id = %s", id).body == evil
    assert conn.get("SELECT body FROM notes WHERE body LIKE %s", "x'%%").body == evil


def test_transaction_commits_or_rolls_back_everything(conn):
    with conn.transaction():
        conn.execute("INSERT INTO notes (body) VALUES (%s)", "kept")
    with pytest.raises(dblib.IntegrityError):
        with conn.transaction():
            conn.execute("INSERT INTO notes (body) VALUES (%s)", "lost")
            conn.execute("INSERT INTO notes (body) VALUES (%s)", "kept")  # unique violation
    assert [r.body for r in conn.query("SELECT body FROM notes")] == ["kept"]


def test_concurrent_inserts_each_get_their_own_id(url, conn):
    """lastrowid is per connection: ids never cross between writers (unlike 'select newest')."""
    database = dblib.Database(url, workers=4)

    def insert(i):
        return i, database._call(lambda c: c.execute(
            "INSERT INTO notes (body, n) VALUES (%s, %s)", "row-%d" % i, i))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(insert, range(60)))
    for i, id in results:
        assert conn.get("SELECT n FROM notes WHERE id = %s", id).n == i
    database.close()


@pytest.mark.gen_test
async def test_database_runs_calls_on_worker_threads(url):
    database = dblib.Database(url)
    database.connect()
    names = await database.run(lambda c: threading.current_thread().name)
    assert names.startswith("orchestra-db") and names != threading.current_thread().name
    assert (await database.query("SELECT 1 AS one"))[0].one == 1
    database.close()


async def inline_ready(database):
    """Reads until one runs on this thread: the inline connection opens on a reader thread
    at the first read, which runs there meanwhile."""
    for _ in range(200):
        if await database.read(lambda c: threading.current_thread().name) \
                == threading.current_thread().name:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("reads never ran on the IOLoop's connection")


@pytest.mark.gen_test
async def test_sqlite_reads_run_on_read_only_connections_beside_the_writer(tmp_path):
    database = dblib.Database("sqlite:///" + str(tmp_path / "t.db"), readers=3)
    database.connect()
    await database.execute(DDL["sqlite"])
    assert database.readers == 3

    def thread(c):
        return threading.current_thread().name

    # The first read opens the IOLoop's connection on a reader thread and runs there.
    assert (await database.read(thread)).startswith("orchestra-db-read")
    await inline_ready(database)
    assert not (await database.run(thread)).startswith("orchestra-db-read")
    # From another thread (with its own loop), reads go to the reader threads.
    async def read_elsewhere(fn):
        return await database.read(fn)

    other = await asyncio.get_running_loop().run_in_executor(
        None, lambda: asyncio.run(read_elsewhere(thread)))
    assert other.startswith("orchestra-db-read")
    # A write sent to a reader is refused there, not run beside the writer's: inline and on
    # a reader thread.
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await database.read(lambda c: c.execute("INSERT INTO notes (body) VALUES (%s)", "x"))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(
            read_elsewhere(lambda c: c.execute("INSERT INTO notes (body) VALUES (%s)", "x"))))
    assert await database.query("SELECT * FROM notes") == []
    database.close()


# About a second of SQLite's work (on a 2-core machine), in one statement: far past the
# inline budget.
SLOW_COUNT = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)"
              " SELECT COUNT(*) AS n FROM n")


@pytest.mark.gen_test(timeout=60)
async def test_a_slow_sqlite_read_is_moved_off_the_ioloop_and_holds_up_nothing(tmp_path):
    """A read past the inline budget is interrupted on the IOLoop within a few milliseconds
    and run again on a reader thread; meanwhile the IOLoop, writes and other reads go on."""
    database = dblib.Database("sqlite:///" + str(tmp_path / "t.db"))
    database.connect()
    await database.execute(DDL["sqlite"])
    await inline_ready(database)
    where = []

    def slow(c):
        where.append(threading.current_thread().name)
        return c.get(SLOW_COUNT, 8_000_000).n

    loop = asyncio.get_running_loop()
    started = loop.time()
    reading = database.read(slow)
    held = loop.time() - started
    assert held < 0.1, "the IOLoop was held %.3f s" % held
    assert where == [threading.current_thread().name] and not reading.done()
    await database.execute("INSERT INTO notes (body) VALUES (%s)", "written")
    assert [r.body for r in await database.query("SELECT body FROM notes")] == ["written"]
    await asyncio.sleep(0.01)  # the IOLoop's timers run meanwhile
    assert not reading.done(), "the slow read ran before the write and the read after it"
    assert await reading == 8_000_000
    assert where[1].startswith("orchestra-db-read")
    database.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_read_that_finds_sqlite_busy_on_the_ioloop_waits_on_a_reader_thread(tmp_path):
    """SQLite answers "database is locked" at once on the IOLoop's connection (it has no busy
    timeout there): the read runs again on a reader thread, which waits for the lock."""
    database = dblib.Database("sqlite:///" + str(tmp_path / "t.db"))
    database.connect()
    await database.execute(DDL["sqlite"])
    await inline_ready(database)
    assert database._inline.sqlite().execute("PRAGMA busy_timeout").fetchone() == (0,)
    where = []

    def read(c):
        where.append(threading.current_thread().name)
        if len(where) == 1:
            raise sqlite3.OperationalError("database is locked")
        return c.query("SELECT * FROM notes")

    assert await database.read(read) == []
    assert where[0] == threading.current_thread().name
    assert where[1].startswith("orchestra-db-read")
    # Any other error is the read's own: it is not run twice.
    where.clear()

    def broken(c):
        where.append(threading.current_thread().name)
        return c.query("SELECT * FROM no_such_table")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await database.read(broken)
    assert where == [threading.current_thread().name]
    database.close()


def test_an_in_memory_sqlite_database_has_no_readers():
    database = dblib.Database("sqlite:///:memory:")
    assert database.readers == 0
    database.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_read_sees_every_write_awaited_before_it(url, conn):
    """Read-your-writes: each writer reads its own row back at once, while the others write,
    on the readers (SQLite) or the workers (MySQL)."""
    database = dblib.Database(url, workers=4)

    async def write_then_read(i):
        id = await database.execute("INSERT INTO notes (body, n) VALUES (%s, %s)", "r%d" % i, i)
        row = await database.get("SELECT n FROM notes WHERE id = %s", id)
        assert row is not None and row.n == i
        await database.execute_rowcount("UPDATE notes SET n = %s WHERE id = %s", -i, id)
        assert (await database.get("SELECT n FROM notes WHERE id = %s", id)).n == -i
        count = await database.get("SELECT COUNT(*) AS n FROM notes WHERE body = %s", "r%d" % i)
        return count.n

    assert await asyncio.gather(*(write_then_read(i) for i in range(1, 41))) == [1] * 40
    database.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_read_never_sees_a_transaction_before_it_commits(url, conn):
    database = dblib.Database(url, workers=4)
    inside, release = threading.Event(), threading.Event()

    def write(c):
        with c.transaction():
            c.execute("INSERT INTO notes (body) VALUES (%s)", "pending")
            inside.set()
            release.wait(30)

    writing = database.run(write)
    await asyncio.get_running_loop().run_in_executor(None, inside.wait, 30)
    assert await database.query("SELECT * FROM notes") == []
    release.set()
    await writing
    assert [r.body for r in await database.query("SELECT body FROM notes")] == ["pending"]
    database.close()


@pytest.mark.mysql
def test_lost_mysql_connection_is_reopened_on_the_next_call(mysql_database):
    conn = dblib.Connection(MYSQL_URL)
    victim = conn.get("SELECT CONNECTION_ID() AS id").id
    mysql_database.execute("KILL %s", victim)
    with pytest.raises(dblib.DatabaseError):
        conn.query("SELECT 1")  # the statement that met the dead connection fails loudly
    assert conn.get("SELECT 1 AS one").one == 1  # and the next one re-opens it
    assert conn.get("SELECT CONNECTION_ID() AS id").id != victim
    conn.close()


def test_bad_urls_fail_with_one_clear_line():
    for url, words in [("postgres://x/y", "unsupported"), ("mysql://host-only", "database"),
                       ("mysql://root@127.0.0.1:1/x", "cannot connect to MySQL at 127.0.0.1:1"),
                       ("sqlite:///", "names no file")]:
        with pytest.raises(dblib.DatabaseError) as e:
            dblib.Connection(url)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_passwords_are_not_echoed_in_errors():
    with pytest.raises(dblib.DatabaseError) as e:
        dblib.parse_url("mysql://root:hunter2@/")
    assert "hunter2" not in str(e.value)
