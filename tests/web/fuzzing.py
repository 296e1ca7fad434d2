"""Hypothesis strategies shared by the property tests: hostile JSON values, and bodies shaped
like a marshmallow schema whose values are often of the wrong type, too big or too long."""

import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from marshmallow import fields, validate

from orchestra.schemas import MAX_ID

# Each example is a real request against a real database: keep the count bounded, and let
# a slow MariaDB round trip be slow rather than a failure.
FUZZ = settings(max_examples=30, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# What each property run sent and how it was answered: (database, what, requests,
# {status or error code: count}); printed at the end of pytest's report (tests/web/conftest.py).
FIGURES = []


def report(terminalreporter, title, lines):
    """Print a fuzz run's figures at the end of pytest's report, and append them to
    ORCHESTRA_FUZZ_REPORT when it is set (.ci/run prints that file and checks it)."""
    terminalreporter.write_sep("=", title)
    for line in lines:
        terminalreporter.write_line(line)
    path = os.environ.get("ORCHESTRA_FUZZ_REPORT")
    if path:
        with open(path, "a") as f:
            f.write("".join(line + "\n" for line in lines))


def record(app, what, requests, answers):
    FIGURES.append((app.settings["db"].dialect, what, requests, dict(answers)))


# Numbers at and past the edges of what the databases (BIGINT, INT, DOUBLE) and JSON hold.
EDGE_INTS = [0, -1, 1, 2**31 - 1, 2**31, MAX_ID, MAX_ID + 1, -MAX_ID - 2, 2**64, 10**30,
             10**400, -10**400]
EDGE_FLOATS = [0.5, -0.0, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan")]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EDGE_INTS), st.integers(),
    st.sampled_from(EDGE_FLOATS), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["", " ", "\x00", "\ud800x", "a" * 5001]))

json_values = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)


def lengths(field):
    """(min, max) of the field's Length validator, or (None, None)."""
    for v in field.validators:
        if isinstance(v, validate.Length):
            return v.min, v.max
    return None, None


def well_typed(field, depth):
    """Values of the field's own type, crowding its edges (and just past them)."""
    if isinstance(field, fields.Nested):
        return shaped(field.schema, depth + 1) if depth < 2 else st.just({})
    if isinstance(field, fields.List):
        return st.lists(value_for(field.inner, depth + 1), max_size=4)
    if isinstance(field, (fields.Integer,)):
        return st.one_of(st.sampled_from(EDGE_INTS), st.integers(-3, 10**6),
                         st.integers(1, 3))  # ids that may exist
    if isinstance(field, fields.Float):
        return st.one_of(st.sampled_from(EDGE_FLOATS + EDGE_INTS), st.floats())
    if isinstance(field, fields.Boolean):
        return st.one_of(st.booleans(), st.sampled_from(["true", "yes", 1, 0, "maybe"]))
    if isinstance(field, fields.Dict):
        return st.dictionaries(st.text(max_size=8), json_values, max_size=3)
    if isinstance(field, fields.String):
        low, high = lengths(field)
        # At the limit (in 4-byte characters too, for VARCHAR columns) and just past it.
        over = [] if high is None else ["x" * (high + 1), "x" * high, "\U0001F600" * high]
        return st.one_of(st.text(max_size=30), st.sampled_from(
            over + ["", "   ", "http://127.0.0.1:9/x",
                    "2026-01-01T00:00:00Z", "text", "url", "jsonl", "pending", "low"]))
    return json_values


def value_for(field, depth=0):
    return st.one_of(well_typed(field, depth), scalars) if depth < 3 else scalars


def keys_of(schema):
    return {field.data_key or name: field for name, field in schema.load_fields.items()}


def shaped(schema, depth=0, extra_keys=()):
    """A dict with some of the schema's keys (each with a value for it, or a hostile one),
    sometimes a key the schema does not know or one another part of Orchestra owns."""
    optional = {key: value_for(field, depth) for key, field in keys_of(schema).items()}
    for key in extra_keys:
        optional[key] = scalars
    return st.fixed_dictionaries({}, optional=optional)


def one_changed(schema, valid):
    """`valid` (a body the schema accepts, or {} for a PATCH) with one of the schema's keys
    set to a value for it or a hostile one: the answer then depends on that value alone."""
    fields_by_key = keys_of(schema)
    if not fields_by_key:
        return st.just(valid)
    return st.sampled_from(sorted(fields_by_key)).flatmap(
        lambda key: value_for(fields_by_key[key]).map(lambda value: {**valid, key: value}))


def body_strategy(schema, owned=(), valid=None):
    """What a client might send: a valid body with one value changed, a body shaped like
    the schema, or any JSON value."""
    unknown = st.fixed_dictionaries({}, optional={"colour": scalars, "": scalars,
                                                  "__proto__": json_values})
    return st.one_of(
        one_changed(schema, valid or {}), one_changed(schema, valid or {}),
        shaped(schema, extra_keys=owned),
        st.tuples(shaped(schema), unknown).map(lambda pair: {**pair[0], **pair[1]}),
        json_values)


def encode(value):
    """JSON text of `value`; NaN and Infinity as Python writes them (what a careless client
    sends, and what Python's own parser accepts)."""
    return json.dumps(value)


def is_error_body(body):
    """The documented error shape: {"error": str, "fields"?: object}."""
    return (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
            and set(body) <= {"error", "fields"}
            and isinstance(body.get("fields", {}), dict))
