"""The AsyncAPI 3 document of /ws, built from the frame registry and schemas, at /api/asyncapi.json.

The client's message types are the ones ws.py dispatches (`ws.HANDLERS`, each with the
marshmallow schema that validates its `data`); the server's are `ws_schemas.SERVER_FRAMES`.
orchestra.schema_json turns the schemas into JSON Schema (apispec's converter); nested
schemas become `#/components/schemas/...` references, as in the OpenAPI document.
"""

import copy
import functools

import tornado.web

from orchestra import __version__
from orchestra.schema_json import SchemaConverter
from orchestra.web import ws
from orchestra.web import ws_schemas as wss
from orchestra.web.apidoc import op
from orchestra.web.base import ApiHandler

CHANNEL = "live"

# Each client type: what it asks for, and the frames the server answers with (they carry the
# frame's id); `error` may answer any of them.
CLIENT_TYPES = {
    "ping": ("The server's time.", ("pong",)),
    "chat:send": ("Store a message (in a new conversation without conversationId) and "
                  "stream the model's answer.", ("chat:message", "chat:streaming")),
    "chat:streaming": ("The same as chat:send.", ("chat:message", "chat:streaming")),
    "chat:regenerate": ("Write another answer to a user message (or to the one an answer "
                        "answers).", ("chat:message", "chat:streaming")),
    "chat:edit": ("Store a new version of a user message and answer it.",
                  ("chat:message", "chat:streaming")),
    "chat:settings": ("Change a conversation's settings (the fields given; null clears).",
                      ("chat:settings",)),
    "chat:stop": ("Stop the answer being written; it is stored as incomplete.",
                  ("chat:message",)),
    "chat:history": ("A page of a conversation's messages, and follow the conversation.",
                     ("chat:history",)),
    "chat:read_page": ("Read the page a user message links to, then answer from it.",
                       ("chat:page", "chat:message", "chat:streaming")),
    "monitoring:subscribe": ("The last hour of metrics, then a sample every interval.",
                             ("monitoring:subscribed", "monitoring:metrics")),
    "monitoring:unsubscribe": ("Stop the metrics.", ("monitoring:unsubscribed",)),
    "task:subscribe": ("The task now, then its updates.", ("task:subscribed",)),
    "task:unsubscribe": ("Stop a task's updates.", ("task:unsubscribed",)),
    "tasks:subscribe": ("The updates of every task, new ones included.",
                        ("tasks:subscribed",)),
    "tasks:unsubscribe": ("Stop the updates of every task.", ("tasks:unsubscribed",)),
    "knowledge:subscribe": ("The indexing progress of a knowledge base's sources.",
                            ("knowledge:subscribed",)),
    "knowledge:unsubscribe": ("Stop a base's progress.", ("knowledge:unsubscribed",)),
    "crawl:subscribe": ("A crawl now, then its progress.", ("crawl:subscribed",)),
    "crawl:unsubscribe": ("Stop a crawl's progress.", ("crawl:unsubscribed",)),
}

# One valid `data` per client type. The ids are those of the first rows of a new database:
# conversation 1 and its user message 1 come from the chat:send example.
EXAMPLES = {
    "ping": {},
    "chat:send": {"message": "What does https://example.org/ say about examples?"},
    "chat:streaming": {"message": "And in one sentence?", "conversationId": 1},
    "chat:regenerate": {"messageId": 2},
    "chat:edit": {"messageId": 1, "message": "What does https://example.org/ say?"},
    "chat:settings": {"conversationId": 1, "temperature": 0.2, "systemPrompt": "Be brief."},
    "chat:stop": {"conversationId": 1},
    "chat:history": {"conversationId": 1, "limit": 50},
    "chat:read_page": {"messageId": 1},
    "monitoring:subscribe": {},
    "monitoring:unsubscribe": {},
    "task:subscribe": {"taskId": 1},
    "task:unsubscribe": {"taskId": 1},
    "tasks:subscribe": {},
    "tasks:unsubscribe": {},
    "knowledge:subscribe": {"knowledgeBaseId": 1},
    "knowledge:unsubscribe": {"knowledgeBaseId": 1},
    "crawl:subscribe": {"crawlId": 1},
    "crawl:unsubscribe": {"crawlId": 1},
}

CLOSE_CODES = (
    (1000, "Normal close."),
    (1001, "The server is shutting down; answers in progress were stored as incomplete."),
    (1009, "A frame was larger than `maxMessageSize` (1 MiB by default)."),
    (1011, "The connection failed (1006 when it stopped answering pings)."),
)

DESCRIPTION = """\
One WebSocket per browser tab at `/ws`, on the same host and port as the pages. Every frame,
both ways, is one JSON text frame `{"type": ..., "data": {...}, "id"?: ...}`; every reply to a
frame carries that frame's `id`; frames the server sends on its own have none. Anything wrong
with a frame is answered by an `error` frame and the connection stays open.

**Authentication**: the login cookie (`orchestra_auth`), `?token=<access token>` on the URL,
or an `Authorization: Bearer <token>` header; without a valid one the upgrade is refused with
HTTP 403. Browsers may connect only from the same origin (403 otherwise). The server pings
every 30 s and closes connections that do not answer.

**Close codes**:

| code | meaning |
| --- | --- |
""" + "".join("| %d | %s |\n" % row for row in CLOSE_CODES)


def key(direction, type):
    """A message's key in the document (keys allow letters, digits, `.`, `-`, `_`)."""
    return "%s.%s" % (direction, type.replace(":", "."))


def ref(*parts):
    return {"$ref": "#/" + "/".join(parts)}


def envelope(type, data, required):
    return {"type": "object", "additionalProperties": False, "required": list(required),
            "properties": {"type": {"const": type}, "data": data,
                           "id": ref("components", "schemas", "FrameId")}}


@functools.lru_cache(maxsize=1)
def _document():
    convert = SchemaConverter()
    messages, operations = {}, {}
    for type, (_, schema) in ws.HANDLERS.items():
        name = key("client", type)
        what, replies = CLIENT_TYPES[type]
        messages[name] = {
            "name": type, "title": type, "summary": what,
            "payload": envelope(type, convert.ref(schema), ["type"]),
            "examples": [{"payload": {"type": type, "data": EXAMPLES[type], "id": 1}}]}
        operations[name] = {
            "action": "receive", "channel": ref("channels", CHANNEL), "title": type,
            "summary": what,
            "messages": [ref("channels", CHANNEL, "messages", name)],
            "reply": {"channel": ref("channels", CHANNEL), "messages": [
                ref("channels", CHANNEL, "messages", key("server", reply))
                for reply in replies + ("error",)]}}
    for type, (schema, what) in wss.SERVER_FRAMES.items():
        name = key("server", type)
        messages[name] = {"name": type, "title": type, "summary": what,
                          "payload": envelope(type, convert.ref(schema), ["type", "data"])}
        operations[name] = {"action": "send", "channel": ref("channels", CHANNEL),
                            "title": type, "summary": what,
                            "messages": [ref("channels", CHANNEL, "messages", name)]}
    schemas = convert.schemas()
    schemas["FrameId"] = {
        "description": "The client's frame id, echoed on every reply.",
        "oneOf": [{"type": "string", "maxLength": 100},
                  {"type": "integer", "minimum": -2**53, "maximum": 2**53}]}
    schemas["ErrorFrame"]["properties"]["code"]["description"] = "\n".join(
        "- `%s`: %s" % item for item in wss.ERROR_CODES.items())
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Orchestra /ws", "version": __version__,
                 "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": {CHANNEL: {
            "address": "/ws", "title": "Live connection",
            "description": "Chat streaming, live metrics, task, indexing and crawl progress.",
            "messages": {name: ref("components", "messages", name) for name in messages},
            "bindings": {"ws": {"method": "GET", "bindingVersion": "0.1.0", "query": {
                "type": "object", "properties": {"token": {
                    "type": "string", "description": "The access token (instead of the "
                    "cookie or the Authorization header)."}}}}}}},
        "operations": operations,
        "components": {
            "messages": messages, "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "httpApiKey", "in": "query", "name": "token",
                          "description": "The access token as `?token=` on the URL."},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "`Authorization: Bearer <access token>`."},
                "cookie": {"type": "httpApiKey", "in": "cookie", "name": "orchestra_auth",
                           "description": "The login cookie a browser holds after logging "
                           "in; the page's own origin only."}}},
    }


def build_document(host, protocol="ws"):
    """The document, its server at `host` (as the client reached this one)."""
    document = copy.deepcopy(_document())
    document["servers"] = {"orchestra": {
        "host": host, "protocol": protocol, "description": "This server.",
        "security": [ref("components", "securitySchemes", name)
                     for name in ("token", "bearer", "cookie")]}}
    return document


class AsyncApiDocument(ApiHandler):
    """The AsyncAPI 3.0.0 document of /ws."""

    api_doc = {"get": op(
        "The AsyncAPI document of the WebSocket",
        description="An AsyncAPI 3.0.0 document describing `/ws`: every message type a "
                    "client may send (its `data` schema and an example) and every frame the "
                    "server sends, how to authenticate, and the close codes.",
        tags=("API description",), operation_id="getAsyncApiDocument",
        responses={200: ("The AsyncAPI document.", {"type": "object", "required": [
            "asyncapi", "info", "channels", "operations", "components"]})})}

    def get(self):
        secure = self.request.protocol == "https"
        self.write_json(build_document(self.request.host, "wss" if secure else "ws"))


routes = [
    tornado.web.url(r"/api/asyncapi.json", AsyncApiDocument, name="asyncapi"),
]
