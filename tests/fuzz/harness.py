"""Schemathesis against a running `orchestra serve`: the outside servers it talks to, a
snapshot of every table read through a direct connection, and the run over every operation of
the served OpenAPI document with positive and negative data.

The properties checked for each request: no 500, and no other 5xx unless the operation
documents it (an upstream failure of a server outside Orchestra); the status, content type and
body are the documented ones; a refusal's body is `{"error": ..., "fields"?: {...}}`; a refused
(4xx) request changes nothing: no table's rows change, and for an item path the entity answered
by GET on that path is the same before and after. After the run the server still answers.

One 400 is not a refusal: `{"error", "code"}` from the web API and the tools, a page that
could not be read (an unknown host, a blocked address). The request was valid and the attempt
is stored in the history, as the README says."""

import collections
import hashlib
import itertools
import json
import subprocess
import sys
import time

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance)

from orchestra import db as dblib
from tests.servers import ROOT, clean_env, free_port

MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
SETTLE_TIMEOUT = 5.0  # how long background work started by a request may keep writing
# Headers that frame the HTTP message itself: a generated `Content-Length: ` is refused by
# Tornado's HTTP parser, before any handler, with a bare 400 that no document can describe.
FRAMING_HEADERS = {"connection", "content-length", "expect", "host", "keep-alive", "te",
                   "trailer", "transfer-encoding", "upgrade"}


class FakeLMStudioProcess:
    """tests/fakes/lmstudio.py as its own process, so that the server's calls reach a real
    socket whatever this process is doing."""

    def __init__(self, timeout=30):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.lmstudio", "--port", str(self.port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=clean_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "listening" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError("the fake LM Studio did not start")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Snapshot:
    """Every table's rows (a count and a digest per table), read through a direct connection to
    the server's database."""

    def __init__(self, db_url):
        self.conn = dblib.Connection(db_url)
        if self.conn.dialect == "sqlite":
            rows = self.conn.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            names = [r["name"] for r in rows if not r["name"].startswith("sqlite_")]
        else:
            names = [list(r.values())[0] for r in self.conn.query("SHOW TABLES")]
        self.quote = "`%s`" if self.conn.dialect == "mysql" else '"%s"'
        self.tables = sorted(n for n in names if n != "schema_migrations")

    def take(self):
        state = {}
        for table in self.tables:
            rows = self.conn.query("SELECT * FROM %s" % (self.quote % table))
            text = sorted(json.dumps(row, sort_keys=True, default=repr) for row in rows)
            state[table] = (len(rows), hashlib.sha1("\n".join(text).encode()).hexdigest())
        return state

    def settle(self, timeout=SETTLE_TIMEOUT):
        """A snapshot once two in a row, 50 ms apart, agree (background work has stopped)."""
        deadline = time.monotonic() + timeout
        last = self.take()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.take()
            if now == last:
                return now
            last = now
        return last

    @staticmethod
    def changes(before, after):
        return ["%s: %d rows -> %d%s" % (t, before[t][0], after[t][0],
                                          "" if before[t][0] != after[t][0] else " (changed)")
                for t in before if before[t] != after[t]]

    def close(self):
        self.conn.close()


def no_server_error(ctx, response, case):
    """No 500; another 5xx only where the operation documents it (an upstream's failure)."""
    status = response.status_code
    documented = case.operation.definition.raw.get("responses", {})
    if status == 500 or (status >= 500 and str(status) not in documented):
        raise AssertionError("%d answered: %s" % (status, response.text[:300]))


def failed_attempt(response):
    """Whether a 400 is the web API's `{"error", "code"}`: a valid request whose page could
    not be read, stored in the history."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return (response.status_code == 400 and isinstance(body, dict)
            and set(body) == {"error", "code"} and isinstance(body["code"], str))


def refusal_shape(ctx, response, case):
    """A refusal (4xx) answers JSON `{"error": "...", "fields"?: {...}}` (or a failed
    attempt's `{"error", "code"}`)."""
    if not 400 <= response.status_code < 500 or failed_attempt(response):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError("%d answered a body that is not JSON: %r"
                             % (response.status_code, response.content[:200]))
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
            and set(body) <= {"error", "fields"}
            and isinstance(body.get("fields", {}), dict)):
        raise AssertionError("%d answered %r, not {error, fields?}"
                             % (response.status_code, body))


CHECKS = [no_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, refusal_shape]


class Fuzzer:
    """Runs every operation of `schema` against `base` with `examples` cases per operation and
    mode (after its first `coverage` cases of the coverage phase), and keeps the figures: operations, requests (per mode), and the failures found, each
    distinct one (operation, check, status) kept once with the request that showed it."""

    def __init__(self, schema, base, token, snapshot, examples, coverage=0):
        self.schema, self.base, self.snapshot, self.examples = schema, base, snapshot, examples
        self.coverage = coverage
        self.auth = {"Authorization": "Bearer %s" % token}
        self.session = requests.Session()
        self.requests = collections.Counter()
        self.statuses = collections.Counter()
        self.server_errors = collections.Counter()  # "operation status": the documented 5xx
        self.failures = {}
        self.operations = []
        self.errors = []  # operations schemathesis could not generate cases for, and why
        self.gets = set()

    def run(self):
        operations = []
        for result in self.schema.get_all_operations():
            operation = result.ok()
            operations.append(operation)
            if operation.method.upper() == "GET":
                self.gets.add(operation.path)
        self.operations = operations
        for operation in operations:
            self.run_coverage(operation)
            for mode in MODES:
                self.run_operation(operation, mode)
        return self

    def run_coverage(self, operation):
        """The first `coverage` cases of schemathesis's coverage phase: values at and beyond
        each documented bound, missing required values, wrong types (no randomness)."""
        if not self.coverage:
            return
        try:
            cases = self.schema.iter_coverage_cases(
                operation, generation_modes=list(MODES),
                generation_config=self.schema.config.generation_for(operation=operation))
            for case in itertools.islice(cases, self.coverage):
                mode = case.meta.generation.mode if case.meta else MODES[0]
                self.check_case(case, mode)
                self.requests["coverage"] += 1
        except Exception as e:
            self.errors.append("%s (coverage): %s: %s" % (operation.label, type(e).__name__,
                                                         str(e)[:500]))

    def run_operation(self, operation, mode):
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(max_examples=self.examples, deadline=None, database=None,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def test(case):
            self.check_case(case, mode)

        try:
            test()
        except hypothesis.errors.Unsatisfiable:
            pass  # no negative data exists for an operation with nothing to get wrong
        except Exception as e:  # schemathesis could not build cases: a failure of the document
            self.errors.append("%s (%s): %s: %s" % (operation.label, mode.value,
                                                   type(e).__name__, str(e)[:500]))

    def entity(self, case):
        """What GET answers on the case's item path, where the document has one."""
        if case.method.upper() == "GET" or not case.path_parameters \
                or case.operation.path not in self.gets:
            return None
        try:
            url = self.base + case.formatted_path
        except Exception:
            return None
        response = self.session.get(url, headers=self.auth, timeout=30)
        return response.status_code, response.content

    def check_case(self, case, mode):
        label = case.operation.label
        for name in [n for n in case.headers or {} if n.lower() in FRAMING_HEADERS]:
            del case.headers[name]
        before = self.snapshot.take()
        entity = self.entity(case)
        response = case.call(base_url=self.base, session=self.session, headers=self.auth,
                             timeout=60)
        self.requests[mode.value] += 1
        status = response.status_code
        self.statuses[status // 100] += 1
        if status >= 500:
            self.server_errors["%s %d" % (label, status)] += 1
        problems = []
        try:
            case.validate_response(response, checks=CHECKS, headers=self.auth)
        except BaseException as e:  # schemathesis's FailureGroup is a BaseExceptionGroup
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            problems.append(("checks", str(e)))
        if 400 <= status < 500 and not failed_attempt(response):
            after = self.snapshot.take()
            changed = Snapshot.changes(before, after)
            if changed:
                problems.append(("refusal changed the database", "; ".join(changed)))
            if entity is not None and self.entity(case) != entity:
                problems.append(("refusal changed the entity", case.formatted_path))
        elif case.method.upper() != "GET":
            self.snapshot.settle()  # the next request starts from a quiet database
        for kind, detail in problems:
            key = (label, kind, status)
            if key not in self.failures:
                self.failures[key] = "%s [%s] %s -> %d: %s\n    %s" % (
                    label, mode.value, kind, status, detail[:2000],
                    case.as_curl_command(headers=self.auth))

    def still_up(self):
        response = self.session.get(self.base + "/api/session", headers=self.auth, timeout=10)
        return response.status_code

    def figures(self):
        return {"operations": len(self.operations),
                "requests": self.requests["positive"] + self.requests["negative"],
                "coverage": self.requests["coverage"],
                "positive": self.requests["positive"], "negative": self.requests["negative"],
                "statuses": {"%dxx" % k: v for k, v in sorted(self.statuses.items())},
                "failures": len(self.failures) + len(self.errors),
                "server_errors": dict(sorted(self.server_errors.items()))}
