"""A torndb-style SQL layer over sqlite3 and pymysql, and the executor that keeps it off the IOLoop.

`Connection` is synchronous and lives in one thread. `Database` is what the rest of the
application uses: it owns a thread pool, gives each worker thread its own Connection and
runs every call there, so a query never holds up the IOLoop. On SQLite, reads (`query`,
`get`, `read`) run on read-only connections, which WAL lets run beside the one writer and
each other: first on the IOLoop's own, within a budget of INLINE_BUDGET seconds (a page of
rows takes tens of microseconds, less than the hop to a thread and back); a read that
outlives the budget is interrupted there and run again on a second pool, of reader threads.

SQL is always written with `%s` placeholders (pymysql's style); for SQLite they are
translated to `?`, and `%%` to `%`.
"""

import concurrent.futures
import contextlib
import datetime
import logging
import os
import re
import sqlite3
import stat
import threading
import time
import urllib.parse

import pymysql
import tornado.concurrent
import tornado.ioloop

logger = logging.getLogger(__name__)

# MySQL client error codes that mean the connection itself is gone.
LOST_CONNECTION_CODES = {2006, 2013, 2014, 2045, 2055}
# MySQL errors for a number beyond its column (1264) or beyond BIGINT in arithmetic (1690).
OUT_OF_RANGE_CODES = {1264, 1690}
UNKNOWN_DATABASE = 1049
DATABASE_ACCESS_DENIED = 1044
# The database file and its -wal/-shm companions hold every conversation: owner only.
SQLITE_FILE_MODE = 0o600
# A connection idle for longer than this is pinged (and re-opened) before use: MySQL drops
# idle connections after wait_timeout, and a request should not fail because of it.
MAX_IDLE_SECONDS = 60.0
# SQLite reader threads, for reads past the inline budget. Two let a long read (a knowledge
# search) not hold up the others; more only contend for the GIL.
READERS = 2
# A read on the IOLoop's connection is interrupted past this many seconds (SQLite checks
# every INLINE_STEPS of its virtual machine's instructions) and goes to a reader thread.
# On a thread, each row's step gives up the GIL and waits to get it back while the IOLoop
# runs; a 20-row page that takes 50 us alone took milliseconds there under load.
INLINE_BUDGET = 0.001
INLINE_STEPS = 1000


class DatabaseError(Exception):
    """The database cannot be reached or used; the message is one clear line for a person."""


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, not null) refused the change."""


class OutOfRange(DatabaseError):
    """A number beyond what its column stores (SQLite cannot even bind an integer past
    2^63-1); the schemas refuse these first, this is the net under them (HTTP 400)."""


class _OverBudget(Exception):
    """An inline read ran past INLINE_BUDGET (or found the database busy): run it on a
    reader thread."""


class Row(dict):
    """A dict that also allows attribute access to its columns."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


def _adapt_datetime(value):
    return value.isoformat(" ")


def _convert_datetime(raw):
    return datetime.datetime.fromisoformat(raw.decode())


sqlite3.register_adapter(datetime.datetime, _adapt_datetime)
sqlite3.register_converter("DATETIME", _convert_datetime)

_PLACEHOLDER = re.compile(r"%(s|%)")


def _sqlite_sql(sql):
    return _PLACEHOLDER.sub(lambda m: "?" if m.group(1) == "s" else "%", sql)


def parse_url(url):
    """Split a database URL into (dialect, options); raise DatabaseError when it is not usable."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme == "sqlite":
        # As elsewhere: sqlite:///relative.db and sqlite:////absolute/path.db
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise DatabaseError("sqlite URL %r names no file (use sqlite:///path/to/file.db)" % url)
        return "sqlite", {"path": urllib.parse.unquote(url[len("sqlite:///"):])}
    if parts.scheme in ("mysql", "mariadb", "mysql+pymysql"):
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise DatabaseError(
                "MySQL URL must look like mysql://user:password@host:3306/database, got %r"
                % _redact(url))
        try:
            port = parts.port or 3306
        except ValueError:
            raise DatabaseError("MySQL URL %r has an invalid port" % _redact(url))
        return "mysql", {
            "host": parts.hostname, "port": port,
            "user": urllib.parse.unquote(parts.username or "root"),
            "password": urllib.parse.unquote(parts.password or ""),
            "database": urllib.parse.unquote(database),
        }
    raise DatabaseError("unsupported database URL %r (use sqlite:///file or mysql://...)"
                        % _redact(url))


def _set_wal(db, wait=30.0):
    """Put the database in WAL mode. Two processes opening a new database together may both
    ask; SQLite answers the loser "database is locked" at once, without its busy handler, so
    the change is retried until `wait` seconds have passed (a database already in WAL mode
    answers at once)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _redact(url):
    parts = urllib.parse.urlsplit(url or "")
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


class Connection:
    """One synchronous connection with torndb's surface plus transactions."""

    def __init__(self, url, create_database=False, read_only=False):
        self.url = url
        self.dialect, self.options = parse_url(url)
        self.read_only = read_only
        self._db = None
        self._last_use = 0.0
        self._tx_depth = 0
        # MySQL: create a missing database on this first connect (at start-up only).
        self._create_database = create_database
        self.reconnect()

    # -- connection management -------------------------------------------------------------

    def reconnect(self):
        self.close()
        if self.dialect == "sqlite":
            self._db = self._open_sqlite()
        else:
            self._db = self._open_mysql()
        self._last_use = time.monotonic()

    def _open_sqlite(self):
        try:
            _prepare_sqlite_file(self.options["path"])
            db = sqlite3.connect(self.options["path"], isolation_level=None,
                                 detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=False,
                                 timeout=30)
            db.execute("PRAGMA busy_timeout=30000")
            _set_wal(db)
            db.execute("PRAGMA foreign_keys=ON")
            if self.read_only:
                # A write sent to a reader by mistake fails loudly instead of competing
                # with the writer for the lock.
                db.execute("PRAGMA query_only=ON")
        except sqlite3.Error as e:
            raise DatabaseError("cannot open SQLite database %s: %s" % (self.options["path"], e))
        return db

    def _open_mysql(self, database=True):
        o = self.options
        try:
            return pymysql.connect(
                host=o["host"], port=o["port"], user=o["user"], password=o["password"],
                database=o["database"] if database else None, charset="utf8mb4",
                autocommit=True, connect_timeout=10, init_command="SET time_zone = '+00:00'")
        except pymysql.err.OperationalError as e:
            code, message = (e.args + ("",))[:2]
            # 1044: a user without rights on a database is not told whether it exists.
            if code in (UNKNOWN_DATABASE, DATABASE_ACCESS_DENIED) and database \
                    and self._create_database:
                self._create_mysql_database(missing=code == UNKNOWN_DATABASE)
                return self._open_mysql()
            raise DatabaseError("cannot connect to MySQL at %s:%s/%s: %s (error %s)"
                                % (o["host"], o["port"], o["database"], message, code))

    def _create_mysql_database(self, missing):
        """Create the missing database (utf8mb4) when the user may; otherwise say in one line
        what an administrator has to run."""
        o = self.options
        create = create_database_sql(o["database"])
        db = self._open_mysql(database=False)
        account = "'%s'@'%%'" % o["user"]
        try:
            cursor = db.cursor()
            cursor.execute("SELECT CURRENT_USER()")
            user, _, host = cursor.fetchone()[0].rpartition("@")  # as the server knows us
            account = "'%s'@'%s'" % (user.replace("'", "''"), host.replace("'", "''"))
            cursor.execute(create)
        except pymysql.err.MySQLError:
            grant = "GRANT ALL PRIVILEGES ON %s.* TO %s" % (quote_mysql_name(o["database"]),
                                                            account)
            where = "%s on %s:%s" % (o["database"], o["host"], o["port"])
            problem = ("the MySQL database %s does not exist and %s may not create it" % (
                where, account) if missing else
                "%s may not use the MySQL database %s (or it does not exist)" % (account, where))
            raise DatabaseError("%s; as an administrator, run: %s; %s;" % (problem, create, grant))
        finally:
            db.close()
        logger.info("created the MySQL database %s (utf8mb4)", o["database"])

    def sqlite(self):
        """The open sqlite3 connection (None when closed)."""
        return self._db

    def close(self):
        if self._db is not None:
            try:
                self._db.close()
            except Exception:
                logger.debug("error closing connection", exc_info=True)
            self._db = None

    def _ensure(self):
        if self._db is None:
            self.reconnect()
        elif (self.dialect == "mysql" and self._tx_depth == 0
              and time.monotonic() - self._last_use > MAX_IDLE_SECONDS):
            try:
                self._db.ping(reconnect=True)
            except pymysql.err.Error:
                self.reconnect()
        self._last_use = time.monotonic()

    # -- torndb surface --------------------------------------------------------------------

    def query(self, sql, *args):
        """Rows as a list of Row."""
        with self._cursor(sql, args) as cursor:
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            return [Row(zip(names, row)) for row in cursor.fetchall()]

    def get(self, sql, *args):
        """The one row, or None; more than one row is an error."""
        rows = self.query(sql, *args)
        if len(rows) > 1:
            raise DatabaseError("multiple rows returned for get() query")
        return rows[0] if rows else None

    def execute(self, sql, *args):
        """Run a statement and return the cursor's lastrowid."""
        with self._cursor(sql, args) as cursor:
            return cursor.lastrowid

    def execute_rowcount(self, sql, *args):
        with self._cursor(sql, args) as cursor:
            return cursor.rowcount

    def executemany(self, sql, seq_of_args):
        """Run a statement for each args tuple; returns the row count (lastrowid means nothing)."""
        with self._cursor(sql, seq_of_args, many=True) as cursor:
            return cursor.rowcount

    @contextlib.contextmanager
    def transaction(self):
        """Everything inside commits together or not at all. Nested use joins the outer one."""
        self._ensure()
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield self
            finally:
                self._tx_depth -= 1
            return
        self._begin()
        self._tx_depth = 1
        try:
            yield self
        except BaseException:
            self._tx_depth = 0
            self._rollback()
            raise
        self._tx_depth = 0
        self._commit()

    def _begin(self):
        if self.dialect == "sqlite":
            self._db.execute("BEGIN IMMEDIATE")
        else:
            self._db.begin()

    def _commit(self):
        self._run_guarded(lambda: self._db.execute("COMMIT") if self.dialect == "sqlite"
                          else self._db.commit())

    def _rollback(self):
        try:
            if self.dialect == "sqlite":
                self._db.execute("ROLLBACK")
            else:
                self._db.rollback()
        except Exception:
            logger.warning("rollback failed", exc_info=True)
            self.close()

    @contextlib.contextmanager
    def _cursor(self, sql, args, many=False):
        self._ensure()
        if self.dialect == "sqlite":
            sql = _sqlite_sql(sql)
        cursor = self._db.cursor()
        try:
            if many:
                self._run_guarded(lambda: cursor.executemany(sql, list(args)))
            else:
                self._run_guarded(lambda: cursor.execute(sql, args))
            yield cursor
        finally:
            cursor.close()

    def _run_guarded(self, fn):
        """Map driver errors to ours; a lost connection is closed so the next call re-opens it.

        A statement that failed because the connection was lost is never retried here: it may
        have been a write that reached the server.
        """
        try:
            return fn()
        except (sqlite3.IntegrityError, pymysql.err.IntegrityError) as e:
            raise IntegrityError(str(e)) from e
        except OverflowError as e:
            raise OutOfRange("A number is beyond what the database stores: %s" % e) from e
        except (pymysql.err.DataError, pymysql.err.OperationalError,
                pymysql.err.InterfaceError) as e:
            code = e.args[0] if e.args else None
            if code in OUT_OF_RANGE_CODES:
                raise OutOfRange("A number is beyond what the database stores: %s"
                                 % (e.args[1] if len(e.args) > 1 else e)) from e
            if isinstance(e, pymysql.err.DataError):
                raise
            if isinstance(e, pymysql.err.InterfaceError) or code in LOST_CONNECTION_CODES:
                self._tx_depth = 0
                self.close()
                raise DatabaseError("lost the connection to MySQL: %s" % (e,)) from e
            raise


def quote_mysql_name(name):
    return "`%s`" % name.replace("`", "``")


def create_database_sql(name):
    return "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4" % quote_mysql_name(name)


def _prepare_sqlite_file(path):
    """Create the database file readable by its owner only, before SQLite creates it with
    the umask's mode; tighten one an older version left readable by others. SQLite gives
    the -wal and -shm files the database file's mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        for name in (path, path + "-wal", path + "-shm"):
            try:
                st = os.stat(name)
            except FileNotFoundError:
                continue
            if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
                os.chmod(name, SQLITE_FILE_MODE)
                logger.info("made %s readable by its owner only", name)
        return
    except OSError as e:
        raise sqlite3.OperationalError(e.strerror or str(e))
    os.close(fd)


class Database:
    """The asynchronous face of the data layer: every call runs on a worker thread, but a
    short SQLite read, which runs on the IOLoop's own read-only connection.

    Each worker thread keeps its own Connection. SQLite gets a single worker, so there is
    one writer and no lock contention, and `readers` reader threads, each with a read-only
    connection, for `query`, `get` and `read`: in WAL mode readers neither wait for the
    writer nor block it. A read starts after every write awaited before it has committed
    (the writer autocommits, or commits its transaction, before its future resolves), and
    each statement reads a fresh snapshot, so a request sees what it wrote. The IOLoop's
    thread has a read-only connection of its own, without a busy timeout, where a read runs
    first (see `read`). Transactions, migrations and anything given to `run` stay on the
    writer. MySQL gets `workers` threads that do both, and `read` is `run`.
    """

    def __init__(self, url, workers=4, readers=READERS):
        self.url = url
        self.dialect, options = parse_url(url)
        self.workers = 1 if self.dialect == "sqlite" else workers
        # An in-memory database is private to its connection: readers would see another one.
        path = options.get("path", "")
        self.readers = (readers if self.dialect == "sqlite" and path != ":memory:"
                        and not path.startswith("file:") else 0)
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="orchestra-db")
        self._read_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.readers, thread_name_prefix="orchestra-db-read") \
            if self.readers else None
        # The IOLoop thread's read-only connection (SQLite), opened on a reader thread at the
        # first read; reads from any other thread go to the pool.
        self._inline = self._inline_thread = None
        self._inline_opening = None

    def connect(self):
        """Open one connection now so a bad URL or a server that is down fails loudly at start
        (and a MySQL database that does not exist yet is created, when the user may)."""
        return self._executor.submit(self._connection, True).result()

    def _connection(self, create_database=False, read_only=False):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection(self.url, create_database=create_database, read_only=read_only)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _call(self, fn, *args):
        return fn(self._connection(), *args)

    def _call_read(self, fn, *args):
        return fn(self._connection(read_only=True), *args)

    def run(self, fn, *args):
        """Run fn(connection, *args) on a worker thread (the writer, on SQLite); await the
        result."""
        return tornado.ioloop.IOLoop.current().run_in_executor(
            self._executor, self._call, fn, *args)

    def read(self, fn, *args):
        """Run fn(connection, *args), which only reads; await the result. It sees every
        write awaited before the call. On SQLite it runs first on the IOLoop's connection,
        interrupted past INLINE_BUDGET (or when the database is busy) and run again on a
        reader thread, so fn must be its queries and what turns their rows into values,
        nothing that waits; on MySQL it runs on a worker."""
        if self._read_executor is None:
            return self.run(fn, *args)
        inline = self._inline_connection()
        if inline is not None:
            future = tornado.concurrent.Future()
            try:
                future.set_result(self._read_inline(inline, fn, args))
                return future
            except _OverBudget:
                pass
            except Exception as e:
                future.set_exception(e)
                return future
        return tornado.ioloop.IOLoop.current().run_in_executor(
            self._read_executor, self._call_read, fn, *args)

    def _inline_connection(self):
        """This thread's inline connection, or None: it belongs to the first thread that
        reads (the IOLoop's), and is opened on a reader thread (opening may wait for a lock)
        while the first reads go to the pool."""
        if self._inline is not None:
            return self._inline if self._inline_thread == threading.get_ident() else None
        if self._inline_opening is None:
            self._inline_thread = threading.get_ident()
            self._inline_opening = self._read_executor.submit(self._open_inline)
        return None

    def _open_inline(self):
        conn = Connection(self.url, read_only=True)
        conn.sqlite().execute("PRAGMA busy_timeout=0")  # busy: the read goes to a thread
        with self._lock:
            self._connections.append(conn)
        self._inline = conn

    @staticmethod
    def _read_inline(conn, fn, args):
        raw = conn.sqlite()
        if raw is None:
            raise _OverBudget()
        deadline = time.perf_counter() + INLINE_BUDGET
        raw.set_progress_handler(lambda: time.perf_counter() > deadline, INLINE_STEPS)
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e) or "locked" in str(e) or "busy" in str(e):
                raise _OverBudget() from e
            raise
        finally:
            raw.set_progress_handler(None, INLINE_STEPS)

    def run_sync(self, fn, *args):
        """For command-line use outside an IOLoop."""
        return self._executor.submit(self._call, fn, *args).result()

    def query(self, sql, *args):
        return self.read(lambda c: c.query(sql, *args))

    def get(self, sql, *args):
        return self.read(lambda c: c.get(sql, *args))

    def execute(self, sql, *args):
        return self.run(lambda c: c.execute(sql, *args))

    def execute_rowcount(self, sql, *args):
        return self.run(lambda c: c.execute_rowcount(sql, *args))

    def executemany(self, sql, seq_of_args):
        return self.run(lambda c: c.executemany(sql, seq_of_args))

    def close(self):
        """Finish queued calls, then close every connection."""
        self._executor.shutdown(wait=True)
        if self._read_executor is not None:
            self._read_executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


# -- migrations ------------------------------------------------------------------------------

MIGRATIONS_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(16) PRIMARY KEY,"
              " name VARCHAR(200) NOT NULL, applied_at DATETIME NOT NULL)",
    "mysql": "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(16) PRIMARY KEY,"
             " name VARCHAR(200) NOT NULL, applied_at DATETIME(6) NOT NULL)"
             " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
}


def migration_files(dialect, sql_dir=None):
    """[(version, name, path)] in order, from sql/<dialect>/NNNN_name.sql."""
    from orchestra.resources import resource_dir
    folder = os.path.join(sql_dir or resource_dir("sql"), dialect)
    found = []
    for filename in sorted(os.listdir(folder)):
        match = re.match(r"^(\d{4})_(\w+)\.sql$", filename)
        if match:
            found.append((match.group(1), match.group(2), os.path.join(folder, filename)))
    return found


_TRIGGER = re.compile(r"\s*CREATE\s+TRIGGER\b", re.I)
_TRIGGER_END = re.compile(r"\bEND\s*;\s*$", re.I)


def split_statements(text):
    """Statements of a migration file: separated by a ';' at the end of a line. A CREATE
    TRIGGER's body (BEGIN ... END;) holds statements of its own, so it ends at its END;."""
    statements, lines = [], []
    for line in text.splitlines():
        if line.lstrip().startswith("--"):
            continue
        lines.append(line)
        if not re.search(r";\s*$", line):
            continue
        statement = "\n".join(lines)
        if _TRIGGER.match(statement) and not _TRIGGER_END.search(line):
            continue
        statements.append(re.sub(r";\s*$", "", statement))
        lines = []
    statements.append("\n".join(lines))
    return [s.strip() for s in statements if s.strip()]


def migrate(conn, sql_dir=None):
    """Apply the migrations not applied yet, in order; return the versions applied.

    Each file is applied and recorded in one transaction where the dialect allows it
    (MySQL commits DDL implicitly, so there a file that fails half-way needs a hand).
    Two processes starting together apply each file once: SQLite's write lock (BEGIN
    IMMEDIATE) and a MySQL named lock make the second wait, then see it applied.
    """
    conn.execute(MIGRATIONS_TABLE[conn.dialect])
    if conn.dialect == "mysql":
        conn.get("SELECT GET_LOCK('orchestra_migrations', 60) AS got")
    try:
        return _apply_migrations(conn, sql_dir)
    finally:
        if conn.dialect == "mysql":
            conn.get("SELECT RELEASE_LOCK('orchestra_migrations') AS released")


def _apply_migrations(conn, sql_dir):
    applied = []
    for version, name, path in migration_files(conn.dialect, sql_dir):
        with open(path, encoding="utf-8") as f:
            statements = split_statements(f.read())
        with conn.transaction():
            if conn.get("SELECT version FROM schema_migrations WHERE version = %s", version):
                continue
            logger.info("applying migration %s_%s", version, name)
            for statement in statements:
                conn.execute(statement.replace("%", "%%"))
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                         " VALUES (%s, %s, %s)", version, name, utcnow())
        applied.append(version)
    return applied


def utcnow():
    """Naive UTC now, microseconds kept: what every timestamp column stores."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
