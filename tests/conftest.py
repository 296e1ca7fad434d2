"""Shared fixtures: a Config per test, the app, an authenticated `fetch`, `ws_connect`.

Every test that uses `config` runs on SQLite, and again on MySQL/MariaDB when
ORCHESTRA_TEST_MYSQL_URL names a database (mysql://root@127.0.0.1:3306/orchestra_test).
With ORCHESTRA_REQUIRE_MYSQL=1 a missing MySQL URL fails the run instead of skipping, and
with ORCHESTRA_REQUIRE_LLM=1 so does a missing real server for the tests that need one
(ORCHESTRA_TEST_LLM_URL, ORCHESTRA_TEST_LLAMACPP_URL), and with ORCHESTRA_REQUIRE_EMBEDDING=1
a missing server for embeddings (ORCHESTRA_TEST_EMBEDDING_URL and _MODEL).
"""

import json
import os
import urllib.parse

import pytest
import tornado.httpclient
import tornado.websocket

from orchestra import db as dblib
from orchestra.app import close_app, make_app
from orchestra.config import Config

TOKEN = "test-token-0123456789abcdef"
MYSQL_URL = os.environ.get("ORCHESTRA_TEST_MYSQL_URL")

try:  # the fake LM Studio server and its fixture
    from tests.fakes.lmstudio import fake_lmstudio  # noqa: F401
except ImportError:  # pragma: no cover - while the fake is absent
    pass


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ORCHESTRA_REQUIRE_MYSQL") and not MYSQL_URL:
        raise pytest.UsageError(
            "ORCHESTRA_REQUIRE_MYSQL is set but ORCHESTRA_TEST_MYSQL_URL is not")
    if os.environ.get("ORCHESTRA_REQUIRE_LLM"):
        missing = [name for name in ("ORCHESTRA_TEST_LLM_URL", "ORCHESTRA_TEST_LLAMACPP_URL")
                   if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError("ORCHESTRA_REQUIRE_LLM is set but not %s"
                                    % " nor ".join(missing))
    if os.environ.get("ORCHESTRA_REQUIRE_EMBEDDING"):
        missing = [name for name in ("ORCHESTRA_TEST_EMBEDDING_URL",
                                     "ORCHESTRA_TEST_EMBEDDING_MODEL")
                   if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError("ORCHESTRA_REQUIRE_EMBEDDING is set but not %s"
                                    % " nor ".join(missing))


@pytest.fixture(scope="session")
def mysql_database():
    """Migrate the MySQL test database once; tests then start from empty tables."""
    if not MYSQL_URL:
        pytest.skip("ORCHESTRA_TEST_MYSQL_URL is not set")
    conn = dblib.Connection(MYSQL_URL)
    dblib.migrate(conn)
    yield conn
    conn.close()


def empty_mysql(conn):
    tables = [list(r.values())[0] for r in conn.query("SHOW TABLES")]
    conn.execute("SET FOREIGN_KEY_CHECKS = 0")
    try:
        for table in tables:
            if table != "schema_migrations":
                conn.execute("TRUNCATE TABLE `%s`" % table)
    finally:
        conn.execute("SET FOREIGN_KEY_CHECKS = 1")


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request):
    if request.param == "mysql":
        conn = request.getfixturevalue("mysql_database")
        empty_mysql(conn)
        return MYSQL_URL
    return None


@pytest.fixture
def lmstudio_url(request):
    """The fake LM Studio's URL when a test uses it; otherwise a closed port."""
    if "fake_lmstudio" in request.fixturenames:
        return request.getfixturevalue("fake_lmstudio").url
    return "http://127.0.0.1:9"


@pytest.fixture
def config(tmp_path, backend, lmstudio_url):
    return Config(data_dir=str(tmp_path / "data"), db_url=backend, token=TOKEN,
                  lmstudio_url=lmstudio_url, port=0, metrics_interval=0.2,
                  ws_ping_interval=30, fetch_allow_private=True)  # the test sites are local


@pytest.fixture
def app(config, io_loop):
    application = make_app(config)
    yield application
    io_loop.run_sync(lambda: close_app(application))


@pytest.fixture
def orchestrator(app):
    """The app's Orchestrator, retrying without pauses (the retries still happen)."""
    orch = app.settings["services"]["orchestrator"]
    orch.retry_backoff = 0
    return orch


class Response:
    """An HTTP response with its body decoded as JSON where it is JSON."""

    def __init__(self, response):
        self.raw = response
        self.code = response.code
        self.headers = response.headers
        self.body = response.body or b""
        self.text = self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


@pytest.fixture
def fetch(app, http_client, base_url):
    """fetch(path, method="GET", json=None, body=None, token=True, headers=None) -> Response.

    With token=True requests carry `Authorization: Bearer`; pass token=False to act as an
    anonymous client, or cookies/headers of your own.
    """

    async def _fetch(path, method="GET", json=None, body=None, token=True, headers=None,
                     follow_redirects=False, **kwargs):
        headers = dict(headers or {})
        if token:
            headers.setdefault("Authorization", "Bearer %s" % TOKEN)
        if json is not None:
            body = _json_dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response = await http_client.fetch(
            base_url + path, method=method, body=body, headers=headers, raise_error=False,
            follow_redirects=follow_redirects, allow_nonstandard_methods=True, **kwargs)
        return Response(response)

    return _fetch


def _json_dumps(value):
    return json.dumps(value) if not isinstance(value, (bytes, str)) else value


@pytest.fixture
def ws_url(base_url):
    return base_url.replace("http://", "ws://", 1)


@pytest.fixture
def ws_connect(app, http_server, ws_url):
    """ws_connect(path="/ws", token=True, headers=None) -> a connected tornado client."""
    opened = []

    async def _connect(path="/ws", token=True, headers=None, **kwargs):
        url = ws_url + path
        if token:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"token": TOKEN})
        request = tornado.httpclient.HTTPRequest(url, headers=headers or {})
        conn = await tornado.websocket.websocket_connect(request, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()
