"""marshmallow schemas as JSON Schema, through apispec's marshmallow converter.

apispec's output for OpenAPI 3.1 is JSON Schema (null is a type, not "nullable"), so one
converter serves the tools' parameters (sent to the model) and the AsyncAPI document of /ws.
"""

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from apispec.ext.marshmallow.common import make_schema_key


class SchemaConverter:
    """Converts schemas into one set of named JSON Schemas (`schemas()`); a nested schema is
    converted once and referenced as `#/components/schemas/<name>`."""

    def __init__(self):
        self.plugin = MarshmallowPlugin()
        self.spec = APISpec(title="schemas", version="1", openapi_version="3.1.0",
                            plugins=[self.plugin])

    def name(self, schema):
        """The name a schema (class or instance) is converted under, converting it once."""
        cls = schema if isinstance(schema, type) else type(schema)
        # Every schema converted so far, nested ones included.
        name = self.plugin.converter.refs.get(make_schema_key(cls()))
        if name is None:
            name = resolver(cls)
            self.spec.components.schema(name, schema=cls)
        return name

    def ref(self, schema):
        return {"$ref": "#/components/schemas/" + self.name(schema)}

    def schemas(self):
        converted = self.spec.to_dict()["components"]["schemas"]
        for schema in converted.values():
            for prop in schema.get("properties", {}).values():
                if prop.get("format") == "url":  # marshmallow's Url; JSON Schema says "uri"
                    prop["format"] = "uri"
        return converted


def json_schema(schema_class):
    """The JSON Schema of one flat schema, with `properties` even when it has none."""
    converter = SchemaConverter()
    name = converter.name(schema_class)
    converted = converter.schemas()[name]
    converted.setdefault("properties", {})
    return converted
