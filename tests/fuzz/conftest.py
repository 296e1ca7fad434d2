"""The fuzz runs' figures, printed at the end of pytest's report (and written to
ORCHESTRA_FUZZ_REPORT when set, for .ci/run)."""

import sys

from tests.web.fuzzing import report


def pytest_terminal_summary(terminalreporter):
    module = sys.modules.get("tests.fuzz.test_openapi_fuzz")
    if module is None or not module.FIGURES:
        return
    lines = ["%s: %d operations, %d requests (%d positive, %d negative, %d of them from the "
             "coverage phase; %s), %d failures, %.0f s; %d random cases per operation and "
             "mode, %d coverage cases per operation"
             % (database, f["operations"], f["requests"], f["positive"], f["negative"],
                f["coverage"], ", ".join("%s %d" % kv for kv in f["statuses"].items()),
                f["failures"], seconds, module.EXAMPLES, module.COVERAGE)
             for database, f, seconds in module.FIGURES]
    lines += ["%s: the documented 5xx (upstream failures): %s" % (database, ", ".join(
        "%s x%d" % kv for kv in f["server_errors"].items()) or "none")
        for database, f, _ in module.FIGURES]
    report(terminalreporter, "schemathesis over /api/openapi.json", lines)
