"""How a handler describes its JSON API operations, for the OpenAPI document.

A handler class under /api/ carries `api_doc = {"get": op(...), "post": op(...), ...}`: one
entry per HTTP method it answers, no more and no fewer (tests check this against the route
table). Its path parameters, in the order of the route's regex groups, are named by
`api_path_params = (("id", "The task's id."), ...)`; a route with one group and no such
attribute calls it `id`. A handler that serves several routes (the generic CRUD serves every
entity) may instead define a classmethod `api_doc_for(route_kwargs)` answering that dict for
one route; the nearest class in the MRO that defines `api_doc` or `api_doc_for` wins.
`orchestra.web.openapi` turns the route table and these descriptions into the OpenAPI 3.1
document served at /api/openapi.json.

Schemas are given as marshmallow schema classes or instances (the source of truth, turned
into JSON Schema by apispec's marshmallow plugin) or as plain JSON Schema dicts.
"""


def op(summary, *, description=None, tags=(), query=(), body=None, body_required=True,
       body_example=None, responses=None, errors=(), public=False,
       body_content_type="application/json", operation_id=None):
    """One operation.

    summary: one line for people. description: more, Markdown.
    tags: the areas it is listed under ("Templates", "Tasks", ...).
    query: its query parameters, each made by `param(...)`.
    body: the request body's schema (None: no body); body_example: an example body.
    responses: {status: (description, schema or None[, example])}; None as the schema means
        no body (204) or a body that is not JSON (say so in the description).
    errors: the error statuses it answers with `{"error": ..., "fields"?: ...}` (400, 404,
        409, ...). 401 is added to every operation that is not `public`; 413 to every
        operation with a body.
    public: answered without the token (the login's session check).
    operation_id: the operation's id in the document; by default the method and the path
        ("post", "/api/tasks/{id}/{action}" -> "postTasksByIdAction").

    A response's schema may also be `media(content_type, schema)` for a body that is not
    JSON (a file, a page). 400 and 413 are added to every operation with a body (malformed
    or oversized), 403 to unsafe methods that are not public (the XSRF check of cookie
    sessions).
    """
    return {"summary": summary, "description": description, "tags": tuple(tags),
            "query": tuple(query), "body": body, "body_required": body_required,
            "body_example": body_example, "body_content_type": body_content_type,
            "responses": dict(responses or {}), "errors": tuple(errors), "public": public,
            "operation_id": operation_id}


def param(name, schema, description, required=False, example=None):
    """A query parameter: `schema` is a JSON Schema dict ({"type": "integer", ...})."""
    return {"name": name, "schema": schema, "description": description,
            "required": required, "example": example}


class Media:
    """A response body that is not JSON: its content type and, maybe, a JSON Schema of it."""

    def __init__(self, content_type, schema=None):
        self.content_type = content_type
        self.schema = schema

    def __repr__(self):
        return "media(%r)" % self.content_type


def media(content_type, schema=None):
    """A response of another content type than JSON, e.g. `media("image/png",
    {"type": "string", "contentMediaType": "image/png"})`, for `op(responses=...)`."""
    return Media(content_type, schema)
