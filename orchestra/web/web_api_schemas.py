"""JSON Schemas of what the web service's API writes: a fetched page (service.shape), a
crawl (crawl.crawl_shape), the lists of both and the 400 a page that cannot be read answers.

They describe the dicts the service builds, key for key, for the API description
(/api/openapi.json).
"""

from orchestra.services.web.crawl import STATUSES
from orchestra.services.web.errors import CODES
from orchestra.services.web.service import RENDERS

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}


def nullable(schema):
    """`schema` or null (OpenAPI 3.1: null is a type)."""
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    if "enum" in schema:
        schema["enum"] = list(schema["enum"]) + [None]
    return schema


def closed(properties, optional=()):
    """An object with exactly these keys, all of them written unless named in `optional`."""
    return {"type": "object", "properties": properties,
            "required": [key for key in properties if key not in optional],
            "additionalProperties": False}


def page_list(item, what):
    return dict(closed({
        "items": {"type": "array", "items": item, "description": what},
        "total": {"type": "integer", "minimum": 0, "description": "How many there are."},
        "limit": INTEGER, "offset": INTEGER}))


CODE = {"type": "string", "enum": list(CODES),
        "description": "Why the page could not be read."}

LINK = closed({"url": STRING, "text": STRING})

# One scripted step's outcome (actions.run_actions): skipped steps carry no duration; a
# failed one its error (and a code when it has one); `value` is what an extract step read.
STEP = {"type": "object", "required": ["index", "type", "ok"], "properties": {
    "index": INTEGER, "type": STRING, "ok": BOOLEAN, "durationMs": INTEGER,
    "skipped": BOOLEAN, "error": STRING, "code": STRING, "value": {},
    "truncated": {"type": "boolean", "description": "The value was cut to fit."},
    "screenshotUrl": {"type": "string", "description": "A screenshot step's PNG."}}}

_PAGE = {
    "id": INTEGER,
    "url": {"type": "string", "description": "The URL asked for."},
    "finalUrl": {"type": "string", "description": "The URL read, after redirects."},
    "statusCode": nullable(INTEGER),
    "title": nullable(STRING),
    "links": {"type": "array", "items": LINK,
              "description": "The page's http(s) links (empty in lists)."},
    "metadata": {"type": "object", "description": "What the page says about itself "
                 "(author, date, description, ...)."},
    "screenshotUrl": nullable({"type": "string", "description": "GET it: a PNG."}),
    "pdfUrl": nullable({"type": "string", "description": "GET it: a PDF."}),
    "renderer": nullable({"type": "string", "enum": ["static", "browser"]}),
    "fromCache": {"type": "boolean",
                  "description": "Answered from a stored fetch (maxAgeSeconds)."},
    "fetchedAt": TIME,
    "steps": {"type": "array", "items": STEP,
              "description": "The outcome of each action (empty in lists)."},
}
_TEXT = {"markdown": {"type": "string", "description": "The page's main content."}}
_OUTCOME = {
    "error": nullable(STRING),
    "code": nullable(CODE),
    "durationMs": nullable(INTEGER),
    "crawlId": nullable({"type": "integer", "description": "The crawl that read it."}),
    "depth": nullable({"type": "integer", "description": "Its depth in that crawl."}),
}

#: POST /api/web/fetch: the page read (or the stored one it was answered from)
PAGE = closed(dict(_PAGE, **_TEXT))
#: GET /api/web/fetches/{id}: a stored fetch with its outcome, failed ones included
FETCH = closed(dict(_PAGE, **_TEXT, **_OUTCOME))
#: GET /api/web/fetches: the history, without the pages' text
FETCHES = page_list(closed(dict(_PAGE, **_OUTCOME)), "Newest first.")

PATTERNS = {"type": "array", "items": STRING}
CRAWL_PAGE = closed({
    "id": {"type": "integer", "description": "The fetch: GET /api/web/fetches/{id}."},
    "url": STRING, "title": nullable(STRING), "depth": INTEGER,
    "statusCode": nullable(INTEGER), "code": nullable(CODE), "error": nullable(STRING)})
_CRAWL = {
    "id": INTEGER,
    "url": STRING,
    "status": {"type": "string", "enum": list(STATUSES)},
    "maxPages": INTEGER,
    "maxDepth": INTEGER,
    "include": PATTERNS,
    "exclude": PATTERNS,
    "render": {"type": "string", "enum": list(RENDERS)},
    "respectRobots": BOOLEAN,
    "pagesDone": INTEGER,
    "pagesFailed": INTEGER,
    "pagesQueued": INTEGER,
    "error": nullable(STRING),
    "createdAt": TIME,
    "completedAt": nullable(TIME),
}
#: a crawl (POST /api/web/crawl, DELETE /api/web/crawls/{id}, the list's items)
CRAWL = closed(_CRAWL)
#: GET /api/web/crawls/{id}: with the pages it read, by depth
CRAWL_WITH_PAGES = closed(dict(_CRAWL, pages={"type": "array", "items": CRAWL_PAGE}))
CRAWLS = page_list(CRAWL, "Newest first.")

#: 400: invalid input `{error, fields}`, a body that is not a JSON object `{error}`, or a page
#: that cannot be read `{error, code}`
REFUSED = closed({
    "error": STRING,
    "fields": {"type": "object", "description": "Per-field messages for invalid input."},
    "code": CODE}, optional=("fields", "code"))
