"""`--db mysql://…/name` for a database that does not exist: created (utf8mb4) when the user
may, else one line with the SQL an administrator has to run. Needs ORCHESTRA_TEST_MYSQL_URL
(a user that may create databases and users, e.g. root)."""

import secrets
import urllib.parse

import pytest

from orchestra import db as dblib
from tests.conftest import MYSQL_URL
from tests.test_cli_auth import clean_env, run

pytestmark = pytest.mark.mysql


@pytest.fixture
def admin():
    if not MYSQL_URL:
        pytest.skip("ORCHESTRA_TEST_MYSQL_URL is not set")
    conn = dblib.Connection(MYSQL_URL)
    yield conn
    conn.close()


def url_for(name, user=None, password=None):
    parts = urllib.parse.urlsplit(MYSQL_URL)
    netloc = "%s:%d" % (parts.hostname, parts.port or 3306)
    if user:
        netloc = "%s:%s@%s" % (user, password, netloc)
    elif parts.username:
        netloc = parts.netloc
    return urllib.parse.urlunsplit(("mysql", netloc, "/" + name, "", ""))


def test_a_missing_database_is_created_in_utf8mb4(tmp_path, admin):
    name = "orchestra_new_%s" % secrets.token_hex(4)
    try:
        result = run("migrate", "--data-dir", str(tmp_path), "--db", url_for(name),
                     env=clean_env())
        assert result.returncode == 0, result.stderr
        assert "0001" in result.stdout and "created the MySQL database %s" % name in result.stderr
        row = admin.get("SELECT default_character_set_name AS charset FROM"
                        " information_schema.schemata WHERE schema_name = %s", name)
        assert row.charset == "utf8mb4"
        again = run("migrate", "--data-dir", str(tmp_path), "--db", url_for(name),
                    env=clean_env())
        assert again.returncode == 0 and "nothing" in again.stdout
    finally:
        admin.execute("DROP DATABASE IF EXISTS `%s`" % name)


def test_a_user_who_may_not_create_it_is_told_the_sql_to_run(tmp_path, admin):
    name = "orchestra_new_%s" % secrets.token_hex(4)
    user, password = "orch_limited_%s" % secrets.token_hex(3), secrets.token_hex(8)
    hosts = ("localhost", "127.0.0.1", "%")
    for host in hosts:
        admin.execute("CREATE USER %s@%s IDENTIFIED BY %s", user, host, password)
    try:
        result = run("migrate", "--data-dir", str(tmp_path),
                     "--db", url_for(name, user, password), env=clean_env())
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert "may not use the MySQL database %s" % name in lines[0]
        assert "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4;" % name in lines[0]
        assert "GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@" % (name, user) in lines[0]
        assert admin.get("SELECT 1 AS one FROM information_schema.schemata"
                         " WHERE schema_name = %s", name) is None
    finally:
        for host in hosts:
            admin.execute("DROP USER IF EXISTS %s@%s", user, host)
