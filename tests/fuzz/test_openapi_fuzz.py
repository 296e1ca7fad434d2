"""Schemathesis over every operation of /api/openapi.json, as served by `orchestra serve`
on SQLite and on MySQL/MariaDB, with data that fits the document and data that does not
(tests/fuzz/harness.py says what each request must satisfy).

ORCHESTRA_FUZZ_EXAMPLES sets the random cases per operation and mode (default 10), and
ORCHESTRA_FUZZ_COVERAGE how many of schemathesis's coverage-phase cases (bounds, missing and
mistyped values) each operation gets first (default 20); the figures of each run (operations,
requests, failures) are printed at the end of pytest's report."""

import os
import time

import pytest
import requests
import schemathesis

from tests.conftest import MYSQL_URL, empty_mysql
from tests.fuzz.harness import FakeLMStudioProcess, Fuzzer, Snapshot
from tests.servers import Server

TOKEN = "fuzz-token-0123456789abcdef"
EXAMPLES = int(os.environ.get("ORCHESTRA_FUZZ_EXAMPLES", "10"))
COVERAGE = int(os.environ.get("ORCHESTRA_FUZZ_COVERAGE", "20"))
FIGURES = []  # (database, figures, seconds), for the report's summary


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def served(request, tmp_path):
    """(database name, its URL, a running server) with the fake LM Studio behind it."""
    if request.param == "mysql":
        empty_mysql(request.getfixturevalue("mysql_database"))
        db_url = MYSQL_URL
    else:
        db_url = "sqlite:///%s" % (tmp_path / "orchestra.db")
    fake = FakeLMStudioProcess()
    try:
        server = Server(tmp_path / "data", db_url=db_url, lmstudio_url=fake.url, token=TOKEN)
        try:
            yield request.param, db_url, server
        finally:
            server.kill()
    finally:
        fake.kill()


def seed(schema, base):
    """One row per collection, made from the document's example bodies, so that item paths
    (whose documented examples name id 1) reach a real row."""
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "POST" or "{" in operation.path:
            continue
        content = operation.definition.raw.get("requestBody", {}).get("content", {})
        example = content.get("application/json", {}).get("example")
        if example is not None and "201" in operation.definition.raw.get("responses", {}):
            requests.post(base + operation.path, json=example, timeout=30,
                          headers={"Authorization": "Bearer %s" % TOKEN})


def test_every_operation(served):
    database, db_url, server = served
    schema = schemathesis.openapi.from_url(
        server.base + "/api/openapi.json", headers={"Authorization": "Bearer %s" % TOKEN})
    snapshot = Snapshot(db_url)
    started = time.monotonic()
    try:
        seed(schema, server.base)
        snapshot.settle()
        fuzzer = Fuzzer(schema, server.base, TOKEN, snapshot, EXAMPLES, COVERAGE).run()
        up = fuzzer.still_up()
    finally:
        snapshot.close()
    figures = fuzzer.figures()
    FIGURES.append((database, figures, time.monotonic() - started))
    report = list(fuzzer.failures.values()) + fuzzer.errors
    assert not report, "%d failures on %s:\n\n%s\n\nserver log (end):\n%s" % (
        len(report), database, "\n\n".join(report), "".join(server.log[-200:]))
    assert up == 200 and server.proc.poll() is None
    assert figures["operations"] and figures["positive"] and figures["negative"]
