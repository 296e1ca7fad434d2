"""The schemas' dump of rows: the same output as marshmallow's own loop, faster."""

import datetime

import pytest
from marshmallow import Schema, fields

from orchestra import entities, schemas
from orchestra.db import Row

SAMPLES = {
    fields.String: "some text", fields.Integer: 7, fields.Float: 1.5, fields.Boolean: 1,
    fields.DateTime: datetime.datetime(2026, 1, 2, 3, 4, 5, 678901), fields.Url: "https://a.b/",
    fields.Raw: {"a": [1, 2]}, fields.List: [1, 2], fields.Dict: {"k": "v"},
}


def sample(field):
    for kind, value in SAMPLES.items():
        if isinstance(field, kind):
            return value
    return "body {{name}}"  # Method fields read text columns (a template's body)


def marshmallow_dump(schema, obj, many=False):
    """What marshmallow itself writes: its Schema._serialize, hooks as dump() runs them."""
    original = type(schema)._serialize
    try:
        type(schema)._serialize = Schema._serialize
        return schema.dump(obj, many=many)
    finally:
        type(schema)._serialize = original


def outcome(dump, *args, **kwargs):
    try:
        return dump(*args, **kwargs)
    except Exception as e:
        return type(e)


@pytest.mark.parametrize("name", sorted(entities.ENTITIES))
def test_every_entity_dumps_rows_as_marshmallow_does(name):
    schema = entities.get(name).create_schema()
    full = Row((field.attribute or key, sample(field))
               for key, field in schema.dump_fields.items())
    full["body"] = full.get("body", "{{topic}} and {{ place }}")
    nulls = Row((key, None) for key in full)
    nulls["body"] = full["body"]
    sparse = Row(list(full.items())[::2])
    for row in (full, nulls, sparse):
        assert outcome(schema.dump, row) == outcome(marshmallow_dump, schema, row)
    rows = [full, nulls, Row(full, id=8)]
    assert outcome(schema.dump, rows, many=True) == outcome(marshmallow_dump, schema, rows,
                                                             many=True)


def test_objects_that_are_not_dicts_go_through_marshmallow():
    class Obj:
        id = 3
        created_at = datetime.datetime(2026, 1, 1)
    assert schemas.Base().dump(Obj()) == {"id": 3, "createdAt": "2026-01-01T00:00:00.000Z"}
