"""The OpenAPI 3.1 document of the JSON API, built from the route table and the operations
each handler describes (orchestra.web.apidoc), and served at /api/openapi.json.

Paths come from the route regexes (orchestra.web.apiroutes); schemas from the marshmallow
schemas the handlers load and dump, through apispec's marshmallow plugin.
"""

import http
import importlib.metadata
import inspect
import json
import logging
import re

import tornado.web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from orchestra import entities, schemas
from orchestra.web.apidoc import Media, op
from orchestra.web.apiroutes import (answered_methods, api_routes, documented,
                                     path_param_descriptions, path_param_names, path_template)
from orchestra.web.base import AUTH_COOKIE, ApiHandler

logger = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
UNSAFE = ("post", "put", "patch", "delete")
JSON = "application/json"

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal: a sentence for people and, for invalid input, a list of "
                   "messages per field (JSON key; nested keys and list positions nest).",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, in one sentence."},
        "fields": {"type": "object", "description": "Messages per field of the input.",
                   "additionalProperties": True},
    },
}

# What each error status means here (the body is always the Error schema).
ERROR_MEANING = {
    400: "The input is not valid: malformed JSON, a body that is not a JSON object, a field "
         "that does not fit (named in `fields`) or a query argument out of range.",
    401: "No valid access token: send `Authorization: Bearer <token>` or log in.",
    403: "The XSRF check failed: a request authenticated by the session cookie must send "
         "the `_xsrf` cookie's value in the `X-XSRFToken` header.",
    404: "No such record (the message names it).",
    405: "This call cannot change these records here; the message names the call that does.",
    409: "The change conflicts with stored data or with work in progress (the message says "
         "why).",
    413: "The request body is larger than this call's limit (the message names it).",
    502: "The model server answered with an error.",
    503: "A service this call needs (the model server, the database) is not available.",
    504: "The model server did not answer in time.",
}

SECURITY_SCHEMES = {
    "bearer": {
        "type": "http", "scheme": "bearer",
        "description": "The access token `orchestra serve` prints (or `orchestra token`), as "
                       "`Authorization: Bearer <token>`. Requests authenticated this way "
                       "need no XSRF token.",
    },
    "cookie": {
        "type": "apiKey", "in": "cookie", "name": AUTH_COOKIE,
        "description": "The session cookie a browser gets when it logs in (`/login`, or any "
                       "URL with `?token=`). Unsafe methods (POST, PUT, PATCH, DELETE) "
                       "authenticated by this cookie must also send the `X-XSRFToken` "
                       "header, equal to the `_xsrf` cookie the pages set; without it they "
                       "answer 403.",
    },
    "xsrf": {
        "type": "apiKey", "in": "header", "name": "X-XSRFToken",
        "description": "The value of the `_xsrf` cookie, required with the session cookie "
                       "on unsafe methods (POST, PUT, PATCH, DELETE).",
    },
}

DESCRIPTION = """\
Orchestra's JSON API. JSON keys are camelCase. Every refusal answers with an `Error` object
(`{"error": "...", "fields"?: {...}}`); a refused request changes nothing.

Authenticate with the access token as a bearer token, or with the session cookie of a
logged-in browser (then unsafe methods also send `X-XSRFToken`, equal to the `_xsrf` cookie).
Ids are positive integers of at most 9223372036854775807; a path id beyond that answers 404.
"""


# -- components ----------------------------------------------------------------------------

def schema_name(schema):
    """Component names: an entity's schema is named for the entity ("KnowledgeBase", and
    "KnowledgeBaseChanges" for its update schema); others for their class, less "Schema"."""
    cls = resolve_schema_cls(schema)
    named = entity_schema_names()
    if cls in named:
        name = named[cls]
    else:
        name = cls.__name__
        name = name[:-len("Schema")] if name.endswith("Schema") and name != "Schema" else name
    if not inspect.isclass(schema):
        # an instance that leaves fields out describes another object than its class
        if schema.exclude:
            name += "Without" + "".join(camel(f) for f in sorted(schema.exclude))
        elif schema.only:
            name += "Only" + "".join(camel(f) for f in sorted(schema.only))
    return name


def camel(words):
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[-_ .]+", words) if w)


def entity_schema_names():
    names = {}
    for entity in entities.ENTITIES.values():
        names[entity.create_schema] = camel(entity.singular)
        names[entity.update_schema] = camel(entity.singular) + "Changes"
    return names


# The keys schemas.Base strips of surrounding spaces before validating.
STRIPPED = ("name", "title", "service", "category", "username", "url")


def row_fields(converter, field, ret, **kwargs):
    """Attribute function for apispec (bound to its converter): fields as Orchestra reads
    and writes them.

    marshmallow's Url is JSON Schema's `uri`. A name or title that must not be empty must not
    be blank either (schemas.Base strips them before validating). A dump-only field of a
    stored entity (an outcome, a count, a timestamp) is null until its owner sets it, so its
    schema allows null; `id`, `createdAt` and `updatedAt` are always set."""
    if ret.get("format") == "url":
        ret["format"] = "uri"
    parent = getattr(field, "parent", None)
    if (isinstance(parent, schemas.Base) and field.name in STRIPPED
            and ret.get("minLength", 0) >= 1 and "pattern" not in ret):
        ret["pattern"] = r"\S"  # blank is empty once stripped, and refused
    if (field.dump_only and isinstance(parent, ENTITY_SCHEMAS)
            and field.name not in ("id", "created_at", "updated_at")):
        kind = ret.get("type")
        if isinstance(kind, str):
            ret["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            ret["type"] = kind + ["null"]
    return ret


def entity_schemas():
    """The schema classes of stored entities and those nested in them."""
    found = set()
    todo = [e.create_schema for e in entities.ENTITIES.values()]
    todo += [e.update_schema for e in entities.ENTITIES.values()]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.add(cls)
        for field in cls._declared_fields.values():
            for part in (field, getattr(field, "inner", None), getattr(field, "value_field", None)):
                nested = getattr(part, "nested", None)
                if callable(nested) and not inspect.isclass(nested):
                    nested = nested()  # fields.Nested(lambda: Schema)
                if nested is not None and not isinstance(nested, str):
                    todo.append(resolve_schema_cls(nested))
    return tuple(found)


ENTITY_SCHEMAS = entity_schemas()


def build_spec(app_or_rules):
    """The OpenAPI 3.1.0 document (a dict) of the JSON API of an Application or route table."""
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(title="Orchestra", version=package_version(), openapi_version=OPENAPI_VERSION,
                   plugins=[plugin], info={"description": DESCRIPTION},
                   security=[{"bearer": []}, {"cookie": []}])
    plugin.converter.add_attribute_function(row_fields)
    spec.components.schema("Error", ERROR_SCHEMA)
    for status in sorted(ERROR_MEANING):
        spec.components.response(error_response_name(status), error_response(status))
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for entity in entities.ENTITIES.values():  # the stored records, each under its own name
        spec.components.schema(schema_name(entity.create_schema), schema=entity.create_schema)
    operation_ids, tags = set(), set()
    for pattern, handler, kwargs in api_routes(app_or_rules):
        doc = documented(handler, kwargs)
        answered = answered_methods(handler)
        doc = {m: d for m, d in doc.items() if m in answered}
        if not doc:
            continue
        path, params = path_template(pattern, path_param_names(handler, pattern))
        descriptions = path_param_descriptions(handler)
        operations = {}
        for method, described in doc.items():
            operation = build_operation(method, path, params, descriptions, described)
            if operation["operationId"] in operation_ids:
                raise ValueError("operationId %s is used twice" % operation["operationId"])
            operation_ids.add(operation["operationId"])
            tags.update(operation["tags"])
            operations[method] = operation
        spec.path(path=path, operations=operations)
    for tag in sorted(tags):
        spec.tag({"name": tag})
    return spec.to_dict()


def package_version():
    try:
        return importlib.metadata.version("orchestra")
    except importlib.metadata.PackageNotFoundError:
        return "0"


# Component names of the error responses (fixed here: Python's phrases change between
# versions, 413 "Request Entity Too Large" became "Content Too Large").
ERROR_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 413: "ContentTooLarge",
               502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def error_response_name(status):
    return ERROR_NAMES[status]


def error_response(status):
    return {"description": ERROR_MEANING.get(status) or http.HTTPStatus(status).phrase,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def default_operation_id(method, path):
    """'post', '/api/tasks/{id}/{action}' -> 'postTasksByIdAction'."""
    words = []
    for segment in path.split("/")[2:]:
        if segment.startswith("{"):
            words.append("By" + camel(segment[1:-1]))
        else:
            words.append(camel(segment))
    return method + "".join(words)


def build_operation(method, path, path_params, descriptions, doc):
    operation = {"summary": doc["summary"],
                 "operationId": doc.get("operation_id") or default_operation_id(method, path),
                 "tags": list(doc["tags"]) or [camel(path.split("/")[2])]}
    if doc["description"]:
        operation["description"] = doc["description"]
    parameters = [{"name": name, "in": "path", "required": True, "schema": dict(schema),
                   "description": descriptions.get(name) or default_param_description(name)}
                  for name, schema in path_params]
    for query in doc["query"]:
        parameter = {"name": query["name"], "in": "query", "required": query["required"],
                     "schema": dict(query["schema"]), "description": query["description"]}
        if query["example"] is not None:
            parameter["example"] = query["example"]
        parameters.append(parameter)
    if parameters:
        operation["parameters"] = parameters
    if doc["body"] is not None:
        media = {"schema": doc["body"]}
        if doc["body_example"] is not None:
            media["example"] = doc["body_example"]
        operation["requestBody"] = {"required": doc["body_required"],
                                    "content": {doc["body_content_type"]: media}}
    operation["responses"] = responses(method, doc)
    if doc["public"]:
        operation["security"] = [{}]
    elif method in UNSAFE:
        operation["security"] = [{"bearer": []}, {"cookie": [], "xsrf": []}]
    return operation


def default_param_description(name):
    return "The record's id." if name == "id" else "The %s." % name


def responses(method, doc):
    answers = {}
    for status, answer in doc["responses"].items():
        answers[str(status)] = success_response(answer)
    errors = set(doc["errors"])
    if not doc["public"]:
        errors.add(401)
        if method in UNSAFE:
            errors.add(403)
    if doc["body"] is not None:
        errors.update((400, 413))
    for status in sorted(errors):
        if str(status) in answers:
            continue  # the operation describes this one itself
        if status in ERROR_MEANING:
            answers[str(status)] = {"$ref": "#/components/responses/%s"
                                    % error_response_name(status)}
        else:
            answers[str(status)] = error_response(status)
    return answers


def success_response(answer):
    """(description, schema or Media or None[, example]) -> a Response Object."""
    description, schema = answer[0], answer[1]
    example = answer[2] if len(answer) > 2 else None
    response = {"description": description}
    if isinstance(schema, Media):
        media = {"schema": schema.schema} if schema.schema is not None else {}
        response["content"] = {schema.content_type: media}
    elif schema is not None:
        media = {"schema": schema}
        if example is not None:
            media["example"] = example
        response["content"] = {JSON: media}
    return response


# -- serving --------------------------------------------------------------------------------

DOCUMENT_KEY = "openapi_document"


def document_bytes(application):
    """The document as JSON bytes, built on first use and kept for the process."""
    cached = application.settings.get(DOCUMENT_KEY)
    if cached is None:
        cached = json.dumps(build_spec(application), ensure_ascii=False).encode()
        application.settings[DOCUMENT_KEY] = cached
    return cached


class OpenApiHandler(ApiHandler):
    """GET /api/openapi.json: this document."""

    api_doc = {"get": op(
        "The OpenAPI 3.1 document of this API",
        description="Generated from the route table and the schemas the handlers use; "
                    "`/api/docs` shows it in a browser.",
        tags=("API description",), operation_id="getOpenApiDocument",
        responses={200: ("The OpenAPI 3.1.0 document.",
                         {"type": "object", "required": ["openapi", "info", "paths"],
                          "properties": {"openapi": {"const": OPENAPI_VERSION}}})})}

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(document_bytes(self.application))


routes = [
    tornado.web.url(r"/api/openapi.json", OpenApiHandler, name="api-openapi"),
]
