"""How a handler describes its JSON API operations, for the OpenAPI document.

A handler class under /api/ carries `api_doc = {"get": op(...), "post": op(...), ...}`: one
entry per HTTP method it answers, no more and no fewer (tests check this against the route
table). Its path parameters, in the order of the route's regex groups, are named by
`api_path_params = (("id", "The task's id."), ...)`; a route with one group and no such
attribute calls it `id`. `orchestra.web.openapi` turns the route table and these
descriptions into the OpenAPI 3.1 document served at /api/openapi.json.

Schemas are given as marshmallow schema classes or instances (the source of truth, turned
into JSON Schema by apispec's marshmallow plugin) or as plain JSON Schema dicts.
"""


def op(summary, *, description=None, tags=(), query=(), body=None, body_required=True,
       body_example=None, responses=None, errors=(), public=False,
       body_content_type="application/json"):
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
    """
    return {"summary": summary, "description": description, "tags": tuple(tags),
            "query": tuple(query), "body": body, "body_required": body_required,
            "body_example": body_example, "body_content_type": body_content_type,
            "responses": dict(responses or {}), "errors": tuple(errors), "public": public}


def param(name, schema, description, required=False, example=None):
    """A query parameter: `schema` is a JSON Schema dict ({"type": "integer", ...})."""
    return {"name": name, "schema": schema, "description": description,
            "required": required, "example": example}
